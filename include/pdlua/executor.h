/*
 * executor.h — runs a validated task graph on worker threads (ninja's
 * Builder): attempts, timeouts, retries with backoff, cancellation, failure
 * policy, rollback, and the event queue the caller drains.
 *
 * The scheduler decides what may start; the executor starts it. Each worker
 * is a pthread; a task attempt runs in a Lua coroutine on the worker that
 * took it, holding the interpreter lock, with the worker's pd_interrupt
 * installed (deadline = the sooner of the task timeout and the run
 * deadline) so pd.sleep, semaphores and HTTP stop on time, and a count
 * hook stops Lua that never blocks.
 *
 * The calling thread (the one in wf:run) does not run tasks: it waits in
 * pd_exec_wait, with the interpreter lock released, for events, a progress
 * tick, the end of the run, or its own interrupt (SIGINT cancels the root
 * interrupt, which stops the run gracefully). It then takes the lock and
 * runs the user's callbacks, so callbacks never run on worker threads and
 * arrive in order.
 *
 * Lua data a run needs (task functions, ids, the context, errors) lives in
 * a "store" table the binding builds (keys PD_STORE_*), anchored with a
 * registry reference for the run's lifetime.
 */
#ifndef PDLUA_EXECUTOR_H
#define PDLUA_EXECUTOR_H

#include "pdlua/graph.h"
#include "pdlua/interrupt.h"
#include "pdlua/scheduler.h"

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    PD_TASK_PENDING,
    PD_TASK_RUNNING,
    PD_TASK_SUCCEEDED,
    PD_TASK_FAILED,
    PD_TASK_TIMED_OUT,
    PD_TASK_CANCELLED,
    PD_TASK_SKIPPED,
    PD_TASK_ROLLED_BACK,
    PD_TASK_ROLLBACK_FAILED,
    PD_TASK_NSTATES
} pd_task_state;

/* "pending", "running", ... as in docs/design.md, "The engine". */
const char *pd_task_state_name(int state);

typedef enum {
    PD_ROLLBACK_NONE,
    PD_ROLLBACK_GROUP,      /* a failure compensates its group */
    PD_ROLLBACK_WORKFLOW,   /* a failure compensates every task */
} pd_rollback_scope;

/* Why a run stopped early (none: it ran to the end). */
typedef enum {
    PD_STOP_NONE,
    PD_STOP_CANCELLED,     /* wf:cancel(), SIGINT/SIGTERM, a callback error */
    PD_STOP_DEADLINE,      /* the run deadline passed */
    PD_STOP_FAIL_FAST,     /* fail = "fail_fast" and a task failed */
} pd_stop_reason;

const char *pd_stop_reason_name(int reason);

/* Why a task was skipped. */
typedef enum {
    PD_SKIP_NONE,
    PD_SKIP_DEPENDENCY,    /* a dependency did not succeed */
    PD_SKIP_STOPPED,       /* the run stopped before it started */
} pd_skip_reason;

/* "dependency", "stopped"; NULL for PD_SKIP_NONE. */
const char *pd_skip_reason_name(int reason);

/* Per-task settings, filled by the binding. */
typedef struct {
    double timeout;            /* seconds per attempt; 0: none */
    double rollback_timeout;   /* seconds; 0: none */
    int retries;               /* further attempts after the first (of
                                * the run, and again of the rollback) */
    double backoff;            /* base delay, seconds */
    double max_backoff;        /* cap on one delay, seconds */
    int pool;                  /* pool number or -1 (run and rollback) */
    int group;                 /* group number or -1 */
    int has_rollback;
} pd_exec_task;

typedef struct {
    pd_sched_policy policy;
    int max_parallel;          /* worker threads */
    double deadline;           /* seconds from the start; 0: none */
    int fail_fast;
    pd_rollback_scope rollback;
    int want_events;           /* queue every state change (on_event given) */
    uint64_t seed;             /* backoff jitter; 0: from the clock */
    const int *pool_cap;       /* npools capacities; <= 0 unlimited */
    int npools;
    int ngroups;
} pd_exec_opts;

/* Keys of the store table (integers, for rawgeti on the hot path). */
enum {
    PD_STORE_RUN = 1,       /* {task number + 1 = run function} */
    PD_STORE_ROLLBACK,      /* {task number + 1 = rollback function} */
    PD_STORE_IDS,           /* {task number + 1 = id} */
    PD_STORE_DATA,          /* {task number + 1 = t.data} */
    PD_STORE_CTX,           /* the context passed to every task */
    PD_STORE_TASKMT,        /* metatable of the task handles */
    PD_STORE_ERRORS,        /* {task number + 1 = last attempt's error} */
    PD_STORE_RBERRORS,      /* {task number + 1 = last rollback attempt's error} */
    PD_STORE_PAYLOAD,       /* {event payload key = error or log message} */
    PD_STORE_WORKERS,       /* the workers' Lua threads (anchors) */
    PD_STORE_NKEYS = PD_STORE_WORKERS
};

typedef enum {
    PD_EVENT_STATE,          /* a task changed state */
    PD_EVENT_ROLLBACK,       /* an attempt of a task's rollback started */
    PD_EVENT_LOG,            /* t:log(...) */
} pd_event_kind;

typedef struct {
    int kind;
    int task;
    int state, prev;         /* PD_EVENT_STATE */
    int attempt;             /* of the run, or of the rollback if `rollback` */
    double time;             /* seconds since the run started */
    double retry_in;         /* >= 0: the attempt failed and is retried then */
    int payload;             /* PD_STORE_PAYLOAD key, 0 when none: the
                              * attempt's error for a retry, the message of
                              * a log; a final error is in PD_STORE_ERRORS
                              * (PD_STORE_RBERRORS for a rollback) */
    int rollback;            /* about the task's rollback: its start, a
                              * retry of it, its end, a log line from it */
} pd_exec_event;

typedef struct {
    int state;
    int attempts;
    double started, finished;          /* since the run started; -1: never */
    int rollback_state;                /* 0, ROLLED_BACK or ROLLBACK_FAILED */
    int rb_attempts;                   /* rollback attempts started */
    double rb_started, rb_finished;    /* first attempt's start, last's end */
    int skip_reason;                   /* pd_skip_reason */
    int skip_cause;                    /* the dependency, or -1 */
} pd_exec_record;

typedef struct pd_exec pd_exec;

/* Prepares a run (interpreter lock held; `L` is the caller's state, used
 * only here to create the workers' Lua threads). The graph must be
 * validated and, like `tasks` (copied), stay unchanged during the run.
 * `store_ref` is a registry reference the executor releases in
 * pd_exec_free. Returns NULL with *err (static text) on failure. */
pd_exec *pd_exec_new(lua_State *L, pd_graph *g, const pd_exec_task *tasks,
                     const pd_exec_opts *opts, int store_ref, const char **err);

/* Starts the workers (lock held: they wait for it). Returns 0 or -1. */
int pd_exec_start(pd_exec *x);

/* What pd_exec_wait hands back: the events queued since the last call. The
 * buffer is owned by the batch and reused; free it with pd_exec_batch_free. */
typedef struct {
    pd_exec_event *events;
    size_t n, cap;
    int finished;            /* the run is over: no further events */
} pd_exec_batch;

void pd_exec_batch_free(pd_exec_batch *b);

/* Waits (interpreter lock NOT held) until events are queued, the run ends,
 * or `until` (monotonic seconds; 0: no limit) passes. A cancel or timeout
 * of `caller` (the caller's current interrupt) stops the run gracefully. */
void pd_exec_wait(pd_exec *x, pd_interrupt *caller, double until, pd_exec_batch *b);

/* Stops the run gracefully: nothing new starts, running attempts are
 * cancelled (except one running on the calling thread: a task that cancels
 * its own run finishes), and the rollbacks due run. Any thread. */
void pd_exec_cancel(pd_exec *x);

/* Stops the run without interrupting anything: nothing new starts, the
 * running attempts finish (without retries), and the rollbacks due run.
 * The run counts as cancelled; a pd_exec_cancel after it still interrupts
 * what is running. Any thread. */
void pd_exec_drain(pd_exec *x);

/* Progress: counts per state, the tasks running now (up to max), the
 * seconds since the start. Any thread, lock not needed. */
size_t pd_exec_progress(pd_exec *x, int counts[PD_TASK_NSTATES], int *running,
                        size_t max, double *elapsed);

/* Queues a log line for the task running on the calling thread, if it
 * belongs to the run with this serial number (lock held, message on top of
 * L, popped). Returns 0, or -1 when the caller is not such a task. */
int pd_exec_log(lua_State *L, uint64_t serial);

/* The run's serial number (a task handle's log checks it). */
uint64_t pd_exec_serial(const pd_exec *x);

/* After the last batch (finished): joins the workers (lock NOT held). */
void pd_exec_join(pd_exec *x);

const pd_exec_record *pd_exec_records(const pd_exec *x);
int pd_exec_stop_reason(const pd_exec *x);
/* Start of the run (monotonic seconds) and its length so far or in all. */
double pd_exec_started(const pd_exec *x);
double pd_exec_makespan(const pd_exec *x);
int pd_exec_workers(const pd_exec *x);

/* Releases everything (lock held). */
void pd_exec_free(lua_State *L, pd_exec *x);

#endif
