/*
 * fuzz_string.c - mts_string_decode, the portable "mts:" string.
 *
 * The input is the text as given. It is decoded as is, which exercises
 * the prefix, white-space and strict base64 handling; and when its
 * payload is valid base64 of something shaped like a version-2 file, once
 * more with the payload's total_length and CRC-32C rewritten to fit, so
 * that mutations of the text also reach the decoder behind the checksum.
 * Successful decodes go through fuzz_check_session.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

static void
decode_one(const char *text, size_t len)
{
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = NULL;
    int rc = mts_string_decode(&s, text, len, &err);

    if (rc != 0) {
        fuzz_check_error("mts_string_decode", rc, &err, FUZZ_DECODE_CODES);
        return;
    }
    fuzz_check_session(s);
    mts_session_free(s);
}

static int
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* Decode again with the payload's total_length and checksum made to fit. */
static void
decode_fixed(const char *text, size_t len)
{
    const size_t plen = sizeof(MTS_STRING_PREFIX) - 1;
    uint8_t *bin = NULL;
    char *b64 = NULL, *again = NULL;
    size_t n = 0, blen, start = 0;

    while (start < len && is_space(text[start]))
        start++;
    while (len > start && is_space(text[len - 1]))
        len--;
    if (len - start < plen ||
        memcmp(text + start, MTS_STRING_PREFIX, plen) != 0)
        return;
    start += plen;
    if (mts_base64url_decode(&bin, &n, text + start, len - start, NULL) != 0)
        return;
    if (n < 20 || bin[0] != MTS_FORMAT_VERSION_CURRENT)
        goto done;
    wr32(bin + 8, (uint32_t)n);
    wr32(bin + n - 4, mts_crc32c(0, bin, n - 4));
    if (mts_base64url_encode(&b64, bin, n) != 0)
        goto done;
    blen = strlen(b64);
    if (blen == len - start && memcmp(b64, text + start, blen) == 0)
        goto done; /* already fitted: decoded as is above */
    again = malloc(plen + blen);
    if (again == NULL)
        goto done;
    memcpy(again, MTS_STRING_PREFIX, plen);
    memcpy(again + plen, b64, blen);
    decode_one(again, plen + blen);
    free(again);
done:
    mts_free(b64);
    mts_free(bin);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode_one((const char *)data, size);
    decode_fixed((const char *)data, size);
    return 0;
}
