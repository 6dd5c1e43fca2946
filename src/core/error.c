/*
 * error.c — the structured error value, and the only functions that raise
 * one (see include/pdlua/error.h, which also states the error rule).
 */
#include "pdlua/error.h"

#include <lauxlib.h>
#include <stdarg.h>

static int error_tostring(lua_State *L)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_getfield(L, 1, "reason");
    const char *reason = lua_tostring(L, -1);
    lua_getfield(L, 1, "code");
    int has_code = lua_isinteger(L, -1);
    lua_Integer code = has_code ? lua_tointeger(L, -1) : 0;
    lua_getfield(L, 1, "message");
    const char *message = lua_tostring(L, -1);
    lua_pop(L, 3);
    luaL_addstring(&b, reason ? reason : "error");
    if (has_code) {
        lua_pushfstring(L, " (%d)", (int)code);
        luaL_addvalue(&b);
    }
    if (message) {
        luaL_addstring(&b, ": ");
        lua_getfield(L, 1, "message");
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    return 1;
}

void pd_error_init(lua_State *L)
{
    if (luaL_newmetatable(L, PD_ERROR_META)) {
        lua_pushcfunction(L, error_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushstring(L, "pdlua.error");
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
}

void pd_error_push(lua_State *L, int code, const char *reason,
                   const char *message, int retryable)
{
    lua_createtable(L, 0, 4);
    if (code > 0) {
        lua_pushinteger(L, code);
        lua_setfield(L, -2, "code");
    }
    lua_pushstring(L, reason ? reason : "error");
    lua_setfield(L, -2, "reason");
    lua_pushstring(L, message ? message : "");
    lua_setfield(L, -2, "message");
    lua_pushboolean(L, retryable);
    lua_setfield(L, -2, "retryable");
    pd_error_init(L);
    luaL_setmetatable(L, PD_ERROR_META);
}

int pd_error_raise(lua_State *L, int code, const char *reason,
                   const char *message, int retryable)
{
    pd_error_push(L, code, reason, message, retryable);
    return lua_error(L);
}

int pd_error_raisef(lua_State *L, const char *reason, int exit_code,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *msg = lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    pd_error_push(L, 0, reason, msg, 0);
    if (exit_code > 0) {
        lua_pushinteger(L, exit_code);
        lua_setfield(L, -2, "exit_code");
    }
    return lua_error(L);
}

int pd_error_throw(lua_State *L)
{
    return lua_error(L);
}

int pd_error_is(lua_State *L, int idx)
{
    if (!lua_istable(L, idx) || !lua_getmetatable(L, idx))
        return 0;
    luaL_getmetatable(L, PD_ERROR_META);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same;
}

void pd_error_normalize(lua_State *L)
{
    if (pd_error_is(L, -1))
        return;
    const char *msg = luaL_tolstring(L, -1, NULL);
    pd_error_push(L, 0, "error", msg, 0);
    lua_replace(L, -3);
    lua_pop(L, 1);
}

int pd_error_l_new(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TSTRING) {
        pd_error_push(L, 0, "error", lua_tostring(L, 1), 0);
        return 1;
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    if (lua_getfield(L, 1, "reason") == LUA_TNIL) {
        lua_pushstring(L, "error");
        lua_setfield(L, 1, "reason");
    }
    if (lua_getfield(L, 1, "message") == LUA_TNIL) {
        lua_getfield(L, 1, "reason");
        lua_setfield(L, 1, "message");
    }
    if (lua_getfield(L, 1, "retryable") == LUA_TNIL) {
        lua_pushboolean(L, 0);
        lua_setfield(L, 1, "retryable");
    }
    lua_settop(L, 1);
    pd_error_init(L);
    luaL_setmetatable(L, PD_ERROR_META);
    return 1;
}

int pd_error_l_is(lua_State *L)
{
    lua_pushboolean(L, pd_error_is(L, 1));
    return 1;
}
