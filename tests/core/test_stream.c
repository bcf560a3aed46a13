/*
 * test_stream.c - the streaming encoder (mts__encode_stream), which the
 * file backend uses to write a plain snapshot without its whole encoding
 * in memory.
 *
 * Whatever the chunk size, the bytes handed to the sink, in order, are
 * exactly mts_encode's (or, with a snapshot id, mts_encode's plus a
 * GENERATION section, built here by hand from the format), for sessions
 * whose peers take each of the encoder's three ways to canonical order
 * (as stored, split by kind, sorted) and for sizes that fit in one chunk
 * and that do not. Every chunk but the last is full. A sink error stops
 * the encoder at once and comes back unchanged; an allocation failure is
 * MTS_ENOMEM (or, where the sort falls back to qsort, no error) and leaks
 * nothing.
 */
#include "failalloc.h"
#include "fixtures.h"
#include "internal.h"
#include "t.h"

/* What a sink saw: the bytes at their offsets in `data` (n bytes, filled
 * with 0xA5 first), each byte sent once (`seen`). */
typedef struct got {
    uint8_t *data;
    uint8_t *seen;
    size_t n;   /* the file's expected size */
    size_t len; /* bytes received */
    size_t calls;
    size_t chunk;   /* no call may bring more */
    size_t shorts;  /* calls with fewer (one per buffer, at its end) */
    int twice;      /* a byte was sent again */
    long fail_at;   /* the call that fails, -1 none */
    int fail_rc;    /* what it returns */
    mts_error *err; /* where it writes its message */
} got;

static int
collect(const uint8_t *chunk, size_t len, uint64_t offset, void *payload)
{
    got *g = payload;
    if ((long)g->calls == g->fail_at) {
        g->calls++;
        if (g->err != NULL)
            snprintf(g->err->message, sizeof(g->err->message),
                     "the sink refused call %ld", g->fail_at);
        return g->fail_rc;
    }
    g->calls++;
    if (len == 0 || len > g->chunk || offset > g->n || len > g->n - offset) {
        t_fail(__FILE__, __LINE__,
               "chunk of %zu bytes at %llu (chunk size %zu, file %zu)", len,
               (unsigned long long)offset, g->chunk, g->n);
        return MTS_EINVAL;
    }
    if (len != g->chunk)
        g->shorts++;
    for (size_t i = 0; i < len; i++) {
        g->twice |= g->seen[offset + i];
        g->seen[offset + i] = 1;
    }
    memcpy(g->data + offset, chunk, len);
    g->len += len;
    return 0;
}

static void
got_init(got *g, size_t chunk, size_t expect)
{
    memset(g, 0, sizeof(*g));
    g->chunk = chunk;
    g->fail_at = -1;
    g->n = expect;
    g->data = malloc(expect + 1);
    g->seen = calloc(expect + 1, 1);
    T_CHECK(g->data != NULL && g->seen != NULL);
    memset(g->data, 0xA5, expect + 1);
}

static void
got_free(got *g)
{
    free(g->data);
    free(g->seen);
}

static void
wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* mts_encode's bytes, plus a GENERATION section holding gen when gen != 0:
 * the section (tag 7, not critical, 8 bytes) goes last, before the CRC,
 * and the length field and CRC are those of the longer file. */
static uint8_t *
expected(size_t *len, const mts_session *s, uint64_t gen)
{
    uint8_t *e = NULL, *p;
    size_t n = 0;
    mts_error err = MTS_ERROR_INIT;
    T_EQ_INT(mts_encode(&e, &n, s, &err), 0);
    if (gen == 0) {
        *len = n;
        return e;
    }
    p = malloc(n + 16);
    T_CHECK(p != NULL);
    memcpy(p, e, n - 4);
    p[n - 4] = 7;
    p[n - 3] = 0;
    p[n - 2] = 0;
    p[n - 1] = 0;
    wr32(p + n, 8);
    wr32(p + n + 4, (uint32_t)gen);
    wr32(p + n + 8, (uint32_t)(gen >> 32));
    wr32(p + 8, (uint32_t)(n + 16));
    wr32(p + n + 12, mts_crc32c(0, p, n + 12));
    mts_free(e);
    *len = n + 16;
    return p;
}

/* The stream of s in chunks of `chunk` (0: the default) equals the
 * expected bytes, and a file with an id decodes to s again. */
static void
check_stream(const mts_session *s, uint64_t gen, size_t chunk)
{
    size_t n, want = chunk != 0 ? chunk : MTS__ENCODE_CHUNK;
    uint8_t *e = expected(&n, s, gen);
    got g;
    mts_error err = MTS_ERROR_INIT;
    got_init(&g, want, n);
    T_EQ_INT(mts__encode_stream(s, gen, chunk, collect, &g, &err), 0);
    T_EQ_U64(g.len, n);
    T_CHECK(!g.twice);
    if (g.len == n && memcmp(g.data, e, n) != 0)
        t_fail(__FILE__, __LINE__,
               "%zu peers, gen %llu, chunk %zu: the stream differs from "
               "mts_encode",
               mts_session_peer_count(s), (unsigned long long)gen, chunk);
    /* full chunks, but for the last of each of at most four buffers (the
     * file, and the peers of each kind when they go out side by side) */
    T_CHECK(g.shorts <= 4);
    T_CHECK(g.calls <= (n + want - 1) / want + 3);
    if (n <= want) /* a small session is one call: one write(2) */
        T_EQ_U64(g.calls, 1);
    if (gen != 0 && g.len == n) {
        mts_session *back = NULL;
        T_EQ_INT(mts_decode(&back, g.data, g.len, &err), 0);
        T_CHECK(back != NULL && mts_session_equal(back, s));
        mts_session_free(back);
    }
    got_free(&g);
    free(e);
}

static const size_t chunks[] = { 1, 7, 4096, 0, (size_t)64 << 20 };
static const uint64_t gens[] = { 0, 1, 0x8877665544332211ULL };

static void
check_all(const mts_session *s)
{
    for (size_t c = 0; c < MTS__ARRAY_LEN(chunks); c++)
        for (size_t g = 0; g < MTS__ARRAY_LEN(gens); g++)
            check_stream(s, gens[g], chunks[c]);
}

static void
test_fixtures(void)
{
    static const char *const names[] = { "empty", "small", "full" };
    for (size_t i = 0; i < MTS__ARRAY_LEN(names); i++) {
        mts_session *s = fx_session(names[i]);
        T_CHECK(s != NULL);
        if (s == NULL)
            continue;
        check_all(s);
        mts_session_free(s);
    }
}

/* Peers of every kind interleaved, each kind in id order: the encoder's
 * split by kind; 100k peers are 2.4 MB, several default chunks. */
static void
test_big_split(void)
{
    mts_session *s = fx_big(100000);
    size_t kc[3];
    uint64_t kb[3];
    T_EQ_INT(mts__session_peer_kinds(s, kc, kb), 1);
    check_all(s);
    mts_session_free(s);
}

static uint64_t rng = 0x5eed;

static uint64_t
next_rand(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* n peers with random kinds, ids and strings, put in random order (the
 * encoder sorts), or in canonical order (it writes them as stored). */
static mts_session *
random_session(size_t n, int sorted)
{
    mts_session *s;
    size_t have = 0;
    T_EQ_INT(mts_session_new(&s, MTS_NEW_DEFAULT), 0);
    if (sorted) {
        for (int k = 0; k < 3; k++)
            for (size_t i = 0; i < n / 3; i++) {
                mts_peer p = MTS_PEER_INIT;
                char name[300];
                p.kind = (mts_peer_kind)k;
                p.id = (int64_t)(i * 13 + 1);
                p.access_hash = (int64_t)next_rand();
                if (i % 5 == 0) { /* long names cross chunk ends */
                    memset(name, 'a' + (int)(i % 26), 255);
                    name[1 + i % 255] = '\0';
                    p.username = name;
                }
                T_EQ_INT(mts_session_put_peer(s, &p, NULL), 0);
            }
        return s;
    }
    while (have < n) {
        mts_peer p = MTS_PEER_INIT;
        char name[40], phone[24];
        uint64_t r = next_rand();
        p.kind = (mts_peer_kind)(r % 3);
        p.id = (int64_t)((next_rand() >> 24) | 1);
        if (mts_session_get_peer(&p, s, p.kind, p.id) == 0)
            continue;
        p.access_hash = (int64_t)next_rand();
        if (r % 4 == 0) {
            snprintf(name, sizeof(name), "u%llx", (unsigned long long)r);
            p.username = name;
        }
        if (r % 9 == 0) {
            snprintf(phone, sizeof(phone), "+%llu",
                     (unsigned long long)(r % 100000000));
            p.phone = phone;
        }
        T_EQ_INT(mts_session_put_peer(s, &p, NULL), 0);
        have++;
    }
    return s;
}

static void
test_big_random(void)
{
    mts_session *s = random_session(100000, 0);
    size_t kc[3];
    uint64_t kb[3];
    T_EQ_INT(mts__session_peer_kinds(s, kc, kb), 0);
    check_all(s);
    mts_session_free(s);
}

static void
test_big_sorted(void)
{
    mts_session *s = random_session(30000, 1);
    size_t kc[3];
    uint64_t kb[3];
    T_EQ_INT(mts__session_peer_kinds(s, kc, kb), 2);
    check_all(s);
    mts_session_free(s);
}

/* A sink error at the first, second and a middle call (and at the last):
 * the encoder stops there, returns the sink's code as it is and leaves
 * the sink's message alone. */
static void
test_sink_error(void)
{
    mts_session *s = fx_big(20000);
    static const int codes[] = { MTS_EIO, MTS_ENOMEM, MTS_EBACKEND };
    size_t n = (size_t)mts_encoded_size(s), chunk = 4096;
    size_t calls = (n + chunk - 1) / chunk;
    long at[4];
    at[0] = 0;
    at[1] = 1;
    at[2] = (long)calls / 2;
    at[3] = (long)calls - 1;
    for (size_t i = 0; i < MTS__ARRAY_LEN(at); i++)
        for (size_t c = 0; c < MTS__ARRAY_LEN(codes); c++) {
            got g;
            mts_error err = MTS_ERROR_INIT;
            got_init(&g, chunk, n);
            g.fail_at = at[i];
            g.fail_rc = codes[c];
            g.err = &err;
            T_EQ_INT(mts__encode_stream(s, 0, chunk, collect, &g, &err),
                     codes[c]);
            T_EQ_U64(g.calls, (size_t)at[i] + 1);
            T_CONTAINS(err.message, "the sink refused call");
            got_free(&g);
        }
    {
        /* a positive answer is an error too */
        got g;
        got_init(&g, chunk, n);
        g.fail_at = 2;
        g.fail_rc = 5;
        T_EQ_INT(mts__encode_stream(s, 0, chunk, collect, &g, NULL), MTS_EIO);
        T_EQ_U64(g.calls, 3);
        got_free(&g);
    }
    mts_session_free(s);
}

/* Fail each allocation of a stream in turn: MTS_ENOMEM, nothing leaked
 * (fa_live), and the run that fails nothing gives the right bytes. */
static void
test_alloc_failure(void)
{
    mts_session *s = fx_big(3000), *r = random_session(3000, 0);
    mts_session *both[2];
    both[0] = s;
    both[1] = r;
    for (size_t b = 0; b < 2; b++)
        for (long k = 0;; k++) {
            got g;
            mts_error err = MTS_ERROR_INIT;
            long live;
            int rc;
            got_init(&g, 1000, (size_t)mts_encoded_size(both[b]) + 16);
            fa_fail_at = k;
            fa_calls = 0;
            fa_injected = 0;
            live = fa_live;
            mts_set_allocator(&fa_failing);
            rc = mts__encode_stream(both[b], 42, 1000, collect, &g, &err);
            mts_set_allocator(NULL);
            T_EQ_INT(fa_live, live);
            got_free(&g);
            if (!fa_injected) {
                T_EQ_INT(rc, 0);
                check_stream(both[b], 42, 1000);
                break;
            }
            /* the sort has a slower way that needs no memory */
            T_CHECK(rc == MTS_ENOMEM || rc == 0);
        }
    mts_session_free(s);
    mts_session_free(r);
}

static void
test_bad_arguments(void)
{
    mts_session *s = fx_session("small");
    got g;
    got_init(&g, 1, 1);
    T_EQ_INT(mts__encode_stream(NULL, 0, 0, collect, &g, NULL), MTS_EINVAL);
    T_EQ_INT(mts__encode_stream(s, 0, 0, NULL, &g, NULL), MTS_EINVAL);
    T_EQ_U64(g.calls, 0);
    got_free(&g);
    mts_session_free(s);
}

T_MAIN(T_CASE(test_fixtures),
       T_CASE(test_big_split),
       T_CASE(test_big_random),
       T_CASE(test_big_sorted),
       T_CASE(test_sink_error),
       T_CASE(test_alloc_failure),
       T_CASE(test_bad_arguments))
