/*
 * test_storage_rev.c - the storage handle's optimistic-mode wrappers
 * (mts_storage_load_rev, mts_storage_save_if) over a backend written here
 * against sys/backend.h: argument checks, read-only handles, the rule
 * that load_rev and save_if come together, and what the wrappers pass
 * through or fill in.
 */
#include <string.h>

#include "mtsession/mtsession.h"
#include "mtsession/sys/alloc.h"
#include "mtsession/sys/backend.h"
#include "t.h"

/* A backend that records its calls and answers what it is told. */
typedef struct probe {
    mts_backend parent;
    int stored;
    uint64_t rev;
    int load_rev_calls, save_if_calls;
    uint64_t last_expected;
    int out_was_null;
} probe;

static int
p_save(mts_backend *b, const mts_session *s, mts_error *err)
{
    (void)s;
    (void)err;
    ((probe *)b)->stored = 1;
    ((probe *)b)->rev++;
    return 0;
}

static int
p_load(mts_session **out, mts_backend *b, mts_error *err)
{
    (void)err;
    if (!((probe *)b)->stored)
        return MTS_ENOTFOUND;
    return mts_session_new(out, MTS_NEW_EMPTY);
}

static int
p_del(mts_backend *b, mts_error *err)
{
    (void)err;
    ((probe *)b)->stored = 0;
    ((probe *)b)->rev = 0;
    return 0;
}

static const char *
p_name(mts_backend *b)
{
    (void)b;
    return "probe";
}

static void
p_free(mts_backend *b)
{
    mts_free(b);
}

static int
p_load_rev(mts_session **out, uint64_t *rev, mts_backend *b, mts_error *err)
{
    probe *p = (probe *)b;
    p->load_rev_calls++;
    p->out_was_null = out == NULL;
    if (!p->stored) {
        *rev = 55; /* a sloppy backend: the wrapper must say 0 */
        return mts_backend_error(err, MTS_ENOTFOUND, 0, "probe: nothing");
    }
    *rev = p->rev;
    return out != NULL ? mts_session_new(out, MTS_NEW_EMPTY) : 0;
}

static int
p_save_if(mts_backend *b,
          const mts_session *s,
          uint64_t expected,
          uint64_t *new_rev,
          mts_error *err)
{
    probe *p = (probe *)b;
    p->save_if_calls++;
    p->last_expected = expected;
    if (expected != (p->stored ? p->rev : 0))
        return mts_backend_error(err, MTS_ECONFLICT, 0, "probe: conflict");
    p_save(b, s, err);
    *new_rev = p->rev; /* never NULL: the wrapper gives a slot */
    return 0;
}

static probe *
new_probe(int with_load_rev, int with_save_if)
{
    probe *p = mts_malloc(sizeof(*p));
    memset(p, 0, sizeof(*p));
    mts_backend_init(&p->parent, MTS_BACKEND_VERSION);
    p->parent.save = p_save;
    p->parent.load = p_load;
    p->parent.del = p_del;
    p->parent.name = p_name;
    p->parent.free = p_free;
    if (with_load_rev)
        p->parent.load_rev = p_load_rev;
    if (with_save_if)
        p->parent.save_if = p_save_if;
    return p;
}

/* One of the two slots alone is refused by the wrap, which names both. */
static void
test_wrap_needs_both(void)
{
    for (int which = 0; which < 2; which++) {
        probe *p = new_probe(which == 0, which == 1);
        mts_storage *st = NULL;
        mts_error err = MTS_ERROR_INIT;
        T_EQ_INT(mts_storage_wrap(&st, &p->parent, &err), MTS_EINVAL);
        T_CHECK(st == NULL);
        T_CONTAINS(err.message, "'load_rev'");
        T_CONTAINS(err.message, "'save_if'");
        p_free(&p->parent); /* still ours after a failed wrap */
    }
}

/* Neither slot: both calls MTS_ENOTSUPPORTED naming the store; the
 * outputs are reset. */
static void
test_not_supported(void)
{
    probe *p = new_probe(0, 0);
    mts_storage *st;
    mts_session *s, *got = (mts_session *)&p;
    mts_error err = MTS_ERROR_INIT;
    uint64_t rev = 9, nr = 9;
    T_EQ_INT(mts_storage_wrap(&st, &p->parent, NULL), 0);
    T_EQ_INT(mts_session_new(&s, MTS_NEW_EMPTY), 0);
    T_EQ_INT(mts_storage_load_rev(&got, &rev, st, &err), MTS_ENOTSUPPORTED);
    T_CHECK(got == NULL);
    T_EQ_U64(rev, 0);
    T_CONTAINS(err.message, "probe");
    T_CONTAINS(err.message, "revisions");
    T_EQ_INT(mts_storage_save_if(st, s, 0, &nr, &err), MTS_ENOTSUPPORTED);
    T_EQ_U64(nr, 9);
    T_EQ_INT(p->stored, 0); /* nothing written */
    mts_session_free(s);
    mts_storage_free(st);
}

static void
test_null_args(void)
{
    probe *p = new_probe(1, 1);
    mts_storage *st;
    mts_session *s, *got = NULL;
    mts_error err = MTS_ERROR_INIT;
    uint64_t rev = 0;
    T_EQ_INT(mts_storage_wrap(&st, &p->parent, NULL), 0);
    T_EQ_INT(mts_session_new(&s, MTS_NEW_EMPTY), 0);
    T_EQ_INT(mts_storage_load_rev(&got, NULL, st, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "NULL");
    T_EQ_INT(mts_storage_load_rev(&got, &rev, NULL, &err), MTS_EINVAL);
    T_EQ_INT(mts_storage_save_if(NULL, s, 0, &rev, &err), MTS_EINVAL);
    T_EQ_INT(mts_storage_save_if(st, NULL, 0, &rev, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "NULL");
    T_EQ_INT(p->load_rev_calls + p->save_if_calls, 0); /* none got through */
    mts_session_free(s);
    mts_storage_free(st);
}

/* What the wrappers add: nothing stored is MTS_ENOTFOUND with rev 0 and
 * the store's name; out may be NULL; new_rev may be NULL; the backend's
 * conflict passes through with nothing written. */
static void
test_pass_through(void)
{
    probe *p = new_probe(1, 1);
    mts_storage *st;
    mts_session *s, *got = NULL;
    mts_error err = MTS_ERROR_INIT;
    uint64_t rev = 1, nr = 0;
    T_EQ_INT(mts_storage_wrap(&st, &p->parent, NULL), 0);
    T_EQ_INT(mts_session_new(&s, MTS_NEW_EMPTY), 0);
    T_EQ_INT(mts_storage_load_rev(&got, &rev, st, &err), MTS_ENOTFOUND);
    T_EQ_U64(rev, 0);
    T_CHECK(got == NULL);
    T_CONTAINS(err.message, "probe: no session stored");
    T_EQ_INT(mts_storage_save_if(st, s, 0, &nr, &err), 0);
    T_EQ_U64(nr, 1);
    T_EQ_U64(p->last_expected, 0);
    T_EQ_INT(mts_storage_save_if(st, s, 1, NULL, &err), 0);
    T_EQ_U64(p->rev, 2);
    T_EQ_INT(mts_storage_load_rev(NULL, &rev, st, &err), 0);
    T_EQ_U64(rev, 2);
    T_EQ_INT(p->out_was_null, 1);
    T_EQ_INT(mts_storage_load_rev(&got, &rev, st, &err), 0);
    T_EQ_INT(p->out_was_null, 0);
    T_CHECK(got != NULL);
    mts_session_free(got);
    T_EQ_INT(mts_storage_save_if(st, s, 1, &nr, &err), MTS_ECONFLICT);
    T_EQ_U64(p->last_expected, 1);
    T_EQ_U64(p->rev, 2);
    T_CONTAINS(err.message, "probe: conflict");
    mts_session_free(s);
    mts_storage_free(st);
}

/* A read-only handle: save_if refused before the backend sees it;
 * load_rev still reads. */
static void
test_readonly(void)
{
    probe *p = new_probe(1, 1);
    mts_storage *st;
    mts_session *s;
    mts_error err = MTS_ERROR_INIT;
    uint64_t rev = 0;
    T_EQ_INT(mts_storage_wrap(&st, &p->parent, NULL), 0);
    T_EQ_INT(mts_session_new(&s, MTS_NEW_EMPTY), 0);
    T_EQ_INT(mts_storage_save_if(st, s, 0, NULL, NULL), 0);
    mts_storage_set_readonly(st);
    T_EQ_INT(mts_storage_save_if(st, s, 1, &rev, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "probe: read-only handle");
    T_EQ_INT(p->save_if_calls, 1);
    T_EQ_INT(mts_storage_load_rev(NULL, &rev, st, &err), 0);
    T_EQ_U64(rev, 1);
    mts_session_free(s);
    mts_storage_free(st);
}

/* The error table knows the new code. */
static void
test_errno(void)
{
    T_EQ_INT(MTS_ECONFLICT, -16);
    T_EQ_STR(mts_errname(MTS_ECONFLICT), "MTS_ECONFLICT");
    T_CONTAINS(mts_strerror(MTS_ECONFLICT), "changed");
}

T_MAIN(T_CASE(test_wrap_needs_both),
       T_CASE(test_not_supported),
       T_CASE(test_null_args),
       T_CASE(test_pass_through),
       T_CASE(test_readonly),
       T_CASE(test_errno))
