/*
 * os.h - the system-call seam of the file backend.
 *
 * Every system call the file backend makes goes through these wrappers, so
 * tests can inject failures (ENOSPC, EIO, EACCES, short writes) at the Nth
 * call. In normal builds the hook is NULL and each wrapper is one call.
 * Wrappers return what the system call returns and leave errno set.
 */
#ifndef MTSESSION_OS_H
#define MTSESSION_OS_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

typedef enum mts__sys {
    MTS__SYS_OPEN,
    MTS__SYS_READ,
    MTS__SYS_WRITE,
    MTS__SYS_FSYNC,
    MTS__SYS_CLOSE,
    MTS__SYS_RENAME,
    MTS__SYS_UNLINK,
    MTS__SYS_FSTAT,
    MTS__SYS_LSTAT,
    MTS__SYS_LOCK,
    MTS__SYS_FTRUNCATE,
    MTS__SYS_OPENDIR,
    MTS__SYS__COUNT
} mts__sys;

/*
 * The fault hook: called before each wrapped call. Return 0 to let the call
 * run, or an errno value to make it fail with that errno without running.
 * For MTS__SYS_WRITE the hook may instead shrink *len (a short write) and
 * return 0. Installed by tests only; not thread-safe to change while calls
 * are running.
 */
typedef int (*mts__os_hook)(mts__sys call, size_t *len, void *payload);
void mts__os_set_hook(mts__os_hook hook, void *payload);
const char *mts__sys_name(mts__sys call);

int mts__os_open(const char *path, int flags, mode_t mode);
int mts__os_openat(int dirfd, const char *path, int flags, mode_t mode);
ssize_t mts__os_read(int fd, void *buf, size_t len);
ssize_t mts__os_write(int fd, const void *buf, size_t len);
/* pwrite(2); the hook sees it as MTS__SYS_WRITE. */
ssize_t mts__os_pwrite(int fd, const void *buf, size_t len, off_t off);
int mts__os_fsync(int fd);
int mts__os_close(int fd);
int mts__os_rename(const char *from, const char *to);
int mts__os_unlink(const char *path);
int mts__os_fstat(int fd, struct stat *st);
int mts__os_lstat(const char *path, struct stat *st);
int mts__os_ftruncate(int fd, off_t len);
/* Non-blocking exclusive open-file-description lock on the whole file.
 * 0, or -1 with errno (EAGAIN/EACCES when held elsewhere). */
int mts__os_lock(int fd);

#endif /* MTSESSION_OS_H */
