/*
 * fuzz_ferogram_string.c - the ferogram-string format through
 * mts_format_decode.
 *
 * The input is the one-line string as given; its payload is a ferogram
 * binary file, so a legacy/versioned clash may be refused as ambiguous.
 * A decoded session goes through fuzz_check_format: the session round
 * trips, then ferogram-string's own write/read/write fixed point.
 */
#include "common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_check_format(MTS_FORMAT_FEROGRAM_STRING, data, size,
                      FUZZ_DECODE_CODES | FUZZ_CODE(MTS_EAMBIGUOUS));
    return 0;
}
