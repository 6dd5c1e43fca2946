/*
 * http.h — one HTTP request over libcurl, interruptible, for the Compute
 * Engine client and its token sources.
 *
 * Each thread owns one CURL easy handle inside one CURLM multi handle,
 * created on first use and reused for every request the thread makes, so
 * connections (and TLS sessions) stay alive between requests. The transfer
 * runs through the multi interface: curl_multi_poll with a short cap, and a
 * curl_multi_wakeup registered with the thread's pd_interrupt, so a cancel
 * or a deadline aborts a request within milliseconds. Callers must NOT hold
 * the interpreter lock: this layer touches no Lua.
 *
 * Safety: TLS peer and host verification stay on (libcurl's defaults, never
 * turned off); only http and https are spoken, redirects are not followed;
 * plain http:// is refused unless the host is loopback (or the caller
 * allows it for the metadata server, which only speaks http).
 */
#ifndef PDLUA_HTTP_H
#define PDLUA_HTTP_H

#include "pdlua/interrupt.h"

#include <stddef.h>

/* Results beyond PD_OK/PD_ETIMEOUT/PD_ECANCELLED (interrupt.h). */
enum {
    PD_HTTP_ETRANSPORT = 10,  /* connect/send/receive failed (retryable) */
    PD_HTTP_EREQTIMEOUT = 11, /* this request's own time limit passed (retryable) */
    PD_HTTP_ETOOBIG = 12,     /* response larger than the limit */
    PD_HTTP_EURL = 13,        /* malformed or refused URL (http to a remote host) */
    PD_HTTP_ENOMEM = 14,
    PD_HTTP_ETLS = 15,        /* TLS handshake or certificate verification failed */
};

typedef struct pd_http_request {
    const char *method;          /* "GET", "POST", "DELETE" */
    const char *url;
    const char *body;            /* NULL: no body (a POST then sends none) */
    size_t body_len;
    const char *content_type;    /* for the body; default application/json */
    const char *authorization;   /* full header value ("Bearer …") or NULL */
    const char *const *headers;  /* extra "Name: value" lines, NULL-ended */
    double timeout;              /* seconds for this request; 0: none */
    double deadline;             /* monotonic; 0: none. Reaching it gives
                                    PD_ETIMEOUT, like the interrupt's own */
    size_t max_response;         /* bytes; 0: PD_HTTP_DEFAULT_MAX */
    int allow_plain_http;        /* allow http:// to a non-loopback host */
} pd_http_request;

#define PD_HTTP_DEFAULT_MAX ((size_t)64 << 20)

typedef struct pd_http_response {
    long status;                 /* HTTP status, 0 if none was received */
    char *body;                  /* NUL-ended, owned; free with _free */
    size_t len;
    double retry_after;          /* seconds from Retry-After, or -1 */
    double elapsed;              /* seconds */
    long connects;               /* new connections this request opened */
} pd_http_response;

/* Performs the request on the calling thread's handle. Returns PD_OK when a
 * response (any status) arrived, else an error with a message in err. The
 * deadline and cancel flag of `in` are honoured throughout. */
int pd_http_perform(const pd_http_request *req, pd_http_response *res,
                    pd_interrupt *in, char *err, size_t errlen);
void pd_http_response_free(pd_http_response *res);

/* Checks a URL: scheme http or https, http only to a loopback host unless
 * allow_plain_http. Returns PD_OK or PD_HTTP_EURL with a message. */
int pd_http_check_url(const char *url, int allow_plain_http, char *err, size_t errlen);

/* True for 127.0.0.0/8, ::1 and localhost. */
int pd_http_is_loopback_host(const char *host);

/* Frees the calling thread's handles now (they are also freed when the
 * thread exits). */
void pd_http_thread_cleanup(void);

/* HTTP logging (PDLUA_LOG_HTTP=1, --log-http): one line per request on
 * stderr. pd_http_log_line builds the line — the only place that does — and
 * never includes credentials: the Authorization value is shown as
 * "Bearer [redacted]", bodies are never logged, and query parameters whose
 * names suggest secrets are masked. */
void pd_http_set_logging(int on);
int pd_http_logging(void);
void pd_http_log_line(char *out, size_t outlen, const char *method, const char *url,
                      int has_auth, long status, double elapsed, int attempt,
                      const char *error);

/* Copies `msg` into out with every occurrence of each secret replaced by
 * "[redacted]" (secrets shorter than 4 bytes are ignored). */
void pd_http_redact(char *out, size_t outlen, const char *msg,
                    const char *const *secrets, int nsecrets);

#endif
