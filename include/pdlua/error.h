/*
 * error.h — pdlua's one error value, shared by every layer bound to Lua.
 *
 * An error raised to Lua is a table with the metatable "pdlua.error":
 *   { code = 404 | nil, reason = "notFound", message = "...",
 *     retryable = false, ... any extra fields (operation, errors, task) }
 * tostring(err) is one readable line: "notFound (404): message".
 * C code returns status codes and messages; only binding code turns them
 * into these values (docs/design.md, "Errors").
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
