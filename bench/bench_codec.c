/*
 * bench_codec.c - encode and decode of the binary format for 1k, 10k,
 * 100k and 1M cached peers, against memcpy of the same bytes as the
 * floor. Writes bench/out/codec.tsv (see bench_common.h):
 *
 *   codec  encode|decode|memcpy  N  ...  s    one whole session
 *   codec  bytes                 N  ...  B    the encoded size
 *
 * Each run encodes into a new buffer, decodes into a new session and
 * copies into a new buffer, so all three pay for fresh memory alike.
 *
 *   bench_codec [--quick] [--runs N]
 */
#include "bench_common.h"

int
main(int argc, char **argv)
{
    bench_opts o;
    bench_peers ps;
    FILE *out;
    bench_parse(&o, argc, argv);
    out = bench_tsv_open(&o, "codec");
    bench_peers_make(&ps, bench_sizes[BENCH_NSIZES - 1]);
    printf("## bench_codec\n");
    for (size_t k = 0; k < BENCH_NSIZES; k++) {
        size_t n = bench_sizes[k];
        int runs = bench_runs(&o, n);
        double te[64], td[64], tm[64];
        mts_session *s;
        size_t len = 0;
        if (!bench_size_on(&o, n))
            continue;
        if (runs > 64)
            runs = 64;
        s = bench_session(&ps, n);
        for (int r = 0; r < runs; r++) {
            mts_session *back;
            uint8_t *enc = NULL, *copy;
            mts_error err = MTS_ERROR_INIT;
            double t0, t1, t2, t3, t4;
            int rc;
            t0 = bench_now();
            if ((rc = mts_encode(&enc, &len, s, &err)) != 0)
                bench_die("encode", rc, &err);
            t1 = bench_now();
            if ((rc = mts_decode(&back, enc, len, &err)) != 0)
                bench_die("decode", rc, &err);
            t2 = bench_now();
            copy = malloc(len);
            t3 = bench_now();
            memcpy(copy, enc, len);
            t4 = bench_now();
            if (copy == NULL || copy[len / 2] != enc[len / 2] ||
                mts_session_peer_count(back) != n)
                return 1;
            free(copy);
            mts_session_free(back);
            mts_free(enc);
            te[r] = t1 - t0;
            td[r] = t2 - t1;
            tm[r] = t4 - t3;
        }
        bench_row(out, "codec", "encode", n, te, runs, "s");
        bench_row(out, "codec", "decode", n, td, runs, "s");
        bench_row(out, "codec", "memcpy", n, tm, runs, "s");
        bench_value(out, "codec", "bytes", n, (double)len, "B");
        mts_session_free(s);
    }
    bench_peers_free(&ps);
    fclose(out);
    return 0;
}
