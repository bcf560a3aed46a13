/*
 * libsql_lease_contention.c - eight processes race for one session's lease
 * on a libSQL server (a private Hrana test server this test starts on
 * loopback) for about four seconds, with 250 ms leases on the server's
 * clock.
 *
 * The race and its checks are tests/common/lease_contention.c: workers
 * cache peers and replace the update state as holders, worker 0 is stopped
 * in its first tenure and resumed after the lease passed on, and then
 * every write it tries (save, save_if, the four update kinds, cache_peer,
 * update_dc, set_home_dc, delete, rekey), its renew and its release must
 * be MTS_EFENCED (13 in all), and none may show in the store; one holder
 * at any moment, nothing half-applied. The server's clock decides expiry,
 * so acquisitions are ordered on CLOCK_MONOTONIC only, not on the wall
 * clock.
 *
 * Skipped (exit 77) when node or the server's npm packages are missing.
 * Environment (tests.cmake): MTS_HRANA_NODE, MTS_HRANA_SERVER.
 */
#include <stdio.h>
#include <string.h>

#include "fixtures.h"
#include "lease_contention.h"
#include "remote_helpers.h"
#include "t.h"

#define NAME  "race"
#define TOKEN "contention-token"

static int
open_remote(mts_storage **out, void *payload, mts_error *err)
{
    const rh_server *sv = payload;
    return mts_libsql_open_remote(out, sv->url, TOKEN, NAME, err);
}

static int
stale_rekey(mts_storage *st, void *payload, mts_error *err)
{
    mts_secret *key = NULL;
    uint8_t k[MTS_SEAL_KEY_SIZE];
    int rc;
    (void)payload;
    memset(k, 0x42, sizeof(k));
    (void)mts_secret_from_key(&key, k, NULL);
    rc = mts_libsql_rekey(st, key, err);
    mts_secret_free(key);
    return rc;
}

static void
test_race(void)
{
    const char *node = NULL, *script, *why = rh_server_missing(&node, &script);
    char db[4200];
    rh_server sv = RH_SERVER_INIT;
    lc_config cfg = {
        .workers = 8,
        .ttl_ms = 250,
        .run_ms = 4000,
        .nap_min_us = 1000,
        .nap_span_us = 4000,
        .handover_polls = 400,
        .check_wall = 0,
        .stale_save_if = 1,
        .stale_fenced = 13,
        .open = open_remote,
        .stale_extra = stale_rekey,
        .payload = &sv,
    };

    if (script == NULL) {
        t_fail(__FILE__, __LINE__,
               "MTS_HRANA_SERVER is not set: run this test through ctest");
        return;
    }
    if (why != NULL) {
        t_skip(why);
        return;
    }
    snprintf(db, sizeof(db), "%s/race.db", t_tmpdir());
    if (rh_server_start(&sv, node, script, db, TOKEN) != 0)
        t_fail(__FILE__, __LINE__, "could not start the test server");
    else
        lc_race(&cfg);
    rh_server_stop(&sv);
}

T_MAIN(T_CASE(test_race))
