/*
 * bench_update.c - durable mts_storage_apply_update_state on the file
 * backend, with 1k and 1M cached peers, against the floor: one append of
 * 32 bytes to a plain file followed by fdatasync. The calls go round the
 * stores one at a time, the floor among them, so that drift in the disk's
 * latency hits every series alike. Each call is timed on its own; a run's
 * figure is the median of its calls, and the figure printed is the median
 * over the runs. For scale it also prints group commit of 100 changes and
 * one load plus one save of the session: what every change cost before
 * the journal, and what a fold (every ~37,000 changes) costs now.
 *
 *   bench_update [--quick] [RUNS [CALLS [DIR]]]
 *
 * Defaults: 5 runs of 200 calls, in $MTS_BENCH_OUT/tmp when bench/run.sh
 * sets it, else in $TMPDIR or /tmp. --quick leaves out the 1M-peer store.
 *
 * DIR should be on the file system the sessions will live on: the
 * numbers are mostly that file system's sync latency.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mtsession/mtsession.h>

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmpd);
    return v[n / 2];
}

static void
die(const char *what, const mts_error *e)
{
    fprintf(stderr, "bench_update: %s: %s\n", what, e ? e->message : "");
    exit(1);
}

static mts_session *
make(size_t n)
{
    mts_session *s;
    char name[32];
    if (mts_session_new(&s, MTS_NEW_DEFAULT) != 0 ||
        mts_session_reserve_peers(s, n) != 0)
        exit(1);
    for (size_t i = 0; i < n; i++) {
        mts_peer p = MTS_PEER_INIT;
        p.kind = (mts_peer_kind)(i % 3);
        p.id = (int64_t)(i / 3) * 7919 + 1000;
        p.access_hash = (int64_t)(i * 0x9E3779B97F4A7C15ULL);
        snprintf(name, sizeof(name), "user%zu", i);
        p.username = i % 4 == 0 ? name : NULL;
        if (mts_session_put_peer(s, &p, NULL) != 0)
            exit(1);
    }
    return s;
}

/* One PRIMARY change through st; seconds. */
static double
one_update(mts_storage *st, int32_t *pts)
{
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    mts_error e = MTS_ERROR_INIT;
    double t0;
    c.kind = MTS_UPDATE_PRIMARY;
    c.state.pts = ++*pts;
    c.state.date = 1700000000 + *pts;
    c.state.seq = *pts / 3;
    t0 = now();
    if (mts_storage_apply_update_state(st, &c, &e) != 0)
        die("apply_update_state", &e);
    return now() - t0;
}

/* One 32-byte append to fd and fdatasync; seconds. */
static double
one_floor(int fd)
{
    static const unsigned char rec[32] = { 0x5a };
    double t0 = now();
    if (write(fd, rec, sizeof(rec)) != (ssize_t)sizeof(rec) ||
        fdatasync(fd) != 0)
        die("floor write", NULL);
    return now() - t0;
}

static long
file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    long n = -1;
    if (f != NULL && fseek(f, 0, SEEK_END) == 0)
        n = ftell(f);
    if (f != NULL)
        fclose(f);
    return n;
}

enum { NSIZES = 2, NSERIES = 1 + 2 * NSIZES };

int
main(int argc, char **argv)
{
    static const size_t sizes[NSIZES] = { 1000, 1000000 };
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    int nsizes = quick ? 1 : NSIZES;
    int runs = argc > 1 + quick ? atoi(argv[1 + quick]) : 5;
    int calls = argc > 2 + quick ? atoi(argv[2 + quick]) : 200;
    const char *base = argc > 3 + quick ? argv[3 + quick] : NULL;
    char outtmp[950], dir[1024], path[NSIZES][2][1100], floor_path[1100];
    mts_storage *st[NSIZES][2];
    mts_session *sess[NSIZES];
    double *per[NSERIES], *med[NSERIES], *tls[NSIZES];
    long snap[NSIZES];
    int32_t pts = 0;
    int fd;
    if (runs < 1 || calls < 1) {
        fprintf(stderr, "usage: bench_update [--quick] [RUNS [CALLS [DIR]]]\n");
        return 2;
    }
    if (base == NULL && getenv("MTS_BENCH_OUT") != NULL) {
        snprintf(outtmp, sizeof(outtmp), "%s/tmp", getenv("MTS_BENCH_OUT"));
        (void)mkdir(outtmp, 0700);
        base = outtmp;
    }
    if (base == NULL)
        base = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%.900s/bench_update.XXXXXX",
             base && *base ? base : "/tmp");
    if (mkdtemp(dir) == NULL)
        die("mkdtemp", NULL);
    for (int k = 0; k < NSERIES; k++) {
        per[k] = calloc((size_t)calls, sizeof(double));
        med[k] = calloc((size_t)runs, sizeof(double));
    }
    /* Store k: durable [k][0] and group commit of 100 changes [k][1]. */
    for (int k = 0; k < nsizes; k++) {
        tls[k] = calloc((size_t)runs, sizeof(double));
        sess[k] = make(sizes[k]);
        for (int g = 0; g < 2; g++) {
            mts_file_options o = MTS_FILE_OPTIONS_INIT;
            mts_error e = MTS_ERROR_INIT;
            snprintf(path[k][g], sizeof(path[k][g]), "%s/%c%zu.session", dir,
                     g ? 'g' : 's', sizes[k]);
            if (g) {
                o.flags = MTS_FILE_GROUP_COMMIT;
                o.group_commit_changes = 100;
            }
            if (mts_file_open(&st[k][g], path[k][g], &o, &e) != 0 ||
                mts_storage_save(st[k][g], sess[k], &e) != 0)
                die("save", &e);
            /* The first change of a handle reads the store (and here
             * folds: the snapshot has no id yet); it is not measured. */
            (void)one_update(st[k][g], &pts);
        }
        snap[k] = file_size(path[k][0]);
    }
    snprintf(floor_path, sizeof(floor_path), "%s/floor", dir);
    fd = open(floor_path, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC,
              0600);
    if (fd < 0)
        die("open floor file", NULL);

    for (int r = 0; r < runs; r++) {
        /* One call on each store in turn, the floor among them, so that
         * drift in the disk's latency hits every series alike. */
        for (int i = 0; i < calls; i++) {
            per[0][i] = one_floor(fd);
            for (int k = 0; k < nsizes; k++) {
                per[1 + k][i] = one_update(st[k][0], &pts);
                per[1 + NSIZES + k][i] = one_update(st[k][1], &pts);
            }
        }
        for (int k = 0; k < NSERIES; k++)
            med[k][r] = median(per[k], calls);
        /* What every change cost before the journal, and what a fold
         * costs now: one load and one save of the whole session. */
        for (int k = 0; k < nsizes; k++) {
            mts_session *back = NULL;
            mts_error e = MTS_ERROR_INIT;
            double t0 = now();
            if (mts_storage_load(&back, st[k][0], &e) != 0 ||
                mts_storage_save(st[k][0], back, &e) != 0)
                die("load+save", &e);
            tls[k][r] = now() - t0;
            mts_session_free(back);
        }
    }

    printf("# %d runs of %d interleaved calls in %s; medians\n", runs, calls,
           dir);
    printf("%-8s %11s %10s %10s %7s %11s %13s\n", "peers", "snapshot_B",
           "apply_us", "floor_us", "ratio", "group100_us", "load+save_ms");
    {
        double f = median(med[0], runs);
        for (int k = 0; k < nsizes; k++) {
            double u = median(med[1 + k], runs);
            printf("%-8zu %11ld %10.1f %10.1f %7.2f %11.2f %13.1f\n",
                   sizes[k], snap[k], u * 1e6, f * 1e6, u / f,
                   median(med[1 + NSIZES + k], runs) * 1e6,
                   median(tls[k], runs) * 1e3);
        }
    }

    close(fd);
    unlink(floor_path);
    for (int k = 0; k < nsizes; k++) {
        for (int g = 0; g < 2; g++) {
            char lock[1200];
            size_t n = strlen(path[k][g]); /* < 1100 */
            mts_storage_delete(st[k][g], NULL);
            mts_storage_free(st[k][g]);
            memcpy(lock, path[k][g], n);
            memcpy(lock + n, ".lock", sizeof(".lock"));
            unlink(lock);
        }
        mts_session_free(sess[k]);
        free(tls[k]);
    }
    rmdir(dir);
    for (int k = 0; k < NSERIES; k++) {
        free(per[k]);
        free(med[k]);
    }
    return 0;
}
