/*
 * semaphore.h — a counting semaphore whose wait obeys the caller's
 * pd_interrupt, for limits inside tasks (`pd.semaphore(n)`).
 *
 * Pools limit how many tasks start; a semaphore limits a section inside
 * tasks (say, three concurrent calls to one API among twenty running
 * tasks). Acquire is called with the interpreter lock released: a task
 * waiting here must not stop others from running, and a timeout or cancel
 * of the waiting task ends the wait at once.
 */
#ifndef PDLUA_SEMAPHORE_H
#define PDLUA_SEMAPHORE_H

#include "pdlua/interrupt.h"

#include <pthread.h>

typedef struct pd_sem {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int count;      /* permits free now */
    int capacity;   /* permits in all */
    int waiting;    /* threads blocked in acquire */
} pd_sem;

void pd_sem_init(pd_sem *s, int capacity);
void pd_sem_destroy(pd_sem *s);

/* Takes a permit, waiting while none is free. `in` (the caller's current
 * interrupt) ends the wait: returns PD_OK, PD_ETIMEOUT or PD_ECANCELLED.
 * `until` (monotonic seconds, 0: none) ends it too, with PD_ETIMEOUT. Must
 * be called without the interpreter lock. */
int pd_sem_acquire(pd_sem *s, pd_interrupt *in, double until);

/* Takes a permit if one is free: 1 if taken, else 0. */
int pd_sem_try_acquire(pd_sem *s);

/* Gives a permit back. Returns -1 (and changes nothing) when every permit
 * is already free: a release without an acquire. */
int pd_sem_release(pd_sem *s);

/* Permits free now. */
int pd_sem_available(pd_sem *s);

#endif
