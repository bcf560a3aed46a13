/*
 * workload.c - see workload.h.
 */
#include "workload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fixtures.h"

const wl_mix wl_mix_default = { { 20, 45, 20, 8, 7, 0 } };

uint64_t
wl_next(uint64_t *state)
{
    uint64_t x = (*state += 0x9e3779b97f4a7c15u);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

uint64_t
wl_hash(uint64_t seed, uint64_t i, uint64_t salt)
{
    uint64_t s = seed ^ (i * 0xd6e8feb86659fd93u) ^ (salt << 56);
    (void)wl_next(&s);
    return wl_next(&s);
}

uint64_t
wl_seed(void)
{
    const char *env = getenv("MTS_TEST_SEED");
    uint64_t seed;
    if (env != NULL && *env != '\0') {
        seed = strtoull(env, NULL, 10);
    } else {
        struct timespec ts = { 0, 0 };
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000003u ^ (uint64_t)ts.tv_nsec ^
               ((uint64_t)getpid() << 20);
        seed %= 1000000000000ULL; /* short enough to type back */
    }
    printf("seed %llu (replay with MTS_TEST_SEED=%llu)\n",
           (unsigned long long)seed, (unsigned long long)seed);
    fflush(stdout);
    return seed;
}

long
wl_env_long(const char *name, long def)
{
    const char *env = getenv(name);
    char *end;
    long v;
    if (env == NULL || *env == '\0')
        return def;
    v = strtol(env, &end, 10);
    if (*end != '\0' || v <= 0) {
        fprintf(stderr, "%s=%s is not a positive number\n", name, env);
        exit(2);
    }
    return v;
}

const char *
wl_kind_name(wl_kind kind)
{
    static const char *const names[WL_KIND_COUNT] = {
        "save", "update", "peer", "dc", "home", "delete"
    };
    return (unsigned)kind < WL_KIND_COUNT ? names[kind] : "?";
}

/* ---- operations -------------------------------------------------------- */

void
wl_make_kind(wl_op *op, wl_kind kind, int sub, uint64_t seed, uint64_t i)
{
    uint64_t h = wl_hash(seed, i, 1), g = wl_hash(seed, i, 2);
    memset(op, 0, sizeof(*op));
    op->kind = kind;
    switch (kind) {
    case WL_SAVE:
        op->variant = (int)(h % WL_FULL_COUNT);
        break;
    case WL_UPDATE: {
        mts_update_change c = MTS_UPDATE_CHANGE_INIT;
        c.kind = (mts_update_kind)(sub >= 0 ? sub : (int)(h % 4));
        c.state.pts = (int32_t)(uint32_t)g;
        c.state.qts = (int32_t)(uint32_t)(g >> 16);
        c.state.date = (int32_t)(uint32_t)(g >> 32);
        c.state.seq = (int32_t)(i & 0x7fffffff);
        /* Few channel ids, so changes hit existing channels too. */
        c.channel_id = (int64_t)(1000 + (h >> 8) % 6);
        c.channel_pts = (int32_t)(uint32_t)(h >> 32);
        if (c.kind == MTS_UPDATE_ALL) {
            c.channel_count = (size_t)((h >> 16) % 4);
            for (size_t k = 0; k < c.channel_count; k++) {
                op->chans[k].channel_id =
                    (int64_t)(1000 + k * 2 + (h >> 20) % 2);
                op->chans[k].pts = (int32_t)(uint32_t)(g >> (8 * k));
            }
            c.channels = op->chans;
        }
        op->change = c;
        break;
    }
    case WL_PEER: {
        mts_peer p = MTS_PEER_INIT;
        p.kind = (mts_peer_kind)(h % 3);
        p.id = (int64_t)(500 + (h >> 8) % 40);
        p.access_hash = p.kind == MTS_PEER_CHAT ? 0 : (int64_t)g;
        if (p.kind == MTS_PEER_CHANNEL)
            p.channel_kind = (mts_channel_kind)((h >> 16) % 4);
        if (p.kind != MTS_PEER_CHAT)
            p.community = (int)((h >> 18) & 1);
        if (p.kind == MTS_PEER_USER)
            p.bot = (int)((h >> 19) & 1);
        if ((h >> 20) & 1) {
            snprintf(op->username, sizeof(op->username), "u%llu",
                     (unsigned long long)(g % 100000));
            p.username = op->username;
        }
        op->peer = p;
        break;
    }
    case WL_DC: {
        mts_dc dc = MTS_DC_INIT;
        dc.dc_id = (int32_t)(1 + h % 5);
        dc.ip.family = 4;
        dc.ip.bytes[0] = 149;
        dc.ip.bytes[1] = 154;
        dc.ip.bytes[2] = (uint8_t)(160 + dc.dc_id);
        dc.ip.bytes[3] = (uint8_t)(g & 0xff);
        dc.port = (uint16_t)(443 + (g >> 8) % 3);
        if ((h >> 8) & 1) {
            for (size_t k = 0; k < sizeof(op->key); k++)
                op->key[k] = (uint8_t)(g >> (k % 8 * 8)) ^ (uint8_t)k;
            dc.auth_key = op->key;
        }
        dc.server_salt = (int64_t)wl_hash(seed, i, 3);
        dc.time_offset = (int32_t)((h >> 32) % 120) - 60;
        op->dc = dc;
        break;
    }
    case WL_HOME:
        op->home = (int32_t)(1 + h % 5);
        break;
    case WL_DELETE:
    case WL_KIND_COUNT:
        break;
    }
}

void
wl_make(wl_op *op, uint64_t seed, uint64_t i, const wl_mix *mix)
{
    unsigned int r = (unsigned int)(wl_hash(seed, i, 0) % 100), acc = 0;
    wl_kind kind = WL_SAVE;
    for (int k = 0; k < WL_KIND_COUNT; k++) {
        acc += mix->pct[k];
        if (r < acc) {
            kind = (wl_kind)k;
            break;
        }
    }
    wl_make_kind(op, kind, -1, seed, i);
}

/* ---- sessions ---------------------------------------------------------- */

static void
must(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "workload: %s failed: %s\n", what, mts_errname(rc));
        exit(2);
    }
}

mts_session *
wl_full(int variant)
{
    mts_session *s = fx_session("full");
    uint8_t key[MTS_AUTH_KEY_SIZE];
    mts_dc dc = MTS_DC_INIT;
    mts_update_state us = { 1000 + variant, 20 + variant, 1700000000 + variant,
                            30 + variant };
    char name[32];
    if (s == NULL)
        exit(2);
    for (size_t k = 0; k < sizeof(key); k++)
        key[k] = (uint8_t)(k * 31 + (size_t)variant * 17 + 5);
    dc.dc_id = 2;
    must(mts_ip_parse(&dc.ip, "149.154.167.50"), "ip");
    dc.port = 443;
    dc.auth_key = key;
    dc.server_salt = 0x55aa55aa00000000LL + variant;
    dc.time_offset = variant;
    must(mts_session_put_dc(s, &dc), "put_dc");
    must(mts_session_set_home_dc(s, 2 + variant % 3), "home");
    must(mts_session_set_user(s, 4200 + variant, variant & 1), "user");
    mts_session_set_update_state(s, &us);
    must(mts_session_set_channel_pts(s, 2000 + variant, 70 + variant), "chan");
    /* Different sizes: 3, 43, 83, 123 extra peers. */
    for (int k = 0; k < 3 + 40 * variant; k++) {
        mts_peer p = MTS_PEER_INIT;
        p.kind = (mts_peer_kind)(k % 3);
        p.id = 10000 + k * 7 + variant;
        p.access_hash =
            p.kind == MTS_PEER_CHAT ? 0 : (int64_t)k * 977 + variant;
        if (k % 2 == 0) {
            snprintf(name, sizeof(name), "v%d_peer%d", variant, k);
            p.username = name;
        }
        must(mts_session_put_peer(s, &p, NULL), "put_peer");
    }
    return s;
}

void
wl_full_all(mts_session **full)
{
    for (int v = 0; v < WL_FULL_COUNT; v++)
        full[v] = wl_full(v);
}

void
wl_free_full(mts_session **full)
{
    for (int v = 0; v < WL_FULL_COUNT; v++) {
        mts_session_free(full[v]);
        full[v] = NULL;
    }
}

mts_session *
wl_dup(const mts_session *s)
{
    mts_session *d = NULL;
    if (s == NULL)
        return NULL;
    must(mts_session_dup(&d, s), "dup");
    return d;
}

int
wl_same(const mts_session *a, const mts_session *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return mts_session_equal(a, b);
}

/* ---- applying ---------------------------------------------------------- */

int
wl_apply_model(mts_session **model, const wl_op *op, mts_session *const *full)
{
    mts_session *s = *model;
    if (op->kind == WL_SAVE) {
        mts_session_free(s);
        *model = wl_dup(full[op->variant]);
        return 0;
    }
    if (op->kind == WL_DELETE) {
        mts_session_free(s);
        *model = NULL;
        return 0;
    }
    /* A granular change to an empty store starts from an empty session. */
    if (s == NULL) {
        must(mts_session_new(&s, MTS_NEW_EMPTY), "new");
        *model = s;
    }
    switch (op->kind) {
    case WL_UPDATE:
        return mts_session_apply_update(s, &op->change) == 0 ? 0 : -1;
    case WL_PEER:
        return mts_session_put_peer(s, &op->peer, NULL) == 0 ? 0 : -1;
    case WL_DC:
        return mts_session_put_dc(s, &op->dc) == 0 ? 0 : -1;
    case WL_HOME:
        return mts_session_set_home_dc(s, op->home) == 0 ? 0 : -1;
    default:
        return -1;
    }
}

int
wl_apply_storage(mts_storage *st,
                 const wl_op *op,
                 mts_session *const *full,
                 mts_error *err)
{
    switch (op->kind) {
    case WL_SAVE:
        return mts_storage_save(st, full[op->variant], err);
    case WL_UPDATE:
        return mts_storage_apply_update_state(st, &op->change, err);
    case WL_PEER:
        return mts_storage_cache_peer(st, &op->peer, err);
    case WL_DC:
        return mts_storage_update_dc(st, &op->dc, err);
    case WL_HOME:
        return mts_storage_set_home_dc(st, op->home, err);
    case WL_DELETE:
        return mts_storage_delete(st, err);
    default:
        return MTS_EINVAL;
    }
}
