/*
 * fixtures.h - sessions shared by the suites, built through the public
 * API. The same sessions are encoded independently by
 * scripts/format_vectors.py into tests/data/mtsession/.
 */
#ifndef MTS_TEST_FIXTURES_H
#define MTS_TEST_FIXTURES_H

#include "mtsession/mtsession.h"

/* "empty", "small" or "full"; NULL for an unknown name. Caller frees. */
mts_session *fx_session(const char *name);
/* A session with `n` peers of every kind and a few DCs (deterministic). */
mts_session *fx_big(size_t n);
/* Read a file under tests/; exits the test on failure. Caller frees. */
unsigned char *fx_read(const char *rel, size_t *len);
/* Load through st; fails the case ("load <store>: <code>: <message>", or
 * no handle at all) and returns NULL on error. Caller frees. */
mts_session *fx_load(mts_storage *st);

#endif
