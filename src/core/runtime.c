/*
 * runtime.c — the one lua_State, its interpreter lock, and where pdlua's
 * Lua files live (see include/pdlua/runtime.h).
 *
 * Locating the Lua tree: $PDLUA_HOME (a directory holding lua/ and
 * scripts/), else next to the executable: build/pdlua and
 * build/<variant>/pdlua find the source tree's lua/, an installed
 * PREFIX/bin/pdlua finds PREFIX/share/pdlua/lua.
 */
#include "pdlua/runtime.h"
#include "pdlua/core.h"
#include "pdlua/error.h"
#include "pdlua/json_lua.h"

#include <lauxlib.h>
#include <lualib.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t interp_lock = PTHREAD_MUTEX_INITIALIZER;
static lua_State *interp;
static char lua_dir[PATH_MAX];
static char script_dir[PATH_MAX];

void pd_lock(void) { pthread_mutex_lock(&interp_lock); }
void pd_unlock(void) { pthread_mutex_unlock(&interp_lock); }
lua_State *pd_runtime_state(void) { return interp; }
const char *pd_runtime_lua_dir(void) { return lua_dir; }
const char *pd_runtime_script_dir(void) { return script_dir; }

static int is_file(const char *path)
{
    return access(path, R_OK) == 0;
}

/* Tries <base>/<rel>: if it holds pdlua/init.lua, takes it. */
static int try_home(const char *base, const char *lua_rel, const char *scripts_rel)
{
    char probe[PATH_MAX];
    if (snprintf(probe, sizeof probe, "%s/%s/pdlua/init.lua", base, lua_rel) >=
        (int)sizeof probe)
        return 0;
    if (!is_file(probe))
        return 0;
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/%s", base, lua_rel);
    if (!realpath(tmp, lua_dir))
        return 0;
    snprintf(tmp, sizeof tmp, "%s/%s", base, scripts_rel);
    if (!realpath(tmp, script_dir))
        snprintf(script_dir, sizeof script_dir, "%s", tmp);
    return 1;
}

static void locate(const char *argv0)
{
    const char *home = getenv("PDLUA_HOME");
    if (home && *home && try_home(home, "lua", "scripts"))
        return;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
    } else if (!argv0 || !realpath(argv0, exe)) {
        exe[0] = 0;
    }
    char *slash = strrchr(exe, '/');
    if (slash) {
        *slash = 0;
        if (try_home(exe, "../lua", "../scripts") ||
            try_home(exe, "../../lua", "../../scripts") ||
            try_home(exe, "../share/pdlua/lua", "../share/pdlua/scripts"))
            return;
    }
#ifdef PDLUA_DATADIR
    if (try_home(PDLUA_DATADIR, "lua", "scripts"))
        return;
#endif
    snprintf(lua_dir, sizeof lua_dir, "lua");
    snprintf(script_dir, sizeof script_dir, "scripts");
}

void pd_runtime_preload(lua_State *L, const char *name, lua_CFunction openf)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, openf);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
}

lua_State *pd_runtime_open(const char *argv0)
{
    locate(argv0);
    lua_State *L = luaL_newstate();
    if (!L)
        return NULL;
    pd_lock();
    interp = L;
    luaL_openlibs(L);
    pd_error_init(L);
    pd_json_lua_init(L);

    /* package.path: pdlua's tree first, then Lua's defaults. */
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", lua_dir, lua_dir,
                    lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 2);

    pd_runtime_preload(L, "pdlua.core", luaopen_pdlua_core);
    pd_runtime_preload(L, "pdlua.json.core", luaopen_pdlua_json_core);
    return L;
}

int pd_runtime_traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg)
        msg = luaL_tolstring(L, 1, NULL);
    luaL_traceback(L, L, msg, 1);
    return 1;
}

void pd_runtime_close(void)
{
    if (interp) {
        lua_close(interp);
        interp = NULL;
    }
    pd_unlock();
}
