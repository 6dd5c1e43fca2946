/*
 * graph_test.c — src/engine/graph.c: topological order, levels,
 * dependencies and dependents, forward references, duplicates, unknown
 * dependencies, cycles and how they are named, critical paths, DOT.
 */
#include "check.h"
#include "pdlua/graph.h"

#include <stdlib.h>

/* Adds a task whose dependencies are given as one space-separated string. */
static int add(pd_graph *g, const char *id, const char *deps, double weight)
{
    char buf[256];
    const char *names[16];
    size_t n = 0;
    snprintf(buf, sizeof buf, "%s", deps ? deps : "");
    for (char *tok = strtok(buf, " "); tok && n < 16; tok = strtok(NULL, " "))
        names[n++] = tok;
    return pd_graph_add(g, id, names, n, weight);
}

/* The ids of `ts` joined with spaces. */
static const char *ids(const pd_graph *g, const int *ts, size_t n)
{
    static char out[512];
    out[0] = 0;
    for (size_t k = 0; k < n; k++) {
        if (k)
            strcat(out, " ");
        strcat(out, pd_graph_id(g, ts[k]));
    }
    return out;
}

static const char *order(const pd_graph *g)
{
    return ids(g, pd_graph_order(g), pd_graph_count(g));
}

static const char *level(const pd_graph *g, int l)
{
    size_t n;
    const int *ts = pd_graph_level_tasks(g, l, &n);
    return ids(g, ts, n);
}

static void test_empty(void)
{
    pd_graph *g = pd_graph_new();
    CHECK_INT(pd_graph_validate(g), 0);
    CHECK_INT(pd_graph_count(g), 0);
    CHECK_INT(pd_graph_nlevels(g), 0);
    CHECK(pd_graph_critical_path(g) == 0);
    pd_graph_free(g);
}

static void test_chain(void)
{
    pd_graph *g = pd_graph_new();
    CHECK_INT(add(g, "c", "b", 1), 0);
    CHECK_INT(add(g, "b", "a", 1), 1);
    CHECK_INT(add(g, "a", NULL, 1), 2);   /* named before it was added */
    CHECK_INT(pd_graph_validate(g), 0);
    CHECK_STR(order(g), "a b c");
    CHECK_INT(pd_graph_position(g, 2), 0);
    CHECK_INT(pd_graph_position(g, 0), 2);
    CHECK_INT(pd_graph_nlevels(g), 3);
    CHECK_INT(pd_graph_level(g, 0), 2);
    CHECK_INT(pd_graph_find(g, "b"), 1);
    CHECK_INT(pd_graph_find(g, "zz"), -1);
    pd_graph_free(g);
}

/* Independent tasks keep the order they were added in. */
static void test_insertion_order_ties(void)
{
    pd_graph *g = pd_graph_new();
    add(g, "x", NULL, 1);
    add(g, "y", "z", 1);
    add(g, "z", NULL, 1);
    add(g, "w", NULL, 1);
    CHECK_INT(pd_graph_validate(g), 0);
    CHECK_STR(order(g), "x z w y");
    CHECK_STR(level(g, 0), "x z w");
    CHECK_STR(level(g, 1), "y");
    pd_graph_free(g);
}

static void test_diamond_levels_and_edges(void)
{
    pd_graph *g = pd_graph_new();
    add(g, "a", NULL, 1);
    add(g, "b", "a", 1);
    add(g, "c", "a a", 1);   /* a repeated dependency counts once */
    add(g, "d", "b c", 1);
    CHECK_INT(pd_graph_validate(g), 0);
    CHECK_INT(pd_graph_nlevels(g), 3);
    CHECK_STR(level(g, 0), "a");
    CHECK_STR(level(g, 1), "b c");
    CHECK_STR(level(g, 2), "d");
    size_t n;
    const int *d = pd_graph_deps(g, 2, &n);
    CHECK_STR(ids(g, d, n), "a");
    d = pd_graph_deps(g, 3, &n);
    CHECK_STR(ids(g, d, n), "b c");
    d = pd_graph_dependents(g, 0, &n);
    CHECK_STR(ids(g, d, n), "b c");
    d = pd_graph_dependents(g, 3, &n);
    CHECK_INT(n, 0);
    pd_graph_free(g);
}

static void test_duplicate_id(void)
{
    pd_graph *g = pd_graph_new();
    CHECK_INT(add(g, "a", NULL, 1), 0);
    CHECK_INT(add(g, "a", NULL, 1), -1);
    CHECK_STR(pd_graph_error(g), "duplicate task id 'a'");
    CHECK_INT(pd_graph_count(g), 1);
    CHECK_INT(pd_graph_validate(g), 0);
    pd_graph_free(g);
}

static void test_unknown_dependency(void)
{
    pd_graph *g = pd_graph_new();
    add(g, "a", NULL, 1);
    add(g, "b", "a ghost", 1);
    CHECK_INT(pd_graph_validate(g), -1);
    CHECK_STR(pd_graph_error(g), "task 'b' depends on unknown task 'ghost'");
    add(g, "ghost", NULL, 1);   /* adding it makes the graph valid */
    CHECK_INT(pd_graph_validate(g), 0);
    CHECK_STR(order(g), "a ghost b");
    pd_graph_free(g);
}

static void test_cycle_named(void)
{
    pd_graph *g = pd_graph_new();
    add(g, "start", NULL, 1);
    add(g, "b", "c", 1);
    add(g, "a", "b start", 1);
    add(g, "c", "a", 1);
    add(g, "after", "c", 1);
    CHECK_INT(pd_graph_validate(g), -1);
    /* from its earliest-added task, each depending on the next */
    CHECK_STR(pd_graph_error(g), "dependency cycle: b -> c -> a -> b");
    pd_graph_free(g);
}

static void test_self_cycle(void)
{
    pd_graph *g = pd_graph_new();
    add(g, "a", NULL, 1);
    add(g, "loop", "a loop", 1);
    CHECK_INT(pd_graph_validate(g), -1);
    CHECK_STR(pd_graph_error(g), "dependency cycle: loop -> loop");
    pd_graph_free(g);
}

/* Priority: a task's weight plus its heaviest chain of dependents. */
static void test_critical_path(void)
{
    pd_graph *g = pd_graph_new();
    add(g, "a", NULL, 2);
    add(g, "b", "a", 5);
    add(g, "c", "a", 1);
    add(g, "d", "c", 1);
    add(g, "e", NULL, 0.5);
    CHECK_INT(pd_graph_validate(g), 0);
    CHECK(pd_graph_priority(g, 0) == 7);
    CHECK(pd_graph_priority(g, 2) == 2);
    CHECK(pd_graph_priority(g, 4) == 0.5);
    CHECK(pd_graph_critical_path(g) == 7);
    pd_graph_free(g);
}

/* Adding a task after a validation invalidates the analysis. */
static void test_revalidate(void)
{
    pd_graph *g = pd_graph_new();
    add(g, "a", NULL, 1);
    CHECK_INT(pd_graph_validate(g), 0);
    CHECK_INT(pd_graph_nlevels(g), 1);
    add(g, "b", "a", 1);
    CHECK_INT(pd_graph_validate(g), 0);
    CHECK_INT(pd_graph_nlevels(g), 2);
    CHECK_STR(order(g), "a b");
    pd_graph_free(g);
}

static void test_dot(void)
{
    pd_graph *g = pd_graph_new();
    add(g, "a", NULL, 1);
    add(g, "b \"q\"", "a", 1);
    CHECK_INT(pd_graph_validate(g), 0);
    char *dot = pd_graph_dot(g, "wf");
    CHECK(dot != NULL);
    if (dot) {
        CHECK(strncmp(dot, "digraph \"wf\" {", 14) == 0);
        CHECK(strstr(dot, "\"a\" -> \"b \\\"q\\\"\";") != NULL);
        CHECK(dot[strlen(dot) - 2] == '}');
    }
    free(dot);
    pd_graph_free(g);
}

/* A long chain and a wide fan: no recursion limit, exact counts. */
static void test_large(void)
{
    enum { N = 20000 };
    pd_graph *g = pd_graph_new();
    char id[32], dep[32];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "t%d", i);
        snprintf(dep, sizeof dep, "t%d", i - 1);
        CHECK_INT(add(g, id, i ? dep : NULL, 1), i);
    }
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "f%d", i);
        add(g, id, "t0", 1);
    }
    CHECK_INT(pd_graph_validate(g), 0);
    CHECK_INT(pd_graph_nlevels(g), N);
    CHECK(pd_graph_critical_path(g) == N);
    size_t n;
    pd_graph_dependents(g, 0, &n);
    CHECK_INT(n, N + 1);
    pd_graph_free(g);
}

int main(void)
{
    RUN(test_empty);
    RUN(test_chain);
    RUN(test_insertion_order_ties);
    RUN(test_diamond_levels_and_edges);
    RUN(test_duplicate_id);
    RUN(test_unknown_dependency);
    RUN(test_cycle_named);
    RUN(test_self_cycle);
    RUN(test_critical_path);
    RUN(test_revalidate);
    RUN(test_dot);
    RUN(test_large);
    return check_summary("c/graph");
}
