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

static const char alpha_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char alpha_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
b64_val(unsigned char c, bool std)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (std ? '+' : '-'))
        return 62;
    if (c == (std ? '/' : '_'))
        return 63;
    return -1;
}

int
mts__base64_encode(char **out, const uint8_t *data, size_t len,
                   unsigned int flags)
{
    const char *alpha = (flags & MTS__B64_STD) ? alpha_std : alpha_url;
    const bool pad = (flags & MTS__B64_PAD) != 0;
    size_t n, i = 0;
    char *p, *q;
    if (len > (SIZE_MAX - 5) / 4 * 3)
        return MTS_ENOMEM;
    n = pad ? (len + 2) / 3 * 4 : len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
    p = q = mts_malloc(n + 1);
    if (p == NULL)
        return MTS_ENOMEM;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 |
                     data[i + 2];
        *q++ = alpha[v >> 18];
        *q++ = alpha[(v >> 12) & 63];
        *q++ = alpha[(v >> 6) & 63];
        *q++ = alpha[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)data[i] << 16;
        *q++ = alpha[v >> 18];
        *q++ = alpha[(v >> 12) & 63];
        if (pad) {
            *q++ = '=';
            *q++ = '=';
        }
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8;
        *q++ = alpha[v >> 18];
        *q++ = alpha[(v >> 12) & 63];
        *q++ = alpha[(v >> 6) & 63];
        if (pad)
            *q++ = '=';
    }
    *q = '\0';
    *out = p;
    return 0;
}

size_t
mts__base64_decoded_max(size_t len)
{
    return len / 4 * 3 + 3;
}

int
mts__base64_decode(uint8_t *out, size_t *out_len, const char *in, size_t len,
                   unsigned int flags, size_t *bad_at)
{
    const bool std = (flags & MTS__B64_STD) != 0;
    uint32_t acc = 0;
    size_t o = 0, n = len;
    int bits = 0;
    *bad_at = 0;
    /* Padding: only at the end, at most two, only to a multiple of 4. */
    if ((flags & MTS__B64_PAD) && n > 0 && in[n - 1] == '=') {
        if (n % 4 != 0) {
            *bad_at = n - 1;
            return MTS__B64_BAD_LENGTH;
        }
        n--;
        if (n > 0 && in[n - 1] == '=')
            n--;
    }
    if (n % 4 == 1) {
        *bad_at = n;
        return MTS__B64_BAD_LENGTH;
    }
    for (size_t i = 0; i < n; i++) {
        int v = b64_val((unsigned char)in[i], std);
        if (v < 0) {
            mts__wipe(out, o);
            *bad_at = i;
            return MTS__B64_BAD_CHAR;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if ((flags & MTS__B64_STRICT) && acc != 0) {
        mts__wipe(out, o);
        *bad_at = n - 1;
        return MTS__B64_BAD_BITS;
    }
    *out_len = o;
    return 0;
}

int
mts_base64url_encode(char **out, const uint8_t *data, size_t len)
{
    return mts__base64_encode(out, data, len, 0);
}

int
mts_base64url_decode(uint8_t **out, size_t *out_len, const char *text,
                     size_t len, mts_error *err)
{
    size_t n = mts__base64_decoded_max(len), got = 0, at = 0;
    uint8_t *p;
    int rc;
    if (len % 4 == 1)
        return mts__err_at(err, MTS_ECORRUPT, (int64_t)len,
                           "base64: a length of %zu characters cannot be "
                           "valid (truncated?)",
                           len);
    p = mts_malloc(n + 1);
    if (p == NULL)
        return mts__err_oom(err);
    rc = mts__base64_decode(p, &got, text, len, MTS__B64_STRICT, &at);
    if (rc != 0) {
        unsigned char c = (unsigned char)text[at];
        mts__wipe(p, n + 1);
        mts_free(p);
        if (rc == MTS__B64_BAD_BITS)
            return mts__err_at(err, MTS_ECORRUPT, (int64_t)at,
                               "base64: non-zero trailing bits in the last "
                               "character (offset %zu)",
                               at);
        if (c == '=')
            return mts__err_at(err, MTS_ECORRUPT, (int64_t)at,
                               "base64: padding '=' at character %zu "
                               "(this format is unpadded)",
                               at);
        if (c == '+' || c == '/')
            return mts__err_at(err, MTS_ECORRUPT, (int64_t)at,
                               "base64: '%c' at character %zu is standard "
                               "base64, not URL-safe",
                               c, at);
        return mts__err_at(err, MTS_ECORRUPT, (int64_t)at,
                           "base64: invalid character 0x%02x at "
                           "character %zu",
                           c, at);
    }
    p[got] = 0;
    *out = p;
    *out_len = got;
    return 0;
}
