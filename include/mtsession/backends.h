/*
 * mtsession/backends.h - constructors of the built-in backends.
 *
 * Every constructor exists in every build. One whose backend was compiled
 * out returns MTS_ENOTSUPPORTED with a message naming the CMake option, so
 * callers never need #ifdef. mts_backend_available() says at run time.
 */
#ifndef MTSESSION_BACKENDS_H
#define MTSESSION_BACKENDS_H

#include "common.h"
#include "errors.h"
#include "seal.h"
#include "storage.h"

MTS_BEGIN_DECL

/* ---- binary file (the default) ---------------------------------------- */

typedef enum mts_file_flag {
    /**
     * Follow a symbolic link at `path` (resolved once, at open). Without
     * it a symlink is refused with MTS_EINVAL.
     */
    MTS_FILE_FOLLOW_SYMLINK = 1,
    /**
     * Group commit for mts_storage_apply_update_state: sync the journal
     * only once group_commit_changes changes are unsynced, or when a call
     * finds the oldest unsynced change group_commit_ms old; saves, folds
     * and mts_storage_free sync as well. This gives up durability, not
     * consistency: after an operating-system crash or power loss the
     * changes of up to group_commit_changes - 1 acknowledged calls, all
     * made less than group_commit_ms before the last call that returned,
     * may be lost; the store still loads, as of some earlier acknowledged
     * call (never torn, never reordered). A process crash loses nothing:
     * every change is written to the kernel before its call returns.
     */
    MTS_FILE_GROUP_COMMIT = 2
} mts_file_flag;

#define MTS_FILE_OPTIONS_VERSION 1

typedef struct mts_file_options {
    unsigned int version;
    unsigned int flags; /* mts_file_flag bits */
    /**
     * When not NULL, saves write a sealed (encrypted) file and loads open
     * sealed files with this secret (seal.h). Borrowed: it must outlive
     * the handle. When NULL, a sealed file loads as MTS_EENCRYPTED.
     */
    mts_secret *secret;
    /**
     * The journal ("<path>.journal") is folded into a new snapshot before
     * it would grow past this many bytes. 0 means 1 MiB; otherwise
     * 64 .. 1 GiB.
     */
    size_t journal_max_bytes;
    /** With MTS_FILE_GROUP_COMMIT: changes per sync; 0 means 100. */
    unsigned int group_commit_changes;
    /** With MTS_FILE_GROUP_COMMIT: milliseconds; 0 means 1000. */
    unsigned int group_commit_ms;
} mts_file_options;

#define MTS_FILE_OPTIONS_INIT { MTS_FILE_OPTIONS_VERSION, 0, NULL, 0, 0, 0 }

/**
 * A session in one binary file (docs/FORMAT.md).
 *
 * - save replaces the file atomically: a uniquely named temp file
 *   (created 0600, O_EXCL) in the same directory is written, fsynced and
 *   renamed over `path`, then the directory is fsynced. On any error the
 *   old file is intact and the temp file is removed, with one exception:
 *   if only the final fsync of the directory fails, the new file is
 *   already in place and MTS_EIO says it may not survive a crash.
 *   I/O errors are MTS_EIO with errno in err->native and a message naming
 *   the step and the file.
 * - The first write (save, delete, or a granular change) through a handle
 *   takes an advisory lock on "<path>.lock" (kept until the handle is
 *   freed; released by the kernel if the process dies). Another handle
 *   writing the same file, in this process or another, gets MTS_ELOCKED
 *   "locked by pid N". The lock file is never deleted. Holding the lock,
 *   the handle removes temp files left by a crash (best effort).
 * - mts_storage_apply_update_state appends one record (28 bytes for all
 *   but MTS_UPDATE_ALL) to the journal "<path>.journal" (created 0600) and
 *   syncs it, under the lock, instead of rewriting the file: its cost does
 *   not depend on the size of the session. The journal has the same crash
 *   guarantee as a save: after a crash the store loads as of the last
 *   acknowledged call or the one in flight. A load replays the journal
 *   over the snapshot; a save writes a new snapshot and then empties the
 *   journal; a change that would take the journal past journal_max_bytes
 *   is folded into a new snapshot (a save) instead. The first change of a
 *   handle reads the store once, and rewrites it if the snapshot carries
 *   no id yet (one written by a handle that never used the journal).
 *   update_dc, set_home_dc and cache_peer load, change and save. The
 *   journal is plain even with a secret: it holds update-sequence numbers
 *   and channel ids, never keys, hashes, names or phone numbers. Copy
 *   <path> and <path>.journal together, or save first. The format:
 *   docs/FORMAT.md, "Journal".
 * - Leases (lease.h): a lease holder's handle keeps its record in
 *   "<path>.lease" (never deleted, so epochs only rise) and takes the
 *   lock per write instead of keeping it, checking owner, epoch and expiry
 *   first (MTS_EFENCED, nothing written, when the lease was lost). A handle
 *   without a lease that writes while another owner's lease is live gets
 *   MTS_ELOCKED naming the holder.
 * - load of a missing file is MTS_ENOTFOUND; any other failure is an error
 *   naming the problem (an empty file is MTS_ECORRUPT; a symlink that
 *   appeared at `path` after open is MTS_EINVAL). The file is never
 *   renamed or replaced on load. A journal damaged before its last record
 *   (a bad record followed by one written after it was durable) is
 *   MTS_ECORRUPT naming "<path>.journal" and the byte offset, for loads
 *   and changes alike; a save repairs the store, as it does not read the
 *   journal. An incomplete or damaged last record was never acknowledged
 *   and is ignored. A load that keeps finding the file replaced by saves
 *   while it reads (8 times) is MTS_EIO.
 * - A change that fails (MTS_EIO with errno) leaves the old state or the
 *   new one: a partly written record is taken back, and after a failed
 *   sync the handle's next change writes a new snapshot.
 *
 * opts may be NULL for the defaults. Returns 0, MTS_EINVAL (empty path, a
 * path that does not name a file, unknown options, out-of-range sizes,
 * group-commit settings without MTS_FILE_GROUP_COMMIT, or a symlink
 * without MTS_FILE_FOLLOW_SYMLINK), MTS_EIO (the path or link could not be
 * examined), MTS_ENOMEM.
 */
MTS_API int mts_file_open(mts_storage **out, const char *path,
                          const mts_file_options *opts, mts_error *err);

/**
 * Replace the file at `path` with `len` bytes atomically and durably, with
 * the same procedure as the file backend's save (unique 0600 temp file in
 * the same directory, fsync, rename, fsync of the directory; a symlink at
 * `path` is refused unless flags has MTS_FILE_FOLLOW_SYMLINK). On error
 * the old file is intact, except after a failed fsync of the directory
 * (see mts_file_open). Takes no lock. Returns 0, MTS_EINVAL, MTS_EIO or
 * MTS_ENOMEM.
 */
MTS_API int mts_file_write_atomic(const char *path, const void *data,
                                  size_t len, unsigned int flags,
                                  mts_error *err);

/**
 * Read a whole regular file (at most `max` bytes, 0 meaning MTS_INPUT_MAX)
 * into *out (caller frees with mts_free; NUL-terminated one past *out_len).
 * Symbolic links are followed. Returns 0, MTS_EINVAL (empty path),
 * MTS_ENOTFOUND (no such file), MTS_EIO (with errno in err->native; also
 * for a path that is not a regular file), MTS_ELIMIT (larger than max),
 * MTS_ENOMEM.
 */
MTS_API int mts_file_read(uint8_t **out, size_t *out_len, const char *path,
                          size_t max, mts_error *err);

/**
 * Whether the file at `path` (symbolic links followed) is private to its
 * owner. A session file is a full login: one the group or others may read
 * or write should be reported to the user. mts_file_open does not check
 * (the library does no logging); callers that show messages call this.
 *
 * Returns 0 when the mode has no group or other bits; 1 when it has,
 * with err (if not NULL) filled as a warning: code 0, native the mode's
 * permission bits, and a message such as "<path> is readable by group and
 * others (mode 0644); chmod 600 it". Errors: MTS_EINVAL (empty path, not
 * a regular file), MTS_ENOTFOUND (no such file), MTS_EIO (stat failed;
 * errno in err->native).
 */
MTS_API int mts_file_check_permissions(const char *path, mts_error *err);

/* ---- in-memory --------------------------------------------------------- */

/**
 * A session kept in process memory only. Granular changes are applied in
 * place. Returns 0 or MTS_ENOMEM.
 */
MTS_API int mts_memory_open(mts_storage **out, mts_error *err);

/* ---- portable string --------------------------------------------------- */

/**
 * A session kept as a portable string (codec.h). `initial` may be NULL or
 * empty (nothing stored) or a string to start from; it is copied and
 * checked on first load, not here. Returns 0 or MTS_ENOMEM.
 */
MTS_API int mts_string_open(mts_storage **out, const char *initial,
                            mts_error *err);

/**
 * As mts_string_open, but saves produce sealed strings and loads open
 * sealed strings with `secret` (borrowed: it must outlive the handle).
 */
MTS_API int mts_string_open_sealed(mts_storage **out, const char *initial,
                                   mts_secret *secret, mts_error *err);

/**
 * A copy of the string a string-backend handle holds now ("" when nothing
 * is stored); the caller frees it with mts_free. Returns 0, MTS_EINVAL
 * (st is not a string backend) or MTS_ENOMEM.
 */
MTS_API int mts_string_current(char **out, mts_storage *st, mts_error *err);

/* ---- SQLite (MTSESSION_WITH_SQLITE) ----------------------------------- */

/**
 * Open (creating if needed) the SQLite database at `path` and select the
 * session called `name` (NULL means "default").
 */
MTS_API int mts_sqlite_open(mts_storage **out, const char *path,
                            const char *name, mts_error *err);
/** A private in-memory SQLite database. */
MTS_API int mts_sqlite_open_memory(mts_storage **out, const char *name,
                                   mts_error *err);

#define MTS_SQLITE_OPTIONS_VERSION 1

/** Values of mts_sqlite_options.synchronous. */
#define MTS_SQLITE_SYNC_FULL 0
#define MTS_SQLITE_SYNC_NORMAL 1

typedef struct mts_sqlite_options {
    unsigned int version;
    /**
     * When not NULL, the session's secret columns (dcs.auth_key,
     * dcs.server_salt, sessions.future_token) hold XChaCha20-Poly1305
     * ciphertext under a key from this secret, bound to their session,
     * table, row and column; peers and everything else stay readable. The
     * key derivation (for a passphrase: Argon2id salt and cost) and a key
     * check value are stored once per session, so a passphrase is
     * stretched once per handle. A session that is not sealed yet is read
     * as it is and sealed by the handle's first write. Borrowed: it must
     * outlive the handle (or until mts_sqlite_rekey replaces it). When
     * NULL, a sealed session loads as MTS_EENCRYPTED and refuses writes
     * the same way.
     */
    mts_secret *secret;
    /**
     * MTS_SQLITE_SYNC_FULL (0, the default): every commit is synced, so a
     * committed change survives a power cut. MTS_SQLITE_SYNC_NORMAL gives
     * that up: commits are synced at WAL checkpoints only, so after an
     * operating-system crash or power loss the last commits may be rolled
     * back (the database is never corrupted); a crash of the process
     * loses nothing.
     */
    int synchronous;
} mts_sqlite_options;

#define MTS_SQLITE_OPTIONS_INIT { MTS_SQLITE_OPTIONS_VERSION, NULL, 0 }

/**
 * mts_sqlite_open with options (NULL: the defaults; path ":memory:" for a
 * private in-memory database). Open contacts no session and returns what
 * mts_sqlite_open returns, and MTS_EINVAL for an unknown options version
 * or synchronous value. Operations return, besides their usual codes:
 * MTS_EENCRYPTED for a sealed session and a handle without a secret (load
 * and writes; delete works without one); MTS_EBADKEY when the secret does
 * not open the session's key check value; MTS_ECORRUPT naming the table,
 * row and column for a sealed value that does not open where it is
 * (altered, or moved from another row or session).
 */
MTS_API int mts_sqlite_open_ex(mts_storage **out, const char *path,
                               const char *name,
                               const mts_sqlite_options *opts,
                               mts_error *err);

/**
 * Re-seal the handle's session under `new_secret` in one transaction: the
 * stored values are opened with the handle's current secret and written
 * sealed with the new one (never in clear on the way), with a new key
 * check value. new_secret NULL removes the seal and writes the values in
 * clear, by request. The handle then uses new_secret (borrowed, as in the
 * options). Nothing stored is not an error (the handle just switches).
 * Returns 0, MTS_EINVAL (st is not an SQLite handle), MTS_EENCRYPTED or
 * MTS_EBADKEY (the current secret does not open the session), the errors
 * of a load and a save; on error the store and the handle are unchanged.
 */
MTS_API int mts_sqlite_rekey(mts_storage *st, mts_secret *new_secret,
                             mts_error *err);

/* ---- libSQL (MTSESSION_WITH_LIBSQL) ----------------------------------- */

/*
 * The session called `name` (NULL means "default") in a libSQL database,
 * on the SQLite backend's schema (docs/SQL.md, docs/LIBSQL.md). Values are
 * stored as given in every mode. Names: "libsql:<path>#<name>",
 * "libsql::memory:#<name>", "libsql:<url>#<name>" and
 * "libsql:<path> (replica of <url>)#<name>"; a URL is shown as scheme,
 * host, port and path only, never with a token.
 */

/**
 * A local database file, through the SQLite engine: the file is an
 * ordinary mtsession SQLite database (mts_sqlite_open reads it, and the
 * other way round). Returns what mts_sqlite_open returns.
 */
MTS_API int mts_libsql_open_local(mts_storage **out, const char *path,
                                  const char *name, mts_error *err);
/** A private in-memory database (see mts_sqlite_open_memory). */
MTS_API int mts_libsql_open_memory(mts_storage **out, const char *name,
                                   mts_error *err);
/**
 * A libSQL server (sqld, Turso) over Hrana over HTTP. `url` is
 * "libsql://host[:port][/path]" (HTTPS; "?tls=0" for plain HTTP with an
 * explicit port), "https://..." or "http://..."; `auth_token` may be NULL
 * or "" (no Authorization header). Nothing is contacted here.
 *
 * Every operation is one HTTP request holding one transaction, committed
 * or rolled back as a whole (plus, once per handle, the schema check and,
 * with a secret, a read of the seal; and a second try when another client
 * changed the seal or the session meanwhile); no server-side stream
 * outlives a call. Saves of the object this handle last saved or loaded
 * send only what changed (docs/LIBSQL.md). The
 * schema is checked on first use and created when the database is empty.
 * HTTP 429 and 503 are retried with exponential backoff (5 tries, at most
 * 8 s of pauses); requests time out (10 s to connect, 60 s in all).
 *
 * Open returns 0, MTS_EINVAL (a URL that is not libsql://, https:// or
 * http://; a bad session name) or MTS_ENOMEM. Operations return, besides
 * their usual codes: MTS_EIO (the server could not be reached; native: the
 * libcurl code), MTS_EBACKEND with native = the HTTP status and the
 * message "libsql: authentication failed (HTTP 401)" for 401/403, for
 * other HTTP errors, and for busy answers once the retries are used up;
 * MTS_EBACKEND with the server's error code and message for an SQL error
 * (native: the SQLite primary result code when there is one);
 * MTS_EFORMAT or MTS_EVERSION for a database that is not (or is a newer)
 * mtsession schema.
 */
MTS_API int mts_libsql_open_remote(mts_storage **out, const char *url,
                                   const char *auth_token, const char *name,
                                   mts_error *err);
/**
 * A local replica file at `path` (SQLite, same schema) of the session on
 * the server at `url`. Loads are served from the local file once this
 * handle has pulled the remote state: the first load pulls it (and fails
 * when the server cannot be reached), as does mts_libsql_sync. Writes go
 * to the server first, in one transaction, and then to the local file; a
 * write the server refuses never reaches the file. If the local write
 * fails after the server accepted it, the error says so and the next load
 * pulls again. Errors: those of mts_libsql_open_remote and mts_sqlite_open
 * (MTS_EINVAL also for an empty path or ":memory:").
 */
MTS_API int mts_libsql_open_replica(mts_storage **out, const char *path,
                                    const char *url, const char *auth_token,
                                    const char *name, mts_error *err);
/**
 * Pull the server's state of a replica's session into its local file (a
 * session the server does not have is removed locally). Returns 0,
 * MTS_EINVAL (st is not a libsql replica handle), or the errors of a
 * remote load and of a local save; on error the local file is unchanged.
 */
MTS_API int mts_libsql_sync(mts_storage *st, mts_error *err);

#define MTS_LIBSQL_OPTIONS_VERSION 1

typedef struct mts_libsql_options {
    unsigned int version;
    /**
     * Sealed secret columns, in every mode, as mts_sqlite_options.secret
     * describes (a replica's local file is sealed with the same secret).
     * Borrowed: it must outlive the handle.
     */
    mts_secret *secret;
    /** Local file and replica: as mts_sqlite_options.synchronous. */
    int synchronous;
} mts_libsql_options;

#define MTS_LIBSQL_OPTIONS_INIT { MTS_LIBSQL_OPTIONS_VERSION, NULL, 0 }

/** mts_libsql_open_local with options (NULL: the defaults). */
MTS_API int mts_libsql_open_local_ex(mts_storage **out, const char *path,
                                     const char *name,
                                     const mts_libsql_options *opts,
                                     mts_error *err);
/** mts_libsql_open_remote with options (NULL: the defaults). */
MTS_API int mts_libsql_open_remote_ex(mts_storage **out, const char *url,
                                      const char *auth_token,
                                      const char *name,
                                      const mts_libsql_options *opts,
                                      mts_error *err);
/** mts_libsql_open_replica with options (NULL: the defaults). */
MTS_API int mts_libsql_open_replica_ex(mts_storage **out, const char *path,
                                       const char *url,
                                       const char *auth_token,
                                       const char *name,
                                       const mts_libsql_options *opts,
                                       mts_error *err);
/**
 * As mts_sqlite_rekey, for every mode. Remote: the session is read and
 * then rewritten in one transaction that runs only if nobody changed the
 * session or its seal in between (else MTS_ELOCKED: try again). Replica:
 * the server first, then the local file (if that fails, the next load
 * pulls the server's copy again).
 */
MTS_API int mts_libsql_rekey(mts_storage *st, mts_secret *new_secret,
                             mts_error *err);

/* ---- PostgreSQL (MTSESSION_WITH_POSTGRES) ----------------------------- */

/**
 * The session of `account` (NULL means "default"; 1..255 bytes of UTF-8
 * without control characters) in a PostgreSQL database (12 or newer). One
 * database serves any number of accounts; the tables live in the schema
 * "mtsession", which is created (or checked, and migrated) here, so the
 * role needs CREATE on the database the first time (docs/FLEET.md).
 *
 * `conninfo` is a libpq connection string, "host=... dbname=..." or
 * "postgresql://...", read as libpq reads it (PG* environment variables
 * fill what it leaves out). Connects here, with a 10 s connect timeout
 * unless conninfo sets connect_timeout. The handle's name is
 * "postgres:<the options conninfo gave, passwords left out>#<account>".
 *
 * Every operation is one round trip and one transaction: a save replaces
 * the account's rows (unchanged rows are not rewritten), a granular change
 * is one upsert; values are stored as given. Loads see one consistent
 * snapshot.
 *
 * Leases (lease.h) are rows on the server's clock. While the handle holds
 * one, every write is a single statement that checks the owner and epoch
 * and is refused as a whole (MTS_EFENCED) unless the lease is still this
 * handle's and live. A handle that holds no lease writes unfenced, each
 * write ordered after the previous one by a lock on the account's lease
 * row, and is refused (MTS_ELOCKED, naming the holder) while anyone's
 * lease on the account is live.
 *
 * A connection found dead is re-opened once per call, and a statement
 * whose connection died after it was sent is sent once more (every
 * operation is idempotent). A write whose second attempt fails too is
 * MTS_EIO "outcome unknown": it may or may not have been committed; it is
 * never reported as a success.
 *
 * Open returns 0, MTS_EINVAL (NULL conninfo, a bad connection string or
 * account), MTS_EIO (the server cannot be reached or refused the
 * connection; libpq's message), MTS_EVERSION (the database holds a newer
 * schema, or one with no migration path), MTS_EFORMAT (an mtsession schema
 * this library did not write), MTS_ENOTSUPPORTED (server older than 12, or
 * the backend compiled out), MTS_EBACKEND, MTS_ENOMEM. Operations return,
 * besides their usual codes, MTS_EIO (connection lost and not recovered,
 * or outcome unknown), MTS_EBACKEND with err->native = the SQLSTATE as an
 * integer when it is five digits (23514), else 0, and the server's message
 * with "(SQLSTATE xxxxx)", MTS_ELOCKED and MTS_EFENCED as above.
 */
MTS_API int mts_postgres_open(mts_storage **out, const char *conninfo,
                              const char *account, mts_error *err);

#define MTS_POSTGRES_OPTIONS_VERSION 1

typedef struct mts_postgres_options {
    unsigned int version;
    /**
     * When not NULL, the account's dcs.auth_key, dcs.server_salt (kept in
     * dcs.server_salt_sealed) and sessions.future_token hold
     * XChaCha20-Poly1305 ciphertext bound to the account, table, row and
     * column, as with mts_sqlite_options.secret; mtsession.seals holds the
     * key derivation and a key check value. Borrowed: it must outlive the
     * handle. An account stored in clear cannot be opened with a secret
     * (MTS_EINVAL; mts_postgres_rekey seals it). When NULL, a sealed
     * account is opened locked (see mts_postgres_open_ex).
     */
    mts_secret *secret;
} mts_postgres_options;

#define MTS_POSTGRES_OPTIONS_INIT { MTS_POSTGRES_OPTIONS_VERSION, NULL }

/**
 * mts_postgres_open with options (NULL: the defaults). Besides what
 * mts_postgres_open returns: MTS_EINVAL for an unknown options version;
 * MTS_EBADKEY when the secret does not open the account's key check
 * value. A sealed value moved to another row or column loads as
 * MTS_ECORRUPT.
 *
 * A sealed account opened without a secret is opened "locked": leases
 * (lease.h), mts_storage_delete and the revision alone
 * (mts_storage_load_rev with out NULL) work, while loads, saves and
 * granular writes return MTS_EENCRYPTED ("the account is sealed; open it
 * with its secret") and send nothing that writes. When another handle
 * re-seals the account (mts_postgres_rekey), a handle notices at its next
 * load or write of secret columns and adopts the new seal: with its
 * secret if that opens it (else MTS_EBADKEY), locked without a secret,
 * and MTS_EINVAL for a handle with a secret on an account now in clear;
 * it never writes values under a seal that is no longer the account's.
 */
MTS_API int mts_postgres_open_ex(mts_storage **out, const char *conninfo,
                                 const char *account,
                                 const mts_postgres_options *opts,
                                 mts_error *err);

/**
 * Re-seal the account's secret columns under `new_secret` (NULL: store
 * them in clear, by request), as mts_sqlite_rekey does, in one
 * transaction: the lease row is locked (so every other write of the
 * account waits), the write is fenced like any other (a lease holder
 * whose lease is over: MTS_EFENCED; a handle without a lease while
 * someone's is live: MTS_ELOCKED), the session and its seal row are read
 * in one snapshot and opened with the handle's current secret, then the
 * seal row is replaced (or removed) and the auth keys, server salts and
 * future token are written under the new seal, never in clear on the
 * way, with a new revision. This also seals an account stored in clear.
 * Nothing stored is not an error: the seal row alone is replaced. The
 * handle then uses new_secret (borrowed, as in the options) and its old
 * column key is wiped. Returns 0, MTS_EINVAL (st is not a PostgreSQL
 * handle), MTS_EENCRYPTED or MTS_EBADKEY (the current secret does not open
 * the account), MTS_EFENCED, MTS_ELOCKED, and the errors of a load and a
 * save (MTS_EIO "outcome unknown" when the connection died at COMMIT); on
 * any other error the store and the handle are unchanged.
 */
MTS_API int mts_postgres_rekey(mts_storage *st, mts_secret *new_secret,
                               mts_error *err);

/* ---- run-time discovery ------------------------------------------------ */

/**
 * NULL-terminated static list of the backends compiled in
 * ("file", "memory", "string", ...).
 */
MTS_API const char *const *mts_backend_list(void);

/** 1 if the named backend is compiled in, else 0. */
MTS_API int mts_backend_available(const char *name);

MTS_END_DECL

#endif /* MTSESSION_BACKENDS_H */
