/* engine_lua.c — binds the workflow engine to Lua as `pdlua.engine`. */
#include "pdlua/modules.h"

#include <lauxlib.h>

int luaopen_pdlua_engine(lua_State *L)
{
    lua_newtable(L);
    return 1;
}
