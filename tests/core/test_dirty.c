/*
 * test_dirty.c - the model's change tracking (internal.h): identities,
 * generations, per-record stamps, the removal log and its overflow, and a
 * long random sequence in which the delta since each checkpoint, applied
 * to a copy taken at the checkpoint, must give the session exactly (and
 * must name no record that was not touched).
 */
#include <stdio.h>

#include "fixtures.h"
#include "internal.h"
#include "t.h"

static uint64_t
gen_of(const mts_session *s)
{
    uint64_t uid, gen;
    mts__session_mark(s, &uid, &gen);
    return gen;
}

static uint64_t
uid_of(const mts_session *s)
{
    uint64_t uid, gen;
    mts__session_mark(s, &uid, &gen);
    return uid;
}

static size_t
count_changed_peers(const mts_session *s, uint64_t since)
{
    size_t n = 0;
    for (size_t i = 0; i < mts_session_peer_count(s); i++)
        n += (size_t)mts__session_peer_changed(s, i, since);
    return n;
}

static void
test_identity_and_generation(void)
{
    mts_session *a, *b, *d;
    uint64_t g;
    T_EQ_INT(mts_session_new(&a, MTS_NEW_EMPTY), 0);
    T_EQ_INT(mts_session_new(&b, MTS_NEW_DEFAULT), 0);
    T_CHECK(uid_of(a) != 0 && uid_of(b) != 0 && uid_of(a) != uid_of(b));
    T_EQ_INT(mts_session_dup(&d, b), 0);
    T_CHECK(uid_of(d) != uid_of(b));
    /* every kind of change moves the generation; reads do not */
    g = gen_of(a);
    mts_session_set_test_mode(a, 1);
    T_CHECK(gen_of(a) > g);
    T_CHECK(mts__session_scalars_changed(a, g));
    g = gen_of(a);
    T_EQ_INT(mts_session_home_dc(a), 0);
    T_EQ_U64(mts_session_peer_count(a), 0);
    T_EQ_U64(gen_of(a), g);
    T_CHECK(!mts__session_scalars_changed(a, g));
    T_CHECK(mts__session_delta_ok(a, g));
    T_CHECK(mts__session_delta_ok(a, 0));
    T_CHECK(!mts__session_delta_ok(a, g + 1)); /* from the future */
    mts_session_free(a);
    mts_session_free(b);
    mts_session_free(d);
}

static void
test_record_stamps(void)
{
    mts_session *s = fx_big(1000);
    mts_peer p;
    mts_min_peer mp = { 77, 5, 1 };
    mts_update_change ch = MTS_UPDATE_CHANGE_INIT;
    mts_dc dc;
    uint64_t g;
    size_t i;
    if (s == NULL)
        return;
    g = gen_of(s);
    T_EQ_U64(count_changed_peers(s, g), 0);
    /* change 3 peers, one of them twice */
    for (i = 10; i < 13; i++) {
        T_EQ_INT(mts_session_peer_at(&p, s, i), 0);
        p.access_hash ^= 1;
        T_EQ_INT(mts_session_put_peer(s, &p, NULL), 0);
    }
    T_EQ_INT(mts_session_peer_at(&p, s, 10), 0);
    T_EQ_INT(mts_session_put_peer(s, &p, NULL), 0);
    T_EQ_U64(count_changed_peers(s, g), 3);
    T_CHECK(mts__session_peer_changed(s, 11, g));
    T_CHECK(!mts__session_peer_changed(s, 9, g));
    T_CHECK(!mts__session_scalars_changed(s, g));
    /* a removal swaps the last record into the hole: stamps move with it */
    T_EQ_INT(mts_session_peer_at(&p, s, 0), 0);
    T_EQ_INT(mts_session_remove_peer(s, p.kind, p.id), 0);
    T_EQ_U64(count_changed_peers(s, g), 3);
    T_CHECK(!mts__session_peer_changed(s, 0, g)); /* the moved last one */
    T_EQ_U64(mts__session_removal_count(s), 1);
    {
        const mts__removal *r = mts__session_removal_at(s, 0);
        T_CHECK(r != NULL && r->table == MTS__REMOVED_PEER && r->id == p.id &&
                r->k1 == (uint8_t)p.kind && r->gen > g);
        T_CHECK(mts__session_removal_at(s, 1) == NULL);
    }
    /* min peers, channels, DCs, scalars */
    g = gen_of(s);
    T_EQ_INT(mts_session_put_min_peer(s, &mp), 0);
    T_CHECK(
        mts__session_min_peer_changed(s, mts_session_min_peer_count(s) - 1, g));
    T_EQ_INT(mts_session_set_channel_pts(s, 99, 1), 0);
    T_CHECK(
        mts__session_channel_changed(s, mts_session_channel_count(s) - 1, g));
    T_EQ_INT(mts_session_dc_at(&dc, s, 0), 0);
    dc.server_salt++;
    T_EQ_INT(mts_session_put_dc(s, &dc), 0);
    T_CHECK(mts__session_dc_changed(s, 0, g));
    T_CHECK(!mts__session_dc_changed(s, 1, g));
    T_CHECK(!mts__session_scalars_changed(s, g));
    ch.kind = MTS_UPDATE_SECONDARY;
    ch.state.qts = 3;
    T_EQ_INT(mts_session_apply_update(s, &ch), 0);
    T_CHECK(mts__session_scalars_changed(s, g));
    T_EQ_U64(count_changed_peers(s, g), 0);
    /* out of range indices are never "changed" */
    T_CHECK(!mts__session_peer_changed(s, mts_session_peer_count(s), 0));
    mts_session_free(s);
}

/* More removals than the log holds: deltas from before the overflow are
 * refused (the backend then writes everything); later ones still work. */
static void
test_removal_log_overflow(void)
{
    mts_session *s = fx_big(3000);
    uint64_t g0, g1;
    mts_peer p;
    if (s == NULL)
        return;
    g0 = gen_of(s);
    for (int i = 0; i < 1000; i++) {
        T_EQ_INT(mts_session_peer_at(&p, s, 0), 0);
        T_EQ_INT(mts_session_remove_peer(s, p.kind, p.id), 0);
    }
    T_CHECK(mts__session_delta_ok(s, g0));
    g1 = gen_of(s);
    for (int i = 0; i < 100; i++) {
        T_EQ_INT(mts_session_peer_at(&p, s, 0), 0);
        T_EQ_INT(mts_session_remove_peer(s, p.kind, p.id), 0);
    }
    T_CHECK(!mts__session_delta_ok(s, g0));
    T_CHECK(mts__session_delta_ok(s, g1));
    T_EQ_U64(mts__session_removal_count(s), 1024);
    mts_session_free(s);
}

/* ---- random sequence against a copy ------------------------------------ */

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint64_t
rnd(uint64_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng % n;
}

/* Apply the delta of s since `since` to `old` (a copy of s at since). */
static int
apply_delta(mts_session *old,
            const mts_session *s,
            uint64_t since,
            size_t *changed_peers)
{
    *changed_peers = 0;
    for (size_t i = 0; i < mts__session_removal_count(s); i++) {
        const mts__removal *r = mts__session_removal_at(s, i);
        if (r->gen <= since)
            continue;
        switch (r->table) {
        case MTS__REMOVED_DC:
            (void)mts_session_remove_dc(old, (int32_t)r->id, r->k1, r->k2);
            break;
        case MTS__REMOVED_CHANNEL:
            (void)mts_session_remove_channel_pts(old, r->id);
            break;
        case MTS__REMOVED_PEER:
            (void)mts_session_remove_peer(old, (mts_peer_kind)r->k1, r->id);
            break;
        case MTS__REMOVED_MIN_PEER:
            (void)mts_session_remove_min_peer(old, r->id);
            break;
        default:
            return -1;
        }
    }
    for (size_t i = 0; i < mts_session_dc_count(s); i++)
        if (mts__session_dc_changed(s, i, since)) {
            mts_dc dc;
            mts_session_dc_at(&dc, s, i);
            if (mts_session_put_dc(old, &dc) != 0)
                return -1;
        }
    for (size_t i = 0; i < mts_session_channel_count(s); i++)
        if (mts__session_channel_changed(s, i, since)) {
            mts_channel_pts c;
            mts_session_channel_at(&c, s, i);
            if (mts_session_set_channel_pts(old, c.channel_id, c.pts) != 0)
                return -1;
        }
    for (size_t i = 0; i < mts_session_peer_count(s); i++)
        if (mts__session_peer_changed(s, i, since)) {
            mts_peer p;
            mts_session_peer_at(&p, s, i);
            if (mts_session_put_peer(old, &p, NULL) != 0)
                return -1;
            (*changed_peers)++;
        }
    for (size_t i = 0; i < mts_session_min_peer_count(s); i++)
        if (mts__session_min_peer_changed(s, i, since)) {
            mts_min_peer mp;
            mts_session_min_peer_at(&mp, s, i);
            if (mts_session_put_min_peer(old, &mp) != 0)
                return -1;
        }
    if (mts__session_scalars_changed(s, since)) {
        mts_update_state us;
        int32_t api;
        int64_t uid;
        int bot;
        const uint8_t *tok;
        size_t toklen;
        mts_session_set_home_dc(old, mts_session_home_dc(s));
        mts_session_set_test_mode(old, mts_session_test_mode(s));
        if (mts_session_api_id(s, &api) == 0)
            mts_session_set_api_id(old, 1, api);
        else
            mts_session_set_api_id(old, 0, 0);
        if (mts_session_user(s, &uid, &bot) == 0)
            mts_session_set_user(old, uid, bot);
        else
            mts_session_clear_user(old);
        if (mts_session_future_auth_token(s, &tok, &toklen) == 0)
            mts_session_set_future_auth_token(old, tok, toklen);
        else
            mts_session_set_future_auth_token(old, NULL, 0);
        mts_session_update_state(s, &us);
        mts_session_set_update_state(old, &us);
    }
    return 0;
}

/* Peers touched since the checkpoint (distinct keys), to check that the
 * delta names no peer that was not touched. */
#define MAX_TOUCHED 4096
static int64_t touched[MAX_TOUCHED];
static size_t ntouched;

static void
note_peer(mts_peer_kind kind, int64_t id)
{
    int64_t k = id * 4 + kind;
    for (size_t i = 0; i < ntouched; i++)
        if (touched[i] == k)
            return;
    if (ntouched < MAX_TOUCHED)
        touched[ntouched++] = k;
}

static void
random_op(mts_session *s)
{
    uint64_t op = rnd(100);
    if (op < 40) {
        mts_peer p = MTS_PEER_INIT;
        p.kind = (mts_peer_kind)rnd(3);
        p.id = (int64_t)rnd(500) + 1;
        p.access_hash = (int64_t)rnd(1000);
        p.username = rnd(4) == 0 ? "name" : NULL;
        T_EQ_INT(mts_session_put_peer(s, &p, NULL), 0);
        note_peer(p.kind, p.id);
    } else if (op < 60) {
        mts_peer p;
        if (mts_session_peer_count(s) > 0 &&
            mts_session_peer_at(&p, s, rnd(mts_session_peer_count(s))) == 0) {
            note_peer(p.kind, p.id);
            T_EQ_INT(mts_session_remove_peer(s, p.kind, p.id), 0);
        }
    } else if (op < 68) {
        T_EQ_INT(mts_session_set_channel_pts(s, (int64_t)rnd(50) + 1,
                                             (int32_t)rnd(1000)),
                 0);
    } else if (op < 72) {
        (void)mts_session_remove_channel_pts(s, (int64_t)rnd(50) + 1);
    } else if (op < 78) {
        mts_min_peer mp;
        mp.user_id = (int64_t)rnd(60) + 1;
        mp.peer_id = -(int64_t)rnd(9) - 1;
        mp.msg_id = (int32_t)rnd(100);
        T_EQ_INT(mts_session_put_min_peer(s, &mp), 0);
    } else if (op < 82) {
        (void)mts_session_remove_min_peer(s, (int64_t)rnd(60) + 1);
    } else if (op < 88) {
        mts_dc dc = MTS_DC_INIT;
        uint8_t key[MTS_AUTH_KEY_SIZE];
        memset(key, (int)rnd(256), sizeof(key));
        dc.dc_id = (int32_t)rnd(5) + 1;
        dc.flags = (unsigned)rnd(2) * MTS_DC_MEDIA_ONLY;
        mts_ip_parse(&dc.ip, rnd(2) ? "10.0.0.1" : "2001:db8::1");
        dc.port = 443;
        dc.auth_key = rnd(2) ? key : NULL;
        dc.server_salt = (int64_t)rnd(100);
        T_EQ_INT(mts_session_put_dc(s, &dc), 0);
    } else if (op < 91) {
        mts_dc dc;
        if (mts_session_dc_count(s) > 0 &&
            mts_session_dc_at(&dc, s, rnd(mts_session_dc_count(s))) == 0)
            T_EQ_INT(mts_session_remove_dc(s, dc.dc_id, dc.flags, dc.ip.family),
                     0);
    } else if (op < 92) {
        mts_session_clear_dcs(s);
    } else if (op < 93) {
        mts_update_change ch = MTS_UPDATE_CHANGE_INIT;
        mts_channel_pts list[3] = { { 1, 5 }, { 2, 6 }, { 60, 7 } };
        ch.kind = MTS_UPDATE_ALL;
        ch.channels = list;
        ch.channel_count = rnd(4);
        ch.state.pts = (int32_t)rnd(100);
        T_EQ_INT(mts_session_apply_update(s, &ch), 0);
    } else {
        switch (rnd(6)) {
        case 0:
            mts_session_set_home_dc(s, (int32_t)rnd(5));
            break;
        case 1:
            mts_session_set_api_id(s, (int)rnd(2), 7);
            break;
        case 2:
            if (rnd(2))
                mts_session_set_user(s, (int64_t)rnd(9) + 1, (int)rnd(2));
            else
                mts_session_clear_user(s);
            break;
        case 3: {
            uint8_t tok[4] = { 1, 2, 3, (uint8_t)rnd(9) };
            mts_session_set_future_auth_token(s, rnd(2) ? tok : NULL, 4);
            break;
        }
        case 4: {
            mts_update_state us = { (int32_t)rnd(9), 1, 2, 3 };
            mts_session_set_update_state(s, &us);
            break;
        }
        default:
            mts_session_set_test_mode(s, (int)rnd(2));
            break;
        }
    }
}

static void
test_random_deltas(void)
{
    mts_session *s, *copy = NULL;
    uint64_t since;
    int full = 0, deltas = 0;
    T_EQ_INT(mts_session_new(&s, MTS_NEW_DEFAULT), 0);
    T_EQ_INT(mts_session_dup(&copy, s), 0);
    since = gen_of(s);
    ntouched = 0;
    for (int round = 0; round < 400; round++) {
        /* mostly short runs; now and then one long enough to overflow */
        int n = round % 50 == 49 ? 4000 : (int)rnd(60);
        for (int i = 0; i < n; i++)
            random_op(s);
        if (mts__session_delta_ok(s, since)) {
            size_t changed = 0;
            T_EQ_INT(apply_delta(copy, s, since, &changed), 0);
            T_CHECK(changed <= ntouched);
            deltas++;
        } else {
            mts_session_free(copy);
            copy = NULL;
            T_EQ_INT(mts_session_dup(&copy, s), 0);
            full++;
        }
        if (!mts_session_equal(copy, s)) {
            t_fail(__FILE__, __LINE__,
                   "round %d: delta did not reproduce "
                   "the session",
                   round);
            break;
        }
        since = gen_of(s);
        ntouched = 0;
    }
    printf("  %d deltas, %d full copies after log overflow\n", deltas, full);
    T_CHECK(deltas > 300 && full > 0);
    mts_session_free(s);
    mts_session_free(copy);
}

T_MAIN(T_CASE(test_identity_and_generation),
       T_CASE(test_record_stamps),
       T_CASE(test_removal_log_overflow),
       T_CASE(test_random_deltas))
