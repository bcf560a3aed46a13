/*
 * bench_sql_incremental.c - the SQLite backend's save after 1% of the
 * peers changed: incremental (the session object the handle last saved)
 * against the full path (the same content in another object, which the
 * handle must compare row by row), at 10k and 100k peers.
 *
 *   bench_sql_incremental [--runs N] [--peers N] [--dir DIR]
 *
 * Each run changes the access hash of a different 1% of the peers, saves
 * the object through the handle (incremental), changes another 1%, and
 * saves a copy of the object (full). Both write the same number of rows;
 * the full path also reads every stored key and looks at every row. The
 * database is a file in DIR (default: the current directory) with the
 * backend's defaults (WAL, synchronous = FULL). Prints the medians.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mtsession/mtsession.h>

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
check(int rc, const char *what, const mts_error *err)
{
    if (rc != 0) {
        fprintf(stderr, "bench: %s: %s: %s\n", what, mts_errname(rc),
                err != NULL ? err->message : "");
        exit(1);
    }
}

static mts_session *
build(size_t n)
{
    mts_session *s = NULL;
    char name[32];
    check(mts_session_new(&s, MTS_NEW_DEFAULT), "new", NULL);
    check(mts_session_reserve_peers(s, n), "reserve", NULL);
    for (size_t i = 0; i < n; i++) {
        mts_peer p = MTS_PEER_INIT;
        p.kind = (mts_peer_kind)(i % 3);
        p.id = (int64_t)(i / 3) * 7919 + 1000;
        p.access_hash = (int64_t)(i * 0x9E3779B97F4A7C15ULL);
        if (p.kind == MTS_PEER_CHANNEL)
            p.channel_kind = MTS_CHANNEL_MEGAGROUP;
        if (i % 4 == 0) {
            snprintf(name, sizeof(name), "user%zu", i);
            p.username = name;
        }
        check(mts_session_put_peer(s, &p, NULL), "put_peer", NULL);
    }
    return s;
}

/* Change the access hash of n peers starting at index first. */
static void
change(mts_session *s, size_t first, size_t n)
{
    size_t count = mts_session_peer_count(s);
    for (size_t k = 0; k < n; k++) {
        mts_peer p;
        check(mts_session_peer_at(&p, s, (first + k) % count), "peer_at", NULL);
        p.access_hash += 1;
        check(mts_session_put_peer(s, &p, NULL), "put_peer", NULL);
    }
}

static void
unlink_db(const char *path)
{
    char side[4200];
    unlink(path);
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
}

static void
run_size(size_t n, int runs, const char *dir)
{
    char path[4096];
    mts_storage *st = NULL;
    mts_session *s = build(n);
    mts_error err = MTS_ERROR_INIT;
    double *inc = calloc((size_t)runs, sizeof(double));
    double *full = calloc((size_t)runs, sizeof(double));
    size_t pct = n / 100;
    double t0, mi, mf;
    if (inc == NULL || full == NULL)
        exit(1);
    snprintf(path, sizeof(path), "%s/bench-incremental-%zu.db", dir, n);
    unlink_db(path);
    check(mts_sqlite_open(&st, path, NULL, &err), "open", &err);
    t0 = now_s();
    check(mts_storage_save(st, s, &err), "first save", &err);
    printf("%7zu peers: first save into an empty database %8.1f ms\n", n,
           (now_s() - t0) * 1e3);
    for (int r = 0; r < runs; r++) {
        mts_session *copy = NULL;
        change(s, (size_t)(2 * r) * pct, pct);
        t0 = now_s();
        check(mts_storage_save(st, s, &err), "incremental save", &err);
        inc[r] = now_s() - t0;
        change(s, (size_t)(2 * r + 1) * pct, pct);
        check(mts_session_dup(&copy, s), "dup", NULL);
        t0 = now_s();
        check(mts_storage_save(st, copy, &err), "full save", &err);
        full[r] = now_s() - t0;
        mts_session_free(s);
        s = copy; /* the copy is the object the handle saved last */
    }
    mi = median(inc, runs);
    mf = median(full, runs);
    printf("%7zu peers, %zu changed (1%%): full %8.2f ms, incremental "
           "%7.2f ms, %5.1fx faster (median of %d)\n",
           n, pct, mf * 1e3, mi * 1e3, mf / mi, runs);
    mts_storage_free(st);
    mts_session_free(s);
    unlink_db(path);
    free(inc);
    free(full);
}

int
main(int argc, char **argv)
{
    int runs = 7;
    size_t only = 0;
    const char *dir = ".";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--peers") == 0 && i + 1 < argc)
            only = (size_t)strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--runs N] [--peers N] [--dir DIR]\n",
                    argv[0]);
            return 2;
        }
    }
    if (runs < 1)
        runs = 1;
    if (only != 0) {
        run_size(only, runs, dir);
        return 0;
    }
    run_size(10000, runs, dir);
    run_size(100000, runs, dir);
    return 0;
}
