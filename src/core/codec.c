/*
 * codec.c - the mtsession binary format (docs/FORMAT.md) and the portable
 * string built on it.
 *
 * Version 1 (read only): the legacy DC table, exact layout in FORMAT.md.
 * Version 2 (written):
 *
 *   u8 0x02 | 7-byte magic "MTSESS\x1a" | u32 total length | u32 flags (0)
 *   sections: { u16 tag | u16 section flags | u32 length | payload }
 *   u32 CRC-32C of every byte before it
 *
 * All integers little-endian. Sections appear once each, in ascending tag
 * order; a reader skips an unknown section unless its "critical" flag is
 * set. List entries are in strictly ascending key order, so duplicates and
 * non-canonical files are refused, and equal sessions encode to equal
 * bytes.
 *
 * Decoding checks the length field and the checksum before it parses
 * anything, then checks every length against the bytes left. A decode
 * builds a fresh session and frees it on any error: callers get a whole
 * session or none. Thread-safe (no shared state).
 *
 * The PEERS section is most of a big session, so both directions work on
 * the session's records directly (internal.h): the encoder writes them
 * into an output sized up front, in the order the session says is the
 * cheapest way to canonical (as stored, split by kind, or sorted), taking
 * the CRC as it goes; the decoder checks each entry with plain comparisons
 * and loads the records in bulk, formatting an error message only for the
 * entry it refuses.
 *
 * One encoder serves mts_encode (one buffer of the exact size) and
 * mts__encode_stream (the file backend's save: chunks of a few hundred KB
 * handed to a sink with their file offsets, so a big session never has its
 * whole encoding in memory). The length field needs no pass (the size is
 * kept by the session) and the CRC comes last, so the stream writes in
 * order, except for big PEERS sections with mixed kinds: those go out
 * through one buffer per kind into the kind's region of the file, and the
 * regions' CRCs are combined.
 */
#include "internal.h"

#include <stdarg.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define V2_MAGIC "MTSESS\x1a"
#define V2_MAGIC_LEN 7
#define V2_HEADER_LEN 16
#define V2_CRC_LEN 4
#define SECTION_HEADER_LEN 8
#define SECTION_CRITICAL 0x0001u

enum {
    TAG_INFO = 1,
    TAG_DCS = 2,
    TAG_UPDATES = 3,
    TAG_PEERS = 4,
    TAG_MIN_PEERS = 5,
    TAG_TOKEN = 6,
    TAG_GENERATION = 7, /* written by the file backend, not by mts_encode */
    TAG_LAST_KNOWN = 7
};

static const char *const tag_names[] = { "?",       "INFO",      "DCS",
                                         "UPDATES", "PEERS",     "MIN_PEERS",
                                         "TOKEN",   "GENERATION" };

#define INFO_LEN 20
#define DC_FIXED_LEN (4 + 1 + 1 + 2 + 8 + 4 + 1) /* without ip and key */
#define DC_MIN_LEN (DC_FIXED_LEN + 4)
#define CHAN_LEN 12
#define PEER_MIN_LEN (1 + 8 + 8 + 1 + 1 + 1 + 1)
#define MIN_PEER_LEN 20

/* ---- sizes ------------------------------------------------------------- */

static uint64_t
dcs_payload_size(const mts_session *s)
{
    uint64_t n = 4;
    for (size_t i = 0; i < mts_session_dc_count(s); i++) {
        mts_dc dc;
        mts_session_dc_at(&dc, s, i);
        n += DC_FIXED_LEN + (dc.ip.family == 4 ? 4u : 16u) +
             (dc.auth_key ? MTS_AUTH_KEY_SIZE : 0u);
    }
    return n;
}

/* The session keeps the sum of its peers' string lengths: no pass. */
static uint64_t
peers_payload_size(const mts_session *s)
{
    return 4 + (uint64_t)PEER_MIN_LEN * mts_session_peer_count(s) +
           mts__session_peer_string_bytes(s);
}

uint64_t
mts_encoded_size(const mts_session *s)
{
    const uint8_t *tok;
    size_t toklen;
    uint64_t n = V2_HEADER_LEN + V2_CRC_LEN;
    n += SECTION_HEADER_LEN + INFO_LEN;
    n += SECTION_HEADER_LEN + dcs_payload_size(s);
    n += SECTION_HEADER_LEN + 16 + 4 +
         (uint64_t)CHAN_LEN * mts_session_channel_count(s);
    n += SECTION_HEADER_LEN + peers_payload_size(s);
    n += SECTION_HEADER_LEN + 4 +
         (uint64_t)MIN_PEER_LEN * mts_session_min_peer_count(s);
    if (mts_session_future_auth_token(s, &tok, &toklen) == 0)
        n += SECTION_HEADER_LEN + toklen;
    return n;
}

/* ---- encoder ----------------------------------------------------------- */

static void
put_le64(uint8_t *w, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(w, &v, 8);
#else
    for (int k = 0; k < 8; k++)
        w[k] = (uint8_t)(v >> (8 * k));
#endif
}

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch((p))
#else
#define PREFETCH(p) ((void)(p))
#endif

/* The checksum is taken in chunks of this size right after the encoder
 * wrote them (still in the cache), not in a second pass over the file. */
#define CRC_CHUNK ((size_t)64 * 1024)
/* The decoder indexes its records in batches of this many, while they
 * are in the cache. */
#define INDEX_BATCH 2048
/* How many records ahead the encoder fetches peers in sorted order. */
#define PEER_PREFETCH 16

/* In sorted order (order != NULL) records lie at random in memory: fetch
 * the record PEER_PREFETCH ahead of i, and the strings of the one fetched
 * half as far ahead. Both peer writers run this once per entry. A macro,
 * not a function: GCC 12 finds a function that only prefetches free of
 * side effects and deletes the calls to it. */
#define PREFETCH_PEERS(recs, n, order, i)                                      \
    do {                                                                       \
        if ((order) != NULL && (i) + PEER_PREFETCH < (n)) {                    \
            const mts__peer_rec *f_ =                                          \
                mts__peer_in((recs), (order)[(i) + PEER_PREFETCH / 2]);        \
            PREFETCH(mts__peer_in((recs), (order)[(i) + PEER_PREFETCH]));      \
            if (f_->username != NULL)                                          \
                PREFETCH(f_->username);                                        \
            if (f_->phone != NULL)                                             \
                PREFETCH(f_->phone);                                           \
        }                                                                      \
    } while (0)

static inline size_t
peer_str_len(const char *s)
{
    return s != NULL ? strlen(s) : 0;
}

/* One PEERS entry at o, whose username and phone are ul and pl bytes
 * long; the caller has made room for PEER_MIN_LEN + ul + pl bytes, which
 * it returns. */
static inline size_t
put_peer(uint8_t *o, const mts__peer_rec *r, size_t ul, size_t pl)
{
    o[0] = r->kind;
    put_le64(o + 1, (uint64_t)r->id);
    put_le64(o + 9, (uint64_t)r->access_hash);
    o[17] = r->flags;
    o[18] = r->channel_kind;
    o[19] = (uint8_t)ul;
    if (ul != 0)
        memcpy(o + 20, r->username, ul);
    o[20 + ul] = (uint8_t)pl;
    if (pl != 0)
        memcpy(o + 21 + ul, r->phone, pl);
    return PEER_MIN_LEN + ul + pl;
}

/*
 * The PEERS entries in canonical order, written straight into the output
 * (sized up front: `room` bytes are left at w). `order` is NULL when the
 * records already are in that order. Returns the end of what was written,
 * or NULL if the records need more than `room` (which the size kept by the
 * session rules out). The CRC of [*crc_at, ...) is brought forward chunk
 * by chunk as the output grows.
 */
static uint8_t *
write_peers(uint8_t *w, size_t room, mts__peer_rec *const *recs, size_t n,
            const uint32_t *order, const uint8_t *base, size_t *crc_at,
            uint32_t *crc)
{
    const uint8_t *end = w + room;
    for (size_t i = 0; i < n; i++) {
        const mts__peer_rec *r =
            mts__peer_in(recs, order != NULL ? order[i] : i);
        size_t ul, pl;
        PREFETCH_PEERS(recs, n, order, i);
        ul = peer_str_len(r->username);
        pl = peer_str_len(r->phone);
        if ((size_t)(end - w) < PEER_MIN_LEN + ul + pl)
            return NULL;
        w += put_peer(w, r, ul, pl);
        if ((size_t)(w - base) - *crc_at >= CRC_CHUNK) {
            size_t upto = (size_t)(w - base);
            *crc = mts_crc32c(*crc, base + *crc_at, upto - *crc_at);
            *crc_at = upto;
        }
    }
    return w;
}

/*
 * The PEERS entries when the peers of each kind are in id order in the
 * array but the kinds are mixed (mts__session_peer_kinds answered 1): one
 * pass in array order, each entry written at the cursor of its kind, the
 * three kinds' regions sized from the session's counts. NULL if the
 * records do not fill their regions exactly (ruled out by those counts).
 */
static uint8_t *
write_peers_split(uint8_t *w, size_t room, mts__peer_rec *const *recs,
                  size_t n, const size_t kcount[3], const uint64_t kbytes[3])
{
    uint8_t *cur[3], *lim[3];
    uint64_t len[3], total = 0;
    for (int k = 0; k < 3; k++) {
        len[k] = (uint64_t)PEER_MIN_LEN * kcount[k] + kbytes[k];
        total += len[k];
    }
    if (total > room)
        return NULL;
    cur[0] = w;
    lim[0] = cur[1] = w + len[0];
    lim[1] = cur[2] = cur[1] + len[1];
    lim[2] = cur[2] + len[2];
    for (size_t i = 0; i < n; i++) {
        const mts__peer_rec *r = mts__peer_in(recs, i);
        size_t ul, pl;
        uint8_t *o;
        unsigned k = r->kind;
        if (k > 2)
            return NULL;
        ul = peer_str_len(r->username);
        pl = peer_str_len(r->phone);
        o = cur[k];
        if ((size_t)(lim[k] - o) < PEER_MIN_LEN + ul + pl)
            return NULL;
        cur[k] = o + put_peer(o, r, ul, pl);
    }
    if (cur[0] != lim[0] || cur[1] != lim[1] || cur[2] != lim[2])
        return NULL;
    return lim[2];
}

/*
 * The encoder's output: a buffer of `cap` bytes that is handed to `sink`
 * with its file offset whenever it is full and once at the end
 * (mts__encode_stream), or that is the whole output (mts_encode: cap is
 * the exact size, sink is NULL and is never called). crc is the CRC of
 * everything this writer wrote before buf + crc_at; it is brought forward
 * as chunks are sent, and every CRC_CHUNK bytes inside the PEERS loop,
 * while the bytes are still in the cache. After the first error (rc)
 * nothing more is written or sent.
 */
typedef struct sw {
    uint8_t *buf;
    size_t cap, len;
    size_t crc_at;
    uint32_t crc;
    bool crc_done; /* the checksum itself is being written */
    bool bug;      /* rc is ours: the session's counts were wrong */
    int rc;
    uint64_t sent; /* the file offset of buf[0] */
    mts__encode_sink sink;
    void *payload;
} sw;

/* An internal invariant failed (never for input: the session's counts
 * and strings are checked when they are set). */
static void
sw_bug(sw *w)
{
    MTS_ASSERT(0 && "encoder invariant");
    w->bug = true;
    w->rc = MTS_EINVAL;
}

static int
sw_flush(sw *w)
{
    int rc;
    if (w->rc != 0)
        return w->rc;
    if (!w->crc_done && w->len > w->crc_at)
        w->crc = mts_crc32c(w->crc, w->buf + w->crc_at, w->len - w->crc_at);
    w->crc_at = 0;
    if (w->len == 0)
        return 0;
    if (w->sink == NULL) {
        /* mts_encode's buffer has the exact size: it never fills early */
        sw_bug(w);
        return w->rc;
    }
    rc = w->sink(w->buf, w->len, w->sent, w->payload);
    if (rc != 0)
        return w->rc = rc < 0 ? rc : MTS_EIO;
    w->sent += w->len;
    w->len = 0;
    return 0;
}

static void
sw_put(sw *w, const void *data, size_t n)
{
    const uint8_t *p = data;
    while (n > 0 && w->rc == 0) {
        size_t k = w->cap - w->len;
        if (k == 0) {
            (void)sw_flush(w);
            continue;
        }
        if (k > n)
            k = n;
        memcpy(w->buf + w->len, p, k);
        w->len += k;
        p += k;
        n -= k;
    }
}

static void
sw_u8(sw *w, uint8_t v)
{
    sw_put(w, &v, 1);
}

static void
sw_u16(sw *w, uint16_t v)
{
    uint8_t p[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
    sw_put(w, p, 2);
}

static void
sw_u32(sw *w, uint32_t v)
{
    uint8_t p[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                     (uint8_t)(v >> 24) };
    sw_put(w, p, 4);
}

static void
sw_u64(sw *w, uint64_t v)
{
    uint8_t p[8];
    put_le64(p, v);
    sw_put(w, p, 8);
}

static void
put_section(sw *w, uint16_t tag, uint64_t len)
{
    sw_u16(w, tag);
    /* TOKEN and GENERATION may be skipped by a reader that does not know
     * them; everything before them is needed */
    sw_u16(w, (uint16_t)(tag >= TAG_TOKEN ? 0 : SECTION_CRITICAL));
    sw_u32(w, (uint32_t)len);
}

/* One PEERS entry through a copy that sw_put splits across chunks: for
 * an entry that does not fit in what is left of the buffer. */
static void
sw_peer_split(sw *w, const mts__peer_rec *r, size_t ul, size_t pl)
{
    uint8_t tmp[PEER_MIN_LEN + 2 * 255];
    if (ul > 255 || pl > 255) { /* the model refuses such strings */
        sw_bug(w);
        return;
    }
    sw_put(w, tmp, put_peer(tmp, r, ul, pl));
}

/*
 * The records recs[order[i]] (or recs[i] when order is NULL), i < n,
 * through the buffer: in place while they fit, taking the CRC every
 * CRC_CHUNK bytes, fetching ahead in sorted order as write_peers does.
 * The buffer's state is kept in locals (stores through uint8_t * would
 * otherwise reload it every entry).
 */
static void
sw_peers(sw *w, mts__peer_rec *const *recs, size_t n, const uint32_t *order)
{
    uint8_t *buf = w->buf;
    size_t len = w->len, cap = w->cap, crc_at = w->crc_at;
    uint32_t crc = w->crc;
    for (size_t i = 0; i < n; i++) {
        const mts__peer_rec *r =
            mts__peer_in(recs, order != NULL ? order[i] : i);
        size_t ul, pl, need;
        PREFETCH_PEERS(recs, n, order, i);
        ul = peer_str_len(r->username);
        pl = peer_str_len(r->phone);
        need = PEER_MIN_LEN + ul + pl;
        if (cap - len < need) {
            w->len = len;
            w->crc_at = crc_at;
            w->crc = crc;
            sw_peer_split(w, r, ul, pl); /* sends the full buffer */
            if (w->rc != 0)
                return;
            len = w->len;
            crc_at = w->crc_at;
            crc = w->crc;
            continue;
        }
        len += put_peer(buf + len, r, ul, pl);
        if (len - crc_at >= CRC_CHUNK) {
            crc = mts_crc32c(crc, buf + crc_at, len - crc_at);
            crc_at = len;
        }
    }
    w->len = len;
    w->crc_at = crc_at;
    w->crc = crc;
}

/* CRC-32C of A||B from crc(A), crc(B) and |B| (zlib's crc32_combine, for
 * the Castagnoli polynomial): multiply crc(A) by x^(8|B|) mod P. */
#define CRC32C_POLY 0x82F63B78u

/* The first error of a region's writer becomes w's. */
static void
sw_take_error(sw *w, const sw *o)
{
    if (o != w && o->rc != 0 && w->rc == 0) {
        w->rc = o->rc;
        w->bug = o->bug;
    }
}

static uint32_t
crc_mulmod(uint32_t a, uint32_t b)
{
    uint32_t m = (uint32_t)1 << 31, p = 0;
    for (;;) {
        if (a & m) {
            p ^= b;
            if ((a & (m - 1)) == 0)
                break;
        }
        m >>= 1;
        b = b & 1 ? (b >> 1) ^ CRC32C_POLY : b >> 1;
    }
    return p;
}

static uint32_t
crc_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
    uint32_t x2n = (uint32_t)1 << 30; /* x^1, then x^(2^k) */
    uint32_t p = (uint32_t)1 << 31;   /* x^0 */
    uint64_t n = len_b * 8;
    for (; n != 0; n >>= 1) {
        if (n & 1)
            p = crc_mulmod(x2n, p);
        x2n = crc_mulmod(x2n, x2n);
    }
    return crc_mulmod(p, crc_a) ^ crc_b;
}

/*
 * Peers of mixed kinds, each kind in id order, when they do not fit in the
 * buffer: one pass over the array, as write_peers_split, each kind through
 * its own buffer sent at its own file offset (the sizes of the kinds'
 * regions are known), so no second pass and no index. w goes on after the
 * last region, its CRC the combination of the three regions'.
 */
static void
sw_peers_regions(sw *w, mts__peer_rec *const *recs, size_t n,
                 const size_t kcount[3], const uint64_t kbytes[3],
                 mts_error *err)
{
    sw r[3], *ws[3];
    uint64_t len[3], start = w->sent + w->len, end;
    size_t left[3];
    for (int k = 0; k < 3; k++) {
        len[k] = (uint64_t)PEER_MIN_LEN * kcount[k] + kbytes[k];
        left[k] = kcount[k];
    }
    /* users: on in w, which is then sent; the others: a buffer each */
    ws[0] = w;
    ws[1] = &r[1];
    ws[2] = &r[2];
    end = start;
    for (int k = 1; k < 3; k++) {
        end += len[k - 1];
        memset(&r[k], 0, sizeof(r[k]));
        r[k].sink = w->sink;
        r[k].payload = w->payload;
        r[k].sent = end;
        r[k].cap = len[k] < w->cap ? (size_t)len[k] : w->cap;
        if (r[k].cap != 0 && (r[k].buf = mts_malloc(r[k].cap)) == NULL &&
            w->rc == 0)
            w->rc = mts__err_oom(err);
    }
    end += len[2];
    for (size_t i = 0; i < n && w->rc == 0; i++) {
        const mts__peer_rec *rec = mts__peer_in(recs, i);
        size_t ul, pl, need;
        unsigned k = rec->kind;
        sw *o;
        if (k > 2 || left[k] == 0) { /* the counts rule this out */
            sw_bug(w);
            break;
        }
        left[k]--;
        o = ws[k];
        ul = peer_str_len(rec->username);
        pl = peer_str_len(rec->phone);
        need = PEER_MIN_LEN + ul + pl;
        if (o->cap - o->len < need) {
            sw_peer_split(o, rec, ul, pl);
            sw_take_error(w, o);
            continue;
        }
        o->len += put_peer(o->buf + o->len, rec, ul, pl);
        if (o->len - o->crc_at >= CRC_CHUNK) {
            o->crc = mts_crc32c(o->crc, o->buf + o->crc_at,
                                o->len - o->crc_at);
            o->crc_at = o->len;
        }
    }
    if (w->rc == 0 && (left[0] | left[1] | left[2]) != 0)
        sw_bug(w);
    for (int k = 0; k < 3 && w->rc == 0; k++) {
        (void)sw_flush(ws[k]);
        sw_take_error(w, ws[k]);
    }
    if (w->rc == 0 &&
        (w->sent != start + len[0] || r[1].sent != start + len[0] + len[1] ||
         r[2].sent != end))
        sw_bug(w);
    if (w->rc == 0) {
        w->crc = crc_combine(crc_combine(w->crc, r[1].crc, len[1]), r[2].crc,
                             len[2]);
        w->sent = end;
    }
    for (int k = 1; k < 3; k++)
        if (r[k].buf != NULL) {
            mts__wipe(r[k].buf, r[k].cap);
            mts_free(r[k].buf);
        }
}

/*
 * The PEERS entries, after the section header and count. When the whole
 * payload fits in the buffer (always for mts_encode), they are written in
 * place as before; otherwise they stream through the buffer: in array
 * order, in `order`, or, when each kind is sorted but the kinds are mixed,
 * each kind through its own buffer to its own region of the file
 * (sw_peers_regions: one pass, where a pass per kind or a list of the
 * other kinds' indices would read the records twice or more).
 */
static int
encode_peers(sw *w, const mts_session *s, int kinds, const size_t kcount[3],
             const uint64_t kbytes[3], const uint32_t *order, mts_error *err)
{
    size_t npeer;
    mts__peer_rec *const *recs = mts__session_peer_chunks(s, &npeer);
    uint64_t bytes = peers_payload_size(s) - 4;

    if (w->rc != 0)
        return w->rc;
    if (bytes <= w->cap - w->len) {
        uint8_t *p = w->buf + w->len;
        uint8_t *e = kinds == 1
                         ? write_peers_split(p, w->cap - w->len, recs, npeer,
                                             kcount, kbytes)
                         : write_peers(p, w->cap - w->len, recs, npeer, order,
                                       w->buf, &w->crc_at, &w->crc);
        MTS_ASSERT(e != NULL && (uint64_t)(e - p) == bytes);
        if (e == NULL || (uint64_t)(e - p) != bytes)
            return w->rc = mts__err(err, MTS_EINVAL,
                                    "encode: the peers need more bytes than "
                                    "counted");
        w->len += (size_t)(e - p);
        return 0;
    }
    if (kinds == 1)
        sw_peers_regions(w, recs, npeer, kcount, kbytes, err);
    else
        sw_peers(w, recs, npeer, order);
    return w->rc;
}

static int
cmp_chan(const void *a, const void *b)
{
    int64_t x = ((const mts_channel_pts *)a)->channel_id;
    int64_t y = ((const mts_channel_pts *)b)->channel_id;
    return x < y ? -1 : x > y;
}

static int
cmp_min(const void *a, const void *b)
{
    int64_t x = ((const mts_min_peer *)a)->user_id;
    int64_t y = ((const mts_min_peer *)b)->user_id;
    return x < y ? -1 : x > y;
}

#define GENERATION_SECTION_LEN (SECTION_HEADER_LEN + 8)

/* The size of the file, checked against the format's maximum. */
static int
encode_total(uint64_t *total, const mts_session *s, uint64_t gen,
             mts_error *err)
{
    *total = mts_encoded_size(s) + (gen != 0 ? GENERATION_SECTION_LEN : 0);
    if (*total > MTS_INPUT_MAX)
        return mts__err(err, MTS_ELIMIT,
                        "encode: the session needs %llu bytes, more than the "
                        "format's maximum of %zu",
                        (unsigned long long)*total, (size_t)MTS_INPUT_MAX);
    return 0;
}

/*
 * Every byte of the file of `total` bytes into w, the checksum included;
 * the caller sends what is left in the buffer. The one encoder behind
 * mts_encode and mts__encode_stream, so both give the same bytes. A sink
 * error is returned as the sink gave it, with err left to the sink.
 */
static int
encode_to(sw *w, const mts_session *s, uint64_t gen, uint64_t total,
          mts_error *err)
{
    size_t nchan = mts_session_channel_count(s);
    size_t nmin = mts_session_min_peer_count(s);
    mts_channel_pts *chans = NULL;
    mts_min_peer *mins = NULL;
    uint32_t *order = NULL;
    size_t kcount[3];
    uint64_t kbytes[3];
    int kinds;
    const uint8_t *tok;
    size_t toklen;
    mts_update_state st;
    int32_t api_id = 0;
    int64_t user_id = 0;
    int is_bot = 0, has_api, has_user;
    int rc;

    chans = mts__calloc(nchan ? nchan : 1, sizeof(*chans));
    mins = mts__calloc(nmin ? nmin : 1, sizeof(*mins));
    /* the peers' order: as they are, split by kind, or sorted */
    kinds = mts__session_peer_kinds(s, kcount, kbytes);
    if (chans == NULL || mins == NULL ||
        (kinds == 0 && mts__peer_order32(&order, s) != 0)) {
        rc = mts__err_oom(err);
        goto done;
    }

    /* header */
    sw_u8(w, MTS_FORMAT_VERSION_CURRENT);
    sw_put(w, V2_MAGIC, V2_MAGIC_LEN);
    sw_u32(w, (uint32_t)total);
    sw_u32(w, 0);

    /* INFO */
    has_api = mts_session_api_id(s, &api_id) == 0;
    has_user = mts_session_user(s, &user_id, &is_bot) == 0;
    put_section(w, TAG_INFO, INFO_LEN);
    sw_u32(w, (uint32_t)mts_session_home_dc(s));
    sw_u8(w, (uint8_t)(mts_session_test_mode(s) != 0));
    sw_u8(w, (uint8_t)has_api);
    sw_u32(w, (uint32_t)(has_api ? api_id : 0));
    sw_u8(w, (uint8_t)has_user);
    sw_u64(w, (uint64_t)(has_user ? user_id : 0));
    sw_u8(w, (uint8_t)(has_user && is_bot));

    /* DCS: mts_session_dc_at is already in canonical order */
    put_section(w, TAG_DCS, dcs_payload_size(s));
    sw_u32(w, (uint32_t)mts_session_dc_count(s));
    for (size_t i = 0; i < mts_session_dc_count(s); i++) {
        mts_dc dc;
        mts_session_dc_at(&dc, s, i);
        sw_u32(w, (uint32_t)dc.dc_id);
        sw_u8(w, (uint8_t)dc.flags);
        sw_u8(w, dc.ip.family);
        sw_put(w, dc.ip.bytes, dc.ip.family == 4 ? 4 : 16);
        sw_u16(w, dc.port);
        sw_u64(w, (uint64_t)dc.server_salt);
        sw_u32(w, (uint32_t)dc.time_offset);
        sw_u8(w, dc.auth_key != NULL);
        if (dc.auth_key != NULL)
            sw_put(w, dc.auth_key, MTS_AUTH_KEY_SIZE);
    }

    /* UPDATES */
    mts_session_update_state(s, &st);
    for (size_t i = 0; i < nchan; i++)
        mts_session_channel_at(&chans[i], s, i);
    qsort(chans, nchan, sizeof(*chans), cmp_chan);
    put_section(w, TAG_UPDATES, 16 + 4 + (uint64_t)CHAN_LEN * nchan);
    sw_u32(w, (uint32_t)st.pts);
    sw_u32(w, (uint32_t)st.qts);
    sw_u32(w, (uint32_t)st.date);
    sw_u32(w, (uint32_t)st.seq);
    sw_u32(w, (uint32_t)nchan);
    for (size_t i = 0; i < nchan; i++) {
        sw_u64(w, (uint64_t)chans[i].channel_id);
        sw_u32(w, (uint32_t)chans[i].pts);
    }

    /* PEERS in (kind, id) order: this loop runs once per cached peer */
    put_section(w, TAG_PEERS, peers_payload_size(s));
    sw_u32(w, (uint32_t)mts_session_peer_count(s));
    (void)encode_peers(w, s, kinds, kcount, kbytes, order, err);

    /* MIN_PEERS */
    for (size_t i = 0; i < nmin; i++)
        mts_session_min_peer_at(&mins[i], s, i);
    qsort(mins, nmin, sizeof(*mins), cmp_min);
    put_section(w, TAG_MIN_PEERS, 4 + (uint64_t)MIN_PEER_LEN * nmin);
    sw_u32(w, (uint32_t)nmin);
    for (size_t i = 0; i < nmin; i++) {
        sw_u64(w, (uint64_t)mins[i].user_id);
        sw_u64(w, (uint64_t)mins[i].peer_id);
        sw_u32(w, (uint32_t)mins[i].msg_id);
    }

    /* TOKEN, only when there is one */
    if (mts_session_future_auth_token(s, &tok, &toklen) == 0) {
        put_section(w, TAG_TOKEN, toklen);
        sw_put(w, tok, toklen);
    }

    /* GENERATION, for the file backend's journal: the highest tag, last */
    if (gen != 0) {
        put_section(w, TAG_GENERATION, 8);
        sw_u64(w, gen);
    }

    if (w->rc == 0) {
        w->crc = mts_crc32c(w->crc, w->buf + w->crc_at, w->len - w->crc_at);
        w->crc_at = w->len;
        w->crc_done = true;
        sw_u32(w, w->crc);
    }
    rc = w->rc;
    if (rc == 0 && w->sent + w->len != total) {
        MTS_ASSERT(w->sent + w->len == total);
        rc = mts__err(err, MTS_EINVAL,
                      "encode: wrote %llu bytes, not the %llu counted",
                      (unsigned long long)(w->sent + w->len),
                      (unsigned long long)total);
    } else if (w->bug) {
        rc = mts__err(err, MTS_EINVAL,
                      "encode: the session needs more bytes than counted");
    }
done:
    mts_free(chans);
    mts_free(mins);
    mts_free(order);
    return rc;
}

int
mts_encode(uint8_t **out, size_t *out_len, const mts_session *s,
           mts_error *err)
{
    sw w;
    uint64_t total;
    int rc;

    if (out == NULL || out_len == NULL || s == NULL)
        return mts__err(err, MTS_EINVAL, "encode: NULL argument");
    if ((rc = encode_total(&total, s, 0, err)) != 0)
        return rc;
    memset(&w, 0, sizeof(w));
    w.cap = (size_t)total;
    w.buf = mts_malloc(w.cap + 1); /* NUL-terminated one past the end */
    if (w.buf == NULL)
        return mts__err_oom(err);
    if ((rc = encode_to(&w, s, 0, total, err)) != 0) {
        mts__wipe(w.buf, w.cap);
        mts_free(w.buf);
        return rc;
    }
    w.buf[w.cap] = 0;
    *out = w.buf;
    *out_len = w.cap;
    return 0;
}

int
mts__encode_stream(const mts_session *s, uint64_t gen, size_t chunk,
                   mts__encode_sink sink, void *payload, mts_error *err)
{
    sw w;
    uint64_t total;
    int rc;

    if (s == NULL || sink == NULL)
        return mts__err(err, MTS_EINVAL, "encode: NULL argument");
    if ((rc = encode_total(&total, s, gen, err)) != 0)
        return rc;
    if (chunk == 0)
        chunk = MTS__ENCODE_CHUNK;
    memset(&w, 0, sizeof(w));
    w.cap = total < chunk ? (size_t)total : chunk;
    w.sink = sink;
    w.payload = payload;
    w.buf = mts_malloc(w.cap);
    if (w.buf == NULL)
        return mts__err_oom(err);
    rc = encode_to(&w, s, gen, total, err);
    if (rc == 0)
        rc = sw_flush(&w);
    mts__wipe(w.buf, w.cap); /* it held auth keys */
    mts_free(w.buf);
    return rc;
}

/* ---- decoder ----------------------------------------------------------- */

typedef struct rd {
    const uint8_t *p; /* whole input: offsets are file offsets */
    size_t off;
    size_t end; /* end of the current section */
    mts_error *err;
} rd;

static int
truncated(rd *r, const char *field, size_t need)
{
    return mts__err_at(r->err, MTS_ECORRUPT, (int64_t)r->off,
                       "%s at byte %zu: needs %zu bytes, %zu left", field,
                       r->off, need, r->end - r->off);
}

#define NEED(r, n, field)                                                     \
    do {                                                                      \
        if ((r)->end - (r)->off < (size_t)(n))                                \
            return truncated((r), (field), (size_t)(n));                      \
    } while (0)

static uint8_t
get_u8(rd *r)
{
    return r->p[r->off++];
}

static uint16_t
get_u16(rd *r)
{
    uint16_t v = mts__rd16(r->p + r->off);
    r->off += 2;
    return v;
}

static uint32_t
get_u32(rd *r)
{
    uint32_t v = mts__rd32(r->p + r->off);
    r->off += 4;
    return v;
}

static uint64_t
get_u64(rd *r)
{
    uint64_t v = mts__rd64(r->p + r->off);
    r->off += 8;
    return v;
}

static int
bad(rd *r, size_t at, const char *field, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static int
bad(rd *r, size_t at, const char *field, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return mts__err_at(r->err, MTS_ECORRUPT, (int64_t)at, "%s at byte %zu: %s",
                       field, at, what);
}

static int
get_bool(rd *r, const char *field, bool *out)
{
    size_t at = r->off;
    uint8_t v;
    NEED(r, 1, field);
    v = get_u8(r);
    if (v > 1)
        return bad(r, at, field, "boolean is %lld, not 0 or 1", (long long)(v));
    *out = v == 1;
    return 0;
}

/* Re-anchor a model validation message at the record's offset. */
static int
model_error(rd *r, size_t at, const char *path, int rc)
{
    if (rc == MTS_ENOMEM)
        return mts__err_oom(r->err);
    if (r->err != NULL) {
        char msg[MTS_ERROR_MESSAGE_SIZE];
        memcpy(msg, r->err->message, sizeof(msg));
        return mts__err_at(r->err, MTS_ECORRUPT, (int64_t)at,
                           "%s at byte %zu: %s", path, at, msg);
    }
    return MTS_ECORRUPT;
}

static int
decode_info(rd *r, mts_session *s)
{
    int32_t home, api;
    int64_t uid;
    bool test = false, has_api = false, has_user = false, bot = false;
    size_t at;
    int rc;
    NEED(r, INFO_LEN, "INFO");
    at = r->off;
    home = (int32_t)get_u32(r);
    if (home < 0)
        return bad(r, at, "home_dc_id", "%lld is not a DC id", (long long)(home));
    if ((rc = get_bool(r, "test_mode", &test)) != 0 ||
        (rc = get_bool(r, "has_api_id", &has_api)) != 0)
        return rc;
    at = r->off;
    api = (int32_t)get_u32(r);
    if (!has_api && api != 0)
        return bad(r, at, "api_id", "%lld with has_api_id 0", (long long)(api));
    if ((rc = get_bool(r, "has_user", &has_user)) != 0)
        return rc;
    at = r->off;
    uid = (int64_t)get_u64(r);
    if ((rc = get_bool(r, "user_is_bot", &bot)) != 0)
        return rc;
    if (has_user && uid <= 0)
        return bad(r, at, "user_id", "%lld is not a user id", (long long)(uid));
    if (!has_user && (uid != 0 || bot))
        return bad(r, at, "user_id", "%lld with has_user 0", (long long)(uid));
    mts_session_set_home_dc(s, home);
    mts_session_set_test_mode(s, test);
    mts_session_set_api_id(s, has_api, api);
    if (has_user)
        mts_session_set_user(s, uid, bot);
    return 0;
}

static int
check_count(rd *r, size_t at, uint32_t count, size_t min_each,
            const char *field)
{
    if ((uint64_t)count * min_each > r->end - r->off)
        return mts__err_at(r->err, MTS_ECORRUPT, (int64_t)at,
                           "%s at byte %zu: count %u needs at least %llu "
                           "bytes, %zu left",
                           field, at, count,
                           (unsigned long long)count * min_each,
                           r->end - r->off);
    return 0;
}

static int
decode_dcs(rd *r, mts_session *s)
{
    uint32_t count;
    size_t at = r->off;
    char path[48];
    int rc;
    NEED(r, 4, "dcs.count");
    count = get_u32(r);
    if ((rc = check_count(r, at, count, DC_MIN_LEN, "dcs.count")) != 0)
        return rc;
    for (uint32_t i = 0; i < count; i++) {
        mts_dc dc = MTS_DC_INIT;
        uint8_t key[MTS_AUTH_KEY_SIZE];
        bool has_key = false;
        size_t rec = r->off, iplen;
        snprintf(path, sizeof(path), "dcs[%u]", i);
        NEED(r, 6, path);
        dc.dc_id = (int32_t)get_u32(r);
        dc.flags = get_u8(r);
        dc.ip.family = get_u8(r);
        if (dc.ip.family != 4 && dc.ip.family != 6)
            return bad(r, rec + 5, path, "address family %lld is not 4 or 6", (long long)(dc.ip.family));
        iplen = dc.ip.family == 4 ? 4 : 16;
        NEED(r, iplen + 2 + 8 + 4 + 1, path);
        memcpy(dc.ip.bytes, r->p + r->off, iplen);
        r->off += iplen;
        dc.port = get_u16(r);
        dc.server_salt = (int64_t)get_u64(r);
        dc.time_offset = (int32_t)get_u32(r);
        if ((rc = get_bool(r, "has_key", &has_key)) != 0)
            return rc;
        if (has_key) {
            NEED(r, MTS_AUTH_KEY_SIZE, "auth_key");
            memcpy(key, r->p + r->off, MTS_AUTH_KEY_SIZE);
            r->off += MTS_AUTH_KEY_SIZE;
            dc.auth_key = key;
        }
        if (i > 0) {
            mts_dc prev;
            mts_session_dc_at(&prev, s, mts_session_dc_count(s) - 1);
            if (prev.dc_id > dc.dc_id ||
                (prev.dc_id == dc.dc_id &&
                 (prev.flags > dc.flags ||
                  (prev.flags == dc.flags &&
                   prev.ip.family >= dc.ip.family)))) {
                mts__wipe(key, sizeof(key));
                return bad(r, rec, path,
                           "entry %u out of order or duplicate (entries "
                           "are sorted by dc_id, flags, family)",
                           i);
            }
        }
        rc = mts__put_dc(s, &dc, r->err);
        mts__wipe(key, sizeof(key));
        if (rc != 0)
            return model_error(r, rec, path, rc);
    }
    return 0;
}

static int
decode_updates(rd *r, mts_session *s)
{
    mts_update_state st;
    uint32_t count;
    int64_t prev = 0;
    size_t at;
    int rc;
    NEED(r, 20, "update_state");
    st.pts = (int32_t)get_u32(r);
    st.qts = (int32_t)get_u32(r);
    st.date = (int32_t)get_u32(r);
    st.seq = (int32_t)get_u32(r);
    mts_session_set_update_state(s, &st);
    at = r->off;
    count = get_u32(r);
    if ((rc = check_count(r, at, count, CHAN_LEN, "channels.count")) != 0)
        return rc;
    for (uint32_t i = 0; i < count; i++) {
        size_t rec = r->off;
        int64_t id = (int64_t)get_u64(r);
        int32_t pts = (int32_t)get_u32(r);
        char path[48];
        snprintf(path, sizeof(path), "channels[%u].channel_id", i);
        if (id <= 0)
            return bad(r, rec, path, "%lld is not a channel id", (long long)(id));
        if (i > 0 && id <= prev)
            return bad(r, rec, path, "%lld out of order or duplicate", (long long)(id));
        prev = id;
        if ((rc = mts_session_set_channel_pts(s, id, pts)) != 0)
            return model_error(r, rec, path, rc);
    }
    return 0;
}

static int
get_string(rd *r, const char *field, char *buf)
{
    size_t at = r->off;
    uint8_t n;
    NEED(r, 1, field);
    n = get_u8(r);
    NEED(r, n, field);
    if (n > 0 && !mts__utf8_valid(r->p + r->off, n))
        return bad(r, at, field, "%lld bytes that are not valid UTF-8 text", (long long)(n));
    memcpy(buf, r->p + r->off, n);
    buf[n] = '\0';
    r->off += n;
    return n;
}

/*
 * One peer entry the slow way, for an entry that the fast path refused:
 * the exact error (field, offset) a strict reader reports for it, after
 * entry i-1 had key (pkind, pid). 0 only if the entry is valid after all.
 */
static int
peer_error(rd *r, uint32_t i, uint8_t pkind, int64_t pid)
{
    mts_peer p = MTS_PEER_INIT;
    size_t rec = r->off;
    uint8_t kind, flags;
    char user[256], phone[256], path[48];
    int ul, pl, rc;
    snprintf(path, sizeof(path), "peers[%u]", i);
    if (r->end - r->off < 19)
        return truncated(r, path, 19);
    kind = get_u8(r);
    p.kind = (mts_peer_kind)kind;
    p.id = (int64_t)get_u64(r);
    p.access_hash = (int64_t)get_u64(r);
    flags = get_u8(r);
    p.channel_kind = (mts_channel_kind)get_u8(r);
    if (flags & ~3u)
        return bad(r, rec + 17, path, "unknown flag bits 0x%x", flags & ~3u);
    p.bot = flags & 1;
    p.community = (flags >> 1) & 1;
    if ((ul = get_string(r, "username", user)) < 0)
        return ul;
    if ((pl = get_string(r, "phone", phone)) < 0)
        return pl;
    p.username = ul ? user : NULL;
    p.phone = pl ? phone : NULL;
    if (i > 0 && (kind < pkind || (kind == pkind && p.id <= pid)))
        return bad(r, rec, path,
                   "entry %u out of order or duplicate (peers are sorted by "
                   "kind, id)",
                   i);
    if ((rc = mts__validate_peer(&p, "peer", r->err)) != 0)
        return model_error(r, rec, path, rc);
    return 0;
}

/*
 * The PEERS section, the bulk of a big session. Each entry is checked with
 * plain comparisons and written straight into the session's records, its
 * strings into one block (sized from the section: every entry has at least
 * 19 bytes besides its strings, so the strings and their NULs need at most
 * the rest); the index is then built in one go (mts__peers_load_end). No
 * text is formatted unless an entry is refused: peer_error then reads that
 * entry again the slow way, for the same message as ever.
 */
static int
decode_peers(rd *r, mts_session *s)
{
    uint32_t count;
    size_t at = r->off, strings = 0, used = 0;
    bool full = false;
    uint64_t string_len[3] = { 0, 0, 0 };
    uint8_t pkind = 0;
    int64_t pid = 0;
    mts__peer_rec *const *recs;
    char *block;
    const uint8_t *p, *end;
    int rc;
    NEED(r, 4, "peers.count");
    count = get_u32(r);
    if ((rc = check_count(r, at, count, PEER_MIN_LEN, "peers.count")) != 0)
        return rc;

    /* check_count: 21 bytes an entry fit, so this does not wrap */
    strings = (r->end - r->off) - (size_t)19 * count;
    if (strings > (size_t)512 * count)
        strings = (size_t)512 * count; /* two strings of 255, NULs */
    if (mts__peers_load_begin(s, count, strings, &recs, &block) != 0)
        return mts__err_oom(r->err);
    p = r->p + r->off;
    end = r->p + r->end;
    for (uint32_t i = 0; i < count; i++) {
        size_t avail = (size_t)(end - p), ul = 0, pl = 0, need;
        uint8_t kind = 0, flags = 0, ck = 0;
        int64_t id = 0;
        mts__peer_rec *rec = mts__peer_in(recs, i);
        bool ok = avail >= PEER_MIN_LEN;
        if (ok) {
            ul = p[19];
            ok = avail >= PEER_MIN_LEN + ul;
        }
        if (ok) {
            pl = p[20 + ul];
            ok = avail >= PEER_MIN_LEN + ul + pl;
        }
        if (ok) {
            kind = p[0];
            id = (int64_t)mts__rd64(p + 1);
            flags = p[17];
            ck = p[18];
            /* the format's rules, then the model's (mts__validate_peer) */
            ok = (flags & ~3u) == 0 &&
                 (ul == 0 || mts__utf8_valid(p + 20, ul)) &&
                 (pl == 0 || mts__utf8_valid(p + 21 + ul, pl)) &&
                 (i == 0 || kind > pkind || (kind == pkind && id > pid)) &&
                 kind <= MTS_PEER_CHANNEL && id > 0 &&
                 ck <= MTS_CHANNEL_GIGAGROUP &&
                 (ck == MTS_CHANNEL_UNKNOWN || kind == MTS_PEER_CHANNEL) &&
                 (!(flags & 1) || kind == MTS_PEER_USER) &&
                 (!(flags & 2) || kind != MTS_PEER_CHAT);
        }
        if (!ok) {
            r->off = (size_t)(p - r->p);
            rc = peer_error(r, i, pkind, pid);
            MTS_ASSERT(rc != 0);
            if (rc == 0)
                rc = mts__err_at(r->err, MTS_ECORRUPT, (int64_t)(p - r->p),
                                 "peers[%u] at byte %zu: not readable", i,
                                 (size_t)(p - r->p));
            return rc;
        }
        rec->id = id;
        rec->access_hash = (int64_t)mts__rd64(p + 9);
        rec->kind = kind;
        rec->channel_kind = ck;
        rec->flags = flags;
        rec->username = NULL;
        rec->phone = NULL;
        need = (ul ? ul + 1 : 0) + (pl ? pl + 1 : 0);
        if (full || need > strings - used) {
            /* The block holds the strings of `count` entries that all fit
             * in the section, so a later entry is cut short and refused;
             * until then, only check (the records are never used). */
            full = true;
            pkind = kind;
            pid = id;
            p += PEER_MIN_LEN + ul + pl;
            continue;
        }
        if (ul != 0) {
            rec->username = block + used;
            memcpy(rec->username, p + 20, ul);
            rec->username[ul] = '\0';
            used += ul + 1;
        }
        if (pl != 0) {
            rec->phone = block + used;
            memcpy(rec->phone, p + 21 + ul, pl);
            rec->phone[pl] = '\0';
            used += pl + 1;
        }
        string_len[kind] += ul + pl;
        pkind = kind;
        pid = id;
        p += PEER_MIN_LEN + ul + pl;
        if ((i + 1) % INDEX_BATCH == 0)
            mts__peers_load_index(s, i + 1 - INDEX_BATCH, i + 1);
    }
    r->off = (size_t)(p - r->p);
    MTS_ASSERT(!full);
    if (full) /* cannot be: see above */
        return mts__err_at(r->err, MTS_ECORRUPT, (int64_t)at,
                           "peers at byte %zu: entries past the section", at);
    return mts__peers_load_end(s, count, string_len);
}

static int
decode_min_peers(rd *r, mts_session *s)
{
    uint32_t count;
    size_t at = r->off;
    int64_t prev = 0;
    int rc;
    NEED(r, 4, "min_peers.count");
    count = get_u32(r);
    if ((rc = check_count(r, at, count, MIN_PEER_LEN, "min_peers.count")) != 0)
        return rc;
    for (uint32_t i = 0; i < count; i++) {
        mts_min_peer mp;
        size_t rec = r->off;
        char path[48];
        mp.user_id = (int64_t)get_u64(r);
        mp.peer_id = (int64_t)get_u64(r);
        mp.msg_id = (int32_t)get_u32(r);
        snprintf(path, sizeof(path), "min_peers[%u]", i);
        if (i > 0 && mp.user_id <= prev)
            return bad(r, rec, path, "user_id %lld out of order or duplicate", (long long)(mp.user_id));
        prev = mp.user_id;
        if ((rc = mts__put_min_peer(s, &mp, r->err)) != 0)
            return model_error(r, rec, path, rc);
    }
    return 0;
}

static int
decode_v2(mts_session *s, const uint8_t *data, size_t len, mts_error *err)
{
    rd r;
    uint32_t total, flags, crc, want;
    unsigned seen = 0, last_tag = 0;
    int rc;

    if (len < V2_HEADER_LEN + V2_CRC_LEN)
        return mts__err_at(err, MTS_ECORRUPT, (int64_t)len,
                           "version-2 file of %zu bytes is shorter than its "
                           "%d-byte header and checksum (truncated)",
                           len, V2_HEADER_LEN + V2_CRC_LEN);
    if (memcmp(data + 1, V2_MAGIC, V2_MAGIC_LEN) != 0)
        return mts__err_at(err, MTS_ECORRUPT, 1,
                           "bad magic at bytes 1..7: not an mtsession "
                           "version-2 file, or corrupt");
    total = mts__rd32(data + 8);
    if (total != len)
        return mts__err_at(err, MTS_ECORRUPT, 8,
                           "length field at byte 8 says %u bytes but the "
                           "data has %zu (%s)",
                           total, len,
                           total > len ? "truncated" : "trailing bytes");
    want = mts__rd32(data + len - V2_CRC_LEN);
    crc = mts_crc32c(0, data, len - V2_CRC_LEN);
    if (crc != want)
        return mts__err_at(err, MTS_ECORRUPT, (int64_t)(len - V2_CRC_LEN),
                           "checksum mismatch: CRC-32C at byte %zu is "
                           "0x%08x, the data gives 0x%08x (corrupt)",
                           len - V2_CRC_LEN, want, crc);
    flags = mts__rd32(data + 12);
    if (flags == 1)
        return mts__err_at(err, MTS_EENCRYPTED, 12,
                           "the session is encrypted: open it with its key "
                           "or passphrase");
    if (flags != 0)
        return mts__err_at(err, MTS_EVERSION, 12,
                           "header flags 0x%08x at byte 12 need a newer "
                           "reader",
                           flags);

    r.p = data;
    r.off = V2_HEADER_LEN;
    r.err = err;
    while (r.off < len - V2_CRC_LEN) {
        size_t sec = r.off, body_end;
        uint16_t tag, sflags;
        uint32_t slen;
        r.end = len - V2_CRC_LEN;
        NEED(&r, SECTION_HEADER_LEN, "section header");
        tag = get_u16(&r);
        sflags = get_u16(&r);
        slen = get_u32(&r);
        if (slen > r.end - r.off)
            return mts__err_at(err, MTS_ECORRUPT, (int64_t)sec,
                               "section 0x%04x at byte %zu: length %u runs "
                               "past the end (%zu bytes left)",
                               tag, sec, slen, r.end - r.off);
        if (sflags & ~SECTION_CRITICAL)
            return mts__err_at(err, MTS_EVERSION, (int64_t)sec + 2,
                               "section 0x%04x at byte %zu: flags 0x%04x "
                               "need a newer reader (only bit 0 is defined)",
                               tag, sec, sflags);
        if (tag <= last_tag)
            return mts__err_at(err, MTS_ECORRUPT, (int64_t)sec,
                               "section 0x%04x at byte %zu: out of order or "
                               "repeated",
                               tag, sec);
        last_tag = tag;
        body_end = r.off + slen;
        r.end = body_end;
        switch (tag) {
        case TAG_INFO:
            rc = decode_info(&r, s);
            break;
        case TAG_DCS:
            rc = decode_dcs(&r, s);
            break;
        case TAG_UPDATES:
            rc = decode_updates(&r, s);
            break;
        case TAG_PEERS:
            rc = decode_peers(&r, s);
            break;
        case TAG_MIN_PEERS:
            rc = decode_min_peers(&r, s);
            break;
        case TAG_TOKEN:
            if (slen == 0 || slen > MTS_TOKEN_MAX)
                return mts__err_at(err, MTS_ECORRUPT, (int64_t)sec,
                                   "future_auth_token at byte %zu: length %u "
                                   "is not 1..%d",
                                   sec, slen, MTS_TOKEN_MAX);
            rc = mts_session_set_future_auth_token(s, r.p + r.off, slen);
            if (rc != 0)
                return mts__err_oom(err);
            r.off += slen;
            break;
        case TAG_GENERATION:
            /* Binds the file backend's journal to this snapshot; it is not
             * part of the session. */
            if (slen != 8)
                return mts__err_at(err, MTS_ECORRUPT, (int64_t)sec,
                                   "generation at byte %zu: length %u is "
                                   "not 8",
                                   sec, slen);
            r.off += slen;
            rc = 0;
            break;
        default:
            if (sflags & SECTION_CRITICAL)
                return mts__err_at(err, MTS_EVERSION, (int64_t)sec,
                                   "section 0x%04x at byte %zu is marked "
                                   "required but this reader does not know "
                                   "it (written by a newer version)",
                                   tag, sec);
            r.off = body_end; /* skip an optional section we don't know */
            rc = 0;
            break;
        }
        if (rc != 0)
            return rc;
        if (r.off != body_end)
            return mts__err_at(err, MTS_ECORRUPT, (int64_t)r.off,
                               "section %s at byte %zu: %zu unused bytes at "
                               "its end",
                               tag <= TAG_LAST_KNOWN ? tag_names[tag] : "?",
                               sec, body_end - r.off);
        if (tag <= TAG_LAST_KNOWN)
            seen |= 1u << tag;
    }
    for (unsigned t = TAG_INFO; t <= TAG_MIN_PEERS; t++)
        if (!(seen & (1u << t)))
            return mts__err_at(err, MTS_ECORRUPT, (int64_t)(len - V2_CRC_LEN),
                               "required section %s (tag %u) is missing",
                               tag_names[t], t);
    return 0;
}

static int
decode_v1(mts_session *s, const uint8_t *data, size_t len, mts_error *err)
{
    rd r;
    uint8_t count;
    int32_t home;
    int rc;
    r.p = data;
    r.off = 1;
    r.end = len;
    r.err = err;
    NEED(&r, 5, "v1 header");
    home = (int32_t)get_u32(&r);
    if (home < 0)
        return bad(&r, 1, "home_dc_id", "%lld is not a DC id", (long long)(home));
    mts_session_set_home_dc(s, home);
    count = get_u8(&r);
    for (unsigned i = 0; i < count; i++) {
        mts_dc dc = MTS_DC_INIT;
        uint8_t key[MTS_AUTH_KEY_SIZE];
        bool has_key = false;
        size_t rec = r.off, alen;
        char path[48];
        snprintf(path, sizeof(path), "dcs[%u]", i);
        NEED(&r, 5, path);
        dc.dc_id = (int32_t)get_u32(&r);
        if ((rc = get_bool(&r, "has_key", &has_key)) != 0)
            return rc;
        if (has_key) {
            NEED(&r, MTS_AUTH_KEY_SIZE, "auth_key");
            memcpy(key, r.p + r.off, MTS_AUTH_KEY_SIZE);
            r.off += MTS_AUTH_KEY_SIZE;
            dc.auth_key = key;
        }
        NEED(&r, 13, path);
        dc.server_salt = (int64_t)get_u64(&r);
        dc.time_offset = (int32_t)get_u32(&r);
        alen = get_u8(&r);
        NEED(&r, alen, "addr");
        if (mts__parse_hostport(&dc.ip, &dc.port,
                                (const char *)r.p + r.off, alen) != 0) {
            mts__wipe(key, sizeof(key));
            return mts__err_at(err, MTS_ECORRUPT, (int64_t)r.off,
                               "%s.addr at byte %zu: not \"a.b.c.d:port\" "
                               "or \"[v6]:port\" with port 1..65535",
                               path, r.off);
        }
        r.off += alen;
        for (size_t k = 0; k < mts_session_dc_count(s); k++) {
            mts_dc o;
            mts_session_dc_at(&o, s, k);
            if (o.dc_id == dc.dc_id && o.flags == 0 &&
                o.ip.family == dc.ip.family) {
                mts__wipe(key, sizeof(key));
                return bad(&r, rec, path,
                           "duplicate entry for DC %d and address family",
                           (int)dc.dc_id);
            }
        }
        rc = mts__put_dc(s, &dc, err);
        mts__wipe(key, sizeof(key));
        if (rc != 0)
            return model_error(&r, rec, path, rc);
    }
    if (r.off != len)
        return mts__err_at(err, MTS_ECORRUPT, (int64_t)r.off,
                           "%zu trailing bytes after the DC table at byte "
                           "%zu",
                           len - r.off, r.off);
    return 0;
}

int
mts_decode(mts_session **out, const uint8_t *data, size_t len, mts_error *err)
{
    mts_session *s;
    int rc;
    if (out == NULL || (data == NULL && len != 0))
        return mts__err(err, MTS_EINVAL, "decode: NULL argument");
    if (len == 0)
        return mts__err_at(err, MTS_EFORMAT, 0, "empty input: no session data");
    if (len > MTS_INPUT_MAX)
        return mts__err(err, MTS_ELIMIT, "input of %zu bytes is over the limit",
                        len);
    if (data[0] != MTS_FORMAT_VERSION_LEGACY &&
        data[0] != MTS_FORMAT_VERSION_CURRENT)
        return mts__err_at(err, MTS_EVERSION, 0,
                           "unsupported session format version %u (byte 0; "
                           "this reader knows 1 and 2)",
                           data[0]);
    if ((rc = mts_session_new(&s, MTS_NEW_EMPTY)) != 0)
        return mts__err_oom(err);
    if (data[0] == MTS_FORMAT_VERSION_LEGACY)
        rc = decode_v1(s, data, len, err);
    else
        rc = decode_v2(s, data, len, err);
    if (rc != 0) {
        mts_session_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* ---- portable string --------------------------------------------------- */

int
mts__string_wrap(char **out, const uint8_t *bin, size_t n, mts_error *err)
{
    size_t plen = sizeof(MTS_STRING_PREFIX) - 1, blen;
    char *b64, *str;
    if (mts_base64url_encode(&b64, bin, n) != 0)
        return mts__err_oom(err);
    blen = strlen(b64);
    str = mts_malloc(plen + blen + 1);
    if (str != NULL) {
        memcpy(str, MTS_STRING_PREFIX, plen);
        memcpy(str + plen, b64, blen + 1);
    }
    mts__wipe(b64, blen); /* a plain payload holds keys */
    mts_free(b64);
    if (str == NULL)
        return mts__err_oom(err);
    *out = str;
    return 0;
}

int
mts_string_encode(char **out, const mts_session *s, mts_error *err)
{
    uint8_t *bin;
    size_t n;
    int rc = mts_encode(&bin, &n, s, err);
    if (rc != 0)
        return rc;
    rc = mts__string_wrap(out, bin, n, err);
    mts__wipe(bin, n);
    mts_free(bin);
    return rc;
}

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
           c == '\f';
}

int
mts__string_unwrap(uint8_t **bin, size_t *n, const char *text, size_t len,
                   mts_error *err)
{
    size_t plen = sizeof(MTS_STRING_PREFIX) - 1, start = 0, end = len;
    int rc;
    while (start < end && is_space(text[start]))
        start++;
    while (end > start && is_space(text[end - 1]))
        end--;
    if (start == end)
        return mts__err_at(err, MTS_EFORMAT, 0, "empty string: no session");
    if (end - start < plen || memcmp(text + start, MTS_STRING_PREFIX, plen) != 0)
        return mts__err_at(err, MTS_EFORMAT, (int64_t)start,
                           "not an mtsession string: it does not start with "
                           "\"%s\"",
                           MTS_STRING_PREFIX);
    rc = mts_base64url_decode(bin, n, text + start + plen, end - start - plen,
                              err);
    if (rc != 0) {
        if (err != NULL && err->offset >= 0)
            err->offset += (int64_t)(start + plen);
        mts__err_prefix(err, "mtsession string (base64 after the prefix)");
    }
    return rc;
}

int
mts_string_decode(mts_session **out, const char *text, size_t len,
                  mts_error *err)
{
    uint8_t *bin;
    size_t n;
    int rc;
    if (out == NULL || (text == NULL && len != 0))
        return mts__err(err, MTS_EINVAL, "decode: NULL argument");
    if ((rc = mts__string_unwrap(&bin, &n, text, len, err)) != 0)
        return rc;
    rc = mts_decode(out, bin, n, err);
    mts__wipe(bin, n);
    mts_free(bin);
    if (rc != 0)
        mts__err_prefix(err, "mtsession string payload");
    return rc;
}
