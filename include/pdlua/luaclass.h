/*
 * luaclass.h — registering the metatable of a userdata type bound to Lua.
 *
 * Every binding (contexts, semaphores, workflows, API clients) gives its
 * userdata one named metatable holding a method table as __index and a
 * few metamethods (__gc, __tostring, ...). This is that registration, done
 * once per lua_State, so each binding only lists its functions.
 */
#ifndef PDLUA_LUACLASS_H
#define PDLUA_LUACLASS_H

#include <lua.h>
#include <lauxlib.h>

/*
 * Pushes the metatable registered as `name`, creating it on first use:
 * `methods` (may be NULL) becomes a new table set as its __index, and the
 * functions of `meta` (may be NULL; metamethods such as __gc) are set on it.
 * Returns 1 if the metatable was created by this call, 0 if it existed
 * (like luaL_newmetatable), so a caller can add more to a new one.
 */
int pd_luaclass_metatable(lua_State *L, const char *name,
                          const luaL_Reg *methods, const luaL_Reg *meta);

#endif
