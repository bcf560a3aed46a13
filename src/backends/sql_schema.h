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
 * Revisions: every write of a session stamps its sessions row with a new
 * random `rev`. A handle that remembers the rev it wrote or read can tell,
 * inside its next write transaction, whether anyone else wrote the session
 * since, and only then trusts its record of what it stored (incremental
 * saves, mts__sql_emit_delta).
 *
 * Sealed columns: with a secret, dcs.auth_key, dcs.server_salt and
 * sessions.future_token hold XChaCha20-Poly1305 ciphertext whose associated
 * data names the session, table, row key and column, and the seal table
 * holds the key derivation and a key check value (mts__sql_seal_*).
 *
 * Everything here is constant data or pure functions: thread-safe.
 */
#ifndef MTSESSION_SQL_SCHEMA_H
#define MTSESSION_SQL_SCHEMA_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

/* The schema version this library writes (PRAGMA user_version). */
#define MTS__SQL_SCHEMA_VERSION 3
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

/* A text parameter (the bytes of the NUL-terminated s, borrowed). */
static inline mts__sqlv
mts__sqlv_text(const char *s)
{
    mts__sqlv v = { MTS__SQL_TEXT, 0, s, strlen(s) };
    return v;
}

/* An integer parameter. */
static inline mts__sqlv
mts__sqlv_int(int64_t i)
{
    mts__sqlv v = { MTS__SQL_INT, i, NULL, 0 };
    return v;
}

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
    MTS__SQL_DATA_VERSION,       /* -> PRAGMA data_version (SQLite only: changes
                                    when another connection commits) */
    /* sessions */
    MTS__SQL_SESSION_GET,         /* (name) -> MTS__SQL_SESSION_COL_* */
    MTS__SQL_SESSION_LIST,        /* () -> name, in name order */
    MTS__SQL_SESSION_ENSURE,      /* (name, rev): create an empty session if
                                     absent, else set its rev */
    MTS__SQL_SESSION_PUT,         /* (name, home_dc, test_mode, api_id, user_id,
                                     user_is_bot, future_token, pts, qts, date,
                                     seq, rev): upsert every column */
    MTS__SQL_SESSION_SET_HOME,    /* (name, home_dc, rev): upsert */
    MTS__SQL_SESSION_SET_PRIMARY, /* (name, pts, date, seq, rev): upsert */
    MTS__SQL_SESSION_SET_SECONDARY, /* (name, qts, rev): upsert */
    MTS__SQL_SESSION_SET_STATE,     /* (name, pts, qts, date, seq, rev) */
    MTS__SQL_SESSION_DEL,           /* (name) */
    MTS__SQL_SESSION_REV,           /* (name) -> rev */
    MTS__SQL_SESSION_SET_REV,       /* (rev, name) */
    /* Fail (a NOT NULL constraint) unless the session's row has this rev:
     * the first step of a libSQL batch that relies on it. */
    MTS__SQL_GUARD_REV, /* (name, rev) */
    /* Fail unless the session's seal check value is this one (NULL: the
     * session has no seal row). */
    MTS__SQL_GUARD_SEAL, /* (session, check_value) */
    /* seal */
    MTS__SQL_SEAL_GET, /* (session) -> MTS__SQL_SEAL_COL_* */
    MTS__SQL_SEAL_PUT, /* (session, kdf, opslimit, memlimit, salt,
                          check_value): upsert */
    MTS__SQL_SEAL_DEL, /* (session) */
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

    /* leases (schema version 3; SQLite only: the backend decides in C
     * inside a BEGIN IMMEDIATE transaction, on the local clock) */
    MTS__SQL_LEASE_GET, /* (session) -> owner, epoch, expires_ms */
    MTS__SQL_LEASE_PUT, /* (session, owner, epoch, expires_ms): upsert */

    /* leases on a libSQL server: decided in SQL, on the server's clock
     * (MTS__SQL_NOW_MS), each inside the batch of one write transaction */
    /* Take the lease for ttl_ms unless another owner's is live: insert, or
     * update a row that is the owner's or expired (same owner and live:
     * same epoch; else epoch + 1). changes() tells whether it took. */
    MTS__SQL_LEASE_ACQUIRE, /* (session, owner, ttl_ms) */
    /* Extend / end (expires_ms = min(expires_ms, now)) the lease of this
     * owner and epoch, live or not; changes() 0: it is not theirs. */
    MTS__SQL_LEASE_RENEW,   /* (ttl_ms, session, owner, epoch) */
    MTS__SQL_LEASE_RELEASE, /* (session, owner, epoch) */
    /* The lease row, whether it is live on the server's clock, and
     * changes() of the statement before it in the same batch. */
    MTS__SQL_LEASE_STATE, /* (session) -> MTS__SQL_LEASE_COL_* */
    /* Fail (a NOT NULL constraint) unless this owner and epoch hold a live
     * lease: the fence of a lease holder's libSQL write. */
    MTS__SQL_GUARD_LEASE_HELD, /* (session, owner, epoch) */
    /* Fail while anyone's lease is live: the fence of a write of a handle
     * that holds no lease. */
    MTS__SQL_GUARD_LEASE_FREE, /* (session) */
    /* Fail if the session has a sessions row (an optimistic save that
     * expects nothing stored). */
    MTS__SQL_GUARD_NO_SESSION, /* (name) */
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

/* Columns of MTS__SQL_LEASE_STATE. */
enum {
    MTS__SQL_LEASE_COL_OWNER,
    MTS__SQL_LEASE_COL_EPOCH,
    MTS__SQL_LEASE_COL_EXPIRES,
    MTS__SQL_LEASE_COL_HELD,    /* 1: expires_ms is after the server's now */
    MTS__SQL_LEASE_COL_CHANGES, /* changes() of the previous statement */
    MTS__SQL_LEASE_NCOLS
};

/* The server's clock in SQL: Unix time in ms, read by the statement that
 * uses it (SQLite keeps 'now' fixed within one statement). */
#define MTS__SQL_NOW_MS                                                        \
    "CAST(round((julianday('now') - 2440587.5) * 86400000) AS INTEGER)"

/* Columns of MTS__SQL_SEAL_GET. */
enum {
    MTS__SQL_SEAL_COL_KDF,
    MTS__SQL_SEAL_COL_OPSLIMIT,
    MTS__SQL_SEAL_COL_MEMLIMIT,
    MTS__SQL_SEAL_COL_SALT,
    MTS__SQL_SEAL_COL_CHECK,
    MTS__SQL_SEAL_NCOLS
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
#define MTS__SQL_MAX_PARAMS 12

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

/* ---- sealed columns ---------------------------------------------------- */

/* A sealed value: version byte 1, a 24-byte random nonce, the ciphertext
 * and the 16-byte Poly1305 tag. */
#define MTS__SQL_SEAL_OVERHEAD (1 + 24 + 16)
/* The key check value: a sealed constant of this many bytes. */
#define MTS__SQL_CHECK_SIZE (MTS__SQL_SEAL_OVERHEAD + 22)

/* The column key of one session, opened from its seal row. */
typedef struct mts__sql_seal {
    uint8_t key[32];
} mts__sql_seal;

/* A session's seal row, checked. */
typedef struct mts__sql_seal_row {
    int present; /* 0: the session is not sealed (no row) */
    mts__kdf kdf;
    uint8_t check[MTS__SQL_CHECK_SIZE];
} mts__sql_seal_row;

/* The SEAL_GET row (NULL cols: none) as a seal row. MTS_ECORRUPT for a row
 * that is not one (named: table seal, column), MTS_EVERSION for an
 * unknown kdf. */
int mts__sql_seal_row_from(mts__sql_seal_row *out,
                           const char *name,
                           const mts__sqlv *cols,
                           size_t ncols,
                           mts_error *err);
/* Whether two seal rows are the same (both absent, or the same bytes). */
int mts__sql_seal_row_same(const mts__sql_seal_row *a,
                           const mts__sql_seal_row *b);
/*
 * Open a present seal row with `secret`: derive the column key and check it
 * against the row's check value. MTS_EENCRYPTED when secret is NULL,
 * MTS_EBADKEY when it does not open the check value (or is of the other
 * kind), and the errors of mts__secret_subkey. The message names the
 * session.
 */
int mts__sql_seal_open(mts__sql_seal *out,
                       const mts__sql_seal_row *row,
                       const char *name,
                       mts_secret *secret,
                       mts_error *err);
/* A new seal for session `name` under `secret`: a kdf (fresh salt for a
 * passphrase), its column key and check value, to be stored with
 * mts__sql_emit_seal_put. Returns 0 or the errors of mts__secret_subkey. */
int mts__sql_seal_new(mts__sql_seal *out,
                      mts__sql_seal_row *row,
                      const char *name,
                      mts_secret *secret,
                      mts_error *err);

/* ---- model -> SQL ------------------------------------------------------ */

/* What every emitter writes with. */
typedef struct mts__sql_ctx {
    const char *name;          /* the session's name */
    int64_t rev;               /* stamped on the sessions row by each write */
    const mts__sql_seal *seal; /* NULL: secret columns in clear */
} mts__sql_ctx;

/*
 * Receives one statement of a sequence with its parameters (borrowed for
 * the duration of the call). Return 0 to continue, or an MTS_E... code,
 * which stops the sequence and is returned by the emitter.
 */
typedef int (*mts__sql_emit_fn)(mts__sql_stmt stmt,
                                const mts__sqlv *params,
                                size_t nparams,
                                void *payload);

/* For mts__sql_emit_save: before the rows of a table, delete all of the
 * session's rows in it (a full replacement that needs no read). Without
 * it the caller deletes the rows the snapshot does not have itself (the
 * SQLite backend reads the keys and deletes only those), and the emitted
 * upserts leave unchanged rows unwritten. */
#define MTS__SQL_EMIT_REPLACE 1u
/* For mts__sql_emit_save: only the rows that hold secret columns (the
 * sessions row and the DC rows), to seal or re-seal a stored session. */
#define MTS__SQL_EMIT_SECRETS 2u

/* A whole snapshot: SESSION_PUT, then DCs, channels, peers, min peers.
 * Also MTS_ENOMEM (a sealed token needs a buffer). */
int mts__sql_emit_save(const mts__sql_ctx *cx,
                       const mts_session *s,
                       unsigned int flags,
                       mts__sql_emit_fn emit,
                       void *payload);

/* A row written by a granular change (table: MTS__REMOVED_DC, _CHANNEL or
 * _PEER; the key as in mts__removal). */
typedef struct mts__sql_touched {
    int64_t id;
    uint8_t table;
    uint8_t k1, k2;
} mts__sql_touched;

/* What a handle knows changed in the store since its last save or load
 * besides the session's own changes: rows its granular writes touched. */
typedef struct mts__sql_delta {
    uint64_t since;   /* the session's generation at that save or load */
    int scalars;      /* the sessions row was written */
    int all_channels; /* the channel rows were replaced */
    const mts__sql_touched *touched;
    size_t ntouched;
} mts__sql_delta;

/*
 * Only what differs from the store, which held the snapshot of generation
 * d->since plus the touched rows (mts__session_delta_ok(s, d->since) must
 * hold): deletes for logged removals and for touched rows the snapshot
 * lacks, upserts for changed and touched records, and SESSION_PUT when the
 * scalars changed or were touched. *count receives the number of
 * statements (0: the store already holds the snapshot). The caller stamps
 * the new rev (mts__sql_emit_rev) once anything was written.
 */
int mts__sql_emit_delta(const mts__sql_ctx *cx,
                        const mts_session *s,
                        const mts__sql_delta *d,
                        size_t *count,
                        mts__sql_emit_fn emit,
                        void *payload);

/* SESSION_SET_REV: stamp cx->rev after a save or re-seal that wrote rows
 * (SESSION_PUT leaves an unchanged sessions row, rev included, alone). */
int
mts__sql_emit_rev(const mts__sql_ctx *cx, mts__sql_emit_fn emit, void *payload);

/*
 * One update-state change (validated by the caller): PRIMARY, SECONDARY
 * and CHANNEL are single-row upserts (CHANNEL after SESSION_ENSURE);
 * ALL upserts the state and replaces the session's channel rows (it
 * always behaves as with MTS__SQL_EMIT_REPLACE). Values are stored as
 * given, never max()-ed.
 */
int mts__sql_emit_update(const mts__sql_ctx *cx,
                         const mts_update_change *c,
                         mts__sql_emit_fn emit,
                         void *payload);

/* SESSION_ENSURE then DC_PUT. */
int mts__sql_emit_dc(const mts__sql_ctx *cx,
                     const mts_dc *dc,
                     mts__sql_emit_fn emit,
                     void *payload);
/* SESSION_ENSURE then PEER_PUT. */
int mts__sql_emit_peer(const mts__sql_ctx *cx,
                       const mts_peer *p,
                       mts__sql_emit_fn emit,
                       void *payload);
/* SESSION_SET_HOME. */
int mts__sql_emit_home(const mts__sql_ctx *cx,
                       int32_t dc_id,
                       mts__sql_emit_fn emit,
                       void *payload);
/* Every row of the session, children first, its seal row included. */
int mts__sql_emit_delete(const mts__sql_ctx *cx,
                         mts__sql_emit_fn emit,
                         void *payload);
/* SEAL_PUT of a present row, SEAL_DEL of an absent one. */
int mts__sql_emit_seal(const mts__sql_ctx *cx,
                       const mts__sql_seal_row *row,
                       mts__sql_emit_fn emit,
                       void *payload);

/* One granular change: which, and its argument. */
typedef enum mts__sql_granular_kind {
    MTS__SQL_G_UPDATE,
    MTS__SQL_G_DC,
    MTS__SQL_G_HOME,
    MTS__SQL_G_PEER
} mts__sql_granular_kind;

typedef struct mts__sql_granular {
    mts__sql_granular_kind kind;
    const mts_update_change *change; /* G_UPDATE */
    const mts_dc *dc;                /* G_DC */
    const mts_peer *peer;            /* G_PEER */
    int32_t home;                    /* G_HOME */
} mts__sql_granular;

/* The statements of one granular change (mts__sql_emit_update, _dc, _home
 * or _peer); MTS_EINVAL for an unknown kind. */
int mts__sql_emit_granular(const mts__sql_ctx *cx,
                           const mts__sql_granular *op,
                           mts__sql_emit_fn emit,
                           void *payload);

/* ---- incremental-save tracking ---------------------------------------- */

/* Rows touched by granular changes since the last save or load, kept for
 * the next incremental save; past this the next save is a full one. */
#define MTS__SQL_TOUCHED_MAX 4096

/* The base of a handle's incremental saves: the session object (uid) and
 * its generation the handle last saved or loaded, and the rows its
 * granular changes wrote since. Zero-initialised: no base. */
typedef struct mts__sql_base {
    int valid;
    uint64_t uid, gen;
    mts__sql_touched *touched;
    size_t ntouched, cap_touched;
    int touched_scalars, touched_channels;
} mts__sql_base;

/* No base: the next save is a full one. */
void mts__sql_base_forget(mts__sql_base *t);
/* The store now holds `s` as of its current generation. */
void mts__sql_base_set(mts__sql_base *t, const mts_session *s);
/* A save of `s` can be incremental from this base (as far as the base
 * knows; the caller checks the store's rev). */
int mts__sql_base_covers(const mts__sql_base *t, const mts_session *s);
/* The delta an incremental save from this base writes. */
mts__sql_delta mts__sql_base_delta(const mts__sql_base *t);
/* Remember what a granular change wrote (call only with a valid base);
 * when the touched list is full the base is forgotten. */
void mts__sql_base_note(mts__sql_base *t, const mts__sql_granular *op);
/* Free the touched list (the base itself is not freed). */
void mts__sql_base_free(mts__sql_base *t);

/* ---- SQL -> model ------------------------------------------------------ */

/*
 * Each takes one result row (ncols values in the order of the statement's
 * columns) and adds it to s. A row the model does not allow is
 * MTS_ECORRUPT with a message "table T, row (key), column C: problem";
 * the caller may prefix it with the store's name. Also MTS_ENOMEM,
 * MTS_ELIMIT (more rows than the model holds).
 *
 * mts__sql_session_from_row: the SESSION_GET row of session cx->name, into
 * a session made with MTS_NEW_EMPTY. With cx->seal the secret columns must
 * be sealed values that open under it for their own row and column (one
 * that does not: MTS_ECORRUPT, "altered or moved"); cx->rev is not used.
 */
int mts__sql_session_from_row(mts_session *s,
                              const mts__sql_ctx *cx,
                              const mts__sqlv *cols,
                              size_t ncols,
                              mts_error *err);
int mts__sql_dc_from_row(mts_session *s,
                         const mts__sql_ctx *cx,
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
 * (not an SQLite handle), MTS_EBACKEND. (mts_sqlite_options.synchronous
 * sets it at open.) */
int mts__sqlite_set_sync(mts_storage *st, mts__sql_sync level, mts_error *err);

/* mts_sqlite_open_ex with the store's name for messages and
 * mts_storage_name given whole (the libSQL backend's local modes pass
 * "libsql:<path>#<name>"). */
int mts__sqlite_open_as(mts_storage **out,
                        const char *path,
                        const char *name,
                        const mts_sqlite_options *opts,
                        const char *display,
                        mts_error *err);

/* Save `s` replacing the session whatever its seal: its rows and seal row
 * are deleted and the snapshot written under `secret` (NULL: in clear),
 * which the handle uses from then on, in one transaction (a libSQL replica
 * pulling the server's copy). */
int mts__sqlite_replace(mts_storage *st,
                        const mts_session *s,
                        mts_secret *secret,
                        mts_error *err);

/* The connection behind an SQLite handle (tests: sqlite3_trace_v2), or
 * NULL for another kind of handle. Borrowed; use under no other call. */
struct sqlite3;
struct sqlite3 *mts__sqlite_db(mts_storage *st);

/* A random nonzero revision stamp (never 0, the value of a row no
 * library version 2 has written yet). */
int64_t mts__sql_new_rev(void);

/*
 * The revision optimistic mode (storage.h) reports for a stored rev. Rows
 * written before schema version 2 (or by a program that does not stamp
 * them) have rev 0, which storage.h reserves for "nothing stored": they
 * report 2^63, a value mts__sql_new_rev never draws (its stamps are
 * 1..2^63-1). The cast back, (int64_t)2^63, is INT64_MIN: an expectation
 * of "the unstamped row".
 */
static inline uint64_t
mts__sql_api_rev(int64_t rev)
{
    return rev != 0 ? (uint64_t)rev : (uint64_t)1 << 63;
}

#endif /* MTSESSION_SQL_SCHEMA_H */
