/*
 * workflow_lua.c — building a workflow from Lua: pd.workflow(name),
 * wf:task{...}, and the graph queries wf:order, wf:levels, wf:dot,
 * wf:critical_path, plus wf:cancel, #wf, wf.name and wf.running. The graph
 * itself is src/engine/graph.c; the Lua values of each task (run,
 * rollback, id, data, pool, group) are kept in the workflow's user value.
 *
 * Errors (include/pdlua/error.h): a misused call raises a string through
 * luaL_check*; a bad task, a cycle or an unknown dependency raises a pdlua
 * error (reason "invalidWorkflow", exit_code = 2) through pd_error_raisef.
 */
#include "pdlua/engine_lua.h"
#include "pdlua/heap.h"
#include "pdlua/luaclass.h"

#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

pd_workflow *pd_workflow_check(lua_State *L)
{
    pd_workflow *wf = luaL_checkudata(L, 1, PD_WORKFLOW_META);
    if (!wf->g)
        luaL_error(L, "workflow already closed");
    return wf;
}

void pd_workflow_validate(lua_State *L, pd_workflow *wf)
{
    if (pd_graph_validate(wf->g) != 0)
        pd_raise_input(L, "invalidWorkflow", "workflow '%s': %s", wf->name,
                       pd_graph_error(wf->g));
}

static int wf_gc(lua_State *L)
{
    pd_workflow *wf = luaL_checkudata(L, 1, PD_WORKFLOW_META);
    pd_graph_free(wf->g);
    wf->g = NULL;
    free(wf->name);
    wf->name = NULL;
    free(wf->specs);
    wf->specs = NULL;
    return 0;
}

int pd_workflow_l_new(lua_State *L)
{
    const char *name = luaL_optstring(L, 1, "workflow");
    pd_workflow *wf = lua_newuserdatauv(L, sizeof *wf, 1);
    memset(wf, 0, sizeof *wf);
    luaL_setmetatable(L, PD_WORKFLOW_META);
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

/* --- wf:task ------------------------------------------------------------ */

/* Stack slots of wf:task while it reads the task table (slot 2). */
enum { T_ID = 3, T_RUN, T_ROLLBACK, T_POOL, T_GROUP, T_WEIGHT, T_DEPS };

/* Checks the id and the fields of the task table; leaves the id at T_ID. */
static const char *task_id(lua_State *L, pd_workflow *wf)
{
    static const char *const known[] = {
        "id", "run", "rollback", "deps", "timeout", "rollback_timeout", "retries",
        "pool", "group", "weight", "data", NULL,
    };
    if (wf->running)
        pd_raise_input(L, "invalidWorkflow", "workflow '%s': cannot add tasks while it runs",
                       wf->name);
    if (lua_getfield(L, 2, "id") != LUA_TSTRING || lua_rawlen(L, -1) == 0)
        pd_raise_input(L, "invalidWorkflow",
                       "workflow '%s': a task needs an id (a non-empty string)", wf->name);
    const char *id = lua_tostring(L, T_ID);
    const char *k = pd_engine_unknown_key(L, 2, known);
    if (k)
        pd_raise_input(L, "invalidWorkflow", "task '%s': unknown field '%s'", id, k);
    return id;
}

/* Reads run, rollback, pool, group and weight (onto their T_ slots) and
 * the timeouts and retries. */
static pd_task_spec task_settings(lua_State *L, const char *id, double *weight)
{
    lua_getfield(L, 2, "run");
    if (!pd_engine_callable(L, T_RUN))
        pd_raise_input(L, "invalidWorkflow", "task '%s': 'run' must be a function", id);
    lua_getfield(L, 2, "rollback");
    if (!lua_isnil(L, T_ROLLBACK) && !pd_engine_callable(L, T_ROLLBACK))
        pd_raise_input(L, "invalidWorkflow", "task '%s': 'rollback' must be a function", id);
    static const char *const names[] = {"pool", "group"};
    for (int k = 0; k < 2; k++) {
        int tp = lua_getfield(L, 2, names[k]);
        if (tp != LUA_TNIL && tp != LUA_TSTRING)
            pd_raise_input(L, "invalidWorkflow", "task '%s': '%s' must be a string", id,
                           names[k]);
    }
    *weight = 1;
    if (lua_getfield(L, 2, "weight") != LUA_TNIL) {
        *weight = lua_tonumber(L, T_WEIGHT);
        if (!lua_isnumber(L, T_WEIGHT) || !(*weight >= 0) || isinf(*weight))
            pd_raise_input(L, "invalidWorkflow", "task '%s': 'weight' must be a number >= 0",
                           id);
    }
    pd_task_spec spec = {-1, -1, -1, -1, -1, !lua_isnil(L, T_ROLLBACK)};
    const char *what = lua_pushfstring(L, "task '%s'", id);
    spec.timeout = pd_engine_seconds(L, 2, "timeout", -1, what);
    spec.rollback_timeout = pd_engine_seconds(L, 2, "rollback_timeout", -1, what);
    pd_engine_retries(L, 2, what, &spec.retries, &spec.backoff, &spec.max_backoff);
    lua_pop(L, 1);
    return spec;
}

/* deps: a list of ids, or one id. Pushes the deps value at T_DEPS; the
 * names stay anchored by it. */
static const char **task_deps(lua_State *L, const char *id, const char **one, size_t *ndeps)
{
    const char **deps = one;
    *ndeps = 0;
    int dt = lua_getfield(L, 2, "deps");
    if (dt == LUA_TSTRING) {
        one[0] = lua_tostring(L, T_DEPS);
        *ndeps = 1;
    } else if (dt == LUA_TTABLE) {
        *ndeps = lua_rawlen(L, T_DEPS);
        if (*ndeps > 1)
            deps = lua_newuserdatauv(L, *ndeps * sizeof *deps, 0);   /* GC'd */
        for (size_t k = 0; k < *ndeps; k++) {
            if (lua_rawgeti(L, T_DEPS, (lua_Integer)k + 1) != LUA_TSTRING)
                pd_raise_input(L, "invalidWorkflow",
                               "task '%s': deps[%d] must be a task id (a string)", id,
                               (int)k + 1);
            deps[k] = lua_tostring(L, -1);
            lua_pop(L, 1);
        }
    } else if (dt != LUA_TNIL) {
        pd_raise_input(L, "invalidWorkflow", "task '%s': 'deps' must be a list of ids", id);
    }
    return deps;
}

/* Keeps the task's Lua values in the workflow's user value tables. */
static void store_task(lua_State *L, int i)
{
    static const struct { int slot; int idx; } store[] = {
        {WUV_RUN, T_RUN}, {WUV_ROLLBACK, T_ROLLBACK}, {WUV_IDS, T_ID},
        {WUV_POOL, T_POOL}, {WUV_GROUP, T_GROUP}, {WUV_DATA, 0},
    };
    lua_getfield(L, 2, "data");
    int data = lua_gettop(L);
    lua_getiuservalue(L, 1, 1);
    for (size_t k = 0; k < sizeof store / sizeof store[0]; k++) {
        int idx = store[k].idx ? store[k].idx : data;
        if (lua_isnil(L, idx))
            continue;
        lua_rawgeti(L, -1, store[k].slot);
        lua_pushvalue(L, idx);
        lua_rawseti(L, -2, i + 1);
        lua_pop(L, 1);
    }
}

/* wf:task{id=, run=, rollback=, deps=, timeout=, rollback_timeout=,
 *         retries=, pool=, group=, weight=, data=} -> id */
static int wf_task(lua_State *L)
{
    pd_workflow *wf = pd_workflow_check(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    const char *id = task_id(L, wf);
    double weight;
    pd_task_spec spec = task_settings(L, id, &weight);
    const char *one[1];
    size_t ndeps;
    const char **deps = task_deps(L, id, one, &ndeps);
    if (pd_grow(&wf->specs, &wf->cap, pd_graph_count(wf->g) + 1, sizeof *wf->specs) != 0)
        return luaL_error(L, "out of memory");
    int i = pd_graph_add(wf->g, id, deps, ndeps, weight);
    if (i < 0)
        return pd_raise_input(L, "invalidWorkflow", "workflow '%s': %s", wf->name,
                              pd_graph_error(wf->g));
    wf->specs[i] = spec;
    store_task(L, i);
    lua_pushvalue(L, T_ID);
    return 1;
}

/* --- queries -------------------------------------------------------------- */

static void push_ids(lua_State *L, const pd_graph *g, const int *ts, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t k = 0; k < n; k++) {
        lua_pushstring(L, pd_graph_id(g, ts[k]));
        lua_rawseti(L, -2, (lua_Integer)k + 1);
    }
}

/* The workflow's graph, validated. */
static pd_graph *valid_graph(lua_State *L)
{
    pd_workflow *wf = pd_workflow_check(L);
    pd_workflow_validate(L, wf);
    return wf->g;
}

/* wf:order() -> {id, ...} dependencies first */
static int wf_order(lua_State *L)
{
    pd_graph *g = valid_graph(L);
    push_ids(L, g, pd_graph_order(g), pd_graph_count(g));
    return 1;
}

/* wf:levels() -> {{id, ...}, ...}: level 1 has no dependencies */
static int wf_levels(lua_State *L)
{
    pd_graph *g = valid_graph(L);
    int nl = pd_graph_nlevels(g);
    lua_createtable(L, nl, 0);
    for (int l = 0; l < nl; l++) {
        size_t n;
        const int *ts = pd_graph_level_tasks(g, l, &n);
        push_ids(L, g, ts, n);
        lua_rawseti(L, -2, l + 1);
    }
    return 1;
}

static int wf_dot(lua_State *L)
{
    char *dot = pd_graph_dot(valid_graph(L), pd_workflow_check(L)->name);
    if (!dot)
        return luaL_error(L, "out of memory");
    lua_pushstring(L, dot);
    free(dot);
    return 1;
}

/* wf:critical_path() -> total weight of the heaviest dependency chain */
static int wf_critical_path(lua_State *L)
{
    lua_pushnumber(L, pd_graph_critical_path(valid_graph(L)));
    return 1;
}

/* wf:cancel([{drain = true}]): with drain, the running tasks are left to
 * finish instead of being interrupted. */
static int wf_cancel(lua_State *L)
{
    pd_workflow *wf = pd_workflow_check(L);
    int drain = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_getfield(L, 2, "drain");
        drain = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    if (wf->running) {
        if (drain)
            pd_exec_drain(wf->running);
        else
            pd_exec_cancel(wf->running);
    }
    lua_pushboolean(L, wf->running != NULL);
    return 1;
}

static int wf_len(lua_State *L)
{
    pd_workflow *wf = pd_workflow_check(L);
    lua_pushinteger(L, (lua_Integer)pd_graph_count(wf->g));
    return 1;
}

/* A workflow's __index answers `name` and `running`, then looks in the
 * "methods" table of its metatable. */
static int wf_index(lua_State *L)
{
    pd_workflow *wf = pd_workflow_check(L);
    const char *k = lua_tostring(L, 2);
    if (k && strcmp(k, "name") == 0) {
        lua_pushstring(L, wf->name);
        return 1;
    }
    if (k && strcmp(k, "running") == 0) {
        lua_pushboolean(L, wf->running != NULL);
        return 1;
    }
    luaL_getmetatable(L, PD_WORKFLOW_META);
    lua_getfield(L, -1, "methods");
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
}

static int wf_tostring(lua_State *L)
{
    pd_workflow *wf = pd_workflow_check(L);
    lua_pushfstring(L, "pdlua.workflow '%s' (%d tasks)", wf->name,
                    (int)pd_graph_count(wf->g));
    return 1;
}

void pd_workflow_register(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"task", wf_task}, {"order", wf_order}, {"levels", wf_levels},
        {"dot", wf_dot}, {"run", pd_run_l_run}, {"cancel", wf_cancel},
        {"critical_path", wf_critical_path}, {NULL, NULL},
    };
    static const luaL_Reg meta[] = {
        {"__index", wf_index}, {"__gc", wf_gc}, {"__len", wf_len},
        {"__tostring", wf_tostring}, {NULL, NULL},
    };
    if (pd_luaclass_metatable(L, PD_WORKFLOW_META, NULL, meta)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "methods");
    }
    lua_pop(L, 1);
}
