/*
 * json.c - the mtsession-json codec (docs/JSON.md).
 *
 * Encoder: writes the session in canonical order (DCs by dc_id, flags,
 * family; channels by channel_id; peers by kind, id; min peers by user_id)
 * with a fixed layout into an mts__buf, which wipes its memory because the
 * document carries auth keys. Equal sessions give byte-identical output.
 *
 * Decoder: a hand-written parser over the caller's bytes, without a
 * document tree. It runs in two passes. The first checks the syntax of the
 * whole document (strings, UTF-8, numbers, nesting depth, trailing data)
 * and reads only "format" and "version", so that a foreign or newer
 * document is reported as such whatever its key order. The second walks
 * the document again and feeds each record straight into a fresh session
 * through the model's setters, after checking it for range, validity and
 * duplicates. Extra memory is a few kilobytes of stack plus, for the
 * future auth token, one buffer of its size; a million peers cost only the
 * session itself. On any error the partial session is freed: the caller
 * gets a complete session or an error.
 *
 * Error messages name the field path ("peers[3].access_hash") and end with
 * "(byte N)", N also in err->offset. They never quote secret values.
 *
 * Thread-safety: no shared state; both functions are reentrant.
 */
#include "internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_FORMAT  "mtsession-json"
#define JSON_VERSION 1
/* Containers nest at most this deep; the document object is level 1. */
#define JSON_MAX_DEPTH 64
/* Longest key compared against known names; longer keys are unknown. */
#define KEY_MAX 32
/* Field paths in messages are cut (with "...") beyond this. */
#define PATH_SIZE 160
/* Longest quoted excerpt of input in a message. */
#define ECHO_MAX 40

#if defined(__GNUC__) || defined(__clang__)
#define JSON_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define JSON_PRINTF(a, b)
#endif

/* ======================================================================
 * Encoder
 * ====================================================================== */

static const char *const dc_flag_names[] = { "ipv6", "media_only", "tcpo_only",
                                             "cdn", "static" };

static const char *const peer_kind_names[] = { "user", "chat", "channel" };

/* Index 0 (unknown) is written as null. */
static const char *const channel_kind_names[] = { NULL, "broadcast",
                                                  "megagroup", "gigagroup" };

static void
put_hex(mts__buf *b, const uint8_t *data, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char chunk[128];
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        chunk[used++] = digits[data[i] >> 4];
        chunk[used++] = digits[data[i] & 15];
        if (used == sizeof(chunk)) {
            mts__buf_put(b, chunk, used);
            used = 0;
        }
    }
    mts__buf_put(b, chunk, used);
    mts__wipe(chunk, sizeof(chunk));
}

/* A JSON string: '"' and '\' escaped, control characters as \u00xx,
 * everything else (UTF-8 included) as is. */
static void
put_string(mts__buf *b, const char *s)
{
    const char *run = s;
    mts__buf_u8(b, '"');
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c != '"' && c != '\\' && c >= 0x20)
            continue;
        mts__buf_put(b, run, (size_t)(s - run));
        if (c == '"' || c == '\\') {
            mts__buf_u8(b, '\\');
            mts__buf_u8(b, c);
        } else {
            mts__buf_printf(b, "\\u%04x", (unsigned)c);
        }
        run = s + 1;
    }
    mts__buf_put(b, run, (size_t)(s - run));
    mts__buf_u8(b, '"');
}

static void
put_bool(mts__buf *b, int v)
{
    mts__buf_str(b, v ? "true" : "false");
}

/* `"name": ` after the given indentation (NULL: inline, after ", "). */
static void
put_key(mts__buf *b, const char *indent, const char *name)
{
    if (indent != NULL)
        mts__buf_str(b, indent);
    mts__buf_u8(b, '"');
    mts__buf_str(b, name);
    mts__buf_str(b, "\": ");
}

static void
put_dc(mts__buf *b, const mts_dc *dc)
{
    char ip[64];
    bool first = true;
    if (mts_ip_format(ip, sizeof(ip), &dc->ip) != 0)
        ip[0] = '\0'; /* unreachable: the model only holds valid families */
    mts__buf_printf(b, "{\"dc_id\": %" PRId32 ", \"ip\": ", dc->dc_id);
    put_string(b, ip);
    mts__buf_printf(b, ", \"port\": %u, \"flags\": [", (unsigned)dc->port);
    for (size_t i = 0; i < MTS__ARRAY_LEN(dc_flag_names); i++) {
        if (!(dc->flags & (1u << i)))
            continue;
        if (!first)
            mts__buf_str(b, ", ");
        put_string(b, dc_flag_names[i]);
        first = false;
    }
    mts__buf_str(b, "], \"auth_key\": ");
    if (dc->auth_key != NULL) {
        mts__buf_u8(b, '"');
        put_hex(b, dc->auth_key, MTS_AUTH_KEY_SIZE);
        mts__buf_u8(b, '"');
    } else {
        mts__buf_str(b, "null");
    }
    mts__buf_printf(
        b, ", \"server_salt\": %" PRId64 ", \"time_offset\": %" PRId32 "}",
        dc->server_salt, dc->time_offset);
}

static void
put_peer(mts__buf *b, const mts_peer *p)
{
    mts__buf_str(b, "{\"kind\": ");
    put_string(b, peer_kind_names[p->kind]);
    mts__buf_printf(b,
                    ", \"id\": %" PRId64 ", \"access_hash\": %" PRId64
                    ", \"channel_kind\": ",
                    p->id, p->access_hash);
    if (p->channel_kind != MTS_CHANNEL_UNKNOWN)
        put_string(b, channel_kind_names[p->channel_kind]);
    else
        mts__buf_str(b, "null");
    mts__buf_str(b, ", \"community\": ");
    put_bool(b, p->community);
    mts__buf_str(b, ", \"bot\": ");
    put_bool(b, p->bot);
    mts__buf_str(b, ", \"username\": ");
    if (p->username != NULL)
        put_string(b, p->username);
    else
        mts__buf_str(b, "null");
    mts__buf_str(b, ", \"phone\": ");
    if (p->phone != NULL)
        put_string(b, p->phone);
    else
        mts__buf_str(b, "null");
    mts__buf_u8(b, '}');
}

/* Separator before list element i, and the list's close. */
static void
put_item_sep(mts__buf *b, size_t i, const char *indent)
{
    mts__buf_str(b, i == 0 ? "[\n" : ",\n");
    mts__buf_str(b, indent);
}

static void
put_list_end(mts__buf *b, size_t n, const char *indent)
{
    if (n == 0) {
        mts__buf_str(b, "[]");
        return;
    }
    mts__buf_u8(b, '\n');
    mts__buf_str(b, indent);
    mts__buf_u8(b, ']');
}

static int
chan_cmp(const void *a, const void *b)
{
    int64_t x = ((const mts_channel_pts *)a)->channel_id;
    int64_t y = ((const mts_channel_pts *)b)->channel_id;
    return x < y ? -1 : x > y;
}

static int
min_cmp(const void *a, const void *b)
{
    int64_t x = ((const mts_min_peer *)a)->user_id;
    int64_t y = ((const mts_min_peer *)b)->user_id;
    return x < y ? -1 : x > y;
}

int
mts_json_encode(char **out,
                size_t *out_len,
                const mts_session *s,
                mts_error *err)
{
    mts__buf b;
    mts_update_state st;
    mts_channel_pts *chans = NULL;
    mts_min_peer *mins = NULL;
    size_t *order = NULL;
    size_t n, guess;
    const uint8_t *token;
    size_t token_len;
    int32_t api_id;
    int64_t user_id;
    int is_bot;
    uint8_t *data;
    int rc;

    if (out == NULL || s == NULL)
        return mts__err(err, MTS_EINVAL, "json: NULL argument");

    n = mts_session_channel_count(s);
    chans = mts__calloc(n ? n : 1, sizeof(*chans));
    if (chans == NULL)
        return mts__err_oom(err);
    for (size_t i = 0; i < n; i++)
        mts_session_channel_at(&chans[i], s, i);
    qsort(chans, n, sizeof(*chans), chan_cmp);

    n = mts_session_min_peer_count(s);
    mins = mts__calloc(n ? n : 1, sizeof(*mins));
    if (mins == NULL) {
        mts_free(chans);
        return mts__err_oom(err);
    }
    for (size_t i = 0; i < n; i++)
        mts_session_min_peer_at(&mins[i], s, i);
    qsort(mins, n, sizeof(*mins), min_cmp);

    if (mts__peer_order(&order, s) != 0) {
        mts_free(chans);
        mts_free(mins);
        return mts__err_oom(err);
    }

    mts__buf_init(&b, MTS_INPUT_MAX);
    /* A first guess that spares most regrowth copies (capped: it is only
     * a guess, the maximum is enforced on what is actually written). */
    guess = 1024 + mts_session_dc_count(s) * 700 +
            mts_session_peer_count(s) * 160 +
            (mts_session_channel_count(s) + n) * 64;
    mts__buf_reserve(&b, guess < MTS_INPUT_MAX / 4 ? guess : MTS_INPUT_MAX / 4);

    mts__buf_str(&b, "{\n  \"format\": \"" JSON_FORMAT "\",\n");
    mts__buf_printf(&b, "  \"version\": %d,\n", JSON_VERSION);
    mts__buf_printf(&b, "  \"home_dc_id\": %" PRId32 ",\n",
                    mts_session_home_dc(s));
    put_key(&b, "  ", "test_mode");
    put_bool(&b, mts_session_test_mode(s));
    mts__buf_str(&b, ",\n");
    put_key(&b, "  ", "api_id");
    if (mts_session_api_id(s, &api_id) == 0)
        mts__buf_printf(&b, "%" PRId32, api_id);
    else
        mts__buf_str(&b, "null");
    mts__buf_str(&b, ",\n");
    put_key(&b, "  ", "user");
    if (mts_session_user(s, &user_id, &is_bot) == 0) {
        mts__buf_printf(&b, "{\"id\": %" PRId64 ", \"is_bot\": ", user_id);
        put_bool(&b, is_bot);
        mts__buf_u8(&b, '}');
    } else {
        mts__buf_str(&b, "null");
    }
    mts__buf_str(&b, ",\n");

    put_key(&b, "  ", "dcs");
    n = mts_session_dc_count(s);
    for (size_t i = 0; i < n; i++) {
        mts_dc dc;
        mts_session_dc_at(&dc, s, i);
        put_item_sep(&b, i, "    ");
        put_dc(&b, &dc);
    }
    put_list_end(&b, n, "  ");
    mts__buf_str(&b, ",\n");

    mts_session_update_state(s, &st);
    mts__buf_str(&b, "  \"update_state\": {\n");
    mts__buf_printf(&b, "    \"pts\": %" PRId32 ",\n", st.pts);
    mts__buf_printf(&b, "    \"qts\": %" PRId32 ",\n", st.qts);
    mts__buf_printf(&b, "    \"date\": %" PRId32 ",\n", st.date);
    mts__buf_printf(&b, "    \"seq\": %" PRId32 ",\n", st.seq);
    put_key(&b, "    ", "channels");
    n = mts_session_channel_count(s);
    for (size_t i = 0; i < n; i++) {
        put_item_sep(&b, i, "      ");
        mts__buf_printf(&b,
                        "{\"channel_id\": %" PRId64 ", \"pts\": %" PRId32 "}",
                        chans[i].channel_id, chans[i].pts);
    }
    put_list_end(&b, n, "    ");
    mts__buf_str(&b, "\n  },\n");

    put_key(&b, "  ", "peers");
    n = mts_session_peer_count(s);
    for (size_t i = 0; i < n; i++) {
        mts_peer p;
        mts_session_peer_at(&p, s, order[i]);
        put_item_sep(&b, i, "    ");
        put_peer(&b, &p);
    }
    put_list_end(&b, n, "  ");
    mts__buf_str(&b, ",\n");

    put_key(&b, "  ", "min_peers");
    n = mts_session_min_peer_count(s);
    for (size_t i = 0; i < n; i++) {
        put_item_sep(&b, i, "    ");
        mts__buf_printf(&b,
                        "{\"user_id\": %" PRId64 ", \"peer_id\": %" PRId64
                        ", \"msg_id\": %" PRId32 "}",
                        mins[i].user_id, mins[i].peer_id, mins[i].msg_id);
    }
    put_list_end(&b, n, "  ");
    mts__buf_str(&b, ",\n");

    put_key(&b, "  ", "future_auth_token");
    if (mts_session_future_auth_token(s, &token, &token_len) == 0) {
        mts__buf_u8(&b, '"');
        put_hex(&b, token, token_len);
        mts__buf_u8(&b, '"');
    } else {
        mts__buf_str(&b, "null");
    }
    mts__buf_str(&b, "\n}\n");

    mts_free(chans);
    mts_free(mins);
    mts_free(order);
    rc = mts__buf_finish(&b, &data, out_len, err);
    if (rc != 0)
        return rc;
    *out = (char *)data;
    return 0;
}

/* ======================================================================
 * Decoder: lexical layer
 * ====================================================================== */

typedef struct jp {
    const uint8_t *in;
    size_t len;
    size_t pos;
    mts_error *err;
    mts_session *s; /* pass 2 only */
    char path[PATH_SIZE];
    size_t plen;
    /* pass 1 results */
    size_t peers_seen; /* elements of the top-level "peers" array */
    uint8_t format[KEY_MAX];
    size_t format_len;
    size_t format_off; /* of the value; 0: absent */
    bool format_is_string;
    size_t version_off; /* of the value; 0: absent */
} jp;

/* A decoded string. dst may be NULL (validate only); bytes past cap are
 * counted in len but not stored. */
typedef struct jstr {
    uint8_t *dst;
    size_t cap;
    size_t len;
    size_t start; /* offset of the opening quote */
    size_t raw;   /* input bytes between the quotes */
} jstr;

/* A lexed number. */
typedef struct jnum {
    size_t start;
    size_t end;
    bool neg;
    bool frac;
    bool exp;
    bool overflow; /* integer part above UINT64_MAX */
    uint64_t mag;  /* integer part's magnitude */
} jnum;

static int fail_at(jp *j, int code, size_t off, const char *fmt, ...)
    JSON_PRINTF(4, 5);

static int
fail_at(jp *j, int code, size_t off, const char *fmt, ...)
{
    char msg[MTS_ERROR_MESSAGE_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (j->plen > 0)
        return mts__err_at(j->err, code, (int64_t)off, "%s: %s (byte %zu)",
                           j->path, msg, off);
    return mts__err_at(j->err, code, (int64_t)off, "%s (byte %zu)", msg, off);
}

#define CORRUPT(j, off, ...) fail_at((j), MTS_ECORRUPT, (off), __VA_ARGS__)

/* An error the model reported (its message already names the path) at
 * input offset off. Anything but out-of-memory is corrupt input. */
static int
model_fail(jp *j, int rc, const mts_error *local, size_t off)
{
    if (rc == MTS_ENOMEM)
        return mts__err_oom(j->err);
    return mts__err_at(j->err, MTS_ECORRUPT, (int64_t)off, "%s (byte %zu)",
                       local->message, off);
}

/* ---- field path ---- */

static void
path_add(jp *j, const char *s, size_t n)
{
    size_t room = PATH_SIZE - 1 - j->plen;
    if (n > room) {
        memcpy(j->path + j->plen, s, room);
        j->plen = PATH_SIZE - 1;
        memcpy(j->path + PATH_SIZE - 4, "...", 3);
    } else {
        memcpy(j->path + j->plen, s, n);
        j->plen += n;
    }
    j->path[j->plen] = '\0';
}

/* Printable ASCII as is, anything else as '?', cut at ECHO_MAX bytes. */
static void
sanitize(char *dst, const uint8_t *src, size_t n)
{
    size_t k = n > ECHO_MAX ? ECHO_MAX : n;
    for (size_t i = 0; i < k; i++)
        dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
    if (n > ECHO_MAX) {
        memcpy(dst + k, "...", 4);
    } else {
        dst[k] = '\0';
    }
}

static size_t
path_push_key(jp *j, const uint8_t *key, size_t klen)
{
    char clean[KEY_MAX + 4];
    size_t old = j->plen, n = klen > KEY_MAX ? KEY_MAX : klen, k = 0;
    if (old > 0)
        clean[k++] = '.';
    for (size_t i = 0; i < n; i++)
        clean[k++] = (key[i] >= 0x20 && key[i] < 0x7f) ? (char)key[i] : '?';
    if (klen > KEY_MAX) {
        memcpy(clean + k, "...", 3);
        k += 3;
    }
    path_add(j, clean, k);
    return old;
}

static size_t
path_push_index(jp *j, size_t i)
{
    char tmp[32];
    size_t old = j->plen;
    int n = snprintf(tmp, sizeof(tmp), "[%zu]", i);
    path_add(j, tmp, (size_t)n);
    return old;
}

static void
path_pop(jp *j, size_t old)
{
    j->plen = old;
    j->path[old] = '\0';
}

/* ---- tokens ---- */

static int
peek(jp *j)
{
    while (j->pos < j->len) {
        uint8_t c = j->in[j->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return c;
        j->pos++;
    }
    return -1;
}

static bool
is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* "expected X, found Y" at the current position. */
static int
expect_fail(jp *j, const char *want)
{
    int c = peek(j);
    const char *found;
    if (c < 0)
        return CORRUPT(j, j->pos, "unexpected end of input, expected %s", want);
    switch (c) {
    case '"':
        found = "a string";
        break;
    case '{':
        found = "an object";
        break;
    case '[':
        found = "an array";
        break;
    case 't':
    case 'f':
        found = "a boolean";
        break;
    case 'n':
        found = "null";
        break;
    default:
        if (c == '-' || is_digit(c))
            found = "a number";
        else if (c > 0x20 && c < 0x7f)
            return CORRUPT(j, j->pos, "expected %s, found '%c'", want, c);
        else
            return CORRUPT(j, j->pos, "expected %s, found byte 0x%02x", want,
                           (unsigned)c);
        break;
    }
    return CORRUPT(j, j->pos, "expected %s, found %s", want, found);
}

/* Length of one valid UTF-8 sequence at p (n bytes left), 0 if invalid:
 * overlong forms, surrogates and values past U+10FFFF are refused. */
static size_t
utf8_seq(const uint8_t *p, size_t n)
{
    uint32_t cp;
    size_t need;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        need = 1;
        cp = p[0] & 0x1fu;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        need = 2;
        cp = p[0] & 0x0fu;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        need = 3;
        cp = p[0] & 0x07u;
    } else {
        return 0;
    }
    if (n - 1 < need)
        return 0;
    for (size_t k = 1; k <= need; k++) {
        if ((p[k] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[k] & 0x3fu);
    }
    if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return need + 1;
}

static void
str_put(jstr *s, const uint8_t *b, size_t n)
{
    if (s->dst != NULL && s->len < s->cap) {
        size_t room = s->cap - s->len;
        memcpy(s->dst + s->len, b, n < room ? n : room);
    }
    s->len += n;
}

static int
hex_val(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits of a \u escape at p; -1 if absent or malformed. */
static long
read_u4(jp *j, size_t p)
{
    long v = 0;
    if (j->len - p < 4)
        return -1;
    for (size_t k = 0; k < 4; k++) {
        int d = hex_val(j->in[p + k]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* One escape sequence at j->pos (the backslash). */
static int
lex_escape(jp *j, jstr *s)
{
    size_t at = j->pos;
    uint8_t out[4];
    uint32_t cp;
    long u;
    if (j->len - at < 2)
        return CORRUPT(j, s->start, "unterminated string");
    switch (j->in[at + 1]) {
    case '"':
    case '\\':
    case '/':
        out[0] = j->in[at + 1];
        str_put(s, out, 1);
        j->pos += 2;
        return 0;
    case 'b':
        out[0] = '\b';
        break;
    case 'f':
        out[0] = '\f';
        break;
    case 'n':
        out[0] = '\n';
        break;
    case 'r':
        out[0] = '\r';
        break;
    case 't':
        out[0] = '\t';
        break;
    case 'u':
        u = read_u4(j, at + 2);
        if (u < 0)
            return CORRUPT(j, at, "malformed \\u escape in a string");
        cp = (uint32_t)u;
        j->pos = at + 6;
        if (cp >= 0xdc00 && cp <= 0xdfff)
            return CORRUPT(j, at, "lone low surrogate \\u%04lx in a string",
                           (unsigned long)cp);
        if (cp >= 0xd800 && cp <= 0xdbff) {
            long lo = -1;
            if (j->len - j->pos >= 2 && j->in[j->pos] == '\\' &&
                j->in[j->pos + 1] == 'u')
                lo = read_u4(j, j->pos + 2);
            if (lo < 0xdc00 || lo > 0xdfff)
                return CORRUPT(j, at,
                               "lone high surrogate \\u%04lx in a string",
                               (unsigned long)cp);
            cp = 0x10000 + ((cp - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
            j->pos += 6;
        }
        if (cp < 0x80) {
            out[0] = (uint8_t)cp;
            str_put(s, out, 1);
        } else if (cp < 0x800) {
            out[0] = (uint8_t)(0xc0 | (cp >> 6));
            out[1] = (uint8_t)(0x80 | (cp & 0x3f));
            str_put(s, out, 2);
        } else if (cp < 0x10000) {
            out[0] = (uint8_t)(0xe0 | (cp >> 12));
            out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
            out[2] = (uint8_t)(0x80 | (cp & 0x3f));
            str_put(s, out, 3);
        } else {
            out[0] = (uint8_t)(0xf0 | (cp >> 18));
            out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
            out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
            out[3] = (uint8_t)(0x80 | (cp & 0x3f));
            str_put(s, out, 4);
        }
        return 0;
    default:
        return CORRUPT(j, at, "invalid escape sequence in a string");
    }
    str_put(s, out, 1);
    j->pos += 2;
    return 0;
}

/* A string at j->pos (the opening quote, already peeked). */
static int
lex_string(jp *j, jstr *s)
{
    int rc;
    s->start = j->pos;
    s->len = 0;
    j->pos++;
    for (;;) {
        uint8_t c;
        size_t run = j->pos;
        /* Plain ASCII runs are copied in one go. */
        while (j->pos < j->len && (c = j->in[j->pos]) >= 0x20 && c < 0x80 &&
               c != '"' && c != '\\')
            j->pos++;
        str_put(s, j->in + run, j->pos - run);
        if (j->pos >= j->len)
            return CORRUPT(j, s->start, "unterminated string");
        c = j->in[j->pos];
        if (c == '"') {
            s->raw = j->pos - s->start - 1;
            j->pos++;
            return 0;
        }
        if (c == '\\') {
            if ((rc = lex_escape(j, s)) != 0)
                return rc;
        } else if (c < 0x20) {
            return CORRUPT(j, j->pos,
                           "control character 0x%02x in a string must be "
                           "escaped",
                           (unsigned)c);
        } else {
            size_t n = utf8_seq(j->in + j->pos, j->len - j->pos);
            if (n == 0)
                return CORRUPT(j, j->pos, "invalid UTF-8 in a string");
            str_put(s, j->in + j->pos, n);
            j->pos += n;
        }
    }
}

/* Input offset of decoded byte i of s: exact when the string has no
 * escapes, else the string's start. */
static size_t
str_offset(const jstr *s, size_t i)
{
    return s->raw == s->len ? s->start + 1 + i : s->start;
}

/* A number at j->pos, checked against the JSON grammar. */
static int
lex_number(jp *j, jnum *n)
{
    const uint8_t *in = j->in;
    size_t p = j->pos;
    memset(n, 0, sizeof(*n));
    n->start = p;
    if (p < j->len && in[p] == '-') {
        n->neg = true;
        p++;
    }
    if (p >= j->len || !is_digit(in[p]))
        return CORRUPT(j, n->start, "malformed number");
    if (in[p] == '0') {
        p++;
        if (p < j->len && is_digit(in[p]))
            return CORRUPT(j, n->start, "leading zeros are not allowed");
    } else {
        while (p < j->len && is_digit(in[p])) {
            unsigned d = (unsigned)(in[p] - '0');
            if (n->mag > (UINT64_MAX - d) / 10)
                n->overflow = true;
            else
                n->mag = n->mag * 10 + d;
            p++;
        }
    }
    if (p < j->len && in[p] == '.') {
        p++;
        if (p >= j->len || !is_digit(in[p]))
            return CORRUPT(j, n->start, "malformed number");
        while (p < j->len && is_digit(in[p]))
            p++;
        n->frac = true;
    }
    if (p < j->len && (in[p] == 'e' || in[p] == 'E')) {
        p++;
        if (p < j->len && (in[p] == '+' || in[p] == '-'))
            p++;
        if (p >= j->len || !is_digit(in[p]))
            return CORRUPT(j, n->start, "malformed number");
        while (p < j->len && is_digit(in[p]))
            p++;
        n->exp = true;
    }
    n->end = p;
    j->pos = p;
    return 0;
}

static int
lex_literal(jp *j, const char *word)
{
    size_t n = strlen(word), left = j->len - j->pos;
    if (left < n && memcmp(j->in + j->pos, word, left) == 0)
        return CORRUPT(j, j->len, "unexpected end of input in \"%s\"", word);
    if (left < n || memcmp(j->in + j->pos, word, n) != 0)
        return CORRUPT(j, j->pos, "invalid literal (expected %s)", word);
    j->pos += n;
    return 0;
}

/* ---- typed values ---- */

/* An exact integer for a field of 32 or 64 bits. Negative zero is 0. */
static int
get_int(jp *j, int bits, int64_t *out, size_t *off)
{
    char lit[ECHO_MAX + 4];
    uint64_t limit;
    jnum n = { 0, 0, false, false, false, false, 0 };
    int c = peek(j), rc;
    if (c != '-' && !is_digit(c))
        return expect_fail(j, "an integer");
    if ((rc = lex_number(j, &n)) != 0)
        return rc;
    limit = bits == 32 ? (uint64_t)INT32_MAX : (uint64_t)INT64_MAX;
    if (n.frac || n.exp || n.overflow || n.mag > limit + (n.neg ? 1u : 0u)) {
        sanitize(lit, j->in + n.start, n.end - n.start);
        if (n.frac)
            return CORRUPT(j, n.start,
                           "%s is not an integer (fractions are not allowed)",
                           lit);
        if (n.exp)
            return CORRUPT(j, n.start,
                           "%s is not an integer (exponents are not allowed)",
                           lit);
        return CORRUPT(j, n.start, "%s is out of range for int%d", lit, bits);
    }
    if (!n.neg)
        *out = (int64_t)n.mag;
    else if (n.mag == (uint64_t)INT64_MAX + 1u)
        *out = INT64_MIN;
    else
        *out = -(int64_t)n.mag;
    if (off != NULL)
        *off = n.start;
    return 0;
}

static int
get_i32(jp *j, int32_t *out, size_t *off)
{
    int64_t v = 0;
    int rc = get_int(j, 32, &v, off);
    *out = (int32_t)v;
    return rc;
}

static int
get_bool(jp *j, bool *out)
{
    int c = peek(j);
    if (c == 't') {
        *out = true;
        return lex_literal(j, "true");
    }
    if (c == 'f') {
        *out = false;
        return lex_literal(j, "false");
    }
    return expect_fail(j, "true or false");
}

/* 1 (and consumed) when the value is null, else 0; <0 on a bad literal. */
static int
take_null(jp *j)
{
    int rc;
    if (peek(j) != 'n')
        return 0;
    rc = lex_literal(j, "null");
    return rc != 0 ? rc : 1;
}

/* A string of at most cap bytes into buf (NUL-terminated, buf holds
 * cap + 1); longer strings are an error. */
static int
get_short_string(jp *j, char *buf, size_t cap, jstr *s, const char *want)
{
    int rc;
    if (peek(j) != '"')
        return expect_fail(j, want);
    s->dst = (uint8_t *)buf;
    s->cap = cap;
    if ((rc = lex_string(j, s)) != 0)
        return rc;
    buf[s->len < cap ? s->len : cap] = '\0';
    return 0;
}

/* Match a name in a table; -1 when absent. */
static int
name_index(const char *const *names, size_t n, const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (names[i] != NULL && strlen(names[i]) == len &&
            memcmp(names[i], s, len) == 0)
            return (int)i;
    return -1;
}

/* Lower-case hex digits s[0..count) into out (count even). */
static int
decode_hex(jp *j, const jstr *s, const uint8_t *hex, size_t count, uint8_t *out)
{
    for (size_t i = 0; i < count; i++) {
        int c = hex[i];
        int v = hex_val(c);
        if (c >= 'A' && c <= 'F')
            return CORRUPT(j, str_offset(s, i),
                           "upper-case hex digit '%c' (byte strings are "
                           "lower-case hex)",
                           c);
        if (v < 0) {
            if (c > 0x20 && c < 0x7f)
                return CORRUPT(j, str_offset(s, i), "'%c' is not a hex digit",
                               c);
            return CORRUPT(j, str_offset(s, i),
                           "byte 0x%02x is not a hex digit", (unsigned)c);
        }
        if (out != NULL) {
            if (i % 2 == 0)
                out[i / 2] = (uint8_t)(v << 4);
            else
                out[i / 2] = (uint8_t)(out[i / 2] | v);
        }
    }
    return 0;
}

/* ---- structure ---- */

static int skip_value(jp *j, int depth, size_t *count);

typedef struct jobj {
    size_t start;
    size_t count;
} jobj;

static int
container_open(jp *j, int depth, int open, const char *want, jobj *o)
{
    if (peek(j) != open)
        return expect_fail(j, want);
    if (depth > JSON_MAX_DEPTH)
        return CORRUPT(j, j->pos, "nesting deeper than %d levels",
                       JSON_MAX_DEPTH);
    o->start = j->pos++;
    o->count = 0;
    return 0;
}

/* The next member of an object: 1 with its key (first KEY_MAX bytes in
 * key, full length in *klen) and the ':' consumed, 0 at the end, <0 on
 * error. */
static int
obj_next(jp *j, jobj *o, uint8_t *key, size_t *klen, size_t *koff)
{
    jstr s = { NULL, 0, 0, 0, 0 };
    int c = peek(j), rc;
    if (c == '}') {
        j->pos++;
        return 0;
    }
    if (o->count > 0) {
        if (c != ',')
            return expect_fail(j, "',' or '}'");
        j->pos++;
        c = peek(j);
        if (c == '}')
            return CORRUPT(j, j->pos, "trailing comma in an object");
    }
    if (c != '"')
        return expect_fail(j, o->count > 0 ? "a key" : "a key or '}'");
    s.dst = key;
    s.cap = KEY_MAX;
    if ((rc = lex_string(j, &s)) != 0)
        return rc;
    *klen = s.len;
    *koff = s.start;
    if (peek(j) != ':')
        return expect_fail(j, "':'");
    j->pos++;
    o->count++;
    return 1;
}

/* The next element of an array: 1 positioned on it, 0 at the end. */
static int
arr_next(jp *j, jobj *a)
{
    int c = peek(j);
    if (a->count == 0) {
        if (c == ']') {
            j->pos++;
            return 0;
        }
    } else {
        if (c == ']') {
            j->pos++;
            return 0;
        }
        if (c != ',')
            return expect_fail(j, "',' or ']'");
        j->pos++;
        if (peek(j) == ']')
            return CORRUPT(j, j->pos, "trailing comma in an array");
    }
    a->count++;
    return 1;
}

/* Skip any value, checking its syntax. For an array, *count (if not
 * NULL) receives its element count. */
static int
skip_value(jp *j, int depth, size_t *count)
{
    jobj o = { 0, 0 };
    jstr s = { NULL, 0, 0, 0, 0 };
    jnum n = { 0, 0, false, false, false, false, 0 };
    uint8_t key[KEY_MAX];
    size_t klen, koff, mark;
    int rc;
    switch (peek(j)) {
    case '{':
        if ((rc = container_open(j, depth, '{', "an object", &o)) != 0)
            return rc;
        while ((rc = obj_next(j, &o, key, &klen, &koff)) == 1) {
            mark = path_push_key(j, key, klen);
            if ((rc = skip_value(j, depth + 1, NULL)) != 0)
                return rc;
            path_pop(j, mark);
        }
        return rc;
    case '[':
        if ((rc = container_open(j, depth, '[', "an array", &o)) != 0)
            return rc;
        while ((rc = arr_next(j, &o)) == 1) {
            mark = path_push_index(j, o.count - 1);
            if ((rc = skip_value(j, depth + 1, NULL)) != 0)
                return rc;
            path_pop(j, mark);
        }
        if (rc == 0 && count != NULL)
            *count = o.count;
        return rc;
    case '"':
        s.dst = NULL;
        s.cap = 0;
        return lex_string(j, &s);
    case 't':
        return lex_literal(j, "true");
    case 'f':
        return lex_literal(j, "false");
    case 'n':
        return lex_literal(j, "null");
    default:
        if (peek(j) == '-' || is_digit(peek(j)))
            return lex_number(j, &n);
        return expect_fail(j, "a value");
    }
}

/* Handles the member with known key index k; the value is next. */
typedef int (*member_fn)(jp *j, void *ctx, int k, int depth);
/* Handles array element i; the value is next. */
typedef int (*element_fn)(jp *j, void *ctx, size_t i, int depth);

/*
 * An object at nesting level depth: known keys go to fn (each at most
 * once), unknown keys are skipped. Every key of `required` (a mask over
 * names) must appear. *start receives the offset of its '{'.
 */
static int
parse_object(jp *j,
             int depth,
             const char *const *names,
             size_t nnames,
             uint32_t required,
             member_fn fn,
             void *ctx,
             size_t *start)
{
    uint8_t key[KEY_MAX];
    size_t klen, koff;
    uint32_t seen = 0;
    jobj o = { 0, 0 };
    int rc;
    if ((rc = container_open(j, depth, '{', "an object", &o)) != 0)
        return rc;
    if (start != NULL)
        *start = o.start;
    while ((rc = obj_next(j, &o, key, &klen, &koff)) == 1) {
        size_t mark = path_push_key(j, key, klen);
        int k = klen <= KEY_MAX ? name_index(names, nnames, key, klen) : -1;
        if (k < 0) {
            rc = skip_value(j, depth + 1, NULL);
        } else if (seen & (1u << k)) {
            rc = CORRUPT(j, koff, "duplicate key");
        } else {
            seen |= 1u << k;
            rc = fn(j, ctx, k, depth + 1);
        }
        if (rc != 0)
            return rc;
        path_pop(j, mark);
    }
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < nnames; i++)
        if ((required & (1u << i)) && !(seen & (1u << i)))
            return CORRUPT(j, o.start, "missing key \"%s\"", names[i]);
    return 0;
}

static int
parse_array(jp *j, int depth, element_fn fn, void *ctx)
{
    jobj a = { 0, 0 };
    int rc;
    if ((rc = container_open(j, depth, '[', "an array", &a)) != 0)
        return rc;
    while ((rc = arr_next(j, &a)) == 1) {
        size_t mark = path_push_index(j, a.count - 1);
        if ((rc = fn(j, ctx, a.count - 1, depth + 1)) != 0)
            return rc;
        path_pop(j, mark);
    }
    return rc;
}

#define ALL_KEYS(names) ((uint32_t)((1u << MTS__ARRAY_LEN(names)) - 1u))

/* ======================================================================
 * Decoder: pass 1 (syntax, format, version)
 * ====================================================================== */

enum { SCAN_FORMAT, SCAN_VERSION, SCAN_PEERS };
static const char *const scan_keys[] = { "format", "version", "peers" };

/* Only remembers where "format" and "version" stand (and the format
 * string when it is one): they are judged after the syntax of the whole
 * document, so that the order of the checks does not depend on the order
 * of the keys. */
static int
scan_member(jp *j, void *ctx, int k, int depth)
{
    jstr s = { NULL, 0, 0, 0, 0 };
    int rc;
    (void)ctx;
    if (k == SCAN_PEERS)
        return skip_value(j, depth, &j->peers_seen);
    if (peek(j) < 0)
        return expect_fail(j, "a value");
    if (k == SCAN_VERSION) {
        j->version_off = j->pos;
        return skip_value(j, depth, NULL);
    }
    j->format_off = j->pos;
    if (peek(j) != '"')
        return skip_value(j, depth, NULL);
    s.dst = j->format;
    s.cap = sizeof(j->format);
    if ((rc = lex_string(j, &s)) != 0)
        return rc;
    j->format_len = s.len;
    j->format_is_string = true;
    return 0;
}

static int
scan_document(jp *j)
{
    static const uint8_t version_key[] = "version";
    char echo[ECHO_MAX + 4];
    size_t start;
    int64_t version;
    int rc, c = peek(j);
    if (c < 0)
        return fail_at(j, MTS_EFORMAT, j->pos,
                       "empty input: not an mtsession-json document");
    if (c != '{')
        return fail_at(j, MTS_EFORMAT, j->pos,
                       "not a JSON object: not an mtsession-json document");
    rc = parse_object(j, 1, scan_keys, MTS__ARRAY_LEN(scan_keys), 0,
                      scan_member, NULL, &start);
    if (rc != 0)
        return rc;
    if (peek(j) >= 0)
        return CORRUPT(j, j->pos, "unexpected data after the document");
    /* Offsets are never 0 here: the document's '{' comes first. */
    if (j->format_off == 0)
        return fail_at(j, MTS_EFORMAT, start,
                       "missing key \"format\": not an mtsession-json "
                       "document");
    if (!j->format_is_string)
        return fail_at(j, MTS_EFORMAT, j->format_off,
                       "format: expected the string \"" JSON_FORMAT
                       "\": not an mtsession-json document");
    if (j->format_len != strlen(JSON_FORMAT) ||
        memcmp(j->format, JSON_FORMAT, j->format_len) != 0) {
        sanitize(echo, j->format,
                 j->format_len < KEY_MAX ? j->format_len : KEY_MAX);
        return fail_at(j, MTS_EFORMAT, j->format_off,
                       "format: \"%s%s\" is not \"" JSON_FORMAT "\"", echo,
                       j->format_len > KEY_MAX ? "..." : "");
    }
    if (j->version_off == 0)
        return CORRUPT(j, start, "missing key \"version\"");
    /* Read the version now, with its path for any message. */
    j->pos = j->version_off;
    path_push_key(j, version_key, sizeof(version_key) - 1);
    if ((rc = get_int(j, 64, &version, NULL)) != 0)
        return rc;
    if (version != JSON_VERSION)
        return fail_at(j, MTS_EVERSION, j->version_off,
                       "%" PRId64 " is not supported (this library reads "
                       "version %d)",
                       version, JSON_VERSION);
    return 0;
}

/* ======================================================================
 * Decoder: pass 2 (the session)
 * ====================================================================== */

/* ---- user ---- */

enum { USER_ID, USER_IS_BOT };
static const char *const user_keys[] = { "id", "is_bot" };

typedef struct user_ctx {
    int64_t id;
    bool is_bot;
} user_ctx;

static int
user_member(jp *j, void *ctx, int k, int depth)
{
    user_ctx *u = ctx;
    size_t off;
    int rc;
    (void)depth;
    if (k == USER_IS_BOT)
        return get_bool(j, &u->is_bot);
    if ((rc = get_int(j, 64, &u->id, &off)) != 0)
        return rc;
    if (u->id <= 0)
        return CORRUPT(j, off, "%" PRId64 " is not a user id (must be > 0)",
                       u->id);
    return 0;
}

/* ---- dcs ---- */

enum { DC_ID, DC_IP, DC_PORT, DC_FLAGS, DC_AUTH_KEY, DC_SALT, DC_TIME_OFFSET };
static const char *const dc_keys[] = { "dc_id",      "ip",       "port",
                                       "flags",      "auth_key", "server_salt",
                                       "time_offset" };

typedef struct dc_ctx {
    mts_dc dc;
    uint8_t key[MTS_AUTH_KEY_SIZE];
} dc_ctx;

static int
dc_flag_element(jp *j, void *ctx, size_t i, int depth)
{
    unsigned *flags = ctx;
    char name[16], echo[ECHO_MAX + 4];
    jstr s = { NULL, 0, 0, 0, 0 };
    int rc, f;
    (void)i;
    (void)depth;
    if ((rc = get_short_string(j, name, sizeof(name) - 1, &s, "a flag name")) !=
        0)
        return rc;
    f = s.len < sizeof(name)
            ? name_index(dc_flag_names, MTS__ARRAY_LEN(dc_flag_names),
                         (const uint8_t *)name, s.len)
            : -1;
    if (f < 0) {
        sanitize(echo, (const uint8_t *)name, s.len < 15 ? s.len : 15);
        return CORRUPT(j, s.start,
                       "unknown flag \"%s%s\" (known: ipv6, media_only, "
                       "tcpo_only, cdn, static)",
                       echo, s.len > 15 ? "..." : "");
    }
    if (*flags & (1u << f))
        return CORRUPT(j, s.start, "duplicate flag \"%s\"", name);
    *flags |= 1u << f;
    return 0;
}

static int
get_auth_key(jp *j, uint8_t key[MTS_AUTH_KEY_SIZE], const uint8_t **out)
{
    uint8_t hex[MTS_AUTH_KEY_SIZE * 2];
    jstr s = { NULL, 0, 0, 0, 0 };
    int rc = take_null(j);
    if (rc != 0) {
        *out = NULL;
        return rc < 0 ? rc : 0;
    }
    if (peek(j) != '"')
        return expect_fail(j, "a hex string or null");
    s.dst = hex;
    s.cap = sizeof(hex);
    rc = lex_string(j, &s);
    if (rc == 0)
        rc = decode_hex(j, &s, hex, s.len < s.cap ? s.len : s.cap, key);
    if (rc == 0 && s.len != sizeof(hex))
        rc = CORRUPT(j, s.start,
                     "%zu hex digits; an auth key is exactly %zu (%d bytes) "
                     "or null",
                     s.len, sizeof(hex), MTS_AUTH_KEY_SIZE);
    mts__wipe(hex, sizeof(hex));
    if (rc == 0)
        *out = key;
    return rc;
}

static int
dc_member(jp *j, void *ctx, int k, int depth)
{
    dc_ctx *d = ctx;
    char ip[64], echo[ECHO_MAX + 4];
    int32_t v;
    size_t off;
    jstr s = { NULL, 0, 0, 0, 0 };
    int rc;
    switch (k) {
    case DC_ID:
        if ((rc = get_i32(j, &d->dc.dc_id, &off)) != 0)
            return rc;
        if (d->dc.dc_id <= 0)
            return CORRUPT(j, off, "%" PRId32 " is not a DC id (1..2147483647)",
                           d->dc.dc_id);
        return 0;
    case DC_IP:
        if ((rc = get_short_string(j, ip, sizeof(ip) - 1, &s,
                                   "an IP address string")) != 0)
            return rc;
        if (s.len < sizeof(ip) && memchr(ip, '\0', s.len) == NULL &&
            mts_ip_parse(&d->dc.ip, ip) == 0)
            return 0;
        sanitize(echo, (const uint8_t *)ip, s.len < 63 ? s.len : 63);
        return CORRUPT(j, s.start,
                       "\"%s\" is not an IPv4 dotted quad or an IPv6 "
                       "address (without brackets)",
                       echo);
    case DC_PORT:
        if ((rc = get_i32(j, &v, &off)) != 0)
            return rc;
        if (v < 1 || v > 65535)
            return CORRUPT(j, off, "%" PRId32 " is not a port (1..65535)", v);
        d->dc.port = (uint16_t)v;
        return 0;
    case DC_FLAGS:
        return parse_array(j, depth, dc_flag_element, &d->dc.flags);
    case DC_AUTH_KEY:
        return get_auth_key(j, d->key, &d->dc.auth_key);
    case DC_SALT:
        return get_int(j, 64, &d->dc.server_salt, NULL);
    default:
        return get_i32(j, &d->dc.time_offset, NULL);
    }
}

static int
dc_element(jp *j, void *ctx, size_t i, int depth)
{
    mts_error local = MTS_ERROR_INIT;
    dc_ctx d;
    size_t start, before;
    int rc;
    (void)ctx;
    (void)i;
    memset(&d, 0, sizeof(d));
    d.dc.version = MTS_DC_VERSION;
    rc = parse_object(j, depth, dc_keys, MTS__ARRAY_LEN(dc_keys),
                      ALL_KEYS(dc_keys), dc_member, &d, &start);
    if (rc == 0 && (rc = mts__validate_dc(&d.dc, j->path, &local)) != 0)
        rc = model_fail(j, rc, &local, start);
    if (rc == 0) {
        /* put_dc replaces an entry of the same identity: a table that did
         * not grow held it already. */
        before = mts_session_dc_count(j->s);
        rc = mts__put_dc(j->s, &d.dc, &local);
        if (rc != 0)
            rc = model_fail(j, rc, &local, start);
        else if (mts_session_dc_count(j->s) == before)
            rc = CORRUPT(j, start,
                         "duplicate DC entry (dc_id %" PRId32
                         " with the same flags and address family)",
                         d.dc.dc_id);
    }
    mts__wipe(&d, sizeof(d));
    return rc;
}

/* ---- update_state ---- */

enum { US_PTS, US_QTS, US_DATE, US_SEQ, US_CHANNELS };
static const char *const us_keys[] = { "pts", "qts", "date", "seq",
                                       "channels" };

enum { CH_ID, CH_PTS };
static const char *const chan_keys[] = { "channel_id", "pts" };

static int
chan_member(jp *j, void *ctx, int k, int depth)
{
    mts_channel_pts *c = ctx;
    size_t off;
    int rc;
    (void)depth;
    if (k == CH_PTS)
        return get_i32(j, &c->pts, NULL);
    if ((rc = get_int(j, 64, &c->channel_id, &off)) != 0)
        return rc;
    if (c->channel_id <= 0)
        return CORRUPT(j, off,
                       "%" PRId64 " is not a bare channel id (must be > 0)",
                       c->channel_id);
    return 0;
}

static int
chan_element(jp *j, void *ctx, size_t i, int depth)
{
    mts_channel_pts c = { 0, 0 };
    size_t start;
    int rc;
    (void)ctx;
    (void)i;
    rc = parse_object(j, depth, chan_keys, MTS__ARRAY_LEN(chan_keys),
                      ALL_KEYS(chan_keys), chan_member, &c, &start);
    if (rc != 0)
        return rc;
    if (mts_session_channel_pts(j->s, c.channel_id, NULL) == 0)
        return CORRUPT(j, start, "duplicate channel_id %" PRId64, c.channel_id);
    rc = mts_session_set_channel_pts(j->s, c.channel_id, c.pts);
    if (rc == MTS_ENOMEM)
        return mts__err_oom(j->err);
    if (rc != 0)
        return CORRUPT(j, start, "channel refused by the model");
    return 0;
}

static int
us_member(jp *j, void *ctx, int k, int depth)
{
    mts_update_state *st = ctx;
    switch (k) {
    case US_PTS:
        return get_i32(j, &st->pts, NULL);
    case US_QTS:
        return get_i32(j, &st->qts, NULL);
    case US_DATE:
        return get_i32(j, &st->date, NULL);
    case US_SEQ:
        return get_i32(j, &st->seq, NULL);
    default:
        return parse_array(j, depth, chan_element, NULL);
    }
}

/* ---- peers ---- */

enum {
    PEER_KIND,
    PEER_ID,
    PEER_HASH,
    PEER_CHANNEL_KIND,
    PEER_COMMUNITY,
    PEER_BOT,
    PEER_USERNAME,
    PEER_PHONE
};
static const char *const peer_keys[] = { "kind",        "id",
                                         "access_hash", "channel_kind",
                                         "community",   "bot",
                                         "username",    "phone" };

typedef struct peer_ctx {
    mts_peer p;
    char username[MTS_PEER_STRING_MAX + 1];
    char phone[MTS_PEER_STRING_MAX + 1];
} peer_ctx;

/* null, or 1..MTS_PEER_STRING_MAX bytes of UTF-8 without control
 * characters, into buf. */
static int
get_peer_string(jp *j, char *buf, const char **out)
{
    jstr s = { NULL, 0, 0, 0, 0 };
    int rc = take_null(j);
    if (rc != 0) {
        *out = NULL;
        return rc < 0 ? rc : 0;
    }
    if ((rc = get_short_string(j, buf, MTS_PEER_STRING_MAX, &s,
                               "a string or null")) != 0)
        return rc;
    if (s.len == 0)
        return CORRUPT(j, s.start, "empty string (use null for none)");
    if (s.len > MTS_PEER_STRING_MAX)
        return CORRUPT(j, s.start, "%zu bytes, longer than the maximum of %d",
                       s.len, MTS_PEER_STRING_MAX);
    if (!mts__utf8_valid((const uint8_t *)buf, s.len))
        return CORRUPT(j, s.start, "control characters are not allowed");
    *out = buf;
    return 0;
}

/* A name from a table (NULL entries never match) as an enum value. */
static int
get_name(jp *j, const char *const *names, size_t n, const char *what, int *out)
{
    char buf[16], echo[ECHO_MAX + 4];
    jstr s = { NULL, 0, 0, 0, 0 };
    int rc, k;
    *out = 0;
    if ((rc = get_short_string(j, buf, sizeof(buf) - 1, &s, "a string")) != 0)
        return rc;
    k = s.len < sizeof(buf) ? name_index(names, n, (const uint8_t *)buf, s.len)
                            : -1;
    if (k < 0) {
        sanitize(echo, (const uint8_t *)buf, s.len < 15 ? s.len : 15);
        return CORRUPT(j, s.start, "unknown value \"%s%s\" (%s)", echo,
                       s.len > 15 ? "..." : "", what);
    }
    *out = k;
    return 0;
}

static int
peer_member(jp *j, void *ctx, int k, int depth)
{
    peer_ctx *pc = ctx;
    mts_peer *p = &pc->p;
    size_t off;
    bool b;
    int rc, v;
    (void)depth;
    switch (k) {
    case PEER_KIND:
        rc = get_name(j, peer_kind_names, MTS__ARRAY_LEN(peer_kind_names),
                      "user, chat or channel", &v);
        if (rc == 0)
            p->kind = (mts_peer_kind)v;
        return rc;
    case PEER_ID:
        if ((rc = get_int(j, 64, &p->id, &off)) != 0)
            return rc;
        if (p->id <= 0)
            return CORRUPT(j, off,
                           "%" PRId64 " is not a bare peer id (must be > 0)",
                           p->id);
        return 0;
    case PEER_HASH:
        return get_int(j, 64, &p->access_hash, NULL);
    case PEER_CHANNEL_KIND:
        if ((rc = take_null(j)) != 0) {
            p->channel_kind = MTS_CHANNEL_UNKNOWN;
            return rc < 0 ? rc : 0;
        }
        rc = get_name(j, channel_kind_names, MTS__ARRAY_LEN(channel_kind_names),
                      "broadcast, megagroup, gigagroup or null", &v);
        if (rc == 0)
            p->channel_kind = (mts_channel_kind)v;
        return rc;
    case PEER_COMMUNITY:
        if ((rc = get_bool(j, &b)) == 0)
            p->community = b;
        return rc;
    case PEER_BOT:
        if ((rc = get_bool(j, &b)) == 0)
            p->bot = b;
        return rc;
    case PEER_USERNAME:
        return get_peer_string(j, pc->username, &p->username);
    default:
        return get_peer_string(j, pc->phone, &p->phone);
    }
}

static const char *
peer_kind_name(mts_peer_kind k)
{
    return (unsigned)k < MTS__ARRAY_LEN(peer_kind_names) ? peer_kind_names[k]
                                                         : "?";
}

static int
peer_element(jp *j, void *ctx, size_t i, int depth)
{
    mts_error local = MTS_ERROR_INIT;
    peer_ctx pc;
    mts_peer init = MTS_PEER_INIT;
    size_t start;
    int rc;
    (void)ctx;
    (void)i;
    pc.p = init;
    rc = parse_object(j, depth, peer_keys, MTS__ARRAY_LEN(peer_keys),
                      ALL_KEYS(peer_keys), peer_member, &pc, &start);
    if (rc != 0)
        return rc;
    if ((rc = mts__validate_peer(&pc.p, j->path, &local)) != 0)
        return model_fail(j, rc, &local, start);
    if (mts__has_peer(j->s, pc.p.kind, pc.p.id))
        return CORRUPT(j, start, "duplicate peer (%s, %" PRId64 ")",
                       peer_kind_name(pc.p.kind), pc.p.id);
    if ((rc = mts_session_put_peer(j->s, &pc.p, &local)) != 0)
        return model_fail(j, rc, &local, start);
    return 0;
}

/* ---- min_peers ---- */

enum { MIN_USER_ID, MIN_PEER_ID, MIN_MSG_ID };
static const char *const min_keys[] = { "user_id", "peer_id", "msg_id" };

static int
min_member(jp *j, void *ctx, int k, int depth)
{
    mts_min_peer *m = ctx;
    size_t off;
    int rc;
    (void)depth;
    switch (k) {
    case MIN_USER_ID:
        if ((rc = get_int(j, 64, &m->user_id, &off)) != 0)
            return rc;
        if (m->user_id <= 0)
            return CORRUPT(j, off, "%" PRId64 " is not a user id (must be > 0)",
                           m->user_id);
        return 0;
    case MIN_PEER_ID:
        if ((rc = get_int(j, 64, &m->peer_id, &off)) != 0)
            return rc;
        if (m->peer_id == 0)
            return CORRUPT(j, off, "0 is not a marked peer id");
        return 0;
    default:
        return get_i32(j, &m->msg_id, NULL);
    }
}

static int
min_element(jp *j, void *ctx, size_t i, int depth)
{
    mts_error local = MTS_ERROR_INIT;
    mts_min_peer m = { 0, 0, 0 };
    size_t start;
    int rc;
    (void)ctx;
    (void)i;
    rc = parse_object(j, depth, min_keys, MTS__ARRAY_LEN(min_keys),
                      ALL_KEYS(min_keys), min_member, &m, &start);
    if (rc != 0)
        return rc;
    if ((rc = mts__validate_min_peer(&m, j->path, &local)) != 0)
        return model_fail(j, rc, &local, start);
    if (mts_session_get_min_peer(NULL, j->s, m.user_id) == 0)
        return CORRUPT(j, start, "duplicate user_id %" PRId64, m.user_id);
    if ((rc = mts__put_min_peer(j->s, &m, &local)) != 0)
        return model_fail(j, rc, &local, start);
    return 0;
}

/* ---- document ---- */

enum {
    DOC_FORMAT,
    DOC_VERSION,
    DOC_HOME_DC,
    DOC_TEST_MODE,
    DOC_API_ID,
    DOC_USER,
    DOC_DCS,
    DOC_UPDATE_STATE,
    DOC_PEERS,
    DOC_MIN_PEERS,
    DOC_TOKEN
};
static const char *const doc_keys[] = {
    "format",    "version",          "home_dc_id",
    "test_mode", "api_id",           "user",
    "dcs",       "update_state",     "peers",
    "min_peers", "future_auth_token"
};

/* Hex string or null. The string is measured first, then decoded into a
 * buffer of its exact size. */
static int
get_token(jp *j)
{
    jstr s = { NULL, 0, 0, 0, 0 };
    size_t at;
    uint8_t *buf;
    int rc = take_null(j);
    if (rc != 0)
        return rc < 0 ? rc : mts_session_set_future_auth_token(j->s, NULL, 0);
    if (peek(j) != '"')
        return expect_fail(j, "a hex string or null");
    at = j->pos;
    s.dst = NULL;
    s.cap = 0;
    if ((rc = lex_string(j, &s)) != 0)
        return rc;
    if (s.len == 0)
        return CORRUPT(j, s.start, "empty token (use null for none)");
    if (s.len % 2 != 0)
        return CORRUPT(j, s.start, "odd number of hex digits (%zu)", s.len);
    if (s.len / 2 > MTS_TOKEN_MAX)
        return CORRUPT(j, s.start, "%zu bytes, longer than the maximum of %d",
                       s.len / 2, MTS_TOKEN_MAX);
    buf = mts_malloc(s.len);
    if (buf == NULL)
        return mts__err_oom(j->err);
    j->pos = at;
    s.dst = buf;
    s.cap = s.len;
    rc = lex_string(j, &s);
    /* In place: byte i/2 is written after digit i is read. */
    if (rc == 0)
        rc = decode_hex(j, &s, buf, s.len, buf);
    if (rc == 0) {
        rc = mts_session_set_future_auth_token(j->s, buf, s.len / 2);
        if (rc == MTS_ENOMEM)
            rc = mts__err_oom(j->err);
        else if (rc != 0)
            rc = CORRUPT(j, s.start, "token refused by the model");
    }
    mts__wipe(buf, s.len);
    mts_free(buf);
    return rc;
}

static int
doc_member(jp *j, void *ctx, int k, int depth)
{
    mts_update_state st = { 0, 0, 0, 0 };
    user_ctx u = { 0, false };
    int32_t v;
    size_t off;
    bool b;
    int rc;
    (void)ctx;
    switch (k) {
    case DOC_FORMAT:
    case DOC_VERSION:
        return skip_value(j, depth, NULL); /* checked in pass 1 */
    case DOC_HOME_DC:
        if ((rc = get_i32(j, &v, &off)) != 0)
            return rc;
        if (mts_session_set_home_dc(j->s, v) != 0)
            return CORRUPT(j, off,
                           "%" PRId32 " is not a DC id (0 for unknown, or "
                           "1..2147483647)",
                           v);
        return 0;
    case DOC_TEST_MODE:
        if ((rc = get_bool(j, &b)) != 0)
            return rc;
        mts_session_set_test_mode(j->s, b);
        return 0;
    case DOC_API_ID:
        if ((rc = take_null(j)) != 0) {
            mts_session_set_api_id(j->s, 0, 0);
            return rc < 0 ? rc : 0;
        }
        if ((rc = get_i32(j, &v, NULL)) != 0)
            return rc;
        mts_session_set_api_id(j->s, 1, v);
        return 0;
    case DOC_USER:
        if ((rc = take_null(j)) != 0) {
            mts_session_clear_user(j->s);
            return rc < 0 ? rc : 0;
        }
        rc = parse_object(j, depth, user_keys, MTS__ARRAY_LEN(user_keys),
                          ALL_KEYS(user_keys), user_member, &u, &off);
        if (rc != 0)
            return rc;
        if (mts_session_set_user(j->s, u.id, u.is_bot) != 0)
            return CORRUPT(j, off, "user refused by the model");
        return 0;
    case DOC_DCS:
        return parse_array(j, depth, dc_element, NULL);
    case DOC_UPDATE_STATE:
        rc = parse_object(j, depth, us_keys, MTS__ARRAY_LEN(us_keys),
                          ALL_KEYS(us_keys), us_member, &st, NULL);
        if (rc == 0)
            mts_session_set_update_state(j->s, &st);
        return rc;
    case DOC_PEERS:
        return parse_array(j, depth, peer_element, NULL);
    case DOC_MIN_PEERS:
        return parse_array(j, depth, min_element, NULL);
    default:
        return get_token(j);
    }
}

int
mts_json_decode(mts_session **out, const char *text, size_t len, mts_error *err)
{
    jp j;
    int rc;

    if (out == NULL || (text == NULL && len != 0))
        return mts__err(err, MTS_EINVAL, "json: NULL argument");
    if (len > MTS_INPUT_MAX)
        return mts__err(err, MTS_ECORRUPT,
                        "input of %zu bytes exceeds the maximum of %zu", len,
                        MTS_INPUT_MAX);
    memset(&j, 0, sizeof(j));
    j.in = (const uint8_t *)text;
    j.len = len;
    j.err = err;

    if ((rc = scan_document(&j)) != 0)
        return rc;

    rc = mts_session_new(&j.s, MTS_NEW_EMPTY);
    if (rc != 0)
        return mts__err_oom(err);
    /* Size the peer table once. A peer takes well over 100 bytes of JSON,
     * which bounds what a list of tiny non-objects can make us reserve. */
    if (j.peers_seen > 0) {
        size_t n = j.peers_seen < len / 100 ? j.peers_seen : len / 100;
        if (n > 0 && mts_session_reserve_peers(j.s, n) != 0) {
            mts_session_free(j.s);
            return mts__err_oom(err);
        }
    }
    j.pos = 0;
    j.plen = 0;
    j.path[0] = '\0';
    rc = parse_object(&j, 1, doc_keys, MTS__ARRAY_LEN(doc_keys),
                      ALL_KEYS(doc_keys), doc_member, NULL, NULL);
    if (rc != 0) {
        mts_session_free(j.s);
        return rc;
    }
    *out = j.s;
    return 0;
}
