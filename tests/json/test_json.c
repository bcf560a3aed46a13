/*
 * test_json.c - the mtsession-json codec.
 *
 * Golden files under tests/data/json/: valid/NAME.in.json decodes and
 * re-encodes to exactly valid/NAME.out.json; invalid/expected.txt lists
 * every invalid/ file with its error code and a message substring.
 * Around them: the canonical output of a session built by hand, order
 * independence over randomly shuffled renderings, unknown keys in every
 * object, the nesting limit, every truncated prefix, randomly damaged
 * documents, token limits, allocation failures in a loop, and memory
 * bounds on a million-peer document (MTS_JSON_BIG_PEERS=N overrides the
 * count).
 */
#include <dirent.h>
#include <stdarg.h>

#include "internal.h"
#include "mtsession/mtsession.h"
#include "mtsession/sys/alloc.h"
#include "t.h"

/* ---- helpers ---------------------------------------------------------- */

static char *
read_data(const char *rel, size_t *len)
{
    char path[512];
    char *data;
    snprintf(path, sizeof(path), "data/json/%s", rel);
    data = (char *)t_read_file(t_srcpath(path), len);
    if (data == NULL)
        t_fail(__FILE__, __LINE__, "cannot read %s", path);
    return data;
}

/* Decode from an exact-size heap copy, so that reading past the end is
 * caught by the sanitizers. */
static int
decode_exact(mts_session **out, const char *text, size_t len, mts_error *err)
{
    char *copy = malloc(len ? len : 1);
    int rc;
    if (copy == NULL)
        abort();
    memcpy(copy, text, len);
    rc = mts_json_decode(out, copy, len, err);
    free(copy);
    return rc;
}

static int
errcode(const char *name)
{
    for (int c = 0; c >= -15; c--)
        if (strcmp(mts_errname(c), name) == 0)
            return c;
    return 1;
}

/* The message ends with "(byte N)" and N is err->offset. */
static void
check_offset_suffix(const mts_error *err, const char *what)
{
    char want[64];
    size_t ml, wl;
    snprintf(want, sizeof(want), "(byte %lld)", (long long)err->offset);
    ml = strlen(err->message);
    wl = strlen(want);
    if (err->offset < 0 || ml < wl || strcmp(err->message + ml - wl, want) != 0)
        t_fail(__FILE__, __LINE__, "%s: offset %lld does not match \"%s\"",
               what, (long long)err->offset, err->message);
}

/* A growable string for building documents in tests. */
typedef struct sb {
    char *p;
    size_t len, cap;
} sb;

static void
sb_put(sb *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (b->p == NULL)
            abort();
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
sb_str(sb *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void __attribute__((format(printf, 2, 0)))
sb_vprintf(sb *b, const char *fmt, va_list ap)
{
    va_list again;
    char *tmp;
    int n;
    va_copy(again, ap);
    n = vsnprintf(NULL, 0, fmt, ap);
    if (n < 0 || (tmp = malloc((size_t)n + 1)) == NULL)
        abort();
    vsnprintf(tmp, (size_t)n + 1, fmt, again);
    va_end(again);
    sb_put(b, tmp, (size_t)n);
    free(tmp);
}

static void __attribute__((format(printf, 2, 3)))
sb_printf(sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(b, fmt, ap);
    va_end(ap);
}

static int
count_files(const char *rel, const char *suffix)
{
    char path[512];
    DIR *d;
    struct dirent *e;
    int n = 0;
    snprintf(path, sizeof(path), "data/json/%s", rel);
    d = opendir(t_srcpath(path));
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name), s = strlen(suffix);
        if (l > s && strcmp(e->d_name + l - s, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* ---- golden files ----------------------------------------------------- */

static const char *const golden[] = { "minimal", "base", "full", "extremes",
                                      "unknown-keys" };

static void
check_golden(const char *name)
{
    char rel[128];
    char *in, *want, *got = NULL, *again = NULL;
    size_t in_len, want_len, got_len = 0, again_len = 0;
    mts_session *a = NULL, *b = NULL;
    mts_error err = MTS_ERROR_INIT;
    int rc;

    snprintf(rel, sizeof(rel), "valid/%s.in.json", name);
    in = read_data(rel, &in_len);
    snprintf(rel, sizeof(rel), "valid/%s.out.json", name);
    want = read_data(rel, &want_len);
    if (in == NULL || want == NULL)
        goto out;

    rc = decode_exact(&a, in, in_len, &err);
    if (rc != 0) {
        t_fail(__FILE__, __LINE__, "%s: decode: %s", name, err.message);
        goto out;
    }
    T_EQ_INT(mts_json_encode(&got, &got_len, a, &err), 0);
    if (got == NULL)
        goto out;
    T_EQ_U64(got_len, strlen(got));
    if (got_len != want_len || memcmp(got, want, want_len) != 0) {
        t_fail(__FILE__, __LINE__, "%s: canonical output differs:\n%s", name,
               got);
        goto out;
    }
    /* The canonical form is a fixed point and means the same session. */
    T_EQ_INT(decode_exact(&b, want, want_len, &err), 0);
    if (b == NULL)
        goto out;
    T_CHECK(mts_session_equal(a, b));
    T_CHECK(mts_session_equal(b, a));
    T_EQ_INT(mts_json_encode(&again, &again_len, b, NULL), 0);
    T_EQ_U64(again_len, want_len);
    if (again != NULL)
        T_EQ_MEM(again, want, want_len);
out:
    mts_session_free(a);
    mts_session_free(b);
    mts_free(got);
    mts_free(again);
    free(in);
    free(want);
}

static void
test_golden_valid(void)
{
    /* Every pair in the directory is covered by the list above. */
    T_EQ_INT(count_files("valid", ".in.json"), (int)MTS__ARRAY_LEN(golden));
    T_EQ_INT(count_files("valid", ".out.json"), (int)MTS__ARRAY_LEN(golden));
    for (size_t i = 0; i < MTS__ARRAY_LEN(golden); i++)
        check_golden(golden[i]);
}

static void
test_golden_invalid(void)
{
    size_t len;
    char *manifest = read_data("invalid/expected.txt", &len);
    char *line, *save = NULL;
    int cases = 0;
    if (manifest == NULL)
        return;
    for (line = strtok_r(manifest, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char rel[256], *file, *code, *needle, *data;
        size_t dlen;
        mts_session *s = (mts_session *)&s; /* must stay untouched */
        mts_session *sentinel = s;
        mts_error err = MTS_ERROR_INIT;
        int rc, want;
        if (line[0] == '#' || line[0] == '\0')
            continue;
        file = line;
        code = strchr(file, '\t');
        needle = code ? strchr(code + 1, '\t') : NULL;
        if (needle == NULL) {
            t_fail(__FILE__, __LINE__, "bad manifest line: %s", line);
            continue;
        }
        *code++ = '\0';
        *needle++ = '\0';
        want = errcode(code);
        snprintf(rel, sizeof(rel), "invalid/%s", file);
        data = read_data(rel, &dlen);
        if (data == NULL)
            continue;
        cases++;
        rc = decode_exact(&s, data, dlen, &err);
        if (rc != want) {
            t_fail(__FILE__, __LINE__, "%s: got %s (%s), want %s", file,
                   mts_errname(rc), err.message, code);
            if (rc == 0)
                mts_session_free(s);
        } else {
            if (strstr(err.message, needle) == NULL)
                t_fail(__FILE__, __LINE__, "%s: \"%s\" lacks \"%s\"", file,
                       err.message, needle);
            T_EQ_INT(err.code, want);
            T_CHECK(s == sentinel);
            T_CHECK(strchr(err.message, '\n') == NULL);
            check_offset_suffix(&err, file);
            T_CHECK(err.offset <= (int64_t)dlen);
        }
        free(data);
    }
    /* Every file in the directory has a line. */
    T_EQ_INT(cases, count_files("invalid", ".json"));
    T_CHECK(cases >= 90);
    free(manifest);
}

/* ---- canonical output of a session built through the API --------------- */

static void
fill_key(uint8_t *k, int mul, int add)
{
    for (int i = 0; i < MTS_AUTH_KEY_SIZE; i++)
        k[i] = (uint8_t)((i * mul + add) & 0xff);
}

static mts_dc
make_dc(int32_t id,
        const char *ip,
        uint16_t port,
        unsigned flags,
        const uint8_t *key,
        int64_t salt,
        int32_t offset)
{
    mts_dc dc = MTS_DC_INIT;
    dc.dc_id = id;
    if (mts_ip_parse(&dc.ip, ip) != 0)
        abort();
    dc.port = port;
    dc.flags = flags;
    dc.auth_key = key;
    dc.server_salt = salt;
    dc.time_offset = offset;
    return dc;
}

static mts_peer
make_peer(mts_peer_kind kind,
          int64_t id,
          int64_t hash,
          mts_channel_kind ck,
          int community,
          int bot,
          const char *username,
          const char *phone)
{
    mts_peer p = MTS_PEER_INIT;
    p.kind = kind;
    p.id = id;
    p.access_hash = hash;
    p.channel_kind = ck;
    p.community = community;
    p.bot = bot;
    p.username = username;
    p.phone = phone;
    return p;
}

/* The session of valid/full.out.json; `reverse` inserts every list in
 * the opposite order. */
static mts_session *
build_full(int reverse)
{
    static uint8_t key1[MTS_AUTH_KEY_SIZE], key2[MTS_AUTH_KEY_SIZE];
    mts_session *s;
    mts_dc dcs[8];
    mts_peer peers[8];
    mts_min_peer mins[3] = { { 99, -1001234567890LL, 12345 },
                             { 7, 42, 1 },
                             { 8, -42, -2 } };
    mts_channel_pts chans[3] = { { 1234567890, 17 },
                                 { 5, -1 },
                                 { 9007199254740993LL, 3 } };
    mts_update_state st = { 100, 5, 1700000000, 42 };
    uint8_t token[24];

    fill_key(key1, 7, 3);
    fill_key(key2, 13, 200);
    for (int i = 0; i < 24; i++)
        token[i] = (uint8_t)(255 - i);
    dcs[0] = make_dc(4, "149.154.167.91", 443,
                     MTS_DC_TCPO_ONLY | MTS_DC_MEDIA_ONLY, NULL, 0, 0);
    dcs[1] = make_dc(2, "2001:67c:4e8:f002::a", 443,
                     MTS_DC_STATIC | MTS_DC_IPV6, key1, -123456789012345LL, -3);
    dcs[2] =
        make_dc(2, "149.154.167.51", 443, 0, key2, 8070450532247928832LL, 12);
    dcs[3] =
        make_dc(5, "2001:b28:f23f:f005::a", 443, MTS_DC_FLAGS_ALL, NULL, 1, 0);
    dcs[4] = make_dc(2, "149.154.167.40", 80, MTS_DC_STATIC, NULL, 0, 0);
    dcs[5] = make_dc(1, "2001:b28:f23d:f001::a", 443, MTS_DC_IPV6, NULL, 0, 0);
    dcs[6] = make_dc(2, "2001:db8::1", 443, 0, NULL, 0, 0);
    dcs[7] = make_dc(1, "149.154.175.53", 443, 0, NULL, 0, 0);
    peers[0] = make_peer(MTS_PEER_CHANNEL, 1234567890, -5612345678901234567LL,
                         MTS_CHANNEL_MEGAGROUP, 1, 0,
                         "\xc4\x9co\xc5\x9dto_\xc3\xbc", NULL);
    peers[1] = make_peer(MTS_PEER_USER, 777000, 5612345678901234567LL,
                         MTS_CHANNEL_UNKNOWN, 0, 0, "telegram", "42777");
    peers[2] = make_peer(MTS_PEER_USER, 42, 0, MTS_CHANNEL_UNKNOWN, 0, 1,
                         "quo\"te\\back/slash", NULL);
    peers[3] =
        make_peer(MTS_PEER_CHAT, 42, 0, MTS_CHANNEL_UNKNOWN, 0, 0, NULL, NULL);
    peers[4] = make_peer(MTS_PEER_CHANNEL, 42, 99, MTS_CHANNEL_BROADCAST, 0, 0,
                         "news", NULL);
    peers[5] = make_peer(MTS_PEER_CHANNEL, 1, -1, MTS_CHANNEL_GIGAGROUP, 0, 0,
                         NULL, NULL);
    peers[6] = make_peer(MTS_PEER_CHANNEL, 7, 7, MTS_CHANNEL_UNKNOWN, 0, 0,
                         NULL, NULL);
    peers[7] = make_peer(MTS_PEER_USER, 5, 1, MTS_CHANNEL_UNKNOWN, 1, 0,
                         "emoji_\xf0\x9f\x98\x80", "+1 555 0100");

    if (mts_session_new(&s, MTS_NEW_EMPTY) != 0)
        abort();
    T_EQ_INT(mts_session_set_home_dc(s, 2), 0);
    mts_session_set_test_mode(s, 1);
    mts_session_set_api_id(s, 1, 611335);
    T_EQ_INT(mts_session_set_user(s, 1234567, 0), 0);
    for (int i = 0; i < 8; i++)
        T_EQ_INT(mts_session_put_dc(s, &dcs[reverse ? 7 - i : i]), 0);
    mts_session_set_update_state(s, &st);
    for (int i = 0; i < 3; i++) {
        const mts_channel_pts *c = &chans[reverse ? 2 - i : i];
        T_EQ_INT(mts_session_set_channel_pts(s, c->channel_id, c->pts), 0);
    }
    for (int i = 0; i < 8; i++)
        T_EQ_INT(mts_session_put_peer(s, &peers[reverse ? 7 - i : i], NULL), 0);
    for (int i = 0; i < 3; i++)
        T_EQ_INT(mts_session_put_min_peer(s, &mins[reverse ? 2 - i : i]), 0);
    T_EQ_INT(mts_session_set_future_auth_token(s, token, sizeof(token)), 0);
    return s;
}

static void
test_encode_built_session(void)
{
    size_t want_len, len;
    char *want = read_data("valid/full.out.json", &want_len);
    for (int reverse = 0; reverse < 2; reverse++) {
        mts_session *s = build_full(reverse);
        char *out = NULL;
        T_EQ_INT(mts_json_encode(&out, &len, s, NULL), 0);
        if (out != NULL && want != NULL) {
            T_EQ_U64(len, want_len);
            if (len != want_len || memcmp(out, want, len) != 0)
                t_fail(__FILE__, __LINE__, "reverse=%d: got\n%s", reverse, out);
        }
        mts_free(out);
        mts_session_free(s);
    }
    free(want);
}

static void
test_roundtrip_default_sessions(void)
{
    static const unsigned flags[] = { MTS_NEW_DEFAULT, MTS_NEW_TEST,
                                      MTS_NEW_EMPTY };
    for (size_t i = 0; i < MTS__ARRAY_LEN(flags); i++) {
        mts_session *s, *d = NULL;
        char *a = NULL, *b = NULL;
        size_t alen, blen;
        mts_error err = MTS_ERROR_INIT;
        T_EQ_INT(mts_session_new(&s, flags[i]), 0);
        T_EQ_INT(mts_json_encode(&a, &alen, s, NULL), 0);
        T_EQ_INT(decode_exact(&d, a, alen, &err), 0);
        if (d != NULL) {
            T_CHECK(mts_session_equal(s, d));
            T_EQ_INT(mts_json_encode(&b, &blen, d, NULL), 0);
            T_EQ_U64(blen, alen);
            T_EQ_STR(a, b);
        }
        T_CHECK(a[alen - 1] == '\n' && a[alen - 2] == '}');
        mts_free(a);
        mts_free(b);
        mts_session_free(s);
        mts_session_free(d);
    }
}

/* ---- order independence ------------------------------------------------ */

static uint32_t
rnd(uint32_t *state)
{
    /* xorshift32: deterministic, seeded per round */
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

static void
shuffle(char **items, size_t n, uint32_t *rng)
{
    for (size_t i = n; i > 1; i--) {
        size_t k = rnd(rng) % i;
        char *t = items[i - 1];
        items[i - 1] = items[k];
        items[k] = t;
    }
}

/* White space between tokens: none, a space, or a line break. */
static const char *
ws(uint32_t *rng)
{
    static const char *const pick[] = { "", " ", "\n  ", "\t", "\r\n" };
    return pick[rnd(rng) % 5];
}

/* A JSON string; some ASCII characters escaped at random. */
static void
rstring(sb *b, const char *s, uint32_t *rng)
{
    sb_str(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            sb_printf(b, "\\%c", c);
        else if (c < 0x80 && rnd(rng) % 6 == 0)
            sb_printf(b, "\\u%04X", c);
        else
            sb_put(b, (const char *)s, 1);
    }
    sb_str(b, "\"");
}

static char *
rhex(const uint8_t *d, size_t n)
{
    char *h = malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++)
        sprintf(h + 2 * i, "%02x", d[i]);
    h[2 * n] = '\0';
    return h;
}

/* Join members (each `"key": value`) in random order into an object. */
static char *
robject(char **members, size_t n, uint32_t *rng)
{
    sb b = { 0 };
    shuffle(members, n, rng);
    sb_str(&b, "{");
    for (size_t i = 0; i < n; i++) {
        sb_printf(&b, "%s%s%s", i ? "," : "", ws(rng), members[i]);
        free(members[i]);
    }
    sb_printf(&b, "%s}", ws(rng));
    return b.p;
}

static char *
rarray(char **items, size_t n, uint32_t *rng)
{
    sb b = { 0 };
    shuffle(items, n, rng);
    sb_str(&b, "[");
    for (size_t i = 0; i < n; i++) {
        sb_printf(&b, "%s%s%s", i ? "," : "", ws(rng), items[i]);
        free(items[i]);
    }
    sb_printf(&b, "%s]", ws(rng));
    return b.p;
}

static char *__attribute__((format(printf, 2, 3)))
member(const char *key, const char *fmt, ...)
{
    sb b = { 0 };
    va_list ap;
    sb_printf(&b, "\"%s\":", key);
    va_start(ap, fmt);
    sb_vprintf(&b, fmt, ap);
    va_end(ap);
    return b.p;
}

static char *
str_member(const char *key, const char *value, uint32_t *rng)
{
    sb b = { 0 };
    sb_printf(&b, "\"%s\": ", key);
    if (value == NULL)
        sb_str(&b, "null");
    else
        rstring(&b, value, rng);
    return b.p;
}

/* Render s as JSON with every list and every key order shuffled. */
static char *
render_shuffled(const mts_session *s, uint32_t *rng)
{
    static const char *const flag_names[] = { "ipv6", "media_only", "tcpo_only",
                                              "cdn", "static" };
    static const char *const kinds[] = { "user", "chat", "channel" };
    static const char *const ckinds[] = { NULL, "broadcast", "megagroup",
                                          "gigagroup" };
    char *top[11], *tmp[8], **items;
    size_t n, nt = 0;
    int32_t api;
    int64_t uid;
    int bot;
    const uint8_t *tok;
    size_t toklen;
    mts_update_state st;

    top[nt++] = member("version", "%s1", ws(rng));
    top[nt++] = str_member("format", "mtsession-json", rng);
    top[nt++] = member("home_dc_id", "%d", mts_session_home_dc(s));
    top[nt++] =
        member("test_mode", "%s", mts_session_test_mode(s) ? "true" : "false");
    if (mts_session_api_id(s, &api) == 0)
        top[nt++] = member("api_id", "%d", api);
    else
        top[nt++] = member("api_id", "null");
    if (mts_session_user(s, &uid, &bot) == 0) {
        tmp[0] = member("id", "%lld", (long long)uid);
        tmp[1] = member("is_bot", "%s", bot ? "true" : "false");
        char *o = robject(tmp, 2, rng);
        top[nt++] = member("user", "%s", o);
        free(o);
    } else {
        top[nt++] = member("user", "null");
    }

    n = mts_session_dc_count(s);
    items = calloc(n + 1, sizeof(*items));
    for (size_t i = 0; i < n; i++) {
        mts_dc dc;
        char ip[64], *fl[5], *o, *h;
        size_t nf = 0;
        mts_session_dc_at(&dc, s, i);
        mts_ip_format(ip, sizeof(ip), &dc.ip);
        for (int f = 0; f < 5; f++) {
            if (!(dc.flags & (1u << f)))
                continue;
            fl[nf] = malloc(16);
            snprintf(fl[nf], 16, "\"%s\"", flag_names[f]);
            nf++;
        }
        o = rarray(fl, nf, rng);
        tmp[0] = member("dc_id", "%d", dc.dc_id);
        tmp[1] = str_member("ip", ip, rng);
        tmp[2] = member("port", "%u", dc.port);
        tmp[3] = member("flags", "%s", o);
        free(o);
        h = dc.auth_key ? rhex(dc.auth_key, MTS_AUTH_KEY_SIZE) : NULL;
        tmp[4] = str_member("auth_key", h, rng);
        free(h);
        tmp[5] = member("server_salt", "%lld", (long long)dc.server_salt);
        tmp[6] = member("time_offset", "%d", dc.time_offset);
        items[i] = robject(tmp, 7, rng);
    }
    {
        char *a = rarray(items, n, rng);
        top[nt++] = member("dcs", "%s", a);
        free(a);
    }
    free(items);

    n = mts_session_channel_count(s);
    items = calloc(n + 1, sizeof(*items));
    for (size_t i = 0; i < n; i++) {
        mts_channel_pts c;
        mts_session_channel_at(&c, s, i);
        tmp[0] = member("channel_id", "%lld", (long long)c.channel_id);
        tmp[1] = member("pts", "%d", c.pts);
        items[i] = robject(tmp, 2, rng);
    }
    mts_session_update_state(s, &st);
    {
        char *a = rarray(items, n, rng), *o;
        tmp[0] = member("pts", "%d", st.pts);
        tmp[1] = member("qts", "%d", st.qts);
        tmp[2] = member("date", "%d", st.date);
        tmp[3] = member("seq", "%d", st.seq);
        tmp[4] = member("channels", "%s", a);
        free(a);
        o = robject(tmp, 5, rng);
        top[nt++] = member("update_state", "%s", o);
        free(o);
    }
    free(items);

    n = mts_session_peer_count(s);
    items = calloc(n + 1, sizeof(*items));
    for (size_t i = 0; i < n; i++) {
        mts_peer p;
        mts_session_peer_at(&p, s, i);
        tmp[0] = member("kind", "\"%s\"", kinds[p.kind]);
        tmp[1] = member("id", "%lld", (long long)p.id);
        tmp[2] = member("access_hash", "%lld", (long long)p.access_hash);
        tmp[3] = str_member("channel_kind", ckinds[p.channel_kind], rng);
        tmp[4] = member("community", "%s", p.community ? "true" : "false");
        tmp[5] = member("bot", "%s", p.bot ? "true" : "false");
        tmp[6] = str_member("username", p.username, rng);
        tmp[7] = str_member("phone", p.phone, rng);
        items[i] = robject(tmp, 8, rng);
    }
    {
        char *a = rarray(items, n, rng);
        top[nt++] = member("peers", "%s", a);
        free(a);
    }
    free(items);

    n = mts_session_min_peer_count(s);
    items = calloc(n + 1, sizeof(*items));
    for (size_t i = 0; i < n; i++) {
        mts_min_peer m;
        mts_session_min_peer_at(&m, s, i);
        tmp[0] = member("user_id", "%lld", (long long)m.user_id);
        tmp[1] = member("peer_id", "%lld", (long long)m.peer_id);
        tmp[2] = member("msg_id", "%d", m.msg_id);
        items[i] = robject(tmp, 3, rng);
    }
    {
        char *a = rarray(items, n, rng);
        top[nt++] = member("min_peers", "%s", a);
        free(a);
    }
    free(items);

    if (mts_session_future_auth_token(s, &tok, &toklen) == 0) {
        char *h = rhex(tok, toklen);
        top[nt++] = str_member("future_auth_token", h, rng);
        free(h);
    } else {
        top[nt++] = member("future_auth_token", "null");
    }
    return robject(top, nt, rng);
}

static void
test_order_independence(void)
{
    size_t want_len;
    char *want = read_data("valid/full.out.json", &want_len);
    mts_session *ref = NULL;
    if (want == NULL)
        return;
    T_EQ_INT(decode_exact(&ref, want, want_len, NULL), 0);
    if (ref == NULL) {
        free(want);
        return;
    }
    for (uint32_t round = 1; round <= 50; round++) {
        uint32_t rng = 0x9e3779b9u * round;
        char *doc = render_shuffled(ref, &rng), *out = NULL;
        mts_session *s = NULL;
        mts_error err = MTS_ERROR_INIT;
        size_t len;
        if (decode_exact(&s, doc, strlen(doc), &err) != 0) {
            t_fail(__FILE__, __LINE__, "round %u: %s\n%s", round, err.message,
                   doc);
            free(doc);
            break;
        }
        T_CHECK(mts_session_equal(s, ref));
        T_EQ_INT(mts_json_encode(&out, &len, s, NULL), 0);
        if (out == NULL || len != want_len || memcmp(out, want, len) != 0) {
            t_fail(__FILE__, __LINE__, "round %u: output differs", round);
            round = 1000;
        }
        mts_free(out);
        mts_session_free(s);
        free(doc);
    }
    mts_session_free(ref);
    free(want);
}

/* ---- unknown keys, nesting ----------------------------------------------- */

static void
test_unknown_keys_every_object(void)
{
    static const char *const values[] = {
        "null",
        "true",
        "false",
        "0",
        "-1.5e-7",
        "\"x\\u00e9\\\"\"",
        "[]",
        "{}",
        "[1, [2, {\"a\": {\"b\": []}}]]",
        "{\"format\": \"no\", \"version\": 9}"
    };
    size_t base_len;
    char *base = read_data("valid/base.in.json", &base_len);
    mts_session *ref = NULL;
    int objects = 0;
    if (base == NULL)
        return;
    T_EQ_INT(decode_exact(&ref, base, base_len, NULL), 0);
    /* The base document has no braces inside strings: every '{' opens an
     * object. Insert the unknown member into each one in turn. */
    for (size_t at = 0; at < base_len; at++) {
        if (base[at] != '{')
            continue;
        objects++;
        for (size_t v = 0; v < MTS__ARRAY_LEN(values); v++) {
            sb b = { 0 };
            mts_session *s = NULL;
            mts_error err = MTS_ERROR_INIT;
            sb_put(&b, base, at + 1);
            sb_printf(&b, "\"zz_future\": %s, ", values[v]);
            sb_str(&b, base + at + 1);
            if (decode_exact(&s, b.p, b.len, &err) != 0)
                t_fail(__FILE__, __LINE__, "object at %zu, value %s: %s", at,
                       values[v], err.message);
            else
                T_CHECK(mts_session_equal(s, ref));
            mts_session_free(s);
            free(b.p);
        }
    }
    /* root, user, dcs[0], update_state, channels[0], peers[0],
     * min_peers[0] */
    T_EQ_INT(objects, 7);
    mts_session_free(ref);
    free(base);
}

static char *
nested_doc(int levels)
{
    sb b = { 0 };
    size_t base_len;
    char *base = read_data("valid/minimal.out.json", &base_len);
    if (base == NULL)
        abort();
    sb_str(&b, "{\"deep\": ");
    for (int i = 0; i < levels; i++)
        sb_str(&b, i % 2 ? "[" : "{\"k\": ");
    sb_str(&b, "0");
    for (int i = levels - 1; i >= 0; i--)
        sb_str(&b, i % 2 ? "]" : "}");
    sb_str(&b, ", ");
    sb_str(&b, base + 1);
    free(base);
    return b.p;
}

static void
test_nesting_limit(void)
{
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = NULL;
    /* The document object is level 1: 63 more levels are allowed. */
    char *ok = nested_doc(63), *bad = nested_doc(64), *worse;
    T_EQ_INT(decode_exact(&s, ok, strlen(ok), &err), 0);
    mts_session_free(s);
    s = NULL;
    T_EQ_INT(decode_exact(&s, bad, strlen(bad), &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "nesting deeper than 64 levels");
    T_CONTAINS(err.message, "deep.k[0].k[0]"); /* the path follows */
    /* Far deeper than any stack would like: still a clean error. */
    worse = nested_doc(100000);
    T_EQ_INT(decode_exact(&s, worse, strlen(worse), &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "nesting deeper than 64 levels");
    free(ok);
    free(bad);
    free(worse);
}

/* ---- truncation ------------------------------------------------------------
 */

static void
truncation_loop(const char *rel)
{
    size_t len, end;
    char *doc = read_data(rel, &len);
    int failures = 0;
    if (doc == NULL)
        return;
    end = len;
    while (end > 0 && doc[end - 1] != '}')
        end--;
    for (size_t n = 0; n <= len; n++) {
        mts_session *s = NULL;
        mts_error err = MTS_ERROR_INIT;
        int rc = decode_exact(&s, doc, n, &err);
        if (n < end) {
            int want = n == 0 ? MTS_EFORMAT : MTS_ECORRUPT;
            if (rc != want || s != NULL) {
                if (failures++ < 5)
                    t_fail(__FILE__, __LINE__, "%s prefix %zu: %s %s", rel, n,
                           mts_errname(rc), err.message);
            } else if (err.offset < 0 || err.offset > (int64_t)n) {
                t_fail(__FILE__, __LINE__, "prefix %zu: offset %lld", n,
                       (long long)err.offset);
            }
        } else if (rc != 0) {
            t_fail(__FILE__, __LINE__, "%s prefix %zu (complete): %s", rel, n,
                   err.message);
        }
        mts_session_free(s);
    }
    free(doc);
}

static void
test_truncated_prefixes(void)
{
    truncation_loop("valid/full.out.json");
    truncation_loop("valid/full.in.json");
    truncation_loop("valid/extremes.in.json");
}

/* ---- random damage ----------------------------------------------------------
 */

/* Damaged documents either fail cleanly (a decoding error with an offset
 * inside the input) or decode to a session whose canonical form is a
 * fixed point. */
static void
mutation_loop(const char *rel, uint32_t seed, int rounds)
{
    static const char junk[] = "{}[],:\"\\-0123456789.eE+tfnu \n\x80\xff";
    size_t len;
    char *doc = read_data(rel, &len), *buf;
    uint32_t rng = seed;
    int accepted = 0, failures = 0;
    if (doc == NULL)
        return;
    buf = malloc(len + 2);
    for (int r = 0; r < rounds && failures < 5; r++) {
        size_t n = len, at = rnd(&rng) % len;
        mts_session *s = NULL, *t = NULL;
        mts_error err = MTS_ERROR_INIT;
        char c = junk[rnd(&rng) % (sizeof(junk) - 1)];
        int rc;
        memcpy(buf, doc, len);
        switch (rnd(&rng) % 3) {
        case 0: /* replace */
            buf[at] = c;
            break;
        case 1: /* delete */
            memmove(buf + at, buf + at + 1, len - at - 1);
            n--;
            break;
        default: /* insert */
            memmove(buf + at + 1, buf + at, len - at);
            buf[at] = c;
            n++;
            break;
        }
        rc = decode_exact(&s, buf, n, &err);
        if (rc != 0) {
            if ((rc != MTS_ECORRUPT && rc != MTS_EFORMAT &&
                 rc != MTS_EVERSION) ||
                s != NULL || err.offset < 0 || err.offset > (int64_t)n) {
                failures++;
                t_fail(__FILE__, __LINE__, "%s round %d: %s %s", rel, r,
                       mts_errname(rc), err.message);
            }
            continue;
        }
        accepted++;
        {
            char *a = NULL, *b = NULL;
            size_t al = 0, bl = 0;
            T_EQ_INT(mts_json_encode(&a, &al, s, NULL), 0);
            T_EQ_INT(decode_exact(&t, a, al, &err), 0);
            if (t != NULL) {
                T_CHECK(mts_session_equal(s, t));
                T_EQ_INT(mts_json_encode(&b, &bl, t, NULL), 0);
                if (al != bl || memcmp(a, b, al) != 0) {
                    failures++;
                    t_fail(__FILE__, __LINE__, "%s round %d: no fixed point",
                           rel, r);
                }
            }
            mts_free(a);
            mts_free(b);
        }
        mts_session_free(s);
        mts_session_free(t);
    }
    /* Some damage is harmless (white space, an id's digit): both paths
     * were exercised. */
    T_CHECK(accepted > 0);
    T_CHECK(accepted < rounds);
    free(buf);
    free(doc);
}

static void
test_random_damage(void)
{
    mutation_loop("valid/full.in.json", 1, 3000);
    mutation_loop("valid/full.out.json", 2, 3000);
    mutation_loop("valid/unknown-keys.in.json", 3, 3000);
    mutation_loop("valid/extremes.in.json", 4, 3000);
}

/* ---- specific rules -------------------------------------------------------
 */

static char *
doc_with_token(const char *token_json)
{
    sb b = { 0 };
    size_t len;
    char *base = read_data("valid/minimal.out.json", &len);
    const char *mark = "\"future_auth_token\": null";
    char *at;
    if (base == NULL || (at = strstr(base, mark)) == NULL)
        abort();
    *at = '\0';
    sb_str(&b, base);
    sb_str(&b, "\"future_auth_token\": ");
    sb_str(&b, token_json);
    sb_str(&b, at + strlen(mark));
    free(base);
    return b.p;
}

static void
test_token_limits(void)
{
    uint8_t *tok = malloc(MTS_TOKEN_MAX + 1);
    char *hex, *doc, *q;
    sb json = { 0 };
    mts_session *s = NULL;
    mts_error err = MTS_ERROR_INIT;
    const uint8_t *got;
    size_t got_len;

    for (size_t i = 0; i <= MTS_TOKEN_MAX; i++)
        tok[i] = (uint8_t)(i * 31 + 7);
    /* Exactly the maximum. */
    hex = rhex(tok, MTS_TOKEN_MAX);
    sb_str(&json, "\"");
    sb_str(&json, hex);
    sb_str(&json, "\"");
    doc = doc_with_token(json.p);
    T_EQ_INT(decode_exact(&s, doc, strlen(doc), &err), 0);
    if (s != NULL) {
        char *out = NULL;
        size_t len;
        T_EQ_INT(mts_session_future_auth_token(s, &got, &got_len), 0);
        T_EQ_U64(got_len, MTS_TOKEN_MAX);
        T_EQ_MEM(got, tok, MTS_TOKEN_MAX);
        T_EQ_INT(mts_json_encode(&out, &len, s, NULL), 0);
        T_CHECK(out != NULL && strstr(out, hex) != NULL);
        mts_free(out);
    }
    mts_session_free(s);
    s = NULL;
    free(doc);
    free(hex);
    /* One byte more. */
    hex = rhex(tok, MTS_TOKEN_MAX + 1);
    json.len = 0;
    sb_str(&json, "\"");
    sb_str(&json, hex);
    sb_str(&json, "\"");
    doc = doc_with_token(json.p);
    T_EQ_INT(decode_exact(&s, doc, strlen(doc), &err), MTS_ECORRUPT);
    T_CONTAINS(err.message,
               "future_auth_token: 65537 bytes, longer than the maximum of "
               "65536");
    free(doc);
    free(hex);
    /* Hex digits may arrive as escapes; the value is what counts. */
    doc = doc_with_token("\"\\u0030\\u0030f\\u0046\"");
    T_EQ_INT(decode_exact(&s, doc, strlen(doc), &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "upper-case hex digit 'F'");
    free(doc);
    doc = doc_with_token("\"\\u0030\\u0030ff\"");
    T_EQ_INT(decode_exact(&s, doc, strlen(doc), &err), 0);
    if (s != NULL) {
        T_EQ_INT(mts_session_future_auth_token(s, &got, &got_len), 0);
        T_EQ_U64(got_len, 2);
        T_EQ_MEM(got, "\x00\xff", 2);
    }
    mts_session_free(s);
    free(doc);
    /* Odd digit escaped: the offset then points at the string. */
    q = doc_with_token("\"0g\"");
    T_EQ_INT(decode_exact(&s, q, strlen(q), &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "future_auth_token: 'g' is not a hex digit");
    T_EQ_INT(err.offset, (int64_t)(strstr(q, "0g") - q) + 1);
    free(q);
    free(json.p);
    free(tok);
}

static void
test_bad_arguments(void)
{
    mts_session *s = NULL;
    mts_error err = MTS_ERROR_INIT;
    char *out = NULL;
    size_t len;
    T_EQ_INT(mts_json_decode(NULL, "{}", 2, &err), MTS_EINVAL);
    T_EQ_INT(mts_json_decode(&s, NULL, 5, &err), MTS_EINVAL);
    T_EQ_INT(mts_json_decode(&s, NULL, 0, &err), MTS_EFORMAT);
    T_EQ_INT(mts_json_encode(NULL, &len, s, &err), MTS_EINVAL);
    T_EQ_INT(mts_json_encode(&out, &len, NULL, &err), MTS_EINVAL);
    /* A NULL error record is fine. */
    T_EQ_INT(mts_json_decode(&s, "{", 1, NULL), MTS_ECORRUPT);
    T_CHECK(s == NULL);
}

static void
test_secrets_not_in_messages(void)
{
    size_t len;
    char *doc = read_data("invalid/key-511.json", &len), *p;
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = NULL;
    if (doc == NULL)
        return;
    T_EQ_INT(decode_exact(&s, doc, len, &err), MTS_ECORRUPT);
    /* No run of 16 hex digits from the key appears in the message. */
    p = strstr(doc, "\"auth_key\": \"");
    T_CHECK(p != NULL);
    if (p != NULL) {
        char run[17];
        memcpy(run, p + 13, 16);
        run[16] = '\0';
        T_CHECK(strstr(err.message, run) == NULL);
    }
    free(doc);
}

/* ---- allocation failures ------------------------------------------------- */

typedef struct fail_state {
    long calls;
    long fail_at; /* 0: never */
    long live;
} fail_state;

static fail_state g_fail;

static void *
fail_malloc(size_t n, void *payload)
{
    void *p;
    (void)payload;
    if (++g_fail.calls == g_fail.fail_at)
        return NULL;
    p = malloc(n);
    if (p != NULL)
        g_fail.live++;
    return p;
}

static void *
fail_realloc(void *ptr, size_t n, void *payload)
{
    void *p;
    (void)payload;
    if (++g_fail.calls == g_fail.fail_at)
        return NULL;
    p = realloc(ptr, n);
    if (p != NULL && ptr == NULL)
        g_fail.live++;
    return p;
}

static void
fail_free(void *ptr, void *payload)
{
    (void)payload;
    if (ptr != NULL)
        g_fail.live--;
    free(ptr);
}

static const mts_allocator fail_alloc = { fail_malloc, fail_realloc, fail_free,
                                          NULL };

static void
test_oom_decode(void)
{
    size_t len;
    char *doc = read_data("valid/full.in.json", &len);
    long failed_runs = 0;
    int done = 0;
    if (doc == NULL)
        return;
    memset(&g_fail, 0, sizeof(g_fail));
    T_EQ_INT(mts_set_allocator(&fail_alloc), 0);
    for (long n = 1; n < 100000 && !done; n++) {
        mts_session *s = NULL;
        mts_error err = MTS_ERROR_INIT;
        int rc;
        g_fail.calls = 0;
        g_fail.fail_at = n;
        g_fail.live = 0;
        rc = mts_json_decode(&s, doc, len, &err);
        if (rc == 0) {
            T_CHECK(g_fail.calls < n); /* no failure was injected */
            mts_session_free(s);
            done = 1;
        } else {
            failed_runs++;
            if (rc != MTS_ENOMEM || s != NULL)
                t_fail(__FILE__, __LINE__, "allocation %ld: %s %s", n,
                       mts_errname(rc), err.message);
            T_EQ_INT(err.code, MTS_ENOMEM);
        }
        if (g_fail.live != 0)
            t_fail(__FILE__, __LINE__, "allocation %ld: %ld blocks leaked", n,
                   g_fail.live);
    }
    mts_set_allocator(NULL);
    T_CHECK(done);
    printf("  decode: %ld allocations failed in turn\n", failed_runs);
    T_CHECK(failed_runs >= 10);
    free(doc);
}

static void
test_oom_encode(void)
{
    size_t len, want_len;
    char *doc = read_data("valid/full.in.json", &len);
    char *want = read_data("valid/full.out.json", &want_len);
    mts_session *s = NULL;
    long failed_runs = 0, base;
    int done = 0;
    if (doc == NULL || want == NULL)
        return;
    memset(&g_fail, 0, sizeof(g_fail));
    T_EQ_INT(mts_set_allocator(&fail_alloc), 0);
    T_EQ_INT(mts_json_decode(&s, doc, len, NULL), 0);
    base = g_fail.live;
    for (long n = 1; n < 100000 && !done && s != NULL; n++) {
        mts_error err = MTS_ERROR_INIT;
        char *out = NULL;
        size_t out_len;
        int rc;
        g_fail.calls = 0;
        g_fail.fail_at = n;
        rc = mts_json_encode(&out, &out_len, s, &err);
        if (rc == 0) {
            T_CHECK(g_fail.calls < n);
            T_EQ_U64(out_len, want_len);
            T_EQ_MEM(out, want, want_len);
            mts_free(out);
            done = 1;
        } else {
            failed_runs++;
            if (rc != MTS_ENOMEM || out != NULL)
                t_fail(__FILE__, __LINE__, "allocation %ld: %s", n,
                       mts_errname(rc));
        }
        if (g_fail.live != base)
            t_fail(__FILE__, __LINE__, "allocation %ld: %ld blocks leaked", n,
                   g_fail.live - base);
    }
    g_fail.fail_at = 0;
    mts_session_free(s);
    T_EQ_INT(g_fail.live, 0);
    mts_set_allocator(NULL);
    T_CHECK(done);
    printf("  encode: %ld allocations failed in turn\n", failed_runs);
    T_CHECK(failed_runs >= 4);
    free(doc);
    free(want);
}

/* ---- a large document in bounded memory ------------------------------------
 */

/* Counts bytes: a 16-byte header in front of each block holds its size. */
typedef struct mem_state {
    size_t cur, peak;
} mem_state;

static mem_state g_mem;

static void *
mem_malloc(size_t n, void *payload)
{
    unsigned char *p;
    (void)payload;
    p = malloc(n + 16);
    if (p == NULL)
        return NULL;
    memcpy(p, &n, sizeof(n));
    g_mem.cur += n;
    if (g_mem.cur > g_mem.peak)
        g_mem.peak = g_mem.cur;
    return p + 16;
}

static void
mem_free(void *ptr, void *payload)
{
    size_t n;
    unsigned char *p = ptr;
    (void)payload;
    if (p == NULL)
        return;
    memcpy(&n, p - 16, sizeof(n));
    g_mem.cur -= n;
    free(p - 16);
}

static void *
mem_realloc(void *ptr, size_t n, void *payload)
{
    unsigned char *p = ptr, *q;
    size_t old = 0;
    if (p == NULL)
        return mem_malloc(n, payload);
    memcpy(&old, p - 16, sizeof(old));
    q = realloc(p - 16, n + 16);
    if (q == NULL)
        return NULL;
    memcpy(q, &n, sizeof(n));
    g_mem.cur = g_mem.cur - old + n;
    if (g_mem.cur > g_mem.peak)
        g_mem.peak = g_mem.cur;
    return q + 16;
}

static const mts_allocator mem_alloc = { mem_malloc, mem_realloc, mem_free,
                                         NULL };

static void
test_large_document_bounded_memory(void)
{
    const char *env = getenv("MTS_JSON_BIG_PEERS");
    size_t npeers = env ? strtoul(env, NULL, 10) : 1000000;
    mts_session *s, *d = NULL;
    mts_error err = MTS_ERROR_INIT;
    char *doc = NULL;
    size_t len, before, session_bytes, extra;

    memset(&g_mem, 0, sizeof(g_mem));
    T_EQ_INT(mts_set_allocator(&mem_alloc), 0);
    T_EQ_INT(mts_session_new(&s, MTS_NEW_DEFAULT), 0);
    for (size_t i = 0; i < npeers; i++) {
        char name[32];
        mts_peer p = MTS_PEER_INIT;
        p.kind = (mts_peer_kind)(i % 3);
        p.id = (int64_t)(i * 2654435761u % 4000000000u) + 1;
        p.access_hash = (int64_t)(i * 0x9e3779b97f4a7c15ULL);
        p.channel_kind = p.kind == MTS_PEER_CHANNEL ? MTS_CHANNEL_MEGAGROUP
                                                    : MTS_CHANNEL_UNKNOWN;
        snprintf(name, sizeof(name), "user_%zu", i);
        p.username = i % 2 ? name : NULL;
        if (mts_session_put_peer(s, &p, &err) != 0) {
            t_fail(__FILE__, __LINE__, "put_peer: %s", err.message);
            break;
        }
    }
    T_EQ_INT(mts_json_encode(&doc, &len, s, &err), 0);
    T_EQ_U64(mts_session_peer_count(s), npeers);
    mts_session_free(s);
    if (doc == NULL) {
        mts_set_allocator(NULL);
        return;
    }
    before = g_mem.cur; /* the document itself */
    g_mem.peak = before;
    T_EQ_INT(mts_json_decode(&d, doc, len, &err), 0);
    session_bytes = g_mem.cur - before;
    extra = g_mem.peak - g_mem.cur;
    printf("  %zu peers: %zu bytes of JSON, session %zu bytes, peak extra "
           "%zu bytes\n",
           npeers, len, session_bytes, extra);
    /* No tree of the document: the decoder needs little beyond the
     * session it returns. */
    T_CHECK(extra <= 64 * 1024);
    if (npeers >= 1000)
        T_CHECK(session_bytes < len);
    if (d != NULL)
        T_EQ_U64(mts_session_peer_count(d), npeers);
    mts_session_free(d);
    mts_free(doc);
    T_EQ_U64(g_mem.cur, 0);
    mts_set_allocator(NULL);
}

T_MAIN(T_CASE(test_golden_valid),
       T_CASE(test_golden_invalid),
       T_CASE(test_encode_built_session),
       T_CASE(test_roundtrip_default_sessions),
       T_CASE(test_order_independence),
       T_CASE(test_unknown_keys_every_object),
       T_CASE(test_nesting_limit),
       T_CASE(test_truncated_prefixes),
       T_CASE(test_random_damage),
       T_CASE(test_token_limits),
       T_CASE(test_bad_arguments),
       T_CASE(test_secrets_not_in_messages),
       T_CASE(test_oom_decode),
       T_CASE(test_oom_encode),
       T_CASE(test_large_document_bounded_memory))
