/*
 * fuzz_pyrogram_string.c - the pyrogram-string format through
 * mts_format_decode.
 *
 * The input is the one-line string as given (white space included).
 * A decoded session goes through fuzz_check_format: the session round
 * trips, then pyrogram-string's own write/read/write fixed point.
 */
#include "common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_check_format(MTS_FORMAT_PYROGRAM_STRING, data, size,
                      FUZZ_DECODE_CODES);
    return 0;
}
