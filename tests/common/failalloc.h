/*
 * failalloc.h - a counting allocator for allocation-failure tests.
 *
 * Install fa_failing with mts_set_allocator. Every malloc and realloc
 * call counts in fa_calls; the call whose count (from 0) equals
 * fa_fail_at returns NULL and sets fa_injected (-1: none fails).
 * fa_live counts the blocks handed out and not yet freed. The test sets
 * the counters before each run.
 */
#ifndef MTS_TEST_FAILALLOC_H
#define MTS_TEST_FAILALLOC_H

#include "mtsession/mtsession.h"
#include "mtsession/sys/alloc.h"

extern long fa_fail_at, fa_calls, fa_live;
extern int fa_injected;
extern const mts_allocator fa_failing;

#endif
