/*
 * test_builtin.c - the conformance suite against the built-in backends:
 * memory, string, file, and a backend written only against
 * sys/backend.h (it leaves every optional slot empty, so the core's
 * defaults are what is tested there).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"
#include "mtsession/sys/alloc.h"
#include "mtsession/sys/backend.h"
#include "t.h"

static int
open_memory(mts_storage **out, void *ctx)
{
    (void)ctx;
    return mts_memory_open(out, NULL);
}

static int
open_string(mts_storage **out, void *ctx)
{
    (void)ctx;
    return mts_string_open(out, NULL, NULL);
}

static char file_path[4096];
static int file_counter;

static int
open_file(mts_storage **out, void *ctx)
{
    mts_error err = MTS_ERROR_INIT;
    int rc;
    (void)ctx;
    snprintf(file_path, sizeof(file_path), "%s/conf-%d.session", t_tmpdir(),
             ++file_counter);
    rc = mts_file_open(out, file_path, NULL, &err);
    if (rc != 0)
        fprintf(stderr, "  file open: %s\n", err.message);
    return rc;
}

static int
reopen_file(mts_storage **out, void *ctx)
{
    (void)ctx;
    return mts_file_open(out, file_path, NULL, NULL);
}

/* A minimal user backend: a byte buffer, only the required slots. */
typedef struct blob_backend {
    mts_backend parent;
    uint8_t *data;
    size_t len;
} blob_backend;

static int
blob_save(mts_backend *b, const mts_session *s, mts_error *err)
{
    blob_backend *bb = (blob_backend *)b;
    uint8_t *d;
    size_t n;
    int rc = mts_encode(&d, &n, s, err);
    if (rc != 0)
        return rc;
    mts_free(bb->data);
    bb->data = d;
    bb->len = n;
    return 0;
}

static int
blob_load(mts_session **out, mts_backend *b, mts_error *err)
{
    blob_backend *bb = (blob_backend *)b;
    if (bb->data == NULL)
        return MTS_ENOTFOUND;
    return mts_decode(out, bb->data, bb->len, err);
}

static int
blob_del(mts_backend *b, mts_error *err)
{
    blob_backend *bb = (blob_backend *)b;
    (void)err;
    mts_free(bb->data);
    bb->data = NULL;
    return 0;
}

static const char *
blob_name(mts_backend *b)
{
    (void)b;
    return "blob";
}

static void
blob_free(mts_backend *b)
{
    blob_backend *bb = (blob_backend *)b;
    mts_free(bb->data);
    mts_free(bb);
}

static int
open_blob(mts_storage **out, void *ctx)
{
    blob_backend *bb = mts_malloc(sizeof(*bb));
    int rc;
    (void)ctx;
    memset(bb, 0, sizeof(*bb));
    mts_backend_init(&bb->parent, MTS_BACKEND_VERSION);
    bb->parent.save = blob_save;
    bb->parent.load = blob_load;
    bb->parent.del = blob_del;
    bb->parent.name = blob_name;
    bb->parent.free = blob_free;
    rc = mts_storage_wrap(out, &bb->parent, NULL);
    if (rc != 0)
        blob_free(&bb->parent);
    return rc;
}

static void
test_memory(void)
{
    conf_backend b = { "memory", open_memory, NULL, NULL, 0 };
    T_CHECK(conf_keeps_revs(&b));
    conf_run(&b);
}

static void
test_string(void)
{
    conf_backend b = { "string", open_string, NULL, NULL, 0 };
    T_CHECK(!conf_keeps_revs(&b)); /* and refuses both calls */
    conf_run(&b);
}

static void
test_file(void)
{
    conf_backend b = { "file", open_file, reopen_file, NULL, 0 };
    T_CHECK(conf_keeps_revs(&b));
    conf_run(&b);
}

static void
test_custom_defaults(void)
{
    conf_backend b = { "custom", open_blob, NULL, NULL, 0 };
    T_CHECK(!conf_keeps_revs(&b));
    conf_run(&b);
}

/* mts_storage_wrap checks the vtable version and required slots. */
static void
test_wrap_checks(void)
{
    mts_backend b = MTS_BACKEND_INIT;
    mts_storage *st = NULL;
    mts_error err = MTS_ERROR_INIT;
    b.save = blob_save;
    b.load = blob_load;
    b.del = blob_del;
    b.name = blob_name;
    T_EQ_INT(mts_storage_wrap(&st, &b, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "'free'");
    b.free = blob_free;
    b.version = 2;
    T_EQ_INT(mts_storage_wrap(&st, &b, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "invalid version 2");
    b.version = 0;
    T_EQ_INT(mts_storage_wrap(&st, &b, &err), MTS_EINVAL);
    T_EQ_INT(mts_backend_init(&b, 7), MTS_EINVAL);
    T_CHECK(st == NULL);
}

/* A string handle reports its current text; a non-string one refuses. */
static void
test_string_current(void)
{
    mts_storage *st, *mem;
    mts_session *s;
    char *cur = NULL;
    mts_error err = MTS_ERROR_INIT;
    T_EQ_INT(mts_string_open(&st, "  ", NULL), 0);
    T_EQ_INT(mts_string_current(&cur, st, NULL), 0);
    T_EQ_STR(cur, "  ");
    mts_free(cur);
    T_EQ_INT(mts_session_new(&s, MTS_NEW_DEFAULT), 0);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    T_EQ_INT(mts_string_current(&cur, st, NULL), 0);
    T_CHECK(cur != NULL && strncmp(cur, "mts:", 4) == 0);
    mts_free(cur);
    T_EQ_INT(mts_memory_open(&mem, NULL), 0);
    T_EQ_INT(mts_string_current(&cur, mem, &err), MTS_EINVAL);
    mts_storage_free(mem);
    mts_storage_free(st);
    /* a malformed initial string is an error on load, not "nothing" */
    T_EQ_INT(mts_string_open(&st, "mts:%%", NULL), 0);
    T_EQ_INT(mts_storage_load(&s, st, &err), MTS_ECORRUPT);
    mts_storage_free(st);
    mts_session_free(s);
}

/* A read-only handle refuses every write before the backend sees it; the
 * in-process backends have no leases. */
static void
test_readonly_and_no_lease(void)
{
    mts_storage *st;
    mts_session *s, *got = NULL;
    mts_error err = MTS_ERROR_INIT;
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    mts_peer p = MTS_PEER_INIT;
    mts_lease l = MTS_LEASE_INIT;
    T_EQ_INT(mts_memory_open(&st, NULL), 0);
    T_EQ_INT(mts_session_new(&s, MTS_NEW_DEFAULT), 0);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    mts_storage_set_readonly(st);
    T_EQ_INT(mts_storage_save(st, s, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "read-only");
    c.kind = MTS_UPDATE_SECONDARY;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, &err), MTS_EINVAL);
    p.id = 1;
    T_EQ_INT(mts_storage_cache_peer(st, &p, &err), MTS_EINVAL);
    T_EQ_INT(mts_storage_set_home_dc(st, 1, &err), MTS_EINVAL);
    T_EQ_INT(mts_storage_delete(st, &err), MTS_EINVAL);
    T_EQ_INT(mts_lease_acquire(&l, st, "w", 1000, &err), MTS_EINVAL);
    T_EQ_INT(mts_storage_load(&got, st, NULL), 0); /* reads still work */
    T_CHECK(got && mts_session_equal(s, got));
    mts_session_free(got);
    mts_storage_free(st);
    T_EQ_INT(mts_memory_open(&st, NULL), 0);
    T_EQ_INT(mts_lease_acquire(&l, st, "w", 1000, &err), MTS_ENOTSUPPORTED);
    T_EQ_INT(mts_lease_show(&l, st, &err), MTS_ENOTSUPPORTED);
    T_EQ_INT(mts_lease_acquire(&l, st, "", 1000, &err), MTS_EINVAL);
    T_EQ_INT(mts_lease_acquire(&l, st, "w", 0, &err), MTS_EINVAL);
    mts_storage_free(st);
    mts_session_free(s);
}

T_MAIN(T_CASE(test_readonly_and_no_lease), T_CASE(test_memory), T_CASE(test_string), T_CASE(test_file),
       T_CASE(test_custom_defaults), T_CASE(test_wrap_checks),
       T_CASE(test_string_current))
