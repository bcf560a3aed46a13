/*
 * bench_common.h - what the benchmark programs share: a monotonic clock,
 * medians, the fixed peer set every workload uses, the sizes and run
 * counts, scratch paths and the TSV writer.
 *
 * Results: each program appends rows to bench/out/<program>.tsv (the
 * directory is MTS_BENCH_OUT when set), one row per workload, variant and
 * size:
 *
 *   workload  variant  peers  runs  median  min  max  unit
 *
 * where unit "s" is seconds per operation (one save, one load, one call,
 * one lookup), and other units ("B", "B/peer", "pages/call", ...) are
 * what they say. bench/plot.sh and bench/report.py read these files.
 *
 * The peer set is deterministic (no clock, no address in it): peer i is a
 * user, a basic group or a channel by i % 3, with a bare id derived from
 * i, an access hash from i (0 for basic groups) and a username for every
 * fourth peer. bench/telethon_bench.py builds the same set.
 *
 * Header only, static functions; the programs are single-threaded.
 */
#ifndef MTS_BENCH_COMMON_H
#define MTS_BENCH_COMMON_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <mtsession/mtsession.h>
#include <mtsession/sys/alloc.h>

/* The peer counts every size-dependent workload runs at. */
static const size_t bench_sizes[] = { 1000, 10000, 100000, 1000000 };
#define BENCH_NSIZES (sizeof(bench_sizes) / sizeof(bench_sizes[0]))

/* Options every program takes: --quick (skip 1M peers), --runs N (force
 * the number of repeated runs per size; default bench_runs()). */
typedef struct bench_opts {
    int quick;
    int runs;
    const char *out_dir;
} bench_opts;

static inline void
bench_usage_exit(const char *prog)
{
    fprintf(stderr, "usage: %s [--quick] [--runs N]\n", prog);
    exit(2);
}

static inline void
bench_parse(bench_opts *o, int argc, char **argv)
{
    const char *env = getenv("MTS_BENCH_OUT");
    o->quick = 0;
    o->runs = 0;
    o->out_dir = env != NULL && env[0] != '\0' ? env : "bench/out";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            o->quick = 1;
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            o->runs = atoi(argv[++i]);
        else
            bench_usage_exit(argv[0]);
    }
    if (o->runs < 0)
        bench_usage_exit(argv[0]);
}

/* Whether size `n` is part of this run. */
static inline int
bench_size_on(const bench_opts *o, size_t n)
{
    return !(o->quick && n >= 1000000);
}

/* Repeated runs per size: more for small sizes, where one run is short
 * and noisy; always odd, so the median is one measured run. */
static inline int
bench_runs(const bench_opts *o, size_t n)
{
    if (o->runs > 0)
        return o->runs;
    return n <= 1000 ? 21 : n <= 10000 ? 15 : n <= 100000 ? 9 : 5;
}

static inline void
bench_die(const char *what, int rc, const mts_error *err)
{
    fprintf(stderr, "bench: %s: %s (%s)%s%s\n", what, mts_errname(rc),
            mts_strerror(rc), err != NULL && err->message[0] ? ": " : "",
            err != NULL ? err->message : "");
    exit(1);
}

static inline void
bench_die_errno(const char *what, const char *path)
{
    fprintf(stderr, "bench: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

/* ---- time -------------------------------------------------------------- */

static inline double
bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int
bench_cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorts v in place. */
static inline double
bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), bench_cmpd);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static inline double
bench_mean(const double *v, int n)
{
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += v[i];
    return n > 0 ? sum / n : 0;
}

/* Fixed-seed generator for the order of lookups and changes. */
static inline uint64_t
bench_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* ---- the peer set ------------------------------------------------------ */

typedef struct bench_peers {
    size_t n;
    mts_peer *p;
    char *names; /* the usernames, 16 bytes each */
} bench_peers;

static inline int64_t
bench_peer_id(size_t i)
{
    return (int64_t)(i / 3) * 7919 + 1000;
}

static inline void
bench_peers_make(bench_peers *ps, size_t n)
{
    ps->n = n;
    ps->p = calloc(n, sizeof(mts_peer));
    ps->names = calloc(n / 4 + 1, 16);
    if (ps->p == NULL || ps->names == NULL) {
        fprintf(stderr, "bench: out of memory for %zu peers\n", n);
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        mts_peer p = MTS_PEER_INIT;
        p.kind = (mts_peer_kind)(i % 3);
        p.id = bench_peer_id(i);
        p.access_hash = p.kind == MTS_PEER_CHAT
                            ? 0
                            : (int64_t)((i + 1) * 0x9E3779B97F4A7C15ULL);
        if (i % 4 == 0) {
            char *name = ps->names + (i / 4) * 16;
            int len = snprintf(name, 16, "user%zu", i);
            if (len < 0 || len >= 16)
                exit(1); /* sizes stay far below 10^11 peers */
            p.username = name;
        }
        ps->p[i] = p;
    }
}

static inline void
bench_peers_free(bench_peers *ps)
{
    free(ps->p);
    free(ps->names);
    memset(ps, 0, sizeof(*ps));
}

/* A session with the default DC table and the first n peers of ps. */
static inline mts_session *
bench_session(const bench_peers *ps, size_t n)
{
    mts_session *s;
    mts_error err = MTS_ERROR_INIT;
    int rc = mts_session_new(&s, MTS_NEW_DEFAULT);
    if (rc == 0)
        rc = mts_session_reserve_peers(s, n);
    if (rc != 0)
        bench_die("session", rc, NULL);
    for (size_t i = 0; i < n; i++)
        if ((rc = mts_session_put_peer(s, &ps->p[i], &err)) != 0)
            bench_die("put_peer", rc, &err);
    {
        mts_update_state us = { 1000, 10, 1700000000, 5 };
        mts_session_set_update_state(s, &us);
    }
    return s;
}

/* ---- paths and output -------------------------------------------------- */

static inline void
bench_mkdir(const char *dir)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        bench_die_errno("mkdir", dir);
}

/* snprintf into a path buffer; a path too long for it ends the run. */
static inline void
bench_join(char *buf, size_t size, const char *a, const char *b)
{
    int n = snprintf(buf, size, "%s%s", a, b);
    if (n < 0 || (size_t)n >= size) {
        fprintf(stderr, "bench: path too long: %s%s\n", a, b);
        exit(1);
    }
}

/* The scratch directory for stores: <out>/tmp, created on demand. */
static inline void
bench_tmp_path(char *buf, size_t size, const bench_opts *o, const char *name)
{
    char dir[1024], sub[1100];
    bench_mkdir(o->out_dir);
    bench_join(dir, sizeof(dir), o->out_dir, "/tmp");
    bench_mkdir(dir);
    bench_join(sub, sizeof(sub), dir, "/");
    bench_join(buf, size, sub, name);
}

/* Open <out>/<name>.tsv for writing, with the header line. */
static inline FILE *
bench_tsv_open(const bench_opts *o, const char *name)
{
    char path[1024], base[1100];
    FILE *f;
    bench_mkdir(o->out_dir);
    bench_join(base, sizeof(base), o->out_dir, "/");
    bench_join(path, sizeof(path), base, name);
    strncat(path, ".tsv", sizeof(path) - strlen(path) - 1);
    if ((f = fopen(path, "w")) == NULL)
        bench_die_errno("open", path);
    fprintf(f, "workload\tvariant\tpeers\truns\tmedian\tmin\tmax\tunit\n");
    return f;
}

/* One row from n samples (sorted in place). Also echoed to stdout. */
static inline void
bench_row(FILE *f, const char *workload, const char *variant, size_t peers,
          double *v, int n, const char *unit)
{
    double med = bench_median(v, n);
    fprintf(f, "%s\t%s\t%zu\t%d\t%.9g\t%.9g\t%.9g\t%s\n", workload, variant,
            peers, n, med, v[0], v[n - 1], unit);
    fflush(f);
    if (strcmp(unit, "s") == 0) {
        double k = med < 1e-3 ? 1e6 : 1e3;
        printf("  %-12s %-28s %8zu  %12.3f %s  (min %.3f, max %.3f, %d "
               "runs)\n",
               workload, variant, peers, med * k, k > 1e3 ? "us" : "ms",
               v[0] * k, v[n - 1] * k, n);
    } else
        printf("  %-12s %-28s %8zu  %12.2f %s\n", workload, variant, peers,
               med, unit);
    fflush(stdout);
}

/* A single value (a size, a count). */
static inline void
bench_value(FILE *f, const char *workload, const char *variant, size_t peers,
            double value, const char *unit)
{
    double v = value;
    bench_row(f, workload, variant, peers, &v, 1, unit);
}

/* A row without samples: runs 0, nan times, unit "skipped: <why>" (tabs
 * and newlines in why become spaces). Also echoed to stdout. */
static inline void
bench_skip_row(FILE *f,
               const char *workload,
               const char *variant,
               size_t peers,
               const char *why)
{
    char unit[520];
    int len = snprintf(unit, sizeof(unit), "skipped: %s", why);
    (void)len;
    for (size_t i = 0; unit[i] != '\0'; i++)
        if (unit[i] == '\t' || unit[i] == '\n')
            unit[i] = ' ';
    fprintf(f, "%s\t%s\t%zu\t0\tnan\tnan\tnan\t%s\n", workload, variant, peers,
            unit);
    fflush(f);
    printf("  %-12s %-28s %8zu  %s\n", workload, variant, peers, unit);
    fflush(stdout);
}

#endif /* MTS_BENCH_COMMON_H */
