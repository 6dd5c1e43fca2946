/*
 * luaclass.c — a userdata type's metatable (see include/pdlua/luaclass.h).
 */
#include "pdlua/luaclass.h"

int pd_luaclass_metatable(lua_State *L, const char *name,
                          const luaL_Reg *methods, const luaL_Reg *meta)
{
    if (!luaL_newmetatable(L, name))
        return 0;
    if (methods) {
        lua_newtable(L);
        luaL_setfuncs(L, methods, 0);
        lua_setfield(L, -2, "__index");
    }
    if (meta)
        luaL_setfuncs(L, meta, 0);
    return 1;
}
