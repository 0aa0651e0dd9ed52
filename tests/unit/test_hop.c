/*
 * test_hop.c - unit tests of the window operator (exec/op_hop.c): every (row, window)
 * pair it produces is compared with a brute-force enumeration of the windows
 * [k * slide + offset, ... + size) holding each row's time, over random times (before
 * and after 1970, NULLs) for exact (size a multiple of slide), general and gapped
 * (size < slide) windows, inputs spanning several batches, columns passed through
 * (strings included), the constructor's checks, overflow near the ends of the
 * timestamp range, and tb_op_hop_column.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/exec.h"

/* ---------------------------------------------------------------- helpers */

typedef struct pair {
    int64_t id;
    int64_t start;
} pair;

static int cmp_pair(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->start < y->start ? -1 : x->start > y->start;
}

static int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static uint64_t g_rng = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

/* A table (id bigint, name text, ts timestamp) of n rows; ts[i] INT64_MIN = NULL. */
static tb_table *make_table(const int64_t *ts, uint32_t n)
{
    tb_schema *schema = NULL;
    tb_err err;
    assert_int_equal(tb_schema_parse("id bigint, name text, ts timestamp", &schema, &err), TB_OK);
    tb_table *t = tb_table_new(schema);
    assert_non_null(t);
    tb_arena *arena = tb_arena_new(0);
    for (uint32_t off = 0; off < n; off += TB_BATCH_CAP) {
        uint32_t m = n - off < TB_BATCH_CAP ? n - off : TB_BATCH_CAP;
        tb_batch *batch = NULL;
        assert_int_equal(tb_batch_new(schema, m, arena, &batch), TB_OK);
        for (uint32_t i = 0; i < m; i++) {
            tb_value v = {.type = tb_type_make(TB_T_INT64)};
            v.u.i = off + i;
            assert_int_equal(tb_vec_put(&batch->cols[0], i, m, &v, arena), TB_OK);
            char *s = tb_arena_sprintf(arena, "row-%u", off + i);
            tb_value sv = {.type = tb_type_make(TB_T_STRING)};
            sv.u.s.ptr = s;
            sv.u.s.len = (uint32_t)strlen(s);
            assert_int_equal(tb_vec_put(&batch->cols[1], i, m, &sv, arena), TB_OK);
            if (ts[off + i] == INT64_MIN) {
                assert_int_equal(tb_vec_set_null(&batch->cols[2], i, m, arena), TB_OK);
            } else {
                tb_value tv = {.type = tb_type_make(TB_T_TIMESTAMP)};
                tv.u.i = ts[off + i];
                assert_int_equal(tb_vec_put(&batch->cols[2], i, m, &tv, arena), TB_OK);
            }
        }
        batch->n_rows = m;
        assert_int_equal(tb_table_append(t, batch, &err), TB_OK);
        tb_arena_reset(arena);
    }
    tb_arena_free(arena);
    tb_schema_free(schema);
    return t;
}

/* Brute force: the windows holding each row. */
static pair *expected(const int64_t *ts, uint32_t n, int64_t slide, int64_t size, int64_t off,
                      size_t *out_n)
{
    size_t cap = 1024, k = 0;
    pair *p = malloc(cap * sizeof(*p));
    assert_non_null(p);
    for (uint32_t i = 0; i < n; i++) {
        if (ts[i] == INT64_MIN)
            continue;
        int64_t hi = floordiv(ts[i] - off, slide) + 1;
        int64_t lo = floordiv(ts[i] - off - size, slide) - 1;
        for (int64_t j = lo; j <= hi; j++) {
            int64_t s = j * slide + off;
            if (s <= ts[i] && ts[i] < s + size) {
                if (k == cap) {
                    cap *= 2;
                    p = realloc(p, cap * sizeof(*p));
                    assert_non_null(p);
                }
                p[k].id = i;
                p[k++].start = s;
            }
        }
    }
    qsort(p, k, sizeof(*p), cmp_pair);
    *out_n = k;
    return p;
}

/* Run the operator over the table; checks the passed-through columns of every row. */
static pair *run(tb_table *t, int64_t slide, int64_t size, int64_t off, size_t *out_n,
                 uint32_t *out_batches)
{
    tb_arena *arena = tb_arena_new(0);
    tb_err err;
    tb_op *scan = NULL, *hop = NULL;
    assert_int_equal(tb_table_scan_new(t, NULL, 0, &scan, &err), TB_OK);
    tb_expr *time = tb_expr_col(arena, 2, tb_type_make(TB_T_TIMESTAMP));
    assert_int_equal(tb_op_hop_new(scan, time, slide, size, off, NULL, "window_end", &hop, &err),
                     TB_OK);
    assert_int_equal(hop->schema->n, 4);
    assert_string_equal(hop->schema->fields[3].name, "window_start");
    assert_string_equal(hop->schema->fields[1].name, "name");
    size_t cap = 1024, k = 0;
    uint32_t batches = 0;
    pair *p = malloc(cap * sizeof(*p));
    assert_non_null(p);
    for (;;) {
        tb_batch *b = NULL;
        assert_int_equal(tb_op_next(hop, &b, &err), TB_OK);
        if (b == NULL)
            break;
        assert_true(b->n_rows > 0 && b->n_rows <= TB_BATCH_CAP);
        batches++;
        for (uint32_t i = 0; i < b->n_rows; i++) {
            tb_value id, name, ts, ws;
            tb_vec_get(&b->cols[0], i, &id);
            tb_vec_get(&b->cols[1], i, &name);
            tb_vec_get(&b->cols[2], i, &ts);
            tb_vec_get(&b->cols[3], i, &ws);
            assert_false(ts.is_null);
            assert_false(ws.is_null);
            char want[32];
            snprintf(want, sizeof(want), "row-%lld", (long long)id.u.i);
            assert_int_equal(name.u.s.len, strlen(want));
            assert_memory_equal(name.u.s.ptr, want, name.u.s.len);
            assert_true(ws.u.i <= ts.u.i && ts.u.i < ws.u.i + size);
            if (k == cap) {
                cap *= 2;
                p = realloc(p, cap * sizeof(*p));
                assert_non_null(p);
            }
            p[k].id = id.u.i;
            p[k++].start = ws.u.i;
        }
    }
    tb_op_free(hop);
    tb_arena_free(arena);
    qsort(p, k, sizeof(*p), cmp_pair);
    *out_n = k;
    if (out_batches != NULL)
        *out_batches = batches;
    return p;
}

static void compare(const int64_t *ts, uint32_t n, int64_t slide, int64_t size, int64_t off)
{
    tb_table *t = make_table(ts, n);
    size_t ne, na;
    pair *e = expected(ts, n, slide, size, off, &ne);
    pair *a = run(t, slide, size, off, &na, NULL);
    if (na != ne)
        fail_msg("slide %lld size %lld offset %lld: %zu pairs, expected %zu", (long long)slide,
                 (long long)size, (long long)off, na, ne);
    for (size_t i = 0; i < ne; i++) {
        if (a[i].id != e[i].id || a[i].start != e[i].start)
            fail_msg("slide %lld size %lld offset %lld: pair %zu is (%lld, %lld), expected "
                     "(%lld, %lld)",
                     (long long)slide, (long long)size, (long long)off, i, (long long)a[i].id,
                     (long long)a[i].start, (long long)e[i].id, (long long)e[i].start);
    }
    free(e);
    free(a);
    tb_table_free(t);
}

/* n random times within +-span of 0 (1970), about 1 in 20 NULL. */
static int64_t *random_times(uint32_t n, int64_t span)
{
    int64_t *ts = malloc(n * sizeof(*ts));
    assert_non_null(ts);
    for (uint32_t i = 0; i < n; i++)
        ts[i] = rnd() % 20 == 0 ? INT64_MIN : (int64_t)(rnd() % (uint64_t)(2 * span)) - span;
    return ts;
}

/* ---------------------------------------------------------------- tests */

static void test_brute_force(void **state)
{
    (void)state;
    const int64_t S = 1000000;
    static const int64_t cases[][3] = {
        {5, 10, 0},  {4, 10, 0},  {10, 4, 1},   {7, 3, 1},  {1, 1, 0},     {10, 10, -3},
        {3, 9, 2},   {3, 10, -7}, {60, 3600, 0}, {2, 2000, 0}, {10, 10, 0}, {9, 10, 4},
    };
    int64_t *ts = random_times(5000, 3600 * S);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
        compare(ts, 5000, cases[c][0] * S, cases[c][1] * S, cases[c][2] * S);
    /* odd microsecond widths */
    compare(ts, 5000, 3000001, 9999999, 12345);
    compare(ts, 5000, 999999, 1000001, -1);
    free(ts);
}

static void test_batches_and_nulls(void **state)
{
    (void)state;
    /* 5000 rows without NULLs (passthrough copies) then with some (gathered) */
    uint32_t n = 5000;
    int64_t *ts = malloc(n * sizeof(*ts));
    assert_non_null(ts);
    for (uint32_t i = 0; i < n; i++)
        ts[i] = (int64_t)i * 700000;
    tb_table *t = make_table(ts, n);
    size_t na;
    uint32_t batches;
    pair *a = run(t, 60000000, 180000000, 0, &na, &batches);
    assert_int_equal(na, 3 * n);
    assert_int_equal(batches, 3 * 3); /* 3 input batches, 3 copies each */
    free(a);
    tb_table_free(t);
    ts[0] = ts[2047] = ts[2048] = ts[4999] = INT64_MIN;
    compare(ts, n, 60000000, 180000000, 0);
    compare(ts, n, 7000000, 10000000, 0);
    /* all NULL: no output at all */
    for (uint32_t i = 0; i < n; i++)
        ts[i] = INT64_MIN;
    t = make_table(ts, n);
    a = run(t, 5000000, 10000000, 0, &na, &batches);
    assert_int_equal(na, 0);
    assert_int_equal(batches, 0);
    free(a);
    tb_table_free(t);
    free(ts);
}

static void test_constructor_checks(void **state)
{
    (void)state;
    tb_arena *arena = tb_arena_new(0);
    tb_table *t = make_table((int64_t[]){0}, 1);
    tb_err err;
    tb_op *scan = NULL, *hop = NULL;
    tb_expr *time = tb_expr_col(arena, 2, tb_type_make(TB_T_TIMESTAMP));
    tb_expr *id = tb_expr_col(arena, 0, tb_type_make(TB_T_INT64));
    time->pos = 7;

    assert_int_equal(tb_table_scan_new(t, NULL, 0, &scan, &err), TB_OK);
    assert_int_equal(tb_op_hop_new(scan, time, 0, 10, 0, NULL, NULL, &hop, &err), TB_E_RANGE);
    assert_null(hop);
    assert_int_equal(err.pos, 7);
    assert_int_equal(tb_table_scan_new(t, NULL, 0, &scan, &err), TB_OK);
    assert_int_equal(tb_op_hop_new(scan, time, 10, -1, 0, NULL, NULL, &hop, &err), TB_E_RANGE);
    assert_int_equal(tb_table_scan_new(t, NULL, 0, &scan, &err), TB_OK);
    assert_int_equal(tb_op_hop_new(scan, time, 1, TB_HOP_MAX_WINDOWS + 1, 0, NULL, NULL, &hop,
                                   &err),
                     TB_E_LIMIT);
    assert_non_null(strstr(err.msg, "1001 windows"));
    assert_int_equal(tb_table_scan_new(t, NULL, 0, &scan, &err), TB_OK);
    assert_int_equal(tb_op_hop_new(scan, id, 10, 10, 0, NULL, NULL, &hop, &err), TB_E_TYPE);
    assert_non_null(strstr(err.msg, "must be a timestamp"));
    /* the largest count is fine */
    assert_int_equal(tb_table_scan_new(t, NULL, 0, &scan, &err), TB_OK);
    assert_int_equal(tb_op_hop_new(scan, time, 1, TB_HOP_MAX_WINDOWS, 0, "ws", "we", &hop, &err),
                     TB_OK);
    int64_t to_end = -1;
    assert_true(tb_op_hop_column(hop, "ws", &to_end));
    assert_int_equal(to_end, TB_HOP_MAX_WINDOWS);
    assert_true(tb_op_hop_column(hop, "we", &to_end));
    assert_int_equal(to_end, 0);
    assert_false(tb_op_hop_column(hop, "ts", &to_end));
    assert_false(tb_op_hop_column(hop, "window_start", &to_end));
    /* found below other operators */
    tb_op *lim = NULL;
    assert_int_equal(tb_op_limit_new(hop, 5, 0, &lim, &err), TB_OK);
    assert_true(tb_op_hop_column(lim, "ws", &to_end));
    assert_int_equal(to_end, TB_HOP_MAX_WINDOWS);
    tb_buf buf = {0};
    assert_int_equal(tb_op_explain(lim, &buf), TB_OK);
    assert_non_null(strstr(buf.data, "hop ts, slide 00:00:00.000001, size 00:00:00.001 AS ws"));
    tb_buf_free(&buf);
    tb_batch *b = NULL;
    assert_int_equal(tb_op_next(lim, &b, &err), TB_OK);
    assert_non_null(b);
    assert_int_equal(b->n_rows, 1); /* one row per copy */
    tb_op_free(lim);
    tb_table_free(t);
    tb_arena_free(arena);
}

static void test_overflow(void **state)
{
    (void)state;
    tb_arena *arena = tb_arena_new(0);
    tb_err err;
    /* windows reaching below the smallest timestamp: an error, not a wrapped value */
    int64_t lo[] = {0, INT64_MIN + 5};
    tb_table *t = make_table(lo, 2);
    tb_op *scan = NULL, *hop = NULL;
    tb_expr *time = tb_expr_col(arena, 2, tb_type_make(TB_T_TIMESTAMP));
    assert_int_equal(tb_table_scan_new(t, NULL, 0, &scan, &err), TB_OK);
    assert_int_equal(tb_op_hop_new(scan, time, 10, 100, 0, NULL, NULL, &hop, &err), TB_OK);
    tb_batch *b = NULL;
    assert_int_equal(tb_op_next(hop, &b, &err), TB_E_RANGE);
    assert_non_null(strstr(err.msg, "out of range"));
    tb_op_free(hop);
    tb_table_free(t);
    /* the largest timestamps work */
    int64_t hi[] = {INT64_MAX, INT64_MAX - 1};
    t = make_table(hi, 2);
    assert_int_equal(tb_table_scan_new(t, NULL, 0, &scan, &err), TB_OK);
    assert_int_equal(tb_op_hop_new(scan, time, 10, 20, 0, NULL, NULL, &hop, &err), TB_OK);
    size_t rows = 0;
    for (;;) {
        assert_int_equal(tb_op_next(hop, &b, &err), TB_OK);
        if (b == NULL)
            break;
        rows += b->n_rows;
    }
    assert_int_equal(rows, 4);
    tb_op_free(hop);
    tb_table_free(t);
    tb_arena_free(arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_brute_force),
        cmocka_unit_test(test_batches_and_nulls),
        cmocka_unit_test(test_constructor_checks),
        cmocka_unit_test(test_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
