/*
 * mtsession/codec.h - this library's own encodings of a session.
 *
 * - Binary (docs/FORMAT.md): byte 0 is the version. Version 2 is written;
 *   versions 1 (legacy DC table) and 2 are read. Strict: every length is
 *   checked, trailing bytes are refused, and a version-2 file is
 *   checksummed (CRC-32C) before anything in it is trusted.
 * - Portable string: "mts:" followed by the version-2 bytes in URL-safe
 *   base64 without padding. White space around it is ignored.
 * - JSON: the mtsession-json document (docs/JSON.md), canonical on output.
 *
 * Every decoder either returns a complete, valid session or an error with
 * the field and byte offset in err; it never returns half a session.
 * Encoded buffers and strings belong to the caller (free with mts_free).
 */
#ifndef MTSESSION_CODEC_H
#define MTSESSION_CODEC_H

#include "common.h"
#include "errors.h"
#include "session.h"

MTS_BEGIN_DECL

/** The version byte save() writes. */
#define MTS_FORMAT_VERSION_CURRENT 2
/** The legacy DC-table-only version, read only. */
#define MTS_FORMAT_VERSION_LEGACY 1

/** Prefix of the portable string. */
#define MTS_STRING_PREFIX "mts:"

/** Hard upper bound on any input a decoder accepts (bytes). */
#define MTS_INPUT_MAX ((size_t)1 << 31)

/**
 * Encode `s` as a version-2 file. *out (caller frees with mts_free) and
 * *out_len receive the bytes. Canonical: equal sessions give equal bytes.
 * Returns 0, MTS_ENOMEM or MTS_ELIMIT.
 */
MTS_API int mts_encode(uint8_t **out, size_t *out_len, const mts_session *s,
                       mts_error *err);

/** The exact size mts_encode would produce; no allocation. */
MTS_API uint64_t mts_encoded_size(const mts_session *s);

/**
 * Decode a version-1 or version-2 file.
 * Returns 0, MTS_ECORRUPT (malformed, truncated, checksum mismatch:
 * err names the field and offset), MTS_EVERSION (unknown version byte, an
 * unknown required section, or flag bits this reader does not know),
 * MTS_EENCRYPTED (a sealed file: use mts_decode_any), MTS_EFORMAT (empty,
 * or not this library's data), MTS_ENOMEM.
 */
MTS_API int mts_decode(mts_session **out, const uint8_t *data, size_t len,
                       mts_error *err);

/**
 * Encode as the portable string (NUL-terminated, no newline).
 * Returns 0, MTS_ENOMEM or MTS_ELIMIT.
 */
MTS_API int mts_string_encode(char **out, const mts_session *s,
                              mts_error *err);

/**
 * Decode a portable string of `len` bytes (surrounding white space
 * ignored). Returns 0, MTS_EFORMAT (no prefix), MTS_ECORRUPT (bad base64,
 * with the character offset, or bad payload), MTS_EVERSION, MTS_EENCRYPTED
 * (a sealed string: use mts_string_decode_any), MTS_ENOMEM.
 */
MTS_API int mts_string_decode(mts_session **out, const char *text, size_t len,
                              mts_error *err);

/**
 * Encode as the canonical mtsession-json document (ends with a newline).
 * *out is NUL-terminated; *out_len excludes the NUL. Auth keys are
 * included: the document is a full dump.
 * Returns 0, MTS_ENOMEM, MTS_ELIMIT (the document would exceed
 * MTS_INPUT_MAX bytes) or MTS_EINVAL (NULL out or s).
 */
MTS_API int mts_json_encode(char **out, size_t *out_len, const mts_session *s,
                            mts_error *err);

/**
 * Parse an mtsession-json document. Unknown keys are ignored; every listed
 * key is required. Integers must be exact JSON integers in range for their
 * field. Errors name the field path (e.g. "peers[3].access_hash") and the
 * byte offset. Returns 0, MTS_ECORRUPT, MTS_EVERSION (document version),
 * MTS_EFORMAT (not an mtsession-json document), MTS_ENOMEM, MTS_EINVAL
 * (NULL out, or NULL text with len > 0).
 */
MTS_API int mts_json_decode(mts_session **out, const char *text, size_t len,
                            mts_error *err);

/* Building blocks, exported for tools and tests. */

/** CRC-32C (Castagnoli) of data, continuing from crc (start with 0). */
MTS_API uint32_t mts_crc32c(uint32_t crc, const void *data, size_t len);

/**
 * URL-safe base64 without padding. *out is NUL-terminated.
 * Returns 0 or MTS_ENOMEM.
 */
MTS_API int mts_base64url_encode(char **out, const uint8_t *data, size_t len);

/**
 * Strict decoding of URL-safe base64 without padding (non-zero trailing
 * bits refused). Returns 0, MTS_ECORRUPT (err->offset is the character),
 * MTS_ENOMEM.
 */
MTS_API int mts_base64url_decode(uint8_t **out, size_t *out_len,
                                 const char *text, size_t len, mts_error *err);

MTS_END_DECL

#endif /* MTSESSION_CODEC_H */
