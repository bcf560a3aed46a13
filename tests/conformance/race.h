/*
 * race.h - optimistic mode across processes: several processes each add 1
 * to a counter kept in the session (a channel's pts) many times, each time
 * load_rev, change, save_if, and on MTS_ECONFLICT load again and retry.
 * With save_if atomic across processes no increment is lost: the counter
 * ends at procs x each exactly.
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

/* The counter's channel id. */
#define RACE_CHANNEL 777

#endif
