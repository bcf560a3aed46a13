/*
 * mtcute.c - mtcute's session string, version 3, read and written.
 *
 * Text: URL-safe base64 without padding of TL-encoded (little-endian)
 * fields:
 *
 *   version   u8 = 3
 *   flags     int32: 1 = self present, 2 = test mode (legacy; mtcute sets
 *             it only when upgrading v1/v2 strings), 4 = media DC present
 *   main DC   TL bytes holding a DC option (below)
 *   media DC  TL bytes holding a DC option, only with flag 4
 *   self      only with flag 1: user id as int53 (8 bytes, LE int64),
 *             then is_bot as a TL Bool (boolTrue 0x997275b5 or boolFalse
 *             0xbc799737)
 *   auth key  TL bytes: fe 00 01 00 and 256 bytes
 *
 * TL bytes: a length byte (0..253) or fe + a 3-byte length, the data,
 * zero padding to a multiple of 4. A DC option inside is
 * [option version 1|2][dc_id u8][flags: 1 ipv6, 2 media-only,
 * 4 test (version 2 only)], the IP address as a TL string, the port as
 * int32.
 *
 * Mapping: the main option is the home DC's entry and holds the key; the
 * media option becomes a second entry of its DC with MEDIA_ONLY (and no
 * key: mtcute keeps one key, the main DC's). Strict beyond mtcute's own
 * reader: unknown flag bits, non-zero padding, trailing bytes, an
 * address that does not match its ipv6 flag are refused.
 *
 * Versions 1 and 2 (a raw TL dcOption instead of the bytes-wrapped
 * option) are recognised and refused with MTS_EVERSION, as mtcute itself
 * no longer reads them.
 *
 * Thread-safety: stateless.
 */
#include <string.h>

#include "string_common.h"

#define MC_VERSION 3u
#define MC_FLAG_SELF 1u
#define MC_FLAG_TEST_OLD 2u
#define MC_FLAG_MEDIA 4u
#define MC_OPT_IPV6 1u
#define MC_OPT_MEDIA 2u
#define MC_OPT_TEST 4u
#define MC_BOOL_TRUE 0x997275b5u
#define MC_BOOL_FALSE 0xbc799737u
#define MC_DC_OPTION_CTOR 0x18b7a10du /* dcOption, in v1/v2 strings */
#define MC_INT53_MAX ((int64_t)9007199254740991)
/* Text length bound (a v3 string is under 600 characters; v1/v2 could
 * carry a dcOption secret): detection never decodes big inputs. */
#define MC_TEXT_MAX 2048u

/* A bounded little-endian reader over the decoded payload. `base` is the
 * input character of payload byte 0, for error offsets. */
typedef struct mc_rd {
    const uint8_t *p;
    size_t n, pos;
    size_t base;
    mts_error *err;
} mc_rd;

static int
mc_need(mc_rd *r, size_t k, const char *what)
{
    if (r->n - r->pos < k)
        return mts__err_at(r->err, MTS_ECORRUPT,
                           mts__b64_char_of(r->base, r->n),
                           "truncated: %s needs %zu bytes at payload byte "
                           "%zu, %zu left",
                           what, k, r->pos, r->n - r->pos);
    return 0;
}

static int
mc_u32(mc_rd *r, uint32_t *v, const char *what)
{
    int rc = mc_need(r, 4, what);
    if (rc == 0) {
        *v = mts__rd32(r->p + r->pos);
        r->pos += 4;
    }
    return rc;
}

/* TL bytes: *data points into the payload. */
static int
mc_bytes(mc_rd *r, const uint8_t **data, size_t *len, const char *what)
{
    size_t at = r->pos, head, pad;
    int rc = mc_need(r, 1, what);
    if (rc != 0)
        return rc;
    if (r->p[at] == 0xff)
        return mts__err_at(r->err, MTS_ECORRUPT,
                           mts__b64_char_of(r->base, at),
                           "%s: length byte 0xff at payload byte %zu is not "
                           "TL",
                           what, at);
    if (r->p[at] == 0xfe) {
        if ((rc = mc_need(r, 4, what)) != 0)
            return rc;
        *len = (size_t)r->p[at + 1] | (size_t)r->p[at + 2] << 8 |
               (size_t)r->p[at + 3] << 16;
        head = 4;
    } else {
        *len = r->p[at];
        head = 1;
    }
    pad = (4 - (head + *len) % 4) % 4;
    r->pos += head;
    if ((rc = mc_need(r, *len + pad, what)) != 0)
        return rc;
    *data = r->p + r->pos;
    for (size_t i = 0; i < pad; i++)
        if (r->p[r->pos + *len + i] != 0)
            return mts__err_at(r->err, MTS_ECORRUPT,
                               mts__b64_char_of(r->base, r->pos + *len + i),
                               "%s: non-zero padding at payload byte %zu",
                               what, r->pos + *len + i);
    r->pos += *len + pad;
    return 0;
}

/* A TL string holding an IP address. */
static int
mc_ip(mc_rd *r, mts_ip *ip, const char *what)
{
    const uint8_t *text;
    size_t len, at = r->pos;
    char buf[48];
    int rc = mc_bytes(r, &text, &len, what);
    if (rc != 0)
        return rc;
    if (len == 0 || len >= sizeof(buf) || memchr(text, 0, len) != NULL)
        return mts__err_at(r->err, MTS_ECORRUPT,
                           mts__b64_char_of(r->base, at),
                           "%s: address at payload byte %zu is not an IP "
                           "address",
                           what, at);
    memcpy(buf, text, len);
    buf[len] = '\0';
    if (mts_ip_parse(ip, buf) != 0)
        return mts__err_at(r->err, MTS_ECORRUPT,
                           mts__b64_char_of(r->base, at),
                           "%s: \"%s\" at payload byte %zu is not an IP "
                           "address",
                           what, buf, at);
    return 0;
}

typedef struct mc_dc {
    uint8_t dc_id;
    uint8_t flags; /* MC_OPT_* */
    mts_ip ip;
    uint16_t port;
} mc_dc;

/* One bytes-wrapped DC option (v3). */
static int
mc_option(mc_rd *r, mc_dc *dc, const char *what)
{
    const uint8_t *data;
    size_t len, start;
    unsigned allowed;
    uint32_t port;
    mc_rd in;
    int rc = mc_bytes(r, &data, &len, what);
    if (rc != 0)
        return rc;
    start = (size_t)(data - r->p);
    /* A reader over the option alone, offsets still in the payload. */
    in = *r;
    in.n = start + len;
    in.pos = start;
    if ((rc = mc_need(&in, 3, what)) != 0)
        return rc;
    if (data[0] != 1 && data[0] != 2)
        return mts__err_at(r->err, MTS_ECORRUPT,
                           mts__b64_char_of(r->base, start),
                           "%s: option version %u at payload byte %zu (1 "
                           "or 2)",
                           what, (unsigned)data[0], start);
    dc->dc_id = data[1];
    dc->flags = data[2];
    if (dc->dc_id == 0)
        return mts__err_at(r->err, MTS_ECORRUPT,
                           mts__b64_char_of(r->base, start + 1),
                           "%s: dc_id (payload byte %zu) is 0", what,
                           start + 1);
    allowed = MC_OPT_IPV6 | MC_OPT_MEDIA | (data[0] == 2 ? MC_OPT_TEST : 0);
    if ((dc->flags & ~allowed) != 0)
        return mts__err_at(r->err, MTS_ECORRUPT,
                           mts__b64_char_of(r->base, start + 2),
                           "%s: unknown option flags 0x%02x at payload byte "
                           "%zu",
                           what, (unsigned)(dc->flags & ~allowed), start + 2);
    in.pos += 3;
    if ((rc = mc_ip(&in, &dc->ip, what)) != 0)
        return rc;
    if ((dc->ip.family == 6) != ((dc->flags & MC_OPT_IPV6) != 0))
        return mts__err_at(r->err, MTS_ECORRUPT,
                           mts__b64_char_of(r->base, start + 2),
                           "%s: the ipv6 flag does not match the IPv%u "
                           "address",
                           what, (unsigned)dc->ip.family);
    if ((rc = mc_u32(&in, &port, what)) != 0)
        return rc;
    if (port == 0 || port > 65535)
        return mts__err_at(r->err, MTS_ECORRUPT,
                           mts__b64_char_of(r->base, in.pos - 4),
                           "%s: port %ld at payload byte %zu is not 1..65535",
                           what, (long)(int32_t)port, in.pos - 4);
    dc->port = (uint16_t)port;
    if (in.pos != in.n)
        return mts__err_at(r->err, MTS_ECORRUPT,
                           mts__b64_char_of(r->base, in.pos),
                           "%s: %zu unexpected bytes at payload byte %zu",
                           what, in.n - in.pos, in.pos);
    return 0;
}

typedef struct mc_parsed {
    unsigned version;
    uint32_t flags;
    mc_dc main, media;
    int test;
    int64_t user_id;
    int is_bot;
    size_t key_at;
    uint8_t key[MTS_AUTH_KEY_SIZE];
} mc_parsed;

static int
mc_key(mc_rd *r, mc_parsed *m)
{
    const uint8_t *key;
    size_t len, at = r->pos;
    int rc = mc_bytes(r, &key, &len, "auth key");
    if (rc != 0)
        return rc;
    if (len != MTS_AUTH_KEY_SIZE)
        return mts__err_at(r->err, MTS_ECORRUPT,
                           mts__b64_char_of(r->base, at),
                           "auth key at payload byte %zu is %zu bytes, not "
                           "256",
                           at, len);
    m->key_at = (size_t)(key - r->p);
    memcpy(m->key, key, MTS_AUTH_KEY_SIZE);
    return 0;
}

static int
mc_self(mc_rd *r, mc_parsed *m)
{
    uint32_t lo, hi, b;
    size_t at = r->pos;
    int rc;
    if ((rc = mc_u32(r, &lo, "self user id")) != 0 ||
        (rc = mc_u32(r, &hi, "self user id")) != 0 ||
        (rc = mc_u32(r, &b, "self is_bot")) != 0)
        return rc;
    m->user_id = (int64_t)((uint64_t)hi << 32 | lo);
    if (m->user_id <= 0 || m->user_id > MC_INT53_MAX)
        return mts__err_at(r->err, MTS_ECORRUPT,
                           mts__b64_char_of(r->base, at),
                           "self user id %lld at payload byte %zu is not "
                           "1..2^53-1",
                           (long long)m->user_id, at);
    if (b != MC_BOOL_TRUE && b != MC_BOOL_FALSE)
        return mts__err_at(r->err, MTS_ECORRUPT,
                           mts__b64_char_of(r->base, at + 8),
                           "self is_bot at payload byte %zu is 0x%08lx, not "
                           "a TL Bool",
                           at + 8, (unsigned long)b);
    m->is_bot = b == MC_BOOL_TRUE;
    return 0;
}

static int
mc_end(mc_rd *r)
{
    if (r->pos != r->n)
        return mts__err_at(r->err, MTS_ECORRUPT,
                           mts__b64_char_of(r->base, r->pos),
                           "%zu unexpected bytes after the auth key (payload "
                           "byte %zu)",
                           r->n - r->pos, r->pos);
    return 0;
}

static int
mc_parse_v3(mc_rd *r, mc_parsed *m)
{
    int rc;
    r->pos = 1;
    if ((rc = mc_u32(r, &m->flags, "flags")) != 0)
        return rc;
    if ((m->flags & ~(MC_FLAG_SELF | MC_FLAG_TEST_OLD | MC_FLAG_MEDIA)) != 0)
        return mts__err_at(r->err, MTS_ECORRUPT,
                           mts__b64_char_of(r->base, 1),
                           "unknown flags 0x%lx (payload bytes 1..4)",
                           (unsigned long)(m->flags &
                                           ~(MC_FLAG_SELF | MC_FLAG_TEST_OLD |
                                             MC_FLAG_MEDIA)));
    if ((rc = mc_option(r, &m->main, "main DC option")) != 0)
        return rc;
    if ((m->flags & MC_FLAG_MEDIA) &&
        (rc = mc_option(r, &m->media, "media DC option")) != 0)
        return rc;
    if (m->flags & MC_FLAG_TEST_OLD) {
        m->test = 1;
    } else {
        m->test = (m->main.flags & MC_OPT_TEST) != 0;
        if ((m->flags & MC_FLAG_MEDIA) &&
            m->test != ((m->media.flags & MC_OPT_TEST) != 0))
            return mts__err(r->err, MTS_ECORRUPT,
                            "the main and media DC options disagree on "
                            "test mode");
    }
    if ((m->flags & MC_FLAG_SELF) && (rc = mc_self(r, m)) != 0)
        return rc;
    if ((rc = mc_key(r, m)) != 0)
        return rc;
    return mc_end(r);
}

/* The structure of a version 1 or 2 string (raw TL dcOption), enough to
 * recognise one; values are not kept. */
static int
mc_legacy_option(mc_rd *r)
{
    uint32_t ctor, flags, id, port;
    const uint8_t *d;
    size_t len;
    int rc;
    if ((rc = mc_u32(r, &ctor, "dcOption")) != 0)
        return rc;
    if (ctor != MC_DC_OPTION_CTOR)
        return mts__err(r->err, MTS_ECORRUPT, "not a dcOption");
    if ((rc = mc_u32(r, &flags, "dcOption")) != 0 ||
        (rc = mc_u32(r, &id, "dcOption")) != 0 ||
        (rc = mc_bytes(r, &d, &len, "dcOption")) != 0 ||
        (rc = mc_u32(r, &port, "dcOption")) != 0)
        return rc;
    if (flags & 1024)
        rc = mc_bytes(r, &d, &len, "dcOption secret");
    return rc;
}

static int
mc_parse_legacy(mc_rd *r, unsigned version)
{
    uint32_t flags, lo;
    mc_parsed m;
    int rc;
    r->pos = 1;
    if ((rc = mc_u32(r, &flags, "flags")) != 0 ||
        (rc = mc_legacy_option(r)) != 0)
        return rc;
    if (version >= 2 && (flags & MC_FLAG_MEDIA) &&
        (rc = mc_legacy_option(r)) != 0)
        return rc;
    if ((flags & MC_FLAG_SELF) &&
        ((rc = mc_u32(r, &lo, "self")) != 0 ||
         (rc = mc_u32(r, &lo, "self")) != 0 ||
         (rc = mc_u32(r, &lo, "self")) != 0))
        return rc;
    rc = mc_key(r, &m);
    mts__wipe(&m, sizeof(m));
    return rc == 0 ? mc_end(r) : rc;
}

/*
 * Parse the input. Returns 0 (a v3 string in *m), MTS_EVERSION (a well
 * formed v1/v2 string), MTS_EFORMAT or MTS_ECORRUPT.
 */
static int
mc_parse(mc_parsed *m, const uint8_t *data, size_t len, mts_error *err)
{
    const uint8_t *p = mts__trim(data, &len);
    size_t base = (size_t)(p - data), n;
    uint8_t *raw;
    mc_rd r;
    int rc;

    memset(m, 0, sizeof(*m));
    if (len == 0)
        return mts__err_at(err, MTS_EFORMAT, 0, "empty input");
    if (len > MC_TEXT_MAX)
        return mts__err_at(err, MTS_EFORMAT, (int64_t)(base + len),
                           "%zu characters is too long for an mtcute string "
                           "(at most %u)",
                           len, MC_TEXT_MAX);
    rc = mts__b64_decode(&raw, &n, p, len, MTS__B64_URL, base, err);
    if (rc != 0)
        return rc;
    r.p = raw;
    r.n = n;
    r.pos = 0;
    r.base = base;
    r.err = err;
    m->version = n > 0 ? raw[0] : 0;
    if (m->version == MC_VERSION) {
        rc = mc_parse_v3(&r, m);
    } else if (m->version == 1 || m->version == 2) {
        rc = mc_parse_legacy(&r, m->version);
        if (rc != 0 && rc != MTS_ENOMEM)
            rc = mts__err_at(err, MTS_EFORMAT, (int64_t)base,
                             "not an mtcute string: version byte %u, but "
                             "not mtcute's version %u layout",
                             m->version, m->version);
        else if (rc == 0)
            rc = mts__err_at(err, MTS_EVERSION, (int64_t)base,
                             "mtcute session string version %u is not "
                             "supported (only 3)",
                             m->version);
    } else {
        rc = mts__err_at(err, MTS_EFORMAT, (int64_t)base,
                         "not an mtcute string: it starts with version byte "
                         "%u (mtcute writes 3)",
                         m->version);
    }
    if (rc != 0)
        mts__wipe(m, sizeof(*m));
    mts__wipe(raw, n);
    mts_free(raw);
    return rc;
}

static int
mc_probe(const uint8_t *data, size_t len)
{
    mc_parsed m;
    int rc = mc_parse(&m, data, len, NULL);
    mts__wipe(&m, sizeof(m));
    return rc == MTS_ENOMEM ? rc : rc == 0 || rc == MTS_EVERSION;
}

static unsigned
mc_model_flags(const mc_dc *dc, int media)
{
    unsigned f = dc->ip.family == 6 ? (unsigned)MTS_DC_IPV6 : 0u;
    if (media || (dc->flags & MC_OPT_MEDIA))
        f |= MTS_DC_MEDIA_ONLY;
    return f;
}

static int
mc_decode(mts_session **out, const uint8_t *data, size_t len, mts_error *err)
{
    mc_parsed m;
    mts_session *s = NULL;
    size_t n = len;
    size_t base = (size_t)(mts__trim(data, &n) - data);
    int rc = mc_parse(&m, data, len, err);
    if (rc == MTS_EVERSION)
        return rc;
    if (rc != 0)
        return mts__diagnose(rc, MTS_FORMAT_MTCUTE_STRING, data, len, err);
    if (mts__key_is_zero(m.key))
        rc = mts__err_at(err, MTS_ECORRUPT, mts__b64_char_of(base, m.key_at),
                         "auth key (payload byte %zu on) is all zeros",
                         m.key_at);
    else
        rc = mts__one_dc_session(&s, m.main.dc_id, &m.main.ip, m.main.port,
                                 mc_model_flags(&m.main, 0), m.key, err);
    if (rc == 0 && (m.flags & MC_FLAG_MEDIA)) {
        mts_dc media = MTS_DC_INIT, main;
        media.dc_id = m.media.dc_id;
        media.ip = m.media.ip;
        media.port = m.media.port;
        media.flags = mc_model_flags(&m.media, 1);
        if (mts_session_dc_at(&main, s, 0) == 0 &&
            main.dc_id == media.dc_id && main.flags == media.flags &&
            main.ip.family == media.ip.family) {
            /* Same identity as the main entry: fine only if equal. */
            if (memcmp(&main.ip, &media.ip, sizeof(media.ip)) != 0 ||
                main.port != media.port)
                rc = mts__err(err, MTS_ECORRUPT,
                              "the media DC option has the main option's "
                              "DC id and flags but another address");
        } else {
            rc = mts__put_dc(s, &media, err);
        }
    }
    if (rc == 0) {
        mts_session_set_test_mode(s, m.test);
        if ((m.flags & MC_FLAG_SELF) &&
            mts_session_set_user(s, m.user_id, m.is_bot) != 0)
            rc = mts__err(err, MTS_ECORRUPT, "self user id is not valid");
    }
    mts__wipe(&m, sizeof(m));
    if (rc != 0) {
        mts_session_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* ---- writing ----------------------------------------------------------- */

/* TL bytes of `len` bytes into w (room checked by the caller). */
static size_t
mc_put_bytes(uint8_t *w, const uint8_t *data, size_t len)
{
    size_t n = 0, head;
    if (len <= 253) {
        w[n++] = (uint8_t)len;
        head = 1;
    } else {
        w[n++] = 0xfe;
        w[n++] = (uint8_t)len;
        w[n++] = (uint8_t)(len >> 8);
        w[n++] = (uint8_t)(len >> 16);
        head = 4;
    }
    memcpy(w + n, data, len);
    n += len;
    while ((head + len) % 4 != 0) {
        w[n++] = 0;
        len++;
    }
    return n;
}

static void
mc_put_u32(uint8_t *w, uint32_t v)
{
    w[0] = (uint8_t)v;
    w[1] = (uint8_t)(v >> 8);
    w[2] = (uint8_t)(v >> 16);
    w[3] = (uint8_t)(v >> 24);
}

/* A DC option wrapped as TL bytes; at most 4 + 64 bytes. */
static size_t
mc_put_option(uint8_t *w, const mts_dc *dc, int media, int test)
{
    uint8_t opt[64];
    char addr[64];
    size_t n = 0;
    int rc = mts_ip_format(addr, sizeof(addr), &dc->ip);
    MTS_ASSERT(rc == 0);
    (void)rc;
    opt[n++] = 2;
    opt[n++] = (uint8_t)dc->dc_id;
    opt[n++] = (uint8_t)((dc->ip.family == 6 ? MC_OPT_IPV6 : 0u) |
                         (media ? MC_OPT_MEDIA : 0u) |
                         (test ? MC_OPT_TEST : 0u));
    n += mc_put_bytes(opt + n, (const uint8_t *)addr, strlen(addr));
    mc_put_u32(opt + n, dc->port);
    n += 4;
    return mc_put_bytes(w, opt, n);
}

/* The home DC's media-only entry to write beside `main`, if any. */
static int
mc_media_entry(mts_dc *out, const mts_session *s, const mts_dc *main)
{
    size_t count = mts_session_dc_count(s);
    int found = 0;
    if (main->flags & MTS_DC_MEDIA_ONLY)
        return 0; /* the home DC has media entries only */
    for (size_t i = 0; i < count; i++) {
        mts_dc dc;
        if (mts_session_dc_at(&dc, s, i) != 0 || dc.dc_id != main->dc_id ||
            !(dc.flags & MTS_DC_MEDIA_ONLY) || (dc.flags & MTS_DC_CDN))
            continue;
        if (!found || (out->ip.family != main->ip.family &&
                       dc.ip.family == main->ip.family)) {
            *out = dc;
            found = 1;
        }
    }
    return found;
}

static int
mc_encode(uint8_t **out, size_t *out_len, const mts_session *s,
          const mts_format_options *opts, mts_warn_fn warn, void *payload,
          mts_error *err)
{
    static const mts__keeps keeps = { MTS_DC_MEDIA_ONLY, 0, 1, 1 };
    uint8_t raw[512];
    mts_dc dcs[2];
    size_t n = 0, ndc = 1;
    int test = mts_session_test_mode(s) != 0;
    uint32_t flags = 0;
    int64_t uid;
    int bot, has_self;
    int rc;
    (void)opts;
    rc = mts__home_entry(&dcs[0], s, MTS_FORMAT_MTCUTE_STRING, err);
    if (rc != 0)
        return rc;
    has_self = mts_session_user(s, &uid, &bot) == 0;
    if (has_self && uid > MC_INT53_MAX)
        return mts__err(err, MTS_ELIMIT,
                        "mtcute-string keeps the user id as a JavaScript "
                        "number; %lld is above 2^53-1",
                        (long long)uid);
    if (mc_media_entry(&dcs[1], s, &dcs[0]))
        ndc = 2;
    if (has_self)
        flags |= MC_FLAG_SELF;
    if (ndc == 2)
        flags |= MC_FLAG_MEDIA;
    raw[n++] = MC_VERSION;
    mc_put_u32(raw + n, flags);
    n += 4;
    n += mc_put_option(raw + n, &dcs[0],
                       (dcs[0].flags & MTS_DC_MEDIA_ONLY) != 0, test);
    if (ndc == 2)
        n += mc_put_option(raw + n, &dcs[1], 1, test);
    if (has_self) {
        mc_put_u32(raw + n, (uint32_t)uid);
        mc_put_u32(raw + n + 4, (uint32_t)((uint64_t)uid >> 32));
        mc_put_u32(raw + n + 8, bot ? MC_BOOL_TRUE : MC_BOOL_FALSE);
        n += 12;
    }
    n += mc_put_bytes(raw + n, dcs[0].auth_key, MTS_AUTH_KEY_SIZE);
    MTS_ASSERT(n <= sizeof(raw));
    rc = mts__b64_encode(out, out_len, "", raw, n, MTS__B64_URL);
    mts__wipe(raw, sizeof(raw));
    if (rc != 0)
        return mts__err_oom(err);
    if (ndc == 2 && dcs[1].auth_key != NULL)
        mts__warn(warn, payload, "auth key of the media DC entry");
    mts__warn_drops(s, &keeps, dcs, ndc, warn, payload);
    return 0;
}

const mts__format_ops mts__fmt_mtcute_string = {
    MTS_FORMAT_MTCUTE_STRING,
    MTS_FORMAT_CAN_READ | MTS_FORMAT_CAN_WRITE | MTS_FORMAT_IS_TEXT,
    mc_probe, mc_decode, mc_encode
};
