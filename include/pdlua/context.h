/*
 * context.h — the typed shared context of a workflow run (`pd.context`).
 *
 * Tasks share results through one context whose fields are declared up
 * front with a type: string, integer, number, boolean, table, list<T> and
 * map<T> (T any of these, nested). Every write is checked, and a wrong type
 * raises an error naming the field, the expected and the given type, so a
 * task that stores the wrong thing fails at the write, not three tasks
 * later at the read. All access is under the interpreter lock, so each
 * method is atomic with respect to other tasks (ctx:incr is a safe
 * counter).
 */
#ifndef PDLUA_CONTEXT_H
#define PDLUA_CONTEXT_H

#include <lua.h>

#define PD_CONTEXT_META "pdlua.context"

/* pd.context(fields [, initial]) -> context userdata. */
int pd_context_l_new(lua_State *L);

/* True if the value at idx is a context. */
int pd_context_is(lua_State *L, int idx);

#endif
