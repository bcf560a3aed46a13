/*
 * buf.c - a growable byte buffer with a hard maximum (after curl's dynbuf).
 *
 * Appends never fail loudly: the first failure sets `failed` and later
 * appends do nothing, so encoders check once at the end. Memory is wiped
 * when the buffer grows or is freed, because encoders put keys in it.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

void
mts__buf_init(mts__buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

static int
reserve(mts__buf *b, size_t extra, bool exact)
{
    size_t need, cap;
    uint8_t *p;
    if (b->failed)
        return -1;
    if (extra > b->max || b->len > b->max - extra) {
        b->failed = b->over = true;
        return -1;
    }
    need = b->len + extra + 1; /* room for a NUL */
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (exact)
        cap = need;
    /* Grow by copy so the old block can be wiped: it may hold keys. */
    p = mts_malloc(cap);
    if (p == NULL) {
        b->failed = true;
        return -1;
    }
    if (b->data != NULL) {
        memcpy(p, b->data, b->len);
        mts__wipe(b->data, b->cap);
        mts_free(b->data);
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int
mts__buf_reserve(mts__buf *b, size_t extra)
{
    return reserve(b, extra, false);
}

int
mts__buf_reserve_exact(mts__buf *b, size_t extra)
{
    return reserve(b, extra, true);
}

void
mts__buf_put(mts__buf *b, const void *data, size_t n)
{
    if (mts__buf_reserve(b, n) != 0)
        return;
    if (n != 0)
        memcpy(b->data + b->len, data, n);
    b->len += n;
}

void
mts__buf_u8(mts__buf *b, uint8_t v)
{
    mts__buf_put(b, &v, 1);
}

void
mts__buf_u16le(mts__buf *b, uint16_t v)
{
    uint8_t p[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
    mts__buf_put(b, p, 2);
}

void
mts__buf_u32le(mts__buf *b, uint32_t v)
{
    uint8_t p[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                     (uint8_t)(v >> 24) };
    mts__buf_put(b, p, 4);
}

void
mts__buf_u64le(mts__buf *b, uint64_t v)
{
    mts__buf_u32le(b, (uint32_t)v);
    mts__buf_u32le(b, (uint32_t)(v >> 32));
}

void
mts__buf_str(mts__buf *b, const char *s)
{
    mts__buf_put(b, s, strlen(s));
}

void
mts__buf_printf(mts__buf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        b->failed = true;
        return;
    }
    mts__buf_put(b, tmp, (size_t)n);
}

void
mts__buf_free(mts__buf *b)
{
    if (b->data != NULL) {
        mts__wipe(b->data, b->cap);
        mts_free(b->data);
    }
    b->data = NULL;
    b->len = b->cap = 0;
}

int
mts__buf_finish(mts__buf *b, uint8_t **out, size_t *out_len, mts_error *err)
{
    if (!b->failed)
        mts__buf_reserve(b, 0);
    if (b->failed) {
        int over = b->over;
        mts__buf_free(b);
        if (over)
            return mts__err(err, MTS_ELIMIT,
                            "output exceeds the maximum of %zu bytes", b->max);
        return mts__err_oom(err);
    }
    b->data[b->len] = 0;
    *out = b->data;
    if (out_len != NULL)
        *out_len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return 0;
}
