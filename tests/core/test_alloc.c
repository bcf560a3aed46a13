/*
 * test_alloc.c - allocation failure at every point.
 *
 * A counting allocator fails the Nth allocation; each scenario runs with
 * N = 0, 1, 2, ... until it completes without a failure. Every failing
 * run must return MTS_ENOMEM and leave no live allocation behind (the
 * allocator counts them, so this holds without ASan too).
 */
#include <stdlib.h>

#include "failalloc.h"
#include "fixtures.h"
#include "internal.h"
#include "t.h"

typedef int (*scenario)(void *ctx);

static void
loop(const char *name, scenario fn, void *ctx)
{
    long n;
    for (n = 0; n < 100000; n++) {
        int rc;
        fa_calls = 0;
        fa_live = 0;
        fa_injected = 0;
        fa_fail_at = n;
        mts_set_allocator(&fa_failing);
        rc = fn(ctx);
        mts_set_allocator(NULL);
        if (fa_live != 0) {
            t_fail(__FILE__, __LINE__, "%s: %ld allocations leaked when "
                   "allocation %ld failed", name, fa_live, n);
            return;
        }
        if (!fa_injected) {
            T_EQ_INT(rc, 0);
            printf("  %s: %ld failure points, all clean\n", name, n);
            return;
        }
        if (rc != MTS_ENOMEM) {
            t_fail(__FILE__, __LINE__, "%s: allocation %ld failed but rc = "
                   "%s", name, n, mts_errname(rc));
            return;
        }
    }
    t_fail(__FILE__, __LINE__, "%s: never completed", name);
}

/* Build a session through the setters (no fixtures: they exit on error). */
static int
build(mts_session **out)
{
    mts_session *s;
    mts_dc dc = MTS_DC_INIT;
    mts_peer p = MTS_PEER_INIT;
    mts_min_peer mp = { 5, -100, 1 };
    uint8_t key[256] = { 3 };
    int rc = mts_session_new(&s, MTS_NEW_DEFAULT);
    if (rc != 0)
        return rc;
    dc.dc_id = 7;
    mts_ip_parse(&dc.ip, "2001:db8::7");
    dc.port = 443;
    dc.auth_key = key;
    if ((rc = mts_session_put_dc(s, &dc)) != 0)
        goto fail;
    for (int i = 1; i <= 40 && rc == 0; i++) {
        p.kind = (mts_peer_kind)(i % 3);
        p.id = i;
        p.username = i % 2 ? "someone" : NULL;
        p.phone = i % 5 == 0 ? "+100" : NULL;
        rc = mts_session_put_peer(s, &p, NULL);
        if (rc == 0)
            rc = mts_session_set_channel_pts(s, i, i);
    }
    if (rc == 0)
        rc = mts_session_put_min_peer(s, &mp);
    if (rc == 0)
        rc = mts_session_set_future_auth_token(s, key, 16);
    if (rc != 0)
        goto fail;
    *out = s;
    return 0;
fail:
    mts_session_free(s);
    return rc;
}

static int
sc_build_dup(void *ctx)
{
    mts_session *s, *d;
    int rc = build(&s);
    (void)ctx;
    if (rc != 0)
        return rc;
    rc = mts_session_dup(&d, s);
    if (rc == 0)
        mts_session_free(d);
    mts_session_free(s);
    return rc;
}

static int
sc_codec(void *ctx)
{
    mts_session *s, *back;
    uint8_t *bin;
    char *str;
    size_t n;
    int rc = build(&s);
    (void)ctx;
    if (rc != 0)
        return rc;
    rc = mts_encode(&bin, &n, s, NULL);
    if (rc == 0) {
        rc = mts_decode(&back, bin, n, NULL);
        if (rc == 0)
            mts_session_free(back);
        mts_free(bin);
    }
    if (rc == 0) {
        rc = mts_string_encode(&str, s, NULL);
        if (rc == 0) {
            rc = mts_string_decode(&back, str, strlen(str), NULL);
            if (rc == 0)
                mts_session_free(back);
            mts_free(str);
        }
    }
    mts_session_free(s);
    return rc;
}

static int
sc_v1(void *ctx)
{
    const unsigned char *data = ctx;
    mts_session *s;
    int rc = mts_decode(&s, data, 342, NULL);
    if (rc == 0)
        mts_session_free(s);
    return rc;
}

static int
sc_convert(void *ctx)
{
    mts_session *s, *back;
    uint8_t *out;
    size_t n;
    mts_format f;
    int rc = build(&s);
    (void)ctx;
    if (rc != 0)
        return rc;
    rc = mts_format_encode(&out, &n, MTS_FORMAT_MTSESSION_STRING, s, NULL,
                           NULL, NULL);
    if (rc == 0) {
        rc = mts_format_detect(&f, out, n, NULL);
        if (rc == 0)
            rc = mts_format_decode(&back, f, out, n, NULL);
        if (rc == 0)
            mts_session_free(back);
        mts_free(out);
    }
    mts_session_free(s);
    return rc;
}

static int
storage_ops(mts_storage *st)
{
    mts_session *s, *back;
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    mts_peer p = MTS_PEER_INIT;
    int rc = build(&s);
    if (rc != 0)
        return rc;
    rc = mts_storage_save(st, s, NULL);
    if (rc == 0) {
        c.kind = MTS_UPDATE_CHANNEL;
        c.channel_id = 999;
        c.channel_pts = 1;
        rc = mts_storage_apply_update_state(st, &c, NULL);
    }
    if (rc == 0) {
        p.id = 12345;
        p.username = "late";
        rc = mts_storage_cache_peer(st, &p, NULL);
    }
    if (rc == 0)
        rc = mts_storage_set_home_dc(st, 4, NULL);
    if (rc == 0) {
        rc = mts_storage_load(&back, st, NULL);
        if (rc == 0)
            mts_session_free(back);
    }
    mts_session_free(s);
    return rc;
}

static int
sc_memory(void *ctx)
{
    mts_storage *st;
    int rc = mts_memory_open(&st, NULL);
    (void)ctx;
    if (rc != 0)
        return rc;
    rc = storage_ops(st);
    mts_storage_free(st);
    return rc;
}

static int
sc_string(void *ctx)
{
    mts_storage *st;
    int rc = mts_string_open(&st, NULL, NULL);
    (void)ctx;
    if (rc != 0)
        return rc;
    rc = storage_ops(st);
    mts_storage_free(st);
    return rc;
}

static void
test_oom_model(void)
{
    loop("build+dup", sc_build_dup, NULL);
}

static void
test_oom_codec(void)
{
    size_t len;
    unsigned char *v1 = fx_read("data/mtsession/v1/two_dcs.bin", &len);
    T_EQ_U64(len, 342);
    loop("encode/decode", sc_codec, NULL);
    loop("v1 decode", sc_v1, v1);
    loop("convert", sc_convert, NULL);
    free(v1);
}

static void
test_oom_backends(void)
{
    loop("memory backend", sc_memory, NULL);
    loop("string backend", sc_string, NULL);
}

static void
test_allocator_checks(void)
{
    mts_allocator bad = fa_failing;
    bad.malloc = NULL;
    T_EQ_INT(mts_set_allocator(&bad), MTS_EINVAL);
    T_EQ_INT(mts_set_allocator(NULL), 0);
}

T_MAIN(T_CASE(test_oom_model), T_CASE(test_oom_codec),
       T_CASE(test_oom_backends), T_CASE(test_allocator_checks))
