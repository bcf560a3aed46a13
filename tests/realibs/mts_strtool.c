/*
 * mts_strtool.c - the library's side of the interop tests: decode a
 * session string to one JSON line, or encode one from key=value fields.
 * tests/realibs/interop.py runs it against the real client libraries.
 *
 *   mts_strtool decode FORMAT TEXT
 *       {"dc":2,"ip":"149.154.167.51","port":443,"key":"00..ff",
 *        "test":false,"api_id":null,"user_id":null,"is_bot":null,
 *        "media":null | {"dc":2,"ip":"...","port":443}}
 *   mts_strtool encode FORMAT dc=N ip=A port=N key=HEX [test=0|1]
 *       [api_id=N] [user_id=N is_bot=0|1] [media_ip=A media_port=N]
 *       prints the string (no warnings are allowed: they mean data was
 *       dropped, and the tool fails).
 *
 * Exit status: 0 ok, 1 the library refused, 2 usage.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtsession/mtsession.h"
#include "mtsession/sys/alloc.h"

static int
usage(void)
{
    fprintf(stderr, "usage: mts_strtool decode FORMAT TEXT\n"
                    "       mts_strtool encode FORMAT key=value...\n");
    return 2;
}

static void
print_hex(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%02x", p[i]);
}

static int
do_decode(mts_format fmt, const char *text)
{
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = NULL;
    mts_dc dc;
    char ip[64];
    int32_t api;
    int64_t uid;
    int bot, rc;
    rc = mts_format_decode(&s, fmt, (const uint8_t *)text, strlen(text),
                           &err);
    if (rc != 0) {
        fprintf(stderr, "mts_strtool: %s: %s\n", mts_errname(rc),
                err.message);
        return 1;
    }
    if (mts_session_dc_for(&dc, s, mts_session_home_dc(s), 0) != 0 ||
        dc.auth_key == NULL) {
        fprintf(stderr, "mts_strtool: no home DC entry with a key\n");
        mts_session_free(s);
        return 1;
    }
    mts_ip_format(ip, sizeof(ip), &dc.ip);
    printf("{\"dc\":%d,\"ip\":\"%s\",\"port\":%u,\"key\":\"", (int)dc.dc_id,
           ip, (unsigned)dc.port);
    print_hex(dc.auth_key, MTS_AUTH_KEY_SIZE);
    printf("\",\"test\":%s", mts_session_test_mode(s) ? "true" : "false");
    if (mts_session_api_id(s, &api) == 0)
        printf(",\"api_id\":%d", (int)api);
    else
        printf(",\"api_id\":null");
    if (mts_session_user(s, &uid, &bot) == 0)
        printf(",\"user_id\":%" PRId64 ",\"is_bot\":%s", uid,
               bot ? "true" : "false");
    else
        printf(",\"user_id\":null,\"is_bot\":null");
    printf(",\"media\":");
    {
        int found = 0;
        for (size_t i = 0; i < mts_session_dc_count(s); i++) {
            mts_dc m;
            if (mts_session_dc_at(&m, s, i) != 0 ||
                !(m.flags & MTS_DC_MEDIA_ONLY) || m.dc_id != dc.dc_id)
                continue;
            mts_ip_format(ip, sizeof(ip), &m.ip);
            printf("{\"dc\":%d,\"ip\":\"%s\",\"port\":%u}", (int)m.dc_id, ip,
                   (unsigned)m.port);
            found = 1;
            break;
        }
        if (!found)
            printf("null");
    }
    printf(",\"dcs\":%zu}\n", mts_session_dc_count(s));
    mts_session_free(s);
    return 0;
}

static void
on_warn(const char *what, void *payload)
{
    int *n = payload;
    fprintf(stderr, "mts_strtool: dropped %s\n", what);
    (*n)++;
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int
do_encode(mts_format fmt, int argc, char **argv)
{
    mts_session *s;
    mts_dc dc = MTS_DC_INIT, media = MTS_DC_INIT;
    uint8_t key[MTS_AUTH_KEY_SIZE];
    int have_key = 0, have_media = 0, have_user = 0, bot = 0, warns = 0, rc;
    int64_t uid = 0;
    mts_error err = MTS_ERROR_INIT;
    uint8_t *out;
    size_t n;
    if (mts_session_new(&s, MTS_NEW_EMPTY) != 0)
        return 1;
    for (int i = 0; i < argc; i++) {
        const char *v = strchr(argv[i], '=');
        size_t klen;
        if (v == NULL)
            return usage();
        klen = (size_t)(v - argv[i]);
        v++;
#define IS(name) (klen == strlen(name) && strncmp(argv[i], name, klen) == 0)
        if (IS("dc")) {
            dc.dc_id = (int32_t)strtol(v, NULL, 10);
        } else if (IS("ip")) {
            if (mts_ip_parse(&dc.ip, v) != 0)
                return usage();
        } else if (IS("port")) {
            dc.port = (uint16_t)strtoul(v, NULL, 10);
        } else if (IS("key")) {
            if (strlen(v) != 2 * MTS_AUTH_KEY_SIZE)
                return usage();
            for (size_t k = 0; k < MTS_AUTH_KEY_SIZE; k++) {
                int hi = hexval(v[2 * k]), lo = hexval(v[2 * k + 1]);
                if (hi < 0 || lo < 0)
                    return usage();
                key[k] = (uint8_t)(hi << 4 | lo);
            }
            have_key = 1;
        } else if (IS("test")) {
            mts_session_set_test_mode(s, atoi(v));
        } else if (IS("api_id")) {
            mts_session_set_api_id(s, 1, (int32_t)strtol(v, NULL, 10));
        } else if (IS("user_id")) {
            uid = strtoll(v, NULL, 10);
            have_user = 1;
        } else if (IS("is_bot")) {
            bot = atoi(v);
        } else if (IS("media_ip")) {
            if (mts_ip_parse(&media.ip, v) != 0)
                return usage();
            have_media = 1;
        } else if (IS("media_port")) {
            media.port = (uint16_t)strtoul(v, NULL, 10);
        } else {
            return usage();
        }
#undef IS
    }
    dc.flags = dc.ip.family == 6 ? MTS_DC_IPV6 : 0;
    dc.auth_key = have_key ? key : NULL;
    rc = mts_session_put_dc(s, &dc);
    if (rc == 0 && have_media) {
        media.dc_id = dc.dc_id;
        media.flags = MTS_DC_MEDIA_ONLY |
                      (media.ip.family == 6 ? MTS_DC_IPV6 : 0);
        rc = mts_session_put_dc(s, &media);
    }
    if (rc == 0)
        rc = mts_session_set_home_dc(s, dc.dc_id);
    if (rc == 0 && have_user)
        rc = mts_session_set_user(s, uid, bot);
    if (rc == 0)
        rc = mts_format_encode(&out, &n, fmt, s, on_warn, &warns, &err);
    mts_session_free(s);
    if (rc != 0) {
        fprintf(stderr, "mts_strtool: %s: %s\n", mts_errname(rc),
                err.message);
        return 1;
    }
    fwrite(out, 1, n, stdout);
    mts_free(out);
    return warns == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
    mts_format fmt;
    if (argc < 3 || mts_format_from_name(&fmt, argv[2]) != 0)
        return usage();
    if (strcmp(argv[1], "decode") == 0 && argc == 4)
        return do_decode(fmt, argv[3]);
    if (strcmp(argv[1], "encode") == 0)
        return do_encode(fmt, argc - 3, argv + 3);
    return usage();
}
