/*
 * engine_lua.h — what the files binding the engine to Lua share, and only
 * they (the src/engine files named *_lua.c): the workflow userdata, the
 * state of a run in progress, and the readers of option tables.
 *
 *   engine_lua.c     the `pdlua.engine` module, configure{}, option readers
 *   workflow_lua.c   pd.workflow: wf:task and the graph queries
 *   run_lua.c        wf:run: options to settings, start, the caller's loop,
 *                    events, progress and t:log handed to the callbacks
 *   result_lua.c     the table wf:run returns
 *   semaphore_lua.c  pd.semaphore
 *
 * Errors follow the rule of include/pdlua/error.h: bad input in a task or
 * run table raises a pdlua error with exit_code = 2 (pd_error_raisef).
 */
#ifndef PDLUA_ENGINE_LUA_H
#define PDLUA_ENGINE_LUA_H

#include "pdlua/error.h"
#include "pdlua/executor.h"
#include "pdlua/graph.h"

#include <lua.h>

#define PD_WORKFLOW_META "pdlua.workflow"

/* User value slots of a workflow (tables indexed by task number + 1). */
enum { WUV_RUN = 1, WUV_ROLLBACK, WUV_IDS, WUV_DATA, WUV_POOL, WUV_GROUP, WUV_N = WUV_GROUP };

/* What wf:task stores in C; -1 in a number means "the run's default". */
typedef struct {
    double timeout;
    double rollback_timeout;
    int retries;
    double backoff, max_backoff;
    int has_rollback;
} pd_task_spec;

typedef struct {
    pd_graph *g;
    char *name;
    pd_task_spec *specs;
    size_t cap;
    pd_exec *running;
} pd_workflow;

/* A run in progress, as wf:run and its callbacks see it. */
typedef struct {
    pd_workflow *wf;
    pd_exec *x;
    pd_exec_batch batch;
    int opts_idx;            /* the options table */
    int on_event, on_progress, logger;   /* stack slots, 0: none */
    int store;               /* store table slot */
    int callback_error;      /* registry ref of the first callback error */
    size_t n;
    int final;               /* the last progress call */
} pd_run;

/* Raises bad input: a pdlua error with `reason` and exit_code = 2. */
#define pd_raise_input(L, reason, ...) pd_error_raisef((L), (reason), 2, __VA_ARGS__)

/* engine_lua.c: option readers (they raise on bad input), and setting a
 * number field (an integer if `integer`) of the table on top */
void pd_engine_set(lua_State *L, const char *field, double v, int integer);
void pd_engine_push_config(lua_State *L, const char *field);
int pd_engine_callable(lua_State *L, int idx);
/* The first key of the table at idx not in `known` (pushed as a string),
 * or NULL (nothing pushed). */
const char *pd_engine_unknown_key(lua_State *L, int idx, const char *const *known);
/* An optional duration field: nil -> dflt, false or 0 -> 0 (none). */
double pd_engine_seconds(lua_State *L, int idx, const char *field, double dflt,
                         const char *what);
/* retries = n | {max = n, backoff = s, max_backoff = s} */
void pd_engine_retries(lua_State *L, int idx, const char *what, int *max,
                       double *backoff, double *max_backoff);

/* workflow_lua.c */
pd_workflow *pd_workflow_check(lua_State *L);
/* Raises invalidWorkflow (a cycle, an unknown dependency). */
void pd_workflow_validate(lua_State *L, pd_workflow *wf);
void pd_workflow_register(lua_State *L);
int pd_workflow_l_new(lua_State *L);

/* run_lua.c: wf:run */
int pd_run_l_run(lua_State *L);

/* result_lua.c */
void pd_run_push_result(lua_State *L, pd_run *rs, double started_at);
/* Pushes a task's final error: its run's, or its rollback's. */
void pd_run_push_error(lua_State *L, int store, int task, int state);
/* Sets `reason` and `cause` of a skipped task on the table on top. */
void pd_run_set_skip(lua_State *L, pd_run *rs, int task);

/* semaphore_lua.c */
void pd_semaphore_register(lua_State *L);
int pd_semaphore_l_new(lua_State *L);

#endif
