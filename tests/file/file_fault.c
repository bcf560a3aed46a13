/*
 * file_fault.c - fault loops over the file backend.
 *
 * System calls: fail the Nth wrapped call (ENOSPC, EIO, EACCES) or make
 * the Nth write short, for N = 0, 1, ... until a save runs to the end
 * without reaching call N. Each time, the exact outcome is checked
 * against the kind of call that failed: the code, errno in err->native,
 * the step named in the message, which file is on disk (old or new, byte
 * for byte, and loadable), no temp file left, no descriptor leaked.
 *
 * Allocations: fail the Nth allocation over open+save+load: every
 * failure is MTS_ENOMEM and leaves the old or the new file, never a mix.
 * Leaks are caught by LeakSanitizer in the sanitizer build.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "mtsession/mtsession.h"
#include "mtsession/sys/alloc.h"
#include "os.h"
#include "t.h"

/* ---- the system-call hook ---------------------------------------------- */

enum { TRACE_MAX = 256 };

typedef enum fault_mode {
    RECORD,    /* never fail, only record the calls */
    FAIL,      /* fail call `target` with `errnum` */
    SHORT_WRITE /* if call `target` is a write, halve its length */
} fault_mode;

typedef struct fault {
    fault_mode mode;
    long target;
    int errnum;
    long count;
    int fired;
    mts__sys fired_call;
    size_t short_len; /* the shortened length, for SHORT_WRITE */
    mts__sys trace[TRACE_MAX];
} fault;

static int
hook(mts__sys call, size_t *len, void *payload)
{
    fault *f = payload;
    long i = f->count++;
    if (i < TRACE_MAX)
        f->trace[i] = call;
    if (i != f->target || f->mode == RECORD)
        return 0;
    if (f->mode == FAIL) {
        f->fired = 1;
        f->fired_call = call;
        return f->errnum;
    }
    if (call == MTS__SYS_WRITE && len != NULL) {
        f->fired = 1;
        f->fired_call = call;
        *len /= 2;
        f->short_len = *len;
    }
    return 0;
}

static void
fault_start(fault *f, fault_mode mode, long target, int errnum)
{
    memset(f, 0, sizeof(*f));
    f->mode = mode;
    f->target = target;
    f->errnum = errnum;
    mts__os_set_hook(hook, f);
}

static void
fault_stop(void)
{
    mts__os_set_hook(NULL, NULL);
}

/* The start of the message the library writes when `call` fails. */
static const char *
step_of(mts__sys call, int after_rename)
{
    switch (call) {
    case MTS__SYS_OPEN:
        return "open ";
    case MTS__SYS_OPENDIR:
        return "open directory ";
    case MTS__SYS_WRITE:
        return "write ";
    case MTS__SYS_FSYNC:
        return after_rename ? "fsync directory " : "fsync ";
    case MTS__SYS_CLOSE:
        return "close ";
    case MTS__SYS_RENAME:
        return "rename ";
    case MTS__SYS_LOCK:
        return "lock ";
    case MTS__SYS_FTRUNCATE:
        return "ftruncate ";
    case MTS__SYS_READ:
        return "read ";
    case MTS__SYS_FSTAT:
        return "fstat ";
    case MTS__SYS_UNLINK:
        return "unlink ";
    case MTS__SYS_LSTAT:
        return "lstat ";
    default:
        return "?";
    }
}

static long
find_last(const fault *f, mts__sys call, long before)
{
    long last = -1;
    for (long i = 0; i < f->count && i < before && i < TRACE_MAX; i++)
        if (f->trace[i] == call)
            last = i;
    return last;
}

static long
count_of(const fault *f, mts__sys call)
{
    long n = 0;
    for (long i = 0; i < f->count && i < TRACE_MAX; i++)
        n += f->trace[i] == call;
    return n;
}

typedef struct fixture {
    char dir[PATH_MAX];
    char path[PATH_MAX];
    mts_session *a, *b;
    uint8_t *aenc, *benc;
    size_t alen, blen;
} fixture;

static void
fixture_init(fixture *fx, const char *name)
{
    h_dir(name, fx->dir, sizeof(fx->dir));
    h_join(fx->path, sizeof(fx->path), fx->dir, "f.session");
    fx->a = h_session(1);
    fx->b = h_session(2);
    fx->aenc = h_encode(fx->a, &fx->alen);
    fx->benc = h_encode(fx->b, &fx->blen);
}

static void
fixture_free(fixture *fx)
{
    mts_free(fx->aenc);
    mts_free(fx->benc);
    mts_session_free(fx->a);
    mts_session_free(fx->b);
}

/* The store holds exactly `want` (bytes) and loads as `s`. */
static int
holds(const fixture *fx, const mts_session *s, const uint8_t *want,
      size_t len)
{
    mts_storage *st = NULL;
    mts_session *got = NULL;
    int ok = h_file_is(fx->path, want, len);
    if (mts_file_open(&st, fx->path, NULL, NULL) != 0 ||
        mts_storage_load(&got, st, NULL) != 0 ||
        !mts_session_equal(got, s))
        ok = 0;
    mts_session_free(got);
    mts_storage_free(st);
    return ok;
}

/*
 * One run of the loop: `warm` means the handle has saved once already (it
 * holds the lock), so only the atomic replace is exercised; otherwise the
 * save also takes the lock and scans for leftovers.
 */
static void
syscall_loop(fault_mode mode, int errnum, int warm)
{
    fixture fx;
    fault clean, f;
    long n, rename_pos, tmp_open_pos, last;
    int fds = h_open_fds(), failures = 0, tolerated = 0;
    mts_error e = MTS_ERROR_INIT;
    char name[64];
    snprintf(name, sizeof(name), "sys-%d-%d-%d", (int)mode, errnum, warm);
    fixture_init(&fx, name);

    /* The trace of a clean save, to know what call N is. */
    for (int pass = 0; pass < 2; pass++) {
        mts_storage *st = NULL;
        T_EQ_INT(mts_file_write_atomic(fx.path, fx.aenc, fx.alen, 0, &e), 0);
        T_EQ_INT(mts_file_open(&st, fx.path, NULL, &e), 0);
        if (warm)
            T_EQ_INT(mts_storage_save(st, fx.a, &e), 0);
        fault_start(&clean, RECORD, -1, 0);
        T_EQ_INT(mts_storage_save(st, fx.b, &e), 0);
        fault_stop();
        mts_storage_free(st);
    }
    T_CHECK(clean.count > 0 && clean.count < TRACE_MAX);
    {
        /* The procedure itself, call by call: lock (first write only),
         * then temp file, write, fsync, close, directory, rename, fsync
         * of the directory, and last the removal of a journal (this
         * handle never used one: any journal names another snapshot). */
        static const mts__sys lock[] = { MTS__SYS_OPEN, MTS__SYS_LOCK,
                                         MTS__SYS_FTRUNCATE, MTS__SYS_WRITE,
                                         MTS__SYS_OPENDIR };
        static const mts__sys replace[] = {
            MTS__SYS_OPEN,    MTS__SYS_WRITE,  MTS__SYS_FSYNC,
            MTS__SYS_CLOSE,   MTS__SYS_OPENDIR, MTS__SYS_RENAME,
            MTS__SYS_FSYNC,   MTS__SYS_CLOSE,   MTS__SYS_UNLINK
        };
        size_t nl = warm ? 0 : sizeof(lock) / sizeof(lock[0]);
        size_t nr = sizeof(replace) / sizeof(replace[0]);
        T_EQ_INT(clean.count, (long)(nl + nr));
        if (clean.count == (long)(nl + nr)) {
            T_EQ_MEM(clean.trace, lock, nl * sizeof(mts__sys));
            T_EQ_MEM(clean.trace + nl, replace, nr * sizeof(mts__sys));
        }
    }
    rename_pos = find_last(&clean, MTS__SYS_RENAME, clean.count);
    tmp_open_pos = find_last(&clean, MTS__SYS_OPEN, rename_pos);
    last = clean.count - 1;
    T_CHECK(rename_pos > 0 && tmp_open_pos >= 0);
    T_EQ_INT(clean.trace[last], MTS__SYS_UNLINK);
    T_EQ_INT(clean.trace[last - 1], MTS__SYS_CLOSE);
    if (!warm)
        T_EQ_INT(clean.trace[0], MTS__SYS_OPEN); /* the lock file */

    for (n = 0;; n++) {
        mts_storage *st = NULL;
        int rc, expect_new;
        mts__sys call;
        mts_error_clear(&e);
        T_EQ_INT(mts_file_write_atomic(fx.path, fx.aenc, fx.alen, 0, &e), 0);
        T_EQ_INT(mts_file_open(&st, fx.path, NULL, &e), 0);
        if (warm)
            T_EQ_INT(mts_storage_save(st, fx.a, &e), 0);
        fault_start(&f, mode, n, errnum);
        rc = mts_storage_save(st, fx.b, &e);
        fault_stop();
        mts_storage_free(st);

        T_EQ_INT(h_count(fx.dir, ".tmp."), 0);
        if (f.count <= n) {
            /* Call n never came: a clean save, and the loop is done. */
            T_EQ_INT(rc, 0);
            T_EQ_INT(f.fired, 0);
            T_CHECK(holds(&fx, fx.b, fx.benc, fx.blen));
            break;
        }
        /* The calls before n are those of the clean run. */
        T_EQ_INT(memcmp(f.trace, clean.trace, (size_t)n * sizeof(mts__sys)),
                 0);
        call = clean.trace[n];

        if (mode == SHORT_WRITE) {
            if (call != MTS__SYS_WRITE) {
                T_EQ_INT(f.fired, 0);
                T_EQ_INT(rc, 0);
                T_CHECK(holds(&fx, fx.b, fx.benc, fx.blen));
                continue;
            }
            T_EQ_INT(f.fired, 1);
            failures++;
            if (f.short_len == 0) {
                /* A write that moves nothing is an error, not a loop. */
                T_EQ_INT(rc, MTS_EIO);
                T_CONTAINS(e.message, "no progress");
                T_CHECK(holds(&fx, fx.a, fx.aenc, fx.alen));
            } else {
                /* The writer went on with the rest. */
                T_EQ_INT(rc, 0);
                T_EQ_INT(count_of(&f, MTS__SYS_WRITE),
                         count_of(&clean, MTS__SYS_WRITE) + 1);
                T_CHECK(holds(&fx, fx.b, fx.benc, fx.blen));
            }
            continue;
        }

        T_EQ_INT(f.fired, 1);
        T_EQ_INT(f.fired_call, call);
        failures++;
        expect_new = 0;
        if (n == last - 1 && call == MTS__SYS_CLOSE) {
            /* Closing the synced, read-only directory: nothing lost. */
            T_EQ_INT(rc, 0);
            expect_new = 1;
            tolerated++;
        } else if (n == last && call == MTS__SYS_UNLINK) {
            /* A journal left behind names another snapshot: ignored. */
            T_EQ_INT(rc, 0);
            expect_new = 1;
            tolerated++;
        } else if (call == MTS__SYS_OPENDIR && n < tmp_open_pos) {
            /* The scan for crash leftovers is best effort. */
            T_CHECK(!warm);
            T_EQ_INT(rc, 0);
            expect_new = 1;
            tolerated++;
        } else if (call == MTS__SYS_LOCK &&
                   (errnum == EACCES || errnum == EAGAIN)) {
            /* EACCES from a lock means "held elsewhere". */
            T_EQ_INT(rc, MTS_ELOCKED);
            T_CONTAINS(e.message, "is locked by");
        } else {
            T_EQ_INT(rc, MTS_EIO);
            T_EQ_INT(e.code, MTS_EIO);
            T_EQ_INT(e.native, errnum);
            T_CHECK(strncmp(e.message, step_of(call, n > rename_pos),
                            strlen(step_of(call, n > rename_pos))) == 0);
            T_CONTAINS(e.message, strerror(errnum));
            if (call == MTS__SYS_FSYNC && n > rename_pos) {
                /* After the rename only durability is in doubt. */
                T_CONTAINS(e.message, "may not survive a crash");
                expect_new = 1;
            }
        }
        if (expect_new)
            T_CHECK(holds(&fx, fx.b, fx.benc, fx.blen));
        else
            T_CHECK(holds(&fx, fx.a, fx.aenc, fx.alen));
        if (t_case_failed) {
            fprintf(stderr, "  at n=%ld (%s), rc=%d: %s\n", n,
                    mts__sys_name(call), rc, e.message);
            break;
        }
    }
    /* Each loop injected something, and stopped after the whole save. */
    T_CHECK(failures > 0);
    T_CHECK(n >= clean.count);
    if (mode == FAIL)
        T_EQ_INT(tolerated, warm ? 2 : 3);
    T_EQ_INT(h_open_fds(), fds);
    fixture_free(&fx);
}

static void
test_sys_enospc_fresh(void)
{
    syscall_loop(FAIL, ENOSPC, 0);
}
static void
test_sys_enospc_warm(void)
{
    syscall_loop(FAIL, ENOSPC, 1);
}
static void
test_sys_eio_fresh(void)
{
    syscall_loop(FAIL, EIO, 0);
}
static void
test_sys_eio_warm(void)
{
    syscall_loop(FAIL, EIO, 1);
}
static void
test_sys_eacces_fresh(void)
{
    syscall_loop(FAIL, EACCES, 0);
}
static void
test_sys_eacces_warm(void)
{
    syscall_loop(FAIL, EACCES, 1);
}
static void
test_sys_short_write_fresh(void)
{
    syscall_loop(SHORT_WRITE, 0, 0);
}
static void
test_sys_short_write_warm(void)
{
    syscall_loop(SHORT_WRITE, 0, 1);
}

/* Every call of a load failing: an error, never "not found", file kept. */
static void
test_sys_load(void)
{
    static const int errs[] = { ENOSPC, EIO, EACCES };
    fixture fx;
    mts_error e = MTS_ERROR_INIT;
    int fds = h_open_fds();
    fixture_init(&fx, "sys-load");
    T_EQ_INT(mts_file_write_atomic(fx.path, fx.aenc, fx.alen, 0, &e), 0);
    for (size_t k = 0; k < sizeof(errs) / sizeof(errs[0]); k++) {
        for (long n = 0;; n++) {
            mts_storage *st = NULL;
            mts_session *got = NULL;
            fault f;
            int rc;
            T_EQ_INT(mts_file_open(&st, fx.path, NULL, &e), 0);
            fault_start(&f, FAIL, n, errs[k]);
            rc = mts_storage_load(&got, st, &e);
            fault_stop();
            mts_storage_free(st);
            if (!f.fired) {
                T_EQ_INT(rc, 0);
                T_CHECK(got != NULL && mts_session_equal(got, fx.a));
                mts_session_free(got);
                T_CHECK(n > 3);
                break;
            }
            if (f.fired_call == MTS__SYS_CLOSE) {
                T_EQ_INT(rc, 0); /* a read-only descriptor */
                mts_session_free(got);
            } else {
                T_EQ_INT(rc, MTS_EIO);
                T_EQ_INT(e.native, errs[k]);
                T_CHECK(got == NULL);
                T_CONTAINS(e.message, fx.path);
            }
            T_CHECK(h_file_is(fx.path, fx.aenc, fx.alen));
            T_EQ_INT(h_entries(fx.dir), 1);
        }
    }
    T_EQ_INT(h_open_fds(), fds);
    fixture_free(&fx);
}

/* Delete: every failure before the unlink leaves the file; only the
 * directory fsync comes after it. */
static void
test_sys_delete(void)
{
    fixture fx;
    mts_error e = MTS_ERROR_INIT;
    int fds = h_open_fds();
    fixture_init(&fx, "sys-delete");
    for (long n = 0;; n++) {
        mts_storage *st = NULL;
        fault f;
        int rc, gone;
        T_EQ_INT(mts_file_write_atomic(fx.path, fx.aenc, fx.alen, 0, &e), 0);
        T_EQ_INT(mts_file_open(&st, fx.path, NULL, &e), 0);
        fault_start(&f, FAIL, n, EIO);
        rc = mts_storage_delete(st, &e);
        fault_stop();
        mts_storage_free(st);
        gone = access(fx.path, F_OK) != 0;
        if (!f.fired) {
            T_EQ_INT(rc, 0);
            T_CHECK(gone);
            break;
        }
        if (rc == 0) {
            /* Only the best-effort scan, the removal of a journal (after
             * the snapshot's removal is durable) or the final close may
             * fail without an error. */
            T_CHECK(f.fired_call == MTS__SYS_OPENDIR ||
                    f.fired_call == MTS__SYS_CLOSE ||
                    (f.fired_call == MTS__SYS_UNLINK &&
                     count_of(&f, MTS__SYS_UNLINK) == 2));
            T_CHECK(gone);
        } else {
            T_EQ_INT(rc, MTS_EIO);
            T_EQ_INT(e.native, EIO);
            if (!gone)
                T_CHECK(h_file_is(fx.path, fx.aenc, fx.alen));
            else { /* the unlink went through; the directory sync failed */
                T_EQ_INT(f.fired_call, MTS__SYS_FSYNC);
                T_CONTAINS(e.message, "may not survive a crash");
            }
        }
    }
    T_EQ_INT(h_open_fds(), fds);
    fixture_free(&fx);
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

static void
alloc_loop(int via_link)
{
    fixture fx;
    mts_error e = MTS_ERROR_INIT;
    mts_file_options o = MTS_FILE_OPTIONS_INIT;
    char open_path[PATH_MAX];
    long n;
    int fds = h_open_fds(), failures = 0;
    fixture_init(&fx, via_link ? "alloc-link" : "alloc");
    if (via_link) {
        h_join(open_path, sizeof(open_path), fx.dir, "link");
        T_EQ_INT(symlink("f.session", open_path), 0);
        o.flags = MTS_FILE_FOLLOW_SYMLINK;
    } else {
        snprintf(open_path, sizeof(open_path), "%s", fx.path);
    }
    for (n = 0;; n++) {
        alloc_fault af = { n, 0, 0 };
        mts_allocator al = { fa_malloc, fa_realloc, fa_free, &af };
        mts_storage *st = NULL;
        mts_session *got = NULL;
        int rc_open, rc_save = -100, rc_load = -100, saved;
        T_EQ_INT(mts_file_write_atomic(fx.path, fx.aenc, fx.alen, 0, &e), 0);
        T_EQ_INT(mts_set_allocator(&al), 0);
        rc_open = mts_file_open(&st, open_path, &o, &e);
        if (rc_open == 0) {
            rc_save = mts_storage_save(st, fx.b, &e);
            rc_load = mts_storage_load(&got, st, &e);
        }
        mts_session_free(got);
        mts_storage_free(st);
        mts_set_allocator(NULL);

        saved = rc_save == 0;
        T_EQ_INT(h_count(fx.dir, ".tmp."), 0);
        if (!af.fired) {
            T_EQ_INT(rc_open, 0);
            T_EQ_INT(rc_save, 0);
            T_EQ_INT(rc_load, 0);
            T_CHECK(holds(&fx, fx.b, fx.benc, fx.blen));
            break;
        }
        failures++;
        /* Exactly one step failed, with MTS_ENOMEM; the rest worked. */
        if (rc_open != 0) {
            T_EQ_INT(rc_open, MTS_ENOMEM);
            T_CHECK(st == NULL);
        } else if (rc_save != 0) {
            T_EQ_INT(rc_save, MTS_ENOMEM);
            T_EQ_INT(rc_load, 0);
        } else {
            T_EQ_INT(rc_load, MTS_ENOMEM);
        }
        T_EQ_INT(e.code, MTS_ENOMEM);
        if (saved)
            T_CHECK(holds(&fx, fx.b, fx.benc, fx.blen));
        else
            T_CHECK(holds(&fx, fx.a, fx.aenc, fx.alen));
        if (t_case_failed) {
            fprintf(stderr,
                    "  at allocation %ld: open %d save %d load %d: %s\n", n,
                    rc_open, rc_save, rc_load, e.message);
            break;
        }
    }
    T_CHECK(failures > 5);
    T_EQ_INT(h_open_fds(), fds);
    fixture_free(&fx);
}

static void
test_alloc_open_save_load(void)
{
    alloc_loop(0);
}

static void
test_alloc_via_symlink(void)
{
    alloc_loop(1);
}

T_MAIN(T_CASE(test_sys_enospc_fresh), T_CASE(test_sys_enospc_warm),
       T_CASE(test_sys_eio_fresh), T_CASE(test_sys_eio_warm),
       T_CASE(test_sys_eacces_fresh), T_CASE(test_sys_eacces_warm),
       T_CASE(test_sys_short_write_fresh), T_CASE(test_sys_short_write_warm),
       T_CASE(test_sys_load), T_CASE(test_sys_delete),
       T_CASE(test_alloc_open_save_load), T_CASE(test_alloc_via_symlink))
