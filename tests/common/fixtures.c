/*
 * fixtures.c - see fixtures.h.
 */
#include "fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"

static void
must(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "fixture: %s failed: %s\n", what, mts_errname(rc));
        exit(2);
    }
}

static void
add_dc(mts_session *s, int32_t id, const char *ip, uint16_t port,
       unsigned flags, const uint8_t *key, int64_t salt, int32_t off)
{
    mts_dc dc = MTS_DC_INIT;
    dc.dc_id = id;
    must(mts_ip_parse(&dc.ip, ip), "ip");
    dc.port = port;
    dc.flags = flags;
    dc.auth_key = key;
    dc.server_salt = salt;
    dc.time_offset = off;
    must(mts_session_put_dc(s, &dc), "put_dc");
}

static void
add_peer(mts_session *s, mts_peer_kind kind, int64_t id, int64_t hash,
         mts_channel_kind ck, int community, int bot, const char *user,
         const char *phone)
{
    mts_peer p = MTS_PEER_INIT;
    p.kind = kind;
    p.id = id;
    p.access_hash = hash;
    p.channel_kind = ck;
    p.community = community;
    p.bot = bot;
    p.username = user;
    p.phone = phone;
    must(mts_session_put_peer(s, &p, NULL), "put_peer");
}

static void
add_min(mts_session *s, int64_t uid, int64_t pid, int32_t msg)
{
    mts_min_peer m = { uid, pid, msg };
    must(mts_session_put_min_peer(s, &m), "put_min_peer");
}

mts_session *
fx_session(const char *name)
{
    mts_session *s;
    uint8_t key[256];
    must(mts_session_new(&s, MTS_NEW_EMPTY), "new");
    if (strcmp(name, "empty") == 0)
        return s;
    if (strcmp(name, "small") == 0) {
        mts_update_state st = { 100, 5, 1700000000, 7 };
        for (int i = 0; i < 256; i++)
            key[i] = (uint8_t)i;
        mts_session_set_home_dc(s, 2);
        add_dc(s, 2, "149.154.167.51", 443, 0, key, 0x0102030405060708LL, -3);
        mts_session_set_update_state(s, &st);
        must(mts_session_set_channel_pts(s, 1234567890, 17), "chan");
        add_peer(s, MTS_PEER_USER, 777000, -5612345678901234567LL,
                 MTS_CHANNEL_UNKNOWN, 0, 0, "telegram", NULL);
        return s;
    }
    if (strcmp(name, "full") == 0) {
        mts_update_state st = { 2147483647, -1, 1, 0 };
        static const uint8_t tok[3] = { 1, 2, 3 };
        memset(key, 0xab, sizeof(key));
        mts_session_set_home_dc(s, 2);
        mts_session_set_test_mode(s, 1);
        mts_session_set_api_id(s, 1, 12345);
        must(mts_session_set_user(s, 42, 1), "user");
        add_dc(s, 4, "149.154.167.91", 443, MTS_DC_MEDIA_ONLY, NULL, 0, 0);
        add_dc(s, 2, "2001:67c:4e8:f002::a", 443, MTS_DC_IPV6 | MTS_DC_STATIC,
               key, -1, 2147483647);
        add_dc(s, 1, "149.154.175.53", 80, 0, NULL, INT64_MIN, INT32_MIN);
        mts_session_set_update_state(s, &st);
        must(mts_session_set_channel_pts(s, 9007199254740993LL, 2147483647),
             "chan");
        must(mts_session_set_channel_pts(s, 5, 1), "chan");
        add_peer(s, MTS_PEER_CHANNEL, 100, INT64_MAX, MTS_CHANNEL_MEGAGROUP, 1,
                 0, "chan", NULL);
        add_peer(s, MTS_PEER_USER, 42, INT64_MIN, MTS_CHANNEL_UNKNOWN, 0, 1,
                 "bot_\xc3\xbc", "+15551234567");
        add_peer(s, MTS_PEER_CHAT, 100, 0, MTS_CHANNEL_UNKNOWN, 0, 0, NULL,
                 NULL);
        add_peer(s, MTS_PEER_CHANNEL, 7, 1, MTS_CHANNEL_BROADCAST, 0, 0, NULL,
                 NULL);
        add_min(s, 43, 100, -1);
        add_min(s, 42, -1001234567890LL, 12345);
        must(mts_session_set_future_auth_token(s, tok, sizeof(tok)), "token");
        return s;
    }
    mts_session_free(s);
    return NULL;
}

mts_session *
fx_big(size_t n)
{
    mts_session *s;
    uint8_t key[256];
    char name[32];
    must(mts_session_new(&s, MTS_NEW_DEFAULT), "new");
    for (int i = 0; i < 256; i++)
        key[i] = (uint8_t)(i * 7 + 1);
    add_dc(s, 2, "149.154.167.51", 443, 0, key, 12345, 1);
    must(mts_session_reserve_peers(s, n), "reserve");
    for (size_t i = 0; i < n; i++) {
        mts_peer_kind kind = (mts_peer_kind)(i % 3);
        int64_t id = (int64_t)(i / 3) * 7919 + 1000;
        snprintf(name, sizeof(name), "user%zu", i);
        add_peer(s, kind, id, (int64_t)(i * 0x9E3779B97F4A7C15ULL),
                 kind == MTS_PEER_CHANNEL ? MTS_CHANNEL_MEGAGROUP
                                          : MTS_CHANNEL_UNKNOWN,
                 0, kind == MTS_PEER_USER && i % 10 == 0,
                 i % 4 == 0 ? name : NULL, NULL);
    }
    for (size_t i = 0; i < n / 100; i++) {
        must(mts_session_set_channel_pts(s, (int64_t)i + 1, (int32_t)i), "ch");
        add_min(s, (int64_t)i + 1, -1000000000000LL - (int64_t)i, (int32_t)i);
    }
    return s;
}

unsigned char *
fx_read(const char *rel, size_t *len)
{
    unsigned char *d = t_read_file(t_srcpath(rel), len);
    if (d == NULL) {
        fprintf(stderr, "cannot read %s\n", t_srcpath(rel));
        exit(2);
    }
    return d;
}

mts_session *
fx_load(mts_storage *st)
{
    mts_session *s = NULL;
    mts_error err = MTS_ERROR_INIT;
    int rc;
    if (st == NULL) {
        t_fail(__FILE__, __LINE__, "no handle to load from");
        return NULL;
    }
    rc = mts_storage_load(&s, st, &err);
    if (rc != 0)
        t_fail(__FILE__, __LINE__, "load %s: %s: %s", mts_storage_name(st),
               mts_errname(rc), err.message);
    return s;
}
