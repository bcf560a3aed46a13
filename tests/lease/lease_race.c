/*
 * lease_race.c - many processes and one session file's lease.
 *
 * test_race: WORKERS processes race for the lease for RACE_MS with short
 * time-to-lives. A winner holds it for a few writes (apply_update_state
 * setting pts to a value that names the worker and the write), renewing
 * now and then, and then releases it, or stalls past its time-to-live
 * and tries one more write, which must be fenced off. Each worker logs
 * its tenures and every write with monotonic times; the parent reads the
 * session all the while. Checked afterwards:
 *   - tenures never overlap, and their epochs rise in time order. A
 *     tenure runs from the return of acquire to the start of the last
 *     call that succeeded under it: the lease was held all along, since a
 *     takeover in between would have failed that call;
 *   - every accepted write lies in exactly one tenure, its writer's;
 *   - every write after a stall is MTS_EFENCED;
 *   - the session only ever shows accepted values, and in the end the
 *     last accepted one.
 *
 * test_stopped_holder: a holder writing in a loop is stopped (SIGSTOP,
 * outside its critical section: the parent holds the lock while it stops
 * it) for longer than its time-to-live; another owner takes the lease and
 * writes; every write and renewal the old holder starts after SIGCONT is
 * MTS_EFENCED, and the store's files stay byte for byte the new holder's.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/test_clock.h"
#include "../file/helpers.h"
#include "mtsession/mtsession.h"
#include "t.h"

#define WORKERS     8
#define RACE_MS     3000
#define MAX_LOG     20000
#define MAX_TENURES 4000
#define MAX_SEEN    100000
/* The stopped holder's time-to-live; it renews every 100 ms. */
#define STOPPER_TTL_MS 1000

static int
set_pts(mts_storage *st, int32_t pts, mts_error *err)
{
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    c.kind = MTS_UPDATE_PRIMARY;
    c.state.pts = pts;
    c.state.date = 1700000000;
    c.state.seq = 1;
    return mts_storage_apply_update_state(st, &c, err);
}

static int32_t
load_pts(mts_storage *st, int *rc)
{
    mts_session *s = NULL;
    mts_update_state us;
    *rc = mts_storage_load(&s, st, NULL);
    if (*rc != 0)
        return -1;
    mts_session_update_state(s, &us);
    mts_session_free(s);
    return us.pts;
}

typedef struct wlog {
    int worker;
    int stale; /* tried after a stall past the time-to-live */
    int rc;
    int32_t value;
    uint64_t epoch;
    int64_t t0, t1;
} wlog;

typedef struct tenure {
    int worker;
    uint64_t epoch;
    int64_t start, end;
} tenure;

typedef struct wresult {
    int nlog, nten, unexpected, stale_accepted;
    wlog log[MAX_LOG];
    tenure ten[MAX_TENURES];
} wresult;

static void
log_path(char *buf, size_t size, const char *what, int i)
{
    snprintf(buf, size, "%s/%s-%d.bin", t_tmpdir(), what, i);
}

static void
worker(int i, const char *path, int64_t deadline)
{
    static wresult r;
    mts_storage *st = NULL;
    mts_error err = MTS_ERROR_INIT;
    char owner[32], out[PATH_MAX];
    unsigned int seed = (unsigned int)(i * 7919 + getpid());
    int32_t seq = 0;
    FILE *f;
    memset(&r, 0, sizeof(r));
    snprintf(owner, sizeof(owner), "worker-%d", i);
    if (mts_file_open(&st, path, NULL, &err) != 0)
        _exit(3);
    while (tc_mono_ns() < deadline && r.nlog < MAX_LOG - 20 &&
           r.nten < MAX_TENURES) {
        mts_lease l = MTS_LEASE_INIT;
        uint32_t ttl = 40 + (uint32_t)(rand_r(&seed) % 60);
        tenure t;
        int k, rc, lost = 0;
        rc = mts_lease_acquire(&l, st, owner, ttl, &err);
        if (rc == MTS_ELOCKED) {
            tc_sleep_us(rand_r(&seed) % 3000);
            continue;
        }
        if (rc != 0) {
            fprintf(stderr, "  worker %d: acquire: %s\n", i, err.message);
            r.unexpected++;
            continue;
        }
        t.worker = i;
        t.epoch = l.epoch;
        t.start = t.end = tc_mono_ns();
        k = 1 + rand_r(&seed) % 6;
        for (int j = 0; j < k && !lost; j++) {
            wlog *w = &r.log[r.nlog++];
            w->worker = i;
            w->stale = 0;
            w->epoch = l.epoch;
            w->value = (i + 1) * 1000000 + ++seq;
            w->t0 = tc_mono_ns();
            w->rc = set_pts(st, w->value, &err);
            w->t1 = tc_mono_ns();
            if (w->rc == 0) {
                t.end = w->t0;
            } else if (w->rc == MTS_EFENCED) {
                lost = 1; /* a stall of the scheduler past the ttl */
            } else {
                fprintf(stderr, "  worker %d: write: %s\n", i, err.message);
                r.unexpected++;
                lost = 1;
            }
            tc_sleep_us(rand_r(&seed) % (ttl * 250));
            if (!lost && rand_r(&seed) % 3 == 0) {
                int64_t t0 = tc_mono_ns();
                rc = mts_lease_renew(&l, st, ttl, &err);
                if (rc == 0)
                    t.end = t0;
                else if (rc == MTS_EFENCED)
                    lost = 1;
                else
                    r.unexpected++;
            }
        }
        if (!lost && rand_r(&seed) % 5 == 0) {
            /* stall past the lease, then write: never accepted */
            wlog *w = &r.log[r.nlog++];
            tc_sleep_us((long)ttl * 1000 + 20000);
            w->worker = i;
            w->stale = 1;
            w->epoch = l.epoch;
            w->value = (i + 1) * 1000000 + ++seq;
            w->t0 = tc_mono_ns();
            w->rc = set_pts(st, w->value, &err);
            w->t1 = tc_mono_ns();
            if (w->rc != MTS_EFENCED)
                r.stale_accepted++;
        } else if (!lost) {
            int64_t t0 = tc_mono_ns();
            rc = mts_lease_release(st, &err);
            if (rc == 0)
                t.end = t0;
            else if (rc != MTS_EFENCED)
                r.unexpected++;
        }
        r.ten[r.nten++] = t;
        tc_sleep_us(rand_r(&seed) % 2000);
    }
    mts_storage_free(st);
    log_path(out, sizeof(out), "race", i);
    f = fopen(out, "wb");
    if (f == NULL || fwrite(&r, sizeof(r), 1, f) != 1 || fclose(f) != 0)
        _exit(4);
    _exit(r.unexpected == 0 && r.stale_accepted == 0 ? 0 : 5);
}

static int
by_start(const void *a, const void *b)
{
    const tenure *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static void
test_race(void)
{
    static wresult r[WORKERS];
    static tenure all[WORKERS * MAX_TENURES];
    static int32_t seen[MAX_SEEN];
    char d[PATH_MAX], path[PATH_MAX];
    mts_storage *st = NULL, *rd = NULL;
    mts_session *s = h_session(1);
    mts_error err = MTS_ERROR_INIT;
    pid_t pids[WORKERS];
    int64_t deadline, last_t0 = 0;
    int32_t last_value = 0, init_pts, final_pts;
    int nseen = 0, nall = 0, load_errors = 0, accepted = 0, fenced = 0,
        stale = 0, rc;
    int holders[WORKERS] = { 0 };

    h_dir("race", d, sizeof(d));
    h_join(path, sizeof(path), d, "s.session");
    T_EQ_INT(mts_file_open(&st, path, NULL, &err), 0);
    T_EQ_INT(mts_storage_save(st, s, &err), 0);
    mts_storage_free(st);
    T_EQ_INT(mts_file_open(&rd, path, NULL, &err), 0);
    mts_storage_set_readonly(rd);
    init_pts = load_pts(rd, &rc);

    deadline = tc_mono_ns() + (int64_t)RACE_MS * 1000000;
    fflush(NULL);
    for (int i = 0; i < WORKERS; i++) {
        pids[i] = fork();
        T_CHECK(pids[i] >= 0);
        if (pids[i] == 0)
            worker(i, path, deadline);
    }
    /* The parent reads all along: never a value nobody was allowed to
     * write. */
    while (tc_mono_ns() < deadline) {
        int32_t v = load_pts(rd, &rc);
        if (rc != 0)
            load_errors++;
        else if (nseen < MAX_SEEN && (nseen == 0 || seen[nseen - 1] != v))
            seen[nseen++] = v;
        tc_sleep_us(1000);
    }
    for (int i = 0; i < WORKERS; i++) {
        int status = 0;
        char lp[PATH_MAX];
        FILE *f;
        T_EQ_INT(waitpid(pids[i], &status, 0), pids[i]);
        T_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fprintf(stderr, "  worker %d: status 0x%x\n", i, status);
        log_path(lp, sizeof(lp), "race", i);
        f = fopen(lp, "rb");
        T_CHECK(f != NULL && fread(&r[i], sizeof(r[i]), 1, f) == 1);
        if (f != NULL)
            fclose(f);
    }
    T_EQ_INT(load_errors, 0);

    /* tenures: disjoint, epochs rising with time */
    for (int i = 0; i < WORKERS; i++)
        for (int k = 0; k < r[i].nten; k++) {
            all[nall++] = r[i].ten[k];
            holders[i]++;
        }
    qsort(all, (size_t)nall, sizeof(all[0]), by_start);
    for (int k = 1; k < nall; k++) {
        T_CHECK(all[k - 1].end < all[k].start);
        T_CHECK(all[k - 1].epoch < all[k].epoch);
        if (t_case_failed) {
            fprintf(stderr,
                    "  tenure %d: worker %d epoch %llu [%lld, %lld] then "
                    "worker %d epoch %llu [%lld, %lld]\n",
                    k, all[k - 1].worker, (unsigned long long)all[k - 1].epoch,
                    (long long)all[k - 1].start, (long long)all[k - 1].end,
                    all[k].worker, (unsigned long long)all[k].epoch,
                    (long long)all[k].start, (long long)all[k].end);
            break;
        }
    }
    /* every accepted write in exactly one tenure: its writer's */
    for (int i = 0; i < WORKERS; i++)
        for (int k = 0; k < r[i].nlog; k++) {
            const wlog *w = &r[i].log[k];
            int in = 0, mine = 0;
            if (w->stale) {
                stale++;
                T_EQ_INT(w->rc, MTS_EFENCED);
            }
            if (w->rc != 0) {
                fenced++;
                continue;
            }
            accepted++;
            for (int t = 0; t < nall; t++)
                if (all[t].start <= w->t0 && w->t0 <= all[t].end) {
                    in++;
                    mine +=
                        all[t].worker == w->worker && all[t].epoch == w->epoch;
                }
            T_EQ_INT(in, 1);
            T_EQ_INT(mine, 1);
            if (w->t0 > last_t0) {
                last_t0 = w->t0;
                last_value = w->value;
            }
        }
    /* what the reader saw was written by a holder */
    for (int k = 0; k < nseen; k++) {
        int ok = seen[k] == init_pts;
        for (int i = 0; i < WORKERS && !ok; i++)
            for (int j = 0; j < r[i].nlog && !ok; j++)
                ok = r[i].log[j].rc == 0 && r[i].log[j].value == seen[k];
        T_CHECK(ok);
        if (!ok) {
            fprintf(stderr, "  the session showed %d, never accepted\n",
                    (int)seen[k]);
            break;
        }
    }
    final_pts = load_pts(rd, &rc);
    T_EQ_INT(rc, 0);
    T_EQ_INT(final_pts, last_value);
    /* the race was a race */
    T_CHECK(nall >= 20);
    T_CHECK(accepted >= 40);
    T_CHECK(stale >= 3);
    T_CHECK(nseen >= 5);
    {
        int n = 0;
        for (int i = 0; i < WORKERS; i++)
            n += holders[i] > 0;
        T_CHECK(n >= WORKERS / 2);
    }
    if (t_case_failed || getenv("MTS_TEST_VERBOSE"))
        fprintf(stderr,
                "  %d tenures, %d writes accepted, %d fenced (%d after a "
                "stall), %d values seen\n",
                nall, accepted, fenced, stale, nseen);
    mts_storage_free(rd);
    mts_session_free(s);
}

/* ---- a stopped holder ---------------------------------------------------- */

typedef struct attempt {
    int rc;
    int renew;
    int64_t t0, t1;
} attempt;

static void
stopper(const char *path, int ready_fd, int64_t deadline)
{
    static attempt a[MAX_LOG];
    mts_storage *st = NULL;
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    int n = 0, k = 0;
    int64_t last_renew;
    char out[PATH_MAX];
    FILE *f;
    if (mts_file_open(&st, path, NULL, &err) != 0 ||
        mts_lease_acquire(&l, st, "stopper", STOPPER_TTL_MS, &err) != 0)
        _exit(3);
    last_renew = tc_mono_ns();
    if (write(ready_fd, "r", 1) != 1)
        _exit(3);
    while (tc_mono_ns() < deadline && n < MAX_LOG - 2) {
        attempt *w = &a[n++];
        w->renew = 0;
        w->t0 = tc_mono_ns();
        w->rc = set_pts(st, 900000 + ++k, &err);
        w->t1 = tc_mono_ns();
        if (tc_mono_ns() - last_renew > 100000000) {
            w = &a[n++];
            w->renew = 1;
            w->t0 = tc_mono_ns();
            w->rc = mts_lease_renew(&l, st, STOPPER_TTL_MS, &err);
            w->t1 = tc_mono_ns();
            last_renew = w->t0;
        }
        tc_sleep_us(1000);
    }
    mts_storage_free(st);
    log_path(out, sizeof(out), "stopper", 0);
    f = fopen(out, "wb");
    if (f == NULL || fwrite(&n, sizeof(n), 1, f) != 1 ||
        fwrite(a, sizeof(a[0]), (size_t)n, f) != (size_t)n || fclose(f) != 0)
        _exit(4);
    _exit(0);
}

static void
test_stopped_holder(void)
{
    static attempt a[MAX_LOG];
    char d[PATH_MAX], path[PATH_MAX], lockp[PATH_MAX + 8], lp[PATH_MAX];
    char jp[PATH_MAX + 16], rp[PATH_MAX + 16];
    mts_storage *st = NULL;
    mts_session *s = h_session(2);
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    struct flock fl;
    int pipefd[2], fd, status = 0, n = 0, before = 0, after = 0;
    int64_t t_stop, t_cont;
    unsigned char *snap0, *j0, *r0, *snap1, *j1, *r1;
    size_t ns0 = 0, nj0 = 0, nr0 = 0, ns1 = 0, nj1 = 0, nr1 = 0;
    char c;
    pid_t pid;
    FILE *f;

    h_dir("stopped", d, sizeof(d));
    h_join(path, sizeof(path), d, "s.session");
    snprintf(lockp, sizeof(lockp), "%s.lock", path);
    snprintf(jp, sizeof(jp), "%s.journal", path);
    snprintf(rp, sizeof(rp), "%s.lease", path);
    T_EQ_INT(mts_file_open(&st, path, NULL, &err), 0);
    T_EQ_INT(mts_storage_save(st, s, &err), 0);
    mts_storage_free(st);
    st = NULL;

    T_EQ_INT(pipe(pipefd), 0);
    fflush(NULL);
    pid = fork();
    T_CHECK(pid >= 0);
    if (pid == 0) {
        close(pipefd[0]);
        stopper(path, pipefd[1], tc_mono_ns() + 2200000000LL);
    }
    close(pipefd[1]);
    T_EQ_INT(read(pipefd[0], &c, 1), 1);
    close(pipefd[0]);
    tc_sleep_us(150000); /* it writes and renews */

    /* Stop it outside its critical section: hold the lock meanwhile. */
    fd = open(lockp, O_RDWR | O_CLOEXEC);
    T_CHECK(fd >= 0);
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    T_EQ_INT(fcntl(fd, F_OFD_SETLKW, &fl), 0);
    T_EQ_INT(kill(pid, SIGSTOP), 0);
    T_EQ_INT(waitpid(pid, &status, WUNTRACED), pid);
    T_CHECK(WIFSTOPPED(status));
    t_stop = tc_mono_ns();
    close(fd);

    /* Past its time-to-live another owner takes over and writes. */
    tc_sleep_us(STOPPER_TTL_MS * 1000 + 300000);
    T_EQ_INT(mts_file_open(&st, path, NULL, &err), 0);
    T_EQ_INT(mts_lease_acquire(&l, st, "taker", 30000, &err), 0);
    T_EQ_U64(l.epoch, 2);
    T_EQ_INT(set_pts(st, 5, &err), 0);
    snap0 = t_read_file(path, &ns0);
    j0 = t_read_file(jp, &nj0);
    r0 = t_read_file(rp, &nr0);
    t_cont = tc_mono_ns();
    T_EQ_INT(kill(pid, SIGCONT), 0);
    T_EQ_INT(waitpid(pid, &status, 0), pid);
    T_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    log_path(lp, sizeof(lp), "stopper", 0);
    f = fopen(lp, "rb");
    T_CHECK(f != NULL && fread(&n, sizeof(n), 1, f) == 1 && n > 0 &&
            n <= MAX_LOG && fread(a, sizeof(a[0]), (size_t)n, f) == (size_t)n);
    if (f != NULL)
        fclose(f);
    for (int k = 0; k < n; k++) {
        if (a[k].t1 < t_stop) {
            before += a[k].rc == 0;
            T_EQ_INT(a[k].rc, 0);
        } else if (a[k].t0 > t_stop) {
            /* started after the stop, so after SIGCONT (the one in flight
             * at the stop, if any, may have returned before it: its end
             * was timed after; it is judged by the bytes below) */
            after++;
            T_EQ_INT(a[k].rc, MTS_EFENCED);
            if (a[k].rc != MTS_EFENCED)
                fprintf(stderr,
                        "  attempt %d (%s) [%lld, %lld]: %d; stop "
                        "%lld, cont %lld\n",
                        k, a[k].renew ? "renew" : "write", (long long)a[k].t0,
                        (long long)a[k].t1, a[k].rc, (long long)t_stop,
                        (long long)t_cont);
        }
    }
    T_CHECK(before >= 10);
    T_CHECK(after >= 10);

    /* Not one byte of the stopped holder's reached the store. */
    snap1 = t_read_file(path, &ns1);
    j1 = t_read_file(jp, &nj1);
    r1 = t_read_file(rp, &nr1);
    T_CHECK(snap0 && snap1 && ns0 == ns1 && memcmp(snap0, snap1, ns0) == 0);
    T_CHECK(j0 && j1 && nj0 == nj1 && memcmp(j0, j1, nj0) == 0);
    T_CHECK(r0 && r1 && nr0 == nr1 && memcmp(r0, r1, nr0) == 0);
    {
        mts_session *got = NULL;
        mts_update_state us;
        T_EQ_INT(mts_storage_load(&got, st, &err), 0);
        if (got != NULL) {
            mts_session_update_state(got, &us);
            T_EQ_INT(us.pts, 5);
            mts_session_free(got);
        }
    }
    T_EQ_INT(mts_lease_release(st, &err), 0);
    free(snap0);
    free(j0);
    free(r0);
    free(snap1);
    free(j1);
    free(r1);
    mts_storage_free(st);
    mts_session_free(s);
}

T_MAIN(T_CASE(test_race), T_CASE(test_stopped_holder))
