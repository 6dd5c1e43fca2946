/*
 * http.c — interruptible HTTP requests over libcurl (see include/pdlua/http.h).
 *
 * Why the multi interface for a single transfer: curl_easy_perform cannot be
 * woken from another thread, and a progress callback only runs when libcurl
 * gets around to it. With curl_multi_poll the thread sleeps in poll() and
 * curl_multi_wakeup (registered as the interrupt's wake function) ends the
 * sleep at once when the task is cancelled. The poll is also capped at
 * POLL_CAP so a thread whose interrupt is shared (the process root, whose
 * single wake slot another thread may hold) still notices within that time.
 *
 * The easy handle lives in its multi handle's connection cache, so a thread
 * reuses its keep-alive connections across requests; handles are freed by a
 * pthread key destructor when the thread ends.
 */
#include "pdlua/http.h"
#include "pdlua/json.h"
#include "pdlua/runtime.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define POLL_CAP 0.05              /* seconds */
#define CONNECT_TIMEOUT 10.0       /* seconds, capped by the request's own */

typedef struct handles {
    CURL *easy;
    CURLM *multi;
} handles;

static pthread_key_t handles_key;
static pthread_once_t handles_once = PTHREAD_ONCE_INIT;
static atomic_int logging = -1;    /* -1: not yet read from the environment */

static void handles_destroy(void *p)
{
    handles *h = p;
    if (!h)
        return;
    if (h->multi)
        curl_multi_cleanup(h->multi);
    if (h->easy)
        curl_easy_cleanup(h->easy);
    free(h);
}

static void handles_key_init(void) { pthread_key_create(&handles_key, handles_destroy); }

static handles *thread_handles(void)
{
    pthread_once(&handles_once, handles_key_init);
    handles *h = pthread_getspecific(handles_key);
    if (h)
        return h;
    h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->easy = curl_easy_init();
    h->multi = curl_multi_init();
    if (!h->easy || !h->multi || pthread_setspecific(handles_key, h) != 0) {
        handles_destroy(h);
        return NULL;
    }
    return h;
}

void pd_http_thread_cleanup(void)
{
    pthread_once(&handles_once, handles_key_init);
    handles *h = pthread_getspecific(handles_key);
    if (h) {
        pthread_setspecific(handles_key, NULL);
        handles_destroy(h);
    }
}

int pd_http_is_loopback_host(const char *host)
{
    char buf[256];
    size_t n = strlen(host);
    if (n >= sizeof buf)
        return 0;
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        memcpy(buf, host + 1, n - 2);
        buf[n - 2] = 0;
    } else {
        memcpy(buf, host, n + 1);
    }
    if (strcasecmp(buf, "localhost") == 0)
        return 1;
    struct in_addr a4;
    if (inet_pton(AF_INET, buf, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    struct in6_addr a6;
    if (inet_pton(AF_INET6, buf, &a6) == 1)
        return memcmp(&a6, &in6addr_loopback, sizeof a6) == 0;
    return 0;
}

int pd_http_check_url(const char *url, int allow_plain_http, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return PD_HTTP_ENOMEM;
    }
    int rc = PD_HTTP_EURL;
    char *scheme = NULL, *host = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        snprintf(err, errlen, "malformed URL '%.200s'", url);
    } else if (strcasecmp(scheme, "https") == 0) {
        rc = PD_OK;
    } else if (strcasecmp(scheme, "http") == 0) {
        if (allow_plain_http || pd_http_is_loopback_host(host))
            rc = PD_OK;
        else
            snprintf(err, errlen,
                     "refusing plain http to '%.200s': use https (http is allowed only "
                     "for loopback hosts)", host);
    } else {
        snprintf(err, errlen, "unsupported URL scheme '%.20s' (http or https only)", scheme);
    }
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

typedef struct sink {
    pd_buf buf;
    size_t max;
    int toobig;
} sink;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    sink *s = ud;
    size_t n = size * nmemb;
    if (s->buf.len + n > s->max) {
        s->toobig = 1;
        return 0;        /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    pd_buf_add(&s->buf, ptr, n);
    return s->buf.oom ? 0 : n;
}

/* gcloud's setting for a private CA (a TLS-inspecting proxy): certificates
 * are still verified, against that bundle instead of the system's. Read
 * once; the environment does not change under a running program. */
static const char *ca_path;
static pthread_once_t ca_once = PTHREAD_ONCE_INIT;

static void read_ca_env(void)
{
    const char *p = getenv("CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE");
    ca_path = p && *p ? p : NULL;
}

static const char *custom_ca_file(void)
{
    pthread_once(&ca_once, read_ca_env);
    return ca_path;
}

static void wake_multi(void *multi) { curl_multi_wakeup(multi); }

static int add_header(struct curl_slist **list, const char *line)
{
    struct curl_slist *n = curl_slist_append(*list, line);
    if (!n)
        return 0;
    *list = n;
    return 1;
}

int pd_http_perform(const pd_http_request *req, pd_http_response *res,
                    pd_interrupt *in, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    res->retry_after = -1;
    err[0] = 0;
    int rc = pd_http_check_url(req->url, req->allow_plain_http, err, errlen);
    if (rc != PD_OK)
        return rc;
    rc = pd_interrupt_check(in);
    if (rc != PD_OK) {
        snprintf(err, errlen, "request %s", pd_interrupt_reason(rc));
        return rc;
    }
    handles *h = thread_handles();
    if (!h) {
        snprintf(err, errlen, "cannot create an HTTP handle");
        return PD_HTTP_ENOMEM;
    }
    CURL *e = h->easy;
    curl_easy_reset(e);

    sink s = {{0}, req->max_response ? req->max_response : PD_HTTP_DEFAULT_MAX, 0};
    char curl_err[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    pd_buf auth = {0};
    int ok = 1;
    if (req->authorization) {
        pd_buf_adds(&auth, "Authorization: ");
        pd_buf_adds(&auth, req->authorization);
        ok = !auth.oom && add_header(&hdrs, auth.data);
    }
    if (ok && req->body) {
        char ct[128];
        snprintf(ct, sizeof ct, "Content-Type: %s",
                 req->content_type ? req->content_type : "application/json");
        ok = add_header(&hdrs, ct);
    } else if (ok && strcmp(req->method, "GET") != 0) {
        /* a bodiless POST (stop, start, wait) is not a form: drop libcurl's
         * default x-www-form-urlencoded type */
        ok = add_header(&hdrs, "Content-Type:");
    }
    /* no "Expect: 100-continue" round trip for larger bodies */
    ok = ok && add_header(&hdrs, "Expect:");
    for (const char *const *x = req->headers; ok && x && *x; x++)
        ok = add_header(&hdrs, *x);
    if (!ok) {
        curl_slist_free_all(hdrs);
        pd_buf_free(&auth);
        snprintf(err, errlen, "out of memory");
        return PD_HTTP_ENOMEM;
    }

    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "pdlua/" PDLUA_VERSION);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, curl_err);
    const char *ca = custom_ca_file();
    if (ca)
        curl_easy_setopt(e, CURLOPT_CAINFO, ca);
    double ct = CONNECT_TIMEOUT;
    if (req->timeout > 0 && req->timeout < ct)
        ct = req->timeout;
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(ct * 1000));
    if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(req->method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)(req->body ? req->body_len : 0));
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "");
    } else {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
        if (req->body) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body);
        }
    }

    double start = pd_now();
    double end = req->timeout > 0 ? start + req->timeout : 0;
    CURLM *m = h->multi;
    if (curl_multi_add_handle(m, e) != CURLM_OK) {
        curl_slist_free_all(hdrs);
        pd_buf_free(&auth);
        snprintf(err, errlen, "cannot start the HTTP transfer");
        return PD_HTTP_ETRANSPORT;
    }
    pd_interrupt_set_wake(in, wake_multi, m);
    rc = PD_OK;
    for (;;) {
        int running = 0;
        CURLMcode mc = curl_multi_perform(m, &running);
        if (mc != CURLM_OK) {
            rc = PD_HTTP_ETRANSPORT;
            snprintf(err, errlen, "%s", curl_multi_strerror(mc));
            break;
        }
        if (!running)
            break;
        rc = pd_interrupt_check(in);
        double now = pd_now();
        if (rc == PD_OK && req->deadline > 0 && now >= req->deadline)
            rc = PD_ETIMEOUT;
        if (rc != PD_OK) {
            snprintf(err, errlen, "request %s",
                     rc == PD_ETIMEOUT ? "stopped: deadline exceeded" : "cancelled");
            break;
        }
        if (end > 0 && now >= end) {
            rc = PD_HTTP_EREQTIMEOUT;
            snprintf(err, errlen, "no response within %.3g s", req->timeout);
            break;
        }
        double limit = POLL_CAP;
        double dl = pd_interrupt_deadline(in);
        if (req->deadline > 0 && (dl <= 0 || req->deadline < dl))
            dl = req->deadline;
        if (end > 0 && end - now < limit)
            limit = end - now;
        if (dl > 0 && dl - now < limit)
            limit = dl - now;
        if (limit < 0)
            limit = 0;
        curl_multi_poll(m, NULL, 0, (int)(limit * 1000) + 1, NULL);
    }
    pd_interrupt_set_wake(in, NULL, NULL);

    if (rc == PD_OK) {
        int left = 0;
        CURLcode result = CURLE_OK;
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(m, &left)))
            if (msg->msg == CURLMSG_DONE && msg->easy_handle == e)
                result = msg->data.result;
        if (s.toobig) {
            rc = PD_HTTP_ETOOBIG;
            snprintf(err, errlen, "response larger than %zu bytes", s.max);
        } else if (s.buf.oom) {
            rc = PD_HTTP_ENOMEM;
            snprintf(err, errlen, "out of memory reading the response");
        } else if (result != CURLE_OK) {
            /* a certificate that does not verify will not verify on retry */
            rc = (result == CURLE_PEER_FAILED_VERIFICATION || result == CURLE_SSL_CONNECT_ERROR ||
                  result == CURLE_SSL_CERTPROBLEM || result == CURLE_SSL_CACERT_BADFILE)
                     ? PD_HTTP_ETLS
                     : PD_HTTP_ETRANSPORT;
            snprintf(err, errlen, "%s%s%s", curl_easy_strerror(result),
                     curl_err[0] ? ": " : "", curl_err);
        }
    }
    long connects = 0;
    curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
    res->connects = connects;
    if (rc == PD_OK) {
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &res->status);
        curl_off_t ra = -1;
        if (curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
            res->retry_after = (double)ra;
        if (!s.buf.data)
            pd_buf_add(&s.buf, "", 0);
        res->body = s.buf.data;
        res->len = s.buf.len;
        s.buf.data = NULL;
    }
    /* removing an unfinished transfer closes its connection: an aborted
     * request never leaves a half-read response on a reused socket */
    curl_multi_remove_handle(m, e);
    res->elapsed = pd_now() - start;
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(hdrs);
    pd_buf_free(&auth);
    if (rc != PD_OK)
        pd_buf_free(&s.buf);
    return rc;
}

void pd_http_response_free(pd_http_response *res)
{
    if (res->body) {
        explicit_bzero(res->body, res->len);
        free(res->body);
    }
    res->body = NULL;
    res->len = 0;
}

/* ---- logging ---- */

void pd_http_set_logging(int on) { atomic_store(&logging, on ? 1 : 0); }

int pd_http_logging(void)
{
    int v = atomic_load(&logging);
    if (v < 0) {
        const char *e = getenv("PDLUA_LOG_HTTP");
        v = e && *e && strcmp(e, "0") != 0;
        atomic_store(&logging, v);
    }
    return v;
}

static int secret_param(const char *name, size_t n)
{
    static const char *const names[] = {"access_token", "refresh_token", "client_secret",
                                        "assertion", "key", "token", "code", NULL};
    for (int i = 0; names[i]; i++)
        if (strlen(names[i]) == n && strncasecmp(name, names[i], n) == 0)
            return 1;
    return 0;
}

/* Copies url into b, masking the values of secret-looking query params. */
static void add_masked_url(pd_buf *b, const char *url)
{
    const char *q = strchr(url, '?');
    if (!q) {
        pd_buf_adds(b, url);
        return;
    }
    pd_buf_add(b, url, (size_t)(q - url) + 1);
    const char *p = q + 1;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t plen = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', plen);
        if (eq && secret_param(p, (size_t)(eq - p))) {
            pd_buf_add(b, p, (size_t)(eq - p) + 1);
            pd_buf_adds(b, "[redacted]");
        } else {
            pd_buf_add(b, p, plen);
        }
        if (!amp)
            break;
        pd_buf_add(b, "&", 1);
        p = amp + 1;
    }
}

void pd_http_log_line(char *out, size_t outlen, const char *method, const char *url,
                      int has_auth, long status, double elapsed, int attempt,
                      const char *error)
{
    pd_buf b = {0};
    pd_buf_addf(&b, "pdlua http: %s ", method);
    add_masked_url(&b, url);
    if (error && *error)
        pd_buf_addf(&b, " -> failed (%s)", error);
    else
        pd_buf_addf(&b, " -> %ld", status);
    pd_buf_addf(&b, " in %.1f ms", elapsed * 1000.0);
    if (attempt > 1)
        pd_buf_addf(&b, " (attempt %d)", attempt);
    if (has_auth)
        pd_buf_adds(&b, " [Authorization: Bearer [redacted]]");
    snprintf(out, outlen, "%s", b.data ? b.data : "pdlua http: (out of memory)");
    pd_buf_free(&b);
}

void pd_http_redact(char *out, size_t outlen, const char *msg,
                    const char *const *secrets, int nsecrets)
{
    pd_buf b = {0};
    const char *p = msg;
    while (*p) {
        int hit = -1;
        for (int i = 0; i < nsecrets; i++) {
            const char *s = secrets[i];
            size_t n = s ? strlen(s) : 0;
            if (n >= 4 && strncmp(p, s, n) == 0) {
                hit = i;
                break;
            }
        }
        if (hit >= 0) {
            pd_buf_adds(&b, "[redacted]");
            p += strlen(secrets[hit]);
        } else {
            pd_buf_add(&b, p, 1);
            p++;
        }
    }
    snprintf(out, outlen, "%s", b.data ? b.data : "");
    pd_buf_free(&b);
}
