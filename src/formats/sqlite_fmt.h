/*
 * sqlite_fmt.h - what the SQLite-based formats of other libraries
 * (telethon_sqlite.c, pyrogram_sqlite.c) share: opening a file's bytes as
 * a private read-only in-memory database, inspecting its schema, and
 * building a database in memory to hand out as bytes. Never installed;
 * compiled only with MTS_HAVE_SQLITE.
 */
#ifndef MTSESSION_SQLITE_FMT_H
#define MTSESSION_SQLITE_FMT_H

#include "internal.h"

#ifdef MTS_HAVE_SQLITE
#include <sqlite3.h>

/* A decoded input: the database and the private copy it reads from. */
typedef struct mts__sqlin {
    sqlite3 *db;
    uint8_t *copy;
    size_t len;
} mts__sqlin;

/* 1 when data starts with the 100-byte SQLite header, else 0. */
int mts__sql_is_sqlite(const uint8_t *data, size_t len);

/*
 * Open a private copy of `data` read-only (SQLITE_DESERIALIZE_READONLY),
 * defensive, with views and triggers off. The input is never written.
 * Returns 0, MTS_EFORMAT (not an SQLite database), MTS_ECORRUPT (SQLite
 * cannot read it, or its quick_check fails) or MTS_ENOMEM. `name` prefixes
 * the messages ("telethon-sqlite").
 */
int mts__sql_open(mts__sqlin *in, const uint8_t *data, size_t len,
                  const char *name, mts_error *err);
/*
 * The same for a probe: the input itself is attached read-only (a copy is
 * made only for a WAL-mode header), no integrity check runs, and no
 * memory comes from this library's allocator but that copy. 0, -1 (not a
 * database SQLite opens), or MTS_ENOMEM.
 */
int mts__sql_open_probe(mts__sqlin *in, const uint8_t *data, size_t len);
/* Close the database, wipe and free the copy. Accepts a closed one. */
void mts__sql_close(mts__sqlin *in);

/* 1 when `table` is a table (not a view) of the main schema. */
int mts__sql_has_table(sqlite3 *db, const char *table);
/* 1 when `table` has a column named `column`. */
int mts__sql_has_column(sqlite3 *db, const char *table, const char *column);

/* Map an SQLite result code of a read to MTS_ENOMEM or MTS_ECORRUPT, with
 * "name: where: sqlite message" as the message and the native code. */
int mts__sql_read_err(sqlite3 *db, int rc, const char *name,
                      const char *where, mts_error *err);
/* MTS_ECORRUPT with "name: " and the formatted message. */
int mts__sql_bad(mts_error *err, const char *name, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* A TEXT-or-NULL column without embedded NULs: 0 with *v the text, or
 * NULL for SQL NULL and ''; -1 for any other type or an embedded NUL. */
int mts__sql_col_text(sqlite3_stmt *st, int col, const char **v);
/* A phone column, an INTEGER (formatted into buf, which *v then points
 * to) or as mts__sql_col_text. 0 or -1. */
int mts__sql_col_phone(sqlite3_stmt *st, int col, char *buf, size_t size,
                       const char **v);

/* Open an empty in-memory database to build a file in. */
int mts__sql_new(sqlite3 **db, const char *name, mts_error *err);
/* Run statements without results. MTS_ENOMEM or MTS_EBACKEND on error. */
int mts__sql_exec(sqlite3 *db, const char *sql, const char *name,
                  mts_error *err);
/* Map an SQLite result code of a write to MTS_ENOMEM or MTS_EBACKEND. */
int mts__sql_write_err(sqlite3 *db, int rc, const char *name,
                       const char *where, mts_error *err);
/* Step a prepared insert once, then reset it and clear its bindings for
 * the next row. 0, or as mts__sql_write_err when the step is not DONE. */
int mts__sql_step_done(sqlite3 *db, sqlite3_stmt *st, const char *name,
                       const char *where, mts_error *err);
/* A username as Telethon and Pyrogram store it: ASCII lowercase, cut to
 * size - 1 bytes and NUL-terminated. */
void mts__sql_lower_ascii(char *dst, const char *src, size_t size);
/* The database's bytes in memory from mts_malloc (the SQLite copy is
 * wiped); the caller frees *out. 0, MTS_ENOMEM or MTS_EBACKEND. */
int mts__sql_serialize(uint8_t **out, size_t *out_len, sqlite3 *db,
                       const char *name, mts_error *err);

/* Unmark a bot-API style ("marked") id as Telethon and Pyrogram do: > 0
 * a user, -1..-1000000000000 the chat -id, below that the channel
 * -(id + 1000000000000). 0 with kind and bare id, or -1 for 0 and
 * INT64_MIN, which have no reading. */
int mts__unmark_id(int64_t marked, mts_peer_kind *kind, int64_t *id);
/* The inverse: MTS_ELIMIT ("name: peer id ... cannot be written as a
 * marked id") when a chat id above 1000000000000 or a channel id too
 * large for the mark would not read back as itself. */
int mts__mark_id(mts_peer_kind kind, int64_t id, int64_t *marked,
                 const char *name, mts_error *err);

/* The DC entry to keep where a format holds one per session: for the home
 * DC, an entry with a key first, then not media-only/CDN, then IPv4.
 * 0, or MTS_ENOTFOUND when the home DC has no entry. */
int mts__pick_home_dc(mts_dc *out, const mts_session *s);

#endif /* MTS_HAVE_SQLITE */
#endif /* MTSESSION_SQLITE_FMT_H */
