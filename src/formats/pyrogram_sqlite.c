/*
 * pyrogram_sqlite.c - Pyrogram 2.x's `.session` file: an SQLite database
 * of schema version 3 (version 2 is read too).
 *
 *   version(number)                           one row: 3 (or 2)
 *   sessions(dc_id, api_id, test_mode, auth_key, date, user_id, is_bot)
 *                                             exactly one row; version 2
 *                                             has no api_id column
 *   peers(id, access_hash, type, username, phone_number, last_update_on)
 *                                             id is a marked id; type is
 *                                             "user", "bot", "group",
 *                                             "channel" or "supergroup"
 *   plus three indexes on peers and a trigger that refreshes
 *   last_update_on on every update.
 *
 * Pyrogram stores no address: it takes the IPv4 address of the session's
 * DC from its built-in table (port 443, or 80 for the test DCs). Reading
 * does the same, so the session gets one DC entry with the key; a DC
 * Pyrogram does not know is refused. Not kept: the session date and
 * last_update_on.
 *
 * Writing builds Pyrogram's exact schema in memory and serialises it. The
 * home DC's key (an entry with a key first, then a general-purpose IPv4
 * one) is written; its address is not (Pyrogram has none). Peers get
 * last_update_on 0, so Pyrogram treats their usernames as expired and
 * resolves a username again once before trusting it (the age of a cached
 * username is unknown here). Usernames are lowercased and a leading '+'
 * of a phone is dropped, as Pyrogram stores them. A session with no home
 * DC is written as Pyrogram creates a new one: DC 2, no key.
 *
 * Thread-safety: no shared state.
 */
#include "sqlite_fmt.h"
#include "string_common.h"

#ifdef MTS_HAVE_SQLITE

#include <stdio.h>
#include <string.h>

#define NAME "pyrogram-sqlite"
#define PYROGRAM_VERSION 3

/* Pyrogram's schema: the same tables, columns, types, defaults, indexes
 * and trigger, in this file's own layout. */
static const char pg_schema[] =
    "CREATE TABLE sessions (dc_id INTEGER PRIMARY KEY, api_id INTEGER, "
    "test_mode INTEGER, auth_key BLOB, date INTEGER NOT NULL, "
    "user_id INTEGER, is_bot INTEGER);\n"
    "CREATE TABLE peers (id INTEGER PRIMARY KEY, access_hash INTEGER, "
    "type INTEGER NOT NULL, username TEXT, phone_number TEXT, "
    "last_update_on INTEGER NOT NULL "
    "DEFAULT (CAST(STRFTIME('%s', 'now') AS INTEGER)));\n"
    "CREATE TABLE version (number INTEGER PRIMARY KEY);\n"
    "CREATE INDEX idx_peers_id ON peers (id);\n"
    "CREATE INDEX idx_peers_username ON peers (username);\n"
    "CREATE INDEX idx_peers_phone_number ON peers (phone_number);\n"
    "CREATE TRIGGER trg_peers_last_update_on AFTER UPDATE ON peers BEGIN "
    "UPDATE peers SET last_update_on = "
    "CAST(STRFTIME('%s', 'now') AS INTEGER) WHERE id = NEW.id; END;\n";

static const char *const pg_types[] = { "user", "bot", "group", "channel",
                                        "supergroup" };

/* ---- reading ----------------------------------------------------------- */

#define bad(err, ...) mts__sql_bad(err, NAME, __VA_ARGS__)

/* Value of an INTEGER-or-NULL column: 1 present, 0 NULL, -1 other type. */
static int
col_int(sqlite3_stmt *st, int col, int64_t *v)
{
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_NULL:
        return 0;
    case SQLITE_INTEGER:
        *v = sqlite3_column_int64(st, col);
        return 1;
    default:
        return -1;
    }
}

static int
is_pyrogram(sqlite3 *db)
{
    return mts__sql_has_table(db, "sessions") &&
           mts__sql_has_table(db, "peers") &&
           mts__sql_has_table(db, "version") &&
           mts__sql_has_column(db, "sessions", "test_mode") &&
           mts__sql_has_column(db, "sessions", "is_bot") &&
           mts__sql_has_column(db, "peers", "access_hash");
}

/* The schema version, with the columns it implies. */
static int
pg_schema_check(sqlite3 *db, int *version, mts_error *err)
{
    static const char *const sessions[] = { "dc_id", "test_mode", "auth_key",
                                            "date", "user_id", "is_bot" };
    static const char *const peers[] = { "id", "access_hash", "type",
                                         "username", "phone_number" };
    sqlite3_stmt *st;
    int64_t v = 0;
    int rc, rows = 0;

    if (!is_pyrogram(db))
        return mts__err(err, MTS_EFORMAT,
                        NAME ": not a Pyrogram session (no sessions, peers "
                             "and version tables with Pyrogram's columns)");
    rc = sqlite3_prepare_v2(db, "SELECT number FROM version", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return mts__sql_read_err(db, rc, NAME, "version", err);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (++rows == 1 && col_int(st, 0, &v) != 1) {
            sqlite3_finalize(st);
            return bad(err, "version row 1: number is not an integer");
        }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return mts__sql_read_err(db, rc, NAME, "version", err);
    if (rows != 1)
        return bad(err, "version: %d rows, Pyrogram keeps exactly one", rows);
    if (v != 2 && v != 3)
        return mts__err(err, MTS_EVERSION,
                        NAME ": schema version %lld; versions 2 and 3 are "
                             "read",
                        (long long)v);
    for (size_t i = 0; i < MTS__ARRAY_LEN(sessions); i++)
        if (!mts__sql_has_column(db, "sessions", sessions[i]))
            return bad(err, "sessions: no column %s", sessions[i]);
    for (size_t i = 0; i < MTS__ARRAY_LEN(peers); i++)
        if (!mts__sql_has_column(db, "peers", peers[i]))
            return bad(err, "peers: no column %s", peers[i]);
    if (v == 3 && !mts__sql_has_column(db, "sessions", "api_id"))
        return bad(err, "version 3 file without sessions.api_id");
    *version = (int)v;
    return 0;
}

static int
pg_read_session(sqlite3 *db, mts_session *s, int has_api, mts_error *err)
{
    sqlite3_stmt *st;
    mts_dc dc = MTS_DC_INIT;
    int64_t dc_id = 0, api = 0, test = 0, uid = 0, isbot = 0;
    int has_test, has_uid, has_bot, has_api_v = 0, keytype, keylen = 0;
    int rc;
    rc = sqlite3_prepare_v2(db,
                            has_api ? "SELECT dc_id, test_mode, auth_key, "
                                      "user_id, is_bot, api_id FROM sessions"
                                    : "SELECT dc_id, test_mode, auth_key, "
                                      "user_id, is_bot, NULL FROM sessions",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return mts__sql_read_err(db, rc, NAME, "sessions", err);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        rc = rc == SQLITE_DONE
                 ? bad(err, "sessions: no row (Pyrogram keeps exactly one)")
                 : mts__sql_read_err(db, rc, NAME, "sessions", err);
        goto out;
    }
    if (col_int(st, 0, &dc_id) != 1 || dc_id < 1 || dc_id > INT32_MAX) {
        rc = bad(err, "sessions row 1: dc_id is not a DC id");
        goto out;
    }
    has_test = col_int(st, 1, &test);
    if (has_test < 0 || (has_test && test != 0 && test != 1)) {
        rc = bad(err, "sessions row 1: test_mode is not 0, 1 or NULL");
        goto out;
    }
    keytype = sqlite3_column_type(st, 2);
    if (keytype == SQLITE_BLOB)
        keylen = sqlite3_column_bytes(st, 2);
    if ((keytype != SQLITE_BLOB && keytype != SQLITE_NULL) ||
        (keytype == SQLITE_BLOB && keylen != MTS_AUTH_KEY_SIZE)) {
        rc = bad(err, "sessions row 1: auth_key is not NULL or %d bytes",
                 MTS_AUTH_KEY_SIZE);
        goto out;
    }
    has_uid = col_int(st, 3, &uid);
    if (has_uid == 1 && uid == 0)
        has_uid = 0; /* 0 means none, as in Pyrogram's strings */
    if (has_uid < 0 || (has_uid && uid < 0)) {
        rc = bad(err, "sessions row 1: user_id is not a user id or NULL");
        goto out;
    }
    has_bot = col_int(st, 4, &isbot);
    if (has_bot < 0 || (has_bot && isbot != 0 && isbot != 1)) {
        rc = bad(err, "sessions row 1: is_bot is not 0, 1 or NULL");
        goto out;
    }
    if (has_api) {
        has_api_v = col_int(st, 5, &api);
        if (has_api_v == 1 && api == 0)
            has_api_v = 0;
        if (has_api_v < 0 || (has_api_v && (api < INT32_MIN ||
                                            api > INT32_MAX))) {
            rc = bad(err, "sessions row 1: api_id is not a 32-bit integer "
                          "or NULL");
            goto out;
        }
    }
    dc.dc_id = (int32_t)dc_id;
    if (mts__pyrogram_address(&dc.ip, &dc.port, dc.dc_id, (int)test) != 0) {
        rc = bad(err, "sessions row 1: dc_id %lld is not a %s DC Pyrogram "
                      "knows",
                 (long long)dc_id, test ? "test" : "production");
        goto out;
    }
    if (keylen == MTS_AUTH_KEY_SIZE) {
        dc.auth_key = sqlite3_column_blob(st, 2);
        if (mts__key_is_zero(dc.auth_key)) {
            rc = bad(err, "sessions row 1: auth_key is all zeros");
            goto out;
        }
    }
    mts_session_set_home_dc(s, dc.dc_id);
    mts_session_set_test_mode(s, (int)test);
    if (has_api_v)
        mts_session_set_api_id(s, 1, (int32_t)api);
    if (has_uid && mts_session_set_user(s, uid, (int)isbot) != 0) {
        rc = bad(err, "sessions row 1: user_id refused");
        goto out;
    }
    if ((rc = mts__put_dc(s, &dc, err)) != 0)
        goto out;
    /* Only now: stepping on invalidates the key blob read above. */
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = bad(err, "sessions: more than one row (Pyrogram keeps one)");
out:
    sqlite3_finalize(st);
    return rc;
}

static int
pg_read_peers(sqlite3 *db, mts_session *s, mts_error *err)
{
    sqlite3_stmt *st;
    int rc;
    long row = 0;
    rc = sqlite3_prepare_v2(db,
                            "SELECT id, access_hash, type, username, "
                            "phone_number FROM peers ORDER BY id",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return mts__sql_read_err(db, rc, NAME, "peers", err);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        mts_peer p = MTS_PEER_INIT;
        mts_error perr = MTS_ERROR_INIT;
        mts_peer_kind want;
        int64_t marked = 0;
        const char *type;
        char phone[24];
        size_t t;
        row++;
        if (col_int(st, 0, &marked) != 1 ||
            mts__unmark_id(marked, &p.kind, &p.id) != 0) {
            rc = bad(err, "peers row %ld: id is not a marked peer id", row);
            goto out;
        }
        if (col_int(st, 1, &p.access_hash) < 0) {
            rc = bad(err, "peers row %ld (id %lld): access_hash is not an "
                          "integer",
                     row, (long long)marked);
            goto out;
        }
        if (mts__sql_col_text(st, 2, &type) != 0 || type == NULL)
            type = "";
        for (t = 0; t < MTS__ARRAY_LEN(pg_types); t++)
            if (strcmp(type, pg_types[t]) == 0)
                break;
        if (t == MTS__ARRAY_LEN(pg_types)) {
            rc = bad(err, "peers row %ld (id %lld): type is not user, bot, "
                          "group, channel or supergroup",
                     row, (long long)marked);
            goto out;
        }
        want = t < 2 ? MTS_PEER_USER
                     : (t == 2 ? MTS_PEER_CHAT : MTS_PEER_CHANNEL);
        if (want != p.kind) {
            rc = bad(err, "peers row %ld (id %lld): the id does not mark a "
                          "%s",
                     row, (long long)marked, pg_types[t]);
            goto out;
        }
        p.bot = t == 1;
        if (t == 3)
            p.channel_kind = MTS_CHANNEL_BROADCAST;
        if (t == 4)
            p.channel_kind = MTS_CHANNEL_MEGAGROUP;
        if (mts__sql_col_text(st, 3, &p.username) != 0) {
            rc = bad(err, "peers row %ld (id %lld): username is not text",
                     row, (long long)marked);
            goto out;
        }
        if (mts__sql_col_phone(st, 4, phone, sizeof(phone), &p.phone) != 0) {
            rc = bad(err, "peers row %ld (id %lld): phone_number is not "
                          "text",
                     row, (long long)marked);
            goto out;
        }
        if ((rc = mts_session_put_peer(s, &p, &perr)) != 0) {
            rc = rc == MTS_ENOMEM
                     ? mts__err_oom(err)
                     : bad(err, "peers row %ld (id %lld): %s", row,
                           (long long)marked, perr.message);
            goto out;
        }
    }
    rc = rc == SQLITE_DONE ? 0 : mts__sql_read_err(db, rc, NAME, "peers",
                                                   err);
out:
    sqlite3_finalize(st);
    return rc;
}

static int
pg_decode(mts_session **out, const uint8_t *data, size_t len, mts_error *err)
{
    mts__sqlin in;
    mts_session *s = NULL;
    int version = 0;
    int rc = mts__sql_open(&in, data, len, NAME, err);
    if (rc != 0)
        return rc;
    if ((rc = pg_schema_check(in.db, &version, err)) != 0)
        goto out;
    if (mts_session_new(&s, MTS_NEW_EMPTY) != 0) {
        rc = mts__err_oom(err);
        goto out;
    }
    if ((rc = pg_read_session(in.db, s,
                              mts__sql_has_column(in.db, "sessions",
                                                  "api_id"),
                              err)) != 0 ||
        (rc = pg_read_peers(in.db, s, err)) != 0)
        goto out;
    *out = s;
    s = NULL;
out:
    mts_session_free(s);
    mts__sql_close(&in);
    return rc;
}

static int
pg_probe(const uint8_t *data, size_t len)
{
    mts__sqlin in;
    int yes;
    int rc = mts__sql_open_probe(&in, data, len);
    if (rc != 0)
        return rc == MTS_ENOMEM ? rc : 0;
    yes = is_pyrogram(in.db);
    mts__sql_close(&in);
    return yes;
}

/* ---- writing ----------------------------------------------------------- */

static int
pg_write_session(sqlite3 *db, const mts_session *s, int *wrote_dc,
                 mts_dc *chosen, mts_error *err)
{
    sqlite3_stmt *st;
    int32_t api;
    int64_t uid;
    int bot, rc;
    rc = sqlite3_prepare_v2(db,
                            "INSERT INTO sessions VALUES (?1, ?2, ?3, ?4, 0, "
                            "?5, ?6)",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return mts__sql_write_err(db, rc, NAME, "sessions", err);
    *wrote_dc = mts_session_home_dc(s) != 0 && mts__pick_home_dc(chosen, s) == 0;
    sqlite3_bind_int(st, 1, mts_session_home_dc(s) != 0
                                ? mts_session_home_dc(s)
                                : 2);
    if (mts_session_api_id(s, &api) == 0)
        sqlite3_bind_int(st, 2, api);
    sqlite3_bind_int(st, 3, mts_session_test_mode(s) != 0);
    if (*wrote_dc && chosen->auth_key != NULL)
        sqlite3_bind_blob(st, 4, chosen->auth_key, MTS_AUTH_KEY_SIZE,
                          SQLITE_STATIC);
    if (mts_session_user(s, &uid, &bot) == 0) {
        sqlite3_bind_int64(st, 5, uid);
        sqlite3_bind_int(st, 6, bot != 0);
    }
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0
                             : mts__sql_write_err(db, rc, NAME, "sessions",
                                                  err);
}

static const char *
pg_type_of(const mts_peer *p)
{
    switch (p->kind) {
    case MTS_PEER_USER:
        return p->bot ? "bot" : "user";
    case MTS_PEER_CHAT:
        return "group";
    case MTS_PEER_CHANNEL:
    default:
        return p->channel_kind == MTS_CHANNEL_MEGAGROUP ||
                       p->channel_kind == MTS_CHANNEL_GIGAGROUP
                   ? "supergroup"
                   : "channel";
    }
}

static int
pg_write_peers(sqlite3 *db, const mts_session *s, mts_error *err)
{
    sqlite3_stmt *st;
    size_t *order = NULL;
    int rc;
    if (mts__peer_order(&order, s) != 0)
        return mts__err_oom(err);
    rc = sqlite3_prepare_v2(db,
                            "INSERT INTO peers VALUES (?1, ?2, ?3, ?4, ?5, "
                            "0)",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) {
        mts_free(order);
        return mts__sql_write_err(db, rc, NAME, "peers", err);
    }
    rc = 0;
    for (size_t i = 0; i < mts_session_peer_count(s) && rc == 0; i++) {
        mts_peer p;
        int64_t marked;
        char user[MTS_PEER_STRING_MAX + 1];
        mts_session_peer_at(&p, s, order[i]);
        if ((rc = mts__mark_id(p.kind, p.id, &marked, NAME, err)) != 0)
            break;
        sqlite3_bind_int64(st, 1, marked);
        sqlite3_bind_int64(st, 2, p.access_hash);
        sqlite3_bind_text(st, 3, pg_type_of(&p), -1, SQLITE_STATIC);
        if (p.username != NULL) {
            mts__sql_lower_ascii(user, p.username, sizeof(user));
            sqlite3_bind_text(st, 4, user, -1, SQLITE_TRANSIENT);
        }
        if (p.phone != NULL && p.phone[p.phone[0] == '+'] != '\0')
            sqlite3_bind_text(st, 5, p.phone + (p.phone[0] == '+'), -1,
                              SQLITE_STATIC);
        rc = mts__sql_step_done(db, st, NAME, "peers", err);
    }
    sqlite3_finalize(st);
    mts_free(order);
    return rc;
}

static void
pg_warn(const mts_session *s, int wrote_dc, const mts_dc *dc,
        mts_warn_fn warn, void *payload)
{
    size_t others = mts_session_dc_count(s) - (wrote_dc ? 1 : 0);
    size_t unknown = 0, giga = 0, communities = 0;
    mts_update_state u;
    const uint8_t *tok;
    size_t toklen;
    for (size_t i = 0; i < mts_session_peer_count(s); i++) {
        mts_peer p;
        mts_session_peer_at(&p, s, i);
        if (p.kind == MTS_PEER_CHANNEL &&
            p.channel_kind == MTS_CHANNEL_UNKNOWN)
            unknown++;
        if (p.channel_kind == MTS_CHANNEL_GIGAGROUP)
            giga++;
        if (p.community)
            communities++;
    }
    if (others)
        mts__warn(warn, payload, "DC entries other than the home DC's (%zu)",
                  others);
    if (wrote_dc) {
        mts_ip ip;
        uint16_t port;
        if (mts__pyrogram_address(&ip, &port, dc->dc_id,
                                  mts_session_test_mode(s)) != 0 ||
            ip.family != dc->ip.family ||
            memcmp(ip.bytes, dc->ip.bytes, 16) != 0 || port != dc->port)
            mts__warn(warn, payload, "home DC address (Pyrogram uses its "
                                     "built-in one)");
        if (dc->server_salt != 0)
            mts__warn(warn, payload, "server salt");
        if (dc->time_offset != 0)
            mts__warn(warn, payload, "time offset");
    }
    mts_session_update_state(s, &u);
    if (u.pts || u.qts || u.date || u.seq)
        mts__warn(warn, payload, "update state");
    if (mts_session_channel_count(s))
        mts__warn(warn, payload, "channel pts (%zu)",
                  mts_session_channel_count(s));
    if (mts_session_min_peer_count(s))
        mts__warn(warn, payload, "min peers (%zu)",
                  mts_session_min_peer_count(s));
    if (mts_session_future_auth_token(s, &tok, &toklen) == 0)
        mts__warn(warn, payload, "future auth token");
    if (unknown)
        mts__warn(warn, payload, "unknown channel kinds, written as channel "
                                 "(%zu)",
                  unknown);
    if (giga)
        mts__warn(warn, payload, "gigagroup kinds, written as supergroup "
                                 "(%zu)",
                  giga);
    if (communities)
        mts__warn(warn, payload, "community flags (%zu)", communities);
}

static int
pg_encode(uint8_t **out, size_t *out_len, const mts_session *s,
          const mts_format_options *opts, mts_warn_fn warn, void *payload,
          mts_error *err)
{
    sqlite3 *db = NULL;
    mts_dc chosen;
    int wrote_dc = 0, rc;
    char sql[64];
    (void)opts;
    if (mts_session_home_dc(s) != 0) {
        mts_ip ip;
        uint16_t port;
        if (mts__pyrogram_address(&ip, &port, mts_session_home_dc(s),
                                  mts_session_test_mode(s)) != 0)
            return mts__err(err, MTS_ELIMIT,
                            NAME ": Pyrogram has no address for %s DC %d",
                            mts_session_test_mode(s) ? "test" : "production",
                            (int)mts_session_home_dc(s));
    }
    if ((rc = mts__sql_new(&db, NAME, err)) != 0)
        return rc;
    snprintf(sql, sizeof(sql), "INSERT INTO version VALUES (%d)",
             PYROGRAM_VERSION);
    if ((rc = mts__sql_exec(db, pg_schema, NAME, err)) != 0 ||
        (rc = mts__sql_exec(db, "BEGIN", NAME, err)) != 0 ||
        (rc = mts__sql_exec(db, sql, NAME, err)) != 0 ||
        (rc = pg_write_session(db, s, &wrote_dc, &chosen, err)) != 0 ||
        (rc = pg_write_peers(db, s, err)) != 0 ||
        (rc = mts__sql_exec(db, "COMMIT", NAME, err)) != 0)
        goto out;
    rc = mts__sql_serialize(out, out_len, db, NAME, err);
    if (rc == 0)
        pg_warn(s, wrote_dc, &chosen, warn, payload);
out:
    sqlite3_close(db);
    return rc;
}

const mts__format_ops mts__fmt_pyrogram_sqlite = {
    MTS_FORMAT_PYROGRAM_SQLITE, MTS_FORMAT_CAN_READ | MTS_FORMAT_CAN_WRITE,
    pg_probe, pg_decode, pg_encode
};

#else /* !MTS_HAVE_SQLITE */

const mts__format_ops mts__fmt_pyrogram_sqlite = {
    MTS_FORMAT_PYROGRAM_SQLITE, 0, NULL, NULL, NULL
};

#endif /* MTS_HAVE_SQLITE */
