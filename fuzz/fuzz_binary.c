/*
 * fuzz_binary.c - mts_decode, binary format versions 1 and 2.
 *
 * Every input is decoded twice: as given, which exercises the checks a
 * version-2 reader makes before it trusts anything (length, magic, total
 * length, CRC-32C, header flags), and, when it starts like a version-2
 * file, once more with total_length and the CRC-32C rewritten to fit, so
 * that mutations reach the sections behind the checksum.
 *
 * On success the decoded session must survive fuzz_check_session, and
 * because version 2 has exactly one encoding per session, a version-2
 * input whose sections are all known must re-encode to the same bytes
 * (section_flags aside, see all_sections_known).
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

/* Version-2 layout (docs/FORMAT.md). */
#define V2_HEADER        16
#define V2_MIN           20
#define V2_MAX_KNOWN_TAG 6

static uint32_t
rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static void
wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/*
 * 1 when every section of a decoded version-2 file has a known tag, so
 * nothing was skipped. Such a file must come back from mts_encode with
 * the same bytes, except section_flags: FORMAT.md defines only the
 * critical bit, the reader does not insist on the writer's value, and the
 * writer normalises it (the CRC then differs too).
 */
static int
all_sections_known(const uint8_t *data, size_t size)
{
    size_t at = V2_HEADER, end = size - 4;
    while (at < end) {
        uint16_t tag;
        uint32_t len;
        if (end - at < 8)
            return 0;
        tag = (uint16_t)(data[at] | (data[at + 1] << 8));
        len = rd32(data + at + 4);
        if (tag == 0 || tag > V2_MAX_KNOWN_TAG || len > end - at - 8)
            return 0;
        at += 8 + (size_t)len;
    }
    return 1;
}

/* Equal but for section_flags and the CRC (both files are well formed
 * with the same section layout once the lengths match). */
static int
same_but_section_flags(const uint8_t *a, const uint8_t *b, size_t size)
{
    size_t at = V2_HEADER, end = size - 4;
    if (memcmp(a, b, V2_HEADER) != 0)
        return 0;
    while (at < end) {
        uint32_t len = rd32(a + at + 4);
        if (memcmp(a + at, b + at, 2) != 0 ||
            memcmp(a + at + 4, b + at + 4, 4 + (size_t)len) != 0)
            return 0;
        at += 8 + (size_t)len;
    }
    return 1;
}

static void
decode_one(const uint8_t *data, size_t size)
{
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = NULL;
    int rc = mts_decode(&s, data, size, &err);

    if (rc != 0) {
        fuzz_check_error("mts_decode", rc, &err, FUZZ_DECODE_CODES);
        return;
    }
    if (size == 0 || (data[0] != MTS_FORMAT_VERSION_CURRENT &&
                      data[0] != MTS_FORMAT_VERSION_LEGACY))
        fuzz_fail("mts_decode accepted version byte %d", size ? data[0] : -1);
    fuzz_check_session(s);
    if (data[0] == MTS_FORMAT_VERSION_CURRENT &&
        all_sections_known(data, size)) {
        uint8_t *bin = NULL;
        size_t n = 0;
        if (mts_encode(&bin, &n, s, NULL) != 0)
            fuzz_fail("mts_encode failed after a good decode");
        if (n != size || !same_but_section_flags(data, bin, size))
            fuzz_fail("version 2 without unknown sections is not "
                      "canonical: %zu bytes in, %zu bytes out",
                      size, n);
        mts_free(bin);
    }
    mts_session_free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *fixed;

    decode_one(data, size);
    if (size < V2_MIN || data[0] != MTS_FORMAT_VERSION_CURRENT)
        return 0;
    fixed = malloc(size);
    if (fixed == NULL)
        return 0;
    memcpy(fixed, data, size);
    /* Keep the magic so the header checks pass; the rest is the input's. */
    memcpy(fixed + 1, "MTSESS\x1a", 7);
    wr32(fixed + 8, (uint32_t)size);
    wr32(fixed + size - 4, mts_crc32c(0, fixed, size - 4));
    if (memcmp(fixed, data, size) != 0)
        decode_one(fixed, size);
    free(fixed);
    return 0;
}
