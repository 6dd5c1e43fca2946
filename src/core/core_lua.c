/*
 * core_lua.c — binds the core to Lua as `pdlua.core`: pd.now, pd.sleep,
 * pd.error, pd.is_error, sha1_hex, the version and the install paths.
 *
 * Errors (include/pdlua/error.h): a misused call raises a string through
 * luaL_check*; an interrupted sleep or check raises a pdlua error
 * "timeout" or "cancelled" through pd_error_raise.
 */
#include "pdlua/core.h"
#include "pdlua/error.h"
#include "pdlua/interrupt.h"
#include "pdlua/runtime.h"

#include <lauxlib.h>
#include <openssl/evp.h>

int pd_core_raise_interrupt(lua_State *L, int status, const char *what)
{
    if (status == PD_ETIMEOUT)
        return pd_error_raise(L, 0, "timeout",
                              lua_pushfstring(L, "%s: deadline exceeded", what), 0);
    return pd_error_raise(L, 0, "cancelled",
                          lua_pushfstring(L, "%s: cancelled", what), 0);
}

static int l_now(lua_State *L)
{
    lua_pushnumber(L, pd_now());
    return 1;
}

/* pd.sleep(seconds): releases the interpreter lock while it sleeps; raises a
 * timeout/cancelled error if the caller's task is stopped meanwhile. */
static int l_sleep(lua_State *L)
{
    double s = luaL_checknumber(L, 1);
    luaL_argcheck(L, s >= 0, 1, "negative duration");
    pd_interrupt *in = pd_interrupt_current();
    pd_unlock();
    int rc = pd_interrupt_sleep(in, s);
    pd_lock();
    if (rc != PD_OK)
        return pd_core_raise_interrupt(L, rc, "sleep");
    return 0;
}

/* pd.check(): raises if the caller's task was cancelled or timed out; for
 * long Lua loops that want to stop promptly without waiting for the hook. */
static int l_check(lua_State *L)
{
    int rc = pd_interrupt_check(pd_interrupt_current());
    if (rc != PD_OK)
        return pd_core_raise_interrupt(L, rc, "task");
    return 0;
}

int pd_core_digest(lua_State *L, const char *algorithm, int hex)
{
    static const char digits[] = "0123456789abcdef";
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    const EVP_MD *type = EVP_get_digestbyname(algorithm);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!type || !EVP_Digest(s, n, md, &len, type, NULL))
        return luaL_error(L, "%s: no digest (out of memory?)", algorithm);
    char out[2 * EVP_MAX_MD_SIZE];
    for (unsigned int i = 0; hex && i < len; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    lua_pushlstring(L, hex ? out : (const char *)md, hex ? 2 * (size_t)len : len);
    return 1;
}

/* core.sha1_hex(s) -> 40 hex digits: stable identifiers (names, request
 * ids), not security. */
static int l_sha1_hex(lua_State *L) { return pd_core_digest(L, "SHA1", 1); }

static int l_paths(lua_State *L)
{
    lua_pushstring(L, pd_runtime_lua_dir());
    lua_pushstring(L, pd_runtime_script_dir());
    return 2;
}

int luaopen_pdlua_core(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"now", l_now},
        {"sleep", l_sleep},
        {"check", l_check},
        {"error", pd_error_l_new},
        {"is_error", pd_error_l_is},
        {"paths", l_paths},
        {"sha1_hex", l_sha1_hex},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    lua_pushstring(L, PDLUA_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
