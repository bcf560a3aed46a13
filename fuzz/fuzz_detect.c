/*
 * fuzz_detect.c - mts_format_detect, then mts_format_decode with the
 * format it names.
 *
 * Detection either names one format this build can read, or refuses with
 * MTS_EFORMAT or MTS_EAMBIGUOUS. The named format's decoder then runs
 * through fuzz_check_format, so any decoder may be reached from here with
 * inputs that look like another format.
 */
#include "common.h"

/* Any decoder may be reached; a SQLite image may also fail in SQLite. */
#define DETECTED_DECODE_CODES                                                  \
    (FUZZ_DECODE_CODES | FUZZ_CODE(MTS_EAMBIGUOUS) | FUZZ_CODE(MTS_EBACKEND) | \
     FUZZ_CODE(MTS_EIO))

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mts_error err = MTS_ERROR_INIT;
    mts_format fmt = MTS_FORMAT_UNKNOWN;
    int rc = mts_format_detect(&fmt, data, size, &err);

    if (rc != 0) {
        fuzz_check_error("mts_format_detect", rc, &err,
                         FUZZ_CODE(MTS_EFORMAT) | FUZZ_CODE(MTS_EAMBIGUOUS) |
                             FUZZ_CODE(MTS_ENOMEM));
        return 0;
    }
    if (!(mts_format_caps(fmt) & MTS_FORMAT_CAN_READ))
        fuzz_fail("mts_format_detect named %s, which this build cannot read",
                  mts_format_name(fmt));
    fuzz_check_format(fmt, data, size, DETECTED_DECODE_CODES);
    return 0;
}
