/*
 * main.c — the pdlua program: runs a script (`pdlua script.lua args...`),
 * code (`-e`), or, on a terminal with nothing to run, the REPL.
 *
 * Start-up order matters for the threading model: signals are blocked and
 * the signal thread started before any other thread exists; libcurl is
 * initialised once before any thread; then the interpreter opens with its
 * lock held by this thread, which keeps it whenever Lua code runs here.
 */
#include "pdlua/interrupt.h"
#include "pdlua/modules.h"
#include "pdlua/runtime.h"
#include "pdlua/signals.h"
#include "pdlua/spawn.h"

#include <curl/curl.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage[] =
    "usage: pdlua [options] [script [args...]]\n"
    "\n"
    "Runs a Lua 5.4 script with pdlua's engine (pd) and Compute Engine client\n"
    "(gcp) preloaded. With no script on a terminal, starts the REPL.\n"
    "\n"
    "  script        a file; a bare name that is not in the current directory\n"
    "                is looked up in pdlua's script directory (so\n"
    "                `pdlua migrate.lua ...` works from anywhere)\n"
    "  -             read the script from standard input\n"
    "  -e CODE       run CODE (may be given several times), then the script\n"
    "  -i            enter the REPL after running the script or -e code\n"
    "  -v, --version print the version and exit\n"
    "  -h, --help    print this help and exit\n"
    "\n"
    "Environment: PDLUA_HOME (where lua/ and scripts/ live),\n"
    "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE, GOOGLE_APPLICATION_CREDENTIALS,\n"
    "GOOGLE_OAUTH_ACCESS_TOKEN, CLOUDSDK_CORE_PROJECT, CLOUDSDK_COMPUTE_ZONE,\n"
    "PDLUA_LOG_HTTP=1, NO_COLOR.\n"
    "\n"
    "Exit codes: 0 done, 1 failures, 2 usage or input error, 130 interrupted.\n";

/* Message handler: adds a traceback to plain errors; a pdlua error value
 * (a table with __tostring) is kept as it is so its fields survive. */
static int msghandler(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TSTRING) {
        luaL_traceback(L, L, lua_tostring(L, 1), 1);
        return 1;
    }
    return 1;
}

/* Exit code asked for by the error that ended the run: a pdlua error with
 * `exit_code = 2` (bad input, nothing started) keeps it; others give 1. */
static int error_exit_code = 1;

static int report(lua_State *L, int status)
{
    if (status != LUA_OK) {
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "exit_code");
            if (lua_isinteger(L, -1)) {
                lua_Integer c = lua_tointeger(L, -1);
                if (c > 0 && c < 256)
                    error_exit_code = (int)c;
            }
            lua_pop(L, 1);
        }
        const char *msg = luaL_tolstring(L, -1, NULL);
        fprintf(stderr, "pdlua: %s\n", msg);
        fflush(stderr);
        lua_pop(L, 2);
    }
    return status;
}

static int docall(lua_State *L, int nargs, int nres)
{
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    int status = lua_pcall(L, nargs, nres, base);
    lua_remove(L, base);
    return status;
}

static int dostring(lua_State *L, const char *code, const char *name)
{
    int status = luaL_loadbuffer(L, code, strlen(code), name);
    if (status == LUA_OK)
        status = docall(L, 0, 0);
    return report(L, status);
}

static int is_regular(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* A bare name not found here is looked up in the script directory. */
static const char *resolve_script(const char *name, char *buf, size_t size)
{
    if (strcmp(name, "-") == 0 || strchr(name, '/') || is_regular(name))
        return name;
    snprintf(buf, size, "%s/%s", pd_runtime_script_dir(), name);
    return is_regular(buf) ? buf : name;
}

/* arg table as the lua program builds it: arg[0] the script, arg[1..] its
 * arguments, negative indices the interpreter and options. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script)
{
    lua_createtable(L, argc - script - 1, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

static int run_script(lua_State *L, const char *path, char **argv, int argc, int script)
{
    const char *fname = strcmp(path, "-") == 0 ? NULL : path;
    int status = luaL_loadfile(L, fname);
    if (status == LUA_OK) {
        int n = argc - script - 1;
        luaL_checkstack(L, n + 1, "too many arguments to script");
        for (int i = script + 1; i < argc; i++)
            lua_pushstring(L, argv[i]);
        status = docall(L, n, 0);
    }
    return report(L, status);
}

static int run_repl(lua_State *L)
{
    return dostring(L, "require('pdlua.repl').run()", "=repl");
}

int main(int argc, char **argv)
{
    const char *codes[64];
    int ncodes = 0, interactive = 0, script = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--version") == 0) {
            printf("pdlua %s (%s, %s)\n", PDLUA_VERSION, LUA_RELEASE,
                   curl_version());
            return 0;
        } else if (strcmp(a, "-e") == 0) {
            if (i + 1 >= argc || ncodes == 64) {
                fprintf(stderr, "pdlua: -e needs an argument\n%s", usage);
                return 2;
            }
            codes[ncodes++] = argv[++i];
        } else if (strcmp(a, "-i") == 0) {
            interactive = 1;
        } else if (strcmp(a, "--") == 0) {
            if (i + 1 < argc)
                script = i + 1;
            break;
        } else if (a[0] == '-' && a[1] != 0) {
            fprintf(stderr, "pdlua: unknown option '%s'\n%s", a, usage);
            return 2;
        } else {
            script = i;
            break;
        }
    }

    if (pd_signals_start("pdlua") != 0) {
        fprintf(stderr, "pdlua: cannot start the signal thread\n");
        return 1;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "pdlua: cannot initialise libcurl\n");
        return 1;
    }
    lua_State *L = pd_runtime_open(argv[0]);
    if (!L) {
        fprintf(stderr, "pdlua: cannot create the Lua state: out of memory\n");
        return 1;
    }
    pd_spawn_install(L);
    pd_runtime_preload(L, "pdlua.engine", luaopen_pdlua_engine);
    pd_runtime_preload(L, "pdlua.gcp.core", luaopen_pdlua_gcp_core);
    pd_runtime_preload(L, "pdlua.host", luaopen_pdlua_host);

    create_arg_table(L, argv, argc, script ? script : argc - 1);
    int status = dostring(L, "pd = require 'pdlua'; gcp = require 'pdlua.gcp'",
                          "=init");

    for (int i = 0; status == LUA_OK && i < ncodes; i++)
        status = dostring(L, codes[i], "=(command line)");

    if (status == LUA_OK && script) {
        char buf[4096];
        const char *path = resolve_script(argv[script], buf, sizeof buf);
        status = run_script(L, path, argv, argc, script);
    }
    if (status == LUA_OK &&
        (interactive || (!script && ncodes == 0 && isatty(0))))
        status = run_repl(L);
    else if (status == LUA_OK && !script && ncodes == 0)
        status = run_script(L, "-", argv, argc, argc - 1);

    pd_runtime_close();
    curl_global_cleanup();
    if (status == LUA_OK && pd_signals_count() > 0)
        return 130;
    return status == LUA_OK ? 0 : error_exit_code;
}
