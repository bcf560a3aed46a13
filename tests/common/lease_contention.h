/*
 * lease_contention.h - eight (or more) processes race for one session's
 * lease, shared by the backends' contention tests (tests/sql_lease,
 * tests/libsql). The caller says how a process opens its handle on the
 * raced session and what the backend can do beyond the common writes.
 *
 * A worker loops: acquire (a short random pause when refused); as holder,
 * cache two peers (ids unique to the worker, access_hash = epoch) and
 * replace the update state with 12 channels whose pts are all the epoch
 * (apply_update_state ALL); renew; release. It logs to its own file in
 * t_tmpdir() every tenure (epoch; acquired and last-used times on
 * CLOCK_MONOTONIC, which all processes share, and on the wall clock) and
 * every write's result.
 *
 * Worker 0 stops itself (SIGSTOP) in its first tenure. The parent keeps
 * it stopped until the lease has passed to another owner (or takes the
 * expired lease itself), then resumes it: every write it tries then
 * (save, [save_if,] the four update kinds, cache_peer, update_dc,
 * set_home_dc, delete, [the caller's extra write,]) its renew and its
 * release must be MTS_EFENCED, and none may show in the store.
 *
 * The parent then checks: epochs rise strictly with acquisition; each
 * tenure began after the previous one's last successful operation began
 * (monotonic and, with check_wall, never earlier on the wall clock);
 * every acknowledged peer is stored with its tenure's epoch and no
 * refused one is; the channel list is whole (12 rows, all the epoch of
 * the last acknowledged ALL); the home DC is unchanged; the lease's epoch
 * is the last tenure's. Failures are reported through the harness.
 */
#ifndef MTS_TEST_LEASE_CONTENTION_H
#define MTS_TEST_LEASE_CONTENTION_H

#include "mtsession/mtsession.h"

typedef struct lc_config {
    int workers;        /* processes racing (at most 64) */
    int ttl_ms;         /* every lease's time to live */
    int run_ms;         /* how long the workers race */
    long nap_min_us;    /* a refused acquire pauses nap_min_us plus */
    long nap_span_us;   /* a random part below nap_span_us */
    int handover_polls; /* 5 ms polls for the lease to leave worker 0 */
    int check_wall;     /* acquisitions also ordered on the wall clock */
    int stale_save_if;  /* the stale writes include save_if (the revision
                           read before worker 0 stops) */
    int stale_fenced;   /* how many stale writes must be MTS_EFENCED */
    /* Open a handle on the raced session (each worker after the fork,
     * and the parent); 0 or an MTS_E… code with err filled. */
    int (*open)(mts_storage **out, void *payload, mts_error *err);
    /* May be NULL: one more stale write the backend offers (tried after
     * delete, before renew); returns its result. */
    int (*stale_extra)(mts_storage *st, void *payload, mts_error *err);
    void *payload;
} lc_config;

/* Run the race and check it (one test case's worth). */
void lc_race(const lc_config *cfg);

#endif
