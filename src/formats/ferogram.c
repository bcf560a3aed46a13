/*
 * ferogram.c - ferogram's session formats: the binary file, the native
 * string (URL-safe base64 of the binary file) and the compact string.
 *
 * Binary file (little-endian, no magic, no checksum). Versions read: the
 * legacy unversioned layout and version bytes 0x02..0x08; 0x08 is written
 * (0x05 on request). Layout, with [vN+] marking fields that exist from
 * version N on:
 *
 *   u8 version [v2+] | i32 home_dc | u8 dc_count
 *   dc_count x { i32 dc_id | u8 has_key | 256-byte key if has_key |
 *                i64 salt | i32 time_offset | u8 addr_len | addr |
 *                u8 flags [v3+] }
 *   [v2+] i32 pts, qts, date, seq | u16 n x { i64 channel_id | i32 pts }
 *   [v2+] u16 n x { i64 id | i64 access_hash | u8 type (0 user,
 *                   1 channel, 2 chat) | u8 channel_kind [v6+] (0..2,
 *                   0xFF none) | u8 is_community [v8+] }
 *   [v4+] u16 n x { i64 user_id | i64 peer_id | i32 msg_id }
 *   [v7+] u8 has_token | u16 len | token   (len and token if has_token)
 *
 * ferogram itself reads leniently (unknown bytes become defaults, trailing
 * bytes are ignored, counts wrap on write). This reader is strict: every
 * length is checked, trailing bytes are refused, presence bytes must be 0
 * or 1, addresses must parse, enumerations must be known, an all-zero key
 * is refused, and a record key that repeats (DC identity, channel, peer
 * kind and id, min-peer user) is refused. An empty future auth token reads
 * as none. The writer refuses (MTS_ELIMIT) what the field widths cannot
 * hold instead of wrapping, and writes every list in canonical order, so
 * equal sessions give equal bytes.
 *
 * Legacy files have no version byte, so one whose home DC is 2..8 starts
 * with a valid version byte. Both readings are parsed strictly; when only
 * one fits it is used, when both fit the input is refused as ambiguous
 * (MTS_EAMBIGUOUS, the message lists both readings) because nothing in the
 * bytes says which one ferogram meant. The legacy reading also needs an
 * entry for its home DC (or home DC 0), so that a short prefix such as
 * "version, home DC" cannot pass for a legacy file. When neither fits, the
 * error reported is the legacy one only if bytes 1..3 are zero and byte 4
 * is not (a legacy home DC of 2..8); otherwise the versioned one. A first
 * byte of 0x09 or more that is not a legacy file is MTS_EVERSION.
 *
 * Probes read the bytes (or a string's base64 text) in place and allocate
 * nothing.
 *
 * Compact string (big-endian; URL-safe base64 without padding):
 *   V2: u8 2 | u8 dc | u8 ip_type (4/6) | ip | u16 port | i64 user_id | key
 *   V1: u8 1 | u8 dc | u8 ip_type | ip | u16 port | i64 user_id |
 *       i64 salt | u32 seq | u32 layer | key
 * V2 is written; V1 on request, with the DC's salt and zero seq and layer
 * (ferogram discards both when it loads a V1 string). A user_id of 0 means
 * none. Writing takes the home DC's entry with a key (a general-purpose
 * IPv4 one first); everything else is dropped with a warning per kind.
 *
 * Thread-safety: no shared state.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FG_KEY_LEN 256
#define FG_LATEST 8
#define FG_MAX_OUT ((size_t)64 << 20) /* far above the widest session */

#define FG_COMPACT_V2_V4 273
#define FG_COMPACT_V2_V6 285
#define FG_COMPACT_V1_V4 289
#define FG_COMPACT_V1_V6 301

/* ---- decoding the binary file ----------------------------------------- */

/*
 * A reader over the bytes of a session: raw bytes, or the base64url text
 * of a string read in place (so probes decode nothing into memory). With
 * `s` NULL the parse only checks the structure: no allocation, and no
 * check that needs the session (repeated keys).
 */
typedef struct fg_rd {
    const uint8_t *p; /* the bytes, or the text when b64 */
    size_t tn;        /* characters of text (b64 only) */
    int b64;
    size_t n; /* bytes */
    size_t off;
    int version; /* 0 = legacy */
    int32_t home;
    int home_seen; /* a DC entry for the home DC was read */
    char label[16];
    mts_session *s; /* NULL: check only */
    mts_error *err;
} fg_rd;

static int
b64_val(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Strict URL-safe unpadded base64 text: 0 and its decoded length, or -1. */
static int
b64_check(const uint8_t *t, size_t n, size_t *bytes)
{
    uint32_t last;
    if (n % 4 == 1)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (b64_val(t[i]) < 0)
            return -1;
    if (n % 4 != 0) {
        /* The bits of the last character past the data must be zero. */
        last = (uint32_t)b64_val(t[n - 1]);
        if ((n % 4 == 2 && (last & 0x0f) != 0) ||
            (n % 4 == 3 && (last & 0x03) != 0))
            return -1;
    }
    *bytes = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    return 0;
}

static uint8_t
fg_at(const fg_rd *r, size_t i)
{
    size_t g = i / 3 * 4;
    uint32_t v = 0;
    if (!r->b64)
        return r->p[i];
    for (size_t k = 0; k < 4; k++)
        v = (v << 6) | (g + k < r->tn ? (uint32_t)b64_val(r->p[g + k]) : 0);
    return (uint8_t)(v >> (16 - 8 * (i % 3)));
}

static int
fg_need(fg_rd *r, size_t k, const char *field)
{
    if (r->n - r->off < k)
        return mts__err_at(r->err, MTS_ECORRUPT, (int64_t)r->off,
                           "ferogram %s: truncated at byte %zu: %s needs %zu "
                           "bytes, %zu left",
                           r->label, r->off, field, k, r->n - r->off);
    return 0;
}

static int fg_bad(fg_rd *r, size_t at, const char *field, const char *fmt,
                  ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* A damaged field: "ferogram v8: peers[3].peer_type at byte 40: ...". */
static int
fg_bad(fg_rd *r, size_t at, const char *field, const char *fmt, ...)
{
    char what[128];
    va_list ap;
    if (r->err == NULL)
        return MTS_ECORRUPT;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return mts__err_at(r->err, MTS_ECORRUPT, (int64_t)at,
                       "ferogram %s: %s at byte %zu: %s", r->label, field, at,
                       what);
}

/* 1 when the n bytes at `at` are all zero (an auth key never is). */
static int
fg_zero(const fg_rd *r, size_t at, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= fg_at(r, at + i);
    return acc == 0;
}

/* n bytes little-endian at the current offset; the caller checked. */
static uint64_t
fg_le(fg_rd *r, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | fg_at(r, r->off + (size_t)i);
    r->off += (size_t)n;
    return v;
}

static uint8_t
fg_u8(fg_rd *r)
{
    return (uint8_t)fg_le(r, 1);
}

static uint16_t
fg_u16(fg_rd *r)
{
    return (uint16_t)fg_le(r, 2);
}

static int32_t
fg_i32(fg_rd *r)
{
    return (int32_t)(uint32_t)fg_le(r, 4);
}

static int64_t
fg_i64(fg_rd *r)
{
    return (int64_t)fg_le(r, 8);
}

/* A presence byte: 0 or 1, anything else is damage. */
static int
fg_flag(fg_rd *r, const char *field, int *out)
{
    size_t at = r->off;
    uint8_t v;
    int rc = fg_need(r, 1, field);
    if (rc != 0)
        return rc;
    v = fg_u8(r);
    if (v > 1)
        return fg_bad(r, at, field, "%u is not 0 or 1", (unsigned)v);
    *out = v;
    return 0;
}

static int
fg_dc(fg_rd *r, size_t i)
{
    char field[48], addr[256];
    mts_dc dc = MTS_DC_INIT;
    size_t at, before, start = r->off;
    int has_key, rc;
    uint8_t alen;

    snprintf(field, sizeof(field), "dcs[%zu].dc_id", i);
    at = r->off;
    if ((rc = fg_need(r, 4, field)) != 0)
        return rc;
    dc.dc_id = fg_i32(r);
    if (dc.dc_id <= 0)
        return fg_bad(r, at, field, "%d is not a DC id", (int)dc.dc_id);
    snprintf(field, sizeof(field), "dcs[%zu].has_key", i);
    if ((rc = fg_flag(r, field, &has_key)) != 0)
        return rc;
    if (has_key) {
        snprintf(field, sizeof(field), "dcs[%zu].auth_key", i);
        if ((rc = fg_need(r, FG_KEY_LEN, field)) != 0)
            return rc;
        if (fg_zero(r, r->off, FG_KEY_LEN))
            return fg_bad(r, r->off, field, "all %d bytes are zero",
                          FG_KEY_LEN);
        if (!r->b64)
            dc.auth_key = r->p + r->off;
        r->off += FG_KEY_LEN;
    }
    snprintf(field, sizeof(field), "dcs[%zu].first_salt", i);
    if ((rc = fg_need(r, 8 + 4 + 1, field)) != 0)
        return rc;
    dc.server_salt = fg_i64(r);
    dc.time_offset = fg_i32(r);
    alen = fg_u8(r);
    snprintf(field, sizeof(field), "dcs[%zu].addr", i);
    at = r->off;
    if ((rc = fg_need(r, alen, field)) != 0)
        return rc;
    for (size_t k = 0; k < alen; k++)
        addr[k] = (char)fg_at(r, r->off + k);
    if (mts__parse_hostport(&dc.ip, &dc.port, addr, alen) != 0)
        return fg_bad(r, at, field,
                      "%u bytes that are not \"a.b.c.d:port\" or "
                      "\"[v6]:port\"",
                      (unsigned)alen);
    r->off += alen;
    if (r->version >= 3) {
        snprintf(field, sizeof(field), "dcs[%zu].flags", i);
        at = r->off;
        if ((rc = fg_need(r, 1, field)) != 0)
            return rc;
        dc.flags = fg_u8(r);
        if ((dc.flags & ~MTS_DC_FLAGS_ALL) != 0)
            return fg_bad(r, at, field, "unknown flag bits 0x%02x",
                          dc.flags & ~MTS_DC_FLAGS_ALL);
    }
    if (dc.dc_id == r->home)
        r->home_seen = 1;
    if (r->s == NULL)
        return 0;
    snprintf(field, sizeof(field), "dcs[%zu]", i);
    before = mts_session_dc_count(r->s);
    if ((rc = mts__put_dc(r->s, &dc, NULL)) != 0)
        return rc == MTS_ENOMEM ? mts__err_oom(r->err)
                                : fg_bad(r, start, field, "refused (%s)",
                                         mts_errname(rc));
    if (mts_session_dc_count(r->s) == before)
        return fg_bad(r, start, field,
                      "repeats DC %d with the same flags and address family",
                      (int)dc.dc_id);
    return 0;
}

static int
fg_updates(fg_rd *r)
{
    mts_update_state st;
    uint16_t n;
    int rc;
    if ((rc = fg_need(r, 16 + 2, "update state")) != 0)
        return rc;
    st.pts = fg_i32(r);
    st.qts = fg_i32(r);
    st.date = fg_i32(r);
    st.seq = fg_i32(r);
    if (r->s != NULL)
        mts_session_set_update_state(r->s, &st);
    n = fg_u16(r);
    for (size_t i = 0; i < n; i++) {
        char field[48];
        size_t at = r->off;
        int64_t id;
        int32_t pts, old;
        snprintf(field, sizeof(field), "channels[%zu]", i);
        if ((rc = fg_need(r, 12, field)) != 0)
            return rc;
        id = fg_i64(r);
        pts = fg_i32(r);
        if (id <= 0)
            return fg_bad(r, at, field, "%lld is not a channel id",
                          (long long)id);
        if (r->s == NULL)
            continue;
        if (mts_session_channel_pts(r->s, id, &old) == 0)
            return fg_bad(r, at, field, "channel %lld appears twice",
                          (long long)id);
        if ((rc = mts_session_set_channel_pts(r->s, id, pts)) != 0)
            return rc == MTS_ENOMEM ? mts__err_oom(r->err)
                                    : fg_bad(r, at, field, "refused (%s)",
                                             mts_errname(rc));
    }
    return 0;
}

static int
fg_peers(fg_rd *r)
{
    uint16_t n;
    int rc;
    if ((rc = fg_need(r, 2, "peer_count")) != 0)
        return rc;
    n = fg_u16(r);
    if (r->s != NULL && mts_session_reserve_peers(r->s, n) != 0)
        return mts__err_oom(r->err);
    for (size_t i = 0; i < n; i++) {
        char field[48];
        mts_peer p = MTS_PEER_INIT;
        size_t at = r->off, rec = 17;
        uint8_t type;
        if (r->version >= 6)
            rec++;
        if (r->version >= 8)
            rec++;
        snprintf(field, sizeof(field), "peers[%zu]", i);
        if ((rc = fg_need(r, rec, field)) != 0)
            return rc;
        p.id = fg_i64(r);
        p.access_hash = fg_i64(r);
        if (p.id <= 0)
            return fg_bad(r, at, field, "%lld is not a bare peer id",
                          (long long)p.id);
        snprintf(field, sizeof(field), "peers[%zu].peer_type", i);
        type = fg_u8(r);
        if (type > 2)
            return fg_bad(r, r->off - 1, field, "%u is not 0, 1 or 2",
                          (unsigned)type);
        p.kind = type == 1 ? MTS_PEER_CHANNEL
                           : (type == 2 ? MTS_PEER_CHAT : MTS_PEER_USER);
        if (r->version >= 6) {
            uint8_t ck = fg_u8(r);
            snprintf(field, sizeof(field), "peers[%zu].channel_kind", i);
            if (ck != 0xFF && ck > 2)
                return fg_bad(r, r->off - 1, field,
                              "%u is not 0, 1, 2 or 0xFF", (unsigned)ck);
            if (ck != 0xFF && p.kind != MTS_PEER_CHANNEL)
                return fg_bad(r, r->off - 1, field,
                              "%u on a peer that is not a channel",
                              (unsigned)ck);
            if (ck != 0xFF)
                p.channel_kind = (mts_channel_kind)(ck + 1);
        }
        if (r->version >= 8) {
            uint8_t c = fg_u8(r);
            snprintf(field, sizeof(field), "peers[%zu].is_community", i);
            if (c > 1)
                return fg_bad(r, r->off - 1, field, "%u is not 0 or 1",
                              (unsigned)c);
            if (c && p.kind == MTS_PEER_CHAT)
                return fg_bad(r, r->off - 1, field,
                              "set on a basic chat (chats cannot be "
                              "communities)");
            p.community = c;
        }
        if (r->s == NULL)
            continue;
        snprintf(field, sizeof(field), "peers[%zu]", i);
        if (mts__has_peer(r->s, p.kind, p.id))
            return fg_bad(r, at, field,
                          "peer %lld of this type appears twice",
                          (long long)p.id);
        if ((rc = mts_session_put_peer(r->s, &p, NULL)) != 0)
            return rc == MTS_ENOMEM ? mts__err_oom(r->err)
                                    : fg_bad(r, at, field, "refused (%s)",
                                             mts_errname(rc));
    }
    return 0;
}

static int
fg_min_peers(fg_rd *r)
{
    uint16_t n;
    int rc;
    if ((rc = fg_need(r, 2, "min_peer_count")) != 0)
        return rc;
    n = fg_u16(r);
    for (size_t i = 0; i < n; i++) {
        char field[48];
        mts_min_peer mp, old;
        size_t at = r->off;
        snprintf(field, sizeof(field), "min_peers[%zu]", i);
        if ((rc = fg_need(r, 20, field)) != 0)
            return rc;
        mp.user_id = fg_i64(r);
        mp.peer_id = fg_i64(r);
        mp.msg_id = fg_i32(r);
        if (mp.user_id <= 0)
            return fg_bad(r, at, field, "user_id %lld is not a user id",
                          (long long)mp.user_id);
        if (mp.peer_id == 0)
            return fg_bad(r, at + 8, field, "peer_id 0 is not a peer id");
        if (r->s == NULL)
            continue;
        if (mts_session_get_min_peer(&old, r->s, mp.user_id) == 0)
            return fg_bad(r, at, field, "user %lld appears twice",
                          (long long)mp.user_id);
        if ((rc = mts__put_min_peer(r->s, &mp, NULL)) != 0)
            return rc == MTS_ENOMEM ? mts__err_oom(r->err)
                                    : fg_bad(r, at, field, "refused (%s)",
                                             mts_errname(rc));
    }
    return 0;
}

static int
fg_token(fg_rd *r)
{
    int has, rc;
    uint16_t n;
    if ((rc = fg_flag(r, "has_token", &has)) != 0)
        return rc;
    if (!has)
        return 0;
    if ((rc = fg_need(r, 2, "token_len")) != 0)
        return rc;
    n = fg_u16(r);
    if ((rc = fg_need(r, n, "token")) != 0)
        return rc;
    /* An empty token is no token: the model has no empty one. A session
     * is only built from raw bytes, so r->p is the token here. */
    if (r->s != NULL && n > 0 &&
        (rc = mts_session_set_future_auth_token(r->s, r->p + r->off, n)) != 0)
        return rc == MTS_ENOMEM ? mts__err_oom(r->err)
                                : fg_bad(r, r->off, "token", "refused (%s)",
                                         mts_errname(rc));
    r->off += n;
    return 0;
}

/*
 * Parse all of `src` as `version` (0 = legacy). With out NULL only the
 * structure is checked and nothing is allocated; otherwise a session is
 * built (from raw bytes only) and handed out.
 */
static int
fg_parse(mts_session **out, const fg_rd *src, int version, mts_error *err)
{
    fg_rd r = *src;
    int rc;
    uint8_t ndc;

    MTS_ASSERT(out == NULL || !src->b64);
    r.off = version != 0 ? 1 : 0;
    r.version = version;
    r.err = err;
    r.s = NULL;
    r.home_seen = 0;
    if (version == 0)
        snprintf(r.label, sizeof(r.label), "legacy");
    else
        snprintf(r.label, sizeof(r.label), "v%d", version);
    if (out != NULL && mts_session_new(&r.s, MTS_NEW_EMPTY) != 0)
        return mts__err_oom(err);
    if ((rc = fg_need(&r, 4 + 1, "home_dc_id and dc_count")) != 0)
        goto fail;
    r.home = fg_i32(&r);
    if (r.home < 0) {
        rc = fg_bad(&r, r.off - 4, "home_dc_id", "%d is not a DC id",
                    (int)r.home);
        goto fail;
    }
    if (r.s != NULL)
        mts_session_set_home_dc(r.s, r.home);
    ndc = fg_u8(&r);
    for (size_t i = 0; i < ndc; i++)
        if ((rc = fg_dc(&r, i)) != 0)
            goto fail;
    if (version >= 2) {
        if ((rc = fg_updates(&r)) != 0 || (rc = fg_peers(&r)) != 0)
            goto fail;
        if (version >= 4 && (rc = fg_min_peers(&r)) != 0)
            goto fail;
        if (version >= 7 && (rc = fg_token(&r)) != 0)
            goto fail;
    }
    if (version == 0 && r.home != 0 && !r.home_seen) {
        /* With no version byte the legacy reading is the fallback; a home
         * DC without an entry is refused so that short prefixes of other
         * data (a 5-byte "home DC, no DCs") do not pass for sessions. */
        rc = fg_bad(&r, 0, "home_dc_id", "%d has no entry in the DC table",
                    (int)r.home);
        goto fail;
    }
    if (r.off != r.n) {
        rc = mts__err_at(err, MTS_ECORRUPT, (int64_t)r.off,
                         "ferogram %s: %zu trailing bytes after the session "
                         "at byte %zu",
                         r.label, r.n - r.off, r.off);
        goto fail;
    }
    if (out != NULL)
        *out = r.s;
    return 0;
fail:
    mts_session_free(r.s);
    return rc;
}

static void
fg_describe(char *buf, size_t size, const char *label, const mts_session *s)
{
    snprintf(buf, size, "%s (home DC %d, %zu DCs, %zu peers)", label,
             (int)mts_session_home_dc(s), mts_session_dc_count(s),
             mts_session_peer_count(s));
}

/* Both readings of a whole input, as ferogram's versions allow (see the
 * top of the file). With out NULL: a structural check, no allocation. */
static int
fg_read(mts_session **out, const fg_rd *src, mts_error *err)
{
    mts_session *legacy = NULL, *versioned = NULL;
    mts_error e_legacy = MTS_ERROR_INIT, e_ver = MTS_ERROR_INIT;
    int rc_legacy, rc_ver;
    uint8_t b0;

    if (src->n == 0)
        return mts__err_at(err, MTS_EFORMAT, 0, "ferogram: empty input");
    b0 = fg_at(src, 0);
    rc_legacy = fg_parse(out ? &legacy : NULL, src, 0,
                         err ? &e_legacy : NULL);
    if (rc_legacy == MTS_ENOMEM)
        return mts__err_oom(err);
    if (b0 < 2 || b0 > FG_LATEST) {
        if (rc_legacy == 0) {
            if (out != NULL)
                *out = legacy;
            return 0;
        }
        if (b0 > FG_LATEST)
            return mts__err_at(err, MTS_EVERSION, 0,
                               "ferogram: unknown version byte 0x%02x "
                               "(0x02..0x08 are known), and not a legacy "
                               "file either",
                               (unsigned)b0);
        if (err != NULL)
            *err = e_legacy;
        return rc_legacy;
    }
    rc_ver = fg_parse(out ? &versioned : NULL, src, b0, err ? &e_ver : NULL);
    if (rc_ver == MTS_ENOMEM) {
        mts_session_free(legacy);
        return mts__err_oom(err);
    }
    if (rc_ver == 0 && rc_legacy == 0) {
        char a[96], b[96], label[16];
        if (out == NULL)
            return MTS_EAMBIGUOUS;
        fg_describe(a, sizeof(a), "legacy", legacy);
        snprintf(label, sizeof(label), "version 0x%02x", (unsigned)b0);
        fg_describe(b, sizeof(b), label, versioned);
        mts_session_free(legacy);
        mts_session_free(versioned);
        return mts__err_at(err, MTS_EAMBIGUOUS, 0,
                           "ferogram: two readings fit: %s or %s; refusing "
                           "to guess",
                           a, b);
    }
    if (rc_ver == 0 || rc_legacy == 0) {
        if (out != NULL)
            *out = rc_ver == 0 ? versioned : legacy;
        return 0;
    }
    /* Neither fits: report the reading whose home DC is plausible. Bytes
     * 1..3 all zero with a non-zero byte 4 mean a legacy home DC of 2..8
     * (and a versioned one of 16777216 or more); otherwise the versioned
     * reading, since no ferogram release wrote the legacy layout. */
    if (src->n >= 5 && fg_at(src, 1) == 0 && fg_at(src, 2) == 0 &&
        fg_at(src, 3) == 0 && fg_at(src, 4) != 0) {
        if (err != NULL)
            *err = e_legacy;
        return rc_legacy;
    }
    if (err != NULL)
        *err = e_ver;
    return rc_ver;
}

static int
fg_decode_bytes(mts_session **out, const uint8_t *data, size_t len,
                mts_error *err)
{
    fg_rd src;
    memset(&src, 0, sizeof(src));
    src.p = data;
    src.n = len;
    return fg_read(out, &src, err);
}

/* 1 when bytes (raw, or base64url text when b64) hold a ferogram
 * session; allocates nothing. */
static int
fg_check(const uint8_t *p, size_t n, size_t tn, int b64)
{
    fg_rd src;
    int rc;
    memset(&src, 0, sizeof(src));
    src.p = p;
    src.n = n;
    src.tn = tn;
    src.b64 = b64;
    rc = fg_read(NULL, &src, NULL);
    return rc == 0 || rc == MTS_EAMBIGUOUS;
}

/* ---- encoding the binary file ----------------------------------------- */

static int
cmp_chan(const void *a, const void *b)
{
    const mts_channel_pts *x = a, *y = b;
    return (x->channel_id > y->channel_id) - (x->channel_id < y->channel_id);
}

static int
cmp_min(const void *a, const void *b)
{
    const mts_min_peer *x = a, *y = b;
    return (x->user_id > y->user_id) - (x->user_id < y->user_id);
}

/* Warn once per kind of data no ferogram version holds. */
static void
fg_warn_common(const mts_session *s, mts_warn_fn warn, void *payload)
{
    size_t users = 0, phones = 0, bots = 0;
    int32_t api;
    int64_t uid;
    int bot;
    for (size_t i = 0; i < mts_session_peer_count(s); i++) {
        mts_peer p;
        if (mts_session_peer_at(&p, s, i) != 0)
            continue;
        if (p.username != NULL)
            users++;
        if (p.phone != NULL)
            phones++;
        if (p.bot)
            bots++;
    }
    if (mts_session_test_mode(s))
        mts__warn(warn, payload, "test mode flag");
    if (mts_session_api_id(s, &api) == 0)
        mts__warn(warn, payload, "api_id");
    if (mts_session_user(s, &uid, &bot) == 0)
        mts__warn(warn, payload, "account user id and bot flag");
    if (users)
        mts__warn(warn, payload, "peer usernames (%zu)", users);
    if (phones)
        mts__warn(warn, payload, "peer phone numbers (%zu)", phones);
    if (bots)
        mts__warn(warn, payload, "bot flags of peers (%zu)", bots);
}

static int
fg_encode_bytes(uint8_t **out, size_t *out_len, const mts_session *s,
                int version, mts_warn_fn warn, void *payload, mts_error *err)
{
    mts__buf b;
    mts_update_state st;
    mts_channel_pts *chans = NULL;
    mts_min_peer *mins = NULL;
    size_t *order = NULL;
    size_t ndc = mts_session_dc_count(s), npeer = mts_session_peer_count(s);
    size_t nchan = mts_session_channel_count(s);
    size_t nmin = mts_session_min_peer_count(s);
    const uint8_t *tok = NULL;
    size_t toklen = 0;
    size_t kinds = 0, communities = 0;
    int rc;

    if (ndc > 255)
        return mts__err(err, MTS_ELIMIT,
                        "ferogram: %zu DC entries; the format holds at most "
                        "255",
                        ndc);
    if (npeer > 65535)
        return mts__err(err, MTS_ELIMIT,
                        "ferogram: %zu peers; the format holds at most 65535",
                        npeer);
    if (nchan > 65535)
        return mts__err(err, MTS_ELIMIT,
                        "ferogram: %zu channel pts entries; the format holds "
                        "at most 65535",
                        nchan);
    if (nmin > 65535)
        return mts__err(err, MTS_ELIMIT,
                        "ferogram: %zu min peers; the format holds at most "
                        "65535",
                        nmin);
    if (mts_session_future_auth_token(s, &tok, &toklen) == 0 && version >= 7 &&
        toklen > 65535)
        return mts__err(err, MTS_ELIMIT,
                        "ferogram: a future auth token of %zu bytes; the "
                        "format holds at most 65535",
                        toklen);

    chans = mts__calloc(nchan ? nchan : 1, sizeof(*chans));
    mins = mts__calloc(nmin ? nmin : 1, sizeof(*mins));
    if (chans == NULL || mins == NULL || mts__peer_order(&order, s) != 0) {
        mts_free(chans);
        mts_free(mins);
        return mts__err_oom(err);
    }
    for (size_t i = 0; i < nchan; i++)
        mts_session_channel_at(&chans[i], s, i);
    for (size_t i = 0; i < nmin; i++)
        mts_session_min_peer_at(&mins[i], s, i);
    qsort(chans, nchan, sizeof(*chans), cmp_chan);
    qsort(mins, nmin, sizeof(*mins), cmp_min);

    mts__buf_init(&b, FG_MAX_OUT);
    mts__buf_u8(&b, (uint8_t)version);
    mts__buf_u32le(&b, (uint32_t)mts_session_home_dc(s));
    mts__buf_u8(&b, (uint8_t)ndc);
    for (size_t i = 0; i < ndc; i++) {
        mts_dc dc;
        char ip[64], addr[80];
        int w;
        mts_session_dc_at(&dc, s, i);
        mts_ip_format(ip, sizeof(ip), &dc.ip);
        w = snprintf(addr, sizeof(addr), dc.ip.family == 6 ? "[%s]:%u"
                                                           : "%s:%u",
                     ip, (unsigned)dc.port);
        MTS_ASSERT(w > 0 && w < 256);
        mts__buf_u32le(&b, (uint32_t)dc.dc_id);
        mts__buf_u8(&b, (uint8_t)(dc.auth_key != NULL));
        if (dc.auth_key != NULL)
            mts__buf_put(&b, dc.auth_key, FG_KEY_LEN);
        mts__buf_u64le(&b, (uint64_t)dc.server_salt);
        mts__buf_u32le(&b, (uint32_t)dc.time_offset);
        mts__buf_u8(&b, (uint8_t)w);
        mts__buf_put(&b, addr, (size_t)w);
        mts__buf_u8(&b, (uint8_t)dc.flags);
    }
    mts_session_update_state(s, &st);
    mts__buf_u32le(&b, (uint32_t)st.pts);
    mts__buf_u32le(&b, (uint32_t)st.qts);
    mts__buf_u32le(&b, (uint32_t)st.date);
    mts__buf_u32le(&b, (uint32_t)st.seq);
    mts__buf_u16le(&b, (uint16_t)nchan);
    for (size_t i = 0; i < nchan; i++) {
        mts__buf_u64le(&b, (uint64_t)chans[i].channel_id);
        mts__buf_u32le(&b, (uint32_t)chans[i].pts);
    }
    mts__buf_u16le(&b, (uint16_t)npeer);
    for (size_t i = 0; i < npeer; i++) {
        mts_peer p;
        mts_session_peer_at(&p, s, order[i]);
        mts__buf_u64le(&b, (uint64_t)p.id);
        mts__buf_u64le(&b, (uint64_t)p.access_hash);
        mts__buf_u8(&b, p.kind == MTS_PEER_CHAT
                            ? 2
                            : (p.kind == MTS_PEER_CHANNEL ? 1 : 0));
        if (p.channel_kind != MTS_CHANNEL_UNKNOWN)
            kinds++;
        if (p.community)
            communities++;
        if (version >= 6)
            mts__buf_u8(&b, p.channel_kind == MTS_CHANNEL_UNKNOWN
                                ? 0xFF
                                : (uint8_t)(p.channel_kind - 1));
        if (version >= 8)
            mts__buf_u8(&b, (uint8_t)(p.community != 0));
    }
    mts__buf_u16le(&b, (uint16_t)nmin);
    for (size_t i = 0; i < nmin; i++) {
        mts__buf_u64le(&b, (uint64_t)mins[i].user_id);
        mts__buf_u64le(&b, (uint64_t)mins[i].peer_id);
        mts__buf_u32le(&b, (uint32_t)mins[i].msg_id);
    }
    if (version >= 7) {
        mts__buf_u8(&b, (uint8_t)(tok != NULL));
        if (tok != NULL) {
            mts__buf_u16le(&b, (uint16_t)toklen);
            mts__buf_put(&b, tok, toklen);
        }
    }
    mts_free(chans);
    mts_free(mins);
    mts_free(order);
    rc = mts__buf_finish(&b, out, out_len, err);
    if (rc != 0)
        return rc;
    fg_warn_common(s, warn, payload);
    if (version < 6 && kinds)
        mts__warn(warn, payload, "channel kinds (%zu)", kinds);
    if (version < 8 && communities)
        mts__warn(warn, payload, "community flags (%zu)", communities);
    if (version < 7 && tok != NULL)
        mts__warn(warn, payload, "future auth token");
    return 0;
}

/* ---- the binary file format ------------------------------------------- */

static int
fg_probe(const uint8_t *data, size_t len)
{
    return fg_check(data, len, 0, 0);
}

static int
fg_decode(mts_session **out, const uint8_t *data, size_t len, mts_error *err)
{
    return fg_decode_bytes(out, data, len, err);
}

static int
fg_encode(uint8_t **out, size_t *out_len, const mts_session *s,
          const mts_format_options *opts, mts_warn_fn warn, void *payload,
          mts_error *err)
{
    int v = opts != NULL ? opts->format_version : 0;
    if (v == 0)
        v = FG_LATEST;
    if (v != 8 && v != 5)
        return mts__err(err, MTS_EINVAL,
                        "ferogram: cannot write version %d (8 or 5)", v);
    return fg_encode_bytes(out, out_len, s, v, warn, payload, err);
}

/* ---- the native string ------------------------------------------------- */

/* Decode base64url text, trimmed; *start gets the trim offset. */
static int
fg_unbase64(uint8_t **bytes, size_t *n, const uint8_t *data, size_t len,
            size_t *start, mts_error *err)
{
    const uint8_t *p = mts__trim(data, &len);
    int rc;
    *start = (size_t)(p - data);
    if (len == 0)
        return mts__err_at(err, MTS_EFORMAT, 0, "empty input");
    rc = mts_base64url_decode(bytes, n, (const char *)p, len, err);
    if (rc != 0 && err != NULL && err->offset >= 0)
        err->offset += (int64_t)*start;
    return rc;
}

static int
fgs_decode(mts_session **out, const uint8_t *data, size_t len,
           mts_error *err)
{
    uint8_t *bytes;
    size_t n, start;
    int rc = fg_unbase64(&bytes, &n, data, len, &start, err);
    if (rc != 0) {
        if (err != NULL && rc != MTS_ENOMEM)
            mts__err_prefix(err, "ferogram-string");
        return rc;
    }
    rc = fg_decode_bytes(out, bytes, n, err);
    if (rc != 0 && err != NULL && rc != MTS_ENOMEM) {
        /* Point at the character where the failing byte starts. */
        if (err->offset >= 0)
            err->offset = (int64_t)start + err->offset * 4 / 3;
        mts__err_prefix(err, "ferogram-string (decoded payload)");
    }
    mts__wipe(bytes, n);
    mts_free(bytes);
    return rc;
}

static int
fgs_probe(const uint8_t *data, size_t len)
{
    const uint8_t *p = mts__trim(data, &len);
    size_t n;
    /* Checked in place: nothing is decoded into memory. */
    if (len == 0 || b64_check(p, len, &n) != 0)
        return 0;
    return fg_check(p, n, len, 1);
}

static int
fgs_encode(uint8_t **out, size_t *out_len, const mts_session *s,
           const mts_format_options *opts, mts_warn_fn warn, void *payload,
           mts_error *err)
{
    uint8_t *bytes;
    size_t n;
    char *text;
    int rc;
    (void)opts;
    rc = fg_encode_bytes(&bytes, &n, s, FG_LATEST, warn, payload, err);
    if (rc != 0)
        return rc;
    rc = mts_base64url_encode(&text, bytes, n);
    mts__wipe(bytes, n);
    mts_free(bytes);
    if (rc != 0)
        return mts__err_oom(err);
    *out = (uint8_t *)text;
    *out_len = strlen(text);
    return 0;
}

/* ---- the compact string ------------------------------------------------ */

static void
put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t
fgc_be(const fg_rd *r, size_t off, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | fg_at(r, off + (size_t)i);
    return v;
}

/* Parse a compact string's bytes; with out NULL only check them (no
 * allocation; the source may then be base64url text read in place). */
static int
fgc_parse(mts_session **out, const fg_rd *src, mts_error *err)
{
    mts_session *s;
    mts_dc dc = MTS_DC_INIT;
    size_t iplen, want, off, n = src->n;
    int64_t uid;
    uint8_t ver, type;
    int rc;

    if (n == 0)
        return mts__err_at(err, MTS_EFORMAT, 0, "ferogram-compact: empty");
    ver = fg_at(src, 0);
    if (ver != 1 && ver != 2)
        return mts__err_at(err, MTS_EVERSION, 0,
                           "ferogram-compact: unknown version %u (1 or 2)",
                           (unsigned)ver);
    if (n < 3)
        return mts__err_at(err, MTS_ECORRUPT, (int64_t)n,
                           "ferogram-compact V%u: truncated at byte %zu "
                           "(no ip_type)",
                           (unsigned)ver, n);
    type = fg_at(src, 2);
    if (type != 4 && type != 6)
        return mts__err_at(err, MTS_ECORRUPT, 2,
                           "ferogram-compact V%u: ip_type at byte 2: %u is "
                           "not 4 or 6",
                           (unsigned)ver, (unsigned)type);
    iplen = type == 4 ? 4 : 16;
    want = ver == 2 ? (iplen == 4 ? FG_COMPACT_V2_V4 : FG_COMPACT_V2_V6)
                    : (iplen == 4 ? FG_COMPACT_V1_V4 : FG_COMPACT_V1_V6);
    if (n != want)
        return mts__err_at(err, MTS_ECORRUPT, (int64_t)(n < want ? n : want),
                           "ferogram-compact V%u: %zu bytes, an IPv%u string "
                           "has exactly %zu (%s)",
                           (unsigned)ver, n, (unsigned)type, want,
                           n < want ? "truncated" : "trailing bytes");
    dc.dc_id = fg_at(src, 1);
    if (dc.dc_id == 0)
        return mts__err_at(err, MTS_ECORRUPT, 1,
                           "ferogram-compact V%u: dc_id at byte 1: 0 is not "
                           "a DC id",
                           (unsigned)ver);
    dc.ip.family = type;
    for (size_t i = 0; i < iplen; i++)
        dc.ip.bytes[i] = fg_at(src, 3 + i);
    off = 3 + iplen;
    dc.port = (uint16_t)fgc_be(src, off, 2);
    if (dc.port == 0)
        return mts__err_at(err, MTS_ECORRUPT, (int64_t)off,
                           "ferogram-compact V%u: port at byte %zu: 0 is not "
                           "a port",
                           (unsigned)ver, off);
    off += 2;
    uid = (int64_t)fgc_be(src, off, 8);
    if (uid < 0)
        return mts__err_at(err, MTS_ECORRUPT, (int64_t)off,
                           "ferogram-compact V%u: user_id at byte %zu: %lld "
                           "is not a user id",
                           (unsigned)ver, off, (long long)uid);
    off += 8;
    if (ver == 1) {
        dc.server_salt = (int64_t)fgc_be(src, off, 8);
        off += 8 + 4 + 4; /* seq_no and layer: nothing in the model */
    }
    MTS_ASSERT(off + FG_KEY_LEN == n);
    if (fg_zero(src, off, FG_KEY_LEN))
        return mts__err_at(err, MTS_ECORRUPT, (int64_t)off,
                           "ferogram-compact V%u: auth_key at byte %zu: all "
                           "%d bytes are zero",
                           (unsigned)ver, off, FG_KEY_LEN);
    if (out == NULL)
        return 0;
    MTS_ASSERT(!src->b64);
    dc.flags = iplen == 16 ? MTS_DC_IPV6 : 0;
    dc.auth_key = src->p + off;
    if (mts_session_new(&s, MTS_NEW_EMPTY) != 0)
        return mts__err_oom(err);
    mts_session_set_home_dc(s, dc.dc_id);
    if ((rc = mts__put_dc(s, &dc, err)) != 0 ||
        (uid > 0 && (rc = mts_session_set_user(s, uid, 0)) != 0)) {
        mts_session_free(s);
        return rc == MTS_ENOMEM ? mts__err_oom(err) : rc;
    }
    *out = s;
    return 0;
}

static int
fgc_decode(mts_session **out, const uint8_t *data, size_t len,
           mts_error *err)
{
    fg_rd src;
    uint8_t *bytes;
    size_t n, start;
    int rc = fg_unbase64(&bytes, &n, data, len, &start, err);
    if (rc != 0) {
        if (err != NULL && rc != MTS_ENOMEM)
            mts__err_prefix(err, "ferogram-compact");
        return rc;
    }
    memset(&src, 0, sizeof(src));
    src.p = bytes;
    src.n = n;
    rc = fgc_parse(out, &src, err);
    if (rc != 0 && err != NULL && err->offset >= 0 && rc != MTS_ENOMEM)
        err->offset = (int64_t)start + err->offset * 4 / 3;
    mts__wipe(bytes, n);
    mts_free(bytes);
    return rc;
}

static int
fgc_probe(const uint8_t *data, size_t len)
{
    const uint8_t *p = mts__trim(data, &len);
    fg_rd src;
    if (len != 364 && len != 380 && len != 386 && len != 402)
        return 0;
    memset(&src, 0, sizeof(src));
    if (b64_check(p, len, &src.n) != 0)
        return 0;
    src.p = p;
    src.tn = len;
    src.b64 = 1;
    return fgc_parse(NULL, &src, NULL) == 0;
}

/* The home DC entry to export: a key is required; a general-purpose
 * IPv4 entry is preferred over IPv6, media-only and CDN ones. */
static int
pick_home_dc(mts_dc *out, const mts_session *s)
{
    int best = -1;
    int32_t home = mts_session_home_dc(s);
    for (size_t i = 0; i < mts_session_dc_count(s); i++) {
        mts_dc dc;
        int score;
        mts_session_dc_at(&dc, s, i);
        if (dc.dc_id != home || dc.auth_key == NULL)
            continue;
        score = (dc.flags & (MTS_DC_MEDIA_ONLY | MTS_DC_CDN)) ? 0 : 2;
        score += dc.ip.family == 4;
        if (score > best) {
            best = score;
            *out = dc;
        }
    }
    return best >= 0 ? 0 : MTS_ENOTFOUND;
}

static int
fgc_encode(uint8_t **out, size_t *out_len, const mts_session *s,
           const mts_format_options *opts, mts_warn_fn warn, void *payload,
           mts_error *err)
{
    uint8_t b[FG_COMPACT_V1_V6];
    mts_dc dc;
    mts_update_state st;
    int64_t uid = 0;
    int bot = 0, ver = opts != NULL ? opts->format_version : 0;
    size_t iplen, off, n, others = 0;
    const uint8_t *tok;
    size_t toklen;
    int32_t api;
    char *text;
    int rc;

    if (ver == 0)
        ver = 2;
    if (ver != 1 && ver != 2)
        return mts__err(err, MTS_EINVAL,
                        "ferogram-compact: cannot write version %d (2 or 1)",
                        ver);
    if (mts_session_home_dc(s) == 0)
        return mts__err(err, MTS_EINVAL,
                        "ferogram-compact: the session has no home DC");
    if (pick_home_dc(&dc, s) != 0)
        return mts__err(err, MTS_EINVAL,
                        "ferogram-compact: the home DC %d has no entry with "
                        "an auth key",
                        (int)mts_session_home_dc(s));
    if (dc.dc_id > 255)
        return mts__err(err, MTS_ELIMIT,
                        "ferogram-compact: DC id %d does not fit in a byte",
                        (int)dc.dc_id);
    if (mts_session_user(s, &uid, &bot) != 0)
        uid = 0;
    iplen = dc.ip.family == 4 ? 4 : 16;
    b[0] = (uint8_t)ver;
    b[1] = (uint8_t)dc.dc_id;
    b[2] = dc.ip.family;
    memcpy(b + 3, dc.ip.bytes, iplen);
    off = 3 + iplen;
    put_be(b + off, dc.port, 2);
    off += 2;
    put_be(b + off, (uint64_t)uid, 8);
    off += 8;
    if (ver == 1) {
        put_be(b + off, (uint64_t)dc.server_salt, 8);
        put_be(b + off + 8, 0, 4); /* seq_no: unknown */
        put_be(b + off + 12, 0, 4); /* layer: unknown */
        off += 16;
    }
    memcpy(b + off, dc.auth_key, FG_KEY_LEN);
    n = off + FG_KEY_LEN;
    rc = mts_base64url_encode(&text, b, n);
    mts__wipe(b, sizeof(b));
    if (rc != 0)
        return mts__err_oom(err);
    *out = (uint8_t *)text;
    *out_len = strlen(text);

    others = mts_session_dc_count(s) - 1;
    if (others)
        mts__warn(warn, payload, "DC entries other than the home DC's (%zu)",
                  others);
    if (ver == 2 && dc.server_salt != 0)
        mts__warn(warn, payload, "server salt");
    if (dc.time_offset != 0)
        mts__warn(warn, payload, "time offset");
    mts_session_update_state(s, &st);
    if (st.pts || st.qts || st.date || st.seq)
        mts__warn(warn, payload, "update state");
    if (mts_session_channel_count(s))
        mts__warn(warn, payload, "channel pts (%zu)",
                  mts_session_channel_count(s));
    if (mts_session_peer_count(s))
        mts__warn(warn, payload, "peers (%zu)", mts_session_peer_count(s));
    if (mts_session_min_peer_count(s))
        mts__warn(warn, payload, "min peers (%zu)",
                  mts_session_min_peer_count(s));
    if (mts_session_future_auth_token(s, &tok, &toklen) == 0)
        mts__warn(warn, payload, "future auth token");
    if (mts_session_test_mode(s))
        mts__warn(warn, payload, "test mode flag");
    if (mts_session_api_id(s, &api) == 0)
        mts__warn(warn, payload, "api_id");
    if (bot)
        mts__warn(warn, payload, "bot flag of the account");
    return 0;
}

const mts__format_ops mts__fmt_ferogram = {
    MTS_FORMAT_FEROGRAM, MTS_FORMAT_CAN_READ | MTS_FORMAT_CAN_WRITE,
    fg_probe, fg_decode, fg_encode
};
const mts__format_ops mts__fmt_ferogram_string = {
    MTS_FORMAT_FEROGRAM_STRING,
    MTS_FORMAT_CAN_READ | MTS_FORMAT_CAN_WRITE | MTS_FORMAT_IS_TEXT,
    fgs_probe, fgs_decode, fgs_encode
};
const mts__format_ops mts__fmt_ferogram_compact = {
    MTS_FORMAT_FEROGRAM_COMPACT,
    MTS_FORMAT_CAN_READ | MTS_FORMAT_CAN_WRITE | MTS_FORMAT_IS_TEXT,
    fgc_probe, fgc_decode, fgc_encode
};
