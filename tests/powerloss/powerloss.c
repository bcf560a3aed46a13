/*
 * powerloss.c - the file backend on a machine that loses, at power loss,
 * everything that was not made durable.
 *
 * Recording. The test is linked with the file backend's system-call
 * wrappers (os.h) interposed (-Wl,--wrap=mts__os_open and the others, see
 * tests.cmake): the os.h fault hook sees only the kind of call, and this
 * test needs the descriptor, the path and the bytes. Every call that
 * changes the store's directory is logged, in order, as one entry:
 * create, write (inode, offset, bytes), truncate, rename, unlink, fsync
 * of a file, fsync of the directory. The real calls still run (so the
 * library sees a real file system and the log can be checked against the
 * directory after every operation), except fsync, which only the model
 * needs.
 *
 * The model of durability (what survives a power cut):
 *   - File data: an inode's contents as of its last fsync. Writes and
 *     truncations after it ("pending") may have reached the disk all,
 *     none, in order up to some point, with one write torn (its first
 *     byte, half of it, or all but its last byte), with one write lost
 *     while later ones survived, or with one write's range present but
 *     zero-filled (size updated, data not).
 *   - Names: the directory as of its last fsync. Creates, renames and
 *     unlinks after it may have reached the disk in any subset (all 2^n
 *     subsets, applied in order, for up to 6 pending changes; otherwise
 *     every prefix and every one-left-out). A file fsync does not make
 *     its name durable, only a directory fsync does (the weakest
 *     guarantee POSIX gives; ext4 and XFS give more).
 * Lock files and temp files do not change what a load returns, so only
 * "<store>" and "<store>.journal" are materialised.
 *
 * Checking. For every cut point N (after the first N log entries, N = 0
 * up to the end), every combination of name and content variants above is
 * written into a scratch directory and loaded with a fresh handle. With
 * k operations complete before the cut, the load must give the model
 * state after k operations, or after k + 1 when the cut falls inside
 * operation k + 1: never an error, never a mix, never an older state. With
 * group commit the documented weaker promise is checked instead: some
 * state no more than group_commit_changes - 1 update-state calls older,
 * and never older than the last save. Each distinct crashed directory is
 * then opened by a new writer, which applies one change; a load must give
 * the recovered state plus that change (the writer cuts off torn tails
 * and restarts stale journals).
 *
 * The operations: a scripted sequence covering the first save, the first
 * journaled change (a fold: the snapshot has no id yet), appends of every
 * change kind, load-change-save operations, reopening the store (a new
 * handle continues a live journal), delete and recreate; then random ones
 * (workload.h) from the run's seed. Configurations: plain; sealed with a
 * raw key and a 64-byte journal limit (nearly every change folds); plain
 * with group commit.
 *
 * The test can fail: test_model_finds_missing_fsyncs runs the same
 * sequence while the model ignores the temp file's fsync, the directory's
 * fsync or the journal's fsync, and requires violations to be found.
 *
 * MTS_TEST_SEED replays a run; MTS_POWERLOSS_RANDOM_OPS sets the number of
 * random operations (default 60); MTS_POWERLOSS_SCRATCH the parent of the
 * scratch directory (default /dev/shm when writable).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mtsession/mtsession.h"
#include "os.h"
#include "t.h"
#include "workload.h"

enum {
    NAME_LEN = 160,
    NS_MAX = 64,
    FD_MAX = 4096,
    INODE_MAX = 8192,
    ACT_MAX = 48,
    EXAMPLES = 3
};

/* ---- the log ----------------------------------------------------------- */

typedef enum ekind {
    E_CREATE, /* name -> new inode */
    E_WRITE,  /* inode, off, data[len] */
    E_TRUNC,  /* inode to off bytes */
    E_FSYNC,  /* inode's data durable */
    E_DSYNC,  /* the directory's names durable */
    E_RENAME, /* name -> name2 (inode) */
    E_UNLINK  /* name (inode) */
} ekind;

typedef struct entry {
    ekind kind;
    int ino;
    char name[NAME_LEN], name2[NAME_LEN];
    off_t off;
    size_t len;
    uint8_t *data;
} entry;

typedef struct inode {
    dev_t dev;
    ino_t ino;
    char born[NAME_LEN]; /* the name it was created under */
} inode;

/* Model fsyncs to leave out, to prove the checker finds the damage. */
enum { DROP_TMP_FSYNC = 1, DROP_DIR_FSYNC = 2, DROP_JOURNAL_FSYNC = 4 };

typedef struct buf {
    uint8_t *p;
    size_t len, cap;
} buf;

typedef struct nsent {
    char name[NAME_LEN];
    int ino;
} nsent;

typedef struct names {
    nsent e[NS_MAX];
    int n;
} names;

/* A file system as the model sees it: current and durable names and
 * contents, and what is pending since the last fsync. */
typedef struct fsstate {
    names cur, dur;
    int *pend_ns;
    int npend_ns, cap_ns;
    buf *cur_data, *dur_data;
    int **pend;
    int *npend, *cap_pend;
    int ninodes;
} fsstate;

static struct {
    int on;
    int drop;
    char dir[PATH_MAX];
    size_t dirlen;
    entry *log;
    size_t n, cap;
    int failed;
    char why[512];
    inode inodes[INODE_MAX];
    int ninodes;
    struct {
        int kind; /* 0 untracked, 1 file, 2 the directory */
        int ino;
    } fd[FD_MAX];
    fsstate live; /* the log applied so far, to compare with the disk */
} g;

static uint64_t g_seed;
static mts_secret *g_secret;

static void rec_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void
rec_fail(const char *fmt, ...)
{
    va_list ap;
    if (g.failed)
        return;
    g.failed = 1;
    va_start(ap, fmt);
    vsnprintf(g.why, sizeof(g.why), fmt, ap);
    va_end(ap);
}

static void *
xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return q;
}

/* ---- buffers and names ------------------------------------------------- */

static void
buf_reserve(buf *b, size_t n)
{
    if (n <= b->cap)
        return;
    b->cap = n < 64 ? 64 : n * 2;
    b->p = xrealloc(b->p, b->cap);
}

static void
buf_set(buf *b, const buf *from)
{
    buf_reserve(b, from->len);
    if (from->len)
        memcpy(b->p, from->p, from->len);
    b->len = from->len;
}

static void
buf_resize(buf *b, size_t n)
{
    buf_reserve(b, n);
    if (n > b->len)
        memset(b->p + b->len, 0, n - b->len);
    b->len = n;
}

/* Write len bytes at off (zero-filling a gap); data NULL writes zeros. */
static void
buf_write(buf *b, size_t off, const uint8_t *data, size_t len)
{
    if (off + len > b->len)
        buf_resize(b, off + len);
    if (data)
        memcpy(b->p + off, data, len);
    else
        memset(b->p + off, 0, len);
}

static int
ns_find(const names *ns, const char *name)
{
    for (int i = 0; i < ns->n; i++)
        if (strcmp(ns->e[i].name, name) == 0)
            return i;
    return -1;
}

static int
ns_get(const names *ns, const char *name)
{
    int i = ns_find(ns, name);
    return i < 0 ? -1 : ns->e[i].ino;
}

static void
ns_set(names *ns, const char *name, int ino)
{
    int i = ns_find(ns, name);
    if (i < 0) {
        if (ns->n == NS_MAX) {
            rec_fail("more than %d names in the directory", NS_MAX);
            return;
        }
        i = ns->n++;
        snprintf(ns->e[i].name, NAME_LEN, "%s", name);
    }
    ns->e[i].ino = ino;
}

/* Remove name when it names ino (any inode when ino < 0). */
static void
ns_del(names *ns, const char *name, int ino)
{
    int i = ns_find(ns, name);
    if (i < 0 || (ino >= 0 && ns->e[i].ino != ino))
        return;
    ns->e[i] = ns->e[--ns->n];
}

/* ---- the model file system --------------------------------------------- */

static void
fs_grow(fsstate *fs, int ninodes)
{
    if (ninodes <= fs->ninodes)
        return;
    fs->cur_data = xrealloc(fs->cur_data, (size_t)ninodes * sizeof(buf));
    fs->dur_data = xrealloc(fs->dur_data, (size_t)ninodes * sizeof(buf));
    fs->pend = xrealloc(fs->pend, (size_t)ninodes * sizeof(int *));
    fs->npend = xrealloc(fs->npend, (size_t)ninodes * sizeof(int));
    fs->cap_pend = xrealloc(fs->cap_pend, (size_t)ninodes * sizeof(int));
    for (int i = fs->ninodes; i < ninodes; i++) {
        memset(&fs->cur_data[i], 0, sizeof(buf));
        memset(&fs->dur_data[i], 0, sizeof(buf));
        fs->pend[i] = NULL;
        fs->npend[i] = fs->cap_pend[i] = 0;
    }
    fs->ninodes = ninodes;
}

static void
fs_free(fsstate *fs)
{
    for (int i = 0; i < fs->ninodes; i++) {
        free(fs->cur_data[i].p);
        free(fs->dur_data[i].p);
        free(fs->pend[i]);
    }
    free(fs->cur_data);
    free(fs->dur_data);
    free(fs->pend);
    free(fs->npend);
    free(fs->cap_pend);
    free(fs->pend_ns);
    memset(fs, 0, sizeof(*fs));
}

static void
push(int **arr, int *n, int *cap, int v)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *arr = xrealloc(*arr, (size_t)*cap * sizeof(int));
    }
    (*arr)[(*n)++] = v;
}

/* Apply log entry `i` to fs (the effect on the running system, plus the
 * bookkeeping of what is pending). */
static void
fs_apply(fsstate *fs, size_t i)
{
    const entry *e = &g.log[i];
    if (e->ino >= 0)
        fs_grow(fs, e->ino + 1);
    switch (e->kind) {
    case E_CREATE:
        ns_set(&fs->cur, e->name, e->ino);
        fs->cur_data[e->ino].len = 0;
        fs->dur_data[e->ino].len = 0;
        fs->npend[e->ino] = 0;
        push(&fs->pend_ns, &fs->npend_ns, &fs->cap_ns, (int)i);
        break;
    case E_WRITE:
        buf_write(&fs->cur_data[e->ino], (size_t)e->off, e->data, e->len);
        push(&fs->pend[e->ino], &fs->npend[e->ino], &fs->cap_pend[e->ino],
             (int)i);
        break;
    case E_TRUNC:
        buf_resize(&fs->cur_data[e->ino], (size_t)e->off);
        push(&fs->pend[e->ino], &fs->npend[e->ino], &fs->cap_pend[e->ino],
             (int)i);
        break;
    case E_FSYNC:
        buf_set(&fs->dur_data[e->ino], &fs->cur_data[e->ino]);
        fs->npend[e->ino] = 0;
        break;
    case E_DSYNC:
        fs->dur = fs->cur;
        fs->npend_ns = 0;
        break;
    case E_RENAME:
        ns_del(&fs->cur, e->name, e->ino);
        ns_set(&fs->cur, e->name2, e->ino);
        push(&fs->pend_ns, &fs->npend_ns, &fs->cap_ns, (int)i);
        break;
    case E_UNLINK:
        ns_del(&fs->cur, e->name, e->ino);
        push(&fs->pend_ns, &fs->npend_ns, &fs->cap_ns, (int)i);
        break;
    }
}

/* A name change replayed onto a crashed directory. */
static void
ns_replay(names *ns, const entry *e)
{
    switch (e->kind) {
    case E_CREATE:
        ns_set(ns, e->name, e->ino);
        break;
    case E_RENAME:
        ns_del(ns, e->name, e->ino);
        ns_set(ns, e->name2, e->ino);
        break;
    case E_UNLINK:
        ns_del(ns, e->name, e->ino);
        break;
    default:
        break;
    }
}

/* ---- recording: the interposed wrappers -------------------------------- */

int __real_mts__os_open(const char *path, int flags, mode_t mode);
int __real_mts__os_openat(int dirfd, const char *path, int flags, mode_t mode);
ssize_t __real_mts__os_write(int fd, const void *buf, size_t len);
int __real_mts__os_fsync(int fd);
int __real_mts__os_close(int fd);
int __real_mts__os_rename(const char *from, const char *to);
int __real_mts__os_unlink(const char *path);
int __real_mts__os_ftruncate(int fd, off_t len);

int __wrap_mts__os_open(const char *path, int flags, mode_t mode);
int __wrap_mts__os_openat(int dirfd, const char *path, int flags, mode_t mode);
ssize_t __wrap_mts__os_write(int fd, const void *buf, size_t len);
int __wrap_mts__os_fsync(int fd);
int __wrap_mts__os_close(int fd);
int __wrap_mts__os_rename(const char *from, const char *to);
int __wrap_mts__os_unlink(const char *path);
int __wrap_mts__os_ftruncate(int fd, off_t len);

static entry *
log_add(ekind kind, int ino)
{
    entry *e;
    if (g.n == g.cap) {
        g.cap = g.cap ? g.cap * 2 : 256;
        g.log = xrealloc(g.log, g.cap * sizeof(entry));
    }
    e = &g.log[g.n];
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->ino = ino;
    return e;
}

/* Entry g.n is complete: count it and apply it to the live model. */
static void
log_commit(void)
{
    fs_apply(&g.live, g.n);
    g.n++;
}

/* The name of path inside the recorded directory, or NULL. */
static const char *
name_in_dir(const char *path)
{
    if (strncmp(path, g.dir, g.dirlen) == 0 && path[g.dirlen] == '/' &&
        strchr(path + g.dirlen + 1, '/') == NULL)
        return path + g.dirlen + 1;
    return NULL;
}

static int
inode_of(dev_t dev, ino_t ino)
{
    for (int i = g.ninodes - 1; i >= 0; i--)
        if (g.inodes[i].dev == dev && g.inodes[i].ino == ino)
            return i;
    return -1;
}

static int
inode_new(dev_t dev, ino_t ino, const char *name)
{
    int i;
    if (g.ninodes == INODE_MAX) {
        rec_fail("more than %d inodes", INODE_MAX);
        return -1;
    }
    i = g.ninodes++;
    g.inodes[i].dev = dev;
    g.inodes[i].ino = ino;
    snprintf(g.inodes[i].born, NAME_LEN, "%s", name);
    return i;
}

static void
track_open(int fd, const char *path, int flags, int existed)
{
    const char *name;
    struct stat sb;
    int ino;
    if (fd >= FD_MAX) {
        rec_fail("descriptor %d too large for the table", fd);
        return;
    }
    g.fd[fd].kind = 0;
    if (flags & O_DIRECTORY) {
        if (strcmp(path, g.dir) != 0)
            rec_fail("directory %s opened, not the store's", path);
        g.fd[fd].kind = 2;
        return;
    }
    name = name_in_dir(path);
    if (name == NULL) {
        if ((flags & O_ACCMODE) != O_RDONLY)
            rec_fail("%s opened for writing outside the directory", path);
        return;
    }
    if (fstat(fd, &sb) != 0) {
        rec_fail("fstat %s: %s", path, strerror(errno));
        return;
    }
    if ((flags & O_CREAT) && !existed) {
        entry *e;
        ino = inode_new(sb.st_dev, sb.st_ino, name);
        if (ino < 0)
            return;
        e = log_add(E_CREATE, ino);
        snprintf(e->name, NAME_LEN, "%s", name);
        log_commit();
    } else {
        ino = inode_of(sb.st_dev, sb.st_ino);
        if (ino < 0) {
            rec_fail("%s: a file the model never saw created", path);
            return;
        }
    }
    g.fd[fd].kind = 1;
    g.fd[fd].ino = ino;
    if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY) {
        log_add(E_TRUNC, ino)->off = 0;
        log_commit();
    }
}

static int
open_common(int dirfd, const char *path, int flags, mode_t mode, int at)
{
    char full[2 * PATH_MAX];
    struct stat sb;
    int existed = 0, fd;
    const char *p = path;
    if (!g.on)
        return at ? __real_mts__os_openat(dirfd, path, flags, mode)
                  : __real_mts__os_open(path, flags, mode);
    if (at && path[0] != '/' && dirfd != AT_FDCWD) {
        if (dirfd < 0 || dirfd >= FD_MAX || g.fd[dirfd].kind != 2) {
            rec_fail("openat relative to an unknown directory");
        } else {
            snprintf(full, sizeof(full), "%s/%s", g.dir, path);
            p = full;
        }
    }
    if (flags & O_CREAT)
        existed = lstat(p, &sb) == 0;
    fd = at ? __real_mts__os_openat(dirfd, path, flags, mode)
            : __real_mts__os_open(path, flags, mode);
    if (fd >= 0)
        track_open(fd, p, flags, existed);
    return fd;
}

int
__wrap_mts__os_open(const char *path, int flags, mode_t mode)
{
    return open_common(AT_FDCWD, path, flags, mode, 0);
}

int
__wrap_mts__os_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    return open_common(dirfd, path, flags, mode, 1);
}

ssize_t
__wrap_mts__os_write(int fd, const void *data, size_t len)
{
    ssize_t n = __real_mts__os_write(fd, data, len);
    if (!g.on || n <= 0)
        return n;
    if (fd < 0 || fd >= FD_MAX || g.fd[fd].kind != 1) {
        rec_fail("write to descriptor %d, which the model does not know", fd);
    } else {
        off_t end = lseek(fd, 0, SEEK_CUR);
        entry *e = log_add(E_WRITE, g.fd[fd].ino);
        e->off = end - (off_t)n;
        e->len = (size_t)n;
        e->data = xrealloc(NULL, (size_t)n);
        memcpy(e->data, data, (size_t)n);
        log_commit();
    }
    return n;
}

/* Durability is the model's business: the real fsync would only cost
 * time, so it never runs here. */
int
__wrap_mts__os_fsync(int fd)
{
    if (!g.on)
        return 0;
    if (fd < 0 || fd >= FD_MAX || g.fd[fd].kind == 0) {
        rec_fail("fsync of descriptor %d, which the model does not know", fd);
        return 0;
    }
    if (g.fd[fd].kind == 2) {
        if (!(g.drop & DROP_DIR_FSYNC)) {
            log_add(E_DSYNC, -1);
            log_commit();
        }
    } else {
        const char *born = g.inodes[g.fd[fd].ino].born;
        size_t bl = strlen(born);
        int is_tmp = strstr(born, ".tmp.") != NULL;
        int is_journal = bl > 8 && strcmp(born + bl - 8, ".journal") == 0;
        if (!((g.drop & DROP_TMP_FSYNC) && is_tmp) &&
            !((g.drop & DROP_JOURNAL_FSYNC) && is_journal)) {
            log_add(E_FSYNC, g.fd[fd].ino);
            log_commit();
        }
    }
    return 0;
}

int
__wrap_mts__os_close(int fd)
{
    if (g.on && fd >= 0 && fd < FD_MAX)
        g.fd[fd].kind = 0;
    return __real_mts__os_close(fd);
}

int
__wrap_mts__os_rename(const char *from, const char *to)
{
    struct stat sb;
    const char *f, *t;
    int ino = -1, rc;
    if (!g.on)
        return __real_mts__os_rename(from, to);
    f = name_in_dir(from);
    t = name_in_dir(to);
    if (f == NULL || t == NULL)
        rec_fail("rename %s -> %s outside the directory", from, to);
    else if (lstat(from, &sb) == 0 &&
             (ino = inode_of(sb.st_dev, sb.st_ino)) < 0)
        rec_fail("rename of %s, a file the model never saw created", from);
    rc = __real_mts__os_rename(from, to);
    if (rc == 0 && ino >= 0 && f && t) {
        entry *e = log_add(E_RENAME, ino);
        snprintf(e->name, NAME_LEN, "%s", f);
        snprintf(e->name2, NAME_LEN, "%s", t);
        log_commit();
    }
    return rc;
}

int
__wrap_mts__os_unlink(const char *path)
{
    struct stat sb;
    const char *n;
    int ino = -1, rc;
    if (!g.on)
        return __real_mts__os_unlink(path);
    n = name_in_dir(path);
    if (n == NULL)
        rec_fail("unlink %s outside the directory", path);
    else if (lstat(path, &sb) == 0 &&
             (ino = inode_of(sb.st_dev, sb.st_ino)) < 0)
        rec_fail("unlink of %s, a file the model never saw created", path);
    rc = __real_mts__os_unlink(path);
    if (rc == 0 && ino >= 0) {
        entry *e = log_add(E_UNLINK, ino);
        snprintf(e->name, NAME_LEN, "%s", n);
        log_commit();
    }
    return rc;
}

int
__wrap_mts__os_ftruncate(int fd, off_t len)
{
    int rc = __real_mts__os_ftruncate(fd, len);
    if (!g.on || rc != 0)
        return rc;
    if (fd < 0 || fd >= FD_MAX || g.fd[fd].kind != 1) {
        rec_fail("ftruncate of descriptor %d, which the model does not know",
                 fd);
    } else {
        log_add(E_TRUNC, g.fd[fd].ino)->off = len;
        log_commit();
    }
    return rc;
}

static void
rec_start(const char *dir, int drop)
{
    for (size_t i = 0; i < g.n; i++)
        free(g.log[i].data);
    free(g.log);
    fs_free(&g.live);
    g.log = NULL;
    g.n = g.cap = 0;
    g.failed = 0;
    g.why[0] = '\0';
    g.ninodes = 0;
    memset(g.fd, 0, sizeof(g.fd));
    snprintf(g.dir, sizeof(g.dir), "%s", dir);
    g.dirlen = strlen(g.dir);
    g.drop = drop;
    g.on = 1;
}

/* The recorded directory must hold exactly what the model says is there
 * now: otherwise a change bypassed the seam and the model is blind. */
static void
rec_compare_disk(void)
{
    DIR *d = opendir(g.dir);
    struct dirent *de;
    int seen = 0;
    if (d == NULL) {
        rec_fail("opendir %s: %s", g.dir, strerror(errno));
        return;
    }
    while ((de = readdir(d)) != NULL) {
        char path[2 * PATH_MAX];
        unsigned char *data;
        size_t len = 0;
        int ino;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        seen++;
        ino = ns_get(&g.live.cur, de->d_name);
        if (ino < 0) {
            rec_fail("%s is on disk but not in the model", de->d_name);
            break;
        }
        snprintf(path, sizeof(path), "%s/%s", g.dir, de->d_name);
        data = t_read_file(path, &len);
        if (data == NULL || len != g.live.cur_data[ino].len ||
            (len && memcmp(data, g.live.cur_data[ino].p, len) != 0))
            rec_fail("%s on disk differs from the model (%zu bytes, model "
                     "%zu)",
                     de->d_name, len, g.live.cur_data[ino].len);
        free(data);
    }
    closedir(d);
    if (seen != g.live.cur.n)
        rec_fail("%d files on disk, %d in the model", seen, g.live.cur.n);
}

/* ---- the operations ---------------------------------------------------- */

#define OP_REOPEN ((wl_kind)WL_KIND_COUNT)

typedef struct script_op {
    wl_kind kind;
    int sub; /* update kind, or -1 */
} script_op;

static const script_op g_script[] = {
    { WL_SAVE, -1 },
    { WL_UPDATE, MTS_UPDATE_PRIMARY }, /* the first change: a fold */
    { WL_UPDATE, MTS_UPDATE_CHANNEL },
    { WL_UPDATE, MTS_UPDATE_SECONDARY },
    { WL_UPDATE, MTS_UPDATE_ALL },
    { WL_PEER, -1 }, /* load-change-save over a live journal */
    { WL_UPDATE, MTS_UPDATE_CHANNEL },
    { OP_REOPEN, -1 },
    { WL_UPDATE, MTS_UPDATE_PRIMARY }, /* a new handle continues it */
    { WL_SAVE, -1 },
    { WL_HOME, -1 },
    { WL_UPDATE, MTS_UPDATE_CHANNEL },
    { WL_DELETE, -1 },
    { WL_UPDATE, MTS_UPDATE_SECONDARY }, /* on an empty store */
    { WL_DC, -1 },
    { WL_UPDATE, MTS_UPDATE_ALL },
    { OP_REOPEN, -1 },
    { WL_SAVE, -1 },
    { WL_UPDATE, MTS_UPDATE_CHANNEL },
    { WL_UPDATE, MTS_UPDATE_PRIMARY },
};

static const wl_mix g_random_mix = { { 15, 50, 15, 8, 7, 5 } };

typedef struct config {
    const char *name;
    int sealed;
    size_t journal_max;
    unsigned int group; /* group_commit_changes, 0: no group commit */
} config;

typedef struct run {
    const config *c;
    char dir[PATH_MAX - 64], path[PATH_MAX], scratch[PATH_MAX - 64],
        spath[PATH_MAX];
    int nops;
    wl_kind *kinds;
    size_t *start, *end; /* log entries of op j (1-based state index) */
    mts_session **state; /* state[j]: after j operations */
    mts_session *full[WL_FULL_COUNT];
    /* results */
    long cuts, checked, distinct, violations, writer_violations;
    long inside[WL_KIND_COUNT + 1]; /* cut points inside an op, by kind */
    char example[EXAMPLES][600];
    int nexamples;
    int quiet; /* do not fail the case on violations (self-check) */
} run;

static int
open_store(mts_storage **st, const config *c, const char *path, mts_error *e)
{
    mts_file_options o = MTS_FILE_OPTIONS_INIT;
    o.secret = c->sealed ? g_secret : NULL;
    o.journal_max_bytes = c->journal_max;
    if (c->group) {
        o.flags |= MTS_FILE_GROUP_COMMIT;
        o.group_commit_changes = c->group;
        o.group_commit_ms = 3600000; /* only the count triggers syncs */
    }
    return mts_file_open(st, path, &o, e);
}

/* Run the sequence against the real directory, recording. */
static int
record(run *r, int drop)
{
    long nrandom = wl_env_long("MTS_POWERLOSS_RANDOM_OPS", 60);
    int nscript = (int)(sizeof(g_script) / sizeof(g_script[0]));
    mts_storage *st = NULL;
    mts_error e = MTS_ERROR_INIT;
    mts_session *model = NULL;
    int rc;
    r->nops = nscript + (int)nrandom + 1; /* + the final close */
    r->kinds = xrealloc(NULL, (size_t)(r->nops + 1) * sizeof(wl_kind));
    r->start = xrealloc(NULL, (size_t)(r->nops + 1) * sizeof(size_t));
    r->end = xrealloc(NULL, (size_t)(r->nops + 1) * sizeof(size_t));
    r->state = xrealloc(NULL, (size_t)(r->nops + 1) * sizeof(mts_session *));
    r->state[0] = NULL;
    rec_start(r->dir, drop);
    rc = open_store(&st, r->c, r->path, &e);
    if (rc != 0) {
        g.on = 0;
        t_fail(__FILE__, __LINE__, "open: %s", e.message);
        return -1;
    }
    for (int j = 1; j <= r->nops; j++) {
        wl_op op;
        wl_kind kind;
        int sub = -1;
        if (j <= nscript) {
            kind = g_script[j - 1].kind;
            sub = g_script[j - 1].sub;
        } else if (j < r->nops) {
            wl_make(&op, g_seed, (uint64_t)j, &g_random_mix);
            kind = op.kind;
        } else {
            kind = OP_REOPEN;
        }
        r->kinds[j] = kind;
        r->start[j] = g.n;
        if (kind == OP_REOPEN) {
            mts_storage_free(st);
            st = NULL;
            rc = j < r->nops ? open_store(&st, r->c, r->path, &e) : 0;
        } else {
            wl_make_kind(&op, kind, sub, g_seed, (uint64_t)j);
            rc = wl_apply_storage(st, &op, r->full, &e);
            if (rc == 0 && wl_apply_model(&model, &op, r->full) != 0)
                rc = MTS_EINVAL;
        }
        r->end[j] = g.n;
        r->state[j] = wl_dup(model);
        if (rc != 0) {
            g.on = 0;
            mts_storage_free(st);
            mts_session_free(model);
            t_fail(__FILE__, __LINE__, "%s: operation %d (%s): %s", r->c->name,
                   j, wl_kind_name(kind), e.message);
            r->nops = j;
            return -1;
        }
        rec_compare_disk();
        if (g.failed)
            break;
    }
    g.on = 0;
    mts_storage_free(st);
    mts_session_free(model);
    if (g.failed) {
        t_fail(__FILE__, __LINE__, "%s: recording: %s", r->c->name, g.why);
        return -1;
    }
    return 0;
}

/* ---- crashed states ---------------------------------------------------- */

/* What happens to one pending change of a file in a crash variant. */
typedef enum act { A_SKIP, A_APPLY, A_PART, A_ZERO } act;

typedef struct variant {
    act a[ACT_MAX];
    size_t part[ACT_MAX];
    char what[64];
} variant;

typedef struct vlist {
    variant *v;
    int n, cap;
} vlist;

static variant *vl_add(vlist *l, int np, act fill, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static variant *
vl_add(vlist *l, int np, act fill, const char *fmt, ...)
{
    variant *v;
    va_list ap;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = xrealloc(l->v, (size_t)l->cap * sizeof(variant));
    }
    v = &l->v[l->n++];
    for (int i = 0; i < np && i < ACT_MAX; i++) {
        v->a[i] = fill;
        v->part[i] = 0;
    }
    va_start(ap, fmt);
    vsnprintf(v->what, sizeof(v->what), fmt, ap);
    va_end(ap);
    return v;
}

/* The content variants of an inode with np pending changes p[]. */
static void
content_variants(vlist *l, const int *p, int np)
{
    l->n = 0;
    if (np > ACT_MAX) { /* vary the newest ACT_MAX; older ones survive */
        p += np - ACT_MAX;
        np = ACT_MAX;
    }
    vl_add(l, np, A_SKIP, np ? "pending data lost" : "durable");
    if (np == 0)
        return;
    vl_add(l, np, A_APPLY, "pending data kept");
    for (int j = 0; j < np; j++) {
        const entry *e = &g.log[p[j]];
        size_t cand[3];
        if (j > 0) {
            variant *v = vl_add(l, np, A_SKIP, "first %d of %d kept", j, np);
            for (int i = 0; i < j; i++)
                v->a[i] = A_APPLY;
        }
        if (e->kind == E_WRITE && e->len >= 2) {
            cand[0] = 1;
            cand[1] = e->len / 2;
            cand[2] = e->len - 1;
            for (int c = 0; c < 3; c++) {
                variant *v;
                if (c > 0 && cand[c] == cand[c - 1])
                    continue;
                v = vl_add(l, np, A_SKIP, "write %d of %d torn at %zu/%zu",
                           j + 1, np, cand[c], e->len);
                for (int i = 0; i < j; i++)
                    v->a[i] = A_APPLY;
                v->a[j] = A_PART;
                v->part[j] = cand[c];
            }
        }
        if (np >= 2) {
            variant *v =
                vl_add(l, np, A_APPLY, "change %d of %d lost", j + 1, np);
            v->a[j] = A_SKIP;
        }
        if (e->kind == E_WRITE) {
            variant *v =
                vl_add(l, np, A_APPLY, "write %d of %d zero-filled", j + 1, np);
            v->a[j] = A_ZERO;
        }
    }
}

static void
build_content(buf *out, const fsstate *fs, int ino, const variant *v)
{
    int np = fs->npend[ino], skip = np > ACT_MAX ? np - ACT_MAX : 0;
    buf_set(out, &fs->dur_data[ino]);
    for (int i = 0; i < np; i++) {
        const entry *e = &g.log[fs->pend[ino][i]];
        act a = i < skip ? A_APPLY : v->a[i - skip];
        if (a == A_SKIP)
            continue;
        if (e->kind == E_TRUNC) {
            buf_resize(out, (size_t)e->off);
        } else if (a == A_PART) {
            buf_write(out, (size_t)e->off, e->data, v->part[i - skip]);
        } else {
            buf_write(out, (size_t)e->off, a == A_ZERO ? NULL : e->data,
                      e->len);
        }
    }
}

/* ---- loading crashed states -------------------------------------------- */

typedef struct cached {
    uint64_t h;
    int rc;
    mts_session *s;
    char msg[MTS_ERROR_MESSAGE_SIZE];
    int writer_ok;
    char writer_msg[300];
} cached;

static cached *g_cache;
static size_t g_cache_n, g_cache_cap;

static void
cache_clear(void)
{
    for (size_t i = 0; i < g_cache_cap; i++)
        if (g_cache[i].h != 0)
            mts_session_free(g_cache[i].s);
    free(g_cache);
    g_cache = NULL;
    g_cache_n = g_cache_cap = 0;
}

static cached *
cache_slot(uint64_t h)
{
    size_t i;
    if (g_cache_n * 2 >= g_cache_cap) {
        cached *old = g_cache;
        size_t oldcap = g_cache_cap;
        g_cache_cap = oldcap ? oldcap * 2 : 1024;
        g_cache = calloc(g_cache_cap, sizeof(cached));
        if (g_cache == NULL)
            exit(2);
        for (size_t k = 0; k < oldcap; k++) {
            if (old[k].h == 0)
                continue;
            for (i = old[k].h & (g_cache_cap - 1); g_cache[i].h != 0;
                 i = (i + 1) & (g_cache_cap - 1))
                ;
            g_cache[i] = old[k];
        }
        free(old);
    }
    for (i = h & (g_cache_cap - 1); g_cache[i].h != 0 && g_cache[i].h != h;
         i = (i + 1) & (g_cache_cap - 1))
        ;
    return &g_cache[i];
}

static uint64_t
hash_bytes(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3u;
    }
    h ^= n;
    h *= 0x9e3779b97f4a7c15u;
    return h ^ (h >> 29);
}

static void
write_file(const char *path, const buf *b)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t off = 0;
    if (fd < 0) {
        perror(path);
        exit(2);
    }
    while (off < b->len) {
        ssize_t n = write(fd, b->p + off, b->len - off);
        if (n <= 0) {
            perror(path);
            exit(2);
        }
        off += (size_t)n;
    }
    close(fd);
}

static void
clear_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        char p[PATH_MAX];
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        unlink(p);
    }
    closedir(d);
}

/* Load the crashed state (store: a or NULL, journal: b or NULL) from the
 * scratch directory, then let a new writer change it and load again. */
static void
evaluate(run *r, cached *c, const buf *a, const buf *b)
{
    char jpath[PATH_MAX + 16];
    mts_storage *st = NULL;
    mts_error e = MTS_ERROR_INIT;
    mts_update_change ch = MTS_UPDATE_CHANGE_INIT;
    mts_session *after = NULL, *want = NULL;
    int rc;
    clear_dir(r->scratch);
    snprintf(jpath, sizeof(jpath), "%s.journal", r->spath);
    if (a)
        write_file(r->spath, a);
    if (b)
        write_file(jpath, b);
    c->s = NULL;
    c->rc = open_store(&st, r->c, r->spath, &e);
    if (c->rc == 0)
        c->rc = mts_storage_load(&c->s, st, &e);
    mts_storage_free(st);
    st = NULL;
    if (c->rc == MTS_ENOTFOUND)
        c->rc = 0; /* nothing stored: the state NULL */
    snprintf(c->msg, sizeof(c->msg), "%s", c->rc ? e.message : "");
    c->writer_ok = 1;
    if (c->rc != 0)
        return;
    /* A new writer after the crash. */
    ch.kind = MTS_UPDATE_CHANNEL;
    ch.channel_id = 4242;
    ch.channel_pts = 7;
    want = wl_dup(c->s);
    if (want == NULL && mts_session_new(&want, MTS_NEW_EMPTY) != 0)
        exit(2);
    if (mts_session_apply_update(want, &ch) != 0)
        exit(2);
    rc = open_store(&st, r->c, r->spath, &e);
    if (rc == 0)
        rc = mts_storage_apply_update_state(st, &ch, &e);
    mts_storage_free(st);
    st = NULL;
    if (rc == 0)
        rc = open_store(&st, r->c, r->spath, &e);
    if (rc == 0)
        rc = mts_storage_load(&after, st, &e);
    mts_storage_free(st);
    if (rc != 0) {
        c->writer_ok = 0;
        snprintf(c->writer_msg, sizeof(c->writer_msg),
                 "a writer after the crash: %s: %s", mts_errname(rc),
                 e.message);
    } else if (!wl_same(after, want)) {
        c->writer_ok = 0;
        snprintf(c->writer_msg, sizeof(c->writer_msg),
                 "a writer after the crash applied a change, and the store "
                 "then held something else");
    }
    mts_session_free(after);
    mts_session_free(want);
}

static const char *
short_name(const char *name, char *out, size_t size)
{
    const char *t = strstr(name, ".tmp.");
    if (t != NULL)
        snprintf(out, size, "%.*s.tmp.*", (int)(t - name), name);
    else
        snprintf(out, size, "%s", name);
    return out;
}

static void
describe_entry(char *out, size_t size, size_t i)
{
    const entry *e;
    char a[NAME_LEN], b[NAME_LEN];
    if (i >= g.n) {
        snprintf(out, size, "(end)");
        return;
    }
    e = &g.log[i];
    switch (e->kind) {
    case E_CREATE:
        snprintf(out, size, "create %s", short_name(e->name, a, sizeof(a)));
        break;
    case E_WRITE:
        snprintf(out, size, "write %s @%lld +%zu",
                 short_name(g.inodes[e->ino].born, a, sizeof(a)),
                 (long long)e->off, e->len);
        break;
    case E_TRUNC:
        snprintf(out, size, "ftruncate %s to %lld",
                 short_name(g.inodes[e->ino].born, a, sizeof(a)),
                 (long long)e->off);
        break;
    case E_FSYNC:
        snprintf(out, size, "fsync %s",
                 short_name(g.inodes[e->ino].born, a, sizeof(a)));
        break;
    case E_DSYNC:
        snprintf(out, size, "fsync directory");
        break;
    case E_RENAME:
        snprintf(out, size, "rename %s -> %s",
                 short_name(e->name, a, sizeof(a)),
                 short_name(e->name2, b, sizeof(b)));
        break;
    case E_UNLINK:
        snprintf(out, size, "unlink %s", short_name(e->name, a, sizeof(a)));
        break;
    }
}

static const char *
op_name(wl_kind k)
{
    return k == OP_REOPEN ? "reopen" : wl_kind_name(k);
}

static void
violation(run *r,
          size_t cut,
          int lo,
          int hi,
          const char *ns_what,
          const char *va,
          const char *vb,
          const char *what)
{
    char ent[200], prev[200];
    r->violations++;
    if (r->nexamples >= EXAMPLES)
        return;
    describe_entry(ent, sizeof(ent), cut);
    if (cut > 0)
        describe_entry(prev, sizeof(prev), cut - 1);
    else
        snprintf(prev, sizeof(prev), "(start)");
    snprintf(r->example[r->nexamples++], sizeof(r->example[0]),
             "%s: power lost after %zu log entries (last: %s; next: %s), "
             "%d operations done%s%s; names: %s; store: %s; journal: %s: "
             "%s",
             r->c->name, cut, prev, ent, lo, hi > lo ? ", in flight: " : "",
             hi > lo ? op_name(r->kinds[hi]) : "", ns_what, va, vb, what);
}

/* Check one crashed state against the states allowed at this cut. */
static void
check_state(run *r,
            size_t cut,
            int lo,
            int hi,
            int k,
            const buf *a,
            const buf *b,
            const char *ns_what,
            const char *va,
            const char *vb)
{
    uint64_t h = 0xcbf29ce484222325u;
    cached *c;
    int ok = 0;
    h = hash_bytes(h, (const uint8_t *)(a ? "S" : "-"), 1);
    if (a)
        h = hash_bytes(h, a->p, a->len);
    h = hash_bytes(h, (const uint8_t *)(b ? "J" : "-"), 1);
    if (b)
        h = hash_bytes(h, b->p, b->len);
    if (h == 0)
        h = 1;
    r->checked++;
    c = cache_slot(h);
    if (c->h == 0) {
        c->h = h;
        g_cache_n++;
        r->distinct++;
        evaluate(r, c, a, b);
    }
    if (c->rc != 0) {
        char what[400];
        snprintf(what, sizeof(what), "load failed: %s: %s", mts_errname(c->rc),
                 c->msg);
        violation(r, cut, k, hi, ns_what, va, vb, what);
        return;
    }
    for (int j = lo; j <= hi && !ok; j++)
        ok = wl_same(c->s, r->state[j]);
    if (!ok) {
        char what[200];
        int match = -1;
        for (int j = 0; j <= r->nops && match < 0; j++)
            if (wl_same(c->s, r->state[j]))
                match = j;
        if (match >= 0)
            snprintf(what, sizeof(what),
                     "loaded the state after operation %d, allowed %d..%d",
                     match, lo, hi);
        else
            snprintf(what, sizeof(what),
                     "loaded a state that is no state of the sequence "
                     "(a mix), allowed %d..%d",
                     lo, hi);
        violation(r, cut, k, hi, ns_what, va, vb, what);
        return;
    }
    if (!c->writer_ok) {
        r->writer_violations++;
        violation(r, cut, k, hi, ns_what, va, vb, c->writer_msg);
    }
}

/* Every crashed state at cut `cut` of the replayed fs. */
static void
check_cut(run *r, const fsstate *fs, size_t cut)
{
    int k = 0, hi, lo, nq = fs->npend_ns;
    int nmasks;
    unsigned int masks[128];
    char sname[NAME_LEN], jname[NAME_LEN + 8];
    vlist va = { 0 }, vb = { 0 };
    buf ca = { 0 }, cb = { 0 };
    const char *f = strrchr(r->path, '/') + 1;
    snprintf(sname, sizeof(sname), "%s", f);
    snprintf(jname, sizeof(jname), "%s.journal", f);
    while (k < r->nops && r->end[k + 1] <= cut)
        k++;
    hi = k < r->nops && r->start[k + 1] < cut ? k + 1 : k;
    lo = k;
    if (r->c->group) {
        /* Up to group - 1 acknowledged update-state calls may be lost,
         * none from before the last operation that is not one. */
        int barrier = 0;
        for (int j = 1; j <= k; j++)
            if (r->kinds[j] != WL_UPDATE)
                barrier = j;
        lo = k - ((int)r->c->group - 1);
        if (lo < barrier)
            lo = barrier;
        if (lo < 0)
            lo = 0;
    }
    r->cuts++;
    if (k < r->nops && r->start[k + 1] < cut)
        r->inside[r->kinds[k + 1]]++;

    nmasks = 0;
    if (nq <= 6) {
        for (unsigned int m = 0; m < (1u << nq); m++)
            masks[nmasks++] = m;
    } else {
        for (int j = 0; j <= nq && nmasks < 64; j++)
            masks[nmasks++] = j >= 32 ? 0xffffffffu : (1u << j) - 1;
        for (int j = 0; j < nq && j < 32 && nmasks < 128; j++)
            masks[nmasks++] = ~(1u << j);
    }
    for (int m = 0; m < nmasks; m++) {
        names ns = fs->dur;
        char ns_what[200];
        int ia, ib, kept = 0;
        for (int t = 0; t < nq; t++)
            if (t >= 32 || (masks[m] >> t) & 1) {
                ns_replay(&ns, &g.log[fs->pend_ns[t]]);
                kept++;
            }
        if (nq == 0)
            snprintf(ns_what, sizeof(ns_what), "durable");
        else
            snprintf(ns_what, sizeof(ns_what),
                     "%d of %d pending name changes kept (mask %#x)", kept, nq,
                     masks[m]);
        ia = ns_get(&ns, sname);
        ib = ns_get(&ns, jname);
        if (ia >= 0)
            content_variants(&va, fs->pend[ia], fs->npend[ia]);
        else
            va.n = 1;
        if (ib >= 0)
            content_variants(&vb, fs->pend[ib], fs->npend[ib]);
        else
            vb.n = 1;
        for (int x = 0; x < va.n; x++) {
            if (ia >= 0)
                build_content(&ca, fs, ia, &va.v[x]);
            for (int y = 0; y < vb.n; y++) {
                /* The full product when small; otherwise each variant of
                 * one file with the other's pending data all lost or all
                 * kept. */
                if (va.n * vb.n > 400 && x > 1 && y > 1)
                    continue;
                if (ib >= 0)
                    build_content(&cb, fs, ib, &vb.v[y]);
                check_state(r, cut, lo, hi, k, ia >= 0 ? &ca : NULL,
                            ib >= 0 ? &cb : NULL, ns_what,
                            ia >= 0 ? va.v[x].what : "absent",
                            ib >= 0 ? vb.v[y].what : "absent");
            }
        }
    }
    free(va.v);
    free(vb.v);
    free(ca.p);
    free(cb.p);
}

/*
 * A directory for the crashed states. Durability plays no part there (the
 * model decides what survived), so it goes to memory when it can: a disk
 * busy with other work makes every create and unlink wait.
 * MTS_POWERLOSS_SCRATCH names another parent directory.
 */
static int
scratch_dir(char *out, size_t size)
{
    const char *base = getenv("MTS_POWERLOSS_SCRATCH");
    struct stat sb;
    if (base == NULL || *base == '\0')
        base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) &&
                       access("/dev/shm", W_OK) == 0
                   ? "/dev/shm"
                   : t_tmpdir();
    snprintf(out, size, "%s/mts-powerloss-XXXXXX", base);
    return mkdtemp(out) != NULL ? 0 : -1;
}

static void
run_config(run *r, const config *c, int drop, const char *tag)
{
    fsstate fs;
    memset(r, 0, sizeof(*r));
    r->c = c;
    snprintf(r->dir, sizeof(r->dir), "%s/%s%s", t_tmpdir(), c->name, tag);
    if (mkdir(r->dir, 0700) != 0 ||
        scratch_dir(r->scratch, sizeof(r->scratch)) != 0) {
        t_fail(__FILE__, __LINE__, "mkdir: %s", strerror(errno));
        return;
    }
    snprintf(r->path, sizeof(r->path), "%s/store", r->dir);
    snprintf(r->spath, sizeof(r->spath), "%s/store", r->scratch);
    r->quiet = drop != 0;
    wl_full_all(r->full);
    if (record(r, drop) == 0) {
        memset(&fs, 0, sizeof(fs));
        for (size_t cut = 0;; cut++) {
            check_cut(r, &fs, cut);
            if (cut == g.n)
                break;
            fs_apply(&fs, cut);
        }
        fs_free(&fs);
    }
    cache_clear();
    clear_dir(r->scratch);
    rmdir(r->scratch);
    for (int j = 0; j <= r->nops; j++)
        if (r->state)
            mts_session_free(r->state[j]);
    free(r->state);
    free(r->kinds);
    free(r->start);
    free(r->end);
    wl_free_full(r->full);
}

static void
report(const run *r, const char *label)
{
    printf("%s: %d operations, %zu log entries, %ld cut points, %ld crashed "
           "states checked (%ld distinct, each also reopened by a writer), "
           "%ld violations\n",
           label, r->nops, g.n, r->cuts, r->checked, r->distinct,
           r->violations);
    printf("  cut points inside an operation:");
    for (int k = 0; k <= WL_KIND_COUNT; k++)
        if (r->inside[k])
            printf(" %s %ld", op_name((wl_kind)k), r->inside[k]);
    printf("\n");
    for (int i = 0; i < r->nexamples; i++)
        printf("  e.g. %s\n", r->example[i]);
    fflush(stdout);
}

/* ---- the cases --------------------------------------------------------- */

static void
setup(void)
{
    static int done;
    uint8_t key[MTS_SEAL_KEY_SIZE];
    if (done)
        return;
    done = 1;
    g_seed = wl_seed();
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)(0xa5 ^ i);
    if (mts_secret_from_key(&g_secret, key, NULL) != 0)
        exit(2);
}

static void
check_config(const config *c)
{
    run r;
    setup();
    run_config(&r, c, 0, "");
    report(&r, c->name);
    T_EQ_INT(r.violations, 0);
    T_CHECK(r.cuts > 100);
}

static void
test_plain(void)
{
    static const config c = { "plain", 0, 0, 0 };
    check_config(&c);
}

static void
test_sealed_folding(void)
{
    static const config c = { "sealed-fold", 1, 64, 0 };
    check_config(&c);
}

static void
test_group_commit(void)
{
    static const config c = { "group-commit", 0, 0, 3 };
    check_config(&c);
}

/* The checker must see the damage when a needed fsync is missing. */
static void
test_model_finds_missing_fsyncs(void)
{
    static const config c = { "plain", 0, 0, 0 };
    static const struct {
        int drop;
        const char *tag, *label;
    } cases[] = {
        { DROP_TMP_FSYNC, "-no-tmp-fsync", "without the temp file's fsync" },
        { DROP_DIR_FSYNC, "-no-dir-fsync", "without the directory's fsync" },
        { DROP_JOURNAL_FSYNC, "-no-journal-fsync",
          "without the journal's fsync" },
    };
    setup();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run r;
        run_config(&r, &c, cases[i].drop, cases[i].tag);
        report(&r, cases[i].label);
        if (r.violations == 0)
            t_fail(__FILE__, __LINE__,
                   "%s: no violation found; the model cannot fail",
                   cases[i].label);
    }
}

T_MAIN(T_CASE(test_plain),
       T_CASE(test_sealed_folding),
       T_CASE(test_group_commit),
       T_CASE(test_model_finds_missing_fsyncs))
