/*
 * ratelimit.h — the client-side request rate limit, shared by every thread
 * using one client.
 *
 * Compute Engine counts API requests per project per minute and answers
 * 403 rateLimitExceeded beyond its quota; a fleet migration with dozens of
 * workers would hit that at once. pdlua paces its own requests below the
 * quota instead: a token bucket (implemented as GCRA: each caller reserves
 * the next send time, so waiters are served in arrival order and the rate
 * holds exactly however many threads compete), with a burst allowance.
 */
#ifndef PDLUA_RATELIMIT_H
#define PDLUA_RATELIMIT_H

#include "pdlua/interrupt.h"

typedef struct pd_ratelimit pd_ratelimit;

/* qps <= 0: unlimited. burst < 1 is taken as 1. */
pd_ratelimit *pd_ratelimit_new(double qps, double burst);
void pd_ratelimit_free(pd_ratelimit *rl);

/* Waits (interpreter lock NOT held) until a request may be sent. PD_OK,
 * PD_ETIMEOUT or PD_ECANCELLED; `deadline` (monotonic, 0: none) is an
 * extra limit besides the interrupt's own. *waited gets the seconds spent. */
int pd_ratelimit_acquire(pd_ratelimit *rl, pd_interrupt *in, double deadline, double *waited);

double pd_ratelimit_qps(pd_ratelimit *rl);

#endif
