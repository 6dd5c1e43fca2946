/*
 * semaphore.c — counting semaphore with interruptible waits (see
 * include/pdlua/semaphore.h). A mutex, a monotonic condition variable and a
 * count; pd_interrupt_wait makes a cancel or deadline of the waiting task
 * wake it. Release signals one waiter: every waiter wants one permit.
 */
#include "pdlua/semaphore.h"

void pd_sem_init(pd_sem *s, int capacity)
{
    pthread_mutex_init(&s->mu, NULL);
    pd_cond_init(&s->cv);
    s->count = capacity;
    s->capacity = capacity;
    s->waiting = 0;
}

void pd_sem_destroy(pd_sem *s)
{
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
}

int pd_sem_acquire(pd_sem *s, pd_interrupt *in, double until)
{
    int rc = PD_OK;
    pthread_mutex_lock(&s->mu);
    s->waiting++;
    while (s->count == 0) {
        if (until > 0 && pd_now() >= until) {
            rc = PD_ETIMEOUT;
            break;
        }
        rc = pd_interrupt_wait(in, &s->cv, &s->mu, until);
        if (rc != PD_OK)
            break;
    }
    s->waiting--;
    if (rc == PD_OK)
        s->count--;
    else if (s->count > 0 && s->waiting > 0)
        pthread_cond_signal(&s->cv);   /* pass on a wake-up we may have eaten */
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int pd_sem_try_acquire(pd_sem *s)
{
    pthread_mutex_lock(&s->mu);
    int ok = s->count > 0;
    if (ok)
        s->count--;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

int pd_sem_release(pd_sem *s)
{
    pthread_mutex_lock(&s->mu);
    if (s->count >= s->capacity) {
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    s->count++;
    if (s->waiting > 0)
        pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int pd_sem_available(pd_sem *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->count;
    pthread_mutex_unlock(&s->mu);
    return n;
}
