/*
 * interrupt.c — cancellation flags and deadlines that blocking C code obeys.
 *
 * See include/pdlua/interrupt.h. The trick that makes cancel prompt: a
 * waiter registers the condition variable it blocks on (holding its own
 * mutex) before it checks the flag, and pd_interrupt_cancel sets the flag
 * before it reads that registration, so either the waiter sees the flag or
 * the canceller sees the waiter and broadcasts under the waiter's mutex.
 * Lock order is the waiter's mutex, then in->mu; the canceller, which needs
 * them the other way round, only try-locks the waiter's mutex and retries.
 */
#include "pdlua/interrupt.h"

#include <errno.h>
#include <math.h>
#include <time.h>

static pd_interrupt root_interrupt;
static pthread_once_t root_once = PTHREAD_ONCE_INIT;
static _Thread_local pd_interrupt *current;

static double clock_seconds(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double pd_now(void) { return clock_seconds(CLOCK_MONOTONIC); }
double pd_realtime(void) { return clock_seconds(CLOCK_REALTIME); }

static void init_root(void) { pd_interrupt_init(&root_interrupt, 0); }

pd_interrupt *pd_interrupt_root(void)
{
    pthread_once(&root_once, init_root);
    return &root_interrupt;
}

void pd_interrupt_init(pd_interrupt *in, double deadline)
{
    atomic_init(&in->cancelled, 0);
    atomic_init(&in->deadline, deadline);
    pthread_mutex_init(&in->mu, NULL);
    pd_cond_init(&in->cv);
    in->wait_cv = NULL;
    in->wait_mu = NULL;
    in->wake = NULL;
    in->wake_arg = NULL;
}

void pd_interrupt_destroy(pd_interrupt *in)
{
    pthread_cond_destroy(&in->cv);
    pthread_mutex_destroy(&in->mu);
}

void pd_interrupt_cancel(pd_interrupt *in)
{
    atomic_store(&in->cancelled, 1);
    for (;;) {
        pthread_mutex_lock(&in->mu);
        if (in->wake)
            in->wake(in->wake_arg);
        pthread_cond_broadcast(&in->cv);
        pthread_mutex_t *mu = in->wait_mu;
        if (!mu || mu == &in->mu) {
            pthread_mutex_unlock(&in->mu);
            return;
        }
        /* The waiter takes its mutex before in->mu; we hold in->mu, so only
         * try its mutex, and back off if it is busy. Holding in->mu keeps
         * the waiter registered, so its condition cannot go away. */
        if (pthread_mutex_trylock(mu) == 0) {
            pthread_cond_broadcast(in->wait_cv);
            pthread_mutex_unlock(mu);
            pthread_mutex_unlock(&in->mu);
            return;
        }
        pthread_mutex_unlock(&in->mu);
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
    }
}

void pd_interrupt_set_deadline(pd_interrupt *in, double deadline)
{
    atomic_store(&in->deadline, deadline);
}

void pd_interrupt_set_wake(pd_interrupt *in, void (*fn)(void *), void *arg)
{
    pthread_mutex_lock(&in->mu);
    in->wake = fn;
    in->wake_arg = arg;
    pthread_mutex_unlock(&in->mu);
}

pd_interrupt *pd_interrupt_current(void)
{
    return current ? current : pd_interrupt_root();
}

pd_interrupt *pd_interrupt_swap(pd_interrupt *in)
{
    pd_interrupt *prev = current;
    current = in;
    return prev;
}

double pd_interrupt_deadline(pd_interrupt *in)
{
    return atomic_load(&in->deadline);
}

int pd_interrupt_check(pd_interrupt *in)
{
    if (atomic_load(&in->cancelled))
        return PD_ECANCELLED;
    double d = atomic_load(&in->deadline);
    if (d > 0 && pd_now() >= d)
        return PD_ETIMEOUT;
    return PD_OK;
}

void pd_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, double until)
{
    if (until <= 0) {
        pthread_cond_wait(cv, mu);
        return;
    }
    double s = floor(until);
    struct timespec ts = {(time_t)s, (long)((until - s) * 1e9)};
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(cv, mu, &ts);
}

int pd_interrupt_wait(pd_interrupt *in, pthread_cond_t *cv, pthread_mutex_t *mu,
                      double until)
{
    int same = (mu == &in->mu);
    if (!same) {
        pthread_mutex_lock(&in->mu);
        in->wait_cv = cv;
        in->wait_mu = mu;
        pthread_mutex_unlock(&in->mu);
    }
    int rc = pd_interrupt_check(in);
    if (rc == PD_OK) {
        double d = atomic_load(&in->deadline);
        double limit = until;
        if (d > 0 && (limit <= 0 || d < limit))
            limit = d;
        pd_cond_wait_until(cv, mu, limit);
        rc = pd_interrupt_check(in);
    }
    if (!same) {
        pthread_mutex_lock(&in->mu);
        in->wait_cv = NULL;
        in->wait_mu = NULL;
        pthread_mutex_unlock(&in->mu);
    }
    return rc;
}

void pd_cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
}

int pd_interrupt_sleep(pd_interrupt *in, double seconds)
{
    double until = pd_now() + seconds;
    int rc;
    pthread_mutex_lock(&in->mu);
    while ((rc = pd_interrupt_check(in)) == PD_OK && pd_now() < until)
        pd_interrupt_wait(in, &in->cv, &in->mu, until);
    pthread_mutex_unlock(&in->mu);
    return rc;
}

const char *pd_interrupt_reason(int status)
{
    switch (status) {
    case PD_OK: return "ok";
    case PD_ETIMEOUT: return "timeout";
    case PD_ECANCELLED: return "cancelled";
    default: return "error";
    }
}
