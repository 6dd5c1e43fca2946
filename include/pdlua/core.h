/*
 * core.h — the `pdlua.core` Lua module: clock, interruptible sleep, the
 * error constructor, SHA-1, version and paths. `require "pdlua"` builds `pd` on it.
 */
#ifndef PDLUA_CORE_H
#define PDLUA_CORE_H

#include <lua.h>

int luaopen_pdlua_core(lua_State *L);

/* Raises the error value for an interrupted wait: reason "timeout" or
 * "cancelled" (`what` names what was interrupted, e.g. "sleep"). */
int pd_core_raise_interrupt(lua_State *L, int status, const char *what);

/* A lua_CFunction's body: the digest of its string argument 1 with the
 * OpenSSL `algorithm` ("SHA1", "SHA256"), pushed raw or as lower-case hex. */
int pd_core_digest(lua_State *L, const char *algorithm, int hex);

#endif
