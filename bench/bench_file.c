/*
 * bench_file.c - durable save and load through the file backend, each
 * against its floor, for 1k, 10k, 100k and 1M cached peers. Writes
 * bench/out/file.tsv (see bench_common.h):
 *
 *   file_save  mtsession  N  s   mts_storage_save: encode, temp file,
 *                                write, fsync, rename, fsync of the
 *                                directory (the handle holds its lock
 *                                already: the first save is not timed)
 *   file_save  floor      N  s   the same bytes, already encoded, with
 *                                open(O_EXCL) + write + fsync + close +
 *                                rename + fsync of the directory
 *   file_load  mtsession  N  s   mts_storage_load: read (page cache),
 *                                check, decode, build the peer index
 *   file_load  floor      N  s   malloc + memcpy of the same bytes into
 *                                the new buffer + a scan of every 8 bytes
 *   file_save  encode     N  s   mts_encode alone, and
 *   file_load  decode     N  s   mts_decode alone, timed in the same runs:
 *                                the CPU share of a save and of a load
 *   file_size  bytes      N  B   the file's size
 *
 * Saves and floors alternate within each run, so both see the same disk.
 * The store lives in bench/out/tmp (the file system under test).
 *
 *   bench_file [--quick] [--runs N]
 */
#include "bench_common.h"

#include <fcntl.h>
#include <unistd.h>

static volatile uint64_t g_sink;

static void
write_all(int fd, const uint8_t *p, size_t len, const char *path)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            bench_die_errno("write", path);
        }
        p += w;
        len -= (size_t)w;
    }
}

/* The floor of a durable save: what write_atomic does, without encoding,
 * locking or cleanup. */
static void
raw_replace(const char *path, const char *dir, const uint8_t *data,
            size_t len)
{
    char tmp[1100];
    int fd, dfd;
    bench_join(tmp, sizeof(tmp), path, ".tmp");
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        bench_die_errno("open", tmp);
    write_all(fd, data, len, tmp);
    if (fsync(fd) != 0)
        bench_die_errno("fsync", tmp);
    if (close(fd) != 0)
        bench_die_errno("close", tmp);
    if (rename(tmp, path) != 0)
        bench_die_errno("rename", tmp);
    if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        bench_die_errno("open", dir);
    if (fsync(dfd) != 0)
        bench_die_errno("fsync", dir);
    close(dfd);
}

/* The floor of a load: copy into fresh memory and touch every word. */
static void
copy_and_scan(const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len);
    uint64_t sum = 0;
    size_t i;
    if (copy == NULL)
        exit(1);
    memcpy(copy, data, len);
    for (i = 0; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, copy + i, 8);
        sum += w;
    }
    for (; i < len; i++)
        sum += copy[i];
    g_sink += sum;
    free(copy);
}

int
main(int argc, char **argv)
{
    bench_opts o;
    bench_peers ps;
    FILE *out;
    char path[1024], floor_path[1024], dir[1024];
    bench_parse(&o, argc, argv);
    out = bench_tsv_open(&o, "file");
    bench_tmp_path(path, sizeof(path), &o, "file.mts");
    bench_tmp_path(floor_path, sizeof(floor_path), &o, "file-floor.bin");
    bench_join(dir, sizeof(dir), o.out_dir, "/tmp");
    bench_peers_make(&ps, bench_sizes[BENCH_NSIZES - 1]);
    printf("## bench_file\n");
    for (size_t k = 0; k < BENCH_NSIZES; k++) {
        size_t n = bench_sizes[k];
        int runs = bench_runs(&o, n);
        double ts[64], tf[64], tl[64], tc[64], te[64], td[64];
        mts_storage *st;
        mts_session *s;
        mts_error err = MTS_ERROR_INIT;
        uint8_t *bytes = NULL;
        size_t len = 0;
        int rc;
        if (!bench_size_on(&o, n))
            continue;
        if (runs > 64)
            runs = 64;
        unlink(path);
        unlink(floor_path);
        s = bench_session(&ps, n);
        if ((rc = mts_file_open(&st, path, NULL, &err)) != 0 ||
            (rc = mts_storage_save(st, s, &err)) != 0)
            bench_die("file save", rc, &err);
        if ((rc = mts_file_read(&bytes, &len, path, 0, &err)) != 0)
            bench_die("file read", rc, &err);
        raw_replace(floor_path, dir, bytes, len);
        for (int r = 0; r < runs; r++) {
            double t0 = bench_now(), t1, t2, t3;
            uint8_t *enc = NULL;
            size_t enc_len = 0;
            if ((rc = mts_storage_save(st, s, &err)) != 0)
                bench_die("file save", rc, &err);
            t1 = bench_now();
            raw_replace(floor_path, dir, bytes, len);
            t2 = bench_now();
            if ((rc = mts_encode(&enc, &enc_len, s, &err)) != 0)
                bench_die("encode", rc, &err);
            t3 = bench_now();
            mts_free(enc);
            ts[r] = t1 - t0;
            tf[r] = t2 - t1;
            te[r] = t3 - t2;
        }
        for (int r = 0; r < runs; r++) {
            mts_session *back, *dec;
            double t0 = bench_now(), t1, t2, t3;
            if ((rc = mts_storage_load(&back, st, &err)) != 0)
                bench_die("file load", rc, &err);
            t1 = bench_now();
            copy_and_scan(bytes, len);
            t2 = bench_now();
            if ((rc = mts_decode(&dec, bytes, len, &err)) != 0)
                bench_die("decode", rc, &err);
            t3 = bench_now();
            mts_session_free(dec);
            td[r] = t3 - t2;
            if (mts_session_peer_count(back) != n) {
                fprintf(stderr, "bench: loaded %zu peers, not %zu\n",
                        mts_session_peer_count(back), n);
                return 1;
            }
            mts_session_free(back);
            tl[r] = t1 - t0;
            tc[r] = t2 - t1;
        }
        bench_row(out, "file_save", "mtsession", n, ts, runs, "s");
        bench_row(out, "file_save", "floor", n, tf, runs, "s");
        bench_row(out, "file_load", "mtsession", n, tl, runs, "s");
        bench_row(out, "file_load", "floor", n, tc, runs, "s");
        bench_row(out, "file_save", "encode", n, te, runs, "s");
        bench_row(out, "file_load", "decode", n, td, runs, "s");
        bench_value(out, "file_size", "bytes", n, (double)len, "B");
        mts_free(bytes);
        mts_storage_free(st);
        mts_session_free(s);
    }
    unlink(path);
    unlink(floor_path);
    strncat(path, ".lock", sizeof(path) - strlen(path) - 1);
    unlink(path);
    bench_peers_free(&ps);
    fclose(out);
    return 0;
}
