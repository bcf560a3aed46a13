/*
 * pg_rekey.c - re-sealing a PostgreSQL account in place
 * (mts_postgres_rekey) and sealed accounts opened without a secret (the
 * locked state):
 *
 * - clear -> sealed, sealed -> another key (the old key is MTS_EBADKEY,
 *   the new one loads the same session: equal, and the same canonical
 *   JSON), sealed -> clear; a raw scan of the tables after each;
 * - the current secret does not open the account (no secret, or one a
 *   rekey through another handle made stale): refused, nothing changed;
 * - fenced: a holder whose lease passed on is MTS_EFENCED, one whose
 *   lease expired too, a handle without a lease while someone's is live
 *   MTS_ELOCKED; nothing changed;
 * - an account with nothing stored: the seal row alone;
 * - the revision changes with every rekey;
 * - handles opened before a rekey: their writes of secret columns are
 *   refused (the seal gate) with the error their secret gets, nothing
 *   written; without a secret they adopt the new state;
 * - locked handles: leases, delete and the revision work; load, save,
 *   save_if and every granular write are MTS_EENCRYPTED, nothing written;
 * - a connection the server ended before the call is reopened;
 * - rekeys racing unleased writers without a secret: no clear value ever
 *   lands in the sealed account.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"
#include "mtsession/seal.h"
#include "mtsession/sys/alloc.h"
#include "pg_helpers.h"
#include "t.h"

static const char *db;

static int
open_with(mts_storage **out, const char *account, mts_secret *secret,
          mts_error *err)
{
    mts_postgres_options o = MTS_POSTGRES_OPTIONS_INIT;
    o.secret = secret;
    *out = NULL;
    return mts_postgres_open_ex(out, db, account, &o, err);
}

/* The full fixture with a future auth token. */
static mts_session *
full_session(void)
{
    mts_session *s = fx_session("full");
    uint8_t token[48];
    memset(token, 0xc3, sizeof(token));
    T_EQ_INT(mts_session_set_future_auth_token(s, token, sizeof(token)), 0);
    return s;
}

/* Equal, and the same canonical JSON document (every field). */
static void
check_same(const mts_session *got, const mts_session *want, int line)
{
    uint8_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    if (got == NULL) {
        t_fail(__FILE__, line, "no session loaded");
        return;
    }
    if (!mts_session_equal(got, want))
        t_fail(__FILE__, line, "loaded session differs");
    T_EQ_INT(mts_format_encode(&a, &na, MTS_FORMAT_JSON, got, NULL, NULL,
                               NULL),
             0);
    T_EQ_INT(mts_format_encode(&b, &nb, MTS_FORMAT_JSON, want, NULL, NULL,
                               NULL),
             0);
    if (a == NULL || b == NULL || na != nb || memcmp(a, b, na) != 0)
        t_fail(__FILE__, line, "canonical JSON differs");
    mts_free(a);
    mts_free(b);
}

/* Load through a new handle with `secret` and compare. */
static void
check_loads(const char *account, mts_secret *secret, const mts_session *want,
            int line)
{
    mts_storage *st = NULL;
    mts_session *got = NULL;
    mts_error err = MTS_ERROR_INIT;
    int rc = open_with(&st, account, secret, &err);
    if (rc == 0)
        rc = mts_storage_load(&got, st, &err);
    if (rc != 0)
        t_fail(__FILE__, line, "open/load %s: %s %s", account,
               mts_errname(rc), err.message);
    else
        check_same(got, want, line);
    mts_session_free(got);
    mts_storage_free(st);
}

/* The stored revision (0: nothing stored). */
static uint64_t
rev_of(mts_storage *st)
{
    uint64_t rev = 0;
    int rc = mts_storage_load_rev(NULL, &rev, st, NULL);
    T_CHECK(rc == 0 || rc == MTS_ENOTFOUND);
    return rev;
}

/* A digest of everything stored for `account`, its seal and lease rows
 * included (the lease's expiry left out). */
static void
digest(PGconn *c, const char *account, char out[64])
{
    char sql[1200];
    PGresult *r;
    snprintf(sql, sizeof(sql),
             "SELECT md5(concat("
             "(SELECT string_agg(t::text, ',' ORDER BY t::text) FROM "
             "mtsession.sessions t WHERE account = '%s'), '|', "
             "(SELECT string_agg(t::text, ',' ORDER BY t::text) FROM "
             "mtsession.dcs t WHERE account = '%s'), '|', "
             "(SELECT string_agg(t::text, ',' ORDER BY t::text) FROM "
             "mtsession.peers t WHERE account = '%s'), '|', "
             "(SELECT string_agg(t::text, ',' ORDER BY t::text) FROM "
             "mtsession.seals t WHERE account = '%s'), '|', "
             "(SELECT string_agg(owner || ':' || epoch, ',') FROM "
             "mtsession.leases WHERE account = '%s')))",
             account, account, account, account, account);
    r = PQexec(c, sql);
    out[0] = '\0';
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        t_fail(__FILE__, __LINE__, "digest: %s", PQresultErrorMessage(r));
    else
        snprintf(out, 64, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

/* Whether any secret column of `account` holds `needle`. */
static int
scan_has(PGconn *c, const char *account, const void *needle, size_t n)
{
    return pgt_any_contains(
        c,
        "SELECT auth_key FROM mtsession.dcs WHERE account = $1 UNION ALL "
        "SELECT int8send(server_salt) FROM mtsession.dcs WHERE account = $1 "
        "UNION ALL SELECT future_token FROM mtsession.sessions WHERE "
        "account = $1",
        account, needle, n);
}

/* The first auth key of s (the fixture has one). */
static const uint8_t *
first_key(const mts_session *s)
{
    mts_dc dc;
    for (size_t i = 0; i < mts_session_dc_count(s); i++)
        if (mts_session_dc_at(&dc, s, i) == 0 && dc.auth_key != NULL)
            return dc.auth_key;
    return NULL;
}

/* Rekey st to `to` (NULL: clear) and return the new revision, which must
 * be set and differ from `before`. */
static uint64_t
rekey_to(mts_storage *st, mts_secret *to, uint64_t before, int line)
{
    mts_error err = MTS_ERROR_INIT;
    uint64_t rev;
    int rc = mts_postgres_rekey(st, to, &err);
    if (rc != 0)
        t_fail(__FILE__, line, "rekey: %s %s", mts_errname(rc), err.message);
    rev = rev_of(st);
    if (rev == 0 || rev == before)
        t_fail(__FILE__, line, "rekey: revision %llu after %llu",
               (unsigned long long)rev, (unsigned long long)before);
    return rev;
}

static int64_t
seal_rows(PGconn *c, const char *account)
{
    return pgt_int(c, "SELECT count(*) FROM mtsession.seals WHERE account "
                      "= '%s'",
                   account);
}

static void
test_clear_to_sealed_to_other_to_clear(void)
{
    mts_secret *k1 = pgt_raw_secret(0x11), *k2 = pgt_pass_secret("second one");
    mts_storage *st = NULL, *other = NULL;
    mts_session *s = full_session(), *got = NULL;
    mts_error err = MTS_ERROR_INIT;
    const uint8_t *key = first_key(s);
    uint64_t r0, r1, r2;
    PGconn *c = pgt_connect(db);
    T_CHECK(key != NULL);

    T_EQ_INT(open_with(&st, "cycle", NULL, NULL), 0);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    r0 = rev_of(st);
    T_CHECK(r0 != 0);
    T_EQ_INT(scan_has(c, "cycle", key, 32), 1);

    /* clear -> sealed */
    r1 = rekey_to(st, k1, r0, __LINE__);
    T_EQ_INT(scan_has(c, "cycle", key, 32), 0);
    T_EQ_INT(seal_rows(c, "cycle"), 1);
    T_EQ_INT(pgt_int(c, "SELECT count(*) FROM mtsession.dcs WHERE account = "
                        "'cycle' AND (server_salt <> 0 OR server_salt_sealed "
                        "IS NULL OR (auth_key IS NOT NULL AND "
                        "octet_length(auth_key) <> 297))"),
             0);
    T_EQ_INT(mts_storage_load(&got, st, &err), 0); /* the handle switched */
    check_same(got, s, __LINE__);
    mts_session_free(got);
    got = NULL;
    check_loads("cycle", k1, s, __LINE__);
    T_EQ_INT(open_with(&other, "cycle", k2, &err), MTS_EBADKEY);
    T_EQ_INT(open_with(&other, "cycle", NULL, &err), 0); /* locked */
    T_EQ_INT(mts_storage_load(&got, other, &err), MTS_EENCRYPTED);
    mts_storage_free(other);
    other = NULL;

    /* sealed -> another key, through a handle with the first one; a
     * handle opened with k1 before is out of date after it */
    T_EQ_INT(open_with(&other, "cycle", k1, NULL), 0);
    r2 = rekey_to(st, k2, r1, __LINE__);
    T_EQ_INT(scan_has(c, "cycle", key, 32), 0);
    {
        mts_storage *x = NULL;
        T_EQ_INT(open_with(&x, "cycle", k1, &err), MTS_EBADKEY);
        T_CHECK(x == NULL);
    }
    check_loads("cycle", k2, s, __LINE__);
    /* the handle opened with k1 before: refused, nothing written */
    T_EQ_INT(mts_storage_save(other, s, &err), MTS_EBADKEY);
    T_EQ_U64(rev_of(st), r2);
    mts_storage_free(other);
    other = NULL;
    T_EQ_INT(rev_of(st), r2);
    mts_storage_free(st);
    st = NULL;

    /* sealed -> clear, through a new handle with the passphrase */
    T_EQ_INT(open_with(&st, "cycle", k2, NULL), 0);
    rekey_to(st, NULL, r2, __LINE__);
    T_EQ_INT(seal_rows(c, "cycle"), 0);
    T_EQ_INT(scan_has(c, "cycle", key, 32), 1);
    check_loads("cycle", NULL, s, __LINE__);
    T_EQ_INT(open_with(&other, "cycle", k1, &err), MTS_EINVAL);
    /* the rekeying handle writes in clear now */
    T_EQ_INT(mts_storage_save(st, s, &err), 0);
    T_EQ_INT(seal_rows(c, "cycle"), 0);
    check_loads("cycle", NULL, s, __LINE__);

    mts_storage_free(st);
    PQfinish(c);
    mts_session_free(s);
    mts_secret_free(k1);
    mts_secret_free(k2);
}

/* The handle's secret does not open the account: nothing changes. */
static void
test_wrong_current_key(void)
{
    mts_secret *k1 = pgt_raw_secret(0x21), *k2 = pgt_raw_secret(0x22),
               *k3 = pgt_raw_secret(0x23);
    mts_storage *a = NULL, *b = NULL, *locked = NULL;
    mts_session *s = full_session(), *got = NULL;
    mts_error err = MTS_ERROR_INIT;
    char before[64], after[64];
    uint64_t rev;
    PGconn *c = pgt_connect(db);

    T_EQ_INT(open_with(&a, "wrong", k1, NULL), 0);
    T_EQ_INT(mts_storage_save(a, s, NULL), 0);
    T_EQ_INT(open_with(&b, "wrong", k1, NULL), 0);
    T_EQ_INT(mts_postgres_rekey(b, k2, NULL), 0);
    rev = rev_of(b);
    digest(c, "wrong", before);

    /* a's k1 is stale: its rekey, save, save_if and DC write are refused
     * with nothing written, its load too */
    T_EQ_INT(mts_postgres_rekey(a, k3, &err), MTS_EBADKEY);
    T_CONTAINS(err.message, "rekey");
    T_EQ_INT(mts_storage_save(a, s, &err), MTS_EBADKEY);
    T_CONTAINS(err.message, "re-sealed");
    T_EQ_INT(mts_storage_save_if(a, s, rev, NULL, &err), MTS_EBADKEY);
    {
        mts_dc dc;
        for (size_t i = 0; i < mts_session_dc_count(s); i++) {
            T_EQ_INT(mts_session_dc_at(&dc, s, i), 0);
            if (dc.auth_key != NULL)
                break;
        }
        T_EQ_INT(mts_storage_update_dc(a, &dc, &err), MTS_EBADKEY);
    }
    T_EQ_INT(mts_storage_load(&got, a, &err), MTS_EBADKEY);
    digest(c, "wrong", after);
    T_EQ_STR(after, before);

    /* no secret at all */
    T_EQ_INT(open_with(&locked, "wrong", NULL, NULL), 0);
    T_EQ_INT(mts_postgres_rekey(locked, k3, &err), MTS_EENCRYPTED);
    T_EQ_INT(mts_postgres_rekey(locked, NULL, &err), MTS_EENCRYPTED);
    digest(c, "wrong", after);
    T_EQ_STR(after, before);
    T_EQ_U64(rev_of(b), rev);
    check_loads("wrong", k2, s, __LINE__);

    /* not a postgres handle */
    {
        mts_storage *mem = NULL;
        T_EQ_INT(mts_memory_open(&mem, NULL), 0);
        T_EQ_INT(mts_postgres_rekey(mem, k1, &err), MTS_EINVAL);
        mts_storage_free(mem);
        T_EQ_INT(mts_postgres_rekey(NULL, k1, &err), MTS_EINVAL);
    }

    mts_storage_free(a);
    mts_storage_free(b);
    mts_storage_free(locked);
    PQfinish(c);
    mts_session_free(s);
    mts_secret_free(k1);
    mts_secret_free(k2);
    mts_secret_free(k3);
}

/* A rekey is a write: fenced by the lease. */
static void
test_fenced(void)
{
    mts_secret *k1 = pgt_raw_secret(0x31), *k2 = pgt_raw_secret(0x32);
    mts_storage *a = NULL, *b = NULL, *free_h = NULL;
    mts_session *s = full_session();
    mts_lease la = MTS_LEASE_INIT, lb = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    char before[64], after[64];
    uint64_t rev;
    PGconn *c = pgt_connect(db);

    T_EQ_INT(open_with(&a, "fence", k1, NULL), 0);
    T_EQ_INT(open_with(&b, "fence", k1, NULL), 0);
    T_EQ_INT(open_with(&free_h, "fence", k1, NULL), 0);
    T_EQ_INT(mts_lease_acquire(&la, a, "worker-a", 250, NULL), 0);
    T_EQ_INT(mts_storage_save(a, s, NULL), 0);
    rev = rev_of(a);

    /* expired, not taken: "renew it" */
    pgt_sleep_ms(350);
    digest(c, "fence", before);
    T_EQ_INT(mts_postgres_rekey(a, k2, &err), MTS_EFENCED);
    T_CONTAINS(err.message, "expired");
    digest(c, "fence", after);
    T_EQ_STR(after, before);

    /* taken over by b: a is fenced, an unleased handle is kept out */
    T_EQ_INT(mts_lease_acquire(&lb, b, "worker-b", 30000, NULL), 0);
    T_CHECK(lb.epoch > la.epoch);
    digest(c, "fence", before);
    T_EQ_INT(mts_postgres_rekey(a, k2, &err), MTS_EFENCED);
    T_CONTAINS(err.message, "worker-b");
    T_EQ_INT(mts_postgres_rekey(free_h, k2, &err), MTS_ELOCKED);
    T_CONTAINS(err.message, "held by worker-b");
    digest(c, "fence", after);
    T_EQ_STR(after, before);
    T_EQ_U64(rev_of(b), rev);
    check_loads("fence", k1, s, __LINE__);

    /* the holder re-seals; its lease and epoch stay */
    T_EQ_INT(mts_postgres_rekey(b, k2, &err), 0);
    T_CHECK(rev_of(b) != rev);
    check_loads("fence", k2, s, __LINE__);
    T_EQ_INT(mts_lease_show(&la, b, NULL), 0);
    T_EQ_STR(la.owner, "worker-b");
    T_EQ_U64(la.epoch, lb.epoch);
    T_CHECK(la.held);
    T_EQ_INT(mts_storage_save(b, s, &err), 0); /* still writes */
    T_EQ_INT(mts_lease_release(b, NULL), 0);
    /* released: a handle without a lease may rekey (with the right key) */
    T_EQ_INT(mts_postgres_rekey(free_h, NULL, &err), MTS_EBADKEY);
    mts_storage_free(free_h);
    free_h = NULL;
    T_EQ_INT(open_with(&free_h, "fence", k2, NULL), 0);
    T_EQ_INT(mts_postgres_rekey(free_h, NULL, &err), 0);
    check_loads("fence", NULL, s, __LINE__);

    mts_storage_free(a);
    mts_storage_free(b);
    mts_storage_free(free_h);
    PQfinish(c);
    mts_session_free(s);
    mts_secret_free(k1);
    mts_secret_free(k2);
}

/* Nothing stored: the seal row alone changes. */
static void
test_nothing_stored(void)
{
    mts_secret *k1 = pgt_raw_secret(0x41),
               *k2 = pgt_pass_secret("empty account");
    mts_storage *st = NULL, *other = NULL;
    mts_session *got = NULL, *s = full_session();
    mts_error err = MTS_ERROR_INIT;
    uint64_t rev = 1;
    PGconn *c = pgt_connect(db);

    /* clear and empty -> sealed */
    T_EQ_INT(open_with(&st, "empty", NULL, NULL), 0);
    T_EQ_INT(mts_postgres_rekey(st, k1, &err), 0);
    T_EQ_INT(seal_rows(c, "empty"), 1);
    T_EQ_INT(mts_storage_load_rev(NULL, &rev, st, NULL), MTS_ENOTFOUND);
    T_EQ_U64(rev, 0);
    T_EQ_INT(open_with(&other, "empty", k2, &err), MTS_EBADKEY);
    T_EQ_INT(open_with(&other, "empty", k1, &err), 0);
    T_EQ_INT(mts_storage_load(&got, other, &err), MTS_ENOTFOUND);
    mts_storage_free(other);
    other = NULL;

    /* sealed and empty -> another key */
    T_EQ_INT(mts_postgres_rekey(st, k2, &err), 0);
    T_EQ_INT(seal_rows(c, "empty"), 1);
    T_EQ_INT(open_with(&other, "empty", k1, &err), MTS_EBADKEY);
    T_EQ_INT(open_with(&other, "empty", k2, &err), 0);
    T_EQ_INT(mts_storage_load(&got, other, &err), MTS_ENOTFOUND);
    mts_storage_free(other);
    other = NULL;
    /* the rekeying handle saves under the new seal */
    T_EQ_INT(mts_storage_save(st, s, &err), 0);
    check_loads("empty", k2, s, __LINE__);
    T_EQ_INT(mts_storage_delete(st, NULL), 0);

    /* sealed and empty (after a delete) -> clear */
    T_EQ_INT(mts_postgres_rekey(st, NULL, &err), 0);
    T_EQ_INT(seal_rows(c, "empty"), 0);
    T_EQ_INT(open_with(&other, "empty", NULL, &err), 0);
    T_EQ_INT(mts_storage_load(&got, other, &err), MTS_ENOTFOUND);
    mts_storage_free(other);
    other = NULL;
    /* an empty clear account is sealed at open by a secret, as before */
    T_EQ_INT(open_with(&other, "empty", k1, &err), 0);
    T_EQ_INT(seal_rows(c, "empty"), 1);

    mts_storage_free(other);
    mts_storage_free(st);
    PQfinish(c);
    mts_session_free(s);
    mts_secret_free(k1);
    mts_secret_free(k2);
}

/* Opened without a secret, a sealed account is locked. */
static void
test_locked(void)
{
    mts_secret *k = pgt_raw_secret(0x51);
    mts_storage *sealed = NULL, *locked = NULL, *clear = NULL;
    mts_session *s = full_session(), *got = NULL;
    mts_lease l = MTS_LEASE_INIT;
    mts_update_change ch = MTS_UPDATE_CHANGE_INIT;
    mts_peer peer;
    mts_dc dc;
    mts_error err = MTS_ERROR_INIT;
    char before[64], after[64];
    uint64_t rev, rev2 = 0;
    PGconn *c = pgt_connect(db);

    T_EQ_INT(open_with(&sealed, "locked", k, NULL), 0);
    T_EQ_INT(mts_storage_save(sealed, s, NULL), 0);
    rev = rev_of(sealed);
    T_EQ_INT(open_with(&locked, "locked", NULL, &err), 0);
    T_CHECK(locked != NULL);

    /* the revision alone, and leases */
    T_EQ_INT(mts_storage_load_rev(NULL, &rev2, locked, &err), 0);
    T_EQ_U64(rev2, rev);
    T_EQ_INT(mts_lease_show(&l, locked, &err), MTS_ENOTFOUND);
    T_EQ_INT(mts_lease_acquire(&l, locked, "locked-worker", 30000, &err), 0);
    T_EQ_INT(mts_lease_renew(&l, locked, 30000, &err), 0);
    T_EQ_INT(mts_lease_show(&l, locked, &err), 0);
    T_EQ_STR(l.owner, "locked-worker");
    digest(c, "locked", before);
    /* the holder keeps others out, sealed or not */
    T_EQ_INT(mts_storage_save(sealed, s, &err), MTS_ELOCKED);

    /* everything that reads or writes the session: MTS_EENCRYPTED */
    T_EQ_INT(mts_storage_load(&got, locked, &err), MTS_EENCRYPTED);
    T_CONTAINS(err.message, "open it with its secret");
    T_CHECK(got == NULL);
    T_EQ_INT(mts_storage_load_rev(&got, &rev2, locked, &err), MTS_EENCRYPTED);
    T_EQ_INT(mts_storage_save(locked, s, &err), MTS_EENCRYPTED);
    T_CONTAINS(err.message, "open it with its secret");
    T_EQ_INT(mts_storage_save_if(locked, s, rev, NULL, &err), MTS_EENCRYPTED);
    ch.kind = MTS_UPDATE_PRIMARY;
    ch.state.pts = 999;
    ch.state.date = 1700000000;
    ch.state.seq = 3;
    T_EQ_INT(mts_storage_apply_update_state(locked, &ch, &err),
             MTS_EENCRYPTED);
    T_EQ_INT(mts_session_dc_at(&dc, s, 0), 0);
    T_EQ_INT(mts_storage_update_dc(locked, &dc, &err), MTS_EENCRYPTED);
    T_EQ_INT(mts_storage_set_home_dc(locked, 2, &err), MTS_EENCRYPTED);
    T_EQ_INT(mts_session_peer_at(&peer, s, 0), 0);
    T_EQ_INT(mts_storage_cache_peer(locked, &peer, &err), MTS_EENCRYPTED);
    digest(c, "locked", after);
    T_EQ_STR(after, before);

    /* release; the keyed handle writes again */
    T_EQ_INT(mts_lease_release(locked, &err), 0);
    T_EQ_INT(mts_lease_show(&l, locked, &err), 0);
    T_CHECK(!l.held);
    T_EQ_INT(mts_storage_save(sealed, s, &err), 0);

    /* delete works locked (a lease holder's, fenced) */
    T_EQ_INT(mts_lease_acquire(&l, locked, "locked-worker", 30000, &err), 0);
    T_EQ_INT(mts_storage_delete(locked, &err), 0);
    T_EQ_INT(mts_storage_load_rev(NULL, &rev2, locked, &err), MTS_ENOTFOUND);
    T_EQ_INT(mts_lease_release(locked, &err), 0);
    T_EQ_INT(mts_storage_save(sealed, s, &err), 0);
    check_loads("locked", k, s, __LINE__);

    /* the account taken out of its seal: the locked handle follows */
    T_EQ_INT(mts_postgres_rekey(sealed, NULL, &err), 0);
    T_EQ_INT(mts_storage_set_home_dc(locked, 2, &err), 0);
    T_EQ_INT(mts_storage_load(&got, locked, &err), 0);
    T_CHECK(got != NULL && mts_session_home_dc(got) == 2);
    mts_session_free(got);
    got = NULL;

    /* and sealed again: a handle that wrote in clear stops writing secret
     * columns (nothing written) and is locked from then on */
    T_EQ_INT(open_with(&clear, "locked", NULL, NULL), 0);
    T_EQ_INT(mts_postgres_rekey(sealed, k, &err), 0);
    digest(c, "locked", before);
    T_EQ_INT(mts_storage_save(clear, s, &err), MTS_EENCRYPTED);
    digest(c, "locked", after);
    T_EQ_STR(after, before);
    T_EQ_INT(mts_storage_update_dc(locked, &dc, &err), MTS_EENCRYPTED);
    digest(c, "locked", after);
    T_EQ_STR(after, before);
    T_EQ_INT(mts_storage_cache_peer(clear, &peer, &err), MTS_EENCRYPTED);
    T_EQ_INT(mts_storage_load(&got, locked, &err), MTS_EENCRYPTED);
    digest(c, "locked", after);
    T_EQ_STR(after, before);
    T_EQ_INT(mts_storage_set_home_dc(sealed, 2, &err), 0);
    T_EQ_INT(mts_session_set_home_dc(s, 2), 0);
    check_loads("locked", k, s, __LINE__);

    mts_storage_free(clear);
    mts_storage_free(locked);
    mts_storage_free(sealed);
    PQfinish(c);
    mts_session_free(s);
    mts_secret_free(k);
}

/*
 * Rekeys racing writers: one thread seals and unseals an account over and
 * over while two threads without a secret save it and update a DC through
 * their own handles, unleased. Every write must be written in clear while
 * the account is clear and refused (MTS_EENCRYPTED) while it is sealed:
 * after every rekey, and at the end, the account loads with the key it
 * has then. Without the seal gate the writers' clear values land in the
 * sealed account and those loads fail.
 */
typedef struct race_arg {
    mts_session *s;
    volatile int stop;
    int written, refused, other;
} race_arg;

static void *
race_writer(void *p)
{
    race_arg *a = p;
    mts_storage *st = NULL;
    mts_dc dc;
    memset(&dc, 0, sizeof(dc));
    for (size_t i = 0; i < mts_session_dc_count(a->s); i++)
        if (mts_session_dc_at(&dc, a->s, i) == 0 && dc.auth_key != NULL)
            break;
    if (open_with(&st, "race", NULL, NULL) != 0) {
        a->other++;
        return NULL;
    }
    while (!a->stop) {
        int rc = mts_storage_save(st, a->s, NULL);
        int rc2 = mts_storage_update_dc(st, &dc, NULL);
        for (int k = 0; k < 2; k++) {
            int r = k == 0 ? rc : rc2;
            if (r == 0)
                a->written++;
            else if (r == MTS_EENCRYPTED)
                a->refused++;
            else
                a->other++;
        }
    }
    mts_storage_free(st);
    return NULL;
}

static void
test_race(void)
{
    mts_secret *k = pgt_raw_secret(0x71);
    mts_storage *st = NULL;
    mts_session *s = full_session(), *got = NULL;
    mts_error err = MTS_ERROR_INIT;
    race_arg args[2];
    pthread_t th[2];
    int rounds = 0, bad = 0;
    int64_t end;
    T_EQ_INT(open_with(&st, "race", NULL, NULL), 0);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    for (int i = 0; i < 2; i++) {
        memset(&args[i], 0, sizeof(args[i]));
        args[i].s = s;
        T_EQ_INT(pthread_create(&th[i], NULL, race_writer, &args[i]), 0);
    }
    end = pgt_now_ms() + 1500;
    while (pgt_now_ms() < end || rounds < 6) {
        int rc = mts_postgres_rekey(st, rounds % 2 == 0 ? k : NULL, &err);
        if (rc != 0) {
            t_fail(__FILE__, __LINE__, "rekey: %s %s", mts_errname(rc),
                   err.message);
            break;
        }
        rounds++;
        rc = mts_storage_load(&got, st, &err);
        if (rc != 0) {
            if (bad++ < 3)
                t_fail(__FILE__, __LINE__, "load after rekey %d: %s %s",
                       rounds, mts_errname(rc), err.message);
        } else {
            check_same(got, s, __LINE__);
        }
        mts_session_free(got);
        got = NULL;
        pgt_sleep_ms(20);
    }
    for (int i = 0; i < 2; i++) {
        args[i].stop = 1;
        pthread_join(th[i], NULL);
        T_EQ_INT(args[i].other, 0);
        T_CHECK(args[i].written > 0);
        T_CHECK(args[i].refused > 0);
    }
    fprintf(stderr, "  %d rekeys; writes %d + %d, refused %d + %d\n", rounds,
            args[0].written, args[1].written, args[0].refused,
            args[1].refused);
    check_loads("race", rounds % 2 == 1 ? k : NULL, s, __LINE__);
    mts_storage_free(st);
    mts_session_free(s);
    mts_secret_free(k);
}

/* A connection the server ended between calls is reopened before the
 * rekey's transaction begins. */
static void
test_reconnect(void)
{
    mts_secret *k = pgt_raw_secret(0x61);
    mts_storage *st = NULL;
    mts_session *s = full_session();
    mts_error err = MTS_ERROR_INIT;
    PGconn *admin = pgt_connect(db);
    char ci[1200];
    snprintf(ci, sizeof(ci), "%s application_name=mts-rekey", db);
    T_EQ_INT(mts_postgres_open(&st, ci, "reconnect", NULL), 0);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    T_EQ_INT(pgt_terminate(admin, "mts-rekey"), 1);
    T_EQ_INT(mts_postgres_rekey(st, k, &err), 0);
    check_loads("reconnect", k, s, __LINE__);
    mts_storage_free(st);
    PQfinish(admin);
    mts_session_free(s);
    mts_secret_free(k);
}

int
main(int argc, char **argv)
{
    static const t_case cases[] = {
        T_CASE(test_clear_to_sealed_to_other_to_clear),
        T_CASE(test_wrong_current_key),
        T_CASE(test_fenced),
        T_CASE(test_nothing_stored),
        T_CASE(test_locked),
        T_CASE(test_reconnect),
        T_CASE(test_race),
    };
    db = pgt_new_db("mts_rekey");
    return t_run("postgres_rekey", cases, sizeof(cases) / sizeof(cases[0]),
                 argc, argv);
}
