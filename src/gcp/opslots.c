/*
 * opslots.c — counting semaphore plus the names of the operations holding
 * its slots (see include/pdlua/opslots.h). The name list is a plain array:
 * it holds at most the cap (hundreds), and is touched once per mutation and
 * once per finished wait.
 */
#include "pdlua/heap.h"
#include "pdlua/opslots.h"

#include <stdlib.h>
#include <string.h>

struct pd_opslots {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int max, used;
    char **names;
    int nnames;
    size_t cap;
};

pd_opslots *pd_opslots_new(int max)
{
    pd_opslots *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    pd_cond_init(&s->cv);
    s->max = max;
    return s;
}

void pd_opslots_free(pd_opslots *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->nnames; i++)
        free(s->names[i]);
    free(s->names);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int pd_opslots_acquire(pd_opslots *s, pd_interrupt *in, double deadline)
{
    pthread_mutex_lock(&s->mu);
    int rc = PD_OK;
    while (s->max > 0 && s->used >= s->max) {
        rc = pd_interrupt_wait(in, &s->cv, &s->mu, deadline);
        if (rc != PD_OK)
            break;
        if (deadline > 0 && pd_now() >= deadline) {
            rc = PD_ETIMEOUT;
            break;
        }
    }
    if (rc == PD_OK)
        s->used++;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void release_locked(pd_opslots *s)
{
    if (s->used > 0)
        s->used--;
    pthread_cond_signal(&s->cv);
}

void pd_opslots_release(pd_opslots *s)
{
    pthread_mutex_lock(&s->mu);
    release_locked(s);
    pthread_mutex_unlock(&s->mu);
}

void pd_opslots_track(pd_opslots *s, const char *name)
{
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->nnames; i++) {
        if (strcmp(s->names[i], name) == 0) {
            release_locked(s);
            pthread_mutex_unlock(&s->mu);
            return;
        }
    }
    char *copy = pd_grow(&s->names, &s->cap, (size_t)s->nnames + 1, sizeof *s->names) == 0
                     ? strdup(name) : NULL;
    if (copy)
        s->names[s->nnames++] = copy;
    else
        release_locked(s);   /* cannot remember it: give the slot back, not leak it */
    pthread_mutex_unlock(&s->mu);
}

void pd_opslots_done(pd_opslots *s, const char *name)
{
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->nnames; i++) {
        if (strcmp(s->names[i], name) == 0) {
            free(s->names[i]);
            s->names[i] = s->names[--s->nnames];
            release_locked(s);
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
}

int pd_opslots_in_flight(pd_opslots *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->used;
    pthread_mutex_unlock(&s->mu);
    return n;
}

