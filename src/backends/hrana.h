/*
 * hrana.h - a client for Hrana over HTTP, the protocol of libSQL servers
 * (sqld, Turso), used by the libSQL backend (libsql.c). Never installed.
 *
 * The client runs one SQL transaction per HTTP request and keeps nothing
 * open between requests: each call sends
 *
 *   POST <base>/v3/pipeline   (falls back to /v2/pipeline on HTTP 404)
 *   {"baton": null, "requests": [store_sql..., batch, close]}
 *
 * where the batch is BEGIN, the caller's statements (each one run only if
 * the one before it succeeded), COMMIT (only if the last statement
 * succeeded) and ROLLBACK (only if BEGIN ran and COMMIT did not). Every SQL
 * text is sent once per request with store_sql and referred to by sql_id,
 * so a snapshot of thousands of rows costs one short step per row. The
 * close request ends the stream in the same round trip: no baton outlives
 * a call, so nothing can expire between calls and any server of a cluster
 * may answer the next one.
 *
 * Values: integers travel as decimal strings and are parsed exactly (never
 * through a double); blobs as standard base64 (sent padded; read padded or
 * not); text as JSON strings with their length (embedded NULs survive).
 *
 * Errors: a transport failure is MTS_EIO (native: the CURLcode); HTTP 401
 * and 403 are MTS_EBACKEND "libsql: authentication failed (HTTP 401)"
 * (native: the status); HTTP 429 and 503 are retried with exponential
 * backoff within a cap, then MTS_EBACKEND; an SQL error is MTS_EBACKEND
 * with the server's code and message (native: the SQLite primary result
 * code when the server's code names one, else 0). The bearer token is sent
 * only in the Authorization header, never logged, never in a message, and
 * wiped from memory when the client is freed. Redirects are not followed.
 *
 * Thread-safety: a client is used by one thread at a time (the storage
 * handle's lock serialises calls); separate clients are independent.
 * libcurl's global initialisation runs once per process.
 */
#ifndef MTSESSION_HRANA_H
#define MTSESSION_HRANA_H

#include <stddef.h>
#include <stdint.h>

#include "sql_schema.h"

typedef struct mts__hrana mts__hrana;
typedef struct mts__hrana_tx mts__hrana_tx;
typedef struct mts__hrana_res mts__hrana_res;

/* Timeouts and the retry policy for HTTP 429/503. Zero fields keep the
 * defaults (in brackets). */
typedef struct mts__hrana_tuning {
    long connect_timeout_ms; /* TCP and TLS connect [10000] */
    long timeout_ms;         /* one whole HTTP exchange [60000] */
    int max_tries;           /* attempts in all, first one included [5] */
    long backoff_ms;         /* first pause, doubled after each try [250] */
    long backoff_total_ms;   /* cap on the sum of all pauses [8000] */
} mts__hrana_tuning;

/*
 * A client for the database at `url`: "libsql://host[:port][/path]"
 * (HTTPS; "?tls=0" selects plain HTTP), "https://..." or "http://...".
 * Any user info, query or fragment is dropped from the address used.
 * `token` may be NULL or "" (no Authorization header); it is copied.
 * Contacts nothing. Returns 0, MTS_EINVAL (a URL the client cannot use,
 * named in the message without the token) or MTS_ENOMEM.
 */
int mts__hrana_new(mts__hrana **out,
                   const char *url,
                   const char *token,
                   mts_error *err);
/* Free the client and wipe its token. Accepts NULL. */
void mts__hrana_free(mts__hrana *h);
/* The server address as used, for names and messages: scheme, host, port
 * and path only (never a token). */
const char *mts__hrana_url(const mts__hrana *h);
/* Replace the timeouts and retry policy (NULL: the defaults). */
void mts__hrana_tune(mts__hrana *h, const mts__hrana_tuning *t);

/*
 * Start a transaction: BEGIN IMMEDIATE when `write`, else a deferred BEGIN
 * (a read snapshot across the statements). Returns 0 or MTS_ENOMEM.
 */
int mts__hrana_tx_new(mts__hrana_tx **out, int write);
void mts__hrana_tx_free(mts__hrana_tx *tx);

/*
 * Add one statement (one SQL statement, `nparams` positional `?`
 * parameters, borrowed for the call; the SQL text must stay valid until
 * the transaction is freed). Statements are numbered from 0 in the order
 * added; that number finds their rows in the result. Returns 0,
 * MTS_EINVAL (a text value that is not UTF-8) or MTS_ENOMEM.
 */
int mts__hrana_tx_add(mts__hrana_tx *tx,
                      const char *sql,
                      const mts__sqlv *params,
                      size_t nparams,
                      int want_rows);
/* The number of statements added so far. */
size_t mts__hrana_tx_count(const mts__hrana_tx *tx);
/* After a run that failed on one of the caller's statements: its number
 * (from 0, as added); otherwise -1. */
long mts__hrana_tx_failed(const mts__hrana_tx *tx);

/*
 * Send the transaction in one HTTP request and check that it committed.
 * On success *out (when out is not NULL) receives the result, which the
 * caller frees. A failed statement is reported with the server's code and
 * message and the statement's number; nothing of the transaction is then
 * kept by the server. Errors: see the top of this file.
 */
int mts__hrana_tx_run(mts__hrana_res **out,
                      mts__hrana *h,
                      mts__hrana_tx *tx,
                      mts_error *err);

/*
 * What mts__hrana_tx_run does with the response body once the HTTP
 * exchange has returned it, without the network: parse `len` bytes of
 * `body` (borrowed; need not be terminated) as the pipeline response to
 * `tx` and check that it committed. `label` names the server in messages
 * (mts__hrana_url). On success *out (when out is not NULL) receives the
 * result, which the caller frees. Returns 0 or MTS_EBACKEND (a malformed
 * response, named in the message, or a failed step: the server's code and
 * message, the statement's number in mts__hrana_tx_failed) or MTS_ENOMEM.
 * Exposed for tests and fuzzing (fuzz/fuzz_hrana.c).
 */
int mts__hrana_tx_parse(mts__hrana_res **out,
                        mts__hrana_tx *tx,
                        const char *label,
                        const char *body,
                        size_t len,
                        mts_error *err);

/* The number of rows statement `stmt` returned. */
size_t mts__hrana_res_rows(const mts__hrana_res *r, size_t stmt);

/*
 * Decode row `row` of statement `stmt` into cols[0..ncols). Text and blob
 * values point into the result (blobs into a buffer reused by the next
 * call), valid until the next call or the result's free. Returns 0,
 * MTS_EBACKEND (a row with another number of columns, or a value the
 * client cannot read: named in the message) or MTS_ENOMEM.
 */
int mts__hrana_res_row(mts__sqlv *cols,
                       size_t ncols,
                       mts__hrana_res *r,
                       size_t stmt,
                       size_t row,
                       mts_error *err);

/* Free a result and wipe its decoded blobs. Accepts NULL. */
void mts__hrana_res_free(mts__hrana_res *r);

/* Set the timeouts and retry policy of a libSQL remote or replica handle
 * (libsql.c; for tests and tuning). Returns 0 or MTS_EINVAL. */
int
mts__libsql_tune(mts_storage *st, const mts__hrana_tuning *t, mts_error *err);

/* Standard base64 (RFC 4648 section 4). Encoding pads; decoding accepts
 * input with or without padding and nothing else. Exposed for tests. */
int mts__hrana_b64_encode(char **out, const uint8_t *data, size_t len);
int mts__hrana_b64_decode(uint8_t *out,
                          size_t *out_len,
                          const char *in,
                          size_t in_len);
/* Upper bound of the decoded size of in_len characters. */
size_t mts__hrana_b64_decoded_max(size_t in_len);
/* Parse a whole decimal int64 ("-9223372036854775808".."..807", no sign
 * "+", no spaces). Returns 0 or -1. Exposed for tests. */
int mts__hrana_parse_i64(int64_t *out, const char *s, size_t n);

#endif /* MTSESSION_HRANA_H */
