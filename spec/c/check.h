/*
 * check.h — the assertions of pdlua's C unit tests (spec/c/NAME_test.c); no
 * framework, no dependency.
 *
 * A test is a function of no arguments; main runs each with RUN(fn) (or
 * check_begin(name) ... check_end() around a case of a table) and returns
 * check_summary("c/NAME"), which prints "c/NAME: N passed, M failed" — the
 * line .ci/run counts — and gives the exit status. A failed CHECK prints
 * where and what, and the test goes on to its end. A test still running
 * after CHECK_SECONDS is killed (SIGALRM), so a broken wait fails rather
 * than hangs.
 */
#ifndef PDLUA_SPEC_CHECK_H
#define PDLUA_SPEC_CHECK_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CHECK_SECONDS 60

static const char *check_name;
static int check_bad, check_passed, check_failed;

static int check_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: %s: %s\n", file, line, check_name, what);
    check_bad = 1;
    return 0;
}

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond))                                                                 \
            check_fail(__FILE__, __LINE__, "CHECK(" #cond ")");                      \
    } while (0)

#define CHECK_INT(a, b)                                                              \
    do {                                                                             \
        long long a_ = (long long)(a), b_ = (long long)(b);                          \
        if (a_ != b_) {                                                              \
            char m_[256];                                                            \
            snprintf(m_, sizeof m_, "%s == %s: %lld != %lld", #a, #b, a_, b_);        \
            check_fail(__FILE__, __LINE__, m_);                                      \
        }                                                                            \
    } while (0)

#define CHECK_STR(a, b)                                                              \
    do {                                                                             \
        const char *a_ = (a), *b_ = (b);                                             \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                     \
            char m_[512];                                                            \
            snprintf(m_, sizeof m_, "%s == \"%s\": got \"%s\"", #a, b_ ? b_ : "(null)", \
                     a_ ? a_ : "(null)");                                            \
            check_fail(__FILE__, __LINE__, m_);                                      \
        }                                                                            \
    } while (0)

static void check_begin(const char *name)
{
    check_name = name;
    check_bad = 0;
    alarm(CHECK_SECONDS);
}

static void check_end(void)
{
    if (check_bad)
        check_failed++;
    else
        check_passed++;
}

#define RUN(fn) (check_begin(#fn), fn(), check_end())

static int check_summary(const char *unit)
{
    printf("%s: %d passed, %d failed\n", unit, check_passed, check_failed);
    fflush(stdout);
    return check_failed ? 1 : 0;
}

#endif
