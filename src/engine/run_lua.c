/*
 * run_lua.c — running a workflow, wf:run{...}: reads the run options into
 * the executor's settings (src/engine/executor.c), builds the store of Lua
 * values the workers read, starts the workers, and is the caller's loop
 * until the run ends: wait with the interpreter lock released, then hand
 * events and progress to the user's callbacks (and t:log lines from the
 * tasks) with it held, in a protected call so that nothing unwinds past
 * the running workers. The result table is result_lua.c's.
 *
 * Errors (include/pdlua/error.h): a misused call raises a string through
 * luaL_check*; a bad option raises a pdlua error (reason
 * "invalidArgument", exit_code = 2) before anything starts; the first
 * error raised by a callback cancels the run and is raised, normalised to
 * a pdlua error, once the run has stopped.
 */
#include "pdlua/context.h"
#include "pdlua/engine_lua.h"
#include "pdlua/interrupt.h"
#include "pdlua/runtime.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#define MAX_POOLS 256

/* Defaults for tasks without their own setting, and the progress pace. */
typedef struct {
    double task_timeout, interval, backoff, max_backoff;
    int retries;
} run_defaults;

static int opt_choice(lua_State *L, const char *field, const char *const *names, int dflt)
{
    if (lua_getfield(L, 2, field) == LUA_TNIL) {
        lua_pop(L, 1);
        return dflt;
    }
    const char *v = lua_tostring(L, -1);
    for (int k = 0; v && names[k]; k++)
        if (strcmp(v, names[k]) == 0) {
            lua_pop(L, 1);
            return k;
        }
    int k = 0;
    for (; names[k]; k++)
        lua_pushfstring(L, k ? ", \"%s\"" : "\"%s\"", names[k]);
    lua_concat(L, k);
    const char *given = luaL_tolstring(L, -2, NULL);
    return pd_raise_input(L, "invalidArgument", "wf:run: '%s' must be one of %s, not %s",
                          field, lua_tostring(L, -2), given);
}

/* An integer option within [lo, hi]; `dflt` when absent. */
static lua_Integer opt_integer(lua_State *L, const char *field, lua_Integer dflt,
                               lua_Integer lo, lua_Integer hi, const char *msg)
{
    if (lua_getfield(L, 2, field) != LUA_TNIL) {
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < lo || lua_tointeger(L, -1) > hi)
            pd_raise_input(L, "invalidArgument", "wf:run: %s", msg);
        dflt = lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    return dflt;
}

/* The options table (slot 2) into opts and d. */
static void read_options(lua_State *L, pd_exec_opts *opts, run_defaults *d)
{
    static const char *const engines[] = {"pool", "levels", "sequential", NULL};
    static const char *const fails[] = {"continue", "fail_fast", NULL};
    static const char *const scopes[] = {"none", "group", "workflow", NULL};
    static const pd_rollback_scope scope_of[] = {
        PD_ROLLBACK_NONE, PD_ROLLBACK_GROUP, PD_ROLLBACK_WORKFLOW,
    };
    memset(opts, 0, sizeof *opts);
    opts->policy = (pd_sched_policy)opt_choice(L, "engine", engines, 0);
    opts->fail_fast = opt_choice(L, "fail", fails, 0);
    opts->rollback = scope_of[opt_choice(L, "rollback", scopes, 1)];
    opts->max_parallel = (int)opt_integer(L, "max_parallel", 10, 1, 4096,
                                          "'max_parallel' must be an integer from 1 to 4096");
    d->task_timeout = pd_engine_seconds(L, 2, "task_timeout", 0, "wf:run");
    opts->deadline = pd_engine_seconds(L, 2, "deadline", 0, "wf:run");
    d->interval = pd_engine_seconds(L, 2, "progress_interval", 1.0, "wf:run");
    if (d->interval <= 0)
        d->interval = 1.0;
    d->retries = 0;
    d->backoff = 1;
    d->max_backoff = 60;
    pd_engine_retries(L, 2, "wf:run", &d->retries, &d->backoff, &d->max_backoff);
    opts->seed = (uint64_t)opt_integer(L, "seed", 0, LUA_MININTEGER, LUA_MAXINTEGER,
                                       "'seed' must be an integer");
}

/* Pushes the option `field`; returns its slot if it is callable, 0 if nil. */
static int opt_function(lua_State *L, const char *field)
{
    lua_getfield(L, 2, field);
    if (lua_isnil(L, -1))
        return 0;
    if (!pd_engine_callable(L, -1))
        pd_raise_input(L, "invalidArgument", "wf:run: '%s' must be a function", field);
    return lua_gettop(L);
}

/* on_event, on_progress (or the default progress printer unless
 * progress = false) and the default logger, on stack slots. */
static void read_callbacks(lua_State *L, pd_run *rs, double interval)
{
    rs->on_event = opt_function(L, "on_event");
    rs->on_progress = opt_function(L, "on_progress");
    lua_getfield(L, 2, "progress");
    int quiet = lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1);
    if (!rs->on_progress && !quiet) {
        pd_engine_push_config(L, "progress_printer");
        if (pd_engine_callable(L, -1)) {
            lua_pushstring(L, rs->wf->name);
            lua_pushnumber(L, interval);
            lua_call(L, 2, 1);
            if (pd_engine_callable(L, -1))
                rs->on_progress = lua_gettop(L);
        }
    }
    pd_engine_push_config(L, "logger");
    rs->logger = pd_engine_callable(L, -1) ? lua_gettop(L) : 0;
}

/* The context option, or a new empty context; returns its slot. */
static int push_context(lua_State *L)
{
    lua_getfield(L, 2, "context");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushcfunction(L, pd_context_l_new);
        lua_newtable(L);
        lua_call(L, 1, 1);
    } else if (!pd_context_is(L, -1)) {
        pd_raise_input(L, "invalidArgument", "wf:run: 'context' must be a pd.context, not %s",
                       luaL_typename(L, -1));
    }
    return lua_gettop(L);
}

/* pools = {name = capacity}: pushes a table of name -> pool number (in
 * the order the table is traversed) and returns its slot. */
static int read_pools(lua_State *L, pd_exec_opts *opts, int *pool_cap)
{
    lua_newtable(L);
    int pool_ids = lua_gettop(L);
    int npools = 0;
    if (lua_getfield(L, 2, "pools") == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            if (lua_type(L, -2) != LUA_TSTRING || !lua_isinteger(L, -1) ||
                lua_tointeger(L, -1) < 1)
                pd_raise_input(L, "invalidArgument",
                               "wf:run: pools must map names to capacities >= 1 (pool %s)",
                               luaL_tolstring(L, -2, NULL));
            if (npools == MAX_POOLS)
                pd_raise_input(L, "invalidArgument", "wf:run: at most 256 pools");
            pool_cap[npools] = (int)lua_tointeger(L, -1);
            lua_pushvalue(L, -2);
            lua_pushinteger(L, npools++);
            lua_rawset(L, pool_ids);
            lua_pop(L, 1);
        }
    } else if (!lua_isnil(L, -1)) {
        pd_raise_input(L, "invalidArgument", "wf:run: 'pools' must be a table");
    }
    lua_pop(L, 1);
    opts->pool_cap = pool_cap;
    opts->npools = npools;
    return pool_ids;
}

/* The number of the string on top (popped) in the table at `ids`,
 * numbering it next (*count) if new. */
static int number_of(lua_State *L, int ids, int *count)
{
    lua_pushvalue(L, -1);
    int n;
    if (lua_rawget(L, ids) == LUA_TNUMBER) {
        n = (int)lua_tointeger(L, -1);
    } else {
        n = (*count)++;
        lua_pushvalue(L, -2);
        lua_pushinteger(L, n);
        lua_rawset(L, ids);
    }
    lua_pop(L, 2);
    return n;
}

/* Per-task settings: the task's own, else the run's defaults; pool and
 * group names become numbers. Anchored as a userdata on the stack. */
static pd_exec_task *task_settings(lua_State *L, pd_run *rs, pd_exec_opts *opts,
                                   const run_defaults *d, int pool_ids)
{
    pd_exec_task *tasks = lua_newuserdatauv(L, (rs->n ? rs->n : 1) * sizeof *tasks, 0);
    lua_getiuservalue(L, 1, 1);
    int uv = lua_gettop(L);
    lua_rawgeti(L, uv, WUV_POOL);
    lua_rawgeti(L, uv, WUV_GROUP);
    lua_newtable(L);
    int pools_of = uv + 1, groups_of = uv + 2, group_ids = uv + 3;
    int ngroups = opts->rollback == PD_ROLLBACK_WORKFLOW && rs->n ? 1 : 0;
    for (size_t i = 0; i < rs->n; i++) {
        const pd_task_spec *sp = &rs->wf->specs[i];
        pd_exec_task *tk = &tasks[i];
        tk->timeout = sp->timeout >= 0 ? sp->timeout : d->task_timeout;
        tk->rollback_timeout = sp->rollback_timeout >= 0 ? sp->rollback_timeout : tk->timeout;
        tk->retries = sp->retries >= 0 ? sp->retries : d->retries;
        tk->backoff = sp->backoff >= 0 ? sp->backoff : d->backoff;
        tk->max_backoff = sp->max_backoff >= 0 ? sp->max_backoff : d->max_backoff;
        tk->has_rollback = sp->has_rollback;
        tk->pool = -1;
        if (lua_rawgeti(L, pools_of, (lua_Integer)i + 1) == LUA_TSTRING &&
            lua_rawget(L, pool_ids) == LUA_TNUMBER)
            tk->pool = (int)lua_tointeger(L, -1);
        lua_pop(L, 1);
        tk->group = opts->rollback == PD_ROLLBACK_WORKFLOW ? 0 : -1;
        if (lua_rawgeti(L, groups_of, (lua_Integer)i + 1) == LUA_TSTRING && tk->group < 0)
            tk->group = number_of(L, group_ids, &ngroups);
        else
            lua_pop(L, 1);
    }
    opts->ngroups = ngroups;
    lua_settop(L, uv);
    return tasks;
}

/* The store the workers read (PD_STORE_*), on the stack at rs->store. */
static void push_store(lua_State *L, pd_run *rs, int ctx)
{
    static const int from_wf[][2] = {
        {WUV_RUN, PD_STORE_RUN}, {WUV_ROLLBACK, PD_STORE_ROLLBACK},
        {WUV_IDS, PD_STORE_IDS}, {WUV_DATA, PD_STORE_DATA},
    };
    int uv = lua_gettop(L);   /* the workflow's user value */
    lua_createtable(L, PD_STORE_NKEYS, 0);
    rs->store = lua_gettop(L);
    for (size_t k = 0; k < sizeof from_wf / sizeof from_wf[0]; k++) {
        lua_rawgeti(L, uv, from_wf[k][0]);
        lua_rawseti(L, rs->store, from_wf[k][1]);
    }
    lua_pushvalue(L, ctx);
    lua_rawseti(L, rs->store, PD_STORE_CTX);
    for (int k = PD_STORE_ERRORS; k <= PD_STORE_PAYLOAD; k++) {
        lua_newtable(L);
        lua_rawseti(L, rs->store, k);
    }
}

/* --- events, progress and t:log, handed to the callbacks ---------------
 * State changes, rollback starts and log lines go to on_event (log lines
 * to the default logger when there is no on_event), progress to
 * on_progress, all on the caller's thread with the interpreter lock held.
 * An error raised by a callback is kept (normalised to a pdlua error),
 * cancels the run and silences that callback. */

/* The task handle's log method: t:log(...) */
static int task_log(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 2; i <= n; i++) {
        if (i > 2)
            luaL_addchar(&b, ' ');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    uint64_t serial = (uint64_t)lua_tointeger(L, lua_upvalueindex(1));
    lua_pushvalue(L, -1);
    if (pd_exec_log(L, serial) != 0) {
        /* Not inside a running task of that run: print it plainly. */
        lua_getfield(L, 1, "id");
        fprintf(stderr, "%s: %s\n", lua_tostring(L, -1), lua_tostring(L, -2));
        fflush(stderr);
    }
    return 0;
}

/* Pushes payload `key` of the store (an error or a log message), and
 * drops it from the store. */
static void take_payload(lua_State *L, int store, int key)
{
    lua_rawgeti(L, store, PD_STORE_PAYLOAD);
    lua_rawgeti(L, -1, key);
    lua_pushnil(L);
    lua_rawseti(L, -3, key);
    lua_remove(L, -2);
}

/* The fields of a state change: state, previous, retry_in, and the error
 * or the skip's reason and cause. */
static void set_state_fields(lua_State *L, pd_run *rs, int store, const pd_exec_event *e)
{
    lua_pushstring(L, pd_task_state_name(e->state));
    lua_setfield(L, -2, "state");
    lua_pushstring(L, pd_task_state_name(e->prev));
    lua_setfield(L, -2, "previous");
    if (e->retry_in >= 0)
        pd_engine_set(L, "retry_in", e->retry_in, 0);
    switch (e->state) {
    case PD_TASK_FAILED: case PD_TASK_TIMED_OUT: case PD_TASK_CANCELLED:
    case PD_TASK_ROLLBACK_FAILED:
        pd_run_push_error(L, store, e->task, e->state);
        lua_setfield(L, -2, "error");
        break;
    case PD_TASK_SKIPPED:
        pd_run_set_skip(L, rs, e->task);
        break;
    default:
        break;
    }
}

static void push_event(lua_State *L, pd_run *rs, int store, const pd_exec_event *e)
{
    static const char *const kinds[] = {"state", "rollback", "log"};
    lua_createtable(L, 0, 8);
    lua_pushstring(L, kinds[e->kind]);
    lua_setfield(L, -2, "type");
    lua_pushstring(L, pd_graph_id(rs->wf->g, e->task));
    lua_setfield(L, -2, "task");
    pd_engine_set(L, "attempt", e->attempt, 1);
    pd_engine_set(L, "time", e->time, 0);
    if (e->rollback) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "rollback");
    }
    if (e->payload) {
        take_payload(L, store, e->payload);
        lua_setfield(L, -2, e->kind == PD_EVENT_LOG ? "message" : "error");
    }
    if (e->kind == PD_EVENT_STATE)
        set_state_fields(L, rs, store, e);
}

/* Calls the function at *slot with the value on top (popped). A failure
 * is kept (the first one), cancels the run and silences that callback for
 * the rest of the run (*slot and *outer set to 0). */
static void call_back(lua_State *L, pd_run *rs, int *slot, int *outer)
{
    lua_pushvalue(L, *slot);
    lua_insert(L, -2);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        if (rs->callback_error == LUA_NOREF) {
            pd_error_normalize(L);
            rs->callback_error = luaL_ref(L, LUA_REGISTRYINDEX);
        } else {
            lua_pop(L, 1);
        }
        *slot = 0;
        *outer = 0;
        pd_exec_cancel(rs->x);
    }
}

static void push_progress(lua_State *L, pd_run *rs)
{
    int counts[PD_TASK_NSTATES];
    int running[256];
    double elapsed;
    size_t nrun = pd_exec_progress(rs->x, counts, running, 256, &elapsed);
    lua_createtable(L, 0, 10);
    lua_pushstring(L, rs->wf->name);
    lua_setfield(L, -2, "name");
    lua_createtable(L, 0, PD_TASK_NSTATES);
    size_t done = 0;
    for (int s = 0; s < PD_TASK_NSTATES; s++) {
        pd_engine_set(L, pd_task_state_name(s), counts[s], 1);
        if (s >= PD_TASK_SUCCEEDED)
            done += (size_t)counts[s];
    }
    lua_setfield(L, -2, "counts");
    lua_createtable(L, (int)nrun, 0);
    for (size_t k = 0; k < nrun; k++) {
        lua_pushstring(L, pd_graph_id(rs->wf->g, running[k]));
        lua_rawseti(L, -2, (lua_Integer)k + 1);
    }
    lua_setfield(L, -2, "running");
    pd_engine_set(L, "total", (double)rs->n, 1);
    pd_engine_set(L, "done", (double)done, 1);
    pd_engine_set(L, "elapsed", elapsed, 0);
    /* ETA: the pace so far applied to what is left. */
    if (done > 0 && done < rs->n)
        pd_engine_set(L, "eta", elapsed / (double)done * (double)(rs->n - done), 0);
    else if (done == rs->n)
        pd_engine_set(L, "eta", 0, 0);
    lua_pushboolean(L, rs->final);
    lua_setfield(L, -2, "finished");
}

/* Delivers a batch. Runs through lua_pcall, so its stack is its own:
 * deliver(rs, tick, store, on_event, on_progress, logger). */
static int deliver_batch(lua_State *L)
{
    pd_run *rs = lua_touserdata(L, 1);
    int tick = lua_toboolean(L, 2);
    enum { STORE = 3 };
    int on_event = rs->on_event ? 4 : 0;
    int on_progress = rs->on_progress ? 5 : 0;
    int logger = rs->logger ? 6 : 0;
    for (size_t k = 0; k < rs->batch.n; k++) {
        const pd_exec_event *e = &rs->batch.events[k];
        int *slot = on_event ? &on_event : e->kind == PD_EVENT_LOG && logger ? &logger : NULL;
        if (slot) {
            push_event(L, rs, STORE, e);
            call_back(L, rs, slot, slot == &on_event ? &rs->on_event : &rs->logger);
        } else if (e->payload) {
            take_payload(L, STORE, e->payload);
            lua_pop(L, 1);
        }
    }
    if (tick && on_progress) {
        push_progress(L, rs);
        call_back(L, rs, &on_progress, &rs->on_progress);
    }
    return 0;
}

/* The metatable of the task handles: {id, attempt, data} with t:log bound
 * to this run. */
static void set_handle_meta(lua_State *L, pd_run *rs)
{
    lua_createtable(L, 0, 2);
    lua_createtable(L, 0, 1);
    lua_pushinteger(L, (lua_Integer)pd_exec_serial(rs->x));
    lua_pushcclosure(L, task_log, 1);
    lua_setfield(L, -2, "log");
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, "pdlua.task");
    lua_setfield(L, -2, "__name");
    lua_rawseti(L, rs->store, PD_STORE_TASKMT);
}

/* Creates the executor and starts its workers; returns the wall-clock
 * start. */
static double start_run(lua_State *L, pd_run *rs, const pd_exec_task *tasks,
                        const pd_exec_opts *opts)
{
    lua_pushvalue(L, rs->store);
    int store_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    const char *err = NULL;
    rs->x = pd_exec_new(L, rs->wf->g, tasks, opts, store_ref, &err);
    if (!rs->x) {
        luaL_unref(L, LUA_REGISTRYINDEX, store_ref);
        luaL_error(L, "wf:run: %s", err);
    }
    set_handle_meta(L, rs);
    double started_at = pd_realtime();
    if (pd_exec_start(rs->x) != 0) {
        pd_exec_free(L, rs->x);
        luaL_error(L, "wf:run: cannot start worker threads");
    }
    rs->wf->running = rs->x;
    return started_at;
}

/* Hands one batch (and a progress tick) to the callbacks, protected. */
static void deliver(lua_State *L, pd_run *rs, int tick)
{
    lua_pushcfunction(L, deliver_batch);
    lua_pushlightuserdata(L, rs);
    lua_pushboolean(L, tick);
    lua_pushvalue(L, rs->store);
    int slots[] = {rs->on_event, rs->on_progress, rs->logger};
    for (int k = 0; k < 3; k++)
        if (slots[k]) lua_pushvalue(L, slots[k]); else lua_pushnil(L);
    if (lua_pcall(L, 6, 0, 0) != LUA_OK) {
        /* Out of memory building an event: stop, keep the error. */
        if (rs->callback_error == LUA_NOREF)
            rs->callback_error = luaL_ref(L, LUA_REGISTRYINDEX);
        else
            lua_pop(L, 1);
        pd_exec_cancel(rs->x);
    }
}

/* Waits for events, ticks and the end with the lock released; delivers
 * each batch with it held. Returns when the run has ended. */
static void caller_loop(lua_State *L, pd_run *rs, double interval)
{
    pd_interrupt *caller = pd_interrupt_current();
    double next_tick = rs->on_progress ? pd_exec_started(rs->x) + interval : 0;
    for (;;) {
        pd_unlock();
        pd_exec_wait(rs->x, caller, next_tick, &rs->batch);
        pd_lock();
        int tick = 0;
        if (next_tick > 0 && pd_now() >= next_tick) {
            tick = 1;
            while (next_tick <= pd_now())
                next_tick += interval;
        }
        if (rs->batch.finished) {
            rs->final = 1;
            tick = rs->on_progress != 0;
        }
        deliver(L, rs, tick);
        if (rs->batch.finished)
            break;
    }
}

/* Joins the workers, pushes the result, frees the run; raises the first
 * callback error if there was one. */
static int finish_run(lua_State *L, pd_run *rs, double started_at)
{
    pd_exec_join(rs->x);
    rs->wf->running = NULL;
    pd_exec_batch_free(&rs->batch);
    /* Everything the result allocates stays alive: a collector step now
     * would only re-traverse the heap (with 100,000 tasks, as long as the
     * run itself), so the collector pauses while it is built. */
    int gc_was_running = lua_gc(L, LUA_GCISRUNNING);
    lua_gc(L, LUA_GCSTOP);
    pd_run_push_result(L, rs, started_at);
    if (gc_was_running)
        lua_gc(L, LUA_GCRESTART);
    pd_exec_free(L, rs->x);
    if (rs->callback_error != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, rs->callback_error);
        luaL_unref(L, LUA_REGISTRYINDEX, rs->callback_error);
        return lua_error(L);   /* the callback's error, passed on (rule c) */
    }
    return 1;
}

/* wf:run{...} -> result */
int pd_run_l_run(lua_State *L)
{
    static const char *const known[] = {
        "max_parallel", "task_timeout", "deadline", "engine", "pools", "fail",
        "rollback", "progress_interval", "on_progress", "on_event", "progress",
        "context", "retries", "seed", NULL,
    };
    pd_workflow *wf = pd_workflow_check(L);
    if (lua_isnoneornil(L, 2)) {
        lua_settop(L, 1);
        lua_newtable(L);
    }
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    if (wf->running)
        return pd_raise_input(L, "invalidWorkflow", "workflow '%s' is already running",
                              wf->name);
    pd_workflow_validate(L, wf);
    const char *k = pd_engine_unknown_key(L, 2, known);
    if (k)
        return pd_raise_input(L, "invalidArgument", "wf:run: unknown option '%s'", k);

    pd_exec_opts opts;
    run_defaults d;
    read_options(L, &opts, &d);
    pd_run rs = {.wf = wf, .opts_idx = 2, .callback_error = LUA_NOREF,
                 .n = pd_graph_count(wf->g)};
    read_callbacks(L, &rs, d.interval);
    opts.want_events = rs.on_event != 0;
    int ctx = push_context(L);
    int pool_cap[MAX_POOLS];
    int pool_ids = read_pools(L, &opts, pool_cap);
    const pd_exec_task *tasks = task_settings(L, &rs, &opts, &d, pool_ids);
    push_store(L, &rs, ctx);
    double started_at = start_run(L, &rs, tasks, &opts);
    caller_loop(L, &rs, d.interval);
    return finish_run(L, &rs, started_at);
}
