/*
 * libsql_remote.c - the libSQL backend against the Hrana test server
 * (tests/hrana-server), which ctest starts first and proves faithful with
 * the official clients:
 *
 * - the conformance suite on the remote and replica modes;
 * - exact 64-bit values and blobs over the wire;
 * - auth failure, 429/503 retries, giving up after the cap, a timeout,
 *   Hrana 2 fallback, SQL errors with the server's code and message (and the
 *   whole transaction rolled back), no stream left open;
 * - the server's database file is an mtsession SQLite database;
 * - replica: loads served locally after a sync (with the server stopped),
 *   writes reaching the server, sync pulling another handle's change;
 * - sealed columns (conformance with a secret, the server's file holds no
 *   key, no key / wrong key / moved values, rekey of remote and replica);
 * - incremental saves: a save after 100 of 2,000 peers changed writes 100
 *   peer rows on the server; another handle's write and this handle's
 *   granular writes are replaced by the snapshot.
 *
 * Environment (set by tests.cmake): MTS_HRANA_PORT_FILE, MTS_HRANA_TOKEN,
 * MTS_HRANA_DB, and MTS_HRANA_NODE + MTS_HRANA_SERVER to start a private
 * server for the replica test.
 */
#include <curl/curl.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conformance.h"
#include "fixtures.h"
#include "hrana.h"
#include "remote_helpers.h"
#include "t.h"

/* The shared server's address (rh_setup), and curl for the hook calls. */
static void
setup(void)
{
    static int curl_ready;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT); /* for the hook calls below */
        curl_ready = 1;
    }
    rh_setup();
}

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the server's test hooks --------------------------------------------- */

static size_t
collect(char *ptr, size_t size, size_t n, void *data)
{
    char *buf = data;
    size_t have = strlen(buf), add = size * n;
    if (have + add >= 4096)
        add = 4095 - have;
    memcpy(buf + have, ptr, add);
    buf[have + add] = '\0';
    return size * n;
}

/* Call a /_test hook on the server at base; returns the HTTP status. */
static long
hook(const char *base, const char *path, const char *json, char *out)
{
    char u[512], auth[256], resp[4096] = "";
    struct curl_slist *h = NULL;
    long status = 0;
    CURL *c = curl_easy_init();
    snprintf(u, sizeof(u), "%s%s", base, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", rh_token);
    h = curl_slist_append(h, auth);
    h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, u);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    if (json != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (out != NULL)
        strcpy(out, resp);
    return status;
}

/* A number from the stats JSON: the value after "key": */
static long
stat_value(const char *base, const char *key)
{
    char resp[4096], pat[128];
    const char *p;
    if (hook(base, "/_test/stats", NULL, resp) != 200)
        return -1;
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    p = strstr(resp, pat);
    return p != NULL ? strtol(p + strlen(pat), NULL, 10) : 0;
}

static void
reset_hooks(const char *base)
{
    T_EQ_INT(hook(base, "/_test/reset", "{}", NULL), 200);
}

/* ---- helpers ------------------------------------------------------------- */

/* ---- conformance --------------------------------------------------------- */

static char conf_name[96];

static int
open_remote_conf(mts_storage **out, void *ctx)
{
    (void)ctx;
    snprintf(conf_name, sizeof(conf_name), "%s", rh_unique_name("conf"));
    return mts_libsql_open_remote(out, rh_url, rh_token, conf_name, NULL);
}

static int
reopen_remote_conf(mts_storage **out, void *ctx)
{
    (void)ctx;
    return mts_libsql_open_remote(out, rh_url, rh_token, conf_name, NULL);
}

static char replica_path[4096];

static int
open_replica_conf(mts_storage **out, void *ctx)
{
    static int n;
    (void)ctx;
    snprintf(conf_name, sizeof(conf_name), "%s", rh_unique_name("rconf"));
    snprintf(replica_path, sizeof(replica_path), "%s/replica-conf-%d.db",
             t_tmpdir(), ++n);
    return mts_libsql_open_replica(out, replica_path, rh_url, rh_token,
                                   conf_name, NULL);
}

static int
reopen_replica_conf(mts_storage **out, void *ctx)
{
    (void)ctx;
    return mts_libsql_open_replica(out, replica_path, rh_url, rh_token,
                                   conf_name, NULL);
}

static void
test_conformance_remote(void)
{
    conf_backend b = { "libsql-remote", open_remote_conf, reopen_remote_conf,
                       NULL, 0 };
    double t0 = now_s();
    setup();
    conf_run(&b);
    fprintf(stderr, "  remote conformance: %.2f s\n", now_s() - t0);
    /* every call closed its stream in the same request */
    T_EQ_INT(stat_value(rh_url, "open_streams"), 0);
}

static void
test_conformance_replica(void)
{
    conf_backend b = { "libsql-replica", open_replica_conf, reopen_replica_conf,
                       NULL, 0 };
    setup();
    conf_run(&b);
    T_EQ_INT(stat_value(rh_url, "open_streams"), 0);
}

/* ---- sealed -------------------------------------------------------------- */

static mts_secret *key_a, *key_b;

static void
make_keys(void)
{
    uint8_t k[MTS_SEAL_KEY_SIZE];
    if (key_a != NULL)
        return;
    memset(k, 0xa1, sizeof(k));
    T_EQ_INT(mts_secret_from_key(&key_a, k, NULL), 0);
    memset(k, 0xb2, sizeof(k));
    T_EQ_INT(mts_secret_from_key(&key_b, k, NULL), 0);
}

static mts_storage *
remote_sealed(const char *base, const char *name, mts_secret *secret)
{
    mts_libsql_options o = MTS_LIBSQL_OPTIONS_INIT;
    mts_storage *st = NULL;
    mts_error err = MTS_ERROR_INIT;
    o.secret = secret;
    if (mts_libsql_open_remote_ex(&st, base, rh_token, name, &o, &err) != 0)
        t_fail(__FILE__, __LINE__, "open_remote_ex: %s", err.message);
    return st;
}

static int
open_remote_sealed_conf(mts_storage **out, void *ctx)
{
    mts_libsql_options o = MTS_LIBSQL_OPTIONS_INIT;
    (void)ctx;
    o.secret = key_a;
    snprintf(conf_name, sizeof(conf_name), "%s", rh_unique_name("sconf"));
    return mts_libsql_open_remote_ex(out, rh_url, rh_token, conf_name, &o,
                                     NULL);
}

static int
reopen_remote_sealed_conf(mts_storage **out, void *ctx)
{
    mts_libsql_options o = MTS_LIBSQL_OPTIONS_INIT;
    (void)ctx;
    o.secret = key_a;
    return mts_libsql_open_remote_ex(out, rh_url, rh_token, conf_name, &o,
                                     NULL);
}

static int
open_replica_sealed_conf(mts_storage **out, void *ctx)
{
    static int n;
    mts_libsql_options o = MTS_LIBSQL_OPTIONS_INIT;
    (void)ctx;
    o.secret = key_a;
    snprintf(conf_name, sizeof(conf_name), "%s", rh_unique_name("srconf"));
    snprintf(replica_path, sizeof(replica_path), "%s/sealed-replica-%d.db",
             t_tmpdir(), ++n);
    return mts_libsql_open_replica_ex(out, replica_path, rh_url, rh_token,
                                      conf_name, &o, NULL);
}

static int
reopen_replica_sealed_conf(mts_storage **out, void *ctx)
{
    mts_libsql_options o = MTS_LIBSQL_OPTIONS_INIT;
    (void)ctx;
    o.secret = key_a;
    return mts_libsql_open_replica_ex(out, replica_path, rh_url, rh_token,
                                      conf_name, &o, NULL);
}

static void
test_conformance_sealed(void)
{
    conf_backend r = { "libsql-remote-sealed", open_remote_sealed_conf,
                       reopen_remote_sealed_conf, NULL, 2000 };
    conf_backend p = { "libsql-replica-sealed", open_replica_sealed_conf,
                       reopen_replica_sealed_conf, NULL, 2000 };
    setup();
    make_keys();
    conf_run(&r);
    conf_run(&p);
    T_EQ_INT(stat_value(rh_url, "open_streams"), 0);
}

/* A value from the server's database file, read with plain sqlite3. */
static long long
server_int(const char *sql, const char *arg)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -999;
    if (sqlite3_open_v2(rh_env("MTS_HRANA_DB"), &db, SQLITE_OPEN_READONLY,
                        NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        fprintf(stderr, "  server query failed: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void
test_sealed_remote(void)
{
    const char *name = rh_unique_name("sealed");
    mts_storage *st, *plain, *wrong, *again;
    mts_session *full = fx_session("full"), *got = NULL;
    mts_peer p = MTS_PEER_INIT;
    mts_error err = MTS_ERROR_INIT;
    char sql[512];
    setup();
    make_keys();
    st = remote_sealed(rh_url, name, key_a);
    T_EQ_INT(mts_storage_save(st, full, &err), 0);
    /* the server's file: sealed secrets, clear peers */
    T_EQ_INT(server_int("SELECT count(*) FROM dcs WHERE session = ? AND "
                        "typeof(server_salt) = 'blob'",
                        name),
             3);
    T_EQ_INT(server_int("SELECT length(auth_key) FROM dcs WHERE session = ? "
                        "AND auth_key IS NOT NULL",
                        name),
             256 + 41);
    T_EQ_INT(server_int("SELECT count(*) FROM peers WHERE session = ? AND "
                        "username = 'chan'",
                        name),
             1);
    got = fx_load(st);
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);

    plain = rh_remote(name);
    T_EQ_INT(mts_storage_load(&got, plain, &err), MTS_EENCRYPTED);
    T_CONTAINS(err.message, "libsql:");
    T_EQ_INT(mts_storage_save(plain, full, &err), MTS_EENCRYPTED);
    p.id = 11;
    T_EQ_INT(mts_storage_cache_peer(plain, &p, &err), MTS_EENCRYPTED);
    wrong = remote_sealed(rh_url, name, key_b);
    T_EQ_INT(mts_storage_load(&got, wrong, &err), MTS_EBADKEY);
    T_EQ_INT(mts_storage_set_home_dc(wrong, 3, &err), MTS_EBADKEY);
    got = fx_load(st);
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);

    /* values moved between rows do not open */
    snprintf(sql, sizeof(sql),
             "UPDATE dcs SET server_salt = (SELECT server_salt FROM dcs "
             "WHERE session = '%s' AND dc_id = 4) WHERE session = '%s' AND "
             "dc_id = 1",
             name, name);
    T_EQ_INT(rh_raw_sql(rh_url, sql), 0);
    T_EQ_INT(mts_storage_load(&got, st, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "column server_salt");
    T_EQ_INT(mts_storage_save(st, full, &err), 0);

    /* rekey: the old key fails, the new one works */
    T_EQ_INT(mts_libsql_rekey(st, key_b, &err), 0);
    again = remote_sealed(rh_url, name, key_a);
    T_EQ_INT(mts_storage_load(&got, again, &err), MTS_EBADKEY);
    mts_storage_free(again);
    got = fx_load(wrong); /* wrong was opened with key_b */
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);
    got = fx_load(st);
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);
    /* a handle with a key seals a plain session on its first write */
    {
        const char *n2 = rh_unique_name("convert");
        mts_storage *pl = rh_remote(n2), *sk = remote_sealed(rh_url, n2, key_a);
        mts_dc dc;
        T_EQ_INT(mts_storage_save(pl, full, NULL), 0);
        T_EQ_INT(server_int("SELECT count(*) FROM dcs WHERE session = ? AND "
                            "typeof(server_salt) = 'integer'",
                            n2),
                 3);
        T_EQ_INT(mts_session_dc_at(&dc, full, 0), 0);
        T_EQ_INT(mts_storage_update_dc(sk, &dc, &err), 0);
        T_EQ_INT(server_int("SELECT count(*) FROM dcs WHERE session = ? AND "
                            "typeof(server_salt) <> 'blob'",
                            n2),
                 0);
        got = fx_load(sk);
        T_CHECK(got != NULL && mts_session_equal(got, full));
        mts_session_free(got);
        T_EQ_INT(mts_storage_load(&got, pl, &err), MTS_EENCRYPTED);
        mts_storage_free(pl);
        mts_storage_free(sk);
    }
    T_EQ_INT(stat_value(rh_url, "open_streams"), 0);
    mts_storage_free(st);
    mts_storage_free(plain);
    mts_storage_free(wrong);
    mts_session_free(full);
}

static void
test_sealed_replica(void)
{
    const char *name = rh_unique_name("sealrep");
    char path[4096];
    mts_libsql_options o = MTS_LIBSQL_OPTIONS_INIT;
    mts_storage *rep = NULL, *sq = NULL;
    mts_session *full = fx_session("full"), *got = NULL;
    mts_error err = MTS_ERROR_INIT;
    setup();
    make_keys();
    snprintf(path, sizeof(path), "%s/sealed-replica.db", t_tmpdir());
    o.secret = key_a;
    T_EQ_INT(mts_libsql_open_replica_ex(&rep, path, rh_url, rh_token, name, &o,
                                        &err),
             0);
    T_EQ_INT(mts_storage_save(rep, full, &err), 0);
    /* the local file is sealed too */
    T_EQ_INT(mts_sqlite_open(&sq, path, name, NULL), 0);
    T_EQ_INT(mts_storage_load(&got, sq, &err), MTS_EENCRYPTED);
    mts_storage_free(sq);
    /* rekey both */
    T_EQ_INT(mts_libsql_rekey(rep, key_b, &err), 0);
    got = fx_load(rep);
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);
    T_EQ_INT(mts_libsql_sync(rep, &err), 0);
    got = fx_load(rep);
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);
    {
        mts_storage *r = remote_sealed(rh_url, name, key_b);
        got = fx_load(r);
        T_CHECK(got != NULL && mts_session_equal(got, full));
        mts_session_free(got);
        mts_storage_free(r);
    }
    mts_storage_free(rep);
    mts_session_free(full);
}

/* ---- incremental saves --------------------------------------------------- */

static long long
logged(const char *name, const char *op)
{
    char sql[300];
    (void)sql;
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM mts_test_wlog WHERE session = ? AND op = "
             "'%s'",
             op);
    return server_int(sql, name);
}

static void
test_incremental_remote(void)
{
    const char *name = rh_unique_name("incr");
    mts_storage *st, *other, *check;
    mts_session *big = fx_big(2000), *s = NULL, *got;
    mts_peer p;
    setup();
    st = rh_remote(name);
    other = rh_remote(name);
    check = rh_remote(name);
    T_EQ_INT(mts_storage_save(st, big, NULL), 0);
    T_EQ_INT(rh_raw_sql(rh_url, "CREATE TABLE IF NOT EXISTS mts_test_wlog "
                                "(session TEXT, op TEXT)"),
             0);
    T_EQ_INT(rh_raw_sql(rh_url,
                        "CREATE TRIGGER IF NOT EXISTS mts_test_w1 AFTER "
                        "UPDATE ON peers BEGIN INSERT INTO mts_test_wlog "
                        "VALUES (NEW.session, 'update'); END"),
             0);
    T_EQ_INT(rh_raw_sql(rh_url,
                        "CREATE TRIGGER IF NOT EXISTS mts_test_w2 AFTER "
                        "INSERT ON peers BEGIN INSERT INTO mts_test_wlog "
                        "VALUES (NEW.session, 'insert'); END"),
             0);
    T_EQ_INT(rh_raw_sql(rh_url,
                        "CREATE TRIGGER IF NOT EXISTS mts_test_w3 AFTER "
                        "DELETE ON peers BEGIN INSERT INTO mts_test_wlog "
                        "VALUES (OLD.session, 'delete'); END"),
             0);
    s = fx_load(st);
    if (s == NULL)
        goto done;
    for (size_t i = 500; i < 600; i++) {
        T_EQ_INT(mts_session_peer_at(&p, s, i), 0);
        p.access_hash ^= 99;
        T_EQ_INT(mts_session_put_peer(s, &p, NULL), 0);
    }
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    T_EQ_INT(logged(name, "update"), 100);
    T_EQ_INT(logged(name, "insert"), 0);
    T_EQ_INT(logged(name, "delete"), 0);
    for (int i = 0; i < 5; i++) {
        T_EQ_INT(mts_session_peer_at(&p, s, (size_t)i * 10), 0);
        T_EQ_INT(mts_session_remove_peer(s, p.kind, p.id), 0);
    }
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    T_EQ_INT(logged(name, "delete"), 5);
    T_EQ_INT(logged(name, "insert"), 0);
    got = fx_load(check);
    T_CHECK(got != NULL && mts_session_equal(got, s));
    mts_session_free(got);

    /* another handle writes: the next save is a full one (it replaces all
     * peer rows) and leaves exactly the snapshot */
    p.kind = MTS_PEER_USER;
    p.id = 987654;
    p.access_hash = 1;
    p.username = NULL;
    p.phone = NULL;
    T_EQ_INT(mts_storage_cache_peer(other, &p, NULL), 0);
    T_EQ_INT(mts_session_peer_at(&p, s, 7), 0);
    p.access_hash ^= 1;
    T_EQ_INT(mts_session_put_peer(s, &p, NULL), 0);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    got = fx_load(check);
    T_CHECK(got != NULL && mts_session_equal(got, s));
    mts_session_free(got);
    T_CHECK(logged(name, "insert") >= 1995);

    /* this handle's granular writes are undone by the next save */
    T_EQ_INT(rh_raw_sql(rh_url, "DELETE FROM mts_test_wlog"), 0);
    p.id = 5555;
    p.access_hash = 3;
    T_EQ_INT(mts_storage_cache_peer(st, &p, NULL), 0);
    T_EQ_INT(mts_storage_set_home_dc(st, 4, NULL), 0);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    got = fx_load(check);
    T_CHECK(got != NULL && mts_session_equal(got, s));
    mts_session_free(got);
    T_EQ_INT(logged(name, "insert"), 1);
    T_EQ_INT(logged(name, "delete"), 1);
    T_EQ_INT(stat_value(rh_url, "open_streams"), 0);
done:
    T_EQ_INT(rh_raw_sql(rh_url, "DROP TRIGGER IF EXISTS mts_test_w1"), 0);
    T_EQ_INT(rh_raw_sql(rh_url, "DROP TRIGGER IF EXISTS mts_test_w2"), 0);
    T_EQ_INT(rh_raw_sql(rh_url, "DROP TRIGGER IF EXISTS mts_test_w3"), 0);
    T_EQ_INT(rh_raw_sql(rh_url, "DROP TABLE IF EXISTS mts_test_wlog"), 0);
    mts_session_free(s);
    mts_session_free(big);
    mts_storage_free(st);
    mts_storage_free(other);
    mts_storage_free(check);
}

/* ---- values -------------------------------------------------------------- */

static void
test_int64_and_blobs(void)
{
    mts_storage *st;
    mts_session *s = NULL, *got;
    mts_peer p = MTS_PEER_INIT;
    mts_dc dc = MTS_DC_INIT;
    mts_min_peer mp = { 7, -1002147483647LL, 2147483647 };
    uint8_t key[256], tok[300];
    setup();
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)i;
    for (size_t i = 0; i < sizeof(tok); i++)
        tok[i] = (uint8_t)(255 - i);
    T_EQ_INT(mts_session_new(&s, MTS_NEW_EMPTY), 0);
    p.id = INT64_MAX;
    p.access_hash = INT64_MIN;
    T_EQ_INT(mts_session_put_peer(s, &p, NULL), 0);
    p.kind = MTS_PEER_CHANNEL;
    p.id = 1;
    p.access_hash = INT64_MAX;
    p.username = "ünïcödé_name";
    T_EQ_INT(mts_session_put_peer(s, &p, NULL), 0);
    dc.dc_id = 2147483647;
    T_EQ_INT(mts_ip_parse(&dc.ip, "2001:db8::1"), 0);
    dc.port = 65535;
    dc.auth_key = key;
    dc.server_salt = INT64_MIN;
    dc.time_offset = -2147483647 - 1;
    T_EQ_INT(mts_session_put_dc(s, &dc), 0);
    T_EQ_INT(mts_session_put_min_peer(s, &mp), 0);
    T_EQ_INT(mts_session_set_user(s, INT64_MAX, 1), 0);
    T_EQ_INT(mts_session_set_future_auth_token(s, tok, sizeof(tok)), 0);
    T_EQ_INT(mts_session_set_channel_pts(s, INT64_MAX, -1), 0);

    st = rh_remote(rh_unique_name("values"));
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    got = fx_load(st);
    T_CHECK(got != NULL && mts_session_equal(got, s));
    if (got != NULL) {
        mts_peer q;
        mts_dc d;
        T_EQ_INT(mts_session_get_peer(&q, got, MTS_PEER_USER, INT64_MAX), 0);
        T_CHECK(q.access_hash == INT64_MIN);
        T_EQ_INT(mts_session_dc_at(&d, got, 0), 0);
        T_CHECK(d.server_salt == INT64_MIN);
        T_CHECK(d.auth_key != NULL && memcmp(d.auth_key, key, 256) == 0);
    }
    mts_session_free(got);
    mts_session_free(s);
    mts_storage_free(st);
}

/* The server's database is an mtsession SQLite database, both ways. */
static void
test_server_file_is_sqlite(void)
{
    const char *name = rh_unique_name("file");
    mts_storage *st, *sq = NULL;
    mts_session *full = fx_session("full"), *small = fx_session("small"), *got;
    setup();
    st = rh_remote(name);
    T_EQ_INT(mts_storage_save(st, full, NULL), 0);
    T_EQ_INT(mts_sqlite_open(&sq, rh_env("MTS_HRANA_DB"), name, NULL), 0);
    if (sq == NULL) {
        mts_storage_free(st);
        mts_session_free(full);
        mts_session_free(small);
        return;
    }
    got = fx_load(sq);
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);
    T_EQ_INT(mts_storage_save(sq, small, NULL), 0);
    got = fx_load(st);
    T_CHECK(got != NULL && mts_session_equal(got, small));
    mts_session_free(got);
    mts_storage_free(sq);
    mts_storage_free(st);
    mts_session_free(full);
    mts_session_free(small);
}

/* ---- errors -------------------------------------------------------------- */

static void
test_auth_failure(void)
{
    mts_storage *st = NULL;
    mts_session *s = fx_session("small"), *got = NULL;
    mts_error err = MTS_ERROR_INIT;
    setup();
    T_EQ_INT(
        mts_libsql_open_remote(&st, rh_url, "wrong-secret-token", "auth", NULL),
        0);
    T_EQ_INT(mts_storage_save(st, s, &err), MTS_EBACKEND);
    T_EQ_INT(err.native, 401);
    T_EQ_STR(err.message, "libsql: authentication failed (HTTP 401)");
    T_EQ_INT(mts_storage_load(&got, st, &err), MTS_EBACKEND);
    T_EQ_INT(err.native, 401);
    T_CHECK(strstr(mts_storage_name(st), "secret") == NULL);
    mts_storage_free(st);
    /* no token at all */
    T_EQ_INT(mts_libsql_open_remote(&st, rh_url, NULL, "auth", NULL), 0);
    T_EQ_INT(mts_storage_load(&got, st, &err), MTS_EBACKEND);
    T_EQ_INT(err.native, 401);
    mts_storage_free(st);
    mts_session_free(s);
}

static void
test_retry_then_success(void)
{
    mts__hrana_tuning fast = { 0, 0, 5, 20, 1000 };
    mts_storage *st;
    mts_session *s = fx_session("full"), *got;
    setup();
    st = rh_remote(rh_unique_name("retry"));
    T_EQ_INT(mts__libsql_tune(st, &fast, NULL), 0);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0); /* schema checked */
    reset_hooks(rh_url);
    T_EQ_INT(hook(rh_url, "/_test/fail", "{\"status\":429,\"count\":3}", NULL),
             200);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    T_EQ_INT(stat_value(rh_url, "injected"), 3);
    T_EQ_INT(hook(rh_url, "/_test/fail", "{\"status\":503,\"count\":2}", NULL),
             200);
    got = fx_load(st);
    T_CHECK(got != NULL && mts_session_equal(got, s));
    T_EQ_INT(stat_value(rh_url, "injected"), 5);
    mts_session_free(got);
    reset_hooks(rh_url);
    mts_session_free(s);
    mts_storage_free(st);
}

static void
test_retry_gives_up(void)
{
    mts__hrana_tuning capped = { 0, 0, 5, 50, 2000 };
    mts__hrana_tuning tight = { 0, 0, 5, 200, 300 };
    mts_storage *st;
    mts_session *s = fx_session("small"), *got = NULL;
    mts_error err = MTS_ERROR_INIT;
    double t0, dt;
    setup();
    st = rh_remote(rh_unique_name("busy"));
    T_EQ_INT(mts__libsql_tune(st, &capped, NULL), 0);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    T_EQ_INT(hook(rh_url, "/_test/fail", "{\"status\":429,\"count\":-1}", NULL),
             200);
    t0 = now_s();
    T_EQ_INT(mts_storage_save(st, s, &err), MTS_EBACKEND);
    dt = now_s() - t0;
    T_EQ_INT(err.native, 429);
    T_CONTAINS(err.message, "gave up after 5 tries");
    T_CHECK(dt >= 0.7 && dt < 2.0); /* 50+100+200+400 ms of pauses */
    /* the cap on the pauses' sum ends it earlier */
    T_EQ_INT(mts__libsql_tune(st, &tight, NULL), 0);
    t0 = now_s();
    T_EQ_INT(mts_storage_load(&got, st, &err), MTS_EBACKEND);
    dt = now_s() - t0;
    T_CONTAINS(err.message, "gave up after 2 tries");
    T_CHECK(dt < 1.0);
    reset_hooks(rh_url);
    got = fx_load(st);
    T_CHECK(got != NULL && mts_session_equal(got, s));
    mts_session_free(got);
    mts_session_free(s);
    mts_storage_free(st);
}

/* A server that does not answer in time: a transport error, on time. */
static void
test_timeout(void)
{
    mts__hrana_tuning quick = { 0, 300, 0, 0, 0 };
    mts_storage *st;
    mts_session *s = fx_session("small"), *got = NULL;
    mts_error err = MTS_ERROR_INIT;
    double t0, dt;
    setup();
    st = rh_remote(rh_unique_name("timeout"));
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    T_EQ_INT(mts__libsql_tune(st, &quick, NULL), 0);
    T_EQ_INT(hook(rh_url, "/_test/delay", "{\"ms\":1500,\"count\":1}", NULL),
             200);
    t0 = now_s();
    T_EQ_INT(mts_storage_load(&got, st, &err), MTS_EIO);
    dt = now_s() - t0;
    T_EQ_INT(err.native, CURLE_OPERATION_TIMEDOUT);
    T_CHECK(dt < 1.2);
    reset_hooks(rh_url);
    got = fx_load(st);
    T_CHECK(got != NULL && mts_session_equal(got, s));
    mts_session_free(got);
    mts_session_free(s);
    mts_storage_free(st);
}

/* A server without Hrana 3 (/v3 answers 404): the client uses /v2. */
static void
test_v2_fallback(void)
{
    mts_storage *st;
    mts_session *s = fx_session("full"), *got;
    setup();
    reset_hooks(rh_url);
    T_EQ_INT(hook(rh_url, "/_test/v3", "{\"enabled\":false}", NULL), 200);
    st = rh_remote(rh_unique_name("v2"));
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    got = fx_load(st);
    T_CHECK(got != NULL && mts_session_equal(got, s));
    mts_session_free(got);
    T_EQ_INT(stat_value(rh_url, "POST /v3/pipeline"), 1); /* tried once */
    T_CHECK(stat_value(rh_url, "POST /v2/pipeline") >= 3);
    reset_hooks(rh_url);
    mts_session_free(s);
    mts_storage_free(st);
}

/* An SQL error comes back with the server's code and message, and the
 * whole transaction is rolled back. */
static void
test_sql_error(void)
{
    const char *name = rh_unique_name("sqlerr");
    mts_storage *st;
    mts_session *a = fx_session("full"), *b = fx_session("full"), *got;
    mts_peer p = MTS_PEER_INIT;
    mts_error err = MTS_ERROR_INIT;
    setup();
    st = rh_remote(name);
    T_EQ_INT(mts_storage_save(st, a, NULL), 0);
    T_EQ_INT(rh_raw_sql(rh_url,
                        "CREATE TRIGGER IF NOT EXISTS mts_test_boom "
                        "BEFORE INSERT ON peers WHEN NEW.username = 'boom' "
                        "BEGIN SELECT RAISE(ABORT, 'boom refused'); END"),
             0);
    p.id = 4242;
    p.access_hash = 1;
    p.username = "boom";
    T_EQ_INT(mts_storage_cache_peer(st, &p, &err), MTS_EBACKEND);
    T_EQ_INT(err.native, 19);
    T_CONTAINS(err.message, "SQLITE_CONSTRAINT");
    T_CONTAINS(err.message, "boom refused");
    /* the lease guard, the seal guard, the rev read, the session row,
     * the peer */
    T_CONTAINS(err.message, "statement 5 of 5");
    /* a snapshot with the bad peer among good changes: all or nothing */
    T_EQ_INT(mts_session_set_home_dc(b, 5), 0);
    T_EQ_INT(mts_session_put_peer(b, &p, NULL), 0);
    T_EQ_INT(mts_storage_save(st, b, &err), MTS_EBACKEND);
    T_CONTAINS(err.message, "boom refused");
    got = fx_load(st);
    T_CHECK(got != NULL && mts_session_equal(got, a));
    mts_session_free(got);
    T_EQ_INT(rh_raw_sql(rh_url, "DROP TRIGGER mts_test_boom"), 0);
    T_EQ_INT(mts_storage_save(st, b, NULL), 0);
    T_EQ_INT(stat_value(rh_url, "open_streams"), 0);
    mts_session_free(a);
    mts_session_free(b);
    mts_storage_free(st);
}

/* ---- replica ------------------------------------------------------------- */

static void
test_cleanup(void)
{
    mts_secret_free(key_a);
    mts_secret_free(key_b);
    key_a = key_b = NULL;
}

static void
test_replica(void)
{
    rh_server sv = RH_SERVER_INIT;
    char db[4096], path[4096], path2[4096];
    mts_storage *r1 = NULL, *r2 = NULL, *rep = NULL, *rep2 = NULL;
    mts_session *a = fx_session("full"), *got = NULL, *want;
    mts_peer p = MTS_PEER_INIT;
    mts_error err = MTS_ERROR_INIT;
    int32_t home;
    setup();
    snprintf(db, sizeof(db), "%s/private-server.db", t_tmpdir());
    snprintf(path, sizeof(path), "%s/replica.db", t_tmpdir());
    snprintf(path2, sizeof(path2), "%s/replica2.db", t_tmpdir());
    if (rh_server_start(&sv, rh_env("MTS_HRANA_NODE"),
                        rh_env("MTS_HRANA_SERVER"), db, rh_token) != 0) {
        t_fail(__FILE__, __LINE__, "could not start a private server");
        rh_server_stop(&sv);
        mts_session_free(a);
        return;
    }
    T_EQ_INT(mts_libsql_open_remote(&r1, sv.url, rh_token, "acc", NULL), 0);
    T_EQ_INT(mts_libsql_open_remote(&r2, sv.url, rh_token, "acc", NULL), 0);
    T_EQ_INT(mts_storage_save(r1, a, NULL), 0);

    /* the first load pulls the remote state */
    T_EQ_INT(mts_libsql_open_replica(&rep, path, sv.url, rh_token, "acc", NULL),
             0);
    got = fx_load(rep);
    T_CHECK(got != NULL && mts_session_equal(got, a));
    mts_session_free(got);

    /* a write through the replica reaches the server */
    p.kind = MTS_PEER_CHANNEL;
    p.id = 777;
    p.access_hash = -777;
    T_EQ_INT(mts_storage_cache_peer(rep, &p, NULL), 0);
    want = fx_load(r2);
    T_CHECK(want != NULL &&
            mts_session_get_peer(&p, want, MTS_PEER_CHANNEL, 777) == 0 &&
            p.access_hash == -777);
    got = fx_load(rep); /* and the local copy has it too */
    T_CHECK(got != NULL && want != NULL && mts_session_equal(got, want));
    mts_session_free(got);
    mts_session_free(want);

    /* another handle changes the server: loads stay local until sync */
    T_EQ_INT(mts_storage_set_home_dc(r2, 5, NULL), 0);
    got = fx_load(rep);
    home = got != NULL ? mts_session_home_dc(got) : -1;
    T_CHECK(home != 5);
    mts_session_free(got);
    T_EQ_INT(mts_libsql_sync(rep, &err), 0);
    want = fx_load(r2);
    got = fx_load(rep);
    T_CHECK(got != NULL && mts_session_home_dc(got) == 5);
    T_CHECK(got != NULL && want != NULL && mts_session_equal(got, want));
    mts_session_free(got);

    /* a replica that synced before the server went away */
    T_EQ_INT(
        mts_libsql_open_replica(&rep2, path2, sv.url, rh_token, "acc", NULL),
        0);
    T_EQ_INT(mts_libsql_sync(rep2, NULL), 0);

    rh_server_stop(&sv);
    got = fx_load(rep);
    T_CHECK(got != NULL && want != NULL && mts_session_equal(got, want));
    mts_session_free(got);
    got = fx_load(rep2);
    T_CHECK(got != NULL && want != NULL && mts_session_equal(got, want));
    mts_session_free(got);
    /* writes need the server; a refused write leaves the replica as it was */
    T_EQ_INT(mts_storage_set_home_dc(rep, 9, &err), MTS_EIO);
    T_EQ_INT(mts_libsql_sync(rep, &err), MTS_EIO);
    got = fx_load(rep);
    T_CHECK(got != NULL && mts_session_home_dc(got) == 5);
    mts_session_free(got);
    mts_session_free(want);

    /* the server's file holds what the replica wrote */
    mts_storage_free(r1);
    T_EQ_INT(mts_sqlite_open(&r1, db, "acc", NULL), 0);
    got = fx_load(r1);
    T_CHECK(got != NULL &&
            mts_session_get_peer(&p, got, MTS_PEER_CHANNEL, 777) == 0);
    mts_session_free(got);

    mts_storage_free(rep);
    mts_storage_free(rep2);
    mts_storage_free(r1);
    mts_storage_free(r2);
    mts_session_free(a);
}

T_MAIN(T_CASE(test_conformance_remote),
       T_CASE(test_conformance_replica),
       T_CASE(test_int64_and_blobs),
       T_CASE(test_server_file_is_sqlite),
       T_CASE(test_auth_failure),
       T_CASE(test_retry_then_success),
       T_CASE(test_retry_gives_up),
       T_CASE(test_timeout),
       T_CASE(test_v2_fallback),
       T_CASE(test_sql_error),
       T_CASE(test_replica),
       T_CASE(test_conformance_sealed),
       T_CASE(test_sealed_remote),
       T_CASE(test_sealed_replica),
       T_CASE(test_incremental_remote),
       T_CASE(test_cleanup))
