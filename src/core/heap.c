/*
 * heap.c — growing arrays and the binary min-heap of include/pdlua/heap.h:
 * an array in the usual layout (children of i at 2i+1 and 2i+2), sifting
 * with a hole rather than swaps.
 */
#include "pdlua/heap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int pd_grow(void *array, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need && c <= SIZE_MAX / 2)
        c *= 2;
    if (c < need || c > SIZE_MAX / elem)
        return -1;   /* the size would not fit a size_t */
    void *p;
    memcpy(&p, array, sizeof p);
    if (!(p = realloc(p, c * elem)))
        return -1;
    memcpy(array, &p, sizeof p);
    *cap = c;
    return 0;
}

void pd_heap_init(pd_heap *h, pd_heap_before before, void *ctx)
{
    *h = (pd_heap){NULL, 0, 0, before, ctx};
}

void pd_heap_free(pd_heap *h)
{
    free(h->a);
    h->a = NULL;
    h->n = h->cap = 0;
}

int pd_heap_push(pd_heap *h, int v)
{
    if (pd_grow(&h->a, &h->cap, h->n + 1, sizeof *h->a) != 0)
        return -1;
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!h->before(h->ctx, v, h->a[p]))
            break;
        h->a[i] = h->a[p];
        i = p;
    }
    h->a[i] = v;
    return 0;
}

int pd_heap_pop(pd_heap *h)
{
    if (h->n == 0)
        return -1;
    int top = h->a[0];
    int last = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->before(h->ctx, h->a[c + 1], h->a[c]))
            c++;
        if (!h->before(h->ctx, h->a[c], last))
            break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n)
        h->a[i] = last;
    return top;
}

int pd_heap_top(const pd_heap *h)
{
    return h->n ? h->a[0] : -1;
}
