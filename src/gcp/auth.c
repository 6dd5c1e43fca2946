/*
 * auth.c — Application Default Credentials and the token cache (see
 * include/pdlua/auth.h).
 *
 * Design: resolving the chain happens once, when a client is made, so a
 * broken GOOGLE_APPLICATION_CREDENTIALS fails early with a clear message
 * instead of on the first API call. Fetching a token happens lazily on the
 * first call and then shortly before expiry (a margin of a quarter of the
 * token's lifetime, at most 225 s — the threshold Google's libraries use),
 * so requests rarely wait for a refresh: until the old token really
 * expires, only the refreshing thread pays for it.
 *
 * Secrets (refresh tokens, client secrets, keys, access tokens) live only
 * in this struct and in request buffers, are wiped on free, and are masked
 * out of any message that quotes a token endpoint's reply.
 */
#include "pdlua/auth.h"
#include "pdlua/http.h"
#include "pdlua/json.h"
#include "pdlua/jwt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum kind { K_TOKEN, K_TOKEN_FILE, K_SERVICE_ACCOUNT, K_AUTHORIZED_USER, K_METADATA };

struct pd_auth {
    enum kind kind;
    char *source;             /* e.g. "GOOGLE_APPLICATION_CREDENTIALS (/path)" */
    pthread_mutex_t mu;
    pthread_cond_t cv;        /* broadcast when a refresh ends */
    char *token;              /* cached access token or NULL */
    double expiry;            /* monotonic seconds; 0: does not expire */
    double margin;            /* refresh this long before expiry */
    int refreshing;
    long refreshes;
    double timeout;
    char *scope;
    /* per source */
    char *token_file;
    char *client_email, *token_uri;
    pd_jwt_key *key;
    char *client_id, *client_secret, *refresh_token;
    char *metadata_host;
    char *project, *quota_project;
};

static char *xstrdup(const char *s) { return s ? strdup(s) : NULL; }

static void wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

const char *pd_auth_kind(const pd_auth *a)
{
    static const char *const names[] = {"access_token", "token_file", "service_account",
                                        "authorized_user", "metadata"};
    return names[a->kind];
}

const char *pd_auth_source(const pd_auth *a) { return a->source; }
const char *pd_auth_project(const pd_auth *a) { return a->project; }
const char *pd_auth_quota_project(const pd_auth *a) { return a->quota_project; }

long pd_auth_refreshes(pd_auth *a)
{
    pthread_mutex_lock(&a->mu);
    long n = a->refreshes;
    pthread_mutex_unlock(&a->mu);
    return n;
}

/* Reads a small file whole; NULL with errno set on failure. */
static char *read_file(const char *path, size_t limit, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    pd_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        pd_buf_add(&b, chunk, n);
        if (b.len > limit) {
            fclose(f);
            pd_buf_free(&b);
            errno = EFBIG;
            return NULL;
        }
    }
    fclose(f);
    if (b.oom) {
        pd_buf_free(&b);
        errno = ENOMEM;
        return NULL;
    }
    if (!b.data)
        pd_buf_add(&b, "", 0);
    *len = b.len;
    return b.data;
}

/* Reads a token file: its first line, whitespace trimmed. */
static char *read_token_file(const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    char *s = read_file(path, 64 * 1024, &len);
    if (!s) {
        snprintf(err, errlen, "cannot read access token file '%s': %s", path, strerror(errno));
        return NULL;
    }
    size_t start = 0;
    while (start < len && (s[start] == ' ' || s[start] == '\t' || s[start] == '\n' ||
                           s[start] == '\r'))
        start++;
    size_t end = start;
    while (end < len && s[end] != '\n' && s[end] != '\r' && s[end] != ' ' && s[end] != '\t')
        end++;
    char *tok = NULL;
    if (end > start) {
        tok = malloc(end - start + 1);
        if (tok) {
            memcpy(tok, s + start, end - start);
            tok[end - start] = 0;
        }
    }
    explicit_bzero(s, len);
    free(s);
    if (!tok)
        snprintf(err, errlen, "access token file '%s' is empty", path);
    return tok;
}

static int load_file(pd_auth *a, const char *path, const char *via, char *err, size_t errlen)
{
    size_t len = 0;
    char *text = read_file(path, 1 << 20, &len);
    if (!text) {
        snprintf(err, errlen, "cannot read credentials file '%s' (%s): %s", path, via,
                 strerror(errno));
        return -1;
    }
    char jerr[160];
    pd_json_doc *doc = pd_json_parse(text, len, jerr, sizeof jerr);
    explicit_bzero(text, len);
    free(text);
    const pd_json *root = pd_json_root(doc);
    if (!root || root->type != PD_JSON_OBJECT) {
        snprintf(err, errlen, "credentials file '%s' (%s) is not a JSON object%s%s", path, via,
                 doc ? "" : ": ", doc ? "" : jerr);
        pd_json_free(doc);
        return -1;
    }
    const char *type = pd_json_get_str(root, "type");
    int rc = -1;
    char src[1200];
    snprintf(src, sizeof src, "%s (%s)", via, path);
    if (type && strcmp(type, "service_account") == 0) {
        const char *email = pd_json_get_str(root, "client_email");
        const char *pem = pd_json_get_str(root, "private_key");
        const char *uri = pd_json_get_str(root, "token_uri");
        if (!email || !pem) {
            snprintf(err, errlen,
                     "service account file '%s' (%s) lacks client_email or private_key", path,
                     via);
        } else if ((a->key = pd_jwt_key_load(pem, err, errlen)) == NULL) {
            char tmp[256];
            snprintf(tmp, sizeof tmp, "%s", err);
            snprintf(err, errlen, "service account file '%s' (%s): %s", path, via, tmp);
        } else {
            a->kind = K_SERVICE_ACCOUNT;
            a->client_email = xstrdup(email);
            a->token_uri = xstrdup(uri ? uri : PD_AUTH_DEFAULT_TOKEN_URI);
            a->project = xstrdup(pd_json_get_str(root, "project_id"));
            rc = 0;
        }
    } else if (type && strcmp(type, "authorized_user") == 0) {
        const char *id = pd_json_get_str(root, "client_id");
        const char *secret = pd_json_get_str(root, "client_secret");
        const char *refresh = pd_json_get_str(root, "refresh_token");
        const char *uri = pd_json_get_str(root, "token_uri");
        if (!id || !secret || !refresh) {
            snprintf(err, errlen,
                     "authorized user file '%s' (%s) lacks client_id, client_secret or "
                     "refresh_token", path, via);
        } else {
            a->kind = K_AUTHORIZED_USER;
            a->client_id = xstrdup(id);
            a->client_secret = xstrdup(secret);
            a->refresh_token = xstrdup(refresh);
            a->token_uri = xstrdup(uri ? uri : PD_AUTH_DEFAULT_TOKEN_URI);
            a->quota_project = xstrdup(pd_json_get_str(root, "quota_project_id"));
            rc = 0;
        }
    } else {
        snprintf(err, errlen,
                 "credentials file '%s' (%s) has type '%s'; pdlua supports service_account "
                 "and authorized_user", path, via, type ? type : "(none)");
    }
    pd_json_free(doc);
    if (rc == 0 && a->token_uri &&
        pd_http_check_url(a->token_uri, 0, err, errlen) != PD_OK) {
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s", err);
        snprintf(err, errlen, "credentials file '%s' (%s): token_uri: %s", path, via, tmp);
        rc = -1;
    }
    if (rc == 0)
        a->source = xstrdup(src);
    return rc;
}

static int file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    fclose(f);
    return 1;
}

pd_auth *pd_auth_new(const pd_auth_options *opts, char *err, size_t errlen)
{
    pd_auth *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&a->mu, NULL);
    pd_cond_init(&a->cv);
    a->timeout = opts && opts->timeout > 0 ? opts->timeout : 30;
    a->scope = xstrdup(opts && opts->scope ? opts->scope : PD_AUTH_SCOPE);
    const char *env;
    int rc = 0, implicit_metadata = 0;
    char path[4096];
    if (opts && opts->access_token) {
        a->kind = K_TOKEN;
        a->token = xstrdup(opts->access_token);
        a->source = xstrdup("credentials.access_token");
    } else if (opts && opts->file) {
        rc = load_file(a, opts->file, "credentials option", err, errlen);
    } else if (opts && opts->metadata) {
        a->kind = K_METADATA;
    } else if ((env = getenv("GOOGLE_OAUTH_ACCESS_TOKEN")) && *env) {
        a->kind = K_TOKEN;
        a->token = xstrdup(env);
        a->source = xstrdup("GOOGLE_OAUTH_ACCESS_TOKEN");
    } else if ((env = getenv("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE")) && *env) {
        a->kind = K_TOKEN_FILE;
        a->token_file = xstrdup(env);
        a->token = read_token_file(env, err, errlen);
        rc = a->token ? 0 : -1;
        snprintf(path, sizeof path, "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE (%s)", env);
        a->source = xstrdup(path);
    } else if ((env = getenv("GOOGLE_APPLICATION_CREDENTIALS")) && *env) {
        rc = load_file(a, env, "GOOGLE_APPLICATION_CREDENTIALS", err, errlen);
    } else {
        const char *cfg = getenv("CLOUDSDK_CONFIG");
        const char *home = getenv("HOME");
        path[0] = 0;
        if (cfg && *cfg)
            snprintf(path, sizeof path, "%s/application_default_credentials.json", cfg);
        else if (home && *home)
            snprintf(path, sizeof path,
                     "%s/.config/gcloud/application_default_credentials.json", home);
        if (path[0] && file_exists(path))
            rc = load_file(a, path, "gcloud application default credentials", err, errlen);
        else
            a->kind = K_METADATA;
        implicit_metadata = 1;
    }
    if (rc == 0 && a->kind == K_METADATA) {
        env = getenv("GCE_METADATA_HOST");
        a->metadata_host = xstrdup(env && *env ? env : PD_AUTH_METADATA_HOST);
        snprintf(path, sizeof path, "metadata server (%s)%s", a->metadata_host,
                 implicit_metadata && a->kind == K_METADATA
                     ? "; no other credentials were found (GOOGLE_OAUTH_ACCESS_TOKEN, "
                       "GOOGLE_APPLICATION_CREDENTIALS, gcloud's application default credentials)"
                     : "");
        a->source = xstrdup(path);
    }
    if (rc != 0) {
        pd_auth_free(a);
        return NULL;
    }
    return a;
}

void pd_auth_free(pd_auth *a)
{
    if (!a)
        return;
    wipe_free(a->token);
    free(a->source);
    free(a->scope);
    free(a->token_file);
    free(a->client_email);
    free(a->token_uri);
    pd_jwt_key_free(a->key);
    wipe_free(a->client_id);
    wipe_free(a->client_secret);
    wipe_free(a->refresh_token);
    free(a->metadata_host);
    free(a->project);
    free(a->quota_project);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

/* Copies msg into err with this source's secrets masked. */
static void set_err_redacted(pd_auth *a, char *err, size_t errlen, const char *msg,
                             const char *extra_secret)
{
    const char *secrets[] = {a->client_secret, a->refresh_token, a->token, extra_secret};
    pd_http_redact(err, errlen, msg, secrets, 4);
}

/* One token request: POST a form (or GET the metadata server). On success
 * fills *token and *lifetime. Retries transport failures and 5xx a few
 * times, since token endpoints have blips too. */
static int fetch(pd_auth *a, pd_interrupt *in, char **token, double *lifetime, char *err,
                 size_t errlen, int *code, int *retryable)
{
    pd_buf form = {0};
    char url[1024];
    const char *metadata_headers[] = {"Metadata-Flavor: Google", NULL};
    pd_http_request req = {0};
    req.timeout = a->timeout;
    req.max_response = 1 << 20;
    *code = 0;
    *retryable = 0;
    char *assertion = NULL;
    if (a->kind == K_SERVICE_ACCOUNT) {
        time_t now = time(NULL);
        pd_buf claims = {0};
        pd_buf_adds(&claims, "{\"iss\":");
        pd_buf_add_json_string(&claims, a->client_email, strlen(a->client_email));
        pd_buf_adds(&claims, ",\"scope\":");
        pd_buf_add_json_string(&claims, a->scope, strlen(a->scope));
        pd_buf_adds(&claims, ",\"aud\":");
        pd_buf_add_json_string(&claims, a->token_uri, strlen(a->token_uri));
        pd_buf_addf(&claims, ",\"iat\":%lld,\"exp\":%lld}", (long long)now,
                    (long long)now + 3600);
        assertion = claims.oom ? NULL : pd_jwt_sign(a->key, claims.data, err, errlen);
        pd_buf_free(&claims);
        if (!assertion)
            return PD_AUTH_EFAIL;
        pd_buf_adds(&form, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
                           "&assertion=");
        pd_buf_adds(&form, assertion);
        snprintf(url, sizeof url, "%s", a->token_uri);
    } else if (a->kind == K_AUTHORIZED_USER) {
        pd_buf_adds(&form, "grant_type=refresh_token&client_id=");
        pd_buf_add_urlencoded(&form, a->client_id);
        pd_buf_adds(&form, "&client_secret=");
        pd_buf_add_urlencoded(&form, a->client_secret);
        pd_buf_adds(&form, "&refresh_token=");
        pd_buf_add_urlencoded(&form, a->refresh_token);
        snprintf(url, sizeof url, "%s", a->token_uri);
    } else {
        snprintf(url, sizeof url,
                 "http://%s/computeMetadata/v1/instance/service-accounts/default/token",
                 a->metadata_host);
        req.headers = metadata_headers;
        req.allow_plain_http = 1;   /* the metadata server only speaks http */
        if (req.timeout > 10)
            req.timeout = 10;
    }
    if (form.oom) {
        pd_buf_free(&form);
        wipe_free(assertion);
        snprintf(err, errlen, "out of memory");
        return PD_AUTH_EFAIL;
    }
    req.url = url;
    req.method = form.data ? "POST" : "GET";
    req.body = form.data;
    req.body_len = form.len;
    req.content_type = "application/x-www-form-urlencoded";

    int rc = PD_AUTH_EFAIL;
    for (int attempt = 1; attempt <= 3; attempt++) {
        pd_http_response res;
        char herr[512];
        int hr = pd_http_perform(&req, &res, in, herr, sizeof herr);
        if (pd_http_logging()) {
            char line[1024];
            pd_http_log_line(line, sizeof line, req.method, url, 0, res.status, res.elapsed,
                             attempt, hr == PD_OK ? NULL : herr);
            fprintf(stderr, "%s\n", line);
        }
        if (hr == PD_ETIMEOUT || hr == PD_ECANCELLED) {
            snprintf(err, errlen, "token request %s", pd_interrupt_reason(hr));
            rc = hr;
            break;
        }
        char msg[1024];
        int transient = 0;
        if (hr != PD_OK) {
            snprintf(msg, sizeof msg, "token request to %.300s failed: %.500s", url, herr);
            transient = hr == PD_HTTP_ETRANSPORT || hr == PD_HTTP_EREQTIMEOUT;
        } else {
            *code = (int)res.status;
            char jerr[128];
            pd_json_doc *doc = pd_json_parse(res.body, res.len, jerr, sizeof jerr);
            const pd_json *root = pd_json_root(doc);
            const char *tok = pd_json_get_str(root, "access_token");
            if (res.status == 200 && tok && *tok) {
                *token = strdup(tok);
                *lifetime = pd_json_get_num(root, "expires_in", 3600);
                rc = *token ? PD_OK : PD_AUTH_EFAIL;
                if (!*token)
                    snprintf(msg, sizeof msg, "out of memory");
            } else if (res.status == 200) {
                snprintf(msg, sizeof msg, "token endpoint %.300s answered without an access_token",
                         url);
            } else {
                const char *e = pd_json_get_str(root, "error");
                const char *d = pd_json_get_str(root, "error_description");
                if (!e) {
                    const pd_json *ej = pd_json_get(root, "error");
                    e = pd_json_get_str(ej, "status");
                    d = pd_json_get_str(ej, "message");
                }
                snprintf(msg, sizeof msg, "token request to %.300s failed: HTTP %ld%s%.100s%s%.400s", url,
                         res.status, e ? " " : "", e ? e : "", d ? ": " : "", d ? d : "");
                transient = res.status == 429 || res.status >= 500;
            }
            pd_json_free(doc);
            pd_http_response_free(&res);
        }
        if (rc == PD_OK)
            break;
        set_err_redacted(a, err, errlen, msg, assertion);
        *retryable = transient;
        if (!transient || attempt == 3)
            break;
        int sr = pd_interrupt_sleep(in, 0.2 * attempt);
        if (sr != PD_OK) {
            rc = sr;
            snprintf(err, errlen, "token request %s", pd_interrupt_reason(sr));
            break;
        }
    }
    pd_buf_free(&form);
    wipe_free(assertion);
    return rc;
}

static char *make_header(const char *token)
{
    size_t n = strlen(token);
    char *h = malloc(n + 8);
    if (h) {
        memcpy(h, "Bearer ", 7);
        memcpy(h + 7, token, n + 1);
    }
    return h;
}

void pd_auth_header_free(char *header) { wipe_free(header); }

int pd_auth_header(pd_auth *a, pd_interrupt *in, char **header, char *err, size_t errlen,
                   int *code, int *retryable)
{
    *header = NULL;
    *code = 0;
    *retryable = 0;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        double now = pd_now();
        int valid = a->token && (a->expiry == 0 || now < a->expiry);
        int fresh = valid && (a->expiry == 0 || now < a->expiry - a->margin);
        if (fresh || (valid && a->refreshing)) {
            *header = make_header(a->token);
            pthread_mutex_unlock(&a->mu);
            if (!*header) {
                snprintf(err, errlen, "out of memory");
                return PD_AUTH_EFAIL;
            }
            return PD_OK;
        }
        if (a->refreshing) {
            int rc = pd_interrupt_wait(in, &a->cv, &a->mu, 0);
            if (rc != PD_OK) {
                pthread_mutex_unlock(&a->mu);
                snprintf(err, errlen, "waiting for an access token: %s",
                         pd_interrupt_reason(rc));
                return rc;
            }
            continue;
        }
        if (a->kind == K_TOKEN) {
            pthread_mutex_unlock(&a->mu);
            snprintf(err, errlen, "the access token from %s was rejected (401) and cannot be "
                                  "refreshed", a->source);
            *code = 401;
            return PD_AUTH_EFAIL;
        }
        a->refreshing = 1;
        pthread_mutex_unlock(&a->mu);

        char *token = NULL;
        double lifetime = 0;
        double started = pd_now();
        int rc;
        if (a->kind == K_TOKEN_FILE) {
            token = read_token_file(a->token_file, err, errlen);
            rc = token ? PD_OK : PD_AUTH_EFAIL;
        } else {
            rc = fetch(a, in, &token, &lifetime, err, errlen, code, retryable);
        }

        pthread_mutex_lock(&a->mu);
        a->refreshing = 0;
        pthread_cond_broadcast(&a->cv);
        if (rc == PD_OK) {
            wipe_free(a->token);
            a->token = token;
            if (lifetime > 0) {
                a->expiry = started + lifetime;
                a->margin = lifetime / 4 < 225 ? lifetime / 4 : 225;
            } else {
                a->expiry = 0;
            }
            a->refreshes++;
            continue;   /* hand out the new token */
        }
        /* A failed early refresh still leaves a usable token. */
        if (a->token && a->expiry > 0 && pd_now() < a->expiry) {
            *header = make_header(a->token);
            pthread_mutex_unlock(&a->mu);
            return *header ? PD_OK : PD_AUTH_EFAIL;
        }
        pthread_mutex_unlock(&a->mu);
        if (rc == PD_AUTH_EFAIL) {
            char tmp[1024];
            snprintf(tmp, sizeof tmp, "%s", err);
            snprintf(err, errlen, "no access token from %s: %s", a->source, tmp);
        }
        return rc;
    }
}

int pd_auth_invalidate(pd_auth *a, const char *rejected)
{
    pthread_mutex_lock(&a->mu);
    if (a->token && rejected && strncmp(rejected, "Bearer ", 7) == 0 &&
        strcmp(rejected + 7, a->token) == 0) {
        if (a->kind == K_TOKEN_FILE) {
            /* the same file content would be rejected again; re-read it */
            wipe_free(a->token);
            a->token = NULL;
        } else if (a->kind != K_TOKEN) {
            wipe_free(a->token);
            a->token = NULL;
        }
    }
    int can = a->kind != K_TOKEN;
    pthread_mutex_unlock(&a->mu);
    return can;
}
