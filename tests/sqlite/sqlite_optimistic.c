/*
 * sqlite_optimistic.c - optimistic mode on the SQLite backend: eight
 * processes each add 1 to a counter in one session many times with
 * load_rev, save_if and a retry on MTS_ECONFLICT (no increment lost),
 * a row written before revisions existed (rev 0), and save_if against a
 * live lease.
 */
#include <stdio.h>
#include <string.h>

#include "helpers.h"
#include "race.h"
#include "t.h"

static char db[4096];

static int
open_store(mts_storage **out, void *ctx)
{
    return mts_sqlite_open(out, db, (const char *)ctx, NULL);
}

static void
test_race(void)
{
    race_result r;
    snprintf(db, sizeof(db), "%s", h_path("race.db"));
    race_check(open_store, (void *)"counter", 8, 40);
    /* another session in the same file is not disturbed */
    race_increments(&r, open_store, (void *)"other", 2, 10);
    T_EQ_INT(r.final, 20);
}

/* A row whose rev is 0 (written before schema version 2 stamped revs)
 * is a stored session: its revision is 2^63, never 0. */
static void
test_rev_zero_row(void)
{
    mts_storage *st;
    mts_session *s, *got = NULL;
    mts_error err = MTS_ERROR_INIT;
    uint64_t rev = 0, r2 = 0;
    char sql[256];
    snprintf(db, sizeof(db), "%s", h_path("rev0.db"));
    T_EQ_INT(mts_session_new(&s, MTS_NEW_DEFAULT), 0);
    T_EQ_INT(mts_sqlite_open(&st, db, "old", NULL), 0);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    mts_storage_free(st);
    snprintf(sql, sizeof(sql), "UPDATE sessions SET rev = 0");
    h_exec(db, sql);
    T_EQ_INT(mts_sqlite_open(&st, db, "old", NULL), 0);
    T_EQ_INT(mts_storage_load_rev(&got, &rev, st, &err), 0);
    T_EQ_U64(rev, (uint64_t)1 << 63);
    T_CHECK(got && mts_session_equal(s, got));
    mts_session_free(got);
    T_EQ_INT(mts_storage_save_if(st, s, 0, NULL, &err), MTS_ECONFLICT);
    T_CONTAINS(err.message, "9223372036854775808");
    T_EQ_INT(mts_storage_save_if(st, s, rev, &r2, &err), 0);
    T_CHECK(r2 != 0 && r2 != rev);
    T_EQ_INT(h_int(db, "SELECT count(*) FROM sessions WHERE rev = 0"), 0);
    mts_storage_free(st);
    mts_session_free(s);
}

/* Leases still apply: a handle without a lease is refused while someone
 * else's lease is live; a holder's save_if is fenced once it lost it. */
static void
test_leases(void)
{
    mts_session *s;
    snprintf(db, sizeof(db), "%s", h_path("lease.db"));
    T_EQ_INT(mts_session_new(&s, MTS_NEW_DEFAULT), 0);
    race_lease_fencing(open_store, (void *)"acct", s);
    mts_session_free(s);
}

T_MAIN(T_CASE(test_race), T_CASE(test_rev_zero_row), T_CASE(test_leases))
