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

static mts_session *
load_ok(mts_storage *st)
{
    mts_session *s = NULL;
    mts_error err = MTS_ERROR_INIT;
    int rc = mts_storage_load(&s, st, &err);
    if (rc != 0)
        t_fail(__FILE__, __LINE__, "load: %s %s", mts_errname(rc),
               err.message);
    return s;
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
    got = load_ok(st);
    T_CHECK(got && mts_session_equal(a, got));
    mts_session_free(got);
    T_EQ_INT(mts_storage_save(st, b, NULL), 0); /* overwrite */
    got = load_ok(st);
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
    got = load_ok(st);
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

    got = load_ok(st);
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
    got = load_ok(st);
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

    got = load_ok(st);
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
    got = load_ok(st);
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
    got = load_ok(st2);
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
    got = load_ok(st);
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
    got = load_ok(st);
    T_CHECK(got && mts_session_equal(a, got));
    mts_session_free(got);
    mts_session_free(a);
    mts_storage_free(st);
}

static const struct {
    const char *name;
    void (*fn)(void);
} cases[] = {
    { "empty_load", c_empty_load },
    { "save_load", c_save_load },
    { "delete", c_delete },
    { "update_kinds", c_update_kinds },
    { "granular_on_empty", c_granular_on_empty },
    { "invalid_unchanged", c_invalid_unchanged },
    { "persistence", c_persistence },
    { "threads", c_threads },
    { "big", c_big },
};

void
conf_run(const conf_backend *b)
{
    cur = b;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int before = t_case_failed;
        t_case_failed = 0;
        cases[i].fn();
        if (t_case_failed)
            fprintf(stderr, "  conformance %s:%s failed\n", b->name,
                    cases[i].name);
        t_case_failed |= before;
    }
}
