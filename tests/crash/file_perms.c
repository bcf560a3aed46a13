/*
 * file_perms.c - mts_file_check_permissions: a session file open to the
 * group or to others is reported, a private one is not, and errors are
 * errors. (Here with the crash tests because both are about what the
 * file backend promises about the file on disk.)
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mtsession/mtsession.h"
#include "t.h"

static void
path_in_tmp(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", t_tmpdir(), name);
}

static int
make_file(const char *path, mode_t mode)
{
    if (t_write_file(path, "x", 1) != 0)
        return -1;
    return chmod(path, mode);
}

static void
test_private_modes_are_fine(void)
{
    static const mode_t modes[] = { 0600, 0400, 0200, 0700, 0000 };
    char path[PATH_MAX];
    path_in_tmp(path, sizeof(path), "private.session");
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        mts_error e = MTS_ERROR_INIT;
        T_EQ_INT(make_file(path, modes[i]), 0);
        T_EQ_INT(mts_file_check_permissions(path, &e), 0);
        T_EQ_STR(e.message, ""); /* untouched */
        T_EQ_INT(mts_file_check_permissions(path, NULL), 0);
    }
    unlink(path);
}

static void
test_open_modes_warn(void)
{
    static const struct {
        mode_t mode;
        const char *text;
    } cases[] = {
        { 0644, "is readable by group and others (mode 0644); chmod 600 it" },
        { 0640, "is readable by group (mode 0640); chmod 600 it" },
        { 0604, "is readable by others (mode 0604); chmod 600 it" },
        { 0660, "is readable and writable by group (mode 0660)" },
        { 0666, "is readable and writable by group and others (mode 0666)" },
        { 0620, "is writable by group (mode 0620)" },
        { 0602, "is writable by others (mode 0602)" },
        { 0642, "is readable and writable by group and others (mode 0642)" },
        { 0610, "is executable by group (mode 0610)" },
        { 0755, "is readable by group and others (mode 0755)" },
    };
    char path[PATH_MAX];
    path_in_tmp(path, sizeof(path), "open.session");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mts_error e = MTS_ERROR_INIT;
        T_EQ_INT(make_file(path, cases[i].mode), 0);
        T_EQ_INT(mts_file_check_permissions(path, &e), 1);
        T_EQ_INT(e.code, 0);
        T_EQ_INT(e.native, (int)cases[i].mode);
        T_CONTAINS(e.message, path);
        T_CONTAINS(e.message, cases[i].text);
        /* No error record: still reported by the return value. */
        T_EQ_INT(mts_file_check_permissions(path, NULL), 1);
    }
    unlink(path);
}

/* The target of a link is what is checked; the link's own mode (always
 * 0777) says nothing. */
static void
test_symlink_checks_target(void)
{
    char path[PATH_MAX], link[PATH_MAX];
    mts_error e = MTS_ERROR_INIT;
    path_in_tmp(path, sizeof(path), "target.session");
    path_in_tmp(link, sizeof(link), "link.session");
    T_EQ_INT(make_file(path, 0600), 0);
    T_EQ_INT(symlink(path, link), 0);
    T_EQ_INT(mts_file_check_permissions(link, &e), 0);
    T_EQ_INT(chmod(path, 0640), 0);
    T_EQ_INT(mts_file_check_permissions(link, &e), 1);
    T_CONTAINS(e.message, "(mode 0640)");
    unlink(link);
    unlink(path);
}

static void
test_errors(void)
{
    char path[PATH_MAX], under[PATH_MAX + 16];
    mts_error e = MTS_ERROR_INIT;
    T_EQ_INT(mts_file_check_permissions(NULL, &e), MTS_EINVAL);
    T_EQ_INT(mts_file_check_permissions("", &e), MTS_EINVAL);
    path_in_tmp(path, sizeof(path), "missing.session");
    T_EQ_INT(mts_file_check_permissions(path, &e), MTS_ENOTFOUND);
    T_EQ_INT(e.code, MTS_ENOTFOUND);
    T_CONTAINS(e.message, "no such file");
    /* A directory is not a session file, whatever its mode. */
    T_EQ_INT(mts_file_check_permissions(t_tmpdir(), &e), MTS_EINVAL);
    T_CONTAINS(e.message, "not a regular file");
    /* A path through a file: stat fails with ENOTDIR. */
    path_in_tmp(path, sizeof(path), "plain.file");
    T_EQ_INT(make_file(path, 0600), 0);
    snprintf(under, sizeof(under), "%s/x", path);
    T_EQ_INT(mts_file_check_permissions(under, &e), MTS_EIO);
    T_EQ_INT(e.native, ENOTDIR);
    T_CONTAINS(e.message, "stat ");
    unlink(path);
}

/* What the file backend creates passes the check. */
static void
test_backend_files_are_private(void)
{
    char path[PATH_MAX], side[PATH_MAX + 16];
    mts_storage *st = NULL;
    mts_session *s = NULL;
    mts_update_change ch = MTS_UPDATE_CHANGE_INIT;
    mts_error e = MTS_ERROR_INIT;
    mode_t old = umask(0);
    path_in_tmp(path, sizeof(path), "made.session");
    T_EQ_INT(mts_session_new(&s, MTS_NEW_DEFAULT), 0);
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    T_EQ_INT(mts_storage_save(st, s, &e), 0);
    ch.kind = MTS_UPDATE_PRIMARY;
    ch.state.pts = 5;
    T_EQ_INT(mts_storage_apply_update_state(st, &ch, &e), 0);
    umask(old);
    T_EQ_INT(mts_file_check_permissions(path, &e), 0);
    snprintf(side, sizeof(side), "%s.lock", path);
    T_EQ_INT(mts_file_check_permissions(side, &e), 0);
    snprintf(side, sizeof(side), "%s.journal", path);
    T_EQ_INT(mts_file_check_permissions(side, &e), 0);
    mts_storage_free(st);
    mts_session_free(s);
}

T_MAIN(T_CASE(test_private_modes_are_fine),
       T_CASE(test_open_modes_warn),
       T_CASE(test_symlink_checks_target),
       T_CASE(test_errors),
       T_CASE(test_backend_files_are_private))
