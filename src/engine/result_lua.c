/*
 * result_lua.c — the table wf:run returns: ok, counts, total, makespan,
 * started_at, workers, stopped, cancelled, exit_code, engine, ids, and
 * tasks[id] = {state, attempts, started, finished, duration, error,
 * reason, cause, rollback = {...}}, with the result metatable that
 * lua/pdlua/result.lua supplies (configure{result_mt =}). Built from the
 * executor's records once the run has ended.
 *
 * Errors (include/pdlua/error.h): none raised here but out of memory.
 */
#include "pdlua/engine_lua.h"

#include <lauxlib.h>

void pd_run_push_error(lua_State *L, int store, int task, int state)
{
    int slot = state == PD_TASK_ROLLBACK_FAILED ? PD_STORE_RBERRORS : PD_STORE_ERRORS;
    lua_rawgeti(L, store, slot);
    lua_rawgeti(L, -1, task + 1);
    lua_remove(L, -2);
}

void pd_run_set_skip(lua_State *L, pd_run *rs, int task)
{
    const pd_exec_record *r = &pd_exec_records(rs->x)[task];
    lua_pushstring(L, pd_skip_reason_name(r->skip_reason));
    lua_setfield(L, -2, "reason");
    if (r->skip_cause >= 0) {
        lua_pushstring(L, pd_graph_id(rs->wf->g, r->skip_cause));
        lua_setfield(L, -2, "cause");
    }
}

/* state, attempts, started, finished, duration of a run or a rollback */
static void set_times(lua_State *L, int state, int attempts, double started,
                      double finished)
{
    lua_pushstring(L, pd_task_state_name(state));
    lua_setfield(L, -2, "state");
    pd_engine_set(L, "attempts", attempts, 1);
    if (started < 0)
        return;
    pd_engine_set(L, "started", started, 0);
    pd_engine_set(L, "finished", finished, 0);
    pd_engine_set(L, "duration", finished - started, 0);
}

/* tasks[id] for task i; its id is on top of the stack. */
static void push_task(lua_State *L, pd_run *rs, int i, const pd_exec_record *r)
{
    lua_createtable(L, 0, 8);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "id");
    set_times(L, r->state, r->attempts, r->started, r->finished);
    if (r->state == PD_TASK_SKIPPED)
        pd_run_set_skip(L, rs, i);
    if (r->state == PD_TASK_FAILED || r->state == PD_TASK_TIMED_OUT ||
        r->state == PD_TASK_CANCELLED || r->rollback_state) {
        pd_run_push_error(L, rs->store, i, PD_TASK_FAILED);
        if (!lua_isnil(L, -1))
            lua_setfield(L, -2, "error");
        else
            lua_pop(L, 1);
    }
    if (!r->rollback_state)
        return;
    lua_createtable(L, 0, 6);
    /* a rollback that started has a start time >= 0: its times are set */
    set_times(L, r->rollback_state, r->rb_attempts, r->rb_started, r->rb_finished);
    if (r->rollback_state == PD_TASK_ROLLBACK_FAILED) {
        pd_run_push_error(L, rs->store, i, PD_TASK_ROLLBACK_FAILED);
        lua_setfield(L, -2, "error");
    }
    lua_setfield(L, -2, "rollback");
}

/* ids and tasks on the result at `res`; fills counts. */
static void set_tasks(lua_State *L, pd_run *rs, int res, int counts[PD_TASK_NSTATES])
{
    const pd_exec_record *rec = pd_exec_records(rs->x);
    lua_createtable(L, 0, (int)rs->n);
    lua_createtable(L, (int)rs->n, 0);
    int tasks = res + 1, ids = res + 2;
    for (size_t i = 0; i < rs->n; i++) {
        counts[rec[i].state]++;
        lua_pushstring(L, pd_graph_id(rs->wf->g, (int)i));
        lua_pushvalue(L, -1);
        lua_rawseti(L, ids, (lua_Integer)i + 1);
        push_task(L, rs, (int)i, &rec[i]);
        lua_rawset(L, tasks);
    }
    lua_setfield(L, res, "ids");
    lua_setfield(L, res, "tasks");
}

void pd_run_push_result(lua_State *L, pd_run *rs, double started_at)
{
    int counts[PD_TASK_NSTATES] = {0};
    lua_createtable(L, 0, 14);
    int res = lua_gettop(L);
    set_tasks(L, rs, res, counts);
    lua_createtable(L, 0, PD_TASK_NSTATES);
    for (int s = 0; s < PD_TASK_NSTATES; s++)
        pd_engine_set(L, pd_task_state_name(s), counts[s], 1);
    lua_setfield(L, res, "counts");
    int ok = (size_t)counts[PD_TASK_SUCCEEDED] == rs->n;
    int stop = pd_exec_stop_reason(rs->x);
    lua_pushboolean(L, ok);
    lua_setfield(L, res, "ok");
    lua_pushstring(L, rs->wf->name);
    lua_setfield(L, res, "name");
    pd_engine_set(L, "total", (double)rs->n, 1);
    pd_engine_set(L, "makespan", pd_exec_makespan(rs->x), 0);
    pd_engine_set(L, "started_at", started_at, 0);
    pd_engine_set(L, "workers", pd_exec_workers(rs->x), 1);
    if (pd_stop_reason_name(stop)) {
        lua_pushstring(L, pd_stop_reason_name(stop));
        lua_setfield(L, res, "stopped");
    }
    lua_pushboolean(L, stop == PD_STOP_CANCELLED);
    lua_setfield(L, res, "cancelled");
    pd_engine_set(L, "exit_code", ok ? 0 : (stop == PD_STOP_CANCELLED ? 130 : 1), 1);
    lua_getfield(L, rs->opts_idx, "engine");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushstring(L, "pool");
    }
    lua_setfield(L, res, "engine");
    pd_engine_push_config(L, "result_mt");
    if (lua_istable(L, -1))
        lua_setmetatable(L, res);
    else
        lua_pop(L, 1);
}
