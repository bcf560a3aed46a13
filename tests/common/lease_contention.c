/*
 * lease_contention.c - the lease race of lease_contention.h: forks the
 * workers, stops and resumes worker 0, reads back the logs the workers
 * write (one file each in t_tmpdir(), one line per event) and checks
 * them against what the store holds.
 *
 * Log lines: "T epoch acq_ns acq_ms last_ns last_ms" a tenure, "P id
 * epoch rc" a cached peer, "A epoch rc" an ALL update, "S epoch" worker
 * 0 stopping, "F i rc" its i-th stale write, "E ..." an unexpected error.
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
#include "lease_contention.h"
#include "t.h"
#include "test_clock.h"

enum { CHANNELS = 12, MAX_WORKERS = 64 };
#define MAX_TENURES 4096
#define MAX_PEERS   16384

static const char *
log_path(int w)
{
    static char buf[8][4200];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof(buf[i]), "%s/w%d.log", t_tmpdir(), w);
    return buf[i];
}

/* Worker 0's writes after it was resumed: all must be fenced. */
static void
stale_writes(const lc_config *cfg,
             FILE *log,
             mts_storage *st,
             int64_t epoch,
             uint64_t rev)
{
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = fx_session("small");
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    mts_channel_pts ch = { 9999, 1 };
    mts_peer p = MTS_PEER_INIT;
    mts_dc dc = MTS_DC_INIT;
    mts_lease l = MTS_LEASE_INIT;
    uint64_t nrev = 0;
    int rc[16], n = 0;
    p.id = 900000001;
    p.access_hash = epoch;
    rc[n++] = mts_storage_save(st, s, &err);
    if (cfg->stale_save_if)
        rc[n++] = mts_storage_save_if(st, s, rev, &nrev, &err);
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
    if (cfg->stale_extra != NULL)
        rc[n++] = cfg->stale_extra(st, cfg->payload, &err);
    rc[n++] = mts_lease_renew(&l, st, cfg->ttl_ms, &err);
    rc[n++] = mts_lease_release(st, &err);
    for (int i = 0; i < n; i++)
        fprintf(log, "F %d %d\n", i, rc[i]);
    mts_session_free(s);
}

static void
log_tenure(FILE *log,
           uint64_t epoch,
           int64_t acq_ns,
           int64_t acq_ms,
           int64_t last_ns,
           int64_t last_ms)
{
    fprintf(log, "T %llu %lld %lld %lld %lld\n", (unsigned long long)epoch,
            (long long)acq_ns, (long long)acq_ms, (long long)last_ns,
            (long long)last_ms);
}

static int
worker(const lc_config *cfg, int w, int64_t deadline_ns)
{
    FILE *log = fopen(log_path(w), "w");
    mts_storage *st = NULL;
    mts_error err = MTS_ERROR_INIT;
    char owner[16];
    uint64_t rng = (uint64_t)getpid() * 0x9e3779b97f4a7c15u;
    long seq = 0;
    int stopped = 0;
    if (log == NULL || cfg->open(&st, cfg->payload, &err) != 0)
        return 2;
    snprintf(owner, sizeof(owner), "worker-%d", w);
    while (tc_mono_ns() < deadline_ns) {
        mts_lease l = MTS_LEASE_INIT;
        mts_update_change c = MTS_UPDATE_CHANGE_INIT;
        mts_channel_pts ch[CHANNELS];
        int64_t acq_ns, acq_ms, last_ns, last_ms, t0;
        int rc = mts_lease_acquire(&l, st, owner, cfg->ttl_ms, &err);
        if (rc == MTS_ELOCKED) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            tc_sleep_us(cfg->nap_min_us +
                        (long)(rng % (uint64_t)cfg->nap_span_us));
            continue;
        }
        if (rc != 0) {
            fprintf(log, "E acquire %d %s\n", rc, err.message);
            break;
        }
        acq_ns = tc_mono_ns();
        acq_ms = tc_wall_ms();
        last_ns = acq_ns;
        last_ms = acq_ms;
        for (int i = 0; i < 2; i++) {
            mts_peer p = MTS_PEER_INIT;
            p.id = (int64_t)(w + 1) * 1000000 + ++seq;
            p.access_hash = (int64_t)l.epoch;
            t0 = tc_mono_ns();
            rc = mts_storage_cache_peer(st, &p, &err);
            fprintf(log, "P %lld %llu %d\n", (long long)p.id,
                    (unsigned long long)l.epoch, rc);
            if (rc == 0)
                last_ns = t0;
            else if (rc != MTS_EFENCED)
                fprintf(log, "E cache_peer %d %s\n", rc, err.message);
        }
        if (w == 0 && !stopped) {
            uint64_t rev = 0;
            stopped = 1;
            if (cfg->stale_save_if)
                (void)mts_storage_load_rev(NULL, &rev, st, &err);
            fprintf(log, "S %llu\n", (unsigned long long)l.epoch);
            fflush(log);
            raise(SIGSTOP);
            stale_writes(cfg, log, st, (int64_t)l.epoch, rev);
            log_tenure(log, l.epoch, acq_ns, acq_ms, last_ns, last_ms);
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
        t0 = tc_mono_ns();
        rc = mts_storage_apply_update_state(st, &c, &err);
        fprintf(log, "A %llu %d\n", (unsigned long long)l.epoch, rc);
        if (rc == 0)
            last_ns = t0;
        else if (rc != MTS_EFENCED)
            fprintf(log, "E apply %d %s\n", rc, err.message);
        t0 = tc_mono_ns();
        rc = mts_lease_renew(&l, st, cfg->ttl_ms, &err);
        if (rc == 0)
            last_ns = t0;
        t0 = tc_mono_ns();
        if (mts_lease_release(st, &err) == 0)
            last_ns = t0;
        last_ms = tc_wall_ms();
        /* the wall-clock end is taken after the operation returned; only
         * the monotonic one is exact, so the wall check allows that */
        log_tenure(log, l.epoch, acq_ns, acq_ms, last_ns, last_ms);
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

/* What the workers' logs say, all of them read. */
typedef struct race_logs {
    size_t nt, np;
    unsigned long long last_all, stop_epoch;
    int fenced_ok;
} race_logs;

static void
read_logs(race_logs *out, int workers)
{
    for (int w = 0; w < workers; w++) {
        FILE *f = fopen(log_path(w), "r");
        char line[512];
        T_CHECK(f != NULL);
        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
            tenure t;
            peer_log p;
            int a, b;
            unsigned long long e;
            long long an, am, ln, lm;
            if (line[0] == 'T' && out->nt < MAX_TENURES &&
                sscanf(line + 1, "%llu %lld %lld %lld %lld", &e, &an, &am, &ln,
                       &lm) == 5) {
                t.epoch = e;
                t.acq_ns = an;
                t.acq_ms = am;
                t.last_ns = ln;
                t.last_ms = lm;
                t.w = w;
                tenures[out->nt++] = t;
            } else if (line[0] == 'P' && out->np < MAX_PEERS &&
                       sscanf(line + 1, "%lld %llu %d", &p.id, &p.epoch,
                              &p.rc) == 3) {
                peers[out->np++] = p;
            } else if (line[0] == 'A' &&
                       sscanf(line + 1, "%llu %d", &e, &a) == 2) {
                T_CHECK(a == 0 || a == MTS_EFENCED);
                if (a == 0 && e > out->last_all)
                    out->last_all = e;
            } else if (line[0] == 'S' && sscanf(line + 1, "%llu", &e) == 1) {
                out->stop_epoch = e;
            } else if (line[0] == 'F' &&
                       sscanf(line + 1, "%d %d", &a, &b) == 2) {
                if (b != MTS_EFENCED)
                    t_fail(__FILE__, __LINE__,
                           "stale write %d returned %d, not MTS_EFENCED", a, b);
                else
                    out->fenced_ok++;
            } else if (line[0] == 'E') {
                t_fail(__FILE__, __LINE__, "worker %d: %s", w, line);
            }
        }
        if (f != NULL)
            fclose(f);
    }
}

/* One holder at a time: epochs strictly rise with acquisition, and each
 * tenure began after the previous one's last successful operation began. */
static void
check_tenures(const lc_config *cfg, size_t nt)
{
    qsort(tenures, nt, sizeof(tenures[0]), by_epoch);
    for (size_t i = 1; i < nt; i++) {
        const tenure *p = &tenures[i - 1], *t = &tenures[i];
        if (t->epoch <= p->epoch || t->acq_ns <= p->last_ns ||
            t->acq_ns <= p->acq_ns ||
            (cfg->check_wall && t->acq_ms < p->acq_ms))
            t_fail(__FILE__, __LINE__,
                   "tenure of epoch %llu (worker %d) overlaps epoch %llu "
                   "(worker %d)",
                   (unsigned long long)t->epoch, t->w,
                   (unsigned long long)p->epoch, p->w);
    }
}

/* Every acknowledged peer stored with its epoch, no refused one, nothing
 * of the stale writes; the channel list whole (one ALL's rows, the last
 * acknowledged). */
static void
check_store(mts_session *got, const race_logs *lg, int32_t home0)
{
    mts_peer stale;
    for (size_t i = 0; i < lg->np; i++) {
        mts_peer p;
        int have =
            mts_session_get_peer(&p, got, MTS_PEER_USER, peers[i].id) == 0;
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
    T_CHECK(mts_session_get_peer(&stale, got, MTS_PEER_USER, 900000001) != 0);
    T_EQ_U64(mts_session_channel_count(got), CHANNELS);
    for (int i = 0; i < CHANNELS; i++) {
        int32_t pts = -1;
        T_EQ_INT(mts_session_channel_pts(got, 100 + i, &pts), 0);
        T_EQ_U64((unsigned long long)pts, lg->last_all);
    }
    T_EQ_INT(mts_session_home_dc(got), home0);
}

void
lc_race(const lc_config *cfg)
{
    mts_storage *st = NULL;
    mts_session *s = fx_session("small"), *got = NULL;
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    pid_t pid[MAX_WORKERS];
    int64_t deadline, t_start = tc_mono_ns();
    race_logs lg = { 0, 0, 0, 0, 0 };
    int status, resumed = 0, home0 = 0, took = 0, rc;
    tenure mine;

    if (cfg->workers < 1 || cfg->workers > MAX_WORKERS) {
        t_fail(__FILE__, __LINE__, "%d workers", cfg->workers);
        goto out;
    }
    if ((rc = cfg->open(&st, cfg->payload, &err)) != 0) {
        t_fail(__FILE__, __LINE__, "open: %s: %s", mts_errname(rc),
               err.message);
        goto out;
    }
    T_EQ_INT(mts_storage_save(st, s, &err), 0);
    home0 = mts_session_home_dc(s);
    deadline = tc_mono_ns() + (int64_t)cfg->run_ms * 1000000;
    for (int w = 0; w < cfg->workers; w++) {
        pid[w] = fork();
        if (pid[w] == 0)
            _exit(worker(cfg, w, deadline));
        T_CHECK(pid[w] > 0);
    }
    /* wait for worker 0 to stop, then for the lease to change hands */
    T_EQ_INT(waitpid(pid[0], &status, WUNTRACED), pid[0]);
    if (WIFSTOPPED(status)) {
        for (int i = 0; i < cfg->handover_polls; i++) {
            if (mts_lease_show(&l, st, &err) == 0 &&
                strcmp(l.owner, "worker-0") != 0 && l.held)
                break;
            tc_sleep_us(5000);
        }
        /* the others may have run out of time already (a loaded
         * machine): then the parent takes the expired lease itself */
        while (strcmp(l.owner, "worker-0") == 0 || !l.held) {
            if (mts_lease_acquire(&l, st, "parent", 30000, &err) == 0) {
                mine.epoch = l.epoch;
                mine.acq_ns = tc_mono_ns();
                mine.acq_ms = tc_wall_ms();
                mine.w = -1;
                took = 1;
                break;
            }
            tc_sleep_us(5000);
            (void)mts_lease_show(&l, st, &err);
        }
        kill(pid[0], SIGCONT);
        resumed = 1;
        T_EQ_INT(waitpid(pid[0], &status, 0), pid[0]);
        if (took) {
            mine.last_ns = tc_mono_ns();
            T_EQ_INT(mts_lease_release(st, &err), 0);
            mine.last_ms = tc_wall_ms();
        }
    }
    T_CHECK(resumed);
    T_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (int w = 1; w < cfg->workers; w++) {
        T_EQ_INT(waitpid(pid[w], &status, 0), pid[w]);
        T_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }

    read_logs(&lg, cfg->workers);
    if (took && lg.nt < MAX_TENURES)
        tenures[lg.nt++] = mine;
    T_EQ_INT(lg.fenced_ok, cfg->stale_fenced);
    T_CHECK(lg.stop_epoch > 0);
    fprintf(stderr, "  %zu tenures, %zu peer writes in %lld ms\n", lg.nt, lg.np,
            (long long)((tc_mono_ns() - t_start) / 1000000));
    T_CHECK(lg.nt >= 2 * (size_t)cfg->workers);
    if (lg.nt == 0)
        goto out;
    check_tenures(cfg, lg.nt);

    rc = mts_storage_load(&got, st, &err);
    if (rc != 0)
        t_fail(__FILE__, __LINE__, "load: %s: %s", mts_errname(rc),
               err.message);
    if (got == NULL)
        goto out;
    check_store(got, &lg, home0);
    T_EQ_INT(mts_lease_show(&l, st, &err), 0);
    T_EQ_U64(l.epoch, tenures[lg.nt - 1].epoch);
out:
    mts_session_free(got);
    mts_session_free(s);
    mts_storage_free(st);
}
