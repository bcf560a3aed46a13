/*
 * pg_optimistic.c - optimistic mode (load_rev, save_if) on the postgres
 * backend against the throwaway server:
 *
 * - eight processes each add 1 to a counter in one account many times
 *   with load_rev, save_if and a retry on MTS_ECONFLICT: none is lost;
 * - a version 2 database migrates to 3 (sessions.rev), and its rows,
 *   stamped 0, report revision 2^63 and accept a save_if of it;
 * - leases still apply: a holder's save_if is fenced once it lost the
 *   lease, a handle without one is refused while a lease is live;
 * - every kind of write sets a new sessions.rev, as the server shows it.
 */
#include <stdio.h>
#include <string.h>

#include "fixtures.h"
#include "pg_helpers.h"
#include "race.h"
#include "t.h"

/* The database and account of the handles race.c opens. */
typedef struct pg_target {
    const char *db;
    const char *account;
} pg_target;

static int
open_target(mts_storage **out, void *ctx)
{
    const pg_target *t = ctx;
    return mts_postgres_open(out, t->db, t->account, NULL);
}

static void
test_race(void)
{
    pg_target t = { pgt_new_db("mts_opt_race"), "counter" };
    race_check(open_target, &t, 8, 25);
}

static void
test_migration_rev_zero(void)
{
    const char *db = pgt_new_db("mts_opt_migrate");
    mts_storage *st = NULL;
    mts_session *s = fx_session("full"), *got = NULL;
    mts_error err = MTS_ERROR_INIT;
    uint64_t rev = 0, r2 = 0;
    PGconn *c;
    pgt_store(db, "old", s);
    /* back to version 2: no rev column */
    c = pgt_connect(db);
    pgt_exec(c, "ALTER TABLE mtsession.sessions DROP COLUMN rev");
    pgt_exec(c, "DELETE FROM mtsession.schema_version WHERE version = 3");
    T_EQ_INT(mts_postgres_open(&st, db, "old", &err), 0);
    T_EQ_INT(pgt_int(c, "SELECT max(version) FROM mtsession.schema_version"),
             3);
    T_EQ_INT(pgt_int(c, "SELECT rev FROM mtsession.sessions"), 0);
    if (st != NULL) {
        T_EQ_INT(mts_storage_load_rev(&got, &rev, st, &err), 0);
        T_EQ_U64(rev, (uint64_t)1 << 63);
        T_CHECK(got && mts_session_equal(got, s));
        T_EQ_INT(mts_storage_save_if(st, s, 0, NULL, &err), MTS_ECONFLICT);
        T_CONTAINS(err.message, "9223372036854775808");
        T_EQ_INT(mts_storage_save_if(st, s, rev, &r2, &err), 0);
        T_CHECK(r2 != 0 && r2 != rev);
        T_EQ_INT(pgt_int(c, "SELECT rev FROM mtsession.sessions"), (int64_t)r2);
    }
    mts_session_free(got);
    mts_storage_free(st);
    PQfinish(c);
    mts_session_free(s);
}

static void
test_leases(void)
{
    pg_target t = { pgt_new_db("mts_opt_lease"), "acct" };
    mts_session *s = fx_session("small");
    race_lease_fencing(open_target, &t, s);
    mts_session_free(s);
}

/* The server's view: each kind of write leaves a new sessions.rev, and
 * load_rev reports exactly it. */
static void
test_server_rev(void)
{
    const char *db = pgt_new_db("mts_opt_server");
    mts_storage *st = NULL;
    mts_session *s = fx_session("small");
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    mts_channel_pts ch = { 9, 90 };
    mts_peer p = MTS_PEER_INIT;
    mts_dc dc = MTS_DC_INIT;
    int64_t seen[16];
    int n = 0;
    PGconn *pc;
    T_EQ_INT(mts_postgres_open(&st, db, "a", NULL), 0);
    pc = pgt_connect(db);
    for (int k = 0; k < 9 && st != NULL; k++) {
        uint64_t rev = 0;
        int rc = 0;
        switch (k) {
        case 0:
            rc = mts_storage_save(st, s, NULL);
            break;
        case 1:
            rc = mts_storage_save(st, s, NULL); /* the same again */
            break;
        case 2:
            c.kind = MTS_UPDATE_PRIMARY;
            c.state.pts = 3;
            rc = mts_storage_apply_update_state(st, &c, NULL);
            break;
        case 3:
            c.kind = MTS_UPDATE_SECONDARY;
            rc = mts_storage_apply_update_state(st, &c, NULL);
            break;
        case 4:
            c.kind = MTS_UPDATE_CHANNEL;
            c.channel_id = 8;
            c.channel_pts = 1;
            rc = mts_storage_apply_update_state(st, &c, NULL);
            break;
        case 5:
            c.kind = MTS_UPDATE_ALL;
            c.channels = &ch;
            c.channel_count = 1;
            rc = mts_storage_apply_update_state(st, &c, NULL);
            break;
        case 6:
            p.id = 77;
            rc = mts_storage_cache_peer(st, &p, NULL);
            break;
        case 7:
            dc.dc_id = 3;
            (void)mts_ip_parse(&dc.ip, "149.154.175.100");
            dc.port = 443;
            rc = mts_storage_update_dc(st, &dc, NULL);
            break;
        case 8:
            rc = mts_storage_set_home_dc(st, 3, NULL);
            break;
        }
        T_EQ_INT(rc, 0);
        seen[n] = pgt_int(pc, "SELECT rev FROM mtsession.sessions "
                              "WHERE account = 'a'");
        T_CHECK(seen[n] > 0);
        for (int i = 0; i < n; i++)
            if (seen[i] == seen[n])
                t_fail(__FILE__, __LINE__, "write %d kept revision %lld", k,
                       (long long)seen[n]);
        T_EQ_INT(mts_storage_load_rev(NULL, &rev, st, NULL), 0);
        T_EQ_U64(rev, (uint64_t)seen[n]);
        n++;
    }
    PQfinish(pc);
    mts_storage_free(st);
    mts_session_free(s);
}

T_MAIN(T_CASE(test_race),
       T_CASE(test_migration_rev_zero),
       T_CASE(test_leases),
       T_CASE(test_server_rev))
