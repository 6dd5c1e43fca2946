/*
 * signals.c — one thread sigwait()s for SIGINT/SIGTERM and turns them into
 * cancellation of the foreground interrupt; see include/pdlua/signals.h.
 */
#include "pdlua/signals.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The foreground interrupt is cancelled under fg_mu, so once
 * pd_signals_set_foreground() returns, no cancel of the old one is still
 * running and its owner may destroy it. */
static pthread_mutex_t fg_mu = PTHREAD_MUTEX_INITIALIZER;
static pd_interrupt *foreground;
static atomic_int count;
static _Atomic(pd_signal_hook) hook;
static const char *progname = "pdlua";

static void say(const char *what)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf, "\n%s: %s\n", progname, what);
    if (n > 0) {
        ssize_t w = write(2, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
        (void)w;
    }
}

static void *signal_thread(void *arg)
{
    sigset_t *set = arg;
    for (;;) {
        int sig = 0;
        if (sigwait(set, &sig) != 0)
            continue;
        pd_signal_hook h = atomic_load(&hook);
        if (h) {
            h(sig);
            continue;
        }
        int n = atomic_fetch_add(&count, 1) + 1;
        if (n >= 2) {
            say("interrupted again, stopping now");
            _exit(130);
        }
        say("interrupted: stopping gracefully (again to stop at once)");
        pthread_mutex_lock(&fg_mu);
        pd_interrupt_cancel(foreground ? foreground : pd_interrupt_root());
        pthread_mutex_unlock(&fg_mu);
    }
    return NULL;
}

int pd_signals_start(const char *name)
{
    if (name)
        progname = name;
    static sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    pthread_t t;
    if (pthread_create(&t, NULL, signal_thread, &set) != 0)
        return -1;
    pthread_detach(t);
    return 0;
}

void pd_signals_set_foreground(pd_interrupt *in)
{
    pthread_mutex_lock(&fg_mu);
    foreground = in;
    pthread_mutex_unlock(&fg_mu);
}
void pd_signals_set_hook(pd_signal_hook h) { atomic_store(&hook, h); }
void pd_signals_reset(void) { atomic_store(&count, 0); }
int pd_signals_count(void) { return atomic_load(&count); }
