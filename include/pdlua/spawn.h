/*
 * spawn.h — io.popen and os.execute that start children with signals
 * unblocked and at their defaults (see src/host/spawn.c).
 */
#ifndef PDLUA_SPAWN_H
#define PDLUA_SPAWN_H

#include <lua.h>

/* Replaces io.popen and os.execute in the interpreter (lock held). */
void pd_spawn_install(lua_State *L);

#endif
