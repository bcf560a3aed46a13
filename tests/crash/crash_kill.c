/*
 * crash_kill.c - SIGKILL a writer at a random moment, for every backend
 * that stores to a local file.
 *
 * One driver, run once per backend configuration: the file backend
 * plain, the file backend sealed with a raw key (and a small journal, so
 * update-state changes often fold into a new snapshot), SQLite, SQLite
 * with sealed columns and synchronous NORMAL, and libSQL on a local file,
 * each when compiled in (mts_backend_available; a backend that is
 * compiled in is always tested, and a new backend without trials fails
 * test_available_matches_constructors). PostgreSQL keeps nothing in a
 * local file: the server rolls back the open transaction of a killed
 * client.
 *
 * A trial: a child process opens the store and runs the operation
 * sequence of the trial's seed (workload.h: whole saves of four distinct
 * full sessions, update-state changes of every kind, cached peers, DC and
 * home-DC changes), writing one byte on a pipe after each operation
 * returns. The parent kills it with SIGKILL after a random delay (in a
 * quarter of the trials without waiting for the first operation, so the
 * kill may land while the child opens the store), counts the
 * acknowledgements k, and loads the store itself. The load must succeed
 * and give exactly the model state after k operations, or after k + 1
 * (the operation in flight, whose acknowledgement the kill cut off):
 * never an error, never a mix, never an older state. The state found is
 * where the next trial starts.
 *
 * Before loading, the parent looks at what the kill left: a temp file of
 * the file backend (the kill landed inside a save), a SQLite WAL with
 * frames of a transaction that never committed (inside a write
 * transaction). These counts are printed per backend, with the kinds of
 * the operations in flight, so a run shows that kills did land mid-write.
 *
 * MTS_CRASH_TRIALS: trials per backend (default 200, about 10 s per
 * backend here); MTS_CRASH_BACKENDS: a comma-separated subset of
 * file,file-sealed,sqlite,sqlite-sealed,libsql; MTS_TEST_SEED replays the
 * operation sequences and delays of a run (the moment a kill lands still
 * depends on the machine). scripts/crash-slow.sh runs thousands of trials.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mtsession/mtsession.h"
#include "t.h"
#include "workload.h"

enum { DEFAULT_TRIALS = 200, MAX_DELAY_US = 25000, EARLY_DELAY_US = 8000 };

typedef enum store_kind { K_FILE, K_SQLITE, K_LIBSQL } store_kind;

typedef struct config {
    const char *name;  /* as printed and in MTS_CRASH_BACKENDS */
    const char *avail; /* name for mts_backend_available */
    store_kind kind;
    int sealed;
    size_t journal_max; /* file: 0 for the default */
    int sync_normal;    /* sqlite: MTS_SQLITE_SYNC_NORMAL */
} config;

typedef struct stats {
    long trials, acked, ops_by_kind[WL_KIND_COUNT];
    long inflight_by_kind[WL_KIND_COUNT], early;
    long at_last, at_inflight, errors, wrong, child_failed;
    long tmp_left, journal_present, wal_present, wal_uncommitted;
    double seconds;
} stats;

static uint64_t g_seed;
static mts_secret *g_secret;

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
open_store(mts_storage **st, const config *c, const char *path, mts_error *e)
{
    switch (c->kind) {
    case K_FILE: {
        mts_file_options o = MTS_FILE_OPTIONS_INIT;
        o.secret = c->sealed ? g_secret : NULL;
        o.journal_max_bytes = c->journal_max;
        return mts_file_open(st, path, &o, e);
    }
    case K_SQLITE:
        if (c->sealed || c->sync_normal) {
            mts_sqlite_options o = MTS_SQLITE_OPTIONS_INIT;
            o.secret = c->sealed ? g_secret : NULL;
            o.synchronous =
                c->sync_normal ? MTS_SQLITE_SYNC_NORMAL : MTS_SQLITE_SYNC_FULL;
            return mts_sqlite_open_ex(st, path, "crash", &o, e);
        }
        return mts_sqlite_open(st, path, "crash", e);
    case K_LIBSQL:
        return mts_libsql_open_local(st, path, "crash", e);
    }
    return MTS_EINVAL;
}

/* ---- what the kill left ------------------------------------------------ */

/* Entries of dir whose name contains needle. */
static int
count_entries(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL)
        n += strstr(de->d_name, needle) != NULL;
    closedir(d);
    return n;
}

static uint32_t
be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static uint32_t
word(const uint8_t *p, int big)
{
    if (big)
        return be32(p);
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 |
           p[0];
}

/* SQLite's WAL checksum over n bytes (a multiple of 8), continuing s. */
static void
wal_sum(const uint8_t *p, size_t n, int big, uint32_t s[2])
{
    for (size_t i = 0; i + 8 <= n; i += 8) {
        s[0] += word(p + i, big) + s[1];
        s[1] += word(p + i + 4, big) + s[0];
    }
}

/*
 * Look at a WAL file (docs: the SQLite file format, "WAL file format"):
 * walk the frames whose salts and running checksum continue the header's.
 * Returns 0 when there is no WAL or it holds no frames, 1 when every
 * valid frame belongs to a committed transaction, 2 when valid frames
 * follow the last commit frame (a transaction was being written).
 */
static int
wal_state(const char *wal)
{
    size_t len = 0, at, page, frames = 0, since_commit = 0;
    unsigned char *d = t_read_file(wal, &len);
    uint32_t magic, s[2] = { 0, 0 };
    int big, result;
    if (d == NULL)
        return 0;
    if (len < 32) {
        free(d);
        return 0;
    }
    magic = be32(d);
    page = be32(d + 8);
    if ((magic != 0x377f0682 && magic != 0x377f0683) || page < 512 ||
        page > 65536) {
        free(d);
        return 0;
    }
    big = magic & 1;
    wal_sum(d, 24, big, s);
    if (s[0] != be32(d + 24) || s[1] != be32(d + 28)) {
        free(d);
        return 0;
    }
    for (at = 32; at + 24 + page <= len; at += 24 + page) {
        const uint8_t *f = d + at;
        if (memcmp(f + 8, d + 16, 8) != 0)
            break; /* salts of an older generation */
        wal_sum(f, 8, big, s);
        wal_sum(f + 24, page, big, s);
        if (s[0] != be32(f + 16) || s[1] != be32(f + 20))
            break;
        frames++;
        since_commit = be32(f + 4) != 0 ? 0 : since_commit + 1;
    }
    result = frames == 0 ? 0 : since_commit > 0 ? 2 : 1;
    free(d);
    return result;
}

/* ---- one backend ------------------------------------------------------- */

/* The model state after `n` operations of `seed` from `start`. */
static mts_session *
state_after(const mts_session *start,
            uint64_t seed,
            long n,
            mts_session *const *full)
{
    mts_session *s = wl_dup(start);
    for (long i = 0; i < n; i++) {
        wl_op op;
        wl_make(&op, seed, (uint64_t)i, &wl_mix_default);
        if (wl_apply_model(&s, &op, full) != 0) {
            fprintf(stderr, "  the model refused operation %ld\n", i);
            exit(2);
        }
    }
    return s;
}

static void
child(const config *c,
      const char *path,
      uint64_t seed,
      mts_session *const *full,
      int report)
{
    mts_storage *st = NULL;
    mts_error e = MTS_ERROR_INIT;
    if (open_store(&st, c, path, &e) != 0) {
        fprintf(stderr, "  child: open: %s\n", e.message);
        _exit(3);
    }
    for (uint64_t i = 0;; i++) {
        wl_op op;
        wl_make(&op, seed, i, &wl_mix_default);
        if (wl_apply_storage(st, &op, full, &e) != 0) {
            fprintf(stderr, "  child: operation %llu (%s): %s\n",
                    (unsigned long long)i, wl_kind_name(op.kind), e.message);
            _exit(4);
        }
        if (write(report, "a", 1) != 1)
            _exit(5);
    }
}

/* Read acknowledgements until `deadline` or EOF, or with `one` until the
 * first read that gets any; adds them to *acks. */
static void
drain(int fd, double deadline, int one, long *acks)
{
    char buf[4096];
    for (;;) {
        double left = deadline - now_s();
        struct pollfd p = { fd, POLLIN, 0 };
        ssize_t n;
        int r;
        if (left <= 0)
            return;
        r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return;
        n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            return;
        *acks += n;
        if (one)
            return;
    }
}

static void
print_stats(const config *c, const stats *s)
{
    printf("%s: %ld trials in %.1f s; %ld operations acknowledged (", c->name,
           s->trials, s->seconds, s->acked);
    for (int k = 0; k < WL_KIND_COUNT; k++)
        if (s->ops_by_kind[k])
            printf("%s%s %ld", k ? ", " : "", wl_kind_name((wl_kind)k),
                   s->ops_by_kind[k]);
    printf(")\n  operation in flight at the kill:");
    for (int k = 0; k < WL_KIND_COUNT; k++)
        if (s->inflight_by_kind[k])
            printf(" %s %ld", wl_kind_name((wl_kind)k), s->inflight_by_kind[k]);
    printf(" (%ld kills before the first acknowledgement)\n", s->early);
    if (c->kind == K_FILE)
        printf("  mid-write: temp file left by the kill in %ld trials; "
               "journal present in %ld\n",
               s->tmp_left, s->journal_present);
    else
        printf("  mid-write: WAL with an uncommitted transaction in %ld "
               "trials; WAL with committed frames to recover in %ld\n",
               s->wal_uncommitted, s->wal_present);
    printf("  results: %ld loads as of the last acknowledged operation, %ld "
           "with the operation in flight applied, %ld errors, %ld wrong "
           "states, %ld child failures\n",
           s->at_last, s->at_inflight, s->errors, s->wrong, s->child_failed);
    fflush(stdout);
}

static int
selected(const char *name)
{
    const char *env = getenv("MTS_CRASH_BACKENDS"), *p;
    size_t n = strlen(name);
    if (env == NULL || *env == '\0')
        return 1;
    for (p = env; (p = strstr(p, name)) != NULL; p += n)
        if ((p == env || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
            return 1;
    return 0;
}

static void
run_config(const config *c, uint64_t salt)
{
    long trials = wl_env_long("MTS_CRASH_TRIALS", DEFAULT_TRIALS);
    uint64_t rng = g_seed ^ (salt * 0x9e3779b97f4a7c15u);
    mts_session *full[WL_FULL_COUNT], *cur;
    mts_storage *st = NULL;
    mts_error e = MTS_ERROR_INIT;
    char dir[PATH_MAX - 64], path[PATH_MAX], wal[PATH_MAX + 8];
    stats s;
    double t0 = now_s();
    int rc;
    if (!mts_backend_available(c->avail)) {
        printf("%s: not compiled in\n", c->name);
        t_skip("backend not compiled in");
        return;
    }
    if (!selected(c->name)) {
        printf("%s: not in MTS_CRASH_BACKENDS\n", c->name);
        t_skip("not selected");
        return;
    }
    memset(&s, 0, sizeof(s));
    wl_full_all(full);
    snprintf(dir, sizeof(dir), "%s/%s", t_tmpdir(), c->name);
    if (mkdir(dir, 0700) != 0) {
        t_fail(__FILE__, __LINE__, "mkdir %s: %s", dir, strerror(errno));
        wl_free_full(full);
        return;
    }
    snprintf(path, sizeof(path), "%s/store", dir);
    snprintf(wal, sizeof(wal), "%s-wal", path);
    rc = open_store(&st, c, path, &e);
    T_EQ_INT(rc, 0);
    if (rc == 0)
        T_EQ_INT(mts_storage_save(st, full[0], &e), 0);
    mts_storage_free(st);
    if (t_case_failed) {
        fprintf(stderr, "  %s: %s\n", c->name, e.message);
        wl_free_full(full);
        return;
    }
    cur = wl_dup(full[0]);

    for (long trial = 0; trial < trials && !t_case_failed; trial++) {
        uint64_t tseed = wl_next(&rng);
        int early = wl_next(&rng) % 4 == 0;
        long delay =
            (long)(wl_next(&rng) % (early ? EARLY_DELAY_US : MAX_DELAY_US));
        mts_session *last = NULL, *next = NULL, *got = NULL;
        long acks = 0;
        int fds[2], status = 0, ws;
        wl_op inflight;
        pid_t pid;
        if (pipe(fds) != 0) {
            t_fail(__FILE__, __LINE__, "pipe: %s", strerror(errno));
            break;
        }
        fflush(NULL);
        pid = fork();
        if (pid == 0) {
            close(fds[0]);
            child(c, path, tseed, full, fds[1]);
        }
        close(fds[1]);
        if (pid < 0) {
            t_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
            close(fds[0]);
            break;
        }
        if (!early) {
            /* Wait (up to 20 s) for the first operation to return. */
            drain(fds[0], now_s() + 20.0, 1, &acks);
        }
        drain(fds[0], now_s() + (double)delay / 1e6, 0, &acks);
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        drain(fds[0], now_s() + 5.0, 0, &acks); /* to EOF */
        close(fds[0]);
        ws = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
        if (!ws) {
            s.child_failed++;
            t_fail(__FILE__, __LINE__,
                   "%s trial %ld: the child ended on its own (status 0x%x) "
                   "after %ld operations",
                   c->name, trial, status, acks);
        }
        s.trials++;
        s.acked += acks;
        if (early && acks == 0)
            s.early++;
        for (long i = 0; i < acks; i++) {
            wl_op op;
            wl_make(&op, tseed, (uint64_t)i, &wl_mix_default);
            s.ops_by_kind[op.kind]++;
        }
        wl_make(&inflight, tseed, (uint64_t)acks, &wl_mix_default);
        s.inflight_by_kind[inflight.kind]++;

        /* What the kill left, before anyone opens the store. */
        if (c->kind == K_FILE) {
            char jpath[PATH_MAX + 16];
            struct stat sb;
            s.tmp_left += count_entries(dir, ".tmp.") > 0;
            snprintf(jpath, sizeof(jpath), "%s.journal", path);
            s.journal_present += lstat(jpath, &sb) == 0;
        } else {
            int w = wal_state(wal);
            s.wal_present += w >= 1;
            s.wal_uncommitted += w == 2;
        }

        last = state_after(cur, tseed, acks, full);
        next = wl_dup(last);
        if (wl_apply_model(&next, &inflight, full) != 0) {
            t_fail(__FILE__, __LINE__, "the model refused an operation");
            exit(2);
        }
        rc = open_store(&st, c, path, &e);
        if (rc == 0)
            rc = mts_storage_load(&got, st, &e);
        mts_storage_free(st);
        st = NULL;
        if (rc != 0) {
            s.errors++;
            t_fail(__FILE__, __LINE__,
                   "%s trial %ld (trial seed %llu): load after %ld "
                   "acknowledged operations failed: %s: %s",
                   c->name, trial, (unsigned long long)tseed, acks,
                   mts_errname(rc), e.message);
        } else if (wl_same(got, last)) {
            s.at_last++;
        } else if (wl_same(got, next)) {
            s.at_inflight++;
        } else {
            long match = -1;
            for (long j = 0; j <= acks + 3 && match < 0; j++) {
                mts_session *x = state_after(cur, tseed, j, full);
                if (wl_same(got, x))
                    match = j;
                mts_session_free(x);
            }
            s.wrong++;
            t_fail(__FILE__, __LINE__,
                   "%s trial %ld (trial seed %llu): %ld operations "
                   "acknowledged, %s in flight; the store holds %s%ld",
                   c->name, trial, (unsigned long long)tseed, acks,
                   wl_kind_name(inflight.kind),
                   match >= 0 ? "the state after operation "
                              : "no state of the sequence ",
                   match);
        }
        mts_session_free(cur);
        cur = rc == 0 ? got : wl_dup(last);
        if (rc != 0)
            mts_session_free(got);
        mts_session_free(last);
        mts_session_free(next);
    }
    s.seconds = now_s() - t0;
    print_stats(c, &s);
    if (!t_case_failed && s.trials > 20) {
        /* The kills landed inside the loop, not all before or after it. */
        T_CHECK(s.acked > s.trials);
        T_CHECK(s.at_last > 0);
    }

    /* The next writer clears what the kills left. */
    if (!t_case_failed && c->kind == K_FILE) {
        T_EQ_INT(open_store(&st, c, path, &e), 0);
        T_EQ_INT(mts_storage_save(st, cur, &e), 0);
        T_EQ_INT(count_entries(dir, ".tmp."), 0);
        mts_storage_free(st);
    }
    mts_session_free(cur);
    wl_free_full(full);
}

/* ---- the cases --------------------------------------------------------- */

static void
setup(void)
{
    static int done;
    uint8_t key[MTS_SEAL_KEY_SIZE];
    if (done)
        return;
    done = 1;
    g_seed = wl_seed();
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)(i * 11 + 3);
    if (mts_secret_from_key(&g_secret, key, NULL) != 0) {
        fprintf(stderr, "mts_secret_from_key failed\n");
        exit(2);
    }
    signal(SIGPIPE, SIG_IGN);
}

static void
test_file(void)
{
    static const config c = { "file", "file", K_FILE, 0, 0, 0 };
    setup();
    run_config(&c, 1);
}

static void
test_file_sealed(void)
{
    /* A small journal: about one change in eight folds. */
    static const config c = { "file-sealed", "file", K_FILE, 1, 256, 0 };
    setup();
    run_config(&c, 2);
}

static void
test_sqlite(void)
{
    static const config c = { "sqlite", "sqlite", K_SQLITE, 0, 0, 0 };
    setup();
    run_config(&c, 3);
}

/* Sealed columns, and synchronous NORMAL, which gives up durability
 * against power loss but promises that a process crash loses nothing. */
static void
test_sqlite_sealed(void)
{
    static const config c = { "sqlite-sealed", "sqlite", K_SQLITE, 1, 0, 1 };
    setup();
    run_config(&c, 5);
}

static void
test_libsql(void)
{
    static const config c = { "libsql", "libsql", K_LIBSQL, 0, 0, 0 };
    setup();
    run_config(&c, 4);
}

/* A compiled-in backend must not claim to be missing, and the other way
 * round: the skips above rely on it. */
static void
test_available_matches_constructors(void)
{
    static const struct {
        const char *name;
        store_kind kind;
    } list[] = { { "sqlite", K_SQLITE }, { "libsql", K_LIBSQL } };
    setup();
    for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++) {
        config c = { list[i].name, list[i].name, list[i].kind, 0, 0, 0 };
        char path[PATH_MAX];
        mts_storage *st = NULL;
        mts_error e = MTS_ERROR_INIT;
        int rc;
        snprintf(path, sizeof(path), "%s/avail-%s.db", t_tmpdir(),
                 list[i].name);
        rc = open_store(&st, &c, path, &e);
        if (mts_backend_available(list[i].name))
            T_EQ_INT(rc, 0);
        else
            T_EQ_INT(rc, MTS_ENOTSUPPORTED);
        mts_storage_free(st);
    }
    printf("backends compiled in:");
    for (const char *const *b = mts_backend_list(); *b != NULL; b++)
        printf(" %s", *b);
    printf("\n");
    /* Backends that keep nothing on a local file have nothing for a
     * killed process to tear; any other new backend belongs here. */
    for (const char *const *b = mts_backend_list(); *b != NULL; b++) {
        static const char *const known[] = { "file",   "memory", "string",
                                             "sqlite", "libsql", "postgres" };
        int found = 0;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            found |= strcmp(*b, known[i]) == 0;
        if (!found)
            t_fail(__FILE__, __LINE__,
                   "backend \"%s\" is compiled in but has no crash trials", *b);
    }
}

T_MAIN(T_CASE(test_available_matches_constructors),
       T_CASE(test_file),
       T_CASE(test_file_sealed),
       T_CASE(test_sqlite),
       T_CASE(test_sqlite_sealed),
       T_CASE(test_libsql))
