/* pyrogram_string.c - placeholder: this format is not implemented yet. */
#include "internal.h"

const mts__format_ops mts__fmt_pyrogram_string = { MTS_FORMAT_PYROGRAM_STRING, 0, NULL, NULL, NULL };
