/*
 * sqlite.c - the SQLite backend: many named sessions in one database file.
 *
 * Format: the schema in sql_schema.c (docs/SQL.md), one row per DC entry,
 * channel pts, peer and min peer, keyed by the session's name; the schema
 * version is PRAGMA user_version, checked and migrated at open.
 *
 * Writes: every write is one BEGIN IMMEDIATE transaction, committed or
 * rolled back as a whole, and stamps the session's row with a new random
 * rev. A save of the session object this handle last saved or loaded, when
 * nobody else wrote since (the stored rev is still the one the handle
 * wrote or read, and PRAGMA data_version shows no other connection's
 * commit: not even a program that edits rows without touching rev), writes
 * only what changed since (the model's change tracking plus the rows this
 * handle's granular changes touched);
 * any other save reads the stored keys, deletes the rows the snapshot does
 * not have and upserts the rest (an unchanged row is not rewritten).
 * Granular changes are single-row upserts. Values are stored exactly as
 * given. save_if (optimistic mode) is a save whose transaction first
 * checks that rev is still the expected one, and always stamps a new rev.
 *
 * Sealed columns: with a secret the session's seal row is read in every
 * transaction (a cheap key lookup); the column key is derived once per
 * seal row and kept, wiped at free.
 *
 * Reads: load runs in one read transaction (a consistent snapshot) and
 * checks every row against the model: a bad row is MTS_ECORRUPT naming the
 * table, the row and the column.
 *
 * Concurrency: the database runs in WAL mode, so readers never wait for
 * the writer. Writers from other handles, threads or processes wait in a
 * busy handler (randomised backoff, MTS__SQLITE_BUSY_MS in total) rather
 * than fail; MTS_ELOCKED is returned only when that time runs out. Every
 * statement is reset after every step, failed or not, so a statement that
 * hit SQLITE_BUSY never stays active and never holds a transaction open.
 *
 * Files: the database file is created here, 0600 whatever the umask;
 * SQLite gives its -wal and -shm files the database's mode, and open
 * checks them again.
 *
 * Leases: one row per session name in the leases table (owner, epoch,
 * expires_ms), read and written inside BEGIN IMMEDIATE transactions, so
 * every decision is taken under the database's write lock. SQLite has no
 * server: "now" is this host's CLOCK_REALTIME, read after the write lock
 * is held. Every write transaction checks the row before writing
 * (fence_check): a holder's write needs its owner, its epoch and an
 * unexpired row (else MTS_EFENCED, rolled back); a write of a handle
 * without a lease is refused while anyone's lease is live (MTS_ELOCKED).
 * An in-memory database has no other process: no leases there.
 *
 * Thread-safety: one connection per handle, used under the handle's lock
 * (storage.c), so the connection runs in SQLite's multi-thread mode.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lease_text.h"
#include "sql_schema.h"

/* How long a write waits for another writer before MTS_ELOCKED. */
#define MTS__SQLITE_BUSY_MS 5000

typedef struct sqlite_backend {
    mts_backend parent; /* must be first */
    sqlite3 *db;
    sqlite3_stmt *stmt[MTS__SQL_STMT_COUNT]; /* prepared on first use */
    char *path;
    char *name;    /* the session's name */
    char *display; /* "sqlite:<path>#<name>" */
    int memory;
    mts_secret *secret; /* borrowed; NULL: no key */
    /* The session's seal row as last read, and its opened key. */
    int seal_cached;
    mts__sql_seal_row seal_row;
    mts__sql_seal seal;
    /* The base of incremental saves (what this handle last saved or
     * loaded, and the rows its granular changes wrote since), and the rev
     * it left in the store. */
    mts__sql_base base;
    int64_t base_rev;
    /* PRAGMA data_version as of this handle's last transaction */
    int dv_known;
    int64_t dv;
    /* the lease this handle holds (or held, when it was lost) */
    int leased;
    char owner[MTS_LEASE_OWNER_MAX + 1];
    uint64_t epoch;
    /* busy handler state: the current wait */
    struct timespec busy_start;
    int64_t busy_waited_ms;
    uint64_t rng;
} sqlite_backend;

/* ---- errors ------------------------------------------------------------ */

static int
map_code(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_NOMEM:
        return MTS_ENOMEM;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_FULL:
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_NOLFS:
    case SQLITE_PROTOCOL:
        return MTS_EIO;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return MTS_ECORRUPT;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return MTS_ELOCKED;
    default:
        return MTS_EBACKEND;
    }
}

/* Fill err from a failed SQLite call: the mapped code, the extended result
 * code as native, SQLite's message. Call before anything resets it. */
static int
sq_fail(sqlite_backend *b, mts_error *err, int rc, const char *what)
{
    int code = map_code(rc);
    const char *msg = b->db ? sqlite3_errmsg(b->db) : sqlite3_errstr(rc);
    if (code == MTS_ENOMEM && err == NULL)
        return code;
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        return mts__err_native(err, code, rc,
                               "%s: %s: %s (another connection kept the "
                               "database locked for %lld ms)",
                               b->display, what, msg,
                               (long long)b->busy_waited_ms);
    return mts__err_native(err, code, rc, "%s: %s: %s", b->display, what, msg);
}

/* ---- busy handler ------------------------------------------------------ */

static int64_t
ms_between(const struct timespec *a, const struct timespec *z)
{
    return (int64_t)(z->tv_sec - a->tv_sec) * 1000 +
           (int64_t)(z->tv_nsec - a->tv_nsec) / 1000000;
}

static uint64_t
next_random(sqlite_backend *b)
{
    /* xorshift64: jitter only, not security. */
    b->rng ^= b->rng << 13;
    b->rng ^= b->rng >> 7;
    b->rng ^= b->rng << 17;
    return b->rng;
}

/*
 * Called by SQLite when a lock is held elsewhere; count is 0 on the first
 * call of a wait. Sleeps a random 50..100% of a delay that doubles from
 * 0.1 ms to 12.8 ms, so waiting writers do not wake in step, until the
 * wait has lasted MTS__SQLITE_BUSY_MS; then gives up (SQLITE_BUSY).
 */
static int
busy_handler(void *arg, int count)
{
    sqlite_backend *b = arg;
    struct timespec now, nap;
    int64_t waited, max_us, us, left_us;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (count == 0)
        b->busy_start = now;
    waited = ms_between(&b->busy_start, &now);
    b->busy_waited_ms = waited;
    if (waited >= MTS__SQLITE_BUSY_MS)
        return 0;
    max_us = (int64_t)100 << (count < 7 ? count : 7);
    us = max_us / 2 + (int64_t)(next_random(b) % (uint64_t)(max_us / 2 + 1));
    left_us = ((int64_t)MTS__SQLITE_BUSY_MS - waited) * 1000;
    if (us > left_us)
        us = left_us;
    nap.tv_sec = (time_t)(us / 1000000);
    nap.tv_nsec = (long)(us % 1000000) * 1000;
    while (nanosleep(&nap, &nap) != 0 && errno == EINTR)
        ;
    return 1;
}

/* ---- statements -------------------------------------------------------- */

static int
get_stmt(sqlite3_stmt **out,
         sqlite_backend *b,
         mts__sql_stmt id,
         mts_error *err)
{
    if (b->stmt[id] == NULL) {
        int rc =
            sqlite3_prepare_v3(b->db, mts__sql_text[id], -1,
                               SQLITE_PREPARE_PERSISTENT, &b->stmt[id], NULL);
        if (rc != SQLITE_OK) {
            b->stmt[id] = NULL;
            return sq_fail(b, err, rc, mts__sql_label[id]);
        }
    }
    *out = b->stmt[id];
    return 0;
}

static int
bind_all(sqlite_backend *b,
         mts__sql_stmt id,
         sqlite3_stmt *st,
         const mts__sqlv *p,
         size_t n,
         mts_error *err)
{
    if ((int)n != sqlite3_bind_parameter_count(st))
        return mts__err(err, MTS_EBACKEND,
                        "%s: %s: takes %d parameters, given %zu", b->display,
                        mts__sql_label[id], sqlite3_bind_parameter_count(st),
                        n);
    for (size_t i = 0; i < n; i++) {
        int col = (int)i + 1, rc;
        if ((p[i].type == MTS__SQL_TEXT || p[i].type == MTS__SQL_BLOB) &&
            p[i].n > (size_t)INT_MAX)
            return mts__err(err, MTS_ELIMIT, "%s: %s: parameter %d too large",
                            b->display, mts__sql_label[id], col);
        switch (p[i].type) {
        case MTS__SQL_INT:
            rc = sqlite3_bind_int64(st, col, p[i].i);
            break;
        case MTS__SQL_TEXT:
            rc = sqlite3_bind_text(st, col, p[i].p, (int)p[i].n, SQLITE_STATIC);
            break;
        case MTS__SQL_BLOB:
            rc = p[i].n == 0 ? sqlite3_bind_zeroblob(st, col, 0)
                             : sqlite3_bind_blob(st, col, p[i].p, (int)p[i].n,
                                                 SQLITE_STATIC);
            break;
        default:
            rc = sqlite3_bind_null(st, col);
            break;
        }
        if (rc != SQLITE_OK)
            return sq_fail(b, err, rc, mts__sql_label[id]);
    }
    return 0;
}

/* Called for each result row with its columns. */
typedef int (*row_fn)(const mts__sqlv *cols,
                      size_t ncols,
                      void *payload,
                      mts_error *err);

#define MTS__SQLITE_MAX_COLS 16

/*
 * Run one statement to completion: bind, step until done (each row to fn
 * when given), then always reset and clear the bindings, on success and on
 * failure, so no statement stays active between calls.
 */
static int
run(sqlite_backend *b,
    mts__sql_stmt id,
    const mts__sqlv *params,
    size_t n,
    row_fn fn,
    void *payload,
    mts_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = get_stmt(&st, b, id, err), src;
    if (rc != 0)
        return rc;
    if ((rc = bind_all(b, id, st, params, n, err)) != 0)
        goto done;
    b->busy_waited_ms = 0;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        mts__sqlv cols[MTS__SQLITE_MAX_COLS];
        int nc = sqlite3_column_count(st);
        if (fn == NULL)
            continue;
        if (nc > MTS__SQLITE_MAX_COLS)
            nc = MTS__SQLITE_MAX_COLS;
        for (int i = 0; i < nc; i++) {
            mts__sqlv *v = &cols[i];
            memset(v, 0, sizeof(*v));
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_INTEGER:
                v->type = MTS__SQL_INT;
                v->i = sqlite3_column_int64(st, i);
                break;
            case SQLITE_TEXT:
                v->type = MTS__SQL_TEXT;
                v->p = sqlite3_column_text(st, i);
                v->n = (size_t)sqlite3_column_bytes(st, i);
                break;
            case SQLITE_BLOB:
                v->type = MTS__SQL_BLOB;
                v->p = sqlite3_column_blob(st, i);
                v->n = (size_t)sqlite3_column_bytes(st, i);
                break;
            case SQLITE_FLOAT:
                v->type = MTS__SQL_REAL;
                break;
            default:
                v->type = MTS__SQL_NULL;
                break;
            }
            if (v->p == NULL && v->n > 0) {
                rc = mts__err_oom(err);
                goto done;
            }
            if (v->type == MTS__SQL_TEXT && v->p == NULL &&
                sqlite3_errcode(b->db) == SQLITE_NOMEM) {
                rc = mts__err_oom(err);
                goto done;
            }
        }
        if ((rc = fn(cols, (size_t)nc, payload, err)) != 0)
            goto done;
    }
    if (src != SQLITE_DONE)
        rc = sq_fail(b, err, src, mts__sql_label[id]);
done:
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

typedef struct emit_ctx {
    sqlite_backend *b;
    mts_error *err;
} emit_ctx;

static int
emit_run(mts__sql_stmt stmt, const mts__sqlv *params, size_t n, void *payload)
{
    emit_ctx *x = payload;
    return run(x->b, stmt, params, n, NULL, NULL, x->err);
}

/* A statement without parameters or rows (transaction control, PRAGMA). */
static int
run0(sqlite_backend *b, mts__sql_stmt id, mts_error *err)
{
    return run(b, id, NULL, 0, NULL, NULL, err);
}

static int
begin_write(sqlite_backend *b, mts_error *err)
{
    return run0(b, MTS__SQL_BEGIN_WRITE, err);
}

/* End a transaction: COMMIT when rc is 0, otherwise (or if COMMIT fails)
 * ROLLBACK, keeping the first error in err. Returns the final code. */
static int
end_tx(sqlite_backend *b, int rc, mts_error *err)
{
    if (rc == 0)
        rc = run0(b, MTS__SQL_COMMIT, err);
    if (rc != 0 && !sqlite3_get_autocommit(b->db))
        (void)run0(b, MTS__SQL_ROLLBACK, NULL);
    return rc;
}

/* ---- small reads ------------------------------------------------------- */

static mts__sqlv
name_param(const sqlite_backend *b)
{
    return mts__sqlv_text(b->name);
}

typedef struct int_row {
    int found;
    int64_t v;
} int_row;

static int
row_int(const mts__sqlv *c, size_t n, void *payload, mts_error *err)
{
    int_row *x = payload;
    (void)err;
    if (n >= 1 && c[0].type == MTS__SQL_INT) {
        x->found = 1;
        x->v = c[0].i;
    }
    return 0;
}

/* The session's rev; *found 0 when it has no row. */
static int
read_rev(sqlite_backend *b, int *found, int64_t *rev, mts_error *err)
{
    mts__sqlv key = name_param(b);
    int_row x = { 0, 0 };
    int rc = run(b, MTS__SQL_SESSION_REV, &key, 1, row_int, &x, err);
    *found = x.found;
    *rev = x.v;
    return rc;
}

typedef struct seal_read {
    sqlite_backend *b;
    mts__sql_seal_row row;
    int seen;
} seal_read;

static int
row_seal(const mts__sqlv *c, size_t n, void *payload, mts_error *err)
{
    seal_read *x = payload;
    x->seen = 1;
    return mts__sql_seal_row_from(&x->row, x->b->name, c, n, err);
}

/*
 * Inside a transaction: the seal the session's secret columns use now,
 * *out NULL when it has no seal row. A sealed session needs the handle's
 * secret (MTS_EENCRYPTED without one, MTS_EBADKEY when it does not open
 * the check value). The key is derived only when the row differs from the
 * one last seen.
 */
static int
seal_current(sqlite_backend *b, const mts__sql_seal **out, mts_error *err)
{
    mts__sqlv key = name_param(b);
    seal_read x;
    mts__sql_seal seal;
    int rc;
    memset(&x, 0, sizeof(x));
    x.b = b;
    *out = NULL;
    if ((rc = run(b, MTS__SQL_SEAL_GET, &key, 1, row_seal, &x, err)) != 0) {
        if (rc == MTS_ECORRUPT || rc == MTS_EVERSION)
            mts__err_prefix(err, "%s", b->display);
        return rc;
    }
    if (!x.row.present) {
        b->seal_row = x.row;
        b->seal_cached = 1;
        return 0;
    }
    if (b->seal_cached && b->seal_row.present &&
        mts__sql_seal_row_same(&x.row, &b->seal_row)) {
        *out = &b->seal;
        return 0;
    }
    b->seal_cached = 0;
    if ((rc = mts__sql_seal_open(&seal, &x.row, b->name, b->secret, err))) {
        mts__err_prefix(err, "%s", b->display);
        return rc;
    }
    b->seal = seal;
    b->seal_row = x.row;
    b->seal_cached = 1;
    mts__wipe(&seal, sizeof(seal));
    *out = &b->seal;
    return 0;
}

/* ---- leases ------------------------------------------------------------ */

/* A lease row as stored. */
typedef struct lease_row {
    int found;
    mts_lease l;
} lease_row;

static int
row_lease(const mts__sqlv *c, size_t n, void *payload, mts_error *err)
{
    lease_row *x = payload;
    size_t len;
    (void)err;
    if (n < 3 || c[0].type != MTS__SQL_TEXT || c[1].type != MTS__SQL_INT ||
        c[2].type != MTS__SQL_INT)
        return mts__err(err, MTS_ECORRUPT,
                        "table leases: a row with a wrong column type");
    len = c[0].n < MTS_LEASE_OWNER_MAX ? c[0].n : MTS_LEASE_OWNER_MAX;
    memcpy(x->l.owner, c[0].p, len);
    x->l.owner[len] = '\0';
    x->l.epoch = (uint64_t)c[1].i;
    x->l.expires_ms = c[2].i;
    x->found = 1;
    return 0;
}

/* This host's wall clock in Unix ms: the lease clock of an SQLite store. */
static int64_t
lease_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Inside a transaction: the session's lease row and the time now. */
static int
read_lease(sqlite_backend *b, lease_row *x, int64_t *now, mts_error *err)
{
    mts__sqlv key = name_param(b);
    int rc;
    memset(x, 0, sizeof(*x));
    rc = run(b, MTS__SQL_LEASE_GET, &key, 1, row_lease, x, err);
    if (rc == MTS_ECORRUPT && err != NULL && err->native == 0)
        mts__err_prefix(err, "%s", b->display);
    *now = lease_now();
    x->l.version = MTS_LEASE_VERSION;
    x->l.held = x->found && x->l.expires_ms > *now;
    return rc;
}

static int
write_lease(sqlite_backend *b, const char *owner, uint64_t epoch,
            int64_t expires_ms, mts_error *err)
{
    mts__sqlv p[4];
    p[0] = name_param(b);
    p[1] = mts__sqlv_text(owner);
    p[2] = mts__sqlv_int((int64_t)epoch);
    p[3] = mts__sqlv_int(expires_ms);
    return run(b, MTS__SQL_LEASE_PUT, p, 4, NULL, NULL, err);
}

/* Whether the row is this handle's lease (owner and epoch; live or not). */
static int
lease_ours(const sqlite_backend *b, const lease_row *x)
{
    return x->found && x->l.epoch == b->epoch &&
           strcmp(x->l.owner, b->owner) == 0;
}

/*
 * Inside a write transaction: may this handle write? A holder needs its
 * own live lease (MTS_EFENCED otherwise); a handle without a lease needs
 * nobody's live lease (MTS_ELOCKED naming the holder).
 */
static int
fence_check(sqlite_backend *b, const char *what, mts_error *err)
{
    lease_row x;
    int64_t now;
    int rc = read_lease(b, &x, &now, err);
    if (rc != 0)
        return rc;
    return mts__lease_verdict(err, b->display, what, b->leased, b->owner,
                              b->epoch, x.found ? &x.l : NULL);
}

/* BEGIN IMMEDIATE, then the lease check of a write (rolled back when it
 * refuses: the caller's end_tx does it). */
static int
begin_fenced(sqlite_backend *b, const char *what, mts_error *err)
{
    int rc = begin_write(b, err);
    if (rc == 0)
        rc = fence_check(b, what, err);
    return rc;
}

static int
lease_acquire(sqlite_backend *b, const char *owner, uint32_t ttl_ms,
              mts_lease *info, mts_error *err)
{
    lease_row x;
    int64_t now = 0;
    uint64_t epoch = 1;
    int rc = begin_write(b, err);
    if (rc == 0)
        rc = read_lease(b, &x, &now, err);
    if (rc == 0 && x.found) {
        int same = strcmp(x.l.owner, owner) == 0;
        if (x.l.held && !same)
            rc = mts__lease_held(err, b->display, NULL, x.l.owner,
                                 x.l.expires_ms);
        /* a renewal keeps the epoch; any other acquisition raises it */
        epoch = x.l.held && same ? x.l.epoch : x.l.epoch + 1;
    }
    if (rc == 0)
        rc = write_lease(b, owner, epoch, now + (int64_t)ttl_ms, err);
    rc = end_tx(b, rc, err);
    if (rc != 0)
        return rc;
    b->leased = 1;
    snprintf(b->owner, sizeof(b->owner), "%s", owner);
    b->epoch = epoch;
    info->version = MTS_LEASE_VERSION;
    snprintf(info->owner, sizeof(info->owner), "%s", owner);
    info->epoch = epoch;
    info->expires_ms = now + (int64_t)ttl_ms;
    info->held = 1;
    return 0;
}

/* Renew (ttl_ms > 0) or release (ttl_ms 0) the lease this handle holds.
 * As long as nobody took it, an expired lease can still be renewed: the
 * epoch did not change, so nobody else's tenure came in between. */
static int
lease_keep(sqlite_backend *b, uint32_t ttl_ms, mts_lease *info,
           mts_error *err)
{
    const char *what = ttl_ms ? "lease renew" : "lease release";
    lease_row x;
    int64_t now = 0, expires = 0;
    int rc = begin_write(b, err);
    if (rc == 0)
        rc = read_lease(b, &x, &now, err);
    if (rc == 0 && !lease_ours(b, &x))
        rc = mts__lease_fenced(err, b->display, what, b->epoch,
                               x.found ? &x.l : NULL, 0);
    if (rc == 0) {
        expires = ttl_ms ? now + (int64_t)ttl_ms
                         : (x.l.expires_ms < now ? x.l.expires_ms : now);
        rc = write_lease(b, b->owner, b->epoch, expires, err);
    }
    rc = end_tx(b, rc, err);
    if (rc != 0)
        return rc;
    if (ttl_ms == 0) {
        b->leased = 0;
        return 0;
    }
    info->version = MTS_LEASE_VERSION;
    snprintf(info->owner, sizeof(info->owner), "%s", b->owner);
    info->epoch = b->epoch;
    info->expires_ms = expires;
    info->held = 1;
    return 0;
}

static int
lease_show(sqlite_backend *b, mts_lease *info, mts_error *err)
{
    lease_row x;
    int64_t now;
    int rc = run0(b, MTS__SQL_BEGIN_READ, err);
    if (rc == 0)
        rc = read_lease(b, &x, &now, err);
    if (!sqlite3_get_autocommit(b->db))
        (void)run0(b, MTS__SQL_COMMIT, NULL);
    if (!sqlite3_get_autocommit(b->db))
        (void)run0(b, MTS__SQL_ROLLBACK, NULL);
    if (rc != 0)
        return rc;
    if (!x.found)
        return mts__err(err, MTS_ENOTFOUND, "%s: never leased", b->display);
    *info = x.l;
    return 0;
}

static int
sq_lease(mts_backend *be, int op, const char *owner, uint32_t ttl_ms,
         mts_lease *info, mts_error *err)
{
    sqlite_backend *b = (sqlite_backend *)be;
    switch (op) {
    case MTS_LEASE_ACQUIRE:
        return lease_acquire(b, owner, ttl_ms, info, err);
    case MTS_LEASE_RENEW:
    case MTS_LEASE_RELEASE:
        if (!b->leased)
            return mts__err(err, MTS_EINVAL, "%s: this handle holds no lease",
                            b->display);
        return lease_keep(b, op == MTS_LEASE_RENEW ? ttl_ms : 0, info, err);
    case MTS_LEASE_SHOW:
        return lease_show(b, info, err);
    default:
        return mts__err(err, MTS_EINVAL, "lease: unknown operation %d", op);
    }
}

/* ---- load -------------------------------------------------------------- */

typedef struct load_ctx {
    sqlite_backend *b;
    mts_session *s;
    const mts__sql_ctx *cx;
    int found;
} load_ctx;

static int
row_session(const mts__sqlv *c, size_t n, void *payload, mts_error *err)
{
    load_ctx *x = payload;
    if (x->found)
        return mts__err(err, MTS_ECORRUPT, "table sessions: name repeated");
    x->found = 1;
    return mts__sql_session_from_row(x->s, x->cx, c, n, err);
}

static int
row_dc(const mts__sqlv *c, size_t n, void *payload, mts_error *err)
{
    load_ctx *x = payload;
    return mts__sql_dc_from_row(x->s, x->cx, c, n, err);
}

static int
row_channel(const mts__sqlv *c, size_t n, void *payload, mts_error *err)
{
    return mts__sql_channel_from_row(((load_ctx *)payload)->s, c, n, err);
}

static int
row_peer(const mts__sqlv *c, size_t n, void *payload, mts_error *err)
{
    return mts__sql_peer_from_row(((load_ctx *)payload)->s, c, n, err);
}

static int
row_min_peer(const mts__sqlv *c, size_t n, void *payload, mts_error *err)
{
    return mts__sql_min_peer_from_row(((load_ctx *)payload)->s, c, n, err);
}

/* Read the session inside the current transaction (MTS_ENOTFOUND when it
 * has no sessions row), its secret columns opened with `seal`. */
static int
load_rows(sqlite_backend *b,
          const mts__sql_seal *seal,
          mts_session **out,
          int64_t *rev,
          mts_error *err)
{
    mts__sqlv key = name_param(b);
    mts__sql_ctx cx = { b->name, 0, seal };
    load_ctx x = { b, NULL, &cx, 0 };
    static const struct {
        mts__sql_stmt stmt;
        row_fn fn;
    } tables[] = {
        { MTS__SQL_DC_LIST, row_dc },
        { MTS__SQL_CHANNEL_LIST, row_channel },
        { MTS__SQL_PEER_LIST, row_peer },
        { MTS__SQL_MIN_PEER_LIST, row_min_peer },
    };
    int found = 0, rc;

    if (mts_session_new(&x.s, MTS_NEW_EMPTY) != 0)
        return mts__err_oom(err);
    rc = run(b, MTS__SQL_SESSION_GET, &key, 1, row_session, &x, err);
    if (rc == 0 && !x.found)
        rc = MTS_ENOTFOUND;
    if (rc == 0)
        rc = read_rev(b, &found, rev, err);
    for (size_t i = 0; rc == 0 && i < MTS__ARRAY_LEN(tables); i++)
        rc = run(b, tables[i].stmt, &key, 1, tables[i].fn, &x, err);
    if (rc == MTS_ECORRUPT && err != NULL && err->native == 0)
        mts__err_prefix(err, "%s", b->display);
    if (rc != 0) {
        mts_session_free(x.s);
        return rc;
    }
    *out = x.s;
    return 0;
}

/* Inside a transaction: if another connection committed since this
 * handle's last transaction (it may have written the session, with or
 * without a new rev), the base no longer describes the store. */
static int
check_others(sqlite_backend *b, mts_error *err)
{
    int_row x = { 0, 0 };
    int rc = run(b, MTS__SQL_DATA_VERSION, NULL, 0, row_int, &x, err);
    if (rc != 0)
        return rc;
    if (!b->dv_known || !x.found || x.v != b->dv)
        mts__sql_base_forget(&b->base);
    b->dv_known = x.found;
    b->dv = x.v;
    return 0;
}

/* The store now holds `s` as of its current generation, with `rev`. */
static void
set_base(sqlite_backend *b, const mts_session *s, int64_t rev)
{
    mts__sql_base_set(&b->base, s);
    b->base_rev = rev;
}

/* The revision optimistic mode reports for a stored rev (0: 2^63). */
#define api_rev mts__sql_api_rev

/* Load in one read transaction; out NULL: the revision alone (*rev, the
 * stored rev, as api_rev maps it; 0 when nothing is stored). */
static int
load_tx(mts_session **out, uint64_t *api, sqlite_backend *b, mts_error *err)
{
    const mts__sql_seal *seal = NULL;
    mts_session *s = NULL;
    int64_t rev = 0;
    int found = 1;
    int rc = run0(b, MTS__SQL_BEGIN_READ, err);
    if (rc == 0)
        rc = check_others(b, err);
    if (rc == 0)
        rc = read_rev(b, &found, &rev, err);
    if (rc == 0 && !found)
        rc = MTS_ENOTFOUND;
    /* out NULL: the revision alone; the base stays as it was */
    if (rc == 0 && out != NULL)
        rc = seal_current(b, &seal, err);
    if (rc == 0 && out != NULL)
        rc = load_rows(b, seal, &s, &rev, err);
    /* A read transaction: end it either way; COMMIT only releases it. */
    if (!sqlite3_get_autocommit(b->db))
        (void)run0(b, MTS__SQL_COMMIT, NULL);
    if (!sqlite3_get_autocommit(b->db))
        (void)run0(b, MTS__SQL_ROLLBACK, NULL);
    if (rc != 0) {
        /* a store that does not load (a damaged row, a seal that does not
         * open): the next save writes everything, repairing it */
        mts__sql_base_forget(&b->base);
        return rc;
    }
    if (api != NULL)
        *api = api_rev(rev);
    if (out == NULL)
        return 0;
    set_base(b, s, rev);
    *out = s;
    return 0;
}

static int
sq_load(mts_session **out, mts_backend *be, mts_error *err)
{
    return load_tx(out, NULL, (sqlite_backend *)be, err);
}

static int
sq_load_rev(mts_session **out, uint64_t *rev, mts_backend *be,
            mts_error *err)
{
    int rc = load_tx(out, rev, (sqlite_backend *)be, err);
    if (rc != 0)
        *rev = 0;
    return rc;
}

/* ---- save -------------------------------------------------------------- */

/* Keys read from one table that the snapshot does not have. */
typedef struct stale {
    sqlite_backend *b;
    const mts_session *s;
    int64_t (*keys)[3];
    size_t n, cap;
    int wipe; /* a key column that is not an integer: delete all rows */
} stale;

static int
stale_add(stale *x, int64_t k0, int64_t k1, int64_t k2, mts_error *err)
{
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 16;
        void *p = mts__reallocarray(x->keys, cap, sizeof(*x->keys));
        if (p == NULL)
            return mts__err_oom(err);
        x->keys = p;
        x->cap = cap;
    }
    x->keys[x->n][0] = k0;
    x->keys[x->n][1] = k1;
    x->keys[x->n][2] = k2;
    x->n++;
    return 0;
}

static int
all_int(const mts__sqlv *c, size_t n, size_t want)
{
    if (n < want)
        return 0;
    for (size_t i = 0; i < want; i++)
        if (c[i].type != MTS__SQL_INT)
            return 0;
    return 1;
}

/* Whether the snapshot has the DC entry (dc_id, flags, family): binary
 * search over the canonical order (dc_id, flags, family). */
static int
has_dc(const mts_session *s, int64_t id, int64_t flags, int64_t family)
{
    size_t lo = 0, hi = mts_session_dc_count(s);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        mts_dc dc;
        int64_t k[3], q[3] = { id, flags, family };
        int cmp = 0;
        if (mts_session_dc_at(&dc, s, mid) != 0)
            return 0;
        k[0] = dc.dc_id;
        k[1] = dc.flags;
        k[2] = dc.ip.family;
        for (int i = 0; i < 3 && cmp == 0; i++)
            cmp = k[i] < q[i] ? -1 : k[i] > q[i] ? 1 : 0;
        if (cmp == 0)
            return 1;
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static int
stale_dc(const mts__sqlv *c, size_t n, void *payload, mts_error *err)
{
    stale *x = payload;
    if (!all_int(c, n, 3)) {
        x->wipe = 1;
        return 0;
    }
    if (has_dc(x->s, c[0].i, c[1].i, c[2].i))
        return 0;
    return stale_add(x, c[0].i, c[1].i, c[2].i, err);
}

static int
stale_channel(const mts__sqlv *c, size_t n, void *payload, mts_error *err)
{
    stale *x = payload;
    int32_t pts;
    if (!all_int(c, n, 1)) {
        x->wipe = 1;
        return 0;
    }
    if (c[0].i > 0 && mts_session_channel_pts(x->s, c[0].i, &pts) == 0)
        return 0;
    return stale_add(x, c[0].i, 0, 0, err);
}

static int
stale_peer(const mts__sqlv *c, size_t n, void *payload, mts_error *err)
{
    stale *x = payload;
    mts_peer p;
    if (!all_int(c, n, 2)) {
        x->wipe = 1;
        return 0;
    }
    if (c[0].i >= MTS_PEER_USER && c[0].i <= MTS_PEER_CHANNEL &&
        mts_session_get_peer(&p, x->s, (mts_peer_kind)c[0].i, c[1].i) == 0)
        return 0;
    return stale_add(x, c[0].i, c[1].i, 0, err);
}

static int
stale_min_peer(const mts__sqlv *c, size_t n, void *payload, mts_error *err)
{
    stale *x = payload;
    mts_min_peer mp;
    if (!all_int(c, n, 1)) {
        x->wipe = 1;
        return 0;
    }
    if (mts_session_get_min_peer(&mp, x->s, c[0].i) == 0)
        return 0;
    return stale_add(x, c[0].i, 0, 0, err);
}

/* Delete the session's rows of one table that the snapshot lacks. */
static int
delete_stale(sqlite_backend *b,
             const mts_session *s,
             mts__sql_stmt keys,
             row_fn fn,
             mts__sql_stmt del,
             size_t key_cols,
             mts__sql_stmt del_all,
             mts_error *err)
{
    stale x;
    mts__sqlv p[4];
    int rc;
    memset(&x, 0, sizeof(x));
    x.b = b;
    x.s = s;
    p[0] = name_param(b);
    rc = run(b, keys, p, 1, fn, &x, err);
    if (rc == 0 && x.wipe)
        rc = run(b, del_all, p, 1, NULL, NULL, err);
    for (size_t i = 0; rc == 0 && !x.wipe && i < x.n; i++) {
        for (size_t k = 0; k < key_cols; k++) {
            p[k + 1].type = MTS__SQL_INT;
            p[k + 1].i = x.keys[i][k];
            p[k + 1].p = NULL;
            p[k + 1].n = 0;
        }
        rc = run(b, del, p, key_cols + 1, NULL, NULL, err);
    }
    mts_free(x.keys);
    return rc;
}

/* Delete the rows the snapshot lacks from every table (the full save). */
static int
delete_all_stale(sqlite_backend *b, const mts_session *s, mts_error *err)
{
    int rc = delete_stale(b, s, MTS__SQL_DC_KEYS, stale_dc, MTS__SQL_DC_DEL, 3,
                          MTS__SQL_DC_DEL_ALL, err);
    if (rc == 0)
        rc = delete_stale(b, s, MTS__SQL_CHANNEL_LIST, stale_channel,
                          MTS__SQL_CHANNEL_DEL, 1, MTS__SQL_CHANNEL_DEL_ALL,
                          err);
    if (rc == 0)
        rc = delete_stale(b, s, MTS__SQL_PEER_KEYS, stale_peer,
                          MTS__SQL_PEER_DEL, 2, MTS__SQL_PEER_DEL_ALL, err);
    if (rc == 0)
        rc = delete_stale(b, s, MTS__SQL_MIN_PEER_LIST, stale_min_peer,
                          MTS__SQL_MIN_PEER_DEL, 1, MTS__SQL_MIN_PEER_DEL_ALL,
                          err);
    return rc;
}

/* A new seal for this handle's session and the SEAL_PUT of its row. */
static int
seal_create(sqlite_backend *b,
            mts__sql_seal *seal,
            mts__sql_seal_row *row,
            mts_error *err)
{
    emit_ctx x = { b, err };
    mts__sql_ctx cx = { b->name, 0, NULL };
    int rc = mts__sql_seal_new(seal, row, b->name, b->secret, err);
    if (rc == 0)
        rc = mts__sql_emit_seal(&cx, row, emit_run, &x);
    return rc;
}

/* Keep a new seal row as the handle's current one. */
static void
seal_adopt(sqlite_backend *b,
           const mts__sql_seal *seal,
           const mts__sql_seal_row *row)
{
    b->seal = *seal;
    b->seal_row = *row;
    b->seal_cached = 1;
}

/*
 * End a write's transaction (commit, or roll back when rc says so). Rolled
 * back: what the store holds is no longer known here. Committed: a seal
 * made for this write (fresh, not NULL) becomes the handle's.
 */
static int
write_done(sqlite_backend *b,
           int rc,
           const mts__sql_seal *fresh,
           const mts__sql_seal_row *fresh_row,
           mts_error *err)
{
    if (rc == MTS_ENOMEM)
        rc = mts__err_oom(err);
    rc = end_tx(b, rc, err);
    if (rc != 0) {
        mts__sql_base_forget(&b->base);
        b->seal_cached = 0;
    } else if (fresh != NULL) {
        seal_adopt(b, fresh, fresh_row);
    }
    return rc;
}

/*
 * A save in one BEGIN IMMEDIATE transaction. With `cond` (save_if): after
 * the fence, the stored rev must still be `expected` (0: no sessions row),
 * else MTS_ECONFLICT and a rollback; the rev is then stamped even when no
 * row changed, so each conditional save has its own (*new_rev).
 */
static int
save_tx(sqlite_backend *b, const mts_session *s, int cond, uint64_t expected,
        uint64_t *new_rev, mts_error *err)
{
    emit_ctx x = { b, err };
    const mts__sql_seal *seal = NULL;
    mts__sql_seal fresh;
    mts__sql_seal_row fresh_row;
    mts__sql_ctx cx = { b->name, mts__sql_new_rev(), NULL };
    int64_t cur_rev = 0;
    sqlite3_int64 changes;
    int found = 0, convert = 0, incremental = 0, written = 0;
    size_t count = 0;
    int rc = begin_fenced(b, cond ? "save_if" : "save", err);

    if (rc == 0)
        rc = check_others(b, err);
    if (rc == 0)
        rc = read_rev(b, &found, &cur_rev, err);
    if (rc == 0 && cond && (found ? api_rev(cur_rev) : 0) != expected)
        rc = mts__err(err, MTS_ECONFLICT,
                      "%s: save_if: the stored revision is %llu, not the "
                      "expected %llu: nothing written",
                      b->display,
                      (unsigned long long)(found ? api_rev(cur_rev) : 0),
                      (unsigned long long)expected);
    if (rc == 0)
        rc = seal_current(b, &seal, err);
    /* A handle with a secret seals a session that is not sealed yet: a
     * full save that writes every secret column under a new seal. */
    if (rc == 0 && seal == NULL && b->secret != NULL) {
        convert = 1;
        if ((rc = seal_create(b, &fresh, &fresh_row, err)) == 0)
            seal = &fresh;
    }
    cx.seal = seal;
    incremental = rc == 0 && !convert && found && b->base_rev == cur_rev &&
                  mts__sql_base_covers(&b->base, s);
    changes = sqlite3_total_changes64(b->db);
    if (incremental) {
        mts__sql_delta d = mts__sql_base_delta(&b->base);
        rc = mts__sql_emit_delta(&cx, s, &d, &count, emit_run, &x);
    } else if (rc == 0) {
        rc = delete_all_stale(b, s, err);
        if (rc == 0)
            rc = mts__sql_emit_save(&cx, s, 0, emit_run, &x);
    }
    /* a new rev exactly when a row changed: a save of what is stored
     * already writes nothing */
    written = cond || sqlite3_total_changes64(b->db) != changes;
    if (rc == 0 && written)
        rc = mts__sql_emit_rev(&cx, emit_run, &x);
    rc = write_done(b, rc, convert ? &fresh : NULL, &fresh_row, err);
    if (rc == 0) {
        set_base(b, s, written ? cx.rev : cur_rev);
        if (new_rev != NULL)
            *new_rev = api_rev(written ? cx.rev : cur_rev);
    }
    if (convert)
        mts__wipe(&fresh, sizeof(fresh));
    return rc;
}

static int
sq_save(mts_backend *be, const mts_session *s, mts_error *err)
{
    return save_tx((sqlite_backend *)be, s, 0, 0, NULL, err);
}

static int
sq_save_if(mts_backend *be, const mts_session *s, uint64_t expected,
           uint64_t *new_rev, mts_error *err)
{
    return save_tx((sqlite_backend *)be, s, 1, expected, new_rev, err);
}

/* ---- delete and granular changes --------------------------------------- */

static int
sq_del(mts_backend *be, mts_error *err)
{
    sqlite_backend *b = (sqlite_backend *)be;
    emit_ctx x = { b, err };
    mts__sql_ctx cx = { b->name, 0, NULL };
    int rc = begin_fenced(b, "delete", err);
    if (rc == 0)
        rc = mts__sql_emit_delete(&cx, emit_run, &x);
    rc = end_tx(b, rc, err);
    mts__sql_base_forget(&b->base);
    b->seal_cached = 0;
    return rc;
}

/*
 * Seal a stored session that is not sealed yet (inside the transaction):
 * its secret columns are read in clear and written under a new seal.
 */
static int
seal_convert(sqlite_backend *b,
             mts__sql_seal *seal,
             mts__sql_seal_row *row,
             mts_error *err)
{
    emit_ctx x = { b, err };
    mts__sql_ctx cx = { b->name, mts__sql_new_rev(), seal };
    mts_session *s = NULL;
    int64_t rev;
    int rc = seal_create(b, seal, row, err);
    if (rc != 0)
        return rc;
    rc = load_rows(b, NULL, &s, &rev, err);
    if (rc == MTS_ENOTFOUND)
        return 0; /* nothing stored: the seal row is all it takes */
    if (rc == 0)
        rc = mts__sql_emit_save(&cx, s, MTS__SQL_EMIT_SECRETS, emit_run, &x);
    if (rc == 0)
        rc = mts__sql_emit_rev(&cx, emit_run, &x);
    mts_session_free(s);
    return rc;
}

static const char *const granular_label[] = { "apply update state",
                                              "update dc", "set home dc",
                                              "cache peer" };

static int
granular(sqlite_backend *b, const mts__sql_granular *op, mts_error *err)
{
    emit_ctx x = { b, err };
    const mts__sql_seal *seal = NULL;
    mts__sql_seal fresh;
    mts__sql_seal_row fresh_row;
    mts__sql_ctx cx = { b->name, mts__sql_new_rev(), NULL };
    int convert = 0, found = 0;
    int64_t cur_rev = 0;
    int rc = begin_fenced(b, granular_label[op->kind], err);
    if (rc == 0)
        rc = check_others(b, err);
    if (rc == 0)
        rc = seal_current(b, &seal, err);
    if (rc == 0 && seal == NULL && b->secret != NULL) {
        convert = 1;
        if ((rc = seal_convert(b, &fresh, &fresh_row, err)) == 0)
            seal = &fresh;
    }
    /* Still the store this handle's base describes? */
    if (rc == 0 && b->base.valid) {
        rc = read_rev(b, &found, &cur_rev, err);
        if (rc == 0 && (!found || cur_rev != b->base_rev))
            mts__sql_base_forget(&b->base);
    }
    cx.seal = seal;
    if (rc == 0)
        rc = mts__sql_emit_granular(&cx, op, emit_run, &x);
    rc = write_done(b, rc, convert ? &fresh : NULL, &fresh_row, err);
    if (rc == 0 && b->base.valid) {
        b->base_rev = cx.rev;
        mts__sql_base_note(&b->base, op);
    }
    if (convert)
        mts__wipe(&fresh, sizeof(fresh));
    return rc;
}

static int
sq_apply(mts_backend *be, const mts_update_change *c, mts_error *err)
{
    mts__sql_granular op = { MTS__SQL_G_UPDATE, c, NULL, NULL, 0 };
    return granular((sqlite_backend *)be, &op, err);
}

static int
sq_update_dc(mts_backend *be, const mts_dc *dc, mts_error *err)
{
    mts__sql_granular op = { MTS__SQL_G_DC, NULL, dc, NULL, 0 };
    return granular((sqlite_backend *)be, &op, err);
}

static int
sq_set_home(mts_backend *be, int32_t dc_id, mts_error *err)
{
    mts__sql_granular op = { MTS__SQL_G_HOME, NULL, NULL, NULL, dc_id };
    return granular((sqlite_backend *)be, &op, err);
}

static int
sq_cache_peer(mts_backend *be, const mts_peer *p, mts_error *err)
{
    mts__sql_granular op = { MTS__SQL_G_PEER, NULL, NULL, p, 0 };
    return granular((sqlite_backend *)be, &op, err);
}

static const char *
sq_name(mts_backend *be)
{
    return ((sqlite_backend *)be)->display;
}

static void
sq_free(mts_backend *be)
{
    sqlite_backend *b = (sqlite_backend *)be;
    for (size_t i = 0; i < MTS__SQL_STMT_COUNT; i++)
        sqlite3_finalize(b->stmt[i]);
    if (b->db != NULL)
        sqlite3_close(b->db);
    mts_free(b->path);
    mts_free(b->name);
    mts_free(b->display);
    mts__sql_base_free(&b->base);
    mts__wipe(b, sizeof(*b));
    mts_free(b);
}

/* ---- open -------------------------------------------------------------- */

static int
one_int(const mts__sqlv *c, size_t n, void *payload, mts_error *err)
{
    (void)err;
    if (n >= 1 && c[0].type == MTS__SQL_INT)
        *(int64_t *)payload = c[0].i;
    return 0;
}

static int
read_header(sqlite_backend *b, int64_t v[3], mts_error *err)
{
    int rc;
    v[0] = v[1] = v[2] = 0;
    if ((rc = run(b, MTS__SQL_GET_APPLICATION_ID, NULL, 0, one_int, &v[0],
                  err)) ||
        (rc =
             run(b, MTS__SQL_GET_USER_VERSION, NULL, 0, one_int, &v[1], err)) ||
        (rc = run(b, MTS__SQL_COUNT_OBJECTS, NULL, 0, one_int, &v[2], err)))
        return rc;
    return 0;
}

/* Run one SQL text outside the statement cache (DDL, migrations). */
static int
exec_text(sqlite_backend *b, const char *sql, mts_error *err)
{
    int rc = sqlite3_exec(b->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : sq_fail(b, err, rc, "schema");
}

/*
 * Check the schema version and create or migrate the schema. A read
 * transaction decides first, so opening a current database never takes
 * the write lock; creation and migration re-check under BEGIN IMMEDIATE,
 * because another process may have done it meanwhile.
 */
static int
ensure_schema(sqlite_backend *b, mts_error *err)
{
    mts__sql_schema_action act;
    int64_t h[3];
    int rc = run0(b, MTS__SQL_BEGIN_READ, err);
    if (rc == 0)
        rc = read_header(b, h, err);
    rc = end_tx(b, rc, err);
    if (rc == 0)
        rc = mts__sql_schema_check(&act, h[0], h[1], h[2], err);
    if (rc != 0 || act == MTS__SQL_SCHEMA_READY)
        goto out;

    if ((rc = begin_write(b, err)) != 0)
        goto out;
    rc = read_header(b, h, err);
    if (rc == 0)
        rc = mts__sql_schema_check(&act, h[0], h[1], h[2], err);
    if (rc == 0 && act == MTS__SQL_SCHEMA_CREATE) {
        for (size_t i = 0; rc == 0 && i < mts__sql_create_count; i++)
            rc = exec_text(b, mts__sql_create[i], err);
    } else if (rc == 0 && act == MTS__SQL_SCHEMA_MIGRATE) {
        for (int64_t v = h[1]; rc == 0 && v < MTS__SQL_SCHEMA_VERSION; v++) {
            const mts__sql_migration *m = mts__sql_migration_from(v);
            if (m == NULL)
                rc = mts__err(err, MTS_EVERSION,
                              "no migration from schema version %lld",
                              (long long)v);
            for (size_t i = 0; rc == 0 && m != NULL && i < m->count; i++)
                rc = exec_text(b, m->stmts[i], err);
        }
    }
    rc = end_tx(b, rc, err);
out:
    if (rc != 0 && err != NULL && err->native == 0 &&
        (rc == MTS_EVERSION || rc == MTS_EFORMAT))
        mts__err_prefix(err, "%s", b->display);
    return rc;
}

/* Create the database file 0600 (whatever the umask) if it does not exist,
 * so SQLite never creates it with its default 0644. *created says whether
 * this call made it. */
static int
create_file(const char *path, int *created, mts_error *err)
{
    struct stat st;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    *created = 0;
    if (fd >= 0) {
        int e = 0;
        *created = 1;
        if (fchmod(fd, 0600) != 0)
            e = errno;
        close(fd);
        if (e != 0) {
            unlink(path);
            return mts__err_native(err, MTS_EIO, e, "sqlite:%s: chmod: %s",
                                   path, strerror(e));
        }
        return 0;
    }
    if (errno != EEXIST)
        return mts__err_native(err, MTS_EIO, errno, "sqlite:%s: create: %s",
                               path, strerror(errno));
    if (stat(path, &st) != 0) {
        if (errno == ENOENT) /* exists, yet does not: a dangling link */
            return mts__err(err, MTS_EINVAL,
                            "sqlite:%s: a symbolic link to nothing", path);
        return mts__err_native(err, MTS_EIO, errno, "sqlite:%s: %s", path,
                               strerror(errno));
    }
    if (!S_ISREG(st.st_mode))
        return mts__err(err, MTS_EINVAL, "sqlite:%s: not a regular file", path);
    return 0;
}

/*
 * The -wal and -shm files must be no more open than the database: SQLite
 * creates them with the database's mode; make sure of it (umask-proof).
 * By name only: opening and closing a file SQLite has open would drop this
 * process's POSIX locks on it (another process could then reset the -shm
 * under our mapping).
 */
static int
fix_side_modes(sqlite_backend *b, mts_error *err)
{
    static const char *const suffix[] = { "-wal", "-shm" };
    char real[PATH_MAX];
    struct stat db;
    /* SQLite puts them beside the file a symbolic link points to. */
    if (realpath(b->path, real) == NULL || stat(real, &db) != 0)
        return mts__err_native(err, MTS_EIO, errno, "%s: stat: %s", b->display,
                               strerror(errno));
    for (size_t i = 0; i < MTS__ARRAY_LEN(suffix); i++) {
        char side[PATH_MAX + 8];
        struct stat st;
        int n = snprintf(side, sizeof(side), "%s%s", real, suffix[i]);
        if (n < 0 || (size_t)n >= sizeof(side))
            continue;
        if (lstat(side, &st) != 0 || !S_ISREG(st.st_mode))
            continue; /* not there (yet): SQLite creates it */
        if ((st.st_mode & 0777 & ~db.st_mode) != 0 &&
            chmod(side, st.st_mode & db.st_mode & 0777) != 0 && errno != ENOENT)
            return mts__err_native(err, MTS_EIO, errno, "%s: chmod %s: %s",
                                   b->display, suffix[i], strerror(errno));
    }
    return 0;
}

static int
set_sync(sqlite_backend *b, mts__sql_sync level, mts_error *err)
{
    return exec_text(b,
                     level == MTS__SQL_SYNC_NORMAL
                         ? "PRAGMA synchronous = NORMAL"
                         : "PRAGMA synchronous = FULL",
                     err);
}

static int
configure(sqlite_backend *b, mts__sql_sync sync, mts_error *err)
{
    int rc;
    sqlite3_extended_result_codes(b->db, 1);
    sqlite3_busy_handler(b->db, busy_handler, b);
#ifdef SQLITE_DBCONFIG_DEFENSIVE
    sqlite3_db_config(b->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
#endif
#ifdef SQLITE_DBCONFIG_TRUSTED_SCHEMA
    sqlite3_db_config(b->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
#endif
    if (!b->memory) {
        /* Persistent in the file; a no-op when it is already WAL. On a
         * file system without shared memory SQLite keeps its rollback
         * journal, which is slower but just as safe. */
        if ((rc = exec_text(b, "PRAGMA journal_mode = WAL", err)) != 0)
            return rc;
    }
    if ((rc = set_sync(b, sync, err)) != 0 ||
        (rc = exec_text(b, "PRAGMA secure_delete = ON", err)) != 0)
        return rc;
    return 0;
}

/*
 * configure() and ensure_schema(), retried while the database is locked.
 * Some lock conflicts at open never reach the busy handler: switching a
 * fresh file to WAL needs the exclusive lock and fails at once while
 * another process reads it in rollback mode, and a connection that meets
 * another's half-done WAL recovery gets SQLITE_BUSY too. Processes that
 * race to create one database meet exactly these, so open waits with a
 * randomised backoff up to the same MTS__SQLITE_BUSY_MS budget.
 */
static int
setup(sqlite_backend *b, mts__sql_sync sync, mts_error *err)
{
    struct timespec start, now;
    int64_t waited = 0;
    int rc;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (unsigned attempt = 0;; attempt++) {
        struct timespec nap;
        int64_t us, max_us;
        rc = configure(b, sync, err);
        if (rc == 0)
            rc = ensure_schema(b, err);
        if (rc != MTS_ELOCKED)
            return rc;
        clock_gettime(CLOCK_MONOTONIC, &now);
        waited = ms_between(&start, &now);
        if (waited >= MTS__SQLITE_BUSY_MS)
            break;
        max_us = (int64_t)200 << (attempt < 6 ? attempt : 6);
        us = max_us / 2 + (int64_t)(next_random(b) % (uint64_t)(max_us / 2 + 1));
        nap.tv_sec = (time_t)(us / 1000000);
        nap.tv_nsec = (long)(us % 1000000) * 1000;
        while (nanosleep(&nap, &nap) != 0 && errno == EINTR)
            ;
    }
    return mts__err_native(err, MTS_ELOCKED, err != NULL ? err->native : 0,
                           "%s: open: the database stayed locked for %lld ms "
                           "(creating or checking its schema)",
                           b->display, (long long)waited);
}

static char *
make_display(const char *path, const char *name)
{
    size_t n = strlen("sqlite:") + strlen(path) + 1 + strlen(name) + 1;
    char *d = mts__calloc(1, n);
    if (d != NULL)
        snprintf(d, n, "sqlite:%s#%s", path, name);
    return d;
}

int
mts__sqlite_open_as(mts_storage **out,
                    const char *path,
                    const char *name,
                    const mts_sqlite_options *opts,
                    const char *display,
                    mts_error *err)
{
    sqlite_backend *b;
    int rc, created = 0, flags;
    if (out == NULL || path == NULL)
        return mts__err(err, MTS_EINVAL, "sqlite: NULL argument");
    *out = NULL;
    if (path[0] == '\0')
        return mts__err(err, MTS_EINVAL, "sqlite: empty path");
    if (opts != NULL && opts->version != MTS_SQLITE_OPTIONS_VERSION)
        return mts__err(err, MTS_EINVAL, "sqlite: unknown options version %u",
                        opts->version);
    if (opts != NULL && opts->synchronous != MTS_SQLITE_SYNC_FULL &&
        opts->synchronous != MTS_SQLITE_SYNC_NORMAL)
        return mts__err(err, MTS_EINVAL,
                        "sqlite: synchronous %d is not MTS_SQLITE_SYNC_FULL "
                        "or MTS_SQLITE_SYNC_NORMAL",
                        opts->synchronous);
    if (name == NULL)
        name = MTS__SQL_DEFAULT_NAME;
    if ((rc = mts__sql_check_name(name, err)) != 0)
        return rc;
    if (sqlite3_threadsafe() == 0)
        return mts__err(err, MTS_ENOTSUPPORTED,
                        "sqlite: the SQLite library was built without "
                        "thread support (SQLITE_THREADSAFE=0)");

    b = mts__calloc(1, sizeof(*b));
    if (b == NULL)
        return mts__err_oom(err);
    b->memory = strcmp(path, ":memory:") == 0;
    b->path = mts__strdup(path);
    b->name = mts__strdup(name);
    b->display =
        display != NULL ? mts__strdup(display) : make_display(path, name);
    b->secret = opts != NULL ? opts->secret : NULL;
    b->rng = (uint64_t)(uintptr_t)b ^ ((uint64_t)getpid() << 32) ^
             (uint64_t)time(NULL) ^ 0x9e3779b97f4a7c15u;
    if (b->path == NULL || b->name == NULL || b->display == NULL) {
        rc = mts__err_oom(err);
        goto fail;
    }
    if (!b->memory && (rc = create_file(path, &created, err)) != 0)
        goto fail;

    flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (b->memory)
        flags |= SQLITE_OPEN_CREATE | SQLITE_OPEN_MEMORY;
    rc = sqlite3_open_v2(path, &b->db, flags, NULL);
    if (rc != SQLITE_OK) {
        rc = b->db != NULL ? sq_fail(b, err, rc, "open") : mts__err_oom(err);
        goto fail;
    }
    if ((rc = setup(b,
                    opts != NULL && opts->synchronous == MTS_SQLITE_SYNC_NORMAL
                        ? MTS__SQL_SYNC_NORMAL
                        : MTS__SQL_SYNC_FULL,
                    err)) != 0)
        goto fail;
    if (!b->memory && (rc = fix_side_modes(b, err)) != 0)
        goto fail;

    b->parent.version = MTS_BACKEND_VERSION;
    b->parent.save = sq_save;
    b->parent.load = sq_load;
    b->parent.del = sq_del;
    b->parent.name = sq_name;
    b->parent.apply_update_state = sq_apply;
    b->parent.update_dc = sq_update_dc;
    b->parent.set_home_dc = sq_set_home;
    b->parent.cache_peer = sq_cache_peer;
    b->parent.load_rev = sq_load_rev;
    b->parent.save_if = sq_save_if;
    /* an in-memory database: one process alone reaches it, no leases */
    b->parent.lease = b->memory ? NULL : sq_lease;
    b->parent.free = sq_free;
    if ((rc = mts_storage_wrap(out, &b->parent, err)) != 0)
        goto fail;
    return 0;

fail:
    /* The file stays even when this call created it: another process may
     * have opened it meanwhile (its schema lives in the -wal file until a
     * checkpoint, so "still empty" proves nothing), and unlinking a file
     * in use splits the database in two. An empty file is an empty
     * database. */
    (void)created;
    sq_free(&b->parent);
    return rc;
}

int
mts_sqlite_open_ex(mts_storage **out,
                   const char *path,
                   const char *name,
                   const mts_sqlite_options *opts,
                   mts_error *err)
{
    return mts__sqlite_open_as(out, path, name, opts, NULL, err);
}

int
mts_sqlite_open(mts_storage **out,
                const char *path,
                const char *name,
                mts_error *err)
{
    return mts__sqlite_open_as(out, path, name, NULL, NULL, err);
}

int
mts_sqlite_open_memory(mts_storage **out, const char *name, mts_error *err)
{
    return mts_sqlite_open(out, ":memory:", name, err);
}

/* The SQLite backend behind a handle, or NULL. */
static sqlite_backend *
backend_of(mts_storage *st)
{
    mts_backend *be = st != NULL ? mts_storage_backend(st) : NULL;
    return be != NULL && be->free == sq_free ? (sqlite_backend *)be : NULL;
}

/* Rewrite the session's secret columns under new_secret (NULL: clear)
 * inside one transaction, reading them with the handle's secret. */
static int
rekey_locked(sqlite_backend *b, mts_secret *new_secret, mts_error *err)
{
    emit_ctx x = { b, err };
    const mts__sql_seal *old = NULL;
    mts__sql_seal fresh;
    mts__sql_seal_row row;
    mts__sql_ctx cx = { b->name, mts__sql_new_rev(), NULL };
    mts_session *s = NULL;
    int64_t rev = 0;
    int rc = begin_fenced(b, "rekey", err);
    memset(&row, 0, sizeof(row));
    if (rc == 0)
        rc = seal_current(b, &old, err);
    if (rc == 0)
        rc = load_rows(b, old, &s, &rev, err);
    if (rc == MTS_ENOTFOUND) {
        /* nothing stored; a seal row without a session goes too */
        mts__sql_ctx cx0 = { b->name, 0, NULL };
        rc = mts__sql_emit_seal(&cx0, &row, emit_run, &x);
    } else if (rc == 0) {
        if (new_secret != NULL) {
            rc = mts__sql_seal_new(&fresh, &row, b->name, new_secret, err);
            if (rc == 0)
                cx.seal = &fresh;
        }
        if (rc == 0)
            rc = mts__sql_emit_seal(&cx, &row, emit_run, &x);
        if (rc == 0)
            rc =
                mts__sql_emit_save(&cx, s, MTS__SQL_EMIT_SECRETS, emit_run, &x);
        if (rc == 0)
            rc = mts__sql_emit_rev(&cx, emit_run, &x);
        if (rc == MTS_ENOMEM)
            rc = mts__err_oom(err);
    }
    rc = end_tx(b, rc, err);
    mts_session_free(s);
    mts__sql_base_forget(&b->base);
    b->seal_cached = 0;
    if (rc == 0)
        b->secret = new_secret;
    mts__wipe(&fresh, sizeof(fresh));
    return rc;
}

int
mts_sqlite_rekey(mts_storage *st, mts_secret *new_secret, mts_error *err)
{
    sqlite_backend *b = backend_of(st);
    int rc;
    if (b == NULL)
        return mts__err(err, MTS_EINVAL, "sqlite: rekey: not an SQLite handle");
    mts__storage_lock(st);
    rc = rekey_locked(b, new_secret, err);
    mts__storage_unlock(st);
    return rc;
}

int
mts__sqlite_replace(mts_storage *st,
                    const mts_session *s,
                    mts_secret *secret,
                    mts_error *err)
{
    sqlite_backend *b = backend_of(st);
    emit_ctx x = { b, err };
    mts__sql_seal fresh;
    mts__sql_seal_row row;
    mts__sql_ctx cx = { NULL, mts__sql_new_rev(), NULL };
    int rc;
    if (b == NULL)
        return mts__err(err, MTS_EINVAL, "not an SQLite storage handle");
    cx.name = b->name;
    memset(&row, 0, sizeof(row));
    mts__storage_lock(st);
    b->secret = secret;
    rc = begin_fenced(b, "replace", err);
    if (rc == 0)
        rc = mts__sql_emit_delete(&cx, emit_run, &x);
    if (rc == 0 && b->secret != NULL) {
        rc = seal_create(b, &fresh, &row, err);
        cx.seal = &fresh;
    }
    if (rc == 0)
        rc = mts__sql_emit_save(&cx, s, 0, emit_run, &x);
    if (rc == MTS_ENOMEM)
        rc = mts__err_oom(err);
    rc = end_tx(b, rc, err);
    b->seal_cached = 0;
    if (rc == 0) {
        if (row.present)
            seal_adopt(b, &fresh, &row);
        set_base(b, s, cx.rev);
    } else {
        mts__sql_base_forget(&b->base);
    }
    mts__wipe(&fresh, sizeof(fresh));
    mts__storage_unlock(st);
    return rc;
}

sqlite3 *
mts__sqlite_db(mts_storage *st)
{
    sqlite_backend *b = backend_of(st);
    return b != NULL ? b->db : NULL;
}

int
mts__sqlite_set_sync(mts_storage *st, mts__sql_sync level, mts_error *err)
{
    mts_backend *be = mts_storage_backend(st);
    int rc;
    if (be == NULL || be->free != sq_free)
        return mts__err(err, MTS_EINVAL, "not an SQLite storage handle");
    mts__storage_lock(st);
    rc = set_sync((sqlite_backend *)be, level, err);
    mts__storage_unlock(st);
    return rc;
}
