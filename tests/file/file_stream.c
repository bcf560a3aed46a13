/*
 * file_stream.c - the file backend's streamed save of a big session.
 *
 * A plain snapshot is encoded a chunk at a time straight into the temp
 * file (mts__encode_stream), so a big session takes several writes. Here:
 * a 300k-peer session saves and reloads equal, its file holds exactly
 * mts_encode's bytes (with a GENERATION section once the handle
 * journals); a small session is still one write; and a write that fails
 * or comes up short in the middle of a big save leaves the previous
 * snapshot in place, byte for byte, with no temp file, and an error that
 * names the temp file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"
#include "helpers.h"
#include "internal.h"
#include "mtsession/mtsession.h"
#include "os.h"
#include "t.h"

#define BIG 300000

/* ---- the system-call hook ---------------------------------------------- */

typedef struct hookst {
    long writes;      /* write calls seen */
    long fail_write;  /* the write (from 0) that fails, -1 none */
    long short_write; /* the write that is cut to half, -1 none */
    int errnum;
    int fired;
} hookst;

static int
hook(mts__sys call, size_t *len, void *payload)
{
    hookst *h = payload;
    long i;
    if (call != MTS__SYS_WRITE)
        return 0;
    i = h->writes++;
    if (i == h->fail_write) {
        h->fired = 1;
        return h->errnum;
    }
    if (i == h->short_write && len != NULL && *len > 1) {
        h->fired = 1;
        *len /= 2;
    }
    return 0;
}

static void
hook_start(hookst *h, long fail_write, long short_write, int errnum)
{
    memset(h, 0, sizeof(*h));
    h->fail_write = fail_write;
    h->short_write = short_write;
    h->errnum = errnum;
    mts__os_set_hook(hook, h);
}

static void
hook_stop(void)
{
    mts__os_set_hook(NULL, NULL);
}

/* ---- cases ------------------------------------------------------------- */

static mts_session *g_big;

static const mts_session *
big(void)
{
    if (g_big == NULL)
        g_big = fx_big(BIG);
    T_CHECK(g_big != NULL);
    return g_big;
}

/* The file at path is mts_encode(s), byte for byte. */
static void
check_file_is(const char *path, const mts_session *s)
{
    size_t n;
    uint8_t *e = h_encode(s, &n);
    T_CHECK(h_file_is(path, e, n));
    mts_free(e);
}

static void
test_big_roundtrip(void)
{
    char dir[512], path[600];
    mts_storage *st, *again;
    mts_session *back;
    mts_error err = MTS_ERROR_INIT;
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    hookst h;
    size_t n = (size_t)mts_encoded_size(big());

    h_dir("roundtrip", dir, sizeof(dir));
    h_join(path, sizeof(path), dir, "big.session");
    T_EQ_INT(mts_file_open(&st, path, NULL, &err), 0);
    T_EQ_INT(mts_storage_save(st, big(), &err), 0); /* takes the lock */
    hook_start(&h, -1, -1, 0);
    T_EQ_INT(mts_storage_save(st, big(), &err), 0);
    hook_stop();
    /* streamed: a write per chunk, not one for the whole file (and one
     * more for each of the peer kinds' regions' last, partial chunk) */
    T_CHECK(h.writes >=
            (long)((n + MTS__ENCODE_CHUNK - 1) / MTS__ENCODE_CHUNK));
    T_CHECK(h.writes <=
            (long)((n + MTS__ENCODE_CHUNK - 1) / MTS__ENCODE_CHUNK) + 3);
    check_file_is(path, big());
    T_EQ_INT(mts_file_open(&again, path, NULL, &err), 0);
    back = fx_load(again);
    T_CHECK(back != NULL && mts_session_equal(back, big()));
    mts_session_free(back);

    /* a handle that journals writes its snapshots with an id: the same
     * bytes plus a GENERATION section, and the journal extends it */
    c.kind = MTS_UPDATE_PRIMARY;
    c.state.pts = 77;
    c.state.qts = 1;
    c.state.date = 1700000000;
    c.state.seq = 3;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, &err), 0);
    T_EQ_INT(mts_storage_save(st, big(), &err), 0);
    {
        size_t len = 0;
        uint8_t *d = NULL;
        T_EQ_INT(mts_file_read(&d, &len, path, 0, &err), 0);
        T_EQ_U64(len, n + 16);
        mts_free(d);
    }
    T_EQ_INT(mts_storage_apply_update_state(st, &c, &err), 0);
    back = fx_load(again);
    T_CHECK(back != NULL);
    if (back != NULL) {
        mts_update_state us;
        mts_session_update_state(back, &us);
        T_EQ_INT(us.pts, 77);
        T_EQ_U64(mts_session_peer_count(back), BIG);
    }
    mts_session_free(back);
    mts_storage_free(again);
    mts_storage_free(st);
}

/* A session smaller than a chunk is one write, as before streaming (the
 * exact syscall traces of tests/fault and tests/lease rely on it). */
static void
test_small_one_write(void)
{
    char dir[512], path[600];
    mts_storage *st;
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = h_session(1);
    hookst h;
    h_dir("small", dir, sizeof(dir));
    h_join(path, sizeof(path), dir, "small.session");
    T_EQ_INT(mts_file_open(&st, path, NULL, &err), 0);
    T_EQ_INT(mts_storage_save(st, s, &err), 0); /* takes the lock */
    hook_start(&h, -1, -1, 0);
    T_EQ_INT(mts_storage_save(st, s, &err), 0);
    hook_stop();
    T_EQ_INT(h.writes, 1);
    check_file_is(path, s);
    mts_storage_free(st);
    mts_session_free(s);
}

/* A write that fails in the middle of a big save: the error names the
 * temp file, the old snapshot is still there byte for byte and loads,
 * and no temp file is left. Then a short write in the middle: the save
 * carries on and the new file is complete. */
static void
test_failing_write_keeps_old(void)
{
    static const int errs[] = { ENOSPC, EIO };
    char dir[512], path[600];
    mts_storage *st;
    mts_session *old = h_session(2), *back;
    mts_error err = MTS_ERROR_INIT;
    size_t n = (size_t)mts_encoded_size(big());
    long chunks = (long)((n + MTS__ENCODE_CHUNK - 1) / MTS__ENCODE_CHUNK);
    long at[3];
    hookst h;

    T_CHECK(chunks >= 4);
    at[0] = 1;
    at[1] = chunks / 2;
    at[2] = chunks - 1;
    h_dir("fail", dir, sizeof(dir));
    h_join(path, sizeof(path), dir, "s.session");
    T_EQ_INT(mts_file_open(&st, path, NULL, &err), 0);
    T_EQ_INT(mts_storage_save(st, old, &err), 0);
    for (size_t e = 0; e < MTS__ARRAY_LEN(errs); e++)
        for (size_t i = 0; i < MTS__ARRAY_LEN(at); i++) {
            int fds = h_open_fds();
            err = (mts_error)MTS_ERROR_INIT;
            hook_start(&h, at[i], -1, errs[e]);
            T_EQ_INT(mts_storage_save(st, big(), &err), MTS_EIO);
            hook_stop();
            T_CHECK(h.fired);
            T_EQ_INT(h.writes, at[i] + 1); /* stopped at the failure */
            T_EQ_INT(err.native, errs[e]);
            T_CONTAINS(err.message, "write ");
            T_CONTAINS(err.message, "s.session.tmp.");
            check_file_is(path, old);
            T_EQ_INT(h_count(dir, ".tmp."), 0);
            T_EQ_INT(h_open_fds(), fds);
            back = fx_load(st);
            T_CHECK(back != NULL && mts_session_equal(back, old));
            mts_session_free(back);
        }

    hook_start(&h, -1, chunks / 2, 0);
    T_EQ_INT(mts_storage_save(st, big(), &err), 0);
    hook_stop();
    T_CHECK(h.fired);
    /* the rest of the short one is one more write */
    T_CHECK(h.writes >= chunks + 1 && h.writes <= chunks + 4);
    check_file_is(path, big());
    T_EQ_INT(h_count(dir, ".tmp."), 0);
    mts_storage_free(st);
    mts_session_free(old);
}

static void
test_cleanup(void)
{
    mts_session_free(g_big);
    g_big = NULL;
}

T_MAIN(T_CASE(test_big_roundtrip),
       T_CASE(test_small_one_write),
       T_CASE(test_failing_write_keeps_old),
       T_CASE(test_cleanup))
