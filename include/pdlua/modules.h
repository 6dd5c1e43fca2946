/*
 * modules.h — the C modules linked into the pdlua program, preloaded by the
 * host so that `require` finds them: pdlua.core (src/core), pdlua.engine
 * (src/engine), pdlua.gcp.core (src/gcp), pdlua.host (src/host).
 */
#ifndef PDLUA_MODULES_H
#define PDLUA_MODULES_H

#include <lua.h>

int luaopen_pdlua_engine(lua_State *L);
int luaopen_pdlua_gcp_core(lua_State *L);
int luaopen_pdlua_host(lua_State *L);

#endif
