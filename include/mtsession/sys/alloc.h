/*
 * mtsession/sys/alloc.h - the pluggable allocator (systems API).
 *
 * Every allocation the library makes goes through the allocator installed
 * here; out of memory is reported as MTS_ENOMEM, never an abort. Embedders
 * use it to account memory; the test suite uses it to fail the Nth
 * allocation. Stable within a minor version.
 */
#ifndef MTSESSION_SYS_ALLOC_H
#define MTSESSION_SYS_ALLOC_H

#include "../common.h"

MTS_BEGIN_DECL

/**
 * malloc and realloc return NULL on failure; realloc(NULL, n) behaves as
 * malloc(n); free(NULL) must be accepted. `payload` is passed back as is.
 * The functions must be safe to call from several threads at once.
 */
typedef struct mts_allocator {
    void *(*malloc)(size_t size, void *payload);
    void *(*realloc)(void *ptr, size_t size, void *payload);
    void (*free)(void *ptr, void *payload);
    void *payload;
} mts_allocator;

/**
 * Install `alloc` (copied) as the process-wide allocator, or restore the C
 * library's when `alloc` is NULL. Call it before any other mtsession call,
 * or while no mtsession object exists: memory must be freed by the
 * allocator that gave it.
 *
 * Returns 0, or MTS_EINVAL if a function pointer in `alloc` is NULL.
 */
MTS_API int mts_set_allocator(const mts_allocator *alloc);

/** Allocate through the installed allocator (for custom backends). */
MTS_API void *mts_malloc(size_t size);
/** Reallocate through the installed allocator. */
MTS_API void *mts_realloc(void *ptr, size_t size);
/** Free memory obtained from mts_malloc/mts_realloc or any `_new` call. */
MTS_API void mts_free(void *ptr);

MTS_END_DECL

#endif /* MTSESSION_SYS_ALLOC_H */
