/*
 * test_sqlite_formats.c - Telethon's and Pyrogram's SQLite `.session`
 * files: golden files (Telethon's made by Telethon itself, Pyrogram's
 * built from its public schema), exact schema of what we write, round
 * trips, strictness on damaged files, detection.
 */
#include <sqlite3.h>

#include "failalloc.h"
#include "fixtures.h"
#include "internal.h"
#include "t.h"

#define TL "data/formats/telethon-sqlite/"
#define PG "data/formats/pyrogram-sqlite/"

static uint8_t key1[256], key2[256];

static void
init_keys(void)
{
    for (int i = 0; i < 256; i++)
        key1[i] = (uint8_t)i;
    memset(key2, 0xab, sizeof(key2));
}

typedef struct warns {
    char text[2048];
    int n;
} warns;

static void
on_warn(const char *what, void *payload)
{
    warns *w = payload;
    size_t used = strlen(w->text);
    snprintf(w->text + used, sizeof(w->text) - used, "%s;", what);
    w->n++;
}

static mts_session *
must_decode(mts_format fmt, const char *rel)
{
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = NULL;
    size_t n;
    unsigned char *d = fx_read(rel, &n);
    int rc = mts_format_decode(&s, fmt, d, n, &err);
    if (rc != 0)
        t_fail(__FILE__, __LINE__, "decode %s: %s: %s", rel, mts_errname(rc),
               err.message);
    free(d);
    return s;
}

static void
check_dc(const mts_session *s, size_t i, int32_t id, const char *ip,
         uint16_t port, unsigned flags, const uint8_t *key)
{
    mts_dc dc;
    mts_ip want;
    T_EQ_INT(mts_session_dc_at(&dc, s, i), 0);
    T_EQ_INT(mts_ip_parse(&want, ip), 0);
    T_EQ_INT(dc.dc_id, id);
    T_EQ_INT(dc.ip.family, want.family);
    T_EQ_MEM(dc.ip.bytes, want.bytes, 16);
    T_EQ_INT(dc.port, port);
    T_EQ_INT(dc.flags, flags);
    T_EQ_INT(dc.server_salt, 0);
    T_EQ_INT(dc.time_offset, 0);
    if (key == NULL) {
        T_CHECK(dc.auth_key == NULL);
    } else {
        T_CHECK(dc.auth_key != NULL);
        if (dc.auth_key != NULL)
            T_EQ_MEM(dc.auth_key, key, 256);
    }
}

static void
check_peer(const mts_session *s, mts_peer_kind kind, int64_t id,
           int64_t hash, mts_channel_kind ck, int bot, const char *user,
           const char *phone)
{
    mts_peer p;
    int rc = mts_session_get_peer(&p, s, kind, id);
    T_EQ_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "  peer %d/%lld missing\n", (int)kind, (long long)id);
        return;
    }
    T_EQ_INT(p.access_hash, hash);
    T_EQ_INT(p.channel_kind, ck);
    T_EQ_INT(p.bot, bot);
    T_EQ_INT(p.community, 0);
    if (user == NULL)
        T_CHECK(p.username == NULL);
    else
        T_EQ_STR(p.username, user);
    if (phone == NULL)
        T_CHECK(p.phone == NULL);
    else
        T_EQ_STR(p.phone, phone);
}

/* ---- SQL helpers for building damaged copies -------------------------- */

/* Apply `sql` to a writable in-memory copy of the file; return its bytes
 * (free with sqlite3_free). */
static unsigned char *
mutated(const char *rel, const char *sql, size_t *out_len)
{
    size_t n;
    unsigned char *d = fx_read(rel, &n);
    unsigned char *copy = sqlite3_malloc64(n), *res;
    sqlite3 *db;
    sqlite3_int64 sz = 0;
    char *msg = NULL;
    memcpy(copy, d, n);
    free(d);
    T_EQ_INT(sqlite3_open(":memory:", &db), SQLITE_OK);
    T_EQ_INT(sqlite3_deserialize(db, "main", copy, (sqlite3_int64)n,
                                 (sqlite3_int64)n,
                                 SQLITE_DESERIALIZE_FREEONCLOSE |
                                     SQLITE_DESERIALIZE_RESIZEABLE),
             SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        t_fail(__FILE__, __LINE__, "%s: %s", sql, msg ? msg : "?");
        sqlite3_free(msg);
    }
    res = sqlite3_serialize(db, "main", &sz, 0);
    sqlite3_close(db);
    *out_len = (size_t)sz;
    return res;
}

static void
expect_refused(mts_format fmt, const char *rel, const char *sql, int code,
               const char *msg)
{
    size_t n;
    unsigned char *d = mutated(rel, sql, &n);
    mts_session *s = NULL;
    mts_error err = MTS_ERROR_INIT;
    int rc = mts_format_decode(&s, fmt, d, n, &err);
    if (rc != code)
        t_fail(__FILE__, __LINE__, "after \"%s\": %s, want %s (%s)", sql,
               mts_errname(rc), mts_errname(code), err.message);
    T_CHECK(s == NULL);
    mts_session_free(s);
    if (strstr(err.message, msg) == NULL)
        t_fail(__FILE__, __LINE__, "after \"%s\": \"%s\" lacks \"%s\"", sql,
               err.message, msg);
    sqlite3_free(d);
}

/* Every table, index and trigger of a database, with every column of every
 * table, as one string: what "the same schema" means here. */
static char *
schema_of(const unsigned char *data, size_t n)
{
    static char buf[8192];
    unsigned char *copy = sqlite3_malloc64(n);
    sqlite3 *db;
    sqlite3_stmt *st, *cols;
    size_t used = 0;
    memcpy(copy, data, n);
    sqlite3_open(":memory:", &db);
    sqlite3_deserialize(db, "main", copy, (sqlite3_int64)n, (sqlite3_int64)n,
                        SQLITE_DESERIALIZE_FREEONCLOSE);
    buf[0] = '\0';
    sqlite3_prepare_v2(db,
                       "SELECT type, name, tbl_name FROM sqlite_master "
                       "ORDER BY type, name",
                       -1, &st, NULL);
    while (sqlite3_step(st) == SQLITE_ROW) {
        used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s %s on %s\n",
                                 sqlite3_column_text(st, 0),
                                 sqlite3_column_text(st, 1),
                                 sqlite3_column_text(st, 2));
        if (strcmp((const char *)sqlite3_column_text(st, 0), "table") != 0)
            continue;
        sqlite3_prepare_v2(db,
                           "SELECT cid, name, type, \"notnull\", dflt_value, "
                           "pk FROM pragma_table_info(?1)",
                           -1, &cols, NULL);
        sqlite3_bind_text(cols, 1, (const char *)sqlite3_column_text(st, 1),
                          -1, SQLITE_TRANSIENT);
        while (sqlite3_step(cols) == SQLITE_ROW)
            used += (size_t)snprintf(
                buf + used, sizeof(buf) - used, "  %d %s %s %d %s %d\n",
                sqlite3_column_int(cols, 0), sqlite3_column_text(cols, 1),
                sqlite3_column_text(cols, 2), sqlite3_column_int(cols, 3),
                sqlite3_column_text(cols, 4)
                    ? (const char *)sqlite3_column_text(cols, 4)
                    : "NULL",
                sqlite3_column_int(cols, 5));
        sqlite3_finalize(cols);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return buf;
}

/* ---- Telethon ---------------------------------------------------------- */

static void
test_telethon_golden(void)
{
    mts_session *s = must_decode(MTS_FORMAT_TELETHON_SQLITE, TL "golden.session");
    mts_update_state u;
    int32_t pts;
    int64_t uid;
    int bot;
    init_keys();
    if (s == NULL)
        return;
    T_EQ_INT(mts_session_home_dc(s), 2);
    T_EQ_INT(mts_session_test_mode(s), 0);
    T_EQ_INT(mts_session_user(s, &uid, &bot), MTS_ENOTFOUND);
    T_EQ_U64(mts_session_dc_count(s), 1);
    check_dc(s, 0, 2, "149.154.167.51", 443, 0, key1);
    T_EQ_U64(mts_session_peer_count(s), 6);
    check_peer(s, MTS_PEER_USER, 777000, -5612345678901234567LL,
               MTS_CHANNEL_UNKNOWN, 0, "telegram", "42777");
    check_peer(s, MTS_PEER_USER, 5000801609LL, 123456789, MTS_CHANNEL_UNKNOWN,
               0, NULL, "15551234567");
    check_peer(s, MTS_PEER_USER, 42, -1, MTS_CHANNEL_UNKNOWN, 0, "some_bot",
               NULL);
    check_peer(s, MTS_PEER_CHAT, 100, 0, MTS_CHANNEL_UNKNOWN, 0, NULL, NULL);
    check_peer(s, MTS_PEER_CHANNEL, 1234567890, 987654321,
               MTS_CHANNEL_UNKNOWN, 0, "news_channel", NULL);
    check_peer(s, MTS_PEER_CHANNEL, 1500000000, -77, MTS_CHANNEL_UNKNOWN, 0,
               NULL, NULL);
    mts_session_update_state(s, &u);
    T_EQ_INT(u.pts, 100);
    T_EQ_INT(u.qts, 5);
    T_EQ_INT(u.date, 1700000000);
    T_EQ_INT(u.seq, 7);
    T_EQ_U64(mts_session_channel_count(s), 2);
    T_EQ_INT(mts_session_channel_pts(s, 1234567890, &pts), 0);
    T_EQ_INT(pts, 17);
    T_EQ_INT(mts_session_channel_pts(s, 1500000000, &pts), 0);
    T_EQ_INT(pts, 2147483647);
    T_EQ_U64(mts_session_min_peer_count(s), 0);
    mts_session_free(s);
}

static void
test_telethon_fresh_and_ipv6(void)
{
    mts_session *s = must_decode(MTS_FORMAT_TELETHON_SQLITE, TL "fresh.session");
    init_keys();
    if (s != NULL) {
        T_EQ_INT(mts_session_home_dc(s), 0);
        T_EQ_U64(mts_session_dc_count(s), 0);
        T_EQ_U64(mts_session_peer_count(s), 0);
        mts_session_free(s);
    }
    s = must_decode(MTS_FORMAT_TELETHON_SQLITE, TL "ipv6.session");
    if (s != NULL) {
        T_EQ_INT(mts_session_home_dc(s), 4);
        T_EQ_U64(mts_session_dc_count(s), 1);
        check_dc(s, 0, 4, "2001:67c:4e8:f004::a", 443, MTS_DC_IPV6, key2);
        mts_session_free(s);
    }
}

static void
test_telethon_schema_exact(void)
{
    size_t n, gn;
    unsigned char *golden = fx_read(TL "golden.session", &gn);
    mts_session *s = fx_session("full");
    uint8_t *out;
    char want[8192];
    T_EQ_INT(mts_format_encode(&out, &n, MTS_FORMAT_TELETHON_SQLITE, s, NULL,
                               NULL, NULL),
             0);
    snprintf(want, sizeof(want), "%s", schema_of(golden, gn));
    T_EQ_STR(schema_of(out, n), want);
    T_CONTAINS(want, "table entities on entities\n  0 id INTEGER 0 NULL 1\n"
                     "  1 hash INTEGER 1 NULL 0\n");
    T_CONTAINS(want, "index sqlite_autoindex_sent_files_1 on sent_files");
    mts_free(out);
    free(golden);
    mts_session_free(s);
}

static void
test_telethon_roundtrip(void)
{
    mts_session *s = fx_session("full"), *d = NULL;
    warns w = { "", 0 };
    uint8_t *out;
    size_t n;
    mts_update_state u;
    int32_t pts;
    mts_error err = MTS_ERROR_INIT;
    init_keys();
    memset(key2, 0xab, sizeof(key2));
    T_EQ_INT(mts_format_encode(&out, &n, MTS_FORMAT_TELETHON_SQLITE, s,
                               on_warn, &w, &err),
             0);
    T_EQ_STR(w.text, "DC entries other than the home DC's (2);server salt;"
                     "time offset;DC entry flags;test mode flag;api_id;"
                     "account user id and bot flag;min peers (2);"
                     "future auth token;bot flags of peers (1);"
                     "community flags (1);channel kinds (2);");
    T_EQ_INT(mts_format_decode(&d, MTS_FORMAT_TELETHON_SQLITE, out, n, &err),
             0);
    mts_free(out);
    if (d == NULL) {
        mts_session_free(s);
        return;
    }
    T_EQ_INT(mts_session_home_dc(d), 2);
    T_EQ_U64(mts_session_dc_count(d), 1);
    check_dc(d, 0, 2, "2001:67c:4e8:f002::a", 443, MTS_DC_IPV6, key2);
    mts_session_update_state(d, &u);
    T_EQ_INT(u.pts, 2147483647);
    T_EQ_INT(u.qts, -1);
    T_EQ_INT(u.date, 1);
    T_EQ_INT(u.seq, 0);
    T_EQ_INT(mts_session_channel_pts(d, 9007199254740993LL, &pts), 0);
    T_EQ_INT(pts, 2147483647);
    T_EQ_INT(mts_session_channel_pts(d, 5, &pts), 0);
    T_EQ_INT(pts, 1);
    T_EQ_U64(mts_session_peer_count(d), 4);
    check_peer(d, MTS_PEER_CHANNEL, 100, INT64_MAX, MTS_CHANNEL_UNKNOWN, 0,
               "chan", NULL);
    /* Lowercased username kept; phone without its '+'; bot flag lost. */
    check_peer(d, MTS_PEER_USER, 42, INT64_MIN, MTS_CHANNEL_UNKNOWN, 0,
               "bot_\xc3\xbc", "15551234567");
    check_peer(d, MTS_PEER_CHAT, 100, 0, MTS_CHANNEL_UNKNOWN, 0, NULL, NULL);
    check_peer(d, MTS_PEER_CHANNEL, 7, 1, MTS_CHANNEL_UNKNOWN, 0, NULL, NULL);
    mts_session_free(d);
    mts_session_free(s);
}

static void
test_telethon_lossless_subset(void)
{
    /* What Telethon can hold comes back equal. */
    mts_session *s, *d = NULL;
    mts_update_state u = { 5, 6, 7, 8 };
    mts_dc dc = MTS_DC_INIT;
    mts_peer p = MTS_PEER_INIT;
    uint8_t *out;
    size_t n;
    warns w = { "", 0 };
    init_keys();
    T_EQ_INT(mts_session_new(&s, MTS_NEW_EMPTY), 0);
    T_EQ_INT(mts_session_set_home_dc(s, 5), 0);
    dc.dc_id = 5;
    mts_ip_parse(&dc.ip, "91.108.56.130");
    dc.port = 443;
    dc.auth_key = key1;
    T_EQ_INT(mts_session_put_dc(s, &dc), 0);
    mts_session_set_update_state(s, &u);
    T_EQ_INT(mts_session_set_channel_pts(s, 1, -1), 0);
    p.id = 1;
    p.access_hash = 2;
    p.username = "someone";
    p.phone = "380501234567";
    T_EQ_INT(mts_session_put_peer(s, &p, NULL), 0);
    p.kind = MTS_PEER_CHANNEL;
    p.id = 1000000000000LL;
    p.phone = NULL;
    T_EQ_INT(mts_session_put_peer(s, &p, NULL), 0);
    p.kind = MTS_PEER_CHAT;
    p.id = 1000000000000LL; /* the largest chat id a marked id can hold */
    p.access_hash = 0;
    p.username = NULL;
    T_EQ_INT(mts_session_put_peer(s, &p, NULL), 0);
    T_EQ_INT(mts_format_encode(&out, &n, MTS_FORMAT_TELETHON_SQLITE, s,
                               on_warn, &w, NULL),
             0);
    T_EQ_INT(w.n, 0);
    T_EQ_INT(mts_format_decode(&d, MTS_FORMAT_TELETHON_SQLITE, out, n, NULL),
             0);
    T_CHECK(d != NULL && mts_session_equal(s, d));
    mts_free(out);
    mts_session_free(d);
    /* A chat id one above cannot be marked. */
    p.id = 1000000000001LL;
    T_EQ_INT(mts_session_put_peer(s, &p, NULL), 0);
    T_EQ_INT(mts_format_encode(&out, &n, MTS_FORMAT_TELETHON_SQLITE, s, NULL,
                               NULL, NULL),
             MTS_ELIMIT);
    mts_session_free(s);
}

static void
test_telethon_empty_session(void)
{
    /* No home DC: the row Telethon writes before it connects. */
    mts_session *s, *d = NULL;
    uint8_t *out;
    size_t n, fn;
    unsigned char *fresh = fx_read(TL "fresh.session", &fn);
    T_EQ_INT(mts_session_new(&s, MTS_NEW_EMPTY), 0);
    T_EQ_INT(mts_format_encode(&out, &n, MTS_FORMAT_TELETHON_SQLITE, s, NULL,
                               NULL, NULL),
             0);
    T_EQ_INT(mts_format_decode(&d, MTS_FORMAT_TELETHON_SQLITE, out, n, NULL),
             0);
    T_CHECK(d != NULL && mts_session_equal(s, d));
    {
        char want[8192];
        snprintf(want, sizeof(want), "%s", schema_of(fresh, fn));
        T_EQ_STR(schema_of(out, n), want);
    }
    mts_free(out);
    free(fresh);
    mts_session_free(d);
    mts_session_free(s);
}

static void
test_telethon_strict(void)
{
    const char *g = TL "golden.session";
    mts_format f = MTS_FORMAT_TELETHON_SQLITE;
    expect_refused(f, g, "UPDATE version SET version = 8", MTS_EVERSION,
                   "schema version 8");
    expect_refused(f, g, "UPDATE version SET version = 6", MTS_EVERSION,
                   "schema version 6");
    expect_refused(f, g, "INSERT INTO version VALUES (9)", MTS_ECORRUPT,
                   "version: 2 rows");
    expect_refused(f, g,
                   "DROP TABLE version; CREATE TABLE version (version); "
                   "INSERT INTO version VALUES ('7')",
                   MTS_ECORRUPT, "version is not an integer");
    expect_refused(f, g, "UPDATE sessions SET auth_key = x'00'", MTS_ECORRUPT,
                   "sessions row 1: auth_key");
    expect_refused(f, g, "UPDATE sessions SET auth_key = zeroblob(256)",
                   MTS_ECORRUPT, "auth_key is all zeros");
    expect_refused(f, g, "UPDATE sessions SET port = 0", MTS_ECORRUPT,
                   "sessions row 1: port");
    expect_refused(f, g, "UPDATE sessions SET server_address = 'nope'",
                   MTS_ECORRUPT, "sessions row 1: server_address");
    expect_refused(f, g, "UPDATE sessions SET dc_id = -2", MTS_ECORRUPT,
                   "sessions row 1: dc_id");
    expect_refused(f, g, "UPDATE sessions SET dc_id = 0", MTS_ECORRUPT,
                   "an auth key for dc_id 0");
    expect_refused(f, g,
                   "INSERT INTO sessions VALUES (4, '1.2.3.4', 443, x'', "
                   "NULL)",
                   MTS_ECORRUPT, "sessions: more than one row");
    expect_refused(f, g, "UPDATE entities SET id = 0 WHERE id = 42",
                   MTS_ECORRUPT, "entities row 4: id is not a marked peer id");
    expect_refused(f, g, "UPDATE entities SET hash = 'x' WHERE id = 42",
                   MTS_ECORRUPT, "entities row 4 (id 42): hash");
    expect_refused(f, g, "UPDATE entities SET username = x'41' WHERE id = 42",
                   MTS_ECORRUPT, "entities row 4 (id 42): username is not "
                                 "text");
    expect_refused(f, g,
                   "UPDATE entities SET username = 'a' || char(10) WHERE id "
                   "= 42",
                   MTS_ECORRUPT, "entities row 4 (id 42): peer.username");
    expect_refused(f, g, "UPDATE entities SET phone = 1.5 WHERE id = 42",
                   MTS_ECORRUPT, "entities row 4 (id 42): phone");
    expect_refused(f, g, "UPDATE update_state SET pts = 4294967296 WHERE id "
                         "= 0",
                   MTS_ECORRUPT, "update_state row 1 (id 0): pts");
    expect_refused(f, g, "UPDATE update_state SET date = 1.5e300 WHERE id "
                         "= 0",
                   MTS_ECORRUPT, "update_state row 1 (id 0): qts, date or "
                                 "seq");
    expect_refused(f, g, "UPDATE update_state SET seq = NULL WHERE id = 0",
                   MTS_ECORRUPT, "qts, date or seq");
    expect_refused(f, g, "UPDATE update_state SET id = -5 WHERE id = "
                         "1234567890",
                   MTS_ECORRUPT, "update_state row 1: id is not 0");
    expect_refused(f, g, "DROP TABLE update_state", MTS_ECORRUPT,
                   "without the update_state table");
    expect_refused(f, g, "ALTER TABLE entities DROP COLUMN date", MTS_ECORRUPT,
                   "entities: no column date");
    expect_refused(f, g, "DROP TABLE entities", MTS_EFORMAT,
                   "not a Telethon session");
    /* A view is not a table: no code runs from a hostile schema. */
    expect_refused(f, g,
                   "DROP TABLE entities; CREATE VIEW entities AS SELECT 1 "
                   "AS id",
                   MTS_EFORMAT, "not a Telethon session");
    /* A negative channel pts is fine; a REAL date is floored. */
    {
        size_t n;
        unsigned char *d = mutated(g,
                                   "UPDATE update_state SET date = "
                                   "-10.5 WHERE id = 0",
                                   &n);
        mts_session *s = NULL;
        mts_update_state u;
        T_EQ_INT(mts_format_decode(&s, f, d, n, NULL), 0);
        if (s != NULL) {
            mts_session_update_state(s, &u);
            T_EQ_INT(u.date, -11);
        }
        mts_session_free(s);
        sqlite3_free(d);
    }
}

static void
test_damaged_bytes(void)
{
    size_t n;
    unsigned char *d = fx_read(TL "golden.session", &n);
    unsigned char *copy = malloc(n);
    mts_session *s = NULL;
    mts_error err = MTS_ERROR_INIT;
    static const mts_format fmts[] = { MTS_FORMAT_TELETHON_SQLITE,
                                       MTS_FORMAT_PYROGRAM_SQLITE };
    for (size_t f = 0; f < 2; f++) {
        /* Not SQLite at all. */
        T_EQ_INT(mts_format_decode(&s, fmts[f], (const uint8_t *)"hello", 5,
                                   &err),
                 MTS_EFORMAT);
        /* Truncated anywhere: an error, never a session. */
        for (size_t cut = 0; cut < n; cut += cut < 200 ? 1 : 509) {
            int rc = mts_format_decode(&s, fmts[f], d, cut, &err);
            if (rc == 0) {
                t_fail(__FILE__, __LINE__, "cut at %zu decoded", cut);
                mts_session_free(s);
                s = NULL;
            } else if (rc != MTS_EFORMAT && rc != MTS_ECORRUPT) {
                t_fail(__FILE__, __LINE__, "cut at %zu: %s", cut,
                       mts_errname(rc));
            }
        }
    }
    /* Pages overwritten with garbage. */
    for (size_t page = 1; page * 4096 < n; page++) {
        int rc;
        memcpy(copy, d, n);
        for (size_t i = 0; i < 4096; i++)
            copy[page * 4096 + i] = (unsigned char)(i * 7 + page);
        rc = mts_format_decode(&s, MTS_FORMAT_TELETHON_SQLITE, copy, n, &err);
        if (rc == 0) {
            t_fail(__FILE__, __LINE__, "garbage page %zu decoded", page);
            mts_session_free(s);
            s = NULL;
        } else if (rc != MTS_ECORRUPT && rc != MTS_EFORMAT) {
            t_fail(__FILE__, __LINE__, "garbage page %zu: %s (%s)", page,
                   mts_errname(rc), err.message);
        }
    }
    /* The input is never written. */
    memcpy(copy, d, n);
    T_EQ_INT(mts_format_decode(&s, MTS_FORMAT_TELETHON_SQLITE, copy, n, &err),
             0);
    T_EQ_MEM(copy, d, n);
    mts_session_free(s);
    free(copy);
    free(d);
}

static void
test_wal_header(void)
{
    /* A file in WAL mode (header bytes 18/19 = 2) reads as well. */
    size_t n;
    unsigned char *d = fx_read(TL "golden.session", &n);
    mts_session *s = NULL;
    d[18] = d[19] = 2;
    T_EQ_INT(mts_format_decode(&s, MTS_FORMAT_TELETHON_SQLITE, d, n, NULL), 0);
    T_EQ_INT(d[18], 2);
    mts_session_free(s);
    free(d);
}

/* ---- Pyrogram ---------------------------------------------------------- */

static void
test_pyrogram_golden(void)
{
    mts_session *s = must_decode(MTS_FORMAT_PYROGRAM_SQLITE, PG "golden.session");
    int32_t api;
    int64_t uid;
    int bot;
    mts_update_state u;
    init_keys();
    if (s == NULL)
        return;
    T_EQ_INT(mts_session_home_dc(s), 2);
    T_EQ_INT(mts_session_test_mode(s), 0);
    T_EQ_INT(mts_session_api_id(s, &api), 0);
    T_EQ_INT(api, 3328759);
    T_EQ_INT(mts_session_user(s, &uid, &bot), 0);
    T_EQ_INT(uid, 5000801609LL);
    T_EQ_INT(bot, 0);
    T_EQ_U64(mts_session_dc_count(s), 1);
    check_dc(s, 0, 2, "149.154.167.51", 443, 0, key1);
    mts_session_update_state(s, &u);
    T_EQ_INT(u.pts, 0);
    T_EQ_U64(mts_session_peer_count(s), 6);
    check_peer(s, MTS_PEER_USER, 777000, -5612345678901234567LL,
               MTS_CHANNEL_UNKNOWN, 0, "telegram", "42777");
    check_peer(s, MTS_PEER_USER, 5000801609LL, 123456789, MTS_CHANNEL_UNKNOWN,
               0, NULL, "15551234567");
    check_peer(s, MTS_PEER_USER, 42, -1, MTS_CHANNEL_UNKNOWN, 1, "some_bot",
               NULL);
    check_peer(s, MTS_PEER_CHAT, 100, 0, MTS_CHANNEL_UNKNOWN, 0, NULL, NULL);
    check_peer(s, MTS_PEER_CHANNEL, 1234567890, 987654321,
               MTS_CHANNEL_BROADCAST, 0, "news_channel", NULL);
    check_peer(s, MTS_PEER_CHANNEL, 1500000000, -77, MTS_CHANNEL_MEGAGROUP, 0,
               NULL, NULL);
    mts_session_free(s);
}

static void
test_pyrogram_versions(void)
{
    mts_session *s;
    int32_t api;
    int64_t uid;
    int bot;
    init_keys();
    /* Version 2: no api_id; a test-DC bot. */
    s = must_decode(MTS_FORMAT_PYROGRAM_SQLITE, PG "v2.session");
    if (s != NULL) {
        T_EQ_INT(mts_session_home_dc(s), 1);
        T_EQ_INT(mts_session_test_mode(s), 1);
        T_EQ_INT(mts_session_api_id(s, &api), MTS_ENOTFOUND);
        T_EQ_INT(mts_session_user(s, &uid, &bot), 0);
        T_EQ_INT(uid, 42);
        T_EQ_INT(bot, 1);
        check_dc(s, 0, 1, "149.154.175.10", 443, 0, key2);
        T_EQ_U64(mts_session_peer_count(s), 6);
        mts_session_free(s);
    }
    /* Upgraded by Pyrogram: api_id appended (NULL), version 3. */
    s = must_decode(MTS_FORMAT_PYROGRAM_SQLITE, PG "v2-upgraded.session");
    if (s != NULL) {
        T_EQ_INT(mts_session_home_dc(s), 4);
        T_EQ_INT(mts_session_api_id(s, &api), MTS_ENOTFOUND);
        check_dc(s, 0, 4, "149.154.167.91", 443, 0, key1);
        T_EQ_INT(mts_session_user(s, &uid, &bot), 0);
        T_EQ_INT(uid, 777);
        mts_session_free(s);
    }
    /* Created, never logged in. */
    s = must_decode(MTS_FORMAT_PYROGRAM_SQLITE, PG "fresh.session");
    if (s != NULL) {
        T_EQ_INT(mts_session_home_dc(s), 2);
        T_EQ_U64(mts_session_dc_count(s), 1);
        check_dc(s, 0, 2, "149.154.167.51", 443, 0, NULL);
        T_EQ_INT(mts_session_user(s, &uid, &bot), MTS_ENOTFOUND);
        mts_session_free(s);
    }
    {
        size_t n;
        unsigned char *d = fx_read(PG "v4.session", &n);
        mts_error err = MTS_ERROR_INIT;
        s = NULL;
        T_EQ_INT(mts_format_decode(&s, MTS_FORMAT_PYROGRAM_SQLITE, d, n, &err),
                 MTS_EVERSION);
        T_CONTAINS(err.message, "schema version 4");
        free(d);
    }
}

static void
test_pyrogram_schema_exact(void)
{
    size_t n, gn;
    unsigned char *golden = fx_read(PG "golden.session", &gn);
    mts_session *s = fx_session("full");
    uint8_t *out;
    char want[8192];
    T_EQ_INT(mts_format_encode(&out, &n, MTS_FORMAT_PYROGRAM_SQLITE, s, NULL,
                               NULL, NULL),
             0);
    snprintf(want, sizeof(want), "%s", schema_of(golden, gn));
    T_EQ_STR(schema_of(out, n), want);
    T_CONTAINS(want, "trigger trg_peers_last_update_on on peers");
    T_CONTAINS(want, "index idx_peers_phone_number on peers");
    mts_free(out);
    free(golden);
    mts_session_free(s);
}

static void
test_pyrogram_roundtrip(void)
{
    mts_session *s = fx_session("full"), *d = NULL;
    warns w = { "", 0 };
    uint8_t *out;
    size_t n;
    int32_t api;
    int64_t uid;
    int bot;
    mts_error err = MTS_ERROR_INIT;
    init_keys();
    T_EQ_INT(mts_format_encode(&out, &n, MTS_FORMAT_PYROGRAM_SQLITE, s,
                               on_warn, &w, &err),
             0);
    T_EQ_STR(w.text, "DC entries other than the home DC's (2);home DC "
                     "address (Pyrogram uses its built-in one);server salt;"
                     "time offset;update state;channel pts (2);min peers (2);"
                     "future auth token;community flags (1);");
    T_EQ_INT(mts_format_decode(&d, MTS_FORMAT_PYROGRAM_SQLITE, out, n, &err),
             0);
    mts_free(out);
    if (d == NULL) {
        mts_session_free(s);
        return;
    }
    T_EQ_INT(mts_session_home_dc(d), 2);
    T_EQ_INT(mts_session_test_mode(d), 1);
    T_EQ_INT(mts_session_api_id(d, &api), 0);
    T_EQ_INT(api, 12345);
    T_EQ_INT(mts_session_user(d, &uid, &bot), 0);
    T_EQ_INT(uid, 42);
    T_EQ_INT(bot, 1);
    /* The default table's test DC 2 address (as pyrogram-string reads
     * it), with the key. */
    check_dc(d, 0, 2, "149.154.167.40", 443, 0, key2);
    T_EQ_U64(mts_session_peer_count(d), 4);
    check_peer(d, MTS_PEER_CHANNEL, 100, INT64_MAX, MTS_CHANNEL_MEGAGROUP, 0,
               "chan", NULL);
    check_peer(d, MTS_PEER_USER, 42, INT64_MIN, MTS_CHANNEL_UNKNOWN, 1,
               "bot_\xc3\xbc", "15551234567");
    check_peer(d, MTS_PEER_CHAT, 100, 0, MTS_CHANNEL_UNKNOWN, 0, NULL, NULL);
    check_peer(d, MTS_PEER_CHANNEL, 7, 1, MTS_CHANNEL_BROADCAST, 0, NULL,
               NULL);
    mts_session_free(d);
    mts_session_free(s);
}

static void
test_pyrogram_lossless_subset(void)
{
    mts_session *s, *d = NULL;
    mts_dc dc = MTS_DC_INIT;
    mts_peer p = MTS_PEER_INIT;
    uint8_t *out;
    size_t n;
    warns w = { "", 0 };
    init_keys();
    T_EQ_INT(mts_session_new(&s, MTS_NEW_EMPTY), 0);
    T_EQ_INT(mts_session_set_home_dc(s, 203), 0);
    mts_session_set_api_id(s, 1, 6);
    T_EQ_INT(mts_session_set_user(s, 99, 0), 0);
    dc.dc_id = 203;
    mts_ip_parse(&dc.ip, "91.105.192.100");
    dc.port = 443;
    dc.auth_key = key2;
    T_EQ_INT(mts_session_put_dc(s, &dc), 0);
    p.id = 99;
    p.access_hash = -3;
    p.bot = 1;
    p.username = "x_bot";
    T_EQ_INT(mts_session_put_peer(s, &p, NULL), 0);
    p.kind = MTS_PEER_CHANNEL;
    p.bot = 0;
    p.channel_kind = MTS_CHANNEL_MEGAGROUP;
    p.phone = "123";
    T_EQ_INT(mts_session_put_peer(s, &p, NULL), 0);
    T_EQ_INT(mts_format_encode(&out, &n, MTS_FORMAT_PYROGRAM_SQLITE, s,
                               on_warn, &w, NULL),
             0);
    T_EQ_STR(w.text, "");
    T_EQ_INT(mts_format_decode(&d, MTS_FORMAT_PYROGRAM_SQLITE, out, n, NULL),
             0);
    T_CHECK(d != NULL && mts_session_equal(s, d));
    mts_free(out);
    mts_session_free(d);
    mts_session_free(s);

    /* An empty session becomes Pyrogram's new-session row: DC 2. */
    T_EQ_INT(mts_session_new(&s, MTS_NEW_EMPTY), 0);
    T_EQ_INT(mts_format_encode(&out, &n, MTS_FORMAT_PYROGRAM_SQLITE, s, NULL,
                               NULL, NULL),
             0);
    d = NULL;
    T_EQ_INT(mts_format_decode(&d, MTS_FORMAT_PYROGRAM_SQLITE, out, n, NULL),
             0);
    if (d != NULL) {
        T_EQ_INT(mts_session_home_dc(d), 2);
        check_dc(d, 0, 2, "149.154.167.51", 443, 0, NULL);
    }
    mts_free(out);
    mts_session_free(d);
    mts_session_free(s);
}

static void
test_pyrogram_strict(void)
{
    const char *g = PG "golden.session";
    mts_format f = MTS_FORMAT_PYROGRAM_SQLITE;
    expect_refused(f, g, "UPDATE version SET number = 1", MTS_EVERSION,
                   "schema version 1");
    expect_refused(f, g, "DELETE FROM version", MTS_ECORRUPT,
                   "version: 0 rows");
    expect_refused(f, g, "DELETE FROM sessions", MTS_ECORRUPT,
                   "sessions: no row");
    expect_refused(f, g,
                   "INSERT INTO sessions VALUES (4, NULL, 0, NULL, 0, NULL, "
                   "NULL)",
                   MTS_ECORRUPT, "more than one row");
    expect_refused(f, g, "UPDATE sessions SET dc_id = 7", MTS_ECORRUPT,
                   "dc_id 7 is not a production DC Pyrogram knows");
    expect_refused(f, g, "UPDATE sessions SET test_mode = 1, dc_id = 4",
                   MTS_ECORRUPT, "dc_id 4 is not a test DC");
    expect_refused(f, g, "UPDATE sessions SET test_mode = 2", MTS_ECORRUPT,
                   "test_mode");
    expect_refused(f, g, "UPDATE sessions SET auth_key = x'0102'",
                   MTS_ECORRUPT, "auth_key");
    expect_refused(f, g, "UPDATE sessions SET user_id = -1", MTS_ECORRUPT,
                   "user_id");
    expect_refused(f, g, "UPDATE sessions SET user_id = 'me'", MTS_ECORRUPT,
                   "user_id");
    expect_refused(f, g, "UPDATE sessions SET is_bot = 5", MTS_ECORRUPT,
                   "is_bot");
    expect_refused(f, g, "UPDATE sessions SET api_id = 4294967296",
                   MTS_ECORRUPT, "api_id");
    expect_refused(f, g, "ALTER TABLE sessions DROP COLUMN api_id",
                   MTS_ECORRUPT, "version 3 file without sessions.api_id");
    expect_refused(f, g, "UPDATE peers SET type = 'robot' WHERE id = 42",
                   MTS_ECORRUPT, "peers row 4 (id 42): type");
    expect_refused(f, g, "UPDATE peers SET type = 'group' WHERE id = 42",
                   MTS_ECORRUPT, "the id does not mark a group");
    expect_refused(f, g, "UPDATE peers SET type = 'user' WHERE id = -100",
                   MTS_ECORRUPT, "the id does not mark a user");
    expect_refused(f, g,
                   "UPDATE peers SET type = 'channel' WHERE id = -100",
                   MTS_ECORRUPT, "the id does not mark a channel");
    expect_refused(f, g, "UPDATE peers SET id = 0 WHERE id = 42", MTS_ECORRUPT,
                   "id is not a marked peer id");
    expect_refused(f, g,
                   "UPDATE peers SET access_hash = 'h' WHERE id = 42",
                   MTS_ECORRUPT, "access_hash");
    expect_refused(f, g,
                   "UPDATE peers SET phone_number = x'00' WHERE id = 42",
                   MTS_ECORRUPT, "phone_number");
    expect_refused(f, g, "DROP TABLE peers", MTS_EFORMAT,
                   "not a Pyrogram session");
    expect_refused(f, g, "UPDATE sessions SET auth_key = zeroblob(256)",
                   MTS_ECORRUPT, "auth_key is all zeros");
    /* 0 means "none" for user_id and api_id, as in Pyrogram's strings. */
    {
        size_t n;
        unsigned char *d = mutated(g,
                                   "UPDATE sessions SET user_id = 0, "
                                   "api_id = 0",
                                   &n);
        mts_session *s = NULL;
        int32_t api;
        int64_t uid;
        int bot;
        T_EQ_INT(mts_format_decode(&s, f, d, n, NULL), 0);
        if (s != NULL) {
            T_EQ_INT(mts_session_user(s, &uid, &bot), MTS_ENOTFOUND);
            T_EQ_INT(mts_session_api_id(s, &api), MTS_ENOTFOUND);
        }
        mts_session_free(s);
        sqlite3_free(d);
    }
    /* A DC Pyrogram has no address for cannot be written. */
    {
        mts_session *s;
        uint8_t *out;
        size_t n;
        mts_error err = MTS_ERROR_INIT;
        T_EQ_INT(mts_session_new(&s, MTS_NEW_EMPTY), 0);
        T_EQ_INT(mts_session_set_home_dc(s, 7), 0);
        T_EQ_INT(mts_format_encode(&out, &n, f, s, NULL, NULL, &err),
                 MTS_ELIMIT);
        T_CONTAINS(err.message, "no address for production DC 7");
        mts_session_set_test_mode(s, 1);
        T_EQ_INT(mts_session_set_home_dc(s, 4), 0);
        T_EQ_INT(mts_format_encode(&out, &n, f, s, NULL, NULL, &err),
                 MTS_ELIMIT);
        T_CONTAINS(err.message, "test DC 4");
        mts_session_free(s);
    }
}

/* ---- detection --------------------------------------------------------- */

static void
detect(const unsigned char *d, size_t n, int want_rc, mts_format want)
{
    mts_format got = MTS_FORMAT_UNKNOWN;
    mts_error err = MTS_ERROR_INIT;
    int rc = mts_format_detect(&got, d, n, &err);
    T_EQ_INT(rc, want_rc);
    if (rc == 0 && got != want)
        t_fail(__FILE__, __LINE__, "detected %s, want %s",
               mts_format_name(got), mts_format_name(want));
}

static void
test_detection(void)
{
    static const char *const tl[] = { TL "golden.session", TL "fresh.session",
                                      TL "ipv6.session" };
    static const char *const pg[] = { PG "golden.session", PG "fresh.session",
                                      PG "v2.session",
                                      PG "v2-upgraded.session",
                                      PG "v4.session" };
    size_t n;
    unsigned char *d;
    for (size_t i = 0; i < 3; i++) {
        d = fx_read(tl[i], &n);
        detect(d, n, 0, MTS_FORMAT_TELETHON_SQLITE);
        T_EQ_INT(mts__fmt_pyrogram_sqlite.probe(d, n), 0);
        free(d);
    }
    for (size_t i = 0; i < 5; i++) {
        d = fx_read(pg[i], &n);
        detect(d, n, 0, MTS_FORMAT_PYROGRAM_SQLITE);
        T_EQ_INT(mts__fmt_telethon_sqlite.probe(d, n), 0);
        free(d);
    }
    /* This library's own SQL store has other tables: not claimed. */
    d = mutated(TL "golden.session",
                "DROP TABLE version; DROP TABLE entities; DROP TABLE "
                "sessions; DROP TABLE sent_files; DROP TABLE update_state; "
                "CREATE TABLE sessions (name TEXT PRIMARY KEY, home_dc "
                "INTEGER, test_mode INTEGER, api_id INTEGER, user_id "
                "INTEGER, user_is_bot INTEGER) WITHOUT ROWID; CREATE TABLE "
                "peers (session TEXT, kind INTEGER, id INTEGER, access_hash "
                "INTEGER, PRIMARY KEY (session, kind, id)) WITHOUT ROWID; "
                "CREATE TABLE dcs (session TEXT, dc_id INTEGER, PRIMARY KEY "
                "(session, dc_id)) WITHOUT ROWID",
                &n);
    T_EQ_INT(mts__fmt_telethon_sqlite.probe(d, n), 0);
    T_EQ_INT(mts__fmt_pyrogram_sqlite.probe(d, n), 0);
    sqlite3_free(d);
}

/* ---- allocation failures ----------------------------------------------- */

static int
alloc_scenario(mts_format fmt, const unsigned char *d, size_t n)
{
    mts_session *s = NULL;
    uint8_t *out = NULL;
    size_t on;
    int rc = mts_format_decode(&s, fmt, d, n, NULL);
    if (rc == 0)
        rc = mts_format_encode(&out, &on, fmt, s, NULL, NULL, NULL);
    mts_free(out);
    mts_session_free(s);
    return rc;
}

static void
test_allocation_failures(void)
{
    static const char *const files[] = { TL "golden.session",
                                         PG "golden.session" };
    static const mts_format fmts[] = { MTS_FORMAT_TELETHON_SQLITE,
                                       MTS_FORMAT_PYROGRAM_SQLITE };
    for (size_t f = 0; f < 2; f++) {
        size_t n;
        unsigned char *d = fx_read(files[f], &n);
        int done = 0;
        T_EQ_INT(mts_set_allocator(&fa_failing), 0);
        for (fa_fail_at = 0; fa_fail_at < 100000; fa_fail_at++) {
            int rc;
            fa_calls = 0;
            rc = alloc_scenario(fmts[f], d, n);
            if (fa_calls <= fa_fail_at) {
                T_EQ_INT(rc, 0);
                done = 1;
                break;
            }
            if (rc != MTS_ENOMEM) {
                t_fail(__FILE__, __LINE__, "%s: allocation %ld: %s",
                       files[f], fa_fail_at, mts_errname(rc));
                break;
            }
        }
        mts_set_allocator(NULL);
        fa_fail_at = -1;
        T_CHECK(done);
        free(d);
    }
}

T_MAIN(T_CASE(test_telethon_golden), T_CASE(test_telethon_fresh_and_ipv6),
       T_CASE(test_telethon_schema_exact), T_CASE(test_telethon_roundtrip),
       T_CASE(test_telethon_lossless_subset),
       T_CASE(test_telethon_empty_session), T_CASE(test_telethon_strict),
       T_CASE(test_damaged_bytes), T_CASE(test_wal_header),
       T_CASE(test_pyrogram_golden), T_CASE(test_pyrogram_versions),
       T_CASE(test_pyrogram_schema_exact), T_CASE(test_pyrogram_roundtrip),
       T_CASE(test_pyrogram_lossless_subset), T_CASE(test_pyrogram_strict),
       T_CASE(test_detection), T_CASE(test_allocation_failures))
