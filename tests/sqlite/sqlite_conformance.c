/*
 * sqlite_conformance.c - the shared backend conformance suite against the
 * SQLite backend: a fresh file per store (reopened to prove persistence),
 * a private in-memory database, and many named sessions sharing one file
 * (every store a new name in the same database, so the whole suite also
 * checks that sessions never see each other's rows).
 */
#include <stdio.h>

#include "conformance.h"
#include "helpers.h"
#include "t.h"

static char file_path[4096];
static int counter;

static int
open_file(mts_storage **out, void *ctx)
{
    char name[64];
    (void)ctx;
    snprintf(name, sizeof(name), "conf-%d.db", ++counter);
    snprintf(file_path, sizeof(file_path), "%s", h_path(name));
    return mts_sqlite_open(out, file_path, NULL, NULL);
}

static int
reopen_file(mts_storage **out, void *ctx)
{
    (void)ctx;
    return mts_sqlite_open(out, file_path, NULL, NULL);
}

static int
open_memory(mts_storage **out, void *ctx)
{
    (void)ctx;
    return mts_sqlite_open_memory(out, NULL, NULL);
}

static char shared_name[64];

static int
open_shared(mts_storage **out, void *ctx)
{
    (void)ctx;
    snprintf(shared_name, sizeof(shared_name), "account %d", ++counter);
    return mts_sqlite_open(out, h_path("shared.db"), shared_name, NULL);
}

static int
reopen_shared(mts_storage **out, void *ctx)
{
    (void)ctx;
    return mts_sqlite_open(out, h_path("shared.db"), shared_name, NULL);
}

static void
test_file(void)
{
    conf_backend b = { "sqlite-file", open_file, reopen_file, NULL, 0 };
    T_CHECK(conf_keeps_revs(&b));
    conf_run(&b);
}

static void
test_memory(void)
{
    conf_backend b = { "sqlite-memory", open_memory, NULL, NULL, 0 };
    T_CHECK(conf_keeps_revs(&b));
    conf_run(&b);
}

static void
test_shared_file(void)
{
    conf_backend b = { "sqlite-shared", open_shared, reopen_shared, NULL, 0 };
    T_CHECK(conf_keeps_revs(&b));
    conf_run(&b);
    /* every case left its session behind in the one file */
    T_CHECK(h_int(h_path("shared.db"), "SELECT count(*) FROM sessions") > 5);
}

T_MAIN(T_CASE(test_file), T_CASE(test_memory), T_CASE(test_shared_file))
