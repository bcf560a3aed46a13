/*
 * file_journal_fault.c - system-call faults in every journal path.
 *
 * For each path (a change through a handle whose journal is open, a
 * handle's first change, the first change on a snapshot without an id, a
 * change that folds the journal, a save through a journaling handle), and
 * each fault (ENOSPC, EIO, EACCES at call N; every call from N on failing;
 * the Nth write short), for N = 0, 1, ... until the operation runs to the
 * end without reaching call N: the error is reported (MTS_EIO with errno,
 * or MTS_ELOCKED for the lock), a success means the new state, a fresh
 * handle loads the old or the new state and nothing else, no temp file
 * is left, no descriptor leaks, and the same handle then makes another
 * change that lands on exactly the state the reload showed.
 *
 * The open-journal path is also checked call by call: a change is one
 * write and one fsync; a failed write is taken back (ftruncate); a failed
 * fsync closes the journal and the next change is a fold.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "journal_helpers.h"
#include "mtsession/mtsession.h"
#include "os.h"
#include "t.h"

enum { OP_APPLY, OP_SAVE };

typedef struct scenario {
    const char *name;
    int plain;   /* the store is a plain snapshot (no id, no journal) */
    int warm;    /* the handle makes one change before the faults */
    size_t jmax; /* journal_max_bytes of the handle */
    int op;
} scenario;

typedef struct fixture {
    char dir[PATH_MAX], path[PATH_MAX], jp[PATH_MAX];
    uint8_t *snap, *j;
    size_t slen, jlen;
    mts_session *old, *new_, *b;
    long change; /* the change the operation applies */
} fixture;

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

static int
apply_i(mts_storage *st, long i, mts_error *e)
{
    mts_update_change c;
    mts_channel_pts chans[3];
    j_change(i, &c, chans);
    return mts_storage_apply_update_state(st, &c, e);
}

/* The store: h_session(1), then (unless plain) changes 0..5 through the
 * journal. Then what the handle's operation turns old into. */
static void
fixture_init(fixture *fx, const scenario *sc, const char *name)
{
    mts_storage *st = NULL;
    mts_session *a = h_session(1);
    long have = sc->plain ? 0 : 6;
    memset(fx, 0, sizeof(*fx));
    h_dir(name, fx->dir, sizeof(fx->dir));
    h_join(fx->path, sizeof(fx->path), fx->dir, "s.session");
    j_journal(fx->jp, sizeof(fx->jp), fx->path);
    T_EQ_INT(mts_file_open(&st, fx->path, NULL, NULL), 0);
    T_EQ_INT(mts_storage_save(st, a, NULL), 0);
    for (long i = 0; i < have; i++)
        T_EQ_INT(apply_i(st, i, NULL), 0);
    mts_storage_free(st);
    fx->snap = slurp(fx->path, &fx->slen);
    if (!sc->plain)
        fx->j = slurp(fx->jp, &fx->jlen);
    /* A warm handle applies change `have` first. */
    fx->change = have + (sc->warm ? 1 : 0);
    fx->old = h_session(1);
    j_apply(fx->old, 0, fx->change);
    fx->b = h_session(2);
    if (sc->op == OP_SAVE) {
        fx->new_ = h_session(2);
    } else {
        fx->new_ = h_session(1);
        j_apply(fx->new_, 0, fx->change + 1);
    }
    mts_session_free(a);
}

static void
fixture_free(fixture *fx)
{
    free(fx->snap);
    free(fx->j);
    mts_session_free(fx->old);
    mts_session_free(fx->new_);
    mts_session_free(fx->b);
}

static void
restore(const fixture *fx)
{
    T_EQ_INT(t_write_file(fx->path, fx->snap, fx->slen), 0);
    if (fx->j != NULL)
        T_EQ_INT(t_write_file(fx->jp, fx->j, fx->jlen), 0);
    else
        (void)unlink(fx->jp);
}

/* A handle ready for the operation, or NULL. */
static mts_storage *
prepare(const fixture *fx, const scenario *sc)
{
    mts_storage *st = NULL;
    mts_error e = MTS_ERROR_INIT;
    restore(fx);
    T_EQ_INT(j_open(&st, fx->path, sc->jmax, 0, 0, &e), 0);
    if (st != NULL && sc->warm)
        T_EQ_INT(apply_i(st, fx->change - 1, &e), 0);
    return st;
}

static int
run_op(mts_storage *st, const fixture *fx, const scenario *sc, mts_error *e)
{
    if (sc->op == OP_SAVE)
        return mts_storage_save(st, fx->b, e);
    return apply_i(st, fx->change, e);
}

static const char *
mode_name(j_mode m)
{
    switch (m) {
    case J_FAIL:
        return "fail";
    case J_FAIL_FROM:
        return "fail-from";
    case J_SHORT:
        return "short";
    default:
        return "?";
    }
}

static void
loop(const scenario *sc, j_mode mode, int errnum)
{
    fixture fx;
    char name[96];
    long n, errors = 0, fired = 0;
    int fds = h_open_fds();
    snprintf(name, sizeof(name), "%s-%s-%d", sc->name, mode_name(mode),
             errnum);
    fixture_init(&fx, sc, name);
    for (n = 0; n < J_TRACE_MAX && !t_case_failed; n++) {
        mts_storage *st = prepare(&fx, sc);
        mts_session *got = NULL;
        mts_error e = MTS_ERROR_INIT;
        j_hook h;
        int rc, lrc, is_old, is_new;
        if (st == NULL)
            break;
        j_hook_start(&h, mode, n, errnum);
        rc = run_op(st, &fx, sc, &e);
        j_hook_stop();
        if (!h.fired) {
            /* Call n never came (done), or was not a write to shorten. */
            T_EQ_INT(rc, 0);
            T_CHECK(j_holds(fx.path, fx.new_));
            mts_storage_free(st);
            if (h.count <= n)
                break;
            continue;
        }
        fired++;
        if (rc != 0) {
            errors++;
            if (h.fired_call == MTS__SYS_LOCK &&
                (errnum == EACCES || errnum == EAGAIN)) {
                T_EQ_INT(rc, MTS_ELOCKED);
            } else {
                T_EQ_INT(rc, MTS_EIO);
                T_EQ_INT(e.native, errnum);
                T_CONTAINS(e.message, strerror(errnum));
            }
        }
        /* What a fresh handle finds: the old state or the new one. */
        lrc = j_load(&got, fx.path, &e);
        T_EQ_INT(lrc, 0);
        is_old = got != NULL && mts_session_equal(got, fx.old);
        is_new = got != NULL && mts_session_equal(got, fx.new_);
        T_CHECK(is_old || is_new);
        if (rc == 0)
            T_CHECK(is_new);
        /* With every call failing from n on, the temp file cannot be
         * removed either; the next handle to take the lock removes it. */
        T_EQ_INT(h_count(fx.dir, ".tmp."), mode == J_FAIL_FROM && rc != 0
                                               ? h_count(fx.dir, ".tmp.")
                                               : 0);
        T_CHECK(h_count(fx.dir, ".tmp.") <= 1);
        /* The same handle goes on: its next change lands on that state. */
        if (got != NULL) {
            mts_error e2 = MTS_ERROR_INIT;
            int rc2 = apply_i(st, 500, &e2);
            T_EQ_INT(rc2, 0);
            if (rc2 != 0)
                fprintf(stderr, "  recovery: %s\n", e2.message);
            j_apply(got, 500, 501);
            T_CHECK(j_holds(fx.path, got));
        }
        mts_session_free(got);
        mts_storage_free(st);
        T_EQ_INT(h_open_fds(), fds);
        if (t_case_failed)
            fprintf(stderr, "  %s at n=%ld (%s): rc=%d %s\n", name, n,
                    mts__sys_name(h.fired_call), rc, e.message);
    }
    T_CHECK(n < J_TRACE_MAX);
    T_CHECK(fired > 0);
    if (fired == 0 || t_case_failed || getenv("MTS_TEST_VERBOSE"))
        fprintf(stderr, "  %s: %ld faults, %ld errors\n", name, fired,
                errors);
    if (mode != J_SHORT)
        T_CHECK(errors > 0);
    T_EQ_INT(h_open_fds(), fds);
    fixture_free(&fx);
}

static void
all_faults(const scenario *sc)
{
    loop(sc, J_FAIL, ENOSPC);
    loop(sc, J_FAIL, EIO);
    loop(sc, J_FAIL, EACCES);
    loop(sc, J_FAIL_FROM, EIO);
    loop(sc, J_SHORT, 0);
}

static void
test_faults_open_journal(void)
{
    scenario sc = { "open", 0, 1, 0, OP_APPLY };
    all_faults(&sc);
}

static void
test_faults_first_change(void)
{
    scenario sc = { "first", 0, 0, 0, OP_APPLY };
    all_faults(&sc);
}

static void
test_faults_first_change_plain(void)
{
    scenario sc = { "plain", 1, 0, 0, OP_APPLY };
    all_faults(&sc);
}

/* The journal of the store holds 132 bytes of records after its header;
 * the warm change adds 72 (an ALL), the next 28 would pass 240. */
static void
test_faults_threshold_fold(void)
{
    scenario sc = { "fold", 0, 1, 240, OP_APPLY };
    all_faults(&sc);
}

static void
test_faults_journaling_save(void)
{
    scenario sc = { "save", 0, 1, 0, OP_SAVE };
    all_faults(&sc);
}

/* ---- the open journal, call by call --------------------------------------- */

static void
test_open_journal_sequence(void)
{
    static const scenario sc = { "seq", 0, 1, 0, OP_APPLY };
    static const scenario save = { "seq-save", 0, 1, 0, OP_SAVE };
    fixture fx;
    mts_storage *st;
    mts_error e = MTS_ERROR_INIT;
    j_hook h;
    int rc;
    fixture_init(&fx, &sc, "sequence");

    /* Clean: one write, one fsync. */
    st = prepare(&fx, &sc);
    j_hook_start(&h, J_COUNT, -1, 0);
    T_EQ_INT(run_op(st, &fx, &sc, &e), 0);
    j_hook_stop();
    T_EQ_INT(h.count, 2);
    T_EQ_INT(h.trace[0], MTS__SYS_WRITE);
    T_EQ_INT(h.trace[1], MTS__SYS_FSYNC);
    mts_storage_free(st);

    /* The write fails: taken back with ftruncate, the old state. */
    st = prepare(&fx, &sc);
    j_hook_start(&h, J_FAIL, 0, ENOSPC);
    rc = run_op(st, &fx, &sc, &e);
    j_hook_stop();
    T_EQ_INT(rc, MTS_EIO);
    T_EQ_INT(e.native, ENOSPC);
    {
        char want[PATH_MAX + 16];
        snprintf(want, sizeof(want), "write %s: ", fx.jp);
        T_CHECK(strncmp(e.message, want, strlen(want)) == 0);
    }
    T_EQ_INT(h.count, 2);
    T_EQ_INT(h.trace[1], MTS__SYS_FTRUNCATE);
    T_CHECK(j_holds(fx.path, fx.old));
    /* The handle's next change is an append again. */
    j_hook_start(&h, J_COUNT, -1, 0);
    T_EQ_INT(run_op(st, &fx, &sc, &e), 0);
    j_hook_stop();
    T_EQ_INT(h.count, 2);
    T_CHECK(j_holds(fx.path, fx.new_));
    mts_storage_free(st);

    /* Half the record is written, then the disk is full: the half is
     * taken back, so the next record does not follow a torn one. */
    st = prepare(&fx, &sc);
    {
        long before = j_size(fx.jp);
        j_hook_start(&h, J_SHORT_FAIL, 0, ENOSPC);
        rc = run_op(st, &fx, &sc, &e);
        j_hook_stop();
        T_EQ_INT(rc, MTS_EIO);
        T_EQ_INT(h.count, 3);
        T_EQ_INT(h.trace[1], MTS__SYS_WRITE);
        T_EQ_INT(h.trace[2], MTS__SYS_FTRUNCATE);
        T_EQ_INT(j_size(fx.jp), before);
        T_CHECK(j_holds(fx.path, fx.old));
        T_EQ_INT(run_op(st, &fx, &sc, &e), 0);
        T_CHECK(j_holds(fx.path, fx.new_));
    }
    mts_storage_free(st);

    /* The fsync fails: the journal is closed, the record may or may not
     * be durable (here it is in the kernel: the new state), and the next
     * change is a fold: a new snapshot, so nothing rests on that fsync. */
    st = prepare(&fx, &sc);
    j_hook_start(&h, J_FAIL, 1, EIO);
    rc = run_op(st, &fx, &sc, &e);
    j_hook_stop();
    T_EQ_INT(rc, MTS_EIO);
    T_EQ_INT(e.native, EIO);
    {
        char want[PATH_MAX + 16];
        snprintf(want, sizeof(want), "fsync %s: ", fx.jp);
        T_CHECK(strncmp(e.message, want, strlen(want)) == 0);
    }
    T_EQ_INT(h.count, 3);
    T_EQ_INT(h.trace[2], MTS__SYS_CLOSE);
    T_CHECK(j_holds(fx.path, fx.new_));
    j_hook_start(&h, J_COUNT, -1, 0);
    T_EQ_INT(apply_i(st, 600, &e), 0);
    j_hook_stop();
    T_CHECK(h.by_kind[MTS__SYS_RENAME] == 1);
    j_apply(fx.new_, 600, 601);
    T_CHECK(j_holds(fx.path, fx.new_));
    T_EQ_INT(j_size(fx.jp), 24);
    mts_storage_free(st);
    fixture_free(&fx);

    /* A save through a journaling handle: the atomic replace, then the
     * journal emptied (truncate, fsync) and given its header (write,
     * fsync). */
    fixture_init(&fx, &save, "sequence-save");
    st = prepare(&fx, &save);
    j_hook_start(&h, J_COUNT, -1, 0);
    T_EQ_INT(run_op(st, &fx, &save, &e), 0);
    j_hook_stop();
    {
        static const mts__sys want[] = {
            MTS__SYS_OPEN,      MTS__SYS_WRITE,  MTS__SYS_FSYNC,
            MTS__SYS_CLOSE,     MTS__SYS_OPENDIR, MTS__SYS_RENAME,
            MTS__SYS_FSYNC,     MTS__SYS_CLOSE,  MTS__SYS_FTRUNCATE,
            MTS__SYS_FSYNC,     MTS__SYS_WRITE,  MTS__SYS_FSYNC
        };
        T_EQ_INT(h.count, (long)(sizeof(want) / sizeof(want[0])));
        if (h.count == (long)(sizeof(want) / sizeof(want[0])))
            T_EQ_MEM(h.trace, want, sizeof(want));
    }
    T_EQ_INT(j_size(fx.jp), 24);
    mts_storage_free(st);
    fixture_free(&fx);

    /* The first change on a snapshot without an id: a save, then a new
     * journal, made durable in its directory before it takes records. */
    {
        static const scenario plain = { "seq-plain", 1, 0, 0, OP_APPLY };
        static const mts__sys tail[] = {
            MTS__SYS_RENAME, MTS__SYS_FSYNC,  MTS__SYS_CLOSE,
            MTS__SYS_OPEN,   MTS__SYS_OPEN,   MTS__SYS_WRITE,
            MTS__SYS_FSYNC,  MTS__SYS_OPENDIR, MTS__SYS_FSYNC,
            MTS__SYS_CLOSE
        };
        size_t nt = sizeof(tail) / sizeof(tail[0]);
        fixture_init(&fx, &plain, "sequence-plain");
        st = prepare(&fx, &plain);
        j_hook_start(&h, J_COUNT, -1, 0);
        T_EQ_INT(run_op(st, &fx, &plain, &e), 0);
        j_hook_stop();
        T_CHECK(h.count > (long)nt);
        if (h.count > (long)nt)
            T_EQ_MEM(h.trace + h.count - (long)nt, tail, sizeof(tail));
        T_EQ_INT(j_size(fx.jp), 24);
        /* Then appends, one write and one fsync each. */
        j_hook_start(&h, J_COUNT, -1, 0);
        T_EQ_INT(apply_i(st, 1, &e), 0);
        j_hook_stop();
        T_EQ_INT(h.count, 2);
        mts_storage_free(st);
        fixture_free(&fx);
    }
}

T_MAIN(T_CASE(test_open_journal_sequence), T_CASE(test_faults_open_journal),
       T_CASE(test_faults_first_change),
       T_CASE(test_faults_first_change_plain),
       T_CASE(test_faults_threshold_fold),
       T_CASE(test_faults_journaling_save))
