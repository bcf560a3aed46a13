/*
 * session.c - the session model: DC table, update state, peer cache.
 *
 * Layout in memory:
 * - DC entries: a small array kept sorted by (dc_id, flags, family), each
 *   with its 256-byte key inline (wiped on removal and free).
 * - Channel pts, peers and min peers: dense arrays (swap-remove on
 *   deletion) plus an open-addressing hash index of 32-bit slots holding
 *   index+1 (0 = empty), linear probing, load factor at most 1/2, and
 *   backward-shift deletion. Lookup and insert are O(1) on average.
 *   A peer record is 40 bytes; the index adds 8 to 16 bytes per peer.
 *   Peer records are stored in chunks of 2048 (PEER), not one block.
 * - Peer strings: one allocation each, except those of a decoded session,
 *   which share one block (mts__peers_load_begin) freed with the session.
 * - Encoding order: the session tracks whether its peers are in canonical
 *   (kind, id) order (a sorted prefix), and whether each kind alone is in
 *   id order, so that an encoder writes them as they are, splits them by
 *   kind, or, only otherwise, sorts (radix, O(n)).
 *
 * Change tracking (for backends that write only what changed, internal.h):
 * a session has an identity (uid, unique per object in the process) and a
 * change generation (gen) that every change increments. Each DC, channel,
 * peer and min-peer record keeps the low 32 bits of the generation of its
 * last change in what was padding (a peer record is still 40 bytes), the
 * scalar fields share one stamp, and removals go to a bounded log. When
 * the log overflows, its floor moves up: a backend whose last save is older
 * than the floor cannot get a delta and writes everything.
 *
 * Thread-safety: none inside; see session.h. Identities come from one
 * atomic counter, so sessions may be created on any thread.
 */
#include "internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- records ----------------------------------------------------------- */

typedef struct dc_rec {
    int32_t dc_id;
    uint16_t port;
    uint8_t flags;
    bool has_key;
    mts_ip ip;
    int64_t salt;
    int32_t time_offset;
    uint8_t key[MTS_AUTH_KEY_SIZE];
    uint32_t stamp; /* low 32 bits of the gen of the last change */
} dc_rec;

typedef struct chan_rec {
    int64_t id;
    int32_t pts;
    uint32_t stamp;
} chan_rec;

enum { PEER_BOT = MTS__PEER_BOT, PEER_COMMUNITY = MTS__PEER_COMMUNITY };

/* internal.h: the codec reads and bulk-loads these records directly. The
 * stamp sits in what was padding: the record stays 40 bytes. */
typedef mts__peer_rec peer_rec;

/* A min peer as stored: the public fields plus the stamp, 24 bytes. */
typedef struct min_rec {
    int64_t user_id;
    int64_t peer_id;
    int32_t msg_id;
    uint32_t stamp;
} min_rec;

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(peer_rec) == 40, "a peer record stays 40 bytes");
_Static_assert(sizeof(chan_rec) == 16, "a channel record stays 16 bytes");
_Static_assert(sizeof(min_rec) == 24, "a min peer record stays 24 bytes");
#endif

/* Removals kept for deltas; past this the oldest are dropped. */
#define REMOVAL_LOG_MAX 1024

/* The hash index over one of the dense arrays. */
typedef struct hindex {
    uint32_t *slots;
    size_t mask; /* capacity - 1; capacity is a power of two or 0 */
} hindex;

/* A block of peer strings from a bulk load (mts__peers_load_begin): its
 * strings are not freed one by one, only the block with the session. */
typedef struct str_block {
    struct str_block *next;
    size_t size;
    char data[];
} str_block;

struct mts_session {
    int32_t home_dc;
    bool test_mode;
    bool has_api_id;
    bool has_user;
    bool user_is_bot;
    int32_t api_id;
    int64_t user_id;
    uint8_t *token;
    size_t token_len;

    dc_rec *dcs;
    size_t ndcs, cap_dcs;

    mts_update_state state;

    chan_rec *chans;
    size_t nchans, cap_chans;
    hindex chan_idx;

    /* Records in chunks (see PEER): pchunk[0..npchunk) allocated, room
     * for cap_peers records, pchunk_cap slots in the table. */
    peer_rec **pchunk;
    size_t npchunk, pchunk_cap;
    size_t npeers, cap_peers;
    size_t peers_sorted; /* peers[0..peers_sorted) are in canonical order */
    /* Bit k: the peers of kind k, in array order, have ascending ids, so a
     * stable split by kind is the canonical order (no sort). kind_last[k]
     * is at least the id of the last of them in the array. */
    uint8_t kind_sorted;
    int64_t kind_last[3];
    size_t kind_count[3]; /* peers of each kind */
    int64_t peer_max_id;  /* at least the largest id (radix key width) */
    uint64_t kind_str_bytes[3]; /* sum of username and phone lengths */
    str_block *str_blocks;
    size_t bulk_indexed; /* records indexed so far by a bulk load */
    hindex peer_idx;

    min_rec *mins;
    size_t nmins, cap_mins;
    hindex min_idx;

    /* change tracking (see the top of the file) */
    uint64_t uid;
    uint64_t gen;
    uint32_t scalar_stamp;
    mts__removal *rlog; /* ring buffer of removals, oldest at rlog_head */
    size_t rlog_head, rlog_len, rlog_cap;
    uint64_t rlog_floor; /* removals up to this gen may be missing */
};

/* Record i of the peer cache (see peers_grow). */
#define PEER_CHUNK_BITS MTS__PEER_CHUNK_BITS
#define PEER_CHUNK ((size_t)1 << PEER_CHUNK_BITS)
#define PEER(s, i)                                                            \
    (&(s)->pchunk[(size_t)(i) >> PEER_CHUNK_BITS]                             \
                 [(size_t)(i) & (PEER_CHUNK - 1)])

/* ---- change tracking --------------------------------------------------- */

static atomic_uint_fast64_t next_uid = 1;

/* Start a change: the new generation, as a record stamp. */
static uint32_t
touch(mts_session *s)
{
    s->gen++;
    return (uint32_t)s->gen;
}

static void
touch_scalars(mts_session *s)
{
    s->scalar_stamp = touch(s);
}

/* Log a removal (at the current gen, which the caller has just bumped).
 * Never fails: when the log cannot grow, its floor moves up instead. */
static void
log_removal(mts_session *s, uint8_t table, int64_t id, uint8_t k1, uint8_t k2)
{
    mts__removal *r;
    if (s->rlog_len == s->rlog_cap) {
        if (s->rlog_cap < REMOVAL_LOG_MAX) {
            size_t cap = s->rlog_cap ? s->rlog_cap * 4 : 16;
            mts__removal *p;
            if (cap > REMOVAL_LOG_MAX)
                cap = REMOVAL_LOG_MAX;
            p = mts__calloc(cap, sizeof(*p));
            if (p == NULL) {
                /* forget the log: no delta reaches back past now */
                s->rlog_floor = s->gen;
                s->rlog_len = 0;
                s->rlog_head = 0;
                return;
            }
            for (size_t i = 0; i < s->rlog_len; i++)
                p[i] = s->rlog[(s->rlog_head + i) % s->rlog_cap];
            mts_free(s->rlog);
            s->rlog = p;
            s->rlog_cap = cap;
            s->rlog_head = 0;
        } else {
            /* drop the oldest */
            s->rlog_floor = s->rlog[s->rlog_head].gen;
            s->rlog_head = (s->rlog_head + 1) % s->rlog_cap;
            s->rlog_len--;
        }
    }
    r = &s->rlog[(s->rlog_head + s->rlog_len) % s->rlog_cap];
    r->gen = s->gen;
    r->id = id;
    r->table = table;
    r->k1 = k1;
    r->k2 = k2;
    s->rlog_len++;
}

/* Whether a record stamped `stamp` changed after generation `since`; valid
 * when mts__session_delta_ok(s, since). Exact unless the stamp is 2^32 or
 * more changes old, when it may answer 1 (a harmless extra write). */
static bool
changed_since(const mts_session *s, uint32_t stamp, uint64_t since)
{
    uint32_t age = (uint32_t)s->gen - stamp;
    return (uint64_t)age < s->gen - since;
}

void
mts__session_mark(const mts_session *s, uint64_t *uid, uint64_t *gen)
{
    *uid = s->uid;
    *gen = s->gen;
}

int
mts__session_delta_ok(const mts_session *s, uint64_t since)
{
    return since <= s->gen && since >= s->rlog_floor &&
           s->gen - since < ((uint64_t)1 << 32);
}

int
mts__session_scalars_changed(const mts_session *s, uint64_t since)
{
    return changed_since(s, s->scalar_stamp, since);
}

int
mts__session_dc_changed(const mts_session *s, size_t i, uint64_t since)
{
    return i < s->ndcs && changed_since(s, s->dcs[i].stamp, since);
}

int
mts__session_channel_changed(const mts_session *s, size_t i, uint64_t since)
{
    return i < s->nchans && changed_since(s, s->chans[i].stamp, since);
}

int
mts__session_peer_changed(const mts_session *s, size_t i, uint64_t since)
{
    return i < s->npeers && changed_since(s, PEER(s, i)->stamp, since);
}

int
mts__session_min_peer_changed(const mts_session *s, size_t i, uint64_t since)
{
    return i < s->nmins && changed_since(s, s->mins[i].stamp, since);
}

size_t
mts__session_removal_count(const mts_session *s)
{
    return s->rlog_len;
}

const mts__removal *
mts__session_removal_at(const mts_session *s, size_t i)
{
    if (i >= s->rlog_len)
        return NULL;
    return &s->rlog[(s->rlog_head + i) % s->rlog_cap];
}

/* Records are addressed by 32-bit index+1 in the hash slots. */
#define MAX_RECORDS ((size_t)UINT32_MAX - 1)

static uint64_t
mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t
peer_hash(uint8_t kind, int64_t id)
{
    return mix64((uint64_t)id ^ ((uint64_t)kind << 62) ^ 0x9e3779b97f4a7c15ULL);
}

static uint64_t
id_hash(int64_t id)
{
    return mix64((uint64_t)id);
}

/* ---- generic index ----------------------------------------------------- */

/* Key comparison against record `idx` of the owning array. */
typedef bool (*hmatch_fn)(const mts_session *s, uint32_t idx, const void *key);
typedef uint64_t (*hrehash_fn)(const mts_session *s, uint32_t idx);

static void
hindex_free(hindex *h)
{
    mts_free(h->slots);
    h->slots = NULL;
    h->mask = 0;
}

/* Find the slot of `key` (found: *slot holds it, returns true) or the
 * empty slot where it would go (returns false). Index must be non-empty. */
static bool
hindex_find(const hindex *h, const mts_session *s, uint64_t hash,
            hmatch_fn match, const void *key, size_t *slot)
{
    size_t i = (size_t)hash & h->mask;
    for (;;) {
        uint32_t v = h->slots[i];
        if (v == 0) {
            *slot = i;
            return false;
        }
        if (match(s, v - 1, key)) {
            *slot = i;
            return true;
        }
        i = (i + 1) & h->mask;
    }
}

/* Make room for `count` records (load <= 1/2), rebuilding the index. */
static int
hindex_reserve(hindex *h, const mts_session *s, size_t count, size_t have,
               hrehash_fn rehash)
{
    size_t cap = 16;
    uint32_t *slots;
    if (h->slots != NULL && count * 2 <= h->mask + 1)
        return 0;
    while (cap < count * 2) {
        if (cap > SIZE_MAX / 4)
            return MTS_ENOMEM;
        cap *= 2;
    }
    slots = mts__calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return MTS_ENOMEM;
    for (size_t r = 0; r < have; r++) {
        size_t i = (size_t)rehash(s, (uint32_t)r) & (cap - 1);
        while (slots[i] != 0)
            i = (i + 1) & (cap - 1);
        slots[i] = (uint32_t)(r + 1);
    }
    mts_free(h->slots);
    h->slots = slots;
    h->mask = cap - 1;
    return 0;
}

/* Remove the entry at `slot` with backward-shift deletion. */
static void
hindex_remove_slot(hindex *h, const mts_session *s, size_t slot,
                   hrehash_fn rehash)
{
    size_t i = slot, j = slot;
    for (;;) {
        size_t home;
        j = (j + 1) & h->mask;
        if (h->slots[j] == 0)
            break;
        home = (size_t)rehash(s, h->slots[j] - 1) & h->mask;
        /* Move j back to i if its home is not in the (i, j] window. */
        if ((j > i && (home <= i || home > j)) ||
            (j < i && (home <= i && home > j))) {
            h->slots[i] = h->slots[j];
            i = j;
        }
    }
    h->slots[i] = 0;
}

/* After record `from` moved to index `to`, repoint its slot. */
static void
hindex_renumber(hindex *h, const mts_session *s, uint64_t hash, uint32_t from,
                uint32_t to)
{
    size_t i = (size_t)hash & h->mask;
    (void)s;
    while (h->slots[i] != from + 1)
        i = (i + 1) & h->mask;
    h->slots[i] = to + 1;
}

/* ---- typed index callbacks -------------------------------------------- */

typedef struct peer_key {
    uint8_t kind;
    int64_t id;
} peer_key;

static bool
peer_match(const mts_session *s, uint32_t idx, const void *key)
{
    const peer_key *k = key;
    return PEER(s, idx)->id == k->id && PEER(s, idx)->kind == k->kind;
}

static uint64_t
peer_rehash(const mts_session *s, uint32_t idx)
{
    return peer_hash(PEER(s, idx)->kind, PEER(s, idx)->id);
}

static bool
chan_match(const mts_session *s, uint32_t idx, const void *key)
{
    return s->chans[idx].id == *(const int64_t *)key;
}

static uint64_t
chan_rehash(const mts_session *s, uint32_t idx)
{
    return id_hash(s->chans[idx].id);
}

static bool
min_match(const mts_session *s, uint32_t idx, const void *key)
{
    return s->mins[idx].user_id == *(const int64_t *)key;
}

static uint64_t
min_rehash(const mts_session *s, uint32_t idx)
{
    return id_hash(s->mins[idx].user_id);
}

/* Grow a dense array to hold `need` elements. */
static int
grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    size_t c;
    void *p;
    if (need <= *cap)
        return 0;
    if (need > MAX_RECORDS)
        return MTS_ENOMEM;
    c = *cap ? *cap : 8;
    while (c < need)
        c = c > SIZE_MAX / 4 ? need : c + c / 2 + 8;
    p = mts__reallocarray(*arr, c, elem);
    if (p == NULL)
        return MTS_ENOMEM;
    *arr = p;
    *cap = c;
    return 0;
}

/*
 * Peer records are kept in chunks of PEER_CHUNK (2048 records, 80 KB),
 * not in one array: a big cache never needs one huge block, growing it
 * never copies what is there, and chunks stay below the size at which
 * malloc maps fresh memory from the kernel, so a session freed and loaded
 * again reuses memory instead of taking a page fault every 4 KB (one block
 * of 40 MB per million peers did; on a virtual machine that cost more than
 * decoding). The first chunk grows geometrically up to full size, so a
 * small cache stays small. The chunk table costs 8 bytes per chunk.
 */
static int
peers_grow(mts_session *s, size_t need)
{
    if (need <= s->cap_peers)
        return 0;
    if (need > MAX_RECORDS)
        return MTS_ENOMEM;
    if (s->pchunk == NULL) {
        s->pchunk = mts__calloc(4, sizeof(*s->pchunk));
        if (s->pchunk == NULL)
            return MTS_ENOMEM;
        s->pchunk_cap = 4;
    }
    if (s->cap_peers < PEER_CHUNK) {
        size_t c = s->cap_peers ? s->cap_peers : 8;
        peer_rec *p;
        while (c < need && c < PEER_CHUNK)
            c = c + c / 2 + 8;
        if (c > PEER_CHUNK)
            c = PEER_CHUNK;
        p = mts__reallocarray(s->pchunk[0], c, sizeof(*p));
        if (p == NULL)
            return MTS_ENOMEM;
        s->pchunk[0] = p;
        s->npchunk = 1;
        s->cap_peers = c;
    }
    while (s->cap_peers < need) {
        size_t k = s->npchunk;
        if (k == s->pchunk_cap) {
            peer_rec **t = mts__reallocarray(s->pchunk, k * 2, sizeof(*t));
            if (t == NULL)
                return MTS_ENOMEM;
            s->pchunk = t;
            s->pchunk_cap = k * 2;
        }
        s->pchunk[k] = mts__reallocarray(NULL, PEER_CHUNK, sizeof(peer_rec));
        if (s->pchunk[k] == NULL)
            return MTS_ENOMEM;
        s->npchunk = k + 1;
        s->cap_peers += PEER_CHUNK;
    }
    return 0;
}

/* ---- life cycle -------------------------------------------------------- */

static bool
in_str_block(const mts_session *s, const char *p)
{
    uintptr_t a = (uintptr_t)p;
    for (const str_block *b = s->str_blocks; b != NULL; b = b->next)
        if (a >= (uintptr_t)b->data && a - (uintptr_t)b->data < b->size)
            return true;
    return false;
}

static size_t
peer_strings_len(const peer_rec *p)
{
    return (p->username ? strlen(p->username) : 0) +
           (p->phone ? strlen(p->phone) : 0);
}

static void
free_peer_strings(const mts_session *s, peer_rec *p)
{
    if (s->str_blocks != NULL) {
        if (p->username != NULL && in_str_block(s, p->username))
            p->username = NULL;
        if (p->phone != NULL && in_str_block(s, p->phone))
            p->phone = NULL;
    }
    mts_free(p->username);
    mts_free(p->phone);
}

void
mts_session_free(mts_session *s)
{
    if (s == NULL)
        return;
    if (s->dcs != NULL) {
        mts__wipe(s->dcs, s->cap_dcs * sizeof(*s->dcs));
        mts_free(s->dcs);
    }
    if (s->token != NULL) {
        mts__wipe(s->token, s->token_len);
        mts_free(s->token);
    }
    mts_free(s->chans);
    hindex_free(&s->chan_idx);
    for (size_t i = 0; i < s->npeers; i++)
        free_peer_strings(s, PEER(s, i));
    for (size_t i = 0; i < s->npchunk; i++)
        mts_free(s->pchunk[i]);
    mts_free(s->pchunk);
    while (s->str_blocks != NULL) {
        str_block *b = s->str_blocks;
        s->str_blocks = b->next;
        mts_free(b);
    }
    hindex_free(&s->peer_idx);
    mts_free(s->mins);
    hindex_free(&s->min_idx);
    mts_free(s->rlog);
    mts__wipe(s, sizeof(*s));
    mts_free(s);
}

int
mts_session_new(mts_session **out, unsigned int flags)
{
    mts_session *s;
    if (out == NULL || (flags & ~3u) != 0 ||
        flags == (MTS_NEW_TEST | MTS_NEW_EMPTY))
        return MTS_EINVAL;
    s = mts__calloc(1, sizeof(*s));
    if (s == NULL)
        return MTS_ENOMEM;
    s->uid = atomic_fetch_add(&next_uid, 1);
    s->kind_sorted = 7;
    if (!(flags & MTS_NEW_EMPTY)) {
        const mts_dc *dcs;
        size_t n;
        int test = (flags & MTS_NEW_TEST) != 0;
        mts_default_dcs(&dcs, &n, test);
        for (size_t i = 0; i < n; i++) {
            int rc = mts__put_dc(s, &dcs[i], NULL);
            if (rc != 0) {
                mts_session_free(s);
                return rc;
            }
        }
        s->home_dc = 2;
        s->test_mode = test;
    }
    *out = s;
    return 0;
}

/* ---- validation -------------------------------------------------------- */

int
mts__validate_dc(const mts_dc *dc, const char *path, mts_error *err)
{
    if (dc == NULL)
        return mts__err(err, MTS_EINVAL, "%s: NULL DC entry", path);
    if (dc->version < 1 || dc->version > MTS_DC_VERSION)
        return mts__err(err, MTS_EINVAL, "%s: unknown struct version %u",
                        path, dc->version);
    if (dc->dc_id <= 0)
        return mts__err(err, MTS_EINVAL, "%s.dc_id: %d is not a DC id (1..)",
                        path, (int)dc->dc_id);
    if (dc->ip.family != 4 && dc->ip.family != 6)
        return mts__err(err, MTS_EINVAL, "%s.ip: address family %u is not 4 or 6",
                        path, (unsigned)dc->ip.family);
    if (dc->port == 0)
        return mts__err(err, MTS_EINVAL, "%s.port: 0 is not a port (1..65535)",
                        path);
    if ((dc->flags & ~MTS_DC_FLAGS_ALL) != 0)
        return mts__err(err, MTS_EINVAL, "%s.flags: unknown bits 0x%x", path,
                        dc->flags & ~MTS_DC_FLAGS_ALL);
    return 0;
}

static bool
peer_string_ok(const char *str)
{
    size_t n;
    if (str == NULL)
        return true;
    n = strlen(str);
    return n >= 1 && n <= MTS_PEER_STRING_MAX &&
           mts__utf8_valid((const uint8_t *)str, n);
}

int
mts__validate_peer(const mts_peer *p, const char *path, mts_error *err)
{
    if (p == NULL)
        return mts__err(err, MTS_EINVAL, "%s: NULL peer", path);
    if (p->version < 1 || p->version > MTS_PEER_VERSION)
        return mts__err(err, MTS_EINVAL, "%s: unknown struct version %u",
                        path, p->version);
    if ((unsigned)p->kind > MTS_PEER_CHANNEL)
        return mts__err(err, MTS_EINVAL, "%s.kind: unknown peer kind %d", path,
                        (int)p->kind);
    if (p->id <= 0)
        return mts__err(err, MTS_EINVAL,
                        "%s.id: %lld is not a bare peer id (must be > 0)",
                        path, (long long)p->id);
    if ((unsigned)p->channel_kind > MTS_CHANNEL_GIGAGROUP)
        return mts__err(err, MTS_EINVAL, "%s.channel_kind: unknown value %d",
                        path, (int)p->channel_kind);
    if (p->channel_kind != MTS_CHANNEL_UNKNOWN && p->kind != MTS_PEER_CHANNEL)
        return mts__err(err, MTS_EINVAL,
                        "%s.channel_kind: only channels have a channel kind",
                        path);
    if (p->bot != 0 && p->bot != 1)
        return mts__err(err, MTS_EINVAL, "%s.bot: %d is not 0 or 1", path,
                        p->bot);
    if (p->bot && p->kind != MTS_PEER_USER)
        return mts__err(err, MTS_EINVAL, "%s.bot: only users can be bots",
                        path);
    if (p->community != 0 && p->community != 1)
        return mts__err(err, MTS_EINVAL, "%s.community: %d is not 0 or 1",
                        path, p->community);
    if (p->community && p->kind == MTS_PEER_CHAT)
        return mts__err(err, MTS_EINVAL,
                        "%s.community: basic chats cannot be communities",
                        path);
    if (!peer_string_ok(p->username))
        return mts__err(err, MTS_EINVAL,
                        "%s.username: must be 1..%d bytes of UTF-8 without "
                        "control characters",
                        path, MTS_PEER_STRING_MAX);
    if (!peer_string_ok(p->phone))
        return mts__err(err, MTS_EINVAL,
                        "%s.phone: must be 1..%d bytes of UTF-8 without "
                        "control characters",
                        path, MTS_PEER_STRING_MAX);
    return 0;
}

int
mts__validate_min_peer(const mts_min_peer *mp, const char *path,
                       mts_error *err)
{
    if (mp == NULL)
        return mts__err(err, MTS_EINVAL, "%s: NULL min peer", path);
    if (mp->user_id <= 0)
        return mts__err(err, MTS_EINVAL, "%s.user_id: %lld is not a user id",
                        path, (long long)mp->user_id);
    if (mp->peer_id == 0)
        return mts__err(err, MTS_EINVAL, "%s.peer_id: 0 is not a peer id",
                        path);
    return 0;
}

/* ---- scalars ----------------------------------------------------------- */

int32_t
mts_session_home_dc(const mts_session *s)
{
    return s->home_dc;
}

int
mts_session_set_home_dc(mts_session *s, int32_t dc_id)
{
    if (dc_id < 0)
        return MTS_EINVAL;
    s->home_dc = dc_id;
    touch_scalars(s);
    return 0;
}

int
mts_session_test_mode(const mts_session *s)
{
    return s->test_mode;
}

void
mts_session_set_test_mode(mts_session *s, int test_mode)
{
    s->test_mode = test_mode != 0;
    touch_scalars(s);
}

int
mts_session_api_id(const mts_session *s, int32_t *out)
{
    if (!s->has_api_id)
        return MTS_ENOTFOUND;
    if (out != NULL)
        *out = s->api_id;
    return 0;
}

void
mts_session_set_api_id(mts_session *s, int has, int32_t api_id)
{
    s->has_api_id = has != 0;
    s->api_id = has ? api_id : 0;
    touch_scalars(s);
}

int
mts_session_user(const mts_session *s, int64_t *id, int *is_bot)
{
    if (!s->has_user)
        return MTS_ENOTFOUND;
    if (id != NULL)
        *id = s->user_id;
    if (is_bot != NULL)
        *is_bot = s->user_is_bot;
    return 0;
}

int
mts_session_set_user(mts_session *s, int64_t id, int is_bot)
{
    if (id <= 0)
        return MTS_EINVAL;
    s->has_user = true;
    s->user_id = id;
    s->user_is_bot = is_bot != 0;
    touch_scalars(s);
    return 0;
}

void
mts_session_clear_user(mts_session *s)
{
    s->has_user = false;
    s->user_id = 0;
    s->user_is_bot = false;
    touch_scalars(s);
}

int
mts_session_future_auth_token(const mts_session *s, const uint8_t **data,
                              size_t *len)
{
    if (s->token == NULL)
        return MTS_ENOTFOUND;
    if (data != NULL)
        *data = s->token;
    if (len != NULL)
        *len = s->token_len;
    return 0;
}

int
mts_session_set_future_auth_token(mts_session *s, const uint8_t *data,
                                  size_t len)
{
    uint8_t *copy = NULL;
    if (data != NULL) {
        if (len == 0 || len > MTS_TOKEN_MAX)
            return MTS_EINVAL;
        copy = mts_malloc(len);
        if (copy == NULL)
            return MTS_ENOMEM;
        memcpy(copy, data, len);
    }
    if (s->token != NULL) {
        mts__wipe(s->token, s->token_len);
        mts_free(s->token);
    }
    s->token = copy;
    s->token_len = copy ? len : 0;
    touch_scalars(s);
    return 0;
}

/* ---- DC table ---------------------------------------------------------- */

static int
dc_cmp_key(int32_t a_id, unsigned a_flags, int a_fam, int32_t b_id,
           unsigned b_flags, int b_fam)
{
    if (a_id != b_id)
        return a_id < b_id ? -1 : 1;
    if (a_flags != b_flags)
        return a_flags < b_flags ? -1 : 1;
    if (a_fam != b_fam)
        return a_fam < b_fam ? -1 : 1;
    return 0;
}

size_t
mts_session_dc_count(const mts_session *s)
{
    return s->ndcs;
}

static void
dc_export(mts_dc *out, const dc_rec *r)
{
    out->version = MTS_DC_VERSION;
    out->dc_id = r->dc_id;
    out->ip = r->ip;
    out->port = r->port;
    out->flags = r->flags;
    out->auth_key = r->has_key ? r->key : NULL;
    out->server_salt = r->salt;
    out->time_offset = r->time_offset;
}

int
mts_session_dc_at(mts_dc *out, const mts_session *s, size_t i)
{
    if (i >= s->ndcs)
        return MTS_ENOTFOUND;
    dc_export(out, &s->dcs[i]);
    return 0;
}

int
mts__put_dc(mts_session *s, const mts_dc *dc, mts_error *err)
{
    size_t lo = 0, hi;
    dc_rec *r;
    int rc = mts__validate_dc(dc, "dc", err);
    if (rc != 0)
        return rc;
    hi = s->ndcs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const dc_rec *m = &s->dcs[mid];
        if (dc_cmp_key(m->dc_id, m->flags, m->ip.family, dc->dc_id,
                       dc->flags, dc->ip.family) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == s->ndcs ||
        dc_cmp_key(s->dcs[lo].dc_id, s->dcs[lo].flags, s->dcs[lo].ip.family,
                   dc->dc_id, dc->flags, dc->ip.family) != 0) {
        /* Grow by copy so the old block's keys can be wiped. */
        if (s->ndcs == s->cap_dcs) {
            size_t cap = s->cap_dcs ? s->cap_dcs * 2 : 8;
            dc_rec *p;
            if (s->ndcs >= 65536)
                return mts__err(err, MTS_ELIMIT,
                                "dc: the table holds at most 65536 entries");
            p = mts__calloc(cap, sizeof(*p));
            if (p == NULL)
                return mts__err_oom(err);
            if (s->dcs != NULL) {
                memcpy(p, s->dcs, s->ndcs * sizeof(*p));
                mts__wipe(s->dcs, s->cap_dcs * sizeof(*s->dcs));
                mts_free(s->dcs);
            }
            s->dcs = p;
            s->cap_dcs = cap;
        }
        memmove(&s->dcs[lo + 1], &s->dcs[lo], (s->ndcs - lo) * sizeof(dc_rec));
        s->ndcs++;
    }
    r = &s->dcs[lo];
    memset(r, 0, sizeof(*r));
    r->dc_id = dc->dc_id;
    r->ip.family = dc->ip.family;
    memcpy(r->ip.bytes, dc->ip.bytes, dc->ip.family == 4 ? 4 : 16);
    r->port = dc->port;
    r->flags = (uint8_t)dc->flags;
    if (dc->auth_key != NULL) {
        r->has_key = true;
        memcpy(r->key, dc->auth_key, MTS_AUTH_KEY_SIZE);
    }
    r->salt = dc->server_salt;
    r->time_offset = dc->time_offset;
    r->stamp = touch(s);
    return 0;
}

int
mts_session_put_dc(mts_session *s, const mts_dc *dc)
{
    return mts__put_dc(s, dc, NULL);
}

int
mts_session_remove_dc(mts_session *s, int32_t dc_id, unsigned int flags,
                      int family)
{
    for (size_t i = 0; i < s->ndcs; i++) {
        dc_rec *r = &s->dcs[i];
        if (dc_cmp_key(r->dc_id, r->flags, r->ip.family, dc_id, flags,
                       family) == 0) {
            touch(s);
            log_removal(s, MTS__REMOVED_DC, r->dc_id, r->flags,
                        r->ip.family);
            memmove(r, r + 1, (s->ndcs - i - 1) * sizeof(*r));
            s->ndcs--;
            mts__wipe(&s->dcs[s->ndcs], sizeof(dc_rec));
            return 0;
        }
    }
    return MTS_ENOTFOUND;
}

void
mts_session_clear_dcs(mts_session *s)
{
    touch(s);
    for (size_t i = 0; i < s->ndcs; i++)
        log_removal(s, MTS__REMOVED_DC, s->dcs[i].dc_id, s->dcs[i].flags,
                    s->dcs[i].ip.family);
    if (s->dcs != NULL)
        mts__wipe(s->dcs, s->ndcs * sizeof(*s->dcs));
    s->ndcs = 0;
}

int
mts_session_dc_for(mts_dc *out, const mts_session *s, int32_t dc_id,
                   int prefer_ipv6)
{
    const dc_rec *best = NULL;
    int best_score = -1;
    int want = prefer_ipv6 ? 6 : 4;
    for (size_t i = 0; i < s->ndcs; i++) {
        const dc_rec *r = &s->dcs[i];
        int score = 0;
        if (r->dc_id != dc_id)
            continue;
        if (!(r->flags & (MTS_DC_MEDIA_ONLY | MTS_DC_CDN)))
            score += 8;
        if (r->ip.family == want)
            score += 4;
        if (r->has_key)
            score += 2;
        if (!(r->flags & MTS_DC_TCPO_ONLY))
            score += 1;
        if (score > best_score) {
            best = r;
            best_score = score;
        }
    }
    if (best == NULL)
        return MTS_ENOTFOUND;
    dc_export(out, best);
    return 0;
}

/* ---- update state ------------------------------------------------------ */

void
mts_session_update_state(const mts_session *s, mts_update_state *out)
{
    *out = s->state;
}

void
mts_session_set_update_state(mts_session *s, const mts_update_state *state)
{
    s->state = *state;
    touch_scalars(s);
}

size_t
mts_session_channel_count(const mts_session *s)
{
    return s->nchans;
}

int
mts_session_channel_at(mts_channel_pts *out, const mts_session *s, size_t i)
{
    if (i >= s->nchans)
        return MTS_ENOTFOUND;
    out->channel_id = s->chans[i].id;
    out->pts = s->chans[i].pts;
    return 0;
}

int
mts_session_channel_pts(const mts_session *s, int64_t channel_id, int32_t *pts)
{
    size_t slot;
    if (s->nchans == 0)
        return MTS_ENOTFOUND;
    if (!hindex_find(&s->chan_idx, s, id_hash(channel_id), chan_match,
                     &channel_id, &slot))
        return MTS_ENOTFOUND;
    if (pts != NULL)
        *pts = s->chans[s->chan_idx.slots[slot] - 1].pts;
    return 0;
}

int
mts_session_set_channel_pts(mts_session *s, int64_t channel_id, int32_t pts)
{
    size_t slot;
    if (channel_id <= 0)
        return MTS_EINVAL;
    if (hindex_reserve(&s->chan_idx, s, s->nchans + 1, s->nchans,
                       chan_rehash) != 0)
        return MTS_ENOMEM;
    if (hindex_find(&s->chan_idx, s, id_hash(channel_id), chan_match,
                    &channel_id, &slot)) {
        chan_rec *c = &s->chans[s->chan_idx.slots[slot] - 1];
        c->pts = pts;
        c->stamp = touch(s);
        return 0;
    }
    if (grow((void **)&s->chans, &s->cap_chans, s->nchans + 1,
             sizeof(*s->chans)) != 0)
        return MTS_ENOMEM;
    s->chans[s->nchans].id = channel_id;
    s->chans[s->nchans].pts = pts;
    s->chans[s->nchans].stamp = touch(s);
    s->chan_idx.slots[slot] = (uint32_t)(s->nchans + 1);
    s->nchans++;
    return 0;
}

int
mts_session_remove_channel_pts(mts_session *s, int64_t channel_id)
{
    size_t slot, idx, last;
    if (s->nchans == 0 ||
        !hindex_find(&s->chan_idx, s, id_hash(channel_id), chan_match,
                     &channel_id, &slot))
        return MTS_ENOTFOUND;
    idx = s->chan_idx.slots[slot] - 1;
    touch(s);
    log_removal(s, MTS__REMOVED_CHANNEL, channel_id, 0, 0);
    hindex_remove_slot(&s->chan_idx, s, slot, chan_rehash);
    last = s->nchans - 1;
    if (idx != last) {
        s->chans[idx] = s->chans[last];
        hindex_renumber(&s->chan_idx, s, id_hash(s->chans[idx].id),
                        (uint32_t)last, (uint32_t)idx);
    }
    s->nchans--;
    return 0;
}

int
mts__validate_change(const mts_update_change *c, mts_error *err)
{
    if (c == NULL)
        return mts__err(err, MTS_EINVAL, "update change: NULL");
    if (c->version < 1 || c->version > MTS_UPDATE_CHANGE_VERSION)
        return mts__err(err, MTS_EINVAL,
                        "update change: unknown struct version %u",
                        c->version);
    switch (c->kind) {
    case MTS_UPDATE_ALL: {
        /* Duplicates are found by building the table aside. */
        mts_session tmp;
        int rc = 0;
        if (c->channel_count != 0 && c->channels == NULL)
            return mts__err(err, MTS_EINVAL,
                            "update change: channels is NULL with "
                            "channel_count %zu",
                            c->channel_count);
        memset(&tmp, 0, sizeof(tmp));
        for (size_t i = 0; i < c->channel_count && rc == 0; i++) {
            int64_t id = c->channels[i].channel_id;
            if (id <= 0)
                rc = mts__err(err, MTS_EINVAL,
                              "update change: channels[%zu].channel_id %lld "
                              "is not a channel id",
                              i, (long long)id);
            else if (mts_session_channel_pts(&tmp, id, NULL) == 0)
                rc = mts__err(err, MTS_EINVAL,
                              "update change: channels[%zu]: channel %lld "
                              "listed twice",
                              i, (long long)id);
            else if (mts_session_set_channel_pts(&tmp, id, 0) != 0)
                rc = mts__err_oom(err);
        }
        mts_free(tmp.chans);
        hindex_free(&tmp.chan_idx);
        return rc;
    }
    case MTS_UPDATE_PRIMARY:
    case MTS_UPDATE_SECONDARY:
        return 0;
    case MTS_UPDATE_CHANNEL:
        if (c->channel_id <= 0)
            return mts__err(err, MTS_EINVAL,
                            "update change: channel_id %lld is not a "
                            "channel id",
                            (long long)c->channel_id);
        return 0;
    default:
        return mts__err(err, MTS_EINVAL, "update change: unknown kind %d",
                        (int)c->kind);
    }
}

int
mts_session_apply_update(mts_session *s, const mts_update_change *c)
{
    if (c == NULL || c->version < 1 || c->version > MTS_UPDATE_CHANGE_VERSION)
        return MTS_EINVAL;
    switch (c->kind) {
    case MTS_UPDATE_ALL: {
        /* Build the new channel table aside, then swap: all or nothing. */
        mts_session tmp;
        if (c->channel_count != 0 && c->channels == NULL)
            return MTS_EINVAL;
        memset(&tmp, 0, sizeof(tmp));
        for (size_t i = 0; i < c->channel_count; i++) {
            int rc;
            if (c->channels[i].channel_id <= 0 ||
                mts_session_channel_pts(&tmp, c->channels[i].channel_id,
                                        NULL) == 0) {
                mts_free(tmp.chans);
                hindex_free(&tmp.chan_idx);
                return MTS_EINVAL;
            }
            rc = mts_session_set_channel_pts(&tmp, c->channels[i].channel_id,
                                             c->channels[i].pts);
            if (rc != 0) {
                mts_free(tmp.chans);
                hindex_free(&tmp.chan_idx);
                return rc;
            }
        }
        /* Every old channel is logged as removed (a delta then deletes
         * its row unless the new list has it) and every new one is
         * stamped with this change. */
        touch(s);
        for (size_t i = 0; i < s->nchans; i++)
            log_removal(s, MTS__REMOVED_CHANNEL, s->chans[i].id, 0, 0);
        mts_free(s->chans);
        hindex_free(&s->chan_idx);
        s->chans = tmp.chans;
        s->nchans = tmp.nchans;
        s->cap_chans = tmp.cap_chans;
        s->chan_idx = tmp.chan_idx;
        for (size_t i = 0; i < s->nchans; i++)
            s->chans[i].stamp = (uint32_t)s->gen;
        s->state = c->state;
        s->scalar_stamp = (uint32_t)s->gen;
        return 0;
    }
    case MTS_UPDATE_PRIMARY:
        s->state.pts = c->state.pts;
        s->state.date = c->state.date;
        s->state.seq = c->state.seq;
        touch_scalars(s);
        return 0;
    case MTS_UPDATE_SECONDARY:
        s->state.qts = c->state.qts;
        touch_scalars(s);
        return 0;
    case MTS_UPDATE_CHANNEL:
        return mts_session_set_channel_pts(s, c->channel_id, c->channel_pts);
    default:
        return MTS_EINVAL;
    }
}

/* ---- peers ------------------------------------------------------------- */

size_t
mts_session_peer_count(const mts_session *s)
{
    return s->npeers;
}

static void
peer_export(mts_peer *out, const peer_rec *r)
{
    out->version = MTS_PEER_VERSION;
    out->kind = (mts_peer_kind)r->kind;
    out->id = r->id;
    out->access_hash = r->access_hash;
    out->channel_kind = (mts_channel_kind)r->channel_kind;
    out->community = (r->flags & PEER_COMMUNITY) != 0;
    out->bot = (r->flags & PEER_BOT) != 0;
    out->username = r->username;
    out->phone = r->phone;
}

int
mts_session_peer_at(mts_peer *out, const mts_session *s, size_t i)
{
    if (i >= s->npeers)
        return MTS_ENOTFOUND;
    peer_export(out, PEER(s, i));
    return 0;
}

static bool
peer_lookup(const mts_session *s, mts_peer_kind kind, int64_t id, size_t *slot)
{
    peer_key k;
    if (s->npeers == 0)
        return false;
    k.kind = (uint8_t)kind;
    k.id = id;
    return hindex_find(&s->peer_idx, s, peer_hash(k.kind, id), peer_match, &k,
                       slot);
}

int
mts__has_peer(const mts_session *s, mts_peer_kind kind, int64_t id)
{
    size_t slot;
    return peer_lookup(s, kind, id, &slot);
}

int
mts_session_get_peer(mts_peer *out, const mts_session *s, mts_peer_kind kind,
                     int64_t id)
{
    size_t slot;
    if (!peer_lookup(s, kind, id, &slot))
        return MTS_ENOTFOUND;
    peer_export(out, PEER(s, s->peer_idx.slots[slot] - 1));
    return 0;
}

int
mts_session_reserve_peers(mts_session *s, size_t count)
{
    if (count > MAX_RECORDS)
        return MTS_ENOMEM;
    if (peers_grow(s, count) != 0)
        return MTS_ENOMEM;
    if (hindex_reserve(&s->peer_idx, s, count, s->npeers, peer_rehash) != 0)
        return MTS_ENOMEM;
    return 0;
}

int
mts_session_put_peer(mts_session *s, const mts_peer *peer, mts_error *err)
{
    size_t slot;
    peer_key k;
    char *user = NULL, *phone = NULL;
    peer_rec *r;
    int rc = mts__validate_peer(peer, "peer", err);
    if (rc != 0)
        return rc;
    if (peer->username != NULL && (user = mts__strdup(peer->username)) == NULL)
        return mts__err_oom(err);
    if (peer->phone != NULL && (phone = mts__strdup(peer->phone)) == NULL) {
        mts_free(user);
        return mts__err_oom(err);
    }
    if (s->npeers >= MAX_RECORDS ||
        hindex_reserve(&s->peer_idx, s, s->npeers + 1, s->npeers,
                       peer_rehash) != 0 ||
        peers_grow(s, s->npeers + 1) != 0) {
        mts_free(user);
        mts_free(phone);
        return mts__err_oom(err);
    }
    k.kind = (uint8_t)peer->kind;
    k.id = peer->id;
    if (hindex_find(&s->peer_idx, s, peer_hash(k.kind, k.id), peer_match, &k,
                    &slot)) {
        r = PEER(s, s->peer_idx.slots[slot] - 1);
        s->kind_str_bytes[r->kind] -= peer_strings_len(r);
        free_peer_strings(s, r);
    } else {
        uint8_t bit = (uint8_t)(1u << k.kind);
        r = PEER(s, s->npeers);
        s->peer_idx.slots[slot] = (uint32_t)(s->npeers + 1);
        /* Appending in canonical order keeps the array sorted (a decode
         * of a canonical file does), so encoding needs no sort. */
        if (s->peers_sorted == s->npeers &&
            (s->npeers == 0 ||
             PEER(s, s->npeers - 1)->kind < (uint8_t)peer->kind ||
             (PEER(s, s->npeers - 1)->kind == (uint8_t)peer->kind &&
              PEER(s, s->npeers - 1)->id < peer->id)))
            s->peers_sorted++;
        /* Ascending ids within each kind: encoding only splits by kind. */
        if (peer->id <= s->kind_last[k.kind])
            s->kind_sorted &= (uint8_t)~bit;
        else
            s->kind_last[k.kind] = peer->id;
        if (peer->id > s->peer_max_id)
            s->peer_max_id = peer->id;
        s->kind_count[k.kind]++;
        s->npeers++;
    }
    s->kind_str_bytes[k.kind] +=
        (user ? strlen(user) : 0) + (phone ? strlen(phone) : 0);
    r->id = peer->id;
    r->access_hash = peer->access_hash;
    r->kind = (uint8_t)peer->kind;
    r->channel_kind = (uint8_t)peer->channel_kind;
    r->flags = (uint8_t)((peer->bot ? PEER_BOT : 0) |
                         (peer->community ? PEER_COMMUNITY : 0));
    r->username = user;
    r->phone = phone;
    r->stamp = touch(s);
    return 0;
}

int
mts_session_remove_peer(mts_session *s, mts_peer_kind kind, int64_t id)
{
    size_t slot, idx, last;
    if (!peer_lookup(s, kind, id, &slot))
        return MTS_ENOTFOUND;
    idx = s->peer_idx.slots[slot] - 1;
    touch(s);
    log_removal(s, MTS__REMOVED_PEER, id, (uint8_t)kind, 0);
    hindex_remove_slot(&s->peer_idx, s, slot, peer_rehash);
    s->kind_str_bytes[kind] -= peer_strings_len(PEER(s, idx));
    free_peer_strings(s, PEER(s, idx));
    last = s->npeers - 1;
    if (idx != last) {
        /* the last record moves in front of others of its kind */
        s->kind_sorted &= (uint8_t)~(1u << PEER(s, last)->kind);
        (*PEER(s, idx)) = (*PEER(s, last));
        hindex_renumber(&s->peer_idx, s,
                        peer_hash(PEER(s, idx)->kind, PEER(s, idx)->id),
                        (uint32_t)last, (uint32_t)idx);
    }
    s->kind_count[kind]--;
    s->npeers--;
    if (s->peers_sorted > idx)
        s->peers_sorted = idx; /* the moved record broke the order there */
    if (s->npeers == 0) { /* nothing left to be out of order */
        s->kind_sorted = 7;
        memset(s->kind_last, 0, sizeof(s->kind_last));
        s->peer_max_id = 0;
    }
    return 0;
}

/* Canonical order: kind, then id. */

static int
peer_cmp(const peer_rec *x, const peer_rec *y)
{
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return 0;
}

static int
peer_idx_cmp32(const void *a, const void *b, void *ctx)
{
    const mts_session *s = ctx;
    return peer_cmp(PEER(s, *(const uint32_t *)a),
                    PEER(s, *(const uint32_t *)b));
}

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH_W(p) __builtin_prefetch((p), 1)
#else
#define PREFETCH_W(p) ((void)(p))
#endif

static unsigned
bit_length(uint64_t v)
{
    unsigned b = 0;
    while (v != 0) {
        b++;
        v >>= 1;
    }
    return b;
}

/*
 * LSD radix sort of the record indices idx[0..n) by (kind, id). When the
 * kind, the id (below 2^bits(max id)) and the index fit in 64 bits
 * together, each key is one word, kind | id | index from the top, and
 * only the kind and id digits are sorted (11 bits a pass, a pass skipped
 * when one bucket holds every key): 8 bytes moved per peer and pass.
 * Otherwise 16-byte items (id, index, kind), 8 bits a pass, and a stable
 * pass by kind. O(n), where qsort's indirect compares miss the cache at
 * large n. MTS_ENOMEM (the caller falls back to qsort) without scratch.
 */
#define RADIX_BITS 11
#define RADIX_BUCKETS (1u << RADIX_BITS)

typedef struct radix_item {
    uint64_t id;
    uint32_t idx; /* records are addressed by 32 bits (MAX_RECORDS) */
    uint8_t kind;
} radix_item;

static int
radix_order_wide(uint32_t *idx, size_t n, const mts_session *s)
{
    radix_item *a, *b, *t;
    size_t count[256], kcount[3] = { 0, 0, 0 };
    a = mts__calloc(n, sizeof(*a));
    b = mts__calloc(n, sizeof(*b));
    if (a == NULL || b == NULL) {
        mts_free(a);
        mts_free(b);
        return MTS_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const peer_rec *r = PEER(s, idx[i]);
        a[i].id = (uint64_t)r->id;
        a[i].idx = idx[i];
        a[i].kind = r->kind;
    }
    for (unsigned shift = 0; shift < 64; shift += 8) {
        size_t sum = 0;
        memset(count, 0, sizeof(count));
        for (size_t i = 0; i < n; i++)
            count[(a[i].id >> shift) & 0xff]++;
        if (count[(a[0].id >> shift) & 0xff] == n)
            continue; /* every key has this byte: nothing to order */
        for (size_t d = 0; d < 256; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            b[count[(a[i].id >> shift) & 0xff]++] = a[i];
        t = a;
        a = b;
        b = t;
    }
    /* stable by kind: users, chats, channels */
    for (size_t i = 0; i < n; i++)
        kcount[a[i].kind]++;
    kcount[2] = kcount[0] + kcount[1];
    kcount[1] = kcount[0];
    kcount[0] = 0;
    for (size_t i = 0; i < n; i++)
        idx[kcount[a[i].kind]++] = a[i].idx;
    mts_free(a);
    mts_free(b);
    return 0;
}

static int
radix_order(uint32_t *idx, size_t n, const mts_session *s)
{
    unsigned ib = bit_length(n - 1);
    unsigned idb = bit_length((uint64_t)s->peer_max_id);
    unsigned total = idb + 2, passes, width, shift0;
    uint64_t *a, *b, *t, imask, dmask;
    uint32_t *count;
    if (n < 64)
        return MTS_ENOMEM; /* not worth it: let qsort do small sets */
    if (ib + total > 64)
        return radix_order_wide(idx, n, s);
    passes = (total + RADIX_BITS - 1) / RADIX_BITS;
    width = (total + passes - 1) / passes;
    shift0 = ib;
    dmask = ((uint64_t)1 << width) - 1;
    imask = ((uint64_t)1 << ib) - 1;
    a = mts_malloc(n * sizeof(*a));
    b = mts_malloc(n * sizeof(*b));
    count = mts__calloc((size_t)passes * RADIX_BUCKETS, sizeof(*count));
    if (a == NULL || b == NULL || count == NULL) {
        mts_free(a);
        mts_free(b);
        mts_free(count);
        return MTS_ENOMEM;
    }
    /* keys and every pass's histogram in one read of the records */
    for (size_t i = 0; i < n; i++) {
        const peer_rec *r = PEER(s, idx[i]);
        uint64_t k = ((uint64_t)r->kind << (ib + idb)) |
                     ((uint64_t)r->id << ib) | (uint64_t)i;
        a[i] = k;
        for (unsigned p = 0; p < passes; p++)
            count[p * RADIX_BUCKETS + ((k >> (shift0 + p * width)) & dmask)]++;
    }
    for (unsigned p = 0; p < passes; p++) {
        uint32_t *c = count + (size_t)p * RADIX_BUCKETS;
        unsigned shift = shift0 + p * width;
        uint32_t sum = 0;
        if (c[(a[0] >> shift) & dmask] == n)
            continue; /* every key has this digit: nothing to order */
        for (size_t d = 0; d <= dmask; d++) {
            uint32_t x = c[d];
            c[d] = sum;
            sum += x;
        }
        for (size_t i = 0; i < n; i++)
            b[c[(a[i] >> shift) & dmask]++] = a[i];
        t = a;
        a = b;
        b = t;
    }
    /* the low bits are positions in idx[]: map them to record indices */
    for (size_t i = 0; i < n; i++)
        b[i] = idx[a[i] & imask];
    for (size_t i = 0; i < n; i++)
        idx[i] = (uint32_t)b[i];
    mts_free(a);
    mts_free(b);
    mts_free(count);
    return 0;
}

int
mts__peer_order32(uint32_t **out, const mts_session *s)
{
    size_t n = s->npeers, head = s->peers_sorted, tail = n - head;
    uint32_t *idx, *merged;
    *out = NULL;
    if (tail == 0)
        return 0; /* already canonical: no order, no sort */
    idx = mts_malloc(n * sizeof(*idx));
    if (idx == NULL)
        return MTS_ENOMEM;
    if (s->kind_sorted == 7) {
        /* Each kind is in id order already: a stable split by kind. */
        size_t at[3];
        at[0] = 0;
        at[1] = s->kind_count[0];
        at[2] = at[1] + s->kind_count[1];
        for (size_t i = 0; i < n; i++)
            idx[at[PEER(s, i)->kind]++] = (uint32_t)i;
        MTS_ASSERT(at[2] == n);
        *out = idx;
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        idx[i] = (uint32_t)i;
    if (head == 0 || tail > n / 2) {
        /* mostly unsorted: sort everything */
        if (radix_order(idx, n, s) != 0)
            qsort_r(idx, n, sizeof(*idx), peer_idx_cmp32,
                    (void *)(uintptr_t)s);
        *out = idx;
        return 0;
    }
    /* A few peers after a sorted head: sort the tail, then merge. */
    if (radix_order(idx + head, tail, s) != 0)
        qsort_r(idx + head, tail, sizeof(*idx), peer_idx_cmp32,
                (void *)(uintptr_t)s);
    merged = mts_malloc(n * sizeof(*merged));
    if (merged == NULL) {
        mts_free(idx);
        return MTS_ENOMEM;
    }
    {
        size_t a = 0, b = head, o = 0;
        while (a < head && b < n)
            merged[o++] = peer_cmp(PEER(s, idx[a]), PEER(s, idx[b])) <= 0
                              ? idx[a++]
                              : idx[b++];
        while (a < head)
            merged[o++] = idx[a++];
        while (b < n)
            merged[o++] = idx[b++];
    }
    mts_free(idx);
    *out = merged;
    return 0;
}

int
mts__peer_order(size_t **out, const mts_session *s)
{
    size_t n = s->npeers;
    uint32_t *o32;
    size_t *idx = mts__calloc(n ? n : 1, sizeof(size_t));
    if (idx == NULL)
        return MTS_ENOMEM;
    if (mts__peer_order32(&o32, s) != 0) {
        mts_free(idx);
        return MTS_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        idx[i] = o32 != NULL ? o32[i] : i;
    mts_free(o32);
    *out = idx;
    return 0;
}

mts__peer_rec *const *
mts__session_peer_chunks(const mts_session *s, size_t *n)
{
    *n = s->npeers;
    return s->pchunk;
}

uint64_t
mts__session_peer_string_bytes(const mts_session *s)
{
    return s->kind_str_bytes[0] + s->kind_str_bytes[1] + s->kind_str_bytes[2];
}

int
mts__session_peer_kinds(const mts_session *s, size_t count[3],
                        uint64_t string_bytes[3])
{
    for (int k = 0; k < 3; k++) {
        count[k] = s->kind_count[k];
        string_bytes[k] = s->kind_str_bytes[k];
    }
    if (s->peers_sorted == s->npeers)
        return 2;
    return s->kind_sorted == 7;
}

int
mts__peers_load_begin(mts_session *s, size_t count, size_t string_bytes,
                      mts__peer_rec *const **chunks, char **strings)
{
    size_t cap = 16;
    uint32_t *slots;
    MTS_ASSERT(s->npeers == 0);
    if (count > MAX_RECORDS || peers_grow(s, count ? count : 1) != 0)
        return MTS_ENOMEM;
    while (cap < count * 2) {
        if (cap > SIZE_MAX / 4)
            return MTS_ENOMEM;
        cap *= 2;
    }
    if (s->peer_idx.slots == NULL || s->peer_idx.mask + 1 < cap) {
        slots = mts__calloc(cap, sizeof(*slots));
        if (slots == NULL)
            return MTS_ENOMEM;
        mts_free(s->peer_idx.slots);
        s->peer_idx.slots = slots;
        s->peer_idx.mask = cap - 1;
    }
    touch(s); /* the records' stamp (mts__peers_load_index) */
    s->bulk_indexed = 0;
    *strings = NULL;
    if (string_bytes != 0) {
        str_block *b;
        if (string_bytes > SIZE_MAX - sizeof(*b) ||
            (b = mts_malloc(sizeof(*b) + string_bytes)) == NULL)
            return MTS_ENOMEM;
        b->size = string_bytes;
        b->next = s->str_blocks;
        s->str_blocks = b;
        *strings = b->data;
    }
    *chunks = s->pchunk;
    return 0;
}

/* Distance (in records) at which the index build prefetches slots. */
#define INDEX_PREFETCH 16

void
mts__peers_load_index(mts_session *s, size_t from, size_t n)
{
    uint32_t *slots = s->peer_idx.slots;
    size_t mask = s->peer_idx.mask;
    uint64_t ahead[INDEX_PREFETCH];
    uint32_t stamp = (uint32_t)s->gen;
    MTS_ASSERT(s->npeers == 0 && from == s->bulk_indexed &&
               n <= s->cap_peers && (n == 0 || n * 2 <= mask + 1));
    /* Keys are unique (the decoder checked the order), so an insert only
     * looks for an empty slot and never reads another record; the slot a
     * few records ahead is fetched meanwhile, so the cache misses of a big
     * index overlap instead of coming one after another. */
    for (size_t i = from; i < n && i < from + INDEX_PREFETCH; i++) {
        const peer_rec *f = PEER(s, i);
        ahead[i % INDEX_PREFETCH] = peer_hash(f->kind, f->id);
        PREFETCH_W(&slots[ahead[i % INDEX_PREFETCH] & mask]);
    }
    for (size_t i = from; i < n; i++) {
        peer_rec *r = PEER(s, i);
        size_t j = (size_t)ahead[i % INDEX_PREFETCH] & mask;
        if (i + INDEX_PREFETCH < n) {
            const peer_rec *f = PEER(s, i + INDEX_PREFETCH);
            uint64_t h = peer_hash(f->kind, f->id);
            ahead[i % INDEX_PREFETCH] = h;
            PREFETCH_W(&slots[h & mask]);
        }
        while (slots[j] != 0)
            j = (j + 1) & mask;
        slots[j] = (uint32_t)(i + 1);
        r->stamp = stamp;
        s->kind_count[r->kind]++;
        s->kind_last[r->kind] = r->id;
        if (r->id > s->peer_max_id)
            s->peer_max_id = r->id;
    }
    s->bulk_indexed = n;
}

int
mts__peers_load_end(mts_session *s, size_t n, const uint64_t string_len[3])
{
    mts__peers_load_index(s, s->bulk_indexed, n);
    s->npeers = n;
    s->peers_sorted = n;
    s->kind_sorted = 7;
    memcpy(s->kind_str_bytes, string_len, sizeof(s->kind_str_bytes));
    return 0;
}

/* ---- min peers --------------------------------------------------------- */

size_t
mts_session_min_peer_count(const mts_session *s)
{
    return s->nmins;
}

int
mts_session_min_peer_at(mts_min_peer *out, const mts_session *s, size_t i)
{
    if (i >= s->nmins)
        return MTS_ENOTFOUND;
    out->user_id = s->mins[i].user_id;
    out->peer_id = s->mins[i].peer_id;
    out->msg_id = s->mins[i].msg_id;
    return 0;
}

int
mts_session_get_min_peer(mts_min_peer *out, const mts_session *s,
                         int64_t user_id)
{
    size_t slot;
    if (s->nmins == 0 ||
        !hindex_find(&s->min_idx, s, id_hash(user_id), min_match, &user_id,
                     &slot))
        return MTS_ENOTFOUND;
    if (out != NULL) {
        const min_rec *m = &s->mins[s->min_idx.slots[slot] - 1];
        out->user_id = m->user_id;
        out->peer_id = m->peer_id;
        out->msg_id = m->msg_id;
    }
    return 0;
}

int
mts__put_min_peer(mts_session *s, const mts_min_peer *mp, mts_error *err)
{
    size_t slot;
    min_rec *m;
    int rc = mts__validate_min_peer(mp, "min_peer", err);
    if (rc != 0)
        return rc;
    if (s->nmins >= MAX_RECORDS ||
        hindex_reserve(&s->min_idx, s, s->nmins + 1, s->nmins, min_rehash) !=
            0 ||
        grow((void **)&s->mins, &s->cap_mins, s->nmins + 1,
             sizeof(*s->mins)) != 0)
        return mts__err_oom(err);
    if (hindex_find(&s->min_idx, s, id_hash(mp->user_id), min_match,
                    &mp->user_id, &slot)) {
        m = &s->mins[s->min_idx.slots[slot] - 1];
    } else {
        m = &s->mins[s->nmins];
        s->min_idx.slots[slot] = (uint32_t)(s->nmins + 1);
        s->nmins++;
    }
    m->user_id = mp->user_id;
    m->peer_id = mp->peer_id;
    m->msg_id = mp->msg_id;
    m->stamp = touch(s);
    return 0;
}

int
mts_session_put_min_peer(mts_session *s, const mts_min_peer *mp)
{
    return mts__put_min_peer(s, mp, NULL);
}

int
mts_session_remove_min_peer(mts_session *s, int64_t user_id)
{
    size_t slot, idx, last;
    if (s->nmins == 0 ||
        !hindex_find(&s->min_idx, s, id_hash(user_id), min_match, &user_id,
                     &slot))
        return MTS_ENOTFOUND;
    idx = s->min_idx.slots[slot] - 1;
    touch(s);
    log_removal(s, MTS__REMOVED_MIN_PEER, user_id, 0, 0);
    hindex_remove_slot(&s->min_idx, s, slot, min_rehash);
    last = s->nmins - 1;
    if (idx != last) {
        s->mins[idx] = s->mins[last];
        hindex_renumber(&s->min_idx, s, id_hash(s->mins[idx].user_id),
                        (uint32_t)last, (uint32_t)idx);
    }
    s->nmins--;
    return 0;
}

/* ---- copy, compare, stats ---------------------------------------------- */

int
mts_session_dup(mts_session **out, const mts_session *s)
{
    mts_session *d;
    int rc = mts_session_new(&d, MTS_NEW_EMPTY);
    if (rc != 0)
        return rc;
    d->home_dc = s->home_dc;
    d->test_mode = s->test_mode;
    d->has_api_id = s->has_api_id;
    d->api_id = s->api_id;
    d->has_user = s->has_user;
    d->user_id = s->user_id;
    d->user_is_bot = s->user_is_bot;
    d->state = s->state;
    if (s->token != NULL &&
        (rc = mts_session_set_future_auth_token(d, s->token, s->token_len)) != 0)
        goto fail;
    for (size_t i = 0; i < s->ndcs; i++) {
        mts_dc dc;
        dc_export(&dc, &s->dcs[i]);
        if ((rc = mts__put_dc(d, &dc, NULL)) != 0)
            goto fail;
    }
    for (size_t i = 0; i < s->nchans; i++)
        if ((rc = mts_session_set_channel_pts(d, s->chans[i].id,
                                              s->chans[i].pts)) != 0)
            goto fail;
    if ((rc = mts_session_reserve_peers(d, s->npeers)) != 0)
        goto fail;
    for (size_t i = 0; i < s->npeers; i++) {
        mts_peer p;
        peer_export(&p, PEER(s, i));
        if ((rc = mts_session_put_peer(d, &p, NULL)) != 0)
            goto fail;
    }
    for (size_t i = 0; i < s->nmins; i++) {
        mts_min_peer mp;
        mts_session_min_peer_at(&mp, s, i);
        if ((rc = mts__put_min_peer(d, &mp, NULL)) != 0)
            goto fail;
    }
    *out = d;
    return 0;
fail:
    mts_session_free(d);
    return rc;
}

static bool
str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

int
mts_session_equal(const mts_session *a, const mts_session *b)
{
    if (a->home_dc != b->home_dc || a->test_mode != b->test_mode ||
        a->has_api_id != b->has_api_id || a->api_id != b->api_id ||
        a->has_user != b->has_user || a->user_id != b->user_id ||
        a->user_is_bot != b->user_is_bot ||
        memcmp(&a->state, &b->state, sizeof(a->state)) != 0 ||
        a->ndcs != b->ndcs || a->nchans != b->nchans ||
        a->npeers != b->npeers || a->nmins != b->nmins ||
        (a->token == NULL) != (b->token == NULL) ||
        a->token_len != b->token_len)
        return 0;
    if (a->token != NULL && !mts__ct_equal(a->token, b->token, a->token_len))
        return 0;
    for (size_t i = 0; i < a->ndcs; i++) {
        const dc_rec *x = &a->dcs[i], *y = &b->dcs[i];
        if (x->dc_id != y->dc_id || x->flags != y->flags ||
            x->ip.family != y->ip.family ||
            memcmp(x->ip.bytes, y->ip.bytes, 16) != 0 || x->port != y->port ||
            x->has_key != y->has_key || x->salt != y->salt ||
            x->time_offset != y->time_offset)
            return 0;
        if (x->has_key && !mts__ct_equal(x->key, y->key, MTS_AUTH_KEY_SIZE))
            return 0;
    }
    for (size_t i = 0; i < a->nchans; i++) {
        int32_t pts;
        if (mts_session_channel_pts(b, a->chans[i].id, &pts) != 0 ||
            pts != a->chans[i].pts)
            return 0;
    }
    for (size_t i = 0; i < a->npeers; i++) {
        const peer_rec *x = PEER(a, i), *y;
        size_t slot;
        if (!peer_lookup(b, (mts_peer_kind)x->kind, x->id, &slot))
            return 0;
        y = PEER(b, b->peer_idx.slots[slot] - 1);
        if (x->access_hash != y->access_hash ||
            x->channel_kind != y->channel_kind || x->flags != y->flags ||
            !str_eq(x->username, y->username) || !str_eq(x->phone, y->phone))
            return 0;
    }
    for (size_t i = 0; i < a->nmins; i++) {
        mts_min_peer m;
        if (mts_session_get_min_peer(&m, b, a->mins[i].user_id) != 0 ||
            m.peer_id != a->mins[i].peer_id || m.msg_id != a->mins[i].msg_id)
            return 0;
    }
    return 1;
}

void
mts_session_stats(const mts_session *s, mts_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->version = MTS_STATS_VERSION;
    out->home_dc_id = s->home_dc;
    out->dcs_total = s->ndcs;
    for (size_t i = 0; i < s->ndcs; i++)
        out->dcs_with_key += s->dcs[i].has_key;
    out->peers_total = s->npeers;
    for (size_t i = 0; i < s->npeers; i++) {
        const peer_rec *p = PEER(s, i);
        switch (p->kind) {
        case MTS_PEER_USER:
            out->users++;
            break;
        case MTS_PEER_CHAT:
            out->chats++;
            break;
        default:
            out->channels++;
            break;
        }
        if (p->flags & PEER_BOT)
            out->bots++;
        if (p->flags & PEER_COMMUNITY)
            out->communities++;
    }
    out->min_peers = s->nmins;
    out->channel_pts = s->nchans;
    out->encoded_size = mts_encoded_size(s);
}
