/*
 * emu_lua.c — binds `pdlua.emu.core` (see include/pdlua/emu.h).
 *
 *   sha256(s)                 -> 32 raw bytes
 *   sha256_hex(s)             -> 64 hex digits
 *   b64encode(s [, url])      -> base64 (url: base64url without padding)
 *   b64decode(s [, url])      -> bytes, or nil, message
 *   rs256_verify(pem, data, sig) -> true, or false, message
 *       pem: a PUBLIC KEY, an X.509 CERTIFICATE or a PRIVATE KEY (its
 *       public half is used), so a test can register the very key file it
 *       signs with.
 *   wall_now()                -> seconds since the epoch, a float
 *
 * Functions that get bad input return nil/false and a message: the model
 * decides which HTTP error that becomes. Errors (include/pdlua/error.h):
 * only a misused call raises (a string, through luaL_check*).
 */
#include "pdlua/core.h"
#include "pdlua/emu.h"
#include "pdlua/interrupt.h"

#include <lauxlib.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

static int l_sha256(lua_State *L) { return pd_core_digest(L, "SHA256", 0); }
static int l_sha256_hex(lua_State *L) { return pd_core_digest(L, "SHA256", 1); }

static const char b64std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int l_b64encode(lua_State *L)
{
    size_t n;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    int url = lua_toboolean(L, 2);
    const char *tab = url ? b64url : b64std;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        luaL_addchar(&b, tab[(v >> 18) & 63]);
        luaL_addchar(&b, tab[(v >> 12) & 63]);
        if (i + 1 < n)
            luaL_addchar(&b, tab[(v >> 6) & 63]);
        else if (!url)
            luaL_addchar(&b, '=');
        if (i + 2 < n)
            luaL_addchar(&b, tab[v & 63]);
        else if (!url)
            luaL_addchar(&b, '=');
    }
    luaL_pushresult(&b);
    return 1;
}

static int b64val(int c, int url)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == (url ? '-' : '+')) return 62;
    if (c == (url ? '_' : '/')) return 63;
    return -1;
}

static int l_b64decode(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    int url = lua_toboolean(L, 2);
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1) {
        lua_pushnil(L);
        lua_pushliteral(L, "bad base64 length");
        return 2;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i], url);
        if (v < 0) {
            luaL_pushresult(&b);
            lua_pop(L, 1);
            lua_pushnil(L);
            lua_pushliteral(L, "bad base64 character");
            return 2;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            luaL_addchar(&b, (char)((acc >> bits) & 0xff));
        }
    }
    luaL_pushresult(&b);
    return 1;
}

/* Reads a public key from a PUBLIC KEY, CERTIFICATE or PRIVATE KEY PEM. */
static EVP_PKEY *load_public_key(const char *pem, size_t n)
{
    EVP_PKEY *key = NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)n);
    if (!bio)
        return NULL;
    if (strstr(pem, "BEGIN CERTIFICATE")) {
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (x) {
            key = X509_get_pubkey(x);
            X509_free(x);
        }
    } else if (strstr(pem, "PRIVATE KEY")) {
        key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    } else {
        key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    }
    BIO_free(bio);
    return key;
}

static int l_rs256_verify(lua_State *L)
{
    size_t pemlen, dlen, slen;
    const char *pem = luaL_checklstring(L, 1, &pemlen);
    const char *data = luaL_checklstring(L, 2, &dlen);
    const char *sig = luaL_checklstring(L, 3, &slen);
    EVP_PKEY *key = load_public_key(pem, pemlen);
    if (!key) {
        lua_pushboolean(L, 0);
        lua_pushliteral(L, "unreadable key");
        return 2;
    }
    int ok = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx && EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA &&
        EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1)
        ok = EVP_DigestVerify(ctx, (const unsigned char *)sig, slen,
                              (const unsigned char *)data, dlen) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    lua_pushboolean(L, ok);
    if (ok)
        return 1;
    lua_pushliteral(L, "signature does not verify");
    return 2;
}

static int l_wall_now(lua_State *L)
{
    lua_pushnumber(L, pd_realtime());
    return 1;
}

int luaopen_pdlua_emu_core(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"sha256", l_sha256},
        {"sha256_hex", l_sha256_hex},
        {"b64encode", l_b64encode},
        {"b64decode", l_b64decode},
        {"rs256_verify", l_rs256_verify},
        {"wall_now", l_wall_now},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    return 1;
}
