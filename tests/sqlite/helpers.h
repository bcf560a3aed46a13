/*
 * helpers.h - shared by the SQLite backend tests: paths in the test's
 * temporary directory, and a raw sqlite3 connection to look at (or damage)
 * what the backend wrote.
 */
#ifndef MTS_SQLITE_TEST_HELPERS_H
#define MTS_SQLITE_TEST_HELPERS_H

#include <sqlite3.h>
#include <stdint.h>

#include "mtsession/mtsession.h"

/* "<tmpdir>/<name>"; one of 8 rotating static buffers. */
const char *h_path(const char *name);
/* Open through the backend; fails the case (and returns NULL) on error. */
mts_storage *h_open(const char *path, const char *name);
/* Run SQL on a fresh raw connection to path. Returns the SQLite code. */
int h_exec(const char *path, const char *sql);
/* The first column of the first row of sql as an integer (-999 on error). */
int64_t h_int(const char *path, const char *sql);
/* Load through st; fails the case and returns NULL on error. */
mts_session *h_load(mts_storage *st);

#endif
