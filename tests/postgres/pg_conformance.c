/*
 * pg_conformance.c - the postgres backend against the throwaway server:
 *
 * - the shared conformance suite, every store a new account in one
 *   database (reopened through a new connection to prove persistence);
 * - accounts never see each other's rows;
 * - the name never shows a password, in both conninfo forms;
 * - the schema: created once by concurrent openers, versioned (a newer
 *   version is MTS_EVERSION, an empty version table MTS_EFORMAT), bytea
 *   auth keys with a CHECK on their length and a load check behind it;
 * - server errors: MTS_EBACKEND with the SQLSTATE, nothing half-applied;
 * - values stored exactly as given (negative pts, int64 extremes).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"
#include "fixtures.h"
#include "mtsession/sys/alloc.h"
#include "pg_helpers.h"
#include "t.h"

static const char *conf_db;
static char conf_account[64];
static int counter;

static int
open_fresh(mts_storage **out, void *ctx)
{
    mts_error err = MTS_ERROR_INIT;
    int rc;
    (void)ctx;
    snprintf(conf_account, sizeof(conf_account), "conf-%d", ++counter);
    rc = mts_postgres_open(out, conf_db, conf_account, &err);
    if (rc != 0)
        fprintf(stderr, "  postgres open: %s\n", err.message);
    return rc;
}

static int
reopen(mts_storage **out, void *ctx)
{
    (void)ctx;
    return mts_postgres_open(out, conf_db, conf_account, NULL);
}

static void
test_conformance(void)
{
    conf_backend b = { "postgres", open_fresh, reopen, NULL, 0 };
    PGconn *c;
    conf_db = pgt_new_db("mts_conf");
    conf_run(&b);
    /* every case left its account's rows in the one database */
    c = pgt_connect(conf_db);
    T_CHECK(pgt_int(c, "SELECT count(*) FROM mtsession.sessions") > 5);
    T_EQ_INT(pgt_int(c, "SELECT count(DISTINCT account) FROM "
                        "mtsession.peers WHERE account LIKE 'conf-%%'") > 3,
             1);
    PQfinish(c);
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

/* Two accounts in one database: separate in every table and operation. */
static void
test_accounts_isolated(void)
{
    const char *db = pgt_new_db("mts_accounts");
    mts_storage *a, *b;
    mts_session *full = fx_session("full"), *small = fx_session("small"),
                *got = NULL;
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    T_EQ_INT(mts_postgres_open(&a, db, "alice", NULL), 0);
    T_EQ_INT(mts_postgres_open(&b, db, "bob", NULL), 0);
    T_EQ_INT(mts_storage_save(a, full, NULL), 0);
    T_EQ_INT(mts_storage_save(b, small, NULL), 0);
    c.kind = MTS_UPDATE_CHANNEL;
    c.channel_id = 4242;
    c.channel_pts = 1;
    T_EQ_INT(mts_storage_apply_update_state(b, &c, NULL), 0);
    got = load(a);
    T_CHECK(got && mts_session_equal(got, full));
    mts_session_free(got);
    T_EQ_INT(mts_storage_delete(a, NULL), 0);
    T_EQ_INT(mts_storage_load(&got, a, NULL), MTS_ENOTFOUND);
    got = load(b);
    T_CHECK(got != NULL && mts_session_peer_count(got) ==
                               mts_session_peer_count(small));
    T_EQ_U64(got ? mts_session_channel_count(got) : 0,
             mts_session_channel_count(small) + 1);
    mts_session_free(got);
    /* a lease on one account leaves the other writable */
    {
        mts_lease l = MTS_LEASE_INIT;
        T_EQ_INT(mts_lease_acquire(&l, b, "bob-worker", 60000, NULL), 0);
        T_EQ_INT(mts_storage_save(a, full, NULL), 0);
    }
    mts_storage_free(a);
    mts_storage_free(b);
    mts_session_free(full);
    mts_session_free(small);
}

/* The name: "postgres:<options>#<account>", never a password. */
static void
test_name(void)
{
    char ci[1400], uri[1400], host[600];
    const char *db = pgt_new_db("mts_name"), *name, *h;
    mts_storage *st = NULL;
    mts_error err = MTS_ERROR_INIT;
    snprintf(ci, sizeof(ci), "%s password=hunter2 application_name=mts-n",
             db);
    T_EQ_INT(mts_postgres_open(&st, ci, "acct one", &err), 0);
    name = st ? mts_storage_name(st) : "";
    T_CHECK(strncmp(name, "postgres:", 9) == 0);
    T_CONTAINS(name, "dbname=mts_name");
    T_CONTAINS(name, "application_name=mts-n");
    T_CHECK(strstr(name, "hunter2") == NULL);
    T_CHECK(strstr(name, "password") == NULL);
    T_CONTAINS(name, "#acct one");
    mts_storage_free(st);

    /* URI form, the password in the authority part */
    h = strstr(pgt_base(), "host=");
    snprintf(host, sizeof(host), "%s", h ? h + 5 : "");
    host[strcspn(host, " ")] = '\0';
    snprintf(uri, sizeof(uri),
             "postgresql://test:hunter2@/mts_name?host=%s", host);
    st = NULL;
    T_EQ_INT(mts_postgres_open(&st, uri, NULL, &err), 0);
    if (st != NULL) {
        name = mts_storage_name(st);
        T_CHECK(strstr(name, "hunter2") == NULL);
        T_CONTAINS(name, "user=test");
        T_CONTAINS(name, "#default");
        mts_storage_free(st);
    }

    /* errors at open */
    T_EQ_INT(mts_postgres_open(&st, "host='unterminated", "a", &err),
             MTS_EINVAL);
    T_CONTAINS(err.message, "connection string");
    T_EQ_INT(mts_postgres_open(&st, "host=/nonexistent/dir user=test "
                                    "password=hunter2",
                               "a", &err),
             MTS_EIO);
    T_CONTAINS(err.message, "cannot connect");
    T_CHECK(strstr(err.message, "hunter2") == NULL);
    T_EQ_INT(mts_postgres_open(&st, db, "", &err), MTS_EINVAL);
    T_EQ_INT(mts_postgres_open(&st, db, "tab\there", &err), MTS_EINVAL);
    T_EQ_INT(mts_postgres_open(&st, NULL, "a", &err), MTS_EINVAL);
    T_CHECK(mts_backend_available("postgres"));
}

typedef struct opener {
    const char *db;
    int rc;
    char msg[256];
} opener;

static void *
open_thread(void *arg)
{
    opener *o = arg;
    mts_storage *st = NULL;
    mts_error err = MTS_ERROR_INIT;
    o->rc = mts_postgres_open(&st, o->db, "x", &err);
    snprintf(o->msg, sizeof(o->msg), "%s", err.message);
    mts_storage_free(st);
    return NULL;
}

/* Schema creation, versions and migrations. */
static void
test_schema_version(void)
{
    const char *db = pgt_new_db("mts_schema");
    opener o[6];
    pthread_t th[6];
    mts_storage *st = NULL;
    mts_error err = MTS_ERROR_INIT;
    PGconn *c;
    /* six first opens at once: one creates, the others wait and use it */
    for (int i = 0; i < 6; i++) {
        o[i].db = db;
        pthread_create(&th[i], NULL, open_thread, &o[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        if (o[i].rc != 0)
            t_fail(__FILE__, __LINE__, "concurrent open %d: %s %s", i,
                   mts_errname(o[i].rc), o[i].msg);
    }
    c = pgt_connect(db);
    /* one row per version: created at 1, migrated to 2, then 3 */
    T_EQ_INT(pgt_int(c, "SELECT count(*) FROM mtsession.schema_version"), 3);
    T_EQ_INT(pgt_int(c, "SELECT max(version) FROM mtsession.schema_version"),
             3);
    T_EQ_INT(pgt_int(c, "SELECT count(*) FROM pg_tables WHERE schemaname = "
                        "'mtsession'"),
             8);

    /* a newer schema is refused, and left alone */
    pgt_exec(c, "INSERT INTO mtsession.schema_version (version) VALUES (4)");
    T_EQ_INT(mts_postgres_open(&st, db, "x", &err), MTS_EVERSION);
    T_CONTAINS(err.message, "schema version 4 is newer");
    T_EQ_INT(pgt_int(c, "SELECT max(version) FROM mtsession.schema_version"),
             4);
    /* an older version this library has no migration from */
    pgt_exec(c, "DELETE FROM mtsession.schema_version WHERE version < 4");
    pgt_exec(c, "UPDATE mtsession.schema_version SET version = version - 4");
    T_EQ_INT(pgt_int(c, "SELECT max(version) FROM mtsession.schema_version"),
             0);
    T_EQ_INT(mts_postgres_open(&st, db, "x", &err), MTS_EVERSION);
    T_CONTAINS(err.message, "no migration");
    /* a version table nobody filled */
    pgt_exec(c, "DELETE FROM mtsession.schema_version");
    T_EQ_INT(mts_postgres_open(&st, db, "x", &err), MTS_EFORMAT);
    T_CONTAINS(err.message, "schema_version is empty");
    /* back to version 3: usable again */
    pgt_exec(c, "INSERT INTO mtsession.schema_version (version) VALUES (3)");
    T_EQ_INT(mts_postgres_open(&st, db, "x", &err), 0);
    mts_storage_free(st);
    PQfinish(c);
}

/* Auth keys: bytea, CHECKed at 256 bytes by the server, and checked again
 * on load (a row written around the CHECK is corrupt, never trusted). */
static void
test_auth_key_checks(void)
{
    const char *db = pgt_new_db("mts_keys");
    mts_storage *st = NULL;
    mts_session *s = fx_session("full"), *got = NULL;
    mts_error err = MTS_ERROR_INIT;
    PGresult *r;
    PGconn *c;
    T_EQ_INT(mts_postgres_open(&st, db, "k", NULL), 0);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    c = pgt_connect(db);
    T_EQ_INT(pgt_int(c, "SELECT count(*) FROM mtsession.dcs WHERE account = "
                        "'k' AND octet_length(auth_key) = 256"),
             1);
    r = PQexec(c, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                  "WHERE attrelid = 'mtsession.dcs'::regclass AND attname = "
                  "'auth_key'");
    T_EQ_STR(PQgetvalue(r, 0, 0), "bytea");
    PQclear(r);
    r = PQexec(c, "UPDATE mtsession.dcs SET auth_key = '\\x0102' WHERE "
                  "account = 'k'");
    T_EQ_STR(PQresultErrorField(r, PG_DIAG_SQLSTATE), "23514");
    T_CONTAINS(PQresultErrorMessage(r), "auth_key_size");
    PQclear(r);
    /* around the CHECK: load refuses the row, naming it */
    pgt_exec(c, "ALTER TABLE mtsession.dcs DROP CONSTRAINT auth_key_size");
    pgt_exec(c, "UPDATE mtsession.dcs SET auth_key = "
                "substr(auth_key, 1, 100) WHERE account = 'k' AND auth_key IS NOT "
                "NULL");
    T_EQ_INT(mts_storage_load(&got, st, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "auth_key");
    T_CONTAINS(err.message, "100 bytes, expected 256");
    T_CONTAINS(err.message, "postgres:");
    /* a save repairs it */
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    got = load(st);
    T_CHECK(got && mts_session_equal(got, s));
    mts_session_free(got);
    PQfinish(c);
    mts_storage_free(st);
    mts_session_free(s);
}

/* A server error is MTS_EBACKEND with the SQLSTATE, the whole statement is
 * rolled back, and the handle keeps working. */
static void
test_server_error(void)
{
    const char *db = pgt_new_db("mts_errors");
    mts_storage *st = NULL;
    mts_session *s = fx_session("full"), *big = fx_big(50), *got;
    mts_peer p = MTS_PEER_INIT;
    mts_error err = MTS_ERROR_INIT;
    PGconn *c;
    p.kind = MTS_PEER_CHANNEL;
    p.id = 7;
    T_EQ_INT(mts_session_put_peer(big, &p, NULL), 0);
    p.kind = MTS_PEER_USER;
    T_EQ_INT(mts_postgres_open(&st, db, "e", NULL), 0);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    c = pgt_connect(db);
    pgt_exec(c, "CREATE FUNCTION public.no_peer_7() RETURNS trigger "
                "LANGUAGE plpgsql AS $$ BEGIN IF NEW.id = 7 THEN RAISE "
                "EXCEPTION 'peer 7 refused' USING ERRCODE = '22023'; END IF; "
                "RETURN NEW; END $$");
    pgt_exec(c, "CREATE TRIGGER no7 BEFORE INSERT OR UPDATE ON "
                "mtsession.peers FOR EACH ROW EXECUTE FUNCTION "
                "public.no_peer_7()");
    p.id = 7;
    T_EQ_INT(mts_storage_cache_peer(st, &p, &err), MTS_EBACKEND);
    T_EQ_INT(err.native, 22023);
    T_CONTAINS(err.message, "peer 7 refused");
    T_CONTAINS(err.message, "SQLSTATE 22023");
    T_CONTAINS(err.message, "cache peer");
    /* a save whose peers include 7 fails as a whole */
    T_EQ_INT(mts_storage_save(st, big, &err), MTS_EBACKEND);
    T_EQ_INT(err.native, 22023);
    got = load(st);
    T_CHECK(got && mts_session_equal(got, s));
    mts_session_free(got);
    /* a code with letters: native 0, the code in the message */
    pgt_exec(c, "DROP TRIGGER no7 ON mtsession.peers");
    pgt_exec(c, "ALTER TABLE mtsession.peers RENAME TO peers_gone");
    T_EQ_INT(mts_storage_cache_peer(st, &p, &err), MTS_EBACKEND);
    T_EQ_INT(err.native, 0);
    T_CONTAINS(err.message, "SQLSTATE 42P01");
    pgt_exec(c, "ALTER TABLE mtsession.peers_gone RENAME TO peers");
    /* and the handle works again (the server re-plans its prepared
     * statements) */
    T_EQ_INT(mts_storage_cache_peer(st, &p, &err), 0);
    T_EQ_INT(mts_storage_save(st, big, NULL), 0);
    got = load(st);
    T_CHECK(got && mts_session_equal(got, big));
    mts_session_free(got);
    PQfinish(c);
    mts_storage_free(st);
    mts_session_free(s);
    mts_session_free(big);
}

/* Values are stored as given: pts moving back, negative numbers, int64
 * extremes, strings at their longest. */
static void
test_exact_values(void)
{
    const char *db = pgt_new_db("mts_values");
    mts_storage *st = NULL;
    mts_session *s = fx_session("full"), *got;
    mts_update_state us = { -5, INT32_MIN, INT32_MAX, -1 };
    mts_peer p = MTS_PEER_INIT;
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    char longname[256];
    uint8_t token[65536];
    memset(longname, 'u', 255);
    longname[255] = '\0';
    memset(token, 0xa5, sizeof(token));
    T_EQ_INT(mts_postgres_open(&st, db, "v", NULL), 0);
    mts_session_set_update_state(s, &us);
    T_EQ_INT(mts_session_set_future_auth_token(s, token, sizeof(token)), 0);
    p.id = INT64_MAX;
    p.access_hash = INT64_MIN;
    p.username = longname;
    T_EQ_INT(mts_session_put_peer(s, &p, NULL), 0);
    T_EQ_INT(mts_session_set_channel_pts(s, INT64_MAX, INT32_MIN), 0);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    got = load(st);
    T_CHECK(got && mts_session_equal(got, s));
    mts_session_free(got);
    /* the same snapshot again writes nothing new and still loads equal */
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    c.kind = MTS_UPDATE_PRIMARY;
    c.state.pts = -100; /* backwards: stored as given */
    c.state.date = 1;
    c.state.seq = 2;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, NULL), 0);
    got = load(st);
    if (got != NULL) {
        mts_update_state g;
        mts_session_update_state(got, &g);
        T_EQ_INT(g.pts, -100);
        T_EQ_INT(g.qts, INT32_MIN);
        mts_session_free(got);
    }
    mts_storage_free(st);
    mts_session_free(s);
}

/*
 * Large saves stay linear whatever the statistics say. The database first
 * holds 500 small accounts and is analysed, as a fleet's would be: the
 * planner then expects about one row per account. A 50,000-peer account
 * is saved over itself, then with half its peers removed. A plan that
 * compares every stored row with every new one (a nested-loop anti-join,
 * which a first version got here) needs minutes; the bound is far above a
 * linear save on a loaded machine.
 */
static void
test_large_saves_linear(void)
{
    enum { N = 50000, BOUND_MS = 20000 };
    const char *db = pgt_new_db("mts_large");
    mts_storage *st = NULL;
    mts_session *a = fx_big(N), *half = NULL, *got;
    mts_error err = MTS_ERROR_INIT;
    int64_t t;
    PGconn *c;
    T_EQ_INT(mts_postgres_open(&st, db, "large", &err), 0);
    c = pgt_connect(db);
    pgt_exec(c, "INSERT INTO mtsession.sessions (account) SELECT 'small-' "
                "|| i FROM generate_series(1, 500) i");
    pgt_exec(c, "INSERT INTO mtsession.peers (account, kind, id) SELECT "
                "'small-' || i, 0, i FROM generate_series(1, 500) i");
    pgt_exec(c, "ANALYZE");
    PQfinish(c);
    T_EQ_INT(mts_session_new(&half, MTS_NEW_DEFAULT), 0);
    for (size_t i = 0, n = mts_session_peer_count(a); i < n; i += 2) {
        mts_peer p;
        T_EQ_INT(mts_session_peer_at(&p, a, i), 0);
        T_EQ_INT(mts_session_put_peer(half, &p, NULL), 0);
    }
    T_EQ_INT(mts_storage_save(st, a, &err), 0);
    t = pgt_now_ms();
    T_EQ_INT(mts_storage_save(st, a, &err), 0); /* all rows compared */
    T_CHECK(pgt_now_ms() - t < BOUND_MS);
    t = pgt_now_ms();
    T_EQ_INT(mts_storage_save(st, half, &err), 0); /* half deleted */
    T_CHECK(pgt_now_ms() - t < BOUND_MS);
    fprintf(stderr, "  50,000-peer save, then half removed: %lld ms\n",
            (long long)(pgt_now_ms() - t));
    got = load(st);
    T_CHECK(got && mts_session_equal(got, half));
    mts_session_free(got);
    mts_storage_free(st);
    mts_session_free(a);
    mts_session_free(half);
}

/* ---- allocation failures ------------------------------------------------ */

static long calls, fail_at, live;
static int injected;

static void *
f_malloc(size_t n, void *p)
{
    void *r;
    (void)p;
    if (calls++ == fail_at) {
        injected = 1;
        return NULL;
    }
    r = malloc(n);
    if (r)
        live++;
    return r;
}

static void *
f_realloc(void *ptr, size_t n, void *p)
{
    void *r;
    (void)p;
    if (calls++ == fail_at) {
        injected = 1;
        return NULL;
    }
    r = realloc(ptr, n);
    if (r && ptr == NULL)
        live++;
    return r;
}

static void
f_free(void *ptr, void *p)
{
    (void)p;
    if (ptr) {
        live--;
        free(ptr);
    }
}

static const mts_allocator failing = { f_malloc, f_realloc, f_free, NULL };

static int
alloc_scenario(const char *db, const mts_session *full)
{
    mts_storage *st = NULL;
    mts_session *got = NULL;
    mts_lease l = MTS_LEASE_INIT;
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    mts_channel_pts ch[3] = { { 1, 1 }, { 2, 2 }, { 3, 3 } };
    int rc = mts_postgres_open(&st, db, "alloc", NULL), leased = 0;
    if (rc != 0)
        return rc;
    rc = mts_lease_acquire(&l, st, "alloc-test", 60000, NULL);
    leased = rc == 0;
    if (rc == 0)
        rc = mts_storage_save(st, full, NULL);
    if (rc == 0)
        rc = mts_storage_load(&got, st, NULL);
    if (rc == 0 && !mts_session_equal(got, full))
        rc = MTS_ECORRUPT;
    c.channels = ch;
    c.channel_count = 3;
    if (rc == 0)
        rc = mts_storage_apply_update_state(st, &c, NULL);
    if (leased && mts_lease_release(st, NULL) != 0 && rc == 0)
        rc = MTS_EBACKEND;
    mts_session_free(got);
    mts_storage_free(st);
    return rc;
}

/* Fail each allocation in turn: MTS_ENOMEM every time, nothing leaked. */
static void
test_alloc_failures(void)
{
    const char *db = pgt_new_db("mts_alloc");
    mts_session *full = fx_big(20);
    long n;
    for (n = 0; n < 100000; n++) {
        int rc;
        calls = live = 0;
        injected = 0;
        fail_at = n;
        T_EQ_INT(mts_set_allocator(&failing), 0);
        rc = alloc_scenario(db, full);
        mts_set_allocator(NULL);
        if (live != 0) {
            t_fail(__FILE__, __LINE__, "%ld allocations leaked when "
                   "allocation %ld failed", live, n);
            break;
        }
        if (!injected) {
            T_EQ_INT(rc, 0);
            fprintf(stderr, "  %ld failure points, all MTS_ENOMEM\n", n);
            break;
        }
        if (rc != MTS_ENOMEM) {
            t_fail(__FILE__, __LINE__, "allocation %ld failed but rc = %s",
                   n, mts_errname(rc));
            break;
        }
    }
    mts_session_free(full);
}

T_MAIN(T_CASE(test_conformance), T_CASE(test_accounts_isolated),
       T_CASE(test_name), T_CASE(test_schema_version),
       T_CASE(test_auth_key_checks), T_CASE(test_server_error),
       T_CASE(test_exact_values), T_CASE(test_large_saves_linear),
       T_CASE(test_alloc_failures))
