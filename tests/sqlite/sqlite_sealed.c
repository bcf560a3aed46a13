/*
 * sqlite_sealed.c - sealed secret columns of the SQLite backend.
 *
 * - the conformance suite with a raw key and with a passphrase;
 * - the database file, read with plain sqlite3, holds no key, salt or
 *   token bytes, while peers stay readable;
 * - no key: MTS_EENCRYPTED; wrong key: MTS_EBADKEY; neither changes
 *   anything; values swapped between rows or sessions: MTS_ECORRUPT;
 * - a plain session is sealed by the first write of a handle with a key;
 * - rekey: old key refused, new key works, to clear and back; a failed
 *   rekey changes nothing;
 * - the Argon2id salt and cost are stored once per session and the key is
 *   derived once per handle;
 * - the internal key helpers of seal.c;
 * - tests/sqlite/schema-v2.sql, a version-2 database with sealed sessions,
 *   kept forever: it loads, with its keys, exactly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conformance.h"
#include "failalloc.h"
#include "fixtures.h"
#include "mtsession/sys/alloc.h"
#include "helpers.h"
#include "internal.h"
#include "sql_schema.h"
#include "t.h"

static mts_secret *key_a, *key_b, *pass_a;

static void
make_secrets(void)
{
    uint8_t k[MTS_SEAL_KEY_SIZE];
    mts_kdf_params cheap = MTS_KDF_PARAMS_INIT;
    if (key_a != NULL)
        return;
    memset(k, 0x11, sizeof(k));
    T_EQ_INT(mts_secret_from_key(&key_a, k, NULL), 0);
    memset(k, 0x22, sizeof(k));
    T_EQ_INT(mts_secret_from_key(&key_b, k, NULL), 0);
    cheap.opslimit = 1;
    cheap.memlimit_kib = 64;
    T_EQ_INT(
        mts_secret_from_passphrase(&pass_a, "correct horse", 13, &cheap, NULL),
        0);
}

static mts_storage *
open_with(const char *path, const char *name, mts_secret *secret)
{
    mts_sqlite_options o = MTS_SQLITE_OPTIONS_INIT;
    mts_storage *st = NULL;
    mts_error err = MTS_ERROR_INIT;
    o.secret = secret;
    if (mts_sqlite_open_ex(&st, path, name, &o, &err) != 0)
        t_fail(__FILE__, __LINE__, "open %s: %s", path, err.message);
    return st;
}

/* ---- conformance -------------------------------------------------------- */

static char conf_path[4096];
static int conf_n;
static mts_secret *conf_secret;

static int
open_conf(mts_storage **out, void *ctx)
{
    mts_sqlite_options o = MTS_SQLITE_OPTIONS_INIT;
    char name[64];
    (void)ctx;
    snprintf(name, sizeof(name), "sealed-conf-%d.db", ++conf_n);
    snprintf(conf_path, sizeof(conf_path), "%s", h_path(name));
    o.secret = conf_secret;
    return mts_sqlite_open_ex(out, conf_path, NULL, &o, NULL);
}

static int
reopen_conf(mts_storage **out, void *ctx)
{
    mts_sqlite_options o = MTS_SQLITE_OPTIONS_INIT;
    (void)ctx;
    o.secret = conf_secret;
    return mts_sqlite_open_ex(out, conf_path, NULL, &o, NULL);
}

static int
open_conf_memory(mts_storage **out, void *ctx)
{
    mts_sqlite_options o = MTS_SQLITE_OPTIONS_INIT;
    (void)ctx;
    o.secret = conf_secret;
    return mts_sqlite_open_ex(out, ":memory:", NULL, &o, NULL);
}

static void
test_conformance_sealed(void)
{
    conf_backend raw = { "sqlite-sealed-key", open_conf, reopen_conf, NULL,
                         2000 };
    conf_backend pass = { "sqlite-sealed-passphrase", open_conf, reopen_conf,
                          NULL, 2000 };
    conf_backend mem = { "sqlite-sealed-memory", open_conf_memory, NULL, NULL,
                         2000 };
    make_secrets();
    conf_secret = key_a;
    conf_run(&raw);
    conf_run(&mem);
    conf_secret = pass_a;
    conf_run(&pass);
    /* what the suite left behind is sealed */
    T_EQ_INT(h_int(conf_path, "SELECT count(*) FROM seal"), 1);
    T_EQ_INT(h_int(conf_path, "SELECT count(*) FROM dcs WHERE "
                              "typeof(server_salt) <> 'blob'"),
             0);
}

/* ---- what the file holds ------------------------------------------------ */

/* Whether `needle` occurs anywhere in the file at path. */
static int
file_contains(const char *path, const uint8_t *needle, size_t n)
{
    size_t len = 0;
    unsigned char *d = t_read_file(path, &len);
    int found = 0;
    for (size_t i = 0; d != NULL && i + n <= len && !found; i++)
        found = memcmp(d + i, needle, n) == 0;
    free(d);
    return found;
}

static void
test_file_holds_no_secrets(void)
{
    const char *path = h_path("nokeys.db");
    char wal[4200];
    mts_storage *st;
    mts_session *small = fx_session("small"), *got;
    uint8_t key[MTS_AUTH_KEY_SIZE], salt[8] = { 8, 7, 6, 5, 4, 3, 2, 1 };
    static const uint8_t token[16] = "future-token-xyz";
    make_secrets();
    for (int i = 0; i < 256; i++)
        key[i] = (uint8_t)i; /* the "small" fixture's key */
    T_EQ_INT(mts_session_set_future_auth_token(small, token, sizeof(token)), 0);
    st = open_with(path, NULL, key_a);
    T_EQ_INT(mts_storage_save(st, small, NULL), 0);
    got = h_load(st);
    T_CHECK(got != NULL && mts_session_equal(got, small));
    mts_session_free(got);
    /* with the handle open: the file and its WAL */
    snprintf(wal, sizeof(wal), "%s-wal", path);
    T_CHECK(!file_contains(path, key, 32) && !file_contains(wal, key, 32));
    T_CHECK(!file_contains(path, salt, 8) && !file_contains(wal, salt, 8));
    T_CHECK(!file_contains(path, token, sizeof(token)) &&
            !file_contains(wal, token, sizeof(token)));
    mts_storage_free(st);
    T_CHECK(!file_contains(path, key, 32));
    /* through plain sqlite3: sealed blobs, of the documented sizes */
    T_EQ_INT(h_int(path, "SELECT length(auth_key) FROM dcs"),
             MTS_AUTH_KEY_SIZE + MTS__SQL_SEAL_OVERHEAD);
    T_EQ_INT(h_int(path, "SELECT typeof(server_salt) = 'blob' AND "
                         "length(server_salt) = 49 FROM dcs"),
             1);
    T_EQ_INT(h_int(path, "SELECT length(future_token) FROM sessions"),
             (int64_t)sizeof(token) + MTS__SQL_SEAL_OVERHEAD);
    T_EQ_INT(h_int(path, "SELECT kdf = 0 AND salt IS NULL AND "
                         "length(check_value) = 63 FROM seal"),
             1);
    /* peers stay queryable in clear */
    T_EQ_INT(h_int(path, "SELECT access_hash FROM peers WHERE username = "
                         "'telegram'"),
             -5612345678901234567LL);
    /* and so is everything else that is not secret */
    T_EQ_INT(h_int(path, "SELECT port FROM dcs"), 443);
    mts_session_free(small);
}

/* ---- wrong key, no key, moved values ------------------------------------ */

static void
test_wrong_and_missing_key(void)
{
    const char *path = h_path("keys.db");
    mts_storage *st, *plain, *wrong, *pass;
    mts_session *full = fx_session("full"), *got = NULL;
    mts_error err = MTS_ERROR_INIT;
    mts_peer p = MTS_PEER_INIT;
    make_secrets();
    st = open_with(path, NULL, key_a);
    T_EQ_INT(mts_storage_save(st, full, NULL), 0);

    plain = h_open(path, NULL);
    T_EQ_INT(mts_storage_load(&got, plain, &err), MTS_EENCRYPTED);
    T_CONTAINS(err.message, "sealed");
    T_CONTAINS(err.message, path);
    T_CHECK(got == NULL);
    /* a handle without the key cannot write clear values into it */
    T_EQ_INT(mts_storage_save(plain, full, &err), MTS_EENCRYPTED);
    p.id = 5;
    T_EQ_INT(mts_storage_cache_peer(plain, &p, &err), MTS_EENCRYPTED);

    wrong = open_with(path, NULL, key_b);
    T_EQ_INT(mts_storage_load(&got, wrong, &err), MTS_EBADKEY);
    T_CONTAINS(err.message, "wrong key");
    T_EQ_INT(mts_storage_save(wrong, full, &err), MTS_EBADKEY);
    T_EQ_INT(mts_storage_set_home_dc(wrong, 4, &err), MTS_EBADKEY);
    /* a passphrase where a key was used */
    pass = open_with(path, NULL, pass_a);
    T_EQ_INT(mts_storage_load(&got, pass, &err), MTS_EBADKEY);
    T_CONTAINS(err.message, "32-byte key");

    /* none of that changed the store */
    got = h_load(st);
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);
    /* nothing stored under another name: not found, whatever the key */
    {
        mts_storage *none = open_with(path, "nobody", key_b);
        T_EQ_INT(mts_storage_load(&got, none, &err), MTS_ENOTFOUND);
        mts_storage_free(none);
    }
    /* delete needs no key */
    T_EQ_INT(mts_storage_delete(plain, &err), 0);
    T_EQ_INT(mts_storage_load(&got, st, &err), MTS_ENOTFOUND);
    T_EQ_INT(h_int(path, "SELECT count(*) FROM seal"), 0);
    mts_storage_free(st);
    mts_storage_free(plain);
    mts_storage_free(wrong);
    mts_storage_free(pass);
    mts_session_free(full);
}

static void
test_moved_values_refused(void)
{
    const char *path = h_path("moved.db");
    mts_storage *a, *b;
    mts_session *full = fx_session("full"), *small = fx_session("small"),
                *got = NULL;
    mts_error err = MTS_ERROR_INIT;
    make_secrets();
    a = open_with(path, "a", key_a);
    b = open_with(path, "b", key_a); /* same key, another session */
    T_EQ_INT(mts_storage_save(a, full, NULL), 0);
    T_EQ_INT(mts_storage_save(b, small, NULL), 0);

    /* swap the sealed salts of two DC rows of one session */
    T_EQ_INT(h_exec(path,
                    "CREATE TEMP TABLE t AS SELECT dc_id, server_salt FROM dcs "
                    "WHERE session = 'a';"
                    "UPDATE dcs SET server_salt = (SELECT server_salt FROM t "
                    "WHERE t.dc_id = 4) WHERE session = 'a' AND dc_id = 1;"
                    "UPDATE dcs SET server_salt = (SELECT server_salt FROM t "
                    "WHERE t.dc_id = 1) WHERE session = 'a' AND dc_id = 4;"),
             SQLITE_OK);
    T_EQ_INT(mts_storage_load(&got, a, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "table dcs");
    T_CONTAINS(err.message, "column server_salt");
    T_CONTAINS(err.message, "does not open");
    /* a save repairs it */
    T_EQ_INT(mts_storage_save(a, full, &err), 0);
    got = h_load(a);
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);

    /* an auth key moved from session b's row into session a's */
    T_EQ_INT(h_exec(path, "UPDATE dcs SET auth_key = (SELECT auth_key FROM "
                          "dcs WHERE session = 'b' AND dc_id = 2) WHERE "
                          "session = 'a' AND dc_id = 2"),
             SQLITE_OK);
    T_EQ_INT(mts_storage_load(&got, a, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "column auth_key");
    /* a token moved between sessions */
    T_EQ_INT(mts_storage_save(a, full, &err), 0);
    T_EQ_INT(
        mts_session_set_future_auth_token(small, (const uint8_t *)"abc", 3), 0);
    T_EQ_INT(mts_storage_save(b, small, &err), 0);
    T_EQ_INT(h_exec(path, "UPDATE sessions SET future_token = (SELECT "
                          "future_token FROM sessions WHERE name = 'b') "
                          "WHERE name = 'a'"),
             SQLITE_OK);
    T_EQ_INT(mts_storage_load(&got, a, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "column future_token");
    /* a clear value in a sealed session */
    T_EQ_INT(mts_storage_save(a, full, &err), 0);
    T_EQ_INT(h_exec(path, "UPDATE dcs SET server_salt = 5 WHERE session = 'a' "
                          "AND dc_id = 1"),
             SQLITE_OK);
    T_EQ_INT(mts_storage_load(&got, a, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "expected a sealed value");
    /* a damaged check value is a wrong key, never a silent success */
    T_EQ_INT(mts_storage_save(a, full, &err), 0);
    T_EQ_INT(h_exec(path, "UPDATE seal SET check_value = zeroblob(63) WHERE "
                          "session = 'a'"),
             SQLITE_OK);
    T_EQ_INT(mts_storage_load(&got, a, &err), MTS_EBADKEY);
    T_EQ_INT(h_exec(path, "UPDATE seal SET check_value = zeroblob(5) WHERE "
                          "session = 'a'"),
             SQLITE_OK);
    T_EQ_INT(mts_storage_load(&got, a, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "check_value");
    mts_storage_free(a);
    mts_storage_free(b);
    mts_session_free(full);
    mts_session_free(small);
}

/* ---- sealing a plain session, rekey -------------------------------------- */

static void
test_plain_session_sealed_on_write(void)
{
    const char *path = h_path("convert.db");
    mts_storage *plain = h_open(path, NULL), *st;
    mts_session *full = fx_session("full"), *got;
    mts_dc dc;
    make_secrets();
    T_EQ_INT(mts_storage_save(plain, full, NULL), 0);
    T_EQ_INT(h_int(path, "SELECT count(*) FROM dcs WHERE typeof(server_salt) "
                         "= 'integer'"),
             3);
    st = open_with(path, NULL, key_a);
    /* read as it is */
    got = h_load(st);
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);
    /* one granular write seals every secret column */
    T_EQ_INT(mts_session_dc_at(&dc, full, 0), 0);
    dc.time_offset = 9;
    T_EQ_INT(mts_storage_update_dc(st, &dc, NULL), 0);
    T_EQ_INT(mts_session_put_dc(full, &dc), 0);
    T_EQ_INT(h_int(path, "SELECT count(*) FROM dcs WHERE typeof(server_salt) "
                         "<> 'blob'"),
             0);
    T_EQ_INT(h_int(path, "SELECT length(future_token) FROM sessions"),
             3 + MTS__SQL_SEAL_OVERHEAD);
    got = h_load(st);
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);
    mts_storage_free(st);
    mts_storage_free(plain);
    mts_session_free(full);
}

static void
test_rekey(void)
{
    const char *path = h_path("rekey.db");
    mts_storage *st, *old, *fresh, *plain;
    mts_session *full = fx_session("full"), *got = NULL;
    mts_error err = MTS_ERROR_INIT;
    make_secrets();
    st = open_with(path, NULL, key_a);
    old = open_with(path, NULL, key_a);
    T_EQ_INT(mts_storage_save(st, full, NULL), 0);

    T_EQ_INT(mts_sqlite_rekey(st, key_b, &err), 0);
    /* the old key no longer opens it; the new one does, on a new handle
     * and on the rekeyed one */
    T_EQ_INT(mts_storage_load(&got, old, &err), MTS_EBADKEY);
    fresh = open_with(path, NULL, key_b);
    got = h_load(fresh);
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);
    got = h_load(st);
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);
    T_CHECK(!file_contains(path,
                           (const uint8_t *)"\xab\xab\xab\xab\xab\xab"
                                            "\xab\xab\xab\xab\xab\xab",
                           12));
    /* a rekey by a handle with the wrong key changes nothing */
    T_EQ_INT(mts_sqlite_rekey(old, pass_a, &err), MTS_EBADKEY);
    got = h_load(fresh);
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);
    /* to a passphrase: salt and cost stored once, in the seal row */
    T_EQ_INT(mts_sqlite_rekey(st, pass_a, &err), 0);
    T_EQ_INT(h_int(path, "SELECT kdf = 1 AND opslimit = 1 AND memlimit = 64 "
                         "AND length(salt) = 16 FROM seal"),
             1);
    T_EQ_INT(mts_storage_load(&got, fresh, &err), MTS_EBADKEY);
    got = h_load(st);
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);
    /* to clear, by request, and back */
    T_EQ_INT(mts_sqlite_rekey(st, NULL, &err), 0);
    T_EQ_INT(h_int(path, "SELECT count(*) FROM seal"), 0);
    T_EQ_INT(h_int(path, "SELECT length(auth_key) FROM dcs WHERE auth_key IS "
                         "NOT NULL"),
             MTS_AUTH_KEY_SIZE);
    plain = h_open(path, NULL);
    got = h_load(plain);
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);
    T_EQ_INT(mts_sqlite_rekey(plain, key_a, &err), 0);
    got = h_load(old);
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);
    /* not an SQLite handle */
    {
        mts_storage *mem = NULL;
        T_EQ_INT(mts_memory_open(&mem, NULL), 0);
        T_EQ_INT(mts_sqlite_rekey(mem, key_a, &err), MTS_EINVAL);
        mts_storage_free(mem);
    }
    mts_storage_free(st);
    mts_storage_free(old);
    mts_storage_free(fresh);
    mts_storage_free(plain);
    mts_session_free(full);
}

/* ---- passphrases: derived once per handle -------------------------------- */

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
test_passphrase_derived_once(void)
{
    const char *path = h_path("pass.db");
    mts_kdf_params cost = MTS_KDF_PARAMS_INIT;
    mts_secret *pass = NULL;
    mts_storage *st;
    mts_session *small = fx_session("small"), *got;
    double t0, first, rest;
    cost.opslimit = 2;
    cost.memlimit_kib = 32768; /* a derivation that takes visible time */
    T_EQ_INT(mts_secret_from_passphrase(&pass, "hunter2", 7, &cost, NULL), 0);
    st = open_with(path, NULL, pass);
    T_EQ_INT(mts_storage_save(st, small, NULL), 0);
    mts_storage_free(st);
    /* a new secret object (nothing cached) and a new handle */
    mts_secret_free(pass);
    T_EQ_INT(mts_secret_from_passphrase(&pass, "hunter2", 7, &cost, NULL), 0);
    st = open_with(path, NULL, pass);
    t0 = now_s();
    got = h_load(st);
    first = now_s() - t0;
    T_CHECK(got != NULL && mts_session_equal(got, small));
    mts_session_free(got);
    t0 = now_s();
    for (int i = 0; i < 10; i++) {
        got = h_load(st);
        T_EQ_INT(mts_storage_save(st, got, NULL), 0);
        mts_session_free(got);
    }
    rest = now_s() - t0;
    fprintf(stderr,
            "  first load %.3f s (derives), 10 loads and saves %.3f s\n", first,
            rest);
    T_CHECK(rest < first * 3);
    T_EQ_INT(h_int(path, "SELECT count(*) FROM seal"), 1);
    mts_storage_free(st);
    mts_secret_free(pass);
    mts_session_free(small);
}

/* ---- seal.c helpers ------------------------------------------------------ */

static void
test_key_helpers(void)
{
    mts__kdf kdf, kdf2;
    uint8_t a[32], b[32], c[32];
    mts_error err = MTS_ERROR_INIT;
    make_secrets();
    T_EQ_INT(mts__secret_kdf_new(&kdf, key_a, NULL), 0);
    T_EQ_INT(kdf.kind, 0);
    T_EQ_INT(mts__secret_subkey(a, key_a, &kdf, "testtest", NULL), 0);
    T_EQ_INT(mts__secret_subkey(b, key_a, &kdf, "testtest", NULL), 0);
    T_EQ_MEM(a, b, 32);
    T_EQ_INT(mts__secret_subkey(c, key_a, &kdf, "othertst", NULL), 0);
    T_CHECK(memcmp(a, c, 32) != 0); /* purposes are separated */
    T_EQ_INT(mts__secret_subkey(c, key_b, &kdf, "testtest", NULL), 0);
    T_CHECK(memcmp(a, c, 32) != 0);
    /* kinds must match */
    T_EQ_INT(mts__secret_subkey(c, pass_a, &kdf, "testtest", &err),
             MTS_EBADKEY);
    T_EQ_INT(mts__secret_kdf_new(&kdf2, pass_a, NULL), 0);
    T_EQ_INT(kdf2.kind, 1);
    T_EQ_INT(kdf2.ops, 1);
    T_EQ_INT(kdf2.memkib, 64);
    T_EQ_INT(mts__secret_subkey(c, key_a, &kdf2, "testtest", &err),
             MTS_EBADKEY);
    T_EQ_INT(mts__secret_subkey(a, pass_a, &kdf2, "testtest", NULL), 0);
    T_EQ_INT(mts__secret_subkey(b, pass_a, &kdf2, "testtest", NULL), 0);
    T_EQ_MEM(a, b, 32);
    /* another salt, another key */
    kdf2.salt[0] ^= 1;
    T_EQ_INT(mts__secret_subkey(c, pass_a, &kdf2, "testtest", NULL), 0);
    T_CHECK(memcmp(a, c, 32) != 0);
    /* costs out of range are corrupt, unknown kinds unsupported */
    kdf2.memkib = 4;
    T_EQ_INT(mts__secret_subkey(c, pass_a, &kdf2, "testtest", &err),
             MTS_ECORRUPT);
    kdf2.kind = 9;
    T_EQ_INT(mts__secret_subkey(c, pass_a, &kdf2, "testtest", &err),
             MTS_EVERSION);
}

static void
test_options_checked(void)
{
    mts_sqlite_options o = MTS_SQLITE_OPTIONS_INIT;
    mts_storage *st = NULL;
    mts_error err = MTS_ERROR_INIT;
    o.version = 99;
    T_EQ_INT(mts_sqlite_open_ex(&st, h_path("opts.db"), NULL, &o, &err),
             MTS_EINVAL);
    o.version = MTS_SQLITE_OPTIONS_VERSION;
    o.synchronous = 7;
    T_EQ_INT(mts_sqlite_open_ex(&st, h_path("opts.db"), NULL, &o, &err),
             MTS_EINVAL);
    T_CHECK(st == NULL);
    o.synchronous = MTS_SQLITE_SYNC_NORMAL;
    T_EQ_INT(mts_sqlite_open_ex(&st, h_path("opts.db"), NULL, &o, &err), 0);
    T_EQ_INT(h_int(h_path("opts.db"), "PRAGMA user_version"),
             MTS__SQL_SCHEMA_VERSION);
    mts_storage_free(st);
}

static void
test_golden_v2(void)
{
    const char *path = h_path("golden-v2.db");
    size_t len;
    char *sql = (char *)fx_read("sqlite/schema-v2.sql", &len);
    mts_session *full = fx_session("full"), *small = fx_session("small"),
                *got = NULL;
    mts_secret *k = NULL, *pw = NULL;
    mts_kdf_params kp = MTS_KDF_PARAMS_INIT;
    mts_storage *st;
    mts_error err = MTS_ERROR_INIT;
    uint8_t key[MTS_SEAL_KEY_SIZE];
    memset(key, 0x11, sizeof(key));
    T_EQ_INT(mts_secret_from_key(&k, key, NULL), 0);
    kp.opslimit = 1;
    kp.memlimit_kib = 8;
    T_EQ_INT(mts_secret_from_passphrase(&pw, "golden", 6, &kp, NULL), 0);
    T_EQ_INT(
        mts_session_set_future_auth_token(small, (const uint8_t *)"tok", 3), 0);
    T_EQ_INT(t_write_file(path, "", 0), 0);
    T_EQ_INT(h_exec(path, sql), SQLITE_OK);

    st = h_open(path, NULL);
    got = h_load(st);
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);
    mts_storage_free(st);

    st = open_with(path, "sealed", k);
    got = h_load(st);
    T_CHECK(got != NULL && mts_session_equal(got, small));
    mts_session_free(got);
    mts_storage_free(st);
    st = h_open(path, "sealed");
    T_EQ_INT(mts_storage_load(&got, st, &err), MTS_EENCRYPTED);
    mts_storage_free(st);

    st = open_with(path, "passphrase", pw);
    got = h_load(st);
    T_CHECK(got != NULL && mts_session_equal(got, small));
    mts_session_free(got);
    mts_storage_free(st);
    st = open_with(path, "passphrase", k);
    T_EQ_INT(mts_storage_load(&got, st, &err), MTS_EBADKEY);
    mts_storage_free(st);

    mts_secret_free(k);
    mts_secret_free(pw);
    mts_session_free(full);
    mts_session_free(small);
    free(sql);
}

/* ---- allocation failures ------------------------------------------------- */

/* Fail each allocation in turn through a sealed open, load, incremental
 * save and two rekeys: every failure is MTS_ENOMEM, nothing leaks (ASan),
 * and the store always holds the old or the new session under one of the
 * two keys. */
static void
test_allocation_failures(void)
{
    long fail_at; /* the allocation that fails, counted from 1 */
    const char *path = h_path("alloc-sealed.db");
    mts_session *full = fx_session("full"), *changed = NULL;
    mts_peer p;
    int done = 0;
    make_secrets();
    T_EQ_INT(mts_session_dup(&changed, full), 0);
    T_EQ_INT(mts_session_peer_at(&p, changed, 0), 0);
    p.access_hash ^= 1;
    T_EQ_INT(mts_session_put_peer(changed, &p, NULL), 0);
    {
        mts_storage *st = open_with(path, NULL, key_a);
        T_EQ_INT(mts_storage_save(st, full, NULL), 0);
        mts_storage_free(st);
    }
    for (fail_at = 1; !done && fail_at < 3000; fail_at++) {
        mts_sqlite_options o = MTS_SQLITE_OPTIONS_INIT;
        mts_storage *st = NULL;
        mts_session *got = NULL;
        mts_secret *now = key_a;
        int rc;
        fa_calls = 0;
        fa_fail_at = fail_at - 1;
        o.secret = key_a;
        T_EQ_INT(mts_set_allocator(&fa_failing), 0);
        rc = mts_sqlite_open_ex(&st, path, NULL, &o, NULL);
        if (rc == 0)
            rc = mts_storage_load(&got, st, NULL);
        if (rc == 0 && mts_session_peer_at(&p, got, 0) == 0) {
            mts_peer q;
            T_EQ_INT(mts_session_get_peer(&q, changed, p.kind, p.id), 0);
            rc = mts_session_put_peer(got, &q, NULL);
        }
        if (rc == 0)
            rc = mts_storage_save(st, got, NULL);
        if (rc == 0)
            rc = mts_sqlite_rekey(st, key_b, NULL);
        if (rc == 0)
            rc = mts_sqlite_rekey(st, key_a, NULL);
        done = rc == 0 && fa_calls < fail_at;
        mts_session_free(got);
        mts_storage_free(st);
        mts_set_allocator(NULL);
        if (rc != 0 && rc != MTS_ENOMEM)
            t_fail(__FILE__, __LINE__, "allocation %ld: %s", fail_at,
                   mts_errname(rc));
        /* the store: old or new, under key a or key b */
        st = open_with(path, NULL, now);
        got = NULL;
        rc = mts_storage_load(&got, st, NULL);
        if (rc == MTS_EBADKEY) {
            mts_storage_free(st);
            st = open_with(path, NULL, key_b);
            rc = mts_storage_load(&got, st, NULL);
        }
        T_EQ_INT(rc, 0);
        T_CHECK(got != NULL && (mts_session_equal(got, full) ||
                                mts_session_equal(got, changed)));
        mts_session_free(got);
        /* back to the start: the old session under key a */
        if (st != NULL && mts_sqlite_rekey(st, key_a, NULL) == 0)
            T_EQ_INT(mts_storage_save(st, full, NULL), 0);
        mts_storage_free(st);
        if (t_case_failed)
            break;
    }
    T_CHECK(done);
    fprintf(stderr, "  failed each of %ld allocations in turn\n",
            fail_at - 2);
    mts_session_free(full);
    mts_session_free(changed);
}

static void
test_cleanup(void)
{
    mts_secret_free(key_a);
    mts_secret_free(key_b);
    mts_secret_free(pass_a);
    key_a = key_b = pass_a = NULL;
}

T_MAIN(T_CASE(test_conformance_sealed),
       T_CASE(test_file_holds_no_secrets),
       T_CASE(test_wrong_and_missing_key),
       T_CASE(test_moved_values_refused),
       T_CASE(test_plain_session_sealed_on_write),
       T_CASE(test_rekey),
       T_CASE(test_passphrase_derived_once),
       T_CASE(test_key_helpers),
       T_CASE(test_options_checked),
       T_CASE(test_golden_v2),
       T_CASE(test_allocation_failures),
       T_CASE(test_cleanup))
