/*
 * events_lua.c — what a run tells the thread in wf:run, as Lua tables
 * handed to the user's callbacks: state changes, rollback starts and log
 * lines to on_event (log lines to the default logger when there is no
 * on_event), progress to on_progress; and t:log, which queues a log line
 * from inside a task. Runs on the caller's thread with the interpreter
 * lock held (run_lua.c's loop).
 *
 * Errors (include/pdlua/error.h): an error raised by a callback is kept
 * (normalised to a pdlua error), cancels the run and silences that
 * callback; run_lua.c raises it once the run has stopped.
 */
#include "pdlua/engine_lua.h"

#include <lauxlib.h>
#include <stdio.h>

/* The task handle's log method: t:log(...) */
int pd_run_l_task_log(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 2; i <= n; i++) {
        if (i > 2)
            luaL_addchar(&b, ' ');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    uint64_t serial = (uint64_t)lua_tointeger(L, lua_upvalueindex(1));
    lua_pushvalue(L, -1);
    if (pd_exec_log(L, serial) != 0) {
        /* Not inside a running task of that run: print it plainly. */
        lua_getfield(L, 1, "id");
        fprintf(stderr, "%s: %s\n", lua_tostring(L, -1), lua_tostring(L, -2));
        fflush(stderr);
    }
    return 0;
}

/* Pushes payload `key` of the store (an error or a log message), and
 * drops it from the store. */
static void take_payload(lua_State *L, int store, int key)
{
    lua_rawgeti(L, store, PD_STORE_PAYLOAD);
    lua_rawgeti(L, -1, key);
    lua_pushnil(L);
    lua_rawseti(L, -3, key);
    lua_remove(L, -2);
}

/* The fields of a state change: state, previous, retry_in, and the error
 * or the skip's reason and cause. */
static void set_state_fields(lua_State *L, pd_run *rs, int store, const pd_exec_event *e)
{
    lua_pushstring(L, pd_task_state_name(e->state));
    lua_setfield(L, -2, "state");
    lua_pushstring(L, pd_task_state_name(e->prev));
    lua_setfield(L, -2, "previous");
    if (e->retry_in >= 0) {
        lua_pushnumber(L, e->retry_in);
        lua_setfield(L, -2, "retry_in");
    }
    switch (e->state) {
    case PD_TASK_FAILED: case PD_TASK_TIMED_OUT: case PD_TASK_CANCELLED:
    case PD_TASK_ROLLBACK_FAILED:
        pd_run_push_error(L, store, e->task, e->state);
        lua_setfield(L, -2, "error");
        break;
    case PD_TASK_SKIPPED:
        pd_run_set_skip(L, rs, e->task);
        break;
    default:
        break;
    }
}

static void push_event(lua_State *L, pd_run *rs, int store, const pd_exec_event *e)
{
    static const char *const kinds[] = {"state", "rollback", "log"};
    lua_createtable(L, 0, 8);
    lua_pushstring(L, kinds[e->kind]);
    lua_setfield(L, -2, "type");
    lua_pushstring(L, pd_graph_id(rs->wf->g, e->task));
    lua_setfield(L, -2, "task");
    lua_pushinteger(L, e->attempt);
    lua_setfield(L, -2, "attempt");
    lua_pushnumber(L, e->time);
    lua_setfield(L, -2, "time");
    if (e->rollback) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "rollback");
    }
    if (e->payload) {
        take_payload(L, store, e->payload);
        lua_setfield(L, -2, e->kind == PD_EVENT_LOG ? "message" : "error");
    }
    if (e->kind == PD_EVENT_STATE)
        set_state_fields(L, rs, store, e);
}

/* Calls the function at *slot with the value on top (popped). A failure
 * is kept (the first one), cancels the run and silences that callback for
 * the rest of the run (*slot and *outer set to 0). */
static void call_back(lua_State *L, pd_run *rs, int *slot, int *outer)
{
    lua_pushvalue(L, *slot);
    lua_insert(L, -2);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        if (rs->callback_error == LUA_NOREF) {
            pd_error_normalize(L);
            rs->callback_error = luaL_ref(L, LUA_REGISTRYINDEX);
        } else {
            lua_pop(L, 1);
        }
        *slot = 0;
        *outer = 0;
        pd_exec_cancel(rs->x);
    }
}

static void set_number(lua_State *L, const char *field, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, field);
}

static void push_progress(lua_State *L, pd_run *rs)
{
    int counts[PD_TASK_NSTATES];
    int running[256];
    double elapsed;
    size_t nrun = pd_exec_progress(rs->x, counts, running, 256, &elapsed);
    lua_createtable(L, 0, 10);
    lua_pushstring(L, rs->wf->name);
    lua_setfield(L, -2, "name");
    lua_createtable(L, 0, PD_TASK_NSTATES);
    size_t done = 0;
    for (int s = 0; s < PD_TASK_NSTATES; s++) {
        lua_pushinteger(L, counts[s]);
        lua_setfield(L, -2, pd_task_state_name(s));
        if (s >= PD_TASK_SUCCEEDED)
            done += (size_t)counts[s];
    }
    lua_setfield(L, -2, "counts");
    lua_createtable(L, (int)nrun, 0);
    for (size_t k = 0; k < nrun; k++) {
        lua_pushstring(L, pd_graph_id(rs->wf->g, running[k]));
        lua_rawseti(L, -2, (lua_Integer)k + 1);
    }
    lua_setfield(L, -2, "running");
    lua_pushinteger(L, (lua_Integer)rs->n);
    lua_setfield(L, -2, "total");
    lua_pushinteger(L, (lua_Integer)done);
    lua_setfield(L, -2, "done");
    set_number(L, "elapsed", elapsed);
    /* ETA: the pace so far applied to what is left. */
    if (done > 0 && done < rs->n)
        set_number(L, "eta", elapsed / (double)done * (double)(rs->n - done));
    else if (done == rs->n)
        set_number(L, "eta", 0);
    lua_pushboolean(L, rs->final);
    lua_setfield(L, -2, "finished");
}

/* Delivers a batch. Runs through lua_pcall, so its stack is its own:
 * deliver(rs, tick, store, on_event, on_progress, logger). */
int pd_run_l_deliver(lua_State *L)
{
    pd_run *rs = lua_touserdata(L, 1);
    int tick = lua_toboolean(L, 2);
    enum { STORE = 3 };
    int on_event = rs->on_event ? 4 : 0;
    int on_progress = rs->on_progress ? 5 : 0;
    int logger = rs->logger ? 6 : 0;
    for (size_t k = 0; k < rs->batch.n; k++) {
        const pd_exec_event *e = &rs->batch.events[k];
        int *slot = on_event ? &on_event : e->kind == PD_EVENT_LOG && logger ? &logger : NULL;
        if (slot) {
            push_event(L, rs, STORE, e);
            call_back(L, rs, slot, slot == &on_event ? &rs->on_event : &rs->logger);
        } else if (e->payload) {
            take_payload(L, STORE, e->payload);
            lua_pop(L, 1);
        }
    }
    if (tick && on_progress) {
        push_progress(L, rs);
        call_back(L, rs, &on_progress, &rs->on_progress);
    }
    return 0;
}
