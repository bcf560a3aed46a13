/*
 * libsql.c - the libSQL backend: one named session in a libSQL database,
 * on the schema the SQLite backend uses (sql_schema.c, docs/SQL.md).
 *
 * Four modes:
 *
 * - local file and in-memory: the SQLite engine through the SQLite
 *   backend (an inner handle every call is forwarded to), so the file is
 *   an ordinary mtsession SQLite database that sqlite3 tools and
 *   mts_sqlite_open read and write, and the other way round.
 * - remote: a libSQL server over Hrana over HTTP (hrana.c). Every store
 *   operation is one HTTP request carrying one transaction: the statements
 *   the shared schema module emits, each run only if the one before it
 *   succeeded, then COMMIT, with ROLLBACK in the same batch when COMMIT did
 *   not run; the stream is closed in the same request. A save replaces the
 *   session's rows table by table (delete, then insert), so it needs no
 *   read first. The schema is checked once per handle, on first use, and
 *   created (or migrated) in one transaction when missing.
 * - replica: a local SQLite file plus a remote. Loads are served from the
 *   local file once this handle has pulled the remote state (the first
 *   load pulls it, or mts_libsql_sync does); writes go to the remote first
 *   (one transaction) and then to the local file, so a write the server
 *   refuses never reaches the replica. A local failure after the remote
 *   accepted the write marks the replica stale: the next load pulls again.
 *
 * Values are stored as given (the pts rule of sql_schema.h: never max()-ed)
 * in every mode.
 *
 * Leases: a local file's are the SQLite handle's. Remote and replica keep
 * them in the server's leases table, decided by the server on its clock;
 * every remote write batch starts with a guard statement that fences it by
 * the handle's lease (see "remote: leases"). Optimistic mode: local and
 * in-memory forward to the SQLite handle; remote and replica use the
 * server's sessions.rev, and save_if is a write batch guarded by it.
 *
 * Thread-safety: calls are serialised by the storage handle's lock; the
 * inner SQLite handle has its own lock, always taken after this one.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hrana.h"
#include "lease_text.h"
#include "sql_schema.h"

typedef enum libsql_mode {
    MODE_LOCAL,
    MODE_MEMORY,
    MODE_REMOTE,
    MODE_REPLICA
} libsql_mode;

typedef struct libsql_backend {
    mts_backend parent; /* must be first */
    libsql_mode mode;
    char *name;         /* the session's name */
    char *display;      /* "libsql:...#name" */
    mts_storage *local; /* LOCAL, MEMORY, REPLICA */
    mts__hrana *remote; /* REMOTE, REPLICA */
    int schema_ready;   /* the remote schema was checked */
    int synced;         /* REPLICA: the local file holds a pulled copy */
    mts_secret *secret; /* borrowed; NULL: no key */
    /* remote: the session's seal row as last read, and its opened key */
    int seal_known, seal_opened;
    mts__sql_seal_row seal_row;
    mts__sql_seal seal;
    /* remote: the rev the server's session holds, as far as this handle
     * knows, and the session object (uid, gen) whose snapshot plus the
     * touched rows the server holds at that rev */
    int rev_known;
    int64_t rev;
    mts__sql_base base;
    /* remote, replica: the lease this handle holds on the server (or
     * held, when it was lost); every remote write is fenced by it */
    int leased;
    char owner[MTS_LEASE_OWNER_MAX + 1];
    uint64_t epoch;
} libsql_backend;

/* ---- remote: schema ------------------------------------------------------ */

static int
run_tx(libsql_backend *b,
       mts__hrana_tx *tx,
       mts__hrana_res **out,
       mts_error *err)
{
    int rc = mts__hrana_tx_run(out, b->remote, tx, err);
    mts__hrana_tx_free(tx);
    return rc;
}

/* application_id, user_version and the number of schema objects. */
static int
read_header(libsql_backend *b, int64_t h[3], mts_error *err)
{
    static const mts__sql_stmt q[3] = { MTS__SQL_GET_APPLICATION_ID,
                                        MTS__SQL_GET_USER_VERSION,
                                        MTS__SQL_COUNT_OBJECTS };
    mts__hrana_tx *tx;
    mts__hrana_res *res = NULL;
    int rc;
    if (mts__hrana_tx_new(&tx, 0) != 0)
        return mts__err_oom(err);
    for (size_t i = 0; i < 3; i++)
        if (mts__hrana_tx_add(tx, mts__sql_text[q[i]], NULL, 0, 1) != 0) {
            mts__hrana_tx_free(tx);
            return mts__err_oom(err);
        }
    if ((rc = run_tx(b, tx, &res, err)) != 0)
        return rc;
    for (size_t i = 0; i < 3 && rc == 0; i++) {
        mts__sqlv v;
        h[i] = 0;
        if (mts__hrana_res_rows(res, i) != 1 ||
            (rc = mts__hrana_res_row(&v, 1, res, i, 0, err)) != 0 ||
            v.type != MTS__SQL_INT) {
            if (rc == 0)
                rc =
                    mts__err(err, MTS_EBACKEND, "%s: unexpected answer to '%s'",
                             b->display, mts__sql_text[q[i]]);
            break;
        }
        h[i] = v.i;
    }
    mts__hrana_res_free(res);
    return rc;
}

/* The statements that bring a database at `version` to the current
 * schema: the whole schema, or the migrations. */
static int
add_schema_steps(mts__hrana_tx *tx, mts__sql_schema_action act, int64_t version)
{
    int rc = 0;
    if (act == MTS__SQL_SCHEMA_CREATE) {
        for (size_t i = 0; rc == 0 && i < mts__sql_create_count; i++)
            rc = mts__hrana_tx_add(tx, mts__sql_create[i], NULL, 0, 0);
        return rc;
    }
    for (int64_t v = version; rc == 0 && v < MTS__SQL_SCHEMA_VERSION; v++) {
        const mts__sql_migration *m = mts__sql_migration_from(v);
        if (m == NULL)
            return MTS_EVERSION; /* ruled out by mts__sql_schema_check */
        for (size_t i = 0; rc == 0 && i < m->count; i++)
            rc = mts__hrana_tx_add(tx, m->stmts[i], NULL, 0, 0);
    }
    return rc;
}

/*
 * Check the remote schema once per handle. An empty database gets the
 * schema when `create` (a write); for a read it is reported as *empty.
 * Two clients may create or migrate at once: the loser's transaction
 * fails as a whole, and a second look finds the schema ready.
 */
static int
ensure_schema(libsql_backend *b, int create, int *empty, mts_error *err)
{
    mts__sql_schema_action act;
    mts__hrana_tx *tx;
    int64_t h[3];
    int rc;

    if (empty != NULL)
        *empty = 0;
    if (b->schema_ready)
        return 0;
    if ((rc = read_header(b, h, err)) != 0)
        return rc;
    if ((rc = mts__sql_schema_check(&act, h[0], h[1], h[2], err)) != 0) {
        mts__err_prefix(err, "%s", b->display);
        return rc;
    }
    if (act == MTS__SQL_SCHEMA_READY) {
        b->schema_ready = 1;
        return 0;
    }
    if (act == MTS__SQL_SCHEMA_CREATE && !create) {
        *empty = 1;
        return 0;
    }
    if (mts__hrana_tx_new(&tx, 1) != 0)
        return mts__err_oom(err);
    if ((rc = add_schema_steps(tx, act, h[1])) != 0) {
        mts__hrana_tx_free(tx);
        return rc == MTS_ENOMEM ? mts__err_oom(err)
                                : mts__err(err, rc, "%s: schema", b->display);
    }
    rc = run_tx(b, tx, NULL, err);
    if (rc == MTS_EBACKEND) {
        /* Someone else may have just done it: look again. */
        mts_error again = MTS_ERROR_INIT;
        if (read_header(b, h, &again) == 0 &&
            mts__sql_schema_check(&act, h[0], h[1], h[2], &again) == 0 &&
            act == MTS__SQL_SCHEMA_READY)
            rc = 0;
    }
    if (rc == 0)
        b->schema_ready = 1;
    return rc;
}

/* ---- remote: state ------------------------------------------------------- */

static mts__sqlv
name_param(const libsql_backend *b)
{
    return mts__sqlv_text(b->name);
}

/* What the server holds is no longer known (a failed write, a delete). */
static void
forget_remote(libsql_backend *b)
{
    mts__sql_base_forget(&b->base);
    b->rev_known = 0;
    b->seal_known = 0;
    b->seal_opened = 0;
}

static void
set_base(libsql_backend *b, const mts_session *s, int64_t rev)
{
    mts__sql_base_set(&b->base, s);
    b->rev = rev;
    b->rev_known = 1;
}

/* Take a seal row read from the server as the current one. */
static int
seal_from_row(libsql_backend *b,
              const mts__sqlv *cols,
              size_t n,
              mts_error *err)
{
    mts__sql_seal_row row;
    int rc = mts__sql_seal_row_from(&row, b->name, cols, n, err);
    if (rc != 0) {
        mts__err_prefix(err, "%s", b->display);
        return rc;
    }
    if (!b->seal_known || !mts__sql_seal_row_same(&row, &b->seal_row))
        b->seal_opened = 0;
    b->seal_row = row;
    b->seal_known = 1;
    return 0;
}

/* The seal the secret columns use now (NULL: not sealed), opening it with
 * the handle's secret when it changed. */
static int
seal_use(libsql_backend *b, const mts__sql_seal **out, mts_error *err)
{
    int rc;
    *out = NULL;
    if (!b->seal_row.present)
        return 0;
    if (!b->seal_opened) {
        if ((rc = mts__sql_seal_open(&b->seal, &b->seal_row, b->name, b->secret,
                                     err)) != 0) {
            mts__err_prefix(err, "%s", b->display);
            return rc;
        }
        b->seal_opened = 1;
    }
    *out = &b->seal;
    return 0;
}

/* Read the seal row and the rev (one request). */
static int
remote_probe(libsql_backend *b, mts_error *err)
{
    mts__sqlv p = name_param(b), cols[MTS__SQL_SEAL_NCOLS], v;
    mts__hrana_tx *tx;
    mts__hrana_res *res = NULL;
    int rc;
    if (mts__hrana_tx_new(&tx, 0) != 0)
        return mts__err_oom(err);
    if (mts__hrana_tx_add(tx, mts__sql_text[MTS__SQL_SEAL_GET], &p, 1, 1) ||
        mts__hrana_tx_add(tx, mts__sql_text[MTS__SQL_SESSION_REV], &p, 1, 1)) {
        mts__hrana_tx_free(tx);
        return mts__err_oom(err);
    }
    if ((rc = run_tx(b, tx, &res, err)) != 0)
        return rc;
    if (mts__hrana_res_rows(res, 0) > 0)
        rc = mts__hrana_res_row(cols, MTS__SQL_SEAL_NCOLS, res, 0, 0, err);
    if (rc == 0)
        rc = seal_from_row(b, mts__hrana_res_rows(res, 0) > 0 ? cols : NULL,
                           MTS__SQL_SEAL_NCOLS, err);
    if (rc == 0 && mts__hrana_res_rows(res, 1) > 0 &&
        (rc = mts__hrana_res_row(&v, 1, res, 1, 0, err)) == 0 &&
        v.type == MTS__SQL_INT) {
        if (!b->rev_known || b->rev != v.i)
            mts__sql_base_forget(&b->base);
        b->rev = v.i;
        b->rev_known = 1;
    } else if (rc == 0) {
        mts__sql_base_forget(&b->base); /* no session row */
        b->rev_known = 0;
    }
    mts__hrana_res_free(res);
    return rc;
}

/* ---- remote: operations -------------------------------------------------- */

static int
emit_step(mts__sql_stmt stmt,
          const mts__sqlv *params,
          size_t nparams,
          void *payload)
{
    return mts__hrana_tx_add(payload, mts__sql_text[stmt], params, nparams, 0);
}

/* A statement emitted directly (guards, reads) with its parameters. */
static int
add_stmt(mts__hrana_tx *tx,
         mts__sql_stmt stmt,
         const mts__sqlv *p,
         size_t n,
         int want_rows)
{
    return mts__hrana_tx_add(tx, mts__sql_text[stmt], p, n, want_rows);
}

/* The first step of every write: the seal is still the one this handle
 * read (the check value, or no seal row). */
static int
add_guard_seal(libsql_backend *b, mts__hrana_tx *tx)
{
    mts__sqlv p[2];
    p[0] = name_param(b);
    p[1].type = MTS__SQL_NULL;
    p[1].i = 0;
    p[1].p = NULL;
    p[1].n = 0;
    if (b->seal_row.present) {
        p[1].type = MTS__SQL_BLOB;
        p[1].p = b->seal_row.check;
        p[1].n = sizeof(b->seal_row.check);
    }
    return add_stmt(tx, MTS__SQL_GUARD_SEAL, p, 2, 0);
}

static int
add_guard_rev(libsql_backend *b, mts__hrana_tx *tx)
{
    mts__sqlv p[2];
    p[0] = name_param(b);
    p[1].type = MTS__SQL_INT;
    p[1].i = b->rev;
    p[1].p = NULL;
    p[1].n = 0;
    return add_stmt(tx, MTS__SQL_GUARD_REV, p, 2, 0);
}

static int
emit_failed(libsql_backend *b, int rc, mts_error *err)
{
    if (rc == MTS_ENOMEM)
        return mts__err_oom(err);
    return mts__err(err, rc, "%s: a text value is not valid UTF-8", b->display);
}

/* One write operation: what to emit into the transaction. */
typedef struct write_op {
    enum { OP_SAVE, OP_SAVE_IF, OP_DELETE, OP_GRANULAR } kind;
    const mts_session *s; /* OP_SAVE, OP_SAVE_IF */
    mts__sql_granular g;  /* OP_GRANULAR */
    int64_t expected;     /* OP_SAVE_IF: the rev it needs (0: no session) */
} write_op;

/* The operation's name in fencing messages (as the SQLite backend's). */
static const char *
op_label(const write_op *op)
{
    static const char *const granular[] = { "apply update state", "update dc",
                                            "set home dc", "cache peer" };
    switch (op->kind) {
    case OP_SAVE:
        return "save";
    case OP_SAVE_IF:
        return "save_if";
    case OP_DELETE:
        return "delete";
    default:
        return (size_t)op->g.kind < MTS__ARRAY_LEN(granular)
                   ? granular[op->g.kind]
                   : "write";
    }
}

/* ---- remote: leases ------------------------------------------------------ */

/*
 * The lease row lives on the server (the leases table, one row per
 * session) and every decision about it is taken there, on the server's
 * clock (MTS__SQL_NOW_MS), inside one write transaction per operation:
 * acquire, renew and release are one statement each followed by a read of
 * the row and of changes(). Every remote write starts with a guard
 * statement (statement 0 of its batch) that fails unless this handle's
 * owner and epoch hold a live lease, or, for a handle without a lease,
 * unless nobody's lease is live; a failed guard stops the batch before any
 * write. The refusal's message is then built from a second read of the
 * row, with the rules and words of the SQLite backend (sqlite.c).
 */

/* Statements of a write batch before the operation's own. */
enum { ST_LEASE = 0, ST_SEAL = 1, ST_REV = 2 };

typedef struct lease_row {
    int found;
    mts_lease l;     /* held: live on the server's clock when read */
    int64_t changes; /* changes() of the statement before the read */
} lease_row;

/* The LEASE_STATE row of statement `stmt` (none: x->found 0). */
static int
lease_from_res(lease_row *x,
               libsql_backend *b,
               mts__hrana_res *res,
               size_t stmt,
               mts_error *err)
{
    mts__sqlv c[MTS__SQL_LEASE_NCOLS];
    size_t len;
    int rc;
    memset(x, 0, sizeof(*x));
    x->l.version = MTS_LEASE_VERSION;
    if (mts__hrana_res_rows(res, stmt) == 0)
        return 0;
    if ((rc = mts__hrana_res_row(c, MTS__SQL_LEASE_NCOLS, res, stmt, 0, err)) !=
        0)
        return rc;
    if (c[MTS__SQL_LEASE_COL_OWNER].type != MTS__SQL_TEXT ||
        c[MTS__SQL_LEASE_COL_EPOCH].type != MTS__SQL_INT ||
        c[MTS__SQL_LEASE_COL_EXPIRES].type != MTS__SQL_INT ||
        c[MTS__SQL_LEASE_COL_HELD].type != MTS__SQL_INT ||
        c[MTS__SQL_LEASE_COL_CHANGES].type != MTS__SQL_INT)
        return mts__err(err, MTS_ECORRUPT,
                        "%s: table leases: a row with a wrong column type",
                        b->display);
    len = c[MTS__SQL_LEASE_COL_OWNER].n;
    if (len > MTS_LEASE_OWNER_MAX)
        len = MTS_LEASE_OWNER_MAX;
    if (len > 0)
        memcpy(x->l.owner, c[MTS__SQL_LEASE_COL_OWNER].p, len);
    x->l.owner[len] = '\0';
    x->l.epoch = (uint64_t)c[MTS__SQL_LEASE_COL_EPOCH].i;
    x->l.expires_ms = c[MTS__SQL_LEASE_COL_EXPIRES].i;
    x->l.held = c[MTS__SQL_LEASE_COL_HELD].i != 0;
    x->changes = c[MTS__SQL_LEASE_COL_CHANGES].i;
    x->found = 1;
    return 0;
}

/* Read the lease row (one request, a read transaction). */
static int
lease_read(libsql_backend *b, lease_row *x, mts_error *err)
{
    mts__sqlv p = name_param(b);
    mts__hrana_tx *tx;
    mts__hrana_res *res = NULL;
    int rc;
    memset(x, 0, sizeof(*x));
    x->l.version = MTS_LEASE_VERSION;
    if (mts__hrana_tx_new(&tx, 0) != 0)
        return mts__err_oom(err);
    if (add_stmt(tx, MTS__SQL_LEASE_STATE, &p, 1, 1) != 0) {
        mts__hrana_tx_free(tx);
        return mts__err_oom(err);
    }
    if ((rc = run_tx(b, tx, &res, err)) != 0)
        return rc;
    rc = lease_from_res(x, b, res, 0, err);
    mts__hrana_res_free(res);
    return rc;
}

/* Whether the row is this handle's lease (owner and epoch; live or not). */
static int
lease_ours(const libsql_backend *b, const lease_row *x)
{
    return x->found && x->l.epoch == b->epoch &&
           strcmp(x->l.owner, b->owner) == 0;
}

/* May this handle write, given the lease row? 0, or the refusal: a holder
 * needs its own live lease (MTS_EFENCED), a handle without a lease needs
 * nobody's live lease (MTS_ELOCKED naming the holder). */
static int
lease_verdict(libsql_backend *b,
              const char *what,
              const lease_row *x,
              mts_error *err)
{
    return mts__lease_verdict(err, b->display, what, b->leased, b->owner,
                              b->epoch, x->found ? &x->l : NULL);
}

/* The lease guard of a write stopped it: say why (a second request). When
 * the row read now would let the write through (the lease moved between
 * the two requests), *retry is set and the write may be sent again. */
static int
lease_refused(libsql_backend *b, const char *what, int *retry, mts_error *err)
{
    lease_row x;
    int rc;
    *retry = 0;
    if ((rc = lease_read(b, &x, err)) != 0)
        return rc;
    if ((rc = lease_verdict(b, what, &x, err)) != 0)
        return rc;
    *retry = 1;
    return mts__err(err, MTS_ELOCKED,
                    "%s: %s: the lease changed during the write; nothing "
                    "was written",
                    b->display, what);
}

/* Statement 0 of every remote write: this handle's lease is live (a
 * holder), or nobody's is (a handle without a lease). */
static int
add_guard_lease(libsql_backend *b, mts__hrana_tx *tx)
{
    mts__sqlv p[3];
    memset(p, 0, sizeof(p));
    p[0] = name_param(b);
    if (!b->leased)
        return add_stmt(tx, MTS__SQL_GUARD_LEASE_FREE, p, 1, 0);
    p[1] = mts__sqlv_text(b->owner);
    p[2] = mts__sqlv_int((int64_t)b->epoch);
    return add_stmt(tx, MTS__SQL_GUARD_LEASE_HELD, p, 3, 0);
}

/* One lease statement (its parameters p[0..n)), then the lease row read
 * back, in one write transaction: the row into *x. */
static int
lease_stmt(lease_row *x,
           libsql_backend *b,
           mts__sql_stmt stmt,
           const mts__sqlv *p,
           size_t n,
           mts_error *err)
{
    mts__sqlv key = name_param(b);
    mts__hrana_tx *tx;
    mts__hrana_res *res = NULL;
    int rc;
    if (mts__hrana_tx_new(&tx, 1) != 0)
        return mts__err_oom(err);
    if ((rc = add_stmt(tx, stmt, p, n, 0)) != 0 ||
        (rc = add_stmt(tx, MTS__SQL_LEASE_STATE, &key, 1, 1)) != 0) {
        mts__hrana_tx_free(tx);
        return emit_failed(b, rc, err);
    }
    if ((rc = run_tx(b, tx, &res, err)) != 0)
        return rc;
    rc = lease_from_res(x, b, res, 1, err);
    mts__hrana_res_free(res);
    return rc;
}

static int
remote_lease_acquire(libsql_backend *b,
                     const char *owner,
                     uint32_t ttl_ms,
                     mts_lease *info,
                     mts_error *err)
{
    mts__sqlv p[3];
    lease_row x;
    int rc;

    if ((rc = ensure_schema(b, 1, NULL, err)) != 0)
        return rc;
    p[0] = name_param(b);
    p[1] = mts__sqlv_text(owner);
    p[2] = mts__sqlv_int((int64_t)ttl_ms);
    if ((rc = lease_stmt(&x, b, MTS__SQL_LEASE_ACQUIRE, p, 3, err)) != 0)
        return rc;
    if (!x.found)
        return mts__err(err, MTS_EBACKEND,
                        "%s: lease acquire: no lease row after the write",
                        b->display);
    if (x.changes != 1 || strcmp(x.l.owner, owner) != 0)
        return mts__lease_held(err, b->display, NULL, x.l.owner,
                               x.l.expires_ms);
    b->leased = 1;
    snprintf(b->owner, sizeof(b->owner), "%s", owner);
    b->epoch = x.l.epoch;
    *info = x.l;
    info->held = 1;
    return 0;
}

/* Renew (ttl_ms > 0) or release (ttl_ms 0) the lease this handle holds.
 * As long as nobody took it, an expired lease can still be renewed (or
 * released): the epoch did not change, so nobody else's tenure came in
 * between. */
static int
remote_lease_keep(libsql_backend *b,
                  uint32_t ttl_ms,
                  mts_lease *info,
                  mts_error *err)
{
    const char *what = ttl_ms ? "lease renew" : "lease release";
    mts__sqlv p[4], *q = p;
    lease_row x;
    int rc;

    if ((rc = ensure_schema(b, 1, NULL, err)) != 0)
        return rc;
    if (ttl_ms) {
        p[0] = mts__sqlv_int((int64_t)ttl_ms);
        q = p + 1;
    }
    q[0] = name_param(b);
    q[1] = mts__sqlv_text(b->owner);
    q[2] = mts__sqlv_int((int64_t)b->epoch);
    rc = ttl_ms ? lease_stmt(&x, b, MTS__SQL_LEASE_RENEW, p, 4, err)
                : lease_stmt(&x, b, MTS__SQL_LEASE_RELEASE, p, 3, err);
    if (rc != 0)
        return rc;
    if (x.changes != 1 || !lease_ours(b, &x))
        return mts__lease_fenced(err, b->display, what, b->epoch,
                                 x.found ? &x.l : NULL, 0);
    if (ttl_ms == 0) {
        b->leased = 0;
        return 0;
    }
    *info = x.l;
    info->held = 1;
    return 0;
}

static int
remote_lease_show(libsql_backend *b, mts_lease *info, mts_error *err)
{
    lease_row x;
    int empty = 0;
    int rc = ensure_schema(b, 0, &empty, err);
    if (rc == 0 && !empty)
        rc = lease_read(b, &x, err);
    if (rc != 0)
        return rc;
    if (empty || !x.found)
        return mts__err(err, MTS_ENOTFOUND, "%s: never leased", b->display);
    *info = x.l;
    return 0;
}

/* How a write request went. */
enum { SENT_OK, SENT_SEAL_CHANGED, SENT_REV_CHANGED, SENT_LEASE_CHANGED };

/* The optimistic save's guard stopped it: the store moved on. */
static int
conflict(libsql_backend *b, int64_t expected, mts_error *err)
{
    mts_error e2 = MTS_ERROR_INIT;
    if (remote_probe(b, &e2) != 0)
        return mts__err(err, MTS_ECONFLICT,
                        "%s: save_if: the stored revision is not the "
                        "expected %llu: nothing written",
                        b->display, (unsigned long long)expected);
    /* the words of the SQLite backend's conflict */
    return mts__err(err, MTS_ECONFLICT,
                    "%s: save_if: the stored revision is %llu, not the "
                    "expected %llu: nothing written",
                    b->display,
                    (unsigned long long)(b->rev_known ? mts__sql_api_rev(b->rev)
                                                      : 0),
                    (unsigned long long)expected);
}

/*
 * Re-seal the server's session under `to` (NULL: clear) in one guarded
 * transaction: read it with the current seal, then rewrite its secret
 * columns and seal row, only if nobody changed the session or its seal in
 * between (else MTS_ELOCKED and *changed set: try again). With nothing
 * stored, only a stray seal row is removed. Fenced by the lease as every
 * write (`what` names the operation in the refusal).
 */
static int remote_load_raw(mts_session **out,
                           int64_t *rev,
                           int *found,
                           libsql_backend *b,
                           mts_error *err);

static int
remote_reseal(libsql_backend *b,
              mts_secret *to,
              int create,
              const char *what,
              int *changed,
              mts_error *err)
{
    mts__sql_seal fresh;
    mts__sql_seal_row row;
    mts__sql_ctx cx = { b->name, mts__sql_new_rev(), NULL };
    mts__hrana_tx *tx = NULL;
    mts_session *s = NULL;
    int64_t rev = 0;
    int found = 0, rc;

    *changed = 0;
    memset(&row, 0, sizeof(row));
    memset(&fresh, 0, sizeof(fresh));
    if ((rc = remote_load_raw(&s, &rev, &found, b, err)) != 0)
        return rc;
    /* nothing stored: a rekey removes a stray seal row, a first write
     * under a secret creates the seal row */
    if ((found || create) && to != NULL &&
        (rc = mts__sql_seal_new(&fresh, &row, b->name, to, err)) == 0)
        cx.seal = &fresh;
    if (rc == 0 && mts__hrana_tx_new(&tx, 1) != 0)
        rc = mts__err_oom(err);
    if (rc == 0 &&
        ((rc = add_guard_lease(b, tx)) != 0 ||
         (rc = add_guard_seal(b, tx)) != 0 ||
         (found && (rc = add_guard_rev(b, tx)) != 0) ||
         (rc = mts__sql_emit_seal(&cx, &row, emit_step, tx)) != 0 ||
         (found && (rc = mts__sql_emit_save(&cx, s, MTS__SQL_EMIT_SECRETS,
                                            emit_step, tx)) != 0) ||
         (found && (rc = mts__sql_emit_rev(&cx, emit_step, tx)) != 0)))
        rc = emit_failed(b, rc, err);
    mts_session_free(s);
    if (rc == 0) {
        rc = mts__hrana_tx_run(NULL, b->remote, tx, err);
        if (rc != 0 && mts__hrana_tx_failed(tx) == ST_LEASE) {
            rc = lease_refused(b, what, changed, err);
        } else if (rc != 0 && mts__hrana_tx_failed(tx) >= ST_SEAL &&
                   mts__hrana_tx_failed(tx) <= ST_REV) {
            *changed = 1;
            rc = mts__err(err, MTS_ELOCKED,
                          "%s: the session changed while it was being "
                          "re-sealed; nothing was written, try again",
                          b->display);
        }
    }
    mts__hrana_tx_free(tx);
    forget_remote(b);
    if (rc == 0) {
        b->seal_row = row;
        b->seal = fresh;
        b->seal_known = 1;
        b->seal_opened = row.present;
    }
    if (rc == 0 && found) {
        b->rev = cx.rev;
        b->rev_known = 1;
    }
    mts__wipe(&fresh, sizeof(fresh));
    return rc;
}

/* The guard of an optimistic save: the session's rev is `expected`, or
 * (expected 0) there is no session; INT64_MIN (the API's 2^63) stands for
 * a row written before rows had revisions (rev 0). */
static int
add_guard_expected(libsql_backend *b, mts__hrana_tx *tx, int64_t expected)
{
    mts__sqlv p[2];
    memset(p, 0, sizeof(p));
    p[0] = name_param(b);
    if (expected == 0)
        return add_stmt(tx, MTS__SQL_GUARD_NO_SESSION, p, 1, 0);
    p[1].type = MTS__SQL_INT;
    p[1].i = expected == INT64_MIN ? 0 : expected;
    return add_stmt(tx, MTS__SQL_GUARD_REV, p, 2, 0);
}

/*
 * Build and send one write: statement 0 the lease guard, 1 the seal guard
 * (not for a delete), 2 the rev guard of an incremental or optimistic
 * save or the rev read of a granular change, then the operation. *sent
 * says which guard, if any, stopped it in a way worth another try.
 */
static int
remote_write_once(libsql_backend *b,
                  const write_op *op,
                  int *sent,
                  mts_error *err)
{
    const mts__sql_seal *seal = NULL;
    mts__sql_ctx cx = { b->name, mts__sql_new_rev(), NULL };
    mts__hrana_tx *tx;
    mts__hrana_res *res = NULL;
    int rc, incremental = 0, read_rev = 0, retry = 0;
    int save = op->kind == OP_SAVE || op->kind == OP_SAVE_IF;
    size_t count = 1;
    long failed;

    *sent = SENT_OK;
    if (op->kind == OP_DELETE) {
        mts__sql_ctx cx0 = { b->name, 0, NULL };
        if (mts__hrana_tx_new(&tx, 1) != 0)
            return mts__err_oom(err);
        if ((rc = add_guard_lease(b, tx)) != 0 ||
            (rc = mts__sql_emit_delete(&cx0, emit_step, tx)) != 0) {
            mts__hrana_tx_free(tx);
            return emit_failed(b, rc, err);
        }
        rc = mts__hrana_tx_run(NULL, b->remote, tx, err);
        failed = mts__hrana_tx_failed(tx);
        mts__hrana_tx_free(tx);
        forget_remote(b);
        if (rc != 0 && failed == ST_LEASE) {
            rc = lease_refused(b, op_label(op), &retry, err);
            if (retry)
                *sent = SENT_LEASE_CHANGED;
        }
        return rc;
    }
    if ((rc = seal_use(b, &seal, err)) != 0)
        return rc;
    cx.seal = seal;
    if (op->kind == OP_SAVE)
        incremental = b->rev_known && mts__sql_base_covers(&b->base, op->s);
    else if (op->kind == OP_SAVE_IF)
        incremental = op->expected != 0 && b->rev_known &&
                      b->rev == op->expected &&
                      mts__sql_base_covers(&b->base, op->s);
    else
        read_rev = 1;
    if (mts__hrana_tx_new(&tx, 1) != 0)
        return mts__err_oom(err);
    rc = add_guard_lease(b, tx); /* ST_LEASE */
    if (rc == 0)
        rc = add_guard_seal(b, tx); /* ST_SEAL */
    if (rc == 0 && op->kind == OP_SAVE_IF) {
        rc = add_guard_expected(b, tx, op->expected); /* ST_REV */
    } else if (rc == 0 && incremental) {
        rc = add_guard_rev(b, tx); /* ST_REV */
    } else if (rc == 0 && read_rev) {
        mts__sqlv p = name_param(b);
        rc = add_stmt(tx, MTS__SQL_SESSION_REV, &p, 1, 1); /* ST_REV */
    }
    if (rc == 0 && incremental) {
        mts__sql_delta d = mts__sql_base_delta(&b->base);
        rc = mts__sql_emit_delta(&cx, op->s, &d, &count, emit_step, tx);
        if (rc == 0 && count > 0)
            rc = mts__sql_emit_rev(&cx, emit_step, tx);
    } else if (rc == 0 && save) {
        rc = mts__sql_emit_save(&cx, op->s, MTS__SQL_EMIT_REPLACE, emit_step,
                                tx);
        if (rc == 0)
            rc = mts__sql_emit_rev(&cx, emit_step, tx);
    } else if (rc == 0) {
        rc = mts__sql_emit_granular(&cx, &op->g, emit_step, tx);
    }
    if (rc != 0) {
        mts__hrana_tx_free(tx);
        return emit_failed(b, rc, err);
    }
    rc = mts__hrana_tx_run(read_rev ? &res : NULL, b->remote, tx, err);
    if (rc != 0) {
        failed = mts__hrana_tx_failed(tx);
        mts__hrana_tx_free(tx);
        forget_remote(b);
        if (failed == ST_LEASE) {
            rc = lease_refused(b, op_label(op), &retry, err);
            if (retry)
                *sent = SENT_LEASE_CHANGED;
        } else if (failed == ST_SEAL) {
            *sent = SENT_SEAL_CHANGED;
        } else if (failed == ST_REV && op->kind == OP_SAVE_IF) {
            rc = conflict(b, op->expected, err);
        } else if (failed == ST_REV && incremental) {
            *sent = SENT_REV_CHANGED;
        }
        return rc;
    }
    mts__hrana_tx_free(tx);
    if (save) {
        set_base(b, op->s, incremental && count == 0 ? b->rev : cx.rev);
        return 0;
    }
    /* a granular change: was the server still at the rev this handle
     * knew? Then its record stays good, plus the touched row. */
    {
        mts__sqlv v;
        int same = b->rev_known && mts__hrana_res_rows(res, ST_REV) == 1 &&
                   mts__hrana_res_row(&v, 1, res, ST_REV, 0, NULL) == 0 &&
                   v.type == MTS__SQL_INT && v.i == b->rev;
        mts__hrana_res_free(res);
        if (!same)
            mts__sql_base_forget(&b->base);
        b->rev = cx.rev;
        b->rev_known = 1;
        if (b->base.valid)
            mts__sql_base_note(&b->base, &op->g);
    }
    return 0;
}

static int
remote_write(libsql_backend *b, const write_op *op, mts_error *err)
{
    int rc, sent = SENT_OK;
    if ((rc = ensure_schema(b, 1, NULL, err)) != 0)
        return rc;
    for (int attempt = 0; attempt < 3; attempt++) {
        if (op->kind != OP_DELETE && !b->seal_known && b->secret == NULL &&
            attempt == 0) {
            /* without a secret, assume no seal: the guard says otherwise
             * (then the seal row is read and the write refused) */
            memset(&b->seal_row, 0, sizeof(b->seal_row));
            b->seal_known = 1;
            b->seal_opened = 0;
        }
        if (op->kind != OP_DELETE) {
            if (!b->seal_known && (rc = remote_probe(b, err)) != 0)
                return rc;
            /* a handle with a secret seals the session first */
            if (b->secret != NULL && !b->seal_row.present) {
                int changed = 0;
                rc =
                    remote_reseal(b, b->secret, 1, op_label(op), &changed, err);
                if (rc != 0 && changed)
                    continue;
                if (rc != 0)
                    return rc;
                if (!b->seal_known && (rc = remote_probe(b, err)) != 0)
                    return rc;
            }
        }
        rc = remote_write_once(b, op, &sent, err);
        if (rc == 0 || sent == SENT_OK)
            return rc;
        /* someone changed the seal or the session: look again */
    }
    return rc;
}

/* Statements of a load, in order, and the rows they give. */
static const mts__sql_stmt load_stmts[] = {
    MTS__SQL_SEAL_GET,     MTS__SQL_SESSION_GET,  MTS__SQL_SESSION_REV,
    MTS__SQL_DC_LIST,      MTS__SQL_CHANNEL_LIST, MTS__SQL_PEER_LIST,
    MTS__SQL_MIN_PEER_LIST
};
static const size_t load_ncols[] = {
    MTS__SQL_SEAL_NCOLS,    MTS__SQL_SESSION_NCOLS, 1,
    MTS__SQL_DC_NCOLS,      MTS__SQL_CHANNEL_NCOLS, MTS__SQL_PEER_NCOLS,
    MTS__SQL_MIN_PEER_NCOLS
};
enum { L_SEAL, L_SESSION, L_REV, L_DC, L_CHANNEL, L_PEER, L_MIN };

#define LOAD_MAX_COLS 16
_Static_assert(MTS__SQL_SESSION_NCOLS <= LOAD_MAX_COLS &&
                   MTS__SQL_DC_NCOLS <= LOAD_MAX_COLS &&
                   MTS__SQL_PEER_NCOLS <= LOAD_MAX_COLS &&
                   MTS__SQL_SEAL_NCOLS <= LOAD_MAX_COLS,
               "a load row fits in LOAD_MAX_COLS values");

static int
add_row(mts_session *s,
        const mts__sql_ctx *cx,
        size_t table,
        const mts__sqlv *c,
        size_t n,
        mts_error *err)
{
    switch (table) {
    case L_SESSION:
        return mts__sql_session_from_row(s, cx, c, n, err);
    case L_DC:
        return mts__sql_dc_from_row(s, cx, c, n, err);
    case L_CHANNEL:
        return mts__sql_channel_from_row(s, c, n, err);
    case L_PEER:
        return mts__sql_peer_from_row(s, c, n, err);
    case L_MIN:
        return mts__sql_min_peer_from_row(s, c, n, err);
    default:
        return 0;
    }
}

/* The whole session and its rev from one read transaction (a consistent
 * snapshot); *found 0 (and 0 returned) when nothing is stored. */
static int
remote_load_raw(mts_session **out,
                int64_t *rev,
                int *found,
                libsql_backend *b,
                mts_error *err)
{
    mts__sqlv p = name_param(b);
    mts__sqlv cols[LOAD_MAX_COLS];
    mts__sql_ctx cx = { b->name, 0, NULL };
    mts__hrana_tx *tx;
    mts__hrana_res *res = NULL;
    mts_session *s = NULL;
    const mts__sql_seal *seal = NULL;
    int rc, empty;

    *found = 0;
    *out = NULL;
    if ((rc = ensure_schema(b, 0, &empty, err)) != 0)
        return rc;
    if (empty)
        return 0;
    if (mts__hrana_tx_new(&tx, 0) != 0)
        return mts__err_oom(err);
    for (size_t i = 0; i < MTS__ARRAY_LEN(load_stmts); i++)
        if (mts__hrana_tx_add(tx, mts__sql_text[load_stmts[i]], &p, 1, 1)) {
            mts__hrana_tx_free(tx);
            return mts__err_oom(err);
        }
    if ((rc = run_tx(b, tx, &res, err)) != 0)
        return rc;
    if (mts__hrana_res_rows(res, L_SEAL) > 0)
        rc = mts__hrana_res_row(cols, MTS__SQL_SEAL_NCOLS, res, L_SEAL, 0, err);
    if (rc == 0)
        rc =
            seal_from_row(b, mts__hrana_res_rows(res, L_SEAL) > 0 ? cols : NULL,
                          MTS__SQL_SEAL_NCOLS, err);
    if (rc != 0 || mts__hrana_res_rows(res, L_SESSION) == 0) {
        mts__hrana_res_free(res);
        return rc;
    }
    if ((rc = seal_use(b, &seal, err)) != 0) {
        mts__hrana_res_free(res);
        return rc;
    }
    cx.seal = seal;
    *rev = 0;
    if (mts__hrana_res_rows(res, L_REV) == 1 &&
        mts__hrana_res_row(cols, 1, res, L_REV, 0, NULL) == 0 &&
        cols[0].type == MTS__SQL_INT)
        *rev = cols[0].i;
    if (mts_session_new(&s, MTS_NEW_EMPTY) != 0) {
        mts__hrana_res_free(res);
        return mts__err_oom(err);
    }
    for (size_t t = L_SESSION; rc == 0 && t < MTS__ARRAY_LEN(load_stmts); t++) {
        size_t rows = mts__hrana_res_rows(res, t);
        if (t == L_REV)
            continue;
        if (t == L_SESSION && rows > 1)
            rows = 1; /* the primary key makes it one */
        for (size_t r = 0; rc == 0 && r < rows; r++) {
            rc = mts__hrana_res_row(cols, load_ncols[t], res, t, r, err);
            if (rc == 0)
                rc = add_row(s, &cx, t, cols, load_ncols[t], err);
        }
    }
    mts__hrana_res_free(res);
    if (rc != 0) {
        mts_session_free(s);
        if (rc == MTS_ECORRUPT)
            mts__err_prefix(err, "%s", b->display);
        return rc;
    }
    *out = s;
    *found = 1;
    return 0;
}

static int
remote_load(mts_session **out, libsql_backend *b, mts_error *err)
{
    int64_t rev = 0;
    int found = 0;
    int rc = remote_load_raw(out, &rev, &found, b, err);
    if (rc != 0)
        return rc;
    if (!found) {
        mts__sql_base_forget(&b->base);
        b->rev_known = 0;
        return MTS_ENOTFOUND;
    }
    set_base(b, *out, rev);
    return 0;
}

/* ---- replica ------------------------------------------------------------- */

/* Pull the remote state of the session into the local file. */
static int
replica_pull(libsql_backend *b, mts_error *err)
{
    mts_session *s = NULL;
    int rc = remote_load(&s, b, err);
    if (rc == MTS_ENOTFOUND)
        rc = mts_storage_delete(b->local, err);
    else if (rc == 0)
        rc = mts__sqlite_replace(b->local, s, b->secret, err);
    mts_session_free(s);
    if (rc == 0)
        b->synced = 1;
    return rc;
}

/* The remote took a write the local file then failed to apply. */
static int
local_failed(libsql_backend *b, int rc, mts_error *err)
{
    if (b->mode != MODE_REPLICA)
        return rc;
    b->synced = 0;
    mts__err_prefix(err,
                    "written to %s, but the local replica failed "
                    "(it is pulled again on the next load)",
                    mts__hrana_url(b->remote));
    return rc;
}

/* ---- slots --------------------------------------------------------------- */

static int
do_write(libsql_backend *b, const write_op *op, mts_error *err)
{
    int rc;
    if (b->remote != NULL && (rc = remote_write(b, op, err)) != 0)
        return rc;
    if (b->local == NULL)
        return 0;
    switch (op->kind) {
    case OP_SAVE:
    case OP_SAVE_IF: /* the server checked the revision; the file follows */
        rc = mts_storage_save(b->local, op->s, err);
        break;
    case OP_DELETE:
        rc = mts_storage_delete(b->local, err);
        break;
    case OP_GRANULAR:
        switch (op->g.kind) {
        case MTS__SQL_G_UPDATE:
            rc = mts_storage_apply_update_state(b->local, op->g.change, err);
            break;
        case MTS__SQL_G_DC:
            rc = mts_storage_update_dc(b->local, op->g.dc, err);
            break;
        case MTS__SQL_G_HOME:
            rc = mts_storage_set_home_dc(b->local, op->g.home, err);
            break;
        case MTS__SQL_G_PEER:
            rc = mts_storage_cache_peer(b->local, op->g.peer, err);
            break;
        default:
            rc = MTS_EINVAL;
        }
        break;
    default:
        rc = MTS_EINVAL;
    }
    return rc != 0 ? local_failed(b, rc, err) : 0;
}

static int
ls_save(mts_backend *be, const mts_session *s, mts_error *err)
{
    write_op op = { .kind = OP_SAVE, .s = s };
    return do_write((libsql_backend *)be, &op, err);
}

static int
ls_del(mts_backend *be, mts_error *err)
{
    write_op op = { .kind = OP_DELETE };
    return do_write((libsql_backend *)be, &op, err);
}

static int
do_granular(mts_backend *be, const mts__sql_granular *g, mts_error *err)
{
    write_op op = { .kind = OP_GRANULAR, .g = *g };
    return do_write((libsql_backend *)be, &op, err);
}

static int
ls_apply(mts_backend *be, const mts_update_change *c, mts_error *err)
{
    mts__sql_granular g = { MTS__SQL_G_UPDATE, c, NULL, NULL, 0 };
    return do_granular(be, &g, err);
}

static int
ls_update_dc(mts_backend *be, const mts_dc *dc, mts_error *err)
{
    mts__sql_granular g = { MTS__SQL_G_DC, NULL, dc, NULL, 0 };
    return do_granular(be, &g, err);
}

static int
ls_set_home(mts_backend *be, int32_t dc_id, mts_error *err)
{
    mts__sql_granular g = { MTS__SQL_G_HOME, NULL, NULL, NULL, dc_id };
    return do_granular(be, &g, err);
}

static int
ls_cache_peer(mts_backend *be, const mts_peer *p, mts_error *err)
{
    mts__sql_granular g = { MTS__SQL_G_PEER, NULL, NULL, p, 0 };
    return do_granular(be, &g, err);
}

static int
ls_load(mts_session **out, mts_backend *be, mts_error *err)
{
    libsql_backend *b = (libsql_backend *)be;
    int rc;
    if (b->mode == MODE_REMOTE)
        return remote_load(out, b, err);
    if (b->mode == MODE_REPLICA && !b->synced &&
        (rc = replica_pull(b, err)) != 0)
        return rc;
    rc = mts_storage_load(out, b->local, err);
    /* A replica's file holds what the server held at the rev this handle
     * knows (every write went to both): the loaded object is the base of
     * the server's incremental saves too. */
    if (b->mode == MODE_REPLICA) {
        if (rc == 0 && b->synced && b->rev_known)
            set_base(b, *out, b->rev);
        else
            mts__sql_base_forget(&b->base);
    }
    return rc;
}

/* ---- optimistic mode ---------------------------------------------------- */

/*
 * Local and in-memory: the SQLite handle underneath keeps the revisions.
 * Remote: the revision is sessions.rev on the server, read with the
 * session in one snapshot; save_if is one batch guarded by "rev =
 * expected" (or "no sessions row" for 0). Replica: the server's rev too;
 * the session comes from the file when this handle's pull or its last
 * write left the file equal to the server at a known rev, else it is
 * pulled first; a conflict marks the file stale, so the next load_rev
 * pulls the server's state.
 */
static int
ls_load_rev(mts_session **out, uint64_t *rev, mts_backend *be, mts_error *err)
{
    libsql_backend *b = (libsql_backend *)be;
    mts_session *s = NULL;
    int rc;
    *rev = 0;
    if (b->remote == NULL)
        return mts_storage_load_rev(out, rev, b->local, err);
    if (b->mode == MODE_REMOTE) {
        rc = remote_load(&s, b, err);
    } else {
        if ((!b->synced || !b->rev_known) && (rc = replica_pull(b, err)) != 0)
            return rc;
        rc = mts_storage_load(&s, b->local, err);
        if (rc == 0 && !b->rev_known) {
            mts_session_free(s);
            s = NULL;
            rc = mts__err(err, MTS_ENOTFOUND, "%s: no session stored",
                          b->display);
        }
        if (rc == 0)
            set_base(b, s, b->rev);
    }
    if (rc != 0)
        return rc;
    *rev = mts__sql_api_rev(b->rev);
    if (out != NULL)
        *out = s;
    else
        mts_session_free(s);
    return 0;
}

static int
ls_save_if(mts_backend *be,
           const mts_session *s,
           uint64_t expected,
           uint64_t *new_rev,
           mts_error *err)
{
    libsql_backend *b = (libsql_backend *)be;
    write_op op = { .kind = OP_SAVE_IF, .s = s };
    int rc;
    if (b->remote == NULL)
        return mts_storage_save_if(b->local, s, expected, new_rev, err);
    op.expected = (int64_t)expected;
    rc = do_write(b, &op, err);
    if (rc == MTS_ECONFLICT)
        b->synced = 0;
    else if (rc == 0)
        *new_rev = mts__sql_api_rev(b->rev);
    return rc;
}

static const char *
ls_name(mts_backend *be)
{
    return ((libsql_backend *)be)->display;
}

static void
ls_free(mts_backend *be)
{
    libsql_backend *b = (libsql_backend *)be;
    if (b == NULL)
        return;
    mts_storage_free(b->local);
    mts__hrana_free(b->remote);
    mts_free(b->name);
    mts_free(b->display);
    mts__sql_base_free(&b->base);
    mts__wipe(b, sizeof(*b));
    mts_free(b);
}

/* ---- leases -------------------------------------------------------------- */

/* A local file: the SQLite handle underneath keeps the lease (its leases
 * table, on this host's clock) and fences every write that goes through
 * it. Remote and replica: the lease row is on the server, on its clock,
 * and every remote write is fenced in its own batch (the file of a
 * replica is written only after the server accepted). Memory has none:
 * one process alone reaches it. */
static int
ls_lease(mts_backend *be,
         int op,
         const char *owner,
         uint32_t ttl_ms,
         mts_lease *info,
         mts_error *err)
{
    libsql_backend *b = (libsql_backend *)be;
    if (b->remote != NULL) {
        switch (op) {
        case MTS_LEASE_ACQUIRE:
            return remote_lease_acquire(b, owner, ttl_ms, info, err);
        case MTS_LEASE_RENEW:
        case MTS_LEASE_RELEASE:
            if (!b->leased)
                return mts__err(err, MTS_EINVAL,
                                "%s: this handle holds no lease", b->display);
            return remote_lease_keep(b, op == MTS_LEASE_RENEW ? ttl_ms : 0,
                                     info, err);
        case MTS_LEASE_SHOW:
            return remote_lease_show(b, info, err);
        default:
            return mts__err(err, MTS_EINVAL, "lease: unknown operation %d", op);
        }
    }
    switch (op) {
    case MTS_LEASE_ACQUIRE:
        return mts_lease_acquire(info, b->local, owner, ttl_ms, err);
    case MTS_LEASE_RENEW:
        return mts_lease_renew(info, b->local, ttl_ms, err);
    case MTS_LEASE_RELEASE:
        return mts_lease_release(b->local, err);
    case MTS_LEASE_SHOW:
        return mts_lease_show(info, b->local, err);
    default:
        return mts__err(err, MTS_EINVAL, "lease: unknown operation %d", op);
    }
}

/* ---- open ---------------------------------------------------------------- */

static int
finish_open(mts_storage **out, libsql_backend *b, mts_error *err)
{
    int rc;
    b->parent.version = MTS_BACKEND_VERSION;
    b->parent.save = ls_save;
    b->parent.load = ls_load;
    b->parent.del = ls_del;
    b->parent.name = ls_name;
    b->parent.apply_update_state = ls_apply;
    b->parent.update_dc = ls_update_dc;
    b->parent.set_home_dc = ls_set_home;
    b->parent.cache_peer = ls_cache_peer;
    b->parent.lease = b->mode != MODE_MEMORY ? ls_lease : NULL;
    b->parent.load_rev = ls_load_rev;
    b->parent.save_if = ls_save_if;
    b->parent.free = ls_free;
    if ((rc = mts_storage_wrap(out, &b->parent, err)) != 0)
        ls_free(&b->parent);
    return rc;
}

static int
check_options(const mts_libsql_options *opts, mts_error *err)
{
    if (opts == NULL)
        return 0;
    if (opts->version != MTS_LIBSQL_OPTIONS_VERSION)
        return mts__err(err, MTS_EINVAL, "libsql: unknown options version %u",
                        opts->version);
    if (opts->synchronous != MTS_SQLITE_SYNC_FULL &&
        opts->synchronous != MTS_SQLITE_SYNC_NORMAL)
        return mts__err(err, MTS_EINVAL,
                        "libsql: synchronous %d is not MTS_SQLITE_SYNC_FULL "
                        "or MTS_SQLITE_SYNC_NORMAL",
                        opts->synchronous);
    return 0;
}

/* Allocate a backend for session `name` (NULL: the default), displayed as
 * "libsql:<a>#<name>", or "libsql:<a> (replica of <b2>)#<name>". */
static int
new_backend(libsql_backend **out,
            libsql_mode mode,
            const char *name,
            const char *a,
            const char *b2,
            const mts_libsql_options *opts,
            mts_error *err)
{
    libsql_backend *b;
    size_t n;
    int rc;
    if ((rc = check_options(opts, err)) != 0)
        return rc;
    if (name == NULL)
        name = MTS__SQL_DEFAULT_NAME;
    if ((rc = mts__sql_check_name(name, err)) != 0)
        return rc;
    b = mts__calloc(1, sizeof(*b));
    if (b == NULL)
        return mts__err_oom(err);
    b->mode = mode;
    b->secret = opts != NULL ? opts->secret : NULL;
    b->name = mts__strdup(name);
    n = strlen("libsql:") + strlen(a) + (b2 ? strlen(b2) + 16 : 0) +
        strlen(name) + 2;
    b->display = mts__calloc(1, n);
    if (b->name == NULL || b->display == NULL) {
        ls_free(&b->parent);
        return mts__err_oom(err);
    }
    if (b2 != NULL)
        snprintf(b->display, n, "libsql:%s (replica of %s)#%s", a, b2, name);
    else
        snprintf(b->display, n, "libsql:%s#%s", a, name);
    *out = b;
    return 0;
}

/* The SQLite handle under a local, in-memory or replica mode, named as the
 * libSQL store so its messages say libsql. */
static int
open_inner(libsql_backend *b,
           const char *path,
           const mts_libsql_options *opts,
           mts_error *err)
{
    mts_sqlite_options so = MTS_SQLITE_OPTIONS_INIT;
    if (opts != NULL) {
        so.secret = opts->secret;
        so.synchronous = opts->synchronous;
    }
    return mts__sqlite_open_as(&b->local, path, b->name, &so, b->display, err);
}

int
mts_libsql_open_local_ex(mts_storage **out,
                         const char *path,
                         const char *name,
                         const mts_libsql_options *opts,
                         mts_error *err)
{
    libsql_backend *b;
    int rc;
    if (out == NULL || path == NULL)
        return mts__err(err, MTS_EINVAL, "libsql: NULL argument");
    *out = NULL;
    if (path[0] == '\0')
        return mts__err(err, MTS_EINVAL, "libsql: empty path");
    if ((rc = new_backend(
             &b, strcmp(path, ":memory:") == 0 ? MODE_MEMORY : MODE_LOCAL, name,
             path, NULL, opts, err)) != 0)
        return rc;
    if ((rc = open_inner(b, path, opts, err)) != 0) {
        ls_free(&b->parent);
        return rc;
    }
    return finish_open(out, b, err);
}

int
mts_libsql_open_local(mts_storage **out,
                      const char *path,
                      const char *name,
                      mts_error *err)
{
    return mts_libsql_open_local_ex(out, path, name, NULL, err);
}

int
mts_libsql_open_memory(mts_storage **out, const char *name, mts_error *err)
{
    if (out == NULL)
        return mts__err(err, MTS_EINVAL, "libsql: NULL argument");
    return mts_libsql_open_local_ex(out, ":memory:", name, NULL, err);
}

int
mts_libsql_open_remote_ex(mts_storage **out,
                          const char *url,
                          const char *auth_token,
                          const char *name,
                          const mts_libsql_options *opts,
                          mts_error *err)
{
    libsql_backend *b;
    mts__hrana *h;
    int rc;
    if (out == NULL || url == NULL)
        return mts__err(err, MTS_EINVAL, "libsql: NULL argument");
    *out = NULL;
    if ((rc = check_options(opts, err)) != 0)
        return rc;
    if ((rc = mts__hrana_new(&h, url, auth_token, err)) != 0)
        return rc;
    if ((rc = new_backend(&b, MODE_REMOTE, name, mts__hrana_url(h), NULL, opts,
                          err)) != 0) {
        mts__hrana_free(h);
        return rc;
    }
    b->remote = h;
    return finish_open(out, b, err);
}

int
mts_libsql_open_remote(mts_storage **out,
                       const char *url,
                       const char *auth_token,
                       const char *name,
                       mts_error *err)
{
    return mts_libsql_open_remote_ex(out, url, auth_token, name, NULL, err);
}

int
mts_libsql_open_replica_ex(mts_storage **out,
                           const char *path,
                           const char *url,
                           const char *auth_token,
                           const char *name,
                           const mts_libsql_options *opts,
                           mts_error *err)
{
    libsql_backend *b;
    mts__hrana *h;
    int rc;
    if (out == NULL || path == NULL || url == NULL)
        return mts__err(err, MTS_EINVAL, "libsql: NULL argument");
    *out = NULL;
    if (path[0] == '\0' || strcmp(path, ":memory:") == 0)
        return mts__err(err, MTS_EINVAL, "libsql: a replica needs a file path");
    if ((rc = check_options(opts, err)) != 0)
        return rc;
    if ((rc = mts__hrana_new(&h, url, auth_token, err)) != 0)
        return rc;
    if ((rc = new_backend(&b, MODE_REPLICA, name, path, mts__hrana_url(h), opts,
                          err)) != 0) {
        mts__hrana_free(h);
        return rc;
    }
    b->remote = h;
    if ((rc = open_inner(b, path, opts, err)) != 0) {
        ls_free(&b->parent);
        return rc;
    }
    return finish_open(out, b, err);
}

int
mts_libsql_open_replica(mts_storage **out,
                        const char *path,
                        const char *url,
                        const char *auth_token,
                        const char *name,
                        mts_error *err)
{
    return mts_libsql_open_replica_ex(out, path, url, auth_token, name, NULL,
                                      err);
}

/* The libSQL backend behind a handle, or NULL. */
static libsql_backend *
backend_of(mts_storage *st)
{
    mts_backend *be = st != NULL ? mts_storage_backend(st) : NULL;
    return be != NULL && be->free == ls_free ? (libsql_backend *)be : NULL;
}

int
mts_libsql_sync(mts_storage *st, mts_error *err)
{
    libsql_backend *b = backend_of(st);
    int rc;
    if (b == NULL)
        return mts__err(err, MTS_EINVAL, "libsql: sync: not a libsql handle");
    if (b->mode != MODE_REPLICA)
        return mts__err(err, MTS_EINVAL,
                        "libsql: sync: %s is not a replica "
                        "(mts_libsql_open_replica)",
                        b->display);
    mts__storage_lock(st);
    rc = replica_pull(b, err);
    mts__storage_unlock(st);
    return rc;
}

int
mts_libsql_rekey(mts_storage *st, mts_secret *new_secret, mts_error *err)
{
    libsql_backend *b = backend_of(st);
    int rc = 0;
    if (b == NULL)
        return mts__err(err, MTS_EINVAL, "libsql: rekey: not a libsql handle");
    mts__storage_lock(st);
    if (b->remote != NULL) {
        rc = ensure_schema(b, 1, NULL, err);
        for (int attempt = 0; rc == 0 && attempt < 3; attempt++) {
            int changed = 0;
            rc = remote_reseal(b, new_secret, 0, "rekey", &changed, err);
            if (rc == 0 || !changed)
                break;
            if (attempt < 2)
                rc = 0; /* someone wrote in between: read and try again */
        }
    }
    if (rc == 0 && b->local != NULL) {
        rc = mts_sqlite_rekey(b->local, new_secret, err);
        if (rc != 0 && b->mode == MODE_REPLICA) {
            /* the server has the new seal: take it from there next time */
            b->secret = new_secret;
            rc = local_failed(b, rc, err);
            mts__storage_unlock(st);
            return rc;
        }
    }
    if (rc == 0)
        b->secret = new_secret;
    mts__storage_unlock(st);
    return rc;
}

int
mts__libsql_tune(mts_storage *st, const mts__hrana_tuning *t, mts_error *err)
{
    libsql_backend *b = backend_of(st);
    if (b == NULL || b->remote == NULL)
        return mts__err(err, MTS_EINVAL,
                        "libsql: tune: not a remote or replica handle");
    mts__storage_lock(st);
    mts__hrana_tune(b->remote, t);
    mts__storage_unlock(st);
    return 0;
}
