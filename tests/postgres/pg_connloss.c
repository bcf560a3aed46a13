/*
 * pg_connloss.c - lost connections on the postgres backend:
 *
 * - the server ends the handle's session between calls
 *   (pg_terminate_backend): the next call of every kind reconnects and
 *   succeeds, leased or not;
 * - a save whose session is ended while it runs (blocked on a row lock,
 *   so the kill lands mid-statement): sent once more and committed, or,
 *   when the second attempt is killed too, MTS_EIO "outcome unknown" with
 *   the old snapshot whole;
 * - saves of a 10,000-peer session killed at random moments: every load
 *   sees one snapshot or the other, whole, and a save reported as done is
 *   the one stored;
 * - a server that is gone: MTS_EIO, and the handle recovers when it is
 *   back (simulated by refusing new connections).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"
#include "mtsession/sys/alloc.h"
#include "pg_helpers.h"
#include "t.h"

static const char *db;
static PGconn *admin;

static mts_storage *
open_app(const char *app, const char *account)
{
    char ci[1200];
    mts_storage *st = NULL;
    mts_error err = MTS_ERROR_INIT;
    snprintf(ci, sizeof(ci), "%s application_name=%s", db, app);
    if (mts_postgres_open(&st, ci, account, &err) != 0) {
        fprintf(stderr, "  open: %s\n", err.message);
        exit(1);
    }
    return st;
}

static mts_session *
load(mts_storage *st)
{
    mts_session *s = NULL;
    mts_error err = MTS_ERROR_INIT;
    int rc = mts_storage_load(&s, st, &err);
    if (rc != 0)
        t_fail(__FILE__, __LINE__, "load: %s %s", mts_errname(rc),
               err.message);
    return s;
}

static void
setup(void)
{
    if (db == NULL) {
        db = pgt_new_db("mts_connloss");
        admin = pgt_connect(db);
    }
}

/* Kill the session between calls: every kind of call recovers. */
static void
test_killed_between_calls(void)
{
    mts_storage *st;
    mts_session *a = fx_session("full"), *got;
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    mts_peer p = MTS_PEER_INIT;
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    int32_t pts;
    setup();
    st = open_app("mts-idle", "idle");

#define KILL() T_EQ_INT(pgt_terminate(admin, "mts-idle"), 1)
    KILL();
    T_EQ_INT(mts_storage_save(st, a, &err), 0);
    KILL();
    got = load(st);
    T_CHECK(got && mts_session_equal(got, a));
    mts_session_free(got);
    KILL();
    c.kind = MTS_UPDATE_CHANNEL;
    c.channel_id = 777;
    c.channel_pts = 7;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, &err), 0);
    KILL();
    p.id = 778;
    T_EQ_INT(mts_storage_cache_peer(st, &p, &err), 0);
    KILL();
    T_EQ_INT(mts_lease_acquire(&l, st, "idle-worker", 30000, &err), 0);
    KILL();
    T_EQ_INT(mts_storage_set_home_dc(st, 4, &err), 0); /* fenced write */
    KILL();
    T_EQ_INT(mts_lease_renew(&l, st, 30000, &err), 0);
    T_EQ_U64(l.epoch, 1);
    KILL();
    T_EQ_INT(mts_lease_show(&l, st, &err), 0);
    KILL();
    got = load(st);
    if (got != NULL) {
        T_EQ_INT(mts_session_channel_pts(got, 777, &pts), 0);
        T_EQ_INT(pts, 7);
        T_EQ_INT(mts_session_get_peer(&p, got, MTS_PEER_USER, 778), 0);
        T_EQ_INT(mts_session_home_dc(got), 4);
        mts_session_free(got);
    }
    KILL();
    T_EQ_INT(mts_lease_release(st, &err), 0);
    /* killed while idle and fenced meanwhile: nothing was sent before the
     * reconnect, so the refusal is certain (MTS_EFENCED, not "unknown") */
    T_EQ_INT(mts_lease_acquire(&l, st, "idle-worker", 30000, &err), 0);
    T_EQ_INT(mts_storage_set_home_dc(st, 4, &err), 0); /* prepared now */
    pgt_exec(admin, "UPDATE mtsession.leases SET owner = 'thief', "
                    "epoch = epoch + 1 WHERE account = 'idle'");
    KILL();
    T_EQ_INT(mts_storage_set_home_dc(st, 5, &err), MTS_EFENCED);
    T_CONTAINS(err.message, "now thief's");
    pgt_exec(admin, "UPDATE mtsession.leases SET expires_at = "
                    "clock_timestamp() WHERE account = 'idle'");
    T_EQ_INT(mts_lease_acquire(&l, st, "idle-worker", 30000, &err), 0);
#undef KILL
    /* exactly one connection, the live one */
    T_EQ_INT(pgt_int(admin, "SELECT count(*) FROM pg_stat_activity WHERE "
                            "application_name = 'mts-idle'"),
             1);
    mts_storage_free(st);
    mts_session_free(a);
}

typedef struct bg_save {
    mts_storage *st;
    const mts_session *s;
    int rc;
    mts_error err;
    pthread_t th;
} bg_save;

static void *
bg_save_run(void *arg)
{
    bg_save *b = arg;
    mts_error_clear(&b->err);
    b->rc = mts_storage_save(b->st, b->s, &b->err);
    return NULL;
}

/* Snapshot B: every table differs from A, and min peer 1 changes (the row
 * the admin connection locks). */
static mts_session *
snapshot(int which)
{
    mts_session *s = fx_big(which ? 300 : 200);
    mts_min_peer mp = { 1, 42, which ? 2 : 1 };
    mts_update_state us = { which ? 20 : 10, 1, 2, 3 };
    if (mts_session_put_min_peer(s, &mp) != 0)
        exit(2);
    mts_session_set_update_state(s, &us);
    mts_session_set_home_dc(s, which ? 5 : 1);
    return s;
}

/* Kill a save mid-statement: it waits on a row lock the admin holds. */
static void
test_killed_during_save(void)
{
    mts_storage *st;
    mts_session *a = snapshot(0), *b = snapshot(1), *got;
    bg_save w;
    setup();
    st = open_app("mts-save", "kill");
    T_EQ_INT(mts_storage_save(st, a, NULL), 0);

    /* twice killed: outcome unknown, and nothing of B is stored */
    pgt_exec(admin, "BEGIN");
    pgt_exec(admin, "SELECT * FROM mtsession.min_peers WHERE account = "
                    "'kill' AND user_id = 1 FOR UPDATE");
    w.st = st;
    w.s = b;
    pthread_create(&w.th, NULL, bg_save_run, &w);
    {
        PGconn *watch = pgt_connect(db);
        T_CHECK(pgt_wait_lock(watch, "mts-save", 5000));
        T_EQ_INT(pgt_terminate(watch, "mts-save"), 1);
        T_CHECK(pgt_wait_lock(watch, "mts-save", 5000)); /* the retry */
        T_EQ_INT(pgt_terminate(watch, "mts-save"), 1);
        PQfinish(watch);
    }
    pthread_join(w.th, NULL);
    pgt_exec(admin, "ROLLBACK");
    T_EQ_INT(w.rc, MTS_EIO);
    T_CONTAINS(w.err.message, "outcome unknown");
    got = load(st);
    T_CHECK(got && mts_session_equal(got, a));
    mts_session_free(got);

    /* killed once: the retry commits B, reported as done */
    pgt_exec(admin, "BEGIN");
    pgt_exec(admin, "SELECT * FROM mtsession.min_peers WHERE account = "
                    "'kill' AND user_id = 1 FOR UPDATE");
    pthread_create(&w.th, NULL, bg_save_run, &w);
    {
        PGconn *watch = pgt_connect(db);
        T_CHECK(pgt_wait_lock(watch, "mts-save", 5000));
        T_EQ_INT(pgt_terminate(watch, "mts-save"), 1);
        T_CHECK(pgt_wait_lock(watch, "mts-save", 5000));
        PQfinish(watch);
    }
    pgt_exec(admin, "ROLLBACK");
    pthread_join(w.th, NULL);
    T_EQ_INT(w.rc, 0);
    got = load(st);
    T_CHECK(got && mts_session_equal(got, b));
    mts_session_free(got);
    mts_storage_free(st);
    mts_session_free(a);
    mts_session_free(b);
}

/*
 * The outcome of a write is unknown when its connection died after it was
 * sent, even if the second attempt is refused: here the first attempt
 * passed the fence and was killed while waiting for a row; before the
 * handle could send it again, another owner took the lease. The second
 * attempt is fenced, which must not be reported as "refused, nothing
 * applied" (the first might have committed): MTS_EIO, outcome unknown.
 */
static void
test_unknown_then_fenced(void)
{
    mts_storage *st;
    mts_session *a = snapshot(0), *b = snapshot(1), *got;
    mts_lease l = MTS_LEASE_INIT;
    PGconn *taker, *watch;
    PGresult *r;
    bg_save w;
    setup();
    taker = pgt_connect(db);
    watch = pgt_connect(db);
    st = open_app("mts-unk", "unknown");
    T_EQ_INT(mts_lease_acquire(&l, st, "first", 60000, NULL), 0);
    T_EQ_INT(mts_storage_save(st, a, NULL), 0);
    pgt_exec(admin, "BEGIN");
    pgt_exec(admin, "SELECT * FROM mtsession.min_peers WHERE account = "
                    "'unknown' AND user_id = 1 FOR UPDATE");
    w.st = st;
    w.s = b;
    pthread_create(&w.th, NULL, bg_save_run, &w);
    T_CHECK(pgt_wait_lock(watch, "mts-unk", 5000)); /* past the fence */
    /* the taker queues for the lease row, behind the save's share lock */
    pgt_exec(taker, "BEGIN");
    T_CHECK(PQsendQuery(taker, "SELECT * FROM mtsession.leases WHERE "
                               "account = 'unknown' FOR UPDATE"));
    pgt_sleep_ms(50);
    T_EQ_INT(pgt_terminate(watch, "mts-unk"), 1);
    while ((r = PQgetResult(taker)) != NULL) /* granted as the save dies */
        PQclear(r);
    T_CHECK(pgt_wait_lock(watch, "mts-unk", 5000)); /* the second attempt */
    pgt_exec(taker, "UPDATE mtsession.leases SET owner = 'second', "
                    "epoch = epoch + 1 WHERE account = 'unknown'");
    pgt_exec(taker, "COMMIT");
    pthread_join(w.th, NULL);
    pgt_exec(admin, "ROLLBACK");
    T_EQ_INT(w.rc, MTS_EIO);
    T_CONTAINS(w.err.message, "outcome unknown");
    got = load(st);
    T_CHECK(got && mts_session_equal(got, a));
    mts_session_free(got);
    /* from now on plainly fenced */
    T_EQ_INT(mts_storage_save(st, b, &w.err), MTS_EFENCED);
    PQfinish(taker);
    PQfinish(watch);
    mts_storage_free(st);
    mts_session_free(a);
    mts_session_free(b);
}

typedef struct killer {
    volatile int stop;
    unsigned seed;
    int kills;
    pthread_t th;
} killer;

static void *
killer_run(void *arg)
{
    killer *k = arg;
    PGconn *c = pgt_connect(db);
    while (!k->stop) {
        pgt_sleep_ms((int)(rand_r(&k->seed) % 25));
        k->kills += pgt_terminate(c, "mts-rand");
    }
    PQfinish(c);
    return NULL;
}

/* 10,000-peer saves killed at random: never half a snapshot. */
static void
test_random_kills(void)
{
    enum { ROUNDS = 24 };
    mts_storage *st;
    mts_session *snap[2], *got;
    killer k;
    int ok = 0, unknown = 0;
    setup();
    snap[0] = fx_big(10000);
    snap[1] = fx_big(10000);
    /* the second differs in every peer's access hash and one state field */
    for (size_t i = 0, n = mts_session_peer_count(snap[0]); i < n; i++) {
        mts_peer p;
        if (mts_session_peer_at(&p, snap[0], i) != 0)
            break;
        p.access_hash ^= 0x5555;
        T_EQ_INT(mts_session_put_peer(snap[1], &p, NULL), 0);
    }
    {
        mts_update_state us = { 1, 2, 3, 4 };
        mts_session_set_update_state(snap[1], &us);
    }
    st = open_app("mts-rand", "rand");
    T_EQ_INT(mts_storage_save(st, snap[0], NULL), 0);
    memset(&k, 0, sizeof(k));
    k.seed = 12345;
    pthread_create(&k.th, NULL, killer_run, &k);
    for (int i = 1; i <= ROUNDS; i++) {
        mts_error err = MTS_ERROR_INIT;
        const mts_session *want = snap[i % 2];
        int rc = mts_storage_save(st, want, &err), tries = 0, saved = rc;
        if (rc == 0)
            ok++;
        else if (rc == MTS_EIO)
            unknown++;
        else
            t_fail(__FILE__, __LINE__, "save: %s %s", mts_errname(rc),
                   err.message);
        /* load may be killed too: it retries; twice killed is EIO */
        do {
            got = NULL;
            rc = mts_storage_load(&got, st, &err);
        } while (rc == MTS_EIO && ++tries < 10);
        T_EQ_INT(rc, 0);
        if (got == NULL)
            continue;
        /* whole, and the new one when the save said so */
        T_CHECK(mts_session_equal(got, snap[0]) ||
                mts_session_equal(got, snap[1]));
        if (saved == 0)
            T_CHECK(mts_session_equal(got, want));
        mts_session_free(got);
    }
    k.stop = 1;
    pthread_join(k.th, NULL);
    /* finally, without the killer: the last acknowledged save is stored */
    {
        mts_error err = MTS_ERROR_INIT;
        T_EQ_INT(mts_storage_save(st, snap[0], &err), 0);
        got = load(st);
        T_CHECK(got && mts_session_equal(got, snap[0]));
        mts_session_free(got);
    }
    fprintf(stderr, "  %d saves acknowledged, %d outcome unknown, %d kills\n",
            ok, unknown, k.kills);
    T_CHECK(k.kills > 0);
    mts_storage_free(st);
    mts_session_free(snap[0]);
    mts_session_free(snap[1]);
}

/* The server refuses connections for a while: MTS_EIO; then it is back
 * and the same handle works. */
static void
test_server_gone(void)
{
    mts_storage *st;
    mts_session *a = fx_session("small"), *got = NULL;
    mts_error err = MTS_ERROR_INIT;
    PGconn *other;
    setup();
    other = pgt_connect(pgt_base()); /* not the database itself */
    st = open_app("mts-gone", "gone");
    T_EQ_INT(mts_storage_save(st, a, NULL), 0);
    pgt_exec(other, "ALTER DATABASE mts_connloss ALLOW_CONNECTIONS false");
    T_EQ_INT(pgt_terminate(other, "mts-gone"), 1);
    T_EQ_INT(mts_storage_load(&got, st, &err), MTS_EIO);
    T_CONTAINS(err.message, "cannot reconnect");
    T_EQ_INT(mts_storage_save(st, a, &err), MTS_EIO);
    pgt_exec(other, "ALTER DATABASE mts_connloss ALLOW_CONNECTIONS true");
    PQfinish(other);
    T_EQ_INT(mts_storage_load(&got, st, &err), 0);
    T_CHECK(got && mts_session_equal(got, a));
    mts_session_free(got);
    mts_storage_free(st);
    mts_session_free(a);
}

T_MAIN(T_CASE(test_killed_between_calls), T_CASE(test_killed_during_save),
       T_CASE(test_unknown_then_fenced),
       T_CASE(test_random_kills), T_CASE(test_server_gone))
