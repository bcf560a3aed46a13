/*
 * file.c - the binary file backend, and atomic whole-file I/O.
 *
 * A session lives in one file holding the binary encoding (codec.h,
 * docs/FORMAT.md), the snapshot. Next to it:
 *
 *   <path>.journal                0600, the update journal (journal.c,
 *                                 docs/FORMAT.md "Journal"): one record per
 *                                 apply_update_state call, appended and
 *                                 synced, bound to the snapshot by the
 *                                 snapshot's id. A load replays it over
 *                                 the snapshot; a save empties it.
 *   <path>.lock                   0600, holds the writer's pid as decimal
 *                                 text and an open-file-description lock
 *                                 while a handle that has written is open;
 *                                 never deleted (deleting a lock file
 *                                 races with the next process to take it).
 *   <path>.lease                  0600, the lease record (journal.c:
 *                                 owner, fencing epoch, expiry, CRC-32C),
 *                                 replaced whole like a snapshot; created
 *                                 by the first lease, never deleted (the
 *                                 epoch must never go back).
 *   <path>.tmp.<pid>.<n>.<hex>    a save in progress: created 0600 with
 *                                 O_EXCL, written, fsynced, renamed over
 *                                 <path>. One that survives was left by a
 *                                 crash; the next lock holder removes it
 *                                 (and <path>.lease.tmp.* likewise).
 *
 * The journal and the snapshot. A handle that has used the journal writes
 * snapshots with an id (a random GENERATION section; a sealed snapshot's
 * envelope nonce is its id), and the journal header names the id of the
 * snapshot it extends. A save renames the new snapshot into place, syncs
 * the directory, and only then empties the journal: a crash in between
 * leaves a journal naming the old id, which every reader ignores. A
 * journal is emptied (truncated and synced) before it gets its new header,
 * so a torn header never sits in front of old records. Snapshots written
 * by a handle that never used the journal are exactly mts_encode's bytes;
 * no journal extends them, so the first journaled change of a handle on
 * such a snapshot is a save (a fold).
 *
 * Readers take no lock: rename replaces the file in one step, so a reader
 * sees the old or the new file, never a mix. A load keeps the snapshot
 * open while it reads the journal and then checks that the path still
 * names the file it read; if a save replaced it meanwhile, it reads again.
 * A load never renames, deletes or rewrites anything; a bad file is
 * reported, not moved away.
 *
 * Symbolic links are refused unless the caller asks to follow them; then
 * the link is resolved once, at open, and the target is used from then
 * on. Files are opened with O_NOFOLLOW, so a link planted later is refused
 * rather than followed, and rename replaces a link rather than writing
 * through it.
 *
 * Leases (lease.h). The OFD lock on <path>.lock is the critical section
 * of every writer, and the lease record says who may write:
 *
 * - A handle without a lease keeps the lock from its first write until it
 *   is freed, as it always did. Having taken it, it looks for the lease
 *   record in the directory listing it makes anyway (the scan for crash
 *   leftovers, so a store never leased costs no extra call; when the
 *   directory cannot be listed the record is opened directly). A live
 *   lease of anyone refuses the write: MTS_ELOCKED "session held by OWNER
 *   until T", and the lock is given back. While such a handle holds the
 *   lock nobody can take a lease, so one check is enough.
 * - A handle holding a lease takes the lock for each operation only (a
 *   lease must change hands between processes, and a process stopped
 *   between operations must not keep others out past its lease), waiting
 *   up to LOCK_WAIT_MS for other operations to finish. Inside it, before
 *   anything is written, it reads the record: it must still name this
 *   handle's owner and epoch and be live on this machine's clock, else
 *   MTS_EFENCED and nothing is written. Check and write happen under one
 *   lock, so no lease can change hands in between.
 * - Acquire, renew and release read, check and replace the record under
 *   the lock (acquire: epoch + 1 unless the same owner's lease is still
 *   live, which is renewed with its epoch). Show reads it without a lock.
 * - Expiry is Unix time in ms on the clock of the machine that wrote the
 *   record: file leases assume one machine, or clocks kept in sync
 *   (docs/FLEET.md). A dead holder needs no cleanup: its lock went with
 *   its process and its lease runs out.
 * - A lease holder's journal state (the open journal, its length, the
 *   snapshot id) was true when its last operation released the lock. Any
 *   other writer may have changed the store since, including another
 *   handle of the same owner and epoch, or a handle without a lease after
 *   the lease ran out. So each of its writes also leaves a random token
 *   in the lock file ("<pid> <token>"); finding another token there (a
 *   handle without a lease writes only its pid) means the store was
 *   written by someone else, and the journal is read again.
 *
 * Optimistic mode (storage.h). The revision is derived from what a load
 * reads (the snapshot's identity and last bytes, the journal's end and
 * last record; "Revisions" below, docs/FORMAT.md), so no write pays for
 * it. save_if loads, compares and saves under the lock. From its first
 * save_if on, a handle without a lease takes the lock for each write only
 * (per_call), as a holder does, with the lease check and a token, so
 * writers in several processes take turns.
 *
 * Every system call on files goes through os.h so tests can fail any of
 * them. Resolving a link (readlink, realpath), listing the directory
 * for crash leftovers and the writeback hint of a big save
 * (sync_file_range, whose result is ignored) use the C library directly.
 *
 * Thread-safety: the storage wrapper serialises calls on one handle; the
 * only state shared between handles is the atomic temp-name counter.
 */
#include "internal.h"
#include "journal.h"
#include "lease_text.h"
#include "mtsession/seal.h"
#include "os.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

/* How many links a chain may have before we give up (as the kernel). */
#define LINK_DEPTH_MAX 40
/* How many fresh names to try when a temp name already exists. */
#define TMP_NAME_TRIES 8
/* How many times a load reads again when a save replaced the file. */
#define LOAD_TRIES 8
/* How long a lease holder waits for another operation's lock, and the
 * longest pause between two tries. */
#define LOCK_WAIT_MS 2000
#define LOCK_PAUSE_MAX_MS 20
/* Largest lock file content read: "<pid> <16 hex digits>\n". */
#define LOCK_TEXT_MAX 64
/* A streamed save starts the writeback of every this many bytes. */
#define WRITEBACK_STEP ((uint64_t)1 << 20)
/* Defaults of mts_file_options. */
#define JOURNAL_MAX_DEFAULT ((size_t)1 << 20)
#define JOURNAL_MAX_MIN 64
#define GROUP_CHANGES_DEFAULT 100
#define GROUP_MS_DEFAULT 1000

typedef struct file_backend {
    mts_backend base; /* first: the core casts between the two */
    char *path;       /* the file used (a followed link's target) */
    char *dir;        /* its directory, for fsync and cleanup */
    const char *file; /* its last component, inside path */
    char *lock_path;  /* path + ".lock" */
    char *name;       /* "file:" + path */
    int lock_fd;      /* -1 until the first write takes the lock */
    mts_secret *secret; /* borrowed; NULL: plain files */

    /* The journal. Only the lock holder appends; jfd >= 0 means the
     * journal is open, bound to the snapshot `jid`, and the disk is known
     * to match the fields below. Any doubt closes it (jfd = -1): the next
     * change then reads the store again (journal_start). */
    char *journal_path; /* path + ".journal" */
    int jfd;            /* O_WRONLY | O_APPEND, or -1 */
    bool journaling;    /* saves write an id, so a journal can extend them */
    bool fold_next;     /* a sync failed: the next change is a save */
    uint64_t jid;       /* the id of the snapshot the journal extends */
    size_t jlen;        /* bytes in the journal */
    size_t jsynced;     /* of which known durable */
    size_t jmax;        /* fold rather than grow past this */
    bool group;         /* MTS_FILE_GROUP_COMMIT */
    unsigned int group_changes, group_ms;
    unsigned int pending;          /* changes written since the last sync */
    struct timespec pending_since; /* when the first of them was written */

    /* The lease (lease.h). `leased`: this handle took one, which it may
     * have lost since (then every write is fenced off until it takes one
     * again); it then holds no lock between operations. */
    char *lease_path; /* path + ".lease" */
    bool leased;
    char owner[MTS_LEASE_OWNER_MAX + 1];
    uint64_t epoch;
    uint64_t token; /* left in the lock file by our last write; 0: none */
    bool swept;     /* crash leftovers removed under a per-call lock */
    /* Optimistic mode: this handle called save_if, so without a lease it
     * too takes the lock for each write only (op_lock, the lease check
     * and a token), as a holder does, instead of keeping it. */
    bool per_call;
} file_backend;

/* ---- errors ------------------------------------------------------------ */

static const char *
errstr(int e, char *buf, size_t size)
{
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    return strerror_r(e, buf, size);
#else
    if (strerror_r(e, buf, size) != 0)
        snprintf(buf, size, "error %d", e);
    return buf;
#endif
}

/* MTS_EIO naming the step, the file and errno: "fsync /x/a: ...". */
static int
io_err(mts_error *err, int e, const char *step, const char *path)
{
    char buf[128];
    return mts__err_native(err, MTS_EIO, e, "%s %s: %s", step, path,
                           errstr(e, buf, sizeof(buf)));
}

/* ---- paths ------------------------------------------------------------- */

static char *
join(const char *a, const char *sep, const char *b)
{
    size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
    char *p;
    if (la > SIZE_MAX - ls - lb - 1)
        return NULL;
    p = mts_malloc(la + ls + lb + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, a, la);
    memcpy(p + la, sep, ls);
    memcpy(p + la + ls, b, lb + 1);
    return p;
}

/* The directory part of path ("." when there is none, "/" for "/x"). */
static char *
dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return mts__strdup(".");
    if (slash == path)
        return mts__strdup("/");
    return mts__strndup(path, (size_t)(slash - path));
}

static const char *
last_component(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* A file name we can write: not empty, not ending in '/', not . or .. */
static int
check_file_name(const char *path, const char *what, mts_error *err)
{
    const char *f = last_component(path);
    if (*f == '\0' || strcmp(f, ".") == 0 || strcmp(f, "..") == 0)
        return mts__err(err, MTS_EINVAL, "%s %s does not name a file", what,
                        path);
    return 0;
}

/*
 * Follow the link at `path` (and any link it points to) to the file that
 * would be written: the canonical directory of the last target plus its
 * name. The target itself need not exist, so a link made before the first
 * save works; its directory must.
 */
static int
follow_link(char **out, const char *path, mts_error *err)
{
    char *cur = mts__strdup(path);
    char *dir = NULL;
    char real[PATH_MAX];
    int depth;
    if (cur == NULL)
        return mts__err_oom(err);
    for (depth = 0;; depth++) {
        struct stat st;
        char target[PATH_MAX];
        ssize_t n;
        char *next;
        if (mts__os_lstat(cur, &st) != 0) {
            int e = errno;
            if (e == ENOENT)
                break; /* a dangling link: the file comes with the save */
            io_err(err, e, "lstat", cur);
            mts_free(cur);
            return MTS_EIO;
        }
        if (!S_ISLNK(st.st_mode))
            break;
        if (depth == LINK_DEPTH_MAX) {
            mts__err(err, MTS_EINVAL, "%s: too many levels of symbolic links",
                     path);
            mts_free(cur);
            return MTS_EINVAL;
        }
        n = readlink(cur, target, sizeof(target));
        if (n < 0 || (size_t)n >= sizeof(target)) {
            int e = n < 0 ? errno : ENAMETOOLONG;
            io_err(err, e, "readlink", cur);
            mts_free(cur);
            return MTS_EIO;
        }
        target[n] = '\0';
        if (target[0] == '/') {
            next = mts__strdup(target);
        } else {
            char *d = dir_of(cur);
            next = d ? join(d, "/", target) : NULL;
            mts_free(d);
        }
        mts_free(cur);
        if (next == NULL)
            return mts__err_oom(err);
        cur = next;
    }
    if (check_file_name(cur, "symbolic link target", err) != 0) {
        mts_free(cur);
        return MTS_EINVAL;
    }
    dir = dir_of(cur);
    if (dir == NULL) {
        mts_free(cur);
        return mts__err_oom(err);
    }
    if (realpath(dir, real) == NULL) {
        io_err(err, errno, "resolve directory", dir);
        mts_free(dir);
        mts_free(cur);
        return MTS_EIO;
    }
    *out = join(real, strcmp(real, "/") == 0 ? "" : "/",
                last_component(cur));
    mts_free(dir);
    mts_free(cur);
    return *out ? 0 : mts__err_oom(err);
}

/* The path to operate on: `path` itself, or with `follow` its target. */
static int
resolve(char **out, const char *path, int follow, mts_error *err)
{
    struct stat st;
    if (path == NULL || *path == '\0')
        return mts__err(err, MTS_EINVAL, "empty path");
    if (check_file_name(path, "path", err) != 0)
        return MTS_EINVAL;
    if (mts__os_lstat(path, &st) != 0) {
        int e = errno;
        if (e != ENOENT)
            return io_err(err, e, "lstat", path);
    } else if (S_ISLNK(st.st_mode)) {
        if (!follow)
            return mts__err(err, MTS_EINVAL,
                            "%s is a symbolic link; pass "
                            "MTS_FILE_FOLLOW_SYMLINK to follow it",
                            path);
        return follow_link(out, path, err);
    }
    *out = mts__strdup(path);
    return *out ? 0 : mts__err_oom(err);
}

/* ---- atomic replace ---------------------------------------------------- */

static atomic_ulong g_tmp_counter;

static uint64_t
mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

/*
 * "<path>.tmp.<pid>.<n>.<hex>". pid and the counter make the name unique
 * among live writers of one pid namespace; the hex (clock and address
 * bits) separates processes that share a directory across namespaces.
 * O_EXCL catches whatever is left.
 */
static void
tmp_name(char *buf, size_t size, const char *path)
{
    struct timespec ts = { 0, 0 };
    unsigned long n =
        atomic_fetch_add_explicit(&g_tmp_counter, 1, memory_order_relaxed);
    uint64_t r;
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    r = mix64((uint64_t)ts.tv_sec ^ mix64((uint64_t)ts.tv_nsec) ^
              mix64((uint64_t)(uintptr_t)&ts) ^ mix64(n));
    snprintf(buf, size, "%s.tmp.%ld.%lu.%016llx", path, (long)getpid(), n,
             (unsigned long long)r);
}

/* Write all of data, looping over short writes and EINTR. */
static int
write_all(int fd, const uint8_t *data, size_t len, const char *path,
          mts_error *err)
{
    while (len > 0) {
        ssize_t n = mts__os_write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return io_err(err, errno, "write", path);
        }
        if (n == 0)
            return mts__err_native(err, MTS_EIO, EIO,
                                   "write %s: no progress (0 bytes written)",
                                   path);
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes the new file's bytes to fd (the temp file `tmp`); 0 or an error
 * that names tmp. */
typedef int (*fill_fn)(int fd, const char *tmp, void *arg, mts_error *err);

/*
 * Replace `path` (in directory `dir`) with what fill writes: temp file,
 * write, fsync, close, rename, fsync of the directory. The directory is
 * opened before the rename so that every failure up to and including the
 * rename leaves the old file in place; only the directory fsync can fail
 * after it.
 */
static int
write_atomic_with(const char *path, const char *dir, fill_fn fill, void *arg,
                  mts_error *err)
{
    /* ".tmp." + pid + "." + counter + "." + 16 hex digits + NUL. */
    size_t tmp_size = strlen(path) + 80;
    char *tmp = mts_malloc(tmp_size);
    int fd = -1, dfd = -1, rc, tries, e;
    char ebuf[128];
    if (tmp == NULL)
        return mts__err_oom(err);
    for (tries = 0;; tries++) {
        tmp_name(tmp, tmp_size, path);
        fd = mts__os_open(tmp,
                          O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                          0600);
        if (fd >= 0)
            break;
        if (errno != EEXIST || tries + 1 == TMP_NAME_TRIES) {
            rc = io_err(err, errno, "open", tmp);
            mts_free(tmp);
            return rc;
        }
    }
    rc = fill(fd, tmp, arg, err);
    if (rc != 0)
        goto fail;
    if (mts__os_fsync(fd) != 0) {
        rc = io_err(err, errno, "fsync", tmp);
        goto fail;
    }
    e = mts__os_close(fd);
    fd = -1;
    if (e != 0 && errno != EINTR) {
        /* The data may not have reached the file (NFS reports here). */
        rc = io_err(err, errno, "close", tmp);
        goto fail;
    }
    dfd = mts__os_open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dfd < 0) {
        rc = io_err(err, errno, "open directory", dir);
        goto fail;
    }
    if (mts__os_rename(tmp, path) != 0) {
        e = errno;
        rc = mts__err_native(err, MTS_EIO, e, "rename %s to %s: %s", tmp,
                             path, errstr(e, ebuf, sizeof(ebuf)));
        goto fail;
    }
    mts_free(tmp);
    if (mts__os_fsync(dfd) != 0) {
        e = errno;
        (void)mts__os_close(dfd);
        return mts__err_native(err, MTS_EIO, e,
                               "fsync directory %s: %s (%s was replaced, "
                               "but the change may not survive a crash)",
                               dir, errstr(e, ebuf, sizeof(ebuf)), path);
    }
    /* Read-only descriptor, already synced: nothing a close could lose. */
    (void)mts__os_close(dfd);
    return 0;

fail:
    if (fd >= 0)
        (void)mts__os_close(fd);
    if (dfd >= 0)
        (void)mts__os_close(dfd);
    (void)mts__os_unlink(tmp);
    mts_free(tmp);
    return rc;
}

typedef struct bytes_fill {
    const uint8_t *data;
    size_t len;
} bytes_fill;

static int
fill_bytes(int fd, const char *tmp, void *arg, mts_error *err)
{
    const bytes_fill *b = arg;
    return write_all(fd, b->data, b->len, tmp, err);
}

/* write_atomic_with of data[0, len), in as few writes as it takes. */
static int
write_atomic(const char *path, const char *dir, const uint8_t *data,
             size_t len, mts_error *err)
{
    bytes_fill b;
    b.data = data;
    b.len = len;
    return write_atomic_with(path, dir, fill_bytes, &b, err);
}

/* A plain snapshot encoded straight into the temp file, a chunk at a time
 * (mts__encode_stream): a big session never has its whole encoding in
 * memory. A session under MTS__ENCODE_CHUNK bytes is one write. */
typedef struct stream_fill {
    const mts_session *s;
    uint64_t gen; /* the GENERATION section, 0 for none */
    int fd;
    const char *tmp;
    mts_error *err;
    uint64_t pos;     /* fd's file offset: what write() has written */
    uint64_t written; /* bytes written so far, at any offset */
    uint64_t started; /* written when writeback was last started */
} stream_fill;

/* A chunk at its offset: write() when it follows the last one (always,
 * for a session of one chunk), else pwrite() (the encoder fills the
 * regions of a big PEERS section side by side). */
static int
stream_sink(const uint8_t *chunk, size_t len, uint64_t offset, void *payload)
{
    stream_fill *f = payload;
    size_t done = 0;
    if (offset == f->pos) {
        int rc = write_all(f->fd, chunk, len, f->tmp, f->err);
        if (rc != 0)
            return rc;
        f->pos += len;
        done = len;
    }
    while (done < len) {
        ssize_t n = mts__os_pwrite(f->fd, chunk + done, len - done,
                                   (off_t)(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? io_err(f->err, errno, "write", f->tmp)
                         : mts__err_native(f->err, MTS_EIO, EIO,
                                           "write %s: no progress (0 bytes "
                                           "written)",
                                           f->tmp);
        done += (size_t)n;
    }
    f->written += len;
#ifdef SYNC_FILE_RANGE_WRITE
    /* Start writing what is written back to the disk while the rest is
     * encoded, so the fsync waits only for the tail. Only a hint: the
     * fsync is what makes the file durable, so a failure is ignored. */
    if (f->written - f->started >= WRITEBACK_STEP) {
        (void)sync_file_range(f->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
        f->started = f->written;
    }
#endif
    return 0;
}

static int
fill_stream(int fd, const char *tmp, void *arg, mts_error *err)
{
    stream_fill *f = arg;
    f->fd = fd;
    f->tmp = tmp;
    f->err = err;
    return mts__encode_stream(f->s, f->gen, 0, stream_sink, f, err);
}

int
mts_file_write_atomic(const char *path, const void *data, size_t len,
                      unsigned int flags, mts_error *err)
{
    char *real = NULL, *dir;
    int rc;
    if (data == NULL && len != 0)
        return mts__err(err, MTS_EINVAL, "data is NULL");
    if ((flags & ~(unsigned int)MTS_FILE_FOLLOW_SYMLINK) != 0)
        return mts__err(err, MTS_EINVAL, "unknown flags 0x%x", flags);
    rc = resolve(&real, path, (flags & MTS_FILE_FOLLOW_SYMLINK) != 0, err);
    if (rc != 0)
        return rc;
    dir = dir_of(real);
    if (dir == NULL) {
        mts_free(real);
        return mts__err_oom(err);
    }
    rc = write_atomic(real, dir, data, len, err);
    mts_free(dir);
    mts_free(real);
    return rc;
}

/* ---- reading ----------------------------------------------------------- */

static void
free_secret(uint8_t *p, size_t size)
{
    mts__wipe(p, size);
    mts_free(p);
}

/* Open `path` for reading with open_flags added to O_RDONLY | O_CLOEXEC |
 * O_NONBLOCK (the last so that a FIFO is refused instead of blocking the
 * open). A missing file is MTS_ENOTFOUND. */
static int
open_read(int *fd, const char *path, int open_flags, mts_error *err)
{
    *fd = mts__os_open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | open_flags,
                       0);
    if (*fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return mts__err_native(err, MTS_ENOTFOUND, e, "%s: no such file",
                                   path);
        if (e == ELOOP && (open_flags & O_NOFOLLOW) != 0)
            return mts__err_native(err, MTS_EINVAL, e,
                                   "%s is a symbolic link (refused: it was "
                                   "not followed when the store was opened)",
                                   path);
        return io_err(err, e, "open", path);
    }
    return 0;
}

/*
 * Read the regular file open at fd (named path), at most max bytes; *st
 * receives its fstat. The contents may be secret: every buffer is wiped
 * before it is freed. The caller closes fd.
 */
static int
read_fd(uint8_t **out, size_t *out_len, struct stat *st, int fd,
        const char *path, size_t max, mts_error *err)
{
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    int rc = 0;
    if (max == 0)
        max = MTS_INPUT_MAX;
    if (max > SIZE_MAX - 2)
        max = SIZE_MAX - 2;
    if (mts__os_fstat(fd, st) != 0)
        return io_err(err, errno, "fstat", path);
    if (!S_ISREG(st->st_mode))
        return mts__err_native(err, MTS_EIO,
                               S_ISDIR(st->st_mode) ? EISDIR : EINVAL,
                               "%s is not a regular file", path);
    if ((uint64_t)st->st_size > (uint64_t)max)
        return mts__err(err, MTS_ELIMIT,
                        "%s is larger than the maximum of %zu bytes", path,
                        max);
    /* Room for the whole file, one byte to see EOF or growth, the NUL. */
    cap = (size_t)st->st_size + 2;
    buf = mts_malloc(cap);
    if (buf == NULL)
        return mts__err_oom(err);
    for (;;) {
        ssize_t n;
        if (len + 1 == cap) {
            /* The file grew since fstat: grow by copy, wiping the old. */
            size_t ncap = cap > (max + 2) / 2 ? max + 2 : cap * 2;
            uint8_t *p = mts_malloc(ncap);
            if (p == NULL) {
                rc = mts__err_oom(err);
                goto done;
            }
            memcpy(p, buf, len);
            free_secret(buf, cap);
            buf = p;
            cap = ncap;
        }
        n = mts__os_read(fd, buf + len, cap - 1 - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = io_err(err, errno, "read", path);
            goto done;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max) {
            rc = mts__err(err, MTS_ELIMIT,
                          "%s is larger than the maximum of %zu bytes", path,
                          max);
            goto done;
        }
    }
    buf[len] = 0;
    *out = buf;
    *out_len = len;
    buf = NULL;

done:
    if (buf != NULL)
        free_secret(buf, cap);
    return rc;
}

/* open_read, read_fd, close. */
static int
read_all(uint8_t **out, size_t *out_len, const char *path, int open_flags,
         size_t max, mts_error *err)
{
    struct stat st;
    int fd, rc = open_read(&fd, path, open_flags, err);
    if (rc != 0)
        return rc;
    rc = read_fd(out, out_len, &st, fd, path, max, err);
    /* Read-only descriptor: nothing a failed close could lose. */
    (void)mts__os_close(fd);
    return rc;
}

int
mts_file_read(uint8_t **out, size_t *out_len, const char *path, size_t max,
              mts_error *err)
{
    if (out == NULL || out_len == NULL)
        return mts__err(err, MTS_EINVAL, "out is NULL");
    if (path == NULL || *path == '\0')
        return mts__err(err, MTS_EINVAL, "empty path");
    return read_all(out, out_len, path, 0, max, err);
}

/* ---- the lock and crash leftovers -------------------------------------- */

static int
is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int
is_xdigit(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f');
}

static bool
all_of(const char **p, int (*is)(int), char end)
{
    const char *s = *p;
    if (!is((unsigned char)*s))
        return false;
    while (is((unsigned char)*s))
        s++;
    if (*s != end)
        return false;
    *p = s + 1;
    return true;
}

/* Exactly "<file>.tmp.<digits>.<digits>.<hex>": one of our temp names. */
static bool
is_our_tmp(const char *name, const char *file, size_t file_len)
{
    const char *p = name;
    if (strncmp(p, file, file_len) != 0)
        return false;
    p += file_len;
    if (strncmp(p, ".tmp.", 5) != 0)
        return false;
    p += 5;
    return all_of(&p, is_digit, '.') && all_of(&p, is_digit, '.') &&
           all_of(&p, is_xdigit, '\0');
}

/* Exactly "<file>.lease". */
static bool
is_lease_record(const char *name, const char *file, size_t file_len)
{
    return strncmp(name, file, file_len) == 0 &&
           strcmp(name + file_len, ".lease") == 0;
}

/*
 * Remove temp files of ours that a crash left behind: the snapshot's and
 * the lease record's. Only the lock holder calls this, and every handle
 * holds the lock while its temp file exists, so any match is a leftover.
 * (mts_file_write_atomic takes no lock: it is not meant for a file that
 * handles write.) Best effort: a leftover we cannot remove (a directory we
 * may not list, a file we may not unlink) costs disk space, not
 * correctness, and must not stop the session being saved.
 *
 * Returns whether the listing showed the lease record: 1 yes, 0 no, -1
 * the directory could not be listed. Only the lock holder creates or
 * replaces the record and nobody removes it, so its entry does not change
 * while we list.
 */
static int
remove_leftovers(file_backend *fb)
{
    size_t file_len = strlen(fb->file), lease_len;
    char lease_file[PATH_MAX];
    struct dirent *de;
    int seen = 0, n;
    DIR *d;
    int fd = mts__os_open(fb->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    d = fdopendir(fd);
    if (d == NULL) {
        (void)mts__os_close(fd);
        return -1;
    }
    n = snprintf(lease_file, sizeof(lease_file), "%s.lease", fb->file);
    lease_len = n > 0 && (size_t)n < sizeof(lease_file) ? (size_t)n : 0;
    while ((de = readdir(d)) != NULL) {
        char full[PATH_MAX];
        if (is_lease_record(de->d_name, fb->file, file_len))
            seen = 1;
        if (de->d_type == DT_DIR ||
            !(is_our_tmp(de->d_name, fb->file, file_len) ||
              (lease_len > 0 &&
               is_our_tmp(de->d_name, lease_file, lease_len))))
            continue;
        n = snprintf(full, sizeof(full), "%s/%s", fb->dir, de->d_name);
        if (n < 0 || (size_t)n >= sizeof(full))
            continue;
        (void)mts__os_unlink(full);
    }
    closedir(d); /* closes fd */
    return seen;
}

/* Read the lock file open at fd from its offset into text (at most
 * cap - 1 bytes: a lock file holds a short line); returns the length. */
static size_t
read_lock_text(int fd, char *text, size_t cap)
{
    size_t len = 0;
    for (;;) {
        ssize_t n = mts__os_read(fd, text + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == cap - 1)
            break;
    }
    return len;
}

/* The pid recorded in a lock file we could not lock, or 0. */
static long
read_holder(int fd)
{
    char text[32];
    size_t len = read_lock_text(fd, text, sizeof(text));
    long pid = 0;
    for (size_t i = 0; i < len && is_digit(text[i]); i++) {
        if (pid > (LONG_MAX - 9) / 10)
            return 0;
        pid = pid * 10 + (text[i] - '0');
    }
    return pid;
}

static int lease_refuses(file_backend *fb, mts_error *err);

/*
 * Take the write lock on "<path>.lock" if this handle does not hold it
 * yet, record our pid in it, and clear crash leftovers. The lock is kept
 * until the handle is freed; the kernel drops it if the process dies.
 * For handles without a lease: when someone's lease is live, the lock is
 * given back and the write refused (MTS_ELOCKED).
 */
static int
take_lock(file_backend *fb, mts_error *err)
{
    char text[32];
    int fd, n, rc;
    if (fb->lock_fd >= 0)
        return 0;
    fd = mts__os_open(fb->lock_path,
                      O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return io_err(err, errno, "open", fb->lock_path);
    if (mts__os_lock(fd) != 0) {
        int e = errno;
        if (e == EAGAIN || e == EACCES || e == EWOULDBLOCK) {
            long pid = read_holder(fd);
            (void)mts__os_close(fd);
            if (pid > 0)
                return mts__err_native(err, MTS_ELOCKED, e,
                                       "%s is locked by pid %ld", fb->path,
                                       pid);
            return mts__err_native(err, MTS_ELOCKED, e,
                                   "%s is locked by another process",
                                   fb->path);
        }
        (void)mts__os_close(fd);
        return io_err(err, e, "lock", fb->lock_path);
    }
    /* The descriptor is fresh, so its offset is 0: write the pid there. */
    n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
    if (mts__os_ftruncate(fd, 0) != 0) {
        rc = io_err(err, errno, "ftruncate", fb->lock_path);
        (void)mts__os_close(fd);
        return rc;
    }
    rc = write_all(fd, (const uint8_t *)text, (size_t)n, fb->lock_path, err);
    if (rc != 0) {
        (void)mts__os_close(fd);
        return rc;
    }
    fb->lock_fd = fd;
    if (remove_leftovers(fb) != 0 && (rc = lease_refuses(fb, err)) != 0) {
        (void)mts__os_close(fd); /* gives the lock back */
        fb->lock_fd = -1;
        return rc;
    }
    return 0;
}

/* ---- the journal ------------------------------------------------------- */

/* A fresh snapshot id: random, never 0. */
static uint64_t
new_id(void)
{
    uint64_t id = 0;
    if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id)) {
        struct timespec ts = { 0, 0 };
        unsigned long n = atomic_fetch_add_explicit(&g_tmp_counter, 1,
                                                    memory_order_relaxed);
        (void)clock_gettime(CLOCK_REALTIME, &ts);
        id = mix64((uint64_t)ts.tv_sec ^ mix64((uint64_t)ts.tv_nsec) ^
                   mix64(((uint64_t)getpid() << 32) ^ n));
    }
    return id != 0 ? id : 1;
}

static int
sync_dir(const char *dir, mts_error *err)
{
    int e, dfd = mts__os_open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dfd < 0)
        return io_err(err, errno, "open directory", dir);
    if (mts__os_fsync(dfd) != 0) {
        e = errno;
        (void)mts__os_close(dfd);
        return io_err(err, e, "fsync directory", dir);
    }
    /* Read-only descriptor, already synced: nothing a close could lose. */
    (void)mts__os_close(dfd);
    return 0;
}

/* Stop appending: sync the changes group commit left pending (when
 * `sync`), close, and forget the journal's state. */
static void
journal_close(file_backend *fb, bool sync)
{
    if (fb->jfd < 0)
        return;
    if (sync && fb->pending > 0)
        (void)mts__os_fsync(fb->jfd);
    (void)mts__os_close(fb->jfd);
    fb->jfd = -1;
    fb->pending = 0;
}

static int
journal_sync(file_backend *fb, mts_error *err)
{
    if (mts__os_fsync(fb->jfd) != 0) {
        int rc = io_err(err, errno, "fsync", fb->journal_path);
        /* What reached the disk is unknown, and a later fsync may not say
         * (the kernel can drop the failed pages): the next change writes
         * everything as a new snapshot instead of trusting the journal. */
        journal_close(fb, false);
        fb->fold_next = true;
        return rc;
    }
    fb->jsynced = fb->jlen;
    fb->pending = 0;
    return 0;
}

/*
 * Give the journal a fresh header for snapshot `id`, dropping its records:
 * called only when the snapshot that holds them (or supersedes them) is
 * durable. The journal is emptied and synced before the header is
 * written, so a crash leaves an empty journal, a torn header or the new
 * header, never a new header in front of old records. A journal created
 * here is made durable in its directory before any record goes into it.
 */
static int
journal_reset(file_backend *fb, uint64_t id, mts_error *err)
{
    static const int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW;
    uint8_t head[MTS__JOURNAL_HEADER];
    bool created = false;
    int rc;
    if (fb->jfd < 0) {
        fb->jfd = mts__os_open(fb->journal_path, flags, 0);
        if (fb->jfd < 0 && errno == ENOENT) {
            fb->jfd = mts__os_open(fb->journal_path, flags | O_CREAT | O_EXCL,
                                   0600);
            created = true;
        }
        if (fb->jfd < 0)
            return io_err(err, errno, "open", fb->journal_path);
    }
    fb->pending = 0;
    if (!created) {
        if (mts__os_ftruncate(fb->jfd, 0) != 0) {
            rc = io_err(err, errno, "ftruncate", fb->journal_path);
            goto fail;
        }
        if (mts__os_fsync(fb->jfd) != 0) {
            rc = io_err(err, errno, "fsync", fb->journal_path);
            goto fail;
        }
    }
    mts__journal_header(head, id);
    rc = write_all(fb->jfd, head, sizeof(head), fb->journal_path, err);
    if (rc != 0)
        goto fail;
    if (mts__os_fsync(fb->jfd) != 0) {
        rc = io_err(err, errno, "fsync", fb->journal_path);
        goto fail;
    }
    if (created && (rc = sync_dir(fb->dir, err)) != 0)
        goto fail;
    fb->jid = id;
    fb->jlen = fb->jsynced = sizeof(head);
    return 0;
fail:
    journal_close(fb, false);
    return rc;
}

/* ---- revisions (optimistic mode) --------------------------------------- */

/*
 * The revision of the stored session (storage.h), derived from what a
 * load reads anyway, so that no write pays for it: the snapshot's identity
 * (device, inode, size, modification time, from the fstat of the open
 * file) and its last 16 bytes (the format's checksum, or a sealed file's
 * authentication tag), and, when a live journal extends it with records,
 * the end of the last intact record and that record's checksum.
 *
 * Every write changes it: a save or a fold renames a new file over the
 * snapshot (a new inode, since the old one is still linked when the new
 * one is created), an append moves the journal's end, and a delete leaves
 * nothing (revision 0). Only an equal stored state can give an equal
 * revision again: the same bytes, in a recycled inode number, within one
 * tick of the file system's clock. What a write leaves that no load sees
 * (a journal emptied or made stale by a save, a torn tail cut off) does
 * not count.
 */
#define REV_TAIL 16

static uint64_t
store_rev(const struct stat *st, const uint8_t *tail, size_t tail_len,
          const mts__jscan *js)
{
    uint8_t t[REV_TAIL];
    uint64_t h = mix64(0x6d74732d72657631u ^ (uint64_t)st->st_dev);
    memset(t, 0, sizeof(t));
    memcpy(t, tail, tail_len < REV_TAIL ? tail_len : REV_TAIL);
    h = mix64(h ^ (uint64_t)st->st_ino);
    h = mix64(h ^ (uint64_t)st->st_size);
    h = mix64(h ^ (uint64_t)st->st_mtim.tv_sec);
    h = mix64(h ^ (uint64_t)st->st_mtim.tv_nsec);
    h = mix64(h ^ mts__rd64(t));
    h = mix64(h ^ mts__rd64(t + 8));
    if (js != NULL && js->state == MTS__J_LIVE && js->records > 0) {
        h = mix64(h ^ (uint64_t)js->end);
        h = mix64(h ^ (uint64_t)js->last_crc);
    }
    return h != 0 ? h : 1;
}

/*
 * Load the store: decode the snapshot and replay the journal over it when
 * the journal extends it. *snap_id and *js say what was found, for the
 * writer. The snapshot stays open while the journal is read; if the path
 * names another file afterwards, a save replaced it meanwhile (and may
 * have emptied the journal), so everything is read again. Holding the
 * descriptor keeps the inode from being reused, so an unchanged inode
 * number means an unchanged file. *rev (when not NULL) receives the
 * revision of exactly what was read.
 */
static int
load_store_rev(mts_session **out, file_backend *fb, uint64_t *snap_id,
               mts__jscan *js, uint64_t *rev, mts_error *err)
{
    for (int attempt = 1;; attempt++) {
        mts_session *s = NULL;
        uint8_t *data = NULL, *jdata = NULL, tail[REV_TAIL];
        size_t len = 0, jlen = 0, tail_len = 0;
        struct stat st, now;
        uint64_t id = 0;
        int fd, rc, changed = 0;
        rc = open_read(&fd, fb->path, O_NOFOLLOW, err);
        if (rc != 0)
            return rc;
        rc = read_fd(&data, &len, &st, fd, fb->path, MTS_INPUT_MAX, err);
        if (rc == 0 && len == 0) /* not "no session": something cut it */
            rc = mts__err_at(err, MTS_ECORRUPT, 0, "%s is empty", fb->path);
        if (rc == 0) {
            rc = mts_decode_any(&s, data, len, fb->secret, err);
            if (rc != 0)
                mts__err_prefix(err, "%s", fb->path);
            else
                id = mts__snapshot_id(data, len);
        }
        if (rc == 0) {
            tail_len = len < REV_TAIL ? len : REV_TAIL;
            memcpy(tail, data + len - tail_len, tail_len);
        }
        if (data != NULL)
            free_secret(data, len + 1);
        if (rc == 0) {
            /* No journal is no error: keep err untouched for it. */
            mts_error jerr = MTS_ERROR_INIT;
            rc = read_all(&jdata, &jlen, fb->journal_path, O_NOFOLLOW,
                          MTS_INPUT_MAX, &jerr);
            if (rc == MTS_ENOTFOUND)
                rc = 0; /* the snapshot is all there is */
            else if (rc != 0 && err != NULL)
                *err = jerr;
        }
        if (rc == 0) {
            rc = mts__journal_replay(s, jdata, jlen, id, js, err);
            if (rc != 0 && rc != MTS_ENOMEM)
                mts__err_prefix(err, "%s", fb->journal_path);
        }
        mts_free(jdata); /* update state and channel ids: not secret */
        if (rc == 0 && mts__os_lstat(fb->path, &now) != 0) {
            if (errno == ENOENT)
                changed = 1; /* deleted: the next round says so */
            else
                rc = io_err(err, errno, "lstat", fb->path);
        } else if (rc == 0) {
            changed = now.st_dev != st.st_dev || now.st_ino != st.st_ino;
        }
        /* Read-only descriptor: nothing a failed close could lose. */
        (void)mts__os_close(fd);
        if (rc == 0 && !changed) {
            *out = s;
            *snap_id = id;
            if (rev != NULL)
                *rev = store_rev(&st, tail, tail_len, js);
            return 0;
        }
        mts_session_free(s);
        if (rc != 0)
            return rc;
        if (attempt == LOAD_TRIES)
            return mts__err_native(err, MTS_EIO, EAGAIN,
                                   "%s was replaced while it was being read, "
                                   "%d times in a row",
                                   fb->path, LOAD_TRIES);
    }
}

static int
load_store(mts_session **out, file_backend *fb, uint64_t *snap_id,
           mts__jscan *js, mts_error *err)
{
    return load_store_rev(out, fb, snap_id, js, NULL, err);
}

/* load_store, with nothing stored meaning an empty session (id 0), as
 * the core's default for granular changes has it; err is then left
 * untouched. */
static int
load_or_empty(mts_session **out, file_backend *fb, uint64_t *snap_id,
              mts__jscan *js, mts_error *err)
{
    mts_error lerr = MTS_ERROR_INIT;
    int rc = load_store(out, fb, snap_id, js, &lerr);
    if (rc == MTS_ENOTFOUND) {
        *snap_id = 0;
        memset(js, 0, sizeof(*js));
        if (mts_session_new(out, MTS_NEW_EMPTY) != 0)
            return mts__err_oom(err);
        return 0;
    }
    if (rc != 0 && err != NULL)
        *err = lerr;
    return rc;
}

/*
 * Write `s` as the new snapshot, then see to the journal: a handle that
 * journals empties it under the new snapshot's id; any other removes it
 * (best effort: a journal naming another snapshot is ignored anyway).
 * Both happen only once the new snapshot is durable, so a crash in between
 * leaves a stale journal, never a snapshot without records it needs.
 */
static int
save_snapshot(file_backend *fb, const mts_session *s, mts_error *err)
{
    uint8_t *data = NULL;
    size_t len = 0;
    uint64_t id = 0;
    int rc;
    if (fb->secret == NULL) {
        /* plain: streamed into the temp file, its id chosen here */
        stream_fill f;
        memset(&f, 0, sizeof(f));
        f.s = s;
        f.gen = fb->journaling ? new_id() : 0;
        id = f.gen;
        rc = write_atomic_with(fb->path, fb->dir, fill_stream, &f, err);
    } else {
        /* sealed: the envelope seals the whole plain file at once */
        rc = mts_encode_sealed(&data, &len, s, fb->secret, err);
        if (rc != 0) {
            if (data != NULL)
                free_secret(data, len);
            return rc;
        }
        if (fb->journaling)
            id = mts__snapshot_id(data, len); /* its nonce */
        rc = write_atomic(fb->path, fb->dir, data, len, err);
        free_secret(data, len);
    }
    if (rc != 0) {
        /* After a failed directory sync the new file is in place: the
         * journal no longer extends what is there. Look again before the
         * next append. */
        journal_close(fb, true);
        return rc;
    }
    fb->fold_next = false;
    if (id != 0) {
        /* The save stands even if this fails: the journal names the old
         * snapshot, so it is ignored, and the next change restarts it. */
        (void)journal_reset(fb, id, NULL);
        return 0;
    }
    journal_close(fb, false);
    (void)mts__os_unlink(fb->journal_path);
    return 0;
}

/*
 * Make the journal ready for appends, holding the lock: read the store;
 * when the snapshot has an id, keep the journal that extends it (cutting
 * off a torn tail) or start one. Returns 0 when ready; 1 with the loaded
 * session in *fold when the change must be written as a save instead (no
 * snapshot, a snapshot without an id, or a failed sync before); or an
 * error (a damaged journal among them: a save repairs the store).
 */
static int
journal_start(mts_session **fold, file_backend *fb, mts_error *err)
{
    mts_session *s = NULL;
    mts__jscan js;
    uint64_t id = 0;
    int rc;
    journal_close(fb, true);
    fb->journaling = true;
    rc = load_or_empty(&s, fb, &id, &js, err);
    if (rc != 0)
        return rc;
    if (id == 0 || fb->fold_next) {
        *fold = s;
        return 1;
    }
    mts_session_free(s);
    if (js.state != MTS__J_LIVE)
        return journal_reset(fb, id, err);
    fb->jfd = mts__os_open(fb->journal_path,
                           O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0);
    if (fb->jfd < 0)
        return io_err(err, errno, "open", fb->journal_path);
    /* A torn tail was never acknowledged: cut it off before appending, or
     * the next record would follow a damaged one. Sync in any case: what
     * an earlier handle left unsynced becomes durable before we build on
     * it. */
    if (js.end < js.len && mts__os_ftruncate(fb->jfd, (off_t)js.end) != 0) {
        rc = io_err(err, errno, "ftruncate", fb->journal_path);
        journal_close(fb, false);
        return rc;
    }
    if (mts__os_fsync(fb->jfd) != 0) {
        rc = io_err(err, errno, "fsync", fb->journal_path);
        journal_close(fb, false);
        return rc;
    }
    fb->jid = id;
    fb->jlen = fb->jsynced = js.end;
    fb->pending = 0;
    return 0;
}

/* A change written as a save: load the store (unless `s` is given), apply
 * the change, write a new snapshot with a new id, empty the journal.
 * Consumes s. */
static int
fold(file_backend *fb, mts_session *s, const mts_update_change *c,
     mts_error *err)
{
    int rc = 0;
    if (s == NULL) {
        mts__jscan js;
        uint64_t id;
        rc = load_or_empty(&s, fb, &id, &js, err);
        if (rc != 0)
            return rc;
    }
    fb->journaling = true;
    if (mts_session_apply_update(s, c) != 0)
        rc = mts__err_oom(err); /* validated by the caller: only ENOMEM */
    else
        rc = save_snapshot(fb, s, err);
    mts_session_free(s);
    return rc;
}

/* Whether the changes written since the last sync must be synced now. */
static bool
sync_due(const file_backend *fb)
{
    struct timespec now;
    long long ms;
    if (!fb->group || fb->pending >= fb->group_changes)
        return true;
    if (clock_gettime(CLOCK_MONOTONIC, &now) != 0)
        return true;
    ms = (long long)(now.tv_sec - fb->pending_since.tv_sec) * 1000 +
         (now.tv_nsec - fb->pending_since.tv_nsec) / 1000000;
    return ms >= (long long)fb->group_ms;
}

/* Append the record of `c` (n bytes) and sync when due. */
static int
journal_append(file_backend *fb, const mts_update_change *c, size_t n,
               mts_error *err)
{
    uint8_t small[64], *rec = small;
    int rc;
    if (n > sizeof(small) && (rec = mts_malloc(n)) == NULL)
        return mts__err_oom(err);
    mts__journal_record(rec, c, fb->jid, (uint32_t)fb->jsynced);
    rc = write_all(fb->jfd, rec, n, fb->journal_path, err);
    if (rec != small)
        mts_free(rec);
    if (rc != 0) {
        /* Take back what part of the record was written, so that the next
         * one does not follow a damaged record. If even that fails, the
         * next change reads the journal again and cuts the tail off. */
        if (mts__os_ftruncate(fb->jfd, (off_t)fb->jlen) != 0)
            journal_close(fb, true);
        return rc;
    }
    if (fb->pending++ == 0)
        (void)clock_gettime(CLOCK_MONOTONIC, &fb->pending_since);
    fb->jlen += n;
    return sync_due(fb) ? journal_sync(fb, err) : 0;
}

/* ---- leases ------------------------------------------------------------ */

/* Unix time in ms: the clock lease expiries are kept on. */
static int64_t
wall_ms(void)
{
    struct timespec ts = { 0, 0 };
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static long long
ms_between(const struct timespec *a, const struct timespec *b)
{
    return (long long)(b->tv_sec - a->tv_sec) * 1000 +
           (b->tv_nsec - a->tv_nsec) / 1000000;
}

/*
 * The lease record into *out, with `held` from this machine's clock;
 * MTS_ENOTFOUND (err untouched) when the session was never leased. Needs
 * no lock: the record is only ever replaced by a rename.
 */
static int
lease_read(mts_lease *out, file_backend *fb, mts_error *err)
{
    mts_error lerr = MTS_ERROR_INIT;
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = read_all(&data, &len, fb->lease_path, O_NOFOLLOW,
                      MTS__LEASE_RECORD_MAX, &lerr);
    if (rc == MTS_ENOTFOUND)
        return rc;
    if (rc == MTS_ELIMIT)
        return mts__err(err, MTS_ECORRUPT,
                        "%s: larger than any lease record (corrupt)",
                        fb->lease_path);
    if (rc != 0) {
        if (err != NULL)
            *err = lerr;
        return rc;
    }
    rc = mts__lease_parse(out, data, len, err);
    mts_free(data); /* owner, epoch, time: nothing secret */
    if (rc != 0) {
        mts__err_prefix(err, "%s", fb->lease_path);
        return rc;
    }
    out->held = out->expires_ms > wall_ms();
    return 0;
}

/* Replace the lease record with `l`, atomically and durably (as a save). */
static int
lease_write(file_backend *fb, const mts_lease *l, mts_error *err)
{
    uint8_t rec[MTS__LEASE_RECORD_MAX];
    size_t n = mts__lease_record(rec, l);
    return write_atomic(fb->lease_path, fb->dir, rec, n, err);
}

/* MTS_ELOCKED: the live lease `l` is someone else's. */
static int
held_err(mts_error *err, const file_backend *fb, const mts_lease *l)
{
    return mts__lease_held(err, fb->path, NULL, l->owner, l->expires_ms);
}

/*
 * MTS_EFENCED for the lease holder fb, saying why: `l` is the record now
 * (NULL: there is none). Its journal state is dropped: the store may be
 * another writer's now.
 */
static int
fenced_err(mts_error *err, file_backend *fb, const char *what,
           const mts_lease *l)
{
    journal_close(fb, true);
    fb->token = 0;
    return mts__lease_fenced(err, fb->path, what, fb->epoch, l,
                             l != NULL && strcmp(l->owner, fb->owner) == 0 &&
                                 l->epoch == fb->epoch);
}

/* Whether the record `l` is this handle's lease (live or not). */
static bool
is_ours(const file_backend *fb, const mts_lease *l)
{
    return strcmp(l->owner, fb->owner) == 0 && l->epoch == fb->epoch;
}

/*
 * For a lease holder, under the lock: 0 when the record still names this
 * handle's owner and epoch and is live, else MTS_EFENCED (or the error
 * reading it).
 */
static int
fence_check(file_backend *fb, const char *what, mts_error *err)
{
    mts_lease l = MTS_LEASE_INIT;
    int rc = lease_read(&l, fb, err);
    if (rc == 0 && is_ours(fb, &l) && l.held)
        return 0;
    if (rc != 0 && rc != MTS_ENOTFOUND)
        return rc;
    return fenced_err(err, fb, what, rc == 0 ? &l : NULL);
}

/* For take_lock (a handle without a lease, holding the lock): MTS_ELOCKED
 * while anyone's lease is live, else 0. */
static int
lease_refuses(file_backend *fb, mts_error *err)
{
    mts_lease l = MTS_LEASE_INIT;
    int rc = lease_read(&l, fb, err);
    if (rc == MTS_ENOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    return l.held ? held_err(err, fb, &l) : 0;
}

/*
 * The lock for one call of a handle that keeps none between calls: *out
 * receives its descriptor (-1 when the handle holds the lock for its life
 * already, having written without a lease). Other calls hold it briefly,
 * so a busy lock is tried again for up to LOCK_WAIT_MS; a writer without
 * a lease keeps it as long as its handle lives, and then the answer is
 * MTS_ELOCKED naming its pid. The token is written in place (pwrite at
 * offset 0, pass_token).
 */
static int
op_lock(int *out, file_backend *fb, mts_error *err)
{
    struct timespec start = { 0, 0 }, now = { 0, 0 };
    long pause = 1;
    int fd;
    *out = -1;
    if (fb->lock_fd >= 0)
        return 0;
    fd = mts__os_open(fb->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                      0600);
    if (fd < 0)
        return io_err(err, errno, "open", fb->lock_path);
    (void)clock_gettime(CLOCK_MONOTONIC, &start);
    while (mts__os_lock(fd) != 0) {
        int e = errno;
        long pid;
        if (e != EAGAIN && e != EACCES && e != EWOULDBLOCK) {
            (void)mts__os_close(fd);
            return io_err(err, e, "lock", fb->lock_path);
        }
        (void)clock_gettime(CLOCK_MONOTONIC, &now);
        if (ms_between(&start, &now) < LOCK_WAIT_MS) {
            sleep_ms(pause);
            if (pause < LOCK_PAUSE_MAX_MS)
                pause *= 2;
            continue;
        }
        pid = read_holder(fd);
        (void)mts__os_close(fd);
        if (pid > 0)
            return mts__err_native(err, MTS_ELOCKED, e,
                                   "%s is locked by pid %ld", fb->path, pid);
        return mts__err_native(err, MTS_ELOCKED, e,
                               "%s is locked by another process", fb->path);
    }
    if (!fb->swept) {
        (void)remove_leftovers(fb);
        fb->swept = true;
    }
    *out = fd;
    return 0;
}

/* Give back a lock op_lock took. Nothing written through the descriptor
 * needs to reach the disk, so a failed close loses nothing. */
static void
op_unlock(int fd)
{
    if (fd >= 0)
        (void)mts__os_close(fd);
}

/* The token in the lock file open at fd (0 when there is none); *size
 * receives the number of bytes read (the file's length, up to the
 * buffer). */
static uint64_t
read_token(int fd, size_t *size)
{
    char text[LOCK_TEXT_MAX];
    size_t len = read_lock_text(fd, text, sizeof(text)), i = 0;
    uint64_t token = 0;
    *size = len;
    while (i < len && is_digit(text[i]))
        i++;
    if (i == 0 || i + 18 != len || text[i] != ' ' || text[len - 1] != '\n')
        return 0;
    for (i++; i < len - 1; i++) {
        int c = (unsigned char)text[i];
        if (!is_xdigit(c))
            return 0;
        token = token << 4 | (uint64_t)(is_digit(c) ? c - '0' : c - 'a' + 10);
    }
    return token;
}

/*
 * Before a lease holder writes, under its call's lock: a token in the lock
 * file other than the one this handle left means another handle wrote
 * since, so the journal is read again; then a new token is left.
 *
 * The token text has one length (the pid zero-padded to 10 digits), and
 * it is written over the old one in place: the file's size stays the same
 * from one write to the next. Truncating and appending instead changed
 * the size twice per call, metadata the journal's fdatasync then had to
 * commit too, which doubled the cost of a fenced apply_update_state.
 */
#define TOKEN_TEXT_LEN 28 /* "%010ld %016llx\n" */

static int
pass_token(file_backend *fb, int fd, mts_error *err)
{
    char text[LOCK_TEXT_MAX];
    uint64_t token = new_id();
    size_t size = 0, off = 0;
    int n;
    if (fb->token == 0 || read_token(fd, &size) != fb->token)
        journal_close(fb, true);
    fb->token = 0;
    n = snprintf(text, sizeof(text), "%010ld %016llx\n", (long)getpid(),
                 (unsigned long long)token);
    if (n != TOKEN_TEXT_LEN)
        return mts__err(err, MTS_EIO, "%s: pid %ld too long for the token",
                        fb->lock_path, (long)getpid());
    while (off < (size_t)n) {
        ssize_t w = mts__os_pwrite(fd, text + off, (size_t)n - off,
                                   (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? io_err(err, errno, "write", fb->lock_path)
                         : mts__err_native(err, MTS_EIO, EIO,
                                           "write %s: no progress",
                                           fb->lock_path);
        off += (size_t)w;
    }
    /* a longer text before (a pid alone is shorter, so only a file this
     * library did not write): cut it to the token */
    if (size > (size_t)n && mts__os_ftruncate(fd, (off_t)n) != 0)
        return io_err(err, errno, "ftruncate", fb->lock_path);
    fb->token = token;
    return 0;
}

/*
 * Enter a write's critical section without a lease, for one call (a
 * handle in optimistic mode): the lock (waiting as a holder does),
 * nobody's lease live (MTS_ELOCKED otherwise), a token left.
 */
static int
free_begin(int *fd, file_backend *fb, mts_error *err)
{
    int rc = op_lock(fd, fb, err);
    if (rc != 0)
        return rc;
    rc = lease_refuses(fb, err);
    if (rc == 0 && *fd >= 0)
        rc = pass_token(fb, *fd, err);
    if (rc != 0) {
        op_unlock(*fd);
        *fd = -1;
    }
    return rc;
}

/*
 * Enter a write's critical section. Without a lease: the lock this handle
 * takes at its first write and keeps (in optimistic mode: a lock for this
 * call, free_begin). With one: a lock for this call, in which the fence
 * is checked and the token passed; *fd receives it for write_end. A lease
 * holder that cannot get the lock and has lost its lease anyway is told
 * MTS_EFENCED.
 */
static int
write_begin(int *fd, file_backend *fb, const char *what, mts_error *err)
{
    int rc;
    *fd = -1;
    if (!fb->leased && (!fb->per_call || fb->lock_fd >= 0))
        return take_lock(fb, err);
    if (!fb->leased)
        return free_begin(fd, fb, err);
    rc = op_lock(fd, fb, err);
    if (rc == MTS_ELOCKED) {
        mts_error ferr = MTS_ERROR_INIT;
        if (fence_check(fb, what, &ferr) == MTS_EFENCED) {
            if (err != NULL)
                *err = ferr;
            return MTS_EFENCED;
        }
    }
    if (rc != 0)
        return rc;
    rc = fence_check(fb, what, err);
    if (rc == 0 && *fd >= 0)
        rc = pass_token(fb, *fd, err);
    if (rc != 0) {
        op_unlock(*fd);
        *fd = -1;
    }
    return rc;
}

static void
write_end(int fd)
{
    op_unlock(fd);
}

/* *info = *l, keeping the caller's struct version. */
static void
set_info(mts_lease *info, const mts_lease *l)
{
    unsigned int v = info->version;
    *info = *l;
    info->version = v;
}

/*
 * Acquire: a free, expired or released lease is taken with the next
 * epoch; a live one of the same owner is renewed with its epoch (whichever
 * handle took it: that is how a process adopts the lease its owner name
 * holds); a live one of another owner is MTS_ELOCKED.
 */
static int
lease_acquire(file_backend *fb, const char *owner, uint32_t ttl_ms,
              mts_lease *info, mts_error *err)
{
    mts_lease cur = MTS_LEASE_INIT, next = MTS_LEASE_INIT;
    bool have, same;
    int fd, rc = op_lock(&fd, fb, err);
    if (rc == MTS_ELOCKED && lease_read(&cur, fb, NULL) == 0 && cur.held &&
        strcmp(cur.owner, owner) != 0)
        return held_err(err, fb, &cur); /* name the holder, not the pid */
    if (rc != 0)
        return rc;
    rc = lease_read(&cur, fb, err);
    if (rc != 0 && rc != MTS_ENOTFOUND)
        goto out;
    have = rc == 0;
    same = have && cur.held && strcmp(cur.owner, owner) == 0;
    rc = 0;
    if (have && cur.held && !same) {
        rc = held_err(err, fb, &cur);
        goto out;
    }
    if (have && !same && cur.epoch == UINT64_MAX) {
        rc = mts__err(err, MTS_ELIMIT, "%s: the lease epoch is exhausted",
                      fb->lease_path);
        goto out;
    }
    snprintf(next.owner, sizeof(next.owner), "%s", owner);
    next.epoch = !have ? 1 : same ? cur.epoch : cur.epoch + 1;
    next.expires_ms = wall_ms() + (int64_t)ttl_ms;
    next.held = 1;
    rc = lease_write(fb, &next, err);
    if (rc != 0)
        goto out;
    if (fb->lock_fd >= 0) {
        /* Written without a lease before: the lock kept since then goes
         * (a lease holder locks per call), and with it the certainty that
         * the journal state is current (token 0). */
        (void)mts__os_close(fb->lock_fd);
        fb->lock_fd = -1;
        fb->token = 0;
    }
    fb->leased = true;
    memcpy(fb->owner, next.owner, sizeof(fb->owner));
    fb->epoch = next.epoch;
    set_info(info, &next);
out:
    op_unlock(fd);
    return rc;
}

/* Renew (op RENEW) or release (op RELEASE) this handle's lease: the
 * record must still name its owner and epoch (renewing one that expired
 * but was not taken is allowed), else MTS_EFENCED. A release expires the
 * lease now and keeps the epoch; the handle has no lease after it. */
static int
lease_keep(file_backend *fb, int op, uint32_t ttl_ms, mts_lease *info,
           mts_error *err)
{
    const char *what = op == MTS_LEASE_RENEW ? "lease renew" : "lease release";
    mts_lease cur = MTS_LEASE_INIT, next;
    int64_t now;
    int fd, rc = op_lock(&fd, fb, err);
    if (rc == MTS_ELOCKED && lease_read(&cur, fb, NULL) == 0 &&
        !is_ours(fb, &cur))
        return fenced_err(err, fb, what, &cur);
    if (rc != 0)
        return rc;
    rc = lease_read(&cur, fb, err);
    if (rc == MTS_ENOTFOUND || (rc == 0 && !is_ours(fb, &cur))) {
        rc = fenced_err(err, fb, what, rc == 0 ? &cur : NULL);
        goto out;
    }
    if (rc != 0)
        goto out;
    next = cur;
    now = wall_ms();
    if (op == MTS_LEASE_RENEW)
        next.expires_ms = now + (int64_t)ttl_ms;
    else if (next.expires_ms > now)
        next.expires_ms = now;
    next.held = op == MTS_LEASE_RENEW;
    rc = lease_write(fb, &next, err);
    if (rc != 0)
        goto out;
    if (op == MTS_LEASE_RENEW) {
        set_info(info, &next);
    } else {
        fb->leased = false;
        journal_close(fb, true);
        fb->token = 0;
    }
out:
    op_unlock(fd);
    return rc;
}

static int
file_lease(mts_backend *backend, int op, const char *owner, uint32_t ttl_ms,
           mts_lease *info, mts_error *err)
{
    file_backend *fb = (file_backend *)backend;
    switch (op) {
    case MTS_LEASE_ACQUIRE:
        return lease_acquire(fb, owner, ttl_ms, info, err);
    case MTS_LEASE_RENEW:
    case MTS_LEASE_RELEASE:
        if (!fb->leased)
            return mts__err(err, MTS_EINVAL, "%s: this handle holds no lease",
                            fb->path);
        return lease_keep(fb, op, ttl_ms, info, err);
    case MTS_LEASE_SHOW: {
        mts_lease l = MTS_LEASE_INIT;
        int rc = lease_read(&l, fb, err);
        if (rc == MTS_ENOTFOUND)
            return mts__err(err, MTS_ENOTFOUND, "%s: never leased", fb->path);
        if (rc == 0)
            set_info(info, &l);
        return rc;
    }
    default:
        return mts__err(err, MTS_EINVAL, "lease: unknown operation %d", op);
    }
}

/* ---- the backend ------------------------------------------------------- */

static int
file_save(mts_backend *backend, const mts_session *s, mts_error *err)
{
    file_backend *fb = (file_backend *)backend;
    int fd, rc = write_begin(&fd, fb, "save", err);
    if (rc != 0)
        return rc;
    rc = save_snapshot(fb, s, err);
    write_end(fd);
    return rc;
}

static int
file_load(mts_session **out, mts_backend *backend, mts_error *err)
{
    mts__jscan js;
    uint64_t id;
    return load_store(out, (file_backend *)backend, &id, &js, err);
}

/* One record appended and synced; a fold instead when the journal would
 * pass its maximum, and the first time, when the store has no id yet. */
static int
apply_locked(file_backend *fb, const mts_update_change *c, mts_error *err)
{
    mts_session *s = NULL;
    size_t n;
    int rc;
    if (fb->jfd < 0) {
        rc = journal_start(&s, fb, err);
        if (rc < 0)
            return rc;
        if (rc > 0)
            return fold(fb, s, c, err);
    }
    n = mts__journal_record_size(c);
    if (n == 0 || n > fb->jmax || fb->jlen > fb->jmax - n)
        return fold(fb, NULL, c, err);
    return journal_append(fb, c, n, err);
}

static int
file_apply_update_state(mts_backend *backend, const mts_update_change *c,
                        mts_error *err)
{
    file_backend *fb = (file_backend *)backend;
    int fd, rc = write_begin(&fd, fb, "apply_update_state", err);
    if (rc != 0)
        return rc;
    rc = apply_locked(fb, c, err);
    write_end(fd);
    return rc;
}

/* Like a save: the directory is opened first, so only its fsync can fail
 * after the file is gone. The journal goes after that fsync: removed
 * first, a crash could leave the snapshot without its records. */
static int
del_locked(file_backend *fb, mts_error *err)
{
    char ebuf[128];
    int dfd, e;
    journal_close(fb, false); /* its records go with the snapshot */
    dfd = mts__os_open(fb->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dfd < 0)
        return io_err(err, errno, "open directory", fb->dir);
    if (mts__os_unlink(fb->path) != 0) {
        e = errno;
        if (e == ENOENT) /* a journal without a snapshot is ignored */
            (void)mts__os_unlink(fb->journal_path);
        (void)mts__os_close(dfd);
        return e == ENOENT ? 0 : io_err(err, e, "unlink", fb->path);
    }
    if (mts__os_fsync(dfd) != 0) {
        e = errno;
        (void)mts__os_close(dfd);
        return mts__err_native(err, MTS_EIO, e,
                               "fsync directory %s: %s (%s was removed, "
                               "but the removal may not survive a crash)",
                               fb->dir, errstr(e, ebuf, sizeof(ebuf)),
                               fb->path);
    }
    /* Best effort: without its snapshot the journal is ignored. */
    (void)mts__os_unlink(fb->journal_path);
    /* Read-only descriptor, already synced: nothing a close could lose. */
    (void)mts__os_close(dfd);
    return 0;
}

/* The lease record stays: the epoch must never go back. */
static int
file_del(mts_backend *backend, mts_error *err)
{
    file_backend *fb = (file_backend *)backend;
    int fd, rc = write_begin(&fd, fb, "delete", err);
    if (rc != 0)
        return rc;
    rc = del_locked(fb, err);
    write_end(fd);
    return rc;
}

/* ---- optimistic mode ---------------------------------------------------- */

static int
file_load_rev(mts_session **out, uint64_t *rev, mts_backend *backend,
              mts_error *err)
{
    mts_session *s = NULL;
    mts__jscan js;
    uint64_t id;
    int rc = load_store_rev(&s, (file_backend *)backend, &id, &js, rev, err);
    if (rc != 0) {
        *rev = 0;
        return rc;
    }
    if (out != NULL)
        *out = s;
    else
        mts_session_free(s);
    return 0;
}

/*
 * Enter save_if's critical section. From now on the handle is in
 * optimistic mode: without a lease it takes the lock for each write only,
 * as a lease holder does (waiting up to LOCK_WAIT_MS), so optimistic
 * writers in several processes take turns rather than keep each other
 * out; each write is refused while anyone's lease is live (MTS_ELOCKED)
 * and leaves a token, so other per-call writers read the store again
 * after it. A lock the handle kept since an earlier write serves this
 * call and is given back at its end (cond_end).
 */
static int
cond_begin(int *fd, file_backend *fb, mts_error *err)
{
    fb->per_call = true;
    return write_begin(fd, fb, "save_if", err);
}

/* Leave it, giving back a lock kept since a write before optimistic mode
 * (with the journal state, which nothing keeps current without it). */
static void
cond_end(file_backend *fb, int fd)
{
    write_end(fd);
    if (!fb->leased && fb->lock_fd >= 0) {
        journal_close(fb, true);
        (void)mts__os_close(fb->lock_fd);
        fb->lock_fd = -1;
        fb->token = 0;
    }
}

/* The revision of the snapshot just written under the lock: its journal
 * was emptied, removed or left naming another snapshot, so it counts for
 * nothing. */
static int
written_rev(uint64_t *rev, file_backend *fb, mts_error *err)
{
    uint8_t *data = NULL;
    size_t len = 0, tail_len;
    struct stat st;
    int fd, rc = open_read(&fd, fb->path, O_NOFOLLOW, err);
    if (rc != 0)
        return rc;
    rc = read_fd(&data, &len, &st, fd, fb->path, MTS_INPUT_MAX, err);
    (void)mts__os_close(fd); /* read-only: nothing a close could lose */
    if (rc != 0)
        return rc;
    tail_len = len < REV_TAIL ? len : REV_TAIL;
    *rev = store_rev(&st, data + len - tail_len, tail_len, NULL);
    free_secret(data, len + 1);
    return 0;
}

/*
 * Under the lock: load the store (snapshot and journal, as a load does,
 * to get the same revision), compare, and save only when it is still
 * `expected`. A store that does not load is reported, not overwritten:
 * a plain save repairs it.
 */
static int
file_save_if(mts_backend *backend, const mts_session *s, uint64_t expected,
             uint64_t *new_rev, mts_error *err)
{
    file_backend *fb = (file_backend *)backend;
    mts_error lerr = MTS_ERROR_INIT;
    mts_session *stored = NULL;
    mts__jscan js;
    uint64_t id = 0, rev = 0;
    int fd, rc = cond_begin(&fd, fb, err);
    if (rc != 0)
        return rc;
    rc = load_store_rev(&stored, fb, &id, &js, &rev, &lerr);
    mts_session_free(stored);
    if (rc == MTS_ENOTFOUND) {
        rev = 0;
        rc = 0;
    } else if (rc != 0 && err != NULL) {
        *err = lerr;
    }
    if (rc == 0 && rev != expected)
        rc = mts__err(err, MTS_ECONFLICT,
                      "%s: save_if: the stored revision is %llu, not the "
                      "expected %llu: nothing written",
                      fb->name, (unsigned long long)rev,
                      (unsigned long long)expected);
    if (rc == 0)
        rc = save_snapshot(fb, s, err);
    if (rc == 0 && (rc = written_rev(&rev, fb, err)) != 0)
        mts__err_prefix(err, "%s: saved, but its revision could not be read",
                        fb->path);
    cond_end(fb, fd);
    if (rc == 0)
        *new_rev = rev;
    return rc;
}

static const char *
file_name(mts_backend *backend)
{
    return ((file_backend *)backend)->name;
}

static void
file_free(mts_backend *backend)
{
    file_backend *fb = (file_backend *)backend;
    if (fb == NULL)
        return;
    journal_close(fb, true); /* group commit: sync what is pending */
    if (fb->lock_fd >= 0)
        (void)mts__os_close(fb->lock_fd); /* releases the lock */
    mts_free(fb->path);
    mts_free(fb->dir);
    mts_free(fb->lock_path);
    mts_free(fb->journal_path);
    mts_free(fb->lease_path);
    mts_free(fb->name);
    mts_free(fb);
}

int
mts_file_open(mts_storage **out, const char *path,
              const mts_file_options *opts, mts_error *err)
{
    file_backend *fb;
    unsigned int flags = 0, known;
    mts_secret *secret = NULL;
    size_t jmax = JOURNAL_MAX_DEFAULT;
    unsigned int gchanges = GROUP_CHANGES_DEFAULT, gms = GROUP_MS_DEFAULT;
    int rc;
    if (out == NULL)
        return mts__err(err, MTS_EINVAL, "out is NULL");
    *out = NULL;
    if (opts != NULL) {
        if (opts->version < 1 || opts->version > MTS_FILE_OPTIONS_VERSION)
            return mts__err(err, MTS_EINVAL,
                            "mts_file_options version %u is not supported",
                            opts->version);
        flags = opts->flags;
        secret = opts->secret;
        known = (unsigned int)MTS_FILE_FOLLOW_SYMLINK |
                (unsigned int)MTS_FILE_GROUP_COMMIT;
        if ((flags & ~known) != 0)
            return mts__err(err, MTS_EINVAL, "unknown file flags 0x%x",
                            flags & ~known);
        if (opts->journal_max_bytes != 0) {
            if (opts->journal_max_bytes < JOURNAL_MAX_MIN ||
                opts->journal_max_bytes > MTS__JOURNAL_MAX)
                return mts__err(err, MTS_EINVAL,
                                "journal_max_bytes %zu is not %d..%zu",
                                opts->journal_max_bytes, JOURNAL_MAX_MIN,
                                MTS__JOURNAL_MAX);
            jmax = opts->journal_max_bytes;
        }
        if ((flags & MTS_FILE_GROUP_COMMIT) == 0 &&
            (opts->group_commit_changes != 0 || opts->group_commit_ms != 0))
            return mts__err(err, MTS_EINVAL,
                            "group_commit_changes and group_commit_ms need "
                            "the flag MTS_FILE_GROUP_COMMIT");
        if (opts->group_commit_changes != 0)
            gchanges = opts->group_commit_changes;
        if (opts->group_commit_ms != 0)
            gms = opts->group_commit_ms;
    }
    fb = mts__calloc(1, sizeof(*fb));
    if (fb == NULL)
        return mts__err_oom(err);
    fb->lock_fd = -1;
    fb->jfd = -1;
    fb->secret = secret;
    fb->jmax = jmax;
    fb->group = (flags & MTS_FILE_GROUP_COMMIT) != 0;
    fb->group_changes = gchanges;
    fb->group_ms = gms;
    rc = resolve(&fb->path, path, (flags & MTS_FILE_FOLLOW_SYMLINK) != 0, err);
    if (rc != 0) {
        file_free(&fb->base);
        return rc;
    }
    fb->file = last_component(fb->path);
    fb->dir = dir_of(fb->path);
    fb->lock_path = join(fb->path, "", ".lock");
    fb->journal_path = join(fb->path, "", ".journal");
    fb->lease_path = join(fb->path, "", ".lease");
    fb->name = join("file:", "", fb->path);
    if (fb->dir == NULL || fb->lock_path == NULL ||
        fb->journal_path == NULL || fb->lease_path == NULL ||
        fb->name == NULL) {
        file_free(&fb->base);
        return mts__err_oom(err);
    }
    fb->base.version = MTS_BACKEND_VERSION;
    fb->base.save = file_save;
    fb->base.load = file_load;
    fb->base.del = file_del;
    fb->base.name = file_name;
    fb->base.apply_update_state = file_apply_update_state;
    /* update_dc, set_home_dc and cache_peer stay NULL: the core loads,
     * changes and saves, under the handle's lock. Their records would
     * carry auth keys and peer data, which the plain journal must not
     * hold for a sealed session. */
    fb->base.lease = file_lease;
    fb->base.load_rev = file_load_rev;
    fb->base.save_if = file_save_if;
    fb->base.free = file_free;
    rc = mts_storage_wrap(out, &fb->base, err);
    if (rc != 0) {
        file_free(&fb->base);
        *out = NULL;
    }
    return rc;
}
