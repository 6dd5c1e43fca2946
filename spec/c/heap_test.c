/*
 * heap_test.c — src/core/heap.c: growing arrays; the order a heap's
 * elements come out in, ties, growth, and the two orders the engine uses
 * (a key with a tie-break, a due time per element).
 */
#include "check.h"
#include "pdlua/heap.h"

#include <stdlib.h>

static int less_int(void *ctx, int a, int b)
{
    (void)ctx;
    return a < b;
}

/* Larger key first, then smaller position: the scheduler's order. */
typedef struct {
    double key[8];
    int pos[8];
} sched_order;

static int sched_before(void *ctx, int a, int b)
{
    const sched_order *o = ctx;
    if (o->key[a] != o->key[b])
        return o->key[a] > o->key[b];
    return o->pos[a] < o->pos[b];
}

static void test_grow(void)
{
    double *a = NULL;
    size_t cap = 0;
    CHECK_INT(pd_grow(&a, &cap, 0, sizeof *a), 0);
    CHECK(a == NULL && cap == 0);
    CHECK_INT(pd_grow(&a, &cap, 1, sizeof *a), 0);
    CHECK(a != NULL && cap == 16);
    double *before = a;
    CHECK_INT(pd_grow(&a, &cap, 16, sizeof *a), 0);   /* fits: unchanged */
    CHECK(a == before && cap == 16);
    for (size_t i = 0; i < 16; i++)
        a[i] = (double)i;
    CHECK_INT(pd_grow(&a, &cap, 100, sizeof *a), 0);
    CHECK_INT(cap, 128);
    CHECK(a[15] == 15);   /* kept */
    a[99] = 1;
    CHECK_INT(pd_grow(&a, &cap, (size_t)-1 / 4, sizeof *a), -1);   /* too much */
    CHECK(cap == 128 && a[15] == 15);
    free(a);
}

static void test_empty(void)
{
    pd_heap h;
    pd_heap_init(&h, less_int, NULL);
    CHECK_INT(pd_heap_pop(&h), -1);
    CHECK_INT(pd_heap_top(&h), -1);
    CHECK_INT(h.n, 0);
    pd_heap_free(&h);
}

static void test_one(void)
{
    pd_heap h;
    pd_heap_init(&h, less_int, NULL);
    CHECK_INT(pd_heap_push(&h, 7), 0);
    CHECK_INT(pd_heap_top(&h), 7);
    CHECK_INT(h.n, 1);
    CHECK_INT(pd_heap_pop(&h), 7);
    CHECK_INT(pd_heap_pop(&h), -1);
    pd_heap_free(&h);
}

static void test_sorts(void)
{
    static const int in[] = {5, 3, 9, 1, 4, 8, 2, 7, 6, 0};
    pd_heap h;
    pd_heap_init(&h, less_int, NULL);
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
        pd_heap_push(&h, in[i]);
    for (int want = 0; want < 10; want++)
        CHECK_INT(pd_heap_pop(&h), want);
    CHECK_INT(h.n, 0);
    pd_heap_free(&h);
}

static void test_duplicates(void)
{
    static const int in[] = {2, 1, 2, 1, 3, 1};
    static const int out[] = {1, 1, 1, 2, 2, 3};
    pd_heap h;
    pd_heap_init(&h, less_int, NULL);
    for (int i = 0; i < 6; i++)
        pd_heap_push(&h, in[i]);
    for (int i = 0; i < 6; i++)
        CHECK_INT(pd_heap_pop(&h), out[i]);
    pd_heap_free(&h);
}

/* Many elements, pushed and popped interleaved, against a sorted count. */
static void test_random_interleaved(void)
{
    enum { N = 20000, RANGE = 1000 };
    int count[RANGE] = {0};
    pd_heap h;
    pd_heap_init(&h, less_int, NULL);
    srand(12345);
    int last = -1, ok = 1;
    for (int i = 0; i < N; i++) {
        int v = rand() % RANGE;
        CHECK_INT(pd_heap_push(&h, v), 0);
        count[v]++;
        if (i % 3 == 2) {
            int top = pd_heap_top(&h);
            int p = pd_heap_pop(&h);
            ok &= p == top;
            for (int k = 0; k < p; k++)
                ok &= count[k] == 0;   /* nothing smaller is left */
            count[p]--;
        }
    }
    CHECK(ok);
    while (h.n) {
        int p = pd_heap_pop(&h);
        ok &= p >= last;
        last = p;
        count[p]--;
    }
    CHECK(ok);
    for (int k = 0; k < RANGE; k++)
        ok &= count[k] == 0;
    CHECK(ok);
    CHECK(h.cap >= 64);
    pd_heap_free(&h);
    CHECK(h.a == NULL && h.n == 0 && h.cap == 0);
}

static void test_key_and_tie_break(void)
{
    sched_order o = {{1, 3, 3, 2, 3, 0, 2, 1}, {7, 6, 5, 4, 3, 2, 1, 0}};
    static const int want[] = {4, 2, 1, 6, 3, 7, 0, 5};
    pd_heap h;
    pd_heap_init(&h, sched_before, &o);
    for (int t = 0; t < 8; t++)
        pd_heap_push(&h, t);
    for (int i = 0; i < 8; i++)
        CHECK_INT(pd_heap_pop(&h), want[i]);
    pd_heap_free(&h);
}

static int due_before(void *ctx, int a, int b)
{
    const double *due = ctx;
    return due[a] < due[b];
}

/* The executor's use: the order changes as elements leave and re-enter
 * with new due times. */
static void test_due_times(void)
{
    double due[4] = {5.0, 1.0, 3.0, 2.0};
    pd_heap h;
    pd_heap_init(&h, due_before, due);
    for (int t = 0; t < 4; t++)
        pd_heap_push(&h, t);
    CHECK_INT(pd_heap_pop(&h), 1);
    due[1] = 4.0;
    pd_heap_push(&h, 1);
    CHECK_INT(pd_heap_pop(&h), 3);
    CHECK_INT(pd_heap_pop(&h), 2);
    CHECK_INT(pd_heap_pop(&h), 1);
    CHECK_INT(pd_heap_pop(&h), 0);
    pd_heap_free(&h);
}

/* Reusable after free. */
static void test_reuse(void)
{
    pd_heap h;
    pd_heap_init(&h, less_int, NULL);
    for (int i = 100; i > 0; i--)
        pd_heap_push(&h, i);
    pd_heap_free(&h);
    pd_heap_push(&h, 3);
    pd_heap_push(&h, 2);
    CHECK_INT(pd_heap_pop(&h), 2);
    CHECK_INT(pd_heap_pop(&h), 3);
    pd_heap_free(&h);
}

int main(void)
{
    RUN(test_grow);
    RUN(test_empty);
    RUN(test_one);
    RUN(test_sorts);
    RUN(test_duplicates);
    RUN(test_random_interleaved);
    RUN(test_key_and_tie_break);
    RUN(test_due_times);
    RUN(test_reuse);
    return check_summary("c/heap");
}
