/*
 * memory.c - the in-memory backend: a session kept in process memory.
 *
 * save stores a deep copy; load returns a deep copy; granular operations
 * change the stored copy in place (no re-encoding). Nothing is persisted.
 * The revision (optimistic mode, storage.h) is a counter: every write
 * takes the next value, a delete leaves 0 (nothing stored) and the
 * counter goes on from where it was, so a revision is never reused.
 * The storage handle serialises calls, so no locking is needed here.
 */
#include "internal.h"

typedef struct memory_backend {
    mts_backend parent; /* must be first */
    mts_session *s;     /* NULL: nothing stored */
    uint64_t rev;       /* of s; 0 when nothing is stored */
    uint64_t counter;   /* the last revision handed out */
} memory_backend;

/* A write changed the stored session: give it the next revision. */
static void
bump(memory_backend *m)
{
    m->rev = ++m->counter;
}

static int
mem_save(mts_backend *b, const mts_session *s, mts_error *err)
{
    memory_backend *m = (memory_backend *)b;
    mts_session *copy;
    if (mts_session_dup(&copy, s) != 0)
        return mts__err_oom(err);
    mts_session_free(m->s);
    m->s = copy;
    bump(m);
    return 0;
}

static int
mem_load(mts_session **out, mts_backend *b, mts_error *err)
{
    memory_backend *m = (memory_backend *)b;
    if (m->s == NULL)
        return MTS_ENOTFOUND;
    if (mts_session_dup(out, m->s) != 0)
        return mts__err_oom(err);
    return 0;
}

static int
mem_del(mts_backend *b, mts_error *err)
{
    memory_backend *m = (memory_backend *)b;
    (void)err;
    mts_session_free(m->s);
    m->s = NULL;
    m->rev = 0;
    return 0;
}

static const char *
mem_name(mts_backend *b)
{
    (void)b;
    return "memory";
}

static int
ensure(memory_backend *m, mts_error *err)
{
    if (m->s == NULL && mts_session_new(&m->s, MTS_NEW_EMPTY) != 0)
        return mts__err_oom(err);
    return 0;
}

static int
mem_apply(mts_backend *b, const mts_update_change *c, mts_error *err)
{
    memory_backend *m = (memory_backend *)b;
    int rc = ensure(m, err);
    if (rc != 0)
        return rc;
    if (mts_session_apply_update(m->s, c) != 0)
        return mts__err_oom(err); /* validated by the core already */
    bump(m);
    return 0;
}

static int
mem_update_dc(mts_backend *b, const mts_dc *dc, mts_error *err)
{
    memory_backend *m = (memory_backend *)b;
    int rc = ensure(m, err);
    if (rc == 0)
        rc = mts__put_dc(m->s, dc, err);
    if (rc == 0)
        bump(m);
    return rc;
}

static int
mem_set_home(mts_backend *b, int32_t dc_id, mts_error *err)
{
    memory_backend *m = (memory_backend *)b;
    int rc = ensure(m, err);
    if (rc == 0)
        rc = mts_session_set_home_dc(m->s, dc_id);
    if (rc == 0)
        bump(m);
    return rc;
}

static int
mem_cache_peer(mts_backend *b, const mts_peer *p, mts_error *err)
{
    memory_backend *m = (memory_backend *)b;
    int rc = ensure(m, err);
    if (rc == 0)
        rc = mts_session_put_peer(m->s, p, err);
    if (rc == 0)
        bump(m);
    return rc;
}

static int
mem_load_rev(mts_session **out, uint64_t *rev, mts_backend *b,
             mts_error *err)
{
    memory_backend *m = (memory_backend *)b;
    *rev = m->rev;
    if (m->s == NULL)
        return MTS_ENOTFOUND;
    if (out != NULL && mts_session_dup(out, m->s) != 0)
        return mts__err_oom(err);
    return 0;
}

static int
mem_save_if(mts_backend *b, const mts_session *s, uint64_t expected,
            uint64_t *new_rev, mts_error *err)
{
    memory_backend *m = (memory_backend *)b;
    int rc;
    if (m->rev != expected)
        return mts__err(err, MTS_ECONFLICT,
                        "memory: the stored revision is %llu, not the "
                        "expected %llu: nothing written",
                        (unsigned long long)m->rev,
                        (unsigned long long)expected);
    if ((rc = mem_save(b, s, err)) != 0)
        return rc;
    *new_rev = m->rev;
    return 0;
}

static void
mem_free(mts_backend *b)
{
    memory_backend *m = (memory_backend *)b;
    mts_session_free(m->s);
    mts_free(m);
}

int
mts_memory_open(mts_storage **out, mts_error *err)
{
    memory_backend *m;
    int rc;
    if (out == NULL)
        return mts__err(err, MTS_EINVAL, "memory: NULL argument");
    m = mts__calloc(1, sizeof(*m));
    if (m == NULL)
        return mts__err_oom(err);
    m->parent.version = MTS_BACKEND_VERSION;
    m->parent.save = mem_save;
    m->parent.load = mem_load;
    m->parent.del = mem_del;
    m->parent.name = mem_name;
    m->parent.apply_update_state = mem_apply;
    m->parent.update_dc = mem_update_dc;
    m->parent.set_home_dc = mem_set_home;
    m->parent.cache_peer = mem_cache_peer;
    m->parent.load_rev = mem_load_rev;
    m->parent.save_if = mem_save_if;
    m->parent.free = mem_free;
    if ((rc = mts_storage_wrap(out, &m->parent, err)) != 0)
        mts_free(m);
    return rc;
}
