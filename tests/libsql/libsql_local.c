/*
 * libsql_local.c - the libSQL backend without a server: the conformance
 * suite on the local-file and in-memory modes (also with a secret), file
 * interchange with the SQLite backend and plain sqlite3 (sealed files
 * too), names (messages from the engine name the libsql store), argument
 * checks, rekey, an unreachable server, and the Hrana client's value
 * codecs.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"
#include "fixtures.h"
#include "hrana.h"
#include "t.h"

static char local_path[4096];
static int local_counter;

static int
open_local(mts_storage **out, void *ctx)
{
    mts_error err = MTS_ERROR_INIT;
    int rc;
    (void)ctx;
    snprintf(local_path, sizeof(local_path), "%s/local-%d.db", t_tmpdir(),
             ++local_counter);
    rc = mts_libsql_open_local(out, local_path, NULL, &err);
    if (rc != 0)
        fprintf(stderr, "  libsql local open: %s\n", err.message);
    return rc;
}

static int
reopen_local(mts_storage **out, void *ctx)
{
    (void)ctx;
    return mts_libsql_open_local(out, local_path, NULL, NULL);
}

static int
open_memory(mts_storage **out, void *ctx)
{
    (void)ctx;
    return mts_libsql_open_memory(out, "conf", NULL);
}

static void
test_conformance_local(void)
{
    conf_backend b = { "libsql-local", open_local, reopen_local, NULL, 0 };
    conf_run(&b);
}

static void
test_conformance_memory(void)
{
    conf_backend b = { "libsql-memory", open_memory, NULL, NULL, 0 };
    conf_run(&b);
}

static mts_secret *secret;

static mts_secret *
the_secret(void)
{
    uint8_t k[MTS_SEAL_KEY_SIZE];
    memset(k, 0x5c, sizeof(k));
    if (secret == NULL)
        T_EQ_INT(mts_secret_from_key(&secret, k, NULL), 0);
    return secret;
}

static int
open_local_sealed(mts_storage **out, void *ctx)
{
    mts_libsql_options o = MTS_LIBSQL_OPTIONS_INIT;
    (void)ctx;
    o.secret = the_secret();
    snprintf(local_path, sizeof(local_path), "%s/sealed-%d.db", t_tmpdir(),
             ++local_counter);
    return mts_libsql_open_local_ex(out, local_path, NULL, &o, NULL);
}

static int
reopen_local_sealed(mts_storage **out, void *ctx)
{
    mts_libsql_options o = MTS_LIBSQL_OPTIONS_INIT;
    (void)ctx;
    o.secret = the_secret();
    return mts_libsql_open_local_ex(out, local_path, NULL, &o, NULL);
}

static int
open_memory_sealed(mts_storage **out, void *ctx)
{
    mts_libsql_options o = MTS_LIBSQL_OPTIONS_INIT;
    (void)ctx;
    o.secret = the_secret();
    return mts_libsql_open_local_ex(out, ":memory:", "conf", &o, NULL);
}

static void
test_conformance_sealed(void)
{
    conf_backend a = { "libsql-local-sealed", open_local_sealed,
                       reopen_local_sealed, NULL, 2000 };
    conf_backend b = { "libsql-memory-sealed", open_memory_sealed, NULL, NULL,
                       2000 };
    conf_run(&a);
    conf_run(&b);
}

static long long
raw_int(const char *path, const char *sql, const char *arg)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -999;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        (arg == NULL ||
         sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC) == SQLITE_OK) &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        fprintf(stderr, "  raw query failed: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* A file written in local mode is an mtsession SQLite database: the SQLite
 * backend and plain sqlite3 read it, and local mode reads theirs. */
static void
test_interchange_with_sqlite(void)
{
    char path[4096];
    mts_storage *ls = NULL, *sq = NULL;
    mts_session *full = fx_session("full"), *small = fx_session("small"), *got;
    snprintf(path, sizeof(path), "%s/interchange.db", t_tmpdir());

    T_EQ_INT(mts_libsql_open_local(&ls, path, "alice", NULL), 0);
    T_EQ_INT(mts_storage_save(ls, full, NULL), 0);
    mts_storage_free(ls);

    T_EQ_INT(mts_sqlite_open(&sq, path, "alice", NULL), 0);
    got = fx_load(sq);
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);
    mts_storage_free(sq);

    T_EQ_INT(raw_int(path, "PRAGMA application_id", NULL), 1297371987);
    T_EQ_INT(
        raw_int(path, "SELECT count(*) FROM peers WHERE session = ?", "alice"),
        (long long)mts_session_peer_count(full));

    /* the other way: the SQLite backend writes, local mode reads */
    T_EQ_INT(mts_sqlite_open(&sq, path, "bob", NULL), 0);
    T_EQ_INT(mts_storage_save(sq, small, NULL), 0);
    mts_storage_free(sq);
    T_EQ_INT(mts_libsql_open_local(&ls, path, "bob", NULL), 0);
    got = fx_load(ls);
    T_CHECK(got != NULL && mts_session_equal(got, small));
    mts_session_free(got);
    mts_storage_free(ls);

    mts_session_free(full);
    mts_session_free(small);
}

/* A sealed local file: the SQLite backend reads it with the same secret
 * only; libsql rekey works locally. */
static void
test_sealed_local(void)
{
    char path[4096];
    mts_libsql_options lo = MTS_LIBSQL_OPTIONS_INIT;
    mts_sqlite_options so = MTS_SQLITE_OPTIONS_INIT;
    mts_storage *ls = NULL, *sq = NULL;
    mts_session *full = fx_session("full"), *got = NULL;
    mts_secret *other = NULL;
    mts_error err = MTS_ERROR_INIT;
    uint8_t k[MTS_SEAL_KEY_SIZE];
    memset(k, 0x77, sizeof(k));
    T_EQ_INT(mts_secret_from_key(&other, k, NULL), 0);
    snprintf(path, sizeof(path), "%s/sealed-local.db", t_tmpdir());
    lo.secret = the_secret();
    T_EQ_INT(mts_libsql_open_local_ex(&ls, path, "x", &lo, &err), 0);
    T_EQ_INT(mts_storage_save(ls, full, NULL), 0);
    T_EQ_INT(raw_int(path,
                     "SELECT typeof(server_salt) = 'blob' FROM dcs "
                     "WHERE dc_id = 2",
                     NULL),
             1);
    T_EQ_INT(mts_sqlite_open(&sq, path, "x", NULL), 0);
    T_EQ_INT(mts_storage_load(&got, sq, &err), MTS_EENCRYPTED);
    mts_storage_free(sq);
    so.secret = the_secret();
    T_EQ_INT(mts_sqlite_open_ex(&sq, path, "x", &so, NULL), 0);
    got = fx_load(sq);
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);
    /* rekey through libsql: the old key no longer opens it */
    T_EQ_INT(mts_libsql_rekey(ls, other, &err), 0);
    T_EQ_INT(mts_storage_load(&got, sq, &err), MTS_EBADKEY);
    T_CONTAINS(err.message, "wrong key");
    got = fx_load(ls);
    T_CHECK(got != NULL && mts_session_equal(got, full));
    mts_session_free(got);
    T_EQ_INT(mts_libsql_rekey(sq, other, &err), MTS_EINVAL);
    mts_storage_free(sq);
    mts_storage_free(ls);
    mts_secret_free(other);
    mts_session_free(full);
}

/* Messages from the SQLite engine under local mode name the libsql
 * store, not an SQLite one. */
static void
test_local_messages_say_libsql(void)
{
    char path[4096], want[4200];
    mts_storage *ls = NULL;
    mts_session *full = fx_session("full"), *got = NULL;
    mts_error err = MTS_ERROR_INIT;
    sqlite3 *db = NULL;
    snprintf(path, sizeof(path), "%s/messages.db", t_tmpdir());
    snprintf(want, sizeof(want), "libsql:%s#default:", path);
    T_EQ_INT(mts_libsql_open_local(&ls, path, NULL, NULL), 0);
    T_EQ_INT(mts_storage_save(ls, full, NULL), 0);
    T_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    T_EQ_INT(sqlite3_exec(db, "UPDATE dcs SET port = 0", NULL, NULL, NULL),
             SQLITE_OK);
    sqlite3_close(db);
    T_EQ_INT(mts_storage_load(&got, ls, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, want);
    T_CHECK(strstr(err.message, "sqlite:") == NULL);
    mts_storage_free(ls);
    mts_session_free(full);
}

static void
test_names(void)
{
    mts_storage *st = NULL;
    char path[4096], want[4200];
    snprintf(path, sizeof(path), "%s/names.db", t_tmpdir());
    T_EQ_INT(mts_libsql_open_local(&st, path, "acc", NULL), 0);
    snprintf(want, sizeof(want), "libsql:%s#acc", path);
    T_EQ_STR(mts_storage_name(st), want);
    mts_storage_free(st);
    T_EQ_INT(mts_libsql_open_memory(&st, NULL, NULL), 0);
    T_EQ_STR(mts_storage_name(st), "libsql::memory:#default");
    mts_storage_free(st);

    /* user info and query never reach the name (they may hold secrets) */
    T_EQ_INT(mts_libsql_open_remote(&st,
                                    "libsql://user:pw-secret@db.example.org/"
                                    "x/?authToken=tok-secret",
                                    "tok-secret-2", "acc", NULL),
             0);
    T_EQ_STR(mts_storage_name(st), "libsql:https://db.example.org/x#acc");
    mts_storage_free(st);
    T_EQ_INT(mts_libsql_open_remote(&st, "libsql://127.0.0.1:8080?tls=0", NULL,
                                    NULL, NULL),
             0);
    T_EQ_STR(mts_storage_name(st), "libsql:http://127.0.0.1:8080#default");
    mts_storage_free(st);
    T_EQ_INT(
        mts_libsql_open_replica(&st, path, "HTTPS://h:9/", "t", "acc", NULL),
        0);
    snprintf(want, sizeof(want), "libsql:%s (replica of https://h:9)#acc",
             path);
    T_EQ_STR(mts_storage_name(st), want);
    mts_storage_free(st);
}

static void
test_bad_arguments(void)
{
    mts_storage *st = NULL;
    mts_error err = MTS_ERROR_INIT;
    T_EQ_INT(mts_libsql_open_remote(&st, "wss://h", NULL, NULL, &err),
             MTS_EINVAL);
    T_CONTAINS(err.message, "unsupported URL scheme 'wss'");
    T_EQ_INT(mts_libsql_open_remote(&st, "file:/tmp/x", NULL, NULL, &err),
             MTS_EINVAL);
    T_EQ_INT(mts_libsql_open_remote(&st, "libsql://h?tls=0", NULL, NULL, &err),
             MTS_EINVAL);
    T_CONTAINS(err.message, "explicit port");
    T_EQ_INT(mts_libsql_open_remote(&st, "https://", NULL, NULL, &err),
             MTS_EINVAL);
    T_EQ_INT(mts_libsql_open_remote(&st, "https://h", "a\nb", NULL, &err),
             MTS_EINVAL);
    T_CHECK(strstr(err.message, "a\nb") == NULL);
    T_EQ_INT(mts_libsql_open_remote(&st, "https://h", NULL, "", &err),
             MTS_EINVAL);
    T_EQ_INT(
        mts_libsql_open_replica(&st, ":memory:", "https://h", NULL, NULL, &err),
        MTS_EINVAL);
    T_EQ_INT(mts_libsql_open_local(&st, "", NULL, &err), MTS_EINVAL);
    T_CHECK(st == NULL);

    /* sync is for replicas only */
    T_EQ_INT(mts_libsql_open_memory(&st, NULL, NULL), 0);
    T_EQ_INT(mts_libsql_sync(st, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "not a replica");
    mts_storage_free(st);
    T_EQ_INT(mts_memory_open(&st, NULL), 0);
    T_EQ_INT(mts_libsql_sync(st, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "not a libsql handle");
    mts_storage_free(st);
    T_EQ_INT(mts_backend_available("libsql"), 1);
}

/* Nothing listens on port 1: a transport error, fast, naming the server. */
static void
test_unreachable(void)
{
    mts_storage *st = NULL;
    mts_session *s = NULL, *full = fx_session("full");
    mts_error err = MTS_ERROR_INIT;
    char path[4096];
    T_EQ_INT(mts_libsql_open_remote(&st, "http://127.0.0.1:1", "secret-tok",
                                    NULL, NULL),
             0);
    T_EQ_INT(mts_storage_load(&s, st, &err), MTS_EIO);
    T_CHECK(err.native != 0);
    T_CONTAINS(err.message, "http://127.0.0.1:1");
    T_CHECK(strstr(err.message, "secret-tok") == NULL);
    T_EQ_INT(mts_storage_save(st, full, &err), MTS_EIO);
    mts_storage_free(st);

    /* a replica that never synced cannot serve a load, and a write the
     * server never saw does not reach the file */
    snprintf(path, sizeof(path), "%s/unreachable-replica.db", t_tmpdir());
    T_EQ_INT(mts_libsql_open_replica(&st, path, "http://127.0.0.1:1", NULL,
                                     NULL, NULL),
             0);
    T_EQ_INT(mts_storage_save(st, full, &err), MTS_EIO);
    T_EQ_INT(mts_storage_load(&s, st, &err), MTS_EIO);
    T_EQ_INT(mts_libsql_sync(st, &err), MTS_EIO);
    mts_storage_free(st);
    T_EQ_INT(mts_sqlite_open(&st, path, NULL, NULL), 0);
    T_EQ_INT(mts_storage_load(&s, st, NULL), MTS_ENOTFOUND);
    mts_storage_free(st);
    mts_session_free(full);
}

static void
test_base64(void)
{
    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } v[] = {
        { "", 0, "" },        { "f", 1, "Zg==" },        { "fo", 2, "Zm8=" },
        { "foo", 3, "Zm9v" }, { "\xff\xfe", 2, "//4=" },
    };
    uint8_t buf[16];
    size_t n;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char *enc = NULL;
        T_EQ_INT(mts__hrana_b64_encode(&enc, (const uint8_t *)v[i].in, v[i].n),
                 0);
        T_EQ_STR(enc, v[i].out);
        mts_free(enc);
        T_EQ_INT(mts__hrana_b64_decode(buf, &n, v[i].out, strlen(v[i].out)), 0);
        T_EQ_U64(n, v[i].n);
        T_EQ_MEM(buf, v[i].in, v[i].n);
    }
    /* unpadded input, as sqld writes it */
    T_EQ_INT(mts__hrana_b64_decode(buf, &n, "Zm8", 3), 0);
    T_EQ_U64(n, 2);
    T_EQ_INT(mts__hrana_b64_decode(buf, &n, "Zg", 2), 0);
    T_EQ_U64(n, 1);
    /* refused: bad characters, bad length, padding in the middle */
    T_EQ_INT(mts__hrana_b64_decode(buf, &n, "Zm9", 2), 0);
    T_EQ_INT(mts__hrana_b64_decode(buf, &n, "Z", 1), -1);
    T_EQ_INT(mts__hrana_b64_decode(buf, &n, "Zm-v", 4), -1);
    T_EQ_INT(mts__hrana_b64_decode(buf, &n, "Zg=", 3), -1);
    T_EQ_INT(mts__hrana_b64_decode(buf, &n, "Zg==Zg==", 8), -1);
    T_EQ_INT(mts__hrana_b64_decode(buf, &n, "Zm9v\n", 5), -1);
}

static void
test_parse_i64(void)
{
    int64_t v = 0;
#define OK(s, want)                                                            \
    do {                                                                       \
        T_EQ_INT(mts__hrana_parse_i64(&v, s, strlen(s)), 0);                   \
        T_CHECK(v == (want));                                                  \
    } while (0)
#define BAD(s) T_EQ_INT(mts__hrana_parse_i64(&v, s, strlen(s)), -1)
    OK("0", 0);
    OK("-0", 0);
    OK("42", 42);
    OK("9223372036854775807", INT64_MAX);
    OK("-9223372036854775808", INT64_MIN);
    OK("-9223372036854775807", -INT64_MAX);
    OK("0009", 9);
    BAD("9223372036854775808");
    BAD("-9223372036854775809");
    BAD("18446744073709551616");
    BAD("");
    BAD("-");
    BAD("+1");
    BAD(" 1");
    BAD("1 ");
    BAD("1.0");
    BAD("1e3");
    BAD("12345678901234567890123");
#undef OK
#undef BAD
}

static void
test_cleanup(void)
{
    mts_secret_free(secret);
    secret = NULL;
}

T_MAIN(T_CASE(test_conformance_local),
       T_CASE(test_conformance_memory),
       T_CASE(test_conformance_sealed),
       T_CASE(test_interchange_with_sqlite),
       T_CASE(test_sealed_local),
       T_CASE(test_local_messages_say_libsql),
       T_CASE(test_names),
       T_CASE(test_bad_arguments),
       T_CASE(test_unreachable),
       T_CASE(test_base64),
       T_CASE(test_parse_i64),
       T_CASE(test_cleanup))
