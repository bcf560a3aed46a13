/*
 * mtsession/sys/backend.h - write your own storage backend (systems API).
 *
 * A backend is a struct whose first member is an mts_backend: version
 * first, one slot per operation, free last. Fill the slots, then hand the
 * backend to mts_storage_wrap, which adds locking and the defaults for
 * empty optional slots. This header is stable within a minor version.
 *
 * Calls into a backend are serialised per storage handle: a backend need
 * not lock against itself, only against other handles or processes that
 * share its data. Every slot gets an optional caller-owned mts_error to
 * fill (use mts_backend_error); return one of the MTS_E... codes.
 *
 * See examples/custom_backend.c.
 */
#ifndef MTSESSION_SYS_BACKEND_H
#define MTSESSION_SYS_BACKEND_H

#include "../common.h"
#include "../errors.h"
#include "../session.h"
#include "../lease.h"
#include "../storage.h"

MTS_BEGIN_DECL

#define MTS_BACKEND_VERSION 1

typedef struct mts_backend mts_backend;

struct mts_backend {
    /** Must be MTS_BACKEND_VERSION (1). */
    unsigned int version;

    /**
     * Must: store a whole snapshot. Either the new snapshot is stored or,
     * on error, the previous one is left intact.
     */
    int (*save)(mts_backend *backend, const mts_session *s, mts_error *err);

    /**
     * Must: return a new session in *out, or MTS_ENOTFOUND when nothing is
     * stored. Corrupt data is an error, never MTS_ENOTFOUND.
     */
    int (*load)(mts_session **out, mts_backend *backend, mts_error *err);

    /** Must: remove the stored session; nothing stored is success. */
    int (*del)(mts_backend *backend, mts_error *err);

    /** Must: a short static or backend-owned name for this store. */
    const char *(*name)(mts_backend *backend);

    /**
     * May: apply one update-state change. When NULL the core loads (or
     * starts an empty session), applies the change, and saves, under the
     * handle's lock.
     */
    int (*apply_update_state)(mts_backend *backend,
                              const mts_update_change *change,
                              mts_error *err);

    /** May: upsert one DC entry. NULL: load, change, save. */
    int (*update_dc)(mts_backend *backend, const mts_dc *dc, mts_error *err);

    /** May: set the home DC. NULL: load, change, save. */
    int (*set_home_dc)(mts_backend *backend, int32_t dc_id, mts_error *err);

    /** May: upsert one peer. NULL: load, change, save. */
    int (*cache_peer)(mts_backend *backend, const mts_peer *peer,
                      mts_error *err);

    /**
     * May: the lease operations (lease.h) for stores several processes can
     * reach. `op` is one of mts_lease_op; `owner` and `ttl_ms` apply to
     * ACQUIRE and RENEW; *info receives the record (all ops but RELEASE).
     * A backend that implements leases must also fence every later write
     * of a holder by its epoch (MTS_EFENCED, nothing applied). NULL: the
     * core answers MTS_ENOTSUPPORTED.
     */
    int (*lease)(mts_backend *backend, int op, const char *owner,
                 uint32_t ttl_ms, mts_lease *info, mts_error *err);

    /**
     * May: optimistic mode (storage.h). Load with the stored revision
     * (out may be NULL: the revision alone; nothing stored: MTS_ENOTFOUND
     * and *rev = 0). Every write of the backend, granular ones included,
     * must give the stored session a new revision (never 0). NULL: the
     * core answers MTS_ENOTSUPPORTED.
     */
    int (*load_rev)(mts_session **out, uint64_t *rev, mts_backend *backend,
                    mts_error *err);
    /**
     * May: save only if the stored revision is still `expected` (0:
     * nothing stored), atomically with the check; MTS_ECONFLICT and
     * nothing written otherwise. *new_rev gets the revision written.
     * Backends that fill one of load_rev and save_if must fill both.
     */
    int (*save_if)(mts_backend *backend, const mts_session *s,
                   uint64_t expected, uint64_t *new_rev, mts_error *err);
    /** Must: release everything, including the backend struct itself. */
    void (*free)(mts_backend *backend);
};

/** Operations of the lease slot. */
typedef enum mts_lease_op {
    MTS_LEASE_ACQUIRE = 1,
    MTS_LEASE_RENEW = 2,
    MTS_LEASE_RELEASE = 3,
    MTS_LEASE_SHOW = 4
} mts_lease_op;

#define MTS_BACKEND_INIT                                                      \
    { MTS_BACKEND_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,    \
      NULL, NULL, NULL, NULL }

/** Initialise `backend` as MTS_BACKEND_INIT would (for non-C callers). */
MTS_API int mts_backend_init(mts_backend *backend, unsigned int version);

/**
 * Wrap a backend in a storage handle. The core validates the version and
 * the required slots (MTS_EINVAL with the slot's name otherwise). On
 * success the handle owns the backend (its free slot runs on
 * mts_storage_free); on failure the caller still owns it.
 * Returns 0, MTS_EINVAL or MTS_ENOMEM.
 */
MTS_API int mts_storage_wrap(mts_storage **out, mts_backend *backend,
                             mts_error *err);

/**
 * The backend a handle wraps (borrowed), for backend-specific calls.
 */
MTS_API mts_backend *mts_storage_backend(mts_storage *st);

/**
 * Fill err (when not NULL) with code, native code and a printf-style
 * message, and return code. For use by backends.
 */
MTS_API int mts_backend_error(mts_error *err, int code, int native,
                              const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

MTS_END_DECL

#endif /* MTSESSION_SYS_BACKEND_H */
