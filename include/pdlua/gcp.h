/*
 * gcp.h — the Compute Engine v1 REST client: one call = rate limit, token,
 * HTTP request, error classification, retries with backoff, statistics.
 *
 * This is the generic machinery; which methods exist (verb, path, query,
 * mutation or not) is listed once, in lua/pdlua/gcp/methods.lua, and the
 * Lua binding (gcp_lua.c) turns results into tables and errors into
 * pdlua.error values. Everything here runs WITHOUT the interpreter lock:
 * a call copies what it needs into C memory first.
 *
 * Retry policy (as Google's own tooling): 429, 500, 502, 503, 504, 403
 * rateLimitExceeded / userRateLimitExceeded / concurrent-operations quota,
 * and connection failures are retried with truncated exponential backoff
 * and full jitter, at least Retry-After, never past the caller's deadline.
 * Other 4xx are not retried. A 401 refreshes the token once. Mutations
 * carry a requestId in their URL, so retrying them cannot act twice.
 */
#ifndef PDLUA_GCP_H
#define PDLUA_GCP_H

#include "pdlua/auth.h"
#include "pdlua/json.h"
#include "pdlua/stats.h"

#include <stddef.h>

/* Result codes beyond PD_OK/PD_ETIMEOUT/PD_ECANCELLED. */
enum {
    PD_GCP_EAPI = 30,        /* the API answered with an error status */
    PD_GCP_ETRANSPORT = 31,  /* no usable answer (connection, timeout, size, JSON) */
    PD_GCP_EAUTH = 32,       /* no access token */
    PD_GCP_EINVAL = 33,      /* bad URL or arguments */
};

/* Call flags. */
#define PD_GCP_MUTATION 1    /* takes an operation slot; starts an operation */
#define PD_GCP_OP_POLL  2    /* operations get/wait: a DONE answer frees a slot */

typedef struct pd_gcp_config {
    const char *endpoint;        /* base URL, e.g. https://compute.googleapis.com/compute/v1/ */
    double qps;                  /* requests per second; <= 0: unlimited */
    double burst;                /* requests allowed at once; default qps */
    int max_in_flight_ops;       /* <= 0: no cap */
    double timeout;              /* per request, seconds (default 60) */
    int max_attempts;            /* per call, first included (default 8) */
    double backoff_initial;      /* seconds (default 1) */
    double backoff_max;          /* seconds (default 30) */
    size_t max_response;         /* bytes (default 64 MiB) */
} pd_gcp_config;

typedef struct pd_gcp_client pd_gcp_client;

/* Takes ownership of `auth` (also on failure). */
pd_gcp_client *pd_gcp_client_new(const pd_gcp_config *cfg, pd_auth *auth, char *err,
                                 size_t errlen);
void pd_gcp_client_free(pd_gcp_client *c);
const char *pd_gcp_client_endpoint(const pd_gcp_client *c);
pd_auth *pd_gcp_client_auth(pd_gcp_client *c);
pd_stats *pd_gcp_client_stats(pd_gcp_client *c);
int pd_gcp_client_ops_in_flight(pd_gcp_client *c);
double pd_gcp_client_qps(pd_gcp_client *c);

typedef struct pd_gcp_call {
    const char *method;          /* "disks.get": stats, logs and errors */
    const char *verb;            /* GET, POST, DELETE */
    const char *path;            /* relative to the endpoint, or a full URL */
    const char *body;            /* JSON or NULL */
    size_t body_len;
    int flags;
    double timeout;              /* per request; 0: the client's */
    double deadline;             /* monotonic; 0: only the interrupt's */
} pd_gcp_call;

typedef struct pd_gcp_result {
    int rc;                      /* PD_OK or an error code above */
    long status;                 /* last HTTP status (0: none) */
    pd_json_doc *doc;            /* parsed body: the resource, or the error body */
    int code;                    /* error: HTTP status or 0 */
    char reason[64];             /* error: "notFound", "timeout", … */
    char message[1024];          /* error: one line, no secrets */
    int retryable;
    int attempts;
} pd_gcp_result;

/* Runs a call on the calling thread (interpreter lock NOT held), honouring
 * the thread's pd_interrupt. Always fills *res; free with _result_free. */
int pd_gcp_call_run(pd_gcp_client *c, const pd_gcp_call *call, pd_gcp_result *res);
void pd_gcp_result_free(pd_gcp_result *res);

/* Whether an API error (status, reason from error.errors[0].reason, message)
 * is retried by the client. */
int pd_gcp_retryable_status(long status, const char *reason, const char *message);

#endif
