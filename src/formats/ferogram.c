/* ferogram.c - placeholder: this format is not implemented yet. */
#include "internal.h"

const mts__format_ops mts__fmt_ferogram = { MTS_FORMAT_FEROGRAM, 0, NULL, NULL, NULL };
const mts__format_ops mts__fmt_ferogram_string = { MTS_FORMAT_FEROGRAM_STRING, 0, NULL, NULL, NULL };
const mts__format_ops mts__fmt_ferogram_compact = { MTS_FORMAT_FEROGRAM_COMPACT, 0, NULL, NULL, NULL };
