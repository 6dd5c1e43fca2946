/*
 * graph.c — the task graph (see include/pdlua/graph.h).
 *
 * Storage is flat arrays indexed by task number, so 100,000 tasks cost a
 * few megabytes and no per-edge allocation: ids and dependency names live
 * in one string arena, resolved edges in CSR form (an offset per task into
 * one index array), and an open-addressing hash maps ids to numbers.
 *
 * Validation is Kahn's algorithm with a FIFO queue seeded in insertion
 * order, which makes the order deterministic and "as written" where the
 * dependencies allow. Tasks left over when the queue runs dry sit on or
 * behind a cycle; following remaining dependencies from any of them must
 * revisit a task, and that loop is the cycle we print.
 */
#include "pdlua/graph.h"
#include "pdlua/heap.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Strings are appended to fixed-size chunks and never move. */
typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, size;
    char data[];
} arena_chunk;

struct pd_graph {
    size_t n, cap;
    const char **ids;
    double *weight;
    /* dependency names as given: task i owns dep_names[dep_off[i] ..
     * dep_off[i+1]) */
    size_t *dep_off;
    const char **dep_names;
    size_t ndep_names, dep_names_cap;
    /* id -> index: open addressing, power-of-two size, -1 = empty */
    int *hash;
    size_t hash_size;
    arena_chunk *arena;

    /* analysis, valid while `valid` */
    int valid;
    int *deps;             /* resolved deps, CSR over deps_off */
    size_t *deps_off;
    int *dependents;       /* CSR over dependents_off */
    size_t *dependents_off;
    int *order, *position, *level;
    int nlevels;
    int *by_level;         /* tasks grouped by level, CSR over level_off */
    size_t *level_off;
    double *prio;
    double critical;

    char *err;
};

static void set_error(pd_graph *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    free(g->err);
    g->err = malloc((size_t)len + 1);
    if (!g->err)
        return;
    va_start(ap, fmt);
    vsnprintf(g->err, (size_t)len + 1, fmt, ap);
    va_end(ap);
}

static const char *arena_strdup(pd_graph *g, const char *s)
{
    size_t len = strlen(s) + 1;
    arena_chunk *c = g->arena;
    if (!c || c->size - c->used < len) {
        size_t size = len > 65536 ? len : 65536;
        c = malloc(sizeof *c + size);
        if (!c)
            return NULL;
        c->next = g->arena;
        c->used = 0;
        c->size = size;
        g->arena = c;
    }
    char *p = c->data + c->used;
    memcpy(p, s, len);
    c->used += len;
    return p;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static int hash_grow(pd_graph *g)
{
    size_t size = g->hash_size ? g->hash_size * 2 : 64;
    int *h = malloc(size * sizeof *h);
    if (!h)
        return -1;
    memset(h, 0xff, size * sizeof *h);
    for (size_t i = 0; i < g->n; i++) {
        size_t j = hash_str(g->ids[i]) & (size - 1);
        while (h[j] >= 0)
            j = (j + 1) & (size - 1);
        h[j] = (int)i;
    }
    free(g->hash);
    g->hash = h;
    g->hash_size = size;
    return 0;
}

int pd_graph_find(const pd_graph *g, const char *id)
{
    if (!g->hash_size)
        return -1;
    size_t j = hash_str(id) & (g->hash_size - 1);
    while (g->hash[j] >= 0) {
        if (strcmp(g->ids[g->hash[j]], id) == 0)
            return g->hash[j];
        j = (j + 1) & (g->hash_size - 1);
    }
    return -1;
}

pd_graph *pd_graph_new(void)
{
    pd_graph *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->dep_off = calloc(1, sizeof *g->dep_off);
    if (!g->dep_off) {
        free(g);
        return NULL;
    }
    return g;
}

static void drop_analysis(pd_graph *g)
{
    free(g->deps); free(g->deps_off);
    free(g->dependents); free(g->dependents_off);
    free(g->order); free(g->position); free(g->level);
    free(g->by_level); free(g->level_off); free(g->prio);
    g->deps = g->dependents = g->order = g->position = g->level = NULL;
    g->by_level = NULL;
    g->deps_off = g->dependents_off = g->level_off = NULL;
    g->prio = NULL;
    g->valid = 0;
}

void pd_graph_free(pd_graph *g)
{
    if (!g)
        return;
    drop_analysis(g);
    while (g->arena) {
        arena_chunk *next = g->arena->next;
        free(g->arena);
        g->arena = next;
    }
    free(g->ids); free(g->weight); free(g->dep_off); free(g->dep_names);
    free(g->hash); free(g->err);
    free(g);
}

const char *pd_graph_error(const pd_graph *g) { return g->err ? g->err : "out of memory"; }
size_t pd_graph_count(const pd_graph *g) { return g->n; }
const char *pd_graph_id(const pd_graph *g, int i) { return g->ids[i]; }

int pd_graph_add(pd_graph *g, const char *id, const char *const *deps,
                 size_t ndeps, double weight)
{
    if (pd_graph_find(g, id) >= 0) {
        set_error(g, "duplicate task id '%s'", id);
        return -1;
    }
    if (g->n + 1 > g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        const char **ids = realloc(g->ids, cap * sizeof *ids);
        if (ids) g->ids = ids;
        double *w = realloc(g->weight, cap * sizeof *w);
        if (w) g->weight = w;
        size_t *off = realloc(g->dep_off, (cap + 1) * sizeof *off);
        if (off) g->dep_off = off;
        if (!ids || !w || !off) {
            set_error(g, "out of memory");
            return -1;
        }
        g->cap = cap;
    }
    if (pd_grow(&g->dep_names, &g->dep_names_cap, g->ndep_names + ndeps,
                sizeof *g->dep_names) != 0) {
        set_error(g, "out of memory");
        return -1;
    }
    const char *copy = arena_strdup(g, id);
    if (!copy) {
        set_error(g, "out of memory");
        return -1;
    }
    for (size_t k = 0; k < ndeps; k++) {
        const char *d = arena_strdup(g, deps[k]);
        if (!d) {
            set_error(g, "out of memory");
            return -1;
        }
        g->dep_names[g->ndep_names + k] = d;
    }
    if ((g->n + 1) * 2 > g->hash_size && hash_grow(g) != 0) {
        set_error(g, "out of memory");
        return -1;
    }
    int i = (int)g->n;
    g->ids[i] = copy;
    g->weight[i] = weight;
    g->ndep_names += ndeps;
    g->dep_off[i + 1] = g->ndep_names;
    g->n++;
    size_t j = hash_str(copy) & (g->hash_size - 1);
    while (g->hash[j] >= 0)
        j = (j + 1) & (g->hash_size - 1);
    g->hash[j] = i;
    if (g->valid)
        drop_analysis(g);
    return i;
}

/* Writes "a -> b -> ... -> a" for the cycle through the leftover tasks. */
static void report_cycle(pd_graph *g, const int *indeg)
{
    size_t n = g->n;
    int *seen = malloc(n * sizeof *seen);   /* step at which a task was visited */
    int *path = malloc((n + 1) * sizeof *path);
    if (!seen || !path) {
        free(seen); free(path);
        set_error(g, "dependency cycle (out of memory while naming it)");
        return;
    }
    for (size_t i = 0; i < n; i++)
        seen[i] = -1;
    int cur = -1;
    for (size_t i = 0; i < n; i++)
        if (indeg[i] > 0) { cur = (int)i; break; }
    /* Every leftover task has a leftover dependency; walk until a repeat. */
    int steps = 0;
    while (seen[cur] < 0) {
        seen[cur] = steps;
        path[steps++] = cur;
        int next = -1;
        for (size_t k = g->deps_off[cur]; k < g->deps_off[cur + 1]; k++)
            if (indeg[g->deps[k]] > 0) { next = g->deps[k]; break; }
        cur = next;
    }
    int start = seen[cur], len = steps - start;
    /* Start the loop at its earliest-added task, so the message is stable. */
    int best = 0;
    for (int k = 1; k < len; k++)
        if (path[start + k] < path[start + best])
            best = k;
    size_t size = 32;
    for (int k = 0; k <= len; k++)
        size += strlen(g->ids[path[start + (best + k) % len]]) + 4;
    char *msg = malloc(size);
    if (msg) {
        char *p = msg;
        p += sprintf(p, "dependency cycle: ");
        for (int k = 0; k <= len; k++)
            p += sprintf(p, k ? " -> %s" : "%s", g->ids[path[start + (best + k) % len]]);
        free(g->err);
        g->err = msg;
    }
    free(seen);
    free(path);
}

int pd_graph_validate(pd_graph *g)
{
    if (g->valid)
        return 0;
    size_t n = g->n;
    size_t nd = g->ndep_names;
    g->deps = malloc((nd ? nd : 1) * sizeof *g->deps);
    g->deps_off = malloc((n + 1) * sizeof *g->deps_off);
    g->dependents = malloc((nd ? nd : 1) * sizeof *g->dependents);
    g->dependents_off = calloc(n + 2, sizeof *g->dependents_off);
    g->order = malloc((n ? n : 1) * sizeof *g->order);
    g->position = malloc((n ? n : 1) * sizeof *g->position);
    g->level = malloc((n ? n : 1) * sizeof *g->level);
    g->prio = malloc((n ? n : 1) * sizeof *g->prio);
    int *indeg = calloc(n ? n : 1, sizeof *indeg);
    int *mark = malloc((n ? n : 1) * sizeof *mark);
    if (!g->deps || !g->deps_off || !g->dependents || !g->dependents_off ||
        !g->order || !g->position || !g->level || !g->prio || !indeg || !mark) {
        free(indeg); free(mark);
        drop_analysis(g);
        set_error(g, "out of memory");
        return -1;
    }

    /* Resolve names, dropping repeated dependencies. */
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        mark[i] = -1;
    for (size_t i = 0; i < n; i++) {
        g->deps_off[i] = m;
        for (size_t k = g->dep_off[i]; k < g->dep_off[i + 1]; k++) {
            int d = pd_graph_find(g, g->dep_names[k]);
            if (d < 0) {
                set_error(g, "task '%s' depends on unknown task '%s'", g->ids[i],
                          g->dep_names[k]);
                free(indeg); free(mark);
                drop_analysis(g);
                return -1;
            }
            if (mark[d] == (int)i)
                continue;
            mark[d] = (int)i;
            g->deps[m++] = d;
            indeg[i]++;
            g->dependents_off[d + 2]++;
        }
    }
    g->deps_off[n] = m;

    /* Dependents: counting sort of the edges by dependency. */
    for (size_t i = 2; i < n + 2; i++)
        g->dependents_off[i] += g->dependents_off[i - 1];
    for (size_t i = 0; i < n; i++)
        for (size_t k = g->deps_off[i]; k < g->deps_off[i + 1]; k++)
            g->dependents[g->dependents_off[g->deps[k] + 1]++] = (int)i;

    /* Kahn, FIFO in insertion order. */
    size_t head = 0, tail = 0;
    for (size_t i = 0; i < n; i++)
        if (indeg[i] == 0)
            g->order[tail++] = (int)i;
    while (head < tail) {
        int t = g->order[head++];
        for (size_t k = g->dependents_off[t]; k < g->dependents_off[t + 1]; k++)
            if (--indeg[g->dependents[k]] == 0)
                g->order[tail++] = g->dependents[k];
    }
    if (tail < n) {
        report_cycle(g, indeg);
        free(indeg); free(mark);
        drop_analysis(g);
        return -1;
    }

    /* Levels forward, critical-path weights backward. */
    int nlevels = 0;
    for (size_t p = 0; p < n; p++) {
        int t = g->order[p];
        g->position[t] = (int)p;
        int l = 0;
        for (size_t k = g->deps_off[t]; k < g->deps_off[t + 1]; k++)
            if (g->level[g->deps[k]] + 1 > l)
                l = g->level[g->deps[k]] + 1;
        g->level[t] = l;
        if (l + 1 > nlevels)
            nlevels = l + 1;
    }
    g->critical = 0;
    for (size_t p = n; p-- > 0;) {
        int t = g->order[p];
        double best = 0;
        for (size_t k = g->dependents_off[t]; k < g->dependents_off[t + 1]; k++)
            if (g->prio[g->dependents[k]] > best)
                best = g->prio[g->dependents[k]];
        g->prio[t] = g->weight[t] + best;
        if (g->prio[t] > g->critical)
            g->critical = g->prio[t];
    }

    g->nlevels = nlevels;
    g->level_off = calloc((size_t)nlevels + 2, sizeof *g->level_off);
    g->by_level = malloc((n ? n : 1) * sizeof *g->by_level);
    if (!g->level_off || !g->by_level) {
        free(indeg); free(mark);
        drop_analysis(g);
        set_error(g, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        g->level_off[g->level[i] + 2]++;
    for (int l = 2; l < nlevels + 2; l++)
        g->level_off[l] += g->level_off[l - 1];
    for (size_t i = 0; i < n; i++)
        g->by_level[g->level_off[g->level[i] + 1]++] = (int)i;

    free(indeg);
    free(mark);
    g->valid = 1;
    return 0;
}

const int *pd_graph_order(const pd_graph *g) { return g->order; }
int pd_graph_position(const pd_graph *g, int i) { return g->position[i]; }
int pd_graph_level(const pd_graph *g, int i) { return g->level[i]; }
int pd_graph_nlevels(const pd_graph *g) { return g->nlevels; }
double pd_graph_priority(const pd_graph *g, int i) { return g->prio[i]; }
double pd_graph_critical_path(const pd_graph *g) { return g->critical; }

const int *pd_graph_level_tasks(const pd_graph *g, int l, size_t *n)
{
    *n = g->level_off[l + 1] - g->level_off[l];
    return g->by_level + g->level_off[l];
}

const int *pd_graph_deps(const pd_graph *g, int i, size_t *n)
{
    *n = g->deps_off[i + 1] - g->deps_off[i];
    return g->deps + g->deps_off[i];
}

const int *pd_graph_dependents(const pd_graph *g, int i, size_t *n)
{
    *n = g->dependents_off[i + 1] - g->dependents_off[i];
    return g->dependents + g->dependents_off[i];
}

/* Appends s as a quoted DOT id. */
static size_t dot_quote(char *out, const char *s)
{
    size_t k = 0;
    out[k++] = '"';
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            out[k++] = '\\';
        out[k++] = *s;
    }
    out[k++] = '"';
    return k;
}

char *pd_graph_dot(const pd_graph *g, const char *name)
{
    /* Worst case every character is escaped: size the buffer once. */
    size_t size = 64 + 2 * strlen(name);
    for (size_t i = 0; i < g->n; i++) {
        size_t len = 2 * strlen(g->ids[i]) + 8;
        size += len * (1 + (g->dependents_off[i + 1] - g->dependents_off[i]) +
                       (g->deps_off[i + 1] - g->deps_off[i]));
    }
    char *out = malloc(size);
    if (!out)
        return NULL;
    size_t k = 0;
    k += (size_t)sprintf(out + k, "digraph ");
    k += dot_quote(out + k, name);
    k += (size_t)sprintf(out + k, " {\n  rankdir=LR;\n");
    for (size_t p = 0; p < g->n; p++) {
        int t = g->order[p];
        out[k++] = ' ';
        out[k++] = ' ';
        k += dot_quote(out + k, g->ids[t]);
        out[k++] = ';';
        out[k++] = '\n';
    }
    for (size_t p = 0; p < g->n; p++) {
        int t = g->order[p];
        for (size_t e = g->deps_off[t]; e < g->deps_off[t + 1]; e++) {
            out[k++] = ' ';
            out[k++] = ' ';
            k += dot_quote(out + k, g->ids[g->deps[e]]);
            memcpy(out + k, " -> ", 4);
            k += 4;
            k += dot_quote(out + k, g->ids[t]);
            out[k++] = ';';
            out[k++] = '\n';
        }
    }
    k += (size_t)sprintf(out + k, "}\n");
    out[k] = 0;
    return out;
}
