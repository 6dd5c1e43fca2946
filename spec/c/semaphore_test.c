/*
 * semaphore_test.c — src/engine/semaphore.c: counting, releases without an
 * acquire, waits ended by a release, a deadline, a timeout or a cancel,
 * and many threads never holding more permits than there are.
 */
#include "check.h"
#include "pdlua/semaphore.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static void test_counts(void)
{
    pd_sem s;
    pd_sem_init(&s, 3);
    CHECK_INT(pd_sem_available(&s), 3);
    CHECK_INT(pd_sem_try_acquire(&s), 1);
    CHECK_INT(pd_sem_try_acquire(&s), 1);
    CHECK_INT(pd_sem_try_acquire(&s), 1);
    CHECK_INT(pd_sem_try_acquire(&s), 0);
    CHECK_INT(pd_sem_available(&s), 0);
    CHECK_INT(pd_sem_release(&s), 0);
    CHECK_INT(pd_sem_available(&s), 1);
    pd_sem_destroy(&s);
}

static void test_release_without_acquire(void)
{
    pd_sem s;
    pd_sem_init(&s, 2);
    CHECK_INT(pd_sem_release(&s), -1);
    CHECK_INT(pd_sem_available(&s), 2);
    CHECK_INT(pd_sem_try_acquire(&s), 1);
    CHECK_INT(pd_sem_release(&s), 0);
    CHECK_INT(pd_sem_release(&s), -1);
    pd_sem_destroy(&s);
}

static void test_acquire_free_permit(void)
{
    pd_sem s;
    pd_interrupt in;
    pd_sem_init(&s, 1);
    pd_interrupt_init(&in, 0);
    CHECK_INT(pd_sem_acquire(&s, &in, 0), PD_OK);
    CHECK_INT(pd_sem_available(&s), 0);
    pd_interrupt_destroy(&in);
    pd_sem_destroy(&s);
}

/* `until` ends a wait with PD_ETIMEOUT, and takes nothing. */
static void test_until(void)
{
    pd_sem s;
    pd_interrupt in;
    pd_sem_init(&s, 1);
    pd_interrupt_init(&in, 0);
    pd_sem_try_acquire(&s);
    double t0 = pd_now();
    CHECK_INT(pd_sem_acquire(&s, &in, t0 + 0.05), PD_ETIMEOUT);
    double took = pd_now() - t0;
    CHECK(took >= 0.045 && took < 2);
    CHECK_INT(pd_sem_acquire(&s, &in, t0 - 1), PD_ETIMEOUT);   /* already past */
    CHECK_INT(pd_sem_available(&s), 0);
    pd_interrupt_destroy(&in);
    pd_sem_destroy(&s);
}

/* The interrupt's own deadline ends a wait the same way. */
static void test_interrupt_deadline(void)
{
    pd_sem s;
    pd_interrupt in;
    pd_sem_init(&s, 1);
    pd_sem_try_acquire(&s);
    pd_interrupt_init(&in, pd_now() + 0.05);
    CHECK_INT(pd_sem_acquire(&s, &in, 0), PD_ETIMEOUT);
    pd_interrupt_destroy(&in);
    pd_sem_destroy(&s);
}

/* Waits are bounded: a wake-up that never comes fails the test (with
 * PD_ETIMEOUT) instead of hanging it. */
#define BOUND 5.0

typedef struct {
    pd_sem *s;
    pd_interrupt in;
    int rc;
    double ended;
} waiter;

static void *wait_main(void *arg)
{
    waiter *w = arg;
    w->rc = pd_sem_acquire(w->s, &w->in, pd_now() + BOUND);
    w->ended = pd_now();
    return NULL;
}

static void test_release_wakes_waiter(void)
{
    pd_sem s;
    pd_sem_init(&s, 1);
    pd_sem_try_acquire(&s);
    waiter w = {&s, .rc = -1};
    pd_interrupt_init(&w.in, 0);
    pthread_t th;
    pthread_create(&th, NULL, wait_main, &w);
    sleep_s(0.05);
    double released = pd_now();
    CHECK_INT(pd_sem_release(&s), 0);
    pthread_join(th, NULL);
    CHECK_INT(w.rc, PD_OK);
    CHECK(w.ended >= released && w.ended - released < 2);
    CHECK_INT(pd_sem_available(&s), 0);   /* the waiter holds it */
    pd_interrupt_destroy(&w.in);
    pd_sem_destroy(&s);
}

static void test_cancel_ends_wait(void)
{
    pd_sem s;
    pd_sem_init(&s, 1);
    pd_sem_try_acquire(&s);
    waiter w = {&s, .rc = -1};
    pd_interrupt_init(&w.in, 0);
    pthread_t th;
    pthread_create(&th, NULL, wait_main, &w);
    sleep_s(0.05);
    double cancelled = pd_now();
    pd_interrupt_cancel(&w.in);
    pthread_join(th, NULL);
    CHECK_INT(w.rc, PD_ECANCELLED);
    CHECK(w.ended - cancelled < 1);
    CHECK_INT(pd_sem_available(&s), 0);
    CHECK_INT(pd_sem_release(&s), 0);
    CHECK_INT(pd_sem_available(&s), 1);
    pd_interrupt_destroy(&w.in);
    pd_sem_destroy(&s);
}

enum { THREADS = 8, ROUNDS = 2000, PERMITS = 3 };

typedef struct {
    pd_sem *s;
    atomic_int *inside, *most;
    int errors;
} worker;

static void *work_main(void *arg)
{
    worker *w = arg;
    pd_interrupt in;
    pd_interrupt_init(&in, 0);
    for (int i = 0; i < ROUNDS; i++) {
        if (pd_sem_acquire(w->s, &in, pd_now() + BOUND) != PD_OK) {
            w->errors++;
            continue;
        }
        int now = atomic_fetch_add(w->inside, 1) + 1;
        int most = atomic_load(w->most);
        while (now > most && !atomic_compare_exchange_weak(w->most, &most, now))
            ;
        atomic_fetch_sub(w->inside, 1);
        if (pd_sem_release(w->s) != 0)
            w->errors++;
    }
    pd_interrupt_destroy(&in);
    return NULL;
}

static void test_threads_never_exceed_permits(void)
{
    pd_sem s;
    pd_sem_init(&s, PERMITS);
    atomic_int inside = 0, most = 0;
    worker ws[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ws[i] = (worker){&s, &inside, &most, 0};
        pthread_create(&th[i], NULL, work_main, &ws[i]);
    }
    int errors = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        errors += ws[i].errors;
    }
    CHECK_INT(errors, 0);
    CHECK(atomic_load(&most) >= 1 && atomic_load(&most) <= PERMITS);
    CHECK_INT(pd_sem_available(&s), PERMITS);
    pd_sem_destroy(&s);
}

int main(void)
{
    RUN(test_counts);
    RUN(test_release_without_acquire);
    RUN(test_acquire_free_permit);
    RUN(test_until);
    RUN(test_interrupt_deadline);
    RUN(test_release_wakes_waiter);
    RUN(test_cancel_ends_wait);
    RUN(test_threads_never_exceed_permits);
    return check_summary("c/semaphore");
}
