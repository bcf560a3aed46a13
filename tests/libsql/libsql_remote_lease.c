/*
 * libsql_remote_lease.c - leases with fencing and optimistic mode on the
 * libSQL backend's remote and replica modes, step by step, against the
 * Hrana test server ctest starts (tests/hrana-server):
 *
 * - acquire, show, renew (also of an expired lease nobody took), release,
 *   with the exact owner, epoch, expiry (the server's clock) and messages;
 * - a second owner gets MTS_ELOCKED naming the holder; a takeover after
 *   expiry raises the epoch, a release or a renewal keeps it;
 * - a stale holder's save, apply_update_state (every kind), update_dc,
 *   set_home_dc, cache_peer, delete, rekey, save_if, renew and release are
 *   MTS_EFENCED and change nothing on the server (checked by loading);
 * - a handle without a lease is refused (MTS_ELOCKED) while a lease is
 *   live, and writes once it is released;
 * - replica: the lease is the server's (the local file has no lease row),
 *   a stale replica holder's write reaches neither the server nor the file;
 * - optimistic mode: load_rev, save_if success, conflict ("stored revision
 *   X, not the expected Y", nothing written), 0 for nothing stored, on remote,
 *   replica, and (forwarded to the SQLite backend) local files.
 *
 * Environment (set by tests.cmake): MTS_HRANA_PORT_FILE, MTS_HRANA_TOKEN.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fixtures.h"
#include "remote_helpers.h"
#include "t.h"
#include "test_clock.h"

/* The backend's time format: "2026-11-25T10:00:00.123Z". */
static const char *
fmt_time(int64_t ms)
{
    static char buf[64];
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return buf;
}

static mts_storage *
replica(const char *path, const char *name)
{
    mts_storage *st = NULL;
    mts_error err = MTS_ERROR_INIT;
    if (mts_libsql_open_replica(&st, path, rh_url, rh_token, name, &err) != 0)
        t_fail(__FILE__, __LINE__, "open_replica: %s", err.message);
    return st;
}

/* Expire a session's lease on the server now (as docs/FLEET.md tells an
 * operator to take a session away from a stuck worker). */
static void
expire_now(const char *name)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "UPDATE leases SET expires_ms = expires_ms - 86400000 "
             "WHERE session = '%s'",
             name);
    T_EQ_INT(rh_raw_sql(rh_url, sql), 0);
}

/* The message of err is exactly "<store name>: <rest>". */
static void
check_msg(const mts_error *err, mts_storage *st, const char *rest, int line)
{
    char want[512];
    snprintf(want, sizeof(want), "%s: %s", mts_storage_name(st), rest);
    if (strcmp(err->message, want) != 0)
        t_fail(__FILE__, line, "message \"%s\" != \"%s\"", err->message, want);
}
#define CHECK_MSG(err, st, ...)                                                \
    do {                                                                       \
        char m_[400];                                                          \
        snprintf(m_, sizeof(m_), __VA_ARGS__);                                 \
        check_msg(&(err), (st), m_, __LINE__);                                 \
    } while (0)

/* ---- leases -------------------------------------------------------------- */

static void
test_acquire_show_renew_release(void)
{
    const char *name;
    mts_storage *a, *b;
    mts_lease l = MTS_LEASE_INIT, shown = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = fx_session("small"), *got;
    int64_t before, after, first_exp;
    rh_setup();
    name = rh_unique_name("lease");
    a = rh_remote(name);
    b = rh_remote(name);

    /* never leased */
    T_EQ_INT(mts_lease_show(&shown, a, &err), MTS_ENOTFOUND);
    CHECK_MSG(err, a, "never leased");

    before = tc_wall_ms();
    T_EQ_INT(mts_lease_acquire(&l, a, "alpha", 60000, &err), 0);
    after = tc_wall_ms();
    T_EQ_STR(l.owner, "alpha");
    T_EQ_U64(l.epoch, 1);
    T_EQ_INT(l.held, 1);
    /* the server's clock, on this machine: now + ttl */
    T_CHECK(l.expires_ms >= before + 60000 - 50);
    T_CHECK(l.expires_ms <= after + 60000 + 50);
    first_exp = l.expires_ms;

    /* anyone sees it */
    T_EQ_INT(mts_lease_show(&shown, b, &err), 0);
    T_EQ_STR(shown.owner, "alpha");
    T_EQ_U64(shown.epoch, 1);
    T_EQ_INT(shown.expires_ms, first_exp);
    T_EQ_INT(shown.held, 1);

    /* a second owner is refused, naming the holder */
    T_EQ_INT(mts_lease_acquire(&l, b, "beta", 60000, &err), MTS_ELOCKED);
    CHECK_MSG(err, b, "session held by alpha until %s", fmt_time(first_exp));
    T_EQ_INT(mts_lease_show(&shown, b, &err), 0);
    T_EQ_STR(shown.owner, "alpha");
    T_EQ_U64(shown.epoch, 1);

    /* the same owner again: a renewal, same epoch */
    tc_sleep_ms(5);
    T_EQ_INT(mts_lease_acquire(&l, a, "alpha", 60000, &err), 0);
    T_EQ_U64(l.epoch, 1);
    T_CHECK(l.expires_ms > first_exp);
    T_EQ_INT(mts_lease_renew(&l, a, 120000, &err), 0);
    T_EQ_U64(l.epoch, 1);
    T_EQ_STR(l.owner, "alpha");
    T_CHECK(l.expires_ms >= first_exp + 60000);
    T_EQ_INT(mts_lease_show(&shown, b, &err), 0);
    T_EQ_INT(shown.expires_ms, l.expires_ms);

    /* the holder writes; a handle without a lease may not, but reads */
    T_EQ_INT(mts_storage_save(a, s, &err), 0);
    T_EQ_INT(mts_storage_save(b, s, &err), MTS_ELOCKED);
    CHECK_MSG(err, b, "save: session held by alpha until %s",
              fmt_time(l.expires_ms));
    got = fx_load(b);
    T_CHECK(got != NULL && mts_session_equal(got, s));
    mts_session_free(got);

    /* release: expires now, the epoch stays; the handle holds nothing */
    before = tc_wall_ms();
    T_EQ_INT(mts_lease_release(a, &err), 0);
    T_EQ_INT(mts_lease_show(&shown, b, &err), 0);
    T_EQ_STR(shown.owner, "alpha");
    T_EQ_U64(shown.epoch, 1);
    T_EQ_INT(shown.held, 0);
    T_CHECK(shown.expires_ms >= before - 50 &&
            shown.expires_ms <= tc_wall_ms());
    T_EQ_INT(mts_lease_renew(&l, a, 1000, &err), MTS_EINVAL);
    CHECK_MSG(err, a, "this handle holds no lease");
    T_EQ_INT(mts_lease_release(a, &err), MTS_EINVAL);

    /* another owner now: epoch 2; the same owner after a release: 3 */
    T_EQ_INT(mts_lease_acquire(&l, b, "beta", 60000, &err), 0);
    T_EQ_U64(l.epoch, 2);
    T_EQ_STR(l.owner, "beta");
    T_EQ_INT(mts_lease_release(b, &err), 0);
    T_EQ_INT(mts_lease_acquire(&l, b, "beta", 60000, &err), 0);
    T_EQ_U64(l.epoch, 3);
    /* a without a lease is refused while beta's is live */
    T_EQ_INT(mts_storage_delete(a, &err), MTS_ELOCKED);
    CHECK_MSG(err, a, "delete: session held by beta until %s",
              fmt_time(l.expires_ms));
    got = fx_load(a);
    T_CHECK(got != NULL && mts_session_equal(got, s));
    mts_session_free(got);
    /* the holder's delete keeps the lease row and its epoch */
    T_EQ_INT(mts_storage_delete(b, &err), 0);
    T_EQ_INT(mts_storage_load(&got, b, &err), MTS_ENOTFOUND);
    T_EQ_INT(mts_lease_show(&shown, a, &err), 0);
    T_EQ_U64(shown.epoch, 3);
    T_EQ_INT(shown.held, 1);
    T_EQ_INT(mts_lease_release(b, &err), 0);
    /* released: a handle without a lease writes again */
    T_EQ_INT(mts_storage_save(a, s, &err), 0);

    mts_storage_free(a);
    mts_storage_free(b);
    mts_session_free(s);
}

/* An expired lease nobody took can be renewed (same epoch); the holder's
 * writes are fenced while it is expired, and pass again after. */
static void
test_expired_renew(void)
{
    const char *name;
    mts_storage *a;
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = fx_session("small");
    mts_peer p = MTS_PEER_INIT;
    int64_t exp;
    rh_setup();
    name = rh_unique_name("expired");
    a = rh_remote(name);
    T_EQ_INT(mts_lease_acquire(&l, a, "alpha", 150, &err), 0);
    T_EQ_U64(l.epoch, 1);
    T_EQ_INT(mts_storage_save(a, s, &err), 0);
    tc_sleep_ms(300);
    T_EQ_INT(mts_lease_show(&l, a, &err), 0);
    T_EQ_INT(l.held, 0);
    exp = l.expires_ms;
    p.id = 31;
    p.access_hash = 32;
    T_EQ_INT(mts_storage_cache_peer(a, &p, &err), MTS_EFENCED);
    CHECK_MSG(err, a,
              "cache peer: fenced: the lease (epoch 1) expired at %s; "
              "renew it",
              fmt_time(exp));
    T_EQ_INT(mts_lease_renew(&l, a, 60000, &err), 0);
    T_EQ_U64(l.epoch, 1);
    T_EQ_INT(l.held, 1);
    T_EQ_INT(mts_storage_cache_peer(a, &p, &err), 0);
    /* the same owner acquiring an expired lease is a new tenure */
    expire_now(name);
    T_EQ_INT(mts_lease_acquire(&l, a, "alpha", 60000, &err), 0);
    T_EQ_U64(l.epoch, 2);
    T_EQ_INT(mts_lease_release(a, &err), 0);
    mts_storage_free(a);
    mts_session_free(s);
}

/* Every write of a holder whose lease was taken over is fenced and
 * changes nothing. */
static void
test_stale_holder_fenced(void)
{
    const char *name;
    mts_storage *a, *b, *c;
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = fx_session("full"), *other = fx_session("small");
    mts_session *got;
    mts_update_change ch = MTS_UPDATE_CHANGE_INIT;
    mts_channel_pts cp = { 9999, 1 };
    mts_peer p = MTS_PEER_INIT;
    mts_dc dc = MTS_DC_INIT;
    mts_secret *key = NULL;
    uint8_t k[MTS_SEAL_KEY_SIZE];
    uint64_t rev = 0, nrev = 0;
    const char *over = "fenced: epoch 1 is over; the lease is now beta's "
                       "(epoch 2)";
    int rc;
    rh_setup();
    name = rh_unique_name("stale");
    a = rh_remote(name);
    b = rh_remote(name);
    c = rh_remote(name);
    memset(k, 0x5c, sizeof(k));
    T_EQ_INT(mts_secret_from_key(&key, k, NULL), 0);

    T_EQ_INT(mts_lease_acquire(&l, a, "alpha", 60000, &err), 0);
    T_EQ_INT(mts_storage_save(a, s, &err), 0);
    T_EQ_INT(mts_storage_load_rev(NULL, &rev, a, &err), 0);
    /* a stuck worker: the operator expires its lease, beta takes it */
    expire_now(name);
    T_EQ_INT(mts_lease_acquire(&l, b, "beta", 60000, &err), 0);
    T_EQ_U64(l.epoch, 2);

    T_EQ_INT(mts_storage_save(a, other, &err), MTS_EFENCED);
    CHECK_MSG(err, a, "save: %s", over);
    ch.kind = MTS_UPDATE_ALL;
    ch.state.pts = -7;
    ch.channels = &cp;
    ch.channel_count = 1;
    T_EQ_INT(mts_storage_apply_update_state(a, &ch, &err), MTS_EFENCED);
    CHECK_MSG(err, a, "apply update state: %s", over);
    ch.kind = MTS_UPDATE_PRIMARY;
    T_EQ_INT(mts_storage_apply_update_state(a, &ch, &err), MTS_EFENCED);
    ch.kind = MTS_UPDATE_SECONDARY;
    ch.state.qts = -7;
    T_EQ_INT(mts_storage_apply_update_state(a, &ch, &err), MTS_EFENCED);
    ch.kind = MTS_UPDATE_CHANNEL;
    ch.channel_id = 9998;
    ch.channel_pts = 1;
    T_EQ_INT(mts_storage_apply_update_state(a, &ch, &err), MTS_EFENCED);
    p.id = 900000001;
    p.access_hash = 1;
    T_EQ_INT(mts_storage_cache_peer(a, &p, &err), MTS_EFENCED);
    CHECK_MSG(err, a, "cache peer: %s", over);
    T_EQ_INT(mts_session_dc_at(&dc, s, 0), 0);
    dc.port = 1;
    T_EQ_INT(mts_storage_update_dc(a, &dc, &err), MTS_EFENCED);
    CHECK_MSG(err, a, "update dc: %s", over);
    T_EQ_INT(mts_storage_set_home_dc(a, 5, &err), MTS_EFENCED);
    CHECK_MSG(err, a, "set home dc: %s", over);
    T_EQ_INT(mts_storage_delete(a, &err), MTS_EFENCED);
    CHECK_MSG(err, a, "delete: %s", over);
    T_EQ_INT(mts_libsql_rekey(a, key, &err), MTS_EFENCED);
    CHECK_MSG(err, a, "rekey: %s", over);
    T_EQ_INT(mts_storage_save_if(a, other, rev, &nrev, &err), MTS_EFENCED);
    CHECK_MSG(err, a, "save_if: %s", over);
    T_EQ_INT(mts_lease_renew(&l, a, 60000, &err), MTS_EFENCED);
    CHECK_MSG(err, a, "lease renew: %s", over);
    T_EQ_INT(mts_lease_release(a, &err), MTS_EFENCED);
    CHECK_MSG(err, a, "lease release: %s", over);
    /* still fenced: the handle keeps its old lease */
    T_EQ_INT(mts_storage_save(a, other, &err), MTS_EFENCED);

    /* nothing of it reached the server: same session, same revision */
    got = fx_load(c);
    T_CHECK(got != NULL && mts_session_equal(got, s));
    mts_session_free(got);
    {
        uint64_t now_rev = 0;
        T_EQ_INT(mts_storage_load_rev(NULL, &now_rev, c, &err), 0);
        T_EQ_U64(now_rev, rev);
    }
    T_EQ_INT(mts_lease_show(&l, c, &err), 0);
    T_EQ_STR(l.owner, "beta");
    T_EQ_U64(l.epoch, 2);

    /* the new holder writes; a handle without a lease may not */
    T_EQ_INT(mts_storage_cache_peer(b, &p, &err), 0);
    rc = mts_storage_cache_peer(c, &p, &err);
    T_EQ_INT(rc, MTS_ELOCKED);
    T_CONTAINS(err.message, "cache peer: session held by beta until ");
    got = fx_load(c);
    T_CHECK(got != NULL &&
            mts_session_peer_count(got) == mts_session_peer_count(s) + 1);
    mts_session_free(got);
    T_EQ_INT(mts_lease_release(b, &err), 0);

    mts_secret_free(key);
    mts_storage_free(a);
    mts_storage_free(b);
    mts_storage_free(c);
    mts_session_free(s);
    mts_session_free(other);
}

/* A replica's lease is the server's; a fenced replica write reaches
 * neither the server nor its file. */
static void
test_replica_lease(void)
{
    const char *name;
    char path[4096];
    mts_storage *r, *b, *file;
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = fx_session("small"), *other = fx_session("full"), *got;
    mts_peer p = MTS_PEER_INIT;
    rh_setup();
    name = rh_unique_name("replease");
    snprintf(path, sizeof(path), "%s/replica-lease.db", t_tmpdir());
    r = replica(path, name);
    b = rh_remote(name);
    T_EQ_INT(mts_lease_acquire(&l, r, "rep", 60000, &err), 0);
    T_EQ_U64(l.epoch, 1);
    T_EQ_INT(mts_storage_save(r, s, &err), 0);
    /* the server holds the lease: a remote handle sees it and is refused */
    T_EQ_INT(mts_lease_show(&l, b, &err), 0);
    T_EQ_STR(l.owner, "rep");
    T_EQ_INT(mts_storage_save(b, other, &err), MTS_ELOCKED);
    /* the local file keeps no lease of it */
    T_EQ_INT(mts_sqlite_open(&file, path, name, &err), 0);
    T_EQ_INT(mts_lease_show(&l, file, &err), MTS_ENOTFOUND);
    mts_storage_free(file);

    expire_now(name);
    T_EQ_INT(mts_lease_acquire(&l, b, "beta", 60000, &err), 0);
    T_EQ_U64(l.epoch, 2);
    T_EQ_INT(mts_storage_save(r, other, &err), MTS_EFENCED);
    CHECK_MSG(err, r,
              "save: fenced: epoch 1 is over; the lease is now beta's "
              "(epoch 2)");
    p.id = 77;
    p.access_hash = 78;
    T_EQ_INT(mts_storage_cache_peer(r, &p, &err), MTS_EFENCED);
    /* neither the server nor the file changed */
    got = fx_load(b);
    T_CHECK(got != NULL && mts_session_equal(got, s));
    mts_session_free(got);
    got = fx_load(r);
    T_CHECK(got != NULL && mts_session_equal(got, s));
    mts_session_free(got);
    T_EQ_INT(mts_lease_release(b, &err), 0);
    mts_storage_free(r);
    mts_storage_free(b);
    mts_session_free(s);
    mts_session_free(other);
}

/* ---- optimistic mode ----------------------------------------------------- */

/* x and y address one session; x may be a replica (whose loads are served
 * from its file until a conflict or a sync pulls the server's state). */
static void
check_optimistic(mts_storage *x, mts_storage *y, int x_replica)
{
    mts_session *s = fx_session("small"), *s2 = fx_session("full"), *got;
    mts_error err = MTS_ERROR_INIT;
    mts_peer p = MTS_PEER_INIT;
    uint64_t r0 = 99, r1 = 0, r2 = 0, r3 = 0, r;
    char want[128];

    /* nothing stored: MTS_ENOTFOUND and revision 0 */
    got = (mts_session *)1;
    T_EQ_INT(mts_storage_load_rev(&got, &r0, x, &err), MTS_ENOTFOUND);
    T_EQ_U64(r0, 0);
    T_CHECK(got == NULL);
    /* only if nothing is stored */
    T_EQ_INT(mts_storage_save_if(x, s, 0, &r1, &err), 0);
    T_CHECK(r1 != 0);
    T_EQ_INT(mts_storage_save_if(y, s2, 0, &r, &err), MTS_ECONFLICT);
    snprintf(want, sizeof(want),
             ": save_if: the stored revision is %llu, not the expected 0: "
             "nothing written",
             (unsigned long long)r1);
    T_CONTAINS(err.message, want);
    /* the other handle reads the same revision and session */
    T_EQ_INT(mts_storage_load_rev(&got, &r, y, &err), 0);
    T_EQ_U64(r, r1);
    T_CHECK(got != NULL && mts_session_equal(got, s));
    mts_session_free(got);
    /* a granular write moves the revision on */
    p.id = 4711;
    p.access_hash = -4711;
    T_EQ_INT(mts_storage_cache_peer(y, &p, &err), 0);
    T_EQ_INT(mts_storage_load_rev(NULL, &r2, y, &err), 0);
    T_CHECK(r2 != 0 && r2 != r1);
    /* x saves over r1: refused, nothing written */
    T_EQ_INT(mts_storage_save_if(x, s2, r1, &r, &err), MTS_ECONFLICT);
    snprintf(want, sizeof(want),
             ": save_if: the stored revision is %llu, not the expected %llu: "
             "nothing written",
             (unsigned long long)r2, (unsigned long long)r1);
    T_CONTAINS(err.message, want);
    T_EQ_INT(mts_storage_load_rev(&got, &r, y, &err), 0);
    T_EQ_U64(r, r2);
    T_CHECK(got != NULL && !mts_session_equal(got, s2) &&
            mts_session_peer_count(got) == mts_session_peer_count(s) + 1);
    mts_session_free(got);
    /* load again, save over r2: accepted */
    T_EQ_INT(mts_storage_load_rev(&got, &r, x, &err), 0);
    T_EQ_U64(r, r2);
    mts_session_free(got);
    T_EQ_INT(mts_storage_save_if(x, s2, r2, &r3, &err), 0);
    T_CHECK(r3 != 0 && r3 != r2 && r3 != r1);
    T_EQ_INT(mts_storage_load_rev(&got, &r, y, &err), 0);
    T_EQ_U64(r, r3);
    T_CHECK(got != NULL && mts_session_equal(got, s2));
    mts_session_free(got);
    /* a plain save moves it on too; a stale expectation then fails */
    T_EQ_INT(mts_storage_save(y, s, &err), 0);
    T_EQ_INT(mts_storage_save_if(x, s2, r3, &r, &err), MTS_ECONFLICT);
    T_EQ_INT(mts_storage_load_rev(&got, &r, x, &err), 0);
    T_CHECK(r != r3 && got != NULL && mts_session_equal(got, s));
    mts_session_free(got);
    /* after a delete, 0 again */
    T_EQ_INT(mts_storage_delete(y, &err), 0);
    if (x_replica)
        T_EQ_INT(mts_libsql_sync(x, &err), 0);
    T_EQ_INT(mts_storage_load_rev(NULL, &r, x, &err), MTS_ENOTFOUND);
    T_EQ_U64(r, 0);
    T_EQ_INT(mts_storage_save_if(x, s, r3, &r, &err), MTS_ECONFLICT);
    T_CONTAINS(err.message, "the stored revision is 0, not the expected");
    T_EQ_INT(mts_storage_save_if(x, s, 0, &r, &err), 0);
    mts_session_free(s);
    mts_session_free(s2);
}

static void
test_optimistic_remote(void)
{
    const char *name;
    mts_storage *x, *y;
    rh_setup();
    name = rh_unique_name("optimistic");
    x = rh_remote(name);
    y = rh_remote(name);
    check_optimistic(x, y, 0);
    mts_storage_free(x);
    mts_storage_free(y);
}

/* A sessions row without a revision (rev 0: written before rows had
 * one, or by another program) reports 2^63, never 0 ("nothing stored"),
 * and an optimistic save expecting 2^63 replaces it once. */
static void
test_optimistic_unstamped(void)
{
    const uint64_t legacy = (uint64_t)1 << 63;
    mts_session *s = fx_session("small"), *s2 = fx_session("full"), *got;
    mts_error err = MTS_ERROR_INIT;
    uint64_t r = 0, r2 = 0;
    const char *name;
    char sql[256], want[160];
    mts_storage *x;
    rh_setup();
    name = rh_unique_name("unstamped");
    x = rh_remote(name);
    T_EQ_INT(mts_storage_save(x, s, &err), 0);
    snprintf(sql, sizeof(sql), "UPDATE sessions SET rev = 0 WHERE name = '%s'",
             name);
    T_EQ_INT(rh_raw_sql(rh_url, sql), 0);
    T_EQ_INT(mts_storage_load_rev(&got, &r, x, &err), 0);
    T_EQ_U64(r, legacy);
    T_CHECK(got != NULL && mts_session_equal(got, s));
    mts_session_free(got);
    /* expecting "nothing stored" is a conflict naming 2^63 */
    T_EQ_INT(mts_storage_save_if(x, s2, 0, &r2, &err), MTS_ECONFLICT);
    snprintf(want, sizeof(want),
             ": save_if: the stored revision is %llu, not the expected 0: "
             "nothing written",
             (unsigned long long)legacy);
    T_CONTAINS(err.message, want);
    /* expecting 2^63 replaces the unstamped row, once */
    T_EQ_INT(mts_storage_save_if(x, s2, legacy, &r2, &err), 0);
    T_CHECK(r2 != 0 && r2 != legacy);
    T_EQ_INT(mts_storage_save_if(x, s, legacy, &r, &err), MTS_ECONFLICT);
    T_EQ_INT(mts_storage_load_rev(&got, &r, x, &err), 0);
    T_EQ_U64(r, r2);
    T_CHECK(got != NULL && mts_session_equal(got, s2));
    mts_session_free(got);
    mts_storage_free(x);
    mts_session_free(s);
    mts_session_free(s2);
}

static void
test_optimistic_replica(void)
{
    const char *name;
    char path[4096];
    mts_storage *x, *y, *file;
    mts_session *got;
    mts_error err = MTS_ERROR_INIT;
    rh_setup();
    name = rh_unique_name("optrep");
    snprintf(path, sizeof(path), "%s/replica-opt.db", t_tmpdir());
    x = replica(path, name);
    y = rh_remote(name);
    check_optimistic(x, y, 1);
    /* the file holds what the replica's last save_if wrote */
    T_EQ_INT(mts_sqlite_open(&file, path, name, &err), 0);
    got = fx_load(file);
    {
        mts_session *s = fx_session("small");
        T_CHECK(got != NULL && mts_session_equal(got, s));
        mts_session_free(s);
    }
    mts_session_free(got);
    mts_storage_free(file);
    /* another handle writes: the replica's file is behind, so its first
     * save_if conflicts, which makes the next load_rev pull */
    {
        mts_session *s2 = fx_session("full");
        uint64_t r = 0, seen = 0, r2 = 0;
        T_EQ_INT(mts_storage_load_rev(NULL, &seen, x, &err), 0);
        T_EQ_INT(mts_storage_save(y, s2, &err), 0);
        T_EQ_INT(mts_storage_load_rev(NULL, &r, y, &err), 0);
        T_CHECK(r != seen);
        T_EQ_INT(mts_storage_save_if(x, s2, seen, &r2, &err), MTS_ECONFLICT);
        T_EQ_INT(mts_storage_load_rev(&got, &r2, x, &err), 0);
        T_EQ_U64(r2, r);
        T_CHECK(got != NULL && mts_session_equal(got, s2));
        mts_session_free(got);
        T_EQ_INT(mts_storage_save_if(x, s2, r, &r2, &err), 0);
        mts_session_free(s2);
    }
    mts_storage_free(x);
    mts_storage_free(y);
}

/* Local files forward to the SQLite backend's revisions. */
static void
test_optimistic_local(void)
{
    char path[4096];
    mts_storage *x, *y;
    mts_error err = MTS_ERROR_INIT;
    uint64_t r = 0;
    int rc;
    snprintf(path, sizeof(path), "%s/local-opt.db", t_tmpdir());
    T_EQ_INT(mts_libsql_open_local(&x, path, "opt", &err), 0);
    T_EQ_INT(mts_libsql_open_local(&y, path, "opt", &err), 0);
    rc = mts_storage_load_rev(NULL, &r, x, &err);
    if (rc == MTS_ENOTSUPPORTED) {
        /* the SQLite backend keeps no revisions yet: the libSQL handle
         * says so under its own name */
        T_CONTAINS(err.message, mts_storage_name(x));
        fprintf(stderr, "  local optimistic mode: the SQLite backend "
                        "answers MTS_ENOTSUPPORTED\n");
    } else {
        T_EQ_INT(rc, MTS_ENOTFOUND);
        check_optimistic(x, y, 0);
    }
    mts_storage_free(x);
    mts_storage_free(y);
}

T_MAIN(T_CASE(test_acquire_show_renew_release),
       T_CASE(test_expired_renew),
       T_CASE(test_stale_holder_fenced),
       T_CASE(test_replica_lease),
       T_CASE(test_optimistic_remote), T_CASE(test_optimistic_unstamped),
       T_CASE(test_optimistic_replica),
       T_CASE(test_optimistic_local))
