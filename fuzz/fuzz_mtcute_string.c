/*
 * fuzz_mtcute_string.c - the mtcute-string format through mts_format_decode.
 *
 * The input is the one-line string as given (white space included).
 * A decoded session goes through fuzz_check_format: the session round
 * trips, then mtcute-string's own write/read/write fixed point.
 */
#include "common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_check_format(MTS_FORMAT_MTCUTE_STRING, data, size, FUZZ_DECODE_CODES);
    return 0;
}
