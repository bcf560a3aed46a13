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

/** Close the handle and free the backend. Accepts NULL. */
MTS_API void mts_storage_free(mts_storage *st);

MTS_END_DECL

#endif /* MTSESSION_STORAGE_H */
