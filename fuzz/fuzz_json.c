/*
 * fuzz_json.c - mts_json_decode, the mtsession-json document.
 *
 * A document that decodes must survive fuzz_check_session, which includes
 * the canonical fixed point: encode(decode(x)) decodes to an equal session
 * and encodes again to identical bytes.
 */
#include "common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = NULL;
    int rc = mts_json_decode(&s, (const char *)data, size, &err);

    if (rc != 0) {
        fuzz_check_error("mts_json_decode", rc, &err, FUZZ_DECODE_CODES);
        return 0;
    }
    fuzz_check_session(s);
    mts_session_free(s);
    return 0;
}
