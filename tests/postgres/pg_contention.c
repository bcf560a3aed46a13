/*
 * pg_contention.c - eight processes race for one account's lease on the
 * postgres backend for a few seconds. Each one, in a loop: acquire (TTL
 * 400 ms, backing off a few ms when refused); as holder, cache three peers
 * (unique ids, access_hash = epoch), replace the update state with 20
 * channels whose pts are all the epoch (apply_update_state ALL), renew,
 * release. Each logs its tenures on the server's clock (acquired at, last
 * renewed at, both from the lease's expiry minus its TTL) and the outcome
 * of every write.
 *
 * Worker 0, in its first tenure, stops itself (SIGSTOP) after renewing.
 * The parent keeps it stopped past its TTL until another worker holds the
 * lease, then continues it: every write it then tries (save, each kind of
 * apply_update_state, cache_peer, update_dc, set_home_dc, delete) and its
 * renew and release must be MTS_EFENCED, and none may be applied.
 *
 * The parent then checks:
 * - tenures never overlap: ordered by acquisition they have strictly
 *   rising epochs, and each starts no earlier than the previous one's last
 *   renewal;
 * - every acknowledged peer is stored with its tenure's epoch, no refused
 *   peer is stored;
 * - the channel list is whole: 20 rows, all with the epoch of the last
 *   acknowledged ALL (the highest), never a mix;
 * - the lease's epoch is the last tenure's.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixtures.h"
#include "mtsession/sys/alloc.h"
#include "pg_helpers.h"
#include "t.h"

enum {
    WORKERS = 8,
    TTL_MS = 400,
    RUN_MS = 3000,
    CHANNELS = 20,
    MAX_TENURES = 4096,
    MAX_WRITES = 65536
};

#define ACCOUNT "race"

static const char *db;

static void
log_path(char *buf, size_t size, int w)
{
    snprintf(buf, size, "%s/worker-%d.log", t_tmpdir(), w);
}

/* Log lines: T epoch acquired_ms last_ms | A id epoch | R id |
 * C epoch (ALL acknowledged) | X what rc (stopped worker's attempt) |
 * E message (unexpected). */
static void
stale_attempts(mts_storage *st, FILE *log, int w)
{
    mts_session *s = fx_session("full");
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    mts_channel_pts ch[1] = { { 424242, -7 } };
    mts_peer p = MTS_PEER_INIT;
    mts_dc dc = MTS_DC_INIT;
    mts_lease l = MTS_LEASE_INIT;
    uint8_t key[256];
    int rc;
    memset(key, 0x77, sizeof(key));
    p.id = 900000000 + w;
    p.access_hash = -7;
    (void)mts_session_put_peer(s, &p, NULL);
#define TRY(what, call)                                                       \
    rc = (call);                                                              \
    fprintf(log, "X %s %d\n", what, rc)
    TRY("save", mts_storage_save(st, s, NULL));
    c.kind = MTS_UPDATE_ALL;
    c.channels = ch;
    c.channel_count = 1;
    TRY("all", mts_storage_apply_update_state(st, &c, NULL));
    c.kind = MTS_UPDATE_PRIMARY;
    c.state.pts = -7;
    TRY("primary", mts_storage_apply_update_state(st, &c, NULL));
    c.kind = MTS_UPDATE_SECONDARY;
    c.state.qts = -7;
    TRY("secondary", mts_storage_apply_update_state(st, &c, NULL));
    c.kind = MTS_UPDATE_CHANNEL;
    c.channel_id = 424243;
    c.channel_pts = -7;
    TRY("channel", mts_storage_apply_update_state(st, &c, NULL));
    p.id = 900000100 + w;
    TRY("peer", mts_storage_cache_peer(st, &p, NULL));
    dc.dc_id = 77;
    (void)mts_ip_parse(&dc.ip, "10.7.7.7");
    dc.port = 7;
    dc.auth_key = key;
    TRY("dc", mts_storage_update_dc(st, &dc, NULL));
    TRY("home", mts_storage_set_home_dc(st, 77, NULL));
    TRY("delete", mts_storage_delete(st, NULL));
    TRY("renew", mts_lease_renew(&l, st, TTL_MS, NULL));
    TRY("release", mts_lease_release(st, NULL));
#undef TRY
    mts_session_free(s);
}

static void
worker(int w, int64_t deadline)
{
    char path[4200], owner[64];
    mts_storage *st = NULL;
    mts_error err = MTS_ERROR_INIT;
    FILE *log;
    unsigned seed = (unsigned)getpid() * 2654435761u;
    int64_t seq = 0;
    int tenures = 0, stopped = 0;
    log_path(path, sizeof(path), w);
    log = fopen(path, "w");
    if (log == NULL)
        _exit(3);
    setvbuf(log, NULL, _IOLBF, 0);
    snprintf(owner, sizeof(owner), "w%d-%ld", w, (long)getpid());
    if (mts_postgres_open(&st, db, ACCOUNT, &err) != 0) {
        fprintf(log, "E open: %s\n", err.message);
        fclose(log);
        _exit(4);
    }
    while (pgt_now_ms() < deadline) {
        mts_lease l = MTS_LEASE_INIT;
        mts_channel_pts ch[CHANNELS];
        mts_update_change c = MTS_UPDATE_CHANGE_INIT;
        int64_t t_acq, t_last;
        int rc = mts_lease_acquire(&l, st, owner, TTL_MS, &err);
        if (rc == MTS_ELOCKED) {
            pgt_sleep_ms((int)(rand_r(&seed) % 4));
            continue;
        }
        if (rc != 0) {
            fprintf(log, "E acquire: %s\n", err.message);
            continue;
        }
        tenures++;
        t_acq = t_last = l.expires_ms - TTL_MS;
        for (int i = 0; i < 3; i++) {
            mts_peer p = MTS_PEER_INIT;
            p.id = (int64_t)(w + 1) * 10000000 + ++seq;
            p.access_hash = (int64_t)l.epoch;
            rc = mts_storage_cache_peer(st, &p, &err);
            if (rc == 0)
                fprintf(log, "A %lld %llu\n", (long long)p.id,
                        (unsigned long long)l.epoch);
            else if (rc == MTS_EFENCED)
                fprintf(log, "R %lld\n", (long long)p.id);
            else
                fprintf(log, "E peer %s: %s\n", mts_errname(rc), err.message);
        }
        for (int i = 0; i < CHANNELS; i++) {
            ch[i].channel_id = i + 1;
            ch[i].pts = (int32_t)l.epoch;
        }
        c.kind = MTS_UPDATE_ALL;
        c.channels = ch;
        c.channel_count = CHANNELS;
        rc = mts_storage_apply_update_state(st, &c, &err);
        if (rc == 0)
            fprintf(log, "C %llu\n", (unsigned long long)l.epoch);
        else if (rc != MTS_EFENCED)
            fprintf(log, "E all %s: %s\n", mts_errname(rc), err.message);
        rc = mts_lease_renew(&l, st, TTL_MS, &err);
        if (rc == 0)
            t_last = l.expires_ms - TTL_MS;
        else if (rc != MTS_EFENCED)
            fprintf(log, "E renew %s: %s\n", mts_errname(rc), err.message);
        fprintf(log, "T %llu %lld %lld\n", (unsigned long long)l.epoch,
                (long long)t_acq, (long long)t_last);
        if (w == 0 && !stopped) {
            stopped = 1;
            fprintf(log, "S %llu\n", (unsigned long long)l.epoch);
            fflush(log);
            raise(SIGSTOP); /* the parent continues us after a takeover */
            stale_attempts(st, log, w);
            continue;
        }
        rc = mts_lease_release(st, &err);
        if (rc != 0 && rc != MTS_EFENCED)
            fprintf(log, "E release %s: %s\n", mts_errname(rc), err.message);
    }
    fprintf(log, "N %d\n", tenures);
    mts_storage_free(st);
    fclose(log);
    _exit(0);
}

typedef struct tenure {
    uint64_t epoch;
    int64_t from, to;
    int worker;
} tenure;

static int
by_start(const void *a, const void *b)
{
    const tenure *x = a, *y = b;
    if (x->from != y->from)
        return x->from < y->from ? -1 : 1;
    return x->epoch < y->epoch ? -1 : x->epoch > y->epoch;
}

typedef struct write_rec {
    int64_t id;
    uint64_t epoch;
    int acked;
} write_rec;

static tenure tenures[MAX_TENURES];
static write_rec writes[MAX_WRITES];

static void
test_race(void)
{
    pid_t pids[WORKERS];
    int ntenure = 0, nwrite = 0, stale = 0, stopped_seen = 0;
    uint64_t max_all = 0, max_epoch = 0, stopped_epoch = 0;
    int held_by[WORKERS] = { 0 };
    int64_t deadline;
    mts_storage *st;
    mts_session *got = NULL;
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    int64_t t0 = pgt_now_ms();

    db = pgt_new_db("mts_race");
    /* create the schema before the race, so no worker waits on it */
    T_EQ_INT(mts_postgres_open(&st, db, ACCOUNT, &err), 0);
    mts_storage_free(st);
    (void)t_tmpdir(); /* made here, so the workers share it */
    deadline = pgt_now_ms() + RUN_MS;
    fflush(NULL);
    for (int w = 0; w < WORKERS; w++) {
        pids[w] = fork();
        if (pids[w] == 0)
            worker(w, deadline);
        T_CHECK(pids[w] > 0);
    }

    /* worker 0 stops itself: keep it stopped until someone else holds the
     * lease (its TTL is long over by then), then continue it */
    for (;;) {
        int status;
        pid_t r = waitpid(pids[0], &status, WUNTRACED);
        if (r == pids[0] && WIFSTOPPED(status)) {
            int64_t until = pgt_now_ms() + 10000;
            char mine[16];
            stopped_seen = 1;
            T_EQ_INT(mts_postgres_open(&st, db, ACCOUNT, &err), 0);
            snprintf(mine, sizeof(mine), "w0-%ld", (long)pids[0]);
            pgt_sleep_ms(TTL_MS + 100);
            for (;;) {
                if (mts_lease_show(&l, st, &err) == 0 && l.held &&
                    strcmp(l.owner, mine) != 0)
                    break;
                if (pgt_now_ms() > until) {
                    t_fail(__FILE__, __LINE__, "nobody took the lease");
                    break;
                }
                pgt_sleep_ms(5);
            }
            mts_storage_free(st);
            kill(pids[0], SIGCONT);
            continue;
        }
        if (r == pids[0] || (r < 0 && errno != EINTR))
            break;
    }
    for (int w = 1; w < WORKERS; w++) {
        int status = 0;
        waitpid(pids[w], &status, 0);
        T_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    T_CHECK(stopped_seen);

    /* read the logs */
    for (int w = 0; w < WORKERS; w++) {
        char path[4200], line[512];
        FILE *f;
        log_path(path, sizeof(path), w);
        f = fopen(path, "r");
        T_CHECK(f != NULL);
        if (f == NULL)
            continue;
        while (fgets(line, sizeof(line), f) != NULL) {
            unsigned long long e;
            long long a, b;
            char what[32];
            int rc;
            if (sscanf(line, "T %llu %lld %lld", &e, &a, &b) == 3 &&
                ntenure < MAX_TENURES) {
                tenures[ntenure].epoch = e;
                tenures[ntenure].from = a;
                tenures[ntenure].to = b;
                tenures[ntenure++].worker = w;
                held_by[w]++;
                if (e > max_epoch)
                    max_epoch = e;
            } else if (sscanf(line, "A %lld %llu", &a, &e) == 2 &&
                       nwrite < MAX_WRITES) {
                writes[nwrite].id = a;
                writes[nwrite].epoch = e;
                writes[nwrite++].acked = 1;
            } else if (sscanf(line, "R %lld", &a) == 1 &&
                       nwrite < MAX_WRITES) {
                writes[nwrite].id = a;
                writes[nwrite++].acked = 0;
            } else if (sscanf(line, "C %llu", &e) == 1) {
                if (e > max_all)
                    max_all = e;
            } else if (sscanf(line, "S %llu", &e) == 1) {
                stopped_epoch = e;
            } else if (sscanf(line, "X %31s %d", what, &rc) == 2) {
                stale++;
                if (rc != MTS_EFENCED)
                    t_fail(__FILE__, __LINE__,
                           "stale holder's %s returned %s, not MTS_EFENCED",
                           what, mts_errname(rc));
            } else if (line[0] == 'E') {
                t_fail(__FILE__, __LINE__, "worker %d: %s", w, line);
            }
        }
        fclose(f);
    }
    T_EQ_INT(stale, 11);
    T_CHECK(stopped_epoch > 0);
    T_CHECK(ntenure >= 20);
    for (int w = 0, n = 0; w < WORKERS; w++) {
        n += held_by[w] > 0;
        if (w == WORKERS - 1)
            T_CHECK(n >= 4); /* the lease moved between many workers */
    }

    /* no overlap: by start, epochs rise and each starts after the last
     * renewal of the one before */
    qsort(tenures, (size_t)ntenure, sizeof(tenures[0]), by_start);
    for (int i = 1; i < ntenure; i++) {
        if (tenures[i].epoch <= tenures[i - 1].epoch ||
            tenures[i].from < tenures[i - 1].to)
            t_fail(__FILE__, __LINE__,
                   "tenures overlap: worker %d epoch %llu [%lld, %lld] and "
                   "worker %d epoch %llu [%lld, %lld]",
                   tenures[i - 1].worker,
                   (unsigned long long)tenures[i - 1].epoch,
                   (long long)tenures[i - 1].from,
                   (long long)tenures[i - 1].to, tenures[i].worker,
                   (unsigned long long)tenures[i].epoch,
                   (long long)tenures[i].from, (long long)tenures[i].to);
        if (tenures[i].epoch == stopped_epoch + 1)
            T_CHECK(tenures[i].from >= tenures[i - 1].to + TTL_MS);
    }

    /* the data */
    T_EQ_INT(mts_postgres_open(&st, db, ACCOUNT, &err), 0);
    T_EQ_INT(mts_storage_load(&got, st, &err), 0);
    if (got != NULL) {
        int acked = 0, refused = 0;
        mts_update_state us;
        mts_peer p;
        mts_dc dc;
        for (int i = 0; i < nwrite; i++) {
            int rc = mts_session_get_peer(&p, got, MTS_PEER_USER,
                                          writes[i].id);
            if (writes[i].acked) {
                acked++;
                if (rc != 0 || p.access_hash != (int64_t)writes[i].epoch)
                    t_fail(__FILE__, __LINE__,
                           "acknowledged peer %lld (epoch %llu) lost",
                           (long long)writes[i].id,
                           (unsigned long long)writes[i].epoch);
            } else {
                refused++;
                if (rc == 0)
                    t_fail(__FILE__, __LINE__, "refused peer %lld stored",
                           (long long)writes[i].id);
            }
        }
        T_EQ_U64(mts_session_peer_count(got), (uint64_t)acked);
        T_EQ_U64(mts_session_channel_count(got), CHANNELS);
        for (int i = 1; i <= CHANNELS; i++) {
            int32_t pts = 0;
            T_EQ_INT(mts_session_channel_pts(got, i, &pts), 0);
            T_EQ_INT(pts, (int32_t)max_all);
        }
        mts_session_update_state(got, &us);
        T_CHECK(us.pts != -7 && us.qts != -7);
        T_EQ_INT(mts_session_home_dc(got), 0);
        T_EQ_INT(mts_session_dc_for(&dc, got, 77, 0), MTS_ENOTFOUND);
        T_EQ_INT(mts_session_get_peer(&p, got, MTS_PEER_USER, 900000000),
                 MTS_ENOTFOUND);
        fprintf(stderr,
                "  %d tenures over %d workers, %d peers acknowledged, %d "
                "refused, highest epoch %llu, %lld ms\n",
                ntenure, WORKERS, acked, refused,
                (unsigned long long)max_epoch,
                (long long)(pgt_now_ms() - t0));
        mts_session_free(got);
    }
    T_EQ_INT(mts_lease_show(&l, st, &err), 0);
    T_EQ_U64(l.epoch, max_epoch);
    mts_storage_free(st);
}

T_MAIN(T_CASE(test_race))
