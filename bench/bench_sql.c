/*
 * bench_sql.c - the SQLite backend's save (full, and incremental after 1%
 * of the peers changed) and load, for 1k, 10k, 100k and 1M cached peers,
 * against the floor: the same peer rows inserted with one prepared
 * statement in one transaction. Writes bench/out/sql.tsv (see
 * bench_common.h):
 *
 *   sql_save  full         N  s  mts_storage_save into a new database
 *                                (opened, with its schema, before the
 *                                clock starts)
 *   sql_save  incremental  N  s  mts_storage_save, right after the full
 *                                save, of the same session object after
 *                                put_peer changed the access hash of 1% of
 *                                its peers (a different 1% each run)
 *   sql_save  other_object N  s  the same kind of change saved from a copy
 *                                (mts_session_dup) of the session: an
 *                                object the handle did not save or load
 *                                last, so the backend cannot use the
 *                                model's change tracking
 *   sql_save  floor_plain  N  s  BEGIN, one INSERT per peer into a table
 *                                with the same columns and no key, COMMIT
 *   sql_save  floor_keyed  N  s  the same into a table with the backend's
 *                                key (session, kind, id) WITHOUT ROWID
 *   sql_load  mtsession    N  s  mts_storage_load (page cache warm), after
 *                                the saves
 *   sql_size  bytes        N  B  the database file after the last save
 *   sql_size  pages        N  pages  the same in database pages
 *   sql_write full|incremental  N  pages/save  WAL frames one save
 *                                writes (from the WAL index, read outside
 *                                the clock; see wal_mxframe)
 *
 * The floors run with the backend's settings: WAL, synchronous = FULL, in
 * a new database each run, in the same directory (bench/out/tmp).
 *
 *   bench_sql [--quick] [--runs N]
 */
#include "bench_common.h"

#include <sqlite3.h>
#include <unistd.h>

static void
unlink_db(const char *db)
{
    char side[1100];
    unlink(db);
    bench_join(side, sizeof(side), db, "-wal");
    unlink(side);
    bench_join(side, sizeof(side), db, "-shm");
    unlink(side);
}

static void
sql_check(sqlite3 *db, int rc, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "bench: sqlite %s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

static void
exec(sqlite3 *db, const char *sql)
{
    sql_check(db, sqlite3_exec(db, sql, NULL, NULL, NULL), sql);
}

/* The floor: the rows, one prepared statement, one transaction. */
static double
floor_insert(const char *path, const bench_peers *ps, size_t n, int keyed)
{
    static const char *const ddl[2] = {
        "CREATE TABLE peers (session TEXT NOT NULL, kind INTEGER NOT NULL, "
        "id INTEGER NOT NULL, access_hash INTEGER NOT NULL, "
        "channel_kind INTEGER NOT NULL, community INTEGER NOT NULL, "
        "bot INTEGER NOT NULL, username TEXT, phone TEXT)",
        "CREATE TABLE peers (session TEXT NOT NULL, kind INTEGER NOT NULL, "
        "id INTEGER NOT NULL, access_hash INTEGER NOT NULL, "
        "channel_kind INTEGER NOT NULL, community INTEGER NOT NULL, "
        "bot INTEGER NOT NULL, username TEXT, phone TEXT, "
        "PRIMARY KEY (session, kind, id)) WITHOUT ROWID",
    };
    sqlite3 *db;
    sqlite3_stmt *ins;
    double t0, t;
    unlink_db(path);
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        fprintf(stderr, "bench: open %s\n", path);
        exit(1);
    }
    exec(db, "PRAGMA journal_mode = WAL");
    exec(db, "PRAGMA synchronous = FULL");
    exec(db, ddl[keyed]);
    sql_check(db,
              sqlite3_prepare_v2(db,
                                 "INSERT INTO peers VALUES "
                                 "(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                 -1, &ins, NULL),
              "prepare");
    t0 = bench_now();
    exec(db, "BEGIN IMMEDIATE");
    for (size_t i = 0; i < n; i++) {
        const mts_peer *p = &ps->p[i];
        sqlite3_bind_text(ins, 1, "bench", 5, SQLITE_STATIC);
        sqlite3_bind_int(ins, 2, (int)p->kind);
        sqlite3_bind_int64(ins, 3, p->id);
        sqlite3_bind_int64(ins, 4, p->access_hash);
        sqlite3_bind_int(ins, 5, (int)p->channel_kind);
        sqlite3_bind_int(ins, 6, p->community);
        sqlite3_bind_int(ins, 7, p->bot);
        if (p->username != NULL)
            sqlite3_bind_text(ins, 8, p->username, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(ins, 8);
        sqlite3_bind_null(ins, 9);
        sql_check(db, sqlite3_step(ins), "insert");
        sqlite3_reset(ins);
    }
    exec(db, "COMMIT");
    t = bench_now() - t0;
    sqlite3_finalize(ins);
    sqlite3_close(db);
    unlink_db(path);
    return t;
}

/* Change 1% of the peers of s (round r picks which). */
static void
change_one_percent(mts_session *s, const bench_peers *ps, size_t n, int r)
{
    mts_error err = MTS_ERROR_INIT;
    int rc;
    for (size_t j = 0; j * 100 < n; j++) {
        size_t i = j * 100 + (size_t)r % 100;
        mts_peer p;
        if (i >= n)
            break;
        p = ps->p[i];
        if (p.kind == MTS_PEER_CHAT && i + 1 < n)
            p = ps->p[++i]; /* a basic group has no access hash */
        p.access_hash ^= (int64_t)(r + 1) << 20;
        if ((rc = mts_session_put_peer(s, &p, &err)) != 0)
            bench_die("put_peer", rc, &err);
    }
}

/*
 * The last valid frame of the WAL of `path` (mxFrame), read from the
 * wal-index header at the start of the -shm file, which SQLite keeps in
 * native byte order. Reading the file takes no lock and opens no
 * connection, so the backend cannot notice it (a connection of our own
 * would count as another writer and turn its next save into a full one).
 * A save writes after - before frames, or `after` when its transaction
 * restarted the WAL from the beginning (after a complete checkpoint).
 */
static uint32_t
wal_mxframe(const char *path)
{
    char shm[1100];
    unsigned char h[48];
    uint32_t mx = 0;
    FILE *f;
    bench_join(shm, sizeof(shm), path, "-shm");
    if ((f = fopen(shm, "rb")) == NULL)
        return 0;
    if (fread(h, 1, sizeof(h), f) == sizeof(h))
        memcpy(&mx, h + 16, sizeof(mx));
    fclose(f);
    return mx;
}

static double
frames_written(uint32_t before, uint32_t after)
{
    return after >= before ? (double)(after - before) : (double)after;
}

static int
page_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char h[18];
    int p;
    if (f == NULL || fread(h, 1, sizeof(h), f) != sizeof(h)) {
        fprintf(stderr, "bench: cannot read the header of %s\n", path);
        exit(1);
    }
    fclose(f);
    p = h[16] << 8 | h[17];
    return p == 1 ? 65536 : p;
}

static mts_storage *
open_store(const char *path)
{
    mts_storage *st;
    mts_error err = MTS_ERROR_INIT;
    int rc = mts_sqlite_open(&st, path, "bench", &err);
    if (rc != 0)
        bench_die("sqlite open", rc, &err);
    return st;
}

int
main(int argc, char **argv)
{
    bench_opts o;
    bench_peers ps;
    FILE *out;
    char path[1024], floor_path[1024];
    bench_parse(&o, argc, argv);
    out = bench_tsv_open(&o, "sql");
    bench_tmp_path(path, sizeof(path), &o, "sql.db");
    bench_tmp_path(floor_path, sizeof(floor_path), &o, "sql-floor.db");
    bench_peers_make(&ps, bench_sizes[BENCH_NSIZES - 1]);
    printf("## bench_sql\n");
    for (size_t k = 0; k < BENCH_NSIZES; k++) {
        size_t n = bench_sizes[k];
        int runs = bench_runs(&o, n);
        double tfull[64], tinc[64], tload[64], tplain[64], tkeyed[64];
        double wfull[64], winc[64], tother[64], wother[64];
        uint32_t mx;
        int page = 4096;
        mts_session *s;
        mts_storage *st = NULL;
        mts_error err = MTS_ERROR_INIT;
        struct stat sb;
        int rc;
        if (!bench_size_on(&o, n))
            continue;
        if (runs > 64)
            runs = 64;
        s = bench_session(&ps, n);
        for (int r = 0; r < runs; r++) {
            double t0;
            mts_storage_free(st);
            unlink_db(path);
            st = open_store(path);
            page = page_size(path);
            mx = wal_mxframe(path);
            t0 = bench_now();
            if ((rc = mts_storage_save(st, s, &err)) != 0)
                bench_die("sqlite save", rc, &err);
            tfull[r] = bench_now() - t0;
            wfull[r] = frames_written(mx, wal_mxframe(path));
            tplain[r] = floor_insert(floor_path, &ps, n, 0);
            tkeyed[r] = floor_insert(floor_path, &ps, n, 1);
        }
        for (int r = 0; r < runs; r++) {
            double t0;
            change_one_percent(s, &ps, n, r);
            mx = wal_mxframe(path);
            t0 = bench_now();
            if ((rc = mts_storage_save(st, s, &err)) != 0)
                bench_die("sqlite save", rc, &err);
            tinc[r] = bench_now() - t0;
            winc[r] = frames_written(mx, wal_mxframe(path));
        }
        /* The same change saved from another session object (a copy):
         * the handle cannot know what that object changed since its last
         * save, so this is the full compare-and-upsert path. */
        for (int r = 0; r < runs; r++) {
            mts_session *copy;
            double t0;
            change_one_percent(s, &ps, n, runs + r);
            if ((rc = mts_session_dup(&copy, s)) != 0)
                bench_die("dup", rc, NULL);
            mx = wal_mxframe(path);
            t0 = bench_now();
            if ((rc = mts_storage_save(st, copy, &err)) != 0)
                bench_die("sqlite save", rc, &err);
            tother[r] = bench_now() - t0;
            wother[r] = frames_written(mx, wal_mxframe(path));
            mts_session_free(copy);
        }
        for (int r = 0; r < runs; r++) {
            mts_session *back;
            double t0 = bench_now();
            if ((rc = mts_storage_load(&back, st, &err)) != 0)
                bench_die("sqlite load", rc, &err);
            tload[r] = bench_now() - t0;
            if (mts_session_peer_count(back) != n) {
                fprintf(stderr, "bench: loaded %zu peers, not %zu\n",
                        mts_session_peer_count(back), n);
                return 1;
            }
            mts_session_free(back);
        }
        bench_row(out, "sql_save", "full", n, tfull, runs, "s");
        bench_row(out, "sql_save", "incremental", n, tinc, runs, "s");
        bench_row(out, "sql_save", "other_object", n, tother, runs, "s");
        bench_row(out, "sql_save", "floor_plain", n, tplain, runs, "s");
        bench_row(out, "sql_save", "floor_keyed", n, tkeyed, runs, "s");
        bench_row(out, "sql_load", "mtsession", n, tload, runs, "s");
        bench_row(out, "sql_write", "full", n, wfull, runs, "pages/save");
        bench_row(out, "sql_write", "incremental", n, winc, runs,
                  "pages/save");
        bench_row(out, "sql_write", "other_object", n, wother, runs,
                  "pages/save");
        mts_storage_free(st); /* checkpoints the WAL into the file */
        if (stat(path, &sb) == 0) {
            bench_value(out, "sql_size", "bytes", n, (double)sb.st_size, "B");
            bench_value(out, "sql_size", "pages", n,
                        (double)sb.st_size / page, "pages");
        }
        mts_session_free(s);
        unlink_db(path);
    }
    bench_peers_free(&ps);
    fclose(out);
    return 0;
}
