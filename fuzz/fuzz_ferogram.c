/*
 * fuzz_ferogram.c - the ferogram format through mts_format_decode.
 *
 * The input is the binary file. It has no magic, so a legacy file whose
 * home DC looks like a version byte may be refused as ambiguous.
 * A decoded session goes through fuzz_check_format: the session round
 * trips, then ferogram's own write/read/write fixed point.
 */
#include "common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_check_format(MTS_FORMAT_FEROGRAM, data, size,
                      FUZZ_DECODE_CODES | FUZZ_CODE(MTS_EAMBIGUOUS));
    return 0;
}
