/*
 * bench_codec.c - encode and decode of the binary format for 1k, 10k,
 * 100k and 1M cached peers, against memcpy of the same bytes as the
 * floor. Prints one line per size: medians of repeated runs.
 *
 *   bench_codec [RUNS]     (default 5)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mtsession/mtsession.h>
#include <mtsession/sys/alloc.h>

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmpd);
    return v[n / 2];
}

static mts_session *
make(size_t n)
{
    mts_session *s;
    char name[32];
    if (mts_session_new(&s, MTS_NEW_DEFAULT) != 0 ||
        mts_session_reserve_peers(s, n) != 0)
        exit(1);
    for (size_t i = 0; i < n; i++) {
        mts_peer p = MTS_PEER_INIT;
        p.kind = (mts_peer_kind)(i % 3);
        p.id = (int64_t)(i / 3) * 7919 + 1000;
        p.access_hash = (int64_t)(i * 0x9E3779B97F4A7C15ULL);
        snprintf(name, sizeof(name), "user%zu", i);
        p.username = i % 4 == 0 ? name : NULL;
        if (mts_session_put_peer(s, &p, NULL) != 0)
            exit(1);
    }
    return s;
}

int
main(int argc, char **argv)
{
    static const size_t sizes[] = { 1000, 10000, 100000, 1000000 };
    int runs = argc > 1 ? atoi(argv[1]) : 5;
    double *te = calloc((size_t)runs, sizeof(double));
    double *td = calloc((size_t)runs, sizeof(double));
    double *tm = calloc((size_t)runs, sizeof(double));
    printf("%-8s %10s %8s %10s %10s %10s %10s %10s\n", "peers", "bytes",
           "B/peer", "encode_ms", "decode_ms", "memcpy_ms", "enc_MB/s",
           "dec_Mpeer/s");
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        mts_session *s = make(sizes[k]);
        uint8_t *enc = NULL, *copy;
        size_t len = 0;
        for (int r = 0; r < runs; r++) {
            mts_session *back;
            double t0 = now();
            mts_free(enc);
            if (mts_encode(&enc, &len, s, NULL) != 0)
                return 1;
            double t1 = now();
            if (mts_decode(&back, enc, len, NULL) != 0)
                return 1;
            double t2 = now();
            copy = malloc(len);
            double t3 = now();
            memcpy(copy, enc, len);
            double t4 = now();
            if (copy[len / 2] != enc[len / 2])
                return 1;
            free(copy);
            mts_session_free(back);
            te[r] = t1 - t0;
            td[r] = t2 - t1;
            tm[r] = t4 - t3;
        }
        double e = median(te, runs), d = median(td, runs),
               m = median(tm, runs);
        printf("%-8zu %10zu %8.1f %10.3f %10.3f %10.3f %10.1f %10.2f\n",
               sizes[k], len, (double)len / (double)sizes[k], e * 1e3,
               d * 1e3, m * 1e3, (double)len / e / 1e6,
               (double)sizes[k] / d / 1e6);
        mts_free(enc);
        mts_session_free(s);
    }
    free(te);
    free(td);
    free(tm);
    return 0;
}
