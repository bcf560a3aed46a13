/*
 * alloc.c - the pluggable allocator and secret hygiene helpers.
 *
 * The installed allocator is process-wide (set before use, see
 * sys/alloc.h). Wiping uses explicit_bzero, which the compiler may not
 * remove; the constant-time compare touches every byte whatever differs.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static void *
std_malloc(size_t size, void *payload)
{
    (void)payload;
    return malloc(size);
}

static void *
std_realloc(void *ptr, size_t size, void *payload)
{
    (void)payload;
    return realloc(ptr, size);
}

static void
std_free(void *ptr, void *payload)
{
    (void)payload;
    free(ptr);
}

static mts_allocator g_alloc = { std_malloc, std_realloc, std_free, NULL };

int
mts_set_allocator(const mts_allocator *alloc)
{
    if (alloc == NULL) {
        g_alloc.malloc = std_malloc;
        g_alloc.realloc = std_realloc;
        g_alloc.free = std_free;
        g_alloc.payload = NULL;
        return 0;
    }
    if (alloc->malloc == NULL || alloc->realloc == NULL || alloc->free == NULL)
        return MTS_EINVAL;
    g_alloc = *alloc;
    return 0;
}

void *
mts_malloc(size_t size)
{
    return g_alloc.malloc(size ? size : 1, g_alloc.payload);
}

void *
mts_realloc(void *ptr, size_t size)
{
    return g_alloc.realloc(ptr, size ? size : 1, g_alloc.payload);
}

void
mts_free(void *ptr)
{
    if (ptr != NULL)
        g_alloc.free(ptr, g_alloc.payload);
}

void *
mts__calloc(size_t n, size_t size)
{
    void *p;
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    p = mts_malloc(n * size);
    if (p != NULL)
        memset(p, 0, n * size);
    return p;
}

void *
mts__reallocarray(void *ptr, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    return mts_realloc(ptr, n * size);
}

char *
mts__strndup(const char *s, size_t n)
{
    char *p = mts_malloc(n + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
mts__strdup(const char *s)
{
    return mts__strndup(s, strlen(s));
}

void
mts__wipe(void *p, size_t n)
{
    if (p != NULL && n != 0)
        explicit_bzero(p, n);
}

int
mts__ct_equal(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *x = a;
    const volatile uint8_t *y = b;
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (uint8_t)(x[i] ^ y[i]);
    return d == 0;
}
