/*
 * libsql_lease_contention.c - eight processes race for one session's lease
 * on a libSQL server (a private Hrana test server this test starts on
 * loopback) for about four seconds, with 250 ms leases on the server's
 * clock.
 *
 * A worker loops: acquire (a short random pause when refused); as holder,
 * cache two peers (ids unique to the worker, access_hash = epoch) and
 * replace the update state with 12 channels whose pts are all the epoch
 * (apply_update_state ALL); renew; release. It logs every tenure (epoch;
 * acquired and last-used times on CLOCK_MONOTONIC, which all processes
 * share) and every write's result.
 *
 * Worker 0 stops itself (SIGSTOP) in its first tenure. The parent keeps it
 * stopped until the lease has passed to another owner, then resumes it:
 * every write it tries then (save, save_if, the four update kinds,
 * cache_peer, update_dc, set_home_dc, delete, rekey), its renew and its
 * release must be MTS_EFENCED, and none may show in the store.
 *
 * The parent then checks: epochs rise strictly with acquisition; each
 * tenure began after the previous one's last successful operation began
 * (one holder at any moment); every acknowledged peer is stored with its
 * tenure's epoch and no refused one is; the channel list is whole (12
 * rows, all the epoch of the last acknowledged ALL: nothing half-applied);
 * the lease's epoch is the last tenure's.
 *
 * Skipped (exit 77) when node or the server's npm packages are missing.
 * Environment (tests.cmake): MTS_HRANA_NODE, MTS_HRANA_SERVER.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixtures.h"
#include "t.h"

extern char **environ;

enum { WORKERS = 8, CHANNELS = 12, TTL_MS = 250, RUN_MS = 4000 };
#define NAME        "race"
#define TOKEN       "contention-token"
#define MAX_TENURES 4096
#define MAX_PEERS   16384

static char url[64];

static int64_t
mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
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
    static char buf[8][4200];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof(buf[i]), "%s/w%d.log", t_tmpdir(), w);
    return buf[i];
}

/* ---- the private server -------------------------------------------------- */

typedef struct server {
    pid_t pid;
    int in, out;
} server;

/* Whether node and the server's packages are there; else why not. */
static const char *
missing(const char **node, const char **script)
{
    if ((*script = getenv("MTS_HRANA_SERVER")) == NULL || (*script)[0] == '\0')
        return NULL; /* not run by ctest: a failure, not a skip */
    static char why[4400];
    char pkg[4200];
    const char *slash;
    *node = getenv("MTS_HRANA_NODE");
    if (*node == NULL || (*node)[0] == '\0' || strstr(*node, "NOTFOUND") ||
        access(*node, X_OK) != 0)
        return "node (Node.js) not found";
    slash = strrchr(*script, '/');
    snprintf(pkg, sizeof(pkg), "%.*s/node_modules/libsql/package.json",
             slash ? (int)(slash - *script) : 1, slash ? *script : ".");
    if (access(pkg, R_OK) != 0) {
        snprintf(why, sizeof(why),
                 "the test server's packages are not installed (%s); run: "
                 "npm ci --prefix tests/hrana-server",
                 pkg);
        return why;
    }
    return NULL;
}

static int
server_start(server *sv, const char *node, const char *script, const char *db)
{
    posix_spawn_file_actions_t fa;
    int in[2], out[2], rc;
    char line[32] = "";
    size_t n = 0;
    char *argv[] = {
        (char *)node, (char *)script,        "--db", (char *)db, "--token",
        TOKEN,        "--exit-on-stdin-eof", NULL
    };
    if (pipe(in) != 0 || pipe(out) != 0)
        return -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    rc = posix_spawn(&sv->pid, node, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    sv->in = in[1];
    sv->out = out[0];
    if (rc != 0) {
        sv->pid = 0;
        return -1;
    }
    while (n < sizeof(line) - 1 && strchr(line, '\n') == NULL) {
        struct pollfd pf = { sv->out, POLLIN, 0 };
        ssize_t r;
        if (poll(&pf, 1, 15000) <= 0)
            return -1;
        r = read(sv->out, line + n, sizeof(line) - 1 - n);
        if (r <= 0)
            return -1;
        n += (size_t)r;
        line[n] = '\0';
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", atoi(line));
    return 0;
}

static void
server_stop(server *sv)
{
    int status;
    if (sv->pid <= 0)
        return;
    kill(sv->pid, SIGTERM);
    while (waitpid(sv->pid, &status, 0) < 0 && errno == EINTR)
        ;
    close(sv->in);
    close(sv->out);
    sv->pid = 0;
}

/* ---- workers ------------------------------------------------------------- */

static mts_storage *
open_remote(mts_error *err)
{
    mts_storage *st = NULL;
    if (mts_libsql_open_remote(&st, url, TOKEN, NAME, err) != 0)
        return NULL;
    return st;
}

/* Worker 0's writes after it was resumed: all must be fenced. */
static void
stale_writes(FILE *log, mts_storage *st, int64_t epoch, uint64_t rev)
{
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = fx_session("small");
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    mts_channel_pts ch = { 9999, 1 };
    mts_peer p = MTS_PEER_INIT;
    mts_dc dc = MTS_DC_INIT;
    mts_lease l = MTS_LEASE_INIT;
    mts_secret *key = NULL;
    uint8_t k[MTS_SEAL_KEY_SIZE];
    uint64_t nrev = 0;
    int rc[16], n = 0;
    memset(k, 0x42, sizeof(k));
    (void)mts_secret_from_key(&key, k, NULL);
    p.id = 900000001;
    p.access_hash = epoch;
    rc[n++] = mts_storage_save(st, s, &err);
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
    rc[n++] = mts_libsql_rekey(st, key, &err);
    rc[n++] = mts_lease_renew(&l, st, TTL_MS, &err);
    rc[n++] = mts_lease_release(st, &err);
    for (int i = 0; i < n; i++)
        fprintf(log, "F %d %d\n", i, rc[i]);
    mts_secret_free(key);
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
    if (log == NULL || (st = open_remote(&err)) == NULL)
        return 2;
    snprintf(owner, sizeof(owner), "worker-%d", w);
    while (mono_ns() < deadline_ns) {
        mts_lease l = MTS_LEASE_INIT;
        mts_update_change c = MTS_UPDATE_CHANGE_INIT;
        mts_channel_pts ch[CHANNELS];
        int64_t acq_ns, last_ns, t0;
        int rc = mts_lease_acquire(&l, st, owner, TTL_MS, &err);
        if (rc == MTS_ELOCKED) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            nap_us(1000 + (long)(rng % 4000));
            continue;
        }
        if (rc != 0) {
            fprintf(log, "E acquire %d %s\n", rc, err.message);
            break;
        }
        acq_ns = mono_ns();
        last_ns = acq_ns;
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
            else if (rc != MTS_EFENCED)
                fprintf(log, "E cache_peer %d %s\n", rc, err.message);
        }
        if (w == 0 && !stopped) {
            uint64_t rev = 0;
            stopped = 1;
            (void)mts_storage_load_rev(NULL, &rev, st, &err);
            fprintf(log, "S %llu\n", (unsigned long long)l.epoch);
            fflush(log);
            raise(SIGSTOP);
            stale_writes(log, st, (int64_t)l.epoch, rev);
            fprintf(log, "T %llu %lld %lld\n", (unsigned long long)l.epoch,
                    (long long)acq_ns, (long long)last_ns);
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
        else if (rc != MTS_EFENCED)
            fprintf(log, "E apply %d %s\n", rc, err.message);
        t0 = mono_ns();
        rc = mts_lease_renew(&l, st, TTL_MS, &err);
        if (rc == 0)
            last_ns = t0;
        t0 = mono_ns();
        if (mts_lease_release(st, &err) == 0)
            last_ns = t0;
        fprintf(log, "T %llu %lld %lld\n", (unsigned long long)l.epoch,
                (long long)acq_ns, (long long)last_ns);
    }
    fclose(log);
    mts_storage_free(st);
    return 0;
}

typedef struct tenure {
    uint64_t epoch;
    int64_t acq_ns, last_ns;
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
    const char *node, *script, *why = missing(&node, &script);
    char db[4200];
    server sv = { 0, -1, -1 };
    mts_storage *st = NULL;
    mts_session *s = fx_session("small"), *got = NULL;
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    pid_t pid[WORKERS];
    int64_t deadline, t_start = mono_ns();
    size_t nt = 0, np = 0;
    unsigned long long last_all = 0, stop_epoch = 0;
    int status, resumed = 0, fenced_ok = 0, home0, took = 0;
    tenure mine;

    if (script == NULL || script[0] == '\0') {
        t_fail(__FILE__, __LINE__,
               "MTS_HRANA_SERVER is not set: run this test through ctest");
        mts_session_free(s);
        return;
    }
    if (why != NULL) {
        t_skip(why);
        mts_session_free(s);
        return;
    }
    snprintf(db, sizeof(db), "%s/race.db", t_tmpdir());
    if (server_start(&sv, node, script, db) != 0) {
        t_fail(__FILE__, __LINE__, "could not start the test server");
        goto out;
    }
    st = open_remote(&err);
    T_CHECK(st != NULL);
    if (st == NULL)
        goto out;
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
        for (int i = 0; i < 400; i++) {
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
            long long x, y;
            if (line[0] == 'T' && nt < MAX_TENURES &&
                sscanf(line + 1, "%llu %lld %lld", &e, &x, &y) == 3) {
                t.epoch = e;
                t.acq_ns = x;
                t.last_ns = y;
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
                           "stale write %d returned %d, not MTS_EFENCED", a, b);
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
    T_EQ_INT(fenced_ok, 13);
    T_CHECK(stop_epoch > 0);
    fprintf(stderr, "  %zu tenures, %zu peer writes in %lld ms\n", nt, np,
            (long long)((mono_ns() - t_start) / 1000000));
    T_CHECK(nt >= 2 * WORKERS);

    /* one holder at a time: epochs strictly rise with acquisition, and
     * each tenure began after the previous one's last successful
     * operation began */
    qsort(tenures, nt, sizeof(tenures[0]), by_epoch);
    for (size_t i = 1; i < nt; i++) {
        const tenure *p = &tenures[i - 1], *t = &tenures[i];
        if (t->epoch <= p->epoch || t->acq_ns <= p->last_ns ||
            t->acq_ns <= p->acq_ns)
            t_fail(__FILE__, __LINE__,
                   "tenure of epoch %llu (worker %d) overlaps epoch %llu "
                   "(worker %d)",
                   (unsigned long long)t->epoch, t->w,
                   (unsigned long long)p->epoch, p->w);
    }

    /* every acknowledged peer stored with its epoch, no refused one */
    if (mts_storage_load(&got, st, &err) != 0)
        t_fail(__FILE__, __LINE__, "load: %s", err.message);
    if (got == NULL)
        goto out;
    for (size_t i = 0; i < np; i++) {
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
    server_stop(&sv);
}

T_MAIN(T_CASE(test_race))
