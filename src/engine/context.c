/*
 * context.c — typed shared context (see include/pdlua/context.h).
 *
 * Types are parsed once, at pd.context, into a small tree of nodes kept in
 * the userdata's C memory; a check walks the value against its node. The
 * values live in a plain Lua table (user value 2), names to field numbers
 * in user value 1. Stored tables are kept as given (no copy): a task that
 * mutates a table it got from ctx:get bypasses the checks, which is why the
 * context offers put/append/incr for the common updates.
 *
 * Errors (include/pdlua/error.h): a misused call raises a string through
 * luaL_check*; an unknown field, a bad type or a value of the wrong type
 * raises a pdlua error "invalidContext" (with `field` where there is one)
 * through pd_error_raisef or pd_error_throw.
 */
#include "pdlua/context.h"
#include "pdlua/error.h"
#include "pdlua/heap.h"
#include "pdlua/luaclass.h"

#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    T_STRING, T_INTEGER, T_NUMBER, T_BOOLEAN, T_TABLE, T_LIST, T_MAP,
} ctx_kind;

typedef struct {
    ctx_kind kind;
    int elem;   /* node of the element type for list and map */
} ctx_node;

typedef struct {
    int nfields;
    int nnodes;
    size_t cap;
    ctx_node *nodes;
    int *field_node;   /* node of each field, by field number (1-based) */
} ctx_data;

enum { UV_FIELDS = 1, UV_VALUES = 2, UV_NAMES = 3 };

static ctx_data *check_ctx(lua_State *L)
{
    return luaL_checkudata(L, 1, PD_CONTEXT_META);
}

int pd_context_is(lua_State *L, int idx)
{
    return luaL_testudata(L, idx, PD_CONTEXT_META) != NULL;
}

static int ctx_gc(lua_State *L)
{
    ctx_data *c = check_ctx(L);
    free(c->nodes);
    free(c->field_node);
    c->nodes = NULL;
    c->field_node = NULL;
    return 0;
}

/* --- type strings ------------------------------------------------------ */

static int add_node(ctx_data *c, ctx_kind kind, int elem)
{
    if (pd_grow(&c->nodes, &c->cap, (size_t)c->nnodes + 1, sizeof *c->nodes) != 0)
        return -1;
    c->nodes[c->nnodes].kind = kind;
    c->nodes[c->nnodes].elem = elem;
    return c->nnodes++;
}

static const char *skip_space(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Parses one type at *s; returns its node, or -1 (bad syntax), -2 (out of
 * memory). */
static int parse_type(ctx_data *c, const char **s)
{
    static const struct { const char *name; ctx_kind kind; } simple[] = {
        {"string", T_STRING}, {"integer", T_INTEGER}, {"number", T_NUMBER},
        {"boolean", T_BOOLEAN}, {"table", T_TABLE},
    };
    const char *p = skip_space(*s);
    for (int k = 0; k < 2; k++) {
        const char *word = k ? "map" : "list";
        size_t len = strlen(word);
        if (strncmp(p, word, len) == 0 && *skip_space(p + len) == '<') {
            p = skip_space(p + len) + 1;
            int elem = parse_type(c, &p);
            if (elem < 0)
                return elem;
            p = skip_space(p);
            if (*p != '>')
                return -1;
            *s = p + 1;
            int node = add_node(c, k ? T_MAP : T_LIST, elem);
            return node < 0 ? -2 : node;
        }
    }
    for (size_t k = 0; k < sizeof simple / sizeof simple[0]; k++) {
        size_t len = strlen(simple[k].name);
        if (strncmp(p, simple[k].name, len) == 0) {
            char next = p[len];
            if ((next >= 'a' && next <= 'z') || next == '_')
                continue;
            *s = p + len;
            int node = add_node(c, simple[k].kind, -1);
            return node < 0 ? -2 : node;
        }
    }
    return -1;
}

/* Pushes the type's name as written canonically: "map<list<string>>". */
static void push_type_name(lua_State *L, const ctx_data *c, int node)
{
    static const char *const names[] = {
        "string", "integer", "number", "boolean", "table", "list", "map",
    };
    const ctx_node *n = &c->nodes[node];
    if (n->kind == T_LIST || n->kind == T_MAP) {
        push_type_name(L, c, n->elem);
        lua_pushfstring(L, "%s<%s>", names[n->kind], lua_tostring(L, -1));
        lua_remove(L, -2);
    } else {
        lua_pushstring(L, names[n->kind]);
    }
}

/* --- checks ------------------------------------------------------------ */

/* Describes the value at idx for an error message: "string", "number 1.5". */
static const char *describe(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TNUMBER && !lua_isinteger(L, idx))
        return lua_pushfstring(L, "number %f", lua_tonumber(L, idx));
    return lua_pushstring(L, luaL_typename(L, idx));
}

/* Checks the value at idx against node. On a mismatch pushes a description
 * of what was found ("string", "string at [3]") and returns 0. An integral
 * float stored in an integer field is converted in place (JSON numbers). */
static int check_value(lua_State *L, const ctx_data *c, int node, int idx)
{
    static const int plain[] = {
        [T_STRING] = LUA_TSTRING, [T_NUMBER] = LUA_TNUMBER,
        [T_BOOLEAN] = LUA_TBOOLEAN, [T_TABLE] = LUA_TTABLE,
    };
    idx = lua_absindex(L, idx);
    const ctx_node *n = &c->nodes[node];
    int type = lua_type(L, idx);
    switch (n->kind) {
    case T_STRING: case T_NUMBER: case T_BOOLEAN: case T_TABLE:
        if (type == plain[n->kind])
            return 1;
        break;
    case T_INTEGER:
        if (lua_isinteger(L, idx))
            return 1;
        if (type == LUA_TNUMBER) {
            lua_Integer i;
            if (lua_numbertointeger(floor(lua_tonumber(L, idx)), &i) &&
                (lua_Number)i == lua_tonumber(L, idx)) {
                lua_pushinteger(L, i);
                lua_replace(L, idx);
                return 1;
            }
        }
        break;
    case T_LIST: {
        if (type != LUA_TTABLE)
            break;
        lua_Integer len = (lua_Integer)lua_rawlen(L, idx);
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) < 1 ||
                lua_tointeger(L, -2) > len) {
                lua_pushvalue(L, -2);
                lua_pushfstring(L, "table with key %s", luaL_tolstring(L, -1, NULL));
                lua_replace(L, -5);
                lua_pop(L, 3);
                return 0;
            }
            if (!check_value(L, c, n->elem, -1)) {
                lua_pushfstring(L, "%s at [%d]", lua_tostring(L, -1),
                                (int)lua_tointeger(L, -3));
                lua_replace(L, -4);
                lua_pop(L, 2);
                return 0;
            }
            lua_pop(L, 1);
        }
        return 1;
    }
    case T_MAP:
        if (type != LUA_TTABLE)
            break;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            if (lua_type(L, -2) != LUA_TSTRING) {
                const char *tname = luaL_typename(L, -2);
                lua_pushvalue(L, -2);
                const char *kstr = luaL_tolstring(L, -1, NULL);
                lua_pushfstring(L, "table with %s key %s", tname, kstr);
                lua_replace(L, -5);
                lua_pop(L, 3);
                return 0;
            }
            if (!check_value(L, c, n->elem, -1)) {
                lua_pushfstring(L, "%s at [\"%s\"]", lua_tostring(L, -1),
                                lua_tostring(L, -3));
                lua_replace(L, -4);
                lua_pop(L, 2);
                return 0;
            }
            lua_pop(L, 1);
        }
        return 1;
    }
    describe(L, idx);
    return 0;
}

static int raise_type(lua_State *L, const ctx_data *c, const char *field, int node,
                      const char *got)
{
    push_type_name(L, c, node);
    const char *msg = lua_pushfstring(L, "context field '%s': expected %s, got %s",
                                      field, lua_tostring(L, -1), got);
    pd_error_push(L, 0, "invalidContext", msg, 0);
    lua_pushstring(L, field);
    lua_setfield(L, -2, "field");
    return pd_error_throw(L);
}

/* Field number of the name at idx, raising for an unknown field. */
static int field_of(lua_State *L, int idx)
{
    const char *name = luaL_checkstring(L, idx);
    lua_getiuservalue(L, 1, UV_FIELDS);
    lua_pushvalue(L, idx);
    int f = lua_rawget(L, -2) == LUA_TNUMBER ? (int)lua_tointeger(L, -1) : 0;
    lua_pop(L, 2);
    if (!f) {
        const char *msg = lua_pushfstring(L, "unknown context field '%s'", name);
        pd_error_push(L, 0, "invalidContext", msg, 0);
        lua_pushstring(L, name);
        lua_setfield(L, -2, "field");
        return pd_error_throw(L);
    }
    return f;
}

/* --- methods ----------------------------------------------------------- */

static int ctx_get(lua_State *L)
{
    check_ctx(L);
    field_of(L, 2);
    lua_getiuservalue(L, 1, UV_VALUES);
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
}

static int ctx_set(lua_State *L)
{
    ctx_data *c = check_ctx(L);
    int f = field_of(L, 2);
    lua_settop(L, 3);
    if (!lua_isnil(L, 3) && !check_value(L, c, c->field_node[f], 3))
        return raise_type(L, c, lua_tostring(L, 2), c->field_node[f], lua_tostring(L, -1));
    lua_getiuservalue(L, 1, UV_VALUES);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_rawset(L, -3);
    return 0;
}

/* Pushes the table stored in a list/map field, creating it if unset. */
static void container(lua_State *L, int fieldidx)
{
    lua_getiuservalue(L, 1, UV_VALUES);
    lua_pushvalue(L, fieldidx);
    if (lua_rawget(L, -2) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, fieldidx);
        lua_pushvalue(L, -2);
        lua_rawset(L, -4);
    }
    lua_remove(L, -2);
}

static int wrong_kind(lua_State *L, const ctx_data *c, int f, const char *method,
                      const char *want)
{
    push_type_name(L, c, c->field_node[f]);
    const char *msg = lua_pushfstring(L, "context field '%s' is %s: ctx:%s needs %s",
                                      lua_tostring(L, 2), lua_tostring(L, -1),
                                      method, want);
    return pd_error_raise(L, 0, "invalidContext", msg, 0);
}

/* ctx:put(field, key, value): one entry of a map field. */
static int ctx_put(lua_State *L)
{
    ctx_data *c = check_ctx(L);
    int f = field_of(L, 2);
    const ctx_node *n = &c->nodes[c->field_node[f]];
    if (n->kind != T_MAP)
        return wrong_kind(L, c, f, "put", "a map");
    lua_settop(L, 4);
    if (lua_type(L, 3) != LUA_TSTRING) {
        const char *got = lua_pushfstring(L, "%s key", luaL_typename(L, 3));
        return raise_type(L, c, lua_tostring(L, 2), c->field_node[f], got);
    }
    if (!lua_isnil(L, 4) && !check_value(L, c, n->elem, 4)) {
        const char *got = lua_pushfstring(L, "%s at [\"%s\"]", lua_tostring(L, -1),
                                          lua_tostring(L, 3));
        return raise_type(L, c, lua_tostring(L, 2), c->field_node[f], got);
    }
    container(L, 2);
    lua_pushvalue(L, 3);
    lua_pushvalue(L, 4);
    lua_rawset(L, -3);
    return 0;
}

/* ctx:append(field, value) -> new length: adds to a list field. */
static int ctx_append(lua_State *L)
{
    ctx_data *c = check_ctx(L);
    int f = field_of(L, 2);
    const ctx_node *n = &c->nodes[c->field_node[f]];
    if (n->kind != T_LIST)
        return wrong_kind(L, c, f, "append", "a list");
    lua_settop(L, 3);
    container(L, 2);
    lua_Integer len = (lua_Integer)lua_rawlen(L, 4);
    if (!check_value(L, c, n->elem, 3)) {
        const char *got = lua_pushfstring(L, "%s at [%d]", lua_tostring(L, -1),
                                          (int)(len + 1));
        return raise_type(L, c, lua_tostring(L, 2), c->field_node[f], got);
    }
    lua_pushvalue(L, 3);
    lua_rawseti(L, 4, len + 1);
    lua_pushinteger(L, len + 1);
    return 1;
}

/* ctx:incr(field [, n = 1]) -> new value: integer or number fields. */
static int ctx_incr(lua_State *L)
{
    ctx_data *c = check_ctx(L);
    int f = field_of(L, 2);
    const ctx_node *n = &c->nodes[c->field_node[f]];
    if (n->kind != T_INTEGER && n->kind != T_NUMBER)
        return wrong_kind(L, c, f, "incr", "an integer or a number");
    if (lua_isnoneornil(L, 3)) {
        lua_settop(L, 2);
        lua_pushinteger(L, 1);
    }
    lua_settop(L, 3);
    if (!check_value(L, c, c->field_node[f], 3))
        return raise_type(L, c, lua_tostring(L, 2), c->field_node[f], lua_tostring(L, -1));
    lua_getiuservalue(L, 1, UV_VALUES);
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushinteger(L, 0);
    }
    lua_pushvalue(L, 3);
    lua_arith(L, LUA_OPADD);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
    return 1;
}

/* Deep copy without metatables; `seen` (at seen_idx) maps tables already
 * copied to their copies so shared or cyclic structure is kept. */
static void copy_plain(lua_State *L, int idx, int seen_idx)
{
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE) {
        lua_pushvalue(L, idx);
        return;
    }
    lua_pushvalue(L, idx);
    if (lua_rawget(L, seen_idx) == LUA_TTABLE)
        return;
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, idx);
    lua_pushvalue(L, -2);
    lua_rawset(L, seen_idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pushvalue(L, -2);
        copy_plain(L, -2, seen_idx);
        lua_rawset(L, -5);
        lua_pop(L, 1);
    }
}

/* ctx:snapshot() -> a plain table of every field's value (deep copy). */
static int ctx_snapshot(lua_State *L)
{
    check_ctx(L);
    lua_settop(L, 1);
    lua_newtable(L);                           /* 2: seen */
    lua_getiuservalue(L, 1, UV_VALUES);        /* 3 */
    copy_plain(L, 3, 2);
    return 1;
}

/* ctx:fields() -> {name = "type"} as declared. */
static int ctx_fields(lua_State *L)
{
    ctx_data *c = check_ctx(L);
    lua_newtable(L);
    lua_getiuservalue(L, 1, UV_NAMES);
    for (int f = 1; f <= c->nfields; f++) {
        lua_rawgeti(L, -1, f);
        push_type_name(L, c, c->field_node[f]);
        lua_rawset(L, -4);
    }
    lua_pop(L, 1);
    return 1;
}

static int ctx_tostring(lua_State *L)
{
    ctx_data *c = check_ctx(L);
    lua_pushfstring(L, "pdlua.context (%d fields)", c->nfields);
    return 1;
}

/* pd.context{name = "type", ...} [, {name = initial, ...}] */
int pd_context_l_new(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    ctx_data *c = lua_newuserdatauv(L, sizeof *c, 3);   /* 3 */
    memset(c, 0, sizeof *c);
    static const luaL_Reg methods[] = {
        {"get", ctx_get}, {"set", ctx_set}, {"put", ctx_put},
        {"append", ctx_append}, {"incr", ctx_incr},
        {"snapshot", ctx_snapshot}, {"fields", ctx_fields}, {NULL, NULL},
    };
    static const luaL_Reg meta[] = {
        {"__gc", ctx_gc}, {"__tostring", ctx_tostring}, {NULL, NULL},
    };
    pd_luaclass_metatable(L, PD_CONTEXT_META, methods, meta);
    lua_setmetatable(L, 3);

    /* Field names sorted, so field numbers do not depend on hash order. */
    lua_newtable(L);                                  /* 4: names */
    int nf = 0;
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            return pd_error_raisef(L, "invalidContext", 0,
                                   "context field names must be strings");
        if (lua_type(L, -1) != LUA_TSTRING)
            return pd_error_raisef(L, "invalidContext", 0,
                                   "context field '%s': the type must be a string "
                                   "such as \"integer\" or \"list<string>\"",
                                   lua_tostring(L, -2));
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_rawseti(L, 4, ++nf);
    }
    lua_getglobal(L, "table");
    lua_getfield(L, -1, "sort");
    lua_pushvalue(L, 4);
    lua_call(L, 1, 0);
    lua_pop(L, 1);

    c->field_node = malloc(((size_t)nf + 1) * sizeof *c->field_node);
    if (!c->field_node)
        return luaL_error(L, "out of memory");
    c->nfields = nf;
    lua_newtable(L);                                  /* 5: fields */
    lua_newtable(L);                                  /* 6: values */
    for (int f = 1; f <= nf; f++) {
        lua_rawgeti(L, 4, f);                         /* name */
        lua_pushvalue(L, -1);
        lua_gettable(L, 1);                           /* type string */
        const char *spec = lua_tostring(L, -1);
        const char *p = spec;
        int node = parse_type(c, &p);
        if (node == -2)
            return luaL_error(L, "out of memory");
        if (node < 0 || *skip_space(p) != 0)
            return pd_error_raisef(L, "invalidContext", 0,
                                   "context field '%s': unknown type '%s' (string, integer, "
                                   "number, boolean, table, list<T>, map<T>)",
                                   lua_tostring(L, -2), spec);
        c->field_node[f] = node;
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_pushinteger(L, f);
        lua_rawset(L, 5);
        /* defaults: counters at 0, flags false, containers empty */
        switch (c->nodes[node].kind) {
        case T_INTEGER: lua_pushinteger(L, 0); break;
        case T_NUMBER: lua_pushnumber(L, 0); break;
        case T_BOOLEAN: lua_pushboolean(L, 0); break;
        case T_LIST: case T_MAP: lua_newtable(L); break;
        default: lua_pushnil(L); break;
        }
        lua_rawset(L, 6);
    }
    lua_pushvalue(L, 5);
    lua_setiuservalue(L, 3, UV_FIELDS);
    lua_pushvalue(L, 6);
    lua_setiuservalue(L, 3, UV_VALUES);
    lua_pushvalue(L, 4);
    lua_setiuservalue(L, 3, UV_NAMES);

    /* Initial values go through ctx:set, so they are checked too. */
    if (!lua_isnil(L, 2)) {
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            lua_pushcfunction(L, ctx_set);
            lua_pushvalue(L, 3);
            lua_pushvalue(L, -4);
            lua_pushvalue(L, -4);
            lua_call(L, 3, 0);
            lua_pop(L, 1);
        }
    }
    lua_settop(L, 3);
    return 1;
}
