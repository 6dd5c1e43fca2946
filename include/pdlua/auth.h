/*
 * auth.h — OAuth 2.0 access tokens for Compute Engine requests, found the
 * way Google's client libraries find Application Default Credentials.
 *
 * The chain, first match wins:
 *   1. explicit options (an access token, a credentials file, "metadata");
 *   2. GOOGLE_OAUTH_ACCESS_TOKEN, then CLOUDSDK_AUTH_ACCESS_TOKEN_FILE;
 *   3. GOOGLE_APPLICATION_CREDENTIALS (service_account: an RS256 JWT
 *      exchanged at the file's token_uri; authorized_user: a refresh-token
 *      grant);
 *   4. gcloud's application_default_credentials.json in $CLOUDSDK_CONFIG
 *      (default ~/.config/gcloud);
 *   5. the metadata server ($GCE_METADATA_HOST, default
 *      metadata.google.internal), header Metadata-Flavor: Google.
 *
 * Tokens are cached and refreshed shortly before they expire by exactly one
 * thread (single flight): while the cached token is still valid the others
 * keep using it, once it has expired they wait for the refresher. A 401
 * from the API invalidates the rejected token so the next call refreshes.
 * No token, key or secret is ever put in a message.
 *
 * Callers do not hold the interpreter lock; token requests use http.h.
 */
#ifndef PDLUA_AUTH_H
#define PDLUA_AUTH_H

#include "pdlua/interrupt.h"

#include <stddef.h>

#define PD_AUTH_EFAIL 20   /* a token could not be obtained (see message) */

#define PD_AUTH_SCOPE "https://www.googleapis.com/auth/cloud-platform"
#define PD_AUTH_DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"
#define PD_AUTH_METADATA_HOST "metadata.google.internal"

typedef struct pd_auth pd_auth;

typedef struct pd_auth_options {
    const char *access_token;  /* use this token as it is */
    const char *file;          /* a credentials JSON file */
    int metadata;              /* use the metadata server */
    const char *scope;         /* default PD_AUTH_SCOPE */
    double timeout;            /* per token request, seconds; default 30 */
} pd_auth_options;

/* Resolves the chain (reading the environment and files). NULL with a
 * message naming the offending source on failure. */
pd_auth *pd_auth_new(const pd_auth_options *opts, char *err, size_t errlen);
void pd_auth_free(pd_auth *a);

/* "access_token", "token_file", "service_account", "authorized_user" or
 * "metadata"; and where it came from (an env var or path; no secrets). */
const char *pd_auth_kind(const pd_auth *a);
const char *pd_auth_source(const pd_auth *a);
/* project_id of a service-account file, quota_project_id of an
 * authorized-user file; NULL if none. */
const char *pd_auth_project(const pd_auth *a);
const char *pd_auth_quota_project(const pd_auth *a);

/* Writes a malloc'd "Bearer …" header value into *header. Returns PD_OK,
 * PD_ETIMEOUT, PD_ECANCELLED or PD_AUTH_EFAIL (message in err; *code is the
 * token endpoint's HTTP status or 0, *retryable says whether trying again
 * later may help). Free the header with pd_auth_header_free. */
int pd_auth_header(pd_auth *a, pd_interrupt *in, char **header, char *err,
                   size_t errlen, int *code, int *retryable);
void pd_auth_header_free(char *header);

/* After a 401: forgets `rejected` if it is still the cached token, so that
 * exactly one caller refreshes. Returns 1 if this source can produce a new
 * token (a fixed access token cannot). */
int pd_auth_invalidate(pd_auth *a, const char *rejected);

/* Number of successful token fetches so far. */
long pd_auth_refreshes(pd_auth *a);

#endif
