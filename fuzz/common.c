/*
 * common.c - the checks the fuzz targets share (see common.h).
 *
 * Everything here runs once per input, so it favours plain, obviously
 * right code over speed. Every buffer the library hands out is freed with
 * mts_free so that leak detection under libFuzzer stays meaningful.
 *
 * Thread-safety: none needed; a fuzzer calls one input at a time.
 */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("fuzz: contract broken: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

void
fuzz_check_error(const char *what,
                 int rc,
                 const mts_error *err,
                 unsigned allowed)
{
    if (rc >= 0 || rc < MTS__ERRNO_LAST)
        fuzz_fail("%s returned %d, not an error code", what, rc);
    if (!(allowed & FUZZ_CODE(rc)))
        fuzz_fail("%s returned %s, which its contract does not list (%s)", what,
                  mts_errname(rc), err->message);
    if (err->code != rc)
        fuzz_fail("%s returned %s but err->code is %s", what, mts_errname(rc),
                  mts_errname(err->code));
    if (memchr(err->message, '\0', sizeof(err->message)) == NULL)
        fuzz_fail("%s left err->message unterminated", what);
    if (err->message[0] == '\0')
        fuzz_fail("%s returned %s with an empty message", what,
                  mts_errname(rc));
}

/* Same bytes, or abort naming the encoding. */
static void
same_bytes(
    const char *what, const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen || memcmp(a, b, alen) != 0)
        fuzz_fail("%s is not a fixed point: %zu bytes, then %zu bytes", what,
                  alen, blen);
}

static void
check_binary(const mts_session *s)
{
    mts_error err = MTS_ERROR_INIT;
    mts_session *back = NULL;
    uint8_t *bin = NULL, *again = NULL;
    size_t n = 0, n2 = 0;
    int rc;

    rc = mts_encode(&bin, &n, s, &err);
    if (rc != 0)
        fuzz_fail("mts_encode of a decoded session: %s (%s)", mts_errname(rc),
                  err.message);
    if (mts_encoded_size(s) != (uint64_t)n)
        fuzz_fail("mts_encoded_size says %llu, mts_encode wrote %zu",
                  (unsigned long long)mts_encoded_size(s), n);
    rc = mts_decode(&back, bin, n, &err);
    if (rc != 0)
        fuzz_fail("mts_decode of mts_encode output: %s (%s)", mts_errname(rc),
                  err.message);
    if (!mts_session_equal(s, back))
        fuzz_fail("binary: decode(encode(x)) differs from x");
    rc = mts_encode(&again, &n2, back, &err);
    if (rc != 0)
        fuzz_fail("mts_encode of a re-decoded session: %s (%s)",
                  mts_errname(rc), err.message);
    same_bytes("binary encoding", bin, n, again, n2);
    mts_session_free(back);
    mts_free(bin);
    mts_free(again);
}

static void
check_string(const mts_session *s)
{
    mts_error err = MTS_ERROR_INIT;
    mts_session *back = NULL;
    char *str = NULL, *again = NULL;
    int rc;

    rc = mts_string_encode(&str, s, &err);
    if (rc != 0)
        fuzz_fail("mts_string_encode of a decoded session: %s (%s)",
                  mts_errname(rc), err.message);
    rc = mts_string_decode(&back, str, strlen(str), &err);
    if (rc != 0)
        fuzz_fail("mts_string_decode of mts_string_encode output: %s (%s)",
                  mts_errname(rc), err.message);
    if (!mts_session_equal(s, back))
        fuzz_fail("string: decode(encode(x)) differs from x");
    rc = mts_string_encode(&again, back, &err);
    if (rc != 0)
        fuzz_fail("mts_string_encode of a re-decoded session: %s (%s)",
                  mts_errname(rc), err.message);
    same_bytes("portable string", str, strlen(str), again, strlen(again));
    mts_session_free(back);
    mts_free(str);
    mts_free(again);
}

static void
check_json(const mts_session *s)
{
    mts_error err = MTS_ERROR_INIT;
    mts_session *back = NULL;
    char *doc = NULL, *again = NULL;
    size_t n = 0, n2 = 0;
    int rc;

    rc = mts_json_encode(&doc, &n, s, &err);
    if (rc != 0)
        fuzz_fail("mts_json_encode of a decoded session: %s (%s)",
                  mts_errname(rc), err.message);
    if (strlen(doc) != n)
        fuzz_fail("mts_json_encode: length %zu but the text has %zu", n,
                  strlen(doc));
    rc = mts_json_decode(&back, doc, n, &err);
    if (rc != 0)
        fuzz_fail("mts_json_decode of mts_json_encode output: %s (%s)",
                  mts_errname(rc), err.message);
    if (!mts_session_equal(s, back))
        fuzz_fail("json: decode(encode(x)) differs from x");
    rc = mts_json_encode(&again, &n2, back, &err);
    if (rc != 0)
        fuzz_fail("mts_json_encode of a re-decoded session: %s (%s)",
                  mts_errname(rc), err.message);
    same_bytes("canonical JSON", doc, n, again, n2);
    mts_session_free(back);
    mts_free(doc);
    mts_free(again);
}

void
fuzz_check_session(const mts_session *s)
{
    mts_session *copy = NULL;

    if (!mts_session_equal(s, s))
        fuzz_fail("mts_session_equal(x, x) is 0");
    if (mts_session_dup(&copy, s) != 0)
        fuzz_fail("mts_session_dup failed");
    if (!mts_session_equal(s, copy))
        fuzz_fail("mts_session_dup made an unequal copy");
    mts_session_free(copy);
    check_binary(s);
    check_string(s);
    check_json(s);
}

/* Write s as fmt, read it back, write again: same bytes. */
static void
check_format_writer(mts_format fmt, const mts_session *s)
{
    mts_error err = MTS_ERROR_INIT;
    mts_session *back = NULL;
    uint8_t *out = NULL, *again = NULL;
    size_t n = 0, n2 = 0;
    const char *name = mts_format_name(fmt);
    int rc;

    rc = mts_format_encode(&out, &n, fmt, s, NULL, NULL, &err);
    if (rc != 0) {
        /* A format may lack room for what it read, or need a key. */
        fuzz_check_error("mts_format_encode", rc, &err,
                         FUZZ_CODE(MTS_EINVAL) | FUZZ_CODE(MTS_ELIMIT) |
                             FUZZ_CODE(MTS_ENOMEM));
        return;
    }
    rc = mts_format_decode(&back, fmt, out, n, &err);
    if (rc != 0)
        fuzz_fail("%s: the library cannot read what it wrote: %s (%s)", name,
                  mts_errname(rc), err.message);
    rc = mts_format_encode(&again, &n2, fmt, back, NULL, NULL, &err);
    if (rc != 0)
        fuzz_fail("%s: writing a session read from its own output: %s (%s)",
                  name, mts_errname(rc), err.message);
    same_bytes(name, out, n, again, n2);
    mts_session_free(back);
    mts_free(out);
    mts_free(again);
}

void
fuzz_check_format(mts_format fmt,
                  const uint8_t *data,
                  size_t size,
                  unsigned allowed)
{
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = NULL;
    unsigned caps = mts_format_caps(fmt);
    int rc;

    rc = mts_format_decode(&s, fmt, data, size, &err);
    if (rc == MTS_ENOTSUPPORTED && !(caps & MTS_FORMAT_CAN_READ))
        return; /* not in this build (yet) */
    if (rc != 0) {
        fuzz_check_error("mts_format_decode", rc, &err, allowed);
        return;
    }
    if (!(caps & MTS_FORMAT_CAN_READ))
        fuzz_fail("%s decoded although its caps say it cannot read",
                  mts_format_name(fmt));
    fuzz_check_session(s);
    if (caps & MTS_FORMAT_CAN_WRITE)
        check_format_writer(fmt, s);
    mts_session_free(s);
}
