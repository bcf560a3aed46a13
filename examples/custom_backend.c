/*
 * custom_backend.c - a storage backend written only against
 * <mtsession/sys/backend.h>.
 *
 * The backend keeps each session under a key in a key-value store that the
 * application provides through three callbacks (think Redis, etcd, or a
 * table of your own). It fills only the required slots; the library adds
 * locking and the granular operations (load, change, save) for it.
 *
 * The demo below plugs in a toy in-process key-value store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mtsession/mtsession.h>
#include <mtsession/sys/alloc.h>
#include <mtsession/sys/backend.h>

/* ---- the application's key-value store interface ---------------------- */

typedef struct kv_ops {
    /* 0 and a malloc'd copy, 1 when missing, -1 on error */
    int (*get)(void *kv, const char *key, uint8_t **val, size_t *len);
    int (*put)(void *kv, const char *key, const uint8_t *val, size_t len);
    int (*del)(void *kv, const char *key);
    void *kv;
} kv_ops;

/* ---- the backend -------------------------------------------------------- */

typedef struct kv_backend {
    mts_backend parent; /* first member: the library sees only this */
    kv_ops ops;
    char name[128];
    char key[96];
} kv_backend;

static int
kv_save(mts_backend *b, const mts_session *s, mts_error *err)
{
    kv_backend *kb = (kv_backend *)b;
    uint8_t *data;
    size_t len;
    int rc = mts_encode(&data, &len, s, err);
    if (rc != 0)
        return rc;
    if (kb->ops.put(kb->ops.kv, kb->key, data, len) != 0)
        rc = mts_backend_error(err, MTS_EBACKEND, 0, "kv: put %s failed",
                               kb->key);
    memset(data, 0, len); /* it held auth keys */
    mts_free(data);
    return rc;
}

static int
kv_load(mts_session **out, mts_backend *b, mts_error *err)
{
    kv_backend *kb = (kv_backend *)b;
    uint8_t *data;
    size_t len;
    int rc = kb->ops.get(kb->ops.kv, kb->key, &data, &len);
    if (rc == 1)
        return MTS_ENOTFOUND;
    if (rc != 0)
        return mts_backend_error(err, MTS_EBACKEND, 0, "kv: get %s failed",
                                 kb->key);
    rc = mts_decode(out, data, len, err);
    memset(data, 0, len);
    free(data);
    return rc;
}

static int
kv_del(mts_backend *b, mts_error *err)
{
    kv_backend *kb = (kv_backend *)b;
    if (kb->ops.del(kb->ops.kv, kb->key) != 0)
        return mts_backend_error(err, MTS_EBACKEND, 0, "kv: del %s failed",
                                 kb->key);
    return 0;
}

static const char *
kv_name(mts_backend *b)
{
    return ((kv_backend *)b)->name;
}

static void
kv_free(mts_backend *b)
{
    mts_free(b);
}

/* The constructor a library user would ship. */
static int
kv_storage_open(mts_storage **out, const kv_ops *ops, const char *account,
                mts_error *err)
{
    kv_backend *kb = mts_malloc(sizeof(*kb));
    int rc;
    if (kb == NULL)
        return mts_backend_error(err, MTS_ENOMEM, 0, "out of memory");
    memset(kb, 0, sizeof(*kb));
    mts_backend_init(&kb->parent, MTS_BACKEND_VERSION);
    kb->parent.save = kv_save;
    kb->parent.load = kv_load;
    kb->parent.del = kv_del;
    kb->parent.name = kv_name;
    kb->parent.free = kv_free; /* granular slots stay NULL: core defaults */
    kb->ops = *ops;
    snprintf(kb->key, sizeof(kb->key), "mtsession:%s", account);
    snprintf(kb->name, sizeof(kb->name), "kv:%s", kb->key);
    rc = mts_storage_wrap(out, &kb->parent, err);
    if (rc != 0)
        mts_free(kb);
    return rc;
}

/* ---- a toy key-value store for the demo -------------------------------- */

typedef struct toy_kv {
    char key[96];
    uint8_t *val;
    size_t len;
} toy_kv;

static int
toy_get(void *kv, const char *key, uint8_t **val, size_t *len)
{
    toy_kv *t = kv;
    if (t->val == NULL || strcmp(t->key, key) != 0)
        return 1;
    *val = malloc(t->len);
    if (*val == NULL)
        return -1;
    memcpy(*val, t->val, t->len);
    *len = t->len;
    return 0;
}

static int
toy_put(void *kv, const char *key, const uint8_t *val, size_t len)
{
    toy_kv *t = kv;
    uint8_t *copy = malloc(len);
    if (copy == NULL)
        return -1;
    memcpy(copy, val, len);
    free(t->val);
    snprintf(t->key, sizeof(t->key), "%s", key);
    t->val = copy;
    t->len = len;
    return 0;
}

static int
toy_del(void *kv, const char *key)
{
    toy_kv *t = kv;
    (void)key;
    free(t->val);
    t->val = NULL;
    return 0;
}

int
main(void)
{
    toy_kv kv = { "", NULL, 0 };
    kv_ops ops = { toy_get, toy_put, toy_del, &kv };
    mts_error err = MTS_ERROR_INIT;
    mts_storage *st;
    mts_session *s;
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    mts_update_state us;
    int ok;

    if (kv_storage_open(&st, &ops, "alice", &err) != 0) {
        fprintf(stderr, "open: %s\n", err.message);
        return 1;
    }
    if (mts_session_new(&s, MTS_NEW_DEFAULT) != 0 ||
        mts_storage_save(st, s, &err) != 0) {
        fprintf(stderr, "save: %s\n", err.message);
        return 1;
    }
    mts_session_free(s);
    /* A granular change through the core's default: load, change, save. */
    c.kind = MTS_UPDATE_PRIMARY;
    c.state.pts = 77;
    c.state.seq = 3;
    if (mts_storage_apply_update_state(st, &c, &err) != 0 ||
        mts_storage_load(&s, st, &err) != 0) {
        fprintf(stderr, "update: %s\n", err.message);
        return 1;
    }
    mts_session_update_state(s, &us);
    printf("%s: %zu DC entries, pts %d, seq %d\n", mts_storage_name(st),
           mts_session_dc_count(s), (int)us.pts, (int)us.seq);
    ok = us.pts == 77 && us.seq == 3 && mts_session_dc_count(s) == 10;
    mts_session_free(s);
    mts_storage_free(st);
    free(kv.val);
    return ok ? 0 : 1;
}
