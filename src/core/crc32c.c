/*
 * crc32c.c - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum of the version-2 file format. Slicing-by-8 over tables built
 * once (pthread_once), so any thread may call it.
 *
 * Check value: mts_crc32c(0, "123456789", 9) == 0xE3069283. On x86-64
 * CPUs with SSE4.2 the CRC32 instruction is used instead (same result;
 * the tests compare both paths).
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
 * time; chosen at run time when the CPU has it. */
#include <nmmintrin.h>
#include <string.h>

__attribute__((target("sse4.2"))) static uint32_t
crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
    uint64_t c = ~crc;
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
