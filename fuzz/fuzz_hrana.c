/*
 * fuzz_hrana.c - mts__hrana_tx_parse, the libSQL backend's reading of a
 * Hrana pipeline response body (src/backends/hrana.h), without a network.
 *
 * A fixed transaction like the ones the backend sends (three stored SQL
 * texts: a read with one text parameter, a write with one parameter of
 * every kind, a parameterless read) is built for every input, and the
 * input is parsed as the server's answer to it. A failure must be one of
 * the codes hrana.h lists (MTS_EBACKEND, MTS_ENOMEM) with a message, and
 * a statement named as failed must be one of the transaction's. A result
 * is read through the accessors the backend uses: every row of every
 * statement (and one past the end) with every column count from 0 to
 * FUZZ_HRANA_MAXCOLS, every text and blob byte touched, then freed.
 *
 * Built only with the libSQL backend (MTS_HAVE_LIBSQL, which also puts
 * src/backends on the include path); otherwise every input is accepted
 * and nothing is run.
 */
#include "common.h"

#ifdef MTS_HAVE_LIBSQL

#include "hrana.h"

#define FUZZ_HRANA_MAXCOLS 8
#define FUZZ_HRANA_CODES   (FUZZ_CODE(MTS_EBACKEND) | FUZZ_CODE(MTS_ENOMEM))

static const char *const sql_read = "SELECT dc_id, auth_key, rev, note "
                                    "FROM sessions WHERE name = ?";
static const char *const sql_write =
    "INSERT INTO kv (k, i, b, n, r) VALUES (?, ?, ?, ?, ?)";
static const char *const sql_list = "SELECT name FROM sessions ORDER BY name";

/* The transaction, as libsql.c would build it; NULL when out of memory. */
static mts__hrana_tx *
make_tx(void)
{
    static const uint8_t blob[4] = { 0x00, 0xff, 0x10, 0x80 };
    mts__hrana_tx *tx = NULL;
    mts__sqlv name = { MTS__SQL_TEXT, 0, "alice", 5 };
    mts__sqlv w[5] = {
        { MTS__SQL_TEXT, 0, "key", 3 },
        { MTS__SQL_INT, INT64_MIN, NULL, 0 },
        { MTS__SQL_BLOB, 0, blob, sizeof(blob) },
        { MTS__SQL_NULL, 0, NULL, 0 },
        { MTS__SQL_INT, 9007199254740993LL, NULL, 0 },
    };
    if (mts__hrana_tx_new(&tx, 1) != 0)
        return NULL;
    if (mts__hrana_tx_add(tx, sql_read, &name, 1, 1) != 0 ||
        mts__hrana_tx_add(tx, sql_write, w, 5, 0) != 0 ||
        mts__hrana_tx_add(tx, sql_list, NULL, 0, 1) != 0) {
        mts__hrana_tx_free(tx);
        return NULL;
    }
    return tx;
}

/* Read every byte a decoded value points at (ASan sees a bad pointer). */
static unsigned
touch(const mts__sqlv *v)
{
    unsigned sum = 0;
    switch (v->type) {
    case MTS__SQL_NULL:
    case MTS__SQL_INT:
    case MTS__SQL_REAL:
        if (v->p != NULL || v->n != 0)
            fuzz_fail("hrana: non-pointer value with p=%p n=%zu", v->p, v->n);
        break;
    case MTS__SQL_TEXT:
    case MTS__SQL_BLOB:
        if (v->n != 0 && v->p == NULL)
            fuzz_fail("hrana: %zu bytes at NULL", v->n);
        for (size_t i = 0; i < v->n; i++)
            sum += ((const unsigned char *)v->p)[i];
        break;
    default:
        fuzz_fail("hrana: value of unknown type %d", (int)v->type);
    }
    return sum;
}

static void
read_result(mts__hrana_res *res, size_t nstmts)
{
    mts__sqlv cols[FUZZ_HRANA_MAXCOLS];
    volatile unsigned sink = 0;

    if (mts__hrana_res_rows(res, nstmts) != 0)
        fuzz_fail("hrana: rows for statement %zu of %zu", nstmts, nstmts);
    for (size_t s = 0; s < nstmts; s++) {
        size_t nrows = mts__hrana_res_rows(res, s);
        for (size_t row = 0; row <= nrows; row++) {
            int ok = 0;
            for (size_t n = 0; n <= FUZZ_HRANA_MAXCOLS; n++) {
                mts_error err = MTS_ERROR_INIT;
                int rc = mts__hrana_res_row(cols, n, res, s, row, &err);
                if (rc != 0) {
                    fuzz_check_error("mts__hrana_res_row", rc, &err,
                                     FUZZ_HRANA_CODES);
                    continue;
                }
                if (row == nrows)
                    fuzz_fail("hrana: statement %zu read row %zu of %zu", s,
                              row, nrows);
                if (ok++)
                    fuzz_fail("hrana: statement %zu row %zu read with two "
                              "column counts",
                              s, row);
                for (size_t i = 0; i < n; i++)
                    sink += touch(&cols[i]);
            }
        }
    }
    (void)sink;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mts_error err = MTS_ERROR_INIT;
    mts__hrana_res *res = NULL;
    mts__hrana_tx *tx = make_tx();
    size_t nstmts;
    long failed;
    int rc;

    if (tx == NULL)
        fuzz_fail("hrana: cannot build the transaction");
    nstmts = mts__hrana_tx_count(tx);
    rc = mts__hrana_tx_parse(&res, tx, "fuzz", (const char *)data, size, &err);
    failed = mts__hrana_tx_failed(tx);
    if (rc != 0) {
        fuzz_check_error("mts__hrana_tx_parse", rc, &err, FUZZ_HRANA_CODES);
        if (res != NULL)
            fuzz_fail("hrana: failed parse left a result");
        if (failed < -1 || failed >= (long)nstmts)
            fuzz_fail("hrana: failed statement %ld of %zu", failed, nstmts);
    } else {
        if (res == NULL)
            fuzz_fail("hrana: parse succeeded without a result");
        if (failed != -1)
            fuzz_fail("hrana: parse succeeded with statement %ld failed",
                      failed);
        read_result(res, nstmts);
        mts__hrana_res_free(res);
        /* out == NULL: the check alone, as mts__hrana_tx_run allows. */
        rc = mts__hrana_tx_parse(NULL, tx, "fuzz", (const char *)data, size,
                                 &err);
        if (rc != 0)
            fuzz_fail("hrana: parse without a result failed (%s)", err.message);
    }
    mts__hrana_tx_free(tx);
    return 0;
}

#else /* !MTS_HAVE_LIBSQL */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)data;
    (void)size;
    return 0;
}

#endif
