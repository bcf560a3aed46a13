/*
 * string_common.c - see string_common.h.
 *
 * Base64 here is stricter than the libraries that write these strings
 * (Python's and Node's decoders skip or accept stray characters): one
 * alphabet per string, exact padding, zero trailing bits, so damage is
 * reported with the character where it is instead of turning into a
 * wrong key. Thread-safety: no state; safe from any thread.
 */
#include "string_common.h"

#include <stdio.h>
#include <string.h>

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Value of c, or -1; *kind gets MTS__B64_STD/URL for the two alphabets'
 * own characters and 0 for the shared ones. */
static int
b64_val(uint8_t c, unsigned *kind)
{
    *kind = 0;
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-') {
        *kind = c == '+' ? MTS__B64_STD : MTS__B64_URL;
        return 62;
    }
    if (c == '/' || c == '_') {
        *kind = c == '/' ? MTS__B64_STD : MTS__B64_URL;
        return 63;
    }
    return -1;
}

static void
b64_drop(uint8_t *p, size_t n)
{
    mts__wipe(p, n);
    mts_free(p);
}

int
mts__b64_decode(uint8_t **out, size_t *out_len, const uint8_t *text,
                size_t len, unsigned flags, size_t base, mts_error *err)
{
    size_t body = len, n, o = 0;
    unsigned seen = 0;
    uint32_t acc = 0;
    int bits = 0;
    uint8_t *p;

    if (flags & MTS__B64_PAD) {
        if (len % 4 != 0)
            return mts__err_at(err, MTS_ECORRUPT, (int64_t)(base + len),
                               "base64: %zu characters is not a multiple of "
                               "4 (truncated, or padding missing)",
                               len);
        for (int i = 0; i < 2 && body > 0 && text[body - 1] == '='; i++)
            body--;
    }
    if (body % 4 == 1)
        return mts__err_at(err, MTS_ECORRUPT, (int64_t)(base + body),
                           "base64: %zu characters cannot be valid base64 "
                           "(truncated?)",
                           body);
    n = body / 4 * 3 + (body % 4 ? body % 4 - 1 : 0);
    p = mts_malloc(n + 1);
    if (p == NULL)
        return mts__err_oom(err);
    for (size_t i = 0; i < body; i++) {
        unsigned kind;
        int v = b64_val(text[i], &kind);
        size_t at = base + i;
        if (v < 0) {
            b64_drop(p, n + 1);
            if (text[i] == '=')
                return mts__err_at(err, MTS_ECORRUPT, (int64_t)at,
                                   "base64: padding '=' at character %zu %s",
                                   at,
                                   (flags & MTS__B64_PAD)
                                       ? "before the end"
                                       : "(this format is unpadded)");
            return mts__err_at(err, MTS_ECORRUPT, (int64_t)at,
                               "base64: invalid character 0x%02x at "
                               "character %zu",
                               (unsigned)text[i], at);
        }
        if (kind != 0 && !(flags & kind)) {
            b64_drop(p, n + 1);
            return mts__err_at(err, MTS_ECORRUPT, (int64_t)at,
                               "base64: '%c' at character %zu is %s base64; "
                               "this format uses the %s alphabet",
                               (char)text[i], at,
                               kind == MTS__B64_STD ? "standard" : "URL-safe",
                               kind == MTS__B64_STD ? "URL-safe"
                                                    : "standard");
        }
        seen |= kind;
        if (seen == (MTS__B64_STD | MTS__B64_URL)) {
            b64_drop(p, n + 1);
            return mts__err_at(err, MTS_ECORRUPT, (int64_t)at,
                               "base64: '%c' at character %zu mixes the "
                               "standard and URL-safe alphabets",
                               (char)text[i], at);
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            p[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) {
        b64_drop(p, n + 1);
        return mts__err_at(err, MTS_ECORRUPT, (int64_t)(base + body - 1),
                           "base64: non-zero trailing bits in character %zu "
                           "(damaged end)",
                           base + body - 1);
    }
    MTS_ASSERT(o == n);
    p[o] = 0;
    *out = p;
    *out_len = o;
    return 0;
}

int
mts__b64_encode(uint8_t **out, size_t *out_len, const char *prefix,
                const uint8_t *data, size_t len, unsigned flags)
{
    const char *alpha = (flags & MTS__B64_URL) ? b64_url : b64_std;
    size_t plen = strlen(prefix), n, i = 0;
    uint8_t *p, *q;
    if (len > (SIZE_MAX - plen - 8) / 4 * 3)
        return MTS_ENOMEM;
    n = plen + (flags & MTS__B64_PAD ? (len + 2) / 3 * 4
                                     : len / 3 * 4 + (len % 3 ? len % 3 + 1
                                                              : 0));
    p = mts_malloc(n + 1);
    if (p == NULL)
        return MTS_ENOMEM;
    memcpy(p, prefix, plen);
    q = p + plen;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 |
                     data[i + 2];
        *q++ = (uint8_t)alpha[v >> 18];
        *q++ = (uint8_t)alpha[(v >> 12) & 63];
        *q++ = (uint8_t)alpha[(v >> 6) & 63];
        *q++ = (uint8_t)alpha[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)data[i] << 16;
        *q++ = (uint8_t)alpha[v >> 18];
        *q++ = (uint8_t)alpha[(v >> 12) & 63];
        if (flags & MTS__B64_PAD) {
            *q++ = '=';
            *q++ = '=';
        }
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8;
        *q++ = (uint8_t)alpha[v >> 18];
        *q++ = (uint8_t)alpha[(v >> 12) & 63];
        *q++ = (uint8_t)alpha[(v >> 6) & 63];
        if (flags & MTS__B64_PAD)
            *q++ = '=';
    }
    MTS_ASSERT((size_t)(q - p) == n);
    *q = '\0';
    *out = p;
    *out_len = n;
    return 0;
}

int
mts__key_is_zero(const uint8_t *key)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < MTS_AUTH_KEY_SIZE; i++)
        acc |= key[i];
    return acc == 0;
}

int
mts__pyrogram_address(mts_ip *ip, uint16_t *port, int32_t dc_id, int test)
{
    const mts_dc *tab;
    size_t count;
    mts_default_dcs(&tab, &count, test);
    for (size_t i = 0; i < count; i++)
        if (tab[i].dc_id == dc_id && tab[i].ip.family == 4 &&
            !(tab[i].flags & MTS_DC_MEDIA_ONLY)) {
            *ip = tab[i].ip;
            *port = tab[i].port;
            return 0;
        }
    if (!test && dc_id == 203) {
        static const mts_ip dc203 = { 4, { 91, 105, 192, 100 } };
        *ip = dc203;
        *port = 443;
        return 0;
    }
    return MTS_ENOTFOUND;
}

int
mts__one_dc_session(mts_session **out, int32_t dc_id, const mts_ip *ip,
                    uint16_t port, unsigned flags, const uint8_t *key,
                    mts_error *err)
{
    mts_session *s;
    mts_dc dc = MTS_DC_INIT;
    int rc = mts_session_new(&s, MTS_NEW_EMPTY);
    if (rc != 0)
        return mts__err_oom(err);
    dc.dc_id = dc_id;
    dc.ip = *ip;
    dc.port = port;
    dc.flags = flags | (ip->family == 6 ? (unsigned)MTS_DC_IPV6 : 0u);
    dc.auth_key = key;
    rc = mts__put_dc(s, &dc, err);
    if (rc == 0 && mts_session_set_home_dc(s, dc_id) != 0)
        rc = mts__err(err, MTS_EINVAL, "home DC %d is not a DC id",
                      (int)dc_id);
    if (rc != 0) {
        mts_session_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int
mts__home_entry(mts_dc *out, const mts_session *s, mts_format fmt,
                mts_error *err)
{
    const char *name = mts_format_name(fmt);
    int32_t home = mts_session_home_dc(s);
    if (home == 0)
        return mts__err(err, MTS_EINVAL,
                        "%s needs an auth key for the home DC, and the "
                        "session has no home DC",
                        name);
    if (mts_session_dc_for(out, s, home, 0) != 0)
        return mts__err(err, MTS_EINVAL,
                        "%s needs an auth key for the home DC, and the "
                        "session has no entry for home DC %d",
                        name, (int)home);
    if (out->auth_key == NULL)
        return mts__err(err, MTS_EINVAL,
                        "%s needs an auth key for the home DC (DC %d has "
                        "none)",
                        name, (int)home);
    if (home > 255)
        return mts__err(err, MTS_ELIMIT,
                        "%s keeps the DC id in one byte; home DC %d does not "
                        "fit",
                        name, (int)home);
    return 0;
}

/* Names of DC flag bits, for the "DC flags (...)" warning. */
static void
flag_names(char *buf, size_t size, unsigned flags)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = { { MTS_DC_IPV6, "ipv6" },
                  { MTS_DC_MEDIA_ONLY, "media-only" },
                  { MTS_DC_TCPO_ONLY, "tcpo-only" },
                  { MTS_DC_CDN, "cdn" },
                  { MTS_DC_STATIC, "static" } };
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < MTS__ARRAY_LEN(names); i++) {
        int w;
        if (!(flags & names[i].bit))
            continue;
        w = snprintf(buf + used, size - used, "%s%s", used ? ", " : "",
                     names[i].name);
        if (w < 0 || (size_t)w >= size - used)
            return;
        used += (size_t)w;
    }
}

void
mts__warn_drops(const mts_session *s, const mts__keeps *keeps,
                const mts_dc *written, size_t n, mts_warn_fn warn,
                void *payload)
{
    size_t total = mts_session_dc_count(s), count;
    unsigned lost_flags = 0;
    int salt = 0, offset = 0;
    mts_update_state st;
    int32_t api_id;
    int64_t uid;
    int bot;
    const uint8_t *tok;
    size_t toklen;

    for (size_t i = 0; i < n; i++) {
        /* IPV6 follows from the address, which every format keeps. */
        lost_flags |= written[i].flags & ~keeps->dc_flags &
                      ~(unsigned)MTS_DC_IPV6;
        salt |= written[i].server_salt != 0;
        offset |= written[i].time_offset != 0;
    }
    if (total > n)
        mts__warn(warn, payload, "other DCs (%zu)", total - n);
    if (lost_flags != 0) {
        char names[64];
        flag_names(names, sizeof(names), lost_flags);
        mts__warn(warn, payload, "DC flags (%s)", names);
    }
    if (salt)
        mts__warn(warn, payload, "server salt");
    if (offset)
        mts__warn(warn, payload, "time offset");
    if (!keeps->api_id && mts_session_api_id(s, &api_id) == 0)
        mts__warn(warn, payload, "api_id");
    if (!keeps->user && mts_session_user(s, &uid, &bot) == 0)
        mts__warn(warn, payload, "self user");
    if (!keeps->test_mode && mts_session_test_mode(s))
        mts__warn(warn, payload, "test mode");
    if (mts_session_future_auth_token(s, &tok, &toklen) == 0)
        mts__warn(warn, payload, "future auth token");
    mts_session_update_state(s, &st);
    if (st.pts != 0 || st.qts != 0 || st.date != 0 || st.seq != 0)
        mts__warn(warn, payload, "update state");
    if ((count = mts_session_channel_count(s)) != 0)
        mts__warn(warn, payload, "channel pts (%zu)", count);
    if ((count = mts_session_peer_count(s)) != 0)
        mts__warn(warn, payload, "peers (%zu)", count);
    if ((count = mts_session_min_peer_count(s)) != 0)
        mts__warn(warn, payload, "min peers (%zu)", count);
}

/* "a Telethon string" / "a Telethon one", or NULL for other formats. */
static const char *
noun(mts_format fmt, int one)
{
    switch (fmt) {
    case MTS_FORMAT_TELETHON_STRING:
        return one ? "a Telethon one" : "a Telethon string";
    case MTS_FORMAT_PYROGRAM_STRING:
        return one ? "a Pyrogram one" : "a Pyrogram string";
    case MTS_FORMAT_GRAMJS_STRING:
        return one ? "a GramJS one" : "a GramJS string";
    case MTS_FORMAT_MTCUTE_STRING:
        return one ? "an mtcute one" : "an mtcute string";
    case MTS_FORMAT_FEROGRAM_COMPACT:
        return one ? "a ferogram compact one"
                   : "a ferogram compact string";
    case MTS_FORMAT_FEROGRAM_STRING:
        return one ? "a ferogram one" : "a ferogram string";
    case MTS_FORMAT_MTSESSION_STRING:
        return one ? "an mtsession one" : "an mtsession string";
    default:
        return NULL;
    }
}

int
mts__diagnose(int rc, mts_format self, const uint8_t *data, size_t len,
              mts_error *err)
{
    mts_format other;
    const uint8_t *p;
    size_t n = len;
    if (rc == 0 || rc == MTS_ENOMEM)
        return rc;
    if (mts_format_detect(&other, data, len, NULL) == 0 && other != self) {
        const char *what = noun(other, 0);
        if (what != NULL)
            return mts__err(err, MTS_EFORMAT, "this is %s (%s), not %s",
                            what, mts_format_name(other), noun(self, 1));
        return mts__err(err, MTS_EFORMAT, "this is %s data, not %s",
                        mts_format_name(other), noun(self, 0));
    }
    /* Damaged or odd strings no probe accepts: say what they look like
     * when the shape alone tells ('1' + padded base64 is Telethon's and
     * GramJS's; the others never start that way or carry padding). */
    p = mts__trim(data, &n);
    if ((self == MTS_FORMAT_PYROGRAM_STRING ||
         self == MTS_FORMAT_MTCUTE_STRING) &&
        n > 1 && p[0] == '1' && p[n - 1] == '=')
        return mts__err(err, MTS_EFORMAT,
                        "this looks like a Telethon or GramJS string ('1' "
                        "and padded base64), not %s",
                        noun(self, 1));
    return rc;
}
