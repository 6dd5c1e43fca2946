/*
 * engine_lua.c — binds the workflow engine to Lua as `pdlua.engine`:
 * workflow(name) with :task :order :levels :dot :run :cancel, context(...)
 * (src/engine/context.c), semaphore(n), and configure{} through which
 * lua/pdlua/init.lua supplies the Lua-side pieces (the result metatable
 * with :to_json, the default progress printer, the default log printer).
 *
 * Most of the engine's Lua errors are raised here (docs/design.md,
 * "Errors"): it checks user input (task specs, run options) and turns
 * graph errors into pdlua errors with exit_code = 2 ("bad input, nothing
 * started"); context.c raises its own type errors, and the executor's
 * count hook raises timeout/cancelled inside tasks. During a run it is
 * the caller's loop: wait with the lock released, then deliver events and
 * progress to the user's callbacks with the lock held, in a protected call
 * so that nothing can unwind past the running workers.
 */
#include "pdlua/context.h"
#include "pdlua/error.h"
#include "pdlua/executor.h"
#include "pdlua/graph.h"
#include "pdlua/interrupt.h"
#include "pdlua/luaclass.h"
#include "pdlua/modules.h"
#include "pdlua/core.h"
#include "pdlua/runtime.h"
#include "pdlua/semaphore.h"

#include <lauxlib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WORKFLOW_META "pdlua.workflow"
#define SEMAPHORE_META "pdlua.semaphore"
#define REG_CONFIG "pdlua.engine.config"

/* User value slots of a workflow (tables indexed by task number + 1). */
enum { WUV_RUN = 1, WUV_ROLLBACK, WUV_IDS, WUV_DATA, WUV_POOL, WUV_GROUP, WUV_N = WUV_GROUP };

/* What wf:task stores in C; -1 in a number means "the run's default". */
typedef struct {
    double timeout;
    double rollback_timeout;
    int retries;
    double backoff, max_backoff;
    int has_rollback;
} task_spec;

typedef struct {
    pd_graph *g;
    char *name;
    task_spec *specs;
    size_t cap;
    pd_exec *running;
} workflow;

/* --- errors ------------------------------------------------------------ */

/* Raises a pdlua error for bad input: reason, message, exit_code = 2. */
static int raise_input(lua_State *L, const char *reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *msg = lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    pd_error_push(L, 0, reason, msg, 0);
    lua_pushinteger(L, 2);
    lua_setfield(L, -2, "exit_code");
    return lua_error(L);
}

static workflow *check_wf(lua_State *L)
{
    workflow *wf = luaL_checkudata(L, 1, WORKFLOW_META);
    if (!wf->g)
        luaL_error(L, "workflow already closed");
    return wf;
}

/* --- pd.workflow ------------------------------------------------------- */

static int wf_gc(lua_State *L)
{
    workflow *wf = luaL_checkudata(L, 1, WORKFLOW_META);
    pd_graph_free(wf->g);
    wf->g = NULL;
    free(wf->name);
    wf->name = NULL;
    free(wf->specs);
    wf->specs = NULL;
    return 0;
}

static int l_workflow(lua_State *L)
{
    const char *name = luaL_optstring(L, 1, "workflow");
    workflow *wf = lua_newuserdatauv(L, sizeof *wf, 1);
    memset(wf, 0, sizeof *wf);
    luaL_setmetatable(L, WORKFLOW_META);
    wf->g = pd_graph_new();
    wf->name = strdup(name);
    if (!wf->g || !wf->name)
        return luaL_error(L, "out of memory");
    lua_createtable(L, WUV_N, 0);
    for (int k = 1; k <= WUV_N; k++) {
        lua_newtable(L);
        lua_rawseti(L, -2, k);
    }
    lua_setiuservalue(L, -2, 1);
    return 1;
}

/* Reads an optional duration field: nil -> dflt, false or 0 -> 0 (none). */
static double opt_seconds(lua_State *L, int idx, const char *field, double dflt,
                          const char *what)
{
    int type = lua_getfield(L, idx, field);
    double v = dflt;
    if (type == LUA_TNUMBER) {
        v = lua_tonumber(L, -1);
        if (!(v >= 0) || isinf(v))
            raise_input(L, "invalidArgument", "%s: '%s' must be a number of seconds >= 0",
                        what, field);
    } else if (type == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
        v = 0;
    } else if (type != LUA_TNIL) {
        raise_input(L, "invalidArgument", "%s: '%s' must be a number of seconds, not %s",
                    what, field, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return v;
}

/* retries = n | {max = n, backoff = s, max_backoff = s} */
static void parse_retries(lua_State *L, int idx, const char *what, int *max,
                          double *backoff, double *max_backoff)
{
    int type = lua_getfield(L, idx, "retries");
    if (type == LUA_TNUMBER) {
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
            raise_input(L, "invalidArgument", "%s: 'retries' must be an integer >= 0", what);
        *max = (int)lua_tointeger(L, -1);
    } else if (type == LUA_TTABLE) {
        int t = lua_absindex(L, -1);
        lua_pushnil(L);
        while (lua_next(L, t)) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
            if (strcmp(k, "max") && strcmp(k, "backoff") && strcmp(k, "max_backoff"))
                raise_input(L, "invalidArgument",
                            "%s: unknown field '%s' in 'retries' (max, backoff, max_backoff)",
                            what, k);
            lua_pop(L, 1);
        }
        if (lua_getfield(L, t, "max") != LUA_TNIL) {
            if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
                raise_input(L, "invalidArgument", "%s: 'retries.max' must be an integer >= 0",
                            what);
            *max = (int)lua_tointeger(L, -1);
        }
        lua_pop(L, 1);
        *backoff = opt_seconds(L, t, "backoff", *backoff, what);
        *max_backoff = opt_seconds(L, t, "max_backoff", *max_backoff, what);
    } else if (type != LUA_TNIL) {
        raise_input(L, "invalidArgument", "%s: 'retries' must be a number or a table", what);
    }
    lua_pop(L, 1);
}

static int is_callable(lua_State *L, int idx)
{
    if (lua_isfunction(L, idx))
        return 1;
    if (luaL_getmetafield(L, idx, "__call") != LUA_TNIL) {
        lua_pop(L, 1);
        return 1;
    }
    return 0;
}

/* wf:task{id=, run=, rollback=, deps=, timeout=, rollback_timeout=,
 *         retries=, pool=, group=, weight=, data=} -> id */
static int wf_task(lua_State *L)
{
    static const char *const known[] = {
        "id", "run", "rollback", "deps", "timeout", "rollback_timeout", "retries",
        "pool", "group", "weight", "data", NULL,
    };
    workflow *wf = check_wf(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    if (wf->running)
        return raise_input(L, "invalidWorkflow",
                           "workflow '%s': cannot add tasks while it runs", wf->name);
    if (lua_getfield(L, 2, "id") != LUA_TSTRING || lua_rawlen(L, -1) == 0)
        return raise_input(L, "invalidWorkflow",
                           "workflow '%s': a task needs an id (a non-empty string)",
                           wf->name);
    const char *id = lua_tostring(L, -1);                /* 3 */
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        int ok = 0;
        if (lua_type(L, -2) == LUA_TSTRING)
            for (int k = 0; known[k] && !ok; k++)
                ok = strcmp(lua_tostring(L, -2), known[k]) == 0;
        if (!ok) {
            lua_pop(L, 1);
            return raise_input(L, "invalidWorkflow", "task '%s': unknown field '%s'", id,
                               luaL_tolstring(L, -1, NULL));
        }
        lua_pop(L, 1);
    }
    lua_getfield(L, 2, "run");                          /* 4 */
    if (!is_callable(L, 4))
        return raise_input(L, "invalidWorkflow", "task '%s': 'run' must be a function", id);
    lua_getfield(L, 2, "rollback");                     /* 5 */
    if (!lua_isnil(L, 5) && !is_callable(L, 5))
        return raise_input(L, "invalidWorkflow", "task '%s': 'rollback' must be a function",
                           id);
    int tp = lua_getfield(L, 2, "pool");                /* 6 */
    if (tp != LUA_TNIL && tp != LUA_TSTRING)
        return raise_input(L, "invalidWorkflow", "task '%s': 'pool' must be a string", id);
    tp = lua_getfield(L, 2, "group");                   /* 7 */
    if (tp != LUA_TNIL && tp != LUA_TSTRING)
        return raise_input(L, "invalidWorkflow", "task '%s': 'group' must be a string", id);
    double weight = 1;
    if (lua_getfield(L, 2, "weight") != LUA_TNIL) {     /* 8 */
        weight = lua_tonumber(L, 8);
        if (!lua_isnumber(L, 8) || !(weight >= 0) || isinf(weight))
            return raise_input(L, "invalidWorkflow", "task '%s': 'weight' must be a number >= 0",
                               id);
    }
    task_spec spec = {-1, -1, -1, -1, -1, !lua_isnil(L, 5)};
    spec.timeout = opt_seconds(L, 2, "timeout", -1, lua_pushfstring(L, "task '%s'", id));
    spec.rollback_timeout = opt_seconds(L, 2, "rollback_timeout", -1, lua_tostring(L, -1));
    parse_retries(L, 2, lua_tostring(L, -1), &spec.retries, &spec.backoff, &spec.max_backoff);
    lua_pop(L, 1);

    /* deps: a list of ids, or one id */
    const char *one[1];
    const char **deps = one;
    size_t ndeps = 0;
    int dt = lua_getfield(L, 2, "deps");                /* 9 */
    if (dt == LUA_TSTRING) {
        one[0] = lua_tostring(L, 9);
        ndeps = 1;
    } else if (dt == LUA_TTABLE) {
        ndeps = lua_rawlen(L, 9);
        if (ndeps > 1) {
            deps = lua_newuserdatauv(L, ndeps * sizeof *deps, 0);   /* 10: GC'd */
        }
        for (size_t k = 0; k < ndeps; k++) {
            if (lua_rawgeti(L, 9, (lua_Integer)k + 1) != LUA_TSTRING)
                return raise_input(L, "invalidWorkflow",
                                   "task '%s': deps[%d] must be a task id (a string)", id,
                                   (int)k + 1);
            deps[k] = lua_tostring(L, -1);   /* anchored by the deps table */
            lua_pop(L, 1);
        }
    } else if (dt != LUA_TNIL) {
        return raise_input(L, "invalidWorkflow", "task '%s': 'deps' must be a list of ids", id);
    }

    if (pd_graph_count(wf->g) == wf->cap) {
        size_t cap = wf->cap ? wf->cap * 2 : 64;
        task_spec *s = realloc(wf->specs, cap * sizeof *s);
        if (!s)
            return luaL_error(L, "out of memory");
        wf->specs = s;
        wf->cap = cap;
    }
    int i = pd_graph_add(wf->g, id, deps, ndeps, weight);
    if (i < 0)
        return raise_input(L, "invalidWorkflow", "workflow '%s': %s", wf->name,
                           pd_graph_error(wf->g));
    wf->specs[i] = spec;
    lua_getiuservalue(L, 1, 1);
    int uv = lua_gettop(L);
    static const struct { int slot; int idx; } store[] = {
        {WUV_RUN, 4}, {WUV_ROLLBACK, 5}, {WUV_IDS, 3}, {WUV_POOL, 6}, {WUV_GROUP, 7},
    };
    for (size_t k = 0; k < sizeof store / sizeof store[0]; k++) {
        if (lua_isnil(L, store[k].idx))
            continue;
        lua_rawgeti(L, uv, store[k].slot);
        lua_pushvalue(L, store[k].idx);
        lua_rawseti(L, -2, i + 1);
        lua_pop(L, 1);
    }
    if (lua_getfield(L, 2, "data") != LUA_TNIL) {
        lua_rawgeti(L, uv, WUV_DATA);
        lua_pushvalue(L, -2);
        lua_rawseti(L, -2, i + 1);
        lua_pop(L, 1);
    }
    lua_pushvalue(L, 3);
    return 1;
}

static void check_valid(lua_State *L, workflow *wf)
{
    if (pd_graph_validate(wf->g) != 0)
        raise_input(L, "invalidWorkflow", "workflow '%s': %s", wf->name,
                    pd_graph_error(wf->g));
}

/* wf:order() -> {id, ...} dependencies first */
static int wf_order(lua_State *L)
{
    workflow *wf = check_wf(L);
    check_valid(L, wf);
    size_t n = pd_graph_count(wf->g);
    const int *order = pd_graph_order(wf->g);
    lua_createtable(L, (int)n, 0);
    for (size_t p = 0; p < n; p++) {
        lua_pushstring(L, pd_graph_id(wf->g, order[p]));
        lua_rawseti(L, -2, (lua_Integer)p + 1);
    }
    return 1;
}

/* wf:levels() -> {{id, ...}, ...}: level 1 has no dependencies */
static int wf_levels(lua_State *L)
{
    workflow *wf = check_wf(L);
    check_valid(L, wf);
    int nl = pd_graph_nlevels(wf->g);
    lua_createtable(L, nl, 0);
    for (int l = 0; l < nl; l++) {
        size_t n;
        const int *ts = pd_graph_level_tasks(wf->g, l, &n);
        lua_createtable(L, (int)n, 0);
        for (size_t k = 0; k < n; k++) {
            lua_pushstring(L, pd_graph_id(wf->g, ts[k]));
            lua_rawseti(L, -2, (lua_Integer)k + 1);
        }
        lua_rawseti(L, -2, l + 1);
    }
    return 1;
}

static int wf_dot(lua_State *L)
{
    workflow *wf = check_wf(L);
    check_valid(L, wf);
    char *dot = pd_graph_dot(wf->g, wf->name);
    if (!dot)
        return luaL_error(L, "out of memory");
    lua_pushstring(L, dot);
    free(dot);
    return 1;
}

/* wf:critical_path() -> total weight of the heaviest dependency chain */
static int wf_critical_path(lua_State *L)
{
    workflow *wf = check_wf(L);
    check_valid(L, wf);
    lua_pushnumber(L, pd_graph_critical_path(wf->g));
    return 1;
}

/* wf:cancel([{drain = true}]): with drain, the running tasks are left to
 * finish instead of being interrupted. */
static int wf_cancel(lua_State *L)
{
    workflow *wf = check_wf(L);
    int drain = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_getfield(L, 2, "drain");
        drain = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    if (!wf->running) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (drain)
        pd_exec_drain(wf->running);
    else
        pd_exec_cancel(wf->running);
    lua_pushboolean(L, 1);
    return 1;
}

static int wf_len(lua_State *L)
{
    workflow *wf = check_wf(L);
    lua_pushinteger(L, (lua_Integer)pd_graph_count(wf->g));
    return 1;
}

static int wf_index(lua_State *L)
{
    workflow *wf = check_wf(L);
    const char *k = lua_tostring(L, 2);
    if (k && strcmp(k, "name") == 0) {
        lua_pushstring(L, wf->name);
        return 1;
    }
    if (k && strcmp(k, "running") == 0) {
        lua_pushboolean(L, wf->running != NULL);
        return 1;
    }
    luaL_getmetatable(L, WORKFLOW_META);
    lua_getfield(L, -1, "methods");
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
}

static int wf_tostring(lua_State *L)
{
    workflow *wf = check_wf(L);
    lua_pushfstring(L, "pdlua.workflow '%s' (%d tasks)", wf->name,
                    (int)pd_graph_count(wf->g));
    return 1;
}

/* --- wf:run ------------------------------------------------------------ */

typedef struct {
    workflow *wf;
    pd_exec *x;
    pd_exec_batch batch;
    int opts_idx;            /* the options table */
    int on_event, on_progress, logger;   /* stack slots, 0: none */
    int store;               /* store table slot */
    int callback_error;      /* registry ref of the first callback error */
    double t0;
    size_t n;
    int final;               /* the last progress call */
} run_state;

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

static void push_config(lua_State *L, const char *field)
{
    lua_getfield(L, LUA_REGISTRYINDEX, REG_CONFIG);
    if (lua_istable(L, -1))
        lua_getfield(L, -1, field);
    else
        lua_pushnil(L);
    lua_remove(L, -2);
}

static const char *skip_reason_text(int reason)
{
    switch (reason) {
    case PD_SKIP_DEPENDENCY: return "dependency";
    case PD_SKIP_STOPPED: return "stopped";
    default: return NULL;
    }
}

/* Pushes the final error of a task (store at slot `store`): its run's, or
 * its rollback's. */
static void push_state_error(lua_State *L, int store, int task, int state)
{
    int slot = state == PD_TASK_ROLLBACK_FAILED ? PD_STORE_RBERRORS : PD_STORE_ERRORS;
    lua_rawgeti(L, store, slot);
    lua_rawgeti(L, -1, task + 1);
    lua_remove(L, -2);
}

static void push_event(lua_State *L, run_state *rs, int store, const pd_exec_event *e)
{
    const pd_exec_record *rec = pd_exec_records(rs->x);
    lua_createtable(L, 0, 8);
    static const char *const kinds[] = {"state", "rollback", "log"};
    lua_pushstring(L, kinds[e->kind]);
    lua_setfield(L, -2, "type");
    lua_pushstring(L, pd_graph_id(rs->wf->g, e->task));
    lua_setfield(L, -2, "task");
    lua_pushinteger(L, e->attempt);
    lua_setfield(L, -2, "attempt");
    lua_pushnumber(L, e->time);
    lua_setfield(L, -2, "time");
    if (e->rollback) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "rollback");
    }
    if (e->payload) {
        lua_rawgeti(L, store, PD_STORE_PAYLOAD);
        lua_rawgeti(L, -1, e->payload);
        lua_pushnil(L);
        lua_rawseti(L, -3, e->payload);
        lua_remove(L, -2);
        lua_setfield(L, -2, e->kind == PD_EVENT_LOG ? "message" : "error");
    }
    if (e->kind != PD_EVENT_STATE)
        return;
    lua_pushstring(L, pd_task_state_name(e->state));
    lua_setfield(L, -2, "state");
    lua_pushstring(L, pd_task_state_name(e->prev));
    lua_setfield(L, -2, "previous");
    if (e->retry_in >= 0) {
        lua_pushnumber(L, e->retry_in);
        lua_setfield(L, -2, "retry_in");
    }
    switch (e->state) {
    case PD_TASK_FAILED: case PD_TASK_TIMED_OUT: case PD_TASK_CANCELLED:
    case PD_TASK_ROLLBACK_FAILED:
        push_state_error(L, store, e->task, e->state);
        lua_setfield(L, -2, "error");
        break;
    case PD_TASK_SKIPPED:
        lua_pushstring(L, skip_reason_text(rec[e->task].skip_reason));
        lua_setfield(L, -2, "reason");
        if (rec[e->task].skip_cause >= 0) {
            lua_pushstring(L, pd_graph_id(rs->wf->g, rec[e->task].skip_cause));
            lua_setfield(L, -2, "cause");
        }
        break;
    default:
        break;
    }
}

/* Calls the function at *slot with the value on top (popped). A failure
 * is kept (the first one), cancels the run and silences that callback for
 * the rest of the run (*slot and *outer set to 0). */
static void call_back(lua_State *L, run_state *rs, int *slot, int *outer)
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

static void push_progress(lua_State *L, run_state *rs)
{
    int counts[PD_TASK_NSTATES];
    int running[256];
    double elapsed;
    size_t nrun = pd_exec_progress(rs->x, counts, running, 256, &elapsed);
    lua_createtable(L, 0, 10);
    lua_pushstring(L, rs->wf->name);
    lua_setfield(L, -2, "name");
    lua_createtable(L, 0, PD_TASK_NSTATES);
    int done = 0;
    for (int s = 0; s < PD_TASK_NSTATES; s++) {
        lua_pushinteger(L, counts[s]);
        lua_setfield(L, -2, pd_task_state_name(s));
        if (s >= PD_TASK_SUCCEEDED)
            done += counts[s];
    }
    lua_setfield(L, -2, "counts");
    lua_createtable(L, (int)nrun, 0);
    for (size_t k = 0; k < nrun; k++) {
        lua_pushstring(L, pd_graph_id(rs->wf->g, running[k]));
        lua_rawseti(L, -2, (lua_Integer)k + 1);
    }
    lua_setfield(L, -2, "running");
    lua_pushinteger(L, (lua_Integer)rs->n);
    lua_setfield(L, -2, "total");
    lua_pushinteger(L, done);
    lua_setfield(L, -2, "done");
    lua_pushnumber(L, elapsed);
    lua_setfield(L, -2, "elapsed");
    /* ETA: the pace so far applied to what is left. */
    if (done > 0 && (size_t)done < rs->n) {
        lua_pushnumber(L, elapsed / done * (double)(rs->n - (size_t)done));
        lua_setfield(L, -2, "eta");
    } else if ((size_t)done == rs->n) {
        lua_pushnumber(L, 0);
        lua_setfield(L, -2, "eta");
    }
    lua_pushboolean(L, rs->final);
    lua_setfield(L, -2, "finished");
}

static void drop_payload(lua_State *L, int store, int key)
{
    if (!key)
        return;
    lua_rawgeti(L, store, PD_STORE_PAYLOAD);
    lua_pushnil(L);
    lua_rawseti(L, -2, key);
    lua_pop(L, 1);
}

/* Delivers a batch. Runs through lua_pcall, so its stack is its own:
 * deliver(rs, tick, store, on_event, on_progress, logger). */
static int deliver(lua_State *L)
{
    run_state *rs = lua_touserdata(L, 1);
    int tick = lua_toboolean(L, 2);
    enum { STORE = 3 };
    int on_event = rs->on_event ? 4 : 0;
    int on_progress = rs->on_progress ? 5 : 0;
    int logger = rs->logger ? 6 : 0;
    for (size_t k = 0; k < rs->batch.n; k++) {
        const pd_exec_event *e = &rs->batch.events[k];
        if (e->kind == PD_EVENT_LOG && !on_event) {
            if (logger) {
                push_event(L, rs, STORE, e);
                call_back(L, rs, &logger, &rs->logger);
            } else {
                drop_payload(L, STORE, e->payload);
            }
        } else if (on_event) {
            push_event(L, rs, STORE, e);
            call_back(L, rs, &on_event, &rs->on_event);
        } else {
            drop_payload(L, STORE, e->payload);
        }
    }
    if (tick && on_progress) {
        push_progress(L, rs);
        call_back(L, rs, &on_progress, &rs->on_progress);
    }
    return 0;
}

static void build_result(lua_State *L, run_state *rs, double started_at)
{
    pd_graph *g = rs->wf->g;
    const pd_exec_record *rec = pd_exec_records(rs->x);
    int counts[PD_TASK_NSTATES] = {0};
    lua_createtable(L, 0, 14);
    int res = lua_gettop(L);
    lua_createtable(L, 0, (int)rs->n);
    lua_createtable(L, (int)rs->n, 0);
    int tasks = res + 1, ids = res + 2;
    for (size_t i = 0; i < rs->n; i++) {
        const pd_exec_record *r = &rec[i];
        counts[r->state]++;
        lua_pushstring(L, pd_graph_id(g, (int)i));
        lua_pushvalue(L, -1);
        lua_rawseti(L, ids, (lua_Integer)i + 1);
        lua_createtable(L, 0, 8);
        lua_pushvalue(L, -2);
        lua_setfield(L, -2, "id");
        lua_pushstring(L, pd_task_state_name(r->state));
        lua_setfield(L, -2, "state");
        lua_pushinteger(L, r->attempts);
        lua_setfield(L, -2, "attempts");
        if (r->started >= 0) {
            lua_pushnumber(L, r->started);
            lua_setfield(L, -2, "started");
            lua_pushnumber(L, r->finished);
            lua_setfield(L, -2, "finished");
            lua_pushnumber(L, r->finished - r->started);
            lua_setfield(L, -2, "duration");
        }
        if (r->state == PD_TASK_SKIPPED) {
            lua_pushstring(L, skip_reason_text(r->skip_reason));
            lua_setfield(L, -2, "reason");
            if (r->skip_cause >= 0) {
                lua_pushstring(L, pd_graph_id(g, r->skip_cause));
                lua_setfield(L, -2, "cause");
            }
        }
        if (r->state == PD_TASK_FAILED || r->state == PD_TASK_TIMED_OUT ||
            r->state == PD_TASK_CANCELLED || r->rollback_state) {
            push_state_error(L, rs->store, (int)i, PD_TASK_FAILED);
            if (!lua_isnil(L, -1))
                lua_setfield(L, -2, "error");
            else
                lua_pop(L, 1);
        }
        if (r->rollback_state) {
            lua_createtable(L, 0, 6);
            lua_pushstring(L, pd_task_state_name(r->rollback_state));
            lua_setfield(L, -2, "state");
            lua_pushinteger(L, r->rb_attempts);
            lua_setfield(L, -2, "attempts");
            lua_pushnumber(L, r->rb_started);
            lua_setfield(L, -2, "started");
            lua_pushnumber(L, r->rb_finished);
            lua_setfield(L, -2, "finished");
            lua_pushnumber(L, r->rb_finished - r->rb_started);
            lua_setfield(L, -2, "duration");
            if (r->rollback_state == PD_TASK_ROLLBACK_FAILED) {
                push_state_error(L, rs->store, (int)i, PD_TASK_ROLLBACK_FAILED);
                lua_setfield(L, -2, "error");
            }
            lua_setfield(L, -2, "rollback");
        }
        lua_rawset(L, tasks);
    }
    lua_setfield(L, res, "ids");
    lua_setfield(L, res, "tasks");

    lua_createtable(L, 0, PD_TASK_NSTATES);
    for (int s = 0; s < PD_TASK_NSTATES; s++) {
        lua_pushinteger(L, counts[s]);
        lua_setfield(L, -2, pd_task_state_name(s));
    }
    lua_setfield(L, res, "counts");
    int ok = (size_t)counts[PD_TASK_SUCCEEDED] == rs->n;
    int stop = pd_exec_stop_reason(rs->x);
    lua_pushboolean(L, ok);
    lua_setfield(L, res, "ok");
    lua_pushstring(L, rs->wf->name);
    lua_setfield(L, res, "name");
    lua_pushinteger(L, (lua_Integer)rs->n);
    lua_setfield(L, res, "total");
    lua_pushnumber(L, pd_exec_makespan(rs->x));
    lua_setfield(L, res, "makespan");
    lua_pushnumber(L, started_at);
    lua_setfield(L, res, "started_at");
    lua_pushinteger(L, pd_exec_workers(rs->x));
    lua_setfield(L, res, "workers");
    if (pd_stop_reason_name(stop)) {
        lua_pushstring(L, pd_stop_reason_name(stop));
        lua_setfield(L, res, "stopped");
    }
    lua_pushboolean(L, stop == PD_STOP_CANCELLED);
    lua_setfield(L, res, "cancelled");
    lua_pushinteger(L, ok ? 0 : (stop == PD_STOP_CANCELLED ? 130 : 1));
    lua_setfield(L, res, "exit_code");
    lua_getfield(L, rs->opts_idx, "engine");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushstring(L, "pool");
    }
    lua_setfield(L, res, "engine");
    push_config(L, "result_mt");
    if (lua_istable(L, -1))
        lua_setmetatable(L, res);
    else
        lua_pop(L, 1);
}

/* Checks the run options table for unknown keys. */
static void check_run_keys(lua_State *L, int idx)
{
    static const char *const known[] = {
        "max_parallel", "task_timeout", "deadline", "engine", "pools", "fail",
        "rollback", "progress_interval", "on_progress", "on_event", "progress",
        "context", "retries", "seed", NULL,
    };
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int ok = 0;
        if (lua_type(L, -2) == LUA_TSTRING)
            for (int k = 0; known[k] && !ok; k++)
                ok = strcmp(lua_tostring(L, -2), known[k]) == 0;
        if (!ok) {
            lua_pop(L, 1);
            raise_input(L, "invalidArgument", "wf:run: unknown option '%s'",
                        luaL_tolstring(L, -1, NULL));
        }
        lua_pop(L, 1);
    }
}

static int opt_choice(lua_State *L, int idx, const char *field, const char *const *names,
                      int dflt)
{
    if (lua_getfield(L, idx, field) == LUA_TNIL) {
        lua_pop(L, 1);
        return dflt;
    }
    const char *v = lua_tostring(L, -1);
    for (int k = 0; v && names[k]; k++)
        if (strcmp(v, names[k]) == 0) {
            lua_pop(L, 1);
            return k;
        }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int k = 0; names[k]; k++) {
        if (k)
            luaL_addstring(&b, ", ");
        luaL_addchar(&b, '"');
        luaL_addstring(&b, names[k]);
        luaL_addchar(&b, '"');
    }
    luaL_pushresult(&b);
    const char *list = lua_tostring(L, -1);
    const char *given = luaL_tolstring(L, -2, NULL);
    return raise_input(L, "invalidArgument", "wf:run: '%s' must be one of %s, not %s",
                       field, list, given);
}

static int opt_function(lua_State *L, int idx, const char *field)
{
    lua_getfield(L, idx, field);
    if (lua_isnil(L, -1))
        return 0;
    if (!is_callable(L, -1))
        raise_input(L, "invalidArgument", "wf:run: '%s' must be a function", field);
    return lua_gettop(L);
}

static double realtime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* wf:run{...} -> result */
static int wf_run(lua_State *L)
{
    workflow *wf = check_wf(L);
    if (lua_isnoneornil(L, 2)) {
        lua_settop(L, 1);
        lua_newtable(L);
    }
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    if (wf->running)
        return raise_input(L, "invalidWorkflow", "workflow '%s' is already running", wf->name);
    check_valid(L, wf);
    check_run_keys(L, 2);

    static const char *const engines[] = {"pool", "levels", "sequential", NULL};
    static const char *const fails[] = {"continue", "fail_fast", NULL};
    static const char *const scopes[] = {"none", "group", "workflow", NULL};
    pd_exec_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.policy = (pd_sched_policy)opt_choice(L, 2, "engine", engines, 0);
    opts.fail_fast = opt_choice(L, 2, "fail", fails, 0);
    int scope = opt_choice(L, 2, "rollback", scopes, 1);
    opts.rollback = scope == 0 ? PD_ROLLBACK_NONE
                  : scope == 1 ? PD_ROLLBACK_GROUP : PD_ROLLBACK_WORKFLOW;
    opts.max_parallel = 10;
    if (lua_getfield(L, 2, "max_parallel") != LUA_TNIL) {
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > 4096)
            return raise_input(L, "invalidArgument",
                               "wf:run: 'max_parallel' must be an integer from 1 to 4096");
        opts.max_parallel = (int)lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    double task_timeout = opt_seconds(L, 2, "task_timeout", 0, "wf:run");
    opts.deadline = opt_seconds(L, 2, "deadline", 0, "wf:run");
    double interval = opt_seconds(L, 2, "progress_interval", 1.0, "wf:run");
    if (interval <= 0)
        interval = 1.0;
    int dflt_retries = 0;
    double dflt_backoff = 1, dflt_max_backoff = 60;
    parse_retries(L, 2, "wf:run", &dflt_retries, &dflt_backoff, &dflt_max_backoff);
    if (lua_getfield(L, 2, "seed") != LUA_TNIL) {
        if (!lua_isinteger(L, -1))
            return raise_input(L, "invalidArgument", "wf:run: 'seed' must be an integer");
        opts.seed = (uint64_t)lua_tointeger(L, -1);
    }
    lua_pop(L, 1);

    run_state rs;
    memset(&rs, 0, sizeof rs);
    rs.wf = wf;
    rs.opts_idx = 2;
    rs.callback_error = LUA_NOREF;
    rs.n = pd_graph_count(wf->g);
    rs.on_event = opt_function(L, 2, "on_event");          /* 3 */
    rs.on_progress = opt_function(L, 2, "on_progress");    /* 4 */
    lua_getfield(L, 2, "progress");                         /* 5 */
    int quiet = lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1);
    if (!rs.on_progress && !quiet) {
        push_config(L, "progress_printer");
        if (is_callable(L, -1)) {
            lua_pushstring(L, wf->name);
            lua_pushnumber(L, interval);
            lua_call(L, 2, 1);
            if (is_callable(L, -1))
                rs.on_progress = lua_gettop(L);
        }
    }
    push_config(L, "logger");
    rs.logger = is_callable(L, -1) ? lua_gettop(L) : 0;
    opts.want_events = rs.on_event != 0;

    /* context: given, or an empty one */
    lua_getfield(L, 2, "context");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushcfunction(L, pd_context_l_new);
        lua_newtable(L);
        lua_call(L, 1, 1);
    } else if (!pd_context_is(L, -1)) {
        return raise_input(L, "invalidArgument",
                           "wf:run: 'context' must be a pd.context, not %s",
                           luaL_typename(L, -1));
    }
    int ctx = lua_gettop(L);

    /* pools: name -> capacity; pool numbers by sorted name */
    lua_newtable(L);
    int pool_ids = lua_gettop(L);
    int npools = 0;
    int pool_cap[256];
    if (lua_getfield(L, 2, "pools") == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            if (lua_type(L, -2) != LUA_TSTRING || !lua_isinteger(L, -1) ||
                lua_tointeger(L, -1) < 1)
                return raise_input(L, "invalidArgument",
                                   "wf:run: pools must map names to capacities >= 1 "
                                   "(pool %s)", luaL_tolstring(L, -2, NULL));
            if (npools == 256)
                return raise_input(L, "invalidArgument", "wf:run: at most 256 pools");
            pool_cap[npools] = (int)lua_tointeger(L, -1);
            lua_pushvalue(L, -2);
            lua_pushinteger(L, npools++);
            lua_rawset(L, pool_ids);
            lua_pop(L, 1);
        }
    } else if (!lua_isnil(L, -1)) {
        return raise_input(L, "invalidArgument", "wf:run: 'pools' must be a table");
    }
    lua_pop(L, 1);
    opts.pool_cap = pool_cap;
    opts.npools = npools;

    /* per-task settings */
    pd_exec_task *tasks = lua_newuserdatauv(L, (rs.n ? rs.n : 1) * sizeof *tasks, 0);
    lua_getiuservalue(L, 1, 1);
    int uv = lua_gettop(L);
    lua_rawgeti(L, uv, WUV_POOL);
    lua_rawgeti(L, uv, WUV_GROUP);
    int pools_of = uv + 1, groups_of = uv + 2;
    lua_newtable(L);
    int group_ids = lua_gettop(L);
    int ngroups = 0;
    for (size_t i = 0; i < rs.n; i++) {
        const task_spec *sp = &wf->specs[i];
        pd_exec_task *tk = &tasks[i];
        tk->timeout = sp->timeout >= 0 ? sp->timeout : task_timeout;
        tk->rollback_timeout = sp->rollback_timeout >= 0 ? sp->rollback_timeout : tk->timeout;
        tk->retries = sp->retries >= 0 ? sp->retries : dflt_retries;
        tk->backoff = sp->backoff >= 0 ? sp->backoff : dflt_backoff;
        tk->max_backoff = sp->max_backoff >= 0 ? sp->max_backoff : dflt_max_backoff;
        tk->has_rollback = sp->has_rollback;
        tk->pool = -1;
        if (lua_rawgeti(L, pools_of, (lua_Integer)i + 1) == LUA_TSTRING &&
            lua_rawget(L, pool_ids) == LUA_TNUMBER)
            tk->pool = (int)lua_tointeger(L, -1);
        lua_pop(L, 1);
        tk->group = -1;
        if (opts.rollback == PD_ROLLBACK_WORKFLOW) {
            tk->group = 0;
            ngroups = 1;
            continue;
        }
        if (lua_rawgeti(L, groups_of, (lua_Integer)i + 1) == LUA_TSTRING) {
            lua_pushvalue(L, -1);
            if (lua_rawget(L, group_ids) == LUA_TNUMBER) {
                tk->group = (int)lua_tointeger(L, -1);
                lua_pop(L, 1);
            } else {
                lua_pop(L, 1);
                tk->group = ngroups++;
                lua_pushvalue(L, -1);
                lua_pushinteger(L, tk->group);
                lua_rawset(L, group_ids);
            }
        }
        lua_pop(L, 1);
    }
    opts.ngroups = ngroups;

    /* the store the workers read */
    lua_createtable(L, PD_STORE_NKEYS, 0);
    rs.store = lua_gettop(L);
    lua_rawgeti(L, uv, WUV_RUN);
    lua_rawseti(L, rs.store, PD_STORE_RUN);
    lua_rawgeti(L, uv, WUV_ROLLBACK);
    lua_rawseti(L, rs.store, PD_STORE_ROLLBACK);
    lua_rawgeti(L, uv, WUV_IDS);
    lua_rawseti(L, rs.store, PD_STORE_IDS);
    lua_rawgeti(L, uv, WUV_DATA);
    lua_rawseti(L, rs.store, PD_STORE_DATA);
    lua_pushvalue(L, ctx);
    lua_rawseti(L, rs.store, PD_STORE_CTX);
    for (int k = PD_STORE_ERRORS; k <= PD_STORE_PAYLOAD; k++) {
        lua_newtable(L);
        lua_rawseti(L, rs.store, k);
    }
    lua_pushvalue(L, rs.store);
    int store_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    const char *err = NULL;
    pd_exec *x = pd_exec_new(L, wf->g, tasks, &opts, store_ref, &err);
    if (!x) {
        luaL_unref(L, LUA_REGISTRYINDEX, store_ref);
        return luaL_error(L, "wf:run: %s", err);
    }
    rs.x = x;
    /* task handles: {id, attempt, data} with t:log bound to this run */
    lua_createtable(L, 0, 2);
    lua_createtable(L, 0, 1);
    lua_pushinteger(L, (lua_Integer)pd_exec_serial(x));
    lua_pushcclosure(L, task_log, 1);
    lua_setfield(L, -2, "log");
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, "pdlua.task");
    lua_setfield(L, -2, "__name");
    lua_rawseti(L, rs.store, PD_STORE_TASKMT);

    double started_at = realtime();
    if (pd_exec_start(x) != 0) {
        pd_exec_free(L, x);
        return luaL_error(L, "wf:run: cannot start worker threads");
    }
    wf->running = x;

    pd_interrupt *caller = pd_interrupt_current();
    double t0 = pd_exec_started(x);
    double next_tick = rs.on_progress ? t0 + interval : 0;
    lua_pushcfunction(L, deliver);
    int deliver_fn = lua_gettop(L);
    for (;;) {
        pd_unlock();
        pd_exec_wait(x, caller, next_tick, &rs.batch);
        pd_lock();
        int tick = 0;
        if (next_tick > 0 && pd_now() >= next_tick) {
            tick = 1;
            while (next_tick <= pd_now())
                next_tick += interval;
        }
        if (rs.batch.finished) {
            rs.final = 1;
            tick = rs.on_progress != 0;
        }
        lua_pushvalue(L, deliver_fn);
        lua_pushlightuserdata(L, &rs);
        lua_pushboolean(L, tick);
        lua_pushvalue(L, rs.store);
        if (rs.on_event) lua_pushvalue(L, rs.on_event); else lua_pushnil(L);
        if (rs.on_progress) lua_pushvalue(L, rs.on_progress); else lua_pushnil(L);
        if (rs.logger) lua_pushvalue(L, rs.logger); else lua_pushnil(L);
        if (lua_pcall(L, 6, 0, 0) != LUA_OK) {
            /* Out of memory building an event: stop, keep the error. */
            if (rs.callback_error == LUA_NOREF)
                rs.callback_error = luaL_ref(L, LUA_REGISTRYINDEX);
            else
                lua_pop(L, 1);
            pd_exec_cancel(x);
        }
        if (rs.batch.finished)
            break;
    }
    pd_exec_join(x);
    wf->running = NULL;
    pd_exec_batch_free(&rs.batch);
    /* Everything the result allocates stays alive: a collector step now
     * would only re-traverse the heap (with 100,000 tasks, as long as the
     * run itself), so the collector pauses while it is built. */
    int gc_was_running = lua_gc(L, LUA_GCISRUNNING);
    lua_gc(L, LUA_GCSTOP);
    build_result(L, &rs, started_at);
    if (gc_was_running)
        lua_gc(L, LUA_GCRESTART);
    pd_exec_free(L, x);
    if (rs.callback_error != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, rs.callback_error);
        luaL_unref(L, LUA_REGISTRYINDEX, rs.callback_error);
        return lua_error(L);
    }
    return 1;
}

/* --- pd.semaphore ------------------------------------------------------ */

static pd_sem *check_sem(lua_State *L)
{
    return luaL_checkudata(L, 1, SEMAPHORE_META);
}

static int l_semaphore(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 1 && n <= 1000000, 1, "a semaphore needs 1 or more permits");
    pd_sem *s = lua_newuserdatauv(L, sizeof *s, 0);
    pd_sem_init(s, (int)n);
    luaL_setmetatable(L, SEMAPHORE_META);
    return 1;
}

static int sem_gc(lua_State *L)
{
    pd_sem_destroy(check_sem(L));
    return 0;
}

/* Waits for a permit with the lock released. Returns 1 if taken, 0 if the
 * optional timeout passed; raises when the caller's task is stopped. */
static int sem_wait(lua_State *L, pd_sem *s, double timeout)
{
    if (pd_sem_try_acquire(s))
        return 1;
    pd_interrupt *in = pd_interrupt_current();
    double until = timeout >= 0 ? pd_now() + timeout : 0;
    if (timeout == 0)
        return 0;
    pd_unlock();
    int rc = pd_sem_acquire(s, in, until);
    pd_lock();
    if (rc == PD_OK)
        return 1;
    int irc = pd_interrupt_check(in);
    if (irc != PD_OK)
        return pd_core_raise_interrupt(L, irc, "semaphore");
    return 0;
}

/* sem:acquire([timeout]) -> true, or false when timeout seconds passed */
static int sem_acquire(lua_State *L)
{
    pd_sem *s = check_sem(L);
    double timeout = -1;
    if (!lua_isnoneornil(L, 2)) {
        timeout = luaL_checknumber(L, 2);
        luaL_argcheck(L, timeout >= 0, 2, "negative timeout");
    }
    lua_pushboolean(L, sem_wait(L, s, timeout));
    return 1;
}

static int sem_try_acquire(lua_State *L)
{
    lua_pushboolean(L, pd_sem_try_acquire(check_sem(L)));
    return 1;
}

static int sem_release(lua_State *L)
{
    if (pd_sem_release(check_sem(L)) != 0)
        return pd_error_raise(L, 0, "invalidArgument",
                              "semaphore: release without a matching acquire", 0);
    return 0;
}

static int sem_available(lua_State *L)
{
    lua_pushinteger(L, pd_sem_available(check_sem(L)));
    return 1;
}

/* sem:with(fn, ...) -> fn's results; the permit is released even if fn
 * raises (the error is then re-raised). */
static int sem_with(lua_State *L)
{
    pd_sem *s = check_sem(L);
    luaL_checkany(L, 2);
    sem_wait(L, s, -1);
    int base = 1;
    int st = lua_pcall(L, lua_gettop(L) - 2, LUA_MULTRET, 0);
    pd_sem_release(s);
    if (st != LUA_OK)
        return lua_error(L);
    return lua_gettop(L) - base;
}

static int sem_tostring(lua_State *L)
{
    pd_sem *s = check_sem(L);
    lua_pushfstring(L, "pdlua.semaphore (%d of %d free)", pd_sem_available(s), s->capacity);
    return 1;
}

/* --- module ------------------------------------------------------------ */

/* engine.configure{result_mt=, progress_printer=, logger=} */
static int l_configure(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, REG_CONFIG);
    return 0;
}

int luaopen_pdlua_engine(lua_State *L)
{
    /* A workflow's __index is a function (wf_index): it answers `name`
     * and `running`, then looks in the "methods" table. */
    static const luaL_Reg wf_methods[] = {
        {"task", wf_task}, {"order", wf_order}, {"levels", wf_levels},
        {"dot", wf_dot}, {"run", wf_run}, {"cancel", wf_cancel},
        {"critical_path", wf_critical_path}, {NULL, NULL},
    };
    static const luaL_Reg wf_meta[] = {
        {"__index", wf_index}, {"__gc", wf_gc}, {"__len", wf_len},
        {"__tostring", wf_tostring}, {NULL, NULL},
    };
    if (pd_luaclass_metatable(L, WORKFLOW_META, NULL, wf_meta)) {
        luaL_newlib(L, wf_methods);
        lua_setfield(L, -2, "methods");
    }
    lua_pop(L, 1);
    static const luaL_Reg sem_methods[] = {
        {"acquire", sem_acquire}, {"try_acquire", sem_try_acquire},
        {"release", sem_release}, {"available", sem_available},
        {"with", sem_with}, {NULL, NULL},
    };
    static const luaL_Reg sem_meta[] = {
        {"__gc", sem_gc}, {"__tostring", sem_tostring}, {NULL, NULL},
    };
    pd_luaclass_metatable(L, SEMAPHORE_META, sem_methods, sem_meta);
    lua_pop(L, 1);

    static const luaL_Reg fns[] = {
        {"workflow", l_workflow},
        {"context", pd_context_l_new},
        {"semaphore", l_semaphore},
        {"configure", l_configure},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    lua_createtable(L, PD_TASK_NSTATES, 0);
    for (int s = 0; s < PD_TASK_NSTATES; s++) {
        lua_pushstring(L, pd_task_state_name(s));
        lua_rawseti(L, -2, s + 1);
    }
    lua_setfield(L, -2, "states");
    return 1;
}
