/*
 * gcp_lua.h — pieces of the `pdlua.gcp.core` binding shared between its
 * files: the thread runner used by the client's specs and benchmarks (the
 * JSON conversion is json_lua.h's). These run with the interpreter lock
 * held.
 */
#ifndef PDLUA_GCP_LUA_H
#define PDLUA_GCP_LUA_H

#include "pdlua/json_lua.h"

#include <lua.h>

/* core._run_threads(n, fn [, opts]): runs fn(i) on n new OS threads, each
 * in its own coroutine and with its own interrupt (opts.timeout gives each
 * a deadline); returns a list of {ok = bool, value|error}. */
int pd_gcp_l_run_threads(lua_State *L);

#endif
