/*
 * telethon_string.c - Telethon (v1) StringSession, read and written.
 *
 * Text: the version character '1', then URL-safe base64 *with* '='
 * padding of the big-endian struct '>B{4|16}sH256s':
 *
 *   offset 0        dc_id      u8
 *   offset 1        address    4 bytes (IPv4) or 16 bytes (IPv6), packed
 *   offset 5 / 17   port       u16
 *   offset 7 / 19   auth key   256 bytes
 *
 * 263 bytes give a 352-character body (353 with the '1'), 275 bytes a
 * 368-character one (369); Telethon tells IPv4 from IPv6 by that length
 * alone. Nothing else is kept: no test flag, no user, no checksum.
 *
 * GramJS writes strings that also start with '1' but carry the address as
 * text; with a 14-character address its payload is 275 bytes too, so a
 * 369-character string whose payload is GramJS's text layout is refused
 * here (it is a gramjs-string; Telethon would misread it as an IPv6
 * address). Reading also takes the standard base64 alphabet, as
 * Telethon's decoder does, but never both alphabets in one string.
 *
 * Thread-safety: stateless.
 */
#include <string.h>

#include "string_common.h"

#define TL_V4_BYTES 263u
#define TL_V6_BYTES 275u
#define TL_V4_BODY 352u
#define TL_V6_BODY 368u

typedef struct tl_parsed {
    uint8_t dc_id;
    mts_ip ip;
    uint16_t port;
    uint8_t key[MTS_AUTH_KEY_SIZE];
} tl_parsed;

/* Parse the (untrimmed) input into *t; err names the character. */
static int
tl_parse(tl_parsed *t, const uint8_t *data, size_t len, mts_error *err)
{
    const uint8_t *p = mts__trim(data, &len);
    size_t base = (size_t)(p - data), body, n, iplen;
    uint8_t *raw;
    int rc;

    if (len == 0)
        return mts__err_at(err, MTS_EFORMAT, 0, "empty input");
    if (p[0] != '1')
        return mts__err_at(err, MTS_EFORMAT, (int64_t)base,
                           "a Telethon string starts with '1'; this one "
                           "starts with 0x%02x",
                           (unsigned)p[0]);
    body = len - 1;
    if (body != TL_V4_BODY && body != TL_V6_BODY)
        return mts__err_at(err, MTS_ECORRUPT, (int64_t)(base + len),
                           "a Telethon string is 353 (IPv4) or 369 (IPv6) "
                           "characters; this one has %zu (truncated?)",
                           len);
    rc = mts__b64_decode(&raw, &n, p + 1, body,
                         MTS__B64_URL | MTS__B64_STD | MTS__B64_PAD, base + 1,
                         err);
    if (rc != 0)
        return rc;
    if (n != (body == TL_V4_BODY ? TL_V4_BYTES : TL_V6_BYTES)) {
        rc = mts__err_at(err, MTS_ECORRUPT, (int64_t)(base + len - 1),
                         "payload is %zu bytes; a %zu-character Telethon body "
                         "holds %u (wrong padding)",
                         n, body, body == TL_V4_BODY ? TL_V4_BYTES
                                                     : TL_V6_BYTES);
        goto out;
    }
    if (n == TL_V6_BYTES && mts__gramjs_text_shape(raw, n)) {
        rc = mts__err_at(err, MTS_EFORMAT, (int64_t)(base + 1),
                         "this is a GramJS string (its address is text), "
                         "not a Telethon one");
        goto out;
    }
    iplen = n == TL_V4_BYTES ? 4 : 16;
    memset(t, 0, sizeof(*t));
    t->dc_id = raw[0];
    t->ip.family = iplen == 4 ? 4 : 6;
    memcpy(t->ip.bytes, raw + 1, iplen);
    t->port = mts__rd16be(raw + 1 + iplen);
    memcpy(t->key, raw + 3 + iplen, MTS_AUTH_KEY_SIZE);
    if (t->dc_id == 0) {
        rc = mts__err_at(err, MTS_ECORRUPT, mts__b64_char_of(base + 1, 0),
                         "dc_id (payload byte 0) is 0");
        goto out;
    }
    if (t->port == 0) {
        rc = mts__err_at(err, MTS_ECORRUPT,
                         mts__b64_char_of(base + 1, 1 + iplen),
                         "port (payload byte %zu) is 0", 1 + iplen);
        goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        mts__wipe(t, sizeof(*t));
    mts__wipe(raw, n);
    mts_free(raw);
    return rc;
}

static int
tl_probe(const uint8_t *data, size_t len)
{
    tl_parsed t;
    int rc = tl_parse(&t, data, len, NULL);
    mts__wipe(&t, sizeof(t));
    return rc == MTS_ENOMEM ? rc : rc == 0;
}

static int
tl_decode(mts_session **out, const uint8_t *data, size_t len, mts_error *err)
{
    tl_parsed t;
    int rc = tl_parse(&t, data, len, err);
    if (rc != 0)
        return mts__diagnose(rc, MTS_FORMAT_TELETHON_STRING, data, len, err);
    if (mts__key_is_zero(t.key)) {
        size_t n = len;
        const uint8_t *p = mts__trim(data, &n);
        rc = mts__err_at(err, MTS_ECORRUPT,
                         mts__b64_char_of((size_t)(p - data) + 1,
                                          t.ip.family == 4 ? 7 : 19),
                         "auth key is all zeros (Telethon reads this as no "
                         "key)");
    } else {
        rc = mts__one_dc_session(out, t.dc_id, &t.ip, t.port, 0, t.key, err);
    }
    mts__wipe(&t, sizeof(t));
    return rc;
}

static int
tl_encode(uint8_t **out, size_t *out_len, const mts_session *s,
          const mts_format_options *opts, mts_warn_fn warn, void *payload,
          mts_error *err)
{
    static const mts__keeps keeps = { 0, 0, 0, 0 };
    uint8_t raw[TL_V6_BYTES];
    size_t n = 0, iplen;
    mts_dc dc;
    int rc;
    (void)opts;
    rc = mts__home_entry(&dc, s, MTS_FORMAT_TELETHON_STRING, err);
    if (rc != 0)
        return rc;
    iplen = dc.ip.family == 4 ? 4 : 16;
    raw[n++] = (uint8_t)dc.dc_id;
    memcpy(raw + n, dc.ip.bytes, iplen);
    n += iplen;
    mts__wr16be(raw + n, dc.port);
    n += 2;
    memcpy(raw + n, dc.auth_key, MTS_AUTH_KEY_SIZE);
    n += MTS_AUTH_KEY_SIZE;
    rc = mts__b64_encode(out, out_len, "1", raw, n,
                         MTS__B64_URL | MTS__B64_PAD);
    mts__wipe(raw, sizeof(raw));
    if (rc != 0)
        return mts__err_oom(err);
    mts__warn_drops(s, &keeps, &dc, 1, warn, payload);
    return 0;
}

const mts__format_ops mts__fmt_telethon_string = {
    MTS_FORMAT_TELETHON_STRING,
    MTS_FORMAT_CAN_READ | MTS_FORMAT_CAN_WRITE | MTS_FORMAT_IS_TEXT,
    tl_probe, tl_decode, tl_encode
};
