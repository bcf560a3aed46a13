/*
 * bench_peers.c - the in-memory peer cache: lookup and insert rates, and
 * resident bytes per cached peer, for 1k, 10k, 100k and 1M peers. Writes
 * bench/out/peers.tsv (see bench_common.h):
 *
 *   peer_get  mtsession  N  s       per mts_session_get_peer of a random
 *                                   cached peer (LOOKUPS per run, in a
 *                                   fixed-seed random order)
 *   peer_put  insert     N  s       per mts_session_put_peer of a new
 *                                   peer, filling an empty session up to N
 *                                   peers (no reserve: growth included)
 *   peer_put  replace    N  s       per put_peer of a cached peer with a
 *                                   new access hash
 *   peer_mem  live       N  B/peer  bytes the library holds for the
 *                                   session, counted by a wrapping
 *                                   allocator (mts_set_allocator), minus
 *                                   an empty session, divided by N
 *   peer_mem  heap       N  B/peer  the same from mallinfo2() (includes
 *                                   malloc's own overhead)
 *
 * Memory is measured first, with the counting allocator; it is removed
 * (no session exists then) before anything is timed.
 *
 *   bench_peers [--quick] [--runs N]
 */
#include "bench_common.h"

#include <malloc.h>

#define LOOKUPS 1000000

/* ---- the counting allocator --------------------------------------------- */

/* Each block carries its size in front; 16 bytes keep the alignment. */
#define HDR 16

static size_t g_live;

static void *
count_malloc(size_t size, void *payload)
{
    unsigned char *p = malloc(size + HDR);
    (void)payload;
    if (p == NULL)
        return NULL;
    memcpy(p, &size, sizeof(size));
    g_live += size;
    return p + HDR;
}

static void
count_free(void *ptr, void *payload)
{
    unsigned char *p = ptr;
    size_t size;
    (void)payload;
    if (p == NULL)
        return;
    p -= HDR;
    memcpy(&size, p, sizeof(size));
    g_live -= size;
    free(p);
}

static void *
count_realloc(void *ptr, size_t size, void *payload)
{
    unsigned char *p = ptr, *q;
    size_t old = 0;
    if (p == NULL)
        return count_malloc(size, payload);
    p -= HDR;
    memcpy(&old, p, sizeof(old));
    if ((q = realloc(p, size + HDR)) == NULL)
        return NULL;
    memcpy(q, &size, sizeof(size));
    g_live = g_live - old + size;
    return q + HDR;
}

static size_t
heap_used(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static void
fill(mts_session *s, const bench_peers *ps, size_t n)
{
    mts_error err = MTS_ERROR_INIT;
    int rc;
    for (size_t i = 0; i < n; i++)
        if ((rc = mts_session_put_peer(s, &ps->p[i], &err)) != 0)
            bench_die("put_peer", rc, &err);
}

static void
measure_memory(FILE *out, const bench_opts *o, const bench_peers *ps)
{
    mts_allocator a = { count_malloc, count_realloc, count_free, NULL };
    if (mts_set_allocator(&a) != 0)
        exit(1);
    for (size_t k = 0; k < BENCH_NSIZES; k++) {
        size_t n = bench_sizes[k];
        size_t live0, heap0;
        mts_session *s;
        if (!bench_size_on(o, n))
            continue;
        if (mts_session_new(&s, MTS_NEW_DEFAULT) != 0)
            exit(1);
        /* the empty session's own bytes are not the peers' */
        live0 = g_live;
        heap0 = heap_used();
        fill(s, ps, n);
        bench_value(out, "peer_mem", "live", n,
                    (double)(g_live - live0) / (double)n, "B/peer");
        bench_value(out, "peer_mem", "heap", n,
                    (double)(heap_used() - heap0) / (double)n, "B/peer");
        mts_session_free(s);
    }
    mts_set_allocator(NULL);
}

/* ---- timing ------------------------------------------------------------ */

int
main(int argc, char **argv)
{
    bench_opts o;
    bench_peers ps;
    FILE *out;
    uint64_t sink = 0;
    bench_parse(&o, argc, argv);
    out = bench_tsv_open(&o, "peers");
    bench_peers_make(&ps, bench_sizes[BENCH_NSIZES - 1]);
    printf("## bench_peers\n");
    measure_memory(out, &o, &ps);
    for (size_t k = 0; k < BENCH_NSIZES; k++) {
        size_t n = bench_sizes[k];
        int runs = bench_runs(&o, n);
        double tg[64], ti[64], tr[64];
        size_t *order;
        mts_session *s = NULL;
        uint64_t seed = 42;
        if (!bench_size_on(&o, n))
            continue;
        if (runs > 64)
            runs = 64;
        order = malloc(LOOKUPS * sizeof(size_t));
        if (order == NULL)
            exit(1);
        for (size_t i = 0; i < LOOKUPS; i++)
            order[i] = (size_t)(bench_rand(&seed) % n);
        for (int r = 0; r < runs; r++) {
            double t0, t1;
            mts_session_free(s);
            if (mts_session_new(&s, MTS_NEW_DEFAULT) != 0)
                exit(1);
            t0 = bench_now();
            fill(s, &ps, n);
            ti[r] = (bench_now() - t0) / (double)n;

            t0 = bench_now();
            for (size_t i = 0; i < LOOKUPS; i++) {
                const mts_peer *want = &ps.p[order[i]];
                mts_peer got;
                if (mts_session_get_peer(&got, s, want->kind, want->id) != 0)
                    exit(1);
                sink += (uint64_t)got.access_hash;
            }
            t1 = bench_now();
            tg[r] = (t1 - t0) / LOOKUPS;

            /* replace n/10 cached peers (at least 1000), random order */
            {
                size_t m = n / 10 < 1000 ? 1000 : n / 10;
                mts_error err = MTS_ERROR_INIT;
                t0 = bench_now();
                for (size_t i = 0; i < m; i++) {
                    mts_peer p = ps.p[order[i]];
                    int rc;
                    p.access_hash ^= (int64_t)(r + 1);
                    if (p.kind == MTS_PEER_CHAT)
                        p.access_hash = 0;
                    if ((rc = mts_session_put_peer(s, &p, &err)) != 0)
                        bench_die("put_peer", rc, &err);
                }
                tr[r] = (bench_now() - t0) / (double)m;
            }
        }
        bench_row(out, "peer_get", "mtsession", n, tg, runs, "s");
        bench_row(out, "peer_put", "insert", n, ti, runs, "s");
        bench_row(out, "peer_put", "replace", n, tr, runs, "s");
        mts_session_free(s);
        free(order);
    }
    if (sink == 42)
        printf("\n");
    bench_peers_free(&ps);
    fclose(out);
    return 0;
}
