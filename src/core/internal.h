/*
 * internal.h - helpers shared by the library's own files. Never installed.
 *
 * Names here are mts__x (double underscore): visible across the library's
 * files, not part of the API.
 */
#ifndef MTSESSION_INTERNAL_H
#define MTSESSION_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtsession/mtsession.h"
#include "mtsession/sys/alloc.h"
#include "mtsession/sys/backend.h"

/* Internal invariants only; never for input checks, never side effects. */
#ifdef NDEBUG
#define MTS_ASSERT(x) ((void)0)
#else
#include <assert.h>
#define MTS_ASSERT(x) assert(x)
#endif

#define MTS__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- memory (alloc.c) ---- */
void *mts__calloc(size_t n, size_t size);
/* Overflow-checked n*size realloc. */
void *mts__reallocarray(void *ptr, size_t n, size_t size);
char *mts__strdup(const char *s);
char *mts__strndup(const char *s, size_t n);
/* Wipe secrets; never optimised away. */
void mts__wipe(void *p, size_t n);
/* Constant-time equality of n bytes: 1 equal, 0 different. */
int mts__ct_equal(const void *a, const void *b, size_t n);

/* ---- portable string (codec.c) ---- */
/* "mts:" + base64url of bin (plain or sealed bytes); wipes its scratch. */
int mts__string_wrap(char **out, const uint8_t *bin, size_t n,
                     mts_error *err);
/* The bytes of a portable string (white space trimmed, prefix checked);
 * errors name the character offset in text. Caller wipes and frees. */
int mts__string_unwrap(uint8_t **bin, size_t *n, const char *text, size_t len,
                       mts_error *err);

/* ---- streaming encoder (codec.c) ----
 * mts_encode's bytes without the whole file in memory: through buffers of
 * `chunk` bytes (0: MTS__ENCODE_CHUNK), each handed to sink with its file
 * offset when it is full or done. Every byte of the file is sent exactly
 * once, not always in file order: a big PEERS section whose kinds are
 * interleaved in the session goes out through one buffer per kind, each
 * to its own region. A session smaller than a chunk is one call (offset 0,
 * the whole file). With gen != 0 the file also has a GENERATION section
 * holding gen (the file backend's snapshot id), as
 * mts__snapshot_add_generation would add it. The buffers are wiped and
 * freed before return (they hold auth keys); a chunk is valid during its
 * call. The sink returns 0 or a negative MTS_E... code and writes its own
 * message; the first non-zero answer stops the encoder, which returns it
 * as is (a positive answer becomes MTS_EIO). Other errors: MTS_EINVAL,
 * MTS_ELIMIT (before any call), MTS_ENOMEM (maybe after some calls). */
#define MTS__ENCODE_CHUNK ((size_t)256 * 1024)
typedef int (*mts__encode_sink)(const uint8_t *chunk, size_t len,
                                uint64_t offset, void *payload);
int mts__encode_stream(const mts_session *s, uint64_t gen, size_t chunk,
                       mts__encode_sink sink, void *payload, mts_error *err);

/* ---- checksums (crc32c.c) ---- */
/* The portable table-driven CRC-32C (mts_crc32c may use the CPU's). */
uint32_t mts__crc32c_sw(uint32_t crc, const void *data, size_t len);

/* ---- errors (errors.c) ---- */
int mts__err(mts_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
int mts__err_at(mts_error *err, int code, int64_t offset, const char *fmt,
                ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
int mts__err_native(mts_error *err, int code, int native, const char *fmt,
                    ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
int mts__err_oom(mts_error *err);
/* Prefix the message already in err with "prefix: ". */
void mts__err_prefix(mts_error *err, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---- growable byte buffer with a hard maximum (buf.c) ---- */
typedef struct mts__buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max;
    bool failed; /* an append failed: ENOMEM or over max */
    bool over;   /* the failure was the maximum */
} mts__buf;

void mts__buf_init(mts__buf *b, size_t max);
int mts__buf_reserve(mts__buf *b, size_t extra);
/* The same, growing to exactly len + extra (+ the NUL) and no more: for a
 * writer that knows its final size. */
int mts__buf_reserve_exact(mts__buf *b, size_t extra);
void mts__buf_put(mts__buf *b, const void *data, size_t n);
void mts__buf_u8(mts__buf *b, uint8_t v);
void mts__buf_u16le(mts__buf *b, uint16_t v);
void mts__buf_u32le(mts__buf *b, uint32_t v);
void mts__buf_u64le(mts__buf *b, uint64_t v);
void mts__buf_str(mts__buf *b, const char *s);
void mts__buf_printf(mts__buf *b, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Wipes the contents (they may hold keys) and frees. */
void mts__buf_free(mts__buf *b);
/* Hands the data to the caller (NUL-terminated one past len). */
int mts__buf_finish(mts__buf *b, uint8_t **out, size_t *out_len,
                    mts_error *err);

/* ---- little-endian readers ---- */
static inline uint16_t mts__rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t mts__rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}
static inline uint64_t mts__rd64(const uint8_t *p)
{
    return (uint64_t)mts__rd32(p) | ((uint64_t)mts__rd32(p + 4) << 32);
}

/* ---- session internals (session.c) ---- */
/* Validate a record the way the setters do; err names the field using
 * `path` as prefix (e.g. "dcs[2]"). */
int mts__validate_dc(const mts_dc *dc, const char *path, mts_error *err);
int mts__validate_peer(const mts_peer *p, const char *path, mts_error *err);
int mts__validate_min_peer(const mts_min_peer *mp, const char *path,
                           mts_error *err);
/* Validate an update-state change (all kinds) without applying it. */
int mts__validate_change(const mts_update_change *c, mts_error *err);
int mts__put_dc(mts_session *s, const mts_dc *dc, mts_error *err);
int mts__put_min_peer(mts_session *s, const mts_min_peer *mp,
                      mts_error *err);
/* Indices of peers in canonical (kind, id) order; caller frees. */
int mts__peer_order(size_t **out, const mts_session *s);

/* A peer as the session stores it (40 bytes), for the codec's bulk paths.
 * kind/channel_kind/flags as in the format; strings NUL-terminated or
 * NULL, never empty. */
enum { MTS__PEER_BOT = 1, MTS__PEER_COMMUNITY = 2 };
typedef struct mts__peer_rec {
    int64_t id;
    int64_t access_hash;
    char *username;
    char *phone;
    uint32_t stamp; /* low 32 bits of the gen of the last change */
    uint8_t kind;
    uint8_t channel_kind;
    uint8_t flags;
} mts__peer_rec;
/* The records are kept in chunks of 2^MTS__PEER_CHUNK_BITS: record i
 * (mts_session_peer_at's order) is mts__peer_in(chunks, i). */
#define MTS__PEER_CHUNK_BITS 11
static inline mts__peer_rec *
mts__peer_in(mts__peer_rec *const *chunks, size_t i)
{
    return &chunks[i >> MTS__PEER_CHUNK_BITS]
                  [i & (((size_t)1 << MTS__PEER_CHUNK_BITS) - 1)];
}
/* The chunk table, and the number of records in *n. */
mts__peer_rec *const *mts__session_peer_chunks(const mts_session *s,
                                               size_t *n);
/* Sum of the lengths of every peer's username and phone, kept as peers
 * change: the PEERS section's size without a pass over the peers. */
uint64_t mts__session_peer_string_bytes(const mts_session *s);
/* The peers of each kind (0 user, 1 chat, 2 channel) and the sum of their
 * string lengths. Returns 2 when the array is in canonical order; 1 when
 * the peers of each kind are in ascending id order in it, so that a stable
 * split by kind is the canonical order; else 0 (mts__peer_order32 sorts). */
int mts__session_peer_kinds(const mts_session *s, size_t count[3],
                            uint64_t string_bytes[3]);
/* Canonical (kind, id) order for an encoder: *out = NULL when the records
 * already are in it (no allocation), else n record indices the caller
 * frees. 0 or MTS_ENOMEM. */
int mts__peer_order32(uint32_t **out, const mts_session *s);
/*
 * Bulk loading for decoders, into a session that has no peers yet:
 * mts__peers_load_begin reserves `count` records (mts__peer_in(*chunks, i))
 * and one block of `string_bytes` for their strings, NULs included, owned
 * by the session. The decoder fills records 0..n-1 and copies each string,
 * NUL-terminated, into the block; mts__peers_load_end(s, n, the sums of the
 * string lengths of each kind without NULs) then makes them the session's
 * peers, indexed and marked as sorted. The records must be valid
 * (mts__validate_peer) and in strictly ascending (kind, id) order, hence
 * unique. Until load_end the session has no peers, so freeing it after a
 * decode error is safe. begin returns 0 or MTS_ENOMEM; end returns 0.
 */
int mts__peers_load_begin(mts_session *s, size_t count, size_t string_bytes,
                          mts__peer_rec *const **chunks, char **strings);
int mts__peers_load_end(mts_session *s, size_t n,
                        const uint64_t string_len[3]);
/* Optionally, before load_end: index records [from, n) now, while they are
 * still in the cache (from: where the last call stopped, first 0). */
void mts__peers_load_index(mts_session *s, size_t from, size_t n);
/* Whether the key (kind,id) of every peer etc. is present; used by
 * decoders to refuse duplicates. */
int mts__has_peer(const mts_session *s, mts_peer_kind kind, int64_t id);

/* ---- change tracking (session.c) ----
 * A session has an identity (uid: unique per object in this process, never
 * 0; a dup is a new object) and a change generation (gen) that every
 * change increments. A backend that remembers (uid, gen) after a save or
 * load can later write only what changed since: the records whose
 * mts__session_*_changed answer 1, and the removals logged after that gen.
 * mts__session_delta_ok says whether that is possible (the removal log is
 * bounded; when it overflowed past `since`, write everything). The
 * answers may include a record that did not change (a harmless extra
 * write), never miss one that did. */
enum {
    MTS__REMOVED_DC = 1,       /* id: dc_id, k1: flags, k2: family */
    MTS__REMOVED_CHANNEL = 2,  /* id: channel_id */
    MTS__REMOVED_PEER = 3,     /* id: bare id, k1: kind */
    MTS__REMOVED_MIN_PEER = 4  /* id: user_id */
};
typedef struct mts__removal {
    uint64_t gen; /* the change that removed it */
    int64_t id;
    uint8_t table; /* MTS__REMOVED_* */
    uint8_t k1, k2;
} mts__removal;
void mts__session_mark(const mts_session *s, uint64_t *uid, uint64_t *gen);
int mts__session_delta_ok(const mts_session *s, uint64_t since);
int mts__session_scalars_changed(const mts_session *s, uint64_t since);
/* Record i (the index of mts_session_*_at) changed after `since`. */
int mts__session_dc_changed(const mts_session *s, size_t i, uint64_t since);
int mts__session_channel_changed(const mts_session *s, size_t i,
                                 uint64_t since);
int mts__session_peer_changed(const mts_session *s, size_t i, uint64_t since);
int mts__session_min_peer_changed(const mts_session *s, size_t i,
                                  uint64_t since);
/* The removal log, oldest first (gen ascending); NULL past the end. */
size_t mts__session_removal_count(const mts_session *s);
const mts__removal *mts__session_removal_at(const mts_session *s, size_t i);

/* ---- keys for values sealed outside the envelope (seal.c) ----
 * How a store derived its key from a secret: kind 0 (a raw 32-byte key)
 * or 1 (Argon2id v1.3 with ops passes over memkib KiB and salt). Stored
 * once per store, so a passphrase is stretched once per open. */
typedef struct mts__kdf {
    uint8_t kind;
    uint32_t ops, memkib;
    uint8_t salt[16];
} mts__kdf;
/* The kdf a new store sealed with `secret` records: the raw key, or
 * Argon2id at the secret's cost with a fresh salt (or the salt of the key
 * the secret has already derived). Returns 0 or MTS_EBACKEND. */
int mts__secret_kdf_new(mts__kdf *out, mts_secret *secret, mts_error *err);
/* A key for one purpose (8 bytes, a libsodium crypto_kdf context): the
 * secret's key under `kdf` (Argon2id is run only when the secret has not
 * derived for that salt and cost already), then separated by `purpose`.
 * The caller wipes it. Returns 0; MTS_EBADKEY when the secret's kind is
 * not the kdf's (a passphrase for a raw-key store); MTS_ECORRUPT for
 * Argon2id costs out of range; MTS_EVERSION for an unknown kind;
 * MTS_EBACKEND when Argon2id cannot get its memory. */
int mts__secret_subkey(uint8_t out[MTS_SEAL_KEY_SIZE], mts_secret *secret,
                       const mts__kdf *kdf, const char purpose[8],
                       mts_error *err);

/* ---- formats (convert.c, src/formats/) ---- */
/* One byte format: how to recognise, read and write it. Text formats get
 * their input as given (the decoder trims white space) and return their
 * output without the trailing newline (convert.c adds it). */
typedef struct mts__format_ops {
    mts_format fmt;
    unsigned int caps;
    /* 1 if the bytes have this format's structure, else 0; MTS_ENOMEM
     * (negative) if it could not tell for lack of memory. */
    int (*probe)(const uint8_t *data, size_t len);
    int (*decode)(mts_session **out, const uint8_t *data, size_t len,
                  mts_error *err);
    int (*encode)(uint8_t **out, size_t *out_len, const mts_session *s,
                  const mts_format_options *opts, mts_warn_fn warn,
                  void *payload, mts_error *err);
} mts__format_ops;

/* Other libraries' formats (src/formats/); caps 0 = not in this build. */
extern const mts__format_ops mts__fmt_ferogram;
extern const mts__format_ops mts__fmt_ferogram_string;
extern const mts__format_ops mts__fmt_ferogram_compact;
extern const mts__format_ops mts__fmt_telethon_string;
extern const mts__format_ops mts__fmt_telethon_sqlite;
extern const mts__format_ops mts__fmt_pyrogram_string;
extern const mts__format_ops mts__fmt_pyrogram_sqlite;
extern const mts__format_ops mts__fmt_gramjs_string;
extern const mts__format_ops mts__fmt_mtcute_string;

/* Report one kind of dropped data through the caller's callback. */
void mts__warn(mts_warn_fn warn, void *payload, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Trim ASCII white space: returns the start, sets *n to the new length. */
const uint8_t *mts__trim(const uint8_t *data, size_t *n);

/* ---- storage (storage.c) ---- */
/* Hold a handle's lock around backend-specific calls. */
void mts__storage_lock(mts_storage *st);
void mts__storage_unlock(mts_storage *st);

/* ---- base64 (base64.c), shared by the codec and the Hrana client ----
 * URL-safe alphabet (RFC 4648 section 5) unless MTS__B64_STD (section 4).
 * MTS__B64_PAD: encoding pads with '='; decoding accepts input with or
 * without padding (only at the end, to a multiple of 4). MTS__B64_STRICT:
 * decoding refuses non-zero trailing bits (one text per byte string). */
enum { MTS__B64_STD = 1, MTS__B64_PAD = 2, MTS__B64_STRICT = 4 };
/* Decoding results besides 0 (*bad_at: the offending character). */
enum { MTS__B64_BAD_CHAR = 1, MTS__B64_BAD_LENGTH = 2, MTS__B64_BAD_BITS = 3 };
/* *out is NUL-terminated; the caller frees it. 0 or MTS_ENOMEM. */
int mts__base64_encode(char **out, const uint8_t *data, size_t len,
                       unsigned int flags);
/* At most mts__base64_decoded_max(len) bytes into out; wiped on error. */
int mts__base64_decode(uint8_t *out, size_t *out_len, const char *in,
                       size_t len, unsigned int flags, size_t *bad_at);
size_t mts__base64_decoded_max(size_t len);

/* ---- text helpers (util.c) ---- */
/* Valid UTF-8 without control characters (< 0x20, 0x7f). */
bool mts__utf8_valid(const uint8_t *s, size_t n);
/* Parse "a.b.c.d:port" or "[v6]:port". */
int mts__parse_hostport(mts_ip *ip, uint16_t *port, const char *s, size_t n);

#endif /* MTSESSION_INTERNAL_H */
