/*
 * json_lua.h — JSON (json.h) ⇄ Lua values, shared by both programs: the
 * Compute Engine client converts its responses with it, and `pdlua.json`
 * (lua/pdlua/json.lua, over the C module `pdlua.json.core` that the
 * runtime preloads) is every other JSON reader and writer in pdlua and
 * pdlua-emu. All of these run with the interpreter lock held.
 */
#ifndef PDLUA_JSON_LUA_H
#define PDLUA_JSON_LUA_H

#include "pdlua/json.h"

#include <lua.h>

/* Metatable that marks a Lua table as a JSON array (so {} encodes as []);
 * every array the decoder makes carries it. */
#define PD_JSON_ARRAY_META "pdlua.json.array"

/* Encoder options: indent with two spaces and write "key": value; write
 * object members in byte order of their names. */
enum { PD_JSON_PRETTY = 1, PD_JSON_SORTED = 2 };

/* Registers the array metatable (idempotent; the runtime calls it). */
void pd_json_lua_init(lua_State *L);

/* Pushes a JSON value as Lua: objects and arrays become tables (arrays
 * carry the array metatable), integers stay integers (beyond int64: a
 * string of the digits), null members of objects are left out, null array
 * elements become the null sentinel (a NULL light userdata), and of
 * duplicate members the last wins. */
void pd_json_push(lua_State *L, const pd_json *v);

/* Appends the Lua value at idx as JSON. Returns 0, or -1 with an error
 * message pushed (a cycle, a function, NaN, a mixed table). */
int pd_json_encode_lua(lua_State *L, int idx, pd_buf *b, int flags);

/* The module `pdlua.json.core`: encode, decode, decode_safe, null,
 * array_mt. */
int luaopen_pdlua_json_core(lua_State *L);

#endif
