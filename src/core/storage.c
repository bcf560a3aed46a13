/*
 * storage.c - the storage handle: a backend plus a lock.
 *
 * Every call on a handle runs under the handle's mutex, so backends need
 * not be thread-safe against themselves, and the default granular
 * operations (load, change, save for backends that leave a slot empty)
 * cannot lose an update made concurrently through the same handle.
 */
#include "internal.h"

#include <pthread.h>
#include <string.h>

struct mts_storage {
    mts_backend *backend;
    pthread_mutex_t lock;
    int readonly;
};

static int
readonly_err(mts_storage *st, mts_error *err)
{
    return mts__err(err, MTS_EINVAL, "%s: read-only handle",
                    st->backend->name(st->backend));
}

int
mts_backend_init(mts_backend *backend, unsigned int version)
{
    if (backend == NULL || version != MTS_BACKEND_VERSION)
        return MTS_EINVAL;
    memset(backend, 0, sizeof(*backend));
    backend->version = version;
    return 0;
}

int
mts_storage_wrap(mts_storage **out, mts_backend *backend, mts_error *err)
{
    mts_storage *st;
    if (out == NULL || backend == NULL)
        return mts__err(err, MTS_EINVAL, "storage: NULL argument");
    if (backend->version < 1 || backend->version > MTS_BACKEND_VERSION)
        return mts__err(err, MTS_EINVAL,
                        "invalid version %u on mts_backend (this library "
                        "knows 1..%d)",
                        backend->version, MTS_BACKEND_VERSION);
#define REQUIRE(slot)                                                         \
    if (backend->slot == NULL)                                                \
        return mts__err(err, MTS_EINVAL,                                      \
                        "mts_backend: the required slot '" #slot "' is NULL");
    REQUIRE(save)
    REQUIRE(load)
    REQUIRE(del)
    REQUIRE(name)
    REQUIRE(free)
#undef REQUIRE
    if ((backend->load_rev == NULL) != (backend->save_if == NULL))
        return mts__err(err, MTS_EINVAL,
                        "mts_backend: the slots 'load_rev' and 'save_if' "
                        "are filled together or not at all");
    st = mts__calloc(1, sizeof(*st));
    if (st == NULL)
        return mts__err_oom(err);
    if (pthread_mutex_init(&st->lock, NULL) != 0) {
        mts_free(st);
        return mts__err(err, MTS_ENOMEM, "storage: cannot create a mutex");
    }
    st->backend = backend;
    *out = st;
    return 0;
}

void
mts__storage_lock(mts_storage *st)
{
    pthread_mutex_lock(&st->lock);
}

void
mts__storage_unlock(mts_storage *st)
{
    pthread_mutex_unlock(&st->lock);
}

mts_backend *
mts_storage_backend(mts_storage *st)
{
    return st ? st->backend : NULL;
}

void
mts_storage_free(mts_storage *st)
{
    if (st == NULL)
        return;
    st->backend->free(st->backend);
    pthread_mutex_destroy(&st->lock);
    mts_free(st);
}

const char *
mts_storage_name(mts_storage *st)
{
    return st->backend->name(st->backend);
}

int
mts_storage_save(mts_storage *st, const mts_session *s, mts_error *err)
{
    int rc;
    if (st == NULL || s == NULL)
        return mts__err(err, MTS_EINVAL, "save: NULL argument");
    if (st->readonly)
        return readonly_err(st, err);
    pthread_mutex_lock(&st->lock);
    rc = st->backend->save(st->backend, s, err);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

int
mts_storage_load(mts_session **out, mts_storage *st, mts_error *err)
{
    int rc;
    if (st == NULL || out == NULL)
        return mts__err(err, MTS_EINVAL, "load: NULL argument");
    pthread_mutex_lock(&st->lock);
    rc = st->backend->load(out, st->backend, err);
    pthread_mutex_unlock(&st->lock);
    if (rc == MTS_ENOTFOUND)
        mts__err(err, MTS_ENOTFOUND, "%s: no session stored",
                 st->backend->name(st->backend));
    return rc;
}

int
mts_storage_delete(mts_storage *st, mts_error *err)
{
    int rc;
    if (st == NULL)
        return mts__err(err, MTS_EINVAL, "delete: NULL argument");
    if (st->readonly)
        return readonly_err(st, err);
    pthread_mutex_lock(&st->lock);
    rc = st->backend->del(st->backend, err);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

/* The default for an empty granular slot: load (or start empty), change,
 * save; the caller holds the handle's lock. */
typedef int (*change_fn)(mts_session *s, const void *arg, mts_error *err);

static int
load_change_save(mts_backend *b, change_fn change, const void *arg,
                 mts_error *err)
{
    mts_session *s = NULL;
    int rc = b->load(&s, b, err);
    if (rc == MTS_ENOTFOUND)
        rc = mts_session_new(&s, MTS_NEW_EMPTY);
    if (rc != 0)
        return rc == MTS_ENOMEM ? mts__err_oom(err) : rc;
    rc = change(s, arg, err);
    if (rc == 0)
        rc = b->save(b, s, err);
    mts_session_free(s);
    return rc;
}

static int
change_update(mts_session *s, const void *arg, mts_error *err)
{
    if (mts_session_apply_update(s, arg) != 0)
        return mts__err_oom(err); /* validated before: only ENOMEM left */
    return 0;
}

static int
change_dc(mts_session *s, const void *arg, mts_error *err)
{
    return mts__put_dc(s, arg, err);
}

static int
change_home(mts_session *s, const void *arg, mts_error *err)
{
    if (mts_session_set_home_dc(s, *(const int32_t *)arg) != 0)
        return mts__err(err, MTS_EINVAL, "home_dc_id: %d is not a DC id",
                        (int)*(const int32_t *)arg);
    return 0;
}

static int
change_peer(mts_session *s, const void *arg, mts_error *err)
{
    return mts_session_put_peer(s, arg, err);
}

int
mts_storage_apply_update_state(mts_storage *st,
                               const mts_update_change *change, mts_error *err)
{
    int rc;
    if (st == NULL)
        return mts__err(err, MTS_EINVAL, "apply_update_state: NULL argument");
    if (st->readonly)
        return readonly_err(st, err);
    /* Validate before touching the store, so a bad change never costs a
     * write and every backend refuses the same things. */
    if ((rc = mts__validate_change(change, err)) != 0)
        return rc;
    pthread_mutex_lock(&st->lock);
    if (st->backend->apply_update_state != NULL)
        rc = st->backend->apply_update_state(st->backend, change, err);
    else
        rc = load_change_save(st->backend, change_update, change, err);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

int
mts_storage_update_dc(mts_storage *st, const mts_dc *dc, mts_error *err)
{
    int rc;
    if (st == NULL)
        return mts__err(err, MTS_EINVAL, "update_dc: NULL argument");
    if (st->readonly)
        return readonly_err(st, err);
    if ((rc = mts__validate_dc(dc, "dc", err)) != 0)
        return rc;
    pthread_mutex_lock(&st->lock);
    if (st->backend->update_dc != NULL)
        rc = st->backend->update_dc(st->backend, dc, err);
    else
        rc = load_change_save(st->backend, change_dc, dc, err);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

int
mts_storage_set_home_dc(mts_storage *st, int32_t dc_id, mts_error *err)
{
    int rc;
    if (st == NULL)
        return mts__err(err, MTS_EINVAL, "set_home_dc: NULL argument");
    if (st->readonly)
        return readonly_err(st, err);
    if (dc_id < 0)
        return mts__err(err, MTS_EINVAL, "home_dc_id: %d is not a DC id",
                        (int)dc_id);
    pthread_mutex_lock(&st->lock);
    if (st->backend->set_home_dc != NULL)
        rc = st->backend->set_home_dc(st->backend, dc_id, err);
    else
        rc = load_change_save(st->backend, change_home, &dc_id, err);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

int
mts_storage_cache_peer(mts_storage *st, const mts_peer *peer, mts_error *err)
{
    int rc;
    if (st == NULL)
        return mts__err(err, MTS_EINVAL, "cache_peer: NULL argument");
    if (st->readonly)
        return readonly_err(st, err);
    if ((rc = mts__validate_peer(peer, "peer", err)) != 0)
        return rc;
    pthread_mutex_lock(&st->lock);
    if (st->backend->cache_peer != NULL)
        rc = st->backend->cache_peer(st->backend, peer, err);
    else
        rc = load_change_save(st->backend, change_peer, peer, err);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

/* ---- optimistic mode ----------------------------------------------------- */

static int
no_revs(mts_storage *st, mts_error *err)
{
    return mts__err(err, MTS_ENOTSUPPORTED,
                    "%s: this backend keeps no revisions (no optimistic mode)",
                    st->backend->name(st->backend));
}

int
mts_storage_load_rev(mts_session **out, uint64_t *rev, mts_storage *st,
                     mts_error *err)
{
    int rc;
    if (st == NULL || rev == NULL)
        return mts__err(err, MTS_EINVAL, "load: NULL argument");
    if (out != NULL)
        *out = NULL;
    *rev = 0;
    if (st->backend->load_rev == NULL)
        return no_revs(st, err);
    pthread_mutex_lock(&st->lock);
    rc = st->backend->load_rev(out, rev, st->backend, err);
    pthread_mutex_unlock(&st->lock);
    if (rc == MTS_ENOTFOUND) {
        *rev = 0;
        mts__err(err, MTS_ENOTFOUND, "%s: no session stored",
                 st->backend->name(st->backend));
    }
    return rc;
}

int
mts_storage_save_if(mts_storage *st, const mts_session *s, uint64_t expected,
                    uint64_t *new_rev, mts_error *err)
{
    uint64_t tmp = 0;
    int rc;
    if (st == NULL || s == NULL)
        return mts__err(err, MTS_EINVAL, "save: NULL argument");
    if (st->readonly)
        return readonly_err(st, err);
    if (st->backend->save_if == NULL)
        return no_revs(st, err);
    pthread_mutex_lock(&st->lock);
    rc = st->backend->save_if(st->backend, s, expected,
                              new_rev != NULL ? new_rev : &tmp, err);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

/* ---- leases ------------------------------------------------------------ */

void
mts_storage_set_readonly(mts_storage *st)
{
    if (st != NULL) {
        pthread_mutex_lock(&st->lock);
        st->readonly = 1;
        pthread_mutex_unlock(&st->lock);
    }
}

static int
lease_call(mts_storage *st, int op, const char *owner, uint32_t ttl_ms,
           mts_lease *info, mts_error *err)
{
    int rc;
    if (st->backend->lease == NULL)
        return mts__err(err, MTS_ENOTSUPPORTED,
                        "%s: this backend has no leases (one process alone "
                        "can reach it)",
                        st->backend->name(st->backend));
    pthread_mutex_lock(&st->lock);
    rc = st->backend->lease(st->backend, op, owner, ttl_ms, info, err);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

static int
check_ttl(uint32_t ttl_ms, mts_error *err)
{
    if (ttl_ms < 1 || ttl_ms > 86400000u)
        return mts__err(err, MTS_EINVAL,
                        "lease ttl %u ms is not 1 ms .. 24 h", ttl_ms);
    return 0;
}

int
mts_lease_acquire(mts_lease *out, mts_storage *st, const char *owner,
                  uint32_t ttl_ms, mts_error *err)
{
    mts_lease tmp = MTS_LEASE_INIT;
    size_t n;
    int rc;
    if (st == NULL || owner == NULL)
        return mts__err(err, MTS_EINVAL, "lease: NULL argument");
    if (st->readonly)
        return readonly_err(st, err);
    n = strlen(owner);
    if (n == 0 || n > MTS_LEASE_OWNER_MAX ||
        !mts__utf8_valid((const uint8_t *)owner, n))
        return mts__err(err, MTS_EINVAL,
                        "lease owner: must be 1..%d bytes of UTF-8 without "
                        "control characters",
                        MTS_LEASE_OWNER_MAX);
    if ((rc = check_ttl(ttl_ms, err)) != 0)
        return rc;
    rc = lease_call(st, MTS_LEASE_ACQUIRE, owner, ttl_ms, out ? out : &tmp,
                    err);
    return rc;
}

int
mts_lease_renew(mts_lease *out, mts_storage *st, uint32_t ttl_ms,
                mts_error *err)
{
    mts_lease tmp = MTS_LEASE_INIT;
    int rc;
    if (st == NULL)
        return mts__err(err, MTS_EINVAL, "lease: NULL argument");
    if ((rc = check_ttl(ttl_ms, err)) != 0)
        return rc;
    return lease_call(st, MTS_LEASE_RENEW, NULL, ttl_ms, out ? out : &tmp,
                      err);
}

int
mts_lease_release(mts_storage *st, mts_error *err)
{
    if (st == NULL)
        return mts__err(err, MTS_EINVAL, "lease: NULL argument");
    return lease_call(st, MTS_LEASE_RELEASE, NULL, 0, NULL, err);
}

int
mts_lease_show(mts_lease *out, mts_storage *st, mts_error *err)
{
    if (st == NULL || out == NULL)
        return mts__err(err, MTS_EINVAL, "lease: NULL argument");
    return lease_call(st, MTS_LEASE_SHOW, NULL, 0, out, err);
}
