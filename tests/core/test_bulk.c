/*
 * test_bulk.c - the codec's fast paths for big peer caches: the decoder's
 * bulk load (records and strings in one go, index built afterwards, the
 * session marked as sorted), the encoder's three ways to the canonical
 * order (as stored, split by kind, sorted), the error messages of entries
 * refused deep in a big section, and the multi-lane CRC-32C.
 *
 * The reference for "canonical" is a session whose peers were put in
 * (kind, id) order, which the encoder writes as stored.
 */
#include "fixtures.h"
#include "internal.h"
#include "t.h"

typedef struct key {
    int kind;
    int64_t id;
} key;

static uint64_t rng = 0x1234567;

static uint64_t
next_rand(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int
key_cmp(const void *a, const void *b)
{
    const key *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The peer for a key: its other fields derived from it, so that two
 * sessions built from the same keys in any order are equal. */
static void
put_key(mts_session *s, const key *k)
{
    mts_peer p = MTS_PEER_INIT;
    char name[40], phone[24];
    mts_error err = MTS_ERROR_INIT;
    p.kind = (mts_peer_kind)k->kind;
    p.id = k->id;
    p.access_hash = (int64_t)((uint64_t)k->id * 0x9E3779B97F4A7C15ULL);
    if (k->kind == MTS_PEER_CHANNEL)
        p.channel_kind = (mts_channel_kind)(k->id % 4);
    if (k->kind == MTS_PEER_USER)
        p.bot = k->id % 7 == 0;
    if (k->kind != MTS_PEER_CHAT)
        p.community = k->id % 5 == 0;
    if (k->id % 3 == 0) {
        snprintf(name, sizeof(name), "n%lld", (long long)k->id);
        p.username = name;
    }
    if (k->id % 11 == 0) {
        snprintf(phone, sizeof(phone), "+%lld", (long long)(k->id % 100000));
        p.phone = phone;
    }
    T_EQ_INT(mts_session_put_peer(s, &p, &err), 0);
}

/* n distinct keys below 2^bits (ids > 0), in random order. */
static key *
random_keys(size_t n, unsigned bits)
{
    key *k = calloc(n, sizeof(*k));
    size_t have = 0;
    mts_session *seen;
    T_CHECK(k != NULL);
    T_EQ_INT(mts_session_new(&seen, MTS_NEW_EMPTY), 0);
    while (have < n) {
        mts_peer p = MTS_PEER_INIT;
        uint64_t r = next_rand();
        p.kind = (mts_peer_kind)(r % 3);
        p.id = (int64_t)((next_rand() >> (64 - bits)) | 1);
        if (mts_session_get_peer(&p, seen, p.kind, p.id) == 0)
            continue;
        T_EQ_INT(mts_session_put_peer(seen, &p, NULL), 0);
        k[have].kind = p.kind;
        k[have].id = p.id;
        have++;
    }
    mts_session_free(seen);
    return k;
}

static mts_session *
build(const key *k, size_t n)
{
    mts_session *s;
    T_EQ_INT(mts_session_new(&s, MTS_NEW_DEFAULT), 0);
    for (size_t i = 0; i < n; i++)
        put_key(s, &k[i]);
    return s;
}

static uint8_t *
enc(size_t *len, const mts_session *s)
{
    uint8_t *out = NULL;
    mts_error err = MTS_ERROR_INIT;
    T_EQ_INT(mts_encode(&out, len, s, &err), 0);
    T_EQ_U64(*len, mts_encoded_size(s));
    return out;
}

/* s encodes to exactly the bytes of the canonical session `ref`. */
static void
check_canonical(const mts_session *s, const mts_session *ref)
{
    size_t a, b;
    uint8_t *x = enc(&a, s), *y = enc(&b, ref);
    T_EQ_U64(a, b);
    if (a == b)
        T_EQ_MEM(x, y, a);
    T_CHECK(mts_session_equal(s, ref));
    mts_free(x);
    mts_free(y);
}

/* Encoded by each path, the bytes are the canonical ones. */
static void
test_encode_orders(void)
{
    static const unsigned bits[] = { 20, 40, 62 };
    static const size_t sizes[] = { 10, 63, 64, 1000, 5000 };
    for (size_t b = 0; b < MTS__ARRAY_LEN(bits); b++)
        for (size_t z = 0; z < MTS__ARRAY_LEN(sizes); z++) {
            size_t n = sizes[z];
            key *k = random_keys(n, bits[b]), *sorted = calloc(n, sizeof(key));
            mts_session *ref, *rnd, *split;
            memcpy(sorted, k, n * sizeof(key));
            qsort(sorted, n, sizeof(key), key_cmp);
            ref = build(sorted, n);
            rnd = build(k, n); /* sorted by radix (or qsort below 64) */
            check_canonical(rnd, ref);
            {
                /* each kind ascending, kinds interleaved: split by kind */
                key *il = calloc(n, sizeof(key));
                size_t at[3], lim[3], cnt[3] = { 0, 0, 0 }, o = 0;
                for (size_t i = 0; i < n; i++)
                    cnt[sorted[i].kind]++;
                at[0] = 0;
                lim[0] = at[1] = cnt[0];
                lim[1] = at[2] = cnt[0] + cnt[1];
                lim[2] = n;
                while (o < n) /* channels, chats, users, channels, ... */
                    for (int kk = 2; kk >= 0; kk--)
                        if (at[kk] < lim[kk])
                            il[o++] = sorted[at[kk]++];
                split = build(il, n);
                check_canonical(split, ref);
                /* a removal moves the last record in front of its kind */
                if (n > 2) {
                    mts_session *ref2 = build(sorted, n);
                    T_EQ_INT(mts_session_remove_peer(
                                 split, (mts_peer_kind)il[0].kind, il[0].id),
                             0);
                    T_EQ_INT(mts_session_remove_peer(
                                 ref2, (mts_peer_kind)il[0].kind, il[0].id),
                             0);
                    check_canonical(split, ref2);
                    mts_session_free(ref2);
                }
                free(il);
                mts_session_free(split);
            }
            mts_session_free(rnd);
            mts_session_free(ref);
            free(sorted);
            free(k);
        }
}

/* A decoded session is marked sorted; changes after that (new peers,
 * replaced strings, removals) still encode canonically, and its strings
 * (held in one block) are replaced and freed correctly. */
static void
test_decoded_then_changed(void)
{
    size_t n = 20000, len, extra = 3000;
    key *k = random_keys(n + extra, 40), *sorted;
    mts_session *ref, *dec;
    uint8_t *bytes;
    mts_error err = MTS_ERROR_INIT;
    sorted = calloc(n + extra, sizeof(key));
    memcpy(sorted, k, n * sizeof(key));
    qsort(sorted, n, sizeof(key), key_cmp);
    ref = build(sorted, n);
    bytes = enc(&len, ref);
    T_EQ_INT(mts_decode(&dec, bytes, len, &err), 0);
    check_canonical(dec, ref);
    /* a few new peers after the sorted head (sort the tail, merge) */
    for (size_t i = n; i < n + 100; i++) {
        put_key(dec, &k[i]);
        put_key(ref, &k[i]);
    }
    check_canonical(dec, ref);
    /* many more (sort everything) */
    for (size_t i = n + 100; i < n + extra; i++) {
        put_key(dec, &k[i]);
        put_key(ref, &k[i]);
    }
    check_canonical(dec, ref);
    /* replace strings of decoded records; remove some */
    for (size_t i = 0; i < n; i += 7) {
        mts_peer p;
        T_EQ_INT(
            mts_session_get_peer(&p, dec, (mts_peer_kind)k[i].kind, k[i].id),
            0);
        p.username = i % 2 ? "a_much_longer_username_than_before" : NULL;
        p.phone = i % 3 ? NULL : "+1";
        T_EQ_INT(mts_session_put_peer(dec, &p, NULL), 0);
        T_EQ_INT(mts_session_put_peer(ref, &p, NULL), 0);
    }
    for (size_t i = 1; i < n; i += 13) {
        T_EQ_INT(
            mts_session_remove_peer(dec, (mts_peer_kind)k[i].kind, k[i].id), 0);
        T_EQ_INT(
            mts_session_remove_peer(ref, (mts_peer_kind)k[i].kind, k[i].id), 0);
    }
    check_canonical(dec, ref);
    {
        mts_session *dup;
        T_EQ_INT(mts_session_dup(&dup, dec), 0);
        check_canonical(dup, ref);
        mts_session_free(dup);
    }
    mts_free(bytes);
    mts_session_free(dec);
    mts_session_free(ref);
    free(sorted);
    free(k);
}

/* A million peers round-trip byte for byte, with the index usable. */
static void
test_million_round_trip(void)
{
    mts_session *s = fx_big(1000000), *back;
    uint8_t *a, *b;
    size_t la, lb;
    mts_peer p;
    mts_error err = MTS_ERROR_INIT;
    a = enc(&la, s);
    T_EQ_INT(mts_decode(&back, a, la, &err), 0);
    T_EQ_U64(mts_session_peer_count(back), 1000000);
    b = enc(&lb, back);
    T_EQ_U64(la, lb);
    if (la == lb)
        T_EQ_MEM(a, b, la);
    T_CHECK(mts_session_equal(back, s));
    T_EQ_INT(mts_session_get_peer(&p, back, MTS_PEER_USER,
                                  (int64_t)(999996 / 3) * 7919 + 1000),
             0);
    T_EQ_STR(p.username, "user999996");
    T_EQ_INT(mts_session_get_peer(&p, back, MTS_PEER_CHAT, 999), MTS_ENOTFOUND);
    mts_free(a);
    mts_free(b);
    mts_session_free(back);
    mts_session_free(s);
}

/* Offset of PEERS entry `want` in an encoded file. */
static size_t
peer_offset(const uint8_t *d, size_t len, uint32_t want)
{
    size_t off = 16;
    while (off + 8 <= len - 4) {
        uint16_t tag = mts__rd16(d + off);
        uint32_t slen = mts__rd32(d + off + 4);
        if (tag == 4) {
            size_t p = off + 8 + 4;
            for (uint32_t i = 0; i < want; i++)
                p += 21 + d[p + 19] + d[p + 20 + d[p + 19]];
            return p;
        }
        off += 8 + slen;
    }
    return 0;
}

static void
fix_crc(uint8_t *d, size_t len)
{
    uint32_t c = mts_crc32c(0, d, len - 4);
    for (int k = 0; k < 4; k++)
        d[len - 4 + (size_t)k] = (uint8_t)(c >> (8 * k));
}

/* Decode `d` (after fixing its CRC): MTS_ECORRUPT with this message and
 * offset. */
static void
expect_error(uint8_t *d, size_t len, const char *msg, int64_t offset)
{
    mts_session *s = NULL;
    mts_error err = MTS_ERROR_INIT;
    fix_crc(d, len);
    T_EQ_INT(mts_decode(&s, d, len, &err), MTS_ECORRUPT);
    T_CHECK(s == NULL);
    T_EQ_STR(err.message, msg);
    T_EQ_INT(err.offset, offset);
    /* and without an error record */
    T_EQ_INT(mts_decode(&s, d, len, NULL), MTS_ECORRUPT);
}

static void
test_errors_deep(void)
{
    mts_session *s = fx_big(100000);
    size_t len;
    uint8_t *orig = enc(&len, s), *d = malloc(len);
    char msg[256];
    /* entries are in (kind, id) order: 33334 users, 33333 chats, then
     * channels; entry 77777 is a channel after a channel */
    uint32_t i = 77777;
    size_t rec = peer_offset(orig, len, i);

    memcpy(d, orig, len);
    d[rec + 17] = 0x04;
    snprintf(msg, sizeof(msg), "peers[%u] at byte %zu: unknown flag bits 0x4",
             i, rec + 17);
    expect_error(d, len, msg, (int64_t)(rec + 17));

    memcpy(d, orig, len);
    d[rec + 1] = 1; /* id below the one before it (same kind) */
    memset(d + rec + 2, 0, 7);
    snprintf(msg, sizeof(msg),
             "peers[%u] at byte %zu: entry %u out of order or duplicate "
             "(peers are sorted by kind, id)",
             i, rec, i);
    expect_error(d, len, msg, (int64_t)rec);

    /* an unknown kind, after kind 2: in order, refused by the model */
    memcpy(d, orig, len);
    d[rec] = 3;
    snprintf(msg, sizeof(msg),
             "peers[%u] at byte %zu: peer.kind: unknown peer kind 3", i, rec);
    expect_error(d, len, msg, (int64_t)rec);

    /* a user (entry 20001, after a user) with a channel kind */
    i = 20001;
    rec = peer_offset(orig, len, i);
    memcpy(d, orig, len);
    d[rec + 18] = 1;
    snprintf(msg, sizeof(msg),
             "peers[%u] at byte %zu: peer.channel_kind: only channels have "
             "a channel kind",
             i, rec);
    expect_error(d, len, msg, (int64_t)rec);

    /* a bad byte in a username (the first user after 20001 with one) */
    for (i = 20001; orig[(rec = peer_offset(orig, len, i)) + 19] == 0; i++)
        ;
    memcpy(d, orig, len);
    T_CHECK(d[rec + 19] > 0);
    d[rec + 21] = 0x01;
    snprintf(msg, sizeof(msg),
             "username at byte %zu: %u bytes that are not valid UTF-8 text",
             rec + 19, d[rec + 19]);
    expect_error(d, len, msg, (int64_t)(rec + 19));

    free(d);
    mts_free(orig);
    mts_session_free(s);
}

/* A count larger than the entries present, the present ones carrying
 * long strings: the string block (sized from the section) runs out
 * before the entry that is cut short, which is still the one named. */
static void
test_errors_count_too_big(void)
{
    mts_session *s;
    mts_peer p = MTS_PEER_INIT;
    char name[256];
    size_t len, rec, cnt_at;
    uint8_t *d;
    char msg[256];
    memset(name, 'a', 255);
    name[255] = '\0';
    T_EQ_INT(mts_session_new(&s, MTS_NEW_EMPTY), 0);
    p.kind = MTS_PEER_USER;
    p.id = 5;
    p.username = name;
    p.phone = name;
    T_EQ_INT(mts_session_put_peer(s, &p, NULL), 0);
    p.id = 6;
    T_EQ_INT(mts_session_put_peer(s, &p, NULL), 0);
    d = enc(&len, s);
    rec = peer_offset(d, len, 0);
    cnt_at = rec - 4;
    /* 2 entries of 531 bytes: claim 40 (40 x 21 = 840 <= 1066) */
    d[cnt_at] = 40;
    snprintf(msg, sizeof(msg), "peers[2] at byte %zu: needs 19 bytes, 0 left",
             rec + 2 * 531);
    expect_error(d, len, msg, (int64_t)(rec + 2 * 531));
    /* and an error before the cut still comes first */
    d[rec + 531 + 17] = 0x80;
    snprintf(msg, sizeof(msg), "peers[1] at byte %zu: unknown flag bits 0x80",
             rec + 531 + 17);
    expect_error(d, len, msg, (int64_t)(rec + 531 + 17));
    mts_free(d);
    mts_session_free(s);
}

/* The lanes of the hardware CRC and their joins, against the portable
 * code, at lengths around the lane boundaries and from odd offsets. */
static void
test_crc_lanes(void)
{
    static const size_t lens[] = { 0,     1,     767,   768,   769,
                                   1536,  24575, 24576, 24577, 25344,
                                   49152, 49159, 65536, 100003 };
    size_t max = 100003 + 16;
    uint8_t *buf = malloc(max);
    for (size_t i = 0; i < max; i++)
        buf[i] = (uint8_t)(next_rand() >> 56);
    for (size_t l = 0; l < MTS__ARRAY_LEN(lens); l++)
        for (size_t off = 0; off < 9; off += 3) {
            size_t n = lens[l];
            uint32_t hw = mts_crc32c(0xdeadbeef, buf + off, n);
            T_EQ_U64(hw, mts__crc32c_sw(0xdeadbeef, buf + off, n));
            /* chained at an odd split equals one pass */
            if (n > 10)
                T_EQ_U64(mts_crc32c(mts_crc32c(0xdeadbeef, buf + off, n / 3),
                                    buf + off + n / 3, n - n / 3),
                         hw);
        }
    free(buf);
}

T_MAIN(T_CASE(test_encode_orders),
       T_CASE(test_decoded_then_changed),
       T_CASE(test_million_round_trip),
       T_CASE(test_errors_deep),
       T_CASE(test_errors_count_too_big),
       T_CASE(test_crc_lanes))
