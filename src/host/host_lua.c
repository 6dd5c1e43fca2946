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
 *
 * Durable files (host.fsync, host.write_file_atomic, host.sync_dir,
 * host.lock_file): what
 * a migration's journal, report and run lock stand on. Each releases the
 * interpreter lock while the kernel may block (fsync waits for the disk),
 * so the workflow's other tasks keep running meanwhile.
 */
#include "pdlua/core.h"
#include "pdlua/interrupt.h"
#include "pdlua/modules.h"
#include "pdlua/runtime.h"
#include "pdlua/signals.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lualib.h>
#include <poll.h>
#include <pthread.h>
#include <readline/history.h>
#include <readline/readline.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
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

/* host.realtime() -> seconds since the epoch, with sub-second precision
 * (os.time has whole seconds; the events file wants milliseconds). */
static int l_realtime(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

/* host.term_width() -> columns of the terminal on stderr, or nil. Asked
 * at each redraw so the status block follows a resized window. */
static int l_term_width(lua_State *L)
{
    struct winsize ws;
    if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        lua_pushinteger(L, ws.ws_col);
    else
        lua_pushnil(L);
    return 1;
}

/* host.signal_count() -> SIGINT/SIGTERMs seen since the last reset. The
 * signal thread prints its own "interrupted" line; a display that redraws
 * in place uses this to know the screen moved under it. */
static int l_signal_count(lua_State *L)
{
    lua_pushinteger(L, pd_signals_count());
    return 1;
}

/* Pushes nil, message, errno, errno's name (as Lua's io functions do, plus
 * the name: "ENOSPC"). `what` (a path) prefixes the message when given. */
static int push_errno(lua_State *L, int err, const char *what)
{
    lua_pushnil(L);
    if (what)
        lua_pushfstring(L, "%s: %s", what, strerror(err));
    else
        lua_pushstring(L, strerror(err));
    lua_pushinteger(L, err);
    const char *name = strerrorname_np(err);
    lua_pushstring(L, name ? name : "");
    return 4;
}

/* Group commit. Threads that fsync the same file at the same time share
 * fsyncs: each takes a ticket once its data is in the kernel; one thread
 * at a time runs fsync(2), which covers every ticket handed out before it
 * began, while the others wait for the one that covers theirs. 160 tasks
 * journaling at once then cost a few fsyncs, not 160 in a row. */
typedef struct syncer {
    dev_t dev;
    ino_t ino;
    uint64_t issued;    /* tickets handed out */
    uint64_t synced;    /* every ticket up to this one is on the disk */
    uint64_t failed;    /* every ticket up to this one failed ... */
    int err;            /* ... with this errno */
    int busy;           /* an fsync is under way */
    struct syncer *next;
} syncer;

static pthread_mutex_t sync_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sync_cv = PTHREAD_COND_INITIALIZER;
static syncer *syncers;

/* The syncer of a file (sync_mu held); NULL when out of memory. */
static syncer *syncer_of(dev_t dev, ino_t ino)
{
    for (syncer *s = syncers; s; s = s->next)
        if (s->dev == dev && s->ino == ino)
            return s;
    syncer *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->dev = dev;
    s->ino = ino;
    s->next = syncers;
    syncers = s;
    return s;
}

/* Waits until `ticket` is on the disk (sync_mu held); 0 or an errno. */
static int sync_ticket(syncer *s, uint64_t ticket, int fd)
{
    while (s->synced < ticket) {
        if (s->failed >= ticket)
            return s->err;
        if (s->busy) {
            pthread_cond_wait(&sync_cv, &sync_mu);
            continue;
        }
        s->busy = 1;
        uint64_t upto = s->issued;
        pthread_mutex_unlock(&sync_mu);
        int rc = fsync(fd);
        int err = errno;
        pthread_mutex_lock(&sync_mu);
        s->busy = 0;
        if (rc == 0) {
            if (upto > s->synced)
                s->synced = upto;
        } else {
            s->failed = upto;
            s->err = err;
        }
        pthread_cond_broadcast(&sync_cv);
    }
    return 0;
}

/* host.fsync(file) -> true | nil, message, errno, errno name
 * Flushes a Lua file's buffer to the kernel, then waits until the kernel
 * has put it on the disk. The flush runs under the interpreter lock (the
 * FILE is Lua's); the fsync, on a duplicate of the descriptor so that
 * nothing the other threads do to the file can pull it away, runs with the
 * lock released and is shared with other threads syncing the same file
 * (group commit, above). */
static int l_fsync(lua_State *L)
{
    luaL_Stream *s = (luaL_Stream *)luaL_checkudata(L, 1, LUA_FILEHANDLE);
    if (s->closef == NULL)
        return luaL_error(L, "attempt to use a closed file");
    if (fflush(s->f) != 0)
        return push_errno(L, errno, NULL);
    struct stat st;
    int fd = fcntl(fileno(s->f), F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return push_errno(L, errno, NULL);
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return push_errno(L, err, NULL);
    }
    pthread_mutex_lock(&sync_mu);
    syncer *sy = syncer_of(st.st_dev, st.st_ino);
    uint64_t ticket = sy ? ++sy->issued : 0;
    pthread_mutex_unlock(&sync_mu);
    pd_unlock();
    int err = 0;
    if (sy) {
        pthread_mutex_lock(&sync_mu);
        err = sync_ticket(sy, ticket, fd);
        pthread_mutex_unlock(&sync_mu);
    } else if (fsync(fd) != 0) {
        err = errno;
    }
    close(fd);
    pd_lock();
    if (err)
        return push_errno(L, err, NULL);
    lua_pushboolean(L, 1);
    return 1;
}

/* Writes all of buf to fd; 0 or an errno. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (n == 0)
            return EIO;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* fsyncs the directory holding `path`; 0 or an errno. File systems that
 * cannot sync a directory (EINVAL) make their renames durable otherwise. */
static int sync_parent(const char *path)
{
    char *dir = strdup(path);
    if (!dir)
        return ENOMEM;
    char *slash = strrchr(dir, '/');
    if (!slash) {
        strcpy(dir, ".");
    } else if (slash == dir) {
        dir[1] = 0;
    } else {
        *slash = 0;
    }
    int err = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        err = errno;
    } else {
        if (fsync(fd) != 0 && errno != EINVAL)
            err = errno;
        close(fd);
    }
    free(dir);
    return err;
}

/* The I/O of write_file_atomic, run without the interpreter lock; 0 or an
 * errno (the temporary file is gone when it fails). */
static int atomic_write(const char *path, const char *tmp, const char *data, size_t len)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return errno;
    int err = write_all(fd, data, len);
    if (!err && fsync(fd) != 0)
        err = errno;
    if (close(fd) != 0 && !err)
        err = errno;
    if (!err && rename(tmp, path) != 0)
        err = errno;
    if (err) {
        unlink(tmp);
        return err;
    }
    return sync_parent(path);
}

/* host.write_file_atomic(path, data) -> true | nil, "path: error", errno,
 * errno name
 * Replaces `path` with `data` so that a reader (or a crash) sees the old
 * file or the new one, whole, never a part: writes path.tmp.<pid>, checks
 * every write, fsyncs it, renames it over `path`, fsyncs the directory. */
static int l_write_file_atomic(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0)
        return luaL_error(L, "out of memory");
    /* path and data stay anchored on this function's stack (and Lua
     * strings never move), so they are read with the lock released. */
    pd_unlock();
    int err = atomic_write(path, tmp, data, len);
    pd_lock();
    free(tmp);
    if (err)
        return push_errno(L, err, path);
    lua_pushboolean(L, 1);
    return 1;
}

/* host.sync_dir(path) -> true | nil, "path: error", errno, errno name
 * fsyncs the directory holding `path`, so that a file just created or
 * renamed there is still there after a crash (lock released meanwhile). */
static int l_sync_dir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    pd_unlock();
    int err = sync_parent(path);
    pd_lock();
    if (err)
        return push_errno(L, err, path);
    lua_pushboolean(L, 1);
    return 1;
}

/* The locks this process holds: kept open (and so held) until it exits. */
struct held_lock {
    dev_t dev;
    ino_t ino;
    int fd;
    char *path;
};
static struct held_lock *held_locks;
static size_t nheld_locks;

/* Reads what the holder of a lock wrote in it (its pid and host). */
static void push_holder(lua_State *L, const char *path)
{
    char buf[256];
    ssize_t n = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
    }
    if (n < 0)
        n = 0;
    buf[n] = 0;
    buf[strcspn(buf, "\n")] = 0;
    lua_pushstring(L, buf);
}

/* host.lock_file(path) -> true | nil, "held", holder | nil, message, errno,
 * errno name
 * Takes an exclusive lock on `path` (created if missing) for the rest of
 * the life of this process: flock(LOCK_EX | LOCK_NB) on a descriptor that
 * is never closed (nor inherited by children). The kernel drops it when the
 * process ends, however it ends, so a lock is never stale. The file gets
 * "<pid> <host>" for whoever finds it held; `holder` is that text. Locking
 * a path this process already holds succeeds. */
static int l_lock_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (stat(path, &st) == 0) {
        for (size_t i = 0; i < nheld_locks; i++) {
            if (held_locks[i].dev == st.st_dev && held_locks[i].ino == st.st_ino) {
                lua_pushboolean(L, 1);
                return 1;
            }
        }
    }
    struct held_lock *grown = realloc(held_locks, (nheld_locks + 1) * sizeof *held_locks);
    if (!grown)
        return luaL_error(L, "out of memory");
    held_locks = grown;
    /* The file may be removed and made anew between open and flock (by a
     * person, or an older pdlua that removed its lock file): a lock on a
     * file no longer at `path` locks nothing, so try again. */
    for (int tries = 0; tries < 10; tries++) {
        int fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0666);
        if (fd < 0)
            return push_errno(L, errno, path);
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int err = errno;
            close(fd);
            if (err == EWOULDBLOCK) {
                lua_pushnil(L);
                lua_pushliteral(L, "held");
                push_holder(L, path);
                return 3;
            }
            if (err == EINTR)
                continue;
            return push_errno(L, err, path);
        }
        struct stat fst, pst;
        if (fstat(fd, &fst) != 0 || stat(path, &pst) != 0 || fst.st_dev != pst.st_dev ||
            fst.st_ino != pst.st_ino) {
            close(fd);
            continue;
        }
        char host[256] = "";
        gethostname(host, sizeof host - 1);
        char text[320];
        int n = snprintf(text, sizeof text, "%ld %s\n", (long)getpid(), host);
        /* What it says is for people; the lock holds even when the disk is
         * too full to say it. */
        if (ftruncate(fd, 0) == 0 && n > 0)
            (void)write_all(fd, text, (size_t)n);
        char *copy = strdup(path);
        if (!copy) {
            close(fd);
            return luaL_error(L, "out of memory");
        }
        held_locks[nheld_locks++] = (struct held_lock){fst.st_dev, fst.st_ino, fd, copy};
        lua_pushboolean(L, 1);
        return 1;
    }
    return push_errno(L, EAGAIN, path);
}

/* host.unlock_file(path) -> whether this process held it
 * Lets go of a lock taken with lock_file (a process that goes on after
 * the work the lock was for: the REPL after a migrate{}). */
static int l_unlock_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    for (size_t i = 0; i < nheld_locks; i++) {
        if (strcmp(held_locks[i].path, path) == 0) {
            close(held_locks[i].fd);
            free(held_locks[i].path);
            held_locks[i] = held_locks[--nheld_locks];
            lua_pushboolean(L, 1);
            return 1;
        }
    }
    lua_pushboolean(L, 0);
    return 1;
}

/* host.locks() -> {path, ...}: the locks this process holds. */
static int l_locks(lua_State *L)
{
    lua_createtable(L, (int)nheld_locks, 0);
    for (size_t i = 0; i < nheld_locks; i++) {
        lua_pushstring(L, held_locks[i].path);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
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
        {"realtime", l_realtime},
        {"term_width", l_term_width},
        {"signal_count", l_signal_count},
        {"call", l_call},
        {"fsync", l_fsync},
        {"write_file_atomic", l_write_file_atomic},
        {"sync_dir", l_sync_dir},
        {"lock_file", l_lock_file},
        {"unlock_file", l_unlock_file},
        {"locks", l_locks},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    return 1;
}
