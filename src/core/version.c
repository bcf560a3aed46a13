/*
 * version.c - run-time version queries.
 */
#include "internal.h"
#include "mtsession/version.h"

const char *
mts_version(void)
{
    return MTS_VERSION_STRING;
}

int
mts_version_number(void)
{
    return MTS_VERSION_NUMBER;
}
