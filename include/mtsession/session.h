/*
 * mtsession/session.h - the session model.
 *
 * An mts_session holds everything a Telegram client must keep across a
 * restart: the DC table with auth keys, the home DC, account facts, the
 * update-sequence state and the peer access-hash cache. It is an opaque
 * handle over plain-data records (mts_dc, mts_peer, ...) that callers read
 * and write through the functions below.
 *
 * Ownership: records passed in are copied (strings and keys included);
 * pointers inside records handed out (auth_key, username, phone, token) are
 * borrowed and stay valid until the next change to the session or its free.
 *
 * Invariants: every setter validates its input and returns MTS_EINVAL
 * (message names the field) without changing the session, so a session is
 * always valid and always encodable. Lookups by key are O(1) on average.
 *
 * Secrets: auth keys and the future auth token are wiped from memory when
 * replaced, removed or freed.
 *
 * Thread-safety: a session is a plain value. Concurrent reads are safe;
 * any change needs exclusive access (the caller's lock).
 */
#ifndef MTSESSION_SESSION_H
#define MTSESSION_SESSION_H

#include "common.h"
#include "errors.h"

MTS_BEGIN_DECL

typedef struct mts_session mts_session;

/** Size of an MTProto auth key in bytes. */
#define MTS_AUTH_KEY_SIZE 256
/** Longest username or phone string a peer may carry, in bytes. */
#define MTS_PEER_STRING_MAX 255
/** Longest future auth token, in bytes. */
#define MTS_TOKEN_MAX 65536

/* ---- DC table ---------------------------------------------------------- */

/** DC entry flags, as in Telegram's dcOption. Other bits are invalid. */
typedef enum mts_dc_flag {
    MTS_DC_IPV6 = 0x01,       /* entry is an IPv6 option */
    MTS_DC_MEDIA_ONLY = 0x02, /* only for media downloads */
    MTS_DC_TCPO_ONLY = 0x04,  /* only for obfuscated TCP */
    MTS_DC_CDN = 0x08,        /* a CDN DC */
    MTS_DC_STATIC = 0x10      /* static address (fallback) */
} mts_dc_flag;

#define MTS_DC_FLAGS_ALL 0x1Fu

/** An IP address: family 4 uses bytes[0..3], family 6 all 16 bytes. */
typedef struct mts_ip {
    uint8_t family; /* 4 or 6 */
    uint8_t bytes[16];
} mts_ip;

#define MTS_DC_VERSION 1

/**
 * One entry of the DC table. The table may hold several entries per
 * dc_id; an entry's identity is (dc_id, flags, ip.family): putting an
 * entry with the same identity replaces the old one.
 *
 * - dc_id:       1..2147483647 (test DCs use the same ids as production;
 *                the session's test_mode says which network).
 * - port:        1..65535.
 * - auth_key:    MTS_AUTH_KEY_SIZE bytes, or NULL when no key is known.
 * - server_salt: the current server salt.
 * - time_offset: server time minus local time, in seconds.
 */
typedef struct mts_dc {
    unsigned int version;
    int32_t dc_id;
    mts_ip ip;
    uint16_t port;
    unsigned int flags;
    const uint8_t *auth_key;
    int64_t server_salt;
    int32_t time_offset;
} mts_dc;

#define MTS_DC_INIT { MTS_DC_VERSION, 0, { 0, { 0 } }, 0, 0, NULL, 0, 0 }

/* ---- update state ------------------------------------------------------ */

/** The common update-sequence state (see updates.getState). */
typedef struct mts_update_state {
    int32_t pts;
    int32_t qts;
    int32_t date;
    int32_t seq;
} mts_update_state;

typedef struct mts_channel_pts {
    int64_t channel_id; /* bare channel id, > 0 */
    int32_t pts;
} mts_channel_pts;

/** Which part of the update state a change replaces. */
typedef enum mts_update_kind {
    MTS_UPDATE_ALL = 0,       /* state and the whole channel list */
    MTS_UPDATE_PRIMARY = 1,   /* pts, date, seq */
    MTS_UPDATE_SECONDARY = 2, /* qts */
    MTS_UPDATE_CHANNEL = 3    /* one channel's pts */
} mts_update_kind;

#define MTS_UPDATE_CHANGE_VERSION 1

/**
 * One change to the update state. Values are stored as given (the caller
 * is the authority: pts may legitimately move back after a state reset),
 * in every backend and every path.
 *
 * - ALL:       state.{pts,qts,date,seq} and channels[0..channel_count)
 *              replace everything (the list must not repeat a channel).
 * - PRIMARY:   state.pts, state.date, state.seq.
 * - SECONDARY: state.qts.
 * - CHANNEL:   channel_id's pts becomes channel_pts (inserted if new).
 */
typedef struct mts_update_change {
    unsigned int version;
    mts_update_kind kind;
    mts_update_state state;
    int64_t channel_id;
    int32_t channel_pts;
    const mts_channel_pts *channels;
    size_t channel_count;
} mts_update_change;

#define MTS_UPDATE_CHANGE_INIT                                                \
    { MTS_UPDATE_CHANGE_VERSION, MTS_UPDATE_ALL, { 0, 0, 0, 0 }, 0, 0, NULL, 0 }

/* ---- peers ------------------------------------------------------------- */

typedef enum mts_peer_kind {
    MTS_PEER_USER = 0,
    MTS_PEER_CHAT = 1,   /* basic group */
    MTS_PEER_CHANNEL = 2 /* channel, supergroup or gigagroup */
} mts_peer_kind;

typedef enum mts_channel_kind {
    MTS_CHANNEL_UNKNOWN = 0,
    MTS_CHANNEL_BROADCAST = 1,
    MTS_CHANNEL_MEGAGROUP = 2,
    MTS_CHANNEL_GIGAGROUP = 3
} mts_channel_kind;

#define MTS_PEER_VERSION 1

/**
 * A cached peer. Its key is (kind, id): a user and a channel with the same
 * bare id are two peers.
 *
 * - id:           bare (unmarked) id, > 0.
 * - access_hash:  0 where none (basic chats, min channels).
 * - channel_kind: channels only; MTS_CHANNEL_UNKNOWN otherwise.
 * - community:    0/1; users and channels only.
 * - bot:          0/1; users only.
 * - username, phone: NUL-terminated UTF-8 without control characters,
 *                 1..MTS_PEER_STRING_MAX bytes, or NULL.
 */
typedef struct mts_peer {
    unsigned int version;
    mts_peer_kind kind;
    int64_t id;
    int64_t access_hash;
    mts_channel_kind channel_kind;
    int community;
    int bot;
    const char *username;
    const char *phone;
} mts_peer;

#define MTS_PEER_INIT                                                         \
    { MTS_PEER_VERSION, MTS_PEER_USER, 0, 0, MTS_CHANNEL_UNKNOWN, 0, 0, NULL, \
      NULL }

/**
 * A "min" user context: user_id was seen with min=true in message msg_id
 * of peer_id (a marked id: user > 0, basic chat -id, channel
 * -1000000000000-id), enough to build inputPeerUserFromMessage. Keyed by
 * user_id.
 */
typedef struct mts_min_peer {
    int64_t user_id;
    int64_t peer_id;
    int32_t msg_id;
} mts_min_peer;

/* ---- life cycle -------------------------------------------------------- */

/** Flags for mts_session_new. */
typedef enum mts_new_flag {
    MTS_NEW_DEFAULT = 0,  /* Telegram's production DCs, home DC 2 */
    MTS_NEW_TEST = 1,     /* the test DCs, test_mode on, home DC 2 */
    MTS_NEW_EMPTY = 2     /* no DCs, home DC 0 (unknown) */
} mts_new_flag;

/**
 * Create a session. Without MTS_NEW_EMPTY it starts on the default DC
 * table (mts_default_dcs) with no keys. The caller frees it with
 * mts_session_free.
 * Returns 0, MTS_ENOMEM, or MTS_EINVAL (unknown flags).
 */
MTS_API int mts_session_new(mts_session **out, unsigned int flags);

/** Free `s` and wipe its secrets. Accepts NULL. */
MTS_API void mts_session_free(mts_session *s);

/** Deep copy. Returns 0 or MTS_ENOMEM. */
MTS_API int mts_session_dup(mts_session **out, const mts_session *s);

/**
 * 1 when a and b hold the same data (list order does not matter), else 0.
 * Auth keys are compared in constant time.
 */
MTS_API int mts_session_equal(const mts_session *a, const mts_session *b);

/**
 * The default DC table: `*out` points at a static array of `*count`
 * entries (production when test is 0, test DCs otherwise), IPv4 and IPv6,
 * port 443, no keys. Addresses are Telegram's public bootstrap addresses.
 */
MTS_API void mts_default_dcs(const mts_dc **out, size_t *count, int test);

/* ---- scalar fields ----------------------------------------------------- */

MTS_API int32_t mts_session_home_dc(const mts_session *s);
/** 0 (unknown) or 1..2147483647; MTS_EINVAL otherwise. */
MTS_API int mts_session_set_home_dc(mts_session *s, int32_t dc_id);

MTS_API int mts_session_test_mode(const mts_session *s);
MTS_API void mts_session_set_test_mode(mts_session *s, int test_mode);

/** 0 and *out, or MTS_ENOTFOUND when no api_id is recorded. */
MTS_API int mts_session_api_id(const mts_session *s, int32_t *out);
/** Record (has=1) or forget (has=0) the api_id. */
MTS_API void mts_session_set_api_id(mts_session *s, int has, int32_t api_id);

/** 0 with the account's user id and bot flag, or MTS_ENOTFOUND. */
MTS_API int mts_session_user(const mts_session *s, int64_t *id, int *is_bot);
/** id > 0, else MTS_EINVAL. */
MTS_API int mts_session_set_user(mts_session *s, int64_t id, int is_bot);
MTS_API void mts_session_clear_user(mts_session *s);

/**
 * The future auth token (from auth.logOut), borrowed, or MTS_ENOTFOUND.
 */
MTS_API int mts_session_future_auth_token(const mts_session *s,
                                          const uint8_t **data, size_t *len);
/**
 * Store a copy of the token (1..MTS_TOKEN_MAX bytes), or clear it when
 * data is NULL. Returns 0, MTS_EINVAL or MTS_ENOMEM.
 */
MTS_API int mts_session_set_future_auth_token(mts_session *s,
                                              const uint8_t *data, size_t len);

/* ---- DC table ---------------------------------------------------------- */

MTS_API size_t mts_session_dc_count(const mts_session *s);

/**
 * Copy entry i (0 <= i < count, canonical order: dc_id, flags, family)
 * into *out; out->auth_key is borrowed. Returns 0 or MTS_ENOTFOUND.
 */
MTS_API int mts_session_dc_at(mts_dc *out, const mts_session *s, size_t i);

/**
 * Insert or replace the entry with dc's identity (the key is copied).
 * Returns 0, MTS_EINVAL (field named) or MTS_ENOMEM.
 */
MTS_API int mts_session_put_dc(mts_session *s, const mts_dc *dc);

/** Remove the entry with that identity. Returns 0 or MTS_ENOTFOUND. */
MTS_API int mts_session_remove_dc(mts_session *s, int32_t dc_id,
                                  unsigned int flags, int family);

/** Remove every DC entry (keys wiped). */
MTS_API void mts_session_clear_dcs(mts_session *s);

/**
 * The entry to use for the main connection to dc_id. Entries that are
 * media-only or CDN are chosen only when no other entry for dc_id exists.
 * Among the rest, one whose address family matches prefer_ipv6 wins;
 * among equals, one with an auth key. Returns 0 or MTS_ENOTFOUND.
 */
MTS_API int mts_session_dc_for(mts_dc *out, const mts_session *s,
                               int32_t dc_id, int prefer_ipv6);

/* ---- update state ------------------------------------------------------ */

MTS_API void mts_session_update_state(const mts_session *s,
                                      mts_update_state *out);
MTS_API void mts_session_set_update_state(mts_session *s,
                                          const mts_update_state *state);

MTS_API size_t mts_session_channel_count(const mts_session *s);
/** Channel i; order unspecified, stable until the next change. 0 or
 * MTS_ENOTFOUND. */
MTS_API int mts_session_channel_at(mts_channel_pts *out,
                                   const mts_session *s, size_t i);
/** O(1). 0 with *pts, or MTS_ENOTFOUND. */
MTS_API int mts_session_channel_pts(const mts_session *s, int64_t channel_id,
                                    int32_t *pts);
/** O(1) insert or update. channel_id > 0. 0, MTS_EINVAL or MTS_ENOMEM. */
MTS_API int mts_session_set_channel_pts(mts_session *s, int64_t channel_id,
                                        int32_t pts);
/** 0 or MTS_ENOTFOUND. */
MTS_API int mts_session_remove_channel_pts(mts_session *s,
                                           int64_t channel_id);

/**
 * Apply one change (see mts_update_change). All or nothing: on error the
 * session is unchanged. Returns 0, MTS_EINVAL or MTS_ENOMEM.
 */
MTS_API int mts_session_apply_update(mts_session *s,
                                     const mts_update_change *change);

/* ---- peer cache -------------------------------------------------------- */

MTS_API size_t mts_session_peer_count(const mts_session *s);

/**
 * Copy peer i into *out (strings borrowed). The order is unspecified but
 * stable until the next change. Returns 0 or MTS_ENOTFOUND.
 */
MTS_API int mts_session_peer_at(mts_peer *out, const mts_session *s,
                                size_t i);

/** O(1) lookup by (kind, id). 0 or MTS_ENOTFOUND. */
MTS_API int mts_session_get_peer(mts_peer *out, const mts_session *s,
                                 mts_peer_kind kind, int64_t id);

/**
 * O(1) insert or replace by (kind, id); strings are copied.
 * Returns 0, MTS_EINVAL (field named in err) or MTS_ENOMEM.
 */
MTS_API int mts_session_put_peer(mts_session *s, const mts_peer *peer,
                                 mts_error *err);

/** 0 or MTS_ENOTFOUND. */
MTS_API int mts_session_remove_peer(mts_session *s, mts_peer_kind kind,
                                    int64_t id);

/** Pre-size the peer cache for `count` peers. 0 or MTS_ENOMEM. */
MTS_API int mts_session_reserve_peers(mts_session *s, size_t count);

MTS_API size_t mts_session_min_peer_count(const mts_session *s);
/** Min peer i; order unspecified, stable until the next change. 0 or
 * MTS_ENOTFOUND. */
MTS_API int mts_session_min_peer_at(mts_min_peer *out, const mts_session *s,
                                    size_t i);
/** O(1). 0 or MTS_ENOTFOUND. */
MTS_API int mts_session_get_min_peer(mts_min_peer *out,
                                     const mts_session *s, int64_t user_id);
/** Insert or replace by user_id (> 0; peer_id != 0). 0, EINVAL, ENOMEM. */
MTS_API int mts_session_put_min_peer(mts_session *s, const mts_min_peer *mp);
/** 0 or MTS_ENOTFOUND. */
MTS_API int mts_session_remove_min_peer(mts_session *s, int64_t user_id);

/* ---- statistics -------------------------------------------------------- */

#define MTS_STATS_VERSION 1

typedef struct mts_stats {
    unsigned int version;
    int32_t home_dc_id;
    size_t dcs_total;
    size_t dcs_with_key;
    size_t peers_total;
    size_t users;       /* kind user, bots included */
    size_t bots;        /* users with the bot flag */
    size_t chats;       /* basic groups */
    size_t channels;    /* kind channel */
    size_t communities; /* peers with the community flag */
    size_t min_peers;
    size_t channel_pts;
    uint64_t encoded_size; /* bytes of the version-2 binary encoding */
} mts_stats;

/** Fill *out. Costs O(peers) and allocates nothing. */
MTS_API void mts_session_stats(const mts_session *s, mts_stats *out);

/**
 * The MTProto auth key id of a 256-byte key: the low 64 bits of its SHA-1,
 * as the protocol defines it (bytes 12..19 of the digest, little-endian).
 * Safe to print; it does not reveal the key.
 */
MTS_API uint64_t mts_auth_key_id(const uint8_t key[MTS_AUTH_KEY_SIZE]);

/** Parse "a.b.c.d" or an IPv6 text into *out. 0 or MTS_EINVAL. */
MTS_API int mts_ip_parse(mts_ip *out, const char *text);
/** Format *ip (IPv6 in RFC 5952 form) into buf (>= 46 bytes). */
MTS_API int mts_ip_format(char *buf, size_t size, const mts_ip *ip);

MTS_END_DECL

#endif /* MTSESSION_SESSION_H */
