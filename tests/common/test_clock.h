/*
 * test_clock.h - clocks and sleeps for the tests that time leases and
 * races: CLOCK_MONOTONIC (shared by all processes of a machine, for
 * ordering events across processes) and the wall clock (what lease
 * expiries of the file and SQLite backends are kept on), and sleeps that
 * resume after a signal.
 *
 * Header only, static inline: usable by any test binary without linking.
 */
#ifndef MTS_TEST_CLOCK_H
#define MTS_TEST_CLOCK_H

#include <errno.h>
#include <stdint.h>
#include <time.h>

static inline int64_t
tc_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t
tc_mono_ms(void)
{
    return tc_mono_ns() / 1000000;
}

/* Unix time in ms. */
static inline int64_t
tc_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void
tc_sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static inline void
tc_sleep_ms(long ms)
{
    tc_sleep_us(ms * 1000L);
}

#endif
