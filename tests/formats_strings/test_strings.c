/*
 * test_strings.c - the other libraries' one-line session strings:
 * telethon-string, pyrogram-string, gramjs-string, mtcute-string.
 *
 * Golden vectors (tests/data/formats/<format>/, written by the real
 * libraries; see each directory's PROVENANCE) are read with exact field
 * checks and, where the format is canonical, written back byte for byte.
 * Then detection, the diagnoses for a string given to the wrong decoder,
 * damaged strings (every truncation, every character), crafted field
 * errors, model -> format -> model round trips, the drop warnings,
 * encoder refusals and allocation failures.
 */
#include <limits.h>

#include "fixtures.h"
#include "internal.h"
#include "t.h"

static uint8_t key_a[256], key_b[256], key_c[256];

/* Filled before main so that any single case can run alone. */
__attribute__((constructor)) static void
init_keys(void)
{
    for (int i = 0; i < 256; i++) {
        key_a[i] = (uint8_t)i;
        key_b[i] = (uint8_t)(255 - i);
        key_c[i] = (uint8_t)(i * 7 + 3);
    }
}

/* A vector file (with its trailing newline); caller frees. */
static char *
vec(const char *dir, const char *name, size_t *len)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "data/formats/%s/%s.txt", dir, name);
    return (char *)fx_read(rel, len);
}

/* Decode `len` bytes as fmt through the public API; NULL on failure. */
static mts_session *
dec(mts_format fmt, const char *text, size_t len, int *rc, mts_error *err)
{
    mts_session *s = NULL;
    *rc = mts_format_decode(&s, fmt, (const uint8_t *)text, len, err);
    return *rc == 0 ? s : NULL;
}

static mts_session *
dec_vec(mts_format fmt, const char *dir, const char *name)
{
    size_t len;
    char *t = vec(dir, name, &len);
    mts_error err = MTS_ERROR_INIT;
    int rc;
    mts_session *s = dec(fmt, t, len, &rc, &err);
    if (rc != 0)
        t_fail(__FILE__, __LINE__, "%s/%s: %s: %s", dir, name,
               mts_errname(rc), err.message);
    free(t);
    return s;
}

/* What a decoded vector must hold, field by field. */
typedef struct expect {
    int32_t dc;
    const char *ip;
    uint16_t port;
    const uint8_t *key;
    int test;
    int has_api;
    int32_t api;
    int has_user;
    int64_t uid;
    int bot;
    const char *media_ip; /* NULL: one DC entry */
    uint16_t media_port;
} expect;

static void
check_dc(const mts_dc *dc, int32_t id, const char *ip, uint16_t port,
         unsigned flags, const uint8_t *key)
{
    mts_ip want;
    T_EQ_INT(mts_ip_parse(&want, ip), 0);
    T_EQ_INT(dc->dc_id, id);
    T_EQ_INT(dc->ip.family, want.family);
    T_EQ_MEM(dc->ip.bytes, want.bytes, 16);
    T_EQ_INT(dc->port, port);
    T_EQ_U64(dc->flags, flags);
    T_EQ_INT(dc->server_salt, 0);
    T_EQ_INT(dc->time_offset, 0);
    if (key == NULL) {
        T_CHECK(dc->auth_key == NULL);
    } else {
        T_CHECK(dc->auth_key != NULL);
        if (dc->auth_key != NULL)
            T_EQ_MEM(dc->auth_key, key, 256);
    }
}

static void
check_session(const mts_session *s, const expect *e)
{
    mts_dc dc;
    mts_update_state st;
    int32_t api = 0;
    int64_t uid = 0;
    int bot = -1;
    const uint8_t *tok;
    size_t toklen;
    unsigned v6;
    if (s == NULL) {
        t_fail(__FILE__, __LINE__, "no session");
        return;
    }
    v6 = strchr(e->ip, ':') ? (unsigned)MTS_DC_IPV6 : 0u;
    T_EQ_INT(mts_session_home_dc(s), e->dc);
    T_EQ_INT(mts_session_dc_count(s), e->media_ip ? 2 : 1);
    T_EQ_INT(mts_session_dc_for(&dc, s, e->dc, 0), 0);
    check_dc(&dc, e->dc, e->ip, e->port, v6, e->key);
    if (e->media_ip != NULL) {
        size_t i = 0;
        unsigned mv6 = strchr(e->media_ip, ':') ? (unsigned)MTS_DC_IPV6 : 0u;
        for (; i < 2; i++) {
            T_EQ_INT(mts_session_dc_at(&dc, s, i), 0);
            if (dc.flags & MTS_DC_MEDIA_ONLY)
                break;
        }
        T_CHECK(i < 2);
        check_dc(&dc, e->dc, e->media_ip, e->media_port,
                 MTS_DC_MEDIA_ONLY | mv6, NULL);
    }
    T_EQ_INT(mts_session_test_mode(s), e->test);
    T_EQ_INT(mts_session_api_id(s, &api), e->has_api ? 0 : MTS_ENOTFOUND);
    if (e->has_api)
        T_EQ_INT(api, e->api);
    T_EQ_INT(mts_session_user(s, &uid, &bot),
             e->has_user ? 0 : MTS_ENOTFOUND);
    if (e->has_user) {
        T_EQ_INT(uid, e->uid);
        T_EQ_INT(bot, e->bot);
    }
    T_EQ_INT(mts_session_future_auth_token(s, &tok, &toklen), MTS_ENOTFOUND);
    mts_session_update_state(s, &st);
    T_EQ_INT(st.pts | st.qts | st.date | st.seq, 0);
    T_EQ_INT(mts_session_channel_count(s), 0);
    T_EQ_INT(mts_session_peer_count(s), 0);
    T_EQ_INT(mts_session_min_peer_count(s), 0);
}

/* Encode s as fmt; NULL on failure (rc in *rc). Warnings collected. */
typedef struct warns {
    char list[16][160];
    size_t n;
} warns;

static void
collect(const char *what, void *payload)
{
    warns *w = payload;
    if (w->n < 16)
        snprintf(w->list[w->n++], sizeof(w->list[0]), "%s", what);
}

static char *
enc(mts_format fmt, const mts_session *s, int *rc, mts_error *err, warns *w)
{
    uint8_t *out = NULL;
    size_t n = 0;
    *rc = mts_format_encode(&out, &n, fmt, s, w ? collect : NULL, w, err);
    if (*rc != 0)
        return NULL;
    T_EQ_U64(strlen((char *)out), n);
    T_CHECK(n > 0 && out[n - 1] == '\n');
    return (char *)out;
}

/* The vector decodes to e and, when canonical, encodes back to itself. */
static void
golden(mts_format fmt, const char *name, const expect *e, int canonical)
{
    const char *dir = mts_format_name(fmt);
    mts_session *s = dec_vec(fmt, dir, name);
    size_t len;
    char *want = vec(dir, name, &len);
    check_session(s, e);
    if (s != NULL && canonical) {
        mts_error err = MTS_ERROR_INIT;
        warns w = { .n = 0 };
        int rc;
        char *got = enc(fmt, s, &rc, &err, &w);
        T_EQ_INT(rc, 0);
        T_EQ_INT(w.n, 0);
        if (got != NULL)
            T_EQ_STR(got, want);
        mts_free(got);
    }
    mts_session_free(s);
    free(want);
}

/* A session built through the setters from an expectation. */
static mts_session *
build(const expect *e)
{
    mts_session *s;
    mts_dc dc = MTS_DC_INIT;
    T_EQ_INT(mts_session_new(&s, MTS_NEW_EMPTY), 0);
    dc.dc_id = e->dc;
    T_EQ_INT(mts_ip_parse(&dc.ip, e->ip), 0);
    dc.flags = dc.ip.family == 6 ? MTS_DC_IPV6 : 0;
    dc.port = e->port;
    dc.auth_key = e->key;
    T_EQ_INT(mts_session_put_dc(s, &dc), 0);
    if (e->media_ip != NULL) {
        mts_dc m = MTS_DC_INIT;
        m.dc_id = e->dc;
        T_EQ_INT(mts_ip_parse(&m.ip, e->media_ip), 0);
        m.flags = MTS_DC_MEDIA_ONLY | (m.ip.family == 6 ? MTS_DC_IPV6 : 0);
        m.port = e->media_port;
        T_EQ_INT(mts_session_put_dc(s, &m), 0);
    }
    T_EQ_INT(mts_session_set_home_dc(s, e->dc), 0);
    mts_session_set_test_mode(s, e->test);
    if (e->has_api)
        mts_session_set_api_id(s, 1, e->api);
    if (e->has_user)
        T_EQ_INT(mts_session_set_user(s, e->uid, e->bot), 0);
    return s;
}

/* Writing the hand-built model gives the real library's exact string. */
static void
golden_write(mts_format fmt, const char *name, const expect *e)
{
    mts_session *s = build(e);
    size_t len;
    char *want = vec(mts_format_name(fmt), name, &len);
    mts_error err = MTS_ERROR_INIT;
    warns w = { .n = 0 };
    int rc;
    char *got = enc(fmt, s, &rc, &err, &w);
    T_EQ_INT(rc, 0);
    T_EQ_INT(w.n, 0);
    if (got != NULL)
        T_EQ_STR(got, want);
    else
        t_fail(__FILE__, __LINE__, "%s: %s", name, err.message);
    mts_free(got);
    free(want);
    mts_session_free(s);
}

/* ---- golden vectors ---------------------------------------------------- */

static const expect tl_ipv4 = { 2, "149.154.167.51", 443, key_a, 0, 0, 0,
                                0, 0, 0, NULL, 0 };
static const expect tl_ipv6 = { 4, "2001:67c:4e8:f004::a", 443, key_b, 0,
                                0, 0, 0, 0, 0, NULL, 0 };
static const expect tl_port80 = { 3, "149.154.175.100", 80, key_b, 0, 0, 0,
                                  0, 0, 0, NULL, 0 };

static void
test_telethon_golden(void)
{
    golden(MTS_FORMAT_TELETHON_STRING, "ipv4", &tl_ipv4, 1);
    golden(MTS_FORMAT_TELETHON_STRING, "ipv6", &tl_ipv6, 1);
    golden(MTS_FORMAT_TELETHON_STRING, "ipv4_port80", &tl_port80, 1);
    golden_write(MTS_FORMAT_TELETHON_STRING, "ipv4", &tl_ipv4);
    golden_write(MTS_FORMAT_TELETHON_STRING, "ipv6", &tl_ipv6);
    golden_write(MTS_FORMAT_TELETHON_STRING, "ipv4_port80", &tl_port80);
}

static const expect gj_ipv4 = { 2, "149.154.167.51", 443, key_a, 0, 0, 0,
                                0, 0, 0, NULL, 0 };
static const expect gj_short = { 5, "91.108.56.130", 443, key_b, 0, 0, 0,
                                 0, 0, 0, NULL, 0 };
static const expect gj_ipv6 = { 1, "2001:b28:f23d:f001::a", 443, key_a, 0,
                                0, 0, 0, 0, 0, NULL, 0 };
static const expect gj_port80 = { 3, "149.154.175.100", 80, key_b, 0, 0, 0,
                                  0, 0, 0, NULL, 0 };

static void
test_gramjs_golden(void)
{
    golden(MTS_FORMAT_GRAMJS_STRING, "ipv4", &gj_ipv4, 1);
    golden(MTS_FORMAT_GRAMJS_STRING, "ipv4_short", &gj_short, 1);
    golden(MTS_FORMAT_GRAMJS_STRING, "ipv6", &gj_ipv6, 1);
    golden(MTS_FORMAT_GRAMJS_STRING, "ipv4_port80", &gj_port80, 1);
    golden_write(MTS_FORMAT_GRAMJS_STRING, "ipv4", &gj_ipv4);
    golden_write(MTS_FORMAT_GRAMJS_STRING, "ipv6", &gj_ipv6);
}

/* GramJS reads Telethon strings; so does our gramjs-string reader. */
static void
test_gramjs_reads_telethon(void)
{
    static const char *names[] = { "ipv4", "ipv6", "ipv4_port80" };
    for (size_t i = 0; i < 3; i++) {
        mts_session *a = dec_vec(MTS_FORMAT_TELETHON_STRING,
                                 "telethon-string", names[i]);
        mts_session *b = dec_vec(MTS_FORMAT_GRAMJS_STRING, "telethon-string",
                                 names[i]);
        T_CHECK(a != NULL && b != NULL && mts_session_equal(a, b));
        mts_session_free(a);
        mts_session_free(b);
    }
}

static const expect mc_basic = { 2, "149.154.167.50", 443, key_a, 0, 0, 0,
                                 0, 0, 0, NULL, 0 };
static const expect mc_media_self = { 2, "149.154.167.50", 443, key_a, 0,
                                      0, 0, 1, 123456789, 0,
                                      "149.154.167.222", 443 };
static const expect mc_v6_bot = { 1, "2001:b28:f23d:f001::e", 443, key_b, 1,
                                  0, 0, 1, 5000801609LL, 1, NULL, 0 };
static const expect mc_test_media = { 3, "149.154.175.117", 80, key_b, 1,
                                      0, 0, 0, 0, 0, "149.154.175.117",
                                      443 };

static void
test_mtcute_golden(void)
{
    golden(MTS_FORMAT_MTCUTE_STRING, "basic", &mc_basic, 1);
    golden(MTS_FORMAT_MTCUTE_STRING, "media_self", &mc_media_self, 1);
    golden(MTS_FORMAT_MTCUTE_STRING, "ipv6_test_bot", &mc_v6_bot, 1);
    golden(MTS_FORMAT_MTCUTE_STRING, "test_media_port80", &mc_test_media, 1);
    golden_write(MTS_FORMAT_MTCUTE_STRING, "basic", &mc_basic);
    golden_write(MTS_FORMAT_MTCUTE_STRING, "media_self", &mc_media_self);
    golden_write(MTS_FORMAT_MTCUTE_STRING, "ipv6_test_bot", &mc_v6_bot);
    golden_write(MTS_FORMAT_MTCUTE_STRING, "test_media_port80",
                 &mc_test_media);
}

static void
test_mtcute_legacy_versions(void)
{
    static const char *names[] = { "legacy_v1", "legacy_v2" };
    for (int i = 0; i < 2; i++) {
        size_t len;
        char *t = vec("mtcute-string", names[i], &len);
        char want[64];
        mts_error err = MTS_ERROR_INIT;
        mts_format f;
        int rc;
        T_CHECK(dec(MTS_FORMAT_MTCUTE_STRING, t, len, &rc, &err) == NULL);
        T_EQ_INT(rc, MTS_EVERSION);
        snprintf(want, sizeof(want),
                 "mtcute session string version %d is not supported (only "
                 "3)",
                 i + 1);
        T_CONTAINS(err.message, want);
        /* Detection still names the format, so the user gets the reason. */
        T_EQ_INT(mts_format_detect(&f, (uint8_t *)t, len, NULL), 0);
        T_EQ_INT(f, MTS_FORMAT_MTCUTE_STRING);
        free(t);
    }
}

static const expect py_new = { 2, "149.154.167.51", 443, key_a, 0, 1, 12345,
                               1, 123456789, 0, NULL, 0 };
static const expect py_test_bot = { 1, "149.154.175.10", 443, key_b, 1, 1,
                                    2040, 1, 5000801609LL, 1, NULL, 0 };
static const expect py_no_user = { 4, "149.154.167.91", 443, key_b, 0, 1,
                                   611335, 0, 0, 0, NULL, 0 };
static const expect py_old32 = { 4, "149.154.167.91", 443, key_a, 0, 0, 0,
                                 1, 123456789, 0, NULL, 0 };
static const expect py_old64 = { 5, "91.108.56.130", 443, key_b, 0, 0, 0, 1,
                                 5000801609LL, 1, NULL, 0 };

static void
test_pyrogram_golden(void)
{
    static const char *old[] = { "old32", "old64" };
    golden(MTS_FORMAT_PYROGRAM_STRING, "new", &py_new, 1);
    golden(MTS_FORMAT_PYROGRAM_STRING, "new_test_bot", &py_test_bot, 1);
    golden(MTS_FORMAT_PYROGRAM_STRING, "new_no_user", &py_no_user, 1);
    golden(MTS_FORMAT_PYROGRAM_STRING, "old32", &py_old32, 0);
    golden(MTS_FORMAT_PYROGRAM_STRING, "old64", &py_old64, 0);
    golden_write(MTS_FORMAT_PYROGRAM_STRING, "new", &py_new);
    golden_write(MTS_FORMAT_PYROGRAM_STRING, "new_test_bot", &py_test_bot);
    golden_write(MTS_FORMAT_PYROGRAM_STRING, "new_no_user", &py_no_user);
    /* Old layouts are written in the current one, keeping every field. */
    for (int i = 0; i < 2; i++) {
        mts_session *a = dec_vec(MTS_FORMAT_PYROGRAM_STRING,
                                 "pyrogram-string", old[i]);
        mts_error err = MTS_ERROR_INIT;
        int rc;
        char *t = a ? enc(MTS_FORMAT_PYROGRAM_STRING, a, &rc, &err, NULL)
                    : NULL;
        mts_session *b = t ? dec(MTS_FORMAT_PYROGRAM_STRING, t, strlen(t),
                                 &rc, &err)
                           : NULL;
        T_CHECK(t != NULL && strlen(t) == 363);
        T_CHECK(b != NULL && mts_session_equal(a, b));
        mts_free(t);
        mts_session_free(a);
        mts_session_free(b);
    }
}

/* ---- detection and diagnosis ------------------------------------------ */

static const struct {
    mts_format fmt;
    const char *name;
} all_vectors[] = {
    { MTS_FORMAT_TELETHON_STRING, "ipv4" },
    { MTS_FORMAT_TELETHON_STRING, "ipv6" },
    { MTS_FORMAT_TELETHON_STRING, "ipv4_port80" },
    { MTS_FORMAT_GRAMJS_STRING, "ipv4" },
    { MTS_FORMAT_GRAMJS_STRING, "ipv4_short" },
    { MTS_FORMAT_GRAMJS_STRING, "ipv6" },
    { MTS_FORMAT_GRAMJS_STRING, "ipv4_port80" },
    { MTS_FORMAT_MTCUTE_STRING, "basic" },
    { MTS_FORMAT_MTCUTE_STRING, "media_self" },
    { MTS_FORMAT_MTCUTE_STRING, "ipv6_test_bot" },
    { MTS_FORMAT_MTCUTE_STRING, "test_media_port80" },
    { MTS_FORMAT_PYROGRAM_STRING, "new" },
    { MTS_FORMAT_PYROGRAM_STRING, "new_test_bot" },
    { MTS_FORMAT_PYROGRAM_STRING, "new_no_user" },
    { MTS_FORMAT_PYROGRAM_STRING, "old32" },
    { MTS_FORMAT_PYROGRAM_STRING, "old64" },
};

static void
test_detect(void)
{
    for (size_t i = 0; i < MTS__ARRAY_LEN(all_vectors); i++) {
        size_t len;
        char *t = vec(mts_format_name(all_vectors[i].fmt),
                      all_vectors[i].name, &len);
        mts_error err = MTS_ERROR_INIT;
        mts_format f = MTS_FORMAT_UNKNOWN;
        int rc = mts_format_detect(&f, (uint8_t *)t, len, &err);
        if (rc != 0 || f != all_vectors[i].fmt)
            t_fail(__FILE__, __LINE__, "%s/%s detected as %s: %s",
                   mts_format_name(all_vectors[i].fmt), all_vectors[i].name,
                   mts_format_name(f), err.message);
        /* Each of our probes accepts only its own format's vectors. */
        T_EQ_INT(mts__fmt_telethon_string.probe((uint8_t *)t, len),
                 all_vectors[i].fmt == MTS_FORMAT_TELETHON_STRING);
        T_EQ_INT(mts__fmt_gramjs_string.probe((uint8_t *)t, len),
                 all_vectors[i].fmt == MTS_FORMAT_GRAMJS_STRING);
        T_EQ_INT(mts__fmt_mtcute_string.probe((uint8_t *)t, len),
                 all_vectors[i].fmt == MTS_FORMAT_MTCUTE_STRING);
        T_EQ_INT(mts__fmt_pyrogram_string.probe((uint8_t *)t, len),
                 all_vectors[i].fmt == MTS_FORMAT_PYROGRAM_STRING);
        free(t);
    }
    {
        /* Caps: read, write, one-line text. */
        mts_format f[] = { MTS_FORMAT_TELETHON_STRING,
                           MTS_FORMAT_PYROGRAM_STRING,
                           MTS_FORMAT_GRAMJS_STRING,
                           MTS_FORMAT_MTCUTE_STRING };
        for (size_t i = 0; i < 4; i++)
            T_EQ_U64(mts_format_caps(f[i]), MTS_FORMAT_CAN_READ |
                                                MTS_FORMAT_CAN_WRITE |
                                                MTS_FORMAT_IS_TEXT);
    }
}

/* Decode `dir/name` with `fmt` directly (the format's own decoder) and
 * through the public API; both must refuse with EFORMAT. */
static void
wrong_decoder(mts_format fmt, const char *dir, const char *name,
              const char *own_msg, const char *api_msg)
{
    const mts__format_ops *ops[] = { &mts__fmt_telethon_string,
                                     &mts__fmt_pyrogram_string,
                                     &mts__fmt_gramjs_string,
                                     &mts__fmt_mtcute_string };
    size_t len;
    char *t = vec(dir, name, &len);
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = NULL;
    int rc;
    for (size_t i = 0; i < 4; i++) {
        if (ops[i]->fmt != fmt)
            continue;
        rc = ops[i]->decode(&s, (uint8_t *)t, len, &err);
        T_EQ_INT(rc, MTS_EFORMAT);
        T_CONTAINS(err.message, own_msg);
    }
    mts_error_clear(&err);
    T_CHECK(dec(fmt, t, len, &rc, &err) == NULL);
    T_EQ_INT(rc, MTS_EFORMAT);
    T_CONTAINS(err.message, api_msg);
    free(t);
}

static void
test_diagnosis(void)
{
    wrong_decoder(MTS_FORMAT_PYROGRAM_STRING, "telethon-string", "ipv4",
                  "this is a Telethon string (telethon-string), not a "
                  "Pyrogram one",
                  "telethon-string");
    wrong_decoder(MTS_FORMAT_TELETHON_STRING, "pyrogram-string", "new",
                  "this is a Pyrogram string (pyrogram-string), not a "
                  "Telethon one",
                  "pyrogram-string");
    /* 369 characters like a Telethon IPv6 string, but GramJS's layout. */
    wrong_decoder(MTS_FORMAT_TELETHON_STRING, "gramjs-string", "ipv4",
                  "this is a GramJS string", "gramjs-string");
    wrong_decoder(MTS_FORMAT_TELETHON_STRING, "gramjs-string", "ipv4_port80",
                  "this is a GramJS string", "gramjs-string");
    wrong_decoder(MTS_FORMAT_MTCUTE_STRING, "gramjs-string", "ipv4",
                  "not an mtcute one", "gramjs-string");
    wrong_decoder(MTS_FORMAT_PYROGRAM_STRING, "mtcute-string", "basic",
                  "this is an mtcute string", "mtcute-string");
    wrong_decoder(MTS_FORMAT_GRAMJS_STRING, "pyrogram-string", "old32",
                  "this is a Pyrogram string", "pyrogram-string");
    wrong_decoder(MTS_FORMAT_MTCUTE_STRING, "pyrogram-string",
                  "new_test_bot", "this is a Pyrogram string",
                  "pyrogram-string");
    {
        /* Damaged Telethon string: no probe fits, the shape still tells. */
        size_t len;
        char *t = vec("telethon-string", "ipv4", &len);
        mts_error err = MTS_ERROR_INIT;
        int rc;
        mts_format f;
        t[100] = '*';
        T_EQ_INT(mts_format_detect(&f, (uint8_t *)t, len, NULL),
                 MTS_EFORMAT);
        T_CHECK(dec(MTS_FORMAT_PYROGRAM_STRING, t, len, &rc, &err) == NULL);
        T_EQ_INT(rc, MTS_EFORMAT);
        T_CONTAINS(err.message, "looks like a Telethon or GramJS string");
        T_CHECK(dec(MTS_FORMAT_TELETHON_STRING, t, len, &rc, &err) == NULL);
        T_EQ_INT(rc, MTS_ECORRUPT);
        T_EQ_INT(err.offset, 100);
        free(t);
    }
    {
        mts_error err = MTS_ERROR_INIT;
        int rc;
        T_CHECK(dec(MTS_FORMAT_TELETHON_STRING, "hello", 5, &rc, &err) ==
                NULL);
        T_EQ_INT(rc, MTS_EFORMAT);
        T_CHECK(dec(MTS_FORMAT_PYROGRAM_STRING, "hello", 5, &rc, &err) ==
                NULL);
        T_EQ_INT(rc, MTS_EFORMAT);
        T_CONTAINS(err.message, "362 characters");
        T_CHECK(dec(MTS_FORMAT_GRAMJS_STRING, " \n", 2, &rc, &err) == NULL);
        T_EQ_INT(rc, MTS_EFORMAT);
        T_CHECK(dec(MTS_FORMAT_MTCUTE_STRING, "", 0, &rc, &err) == NULL);
        T_CHECK(rc != 0);
    }
}

/* ---- damage ------------------------------------------------------------- */

static void
test_truncations(void)
{
    for (size_t i = 0; i < MTS__ARRAY_LEN(all_vectors); i++) {
        size_t len;
        char *t = vec(mts_format_name(all_vectors[i].fmt),
                      all_vectors[i].name, &len);
        len--; /* the newline */
        for (size_t k = 0; k < len; k++) {
            mts_error err = MTS_ERROR_INIT;
            int rc;
            mts_session *s = dec(all_vectors[i].fmt, t, k, &rc, &err);
            if (all_vectors[i].fmt == MTS_FORMAT_PYROGRAM_STRING &&
                (k == 351 || k == 356) && s != NULL) {
                /* Pyrogram tells its layouts apart by length alone: a
                 * current string cut to an old length is an old string
                 * (to Pyrogram too), with other values. */
                mts_session *full = dec(all_vectors[i].fmt, t, len, &rc,
                                        &err);
                T_CHECK(full != NULL && !mts_session_equal(s, full));
                mts_session_free(full);
                mts_session_free(s);
                continue;
            }
            if (s != NULL || (rc != MTS_ECORRUPT && rc != MTS_EFORMAT))
                t_fail(__FILE__, __LINE__, "%s/%s cut to %zu: %s",
                       mts_format_name(all_vectors[i].fmt),
                       all_vectors[i].name, k, mts_errname(rc));
            mts_session_free(s);
        }
        free(t);
    }
}

/* Every character replaced by one outside the alphabet fails at that
 * character; replaced by another base64 character it never crashes. */
static void
test_every_character(void)
{
    static const char subs[] = "A_-+/=9";
    for (size_t i = 0; i < MTS__ARRAY_LEN(all_vectors); i++) {
        size_t len;
        char *t = vec(mts_format_name(all_vectors[i].fmt),
                      all_vectors[i].name, &len);
        len--;
        for (size_t k = 0; k < len; k++) {
            char save = t[k];
            mts_error err = MTS_ERROR_INIT;
            int rc;
            mts_session *s;
            t[k] = '*';
            s = dec(all_vectors[i].fmt, t, len, &rc, &err);
            T_CHECK(s == NULL);
            /* Padding before the replaced last character is reported
             * first, at its own place. */
            if (rc == MTS_ECORRUPT && err.offset != (int64_t)k &&
                !(k > 0 && t[k - 1] == '=' && err.offset == (int64_t)k - 1))
                t_fail(__FILE__, __LINE__, "%s/%s: '*' at %zu reported at "
                                           "%lld: %s",
                       mts_format_name(all_vectors[i].fmt),
                       all_vectors[i].name, k, (long long)err.offset,
                       err.message);
            T_CHECK(rc == MTS_ECORRUPT || rc == MTS_EFORMAT);
            mts_session_free(s);
            for (const char *c = subs; *c; c++) {
                t[k] = *c;
                s = dec(all_vectors[i].fmt, t, len, &rc, &err);
                T_CHECK((s != NULL) == (rc == 0));
                mts_session_free(s);
            }
            t[k] = save;
        }
        free(t);
    }
}

static void
test_whitespace_and_offsets(void)
{
    size_t len;
    char *t = vec("pyrogram-string", "new", &len);
    char buf[512];
    mts_error err = MTS_ERROR_INIT;
    int rc;
    mts_session *s;
    snprintf(buf, sizeof(buf), " \t\r\n%s\n\n", t);
    s = dec(MTS_FORMAT_PYROGRAM_STRING, buf, strlen(buf), &rc, &err);
    check_session(s, &py_new);
    mts_session_free(s);
    buf[4 + 10] = '.';
    T_CHECK(dec(MTS_FORMAT_PYROGRAM_STRING, buf, strlen(buf), &rc, &err) ==
            NULL);
    T_EQ_INT(rc, MTS_ECORRUPT);
    T_EQ_INT(err.offset, 14); /* offsets are in the input as given */
    free(t);
}

/* ---- crafted payloads ---------------------------------------------------- */

/* `prefix` + base64 (URL-safe or standard, padded or not) of raw. */
static char *
b64(const char *prefix, const uint8_t *raw, size_t n, int url, int pad)
{
    char *u, *out;
    size_t ulen, plen = strlen(prefix), o;
    T_EQ_INT(mts_base64url_encode(&u, raw, n), 0);
    ulen = strlen(u);
    out = malloc(plen + ulen + 4);
    memcpy(out, prefix, plen);
    for (size_t i = 0; i < ulen; i++)
        out[plen + i] = url ? u[i]
                            : (u[i] == '-' ? '+' : u[i] == '_' ? '/' : u[i]);
    o = plen + ulen;
    while (pad && (o - plen) % 4 != 0)
        out[o++] = '=';
    out[o] = '\0';
    mts_free(u);
    return out;
}

static int
try_dec(mts_format fmt, const char *text, mts_error *err)
{
    int rc;
    mts_session *s;
    mts_error_clear(err);
    s = dec(fmt, text, strlen(text), &rc, err);
    mts_session_free(s);
    return rc;
}

static void
telethon_payload(uint8_t *raw, uint8_t dc, uint16_t port,
                 const uint8_t *key)
{
    raw[0] = dc;
    raw[1] = 149;
    raw[2] = 154;
    raw[3] = 167;
    raw[4] = 51;
    raw[5] = (uint8_t)(port >> 8);
    raw[6] = (uint8_t)port;
    memcpy(raw + 7, key, 256);
}

static void
test_telethon_fields(void)
{
    uint8_t raw[263], zero[256] = { 0 };
    mts_error err;
    char *t;
    telethon_payload(raw, 0, 443, key_a);
    t = b64("1", raw, 263, 1, 1);
    T_EQ_INT(try_dec(MTS_FORMAT_TELETHON_STRING, t, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "dc_id");
    T_EQ_INT(err.offset, 1);
    free(t);
    telethon_payload(raw, 2, 0, key_a);
    t = b64("1", raw, 263, 1, 1);
    T_EQ_INT(try_dec(MTS_FORMAT_TELETHON_STRING, t, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "port");
    free(t);
    telethon_payload(raw, 2, 443, zero);
    t = b64("1", raw, 263, 1, 1);
    T_EQ_INT(try_dec(MTS_FORMAT_TELETHON_STRING, t, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "all zeros");
    free(t);
    /* Telethon's decoder also takes the standard alphabet. */
    telethon_payload(raw, 2, 443, key_a);
    t = b64("1", raw, 263, 0, 1);
    T_CHECK(strchr(t, '+') != NULL || strchr(t, '/') != NULL);
    T_EQ_INT(try_dec(MTS_FORMAT_TELETHON_STRING, t, &err), 0);
    /* ... but never both in one string. */
    {
        char *plus = strchr(t, '+') ? strchr(t, '+') : strchr(t, '/');
        char *u = b64("1", raw, 263, 1, 1);
        size_t at = (size_t)(plus - t);
        char *dash = strpbrk(u + at + 1, "-_");
        T_CHECK(dash != NULL);
        if (dash != NULL) {
            memcpy(u, t, at + 1); /* standard up to and with `plus` */
            T_EQ_INT(try_dec(MTS_FORMAT_TELETHON_STRING, u, &err),
                     MTS_ECORRUPT);
            T_CONTAINS(err.message, "mixes");
            T_EQ_INT(err.offset, dash - u);
        }
        free(u);
    }
    free(t);
    /* Missing padding. */
    t = b64("1", raw, 263, 1, 0);
    T_EQ_INT(try_dec(MTS_FORMAT_TELETHON_STRING, t, &err), MTS_ECORRUPT);
    free(t);
    /* The IPv4 length with a 264-byte payload (two '=' of padding). */
    {
        uint8_t big[264];
        memcpy(big, raw, 263);
        big[263] = 7;
        t = b64("1", big, 262, 1, 1);
        T_EQ_INT(strlen(t), 353);
        T_EQ_INT(try_dec(MTS_FORMAT_TELETHON_STRING, t, &err),
                 MTS_ECORRUPT);
        T_CONTAINS(err.message, "payload is 262 bytes");
        free(t);
    }
}

static void
pyro_payload(uint8_t *raw, uint8_t dc, uint32_t api, uint8_t test,
             uint64_t uid, uint8_t bot)
{
    raw[0] = dc;
    raw[1] = (uint8_t)(api >> 24);
    raw[2] = (uint8_t)(api >> 16);
    raw[3] = (uint8_t)(api >> 8);
    raw[4] = (uint8_t)api;
    raw[5] = test;
    memcpy(raw + 6, key_c, 256);
    for (int i = 0; i < 8; i++)
        raw[262 + i] = (uint8_t)(uid >> (56 - 8 * i));
    raw[270] = bot;
}

static void
test_pyrogram_fields(void)
{
    uint8_t raw[271];
    mts_error err;
    char *t;
    struct {
        uint8_t dc;
        uint32_t api;
        uint8_t test;
        uint64_t uid;
        uint8_t bot;
        const char *msg;
        int64_t offset;
    } bad[] = {
        { 2, 1, 2, 5, 0, "test_mode (payload byte 5) is 0x02", 6 },
        { 2, 1, 0, 5, 7, "is_bot (payload byte 270) is 0x07", 360 },
        { 0, 1, 0, 5, 0, "dc_id (payload byte 0) is 0", 0 },
        { 2, 0x80000000u, 0, 5, 0, "api_id 2147483648", 1 },
        { 2, 1, 0, 0x8000000000000000ull, 0, "user_id", 349 },
        { 2, 1, 0, 0, 1, "is_bot is set but user_id is 0", 360 },
        { 9, 1, 0, 5, 0, "dc_id 9 is not a production DC", 0 },
        { 4, 1, 1, 5, 0, "dc_id 4 is not a test DC", 0 },
    };
    for (size_t i = 0; i < MTS__ARRAY_LEN(bad); i++) {
        pyro_payload(raw, bad[i].dc, bad[i].api, bad[i].test, bad[i].uid,
                     bad[i].bot);
        t = b64("", raw, 271, 1, 0);
        T_EQ_INT(try_dec(MTS_FORMAT_PYROGRAM_STRING, t, &err),
                 MTS_ECORRUPT);
        T_CONTAINS(err.message, bad[i].msg);
        T_EQ_INT(err.offset, bad[i].offset);
        free(t);
    }
    /* Production DC 203: Pyrogram's own address for it. */
    pyro_payload(raw, 203, 1, 0, 5, 0);
    t = b64("", raw, 271, 1, 0);
    {
        int rc;
        mts_session *s = dec(MTS_FORMAT_PYROGRAM_STRING, t, strlen(t), &rc,
                             &err);
        mts_dc dc;
        T_EQ_INT(rc, 0);
        if (s != NULL) {
            T_EQ_INT(mts_session_dc_for(&dc, s, 203, 0), 0);
            check_dc(&dc, 203, "91.105.192.100", 443, 0, key_c);
        }
        mts_session_free(s);
    }
    free(t);
    /* Standard alphabet, padding: not Pyrogram's text. */
    pyro_payload(raw, 2, 1, 0, 5, 0);
    raw[6] = 0xfb; /* "+" or "/" somewhere early */
    raw[7] = 0xff;
    t = b64("", raw, 271, 0, 0);
    T_EQ_INT(try_dec(MTS_FORMAT_PYROGRAM_STRING, t, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "URL-safe alphabet");
    free(t);
    t = b64("", raw, 271, 1, 1);
    T_EQ_INT(try_dec(MTS_FORMAT_PYROGRAM_STRING, t, &err), MTS_EFORMAT);
    free(t);
    /* 364 characters (ferogram's compact length) is not Pyrogram. */
    {
        uint8_t r2[273] = { 2 };
        memcpy(r2 + 1, raw, 271);
        t = b64("", r2, 273, 1, 0);
        T_EQ_INT(strlen(t), 364);
        T_EQ_INT(mts__fmt_pyrogram_string.probe((uint8_t *)t, strlen(t)),
                 0);
        free(t);
    }
}

/* GramJS text layout: dc, u16 length, text, u16 port, key. */
static size_t
gj_payload(uint8_t *raw, uint8_t dc, const char *addr, size_t alen_field,
           uint16_t port, const uint8_t *key)
{
    size_t n = 0, alen = strlen(addr);
    raw[n++] = dc;
    raw[n++] = (uint8_t)(alen_field >> 8);
    raw[n++] = (uint8_t)alen_field;
    memcpy(raw + n, addr, alen);
    n += alen;
    raw[n++] = (uint8_t)(port >> 8);
    raw[n++] = (uint8_t)port;
    memcpy(raw + n, key, 256);
    return n + 256;
}

static void
test_gramjs_fields(void)
{
    uint8_t raw[400], zero[256] = { 0 };
    mts_error err;
    size_t n;
    char *t;
    struct {
        uint8_t dc;
        const char *addr;
        long alen; /* -1: the address's length */
        uint16_t port;
        int zero_key;
        const char *msg;
    } bad[] = {
        { 2, "149.154.167.51", -1, 40000, 0, "port 40000" },
        { 2, "149.154.167.5x", -1, 443, 0, "not an IP address" },
        { 2, "1.2.3.4", 0, 443, 0, "address length" },
        { 2, "1.2.3.4", 8, 443, 0, "with a 8-byte address" },
        { 2, "149.154.167.51", -1, 0, 0, "port (payload byte 17) is 0" },
        { 0, "149.154.167.51", -1, 443, 0, "dc_id" },
        { 2, "149.154.167.51", -1, 443, 1, "all zeros" },
        { 2, "1.2.3.\x01", -1, 443, 0, "not an IP address" },
    };
    for (size_t i = 0; i < MTS__ARRAY_LEN(bad); i++) {
        size_t alen = bad[i].alen < 0 ? strlen(bad[i].addr)
                                      : (size_t)bad[i].alen;
        n = gj_payload(raw, bad[i].dc, bad[i].addr, alen, bad[i].port,
                       bad[i].zero_key ? zero : key_a);
        t = b64("1", raw, n, 0, 1);
        T_EQ_INT(try_dec(MTS_FORMAT_GRAMJS_STRING, t, &err), MTS_ECORRUPT);
        T_CONTAINS(err.message, bad[i].msg);
        free(t);
    }
    /* Damaged GramJS (port out of range) of Telethon's IPv6 size: still
     * GramJS's shape, never reread as a Telethon IPv6 address. */
    n = gj_payload(raw, 2, "149.154.167.51", 14, 40000, key_a);
    T_EQ_INT(n, 275);
    t = b64("1", raw, n, 0, 1);
    T_EQ_INT(try_dec(MTS_FORMAT_TELETHON_STRING, t, &err), MTS_EFORMAT);
    T_CONTAINS(err.message, "GramJS");
    T_EQ_INT(mts__fmt_telethon_string.probe((uint8_t *)t, strlen(t)), 0);
    free(t);
    /* Longer than any GramJS or mtcute string: refused before decoding. */
    {
        static char big[3000];
        memset(big, 'A', sizeof(big) - 1);
        big[0] = '1';
        T_EQ_INT(try_dec(MTS_FORMAT_GRAMJS_STRING, big, &err), MTS_EFORMAT);
        T_CONTAINS(err.message, "too long");
        T_EQ_INT(try_dec(MTS_FORMAT_MTCUTE_STRING, big + 1, &err),
                 MTS_EFORMAT);
        T_CONTAINS(err.message, "too long");
    }
    /* Node's decoder takes the URL-safe alphabet, and so do we. */
    n = gj_payload(raw, 2, "2001:b28:f23d:f001::a", 21, 443, key_b);
    t = b64("1", raw, n, 1, 1);
    T_EQ_INT(try_dec(MTS_FORMAT_GRAMJS_STRING, t, &err), 0);
    free(t);
    /* Trailing bytes after the key. */
    n = gj_payload(raw, 2, "149.154.167.51", 14, 443, key_b);
    raw[n++] = 0;
    t = b64("1", raw, n, 0, 1);
    T_EQ_INT(try_dec(MTS_FORMAT_GRAMJS_STRING, t, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "truncated or extended");
    free(t);
}

/* A Telethon IPv6 string whose first address group is <= 100: GramJS
 * itself would take it for a text address; we read it as Telethon's. */
static void
test_gramjs_reads_low_ipv6(void)
{
    uint8_t raw[275];
    mts_error err = MTS_ERROR_INIT;
    mts_session *a, *b;
    mts_ip ip;
    char *t;
    int rc;
    T_EQ_INT(mts_ip_parse(&ip, "64::1"), 0);
    raw[0] = 3;
    memcpy(raw + 1, ip.bytes, 16);
    raw[17] = 0x01;
    raw[18] = 0xbb;
    memcpy(raw + 19, key_c, 256);
    t = b64("1", raw, 275, 1, 1);
    a = dec(MTS_FORMAT_TELETHON_STRING, t, strlen(t), &rc, &err);
    b = dec(MTS_FORMAT_GRAMJS_STRING, t, strlen(t), &rc, &err);
    T_CHECK(a != NULL && b != NULL && mts_session_equal(a, b));
    if (b != NULL) {
        mts_dc dc;
        T_EQ_INT(mts_session_dc_for(&dc, b, 3, 0), 0);
        check_dc(&dc, 3, "64::1", 443, MTS_DC_IPV6, key_c);
    }
    mts_session_free(a);
    mts_session_free(b);
    free(t);
}

/* mtcute payload builder. */
typedef struct mcb {
    uint8_t b[600];
    size_t n;
} mcb;

static void
mc_u8(mcb *m, uint8_t v)
{
    m->b[m->n++] = v;
}
static void
mc_u32(mcb *m, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        mc_u8(m, (uint8_t)(v >> (8 * i)));
}
static void
mc_bytes(mcb *m, const void *data, size_t len, uint8_t pad_byte)
{
    size_t head = len <= 253 ? 1 : 4;
    if (head == 1) {
        mc_u8(m, (uint8_t)len);
    } else {
        mc_u8(m, 0xfe);
        mc_u8(m, (uint8_t)len);
        mc_u8(m, (uint8_t)(len >> 8));
        mc_u8(m, (uint8_t)(len >> 16));
    }
    memcpy(m->b + m->n, data, len);
    m->n += len;
    while ((head + len++) % 4 != 0)
        mc_u8(m, pad_byte);
}

typedef struct mc_spec {
    uint8_t version;
    uint32_t flags;
    uint8_t opt_version, dc, opt_flags;
    const char *ip;
    uint32_t port;
    int media; /* a media option (flag 4 must be set by `flags`) */
    uint8_t media_flags;
    uint64_t uid;
    uint32_t boolv;
    size_t key_len;
    uint8_t pad_byte;
    int trailing;
} mc_spec;

static const mc_spec mc_good = { 3, 1, 2, 2, 0, "149.154.167.50", 443, 0, 2,
                                 77, 0xbc799737u, 256, 0, 0 };

static char *
mc_build(const mc_spec *sp)
{
    mcb m = { .n = 0 }, opt = { .n = 0 };
    mc_u8(&m, sp->version);
    mc_u32(&m, sp->flags);
    mc_u8(&opt, sp->opt_version);
    mc_u8(&opt, sp->dc);
    mc_u8(&opt, sp->opt_flags);
    mc_bytes(&opt, sp->ip, strlen(sp->ip), sp->pad_byte);
    mc_u32(&opt, sp->port);
    mc_bytes(&m, opt.b, opt.n, 0);
    if (sp->media) {
        mcb mo = { .n = 0 };
        mc_u8(&mo, 2);
        mc_u8(&mo, sp->dc);
        mc_u8(&mo, sp->media_flags);
        mc_bytes(&mo, "149.154.167.222", 15, 0);
        mc_u32(&mo, 443);
        mc_bytes(&m, mo.b, mo.n, 0);
    }
    if (sp->flags & 1) {
        mc_u32(&m, (uint32_t)sp->uid);
        mc_u32(&m, (uint32_t)(sp->uid >> 32));
        mc_u32(&m, sp->boolv);
    }
    {
        uint8_t k[300];
        for (size_t i = 0; i < sizeof(k); i++)
            k[i] = key_c[i % 256];
        mc_bytes(&m, k, sp->key_len, 0);
    }
    if (sp->trailing)
        mc_u8(&m, 0);
    return b64("", m.b, m.n, 1, 0);
}

static void
test_mtcute_fields(void)
{
    mts_error err;
    char *t = mc_build(&mc_good);
    struct {
        mc_spec sp;
        int rc;
        const char *msg;
    } bad[16];
    size_t nb = 0;
    T_EQ_INT(try_dec(MTS_FORMAT_MTCUTE_STRING, t, &err), 0);
    free(t);
#define BAD(field, value, code, text)                                         \
    do {                                                                      \
        bad[nb].sp = mc_good;                                                 \
        bad[nb].sp.field = value;                                             \
        bad[nb].rc = code;                                                    \
        bad[nb++].msg = text;                                                 \
    } while (0)
    BAD(trailing, 1, MTS_ECORRUPT, "unexpected bytes after the auth key");
    BAD(pad_byte, 9, MTS_ECORRUPT, "non-zero padding");
    BAD(boolv, 1, MTS_ECORRUPT, "not a TL Bool");
    BAD(flags, 1 | 8, MTS_ECORRUPT, "unknown flags 0x8");
    BAD(opt_flags, 8, MTS_ECORRUPT, "unknown option flags 0x08");
    BAD(opt_flags, 1, MTS_ECORRUPT, "ipv6 flag does not match");
    BAD(key_len, 255, MTS_ECORRUPT, "is 255 bytes, not 256");
    BAD(opt_version, 3, MTS_ECORRUPT, "option version 3");
    BAD(port, 0, MTS_ECORRUPT, "port 0");
    BAD(port, 70000, MTS_ECORRUPT, "port 70000");
    BAD(uid, 0, MTS_ECORRUPT, "self user id 0");
    BAD(uid, 1ull << 53, MTS_ECORRUPT, "is not 1..2^53-1");
    BAD(ip, "149.154.167", MTS_ECORRUPT, "is not an IP address");
    BAD(dc, 0, MTS_ECORRUPT, "dc_id");
    BAD(version, 4, MTS_EFORMAT, "version byte 4");
    BAD(flags, 1 | 4, MTS_ECORRUPT, "disagree on test mode");
#undef BAD
    bad[nb - 1].sp.media = 1;
    bad[nb - 1].sp.media_flags = 2 | 4; /* test on media only */
    for (size_t i = 0; i < nb; i++) {
        t = mc_build(&bad[i].sp);
        T_EQ_INT(try_dec(MTS_FORMAT_MTCUTE_STRING, t, &err), bad[i].rc);
        T_CONTAINS(err.message, bad[i].msg);
        free(t);
    }
    {
        /* Version 1 option in a v3 string: allowed, no test bit. */
        mc_spec sp = mc_good;
        sp.opt_version = 1;
        t = mc_build(&sp);
        T_EQ_INT(try_dec(MTS_FORMAT_MTCUTE_STRING, t, &err), 0);
        free(t);
        sp.opt_flags = 4;
        t = mc_build(&sp);
        T_EQ_INT(try_dec(MTS_FORMAT_MTCUTE_STRING, t, &err), MTS_ECORRUPT);
        free(t);
        /* Legacy test flag (bit 1) sets test mode. */
        sp = mc_good;
        sp.flags = 1 | 2;
        t = mc_build(&sp);
        {
            int rc;
            mts_session *s = dec(MTS_FORMAT_MTCUTE_STRING, t, strlen(t), &rc,
                                 &err);
            T_EQ_INT(rc, 0);
            T_CHECK(s != NULL && mts_session_test_mode(s) == 1);
            mts_session_free(s);
        }
        free(t);
        /* Padded text is not mtcute's. */
        t = mc_build(&mc_good);
        {
            char buf[600];
            snprintf(buf, sizeof(buf), "%s=", t);
            T_CHECK(try_dec(MTS_FORMAT_MTCUTE_STRING, buf, &err) != 0);
        }
        free(t);
    }
}

/* ---- round trips -------------------------------------------------------- */

static void
roundtrip(mts_format fmt, const mts_session *s)
{
    mts_error err = MTS_ERROR_INIT;
    warns w = { .n = 0 };
    int rc;
    char *t = enc(fmt, s, &rc, &err, &w);
    mts_session *back;
    if (t == NULL) {
        t_fail(__FILE__, __LINE__, "%s: encode: %s", mts_format_name(fmt),
               err.message);
        return;
    }
    T_EQ_INT(w.n, 0);
    back = dec(fmt, t, strlen(t), &rc, &err);
    if (back == NULL || !mts_session_equal(s, back))
        t_fail(__FILE__, __LINE__, "%s: round trip changed the session (%s)",
               mts_format_name(fmt), back ? "differs" : err.message);
    {
        /* Detection agrees with the format written. */
        mts_format f;
        T_EQ_INT(mts_format_detect(&f, (uint8_t *)t, strlen(t), NULL), 0);
        T_EQ_INT(f, fmt);
    }
    mts_session_free(back);
    mts_free(t);
}

static void
test_roundtrip_fields(void)
{
    static const char *addrs[] = { "149.154.167.51", "1.2.3.4",
                                   "255.255.255.255", "2001:67c:4e8:f002::a",
                                   "::ffff:1.2.3.4", "fe80::1",
                                   "2001:db8:1:2:3:4:5:6" };
    static const uint16_t ports[] = { 1, 80, 443, 32767 };
    /* Telethon and GramJS: dc, address, port, key. */
    for (int32_t dc = 1; dc <= 255; dc += 7) {
        for (size_t a = 0; a < MTS__ARRAY_LEN(addrs); a++) {
            expect e = { dc, addrs[a], ports[(size_t)dc % 4],
                         (dc & 1) ? key_a : key_c, 0, 0, 0, 0, 0, 0, NULL,
                         0 };
            mts_session *s = build(&e);
            roundtrip(MTS_FORMAT_TELETHON_STRING, s);
            roundtrip(MTS_FORMAT_GRAMJS_STRING, s);
            mts_session_free(s);
        }
    }
    {
        expect e = { 255, "::ffff:1.2.3.4", 65535, key_b, 0, 0, 0, 0, 0, 0,
                     NULL, 0 };
        mts_session *s = build(&e);
        roundtrip(MTS_FORMAT_TELETHON_STRING, s);
        mts_session_free(s);
    }
    /* Pyrogram: dc (default address), api_id, test, user, bot. */
    {
        const expect py[] = {
            { 2, "149.154.167.51", 443, key_a, 0, 1, 12345, 1, 42, 1, NULL,
              0 },
            { 3, "149.154.175.117", 443, key_c, 1, 1, INT32_MAX, 1,
              INT64_MAX, 0, NULL, 0 },
            { 5, "91.108.56.130", 443, key_b, 0, 0, 0, 0, 0, 0, NULL, 0 },
            { 1, "149.154.175.10", 443, key_a, 1, 1, 1, 0, 0, 0, NULL, 0 },
            { 203, "91.105.192.100", 443, key_c, 0, 0, 0, 1, 1, 1, NULL, 0 },
        };
        for (size_t i = 0; i < MTS__ARRAY_LEN(py); i++) {
            mts_session *s = build(&py[i]);
            roundtrip(MTS_FORMAT_PYROGRAM_STRING, s);
            mts_session_free(s);
        }
    }
    /* mtcute: main, media, test, self. */
    {
        const expect mc[] = {
            { 2, "149.154.167.50", 443, key_a, 0, 0, 0, 1, 9007199254740991LL,
              1, "149.154.167.222", 443 },
            { 4, "2001:67c:4e8:f004::a", 80, key_b, 1, 0, 0, 0, 0, 0,
              "2001:67c:4e8:f004::b", 443 },
            { 200, "2001:67c:4e8:f004::a", 65535, key_c, 0, 0, 0, 1, 1, 0,
              "10.0.0.1", 1 },
            { 1, "149.154.175.53", 443, key_a, 1, 0, 0, 1, 777, 0, NULL, 0 },
        };
        for (size_t i = 0; i < MTS__ARRAY_LEN(mc); i++) {
            mts_session *s = build(&mc[i]);
            roundtrip(MTS_FORMAT_MTCUTE_STRING, s);
            mts_session_free(s);
        }
    }
}

/* ---- drop warnings ------------------------------------------------------ */

static void
expect_warns(mts_format fmt, const mts_session *s, const char *const *want,
             size_t nwant)
{
    mts_error err = MTS_ERROR_INIT;
    warns w = { .n = 0 };
    int rc;
    char *t = enc(fmt, s, &rc, &err, &w);
    T_EQ_INT(rc, 0);
    T_EQ_INT(w.n, nwant);
    for (size_t i = 0; i < w.n && i < nwant; i++)
        T_EQ_STR(w.list[i], want[i]);
    mts_free(t);
}

static void
test_drop_warnings(void)
{
    mts_session *full = fx_session("full"), *small = fx_session("small");
    static const char *const tl_full[] = {
        "other DCs (2)",    "DC flags (static)",  "server salt",
        "time offset",      "api_id",             "self user",
        "test mode",        "future auth token",  "update state",
        "channel pts (2)",  "peers (4)",          "min peers (2)"
    };
    static const char *const py_full[] = {
        ("DC address (2001:67c:4e8:f002::a port 443; Pyrogram connects to "
         "its built-in address for DC 2)"),
        "other DCs (2)",       "DC flags (static)", "server salt",
        "time offset",         "future auth token", "update state",
        "channel pts (2)",     "peers (4)",         "min peers (2)"
    };
    static const char *const mc_full[] = {
        "other DCs (2)",     "DC flags (static)", "server salt",
        "time offset",       "api_id",            "future auth token",
        "update state",      "channel pts (2)",   "peers (4)",
        "min peers (2)"
    };
    static const char *const tl_small[] = { "server salt", "time offset",
                                            "update state",
                                            "channel pts (1)", "peers (1)" };
    expect_warns(MTS_FORMAT_TELETHON_STRING, full, tl_full, 12);
    expect_warns(MTS_FORMAT_GRAMJS_STRING, full, tl_full, 12);
    expect_warns(MTS_FORMAT_PYROGRAM_STRING, full, py_full, 10);
    expect_warns(MTS_FORMAT_MTCUTE_STRING, full, mc_full, 10);
    expect_warns(MTS_FORMAT_TELETHON_STRING, small, tl_small, 5);
    {
        /* What is kept of "full" survives: Telethon keeps dc 2's v6
         * entry with its key; mtcute keeps test mode and the user too. */
        mts_error err = MTS_ERROR_INIT;
        int rc;
        char *t = enc(MTS_FORMAT_MTCUTE_STRING, full, &rc, &err, NULL);
        mts_session *s = t ? dec(MTS_FORMAT_MTCUTE_STRING, t, strlen(t),
                                 &rc, &err)
                           : NULL;
        uint8_t ab[256];
        expect e = { 2, "2001:67c:4e8:f002::a", 443, ab, 1, 0, 0, 1, 42, 1,
                     NULL, 0 };
        memset(ab, 0xab, sizeof(ab));
        check_session(s, &e);
        mts_session_free(s);
        mts_free(t);
    }
    {
        /* The media entry's own key is not kept. */
        expect e = mc_media_self;
        mts_session *s = build(&e);
        mts_dc m;
        static const char *const want[] = { "auth key of the media DC "
                                            "entry" };
        for (size_t i = 0; i < 2; i++) {
            T_EQ_INT(mts_session_dc_at(&m, s, i), 0);
            if (m.flags & MTS_DC_MEDIA_ONLY)
                break;
        }
        m.auth_key = key_b;
        T_EQ_INT(mts_session_put_dc(s, &m), 0);
        expect_warns(MTS_FORMAT_MTCUTE_STRING, s, want, 1);
        mts_session_free(s);
    }
    mts_session_free(full);
    mts_session_free(small);
}

/* ---- encoder refusals ---------------------------------------------------- */

static void
refuse(mts_format fmt, const mts_session *s, int code, const char *msg)
{
    mts_error err = MTS_ERROR_INIT;
    warns w = { .n = 0 };
    int rc;
    char *t = enc(fmt, s, &rc, &err, &w);
    T_CHECK(t == NULL);
    T_EQ_INT(rc, code);
    T_CONTAINS(err.message, msg);
    T_EQ_INT(w.n, 0);
    mts_free(t);
}

static void
test_encode_refusals(void)
{
    mts_format all[] = { MTS_FORMAT_TELETHON_STRING,
                         MTS_FORMAT_PYROGRAM_STRING,
                         MTS_FORMAT_GRAMJS_STRING,
                         MTS_FORMAT_MTCUTE_STRING };
    mts_session *s;
    T_EQ_INT(mts_session_new(&s, MTS_NEW_EMPTY), 0);
    for (size_t i = 0; i < 4; i++)
        refuse(all[i], s, MTS_EINVAL, "needs an auth key for the home DC");
    mts_session_free(s);
    T_EQ_INT(mts_session_new(&s, MTS_NEW_DEFAULT), 0); /* no keys */
    for (size_t i = 0; i < 4; i++)
        refuse(all[i], s, MTS_EINVAL,
               "needs an auth key for the home DC (DC 2 has none)");
    mts_session_free(s);
    {
        expect e = { 300, "1.2.3.4", 443, key_a, 0, 0, 0, 0, 0, 0, NULL, 0 };
        s = build(&e);
        for (size_t i = 0; i < 4; i++)
            refuse(all[i], s, MTS_ELIMIT, "does not fit");
        mts_session_free(s);
    }
    {
        expect e = { 2, "1.2.3.4", 40000, key_a, 0, 0, 0, 0, 0, 0, NULL, 0 };
        s = build(&e);
        refuse(MTS_FORMAT_GRAMJS_STRING, s, MTS_ELIMIT, "port 40000");
        mts_session_free(s);
    }
    {
        expect e = { 2, "::1", 443, key_a, 0, 0, 0, 0, 0, 0, NULL, 0 };
        s = build(&e);
        refuse(MTS_FORMAT_GRAMJS_STRING, s, MTS_ELIMIT, "::1");
        mts_session_free(s);
    }
    {
        expect e = { 9, "1.2.3.4", 443, key_a, 0, 0, 0, 0, 0, 0, NULL, 0 };
        s = build(&e);
        refuse(MTS_FORMAT_PYROGRAM_STRING, s, MTS_ELIMIT,
               "no address for production DC 9");
        mts_session_free(s);
    }
    {
        expect e = { 2, "1.2.3.4", 443, key_a, 0, 1, -5, 0, 0, 0, NULL, 0 };
        s = build(&e);
        refuse(MTS_FORMAT_PYROGRAM_STRING, s, MTS_ELIMIT, "api_id");
        mts_session_free(s);
    }
    {
        expect e = { 2, "1.2.3.4", 443, key_a, 0, 0, 0, 1,
                     9007199254740992LL, 0, NULL, 0 };
        s = build(&e);
        refuse(MTS_FORMAT_MTCUTE_STRING, s, MTS_ELIMIT, "2^53-1");
        mts_session_free(s);
    }
}

/* ---- allocation failures ----------------------------------------------- */

typedef struct fault {
    long target, count;
    int fired;
} fault;

static void *
f_malloc(size_t size, void *payload)
{
    fault *f = payload;
    if (f->count++ == f->target) {
        f->fired = 1;
        return NULL;
    }
    return malloc(size);
}

static void *
f_realloc(void *ptr, size_t size, void *payload)
{
    fault *f = payload;
    if (f->count++ == f->target) {
        f->fired = 1;
        return NULL;
    }
    return realloc(ptr, size);
}

static void
f_free(void *ptr, void *payload)
{
    (void)payload;
    free(ptr);
}

static void
test_alloc_failures(void)
{
    static const struct {
        mts_format fmt;
        const char *name;
    } v[] = { { MTS_FORMAT_TELETHON_STRING, "ipv6" },
              { MTS_FORMAT_GRAMJS_STRING, "ipv4" },
              { MTS_FORMAT_MTCUTE_STRING, "media_self" },
              { MTS_FORMAT_PYROGRAM_STRING, "new" } };
    for (size_t i = 0; i < MTS__ARRAY_LEN(v); i++) {
        size_t len;
        char *t = vec(mts_format_name(v[i].fmt), v[i].name, &len);
        for (long n = 0;; n++) {
            fault f = { n, 0, 0 };
            mts_allocator al = { f_malloc, f_realloc, f_free, &f };
            mts_session *s = NULL;
            uint8_t *out = NULL;
            size_t olen;
            int rc_dec, rc_enc = -100;
            T_EQ_INT(mts_set_allocator(&al), 0);
            rc_dec = mts_format_decode(&s, v[i].fmt, (uint8_t *)t, len, NULL);
            if (rc_dec == 0)
                rc_enc = mts_format_encode(&out, &olen, v[i].fmt, s, NULL,
                                           NULL, NULL);
            mts_free(out);
            mts_session_free(s);
            mts_set_allocator(NULL);
            if (!f.fired) {
                T_EQ_INT(rc_dec, 0);
                T_EQ_INT(rc_enc, 0);
                break;
            }
            if (rc_dec != 0)
                T_EQ_INT(rc_dec, MTS_ENOMEM);
            else
                T_EQ_INT(rc_enc, MTS_ENOMEM);
            if (n > 1000)
                break;
        }
        free(t);
    }
}

T_MAIN(T_CASE(test_telethon_golden),
       T_CASE(test_gramjs_golden), T_CASE(test_gramjs_reads_telethon),
       T_CASE(test_mtcute_golden), T_CASE(test_mtcute_legacy_versions),
       T_CASE(test_pyrogram_golden), T_CASE(test_detect),
       T_CASE(test_diagnosis), T_CASE(test_truncations),
       T_CASE(test_every_character), T_CASE(test_whitespace_and_offsets),
       T_CASE(test_telethon_fields), T_CASE(test_pyrogram_fields),
       T_CASE(test_gramjs_fields), T_CASE(test_gramjs_reads_low_ipv6),
       T_CASE(test_mtcute_fields), T_CASE(test_roundtrip_fields),
       T_CASE(test_drop_warnings), T_CASE(test_encode_refusals),
       T_CASE(test_alloc_failures))
