/*
 * sql_lease_contention.c - eight processes race for one session's lease in
 * one SQLite file for about three seconds, with 150 ms leases.
 *
 * The race and its checks are tests/common/lease_contention.c: workers
 * cache peers and replace the update state as holders, worker 0 is stopped
 * (SIGSTOP) in its first tenure and resumed after the lease passed on, and
 * then every write it tries (save, the four update kinds, cache_peer,
 * update_dc, set_home_dc, delete), its renew and its release must be
 * MTS_EFENCED (11 in all), and none may show in the store.
 *
 * Then: epochs rise strictly with acquisition; each tenure began after the
 * previous one's last successful operation began (monotonic, and never
 * earlier on the wall clock: the lease is on this machine's clock); every
 * acknowledged peer is stored with its tenure's epoch and no refused one
 * is; the channel list is whole (12 rows, all the epoch of the last
 * acknowledged ALL); the lease's epoch is the last tenure's.
 */
#include "fixtures.h"
#include "helpers.h"
#include "lease_contention.h"
#include "t.h"

#define NAME "race"

static int
open_file(mts_storage **out, void *payload, mts_error *err)
{
    (void)payload;
    return mts_sqlite_open(out, h_path("race.db"), NAME, err);
}

static void
test_race(void)
{
    lc_config cfg = {
        .workers = 8,
        .ttl_ms = 150,
        .run_ms = 3000,
        .nap_min_us = 500,
        .nap_span_us = 3000,
        .handover_polls = 200,
        .check_wall = 1,
        .stale_save_if = 0,
        .stale_fenced = 11,
        .open = open_file,
        .stale_extra = NULL,
        .payload = NULL,
    };
    lc_race(&cfg);
}

T_MAIN(T_CASE(test_race))
