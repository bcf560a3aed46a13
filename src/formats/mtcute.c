/* mtcute.c - placeholder: this format is not implemented yet. */
#include "internal.h"

const mts__format_ops mts__fmt_mtcute_string = { MTS_FORMAT_MTCUTE_STRING, 0, NULL, NULL, NULL };
