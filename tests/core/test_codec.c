/*
 * test_codec.c - the binary format, the portable string and their
 * building blocks (CRC-32C, base64url, auth key ids).
 */
#include <time.h>

#include "fixtures.h"
#include "internal.h"
#include "t.h"

static void
test_crc32c_check_value(void)
{
    T_EQ_U64(mts_crc32c(0, "123456789", 9), 0xE3069283u);
    T_EQ_U64(mts_crc32c(0, "", 0), 0);
    /* incremental equals one-shot, across the 8-byte stride */
    T_EQ_U64(mts_crc32c(mts_crc32c(0, "12345", 5), "6789", 4), 0xE3069283u);
    /* the portable path and the dispatched (maybe hardware) one agree */
    T_EQ_U64(mts__crc32c_sw(0, "123456789", 9), 0xE3069283u);
    {
        uint8_t buf[1031];
        for (size_t i = 0; i < sizeof(buf); i++)
            buf[i] = (uint8_t)(i * 131 + 7);
        for (size_t off = 0; off < 9; off++)
            for (size_t n = 0; n + off <= sizeof(buf); n += 97)
                T_EQ_U64(mts_crc32c(0x1234, buf + off, n),
                         mts__crc32c_sw(0x1234, buf + off, n));
    }
}

static void
test_base64url_vectors(void)
{
    static const char *in[] = { "", "f", "fo", "foo", "foob", "fooba",
                                "foobar" };
    static const char *want[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg",
                                  "Zm9vYmE", "Zm9vYmFy" };
    uint8_t all[256];
    for (size_t i = 0; i < 7; i++) {
        char *enc;
        uint8_t *dec;
        size_t n;
        T_EQ_INT(mts_base64url_encode(&enc, (const uint8_t *)in[i],
                                      strlen(in[i])),
                 0);
        T_EQ_STR(enc, want[i]);
        T_EQ_INT(mts_base64url_decode(&dec, &n, enc, strlen(enc), NULL), 0);
        T_EQ_U64(n, strlen(in[i]));
        T_EQ_MEM(dec, in[i], n);
        mts_free(enc);
        mts_free(dec);
    }
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)(255 - i);
    {
        char *enc;
        T_EQ_INT(mts_base64url_encode(&enc, all, 3), 0);
        T_EQ_STR(enc, "__79"); /* URL-safe alphabet: ff fe fd */
        mts_free(enc);
    }
}

static void
test_base64url_strict(void)
{
    mts_error err = MTS_ERROR_INIT;
    uint8_t *dec;
    size_t n;
    T_EQ_INT(mts_base64url_decode(&dec, &n, "Zh", 2, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "trailing bits");
    T_EQ_INT(mts_base64url_decode(&dec, &n, "Zg==", 4, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "padding");
    T_EQ_INT(err.offset, 2);
    T_EQ_INT(mts_base64url_decode(&dec, &n, "Z", 1, &err), MTS_ECORRUPT);
    T_EQ_INT(mts_base64url_decode(&dec, &n, "ab+d", 4, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "not URL-safe");
    T_EQ_INT(err.offset, 2);
    T_EQ_INT(mts_base64url_decode(&dec, &n, "ab d", 4, &err), MTS_ECORRUPT);
    T_EQ_INT(err.offset, 2);
}

static void
test_auth_key_id(void)
{
    uint8_t key[256];
    for (int i = 0; i < 256; i++)
        key[i] = (uint8_t)i;
    /* Low 64 bits (LE, digest bytes 12..19) of SHA-1, computed with an
     * independent SHA-1 implementation. */
    T_EQ_U64(mts_auth_key_id(key), 0xc8df57a46e58d132ULL);
    memset(key, 0xab, sizeof(key));
    T_EQ_U64(mts_auth_key_id(key), 0x091e6ecb578f5f41ULL);
}

/* The C encoder gives exactly the bytes of the independent encoder. */
static void
check_golden(const char *name)
{
    char rel[128];
    size_t glen, n;
    unsigned char *golden;
    uint8_t *enc;
    mts_session *s = fx_session(name), *back = NULL;
    snprintf(rel, sizeof(rel), "data/mtsession/v2/%s.bin", name);
    golden = fx_read(rel, &glen);
    T_EQ_INT(mts_encode(&enc, &n, s, NULL), 0);
    T_EQ_U64(n, glen);
    T_EQ_U64(mts_encoded_size(s), glen);
    if (n == glen)
        T_EQ_MEM(enc, golden, n);
    T_EQ_INT(mts_decode(&back, golden, glen, NULL), 0);
    T_CHECK(back != NULL && mts_session_equal(s, back));
    mts_free(enc);
    free(golden);
    mts_session_free(s);
    mts_session_free(back);
}

static void
test_golden_v2(void)
{
    check_golden("empty");
    check_golden("small");
    check_golden("full");
}

static void
test_full_fields(void)
{
    size_t len;
    unsigned char *data = fx_read("data/mtsession/v2/full.bin", &len);
    mts_session *s = NULL;
    mts_dc dc;
    mts_peer p;
    mts_min_peer mp;
    int32_t api, pts;
    int64_t uid;
    int bot;
    const uint8_t *tok;
    size_t toklen;
    T_EQ_INT(mts_decode(&s, data, len, NULL), 0);
    if (s == NULL)
        return;
    T_EQ_INT(mts_session_home_dc(s), 2);
    T_EQ_INT(mts_session_test_mode(s), 1);
    T_EQ_INT(mts_session_api_id(s, &api), 0);
    T_EQ_INT(api, 12345);
    T_EQ_INT(mts_session_user(s, &uid, &bot), 0);
    T_EQ_INT(uid, 42);
    T_EQ_INT(bot, 1);
    T_EQ_U64(mts_session_dc_count(s), 3);
    T_EQ_INT(mts_session_dc_at(&dc, s, 1), 0);
    T_EQ_INT(dc.dc_id, 2);
    T_EQ_INT(dc.ip.family, 6);
    T_EQ_U64(dc.flags, MTS_DC_IPV6 | MTS_DC_STATIC);
    T_CHECK(dc.auth_key != NULL && dc.auth_key[255] == 0xab);
    T_EQ_INT(dc.server_salt, -1);
    T_EQ_INT(dc.time_offset, 2147483647);
    T_EQ_INT(mts_session_channel_pts(s, 9007199254740993LL, &pts), 0);
    T_EQ_INT(pts, 2147483647);
    T_EQ_INT(mts_session_get_peer(&p, s, MTS_PEER_USER, 42), 0);
    T_EQ_INT(p.access_hash, INT64_MIN);
    T_EQ_STR(p.username, "bot_\xc3\xbc");
    T_EQ_STR(p.phone, "+15551234567");
    T_EQ_INT(p.bot, 1);
    T_EQ_INT(mts_session_get_peer(&p, s, MTS_PEER_CHANNEL, 100), 0);
    T_EQ_INT(p.access_hash, INT64_MAX);
    T_EQ_INT(p.channel_kind, MTS_CHANNEL_MEGAGROUP);
    T_EQ_INT(p.community, 1);
    T_EQ_INT(mts_session_get_peer(&p, s, MTS_PEER_CHAT, 100), 0);
    T_EQ_INT(p.access_hash, 0);
    T_EQ_INT(mts_session_get_min_peer(&mp, s, 42), 0);
    T_EQ_INT(mp.peer_id, -1001234567890LL);
    T_EQ_INT(mp.msg_id, 12345);
    T_EQ_INT(mts_session_future_auth_token(s, &tok, &toklen), 0);
    T_EQ_U64(toklen, 3);
    T_EQ_INT(tok[2], 3);
    mts_session_free(s);
    free(data);
}

static void
test_v1_loads(void)
{
    size_t len;
    unsigned char *data = fx_read("data/mtsession/v1/two_dcs.bin", &len);
    mts_session *s = NULL;
    mts_dc dc;
    mts_update_state st;
    char ip[64];
    T_EQ_INT(mts_decode(&s, data, len, NULL), 0);
    if (s == NULL)
        return;
    T_EQ_INT(mts_session_home_dc(s), 2);
    T_EQ_U64(mts_session_dc_count(s), 2);
    T_EQ_INT(mts_session_dc_at(&dc, s, 0), 0);
    T_EQ_INT(dc.ip.family, 4);
    T_EQ_U64(dc.flags, 0);
    T_EQ_INT(dc.port, 443);
    T_EQ_INT(dc.server_salt, 0x0102030405060708LL);
    T_EQ_INT(dc.time_offset, -3);
    T_CHECK(dc.auth_key != NULL && dc.auth_key[200] == 200);
    T_EQ_INT(mts_session_dc_at(&dc, s, 1), 0);
    T_EQ_INT(dc.ip.family, 6);
    T_EQ_U64(dc.flags, 0); /* v1 loads with flags 0 */
    T_CHECK(dc.auth_key == NULL);
    mts_ip_format(ip, sizeof(ip), &dc.ip);
    T_EQ_STR(ip, "2001:67c:4e8:f002::a");
    mts_session_update_state(s, &st);
    T_EQ_INT(st.pts, 0);
    T_EQ_U64(mts_session_peer_count(s), 0);
    mts_session_free(s);
    free(data);
    data = fx_read("data/mtsession/v1/empty.bin", &len);
    T_EQ_INT(mts_decode(&s, data, len, NULL), 0);
    T_EQ_U64(mts_session_dc_count(s), 0);
    mts_session_free(s);
    free(data);
}

/* Build a v1 file with one DC whose bytes the case can alter. */
static size_t
v1_one(uint8_t *buf, uint8_t has_key, const char *addr)
{
    size_t n = 0, alen = strlen(addr);
    buf[n++] = 1;
    memcpy(buf + n, "\x02\0\0\0", 4);
    n += 4;
    buf[n++] = 1;
    memcpy(buf + n, "\x02\0\0\0", 4);
    n += 4;
    buf[n++] = has_key;
    if (has_key == 1) {
        memset(buf + n, 7, 256);
        n += 256;
    }
    memset(buf + n, 0, 12);
    n += 12;
    buf[n++] = (uint8_t)alen;
    memcpy(buf + n, addr, alen);
    return n + alen;
}

static void
test_v1_errors(void)
{
    uint8_t buf[512];
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = NULL;
    size_t n;
    n = v1_one(buf, 2, "1.2.3.4:443");
    T_EQ_INT(mts_decode(&s, buf, n, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "has_key at byte 10");
    T_EQ_INT(err.offset, 10);
    n = v1_one(buf, 0, "1.2.3.4:443");
    buf[n] = 0;
    T_EQ_INT(mts_decode(&s, buf, n + 1, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "1 trailing bytes");
    static const char *bad_addrs[] = { "1.2.3.4:0", "1.2.3.4:65536",
                                       "1.2.3.4", "[::1]", "::1:443",
                                       "[1.2.3.4]:443", "1.2.3.400:1",
                                       "1.2.3.4:08", "host:443", "" };
    for (size_t i = 0; i < MTS__ARRAY_LEN(bad_addrs); i++) {
        n = v1_one(buf, 0, bad_addrs[i]);
        T_EQ_INT(mts_decode(&s, buf, n, &err), MTS_ECORRUPT);
        T_CONTAINS(err.message, "dcs[0].addr");
    }
    n = v1_one(buf, 0, "[::1]:65535");
    T_EQ_INT(mts_decode(&s, buf, n, &err), 0);
    mts_session_free(s);
}

static void
test_version_byte(void)
{
    mts_error err = MTS_ERROR_INIT;
    mts_session *s;
    uint8_t b[32] = { 3 };
    T_EQ_INT(mts_decode(&s, b, sizeof(b), &err), MTS_EVERSION);
    T_CONTAINS(err.message, "unsupported session format version 3");
    b[0] = 0;
    T_EQ_INT(mts_decode(&s, b, sizeof(b), &err), MTS_EVERSION);
    T_CONTAINS(err.message, "version 0");
    b[0] = 0x09;
    T_EQ_INT(mts_decode(&s, b, sizeof(b), &err), MTS_EVERSION);
    T_EQ_INT(mts_decode(&s, b, 0, &err), MTS_EFORMAT);
}

/* Every truncation and every single-bit flip of a valid v2 file is an
 * error with a message, never a crash, a leak or a partial session. */
static void
test_v2_exhaustive_damage(void)
{
    size_t len;
    unsigned char *data = fx_read("data/mtsession/v2/full.bin", &len);
    mts_error err;
    mts_session *s;
    for (size_t cut = 0; cut < len; cut++) {
        s = NULL;
        mts_error_clear(&err);
        int rc = mts_decode(&s, data, cut, &err);
        if (rc == 0 || s != NULL || err.message[0] == '\0') {
            t_fail(__FILE__, __LINE__, "truncation at %zu: rc %d", cut, rc);
            mts_session_free(s);
            break;
        }
    }
    for (size_t bit = 0; bit < len * 8; bit++) {
        s = NULL;
        mts_error_clear(&err);
        data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int rc = mts_decode(&s, data, len, &err);
        data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (rc == 0 || s != NULL || err.message[0] == '\0' || err.offset < 0) {
            t_fail(__FILE__, __LINE__, "bit flip %zu: rc %d", bit, rc);
            mts_session_free(s);
            break;
        }
    }
    free(data);
}

/* v1 has no checksum: a flip may give another valid session, but never a
 * crash or leak, and a failure always carries a message. */
static void
test_v1_exhaustive_damage(void)
{
    size_t len;
    unsigned char *data = fx_read("data/mtsession/v1/two_dcs.bin", &len);
    int errors = 0;
    for (size_t cut = 0; cut < len; cut++) {
        mts_session *s = NULL;
        mts_error err = MTS_ERROR_INIT;
        if (mts_decode(&s, data, cut, &err) == 0) {
            t_fail(__FILE__, __LINE__, "v1 truncation at %zu decoded", cut);
            mts_session_free(s);
        }
    }
    for (size_t bit = 0; bit < len * 8; bit++) {
        mts_session *s = NULL;
        mts_error err = MTS_ERROR_INIT;
        data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int rc = mts_decode(&s, data, len, &err);
        data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (rc != 0) {
            errors++;
            T_CHECK(s == NULL && err.message[0] != '\0');
        }
        mts_session_free(s);
    }
    T_CHECK(errors > 0);
    free(data);
}

/* Patch length and CRC after editing a v2 image. */
static void
reseal(uint8_t *d, size_t len)
{
    uint32_t crc;
    d[8] = (uint8_t)len;
    d[9] = (uint8_t)(len >> 8);
    d[10] = (uint8_t)(len >> 16);
    d[11] = (uint8_t)(len >> 24);
    crc = mts_crc32c(0, d, len - 4);
    memcpy(d + len - 4, &crc, 4); /* little-endian host (x86_64) */
}

static void
test_v2_sections(void)
{
    mts_session *s = fx_session("small"), *back = NULL;
    mts_error err = MTS_ERROR_INIT;
    uint8_t *enc, *img;
    size_t n;
    T_EQ_INT(mts_encode(&enc, &n, s, NULL), 0);
    /* Append an unknown optional section (tag 0x0100) before the CRC. */
    img = malloc(n + 12);
    memcpy(img, enc, n - 4);
    {
        static const uint8_t sec[12] = { 0x00, 0x01, 0x00, 0x00, 0x04, 0x00,
                                         0x00, 0x00, 'a',  'b',  'c',  'd' };
        memcpy(img + n - 4, sec, sizeof(sec));
    }
    reseal(img, n + 12);
    T_EQ_INT(mts_decode(&back, img, n + 12, &err), 0);
    T_CHECK(back != NULL && mts_session_equal(s, back));
    mts_session_free(back);
    /* The same section marked critical is refused by version. */
    img[n - 4 + 2] = 1;
    reseal(img, n + 12);
    T_EQ_INT(mts_decode(&back, img, n + 12, &err), MTS_EVERSION);
    T_CONTAINS(err.message, "section 0x0100");
    /* Section flags other than the critical bit need a newer reader. */
    memcpy(img, enc, n);
    img[16 + 3] = 0x80; /* INFO's section_flags, high byte */
    reseal(img, n);
    T_EQ_INT(mts_decode(&back, img, n, &err), MTS_EVERSION);
    T_CONTAINS(err.message, "flags 0x8001");
    T_EQ_INT(err.offset, 18);
    /* Header flags from a newer writer; flag 1 means sealed. */
    memcpy(img, enc, n);
    img[12] = 2;
    reseal(img, n);
    T_EQ_INT(mts_decode(&back, img, n, &err), MTS_EVERSION);
    img[12] = 1;
    reseal(img, n);
    T_EQ_INT(mts_decode(&back, img, n, &err), MTS_EENCRYPTED);
    /* A required section missing: drop MIN_PEERS (last, 12 bytes). */
    memcpy(img, enc, n);
    memmove(img + n - 16, img + n - 4, 4);
    reseal(img, n - 12);
    T_EQ_INT(mts_decode(&back, img, n - 12, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "MIN_PEERS");
    /* Bad magic. */
    memcpy(img, enc, n);
    img[3] = 'x';
    reseal(img, n);
    T_EQ_INT(mts_decode(&back, img, n, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "magic");
    /* Trailing byte after a valid file: the length field catches it. */
    memcpy(img, enc, n);
    img[n] = 0;
    T_EQ_INT(mts_decode(&back, img, n + 1, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "trailing");
    free(img);
    mts_free(enc);
    mts_session_free(s);
}

/* Records out of order are refused even with a valid checksum. */
static void
test_v2_order_and_values(void)
{
    size_t len;
    unsigned char *data = fx_read("data/mtsession/v2/full.bin", &len);
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = NULL;
    uint8_t *img = malloc(len);
    /* INFO starts at 16+8: test_mode byte at 28; make it 2. */
    memcpy(img, data, len);
    img[28] = 2;
    reseal(img, len);
    T_EQ_INT(mts_decode(&s, img, len, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "test_mode at byte 28");
    T_EQ_INT(err.offset, 28);
    /* home_dc_id negative */
    memcpy(img, data, len);
    img[27] = 0x80;
    reseal(img, len);
    T_EQ_INT(mts_decode(&s, img, len, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "home_dc_id");
    free(img);
    free(data);
}

static void
test_string_roundtrip(void)
{
    mts_session *s = fx_session("full"), *back = NULL;
    mts_error err = MTS_ERROR_INIT;
    char *str, *padded;
    T_EQ_INT(mts_string_encode(&str, s, NULL), 0);
    T_CHECK(strncmp(str, "mts:", 4) == 0);
    T_CHECK(strchr(str, '=') == NULL && strchr(str, '+') == NULL);
    padded = malloc(strlen(str) + 8);
    sprintf(padded, " \t%s\r\n", str);
    T_EQ_INT(mts_string_decode(&back, padded, strlen(padded), &err), 0);
    T_CHECK(back != NULL && mts_session_equal(s, back));
    mts_session_free(back);
    /* a corrupted character is reported with its offset in the text */
    padded[2 + 10] = '*';
    T_EQ_INT(mts_string_decode(&back, padded, strlen(padded), &err),
             MTS_ECORRUPT);
    T_EQ_INT(err.offset, 12);
    T_EQ_INT(mts_string_decode(&back, "1AgAAAA", 7, &err), MTS_EFORMAT);
    T_CONTAINS(err.message, "mts:");
    T_EQ_INT(mts_string_decode(&back, "  \n", 3, &err), MTS_EFORMAT);
    /* valid base64 of damaged bytes */
    T_EQ_INT(mts_string_decode(&back, "mts:AQ", 6, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "payload");
    free(padded);
    mts_free(str);
    mts_session_free(s);
}

static void
test_canonical_bytes(void)
{
    /* Insertion order must not change the bytes. */
    mts_session *a = fx_big(300), *b;
    uint8_t *ea, *eb;
    size_t na, nb;
    T_EQ_INT(mts_session_new(&b, MTS_NEW_EMPTY), 0);
    for (size_t i = mts_session_dc_count(a); i-- > 0;) {
        mts_dc dc;
        mts_session_dc_at(&dc, a, i);
        T_EQ_INT(mts_session_put_dc(b, &dc), 0);
    }
    mts_session_set_home_dc(b, mts_session_home_dc(a));
    for (size_t i = mts_session_peer_count(a); i-- > 0;) {
        mts_peer p;
        mts_session_peer_at(&p, a, i);
        T_EQ_INT(mts_session_put_peer(b, &p, NULL), 0);
    }
    for (size_t i = mts_session_channel_count(a); i-- > 0;) {
        mts_channel_pts c;
        mts_session_channel_at(&c, a, i);
        T_EQ_INT(mts_session_set_channel_pts(b, c.channel_id, c.pts), 0);
    }
    for (size_t i = mts_session_min_peer_count(a); i-- > 0;) {
        mts_min_peer m;
        mts_session_min_peer_at(&m, a, i);
        T_EQ_INT(mts_session_put_min_peer(b, &m), 0);
    }
    T_CHECK(mts_session_equal(a, b));
    T_EQ_INT(mts_encode(&ea, &na, a, NULL), 0);
    T_EQ_INT(mts_encode(&eb, &nb, b, NULL), 0);
    T_EQ_U64(na, nb);
    if (na == nb)
        T_EQ_MEM(ea, eb, na);
    mts_free(ea);
    mts_free(eb);
    mts_session_free(a);
    mts_session_free(b);
}

/* A decoded session is kept in canonical order; edits (appends out of
 * order, removals that move records) must still encode canonically. */
static void
test_order_after_edits(void)
{
    mts_session *a = fx_big(3000), *b = NULL, *c;
    uint8_t *enc, *eb, *ec;
    size_t n, nb, nc;
    T_EQ_INT(mts_encode(&enc, &n, a, NULL), 0);
    T_EQ_INT(mts_decode(&b, enc, n, NULL), 0);
    mts_free(enc);
    if (b == NULL)
        return;
    T_EQ_INT(mts_session_dup(&c, b), 0);
    for (int i = 0; i < 50; i++) {
        mts_peer p = MTS_PEER_INIT;
        p.kind = (mts_peer_kind)(i % 3);
        p.id = 5 + i * 13; /* small ids: out of order when appended */
        p.access_hash = i;
        T_EQ_INT(mts_session_put_peer(b, &p, NULL), 0);
        T_EQ_INT(mts_session_put_peer(c, &p, NULL), 0);
    }
    for (size_t i = 0; i < 40; i++) {
        mts_peer p;
        T_EQ_INT(mts_session_peer_at(&p, b, i * 7), 0);
        T_EQ_INT(mts_session_remove_peer(b, p.kind, p.id), 0);
        T_EQ_INT(mts_session_remove_peer(c, p.kind, p.id), 0);
    }
    T_CHECK(mts_session_equal(b, c));
    T_EQ_INT(mts_encode(&eb, &nb, b, NULL), 0);
    T_EQ_INT(mts_encode(&ec, &nc, c, NULL), 0);
    T_EQ_U64(nb, nc);
    if (nb == nc)
        T_EQ_MEM(eb, ec, nb);
    mts_session_free(c);
    T_EQ_INT(mts_decode(&c, eb, nb, NULL), 0); /* strictly ordered file */
    T_CHECK(c != NULL && mts_session_equal(b, c));
    mts_free(eb);
    mts_free(ec);
    mts_session_free(a);
    mts_session_free(b);
    mts_session_free(c);
}

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A 1,000,000-peer session round-trips; prints the encode/decode time and
 * the size per peer (informational; timing targets live in bench/). */
static void
test_million_peers(void)
{
    mts_session *s = fx_big(1000000), *back = NULL;
    uint8_t *enc;
    size_t n;
    double t0 = now(), t1, t2;
    T_EQ_INT(mts_encode(&enc, &n, s, NULL), 0);
    t1 = now();
    T_EQ_INT(mts_decode(&back, enc, n, NULL), 0);
    t2 = now();
    T_CHECK(back != NULL && mts_session_equal(s, back));
    T_EQ_U64(mts_session_peer_count(back), 1000000);
    printf("  1M peers: %zu bytes (%.1f B/peer), encode %.3f s, decode "
           "%.3f s\n",
           n, (double)n / 1e6, t1 - t0, t2 - t1);
    mts_session_free(back);
    back = NULL;
    /* through the file backend */
    {
        char path[4096];
        mts_storage *st;
        snprintf(path, sizeof(path), "%s/million.session", t_tmpdir());
        T_EQ_INT(mts_file_open(&st, path, NULL, NULL), 0);
        t0 = now();
        T_EQ_INT(mts_storage_save(st, s, NULL), 0);
        t1 = now();
        T_EQ_INT(mts_storage_load(&back, st, NULL), 0);
        t2 = now();
        T_CHECK(back != NULL && mts_session_equal(s, back));
        printf("  1M peers, file backend: save %.3f s, load %.3f s\n",
               t1 - t0, t2 - t1);
        mts_storage_free(st);
        mts_session_free(back);
        back = NULL;
    }
    /* through JSON */
    {
        char *json;
        size_t jlen;
        t0 = now();
        T_EQ_INT(mts_json_encode(&json, &jlen, s, NULL), 0);
        t1 = now();
        T_EQ_INT(mts_json_decode(&back, json, jlen, NULL), 0);
        t2 = now();
        T_CHECK(back != NULL && mts_session_equal(s, back));
        printf("  1M peers, JSON: %zu bytes, encode %.3f s, decode %.3f s\n",
               jlen, t1 - t0, t2 - t1);
        mts_free(json);
    }
    mts_free(enc);
    mts_session_free(s);
    mts_session_free(back);
}

T_MAIN(T_CASE(test_crc32c_check_value), T_CASE(test_base64url_vectors),
       T_CASE(test_base64url_strict), T_CASE(test_auth_key_id),
       T_CASE(test_golden_v2), T_CASE(test_full_fields),
       T_CASE(test_v1_loads), T_CASE(test_v1_errors),
       T_CASE(test_version_byte), T_CASE(test_v2_exhaustive_damage),
       T_CASE(test_v1_exhaustive_damage), T_CASE(test_v2_sections),
       T_CASE(test_v2_order_and_values), T_CASE(test_string_roundtrip),
       T_CASE(test_canonical_bytes), T_CASE(test_order_after_edits),
       T_CASE(test_million_peers))
