/*
 * journal.h - the bytes of the file backend's side files: the update
 * journal (its header, its records, their replay, and the snapshot id that
 * binds a journal to the snapshot it extends; docs/FORMAT.md, "Journal")
 * and the lease record "<path>.lease". Pure functions on buffers; the file
 * backend (file.c) does the I/O.
 */
#ifndef MTSESSION_JOURNAL_H
#define MTSESSION_JOURNAL_H

#include "internal.h"

/* Bytes of the journal header. */
#define MTS__JOURNAL_HEADER 24
/* Bytes of the smallest record (SECONDARY). */
#define MTS__JOURNAL_RECORD_MIN 20
/* Largest journal a writer produces (record offsets are u32). */
#define MTS__JOURNAL_MAX ((size_t)1 << 30)

typedef enum mts__jstate {
    MTS__J_NONE,  /* no journal, an empty one, or a header cut short */
    MTS__J_STALE, /* a whole header bound to another snapshot */
    MTS__J_LIVE   /* bound to this snapshot: its records were replayed */
} mts__jstate;

typedef struct mts__jscan {
    mts__jstate state;
    size_t len;     /* bytes examined */
    size_t end;     /* LIVE: end of the last intact record; appends go here */
    size_t records; /* LIVE: records replayed */
    uint32_t last_crc; /* LIVE with records: the last one's checksum */
} mts__jscan;

/* The header of a journal extending the snapshot with id `id` (!= 0). */
void mts__journal_header(uint8_t out[MTS__JOURNAL_HEADER], uint64_t id);

/* Bytes of the record for a validated change, or 0 when it would not fit
 * in a journal of MTS__JOURNAL_MAX bytes. */
size_t mts__journal_record_size(const mts_update_change *c);

/* Write that record (mts__journal_record_size(c) bytes) into out. `synced`
 * is the journal length known durable when it is appended. */
void mts__journal_record(uint8_t *out, const mts_update_change *c,
                         uint64_t id, uint32_t synced);

/*
 * Examine the journal `data[0..len)` against the snapshot id `snap_id`
 * (0: a snapshot without an id, which no journal extends) and, when it is
 * bound to it, apply its records to `s` in order. A torn tail (the last
 * record incomplete or damaged, or damage only in what was not yet durable
 * when a later record was written) is left out and reported through
 * out->end; damage followed by a record written after it was durable is
 * MTS_ECORRUPT with the offset. A header of a newer version is
 * MTS_EVERSION. Other errors: MTS_ENOMEM. On error `s` may hold part of
 * the records: the caller frees it.
 */
int mts__journal_replay(mts_session *s, const uint8_t *data, size_t len,
                        uint64_t snap_id, mts__jscan *out, mts_error *err);

/* The id of a snapshot that decoded: the GENERATION section of a plain
 * version-2 file, the first 8 bytes of the nonce of a sealed one, else
 * 0. */
uint64_t mts__snapshot_id(const uint8_t *data, size_t len);

/* Append a GENERATION section holding `gen` (!= 0) to the plain version-2
 * file *data (mts_encode's output), fixing its length and checksum. The
 * old buffer is wiped and freed. 0 or MTS_ENOMEM (*data then untouched). */
int mts__snapshot_add_generation(uint8_t **data, size_t *len, uint64_t gen,
                                 mts_error *err);

/* ---- the lease record ---- */

/* Bytes of a lease record with an owner of n bytes, and the largest. */
#define MTS__LEASE_RECORD_SIZE(n) ((size_t)32 + (n))
#define MTS__LEASE_RECORD_MAX MTS__LEASE_RECORD_SIZE(MTS_LEASE_OWNER_MAX)

/* Write the record of `l` (owner 1..MTS_LEASE_OWNER_MAX bytes, epoch,
 * expires_ms) into out; returns its length. */
size_t mts__lease_record(uint8_t out[MTS__LEASE_RECORD_MAX],
                         const mts_lease *l);

/* Read a lease record into *out (owner, epoch, expires_ms; `held` and
 * `version` are left alone). MTS_ECORRUPT (bad magic, length, owner or
 * checksum, with the byte offset) or MTS_EVERSION. */
int mts__lease_parse(mts_lease *out, const uint8_t *data, size_t len,
                     mts_error *err);

#endif /* MTSESSION_JOURNAL_H */
