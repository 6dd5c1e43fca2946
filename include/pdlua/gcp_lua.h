/*
 * gcp_lua.h — pieces of the `pdlua.gcp.core` binding shared between its
 * files: JSON ⇄ Lua conversion and the thread runner used by the client's
 * specs and benchmarks. All of these run with the interpreter lock held.
 */
#ifndef PDLUA_GCP_LUA_H
#define PDLUA_GCP_LUA_H

#include "pdlua/json.h"

#include <lua.h>

/* Metatable that marks a Lua table as a JSON array (so {} encodes as []). */
#define PD_GCP_ARRAY_META "pdlua.gcp.array"

/* Pushes a JSON value as Lua: objects and arrays become tables (arrays
 * carry the array metatable), integers stay integers (beyond int64: a
 * string of the digits), null members of objects are left out, null array
 * elements become core.null, and of duplicate members the last wins. */
void pd_gcp_push_json(lua_State *L, const pd_json *v);

/* Appends the Lua value at idx as JSON. Returns 0, or -1 with an error
 * message pushed (a cycle, a function, NaN, a mixed table). */
int pd_gcp_encode_json(lua_State *L, int idx, pd_buf *b);

/* core._run_threads(n, fn [, opts]): runs fn(i) on n new OS threads, each
 * in its own coroutine and with its own interrupt (opts.timeout gives each
 * a deadline); returns a list of {ok = bool, value|error}. */
int pd_gcp_l_run_threads(lua_State *L);

#endif
