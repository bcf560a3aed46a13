/*
 * util.c - text helpers: UTF-8 checks, IP addresses, "host:port" parsing.
 */
#include "internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

bool
mts__utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        uint32_t cp;
        size_t need;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return false;
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            cp = c & 0x1fu;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            cp = c & 0x0fu;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            cp = c & 0x07u;
        } else {
            return false;
        }
        if (n - i - 1 < need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return false;
        i += need + 1;
    }
    return true;
}

int
mts_ip_parse(mts_ip *out, const char *text)
{
    mts_ip ip;
    memset(&ip, 0, sizeof(ip));
    if (text == NULL)
        return MTS_EINVAL;
    if (inet_pton(AF_INET, text, ip.bytes) == 1) {
        ip.family = 4;
    } else if (inet_pton(AF_INET6, text, ip.bytes) == 1) {
        ip.family = 6;
    } else {
        return MTS_EINVAL;
    }
    *out = ip;
    return 0;
}

int
mts_ip_format(char *buf, size_t size, const mts_ip *ip)
{
    if (buf == NULL || ip == NULL || size < 46)
        return MTS_EINVAL;
    if (ip->family == 4) {
        if (inet_ntop(AF_INET, ip->bytes, buf, (socklen_t)size) == NULL)
            return MTS_EINVAL;
    } else if (ip->family == 6) {
        if (inet_ntop(AF_INET6, ip->bytes, buf, (socklen_t)size) == NULL)
            return MTS_EINVAL;
    } else {
        return MTS_EINVAL;
    }
    return 0;
}

int
mts__parse_hostport(mts_ip *ip, uint16_t *port, const char *s, size_t n)
{
    char host[64];
    const char *colon, *p, *end = s + n;
    size_t hlen;
    unsigned long v = 0;

    if (n == 0)
        return MTS_EINVAL;
    if (s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (rb == NULL || rb + 1 >= end || rb[1] != ':')
            return MTS_EINVAL;
        hlen = (size_t)(rb - s - 1);
        if (hlen == 0 || hlen >= sizeof(host))
            return MTS_EINVAL;
        memcpy(host, s + 1, hlen);
        colon = rb + 1;
    } else {
        colon = NULL;
        for (p = s; p < end; p++)
            if (*p == ':')
                colon = p;
        if (colon == NULL)
            return MTS_EINVAL;
        hlen = (size_t)(colon - s);
        if (hlen == 0 || hlen >= sizeof(host))
            return MTS_EINVAL;
        memcpy(host, s, hlen);
    }
    host[hlen] = '\0';
    if (mts_ip_parse(ip, host) != 0)
        return MTS_EINVAL;
    if (s[0] != '[' && ip->family != 4)
        return MTS_EINVAL; /* IPv6 must be bracketed */
    if (s[0] == '[' && ip->family != 6)
        return MTS_EINVAL;
    p = colon + 1;
    if (p == end || end - p > 5 || (*p == '0'))
        return MTS_EINVAL;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return MTS_EINVAL;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v < 1 || v > 65535)
        return MTS_EINVAL;
    *port = (uint16_t)v;
    return 0;
}
