/* gramjs.c - placeholder: this format is not implemented yet. */
#include "internal.h"

const mts__format_ops mts__fmt_gramjs_string = { MTS_FORMAT_GRAMJS_STRING, 0, NULL, NULL, NULL };
