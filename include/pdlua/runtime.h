/*
 * runtime.h — the one Lua interpreter and its lock.
 *
 * pdlua runs one lua_State for the whole program, guarded by one mutex, the
 * interpreter lock (docs/design.md, "Threading model"). Every Lua API call, from
 * any thread, is made with the lock held. C code that blocks (HTTP, waits,
 * sleeps) releases it around the blocking part and touches no Lua API while
 * it is released.
 *
 * The main thread takes the lock when the runtime opens and holds it while
 * Lua code runs; C functions called from Lua release and retake it with
 * pd_unlock()/pd_lock().
 */
#ifndef PDLUA_RUNTIME_H
#define PDLUA_RUNTIME_H

#include <lua.h>

#define PDLUA_VERSION "0.1.0"

/* Creates the interpreter, opens the standard libraries, sets package paths
 * so that pdlua's Lua modules are found, preloads pdlua's C modules, and
 * takes the interpreter lock for the calling thread. `argv0` locates the
 * installation (NULL: /proc/self/exe). Returns NULL on failure. */
lua_State *pd_runtime_open(const char *argv0);

/* Closes the interpreter (the lock must be held). */
void pd_runtime_close(void);

/* The interpreter (valid while the runtime is open). */
lua_State *pd_runtime_state(void);

/* The interpreter lock. Not recursive: a thread never takes it twice. */
void pd_lock(void);
void pd_unlock(void);

/* Directory holding pdlua's Lua modules (lua/ in the build tree,
 * PREFIX/share/pdlua/lua once installed), and the script directory
 * (scripts/ or PREFIX/share/pdlua/scripts). Both without a trailing slash. */
const char *pd_runtime_lua_dir(void);
const char *pd_runtime_script_dir(void);

/* A message handler for lua_pcall: the error (through tostring when it is
 * not a string) followed by a traceback. */
int pd_runtime_traceback(lua_State *L);

/* Registers `openf` as package.preload[name] (lock held). */
void pd_runtime_preload(lua_State *L, const char *name, lua_CFunction openf);

#endif
