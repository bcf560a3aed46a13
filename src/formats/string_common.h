/*
 * string_common.h - helpers shared by the other libraries' one-line
 * string formats (telethon_string.c, pyrogram_string.c, gramjs.c,
 * mtcute.c): padded and unpadded base64 in either alphabet, big-endian
 * readers, the single-DC session they all map to, the home-DC entry they
 * all write, and the one-warning-per-dropped-kind report.
 *
 * Internal to the library (mts__ names); not installed.
 */
#ifndef MTSESSION_FORMATS_STRING_COMMON_H
#define MTSESSION_FORMATS_STRING_COMMON_H

#include "internal.h"

/* Alphabet and padding flags for mts__b64_decode / mts__b64_encode. */
#define MTS__B64_STD 1u /* '+' and '/' */
#define MTS__B64_URL 2u /* '-' and '_' */
#define MTS__B64_PAD 4u /* '=' padding to a multiple of 4 (else none) */

/*
 * Strict base64: only the alphabets in `flags` (never both mixed in one
 * string), padding exactly as `flags` says, zero trailing bits. `base` is
 * added to every character offset reported (the input offset of text[0]).
 * *out is wiped on error and must be wiped by the caller (it may hold a
 * key). Returns 0, MTS_ECORRUPT (err->offset = the character) or
 * MTS_ENOMEM.
 */
int mts__b64_decode(uint8_t **out, size_t *out_len, const uint8_t *text,
                    size_t len, unsigned flags, size_t base, mts_error *err);

/*
 * `prefix` (may be "") followed by base64 of data: URL-safe when flags has
 * MTS__B64_URL, standard otherwise; padded when it has MTS__B64_PAD.
 * *out is NUL-terminated; *out_len excludes the NUL. 0 or MTS_ENOMEM.
 */
int mts__b64_encode(uint8_t **out, size_t *out_len, const char *prefix,
                    const uint8_t *data, size_t len, unsigned flags);

/* Input character where the encoding of payload byte `byte` starts. */
static inline int64_t
mts__b64_char_of(size_t base, size_t byte)
{
    return (int64_t)(base + byte / 3 * 4 + byte % 3);
}

static inline uint16_t
mts__rd16be(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t
mts__rd32be(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}
static inline uint64_t
mts__rd64be(const uint8_t *p)
{
    return ((uint64_t)mts__rd32be(p) << 32) | mts__rd32be(p + 4);
}
static inline void
mts__wr16be(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void
mts__wr32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void
mts__wr64be(uint8_t *p, uint64_t v)
{
    mts__wr32be(p, (uint32_t)(v >> 32));
    mts__wr32be(p + 4, (uint32_t)v);
}

/* 1 when all 256 bytes are zero (no library ever writes such a key). */
int mts__key_is_zero(const uint8_t *key);

/*
 * A new session with one DC entry (flags plus IPV6 when ip is v6, the
 * key copied) that is also the home DC. Returns 0, MTS_EINVAL (field
 * named), MTS_ENOMEM; *out is untouched on error.
 */
int mts__one_dc_session(mts_session **out, int32_t dc_id, const mts_ip *ip,
                        uint16_t port, unsigned flags, const uint8_t *key,
                        mts_error *err);

/*
 * The entry a one-DC format writes: the home DC's main entry
 * (mts_session_dc_for(home, prefer_ipv6 = 0)) with an auth key and a
 * dc_id that fits one byte. Errors (naming `fmt`): MTS_EINVAL when there
 * is no home DC, no entry for it or no key; MTS_ELIMIT for dc_id > 255.
 */
int mts__home_entry(mts_dc *out, const mts_session *s, mts_format fmt,
                    mts_error *err);

/*
 * The address Pyrogram connects to for a DC number (its string and its
 * SQLite file store none): the default table's general-purpose IPv4 entry
 * (port 443), or Pyrogram's own for production DC 203. 0 or
 * MTS_ENOTFOUND.
 */
int mts__pyrogram_address(mts_ip *ip, uint16_t *port, int32_t dc_id,
                          int test);

/* What a one-line format keeps, for mts__warn_drops. */
typedef struct mts__keeps {
    unsigned dc_flags; /* DC flag bits it stores for the entries written */
    int api_id;        /* 1 when it stores the api_id */
    int user;          /* ... the account's user id and bot flag */
    int test_mode;     /* ... the test-DC flag */
} mts__keeps;

/*
 * One warning per kind of data in `s` that the format drops, given the
 * `n` entries it writes (copies of the session's own entries): other DC
 * entries, salts and time offsets, DC flags, api_id, user, test mode,
 * future auth token, update state, channel pts, peers, min peers.
 */
void mts__warn_drops(const mts_session *s, const mts__keeps *keeps,
                     const mts_dc *written, size_t n, mts_warn_fn warn,
                     void *payload);

/*
 * 1 when `raw` (a decoded '1'-string payload of n bytes) has the shape of
 * GramJS's own layout: dc u8, address length u16 (1..100), exactly that
 * many printable ASCII bytes, port u16, a 256-byte key, nothing after. A
 * Telethon IPv6 payload never has it in practice (its first address group
 * would have to be 1..100 and the next bytes text). In gramjs.c.
 */
int mts__gramjs_text_shape(const uint8_t *raw, size_t n);

/*
 * When `data` is recognisably some format other than `self` (exactly one
 * probe fits), fill err with MTS_EFORMAT "this is <a Telethon string>,
 * not <a Pyrogram one>" and return MTS_EFORMAT; else return `rc` and leave
 * err as it is. Decoders pass their own error through this.
 */
int mts__diagnose(int rc, mts_format self, const uint8_t *data, size_t len,
                  mts_error *err);

#endif /* MTSESSION_FORMATS_STRING_COMMON_H */
