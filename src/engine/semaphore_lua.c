/*
 * semaphore_lua.c — pd.semaphore(n): a counting semaphore for a section
 * inside tasks (src/engine/semaphore.c), waited on with the interpreter
 * lock released so that other tasks run meanwhile.
 *
 * Errors (include/pdlua/error.h): a misused call raises a string through
 * luaL_check*; a release without an acquire, and a wait ended by the
 * task's timeout or cancel, raise pdlua errors (pd_error_raise).
 */
#include "pdlua/core.h"
#include "pdlua/engine_lua.h"
#include "pdlua/luaclass.h"
#include "pdlua/runtime.h"
#include "pdlua/semaphore.h"

#include <lauxlib.h>

#define SEMAPHORE_META "pdlua.semaphore"

static pd_sem *check_sem(lua_State *L)
{
    return luaL_checkudata(L, 1, SEMAPHORE_META);
}

int pd_semaphore_l_new(lua_State *L)
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
    if (timeout == 0)
        return 0;
    pd_interrupt *in = pd_interrupt_current();
    double until = timeout >= 0 ? pd_now() + timeout : 0;
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
 * raises (the error is then passed on unchanged). */
static int sem_with(lua_State *L)
{
    pd_sem *s = check_sem(L);
    luaL_checkany(L, 2);
    sem_wait(L, s, -1);
    int st = lua_pcall(L, lua_gettop(L) - 2, LUA_MULTRET, 0);
    pd_sem_release(s);
    if (st != LUA_OK)
        return lua_error(L);
    return lua_gettop(L) - 1;
}

static int sem_tostring(lua_State *L)
{
    pd_sem *s = check_sem(L);
    lua_pushfstring(L, "pdlua.semaphore (%d of %d free)", pd_sem_available(s), s->capacity);
    return 1;
}

void pd_semaphore_register(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"acquire", sem_acquire}, {"try_acquire", sem_try_acquire},
        {"release", sem_release}, {"available", sem_available},
        {"with", sem_with}, {NULL, NULL},
    };
    static const luaL_Reg meta[] = {
        {"__gc", sem_gc}, {"__tostring", sem_tostring}, {NULL, NULL},
    };
    pd_luaclass_metatable(L, SEMAPHORE_META, methods, meta);
    lua_pop(L, 1);
}
