/*
 * jwt.c — RS256 signing for service-account credentials, plus the
 * base64url and UUID helpers the client needs (see include/pdlua/jwt.h).
 *
 * OpenSSL 3's EVP_DigestSign does the PKCS#1 v1.5 signature; an EVP_PKEY is
 * safe to use from several threads at once for signing, but token refresh
 * is single-flight anyway (auth.c). Randomness for UUIDs comes from
 * RAND_bytes, which is thread-safe and seeded by the OS.
 */
#include "pdlua/jwt.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pd_jwt_key {
    EVP_PKEY *pkey;
};

pd_jwt_key *pd_jwt_key_load(const char *pem, char *err, size_t errlen)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    if (!bio) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    ERR_clear_error();
    if (!pkey) {
        snprintf(err, errlen, "private_key is not a PEM private key");
        return NULL;
    }
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
        EVP_PKEY_free(pkey);
        snprintf(err, errlen, "private_key is not an RSA key");
        return NULL;
    }
    pd_jwt_key *k = malloc(sizeof *k);
    if (!k) {
        EVP_PKEY_free(pkey);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    k->pkey = pkey;
    return k;
}

void pd_jwt_key_free(pd_jwt_key *key)
{
    if (key) {
        EVP_PKEY_free(key->pkey);
        free(key);
    }
}

char *pd_base64url(const unsigned char *data, size_t len)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = malloc(len / 3 * 4 + 5);
    if (!out)
        return NULL;
    char *o = out;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        unsigned v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8 | data[i + 2];
        *o++ = tbl[v >> 18];
        *o++ = tbl[(v >> 12) & 63];
        *o++ = tbl[(v >> 6) & 63];
        *o++ = tbl[v & 63];
    }
    if (len - i == 1) {
        unsigned v = (unsigned)data[i] << 16;
        *o++ = tbl[v >> 18];
        *o++ = tbl[(v >> 12) & 63];
    } else if (len - i == 2) {
        unsigned v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8;
        *o++ = tbl[v >> 18];
        *o++ = tbl[(v >> 12) & 63];
        *o++ = tbl[(v >> 6) & 63];
    }
    *o = 0;
    return out;
}

char *pd_jwt_sign(pd_jwt_key *key, const char *claims_json, char *err, size_t errlen)
{
    static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
    char *h = pd_base64url((const unsigned char *)header, sizeof header - 1);
    char *c = pd_base64url((const unsigned char *)claims_json, strlen(claims_json));
    char *out = NULL, *sig64 = NULL;
    unsigned char *sig = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t hl = h ? strlen(h) : 0, cl = c ? strlen(c) : 0;
    char *input = (h && c) ? malloc(hl + cl + 2) : NULL;
    if (!md || !input) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    memcpy(input, h, hl);
    input[hl] = '.';
    memcpy(input + hl + 1, c, cl + 1);
    size_t siglen = 0;
    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key->pkey) != 1 ||
        EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)input, hl + cl + 1) != 1 ||
        !(sig = malloc(siglen)) ||
        EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input, hl + cl + 1) != 1) {
        ERR_clear_error();
        snprintf(err, errlen, "cannot sign the token request with the service account key");
        goto done;
    }
    sig64 = pd_base64url(sig, siglen);
    size_t il = hl + cl + 1;
    out = sig64 ? malloc(il + strlen(sig64) + 2) : NULL;
    if (!out) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    memcpy(out, input, il);
    out[il] = '.';
    strcpy(out + il + 1, sig64);
done:
    EVP_MD_CTX_free(md);
    free(h);
    free(c);
    free(input);
    free(sig);
    free(sig64);
    return out;
}

int pd_uuid4(char out[37])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1)
        return -1;
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
             b[12], b[13], b[14], b[15]);
    return 0;
}
