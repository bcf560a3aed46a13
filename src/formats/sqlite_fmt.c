/*
 * sqlite_fmt.c - helpers of the SQLite-based foreign formats (see
 * sqlite_fmt.h): private read-only opening of a file's bytes, schema
 * checks, in-memory building and serialisation, marked ids.
 *
 * Reading: the bytes are copied into memory from mts_malloc (so the copy
 * can be wiped: it holds auth keys) and attached with sqlite3_deserialize
 * and SQLITE_DESERIALIZE_READONLY to a connection of its own, with
 * defensive mode on and views and triggers off, so a hostile file can
 * neither be changed nor run code through its schema. A file in WAL mode
 * is read as a rollback-journal file (only the main file's bytes exist
 * here). SQLite's own page cache uses SQLite's allocator and is not wiped.
 *
 * Thread-safety: every call uses its own connection; no shared state.
 */
#include "sqlite_fmt.h"

#ifdef MTS_HAVE_SQLITE

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SQLITE_HEADER "SQLite format 3"
#define CHANNEL_MARK 1000000000000LL

int
mts__sql_is_sqlite(const uint8_t *data, size_t len)
{
    return len >= 100 && memcmp(data, SQLITE_HEADER, 16) == 0;
}

static void
sql_config(sqlite3 *db, int readonly)
{
    sqlite3_extended_result_codes(db, 1);
#ifdef SQLITE_DBCONFIG_DEFENSIVE
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
#endif
#ifdef SQLITE_DBCONFIG_TRUSTED_SCHEMA
    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
#endif
    if (readonly) {
#ifdef SQLITE_DBCONFIG_ENABLE_VIEW
        sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_VIEW, 0, (int *)NULL);
#endif
        sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, (int *)NULL);
    }
}

/* SQLite's failure rc as `code` (MTS_ENOMEM when it ran out of memory),
 * with its message after "name: where: ". */
static int
sql_err(sqlite3 *db, int rc, int code, const char *name, const char *where,
        mts_error *err)
{
    if ((rc & 0xff) == SQLITE_NOMEM)
        code = MTS_ENOMEM;
    if (err == NULL)
        return code;
    mts__err_native(err, code, rc, "%s: %s: %s", name, where,
                    db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    return code;
}

int
mts__sql_read_err(sqlite3 *db, int rc, const char *name, const char *where,
                  mts_error *err)
{
    return sql_err(db, rc, MTS_ECORRUPT, name, where, err);
}

int
mts__sql_write_err(sqlite3 *db, int rc, const char *name, const char *where,
                   mts_error *err)
{
    return sql_err(db, rc, MTS_EBACKEND, name, where, err);
}

int
mts__sql_bad(mts_error *err, const char *name, const char *fmt, ...)
{
    char msg[MTS_ERROR_MESSAGE_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return mts__err(err, MTS_ECORRUPT, "%s: %s", name, msg);
}

int
mts__sql_col_text(sqlite3_stmt *st, int col, const char **v)
{
    const char *t;
    int n;
    *v = NULL;
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return 0;
    if (sqlite3_column_type(st, col) != SQLITE_TEXT)
        return -1;
    t = (const char *)sqlite3_column_text(st, col);
    n = sqlite3_column_bytes(st, col);
    if (t == NULL || strlen(t) != (size_t)n)
        return -1;
    if (n > 0)
        *v = t;
    return 0;
}

int
mts__sql_col_phone(sqlite3_stmt *st, int col, char *buf, size_t size,
                   const char **v)
{
    if (sqlite3_column_type(st, col) == SQLITE_INTEGER) {
        snprintf(buf, size, "%lld", (long long)sqlite3_column_int64(st, col));
        *v = buf;
        return 0;
    }
    return mts__sql_col_text(st, col, v);
}

int
mts__sql_step_done(sqlite3 *db, sqlite3_stmt *st, const char *name,
                   const char *where, mts_error *err)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return mts__sql_write_err(db, rc, name, where, err);
    return 0;
}

void
mts__sql_lower_ascii(char *dst, const char *src, size_t size)
{
    size_t i;
    for (i = 0; i + 1 < size && src[i] != '\0'; i++)
        dst[i] = (src[i] >= 'A' && src[i] <= 'Z') ? (char)(src[i] + 32)
                                                  : src[i];
    dst[i] = '\0';
}

void
mts__sql_close(mts__sqlin *in)
{
    if (in->db != NULL)
        sqlite3_close(in->db);
    if (in->copy != NULL) {
        mts__wipe(in->copy, in->len);
        mts_free(in->copy);
    }
    memset(in, 0, sizeof(*in));
}

int
mts__sql_open(mts__sqlin *in, const uint8_t *data, size_t len,
              const char *name, mts_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(in, 0, sizeof(*in));
    if (!mts__sql_is_sqlite(data, len))
        return mts__err_at(err, MTS_EFORMAT, 0,
                           "%s: not an SQLite database (no SQLite header)",
                           name);
    if ((uint64_t)len > (uint64_t)INT64_MAX / 2)
        return mts__err(err, MTS_ELIMIT, "%s: input too large", name);
    in->copy = mts_malloc(len);
    if (in->copy == NULL)
        return mts__err_oom(err);
    memcpy(in->copy, data, len);
    in->len = len;
    /* Bytes 18 and 19 are the write and read versions: 2 means WAL, which
     * an in-memory database cannot use; read it as a journal file. */
    if (in->copy[18] == 2 && in->copy[19] == 2)
        in->copy[18] = in->copy[19] = 1;
    rc = sqlite3_open_v2(":memory:", &in->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                             SQLITE_OPEN_PRIVATECACHE,
                         NULL);
    if (rc != SQLITE_OK) {
        rc = mts__sql_write_err(in->db, rc, name, "open", err);
        mts__sql_close(in);
        return rc;
    }
    sql_config(in->db, 1);
    rc = sqlite3_deserialize(in->db, "main", in->copy, (sqlite3_int64)len,
                             (sqlite3_int64)len, SQLITE_DESERIALIZE_READONLY);
    if (rc != SQLITE_OK)
        goto fail;
    /* A damaged file fails here rather than half way through a read. */
    rc = sqlite3_prepare_v2(in->db, "PRAGMA quick_check(1)", -1, &st, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        goto fail;
    if (sqlite3_column_type(st, 0) != SQLITE_TEXT ||
        strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
        const unsigned char *what = sqlite3_column_text(st, 0);
        mts__err_native(err, MTS_ECORRUPT, SQLITE_CORRUPT,
                        "%s: the SQLite database is damaged: %s", name,
                        what != NULL ? (const char *)what : "?");
        sqlite3_finalize(st);
        mts__sql_close(in);
        return MTS_ECORRUPT;
    }
    sqlite3_finalize(st);
    return 0;
fail:
    rc = mts__sql_read_err(in->db, rc, name, "reading the database", err);
    sqlite3_finalize(st);
    mts__sql_close(in);
    return rc;
}

int
mts__sql_open_probe(mts__sqlin *in, const uint8_t *data, size_t len)
{
    unsigned char *bytes;
    int rc;
    memset(in, 0, sizeof(*in));
    if (!mts__sql_is_sqlite(data, len) ||
        (uint64_t)len > (uint64_t)INT64_MAX / 2)
        return -1;
    if (data[18] == 2 && data[19] == 2) {
        /* WAL mode: the header must be changed, so in a copy. */
        in->copy = mts_malloc(len);
        if (in->copy == NULL)
            return MTS_ENOMEM;
        memcpy(in->copy, data, len);
        in->len = len;
        in->copy[18] = in->copy[19] = 1;
        bytes = in->copy;
    } else {
        /* Read-only: SQLite never writes through this pointer. */
        bytes = (unsigned char *)(uintptr_t)data;
    }
    rc = sqlite3_open_v2(":memory:", &in->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                             SQLITE_OPEN_PRIVATECACHE,
                         NULL);
    if (rc != SQLITE_OK)
        goto fail;
    sql_config(in->db, 1);
    rc = sqlite3_deserialize(in->db, "main", bytes, (sqlite3_int64)len,
                             (sqlite3_int64)len, SQLITE_DESERIALIZE_READONLY);
    if (rc != SQLITE_OK)
        goto fail;
    return 0;
fail:
    mts__sql_close(in);
    return (rc & 0xff) == SQLITE_NOMEM ? MTS_ENOMEM : -1;
}

int
mts__sql_has_table(sqlite3 *db, const char *table)
{
    sqlite3_stmt *st;
    int found = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT 1 FROM sqlite_master WHERE type = 'table' "
                           "AND name = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

int
mts__sql_has_column(sqlite3 *db, const char *table, const char *column)
{
    sqlite3_stmt *st;
    int found = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT 1 FROM pragma_table_info(?1) WHERE name = "
                           "?2",
                           -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
    found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

int
mts__sql_new(sqlite3 **db, const char *name, mts_error *err)
{
    int rc = sqlite3_open_v2(":memory:", db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                 SQLITE_OPEN_PRIVATECACHE,
                             NULL);
    if (rc != SQLITE_OK) {
        rc = mts__sql_write_err(*db, rc, name, "open", err);
        sqlite3_close(*db);
        *db = NULL;
        return rc;
    }
    sql_config(*db, 0);
    return 0;
}

int
mts__sql_exec(sqlite3 *db, const char *sql, const char *name, mts_error *err)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return mts__sql_write_err(db, rc, name, "building the database", err);
    return 0;
}

int
mts__sql_serialize(uint8_t **out, size_t *out_len, sqlite3 *db,
                   const char *name, mts_error *err)
{
    sqlite3_int64 n = 0;
    unsigned char *bytes = sqlite3_serialize(db, "main", &n, 0);
    uint8_t *p;
    if (bytes == NULL || n <= 0) {
        sqlite3_free(bytes);
        return mts__err(err, MTS_ENOMEM, "%s: serialising the database "
                                         "failed",
                        name);
    }
    p = mts_malloc((size_t)n);
    if (p != NULL)
        memcpy(p, bytes, (size_t)n);
    mts__wipe(bytes, (size_t)n);
    sqlite3_free(bytes);
    if (p == NULL)
        return mts__err_oom(err);
    *out = p;
    *out_len = (size_t)n;
    return 0;
}

int
mts__unmark_id(int64_t marked, mts_peer_kind *kind, int64_t *id)
{
    if (marked > 0) {
        *kind = MTS_PEER_USER;
        *id = marked;
        return 0;
    }
    if (marked == 0 || marked == INT64_MIN)
        return -1;
    if (-marked > CHANNEL_MARK) {
        *kind = MTS_PEER_CHANNEL;
        *id = -marked - CHANNEL_MARK;
        return 0;
    }
    *kind = MTS_PEER_CHAT;
    *id = -marked;
    return 0;
}

int
mts__mark_id(mts_peer_kind kind, int64_t id, int64_t *marked,
             const char *name, mts_error *err)
{
    switch (kind) {
    case MTS_PEER_USER:
        *marked = id;
        return 0;
    case MTS_PEER_CHAT:
        if (id > CHANNEL_MARK)
            break;
        *marked = -id;
        return 0;
    case MTS_PEER_CHANNEL:
    default:
        if (id > INT64_MAX - CHANNEL_MARK)
            break;
        *marked = -(id + CHANNEL_MARK);
        return 0;
    }
    return mts__err(err, MTS_ELIMIT,
                    "%s: peer id %lld cannot be written as a marked id", name,
                    (long long)id);
}

int
mts__pick_home_dc(mts_dc *out, const mts_session *s)
{
    int best = -1;
    int32_t home = mts_session_home_dc(s);
    for (size_t i = 0; i < mts_session_dc_count(s); i++) {
        mts_dc dc;
        int score = 0;
        if (mts_session_dc_at(&dc, s, i) != 0 || dc.dc_id != home)
            continue;
        if (dc.auth_key != NULL)
            score += 4;
        if (!(dc.flags & (MTS_DC_MEDIA_ONLY | MTS_DC_CDN)))
            score += 2;
        if (dc.ip.family == 4)
            score += 1;
        if (score > best) {
            best = score;
            *out = dc;
        }
    }
    return best >= 0 ? 0 : MTS_ENOTFOUND;
}

#else
/* Nothing without SQLite; ISO C wants at least one declaration. */
typedef int mts__sqlite_fmt_unused;
#endif /* MTS_HAVE_SQLITE */
