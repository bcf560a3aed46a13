/*
 * test_session.c - the session model: defaults, DC selection, update
 * state, peer and min-peer caches (checked against a naive model under a
 * long random sequence of operations), validation, stats.
 */
#include "fixtures.h"
#include "internal.h"
#include "t.h"

static void
test_defaults(void)
{
    mts_session *s;
    mts_dc dc;
    char ip[64];
    const mts_dc *tab;
    size_t n;
    T_EQ_INT(mts_session_new(&s, MTS_NEW_DEFAULT), 0);
    T_EQ_INT(mts_session_home_dc(s), 2);
    T_EQ_INT(mts_session_test_mode(s), 0);
    T_EQ_U64(mts_session_dc_count(s), 10);
    T_EQ_INT(mts_session_dc_for(&dc, s, 2, 0), 0);
    mts_ip_format(ip, sizeof(ip), &dc.ip);
    T_EQ_STR(ip, "149.154.167.51");
    T_EQ_INT(dc.port, 443);
    T_CHECK(dc.auth_key == NULL);
    T_EQ_INT(mts_session_dc_for(&dc, s, 5, 1), 0);
    mts_ip_format(ip, sizeof(ip), &dc.ip);
    T_EQ_STR(ip, "2001:b28:f23f:f005::a");
    T_EQ_U64(dc.flags, MTS_DC_IPV6);
    T_EQ_INT(mts_session_dc_for(&dc, s, 1, 0), 0);
    mts_ip_format(ip, sizeof(ip), &dc.ip);
    T_EQ_STR(ip, "149.154.175.53");
    T_EQ_INT(mts_session_dc_for(&dc, s, 6, 0), MTS_ENOTFOUND);
    mts_session_free(s);

    T_EQ_INT(mts_session_new(&s, MTS_NEW_TEST), 0);
    T_EQ_INT(mts_session_test_mode(s), 1);
    T_EQ_U64(mts_session_dc_count(s), 6);
    T_EQ_INT(mts_session_dc_for(&dc, s, 2, 0), 0);
    mts_ip_format(ip, sizeof(ip), &dc.ip);
    T_EQ_STR(ip, "149.154.167.40");
    T_EQ_INT(mts_session_dc_for(&dc, s, 3, 1), 0);
    mts_ip_format(ip, sizeof(ip), &dc.ip);
    T_EQ_STR(ip, "2001:b28:f23d:f003::e");
    mts_session_free(s);

    T_EQ_INT(mts_session_new(&s, MTS_NEW_EMPTY), 0);
    T_EQ_U64(mts_session_dc_count(s), 0);
    T_EQ_INT(mts_session_home_dc(s), 0);
    mts_session_free(s);
    T_EQ_INT(mts_session_new(&s, 8), MTS_EINVAL);
    T_EQ_INT(mts_session_new(&s, MTS_NEW_TEST | MTS_NEW_EMPTY), MTS_EINVAL);
    mts_default_dcs(&tab, &n, 0);
    T_EQ_U64(n, 10);
}

static void
put_dc(mts_session *s, int32_t id, const char *ip, unsigned flags,
       const uint8_t *key)
{
    mts_dc dc = MTS_DC_INIT;
    dc.dc_id = id;
    T_EQ_INT(mts_ip_parse(&dc.ip, ip), 0);
    dc.port = 443;
    dc.flags = flags;
    dc.auth_key = key;
    T_EQ_INT(mts_session_put_dc(s, &dc), 0);
}

/* dc_for never gives a media-only or CDN entry for the main connection
 * unless nothing else exists for that DC. */
static void
test_dc_for(void)
{
    mts_session *s;
    mts_dc dc;
    uint8_t key[256] = { 1 };
    T_EQ_INT(mts_session_new(&s, MTS_NEW_EMPTY), 0);
    /* Media and CDN entries sort first (lower dc/flags) or carry a key:
     * they still lose. */
    put_dc(s, 2, "10.0.0.1", MTS_DC_MEDIA_ONLY, key);
    put_dc(s, 2, "10.0.0.2", MTS_DC_CDN, key);
    put_dc(s, 2, "2001:db8::2", MTS_DC_IPV6, NULL);
    T_EQ_INT(mts_session_dc_for(&dc, s, 2, 0), 0);
    T_EQ_U64(dc.flags, MTS_DC_IPV6); /* only non-media entry, other family */
    put_dc(s, 2, "10.0.0.3", 0, NULL);
    T_EQ_INT(mts_session_dc_for(&dc, s, 2, 0), 0);
    T_EQ_U64(dc.flags, 0);
    T_EQ_INT(dc.ip.bytes[3], 3);
    T_EQ_INT(mts_session_dc_for(&dc, s, 2, 1), 0);
    T_EQ_U64(dc.flags, MTS_DC_IPV6);
    /* the static fallback with a key beats one without, same family */
    put_dc(s, 2, "10.0.0.4", MTS_DC_STATIC, key);
    T_EQ_INT(mts_session_dc_for(&dc, s, 2, 0), 0);
    T_EQ_U64(dc.flags, MTS_DC_STATIC);
    T_CHECK(dc.auth_key != NULL);
    /* only media entries left: then one is returned */
    T_EQ_INT(mts_session_remove_dc(s, 2, 0, 4), 0);
    T_EQ_INT(mts_session_remove_dc(s, 2, MTS_DC_STATIC, 4), 0);
    T_EQ_INT(mts_session_remove_dc(s, 2, MTS_DC_IPV6, 6), 0);
    T_EQ_INT(mts_session_remove_dc(s, 2, MTS_DC_IPV6, 6), MTS_ENOTFOUND);
    T_EQ_INT(mts_session_dc_for(&dc, s, 2, 0), 0);
    T_CHECK(dc.flags == MTS_DC_MEDIA_ONLY || dc.flags == MTS_DC_CDN);
    /* same identity replaces, and the key is copied */
    key[0] = 9;
    put_dc(s, 2, "10.0.0.9", MTS_DC_CDN, key);
    key[0] = 0;
    T_EQ_U64(mts_session_dc_count(s), 2);
    T_EQ_INT(mts_session_dc_at(&dc, s, 1), 0);
    T_EQ_U64(dc.flags, MTS_DC_CDN);
    T_EQ_INT(dc.auth_key[0], 9);
    mts_session_clear_dcs(s);
    T_EQ_U64(mts_session_dc_count(s), 0);
    mts_session_free(s);
}

static void
test_dc_validation(void)
{
    mts_session *s;
    mts_dc dc = MTS_DC_INIT;
    mts_error err = MTS_ERROR_INIT;
    T_EQ_INT(mts_session_new(&s, MTS_NEW_EMPTY), 0);
    dc.dc_id = 1;
    dc.ip.family = 4;
    dc.port = 443;
    dc.flags = 0x20;
    T_EQ_INT(mts__put_dc(s, &dc, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "flags");
    dc.flags = 0;
    dc.ip.family = 5;
    T_EQ_INT(mts__put_dc(s, &dc, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "family");
    dc.ip.family = 4;
    dc.dc_id = 0;
    T_EQ_INT(mts__put_dc(s, &dc, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "dc_id");
    dc.dc_id = 1;
    dc.version = 99;
    T_EQ_INT(mts__put_dc(s, &dc, &err), MTS_EINVAL);
    T_EQ_U64(mts_session_dc_count(s), 0);
    mts_session_free(s);
}

static void
test_ip(void)
{
    mts_ip ip;
    char buf[64];
    uint16_t port;
    T_EQ_INT(mts_ip_parse(&ip, "1.2.3.4"), 0);
    T_EQ_INT(ip.family, 4);
    T_EQ_INT(mts_ip_parse(&ip, "2001:0DB8:0000::0001"), 0);
    mts_ip_format(buf, sizeof(buf), &ip);
    T_EQ_STR(buf, "2001:db8::1"); /* RFC 5952 form */
    T_EQ_INT(mts_ip_parse(&ip, "01.2.3.4"), MTS_EINVAL);
    T_EQ_INT(mts_ip_parse(&ip, "1.2.3"), MTS_EINVAL);
    T_EQ_INT(mts_ip_parse(&ip, "[::1]"), MTS_EINVAL);
    T_EQ_INT(mts_ip_parse(&ip, ""), MTS_EINVAL);
    T_EQ_INT(mts__parse_hostport(&ip, &port, "[::1]:443", 9), 0);
    T_EQ_INT(port, 443);
    T_EQ_INT(mts__parse_hostport(&ip, &port, "1.2.3.4:443x", 12), MTS_EINVAL);
}

static void
test_update_state(void)
{
    mts_session *s;
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    mts_update_state st;
    mts_channel_pts chans[3] = { { 1, 10 }, { 2, 20 }, { 1, 30 } };
    int32_t pts;
    T_EQ_INT(mts_session_new(&s, MTS_NEW_EMPTY), 0);
    T_EQ_INT(mts_session_set_channel_pts(s, 100, 5), 0);
    c.kind = MTS_UPDATE_ALL;
    c.state.pts = 7;
    c.channels = chans;
    c.channel_count = 3; /* channel 1 twice: refused, nothing changes */
    T_EQ_INT(mts_session_apply_update(s, &c), MTS_EINVAL);
    T_EQ_INT(mts__validate_change(&c, NULL), MTS_EINVAL);
    mts_session_update_state(s, &st);
    T_EQ_INT(st.pts, 0);
    T_EQ_INT(mts_session_channel_pts(s, 100, &pts), 0);
    c.channel_count = 2;
    T_EQ_INT(mts_session_apply_update(s, &c), 0);
    T_EQ_INT(mts_session_channel_pts(s, 100, &pts), MTS_ENOTFOUND);
    T_EQ_INT(mts_session_channel_pts(s, 2, &pts), 0);
    T_EQ_INT(pts, 20);
    T_EQ_U64(mts_session_channel_count(s), 2);
    T_EQ_INT(mts_session_set_channel_pts(s, 0, 1), MTS_EINVAL);
    T_EQ_INT(mts_session_set_channel_pts(s, -5, 1), MTS_EINVAL);
    T_EQ_INT(mts_session_remove_channel_pts(s, 1), 0);
    T_EQ_INT(mts_session_remove_channel_pts(s, 1), MTS_ENOTFOUND);
    T_EQ_INT(mts_session_channel_pts(s, 2, &pts), 0);
    T_EQ_INT(pts, 20);
    c.version = 0;
    T_EQ_INT(mts_session_apply_update(s, &c), MTS_EINVAL);
    mts_session_free(s);
}

/* A long random sequence of peer and min-peer operations checked step by
 * step against a naive array model: the hash index must agree. */
#define NK 600
typedef struct naive {
    int present[3][NK];
    int64_t hash[3][NK];
    int mpresent[NK];
    int32_t msg[NK];
} naive;

static uint64_t rng_state = 0x243F6A8885A308D3ULL;

static uint64_t
rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void
test_peer_cache_random(void)
{
    static naive m;
    mts_session *s;
    size_t count = 0, mcount = 0;
    T_EQ_INT(mts_session_new(&s, MTS_NEW_EMPTY), 0);
    memset(&m, 0, sizeof(m));
    for (int step = 0; step < 200000 && !t_case_failed; step++) {
        int kind = (int)(rnd() % 3), op = (int)(rnd() % 10);
        int id = (int)(rnd() % NK);
        mts_peer p = MTS_PEER_INIT;
        if (op < 5) {
            p.kind = (mts_peer_kind)kind;
            p.id = id + 1;
            p.access_hash = (int64_t)rnd();
            p.username = (rnd() & 1) ? "name" : NULL;
            T_EQ_INT(mts_session_put_peer(s, &p, NULL), 0);
            if (!m.present[kind][id])
                count++;
            m.present[kind][id] = 1;
            m.hash[kind][id] = p.access_hash;
        } else if (op < 8) {
            int rc = mts_session_remove_peer(s, (mts_peer_kind)kind, id + 1);
            T_EQ_INT(rc, m.present[kind][id] ? 0 : MTS_ENOTFOUND);
            if (m.present[kind][id])
                count--;
            m.present[kind][id] = 0;
        } else if (op == 8) {
            mts_min_peer mp = { id + 1, -100, (int32_t)step };
            if (rnd() & 1) {
                T_EQ_INT(mts_session_put_min_peer(s, &mp), 0);
                if (!m.mpresent[id])
                    mcount++;
                m.mpresent[id] = 1;
                m.msg[id] = step;
            } else {
                T_EQ_INT(mts_session_remove_min_peer(s, id + 1),
                         m.mpresent[id] ? 0 : MTS_ENOTFOUND);
                if (m.mpresent[id])
                    mcount--;
                m.mpresent[id] = 0;
            }
        } else {
            int rc = mts_session_get_peer(&p, s, (mts_peer_kind)kind, id + 1);
            T_EQ_INT(rc, m.present[kind][id] ? 0 : MTS_ENOTFOUND);
            if (rc == 0)
                T_EQ_INT(p.access_hash, m.hash[kind][id]);
        }
        if (mts_session_peer_count(s) != count ||
            mts_session_min_peer_count(s) != mcount) {
            t_fail(__FILE__, __LINE__, "counts diverge at step %d", step);
            break;
        }
    }
    /* final full comparison both ways */
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < NK; i++) {
            mts_peer p;
            int rc = mts_session_get_peer(&p, s, (mts_peer_kind)k, i + 1);
            T_EQ_INT(rc, m.present[k][i] ? 0 : MTS_ENOTFOUND);
        }
    for (int i = 0; i < NK; i++) {
        mts_min_peer mp;
        int rc = mts_session_get_min_peer(&mp, s, i + 1);
        T_EQ_INT(rc, m.mpresent[i] ? 0 : MTS_ENOTFOUND);
        if (rc == 0)
            T_EQ_INT(mp.msg_id, m.msg[i]);
    }
    mts_session_free(s);
}

static void
test_peer_validation(void)
{
    mts_session *s;
    mts_peer p = MTS_PEER_INIT;
    mts_error err = MTS_ERROR_INIT;
    char long_name[300];
    T_EQ_INT(mts_session_new(&s, MTS_NEW_EMPTY), 0);
    p.id = 1;
    p.kind = MTS_PEER_USER;
    p.channel_kind = MTS_CHANNEL_MEGAGROUP;
    T_EQ_INT(mts_session_put_peer(s, &p, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "peer.channel_kind");
    p.channel_kind = MTS_CHANNEL_UNKNOWN;
    p.kind = MTS_PEER_CHAT;
    p.community = 1;
    T_EQ_INT(mts_session_put_peer(s, &p, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "community");
    p.community = 0;
    p.username = "";
    T_EQ_INT(mts_session_put_peer(s, &p, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "username");
    memset(long_name, 'a', sizeof(long_name));
    long_name[256] = 0;
    p.username = long_name;
    T_EQ_INT(mts_session_put_peer(s, &p, &err), MTS_EINVAL);
    long_name[255] = 0;
    T_EQ_INT(mts_session_put_peer(s, &p, &err), 0);
    p.username = "bad\xff";
    T_EQ_INT(mts_session_put_peer(s, &p, &err), MTS_EINVAL);
    p.username = "tab\there";
    T_EQ_INT(mts_session_put_peer(s, &p, &err), MTS_EINVAL);
    p.username = NULL;
    p.phone = "\xc3\x28";
    T_EQ_INT(mts_session_put_peer(s, &p, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "phone");
    p.phone = NULL;
    p.kind = (mts_peer_kind)3;
    T_EQ_INT(mts_session_put_peer(s, &p, &err), MTS_EINVAL);
    p.kind = MTS_PEER_USER;
    p.id = -5;
    T_EQ_INT(mts_session_put_peer(s, &p, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "peer.id");
    p.id = 5;
    p.bot = 2;
    T_EQ_INT(mts_session_put_peer(s, &p, &err), MTS_EINVAL);
    T_EQ_U64(mts_session_peer_count(s), 1);
    {
        mts_min_peer mp = { 0, 1, 1 };
        T_EQ_INT(mts_session_put_min_peer(s, &mp), MTS_EINVAL);
        mp.user_id = 1;
        mp.peer_id = 0;
        T_EQ_INT(mts_session_put_min_peer(s, &mp), MTS_EINVAL);
    }
    mts_session_free(s);
}

static void
test_scalars(void)
{
    mts_session *s;
    int32_t api;
    int64_t uid;
    int bot;
    const uint8_t *tok;
    size_t len;
    uint8_t big[MTS_TOKEN_MAX + 1];
    T_EQ_INT(mts_session_new(&s, MTS_NEW_EMPTY), 0);
    T_EQ_INT(mts_session_api_id(s, &api), MTS_ENOTFOUND);
    mts_session_set_api_id(s, 1, 0); /* 0 is a value, not absence */
    T_EQ_INT(mts_session_api_id(s, &api), 0);
    T_EQ_INT(api, 0);
    T_EQ_INT(mts_session_user(s, &uid, &bot), MTS_ENOTFOUND);
    T_EQ_INT(mts_session_set_user(s, 0, 0), MTS_EINVAL);
    T_EQ_INT(mts_session_set_user(s, 5, 7), 0);
    T_EQ_INT(mts_session_user(s, &uid, &bot), 0);
    T_EQ_INT(bot, 1);
    mts_session_clear_user(s);
    T_EQ_INT(mts_session_user(s, &uid, &bot), MTS_ENOTFOUND);
    T_EQ_INT(mts_session_set_home_dc(s, -1), MTS_EINVAL);
    T_EQ_INT(mts_session_future_auth_token(s, &tok, &len), MTS_ENOTFOUND);
    memset(big, 1, sizeof(big));
    T_EQ_INT(mts_session_set_future_auth_token(s, big, 0), MTS_EINVAL);
    T_EQ_INT(mts_session_set_future_auth_token(s, big, sizeof(big)),
             MTS_EINVAL);
    T_EQ_INT(mts_session_set_future_auth_token(s, big, MTS_TOKEN_MAX), 0);
    T_EQ_INT(mts_session_future_auth_token(s, &tok, &len), 0);
    T_EQ_U64(len, MTS_TOKEN_MAX);
    T_EQ_INT(mts_session_set_future_auth_token(s, NULL, 0), 0);
    T_EQ_INT(mts_session_future_auth_token(s, &tok, &len), MTS_ENOTFOUND);
    mts_session_free(s);
}

static void
test_dup_equal_stats(void)
{
    mts_session *a = fx_session("full"), *b;
    mts_stats st;
    mts_peer p;
    T_EQ_INT(mts_session_dup(&b, a), 0);
    T_CHECK(mts_session_equal(a, b));
    T_EQ_INT(mts_session_get_peer(&p, b, MTS_PEER_CHANNEL, 7), 0);
    p.access_hash = 2;
    T_EQ_INT(mts_session_put_peer(b, &p, NULL), 0);
    T_CHECK(!mts_session_equal(a, b));
    mts_session_stats(a, &st);
    T_EQ_INT(st.home_dc_id, 2);
    T_EQ_U64(st.dcs_total, 3);
    T_EQ_U64(st.dcs_with_key, 1);
    T_EQ_U64(st.peers_total, 4);
    T_EQ_U64(st.users, 1);
    T_EQ_U64(st.bots, 1);
    T_EQ_U64(st.chats, 1);
    T_EQ_U64(st.channels, 2);
    T_EQ_U64(st.communities, 1);
    T_EQ_U64(st.min_peers, 2);
    T_EQ_U64(st.channel_pts, 2);
    T_EQ_U64(st.encoded_size, 636); /* tests/data/mtsession/v2/full.bin */
    mts_session_free(a);
    mts_session_free(b);
}

static void
test_errors_table(void)
{
    T_EQ_STR(mts_errname(MTS_ENOTFOUND), "MTS_ENOTFOUND");
    T_EQ_STR(mts_errname(MTS_EFORMAT), "MTS_EFORMAT");
    T_EQ_STR(mts_errname(-999), "MTS_E?");
    T_EQ_STR(mts_strerror(MTS_ECORRUPT), "data is corrupt or malformed");
    T_EQ_STR(mts_strerror(0), "success");
    /* codes never move (append-only table) */
    T_EQ_INT(MTS_ENOTFOUND, -1);
    T_EQ_INT(MTS_ELOCKED, -10);
    T_EQ_INT(MTS_EFORMAT, -15);
    T_EQ_INT(MTS_ECONFLICT, -16);
    T_EQ_STR(mts_errname(MTS_ECONFLICT), "MTS_ECONFLICT");
    {
        mts_error e = MTS_ERROR_INIT;
        mts__err(&e, MTS_EIO, "x");
        mts__err_prefix(&e, "file %s", "a");
        T_EQ_STR(e.message, "file a: x");
        mts_error_clear(&e);
        T_EQ_INT(e.code, 0);
        T_EQ_INT(e.offset, -1);
    }
}

T_MAIN(T_CASE(test_defaults), T_CASE(test_dc_for), T_CASE(test_dc_validation),
       T_CASE(test_ip), T_CASE(test_update_state),
       T_CASE(test_peer_cache_random), T_CASE(test_peer_validation),
       T_CASE(test_scalars), T_CASE(test_dup_equal_stats),
       T_CASE(test_errors_table))
