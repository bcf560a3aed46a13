/*
 * postgres.c - the PostgreSQL backend (libpq): many accounts in one
 * database, with leases and fenced writes for fleets of workers.
 *
 * Schema (docs/FLEET.md): the tables live in the schema "mtsession" and
 * every row is keyed by the caller's account name. sessions, dcs,
 * channel_pts, peers and min_peers hold the same columns as the SQLite
 * backend's tables (docs/SQL.md) in PostgreSQL types (bytea auth keys with
 * a CHECK on their length); leases holds one lease row per account (owner,
 * fencing epoch, expiry on the server's clock); schema_version records the
 * schema version, which open creates, checks and migrates under an
 * advisory transaction lock.
 *
 * Writes: every store operation is one round trip and one transaction,
 * its work one SQL statement: a save sends whole tables as binary array
 * parameters (unnest), deletes the rows the snapshot lacks and upserts the
 * rest, skipping unchanged rows; a granular change is a single upsert.
 * Values are stored exactly as given. Each write statement starts with a fence, a CTE named f that
 * yields one row when the write may happen, and every part of the write
 * reads from f:
 * - a handle holding a lease: f is the lease row with this handle's owner
 *   and epoch, still live on the server's clock, locked FOR SHARE. A taker
 *   must lock the row exclusively, so a write either commits before the
 *   lease changes hands or sees the new epoch and writes nothing
 *   (MTS_EFENCED). The statement is its own transaction.
 * - a handle without a lease: f creates the lease row if absent, or takes
 *   it if nobody's lease is live; a live lease of anyone makes f empty and
 *   the write is refused (MTS_ELOCKED). Such writes run as BEGIN, a lock of
 *   the lease row, the statement, COMMIT, sent as one pipeline (still one
 *   round trip), so that they are ordered by that lock and each sees what
 *   the one before it committed (LOCK_FREE_SQL says why).
 *
 * Sealed columns (with a secret; schema version 2): auth keys, server
 * salts and the future token hold ciphertext under the account's seal row
 * (mtsession.seals, sql_schema.h). A handle remembers the seal row it last
 * saw; every write of those columns carries its check value and is gated
 * on it in the statement (SEAL_GATE_AS), and every load reads the seal
 * row with the values, so a handle notices a seal another handle replaced
 * (mts_postgres_rekey) and adopts it or refuses, never writing under a
 * stale one. Without a secret a sealed account is "locked": leases,
 * delete and revisions work, loads and writes are MTS_EENCRYPTED.
 * mts_postgres_rekey re-seals in one transaction of several round trips
 * that holds the lease row's lock.
 *
 * Revisions (optimistic mode, schema version 3): every write sets
 * sessions.rev to a random stamp the client draws; save_if runs like an
 * unleased write (BEGIN, the lease row locked, the statement, COMMIT),
 * for holders too, with its fence also requiring the stored revision.
 *
 * Connections: one per handle, used under the handle's lock (storage.c).
 * A connection found dead between calls is re-opened before the call. If
 * it dies after a statement was sent, the handle reconnects once and sends
 * the statement again; every statement here is idempotent (it sets values,
 * never adds to them). A write that fails on that second attempt returns
 * MTS_EIO "outcome unknown", because the first attempt may have committed:
 * it is never reported as success, nor as refused.
 *
 * Thread-safety: libpq is thread-safe; a handle is used by one thread at a
 * time (the handle's lock). Do not use a handle across fork().
 */
#include "internal.h"

#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lease_text.h"
#include "sql_schema.h"

/* The schema version this library writes (table mtsession.schema_version). */
#define PG_SCHEMA_VERSION 3
/* pg_advisory_xact_lock key that serialises schema creation: "MTSS". */
#define PG_SCHEMA_LOCK_KEY "1297371987"
/* Oldest server this backend accepts (MATERIALIZED CTEs and the rest). */
#define PG_MIN_SERVER 120000
/* Largest parameter libpq and the server accept (MaxAllocSize - 1). */
#define PG_PARAM_MAX ((size_t)0x3fffffff)

/* Type OIDs (pg_type.dat; fixed since PostgreSQL 7). */
#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_TEXT 25
#define OID_VARCHAR 1043
#define OID_BOOL_ARRAY 1000
#define OID_BYTEA_ARRAY 1001
#define OID_INT2_ARRAY 1005
#define OID_INT4_ARRAY 1007
#define OID_TEXT_ARRAY 1009
#define OID_INT8_ARRAY 1016

/* ---- SQL --------------------------------------------------------------- */

/*
 * Version 1 of the schema, created in one transaction. A shipped version's
 * DDL stays frozen: a change is a new version with a migration step below.
 */
static const char *const schema_v1[] = {
    "CREATE SCHEMA IF NOT EXISTS mtsession",
    "CREATE TABLE mtsession.schema_version ("
    "version integer PRIMARY KEY, "
    "applied_at timestamptz NOT NULL DEFAULT clock_timestamp())",
    "CREATE TABLE mtsession.sessions ("
    "account text PRIMARY KEY, "
    "home_dc integer NOT NULL DEFAULT 0, "
    "test_mode boolean NOT NULL DEFAULT false, "
    "api_id integer, "
    "user_id bigint, "
    "user_is_bot boolean NOT NULL DEFAULT false, "
    "future_token bytea CONSTRAINT future_token_size "
    "CHECK (octet_length(future_token) BETWEEN 1 AND 65536), "
    "pts integer NOT NULL DEFAULT 0, "
    "qts integer NOT NULL DEFAULT 0, "
    "date integer NOT NULL DEFAULT 0, "
    "seq integer NOT NULL DEFAULT 0)",
    "CREATE TABLE mtsession.dcs ("
    "account text NOT NULL, "
    "dc_id integer NOT NULL, "
    "flags integer NOT NULL, "
    "family smallint NOT NULL, "
    "ip text NOT NULL, "
    "port integer NOT NULL, "
    "auth_key bytea CONSTRAINT auth_key_size "
    "CHECK (octet_length(auth_key) = 256), "
    "server_salt bigint NOT NULL DEFAULT 0, "
    "time_offset integer NOT NULL DEFAULT 0, "
    "PRIMARY KEY (account, dc_id, flags, family))",
    "CREATE TABLE mtsession.channel_pts ("
    "account text NOT NULL, "
    "channel_id bigint NOT NULL, "
    "pts integer NOT NULL, "
    "PRIMARY KEY (account, channel_id))",
    "CREATE TABLE mtsession.peers ("
    "account text NOT NULL, "
    "kind smallint NOT NULL, "
    "id bigint NOT NULL, "
    "access_hash bigint NOT NULL DEFAULT 0, "
    "channel_kind smallint NOT NULL DEFAULT 0, "
    "community boolean NOT NULL DEFAULT false, "
    "bot boolean NOT NULL DEFAULT false, "
    "username text, "
    "phone text, "
    "PRIMARY KEY (account, kind, id))",
    "CREATE TABLE mtsession.min_peers ("
    "account text NOT NULL, "
    "user_id bigint NOT NULL, "
    "peer_id bigint NOT NULL, "
    "msg_id integer NOT NULL, "
    "PRIMARY KEY (account, user_id))",
    "CREATE TABLE mtsession.leases ("
    "account text PRIMARY KEY, "
    "owner text, "
    "epoch bigint NOT NULL DEFAULT 0, "
    "expires_at timestamptz NOT NULL DEFAULT '-infinity')",
    "INSERT INTO mtsession.schema_version (version) VALUES (1)",
};

/* One migration step: from `from` to `from + 1`; the last statement
 * records the new version in mtsession.schema_version. */
typedef struct pg_migration {
    int from;
    const char *const *stmts;
    size_t count;
} pg_migration;

/*
 * 1 -> 2: sealed columns. The auth_key and future_token CHECKs accept a
 * sealed value's length too (plain + MTS__SQL_SEAL_OVERHEAD, 41 bytes), a
 * sealed server salt goes to server_salt_sealed (server_salt then holds 0),
 * and mtsession.seals holds each sealed account's key derivation and key
 * check value (sql_schema.h).
 */
static const char *const migrate_1_2[] = {
    "ALTER TABLE mtsession.dcs DROP CONSTRAINT auth_key_size, "
    "ADD CONSTRAINT auth_key_size CHECK (octet_length(auth_key) IN (256, 297)), "
    "ADD COLUMN server_salt_sealed bytea CONSTRAINT server_salt_sealed_size "
    "CHECK (octet_length(server_salt_sealed) = 49)",
    "ALTER TABLE mtsession.sessions DROP CONSTRAINT future_token_size, "
    "ADD CONSTRAINT future_token_size "
    "CHECK (octet_length(future_token) BETWEEN 1 AND 65577)",
    "CREATE TABLE mtsession.seals ("
    "account text PRIMARY KEY, "
    "kdf integer NOT NULL, "
    "opslimit bigint NOT NULL, "
    "memlimit bigint NOT NULL, "
    "salt bytea, "
    "check_value bytea NOT NULL)",
    "INSERT INTO mtsession.schema_version (version) VALUES (2)",
};

/*
 * 2 -> 3: optimistic mode. sessions.rev, a random stamp (never 0) that
 * every write of the account sets anew; rows written before have 0, which
 * loads report as revision 2^63 (PG_REV_ZERO).
 */
static const char *const migrate_2_3[] = {
    "ALTER TABLE mtsession.sessions ADD COLUMN rev bigint NOT NULL DEFAULT 0",
    "INSERT INTO mtsession.schema_version (version) VALUES (3)",
};

static const pg_migration migrations[] = {
    { 1, migrate_1_2, MTS__ARRAY_LEN(migrate_1_2) },
    { 2, migrate_2_3, MTS__ARRAY_LEN(migrate_2_3) },
};

static const pg_migration *
migration_from(long long from)
{
    for (size_t i = 0; i < MTS__ARRAY_LEN(migrations); i++)
        if (migrations[i].stmts != NULL && migrations[i].from == from)
            return &migrations[i];
    return NULL;
}

/*
 * The fences ($1 account, $2 owner, $3 epoch). A write statement is a
 * fence followed by its body; every part of the body reads from f, and the
 * statement returns count(*) of f: 1 when the write happened, 0 when the
 * fence refused it (then nothing was written).
 */
#define FENCE_HELD_AS(F)                                                      \
    "WITH " F " AS (SELECT FROM mtsession.leases WHERE account = $1 "         \
    "AND owner = $2 AND epoch = $3 AND expires_at > clock_timestamp() "       \
    "FOR SHARE)"
#define FENCE_FREE_AS(F)                                                      \
    "WITH " F " AS (INSERT INTO mtsession.leases AS l (account) VALUES ($1) " \
    "ON CONFLICT (account) DO UPDATE SET owner = l.owner "                    \
    "WHERE l.owner IS NULL OR l.expires_at <= clock_timestamp() "             \
    "RETURNING 1)"
#define FENCE_HELD FENCE_HELD_AS("f")
#define FENCE_FREE FENCE_FREE_AS("f")
#define FENCE_END " SELECT count(*) FROM f"

/*
 * The seal gate of a write that stores secret columns (save, save_if,
 * update_dc). $N is the check value of the seal the handle writes with,
 * NULL when it writes in clear: F is FROM's row only while the account's
 * seal row is still that one, so a handle never writes values sealed
 * under a seal that another handle replaced (mts_postgres_rekey), nor
 * clear values into an account sealed since. Such a statement returns
 * the fence's count and the gate's: (1, 0) is "the seal moved".
 */
#define SEAL_GATE_AS(F, FROM, N)                                              \
    ", " F " AS (SELECT FROM " FROM " WHERE (SELECT check_value FROM "        \
    "mtsession.seals WHERE account = $1) IS NOT DISTINCT FROM $" #N ")"
#define GATE_END " SELECT (SELECT count(*) FROM f0), (SELECT count(*) FROM f)"

/*
 * Revisions (optimistic mode): every write sets sessions.rev to a new
 * random stamp the client draws (mts__sql_new_rev: 1 .. 2^63 - 1), passed
 * as the statement's last parameter. A row of schema version 2 has rev 0,
 * reported as 2^63 (as an int8, the smallest one), so that 0 keeps
 * meaning "nothing stored". STORED_REV is that revision as of the
 * statement's snapshot, 0 without a sessions row.
 */
#define STORED_REV                                                            \
    "coalesce((SELECT CASE WHEN rev = 0 THEN (-9223372036854775807)::int8 - 1 " \
    "ELSE rev END FROM mtsession.sessions WHERE account = $1), 0)"

/* Make sure the account's sessions row exists (granular writes), with a
 * new rev ($N). */
#define ENSURE_SESSION(N)                                                     \
    ", e AS (INSERT INTO mtsession.sessions (account, rev) "                  \
    "SELECT $1, $" #N " FROM f ON CONFLICT (account) DO UPDATE SET "          \
    "rev = excluded.rev)"

/*
 * No statement below joins the parameters with a table: the planner's
 * estimate of an account's rows comes from statistics over all accounts
 * and can be off by orders of magnitude (one row expected, 100,000
 * stored), and a nested loop planned on it is quadratic. Instead:
 * - rows to delete: a NOT IN over the parameters, read as (SELECT $n) so
 *   the planner cannot see their length, estimates a handful of rows and
 *   always builds a hashed subplan (one pass over the account's rows; a
 *   visible 100,000-element array would give a subplan rescanned per row);
 * - rows to upsert: the parameters EXCEPT the stored rows, a set operation
 *   (hashed or sorted), so rows equal to the stored ones are neither
 *   rewritten nor locked, and NULLs compare equal as they should.
 * Hidden lengths also keep large saves from being compiled by the JIT.
 */
#define ARR(n) "(SELECT $" #n ")"

/* Channel rows: replace the account's list with arrays (id, pts). */
#define CHANNELS_REPLACE(ID, PTS)                                             \
    ", cd AS (DELETE FROM mtsession.channel_pts o WHERE o.account = $1 "      \
    "AND EXISTS (SELECT FROM f) AND o.channel_id NOT IN "                     \
    "(SELECT unnest(" ARR(ID) "))), "                                         \
    "cu AS (INSERT INTO mtsession.channel_pts AS o (account, channel_id, "    \
    "pts) SELECT $1, r.* FROM f, (SELECT * FROM unnest(" ARR(ID) ", "         \
    ARR(PTS) ") EXCEPT SELECT channel_id, pts FROM mtsession.channel_pts "    \
    "WHERE account = $1) AS r ON CONFLICT (account, channel_id) DO UPDATE SET pts = excluded.pts "     \
    "WHERE o.pts IS DISTINCT FROM excluded.pts)"

/*
 * save: $4 home_dc, $5 test_mode, $6 api_id, $7 user_id, $8 user_is_bot,
 * $9 future_token, $10..$13 pts, qts, date, seq; DCs $14..$21 (dc_id,
 * flags, family, ip, port, auth_key, server_salt, time_offset); channels
 * $22, $23 (id, pts); peers $24..$31 (kind, id, access_hash, channel_kind,
 * community, bot, username, phone); min peers $32..$34 (user_id, peer_id,
 * msg_id). Rows the snapshot lacks are deleted, the rest upserted; an
 * unchanged row is not rewritten, nor locked. The deletes and upserts of
 * one table touch
 * disjoint rows, so they may share the statement. In three pieces, each
 * short enough for a C string literal.
 */
#define SAVE_BODY_1                                                           \
    ", s AS (INSERT INTO mtsession.sessions AS o (account, home_dc, "         \
    "test_mode, api_id, user_id, user_is_bot, future_token, pts, qts, date, " \
    "seq, rev) SELECT $1, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $36 "   \
    "FROM f ON CONFLICT (account) DO UPDATE SET home_dc = excluded.home_dc, " \
    "test_mode = excluded.test_mode, api_id = excluded.api_id, "              \
    "user_id = excluded.user_id, user_is_bot = excluded.user_is_bot, "        \
    "future_token = excluded.future_token, pts = excluded.pts, "              \
    "qts = excluded.qts, date = excluded.date, seq = excluded.seq, "          \
    "rev = excluded.rev), "                                                   \
    "dd AS (DELETE FROM mtsession.dcs o WHERE o.account = $1 "                \
    "AND EXISTS (SELECT FROM f) AND (o.dc_id, o.flags, o.family) NOT IN "     \
    "(SELECT * FROM unnest(" ARR(14) ", " ARR(15) ", " ARR(16) "))), "        \
    "du AS (INSERT INTO mtsession.dcs AS o (account, dc_id, flags, family, "  \
    "ip, port, auth_key, server_salt, time_offset, server_salt_sealed) "     \
    "SELECT $1, r.* FROM f, "                                                 \
    "(SELECT * FROM unnest(" ARR(14) ", " ARR(15) ", " ARR(16) ", " ARR(17)   \
    ", " ARR(18) ", " ARR(19) ", " ARR(20) ", " ARR(21) ", " ARR(35)          \
    ") EXCEPT SELECT "                                                        \
    "dc_id, flags, family, ip, port, auth_key, server_salt, time_offset, "    \
    "server_salt_sealed FROM mtsession.dcs WHERE account = $1) AS r "         \
    "ON CONFLICT (account, dc_id, flags, family) DO UPDATE SET "              \
    "ip = excluded.ip, port = excluded.port, auth_key = excluded.auth_key, "  \
    "server_salt = excluded.server_salt, time_offset = excluded.time_offset, "\
    "server_salt_sealed = excluded.server_salt_sealed "                       \
    "WHERE (o.ip, o.port, o.auth_key, o.server_salt, o.time_offset, "         \
    "o.server_salt_sealed) "                                                  \
    "IS DISTINCT FROM (excluded.ip, excluded.port, excluded.auth_key, "       \
    "excluded.server_salt, excluded.time_offset, "                            \
    "excluded.server_salt_sealed))"
#define SAVE_BODY_2                                                           \
    CHANNELS_REPLACE(22, 23)                                                  \
    ", pd AS (DELETE FROM mtsession.peers o WHERE o.account = $1 "            \
    "AND EXISTS (SELECT FROM f) AND (o.kind, o.id) NOT IN "                   \
    "(SELECT * FROM unnest(" ARR(24) ", " ARR(25) "))), "                     \
    "pu AS (INSERT INTO mtsession.peers AS o (account, kind, id, "            \
    "access_hash, channel_kind, community, bot, username, phone) "            \
    "SELECT $1, r.* FROM f, (SELECT * FROM unnest(" ARR(24) ", " ARR(25)      \
    ", " ARR(26) ", " ARR(27) ", " ARR(28) ", " ARR(29) ", " ARR(30) ", "     \
    ARR(31) ") EXCEPT SELECT kind, id, access_hash, channel_kind, "           \
    "community, bot, username, phone FROM mtsession.peers "                   \
    "WHERE account = $1) AS r ON CONFLICT (account, kind, id) DO UPDATE SET "                          \
    "access_hash = excluded.access_hash, "                                    \
    "channel_kind = excluded.channel_kind, community = excluded.community, "  \
    "bot = excluded.bot, username = excluded.username, "                      \
    "phone = excluded.phone WHERE (o.access_hash, o.channel_kind, "           \
    "o.community, o.bot, o.username, o.phone) IS DISTINCT FROM "              \
    "(excluded.access_hash, excluded.channel_kind, excluded.community, "      \
    "excluded.bot, excluded.username, excluded.phone))"
#define SAVE_BODY_3_CORE                                                      \
    ", md AS (DELETE FROM mtsession.min_peers o WHERE o.account = $1 "        \
    "AND EXISTS (SELECT FROM f) AND o.user_id NOT IN "                        \
    "(SELECT unnest(" ARR(32) "))), "                                         \
    "mu AS (INSERT INTO mtsession.min_peers AS o (account, user_id, "         \
    "peer_id, msg_id) SELECT $1, r.* FROM f, (SELECT * FROM unnest("          \
    ARR(32) ", " ARR(33) ", " ARR(34) ") EXCEPT SELECT user_id, peer_id, "    \
    "msg_id FROM mtsession.min_peers WHERE account = $1) AS r "               \
    "ON CONFLICT (account, user_id) DO UPDATE SET "       \
    "peer_id = excluded.peer_id, msg_id = excluded.msg_id WHERE (o.peer_id, " \
    "o.msg_id) IS DISTINCT FROM (excluded.peer_id, excluded.msg_id))"

/*
 * save_if: a save ($38 the expected revision) whose fence f0 is gated by
 * the seal ($37, fs) and the revision: f is fs's row only when the stored
 * revision is $38. It
 * runs after the lease row is locked in its own transaction (as an
 * unleased write does, for holders too), so its snapshot holds every
 * write committed before and no other write of the account can commit
 * until it does. Returns the fence's count, whether it wrote, and the
 * revision it found.
 */
#define REV_GATE                                                              \
    ", f AS (SELECT FROM fs WHERE " STORED_REV " = $38)"
#define SAVE_IF_END                                                           \
    " SELECT (SELECT count(*) FROM f0), (SELECT count(*) FROM f), "           \
    STORED_REV ", (SELECT count(*) FROM fs)"

/* delete: every row of the account except its lease (the epoch must
 * survive, or a stale holder could match a later one). */
#define DELETE_BODY                                                           \
    ", a AS (DELETE FROM mtsession.sessions WHERE account = $1 "              \
    "AND EXISTS (SELECT FROM f)), "                                           \
    "b AS (DELETE FROM mtsession.dcs WHERE account = $1 "                     \
    "AND EXISTS (SELECT FROM f)), "                                           \
    "c AS (DELETE FROM mtsession.channel_pts WHERE account = $1 "             \
    "AND EXISTS (SELECT FROM f)), "                                           \
    "d AS (DELETE FROM mtsession.peers WHERE account = $1 "                   \
    "AND EXISTS (SELECT FROM f)), "                                           \
    "m AS (DELETE FROM mtsession.min_peers WHERE account = $1 "               \
    "AND EXISTS (SELECT FROM f))" FENCE_END

/* apply_update_state PRIMARY: $4 pts, $5 date, $6 seq. */
#define PRIMARY_BODY                                                          \
    ", w AS (INSERT INTO mtsession.sessions (account, pts, date, seq, rev) "  \
    "SELECT $1, $4, $5, $6, $7 FROM f ON CONFLICT (account) DO UPDATE SET "   \
    "pts = excluded.pts, date = excluded.date, seq = excluded.seq, "          \
    "rev = excluded.rev)" FENCE_END

/* apply_update_state SECONDARY: $4 qts. */
#define SECONDARY_BODY                                                        \
    ", w AS (INSERT INTO mtsession.sessions (account, qts, rev) "             \
    "SELECT $1, $4, $5 FROM f ON CONFLICT (account) DO UPDATE SET "           \
    "qts = excluded.qts, rev = excluded.rev)" FENCE_END

/* apply_update_state ALL: $4..$7 pts, qts, date, seq; $8, $9 channels. */
#define STATE_BODY                                                            \
    ", w AS (INSERT INTO mtsession.sessions (account, pts, qts, date, seq, "  \
    "rev) SELECT $1, $4, $5, $6, $7, $10 FROM f ON CONFLICT (account) DO "    \
    "UPDATE SET pts = excluded.pts, qts = excluded.qts, "                     \
    "date = excluded.date, seq = excluded.seq, rev = excluded.rev)"           \
    CHANNELS_REPLACE(8, 9) FENCE_END

/* apply_update_state CHANNEL: $4 channel_id, $5 pts. */
#define CHANNEL_BODY                                                          \
    ENSURE_SESSION(6)                                                         \
    ", w AS (INSERT INTO mtsession.channel_pts (account, channel_id, pts) "    \
    "SELECT $1, $4, $5 FROM f ON CONFLICT (account, channel_id) "             \
    "DO UPDATE SET pts = excluded.pts)" FENCE_END

/* update_dc: $4 dc_id, $5 flags, $6 family, $7 ip, $8 port, $9 auth_key,
 * $10 server_salt, $11 time_offset, $12 server_salt_sealed, $13 rev; the
 * seal gate's check value is $14. */
#define DC_BODY                                                               \
    ENSURE_SESSION(13)                                                        \
    ", w AS (INSERT INTO mtsession.dcs (account, dc_id, flags, family, ip, "  \
    "port, auth_key, server_salt, time_offset, server_salt_sealed) "          \
    "SELECT $1, $4, $5, $6, $7, $8, $9, $10, $11, $12 FROM f "                \
    "ON CONFLICT (account, dc_id, flags, family) DO UPDATE SET "              \
    "ip = excluded.ip, port = excluded.port, auth_key = excluded.auth_key, "  \
    "server_salt = excluded.server_salt, "                                    \
    "server_salt_sealed = excluded.server_salt_sealed, "                      \
    "time_offset = excluded.time_offset)" GATE_END

/* set_home_dc: $4 home_dc. */
#define HOME_BODY                                                             \
    ", w AS (INSERT INTO mtsession.sessions (account, home_dc, rev) "         \
    "SELECT $1, $4, $5 FROM f ON CONFLICT (account) DO UPDATE SET "           \
    "home_dc = excluded.home_dc, rev = excluded.rev)" FENCE_END

/* cache_peer: $4 kind, $5 id, $6 access_hash, $7 channel_kind,
 * $8 community, $9 bot, $10 username, $11 phone. */
#define PEER_BODY                                                             \
    ENSURE_SESSION(12)                                                        \
    ", w AS (INSERT INTO mtsession.peers (account, kind, id, access_hash, "   \
    "channel_kind, community, bot, username, phone) "                         \
    "SELECT $1, $4, $5, $6, $7, $8, $9, $10, $11 FROM f "                     \
    "ON CONFLICT (account, kind, id) DO UPDATE SET "                          \
    "access_hash = excluded.access_hash, "                                    \
    "channel_kind = excluded.channel_kind, community = excluded.community, "  \
    "bot = excluded.bot, username = excluded.username, "                      \
    "phone = excluded.phone)" FENCE_END

/*
 * load: every row of the account in one statement (one snapshot), as
 * (t, i1..i9, s1, s2, b1, b2): t says the table, the other columns carry
 * its values in the order load_row maps them. Tag 6 is the account's seal
 * row (kdf, opslimit, memlimit | salt, check_value), so the values and
 * the seal they were written under are read together.
 */
#define LOAD_SQL                                                              \
    "SELECT 0::int2, home_dc::int8, test_mode::int4::int8, api_id::int8, "    \
    "user_id::int8, user_is_bot::int4::int8, pts::int8, qts::int8, "          \
    "date::int8, seq::int8, NULL::text, NULL::text, future_token, "         \
    "NULL::bytea "            \
    "FROM mtsession.sessions WHERE account = $1 "                             \
    "UNION ALL SELECT 1, dc_id, flags, family, port, server_salt, "           \
    "time_offset, NULL, NULL, NULL, ip, NULL, auth_key, server_salt_sealed "                      \
    "FROM mtsession.dcs WHERE account = $1 "                                  \
    "UNION ALL SELECT 2, channel_id, pts, NULL, NULL, NULL, NULL, NULL, "     \
    "NULL, NULL, NULL, NULL, NULL, NULL FROM mtsession.channel_pts "                \
    "WHERE account = $1 "                                                     \
    "UNION ALL SELECT 3, kind, id, access_hash, channel_kind, "               \
    "community::int4, bot::int4, NULL, NULL, NULL, username, phone, NULL, "  \
    "NULL "    \
    "FROM mtsession.peers WHERE account = $1 "                                \
    "UNION ALL SELECT 4, user_id, peer_id, msg_id, NULL, NULL, NULL, NULL, "  \
    "NULL, NULL, NULL, NULL, NULL, NULL FROM mtsession.min_peers "                  \
    "WHERE account = $1 "                                                     \
    "UNION ALL SELECT 6, kdf::int8, opslimit::int8, memlimit::int8, NULL, "   \
    "NULL, NULL, NULL, NULL, NULL, NULL, NULL, salt, check_value "            \
    "FROM mtsession.seals WHERE account = $1"

/* load with the revision: one more row, tag 5, the revision in i1. */
#define LOAD_REV_SQL                                                          \
    LOAD_SQL " UNION ALL SELECT 5, CASE WHEN rev = 0 THEN "                   \
    "(-9223372036854775807)::int8 - 1 ELSE rev END, NULL, NULL, NULL, NULL, " \
    "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL "                         \
    "FROM mtsession.sessions WHERE account = $1"

/* A lease row as the lease statements return it: owner, epoch, expiry in
 * Unix ms (NULL for the '-infinity' of a row nobody leased yet), live. */
#define LEASE_COLS(T)                                                         \
    T "owner, " T "epoch, CASE WHEN isfinite(" T "expires_at) THEN "          \
    "floor(extract(epoch FROM " T "expires_at) * 1000)::int8 END, "           \
    T "expires_at > clock_timestamp()"
#define TTL(P) "clock_timestamp() + " P "::float8 * interval '1 millisecond'"

/*
 * acquire ($1 account, $2 owner, $3 ttl_ms): take a free, expired or
 * released lease, or renew one this owner holds live. The epoch stays on a
 * renewal and rises on every other acquisition (a new owner, or this
 * owner after its lease ended), so no earlier tenure's writes can pass the
 * fence. Expiry is computed after the row lock is held, on the server's
 * clock. No row back: someone else's lease is live.
 */
#define ACQUIRE_SQL                                                           \
    "INSERT INTO mtsession.leases AS l (account, owner, epoch, expires_at) "  \
    "VALUES ($1, $2, 1, " TTL("$3") ") ON CONFLICT (account) DO UPDATE SET "  \
    "owner = excluded.owner, epoch = CASE WHEN l.owner = excluded.owner "     \
    "AND l.expires_at > clock_timestamp() THEN l.epoch ELSE l.epoch + 1 END," \
    " expires_at = " TTL("$3") " WHERE l.owner IS NULL OR "                   \
    "l.owner = excluded.owner OR l.expires_at <= clock_timestamp() "          \
    "RETURNING " LEASE_COLS("l.")

/* renew ($1, $2 owner, $3 epoch, $4 ttl_ms); no row: lost. */
#define RENEW_SQL                                                             \
    "UPDATE mtsession.leases SET expires_at = " TTL("$4")                     \
    " WHERE account = $1 AND owner = $2 AND epoch = $3 "                      \
    "RETURNING " LEASE_COLS("")

/* release ($1, $2 owner, $3 epoch): expire now, keep the epoch. */
#define RELEASE_SQL                                                           \
    "UPDATE mtsession.leases SET expires_at = "                               \
    "least(expires_at, clock_timestamp()) WHERE account = $1 "                \
    "AND owner = $2 AND epoch = $3 RETURNING 1"

#define SHOW_SQL                                                              \
    "SELECT " LEASE_COLS("") " FROM mtsession.leases WHERE account = $1"

/*
 * The first statement of an unleased write's transaction ($1 account):
 * create the lease row or lock it (ON CONFLICT DO UPDATE locks the row even
 * when its WHERE is false). Under READ COMMITTED each statement reads from
 * a snapshot taken when it starts, so the write that follows sees every
 * write committed before this lock was granted; as one statement, the
 * write's snapshot would predate its wait for the lock, and a save could
 * miss rows a writer it waited for had added.
 */
#define LOCK_FREE_SQL                                                         \
    "INSERT INTO mtsession.leases AS l (account) VALUES ($1) "                \
    "ON CONFLICT (account) DO UPDATE SET owner = l.owner WHERE false"

/* ---- statements -------------------------------------------------------- */

/* The write operations; each has a HELD and a FREE statement. */
enum {
    W_SAVE,
    W_DELETE,
    W_PRIMARY,
    W_SECONDARY,
    W_STATE,
    W_CHANNEL,
    W_DC,
    W_HOME,
    W_PEER,
    W_SAVE_IF,
    W_COUNT
};

enum {
    S_LOAD,
    S_ACQUIRE,
    S_RENEW,
    S_RELEASE,
    S_SHOW,
    S_LOCK_FREE,
    S_LOAD_REV,
    S_WRITE_FIRST /* then W_COUNT pairs: held, free */
};
#define S_WRITE(w, held) (S_WRITE_FIRST + 2 * (w) + ((held) ? 0 : 1))
#define S_COUNT (S_WRITE_FIRST + 2 * W_COUNT)

#define MAX_PARAMS 38

static const Oid t_load[] = { OID_TEXT };
static const Oid t_acquire[] = { OID_TEXT, OID_TEXT, OID_INT8 };
static const Oid t_renew[] = { OID_TEXT, OID_TEXT, OID_INT8, OID_INT8 };
/* save's 37 parameters (the seal last, $37), then save_if's expected
 * revision ($38); save uses the first 37 */
static const Oid t_save_if[] = {
    OID_TEXT,        OID_TEXT,        OID_INT8,        OID_INT4,
    OID_BOOL,        OID_INT4,        OID_INT8,        OID_BOOL,
    OID_BYTEA,       OID_INT4,        OID_INT4,        OID_INT4,
    OID_INT4,        OID_INT4_ARRAY,  OID_INT4_ARRAY,  OID_INT2_ARRAY,
    OID_TEXT_ARRAY,  OID_INT4_ARRAY,  OID_BYTEA_ARRAY, OID_INT8_ARRAY,
    OID_INT4_ARRAY,  OID_INT8_ARRAY,  OID_INT4_ARRAY,  OID_INT2_ARRAY,
    OID_INT8_ARRAY,  OID_INT8_ARRAY,  OID_INT2_ARRAY,  OID_BOOL_ARRAY,
    OID_BOOL_ARRAY,  OID_TEXT_ARRAY,  OID_TEXT_ARRAY,  OID_INT8_ARRAY,
    OID_INT8_ARRAY,  OID_INT4_ARRAY,  OID_BYTEA_ARRAY, OID_INT8,
    OID_BYTEA,       OID_INT8,
};
_Static_assert(MTS__ARRAY_LEN(t_save_if) == 38,
               "t_save_if: save's 37 parameters, then the revision");
static const Oid t_fence[] = { OID_TEXT, OID_TEXT, OID_INT8 };
/* Each granular write: the fence, its values, then the new revision. */
static const Oid t_primary[] = { OID_TEXT, OID_TEXT, OID_INT8, OID_INT4,
                                 OID_INT4, OID_INT4, OID_INT8 };
static const Oid t_secondary[] = { OID_TEXT, OID_TEXT, OID_INT8, OID_INT4,
                                   OID_INT8 };
static const Oid t_state[] = { OID_TEXT, OID_TEXT, OID_INT8,
                               OID_INT4, OID_INT4, OID_INT4,
                               OID_INT4, OID_INT8_ARRAY, OID_INT4_ARRAY,
                               OID_INT8 };
static const Oid t_channel[] = { OID_TEXT, OID_TEXT, OID_INT8,
                                 OID_INT8, OID_INT4, OID_INT8 };
static const Oid t_dc[] = { OID_TEXT,  OID_TEXT, OID_INT8, OID_INT4,
                            OID_INT4,  OID_INT2, OID_TEXT, OID_INT4,
                            OID_BYTEA, OID_INT8, OID_INT4, OID_BYTEA,
                            OID_INT8,  OID_BYTEA };
_Static_assert(MTS__ARRAY_LEN(t_dc) == 14, "t_dc: the seal is $14, the last");
static const Oid t_home[] = { OID_TEXT, OID_TEXT, OID_INT8, OID_INT4,
                              OID_INT8 };
static const Oid t_peer[] = { OID_TEXT, OID_TEXT, OID_INT8, OID_INT2,
                              OID_INT8, OID_INT8, OID_INT2, OID_BOOL,
                              OID_BOOL, OID_TEXT, OID_TEXT, OID_INT8 };

/* A statement's text is its pieces joined (at most PG_SQL_MAX bytes). */
#define PG_SQL_PIECES 4
#define PG_SQL_MAX 16384

typedef struct pg_stmt_def {
    const char *sql[PG_SQL_PIECES];
    const char *label;
    int nparams;
    const Oid *types;
} pg_stmt_def;

#define DEF(sql, label, types)                                                \
    { { sql, NULL, NULL, NULL }, label, (int)MTS__ARRAY_LEN(types), types }
#define WDEF(body, label, types)                                              \
    DEF(FENCE_HELD body, label, types), DEF(FENCE_FREE body, label, types)
/* A write's held and free statements, fence f0 then gate then the body;
 * it takes the first n of types. */
#define GATED(gate, b1, b2, b3, label, n, types)                              \
    { { FENCE_HELD_AS("f0") gate, b1, b2, b3 }, label, n, types },            \
    { { FENCE_FREE_AS("f0") gate, b1, b2, b3 }, label, n, types }
/* A write gated by the seal ($n, its last parameter): gate f. */
#define GDEF(n, b1, b2, b3, label, types)                                     \
    GATED(SEAL_GATE_AS("f", "f0", n), b1, b2, b3, label, n, types)

static const pg_stmt_def stmts[S_COUNT] = {
    [S_LOAD] = DEF(LOAD_SQL, "load", t_load),
    [S_ACQUIRE] = DEF(ACQUIRE_SQL, "lease acquire", t_acquire),
    [S_RENEW] = DEF(RENEW_SQL, "lease renew", t_renew),
    [S_RELEASE] = DEF(RELEASE_SQL, "lease release", t_acquire),
    [S_SHOW] = DEF(SHOW_SQL, "lease show", t_load),
    [S_LOCK_FREE] = DEF(LOCK_FREE_SQL, "lock lease row", t_load),
    [S_LOAD_REV] = DEF(LOAD_REV_SQL, "load", t_load),
    GDEF(37, SAVE_BODY_1, SAVE_BODY_2, SAVE_BODY_3_CORE GATE_END, "save",
         t_save_if),
    WDEF(DELETE_BODY, "delete", t_fence),
    WDEF(PRIMARY_BODY, "set pts, date, seq", t_primary),
    WDEF(SECONDARY_BODY, "set qts", t_secondary),
    WDEF(STATE_BODY, "set update state", t_state),
    WDEF(CHANNEL_BODY, "set channel pts", t_channel),
    GDEF(14, DC_BODY, NULL, NULL, "update DC", t_dc),
    WDEF(HOME_BODY, "set home DC", t_home),
    WDEF(PEER_BODY, "cache peer", t_peer),
    /* save's statement gated by the seal into fs, then by the revision */
    GATED(SEAL_GATE_AS("fs", "f0", 37) REV_GATE, SAVE_BODY_1, SAVE_BODY_2,
          SAVE_BODY_3_CORE SAVE_IF_END, "save_if", 38, t_save_if),
};

/* ---- the backend ------------------------------------------------------- */

typedef struct pg_backend {
    mts_backend parent; /* must be first */
    PGconn *conn;
    uint64_t prepared; /* bit per statement prepared on this connection */
    char *account;
    char *display; /* "postgres:<conninfo without password>#<account>" */
    /* The lease this handle holds (or held, when it was lost). */
    int leased;
    char owner[MTS_LEASE_OWNER_MAX + 1];
    uint64_t epoch;
    /*
     * The account's seal as this handle last saw it: seal_row (present or
     * not), and with the handle's secret (borrowed) its column key
     * (sealed). A present row that the handle cannot open (no secret) is
     * the "locked" state: leases, delete and revisions work, loads and
     * writes of the session answer MTS_EENCRYPTED.
     */
    mts_secret *secret;
    mts__sql_seal_row seal_row;
    int sealed;
    mts__sql_seal seal;
} pg_backend;

/* One call's connection budget: a dead connection is re-opened at most
 * once per call, and whether a statement may have run before it died. */
typedef struct pg_call {
    int reconnected;
    int uncertain; /* a write was sent and its connection lost */
    char lost[96]; /* libpq's reason for that loss */
} pg_call;

/* ---- errors ------------------------------------------------------------ */

static void
quiet_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* a library does not print; notices carry nothing we act on */
}

/* The first line of a libpq message, without its newline. */
static void
first_line(char *out, size_t size, const char *msg)
{
    size_t n = 0;
    if (msg == NULL)
        msg = "";
    while (msg[n] != '\0' && msg[n] != '\n' && n + 1 < size)
        n++;
    memcpy(out, msg, n);
    out[n] = '\0';
}

/* SQLSTATE as an int when it is five digits (23505), else 0. */
static int
sqlstate_int(const char *state)
{
    int v = 0;
    if (state == NULL || strlen(state) != 5)
        return 0;
    for (int i = 0; i < 5; i++) {
        if (state[i] < '0' || state[i] > '9')
            return 0;
        v = v * 10 + (state[i] - '0');
    }
    return v;
}

/* Whether an error means the connection (not the statement) failed. */
static int
conn_lost(PGconn *c, const PGresult *res)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (c == NULL || PQstatus(c) != CONNECTION_OK)
        return 1;
    if (st == NULL)
        return res == NULL;
    return strncmp(st, "08", 2) == 0 || strcmp(st, "57P01") == 0 ||
           strcmp(st, "57P02") == 0 || strcmp(st, "57P03") == 0;
}

/* A statement failed on a live connection: the server's error. */
static int
server_error(pg_backend *b, const PGresult *res, const char *what,
             mts_error *err)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg =
        res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char line[200];
    if (msg == NULL)
        first_line(line, sizeof(line), b->conn ? PQerrorMessage(b->conn) : "");
    else
        first_line(line, sizeof(line), msg);
    if (st == NULL)
        return mts__err(err, res == NULL ? MTS_ENOMEM : MTS_EBACKEND,
                        "%s: %s: %s", b->display, what, line);
    return mts__err_native(err, MTS_EBACKEND, sqlstate_int(st),
                           "%s: %s: %s (SQLSTATE %s)", b->display, what, line,
                           st);
}

/* ---- parameters (all sent in binary) ------------------------------------ */

typedef struct pg_params {
    int n;
    const char *val[MAX_PARAMS];
    int len[MAX_PARAMS];
    int fmt[MAX_PARAMS];
    uint8_t scalar[MAX_PARAMS][8];
    mts__buf arr[MAX_PARAMS];
    int arr_used[MAX_PARAMS];
    int arr_null[MAX_PARAMS];
} pg_params;

static void
params_init(pg_params *p, int n)
{
    memset(p, 0, sizeof(*p));
    p->n = n;
    for (int i = 0; i < MAX_PARAMS; i++)
        p->fmt[i] = 1;
}

static void
params_free(pg_params *p)
{
    for (int i = 0; i < MAX_PARAMS; i++)
        if (p->arr_used[i])
            mts__buf_free(&p->arr[i]);
    mts__wipe(p->scalar, sizeof(p->scalar));
}

static void
be_put(uint8_t *out, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t
be_get(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = (v << 8) | p[i];
    return v;
}

static void
p_int(pg_params *p, int i, int64_t v, int bytes)
{
    be_put(p->scalar[i], (uint64_t)v, bytes);
    p->val[i] = (const char *)p->scalar[i];
    p->len[i] = bytes;
}

#define p_i16(p, i, v) p_int(p, i, (int64_t)(v), 2)
#define p_i32(p, i, v) p_int(p, i, (int64_t)(v), 4)
#define p_i64(p, i, v) p_int(p, i, (int64_t)(v), 8)
#define p_bool(p, i, v) p_int(p, i, (v) ? 1 : 0, 1)

static void
p_null(pg_params *p, int i)
{
    p->val[i] = NULL;
    p->len[i] = 0;
}

/* Bytes (text or bytea); NULL data is SQL NULL. Lengths are checked by
 * the model long before they could reach INT_MAX. */
static void
p_bytes(pg_params *p, int i, const void *data, size_t n)
{
    if (data == NULL) {
        p_null(p, i);
        return;
    }
    p->val[i] = data;
    p->len[i] = (int)n;
}

static void
p_text(pg_params *p, int i, const char *s)
{
    p_bytes(p, i, s, s ? strlen(s) : 0);
}

/* The three fence parameters: account, and owner + epoch when leased. */
static void
p_fence(pg_params *p, const pg_backend *b)
{
    p_text(p, 0, b->account);
    if (b->leased) {
        p_text(p, 1, b->owner);
        p_i64(p, 2, (int64_t)b->epoch);
    } else {
        p_null(p, 1);
        p_null(p, 2);
    }
}

/*
 * A one-dimensional array in PostgreSQL's binary form: ndim, has-null
 * flag, element type, then (length, lower bound 1) and each element as
 * (int32 length or -1 for NULL, bytes). An empty array has ndim 0.
 */
static void
arr_begin(pg_params *p, int i, Oid elem, size_t count)
{
    uint8_t h[20];
    mts__buf *a = &p->arr[i];
    mts__buf_init(a, PG_PARAM_MAX);
    p->arr_used[i] = 1;
    p->arr_null[i] = 0;
    be_put(h, count > 0 ? 1 : 0, 4);
    be_put(h + 4, 0, 4);
    be_put(h + 8, elem, 4);
    be_put(h + 12, count > UINT32_MAX ? UINT32_MAX : count, 4);
    be_put(h + 16, 1, 4);
    mts__buf_put(a, h, count > 0 ? 20 : 12);
}

static void
arr_elem(pg_params *p, int i, const void *data, size_t n)
{
    uint8_t h[4];
    mts__buf *a = &p->arr[i];
    if (data == NULL) {
        be_put(h, 0xffffffffu, 4);
        p->arr_null[i] = 1;
        mts__buf_put(a, h, 4);
    } else if (n > PG_PARAM_MAX) {
        a->failed = a->over = true;
    } else {
        be_put(h, n, 4);
        mts__buf_put(a, h, 4);
        mts__buf_put(a, data, n);
    }
}

static void
arr_int(pg_params *p, int i, int64_t v, int bytes)
{
    uint8_t x[8];
    be_put(x, (uint64_t)v, bytes);
    arr_elem(p, i, x, (size_t)bytes);
}

#define arr_i16(p, i, v) arr_int(p, i, (int64_t)(v), 2)
#define arr_i32(p, i, v) arr_int(p, i, (int64_t)(v), 4)
#define arr_i64(p, i, v) arr_int(p, i, (int64_t)(v), 8)
#define arr_bool(p, i, v) arr_int(p, i, (v) ? 1 : 0, 1)

static void
arr_text(pg_params *p, int i, const char *s)
{
    arr_elem(p, i, s, s ? strlen(s) : 0);
}

/* Finish every array parameter: set the has-null flags, hand the bytes to
 * libpq. MTS_ENOMEM or MTS_ELIMIT when a buffer could not grow. */
static int
arr_finish(pg_backend *b, pg_params *p, mts_error *err)
{
    for (int i = 0; i < p->n; i++) {
        mts__buf *a = &p->arr[i];
        if (!p->arr_used[i])
            continue;
        if (a->failed)
            return a->over ? mts__err(err, MTS_ELIMIT,
                                      "%s: a table is too large for one "
                                      "statement (over 1 GiB)",
                                      b->display)
                           : mts__err_oom(err);
        if (p->arr_null[i])
            be_put(a->data + 4, 1, 4);
        p->val[i] = (const char *)a->data;
        p->len[i] = (int)a->len;
    }
    return 0;
}

/* ---- connection --------------------------------------------------------- */

/* Open or re-open the connection; MTS_EIO when the server cannot be
 * reached or refuses us. */
static int
reconnect(pg_backend *b, pg_call *call, mts_error *err)
{
    char line[200];
    if (call != NULL) {
        if (call->reconnected)
            return mts__err(err, MTS_EIO,
                            "%s: connection lost again after a reconnect%s%s",
                            b->display, call->lost[0] ? ": " : "",
                            call->lost);
        call->reconnected = 1;
    }
    b->prepared = 0;
    PQreset(b->conn);
    if (PQstatus(b->conn) != CONNECTION_OK) {
        first_line(line, sizeof(line), PQerrorMessage(b->conn));
        return mts__err(err, MTS_EIO, "%s: cannot reconnect: %s", b->display,
                        line);
    }
    return 0;
}

/*
 * Before a call: make sure the connection is up. A server that ended the
 * session while it was idle (restart, pg_terminate_backend, an idle
 * timeout) has left an error and end-of-file in the socket: nothing was
 * sent yet, so reconnecting here is always safe.
 */
static int
ensure_conn(pg_backend *b, pg_call *call, mts_error *err)
{
    /* One read takes the server's FATAL message, the next the end-of-file
     * behind it (which makes the status CONNECTION_BAD). */
    for (int i = 0; i < 4 && PQstatus(b->conn) == CONNECTION_OK; i++) {
        struct pollfd pfd;
        PGnotify *n;
        pfd.fd = PQsocket(b->conn);
        pfd.events = POLLIN;
        pfd.revents = 0;
        if (pfd.fd < 0 || poll(&pfd, 1, 0) <= 0)
            break;
        if (!PQconsumeInput(b->conn))
            break;
        while ((n = PQnotifies(b->conn)) != NULL)
            PQfreemem(n);
    }
    if (PQstatus(b->conn) != CONNECTION_OK)
        return reconnect(b, call, err);
    if (PQtransactionStatus(b->conn) != PQTRANS_IDLE) {
        /* never expected: end whatever transaction is left open */
        PQclear(PQexec(b->conn, "ROLLBACK"));
    }
    return 0;
}

static void
stmt_name(char *buf, size_t size, int id)
{
    snprintf(buf, size, "mts_%d", id);
}

/* Prepare statement `id` on this connection if it is not yet. Returns
 * NULL when done, else the failed PGresult (or NULL result as a
 * connection failure: *failed set). */
static PGresult *
prepare(pg_backend *b, int id, int *failed)
{
    PGresult *res;
    char name[32], sql[PG_SQL_MAX];
    size_t len = 0;
    *failed = 0;
    if ((b->prepared & ((uint64_t)1 << id)) != 0)
        return NULL;
    stmt_name(name, sizeof(name), id);
    for (int i = 0; i < PG_SQL_PIECES && stmts[id].sql[i] != NULL; i++) {
        size_t n = strlen(stmts[id].sql[i]);
        MTS_ASSERT(len + n < sizeof(sql));
        memcpy(sql + len, stmts[id].sql[i], n);
        len += n;
    }
    sql[len] = '\0';
    res = PQprepare(b->conn, name, sql, stmts[id].nparams, stmts[id].types);
    if (res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK) {
        b->prepared |= (uint64_t)1 << id;
        PQclear(res);
        return NULL;
    }
    *failed = 1;
    return res;
}

/*
 * BEGIN; lock the lease row (S_LOCK_FREE); statement `id`; COMMIT; sent as
 * one pipeline, so one round trip. Returns the first error's result, or
 * the result of `id` when every step succeeded (COMMIT included); NULL
 * when the connection failed without a result.
 */
static PGresult *
exec_locked(pg_backend *b, int id, const pg_params *p)
{
    char name[32], lock[32];
    const char *acct[1];
    int acct_len[1], fmt1[1] = { 1 };
    PGresult *keep = NULL, *err_res = NULL;
    stmt_name(name, sizeof(name), id);
    stmt_name(lock, sizeof(lock), S_LOCK_FREE);
    acct[0] = p->val[0];
    acct_len[0] = p->len[0];
    if (!PQenterPipelineMode(b->conn))
        return NULL;
    if (PQsendQueryParams(b->conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) &&
        PQsendQueryPrepared(b->conn, lock, 1, acct, acct_len, fmt1, 1) &&
        PQsendQueryPrepared(b->conn, name, p->n, p->val, p->len, p->fmt, 1) &&
        PQsendQueryParams(b->conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) &&
        PQpipelineSync(b->conn)) {
        /* four commands, each a result then NULL; then the sync */
        for (int step = 0; step < 5 && PQstatus(b->conn) == CONNECTION_OK;) {
            PGresult *r = PQgetResult(b->conn);
            ExecStatusType st;
            if (r == NULL) {
                step++;
                continue;
            }
            st = PQresultStatus(r);
            if (st == PGRES_PIPELINE_SYNC) {
                PQclear(r);
                break;
            }
            if (st == PGRES_FATAL_ERROR && err_res == NULL)
                err_res = r;
            else if (step == 2 && st == PGRES_TUPLES_OK && keep == NULL)
                keep = r;
            else
                PQclear(r);
        }
    }
    if (PQstatus(b->conn) == CONNECTION_OK && !PQexitPipelineMode(b->conn)) {
        /* results still pending: never expected; report the connection as
         * lost, and the caller's reconnect (PQreset) leaves pipeline mode */
        PQclear(keep);
        PQclear(err_res);
        return NULL;
    }
    if (err_res != NULL || PQstatus(b->conn) != CONNECTION_OK) {
        PQclear(keep);
        return err_res;
    }
    return keep;
}

/*
 * Run statement `id` (prepared on first use per connection) with binary
 * parameters and binary results. Returns 0 with *out (PGRES_TUPLES_OK or
 * PGRES_COMMAND_OK; the caller PQclears it), or an error:
 * - the connection died before or after sending: reconnect once and send
 *   again (every statement here is idempotent); call->uncertain records
 *   that a first attempt may have run. MTS_EIO when that fails.
 * - serialization failure or deadlock (40001, 40P01): the statement was
 *   rolled back; sent once more.
 * - any other server error: MTS_EBACKEND with the SQLSTATE.
 */
static int
run_as(PGresult **out, pg_backend *b, pg_call *call, int id,
       const pg_params *p, int locked, mts_error *err)
{
    const pg_stmt_def *d = &stmts[id];
    char name[32];
    int rc, retried = 0;
    *out = NULL;
    stmt_name(name, sizeof(name), id);
    MTS_ASSERT(p->n == d->nparams);
    for (;;) {
        PGresult *res;
        ExecStatusType st;
        int failed = 0;
        if ((rc = ensure_conn(b, call, err)) != 0)
            return rc;
        res = prepare(b, id, &failed);
        if (!failed && locked)
            res = prepare(b, S_LOCK_FREE, &failed);
        if (failed) {
            if (conn_lost(b->conn, res)) {
                PQclear(res); /* nothing ran: reconnect and prepare again */
                if ((rc = reconnect(b, call, err)) != 0)
                    return rc;
                continue;
            }
            rc = server_error(b, res, d->label, err);
            PQclear(res);
            return rc;
        }
        if (locked)
            res = exec_locked(b, id, p);
        else
            res = PQexecPrepared(b->conn, name, p->n, p->val, p->len, p->fmt,
                                 1);
        st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            *out = res;
            return 0;
        }
        if (conn_lost(b->conn, res)) {
            const char *m = res ? PQresultErrorMessage(res) : NULL;
            first_line(call->lost, sizeof(call->lost),
                       m && *m ? m : PQerrorMessage(b->conn));
            call->uncertain = 1;
            PQclear(res);
            if ((rc = reconnect(b, call, err)) != 0)
                return rc;
            continue;
        }
        if (!retried && res != NULL) {
            const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            if (s != NULL &&
                (strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0)) {
                retried = 1;
                PQclear(res);
                continue;
            }
        }
        rc = server_error(b, res, d->label, err);
        PQclear(res);
        return rc;
    }
}

static int
run(PGresult **out, pg_backend *b, pg_call *call, int id, const pg_params *p,
    mts_error *err)
{
    return run_as(out, b, call, id, p, 0, err);
}

/* ---- results ------------------------------------------------------------ */

/* Column c of row r as a value (borrowed from res). */
static mts__sqlv
col(const PGresult *res, int r, int c)
{
    mts__sqlv v = { MTS__SQL_NULL, 0, NULL, 0 };
    const uint8_t *p;
    int n;
    if (PQgetisnull(res, r, c))
        return v;
    p = (const uint8_t *)PQgetvalue(res, r, c);
    n = PQgetlength(res, r, c);
    switch (PQftype(res, c)) {
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
        if (n == 2 || n == 4 || n == 8) {
            uint64_t u = be_get(p, n);
            v.type = MTS__SQL_INT;
            if (n == 2)
                v.i = (int16_t)(uint16_t)u;
            else if (n == 4)
                v.i = (int32_t)(uint32_t)u;
            else
                v.i = (int64_t)u;
            return v;
        }
        break;
    case OID_BOOL:
        if (n == 1) {
            v.type = MTS__SQL_INT;
            v.i = p[0] != 0;
            return v;
        }
        break;
    case OID_TEXT:
    case OID_VARCHAR:
        v.type = MTS__SQL_TEXT;
        v.p = p;
        v.n = (size_t)n;
        return v;
    case OID_BYTEA:
        v.type = MTS__SQL_BLOB;
        v.p = p;
        v.n = (size_t)n;
        return v;
    default:
        break;
    }
    v.type = MTS__SQL_REAL; /* a type we never store: refused by the mapping */
    return v;
}

/* Column c of a write statement's one row as a count (-1: none). */
static int64_t
count_at(const PGresult *res, int c)
{
    mts__sqlv v;
    if (PQntuples(res) != 1 || PQnfields(res) <= c)
        return -1;
    v = col(res, 0, c);
    return v.type == MTS__SQL_INT ? v.i : -1;
}

/* A lease row (owner, epoch, expires_ms, live) into *info. Returns 0, or
 * MTS_ENOTFOUND when the row has no owner (never leased). */
static int
lease_from_row(mts_lease *info, const PGresult *res, int r)
{
    mts__sqlv owner = col(res, r, 0), epoch = col(res, r, 1);
    mts__sqlv ms = col(res, r, 2), live = col(res, r, 3);
    size_t n;
    if (owner.type != MTS__SQL_TEXT)
        return MTS_ENOTFOUND;
    n = owner.n < MTS_LEASE_OWNER_MAX ? owner.n : MTS_LEASE_OWNER_MAX;
    memcpy(info->owner, owner.p, n);
    info->owner[n] = '\0';
    info->epoch = epoch.type == MTS__SQL_INT ? (uint64_t)epoch.i : 0;
    /* NULL: '-infinity' (never leased) */
    info->expires_ms = ms.type == MTS__SQL_INT ? ms.i : INT64_MIN;
    info->held = live.type == MTS__SQL_INT && live.i != 0;
    return 0;
}

/* The account's lease record now (for messages and lease show). */
static int
read_lease(mts_lease *info, pg_backend *b, pg_call *call, mts_error *err)
{
    pg_params p;
    PGresult *res;
    int rc;
    params_init(&p, 1);
    p_text(&p, 0, b->account);
    rc = run(&res, b, call, S_SHOW, &p, err);
    params_free(&p);
    if (rc != 0)
        return rc;
    rc = PQntuples(res) == 1 ? lease_from_row(info, res, 0) : MTS_ENOTFOUND;
    PQclear(res);
    return rc;
}

/*
 * A write's fence refused it. Say why: for a lease holder MTS_EFENCED
 * (lost to another owner, or expired), for a handle without a lease
 * MTS_ELOCKED (someone's lease is live). After a lost connection the
 * first attempt may have committed: MTS_EIO "outcome unknown" instead.
 */
static int
refused(pg_backend *b, pg_call *call, const char *what, mts_error *err)
{
    mts_lease l = MTS_LEASE_INIT;
    int rc = read_lease(&l, b, call, NULL);
    if (call->uncertain)
        return mts__err(err, MTS_EIO,
                        "%s: %s: outcome unknown: the connection was lost "
                        "after sending (%s), and the retry was refused by "
                        "the lease",
                        b->display, what, call->lost);
    if (!b->leased)
        return mts__lease_held(err, b->display, what,
                               rc == 0 && l.owner[0] ? l.owner : "?",
                               l.expires_ms);
    return mts__lease_fenced(err, b->display, what, b->epoch,
                             rc == 0 ? &l : NULL,
                             rc == 0 && strcmp(l.owner, b->owner) == 0 &&
                                 l.epoch == b->epoch);
}

/* run_write's answer for a write the seal gate refused: the account's
 * seal is no longer the one the handle wrote with (never returned to the
 * caller of a store operation). */
#define PG_SEAL_MOVED 1

/*
 * Run a prepared write (its fence parameters filled by the caller) and
 * interpret the fence's count, and the seal gate's for the writes that
 * have one (PG_SEAL_MOVED). Second attempts after a lost connection that
 * fail are "outcome unknown".
 */
static int
run_write(pg_backend *b, int w, pg_params *p, mts_error *err)
{
    pg_call call;
    PGresult *res;
    int rc, id = S_WRITE(w, b->leased), gated;
    int64_t n, g = 1;
    memset(&call, 0, sizeof(call));
    if ((rc = arr_finish(b, p, err)) != 0)
        return rc;
    /* a lease holder's write is one statement; any other write takes the
     * lease row first, in its own transaction (LOCK_FREE_SQL) */
    rc = run_as(&res, b, &call, id, p, !b->leased, err);
    if (rc != 0) {
        if (call.uncertain && err != NULL)
            mts__err_prefix(err, "outcome unknown (connection lost after "
                                 "sending)");
        return call.uncertain ? MTS_EIO : rc;
    }
    gated = PQnfields(res) == 2;
    n = count_at(res, 0);
    if (gated)
        g = count_at(res, 1);
    PQclear(res);
    if (n == 1 && g == 1)
        return 0;
    if (n == 1 && g == 0) {
        if (call.uncertain)
            return mts__err(err, MTS_EIO,
                            "%s: %s: outcome unknown: the connection was "
                            "lost after sending (%s), and the account's "
                            "seal changed meanwhile",
                            b->display, stmts[id].label, call.lost);
        return PG_SEAL_MOVED;
    }
    if (n == 0)
        return refused(b, &call, stmts[id].label, err);
    return mts__err(err, MTS_EBACKEND, "%s: %s: unexpected result",
                    b->display, stmts[id].label);
}

/* ---- the account's seal -------------------------------------------------- */

static int seal_read(pg_backend *b, mts__sql_seal_row *row, mts_error *err);

/* Whether the handle sees a seal it cannot open (no secret). */
static int
is_locked(const pg_backend *b)
{
    return b->seal_row.present && !b->sealed;
}

/* MTS_EENCRYPTED for a locked handle's load or write (`what`), else 0. */
static int
locked_err(const pg_backend *b, const char *what, mts_error *err)
{
    if (!is_locked(b))
        return 0;
    return mts__err(err, MTS_EENCRYPTED,
                    "%s: %s: the account is sealed (%s) and no key or "
                    "passphrase was given; open it with its secret",
                    b->display, what,
                    b->seal_row.kdf.kind == 0 ? "with a 32-byte key"
                                              : "with a passphrase");
}

/*
 * Adopt the account's seal row as stored now (another handle may have
 * re-sealed it since this one looked: mts_postgres_rekey). The same row:
 * nothing to do. A handle without a secret takes any row (clear, or
 * locked). A handle with one opens the new row with it (MTS_EBADKEY when
 * it does not), and refuses an account that is now in clear (MTS_EINVAL,
 * as open does). On error the handle is unchanged.
 */
static int
seal_sync(pg_backend *b, const mts__sql_seal_row *row, mts_error *err)
{
    mts__sql_seal seal;
    int rc;
    if (mts__sql_seal_row_same(row, &b->seal_row))
        return 0;
    if (b->secret != NULL && !row->present)
        return mts__err(err, MTS_EINVAL,
                        "%s: the account is stored in clear now (its seal "
                        "was removed after this handle opened it); open it "
                        "without a secret",
                        b->display);
    if (b->secret == NULL || !row->present) {
        mts__wipe(&b->seal, sizeof(b->seal));
        b->sealed = 0;
        b->seal_row = *row;
        return 0;
    }
    if ((rc = mts__sql_seal_open(&seal, row, b->account, b->secret, err))) {
        mts__err_prefix(err, "%s: the account was re-sealed", b->display);
        return rc;
    }
    b->seal = seal;
    b->seal_row = *row;
    b->sealed = 1;
    mts__wipe(&seal, sizeof(seal));
    return 0;
}

/* Read the seal row again and adopt it (seal_sync). */
static int
seal_refresh(pg_backend *b, mts_error *err)
{
    mts__sql_seal_row row;
    int rc;
    if ((rc = ensure_conn(b, NULL, err)) != 0 ||
        (rc = seal_read(b, &row, err)) != 0)
        return rc;
    return seal_sync(b, &row, err);
}

/*
 * Before a locked handle's write: the account may have been taken out of
 * its seal since; look again. Still sealed: MTS_EENCRYPTED, nothing sent.
 */
static int
check_unlocked(pg_backend *b, const char *what, mts_error *err)
{
    int rc;
    if (!is_locked(b))
        return 0;
    if ((rc = seal_refresh(b, err)) != 0)
        return rc;
    return locked_err(b, what, err);
}

/* The seal gate's parameter: the check value of the seal the handle
 * writes with, NULL when it writes in clear. */
static void
p_seal_check(pg_params *p, int i, const pg_backend *b)
{
    if (b->seal_row.present)
        p_bytes(p, i, b->seal_row.check, sizeof(b->seal_row.check));
    else
        p_null(p, i);
}

/* ---- load -------------------------------------------------------------- */

/* One row of the load statement into the session. */
static int
load_row(mts_session *s, const mts__sql_ctx *cx, const PGresult *res, int r,
         int *found, mts_error *err)
{
    mts__sqlv c[14], v[10];
    mts__sqlv t = col(res, r, 0);
    for (int i = 0; i < 14; i++)
        c[i] = col(res, r, i);
    if (t.type != MTS__SQL_INT)
        return mts__err(err, MTS_ECORRUPT, "load: bad row tag");
    switch (t.i) {
    case 0: /* home_dc, test_mode, api_id, user_id, user_is_bot, pts, qts,
               date, seq | token */
        if (*found)
            return mts__err(err, MTS_ECORRUPT,
                            "table sessions: account repeated");
        *found = 1;
        v[MTS__SQL_SESSION_COL_HOME_DC] = c[1];
        v[MTS__SQL_SESSION_COL_TEST_MODE] = c[2];
        v[MTS__SQL_SESSION_COL_API_ID] = c[3];
        v[MTS__SQL_SESSION_COL_USER_ID] = c[4];
        v[MTS__SQL_SESSION_COL_USER_IS_BOT] = c[5];
        v[MTS__SQL_SESSION_COL_FUTURE_TOKEN] = c[12];
        v[MTS__SQL_SESSION_COL_PTS] = c[6];
        v[MTS__SQL_SESSION_COL_QTS] = c[7];
        v[MTS__SQL_SESSION_COL_DATE] = c[8];
        v[MTS__SQL_SESSION_COL_SEQ] = c[9];
        return mts__sql_session_from_row(s, cx, v, MTS__SQL_SESSION_NCOLS,
                                         err);
    case 1: /* dc_id, flags, family, port, server_salt, time_offset | ip |
               auth_key */
        v[MTS__SQL_DC_COL_DC_ID] = c[1];
        v[MTS__SQL_DC_COL_FLAGS] = c[2];
        v[MTS__SQL_DC_COL_FAMILY] = c[3];
        v[MTS__SQL_DC_COL_IP] = c[10];
        v[MTS__SQL_DC_COL_PORT] = c[4];
        v[MTS__SQL_DC_COL_AUTH_KEY] = c[12];
        v[MTS__SQL_DC_COL_SERVER_SALT] = cx->seal != NULL ? c[13] : c[5];
        v[MTS__SQL_DC_COL_TIME_OFFSET] = c[6];
        return mts__sql_dc_from_row(s, cx, v, MTS__SQL_DC_NCOLS, err);
    case 2:
        v[MTS__SQL_CHANNEL_COL_ID] = c[1];
        v[MTS__SQL_CHANNEL_COL_PTS] = c[2];
        return mts__sql_channel_from_row(s, v, MTS__SQL_CHANNEL_NCOLS, err);
    case 3: /* kind, id, access_hash, channel_kind, community, bot |
               username, phone */
        v[MTS__SQL_PEER_COL_KIND] = c[1];
        v[MTS__SQL_PEER_COL_ID] = c[2];
        v[MTS__SQL_PEER_COL_ACCESS_HASH] = c[3];
        v[MTS__SQL_PEER_COL_CHANNEL_KIND] = c[4];
        v[MTS__SQL_PEER_COL_COMMUNITY] = c[5];
        v[MTS__SQL_PEER_COL_BOT] = c[6];
        v[MTS__SQL_PEER_COL_USERNAME] = c[10];
        v[MTS__SQL_PEER_COL_PHONE] = c[11];
        return mts__sql_peer_from_row(s, v, MTS__SQL_PEER_NCOLS, err);
    case 4:
        v[MTS__SQL_MIN_PEER_COL_USER_ID] = c[1];
        v[MTS__SQL_MIN_PEER_COL_PEER_ID] = c[2];
        v[MTS__SQL_MIN_PEER_COL_MSG_ID] = c[3];
        return mts__sql_min_peer_from_row(s, v, MTS__SQL_MIN_PEER_NCOLS, err);
    default:
        return mts__err(err, MTS_ECORRUPT, "load: bad row tag");
    }
}

/* Wipe the key and token bytes in a result before it is freed (libpq's
 * own input buffer is out of our reach). */
static void
wipe_result(PGresult *res)
{
    for (int r = 0, n = PQntuples(res); r < n; r++)
        for (int c = 12; c < 14 && c < PQnfields(res); c++)
            if (!PQgetisnull(res, r, c))
                mts__wipe(PQgetvalue(res, r, c),
                          (size_t)PQgetlength(res, r, c));
}

/* The seal row (tag 6) of a load result, absent when there is none. */
static int
load_seal_row(mts__sql_seal_row *row, const pg_backend *b,
              const PGresult *res, mts_error *err)
{
    for (int r = 0, n = PQntuples(res); r < n; r++) {
        mts__sqlv t = col(res, r, 0), c[MTS__SQL_SEAL_NCOLS];
        if (t.type != MTS__SQL_INT || t.i != 6)
            continue;
        c[MTS__SQL_SEAL_COL_KDF] = col(res, r, 1);
        c[MTS__SQL_SEAL_COL_OPSLIMIT] = col(res, r, 2);
        c[MTS__SQL_SEAL_COL_MEMLIMIT] = col(res, r, 3);
        c[MTS__SQL_SEAL_COL_SALT] = col(res, r, 12);
        c[MTS__SQL_SEAL_COL_CHECK] = col(res, r, 13);
        return mts__sql_seal_row_from(row, b->account, c, MTS__SQL_SEAL_NCOLS,
                                      err);
    }
    return mts__sql_seal_row_from(row, b->account, NULL, 0, err);
}

/*
 * The rows of a load result into a new session (*out), the secret
 * columns opened with `seal` (NULL: in clear); with `rev` also the
 * revision (tag 5). out NULL: only whether a session is stored.
 */
static int
load_parse(mts_session **out, uint64_t *rev, const pg_backend *b,
           const mts__sql_seal *seal, const PGresult *res, mts_error *err)
{
    mts_session *s = NULL;
    mts__sql_ctx cx;
    int rc = 0, found = 0, found_rev = 0;
    memset(&cx, 0, sizeof(cx));
    cx.name = b->account;
    cx.seal = seal;
    if (mts_session_new(&s, MTS_NEW_EMPTY) != 0)
        return mts__err_oom(err);
    for (int r = 0, n = PQntuples(res); rc == 0 && r < n; r++) {
        mts__sqlv t = col(res, r, 0), v = col(res, r, 1);
        if (t.type == MTS__SQL_INT && t.i == 6)
            continue; /* the seal row: read by load_seal_row */
        if (rev != NULL && t.type == MTS__SQL_INT && t.i == 5) {
            if (v.type != MTS__SQL_INT || found_rev)
                rc = mts__err(err, MTS_ECORRUPT, "table sessions: bad rev");
            *rev = v.type == MTS__SQL_INT ? (uint64_t)v.i : 0;
            found_rev = 1;
            continue;
        }
        if (out != NULL)
            rc = load_row(s, &cx, res, r, &found, err);
        else if (t.type == MTS__SQL_INT && t.i == 0)
            found = 1;
    }
    if (rc == 0 && !found)
        rc = MTS_ENOTFOUND;
    if (rc == MTS_ECORRUPT)
        mts__err_prefix(err, "%s", b->display);
    if (rc != 0) {
        mts_session_free(s);
        if (rev != NULL)
            *rev = 0;
        return rc;
    }
    if (out != NULL)
        *out = s;
    else
        mts_session_free(s);
    return 0;
}

/*
 * Load in one statement (one snapshot); with `rev` also the revision (a
 * row of tag 5). out NULL: the revision alone, which a locked handle may
 * read too. The seal row comes with the values: when it is not the one
 * the handle knows, the handle adopts it first (seal_sync).
 */
static int
load_common(mts_session **out, uint64_t *rev, pg_backend *b, mts_error *err)
{
    pg_call call;
    pg_params p;
    PGresult *res;
    mts__sql_seal_row row;
    int rc;
    memset(&call, 0, sizeof(call));
    params_init(&p, 1);
    p_text(&p, 0, b->account);
    rc = run(&res, b, &call, rev != NULL ? S_LOAD_REV : S_LOAD, &p, err);
    params_free(&p);
    if (rc != 0)
        return rc;
    if (PQnfields(res) != 14) {
        PQclear(res);
        return mts__err(err, MTS_EBACKEND, "%s: load: unexpected result",
                        b->display);
    }
    rc = load_seal_row(&row, b, res, err);
    if (rc == MTS_ECORRUPT || rc == MTS_EVERSION)
        mts__err_prefix(err, "%s", b->display);
    if (rc == 0)
        rc = seal_sync(b, &row, err);
    if (rc == 0 && out != NULL)
        rc = locked_err(b, "load", err);
    if (rc == 0)
        rc = load_parse(out, rev, b, b->sealed ? &b->seal : NULL, res, err);
    else if (rev != NULL)
        *rev = 0;
    wipe_result(res);
    PQclear(res);
    return rc;
}

static int
pg_load(mts_session **out, mts_backend *be, mts_error *err)
{
    return load_common(out, NULL, (pg_backend *)be, err);
}

static int
pg_load_rev(mts_session **out, uint64_t *rev, mts_backend *be,
            mts_error *err)
{
    return load_common(out, rev, (pg_backend *)be, err);
}

/* ---- save -------------------------------------------------------------- */

/* Sealed values of a save or DC update, taken from the sql_schema
 * emitters (which seal them for their row and column). */
typedef struct pg_sealed {
    pg_params *p; /* save: the DC arrays are filled here */
    uint8_t *token;
    size_t token_len;
    int has_token;
    uint8_t key[MTS_AUTH_KEY_SIZE + MTS__SQL_SEAL_OVERHEAD];
    uint8_t salt[8 + MTS__SQL_SEAL_OVERHEAD];
    int has_key, has_salt;
} pg_sealed;

static int
sealed_emit(mts__sql_stmt stmt, const mts__sqlv *v, size_t n, void *payload)
{
    pg_sealed *c = payload;
    if (stmt == MTS__SQL_SESSION_PUT && n == 12) {
        if (v[6].type == MTS__SQL_BLOB) {
            c->token = mts_malloc(v[6].n > 0 ? v[6].n : 1);
            if (c->token == NULL)
                return MTS_ENOMEM;
            memcpy(c->token, v[6].p, v[6].n);
            c->token_len = v[6].n;
            c->has_token = 1;
        }
    } else if (stmt == MTS__SQL_DC_PUT && n == 9) {
        if (v[7].type != MTS__SQL_BLOB || v[7].n != sizeof(c->salt) ||
            (v[6].type == MTS__SQL_BLOB && v[6].n != sizeof(c->key)))
            return MTS_EINVAL;
        if (c->p != NULL) {
            arr_i32(c->p, 13, v[1].i);
            arr_i32(c->p, 14, v[2].i);
            arr_i16(c->p, 15, v[3].i);
            arr_elem(c->p, 16, v[4].p, v[4].n);
            arr_i32(c->p, 17, v[5].i);
            arr_elem(c->p, 18, v[6].type == MTS__SQL_BLOB ? v[6].p : NULL,
                     v[6].n);
            arr_i64(c->p, 19, 0);
            arr_i32(c->p, 20, v[8].i);
            arr_elem(c->p, 34, v[7].p, v[7].n);
        } else {
            c->has_key = v[6].type == MTS__SQL_BLOB;
            if (c->has_key)
                memcpy(c->key, v[6].p, sizeof(c->key));
            memcpy(c->salt, v[7].p, sizeof(c->salt));
            c->has_salt = 1;
        }
    }
    return 0;
}

static void
sealed_free(pg_sealed *c)
{
    if (c->token != NULL) {
        mts__wipe(c->token, c->token_len);
        mts_free(c->token);
    }
    mts__wipe(c, sizeof(*c));
}

/*
 * The parameters of a save (nparams 37) or save_if (38; the caller sets
 * the last), with `rev` as the new revision, the secret columns sealed
 * with `seal` (NULL: in clear) and `row`'s check value for the seal gate
 * ($37). On error p and *sc are freed already.
 */
static int
save_params(pg_params *p, pg_sealed *sc_out, pg_backend *b,
            const mts__sql_seal *seal, const mts__sql_seal_row *row,
            const mts_session *s, int nparams, int64_t rev, mts_error *err)
{
    mts_update_state us;
    int32_t api_id;
    int64_t user_id;
    int is_bot = 0, rc;
    const uint8_t *token;
    size_t token_len, n;
    pg_sealed sc;
    mts__sql_ctx cx;

    memset(&sc, 0, sizeof(sc));
    params_init(p, nparams);
    p_fence(p, b);
    p_i64(p, 35, rev);
    if (row->present)
        p_bytes(p, 36, row->check, sizeof(row->check));
    else
        p_null(p, 36);
    mts_session_update_state(s, &us);
    p_i32(p, 3, mts_session_home_dc(s));
    p_bool(p, 4, mts_session_test_mode(s));
    if (mts_session_api_id(s, &api_id) == 0)
        p_i32(p, 5, api_id);
    else
        p_null(p, 5);
    if (mts_session_user(s, &user_id, &is_bot) == 0) {
        p_i64(p, 6, user_id);
        p_bool(p, 7, is_bot);
    } else {
        p_null(p, 6);
        p_bool(p, 7, 0);
    }
    if (seal != NULL) {
        memset(&cx, 0, sizeof(cx));
        cx.name = b->account;
        cx.seal = seal;
        sc.p = p;
        n = mts_session_dc_count(s);
        for (int i = 13; i <= 20; i++)
            arr_begin(p, i,
                      i == 15   ? OID_INT2
                      : i == 16 ? OID_TEXT
                      : i == 18 ? OID_BYTEA
                      : i == 19 ? OID_INT8
                                : OID_INT4,
                      n);
        arr_begin(p, 34, OID_BYTEA, n);
        rc = mts__sql_emit_save(&cx, s, MTS__SQL_EMIT_SECRETS, sealed_emit,
                                &sc);
        if (rc != 0) {
            params_free(p);
            sealed_free(&sc);
            return mts__err(err, rc, "%s: save: cannot seal the session",
                            b->display);
        }
        if (sc.has_token)
            p_bytes(p, 8, sc.token, sc.token_len);
        else
            p_null(p, 8);
    } else if (mts_session_future_auth_token(s, &token, &token_len) == 0)
        p_bytes(p, 8, token, token_len);
    else
        p_null(p, 8);
    p_i32(p, 9, us.pts);
    p_i32(p, 10, us.qts);
    p_i32(p, 11, us.date);
    p_i32(p, 12, us.seq);

    /* sealed: the DC arrays were filled by the emitter above */
    n = seal != NULL ? 0 : mts_session_dc_count(s);
    if (seal == NULL) {
        arr_begin(p, 34, OID_BYTEA, n);
        arr_begin(p, 13, OID_INT4, n);
        arr_begin(p, 14, OID_INT4, n);
        arr_begin(p, 15, OID_INT2, n);
        arr_begin(p, 16, OID_TEXT, n);
        arr_begin(p, 17, OID_INT4, n);
        arr_begin(p, 18, OID_BYTEA, n);
        arr_begin(p, 19, OID_INT8, n);
        arr_begin(p, 20, OID_INT4, n);
        for (size_t i = 0; i < n; i++) {
            mts_dc dc;
            char ip[MTS__SQL_IP_TEXT_SIZE];
            if (mts_session_dc_at(&dc, s, i) != 0 ||
                mts_ip_format(ip, sizeof(ip), &dc.ip) != 0) {
                params_free(p);
                return mts__err(err, MTS_EINVAL, "%s: save: bad DC entry %zu",
                                b->display, i);
            }
            arr_i32(p, 13, dc.dc_id);
            arr_i32(p, 14, dc.flags);
            arr_i16(p, 15, dc.ip.family);
            arr_text(p, 16, ip);
            arr_i32(p, 17, dc.port);
            arr_elem(p, 18, dc.auth_key, MTS_AUTH_KEY_SIZE);
            arr_i64(p, 19, dc.server_salt);
            arr_i32(p, 20, dc.time_offset);
            arr_elem(p, 34, NULL, 0);
        }
    }

    n = mts_session_channel_count(s);
    arr_begin(p, 21, OID_INT8, n);
    arr_begin(p, 22, OID_INT4, n);
    for (size_t i = 0; i < n; i++) {
        mts_channel_pts c;
        if (mts_session_channel_at(&c, s, i) != 0)
            break;
        arr_i64(p, 21, c.channel_id);
        arr_i32(p, 22, c.pts);
    }

    n = mts_session_peer_count(s);
    arr_begin(p, 23, OID_INT2, n);
    arr_begin(p, 24, OID_INT8, n);
    arr_begin(p, 25, OID_INT8, n);
    arr_begin(p, 26, OID_INT2, n);
    arr_begin(p, 27, OID_BOOL, n);
    arr_begin(p, 28, OID_BOOL, n);
    arr_begin(p, 29, OID_TEXT, n);
    arr_begin(p, 30, OID_TEXT, n);
    for (size_t i = 0; i < n; i++) {
        mts_peer peer;
        if (mts_session_peer_at(&peer, s, i) != 0)
            break;
        arr_i16(p, 23, peer.kind);
        arr_i64(p, 24, peer.id);
        arr_i64(p, 25, peer.access_hash);
        arr_i16(p, 26, peer.channel_kind);
        arr_bool(p, 27, peer.community);
        arr_bool(p, 28, peer.bot);
        arr_text(p, 29, peer.username);
        arr_text(p, 30, peer.phone);
    }

    n = mts_session_min_peer_count(s);
    arr_begin(p, 31, OID_INT8, n);
    arr_begin(p, 32, OID_INT8, n);
    arr_begin(p, 33, OID_INT4, n);
    for (size_t i = 0; i < n; i++) {
        mts_min_peer mp;
        if (mts_session_min_peer_at(&mp, s, i) != 0)
            break;
        arr_i64(p, 31, mp.user_id);
        arr_i64(p, 32, mp.peer_id);
        arr_i32(p, 33, mp.msg_id);
    }
    *sc_out = sc;
    return 0;
}

/*
 * After a write the seal gate refused (PG_SEAL_MOVED): adopt the seal
 * stored now, so the caller can build the write again, once. A second
 * refusal means the seal keeps changing: MTS_ELOCKED, try again.
 */
static int
seal_moved(pg_backend *b, int attempt, const char *what, mts_error *err)
{
    int rc;
    if (attempt > 0)
        return mts__err(err, MTS_ELOCKED,
                        "%s: %s: the account's seal changed twice during "
                        "the call; nothing written; try again",
                        b->display, what);
    if ((rc = seal_refresh(b, err)) != 0)
        return rc;
    return locked_err(b, what, err);
}

static int
pg_save(mts_backend *be, const mts_session *s, mts_error *err)
{
    pg_backend *b = (pg_backend *)be;
    pg_params p;
    pg_sealed sc;
    int rc = check_unlocked(b, "save", err);
    for (int attempt = 0; rc == 0; attempt++) {
        rc = save_params(&p, &sc, b, b->sealed ? &b->seal : NULL,
                         &b->seal_row, s, 37, mts__sql_new_rev(), err);
        if (rc != 0)
            return rc;
        rc = run_write(b, W_SAVE, &p, err);
        params_free(&p);
        sealed_free(&sc);
        if (rc != PG_SEAL_MOVED)
            break;
        rc = seal_moved(b, attempt, "save", err);
    }
    return rc;
}

static int save_if_once(pg_backend *b, const mts_session *s,
                        uint64_t expected, int64_t rev, uint64_t *new_rev,
                        mts_error *err);

/*
 * save_if: BEGIN, the lease row locked, the gated save, COMMIT (one
 * round trip), for holders too, so that conditional saves of one account
 * are ordered and each sees what the one before committed. The result's
 * four columns: the fence's count (0: refused by the lease), whether the
 * save was written, the revision it found, the seal gate's count (0: the
 * account's seal is not the handle's any more; adopted, and sent again).
 * After a lost connection the second attempt finds its own revision when
 * the first one committed: that is success, not a conflict.
 */
static int
pg_save_if(mts_backend *be, const mts_session *s, uint64_t expected,
           uint64_t *new_rev, mts_error *err)
{
    pg_backend *b = (pg_backend *)be;
    int64_t rev = mts__sql_new_rev();
    int rc = check_unlocked(b, "save_if", err);
    for (int attempt = 0; rc == 0; attempt++) {
        rc = save_if_once(b, s, expected, rev, new_rev, err);
        if (rc != PG_SEAL_MOVED)
            break;
        rc = seal_moved(b, attempt, "save_if", err);
    }
    return rc;
}

/* One attempt of save_if (PG_SEAL_MOVED: the seal gate refused it). */
static int
save_if_once(pg_backend *b, const mts_session *s, uint64_t expected,
             int64_t rev, uint64_t *new_rev, mts_error *err)
{
    int id = S_WRITE(W_SAVE_IF, b->leased);
    mts__sqlv fence, wrote, found, gate;
    pg_params p;
    pg_sealed sc;
    pg_call call;
    PGresult *res;
    int rc = save_params(&p, &sc, b, b->sealed ? &b->seal : NULL,
                         &b->seal_row, s, 38, rev, err);
    if (rc != 0)
        return rc;
    p_i64(&p, 37, (int64_t)expected);
    memset(&call, 0, sizeof(call));
    rc = arr_finish(b, &p, err);
    if (rc == 0)
        rc = run_as(&res, b, &call, id, &p, 1, err);
    params_free(&p);
    sealed_free(&sc);
    if (rc != 0) {
        if (call.uncertain && err != NULL)
            mts__err_prefix(err, "outcome unknown (connection lost after "
                                 "sending)");
        return call.uncertain ? MTS_EIO : rc;
    }
    if (PQntuples(res) != 1 || PQnfields(res) != 4) {
        PQclear(res);
        return mts__err(err, MTS_EBACKEND, "%s: save_if: unexpected result",
                        b->display);
    }
    fence = col(res, 0, 0);
    wrote = col(res, 0, 1);
    found = col(res, 0, 2);
    gate = col(res, 0, 3);
    PQclear(res);
    if (fence.type != MTS__SQL_INT || wrote.type != MTS__SQL_INT ||
        found.type != MTS__SQL_INT || gate.type != MTS__SQL_INT)
        return mts__err(err, MTS_EBACKEND, "%s: save_if: unexpected result",
                        b->display);
    if (fence.i == 0)
        return refused(b, &call, "save_if", err);
    if (wrote.i == 1 || (call.uncertain && found.i == rev)) {
        *new_rev = (uint64_t)rev;
        return 0;
    }
    if (gate.i == 0) {
        if (call.uncertain)
            return mts__err(err, MTS_EIO,
                            "%s: save_if: outcome unknown: the connection "
                            "was lost after sending (%s), and the account's "
                            "seal changed meanwhile",
                            b->display, call.lost);
        return PG_SEAL_MOVED;
    }
    return mts__err(err, MTS_ECONFLICT,
                    "%s: save_if: the stored revision is %llu, not the "
                    "expected %llu: nothing written",
                    b->display, (unsigned long long)(uint64_t)found.i,
                    (unsigned long long)expected);
}

/* ---- delete and granular changes --------------------------------------- */

static int
pg_del(mts_backend *be, mts_error *err)
{
    pg_backend *b = (pg_backend *)be;
    pg_params p;
    int rc;
    params_init(&p, 3);
    p_fence(&p, b);
    rc = run_write(b, W_DELETE, &p, err);
    params_free(&p);
    return rc;
}

static int
pg_apply(mts_backend *be, const mts_update_change *c, mts_error *err)
{
    pg_backend *b = (pg_backend *)be;
    pg_params p;
    int rc, w;
    if ((rc = check_unlocked(b, "apply update state", err)) != 0)
        return rc;
    switch (c->kind) {
    case MTS_UPDATE_PRIMARY:
        w = W_PRIMARY;
        params_init(&p, 7);
        p_i64(&p, 6, mts__sql_new_rev());
        p_i32(&p, 3, c->state.pts);
        p_i32(&p, 4, c->state.date);
        p_i32(&p, 5, c->state.seq);
        break;
    case MTS_UPDATE_SECONDARY:
        w = W_SECONDARY;
        params_init(&p, 5);
        p_i64(&p, 4, mts__sql_new_rev());
        p_i32(&p, 3, c->state.qts);
        break;
    case MTS_UPDATE_CHANNEL:
        w = W_CHANNEL;
        params_init(&p, 6);
        p_i64(&p, 5, mts__sql_new_rev());
        p_i64(&p, 3, c->channel_id);
        p_i32(&p, 4, c->channel_pts);
        break;
    case MTS_UPDATE_ALL:
        w = W_STATE;
        params_init(&p, 10);
        p_i64(&p, 9, mts__sql_new_rev());
        p_i32(&p, 3, c->state.pts);
        p_i32(&p, 4, c->state.qts);
        p_i32(&p, 5, c->state.date);
        p_i32(&p, 6, c->state.seq);
        arr_begin(&p, 7, OID_INT8, c->channel_count);
        arr_begin(&p, 8, OID_INT4, c->channel_count);
        for (size_t i = 0; i < c->channel_count; i++) {
            arr_i64(&p, 7, c->channels[i].channel_id);
            arr_i32(&p, 8, c->channels[i].pts);
        }
        break;
    default: /* validated by the core: unreachable */
        return mts__err(err, MTS_EINVAL, "update kind %d", (int)c->kind);
    }
    p_fence(&p, b);
    rc = run_write(b, w, &p, err);
    params_free(&p);
    return rc;
}

static int update_dc_once(pg_backend *b, const mts_dc *dc, const char *ip,
                          mts_error *err);

static int
pg_update_dc(mts_backend *be, const mts_dc *dc, mts_error *err)
{
    pg_backend *b = (pg_backend *)be;
    char ip[MTS__SQL_IP_TEXT_SIZE];
    int rc;
    if (mts_ip_format(ip, sizeof(ip), &dc->ip) != 0)
        return mts__err(err, MTS_EINVAL, "dc.ip: not an address");
    if ((rc = check_unlocked(b, "update DC", err)) != 0)
        return rc;
    for (int attempt = 0;; attempt++) {
        rc = update_dc_once(b, dc, ip, err);
        if (rc != PG_SEAL_MOVED)
            return rc;
        if ((rc = seal_moved(b, attempt, "update DC", err)) != 0)
            return rc;
    }
}

/* One attempt of update_dc (PG_SEAL_MOVED: the seal gate refused it). */
static int
update_dc_once(pg_backend *b, const mts_dc *dc, const char *ip,
               mts_error *err)
{
    pg_params p;
    pg_sealed sc;
    int rc;
    memset(&sc, 0, sizeof(sc));
    params_init(&p, 14);
    p_fence(&p, b);
    p_seal_check(&p, 13, b);
    p_i64(&p, 12, mts__sql_new_rev());
    p_i32(&p, 3, dc->dc_id);
    p_i32(&p, 4, dc->flags);
    p_i16(&p, 5, dc->ip.family);
    p_text(&p, 6, ip);
    p_i32(&p, 7, dc->port);
    if (b->sealed) {
        mts__sql_ctx cx;
        memset(&cx, 0, sizeof(cx));
        cx.name = b->account;
        cx.seal = &b->seal;
        rc = mts__sql_emit_dc(&cx, dc, sealed_emit, &sc);
        if (rc != 0 || !sc.has_salt) {
            params_free(&p);
            sealed_free(&sc);
            return mts__err(err, rc != 0 ? rc : MTS_EINVAL,
                            "%s: update DC: cannot seal", b->display);
        }
        p_bytes(&p, 8, sc.has_key ? sc.key : NULL, sizeof(sc.key));
        p_i64(&p, 9, 0);
        p_bytes(&p, 11, sc.salt, sizeof(sc.salt));
    } else {
        p_bytes(&p, 8, dc->auth_key, MTS_AUTH_KEY_SIZE);
        p_i64(&p, 9, dc->server_salt);
        p_null(&p, 11);
    }
    p_i32(&p, 10, dc->time_offset);
    rc = run_write(b, W_DC, &p, err);
    params_free(&p);
    sealed_free(&sc);
    return rc;
}

static int
pg_set_home(mts_backend *be, int32_t dc_id, mts_error *err)
{
    pg_backend *b = (pg_backend *)be;
    pg_params p;
    int rc;
    if ((rc = check_unlocked(b, "set home DC", err)) != 0)
        return rc;
    params_init(&p, 5);
    p_fence(&p, b);
    p_i32(&p, 3, dc_id);
    p_i64(&p, 4, mts__sql_new_rev());
    rc = run_write(b, W_HOME, &p, err);
    params_free(&p);
    return rc;
}

static int
pg_cache_peer(mts_backend *be, const mts_peer *peer, mts_error *err)
{
    pg_backend *b = (pg_backend *)be;
    pg_params p;
    int rc;
    if ((rc = check_unlocked(b, "cache peer", err)) != 0)
        return rc;
    params_init(&p, 12);
    p_fence(&p, b);
    p_i64(&p, 11, mts__sql_new_rev());
    p_i16(&p, 3, peer->kind);
    p_i64(&p, 4, peer->id);
    p_i64(&p, 5, peer->access_hash);
    p_i16(&p, 6, peer->channel_kind);
    p_bool(&p, 7, peer->community);
    p_bool(&p, 8, peer->bot);
    p_text(&p, 9, peer->username);
    p_text(&p, 10, peer->phone);
    rc = run_write(b, W_PEER, &p, err);
    params_free(&p);
    return rc;
}

/* ---- leases ------------------------------------------------------------ */

static int
lease_acquire(pg_backend *b, const char *owner, uint32_t ttl_ms,
              mts_lease *info, mts_error *err)
{
    pg_call call;
    pg_params p;
    PGresult *res;
    mts_lease got = MTS_LEASE_INIT;
    int rc;
    memset(&call, 0, sizeof(call));
    params_init(&p, 3);
    p_text(&p, 0, b->account);
    p_text(&p, 1, owner);
    p_i64(&p, 2, ttl_ms);
    rc = run(&res, b, &call, S_ACQUIRE, &p, err);
    params_free(&p);
    if (rc != 0)
        return rc;
    if (PQntuples(res) == 1 && lease_from_row(&got, res, 0) == 0) {
        PQclear(res);
        got.version = info->version;
        *info = got;
        b->leased = 1;
        snprintf(b->owner, sizeof(b->owner), "%s", owner);
        b->epoch = got.epoch;
        return 0;
    }
    PQclear(res);
    if (call.uncertain)
        return mts__err(err, MTS_EIO,
                        "%s: lease acquire: outcome unknown: the connection "
                        "was lost after sending (%s)",
                        b->display, call.lost);
    if (read_lease(&got, b, &call, NULL) != 0)
        return mts__err(err, MTS_ELOCKED, "%s: session held by another owner",
                        b->display);
    return mts__lease_held(err, b->display, NULL, got.owner, got.expires_ms);
}

static int
lease_renew(pg_backend *b, uint32_t ttl_ms, mts_lease *info, mts_error *err)
{
    pg_call call;
    pg_params p;
    PGresult *res;
    mts_lease got = MTS_LEASE_INIT;
    int rc;
    memset(&call, 0, sizeof(call));
    params_init(&p, 4);
    p_text(&p, 0, b->account);
    p_text(&p, 1, b->owner);
    p_i64(&p, 2, (int64_t)b->epoch);
    p_i64(&p, 3, ttl_ms);
    rc = run(&res, b, &call, S_RENEW, &p, err);
    params_free(&p);
    if (rc != 0)
        return rc;
    if (PQntuples(res) == 1 && lease_from_row(&got, res, 0) == 0) {
        PQclear(res);
        got.version = info->version;
        *info = got;
        return 0;
    }
    PQclear(res);
    return refused(b, &call, "lease renew", err);
}

static int
lease_release(pg_backend *b, mts_error *err)
{
    pg_call call;
    pg_params p;
    PGresult *res;
    int rc, n;
    memset(&call, 0, sizeof(call));
    params_init(&p, 3);
    p_text(&p, 0, b->account);
    p_text(&p, 1, b->owner);
    p_i64(&p, 2, (int64_t)b->epoch);
    rc = run(&res, b, &call, S_RELEASE, &p, err);
    params_free(&p);
    if (rc != 0)
        return rc;
    n = PQntuples(res);
    PQclear(res);
    if (n == 1) {
        b->leased = 0;
        return 0;
    }
    /* lost already: the handle stays fenced off until it acquires again */
    return refused(b, &call, "lease release", err);
}

static int
pg_lease(mts_backend *be, int op, const char *owner, uint32_t ttl_ms,
         mts_lease *info, mts_error *err)
{
    pg_backend *b = (pg_backend *)be;
    switch (op) {
    case MTS_LEASE_ACQUIRE:
        return lease_acquire(b, owner, ttl_ms, info, err);
    case MTS_LEASE_RENEW:
    case MTS_LEASE_RELEASE:
        if (!b->leased)
            return mts__err(err, MTS_EINVAL, "%s: this handle holds no lease",
                            b->display);
        return op == MTS_LEASE_RENEW ? lease_renew(b, ttl_ms, info, err)
                                     : lease_release(b, err);
    case MTS_LEASE_SHOW: {
        pg_call call;
        mts_lease got = MTS_LEASE_INIT;
        int rc;
        memset(&call, 0, sizeof(call));
        rc = read_lease(&got, b, &call, err);
        if (rc == MTS_ENOTFOUND)
            return mts__err(err, MTS_ENOTFOUND, "%s: never leased",
                            b->display);
        if (rc == 0) {
            got.version = info->version;
            *info = got;
        }
        return rc;
    }
    default:
        return mts__err(err, MTS_EINVAL, "lease: unknown operation %d", op);
    }
}

/* ---- open -------------------------------------------------------------- */

static const char *
pg_name(mts_backend *be)
{
    return ((pg_backend *)be)->display;
}

static void
pg_free(mts_backend *be)
{
    pg_backend *b = (pg_backend *)be;
    if (b->conn != NULL)
        PQfinish(b->conn);
    mts_free(b->account);
    mts_free(b->display);
    mts__wipe(&b->seal, sizeof(b->seal));
    mts_free(b);
}

/* Run one SQL text without parameters (schema work). */
static int
exec_simple(pg_backend *b, const char *sql, const char *what, mts_error *err)
{
    PGresult *res = PQexec(b->conn, sql);
    int rc = 0;
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        if (conn_lost(b->conn, res)) {
            char line[200];
            first_line(line, sizeof(line), PQerrorMessage(b->conn));
            rc = mts__err(err, MTS_EIO, "%s: %s: connection lost: %s",
                          b->display, what, line);
        } else {
            rc = server_error(b, res, what, err);
        }
    }
    PQclear(res);
    return rc;
}

/* No schema (read_version). */
#define PG_NO_SCHEMA (-1000000LL)
/* A version table without rows (read_version). */
#define PG_EMPTY_VERSION (-1000001LL)

/*
 * The schema version recorded in the database, PG_NO_SCHEMA or
 * PG_EMPTY_VERSION. pg_class is read with the statement's snapshot (not a
 * cached catalog lookup such as to_regclass), so a schema another process
 * committed while this one waited for the advisory lock is seen.
 */
static int
read_version(long long *out, pg_backend *b, mts_error *err)
{
    PGresult *res = PQexec(b->conn,
                           "SELECT count(*) FROM pg_catalog.pg_class c JOIN "
                           "pg_catalog.pg_namespace n ON n.oid = "
                           "c.relnamespace WHERE n.nspname = 'mtsession' "
                           "AND c.relname = 'schema_version'");
    int rc = 0;
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = conn_lost(b->conn, res)
                 ? mts__err(err, MTS_EIO, "%s: connection lost", b->display)
                 : server_error(b, res, "read schema version", err);
        PQclear(res);
        return rc;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "0") == 0) {
        PQclear(res);
        *out = PG_NO_SCHEMA;
        return 0;
    }
    PQclear(res);
    res = PQexec(b->conn, "SELECT max(version) FROM mtsession.schema_version");
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = server_error(b, res, "read schema version", err);
        PQclear(res);
        return rc;
    }
    *out = PQgetisnull(res, 0, 0) ? PG_EMPTY_VERSION
                                  : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

static int
check_version(pg_backend *b, long long v, int *create, mts_error *err)
{
    *create = 0;
    if (v == PG_SCHEMA_VERSION)
        return 0;
    if (v == PG_NO_SCHEMA) {
        *create = 1;
        return 0;
    }
    if (v == PG_EMPTY_VERSION)
        return mts__err(err, MTS_EFORMAT,
                        "%s: mtsession.schema_version is empty: not a schema "
                        "this library wrote; left untouched",
                        b->display);
    if (v > PG_SCHEMA_VERSION)
        return mts__err(err, MTS_EVERSION,
                        "%s: schema version %lld is newer than this "
                        "library's (%d); open it with a newer mtsession",
                        b->display, v, PG_SCHEMA_VERSION);
    for (long long x = v; x < PG_SCHEMA_VERSION; x++)
        if (migration_from(x) == NULL)
            return mts__err(err, MTS_EVERSION,
                            "%s: schema version %lld: no migration to "
                            "version %lld in this library",
                            b->display, x, x + 1);
    return 0;
}

/*
 * Create or migrate the schema. A plain read decides first, so opening a
 * current database takes no lock; creating or migrating runs in one
 * transaction under an advisory lock and decides again, because another
 * process may have done it meanwhile. PostgreSQL's DDL is transactional:
 * a failure leaves the old version.
 */
static int
ensure_schema(pg_backend *b, mts_error *err)
{
    long long v = PG_NO_SCHEMA;
    int create = 0, rc;
    if ((rc = read_version(&v, b, err)) != 0 ||
        (rc = check_version(b, v, &create, err)) != 0)
        return rc;
    if (v == PG_SCHEMA_VERSION)
        return 0;
    if ((rc = exec_simple(b, "BEGIN", "begin", err)) != 0)
        return rc;
    rc = exec_simple(b, "SELECT pg_advisory_xact_lock(" PG_SCHEMA_LOCK_KEY ")",
                     "lock schema", err);
    if (rc == 0)
        rc = read_version(&v, b, err);
    if (rc == 0)
        rc = check_version(b, v, &create, err);
    if (rc == 0 && create) {
        for (size_t i = 0; rc == 0 && i < MTS__ARRAY_LEN(schema_v1); i++)
            rc = exec_simple(b, schema_v1[i], "create schema", err);
        v = 1; /* then the migrations up to the current version */
    }
    if (rc == 0) {
        for (long long x = v; rc == 0 && x < PG_SCHEMA_VERSION; x++) {
            const pg_migration *m = migration_from(x);
            for (size_t i = 0; rc == 0 && m != NULL && i < m->count; i++)
                rc = exec_simple(b, m->stmts[i], "migrate schema", err);
        }
    }
    if (rc == 0)
        rc = exec_simple(b, "COMMIT", "commit schema", err);
    if (rc != 0 && PQstatus(b->conn) == CONNECTION_OK &&
        PQtransactionStatus(b->conn) != PQTRANS_IDLE)
        PQclear(PQexec(b->conn, "ROLLBACK"));
    return rc;
}

/* Append k='v' (quoted as libpq's conninfo syntax wants) to buf. */
static void
display_opt(mts__buf *d, const char *k, const char *v)
{
    int plain = v[0] != '\0';
    for (const char *c = v; *c; c++)
        if (*c == ' ' || *c == '\'' || *c == '\\' || *c == '\t' || *c == '\n')
            plain = 0;
    mts__buf_printf(d, "%s%s=", d->len > strlen("postgres:") ? " " : "", k);
    if (plain) {
        mts__buf_str(d, v);
        return;
    }
    mts__buf_u8(d, '\'');
    for (const char *c = v; *c; c++) {
        if (*c == '\'' || *c == '\\')
            mts__buf_u8(d, '\\');
        mts__buf_u8(d, (uint8_t)*c);
    }
    mts__buf_u8(d, '\'');
}

/*
 * "postgres:<every option given, but passwords>#<account>". libpq parses
 * both forms (key=value and URIs) and marks secret options with a '*'
 * display character; those are never shown.
 */
static int
make_display(pg_backend *b, const char *conninfo, mts_error *err)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    mts__buf d;
    uint8_t *out;
    size_t len;
    if (opts == NULL) {
        char line[200];
        first_line(line, sizeof(line), perr ? perr : "out of memory");
        if (perr != NULL)
            PQfreemem(perr);
        return mts__err(err, perr ? MTS_EINVAL : MTS_ENOMEM,
                        "postgres: bad connection string: %s", line);
    }
    mts__buf_init(&d, 8192);
    mts__buf_str(&d, "postgres:");
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL || (o->dispchar && o->dispchar[0] == '*') ||
            strcmp(o->keyword, "password") == 0)
            continue;
        display_opt(&d, o->keyword, o->val);
    }
    PQconninfoFree(opts);
    mts__buf_printf(&d, "#%s", b->account);
    if (d.failed) {
        mts__buf_free(&d);
        return mts__err_oom(err);
    }
    if (mts__buf_finish(&d, &out, &len, err) != 0)
        return MTS_ENOMEM;
    b->display = (char *)out;
    return 0;
}

/* Run a read or write of the seal statements (text results). */
static PGresult *
seal_exec(pg_backend *b, const char *sql, int n, const char *const *vals,
          const int *lens, const int *fmts, const char *what, int *rc,
          mts_error *err)
{
    PGresult *res = PQexecParams(b->conn, sql, n, NULL, vals, lens, fmts, 1);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    *rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        *rc = server_error(b, res, what, err);
        PQclear(res);
        return NULL;
    }
    return res;
}

static int
seal_read(pg_backend *b, mts__sql_seal_row *row, mts_error *err)
{
    const char *vals[1] = { b->account };
    mts__sqlv c[MTS__SQL_SEAL_NCOLS];
    int rc;
    PGresult *res = seal_exec(
        b,
        "SELECT kdf::int8, opslimit::int8, memlimit::int8, salt, "
        "check_value FROM mtsession.seals WHERE account = $1",
        1, vals, NULL, NULL, "read seal", &rc, err);
    if (res == NULL)
        return rc;
    if (PQntuples(res) == 0) {
        rc = mts__sql_seal_row_from(row, b->account, NULL, 0, err);
    } else {
        for (int i = 0; i < MTS__SQL_SEAL_NCOLS; i++)
            c[i] = col(res, 0, i);
        rc = mts__sql_seal_row_from(row, b->account, c, MTS__SQL_SEAL_NCOLS,
                                    err);
    }
    PQclear(res);
    return rc;
}

typedef struct pg_seal_put {
    pg_backend *b;
    mts_error *err;
    int replace; /* rekey: replace a stored row (else keep it) */
} pg_seal_put;

static int
seal_put_emit(mts__sql_stmt stmt, const mts__sqlv *v, size_t n, void *payload)
{
    pg_seal_put *sp = payload;
    char num[6][24];
    const char *vals[7];
    int lens[7], fmts[7], rc;
    PGresult *res;
    if (stmt == MTS__SQL_SEAL_DEL) {
        vals[0] = sp->b->account;
        res = seal_exec(sp->b, "DELETE FROM mtsession.seals WHERE account = $1",
                        1, vals, NULL, NULL, "remove seal", &rc, sp->err);
        PQclear(res);
        return rc;
    }
    if (stmt != MTS__SQL_SEAL_PUT || n != 6)
        return 0;
    for (size_t i = 0; i < 6; i++) {
        lens[i] = 0;
        fmts[i] = 0;
        vals[i] = NULL;
        if (v[i].type == MTS__SQL_INT) {
            snprintf(num[i], sizeof(num[i]), "%lld", (long long)v[i].i);
            vals[i] = num[i];
        } else if (v[i].type == MTS__SQL_BLOB) {
            vals[i] = v[i].p != NULL ? (const char *)v[i].p : "";
            lens[i] = (int)v[i].n;
            fmts[i] = 1;
        } else if (v[i].type == MTS__SQL_TEXT) {
            vals[i] = sp->b->account;
        }
    }
    vals[6] = sp->replace ? "true" : "false";
    lens[6] = 0;
    fmts[6] = 0;
    res = seal_exec(sp->b,
                    "INSERT INTO mtsession.seals (account, kdf, opslimit, "
                    "memlimit, salt, check_value) VALUES ($1, $2::int8, "
                    "$3::int8, $4::int8, $5::bytea, $6::bytea) "
                    "ON CONFLICT (account) DO UPDATE SET kdf = excluded.kdf, "
                    "opslimit = excluded.opslimit, "
                    "memlimit = excluded.memlimit, salt = excluded.salt, "
                    "check_value = excluded.check_value WHERE $7",
                    7, vals, lens, fmts, "write seal", &rc, sp->err);
    PQclear(res);
    return rc;
}

/*
 * Open the account's seal with `secret` (MTS_EBADKEY for another one), or
 * seal a new account. Without a secret a sealed account is opened locked
 * (is_locked). An account stored in clear is not sealed at open:
 * MTS_EINVAL (mts_postgres_rekey does that).
 */
static int
setup_seal(pg_backend *b, mts_secret *secret, mts_error *err)
{
    mts__sql_seal_row row;
    int rc;
    if ((rc = seal_read(b, &row, err)) != 0)
        return rc;
    b->secret = secret;
    if (row.present && secret == NULL) {
        b->seal_row = row; /* locked */
        return 0;
    }
    if (!row.present) {
        const char *vals[1] = { b->account };
        mts__sql_ctx cx;
        pg_seal_put sp = { b, err, 0 };
        PGresult *res;
        int stored;
        if (secret == NULL)
            return 0;
        res = seal_exec(b,
                        "SELECT FROM mtsession.sessions WHERE account = $1",
                        1, vals, NULL, NULL, "read session", &rc, err);
        if (res == NULL)
            return rc;
        stored = PQntuples(res) > 0;
        PQclear(res);
        if (stored)
            return mts__err(err, MTS_EINVAL,
                            "%s: the account is stored in clear; it cannot "
                            "be opened with a secret",
                            b->display);
        if ((rc = mts__sql_seal_new(&b->seal, &row, b->account, secret,
                                    err)) != 0)
            return rc;
        memset(&cx, 0, sizeof(cx));
        cx.name = b->account;
        cx.seal = &b->seal;
        if ((rc = mts__sql_emit_seal(&cx, &row, seal_put_emit, &sp)) != 0)
            return rc;
        /* Another handle may have sealed it first: use the stored row. */
        if ((rc = seal_read(b, &row, err)) != 0)
            return rc;
    }
    rc = mts__sql_seal_open(&b->seal, &row, b->account, secret, err);
    if (rc != 0) {
        mts__wipe(&b->seal, sizeof(b->seal));
        return rc;
    }
    b->seal_row = row;
    b->sealed = 1;
    return 0;
}

int
mts_postgres_open(mts_storage **out, const char *conninfo,
                  const char *account, mts_error *err)
{
    return mts_postgres_open_ex(out, conninfo, account, NULL, err);
}

int
mts_postgres_open_ex(mts_storage **out, const char *conninfo,
                     const char *account, const mts_postgres_options *opts,
                     mts_error *err)
{
    /* Processed in order, the last value winning: connect_timeout comes
     * before the expanded conninfo, which may override it;
     * fallback_application_name applies only when conninfo sets no
     * application_name. */
    const char *keys[] = { "connect_timeout", "dbname",
                           "fallback_application_name", NULL };
    const char *vals[] = { "10", conninfo, "mtsession", NULL };
    pg_backend *b;
    char line[200];
    int rc;

    if (out == NULL || conninfo == NULL)
        return mts__err(err, MTS_EINVAL, "postgres: NULL argument");
    if (opts != NULL && opts->version != MTS_POSTGRES_OPTIONS_VERSION)
        return mts__err(err, MTS_EINVAL, "postgres: unknown options version");
    *out = NULL;
    if (account == NULL)
        account = MTS__SQL_DEFAULT_NAME;
    if ((rc = mts__sql_check_name(account, err)) != 0) {
        if (err != NULL)
            mts__err_prefix(err, "postgres: account");
        return rc;
    }
    b = mts__calloc(1, sizeof(*b));
    if (b == NULL)
        return mts__err_oom(err);
    b->account = mts__strdup(account);
    if (b->account == NULL) {
        rc = mts__err_oom(err);
        goto fail;
    }
    if ((rc = make_display(b, conninfo, err)) != 0)
        goto fail;
    b->conn = PQconnectdbParams(keys, vals, 1);
    if (b->conn == NULL) {
        rc = mts__err_oom(err);
        goto fail;
    }
    PQsetNoticeProcessor(b->conn, quiet_notices, NULL);
    if (PQstatus(b->conn) != CONNECTION_OK) {
        first_line(line, sizeof(line), PQerrorMessage(b->conn));
        rc = mts__err(err, MTS_EIO, "%s: cannot connect: %s", b->display,
                      line);
        goto fail;
    }
    if (PQserverVersion(b->conn) < PG_MIN_SERVER) {
        rc = mts__err(err, MTS_ENOTSUPPORTED,
                      "%s: PostgreSQL server %d is too old (12 or newer "
                      "needed)",
                      b->display, PQserverVersion(b->conn));
        goto fail;
    }
    if ((rc = ensure_schema(b, err)) != 0)
        goto fail;
    if ((rc = setup_seal(b, opts != NULL ? opts->secret : NULL, err)) != 0)
        goto fail;

    b->parent.version = MTS_BACKEND_VERSION;
    b->parent.save = pg_save;
    b->parent.load = pg_load;
    b->parent.del = pg_del;
    b->parent.name = pg_name;
    b->parent.apply_update_state = pg_apply;
    b->parent.update_dc = pg_update_dc;
    b->parent.set_home_dc = pg_set_home;
    b->parent.cache_peer = pg_cache_peer;
    b->parent.lease = pg_lease;
    b->parent.load_rev = pg_load_rev;
    b->parent.save_if = pg_save_if;
    b->parent.free = pg_free;
    if ((rc = mts_storage_wrap(out, &b->parent, err)) != 0)
        goto fail;
    return 0;
fail:
    pg_free(&b->parent);
    return rc;
}

/* ---- rekey ------------------------------------------------------------- */

/* A step of the rekey's transaction: 0, or its error (the connection
 * lost: MTS_EIO; *lost set). */
static int
tx_check(pg_backend *b, PGresult *res, const char *what, int *lost,
         mts_error *err)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    char line[200];
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return 0;
    if (conn_lost(b->conn, res)) {
        *lost = 1;
        first_line(line, sizeof(line),
                   res ? PQresultErrorMessage(res) : PQerrorMessage(b->conn));
        return mts__err(err, MTS_EIO, "%s: rekey: %s: connection lost: %s",
                        b->display, what, line);
    }
    return server_error(b, res, what, err);
}

/* Prepare statement `id` before the transaction (a connection found dead
 * is re-opened here, where nothing has been sent yet). */
static int
tx_prepare(pg_backend *b, pg_call *call, int id, mts_error *err)
{
    for (;;) {
        int failed = 0, rc;
        PGresult *res = prepare(b, id, &failed);
        if (!failed)
            return 0;
        if (conn_lost(b->conn, res)) {
            PQclear(res);
            if ((rc = reconnect(b, call, err)) != 0)
                return rc;
            continue;
        }
        rc = server_error(b, res, stmts[id].label, err);
        PQclear(res);
        return rc;
    }
}

static PGresult *
tx_prepared(pg_backend *b, int id, const pg_params *p)
{
    char name[32];
    stmt_name(name, sizeof(name), id);
    return PQexecPrepared(b->conn, name, p->n, p->val, p->len, p->fmt, 1);
}

/*
 * Whether the lease lets this handle write now ($1 account, $2 owner, $3
 * epoch as in p_fence): a holder's own live lease, or for a handle
 * without one nobody's live lease. Run after the lease row is locked.
 */
#define REKEY_FENCE_SQL                                                       \
    "SELECT count(*) FROM mtsession.leases WHERE account = $1 AND CASE "      \
    "WHEN $2::text IS NULL THEN owner IS NULL OR "                            \
    "expires_at <= clock_timestamp() ELSE owner = $2 AND epoch = $3 "         \
    "AND expires_at > clock_timestamp() END"

/*
 * The rekey, in one transaction of several round trips: BEGIN; the lease
 * row locked (as by an unleased write, so every other write of the
 * account waits: holders' fences lock it FOR SHARE); the fence checked;
 * the session and its seal row read in one snapshot and opened with the
 * handle's secret; the new seal row written (or removed); the secret
 * columns rewritten by a save under the new seal (a new revision);
 * COMMIT. Nothing is written before the old secret opened everything.
 */
static int
rekey_locked(pg_backend *b, mts_secret *new_secret, mts_error *err)
{
    pg_call call;
    pg_params p;
    pg_sealed sc;
    PGresult *res = NULL;
    mts__sql_seal_row cur, neu;
    mts__sql_seal old, fresh;
    mts__sql_ctx cx;
    mts_session *s = NULL;
    pg_seal_put sp = { b, err, 1 };
    int rc, lost = 0, in_tx = 0, found = 1, refused_by_lease = 0;
    int64_t n;

    memset(&call, 0, sizeof(call));
    memset(&old, 0, sizeof(old));
    memset(&fresh, 0, sizeof(fresh));
    memset(&neu, 0, sizeof(neu));
    /* the new key first: a passphrase is stretched before anything waits
     * on the transaction's lock */
    if (new_secret != NULL &&
        (rc = mts__sql_seal_new(&fresh, &neu, b->account, new_secret,
                                err)) != 0)
        return rc;
    if ((rc = ensure_conn(b, &call, err)) != 0 ||
        (rc = tx_prepare(b, &call, S_LOCK_FREE, err)) != 0 ||
        (rc = tx_prepare(b, &call, S_LOAD, err)) != 0 ||
        (rc = tx_prepare(b, &call, S_WRITE(W_SAVE, b->leased), err)) != 0)
        goto out;

    res = PQexec(b->conn, "BEGIN");
    rc = tx_check(b, res, "begin", &lost, err);
    PQclear(res);
    if (rc != 0)
        goto out;
    in_tx = 1;
    params_init(&p, 3);
    p_fence(&p, b);
    {
        pg_params one;
        params_init(&one, 1);
        p_text(&one, 0, b->account);
        res = tx_prepared(b, S_LOCK_FREE, &one);
        params_free(&one);
    }
    rc = tx_check(b, res, "lock lease row", &lost, err);
    PQclear(res);
    if (rc == 0) {
        res = PQexecParams(b->conn, REKEY_FENCE_SQL, 3, t_fence, p.val, p.len,
                           p.fmt, 1);
        rc = tx_check(b, res, "check lease", &lost, err);
        n = rc == 0 ? count_at(res, 0) : -1;
        PQclear(res);
        if (rc == 0 && n != 1)
            refused_by_lease = 1;
    }
    params_free(&p);
    if (rc != 0 || refused_by_lease)
        goto out;

    /* the session and the seal it was written under, one snapshot */
    params_init(&p, 1);
    p_text(&p, 0, b->account);
    res = tx_prepared(b, S_LOAD, &p);
    params_free(&p);
    rc = tx_check(b, res, "load", &lost, err);
    if (rc == 0 && PQnfields(res) != 14)
        rc = mts__err(err, MTS_EBACKEND, "%s: rekey: unexpected result",
                      b->display);
    if (rc == 0) {
        rc = load_seal_row(&cur, b, res, err);
        if (rc == MTS_ECORRUPT || rc == MTS_EVERSION)
            mts__err_prefix(err, "%s", b->display);
    }
    if (rc == 0 && cur.present && b->sealed &&
        mts__sql_seal_row_same(&cur, &b->seal_row)) {
        old = b->seal; /* the handle's key opens it already */
    } else if (rc == 0 && cur.present) {
        rc = mts__sql_seal_open(&old, &cur, b->account, b->secret, err);
        if (rc != 0)
            mts__err_prefix(err, "%s: rekey", b->display);
    }
    if (rc == 0) {
        rc = load_parse(&s, NULL, b, cur.present ? &old : NULL, res, err);
        if (rc == MTS_ENOTFOUND) {
            found = 0; /* nothing stored: the seal row alone */
            rc = 0;
        }
    }
    if (res != NULL) {
        wipe_result(res);
        PQclear(res);
        res = NULL;
    }
    if (rc != 0)
        goto out;

    /* the new seal row, then the secret columns under it */
    memset(&cx, 0, sizeof(cx));
    cx.name = b->account;
    rc = mts__sql_emit_seal(&cx, &neu, seal_put_emit, &sp);
    if (rc != 0 || !found)
        goto out;
    rc = save_params(&p, &sc, b, neu.present ? &fresh : NULL, &neu, s, 37,
                     mts__sql_new_rev(), err);
    if (rc != 0)
        goto out;
    rc = arr_finish(b, &p, err);
    if (rc == 0) {
        res = tx_prepared(b, S_WRITE(W_SAVE, b->leased), &p);
        rc = tx_check(b, res, "save", &lost, err);
        if (rc == 0 && count_at(res, 0) != 1)
            refused_by_lease = 1; /* expired meanwhile */
        else if (rc == 0 && count_at(res, 1) != 1)
            rc = mts__err(err, MTS_EBACKEND,
                          "%s: rekey: the new seal row was not found",
                          b->display);
        PQclear(res);
        res = NULL;
    }
    params_free(&p);
    sealed_free(&sc);

out:
    if (in_tx && !lost && (rc != 0 || refused_by_lease)) {
        PQclear(PQexec(b->conn, "ROLLBACK"));
    } else if (in_tx && !lost) {
        res = PQexec(b->conn, "COMMIT");
        rc = tx_check(b, res, "commit", &lost, err);
        PQclear(res);
        if (rc != 0 && lost)
            mts__err_prefix(err, "outcome unknown");
    }
    if (rc == 0 && refused_by_lease) {
        memset(&call, 0, sizeof(call));
        rc = refused(b, &call, "rekey", err);
    }
    if (rc == 0) {
        /* the handle now writes with the new seal; the old key is gone */
        b->secret = new_secret;
        b->seal_row = neu;
        b->seal = fresh;
        b->sealed = neu.present;
    }
    mts_session_free(s);
    mts__wipe(&old, sizeof(old));
    mts__wipe(&fresh, sizeof(fresh));
    return rc;
}

int
mts_postgres_rekey(mts_storage *st, mts_secret *new_secret, mts_error *err)
{
    mts_backend *be = st != NULL ? mts_storage_backend(st) : NULL;
    int rc;
    if (be == NULL || be->free != pg_free)
        return mts__err(err, MTS_EINVAL,
                        "postgres: rekey: not a PostgreSQL handle");
    mts__storage_lock(st);
    rc = rekey_locked((pg_backend *)be, new_secret, err);
    mts__storage_unlock(st);
    return rc;
}
