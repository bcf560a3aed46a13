/*
 * lease_text.h - the words of the lease refusals, shared by the backends
 * that keep leases (file.c, sqlite.c, libsql.c, postgres.c). Callers and
 * tests rely on the exact text: a change here changes every backend's
 * messages at once.
 *
 * Pure functions of their arguments: thread-safe.
 */
#ifndef MTSESSION_LEASE_TEXT_H
#define MTSESSION_LEASE_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* Room for any mts__lease_time text. */
#define MTS__LEASE_TIME_SIZE 40

/* "2026-11-25T10:00:00.123Z" (UTC) from Unix ms into buf (truncated to
 * size); "(never)" for INT64_MIN (no expiry recorded), "(time N ms)" for
 * a time gmtime cannot express. */
void mts__lease_time(char *buf, size_t size, int64_t ms);

/* MTS_ELOCKED: "<where>: [<what>: ]session held by <owner> until <time>",
 * the live lease of another owner. what may be NULL. */
int mts__lease_held(mts_error *err,
                    const char *where,
                    const char *what,
                    const char *owner,
                    int64_t expires_ms);

/*
 * MTS_EFENCED for the holder of `epoch` whose `what` was refused, saying
 * why from the lease record `now` (NULL: there is none):
 *   "<where>: <what>: fenced: the lease record is gone"
 *   "<where>: <what>: fenced: the lease (epoch E) expired at <time>; renew
 *    it"                                   (ours: the record is this one)
 *   "<where>: <what>: fenced: epoch E is over; the lease is now <owner>'s
 *    (epoch E2)"                           (otherwise)
 */
int mts__lease_fenced(mts_error *err,
                      const char *where,
                      const char *what,
                      uint64_t epoch,
                      const mts_lease *now,
                      int ours);

/*
 * May a handle write, given the lease record `now` (NULL: none; its held
 * field says whether it is live on the store's clock)? 0, or the refusal:
 * a handle without a lease (leased 0) needs nobody's live lease
 * (MTS_ELOCKED naming the holder); a holder of (owner, epoch) needs that
 * very lease, live (MTS_EFENCED, as mts__lease_fenced).
 */
int mts__lease_verdict(mts_error *err,
                       const char *where,
                       const char *what,
                       int leased,
                       const char *owner,
                       uint64_t epoch,
                       const mts_lease *now);

#endif
