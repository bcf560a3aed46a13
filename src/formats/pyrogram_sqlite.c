/* pyrogram_sqlite.c - placeholder: this format is not implemented yet. */
#include "internal.h"

const mts__format_ops mts__fmt_pyrogram_sqlite = { MTS_FORMAT_PYROGRAM_SQLITE, 0, NULL, NULL, NULL };
