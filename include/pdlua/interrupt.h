/*
 * interrupt.h — cancellation and deadlines for blocking C code.
 *
 * Whoever runs Lua code on a thread (an engine worker running a task, the
 * main thread running a script or a REPL command) installs a pd_interrupt as
 * that thread's current one. Blocking C calls — sleeps, semaphore waits,
 * HTTP transfers, operation waits — consult it and return PD_ETIMEOUT or
 * PD_ECANCELLED instead of blocking past the deadline or a cancel.
 *
 * A cancel is a flag plus a broadcast on the interrupt's condition variable,
 * so sleepers wake at once; code that polls (a libcurl progress callback)
 * reads the flag. Waiters may also register a wake function (for example
 * curl_multi_wakeup) that pd_interrupt_cancel calls.
 */
#ifndef PDLUA_INTERRUPT_H
#define PDLUA_INTERRUPT_H

#include <pthread.h>
#include <stdatomic.h>

enum {
    PD_OK = 0,
    PD_ETIMEOUT = 1,     /* the deadline passed */
    PD_ECANCELLED = 2,   /* cancelled (pd_interrupt_cancel, a signal) */
};

typedef struct pd_interrupt {
    atomic_int cancelled;        /* set once by pd_interrupt_cancel */
    _Atomic double deadline;     /* monotonic seconds; 0: none */
    pthread_mutex_t mu;          /* guards the waits below */
    pthread_cond_t cv;           /* broadcast on cancel */
    pthread_cond_t *wait_cv;     /* what a waiter is blocked on (under mu) */
    pthread_mutex_t *wait_mu;
    void (*wake)(void *);        /* optional, set under mu: called on cancel */
    void *wake_arg;
} pd_interrupt;

/* Monotonic clock, seconds. */
double pd_now(void);
/* Wall clock: seconds since the epoch, with sub-second precision. */
double pd_realtime(void);

void pd_interrupt_init(pd_interrupt *in, double deadline);
void pd_interrupt_destroy(pd_interrupt *in);
void pd_interrupt_cancel(pd_interrupt *in);
void pd_interrupt_set_deadline(pd_interrupt *in, double deadline);

/* The interrupt of the calling thread; never NULL (a thread without one
 * gets the process-wide root, which SIGINT/SIGTERM cancel). */
pd_interrupt *pd_interrupt_current(void);
/* Installs `in` for the calling thread; returns the previous one. */
pd_interrupt *pd_interrupt_swap(pd_interrupt *in);
/* The process-wide root interrupt. */
pd_interrupt *pd_interrupt_root(void);

/* PD_OK, PD_ETIMEOUT or PD_ECANCELLED. Cheap: two atomic loads and, with a
 * deadline, a clock read. */
int pd_interrupt_check(pd_interrupt *in);
double pd_interrupt_deadline(pd_interrupt *in);

/* Registers (fn non-NULL) or clears a wake function that a cancel calls,
 * for waits that are not on a condition variable (curl_multi_wakeup). */
void pd_interrupt_set_wake(pd_interrupt *in, void (*fn)(void *), void *arg);

/* Sleeps `seconds` (interpreter lock NOT held), waking early on cancel or
 * deadline. Returns PD_OK after a full sleep, else the reason. */
int pd_interrupt_sleep(pd_interrupt *in, double seconds);

/* Waits on `cv` (with `mu` held by the caller) until signalled, `until`
 * (monotonic seconds, 0: no limit) or interrupted. A cancel wakes it: the
 * waiter is registered so pd_interrupt_cancel can broadcast `cv`. `cv` must
 * use CLOCK_MONOTONIC (pd_cond_init). May wake spuriously: callers loop on
 * their predicate. Returns PD_OK when woken or `until` passed, else the
 * reason. Never call pd_interrupt_cancel while holding a mutex that a
 * waiter of that interrupt waits with. */
int pd_interrupt_wait(pd_interrupt *in, pthread_cond_t *cv, pthread_mutex_t *mu,
                      double until);

/* Initialises a condition variable on CLOCK_MONOTONIC. */
void pd_cond_init(pthread_cond_t *cv);
/* Waits on `cv` (from pd_cond_init, `mu` held) until signalled or `until`
 * (monotonic seconds; 0: no limit). The one place seconds become a
 * timespec. */
void pd_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, double until);

/* Short English word for a status: "ok", "timeout", "cancelled". */
const char *pd_interrupt_reason(int status);

#endif
