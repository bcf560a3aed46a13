/*
 * pg_helpers.h - shared by the postgres backend's tests: the throwaway
 * server's connection string (written by ctl.sh, passed by ctest through
 * MTS_PG_CONNINFO_FILE), private databases, and admin statements run
 * through libpq directly; secrets and stored sessions for the tests
 * that set them up the same way.
 */
#ifndef MTS_PG_HELPERS_H
#define MTS_PG_HELPERS_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "mtsession/mtsession.h"
#include "mtsession/seal.h"

/* The server's connection string ("host=... user=... dbname=postgres").
 * Exits the test (status 1, loudly) when the server is not there. */
const char *pgt_base(void);
/* A fresh database called `name` (dropped first if it exists); returns
 * its connection string (static, one per name slot, 8 slots). */
const char *pgt_new_db(const char *name);
/* A connection (exits on failure); the caller PQfinishes it. */
PGconn *pgt_connect(const char *conninfo);
/* Run one statement; a failure is a test failure (returns -1). */
int pgt_exec(PGconn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The first column of the first row as an integer (-1 on failure or NULL). */
int64_t pgt_int(PGconn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Whether a value in the first column of what `sql` returns (binary
 * format; NULLs skipped) contains needle. param is $1 of sql, or NULL
 * for a statement without parameters. A failed query is a test failure. */
int pgt_any_contains(PGconn *c, const char *sql, const char *param,
                     const void *needle, size_t n);
/* Terminate every backend whose application_name is `app` and wait until
 * it is gone. Returns how many were terminated. */
int pgt_terminate(PGconn *admin, const char *app);
/* Wait until a backend of `app` waits on a lock (max `ms`); 1 if seen. */
int pgt_wait_lock(PGconn *admin, const char *app, int ms);
/* Milliseconds on CLOCK_MONOTONIC. */
int64_t pgt_now_ms(void);
void pgt_sleep_ms(int ms);

/* A raw-key secret, every key byte `fill` (a failure is a test failure;
 * NULL then). The caller frees it with mts_secret_free. */
mts_secret *pgt_raw_secret(uint8_t fill);
/* A passphrase secret with cheap KDF parameters (1 pass, 64 KiB), as
 * pgt_raw_secret. */
mts_secret *pgt_pass_secret(const char *pass);
/* Save s as `account` of the database `conninfo` in clear, through a
 * handle of its own (a failure is a test failure). */
void pgt_store(const char *conninfo, const char *account, const mts_session *s);

#endif
