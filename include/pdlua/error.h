/*
 * error.h — pdlua's one error value, shared by every layer bound to Lua.
 *
 * An error raised to Lua is a table with the metatable "pdlua.error":
 *   { code = 404 | nil, reason = "notFound", message = "...",
 *     retryable = false, ... any extra fields (operation, errors, task) }
 * tostring(err) is one readable line: "notFound (404): message".
 *
 * The error rule of src/ (docs/design.md, "Errors"; docs/api.md): only code that Lua calls
 * raises — lua_CFunctions (the binding files: *_lua.c, context.c, spawn.c,
 * error.c) and the count hooks (the executor's, the REPL's in host_lua.c)
 * that stop busy Lua code; every other C function returns a
 * status (PD_OK or 0, else a negative or PD_E* code, with a message where
 * one helps) and never raises. What Lua-called code raises:
 *   a. a plain string (luaL_check*, luaL_argcheck, luaL_argerror,
 *      luaL_error) only for misuse of the call itself — an argument of the
 *      wrong type or out of range, a closed object — and for a system
 *      resource that fails (memory, stack, threads, descriptors, randomness);
 *   b. otherwise a pdlua.error value, raised only through this file:
 *      pd_error_raise, pd_error_raisef (bad input: exit_code = 2), or
 *      pd_error_throw for a value from pd_error_push given more fields;
 *   c. an error caught from Lua code is passed on: unchanged (sem:with),
 *      or made a pdlua error by pd_error_normalize (a task's, a
 *      callback's).
 */
#ifndef PDLUA_ERROR_H
#define PDLUA_ERROR_H

#include <lua.h>

#define PD_ERROR_META "pdlua.error"

/* Creates the metatable (idempotent). */
void pd_error_init(lua_State *L);

/* Pushes a new error value. `code` <= 0 leaves it nil. */
void pd_error_push(lua_State *L, int code, const char *reason,
                   const char *message, int retryable);

/* Pushes a new error value and raises it. */
int pd_error_raise(lua_State *L, int code, const char *reason,
                   const char *message, int retryable);

/* Raises a pdlua error with a formatted message (lua_pushfstring's
 * formats); `exit_code` > 0 is set on it (2: bad input, nothing started). */
int pd_error_raisef(lua_State *L, const char *reason, int exit_code,
                    const char *fmt, ...);

/* Raises the pdlua error value on top of the stack (made by pd_error_push,
 * then given more fields). */
int pd_error_throw(lua_State *L);

/* True if the value at idx is a pdlua error. */
int pd_error_is(lua_State *L, int idx);

/* Replaces the value at the top with an error value: a pdlua error stays as
 * it is; a string or anything else becomes {reason = "error", message =
 * tostring(v), retryable = false}. */
void pd_error_normalize(lua_State *L);

/* Lua-facing: pd.error{...} sets the metatable on a table (fills defaults);
 * pd.is_error(v). */
int pd_error_l_new(lua_State *L);
int pd_error_l_is(lua_State *L);

#endif
