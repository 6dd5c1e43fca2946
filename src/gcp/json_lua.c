/*
 * json_lua.c — JSON trees (json.h) to Lua tables and Lua values to JSON
 * text, for request bodies and API responses.
 *
 * Why not lua-cjson: the C side already parses every response (without the
 * interpreter lock) to decide on retries and track operations, so turning
 * that tree into tables is the only work left under the lock; and this
 * conversion keeps integers as Lua integers and empty arrays as arrays,
 * which cjson 2.1 does not. What the parser accepts is in json.h; here an
 * integer beyond int64 becomes a string of its digits, and of duplicate
 * member names the last wins.
 *
 * Errors (include/pdlua/error.h): nothing here raises but out of stack;
 * encoding returns -1 with a message that gcp_lua.c raises.
 */
#include "pdlua/gcp_lua.h"

#include <lauxlib.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* An integer that fits int64 becomes a Lua integer, one that does not its
 * digits as a string (exact; Compute Engine sends int64 values as strings
 * anyway); any other number a float. */
static void push_number(lua_State *L, const pd_json *v)
{
    if (!strpbrk(v->str, ".eE")) {
        errno = 0;
        long long i = strtoll(v->str, NULL, 10);
        if (errno == 0)
            lua_pushinteger(L, (lua_Integer)i);
        else
            lua_pushlstring(L, v->str, v->len);
        return;
    }
    lua_pushnumber(L, strtod(v->str, NULL));
}

void pd_gcp_push_json(lua_State *L, const pd_json *v)
{
    luaL_checkstack(L, 4, "JSON nested too deeply");
    switch (v->type) {
    case PD_JSON_NULL: lua_pushlightuserdata(L, NULL); break;
    case PD_JSON_TRUE: lua_pushboolean(L, 1); break;
    case PD_JSON_FALSE: lua_pushboolean(L, 0); break;
    case PD_JSON_NUMBER: push_number(L, v); break;
    case PD_JSON_STRING: lua_pushlstring(L, v->str, v->len); break;
    case PD_JSON_ARRAY: {
        lua_createtable(L, (int)v->count, 0);
        lua_Integer i = 1;
        for (const pd_json *c = v->child; c; c = c->next) {
            pd_gcp_push_json(L, c);
            lua_rawseti(L, -2, i++);
        }
        luaL_setmetatable(L, PD_GCP_ARRAY_META);
        break;
    }
    case PD_JSON_OBJECT:
        lua_createtable(L, 0, (int)v->count);
        for (const pd_json *c = v->child; c; c = c->next) {
            lua_pushlstring(L, c->key, c->klen);
            if (c->type == PD_JSON_NULL)
                lua_pushnil(L);   /* left out; a later duplicate wins */
            else
                pd_gcp_push_json(L, c);
            lua_rawset(L, -3);
        }
        break;
    }
}

/* What kind of table: 1 array (keys 1..n, or marked), 0 object, -1 mixed. */
static int table_kind(lua_State *L, int idx, lua_Integer *n)
{
    *n = (lua_Integer)lua_rawlen(L, idx);
    int marked = 0;
    if (luaL_getmetafield(L, idx, "__name") != LUA_TNIL) {
        marked = strcmp(lua_tostring(L, -1) ? lua_tostring(L, -1) : "", PD_GCP_ARRAY_META) == 0;
        lua_pop(L, 1);
    }
    lua_Integer count = 0;
    int strings = 0, others = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING)
            strings = 1;
        else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 &&
                 lua_tointeger(L, -1) <= *n)
            count++;
        else
            others = 1;
    }
    if (others || (strings && count))
        return -1;
    if (strings)
        return 0;
    if (count == 0)
        return marked ? 1 : 0;     /* {} is an object unless marked */
    return count == *n ? 1 : -1;
}

static int encode(lua_State *L, int idx, pd_buf *b, int depth)
{
    if (depth > PD_JSON_MAX_DEPTH) {
        lua_pushstring(L, "value nested too deeply (a cycle?)");
        return -1;
    }
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        pd_buf_adds(b, "null");
        return 0;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) {
            pd_buf_adds(b, "null");
            return 0;
        }
        break;
    case LUA_TBOOLEAN:
        pd_buf_adds(b, lua_toboolean(L, idx) ? "true" : "false");
        return 0;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            pd_buf_addf(b, "%lld", (long long)lua_tointeger(L, idx));
        } else {
            double d = lua_tonumber(L, idx);
            if (!isfinite(d)) {
                lua_pushstring(L, "cannot encode NaN or infinity as JSON");
                return -1;
            }
            pd_buf_addf(b, "%.17g", d);
        }
        return 0;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        pd_buf_add_json_string(b, s, n);
        return 0;
    }
    case LUA_TTABLE: {
        luaL_checkstack(L, 6, "JSON nested too deeply");
        lua_Integer n;
        int kind = table_kind(L, idx, &n);
        if (kind < 0) {
            lua_pushstring(L, "cannot encode a table with both array and named keys as JSON");
            return -1;
        }
        if (kind == 1) {
            pd_buf_add(b, "[", 1);
            for (lua_Integer i = 1; i <= n; i++) {
                if (i > 1)
                    pd_buf_add(b, ",", 1);
                lua_rawgeti(L, idx, i);
                int rc = encode(L, -1, b, depth + 1);
                if (rc) {
                    lua_remove(L, -2);
                    return rc;
                }
                lua_pop(L, 1);
            }
            pd_buf_add(b, "]", 1);
            return 0;
        }
        pd_buf_add(b, "{", 1);
        int first = 1;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            if (!first)
                pd_buf_add(b, ",", 1);
            first = 0;
            size_t kn;
            const char *k = lua_tolstring(L, -2, &kn);
            pd_buf_add_json_string(b, k, kn);
            pd_buf_add(b, ":", 1);
            int rc = encode(L, -1, b, depth + 1);
            if (rc) {
                lua_remove(L, -2);   /* value */
                lua_remove(L, -2);   /* key */
                return rc;
            }
            lua_pop(L, 1);
        }
        pd_buf_add(b, "}", 1);
        return 0;
    }
    default:
        break;
    }
    lua_pushfstring(L, "cannot encode a %s as JSON", luaL_typename(L, idx));
    return -1;
}

int pd_gcp_encode_json(lua_State *L, int idx, pd_buf *b)
{
    int rc = encode(L, idx, b, 0);
    if (rc == 0 && b->oom) {
        lua_pushstring(L, "out of memory");
        return -1;
    }
    return rc;
}
