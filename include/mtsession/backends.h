/*
 * mtsession/backends.h - constructors of the built-in backends.
 *
 * Every constructor exists in every build. One whose backend was compiled
 * out returns MTS_ENOTSUPPORTED with a message naming the CMake option, so
 * callers never need #ifdef. mts_backend_available() says at run time.
 */
#ifndef MTSESSION_BACKENDS_H
#define MTSESSION_BACKENDS_H

#include "common.h"
#include "errors.h"
#include "seal.h"
#include "storage.h"

MTS_BEGIN_DECL

/* ---- binary file (the default) ---------------------------------------- */

typedef enum mts_file_flag {
    /**
     * Follow a symbolic link at `path` (resolved once, at open). Without
     * it a symlink is refused with MTS_EINVAL.
     */
    MTS_FILE_FOLLOW_SYMLINK = 1
} mts_file_flag;

#define MTS_FILE_OPTIONS_VERSION 1

typedef struct mts_file_options {
    unsigned int version;
    unsigned int flags; /* mts_file_flag bits */
    /**
     * When not NULL, saves write a sealed (encrypted) file and loads open
     * sealed files with this secret (seal.h). Borrowed: it must outlive
     * the handle. When NULL, a sealed file loads as MTS_EENCRYPTED.
     */
    mts_secret *secret;
} mts_file_options;

#define MTS_FILE_OPTIONS_INIT { MTS_FILE_OPTIONS_VERSION, 0, NULL }

/**
 * A session in one binary file (docs/FORMAT.md).
 *
 * - save replaces the file atomically: a uniquely named temp file
 *   (created 0600, O_EXCL) in the same directory is written, fsynced and
 *   renamed over `path`, then the directory is fsynced. On any error the
 *   old file is intact and the temp file is removed, with one exception:
 *   if only the final fsync of the directory fails, the new file is
 *   already in place and MTS_EIO says it may not survive a crash.
 *   I/O errors are MTS_EIO with errno in err->native and a message naming
 *   the step and the file.
 * - The first write (save, delete, or a granular change) through a handle
 *   takes an advisory lock on "<path>.lock" (kept until the handle is
 *   freed; released by the kernel if the process dies). Another handle
 *   writing the same file, in this process or another, gets MTS_ELOCKED
 *   "locked by pid N". The lock file is never deleted. Holding the lock,
 *   the handle removes temp files left by a crash (best effort).
 * - load of a missing file is MTS_ENOTFOUND; any other failure is an error
 *   naming the problem (an empty file is MTS_ECORRUPT; a symlink that
 *   appeared at `path` after open is MTS_EINVAL). The file is never
 *   renamed or replaced on load.
 *
 * opts may be NULL for the defaults. Returns 0, MTS_EINVAL (empty path, a
 * path that does not name a file, unknown options, or a symlink without
 * MTS_FILE_FOLLOW_SYMLINK), MTS_EIO (the path or link could not be
 * examined), MTS_ENOMEM.
 */
MTS_API int mts_file_open(mts_storage **out, const char *path,
                          const mts_file_options *opts, mts_error *err);

/**
 * Replace the file at `path` with `len` bytes atomically and durably, with
 * the same procedure as the file backend's save (unique 0600 temp file in
 * the same directory, fsync, rename, fsync of the directory; a symlink at
 * `path` is refused unless flags has MTS_FILE_FOLLOW_SYMLINK). On error
 * the old file is intact, except after a failed fsync of the directory
 * (see mts_file_open). Takes no lock. Returns 0, MTS_EINVAL, MTS_EIO or
 * MTS_ENOMEM.
 */
MTS_API int mts_file_write_atomic(const char *path, const void *data,
                                  size_t len, unsigned int flags,
                                  mts_error *err);

/**
 * Read a whole regular file (at most `max` bytes, 0 meaning MTS_INPUT_MAX)
 * into *out (caller frees with mts_free; NUL-terminated one past *out_len).
 * Symbolic links are followed. Returns 0, MTS_EINVAL (empty path),
 * MTS_ENOTFOUND (no such file), MTS_EIO (with errno in err->native; also
 * for a path that is not a regular file), MTS_ELIMIT (larger than max),
 * MTS_ENOMEM.
 */
MTS_API int mts_file_read(uint8_t **out, size_t *out_len, const char *path,
                          size_t max, mts_error *err);

/* ---- in-memory --------------------------------------------------------- */

/**
 * A session kept in process memory only. Granular changes are applied in
 * place. Returns 0 or MTS_ENOMEM.
 */
MTS_API int mts_memory_open(mts_storage **out, mts_error *err);

/* ---- portable string --------------------------------------------------- */

/**
 * A session kept as a portable string (codec.h). `initial` may be NULL or
 * empty (nothing stored) or a string to start from; it is copied and
 * checked on first load, not here. Returns 0 or MTS_ENOMEM.
 */
MTS_API int mts_string_open(mts_storage **out, const char *initial,
                            mts_error *err);

/**
 * As mts_string_open, but saves produce sealed strings and loads open
 * sealed strings with `secret` (borrowed: it must outlive the handle).
 */
MTS_API int mts_string_open_sealed(mts_storage **out, const char *initial,
                                   mts_secret *secret, mts_error *err);

/**
 * A copy of the string a string-backend handle holds now ("" when nothing
 * is stored); the caller frees it with mts_free. Returns 0, MTS_EINVAL
 * (st is not a string backend) or MTS_ENOMEM.
 */
MTS_API int mts_string_current(char **out, mts_storage *st, mts_error *err);

/* ---- SQLite (MTSESSION_WITH_SQLITE) ----------------------------------- */

/**
 * Open (creating if needed) the SQLite database at `path` and select the
 * session called `name` (NULL means "default").
 */
MTS_API int mts_sqlite_open(mts_storage **out, const char *path,
                            const char *name, mts_error *err);
/** A private in-memory SQLite database. */
MTS_API int mts_sqlite_open_memory(mts_storage **out, const char *name,
                                   mts_error *err);

/* ---- libSQL (MTSESSION_WITH_LIBSQL) ----------------------------------- */

MTS_API int mts_libsql_open_local(mts_storage **out, const char *path,
                                  const char *name, mts_error *err);
MTS_API int mts_libsql_open_memory(mts_storage **out, const char *name,
                                   mts_error *err);
MTS_API int mts_libsql_open_remote(mts_storage **out, const char *url,
                                   const char *auth_token, const char *name,
                                   mts_error *err);
MTS_API int mts_libsql_open_replica(mts_storage **out, const char *path,
                                    const char *url, const char *auth_token,
                                    const char *name, mts_error *err);

/* ---- run-time discovery ------------------------------------------------ */

/**
 * NULL-terminated static list of the backends compiled in
 * ("file", "memory", "string", ...).
 */
MTS_API const char *const *mts_backend_list(void);

/** 1 if the named backend is compiled in, else 0. */
MTS_API int mts_backend_available(const char *name);

MTS_END_DECL

#endif /* MTSESSION_BACKENDS_H */
