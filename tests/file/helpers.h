/*
 * helpers.h - shared pieces of the file backend tests: sessions to store,
 * directory listings, and byte-exact file checks.
 */
#ifndef MTS_TEST_FILE_HELPERS_H
#define MTS_TEST_FILE_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include "mtsession/mtsession.h"

/* A session with auth keys, peers and channel state; `variant` changes
 * every part of it, so two variants never compare equal. NULL on error. */
mts_session *h_session(int variant);
/* mts_encode of s; exits the test binary on failure. */
uint8_t *h_encode(const mts_session *s, size_t *len);
/* A new empty directory under the test's tmpdir, named after `name`. */
const char *h_dir(const char *name, char *buf, size_t size);
/* dir + "/" + name into buf. */
void h_join(char *buf, size_t size, const char *dir, const char *name);
/* How many entries of dir contain `needle` in their name. */
int h_count(const char *dir, const char *needle);
/* Entries of dir (without . and ..). */
int h_entries(const char *dir);
/* 1 when the file at path holds exactly data[0..len). */
int h_file_is(const char *path, const uint8_t *data, size_t len);
/* Open descriptors of this process. */
int h_open_fds(void);

#endif
