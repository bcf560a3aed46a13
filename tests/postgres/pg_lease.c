/*
 * pg_lease.c - leases and fencing on the postgres backend, one step at a
 * time (the many-process race is pg_contention.c):
 *
 * - acquire, show, renew (same epoch), release (epoch kept), takeover
 *   (epoch + 1), MTS_ELOCKED naming the holder and its expiry;
 * - every kind of write by a holder whose lease was taken is MTS_EFENCED
 *   and changes nothing; an expired but untaken lease refuses writes
 *   until renewed;
 * - a handle without a lease is refused while someone's lease is live;
 * - delete keeps the lease row (the epoch never goes back);
 * - read-only handles read and show, nothing more.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fixtures.h"
#include "mtsession/sys/alloc.h"
#include "pg_helpers.h"
#include "t.h"

static const char *db;

static mts_storage *
open_acct(const char *account)
{
    mts_storage *st = NULL;
    mts_error err = MTS_ERROR_INIT;
    if (db == NULL)
        db = pgt_new_db("mts_lease");
    if (mts_postgres_open(&st, db, account, &err) != 0) {
        fprintf(stderr, "  open: %s\n", err.message);
        exit(1);
    }
    return st;
}

static int64_t
wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
test_acquire_renew_release(void)
{
    mts_storage *a = open_acct("basic"), *b = open_acct("basic");
    mts_lease l = MTS_LEASE_INIT, m = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = fx_session("small");
    int64_t now = wall_ms();

    T_EQ_INT(mts_lease_show(&l, a, &err), MTS_ENOTFOUND);
    /* an unleased write creates the lease row, still never leased */
    T_EQ_INT(mts_storage_set_home_dc(a, 2, &err), 0);
    T_EQ_INT(mts_lease_show(&l, a, &err), MTS_ENOTFOUND);
    T_CONTAINS(err.message, "never leased");
    T_EQ_INT(mts_lease_renew(&l, a, 1000, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "holds no lease");
    T_EQ_INT(mts_lease_release(a, &err), MTS_EINVAL);

    T_EQ_INT(mts_lease_acquire(&l, a, "worker-a", 30000, &err), 0);
    T_EQ_STR(l.owner, "worker-a");
    T_EQ_U64(l.epoch, 1);
    T_EQ_INT(l.held, 1);
    /* the server's clock, which here is this machine's */
    T_CHECK(l.expires_ms > now + 25000 && l.expires_ms < now + 35000);

    T_EQ_INT(mts_lease_show(&m, b, &err), 0);
    T_EQ_STR(m.owner, "worker-a");
    T_EQ_U64(m.epoch, 1);
    T_EQ_INT(m.held, 1);

    T_EQ_INT(mts_lease_acquire(&m, b, "worker-b", 30000, &err), MTS_ELOCKED);
    T_CONTAINS(err.message, "session held by worker-a until 20");
    /* b holds no lease: its writes are refused while a's is live */
    T_EQ_INT(mts_storage_save(b, s, &err), MTS_ELOCKED);
    T_CONTAINS(err.message, "held by worker-a");
    T_EQ_INT(mts_storage_set_home_dc(b, 3, &err), MTS_ELOCKED);

    /* a writes; acquiring again renews with the same epoch */
    T_EQ_INT(mts_storage_save(a, s, &err), 0);
    T_EQ_INT(mts_lease_acquire(&l, a, "worker-a", 60000, &err), 0);
    T_EQ_U64(l.epoch, 1);
    T_CHECK(l.expires_ms > now + 55000);
    T_EQ_INT(mts_lease_renew(&l, a, 40000, &err), 0);
    T_EQ_U64(l.epoch, 1);
    T_CHECK(l.expires_ms < now + 45000);

    /* release: expires now, the epoch stays */
    T_EQ_INT(mts_lease_release(a, &err), 0);
    T_EQ_INT(mts_lease_show(&m, b, &err), 0);
    T_EQ_INT(m.held, 0);
    T_EQ_U64(m.epoch, 1);
    T_EQ_STR(m.owner, "worker-a");
    /* released, a is an unleased handle again */
    T_EQ_INT(mts_lease_renew(&l, a, 1000, &err), MTS_EINVAL);

    T_EQ_INT(mts_lease_acquire(&m, b, "worker-b", 30000, &err), 0);
    T_EQ_U64(m.epoch, 2);
    T_EQ_INT(mts_storage_set_home_dc(a, 5, &err), MTS_ELOCKED);
    T_EQ_INT(mts_storage_set_home_dc(b, 4, &err), 0);

    /* a takes it back after b releases: a new tenure, a new epoch, even
     * for an owner name seen before */
    T_EQ_INT(mts_lease_release(b, &err), 0);
    T_EQ_INT(mts_lease_acquire(&l, a, "worker-a", 30000, &err), 0);
    T_EQ_U64(l.epoch, 3);
    T_EQ_INT(mts_lease_release(a, &err), 0);
    T_EQ_INT(mts_lease_acquire(&l, a, "worker-a", 30000, &err), 0);
    T_EQ_U64(l.epoch, 4);
    T_EQ_INT(mts_lease_release(a, &err), 0);
    mts_storage_free(a);
    mts_storage_free(b);
    mts_session_free(s);
}

/* Every write a stale holder tries: all fenced, none applied. */
static void
check_all_fenced(mts_storage *st, const char *why)
{
    mts_session *s = fx_session("full");
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    mts_channel_pts ch[1] = { { 999001, 1 } };
    mts_peer p = MTS_PEER_INIT;
    mts_dc dc = MTS_DC_INIT;
    mts_error err = MTS_ERROR_INIT;
    uint8_t key[256];
    memset(key, 0x33, sizeof(key));
    T_EQ_INT(mts_storage_save(st, s, &err), MTS_EFENCED);
    T_CONTAINS(err.message, why);
    c.kind = MTS_UPDATE_PRIMARY;
    c.state.pts = 999;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, &err), MTS_EFENCED);
    c.kind = MTS_UPDATE_SECONDARY;
    c.state.qts = 999;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, &err), MTS_EFENCED);
    c.kind = MTS_UPDATE_CHANNEL;
    c.channel_id = 999002;
    c.channel_pts = 1;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, &err), MTS_EFENCED);
    c.kind = MTS_UPDATE_ALL;
    c.channels = ch;
    c.channel_count = 1;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, &err), MTS_EFENCED);
    p.id = 999003;
    T_EQ_INT(mts_storage_cache_peer(st, &p, &err), MTS_EFENCED);
    dc.dc_id = 9;
    T_EQ_INT(mts_ip_parse(&dc.ip, "10.9.9.9"), 0);
    dc.port = 9;
    dc.auth_key = key;
    T_EQ_INT(mts_storage_update_dc(st, &dc, &err), MTS_EFENCED);
    T_EQ_INT(mts_storage_set_home_dc(st, 9, &err), MTS_EFENCED);
    T_EQ_INT(mts_storage_delete(st, &err), MTS_EFENCED);
    mts_session_free(s);
}

static void
test_takeover_fences(void)
{
    mts_storage *a = open_acct("fence"), *b = open_acct("fence");
    mts_lease l = MTS_LEASE_INIT, m = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = fx_session("small"), *got = NULL;
    mts_update_state us;

    T_EQ_INT(mts_lease_acquire(&l, a, "a", 200, &err), 0);
    T_EQ_INT(mts_storage_save(a, s, &err), 0);
    pgt_sleep_ms(300);
    /* expired, nobody took it: writes are refused until a renews */
    check_all_fenced(a, "expired");
    T_EQ_INT(mts_lease_renew(&l, a, 200, &err), 0);
    T_EQ_U64(l.epoch, 1);
    T_EQ_INT(mts_storage_set_home_dc(a, 7, &err), 0);
    T_EQ_INT(mts_lease_acquire(&m, b, "b", 30000, &err), MTS_ELOCKED);
    pgt_sleep_ms(300);
    T_EQ_INT(mts_lease_acquire(&m, b, "b", 30000, &err), 0);
    T_EQ_U64(m.epoch, 2);
    T_EQ_INT(mts_storage_set_home_dc(b, 4, &err), 0);

    check_all_fenced(a, "now b's (epoch 2)");
    T_EQ_INT(mts_lease_renew(&l, a, 1000, &err), MTS_EFENCED);
    T_CONTAINS(err.message, "epoch 1 is over");
    T_EQ_INT(mts_lease_release(a, &err), MTS_EFENCED);
    /* still fenced after the failed release */
    T_EQ_INT(mts_storage_set_home_dc(a, 8, &err), MTS_EFENCED);

    T_EQ_INT(mts_storage_load(&got, a, &err), 0); /* reads still work */
    if (got != NULL) {
        mts_peer p;
        int32_t pts;
        T_EQ_INT(mts_session_home_dc(got), 4);
        mts_session_update_state(got, &us);
        T_CHECK(us.pts != 999 && us.qts != 999);
        T_EQ_INT(mts_session_get_peer(&p, got, MTS_PEER_USER, 999003),
                 MTS_ENOTFOUND);
        T_EQ_INT(mts_session_channel_pts(got, 999002, &pts), MTS_ENOTFOUND);
        T_EQ_INT(mts_session_channel_pts(got, 999001, &pts), MTS_ENOTFOUND);
        T_EQ_U64(mts_session_dc_count(got), mts_session_dc_count(s));
        mts_session_home_dc(s);
        mts_session_free(got);
    }
    /* a acquires anew once b is done: epoch 3, writes again */
    T_EQ_INT(mts_lease_release(b, &err), 0);
    T_EQ_INT(mts_lease_acquire(&l, a, "a", 30000, &err), 0);
    T_EQ_U64(l.epoch, 3);
    T_EQ_INT(mts_storage_set_home_dc(a, 8, &err), 0);
    /* b is fenced now: its release already ended its tenure, so it is an
     * unleased handle and refused while a holds the lease */
    T_EQ_INT(mts_storage_set_home_dc(b, 9, &err), MTS_ELOCKED);

    /* delete by the holder keeps the lease and its epoch */
    T_EQ_INT(mts_storage_delete(a, &err), 0);
    T_EQ_INT(mts_storage_load(&got, b, &err), MTS_ENOTFOUND);
    T_EQ_INT(mts_lease_show(&m, b, &err), 0);
    T_EQ_U64(m.epoch, 3);
    T_EQ_INT(m.held, 1);
    T_EQ_INT(mts_lease_release(a, &err), 0);
    mts_storage_free(a);
    mts_storage_free(b);
    mts_session_free(s);
}

static void
test_readonly(void)
{
    mts_storage *w = open_acct("ro"), *r = open_acct("ro");
    mts_session *s = fx_session("small"), *got = NULL;
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    T_EQ_INT(mts_lease_acquire(&l, w, "writer", 30000, &err), 0);
    T_EQ_INT(mts_storage_save(w, s, &err), 0);
    mts_storage_set_readonly(r);
    T_EQ_INT(mts_storage_load(&got, r, &err), 0);
    T_CHECK(got && mts_session_equal(got, s));
    mts_session_free(got);
    T_EQ_INT(mts_lease_show(&l, r, &err), 0);
    T_EQ_STR(l.owner, "writer");
    T_EQ_INT(mts_lease_acquire(&l, r, "reader", 30000, &err), MTS_EINVAL);
    T_EQ_INT(mts_storage_save(r, s, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "read-only");
    T_EQ_INT(mts_lease_release(w, &err), 0);
    mts_storage_free(w);
    mts_storage_free(r);
    mts_session_free(s);
}

typedef struct bg_write {
    mts_storage *st;
    const mts_session *s;
    int rc;
    pthread_t th;
} bg_write;

static void *
bg_save(void *arg)
{
    bg_write *w = arg;
    w->rc = mts_storage_save(w->st, w->s, NULL);
    return NULL;
}

static void *
bg_home(void *arg)
{
    bg_write *w = arg;
    w->rc = mts_storage_set_home_dc(w->st, 3, NULL);
    return NULL;
}

/*
 * The fence is checked by the statement under a row lock: a holder's write
 * that waits for the lease row while a taker holds it (FOR UPDATE, as
 * acquire does) proceeds if the row comes back unchanged and writes
 * nothing if it comes back with a new epoch.
 */
static void
test_fence_waits_for_takeover(void)
{
    char ci[1200];
    mts_storage *a, *b = open_acct("wait");
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    mts_session *got = NULL;
    PGconn *c = pgt_connect(db), *watch = pgt_connect(db);
    bg_write w;
    snprintf(ci, sizeof(ci), "%s application_name=mts-wait", db);
    T_EQ_INT(mts_postgres_open(&a, ci, "wait", &err), 0);
    T_EQ_INT(mts_lease_acquire(&l, a, "a", 30000, &err), 0);
    T_EQ_INT(mts_storage_set_home_dc(a, 2, &err), 0);

    for (int round = 0; round < 2; round++) {
        pgt_exec(c, "BEGIN");
        pgt_exec(c, "SELECT * FROM mtsession.leases WHERE account = 'wait' "
                    "FOR UPDATE");
        w.st = a;
        w.rc = 1;
        pthread_create(&w.th, NULL, bg_home, &w);
        T_CHECK(pgt_wait_lock(watch, "mts-wait", 5000));
        if (round == 1)
            pgt_exec(c, "UPDATE mtsession.leases SET owner = 'b', "
                        "epoch = epoch + 1, expires_at = clock_timestamp() + "
                        "interval '1 minute' WHERE account = 'wait'");
        pgt_exec(c, "COMMIT");
        pthread_join(w.th, NULL);
        /* round 0: the lease came back as it was; round 1: taken */
        T_EQ_INT(w.rc, round == 0 ? 0 : MTS_EFENCED);
        T_EQ_INT(mts_storage_load(&got, b, &err), 0);
        T_EQ_INT(got ? mts_session_home_dc(got) : -1, round == 0 ? 3 : 2);
        mts_session_free(got);
        got = NULL;
        if (round == 0)
            T_EQ_INT(mts_storage_set_home_dc(a, 2, &err), 0);
    }
    T_EQ_INT(mts_storage_set_home_dc(a, 5, &err), MTS_EFENCED);
    PQfinish(c);
    PQfinish(watch);
    mts_storage_free(a);
    mts_storage_free(b);
}

/*
 * Writes of handles without a lease are ordered by the lease row, and a
 * write that waited sees what the writer before it committed: here a save
 * waits while another writer adds a peer the save's snapshot lacks; the
 * save, committed last, must remove it.
 */
static void
test_unleased_writes_serialised(void)
{
    char ci[1200];
    mts_storage *st;
    mts_session *s = fx_session("small"), *got = NULL;
    mts_error err = MTS_ERROR_INIT;
    PGconn *c = pgt_connect(db), *watch = pgt_connect(db);
    bg_write w;
    mts_peer p;
    snprintf(ci, sizeof(ci), "%s application_name=mts-serial", db);
    T_EQ_INT(mts_postgres_open(&st, ci, "serial", &err), 0);
    T_EQ_INT(mts_storage_save(st, s, &err), 0);
    /* the other writer: holds the lease row as an unleased write does */
    pgt_exec(c, "BEGIN");
    pgt_exec(c, "SELECT * FROM mtsession.leases WHERE account = 'serial' "
                "FOR UPDATE");
    w.st = st;
    w.s = s;
    w.rc = 1;
    pthread_create(&w.th, NULL, bg_save, &w);
    T_CHECK(pgt_wait_lock(watch, "mts-serial", 5000));
    pgt_exec(c, "INSERT INTO mtsession.peers (account, kind, id) VALUES "
                "('serial', 0, 31337)");
    pgt_exec(c, "COMMIT");
    pthread_join(w.th, NULL);
    T_EQ_INT(w.rc, 0);
    T_EQ_INT(mts_storage_load(&got, st, &err), 0);
    T_EQ_INT(got ? mts_session_get_peer(&p, got, MTS_PEER_USER, 31337) : 0,
             MTS_ENOTFOUND);
    T_CHECK(got && mts_session_equal(got, s));
    mts_session_free(got);
    PQfinish(c);
    PQfinish(watch);
    mts_storage_free(st);
    mts_session_free(s);
}

/* An owner name used by two handles in turn: the epoch, not the name,
 * tells their tenures apart. */
static void
test_same_owner_other_tenure(void)
{
    mts_storage *a1 = open_acct("same"), *a2 = open_acct("same"),
                *b = open_acct("same");
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    mts_session *got = NULL;
    T_EQ_INT(mts_lease_acquire(&l, a1, "host-1", 100, &err), 0);
    T_EQ_U64(l.epoch, 1);
    pgt_sleep_ms(150);
    T_EQ_INT(mts_lease_acquire(&l, b, "other", 30000, &err), 0);
    T_EQ_INT(mts_lease_release(b, &err), 0);
    T_EQ_INT(mts_lease_acquire(&l, a2, "host-1", 30000, &err), 0);
    T_EQ_U64(l.epoch, 3);
    /* a1 still believes in epoch 1 under the same owner name */
    T_EQ_INT(mts_storage_set_home_dc(a1, 9, &err), MTS_EFENCED);
    T_CONTAINS(err.message, "epoch 1 is over");
    T_EQ_INT(mts_lease_renew(&l, a1, 30000, &err), MTS_EFENCED);
    T_EQ_INT(mts_storage_set_home_dc(a2, 3, &err), 0);
    T_EQ_INT(mts_storage_load(&got, b, &err), 0);
    T_EQ_INT(got ? mts_session_home_dc(got) : -1, 3);
    mts_session_free(got);
    mts_storage_free(a1);
    mts_storage_free(a2);
    mts_storage_free(b);
}

T_MAIN(T_CASE(test_acquire_renew_release), T_CASE(test_takeover_fences),
       T_CASE(test_readonly), T_CASE(test_fence_waits_for_takeover),
       T_CASE(test_same_owner_other_tenure),
       T_CASE(test_unleased_writes_serialised))
