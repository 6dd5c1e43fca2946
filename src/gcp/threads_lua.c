/*
 * threads_lua.c — core._run_threads(n, fn [, opts]): runs a Lua function on
 * n OS threads at once, the way the engine's workers run tasks (one
 * coroutine per thread, the interpreter lock taken to run Lua and released
 * by blocking C calls, a pd_interrupt per thread).
 *
 * It exists so the client's thread-safety, rate limiter, single-flight
 * token refresh and cancellation can be tested and benchmarked with many
 * threads independently of the engine. opts.timeout gives each thread a
 * deadline; opts.cancel_after cancels every thread's interrupt after that
 * many seconds (measuring how promptly blocked calls give up).
 *
 * Returns a list of {ok = true, value = v} or {ok = false, error = e}, each
 * with `finished` (pd.now() when the function returned), and, when
 * cancel_after was given, the pd.now() of the cancel as a second result.
 * Errors (include/pdlua/error.h): only a misused call or out of memory
 * raises (a string: luaL_check*, luaL_error); the threads' errors are data.
 */
#include "pdlua/gcp_lua.h"
#include "pdlua/interrupt.h"
#include "pdlua/runtime.h"

#include <lauxlib.h>
#include <stdlib.h>

typedef struct worker {
    pthread_t thread;
    lua_State *co;
    lua_Integer index;
    pd_interrupt in;
    int status;
    int started;
    double finished;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    pd_interrupt *prev = pd_interrupt_swap(&w->in);
    pd_lock();
    int nres = 0;
    w->status = lua_resume(w->co, NULL, 2, &nres);
    if (w->status == LUA_OK && nres > 1)
        lua_pop(w->co, nres - 1);
    if (w->status == LUA_OK && nres == 0)
        lua_pushnil(w->co);
    pd_unlock();
    w->finished = pd_now();
    pd_interrupt_swap(prev);
    return NULL;
}

int pd_gcp_l_run_threads(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 1 && n <= 512, 1, "between 1 and 512 threads");
    luaL_checktype(L, 2, LUA_TFUNCTION);
    double timeout = 0, cancel_after = -1;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "timeout");
        timeout = luaL_optnumber(L, -1, 0);
        lua_getfield(L, 3, "cancel_after");
        cancel_after = luaL_optnumber(L, -1, -1);
        lua_getfield(L, 3, "arg");
        lua_replace(L, 3);
        lua_pop(L, 2);
    } else {
        lua_settop(L, 2);
        lua_pushnil(L);
    }
    lua_settop(L, 3);
    luaL_checkstack(L, (int)n + 8, "too many threads");
    worker *ws = calloc((size_t)n, sizeof *ws);
    if (!ws)
        return luaL_error(L, "out of memory");
    double deadline = timeout > 0 ? pd_now() + timeout : 0;
    int base = lua_gettop(L);
    for (lua_Integer i = 0; i < n; i++) {
        worker *w = &ws[i];
        w->co = lua_newthread(L);      /* anchored on our stack */
        w->index = i + 1;
        lua_pushvalue(L, 2);
        lua_pushinteger(L, w->index);
        lua_pushvalue(L, 3);
        lua_xmove(L, w->co, 3);        /* fn(i, arg) */
        pd_interrupt_init(&w->in, deadline);
    }

    pd_unlock();
    for (lua_Integer i = 0; i < n; i++)
        ws[i].started = pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) == 0;
    double cancelled_at = 0;
    if (cancel_after >= 0) {
        pd_interrupt_sleep(pd_interrupt_current(), cancel_after);
        cancelled_at = pd_now();
        for (lua_Integer i = 0; i < n; i++)
            pd_interrupt_cancel(&ws[i].in);
    }
    for (lua_Integer i = 0; i < n; i++)
        if (ws[i].started)
            pthread_join(ws[i].thread, NULL);
    pd_lock();

    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 0; i < n; i++) {
        worker *w = &ws[i];
        lua_createtable(L, 0, 3);
        if (!w->started) {
            lua_pushboolean(L, 0);
            lua_setfield(L, -2, "ok");
            lua_pushstring(L, "cannot start a thread");
            lua_setfield(L, -2, "error");
        } else {
            int ok = w->status == LUA_OK;
            lua_pushboolean(L, ok);
            lua_setfield(L, -2, "ok");
            if (w->status == LUA_YIELD)
                lua_pushstring(L, "the function yielded");
            else
                lua_xmove(w->co, L, 1);
            lua_setfield(L, -2, ok ? "value" : "error");
            lua_pushnumber(L, w->finished);
            lua_setfield(L, -2, "finished");
        }
        lua_rawseti(L, -2, i + 1);
        pd_interrupt_destroy(&w->in);
    }
    free(ws);
    lua_replace(L, base + 1);
    lua_settop(L, base + 1);
    if (cancel_after >= 0) {
        lua_pushnumber(L, cancelled_at);
        return 2;
    }
    return 1;
}
