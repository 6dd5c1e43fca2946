/*
 * spawn.c — io.popen and os.execute for pdlua.
 *
 * pdlua blocks SIGINT and SIGTERM in every thread (one thread sigwait()s
 * for them) and ignores SIGPIPE. A child started by Lua's own popen() or
 * system() would inherit that mask and disposition: it could not be
 * stopped with SIGTERM or Ctrl-C, and `yes | head` would spin. These
 * replacements start `/bin/sh -c CMD` with posix_spawn, an empty signal
 * mask and default dispositions. os.execute releases the interpreter lock
 * while it waits; a popen'd stream's close does not (it may run from a
 * __gc metamethod, in the middle of a collection, where dropping the lock
 * would let another thread into a half-collected state).
 * Errors (include/pdlua/error.h): a misused call raises a string through
 * luaL_check*; a failed spawn is returned as Lua's io functions do.
 */
#include "pdlua/runtime.h"
#include "pdlua/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* A popen'd stream: Lua's luaL_Stream first, so liolib can use it. */
typedef struct {
    luaL_Stream s;
    pid_t pid;
} pd_pstream;

static int spawn_shell(const char *cmd, int child_fd, int target_fd, pid_t *pid)
{
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&fa);
    sigset_t empty, defaults;
    sigemptyset(&empty);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &empty);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (child_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, child_fd, target_fd);
    char *argv[] = {"sh", "-c", (char *)cmd, NULL};
    int rc = posix_spawn(pid, "/bin/sh", &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return rc;
}

static int wait_child(pid_t pid)
{
    int stat = 0;
    while (waitpid(pid, &stat, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return stat;
}

static int pstream_close(lua_State *L)
{
    pd_pstream *p = (pd_pstream *)luaL_checkudata(L, 1, LUA_FILEHANDLE);
    fclose(p->s.f);
    errno = 0;
    return luaL_execresult(L, wait_child(p->pid));
}

/* io.popen(cmd [, mode]) */
static int l_popen(lua_State *L)
{
    const char *cmd = luaL_checkstring(L, 1);
    const char *mode = luaL_optstring(L, 2, "r");
    luaL_argcheck(L, (mode[0] == 'r' || mode[0] == 'w') && mode[1] == 0, 2,
                  "invalid mode");
    int reading = mode[0] == 'r';
    pd_pstream *p = (pd_pstream *)lua_newuserdatauv(L, sizeof *p, 0);
    p->s.f = NULL;
    p->s.closef = NULL;
    luaL_setmetatable(L, LUA_FILEHANDLE);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return luaL_fileresult(L, 0, cmd);
    int parent_fd = reading ? fds[0] : fds[1];
    int child_fd = reading ? fds[1] : fds[0];
    fflush(NULL);
    int rc = spawn_shell(cmd, child_fd, reading ? 1 : 0, &p->pid);
    close(child_fd);
    if (rc != 0) {
        close(parent_fd);
        errno = rc;
        return luaL_fileresult(L, 0, cmd);
    }
    p->s.f = fdopen(parent_fd, mode);
    if (!p->s.f) {
        int e = errno;
        close(parent_fd);
        wait_child(p->pid);
        errno = e;
        return luaL_fileresult(L, 0, cmd);
    }
    p->s.closef = pstream_close;
    return 1;
}

/* os.execute([cmd]) */
static int l_execute(lua_State *L)
{
    const char *cmd = luaL_optstring(L, 1, NULL);
    if (!cmd) {
        lua_pushboolean(L, access("/bin/sh", X_OK) == 0);
        return 1;
    }
    fflush(NULL);
    pid_t pid;
    int rc = spawn_shell(cmd, -1, -1, &pid);
    if (rc != 0) {
        errno = rc;
        return luaL_execresult(L, -1);
    }
    pd_unlock();
    int stat = wait_child(pid);
    pd_lock();
    errno = 0;
    return luaL_execresult(L, stat);
}

void pd_spawn_install(lua_State *L)
{
    lua_getglobal(L, "io");
    lua_pushcfunction(L, l_popen);
    lua_setfield(L, -2, "popen");
    lua_pop(L, 1);
    lua_getglobal(L, "os");
    lua_pushcfunction(L, l_execute);
    lua_setfield(L, -2, "execute");
    lua_pop(L, 1);
}
