/*
 * sql_schema.h - the SQL schema shared by the SQLite and libSQL backends.
 *
 * One place holds every piece of SQL text the two backends run: the DDL of
 * each schema version, the migrations between versions, and one statement
 * per store operation. Every statement is a single SQL statement with
 * positional `?` parameters (no numbered or named ones, no parameter used
 * twice), so the same text works as an sqlite3 prepared statement and as a
 * Hrana `stmt` with an `args` array. Parameter and column orders are fixed
 * per statement and listed beside it in sql_schema.c.
 *
 * Values cross this interface as mts__sqlv (null, integer, text, blob),
 * which the SQLite backend maps to sqlite3_bind_* / sqlite3_column_* and
 * the libSQL backend to Hrana JSON values. The row<->model helpers below
 * never touch an engine:
 *
 * - model -> SQL: the mts__sql_emit_* functions produce the exact sequence
 *   of (statement, parameters) one store operation needs. A backend runs
 *   the sequence inside one write transaction (BEGIN IMMEDIATE ... COMMIT,
 *   ROLLBACK on any failure), step by step or as one Hrana batch.
 * - SQL -> model: the mts__sql_*_from_row functions check one result row
 *   against the model and add it to a session. A row the model does not
 *   allow is MTS_ECORRUPT naming the table, the row's key and the column;
 *   nothing is ever dropped silently.
 *
 * Schema version: PRAGMA user_version, with PRAGMA application_id marking
 * the database as mtsession's (docs/SQL.md). mts__sql_schema_check decides
 * what to do with a database from those two numbers.
 *
 * Everything here is constant data or pure functions: thread-safe.
 */
#ifndef MTSESSION_SQL_SCHEMA_H
#define MTSESSION_SQL_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* The schema version this library writes (PRAGMA user_version). */
#define MTS__SQL_SCHEMA_VERSION 1
/* PRAGMA application_id of an mtsession database: "MTSS" (0x4D545353). */
#define MTS__SQL_APPLICATION_ID 1297371987
/* Longest session name, in bytes. */
#define MTS__SQL_NAME_MAX 255
/* The session name used when the caller passes NULL. */
#define MTS__SQL_DEFAULT_NAME "default"
/* Buffer size for a DC address in text form (mts_ip_format). */
#define MTS__SQL_IP_TEXT_SIZE 64

/* ---- values ------------------------------------------------------------ */

typedef enum mts__sql_type {
    MTS__SQL_NULL = 0,
    MTS__SQL_INT = 1,
    MTS__SQL_TEXT = 2,
    MTS__SQL_BLOB = 3,
    MTS__SQL_REAL = 4 /* only ever read; never a valid column of ours */
} mts__sql_type;

/*
 * One parameter or one column value. Borrowed: p points into the caller's
 * data (a parameter) or the engine's row buffer (a column) and is valid
 * only as long as that is. TEXT need not be NUL-terminated; n is its
 * length in bytes. A zero-length BLOB may have p == NULL.
 */
typedef struct mts__sqlv {
    mts__sql_type type;
    int64_t i;     /* MTS__SQL_INT */
    const void *p; /* MTS__SQL_TEXT, MTS__SQL_BLOB */
    size_t n;      /* MTS__SQL_TEXT, MTS__SQL_BLOB */
} mts__sqlv;

/* ---- statements -------------------------------------------------------- */

/*
 * Every statement the backends run. The text is mts__sql_text[id]; the
 * number of `?` parameters is mts__sql_nparams[id]. "(...)" after a name
 * lists the parameters, "-> ..." the result columns.
 */
typedef enum mts__sql_stmt {
    /* transactions */
    MTS__SQL_BEGIN_READ = 0, /* BEGIN (deferred: a read snapshot) */
    MTS__SQL_BEGIN_WRITE,    /* BEGIN IMMEDIATE */
    MTS__SQL_COMMIT,
    MTS__SQL_ROLLBACK,
    /* schema identification */
    MTS__SQL_GET_APPLICATION_ID, /* -> application_id */
    MTS__SQL_GET_USER_VERSION,   /* -> user_version */
    MTS__SQL_COUNT_OBJECTS,      /* -> number of rows in sqlite_master */
    /* sessions */
    MTS__SQL_SESSION_GET,      /* (name) -> MTS__SQL_SESSION_COL_* */
    MTS__SQL_SESSION_LIST,     /* () -> name, in name order */
    MTS__SQL_SESSION_ENSURE,   /* (name): create an empty session if absent */
    MTS__SQL_SESSION_PUT,      /* (name, home_dc, test_mode, api_id, user_id,
                                  user_is_bot, future_token, pts, qts, date,
                                  seq): upsert every column */
    MTS__SQL_SESSION_SET_HOME, /* (name, home_dc): upsert */
    MTS__SQL_SESSION_SET_PRIMARY,   /* (name, pts, date, seq): upsert */
    MTS__SQL_SESSION_SET_SECONDARY, /* (name, qts): upsert */
    MTS__SQL_SESSION_SET_STATE,     /* (name, pts, qts, date, seq): upsert */
    MTS__SQL_SESSION_DEL,           /* (name) */
    /* DC table */
    MTS__SQL_DC_LIST,    /* (session) -> MTS__SQL_DC_COL_* */
    MTS__SQL_DC_KEYS,    /* (session) -> dc_id, flags, family */
    MTS__SQL_DC_PUT,     /* (session, dc_id, flags, family, ip, port, auth_key,
                            server_salt, time_offset): upsert */
    MTS__SQL_DC_DEL,     /* (session, dc_id, flags, family) */
    MTS__SQL_DC_DEL_ALL, /* (session) */
    /* channel pts */
    MTS__SQL_CHANNEL_LIST,    /* (session) -> channel_id, pts */
    MTS__SQL_CHANNEL_PUT,     /* (session, channel_id, pts): upsert */
    MTS__SQL_CHANNEL_DEL,     /* (session, channel_id) */
    MTS__SQL_CHANNEL_DEL_ALL, /* (session) */
    /* peers */
    MTS__SQL_PEER_LIST,    /* (session) -> MTS__SQL_PEER_COL_* */
    MTS__SQL_PEER_KEYS,    /* (session) -> kind, id */
    MTS__SQL_PEER_PUT,     /* (session, kind, id, access_hash, channel_kind,
                              community, bot, username, phone): upsert */
    MTS__SQL_PEER_DEL,     /* (session, kind, id) */
    MTS__SQL_PEER_DEL_ALL, /* (session) */
    /* min peers */
    MTS__SQL_MIN_PEER_LIST,    /* (session) -> user_id, peer_id, msg_id */
    MTS__SQL_MIN_PEER_PUT,     /* (session, user_id, peer_id, msg_id): upsert */
    MTS__SQL_MIN_PEER_DEL,     /* (session, user_id) */
    MTS__SQL_MIN_PEER_DEL_ALL, /* (session) */
    MTS__SQL_STMT_COUNT
} mts__sql_stmt;

extern const char *const mts__sql_text[MTS__SQL_STMT_COUNT];
extern const unsigned char mts__sql_nparams[MTS__SQL_STMT_COUNT];
/* A short label for error messages ("write peer"). */
extern const char *const mts__sql_label[MTS__SQL_STMT_COUNT];

/* Columns of MTS__SQL_SESSION_GET. */
enum {
    MTS__SQL_SESSION_COL_HOME_DC,
    MTS__SQL_SESSION_COL_TEST_MODE,
    MTS__SQL_SESSION_COL_API_ID,
    MTS__SQL_SESSION_COL_USER_ID,
    MTS__SQL_SESSION_COL_USER_IS_BOT,
    MTS__SQL_SESSION_COL_FUTURE_TOKEN,
    MTS__SQL_SESSION_COL_PTS,
    MTS__SQL_SESSION_COL_QTS,
    MTS__SQL_SESSION_COL_DATE,
    MTS__SQL_SESSION_COL_SEQ,
    MTS__SQL_SESSION_NCOLS
};

/* Columns of MTS__SQL_DC_LIST. */
enum {
    MTS__SQL_DC_COL_DC_ID,
    MTS__SQL_DC_COL_FLAGS,
    MTS__SQL_DC_COL_FAMILY,
    MTS__SQL_DC_COL_IP,
    MTS__SQL_DC_COL_PORT,
    MTS__SQL_DC_COL_AUTH_KEY,
    MTS__SQL_DC_COL_SERVER_SALT,
    MTS__SQL_DC_COL_TIME_OFFSET,
    MTS__SQL_DC_NCOLS
};

/* Columns of MTS__SQL_CHANNEL_LIST. */
enum {
    MTS__SQL_CHANNEL_COL_ID,
    MTS__SQL_CHANNEL_COL_PTS,
    MTS__SQL_CHANNEL_NCOLS
};

/* Columns of MTS__SQL_PEER_LIST. */
enum {
    MTS__SQL_PEER_COL_KIND,
    MTS__SQL_PEER_COL_ID,
    MTS__SQL_PEER_COL_ACCESS_HASH,
    MTS__SQL_PEER_COL_CHANNEL_KIND,
    MTS__SQL_PEER_COL_COMMUNITY,
    MTS__SQL_PEER_COL_BOT,
    MTS__SQL_PEER_COL_USERNAME,
    MTS__SQL_PEER_COL_PHONE,
    MTS__SQL_PEER_NCOLS
};

/* Columns of MTS__SQL_MIN_PEER_LIST. */
enum {
    MTS__SQL_MIN_PEER_COL_USER_ID,
    MTS__SQL_MIN_PEER_COL_PEER_ID,
    MTS__SQL_MIN_PEER_COL_MSG_ID,
    MTS__SQL_MIN_PEER_NCOLS
};

/* The largest number of parameters any statement takes. */
#define MTS__SQL_MAX_PARAMS 11

/* ---- schema versions and migrations ------------------------------------ */

/*
 * The statements that create the current schema in an empty database,
 * ending with the PRAGMAs that set application_id and user_version. Run
 * them in one write transaction (PRAGMA user_version is transactional).
 */
extern const char *const mts__sql_create[];
extern const size_t mts__sql_create_count;

/* One migration step: from `from` to `from + 1`. */
typedef struct mts__sql_migration {
    int from;
    const char *const *stmts; /* the last one sets user_version */
    size_t count;
} mts__sql_migration;

/*
 * The step that upgrades a database at schema version `from`, or NULL if
 * there is none. Apply steps one after another, all in one write
 * transaction, until the version is MTS__SQL_SCHEMA_VERSION.
 */
const mts__sql_migration *mts__sql_migration_from(int64_t from);

typedef enum mts__sql_schema_action {
    MTS__SQL_SCHEMA_READY = 0,  /* current version: use it */
    MTS__SQL_SCHEMA_CREATE = 1, /* empty database: run mts__sql_create */
    MTS__SQL_SCHEMA_MIGRATE = 2 /* older version: run the migrations */
} mts__sql_schema_action;

/*
 * Decide what to do with a database from its PRAGMA application_id,
 * PRAGMA user_version and the number of rows in sqlite_master. Returns 0
 * with *out set, or:
 * - MTS_EVERSION: the schema is newer than this library's, or older with
 *   no migration path;
 * - MTS_EFORMAT: another program's database (a foreign application_id, or
 *   tables without our id), which is never modified.
 */
int mts__sql_schema_check(mts__sql_schema_action *out,
                          int64_t application_id,
                          int64_t user_version,
                          int64_t objects,
                          mts_error *err);

/* 0 if name is a valid session name (1..MTS__SQL_NAME_MAX bytes of UTF-8
 * without control characters), else MTS_EINVAL naming the problem. */
int mts__sql_check_name(const char *name, mts_error *err);

/* ---- model -> SQL ------------------------------------------------------ */

/*
 * Receives one statement of a sequence with its parameters (borrowed for
 * the duration of the call). Return 0 to continue, or an MTS_E... code,
 * which stops the sequence and is returned by the emitter.
 */
typedef int (*mts__sql_emit_fn)(mts__sql_stmt stmt,
                                const mts__sqlv *params,
                                size_t nparams,
                                void *payload);

/* For mts__sql_emit_save / mts__sql_emit_update: before the rows of a
 * table, delete all of the session's rows in it (a full replacement that
 * needs no read). Without it the caller deletes the rows the snapshot does
 * not have itself (the SQLite backend reads the keys and deletes only
 * those), and the emitted upserts leave unchanged rows unwritten. */
#define MTS__SQL_EMIT_REPLACE 1u

/* A whole snapshot: SESSION_PUT, then DCs, channels, peers, min peers. */
int mts__sql_emit_save(const char *name,
                       const mts_session *s,
                       unsigned int flags,
                       mts__sql_emit_fn emit,
                       void *payload);

/*
 * One update-state change (validated by the caller): PRIMARY, SECONDARY
 * and CHANNEL are single-row upserts (CHANNEL after SESSION_ENSURE);
 * ALL upserts the state and replaces the session's channel rows (it
 * always behaves as with MTS__SQL_EMIT_REPLACE). Values are stored as
 * given, never max()-ed.
 */
int mts__sql_emit_update(const char *name,
                         const mts_update_change *c,
                         mts__sql_emit_fn emit,
                         void *payload);

/* SESSION_ENSURE then DC_PUT. */
int mts__sql_emit_dc(const char *name,
                     const mts_dc *dc,
                     mts__sql_emit_fn emit,
                     void *payload);
/* SESSION_ENSURE then PEER_PUT. */
int mts__sql_emit_peer(const char *name,
                       const mts_peer *p,
                       mts__sql_emit_fn emit,
                       void *payload);
/* SESSION_SET_HOME. */
int mts__sql_emit_home(const char *name,
                       int32_t dc_id,
                       mts__sql_emit_fn emit,
                       void *payload);
/* Every row of the session, children first. */
int
mts__sql_emit_delete(const char *name, mts__sql_emit_fn emit, void *payload);

/* ---- SQL -> model ------------------------------------------------------ */

/*
 * Each takes one result row (ncols values in the order of the statement's
 * columns) and adds it to s. A row the model does not allow is
 * MTS_ECORRUPT with a message "table T, row (key), column C: problem";
 * the caller may prefix it with the store's name. Also MTS_ENOMEM,
 * MTS_ELIMIT (more rows than the model holds).
 *
 * mts__sql_session_from_row: the SESSION_GET row of session `name`, into
 * a session made with MTS_NEW_EMPTY.
 */
int mts__sql_session_from_row(mts_session *s,
                              const char *name,
                              const mts__sqlv *cols,
                              size_t ncols,
                              mts_error *err);
int mts__sql_dc_from_row(mts_session *s,
                         const mts__sqlv *cols,
                         size_t ncols,
                         mts_error *err);
int mts__sql_channel_from_row(mts_session *s,
                              const mts__sqlv *cols,
                              size_t ncols,
                              mts_error *err);
int mts__sql_peer_from_row(mts_session *s,
                           const mts__sqlv *cols,
                           size_t ncols,
                           mts_error *err);
int mts__sql_min_peer_from_row(mts_session *s,
                               const mts__sqlv *cols,
                               size_t ncols,
                               mts_error *err);

/* ---- SQLite backend extras (sqlite.c) ----------------------------------- */

/*
 * Durability of an SQLite handle's commits (PRAGMA synchronous). FULL, the
 * default, syncs the WAL on every commit: a committed change survives a
 * power cut. NORMAL syncs only at checkpoints: a commit survives a crash
 * of the process, but the last commits before a power cut may be rolled
 * back (never corrupted). The libSQL backend may reuse the same two levels.
 */
typedef enum mts__sql_sync {
    MTS__SQL_SYNC_FULL = 0,
    MTS__SQL_SYNC_NORMAL = 1
} mts__sql_sync;

/* Set the durability of an mts_sqlite_open handle. Returns 0, MTS_EINVAL
 * (not an SQLite handle), MTS_EBACKEND. For tests and tools inside the
 * project until the public API has backend options. */
int mts__sqlite_set_sync(mts_storage *st, mts__sql_sync level, mts_error *err);

#endif /* MTSESSION_SQL_SCHEMA_H */
