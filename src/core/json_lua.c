/*
 * json_lua.c — JSON trees (json.h) to Lua tables and Lua values to JSON
 * text: API responses and request bodies in the client, and the module
 * `pdlua.json.core` behind `pdlua.json`, the one JSON codec of pdlua and
 * pdlua-emu (reports, plans, journals, events, the emulator's bodies).
 *
 * Why not lua-cjson: the client already parses every response in C
 * (without the interpreter lock) to decide on retries and track
 * operations, so turning that tree into tables is the only work left under
 * the lock; and this conversion keeps integers as Lua integers and empty
 * arrays as arrays, which cjson 2.1 does not. What the parser accepts is
 * in json.h; here an integer beyond int64 becomes a string of its digits,
 * and of duplicate member names the last wins.
 *
 * Errors (include/pdlua/error.h): pd_json_encode_lua returns -1 with a
 * message; the module's encode raises it as "invalidArgument", decode a
 * parse error as "malformedResponse"; decode_safe returns nil and the
 * message instead.
 */
#include "pdlua/error.h"
#include "pdlua/json_lua.h"

#include <lauxlib.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void pd_json_lua_init(lua_State *L)
{
    luaL_newmetatable(L, PD_JSON_ARRAY_META);
    lua_pop(L, 1);
}

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

void pd_json_push(lua_State *L, const pd_json *v)
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
            pd_json_push(L, c);
            lua_rawseti(L, -2, i++);
        }
        luaL_setmetatable(L, PD_JSON_ARRAY_META);
        break;
    }
    case PD_JSON_OBJECT:
        lua_createtable(L, 0, (int)v->count);
        for (const pd_json *c = v->child; c; c = c->next) {
            lua_pushlstring(L, c->key, c->klen);
            if (c->type == PD_JSON_NULL)
                lua_pushnil(L);   /* left out; a later duplicate wins */
            else
                pd_json_push(L, c);
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
        marked = strcmp(lua_tostring(L, -1) ? lua_tostring(L, -1) : "", PD_JSON_ARRAY_META) == 0;
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

/* A float as the shortest text that reads back as the same double; an
 * integral one below 2^53 without exponent or fraction. */
static void add_float(pd_buf *b, double d)
{
    if (d == floor(d) && fabs(d) < 9007199254740992.0) {
        pd_buf_addf(b, "%lld", (long long)d);
        return;
    }
    char s[32];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, d);
        if (strtod(s, NULL) == d)
            break;
    }
    pd_buf_adds(b, s);
}

static void newline(pd_buf *b, int flags, int depth)
{
    if (!(flags & PD_JSON_PRETTY))
        return;
    pd_buf_add(b, "\n", 1);
    for (int i = 0; i < depth; i++)
        pd_buf_add(b, "  ", 2);
}

typedef struct {
    const char *s;
    size_t n;
} key;

static int cmp_keys(const void *a, const void *b)
{
    const key *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

static int encode(lua_State *L, int idx, pd_buf *b, int flags, int depth);

/* Appends the member whose key is at -2 and value at -1 (both kept). */
static int encode_member(lua_State *L, pd_buf *b, int flags, int depth, int first)
{
    if (!first)
        pd_buf_add(b, ",", 1);
    newline(b, flags, depth + 1);
    size_t kn;
    const char *k = lua_tolstring(L, -2, &kn);
    pd_buf_add_json_string(b, k, kn);
    pd_buf_adds(b, flags & PD_JSON_PRETTY ? ": " : ":");
    return encode(L, -1, b, flags, depth + 1);
}

static int encode_object(lua_State *L, int idx, pd_buf *b, int flags, int depth)
{
    pd_buf_add(b, "{", 1);
    int first = 1;
    if (flags & PD_JSON_SORTED) {
        /* the names, anchored in the table itself while they are sorted */
        size_t n = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pop(L, 1);
            n++;
        }
        key *keys = n ? malloc(n * sizeof *keys) : NULL;
        if (n && !keys) {
            lua_pushstring(L, "out of memory");
            return -1;
        }
        size_t i = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pop(L, 1);
            keys[i].s = lua_tolstring(L, -1, &keys[i].n);
            i++;
        }
        if (n > 1)
            qsort(keys, n, sizeof *keys, cmp_keys);
        for (i = 0; i < n; i++) {
            lua_pushlstring(L, keys[i].s, keys[i].n);
            lua_pushvalue(L, -1);
            lua_rawget(L, idx);
            int rc = encode_member(L, b, flags, depth, first);
            first = 0;
            if (rc) {
                lua_remove(L, -2);   /* value */
                lua_remove(L, -2);   /* key */
                free(keys);
                return rc;
            }
            lua_pop(L, 2);
        }
        free(keys);
    } else {
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            int rc = encode_member(L, b, flags, depth, first);
            first = 0;
            if (rc) {
                lua_remove(L, -2);   /* value */
                lua_remove(L, -2);   /* key */
                return rc;
            }
            lua_pop(L, 1);
        }
    }
    if (!first)
        newline(b, flags, depth);
    pd_buf_add(b, "}", 1);
    return 0;
}

static int encode(lua_State *L, int idx, pd_buf *b, int flags, int depth)
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
            add_float(b, d);
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
        if (kind == 0)
            return encode_object(L, idx, b, flags, depth);
        pd_buf_add(b, "[", 1);
        for (lua_Integer i = 1; i <= n; i++) {
            if (i > 1)
                pd_buf_add(b, ",", 1);
            newline(b, flags, depth + 1);
            lua_rawgeti(L, idx, i);
            int rc = encode(L, -1, b, flags, depth + 1);
            if (rc) {
                lua_remove(L, -2);
                return rc;
            }
            lua_pop(L, 1);
        }
        if (n > 0)
            newline(b, flags, depth);
        pd_buf_add(b, "]", 1);
        return 0;
    }
    default:
        break;
    }
    lua_pushfstring(L, "cannot encode a %s as JSON", luaL_typename(L, idx));
    return -1;
}

int pd_json_encode_lua(lua_State *L, int idx, pd_buf *b, int flags)
{
    int rc = encode(L, idx, b, flags, 0);
    if (rc == 0 && b->oom) {
        lua_pushstring(L, "out of memory");
        return -1;
    }
    return rc;
}

/* encode(v [, {pretty = bool, sorted = bool}]) -> text */
static int l_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    int flags = 0;
    if (lua_istable(L, 2)) {
        if (lua_getfield(L, 2, "pretty") != LUA_TNIL && lua_toboolean(L, -1))
            flags |= PD_JSON_PRETTY;
        if (lua_getfield(L, 2, "sorted") != LUA_TNIL && lua_toboolean(L, -1))
            flags |= PD_JSON_SORTED;
        lua_pop(L, 2);
    }
    lua_settop(L, 1);
    pd_buf b = {0};
    if (pd_json_encode_lua(L, 1, &b, flags) != 0) {
        pd_buf_free(&b);
        return pd_error_raise(L, 0, "invalidArgument", lua_tostring(L, -1), 0);
    }
    lua_pushlstring(L, b.data ? b.data : "", b.len);
    pd_buf_free(&b);
    return 1;
}

/* Pushes the value of s, or nil and the parser's message; returns 1 or 2. */
static int decode(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    char err[128];
    pd_json_doc *doc = pd_json_parse(s, n, err, sizeof err);
    if (!doc) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    pd_json_push(L, pd_json_root(doc));
    pd_json_free(doc);
    return 1;
}

/* decode(s) -> value; raises "malformedResponse" on bad input */
static int l_decode(lua_State *L)
{
    if (decode(L) == 2)
        return pd_error_raise(L, 0, "malformedResponse", lua_tostring(L, -1), 0);
    return 1;
}

/* decode_safe(s) -> value, or nil and a message */
static int l_decode_safe(lua_State *L)
{
    return decode(L);
}

int luaopen_pdlua_json_core(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"encode", l_encode},
        {"decode", l_decode},
        {"decode_safe", l_decode_safe},
        {NULL, NULL},
    };
    pd_error_init(L);
    pd_json_lua_init(L);
    luaL_newlib(L, fns);
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
    luaL_getmetatable(L, PD_JSON_ARRAY_META);
    lua_setfield(L, -2, "array_mt");
    return 1;
}
