/*
 * helpers.c - see helpers.h.
 */
#include "fixtures.h"
#include "helpers.h"

#include <stdio.h>

#include "t.h"

const char *
h_path(const char *name)
{
    static char buf[8][4096];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof(buf[0]), "%s/%s", t_tmpdir(), name);
    return p;
}

mts_storage *
h_open(const char *path, const char *name)
{
    mts_storage *st = NULL;
    mts_error err = MTS_ERROR_INIT;
    int rc = mts_sqlite_open(&st, path, name, &err);
    if (rc != 0) {
        t_fail(__FILE__, __LINE__, "mts_sqlite_open(%s, %s): %s: %s", path,
               name ? name : "NULL", mts_errname(rc), err.message);
        return NULL;
    }
    return st;
}

int
h_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, 10000);
        rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    }
    if (rc != SQLITE_OK)
        fprintf(stderr, "  raw sql on %s failed (%d): %s\n", path, rc,
                msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    sqlite3_close(db);
    return rc;
}

int64_t
h_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -999;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        fprintf(stderr, "  raw query on %s failed: %s\n", path,
                sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

mts_session *
h_load(mts_storage *st)
{
    return st != NULL ? fx_load(st) : NULL; /* h_open said why */
}
