/*
 * file_perms.c - is a session file private to its owner?
 *
 * A session file is a full login: whoever can read it can act as the
 * account, and whoever can write it can swap the login for their own.
 * The library creates every file 0600, but a file copied, restored from
 * a backup or created by another tool may be open to the group or to
 * everyone. The library does no logging, so mts_file_open says nothing
 * about it; this check lets a caller (the CLI, an application at start)
 * warn.
 *
 * It reads the mode with stat(2), following symbolic links (the target's
 * mode is what protects the data). It changes nothing and is not on the
 * write path, so it does not go through the os.h seam.
 *
 * Thread-safety: no shared state.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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

int
mts_file_check_permissions(const char *path, mts_error *err)
{
    struct stat st;
    unsigned int mode, open_bits;
    const char *how, *who;
    char ebuf[128];
    if (path == NULL || *path == '\0')
        return mts__err(err, MTS_EINVAL, "empty path");
    if (stat(path, &st) != 0) {
        int e = errno;
        if (e == ENOENT)
            return mts__err_native(err, MTS_ENOTFOUND, e, "%s: no such file",
                                   path);
        return mts__err_native(err, MTS_EIO, e, "stat %s: %s", path,
                               errstr(e, ebuf, sizeof(ebuf)));
    }
    if (!S_ISREG(st.st_mode))
        return mts__err(err, MTS_EINVAL, "%s is not a regular file", path);
    mode = (unsigned int)st.st_mode & 07777u;
    open_bits = mode & 077u;
    if (open_bits == 0)
        return 0;
    /* What the group and others may do, taken together. */
    {
        unsigned int any = (open_bits | (open_bits >> 3)) & 07u;
        if ((any & 06u) == 06u)
            how = "readable and writable";
        else if (any & 04u)
            how = "readable";
        else if (any & 02u)
            how = "writable";
        else
            how = "executable";
    }
    if ((open_bits & 070u) && (open_bits & 07u))
        who = "group and others";
    else if (open_bits & 070u)
        who = "group";
    else
        who = "others";
    if (err != NULL) {
        err->code = MTS_OK;
        err->native = (int)mode;
        err->offset = -1;
        snprintf(err->message, sizeof(err->message),
                 "%s is %s by %s (mode %04o); chmod 600 it", path, how, who,
                 mode);
    }
    return 1;
}
