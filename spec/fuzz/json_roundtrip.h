/*
 * json_roundtrip.h — the property the JSON fuzz target and the C JSON test
 * (spec/c/json_test.c) both check: text the parser accepts decodes to a
 * Lua value (pd_json_push) that encodes again (pd_json_encode_lua) to
 * text that decodes to the same value.
 */
#ifndef PDLUA_SPEC_JSON_ROUNDTRIP_H
#define PDLUA_SPEC_JSON_ROUNDTRIP_H

#include "pdlua/json_lua.h"

#include <lauxlib.h>
#include <string.h>

/* A state with what the conversion needs: the array metatable. */
static lua_State *rt_state(void)
{
    lua_State *L = luaL_newstate();
    if (L) {
        pd_json_lua_init(L);
    }
    return L;
}

/* Whether the values at a and b are the same: numbers by value (1 and 1.0
 * alike), tables key by key, arrays and objects told apart. */
static int rt_same(lua_State *L, int a, int b)
{
    luaL_checkstack(L, 4, "nested too deeply");
    a = lua_absindex(L, a);
    b = lua_absindex(L, b);
    if (lua_type(L, a) != lua_type(L, b))
        return 0;
    if (lua_type(L, a) != LUA_TTABLE)
        return lua_rawequal(L, a, b);
    int ma = lua_getmetatable(L, a), mb = lua_getmetatable(L, b);
    lua_pop(L, ma + mb);
    if (ma != mb || lua_rawlen(L, a) != lua_rawlen(L, b))
        return 0;
    size_t na = 0, nb = 0;
    lua_pushnil(L);
    while (lua_next(L, a)) {
        na++;
        lua_pushvalue(L, -2);
        lua_rawget(L, b);
        int same = rt_same(L, -2, -1);
        lua_pop(L, 2);
        if (!same) {
            lua_pop(L, 1);
            return 0;
        }
    }
    lua_pushnil(L);
    while (lua_next(L, b)) {
        nb++;
        lua_pop(L, 1);
    }
    return na == nb;
}

/* Decodes text and pushes the value; returns 0, or -1 (nothing pushed) when
 * the parser rejects it. */
static int rt_decode(lua_State *L, const char *text, size_t len, char *err, size_t errlen)
{
    pd_json_doc *doc = pd_json_parse(text, len, err, errlen);
    if (!doc)
        return -1;
    pd_json_push(L, pd_json_root(doc));
    pd_json_free(doc);
    return 0;
}

/* -1: the parser rejects text; 1: it round-trips; 0: it does not (why
 * says how). The stack is left as it was. */
static int rt_check(lua_State *L, const char *text, size_t len, char *why, size_t whylen)
{
    int top = lua_gettop(L);
    if (rt_decode(L, text, len, why, whylen) != 0)
        return -1;
    pd_buf b = {0};
    int rc = 0;
    if (pd_json_encode_lua(L, -1, &b, 0) != 0)
        snprintf(why, whylen, "decoded, but does not encode: %s", lua_tostring(L, -1));
    else if (rt_decode(L, b.data, b.len, why, whylen) != 0)
        ;   /* why: the parser's message about our own output */
    else if (!rt_same(L, -2, -1))
        snprintf(why, whylen, "decodes differently once encoded: %.200s", b.data);
    else
        rc = 1;
    pd_buf_free(&b);
    lua_settop(L, top);
    return rc;
}

#endif
