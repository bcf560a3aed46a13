/*
 * bench_postgres.c - the PostgreSQL backend, every write fenced by a lease
 * (the way a fleet worker runs), for 1k, 10k and 100k cached peers.
 * Writes bench/out/postgres.tsv (see bench_common.h):
 *
 *   pg_save   full        N  s  mts_storage_save of a new account (every
 *                               row inserted), lease held
 *   pg_save   unchanged   N  s  the same snapshot again (no row rewritten)
 *   pg_save   changed_1pct N s  after put_peer changed 1% of the access
 *                               hashes (a different 1% each run)
 *   pg_load   -           N  s  mts_storage_load
 *   pg_call   apply_primary   0  s  apply_update_state PRIMARY, fenced
 *   pg_call   apply_channel   0  s  apply_update_state CHANNEL, fenced
 *   pg_call   apply_unleased  0  s  PRIMARY through a handle without lease
 *   pg_call   cache_peer      0  s  cache_peer, fenced
 *   pg_call   lease_renew     0  s  mts_lease_renew
 *
 * The server is the one MTS_PG_CONNINFO names (a libpq connection string);
 * its durability settings decide what a commit costs, so say which ones
 * were used when quoting the numbers. Without MTS_PG_CONNINFO the program
 * says so and exits 77.
 *
 *   MTS_PG_CONNINFO='host=/tmp/x user=test dbname=postgres' \
 *       bench_postgres [--quick] [--runs N]
 */
#include "bench_common.h"

#include <unistd.h>

static const size_t pg_sizes[] = { 1000, 10000, 100000 };
enum { CALLS = 2001 };

static mts_storage *
open_leased(const char *conninfo, const char *account, const char *owner)
{
    mts_storage *st = NULL;
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    int rc = mts_postgres_open(&st, conninfo, account, &err);
    if (rc != 0)
        bench_die("open", rc, &err);
    if (owner != NULL &&
        (rc = mts_lease_acquire(&l, st, owner, 600000, &err)) != 0)
        bench_die("lease", rc, &err);
    return st;
}

static void
bench_saves(FILE *tsv, const bench_opts *o, const char *conninfo,
            const char *owner, size_t n)
{
    int runs = bench_runs(o, n);
    double *full = calloc((size_t)runs, sizeof(double));
    double *same = calloc((size_t)runs, sizeof(double));
    double *changed = calloc((size_t)runs, sizeof(double));
    double *load = calloc((size_t)runs, sizeof(double));
    bench_peers ps;
    mts_session *s;
    mts_error err = MTS_ERROR_INIT;
    uint64_t rng = 0x1234567 + n;
    int rc;
    if (!full || !same || !changed || !load) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
    bench_peers_make(&ps, n);
    s = bench_session(&ps, n);
    for (int r = 0; r < runs; r++) {
        char account[64];
        mts_storage *st;
        mts_session *got = NULL;
        double t;
        snprintf(account, sizeof(account), "bench-%zu-%d-%ld", n, r,
                 (long)getpid());
        st = open_leased(conninfo, account, owner);
        t = bench_now();
        if ((rc = mts_storage_save(st, s, &err)) != 0)
            bench_die("save", rc, &err);
        full[r] = bench_now() - t;
        t = bench_now();
        if ((rc = mts_storage_save(st, s, &err)) != 0)
            bench_die("save", rc, &err);
        same[r] = bench_now() - t;
        for (size_t i = 0; i < n / 100; i++) {
            mts_peer p = ps.p[bench_rand(&rng) % n];
            p.access_hash ^= (int64_t)bench_rand(&rng);
            if ((rc = mts_session_put_peer(s, &p, &err)) != 0)
                bench_die("put_peer", rc, &err);
        }
        t = bench_now();
        if ((rc = mts_storage_save(st, s, &err)) != 0)
            bench_die("save", rc, &err);
        changed[r] = bench_now() - t;
        t = bench_now();
        if ((rc = mts_storage_load(&got, st, &err)) != 0)
            bench_die("load", rc, &err);
        load[r] = bench_now() - t;
        mts_session_free(got);
        if ((rc = mts_storage_delete(st, &err)) != 0)
            bench_die("delete", rc, &err);
        mts_storage_free(st);
    }
    bench_row(tsv, "pg_save", "full", n, full, runs, "s");
    bench_row(tsv, "pg_save", "unchanged", n, same, runs, "s");
    bench_row(tsv, "pg_save", "changed_1pct", n, changed, runs, "s");
    bench_row(tsv, "pg_load", "-", n, load, runs, "s");
    mts_session_free(s);
    bench_peers_free(&ps);
    free(full);
    free(same);
    free(changed);
    free(load);
}

typedef int (*call_fn)(mts_storage *st, int i, mts_error *err);

static int
call_primary(mts_storage *st, int i, mts_error *err)
{
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    c.kind = MTS_UPDATE_PRIMARY;
    c.state.pts = i;
    c.state.date = 1700000000 + i;
    c.state.seq = i;
    return mts_storage_apply_update_state(st, &c, err);
}

static int
call_channel(mts_storage *st, int i, mts_error *err)
{
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    c.kind = MTS_UPDATE_CHANNEL;
    c.channel_id = 1 + i % 50;
    c.channel_pts = i;
    return mts_storage_apply_update_state(st, &c, err);
}

static int
call_peer(mts_storage *st, int i, mts_error *err)
{
    mts_peer p = MTS_PEER_INIT;
    p.id = 1 + i % 500;
    p.access_hash = i;
    return mts_storage_cache_peer(st, &p, err);
}

static int
call_renew(mts_storage *st, int i, mts_error *err)
{
    mts_lease l = MTS_LEASE_INIT;
    (void)i;
    return mts_lease_renew(&l, st, 600000, err);
}

static void
bench_calls(FILE *tsv, mts_storage *st, const char *variant, call_fn fn)
{
    double *v = calloc(CALLS, sizeof(double));
    mts_error err = MTS_ERROR_INIT;
    int rc;
    if (v == NULL) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
    for (int i = 0; i < 50; i++) /* warm up: prepared statements, caches */
        if ((rc = fn(st, i, &err)) != 0)
            bench_die(variant, rc, &err);
    for (int i = 0; i < CALLS; i++) {
        double t = bench_now();
        if ((rc = fn(st, i, &err)) != 0)
            bench_die(variant, rc, &err);
        v[i] = bench_now() - t;
    }
    bench_row(tsv, "pg_call", variant, 0, v, CALLS, "s");
    free(v);
}

int
main(int argc, char **argv)
{
    bench_opts o;
    const char *conninfo = getenv("MTS_PG_CONNINFO");
    char owner[64];
    FILE *tsv;
    mts_storage *st, *free_st;
    mts_session *s;
    bench_peers ps;
    mts_error err = MTS_ERROR_INIT;
    int rc;
    bench_parse(&o, argc, argv);
    if (conninfo == NULL || conninfo[0] == '\0') {
        fprintf(stderr, "bench_postgres: set MTS_PG_CONNINFO to a libpq "
                        "connection string (tests/postgres/ctl.sh starts a "
                        "throwaway server)\n");
        return 77;
    }
    snprintf(owner, sizeof(owner), "bench-%ld", (long)getpid());
    tsv = bench_tsv_open(&o, "postgres");
    printf("bench_postgres: fenced writes, lease held by %s\n", owner);
    for (size_t k = 0; k < sizeof(pg_sizes) / sizeof(pg_sizes[0]); k++)
        if (!(o.quick && pg_sizes[k] >= 100000))
            bench_saves(tsv, &o, conninfo, owner, pg_sizes[k]);

    bench_peers_make(&ps, 100);
    s = bench_session(&ps, 100);
    st = open_leased(conninfo, "bench-calls", owner);
    if ((rc = mts_storage_save(st, s, &err)) != 0)
        bench_die("save", rc, &err);
    bench_calls(tsv, st, "apply_primary", call_primary);
    bench_calls(tsv, st, "apply_channel", call_channel);
    bench_calls(tsv, st, "cache_peer", call_peer);
    bench_calls(tsv, st, "lease_renew", call_renew);
    if ((rc = mts_lease_release(st, &err)) != 0)
        bench_die("release", rc, &err);
    free_st = open_leased(conninfo, "bench-calls", NULL);
    bench_calls(tsv, free_st, "apply_unleased", call_primary);
    if ((rc = mts_storage_delete(free_st, &err)) != 0)
        bench_die("delete", rc, &err);
    mts_storage_free(free_st);
    mts_storage_free(st);
    mts_session_free(s);
    bench_peers_free(&ps);
    fclose(tsv);
    return 0;
}
