/*
 * scheduler.h — which task may start next (ninja's Plan): the ready queue,
 * named pools, and the three policies behind one switch.
 *
 *   PD_SCHED_POOL        a dynamic ready queue: a task is ready as soon as
 *                        its dependencies succeeded; the one with the
 *                        heaviest critical path goes first (ninja orders its
 *                        ready edges the same way).
 *   PD_SCHED_LEVELS      a barrier per dependency level: level k starts only
 *                        when every task of level k-1 has ended.
 *   PD_SCHED_SEQUENTIAL  one task at a time, in topological order.
 *
 * Pools cap how many tasks of a pool are started at once. A task whose pool
 * is full waits in that pool's own queue: it holds no worker, and the next
 * ready task of another pool goes ahead of it.
 *
 * Rollbacks share the pools: a task's rollback takes a slot of the task's
 * pool like its run did. The executor queues a rollback when it may start
 * and asks for rollbacks before forward tasks, so a rollback waiting for
 * its pool gets the next free slot. Rollbacks ignore the policy and
 * pd_sched_stop: a stopped run still rolls back.
 *
 * The scheduler only decides; it runs nothing and has no lock of its own
 * (the executor calls it under its run mutex). When a task fails, every
 * task downstream of it is skipped; the executor learns of each skip
 * through a callback, in an order where a task comes after the one that
 * caused its skip.
 */
#ifndef PDLUA_SCHEDULER_H
#define PDLUA_SCHEDULER_H

#include "pdlua/graph.h"

typedef enum {
    PD_SCHED_POOL = 0,
    PD_SCHED_LEVELS = 1,
    PD_SCHED_SEQUENTIAL = 2,
} pd_sched_policy;

typedef struct pd_sched pd_sched;

/* Called for each task the scheduler skips; `cause` is the task whose
 * failure or skip caused it, or -1 (pd_sched_stop). It must
 * not call back into the scheduler: note what to do and do it after. */
typedef void (*pd_sched_skip_fn)(void *ud, int task, int cause);

/* `g` must be validated and outlive the scheduler. task_pool[i] is task
 * i's pool (0..npools-1) or -1; pool_cap[p] <= 0 means unlimited. Both are
 * copied. Returns NULL when out of memory. */
pd_sched *pd_sched_new(const pd_graph *g, pd_sched_policy policy,
                       const int *task_pool, const int *pool_cap, int npools,
                       pd_sched_skip_fn on_skip, void *ud);
void pd_sched_free(pd_sched *s);

/* The next task to start, now marked running with its pool slot taken, or
 * -1 when none may start at the moment. */
int pd_sched_next(pd_sched *s);

/* A running task ended: `ok` releases its dependents, otherwise they are
 * skipped. */
void pd_sched_done(pd_sched *s, int task, int ok);

/* A running task's attempt failed and it will be retried: it gives back
 * its pool slot while it waits (it still counts as not finished). */
void pd_sched_retry_wait(pd_sched *s, int task);
/* Its wait is over: it is ready again. */
void pd_sched_retry_ready(pd_sched *s, int task);

/* Queues the rollback of a task: it starts once its pool has room, before
 * later rollbacks that have room too. A task is queued at most once at a
 * time. */
void pd_sched_rollback_push(pd_sched *s, int task);
/* The queued rollback to start now, its pool slot taken, or -1. */
int pd_sched_rollback_next(pd_sched *s);
/* A rollback from pd_sched_rollback_next ended or waits to be retried:
 * it gives its pool slot back. */
void pd_sched_rollback_done(pd_sched *s, int task);
/* Rollbacks queued and not started. */
size_t pd_sched_rollbacks(const pd_sched *s);
/* Whether pd_sched_rollback_next would return one now. */
int pd_sched_rollback_ready(const pd_sched *s);

/* Skips every task that has not started. Running and retry-waiting tasks
 * are left to end through pd_sched_done. */
void pd_sched_stop(pd_sched *s);

/* Tasks not yet ended (done or skipped). */
size_t pd_sched_remaining(const pd_sched *s);
/* Tasks that could start now if a worker asked (an estimate for waking
 * workers; pool limits are checked by pd_sched_next). */
size_t pd_sched_ready(const pd_sched *s);

#endif
