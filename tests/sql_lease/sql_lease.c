/*
 * sql_lease.c - leases and fencing on the SQLite backend (and libSQL
 * local files, which keep their leases in the same table), step by step;
 * the many-process race is sql_lease_contention.c.
 *
 * - acquire, show, renew (same epoch), release (epoch kept), re-acquire
 *   and takeover after expiry (epoch + 1), MTS_ELOCKED naming the holder;
 * - a stale holder's writes of every kind are MTS_EFENCED, rolled back
 *   and change nothing; an expired, untaken lease refuses writes until
 *   renewed;
 * - a handle without a lease is refused while someone's lease is live,
 *   and writes again once it ends;
 * - delete keeps the lease row (the epoch never goes back);
 * - a version-2 database (tests/sqlite/schema-v2.sql) migrates to
 *   version 3 with the same schema text as a new one, data intact;
 * - in-memory stores have no leases.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fixtures.h"
#include "helpers.h"
#include "sql_schema.h"
#include "t.h"
#include "test_clock.h"

typedef int (*open_fn)(mts_storage **, const char *, const char *,
                       mts_error *);

static open_fn opener = mts_sqlite_open;

static mts_storage *
open_at(const char *path, const char *name)
{
    mts_storage *st = NULL;
    mts_error err = MTS_ERROR_INIT;
    if (opener(&st, path, name, &err) != 0) {
        fprintf(stderr, "  open %s: %s\n", path, err.message);
        exit(1);
    }
    return st;
}

static void
check_basic(const char *path)
{
    mts_storage *a = open_at(path, "basic"), *b = open_at(path, "basic");
    mts_storage *other = open_at(path, "other");
    mts_lease l = MTS_LEASE_INIT, m = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = fx_session("small"), *got = NULL;
    int64_t now = tc_wall_ms();

    T_EQ_INT(mts_lease_show(&l, a, &err), MTS_ENOTFOUND);
    T_CONTAINS(err.message, "never leased");
    T_EQ_INT(mts_lease_renew(&l, a, 1000, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "holds no lease");
    T_EQ_INT(mts_lease_release(a, &err), MTS_EINVAL);

    T_EQ_INT(mts_lease_acquire(&l, a, "worker-a", 30000, &err), 0);
    T_EQ_STR(l.owner, "worker-a");
    T_EQ_U64(l.epoch, 1);
    T_EQ_INT(l.held, 1);
    T_CHECK(l.expires_ms >= now + 30000 && l.expires_ms < now + 35000);
    T_EQ_INT(mts_storage_save(a, s, &err), 0);

    T_EQ_INT(mts_lease_show(&m, b, &err), 0);
    T_EQ_STR(m.owner, "worker-a");
    T_EQ_U64(m.epoch, 1);
    T_EQ_INT(m.held, 1);
    T_EQ_INT(mts_lease_acquire(&m, b, "worker-b", 30000, &err), MTS_ELOCKED);
    T_CONTAINS(err.message, "session held by worker-a until 20");
    /* unleased writes of every kind are refused while the lease is live */
    T_EQ_INT(mts_storage_set_home_dc(b, 4, &err), MTS_ELOCKED);
    T_CONTAINS(err.message, "session held by worker-a");
    T_EQ_INT(mts_storage_save(b, s, &err), MTS_ELOCKED);
    T_EQ_INT(mts_storage_delete(b, &err), MTS_ELOCKED);
    /* reads are not */
    T_EQ_INT(mts_storage_load(&got, b, &err), 0);
    T_CHECK(got != NULL && mts_session_equal(got, s));
    mts_session_free(got);
    /* another session of the same file is not leased */
    T_EQ_INT(mts_storage_save(other, s, &err), 0);

    /* renew: same epoch, later expiry */
    T_EQ_INT(mts_lease_renew(&m, a, 60000, &err), 0);
    T_EQ_U64(m.epoch, 1);
    T_CHECK(m.expires_ms > l.expires_ms);
    /* the same owner acquiring again renews too */
    T_EQ_INT(mts_lease_acquire(&m, a, "worker-a", 60000, &err), 0);
    T_EQ_U64(m.epoch, 1);

    /* release: expires at once, epoch kept; others may write and take */
    T_EQ_INT(mts_lease_release(a, &err), 0);
    T_EQ_INT(mts_lease_show(&m, b, &err), 0);
    T_EQ_INT(m.held, 0);
    T_EQ_U64(m.epoch, 1);
    T_EQ_INT(mts_storage_set_home_dc(b, 4, &err), 0);
    T_EQ_INT(mts_lease_acquire(&m, b, "worker-b", 30000, &err), 0);
    T_EQ_U64(m.epoch, 2);
    /* a after release writes unleased: refused, b holds it */
    T_EQ_INT(mts_storage_set_home_dc(a, 5, &err), MTS_ELOCKED);
    T_CONTAINS(err.message, "session held by worker-b");
    T_EQ_INT(mts_lease_release(b, &err), 0);
    /* the same owner after its own release: a new tenure, epoch + 1 */
    T_EQ_INT(mts_lease_acquire(&m, b, "worker-b", 30000, &err), 0);
    T_EQ_U64(m.epoch, 3);
    T_EQ_INT(mts_lease_release(b, &err), 0);

    /* delete keeps the lease row */
    T_EQ_INT(mts_storage_delete(a, &err), 0);
    T_EQ_INT(mts_lease_show(&m, a, &err), 0);
    T_EQ_U64(m.epoch, 3);
    T_EQ_INT(mts_lease_acquire(&m, a, "worker-a", 30000, &err), 0);
    T_EQ_U64(m.epoch, 4);
    T_EQ_INT(mts_lease_release(a, &err), 0);

    mts_session_free(s);
    mts_storage_free(a);
    mts_storage_free(b);
    mts_storage_free(other);
}

/* Every kind of write through st: each must be refused with `want`. */
static void
all_writes_refused(mts_storage *st, const mts_session *s, int want,
                   const char *text)
{
    mts_error err = MTS_ERROR_INIT;
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    mts_channel_pts ch[2] = { { 987654001, 70 }, { 987654002, 71 } };
    mts_peer p = MTS_PEER_INIT;
    mts_dc dc = MTS_DC_INIT;
    T_EQ_INT(mts_storage_save(st, s, &err), want);
    T_CONTAINS(err.message, text);
    c.kind = MTS_UPDATE_ALL;
    c.state.pts = 999;
    c.channels = ch;
    c.channel_count = 2;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, &err), want);
    c.kind = MTS_UPDATE_PRIMARY;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, &err), want);
    c.kind = MTS_UPDATE_SECONDARY;
    c.state.qts = 999;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, &err), want);
    c.kind = MTS_UPDATE_CHANNEL;
    c.channel_id = 987654003;
    c.channel_pts = 72;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, &err), want);
    p.id = 424242;
    p.access_hash = 99;
    T_EQ_INT(mts_storage_cache_peer(st, &p, &err), want);
    T_CONTAINS(err.message, text);
    T_EQ_INT(mts_session_dc_at(&dc, s, 0), 0);
    dc.port = 4242;
    T_EQ_INT(mts_storage_update_dc(st, &dc, &err), want);
    T_EQ_INT(mts_storage_set_home_dc(st, 5, &err), want);
    T_EQ_INT(mts_storage_delete(st, &err), want);
    T_CONTAINS(err.message, text);
}

static void
check_fencing(const char *path)
{
    mts_storage *a = open_at(path, "fence"), *b = open_at(path, "fence");
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = fx_session("full"), *changed = fx_session("small");
    mts_session *got = NULL;

    T_EQ_INT(mts_lease_acquire(&l, a, "old", 80, &err), 0);
    T_EQ_U64(l.epoch, 1);
    T_EQ_INT(mts_storage_save(a, s, &err), 0);
    tc_sleep_ms(120);
    /* expired but untaken: refused until renewed */
    T_EQ_INT(mts_storage_set_home_dc(a, 3, &err), MTS_EFENCED);
    T_CONTAINS(err.message, "expired at");
    T_EQ_INT(mts_lease_renew(&l, a, 80, &err), 0);
    T_EQ_U64(l.epoch, 1);
    T_EQ_INT(mts_storage_set_home_dc(a, mts_session_home_dc(s), &err), 0);
    tc_sleep_ms(120);

    /* taken over after expiry: epoch + 1 */
    T_EQ_INT(mts_lease_acquire(&l, b, "new", 30000, &err), 0);
    T_EQ_U64(l.epoch, 2);
    all_writes_refused(a, changed, MTS_EFENCED, "epoch 1 is over");
    T_EQ_INT(mts_lease_renew(&l, a, 30000, &err), MTS_EFENCED);
    T_CONTAINS(err.message, "the lease is now new's (epoch 2)");
    T_EQ_INT(mts_lease_release(a, &err), MTS_EFENCED);
    /* nothing of it was applied */
    T_EQ_INT(mts_storage_load(&got, b, &err), 0);
    T_CHECK(got != NULL && mts_session_equal(got, s));
    mts_session_free(got);
    T_EQ_INT(h_int(path, "SELECT count(*) FROM peers WHERE id = 424242"), 0);
    T_EQ_INT(h_int(path, "SELECT count(*) FROM channel_pts WHERE "
                         "channel_id BETWEEN 987654001 AND 987654003"),
             0);
    /* the holder writes */
    T_EQ_INT(mts_storage_save(b, changed, &err), 0);
    T_EQ_INT(mts_lease_show(&l, a, &err), 0);
    T_EQ_STR(l.owner, "new");
    T_EQ_INT(l.held, 1);

    /* the stale handle may take it again once free: a new epoch */
    T_EQ_INT(mts_lease_release(b, &err), 0);
    T_EQ_INT(mts_lease_acquire(&l, a, "old", 30000, &err), 0);
    T_EQ_U64(l.epoch, 3);
    T_EQ_INT(mts_storage_set_home_dc(a, 2, &err), 0);
    /* and the former holder, unleased now, is refused */
    all_writes_refused(b, s, MTS_ELOCKED, "session held by old");
    T_EQ_INT(mts_lease_release(a, &err), 0);

    mts_session_free(s);
    mts_session_free(changed);
    mts_storage_free(a);
    mts_storage_free(b);
}

static void
test_sqlite_basic(void)
{
    opener = mts_sqlite_open;
    check_basic(h_path("basic.db"));
}

static void
test_sqlite_fencing(void)
{
    opener = mts_sqlite_open;
    check_fencing(h_path("fence.db"));
}

static void
test_libsql_local(void)
{
#ifndef MTS_TEST_LIBSQL
    fprintf(stderr, "  built without the libSQL backend: not run\n");
#else
    const char *path = h_path("libsql.db");
    mts_storage *sq, *ls;
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    opener = mts_libsql_open_local;
    check_basic(path);
    check_fencing(h_path("libsql-fence.db"));
    /* one table: an SQLite handle sees the libSQL handle's lease */
    ls = open_at(path, "mixed");
    opener = mts_sqlite_open;
    sq = open_at(path, "mixed");
    T_EQ_INT(mts_lease_acquire(&l, ls, "via-libsql", 30000, &err), 0);
    T_EQ_INT(mts_storage_set_home_dc(sq, 2, &err), MTS_ELOCKED);
    T_CONTAINS(err.message, "via-libsql");
    T_EQ_INT(mts_lease_show(&l, sq, &err), 0);
    T_EQ_STR(l.owner, "via-libsql");
    T_EQ_INT(mts_lease_release(ls, &err), 0);
    T_EQ_INT(mts_storage_set_home_dc(sq, 2, &err), 0);
    mts_storage_free(sq);
    mts_storage_free(ls);
#endif
}

static void
test_memory_has_none(void)
{
    mts_storage *st = NULL;
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    T_EQ_INT(mts_sqlite_open_memory(&st, NULL, &err), 0);
    T_EQ_INT(mts_lease_acquire(&l, st, "x", 1000, &err), MTS_ENOTSUPPORTED);
    mts_storage_free(st);
#ifdef MTS_TEST_LIBSQL
    T_EQ_INT(mts_libsql_open_memory(&st, NULL, &err), 0);
    T_EQ_INT(mts_lease_acquire(&l, st, "x", 1000, &err), MTS_ENOTSUPPORTED);
    mts_storage_free(st);
#endif
}

static char *
schema_of(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    char *out = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db,
                           "SELECT group_concat(sql, ';') FROM (SELECT sql "
                           "FROM sqlite_master ORDER BY name)",
                           -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0) != NULL)
        out = strdup((const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(db);
    return out;
}

static void
test_migration_from_v2(void)
{
    const char *path = h_path("golden-v2.db");
    size_t len;
    char *sql = (char *)fx_read("sqlite/schema-v2.sql", &len);
    mts_storage *st, *fresh;
    mts_session *full = fx_session("full"), *got = NULL;
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    char *a, *b;
    T_CHECK(sql != NULL);
    if (sql == NULL)
        return;
    T_EQ_INT(t_write_file(path, "", 0), 0);
    T_EQ_INT(h_exec(path, sql), SQLITE_OK);
    T_EQ_INT(h_int(path, "PRAGMA user_version"), 2);
    T_EQ_INT(h_int(path, "SELECT count(*) FROM sqlite_master WHERE name = "
                         "'leases'"),
             0);
    st = h_open(path, NULL);
    T_EQ_INT(h_int(path, "PRAGMA user_version"), 3);
    T_EQ_INT(h_int(path, "SELECT count(*) FROM leases"), 0);
    got = h_load(st);
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);
    T_EQ_INT(mts_lease_show(&l, st, &err), MTS_ENOTFOUND);
    T_EQ_INT(mts_lease_acquire(&l, st, "migrated", 30000, &err), 0);
    T_EQ_U64(l.epoch, 1);
    T_EQ_INT(mts_storage_save(st, full, &err), 0);
    T_EQ_INT(mts_lease_release(st, &err), 0);
    mts_storage_free(st);
    /* the same schema, character for character, as a new database */
    fresh = h_open(h_path("fresh-v3.db"), NULL);
    a = schema_of(path);
    b = schema_of(h_path("fresh-v3.db"));
    T_CHECK(a != NULL && b != NULL);
    if (a != NULL && b != NULL)
        T_EQ_STR(a, b);
    free(a);
    free(b);
    mts_storage_free(fresh);
    mts_session_free(full);
    free(sql);
}

T_MAIN(T_CASE(test_sqlite_basic), T_CASE(test_sqlite_fencing),
       T_CASE(test_libsql_local), T_CASE(test_memory_has_none),
       T_CASE(test_migration_from_v2))
