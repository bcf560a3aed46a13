/*
 * mtsession/convert.h - named formats: detection, reading, writing.
 *
 * Every format (this library's and other libraries') is named as in the
 * CLI contract. Byte formats (files read whole, strings) are decoded from
 * and encoded to memory here; store formats (SQL databases) are opened
 * through their backends. A format this build cannot handle returns
 * MTS_ENOTSUPPORTED with a message naming it.
 *
 * Detection never guesses: when two formats fit the same input it returns
 * MTS_EAMBIGUOUS and lists the candidates in the message.
 */
#ifndef MTSESSION_CONVERT_H
#define MTSESSION_CONVERT_H

#include "common.h"
#include "errors.h"
#include "session.h"

MTS_BEGIN_DECL

typedef enum mts_format {
    MTS_FORMAT_UNKNOWN = 0,
    MTS_FORMAT_JSON,
    MTS_FORMAT_MTSESSION,
    MTS_FORMAT_MTSESSION_STRING,
    MTS_FORMAT_SQLITE,
    MTS_FORMAT_LIBSQL,
    MTS_FORMAT_POSTGRES,
    MTS_FORMAT_FEROGRAM,
    MTS_FORMAT_FEROGRAM_STRING,
    MTS_FORMAT_FEROGRAM_COMPACT,
    MTS_FORMAT_TELETHON_STRING,
    MTS_FORMAT_TELETHON_SQLITE,
    MTS_FORMAT_PYROGRAM_STRING,
    MTS_FORMAT_PYROGRAM_SQLITE,
    MTS_FORMAT_GRAMJS_STRING,
    MTS_FORMAT_MTCUTE_STRING,
    MTS__FORMAT_COUNT
} mts_format;

/** The format's CLI name ("telethon-string"); "unknown" for others. */
MTS_API const char *mts_format_name(mts_format fmt);

/** Look a name up. 0, or MTS_EINVAL for a name no format has. */
MTS_API int mts_format_from_name(mts_format *out, const char *name);

/** Capability bits of a format in this build. */
typedef enum mts_format_cap {
    MTS_FORMAT_CAN_READ = 1,
    MTS_FORMAT_CAN_WRITE = 2,
    MTS_FORMAT_IS_TEXT = 4,  /* a one-line string format */
    MTS_FORMAT_IS_STORE = 8  /* a database opened by path or URL */
} mts_format_cap;

/** Capabilities of fmt in this build (0 when unsupported). */
MTS_API unsigned int mts_format_caps(mts_format fmt);

/**
 * Detect the format of a whole input (file contents or a string).
 * Returns 0 with *out, MTS_EFORMAT (nothing fits; the message says what the
 * input looks like where it can), or MTS_EAMBIGUOUS (the message lists
 * every candidate, e.g. "pyrogram-string or ferogram-compact").
 */
MTS_API int mts_format_detect(mts_format *out, const uint8_t *data,
                              size_t len, mts_error *err);

/**
 * Called once per kind of data a target format cannot hold, with a short
 * description ("peers (3)"). `payload` is the caller's.
 */
typedef void (*mts_warn_fn)(const char *what, void *payload);

/**
 * Decode `data` as `fmt`. Returns 0, MTS_ENOTSUPPORTED (store format or
 * not in this build), or the decoder's errors (see codec.h). When the data
 * is some other known format the message says which.
 */
MTS_API int mts_format_decode(mts_session **out, mts_format fmt,
                              const uint8_t *data, size_t len,
                              mts_error *err);

/**
 * Encode `s` as `fmt` into *out / *out_len (caller frees with mts_free).
 * String formats get a trailing newline. Data the format cannot hold is
 * dropped, with one call of warn (may be NULL) per kind dropped.
 * Returns 0, MTS_ENOTSUPPORTED, MTS_EINVAL (the session lacks something
 * the format requires, e.g. an auth key), MTS_ELIMIT, MTS_ENOMEM.
 */
MTS_API int mts_format_encode(uint8_t **out, size_t *out_len, mts_format fmt,
                              const mts_session *s, mts_warn_fn warn,
                              void *payload, mts_error *err);

#define MTS_FORMAT_OPTIONS_VERSION 1

/** Options for mts_format_encode_opts. */
typedef struct mts_format_options {
    unsigned int version;
    /**
     * The target format's own version to write, where it has several
     * (ferogram: 8 or 5; ferogram-compact: 2 or 1); 0 = the default.
     * A version the format cannot write is MTS_EINVAL.
     */
    int format_version;
} mts_format_options;

#define MTS_FORMAT_OPTIONS_INIT { MTS_FORMAT_OPTIONS_VERSION, 0 }

/** mts_format_encode with options (opts may be NULL for the defaults). */
MTS_API int mts_format_encode_opts(uint8_t **out, size_t *out_len,
                                   mts_format fmt, const mts_session *s,
                                   const mts_format_options *opts,
                                   mts_warn_fn warn, void *payload,
                                   mts_error *err);

MTS_END_DECL

#endif /* MTSESSION_CONVERT_H */
