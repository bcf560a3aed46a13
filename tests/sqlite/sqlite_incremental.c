/*
 * sqlite_incremental.c - incremental saves of the SQLite backend.
 *
 * Writes are counted by triggers (a log table filled on every insert,
 * update and delete), reads by sqlite3_trace_v2 on the backend's own
 * connection (every statement run and every row it returned). Checked:
 *
 * - after a load of 10,000 peers, changing 100 makes a save write exactly
 *   those 100 peer rows (and the session's rev) and read no other row;
 *   removed peers are deleted;
 * - a session object this handle did not load or save, a save after a
 *   failed (rolled-back) save, a write by another connection, a removal
 *   log that overflowed, and too many granular changes all take the full
 *   path, and every save leaves exactly the snapshot in the store;
 * - rows this handle's granular changes wrote are brought back to the
 *   snapshot by an incremental save;
 * - a long random mix of model changes, granular writes, writes by
 *   another handle and saves, checked after every save.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"
#include "helpers.h"
#include "internal.h"
#include "sql_schema.h"
#include "t.h"

/* ---- counting ----------------------------------------------------------- */

typedef struct counts {
    long stmts;       /* statements started */
    long rows;        /* result rows returned */
    long peer_reads;  /* statements that read the peers table */
    long peer_writes; /* INSERT INTO peers statements (upserts) */
} counts;

static counts cnt;

static int
trace_cb(unsigned mask, void *ctx, void *p, void *x)
{
    (void)ctx;
    if (mask == SQLITE_TRACE_STMT) {
        const char *sql = x;
        if (sql == NULL || strncmp(sql, "--", 2) == 0)
            return 0; /* a trigger's sub-program */
        cnt.stmts++;
        if (strstr(sql, "FROM peers WHERE session") != NULL &&
            strncmp(sql, "SELECT", 6) == 0)
            cnt.peer_reads++;
        if (strncmp(sql, "INSERT INTO peers", 17) == 0)
            cnt.peer_writes++;
    } else if (mask == SQLITE_TRACE_ROW) {
        (void)p;
        cnt.rows++;
    }
    return 0;
}

static void
trace_on(mts_storage *st)
{
    sqlite3 *db = mts__sqlite_db(st);
    T_CHECK(db != NULL);
    if (db != NULL)
        sqlite3_trace_v2(db, SQLITE_TRACE_STMT | SQLITE_TRACE_ROW, trace_cb,
                         NULL);
    memset(&cnt, 0, sizeof(cnt));
}

static const char *const log_ddl =
    "CREATE TABLE IF NOT EXISTS wlog (tbl TEXT, op TEXT);"
    "CREATE TRIGGER IF NOT EXISTS p1 AFTER INSERT ON peers BEGIN INSERT INTO "
    "wlog VALUES ('peers', 'insert'); END;"
    "CREATE TRIGGER IF NOT EXISTS p2 AFTER UPDATE ON peers BEGIN INSERT INTO "
    "wlog VALUES ('peers', 'update'); END;"
    "CREATE TRIGGER IF NOT EXISTS p3 AFTER DELETE ON peers BEGIN INSERT INTO "
    "wlog VALUES ('peers', 'delete'); END;"
    "CREATE TRIGGER IF NOT EXISTS d1 AFTER INSERT ON dcs BEGIN INSERT INTO "
    "wlog VALUES ('dcs', 'insert'); END;"
    "CREATE TRIGGER IF NOT EXISTS d2 AFTER UPDATE ON dcs BEGIN INSERT INTO "
    "wlog VALUES ('dcs', 'update'); END;"
    "CREATE TRIGGER IF NOT EXISTS s1 AFTER UPDATE ON sessions BEGIN INSERT "
    "INTO wlog VALUES ('sessions', 'update'); END;"
    "CREATE TRIGGER IF NOT EXISTS c1 AFTER INSERT ON channel_pts BEGIN "
    "INSERT INTO wlog VALUES ('channel_pts', 'insert'); END;"
    "CREATE TRIGGER IF NOT EXISTS m1 AFTER INSERT ON min_peers BEGIN "
    "INSERT INTO wlog VALUES ('min_peers', 'insert'); END;";

static int64_t
logged(const char *path, const char *tbl, const char *op)
{
    char sql[200];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM wlog WHERE tbl = '%s' AND op = '%s'", tbl,
             op);
    return h_int(path, sql);
}

/* What a fresh handle loads equals s. */
static void
check_stored(const char *path, const char *name, const mts_session *s, int line)
{
    mts_storage *st = h_open(path, name);
    mts_session *got = h_load(st);
    if (got == NULL || !mts_session_equal(got, s))
        t_fail(__FILE__, line, "the store does not hold the snapshot");
    mts_session_free(got);
    mts_storage_free(st);
}

static mts_storage *
open_fast(const char *path, const char *name)
{
    mts_sqlite_options o = MTS_SQLITE_OPTIONS_INIT;
    mts_storage *st = NULL;
    mts_error err = MTS_ERROR_INIT;
    o.synchronous = MTS_SQLITE_SYNC_NORMAL;
    if (mts_sqlite_open_ex(&st, path, name, &o, &err) != 0)
        t_fail(__FILE__, __LINE__, "open: %s", err.message);
    return st;
}

static void
change_peers(mts_session *s, size_t first, size_t n)
{
    for (size_t i = first; i < first + n; i++) {
        mts_peer p;
        T_EQ_INT(mts_session_peer_at(&p, s, i), 0);
        p.access_hash ^= 0x5a5a;
        T_EQ_INT(mts_session_put_peer(s, &p, NULL), 0);
    }
}

/* ---- the 10k case ------------------------------------------------------- */

static void
test_hundred_of_ten_thousand(void)
{
    const char *path = h_path("incr10k.db");
    mts_storage *st = h_open(path, NULL);
    mts_session *big = fx_big(10000), *s = NULL;
    if (st == NULL)
        return;
    T_EQ_INT(mts_storage_save(st, big, NULL), 0);
    T_EQ_INT(h_exec(path, log_ddl), SQLITE_OK);
    s = h_load(st);
    if (s == NULL)
        return;
    T_EQ_U64(mts_session_peer_count(s), 10000);

    /* 100 changed peers: 100 peer rows written, no other row read */
    change_peers(s, 4000, 100);
    trace_on(st);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    T_EQ_INT(logged(path, "peers", "update"), 100);
    T_EQ_INT(logged(path, "peers", "insert"), 0);
    T_EQ_INT(logged(path, "peers", "delete"), 0);
    T_EQ_INT(logged(path, "dcs", "update"), 0);
    T_EQ_INT(logged(path, "sessions", "update"), 1); /* the rev */
    T_EQ_INT(h_int(path, "SELECT count(*) FROM wlog"), 101);
    T_EQ_INT(cnt.peer_writes, 100);
    T_EQ_INT(cnt.peer_reads, 0);
    /* the rows read: data_version and the session's rev */
    T_EQ_INT(cnt.rows, 2);
    /* begin, lease, data_version, seal, rev, 100 peers, rev, commit */
    T_EQ_INT(cnt.stmts, 107);
    fprintf(stderr, "  100 of 10000 changed: %ld statements, %ld rows read\n",
            cnt.stmts, cnt.rows);
    check_stored(path, NULL, s, __LINE__);

    /* removals are deleted, and only they */
    T_EQ_INT(h_exec(path, "DELETE FROM wlog"), SQLITE_OK);
    {
        mts_session *again = h_load(st); /* rebase after the raw write */
        mts_session_free(s);
        s = again;
    }
    for (int i = 0; s != NULL && i < 10; i++) {
        mts_peer p;
        T_EQ_INT(mts_session_peer_at(&p, s, (size_t)i * 500), 0);
        T_EQ_INT(mts_session_remove_peer(s, p.kind, p.id), 0);
    }
    trace_on(st);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    T_EQ_INT(logged(path, "peers", "delete"), 10);
    T_EQ_INT(logged(path, "peers", "update") + logged(path, "peers", "insert"),
             0);
    T_EQ_INT(cnt.peer_reads, 0);
    T_EQ_INT(cnt.rows, 2);
    T_EQ_INT(h_int(path, "SELECT count(*) FROM peers"), 9990);
    check_stored(path, NULL, s, __LINE__);

    /* nothing changed: nothing written */
    T_EQ_INT(h_exec(path, "DELETE FROM wlog"), SQLITE_OK);
    mts_session_free(s);
    s = h_load(st);
    trace_on(st);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    T_EQ_INT(h_int(path, "SELECT count(*) FROM wlog"), 0);
    T_EQ_INT(cnt.peer_writes, 0);
    mts_session_free(s);
    mts_session_free(big);
    mts_storage_free(st);
}

/* ---- when the full path runs -------------------------------------------- */

/* Save through st and say whether the full path ran (it reads the keys). */
static int
save_was_full(mts_storage *st, const mts_session *s)
{
    mts_error err = MTS_ERROR_INIT;
    int rc;
    trace_on(st);
    rc = mts_storage_save(st, s, &err);
    if (rc != 0)
        t_fail(__FILE__, __LINE__, "save: %s", err.message);
    return cnt.peer_reads > 0;
}

static void
test_other_object_is_full(void)
{
    const char *path = h_path("other.db");
    mts_storage *st = h_open(path, NULL);
    mts_session *a = fx_big(600), *b = NULL, *c = fx_big(600);
    if (st == NULL)
        return;
    T_CHECK(save_was_full(st, a)); /* first save */
    change_peers(a, 0, 5);
    T_CHECK(!save_was_full(st, a)); /* same object */
    /* a copy of the same content is another object: full */
    T_EQ_INT(mts_session_dup(&b, a), 0);
    T_CHECK(save_was_full(st, b));
    check_stored(path, NULL, b, __LINE__);
    /* and a is no longer the base: full again, and the store is a */
    change_peers(a, 10, 3);
    T_CHECK(save_was_full(st, a));
    check_stored(path, NULL, a, __LINE__);
    /* another object with other content entirely */
    T_CHECK(save_was_full(st, c));
    check_stored(path, NULL, c, __LINE__);
    mts_session_free(a);
    mts_session_free(b);
    mts_session_free(c);
    mts_storage_free(st);
}

static void
test_failed_save_then_full(void)
{
    const char *path = h_path("failed.db");
    mts_storage *st = h_open(path, NULL);
    mts_session *s = fx_big(600), *got;
    mts_peer p = MTS_PEER_INIT;
    mts_error err = MTS_ERROR_INIT;
    if (st == NULL)
        return;
    T_EQ_INT(h_exec(path, "CREATE TRIGGER boom BEFORE INSERT ON peers WHEN "
                          "NEW.username = 'boom' BEGIN SELECT RAISE(ABORT, "
                          "'boom refused'); END"),
             SQLITE_OK);
    T_CHECK(save_was_full(st, s));
    /* a delta with a refused row, late in the transaction */
    change_peers(s, 0, 50);
    p.id = 999999;
    p.username = "boom";
    T_EQ_INT(mts_session_put_peer(s, &p, NULL), 0);
    trace_on(st);
    T_EQ_INT(mts_storage_save(st, s, &err), MTS_EBACKEND);
    T_CONTAINS(err.message, "boom refused");
    T_EQ_INT(cnt.peer_reads, 0); /* it was incremental */
    /* nothing of it landed */
    got = h_load(st);
    T_CHECK(got != NULL && !mts_session_equal(got, s));
    T_EQ_INT(mts_session_get_peer(&p, got, MTS_PEER_USER, 999999),
             MTS_ENOTFOUND);
    mts_session_free(got);
    /* the load rebased the handle on `got`; save s: another object, full.
     * To see the rule itself, fail once more on s's own base. */
    T_EQ_INT(mts_session_remove_peer(s, MTS_PEER_USER, 999999), 0);
    T_CHECK(save_was_full(st, s));
    p.id = 999998;
    p.username = "boom";
    T_EQ_INT(mts_session_put_peer(s, &p, NULL), 0);
    T_EQ_INT(mts_storage_save(st, s, &err), MTS_EBACKEND);
    T_EQ_INT(mts_session_remove_peer(s, MTS_PEER_USER, 999998), 0);
    change_peers(s, 100, 2);
    /* the failed save rolled back: the next one is full, and right */
    T_CHECK(save_was_full(st, s));
    check_stored(path, NULL, s, __LINE__);
    T_CHECK(!save_was_full(st, s));
    mts_session_free(s);
    mts_storage_free(st);
}

/* Another connection's write (through mtsession, or a raw edit that does
 * not touch rev) makes the next save full, so the snapshot replaces it. */
static void
test_foreign_writes_are_replaced(void)
{
    const char *path = h_path("foreign.db");
    mts_storage *st = h_open(path, NULL), *other = h_open(path, NULL);
    mts_session *s = fx_big(300);
    mts_peer p = MTS_PEER_INIT;
    if (st == NULL || other == NULL)
        return;
    T_CHECK(save_was_full(st, s));
    p.id = 31337;
    T_EQ_INT(mts_storage_cache_peer(other, &p, NULL), 0);
    change_peers(s, 0, 1);
    T_CHECK(save_was_full(st, s));
    check_stored(path, NULL, s, __LINE__);
    T_CHECK(!save_was_full(st, s));
    /* a raw edit that leaves rev alone */
    T_EQ_INT(h_exec(path, "UPDATE peers SET access_hash = 1 WHERE id = 1000"),
             SQLITE_OK);
    change_peers(s, 5, 1);
    T_CHECK(save_was_full(st, s));
    check_stored(path, NULL, s, __LINE__);
    /* a raw edit that bumps rev is seen as well */
    T_EQ_INT(h_exec(path, "DELETE FROM peers WHERE id = 1000;"
                          "UPDATE sessions SET rev = rev + 1"),
             SQLITE_OK);
    change_peers(s, 6, 1);
    T_CHECK(save_was_full(st, s));
    check_stored(path, NULL, s, __LINE__);
    /* a save through another handle of another session in the same file:
     * still detected (conservatively full), still right */
    {
        mts_storage *third = h_open(path, "someone else");
        mts_session *small = fx_session("small");
        T_EQ_INT(mts_storage_save(third, small, NULL), 0);
        change_peers(s, 7, 1);
        T_CHECK(save_was_full(st, s));
        check_stored(path, NULL, s, __LINE__);
        check_stored(path, "someone else", small, __LINE__);
        mts_session_free(small);
        mts_storage_free(third);
    }
    mts_session_free(s);
    mts_storage_free(st);
    mts_storage_free(other);
}

/* Rows this handle's granular changes wrote are set back to the snapshot
 * by the next (incremental) save. */
static void
test_own_granular_changes(void)
{
    const char *path = h_path("granular.db");
    mts_storage *st = h_open(path, NULL);
    mts_session *s = fx_session("full");
    mts_update_change ch = MTS_UPDATE_CHANGE_INIT;
    mts_channel_pts list[2] = { { 70, 1 }, { 71, 2 } };
    mts_peer p = MTS_PEER_INIT;
    mts_dc dc;
    uint8_t key[MTS_AUTH_KEY_SIZE];
    if (st == NULL)
        return;
    T_CHECK(save_was_full(st, s));
    p.id = 424242; /* not in the snapshot */
    T_EQ_INT(mts_storage_cache_peer(st, &p, NULL), 0);
    T_EQ_INT(mts_session_peer_at(&p, s, 0), 0); /* in it, changed */
    p.access_hash ^= 77;
    T_EQ_INT(mts_storage_cache_peer(st, &p, NULL), 0);
    T_EQ_INT(mts_session_dc_at(&dc, s, 0), 0);
    memset(key, 0xee, sizeof(key));
    dc.auth_key = key;
    T_EQ_INT(mts_storage_update_dc(st, &dc, NULL), 0);
    dc.dc_id = 99; /* a new entry */
    T_EQ_INT(mts_storage_update_dc(st, &dc, NULL), 0);
    ch.kind = MTS_UPDATE_CHANNEL;
    ch.channel_id = 55;
    ch.channel_pts = 5;
    T_EQ_INT(mts_storage_apply_update_state(st, &ch, NULL), 0);
    ch.kind = MTS_UPDATE_PRIMARY;
    ch.state.pts = 12;
    T_EQ_INT(mts_storage_apply_update_state(st, &ch, NULL), 0);
    T_EQ_INT(mts_storage_set_home_dc(st, 5, NULL), 0);
    T_CHECK(!save_was_full(st, s));
    check_stored(path, NULL, s, __LINE__);
    /* an ALL update replaces every channel row */
    ch.kind = MTS_UPDATE_ALL;
    ch.channels = list;
    ch.channel_count = 2;
    T_EQ_INT(mts_storage_apply_update_state(st, &ch, NULL), 0);
    T_CHECK(!save_was_full(st, s));
    check_stored(path, NULL, s, __LINE__);
    /* a delete through the handle: the next save is full */
    T_EQ_INT(mts_storage_delete(st, NULL), 0);
    T_CHECK(save_was_full(st, s));
    check_stored(path, NULL, s, __LINE__);
    mts_session_free(s);
    mts_storage_free(st);
}

static void
test_overflows_are_full(void)
{
    const char *path = h_path("overflow.db");
    mts_storage *st = open_fast(path, NULL);
    mts_session *s = fx_big(3000);
    if (st == NULL)
        return;
    T_CHECK(save_was_full(st, s));
    /* more removals than the model's log keeps */
    for (int i = 0; i < 1100; i++) {
        mts_peer p;
        T_EQ_INT(mts_session_peer_at(&p, s, 0), 0);
        T_EQ_INT(mts_session_remove_peer(s, p.kind, p.id), 0);
    }
    T_CHECK(save_was_full(st, s));
    check_stored(path, NULL, s, __LINE__);
    T_CHECK(!save_was_full(st, s));
    /* more granular writes than the handle keeps */
    for (int i = 0; i < 4200; i++) {
        mts_peer p = MTS_PEER_INIT;
        p.id = 5000000 + i;
        T_EQ_INT(mts_storage_cache_peer(st, &p, NULL), 0);
    }
    T_CHECK(save_was_full(st, s));
    check_stored(path, NULL, s, __LINE__);
    mts_session_free(s);
    mts_storage_free(st);
}

/* ---- random mix --------------------------------------------------------- */

static uint64_t rng = 0xC0FFEE123456789ULL;

static uint64_t
rnd(uint64_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng % n;
}

static void
random_peer(mts_peer *p)
{
    static const char *const names[] = { NULL, "alice", "bob" };
    mts_peer q = MTS_PEER_INIT;
    q.kind = (mts_peer_kind)rnd(3);
    q.id = (int64_t)rnd(400) + 1;
    q.access_hash = (int64_t)rnd(1u << 30);
    q.username = names[rnd(3)];
    *p = q;
}

static void
test_random_mix(void)
{
    const char *path = h_path("random.db");
    mts_storage *st = open_fast(path, "r"), *other = open_fast(path, "r");
    mts_session *s = NULL;
    int full = 0, incr = 0;
    if (st == NULL || other == NULL)
        return;
    T_EQ_INT(mts_session_new(&s, MTS_NEW_DEFAULT), 0);
    for (int round = 0; round < 300 && !t_case_failed; round++) {
        int n = (int)rnd(30);
        for (int i = 0; i < n; i++) {
            uint64_t op = rnd(100);
            mts_peer p;
            if (op < 45) {
                random_peer(&p);
                T_EQ_INT(mts_session_put_peer(s, &p, NULL), 0);
            } else if (op < 60) {
                if (mts_session_peer_count(s) > 0 &&
                    mts_session_peer_at(&p, s,
                                        rnd(mts_session_peer_count(s))) == 0)
                    T_EQ_INT(mts_session_remove_peer(s, p.kind, p.id), 0);
            } else if (op < 68) {
                T_EQ_INT(mts_session_set_channel_pts(s, (int64_t)rnd(30) + 1,
                                                     (int32_t)rnd(100)),
                         0);
            } else if (op < 72) {
                (void)mts_session_remove_channel_pts(s, (int64_t)rnd(30) + 1);
            } else if (op < 76) {
                mts_min_peer mp = { (int64_t)rnd(20) + 1, -5, (int32_t)rnd(9) };
                T_EQ_INT(mts_session_put_min_peer(s, &mp), 0);
            } else if (op < 78) {
                (void)mts_session_remove_min_peer(s, (int64_t)rnd(20) + 1);
            } else if (op < 82) {
                mts_dc dc;
                uint8_t key[MTS_AUTH_KEY_SIZE];
                memset(key, (int)rnd(256), sizeof(key));
                if (mts_session_dc_at(&dc, s,
                                      rnd(mts_session_dc_count(s) + 1)) == 0) {
                    dc.auth_key = rnd(2) ? key : NULL;
                    dc.server_salt = (int64_t)rnd(1000);
                    T_EQ_INT(mts_session_put_dc(s, &dc), 0);
                }
            } else if (op < 84) {
                mts_dc dc;
                if (mts_session_dc_count(s) > 1 &&
                    mts_session_dc_at(&dc, s, rnd(mts_session_dc_count(s))) ==
                        0)
                    T_EQ_INT(mts_session_remove_dc(s, dc.dc_id, dc.flags,
                                                   dc.ip.family),
                             0);
            } else if (op < 88) {
                mts_update_state us = { (int32_t)rnd(999), 1, 2, 3 };
                mts_session_set_update_state(s, &us);
            } else if (op < 94) {
                /* a granular write through this handle */
                mts_update_change ch = MTS_UPDATE_CHANGE_INIT;
                switch (rnd(4)) {
                case 0:
                    random_peer(&p);
                    T_EQ_INT(mts_storage_cache_peer(st, &p, NULL), 0);
                    break;
                case 1:
                    ch.kind = MTS_UPDATE_CHANNEL;
                    ch.channel_id = (int64_t)rnd(30) + 1;
                    ch.channel_pts = 7;
                    T_EQ_INT(mts_storage_apply_update_state(st, &ch, NULL), 0);
                    break;
                case 2:
                    T_EQ_INT(mts_storage_set_home_dc(st, (int32_t)rnd(5), NULL),
                             0);
                    break;
                default:
                    ch.kind = MTS_UPDATE_ALL;
                    T_EQ_INT(mts_storage_apply_update_state(st, &ch, NULL), 0);
                    break;
                }
            } else if (op < 96) {
                /* another handle writes */
                random_peer(&p);
                T_EQ_INT(mts_storage_cache_peer(other, &p, NULL), 0);
            } else if (op < 98) {
                /* a fresh copy becomes the object this handle saves */
                mts_session *d = NULL;
                T_EQ_INT(mts_session_dup(&d, s), 0);
                mts_session_free(s);
                s = d;
            } else {
                /* reload: the loaded object is the new base */
                mts_session *got = NULL;
                T_EQ_INT(mts_storage_save(st, s, NULL), 0);
                got = h_load(st);
                if (got != NULL) {
                    mts_session_free(s);
                    s = got;
                }
            }
        }
        if (save_was_full(st, s))
            full++;
        else
            incr++;
        check_stored(path, "r", s, __LINE__);
    }
    fprintf(stderr, "  %d incremental and %d full saves, all exact\n", incr,
            full);
    T_CHECK(incr > 100 && full > 10);
    mts_session_free(s);
    mts_storage_free(st);
    mts_storage_free(other);
}

T_MAIN(T_CASE(test_hundred_of_ten_thousand),
       T_CASE(test_other_object_is_full),
       T_CASE(test_failed_save_then_full),
       T_CASE(test_foreign_writes_are_replaced),
       T_CASE(test_own_granular_changes),
       T_CASE(test_overflows_are_full),
       T_CASE(test_random_mix))
