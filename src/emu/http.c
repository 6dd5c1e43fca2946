/*
 * http.c — pdlua-emu's HTTP front end (see include/pdlua/emu_http.h).
 *
 * libmicrohttpd parses HTTP/1.1 (keep-alive, chunked uploads) and runs one
 * thread per connection; this file only gathers a request (method, path,
 * query, headers, body), calls the Lua handler under the interpreter lock
 * in a fresh coroutine, and sends back what the handler returned. All the
 * emulator's behaviour lives in Lua (lua/emu/); C owns sockets and threads.
 *
 * The listening socket is created here (bound to 127.0.0.1 only) and given
 * to libmicrohttpd, so port 0 works and the bound port is known before the
 * "listening on" line is printed.
 */
#include "pdlua/emu_http.h"
#include "pdlua/heap.h"
#include "pdlua/runtime.h"

#include <arpa/inet.h>
#include <errno.h>
#include <lauxlib.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct pd_emu_http {
    struct MHD_Daemon *daemon;
    int fd;
    int port;
    int handler_ref;
    size_t max_body;
};

/* One request being received: the body grows as libmicrohttpd hands it
 * over in pieces. */
typedef struct {
    char *body;
    size_t len, cap;
    int too_big;
} request;

/* What the handler answered, copied out of Lua so the lock can be dropped
 * before any socket write. */
typedef struct {
    int status;
    char *body;
    size_t len;
    char *ctype;
    char **hdrs;   /* name, value, name, value, ... */
    int nhdrs;
    int reset;
} answer;

static int append(request *r, const char *data, size_t n, size_t max)
{
    if (r->too_big || r->len + n > max) {
        r->too_big = 1;
        return 0;
    }
    if (pd_grow(&r->body, &r->cap, r->len + n + 1, 1) != 0) {
        r->too_big = 1;
        return 0;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = 0;
    return 1;
}

static enum MHD_Result put_value(void *cls, enum MHD_ValueKind kind,
                                 const char *key, const char *value)
{
    lua_State *co = cls;
    if (!key)
        return MHD_YES;
    if (kind == MHD_HEADER_KIND) {
        char name[128];
        size_t n = strlen(key);
        if (n >= sizeof name)
            return MHD_YES;
        for (size_t i = 0; i <= n; i++) {
            char ch = key[i];
            name[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
        }
        lua_pushstring(co, value ? value : "");
        lua_setfield(co, -2, name);
    } else {
        lua_pushstring(co, value ? value : "");
        lua_setfield(co, -2, key);
    }
    return MHD_YES;
}

static char *dup_str(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static void answer_error(answer *a, int status, const char *msg)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "{\"error\":{\"code\":%d,\"message\":\"%s\",\"errors\":"
                     "[{\"message\":\"%s\",\"domain\":\"global\",\"reason\":"
                     "\"backendError\"}]}}",
                     status, msg, msg);
    a->status = status;
    a->body = dup_str(buf, (size_t)n);
    a->len = a->body ? (size_t)n : 0;
    a->ctype = dup_str("application/json; charset=UTF-8", 31);
}

/* Runs the Lua handler for one request and copies its answer out. */
static void call_handler(pd_emu_http *h, struct MHD_Connection *c,
                         const char *method, const char *url, request *r,
                         answer *a)
{
    pd_lock();
    lua_State *L = pd_runtime_state();
    lua_State *co = lua_newthread(L);
    int co_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    lua_pushcfunction(co, pd_runtime_traceback);
    lua_rawgeti(co, LUA_REGISTRYINDEX, h->handler_ref);
    lua_pushstring(co, method);
    lua_pushstring(co, url);
    lua_newtable(co);
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, put_value, co);
    lua_newtable(co);
    MHD_get_connection_values(c, MHD_HEADER_KIND, put_value, co);
    lua_pushlstring(co, r->body ? r->body : "", r->len);

    if (lua_pcall(co, 5, 5, 1) != LUA_OK) {
        fprintf(stderr, "pdlua-emu: handler error: %s\n", lua_tostring(co, -1));
        answer_error(a, 500, "emulator handler error");
    } else {
        a->status = (int)lua_tointeger(co, 2);
        size_t n = 0;
        const char *s = lua_tolstring(co, 3, &n);
        a->body = dup_str(s ? s : "", s ? n : 0);
        a->len = a->body ? n : 0;
        s = lua_tostring(co, 4);
        if (s)
            a->ctype = dup_str(s, strlen(s));
        if (lua_istable(co, 5)) {
            int count = 0;
            lua_pushnil(co);
            while (lua_next(co, 5)) {
                count++;
                lua_pop(co, 1);
            }
            a->hdrs = calloc((size_t)count * 2 + 1, sizeof(char *));
            lua_pushnil(co);
            while (a->hdrs && lua_next(co, 5)) {
                const char *k = lua_tostring(co, -2);
                const char *v = lua_tostring(co, -1);
                if (k && v && lua_type(co, -2) == LUA_TSTRING) {
                    a->hdrs[a->nhdrs * 2] = dup_str(k, strlen(k));
                    a->hdrs[a->nhdrs * 2 + 1] = dup_str(v, strlen(v));
                    a->nhdrs++;
                }
                lua_pop(co, 1);
            }
        }
        const char *action = lua_tostring(co, 6);
        a->reset = action && strcmp(action, "reset") == 0;
        if (a->status < 100 || a->status > 599)
            a->status = 500;
    }
    lua_settop(co, 0);
    luaL_unref(L, LUA_REGISTRYINDEX, co_ref);
    pd_unlock();
}

static void answer_free(answer *a)
{
    free(a->ctype);
    for (int i = 0; a->hdrs && i < a->nhdrs * 2; i++)
        free(a->hdrs[i]);
    free(a->hdrs);
    free(a->body);
}

/* Closes the connection with a TCP reset (SO_LINGER 0) instead of an
 * answer: what a client sees when a load balancer drops it. */
static enum MHD_Result reset_connection(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci) {
        struct linger lg = {1, 0};
        setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    return MHD_NO;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    pd_emu_http *h = cls;
    request *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_size) {
        append(r, upload_data, *upload_size, h->max_body);
        *upload_size = 0;
        return MHD_YES;
    }

    answer a = {0};
    if (r->too_big)
        answer_error(&a, 413, "request body too large");
    else
        call_handler(h, c, method, url, r, &a);

    if (a.reset) {
        answer_free(&a);
        return reset_connection(c);
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(a.len, a.body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        answer_free(&a);
        return MHD_NO;
    }
    a.body = NULL;   /* owned by the response now */
    if (a.ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a.ctype);
    for (int i = 0; i < a.nhdrs; i++)
        MHD_add_response_header(resp, a.hdrs[i * 2], a.hdrs[i * 2 + 1]);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)a.status, resp);
    MHD_destroy_response(resp);
    answer_free(&a);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    request *r = *con_cls;
    if (r) {
        free(r->body);
        free(r);
        *con_cls = NULL;
    }
}

static int listen_loopback(int port, int *bound, char *err, size_t errlen)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        snprintf(err, errlen, "cannot bind 127.0.0.1:%d: %s", port, strerror(errno));
        close(fd);
        return -1;
    }
    if (listen(fd, 1024) != 0) {
        snprintf(err, errlen, "listen: %s", strerror(errno));
        close(fd);
        return -1;
    }
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *bound = ntohs(sa.sin_port);
    return fd;
}

pd_emu_http *pd_emu_http_start(int port, int handler_ref, size_t max_body,
                               char *err, size_t errlen)
{
    pd_emu_http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->handler_ref = handler_ref;
    h->max_body = max_body;
    h->fd = listen_loopback(port, &h->port, err, errlen);
    if (h->fd < 0) {
        free(h);
        return NULL;
    }
    /* poll(), not select(): hundreds of long-polls exceed FD_SETSIZE
     * quickly once the process holds other descriptors. */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC;
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, h,
        MHD_OPTION_LISTEN_SOCKET, h->fd,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
        MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, errlen, "cannot start the HTTP server on port %d", h->port);
        close(h->fd);
        free(h);
        return NULL;
    }
    return h;
}

int pd_emu_http_port(const pd_emu_http *h) { return h->port; }

void pd_emu_http_stop(pd_emu_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon);   /* closes the listening socket too */
    free(h);
}
