/*
 * host_lua.c — `pdlua.host`: what the REPL needs from the terminal: GNU
 * readline with history, and whether a stream is a terminal. readline()
 * blocks, so it runs with the interpreter lock released.
 */
#include "pdlua/modules.h"
#include "pdlua/runtime.h"

#include <lauxlib.h>
#include <readline/history.h>
#include <readline/readline.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* host.readline(prompt) -> line or nil at end of input. */
static int l_readline(lua_State *L)
{
    const char *prompt = luaL_optstring(L, 1, "> ");
    char *copy = strdup(prompt);
    pd_unlock();
    char *line = readline(copy);
    pd_lock();
    free(copy);
    if (!line) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushstring(L, line);
    free(line);
    return 1;
}

static int l_add_history(lua_State *L)
{
    const char *line = luaL_checkstring(L, 1);
    if (*line)
        add_history(line);
    return 0;
}

static int l_read_history(lua_State *L)
{
    read_history(luaL_checkstring(L, 1));
    return 0;
}

static int l_write_history(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    stifle_history((int)luaL_optinteger(L, 2, 1000));
    lua_pushboolean(L, write_history(path) == 0);
    return 1;
}

/* host.isatty("stdin" | "stdout" | "stderr") */
static int l_isatty(lua_State *L)
{
    static const char *const names[] = {"stdin", "stdout", "stderr", NULL};
    int fd = luaL_checkoption(L, 1, "stdout", names);
    lua_pushboolean(L, isatty(fd));
    return 1;
}

int luaopen_pdlua_host(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"readline", l_readline},
        {"add_history", l_add_history},
        {"read_history", l_read_history},
        {"write_history", l_write_history},
        {"isatty", l_isatty},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    return 1;
}
