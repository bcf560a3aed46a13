/*
 * helpers.c - see helpers.h.
 */
#include "helpers.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "t.h"

mts_session *
h_session(int variant)
{
    mts_session *s = NULL;
    uint8_t key[MTS_AUTH_KEY_SIZE];
    mts_dc dc = MTS_DC_INIT;
    mts_peer p = MTS_PEER_INIT;
    mts_update_state us = { 100 + variant, 7 + variant, 1700000000 + variant,
                            3 + variant };
    mts_error e = MTS_ERROR_INIT;
    if (mts_session_new(&s, MTS_NEW_DEFAULT) != 0)
        return NULL;
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)(i * 7 + (size_t)variant * 13 + 1);
    if (mts_session_dc_at(&dc, s, 0) != 0)
        goto fail;
    dc.auth_key = key;
    dc.server_salt = 0x1122334455667788LL + variant;
    dc.time_offset = -5 + variant;
    if (mts_session_put_dc(s, &dc) != 0)
        goto fail;
    if (mts_session_set_home_dc(s, dc.dc_id) != 0)
        goto fail;
    if (mts_session_set_user(s, 424242 + variant, variant & 1) != 0)
        goto fail;
    mts_session_set_update_state(s, &us);
    if (mts_session_set_channel_pts(s, 1000 + variant, 55 + variant) != 0)
        goto fail;
    p.kind = MTS_PEER_USER;
    p.id = 777 + variant;
    p.access_hash = -123456789 - variant;
    p.username = variant & 1 ? "odd_user" : "even_user";
    if (mts_session_put_peer(s, &p, &e) != 0)
        goto fail;
    p = (mts_peer)MTS_PEER_INIT;
    p.kind = MTS_PEER_CHANNEL;
    p.id = 888 + variant;
    p.access_hash = 99 + variant;
    p.channel_kind = MTS_CHANNEL_MEGAGROUP;
    if (mts_session_put_peer(s, &p, &e) != 0)
        goto fail;
    return s;
fail:
    fprintf(stderr, "h_session: %s\n", e.message);
    mts_session_free(s);
    return NULL;
}

uint8_t *
h_encode(const mts_session *s, size_t *len)
{
    uint8_t *data = NULL;
    mts_error e = MTS_ERROR_INIT;
    if (mts_encode(&data, len, s, &e) != 0) {
        fprintf(stderr, "h_encode: %s\n", e.message);
        exit(2);
    }
    return data;
}

const char *
h_dir(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", t_tmpdir(), name);
    if (mkdir(buf, 0700) != 0) {
        perror(buf);
        exit(2);
    }
    return buf;
}

void
h_join(char *buf, size_t size, const char *dir, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
}

int
h_count(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL)
        if (strstr(de->d_name, needle) != NULL)
            n++;
    closedir(d);
    return n;
}

int
h_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

int
h_file_is(const char *path, const uint8_t *data, size_t len)
{
    size_t n = 0;
    unsigned char *got = t_read_file(path, &n);
    int same = got != NULL && n == len && memcmp(got, data, len) == 0;
    free(got);
    return same;
}

int
h_open_fds(void)
{
    return h_entries("/proc/self/fd") - 1; /* the listing's own */
}
