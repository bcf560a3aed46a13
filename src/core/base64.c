/*
 * base64.c - URL-safe base64 (RFC 4648 section 5) without padding.
 *
 * Decoding is strict: only the URL-safe alphabet, no padding, no white
 * space inside, a length that is not 1 mod 4, and zero trailing bits, so
 * every byte string has exactly one text form. Decoded output may hold
 * keys, so it is wiped on error.
 */
#include "internal.h"

#include <string.h>

static const char b64_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int
b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int
mts_base64url_encode(char **out, const uint8_t *data, size_t len)
{
    size_t n = len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
    char *p, *q;
    size_t i = 0;
    if (len > (SIZE_MAX - 4) / 4 * 3)
        return MTS_ENOMEM;
    p = q = mts_malloc(n + 1);
    if (p == NULL)
        return MTS_ENOMEM;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 |
                     data[i + 2];
        *q++ = b64_alpha[v >> 18];
        *q++ = b64_alpha[(v >> 12) & 63];
        *q++ = b64_alpha[(v >> 6) & 63];
        *q++ = b64_alpha[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)data[i] << 16;
        *q++ = b64_alpha[v >> 18];
        *q++ = b64_alpha[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8;
        *q++ = b64_alpha[v >> 18];
        *q++ = b64_alpha[(v >> 12) & 63];
        *q++ = b64_alpha[(v >> 6) & 63];
    }
    *q = '\0';
    *out = p;
    return 0;
}

int
mts_base64url_decode(uint8_t **out, size_t *out_len, const char *text,
                     size_t len, mts_error *err)
{
    size_t n, o = 0, i;
    uint8_t *p;
    uint32_t acc = 0;
    int bits = 0;
    if (len % 4 == 1)
        return mts__err_at(err, MTS_ECORRUPT, (int64_t)len,
                           "base64: a length of %zu characters cannot be "
                           "valid (truncated?)",
                           len);
    n = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    p = mts_malloc(n + 1);
    if (p == NULL)
        return mts__err_oom(err);
    for (i = 0; i < len; i++) {
        int v = b64_val((unsigned char)text[i]);
        if (v < 0) {
            unsigned char c = (unsigned char)text[i];
            mts__wipe(p, n + 1);
            mts_free(p);
            if (c == '=')
                return mts__err_at(err, MTS_ECORRUPT, (int64_t)i,
                                   "base64: padding '=' at character %zu "
                                   "(this format is unpadded)",
                                   i);
            if (c == '+' || c == '/')
                return mts__err_at(err, MTS_ECORRUPT, (int64_t)i,
                                   "base64: '%c' at character %zu is standard "
                                   "base64, not URL-safe",
                                   c, i);
            return mts__err_at(err, MTS_ECORRUPT, (int64_t)i,
                               "base64: invalid character 0x%02x at "
                               "character %zu",
                               c, i);
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            p[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) {
        mts__wipe(p, n + 1);
        mts_free(p);
        return mts__err_at(err, MTS_ECORRUPT, (int64_t)(len - 1),
                           "base64: non-zero trailing bits in the last "
                           "character (offset %zu)",
                           len - 1);
    }
    MTS_ASSERT(o == n);
    p[o] = 0;
    *out = p;
    *out_len = o;
    return 0;
}
