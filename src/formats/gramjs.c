/*
 * gramjs.c - GramJS StringSession, read and written.
 *
 * Text: the version character '1', then standard base64 with '=' padding
 * of:
 *
 *   dc_id     u8
 *   addr_len  u16 big-endian (GramJS writes it as a signed 16-bit value)
 *   address   addr_len bytes: the IP address as ASCII text
 *   port      u16 big-endian (signed 16-bit in GramJS: 1..32767)
 *   auth key  256 bytes (GramJS takes whatever follows; we require 256)
 *
 * GramJS's reader also takes Telethon strings: a 352-character body is
 * Telethon's IPv4 layout, and an addr_len over 100 means the two bytes
 * were the start of Telethon's packed IPv6 address. This reader takes
 * every Telethon string (see telethon_string.c) in either base64
 * alphabet, including IPv6 ones GramJS itself misreads (first group
 * 0x0000-0x0064 or 0x8000 and up): a payload is GramJS's text layout when
 * its shape says so (addr_len 1..100, exactly that many printable ASCII
 * bytes, then port and key, nothing more), else a 275-byte payload is
 * Telethon's IPv6 layout. Damage inside a text-shaped payload is reported
 * as such, never reread as an IPv6 address. Detection calls only GramJS's
 * own text layout gramjs-string; Telethon-shaped strings are
 * telethon-string, which both libraries read.
 *
 * Writing refuses what GramJS cannot read back: ports over 32767, and
 * 2- or 3-character addresses ("::", "::1"), whose 352-character body
 * GramJS would take for a Telethon string.
 *
 * Thread-safety: stateless.
 */
#include <stdio.h>
#include <string.h>

#include "string_common.h"

#define GJ_ADDR_MAX 100u  /* GramJS: a longer "length" means Telethon v6 */
#define GJ_PORT_MAX 32767u
#define GJ_TL_V4_BODY 352u
#define GJ_TL_V4_BYTES 263u
#define GJ_TL_V6_BYTES 275u
/* Padded base64 of the longest payload, 5 + 100 + 256 bytes. */
#define GJ_BODY_MAX ((5u + GJ_ADDR_MAX + MTS_AUTH_KEY_SIZE + 2u) / 3u * 4u)

enum { GJ_TEXT, GJ_TELETHON_V4, GJ_TELETHON_V6 };

typedef struct gj_parsed {
    int layout;
    uint8_t dc_id;
    mts_ip ip;
    uint16_t port;
    size_t key_at; /* payload offset of the key, for messages */
    uint8_t key[MTS_AUTH_KEY_SIZE];
} gj_parsed;

/* The address text at raw[3..3+len) as an IP, or MTS_ECORRUPT. */
static int
gj_addr(mts_ip *ip, const uint8_t *text, size_t len)
{
    char buf[GJ_ADDR_MAX + 1];
    if (len == 0 || len > GJ_ADDR_MAX || memchr(text, 0, len) != NULL)
        return MTS_ECORRUPT;
    memcpy(buf, text, len);
    buf[len] = '\0';
    return mts_ip_parse(ip, buf) == 0 ? 0 : MTS_ECORRUPT;
}

int
mts__gramjs_text_shape(const uint8_t *raw, size_t n)
{
    size_t alen;
    if (n < 5 + MTS_AUTH_KEY_SIZE)
        return 0;
    alen = mts__rd16be(raw + 1);
    if (alen == 0 || alen > GJ_ADDR_MAX ||
        n != 5 + alen + MTS_AUTH_KEY_SIZE)
        return 0;
    for (size_t i = 0; i < alen; i++)
        if (raw[3 + i] < 0x21 || raw[3 + i] > 0x7e)
            return 0;
    return 1;
}

/* Telethon's packed layouts (iplen 4 or 16). */
static void
gj_telethon(gj_parsed *g, const uint8_t *raw, size_t iplen)
{
    g->layout = iplen == 4 ? GJ_TELETHON_V4 : GJ_TELETHON_V6;
    g->dc_id = raw[0];
    g->ip.family = iplen == 4 ? 4 : 6;
    memcpy(g->ip.bytes, raw + 1, iplen);
    g->port = mts__rd16be(raw + 1 + iplen);
    g->key_at = 3 + iplen;
    memcpy(g->key, raw + g->key_at, MTS_AUTH_KEY_SIZE);
}

/* GramJS's text layout, with the first problem found reported. */
static int
gj_text(gj_parsed *g, const uint8_t *raw, size_t n, size_t base,
        mts_error *err)
{
    size_t alen, want;
    if (n < 3)
        return mts__err_at(err, MTS_ECORRUPT, mts__b64_char_of(base, n),
                           "payload is %zu bytes: truncated before the "
                           "address length",
                           n);
    alen = mts__rd16be(raw + 1);
    if (alen == 0)
        return mts__err_at(err, MTS_ECORRUPT, mts__b64_char_of(base, 1),
                           "address length (payload byte 1) is 0");
    want = 5 + alen + MTS_AUTH_KEY_SIZE;
    if (n != want)
        return mts__err_at(err, MTS_ECORRUPT, mts__b64_char_of(base, n),
                           "payload is %zu bytes; with a %zu-byte address "
                           "it must be %zu (truncated or extended)",
                           n, alen, want);
    if (gj_addr(&g->ip, raw + 3, alen) != 0)
        return mts__err_at(err, MTS_ECORRUPT, mts__b64_char_of(base, 3),
                           "address (payload bytes 3..%zu) is not an IP "
                           "address",
                           2 + alen);
    g->layout = GJ_TEXT;
    g->dc_id = raw[0];
    g->port = mts__rd16be(raw + 3 + alen);
    if (g->port > GJ_PORT_MAX)
        return mts__err_at(err, MTS_ECORRUPT,
                           mts__b64_char_of(base, 3 + alen),
                           "port %u (payload byte %zu) is negative as GramJS "
                           "reads it (a signed 16-bit value)",
                           (unsigned)g->port, 3 + alen);
    g->key_at = 5 + alen;
    memcpy(g->key, raw + g->key_at, MTS_AUTH_KEY_SIZE);
    return 0;
}

/* Parse the (untrimmed) input into *g. With `probe` only the structure
 * is checked (an all-zero key is the decoder's complaint, not a reason to
 * call the input some other format). */
static int
gj_parse(gj_parsed *g, const uint8_t *data, size_t len, int probe,
         mts_error *err)
{
    const uint8_t *p = mts__trim(data, &len);
    size_t base = (size_t)(p - data), body, n;
    uint8_t *raw;
    int rc;

    memset(g, 0, sizeof(*g));
    if (len == 0)
        return mts__err_at(err, MTS_EFORMAT, 0, "empty input");
    if (p[0] != '1')
        return mts__err_at(err, MTS_EFORMAT, (int64_t)base,
                           "a GramJS string starts with '1'; this one starts "
                           "with 0x%02x",
                           (unsigned)p[0]);
    body = len - 1;
    if (body > GJ_BODY_MAX)
        return mts__err_at(err, MTS_EFORMAT, (int64_t)(base + len),
                           "%zu characters is too long for a GramJS string "
                           "(at most %u)",
                           len, GJ_BODY_MAX + 1);
    rc = mts__b64_decode(&raw, &n, p + 1, body,
                         MTS__B64_STD | MTS__B64_URL | MTS__B64_PAD, base + 1,
                         err);
    if (rc != 0)
        return rc;
    base++;
    if (body == GJ_TL_V4_BODY) {
        /* GramJS: always Telethon's IPv4 layout. */
        if (n != GJ_TL_V4_BYTES)
            rc = mts__err_at(err, MTS_ECORRUPT, (int64_t)(base + body - 1),
                             "a 352-character body is Telethon's IPv4 "
                             "layout of 263 bytes; this one decodes to %zu",
                             n);
        else
            gj_telethon(g, raw, 4);
    } else if (mts__gramjs_text_shape(raw, n)) {
        rc = gj_text(g, raw, n, base, err);
    } else if (n == GJ_TL_V6_BYTES) {
        gj_telethon(g, raw, 16);
    } else {
        rc = gj_text(g, raw, n, base, err);
    }
    if (rc == 0 && g->dc_id == 0)
        rc = mts__err_at(err, MTS_ECORRUPT, mts__b64_char_of(base, 0),
                         "dc_id (payload byte 0) is 0");
    if (rc == 0 && g->port == 0)
        rc = mts__err_at(err, MTS_ECORRUPT,
                         mts__b64_char_of(base, g->key_at - 2),
                         "port (payload byte %zu) is 0", g->key_at - 2);
    if (rc == 0 && mts__key_is_zero(g->key) && !probe)
        rc = mts__err_at(err, MTS_ECORRUPT, mts__b64_char_of(base, g->key_at),
                         "auth key (payload byte %zu on) is all zeros",
                         g->key_at);
    if (rc != 0)
        mts__wipe(g, sizeof(*g));
    mts__wipe(raw, n);
    mts_free(raw);
    return rc;
}

static int
gj_probe(const uint8_t *data, size_t len)
{
    gj_parsed g;
    int rc = gj_parse(&g, data, len, 1, NULL);
    int ok = rc == 0 && g.layout == GJ_TEXT;
    mts__wipe(&g, sizeof(g));
    return rc == MTS_ENOMEM ? rc : ok;
}

static int
gj_decode(mts_session **out, const uint8_t *data, size_t len, mts_error *err)
{
    gj_parsed g;
    int rc = gj_parse(&g, data, len, 0, err);
    if (rc != 0)
        return mts__diagnose(rc, MTS_FORMAT_GRAMJS_STRING, data, len, err);
    rc = mts__one_dc_session(out, g.dc_id, &g.ip, g.port, 0, g.key, err);
    mts__wipe(&g, sizeof(g));
    return rc;
}

static int
gj_encode(uint8_t **out, size_t *out_len, const mts_session *s,
          const mts_format_options *opts, mts_warn_fn warn, void *payload,
          mts_error *err)
{
    static const mts__keeps keeps = { 0, 0, 0, 0 };
    uint8_t raw[5 + 46 + MTS_AUTH_KEY_SIZE];
    char addr[64];
    size_t alen, n = 0;
    mts_dc dc;
    int rc;
    (void)opts;
    rc = mts__home_entry(&dc, s, MTS_FORMAT_GRAMJS_STRING, err);
    if (rc != 0)
        return rc;
    if (dc.port > GJ_PORT_MAX)
        return mts__err(err, MTS_ELIMIT,
                        "gramjs-string keeps the port as a signed 16-bit "
                        "number; port %u does not fit",
                        (unsigned)dc.port);
    if (mts_ip_format(addr, sizeof(addr), &dc.ip) != 0)
        return mts__err(err, MTS_EINVAL, "home DC address cannot be "
                                         "formatted");
    alen = strlen(addr);
    if (alen <= 3)
        return mts__err(err, MTS_ELIMIT,
                        "gramjs-string cannot hold the address %s: GramJS "
                        "reads a string that short as Telethon's layout",
                        addr);
    raw[n++] = (uint8_t)dc.dc_id;
    mts__wr16be(raw + n, (uint16_t)alen);
    n += 2;
    memcpy(raw + n, addr, alen);
    n += alen;
    mts__wr16be(raw + n, dc.port);
    n += 2;
    memcpy(raw + n, dc.auth_key, MTS_AUTH_KEY_SIZE);
    n += MTS_AUTH_KEY_SIZE;
    rc = mts__b64_encode(out, out_len, "1", raw, n,
                         MTS__B64_STD | MTS__B64_PAD);
    mts__wipe(raw, sizeof(raw));
    if (rc != 0)
        return mts__err_oom(err);
    mts__warn_drops(s, &keeps, &dc, 1, warn, payload);
    return 0;
}

const mts__format_ops mts__fmt_gramjs_string = {
    MTS_FORMAT_GRAMJS_STRING,
    MTS_FORMAT_CAN_READ | MTS_FORMAT_CAN_WRITE | MTS_FORMAT_IS_TEXT,
    gj_probe, gj_decode, gj_encode
};
