/* gcp_lua.c — binds the Compute Engine client to Lua as `pdlua.gcp.core`. */
#include "pdlua/modules.h"

#include <lauxlib.h>

int luaopen_pdlua_gcp_core(lua_State *L)
{
    lua_newtable(L);
    return 1;
}
