/*
 * fuzz_telethon_sqlite.c - the telethon-sqlite format through
 * mts_format_decode.
 *
 * The input is a whole SQLite database image; SQLite's own refusals of a
 * damaged image surface as MTS_EBACKEND (with SQLite's code) or MTS_EIO.
 * A decoded session goes through fuzz_check_format: the session round
 * trips, then telethon-sqlite's own write/read/write fixed point.
 */
#include "common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_check_format(MTS_FORMAT_TELETHON_SQLITE, data, size,
                      FUZZ_DECODE_CODES | FUZZ_CODE(MTS_EBACKEND) |
                          FUZZ_CODE(MTS_EIO));
    return 0;
}
