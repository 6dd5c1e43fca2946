/*
 * emu.h — `pdlua.emu.core`, the few primitives the emulator's Lua model
 * cannot write well in Lua: SHA-256 (content and label fingerprints),
 * base64 and base64url, RS256 signature checks for the OAuth2 JWT-bearer
 * grant (OpenSSL libcrypto), and the wall clock for API timestamps.
 */
#ifndef PDLUA_EMU_H
#define PDLUA_EMU_H

#include <lua.h>

int luaopen_pdlua_emu_core(lua_State *L);

#endif
