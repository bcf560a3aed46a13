/*
 * sql_schema.c - the SQL text, schema versions and row<->model mapping
 * shared by the SQLite and libSQL backends (see sql_schema.h, docs/SQL.md).
 *
 * Schema version 2: one database holds many named sessions. Every child
 * table is keyed by (session, ...) so sessions never see each other's rows:
 *
 *   sessions    (name) -> home_dc, test_mode, api_id, user_id, user_is_bot,
 *                         future_token, pts, qts, date, seq, rev
 *   dcs         (session, dc_id, flags, family) -> ip, port, auth_key,
 *                                                  server_salt, time_offset
 *   channel_pts (session, channel_id) -> pts
 *   peers       (session, kind, id) -> access_hash, channel_kind, community,
 *                                      bot, username, phone
 *   min_peers   (session, user_id) -> peer_id, msg_id
 *   seal        (session) -> kdf, opslimit, memlimit, salt, check_value
 *
 * Version 2 added sessions.rev (a random stamp every write changes) and
 * the seal table. A sealed value is 0x01, a random 24-byte nonce, then
 * XChaCha20-Poly1305 ciphertext and tag under the session's column key;
 * its associated data is "mtss1", the session's name, the table, the row
 * key and the column, each followed by a NUL, so a value opens only in
 * the row and column it was written for.
 *
 * A session exists when its sessions row exists. There are no CHECK
 * constraints: the model's rules live in C (the mapping below), so a later
 * model that widens a field needs no table rebuild, and load reports a
 * bad row instead of the schema hiding it.
 *
 * Pure data and pure functions: thread-safe.
 */
#include "sql_schema.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---- statements -------------------------------------------------------- */

const char *const mts__sql_text[MTS__SQL_STMT_COUNT] = {
    [MTS__SQL_BEGIN_READ] = "BEGIN",
    [MTS__SQL_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [MTS__SQL_COMMIT] = "COMMIT",
    [MTS__SQL_ROLLBACK] = "ROLLBACK",

    [MTS__SQL_GET_APPLICATION_ID] = "PRAGMA application_id",
    [MTS__SQL_GET_USER_VERSION] = "PRAGMA user_version",
    [MTS__SQL_COUNT_OBJECTS] = "SELECT count(*) FROM sqlite_master",
    [MTS__SQL_DATA_VERSION] = "PRAGMA data_version",

    [MTS__SQL_SESSION_GET] =
        "SELECT home_dc, test_mode, api_id, user_id, user_is_bot, "
        "future_token, pts, qts, date, seq FROM sessions WHERE name = ?",
    [MTS__SQL_SESSION_LIST] = "SELECT name FROM sessions ORDER BY name",
    [MTS__SQL_SESSION_ENSURE] =
        "INSERT INTO sessions (name, rev) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET rev = excluded.rev",
    [MTS__SQL_SESSION_PUT] =
        "INSERT INTO sessions (name, home_dc, test_mode, api_id, user_id, "
        "user_is_bot, future_token, pts, qts, date, seq, rev) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET home_dc = excluded.home_dc, "
        "test_mode = excluded.test_mode, api_id = excluded.api_id, "
        "user_id = excluded.user_id, user_is_bot = excluded.user_is_bot, "
        "future_token = excluded.future_token, pts = excluded.pts, "
        "qts = excluded.qts, date = excluded.date, seq = excluded.seq, "
        "rev = excluded.rev "
        "WHERE home_dc IS NOT excluded.home_dc "
        "OR test_mode IS NOT excluded.test_mode "
        "OR api_id IS NOT excluded.api_id OR user_id IS NOT excluded.user_id "
        "OR user_is_bot IS NOT excluded.user_is_bot "
        "OR future_token IS NOT excluded.future_token "
        "OR pts IS NOT excluded.pts OR qts IS NOT excluded.qts "
        "OR date IS NOT excluded.date OR seq IS NOT excluded.seq",
    [MTS__SQL_SESSION_SET_HOME] =
        "INSERT INTO sessions (name, home_dc, rev) VALUES (?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET home_dc = excluded.home_dc, "
        "rev = excluded.rev",
    [MTS__SQL_SESSION_SET_PRIMARY] =
        "INSERT INTO sessions (name, pts, date, seq, rev) "
        "VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET pts = excluded.pts, "
        "date = excluded.date, seq = excluded.seq, rev = excluded.rev",
    [MTS__SQL_SESSION_SET_SECONDARY] =
        "INSERT INTO sessions (name, qts, rev) VALUES (?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET qts = excluded.qts, "
        "rev = excluded.rev",
    [MTS__SQL_SESSION_SET_STATE] =
        "INSERT INTO sessions (name, pts, qts, date, seq, rev) "
        "VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET pts = excluded.pts, "
        "qts = excluded.qts, date = excluded.date, seq = excluded.seq, "
        "rev = excluded.rev",
    [MTS__SQL_SESSION_DEL] = "DELETE FROM sessions WHERE name = ?",
    [MTS__SQL_SESSION_REV] = "SELECT rev FROM sessions WHERE name = ?",
    [MTS__SQL_SESSION_SET_REV] = "UPDATE sessions SET rev = ? WHERE name = ?",
    [MTS__SQL_GUARD_REV] =
        "INSERT INTO sessions (name) SELECT NULL WHERE NOT EXISTS "
        "(SELECT 1 FROM sessions WHERE name = ? AND rev = ?)",
    [MTS__SQL_GUARD_SEAL] =
        "INSERT INTO sessions (name) SELECT NULL WHERE "
        "(SELECT check_value FROM seal WHERE session = ?) IS NOT ?",

    [MTS__SQL_SEAL_GET] = "SELECT kdf, opslimit, memlimit, salt, check_value "
                          "FROM seal WHERE session = ?",
    [MTS__SQL_SEAL_PUT] =
        "INSERT INTO seal (session, kdf, opslimit, memlimit, salt, "
        "check_value) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (session) DO "
        "UPDATE SET kdf = excluded.kdf, opslimit = excluded.opslimit, "
        "memlimit = excluded.memlimit, salt = excluded.salt, "
        "check_value = excluded.check_value",
    [MTS__SQL_SEAL_DEL] = "DELETE FROM seal WHERE session = ?",

    [MTS__SQL_DC_LIST] =
        "SELECT dc_id, flags, family, ip, port, auth_key, server_salt, "
        "time_offset FROM dcs WHERE session = ?",
    [MTS__SQL_DC_KEYS] =
        "SELECT dc_id, flags, family FROM dcs WHERE session = ?",
    [MTS__SQL_DC_PUT] =
        "INSERT INTO dcs (session, dc_id, flags, family, ip, port, auth_key, "
        "server_salt, time_offset) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (session, dc_id, flags, family) DO UPDATE SET "
        "ip = excluded.ip, port = excluded.port, "
        "auth_key = excluded.auth_key, server_salt = excluded.server_salt, "
        "time_offset = excluded.time_offset "
        "WHERE ip IS NOT excluded.ip OR port IS NOT excluded.port "
        "OR auth_key IS NOT excluded.auth_key "
        "OR server_salt IS NOT excluded.server_salt "
        "OR time_offset IS NOT excluded.time_offset",
    [MTS__SQL_DC_DEL] = "DELETE FROM dcs WHERE session = ? AND dc_id = ? "
                        "AND flags = ? AND family = ?",
    [MTS__SQL_DC_DEL_ALL] = "DELETE FROM dcs WHERE session = ?",

    [MTS__SQL_CHANNEL_LIST] =
        "SELECT channel_id, pts FROM channel_pts WHERE session = ?",
    [MTS__SQL_CHANNEL_PUT] =
        "INSERT INTO channel_pts (session, channel_id, pts) VALUES (?, ?, ?) "
        "ON CONFLICT (session, channel_id) DO UPDATE SET pts = excluded.pts "
        "WHERE pts IS NOT excluded.pts",
    [MTS__SQL_CHANNEL_DEL] =
        "DELETE FROM channel_pts WHERE session = ? AND channel_id = ?",
    [MTS__SQL_CHANNEL_DEL_ALL] = "DELETE FROM channel_pts WHERE session = ?",

    [MTS__SQL_PEER_LIST] =
        "SELECT kind, id, access_hash, channel_kind, community, bot, "
        "username, phone FROM peers WHERE session = ?",
    [MTS__SQL_PEER_KEYS] = "SELECT kind, id FROM peers WHERE session = ?",
    [MTS__SQL_PEER_PUT] =
        "INSERT INTO peers (session, kind, id, access_hash, channel_kind, "
        "community, bot, username, phone) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (session, kind, id) DO UPDATE SET "
        "access_hash = excluded.access_hash, "
        "channel_kind = excluded.channel_kind, "
        "community = excluded.community, bot = excluded.bot, "
        "username = excluded.username, phone = excluded.phone "
        "WHERE access_hash IS NOT excluded.access_hash "
        "OR channel_kind IS NOT excluded.channel_kind "
        "OR community IS NOT excluded.community OR bot IS NOT excluded.bot "
        "OR username IS NOT excluded.username "
        "OR phone IS NOT excluded.phone",
    [MTS__SQL_PEER_DEL] =
        "DELETE FROM peers WHERE session = ? AND kind = ? AND id = ?",
    [MTS__SQL_PEER_DEL_ALL] = "DELETE FROM peers WHERE session = ?",

    [MTS__SQL_MIN_PEER_LIST] =
        "SELECT user_id, peer_id, msg_id FROM min_peers WHERE session = ?",
    [MTS__SQL_MIN_PEER_PUT] =
        "INSERT INTO min_peers (session, user_id, peer_id, msg_id) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (session, user_id) DO UPDATE SET "
        "peer_id = excluded.peer_id, msg_id = excluded.msg_id "
        "WHERE peer_id IS NOT excluded.peer_id "
        "OR msg_id IS NOT excluded.msg_id",
    [MTS__SQL_MIN_PEER_DEL] =
        "DELETE FROM min_peers WHERE session = ? AND user_id = ?",
    [MTS__SQL_MIN_PEER_DEL_ALL] = "DELETE FROM min_peers WHERE session = ?",

    [MTS__SQL_LEASE_GET] =
        "SELECT owner, epoch, expires_ms FROM leases WHERE session = ?",
    [MTS__SQL_LEASE_PUT] =
        "INSERT INTO leases (session, owner, epoch, expires_ms) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (session) DO UPDATE SET "
        "owner = excluded.owner, epoch = excluded.epoch, "
        "expires_ms = excluded.expires_ms",

    [MTS__SQL_LEASE_ACQUIRE] =
        "INSERT INTO leases (session, owner, epoch, expires_ms) "
        "VALUES (?, ?, 1, " MTS__SQL_NOW_MS " + ?) "
        "ON CONFLICT (session) DO UPDATE SET "
        "epoch = CASE WHEN owner = excluded.owner AND expires_ms "
        "> " MTS__SQL_NOW_MS " THEN epoch ELSE epoch + 1 END, "
        "owner = excluded.owner, expires_ms = excluded.expires_ms "
        "WHERE owner = excluded.owner OR expires_ms <= " MTS__SQL_NOW_MS,
    [MTS__SQL_LEASE_RENEW] =
        "UPDATE leases SET expires_ms = " MTS__SQL_NOW_MS " + ? "
        "WHERE session = ? AND owner = ? AND epoch = ?",
    [MTS__SQL_LEASE_RELEASE] =
        "UPDATE leases SET expires_ms = min(expires_ms, " MTS__SQL_NOW_MS ") "
        "WHERE session = ? AND owner = ? AND epoch = ?",
    [MTS__SQL_LEASE_STATE] =
        "SELECT owner, epoch, expires_ms, expires_ms > " MTS__SQL_NOW_MS
        ", changes() FROM leases WHERE session = ?",
    [MTS__SQL_GUARD_LEASE_HELD] =
        "INSERT INTO leases (session) SELECT NULL WHERE NOT EXISTS "
        "(SELECT 1 FROM leases WHERE session = ? AND owner = ? AND epoch = ? "
        "AND expires_ms > " MTS__SQL_NOW_MS ")",
    [MTS__SQL_GUARD_LEASE_FREE] =
        "INSERT INTO leases (session) SELECT NULL WHERE EXISTS "
        "(SELECT 1 FROM leases WHERE session = ? AND expires_ms "
        "> " MTS__SQL_NOW_MS ")",
    [MTS__SQL_GUARD_NO_SESSION] =
        "INSERT INTO sessions (name) SELECT NULL WHERE EXISTS "
        "(SELECT 1 FROM sessions WHERE name = ?)",
};

const unsigned char mts__sql_nparams[MTS__SQL_STMT_COUNT] = {
    [MTS__SQL_SESSION_GET] = 1,
    [MTS__SQL_SESSION_ENSURE] = 2,
    [MTS__SQL_SESSION_PUT] = 12,
    [MTS__SQL_SESSION_SET_HOME] = 3,
    [MTS__SQL_SESSION_SET_PRIMARY] = 5,
    [MTS__SQL_SESSION_SET_SECONDARY] = 3,
    [MTS__SQL_SESSION_SET_STATE] = 6,
    [MTS__SQL_SESSION_DEL] = 1,
    [MTS__SQL_SESSION_REV] = 1,
    [MTS__SQL_SESSION_SET_REV] = 2,
    [MTS__SQL_GUARD_REV] = 2,
    [MTS__SQL_GUARD_SEAL] = 2,
    [MTS__SQL_SEAL_GET] = 1,
    [MTS__SQL_SEAL_PUT] = 6,
    [MTS__SQL_SEAL_DEL] = 1,
    [MTS__SQL_DC_LIST] = 1,
    [MTS__SQL_DC_KEYS] = 1,
    [MTS__SQL_DC_PUT] = 9,
    [MTS__SQL_DC_DEL] = 4,
    [MTS__SQL_DC_DEL_ALL] = 1,
    [MTS__SQL_CHANNEL_LIST] = 1,
    [MTS__SQL_CHANNEL_PUT] = 3,
    [MTS__SQL_CHANNEL_DEL] = 2,
    [MTS__SQL_CHANNEL_DEL_ALL] = 1,
    [MTS__SQL_PEER_LIST] = 1,
    [MTS__SQL_PEER_KEYS] = 1,
    [MTS__SQL_PEER_PUT] = 9,
    [MTS__SQL_PEER_DEL] = 3,
    [MTS__SQL_PEER_DEL_ALL] = 1,
    [MTS__SQL_MIN_PEER_LIST] = 1,
    [MTS__SQL_MIN_PEER_PUT] = 4,
    [MTS__SQL_MIN_PEER_DEL] = 2,
    [MTS__SQL_MIN_PEER_DEL_ALL] = 1,
    [MTS__SQL_LEASE_GET] = 1,
    [MTS__SQL_LEASE_PUT] = 4,
    [MTS__SQL_LEASE_ACQUIRE] = 3,
    [MTS__SQL_LEASE_RENEW] = 4,
    [MTS__SQL_LEASE_RELEASE] = 3,
    [MTS__SQL_LEASE_STATE] = 1,
    [MTS__SQL_GUARD_LEASE_HELD] = 3,
    [MTS__SQL_GUARD_LEASE_FREE] = 1,
    [MTS__SQL_GUARD_NO_SESSION] = 1,
};

const char *const mts__sql_label[MTS__SQL_STMT_COUNT] = {
    [MTS__SQL_BEGIN_READ] = "begin",
    [MTS__SQL_BEGIN_WRITE] = "begin immediate",
    [MTS__SQL_COMMIT] = "commit",
    [MTS__SQL_ROLLBACK] = "rollback",
    [MTS__SQL_GET_APPLICATION_ID] = "read application_id",
    [MTS__SQL_GET_USER_VERSION] = "read user_version",
    [MTS__SQL_COUNT_OBJECTS] = "count schema objects",
    [MTS__SQL_DATA_VERSION] = "read data_version",
    [MTS__SQL_SESSION_GET] = "read session",
    [MTS__SQL_SESSION_LIST] = "list sessions",
    [MTS__SQL_SESSION_ENSURE] = "create session",
    [MTS__SQL_SESSION_PUT] = "write session",
    [MTS__SQL_SESSION_SET_HOME] = "set home DC",
    [MTS__SQL_SESSION_SET_PRIMARY] = "set pts, date, seq",
    [MTS__SQL_SESSION_SET_SECONDARY] = "set qts",
    [MTS__SQL_SESSION_SET_STATE] = "set update state",
    [MTS__SQL_SESSION_DEL] = "delete session",
    [MTS__SQL_SESSION_REV] = "read session revision",
    [MTS__SQL_SESSION_SET_REV] = "set session revision",
    [MTS__SQL_GUARD_REV] = "check session revision",
    [MTS__SQL_GUARD_SEAL] = "check seal",
    [MTS__SQL_SEAL_GET] = "read seal",
    [MTS__SQL_SEAL_PUT] = "write seal",
    [MTS__SQL_SEAL_DEL] = "delete seal",
    [MTS__SQL_DC_LIST] = "read DCs",
    [MTS__SQL_DC_KEYS] = "read DC keys",
    [MTS__SQL_DC_PUT] = "write DC",
    [MTS__SQL_DC_DEL] = "delete DC",
    [MTS__SQL_DC_DEL_ALL] = "delete DCs",
    [MTS__SQL_CHANNEL_LIST] = "read channel pts",
    [MTS__SQL_CHANNEL_PUT] = "write channel pts",
    [MTS__SQL_CHANNEL_DEL] = "delete channel pts",
    [MTS__SQL_CHANNEL_DEL_ALL] = "delete all channel pts",
    [MTS__SQL_PEER_LIST] = "read peers",
    [MTS__SQL_PEER_KEYS] = "read peer keys",
    [MTS__SQL_PEER_PUT] = "write peer",
    [MTS__SQL_PEER_DEL] = "delete peer",
    [MTS__SQL_PEER_DEL_ALL] = "delete peers",
    [MTS__SQL_MIN_PEER_LIST] = "read min peers",
    [MTS__SQL_MIN_PEER_PUT] = "write min peer",
    [MTS__SQL_MIN_PEER_DEL] = "delete min peer",
    [MTS__SQL_MIN_PEER_DEL_ALL] = "delete min peers",
    [MTS__SQL_LEASE_GET] = "read lease",
    [MTS__SQL_LEASE_PUT] = "write lease",
    [MTS__SQL_LEASE_ACQUIRE] = "acquire lease",
    [MTS__SQL_LEASE_RENEW] = "renew lease",
    [MTS__SQL_LEASE_RELEASE] = "release lease",
    [MTS__SQL_LEASE_STATE] = "read lease state",
    [MTS__SQL_GUARD_LEASE_HELD] = "check lease holder",
    [MTS__SQL_GUARD_LEASE_FREE] = "check no lease is live",
    [MTS__SQL_GUARD_NO_SESSION] = "check nothing is stored",
};

/* ---- schema ------------------------------------------------------------ */

#define MTS__SQL_STR2(x) #x
#define MTS__SQL_STR(x)  MTS__SQL_STR2(x)

/*
 * The current schema (version 3), for an empty database. Each shipped
 * version's DDL stays frozen: a change is a new version, with a migration
 * below and this list updated to create the new version directly. The
 * text of each table is what the migrations leave in sqlite_master (SQLite
 * appends an added column as ", <definition>"), so a created and a
 * migrated database have the same schema, character for character.
 */
#define SEAL_TABLE                                                             \
    "CREATE TABLE seal ("                                                      \
    "session TEXT NOT NULL PRIMARY KEY, "                                      \
    "kdf INTEGER NOT NULL, "                                                   \
    "opslimit INTEGER NOT NULL DEFAULT 0, "                                    \
    "memlimit INTEGER NOT NULL DEFAULT 0, "                                    \
    "salt BLOB, "                                                              \
    "check_value BLOB NOT NULL"                                                \
    ") WITHOUT ROWID"

/* One lease row per session name (version 3). Kept apart from the
 * session's rows: deleting a session leaves its lease, so the epoch never
 * goes back. expires_ms is Unix time in ms on the clock of the host that
 * wrote it (SQLite has no server). */
#define LEASES_TABLE                                                           \
    "CREATE TABLE leases ("                                                    \
    "session TEXT NOT NULL PRIMARY KEY, "                                      \
    "owner TEXT NOT NULL, "                                                    \
    "epoch INTEGER NOT NULL, "                                                 \
    "expires_ms INTEGER NOT NULL"                                              \
    ") WITHOUT ROWID"

const char *const mts__sql_create[] = {
    "CREATE TABLE sessions ("
    "name TEXT NOT NULL PRIMARY KEY, "
    "home_dc INTEGER NOT NULL DEFAULT 0, "
    "test_mode INTEGER NOT NULL DEFAULT 0, "
    "api_id INTEGER, "
    "user_id INTEGER, "
    "user_is_bot INTEGER NOT NULL DEFAULT 0, "
    "future_token BLOB, "
    "pts INTEGER NOT NULL DEFAULT 0, "
    "qts INTEGER NOT NULL DEFAULT 0, "
    "date INTEGER NOT NULL DEFAULT 0, "
    "seq INTEGER NOT NULL DEFAULT 0, "
    "rev INTEGER NOT NULL DEFAULT 0"
    ") WITHOUT ROWID",
    "CREATE TABLE dcs ("
    "session TEXT NOT NULL, "
    "dc_id INTEGER NOT NULL, "
    "flags INTEGER NOT NULL, "
    "family INTEGER NOT NULL, "
    "ip TEXT NOT NULL, "
    "port INTEGER NOT NULL, "
    "auth_key BLOB, "
    "server_salt INTEGER NOT NULL DEFAULT 0, "
    "time_offset INTEGER NOT NULL DEFAULT 0, "
    "PRIMARY KEY (session, dc_id, flags, family)"
    ") WITHOUT ROWID",
    "CREATE TABLE channel_pts ("
    "session TEXT NOT NULL, "
    "channel_id INTEGER NOT NULL, "
    "pts INTEGER NOT NULL, "
    "PRIMARY KEY (session, channel_id)"
    ") WITHOUT ROWID",
    "CREATE TABLE peers ("
    "session TEXT NOT NULL, "
    "kind INTEGER NOT NULL, "
    "id INTEGER NOT NULL, "
    "access_hash INTEGER NOT NULL DEFAULT 0, "
    "channel_kind INTEGER NOT NULL DEFAULT 0, "
    "community INTEGER NOT NULL DEFAULT 0, "
    "bot INTEGER NOT NULL DEFAULT 0, "
    "username TEXT, "
    "phone TEXT, "
    "PRIMARY KEY (session, kind, id)"
    ") WITHOUT ROWID",
    "CREATE TABLE min_peers ("
    "session TEXT NOT NULL, "
    "user_id INTEGER NOT NULL, "
    "peer_id INTEGER NOT NULL, "
    "msg_id INTEGER NOT NULL, "
    "PRIMARY KEY (session, user_id)"
    ") WITHOUT ROWID",
    SEAL_TABLE,
    LEASES_TABLE,
    "PRAGMA application_id = " MTS__SQL_STR(MTS__SQL_APPLICATION_ID),
    "PRAGMA user_version = " MTS__SQL_STR(MTS__SQL_SCHEMA_VERSION),
};
const size_t mts__sql_create_count = MTS__ARRAY_LEN(mts__sql_create);

/*
 * Migration steps, one per version bump, oldest first. A step must be
 * valid SQL for both engines, must not assume data beyond what its `from`
 * version allows, and ends with "PRAGMA user_version = <from + 1>".
 */
static const char *const migrate_1_2[] = {
    /* every existing row gets rev 0: no version-2 writer stamped it */
    "ALTER TABLE sessions ADD COLUMN rev INTEGER NOT NULL DEFAULT 0",
    SEAL_TABLE,
    "PRAGMA user_version = 2",
};

/* version 3: leases; no session is leased after the migration */
static const char *const migrate_2_3[] = {
    LEASES_TABLE,
    "PRAGMA user_version = 3",
};

static const mts__sql_migration migrations[] = {
    { 1, migrate_1_2, MTS__ARRAY_LEN(migrate_1_2) },
    { 2, migrate_2_3, MTS__ARRAY_LEN(migrate_2_3) },
};

const mts__sql_migration *
mts__sql_migration_from(int64_t from)
{
    for (size_t i = 0; i < MTS__ARRAY_LEN(migrations); i++)
        if (migrations[i].stmts != NULL && migrations[i].from == from)
            return &migrations[i];
    return NULL;
}

int
mts__sql_schema_check(mts__sql_schema_action *out,
                      int64_t application_id,
                      int64_t user_version,
                      int64_t objects,
                      mts_error *err)
{
    if (application_id == 0 && user_version == 0) {
        if (objects == 0) {
            *out = MTS__SQL_SCHEMA_CREATE;
            return 0;
        }
        return mts__err(err, MTS_EFORMAT,
                        "not an mtsession database: it has %lld schema "
                        "objects but no mtsession application_id; left "
                        "untouched",
                        (long long)objects);
    }
    if (application_id != MTS__SQL_APPLICATION_ID)
        return mts__err(err, MTS_EFORMAT,
                        "not an mtsession database (application_id %lld, "
                        "user_version %lld); left untouched",
                        (long long)application_id, (long long)user_version);
    if (user_version == MTS__SQL_SCHEMA_VERSION) {
        *out = MTS__SQL_SCHEMA_READY;
        return 0;
    }
    if (user_version > MTS__SQL_SCHEMA_VERSION)
        return mts__err(err, MTS_EVERSION,
                        "schema version %lld is newer than this library's "
                        "(%d); open it with a newer mtsession",
                        (long long)user_version, MTS__SQL_SCHEMA_VERSION);
    if (user_version < 1)
        return mts__err(err, MTS_EVERSION,
                        "schema version %lld was never written by mtsession",
                        (long long)user_version);
    for (int64_t v = user_version; v < MTS__SQL_SCHEMA_VERSION; v++)
        if (mts__sql_migration_from(v) == NULL)
            return mts__err(err, MTS_EVERSION,
                            "schema version %lld: no migration to version "
                            "%lld in this library",
                            (long long)v, (long long)(v + 1));
    *out = MTS__SQL_SCHEMA_MIGRATE;
    return 0;
}

int
mts__sql_check_name(const char *name, mts_error *err)
{
    size_t n;
    if (name == NULL)
        return mts__err(err, MTS_EINVAL, "session name: NULL");
    n = strlen(name);
    if (n == 0 || n > MTS__SQL_NAME_MAX)
        return mts__err(err, MTS_EINVAL,
                        "session name: must be 1..%d bytes, not %zu",
                        MTS__SQL_NAME_MAX, n);
    if (!mts__utf8_valid((const uint8_t *)name, n))
        return mts__err(err, MTS_EINVAL,
                        "session name: must be UTF-8 without control "
                        "characters");
    return 0;
}

/* ---- model -> SQL ------------------------------------------------------ */

static mts__sqlv
v_int(int64_t i)
{
    mts__sqlv v = { MTS__SQL_INT, i, NULL, 0 };
    return v;
}

static mts__sqlv
v_null(void)
{
    mts__sqlv v = { MTS__SQL_NULL, 0, NULL, 0 };
    return v;
}

static mts__sqlv
v_text(const char *s)
{
    mts__sqlv v = { MTS__SQL_TEXT, 0, s, 0 };
    if (s == NULL)
        return v_null();
    v.n = strlen(s);
    return v;
}

static mts__sqlv
v_blob(const void *p, size_t n)
{
    mts__sqlv v = { MTS__SQL_BLOB, 0, p, n };
    if (p == NULL)
        return v_null();
    return v;
}

int64_t
mts__sql_new_rev(void)
{
    static _Atomic uint64_t fallback;
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        /* no entropy source: unique enough within this process, and the
         * time and pid keep other processes apart */
        r = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL ^
            ((uint64_t)getpid() << 32) ^ ++fallback * 0xbf58476d1ce4e5b9ULL;
    }
    r &= (uint64_t)INT64_MAX;
    return r == 0 ? 1 : (int64_t)r;
}

/* ---- sealed values ------------------------------------------------------ */

#define SEAL_VERSION 1
#define SEAL_NONCE   24
#define SEAL_TAG     16

static const uint8_t check_plain[22] = "mtsession key check v1";

/* Associated data: "mtss1", name, table, row key, column, each followed by
 * a NUL. Returns its length, or 0 if it does not fit. */
static size_t
seal_ad(uint8_t *buf,
        size_t size,
        const char *name,
        const char *table,
        const char *rowkey,
        const char *column)
{
    const char *parts[5] = { "mtss1", name, table, rowkey, column };
    size_t n = 0;
    for (size_t i = 0; i < 5; i++) {
        size_t k = strlen(parts[i]);
        if (n + k + 1 > size)
            return 0;
        memcpy(buf + n, parts[i], k);
        n += k;
        buf[n++] = 0;
    }
    return n;
}

/* The AD buffer: the name is at most MTS__SQL_NAME_MAX bytes. */
#define SEAL_AD_SIZE (MTS__SQL_NAME_MAX + 128)

static void
seal_value(uint8_t *out,
           const uint8_t *plain,
           size_t n,
           const char *name,
           const char *table,
           const char *rowkey,
           const char *column,
           const mts__sql_seal *seal)
{
    uint8_t ad[SEAL_AD_SIZE];
    size_t adlen = seal_ad(ad, sizeof(ad), name, table, rowkey, column);
    unsigned long long clen = 0;
    out[0] = SEAL_VERSION;
    randombytes_buf(out + 1, SEAL_NONCE);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 1 + SEAL_NONCE, &clen,
                                               plain, n, ad, adlen, NULL,
                                               out + 1, seal->key);
}

/* Open a sealed value of `want` plaintext bytes into out. 0, or -1 when
 * it is not one (wrong size, version) or does not authenticate. */
static int
open_value(uint8_t *out,
           size_t want,
           const uint8_t *in,
           size_t n,
           const char *name,
           const char *table,
           const char *rowkey,
           const char *column,
           const mts__sql_seal *seal)
{
    uint8_t ad[SEAL_AD_SIZE];
    size_t adlen = seal_ad(ad, sizeof(ad), name, table, rowkey, column);
    unsigned long long got = 0;
    if (n != want + MTS__SQL_SEAL_OVERHEAD || in[0] != SEAL_VERSION ||
        adlen == 0)
        return -1;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            out, &got, NULL, in + 1 + SEAL_NONCE, n - 1 - SEAL_NONCE, ad, adlen,
            in + 1, seal->key) != 0 ||
        got != want) {
        mts__wipe(out, want);
        return -1;
    }
    return 0;
}

static void
dc_rowkey(char *buf, size_t size, int64_t dc_id, int64_t flags, int64_t family)
{
    snprintf(buf, size, "%lld/%lld/%lld", (long long)dc_id, (long long)flags,
             (long long)family);
}

static void
put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int
mts__sql_seal_row_from(mts__sql_seal_row *out,
                       const char *name,
                       const mts__sqlv *c,
                       size_t ncols,
                       mts_error *err)
{
    const mts__sqlv *salt, *check;
    memset(out, 0, sizeof(*out));
    if (c == NULL)
        return 0;
    if (ncols != MTS__SQL_SEAL_NCOLS)
        return mts__err(err, MTS_ECORRUPT,
                        "table seal: a row has %zu columns, expected %d", ncols,
                        MTS__SQL_SEAL_NCOLS);
    salt = &c[MTS__SQL_SEAL_COL_SALT];
    check = &c[MTS__SQL_SEAL_COL_CHECK];
    if (c[MTS__SQL_SEAL_COL_KDF].type != MTS__SQL_INT ||
        c[MTS__SQL_SEAL_COL_OPSLIMIT].type != MTS__SQL_INT ||
        c[MTS__SQL_SEAL_COL_MEMLIMIT].type != MTS__SQL_INT)
        return mts__err(err, MTS_ECORRUPT,
                        "table seal, row (session='%s'): kdf, opslimit and "
                        "memlimit must be integers",
                        name);
    if (c[MTS__SQL_SEAL_COL_KDF].i == 0) {
        out->kdf.kind = 0;
        if (c[MTS__SQL_SEAL_COL_OPSLIMIT].i != 0 ||
            c[MTS__SQL_SEAL_COL_MEMLIMIT].i != 0 || salt->type != MTS__SQL_NULL)
            return mts__err(err, MTS_ECORRUPT,
                            "table seal, row (session='%s'): a raw-key seal "
                            "with key derivation fields set",
                            name);
    } else if (c[MTS__SQL_SEAL_COL_KDF].i == 1) {
        out->kdf.kind = 1;
        if (c[MTS__SQL_SEAL_COL_OPSLIMIT].i < 1 ||
            c[MTS__SQL_SEAL_COL_OPSLIMIT].i > 32 ||
            c[MTS__SQL_SEAL_COL_MEMLIMIT].i < 8 ||
            c[MTS__SQL_SEAL_COL_MEMLIMIT].i > MTS_KDF_MAX_MEMLIMIT_KIB)
            return mts__err(err, MTS_ECORRUPT,
                            "table seal, row (session='%s'): argon2id cost "
                            "(opslimit %lld, memlimit %lld KiB) out of range",
                            name, (long long)c[MTS__SQL_SEAL_COL_OPSLIMIT].i,
                            (long long)c[MTS__SQL_SEAL_COL_MEMLIMIT].i);
        if (salt->type != MTS__SQL_BLOB || salt->n != sizeof(out->kdf.salt))
            return mts__err(err, MTS_ECORRUPT,
                            "table seal, row (session='%s'), column salt: "
                            "expected a 16-byte blob",
                            name);
        out->kdf.ops = (uint32_t)c[MTS__SQL_SEAL_COL_OPSLIMIT].i;
        out->kdf.memkib = (uint32_t)c[MTS__SQL_SEAL_COL_MEMLIMIT].i;
        memcpy(out->kdf.salt, salt->p, sizeof(out->kdf.salt));
    } else {
        return mts__err(err, MTS_EVERSION,
                        "table seal, row (session='%s'): key derivation %lld "
                        "is unknown to this library",
                        name, (long long)c[MTS__SQL_SEAL_COL_KDF].i);
    }
    if (check->type != MTS__SQL_BLOB || check->n != MTS__SQL_CHECK_SIZE)
        return mts__err(err, MTS_ECORRUPT,
                        "table seal, row (session='%s'), column check_value: "
                        "expected a %d-byte blob",
                        name, MTS__SQL_CHECK_SIZE);
    memcpy(out->check, check->p, MTS__SQL_CHECK_SIZE);
    out->present = 1;
    return 0;
}

int
mts__sql_seal_row_same(const mts__sql_seal_row *a, const mts__sql_seal_row *b)
{
    if (a->present != b->present)
        return 0;
    if (!a->present)
        return 1;
    return a->kdf.kind == b->kdf.kind && a->kdf.ops == b->kdf.ops &&
           a->kdf.memkib == b->kdf.memkib &&
           memcmp(a->kdf.salt, b->kdf.salt, sizeof(a->kdf.salt)) == 0 &&
           memcmp(a->check, b->check, sizeof(a->check)) == 0;
}

int
mts__sql_seal_open(mts__sql_seal *out,
                   const mts__sql_seal_row *row,
                   const char *name,
                   mts_secret *secret,
                   mts_error *err)
{
    uint8_t plain[sizeof(check_plain)];
    int rc;
    if (secret == NULL)
        return mts__err(err, MTS_EENCRYPTED,
                        "session '%s' is sealed (%s) and no key or "
                        "passphrase was given",
                        name,
                        row->kdf.kind == 0 ? "with a 32-byte key"
                                           : "with a passphrase");
    if ((rc = mts__secret_subkey(out->key, secret, &row->kdf, "mtssqlv1",
                                 err)) != 0) {
        if (rc == MTS_EBADKEY)
            mts__err_prefix(err, "session '%s'", name);
        return rc;
    }
    if (open_value(plain, sizeof(plain), row->check, sizeof(row->check), name,
                   "seal", "", "check_value", out) != 0 ||
        sodium_memcmp(plain, check_plain, sizeof(plain)) != 0) {
        mts__wipe(out, sizeof(*out));
        return mts__err(err, MTS_EBADKEY,
                        "wrong key or passphrase for session '%s': its key "
                        "check value does not open with it",
                        name);
    }
    return 0;
}

int
mts__sql_seal_new(mts__sql_seal *out,
                  mts__sql_seal_row *row,
                  const char *name,
                  mts_secret *secret,
                  mts_error *err)
{
    int rc;
    memset(row, 0, sizeof(*row));
    if ((rc = mts__secret_kdf_new(&row->kdf, secret, err)) != 0 ||
        (rc = mts__secret_subkey(out->key, secret, &row->kdf, "mtssqlv1",
                                 err)) != 0)
        return rc;
    seal_value(row->check, check_plain, sizeof(check_plain), name, "seal", "",
               "check_value", out);
    row->present = 1;
    return 0;
}

/* ---- emitters ----------------------------------------------------------- */

#define EMIT(stmt, params)                                                     \
    do {                                                                       \
        MTS_ASSERT(MTS__ARRAY_LEN(params) == mts__sql_nparams[stmt]);          \
        int emit_rc_ =                                                         \
            emit((stmt), (params), MTS__ARRAY_LEN(params), payload);           \
        if (emit_rc_ != 0)                                                     \
            return emit_rc_;                                                   \
    } while (0)

static int
emit_name(mts__sql_stmt stmt,
          const char *name,
          mts__sql_emit_fn emit,
          void *payload)
{
    mts__sqlv p[1];
    p[0] = v_text(name);
    EMIT(stmt, p);
    return 0;
}

static int
emit_ensure(const mts__sql_ctx *cx, mts__sql_emit_fn emit, void *payload)
{
    mts__sqlv p[2];
    p[0] = v_text(cx->name);
    p[1] = v_int(cx->rev);
    EMIT(MTS__SQL_SESSION_ENSURE, p);
    return 0;
}

static int
emit_dc_put(const mts__sql_ctx *cx,
            const mts_dc *dc,
            mts__sql_emit_fn emit,
            void *payload)
{
    char ip[MTS__SQL_IP_TEXT_SIZE], rowkey[64];
    uint8_t key[MTS_AUTH_KEY_SIZE + MTS__SQL_SEAL_OVERHEAD];
    uint8_t salt[8 + MTS__SQL_SEAL_OVERHEAD], plain[8];
    mts__sqlv p[9];
    int rc;
    if (mts_ip_format(ip, sizeof(ip), &dc->ip) != 0)
        return MTS_EINVAL; /* unreachable for a validated entry */
    p[0] = v_text(cx->name);
    p[1] = v_int(dc->dc_id);
    p[2] = v_int(dc->flags);
    p[3] = v_int(dc->ip.family);
    p[4] = v_text(ip);
    p[5] = v_int(dc->port);
    p[6] = v_blob(dc->auth_key, MTS_AUTH_KEY_SIZE);
    p[7] = v_int(dc->server_salt);
    p[8] = v_int(dc->time_offset);
    if (cx->seal != NULL) {
        dc_rowkey(rowkey, sizeof(rowkey), dc->dc_id, dc->flags, dc->ip.family);
        if (dc->auth_key != NULL) {
            seal_value(key, dc->auth_key, MTS_AUTH_KEY_SIZE, cx->name, "dcs",
                       rowkey, "auth_key", cx->seal);
            p[6] = v_blob(key, sizeof(key));
        }
        put_le64(plain, (uint64_t)dc->server_salt);
        seal_value(salt, plain, sizeof(plain), cx->name, "dcs", rowkey,
                   "server_salt", cx->seal);
        p[7] = v_blob(salt, sizeof(salt));
    }
    rc = emit(MTS__SQL_DC_PUT, p, MTS__ARRAY_LEN(p), payload);
    mts__wipe(plain, sizeof(plain));
    return rc;
}

static int
emit_channel_put(const mts__sql_ctx *cx,
                 int64_t id,
                 int32_t pts,
                 mts__sql_emit_fn emit,
                 void *payload)
{
    mts__sqlv p[3];
    p[0] = v_text(cx->name);
    p[1] = v_int(id);
    p[2] = v_int(pts);
    EMIT(MTS__SQL_CHANNEL_PUT, p);
    return 0;
}

static int
emit_peer_put(const mts__sql_ctx *cx,
              const mts_peer *peer,
              mts__sql_emit_fn emit,
              void *payload)
{
    mts__sqlv p[9];
    p[0] = v_text(cx->name);
    p[1] = v_int(peer->kind);
    p[2] = v_int(peer->id);
    p[3] = v_int(peer->access_hash);
    p[4] = v_int(peer->channel_kind);
    p[5] = v_int(peer->community);
    p[6] = v_int(peer->bot);
    p[7] = v_text(peer->username);
    p[8] = v_text(peer->phone);
    EMIT(MTS__SQL_PEER_PUT, p);
    return 0;
}

static int
emit_min_put(const mts__sql_ctx *cx,
             const mts_min_peer *mp,
             mts__sql_emit_fn emit,
             void *payload)
{
    mts__sqlv q[4];
    q[0] = v_text(cx->name);
    q[1] = v_int(mp->user_id);
    q[2] = v_int(mp->peer_id);
    q[3] = v_int(mp->msg_id);
    EMIT(MTS__SQL_MIN_PEER_PUT, q);
    return 0;
}

/* The sessions row, every column (SESSION_PUT). */
static int
emit_session_put(const mts__sql_ctx *cx,
                 const mts_session *s,
                 mts__sql_emit_fn emit,
                 void *payload)
{
    mts__sqlv p[12];
    mts_update_state us;
    int32_t api_id;
    int64_t user_id;
    int is_bot = 0, rc;
    const uint8_t *token;
    size_t token_len;
    uint8_t *sealed = NULL;

    mts_session_update_state(s, &us);
    p[0] = v_text(cx->name);
    p[1] = v_int(mts_session_home_dc(s));
    p[2] = v_int(mts_session_test_mode(s) ? 1 : 0);
    p[3] = mts_session_api_id(s, &api_id) == 0 ? v_int(api_id) : v_null();
    if (mts_session_user(s, &user_id, &is_bot) == 0) {
        p[4] = v_int(user_id);
        p[5] = v_int(is_bot ? 1 : 0);
    } else {
        p[4] = v_null();
        p[5] = v_int(0);
    }
    if (mts_session_future_auth_token(s, &token, &token_len) == 0) {
        p[6] = v_blob(token, token_len);
        if (cx->seal != NULL) {
            sealed = mts_malloc(token_len + MTS__SQL_SEAL_OVERHEAD);
            if (sealed == NULL)
                return MTS_ENOMEM;
            seal_value(sealed, token, token_len, cx->name, "sessions", "",
                       "future_token", cx->seal);
            p[6] = v_blob(sealed, token_len + MTS__SQL_SEAL_OVERHEAD);
        }
    } else {
        p[6] = v_null();
    }
    p[7] = v_int(us.pts);
    p[8] = v_int(us.qts);
    p[9] = v_int(us.date);
    p[10] = v_int(us.seq);
    p[11] = v_int(cx->rev);
    MTS_ASSERT(mts__sql_nparams[MTS__SQL_SESSION_PUT] == 12);
    rc = emit(MTS__SQL_SESSION_PUT, p, 12, payload);
    mts_free(sealed);
    return rc;
}

int
mts__sql_emit_save(const mts__sql_ctx *cx,
                   const mts_session *s,
                   unsigned int flags,
                   mts__sql_emit_fn emit,
                   void *payload)
{
    const int replace = (flags & MTS__SQL_EMIT_REPLACE) != 0;
    const char *name = cx->name;
    int rc;

    if ((rc = emit_session_put(cx, s, emit, payload)) != 0)
        return rc;

    if (replace && (rc = emit_name(MTS__SQL_DC_DEL_ALL, name, emit, payload)))
        return rc;
    for (size_t i = 0, n = mts_session_dc_count(s); i < n; i++) {
        mts_dc dc;
        if (mts_session_dc_at(&dc, s, i) != 0)
            break;
        if ((rc = emit_dc_put(cx, &dc, emit, payload)) != 0)
            return rc;
    }
    if (flags & MTS__SQL_EMIT_SECRETS)
        return 0;

    if (replace &&
        (rc = emit_name(MTS__SQL_CHANNEL_DEL_ALL, name, emit, payload)))
        return rc;
    for (size_t i = 0, n = mts_session_channel_count(s); i < n; i++) {
        mts_channel_pts c;
        if (mts_session_channel_at(&c, s, i) != 0)
            break;
        if ((rc = emit_channel_put(cx, c.channel_id, c.pts, emit, payload)))
            return rc;
    }

    if (replace && (rc = emit_name(MTS__SQL_PEER_DEL_ALL, name, emit, payload)))
        return rc;
    for (size_t i = 0, n = mts_session_peer_count(s); i < n; i++) {
        mts_peer peer;
        if (mts_session_peer_at(&peer, s, i) != 0)
            break;
        if ((rc = emit_peer_put(cx, &peer, emit, payload)) != 0)
            return rc;
    }

    if (replace &&
        (rc = emit_name(MTS__SQL_MIN_PEER_DEL_ALL, name, emit, payload)))
        return rc;
    for (size_t i = 0, n = mts_session_min_peer_count(s); i < n; i++) {
        mts_min_peer mp;
        if (mts_session_min_peer_at(&mp, s, i) != 0)
            break;
        if ((rc = emit_min_put(cx, &mp, emit, payload)) != 0)
            return rc;
    }
    return 0;
}

/* ---- deltas ------------------------------------------------------------- */

/* Counts what a delta emits. */
typedef struct counting {
    mts__sql_emit_fn emit;
    void *payload;
    size_t n;
} counting;

static int
count_emit(mts__sql_stmt stmt, const mts__sqlv *p, size_t n, void *payload)
{
    counting *c = payload;
    c->n++;
    return c->emit(stmt, p, n, c->payload);
}

static int
find_dc(mts_dc *out,
        const mts_session *s,
        int64_t id,
        unsigned flags,
        unsigned family)
{
    for (size_t i = 0, n = mts_session_dc_count(s); i < n; i++)
        if (mts_session_dc_at(out, s, i) == 0 && out->dc_id == id &&
            out->flags == flags && out->ip.family == family)
            return 1;
    return 0;
}

/* Make the row of one key equal to the snapshot: upsert it when the
 * snapshot has it, else delete it. */
static int
sync_key(const mts__sql_ctx *cx,
         const mts_session *s,
         uint8_t table,
         int64_t id,
         uint8_t k1,
         uint8_t k2,
         mts__sql_emit_fn emit,
         void *payload)
{
    mts__sqlv p[4];
    p[0] = v_text(cx->name);
    switch (table) {
    case MTS__REMOVED_DC: {
        mts_dc dc;
        if (find_dc(&dc, s, id, k1, k2))
            return emit_dc_put(cx, &dc, emit, payload);
        p[1] = v_int(id);
        p[2] = v_int(k1);
        p[3] = v_int(k2);
        EMIT(MTS__SQL_DC_DEL, p);
        return 0;
    }
    case MTS__REMOVED_CHANNEL: {
        int32_t pts;
        mts__sqlv q[2];
        if (mts_session_channel_pts(s, id, &pts) == 0)
            return emit_channel_put(cx, id, pts, emit, payload);
        q[0] = p[0];
        q[1] = v_int(id);
        EMIT(MTS__SQL_CHANNEL_DEL, q);
        return 0;
    }
    case MTS__REMOVED_PEER: {
        mts_peer peer;
        mts__sqlv q[3];
        if (mts_session_get_peer(&peer, s, (mts_peer_kind)k1, id) == 0)
            return emit_peer_put(cx, &peer, emit, payload);
        q[0] = p[0];
        q[1] = v_int(k1);
        q[2] = v_int(id);
        EMIT(MTS__SQL_PEER_DEL, q);
        return 0;
    }
    case MTS__REMOVED_MIN_PEER: {
        mts_min_peer mp;
        mts__sqlv q[2];
        if (mts_session_get_min_peer(&mp, s, id) == 0)
            return emit_min_put(cx, &mp, emit, payload);
        q[0] = p[0];
        q[1] = v_int(id);
        EMIT(MTS__SQL_MIN_PEER_DEL, q);
        return 0;
    }
    }
    return MTS_EINVAL;
}

int
mts__sql_emit_delta(const mts__sql_ctx *cx,
                    const mts_session *s,
                    const mts__sql_delta *d,
                    size_t *count,
                    mts__sql_emit_fn emit,
                    void *payload)
{
    counting c = { emit, payload, 0 };
    const uint64_t since = d->since;
    int rc = 0;

    *count = 0;
    if (!mts__session_delta_ok(s, since))
        return MTS_EINVAL; /* the caller checks first */
    /* Removed records: their rows go, unless the key came back (then the
     * record is stamped after `since` and is upserted below). */
    for (size_t i = 0, n = mts__session_removal_count(s); i < n && !rc; i++) {
        const mts__removal *r = mts__session_removal_at(s, i);
        if (r->gen <= since)
            continue;
        if (r->table == MTS__REMOVED_CHANNEL && d->all_channels)
            continue;
        rc = sync_key(cx, s, r->table, r->id, r->k1, r->k2, count_emit, &c);
    }
    /* Rows granular writes touched: back to the snapshot's. */
    for (size_t i = 0; i < d->ntouched && !rc; i++) {
        const mts__sql_touched *t = &d->touched[i];
        if (t->table == MTS__REMOVED_CHANNEL && d->all_channels)
            continue;
        rc = sync_key(cx, s, t->table, t->id, t->k1, t->k2, count_emit, &c);
    }
    for (size_t i = 0, n = mts_session_dc_count(s); i < n && !rc; i++) {
        mts_dc dc;
        if (mts__session_dc_changed(s, i, since) &&
            mts_session_dc_at(&dc, s, i) == 0)
            rc = emit_dc_put(cx, &dc, count_emit, &c);
    }
    if (!rc && d->all_channels)
        rc = emit_name(MTS__SQL_CHANNEL_DEL_ALL, cx->name, count_emit, &c);
    for (size_t i = 0, n = mts_session_channel_count(s); i < n && !rc; i++) {
        mts_channel_pts ch;
        if ((d->all_channels || mts__session_channel_changed(s, i, since)) &&
            mts_session_channel_at(&ch, s, i) == 0)
            rc = emit_channel_put(cx, ch.channel_id, ch.pts, count_emit, &c);
    }
    for (size_t i = 0, n = mts_session_peer_count(s); i < n && !rc; i++) {
        mts_peer peer;
        if (mts__session_peer_changed(s, i, since) &&
            mts_session_peer_at(&peer, s, i) == 0)
            rc = emit_peer_put(cx, &peer, count_emit, &c);
    }
    for (size_t i = 0, n = mts_session_min_peer_count(s); i < n && !rc; i++) {
        mts_min_peer mp;
        if (mts__session_min_peer_changed(s, i, since) &&
            mts_session_min_peer_at(&mp, s, i) == 0)
            rc = emit_min_put(cx, &mp, count_emit, &c);
    }
    /* The sessions row last, when the scalars changed (or a granular
     * write touched them). */
    if (!rc && (d->scalars || mts__session_scalars_changed(s, since)))
        rc = emit_session_put(cx, s, count_emit, &c);
    *count = c.n;
    return rc;
}

int
mts__sql_emit_rev(const mts__sql_ctx *cx, mts__sql_emit_fn emit, void *payload)
{
    mts__sqlv p[2];
    p[0] = v_int(cx->rev);
    p[1] = v_text(cx->name);
    EMIT(MTS__SQL_SESSION_SET_REV, p);
    return 0;
}

int
mts__sql_emit_update(const mts__sql_ctx *cx,
                     const mts_update_change *c,
                     mts__sql_emit_fn emit,
                     void *payload)
{
    const char *name = cx->name;
    int rc;
    switch (c->kind) {
    case MTS_UPDATE_PRIMARY: {
        mts__sqlv p[5];
        p[0] = v_text(name);
        p[1] = v_int(c->state.pts);
        p[2] = v_int(c->state.date);
        p[3] = v_int(c->state.seq);
        p[4] = v_int(cx->rev);
        EMIT(MTS__SQL_SESSION_SET_PRIMARY, p);
        return 0;
    }
    case MTS_UPDATE_SECONDARY: {
        mts__sqlv p[3];
        p[0] = v_text(name);
        p[1] = v_int(c->state.qts);
        p[2] = v_int(cx->rev);
        EMIT(MTS__SQL_SESSION_SET_SECONDARY, p);
        return 0;
    }
    case MTS_UPDATE_CHANNEL:
        if ((rc = emit_ensure(cx, emit, payload)))
            return rc;
        return emit_channel_put(cx, c->channel_id, c->channel_pts, emit,
                                payload);
    case MTS_UPDATE_ALL: {
        mts__sqlv p[6];
        p[0] = v_text(name);
        p[1] = v_int(c->state.pts);
        p[2] = v_int(c->state.qts);
        p[3] = v_int(c->state.date);
        p[4] = v_int(c->state.seq);
        p[5] = v_int(cx->rev);
        EMIT(MTS__SQL_SESSION_SET_STATE, p);
        if ((rc = emit_name(MTS__SQL_CHANNEL_DEL_ALL, name, emit, payload)))
            return rc;
        for (size_t i = 0; i < c->channel_count; i++)
            if ((rc = emit_channel_put(cx, c->channels[i].channel_id,
                                       c->channels[i].pts, emit, payload)))
                return rc;
        return 0;
    }
    }
    return MTS_EINVAL; /* validated by the caller: unreachable */
}

int
mts__sql_emit_dc(const mts__sql_ctx *cx,
                 const mts_dc *dc,
                 mts__sql_emit_fn emit,
                 void *payload)
{
    int rc = emit_ensure(cx, emit, payload);
    return rc != 0 ? rc : emit_dc_put(cx, dc, emit, payload);
}

int
mts__sql_emit_peer(const mts__sql_ctx *cx,
                   const mts_peer *p,
                   mts__sql_emit_fn emit,
                   void *payload)
{
    int rc = emit_ensure(cx, emit, payload);
    return rc != 0 ? rc : emit_peer_put(cx, p, emit, payload);
}

int
mts__sql_emit_home(const mts__sql_ctx *cx,
                   int32_t dc_id,
                   mts__sql_emit_fn emit,
                   void *payload)
{
    mts__sqlv p[3];
    p[0] = v_text(cx->name);
    p[1] = v_int(dc_id);
    p[2] = v_int(cx->rev);
    EMIT(MTS__SQL_SESSION_SET_HOME, p);
    return 0;
}

int
mts__sql_emit_granular(const mts__sql_ctx *cx,
                       const mts__sql_granular *op,
                       mts__sql_emit_fn emit,
                       void *payload)
{
    switch (op->kind) {
    case MTS__SQL_G_UPDATE:
        return mts__sql_emit_update(cx, op->change, emit, payload);
    case MTS__SQL_G_DC:
        return mts__sql_emit_dc(cx, op->dc, emit, payload);
    case MTS__SQL_G_HOME:
        return mts__sql_emit_home(cx, op->home, emit, payload);
    case MTS__SQL_G_PEER:
        return mts__sql_emit_peer(cx, op->peer, emit, payload);
    }
    return MTS_EINVAL;
}

/* ---- incremental-save tracking ---------------------------------------- */

void
mts__sql_base_forget(mts__sql_base *t)
{
    t->valid = 0;
    t->ntouched = 0;
    t->touched_scalars = 0;
    t->touched_channels = 0;
}

void
mts__sql_base_set(mts__sql_base *t, const mts_session *s)
{
    mts__sql_base_forget(t);
    mts__session_mark(s, &t->uid, &t->gen);
    t->valid = 1;
}

int
mts__sql_base_covers(const mts__sql_base *t, const mts_session *s)
{
    uint64_t uid, gen;
    mts__session_mark(s, &uid, &gen);
    return t->valid && t->uid == uid && mts__session_delta_ok(s, t->gen);
}

mts__sql_delta
mts__sql_base_delta(const mts__sql_base *t)
{
    mts__sql_delta d = { t->gen, t->touched_scalars, t->touched_channels,
                         t->touched, t->ntouched };
    return d;
}

/* Remember a row a granular change wrote; when the list is full the base
 * is forgotten (the next save is a full one). */
static void
base_touch(mts__sql_base *t, uint8_t table, int64_t id, uint8_t k1, uint8_t k2)
{
    mts__sql_touched *r;
    if (t->ntouched == t->cap_touched) {
        size_t cap = t->cap_touched ? t->cap_touched * 2 : 16;
        void *p = NULL;
        if (cap <= MTS__SQL_TOUCHED_MAX)
            p = mts__reallocarray(t->touched, cap, sizeof(*t->touched));
        if (p == NULL) {
            mts__sql_base_forget(t);
            return;
        }
        t->touched = p;
        t->cap_touched = cap;
    }
    r = &t->touched[t->ntouched++];
    r->table = table;
    r->id = id;
    r->k1 = k1;
    r->k2 = k2;
}

void
mts__sql_base_note(mts__sql_base *t, const mts__sql_granular *op)
{
    switch (op->kind) {
    case MTS__SQL_G_UPDATE:
        if (op->change->kind == MTS_UPDATE_CHANNEL) {
            base_touch(t, MTS__REMOVED_CHANNEL, op->change->channel_id, 0, 0);
        } else {
            t->touched_scalars = 1;
            if (op->change->kind == MTS_UPDATE_ALL)
                t->touched_channels = 1;
        }
        break;
    case MTS__SQL_G_DC:
        base_touch(t, MTS__REMOVED_DC, op->dc->dc_id, (uint8_t)op->dc->flags,
                   op->dc->ip.family);
        break;
    case MTS__SQL_G_HOME:
        t->touched_scalars = 1;
        break;
    case MTS__SQL_G_PEER:
        base_touch(t, MTS__REMOVED_PEER, op->peer->id, (uint8_t)op->peer->kind,
                   0);
        break;
    }
}

void
mts__sql_base_free(mts__sql_base *t)
{
    mts_free(t->touched);
    t->touched = NULL;
    t->ntouched = 0;
    t->cap_touched = 0;
}

int
mts__sql_emit_delete(const mts__sql_ctx *cx,
                     mts__sql_emit_fn emit,
                     void *payload)
{
    static const mts__sql_stmt order[] = {
        MTS__SQL_DC_DEL_ALL,   MTS__SQL_CHANNEL_DEL_ALL,
        MTS__SQL_PEER_DEL_ALL, MTS__SQL_MIN_PEER_DEL_ALL,
        MTS__SQL_SEAL_DEL,     MTS__SQL_SESSION_DEL
    };
    for (size_t i = 0; i < MTS__ARRAY_LEN(order); i++) {
        int rc = emit_name(order[i], cx->name, emit, payload);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int
mts__sql_emit_seal(const mts__sql_ctx *cx,
                   const mts__sql_seal_row *row,
                   mts__sql_emit_fn emit,
                   void *payload)
{
    mts__sqlv p[6];
    if (!row->present)
        return emit_name(MTS__SQL_SEAL_DEL, cx->name, emit, payload);
    p[0] = v_text(cx->name);
    p[1] = v_int(row->kdf.kind);
    p[2] = v_int(row->kdf.kind ? row->kdf.ops : 0);
    p[3] = v_int(row->kdf.kind ? row->kdf.memkib : 0);
    p[4] =
        row->kdf.kind ? v_blob(row->kdf.salt, sizeof(row->kdf.salt)) : v_null();
    p[5] = v_blob(row->check, sizeof(row->check));
    EMIT(MTS__SQL_SEAL_PUT, p);
    return 0;
}

/* ---- SQL -> model ------------------------------------------------------ */

/* Where a bad value sits: the table and the row's key, printed. */
typedef struct row_ctx {
    const char *table;
    char key[112];
} row_ctx;

static const char *
type_name(mts__sql_type t)
{
    switch (t) {
    case MTS__SQL_NULL:
        return "NULL";
    case MTS__SQL_INT:
        return "an integer";
    case MTS__SQL_TEXT:
        return "text";
    case MTS__SQL_BLOB:
        return "a blob";
    case MTS__SQL_REAL:
        return "a real number";
    }
    return "an unknown type";
}

/* Print a value for a message: printable ASCII only, short. */
static void
fmt_val(char *buf, size_t size, const mts__sqlv *v)
{
    switch (v->type) {
    case MTS__SQL_INT:
        snprintf(buf, size, "%lld", (long long)v->i);
        return;
    case MTS__SQL_TEXT: {
        char t[28];
        size_t n = v->n < sizeof(t) - 1 ? v->n : sizeof(t) - 1;
        const unsigned char *p = v->p;
        for (size_t i = 0; i < n; i++)
            t[i] = (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\'') ? (char)p[i]
                                                                 : '?';
        t[n] = '\0';
        snprintf(buf, size, "'%s%s'", t, v->n > n ? "..." : "");
        return;
    }
    case MTS__SQL_BLOB:
        snprintf(buf, size, "<blob of %zu bytes>", v->n);
        return;
    case MTS__SQL_NULL:
        snprintf(buf, size, "NULL");
        return;
    case MTS__SQL_REAL:
        snprintf(buf, size, "<real>");
        return;
    }
    snprintf(buf, size, "?");
}

/* Build "(c0=v0, c1=v1, ...)" from the first n key columns. */
static void
row_key(row_ctx *r,
        const char *table,
        const char *const *names,
        const mts__sqlv *cols,
        size_t n)
{
    size_t off = 0;
    r->table = table;
    r->key[0] = '\0';
    for (size_t i = 0; i < n && off < sizeof(r->key); i++) {
        char v[48];
        int w;
        fmt_val(v, sizeof(v), &cols[i]);
        w = snprintf(r->key + off, sizeof(r->key) - off, "%s%s=%s",
                     i == 0 ? "(" : ", ", names[i], v);
        if (w < 0)
            break;
        off += (size_t)w;
    }
    if (off < sizeof(r->key))
        snprintf(r->key + off, sizeof(r->key) - off, ")");
}

static int
bad(mts_error *err, const row_ctx *r, const char *col, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static int
bad(mts_error *err, const row_ctx *r, const char *col, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return mts__err(err, MTS_ECORRUPT, "table %s, row %s, column %s: %s",
                    r->table, r->key, col, what);
}

static int
col_int(int64_t *out,
        const mts__sqlv *v,
        int64_t lo,
        int64_t hi,
        const row_ctx *r,
        const char *col,
        mts_error *err)
{
    if (v->type != MTS__SQL_INT)
        return bad(err, r, col, "%s, expected an integer", type_name(v->type));
    if (v->i < lo || v->i > hi)
        return bad(err, r, col, "%lld is outside %lld..%lld", (long long)v->i,
                   (long long)lo, (long long)hi);
    *out = v->i;
    return 0;
}

/* An integer or NULL (*has = 0). */
static int
col_int_opt(int *has,
            int64_t *out,
            const mts__sqlv *v,
            int64_t lo,
            int64_t hi,
            const row_ctx *r,
            const char *col,
            mts_error *err)
{
    *has = 0;
    if (v->type == MTS__SQL_NULL)
        return 0;
    *has = 1;
    return col_int(out, v, lo, hi, r, col, err);
}

static int
col_int32(int32_t *out,
          const mts__sqlv *v,
          const row_ctx *r,
          const char *col,
          mts_error *err)
{
    int64_t x = 0;
    int rc = col_int(&x, v, INT32_MIN, INT32_MAX, r, col, err);
    if (rc == 0)
        *out = (int32_t)x;
    return rc;
}

/* A peer string: NULL, or text the model accepts, copied into buf. */
static int
col_peer_string(const char **out,
                char buf[MTS_PEER_STRING_MAX + 1],
                const mts__sqlv *v,
                const row_ctx *r,
                const char *col,
                mts_error *err)
{
    *out = NULL;
    if (v->type == MTS__SQL_NULL)
        return 0;
    if (v->type != MTS__SQL_TEXT)
        return bad(err, r, col, "%s, expected text or NULL",
                   type_name(v->type));
    if (v->n == 0 || v->n > MTS_PEER_STRING_MAX)
        return bad(err, r, col, "%zu bytes, expected 1..%d", v->n,
                   MTS_PEER_STRING_MAX);
    if (memchr(v->p, 0, v->n) != NULL ||
        !mts__utf8_valid((const uint8_t *)v->p, v->n))
        return bad(err, r, col, "not UTF-8 text without control characters");
    memcpy(buf, v->p, v->n);
    buf[v->n] = '\0';
    *out = buf;
    return 0;
}

static int
check_ncols(size_t ncols, size_t want, const char *table, mts_error *err)
{
    if (ncols != want)
        return mts__err(err, MTS_ECORRUPT,
                        "table %s: a row has %zu columns, expected %zu", table,
                        ncols, want);
    return 0;
}

/* A model setter refused a row that passed the column checks (a rule the
 * checks above do not repeat). `filled`: the setter put its reason in err,
 * which is kept behind the row's name. */
static int
refused(int rc, const row_ctx *r, int filled, mts_error *err)
{
    if (rc == MTS_ENOMEM)
        return mts__err_oom(err);
    if (rc == MTS_ELIMIT)
        return rc;
    if (filled && err != NULL) {
        mts__err_prefix(err, "table %s, row %s", r->table, r->key);
        err->code = MTS_ECORRUPT;
        return MTS_ECORRUPT;
    }
    return mts__err(err, MTS_ECORRUPT,
                    "table %s, row %s: refused by the "
                    "session model",
                    r->table, r->key);
}

int
mts__sql_session_from_row(mts_session *s,
                          const mts__sql_ctx *cx,
                          const mts__sqlv *c,
                          size_t ncols,
                          mts_error *err)
{
    static const char *const key_names[] = { "name" };
    row_ctx r;
    mts__sqlv key = v_text(cx->name);
    mts_update_state us = { 0, 0, 0, 0 };
    int64_t home = 0, test = 0, api = 0, uid = 0, bot = 0;
    int has_api = 0, has_uid = 0, rc;

    if ((rc = check_ncols(ncols, MTS__SQL_SESSION_NCOLS, "sessions", err)))
        return rc;
    row_key(&r, "sessions", key_names, &key, 1);
    if ((rc = col_int(&home, &c[MTS__SQL_SESSION_COL_HOME_DC], 0, INT32_MAX, &r,
                      "home_dc", err)) ||
        (rc = col_int(&test, &c[MTS__SQL_SESSION_COL_TEST_MODE], 0, 1, &r,
                      "test_mode", err)) ||
        (rc = col_int_opt(&has_api, &api, &c[MTS__SQL_SESSION_COL_API_ID],
                          INT32_MIN, INT32_MAX, &r, "api_id", err)) ||
        (rc = col_int_opt(&has_uid, &uid, &c[MTS__SQL_SESSION_COL_USER_ID], 1,
                          INT64_MAX, &r, "user_id", err)) ||
        (rc = col_int(&bot, &c[MTS__SQL_SESSION_COL_USER_IS_BOT], 0, 1, &r,
                      "user_is_bot", err)) ||
        (rc = col_int32(&us.pts, &c[MTS__SQL_SESSION_COL_PTS], &r, "pts",
                        err)) ||
        (rc = col_int32(&us.qts, &c[MTS__SQL_SESSION_COL_QTS], &r, "qts",
                        err)) ||
        (rc = col_int32(&us.date, &c[MTS__SQL_SESSION_COL_DATE], &r, "date",
                        err)) ||
        (rc = col_int32(&us.seq, &c[MTS__SQL_SESSION_COL_SEQ], &r, "seq", err)))
        return rc;
    if (!has_uid && bot != 0)
        return bad(err, &r, "user_is_bot", "1 while user_id is NULL");
    {
        const mts__sqlv *t = &c[MTS__SQL_SESSION_COL_FUTURE_TOKEN];
        if (t->type == MTS__SQL_BLOB && cx->seal != NULL) {
            size_t n = t->n - MTS__SQL_SEAL_OVERHEAD;
            uint8_t *plain;
            if (t->n <= MTS__SQL_SEAL_OVERHEAD || n > MTS_TOKEN_MAX)
                return bad(err, &r, "future_token",
                           "%zu bytes, not a sealed token", t->n);
            if ((plain = mts_malloc(n)) == NULL)
                return mts__err_oom(err);
            if (open_value(plain, n, t->p, t->n, cx->name, "sessions", "",
                           "future_token", cx->seal) != 0) {
                mts_free(plain);
                return bad(err, &r, "future_token",
                           "the sealed value does not open (altered, or "
                           "moved from another row or session)");
            }
            rc = mts_session_set_future_auth_token(s, plain, n);
            mts__wipe(plain, n);
            mts_free(plain);
            if (rc != 0)
                return mts__err_oom(err);
        } else if (t->type == MTS__SQL_BLOB) {
            if (t->n == 0 || t->n > MTS_TOKEN_MAX)
                return bad(err, &r, "future_token", "%zu bytes, expected 1..%d",
                           t->n, MTS_TOKEN_MAX);
            if (mts_session_set_future_auth_token(s, t->p, t->n) != 0)
                return mts__err_oom(err);
        } else if (t->type != MTS__SQL_NULL) {
            return bad(err, &r, "future_token", "%s, expected a blob or NULL",
                       type_name(t->type));
        }
    }
    if (mts_session_set_home_dc(s, (int32_t)home) != 0)
        return refused(MTS_EINVAL, &r, 0, err);
    mts_session_set_test_mode(s, (int)test);
    mts_session_set_api_id(s, has_api, has_api ? (int32_t)api : 0);
    if (has_uid && mts_session_set_user(s, uid, (int)bot) != 0)
        return refused(MTS_EINVAL, &r, 0, err);
    mts_session_set_update_state(s, &us);
    return 0;
}

int
mts__sql_dc_from_row(mts_session *s,
                     const mts__sql_ctx *cx,
                     const mts__sqlv *c,
                     size_t ncols,
                     mts_error *err)
{
    uint8_t key_plain[MTS_AUTH_KEY_SIZE], salt_plain[8];
    char rowkey[64];
    static const char *const key_names[] = { "dc_id", "flags", "family" };
    row_ctx r;
    mts_dc dc = MTS_DC_INIT;
    int64_t dc_id = 0, flags = 0, family = 0, port = 0;
    const mts__sqlv *ip = &c[MTS__SQL_DC_COL_IP];
    const mts__sqlv *key = &c[MTS__SQL_DC_COL_AUTH_KEY];
    char text[MTS__SQL_IP_TEXT_SIZE];
    int rc;

    if ((rc = check_ncols(ncols, MTS__SQL_DC_NCOLS, "dcs", err)))
        return rc;
    row_key(&r, "dcs", key_names, c, 3);
    if ((rc = col_int(&dc_id, &c[MTS__SQL_DC_COL_DC_ID], 1, INT32_MAX, &r,
                      "dc_id", err)) ||
        (rc = col_int(&flags, &c[MTS__SQL_DC_COL_FLAGS], 0, INT64_MAX, &r,
                      "flags", err)))
        return rc;
    if (((uint64_t)flags & ~(uint64_t)MTS_DC_FLAGS_ALL) != 0)
        return bad(err, &r, "flags", "unknown bits 0x%llx",
                   (unsigned long long)((uint64_t)flags &
                                        ~(uint64_t)MTS_DC_FLAGS_ALL));
    if ((rc = col_int(&family, &c[MTS__SQL_DC_COL_FAMILY], 4, 6, &r, "family",
                      err)))
        return rc;
    if (family == 5)
        return bad(err, &r, "family", "5 is not 4 or 6");
    if (ip->type != MTS__SQL_TEXT)
        return bad(err, &r, "ip", "%s, expected text", type_name(ip->type));
    if (ip->n == 0 || ip->n >= sizeof(text) || memchr(ip->p, 0, ip->n))
        return bad(err, &r, "ip", "not an IP address");
    memcpy(text, ip->p, ip->n);
    text[ip->n] = '\0';
    if (mts_ip_parse(&dc.ip, text) != 0)
        return bad(err, &r, "ip", "not an IP address");
    if (dc.ip.family != (uint8_t)family)
        return bad(err, &r, "ip", "an IPv%u address in a family %lld row",
                   (unsigned)dc.ip.family, (long long)family);
    if ((rc = col_int(&port, &c[MTS__SQL_DC_COL_PORT], 1, 65535, &r, "port",
                      err)) ||
        (rc = col_int32(&dc.time_offset, &c[MTS__SQL_DC_COL_TIME_OFFSET], &r,
                        "time_offset", err)))
        return rc;
    if (cx->seal != NULL) {
        /* sealed: the salt and the key open only in this row */
        const mts__sqlv *salt = &c[MTS__SQL_DC_COL_SERVER_SALT];
        dc_rowkey(rowkey, sizeof(rowkey), dc_id, flags, family);
        if (salt->type != MTS__SQL_BLOB)
            return bad(err, &r, "server_salt", "%s, expected a sealed value",
                       type_name(salt->type));
        if (open_value(salt_plain, sizeof(salt_plain), salt->p, salt->n,
                       cx->name, "dcs", rowkey, "server_salt", cx->seal) != 0)
            return bad(err, &r, "server_salt",
                       "the sealed value does not open (altered, or moved "
                       "from another row or session)");
        dc.server_salt = (int64_t)mts__rd64(salt_plain);
        mts__wipe(salt_plain, sizeof(salt_plain));
        if (key->type == MTS__SQL_BLOB) {
            if (open_value(key_plain, sizeof(key_plain), key->p, key->n,
                           cx->name, "dcs", rowkey, "auth_key", cx->seal) != 0)
                return bad(err, &r, "auth_key",
                           "the sealed value does not open (altered, or "
                           "moved from another row or session)");
            dc.auth_key = key_plain;
        } else if (key->type != MTS__SQL_NULL) {
            return bad(err, &r, "auth_key",
                       "%s, expected a sealed value or "
                       "NULL",
                       type_name(key->type));
        }
    } else if ((rc = col_int(&dc.server_salt, &c[MTS__SQL_DC_COL_SERVER_SALT],
                             INT64_MIN, INT64_MAX, &r, "server_salt", err))) {
        return rc;
    } else if (key->type == MTS__SQL_BLOB) {
        if (key->n != MTS_AUTH_KEY_SIZE)
            return bad(err, &r, "auth_key", "%zu bytes, expected %d", key->n,
                       MTS_AUTH_KEY_SIZE);
        dc.auth_key = key->p;
    } else if (key->type != MTS__SQL_NULL) {
        return bad(err, &r, "auth_key", "%s, expected a blob or NULL",
                   type_name(key->type));
    }
    dc.dc_id = (int32_t)dc_id;
    dc.flags = (unsigned int)flags;
    dc.port = (uint16_t)port;
    rc = mts__put_dc(s, &dc, err);
    mts__wipe(key_plain, sizeof(key_plain));
    if (rc != 0)
        return refused(rc, &r, 1, err);
    return 0;
}

int
mts__sql_channel_from_row(mts_session *s,
                          const mts__sqlv *c,
                          size_t ncols,
                          mts_error *err)
{
    static const char *const key_names[] = { "channel_id" };
    row_ctx r;
    int64_t id = 0;
    int32_t pts = 0;
    int rc;
    if ((rc = check_ncols(ncols, MTS__SQL_CHANNEL_NCOLS, "channel_pts", err)))
        return rc;
    row_key(&r, "channel_pts", key_names, c, 1);
    if ((rc = col_int(&id, &c[MTS__SQL_CHANNEL_COL_ID], 1, INT64_MAX, &r,
                      "channel_id", err)) ||
        (rc = col_int32(&pts, &c[MTS__SQL_CHANNEL_COL_PTS], &r, "pts", err)))
        return rc;
    rc = mts_session_set_channel_pts(s, id, pts);
    return rc != 0 ? refused(rc, &r, 0, err) : 0;
}

int
mts__sql_peer_from_row(mts_session *s,
                       const mts__sqlv *c,
                       size_t ncols,
                       mts_error *err)
{
    static const char *const key_names[] = { "kind", "id" };
    row_ctx r;
    mts_peer p = MTS_PEER_INIT;
    char user[MTS_PEER_STRING_MAX + 1], phone[MTS_PEER_STRING_MAX + 1];
    int64_t kind = 0, id = 0, ck = 0, community = 0, bot = 0;
    int rc;

    if ((rc = check_ncols(ncols, MTS__SQL_PEER_NCOLS, "peers", err)))
        return rc;
    row_key(&r, "peers", key_names, c, 2);
    if ((rc = col_int(&kind, &c[MTS__SQL_PEER_COL_KIND], MTS_PEER_USER,
                      MTS_PEER_CHANNEL, &r, "kind", err)) ||
        (rc = col_int(&id, &c[MTS__SQL_PEER_COL_ID], 1, INT64_MAX, &r, "id",
                      err)) ||
        (rc = col_int(&p.access_hash, &c[MTS__SQL_PEER_COL_ACCESS_HASH],
                      INT64_MIN, INT64_MAX, &r, "access_hash", err)) ||
        (rc = col_int(&ck, &c[MTS__SQL_PEER_COL_CHANNEL_KIND],
                      MTS_CHANNEL_UNKNOWN, MTS_CHANNEL_GIGAGROUP, &r,
                      "channel_kind", err)) ||
        (rc = col_int(&community, &c[MTS__SQL_PEER_COL_COMMUNITY], 0, 1, &r,
                      "community", err)) ||
        (rc = col_int(&bot, &c[MTS__SQL_PEER_COL_BOT], 0, 1, &r, "bot", err)) ||
        (rc = col_peer_string(&p.username, user, &c[MTS__SQL_PEER_COL_USERNAME],
                              &r, "username", err)) ||
        (rc = col_peer_string(&p.phone, phone, &c[MTS__SQL_PEER_COL_PHONE], &r,
                              "phone", err)))
        return rc;
    if (ck != MTS_CHANNEL_UNKNOWN && kind != MTS_PEER_CHANNEL)
        return bad(err, &r, "channel_kind",
                   "%lld on a peer that is not a "
                   "channel",
                   (long long)ck);
    if (community && kind == MTS_PEER_CHAT)
        return bad(err, &r, "community", "1 on a basic chat");
    if (bot && kind != MTS_PEER_USER)
        return bad(err, &r, "bot", "1 on a peer that is not a user");
    p.kind = (mts_peer_kind)kind;
    p.id = id;
    p.channel_kind = (mts_channel_kind)ck;
    p.community = (int)community;
    p.bot = (int)bot;
    if ((rc = mts_session_put_peer(s, &p, err)) != 0)
        return refused(rc, &r, 1, err);
    return 0;
}

int
mts__sql_min_peer_from_row(mts_session *s,
                           const mts__sqlv *c,
                           size_t ncols,
                           mts_error *err)
{
    static const char *const key_names[] = { "user_id" };
    row_ctx r;
    mts_min_peer mp = { 0, 0, 0 };
    int rc;
    if ((rc = check_ncols(ncols, MTS__SQL_MIN_PEER_NCOLS, "min_peers", err)))
        return rc;
    row_key(&r, "min_peers", key_names, c, 1);
    if ((rc = col_int(&mp.user_id, &c[MTS__SQL_MIN_PEER_COL_USER_ID], 1,
                      INT64_MAX, &r, "user_id", err)) ||
        (rc = col_int(&mp.peer_id, &c[MTS__SQL_MIN_PEER_COL_PEER_ID], INT64_MIN,
                      INT64_MAX, &r, "peer_id", err)) ||
        (rc = col_int32(&mp.msg_id, &c[MTS__SQL_MIN_PEER_COL_MSG_ID], &r,
                        "msg_id", err)))
        return rc;
    if (mp.peer_id == 0)
        return bad(err, &r, "peer_id", "0 is not a peer id");
    if ((rc = mts__put_min_peer(s, &mp, err)) != 0)
        return refused(rc, &r, 1, err);
    return 0;
}
