/*
 * stats.h — per-method counters and latency percentiles of one client,
 * readable from Lua as c:stats().
 *
 * Latencies go into a log-scale histogram (buckets 10% wide from 10 µs to
 * days), so recording is O(1) with no allocation and percentiles are exact
 * to within a bucket; the maximum is kept exactly. Every counter is updated
 * under one mutex per client: a few hundred nanoseconds against requests
 * that take milliseconds.
 */
#ifndef PDLUA_STATS_H
#define PDLUA_STATS_H

#define PD_STATS_MAX_METHODS 96

typedef struct pd_stats pd_stats;

typedef struct pd_stats_method {
    char name[64];
    long calls;          /* logical calls */
    long requests;       /* HTTP requests (attempts) */
    long retries;        /* requests beyond the first of each call */
    long errors;         /* calls that ended in an error */
    long throttled;      /* 429 answers */
    long rate_limited;   /* 403 rate-limit answers */
    double p50, p90, p99, max, mean;   /* call latency, seconds */
} pd_stats_method;

typedef struct pd_stats_totals {
    long calls, requests, retries, errors, throttled, rate_limited;
    long connections;    /* new TCP connections opened */
    long bytes;          /* response bytes received */
    double limiter_wait; /* seconds spent waiting for the rate limiter */
} pd_stats_totals;

pd_stats *pd_stats_new(void);
void pd_stats_free(pd_stats *s);

/* One finished call of `method` (a static or long-lived string). */
void pd_stats_call(pd_stats *s, const char *method, double latency, int requests,
                   int throttled, int rate_limited, int failed);
/* Transport facts of one request. */
void pd_stats_request(pd_stats *s, long connections, long bytes, double limiter_wait);

/* Copies the per-method rows (up to max) and the totals; returns the row
 * count. */
int pd_stats_snapshot(pd_stats *s, pd_stats_method *rows, int max, pd_stats_totals *t);
void pd_stats_reset(pd_stats *s);

#endif
