/*
 * mtsession/errors.h - error codes and the caller-owned error record.
 *
 * Every fallible function returns an int: 0 on success or one of the
 * negative MTS_E... codes below. The table is append-only: a code keeps its
 * number forever, and a retired code is never reused.
 *
 * Detail goes into an optional caller-owned mts_error (pass NULL when the
 * code is enough). The library never keeps error state in globals or
 * thread-locals, so concurrent callers each use their own record. The
 * message is one line saying what happened and where (field, byte offset);
 * it never contains secret material (auth keys, salts, tokens).
 */
#ifndef MTSESSION_ERRORS_H
#define MTSESSION_ERRORS_H

#include "common.h"

MTS_BEGIN_DECL

/* X(name, value, description). Append only. */
#define MTS_ERRNO_MAP(X)                                                      \
    X(OK, 0, "success")                                                       \
    X(ENOTFOUND, -1, "not found")                                             \
    X(ECORRUPT, -2, "data is corrupt or malformed")                           \
    X(EVERSION, -3, "unsupported format version")                             \
    X(EENCRYPTED, -4, "session is encrypted and no key was given")            \
    X(EBADKEY, -5, "wrong key or passphrase")                                 \
    X(EIO, -6, "I/O error")                                                   \
    X(ENOMEM, -7, "out of memory")                                            \
    X(EINVAL, -8, "invalid argument")                                         \
    X(ENOTSUPPORTED, -9, "not supported")                                     \
    X(ELOCKED, -10, "held by another process or lease owner")                 \
    X(EFENCED, -11, "write fenced off by a newer lease holder")               \
    X(EBACKEND, -12, "backend error")                                         \
    X(EAMBIGUOUS, -13, "input matches more than one format")                  \
    X(ELIMIT, -14, "value exceeds what the format can represent")             \
    X(EFORMAT, -15, "input is not in the expected format")                    \
    X(ECONFLICT, -16, "the stored session changed since it was read")

typedef enum mts_errno {
#define MTS__ERRNO_ENUM(name, value, text) MTS_##name = value,
    MTS_ERRNO_MAP(MTS__ERRNO_ENUM)
#undef MTS__ERRNO_ENUM
    MTS__ERRNO_LAST = -16
} mts_errno;

/** Size of mts_error.message, including the terminating NUL. */
#define MTS_ERROR_MESSAGE_SIZE 256

/**
 * A caller-owned error record. Functions that take `mts_error *err` fill it
 * on failure (when err is not NULL) and leave it untouched on success.
 *
 * - code:    the same negative value the function returned.
 * - native:  the lower layer's code where one exists (errno for I/O, the
 *            SQLite extended result code, the HTTP status), else 0.
 * - offset:  byte offset in the input that failed, or -1 when none applies.
 * - message: one NUL-terminated line; may be truncated to fit.
 */
typedef struct mts_error {
    int code;
    int native;
    int64_t offset;
    char message[MTS_ERROR_MESSAGE_SIZE];
} mts_error;

#define MTS_ERROR_INIT { 0, 0, -1, { 0 } }

/** Reset `err` to the MTS_ERROR_INIT state. Accepts NULL. */
MTS_API void mts_error_clear(mts_error *err);

/** Static description of a code ("not found"); never NULL. */
MTS_API const char *mts_strerror(int code);

/** Static name of a code ("MTS_ENOTFOUND"); "MTS_E?" for unknown codes. */
MTS_API const char *mts_errname(int code);

MTS_END_DECL

#endif /* MTSESSION_ERRORS_H */
