/*
 * file_unit.c - the binary file backend and atomic file I/O: round trip,
 * modes, on-disk bytes, missing/corrupt/empty files, symbolic links, the
 * writer lock (across processes and within one), crash leftovers, and
 * concurrent granular updates through one handle.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "mtsession/mtsession.h"
#include "mtsession/sys/alloc.h"
#include "t.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

#define join h_join

static void
test_roundtrip_mode_bytes(void)
{
    char d[PATH_MAX], path[PATH_MAX], lock[PATH_MAX], name[2 * PATH_MAX];
    mts_session *a = h_session(1), *got = NULL;
    mts_storage *st = NULL;
    mts_error e = MTS_ERROR_INIT;
    struct stat sb;
    size_t len;
    uint8_t *enc;
    mode_t old = umask(0); /* the mode must come from the library */

    h_dir("roundtrip", d, sizeof(d));
    join(path, sizeof(path), d, "s.session");
    join(lock, sizeof(lock), d, "s.session.lock");
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    snprintf(name, sizeof(name), "file:%s", path);
    T_EQ_STR(mts_storage_name(st), name);
    /* Opening writes nothing. */
    T_EQ_INT(h_entries(d), 0);
    T_EQ_INT(mts_storage_save(st, a, &e), 0);
    T_EQ_INT(mts_storage_load(&got, st, &e), 0);
    T_CHECK(got != NULL && mts_session_equal(a, got));

    T_EQ_INT(lstat(path, &sb), 0);
    T_CHECK(S_ISREG(sb.st_mode));
    T_EQ_INT(sb.st_mode & 07777, 0600);
    T_EQ_INT(lstat(lock, &sb), 0);
    T_CHECK(S_ISREG(sb.st_mode));
    T_EQ_INT(sb.st_mode & 07777, 0600);
    /* Exactly the session and its lock file: no temp file, no backup. */
    T_EQ_INT(h_entries(d), 2);
    T_EQ_INT(h_count(d, ".tmp"), 0);

    enc = h_encode(a, &len);
    T_CHECK(h_file_is(path, enc, len));

    /* A second save of another session replaces the bytes exactly. */
    {
        mts_session *b = h_session(2);
        size_t blen;
        uint8_t *benc = h_encode(b, &blen);
        T_EQ_INT(mts_storage_save(st, b, &e), 0);
        T_CHECK(h_file_is(path, benc, blen));
        T_EQ_INT(h_entries(d), 2);
        mts_free(benc);
        mts_session_free(b);
    }
    umask(old);
    mts_free(enc);
    mts_session_free(got);
    mts_session_free(a);
    mts_storage_free(st);
}

/* The lock file holds the writer's pid as text. */
static void
test_lock_file_holds_pid(void)
{
    char d[PATH_MAX], path[PATH_MAX], lock[PATH_MAX], want[32];
    mts_session *a = h_session(1);
    mts_storage *st = NULL;
    mts_error e = MTS_ERROR_INIT;
    unsigned char *text;
    size_t n = 0;

    h_dir("lockpid", d, sizeof(d));
    join(path, sizeof(path), d, "s");
    join(lock, sizeof(lock), d, "s.lock");
    /* A longer, stale content must be replaced, not overwritten in part. */
    T_EQ_INT(t_write_file(lock, "999999999999\n", 13), 0);
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    T_EQ_INT(mts_storage_save(st, a, &e), 0);
    snprintf(want, sizeof(want), "%ld\n", (long)getpid());
    text = t_read_file(lock, &n);
    T_CHECK(text != NULL);
    T_EQ_STR((const char *)text, want);
    free(text);
    mts_storage_free(st);
    /* Freeing the handle leaves the lock file where it is. */
    T_EQ_INT(access(lock, F_OK), 0);
    mts_session_free(a);
}

static void
test_load_missing(void)
{
    char d[PATH_MAX], path[PATH_MAX];
    mts_storage *st = NULL;
    mts_session *got = NULL;
    mts_error e = MTS_ERROR_INIT;
    h_dir("missing", d, sizeof(d));
    join(path, sizeof(path), d, "none.session");
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    T_EQ_INT(mts_storage_load(&got, st, &e), MTS_ENOTFOUND);
    T_EQ_INT(e.code, MTS_ENOTFOUND);
    T_CHECK(got == NULL);
    T_EQ_INT(h_entries(d), 0); /* a load creates nothing, not even the lock */
    mts_storage_free(st);

    /* A missing directory is "not found" for a load as well. */
    join(path, sizeof(path), d, "nodir/none.session");
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    T_EQ_INT(mts_storage_load(&got, st, &e), MTS_ENOTFOUND);
    mts_storage_free(st);
}

static void
test_load_corrupt_left_alone(void)
{
    char d[PATH_MAX], path[PATH_MAX];
    mts_session *a = h_session(3), *got = NULL;
    mts_storage *st = NULL;
    mts_error e = MTS_ERROR_INIT;
    unsigned char *bytes;
    size_t len = 0;
    int rc;

    h_dir("corrupt", d, sizeof(d));
    join(path, sizeof(path), d, "c.session");
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    T_EQ_INT(mts_storage_save(st, a, &e), 0);
    mts_storage_free(st);

    bytes = t_read_file(path, &len);
    T_CHECK(bytes != NULL && len > 40);
    bytes[len / 2] ^= 0x40;
    T_EQ_INT(t_write_file(path, bytes, len), 0);

    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    rc = mts_storage_load(&got, st, &e);
    T_CHECK(rc != 0);
    T_CHECK(rc != MTS_ENOTFOUND);
    T_EQ_INT(rc, MTS_ECORRUPT);
    T_EQ_INT(e.code, rc);
    T_CHECK(got == NULL);
    /* The message starts with the path. */
    T_CHECK(strncmp(e.message, path, strlen(path)) == 0);
    /* The file is where it was, byte for byte, and nothing was added. */
    T_CHECK(h_file_is(path, bytes, len));
    T_EQ_INT(h_entries(d), 2); /* the session and its lock file */
    T_EQ_INT(h_count(d, "c.session"), 2);
    T_EQ_INT(h_count(d, ".bak"), 0);
    /* Loading again gives the same answer: nothing was moved away. */
    T_EQ_INT(mts_storage_load(&got, st, &e), MTS_ECORRUPT);
    mts_storage_free(st);
    free(bytes);
    mts_session_free(a);
}

static void
test_load_empty_file(void)
{
    char d[PATH_MAX], path[PATH_MAX], want[2 * PATH_MAX];
    mts_storage *st = NULL;
    mts_session *got = NULL;
    mts_error e = MTS_ERROR_INIT;
    struct stat sb;
    h_dir("empty", d, sizeof(d));
    join(path, sizeof(path), d, "e.session");
    T_EQ_INT(t_write_file(path, "", 0), 0);
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    T_EQ_INT(mts_storage_load(&got, st, &e), MTS_ECORRUPT);
    snprintf(want, sizeof(want), "%s is empty", path);
    T_EQ_STR(e.message, want);
    T_EQ_INT(stat(path, &sb), 0);
    T_EQ_INT(sb.st_size, 0);
    T_EQ_INT(h_entries(d), 1);
    mts_storage_free(st);
}

static void
test_load_not_regular(void)
{
    char d[PATH_MAX], path[PATH_MAX];
    mts_storage *st = NULL;
    mts_session *got = NULL;
    mts_error e = MTS_ERROR_INIT;
    h_dir("notreg", d, sizeof(d));
    join(path, sizeof(path), d, "dir.session");
    T_EQ_INT(mkdir(path, 0700), 0);
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    T_EQ_INT(mts_storage_load(&got, st, &e), MTS_EIO);
    T_CONTAINS(e.message, "is not a regular file");
    mts_storage_free(st);

    /* A FIFO is refused without blocking. */
    join(path, sizeof(path), d, "fifo.session");
    T_EQ_INT(mkfifo(path, 0600), 0);
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    T_EQ_INT(mts_storage_load(&got, st, &e), MTS_EIO);
    T_CONTAINS(e.message, "is not a regular file");
    mts_storage_free(st);
}

static void
test_delete(void)
{
    char d[PATH_MAX], path[PATH_MAX];
    mts_session *a = h_session(1), *got = NULL;
    mts_storage *st = NULL;
    mts_error e = MTS_ERROR_INIT;
    h_dir("delete", d, sizeof(d));
    join(path, sizeof(path), d, "d.session");
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    /* Nothing stored is not an error, and it takes the lock. */
    T_EQ_INT(mts_storage_delete(st, &e), 0);
    T_EQ_INT(h_count(d, "d.session.lock"), 1);
    T_EQ_INT(mts_storage_save(st, a, &e), 0);
    T_EQ_INT(mts_storage_delete(st, &e), 0);
    T_EQ_INT(access(path, F_OK), -1);
    T_EQ_INT(mts_storage_load(&got, st, &e), MTS_ENOTFOUND);
    T_EQ_INT(mts_storage_delete(st, &e), 0);
    T_EQ_INT(h_entries(d), 1); /* the lock file stays */
    mts_storage_free(st);
    mts_session_free(a);
}

static void
test_open_arguments(void)
{
    char d[PATH_MAX], path[PATH_MAX];
    mts_storage *st = (mts_storage *)&st;
    mts_error e = MTS_ERROR_INIT;
    mts_file_options o = MTS_FILE_OPTIONS_INIT;
    h_dir("args", d, sizeof(d));
    T_EQ_INT(mts_file_open(&st, "", NULL, &e), MTS_EINVAL);
    T_CHECK(st == NULL);
    T_EQ_INT(mts_file_open(&st, NULL, NULL, &e), MTS_EINVAL);
    T_EQ_INT(mts_file_open(NULL, "x", NULL, &e), MTS_EINVAL);
    join(path, sizeof(path), d, "sub/");
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), MTS_EINVAL);
    T_CONTAINS(e.message, "does not name a file");
    join(path, sizeof(path), d, "..");
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), MTS_EINVAL);
    join(path, sizeof(path), d, "ok");
    o.version = 0;
    T_EQ_INT(mts_file_open(&st, path, &o, &e), MTS_EINVAL);
    o.version = MTS_FILE_OPTIONS_VERSION + 1;
    T_EQ_INT(mts_file_open(&st, path, &o, &e), MTS_EINVAL);
    o.version = MTS_FILE_OPTIONS_VERSION;
    o.flags = 0x80;
    T_EQ_INT(mts_file_open(&st, path, &o, &e), MTS_EINVAL);
    T_CONTAINS(e.message, "0x80");
    o.flags = 0;
    T_EQ_INT(mts_file_open(&st, path, &o, &e), 0);
    mts_storage_free(st);
    /* A relative path with no directory part works (directory "."). */
    {
        char cwd[PATH_MAX];
        mts_session *a = h_session(4), *got = NULL;
        T_CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
        T_EQ_INT(chdir(d), 0);
        T_EQ_INT(mts_file_open(&st, "rel.session", NULL, &e), 0);
        T_EQ_STR(mts_storage_name(st), "file:rel.session");
        T_EQ_INT(mts_storage_save(st, a, &e), 0);
        T_EQ_INT(mts_storage_load(&got, st, &e), 0);
        T_CHECK(got != NULL && mts_session_equal(a, got));
        mts_storage_free(st);
        T_EQ_INT(chdir(cwd), 0);
        mts_session_free(got);
        mts_session_free(a);
    }
}

/* A save into a directory that does not exist names the step and path. */
static void
test_save_error_message(void)
{
    char d[PATH_MAX], path[PATH_MAX], want[2 * PATH_MAX];
    mts_session *a = h_session(1);
    mts_storage *st = NULL;
    mts_error e = MTS_ERROR_INIT;
    h_dir("errmsg", d, sizeof(d));
    join(path, sizeof(path), d, "gone/s.session");
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    T_EQ_INT(mts_storage_save(st, a, &e), MTS_EIO);
    T_EQ_INT(e.native, ENOENT);
    snprintf(want, sizeof(want), "open %s.lock: No such file or directory",
             path);
    T_EQ_STR(e.message, want);
    mts_storage_free(st);

    /* Without the lock step: the atomic writer names the temp file. */
    T_EQ_INT(mts_file_write_atomic(path, "x", 1, 0, &e), MTS_EIO);
    T_EQ_INT(e.native, ENOENT);
    snprintf(want, sizeof(want), "open %s.tmp.%ld.", path, (long)getpid());
    T_CHECK(strncmp(e.message, want, strlen(want)) == 0);
    T_CONTAINS(e.message, ": No such file or directory");
    mts_session_free(a);
}

static void
test_symlink_refused(void)
{
    char d[PATH_MAX], target[PATH_MAX], link_[PATH_MAX];
    mts_session *a = h_session(1);
    mts_storage *st = (mts_storage *)&st;
    mts_error e = MTS_ERROR_INIT;
    size_t len;
    uint8_t *enc = h_encode(a, &len);
    struct stat sb;
    h_dir("symrefuse", d, sizeof(d));
    join(target, sizeof(target), d, "real.session");
    join(link_, sizeof(link_), d, "link.session");
    T_EQ_INT(t_write_file(target, enc, len), 0);
    T_EQ_INT(symlink("real.session", link_), 0);

    T_EQ_INT(mts_file_open(&st, link_, NULL, &e), MTS_EINVAL);
    T_CHECK(st == NULL);
    T_CONTAINS(e.message, "is a symbolic link; pass MTS_FILE_FOLLOW_SYMLINK "
                          "to follow it");
    T_CHECK(strncmp(e.message, link_, strlen(link_)) == 0);
    T_EQ_INT(mts_file_write_atomic(link_, "x", 1, 0, &e), MTS_EINVAL);
    T_CONTAINS(e.message, "MTS_FILE_FOLLOW_SYMLINK");
    /* Nothing was touched. */
    T_EQ_INT(lstat(link_, &sb), 0);
    T_CHECK(S_ISLNK(sb.st_mode));
    T_CHECK(h_file_is(target, enc, len));
    T_EQ_INT(h_entries(d), 2);
    mts_free(enc);
    mts_session_free(a);
}

static void
test_symlink_followed(void)
{
    char d[PATH_MAX], sub[PATH_MAX], target[PATH_MAX], link_[PATH_MAX];
    char real[PATH_MAX], name[2 * PATH_MAX];
    mts_session *a = h_session(1), *b = h_session(2), *got = NULL;
    mts_storage *st = NULL;
    mts_error e = MTS_ERROR_INIT;
    mts_file_options o = MTS_FILE_OPTIONS_INIT;
    size_t alen, blen;
    uint8_t *aenc = h_encode(a, &alen), *benc = h_encode(b, &blen);
    struct stat sb;

    h_dir("symfollow", d, sizeof(d));
    join(sub, sizeof(sub), d, "data");
    T_EQ_INT(mkdir(sub, 0700), 0);
    join(target, sizeof(target), sub, "real.session");
    join(link_, sizeof(link_), d, "link.session");
    T_EQ_INT(t_write_file(target, aenc, alen), 0);
    T_EQ_INT(symlink("data/real.session", link_), 0);
    o.flags = MTS_FILE_FOLLOW_SYMLINK;
    T_EQ_INT(mts_file_open(&st, link_, &o, &e), 0);
    T_CHECK(realpath(target, real) != NULL);
    snprintf(name, sizeof(name), "file:%s", real);
    T_EQ_STR(mts_storage_name(st), name);
    T_EQ_INT(mts_storage_load(&got, st, &e), 0);
    T_CHECK(got != NULL && mts_session_equal(a, got));
    mts_session_free(got);
    got = NULL;
    T_EQ_INT(mts_storage_save(st, b, &e), 0);
    /* The target was replaced, the link is still a link to it. */
    T_CHECK(h_file_is(target, benc, blen));
    T_EQ_INT(lstat(link_, &sb), 0);
    T_CHECK(S_ISLNK(sb.st_mode));
    T_CHECK(h_file_is(link_, benc, blen));
    /* Temp and lock files live beside the target, not the link. */
    T_EQ_INT(h_entries(d), 2);
    T_EQ_INT(h_entries(sub), 2);
    T_EQ_INT(h_count(sub, "real.session.lock"), 1);
    mts_storage_free(st);

    /* A dangling link to a file that does not exist yet, via a chain. */
    {
        char l1[PATH_MAX], l2[PATH_MAX], t2[PATH_MAX];
        join(l1, sizeof(l1), d, "l1");
        join(l2, sizeof(l2), d, "l2");
        join(t2, sizeof(t2), sub, "new.session");
        T_EQ_INT(symlink("l2", l1), 0);
        T_EQ_INT(symlink(t2, l2), 0);
        T_EQ_INT(mts_file_open(&st, l1, NULL, &e), MTS_EINVAL);
        T_EQ_INT(mts_file_open(&st, l1, &o, &e), 0);
        T_EQ_INT(mts_storage_load(&got, st, &e), MTS_ENOTFOUND);
        T_EQ_INT(mts_storage_save(st, a, &e), 0);
        T_CHECK(h_file_is(t2, aenc, alen));
        T_EQ_INT(lstat(l1, &sb), 0);
        T_CHECK(S_ISLNK(sb.st_mode));
        T_EQ_INT(lstat(l2, &sb), 0);
        T_CHECK(S_ISLNK(sb.st_mode));
        mts_storage_free(st);
        /* The atomic writer follows the same way with the flag. */
        T_EQ_INT(mts_file_write_atomic(l1, benc, blen,
                                       MTS_FILE_FOLLOW_SYMLINK, &e),
                 0);
        T_CHECK(h_file_is(t2, benc, blen));
        T_EQ_INT(lstat(l1, &sb), 0);
        T_CHECK(S_ISLNK(sb.st_mode));
    }
    /* A link loop is refused, not followed forever. */
    {
        char x[PATH_MAX], y[PATH_MAX];
        join(x, sizeof(x), d, "loopx");
        join(y, sizeof(y), d, "loopy");
        T_EQ_INT(symlink("loopy", x), 0);
        T_EQ_INT(symlink("loopx", y), 0);
        T_EQ_INT(mts_file_open(&st, x, &o, &e), MTS_EINVAL);
        T_CONTAINS(e.message, "too many levels of symbolic links");
    }
    mts_free(aenc);
    mts_free(benc);
    mts_session_free(a);
    mts_session_free(b);
}

/* A link planted after open is neither read through nor written through. */
static void
test_symlink_planted_later(void)
{
    char d[PATH_MAX], path[PATH_MAX], other[PATH_MAX];
    mts_session *a = h_session(1), *b = h_session(2), *got = NULL;
    mts_storage *st = NULL;
    mts_error e = MTS_ERROR_INIT;
    size_t alen, blen;
    uint8_t *aenc = h_encode(a, &alen), *benc = h_encode(b, &blen);
    struct stat sb;
    h_dir("planted", d, sizeof(d));
    join(path, sizeof(path), d, "s.session");
    join(other, sizeof(other), d, "victim");
    T_EQ_INT(t_write_file(other, aenc, alen), 0);
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    T_EQ_INT(symlink("victim", path), 0);
    T_EQ_INT(mts_storage_load(&got, st, &e), MTS_EINVAL);
    T_CONTAINS(e.message, "is a symbolic link");
    T_CHECK(got == NULL);
    /* A save replaces the link itself; the file it pointed to is intact. */
    T_EQ_INT(mts_storage_save(st, b, &e), 0);
    T_EQ_INT(lstat(path, &sb), 0);
    T_CHECK(S_ISREG(sb.st_mode));
    T_CHECK(h_file_is(path, benc, blen));
    T_CHECK(h_file_is(other, aenc, alen));
    mts_storage_free(st);
    mts_free(aenc);
    mts_free(benc);
    mts_session_free(a);
    mts_session_free(b);
}

/* ---- the writer lock ---------------------------------------------------- */

static void
test_lock_two_processes(void)
{
    char d[PATH_MAX], path[PATH_MAX], want[2 * PATH_MAX];
    mts_session *a = h_session(1), *b = h_session(2), *got = NULL;
    mts_storage *st = NULL;
    mts_error e = MTS_ERROR_INIT;
    size_t alen;
    uint8_t *aenc = h_encode(a, &alen);
    int ready[2], release[2], status = 0;
    char c = 0;
    pid_t pid;

    h_dir("lockproc", d, sizeof(d));
    join(path, sizeof(path), d, "p.session");
    T_EQ_INT(pipe(ready), 0);
    T_EQ_INT(pipe(release), 0);
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        /* Child: write once, report, hold the handle until told. */
        mts_storage *cst = NULL;
        char r = 'x';
        close(ready[0]);
        close(release[1]);
        if (mts_file_open(&cst, path, NULL, NULL) == 0 &&
            mts_storage_save(cst, a, NULL) == 0)
            r = 'k';
        if (write(ready[1], &r, 1) != 1)
            _exit(3);
        if (read(release[0], &r, 1) < 0)
            _exit(3);
        _exit(0);
    }
    T_CHECK(pid > 0);
    close(ready[1]);
    close(release[0]);
    T_EQ_INT(read(ready[0], &c, 1), 1);
    T_EQ_INT(c, 'k');

    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    /* Reading needs no lock. */
    T_EQ_INT(mts_storage_load(&got, st, &e), 0);
    T_CHECK(got != NULL && mts_session_equal(a, got));
    mts_session_free(got);
    T_EQ_INT(mts_storage_save(st, b, &e), MTS_ELOCKED);
    T_EQ_INT(e.code, MTS_ELOCKED);
    snprintf(want, sizeof(want), "%s is locked by pid %ld", path, (long)pid);
    T_EQ_STR(e.message, want);
    T_EQ_INT(mts_storage_delete(st, &e), MTS_ELOCKED);
    T_EQ_STR(e.message, want);
    {
        mts_update_change ch = MTS_UPDATE_CHANGE_INIT;
        ch.kind = MTS_UPDATE_CHANNEL;
        ch.channel_id = 5;
        ch.channel_pts = 6;
        T_EQ_INT(mts_storage_apply_update_state(st, &ch, &e), MTS_ELOCKED);
    }
    /* Nothing was written. */
    T_CHECK(h_file_is(path, aenc, alen));
    T_EQ_INT(h_count(d, ".tmp"), 0);

    /* The owner dies: its lock goes with it, the next save succeeds. */
    T_EQ_INT(write(release[1], "g", 1), 1);
    T_EQ_INT(waitpid(pid, &status, 0), pid);
    T_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    T_EQ_INT(mts_storage_save(st, b, &e), 0);
    T_EQ_INT(mts_storage_load(&got, st, &e), 0);
    T_CHECK(got != NULL && mts_session_equal(b, got));
    mts_session_free(got);
    mts_storage_free(st);
    close(ready[0]);
    close(release[1]);
    mts_free(aenc);
    mts_session_free(a);
    mts_session_free(b);
}

static void
test_lock_same_process(void)
{
    char d[PATH_MAX], path[PATH_MAX], want[2 * PATH_MAX];
    mts_session *a = h_session(1), *b = h_session(2), *got = NULL;
    mts_storage *h1 = NULL, *h2 = NULL;
    mts_error e = MTS_ERROR_INIT;
    h_dir("lockself", d, sizeof(d));
    join(path, sizeof(path), d, "s.session");
    T_EQ_INT(mts_file_open(&h1, path, NULL, &e), 0);
    T_EQ_INT(mts_file_open(&h2, path, NULL, &e), 0);
    T_EQ_INT(mts_storage_save(h1, a, &e), 0);
    T_EQ_INT(mts_storage_save(h2, b, &e), MTS_ELOCKED);
    snprintf(want, sizeof(want), "%s is locked by pid %ld", path,
             (long)getpid());
    T_EQ_STR(e.message, want);
    T_EQ_INT(mts_storage_delete(h2, &e), MTS_ELOCKED);
    /* h1 keeps writing; h2 can read what h1 wrote. */
    T_EQ_INT(mts_storage_save(h1, b, &e), 0);
    T_EQ_INT(mts_storage_load(&got, h2, &e), 0);
    T_CHECK(got != NULL && mts_session_equal(b, got));
    mts_session_free(got);
    /* Once h1 is gone, h2 may write. */
    mts_storage_free(h1);
    T_EQ_INT(mts_storage_save(h2, a, &e), 0);
    T_EQ_INT(mts_storage_load(&got, h2, &e), 0);
    T_CHECK(got != NULL && mts_session_equal(a, got));
    mts_session_free(got);
    mts_storage_free(h2);
    mts_session_free(a);
    mts_session_free(b);
}

/* ---- crash leftovers ---------------------------------------------------- */

static void
test_leftovers_removed(void)
{
    static const char *const stale[] = {
        "s.session.tmp.123.0.0123456789abcdef",
        "s.session.tmp.1.99.a",
    };
    static const char *const keep[] = {
        "s.session.tmp.keep",            /* not our pattern */
        "s.session.tmp.12.3.ABCD",       /* upper-case hex: not ours */
        "s.session.tmp.12.3.ab.x",       /* trailing part */
        "s.session.tmp.12.ab",           /* missing the counter */
        "other.session.tmp.123.0.abcd",  /* another session's */
        "xs.session.tmp.123.0.abcd",     /* a longer name's */
    };
    char d[PATH_MAX], path[PATH_MAX], p[PATH_MAX];
    mts_session *a = h_session(1), *got = NULL;
    mts_storage *st = NULL;
    mts_error e = MTS_ERROR_INIT;
    size_t i;
    h_dir("leftovers", d, sizeof(d));
    join(path, sizeof(path), d, "s.session");
    for (i = 0; i < N_OF(stale); i++) {
        join(p, sizeof(p), d, stale[i]);
        T_EQ_INT(t_write_file(p, "junk", 4), 0);
    }
    for (i = 0; i < N_OF(keep); i++) {
        join(p, sizeof(p), d, keep[i]);
        T_EQ_INT(t_write_file(p, "keep", 4), 0);
    }
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    /* Reading does not clean: only the lock holder may. */
    T_EQ_INT(mts_storage_load(&got, st, &e), MTS_ENOTFOUND);
    T_EQ_INT(h_entries(d), 8);
    T_EQ_INT(mts_storage_save(st, a, &e), 0);
    for (i = 0; i < N_OF(stale); i++) {
        join(p, sizeof(p), d, stale[i]);
        T_EQ_INT(access(p, F_OK), -1);
    }
    for (i = 0; i < N_OF(keep); i++) {
        join(p, sizeof(p), d, keep[i]);
        T_EQ_INT(access(p, F_OK), 0);
    }
    /* session + lock + the six kept. */
    T_EQ_INT(h_entries(d), 8);
    mts_storage_free(st);
    mts_session_free(a);
}

/* ---- atomic file I/O ---------------------------------------------------- */

static void
test_write_atomic_and_read(void)
{
    char d[PATH_MAX], path[PATH_MAX], link_[PATH_MAX];
    mts_error e = MTS_ERROR_INIT;
    uint8_t *data = (uint8_t *)&e;
    size_t len = 99;
    struct stat sb;
    mode_t old = umask(0);
    h_dir("atomic", d, sizeof(d));
    join(path, sizeof(path), d, "f.txt");
    /* Replacing a world-readable file makes it 0600. */
    T_EQ_INT(t_write_file(path, "old", 3), 0);
    T_EQ_INT(chmod(path, 0644), 0);
    T_EQ_INT(mts_file_write_atomic(path, "hello", 5, 0, &e), 0);
    T_EQ_INT(stat(path, &sb), 0);
    T_EQ_INT(sb.st_mode & 07777, 0600);
    T_EQ_INT(h_entries(d), 1); /* no lock file for plain writes */
    umask(old);

    T_EQ_INT(mts_file_read(&data, &len, path, 0, &e), 0);
    T_EQ_U64(len, 5);
    T_EQ_MEM(data, "hello", 6); /* NUL-terminated */
    mts_free(data);
    T_EQ_INT(mts_file_read(&data, &len, path, 5, &e), 0);
    mts_free(data);
    T_EQ_INT(mts_file_read(&data, &len, path, 4, &e), MTS_ELIMIT);
    T_CONTAINS(e.message, "larger than the maximum of 4 bytes");

    /* Empty data, and an empty file reads back as 0 bytes. */
    T_EQ_INT(mts_file_write_atomic(path, NULL, 0, 0, &e), 0);
    T_EQ_INT(mts_file_read(&data, &len, path, 0, &e), 0);
    T_EQ_U64(len, 0);
    T_EQ_INT(data[0], 0);
    mts_free(data);

    /* mts_file_read follows links (it reads what the caller names). */
    T_EQ_INT(mts_file_write_atomic(path, "abc", 3, 0, &e), 0);
    join(link_, sizeof(link_), d, "l");
    T_EQ_INT(symlink("f.txt", link_), 0);
    T_EQ_INT(mts_file_read(&data, &len, link_, 0, &e), 0);
    T_EQ_U64(len, 3);
    mts_free(data);

    join(path, sizeof(path), d, "nope");
    T_EQ_INT(mts_file_read(&data, &len, path, 0, &e), MTS_ENOTFOUND);
    /* "-" is a file name like any other here. */
    T_EQ_INT(mts_file_read(&data, &len, "-", 0, &e), MTS_ENOTFOUND);
    T_EQ_INT(mts_file_read(&data, &len, d, 0, &e), MTS_EIO);
    T_EQ_INT(e.native, EISDIR);
    T_EQ_INT(mts_file_read(&data, &len, "", 0, &e), MTS_EINVAL);

    T_EQ_INT(mts_file_write_atomic(path, NULL, 1, 0, &e), MTS_EINVAL);
    T_EQ_INT(mts_file_write_atomic(path, "x", 1, 0x10, &e), MTS_EINVAL);
    T_EQ_INT(mts_file_write_atomic("", "x", 1, 0, &e), MTS_EINVAL);
    T_EQ_INT(h_count(d, ".tmp"), 0);
}

/* A file bigger than MTS_INPUT_MAX is refused before it is read. */
static void
test_read_limit_sparse(void)
{
    char d[PATH_MAX], path[PATH_MAX];
    mts_storage *st = NULL;
    mts_session *got = NULL;
    mts_error e = MTS_ERROR_INIT;
    FILE *f;
    h_dir("limit", d, sizeof(d));
    join(path, sizeof(path), d, "big.session");
    f = fopen(path, "wb");
    T_CHECK(f != NULL);
    if (f == NULL)
        return;
    T_EQ_INT(fseeko(f, (off_t)MTS_INPUT_MAX, SEEK_SET), 0);
    T_EQ_INT(fputc(1, f), 1);
    T_EQ_INT(fclose(f), 0);
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    T_EQ_INT(mts_storage_load(&got, st, &e), MTS_ELIMIT);
    mts_storage_free(st);
}

/* ---- one handle, many threads ------------------------------------------ */

enum { THREADS = 4, PER_THREAD = 200 };

typedef struct worker {
    mts_storage *st;
    int index;
    int failures;
    mts_error err;
} worker;

static void *
work(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        mts_update_change ch = MTS_UPDATE_CHANGE_INIT;
        ch.kind = MTS_UPDATE_CHANNEL;
        ch.channel_id = (int64_t)w->index * 100000 + i + 1;
        ch.channel_pts = w->index * 1000 + i;
        if (mts_storage_apply_update_state(w->st, &ch, &w->err) != 0)
            w->failures++;
    }
    return NULL;
}

static void
test_threads_one_handle(void)
{
    char d[PATH_MAX], path[PATH_MAX];
    mts_storage *st = NULL;
    mts_session *got = NULL;
    mts_error e = MTS_ERROR_INIT;
    pthread_t th[THREADS];
    worker w[THREADS];
    h_dir("threads", d, sizeof(d));
    join(path, sizeof(path), d, "t.session");
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    for (int i = 0; i < THREADS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].st = st;
        w[i].index = i;
        T_EQ_INT(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        T_EQ_INT(pthread_join(th[i], NULL), 0);
        T_EQ_INT(w[i].failures, 0);
        if (w[i].failures)
            fprintf(stderr, "  thread %d: %s\n", i, w[i].err.message);
    }
    T_EQ_INT(mts_storage_load(&got, st, &e), 0);
    T_CHECK(got != NULL);
    if (got != NULL) {
        T_EQ_U64(mts_session_channel_count(got), THREADS * PER_THREAD);
        for (int i = 0; i < THREADS; i++)
            for (int j = 0; j < PER_THREAD; j++) {
                int32_t pts = -1;
                int64_t id = (int64_t)i * 100000 + j + 1;
                T_EQ_INT(mts_session_channel_pts(got, id, &pts), 0);
                T_EQ_INT(pts, i * 1000 + j);
            }
    }
    T_EQ_INT(h_count(d, ".tmp"), 0);
    mts_session_free(got);
    mts_storage_free(st);
}

T_MAIN(T_CASE(test_roundtrip_mode_bytes), T_CASE(test_lock_file_holds_pid),
       T_CASE(test_load_missing), T_CASE(test_load_corrupt_left_alone),
       T_CASE(test_load_empty_file), T_CASE(test_load_not_regular),
       T_CASE(test_delete), T_CASE(test_open_arguments),
       T_CASE(test_save_error_message), T_CASE(test_symlink_refused),
       T_CASE(test_symlink_followed), T_CASE(test_symlink_planted_later),
       T_CASE(test_lock_two_processes), T_CASE(test_lock_same_process),
       T_CASE(test_leftovers_removed), T_CASE(test_write_atomic_and_read),
       T_CASE(test_read_limit_sparse), T_CASE(test_threads_one_handle))
