/*
 * bench_fenced.c - what a lease and its fence cost, per backend that more
 * than one process can reach: file, SQLite, libSQL local file, libSQL
 * remote (when a server is given) and PostgreSQL (when a server is given),
 * each with the durability it ships with. Writes bench/out/fenced.tsv
 * (see bench_common.h); the variant is the backend:
 *
 *   save_unfenced   B  10000  s  mts_storage_save of the whole 10k-peer
 *                                session through a handle without a lease
 *   save_fenced     B  10000  s  the same through a handle holding a lease
 *   apply_unfenced  B  10000  s  apply_update_state PRIMARY, per call, on
 *                                a store holding the 10k-peer session
 *   apply_fenced    B  10000  s  the same with a lease held
 *   lease_acquire   B  0      s  mts_lease_acquire of a released lease
 *                                (a new tenure: the epoch rises)
 *   lease_renew     B  0      s  mts_lease_renew of the live lease, 3 ms
 *                                after the acquisition
 *   lease_release   B  0      s  mts_lease_release
 *   refused_apply   B  10000  s  apply_update_state through a handle whose
 *                                lease another owner took: MTS_EFENCED
 *   refused_save    B  10000  s  the same for a save of the session
 *
 * The fenced and the unfenced handle each have a store of their own (an
 * unleased write is refused while anyone's lease on its store is live),
 * seeded with the same session, and their calls alternate, the order
 * swapped every round: both see the same disk at the same moments. Every
 * save hands the backend a session object other than the one it saved
 * last (two copies that differ in 1% of the access hashes, in turn), so no
 * backend takes its incremental shortcut: the file backend writes the
 * whole file, the SQL backends reconcile every row with the stored ones
 * and write those that differ.
 *
 * A backend that cannot be reached gets "skipped: <reason>" rows (unit
 * column), as does every lease row of a backend whose mts_lease_acquire
 * answers MTS_ENOTSUPPORTED; its unfenced rows are still measured.
 *
 *   MTS_BENCH_HRANA_URL, MTS_BENCH_HRANA_TOKEN  the libSQL server
 *                      (bench/run.sh starts the test server)
 *   MTS_PG_CONNINFO    the PostgreSQL server (bench/run.sh starts one
 *                      with the default durability settings)
 *   MTS_BENCH_PG_WHY   why there is none, for the skipped rows
 *   MTS_BENCH_BACKENDS only these backends, e.g. "file,postgres"
 *
 *   bench_fenced [--quick] [--runs N]   (--runs: saves per variant)
 */
#include "bench_common.h"

#include <unistd.h>

#define PEERS             10000
#define CALLS             401 /* timed apply calls per variant */
#define CALLS_QUICK       201
#define LEASE_CALLS       101 /* acquire, renew, release rounds */
#define LEASE_CALLS_QUICK 51
#define WARMUP            5
#define SAVE_WARMUP       2
#define TTL_MS            600000u
#define REMOTE_RUNS       9 /* remote saves per variant: ~1 s each */
#define REMOTE_RUNS_QUICK 5

enum { B_FILE, B_SQLITE, B_LIBSQL, B_REMOTE, B_PG, B_COUNT };

static const char *const g_backend[B_COUNT] = { "file", "sqlite",
                                                "libsql_local", "libsql_remote",
                                                "postgres" };

static FILE *g_out;
static const bench_opts *g_o;
static mts_session *g_obj[2]; /* the two session objects saved in turn */
static char g_tag[32];        /* per process: store and owner names */

/* ---- stores ------------------------------------------------------------ */

/* Path of the local store `name` of backend b under <out>/tmp. */
static void
local_path(char *buf, size_t size, int b, const char *name)
{
    char file[128];
    snprintf(file, sizeof(file), "fenced-%s-%s.%s", g_backend[b], name,
             b == B_FILE ? "mts" : "db");
    bench_tmp_path(buf, size, g_o, file);
}

static void
unlink_suffix(const char *path, const char *suffix)
{
    char side[1100];
    bench_join(side, sizeof(side), path, suffix);
    unlink(side);
}

/* Removes what an earlier run left of a local store: a live lease of
 * another process's owner would refuse every write of this one. */
static void
local_remove(int b, const char *name)
{
    static const char *const sides[] = { "",        ".journal", ".lock",
                                         ".lease",  "-wal",     "-shm",
                                         "-journal" };
    char path[1024];
    if (b != B_FILE && b != B_SQLITE && b != B_LIBSQL)
        return;
    local_path(path, sizeof(path), b, name);
    for (size_t i = 0; i < sizeof(sides) / sizeof(sides[0]); i++)
        unlink_suffix(path, sides[i]);
}

/* Opens the store `name` of backend b; why says why not. */
static int
open_store(mts_storage **out, int b, const char *name, mts_error *err)
{
    char path[1024], remote[96];
    *out = NULL;
    snprintf(remote, sizeof(remote), "fenced_%s_%s", name, g_tag);
    switch (b) {
    case B_FILE:
        local_path(path, sizeof(path), b, name);
        return mts_file_open(out, path, NULL, err);
    case B_SQLITE:
        local_path(path, sizeof(path), b, name);
        return mts_sqlite_open(out, path, "bench", err);
    case B_LIBSQL:
        local_path(path, sizeof(path), b, name);
        return mts_libsql_open_local(out, path, "bench", err);
    case B_REMOTE:
        return mts_libsql_open_remote(out, getenv("MTS_BENCH_HRANA_URL"),
                                      getenv("MTS_BENCH_HRANA_TOKEN"), remote,
                                      err);
    default:
        return mts_postgres_open(out, getenv("MTS_PG_CONNINFO"), remote, err);
    }
}

/* ---- rows -------------------------------------------------------------- */

static void
skip_row(const char *workload, int b, size_t peers, const char *why)
{
    bench_skip_row(g_out, workload, g_backend[b], peers, why);
}

static void
set_why(char *why, size_t size, const char *what, int rc, const mts_error *err)
{
    int n = snprintf(why, size, "%s: %s%s%s", what, mts_errname(rc),
                     err != NULL && err->message[0] ? ": " : "",
                     err != NULL ? err->message : "");
    (void)n;
}

/* The reason for the rows of a backend without leases; the handle's name
 * (it differs per store) is left out of the library's message. */
static void
set_why_unsupported(char *why,
                    size_t size,
                    mts_storage *st,
                    const mts_error *err)
{
    const char *m = err->message, *name = mts_storage_name(st);
    size_t n = name != NULL ? strlen(name) : 0;
    if (n > 0 && strncmp(m, name, n) == 0 && m[n] == ':' && m[n + 1] == ' ')
        m += n + 2;
    snprintf(why, size, "mts_lease_acquire answers MTS_ENOTSUPPORTED: %s", m);
}

/* One variant's samples, or why it has none. */
typedef struct series {
    mts_storage *st;
    double *t;
    int on;
    char why[480];
} series;

/* n samples on st; NULL: none, the rows say why. */
static void
series_init(series *s, mts_storage *st, int n, const char *why)
{
    s->st = st;
    s->on = st != NULL;
    snprintf(s->why, sizeof(s->why), "%s", st != NULL ? "" : why);
    if ((s->t = calloc((size_t)n, sizeof(double))) == NULL) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
}

static void
series_row(series *s, const char *workload, int b, size_t peers, int n)
{
    if (s->on)
        bench_row(g_out, workload, g_backend[b], peers, s->t, n, "s");
    else
        skip_row(workload, b, peers, s->why);
    free(s->t);
    s->t = NULL;
}

/* ---- operations -------------------------------------------------------- */

typedef int (*op_fn)(mts_storage *st, int i, mts_error *err);

static const mts_session *
obj_for(int i)
{
    return g_obj[((i % 2) + 2) % 2];
}

static int
op_save(mts_storage *st, int i, mts_error *err)
{
    return mts_storage_save(st, obj_for(i), err);
}

static int
op_apply(mts_storage *st, int i, mts_error *err)
{
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    c.kind = MTS_UPDATE_PRIMARY;
    c.state.pts = 2000 + i;
    c.state.date = 1700000000 + i;
    c.state.seq = 100 + i / 2;
    return mts_storage_apply_update_state(st, &c, err);
}

/* One call of fn on s, timed into slot i (untimed when i < 0). A failure
 * stops the series and says why. */
static void
one(series *s, op_fn fn, int i, int expect, const char *what)
{
    mts_error err = MTS_ERROR_INIT;
    double t0;
    int rc;
    if (!s->on)
        return;
    t0 = bench_now();
    rc = fn(s->st, i, &err);
    if (i >= 0)
        s->t[i] = bench_now() - t0;
    if (rc != expect) {
        if (expect != 0 && rc == 0)
            snprintf(s->why, sizeof(s->why),
                     "%s: expected %s, the write was accepted", what,
                     mts_errname(expect));
        else
            set_why(s->why, sizeof(s->why), what, rc, &err);
        s->on = 0;
    }
}

/* warm untimed then n timed calls of fn on a and b in turn, the order
 * swapped every round. */
static void
alternate(series *a, series *b, op_fn fn, int warm, int n, const char *what)
{
    for (int i = -warm; i < n; i++) {
        series *first = i & 1 ? b : a, *second = i & 1 ? a : b;
        one(first, fn, i, 0, what);
        one(second, fn, i, 0, what);
    }
}

static void
pause_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- one backend ------------------------------------------------------- */

typedef struct backend_run {
    int b;
    int runs, calls, lease_calls;
    char owner[64];
} backend_run;

static void
skip_all(int b, const char *why)
{
    static const char *const w10k[] = { "save_unfenced",  "save_fenced",
                                        "apply_unfenced", "apply_fenced",
                                        "refused_apply",  "refused_save" };
    static const char *const w0[] = { "lease_acquire", "lease_renew",
                                      "lease_release" };
    for (size_t i = 0; i < sizeof(w10k) / sizeof(w10k[0]); i++)
        skip_row(w10k[i], b, PEERS, why);
    for (size_t i = 0; i < sizeof(w0) / sizeof(w0[0]); i++)
        skip_row(w0[i], b, 0, why);
}

/* A store seeded with the first save object; with owner, leased first. */
static int
seeded(mts_storage **out,
       int b,
       const char *name,
       const char *owner,
       char *why,
       size_t why_size)
{
    mts_error err = MTS_ERROR_INIT;
    mts_lease l = MTS_LEASE_INIT;
    int rc;
    local_remove(b, name);
    if ((rc = open_store(out, b, name, &err)) != 0) {
        set_why(why, why_size, "open", rc, &err);
        return rc;
    }
    if (owner != NULL &&
        (rc = mts_lease_acquire(&l, *out, owner, TTL_MS, &err)) != 0) {
        if (rc == MTS_ENOTSUPPORTED)
            set_why_unsupported(why, why_size, *out, &err);
        else
            set_why(why, why_size, "lease acquire", rc, &err);
        return rc;
    }
    if ((rc = op_save(*out, -SAVE_WARMUP - 1, &err)) != 0)
        set_why(why, why_size, owner ? "seeding save (fenced)" : "seeding save",
                rc, &err);
    return rc;
}

static void
drop_store(mts_storage *st, int b, const char *name)
{
    if (st != NULL && (b == B_REMOTE || b == B_PG))
        (void)mts_storage_delete(st, NULL);
    mts_storage_free(st);
    local_remove(b, name);
}

/* fn on the unfenced store ust and the fenced one fst (NULL: skipped,
 * with uwhy / fwhy), warm untimed then n timed calls each in turn; the
 * rows "<what>_unfenced" and "<what>_fenced". */
static void
compare(const backend_run *r,
        mts_storage *ust,
        const char *uwhy,
        mts_storage *fst,
        const char *fwhy,
        op_fn fn,
        int warm,
        int n,
        const char *what)
{
    series su, sf;
    char wu[48], wf[48];
    series_init(&su, ust, n, uwhy);
    series_init(&sf, fst, n, fwhy);
    alternate(&sf, &su, fn, warm, n, what);
    snprintf(wu, sizeof(wu), "%s_unfenced", what);
    snprintf(wf, sizeof(wf), "%s_fenced", what);
    series_row(&su, wu, r->b, PEERS, n);
    series_row(&sf, wf, r->b, PEERS, n);
}

/* Saves and apply calls, fenced against unfenced. Returns 0 when neither
 * store could be used (every row of the backend is then skipped). */
static int
bench_writes(const backend_run *r)
{
    mts_storage *fst = NULL, *ust = NULL;
    char fwhy[480] = "", uwhy[480] = "";
    int frc, urc;
    double t0 = bench_now();

    urc = seeded(&ust, r->b, "plain", NULL, uwhy, sizeof(uwhy));
    frc = seeded(&fst, r->b, "held", r->owner, fwhy, sizeof(fwhy));
    if (urc != 0 && frc != 0) {
        /* neither store works: the backend cannot be reached */
        skip_all(r->b, uwhy);
        drop_store(ust, r->b, "plain");
        drop_store(fst, r->b, "held");
        return 0;
    }
    compare(r, urc == 0 ? ust : NULL, uwhy, frc == 0 ? fst : NULL, fwhy,
            op_save, SAVE_WARMUP, r->runs, "save");
    compare(r, urc == 0 ? ust : NULL, uwhy, frc == 0 ? fst : NULL, fwhy,
            op_apply, WARMUP, r->calls, "apply");

    if (frc == 0)
        (void)mts_lease_release(fst, NULL);
    drop_store(ust, r->b, "plain");
    drop_store(fst, r->b, "held");
    printf("  (%s: saves and calls took %.1f s)\n", g_backend[r->b],
           bench_now() - t0);
    return 1;
}

/* Acquire (of a released lease), renew and release, per call. */
static void
bench_lease_calls(const backend_run *r)
{
    mts_storage *st = NULL;
    mts_error err = MTS_ERROR_INIT;
    series acq, ren, rel;
    char why[480] = "";
    int rc, n = r->lease_calls;

    local_remove(r->b, "lease");
    if ((rc = open_store(&st, r->b, "lease", &err)) != 0)
        set_why(why, sizeof(why), "open", rc, &err);
    series_init(&acq, rc == 0 ? st : NULL, n, why);
    series_init(&ren, rc == 0 ? st : NULL, n, why);
    series_init(&rel, rc == 0 ? st : NULL, n, why);
    for (int i = -WARMUP; i < n && acq.on && ren.on && rel.on; i++) {
        mts_lease l = MTS_LEASE_INIT;
        double t0 = bench_now();
        rc = mts_lease_acquire(&l, st, r->owner, TTL_MS, &err);
        if (i >= 0)
            acq.t[i] = bench_now() - t0;
        if (rc != 0)
            break;
        /* a renewal in the same millisecond as the acquisition would
         * store the same row again, which SQLite commits without writing */
        pause_ms(3);
        t0 = bench_now();
        rc = mts_lease_renew(&l, st, TTL_MS, &err);
        if (i >= 0)
            ren.t[i] = bench_now() - t0;
        if (rc != 0)
            break;
        t0 = bench_now();
        rc = mts_lease_release(st, &err);
        if (i >= 0)
            rel.t[i] = bench_now() - t0;
        if (rc != 0)
            break;
    }
    if (rc != 0) {
        if (rc == MTS_ENOTSUPPORTED)
            set_why_unsupported(why, sizeof(why), st, &err);
        else
            set_why(why, sizeof(why), "lease", rc, &err);
        acq.on = ren.on = rel.on = 0;
        snprintf(acq.why, sizeof(acq.why), "%s", why);
        snprintf(ren.why, sizeof(ren.why), "%s", why);
        snprintf(rel.why, sizeof(rel.why), "%s", why);
    }
    series_row(&acq, "lease_acquire", r->b, 0, n);
    series_row(&ren, "lease_renew", r->b, 0, n);
    series_row(&rel, "lease_release", r->b, 0, n);
    drop_store(st, r->b, "lease");
}

/* Writes of a holder whose lease another owner took over. */
static void
bench_refused(const backend_run *r)
{
    mts_storage *stale = NULL, *taker = NULL;
    mts_error err = MTS_ERROR_INIT;
    mts_lease l = MTS_LEASE_INIT;
    series ap, sv;
    char why[480] = "", stale_owner[80], taker_owner[80];
    int rc;

    snprintf(stale_owner, sizeof(stale_owner), "%s-stale", r->owner);
    snprintf(taker_owner, sizeof(taker_owner), "%s-taker", r->owner);
    local_remove(r->b, "stale");
    if ((rc = open_store(&stale, r->b, "stale", &err)) != 0 ||
        (rc = open_store(&taker, r->b, "stale", &err)) != 0)
        set_why(why, sizeof(why), "open", rc, &err);
    else if ((rc = mts_lease_acquire(&l, stale, stale_owner, 1, &err)) != 0) {
        if (rc == MTS_ENOTSUPPORTED)
            set_why_unsupported(why, sizeof(why), stale, &err);
        else
            set_why(why, sizeof(why), "lease acquire", rc, &err);
    } else {
        /* the 1 ms lease runs out; the taker gets the next epoch (a
         * server's clock may be a little behind ours: try again) */
        for (int tries = 0; tries < 50; tries++) {
            pause_ms(20);
            rc = mts_lease_acquire(&l, taker, taker_owner, TTL_MS, &err);
            if (rc != MTS_ELOCKED)
                break;
        }
        if (rc != 0)
            set_why(why, sizeof(why), "takeover", rc, &err);
        else if ((rc = op_save(taker, 0, &err)) != 0)
            set_why(why, sizeof(why), "seeding save", rc, &err);
    }
    series_init(&ap, rc == 0 ? stale : NULL, r->calls, why);
    series_init(&sv, rc == 0 ? stale : NULL, r->runs, why);
    for (int i = -WARMUP; i < r->calls; i++)
        one(&ap, op_apply, i, MTS_EFENCED, "stale apply");
    for (int i = -SAVE_WARMUP; i < r->runs; i++)
        one(&sv, op_save, i, MTS_EFENCED, "stale save");
    series_row(&ap, "refused_apply", r->b, PEERS, r->calls);
    series_row(&sv, "refused_save", r->b, PEERS, r->runs);
    if (taker != NULL && rc == 0)
        (void)mts_lease_release(taker, NULL);
    mts_storage_free(stale);
    drop_store(taker, r->b, "stale");
}

/* Whether MTS_BENCH_BACKENDS (a comma-separated list) names backend b;
 * unset or empty: every backend. */
static int
wanted(int b)
{
    const char *list = getenv("MTS_BENCH_BACKENDS"), *p;
    size_t n = strlen(g_backend[b]);
    if (list == NULL || list[0] == '\0')
        return 1;
    for (p = list; (p = strstr(p, g_backend[b])) != NULL; p += n)
        if ((p == list || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
            return 1;
    return 0;
}

int
main(int argc, char **argv)
{
    bench_opts o;
    bench_peers ps;
    mts_error err = MTS_ERROR_INIT;
    uint64_t rng = 0xF0CE;
    int rc;

    bench_parse(&o, argc, argv);
    g_o = &o;
    snprintf(g_tag, sizeof(g_tag), "%ld", (long)getpid());
    g_out = bench_tsv_open(&o, "fenced");

    bench_peers_make(&ps, PEERS);
    g_obj[0] = bench_session(&ps, PEERS);
    if ((rc = mts_session_dup(&g_obj[1], g_obj[0])) != 0)
        bench_die("session dup", rc, NULL);
    for (size_t i = 0; i < PEERS / 100; i++) {
        mts_peer p = ps.p[(size_t)(bench_rand(&rng) % PEERS)];
        p.access_hash ^= (int64_t)(bench_rand(&rng) | 1);
        if ((rc = mts_session_put_peer(g_obj[1], &p, &err)) != 0)
            bench_die("put_peer", rc, &err);
    }

    printf("## bench_fenced (%d peers)\n", PEERS);
    for (int b = 0; b < B_COUNT; b++) {
        backend_run r;
        const char *env = NULL;
        r.b = b;
        r.runs = o.runs > 0 ? o.runs : o.quick ? 9 : bench_runs(&o, PEERS);
        r.calls = o.quick ? CALLS_QUICK : CALLS;
        r.lease_calls = o.quick ? LEASE_CALLS_QUICK : LEASE_CALLS;
        snprintf(r.owner, sizeof(r.owner), "bench-%s-%s", g_backend[b], g_tag);
        if (!wanted(b))
            continue;
        if (b == B_REMOTE) {
            /* seeding and every save send all the rows in one request */
            if (o.runs <= 0)
                r.runs = o.quick ? REMOTE_RUNS_QUICK : REMOTE_RUNS;
            env = getenv("MTS_BENCH_HRANA_URL");
        } else if (b == B_PG)
            env = getenv("MTS_PG_CONNINFO");
        if (b == B_REMOTE && (env == NULL || env[0] == '\0')) {
            skip_all(b, "no server (MTS_BENCH_HRANA_URL unset)");
            continue;
        }
        if (b == B_PG && (env == NULL || env[0] == '\0')) {
            const char *why = getenv("MTS_BENCH_PG_WHY");
            skip_all(b, why != NULL && why[0] != '\0'
                            ? why
                            : "no server (MTS_PG_CONNINFO unset)");
            continue;
        }
        if (!bench_writes(&r))
            continue;
        bench_lease_calls(&r);
        bench_refused(&r);
    }

    mts_session_free(g_obj[0]);
    mts_session_free(g_obj[1]);
    bench_peers_free(&ps);
    fclose(g_out);
    return 0;
}
