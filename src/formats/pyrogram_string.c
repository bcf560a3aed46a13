/*
 * pyrogram_string.c - Pyrogram's session string (also Hydrogram's,
 * Kurigram's and pyrofork's), read in all three layouts, written in the
 * current one.
 *
 * Text: URL-safe base64 with the '=' padding stripped, of a big-endian
 * struct; the layout is told by the text length alone:
 *
 *   362 chars, '>BI?256sQ?' (271 bytes, current): dc_id u8, api_id u32,
 *       test_mode bool, auth key 256, user_id u64, is_bot bool
 *   356 chars, '>B?256sQ?' (267 bytes, old):  dc_id, test_mode, key,
 *       user_id u64, is_bot
 *   351 chars, '>B?256sI?' (263 bytes, old):  the same with user_id u32
 *
 * No address: Pyrogram connects to its built-in address for dc_id, so the
 * DC entry read gets the default table's IPv4 address (test or
 * production per test_mode) and port 443; DC 203, which Pyrogram's table
 * has and ours lacks, gets Pyrogram's address for it. Bools must be 0 or
 * 1 (Pyrogram only writes those). An api_id or user_id of 0 means none.
 *
 * Thread-safety: stateless.
 */
#include <stdio.h>
#include <string.h>

#include "string_common.h"

#define PY_NEW_CHARS 362u
#define PY_OLD64_CHARS 356u
#define PY_OLD32_CHARS 351u

typedef struct py_parsed {
    size_t chars; /* which layout */
    uint8_t dc_id;
    uint32_t api_id; /* 0 in the old layouts */
    int test_mode;
    uint64_t user_id;
    int is_bot;
    size_t key_at;
    uint8_t key[MTS_AUTH_KEY_SIZE];
} py_parsed;

/* A bool byte at payload offset `at`, 0 or 1. */
static int
py_bool(int *out, const uint8_t *raw, size_t at, const char *what,
        size_t base, mts_error *err)
{
    if (raw[at] > 1)
        return mts__err_at(err, MTS_ECORRUPT, mts__b64_char_of(base, at),
                           "%s (payload byte %zu) is 0x%02x, not a bool (0 "
                           "or 1)",
                           what, at, (unsigned)raw[at]);
    *out = raw[at];
    return 0;
}

static int
py_parse(py_parsed *y, const uint8_t *data, size_t len, mts_error *err)
{
    const uint8_t *p = mts__trim(data, &len);
    size_t base = (size_t)(p - data), n, at;
    uint8_t *raw;
    int rc;

    memset(y, 0, sizeof(*y));
    if (len == 0)
        return mts__err_at(err, MTS_EFORMAT, 0, "empty input");
    if (len != PY_NEW_CHARS && len != PY_OLD64_CHARS &&
        len != PY_OLD32_CHARS)
        return mts__err_at(err, MTS_EFORMAT, (int64_t)(base + len),
                           "a Pyrogram string is 362 characters (351 or 356 "
                           "in the old layouts); this one has %zu",
                           len);
    rc = mts__b64_decode(&raw, &n, p, len, MTS__B64_URL, base, err);
    if (rc != 0)
        return rc;
    y->chars = len;
    y->dc_id = raw[0];
    if (len == PY_NEW_CHARS) {
        MTS_ASSERT(n == 271);
        y->api_id = mts__rd32be(raw + 1);
        rc = py_bool(&y->test_mode, raw, 5, "test_mode", base, err);
        y->key_at = 6;
        at = 262;
        y->user_id = mts__rd64be(raw + at);
    } else {
        MTS_ASSERT(n == (len == PY_OLD64_CHARS ? 267u : 263u));
        rc = py_bool(&y->test_mode, raw, 1, "test_mode", base, err);
        y->key_at = 2;
        at = 258;
        y->user_id = len == PY_OLD64_CHARS ? mts__rd64be(raw + at)
                                           : mts__rd32be(raw + at);
    }
    memcpy(y->key, raw + y->key_at, MTS_AUTH_KEY_SIZE);
    if (rc == 0)
        rc = py_bool(&y->is_bot, raw, n - 1, "is_bot", base, err);
    if (rc == 0 && y->dc_id == 0)
        rc = mts__err_at(err, MTS_ECORRUPT, mts__b64_char_of(base, 0),
                         "dc_id (payload byte 0) is 0");
    if (rc == 0 && y->api_id > INT32_MAX)
        rc = mts__err_at(err, MTS_ECORRUPT, mts__b64_char_of(base, 1),
                         "api_id %lu (payload bytes 1..4) is out of range",
                         (unsigned long)y->api_id);
    if (rc == 0 && y->user_id > (uint64_t)INT64_MAX)
        rc = mts__err_at(err, MTS_ECORRUPT, mts__b64_char_of(base, at),
                         "user_id (payload byte %zu) is out of range", at);
    if (rc == 0 && y->user_id == 0 && y->is_bot)
        rc = mts__err_at(err, MTS_ECORRUPT, mts__b64_char_of(base, n - 1),
                         "is_bot is set but user_id is 0");
    if (rc != 0)
        mts__wipe(y, sizeof(*y));
    mts__wipe(raw, n);
    mts_free(raw);
    return rc;
}

static int
py_probe(const uint8_t *data, size_t len)
{
    py_parsed y;
    int rc = py_parse(&y, data, len, NULL);
    mts__wipe(&y, sizeof(y));
    return rc == MTS_ENOMEM ? rc : rc == 0;
}

static int
py_decode(mts_session **out, const uint8_t *data, size_t len, mts_error *err)
{
    py_parsed y;
    mts_session *s = NULL;
    mts_ip ip;
    uint16_t port;
    size_t n = len;
    size_t base = (size_t)(mts__trim(data, &n) - data);
    int rc = py_parse(&y, data, len, err);
    if (rc != 0)
        return mts__diagnose(rc, MTS_FORMAT_PYROGRAM_STRING, data, len, err);
    if (mts__key_is_zero(y.key))
        rc = mts__err_at(err, MTS_ECORRUPT, mts__b64_char_of(base, y.key_at),
                         "auth key (payload byte %zu on) is all zeros",
                         y.key_at);
    else if (mts__pyrogram_address(&ip, &port, y.dc_id, y.test_mode) != 0)
        rc = mts__err_at(err, MTS_ECORRUPT, mts__b64_char_of(base, 0),
                         "dc_id %u is not a %s DC with a known address",
                         (unsigned)y.dc_id,
                         y.test_mode ? "test" : "production");
    else
        rc = mts__one_dc_session(&s, y.dc_id, &ip, port, 0, y.key, err);
    if (rc == 0) {
        mts_session_set_test_mode(s, y.test_mode);
        if (y.api_id != 0)
            mts_session_set_api_id(s, 1, (int32_t)y.api_id);
        if (y.user_id != 0 &&
            mts_session_set_user(s, (int64_t)y.user_id, y.is_bot) != 0)
            rc = mts__err(err, MTS_ECORRUPT, "user_id is not valid");
    }
    mts__wipe(&y, sizeof(y));
    if (rc != 0) {
        mts_session_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static int
py_encode(uint8_t **out, size_t *out_len, const mts_session *s,
          const mts_format_options *opts, mts_warn_fn warn, void *payload,
          mts_error *err)
{
    static const mts__keeps keeps = { 0, 1, 1, 1 };
    uint8_t raw[271];
    int test = mts_session_test_mode(s) != 0;
    int32_t api_id = 0;
    int64_t uid = 0;
    int bot = 0;
    mts_ip ip;
    uint16_t port;
    mts_dc dc;
    int rc;
    (void)opts;
    rc = mts__home_entry(&dc, s, MTS_FORMAT_PYROGRAM_STRING, err);
    if (rc != 0)
        return rc;
    if (mts__pyrogram_address(&ip, &port, dc.dc_id, test) != 0)
        return mts__err(err, MTS_ELIMIT,
                        "pyrogram-string keeps no address, and Pyrogram "
                        "has no address for %s DC %d",
                        test ? "test" : "production", (int)dc.dc_id);
    if (mts_session_api_id(s, &api_id) == 0 && api_id < 0)
        return mts__err(err, MTS_ELIMIT,
                        "pyrogram-string keeps api_id unsigned; %ld does "
                        "not fit",
                        (long)api_id);
    if (mts_session_user(s, &uid, &bot) != 0) {
        uid = 0;
        bot = 0;
    }
    raw[0] = (uint8_t)dc.dc_id;
    mts__wr32be(raw + 1, (uint32_t)api_id);
    raw[5] = (uint8_t)test;
    memcpy(raw + 6, dc.auth_key, MTS_AUTH_KEY_SIZE);
    mts__wr64be(raw + 262, (uint64_t)uid);
    raw[270] = (uint8_t)(bot != 0);
    rc = mts__b64_encode(out, out_len, "", raw, sizeof(raw), MTS__B64_URL);
    mts__wipe(raw, sizeof(raw));
    if (rc != 0)
        return mts__err_oom(err);
    if (dc.ip.family != ip.family ||
        memcmp(dc.ip.bytes, ip.bytes, sizeof(ip.bytes)) != 0 ||
        dc.port != port) {
        char text[64];
        if (mts_ip_format(text, sizeof(text), &dc.ip) != 0)
            snprintf(text, sizeof(text), "?");
        mts__warn(warn, payload,
                  "DC address (%s port %u; Pyrogram connects to its "
                  "built-in address for DC %d)",
                  text, (unsigned)dc.port, (int)dc.dc_id);
    }
    mts__warn_drops(s, &keeps, &dc, 1, warn, payload);
    return 0;
}

const mts__format_ops mts__fmt_pyrogram_string = {
    MTS_FORMAT_PYROGRAM_STRING,
    MTS_FORMAT_CAN_READ | MTS_FORMAT_CAN_WRITE | MTS_FORMAT_IS_TEXT,
    py_probe, py_decode, py_encode
};
