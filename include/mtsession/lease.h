/*
 * mtsession/lease.h - single-writer leases with fencing.
 *
 * Two processes using one auth key get the session killed by Telegram
 * (AUTH_KEY_DUPLICATED). A lease makes that impossible by design: one
 * owner at a time holds the session for a time-to-live, renews it while it
 * runs, and every write of the holder carries the lease's fencing epoch.
 * The epoch rises whenever the owner changes, and a write with a stale
 * epoch is refused as a whole (MTS_EFENCED, nothing applied): a worker
 * that was paused past its lease can never overwrite the new holder's
 * state.
 *
 * Leases are kept by the store itself: for the file backend a record in
 * "<path>.lease" (local clock: one machine or synchronised clocks), taken
 * and checked under the "<path>.lock" lock for every holder write; for
 * PostgreSQL a lease row on the server's clock checked in the same
 * statement as each write. Backends that one process alone can reach
 * (memory, string) answer MTS_ENOTSUPPORTED.
 */
#ifndef MTSESSION_LEASE_H
#define MTSESSION_LEASE_H

#include "common.h"
#include "errors.h"
#include "storage.h"

MTS_BEGIN_DECL

/** Longest owner name, in bytes (UTF-8, no control characters). */
#define MTS_LEASE_OWNER_MAX 128

#define MTS_LEASE_VERSION 1

/** A lease as the store records it. */
typedef struct mts_lease {
    unsigned int version;
    char owner[MTS_LEASE_OWNER_MAX + 1]; /* "" when never leased */
    uint64_t epoch;     /* fencing epoch; rises when the owner changes */
    int64_t expires_ms; /* Unix time in ms, on the store's clock */
    int held;           /* 1 if the lease is live at the time of the call */
} mts_lease;

#define MTS_LEASE_INIT { MTS_LEASE_VERSION, { 0 }, 0, 0, 0 }

/**
 * Take the lease on the session `st` addresses for `owner`, for ttl_ms
 * (1 ms .. 24 h). Succeeds when nobody holds it, when it expired, or when
 * `owner` holds it already (then it is renewed, same epoch). From then on
 * every write through `st` is fenced by the returned epoch.
 * Returns 0 with *out, MTS_ELOCKED ("session held by OWNER until T"),
 * MTS_EINVAL, MTS_ENOTSUPPORTED, or a backend error.
 */
MTS_API int mts_lease_acquire(mts_lease *out, mts_storage *st,
                              const char *owner, uint32_t ttl_ms,
                              mts_error *err);

/**
 * Extend the lease this handle holds to now + ttl_ms. MTS_EFENCED when the
 * lease was lost to another owner (the handle stays fenced off);
 * MTS_EINVAL when this handle holds no lease.
 */
MTS_API int mts_lease_renew(mts_lease *out, mts_storage *st, uint32_t ttl_ms,
                            mts_error *err);

/**
 * Give the lease up (it expires at once; the epoch stays, so a later owner
 * gets a higher one). MTS_EFENCED if it was lost already.
 */
MTS_API int mts_lease_release(mts_storage *st, mts_error *err);

/**
 * The store's current lease record, whoever holds it (held = 0 when it
 * expired or was released). MTS_ENOTFOUND when the session was never
 * leased. Takes nothing: safe for tools inspecting a live session.
 */
MTS_API int mts_lease_show(mts_lease *out, mts_storage *st, mts_error *err);

/**
 * Make the handle read-only: from now on every write through it fails
 * with MTS_EINVAL ("read-only handle") before reaching the backend, and
 * no lock or lease is taken. For tools that inspect a live session.
 */
MTS_API void mts_storage_set_readonly(mts_storage *st);

MTS_END_DECL

#endif /* MTSESSION_LEASE_H */
