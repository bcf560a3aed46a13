/*
 * common.h - the checks every fuzz target shares.
 *
 * A target hands its input to one decoder. Bad input is never a failure:
 * what fails is a broken contract in what the library does with it. Every
 * check below prints one line to stderr and calls abort(), so libFuzzer
 * (or the standalone driver, under gcc) reports the input that broke it.
 *
 * Contracts checked:
 * - a failed decode returns one of the codes its header documents, fills
 *   the caller's mts_error with the same code and a non-empty message;
 * - a decoded session is valid and encodable: it survives the binary,
 *   portable-string and JSON round trips unchanged, and each encoding is
 *   a fixed point (encoding the decoded copy gives identical bytes);
 * - a format that can write what it read produces bytes that it reads
 *   back, and writing that again gives identical bytes.
 */
#ifndef MTS_FUZZ_COMMON_H
#define MTS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "mtsession/codec.h"
#include "mtsession/convert.h"
#include "mtsession/session.h"
#include "mtsession/sys/alloc.h"

/* The entry point libFuzzer (or standalone_driver.c) calls. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Sets of error codes, one bit per code. */
#define FUZZ_CODE(c) (1u << (unsigned)-(c))
/* What every decoder in codec.h may return; a sealed file (seal.h) read
 * without its key is MTS_EENCRYPTED. */
#define FUZZ_DECODE_CODES                                                      \
    (FUZZ_CODE(MTS_ECORRUPT) | FUZZ_CODE(MTS_EVERSION) |                       \
     FUZZ_CODE(MTS_EFORMAT) | FUZZ_CODE(MTS_ENOMEM) |                          \
     FUZZ_CODE(MTS_EENCRYPTED))

#if defined(__GNUC__) || defined(__clang__)
#define FUZZ_FAIL_ATTRS __attribute__((noreturn, format(printf, 1, 2)))
#else
#define FUZZ_FAIL_ATTRS
#endif

/* Report a broken contract on stderr and abort. */
void fuzz_fail(const char *fmt, ...) FUZZ_FAIL_ATTRS;

/*
 * Check a failed call: rc is negative and in `allowed`, err holds rc and
 * a non-empty, terminated message. `what` names the call for the report.
 */
void fuzz_check_error(const char *what,
                      int rc,
                      const mts_error *err,
                      unsigned allowed);

/* The round trips every decoded session must survive (see above). */
void fuzz_check_session(const mts_session *s);

/*
 * Decode the input as fmt through mts_format_decode and check the result:
 * errors against `allowed`, a session with fuzz_check_session, then the
 * format's own write/read/write fixed point where it can write. A format
 * this build cannot read (MTS_ENOTSUPPORTED) is skipped.
 */
void fuzz_check_format(mts_format fmt,
                       const uint8_t *data,
                       size_t size,
                       unsigned allowed);

#endif /* MTS_FUZZ_COMMON_H */
