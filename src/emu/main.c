/*
 * main.c — the pdlua-emu program: a Compute Engine v1 stand-in on
 * 127.0.0.1 (docs/emulator.md).
 *
 * C owns the process: signals, the interpreter, the HTTP server and the
 * shutdown order. Everything the emulator knows (flags, fleets, resources,
 * operations, faults, auth) is Lua in lua/emu/, entered through
 * emu.main.setup(args), which either finishes the job itself (--help,
 * --generate, a usage error) or returns the request handler.
 *
 * Shutdown: the first SIGINT/SIGTERM cancels the root interrupt, which
 * wakes every handler sleeping in a long-poll or an injected hang (they
 * sleep with pd.sleep on that interrupt); then the server stops, joining
 * its connection threads, and the interpreter closes.
 */
#include "pdlua/emu.h"
#include "pdlua/emu_http.h"
#include "pdlua/interrupt.h"
#include "pdlua/runtime.h"
#include "pdlua/signals.h"

#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

static int get_int_field(lua_State *L, int idx, const char *name, int dflt)
{
    lua_getfield(L, idx, name);
    int v = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : dflt;
    lua_pop(L, 1);
    return v;
}

/* Calls emu.main.setup(argv[1..]); leaves its result table on the stack.
 * Returns 0, or -1 after printing the error. */
static int setup(lua_State *L, int argc, char **argv)
{
    lua_pushcfunction(L, pd_runtime_traceback);
    int base = lua_gettop(L);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "emu.main");
    if (lua_pcall(L, 1, 1, base) != LUA_OK) {
        fprintf(stderr, "pdlua-emu: %s\n", lua_tostring(L, -1));
        return -1;
    }
    lua_getfield(L, -1, "setup");
    lua_newtable(L);
    for (int i = 1; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i);
    }
    if (lua_pcall(L, 1, 1, base) != LUA_OK) {
        fprintf(stderr, "pdlua-emu: %s\n", lua_tostring(L, -1));
        return -1;
    }
    lua_replace(L, base);   /* result table where the handler was */
    lua_settop(L, base);
    return 0;
}

int main(int argc, char **argv)
{
    if (pd_signals_start("pdlua-emu") != 0) {
        fprintf(stderr, "pdlua-emu: cannot start the signal thread\n");
        return 1;
    }
    lua_State *L = pd_runtime_open(argv[0]);
    if (!L) {
        fprintf(stderr, "pdlua-emu: cannot create the Lua state: out of memory\n");
        return 1;
    }
    pd_runtime_preload(L, "pdlua.emu.core", luaopen_pdlua_emu_core);

    if (setup(L, argc, argv) != 0) {
        pd_runtime_close();
        return 2;
    }
    int cfg = lua_gettop(L);
    lua_getfield(L, cfg, "exit");
    if (lua_isinteger(L, -1)) {
        int code = (int)lua_tointeger(L, -1);
        fflush(stdout);
        pd_runtime_close();
        return code;
    }
    lua_pop(L, 1);

    int port = get_int_field(L, cfg, "port", 0);
    int watch_pid = get_int_field(L, cfg, "watch_pid", 0);
    size_t max_body = (size_t)get_int_field(L, cfg, "max_body", 256 << 20);
    lua_getfield(L, cfg, "handler");
    int handler_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_getfield(L, cfg, "on_listen");
    int listen_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    pd_unlock();
    char err[256];
    pd_emu_http *h = pd_emu_http_start(port, handler_ref, max_body, err, sizeof err);
    pd_lock();
    if (!h) {
        fprintf(stderr, "pdlua-emu: %s\n", err);
        pd_runtime_close();
        return 1;
    }
    int bound = pd_emu_http_port(h);
    lua_pushcfunction(L, pd_runtime_traceback);
    lua_rawgeti(L, LUA_REGISTRYINDEX, listen_ref);
    lua_pushinteger(L, bound);
    if (lua_pcall(L, 1, 0, -3) != LUA_OK)
        fprintf(stderr, "pdlua-emu: %s\n", lua_tostring(L, -1));
    lua_settop(L, 0);
    pd_unlock();

    printf("listening on http://127.0.0.1:%d\n", bound);
    fflush(stdout);

    pd_interrupt *root = pd_interrupt_root();
    while (pd_interrupt_check(root) == PD_OK) {
        pd_interrupt_sleep(root, 0.5);
        if (watch_pid > 0 && kill((pid_t)watch_pid, 0) != 0 && errno == ESRCH) {
            fprintf(stderr, "pdlua-emu: process %d is gone, stopping\n", watch_pid);
            pd_interrupt_cancel(root);
        }
    }

    pd_emu_http_stop(h);
    pd_lock();
    luaL_unref(L, LUA_REGISTRYINDEX, handler_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, listen_ref);
    pd_runtime_close();
    return 0;
}
