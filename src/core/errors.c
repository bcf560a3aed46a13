/*
 * errors.c - the error table and helpers that fill mts_error records.
 *
 * Messages are formatted into the caller's fixed buffer: filling an error
 * never allocates, so it works on the out-of-memory path too.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

void
mts_error_clear(mts_error *err)
{
    if (err == NULL)
        return;
    err->code = 0;
    err->native = 0;
    err->offset = -1;
    err->message[0] = '\0';
}

const char *
mts_strerror(int code)
{
    switch (code) {
#define MTS__STR(name, value, text)                                           \
    case value:                                                               \
        return text;
        MTS_ERRNO_MAP(MTS__STR)
#undef MTS__STR
    default:
        return "unknown error";
    }
}

const char *
mts_errname(int code)
{
    switch (code) {
#define MTS__NAME(name, value, text)                                          \
    case value:                                                               \
        return "MTS_" #name;
        MTS_ERRNO_MAP(MTS__NAME)
#undef MTS__NAME
    default:
        return "MTS_E?";
    }
}

static int
verr(mts_error *err, int code, int native, int64_t offset, const char *fmt,
     va_list ap)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 5, 0)))
#endif
    ;

static int
verr(mts_error *err, int code, int native, int64_t offset, const char *fmt,
     va_list ap)
{
    if (err == NULL)
        return code;
    err->code = code;
    err->native = native;
    err->offset = offset;
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    return code;
}

int
mts__err(mts_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(err, code, 0, -1, fmt, ap);
    va_end(ap);
    return code;
}

int
mts__err_at(mts_error *err, int code, int64_t offset, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(err, code, 0, offset, fmt, ap);
    va_end(ap);
    return code;
}

int
mts__err_native(mts_error *err, int code, int native, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(err, code, native, -1, fmt, ap);
    va_end(ap);
    return code;
}

int
mts_backend_error(mts_error *err, int code, int native, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(err, code, native, -1, fmt, ap);
    va_end(ap);
    return code;
}

int
mts__err_oom(mts_error *err)
{
    return mts__err(err, MTS_ENOMEM, "out of memory");
}

void
mts__err_prefix(mts_error *err, const char *fmt, ...)
{
    char msg[MTS_ERROR_MESSAGE_SIZE];
    size_t n, rest;
    va_list ap;
    int w;
    if (err == NULL)
        return;
    va_start(ap, fmt);
    w = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (w < 0)
        return;
    n = strlen(msg);
    /* Append ": " and the old message, truncating (intended) to fit. */
    if (n + 2 < sizeof(msg)) {
        msg[n++] = ':';
        msg[n++] = ' ';
        rest = strlen(err->message);
        if (rest > sizeof(msg) - 1 - n)
            rest = sizeof(msg) - 1 - n;
        memcpy(msg + n, err->message, rest);
        n += rest;
    }
    msg[n] = '\0';
    memcpy(err->message, msg, sizeof(msg));
}
