/*
 * mtsession/storage.h - a place where a session is kept.
 *
 * An mts_storage is an opaque handle over one backend (file, memory,
 * string, SQL, or your own through sys/backend.h). It stores whole
 * snapshots and accepts the small frequent changes a client makes between
 * snapshots (update state, one DC, home DC, one peer).
 *
 * Thread-safety: every handle may be used from several threads. Calls on
 * one handle are serialised by the handle's lock, so a granular change
 * that the backend implements as load-change-save never loses a concurrent
 * update made through the same handle.
 */
#ifndef MTSESSION_STORAGE_H
#define MTSESSION_STORAGE_H

#include "common.h"
#include "errors.h"
#include "session.h"

MTS_BEGIN_DECL

typedef struct mts_storage mts_storage;

/**
 * Store a whole snapshot of `s`, replacing what was stored. On any error
 * what was stored before is left intact. Returns 0, MTS_EIO, MTS_ELOCKED
 * (another process writes this store; the message names it), MTS_ELIMIT,
 * MTS_ENOMEM or MTS_EBACKEND.
 */
MTS_API int mts_storage_save(mts_storage *st, const mts_session *s,
                             mts_error *err);

/**
 * Load the stored session into a new mts_session the caller frees.
 * Returns 0, MTS_ENOTFOUND when nothing is stored, or an error: a corrupt
 * or unreadable store is reported (MTS_ECORRUPT, MTS_EVERSION, MTS_EIO),
 * never treated as empty and never moved away.
 */
MTS_API int mts_storage_load(mts_session **out, mts_storage *st,
                             mts_error *err);

/** Remove the stored session. Nothing stored is not an error. */
MTS_API int mts_storage_delete(mts_storage *st, mts_error *err);

/** The backend's name for this store ("file:/path", "memory", ...). */
MTS_API const char *mts_storage_name(mts_storage *st);

/**
 * Apply one update-state change to the stored session (an empty session
 * if none is stored). Same errors as save.
 */
MTS_API int mts_storage_apply_update_state(mts_storage *st,
                                           const mts_update_change *change,
                                           mts_error *err);

/** Insert or replace one DC entry in the stored session. */
MTS_API int mts_storage_update_dc(mts_storage *st, const mts_dc *dc,
                                  mts_error *err);

/** Set the stored session's home DC. */
MTS_API int mts_storage_set_home_dc(mts_storage *st, int32_t dc_id,
                                    mts_error *err);

/** Insert or replace one peer in the stored session. */
MTS_API int mts_storage_cache_peer(mts_storage *st, const mts_peer *peer,
                                   mts_error *err);

/*
 * Optimistic mode: write without a lease, yet never over a change you did
 * not see. Every write to a store gives the stored session a new revision
 * (an opaque 64-bit token, never 0; 0 stands for "nothing stored").
 * Read the revision with the session, change the session, then save it
 * "if the stored revision is still R": when another handle or process
 * wrote in between, the save fails with MTS_ECONFLICT and nothing is
 * written; load again, reapply your change, retry.
 *
 * Revisions are equal only for the same stored state: compare them for
 * equality, never for order. Granular writes (apply_update_state,
 * update_dc, set_home_dc, cache_peer) change the revision too. Leases and
 * optimistic saves combine: a lease holder's conditional save is fenced
 * as any other write.
 */

/**
 * Load the stored session and its revision (*rev). `out` may be NULL
 * to read the revision alone. Nothing stored:
 * MTS_ENOTFOUND with *rev = 0 (and *out = NULL).
 * MTS_ENOTSUPPORTED when the backend keeps no revisions.
 */
MTS_API int mts_storage_load_rev(mts_session **out, uint64_t *rev,
                                 mts_storage *st, mts_error *err);

/**
 * Save `s` only if the stored revision is `expected` (0: only if nothing
 * is stored). On success *new_rev (may be NULL) receives the revision of
 * what was written. MTS_ECONFLICT when the store moved on (the message
 * says from what to what; nothing written), MTS_ENOTSUPPORTED when the
 * backend keeps no revisions, else the errors of mts_storage_save.
 */
MTS_API int mts_storage_save_if(mts_storage *st, const mts_session *s,
                                uint64_t expected, uint64_t *new_rev,
                                mts_error *err);

/** Close the handle and free the backend. Accepts NULL. */
MTS_API void mts_storage_free(mts_storage *st);

MTS_END_DECL

#endif /* MTSESSION_STORAGE_H */
