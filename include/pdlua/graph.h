/*
 * graph.h — a workflow's task graph: ids, dependencies, validation,
 * topological order, dependency levels, critical-path priorities, DOT.
 *
 * This is the "what" of a workflow (ninja's State): it knows nothing about
 * threads, Lua or running anything. Tasks are numbered 0..n-1 in the order
 * they were added; dependencies are recorded by name, so a task may name a
 * dependency that is added later, and are resolved by pd_graph_validate(),
 * which every query below needs first. Adding a task invalidates the cached
 * analysis.
 *
 * Errors are returned as -1 with a message (pd_graph_error) naming the
 * offending task: a duplicate id, an unknown dependency, or a cycle written
 * out in full ("a -> b -> c -> a", each task depending on the next).
 */
#ifndef PDLUA_GRAPH_H
#define PDLUA_GRAPH_H

#include <stddef.h>

typedef struct pd_graph pd_graph;

pd_graph *pd_graph_new(void);
void pd_graph_free(pd_graph *g);

/* Adds a task. `weight` is its estimated cost for critical-path ordering
 * (1 when every task costs the same). Returns its index, or -1 (duplicate
 * id, out of memory) with pd_graph_error set. */
int pd_graph_add(pd_graph *g, const char *id, const char *const *deps,
                 size_t ndeps, double weight);

/* The message of the last failed call. */
const char *pd_graph_error(const pd_graph *g);

size_t pd_graph_count(const pd_graph *g);
const char *pd_graph_id(const pd_graph *g, int i);
/* Index of a task id, or -1. */
int pd_graph_find(const pd_graph *g, const char *id);

/* Resolves dependencies and analyses the graph: unknown dependencies and
 * cycles are errors. Cheap when nothing changed since the last call.
 * Returns 0 or -1. */
int pd_graph_validate(pd_graph *g);

/* After a successful validate: */
/* Tasks in a topological order (dependencies first; ties in insertion
 * order). */
const int *pd_graph_order(const pd_graph *g);
/* Position of task i in that order. */
int pd_graph_position(const pd_graph *g, int i);
/* Level: 0 for a task without dependencies, else 1 + the deepest
 * dependency's level. */
int pd_graph_level(const pd_graph *g, int i);
int pd_graph_nlevels(const pd_graph *g);
/* Tasks of level l, in insertion order; *n gets their number. */
const int *pd_graph_level_tasks(const pd_graph *g, int l, size_t *n);
/* Resolved, de-duplicated dependencies and dependents of task i. */
const int *pd_graph_deps(const pd_graph *g, int i, size_t *n);
const int *pd_graph_dependents(const pd_graph *g, int i, size_t *n);
/* Critical-path weight: the task's weight plus the heaviest chain of
 * dependents after it — how much work at least remains once it starts. */
double pd_graph_priority(const pd_graph *g, int i);
/* The heaviest chain's total weight over the whole graph. */
double pd_graph_critical_path(const pd_graph *g);

/* Graphviz source of the graph (edges point from a dependency to the task
 * that needs it), malloc'd; NULL when out of memory. */
char *pd_graph_dot(const pd_graph *g, const char *name);

#endif
