/*
 * crc32c.c - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum of the version-2 file format. Slicing-by-8 over tables built
 * once (pthread_once), so any thread may call it.
 *
 * Check value: mts_crc32c(0, "123456789", 9) == 0xE3069283. On x86-64
 * CPUs with SSE4.2 the CRC32 instruction is used instead, three lanes at a
 * time on long inputs (same result; the tests compare both paths).
 */
#include "internal.h"

#include <pthread.h>

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
static void hw_init(void);
#endif

static void
crc_init(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    hw_init();
#endif
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
                              crc_table[0][crc_table[t - 1][i] & 0xff];
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* The SSE4.2 CRC32 instruction computes exactly CRC-32C, 8 bytes at a
 * time; chosen at run time when the CPU has it. One instruction takes 3
 * cycles but a new one can start every cycle, so long inputs are cut into
 * three lanes checksummed side by side, and the lanes' CRCs are joined:
 * for A followed by B, crc(A B) = shift(crc(A), |B|) ^ crc0(B), where
 * crc0 starts from 0 and shift advances a CRC over |B| zero bytes, a
 * linear map done with four tables of 256 entries per lane length. */
#include <nmmintrin.h>
#include <string.h>

#define LANE_LONG 8192
#define LANE_SHORT 256

static uint32_t shift_long[4][256], shift_short[4][256];

/* GF(2) 32x32 matrices as 32 columns: the image of each bit. */
static uint32_t
gf2_times(const uint32_t *mat, uint32_t vec)
{
    uint32_t sum = 0;
    while (vec != 0) {
        if (vec & 1)
            sum ^= *mat;
        vec >>= 1;
        mat++;
    }
    return sum;
}

static void
gf2_square(uint32_t *sq, const uint32_t *mat)
{
    for (int n = 0; n < 32; n++)
        sq[n] = gf2_times(mat, mat[n]);
}

/* Tables for shift over `len` zero bytes (len a power of two, >= 1). */
static void
shift_tables(uint32_t tab[4][256], size_t len)
{
    uint32_t op[32], tmp[32];
    /* one zero bit: the reflected register shifts right, feeding back the
     * polynomial from bit 0 */
    op[0] = 0x82F63B78u;
    for (int n = 1; n < 32; n++)
        op[n] = (uint32_t)1 << (n - 1);
    for (size_t bits = 1; bits < len * 8; bits *= 2) {
        gf2_square(tmp, op);
        memcpy(op, tmp, sizeof(op));
    }
    for (int k = 0; k < 4; k++)
        for (uint32_t b = 0; b < 256; b++)
            tab[k][b] = gf2_times(op, b << (8 * k));
}

static uint32_t
shift_by(uint32_t tab[4][256], uint32_t crc)
{
    return tab[0][crc & 0xff] ^ tab[1][(crc >> 8) & 0xff] ^
           tab[2][(crc >> 16) & 0xff] ^ tab[3][crc >> 24];
}

__attribute__((target("sse4.2"))) static uint64_t
crc_lanes(uint64_t c, const uint8_t **pp, size_t *lenp, size_t lane,
          uint32_t tab[4][256])
{
    const uint8_t *p = *pp;
    size_t len = *lenp;
    while (len >= 3 * lane) {
        uint64_t c1 = 0, c2 = 0;
        for (size_t k = 0; k < lane; k += 8) {
            uint64_t v0, v1, v2;
            memcpy(&v0, p + k, 8);
            memcpy(&v1, p + lane + k, 8);
            memcpy(&v2, p + 2 * lane + k, 8);
            c = _mm_crc32_u64(c, v0);
            c1 = _mm_crc32_u64(c1, v1);
            c2 = _mm_crc32_u64(c2, v2);
        }
        c = shift_by(tab, (uint32_t)c) ^ (uint32_t)c1;
        c = shift_by(tab, (uint32_t)c) ^ (uint32_t)c2;
        p += 3 * lane;
        len -= 3 * lane;
    }
    *pp = p;
    *lenp = len;
    return c;
}

__attribute__((target("sse4.2"))) static uint32_t
crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
    uint64_t c = (uint32_t)~crc;
    c = crc_lanes(c, &p, &len, LANE_LONG, shift_long);
    c = crc_lanes(c, &p, &len, LANE_SHORT, shift_short);
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
        p += 8;
        len -= 8;
    }
    while (len--)
        c = _mm_crc32_u8((uint32_t)c, *p++);
    return ~(uint32_t)c;
}

static int have_hw;

static void
hw_init(void)
{
    __builtin_cpu_init();
    have_hw = __builtin_cpu_supports("sse4.2");
    if (have_hw) {
        shift_tables(shift_long, LANE_LONG);
        shift_tables(shift_short, LANE_SHORT);
    }
}
#define MTS__CRC_HW 1
#endif

uint32_t
mts_crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_once, crc_init);
#ifdef MTS__CRC_HW
    if (have_hw)
        return crc_hw(crc, data, len);
#endif
    return mts__crc32c_sw(crc, data, len);
}

uint32_t
mts__crc32c_sw(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;
    pthread_once(&crc_once, crc_init);
    crc = ~crc;
    while (len >= 8) {
        uint32_t lo = crc ^ mts__rd32(p);
        uint32_t hi = mts__rd32(p + 4);
        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
              crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
              crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
              crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}
