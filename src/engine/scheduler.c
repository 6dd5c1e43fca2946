/*
 * scheduler.c — ready queue, pools and the three policies (see
 * include/pdlua/scheduler.h).
 *
 * One binary heap holds the ready tasks, ordered by a key (the critical-path
 * weight, or for `sequential` the reverse topological position) with the
 * topological position breaking ties, so every policy is deterministic. A
 * task popped while its pool is full moves to that pool's heap; when a slot
 * frees, the pool's best task moves back. A task skipped while sitting in a
 * heap is not dug out: its state changes, and pops discard stale entries.
 *
 * `levels` pushes only tasks of the current level; because every
 * dependency of a level-k task is on a lower level, all of them have ended
 * by the time level k opens, so opening a level is just pushing its tasks
 * that were not skipped.
 *
 * Rollbacks wait in first-in first-out queues, one per pool and one for
 * tasks without a pool (pools[npools]), linked through rb_next. The next
 * rollback is the oldest at the head of a queue whose pool has a free slot.
 * The executor asks for rollbacks before forward tasks, so a freed slot
 * goes to a waiting rollback first; and since only running work holds a
 * slot (a rollback, like a task, gives its slot back while it waits to be
 * retried), every slot comes free in time and nothing waits on itself.
 */
#include "pdlua/scheduler.h"
#include "pdlua/heap.h"

#include <stdlib.h>

enum {
    S_WAITING,   /* dependencies pending, or its level not open yet */
    S_READY,     /* in the ready heap */
    S_POOLWAIT,  /* in its pool's heap */
    S_RUNNING,
    S_RETRY,     /* between attempts */
    S_DONE,
    S_SKIPPED,
};

typedef struct {
    pd_heap wait;
    int cap, used;
    int rb_head, rb_tail;   /* rollbacks waiting for a slot, -1: none */
} pool;

struct pd_sched {
    const pd_graph *g;
    pd_sched_policy policy;
    size_t n;
    unsigned char *state;
    int *unmet;
    double *key;
    int *pos;
    int *task_pool;
    pool *pools;          /* npools + 1: the last one, unlimited, holds
                           * the rollback queue of tasks without a pool */
    int npools;
    int *rb_next;         /* rollback queues' links, -1 at the tail */
    size_t *rb_seq;       /* when each queued rollback was queued */
    size_t rb_count;      /* rollbacks queued */
    size_t rb_serial;
    pd_heap ready;
    size_t nready;        /* live entries in `ready` */
    size_t remaining;
    int running;
    int stopped;
    int level;            /* levels: the open level */
    size_t *level_left;   /* levels: tasks of each level not ended */
    int *stack;           /* skip cascade work list */
    pd_sched_skip_fn on_skip;
    void *ud;
};

static int pool_has_room(const pool *pl)
{
    return pl->cap <= 0 || pl->used < pl->cap;
}

static int before(void *ctx, int a, int b)
{
    const pd_sched *s = ctx;
    if (s->key[a] != s->key[b])
        return s->key[a] > s->key[b];
    return s->pos[a] < s->pos[b];
}

/* The heaps hold at most one live entry per task, plus stale ones that
 * were skipped; they grow on demand, and a failed allocation in the middle
 * of a run is fatal. */
static void push_ready(pd_sched *s, int t)
{
    s->state[t] = S_READY;
    if (pd_heap_push(&s->ready, t) != 0)
        abort();   /* out of memory in the middle of a run: nothing sane to do */
    s->nready++;
}

static void end_task(pd_sched *s, int t);

/* Opens levels whose predecessors have all ended. */
static void advance_levels(pd_sched *s)
{
    int nlevels = pd_graph_nlevels(s->g);
    while (s->level < nlevels && s->level_left[s->level] == 0) {
        s->level++;
        if (s->level >= nlevels || s->stopped)
            break;
        size_t n;
        const int *ts = pd_graph_level_tasks(s->g, s->level, &n);
        for (size_t k = 0; k < n; k++)
            if (s->state[ts[k]] == S_WAITING && s->unmet[ts[k]] == 0)
                push_ready(s, ts[k]);
    }
}

static void end_task(pd_sched *s, int t)
{
    s->remaining--;
    if (s->policy == PD_SCHED_LEVELS) {
        s->level_left[pd_graph_level(s->g, t)]--;
        advance_levels(s);
    }
}

static void make_ready_if_open(pd_sched *s, int t)
{
    if (s->stopped)
        return;
    if (s->policy == PD_SCHED_LEVELS && pd_graph_level(s->g, t) > s->level)
        return;   /* parked until its level opens */
    push_ready(s, t);
}

static int not_started(const pd_sched *s, int t)
{
    return s->state[t] == S_WAITING || s->state[t] == S_READY ||
           s->state[t] == S_POOLWAIT;
}

/* Marks `t` (not started) skipped and tells the executor. */
static void mark_skipped(pd_sched *s, int t, int cause)
{
    if (s->state[t] == S_READY)
        s->nready--;
    s->state[t] = S_SKIPPED;
    s->on_skip(s->ud, t, cause);
}

/* Skips `t` (not started) and, depth first, everything downstream. */
static void skip_cascade(pd_sched *s, int t, int cause)
{
    size_t top = 0;
    s->stack[top++] = t;
    s->stack[top++] = cause;
    while (top) {
        int c = s->stack[--top];
        int x = s->stack[--top];
        if (!not_started(s, x))
            continue;
        mark_skipped(s, x, c);
        size_t n;
        const int *ds = pd_graph_dependents(s->g, x, &n);
        for (size_t k = n; k-- > 0;) {
            if (not_started(s, ds[k])) {
                s->stack[top++] = ds[k];
                s->stack[top++] = x;
            }
        }
        end_task(s, x);
    }
}

pd_sched *pd_sched_new(const pd_graph *g, pd_sched_policy policy,
                       const int *task_pool, const int *pool_cap, int npools,
                       pd_sched_skip_fn on_skip, void *ud)
{
    pd_sched *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    size_t n = pd_graph_count(g);
    size_t n1 = n ? n : 1;
    s->g = g;
    s->policy = policy;
    s->n = n;
    s->remaining = n;
    s->on_skip = on_skip;
    s->ud = ud;
    s->npools = npools;
    s->state = calloc(n1, 1);
    s->unmet = malloc(n1 * sizeof *s->unmet);
    s->key = malloc(n1 * sizeof *s->key);
    s->pos = malloc(n1 * sizeof *s->pos);
    s->task_pool = malloc(n1 * sizeof *s->task_pool);
    s->pools = calloc((size_t)npools + 1, sizeof *s->pools);
    s->rb_next = malloc(n1 * sizeof *s->rb_next);
    s->rb_seq = malloc(n1 * sizeof *s->rb_seq);
    /* A cascade pushes each dependency edge at most once per pop. */
    size_t edges = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k;
        pd_graph_dependents(g, (int)i, &k);
        edges += k;
    }
    s->stack = malloc((2 * (edges + n) + 2) * sizeof *s->stack);
    s->level_left = calloc((size_t)pd_graph_nlevels(g) + 1, sizeof *s->level_left);
    if (!s->state || !s->unmet || !s->key || !s->pos || !s->task_pool ||
        !s->pools || !s->rb_next || !s->rb_seq || !s->stack || !s->level_left) {
        pd_sched_free(s);
        return NULL;
    }
    pd_heap_init(&s->ready, before, s);
    for (int p = 0; p <= npools; p++) {
        pd_heap_init(&s->pools[p].wait, before, s);
        s->pools[p].cap = p < npools ? pool_cap[p] : 0;
        s->pools[p].rb_head = s->pools[p].rb_tail = -1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t k;
        pd_graph_deps(g, (int)i, &k);
        s->unmet[i] = (int)k;
        s->pos[i] = pd_graph_position(g, (int)i);
        s->key[i] = policy == PD_SCHED_SEQUENTIAL ? -(double)s->pos[i]
                                                  : pd_graph_priority(g, (int)i);
        s->task_pool[i] = task_pool ? task_pool[i] : -1;
        s->level_left[pd_graph_level(g, (int)i)]++;
    }
    s->level = 0;
    for (size_t i = 0; i < n; i++)
        if (s->unmet[i] == 0)
            make_ready_if_open(s, (int)i);
    return s;
}

void pd_sched_free(pd_sched *s)
{
    if (!s)
        return;
    if (s->pools)
        for (int p = 0; p < s->npools; p++)
            pd_heap_free(&s->pools[p].wait);
    free(s->pools);
    pd_heap_free(&s->ready);
    free(s->state); free(s->unmet); free(s->key); free(s->pos);
    free(s->task_pool); free(s->stack); free(s->level_left);
    free(s->rb_next); free(s->rb_seq);
    free(s);
}

int pd_sched_next(pd_sched *s)
{
    if (s->stopped)
        return -1;
    if (s->policy == PD_SCHED_SEQUENTIAL && s->running > 0)
        return -1;
    for (;;) {
        int t = pd_heap_pop(&s->ready);
        if (t < 0)
            return -1;
        if (s->state[t] != S_READY)
            continue;   /* skipped while queued */
        s->nready--;
        int p = s->task_pool[t];
        if (p >= 0 && !pool_has_room(&s->pools[p])) {
            s->state[t] = S_POOLWAIT;
            if (pd_heap_push(&s->pools[p].wait, t) != 0)
                abort();
            continue;
        }
        if (p >= 0)
            s->pools[p].used++;
        s->state[t] = S_RUNNING;
        s->running++;
        return t;
    }
}

/* A slot of pool p comes free: the pool's best waiting task, if any,
 * returns to the ready heap (a waiting rollback, asked for first, may
 * still take the slot before it). */
static void give_slot(pd_sched *s, int p)
{
    s->pools[p].used--;
    for (;;) {
        int w = pd_heap_pop(&s->pools[p].wait);
        if (w < 0)
            return;
        if (s->state[w] != S_POOLWAIT)
            continue;
        if (!s->stopped)
            push_ready(s, w);
        return;
    }
}

/* A running task gives its pool slot back. */
static void release_slot(pd_sched *s, int t)
{
    s->running--;
    if (s->task_pool[t] >= 0)
        give_slot(s, s->task_pool[t]);
}

void pd_sched_done(pd_sched *s, int t, int ok)
{
    if (s->state[t] == S_RUNNING)
        release_slot(s, t);
    else if (s->state[t] != S_RETRY)
        return;
    s->state[t] = S_DONE;
    size_t n;
    const int *ds = pd_graph_dependents(s->g, t, &n);
    if (ok) {
        for (size_t k = 0; k < n; k++)
            if (--s->unmet[ds[k]] == 0 && s->state[ds[k]] == S_WAITING)
                make_ready_if_open(s, ds[k]);
        end_task(s, t);
    } else {
        /* End t last so a level barrier cannot open before its dependents
         * are marked skipped. */
        for (size_t k = 0; k < n; k++)
            if (not_started(s, ds[k]))
                skip_cascade(s, ds[k], t);
        end_task(s, t);
    }
}

void pd_sched_retry_wait(pd_sched *s, int t)
{
    if (s->state[t] != S_RUNNING)
        return;
    release_slot(s, t);
    s->state[t] = S_RETRY;
}

void pd_sched_retry_ready(pd_sched *s, int t)
{
    if (s->state[t] != S_RETRY || s->stopped)
        return;
    push_ready(s, t);
}

void pd_sched_stop(pd_sched *s)
{
    s->stopped = 1;
    const int *order = pd_graph_order(s->g);
    for (size_t p = 0; p < s->n; p++) {
        if (not_started(s, order[p])) {
            mark_skipped(s, order[p], -1);
            end_task(s, order[p]);
        }
    }
}

/* --- rollbacks --------------------------------------------------------- */

void pd_sched_rollback_push(pd_sched *s, int t)
{
    pool *pl = &s->pools[s->task_pool[t] >= 0 ? s->task_pool[t] : s->npools];
    s->rb_next[t] = -1;
    s->rb_seq[t] = s->rb_serial++;
    if (pl->rb_tail >= 0)
        s->rb_next[pl->rb_tail] = t;
    else
        pl->rb_head = t;
    pl->rb_tail = t;
    s->rb_count++;
}

/* The queue whose head may start now and was queued first, or NULL. */
static pool *rollback_queue(const pd_sched *s)
{
    pool *best = NULL;
    if (s->rb_count == 0)
        return NULL;
    for (int p = 0; p <= s->npools; p++) {
        pool *pl = &s->pools[p];
        if (pl->rb_head >= 0 && pool_has_room(pl) &&
            (!best || s->rb_seq[pl->rb_head] < s->rb_seq[best->rb_head]))
            best = pl;
    }
    return best;
}

int pd_sched_rollback_next(pd_sched *s)
{
    pool *pl = rollback_queue(s);
    if (!pl)
        return -1;
    int t = pl->rb_head;
    pl->rb_head = s->rb_next[t];
    if (pl->rb_head < 0)
        pl->rb_tail = -1;
    s->rb_count--;
    if (s->task_pool[t] >= 0)
        pl->used++;
    return t;
}

void pd_sched_rollback_done(pd_sched *s, int t)
{
    if (s->task_pool[t] >= 0)
        give_slot(s, s->task_pool[t]);
}

size_t pd_sched_rollbacks(const pd_sched *s) { return s->rb_count; }
int pd_sched_rollback_ready(const pd_sched *s) { return rollback_queue(s) != NULL; }

size_t pd_sched_remaining(const pd_sched *s) { return s->remaining; }
size_t pd_sched_ready(const pd_sched *s) { return s->nready; }
