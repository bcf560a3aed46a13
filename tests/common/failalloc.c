/*
 * failalloc.c - see failalloc.h.
 */
#include "failalloc.h"

#include <stdlib.h>

long fa_fail_at = -1, fa_calls, fa_live;
int fa_injected;

static void *
fa_malloc(size_t n, void *p)
{
    void *r;
    (void)p;
    if (fa_calls++ == fa_fail_at) {
        fa_injected = 1;
        return NULL;
    }
    r = malloc(n);
    if (r)
        fa_live++;
    return r;
}

static void *
fa_realloc(void *ptr, size_t n, void *p)
{
    void *r;
    (void)p;
    if (fa_calls++ == fa_fail_at) {
        fa_injected = 1;
        return NULL;
    }
    r = realloc(ptr, n);
    if (r && ptr == NULL)
        fa_live++;
    return r;
}

static void
fa_free(void *ptr, void *p)
{
    (void)p;
    if (ptr) {
        fa_live--;
        free(ptr);
    }
}

const mts_allocator fa_failing = { fa_malloc, fa_realloc, fa_free, NULL };
