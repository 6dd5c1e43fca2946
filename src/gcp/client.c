/*
 * client.c — one Compute Engine API call with retries (see
 * include/pdlua/gcp.h).
 *
 * The loop, per attempt: wait for the rate limiter, get a token (cached),
 * send, classify. Backoff is "full jitter" (a uniform draw in [0, cap],
 * cap doubling from backoff_initial to backoff_max), which spreads retries
 * of many workers hit by the same outage; a Retry-After answer sets a floor.
 * A retry whose backoff would end after the deadline is not attempted: the
 * caller gets the last error at once rather than a pointless sleep.
 */
#include "pdlua/gcp.h"
#include "pdlua/http.h"
#include "pdlua/opslots.h"
#include "pdlua/ratelimit.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>

struct pd_gcp_client {
    char *endpoint;
    pd_gcp_config cfg;
    pd_auth *auth;
    pd_ratelimit *rl;
    pd_opslots *ops;
    pd_stats *stats;
    char *user_project_header;
};

pd_gcp_client *pd_gcp_client_new(const pd_gcp_config *cfg, pd_auth *auth, char *err,
                                 size_t errlen)
{
    if (!cfg->endpoint || !*cfg->endpoint) {
        snprintf(err, errlen, "no endpoint");
        pd_auth_free(auth);
        return NULL;
    }
    if (pd_http_check_url(cfg->endpoint, 0, err, errlen) != PD_OK) {
        pd_auth_free(auth);
        return NULL;
    }
    pd_gcp_client *c = calloc(1, sizeof *c);
    size_t n = strlen(cfg->endpoint);
    if (c)
        c->endpoint = malloc(n + 2);
    if (!c || !c->endpoint) {
        free(c);
        pd_auth_free(auth);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    memcpy(c->endpoint, cfg->endpoint, n + 1);
    if (n == 0 || c->endpoint[n - 1] != '/')
        strcpy(c->endpoint + n, "/");
    c->cfg = *cfg;
    c->cfg.endpoint = c->endpoint;
    if (c->cfg.timeout <= 0) c->cfg.timeout = 60;
    if (c->cfg.max_attempts <= 0) c->cfg.max_attempts = 8;
    if (c->cfg.backoff_initial <= 0) c->cfg.backoff_initial = 1;
    if (c->cfg.backoff_max <= 0) c->cfg.backoff_max = 30;
    if (c->cfg.max_response == 0) c->cfg.max_response = PD_HTTP_DEFAULT_MAX;
    c->auth = auth;
    c->rl = pd_ratelimit_new(cfg->qps, cfg->burst > 0 ? cfg->burst : cfg->qps);
    c->ops = pd_opslots_new(cfg->max_in_flight_ops);
    c->stats = pd_stats_new();
    const char *qp = pd_auth_quota_project(auth);
    if (qp) {
        c->user_project_header = malloc(strlen(qp) + 32);
        if (c->user_project_header)
            sprintf(c->user_project_header, "x-goog-user-project: %s", qp);
    }
    if (!c->rl || !c->ops || !c->stats) {
        pd_gcp_client_free(c);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    return c;
}

void pd_gcp_client_free(pd_gcp_client *c)
{
    if (!c)
        return;
    pd_auth_free(c->auth);
    pd_ratelimit_free(c->rl);
    pd_opslots_free(c->ops);
    pd_stats_free(c->stats);
    free(c->user_project_header);
    free(c->endpoint);
    free(c);
}

const char *pd_gcp_client_endpoint(const pd_gcp_client *c) { return c->endpoint; }
pd_auth *pd_gcp_client_auth(pd_gcp_client *c) { return c->auth; }
pd_stats *pd_gcp_client_stats(pd_gcp_client *c) { return c->stats; }
int pd_gcp_client_ops_in_flight(pd_gcp_client *c) { return pd_opslots_in_flight(c->ops); }
double pd_gcp_client_qps(pd_gcp_client *c) { return pd_ratelimit_qps(c->rl); }

void pd_gcp_result_free(pd_gcp_result *res)
{
    pd_json_free(res->doc);
    res->doc = NULL;
}

static int is_rate_reason(const char *reason)
{
    return reason && (strcmp(reason, "rateLimitExceeded") == 0 ||
                      strcmp(reason, "userRateLimitExceeded") == 0);
}

static int mentions_concurrent_ops(const char *message)
{
    return message && (strstr(message, "CONCURRENT_OPERATIONS") ||
                       strstr(message, "concurrent operations"));
}

int pd_gcp_retryable_status(long status, const char *reason, const char *message)
{
    switch (status) {
    case 429: case 500: case 502: case 503: case 504:
        return 1;
    case 403:
        return is_rate_reason(reason) || mentions_concurrent_ops(message);
    default:
        return 0;
    }
}

/* A uniform double in [0, 1) from a per-thread generator seeded once from
 * the OS; jitter needs spread, not secrecy. */
static double jitter_unit(void)
{
    static _Thread_local unsigned long long state;
    if (!state) {
        if (RAND_bytes((unsigned char *)&state, sizeof state) != 1 || !state)
            state = (unsigned long long)(uintptr_t)&state ^ 0x9E3779B97F4A7C15ULL;
    }
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (double)(state >> 11) / 9007199254740992.0;
}

static void set_error(pd_gcp_result *res, int rc, int code, const char *reason,
                      int retryable, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void set_error(pd_gcp_result *res, int rc, int code, const char *reason,
                      int retryable, const char *fmt, ...)
{
    res->rc = rc;
    res->code = code;
    snprintf(res->reason, sizeof res->reason, "%s", reason);
    res->retryable = retryable;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof res->message, fmt, ap);
    va_end(ap);
}

/* Fills reason/message from an error answer, keeping the parsed body in
 * res->doc so the binding can attach error.errors[]. */
static void api_error(pd_gcp_result *res, const pd_gcp_call *call, long status,
                      const char *body, size_t len)
{
    char jerr[64];
    pd_json_free(res->doc);
    res->doc = pd_json_parse(body, len, jerr, sizeof jerr);
    const pd_json *e = pd_json_get(pd_json_root(res->doc), "error");
    const char *reason = pd_json_get_str(pd_json_at(pd_json_get(e, "errors"), 0), "reason");
    if (!reason)
        reason = pd_json_get_str(e, "status");
    const char *message = pd_json_get_str(e, "message");
    if (!message && e && e->type == PD_JSON_STRING)
        message = e->str;   /* OAuth-style {"error": "..."} */
    char snippet[160];
    if (!message) {
        /* not a Google error body (a proxy page?): quote a printable start */
        size_t n = 0;
        for (size_t i = 0; i < len && n < sizeof snippet - 1; i++)
            snippet[n++] = (body[i] >= 0x20 && body[i] < 0x7f) ? body[i] : ' ';
        snippet[n] = 0;
        message = n ? snippet : "no details";
    }
    set_error(res, PD_GCP_EAPI, (int)status, reason ? reason : "httpError",
              pd_gcp_retryable_status(status, reason, message), "%s: %s", call->method,
              message);
}

static void log_request(const pd_gcp_call *call, const char *url, int has_auth,
                        const pd_http_response *hr, int attempt, const char *error)
{
    char line[1536];
    pd_http_log_line(line, sizeof line, call->verb, url, has_auth, hr->status, hr->elapsed,
                     attempt, error);
    fprintf(stderr, "%s\n", line);
}

static double min_deadline(double a, double b)
{
    if (a <= 0) return b;
    if (b <= 0) return a;
    return a < b ? a : b;
}

/* Sleeps for a retry; PD_OK, or why not (the deadline would pass first). */
static int backoff_sleep(pd_interrupt *in, double delay, double deadline)
{
    if (deadline > 0 && pd_now() + delay >= deadline)
        return PD_ETIMEOUT;
    return pd_interrupt_sleep(in, delay);
}

static void track_operation(pd_gcp_client *c, const pd_gcp_call *call, pd_gcp_result *res,
                            int *slot_held)
{
    const pd_json *root = pd_json_root(res->doc);
    const char *kind = pd_json_get_str(root, "kind");
    const char *name = pd_json_get_str(root, "name");
    const char *status = pd_json_get_str(root, "status");
    int is_op = kind && strcmp(kind, "compute#operation") == 0 && name;
    if (call->flags & PD_GCP_MUTATION) {
        if (is_op && status && strcmp(status, "DONE") != 0)
            pd_opslots_track(c->ops, name);
        else
            pd_opslots_release(c->ops);
        *slot_held = 0;
    }
    if ((call->flags & PD_GCP_OP_POLL) && is_op && status && strcmp(status, "DONE") == 0)
        pd_opslots_done(c->ops, name);
}

int pd_gcp_call_run(pd_gcp_client *c, const pd_gcp_call *call, pd_gcp_result *res)
{
    memset(res, 0, sizeof *res);
    pd_interrupt *in = pd_interrupt_current();
    double start = pd_now();
    double deadline = min_deadline(call->deadline, pd_interrupt_deadline(in));
    int throttled = 0, rate_limited = 0;
    int slot_held = 0;

    char url[8192];
    int absolute = strncmp(call->path, "http://", 7) == 0 ||
                   strncmp(call->path, "https://", 8) == 0;
    if (snprintf(url, sizeof url, "%s%s", absolute ? "" : c->endpoint, call->path) >=
        (int)sizeof url) {
        set_error(res, PD_GCP_EINVAL, 0, "invalidArgument", 0, "%s: URL too long",
                  call->method);
        goto out;
    }
    char uerr[512];
    if (pd_http_check_url(url, 0, uerr, sizeof uerr) != PD_OK) {
        set_error(res, PD_GCP_EINVAL, 0, "invalidArgument", 0, "%s: %s", call->method, uerr);
        goto out;
    }

    if (call->flags & PD_GCP_MUTATION) {
        int rc = pd_opslots_acquire(c->ops, in, deadline);
        if (rc != PD_OK) {
            set_error(res, rc, 0, pd_interrupt_reason(rc), 0,
                      "%s: %s while waiting for an operation slot (%d in flight)",
                      call->method, rc == PD_ETIMEOUT ? "deadline exceeded" : "cancelled",
                      pd_opslots_in_flight(c->ops));
            goto out;
        }
        slot_held = 1;
    }

    const char *extra[] = {c->user_project_header, NULL};
    int refreshed = 0;
    int max_attempts = c->cfg.max_attempts;
    for (int attempt = 1;; attempt++) {
        res->attempts = attempt;
        double waited = 0;
        int rc = pd_ratelimit_acquire(c->rl, in, deadline, &waited);
        if (rc != PD_OK) {
            set_error(res, rc, 0, pd_interrupt_reason(rc), 0, "%s: %s", call->method,
                      rc == PD_ETIMEOUT ? "deadline exceeded" : "cancelled");
            break;
        }
        char *auth = NULL;
        int acode = 0, aretry = 0;
        char aerr[1024];
        rc = pd_auth_header(c->auth, in, &auth, aerr, sizeof aerr, &acode, &aretry);
        if (rc == PD_ETIMEOUT || rc == PD_ECANCELLED) {
            set_error(res, rc, 0, pd_interrupt_reason(rc), 0, "%s: %s", call->method, aerr);
            break;
        }
        int transient = 0;
        double retry_after = -1;
        if (rc != PD_OK) {
            /* the token source already retried its own transient failures */
            set_error(res, PD_GCP_EAUTH, acode == 401 ? 401 : 0, "authError", aretry,
                      "%s: %s", call->method, aerr);
            transient = 0;
        } else {
            pd_http_request hreq = {0};
            hreq.method = call->verb;
            hreq.url = url;
            hreq.body = call->body;
            hreq.body_len = call->body_len;
            hreq.authorization = auth;
            hreq.headers = extra[0] ? extra : NULL;
            hreq.timeout = call->timeout > 0 ? call->timeout : c->cfg.timeout;
            hreq.deadline = call->deadline;
            hreq.max_response = c->cfg.max_response;
            pd_http_response hr;
            char herr[768];
            int hrc = pd_http_perform(&hreq, &hr, in, herr, sizeof herr);
            pd_stats_request(c->stats, hr.connects, (long)hr.len, waited);
            if (pd_http_logging())
                log_request(call, url, 1, &hr, attempt, hrc == PD_OK ? NULL : herr);
            if (hrc == PD_ETIMEOUT || hrc == PD_ECANCELLED) {
                set_error(res, hrc, 0, pd_interrupt_reason(hrc), 0, "%s: %s", call->method,
                          hrc == PD_ETIMEOUT ? "deadline exceeded" : "cancelled");
                pd_auth_header_free(auth);
                break;
            }
            if (hrc != PD_OK) {
                transient = hrc == PD_HTTP_ETRANSPORT || hrc == PD_HTTP_EREQTIMEOUT;
                set_error(res, PD_GCP_ETRANSPORT, 0,
                          hrc == PD_HTTP_EREQTIMEOUT ? "requestTimeout"
                          : hrc == PD_HTTP_ETOOBIG  ? "responseTooLarge"
                          : hrc == PD_HTTP_EURL     ? "invalidArgument"
                          : hrc == PD_HTTP_ETLS     ? "tlsError"
                                                    : "connectionError",
                          transient, "%s: %s", call->method, herr);
            } else {
                res->status = hr.status;
                retry_after = hr.retry_after;
                if (hr.status >= 200 && hr.status < 300) {
                    char jerr[128];
                    pd_json_free(res->doc);
                    res->doc = NULL;
                    int blank = 1;
                    for (size_t i = 0; i < hr.len && blank; i++)
                        blank = hr.body[i] == ' ' || hr.body[i] == '\n' ||
                                hr.body[i] == '\r' || hr.body[i] == '\t';
                    if (!blank)
                        res->doc = pd_json_parse(hr.body, hr.len, jerr, sizeof jerr);
                    if (!blank && !res->doc) {
                        set_error(res, PD_GCP_ETRANSPORT, (int)hr.status,
                                  "malformedResponse", 0, "%s: response is not JSON: %s",
                                  call->method, jerr);
                    } else {
                        res->rc = PD_OK;
                        res->reason[0] = 0;
                        res->message[0] = 0;
                        res->code = 0;
                        res->retryable = 0;
                        track_operation(c, call, res, &slot_held);
                    }
                    pd_http_response_free(&hr);
                    pd_auth_header_free(auth);
                    break;
                }
                api_error(res, call, hr.status, hr.body, hr.len);
                pd_http_response_free(&hr);
                if (hr.status == 429)
                    throttled++;
                if (hr.status == 403 && res->retryable)
                    rate_limited++;
                if (hr.status == 401 && !refreshed && pd_auth_invalidate(c->auth, auth)) {
                    /* one fresh token, one more try, no backoff */
                    refreshed = 1;
                    pd_auth_header_free(auth);
                    max_attempts++;
                    continue;
                }
                transient = res->retryable;
            }
        }
        pd_auth_header_free(auth);
        if (!transient || attempt >= max_attempts)
            break;
        double cap = c->cfg.backoff_initial * pow(2, attempt - 1);
        if (cap > c->cfg.backoff_max)
            cap = c->cfg.backoff_max;
        double delay = cap * jitter_unit();
        if (retry_after > delay)
            delay = retry_after;
        rc = backoff_sleep(in, delay, deadline);
        if (rc != PD_OK) {
            if (rc == PD_ECANCELLED)
                set_error(res, rc, 0, "cancelled", 0, "%s: cancelled", call->method);
            /* on a deadline, keep the last error: it says why we gave up */
            size_t n = strlen(res->message);
            snprintf(res->message + n, sizeof res->message - n,
                     " (no time left for another attempt)");
            break;
        }
    }
    if (res->rc != PD_OK && res->attempts > 1 && res->rc != PD_ETIMEOUT &&
        res->rc != PD_ECANCELLED) {
        size_t n = strlen(res->message);
        snprintf(res->message + n, sizeof res->message - n, " (after %d attempts)",
                 res->attempts);
    }
out:
    if (slot_held)
        pd_opslots_release(c->ops);
    pd_stats_call(c->stats, call->method, pd_now() - start, res->attempts, throttled,
                  rate_limited, res->rc != PD_OK);
    return res->rc;
}
