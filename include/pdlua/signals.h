/*
 * signals.h — SIGINT/SIGTERM turned into cancellation (docs/design.md,
 * "Threading model").
 *
 * pd_signals_start() blocks the signals in the calling thread — call it
 * before the first pthread_create so every thread inherits the mask — and
 * starts one thread that sigwait()s. The first SIGINT or SIGTERM cancels
 * the foreground interrupt (by default the root one): nothing new starts,
 * running tasks are cancelled, rollbacks run. The second exits at once with
 * code 130.
 */
#ifndef PDLUA_SIGNALS_H
#define PDLUA_SIGNALS_H

#include "pdlua/interrupt.h"

/* `progname` prefixes the messages printed on a signal. */
int pd_signals_start(const char *progname);

/* The interrupt that the next signal cancels; NULL restores the root.
 * The REPL installs one per command. */
void pd_signals_set_foreground(pd_interrupt *in);

/* Re-arms the "second signal exits" counter (the REPL, after a command). */
void pd_signals_reset(void);

/* A hook that, while set, receives every SIGINT/SIGTERM instead of the
 * default handling (the REPL at its prompt: Ctrl-C clears the line). It
 * runs on the signal thread: it must only do async-safe, lock-free work
 * such as writing to a pipe. NULL restores the default. */
typedef void (*pd_signal_hook)(int signo);
void pd_signals_set_hook(pd_signal_hook hook);

/* How many interrupting signals arrived since start or reset. */
int pd_signals_count(void);

#endif
