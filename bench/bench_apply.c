/*
 * bench_apply.c - mts_storage_apply_update_state per call, durable, on
 * the file, SQLite, libSQL-local and (when a server is given) libSQL-
 * remote backends, with a store of 1k, 10k, 100k and 1M cached peers,
 * against the floor: one append of 32 bytes + fdatasync. Writes
 * bench/out/apply.tsv (see bench_common.h):
 *
 *   apply        file|sqlite|libsql_local|libsql_remote|floor  N  s
 *                    per call; the samples are the CALLS timed calls
 *   apply_mean   (same variants)  N  s    mean per call
 *   apply_write  file   N  B/call         journal growth per call
 *   apply_write  sqlite|libsql_local  N  pages/call
 *                    WAL frames per call: the WAL is checkpointed and
 *                    truncated through a connection of our own, then
 *                    WRITE_CALLS calls are made and the WAL's length is
 *                    divided by the frame size
 *
 * Every call is MTS_UPDATE_PRIMARY (pts, date, seq), the change a client
 * makes for almost every update. Each store first gets the N-peer session
 * by a save (not timed) and WARMUP calls (not timed: the file backend's
 * first call reads the store and writes it once with a snapshot id). The
 * calls on the local stores are interleaved - one call on each store of
 * every size per round, in a shuffled order, a floor per size among them -
 * so that every store
 * sees the same disk and the same neighbours on this shared machine; the
 * remote stores' calls come after them. SQLite and libSQL-local each have
 * their own copy of the database.
 *
 * The file journal is folded into a new snapshot when it would pass
 * 1 MiB (about 37,000 calls); CALLS stays far below that, so the median
 * is the append path. bench/report.py adds the fold's share (one save of
 * N peers per fold) to give the amortised cost.
 *
 * libSQL remote: MTS_BENCH_HRANA_URL and MTS_BENCH_HRANA_TOKEN name a
 * server (bench/run.sh starts the test server of tests/hrana-server);
 * sizes above MTS_BENCH_REMOTE_MAX peers (default 10000) are skipped:
 * the seeding save is one HTTP request carrying every row, and the test
 * server takes about 30 s for 100k.
 *
 *   bench_apply [--quick] [--runs N]    (--runs: the number of calls)
 */
#include "bench_common.h"

#include <fcntl.h>
#include <unistd.h>

#ifdef MTS_BENCH_SQLITE
#include <sqlite3.h>
#endif

#define CALLS 400
#define WARMUP 5
#define WRITE_CALLS 50

enum { T_FLOOR, T_FILE, T_SQLITE, T_LIBSQL, T_REMOTE, T_COUNT };

static const char *const g_variant[T_COUNT] = {
    "floor", "file", "sqlite", "libsql_local", "libsql_remote"
};

typedef struct target {
    mts_storage *st; /* NULL for the floor */
    int fd;          /* the floor's file */
    int on;
    double *t;
    char why[400]; /* why it is skipped */
} target;

static FILE *g_out;
static int32_t g_pts = 1000;

static mts_update_change
next_change(void)
{
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    c.kind = MTS_UPDATE_PRIMARY;
    c.state.pts = ++g_pts;
    c.state.date = 1700000000 + g_pts;
    c.state.seq = g_pts / 2;
    return c;
}

static void
set_why(target *t, const char *what, int rc, const mts_error *err)
{
    int n = snprintf(t->why, sizeof(t->why), "%s: %s%s%s", what,
                     mts_errname(rc), err->message[0] ? ": " : "",
                     err->message);
    (void)n;
    t->on = 0;
}

static off_t
size_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

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
copy_file(const char *from, const char *to)
{
    static char buf[1 << 16];
    int in = open(from, O_RDONLY | O_CLOEXEC), out;
    ssize_t r;
    if (in < 0)
        bench_die_errno("open", from);
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0)
        bench_die_errno("open", to);
    while ((r = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)r) != r)
            bench_die_errno("write", to);
    if (r < 0 || fsync(out) != 0)
        bench_die_errno("copy to", to);
    close(in);
    close(out);
}

/* One timed call on target t; returns 0 or stops t. */
static void
one_call(target *t, int k, int i)
{
    static const uint8_t rec[32] = { 1, 2, 3, 4 };
    double t0;
    if (!t->on)
        return;
    t0 = bench_now();
    if (k == T_FLOOR) {
        if (write(t->fd, rec, sizeof(rec)) != (ssize_t)sizeof(rec) ||
            fdatasync(t->fd) != 0)
            bench_die_errno("append", "(floor)");
    } else {
        mts_update_change c = next_change();
        mts_error err = MTS_ERROR_INIT;
        int rc = mts_storage_apply_update_state(t->st, &c, &err);
        if (rc != 0) {
            set_why(t, "apply", rc, &err);
            return;
        }
    }
    if (i >= 0)
        t->t[i] = bench_now() - t0;
}

static void
apply_n(mts_storage *st, int calls, const char *what)
{
    mts_error err = MTS_ERROR_INIT;
    for (int i = 0; i < calls; i++) {
        mts_update_change c = next_change();
        int rc = mts_storage_apply_update_state(st, &c, &err);
        if (rc != 0)
            bench_die(what, rc, &err);
    }
}

#ifdef MTS_BENCH_SQLITE
/* WAL frames written per call, counted from an empty WAL. */
static void
wal_pages(mts_storage *st, const char *db_path, const char *variant,
          size_t n)
{
    char wal[1100];
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    int page = 0;
    bench_join(wal, sizeof(wal), db_path, "-wal");
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &q, NULL) != SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW) {
        fprintf(stderr, "bench: %s: %s\n", db_path, sqlite3_errmsg(db));
        exit(1);
    }
    page = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    /* A connection that has read nothing yet has not opened the WAL, and
     * its checkpoint would do nothing: read the schema first. */
    if (sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL,
                     NULL) != SQLITE_OK ||
        sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL,
                                  NULL) != SQLITE_OK ||
        size_of(wal) != 0) {
        fprintf(stderr, "bench: checkpoint %s: %s\n", db_path,
                sqlite3_errmsg(db));
        exit(1);
    }
    apply_n(st, WRITE_CALLS, variant);
    {
        off_t len = size_of(wal);
        double frames = len > 32 ? (double)(len - 32) / (page + 24) : 0;
        bench_value(g_out, "apply_write", variant, n, frames / WRITE_CALLS,
                    "pages/call");
    }
    sqlite3_close(db);
}
#endif

typedef struct paths {
    char file[1024], db[1024], db2[1024], floor[1024];
} paths;

static void
open_targets(target *t, const paths *p, const mts_session *s, size_t n)
{
    mts_error err = MTS_ERROR_INIT;
    const char *url = getenv("MTS_BENCH_HRANA_URL");
    const char *max_env = getenv("MTS_BENCH_REMOTE_MAX");
    size_t max = max_env != NULL ? (size_t)strtoull(max_env, NULL, 10)
                                 : 10000;
    char side[1100];
    int rc;

    for (int k = 0; k < T_COUNT; k++) {
        t[k].st = NULL;
        t[k].fd = -1;
        t[k].on = 1;
        t[k].why[0] = '\0';
    }
    t[T_FLOOR].fd = open(p->floor,
                         O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC,
                         0600);
    if (t[T_FLOOR].fd < 0)
        bench_die_errno("open", p->floor);

    unlink(p->file);
    bench_join(side, sizeof(side), p->file, ".journal");
    unlink(side);
    if ((rc = mts_file_open(&t[T_FILE].st, p->file, NULL, &err)) != 0 ||
        (rc = mts_storage_save(t[T_FILE].st, s, &err)) != 0)
        bench_die("file save", rc, &err);

    /* SQLite: one database saved, closed (checkpointed), and copied for
     * the libSQL backend's local mode. */
    unlink_db(p->db);
    unlink_db(p->db2);
    rc = mts_sqlite_open(&t[T_SQLITE].st, p->db, "bench", &err);
    if (rc == 0)
        rc = mts_storage_save(t[T_SQLITE].st, s, &err);
    mts_storage_free(t[T_SQLITE].st);
    t[T_SQLITE].st = NULL;
    if (rc != 0) {
        set_why(&t[T_SQLITE], "sqlite save", rc, &err);
        set_why(&t[T_LIBSQL], "sqlite save", rc, &err);
    } else {
        copy_file(p->db, p->db2);
        if ((rc = mts_sqlite_open(&t[T_SQLITE].st, p->db, "bench", &err)))
            set_why(&t[T_SQLITE], "sqlite open", rc, &err);
        if ((rc = mts_libsql_open_local(&t[T_LIBSQL].st, p->db2, "bench",
                                        &err)))
            set_why(&t[T_LIBSQL], "libsql open", rc, &err);
    }

    if (url == NULL || url[0] == '\0') {
        snprintf(t[T_REMOTE].why, sizeof(t[T_REMOTE].why),
                 "no server (MTS_BENCH_HRANA_URL unset)");
        t[T_REMOTE].on = 0;
    } else if (n > max) {
        snprintf(t[T_REMOTE].why, sizeof(t[T_REMOTE].why),
                 "above MTS_BENCH_REMOTE_MAX=%zu peers", max);
        t[T_REMOTE].on = 0;
    } else {
        char name[32];
        double t0;
        snprintf(name, sizeof(name), "bench_%zu", n);
        rc = mts_libsql_open_remote(&t[T_REMOTE].st, url,
                                    getenv("MTS_BENCH_HRANA_TOKEN"), name,
                                    &err);
        t0 = bench_now();
        if (rc != 0)
            set_why(&t[T_REMOTE], "libsql remote open", rc, &err);
        else if ((rc = mts_storage_save(t[T_REMOTE].st, s, &err)) != 0)
            set_why(&t[T_REMOTE], "libsql remote seeding save", rc, &err);
        else
            printf("  (libsql_remote: seeding save of %zu peers: %.0f ms)\n",
                   n, (bench_now() - t0) * 1e3);
    }
}

static void
close_targets(target *t, const paths *p)
{
    char side[1100];
    close(t[T_FLOOR].fd);
    unlink(p->floor);
    if (t[T_REMOTE].st != NULL)
        (void)mts_storage_delete(t[T_REMOTE].st, NULL);
    for (int k = 0; k < T_COUNT; k++)
        mts_storage_free(t[k].st);
    unlink(p->file);
    bench_join(side, sizeof(side), p->file, ".journal");
    unlink(side);
    bench_join(side, sizeof(side), p->file, ".lock");
    unlink(side);
    unlink_db(p->db);
    unlink_db(p->db2);
}

/* One size's stores, paths and samples. */
typedef struct size_set {
    size_t n;
    paths p;
    target t[T_COUNT];
} size_set;

static void
size_paths(paths *p, const bench_opts *o, size_t n)
{
    char name[64];
    snprintf(name, sizeof(name), "apply-%zu.mts", n);
    bench_tmp_path(p->file, sizeof(p->file), o, name);
    snprintf(name, sizeof(name), "apply-%zu.db", n);
    bench_tmp_path(p->db, sizeof(p->db), o, name);
    snprintf(name, sizeof(name), "apply-%zu-libsql.db", n);
    bench_tmp_path(p->db2, sizeof(p->db2), o, name);
    snprintf(name, sizeof(name), "apply-%zu-floor.log", n);
    bench_tmp_path(p->floor, sizeof(p->floor), o, name);
}

static void
report(size_set *z, int calls)
{
    target *t = z->t;
    size_t n = z->n;
    for (int k = 0; k < T_COUNT; k++) {
        if (!t[k].on) {
            bench_skip_row(g_out, "apply", g_variant[k], n, t[k].why);
            continue;
        }
        bench_value(g_out, "apply_mean", g_variant[k], n,
                    bench_mean(t[k].t, calls), "s");
        bench_row(g_out, "apply", g_variant[k], n, t[k].t, calls, "s");
    }
    if (t[T_FILE].on) {
        char journal[1100];
        off_t before;
        bench_join(journal, sizeof(journal), z->p.file, ".journal");
        before = size_of(journal);
        apply_n(t[T_FILE].st, WRITE_CALLS, "file apply");
        bench_value(g_out, "apply_write", "file", n,
                    (double)(size_of(journal) - before) / WRITE_CALLS,
                    "B/call");
    }
#ifdef MTS_BENCH_SQLITE
    if (t[T_SQLITE].on)
        wal_pages(t[T_SQLITE].st, z->p.db, "sqlite", n);
    if (t[T_LIBSQL].on)
        wal_pages(t[T_LIBSQL].st, z->p.db2, "libsql_local", n);
#endif
}

int
main(int argc, char **argv)
{
    bench_opts o;
    bench_peers ps;
    size_set z[BENCH_NSIZES];
    size_t nz = 0;
    int calls;
    bench_parse(&o, argc, argv);
    calls = o.runs > 0 ? o.runs : CALLS;
    g_out = bench_tsv_open(&o, "apply");
    bench_peers_make(&ps, bench_sizes[BENCH_NSIZES - 1]);
    printf("## bench_apply (%d calls per store and size)\n", calls);

    /* Every size's stores first, so that the calls can go round them all:
     * 1k and 1M peers are then measured on the same disk at the same
     * time, and the comparison between sizes is not a comparison between
     * moments of a shared machine. */
    for (size_t sz = 0; sz < BENCH_NSIZES; sz++) {
        mts_session *s;
        if (!bench_size_on(&o, bench_sizes[sz]))
            continue;
        z[nz].n = bench_sizes[sz];
        size_paths(&z[nz].p, &o, z[nz].n);
        s = bench_session(&ps, z[nz].n);
        open_targets(z[nz].t, &z[nz].p, s, z[nz].n);
        mts_session_free(s);
        for (int k = 0; k < T_COUNT; k++)
            if ((z[nz].t[k].t = calloc((size_t)calls, sizeof(double))) ==
                NULL)
                exit(1);
        nz++;
    }
    bench_peers_free(&ps);

    /* Each round calls every local store once, in an order shuffled per
     * round (fixed seed): a store always called right after an SQLite
     * commit, say, would otherwise pay for it every time. */
    {
        size_t order[BENCH_NSIZES * T_REMOTE], m = nz * T_REMOTE;
        uint64_t seed = 7;
        for (size_t q = 0; q < m; q++)
            order[q] = q;
        for (int i = -WARMUP; i < calls; i++) {
            for (size_t q = m - 1; q > 0; q--) {
                size_t r = (size_t)(bench_rand(&seed) % (q + 1)), tmp;
                tmp = order[q];
                order[q] = order[r];
                order[r] = tmp;
            }
            for (size_t q = 0; q < m; q++) {
                size_t j = order[q] / T_REMOTE;
                int k = (int)(order[q] % T_REMOTE);
                one_call(&z[j].t[k], k, i);
            }
        }
    }
    /* The remote server does its own I/O after answering: its calls come
     * after, so that it does not slow down the local stores. */
    for (int i = -WARMUP; i < calls; i++)
        for (size_t j = 0; j < nz; j++)
            one_call(&z[j].t[T_REMOTE], T_REMOTE, i);

    for (size_t j = 0; j < nz; j++) {
        report(&z[j], calls);
        close_targets(z[j].t, &z[j].p);
        for (int k = 0; k < T_COUNT; k++)
            free(z[j].t[k].t);
    }
    fclose(g_out);
    return 0;
}
