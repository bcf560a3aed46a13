/*
 * fuzz_sealed.c - the sealed envelope (seal.h): mts_decode_any and
 * mts_string_decode_any with a raw-key secret.
 *
 * The secret is a fixed 32-byte key (bytes 0..31); the committed seeds are
 * sealed with it, so the fuzzer starts from envelopes that open. A raw key
 * never runs Argon2id, so an envelope asking for a passphrase is refused
 * as the wrong kind of secret instead of costing up to 1 GiB and seconds
 * per input.
 *
 * Each input is tried as an envelope, as given and, when it starts like a
 * version-2 file, with total_length and the outer CRC-32C rewritten to fit
 * (so mutations reach the KDF, cipher and tag checks), and as a portable
 * string. Successful decodes go through fuzz_check_session.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

#include "mtsession/seal.h"

/* A secret that opens a sealed file: also MTS_EBADKEY. */
#define SEALED_CODES (FUZZ_DECODE_CODES | FUZZ_CODE(MTS_EBADKEY))

static mts_secret *
secret(void)
{
    static mts_secret *key;
    if (key == NULL) {
        uint8_t raw[MTS_SEAL_KEY_SIZE];
        for (size_t i = 0; i < sizeof(raw); i++)
            raw[i] = (uint8_t)i;
        if (mts_secret_from_key(&key, raw, NULL) != 0)
            fuzz_fail("mts_secret_from_key failed");
    }
    return key;
}

static void
wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void
decode_file(const uint8_t *data, size_t size)
{
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = NULL;
    int rc = mts_decode_any(&s, data, size, secret(), &err);
    if (rc != 0) {
        fuzz_check_error("mts_decode_any", rc, &err, SEALED_CODES);
        return;
    }
    fuzz_check_session(s);
    mts_session_free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = NULL;
    uint8_t *fixed;
    int rc;

    decode_file(data, size);
    if (size >= 20 && data[0] == MTS_FORMAT_VERSION_CURRENT) {
        fixed = malloc(size);
        if (fixed != NULL) {
            memcpy(fixed, data, size);
            memcpy(fixed + 1, "MTSESS\x1a", 7);
            wr32(fixed + 8, (uint32_t)size);
            wr32(fixed + size - 4, mts_crc32c(0, fixed, size - 4));
            if (memcmp(fixed, data, size) != 0)
                decode_file(fixed, size);
            free(fixed);
        }
    }
    rc = mts_string_decode_any(&s, (const char *)data, size, secret(), &err);
    if (rc != 0) {
        fuzz_check_error("mts_string_decode_any", rc, &err, SEALED_CODES);
        return 0;
    }
    fuzz_check_session(s);
    mts_session_free(s);
    return 0;
}
