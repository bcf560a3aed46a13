/*
 * sql_lease_contention.c - eight processes race for one session's lease in
 * one SQLite file for about three seconds, with 150 ms leases.
 *
 * A worker loops: acquire (a short random pause when refused); as holder,
 * cache two peers (ids unique to the worker, access_hash = epoch) and
 * replace the update state with 12 channels whose pts are all the epoch
 * (apply_update_state ALL); renew; release. It logs to its own file every
 * tenure (epoch; acquired and last-used times on CLOCK_MONOTONIC, which
 * all processes share, and on the wall clock) and every write's result.
 *
 * Worker 0 stops itself (SIGSTOP) in its first tenure. The parent keeps
 * it stopped until the lease has passed to another owner, then resumes
 * it: every write it tries then (save, the four update kinds, cache_peer,
 * update_dc, set_home_dc, delete), its renew and its release must be
 * MTS_EFENCED, and none may show in the store.
 *
 * The parent then checks: epochs rise strictly with acquisition; each
 * tenure began after the previous one's last successful operation began
 * (monotonic, and never earlier on the wall clock); every acknowledged
 * peer is stored with its tenure's epoch and no refused one is; the
 * channel list is whole (12 rows, all the epoch of the last acknowledged
 * ALL); the lease's epoch is the last tenure's.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixtures.h"
#include "helpers.h"
#include "t.h"

enum { WORKERS = 8, CHANNELS = 12, TTL_MS = 150, RUN_MS = 3000 };
#define NAME "race"
#define MAX_TENURES 4096
#define MAX_PEERS 16384

static int64_t
mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t
wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
nap_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static const char *
log_path(int w)
{
    static char buf[8][64];
    static int i;
    char name[32];
    snprintf(name, sizeof(name), "w%d.log", w);
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof(buf[i]), "%s", h_path(name));
    return buf[i];
}

/* Worker 0's writes after it was resumed: all must be fenced. */
static void
stale_writes(FILE *log, mts_storage *st, int64_t epoch)
{
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = fx_session("small");
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    mts_channel_pts ch = { 9999, 1 };
    mts_peer p = MTS_PEER_INIT;
    mts_dc dc = MTS_DC_INIT;
    mts_lease l = MTS_LEASE_INIT;
    int rc[12], n = 0;
    p.id = 900000001;
    p.access_hash = epoch;
    rc[n++] = mts_storage_save(st, s, &err);
    c.channels = &ch;
    c.channel_count = 1;
    c.state.pts = -7;
    rc[n++] = mts_storage_apply_update_state(st, &c, &err);
    c.kind = MTS_UPDATE_PRIMARY;
    rc[n++] = mts_storage_apply_update_state(st, &c, &err);
    c.kind = MTS_UPDATE_SECONDARY;
    c.state.qts = -7;
    rc[n++] = mts_storage_apply_update_state(st, &c, &err);
    c.kind = MTS_UPDATE_CHANNEL;
    c.channel_id = 9998;
    c.channel_pts = 1;
    rc[n++] = mts_storage_apply_update_state(st, &c, &err);
    rc[n++] = mts_storage_cache_peer(st, &p, &err);
    (void)mts_session_dc_at(&dc, s, 0);
    dc.port = 1;
    rc[n++] = mts_storage_update_dc(st, &dc, &err);
    rc[n++] = mts_storage_set_home_dc(st, 5, &err);
    rc[n++] = mts_storage_delete(st, &err);
    rc[n++] = mts_lease_renew(&l, st, TTL_MS, &err);
    rc[n++] = mts_lease_release(st, &err);
    for (int i = 0; i < n; i++)
        fprintf(log, "F %d %d\n", i, rc[i]);
    mts_session_free(s);
}

static int
worker(int w, int64_t deadline_ns)
{
    FILE *log = fopen(log_path(w), "w");
    mts_storage *st = NULL;
    mts_error err = MTS_ERROR_INIT;
    char owner[16];
    uint64_t rng = (uint64_t)getpid() * 0x9e3779b97f4a7c15u;
    long seq = 0;
    int stopped = 0;
    if (log == NULL || mts_sqlite_open(&st, h_path("race.db"), NAME, &err))
        return 2;
    snprintf(owner, sizeof(owner), "worker-%d", w);
    while (mono_ns() < deadline_ns) {
        mts_lease l = MTS_LEASE_INIT;
        mts_update_change c = MTS_UPDATE_CHANGE_INIT;
        mts_channel_pts ch[CHANNELS];
        int64_t acq_ns, acq_ms, last_ns, last_ms, t0;
        int rc = mts_lease_acquire(&l, st, owner, TTL_MS, &err);
        if (rc == MTS_ELOCKED) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            nap_us(500 + (long)(rng % 3000));
            continue;
        }
        if (rc != 0) {
            fprintf(log, "E acquire %d %s\n", rc, err.message);
            break;
        }
        acq_ns = mono_ns();
        acq_ms = wall_ms();
        last_ns = acq_ns;
        last_ms = acq_ms;
        for (int i = 0; i < 2; i++) {
            mts_peer p = MTS_PEER_INIT;
            p.id = (int64_t)(w + 1) * 1000000 + ++seq;
            p.access_hash = (int64_t)l.epoch;
            t0 = mono_ns();
            rc = mts_storage_cache_peer(st, &p, &err);
            fprintf(log, "P %lld %llu %d\n", (long long)p.id,
                    (unsigned long long)l.epoch, rc);
            if (rc == 0)
                last_ns = t0;
        }
        if (w == 0 && !stopped) {
            stopped = 1;
            fprintf(log, "S %llu\n", (unsigned long long)l.epoch);
            fflush(log);
            raise(SIGSTOP);
            stale_writes(log, st, (int64_t)l.epoch);
            fprintf(log, "T %llu %lld %lld %lld %lld\n",
                    (unsigned long long)l.epoch, (long long)acq_ns,
                    (long long)acq_ms, (long long)last_ns, (long long)last_ms);
            break;
        }
        for (int i = 0; i < CHANNELS; i++) {
            ch[i].channel_id = 100 + i;
            ch[i].pts = (int32_t)l.epoch;
        }
        c.kind = MTS_UPDATE_ALL;
        c.state.pts = (int32_t)l.epoch;
        c.channels = ch;
        c.channel_count = CHANNELS;
        t0 = mono_ns();
        rc = mts_storage_apply_update_state(st, &c, &err);
        fprintf(log, "A %llu %d\n", (unsigned long long)l.epoch, rc);
        if (rc == 0)
            last_ns = t0;
        t0 = mono_ns();
        rc = mts_lease_renew(&l, st, TTL_MS, &err);
        if (rc == 0)
            last_ns = t0;
        t0 = mono_ns();
        if (mts_lease_release(st, &err) == 0)
            last_ns = t0;
        last_ms = wall_ms();
        /* the wall-clock end is taken after the operation returned; only
         * the monotonic one is exact, so the wall check allows that */
        fprintf(log, "T %llu %lld %lld %lld %lld\n",
                (unsigned long long)l.epoch, (long long)acq_ns,
                (long long)acq_ms, (long long)last_ns, (long long)last_ms);
    }
    fclose(log);
    mts_storage_free(st);
    return 0;
}

typedef struct tenure {
    uint64_t epoch;
    int64_t acq_ns, acq_ms, last_ns, last_ms;
    int w;
} tenure;

static int
by_epoch(const void *a, const void *b)
{
    const tenure *x = a, *y = b;
    return x->epoch < y->epoch ? -1 : x->epoch > y->epoch;
}

typedef struct peer_log {
    long long id;
    unsigned long long epoch;
    int rc;
} peer_log;

static tenure tenures[MAX_TENURES];
static peer_log peers[MAX_PEERS];

static void
test_race(void)
{
    const char *path = h_path("race.db");
    mts_storage *st = h_open(path, NAME);
    mts_session *s = fx_session("small"), *got = NULL;
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    pid_t pid[WORKERS];
    int64_t deadline, t_start = mono_ns();
    size_t nt = 0, np = 0;
    unsigned long long last_all = 0, stop_epoch = 0;
    int status, resumed = 0, fenced_ok = 0, home0, took = 0;
    tenure mine;

    if (st == NULL)
        return;
    T_EQ_INT(mts_storage_save(st, s, &err), 0);
    home0 = mts_session_home_dc(s);
    deadline = mono_ns() + (int64_t)RUN_MS * 1000000;
    for (int w = 0; w < WORKERS; w++) {
        pid[w] = fork();
        if (pid[w] == 0)
            _exit(worker(w, deadline));
        T_CHECK(pid[w] > 0);
    }
    /* wait for worker 0 to stop, then for the lease to change hands */
    T_EQ_INT(waitpid(pid[0], &status, WUNTRACED), pid[0]);
    if (WIFSTOPPED(status)) {
        for (int i = 0; i < 200; i++) {
            if (mts_lease_show(&l, st, &err) == 0 &&
                strcmp(l.owner, "worker-0") != 0 && l.held)
                break;
            nap_us(5000);
        }
        /* the others may have run out of time already (a loaded
         * machine): then the parent takes the expired lease itself */
        while (strcmp(l.owner, "worker-0") == 0 || !l.held) {
            if (mts_lease_acquire(&l, st, "parent", 30000, &err) == 0) {
                mine.epoch = l.epoch;
                mine.acq_ns = mono_ns();
                mine.acq_ms = wall_ms();
                mine.w = -1;
                took = 1;
                break;
            }
            nap_us(5000);
            (void)mts_lease_show(&l, st, &err);
        }
        kill(pid[0], SIGCONT);
        resumed = 1;
        T_EQ_INT(waitpid(pid[0], &status, 0), pid[0]);
        if (took) {
            mine.last_ns = mono_ns();
            T_EQ_INT(mts_lease_release(st, &err), 0);
            mine.last_ms = wall_ms();
        }
    }
    T_CHECK(resumed);
    T_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (int w = 1; w < WORKERS; w++) {
        T_EQ_INT(waitpid(pid[w], &status, 0), pid[w]);
        T_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }

    for (int w = 0; w < WORKERS; w++) {
        FILE *f = fopen(log_path(w), "r");
        char line[512];
        T_CHECK(f != NULL);
        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
            tenure t;
            peer_log p;
            int a, b;
            unsigned long long e;
            if (line[0] == 'T' && nt < MAX_TENURES &&
                sscanf(line + 1, "%llu %lld %lld %lld %lld", &e,
                       (long long *)&t.acq_ns, (long long *)&t.acq_ms,
                       (long long *)&t.last_ns,
                       (long long *)&t.last_ms) == 5) {
                t.epoch = e;
                t.w = w;
                tenures[nt++] = t;
            } else if (line[0] == 'P' && np < MAX_PEERS &&
                       sscanf(line + 1, "%lld %llu %d", &p.id, &p.epoch,
                              &p.rc) == 3) {
                peers[np++] = p;
            } else if (line[0] == 'A' &&
                       sscanf(line + 1, "%llu %d", &e, &a) == 2) {
                T_CHECK(a == 0 || a == MTS_EFENCED);
                if (a == 0 && e > last_all)
                    last_all = e;
            } else if (line[0] == 'S' && sscanf(line + 1, "%llu", &e) == 1) {
                stop_epoch = e;
            } else if (line[0] == 'F' &&
                       sscanf(line + 1, "%d %d", &a, &b) == 2) {
                if (b != MTS_EFENCED)
                    t_fail(__FILE__, __LINE__,
                           "stale write %d returned %d, not MTS_EFENCED", a,
                           b);
                else
                    fenced_ok++;
            } else if (line[0] == 'E') {
                t_fail(__FILE__, __LINE__, "worker %d: %s", w, line);
            }
        }
        if (f != NULL)
            fclose(f);
    }
    if (took && nt < MAX_TENURES)
        tenures[nt++] = mine;
    T_EQ_INT(fenced_ok, 11);
    T_CHECK(stop_epoch > 0);
    fprintf(stderr, "  %zu tenures, %zu peer writes in %lld ms\n", nt, np,
            (long long)((mono_ns() - t_start) / 1000000));
    T_CHECK(nt >= 2 * WORKERS);

    /* no overlap: epochs strictly rise with acquisition, and each tenure
     * began after the previous one's last successful operation began */
    qsort(tenures, nt, sizeof(tenures[0]), by_epoch);
    for (size_t i = 1; i < nt; i++) {
        const tenure *p = &tenures[i - 1], *t = &tenures[i];
        if (t->epoch <= p->epoch || t->acq_ns <= p->last_ns ||
            t->acq_ns <= p->acq_ns || t->acq_ms < p->acq_ms)
            t_fail(__FILE__, __LINE__,
                   "tenure of epoch %llu (worker %d) overlaps epoch %llu "
                   "(worker %d)",
                   (unsigned long long)t->epoch, t->w,
                   (unsigned long long)p->epoch, p->w);
    }

    /* every acknowledged peer stored with its epoch, no refused one */
    got = h_load(st);
    T_CHECK(got != NULL);
    if (got == NULL)
        goto out;
    for (size_t i = 0; i < np; i++) {
        mts_peer p;
        int have = mts_session_get_peer(&p, got, MTS_PEER_USER,
                                        peers[i].id) == 0;
        if (peers[i].rc == 0 &&
            (!have || (unsigned long long)p.access_hash != peers[i].epoch))
            t_fail(__FILE__, __LINE__, "acknowledged peer %lld lost",
                   peers[i].id);
        if (peers[i].rc != 0 && have)
            t_fail(__FILE__, __LINE__, "refused peer %lld stored (rc %d)",
                   peers[i].id, peers[i].rc);
        if (peers[i].rc != 0 && peers[i].rc != MTS_EFENCED)
            t_fail(__FILE__, __LINE__, "peer %lld: rc %d", peers[i].id,
                   peers[i].rc);
    }
    {
        mts_peer p;
        T_CHECK(mts_session_get_peer(&p, got, MTS_PEER_USER, 900000001) != 0);
    }
    /* the channel list is whole: one ALL's rows, the last acknowledged */
    T_EQ_U64(mts_session_channel_count(got), CHANNELS);
    for (int i = 0; i < CHANNELS; i++) {
        int32_t pts = -1;
        T_EQ_INT(mts_session_channel_pts(got, 100 + i, &pts), 0);
        T_EQ_U64((unsigned long long)pts, last_all);
    }
    T_EQ_INT(mts_session_home_dc(got), home0);
    T_EQ_INT(mts_lease_show(&l, st, &err), 0);
    T_EQ_U64(l.epoch, tenures[nt - 1].epoch);
out:
    mts_session_free(got);
    mts_session_free(s);
    mts_storage_free(st);
}

T_MAIN(T_CASE(test_race))
