/*
 * journal.c - the bytes of the file backend's update journal
 * (docs/FORMAT.md, "Journal"). The file backend appends one record per
 * apply_update_state call to "<path>.journal" instead of rewriting the
 * snapshot; a load decodes the snapshot and replays the records.
 *
 *   header   magic "MTSJRNL\x1a" | u16 version 1 | u16 flags 0 |
 *            u64 snapshot id | u32 CRC-32C of the 20 bytes before it
 *   record   u32 length | u8 kind | 3 bytes 0 | u32 synced | payload |
 *            u32 CRC-32C of the snapshot id (8 bytes) and the record
 *
 * A journal extends exactly one snapshot: the one whose id its header
 * names (a GENERATION section in a plain file, the envelope nonce in a
 * sealed one). Any other journal is stale and ignored. Seeding every
 * record's checksum with the id means a record left from an earlier
 * journal in the same file never passes for one of the current journal.
 *
 * `synced` is the length of the journal that was durable when the record
 * was written. It tells damage that a crash may leave (in bytes that were
 * not yet durable) from damage to bytes that had been made durable: only
 * the second is reported as corruption.
 *
 * The lease record "<path>.lease" (file.c, "Leases"), replaced whole:
 *
 *   lease    magic "MTSLEASE" | u16 version 1 | u16 owner length n |
 *            u64 epoch | i64 expiry (Unix ms) | owner (n bytes of UTF-8) |
 *            u32 CRC-32C of the 28 + n bytes before it
 *
 * No I/O and no shared state: thread-safe.
 */
#include "journal.h"

#include <string.h>

#define JOURNAL_MAGIC "MTSJRNL\x1a"
#define LEASE_MAGIC "MTSLEASE"
#define LEASE_VERSION 1
#define LEASE_FIXED 28 /* magic, version, owner length, epoch, expiry */
#define JOURNAL_MAGIC_LEN 8
#define JOURNAL_VERSION 1

/* Record kinds: never 0, so a zero-filled tail does not parse. */
enum { REC_PRIMARY = 1, REC_SECONDARY = 2, REC_CHANNEL = 3, REC_ALL = 4 };

#define REC_HEAD 12 /* length, kind, 3 zero bytes, synced */
#define REC_CRC 4
#define REC_PRIMARY_LEN (REC_HEAD + 12 + REC_CRC)
#define REC_SECONDARY_LEN (REC_HEAD + 4 + REC_CRC)
#define REC_CHANNEL_LEN (REC_HEAD + 12 + REC_CRC)
#define REC_ALL_FIXED (REC_HEAD + 20 + REC_CRC) /* without the channels */
#define REC_CHAN 12

/* Version-2 snapshot layout (docs/FORMAT.md). */
#define V2_HEADER 16
#define V2_CRC 4
#define TAG_GENERATION 7
#define GENERATION_SECTION 16 /* tag, flags, length, u64 */
#define SEALED_NONCE_AT 44

static void
wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void
wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void
wr64(uint8_t *p, uint64_t v)
{
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}

/* The CRC-32C every record of the journal of snapshot `id` starts from. */
static uint32_t
record_seed(uint64_t id)
{
    uint8_t b[8];
    wr64(b, id);
    return mts_crc32c(0, b, sizeof(b));
}

/* ---- writing ----------------------------------------------------------- */

void
mts__journal_header(uint8_t out[MTS__JOURNAL_HEADER], uint64_t id)
{
    memcpy(out, JOURNAL_MAGIC, JOURNAL_MAGIC_LEN);
    wr16(out + 8, JOURNAL_VERSION);
    wr16(out + 10, 0);
    wr64(out + 12, id);
    wr32(out + 20, mts_crc32c(0, out, 20));
}

size_t
mts__journal_record_size(const mts_update_change *c)
{
    switch (c->kind) {
    case MTS_UPDATE_PRIMARY:
        return REC_PRIMARY_LEN;
    case MTS_UPDATE_SECONDARY:
        return REC_SECONDARY_LEN;
    case MTS_UPDATE_CHANNEL:
        return REC_CHANNEL_LEN;
    case MTS_UPDATE_ALL:
        if (c->channel_count > (MTS__JOURNAL_MAX - REC_ALL_FIXED) / REC_CHAN)
            return 0;
        return REC_ALL_FIXED + REC_CHAN * c->channel_count;
    }
    return 0;
}

void
mts__journal_record(uint8_t *out, const mts_update_change *c, uint64_t id,
                    uint32_t synced)
{
    size_t len = mts__journal_record_size(c), at = REC_HEAD;
    uint8_t kind;
    MTS_ASSERT(len != 0);
    switch (c->kind) {
    case MTS_UPDATE_PRIMARY:
        kind = REC_PRIMARY;
        wr32(out + at, (uint32_t)c->state.pts);
        wr32(out + at + 4, (uint32_t)c->state.date);
        wr32(out + at + 8, (uint32_t)c->state.seq);
        at += 12;
        break;
    case MTS_UPDATE_SECONDARY:
        kind = REC_SECONDARY;
        wr32(out + at, (uint32_t)c->state.qts);
        at += 4;
        break;
    case MTS_UPDATE_CHANNEL:
        kind = REC_CHANNEL;
        wr64(out + at, (uint64_t)c->channel_id);
        wr32(out + at + 8, (uint32_t)c->channel_pts);
        at += 12;
        break;
    case MTS_UPDATE_ALL:
    default:
        kind = REC_ALL;
        wr32(out + at, (uint32_t)c->state.pts);
        wr32(out + at + 4, (uint32_t)c->state.qts);
        wr32(out + at + 8, (uint32_t)c->state.date);
        wr32(out + at + 12, (uint32_t)c->state.seq);
        wr32(out + at + 16, (uint32_t)c->channel_count);
        at += 20;
        for (size_t i = 0; i < c->channel_count; i++, at += REC_CHAN) {
            wr64(out + at, (uint64_t)c->channels[i].channel_id);
            wr32(out + at + 8, (uint32_t)c->channels[i].pts);
        }
        break;
    }
    MTS_ASSERT(at + REC_CRC == len);
    wr32(out, (uint32_t)len);
    out[4] = kind;
    out[5] = out[6] = out[7] = 0;
    wr32(out + 8, synced);
    wr32(out + at, mts_crc32c(record_seed(id), out, at));
}

/* ---- reading ----------------------------------------------------------- */

/*
 * Whether a whole, intact record of this journal starts at `at`: its
 * length fits the data and its kind, the reserved bytes are 0, `synced`
 * lies between the header and the record, and the checksum holds.
 * 0 with *rec_len, or a static reason.
 */
static const char *
check_record(const uint8_t *d, size_t len, size_t at, uint32_t seed,
             size_t *rec_len)
{
    size_t left = len - at, n;
    uint64_t want;
    uint32_t synced;
    if (left < MTS__JOURNAL_RECORD_MIN)
        return "incomplete record header";
    n = mts__rd32(d + at);
    switch (d[at + 4]) {
    case REC_PRIMARY:
        want = REC_PRIMARY_LEN;
        break;
    case REC_SECONDARY:
        want = REC_SECONDARY_LEN;
        break;
    case REC_CHANNEL:
        want = REC_CHANNEL_LEN;
        break;
    case REC_ALL:
        if (left < REC_ALL_FIXED)
            return "incomplete record";
        want = REC_ALL_FIXED +
               (uint64_t)mts__rd32(d + at + REC_HEAD + 16) * REC_CHAN;
        break;
    default:
        return "unknown record kind";
    }
    if (n != want)
        return "length does not match the record kind";
    if (n > left)
        return "incomplete record";
    if (d[at + 5] != 0 || d[at + 6] != 0 || d[at + 7] != 0)
        return "reserved bytes are not 0";
    synced = mts__rd32(d + at + 8);
    if (synced < MTS__JOURNAL_HEADER || synced > at)
        return "synced mark outside the journal before the record";
    if (mts_crc32c(seed, d + at, n - REC_CRC) != mts__rd32(d + at + n - 4))
        return "checksum mismatch";
    *rec_len = n;
    return NULL;
}

/* Apply the intact record at `at` to s. */
static int
apply_record(mts_session *s, const uint8_t *d, size_t at, mts_error *err)
{
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    mts_channel_pts *chans = NULL;
    const uint8_t *p = d + at + REC_HEAD;
    int rc;
    switch (d[at + 4]) {
    case REC_PRIMARY:
        c.kind = MTS_UPDATE_PRIMARY;
        c.state.pts = (int32_t)mts__rd32(p);
        c.state.date = (int32_t)mts__rd32(p + 4);
        c.state.seq = (int32_t)mts__rd32(p + 8);
        break;
    case REC_SECONDARY:
        c.kind = MTS_UPDATE_SECONDARY;
        c.state.qts = (int32_t)mts__rd32(p);
        break;
    case REC_CHANNEL:
        c.kind = MTS_UPDATE_CHANNEL;
        c.channel_id = (int64_t)mts__rd64(p);
        c.channel_pts = (int32_t)mts__rd32(p + 8);
        break;
    default: /* REC_ALL: check_record knows no other kind */
        c.kind = MTS_UPDATE_ALL;
        c.state.pts = (int32_t)mts__rd32(p);
        c.state.qts = (int32_t)mts__rd32(p + 4);
        c.state.date = (int32_t)mts__rd32(p + 8);
        c.state.seq = (int32_t)mts__rd32(p + 12);
        c.channel_count = mts__rd32(p + 16);
        p += 20;
        chans = mts__calloc(c.channel_count ? c.channel_count : 1,
                            sizeof(*chans));
        if (chans == NULL)
            return mts__err_oom(err);
        for (size_t i = 0; i < c.channel_count; i++, p += REC_CHAN) {
            chans[i].channel_id = (int64_t)mts__rd64(p);
            chans[i].pts = (int32_t)mts__rd32(p + 8);
        }
        c.channels = chans;
        break;
    }
    rc = mts__validate_change(&c, err);
    if (rc == MTS_ENOMEM) {
        rc = mts__err_oom(err);
    } else if (rc != 0) {
        /* A record with a good checksum that no writer could have made. */
        char msg[MTS_ERROR_MESSAGE_SIZE];
        msg[0] = '\0';
        if (err != NULL)
            memcpy(msg, err->message, sizeof(msg));
        rc = mts__err_at(err, MTS_ECORRUPT, (int64_t)at,
                         "record at byte %zu: %s", at, msg);
    } else if (mts_session_apply_update(s, &c) != 0) {
        rc = mts__err_oom(err); /* validated: only ENOMEM is left */
    }
    mts_free(chans);
    return rc;
}

int
mts__journal_replay(mts_session *s, const uint8_t *data, size_t len,
                    uint64_t snap_id, mts__jscan *out, mts_error *err)
{
    uint32_t seed;
    size_t at, n = 0;
    const char *why;
    memset(out, 0, sizeof(*out));
    out->len = len;
    if (len < MTS__JOURNAL_HEADER)
        return 0; /* nothing, or a header whose write was cut short */
    if (memcmp(data, JOURNAL_MAGIC, JOURNAL_MAGIC_LEN) != 0 ||
        mts_crc32c(0, data, 20) != mts__rd32(data + 20)) {
        /* A header alone may be one whose write a crash cut short (a
         * journal is emptied, made durable, then given its header). With
         * records behind it, the header itself was damaged. */
        if (len == MTS__JOURNAL_HEADER)
            return 0;
        return mts__err_at(err, MTS_ECORRUPT, 0,
                           "journal header at byte 0: %s (corrupt)",
                           memcmp(data, JOURNAL_MAGIC, JOURNAL_MAGIC_LEN) != 0
                               ? "bad magic"
                               : "checksum mismatch");
    }
    if (mts__rd16(data + 8) != JOURNAL_VERSION || mts__rd16(data + 10) != 0)
        return mts__err_at(err, MTS_EVERSION, 8,
                           "journal version %u, flags 0x%04x at byte 8 need a "
                           "newer reader",
                           mts__rd16(data + 8), mts__rd16(data + 10));
    if (snap_id == 0 || mts__rd64(data + 12) != snap_id) {
        out->state = MTS__J_STALE;
        return 0;
    }
    out->state = MTS__J_LIVE;
    seed = record_seed(snap_id);
    for (at = MTS__JOURNAL_HEADER; at < len; at += n) {
        int rc;
        if ((why = check_record(data, len, at, seed, &n)) != NULL)
            break;
        if ((rc = apply_record(s, data, at, err)) != 0)
            return rc;
        out->records++;
        out->last_crc = mts__rd32(data + at + n - REC_CRC);
    }
    if (at < len) {
        /*
         * The record at `at` is damaged or incomplete. That is the torn
         * tail of a write a crash interrupted, unless an intact record
         * behind it was written after byte `at` had been made durable:
         * then durable data was damaged.
         */
        for (size_t q = at + 1; q + MTS__JOURNAL_RECORD_MIN <= len; q++) {
            size_t qn;
            if (mts__rd32(data + q + 8) <= at ||
                check_record(data, len, q, seed, &qn) != NULL)
                continue;
            return mts__err_at(err, MTS_ECORRUPT, (int64_t)at,
                               "record at byte %zu: %s, but the intact "
                               "record at byte %zu was written after it was "
                               "durable (corrupt)",
                               at, why, q);
        }
    }
    out->end = at;
    return 0;
}

/* ---- snapshot ids ------------------------------------------------------ */

uint64_t
mts__snapshot_id(const uint8_t *data, size_t len)
{
    size_t at = V2_HEADER;
    if (mts_is_sealed(data, len))
        return len >= SEALED_NONCE_AT + 8 ? mts__rd64(data + SEALED_NONCE_AT)
                                          : 0;
    if (len < V2_HEADER + V2_CRC || data[0] != MTS_FORMAT_VERSION_CURRENT)
        return 0;
    /* The file decoded, so its section headers are sound; still, stay in
     * bounds whatever the bytes say. */
    while (len - V2_CRC - at >= 8) {
        uint16_t tag = mts__rd16(data + at);
        uint32_t n = mts__rd32(data + at + 4);
        if (n > len - V2_CRC - at - 8)
            return 0;
        if (tag == TAG_GENERATION && n == 8)
            return mts__rd64(data + at + 8);
        at += 8 + (size_t)n;
    }
    return 0;
}

int
mts__snapshot_add_generation(uint8_t **data, size_t *len, uint64_t gen,
                             mts_error *err)
{
    size_t n = *len, total = n + GENERATION_SECTION;
    uint8_t *p;
    MTS_ASSERT(n >= V2_HEADER + V2_CRC && gen != 0);
    if (total > MTS_INPUT_MAX)
        return mts__err(err, MTS_ELIMIT,
                        "encode: the session needs more than the format's "
                        "maximum of %zu bytes",
                        (size_t)MTS_INPUT_MAX);
    p = mts_malloc(total + 1);
    if (p == NULL)
        return mts__err_oom(err);
    /* The section goes last: its tag is above every other. */
    memcpy(p, *data, n - V2_CRC);
    wr16(p + n - V2_CRC, TAG_GENERATION);
    wr16(p + n - V2_CRC + 2, 0); /* not critical */
    wr32(p + n - V2_CRC + 4, 8);
    wr64(p + n - V2_CRC + 8, gen);
    wr32(p + 8, (uint32_t)total);
    wr32(p + total - V2_CRC, mts_crc32c(0, p, total - V2_CRC));
    p[total] = 0;
    mts__wipe(*data, n);
    mts_free(*data);
    *data = p;
    *len = total;
    return 0;
}

/* ---- the lease record -------------------------------------------------- */

size_t
mts__lease_record(uint8_t out[MTS__LEASE_RECORD_MAX], const mts_lease *l)
{
    size_t n = strlen(l->owner);
    MTS_ASSERT(n >= 1 && n <= MTS_LEASE_OWNER_MAX);
    memcpy(out, LEASE_MAGIC, 8);
    wr16(out + 8, LEASE_VERSION);
    wr16(out + 10, (uint16_t)n);
    wr64(out + 12, l->epoch);
    wr64(out + 20, (uint64_t)l->expires_ms);
    memcpy(out + LEASE_FIXED, l->owner, n);
    wr32(out + LEASE_FIXED + n, mts_crc32c(0, out, LEASE_FIXED + n));
    return MTS__LEASE_RECORD_SIZE(n);
}

int
mts__lease_parse(mts_lease *out, const uint8_t *data, size_t len,
                 mts_error *err)
{
    size_t n;
    if (len < 12)
        return mts__err_at(err, MTS_ECORRUPT, (int64_t)len,
                           "lease record: %zu bytes, too short (corrupt)",
                           len);
    if (memcmp(data, LEASE_MAGIC, 8) != 0)
        return mts__err_at(err, MTS_ECORRUPT, 0,
                           "lease record at byte 0: bad magic (corrupt)");
    if (mts__rd16(data + 8) != LEASE_VERSION)
        return mts__err_at(err, MTS_EVERSION, 8,
                           "lease record version %u at byte 8 needs a newer "
                           "reader",
                           mts__rd16(data + 8));
    n = mts__rd16(data + 10);
    if (n < 1 || n > MTS_LEASE_OWNER_MAX)
        return mts__err_at(err, MTS_ECORRUPT, 10,
                           "lease record: owner length %zu at byte 10 is not "
                           "1..%d (corrupt)",
                           n, MTS_LEASE_OWNER_MAX);
    if (len != MTS__LEASE_RECORD_SIZE(n))
        return mts__err_at(err, MTS_ECORRUPT, (int64_t)len,
                           "lease record: %zu bytes, expected %zu (corrupt)",
                           len, MTS__LEASE_RECORD_SIZE(n));
    if (mts_crc32c(0, data, LEASE_FIXED + n) !=
        mts__rd32(data + LEASE_FIXED + n))
        return mts__err_at(err, MTS_ECORRUPT, (int64_t)(LEASE_FIXED + n),
                           "lease record: checksum mismatch at byte %zu "
                           "(corrupt)",
                           LEASE_FIXED + n);
    if (!mts__utf8_valid(data + LEASE_FIXED, n))
        return mts__err_at(err, MTS_ECORRUPT, LEASE_FIXED,
                           "lease record: the owner at byte %d is not UTF-8 "
                           "text (corrupt)",
                           LEASE_FIXED);
    memcpy(out->owner, data + LEASE_FIXED, n);
    out->owner[n] = '\0';
    out->epoch = mts__rd64(data + 12);
    out->expires_ms = (int64_t)mts__rd64(data + 20);
    return 0;
}
