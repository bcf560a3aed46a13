/*
 * sqlite_concurrency.c - several processes and threads on one SQLite
 * database: no lost update, no "database is locked" for ordinary
 * contention, loads that see whole snapshots, and MTS_ELOCKED only after
 * the busy timeout (with the failed statement reset, so the handle keeps
 * working).
 *
 * The process test runs with synchronous=NORMAL (commits survive a crash
 * of the process, not a power cut) to stay fast on slow disks; the
 * locking it tests is the same at every durability level.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixtures.h"
#include "helpers.h"
#include "sql_schema.h"
#include "t.h"

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum { PROCS = 8, EACH = 1000 };

/* One child: EACH channel updates with its own ids. Exit status 0 when all
 * succeeded, 1 otherwise, 2 if any error said "locked". */
static void
child(const char *path, int id)
{
    mts_storage *st = NULL;
    mts_error err = MTS_ERROR_INIT;
    int failures = 0, locked = 0;
    if (mts_sqlite_open(&st, path, NULL, &err) != 0) {
        fprintf(stderr, "  child %d: open: %s\n", id, err.message);
        _exit(1);
    }
    if (mts__sqlite_set_sync(st, MTS__SQL_SYNC_NORMAL, &err) != 0)
        _exit(1);
    for (int i = 0; i < EACH; i++) {
        mts_update_change c = MTS_UPDATE_CHANGE_INIT;
        c.kind = MTS_UPDATE_CHANNEL;
        c.channel_id = (int64_t)id * 100000 + i + 1;
        c.channel_pts = id * 10000 + i;
        if (mts_storage_apply_update_state(st, &c, &err) != 0) {
            if (failures++ < 3)
                fprintf(stderr, "  child %d update %d: %s: %s\n", id, i,
                        mts_errname(err.code), err.message);
            if (strstr(err.message, "locked") != NULL)
                locked = 1;
        }
    }
    mts_storage_free(st);
    _exit(locked ? 2 : failures ? 1 : 0);
}

static void
race_round(const char *path)
{
    pid_t pids[PROCS];
    mts_storage *st;
    mts_session *got;
    double t0;
    /* The file does not exist yet: the children race to create it, switch
     * it to WAL and create the schema. The parent opens nothing before the
     * fork, so no connection crosses it. */
    t0 = now_s();
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        if (pids[p] == 0)
            child(path, p + 1);
        T_CHECK(pids[p] > 0);
    }
    for (int p = 0; p < PROCS; p++) {
        int status = -1;
        if (pids[p] <= 0)
            continue;
        T_EQ_INT(waitpid(pids[p], &status, 0), pids[p]);
        if (!WIFEXITED(status))
            t_fail(__FILE__, __LINE__, "child %d: status 0x%x (signal %d)",
                   p + 1, status, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
            t_fail(__FILE__, __LINE__, "child %d exited %d%s", p + 1,
                   WEXITSTATUS(status),
                   WEXITSTATUS(status) == 2 ? " (database is locked)" : "");
    }
    fprintf(stderr, "  %d processes x %d updates: %.2f s\n", PROCS, EACH,
            now_s() - t0);
    st = h_open(path, NULL);
    got = h_load(st);
    if (got != NULL) {
        int missing = 0;
        T_EQ_U64(mts_session_channel_count(got), PROCS * EACH);
        for (int p = 1; p <= PROCS; p++)
            for (int i = 0; i < EACH; i++) {
                int32_t pts = -1;
                if (mts_session_channel_pts(got, (int64_t)p * 100000 + i + 1,
                                            &pts) != 0 ||
                    pts != p * 10000 + i)
                    missing++;
            }
        T_EQ_INT(missing, 0);
        mts_session_free(got);
    }
    mts_storage_free(st);
}

/* The race to create the file, switch it to WAL and create the schema is
 * the part that can go wrong (lock conflicts the busy handler never sees;
 * a failed opener unlinking a file the others use), so run it on several
 * fresh files. */
static void
test_processes(void)
{
    for (int r = 0; r < 6; r++) {
        char name[32];
        snprintf(name, sizeof(name), "procs-%d.db", r);
        race_round(h_path(name));
    }
}

/* ---- threads, each with its own handle ---------------------------------- */

typedef struct worker {
    const char *path;
    int id;
    int failures;
} worker;

static void *
thread_work(void *arg)
{
    worker *w = arg;
    mts_storage *st = NULL;
    mts_error err = MTS_ERROR_INIT;
    if (mts_sqlite_open(&st, w->path, NULL, &err) != 0) {
        w->failures = -1;
        return NULL;
    }
    for (int i = 0; i < 200; i++) {
        mts_update_change c = MTS_UPDATE_CHANGE_INIT;
        mts_peer p = MTS_PEER_INIT;
        c.kind = MTS_UPDATE_CHANNEL;
        c.channel_id = (int64_t)w->id * 1000 + i + 1;
        c.channel_pts = i;
        p.kind = MTS_PEER_CHANNEL;
        p.id = c.channel_id;
        p.access_hash = -i;
        if (mts_storage_apply_update_state(st, &c, &err) != 0 ||
            mts_storage_cache_peer(st, &p, &err) != 0) {
            if (w->failures++ == 0)
                fprintf(stderr, "  thread %d: %s\n", w->id, err.message);
        }
    }
    mts_storage_free(st);
    return NULL;
}

static void
test_threads_own_handles(void)
{
    enum { N = 4 };
    const char *path = h_path("threads.db");
    pthread_t th[N];
    worker w[N];
    mts_storage *st;
    mts_session *got;
    for (int i = 0; i < N; i++) {
        w[i].path = path;
        w[i].id = i + 1;
        w[i].failures = 0;
        T_EQ_INT(pthread_create(&th[i], NULL, thread_work, &w[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        T_EQ_INT(w[i].failures, 0);
    }
    st = h_open(path, NULL);
    got = h_load(st);
    if (got != NULL) {
        T_EQ_U64(mts_session_channel_count(got), N * 200);
        T_EQ_U64(mts_session_peer_count(got), N * 200);
        mts_session_free(got);
    }
    mts_storage_free(st);
}

/* ---- loads see whole snapshots ------------------------------------------ */

typedef struct saver {
    const char *path;
    mts_session *a, *b;
    int rounds;
    int failures;
} saver;

static void *
save_loop(void *arg)
{
    saver *sv = arg;
    mts_storage *st = NULL;
    if (mts_sqlite_open(&st, sv->path, NULL, NULL) != 0) {
        sv->failures = -1;
        return NULL;
    }
    for (int i = 0; i < sv->rounds; i++)
        if (mts_storage_save(st, i % 2 ? sv->a : sv->b, NULL) != 0)
            sv->failures++;
    mts_storage_free(st);
    return NULL;
}

static void
test_load_sees_whole_snapshots(void)
{
    const char *path = h_path("snap.db");
    saver sv = { path, fx_big(300), NULL, 60, 0 };
    mts_storage *st = h_open(path, NULL);
    mts_update_state us = { 5, 6, 7, 8 };
    pthread_t th;
    int mixed = 0, loads = 0;
    if (st == NULL)
        return;
    /* b differs from a in every table */
    T_EQ_INT(mts_session_dup(&sv.b, sv.a), 0);
    mts_session_set_update_state(sv.b, &us);
    for (size_t i = 0; i < mts_session_peer_count(sv.a); i += 2) {
        mts_peer p;
        T_EQ_INT(mts_session_peer_at(&p, sv.a, i), 0);
        T_EQ_INT(mts_session_remove_peer(sv.b, p.kind, p.id), 0);
    }
    T_EQ_INT(mts_session_set_channel_pts(sv.b, 1, 999), 0);
    mts_session_clear_dcs(sv.b);
    T_EQ_INT(mts_storage_save(st, sv.a, NULL), 0);
    T_EQ_INT(pthread_create(&th, NULL, save_loop, &sv), 0);
    for (int i = 0; i < 200; i++) {
        mts_session *got = h_load(st);
        if (got == NULL)
            break;
        loads++;
        if (!mts_session_equal(got, sv.a) && !mts_session_equal(got, sv.b))
            mixed++;
        mts_session_free(got);
    }
    pthread_join(th, NULL);
    T_EQ_INT(sv.failures, 0);
    T_EQ_INT(loads, 200);
    T_EQ_INT(mixed, 0);
    mts_storage_free(st);
    mts_session_free(sv.a);
    mts_session_free(sv.b);
}

/* ---- waiting for a writer, and giving up -------------------------------- */

typedef struct holder {
    const char *path;
    int hold_ms;
    volatile int holding;
} holder;

static void *
hold_lock(void *arg)
{
    holder *h = arg;
    sqlite3 *db = NULL;
    struct timespec ts = { h->hold_ms / 1000, (h->hold_ms % 1000) * 1000000L };
    sqlite3_open_v2(h->path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK) {
        __atomic_store_n(&h->holding, 1, __ATOMIC_SEQ_CST);
        nanosleep(&ts, NULL);
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    } else {
        __atomic_store_n(&h->holding, -1, __ATOMIC_SEQ_CST);
    }
    sqlite3_close(db);
    return NULL;
}

static void
test_writer_waits_for_lock(void)
{
    const char *path = h_path("wait.db");
    holder h = { path, 400, 0 };
    mts_storage *st = h_open(path, NULL);
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    mts_error err = MTS_ERROR_INIT;
    pthread_t th;
    double t0;
    if (st == NULL)
        return;
    T_EQ_INT(pthread_create(&th, NULL, hold_lock, &h), 0);
    while (__atomic_load_n(&h.holding, __ATOMIC_SEQ_CST) == 0)
        usleep(1000);
    t0 = now_s();
    c.kind = MTS_UPDATE_SECONDARY;
    c.state.qts = 77;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, &err), 0);
    T_CHECK(now_s() - t0 > 0.2); /* it did wait for the other writer */
    pthread_join(th, NULL);
    mts_storage_free(st);
}

static void
test_busy_timeout_then_recovers(void)
{
    const char *path = h_path("timeout.db");
    mts_storage *st = h_open(path, NULL), *st2;
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    mts_error err = MTS_ERROR_INIT;
    mts_session *got;
    sqlite3 *db = NULL;
    int32_t pts;
    double t0;
    if (st == NULL)
        return;
    T_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL),
             SQLITE_OK);
    T_EQ_INT(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    c.kind = MTS_UPDATE_CHANNEL;
    c.channel_id = 1;
    c.channel_pts = 1;
    t0 = now_s();
    T_EQ_INT(mts_storage_apply_update_state(st, &c, &err), MTS_ELOCKED);
    T_CHECK(now_s() - t0 >= 4.9);
    T_EQ_INT(err.native & 0xff, SQLITE_BUSY);
    T_CONTAINS(err.message, "locked");
    T_EQ_INT(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    /* the handle works again, and the refused write never lands later */
    c.channel_id = 2;
    c.channel_pts = 2;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, &err), 0);
    mts_storage_free(st);
    st2 = h_open(path, NULL);
    got = h_load(st2);
    if (got != NULL) {
        T_EQ_INT(mts_session_channel_pts(got, 1, &pts), MTS_ENOTFOUND);
        T_EQ_INT(mts_session_channel_pts(got, 2, &pts), 0);
        mts_session_free(got);
    }
    mts_storage_free(st2);
}

T_MAIN(T_CASE(test_processes),
       T_CASE(test_threads_own_handles),
       T_CASE(test_load_sees_whole_snapshots),
       T_CASE(test_writer_waits_for_lock),
       T_CASE(test_busy_timeout_then_recovers))
