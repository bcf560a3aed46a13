/*
 * telethon_sqlite.c - Telethon 1.x's `.session` file: an SQLite database
 * of schema version 7.
 *
 *   version(version)                          one row: 7
 *   sessions(dc_id, server_address, port, auth_key, takeout_id)
 *                                             at most one row: the home DC
 *   entities(id, hash, username, phone, name, date)
 *                                             the peer cache; id is a
 *                                             marked id (user > 0, chat -id,
 *                                             channel -1000000000000-id)
 *   sent_files(md5_digest, file_size, type, id, hash)   not read
 *   update_state(id, pts, qts, date, seq)     id 0: the common state;
 *                                             other ids: a channel's pts
 *
 * Reading: the bytes are opened as a private read-only in-memory database
 * (sqlite_fmt.c). Strict: one version row of value 7 (others are
 * MTS_EVERSION), at most one sessions row, every value of the expected
 * type and range; errors name the table, row and column. Not kept: the
 * takeout id, entity names and dates, sent files, the date/qts/seq of
 * channel rows. A sessions row with dc_id 0 is a session that never
 * connected (Telethon writes one on creation).
 *
 * Writing: an in-memory database with Telethon's exact tables and
 * columns, serialised to bytes. Usernames are lowercased (Telethon looks
 * them up lowercased), a leading '+' of a phone is dropped and the phone
 * goes into the integer column as Telethon's own inserts put it. Entity
 * names and dates are NULL (unknown); channel rows of update_state carry
 * qts, date and seq 0. What the file cannot hold is reported through the
 * warning callback.
 *
 * Thread-safety: no shared state.
 */
#include "sqlite_fmt.h"
#include "string_common.h"

#ifdef MTS_HAVE_SQLITE

#include <stdio.h>

#define NAME "telethon-sqlite"
#define TELETHON_VERSION 7

/* Telethon's schema: the same tables, columns, types and keys, created
 * in the same order, in this file's own layout. */
static const char tl_schema[] =
    "CREATE TABLE version (version integer primary key);\n"
    "CREATE TABLE sessions (dc_id integer primary key, server_address text, "
    "port integer, auth_key blob, takeout_id integer);\n"
    "CREATE TABLE entities (id integer primary key, hash integer not null, "
    "username text, phone integer, name text, date integer);\n"
    "CREATE TABLE sent_files (md5_digest blob, file_size integer, "
    "type integer, id integer, hash integer, "
    "primary key(md5_digest, file_size, type));\n"
    "CREATE TABLE update_state (id integer primary key, pts integer, "
    "qts integer, date integer, seq integer);\n";

/* ---- reading ----------------------------------------------------------- */

#define bad(err, ...) mts__sql_bad(err, NAME, __VA_ARGS__)

/* An INTEGER column value; -1 when the type is anything else. */
static int
col_int(sqlite3_stmt *st, int col, int64_t *v)
{
    if (sqlite3_column_type(st, col) != SQLITE_INTEGER)
        return -1;
    *v = sqlite3_column_int64(st, col);
    return 0;
}

static int
col_i32(sqlite3_stmt *st, int col, int32_t *v)
{
    int64_t x;
    if (col_int(st, col, &x) != 0 || x < INT32_MIN || x > INT32_MAX)
        return -1;
    *v = (int32_t)x;
    return 0;
}

static int
tl_schema_check(sqlite3 *db, mts_error *err)
{
    static const char *const cols[][7] = {
        { "sessions", "dc_id", "server_address", "port", "auth_key",
          "takeout_id", NULL },
        { "entities", "id", "hash", "username", "phone", "name", "date" },
        { "update_state", "id", "pts", "qts", "date", "seq", NULL },
    };
    sqlite3_stmt *st;
    int64_t v = 0;
    int rc, rows = 0;

    if (!mts__sql_has_table(db, "sessions") ||
        !mts__sql_has_table(db, "entities") ||
        !mts__sql_has_table(db, "version") ||
        !mts__sql_has_column(db, "sessions", "server_address"))
        return mts__err(err, MTS_EFORMAT,
                        NAME ": not a Telethon session (no sessions, "
                             "entities and version tables)");
    rc = sqlite3_prepare_v2(db, "SELECT version FROM version", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return mts__sql_read_err(db, rc, NAME, "version", err);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (++rows == 1 && col_int(st, 0, &v) != 0) {
            sqlite3_finalize(st);
            return bad(err, "version row 1: version is not an integer");
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return mts__sql_read_err(db, rc, NAME, "version", err);
    if (rows != 1)
        return bad(err, "version: %d rows, Telethon keeps exactly one", rows);
    if (v != TELETHON_VERSION)
        return mts__err(err, MTS_EVERSION,
                        NAME ": schema version %lld; version %d is read "
                             "(open older files once with Telethon 1.x to "
                             "upgrade them)",
                        (long long)v, TELETHON_VERSION);
    for (size_t t = 0; t < MTS__ARRAY_LEN(cols); t++) {
        if (!mts__sql_has_table(db, cols[t][0]))
            return bad(err, "version 7 file without the %s table",
                       cols[t][0]);
        for (size_t c = 1; c < 7 && cols[t][c] != NULL; c++)
            if (!mts__sql_has_column(db, cols[t][0], cols[t][c]))
                return bad(err, "%s: no column %s", cols[t][0], cols[t][c]);
    }
    return 0;
}

static int
tl_read_sessions(sqlite3 *db, mts_session *s, mts_error *err)
{
    sqlite3_stmt *st;
    int rc, row = 0;
    rc = sqlite3_prepare_v2(db,
                            "SELECT dc_id, server_address, port, auth_key "
                            "FROM sessions",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return mts__sql_read_err(db, rc, NAME, "sessions", err);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        mts_dc dc = MTS_DC_INIT;
        int64_t id, port;
        const char *addr;
        int keylen = 0, keytype;
        if (++row > 1) {
            rc = bad(err, "sessions: more than one row (Telethon keeps "
                          "one)");
            goto out;
        }
        if (col_int(st, 0, &id) != 0 || id < 0 || id > INT32_MAX) {
            rc = bad(err, "sessions row 1: dc_id is not a DC id");
            goto out;
        }
        keytype = sqlite3_column_type(st, 3);
        if (keytype == SQLITE_BLOB)
            keylen = sqlite3_column_bytes(st, 3);
        if ((keytype != SQLITE_BLOB && keytype != SQLITE_NULL) ||
            (keylen != 0 && keylen != MTS_AUTH_KEY_SIZE)) {
            rc = bad(err, "sessions row 1: auth_key is not empty or %d bytes",
                     MTS_AUTH_KEY_SIZE);
            goto out;
        }
        if (id == 0) {
            /* Created and never connected: no DC yet. */
            if (keylen != 0) {
                rc = bad(err, "sessions row 1: an auth key for dc_id 0");
                goto out;
            }
            continue;
        }
        dc.dc_id = (int32_t)id;
        if (mts__sql_col_text(st, 1, &addr) != 0 || addr == NULL ||
            mts_ip_parse(&dc.ip, addr) != 0) {
            rc = bad(err, "sessions row 1: server_address is not an IP "
                          "address");
            goto out;
        }
        if (col_int(st, 2, &port) != 0 || port < 1 || port > 65535) {
            rc = bad(err, "sessions row 1: port is not 1..65535");
            goto out;
        }
        dc.port = (uint16_t)port;
        dc.flags = dc.ip.family == 6 ? MTS_DC_IPV6 : 0;
        if (keylen == MTS_AUTH_KEY_SIZE) {
            dc.auth_key = sqlite3_column_blob(st, 3);
            if (mts__key_is_zero(dc.auth_key)) {
                rc = bad(err, "sessions row 1: auth_key is all zeros "
                              "(Telethon reads this as no key)");
                goto out;
            }
        }
        if ((rc = mts__put_dc(s, &dc, err)) != 0)
            goto out;
        mts_session_set_home_dc(s, dc.dc_id);
    }
    rc = rc == SQLITE_DONE ? 0 : mts__sql_read_err(db, rc, NAME, "sessions",
                                                   err);
out:
    sqlite3_finalize(st);
    return rc;
}

static int
tl_read_entities(sqlite3 *db, mts_session *s, mts_error *err)
{
    sqlite3_stmt *st;
    int rc;
    long row = 0;
    rc = sqlite3_prepare_v2(db,
                            "SELECT id, hash, username, phone FROM entities "
                            "ORDER BY id",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return mts__sql_read_err(db, rc, NAME, "entities", err);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        mts_peer p = MTS_PEER_INIT;
        int64_t marked = 0;
        char phone[24];
        mts_error perr = MTS_ERROR_INIT;
        row++;
        if (col_int(st, 0, &marked) != 0 ||
            mts__unmark_id(marked, &p.kind, &p.id) != 0) {
            rc = bad(err, "entities row %ld: id is not a marked peer id",
                     row);
            goto out;
        }
        if (col_int(st, 1, &p.access_hash) != 0) {
            rc = bad(err, "entities row %ld (id %lld): hash is not an "
                          "integer",
                     row, (long long)marked);
            goto out;
        }
        if (mts__sql_col_text(st, 2, &p.username) != 0) {
            rc = bad(err, "entities row %ld (id %lld): username is not text",
                     row, (long long)marked);
            goto out;
        }
        if (mts__sql_col_phone(st, 3, phone, sizeof(phone), &p.phone) != 0) {
            rc = bad(err, "entities row %ld (id %lld): phone is not a "
                          "number or text",
                     row, (long long)marked);
            goto out;
        }
        if ((rc = mts_session_put_peer(s, &p, &perr)) != 0) {
            rc = rc == MTS_ENOMEM
                     ? mts__err_oom(err)
                     : bad(err, "entities row %ld (id %lld): %s", row,
                           (long long)marked, perr.message);
            goto out;
        }
    }
    rc = rc == SQLITE_DONE ? 0 : mts__sql_read_err(db, rc, NAME, "entities",
                                                   err);
out:
    sqlite3_finalize(st);
    return rc;
}

/* Telethon stores dates from datetime.timestamp(): an integer, or a real
 * number for the channel rows it writes with the local time. */
static int
col_date(sqlite3_stmt *st, int col, int32_t *v)
{
    if (sqlite3_column_type(st, col) == SQLITE_FLOAT) {
        double d = sqlite3_column_double(st, col);
        if (!(d >= (double)INT32_MIN && d < (double)INT32_MAX + 1.0))
            return -1;
        *v = (int32_t)d;
        if ((double)*v > d)
            (*v)--;
        return 0;
    }
    return col_i32(st, col, v);
}

static int
tl_read_updates(sqlite3 *db, mts_session *s, mts_error *err)
{
    sqlite3_stmt *st;
    int rc;
    long row = 0;
    rc = sqlite3_prepare_v2(db,
                            "SELECT id, pts, qts, date, seq FROM update_state "
                            "ORDER BY id",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return mts__sql_read_err(db, rc, NAME, "update_state", err);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id;
        mts_update_state u;
        row++;
        if (col_int(st, 0, &id) != 0 || id < 0) {
            rc = bad(err, "update_state row %ld: id is not 0 or a channel "
                          "id",
                     row);
            goto out;
        }
        if (col_i32(st, 1, &u.pts) != 0) {
            rc = bad(err, "update_state row %ld (id %lld): pts is not a "
                          "32-bit integer",
                     row, (long long)id);
            goto out;
        }
        if (id > 0) {
            if (mts_session_set_channel_pts(s, id, u.pts) != 0) {
                rc = mts__err_oom(err);
                goto out;
            }
            continue;
        }
        if (col_i32(st, 2, &u.qts) != 0 || col_date(st, 3, &u.date) != 0 ||
            col_i32(st, 4, &u.seq) != 0) {
            rc = bad(err, "update_state row %ld (id 0): qts, date or seq is "
                          "not a 32-bit integer",
                     row);
            goto out;
        }
        mts_session_set_update_state(s, &u);
    }
    rc = rc == SQLITE_DONE ? 0
                           : mts__sql_read_err(db, rc, NAME, "update_state",
                                               err);
out:
    sqlite3_finalize(st);
    return rc;
}

static int
tl_decode(mts_session **out, const uint8_t *data, size_t len, mts_error *err)
{
    mts__sqlin in;
    mts_session *s = NULL;
    int rc = mts__sql_open(&in, data, len, NAME, err);
    if (rc != 0)
        return rc;
    if ((rc = tl_schema_check(in.db, err)) != 0)
        goto out;
    if (mts_session_new(&s, MTS_NEW_EMPTY) != 0) {
        rc = mts__err_oom(err);
        goto out;
    }
    if ((rc = tl_read_sessions(in.db, s, err)) != 0 ||
        (rc = tl_read_entities(in.db, s, err)) != 0 ||
        (rc = tl_read_updates(in.db, s, err)) != 0)
        goto out;
    *out = s;
    s = NULL;
out:
    mts_session_free(s);
    mts__sql_close(&in);
    return rc;
}

static int
tl_probe(const uint8_t *data, size_t len)
{
    mts__sqlin in;
    int yes;
    int rc = mts__sql_open_probe(&in, data, len);
    if (rc != 0)
        return rc == MTS_ENOMEM ? rc : 0;
    yes = mts__sql_has_table(in.db, "sessions") &&
          mts__sql_has_table(in.db, "entities") &&
          mts__sql_has_table(in.db, "version") &&
          mts__sql_has_column(in.db, "sessions", "server_address");
    mts__sql_close(&in);
    return yes;
}

/* ---- writing ----------------------------------------------------------- */

static int
tl_write_session_row(sqlite3 *db, const mts_session *s, int *wrote_dc,
                     mts_dc *chosen, mts_error *err)
{
    sqlite3_stmt *st;
    char ip[64];
    int rc;
    rc = sqlite3_prepare_v2(db,
                            "INSERT INTO sessions VALUES (?1, ?2, ?3, ?4, "
                            "NULL)",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return mts__sql_write_err(db, rc, NAME, "sessions", err);
    *wrote_dc = mts__pick_home_dc(chosen, s) == 0;
    if (*wrote_dc) {
        mts_ip_format(ip, sizeof(ip), &chosen->ip);
        sqlite3_bind_int64(st, 1, chosen->dc_id);
        sqlite3_bind_text(st, 2, ip, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, chosen->port);
        if (chosen->auth_key != NULL)
            sqlite3_bind_blob(st, 4, chosen->auth_key, MTS_AUTH_KEY_SIZE,
                              SQLITE_STATIC);
        else
            sqlite3_bind_blob(st, 4, "", 0, SQLITE_STATIC);
    } else {
        /* What Telethon writes before it first connects. */
        sqlite3_bind_int(st, 1, 0);
        sqlite3_bind_blob(st, 4, "", 0, SQLITE_STATIC);
    }
    rc = mts__sql_step_done(db, st, NAME, "sessions", err);
    sqlite3_finalize(st);
    return rc;
}

static int
tl_write_entities(sqlite3 *db, const mts_session *s, mts_error *err)
{
    sqlite3_stmt *st;
    size_t *order = NULL;
    int rc;
    if (mts__peer_order(&order, s) != 0)
        return mts__err_oom(err);
    rc = sqlite3_prepare_v2(db,
                            "INSERT INTO entities VALUES (?1, ?2, ?3, ?4, "
                            "NULL, NULL)",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) {
        mts_free(order);
        return mts__sql_write_err(db, rc, NAME, "entities", err);
    }
    for (size_t i = 0; i < mts_session_peer_count(s) && rc == 0; i++) {
        mts_peer p;
        int64_t marked;
        char user[MTS_PEER_STRING_MAX + 1];
        mts_session_peer_at(&p, s, order[i]);
        if ((rc = mts__mark_id(p.kind, p.id, &marked, NAME, err)) != 0)
            break;
        sqlite3_bind_int64(st, 1, marked);
        sqlite3_bind_int64(st, 2, p.access_hash);
        if (p.username != NULL) {
            mts__sql_lower_ascii(user, p.username, sizeof(user));
            sqlite3_bind_text(st, 3, user, -1, SQLITE_TRANSIENT);
        }
        if (p.phone != NULL)
            sqlite3_bind_text(st, 4, p.phone + (p.phone[0] == '+'), -1,
                              SQLITE_STATIC);
        rc = mts__sql_step_done(db, st, NAME, "entities", err);
    }
    sqlite3_finalize(st);
    mts_free(order);
    return rc;
}

static int
tl_write_updates(sqlite3 *db, const mts_session *s, mts_error *err)
{
    sqlite3_stmt *st;
    mts_update_state u;
    int rc;
    rc = sqlite3_prepare_v2(db,
                            "INSERT INTO update_state VALUES (?1, ?2, ?3, ?4, "
                            "?5)",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return mts__sql_write_err(db, rc, NAME, "update_state", err);
    mts_session_update_state(s, &u);
    if (u.pts || u.qts || u.date || u.seq) {
        sqlite3_bind_int(st, 1, 0);
        sqlite3_bind_int(st, 2, u.pts);
        sqlite3_bind_int(st, 3, u.qts);
        sqlite3_bind_int(st, 4, u.date);
        sqlite3_bind_int(st, 5, u.seq);
        rc = mts__sql_step_done(db, st, NAME, "update_state", err);
    }
    for (size_t i = 0; i < mts_session_channel_count(s) && rc == 0; i++) {
        mts_channel_pts c;
        mts_session_channel_at(&c, s, i);
        sqlite3_bind_int64(st, 1, c.channel_id);
        sqlite3_bind_int(st, 2, c.pts);
        sqlite3_bind_int(st, 3, 0);
        sqlite3_bind_int(st, 4, 0);
        sqlite3_bind_int(st, 5, 0);
        rc = mts__sql_step_done(db, st, NAME, "update_state", err);
    }
    sqlite3_finalize(st);
    return rc;
}

static void
tl_warn(const mts_session *s, int wrote_dc, const mts_dc *dc,
        mts_warn_fn warn, void *payload)
{
    size_t others = mts_session_dc_count(s) - (wrote_dc ? 1 : 0);
    size_t bots = 0, communities = 0, kinds = 0;
    const uint8_t *tok;
    size_t toklen;
    int32_t api;
    int64_t uid;
    int bot;
    for (size_t i = 0; i < mts_session_peer_count(s); i++) {
        mts_peer p;
        mts_session_peer_at(&p, s, i);
        if (p.bot)
            bots++;
        if (p.community)
            communities++;
        if (p.channel_kind != MTS_CHANNEL_UNKNOWN)
            kinds++;
    }
    if (others)
        mts__warn(warn, payload, "DC entries other than the home DC's (%zu)",
                  others);
    if (wrote_dc && dc->server_salt != 0)
        mts__warn(warn, payload, "server salt");
    if (wrote_dc && dc->time_offset != 0)
        mts__warn(warn, payload, "time offset");
    if (wrote_dc && (dc->flags & ~(unsigned)MTS_DC_IPV6) != 0)
        mts__warn(warn, payload, "DC entry flags");
    if (mts_session_test_mode(s))
        mts__warn(warn, payload, "test mode flag");
    if (mts_session_api_id(s, &api) == 0)
        mts__warn(warn, payload, "api_id");
    if (mts_session_user(s, &uid, &bot) == 0)
        mts__warn(warn, payload, "account user id and bot flag");
    if (mts_session_min_peer_count(s))
        mts__warn(warn, payload, "min peers (%zu)",
                  mts_session_min_peer_count(s));
    if (mts_session_future_auth_token(s, &tok, &toklen) == 0)
        mts__warn(warn, payload, "future auth token");
    if (bots)
        mts__warn(warn, payload, "bot flags of peers (%zu)", bots);
    if (communities)
        mts__warn(warn, payload, "community flags (%zu)", communities);
    if (kinds)
        mts__warn(warn, payload, "channel kinds (%zu)", kinds);
}

static int
tl_encode(uint8_t **out, size_t *out_len, const mts_session *s,
          const mts_format_options *opts, mts_warn_fn warn, void *payload,
          mts_error *err)
{
    sqlite3 *db = NULL;
    mts_dc chosen;
    int wrote_dc = 0, rc;
    (void)opts;
    if ((rc = mts__sql_new(&db, NAME, err)) != 0)
        return rc;
    if ((rc = mts__sql_exec(db, tl_schema, NAME, err)) != 0 ||
        (rc = mts__sql_exec(db, "BEGIN", NAME, err)) != 0)
        goto out;
    {
        char sql[64];
        snprintf(sql, sizeof(sql), "INSERT INTO version VALUES (%d)",
                 TELETHON_VERSION);
        if ((rc = mts__sql_exec(db, sql, NAME, err)) != 0)
            goto out;
    }
    if ((rc = tl_write_session_row(db, s, &wrote_dc, &chosen, err)) != 0 ||
        (rc = tl_write_entities(db, s, err)) != 0 ||
        (rc = tl_write_updates(db, s, err)) != 0 ||
        (rc = mts__sql_exec(db, "COMMIT", NAME, err)) != 0)
        goto out;
    rc = mts__sql_serialize(out, out_len, db, NAME, err);
    if (rc == 0)
        tl_warn(s, wrote_dc, &chosen, warn, payload);
out:
    sqlite3_close(db);
    return rc;
}

const mts__format_ops mts__fmt_telethon_sqlite = {
    MTS_FORMAT_TELETHON_SQLITE, MTS_FORMAT_CAN_READ | MTS_FORMAT_CAN_WRITE,
    tl_probe, tl_decode, tl_encode
};

#else /* !MTS_HAVE_SQLITE */

const mts__format_ops mts__fmt_telethon_sqlite = {
    MTS_FORMAT_TELETHON_SQLITE, 0, NULL, NULL, NULL
};

#endif /* MTS_HAVE_SQLITE */
