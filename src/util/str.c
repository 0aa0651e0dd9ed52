/*
 * str.c - small string helpers (case-insensitive compare, edit distance, UTF-8
 * validation) and the byte hash used by hash joins, aggregates and dictionaries.
 *
 * The hash: 64-bit, seedable, built on a 64x64->128 multiply folded to 64 bits ("mum"
 * mixing). Inputs up to 16 bytes are read as at most two overlapping words (no loop);
 * longer inputs run two independent lanes over 32-byte stripes, then absorb the last 16
 * bytes (overlapping reads, never past the end). Constants are arbitrary odd 64-bit
 * values with well spread bits. Little-endian reads (memcpy), so values differ on a
 * big-endian host, which only matters if hashes are persisted (they are not).
 */
#include <ctype.h>
#include <string.h>

#include "util/util.h"

bool tb_str_ieq(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

bool tb_str_nieq(const char *a, size_t a_len, const char *b)
{
    size_t i;

    for (i = 0; i < a_len; i++) {
        if (b[i] == '\0' || tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
            return false;
    }
    return b[a_len] == '\0';
}

bool tb_str_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return m <= n && memcmp(s + n - m, suffix, m) == 0;
}

int tb_edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b), i, j;
    int stack_row[65];
    int *row = stack_row;
    int result;

    if (n == 0)
        return (int)TB_MIN(m, (size_t)1 << 30);
    if (m == 0)
        return (int)TB_MIN(n, (size_t)1 << 30);
    if (m > ((size_t)1 << 20) || n > ((size_t)1 << 20))
        return 1 << 30; /* "did you mean" only compares identifiers */
    if (m + 1 > sizeof(stack_row) / sizeof(stack_row[0])) {
        row = tb_malloc((m + 1) * sizeof(int));
        if (row == NULL)
            return 1 << 30;
    }
    for (j = 0; j <= m; j++)
        row[j] = (int)j;
    for (i = 1; i <= n; i++) {
        int diag = row[0]; /* row[i-1][j-1] */
        int ca = tolower((unsigned char)a[i - 1]);
        row[0] = (int)i;
        for (j = 1; j <= m; j++) {
            int up = row[j]; /* row[i-1][j] */
            int cost = ca != tolower((unsigned char)b[j - 1]);
            int best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    result = row[m];
    if (row != stack_row)
        tb_free(row);
    return result;
}

bool tb_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        unsigned c = p[i];
        /* ASCII fast path, 8 bytes at a time. */
        if (c < 0x80) {
            while (i + 8 <= n) {
                uint64_t w;
                memcpy(&w, p + i, 8);
                if (w & 0x8080808080808080ULL)
                    break;
                i += 8;
            }
            while (i < n && p[i] < 0x80)
                i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            if (i + 1 >= n || (p[i + 1] & 0xC0) != 0x80)
                return false;
            i += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            unsigned c1;
            if (i + 2 >= n)
                return false;
            c1 = p[i + 1];
            if ((c1 & 0xC0) != 0x80 || (p[i + 2] & 0xC0) != 0x80)
                return false;
            if (c == 0xE0 && c1 < 0xA0) /* overlong */
                return false;
            if (c == 0xED && c1 >= 0xA0) /* surrogates U+D800..DFFF */
                return false;
            i += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            unsigned c1;
            if (i + 3 >= n)
                return false;
            c1 = p[i + 1];
            if ((c1 & 0xC0) != 0x80 || (p[i + 2] & 0xC0) != 0x80 ||
                (p[i + 3] & 0xC0) != 0x80)
                return false;
            if (c == 0xF0 && c1 < 0x90) /* overlong */
                return false;
            if (c == 0xF4 && c1 >= 0x90) /* > U+10FFFF */
                return false;
            i += 4;
        } else {
            return false; /* continuation byte, C0/C1 overlong, F5..FF */
        }
    }
    return true;
}

/* ---------------------------------------------------------------- hashing */

#define HK0 0x9e3779b97f4a7c15ULL
#define HK1 0xd1b54a32d192ed03ULL
#define HK2 0x8cb92ba72f3d8dd7ULL
#define HK3 0xe7037ed1a0b428dbULL

static inline uint64_t mum(uint64_t a, uint64_t b)
{
    unsigned __int128 r = (unsigned __int128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t rd64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t rd32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

uint64_t tb_hash_bytes(const void *data, size_t n, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t a, b;

    seed ^= mum(seed ^ HK0, HK1 ^ (uint64_t)n);
    if (TB_LIKELY(n <= 16)) {
        if (n >= 8) {
            a = rd64(p);
            b = rd64(p + n - 8);
        } else if (n >= 4) {
            a = rd32(p);
            b = rd32(p + n - 4);
        } else if (n > 0) {
            a = ((uint64_t)p[0] << 16) | ((uint64_t)p[n >> 1] << 8) | p[n - 1];
            b = 0;
        } else {
            a = b = 0;
        }
    } else {
        size_t left = n;
        if (left > 32) {
            uint64_t s1 = seed ^ HK2;
            uint64_t s2 = seed ^ HK3;
            while (left > 32) {
                s1 = mum(rd64(p) ^ HK1, rd64(p + 8) ^ s1);
                s2 = mum(rd64(p + 16) ^ HK2, rd64(p + 24) ^ s2);
                p += 32;
                left -= 32;
            }
            seed = s1 ^ s2;
        }
        if (left > 16) {
            seed = mum(rd64(p) ^ HK1, rd64(p + 8) ^ seed);
            p += 16;
            left -= 16;
        }
        /* Last 16 bytes, overlapping what was already absorbed if left < 16. */
        a = rd64(p + left - 16);
        b = rd64(p + left - 8);
    }
    /* The added a + rot(b) keeps the inputs alive when a multiplicand happens to be 0. */
    return mum(mum(a ^ HK1, b ^ seed) ^ (a + ((b << 23) | (b >> 41))) ^ HK0,
               (uint64_t)n ^ HK3 ^ seed);
}
