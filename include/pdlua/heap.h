/*
 * heap.h — growing arrays (pd_grow, for every array in src/ that grows),
 * and a binary min-heap of ints (task numbers) ordered by a callback: the
 * scheduler's ready queues (by critical path) and the executor's retry
 * queue (by due time) are both this one heap.
 *
 * `before(ctx, a, b)` says whether a must come out before b; it must be a
 * strict order. Equal elements come out in an order fixed by the sequence
 * of pushes and pops, so a run is repeatable. Not thread-safe: its owner
 * locks.
 */
#ifndef PDLUA_HEAP_H
#define PDLUA_HEAP_H

#include <stddef.h>

/* Makes the array at *array (a pointer to any pointer, NULL at first) hold
 * at least `need` elements of `elem` bytes, doubling *cap. Returns 0, or
 * -1 when out of memory (the array is unchanged). */
int pd_grow(void *array, size_t *cap, size_t need, size_t elem);

typedef int (*pd_heap_before)(void *ctx, int a, int b);

typedef struct pd_heap {
    int *a;
    size_t n, cap;
    pd_heap_before before;
    void *ctx;
} pd_heap;

void pd_heap_init(pd_heap *h, pd_heap_before before, void *ctx);
void pd_heap_free(pd_heap *h);
/* Adds v. Returns 0, or -1 when out of memory (the heap is unchanged). */
int pd_heap_push(pd_heap *h, int v);
/* Removes and returns the first element, or -1 when empty. */
int pd_heap_pop(pd_heap *h);
/* The first element without removing it, or -1 when empty. */
int pd_heap_top(const pd_heap *h);

#endif
