/*
 * test_util.c - unit tests of the util layer: errors, allocation and fault injection,
 * arenas, buffers, strings, hashing, calendar/timestamp/interval parsing and formatting,
 * path expansion and file helpers, logging level.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

/* ---------------------------------------------------------------- errors */

static void test_err_set_and_prefix(void **state)
{
    tb_err err;
    tb_rc rc;
    (void)state;

    tb_err_clear(&err);
    assert_int_equal(err.code, TB_OK);
    assert_int_equal(err.pos, -1);
    assert_string_equal(err.msg, "");

    rc = TB_ERRF(&err, TB_E_PARSE, "csv: %s:%d: bad", "x.csv", 3);
    assert_int_equal(rc, TB_E_PARSE);
    assert_int_equal(err.code, TB_E_PARSE);
    assert_string_equal(err.msg, "csv: x.csv:3: bad");
    assert_int_equal(err.pos, -1);
    assert_non_null(err.src_file);
    assert_true(err.src_line > 0);

    rc = tb_err_prefix(&err, "query %d", 7);
    assert_int_equal(rc, TB_E_PARSE);
    assert_string_equal(err.msg, "query 7: csv: x.csv:3: bad");

    rc = TB_ERRPOS(&err, TB_E_SQL, 12, "syntax error at '%s'", "FROM");
    assert_int_equal(rc, TB_E_SQL);
    assert_int_equal(err.pos, 12);
    assert_string_equal(err.msg, "syntax error at 'FROM'");

    /* NULL err: only the code comes back. */
    assert_int_equal(TB_ERRF(NULL, TB_E_IO, "x %d", 1), TB_E_IO);
    assert_int_equal(tb_err_nomem(&err), TB_E_NOMEM);
    assert_string_equal(err.msg, "out of memory");
}

static void test_err_truncation(void **state)
{
    tb_err err;
    char big[TB_ERR_MSG_CAP * 2];
    (void)state;

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    TB_ERRF(&err, TB_E_ERROR, "%s", big);
    assert_int_equal(strlen(err.msg), TB_ERR_MSG_CAP - 1);
    tb_err_prefix(&err, "ctx");
    assert_int_equal(strlen(err.msg), TB_ERR_MSG_CAP - 1);
    assert_memory_equal(err.msg, "ctx: aaa", 8);
    /* A huge prefix is cut too, still terminated. */
    tb_err_prefix(&err, "%s", big);
    assert_int_equal(strlen(err.msg), TB_ERR_MSG_CAP - 1);
}

/* ---------------------------------------------------------------- memory */

static void test_alloc_basics(void **state)
{
    char *p, *q;
    int *arr = NULL;
    size_t cap = 0;
    (void)state;

    p = tb_malloc(0);
    assert_non_null(p);
    tb_free(p);
    p = tb_calloc(0, 8);
    assert_non_null(p);
    tb_free(p);
    p = tb_calloc(4, 4);
    assert_non_null(p);
    for (int i = 0; i < 16; i++)
        assert_int_equal(p[i], 0);
    p = tb_realloc(p, 100);
    assert_non_null(p);
    tb_free(p);
    tb_free(NULL);

    p = tb_strdup("hello");
    assert_string_equal(p, "hello");
    q = tb_strndup("hello", 3);
    assert_string_equal(q, "hel");
    tb_free(q);
    q = tb_strndup("hi", 10);
    assert_string_equal(q, "hi");
    tb_free(q);
    tb_free(p);

    assert_int_equal(tb_grow((void **)&arr, &cap, 5, sizeof(int)), TB_OK);
    assert_true(cap >= 5);
    for (int i = 0; i < 5; i++)
        arr[i] = i;
    assert_int_equal(tb_grow((void **)&arr, &cap, 1000, sizeof(int)), TB_OK);
    assert_true(cap >= 1000);
    assert_int_equal(arr[4], 4);
    /* No-op when it fits. */
    {
        size_t before = cap;
        assert_int_equal(tb_grow((void **)&arr, &cap, 10, sizeof(int)), TB_OK);
        assert_int_equal(cap, before);
    }
    /* Overflowing sizes fail cleanly and leave the array alone. */
    assert_int_equal(tb_grow((void **)&arr, &cap, SIZE_MAX / 2, 16), TB_E_NOMEM);
    assert_non_null(arr);
    assert_int_equal(arr[3], 3);
    tb_free(arr);
}

static void test_fault_injection(void **state)
{
    (void)state;
#ifdef TB_FAULTS
    void *a, *b, *c;
    tb_arena *arena;
    tb_buf buf = {0};

    tb_fault_arm(1);
    assert_false(tb_fault_fired());
    assert_null(tb_malloc(10));
    assert_true(tb_fault_fired());
    a = tb_malloc(10); /* only one failure */
    assert_non_null(a);
    tb_free(a);

    tb_fault_arm(3);
    a = tb_malloc(1);
    b = tb_calloc(1, 1);
    assert_non_null(a);
    assert_non_null(b);
    assert_false(tb_fault_fired());
    c = tb_realloc(a, 100); /* the third fails; a stays valid */
    assert_null(c);
    assert_true(tb_fault_fired());
    tb_free(a);
    tb_free(b);

    tb_fault_arm(1);
    assert_null(tb_strdup("x"));
    tb_fault_arm(1);
    assert_null(tb_arena_new(0));
    arena = tb_arena_new(0);
    assert_non_null(arena);
    tb_fault_arm(1);
    assert_null(tb_arena_alloc(arena, 10)); /* first block allocation fails */
    assert_non_null(tb_arena_alloc(arena, 10));
    tb_arena_free(arena);

    tb_fault_arm(1);
    assert_int_equal(tb_buf_puts(&buf, "abc"), TB_E_NOMEM);
    assert_int_equal(buf.len, 0);
    assert_int_equal(tb_buf_puts(&buf, "abc"), TB_OK);
    tb_buf_free(&buf);

    /* Loop N to success, SQLite-style, over a multi-allocation operation. */
    for (long n = 1;; n++) {
        tb_strlist list = {0};
        tb_rc rc = TB_OK;
        tb_fault_arm(n);
        for (int i = 0; i < 20 && rc == TB_OK; i++)
            rc = tb_strlist_push(&list, "item");
        bool fired = tb_fault_fired();
        tb_fault_arm(0);
        if (fired)
            assert_int_equal(rc, TB_E_NOMEM);
        tb_strlist_free(&list);
        if (!fired) {
            assert_int_equal(rc, TB_OK);
            assert_true(n > 20);
            break;
        }
    }
    tb_fault_arm(0);
    a = tb_malloc(1);
    assert_non_null(a);
    tb_free(a);
#else
    skip();
#endif
}

static void test_arena(void **state)
{
    tb_arena *arena = tb_arena_new(1024);
    size_t first_bytes;
    char *s;
    (void)state;

    assert_non_null(arena);
    assert_int_equal(tb_arena_bytes(arena), 0);
    for (int i = 0; i < 1000; i++) {
        size_t n = (size_t)(i % 37) + 1;
        unsigned char *p = tb_arena_alloc(arena, n);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xab, n);
    }
    assert_true(tb_arena_bytes(arena) >= 1000);
    /* Large allocation: own block, still aligned and usable. */
    {
        char *big = tb_arena_alloc(arena, 100000);
        assert_non_null(big);
        assert_int_equal((uintptr_t)big % 16, 0);
        memset(big, 1, 100000);
    }
    assert_true(tb_arena_bytes(arena) >= 100000);
    tb_arena_reset(arena);
    first_bytes = tb_arena_bytes(arena);
    assert_true(first_bytes >= 1024 && first_bytes < 2048);
    /* After reset, small allocations reuse the kept block: no growth. */
    for (int i = 0; i < 10; i++)
        assert_non_null(tb_arena_alloc(arena, 16));
    assert_int_equal(tb_arena_bytes(arena), first_bytes);

    {
        int *z = tb_arena_zalloc(arena, 64 * sizeof(int));
        for (int i = 0; i < 64; i++)
            assert_int_equal(z[i], 0);
    }
    s = tb_arena_strdup(arena, "abc");
    assert_string_equal(s, "abc");
    s = tb_arena_strndup(arena, "abcdef", 2);
    assert_string_equal(s, "ab");
    s = tb_arena_memdup(arena, "xyz", 3);
    assert_memory_equal(s, "xyz", 3);
    s = tb_arena_sprintf(arena, "%d-%s", 42, "x");
    assert_string_equal(s, "42-x");
    assert_non_null(tb_arena_alloc(arena, 0));
    assert_null(tb_arena_alloc(arena, SIZE_MAX - 8));
    tb_arena_free(arena);
    tb_arena_free(NULL);

    /* Default block size. */
    arena = tb_arena_new(0);
    assert_non_null(tb_arena_alloc(arena, 1));
    assert_true(tb_arena_bytes(arena) >= 64 * 1024);
    tb_arena_reset(arena);
    tb_arena_reset(arena);
    tb_arena_free(arena);
}

static void test_buf(void **state)
{
    tb_buf buf = {0};
    char big[5000];
    (void)state;

    assert_string_equal(tb_buf_cstr(&buf), "");
    assert_int_equal(tb_buf_puts(&buf, "hello"), TB_OK);
    assert_int_equal(tb_buf_putc(&buf, ' '), TB_OK);
    assert_int_equal(tb_buf_append(&buf, "world!!", 5), TB_OK);
    assert_int_equal(buf.len, 11);
    assert_string_equal(tb_buf_cstr(&buf), "hello world");
    assert_int_equal(tb_buf_printf(&buf, " %d %s", 12, "x"), TB_OK);
    assert_string_equal(tb_buf_cstr(&buf), "hello world 12 x");
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(tb_buf_printf(&buf, "[%s]", big), TB_OK);
    assert_int_equal(buf.len, 16 + 2 + 4999);
    assert_int_equal(buf.data[buf.len - 1], ']');
    assert_int_equal(strlen(tb_buf_cstr(&buf)), buf.len);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(tb_buf_putc(&buf, 'q'), TB_OK);
    assert_int_equal(buf.len, 16 + 2 + 4999 + 10000);
    assert_int_equal(tb_buf_append(&buf, NULL, 0), TB_OK);
    tb_buf_free(&buf);
    assert_null(buf.data);
    assert_int_equal(buf.len, 0);
}

/* ---------------------------------------------------------------- strings */

static void test_strings(void **state)
{
    (void)state;
    assert_true(tb_str_ieq("SeLeCt", "select"));
    assert_false(tb_str_ieq("select", "selec"));
    assert_true(tb_str_nieq("INTxyz", 3, "int"));
    assert_false(tb_str_nieq("INTxyz", 3, "inte"));
    assert_false(tb_str_nieq("INTxyz", 4, "int"));
    assert_true(tb_str_nieq("", 0, ""));
    assert_true(tb_str_ends_with("data.csv", ".csv"));
    assert_false(tb_str_ends_with("data.csv", ".parquet"));
    assert_false(tb_str_ends_with("v", ".csv"));
    assert_true(tb_str_ends_with("x", ""));

    assert_int_equal(tb_edit_distance("kitten", "sitting"), 3);
    assert_int_equal(tb_edit_distance("SELECT", "select"), 0);
    assert_int_equal(tb_edit_distance("", "abc"), 3);
    assert_int_equal(tb_edit_distance("abc", ""), 3);
    assert_int_equal(tb_edit_distance("flaw", "lawn"), 2);
    assert_int_equal(tb_edit_distance("categroy", "category"), 2);
    {
        /* Longer than the on-stack row. */
        char a[201], b[201];
        memset(a, 'a', 200);
        memset(b, 'a', 200);
        a[200] = b[200] = '\0';
        b[100] = 'b';
        assert_int_equal(tb_edit_distance(a, b), 1);
        b[199] = '\0';
        assert_int_equal(tb_edit_distance(a, b), 2);
    }
}

static void test_utf8(void **state)
{
    (void)state;
#define U8(s, ok) assert_int_equal(tb_utf8_valid(s, sizeof(s) - 1), ok)
    U8("", true);
    U8("plain ascii text that is longer than eight bytes", true);
    U8("caf\xc3\xa9", true);
    U8("\xe2\x82\xac", true);         /* euro */
    U8("\xf0\x9f\x98\x80", true);     /* emoji */
    U8("\xf4\x8f\xbf\xbf", true);     /* U+10FFFF */
    U8("\xed\x9f\xbf", true);         /* U+D7FF */
    U8("\xc0\x80", false);            /* overlong NUL */
    U8("\xc1\xbf", false);            /* overlong */
    U8("\xe0\x80\xaf", false);        /* overlong 3-byte */
    U8("\xf0\x80\x80\xaf", false);    /* overlong 4-byte */
    U8("\xed\xa0\x80", false);        /* surrogate D800 */
    U8("\xed\xbf\xbf", false);        /* surrogate DFFF */
    U8("\xf4\x90\x80\x80", false);    /* > U+10FFFF */
    U8("\xf5\x80\x80\x80", false);
    U8("\x80", false);                /* stray continuation */
    U8("abc\xc3", false);             /* truncated */
    U8("\xe2\x82", false);
    U8("\xc3\x28", false);            /* bad continuation */
    U8("abcdefgh\xff", false);
#undef U8
    assert_true(tb_utf8_valid("a\0b", 3)); /* NUL is valid UTF-8 */
}

/* ---------------------------------------------------------------- hashing */

static void test_hash(void **state)
{
    uint64_t h[65];
    unsigned char data[64];
    (void)state;

    for (int i = 0; i < 64; i++)
        data[i] = (unsigned char)(i * 7 + 1);
    /* Every length hashes differently, reading only its own bytes (ASan checks the
     * exact-size copies). */
    for (int n = 0; n <= 64; n++) {
        unsigned char *copy = tb_malloc((size_t)n);
        memcpy(copy, data, (size_t)n);
        h[n] = tb_hash_bytes(copy, (size_t)n, 0);
        assert_int_equal(h[n], tb_hash_bytes(copy, (size_t)n, 0));
        if (n > 0)
            assert_true(tb_hash_bytes(copy, (size_t)n, 1) != h[n]);
        tb_free(copy);
    }
    for (int a = 0; a <= 64; a++)
        for (int b = a + 1; b <= 64; b++)
            assert_true(h[a] != h[b]);
    /* One flipped bit anywhere changes the hash, in about half the output bits. */
    for (int n = 1; n <= 64; n += 7) {
        for (int bit = 0; bit < n * 8; bit += 5) {
            unsigned char d2[64];
            uint64_t x;
            memcpy(d2, data, sizeof(d2));
            d2[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            x = tb_hash_bytes(d2, (size_t)n, 0) ^ h[n];
            assert_true(__builtin_popcountll(x) >= 8);
        }
    }
    /* Same content at different addresses. */
    {
        char s1[] = "xhello world, hashing!";
        char s2[] = "hello world, hashing!";
        assert_int_equal(tb_hash_bytes(s1 + 1, 21, 42), tb_hash_bytes(s2, 21, 42));
    }
    /* Low bits spread for sequential integer keys (hash table use). */
    {
        unsigned buckets[64] = {0};
        for (uint32_t k = 0; k < 6400; k++)
            buckets[tb_hash_bytes(&k, sizeof(k), 0) & 63]++;
        for (int i = 0; i < 64; i++)
            assert_true(buckets[i] > 50 && buckets[i] < 150);
    }
    assert_true(tb_hash_u64(1) != tb_hash_u64(2));
    assert_true(tb_hash_combine(1, 2) != tb_hash_combine(2, 1));
}

/* ---------------------------------------------------------------- calendar */

static void test_civil(void **state)
{
    int64_t y;
    unsigned m, d;
    (void)state;

    assert_int_equal(tb_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(tb_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(tb_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(tb_days_from_civil(2000, 2, 29), 11016);
    assert_int_equal(tb_days_from_civil(2024, 1, 1), 19723);
    assert_int_equal(tb_days_from_civil(1, 1, 1), -719162);
    assert_int_equal(tb_days_from_civil(0, 3, 1), -719468);
    tb_civil_from_days(-719469, &y, &m, &d);
    assert_int_equal(y, 0);
    assert_int_equal(m, 2);
    assert_int_equal(d, 29); /* year 0 (1 BC) is a leap year */
    /* Round trip over a wide range, and consecutive days. */
    {
        int64_t prev_y = 0;
        unsigned prev_m = 0, prev_d = 0;
        for (int64_t day = -800000; day <= 800000; day += 1) {
            tb_civil_from_days(day, &y, &m, &d);
            assert_true(m >= 1 && m <= 12 && d >= 1 && d <= 31);
            if (tb_days_from_civil(y, m, d) != day)
                fail_msg("round trip failed at day %lld", (long long)day);
            if (day > -800000) {
                bool next = (y == prev_y && m == prev_m && d == prev_d + 1) ||
                            (y == prev_y && m == prev_m + 1 && d == 1) ||
                            (y == prev_y + 1 && m == 1 && d == 1 && prev_m == 12);
                if (!next)
                    fail_msg("day %lld does not follow", (long long)day);
            }
            prev_y = y;
            prev_m = m;
            prev_d = d;
        }
    }
}

static int64_t ts(const char *s)
{
    int64_t us = INT64_MIN;
    if (!tb_parse_timestamp(s, strlen(s), &us))
        fail_msg("did not parse '%s'", s);
    return us;
}

static void assert_ts_bad(const char *s)
{
    int64_t us;
    if (tb_parse_timestamp(s, strlen(s), &us))
        fail_msg("accepted '%s'", s);
}

static void assert_ts_fmt(int64_t us, const char *want)
{
    char buf[40];
    int len = tb_format_timestamp(us, buf);
    assert_string_equal(buf, want);
    assert_int_equal(len, (int)strlen(want));
}

static void test_parse_timestamp(void **state)
{
    (void)state;
    assert_int_equal(ts("1970-01-01 00:00:00"), 0);
    assert_int_equal(ts("1970-01-01"), 0);
    assert_int_equal(ts("2024-01-01 00:00:10"), 19723LL * TB_USEC_PER_DAY + 10000000);
    assert_int_equal(ts("2024-01-01T00:00:10"), ts("2024-01-01 00:00:10"));
    assert_int_equal(ts("2024-01-01 00:00"), 19723LL * TB_USEC_PER_DAY);
    assert_int_equal(ts("2024-01-01 00:00:00.5"), 19723LL * TB_USEC_PER_DAY + 500000);
    assert_int_equal(ts("2024-01-01 00:00:00.123456"), 19723LL * TB_USEC_PER_DAY + 123456);
    /* Beyond microseconds: truncated (up to 9 digits). */
    assert_int_equal(ts("2024-01-01 00:00:00.123456789"), 19723LL * TB_USEC_PER_DAY + 123456);
    assert_ts_bad("2024-01-01 00:00:00.1234567890");
    assert_int_equal(ts("2024-01-01 00:00:00.5Z"), ts("2024-01-01 00:00:00.5"));
    assert_int_equal(ts("2024-01-01 01:00:00.5+01"), ts("2024-01-01 00:00:00.5"));
    assert_ts_bad("2024-01-01 24:00:00.5");
    assert_ts_bad("2024-01-01 00:00:00.5x");
    assert_ts_bad("2024-01-01 00:00:00.");
    /* Offsets convert to UTC. */
    assert_int_equal(ts("2024-01-01 00:00:10Z"), ts("2024-01-01 00:00:10"));
    assert_int_equal(ts("2024-01-01T02:00:10+02"), ts("2024-01-01 00:00:10"));
    assert_int_equal(ts("2024-01-01T02:30:10+02:30"), ts("2024-01-01 00:00:10"));
    assert_int_equal(ts("2023-12-31T19:00:10-0500"), ts("2024-01-01 00:00:10"));
    assert_int_equal(ts("2024-01-01 02:00:10.25 +02:00"), ts("2024-01-01 00:00:10.25"));
    assert_int_equal(ts("2024-01-01T00:00:10.000Z"), ts("2024-01-01 00:00:10"));
    /* Whitespace around, single-digit month/day/hour. */
    assert_int_equal(ts("  2024-1-2 3:04:05 "), ts("2024-01-02 03:04:05"));
    /* Edge dates. */
    assert_int_equal(ts("2000-02-29 12:00:00"), 11016LL * TB_USEC_PER_DAY + 12 * 3600000000LL);
    assert_int_equal(ts("1969-12-31 23:59:59"), -1000000);
    assert_int_equal(ts("1969-12-31 23:59:59.999999"), -1);
    assert_int_equal(ts("0001-01-01 00:00:00"), -719162LL * TB_USEC_PER_DAY);
    assert_int_equal(ts("0001-01-01 00:00:00 BC"), -719528LL * TB_USEC_PER_DAY);
    assert_int_equal(ts("9999-12-31 23:59:59"), ts("10000-01-01") - 1000000);

    assert_ts_bad("");
    assert_ts_bad("garbage");
    assert_ts_bad("2024-13-01 00:00:00");
    assert_ts_bad("2024-00-01 00:00:00");
    assert_ts_bad("2024-01-32 00:00:00");
    assert_ts_bad("2024-01-00 00:00:00");
    assert_ts_bad("2023-02-29 00:00:00");
    assert_ts_bad("2024-02-30");
    assert_ts_bad("1900-02-29");
    assert_ts_bad("2024-01-01 24:00:00");
    assert_ts_bad("2024-01-01 23:60:00");
    assert_ts_bad("2024-01-01 23:59:60");
    assert_ts_bad("2024-01-01 2x:00:00");
    assert_ts_bad("2024-01-01 00:00:00 extra");
    assert_ts_bad("2024-01-01 00:00:00+16");
    assert_ts_bad("2024-01-01 00:00:00+02:60");
    assert_ts_bad("2024-01-01x");
    assert_ts_bad("2024/01/01");
    assert_ts_bad("0000-01-01");
    assert_ts_bad("24-01-01");
    assert_int_equal(ts("2024-01-01 "), ts("2024-01-01")); /* blanks are trimmed */
    assert_ts_bad("2024-01-01 x");
    assert_ts_bad("2024-01-01 00");
    assert_ts_bad("2024-01-01 00:0");
    assert_ts_bad("-2024-01-01");
    {
        int64_t us;
        assert_false(tb_parse_timestamp("2024-01-01 00:00:00", 18, &us)); /* length counts */
        assert_true(tb_parse_timestamp("2024-01-01 00:00:00zzz", 19, &us));
    }
}

static unsigned lcg(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 8) & 0xffffff;
}

/* The fast paths (exact layouts) must agree with the general parser, reached by
 * prefixing a blank. Random near-miss inputs: out-of-range fields, junk characters. */
static void test_parse_fast_vs_slow(void **state)
{
    static const char junk[] = "0123456789-: T.Z+";
    unsigned seed = 12345;
    long accepted = 0;
    (void)state;

#define RND() lcg(&seed)
    for (long i = 0; i < 200000; i++) {
        char s[48], t[50];
        unsigned f[6];
        int n;
        for (int k = 0; k < 6; k++)
            f[k] = RND() % (k == 0 ? 10000u : k == 1 ? 14u : k == 2 ? 33u : k == 3 ? 26u : 62u);
        n = snprintf(s, sizeof(s), "%04u-%02u-%02u %02u:%02u:%02u", f[0], f[1], f[2], f[3],
                     f[4], f[5]);
        int64_t a = 1, b = 2;
        int32_t da = 1, db = 2;
        bool ra, rb;
        if (RND() % 2) {
            unsigned fl = RND() % 11;
            if (fl) {
                s[n++] = '.';
                for (unsigned k = 1; k < fl; k++)
                    s[n++] = (char)('0' + RND() % 10);
            }
            s[n] = '\0';
        }
        if (RND() % 4 == 0) {
            unsigned at = RND() % (unsigned)n;
            s[at] = junk[RND() % (sizeof(junk) - 1)];
        }
        t[0] = ' ';
        memcpy(t + 1, s, (size_t)n + 1);
        ra = tb_parse_timestamp(s, (size_t)n, &a);
        rb = tb_parse_timestamp(t, (size_t)n + 1, &b);
        if (ra != rb || (ra && a != b))
            fail_msg("'%s': fast %d slow %d", s, ra, rb);
        accepted += ra;
        ra = tb_parse_date(s, 10, &da);
        rb = tb_parse_date(t, 11, &db);
        if (ra != rb || (ra && da != db))
            fail_msg("date '%.10s': fast %d slow %d", s, ra, rb);
    }
#undef RND
    assert_true(accepted > 50000); /* the generator does produce valid ones */
}

static void test_format_timestamp(void **state)
{
    (void)state;
    assert_ts_fmt(0, "1970-01-01 00:00:00");
    assert_ts_fmt(ts("2024-01-01 00:00:00.5"), "2024-01-01 00:00:00.5");
    assert_ts_fmt(ts("2024-01-01 00:00:00.000001"), "2024-01-01 00:00:00.000001");
    assert_ts_fmt(ts("2024-01-01 00:00:00.120"), "2024-01-01 00:00:00.12");
    assert_ts_fmt(-1, "1969-12-31 23:59:59.999999");
    assert_ts_fmt(-1000000, "1969-12-31 23:59:59");
    assert_ts_fmt(ts("1900-03-01 12:34:56"), "1900-03-01 12:34:56");
    assert_ts_fmt(ts("0001-01-01 00:00:00"), "0001-01-01 00:00:00");
    assert_ts_fmt(ts("0001-01-01 00:00:00") - 1, "0001-12-31 23:59:59.999999 BC");
    assert_ts_fmt(ts("0044-03-15 12:00:00 BC"), "0044-03-15 12:00:00 BC");
    assert_ts_fmt(ts("12345-06-07 08:09:10"), "12345-06-07 08:09:10");
    /* Extremes of int64 must not crash and must stay within 40 bytes. */
    {
        char buf[40];
        assert_true(tb_format_timestamp(INT64_MAX, buf) < 40);
        assert_true(tb_format_timestamp(INT64_MIN, buf) < 40);
    }
    /* Round trips over many instants. */
    for (int64_t us = -80000000000000000LL; us < 80000000000000000LL;
         us += 123456789012345LL) {
        char buf[40];
        int64_t back;
        tb_format_timestamp(us, buf);
        if (!tb_parse_timestamp(buf, strlen(buf), &back) || back != us)
            fail_msg("round trip of %lld via '%s'", (long long)us, buf);
    }
}

static void test_dates(void **state)
{
    int32_t d;
    char buf[40];
    (void)state;

    assert_true(tb_parse_date("2024-01-01", 10, &d));
    assert_int_equal(d, 19723);
    tb_format_date(d, buf);
    assert_string_equal(buf, "2024-01-01");
    assert_true(tb_parse_date("1969-12-31", 10, &d));
    assert_int_equal(d, -1);
    assert_true(tb_parse_date("2024-01-01 23:59:59", 19, &d));
    assert_int_equal(d, 19723);
    assert_true(tb_parse_date("1969-12-31 12:00:00", 19, &d));
    assert_int_equal(d, -1);
    assert_true(tb_parse_date("2024-01-01T23:00:00-05:00", 25, &d));
    assert_int_equal(d, 19723); /* offset ignored for dates */
    assert_true(tb_parse_date(" 2024-1-1 ", 10, &d));
    assert_int_equal(d, 19723);
    assert_false(tb_parse_date("2024-02-30", 10, &d));
    assert_false(tb_parse_date("2024-13-01", 10, &d));
    assert_false(tb_parse_date("abcd-01-01", 10, &d));
    assert_false(tb_parse_date("", 0, &d));
    assert_true(tb_parse_date("0001-01-01 BC", 13, &d));
    tb_format_date(d, buf);
    assert_string_equal(buf, "0001-01-01 BC");
    tb_format_date(0, buf);
    assert_string_equal(buf, "1970-01-01");
    tb_format_date(11016, buf);
    assert_string_equal(buf, "2000-02-29");
}

/* ---------------------------------------------------------------- intervals */

static tb_interval iv(const char *s)
{
    tb_interval v = {0, 0, 0};
    if (!tb_parse_interval(s, strlen(s), &v))
        fail_msg("did not parse interval '%s'", s);
    return v;
}

static void assert_iv(const char *s, int32_t months, int32_t days, int64_t micros)
{
    tb_interval v = iv(s);
    if (v.months != months || v.days != days || v.micros != micros)
        fail_msg("'%s' -> %d mons %d days %lld us", s, v.months, v.days, (long long)v.micros);
}

static void assert_iv_bad(const char *s)
{
    tb_interval v;
    if (tb_parse_interval(s, strlen(s), &v))
        fail_msg("accepted interval '%s'", s);
}

static void assert_iv_fmt(const char *s, const char *want)
{
    char buf[80];
    tb_interval v = iv(s);
    tb_format_interval(v, buf);
    if (strcmp(buf, want) != 0)
        fail_msg("'%s' formats as '%s', want '%s'", s, buf, want);
}

static void test_parse_interval(void **state)
{
    const int64_t S = TB_USEC_PER_SEC;
    (void)state;

    assert_iv("10 seconds", 0, 0, 10 * S);
    assert_iv("10 second", 0, 0, 10 * S);
    assert_iv("10 sec", 0, 0, 10 * S);
    assert_iv("10s", 0, 0, 10 * S);
    assert_iv("10", 0, 0, 10 * S);
    assert_iv("5 minutes", 0, 0, 300 * S);
    assert_iv("5 min", 0, 0, 300 * S);
    assert_iv("5m", 0, 0, 300 * S);
    assert_iv("2 hours", 0, 0, 7200 * S);
    assert_iv("2h", 0, 0, 7200 * S);
    assert_iv("2 HOURS", 0, 0, 7200 * S);
    assert_iv("1 day", 0, 1, 0);
    assert_iv("1 week", 0, 7, 0);
    assert_iv("1 month", 1, 0, 0);
    assert_iv("3 mons", 3, 0, 0);
    assert_iv("1 year", 12, 0, 0);
    assert_iv("1 day 02:00:00", 0, 1, 7200 * S);
    assert_iv("00:00:10", 0, 0, 10 * S);
    assert_iv("01:30", 0, 0, 5400 * S);
    assert_iv("-00:00:01", 0, 0, -S);
    assert_iv("-1 hour", 0, 0, -3600 * S);
    assert_iv("1.5 seconds", 0, 0, 1500000);
    assert_iv("1.5 s", 0, 0, 1500000);
    assert_iv("0.1 seconds", 0, 0, 100000);
    assert_iv("1.5 days", 0, 1, 12 * 3600 * S);
    assert_iv("1.5 weeks", 0, 10, 12 * 3600 * S);
    assert_iv("1.5 months", 1, 15, 0);
    assert_iv("1.5 years", 18, 0, 0);
    assert_iv("2 hours 3 minutes", 0, 0, (7200 + 180) * S);
    assert_iv("1 year 2 months 3 days 04:05:06.5", 14, 3, (4 * 3600 + 5 * 60 + 6) * S + 500000);
    assert_iv("1 day -1 hour", 0, 1, -3600 * S);
    assert_iv("100 ms", 0, 0, 100000);
    assert_iv("7 us", 0, 0, 7);
    assert_iv("@ 1 day", 0, 1, 0);
    assert_iv("1 day ago", 0, -1, 0);
    assert_iv("  10 seconds  ", 0, 0, 10 * S);
    assert_iv("PT10S", 0, 0, 10 * S);
    assert_iv("P1DT2H", 0, 1, 7200 * S);
    assert_iv("P1Y2M3W4DT5H6M7.5S", 14, 25, (5 * 3600 + 6 * 60 + 7) * S + 500000);
    assert_iv("-PT1M", 0, 0, -60 * S);
    assert_iv("pt0.5s", 0, 0, 500000);
    assert_iv("1 decade", 120, 0, 0);
    assert_iv("1h30m", 0, 0, 5400 * S);
    assert_iv("1d12h", 0, 1, 12 * 3600 * S);

    assert_iv_bad("");
    assert_iv_bad("   ");
    assert_iv_bad("seconds");
    assert_iv_bad("10 parsecs");
    assert_iv_bad("10 seconds garbage");
    assert_iv_bad("1 day 25:61:00");
    assert_iv_bad("P");
    assert_iv_bad("PT");
    assert_iv_bad("P1X");
    assert_iv_bad("PT1D");
    assert_iv_bad("1.5:00:00");
    assert_iv_bad("ago");
    assert_iv_bad("1 day ago 2 hours");
    assert_iv_bad("99999999999 years");
    assert_iv_bad("9999999999999999999 seconds");
    assert_iv_bad("-");
    assert_iv_bad("10.5.5 s");
    assert_iv_bad(".");
}

static void test_format_interval(void **state)
{
    char buf[80];
    (void)state;

    assert_iv_fmt("1 year 2 mons 3 days 04:05:06", "1 year 2 mons 3 days 04:05:06");
    assert_iv_fmt("10 seconds", "00:00:10");
    assert_iv_fmt("-1 second", "-00:00:01");
    assert_iv_fmt("1 day", "1 day");
    assert_iv_fmt("2 days", "2 days");
    assert_iv_fmt("0 seconds", "00:00:00");
    assert_iv_fmt("1.5 seconds", "00:00:01.5");
    assert_iv_fmt("1 day 02:00:00", "1 day 02:00:00");
    assert_iv_fmt("-1 day", "-1 days");
    assert_iv_fmt("-1 day 2 hours", "-1 days +02:00:00");
    assert_iv_fmt("-1 year 2 months", "-10 mons"); /* one months field, as in PG */
    assert_iv_fmt("-1 mon 2 days", "-1 mons +2 days");
    assert_iv_fmt("1 year -2 days", "1 year -2 days");
    assert_iv_fmt("30 hours", "30:00:00");
    assert_iv_fmt("14 months", "1 year 2 mons");
    assert_iv_fmt("0.000001 s", "00:00:00.000001");
    {
        tb_interval v = {INT32_MIN, INT32_MIN, INT64_MIN};
        int len = tb_format_interval(v, buf);
        assert_true(len < 80);
        assert_int_equal((int)strlen(buf), len);
    }
    /* Round trips. */
    {
        const char *samples[] = {"1 year 2 mons 3 days 04:05:06.789", "-3 days -00:00:00.5",
                                 "5 mons", "-1 mons +2 days -00:00:03", "123:45:06"};
        for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
            tb_interval a = iv(samples[i]), b;
            tb_format_interval(a, buf);
            b = iv(buf);
            assert_int_equal(a.months, b.months);
            assert_int_equal(a.days, b.days);
            assert_int_equal(a.micros, b.micros);
        }
    }
    {
        tb_interval v = iv("1 month 1 day 00:00:01");
        assert_int_equal(tb_interval_micros(v), 31 * TB_USEC_PER_DAY + TB_USEC_PER_SEC);
        v = iv("10 seconds");
        assert_int_equal(tb_interval_micros(v), 10 * TB_USEC_PER_SEC);
        v.months = INT32_MAX;
        v.days = INT32_MAX;
        assert_int_equal(tb_interval_micros(v), INT64_MAX);
    }
}

static void test_clocks(void **state)
{
    int64_t a = tb_now_ns(), b = tb_now_ns();
    (void)state;
    assert_true(b >= a);
    assert_true(tb_wall_us() > 1600000000LL * TB_USEC_PER_SEC);
}

/* ---------------------------------------------------------------- paths */

static char tmp_root[256];

static void write_file(const char *dir, const char *name, const char *content)
{
    char path[512];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static int setup_tmp(void **state)
{
    (void)state;
    snprintf(tmp_root, sizeof(tmp_root), "/tmp/tb_test_util_XXXXXX");
    return mkdtemp(tmp_root) == NULL ? -1 : 0;
}

static int teardown_tmp(void **state)
{
    char cmd[512];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_path_expand(void **state)
{
    char dir[512], pat[600];
    tb_strlist list = {0};
    tb_err err;
    (void)state;

    snprintf(dir, sizeof(dir), "%s/exp", tmp_root);
    assert_int_equal(mkdir(dir, 0755), 0);
    write_file(dir, "b.csv", "b");
    write_file(dir, "a.csv", "a");
    write_file(dir, "c.json", "c");
    write_file(dir, ".hidden.csv", "h");
    write_file(dir, "_tmp.csv", "t");
    snprintf(pat, sizeof(pat), "%s/sub", dir);
    assert_int_equal(mkdir(pat, 0755), 0);

    /* Directory: sorted, hidden and _ names skipped, subdirectories skipped. */
    assert_int_equal(tb_path_expand(dir, NULL, &list, &err), TB_OK);
    assert_int_equal(list.n, 3);
    snprintf(pat, sizeof(pat), "%s/a.csv", dir);
    assert_string_equal(list.items[0], pat);
    snprintf(pat, sizeof(pat), "%s/b.csv", dir);
    assert_string_equal(list.items[1], pat);
    snprintf(pat, sizeof(pat), "%s/c.json", dir);
    assert_string_equal(list.items[2], pat);
    tb_strlist_free(&list);

    /* Suffix filter; trailing slash. */
    snprintf(pat, sizeof(pat), "%s/", dir);
    assert_int_equal(tb_path_expand(pat, ".csv", &list, &err), TB_OK);
    assert_int_equal(list.n, 2);
    snprintf(pat, sizeof(pat), "%s/b.csv", dir);
    assert_string_equal(list.items[1], pat);
    tb_strlist_free(&list);

    /* A single file. */
    snprintf(pat, sizeof(pat), "%s/c.json", dir);
    assert_int_equal(tb_path_expand(pat, ".csv", &list, &err), TB_OK);
    assert_int_equal(list.n, 1);
    assert_string_equal(list.items[0], pat);
    tb_strlist_free(&list);

    /* Glob, with braces; appends to an existing list. glob(3) semantics: '_' names
     * match, dot files do not. */
    assert_int_equal(tb_strlist_push(&list, "first"), TB_OK);
    snprintf(pat, sizeof(pat), "%s/*.{csv,json}", dir);
    assert_int_equal(tb_path_expand(pat, NULL, &list, &err), TB_OK);
    assert_int_equal(list.n, 5);
    assert_string_equal(list.items[0], "first");
    assert_true(tb_str_ends_with(list.items[1], "/_tmp.csv"));
    assert_true(tb_str_ends_with(list.items[2], "/a.csv"));
    assert_true(tb_str_ends_with(list.items[3], "/b.csv"));
    assert_true(tb_str_ends_with(list.items[4], "/c.json"));
    tb_strlist_free(&list);
    snprintf(pat, sizeof(pat), "%s/[ab].csv", dir);
    assert_int_equal(tb_path_expand(pat, NULL, &list, &err), TB_OK);
    assert_int_equal(list.n, 2);
    assert_true(tb_str_ends_with(list.items[1], "/b.csv"));

    /* No match: error names the pattern; list unchanged. */
    snprintf(pat, sizeof(pat), "%s/*.parquet", dir);
    assert_int_equal(tb_path_expand(pat, NULL, &list, &err), TB_E_NOTFOUND);
    assert_int_equal(list.n, 2);
    {
        char want[700];
        snprintf(want, sizeof(want), "no files match '%s'", pat);
        assert_string_equal(err.msg, want);
    }
    tb_strlist_free(&list);

    /* Missing file. */
    snprintf(pat, sizeof(pat), "%s/missing.csv", dir);
    assert_int_equal(tb_path_expand(pat, NULL, &list, &err), TB_E_NOTFOUND);
    {
        char want[700];
        snprintf(want, sizeof(want), "cannot open '%s': %s", pat, strerror(ENOENT));
        assert_string_equal(err.msg, want);
    }
    assert_int_equal(list.n, 0);

    /* Empty directory. */
    snprintf(pat, sizeof(pat), "%s/sub", dir);
    assert_int_equal(tb_path_expand(pat, NULL, &list, &err), TB_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "no files match"));
    tb_strlist_free(&list);
}

static void test_files(void **state)
{
    char path[700], dir[512];
    char *data = NULL;
    size_t len = 0;
    tb_err err;
    struct stat st;
    (void)state;

    snprintf(dir, sizeof(dir), "%s/a/b//c", tmp_root);
    assert_int_equal(tb_mkdirs(dir, &err), TB_OK);
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(tb_mkdirs(dir, &err), TB_OK); /* exists: fine */

    snprintf(path, sizeof(path), "%s/out.txt", dir);
    assert_int_equal(tb_file_write_atomic(path, "hello\n", 6, &err), TB_OK);
    assert_int_equal(tb_file_read_all(path, 100, &data, &len, &err), TB_OK);
    assert_int_equal(len, 6);
    assert_string_equal(data, "hello\n");
    tb_free(data);
    /* Overwrite; no temp file left behind. */
    assert_int_equal(tb_file_write_atomic(path, "bye", 3, &err), TB_OK);
    assert_int_equal(tb_file_read_all(path, 3, &data, &len, &err), TB_OK);
    assert_string_equal(data, "bye");
    tb_free(data);
    {
        char tmp[600];
        snprintf(tmp, sizeof(tmp), "%s/.out.txt.tmp-%ld", dir, (long)getpid());
        assert_int_not_equal(stat(tmp, &st), 0);
    }
    /* Limit. */
    assert_int_equal(tb_file_read_all(path, 2, &data, &len, &err), TB_E_LIMIT);
    assert_null(data);
    assert_non_null(strstr(err.msg, "out.txt"));
    /* Empty file. */
    assert_int_equal(tb_file_write_atomic(path, "", 0, &err), TB_OK);
    assert_int_equal(tb_file_read_all(path, 0, &data, &len, &err), TB_OK);
    assert_int_equal(len, 0);
    assert_string_equal(data, "");
    tb_free(data);
    /* Missing, directory. */
    snprintf(path, sizeof(path), "%s/nope", dir);
    assert_int_equal(tb_file_read_all(path, 10, &data, &len, &err), TB_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "cannot open"));
    assert_int_equal(tb_file_read_all(dir, 10, &data, &len, &err), TB_E_IO);
    /* Write into a missing directory fails with the path in the message. */
    snprintf(path, sizeof(path), "%s/missing/x", dir);
    assert_int_equal(tb_file_write_atomic(path, "x", 1, &err), TB_E_IO);
    assert_non_null(strstr(err.msg, "missing"));
    /* mkdirs over a file. */
    snprintf(path, sizeof(path), "%s/file", dir);
    write_file(dir, "file", "x");
    snprintf(path, sizeof(path), "%s/file/sub", dir);
    assert_int_not_equal(tb_mkdirs(path, &err), TB_OK);
    /* Non-regular file (a pipe-like /proc file) read with growth. */
    if (access("/proc/self/status", R_OK) == 0) {
        assert_int_equal(tb_file_read_all("/proc/self/status", 1 << 20, &data, &len, &err),
                         TB_OK);
        assert_true(len > 10);
        assert_int_equal(strlen(data), len);
        tb_free(data);
        assert_int_equal(tb_file_read_all("/proc/self/status", 10, &data, &len, &err),
                         TB_E_LIMIT);
    }
}

/* Allocation failures anywhere in the path helpers: TB_E_NOMEM, no leak, out intact. */
static void test_path_faults(void **state)
{
    (void)state;
#ifdef TB_FAULTS
    char dir[512], pat[600];
    tb_err err;

    snprintf(dir, sizeof(dir), "%s/faults", tmp_root);
    assert_int_equal(mkdir(dir, 0755), 0);
    for (int i = 0; i < 6; i++) {
        char name[32];
        snprintf(name, sizeof(name), "f%d.csv", i);
        write_file(dir, name, "x,y\n1,2\n");
    }
    for (int mode = 0; mode < 4; mode++) {
        for (long n = 1;; n++) {
            tb_strlist list = {0};
            tb_rc rc;
            bool fired;
            char *data = NULL;
            size_t len;
            assert_int_equal(tb_strlist_push(&list, "keep"), TB_OK);
            tb_fault_arm(n);
            switch (mode) {
            case 0:
                rc = tb_path_expand(dir, ".csv", &list, &err);
                break;
            case 1:
                snprintf(pat, sizeof(pat), "%s/f{1,2,3}.csv", dir);
                rc = tb_path_expand(pat, NULL, &list, &err);
                break;
            case 2:
                snprintf(pat, sizeof(pat), "%s/f1.csv", dir);
                rc = tb_file_read_all(pat, 1 << 20, &data, &len, &err);
                break;
            default:
                snprintf(pat, sizeof(pat), "%s/d1/d2", dir);
                rc = tb_mkdirs(pat, &err);
                snprintf(pat, sizeof(pat), "%s/d1/d2/out.txt", dir);
                if (rc == TB_OK)
                    rc = tb_file_write_atomic(pat, "abc", 3, &err);
                break;
            }
            fired = tb_fault_fired();
            tb_fault_arm(0);
            tb_free(data);
            if (fired) {
                if (rc != TB_E_NOMEM)
                    fail_msg("mode %d fault %ld: rc %d (%s)", mode, n, rc, err.msg);
                assert_int_equal(list.n, 1);
            } else if (rc != TB_OK) {
                fail_msg("mode %d: rc %d (%s)", mode, rc, err.msg);
            }
            tb_strlist_free(&list);
            if (!fired)
                break;
            assert_true(n < 1000);
        }
    }
#else
    skip();
#endif
}

static void test_log_level(void **state)
{
    tb_log_level before;
    (void)state;
    before = tb_log_get_level();
    assert_int_equal(before, TB_LOG_INFO); /* from TB_LOG_LEVEL, set in main() */
    tb_log_set_level(TB_LOG_DEBUG);
    assert_int_equal(tb_log_get_level(), TB_LOG_DEBUG);
    tb_log(TB_LOG_DEBUG, "test_util: debug line %d", 1);
    tb_log_set_level(TB_LOG_ERROR);
    assert_int_equal(tb_log_get_level(), TB_LOG_ERROR);
    tb_log(TB_LOG_INFO, "should not appear");
    tb_log_set_level(before);
    setenv("TB_LOG_LEVEL", "debug", 1);
    assert_int_equal(tb_log_get_level(), before); /* not re-read */
}

int main(void)
{
    /* Read once, on first use: nothing before test_log_level logs. */
    setenv("TB_LOG_LEVEL", "Info", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_set_and_prefix),
        cmocka_unit_test(test_err_truncation),
        cmocka_unit_test(test_alloc_basics),
        cmocka_unit_test(test_fault_injection),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_civil),
        cmocka_unit_test(test_parse_timestamp),
        cmocka_unit_test(test_parse_fast_vs_slow),
        cmocka_unit_test(test_format_timestamp),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_parse_interval),
        cmocka_unit_test(test_format_interval),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_path_expand),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_path_faults),
        cmocka_unit_test(test_log_level),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
