/*
 * os.c - the system-call seam of the file backend (see os.h).
 *
 * Each wrapper asks the fault hook first (tests only; NULL otherwise) and
 * then makes exactly one system call, returning its result with errno as
 * the call left it. Wrappers never retry: callers decide what EINTR or a
 * short transfer means for them. An open with O_DIRECTORY is reported to
 * the hook as MTS__SYS_OPENDIR, so tests can tell it from a file open.
 *
 * Thread-safety: the wrappers are as thread-safe as the calls they wrap.
 * The hook is a plain global, set by tests while no call is running.
 */
#include "internal.h"
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h> /* rename */
#include <string.h>
#include <unistd.h>
#if !defined(F_OFD_SETLK)
#include <sys/file.h>
#endif

static mts__os_hook g_hook;
static void *g_hook_payload;

void
mts__os_set_hook(mts__os_hook hook, void *payload)
{
    g_hook = hook;
    g_hook_payload = payload;
}

const char *
mts__sys_name(mts__sys call)
{
    static const char *const names[MTS__SYS__COUNT] = {
        [MTS__SYS_OPEN] = "open",           [MTS__SYS_READ] = "read",
        [MTS__SYS_WRITE] = "write",         [MTS__SYS_FSYNC] = "fsync",
        [MTS__SYS_CLOSE] = "close",         [MTS__SYS_RENAME] = "rename",
        [MTS__SYS_UNLINK] = "unlink",       [MTS__SYS_FSTAT] = "fstat",
        [MTS__SYS_LSTAT] = "lstat",         [MTS__SYS_LOCK] = "lock",
        [MTS__SYS_FTRUNCATE] = "ftruncate", [MTS__SYS_OPENDIR] = "opendir",
    };
    if ((unsigned int)call >= MTS__SYS__COUNT)
        return "?";
    return names[call];
}

/* 0 to go ahead; -1 with errno set when the hook fails the call. */
static int
fault(mts__sys call, size_t *len)
{
    int e;
    if (g_hook == NULL)
        return 0;
    e = g_hook(call, len, g_hook_payload);
    if (e != 0) {
        errno = e;
        return -1;
    }
    return 0;
}

static mts__sys
open_kind(int flags)
{
    return (flags & O_DIRECTORY) ? MTS__SYS_OPENDIR : MTS__SYS_OPEN;
}

int
mts__os_open(const char *path, int flags, mode_t mode)
{
    if (fault(open_kind(flags), NULL) != 0)
        return -1;
    return open(path, flags, mode);
}

int
mts__os_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    if (fault(open_kind(flags), NULL) != 0)
        return -1;
    return openat(dirfd, path, flags, mode);
}

ssize_t
mts__os_read(int fd, void *buf, size_t len)
{
    if (fault(MTS__SYS_READ, NULL) != 0)
        return -1;
    return read(fd, buf, len);
}

ssize_t
mts__os_write(int fd, const void *buf, size_t len)
{
    size_t n = len;
    if (fault(MTS__SYS_WRITE, &n) != 0)
        return -1;
    /* The hook may only shorten a write, never lengthen it. */
    if (n > len)
        n = len;
    return write(fd, buf, n);
}

ssize_t
mts__os_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    size_t n = len;
    if (fault(MTS__SYS_WRITE, &n) != 0)
        return -1;
    if (n > len)
        n = len;
    return pwrite(fd, buf, n, off);
}

int
mts__os_fsync(int fd)
{
    if (fault(MTS__SYS_FSYNC, NULL) != 0)
        return -1;
    return fsync(fd);
}

int
mts__os_close(int fd)
{
    if (fault(MTS__SYS_CLOSE, NULL) != 0) {
        /* A failed close still releases the descriptor on Linux; do the
         * same here so injected failures do not leak descriptors. */
        int e = errno;
        (void)close(fd);
        errno = e;
        return -1;
    }
    return close(fd);
}

int
mts__os_rename(const char *from, const char *to)
{
    if (fault(MTS__SYS_RENAME, NULL) != 0)
        return -1;
    return rename(from, to);
}

int
mts__os_unlink(const char *path)
{
    if (fault(MTS__SYS_UNLINK, NULL) != 0)
        return -1;
    return unlink(path);
}

int
mts__os_fstat(int fd, struct stat *st)
{
    if (fault(MTS__SYS_FSTAT, NULL) != 0)
        return -1;
    return fstat(fd, st);
}

int
mts__os_lstat(const char *path, struct stat *st)
{
    if (fault(MTS__SYS_LSTAT, NULL) != 0)
        return -1;
    return lstat(path, st);
}

int
mts__os_ftruncate(int fd, off_t len)
{
    if (fault(MTS__SYS_FTRUNCATE, NULL) != 0)
        return -1;
    return ftruncate(fd, len);
}

int
mts__os_lock(int fd)
{
    if (fault(MTS__SYS_LOCK, NULL) != 0)
        return -1;
#if defined(F_OFD_SETLK)
    {
        /* Open-file-description locks belong to the open file, not the
         * process: two descriptors opened separately conflict even in one
         * process, and the lock goes away with the last descriptor. */
        struct flock fl;
        memset(&fl, 0, sizeof(fl));
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        fl.l_start = 0;
        fl.l_len = 0; /* the whole file, however long */
        fl.l_pid = 0; /* required by F_OFD_* */
        return fcntl(fd, F_OFD_SETLK, &fl);
    }
#else
    /* flock locks are per open file description too. */
    return flock(fd, LOCK_EX | LOCK_NB);
#endif
}
