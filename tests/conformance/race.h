/*
 * race.h - optimistic mode across processes: several processes each add 1
 * to a counter kept in the session (a channel's pts) many times, each time
 * load_rev, change, save_if, and on MTS_ECONFLICT load again and retry.
 * With save_if atomic across processes no increment is lost: the counter
 * ends at procs x each exactly.
 *
 * Also optimistic mode under a lease, step by step, on any backend with
 * leases. Every backend's optimistic test (file, SQLite, PostgreSQL) opens
 * its handles through the same callback, `int open(mts_storage **out,
 * void *ctx)`, called after the fork in a child.
 */
#ifndef MTS_CONFORMANCE_RACE_H
#define MTS_CONFORMANCE_RACE_H

#include "mtsession/mtsession.h"

typedef struct race_result {
    int32_t final;       /* the counter at the end */
    long conflicts;      /* MTS_ECONFLICT answers, all processes */
    long locked;         /* MTS_ELOCKED answers (retried too) */
    int failed_children; /* children that exited with an error */
} race_result;

/* Fork `procs` processes; each opens its own handle with open(ctx)
 * (after the fork) and makes `each` increments. The store must be empty
 * or hold a session without the counter's channel. */
void race_increments(race_result *out,
                     int (*open)(mts_storage **out, void *ctx),
                     void *ctx,
                     int procs,
                     int each);

/* race_increments, then the checks every backend's race makes: no child
 * failed and no increment was lost (the counter is procs x each). Prints
 * the conflict and busy counts. */
void race_check(int (*open)(mts_storage **out, void *ctx),
                void *ctx,
                int procs,
                int each);

/*
 * Leases still apply in optimistic mode, on three handles open(ctx) on
 * one store with nothing stored: while "w1" holds the lease, its save_if
 * works (and its stale revision is MTS_ECONFLICT, not a fence) and a
 * handle without a lease is refused (MTS_ELOCKED naming w1); once w1's
 * 50 ms lease ran out and "w2" took it, w1's save_if is MTS_EFENCED and
 * writes nothing, the handle without a lease is still refused, and w2's
 * save_if of the revision w1 wrote last works. s is what is saved.
 */
void race_lease_fencing(int (*open)(mts_storage **out, void *ctx),
                        void *ctx,
                        const mts_session *s);

/* The counter's channel id. */
#define RACE_CHANNEL 777

#endif
