/*
 * pg_sealed.c - the postgres backend with a secret (mts_postgres_open_ex):
 *
 * - the shared conformance suite with a raw-key secret and with a
 *   passphrase;
 * - a raw scan of the tables (libpq) finds no auth key, salt or token
 *   bytes, and every sealed column has its sealed length;
 * - no secret on a sealed account: opened locked, its load MTS_EENCRYPTED
 *   (pg_rekey.c has the rest); another one: MTS_EBADKEY; a secret on an
 *   account stored in clear: MTS_EINVAL;
 * - sealed values moved to another row: MTS_ECORRUPT;
 * - schema migration 1 -> 2 keeps data stored in clear.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"
#include "fixtures.h"
#include "mtsession/seal.h"
#include "pg_helpers.h"
#include "t.h"

static const char *conf_db;
static char conf_account[64];
static int counter;
static mts_secret *conf_secret;

static int
open_sealed(mts_storage **out, const char *db, const char *account,
            mts_secret *secret, mts_error *err)
{
    mts_postgres_options o = MTS_POSTGRES_OPTIONS_INIT;
    o.secret = secret;
    return mts_postgres_open_ex(out, db, account, &o, err);
}

static int
open_fresh(mts_storage **out, void *ctx)
{
    mts_error err = MTS_ERROR_INIT;
    int rc;
    (void)ctx;
    snprintf(conf_account, sizeof(conf_account), "sealed-%d", ++counter);
    rc = open_sealed(out, conf_db, conf_account, conf_secret, &err);
    if (rc != 0)
        fprintf(stderr, "  postgres open: %s\n", err.message);
    return rc;
}

static int
reopen(mts_storage **out, void *ctx)
{
    (void)ctx;
    return open_sealed(out, conf_db, conf_account, conf_secret, NULL);
}

static void
run_conformance(const char *dbname, mts_secret *secret)
{
    conf_backend b = { "postgres-sealed", open_fresh, reopen, NULL, 0 };
    PGconn *c;
    conf_db = pgt_new_db(dbname);
    conf_secret = secret;
    conf_run(&b);
    c = pgt_connect(conf_db);
    T_CHECK(pgt_int(c, "SELECT count(*) FROM mtsession.seals") > 5);
    T_EQ_INT(pgt_int(c, "SELECT count(*) FROM mtsession.dcs WHERE auth_key "
                        "IS NOT NULL AND octet_length(auth_key) <> 297"),
             0);
    T_EQ_INT(pgt_int(c, "SELECT count(*) FROM mtsession.dcs WHERE "
                        "server_salt <> 0 OR server_salt_sealed IS NULL"),
             0);
    PQfinish(c);
}

static void
test_conformance_key(void)
{
    mts_secret *s = pgt_raw_secret(0x42);
    run_conformance("mts_sealed_key", s);
    mts_secret_free(s);
}

static void
test_conformance_passphrase(void)
{
    mts_secret *s = pgt_pass_secret("correct horse battery staple");
    run_conformance("mts_sealed_pass", s);
    mts_secret_free(s);
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

/* Whether any bytea value of the store contains `needle`. */
static int
scan_has(PGconn *c, const void *needle, size_t n)
{
    return pgt_any_contains(
        c,
        "SELECT auth_key FROM mtsession.dcs UNION ALL SELECT "
        "server_salt_sealed FROM mtsession.dcs UNION ALL SELECT "
        "int8send(server_salt) FROM mtsession.dcs UNION ALL SELECT "
        "future_token FROM mtsession.sessions",
        NULL, needle, n);
}

static void
test_raw_scan(void)
{
    const char *db = pgt_new_db("mts_sealed_scan");
    mts_secret *sec = pgt_raw_secret(7);
    mts_storage *st = NULL, *clear = NULL;
    mts_session *s = fx_session("full"), *got;
    uint8_t token[48];
    mts_dc dc;
    PGconn *c;
    memset(token, 0xc3, sizeof(token));
    T_EQ_INT(mts_session_set_future_auth_token(s, token, sizeof(token)), 0);
    T_EQ_INT(open_sealed(&st, db, "scan", sec, NULL), 0);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    /* a granular DC write is sealed too */
    memset(&dc, 0, sizeof(dc));
    for (size_t i = 0; i < mts_session_dc_count(s); i++) {
        T_EQ_INT(mts_session_dc_at(&dc, s, i), 0);
        if (dc.auth_key != NULL)
            break;
    }
    T_EQ_INT(mts_storage_update_dc(st, &dc, NULL), 0);
    got = load(st);
    T_CHECK(got && mts_session_equal(got, s));
    mts_session_free(got);
    c = pgt_connect(db);
    T_CHECK(dc.auth_key != NULL);
    if (dc.auth_key != NULL) {
        T_EQ_INT(scan_has(c, dc.auth_key, 16), 0);
        T_EQ_INT(scan_has(c, dc.auth_key + 128, 16), 0);
    }
    T_EQ_INT(scan_has(c, token, 16), 0);
    if (dc.server_salt != 0) {
        uint8_t be[8];
        for (int i = 0; i < 8; i++)
            be[i] = (uint8_t)((uint64_t)dc.server_salt >> (56 - 8 * i));
        T_EQ_INT(scan_has(c, be, 8), 0);
    }
    /* the same session in clear: the scan does see it (the scan works) */
    T_EQ_INT(mts_postgres_open(&clear, db, "plain", NULL), 0);
    T_EQ_INT(mts_storage_save(clear, s, NULL), 0);
    if (dc.auth_key != NULL)
        T_EQ_INT(scan_has(c, dc.auth_key, 16), 1);
    T_EQ_INT(scan_has(c, token, 16), 1);
    mts_storage_free(clear);
    PQfinish(c);
    mts_storage_free(st);
    mts_secret_free(sec);
    mts_session_free(s);
}

static void
test_wrong_and_no_key(void)
{
    const char *db = pgt_new_db("mts_sealed_keys");
    mts_secret *right = pgt_raw_secret(1), *wrong = pgt_raw_secret(2),
               *pass = pgt_pass_secret("hunter2"),
               *badpass = pgt_pass_secret("x");
    mts_storage *st = NULL;
    mts_session *s = fx_session("full"), *got;
    mts_error err = MTS_ERROR_INIT;
    T_EQ_INT(open_sealed(&st, db, "k", right, NULL), 0);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    mts_storage_free(st);
    st = NULL;
    T_EQ_INT(open_sealed(&st, db, "k", wrong, &err), MTS_EBADKEY);
    T_CHECK(st == NULL);
    T_EQ_INT(open_sealed(&st, db, "k", pass, &err), MTS_EBADKEY);
    T_CHECK(st == NULL);
    T_EQ_INT(mts_postgres_open(&st, db, "k", &err), 0);
    T_EQ_INT(mts_storage_load(&got, st, &err), MTS_EENCRYPTED);
    T_CONTAINS(err.message, "with a 32-byte key");
    mts_storage_free(st);
    st = NULL;
    T_EQ_INT(open_sealed(&st, db, "k", NULL, &err), 0);
    T_EQ_INT(mts_storage_save(st, s, &err), MTS_EENCRYPTED);
    mts_storage_free(st);
    st = NULL;
    T_EQ_INT(open_sealed(&st, db, "k", right, &err), 0);
    got = st ? load(st) : NULL;
    T_CHECK(got && mts_session_equal(got, s));
    mts_session_free(got);
    mts_storage_free(st);
    st = NULL;
    /* a passphrase account */
    T_EQ_INT(open_sealed(&st, db, "p", pass, NULL), 0);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    mts_storage_free(st);
    st = NULL;
    T_EQ_INT(open_sealed(&st, db, "p", badpass, &err), MTS_EBADKEY);
    T_EQ_INT(open_sealed(&st, db, "p", right, &err), MTS_EBADKEY);
    T_EQ_INT(mts_postgres_open(&st, db, "p", &err), 0);
    T_EQ_INT(mts_storage_load(&got, st, &err), MTS_EENCRYPTED);
    T_CONTAINS(err.message, "with a passphrase");
    mts_storage_free(st);
    st = NULL;
    /* an account stored in clear is not opened with a secret */
    T_EQ_INT(mts_postgres_open(&st, db, "c", NULL), 0);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    mts_storage_free(st);
    st = NULL;
    T_EQ_INT(open_sealed(&st, db, "c", right, &err), MTS_EINVAL);
    /* an unknown options version */
    {
        mts_postgres_options o = MTS_POSTGRES_OPTIONS_INIT;
        o.version = 99;
        T_EQ_INT(mts_postgres_open_ex(&st, db, "k", &o, &err), MTS_EINVAL);
    }
    mts_secret_free(right);
    mts_secret_free(wrong);
    mts_secret_free(pass);
    mts_secret_free(badpass);
    mts_session_free(s);
}

/* Sealed values are bound to their account, row and column. */
static void
test_swapped(void)
{
    const char *db = pgt_new_db("mts_sealed_swap");
    mts_secret *sec = pgt_raw_secret(9);
    mts_storage *a = NULL, *b = NULL;
    mts_session *s = fx_session("full"), *got = NULL;
    mts_error err = MTS_ERROR_INIT;
    uint8_t token[40];
    PGconn *c;
    memset(token, 0x5a, sizeof(token));
    T_EQ_INT(mts_session_set_future_auth_token(s, token, sizeof(token)), 0);
    T_EQ_INT(open_sealed(&a, db, "a", sec, NULL), 0);
    T_EQ_INT(open_sealed(&b, db, "b", sec, NULL), 0);
    T_EQ_INT(mts_storage_save(a, s, NULL), 0);
    T_EQ_INT(mts_storage_save(b, s, NULL), 0);
    c = pgt_connect(db);
    /* b's auth key replaced by a's (same DC row, other account) */
    pgt_exec(c, "UPDATE mtsession.dcs d SET auth_key = (SELECT o.auth_key "
                "FROM mtsession.dcs o WHERE o.account = 'a' AND o.dc_id = "
                "d.dc_id AND o.flags = d.flags AND o.family = d.family) "
                "WHERE d.account = 'b' AND d.auth_key IS NOT NULL");
    T_EQ_INT(mts_storage_load(&got, b, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "auth_key");
    T_EQ_INT(mts_storage_save(b, s, NULL), 0); /* a save repairs it */
    got = load(b);
    T_CHECK(got && mts_session_equal(got, s));
    mts_session_free(got);
    got = NULL;
    /* salts moved */
    pgt_exec(c, "UPDATE mtsession.dcs d SET server_salt_sealed = (SELECT "
                "o.server_salt_sealed FROM mtsession.dcs o WHERE o.account = "
                "'a' AND o.dc_id = d.dc_id AND o.flags = d.flags AND "
                "o.family = d.family) WHERE d.account = 'b'");
    T_EQ_INT(mts_storage_load(&got, b, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "server_salt");
    T_EQ_INT(mts_storage_save(b, s, NULL), 0);
    /* the token moved */
    pgt_exec(c, "UPDATE mtsession.sessions SET future_token = (SELECT "
                "future_token FROM mtsession.sessions WHERE account = 'a') "
                "WHERE account = 'b'");
    T_EQ_INT(mts_storage_load(&got, b, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "future_token");
    /* an auth key moved into the future_token column of its own account */
    T_EQ_INT(mts_storage_save(b, s, NULL), 0);
    pgt_exec(c, "UPDATE mtsession.sessions SET future_token = (SELECT "
                "auth_key FROM mtsession.dcs WHERE account = 'b' AND "
                "auth_key IS NOT NULL LIMIT 1) WHERE account = 'b'");
    T_EQ_INT(mts_storage_load(&got, b, &err), MTS_ECORRUPT);
    got = load(a);
    T_CHECK(got && mts_session_equal(got, s));
    mts_session_free(got);
    PQfinish(c);
    mts_storage_free(a);
    mts_storage_free(b);
    mts_secret_free(sec);
    mts_session_free(s);
}

/* A version 1 database (made by turning a new one back) migrates to 3 and
 * keeps its clear accounts; new accounts can then be sealed. */
static void
test_migration(void)
{
    const char *db = pgt_new_db("mts_sealed_migrate");
    mts_secret *sec = pgt_raw_secret(3);
    mts_storage *st = NULL;
    mts_session *s = fx_session("full"), *got;
    PGconn *c;
    pgt_store(db, "old", s);
    c = pgt_connect(db);
    pgt_exec(c, "DROP TABLE mtsession.seals");
    pgt_exec(c, "ALTER TABLE mtsession.dcs DROP COLUMN server_salt_sealed, "
                "DROP CONSTRAINT auth_key_size, ADD CONSTRAINT auth_key_size "
                "CHECK (octet_length(auth_key) = 256)");
    pgt_exec(c, "ALTER TABLE mtsession.sessions DROP CONSTRAINT "
                "future_token_size, ADD CONSTRAINT future_token_size CHECK "
                "(octet_length(future_token) BETWEEN 1 AND 65536)");
    pgt_exec(c, "ALTER TABLE mtsession.sessions DROP COLUMN rev");
    pgt_exec(c, "DELETE FROM mtsession.schema_version WHERE version > 1");
    T_EQ_INT(pgt_int(c, "SELECT max(version) FROM mtsession.schema_version"),
             1);
    T_EQ_INT(open_sealed(&st, db, "new", sec, NULL), 0);
    T_EQ_INT(pgt_int(c, "SELECT max(version) FROM mtsession.schema_version"),
             3);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    got = load(st);
    T_CHECK(got && mts_session_equal(got, s));
    mts_session_free(got);
    mts_storage_free(st);
    st = NULL;
    T_EQ_INT(mts_postgres_open(&st, db, "old", NULL), 0);
    got = st ? load(st) : NULL;
    T_CHECK(got && mts_session_equal(got, s));
    mts_session_free(got);
    mts_storage_free(st);
    PQfinish(c);
    mts_secret_free(sec);
    mts_session_free(s);
}

T_MAIN(T_CASE(test_conformance_key), T_CASE(test_conformance_passphrase),
       T_CASE(test_raw_scan), T_CASE(test_wrong_and_no_key),
       T_CASE(test_swapped), T_CASE(test_migration))
