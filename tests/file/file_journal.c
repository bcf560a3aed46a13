/*
 * file_journal.c - the file backend's update journal: apply_update_state
 * writes only the journal and a load replays it; saves and threshold
 * folds empty it; torn tails at every byte are ignored and damage before
 * an intact durable record is an error naming the journal and offset; a
 * journal left stale by a crash between a save's rename and the journal's
 * reset is ignored (the process ends at that very system call); group
 * commit syncs once per N changes and on free; sealed stores; options;
 * the GENERATION section in the codec; the documented vector.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/backends/journal.h"
#include "helpers.h"
#include "journal_helpers.h"
#include "mtsession/mtsession.h"
#include "mtsession/sys/alloc.h"
#include "t.h"

#define HDR 24

/* Bytes of the record of change i of the stream. */
static long
rec_size(long i)
{
    switch (i % 7) {
    case 1:
        return 20;
    case 6:
        return 36 + 3 * 12;
    default:
        return 28;
    }
}

static int
apply_i(mts_storage *st, long i, mts_error *e)
{
    mts_update_change c;
    mts_channel_pts chans[3];
    j_change(i, &c, chans);
    return mts_storage_apply_update_state(st, &c, e);
}

/* A session to start from, and it with changes [0, n) applied. */
static mts_session *
model(int variant, long n)
{
    mts_session *s = h_session(variant);
    j_apply(s, 0, n);
    return s;
}

static uint8_t *
slurp(const char *path, size_t *len)
{
    uint8_t *p = t_read_file(path, len);
    if (p == NULL) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    return p;
}

/* A store holding h_session(1) plus changes [0, n), the journal holding
 * changes [1, n) (change 0 is the fold that gave the snapshot its id). */
static void
make_store(const char *path, long n)
{
    mts_storage *st = NULL;
    mts_session *a = h_session(1);
    mts_error e = MTS_ERROR_INIT;
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    T_EQ_INT(mts_storage_save(st, a, &e), 0);
    for (long i = 0; i < n; i++)
        T_EQ_INT(apply_i(st, i, &e), 0);
    mts_storage_free(st);
    mts_session_free(a);
}

/* ---- the journal takes the changes -------------------------------------- */

static void
test_apply_writes_only_journal(void)
{
    char d[PATH_MAX], path[PATH_MAX], jp[PATH_MAX];
    mts_session *a = h_session(1), *want, *got = NULL;
    mts_storage *st = NULL;
    mts_error e = MTS_ERROR_INIT;
    uint8_t *aenc, *snap;
    size_t alen, slen;
    struct stat sb;
    long jsize;
    mode_t old = umask(0);

    h_dir("only-journal", d, sizeof(d));
    h_join(path, sizeof(path), d, "s.session");
    j_journal(jp, sizeof(jp), path);
    aenc = h_encode(a, &alen);
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    T_EQ_INT(mts_storage_save(st, a, &e), 0);
    /* A handle that never used the journal writes mts_encode's bytes. */
    T_CHECK(h_file_is(path, aenc, alen));
    T_EQ_INT(j_size(jp), -1);

    /* The first change folds: the snapshot gets an id (16 bytes more),
     * the journal its header. */
    T_EQ_INT(apply_i(st, 0, &e), 0);
    want = model(1, 1);
    {
        size_t wlen;
        uint8_t *wenc = h_encode(want, &wlen);
        T_EQ_INT(j_size(path), (long)wlen + 16);
        mts_free(wenc);
    }
    T_EQ_INT(j_size(jp), HDR);
    T_EQ_INT(stat(jp, &sb), 0);
    T_EQ_INT(sb.st_mode & 07777, 0600);
    snap = slurp(path, &slen);
    /* The codec reads the GENERATION section and leaves it out of the
     * session. */
    T_EQ_INT(mts_decode(&got, snap, slen, &e), 0);
    T_CHECK(got != NULL && mts_session_equal(got, want));
    mts_session_free(got);
    T_CHECK(mts__snapshot_id(snap, slen) != 0);

    /* Every further change: the snapshot's bytes stay, the journal grows
     * by exactly one record. */
    jsize = HDR;
    for (long i = 1; i <= 20; i++) {
        T_EQ_INT(apply_i(st, i, &e), 0);
        jsize += rec_size(i);
        T_CHECK(h_file_is(path, snap, slen));
        T_EQ_INT(j_size(jp), jsize);
    }
    mts_session_free(want);
    want = model(1, 21);
    /* Loads replay the journal: through this handle and a fresh one. */
    T_EQ_INT(mts_storage_load(&got, st, &e), 0);
    T_CHECK(got != NULL && mts_session_equal(got, want));
    mts_session_free(got);
    T_CHECK(j_holds(path, want));
    /* Session, lock and journal; no temp file. */
    T_EQ_INT(h_entries(d), 3);
    mts_storage_free(st);

    /* Another handle goes on appending to the same journal. */
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    T_EQ_INT(apply_i(st, 21, &e), 0);
    T_CHECK(h_file_is(path, snap, slen));
    T_EQ_INT(j_size(jp), jsize + rec_size(21));
    mts_storage_free(st);
    j_apply(want, 21, 22);
    T_CHECK(j_holds(path, want));

    umask(old);
    free(snap);
    mts_free(aenc);
    mts_session_free(a);
    mts_session_free(want);
}

static void
test_save_empties_journal(void)
{
    char d[PATH_MAX], path[PATH_MAX], jp[PATH_MAX];
    mts_session *b = h_session(2), *got = NULL;
    mts_storage *st = NULL;
    mts_error e = MTS_ERROR_INIT;
    uint8_t *snap;
    size_t slen;

    h_dir("save-empties", d, sizeof(d));
    h_join(path, sizeof(path), d, "s.session");
    j_journal(jp, sizeof(jp), path);
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    T_EQ_INT(mts_storage_save(st, b, &e), 0);
    for (long i = 0; i < 10; i++)
        T_EQ_INT(apply_i(st, i, &e), 0);
    T_CHECK(j_size(jp) > HDR);
    /* The save writes the snapshot and empties the journal. */
    T_EQ_INT(mts_storage_save(st, b, &e), 0);
    T_EQ_INT(j_size(jp), HDR);
    T_CHECK(j_holds(path, b));
    snap = slurp(path, &slen);
    T_EQ_INT(mts_decode(&got, snap, slen, &e), 0);
    T_CHECK(got != NULL && mts_session_equal(got, b));
    mts_session_free(got);
    /* Appends go on after it, against the new snapshot. */
    T_EQ_INT(apply_i(st, 100, &e), 0);
    T_EQ_INT(j_size(jp), HDR + rec_size(100));
    T_CHECK(h_file_is(path, snap, slen));
    j_apply(b, 100, 101);
    T_CHECK(j_holds(path, b));
    /* The other granular changes load, change and save: the journal is
     * emptied by that save too. */
    {
        mts_peer p = MTS_PEER_INIT;
        p.id = 4242;
        p.access_hash = 77;
        T_EQ_INT(mts_storage_cache_peer(st, &p, &e), 0);
        T_EQ_INT(mts_session_put_peer(b, &p, NULL), 0);
        T_EQ_INT(j_size(jp), HDR);
        T_CHECK(!h_file_is(path, snap, slen));
        T_EQ_INT(apply_i(st, 101, &e), 0);
        j_apply(b, 101, 102);
        T_CHECK(j_holds(path, b));
    }
    mts_storage_free(st);

    /* A handle that never journals removes the journal when it saves,
     * and writes exactly mts_encode's bytes. */
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    T_EQ_INT(mts_storage_save(st, b, &e), 0);
    T_EQ_INT(j_size(jp), -1);
    {
        size_t blen;
        uint8_t *benc = h_encode(b, &blen);
        T_CHECK(h_file_is(path, benc, blen));
        mts_free(benc);
    }
    T_CHECK(j_holds(path, b));
    mts_storage_free(st);
    free(snap);
    mts_session_free(b);
}

static void
test_threshold_fold(void)
{
    char d[PATH_MAX], path[PATH_MAX], jp[PATH_MAX];
    mts_session *want = h_session(3);
    mts_storage *st = NULL;
    mts_error e = MTS_ERROR_INIT;
    uint8_t *snap = NULL;
    size_t slen = 0;
    int folds = 0;

    h_dir("threshold", d, sizeof(d));
    h_join(path, sizeof(path), d, "s.session");
    j_journal(jp, sizeof(jp), path);
    T_EQ_INT(j_open(&st, path, 200, 0, 0, &e), 0);
    T_EQ_INT(mts_storage_save(st, want, &e), 0);
    for (long i = 0; i < 120 && !t_case_failed; i++) {
        size_t n;
        uint8_t *now;
        T_EQ_INT(apply_i(st, i, &e), 0);
        j_apply(want, i, i + 1);
        /* Never past the maximum; a change that would pass it is a fold. */
        T_CHECK(j_size(jp) <= 200);
        now = slurp(path, &n);
        if (snap == NULL || n != slen || memcmp(now, snap, n) != 0) {
            folds++;
            T_EQ_INT(j_size(jp), HDR); /* a fold leaves an empty journal */
        }
        free(snap);
        snap = now;
        slen = n;
        if (i % 10 == 9)
            T_CHECK(j_holds(path, want));
    }
    /* About one fold per 176 bytes of records (6 records). */
    T_CHECK(folds >= 15 && folds <= 30);
    mts_storage_free(st);
    T_CHECK(j_holds(path, want));
    free(snap);
    mts_session_free(want);
}

/* ---- torn tails and damage ---------------------------------------------- */

static void
test_torn_tail_every_offset(void)
{
    char d[PATH_MAX], path[PATH_MAX], jp[PATH_MAX];
    mts_session *before = model(1, 9), *all = model(1, 10);
    mts_error e = MTS_ERROR_INIT;
    uint8_t *j;
    size_t jlen;
    long last;

    h_dir("torn", d, sizeof(d));
    h_join(path, sizeof(path), d, "s.session");
    j_journal(jp, sizeof(jp), path);
    make_store(path, 10);
    j = slurp(jp, &jlen);
    last = (long)jlen - rec_size(9);
    T_CHECK(h_file_is(jp, j, jlen));
    T_CHECK(j_holds(path, all));
    /* Cut inside the last record at every byte: the state before it. */
    for (long cut = last; cut < (long)jlen && !t_case_failed; cut++) {
        T_EQ_INT(t_write_file(jp, j, (size_t)cut), 0);
        T_CHECK(j_holds(path, before));
        /* A load reads only: the journal is as it was. */
        T_CHECK(h_file_is(jp, j, (size_t)cut));
        if (t_case_failed)
            fprintf(stderr, "  cut at %ld of %zu\n", cut, jlen);
    }
    /* A last record that never reached the disk as data (zeros), or
     * whose bytes are garbage: the state before it. */
    {
        uint8_t *z = malloc(jlen);
        memcpy(z, j, jlen);
        memset(z + last, 0, (size_t)((long)jlen - last));
        T_EQ_INT(t_write_file(jp, z, jlen), 0);
        T_CHECK(j_holds(path, before));
        for (long k = last; k < (long)jlen; k++)
            z[k] = (uint8_t)(0xA5 ^ k);
        T_EQ_INT(t_write_file(jp, z, jlen), 0);
        T_CHECK(j_holds(path, before));
        free(z);
    }
    /* A writer cuts the torn tail off before it appends: the next record
     * does not follow a damaged one. */
    {
        mts_storage *st = NULL;
        mts_update_change c = MTS_UPDATE_CHANGE_INIT;
        T_EQ_INT(t_write_file(jp, j, (size_t)(last + 5)), 0);
        T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
        c.kind = MTS_UPDATE_SECONDARY;
        c.state.qts = 31337;
        T_EQ_INT(mts_storage_apply_update_state(st, &c, &e), 0);
        mts_storage_free(st);
        T_EQ_INT(j_size(jp), last + 20);
        T_EQ_INT(mts_session_apply_update(before, &c), 0);
        T_CHECK(j_holds(path, before));
    }
    free(j);
    mts_session_free(before);
    mts_session_free(all);
}

static void
test_damage_is_corruption(void)
{
    char d[PATH_MAX], path[PATH_MAX], jp[PATH_MAX], want[PATH_MAX + 64];
    mts_session *got = NULL, *before = model(1, 9);
    mts_error e = MTS_ERROR_INIT;
    uint8_t *j, *bad;
    size_t jlen;
    long at = HDR, checked = 0;

    h_dir("damage", d, sizeof(d));
    h_join(path, sizeof(path), d, "s.session");
    j_journal(jp, sizeof(jp), path);
    make_store(path, 10);
    j = slurp(jp, &jlen);
    bad = malloc(jlen);
    /* Records 1..8 are in the middle: one flipped bit anywhere in one is
     * MTS_ECORRUPT at that record, naming the journal. */
    for (long i = 1; i < 9 && !t_case_failed; i++) {
        for (long k = 0; k < rec_size(i) && !t_case_failed; k++) {
            int rc;
            memcpy(bad, j, jlen);
            bad[at + k] ^= (uint8_t)(1u << (k % 8));
            T_EQ_INT(t_write_file(jp, bad, jlen), 0);
            rc = j_load(&got, path, &e);
            T_EQ_INT(rc, MTS_ECORRUPT);
            T_EQ_INT(e.offset, at);
            snprintf(want, sizeof(want), "%s: record at byte %ld: ", jp, at);
            T_CHECK(strncmp(e.message, want, strlen(want)) == 0);
            T_CONTAINS(e.message, "corrupt");
            if (t_case_failed)
                fprintf(stderr, "  record %ld byte %ld: %s\n", i, k,
                        e.message);
            mts_session_free(got);
            got = NULL;
            checked++;
        }
        at += rec_size(i);
    }
    T_CHECK(checked > 150);
    /* The last record damaged: never acknowledged as far as anyone can
     * tell, so the state before it. */
    for (long k = 0; k < rec_size(9); k++) {
        memcpy(bad, j, jlen);
        bad[at + k] ^= 0x10;
        T_EQ_INT(t_write_file(jp, bad, jlen), 0);
        T_CHECK(j_holds(path, before));
    }
    /* The header damaged while records follow: corrupt at byte 0. */
    for (long k = 0; k < HDR; k++) {
        memcpy(bad, j, jlen);
        bad[k] ^= 0x01;
        T_EQ_INT(t_write_file(jp, bad, jlen), 0);
        T_EQ_INT(j_load(&got, path, &e), MTS_ECORRUPT);
        T_EQ_INT(e.offset, 0);
        T_CONTAINS(e.message, jp);
    }
    /* A damaged journal stops changes too; a save repairs the store. */
    {
        mts_storage *st = NULL;
        mts_session *b = h_session(5);
        T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
        T_EQ_INT(apply_i(st, 50, &e), MTS_ECORRUPT);
        T_EQ_INT(mts_storage_save(st, b, &e), 0);
        T_EQ_INT(apply_i(st, 50, &e), 0);
        mts_storage_free(st);
        j_apply(b, 50, 51);
        T_CHECK(j_holds(path, b));
        mts_session_free(b);
    }
    free(bad);
    free(j);
    mts_session_free(before);
}

/* In group commit, damage among records written before the next sync is
 * what a power loss can leave: the records from it on are dropped. With
 * every record synced, the same damage is corruption. */
static void
test_unsynced_damage_is_torn(void)
{
    char d[PATH_MAX], path[PATH_MAX], jp[PATH_MAX];
    mts_storage *st = NULL;
    mts_session *a = h_session(1), *got = NULL;
    mts_error e = MTS_ERROR_INIT;
    uint8_t *j;
    size_t jlen;
    long third;

    h_dir("unsynced", d, sizeof(d));
    h_join(path, sizeof(path), d, "s.session");
    j_journal(jp, sizeof(jp), path);
    T_EQ_INT(j_open(&st, path, 0, 100, 3600000, &e), 0);
    T_EQ_INT(mts_storage_save(st, a, &e), 0);
    for (long i = 0; i < 7; i++)
        T_EQ_INT(apply_i(st, i, &e), 0);
    mts_storage_free(st); /* syncs */
    j = slurp(jp, &jlen);
    third = HDR + rec_size(1) + rec_size(2);
    j[third + 14] ^= 0x40;
    T_EQ_INT(t_write_file(jp, j, jlen), 0);
    mts_session_free(a);
    a = model(1, 3); /* the fold's change 0, then records 1 and 2 */
    T_CHECK(j_holds(path, a));
    free(j);

    /* The same in durable mode. */
    h_join(path, sizeof(path), d, "durable.session");
    j_journal(jp, sizeof(jp), path);
    make_store(path, 7);
    j = slurp(jp, &jlen);
    j[third + 14] ^= 0x40;
    T_EQ_INT(t_write_file(jp, j, jlen), 0);
    T_EQ_INT(j_load(&got, path, &e), MTS_ECORRUPT);
    T_EQ_INT(e.offset, third);
    free(j);
    mts_session_free(a);
}

/* ---- a crash between a save's rename and the journal's reset ------------ */

/*
 * The child saves `b` through a handle that has (journaled) or has not
 * used the journal, and ends at system call n of that save. The store
 * must then load as the old session or as b: never an error, never the
 * old journal replayed over the new snapshot.
 */
static void
crash_in_save(int journaled)
{
    char d[PATH_MAX], path[PATH_MAX], jp[PATH_MAX], name[32];
    mts_session *old = model(1, journaled ? 9 : 8), *b = h_session(7);
    uint8_t *snap0, *j0;
    size_t slen0, jlen0;
    int window = 0, done = 0;

    snprintf(name, sizeof(name), "stale-%d", journaled);
    h_dir(name, d, sizeof(d));
    h_join(path, sizeof(path), d, "s.session");
    j_journal(jp, sizeof(jp), path);
    make_store(path, 8);
    snap0 = slurp(path, &slen0);
    j0 = slurp(jp, &jlen0);

    for (long n = 0; n < 64 && !done && !t_case_failed; n++) {
        int status = 0;
        pid_t pid;
        T_EQ_INT(t_write_file(path, snap0, slen0), 0);
        T_EQ_INT(t_write_file(jp, j0, jlen0), 0);
        fflush(NULL);
        pid = fork();
        if (pid == 0) {
            mts_storage *st = NULL;
            j_hook h;
            if (mts_file_open(&st, path, NULL, NULL) != 0)
                _exit(3);
            if (journaled && apply_i(st, 8, NULL) != 0)
                _exit(4);
            j_hook_start(&h, J_EXIT, n, 0);
            if (mts_storage_save(st, b, NULL) != 0)
                _exit(5);
            _exit(7); /* call n never came */
        }
        T_EQ_INT(waitpid(pid, &status, 0), pid);
        T_CHECK(WIFEXITED(status));
        done = WEXITSTATUS(status) == 7;
        T_CHECK(WEXITSTATUS(status) == 0 || done);
        {
            mts_session *got = NULL;
            mts_error e = MTS_ERROR_INIT;
            int rc = j_load(&got, path, &e);
            T_EQ_INT(rc, 0);
            if (rc != 0)
                fprintf(stderr, "  n=%ld: %s\n", n, e.message);
            if (got != NULL) {
                int is_old = mts_session_equal(got, old);
                int is_new = mts_session_equal(got, b);
                T_CHECK(is_old || is_new);
                if (done)
                    T_CHECK(is_new);
                /* The window: the new snapshot is in place while the
                 * journal still holds the old records. */
                if (is_new && j_size(jp) > HDR)
                    window++;
            }
            mts_session_free(got);
        }
    }
    T_CHECK(done);
    T_CHECK(window > 0);
    free(snap0);
    free(j0);
    mts_session_free(old);
    mts_session_free(b);
}

static void
test_stale_journal_after_crash_journaled(void)
{
    crash_in_save(1);
}

static void
test_stale_journal_after_crash_plain(void)
{
    crash_in_save(0);
}

/* A stale journal (another snapshot's id) is ignored by loads and
 * replaced by the next writer. */
static void
test_stale_journal_replaced(void)
{
    char d[PATH_MAX], path[PATH_MAX], jp[PATH_MAX];
    mts_session *b = h_session(8);
    mts_storage *st = NULL;
    mts_error e = MTS_ERROR_INIT;
    uint8_t *j0;
    size_t jlen0;
    h_dir("stale-replaced", d, sizeof(d));
    h_join(path, sizeof(path), d, "s.session");
    j_journal(jp, sizeof(jp), path);
    make_store(path, 6);
    j0 = slurp(jp, &jlen0);
    /* A journaling handle saves b; then the old journal comes back (as if
     * its reset had not reached the disk). */
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    T_EQ_INT(apply_i(st, 6, &e), 0);
    T_EQ_INT(mts_storage_save(st, b, &e), 0);
    mts_storage_free(st);
    T_EQ_INT(t_write_file(jp, j0, jlen0), 0);
    T_CHECK(j_holds(path, b));
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    T_EQ_INT(apply_i(st, 40, &e), 0);
    mts_storage_free(st);
    T_EQ_INT(j_size(jp), HDR + rec_size(40));
    j_apply(b, 40, 41);
    T_CHECK(j_holds(path, b));
    free(j0);
    mts_session_free(b);
}

/* ---- a reader racing a save --------------------------------------------- */

typedef struct race {
    long opens;
    int fired;
    mts_storage *writer;
    const mts_session *b;
} race;

static int
race_hook(mts__sys call, size_t *len, void *payload)
{
    race *r = payload;
    (void)len;
    /* The reader's second open is the journal's: save just before it. */
    if (call == MTS__SYS_OPEN && ++r->opens == 2 && !r->fired) {
        r->fired = 1;
        mts__os_set_hook(NULL, NULL);
        if (mts_storage_save(r->writer, r->b, NULL) != 0)
            r->fired = -1;
        mts__os_set_hook(race_hook, r);
    }
    return 0;
}

static void
test_reader_rereads_after_replace(void)
{
    char d[PATH_MAX], path[PATH_MAX];
    mts_session *b = h_session(9), *got = NULL;
    mts_storage *w = NULL, *rd = NULL;
    mts_error e = MTS_ERROR_INIT;
    race r;
    h_dir("race", d, sizeof(d));
    h_join(path, sizeof(path), d, "s.session");
    T_EQ_INT(mts_file_open(&w, path, NULL, &e), 0);
    T_EQ_INT(mts_storage_save(w, b, &e), 0);
    for (long i = 0; i < 5; i++)
        T_EQ_INT(apply_i(w, i, &e), 0);
    T_EQ_INT(mts_file_open(&rd, path, NULL, &e), 0);
    memset(&r, 0, sizeof(r));
    r.writer = w;
    r.b = b;
    mts__os_set_hook(race_hook, &r);
    T_EQ_INT(mts_storage_load(&got, rd, &e), 0);
    mts__os_set_hook(NULL, NULL);
    T_EQ_INT(r.fired, 1);
    /* Not the old snapshot without its journal: the new one. */
    T_CHECK(got != NULL && mts_session_equal(got, b));
    mts_session_free(got);
    mts_storage_free(rd);
    mts_storage_free(w);
    mts_session_free(b);
}

/* ---- group commit ------------------------------------------------------- */

static void
test_group_commit_syncs(void)
{
    char d[PATH_MAX], path[PATH_MAX];
    mts_session *want = h_session(4);
    mts_storage *st = NULL;
    mts_error e = MTS_ERROR_INIT;
    j_hook h;

    h_dir("group", d, sizeof(d));
    h_join(path, sizeof(path), d, "s.session");
    T_EQ_INT(j_open(&st, path, 0, 100, 3600000, &e), 0);
    T_EQ_INT(mts_storage_save(st, want, &e), 0);
    T_EQ_INT(apply_i(st, 0, &e), 0); /* the first change folds */
    j_hook_start(&h, J_COUNT, -1, 0);
    for (long i = 1; i <= 1000; i++)
        T_EQ_INT(apply_i(st, i, &e), 0);
    j_hook_stop();
    /* One write per change, one sync per 100 changes, nothing else. */
    T_EQ_INT(h.by_kind[MTS__SYS_WRITE], 1000);
    T_EQ_INT(h.by_kind[MTS__SYS_FSYNC], 10);
    T_EQ_INT(h.count, 1010);

    j_hook_start(&h, J_COUNT, -1, 0);
    for (long i = 1001; i <= 1050; i++)
        T_EQ_INT(apply_i(st, i, &e), 0);
    T_EQ_INT(h.by_kind[MTS__SYS_FSYNC], 0);
    /* What is pending is synced on free. */
    mts_storage_free(st);
    j_hook_stop();
    T_EQ_INT(h.by_kind[MTS__SYS_FSYNC], 1);
    j_apply(want, 0, 1051);
    T_CHECK(j_holds(path, want));

    /* And when a call finds the oldest pending change old enough. */
    T_EQ_INT(j_open(&st, path, 0, 1000, 40, &e), 0);
    T_EQ_INT(apply_i(st, 2000, &e), 0); /* starts the journal: synced */
    j_hook_start(&h, J_COUNT, -1, 0);
    T_EQ_INT(apply_i(st, 2001, &e), 0);
    T_EQ_INT(h.by_kind[MTS__SYS_FSYNC], 0);
    usleep(60000);
    T_EQ_INT(apply_i(st, 2002, &e), 0);
    T_EQ_INT(h.by_kind[MTS__SYS_FSYNC], 1);
    j_hook_stop();
    mts_storage_free(st);
    j_apply(want, 2000, 2003);
    T_CHECK(j_holds(path, want));

    /* Durable (the default): exactly one write and one sync per change. */
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    T_EQ_INT(apply_i(st, 3000, &e), 0);
    j_hook_start(&h, J_COUNT, -1, 0);
    for (long i = 3001; i <= 3100; i++)
        T_EQ_INT(apply_i(st, i, &e), 0);
    j_hook_stop();
    T_EQ_INT(h.count, 200);
    for (long k = 0; k < 200 && k < h.count; k++)
        T_EQ_INT(h.trace[k], k % 2 ? MTS__SYS_FSYNC : MTS__SYS_WRITE);
    mts_storage_free(st);
    j_apply(want, 3000, 3101);
    T_CHECK(j_holds(path, want));
    mts_session_free(want);
}

/* ---- sealed stores ------------------------------------------------------ */

static void
test_sealed_store(void)
{
    char d[PATH_MAX], path[PATH_MAX], jp[PATH_MAX];
    uint8_t key[MTS_SEAL_KEY_SIZE];
    mts_secret *secret = NULL;
    mts_file_options o = MTS_FILE_OPTIONS_INIT;
    mts_session *want = h_session(6), *got = NULL;
    mts_storage *st = NULL;
    mts_error e = MTS_ERROR_INIT;
    mts_dc dc;
    uint8_t *snap, *j;
    size_t slen, jlen;

    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)(i * 3 + 1);
    T_EQ_INT(mts_secret_from_key(&secret, key, &e), 0);
    o.secret = secret;
    h_dir("sealed", d, sizeof(d));
    h_join(path, sizeof(path), d, "s.session");
    j_journal(jp, sizeof(jp), path);
    T_EQ_INT(mts_file_open(&st, path, &o, &e), 0);
    T_EQ_INT(mts_storage_save(st, want, &e), 0);
    snap = slurp(path, &slen);
    T_CHECK(mts_is_sealed(snap, slen));
    /* A sealed snapshot's id is its nonce: no fold is needed. */
    for (long i = 0; i < 15; i++)
        T_EQ_INT(apply_i(st, i, &e), 0);
    T_CHECK(h_file_is(path, snap, slen));
    mts_storage_free(st);
    j_apply(want, 0, 15);
    T_EQ_INT(mts_file_open(&st, path, &o, &e), 0);
    T_EQ_INT(mts_storage_load(&got, st, &e), 0);
    T_CHECK(got != NULL && mts_session_equal(got, want));
    mts_session_free(got);
    mts_storage_free(st);
    T_EQ_INT(j_load(&got, path, &e), MTS_EENCRYPTED);
    /* The journal holds update state and channel ids only: no key. */
    j = slurp(jp, &jlen);
    T_EQ_INT(mts_session_dc_at(&dc, want, 0), 0);
    T_CHECK(dc.auth_key != NULL);
    for (size_t k = 0; dc.auth_key && k + 16 <= jlen; k++)
        T_CHECK(memcmp(j + k, dc.auth_key, 16) != 0);
    free(j);
    free(snap);
    mts_session_free(want);
    mts_secret_free(secret);
}

/* ---- delete, options ---------------------------------------------------- */

static void
test_delete_removes_journal(void)
{
    char d[PATH_MAX], path[PATH_MAX], jp[PATH_MAX];
    mts_storage *st = NULL;
    mts_session *got = NULL, *want;
    mts_error e = MTS_ERROR_INIT;
    mts_update_change c;
    mts_channel_pts chans[3];
    h_dir("delete", d, sizeof(d));
    h_join(path, sizeof(path), d, "s.session");
    j_journal(jp, sizeof(jp), path);
    make_store(path, 5);
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    T_EQ_INT(apply_i(st, 5, &e), 0);
    T_EQ_INT(mts_storage_delete(st, &e), 0);
    T_EQ_INT(j_size(path), -1);
    T_EQ_INT(j_size(jp), -1);
    T_EQ_INT(h_entries(d), 1); /* the lock file */
    T_EQ_INT(mts_storage_load(&got, st, &e), MTS_ENOTFOUND);
    /* A change on nothing starts from an empty session, as elsewhere. */
    T_EQ_INT(apply_i(st, 6, &e), 0);
    mts_storage_free(st);
    T_EQ_INT(mts_session_new(&want, MTS_NEW_EMPTY), 0);
    j_change(6, &c, chans);
    T_EQ_INT(mts_session_apply_update(want, &c), 0);
    T_CHECK(j_holds(path, want));
    mts_session_free(want);
}

static void
test_options(void)
{
    char d[PATH_MAX], path[PATH_MAX];
    mts_storage *st = NULL;
    mts_error e = MTS_ERROR_INIT;
    mts_file_options o = MTS_FILE_OPTIONS_INIT;
    h_dir("options", d, sizeof(d));
    h_join(path, sizeof(path), d, "s.session");
    o.journal_max_bytes = 63;
    T_EQ_INT(mts_file_open(&st, path, &o, &e), MTS_EINVAL);
    T_CONTAINS(e.message, "journal_max_bytes 63");
    o.journal_max_bytes = ((size_t)1 << 30) + 1;
    T_EQ_INT(mts_file_open(&st, path, &o, &e), MTS_EINVAL);
    o.journal_max_bytes = 64;
    T_EQ_INT(mts_file_open(&st, path, &o, &e), 0);
    mts_storage_free(st);
    o.group_commit_changes = 10;
    T_EQ_INT(mts_file_open(&st, path, &o, &e), MTS_EINVAL);
    T_CONTAINS(e.message, "MTS_FILE_GROUP_COMMIT");
    o.group_commit_changes = 0;
    o.group_commit_ms = 10;
    T_EQ_INT(mts_file_open(&st, path, &o, &e), MTS_EINVAL);
    o.flags = MTS_FILE_GROUP_COMMIT;
    T_EQ_INT(mts_file_open(&st, path, &o, &e), 0);
    mts_storage_free(st);
    o.flags = 0x4;
    T_EQ_INT(mts_file_open(&st, path, &o, &e), MTS_EINVAL);
    T_CONTAINS(e.message, "0x4");
    /* A record bigger than the journal may hold is a fold. */
    {
        mts_channel_pts many[8];
        mts_update_change c = MTS_UPDATE_CHANGE_INIT;
        mts_session *want = h_session(1);
        o = (mts_file_options)MTS_FILE_OPTIONS_INIT;
        o.journal_max_bytes = 64;
        for (int i = 0; i < 8; i++) {
            many[i].channel_id = 10 + i;
            many[i].pts = i;
        }
        c.kind = MTS_UPDATE_ALL;
        c.channels = many;
        c.channel_count = 8;
        T_EQ_INT(mts_file_open(&st, path, &o, &e), 0);
        T_EQ_INT(mts_storage_save(st, want, &e), 0);
        T_EQ_INT(mts_storage_apply_update_state(st, &c, &e), 0);
        T_EQ_INT(mts_storage_apply_update_state(st, &c, &e), 0);
        mts_storage_free(st);
        T_EQ_INT(mts_session_apply_update(want, &c), 0);
        T_CHECK(j_holds(path, want));
        mts_session_free(want);
    }
}

/* ---- formats ------------------------------------------------------------ */

/* The GENERATION section: read and left out of the session; a wrong
 * length is corrupt even though the section is not critical. */
static void
test_codec_generation(void)
{
    mts_session *a = h_session(2), *got = NULL;
    mts_error e = MTS_ERROR_INIT;
    uint8_t *enc;
    size_t len;
    enc = h_encode(a, &len);
    T_EQ_U64(mts__snapshot_id(enc, len), 0);
    T_EQ_INT(mts__snapshot_add_generation(&enc, &len, 0x1122334455667788u,
                                          &e),
             0);
    T_EQ_U64(mts__snapshot_id(enc, len), 0x1122334455667788u);
    T_EQ_INT(mts_decode(&got, enc, len, &e), 0);
    T_CHECK(got != NULL && mts_session_equal(got, a));
    mts_session_free(got);
    got = NULL;
    /* Shorten the section's payload to 4 bytes and fix up the file. */
    {
        size_t at = len - 4 - 16, n = len - 4;
        uint32_t crc;
        enc[at + 4] = 4;
        enc[8] = (uint8_t)(n & 0xff);
        enc[9] = (uint8_t)((n >> 8) & 0xff);
        crc = mts_crc32c(0, enc, n - 4);
        for (int k = 0; k < 4; k++)
            enc[n - 4 + (size_t)k] = (uint8_t)(crc >> (8 * k));
        T_EQ_INT(mts_decode(&got, enc, n, &e), MTS_ECORRUPT);
        T_CONTAINS(e.message, "generation");
        T_EQ_INT(e.offset, (int64_t)at);
    }
    mts_free(enc);
    mts_session_free(a);
}

/* The hex vector in docs/FORMAT.md is what the writer produces, and it
 * replays to the documented state. */
static void
test_format_md_vector(void)
{
    size_t doclen, n = 0;
    char *doc = (char *)t_read_file(t_srcpath("../docs/FORMAT.md"), &doclen);
    const char *p, *end;
    uint8_t vec[256], built[256];
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    mts_session *s = NULL;
    mts__jscan js;
    mts_update_state us;
    int32_t pts;
    T_CHECK(doc != NULL);
    if (doc == NULL)
        return;
    p = strstr(doc, "<!-- vector: journal -->");
    T_CHECK(p != NULL);
    if (p != NULL && (p = strstr(p, "```")) != NULL &&
        (p = strchr(p, '\n')) != NULL && (end = strstr(p, "```")) != NULL) {
        for (; p < end && n < sizeof(vec); p++) {
            unsigned v;
            if (sscanf(p, "%2x", &v) == 1 && p[0] != ' ' && p[0] != '\n' &&
                p[1] != ' ' && p[1] != '\n') {
                vec[n++] = (uint8_t)v;
                p++;
            }
        }
    }
    T_EQ_U64(n, 80);
    mts__journal_header(built, 0x0102030405060708u);
    c.kind = MTS_UPDATE_PRIMARY;
    c.state.pts = 100;
    c.state.date = 1700000000;
    c.state.seq = 7;
    mts__journal_record(built + 24, &c, 0x0102030405060708u, 24);
    c = (mts_update_change)MTS_UPDATE_CHANGE_INIT;
    c.kind = MTS_UPDATE_CHANNEL;
    c.channel_id = 1234567890;
    c.channel_pts = 18;
    mts__journal_record(built + 52, &c, 0x0102030405060708u, 52);
    T_EQ_MEM(vec, built, 80);
    T_EQ_INT(mts_session_new(&s, MTS_NEW_EMPTY), 0);
    T_EQ_INT(mts__journal_replay(s, vec, 80, 0x0102030405060708u, &js, NULL),
             0);
    T_EQ_INT(js.state, MTS__J_LIVE);
    T_EQ_U64(js.records, 2);
    T_EQ_U64(js.end, 80);
    mts_session_update_state(s, &us);
    T_EQ_INT(us.pts, 100);
    T_EQ_INT(us.date, 1700000000);
    T_EQ_INT(us.seq, 7);
    T_EQ_INT(mts_session_channel_pts(s, 1234567890, &pts), 0);
    T_EQ_INT(pts, 18);
    /* Under any other snapshot id the same bytes are a stale journal. */
    mts_session_free(s);
    T_EQ_INT(mts_session_new(&s, MTS_NEW_EMPTY), 0);
    T_EQ_INT(mts__journal_replay(s, vec, 80, 0x0102030405060709u, &js, NULL),
             0);
    T_EQ_INT(js.state, MTS__J_STALE);
    mts_session_update_state(s, &us);
    T_EQ_INT(us.pts, 0);
    mts_session_free(s);
    free(doc);
}

/* ---- allocation failures ------------------------------------------------ */

typedef struct alloc_fault {
    long target;
    long count;
    int fired;
} alloc_fault;

static void *
fa_malloc(size_t size, void *payload)
{
    alloc_fault *a = payload;
    if (a->count++ == a->target) {
        a->fired = 1;
        return NULL;
    }
    return malloc(size);
}

static void *
fa_realloc(void *ptr, size_t size, void *payload)
{
    alloc_fault *a = payload;
    if (a->count++ == a->target) {
        a->fired = 1;
        return NULL;
    }
    return realloc(ptr, size);
}

static void
fa_free(void *ptr, void *payload)
{
    (void)payload;
    free(ptr);
}

/* Every allocation of a handle's first change (which reads the store and
 * starts the journal), a journaled change and a load failing: MTS_ENOMEM,
 * and the store holds the old or the new state. */
static void
test_alloc_failures(void)
{
    char d[PATH_MAX], path[PATH_MAX];
    mts_session *old = model(1, 6), *new1 = model(1, 7), *new2 = model(1, 8);
    uint8_t *snap0, *j0;
    size_t slen0, jlen0;
    int failures = 0, fds = h_open_fds();
    h_dir("alloc", d, sizeof(d));
    h_join(path, sizeof(path), d, "s.session");
    make_store(path, 6);
    snap0 = slurp(path, &slen0);
    {
        char jp[PATH_MAX];
        j_journal(jp, sizeof(jp), path);
        j0 = slurp(jp, &jlen0);
    }
    for (long n = 0;; n++) {
        alloc_fault af = { n, 0, 0 };
        mts_allocator al = { fa_malloc, fa_realloc, fa_free, &af };
        mts_storage *st = NULL;
        mts_session *got = NULL;
        mts_error e = MTS_ERROR_INIT;
        int r1 = -100, r2 = -100, r3 = -100, r0;
        char jp[PATH_MAX];
        j_journal(jp, sizeof(jp), path);
        T_EQ_INT(t_write_file(path, snap0, slen0), 0);
        T_EQ_INT(t_write_file(jp, j0, jlen0), 0);
        T_EQ_INT(mts_set_allocator(&al), 0);
        r0 = mts_file_open(&st, path, NULL, &e);
        if (r0 == 0)
            r1 = apply_i(st, 6, &e);
        if (r1 == 0)
            r2 = apply_i(st, 7, &e);
        if (r2 == 0)
            r3 = mts_storage_load(&got, st, &e);
        mts_session_free(got);
        mts_storage_free(st);
        mts_set_allocator(NULL);
        if (r0 == 0 && r1 == 0 && r2 == 0 && r3 == 0) {
            /* Everything worked: the allocation that failed, if one did,
             * was one the model may do without (a cache). */
            T_CHECK(j_holds(path, new2));
            if (!af.fired)
                break;
            continue;
        }
        failures++;
        /* Exactly one step failed, with MTS_ENOMEM. */
        T_CHECK(af.fired);
        T_CHECK(r0 == MTS_ENOMEM || r1 == MTS_ENOMEM || r2 == MTS_ENOMEM ||
                r3 == MTS_ENOMEM);
        T_EQ_INT(e.code, MTS_ENOMEM);
        {
            /* The old or the new state of the call that failed. */
            mts_session *s = NULL;
            const mts_session *lo = r1 == 0 ? new1 : old;
            const mts_session *hi = r1 == 0 ? new2 : new1;
            int rc = j_load(&s, path, NULL);
            T_EQ_INT(rc, 0);
            if (r2 == 0)
                lo = new2;
            T_CHECK(s != NULL &&
                    (mts_session_equal(s, lo) || mts_session_equal(s, hi)));
            mts_session_free(s);
        }
        if (t_case_failed) {
            fprintf(stderr, "  allocation %ld: %d %d %d %d: %s\n", n, r0, r1,
                    r2, r3, e.message);
            break;
        }
    }
    T_CHECK(failures > 10);
    T_EQ_INT(h_open_fds(), fds);
    free(snap0);
    free(j0);
    mts_session_free(old);
    mts_session_free(new1);
    mts_session_free(new2);
}

T_MAIN(T_CASE(test_apply_writes_only_journal), T_CASE(test_save_empties_journal),
       T_CASE(test_threshold_fold), T_CASE(test_torn_tail_every_offset),
       T_CASE(test_damage_is_corruption), T_CASE(test_unsynced_damage_is_torn),
       T_CASE(test_stale_journal_after_crash_journaled),
       T_CASE(test_stale_journal_after_crash_plain),
       T_CASE(test_stale_journal_replaced),
       T_CASE(test_reader_rereads_after_replace),
       T_CASE(test_group_commit_syncs), T_CASE(test_sealed_store),
       T_CASE(test_delete_removes_journal), T_CASE(test_options),
       T_CASE(test_codec_generation), T_CASE(test_format_md_vector),
       T_CASE(test_alloc_failures))
