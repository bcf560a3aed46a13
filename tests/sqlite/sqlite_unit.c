/*
 * sqlite_unit.c - the SQLite backend beyond the conformance suite: named
 * sessions, the schema version check, file modes, corrupt rows, rollback
 * of a failed save, incremental writes, the pts rule, error mapping, and
 * allocation failures.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "failalloc.h"
#include "fixtures.h"
#include "helpers.h"
#include "mtsession/sys/alloc.h"
#include "sql_schema.h"
#include "t.h"

static int
file_mode(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    return (int)(st.st_mode & 07777);
}

/* ---- naming and sessions ------------------------------------------------ */

static void
test_names_and_isolation(void)
{
    const char *path = h_path("named.db");
    mts_storage *a = h_open(path, "alice"), *b = h_open(path, "bob"),
                *d = h_open(path, NULL), *c;
    mts_session *full = fx_session("full"), *small = fx_session("small"),
                *got = NULL;
    mts_update_change ch = MTS_UPDATE_CHANGE_INIT;
    mts_peer p = MTS_PEER_INIT;
    char want[4200];
    int32_t pts;
    if (a == NULL || b == NULL || d == NULL)
        return;
    snprintf(want, sizeof(want), "sqlite:%s#alice", path);
    T_EQ_STR(mts_storage_name(a), want);
    snprintf(want, sizeof(want), "sqlite:%s#default", path);
    T_EQ_STR(mts_storage_name(d), want);

    T_EQ_INT(mts_storage_save(a, full, NULL), 0);
    T_EQ_INT(mts_storage_save(b, small, NULL), 0);
    T_EQ_INT(mts_storage_load(&got, d, NULL), MTS_ENOTFOUND);

    /* granular changes to bob never reach alice */
    ch.kind = MTS_UPDATE_CHANNEL;
    ch.channel_id = 5;
    ch.channel_pts = 999;
    T_EQ_INT(mts_storage_apply_update_state(b, &ch, NULL), 0);
    ch.kind = MTS_UPDATE_PRIMARY;
    ch.state.pts = 1;
    T_EQ_INT(mts_storage_apply_update_state(b, &ch, NULL), 0);
    p.kind = MTS_PEER_CHANNEL;
    p.id = 100;
    p.access_hash = 1;
    T_EQ_INT(mts_storage_cache_peer(b, &p, NULL), 0);
    T_EQ_INT(mts_storage_set_home_dc(b, 5, NULL), 0);
    got = h_load(a);
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);
    got = h_load(b);
    if (got != NULL) {
        T_EQ_INT(mts_session_channel_pts(got, 5, &pts), 0);
        T_EQ_INT(pts, 999);
        T_EQ_INT(mts_session_home_dc(got), 5);
        T_EQ_U64(mts_session_peer_count(got), 2);
        mts_session_free(got);
    }

    /* deleting bob leaves alice alone, and every child row of bob goes */
    T_EQ_INT(mts_storage_delete(b, NULL), 0);
    T_EQ_INT(mts_storage_load(&got, b, NULL), MTS_ENOTFOUND);
    got = h_load(a);
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);
    T_EQ_INT(h_int(path, "SELECT (SELECT count(*) FROM dcs WHERE session="
                         "'bob') + (SELECT count(*) FROM peers WHERE "
                         "session='bob') + (SELECT count(*) FROM channel_pts "
                         "WHERE session='bob') + (SELECT count(*) FROM "
                         "min_peers WHERE session='bob')"),
             0);
    T_EQ_INT(h_int(path, "SELECT count(*) FROM peers WHERE session='alice'"),
             4);

    /* a second handle on the same name sees the same session */
    c = h_open(path, "alice");
    got = h_load(c);
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);

    mts_storage_free(a);
    mts_storage_free(b);
    mts_storage_free(c);
    mts_storage_free(d);
    mts_session_free(full);
    mts_session_free(small);
}

static void
test_invalid_arguments(void)
{
    mts_storage *st = NULL;
    mts_error err = MTS_ERROR_INIT;
    char longname[300];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    T_EQ_INT(mts_sqlite_open(NULL, h_path("x.db"), NULL, &err), MTS_EINVAL);
    T_EQ_INT(mts_sqlite_open(&st, "", NULL, &err), MTS_EINVAL);
    T_EQ_INT(mts_sqlite_open(&st, h_path("x.db"), "", &err), MTS_EINVAL);
    T_CONTAINS(err.message, "session name");
    T_EQ_INT(mts_sqlite_open(&st, h_path("x.db"), longname, &err), MTS_EINVAL);
    T_EQ_INT(mts_sqlite_open(&st, h_path("x.db"), "a\nb", &err), MTS_EINVAL);
    T_EQ_INT(mts_sqlite_open(&st, h_path("x.db"), "\xff", &err), MTS_EINVAL);
    T_CHECK(st == NULL);
    /* refused before the file was created */
    T_EQ_INT(access(h_path("x.db"), F_OK), -1);
    /* a directory is not a database file */
    T_EQ_INT(mts_sqlite_open(&st, t_tmpdir(), NULL, &err), MTS_EINVAL);
    /* a dangling symbolic link is refused, nothing created behind it */
    T_EQ_INT(symlink(h_path("nowhere.db"), h_path("dangling.db")), 0);
    T_EQ_INT(mts_sqlite_open(&st, h_path("dangling.db"), NULL, &err),
             MTS_EINVAL);
    T_CONTAINS(err.message, "symbolic link");
    T_EQ_INT(access(h_path("nowhere.db"), F_OK), -1);
    /* a link to a database is followed */
    st = h_open(h_path("real.db"), NULL);
    mts_storage_free(st);
    st = NULL;
    T_EQ_INT(symlink(h_path("real.db"), h_path("link.db")), 0);
    T_EQ_INT(mts_sqlite_open(&st, h_path("link.db"), NULL, &err), 0);
    mts_storage_free(st);
    st = NULL;
    /* a missing directory is an I/O error carrying errno */
    T_EQ_INT(mts_sqlite_open(&st, h_path("no/such/dir.db"), NULL, &err),
             MTS_EIO);
    T_EQ_INT(err.native, ENOENT);
    T_CONTAINS(err.message, "no/such/dir.db");
    /* the backend is listed */
    T_EQ_INT(mts_backend_available("sqlite"), 1);
}

/* ---- schema version ----------------------------------------------------- */

static void
test_new_database_created(void)
{
    const char *path = h_path("fresh.db");
    mts_storage *st = h_open(path, NULL);
    mts_session *got = NULL;
    T_CHECK(st != NULL);
    T_EQ_INT(h_int(path, "PRAGMA user_version"), MTS__SQL_SCHEMA_VERSION);
    T_EQ_INT(h_int(path, "PRAGMA application_id"), MTS__SQL_APPLICATION_ID);
    T_EQ_INT(h_int(path, "SELECT count(*) FROM sqlite_master WHERE type = "
                         "'table' AND name IN ('sessions', 'dcs', "
                         "'channel_pts', 'peers', 'min_peers', 'seal', "
                         "'leases')"),
             7);
    T_EQ_INT(h_int(path, "SELECT journal_mode = 'wal' FROM "
                         "pragma_journal_mode"),
             1);
    T_EQ_INT(mts_storage_load(&got, st, NULL), MTS_ENOTFOUND);
    mts_storage_free(st);
    /* an existing empty (0-byte) file gets the schema too */
    T_EQ_INT(t_write_file(h_path("zero.db"), "", 0), 0);
    st = h_open(h_path("zero.db"), NULL);
    T_CHECK(st != NULL);
    T_EQ_INT(h_int(h_path("zero.db"), "PRAGMA user_version"),
             MTS__SQL_SCHEMA_VERSION);
    mts_storage_free(st);
}

static void
test_newer_version_refused(void)
{
    const char *path = h_path("newer.db");
    mts_storage *st = h_open(path, NULL);
    mts_session *s = fx_session("small");
    mts_error err = MTS_ERROR_INIT;
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    mts_storage_free(st);
    T_EQ_INT(h_exec(path, "PRAGMA user_version = 4"), SQLITE_OK);
    st = NULL;
    T_EQ_INT(mts_sqlite_open(&st, path, NULL, &err), MTS_EVERSION);
    T_CHECK(st == NULL);
    T_CONTAINS(err.message, "schema version 4 is newer");
    T_CONTAINS(err.message, path);
    /* left as it was */
    T_EQ_INT(h_int(path, "PRAGMA user_version"), 4);
    T_EQ_INT(h_int(path, "SELECT count(*) FROM sessions"), 1);
    /* a version mtsession never wrote */
    T_EQ_INT(h_exec(path, "PRAGMA user_version = 0"), SQLITE_OK);
    T_EQ_INT(mts_sqlite_open(&st, path, NULL, &err), MTS_EVERSION);
    mts_session_free(s);
}

static void
test_foreign_database_untouched(void)
{
    const char *path = h_path("foreign.db");
    mts_storage *st = NULL;
    mts_error err = MTS_ERROR_INIT;
    T_EQ_INT(t_write_file(path, "", 0), 0);
    T_EQ_INT(h_exec(path, "CREATE TABLE version (version INTEGER)"), SQLITE_OK);
    T_EQ_INT(mts_sqlite_open(&st, path, NULL, &err), MTS_EFORMAT);
    T_CONTAINS(err.message, "not an mtsession database");
    T_EQ_INT(h_int(path, "SELECT count(*) FROM sqlite_master"), 1);
    /* another program's application_id */
    T_EQ_INT(h_exec(path, "PRAGMA application_id = 42"), SQLITE_OK);
    T_EQ_INT(mts_sqlite_open(&st, path, NULL, &err), MTS_EFORMAT);
    T_CONTAINS(err.message, "application_id 42");
    /* not an SQLite file at all */
    T_EQ_INT(t_write_file(h_path("junk.db"),
                          "this is not a database, "
                          "certainly not one of ours.",
                          50),
             0);
    T_EQ_INT(mts_sqlite_open(&st, h_path("junk.db"), NULL, &err), MTS_ECORRUPT);
    T_EQ_INT(err.native & 0xff, SQLITE_NOTADB);
    T_CHECK(st == NULL);
}

static void
test_schema_check_table(void)
{
    mts__sql_schema_action act = MTS__SQL_SCHEMA_READY;
    const int64_t id = MTS__SQL_APPLICATION_ID;
    mts_error err = MTS_ERROR_INIT;
    T_EQ_INT(mts__sql_schema_check(&act, 0, 0, 0, &err), 0);
    T_EQ_INT(act, MTS__SQL_SCHEMA_CREATE);
    T_EQ_INT(mts__sql_schema_check(&act, id, 3, 7, &err), 0);
    T_EQ_INT(act, MTS__SQL_SCHEMA_READY);
    T_EQ_INT(mts__sql_schema_check(&act, id, 2, 6, &err), 0);
    T_EQ_INT(act, MTS__SQL_SCHEMA_MIGRATE);
    T_EQ_INT(mts__sql_schema_check(&act, id, 1, 5, &err), 0);
    T_EQ_INT(act, MTS__SQL_SCHEMA_MIGRATE);
    T_EQ_INT(mts__sql_schema_check(&act, 0, 0, 3, &err), MTS_EFORMAT);
    T_EQ_INT(mts__sql_schema_check(&act, 0, 1, 3, &err), MTS_EFORMAT);
    T_EQ_INT(mts__sql_schema_check(&act, 7, 1, 3, &err), MTS_EFORMAT);
    T_EQ_INT(mts__sql_schema_check(&act, id, 4, 5, &err), MTS_EVERSION);
    T_EQ_INT(mts__sql_schema_check(&act, id, 0, 5, &err), MTS_EVERSION);
    T_EQ_INT(mts__sql_schema_check(&act, id, -1, 5, &err), MTS_EVERSION);
    /* version 1 is the first shipped schema: nothing migrates to it; 1
     * migrates to 2, 2 to 3 (leases), which is current */
    T_CHECK(mts__sql_migration_from(0) == NULL);
    T_CHECK(mts__sql_migration_from(1) != NULL);
    T_CHECK(mts__sql_migration_from(2) != NULL);
    T_CHECK(mts__sql_migration_from(MTS__SQL_SCHEMA_VERSION) == NULL);
    /* every statement's parameter count matches its text */
    for (int i = 0; i < MTS__SQL_STMT_COUNT; i++) {
        unsigned q = 0;
        for (const char *c = mts__sql_text[i]; *c; c++)
            q += *c == '?';
        if (q != mts__sql_nparams[i])
            t_fail(__FILE__, __LINE__, "statement %d: %u '?' but nparams %u", i,
                   q, (unsigned)mts__sql_nparams[i]);
    }
}

/* The schema-version-1 database kept in tests/sqlite/schema-v1.sql opens
 * and loads unchanged, and a new database gets exactly that schema (an
 * edit to the DDL without a new version and a migration fails here). */
static void
test_golden_v1(void)
{
    const char *path = h_path("golden-v1.db"), *fresh = h_path("v1new.db");
    size_t len;
    char *sql = (char *)fx_read("sqlite/schema-v1.sql", &len);
    const char *schema_sql = "SELECT group_concat(sql, ';') FROM (SELECT "
                             "sql FROM sqlite_master ORDER BY name)";
    mts_session *full = fx_session("full"), *small = fx_session("small"), *got;
    mts_storage *st;
    sqlite3 *a = NULL, *b = NULL;
    sqlite3_stmt *qa = NULL, *qb = NULL;
    T_EQ_INT(t_write_file(path, "", 0), 0);
    T_EQ_INT(h_exec(path, sql), SQLITE_OK);
    st = h_open(path, NULL);
    got = h_load(st);
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);
    mts_storage_free(st);
    st = h_open(path, "second");
    got = h_load(st);
    T_CHECK(got != NULL && mts_session_equal(got, small));
    mts_session_free(got);
    mts_storage_free(st);

    st = h_open(fresh, NULL);
    mts_storage_free(st);
    T_EQ_INT(sqlite3_open_v2(path, &a, SQLITE_OPEN_READONLY, NULL), 0);
    T_EQ_INT(sqlite3_open_v2(fresh, &b, SQLITE_OPEN_READONLY, NULL), 0);
    T_EQ_INT(sqlite3_prepare_v2(a, schema_sql, -1, &qa, NULL), 0);
    T_EQ_INT(sqlite3_prepare_v2(b, schema_sql, -1, &qb, NULL), 0);
    if (qa != NULL && qb != NULL && sqlite3_step(qa) == SQLITE_ROW &&
        sqlite3_step(qb) == SQLITE_ROW)
        T_EQ_STR((const char *)sqlite3_column_text(qb, 0),
                 (const char *)sqlite3_column_text(qa, 0));
    else
        T_CHECK(!"schema query");
    sqlite3_finalize(qa);
    sqlite3_finalize(qb);
    sqlite3_close(a);
    sqlite3_close(b);
    free(sql);
    mts_session_free(full);
    mts_session_free(small);
}

/* ---- file modes ---------------------------------------------------------- */

static void
test_file_modes(void)
{
    const char *path = h_path("modes.db");
    char wal[4200], shm[4200];
    mode_t old = umask(0);
    mts_storage *st = h_open(path, NULL);
    mts_session *s = fx_session("full");
    snprintf(wal, sizeof(wal), "%s-wal", path);
    snprintf(shm, sizeof(shm), "%s-shm", path);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    /* while the handle is open the side files exist */
    T_EQ_INT(file_mode(path), 0600);
    T_EQ_INT(file_mode(wal), 0600);
    T_EQ_INT(file_mode(shm), 0600);
    mts_storage_free(st);
    T_EQ_INT(file_mode(path), 0600);

    /* side files left loose by someone else are tightened at open */
    st = h_open(path, NULL);
    T_EQ_INT(chmod(wal, 0644), 0);
    T_EQ_INT(chmod(shm, 0666), 0);
    {
        mts_storage *st2 = h_open(path, "other");
        T_EQ_INT(file_mode(wal), 0600);
        T_EQ_INT(file_mode(shm), 0600);
        mts_storage_free(st2);
    }
    mts_storage_free(st);
    umask(old);
    mts_session_free(s);
}

/* ---- corrupt rows -------------------------------------------------------- */

static void
test_corrupt_rows(void)
{
    static const struct {
        const char *sql;
        const char *want[3];
    } cases[] = {
        { "UPDATE dcs SET auth_key = zeroblob(100) WHERE dc_id = 2",
          { "table dcs", "dc_id=2, flags=17, family=6",
            "column auth_key: "
            "100 bytes" } },
        { "UPDATE dcs SET auth_key = 'text' WHERE dc_id = 2",
          { "table dcs", "column auth_key", "text" } },
        { "UPDATE dcs SET flags = 999 WHERE dc_id = 1",
          { "dcs", "flags=999", "column flags: unknown bits" } },
        { "UPDATE dcs SET family = 5 WHERE dc_id = 1",
          { "dcs", "family=5", "column family" } },
        { "UPDATE dcs SET ip = '1.2.3' WHERE dc_id = 1",
          { "dcs", "column ip", "not an IP" } },
        { "UPDATE dcs SET ip = '::1' WHERE dc_id = 1",
          { "dcs", "column ip", "IPv6 address in a family 4 row" } },
        { "UPDATE dcs SET port = 70000 WHERE dc_id = 1",
          { "dcs", "column port", "70000" } },
        { "UPDATE dcs SET time_offset = 2.5 WHERE dc_id = 1",
          { "dcs", "column time_offset", "real" } },
        { "UPDATE peers SET kind = 7 WHERE id = 7",
          { "table peers", "kind=7, id=7", "column kind" } },
        { "UPDATE peers SET bot = 1 WHERE kind = 2 AND id = 7",
          { "peers", "kind=2, id=7", "column bot" } },
        { "UPDATE peers SET username = CAST(x'610062' AS TEXT) WHERE id = 7",
          { "peers", "column username", "UTF-8" } },
        { "UPDATE peers SET access_hash = 'abc' WHERE id = 7",
          { "peers", "column access_hash", "text" } },
        { "UPDATE peers SET channel_kind = 1 WHERE kind = 1",
          { "peers", "kind=1, id=100", "column channel_kind" } },
        { "UPDATE channel_pts SET pts = 4294967296 WHERE channel_id = 5",
          { "table channel_pts", "channel_id=5", "column pts" } },
        { "UPDATE channel_pts SET channel_id = -5 WHERE channel_id = 5",
          { "channel_pts", "channel_id=-5", "column channel_id" } },
        { "UPDATE min_peers SET peer_id = 0 WHERE user_id = 43",
          { "table min_peers", "user_id=43", "column peer_id" } },
        { "UPDATE sessions SET home_dc = -1",
          { "table sessions", "name='default'", "column home_dc" } },
        { "UPDATE sessions SET future_token = zeroblob(0)",
          { "sessions", "column future_token", "0 bytes" } },
        { "UPDATE sessions SET user_id = NULL",
          { "sessions", "column user_is_bot", "user_id is NULL" } },
        { "UPDATE sessions SET test_mode = 2",
          { "sessions", "column test_mode", "2 is outside" } },
    };
    const char *path = h_path("corrupt.db");
    mts_storage *st = h_open(path, NULL);
    mts_session *s = fx_session("full"), *got;
    char display[4200];
    if (st == NULL)
        return;
    snprintf(display, sizeof(display), "sqlite:%s#default", path);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mts_error err = MTS_ERROR_INIT;
        got = NULL;
        T_EQ_INT(mts_storage_save(st, s, NULL), 0);
        T_EQ_INT(h_exec(path, cases[i].sql), SQLITE_OK);
        T_EQ_INT(mts_storage_load(&got, st, &err), MTS_ECORRUPT);
        T_CHECK(got == NULL);
        T_CONTAINS(err.message, display);
        for (int k = 0; k < 3 && cases[i].want[k]; k++)
            T_CONTAINS(err.message, cases[i].want[k]);
        if (t_case_failed)
            fprintf(stderr, "  case %zu: %s\n", i, err.message);
        mts_session_free(got);
        /* a save repairs the row: the snapshot replaces what is stored */
        T_EQ_INT(mts_storage_save(st, s, &err), 0);
        got = h_load(st);
        T_CHECK(got != NULL && mts_session_equal(got, s));
        mts_session_free(got);
    }
    mts_storage_free(st);
    mts_session_free(s);
}

/* ---- rollback ------------------------------------------------------------ */

static void
test_failed_save_rolls_back(void)
{
    const char *path = h_path("rollback.db");
    mts_storage *st = h_open(path, NULL), *other;
    mts_session *a = fx_session("full"), *b = fx_session("small"), *got;
    mts_update_change ch = MTS_UPDATE_CHANGE_INIT;
    mts_peer p = MTS_PEER_INIT;
    mts_error err = MTS_ERROR_INIT;
    if (st == NULL)
        return;
    T_EQ_INT(mts_storage_save(st, a, NULL), 0);
    /* b: other DCs and state; a peer the trigger refuses, saved late in the
     * transaction (after DCs, channels and the other deletes) */
    p.id = 666;
    p.access_hash = 6;
    T_EQ_INT(mts_session_put_peer(b, &p, NULL), 0);
    T_EQ_INT(h_exec(path, "CREATE TRIGGER boom BEFORE INSERT ON peers "
                          "WHEN NEW.id = 666 BEGIN "
                          "SELECT RAISE(ABORT, 'boom: peer 666 refused'); "
                          "END"),
             SQLITE_OK);
    T_EQ_INT(mts_storage_save(st, b, &err), MTS_EBACKEND);
    T_EQ_INT(err.native, SQLITE_CONSTRAINT_TRIGGER);
    T_CONTAINS(err.message, "boom: peer 666 refused");
    got = h_load(st);
    T_CHECK(got != NULL && mts_session_equal(got, a));
    mts_session_free(got);

    /* granular writes fail the same way, and change nothing */
    T_EQ_INT(mts_storage_cache_peer(st, &p, &err), MTS_EBACKEND);
    T_EQ_INT(err.native, SQLITE_CONSTRAINT_TRIGGER);

    /* the connection holds no transaction: another one writes at once */
    other = h_open(path, NULL);
    ch.kind = MTS_UPDATE_SECONDARY;
    ch.state.qts = 31;
    T_EQ_INT(mts_storage_apply_update_state(other, &ch, &err), 0);
    mts_storage_free(other);
    got = h_load(st);
    if (got != NULL) {
        mts_update_state us;
        mts_session_update_state(got, &us);
        T_EQ_INT(us.qts, 31);
        mts_session_free(got);
    }

    /* and the same handle saves fine once the cause is gone */
    T_EQ_INT(h_exec(path, "DROP TRIGGER boom"), SQLITE_OK);
    T_EQ_INT(mts_storage_save(st, b, &err), 0);
    got = h_load(st);
    T_CHECK(got != NULL && mts_session_equal(got, b));
    mts_session_free(got);
    mts_storage_free(st);
    mts_session_free(a);
    mts_session_free(b);
}

/* ---- incremental writes -------------------------------------------------- */

static const char *const log_ddl =
    "CREATE TABLE wlog (tbl TEXT, op TEXT);"
    "CREATE TRIGGER l1 AFTER INSERT ON peers BEGIN INSERT INTO wlog VALUES "
    "('peers', 'insert'); END;"
    "CREATE TRIGGER l2 AFTER UPDATE ON peers BEGIN INSERT INTO wlog VALUES "
    "('peers', 'update'); END;"
    "CREATE TRIGGER l3 AFTER DELETE ON peers BEGIN INSERT INTO wlog VALUES "
    "('peers', 'delete'); END;"
    "CREATE TRIGGER l4 AFTER INSERT ON dcs BEGIN INSERT INTO wlog VALUES "
    "('dcs', 'insert'); END;"
    "CREATE TRIGGER l5 AFTER UPDATE ON dcs BEGIN INSERT INTO wlog VALUES "
    "('dcs', 'update'); END;"
    "CREATE TRIGGER l6 AFTER DELETE ON dcs BEGIN INSERT INTO wlog VALUES "
    "('dcs', 'delete'); END;"
    "CREATE TRIGGER l7 AFTER UPDATE ON sessions BEGIN INSERT INTO wlog "
    "VALUES ('sessions', 'update'); END;"
    "CREATE TRIGGER l8 AFTER INSERT ON channel_pts BEGIN INSERT INTO wlog "
    "VALUES ('channel_pts', 'insert'); END;"
    "CREATE TRIGGER l9 AFTER UPDATE ON channel_pts BEGIN INSERT INTO wlog "
    "VALUES ('channel_pts', 'update'); END;"
    "CREATE TRIGGER l10 AFTER DELETE ON channel_pts BEGIN INSERT INTO wlog "
    "VALUES ('channel_pts', 'delete'); END;";

static void
test_incremental_writes(void)
{
    const char *path = h_path("incr.db");
    mts_storage *st = h_open(path, NULL);
    mts_session *s = fx_big(300), *got;
    mts_peer p;
    mts_update_change ch = MTS_UPDATE_CHANGE_INIT;
    if (st == NULL)
        return;
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    T_EQ_INT(h_exec(path, log_ddl), SQLITE_OK);

    /* the same snapshot again writes nothing */
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    T_EQ_INT(h_int(path, "SELECT count(*) FROM wlog"), 0);

    /* one peer changed, one removed: exactly those two rows, and the
     * session's rev */
    T_EQ_INT(mts_session_peer_at(&p, s, 10), 0);
    p.access_hash ^= 1;
    T_EQ_INT(mts_session_put_peer(s, &p, NULL), 0);
    T_EQ_INT(mts_session_peer_at(&p, s, 20), 0);
    T_EQ_INT(mts_session_remove_peer(s, p.kind, p.id), 0);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    T_EQ_INT(h_int(path, "SELECT count(*) FROM wlog"), 3);
    T_EQ_INT(h_int(path, "SELECT count(*) FROM wlog WHERE tbl = 'sessions'"),
             1);
    T_EQ_INT(h_int(path, "SELECT count(*) FROM wlog WHERE tbl = 'peers' AND "
                         "op = 'update'"),
             1);
    T_EQ_INT(h_int(path, "SELECT count(*) FROM wlog WHERE tbl = 'peers' AND "
                         "op = 'delete'"),
             1);
    got = h_load(st);
    T_CHECK(got != NULL && mts_session_equal(got, s));
    mts_session_free(got);

    /* granular changes are single-row upserts (plus the session's rev) */
    T_EQ_INT(h_exec(path, "DELETE FROM wlog"), SQLITE_OK);
    T_EQ_INT(mts_session_peer_at(&p, s, 30), 0);
    p.access_hash ^= 2;
    T_EQ_INT(mts_storage_cache_peer(st, &p, NULL), 0);
    T_EQ_INT(h_int(path, "SELECT count(*) FROM wlog WHERE tbl = 'peers'"), 1);
    T_EQ_INT(h_int(path, "SELECT count(*) FROM wlog"), 2);
    ch.kind = MTS_UPDATE_CHANNEL;
    ch.channel_id = 424242;
    ch.channel_pts = 1;
    T_EQ_INT(mts_storage_apply_update_state(st, &ch, NULL), 0);
    ch.channel_pts = 2;
    T_EQ_INT(mts_storage_apply_update_state(st, &ch, NULL), 0);
    ch.kind = MTS_UPDATE_PRIMARY;
    T_EQ_INT(mts_storage_apply_update_state(st, &ch, NULL), 0);
    T_EQ_INT(mts_storage_set_home_dc(st, 4, NULL), 0);
    T_EQ_INT(h_int(path, "SELECT count(*) FROM wlog"), 8);
    T_EQ_INT(h_int(path, "SELECT count(*) FROM wlog WHERE tbl = "
                         "'channel_pts'"),
             2);
    T_EQ_INT(h_int(path, "SELECT count(*) FROM wlog WHERE tbl = "
                         "'sessions'"),
             5);
    mts_storage_free(st);
    mts_session_free(s);
}

/* ---- the pts rule -------------------------------------------------------- */

static void
test_pts_stored_as_given(void)
{
    mts_storage *st = h_open(h_path("pts.db"), NULL);
    mts_session *s = fx_session("small"), *got;
    mts_update_state us = { 1000, 500, 1, 1 };
    mts_update_change ch = MTS_UPDATE_CHANGE_INIT;
    if (st == NULL)
        return;
    mts_session_set_update_state(s, &us);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    /* save lowers pts and qts: stored as given (no max()) */
    us.pts = 10;
    us.qts = 5;
    mts_session_set_update_state(s, &us);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    got = h_load(st);
    if (got != NULL) {
        mts_session_update_state(got, &us);
        T_EQ_INT(us.pts, 10);
        T_EQ_INT(us.qts, 5);
        mts_session_free(got);
    }
    /* and so does every granular path */
    ch.kind = MTS_UPDATE_PRIMARY;
    ch.state.pts = 3;
    ch.state.date = 4;
    ch.state.seq = 5;
    T_EQ_INT(mts_storage_apply_update_state(st, &ch, NULL), 0);
    ch.kind = MTS_UPDATE_SECONDARY;
    ch.state.qts = 2;
    T_EQ_INT(mts_storage_apply_update_state(st, &ch, NULL), 0);
    got = h_load(st);
    if (got != NULL) {
        mts_session_update_state(got, &us);
        T_EQ_INT(us.pts, 3);
        T_EQ_INT(us.qts, 2);
        T_EQ_INT(us.date, 4);
        T_EQ_INT(us.seq, 5);
        mts_session_free(got);
    }
    mts_storage_free(st);
    mts_session_free(s);
}

/* A session created by granular writes alone loads (the reference called
 * such a database empty). */
static void
test_granular_only_session_loads(void)
{
    mts_storage *st = h_open(h_path("granular.db"), "g");
    mts_session *got;
    mts_dc dc = MTS_DC_INIT;
    if (st == NULL)
        return;
    dc.dc_id = 2;
    T_EQ_INT(mts_ip_parse(&dc.ip, "149.154.167.51"), 0);
    dc.port = 443;
    T_EQ_INT(mts_storage_update_dc(st, &dc, NULL), 0);
    got = h_load(st);
    if (got != NULL) {
        T_EQ_U64(mts_session_dc_count(got), 1);
        T_EQ_INT(mts_session_home_dc(got), 0);
        mts_session_free(got);
    }
    mts_storage_free(st);
}

/* ---- allocation failures ------------------------------------------------- */

/* Fail each allocation in turn through open, save, granular changes and
 * load: every failure is MTS_ENOMEM, nothing leaks (ASan), and the stored
 * session is always the old or the new one. */
static void
test_allocation_failures(void)
{
    long fail_at; /* the allocation that fails, counted from 1 */
    mts_session *a = fx_session("full"), *b = fx_session("small");
    const char *path = h_path("alloc.db");
    int done = 0;
    {
        mts_storage *st = h_open(path, NULL);
        T_EQ_INT(mts_storage_save(st, a, NULL), 0);
        mts_storage_free(st);
    }
    for (fail_at = 1; !done && fail_at < 2000; fail_at++) {
        mts_storage *st = NULL;
        mts_session *got = NULL;
        mts_peer p = MTS_PEER_INIT;
        int rc;
        fa_calls = 0;
        fa_fail_at = fail_at - 1;
        T_EQ_INT(mts_set_allocator(&fa_failing), 0);
        rc = mts_sqlite_open(&st, path, NULL, NULL);
        if (rc == 0)
            rc = mts_storage_save(st, b, NULL);
        if (rc == 0) {
            p.id = 9;
            rc = mts_storage_cache_peer(st, &p, NULL);
        }
        if (rc == 0)
            rc = mts_storage_load(&got, st, NULL);
        if (rc == 0)
            rc = mts_storage_save(st, a, NULL);
        done = rc == 0 && fa_calls < fail_at;
        mts_session_free(got);
        mts_storage_free(st);
        mts_set_allocator(NULL);
        if (rc != 0 && rc != MTS_ENOMEM)
            t_fail(__FILE__, __LINE__, "allocation %ld: %s", fail_at,
                   mts_errname(rc));
        /* whatever failed, the store holds a or b */
        st = h_open(path, NULL);
        got = h_load(st);
        if (got != NULL) {
            mts_session *want_b = NULL;
            if (!mts_session_equal(got, a)) {
                mts_peer q = MTS_PEER_INIT;
                T_EQ_INT(mts_session_dup(&want_b, b), 0);
                q.id = 9;
                if (mts_session_get_peer(&q, got, MTS_PEER_USER, 9) == 0)
                    T_EQ_INT(mts_session_put_peer(want_b, &q, NULL), 0);
                T_CHECK(mts_session_equal(got, want_b));
            }
            mts_session_free(want_b);
        }
        mts_session_free(got);
        mts_storage_free(st);
    }
    T_CHECK(done);
    fprintf(stderr, "  failed each of %ld allocations in turn\n", fail_at - 2);
    mts_session_free(a);
    mts_session_free(b);
}

T_MAIN(T_CASE(test_names_and_isolation),
       T_CASE(test_invalid_arguments),
       T_CASE(test_new_database_created),
       T_CASE(test_newer_version_refused),
       T_CASE(test_foreign_database_untouched),
       T_CASE(test_schema_check_table),
       T_CASE(test_golden_v1),
       T_CASE(test_file_modes),
       T_CASE(test_corrupt_rows),
       T_CASE(test_failed_save_rolls_back),
       T_CASE(test_incremental_writes),
       T_CASE(test_pts_stored_as_given),
       T_CASE(test_granular_only_session_loads),
       T_CASE(test_allocation_failures))
