/*
 * defaults.c - Telegram's public bootstrap DC addresses.
 *
 * These are the well-known addresses that public clients (Pyrogram,
 * GramJS, mtcute, tgl) ship as their starting table: production DCs 1-5
 * and test DCs 1-3, IPv4 and IPv6, port 443. A client replaces them with
 * help.getConfig's dcOptions once connected.
 */
#include "internal.h"

#define V4(a, b, c, d)                                                        \
    { 4, { a, b, c, d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 } }
/* 2001:b28:f23d:f0NN::X and 2001:67c:4e8:f0NN::X */
#define V6_B28(hi, nn, x)                                                     \
    { 6, { 0x20, 0x01, 0x0b, 0x28, 0xf2, hi, 0xf0, nn, 0, 0, 0, 0, 0, 0, 0, x } }
#define V6_67C(nn, x)                                                         \
    { 6, { 0x20, 0x01, 0x06, 0x7c, 0x04, 0xe8, 0xf0, nn, 0, 0, 0, 0, 0, 0, 0, x } }
#define DC(id, ip, flags)                                                     \
    { MTS_DC_VERSION, id, ip, 443, flags, NULL, 0, 0 }

static const mts_dc prod_dcs[] = {
    DC(1, V4(149, 154, 175, 53), 0),
    DC(1, V6_B28(0x3d, 0x01, 0x0a), MTS_DC_IPV6),
    DC(2, V4(149, 154, 167, 51), 0),
    DC(2, V6_67C(0x02, 0x0a), MTS_DC_IPV6),
    DC(3, V4(149, 154, 175, 100), 0),
    DC(3, V6_B28(0x3d, 0x03, 0x0a), MTS_DC_IPV6),
    DC(4, V4(149, 154, 167, 91), 0),
    DC(4, V6_67C(0x04, 0x0a), MTS_DC_IPV6),
    DC(5, V4(91, 108, 56, 130), 0),
    DC(5, V6_B28(0x3f, 0x05, 0x0a), MTS_DC_IPV6),
};

static const mts_dc test_dcs[] = {
    DC(1, V4(149, 154, 175, 10), 0),
    DC(1, V6_B28(0x3d, 0x01, 0x0e), MTS_DC_IPV6),
    DC(2, V4(149, 154, 167, 40), 0),
    DC(2, V6_67C(0x02, 0x0e), MTS_DC_IPV6),
    DC(3, V4(149, 154, 175, 117), 0),
    DC(3, V6_B28(0x3d, 0x03, 0x0e), MTS_DC_IPV6),
};

void
mts_default_dcs(const mts_dc **out, size_t *count, int test)
{
    if (test) {
        *out = test_dcs;
        *count = MTS__ARRAY_LEN(test_dcs);
    } else {
        *out = prod_dcs;
        *count = MTS__ARRAY_LEN(prod_dcs);
    }
}
