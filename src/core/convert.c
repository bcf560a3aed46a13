/*
 * convert.c - the format registry: names, capabilities, detection, and
 * dispatch to each format's decoder and encoder.
 *
 * Each byte format is an mts__format_ops (internal.h). This file holds
 * this library's own three (json, mtsession, mtsession-string); other
 * libraries' formats live in src/formats/ and are listed in `formats`.
 * Detection asks every format's probe and refuses to guess when more than
 * one fits.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const format_names[MTS__FORMAT_COUNT] = {
    [MTS_FORMAT_UNKNOWN] = "unknown",
    [MTS_FORMAT_JSON] = "json",
    [MTS_FORMAT_MTSESSION] = "mtsession",
    [MTS_FORMAT_MTSESSION_STRING] = "mtsession-string",
    [MTS_FORMAT_SQLITE] = "sqlite",
    [MTS_FORMAT_LIBSQL] = "libsql",
    [MTS_FORMAT_POSTGRES] = "postgres",
    [MTS_FORMAT_FEROGRAM] = "ferogram",
    [MTS_FORMAT_FEROGRAM_STRING] = "ferogram-string",
    [MTS_FORMAT_FEROGRAM_COMPACT] = "ferogram-compact",
    [MTS_FORMAT_TELETHON_STRING] = "telethon-string",
    [MTS_FORMAT_TELETHON_SQLITE] = "telethon-sqlite",
    [MTS_FORMAT_PYROGRAM_STRING] = "pyrogram-string",
    [MTS_FORMAT_PYROGRAM_SQLITE] = "pyrogram-sqlite",
    [MTS_FORMAT_GRAMJS_STRING] = "gramjs-string",
    [MTS_FORMAT_MTCUTE_STRING] = "mtcute-string",
};

const uint8_t *
mts__trim(const uint8_t *data, size_t *n)
{
    size_t start = 0, end = *n;
    while (start < end && (data[start] == ' ' || data[start] == '\t' ||
                           data[start] == '\r' || data[start] == '\n'))
        start++;
    while (end > start && (data[end - 1] == ' ' || data[end - 1] == '\t' ||
                           data[end - 1] == '\r' || data[end - 1] == '\n'))
        end--;
    *n = end - start;
    return data + start;
}

/* ---- this library's formats ------------------------------------------- */

static int
probe_json(const uint8_t *data, size_t len)
{
    const uint8_t *p = mts__trim(data, &len);
    size_t scan = len < 4096 ? len : 4096;
    return len > 0 && p[0] == '{' &&
           memmem(p, scan, "\"mtsession-json\"", 16) != NULL;
}

static int
dec_json(mts_session **out, const uint8_t *data, size_t len, mts_error *err)
{
    return mts_json_decode(out, (const char *)data, len, err);
}

static int
enc_json(uint8_t **out, size_t *out_len, const mts_session *s,
         const mts_format_options *opts, mts_warn_fn warn, void *payload,
         mts_error *err)
{
    char *text;
    size_t n;
    int rc;
    (void)opts;
    (void)warn;
    (void)payload;
    rc = mts_json_encode(&text, &n, s, err);
    if (rc != 0)
        return rc;
    /* The document already ends with its newline. */
    *out = (uint8_t *)text;
    *out_len = n;
    return 0;
}

static int
probe_binary(const uint8_t *data, size_t len)
{
    mts_session *s;
    if (len >= 8 && data[0] == MTS_FORMAT_VERSION_CURRENT)
        return memcmp(data + 1, "MTSESS\x1a", 7) == 0;
    if (len >= 6 && data[0] == MTS_FORMAT_VERSION_LEGACY) {
        int rc = mts_decode(&s, data, len, NULL);
        if (rc == MTS_ENOMEM)
            return rc;
        if (rc == 0) {
            mts_session_free(s);
            return 1;
        }
    }
    return 0;
}

static int
dec_binary(mts_session **out, const uint8_t *data, size_t len, mts_error *err)
{
    return mts_decode(out, data, len, err);
}

static int
enc_binary(uint8_t **out, size_t *out_len, const mts_session *s,
           const mts_format_options *opts, mts_warn_fn warn, void *payload,
           mts_error *err)
{
    (void)opts;
    (void)warn;
    (void)payload;
    return mts_encode(out, out_len, s, err);
}

static int
probe_string(const uint8_t *data, size_t len)
{
    const uint8_t *p = mts__trim(data, &len);
    size_t plen = sizeof(MTS_STRING_PREFIX) - 1;
    return len >= plen && memcmp(p, MTS_STRING_PREFIX, plen) == 0;
}

static int
dec_string(mts_session **out, const uint8_t *data, size_t len, mts_error *err)
{
    return mts_string_decode(out, (const char *)data, len, err);
}

static int
enc_string(uint8_t **out, size_t *out_len, const mts_session *s,
           const mts_format_options *opts, mts_warn_fn warn, void *payload,
           mts_error *err)
{
    char *str;
    int rc;
    (void)opts;
    (void)warn;
    (void)payload;
    rc = mts_string_encode(&str, s, err);
    if (rc != 0)
        return rc;
    *out = (uint8_t *)str;
    *out_len = strlen(str);
    return 0;
}

static const mts__format_ops fmt_json = {
    MTS_FORMAT_JSON, MTS_FORMAT_CAN_READ | MTS_FORMAT_CAN_WRITE, probe_json,
    dec_json, enc_json
};
static const mts__format_ops fmt_binary = {
    MTS_FORMAT_MTSESSION, MTS_FORMAT_CAN_READ | MTS_FORMAT_CAN_WRITE,
    probe_binary, dec_binary, enc_binary
};
static const mts__format_ops fmt_string = {
    MTS_FORMAT_MTSESSION_STRING,
    MTS_FORMAT_CAN_READ | MTS_FORMAT_CAN_WRITE | MTS_FORMAT_IS_TEXT,
    probe_string, dec_string, enc_string
};

/* Every byte format this build has. */
static const mts__format_ops *const formats[] = {
    &fmt_json,
    &fmt_binary,
    &fmt_string,
    &mts__fmt_ferogram,
    &mts__fmt_ferogram_string,
    &mts__fmt_ferogram_compact,
    &mts__fmt_telethon_string,
    &mts__fmt_telethon_sqlite,
    &mts__fmt_pyrogram_string,
    &mts__fmt_pyrogram_sqlite,
    &mts__fmt_gramjs_string,
    &mts__fmt_mtcute_string,
};

void
mts__warn(mts_warn_fn warn, void *payload, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    if (warn == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    warn(what, payload);
}

static const mts__format_ops *
find_ops(mts_format fmt)
{
    for (size_t i = 0; i < MTS__ARRAY_LEN(formats); i++)
        if (formats[i]->fmt == fmt)
            return formats[i];
    return NULL;
}

/* ---- public API -------------------------------------------------------- */

const char *
mts_format_name(mts_format fmt)
{
    if ((int)fmt <= 0 || fmt >= MTS__FORMAT_COUNT)
        return "unknown";
    return format_names[fmt];
}

int
mts_format_from_name(mts_format *out, const char *name)
{
    if (out == NULL || name == NULL)
        return MTS_EINVAL;
    for (int i = 1; i < MTS__FORMAT_COUNT; i++)
        if (strcmp(format_names[i], name) == 0) {
            *out = (mts_format)i;
            return 0;
        }
    return MTS_EINVAL;
}

unsigned int
mts_format_caps(mts_format fmt)
{
    const mts__format_ops *ops = find_ops(fmt);
    return ops ? ops->caps : 0;
}

/* What an unrecognised input looks like, for the error message. */
static const char *
describe(const uint8_t *data, size_t len)
{
    const uint8_t *p = mts__trim(data, &len);
    if (len >= 16 && memcmp(p, "SQLite format 3", 16) == 0)
        return "an SQLite database: open it as a store (sqlite, "
               "telethon-sqlite or pyrogram-sqlite)";
    if (len > 0 && p[0] == '{')
        return "JSON, but not an mtsession-json document";
    return NULL;
}

int
mts_format_detect(mts_format *out, const uint8_t *data, size_t len,
                  mts_error *err)
{
    mts_format found[MTS__FORMAT_COUNT];
    size_t n = 0;
    const char *what;
    if (out == NULL || (data == NULL && len != 0))
        return mts__err(err, MTS_EINVAL, "detect: NULL argument");
    if (len == 0)
        return mts__err_at(err, MTS_EFORMAT, 0, "empty input");
    for (size_t i = 0; i < MTS__ARRAY_LEN(formats); i++) {
        int fits;
        if (formats[i]->caps == 0 || formats[i]->probe == NULL)
            continue;
        fits = formats[i]->probe(data, len);
        if (fits < 0)
            return fits == MTS_ENOMEM ? mts__err_oom(err)
                                      : mts__err(err, fits, "detect failed");
        if (fits)
            found[n++] = formats[i]->fmt;
    }
    if (n == 1) {
        *out = found[0];
        return 0;
    }
    if (n > 1) {
        char list[MTS_ERROR_MESSAGE_SIZE] = "";
        size_t used = 0;
        for (size_t i = 0; i < n; i++) {
            int w = snprintf(list + used, sizeof(list) - used, "%s%s",
                             i == 0 ? "" : (i + 1 == n ? " or " : ", "),
                             mts_format_name(found[i]));
            if (w < 0 || (size_t)w >= sizeof(list) - used)
                break;
            used += (size_t)w;
        }
        return mts__err(err, MTS_EAMBIGUOUS,
                        "ambiguous input: it fits %s; name the format with "
                        "--from",
                        list);
    }
    what = describe(data, len);
    if (what != NULL)
        return mts__err(err, MTS_EFORMAT, "unrecognised format: this looks "
                                          "like %s",
                        what);
    return mts__err(err, MTS_EFORMAT,
                    "unrecognised format: not any format this build reads");
}

static int
unsupported(mts_format fmt, mts_error *err)
{
    if ((int)fmt <= 0 || fmt >= MTS__FORMAT_COUNT)
        return mts__err(err, MTS_EINVAL, "unknown format %d", (int)fmt);
    return mts__err(err, MTS_ENOTSUPPORTED,
                    "unsupported format %s in this build",
                    mts_format_name(fmt));
}

int
mts_format_decode(mts_session **out, mts_format fmt, const uint8_t *data,
                  size_t len, mts_error *err)
{
    const mts__format_ops *ops = find_ops(fmt);
    int rc;
    if (out == NULL || (data == NULL && len != 0))
        return mts__err(err, MTS_EINVAL, "decode: NULL argument");
    if (ops == NULL || !(ops->caps & MTS_FORMAT_CAN_READ))
        return unsupported(fmt, err);
    rc = ops->decode(out, data, len, err);
    if (rc == MTS_EFORMAT || rc == MTS_ECORRUPT || rc == MTS_EVERSION) {
        /* Say what the input is when it is some other known format. */
        mts_format other;
        if (mts_format_detect(&other, data, len, NULL) == 0 && other != fmt)
            return mts__err(err, MTS_EFORMAT, "this is %s data, not %s",
                            mts_format_name(other), mts_format_name(fmt));
    }
    return rc;
}

int
mts_format_encode(uint8_t **out, size_t *out_len, mts_format fmt,
                  const mts_session *s, mts_warn_fn warn, void *payload,
                  mts_error *err)
{
    return mts_format_encode_opts(out, out_len, fmt, s, NULL, warn, payload,
                                  err);
}

int
mts_format_encode_opts(uint8_t **out, size_t *out_len, mts_format fmt,
                       const mts_session *s, const mts_format_options *opts,
                       mts_warn_fn warn, void *payload, mts_error *err)
{
    static const mts_format_options defaults = MTS_FORMAT_OPTIONS_INIT;
    const mts__format_ops *ops = find_ops(fmt);
    uint8_t *data, *p;
    size_t n;
    int rc;
    if (out == NULL || out_len == NULL || s == NULL)
        return mts__err(err, MTS_EINVAL, "encode: NULL argument");
    if (ops == NULL || !(ops->caps & MTS_FORMAT_CAN_WRITE))
        return unsupported(fmt, err);
    if (opts == NULL)
        opts = &defaults;
    if (opts->version < 1 || opts->version > MTS_FORMAT_OPTIONS_VERSION)
        return mts__err(err, MTS_EINVAL,
                        "format options: unknown struct version %u",
                        opts->version);
    if (opts->format_version != 0 && fmt != MTS_FORMAT_FEROGRAM &&
        fmt != MTS_FORMAT_FEROGRAM_COMPACT)
        return mts__err(err, MTS_EINVAL,
                        "%s has no format versions to choose from",
                        mts_format_name(fmt));
    rc = ops->encode(&data, &n, s, opts, warn, payload, err);
    if (rc != 0)
        return rc;
    if (ops->caps & MTS_FORMAT_IS_TEXT) {
        /* One line ending in a newline; grow by copy to wipe the old. */
        p = mts_malloc(n + 2);
        if (p == NULL) {
            mts__wipe(data, n);
            mts_free(data);
            return mts__err_oom(err);
        }
        memcpy(p, data, n);
        p[n] = '\n';
        p[n + 1] = '\0';
        mts__wipe(data, n);
        mts_free(data);
        data = p;
        n++;
    }
    *out = data;
    *out_len = n;
    return 0;
}
