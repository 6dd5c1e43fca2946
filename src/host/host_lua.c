/*
 * host_lua.c — `pdlua.host`: what the REPL needs from the terminal and the
 * process.
 *
 * readline runs through its callback interface so that the prompt can be
 * interrupted: SIGINT is blocked in every thread (signals.c), so while the
 * prompt is up a signal hook writes to a pipe that the input loop polls
 * beside stdin; Ctrl-C then clears the line instead of killing pdlua. The
 * interpreter lock is released while waiting for keys and taken back only
 * to ask Lua for completions.
 *
 * host.call(fn, ...) runs one REPL command under an interrupt of its own,
 * made the signals' foreground, with a count hook so even a busy Lua loop
 * stops on Ctrl-C. The hook fires once per command: after that the
 * command's own code (an engine run rolling back, say) is left to finish.
 */
#include "pdlua/core.h"
#include "pdlua/interrupt.h"
#include "pdlua/modules.h"
#include "pdlua/runtime.h"
#include "pdlua/signals.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <poll.h>
#include <readline/history.h>
#include <readline/readline.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int wake_pipe[2] = {-1, -1};
static char *line_result;
static int line_done;
static int completer_ref = LUA_NOREF;

static void on_signal(int signo)
{
    (void)signo;
    char c = 1;
    ssize_t w = write(wake_pipe[1], &c, 1);
    (void)w;
}

static void line_handler(char *line)
{
    line_result = line;
    line_done = 1;
    rl_callback_handler_remove();
}

/* readline completion: asks the Lua completer set by host.set_completer,
 * which returns a list of candidates for `text` given the whole line. */
static char **candidates;
static size_t ncandidates, next_candidate;

static char *candidate_generator(const char *text, int state)
{
    (void)text;
    if (state == 0)
        next_candidate = 0;
    if (next_candidate < ncandidates)
        return strdup(candidates[next_candidate++]);
    return NULL;
}

static void free_candidates(void)
{
    for (size_t i = 0; i < ncandidates; i++)
        free(candidates[i]);
    free(candidates);
    candidates = NULL;
    ncandidates = 0;
}

static char **complete(const char *text, int start, int end)
{
    (void)end;
    rl_attempted_completion_over = 1;
    free_candidates();
    pd_lock();
    lua_State *L = pd_runtime_state();
    if (completer_ref != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, completer_ref);
        lua_pushstring(L, text);
        lua_pushstring(L, rl_line_buffer);
        lua_pushinteger(L, start);
        if (lua_pcall(L, 3, 1, 0) == LUA_OK && lua_istable(L, -1)) {
            size_t n = lua_rawlen(L, -1);
            candidates = calloc(n ? n : 1, sizeof *candidates);
            for (size_t i = 1; candidates && i <= n; i++) {
                lua_rawgeti(L, -1, (lua_Integer)i);
                const char *s = lua_tostring(L, -1);
                if (s)
                    candidates[ncandidates++] = strdup(s);
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
    }
    pd_unlock();
    if (ncandidates == 0)
        return NULL;
    return rl_completion_matches(text, candidate_generator);
}

static int ensure_pipe(void)
{
    if (wake_pipe[0] >= 0)
        return 0;
    return pipe2(wake_pipe, O_NONBLOCK | O_CLOEXEC);
}

/* host.readline(prompt) -> line; nil at end of input; false on Ctrl-C. */
static int l_readline(lua_State *L)
{
    const char *prompt = luaL_optstring(L, 1, "> ");
    if (!isatty(0)) {
        /* Not a terminal: plain line reads, no editing. */
        char *copy = strdup(prompt);
        pd_unlock();
        fputs(copy, stdout);
        fflush(stdout);
        char *buf = NULL;
        size_t cap = 0;
        ssize_t n = getline(&buf, &cap, stdin);
        pd_lock();
        free(copy);
        if (n < 0) {
            free(buf);
            lua_pushnil(L);
            return 1;
        }
        if (n > 0 && buf[n - 1] == '\n')
            buf[n - 1] = 0;
        lua_pushstring(L, buf);
        free(buf);
        return 1;
    }
    if (ensure_pipe() != 0)
        return luaL_error(L, "cannot create a pipe: %s", strerror(errno));
    char *copy = strdup(prompt);
    int interrupted = 0;
    pd_unlock();
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    rl_attempted_completion_function = complete;
    line_done = 0;
    line_result = NULL;
    char drain[64];
    while (read(wake_pipe[0], drain, sizeof drain) > 0) {
        /* a Ctrl-C from before this prompt: forget it */
    }
    pd_signals_set_hook(on_signal);
    rl_callback_handler_install(copy, line_handler);
    while (!line_done) {
        struct pollfd fds[2] = {{0, POLLIN, 0}, {wake_pipe[0], POLLIN, 0}};
        int rc = poll(fds, 2, -1);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[1].revents & POLLIN) {
            ssize_t r = read(wake_pipe[0], drain, sizeof drain);
            (void)r;
            interrupted = 1;
            rl_free_line_state();
            rl_callback_sigcleanup();
            rl_replace_line("", 0);
            rl_crlf();
            rl_callback_handler_remove();
            break;
        }
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR))
            rl_callback_read_char();
    }
    pd_signals_set_hook(NULL);
    pd_lock();
    free(copy);
    free_candidates();
    if (interrupted) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (!line_result) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushstring(L, line_result);
    free(line_result);
    return 1;
}

/* host.set_completer(fn(text, line, start) -> {candidates}) */
static int l_set_completer(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_settop(L, 1);
    if (completer_ref != LUA_NOREF)
        luaL_unref(L, LUA_REGISTRYINDEX, completer_ref);
    completer_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
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

/* The interrupt of the running REPL command, for the count hook. */
static pd_interrupt *command_interrupt;
static int hook_fired;

static void command_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    if (command_interrupt && !hook_fired &&
        pd_interrupt_check(command_interrupt) != PD_OK) {
        hook_fired = 1;
        pd_core_raise_interrupt(L, PD_ECANCELLED, "interrupted");
    }
}

static int traceback(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TSTRING)
        luaL_traceback(L, L, lua_tostring(L, 1), 1);
    return 1;
}

/* host.call(fn, ...) -> true, results... | false, error
 * Runs fn as an interruptible command (see the file comment). */
static int l_call(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    int nargs = lua_gettop(L) - 1;
    pd_interrupt in;
    pd_interrupt_init(&in, 0);
    pd_interrupt *prev = pd_interrupt_swap(&in);
    pd_interrupt *prev_cmd = command_interrupt;
    command_interrupt = &in;
    hook_fired = 0;
    pd_signals_reset();
    pd_signals_set_foreground(&in);
    lua_sethook(L, command_hook, LUA_MASKCOUNT, 1000);

    lua_pushcfunction(L, traceback);
    lua_insert(L, 1);
    int status = lua_pcall(L, nargs, LUA_MULTRET, 1);

    lua_sethook(L, NULL, 0, 0);
    pd_signals_set_foreground(NULL);
    pd_signals_reset();
    command_interrupt = prev_cmd;
    pd_interrupt_swap(prev);
    pd_interrupt_destroy(&in);

    lua_pushboolean(L, status == LUA_OK);
    lua_replace(L, 1);
    return lua_gettop(L);
}

int luaopen_pdlua_host(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"readline", l_readline},
        {"set_completer", l_set_completer},
        {"add_history", l_add_history},
        {"read_history", l_read_history},
        {"write_history", l_write_history},
        {"isatty", l_isatty},
        {"call", l_call},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    return 1;
}
