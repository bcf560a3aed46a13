/* telethon_string.c - placeholder: this format is not implemented yet. */
#include "internal.h"

const mts__format_ops mts__fmt_telethon_string = { MTS_FORMAT_TELETHON_STRING, 0, NULL, NULL, NULL };
