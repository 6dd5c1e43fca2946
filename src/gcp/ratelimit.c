/*
 * ratelimit.c — GCRA token bucket (see include/pdlua/ratelimit.h).
 *
 * State is one number, the theoretical arrival time `tat`: the earliest
 * moment the bucket is full again. A caller at time t may go at
 * max(t, tat - tolerance) and pushes tat one interval further; it reserves
 * its slot under the mutex and sleeps outside it, interruptibly. A caller
 * stopped while sleeping loses its reserved slot, which only makes the
 * limiter a little more conservative.
 */
#include "pdlua/ratelimit.h"

#include <stdlib.h>

struct pd_ratelimit {
    pthread_mutex_t mu;
    double interval;      /* seconds per request; 0: unlimited */
    double tolerance;     /* (burst - 1) * interval */
    double tat;
};

pd_ratelimit *pd_ratelimit_new(double qps, double burst)
{
    pd_ratelimit *rl = calloc(1, sizeof *rl);
    if (!rl)
        return NULL;
    pthread_mutex_init(&rl->mu, NULL);
    if (qps > 0) {
        rl->interval = 1.0 / qps;
        rl->tolerance = (burst < 1 ? 0 : burst - 1) * rl->interval;
    }
    return rl;
}

void pd_ratelimit_free(pd_ratelimit *rl)
{
    if (rl) {
        pthread_mutex_destroy(&rl->mu);
        free(rl);
    }
}

double pd_ratelimit_qps(pd_ratelimit *rl) { return rl->interval > 0 ? 1.0 / rl->interval : 0; }

int pd_ratelimit_acquire(pd_ratelimit *rl, pd_interrupt *in, double deadline, double *waited)
{
    *waited = 0;
    if (rl->interval <= 0)
        return pd_interrupt_check(in);
    pthread_mutex_lock(&rl->mu);
    double now = pd_now();
    double tat = rl->tat > now ? rl->tat : now;
    double go = tat - rl->tolerance;
    if (go < now)
        go = now;
    if (deadline > 0 && go > deadline) {
        /* would only be allowed after the caller's deadline: don't reserve */
        pthread_mutex_unlock(&rl->mu);
        pd_interrupt_sleep(in, deadline - now);
        int rc = pd_interrupt_check(in);
        return rc != PD_OK ? rc : PD_ETIMEOUT;
    }
    rl->tat = tat + rl->interval;
    pthread_mutex_unlock(&rl->mu);
    if (go <= now)
        return pd_interrupt_check(in);
    int rc = pd_interrupt_sleep(in, go - now);
    *waited = pd_now() - now;
    return rc;
}
