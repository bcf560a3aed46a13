/*
 * fmt_tool.c - the C side of the SQLite-format interop tests
 * (tests/realibs/telethon_sqlite.py).
 *
 *   fmt_tool export FORMAT OUT   write the fixed session below as FORMAT
 *   fmt_tool dump FORMAT IN      decode IN and print every field, one
 *                                record a line, in a stable order
 *
 * Exit status 0 on success, 1 with a message on standard error otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtsession/mtsession.h"
#include "mtsession/sys/alloc.h"

static int
put_dc(mts_session *s, int32_t id, const char *ip, uint16_t port,
       unsigned flags, const uint8_t *key, int64_t salt)
{
    mts_dc dc = MTS_DC_INIT;
    dc.dc_id = id;
    if (mts_ip_parse(&dc.ip, ip) != 0)
        return -1;
    dc.port = port;
    dc.flags = flags;
    dc.auth_key = key;
    dc.server_salt = salt;
    return mts_session_put_dc(s, &dc);
}

static int
put_peer(mts_session *s, mts_peer_kind kind, int64_t id, int64_t hash,
         mts_channel_kind ck, int bot, const char *user, const char *phone)
{
    mts_peer p = MTS_PEER_INIT;
    p.kind = kind;
    p.id = id;
    p.access_hash = hash;
    p.channel_kind = ck;
    p.bot = bot;
    p.username = user;
    p.phone = phone;
    return mts_session_put_peer(s, &p, NULL);
}

/* The session the interop script expects (it states the same values). */
static mts_session *
fixed_session(void)
{
    mts_session *s;
    uint8_t key[256], other[256];
    mts_update_state st = { 1000, 20, 1700000123, 30 };
    mts_min_peer mp = { 9, 777000, 5 };
    int rc = 0;
    for (int i = 0; i < 256; i++) {
        key[i] = (uint8_t)i;
        other[i] = (uint8_t)(255 - i);
    }
    if (mts_session_new(&s, MTS_NEW_EMPTY) != 0)
        return NULL;
    rc |= mts_session_set_home_dc(s, 2);
    rc |= put_dc(s, 2, "149.154.167.51", 443, 0, key, 12345);
    rc |= put_dc(s, 2, "2001:67c:4e8:f002::a", 443, MTS_DC_IPV6, other, 0);
    rc |= put_dc(s, 4, "149.154.167.91", 443, MTS_DC_MEDIA_ONLY, NULL, 0);
    mts_session_set_update_state(s, &st);
    rc |= mts_session_set_channel_pts(s, 1234567890, 55);
    rc |= mts_session_set_channel_pts(s, 1500000000, 66);
    rc |= put_peer(s, MTS_PEER_USER, 777000, -5612345678901234567LL,
                   MTS_CHANNEL_UNKNOWN, 0, "Telegram", "+42777");
    rc |= put_peer(s, MTS_PEER_USER, 5000801609LL, 123456789,
                   MTS_CHANNEL_UNKNOWN, 0, NULL, "15551234567");
    rc |= put_peer(s, MTS_PEER_USER, 42, -1, MTS_CHANNEL_UNKNOWN, 1,
                   "some_bot", NULL);
    rc |= put_peer(s, MTS_PEER_CHAT, 100, 0, MTS_CHANNEL_UNKNOWN, 0, NULL,
                   NULL);
    rc |= put_peer(s, MTS_PEER_CHANNEL, 1234567890, 987654321,
                   MTS_CHANNEL_BROADCAST, 0, "news_channel", NULL);
    rc |= put_peer(s, MTS_PEER_CHANNEL, 1500000000, -77,
                   MTS_CHANNEL_MEGAGROUP, 0, NULL, NULL);
    rc |= mts_session_put_min_peer(s, &mp);
    if (rc != 0) {
        mts_session_free(s);
        return NULL;
    }
    return s;
}

static void
print_warning(const char *what, void *payload)
{
    (void)payload;
    fprintf(stderr, "fmt_tool: warning: dropped %s\n", what);
}

static int
cmp_chan(const void *a, const void *b)
{
    const mts_channel_pts *x = a, *y = b;
    return (x->channel_id > y->channel_id) - (x->channel_id < y->channel_id);
}

static int
cmp_peer(const void *a, const void *b)
{
    const mts_peer *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static void
dump(const mts_session *s)
{
    static const char *const kinds[] = { "user", "chat", "channel" };
    static const char *const ckinds[] = { "-", "broadcast", "megagroup",
                                          "gigagroup" };
    mts_update_state st;
    size_t n;
    int32_t api;
    int64_t uid;
    int bot;
    printf("home %d\n", (int)mts_session_home_dc(s));
    printf("test %d\n", mts_session_test_mode(s));
    if (mts_session_api_id(s, &api) == 0)
        printf("api_id %d\n", (int)api);
    if (mts_session_user(s, &uid, &bot) == 0)
        printf("user %lld bot %d\n", (long long)uid, bot);
    for (size_t i = 0; i < mts_session_dc_count(s); i++) {
        mts_dc dc;
        char ip[64];
        mts_session_dc_at(&dc, s, i);
        mts_ip_format(ip, sizeof(ip), &dc.ip);
        printf("dc %d %s %u flags %u salt %lld offset %d key ", (int)dc.dc_id,
               ip, (unsigned)dc.port, dc.flags, (long long)dc.server_salt,
               (int)dc.time_offset);
        if (dc.auth_key == NULL)
            printf("-");
        else
            for (int k = 0; k < 256; k++)
                printf("%02x", dc.auth_key[k]);
        printf("\n");
    }
    mts_session_update_state(s, &st);
    printf("state %d %d %d %d\n", (int)st.pts, (int)st.qts, (int)st.date,
           (int)st.seq);
    n = mts_session_channel_count(s);
    {
        mts_channel_pts *c = calloc(n + 1, sizeof(*c));
        for (size_t i = 0; i < n; i++)
            mts_session_channel_at(&c[i], s, i);
        qsort(c, n, sizeof(*c), cmp_chan);
        for (size_t i = 0; i < n; i++)
            printf("channel %lld %d\n", (long long)c[i].channel_id,
                   (int)c[i].pts);
        free(c);
    }
    n = mts_session_peer_count(s);
    {
        mts_peer *p = calloc(n + 1, sizeof(*p));
        for (size_t i = 0; i < n; i++)
            mts_session_peer_at(&p[i], s, i);
        qsort(p, n, sizeof(*p), cmp_peer);
        for (size_t i = 0; i < n; i++)
            printf("peer %s %lld hash %lld kind %s bot %d community %d "
                   "username %s phone %s\n",
                   kinds[p[i].kind], (long long)p[i].id,
                   (long long)p[i].access_hash, ckinds[p[i].channel_kind],
                   p[i].bot, p[i].community,
                   p[i].username ? p[i].username : "-",
                   p[i].phone ? p[i].phone : "-");
        free(p);
    }
    printf("min_peers %zu\n", mts_session_min_peer_count(s));
}

static unsigned char *
read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *d = NULL;
    size_t cap = 0, n = 0, got;
    if (f == NULL)
        return NULL;
    do {
        if (n == cap) {
            unsigned char *p = realloc(d, (cap = cap ? cap * 2 : 65536));
            if (p == NULL) {
                free(d);
                fclose(f);
                return NULL;
            }
            d = p;
        }
        got = fread(d + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    *len = n;
    return d;
}

int
main(int argc, char **argv)
{
    mts_format fmt;
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = NULL;
    int rc;
    if (argc != 4 || mts_format_from_name(&fmt, argv[2]) != 0) {
        fprintf(stderr, "usage: fmt_tool export|dump FORMAT PATH\n");
        return 2;
    }
    if (strcmp(argv[1], "export") == 0) {
        uint8_t *out;
        size_t n;
        FILE *f;
        s = fixed_session();
        if (s == NULL) {
            fprintf(stderr, "fmt_tool: building the session failed\n");
            return 1;
        }
        rc = mts_format_encode(&out, &n, fmt, s, print_warning, NULL, &err);
        mts_session_free(s);
        if (rc != 0) {
            fprintf(stderr, "fmt_tool: %s: %s\n", mts_errname(rc),
                    err.message);
            return 1;
        }
        f = fopen(argv[3], "wb");
        if (f == NULL || fwrite(out, 1, n, f) != n || fclose(f) != 0) {
            perror(argv[3]);
            mts_free(out);
            return 1;
        }
        mts_free(out);
        return 0;
    }
    if (strcmp(argv[1], "dump") == 0) {
        size_t n;
        unsigned char *d = read_all(argv[3], &n);
        if (d == NULL) {
            perror(argv[3]);
            return 1;
        }
        rc = mts_format_decode(&s, fmt, d, n, &err);
        free(d);
        if (rc != 0) {
            fprintf(stderr, "fmt_tool: %s: %s\n", mts_errname(rc),
                    err.message);
            return 1;
        }
        dump(s);
        mts_session_free(s);
        return 0;
    }
    fprintf(stderr, "usage: fmt_tool export|dump FORMAT PATH\n");
    return 2;
}
