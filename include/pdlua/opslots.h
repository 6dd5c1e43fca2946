/*
 * opslots.h — a cap on the long-running operations one client has in
 * flight.
 *
 * Compute Engine limits concurrent operations per project (500 by default)
 * and fails new mutations with CONCURRENT_OPERATIONS_QUOTA_EXCEEDED beyond
 * that. pdlua keeps its own count below a configurable cap: a mutation
 * takes a slot before it is sent; if the API answers with an Operation that
 * is not yet DONE the slot stays held under the operation's name until a
 * wait or get sees it DONE; otherwise (an error, or already DONE) it is
 * given back at once. Slots of operations nobody waits for are only given
 * back when the client is freed — callers that start operations wait for
 * them (docs/design.md, "The migration": every step waits for its operation).
 */
#ifndef PDLUA_OPSLOTS_H
#define PDLUA_OPSLOTS_H

#include "pdlua/interrupt.h"

typedef struct pd_opslots pd_opslots;

/* max <= 0: no cap (in-flight operations are still counted). */
pd_opslots *pd_opslots_new(int max);
void pd_opslots_free(pd_opslots *s);

/* Waits for a free slot (lock NOT held); PD_OK, PD_ETIMEOUT, PD_ECANCELLED.
 * `deadline`: extra limit (monotonic, 0: none). */
int pd_opslots_acquire(pd_opslots *s, pd_interrupt *in, double deadline);
/* Gives back an acquired slot that no operation holds. */
void pd_opslots_release(pd_opslots *s);
/* Keeps the acquired slot until pd_opslots_done(name). A name already
 * tracked (a retried request returning the same operation) gives the
 * extra slot back. */
void pd_opslots_track(pd_opslots *s, const char *name);
/* The named operation is DONE: frees its slot if it held one. */
void pd_opslots_done(pd_opslots *s, const char *name);

int pd_opslots_in_flight(pd_opslots *s);

#endif
