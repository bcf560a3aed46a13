/*
 * conformance.c - the backend conformance cases (see conformance.h).
 */
#include "conformance.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"
#include "t.h"

static const conf_backend *cur;

static mts_storage *
fresh(void)
{
    mts_storage *st = NULL;
    int rc = cur->open(&st, cur->ctx);
    if (rc != 0) {
        t_fail(__FILE__, __LINE__, "%s: open failed: %s", cur->name,
               mts_errname(rc));
        return NULL;
    }
    return st;
}

static void
c_empty_load(void)
{
    mts_storage *st = fresh();
    mts_session *s = NULL;
    mts_error err = MTS_ERROR_INIT;
    if (st == NULL)
        return;
    T_EQ_INT(mts_storage_load(&s, st, &err), MTS_ENOTFOUND);
    T_CHECK(s == NULL);
    T_CHECK(mts_storage_name(st) != NULL && mts_storage_name(st)[0] != 0);
    mts_storage_free(st);
}

static void
c_save_load(void)
{
    mts_storage *st = fresh();
    mts_session *a = fx_session("small"), *b = fx_session("full"), *got;
    if (st == NULL)
        return;
    T_EQ_INT(mts_storage_save(st, a, NULL), 0);
    got = fx_load(st);
    T_CHECK(got && mts_session_equal(a, got));
    mts_session_free(got);
    T_EQ_INT(mts_storage_save(st, b, NULL), 0); /* overwrite */
    got = fx_load(st);
    T_CHECK(got && mts_session_equal(b, got));
    mts_session_free(got);
    mts_session_free(a);
    mts_session_free(b);
    mts_storage_free(st);
}

static void
c_delete(void)
{
    mts_storage *st = fresh();
    mts_session *a = fx_session("full"), *got = NULL;
    if (st == NULL)
        return;
    T_EQ_INT(mts_storage_delete(st, NULL), 0); /* nothing stored: fine */
    T_EQ_INT(mts_storage_save(st, a, NULL), 0);
    T_EQ_INT(mts_storage_delete(st, NULL), 0);
    T_EQ_INT(mts_storage_load(&got, st, NULL), MTS_ENOTFOUND);
    T_EQ_INT(mts_storage_save(st, a, NULL), 0); /* usable again */
    got = fx_load(st);
    T_CHECK(got && mts_session_equal(a, got));
    mts_session_free(got);
    mts_session_free(a);
    mts_storage_free(st);
}

static void
c_update_kinds(void)
{
    mts_storage *st = fresh();
    mts_session *base = fx_session("full"), *got;
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    mts_update_state us;
    mts_channel_pts chans[2] = { { 11, 110 }, { 12, 120 } };
    int32_t pts;
    if (st == NULL)
        return;
    T_EQ_INT(mts_storage_save(st, base, NULL), 0);

    c.kind = MTS_UPDATE_PRIMARY;
    c.state.pts = 500;
    c.state.date = 600;
    c.state.seq = 700;
    c.state.qts = 999; /* must be ignored */
    T_EQ_INT(mts_storage_apply_update_state(st, &c, NULL), 0);
    c.kind = MTS_UPDATE_SECONDARY;
    c.state.qts = 800;
    c.state.pts = 1; /* must be ignored */
    T_EQ_INT(mts_storage_apply_update_state(st, &c, NULL), 0);
    c.kind = MTS_UPDATE_CHANNEL;
    c.channel_id = 5;
    c.channel_pts = 55; /* update */
    T_EQ_INT(mts_storage_apply_update_state(st, &c, NULL), 0);
    c.channel_id = 77;
    c.channel_pts = 7; /* insert */
    T_EQ_INT(mts_storage_apply_update_state(st, &c, NULL), 0);
    /* pts may move back: stored as given */
    c.channel_id = 77;
    c.channel_pts = 3;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, NULL), 0);

    got = fx_load(st);
    if (got != NULL) {
        mts_session_update_state(got, &us);
        T_EQ_INT(us.pts, 500);
        T_EQ_INT(us.date, 600);
        T_EQ_INT(us.seq, 700);
        T_EQ_INT(us.qts, 800);
        T_EQ_U64(mts_session_channel_count(got), 3);
        T_EQ_INT(mts_session_channel_pts(got, 5, &pts), 0);
        T_EQ_INT(pts, 55);
        T_EQ_INT(mts_session_channel_pts(got, 77, &pts), 0);
        T_EQ_INT(pts, 3);
        /* everything else untouched */
        T_EQ_U64(mts_session_peer_count(got), mts_session_peer_count(base));
        T_EQ_U64(mts_session_dc_count(got), 3);
        T_EQ_U64(mts_session_min_peer_count(got), 2);
        mts_session_free(got);
    }

    c.kind = MTS_UPDATE_ALL;
    c.state.pts = 1;
    c.state.qts = 2;
    c.state.date = 3;
    c.state.seq = 4;
    c.channels = chans;
    c.channel_count = 2;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, NULL), 0);
    got = fx_load(st);
    if (got != NULL) {
        mts_session_update_state(got, &us);
        T_EQ_INT(us.pts, 1);
        T_EQ_INT(us.qts, 2);
        T_EQ_INT(us.date, 3);
        T_EQ_INT(us.seq, 4);
        T_EQ_U64(mts_session_channel_count(got), 2);
        T_EQ_INT(mts_session_channel_pts(got, 5, &pts), MTS_ENOTFOUND);
        T_EQ_INT(mts_session_channel_pts(got, 12, &pts), 0);
        T_EQ_INT(pts, 120);
        T_EQ_U64(mts_session_peer_count(got), 4);
        mts_session_free(got);
    }
    mts_session_free(base);
    mts_storage_free(st);
}

static void
c_granular_on_empty(void)
{
    mts_storage *st = fresh();
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    mts_peer p = MTS_PEER_INIT;
    mts_dc dc = MTS_DC_INIT, out;
    mts_session *got;
    uint8_t key[256];
    if (st == NULL)
        return;
    memset(key, 0x5a, sizeof(key));
    c.kind = MTS_UPDATE_CHANNEL;
    c.channel_id = 1001;
    c.channel_pts = 9;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, NULL), 0);
    p.kind = MTS_PEER_CHANNEL;
    p.id = 1001;
    p.access_hash = -42;
    p.channel_kind = MTS_CHANNEL_BROADCAST;
    p.username = "news";
    T_EQ_INT(mts_storage_cache_peer(st, &p, NULL), 0);
    p.kind = MTS_PEER_USER; /* same id, other kind: a second peer */
    p.channel_kind = MTS_CHANNEL_UNKNOWN;
    p.access_hash = 43;
    p.username = NULL;
    p.phone = "15550001";
    T_EQ_INT(mts_storage_cache_peer(st, &p, NULL), 0);
    dc.dc_id = 4;
    T_EQ_INT(mts_ip_parse(&dc.ip, "149.154.167.91"), 0);
    dc.port = 443;
    dc.auth_key = key;
    dc.server_salt = 77;
    T_EQ_INT(mts_storage_update_dc(st, &dc, NULL), 0);
    dc.server_salt = 78; /* same identity: replaced */
    T_EQ_INT(mts_storage_update_dc(st, &dc, NULL), 0);
    dc.flags = MTS_DC_MEDIA_ONLY; /* other identity: added */
    dc.auth_key = NULL;
    T_EQ_INT(mts_storage_update_dc(st, &dc, NULL), 0);
    T_EQ_INT(mts_storage_set_home_dc(st, 4, NULL), 0);

    got = fx_load(st);
    if (got != NULL) {
        T_EQ_INT(mts_session_home_dc(got), 4);
        T_EQ_U64(mts_session_dc_count(got), 2);
        T_EQ_INT(mts_session_dc_for(&out, got, 4, 0), 0);
        T_EQ_U64(out.flags, 0); /* main connection, not the media entry */
        T_EQ_INT(out.server_salt, 78);
        T_CHECK(out.auth_key != NULL && out.auth_key[0] == 0x5a);
        T_EQ_U64(mts_session_peer_count(got), 2);
        T_EQ_INT(mts_session_get_peer(&p, got, MTS_PEER_CHANNEL, 1001), 0);
        T_EQ_INT(p.access_hash, -42);
        T_EQ_STR(p.username, "news");
        T_EQ_INT(p.channel_kind, MTS_CHANNEL_BROADCAST);
        T_EQ_INT(mts_session_get_peer(&p, got, MTS_PEER_USER, 1001), 0);
        T_EQ_INT(p.access_hash, 43);
        T_EQ_STR(p.phone, "15550001");
        T_EQ_U64(mts_session_channel_count(got), 1);
        mts_session_free(got);
    }
    mts_storage_free(st);
}

static void
c_invalid_unchanged(void)
{
    mts_storage *st = fresh();
    mts_session *a = fx_session("full"), *got;
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    mts_channel_pts dup[2] = { { 3, 1 }, { 3, 2 } };
    mts_peer p = MTS_PEER_INIT;
    mts_dc dc = MTS_DC_INIT;
    mts_error err = MTS_ERROR_INIT;
    if (st == NULL)
        return;
    T_EQ_INT(mts_storage_save(st, a, NULL), 0);
    c.kind = MTS_UPDATE_CHANNEL;
    c.channel_id = 0;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "channel_id");
    c.kind = MTS_UPDATE_ALL;
    c.channels = dup;
    c.channel_count = 2;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "twice");
    c.kind = (mts_update_kind)9;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, &err), MTS_EINVAL);
    p.id = 0;
    T_EQ_INT(mts_storage_cache_peer(st, &p, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "peer.id");
    p.id = 5;
    p.bot = 1;
    p.kind = MTS_PEER_CHANNEL;
    T_EQ_INT(mts_storage_cache_peer(st, &p, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "bot");
    dc.dc_id = 2;
    dc.ip.family = 4;
    dc.port = 0;
    T_EQ_INT(mts_storage_update_dc(st, &dc, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "port");
    T_EQ_INT(mts_storage_set_home_dc(st, -1, &err), MTS_EINVAL);
    got = fx_load(st);
    T_CHECK(got && mts_session_equal(a, got));
    mts_session_free(got);
    mts_session_free(a);
    mts_storage_free(st);
}

static void
c_persistence(void)
{
    mts_storage *st, *st2 = NULL;
    mts_session *a = fx_session("full"), *got;
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    int32_t pts;
    if (cur->reopen == NULL) {
        fprintf(stderr, "  %s: no persistence across handles (by design)\n",
                cur->name);
        mts_session_free(a);
        return;
    }
    st = fresh();
    if (st == NULL)
        return;
    T_EQ_INT(mts_storage_save(st, a, NULL), 0);
    c.kind = MTS_UPDATE_CHANNEL;
    c.channel_id = 31337;
    c.channel_pts = 4;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, NULL), 0);
    mts_storage_free(st);
    T_EQ_INT(cur->reopen(&st2, cur->ctx), 0);
    if (st2 == NULL)
        return;
    got = fx_load(st2);
    if (got != NULL) {
        T_EQ_INT(mts_session_channel_pts(got, 31337, &pts), 0);
        T_EQ_INT(pts, 4);
        T_EQ_INT(mts_session_remove_channel_pts(got, 31337), 0);
        T_CHECK(mts_session_equal(a, got));
        mts_session_free(got);
    }
    mts_session_free(a);
    mts_storage_free(st2);
}

typedef struct worker {
    mts_storage *st;
    int id;
    int n;
    int failures;
} worker;

static void *
work(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < w->n; i++) {
        int rc;
        if (w->id % 2 == 0) {
            mts_update_change c = MTS_UPDATE_CHANGE_INIT;
            c.kind = MTS_UPDATE_CHANNEL;
            c.channel_id = (int64_t)w->id * 1000 + i + 1;
            c.channel_pts = i;
            rc = mts_storage_apply_update_state(w->st, &c, NULL);
        } else {
            mts_peer p = MTS_PEER_INIT;
            p.id = (int64_t)w->id * 1000 + i + 1;
            p.access_hash = i;
            rc = mts_storage_cache_peer(w->st, &p, NULL);
        }
        if (rc != 0)
            w->failures++;
    }
    return NULL;
}

/* Granular changes from several threads on one handle: none is lost. */
static void
c_threads(void)
{
    enum { THREADS = 4, EACH = 40 };
    mts_storage *st = fresh();
    pthread_t th[THREADS];
    worker w[THREADS];
    mts_session *got;
    if (st == NULL)
        return;
    for (int i = 0; i < THREADS; i++) {
        w[i].st = st;
        w[i].id = i;
        w[i].n = EACH;
        w[i].failures = 0;
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        T_EQ_INT(w[i].failures, 0);
    }
    got = fx_load(st);
    if (got != NULL) {
        T_EQ_U64(mts_session_channel_count(got), THREADS / 2 * EACH);
        T_EQ_U64(mts_session_peer_count(got), THREADS / 2 * EACH);
        mts_session_free(got);
    }
    mts_storage_free(st);
}

static void
c_big(void)
{
    mts_storage *st = fresh();
    mts_session *a = fx_big(cur->big_peers ? cur->big_peers : 10000), *got;
    if (st == NULL)
        return;
    T_EQ_INT(mts_storage_save(st, a, NULL), 0);
    got = fx_load(st);
    T_CHECK(got && mts_session_equal(a, got));
    mts_session_free(got);
    mts_session_free(a);
    mts_storage_free(st);
}


/* ---- optimistic mode (load_rev, save_if) ------------------------------ */

/* The stored revision (0 when nothing is stored, checked against the
 * code), failing the case on any other error. */
static uint64_t
rev_now(mts_storage *st)
{
    uint64_t rev = 12345;
    mts_error err = MTS_ERROR_INIT;
    int rc = mts_storage_load_rev(NULL, &rev, st, &err);
    if (rc == MTS_ENOTFOUND) {
        T_EQ_U64(rev, 0);
        return 0;
    }
    if (rc != 0)
        t_fail(__FILE__, __LINE__, "load_rev: %s %s", mts_errname(rc),
               err.message);
    T_CHECK(rev != 0);
    return rev;
}

static void
dec(char *buf, size_t size, uint64_t v)
{
    snprintf(buf, size, "%llu", (unsigned long long)v);
}

/* A save_if refused: MTS_ECONFLICT, and the message names the store, the
 * stored revision and the expected one. */
static void
expect_conflict(mts_storage *st, const mts_session *s, uint64_t expected,
                uint64_t stored)
{
    mts_error err = MTS_ERROR_INIT;
    uint64_t out = 777;
    char a[32], b[32];
    T_EQ_INT(mts_storage_save_if(st, s, expected, &out, &err), MTS_ECONFLICT);
    T_EQ_INT(err.code, MTS_ECONFLICT);
    T_EQ_U64(out, 777); /* untouched */
    T_CONTAINS(err.message, mts_storage_name(st));
    dec(a, sizeof(a), stored);
    dec(b, sizeof(b), expected);
    T_CONTAINS(err.message, a);
    T_CONTAINS(err.message, b);
}

static void
c_rev_basics(void)
{
    mts_storage *st = fresh();
    mts_session *a = fx_session("small"), *b = fx_session("full");
    mts_session *got = (mts_session *)1;
    mts_error err = MTS_ERROR_INIT;
    uint64_t rev = 99, r1 = 0, r2 = 0, r3 = 0;
    if (st == NULL)
        goto out;
    /* nothing stored */
    T_EQ_INT(mts_storage_load_rev(&got, &rev, st, &err), MTS_ENOTFOUND);
    T_CHECK(got == NULL);
    T_EQ_U64(rev, 0);
    rev = 99;
    T_EQ_INT(mts_storage_load_rev(NULL, &rev, st, NULL), MTS_ENOTFOUND);
    T_EQ_U64(rev, 0);
    /* only a store that moved on refuses: nothing stored is revision 0 */
    expect_conflict(st, a, 42, 0);
    T_EQ_INT(mts_storage_load(&got, st, NULL), MTS_ENOTFOUND);
    /* save_if(0) creates */
    T_EQ_INT(mts_storage_save_if(st, a, 0, &r1, &err), 0);
    T_CHECK(r1 != 0);
    T_EQ_U64(rev_now(st), r1);
    /* save_if(0) again: the store has a session now */
    expect_conflict(st, b, 0, r1);
    expect_conflict(st, b, r1 ^ 1, r1);
    got = NULL;
    T_EQ_INT(mts_storage_load_rev(&got, &rev, st, &err), 0);
    T_EQ_U64(rev, r1);
    T_CHECK(got && mts_session_equal(a, got)); /* unchanged */
    mts_session_free(got);
    /* with the stored revision: written, a new revision */
    T_EQ_INT(mts_storage_save_if(st, b, r1, &r2, &err), 0);
    T_CHECK(r2 != 0 && r2 != r1);
    got = NULL;
    T_EQ_INT(mts_storage_load_rev(&got, &rev, st, &err), 0);
    T_EQ_U64(rev, r2);
    T_CHECK(got && mts_session_equal(b, got));
    mts_session_free(got);
    /* the old revision is refused now */
    expect_conflict(st, a, r1, r2);
    /* new_rev may be NULL */
    T_EQ_INT(mts_storage_save_if(st, a, r2, NULL, &err), 0);
    r3 = rev_now(st);
    T_CHECK(r3 != 0 && r3 != r2 && r3 != r1);
    got = fx_load(st);
    T_CHECK(got && mts_session_equal(a, got));
    mts_session_free(got);
    /* delete: nothing stored, revision 0; save_if(0) creates again */
    T_EQ_INT(mts_storage_delete(st, NULL), 0);
    T_EQ_U64(rev_now(st), 0);
    expect_conflict(st, b, r3, 0);
    T_EQ_INT(mts_storage_save_if(st, b, 0, &r1, &err), 0);
    T_CHECK(r1 != 0 && r1 != r3);
    T_EQ_U64(rev_now(st), r1);
    mts_storage_free(st);
out:
    mts_session_free(a);
    mts_session_free(b);
}

enum { W_SAVE, W_UPDATE, W_PEER, W_DC, W_HOME, W_DELETE, W_KINDS };
static const char *const write_kind[W_KINDS] = {
    "save", "apply_update_state", "cache_peer", "update_dc", "set_home_dc",
    "delete"
};

/* One write of kind k through w. */
static int
write_one(mts_storage *w, int k)
{
    mts_session *other = fx_session("full");
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    mts_peer p = MTS_PEER_INIT;
    mts_dc dc = MTS_DC_INIT;
    int rc = MTS_EINVAL;
    switch (k) {
    case W_SAVE:
        rc = mts_storage_save(w, other, NULL);
        break;
    case W_UPDATE:
        c.kind = MTS_UPDATE_CHANNEL;
        c.channel_id = 424242;
        c.channel_pts = 17;
        rc = mts_storage_apply_update_state(w, &c, NULL);
        break;
    case W_PEER:
        p.kind = MTS_PEER_USER;
        p.id = 515151;
        p.access_hash = -5;
        rc = mts_storage_cache_peer(w, &p, NULL);
        break;
    case W_DC:
        dc.dc_id = 5;
        (void)mts_ip_parse(&dc.ip, "91.108.56.130");
        dc.port = 443;
        rc = mts_storage_update_dc(w, &dc, NULL);
        break;
    case W_HOME:
        rc = mts_storage_set_home_dc(w, 5, NULL);
        break;
    case W_DELETE:
        rc = mts_storage_delete(w, NULL);
        break;
    }
    mts_session_free(other);
    return rc;
}

/*
 * Every kind of write, through a second handle when the backend has one
 * (else through the same handle), gives the store a new revision, and a
 * save_if expecting the revision read before it is refused with nothing
 * written. Then the new revision is accepted.
 */
static void
c_rev_other_writers(void)
{
    mts_session *a = fx_session("small"), *mine = fx_session("full");
    for (int k = 0; k < W_KINDS; k++) {
        mts_storage *st = fresh(), *w = NULL;
        mts_session *before = NULL, *after = NULL;
        mts_error err = MTS_ERROR_INIT;
        uint64_t r1 = 0, r2, r3 = 0;
        int rc;
        if (st == NULL)
            break;
        T_EQ_INT(mts_storage_save_if(st, a, 0, &r1, &err), 0);
        if (cur->reopen != NULL) {
            T_EQ_INT(cur->reopen(&w, cur->ctx), 0);
        } else {
            w = st;
        }
        if (w != NULL) {
            rc = write_one(w, k);
            if (rc != 0)
                t_fail(__FILE__, __LINE__, "%s: %s", write_kind[k],
                       mts_errname(rc));
            if (w != st)
                mts_storage_free(w); /* a file handle keeps its lock */
        }
        r2 = rev_now(st);
        if (r2 == r1)
            t_fail(__FILE__, __LINE__, "%s: the revision did not change",
                   write_kind[k]);
        if (k == W_DELETE)
            T_EQ_U64(r2, 0);
        rc = mts_storage_load(&before, st, NULL);
        T_EQ_INT(rc, k == W_DELETE ? MTS_ENOTFOUND : 0);
        expect_conflict(st, mine, r1, r2);
        T_EQ_U64(rev_now(st), r2);
        rc = mts_storage_load(&after, st, NULL);
        T_EQ_INT(rc, k == W_DELETE ? MTS_ENOTFOUND : 0);
        if (k != W_DELETE)
            T_CHECK(before && after && mts_session_equal(before, after));
        mts_session_free(before);
        mts_session_free(after);
        /* the revision now stored is accepted */
        T_EQ_INT(mts_storage_save_if(st, mine, r2, &r3, &err), 0);
        T_CHECK(r3 != 0 && r3 != r2 && r3 != r1);
        after = fx_load(st);
        T_CHECK(after && mts_session_equal(mine, after));
        mts_session_free(after);
        mts_storage_free(st);
    }
    mts_session_free(a);
    mts_session_free(mine);
}

/* Granular writes on the same handle move the revision too, from nothing
 * stored on; a revision once read stays valid until the next write. */
static void
c_rev_granular(void)
{
    mts_storage *st = fresh();
    mts_session *a = fx_session("small"), *got;
    uint64_t seen[W_KINDS + 1];
    size_t n = 0;
    if (st == NULL)
        goto out;
    for (int k = W_UPDATE; k <= W_HOME; k++) {
        uint64_t r;
        T_EQ_INT(write_one(st, k), 0);
        r = rev_now(st);
        T_CHECK(r != 0);
        T_EQ_U64(rev_now(st), r); /* reading does not move it */
        for (size_t i = 0; i < n; i++)
            if (seen[i] == r)
                t_fail(__FILE__, __LINE__, "%s: revision %llu seen before",
                       write_kind[k], (unsigned long long)r);
        seen[n++] = r;
    }
    if (n > 0) {
        expect_conflict(st, a, seen[0], seen[n - 1]);
        T_EQ_INT(mts_storage_save_if(st, a, seen[n - 1], NULL, NULL), 0);
        got = fx_load(st);
        T_CHECK(got && mts_session_equal(a, got));
        mts_session_free(got);
    }
    mts_storage_free(st);
out:
    mts_session_free(a);
}

/* A read-only handle refuses save_if; load_rev still reads. */
static void
c_rev_readonly(void)
{
    mts_storage *st = fresh();
    mts_session *a = fx_session("small");
    mts_error err = MTS_ERROR_INIT;
    uint64_t r1 = 0, r = 0;
    if (st == NULL)
        goto out;
    T_EQ_INT(mts_storage_save_if(st, a, 0, &r1, NULL), 0);
    mts_storage_set_readonly(st);
    T_EQ_INT(mts_storage_save_if(st, a, r1, &r, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "read-only");
    T_EQ_U64(rev_now(st), r1);
    mts_storage_free(st);
out:
    mts_session_free(a);
}

int
conf_keeps_revs(const conf_backend *b)
{
    const conf_backend *saved = cur;
    mts_storage *st;
    mts_session *a;
    uint64_t rev = 1;
    int rc, keeps;
    cur = b;
    st = fresh();
    cur = saved;
    if (st == NULL)
        return 0;
    rc = mts_storage_load_rev(NULL, &rev, st, NULL);
    keeps = rc != MTS_ENOTSUPPORTED;
    if (!keeps) {
        a = fx_session("small");
        T_EQ_U64(rev, 0);
        T_EQ_INT(mts_storage_save_if(st, a, 0, NULL, NULL),
                 MTS_ENOTSUPPORTED);
        mts_session_free(a);
    }
    mts_storage_free(st);
    return keeps;
}

static const struct {
    const char *name;
    void (*fn)(void);
    int revs; /* optimistic mode: only for backends that keep revisions */
} cases[] = {
    { "empty_load", c_empty_load, 0 },
    { "save_load", c_save_load, 0 },
    { "delete", c_delete, 0 },
    { "update_kinds", c_update_kinds, 0 },
    { "granular_on_empty", c_granular_on_empty, 0 },
    { "invalid_unchanged", c_invalid_unchanged, 0 },
    { "persistence", c_persistence, 0 },
    { "threads", c_threads, 0 },
    { "big", c_big, 0 },
    { "rev_basics", c_rev_basics, 1 },
    { "rev_other_writers", c_rev_other_writers, 1 },
    { "rev_granular", c_rev_granular, 1 },
    { "rev_readonly", c_rev_readonly, 1 },
};

void
conf_run(const conf_backend *b)
{
    int revs = conf_keeps_revs(b);
    cur = b;
    if (!revs)
        fprintf(stderr, "  %s: no revisions (optimistic cases skipped)\n",
                b->name);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int before = t_case_failed;
        if (cases[i].revs && !revs)
            continue;
        t_case_failed = 0;
        cases[i].fn();
        if (t_case_failed)
            fprintf(stderr, "  conformance %s:%s failed\n", b->name,
                    cases[i].name);
        t_case_failed |= before;
    }
}
