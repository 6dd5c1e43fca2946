/*
 * jwt.h — RS256 JSON Web Tokens for the service-account grant (RFC 7523).
 *
 * A service-account key file holds an RSA private key in PEM. pdlua signs a
 * short-lived JWT with it (RSASSA-PKCS1-v1_5 over SHA-256, OpenSSL's
 * libcrypto) and exchanges it at the key file's token_uri for an access
 * token. The key is parsed once and kept opaque; nothing here ever prints
 * key material.
 */
#ifndef PDLUA_JWT_H
#define PDLUA_JWT_H

#include <stddef.h>

typedef struct pd_jwt_key pd_jwt_key;

/* Parses a PEM private key (PKCS#8 or PKCS#1 RSA). NULL with a message
 * (never containing the key) on failure. */
pd_jwt_key *pd_jwt_key_load(const char *pem, char *err, size_t errlen);
void pd_jwt_key_free(pd_jwt_key *key);

/* Builds header.claims.signature for the given claims JSON, header
 * {"alg":"RS256","typ":"JWT"}. Returns a malloc'd string or NULL. */
char *pd_jwt_sign(pd_jwt_key *key, const char *claims_json, char *err, size_t errlen);

/* base64url without padding; returns a malloc'd NUL-ended string. */
char *pd_base64url(const unsigned char *data, size_t len);

/* 16 random bytes as a version-4 UUID ("xxxxxxxx-xxxx-4xxx-yxxx-…"); out
 * has room for 37 bytes. Returns 0, or -1 if no randomness was available. */
int pd_uuid4(char out[37]);

#endif
