/*
 * gcp_lua.c — binds the Compute Engine client to Lua as `pdlua.gcp.core`.
 *
 * This file and json_lua.c are where the client's results become Lua values
 * and its failures pdlua.error values (docs/design.md, "Errors"; the rule is in
 * include/pdlua/error.h: a misused call raises a string through
 * luaL_check*, out of memory through luaL_error; a failed call raises its
 * error value through pd_error_throw, bad JSON through pd_error_raise). A call
 * copies its arguments into C memory, releases the interpreter lock for the
 * whole of pd_gcp_call_run (rate-limit waits, token refreshes, the
 * transfer, backoff sleeps), takes it back, and converts the parsed answer.
 * The Lua side (lua/pdlua/gcp.lua) builds paths from the method table and
 * adds iterators, operation waiting and label updates.
 */
#include "pdlua/auth.h"
#include "pdlua/error.h"
#include "pdlua/gcp.h"
#include "pdlua/gcp_lua.h"
#include "pdlua/http.h"
#include "pdlua/jwt.h"
#include "pdlua/luaclass.h"
#include "pdlua/modules.h"
#include "pdlua/runtime.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#define CLIENT_META "pdlua.gcp.client"

typedef struct client_ud {
    pd_gcp_client *c;
} client_ud;

static client_ud *check_client(lua_State *L)
{
    client_ud *ud = luaL_checkudata(L, 1, CLIENT_META);
    if (!ud->c)
        luaL_error(L, "the client is closed");
    return ud;
}

static double opt_number_field(lua_State *L, int t, const char *k, double dflt)
{
    lua_getfield(L, t, k);
    double v = luaL_opt(L, luaL_checknumber, -1, dflt);
    lua_pop(L, 1);
    return v;
}

/* A string field copied into C memory (freed by the caller). */
static char *opt_string_field(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    const char *s = luaL_optstring(L, -1, NULL);
    char *copy = s ? strdup(s) : NULL;
    lua_pop(L, 1);
    return copy;
}

static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* core.new{endpoint=, qps=, burst=, max_in_flight_ops=, timeout=,
 *          max_attempts=, backoff_initial=, backoff_max=, max_response=,
 *          credentials = {access_token=|file=|metadata=true, scope=},
 *          token_timeout=} */
static int l_new(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    pd_gcp_config cfg = {0};
    char *endpoint = opt_string_field(L, 1, "endpoint");
    cfg.endpoint = endpoint;
    cfg.qps = opt_number_field(L, 1, "qps", 0);
    cfg.burst = opt_number_field(L, 1, "burst", 0);
    cfg.max_in_flight_ops = (int)opt_number_field(L, 1, "max_in_flight_ops", 0);
    cfg.timeout = opt_number_field(L, 1, "timeout", 60);
    cfg.max_attempts = (int)opt_number_field(L, 1, "max_attempts", 8);
    cfg.backoff_initial = opt_number_field(L, 1, "backoff_initial", 1);
    cfg.backoff_max = opt_number_field(L, 1, "backoff_max", 30);
    cfg.max_response = (size_t)opt_number_field(L, 1, "max_response", 0);

    pd_auth_options ao = {0};
    char *token = NULL, *file = NULL, *scope = NULL;
    ao.timeout = opt_number_field(L, 1, "token_timeout", 30);
    if (lua_getfield(L, 1, "credentials") == LUA_TTABLE) {
        int t = lua_gettop(L);
        token = opt_string_field(L, t, "access_token");
        file = opt_string_field(L, t, "file");
        scope = opt_string_field(L, t, "scope");
        lua_getfield(L, t, "metadata");
        ao.metadata = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    ao.access_token = token;
    ao.file = file;
    ao.scope = scope;

    client_ud *ud = lua_newuserdatauv(L, sizeof *ud, 0);
    ud->c = NULL;
    luaL_setmetatable(L, CLIENT_META);

    char err[1024];
    /* reading credential files and parsing keys is quick: keep the lock */
    pd_auth *auth = pd_auth_new(&ao, err, sizeof err);
    if (auth)
        ud->c = pd_gcp_client_new(&cfg, auth, err, sizeof err);
    free_secret(token);
    free(file);
    free(scope);
    free(endpoint);
    if (!ud->c)
        return pd_error_raise(L, 0, auth ? "invalidArgument" : "authError", err, 0);
    return 1;
}

static int l_gc(lua_State *L)
{
    client_ud *ud = luaL_checkudata(L, 1, CLIENT_META);
    pd_gcp_client_free(ud->c);
    ud->c = NULL;
    return 0;
}

/* Pushes the error of a failed call: a pdlua.error with the API's
 * error.errors[] (when there is one), the method and the attempt count. */
static void push_call_error(lua_State *L, const pd_gcp_result *res, const char *method)
{
    pd_error_push(L, res->code, res->reason, res->message, res->retryable);
    lua_pushstring(L, method);
    lua_setfield(L, -2, "method");
    lua_pushinteger(L, res->attempts);
    lua_setfield(L, -2, "attempts");
    const pd_json *e = pd_json_get(pd_json_root(res->doc), "error");
    const pd_json *errors = pd_json_get(e, "errors");
    if (errors && errors->type == PD_JSON_ARRAY) {
        pd_json_push(L, errors);
        lua_setfield(L, -2, "errors");
    }
}

/* client:call(method, verb, path [, body [, flags [, timeout [, deadline]]]])
 * → the decoded answer (a table; {} when the answer is empty). */
static int l_call(lua_State *L)
{
    client_ud *ud = check_client(L);
    pd_gcp_call call = {0};
    size_t blen = 0;
    const char *m = luaL_checkstring(L, 2);
    const char *verb = luaL_checkstring(L, 3);
    const char *path = luaL_checkstring(L, 4);
    const char *body = luaL_optlstring(L, 5, NULL, &blen);
    call.flags = (int)luaL_optinteger(L, 6, 0);
    call.timeout = luaL_optnumber(L, 7, 0);
    call.deadline = luaL_optnumber(L, 8, 0);

    /* copies: nothing from the Lua state is read while unlocked */
    char *cm = strdup(m), *cv = strdup(verb), *cp = strdup(path);
    char *cb = body ? malloc(blen + 1) : NULL;
    if (!cm || !cv || !cp || (body && !cb)) {
        free(cm); free(cv); free(cp); free(cb);
        return luaL_error(L, "out of memory");
    }
    if (cb) {
        memcpy(cb, body, blen);
        cb[blen] = 0;
    }
    call.method = cm;
    call.verb = cv;
    call.path = cp;
    call.body = cb;
    call.body_len = blen;

    pd_gcp_result res;
    pd_unlock();
    pd_gcp_call_run(ud->c, &call, &res);
    pd_lock();
    free(cv); free(cp); free(cb);

    if (res.rc != PD_OK) {
        push_call_error(L, &res, cm);
        free(cm);
        pd_gcp_result_free(&res);
        return pd_error_throw(L);
    }
    free(cm);
    const pd_json *root = pd_json_root(res.doc);
    if (root)
        pd_json_push(L, root);
    else
        lua_newtable(L);
    pd_gcp_result_free(&res);
    return 1;
}

static void set_num(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, long v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

/* client:stats() → {methods = {[name] = {...}}, calls=, requests=, …} */
static int l_stats(lua_State *L)
{
    client_ud *ud = check_client(L);
    pd_stats_method *rows = malloc(sizeof *rows * PD_STATS_MAX_METHODS);
    if (!rows)
        return luaL_error(L, "out of memory");
    pd_stats_totals t;
    int n = pd_stats_snapshot(pd_gcp_client_stats(ud->c), rows, PD_STATS_MAX_METHODS, &t);
    lua_createtable(L, 0, 12);
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        const pd_stats_method *r = &rows[i];
        lua_createtable(L, 0, 11);
        set_int(L, "calls", r->calls);
        set_int(L, "requests", r->requests);
        set_int(L, "retries", r->retries);
        set_int(L, "errors", r->errors);
        set_int(L, "throttled", r->throttled);
        set_int(L, "rate_limited", r->rate_limited);
        set_num(L, "p50", r->p50);
        set_num(L, "p90", r->p90);
        set_num(L, "p99", r->p99);
        set_num(L, "max", r->max);
        set_num(L, "mean", r->mean);
        lua_setfield(L, -2, r->name);
    }
    free(rows);
    lua_setfield(L, -2, "methods");
    set_int(L, "calls", t.calls);
    set_int(L, "requests", t.requests);
    set_int(L, "retries", t.retries);
    set_int(L, "errors", t.errors);
    set_int(L, "throttled", t.throttled);
    set_int(L, "rate_limited", t.rate_limited);
    set_int(L, "connections", t.connections);
    set_int(L, "bytes", t.bytes);
    set_num(L, "limiter_wait", t.limiter_wait);
    set_int(L, "ops_in_flight", pd_gcp_client_ops_in_flight(ud->c));
    set_int(L, "token_refreshes", pd_auth_refreshes(pd_gcp_client_auth(ud->c)));
    set_num(L, "qps", pd_gcp_client_qps(ud->c));
    return 1;
}

static int l_reset_stats(lua_State *L)
{
    client_ud *ud = check_client(L);
    pd_stats_reset(pd_gcp_client_stats(ud->c));
    return 0;
}

/* client:info() → {endpoint=, credentials = {kind=, source=, project=}} */
static int l_info(lua_State *L)
{
    client_ud *ud = check_client(L);
    pd_auth *a = pd_gcp_client_auth(ud->c);
    lua_createtable(L, 0, 2);
    lua_pushstring(L, pd_gcp_client_endpoint(ud->c));
    lua_setfield(L, -2, "endpoint");
    lua_createtable(L, 0, 3);
    lua_pushstring(L, pd_auth_kind(a));
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, pd_auth_source(a));
    lua_setfield(L, -2, "source");
    if (pd_auth_project(a)) {
        lua_pushstring(L, pd_auth_project(a));
        lua_setfield(L, -2, "project");
    }
    lua_setfield(L, -2, "credentials");
    return 1;
}

static int l_uuid(lua_State *L)
{
    char u[37];
    if (pd_uuid4(u) != 0)
        return luaL_error(L, "no randomness available for a request id");
    lua_pushstring(L, u);
    return 1;
}

static int l_log_http(lua_State *L)
{
    if (!lua_isnone(L, 1))
        pd_http_set_logging(lua_toboolean(L, 1));
    lua_pushboolean(L, pd_http_logging());
    return 1;
}

static int l_check_url(lua_State *L)
{
    char err[512];
    if (pd_http_check_url(luaL_checkstring(L, 1), lua_toboolean(L, 2), err, sizeof err) ==
        PD_OK) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
}

static int l_retryable(lua_State *L)
{
    lua_pushboolean(L, pd_gcp_retryable_status(luaL_checkinteger(L, 1),
                                               luaL_optstring(L, 2, NULL),
                                               luaL_optstring(L, 3, NULL)));
    return 1;
}

/* Frees the main thread's curl handles when the interpreter closes, before
 * curl_global_cleanup (worker threads free theirs when they exit). */
static int l_thread_cleanup(lua_State *L)
{
    pd_http_thread_cleanup();
    return 0;
}

int luaopen_pdlua_gcp_core(lua_State *L)
{
    static const luaL_Reg client_methods[] = {
        {"call", l_call},
        {"stats", l_stats},
        {"reset_stats", l_reset_stats},
        {"info", l_info},
        {NULL, NULL},
    };
    static const luaL_Reg fns[] = {
        {"new", l_new},
        {"uuid", l_uuid},
        {"log_http", l_log_http},
        {"check_url", l_check_url},
        {"retryable", l_retryable},
        {"_run_threads", pd_gcp_l_run_threads},
        {NULL, NULL},
    };
    pd_error_init(L);
    static const luaL_Reg client_meta[] = {{"__gc", l_gc}, {NULL, NULL}};
    pd_luaclass_metatable(L, CLIENT_META, client_methods, client_meta);
    lua_pop(L, 1);
    pd_json_lua_init(L);

    /* a sentinel whose __gc runs at lua_close */
    lua_newuserdatauv(L, 1, 0);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, l_thread_cleanup);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, "pdlua.gcp.cleanup");

    luaL_newlib(L, fns);
    lua_pushinteger(L, PD_GCP_MUTATION);
    lua_setfield(L, -2, "MUTATION");
    lua_pushinteger(L, PD_GCP_OP_POLL);
    lua_setfield(L, -2, "OP_POLL");
    return 1;
}
