/*
 * executor.c — worker threads that run a task graph (see
 * include/pdlua/executor.h).
 *
 * Locks, in the only order they are ever nested:
 *   interpreter lock  ->  x->mu (the run)  ->  an interrupt's mutex
 * x->mu guards everything shared here: the scheduler (with its ready and
 * rollback queues), the records, the event queue, the retry heap. A worker
 * takes the interpreter lock only with x->mu released, and the caller
 * never holds x->mu while it waits for the interpreter lock.
 *
 * The hot path (thousands of tiny tasks) is the interpreter lock changing
 * hands. A worker that finishes a task and finds another ready keeps the
 * lock and goes straight on, so back-to-back tasks that never block cost
 * no handoff. To keep that from starving everyone else (the caller
 * delivering events, a task whose sleep just ended), a worker that has
 * held the lock for a few milliseconds lets it go briefly — between tasks,
 * and inside long-running Lua through the count hook that also enforces
 * timeouts and cancellation.
 *
 * Retries: an attempt that fails with a retryable error (a run's or a
 * rollback's) gives its pool slot back and waits out its backoff in the
 * retry heap, holding no worker; a worker wakes when the earliest is due
 * and queues it again (retry_later, claim).
 *
 * Rollback: tasks that succeed are remembered per group, in the order they
 * finished. When a task of a group ends without success the group is
 * "doomed", and once every task of the group has ended its succeeded tasks
 * are compensated newest first, one after the other: the group's next
 * rollback is queued only when the one before has ended, after all its
 * retries. rollback = "workflow" is the same with one group holding every
 * task. A doomed group's other tasks still run if their dependencies allow
 * (and are compensated in turn): which tasks run then depends only on
 * which tasks failed, never on timing, so the three schedulers end a
 * workflow in the same states. Stopping early is the failure policy's
 * business (fail_fast), not the rollback's.
 *
 * A rollback runs on a worker, like an attempt, and in its task's pool
 * (the scheduler's rollback queues): it counts against max_parallel and
 * the pool's capacity. Workers take rollbacks before forward tasks, so a
 * rollback waiting for a full pool gets its next free slot. Each rollback
 * attempt has a fresh interrupt with only its own rollback_timeout: the
 * run's cancel and deadline stop neither it nor its retries (a cancelled
 * run must still roll back).
 */
#include "pdlua/executor.h"
#include "pdlua/core.h"
#include "pdlua/error.h"
#include "pdlua/heap.h"
#include "pdlua/runtime.h"

#include <lauxlib.h>
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Instructions between two checks of a task's interrupt by the count hook:
 * small enough to stop a spinning task within microseconds, large enough
 * that the check (two atomic loads and a clock read) costs nothing. */
#define HOOK_COUNT 1000
/* How long a thread may hold the interpreter lock, running Lua or chaining
 * tasks, before it lets others have it. */
#define YIELD_EVERY 0.002

enum { JOB_NONE, JOB_TASK, JOB_ROLLBACK };

/* Fixed slots on a worker's Lua stack (w->L). */
enum {
    SLOT_STORE = 1, SLOT_CO, SLOT_RUN, SLOT_ROLLBACK, SLOT_IDS, SLOT_DATA,
    SLOT_CTX, SLOT_TASKMT, SLOT_ERRORS, SLOT_RBERRORS, SLOT_PAYLOAD, SLOT_TOP = SLOT_PAYLOAD
};

typedef struct worker {
    pd_exec *x;
    pthread_t thread;
    int started;
    pd_interrupt in;       /* installed as the thread's current interrupt */
    lua_State *L;          /* the worker's own Lua thread */
    lua_State *co;         /* coroutine reused by successive tasks */
    int job;               /* JOB_* (under x->mu) */
    int task;
} worker;

typedef struct {
    int left;              /* tasks of the group not ended yet */
    int doomed;
    int rb_queued;         /* its compensation has begun */
    int *done;             /* succeeded tasks, in the order they finished */
    int ndone;
    size_t cap;
    int rb_pos;            /* next in done[] to compensate, going down */
} group;

struct pd_exec {
    pthread_mutex_t mu;
    pthread_cond_t cv_work;      /* idle workers */
    pthread_cond_t cv_caller;    /* the thread in wf:run */

    pd_graph *g;
    pd_sched *s;
    pd_exec_task *tasks;
    pd_exec_opts opts;
    int *pool_cap;
    size_t n;
    pd_exec_record *rec;
    int counts[PD_TASK_NSTATES];

    group *groups;
    int ngroups;

    pd_heap retry;               /* tasks waiting out a backoff, by due */
    double *due;                 /* when each task in `retry` is due */
    unsigned char *retry_rb;     /* whether that is its rollback's retry */

    int active;                  /* jobs on workers */
    int idle;                    /* workers waiting for work */
    int stop_reason;
    int cancel_sent;
    int skip_reason;             /* context for skips without a cause */
    int finished;
    int caller_waiting;
    int caller_interrupted;
    double t0, t_end, deadline_abs;

    pd_exec_event *ev;
    size_t nev, capev;
    int payload_seq;

    worker *workers;
    int nworkers;
    int store_ref;
    uint64_t rng;
    uint64_t serial;
};

static _Thread_local worker *tl_worker;
static _Thread_local double tl_yield_at;
static atomic_uint_fast64_t next_serial = 1;

static const char *const state_names[PD_TASK_NSTATES] = {
    "pending", "running", "succeeded", "failed", "timed_out",
    "cancelled", "skipped", "rolled_back", "rollback_failed",
};

const char *pd_task_state_name(int state)
{
    return state >= 0 && state < PD_TASK_NSTATES ? state_names[state] : "unknown";
}

const char *pd_stop_reason_name(int reason)
{
    switch (reason) {
    case PD_STOP_CANCELLED: return "cancelled";
    case PD_STOP_DEADLINE: return "deadline";
    case PD_STOP_FAIL_FAST: return "fail_fast";
    default: return NULL;
    }
}

const char *pd_skip_reason_name(int reason)
{
    switch (reason) {
    case PD_SKIP_DEPENDENCY: return "dependency";
    case PD_SKIP_STOPPED: return "stopped";
    default: return NULL;
    }
}

/* --- small helpers (x->mu held unless said otherwise) ------------------ */

static double since_start(const pd_exec *x, double now) { return now - x->t0; }

static void wake_caller(pd_exec *x)
{
    if (x->caller_waiting)
        pthread_cond_signal(&x->cv_caller);
}

static void push_event(pd_exec *x, const pd_exec_event *e)
{
    if (pd_grow(&x->ev, &x->capev, x->nev + 1, sizeof *x->ev) != 0)
        return;   /* out of memory: the event is lost, the run goes on */
    x->ev[x->nev++] = *e;
    if (x->nev == 1)
        wake_caller(x);
}

/* Stores the value on top of L (interpreter lock held) as an event
 * payload; pops it. */
static int store_payload(pd_exec *x, lua_State *L)
{
    int key = ++x->payload_seq;
    lua_rawseti(L, SLOT_PAYLOAD, key);
    return key;
}

/* `rollback`: the change comes from the task's rollback. */
static void set_state(pd_exec *x, int t, int state, int attempt, double retry_in,
                      int payload, int rollback, double now)
{
    pd_exec_record *r = &x->rec[t];
    int prev = r->state;
    x->counts[prev]--;
    x->counts[state]++;
    r->state = state;
    if (x->opts.want_events) {
        pd_exec_event e = {PD_EVENT_STATE, t, state, prev, attempt,
                           since_start(x, now), retry_in, payload, rollback};
        push_event(x, &e);
    }
}

static uint64_t rng_next(pd_exec *x)
{
    x->rng ^= x->rng >> 12;
    x->rng ^= x->rng << 25;
    x->rng ^= x->rng >> 27;
    return x->rng * 2685821657736338717ULL;
}

/* Full jitter (AWS's "exponential backoff and jitter"): uniform in
 * [0, min(cap, base * 2^(attempt-1))]. Spreads retries of many tasks that
 * failed together instead of sending them back in one burst. */
static double backoff_delay(pd_exec *x, const pd_exec_task *tk, int attempt)
{
    double ceiling = tk->backoff * ldexp(1.0, attempt - 1 < 60 ? attempt - 1 : 60);
    if (tk->max_backoff > 0 && ceiling > tk->max_backoff)
        ceiling = tk->max_backoff;
    double u = (double)(rng_next(x) >> 11) * (1.0 / 9007199254740992.0);
    return ceiling * u;
}

/* --- retry heap -------------------------------------------------------- */

static int due_before(void *ctx, int a, int b)
{
    const pd_exec *x = ctx;
    return x->due[a] < x->due[b];
}

/* A task (at most once at a time) waits until `due` for its retry. */
static void retry_push(pd_exec *x, double due, int t, int rollback)
{
    x->due[t] = due;
    x->retry_rb[t] = (unsigned char)rollback;
    if (pd_heap_push(&x->retry, t) != 0)
        abort();
}

static void task_ended(pd_exec *x, int t, int ok);

/* The run is stopping: ends every task waiting in the heap for a retry as
 * failed with its last error. Rollbacks waiting for a retry stay: a
 * stopped run still rolls back. */
static void drop_retries(pd_exec *x)
{
    double now = pd_now();
    size_t n = x->retry.n, kept = 0;
    /* x->retry.n stays n meanwhile: the run cannot look finished. */
    for (size_t i = 0; i < n; i++) {
        int t = x->retry.a[i];
        if (x->retry_rb[t]) {
            x->retry.a[kept++] = t;
            continue;
        }
        x->rec[t].finished = since_start(x, now);
        set_state(x, t, PD_TASK_FAILED, x->rec[t].attempts, -1, 0, 0, now);
        pd_sched_done(x->s, t, 0);
        task_ended(x, t, 0);
    }
    x->retry.n = 0;
    for (size_t i = 0; i < kept; i++)
        retry_push(x, x->due[x->retry.a[i]], x->retry.a[i], 1);
}

/* Attempt `attempt` of task t's run, or of its rollback, failed with the
 * retryable error on top of L (interpreter lock and x->mu held). If the
 * task's retries allow another, it gives its pool slot back, waits
 * backoff_delay in the retry heap (no worker waits with it), is reported
 * pending with retry_in and the error, and 1 is returned. 0: no attempts
 * left. */
static int retry_later(pd_exec *x, lua_State *L, int t, int attempt, int rollback,
                       double now)
{
    const pd_exec_task *tk = &x->tasks[t];
    if (attempt > tk->retries)
        return 0;
    double delay = backoff_delay(x, tk, attempt);
    int payload = x->opts.want_events ? store_payload(x, L) : 0;
    set_state(x, t, PD_TASK_PENDING, attempt, delay, payload, rollback, now);
    if (rollback)
        pd_sched_rollback_done(x->s, t);
    else
        pd_sched_retry_wait(x->s, t);
    retry_push(x, now + delay, t, rollback);
    if (x->idle)
        pthread_cond_signal(&x->cv_work);   /* re-arm a timed wait */
    return 1;
}

/* --- groups and rollback ----------------------------------------------- */

/* Queues the group's next compensation, if any task is left to undo:
 * tasks without a rollback function are passed over. */
static void queue_next_rollback(pd_exec *x, int g)
{
    group *gr = &x->groups[g];
    while (gr->rb_pos >= 0 && !x->tasks[gr->done[gr->rb_pos]].has_rollback)
        gr->rb_pos--;
    if (gr->rb_pos < 0)
        return;
    pd_sched_rollback_push(x->s, gr->done[gr->rb_pos--]);
    if (x->idle)
        pthread_cond_signal(&x->cv_work);
}

static void maybe_queue_rollback(pd_exec *x, int g)
{
    group *gr = &x->groups[g];
    if (!gr->doomed || gr->left > 0 || gr->rb_queued)
        return;
    gr->rb_queued = 1;
    gr->rb_pos = gr->ndone - 1;
    queue_next_rollback(x, g);
}

static void stop_run(pd_exec *x, int reason, int cancel);

/* Task t reached an end state: succeeded, failed, timed out, cancelled or
 * skipped. Called once per task. */
static void task_ended(pd_exec *x, int t, int ok)
{
    int g = x->tasks[t].group;
    if (g >= 0 && x->opts.rollback != PD_ROLLBACK_NONE) {
        group *gr = &x->groups[g];
        gr->left--;
        if (!ok)
            gr->doomed = 1;
        maybe_queue_rollback(x, g);
    }
    if (!ok && x->opts.fail_fast && !x->stop_reason &&
        x->rec[t].state != PD_TASK_SKIPPED)
        stop_run(x, PD_STOP_FAIL_FAST, 1);
}

static void on_skip(void *ud, int t, int cause)
{
    pd_exec *x = ud;
    pd_exec_record *r = &x->rec[t];
    r->skip_reason = cause >= 0 ? PD_SKIP_DEPENDENCY : x->skip_reason;
    r->skip_cause = cause;
    set_state(x, t, PD_TASK_SKIPPED, 0, -1, 0, 0, pd_now());
    task_ended(x, t, 0);   /* touches no scheduler state: safe in the callback */
}

static void check_finished(pd_exec *x)
{
    if (x->finished || x->active > 0 || pd_sched_remaining(x->s) > 0 ||
        x->retry.n > 0 || pd_sched_rollbacks(x->s) > 0)
        return;
    x->finished = 1;
    x->t_end = pd_now();
    pthread_cond_broadcast(&x->cv_work);
    wake_caller(x);
}

static void stop_run(pd_exec *x, int reason, int cancel)
{
    if (!x->stop_reason) {
        x->stop_reason = reason;
        x->skip_reason = PD_SKIP_STOPPED;
        pd_sched_stop(x->s);
        drop_retries(x);
    }
    if (cancel && !x->cancel_sent) {
        x->cancel_sent = 1;
        for (int i = 0; i < x->nworkers; i++) {
            worker *w = &x->workers[i];
            /* A task that cancels its own run is left to finish. */
            if (w->job == JOB_TASK && w != tl_worker)
                pd_interrupt_cancel(&w->in);
        }
    }
    pthread_cond_broadcast(&x->cv_work);
    check_finished(x);
}

/* --- claiming work ----------------------------------------------------- */

static int claim(pd_exec *x, worker *w)
{
    double now = 0;
    if (x->retry.n || x->deadline_abs > 0)
        now = pd_now();
    if (x->deadline_abs > 0 && now >= x->deadline_abs && !x->stop_reason)
        stop_run(x, PD_STOP_DEADLINE, 0);
    while (x->retry.n && x->due[pd_heap_top(&x->retry)] <= now) {
        int t = pd_heap_pop(&x->retry);
        if (x->retry_rb[t])
            pd_sched_rollback_push(x->s, t);
        else
            pd_sched_retry_ready(x->s, t);
    }

    /* Rollbacks first: they put things back the way they were, and a
     * rollback waiting for its pool must get the pool's next free slot. */
    int t = pd_sched_rollback_next(x->s);
    int rollback = t >= 0;
    if (!rollback && (t = pd_sched_next(x->s)) < 0)
        return 0;
    if (!now)
        now = pd_now();
    pd_exec_record *r = &x->rec[t];
    if (rollback) {
        if (++r->rb_attempts == 1)
            r->rb_started = since_start(x, now);
        w->job = JOB_ROLLBACK;
        if (x->opts.want_events) {
            pd_exec_event e = {PD_EVENT_ROLLBACK, t, r->state, r->state, r->rb_attempts,
                               since_start(x, now), -1, 0, 1};
            push_event(x, &e);
        }
    } else {
        if (++r->attempts == 1)
            r->started = since_start(x, now);
        set_state(x, t, PD_TASK_RUNNING, r->attempts, -1, 0, 0, now);
        w->job = JOB_TASK;
    }
    w->task = t;
    x->active++;
    atomic_store(&w->in.cancelled, 0);
    /* Hand the rest of the work to idle workers, one wake each. */
    if (x->idle && (pd_sched_ready(x->s) > 0 || pd_sched_rollback_ready(x->s)))
        pthread_cond_signal(&x->cv_work);
    return 1;
}

/* --- running Lua ------------------------------------------------------- */

/* Releases the interpreter lock for a moment if this thread has held it
 * long enough: mutexes are not fair, so unlock-and-relock alone would
 * usually win it straight back; a short sleep lets a waiter in. */
static void maybe_yield(void)
{
    double now = pd_now();
    if (now < tl_yield_at)
        return;
    pd_unlock();
    struct timespec ts = {0, 20000};
    nanosleep(&ts, NULL);
    pd_lock();
    tl_yield_at = pd_now() + YIELD_EVERY;
}

/* Count hook of task coroutines (and coroutines they create, which
 * inherit it): stops Lua that never blocks once its task is timed out or
 * cancelled, and shares the lock. */
static void task_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    int rc = pd_interrupt_check(pd_interrupt_current());
    if (rc != PD_OK)
        pd_core_raise_interrupt(L, rc, "task");
    if (tl_worker)
        maybe_yield();
}

static void push_handle(worker *w, int t, int attempt, int rollback)
{
    lua_State *L = w->L;
    lua_createtable(L, 0, 4);
    lua_rawgeti(L, SLOT_IDS, t + 1);
    lua_setfield(L, -2, "id");
    lua_pushinteger(L, attempt);
    lua_setfield(L, -2, "attempt");
    if (lua_rawgeti(L, SLOT_DATA, t + 1) != LUA_TNIL)
        lua_setfield(L, -2, "data");
    else
        lua_pop(L, 1);
    if (rollback) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "rollback");
    }
    lua_pushvalue(L, SLOT_TASKMT);
    lua_setmetatable(L, -2);
}

static int normalize_error(lua_State *L)
{
    pd_error_normalize(L);
    return 1;
}

/* Whether an attempt that ended with `outcome`, its normalised error on
 * top of L, may be retried: a failure (not a timeout or a cancel) whose
 * error says retryable = true. */
static int retryable(lua_State *L, int outcome)
{
    if (outcome != PD_TASK_FAILED)
        return 0;
    lua_getfield(L, -1, "retryable");
    int r = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return r;
}

/* Runs fn(t, ctx) for task t in the worker's coroutine (interpreter lock
 * held). Returns PD_TASK_SUCCEEDED, or FAILED / TIMED_OUT / CANCELLED with
 * the normalised error left on top of w->L. */
static int run_lua(worker *w, int slot_fns, int t, int attempt, int rollback)
{
    lua_State *L = w->L;
    /* A cancel or a deadline that came before the start: do not start. */
    int rc = pd_interrupt_check(&w->in);
    if (rc != PD_OK) {
        pd_error_push(L, 0, pd_interrupt_reason(rc),
                      rc == PD_ETIMEOUT ? "deadline passed before the task started"
                                        : "cancelled before the task started", 0);
        return rc == PD_ETIMEOUT ? PD_TASK_TIMED_OUT : PD_TASK_CANCELLED;
    }
    if (!w->co) {
        w->co = lua_newthread(L);
        lua_sethook(w->co, task_hook, LUA_MASKCOUNT, HOOK_COUNT);
        lua_replace(L, SLOT_CO);
    }
    lua_State *co = w->co;
    lua_rawgeti(L, slot_fns, t + 1);
    push_handle(w, t, attempt, rollback);
    lua_pushvalue(L, SLOT_CTX);
    lua_xmove(L, co, 3);
    int nres = 0;
    int st = lua_resume(co, L, 2, &nres);
    if (st == LUA_OK) {
        lua_settop(co, 0);
        return PD_TASK_SUCCEEDED;
    }
    if (st == LUA_YIELD) {
        lua_pushstring(L, "the task yielded outside a coroutine of its own "
                          "(coroutine.yield at the top of a task)");
    } else {
        lua_xmove(co, L, 1);
    }
    /* Close its to-be-closed variables, then let it go. */
    lua_resetthread(co);
    w->co = NULL;
    lua_pushnil(L);
    lua_replace(L, SLOT_CO);
    /* Protected: turning a foreign error value into a string may run its
     * __tostring, which may raise, and nothing catches errors on w->L. */
    lua_pushcfunction(L, normalize_error);
    lua_insert(L, -2);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        lua_pop(L, 1);
        pd_error_push(L, 0, "error", "the task raised an error value that cannot be "
                                     "turned into a string", 0);
    }
    rc = pd_interrupt_check(&w->in);
    if (rc == PD_ETIMEOUT)
        return PD_TASK_TIMED_OUT;
    if (rc == PD_ECANCELLED)
        return PD_TASK_CANCELLED;
    return PD_TASK_FAILED;
}

static double attempt_deadline(const pd_exec *x, double timeout, double now)
{
    double dl = timeout > 0 ? now + timeout : 0;
    if (x->deadline_abs > 0 && (dl == 0 || x->deadline_abs < dl))
        dl = x->deadline_abs;
    return dl;
}

/* Runs one attempt of task t's run or rollback under `deadline`, keeping
 * a failure's error in the store (interpreter lock held). Returns the
 * outcome, with *retry set if it may be retried, and x->mu held. */
static int run_once(pd_exec *x, worker *w, int t, int attempt, int rollback,
                    double deadline, int *retry)
{
    lua_State *L = w->L;
    pd_interrupt_set_deadline(&w->in, deadline);
    int outcome = run_lua(w, rollback ? SLOT_ROLLBACK : SLOT_RUN, t, attempt, rollback);
    *retry = 0;
    if (outcome != PD_TASK_SUCCEEDED) {
        *retry = retryable(L, outcome);
        lua_pushvalue(L, -1);
        lua_rawseti(L, rollback ? SLOT_RBERRORS : SLOT_ERRORS, t + 1);
    }
    pd_interrupt_set_deadline(&w->in, 0);
    pthread_mutex_lock(&x->mu);
    w->job = JOB_NONE;
    return outcome;
}

/* The worker's job has been recorded (x->mu held). */
static void job_done(pd_exec *x, worker *w)
{
    lua_settop(w->L, SLOT_TOP);
    x->active--;
    check_finished(x);
}

/* Runs one attempt of task t and records its end (interpreter lock held;
 * returns with x->mu held). */
static void run_attempt(pd_exec *x, worker *w, int t)
{
    const pd_exec_task *tk = &x->tasks[t];
    int attempt = x->rec[t].attempts;   /* stable: only this worker changes it now */
    int retry;
    int outcome = run_once(x, w, t, attempt, 0, attempt_deadline(x, tk->timeout, pd_now()),
                           &retry);
    double now = pd_now();
    x->rec[t].finished = since_start(x, now);
    int g = tk->group;
    if (outcome == PD_TASK_SUCCEEDED) {
        set_state(x, t, PD_TASK_SUCCEEDED, attempt, -1, 0, 0, now);
        if (g >= 0 && x->opts.rollback != PD_ROLLBACK_NONE) {
            group *gr = &x->groups[g];
            if (pd_grow(&gr->done, &gr->cap, (size_t)gr->ndone + 1, sizeof *gr->done) != 0)
                abort();
            gr->done[gr->ndone++] = t;
        }
        pd_sched_done(x->s, t, 1);
        task_ended(x, t, 1);
    } else if (retry && !x->stop_reason && retry_later(x, w->L, t, attempt, 0, now)) {
        /* waits in the retry heap */
    } else {
        set_state(x, t, outcome, attempt, -1, 0, 0, now);
        pd_sched_done(x->s, t, 0);
        task_ended(x, t, 0);
    }
    job_done(x, w);
}

/* Runs one attempt of task t's rollback and records its end (interpreter
 * lock held; returns with x->mu held). Its own deadline only: the run's
 * deadline or cancel must not stop the compensation of what was done. */
static void run_rollback(pd_exec *x, worker *w, int t)
{
    const pd_exec_task *tk = &x->tasks[t];
    int attempt = x->rec[t].rb_attempts;   /* stable: only this worker changes it now */
    int retry;
    double timeout = tk->rollback_timeout;
    int outcome = run_once(x, w, t, attempt, 1, timeout > 0 ? pd_now() + timeout : 0, &retry);
    double now = pd_now();
    if (!(retry && retry_later(x, w->L, t, attempt, 1, now))) {
        pd_exec_record *r = &x->rec[t];
        r->rb_finished = since_start(x, now);
        r->rollback_state = outcome == PD_TASK_SUCCEEDED ? PD_TASK_ROLLED_BACK
                                                          : PD_TASK_ROLLBACK_FAILED;
        set_state(x, t, r->rollback_state, attempt, -1, 0, 1, now);
        pd_sched_rollback_done(x->s, t);
        /* The group's next compensation, after this one. */
        queue_next_rollback(x, tk->group);
    }
    job_done(x, w);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    pd_exec *x = w->x;
    tl_worker = w;
    pd_interrupt_swap(&w->in);
    int locked = 0;
    pthread_mutex_lock(&x->mu);
    for (;;) {
        if (claim(x, w)) {
            int job = w->job, t = w->task;
            pthread_mutex_unlock(&x->mu);
            if (!locked) {
                pd_lock();
                locked = 1;
                tl_yield_at = pd_now() + YIELD_EVERY;
            } else {
                maybe_yield();
            }
            if (job == JOB_TASK)
                run_attempt(x, w, t);
            else
                run_rollback(x, w, t);
            continue;
        }
        if (x->finished)
            break;
        if (locked) {
            /* Nothing to chain: let the lock go before waiting. */
            pthread_mutex_unlock(&x->mu);
            pd_unlock();
            locked = 0;
            pthread_mutex_lock(&x->mu);
            continue;
        }
        x->idle++;
        pd_cond_wait_until(&x->cv_work, &x->mu,
                           x->retry.n ? x->due[pd_heap_top(&x->retry)] : 0);
        x->idle--;
    }
    pthread_mutex_unlock(&x->mu);
    if (locked)
        pd_unlock();
    pd_interrupt_swap(NULL);
    tl_worker = NULL;
    return NULL;
}

/* --- public ------------------------------------------------------------ */

pd_exec *pd_exec_new(lua_State *L, pd_graph *g, const pd_exec_task *tasks,
                     const pd_exec_opts *opts, int store_ref, const char **err)
{
    *err = "out of memory";
    pd_exec *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    size_t n = pd_graph_count(g);
    size_t n1 = n ? n : 1;
    x->g = g;
    x->n = n;
    x->opts = *opts;
    x->store_ref = store_ref;
    x->serial = atomic_fetch_add(&next_serial, 1);
    x->rng = opts->seed ? opts->seed : (uint64_t)(pd_now() * 1e9) ^ (uintptr_t)x;
    if (!x->rng)
        x->rng = 88172645463325252ULL;
    pthread_mutex_init(&x->mu, NULL);
    pd_cond_init(&x->cv_work);
    pd_cond_init(&x->cv_caller);
    x->tasks = malloc(n1 * sizeof *x->tasks);
    x->rec = malloc(n1 * sizeof *x->rec);
    x->due = malloc(n1 * sizeof *x->due);
    x->retry_rb = malloc(n1);
    pd_heap_init(&x->retry, due_before, x);
    x->pool_cap = malloc((opts->npools > 0 ? (size_t)opts->npools : 1) * sizeof *x->pool_cap);
    int *task_pool = malloc(n1 * sizeof *task_pool);
    x->ngroups = opts->ngroups;
    size_t ng1 = (size_t)x->ngroups + 1;
    x->groups = calloc(ng1, sizeof *x->groups);
    if (!x->tasks || !x->rec || !x->due || !x->retry_rb || !x->pool_cap || !task_pool ||
        !x->groups) {
        free(task_pool);
        pd_exec_free(NULL, x);
        return NULL;
    }
    memcpy(x->tasks, tasks, n * sizeof *tasks);
    if (opts->npools > 0)
        memcpy(x->pool_cap, opts->pool_cap, (size_t)opts->npools * sizeof *x->pool_cap);
    x->opts.pool_cap = x->pool_cap;
    for (size_t i = 0; i < n; i++) {
        task_pool[i] = tasks[i].pool;
        x->rec[i] = (pd_exec_record){.state = PD_TASK_PENDING, .started = -1,
                                     .finished = -1, .rb_started = -1,
                                     .rb_finished = -1, .skip_reason = PD_SKIP_NONE,
                                     .skip_cause = -1};
        if (tasks[i].group >= 0)
            x->groups[tasks[i].group].left++;
    }
    x->counts[PD_TASK_PENDING] = (int)n;

    x->s = pd_sched_new(g, opts->policy, task_pool, x->pool_cap, opts->npools,
                        on_skip, x);
    free(task_pool);
    if (!x->s) {
        pd_exec_free(NULL, x);
        return NULL;
    }

    int nw = opts->policy == PD_SCHED_SEQUENTIAL ? 1 : opts->max_parallel;
    if (nw < 1)
        nw = 1;
    if ((size_t)nw > n1)
        nw = (int)n1;
    x->workers = calloc((size_t)nw, sizeof *x->workers);
    if (!x->workers) {
        pd_exec_free(NULL, x);
        return NULL;
    }
    x->nworkers = nw;
    /* Each worker gets its own Lua thread with the store's tables on fixed
     * stack slots; the threads are anchored in the store. */
    lua_rawgeti(L, LUA_REGISTRYINDEX, store_ref);
    lua_createtable(L, nw, 0);
    for (int i = 0; i < nw; i++) {
        worker *w = &x->workers[i];
        w->x = x;
        pd_interrupt_init(&w->in, 0);
        w->L = lua_newthread(L);
        /* A new thread inherits the caller's hook (the REPL has one); the
         * workers' own threads run no Lua code of their own. */
        lua_sethook(w->L, NULL, 0, 0);
        lua_rawseti(L, -2, i + 1);
        lua_pushvalue(L, -2);
        lua_xmove(L, w->L, 1);                       /* SLOT_STORE */
    }
    lua_rawseti(L, -2, PD_STORE_WORKERS);
    lua_pop(L, 1);
    *err = NULL;
    return x;
}

int pd_exec_start(pd_exec *x)
{
    /* The store is complete now: put its tables on the workers' stacks. */
    static const int keys[] = {PD_STORE_RUN, PD_STORE_ROLLBACK, PD_STORE_IDS,
                               PD_STORE_DATA, PD_STORE_CTX, PD_STORE_TASKMT,
                               PD_STORE_ERRORS, PD_STORE_RBERRORS, PD_STORE_PAYLOAD};
    for (int i = 0; i < x->nworkers; i++) {
        lua_State *WL = x->workers[i].L;
        if (!lua_checkstack(WL, SLOT_TOP + 20))
            return -1;
        lua_settop(WL, SLOT_STORE);
        lua_pushnil(WL);                             /* SLOT_CO */
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            lua_rawgeti(WL, SLOT_STORE, keys[k]);
    }
    x->t0 = pd_now();
    x->deadline_abs = x->opts.deadline > 0 ? x->t0 + x->opts.deadline : 0;
    pthread_mutex_lock(&x->mu);
    if (x->n == 0)
        check_finished(x);
    pthread_mutex_unlock(&x->mu);
    int started = 0;
    for (int i = 0; i < x->nworkers; i++) {
        if (pthread_create(&x->workers[i].thread, NULL, worker_main, &x->workers[i]) != 0)
            break;
        x->workers[i].started = 1;
        started++;
    }
    return started > 0 ? 0 : -1;
}

void pd_exec_batch_free(pd_exec_batch *b)
{
    free(b->events);
    b->events = NULL;
    b->n = b->cap = 0;
}

void pd_exec_wait(pd_exec *x, pd_interrupt *caller, double until, pd_exec_batch *b)
{
    pthread_mutex_lock(&x->mu);
    for (;;) {
        if (x->nev > 0 || x->finished)
            break;
        double now = pd_now();
        if (until > 0 && now >= until)
            break;
        if (x->deadline_abs > 0 && now >= x->deadline_abs && !x->stop_reason) {
            stop_run(x, PD_STOP_DEADLINE, 0);
            continue;
        }
        double limit = until;
        if (x->deadline_abs > 0 && !x->stop_reason && (limit <= 0 || x->deadline_abs < limit))
            limit = x->deadline_abs;
        x->caller_waiting = 1;
        if (!x->caller_interrupted) {
            int rc = pd_interrupt_wait(caller, &x->cv_caller, &x->mu, limit);
            if (rc != PD_OK) {
                x->caller_interrupted = 1;
                x->caller_waiting = 0;
                stop_run(x, PD_STOP_CANCELLED, 1);
                continue;
            }
        } else {
            pd_cond_wait_until(&x->cv_caller, &x->mu, limit);
        }
        x->caller_waiting = 0;
    }
    /* Hand over the queue; keep the batch's old buffer for the next one. */
    pd_exec_event *ev = x->ev;
    size_t cap = x->capev;
    x->ev = b->events;
    x->capev = b->cap;
    b->events = ev;
    b->cap = cap;
    b->n = x->nev;
    x->nev = 0;
    b->finished = x->finished;
    pthread_mutex_unlock(&x->mu);
}

void pd_exec_cancel(pd_exec *x)
{
    pthread_mutex_lock(&x->mu);
    stop_run(x, PD_STOP_CANCELLED, 1);
    pthread_mutex_unlock(&x->mu);
}

void pd_exec_drain(pd_exec *x)
{
    pthread_mutex_lock(&x->mu);
    stop_run(x, PD_STOP_CANCELLED, 0);
    pthread_mutex_unlock(&x->mu);
}

size_t pd_exec_progress(pd_exec *x, int counts[PD_TASK_NSTATES], int *running,
                        size_t max, double *elapsed)
{
    size_t k = 0;
    pthread_mutex_lock(&x->mu);
    memcpy(counts, x->counts, sizeof x->counts);
    for (int i = 0; i < x->nworkers && k < max; i++)
        if (x->workers[i].job == JOB_TASK)
            running[k++] = x->workers[i].task;
    *elapsed = (x->finished ? x->t_end : pd_now()) - x->t0;
    pthread_mutex_unlock(&x->mu);
    return k;
}

int pd_exec_log(lua_State *L, uint64_t serial)
{
    worker *w = tl_worker;
    if (!w || w->x->serial != serial || w->job == JOB_NONE) {
        lua_pop(L, 1);
        return -1;
    }
    pd_exec *x = w->x;
    lua_xmove(L, w->L, 1);
    pthread_mutex_lock(&x->mu);
    int key = store_payload(x, w->L);
    const pd_exec_record *r = &x->rec[w->task];
    int rollback = w->job == JOB_ROLLBACK;
    pd_exec_event e = {PD_EVENT_LOG, w->task, r->state, r->state,
                       rollback ? r->rb_attempts : r->attempts,
                       since_start(x, pd_now()), -1, key, rollback};
    push_event(x, &e);
    pthread_mutex_unlock(&x->mu);
    return 0;
}

uint64_t pd_exec_serial(const pd_exec *x) { return x->serial; }

void pd_exec_join(pd_exec *x)
{
    for (int i = 0; i < x->nworkers; i++)
        if (x->workers[i].started) {
            pthread_join(x->workers[i].thread, NULL);
            x->workers[i].started = 0;
        }
}

const pd_exec_record *pd_exec_records(const pd_exec *x) { return x->rec; }
int pd_exec_stop_reason(const pd_exec *x) { return x->stop_reason; }
double pd_exec_started(const pd_exec *x) { return x->t0; }
int pd_exec_workers(const pd_exec *x) { return x->nworkers; }

double pd_exec_makespan(const pd_exec *x)
{
    return (x->finished ? x->t_end : pd_now()) - x->t0;
}

void pd_exec_free(lua_State *L, pd_exec *x)
{
    if (!x)
        return;
    if (L && x->store_ref != LUA_NOREF)
        luaL_unref(L, LUA_REGISTRYINDEX, x->store_ref);
    if (x->workers)
        for (int i = 0; i < x->nworkers; i++)
            pd_interrupt_destroy(&x->workers[i].in);
    if (x->groups)
        for (int g = 0; g <= x->ngroups; g++)
            free(x->groups[g].done);
    pd_sched_free(x->s);
    free(x->workers); free(x->tasks); free(x->rec); free(x->pool_cap);
    free(x->groups);
    pd_heap_free(&x->retry); free(x->due); free(x->retry_rb); free(x->ev);
    pthread_cond_destroy(&x->cv_work);
    pthread_cond_destroy(&x->cv_caller);
    pthread_mutex_destroy(&x->mu);
    free(x);
}
