/*
 * stats.c — counters and log-bucket latency histograms (see
 * include/pdlua/stats.h).
 */
#include "pdlua/stats.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 240
#define BASE 1e-5            /* seconds: lower edge of bucket 0 */
#define GROWTH 1.1

typedef struct row {
    char name[64];
    long calls, requests, retries, errors, throttled, rate_limited;
    double sum, max;
    unsigned hist[NBUCKETS];
} row;

struct pd_stats {
    pthread_mutex_t mu;
    int nrows;
    row rows[PD_STATS_MAX_METHODS];
    pd_stats_totals t;
};

pd_stats *pd_stats_new(void)
{
    pd_stats *s = calloc(1, sizeof *s);
    if (s)
        pthread_mutex_init(&s->mu, NULL);
    return s;
}

void pd_stats_free(pd_stats *s)
{
    if (s) {
        pthread_mutex_destroy(&s->mu);
        free(s);
    }
}

static row *find_row(pd_stats *s, const char *method)
{
    for (int i = 0; i < s->nrows; i++)
        if (strcmp(s->rows[i].name, method) == 0)
            return &s->rows[i];
    if (s->nrows == PD_STATS_MAX_METHODS)
        return NULL;
    row *r = &s->rows[s->nrows++];
    memset(r, 0, sizeof *r);
    strncpy(r->name, method, sizeof r->name - 1);
    return r;
}

static int bucket(double v)
{
    if (v <= BASE)
        return 0;
    int b = (int)(log(v / BASE) / log(GROWTH)) + 1;
    return b >= NBUCKETS ? NBUCKETS - 1 : b;
}

/* Upper edge of bucket b. */
static double bucket_top(int b) { return BASE * pow(GROWTH, b); }

void pd_stats_call(pd_stats *s, const char *method, double latency, int requests,
                   int throttled, int rate_limited, int failed)
{
    pthread_mutex_lock(&s->mu);
    row *r = find_row(s, method);
    if (r) {
        r->calls++;
        r->requests += requests;
        r->retries += requests > 1 ? requests - 1 : 0;
        r->errors += failed != 0;
        r->throttled += throttled;
        r->rate_limited += rate_limited;
        r->sum += latency;
        if (latency > r->max)
            r->max = latency;
        r->hist[bucket(latency)]++;
    }
    s->t.calls++;
    s->t.requests += requests;
    s->t.retries += requests > 1 ? requests - 1 : 0;
    s->t.errors += failed != 0;
    s->t.throttled += throttled;
    s->t.rate_limited += rate_limited;
    pthread_mutex_unlock(&s->mu);
}

void pd_stats_request(pd_stats *s, long connections, long bytes, double limiter_wait)
{
    pthread_mutex_lock(&s->mu);
    s->t.connections += connections;
    s->t.bytes += bytes;
    s->t.limiter_wait += limiter_wait;
    pthread_mutex_unlock(&s->mu);
}

static double percentile(const row *r, double q)
{
    if (r->calls == 0)
        return 0;
    long want = (long)ceil(q * (double)r->calls);
    if (want < 1)
        want = 1;
    long seen = 0;
    for (int b = 0; b < NBUCKETS; b++) {
        seen += r->hist[b];
        if (seen >= want) {
            double top = bucket_top(b);
            return top < r->max ? top : r->max;
        }
    }
    return r->max;
}

int pd_stats_snapshot(pd_stats *s, pd_stats_method *rows, int max, pd_stats_totals *t)
{
    pthread_mutex_lock(&s->mu);
    int n = s->nrows < max ? s->nrows : max;
    for (int i = 0; i < n; i++) {
        const row *r = &s->rows[i];
        pd_stats_method *m = &rows[i];
        memcpy(m->name, r->name, sizeof m->name);
        m->calls = r->calls;
        m->requests = r->requests;
        m->retries = r->retries;
        m->errors = r->errors;
        m->throttled = r->throttled;
        m->rate_limited = r->rate_limited;
        m->p50 = percentile(r, 0.50);
        m->p90 = percentile(r, 0.90);
        m->p99 = percentile(r, 0.99);
        m->max = r->max;
        m->mean = r->calls ? r->sum / (double)r->calls : 0;
    }
    if (t)
        *t = s->t;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void pd_stats_reset(pd_stats *s)
{
    pthread_mutex_lock(&s->mu);
    s->nrows = 0;
    memset(&s->t, 0, sizeof s->t);
    pthread_mutex_unlock(&s->mu);
}
