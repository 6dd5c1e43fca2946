/*
 * engine_lua.c — the `pdlua.engine` module: workflow(name), context(...)
 * (context.c), semaphore(n), the task states, and configure{} through which
 * lua/pdlua/init.lua supplies the Lua-side pieces (the result metatable
 * with :to_json, the default progress printer, the default log printer).
 * Also the readers of option tables shared by wf:task and wf:run. The other
 * engine bindings are listed in include/pdlua/engine_lua.h.
 *
 * Errors (include/pdlua/error.h): a misused call raises a string through
 * luaL_check*; a bad value in an option table raises a pdlua error with
 * exit_code = 2 through pd_error_raisef.
 */
#include "pdlua/context.h"
#include "pdlua/engine_lua.h"
#include "pdlua/modules.h"

#include <lauxlib.h>
#include <math.h>
#include <string.h>

#define REG_CONFIG "pdlua.engine.config"

void pd_engine_set(lua_State *L, const char *field, double v, int integer)
{
    if (integer)
        lua_pushinteger(L, (lua_Integer)v);
    else
        lua_pushnumber(L, v);
    lua_setfield(L, -2, field);
}

void pd_engine_push_config(lua_State *L, const char *field)
{
    lua_getfield(L, LUA_REGISTRYINDEX, REG_CONFIG);
    if (lua_istable(L, -1))
        lua_getfield(L, -1, field);
    else
        lua_pushnil(L);
    lua_remove(L, -2);
}

int pd_engine_callable(lua_State *L, int idx)
{
    if (lua_isfunction(L, idx))
        return 1;
    if (luaL_getmetafield(L, idx, "__call") != LUA_TNIL) {
        lua_pop(L, 1);
        return 1;
    }
    return 0;
}

const char *pd_engine_unknown_key(lua_State *L, int idx, const char *const *known)
{
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        int ok = 0;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (int k = 0; known[k] && !ok; k++)
                ok = strcmp(lua_tostring(L, -1), known[k]) == 0;
        if (!ok)
            return luaL_tolstring(L, -1, NULL);
    }
    return NULL;
}

double pd_engine_seconds(lua_State *L, int idx, const char *field, double dflt,
                         const char *what)
{
    int type = lua_getfield(L, idx, field);
    double v = dflt;
    if (type == LUA_TNUMBER) {
        v = lua_tonumber(L, -1);
        if (!(v >= 0) || isinf(v))
            pd_raise_input(L, "invalidArgument", "%s: '%s' must be a number of seconds >= 0",
                           what, field);
    } else if (type == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
        v = 0;
    } else if (type != LUA_TNIL) {
        pd_raise_input(L, "invalidArgument", "%s: '%s' must be a number of seconds, not %s",
                       what, field, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return v;
}

/* The integer >= 0 on top of the stack (popped), raising otherwise. */
static int count_on_top(lua_State *L, const char *what, const char *field)
{
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
        pd_raise_input(L, "invalidArgument", "%s: '%s' must be an integer >= 0", what, field);
    int n = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    return n;
}

void pd_engine_retries(lua_State *L, int idx, const char *what, int *max,
                       double *backoff, double *max_backoff)
{
    static const char *const known[] = {"max", "backoff", "max_backoff", NULL};
    int type = lua_getfield(L, idx, "retries");
    if (type == LUA_TNUMBER) {
        *max = count_on_top(L, what, "retries");
        return;
    }
    if (type == LUA_TTABLE) {
        int t = lua_absindex(L, -1);
        const char *k = pd_engine_unknown_key(L, t, known);
        if (k)
            pd_raise_input(L, "invalidArgument",
                           "%s: unknown field '%s' in 'retries' (max, backoff, max_backoff)",
                           what, lua_type(L, -2) == LUA_TSTRING ? k : "?");
        if (lua_getfield(L, t, "max") != LUA_TNIL)
            *max = count_on_top(L, what, "retries.max");
        else
            lua_pop(L, 1);
        *backoff = pd_engine_seconds(L, t, "backoff", *backoff, what);
        *max_backoff = pd_engine_seconds(L, t, "max_backoff", *max_backoff, what);
    } else if (type != LUA_TNIL) {
        pd_raise_input(L, "invalidArgument", "%s: 'retries' must be a number or a table", what);
    }
    lua_pop(L, 1);
}

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
    pd_workflow_register(L);
    pd_semaphore_register(L);
    static const luaL_Reg fns[] = {
        {"workflow", pd_workflow_l_new},
        {"context", pd_context_l_new},
        {"semaphore", pd_semaphore_l_new},
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
