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
 * Thread-safety: calls are serialised by the storage handle's lock; the
 * inner SQLite handle has its own lock, always taken after this one.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

#include "hrana.h"
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

/* ---- remote: operations -------------------------------------------------- */

static int
emit_step(mts__sql_stmt stmt,
          const mts__sqlv *params,
          size_t nparams,
          void *payload)
{
    return mts__hrana_tx_add(payload, mts__sql_text[stmt], params, nparams, 0);
}

/* One write operation: what to emit into the transaction. */
typedef struct write_op {
    enum { OP_SAVE, OP_DELETE, OP_UPDATE, OP_DC, OP_HOME, OP_PEER } kind;
    const mts_session *s;
    const mts_update_change *change;
    const mts_dc *dc;
    const mts_peer *peer;
    int32_t home;
} write_op;

static int
emit_op(const libsql_backend *b, const write_op *op, mts__hrana_tx *tx)
{
    switch (op->kind) {
    case OP_SAVE:
        return mts__sql_emit_save(b->name, op->s, MTS__SQL_EMIT_REPLACE,
                                  emit_step, tx);
    case OP_DELETE:
        return mts__sql_emit_delete(b->name, emit_step, tx);
    case OP_UPDATE:
        return mts__sql_emit_update(b->name, op->change, emit_step, tx);
    case OP_DC:
        return mts__sql_emit_dc(b->name, op->dc, emit_step, tx);
    case OP_HOME:
        return mts__sql_emit_home(b->name, op->home, emit_step, tx);
    case OP_PEER:
        return mts__sql_emit_peer(b->name, op->peer, emit_step, tx);
    }
    return MTS_EINVAL;
}

static int
remote_write(libsql_backend *b, const write_op *op, mts_error *err)
{
    mts__hrana_tx *tx;
    int rc;
    if ((rc = ensure_schema(b, 1, NULL, err)) != 0)
        return rc;
    if (mts__hrana_tx_new(&tx, 1) != 0)
        return mts__err_oom(err);
    if ((rc = emit_op(b, op, tx)) != 0) {
        mts__hrana_tx_free(tx);
        if (rc == MTS_ENOMEM)
            return mts__err_oom(err);
        return mts__err(err, rc, "%s: a text value is not valid UTF-8",
                        b->display);
    }
    return run_tx(b, tx, NULL, err);
}

/* Statements of a load, in order, and the rows they give. */
static const mts__sql_stmt load_stmts[] = {
    MTS__SQL_SESSION_GET, MTS__SQL_DC_LIST, MTS__SQL_CHANNEL_LIST,
    MTS__SQL_PEER_LIST, MTS__SQL_MIN_PEER_LIST
};
static const size_t load_ncols[] = { MTS__SQL_SESSION_NCOLS, MTS__SQL_DC_NCOLS,
                                     MTS__SQL_CHANNEL_NCOLS,
                                     MTS__SQL_PEER_NCOLS,
                                     MTS__SQL_MIN_PEER_NCOLS };

#define LOAD_MAX_COLS 16
_Static_assert(MTS__SQL_SESSION_NCOLS <= LOAD_MAX_COLS &&
                   MTS__SQL_DC_NCOLS <= LOAD_MAX_COLS &&
                   MTS__SQL_PEER_NCOLS <= LOAD_MAX_COLS,
               "a load row fits in LOAD_MAX_COLS values");

static int
add_row(mts_session *s,
        const char *name,
        size_t table,
        const mts__sqlv *c,
        size_t n,
        mts_error *err)
{
    switch (table) {
    case 0:
        return mts__sql_session_from_row(s, name, c, n, err);
    case 1:
        return mts__sql_dc_from_row(s, c, n, err);
    case 2:
        return mts__sql_channel_from_row(s, c, n, err);
    case 3:
        return mts__sql_peer_from_row(s, c, n, err);
    default:
        return mts__sql_min_peer_from_row(s, c, n, err);
    }
}

/* The whole session from one read transaction (a consistent snapshot). */
static int
remote_load(mts_session **out, libsql_backend *b, mts_error *err)
{
    mts__sqlv p = { MTS__SQL_TEXT, 0, b->name, strlen(b->name) };
    mts__sqlv cols[LOAD_MAX_COLS];
    mts__hrana_tx *tx;
    mts__hrana_res *res = NULL;
    mts_session *s = NULL;
    int rc, empty;

    if ((rc = ensure_schema(b, 0, &empty, err)) != 0)
        return rc;
    if (empty)
        return MTS_ENOTFOUND;
    if (mts__hrana_tx_new(&tx, 0) != 0)
        return mts__err_oom(err);
    for (size_t i = 0; i < MTS__ARRAY_LEN(load_stmts); i++)
        if (mts__hrana_tx_add(tx, mts__sql_text[load_stmts[i]], &p, 1, 1)) {
            mts__hrana_tx_free(tx);
            return mts__err_oom(err);
        }
    if ((rc = run_tx(b, tx, &res, err)) != 0)
        return rc;
    if (mts__hrana_res_rows(res, 0) == 0) {
        mts__hrana_res_free(res);
        return MTS_ENOTFOUND;
    }
    if (mts_session_new(&s, MTS_NEW_EMPTY) != 0) {
        mts__hrana_res_free(res);
        return mts__err_oom(err);
    }
    for (size_t t = 0; rc == 0 && t < MTS__ARRAY_LEN(load_stmts); t++) {
        size_t rows = mts__hrana_res_rows(res, t);
        if (t == 0 && rows > 1)
            rows = 1; /* the primary key makes it one */
        for (size_t r = 0; rc == 0 && r < rows; r++) {
            rc = mts__hrana_res_row(cols, load_ncols[t], res, t, r, err);
            if (rc == 0)
                rc = add_row(s, b->name, t, cols, load_ncols[t], err);
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
        rc = mts_storage_save(b->local, s, err);
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
        rc = mts_storage_save(b->local, op->s, err);
        break;
    case OP_DELETE:
        rc = mts_storage_delete(b->local, err);
        break;
    case OP_UPDATE:
        rc = mts_storage_apply_update_state(b->local, op->change, err);
        break;
    case OP_DC:
        rc = mts_storage_update_dc(b->local, op->dc, err);
        break;
    case OP_HOME:
        rc = mts_storage_set_home_dc(b->local, op->home, err);
        break;
    case OP_PEER:
        rc = mts_storage_cache_peer(b->local, op->peer, err);
        break;
    default:
        rc = MTS_EINVAL;
    }
    return rc != 0 ? local_failed(b, rc, err) : 0;
}

static int
ls_save(mts_backend *be, const mts_session *s, mts_error *err)
{
    write_op op = { OP_SAVE, s, NULL, NULL, NULL, 0 };
    return do_write((libsql_backend *)be, &op, err);
}

static int
ls_del(mts_backend *be, mts_error *err)
{
    write_op op = { OP_DELETE, NULL, NULL, NULL, NULL, 0 };
    return do_write((libsql_backend *)be, &op, err);
}

static int
ls_apply(mts_backend *be, const mts_update_change *c, mts_error *err)
{
    write_op op = { OP_UPDATE, NULL, c, NULL, NULL, 0 };
    return do_write((libsql_backend *)be, &op, err);
}

static int
ls_update_dc(mts_backend *be, const mts_dc *dc, mts_error *err)
{
    write_op op = { OP_DC, NULL, NULL, dc, NULL, 0 };
    return do_write((libsql_backend *)be, &op, err);
}

static int
ls_set_home(mts_backend *be, int32_t dc_id, mts_error *err)
{
    write_op op = { OP_HOME, NULL, NULL, NULL, NULL, dc_id };
    return do_write((libsql_backend *)be, &op, err);
}

static int
ls_cache_peer(mts_backend *be, const mts_peer *p, mts_error *err)
{
    write_op op = { OP_PEER, NULL, NULL, NULL, p, 0 };
    return do_write((libsql_backend *)be, &op, err);
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
    return mts_storage_load(out, b->local, err);
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
    mts_free(b);
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
    b->parent.free = ls_free;
    if ((rc = mts_storage_wrap(out, &b->parent, err)) != 0)
        ls_free(&b->parent);
    return rc;
}

/* Allocate a backend for session `name` (NULL: the default), displayed as
 * "libsql:<a>#<name>", or "libsql:<a> (replica of <b2>)#<name>". */
static int
new_backend(libsql_backend **out,
            libsql_mode mode,
            const char *name,
            const char *a,
            const char *b2,
            mts_error *err)
{
    libsql_backend *b;
    size_t n;
    int rc;
    if (name == NULL)
        name = MTS__SQL_DEFAULT_NAME;
    if ((rc = mts__sql_check_name(name, err)) != 0)
        return rc;
    b = mts__calloc(1, sizeof(*b));
    if (b == NULL)
        return mts__err_oom(err);
    b->mode = mode;
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

int
mts_libsql_open_local(mts_storage **out,
                      const char *path,
                      const char *name,
                      mts_error *err)
{
    libsql_backend *b;
    int rc;
    if (out == NULL || path == NULL)
        return mts__err(err, MTS_EINVAL, "libsql: NULL argument");
    *out = NULL;
    if (path[0] == '\0')
        return mts__err(err, MTS_EINVAL, "libsql: empty path");
    if ((rc = new_backend(&b, MODE_LOCAL, name, path, NULL, err)) != 0)
        return rc;
    if ((rc = mts_sqlite_open(&b->local, path, b->name, err)) != 0) {
        ls_free(&b->parent);
        return rc;
    }
    return finish_open(out, b, err);
}

int
mts_libsql_open_memory(mts_storage **out, const char *name, mts_error *err)
{
    libsql_backend *b;
    int rc;
    if (out == NULL)
        return mts__err(err, MTS_EINVAL, "libsql: NULL argument");
    *out = NULL;
    if ((rc = new_backend(&b, MODE_MEMORY, name, ":memory:", NULL, err)))
        return rc;
    if ((rc = mts_sqlite_open_memory(&b->local, b->name, err)) != 0) {
        ls_free(&b->parent);
        return rc;
    }
    return finish_open(out, b, err);
}

int
mts_libsql_open_remote(mts_storage **out,
                       const char *url,
                       const char *auth_token,
                       const char *name,
                       mts_error *err)
{
    libsql_backend *b;
    mts__hrana *h;
    int rc;
    if (out == NULL || url == NULL)
        return mts__err(err, MTS_EINVAL, "libsql: NULL argument");
    *out = NULL;
    if ((rc = mts__hrana_new(&h, url, auth_token, err)) != 0)
        return rc;
    if ((rc = new_backend(&b, MODE_REMOTE, name, mts__hrana_url(h), NULL,
                          err)) != 0) {
        mts__hrana_free(h);
        return rc;
    }
    b->remote = h;
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
    libsql_backend *b;
    mts__hrana *h;
    int rc;
    if (out == NULL || path == NULL || url == NULL)
        return mts__err(err, MTS_EINVAL, "libsql: NULL argument");
    *out = NULL;
    if (path[0] == '\0' || strcmp(path, ":memory:") == 0)
        return mts__err(err, MTS_EINVAL, "libsql: a replica needs a file path");
    if ((rc = mts__hrana_new(&h, url, auth_token, err)) != 0)
        return rc;
    if ((rc = new_backend(&b, MODE_REPLICA, name, path, mts__hrana_url(h),
                          err)) != 0) {
        mts__hrana_free(h);
        return rc;
    }
    b->remote = h;
    if ((rc = mts_sqlite_open(&b->local, path, b->name, err)) != 0) {
        ls_free(&b->parent);
        return rc;
    }
    return finish_open(out, b, err);
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
