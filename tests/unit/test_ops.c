/*
 * test_ops.c - unit tests of the operators and memory tables (exec/op_*.c, table.c,
 * hashjoin.c, hashagg.c, sort.c): exact outputs of every operator and join type over
 * memory tables, NULL keys, duplicates, outputs spanning several batches, empty
 * inputs, aggregates (NULLs, DISTINCT, overflow, no GROUP BY, >100k groups), the
 * aggregate state object (checkpoint images, changed groups, eviction), sort
 * (stability, NULL ordering, top-N), limit/offset, union all, table concurrency.
 *
 * Rows are compared as text: each row rendered "v1|v2|..." with NULL as "NULL".
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/agg_list.h"
#include "exec/exec.h"

static tb_arena *g_arena; /* plan arena: expressions */

static int setup(void **state)
{
    (void)state;
    g_arena = tb_arena_new(0);
    return g_arena ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tb_arena_free(g_arena);
    return 0;
}

/* ---------------------------------------------------------------- helpers */

static tb_type T(tb_type_id id) { return tb_type_make(id); }

static tb_schema *schema_of(const char *spec)
{
    tb_schema *schema = NULL;
    tb_err err;
    assert_int_equal(tb_schema_parse(spec, &schema, &err), TB_OK);
    return schema;
}

static tb_table *table_of(const char *spec)
{
    tb_schema *schema = schema_of(spec);
    tb_table *t = tb_table_new(schema);
    assert_non_null(t);
    tb_schema_free(schema);
    return t;
}

/* Parse one cell into row i of v. */
static void put_cell(tb_vec *v, uint32_t i, uint32_t cap, const char *s, size_t n, tb_arena *arena)
{
    tb_value val;
    char buf[128];

    memset(&val, 0, sizeof(val));
    val.type = v->type;
    assert_true(n < sizeof(buf));
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (strcmp(buf, "NULL") == 0) {
        assert_int_equal(tb_vec_set_null(v, i, cap, arena), TB_OK);
        return;
    }
    switch (v->type.id) {
    case TB_T_BOOL:
        val.u.b = buf[0] == 't';
        break;
    case TB_T_INT16:
    case TB_T_INT32:
    case TB_T_INT64:
        val.u.i = strtoll(buf, NULL, 10);
        break;
    case TB_T_DATE: {
        int32_t d;
        assert_true(tb_parse_date(buf, n, &d));
        val.u.i = d;
        break;
    }
    case TB_T_TIMESTAMP:
        assert_true(tb_parse_timestamp(buf, n, &val.u.i));
        break;
    case TB_T_FLOAT:
    case TB_T_DOUBLE:
        val.u.d = strtod(buf, NULL);
        break;
    case TB_T_DECIMAL:
        assert_true(tb_i128_parse(buf, n, v->type.scale, &val.u.dec));
        break;
    case TB_T_STRING:
        val.u.s.ptr = tb_arena_strndup(arena, buf, n);
        val.u.s.len = (uint32_t)n;
        break;
    default:
        fail_msg("type not handled in test");
    }
    assert_int_equal(tb_vec_put(v, i, cap, &val, arena), TB_OK);
}

/* Append rows given as "a|b|c" strings. */
static void add_rows(tb_table *t, const char *const *rows, size_t n)
{
    const tb_schema *schema = tb_table_schema(t);
    tb_arena *arena = tb_arena_new(0);
    tb_err err;

    for (size_t off = 0; off < n; off += TB_BATCH_CAP) {
        uint32_t m = (uint32_t)(n - off < TB_BATCH_CAP ? n - off : TB_BATCH_CAP);
        tb_batch *batch = NULL;
        assert_int_equal(tb_batch_new(schema, m, arena, &batch), TB_OK);
        for (uint32_t i = 0; i < m; i++) {
            const char *p = rows[off + i];
            for (uint32_t c = 0; c < schema->n; c++) {
                const char *e = strchr(p, '|');
                size_t len = e ? (size_t)(e - p) : strlen(p);
                put_cell(&batch->cols[c], i, m, p, len, arena);
                p = e ? e + 1 : p + len;
            }
        }
        batch->n_rows = m;
        assert_int_equal(tb_table_append(t, batch, &err), TB_OK);
        tb_arena_reset(arena);
    }
    tb_arena_free(arena);
}

/* A table "k bigint, v bigint" with n rows k = kf(i), v = i (kf NULL: k = i). */
static tb_table *int_table(uint32_t n, int64_t (*kf)(uint32_t))
{
    tb_table *t = table_of("k bigint, v bigint");
    tb_arena *arena = tb_arena_new(0);
    tb_err err;

    for (uint32_t off = 0; off < n; off += TB_BATCH_CAP) {
        uint32_t m = n - off < TB_BATCH_CAP ? n - off : TB_BATCH_CAP;
        tb_batch *batch = NULL;
        assert_int_equal(tb_batch_new(tb_table_schema(t), m, arena, &batch), TB_OK);
        for (uint32_t i = 0; i < m; i++) {
            TB_VEC_PTR(&batch->cols[0], int64_t)[i] = kf ? kf(off + i) : (int64_t)(off + i);
            TB_VEC_PTR(&batch->cols[1], int64_t)[i] = off + i;
        }
        batch->n_rows = m;
        assert_int_equal(tb_table_append(t, batch, &err), TB_OK);
        tb_arena_reset(arena);
    }
    tb_arena_free(arena);
    return t;
}

static tb_op *scan(tb_table *t)
{
    tb_op *op = NULL;
    tb_err err;
    assert_int_equal(tb_table_scan_new(t, NULL, 0, &op, &err), TB_OK);
    return op;
}

typedef struct rows {
    char **r;
    size_t n, cap;
    size_t batches;
} rows;

static void rows_free(rows *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        free(rs->r[i]);
    free(rs->r);
    memset(rs, 0, sizeof(*rs));
}

static void render_batch(const tb_batch *batch, rows *rs)
{
    for (uint32_t i = 0; i < batch->n_rows; i++) {
        tb_buf buf = {0};
        for (uint32_t c = 0; c < batch->n_cols; c++) {
            tb_value val;
            if (c > 0)
                tb_buf_putc(&buf, '|');
            tb_vec_get(&batch->cols[c], i, &val);
            if (val.is_null || batch->cols[c].type.id == TB_T_NULL)
                tb_buf_puts(&buf, "NULL");
            else
                tb_buf_puts(&buf, ""), tb_value_format(&val, &buf);
        }
        if (rs->n == rs->cap) {
            rs->cap = rs->cap ? rs->cap * 2 : 64;
            rs->r = realloc(rs->r, rs->cap * sizeof(char *));
        }
        rs->r[rs->n++] = strdup(tb_buf_cstr(&buf) ? tb_buf_cstr(&buf) : "");
        tb_buf_free(&buf);
    }
}

/* Run op to the end (then free it); expect rc from the run. */
static tb_rc run_rc(tb_op *op, rows *rs, tb_err *err)
{
    tb_rc rc;
    memset(rs, 0, sizeof(*rs));
    for (;;) {
        tb_batch *batch = NULL;
        rc = tb_op_next(op, &batch, err);
        if (rc != TB_OK || batch == NULL)
            break;
        assert_true(batch->n_rows <= TB_BATCH_CAP);
        assert_int_equal(batch->n_cols, op->schema->n);
        rs->batches++;
        render_batch(batch, rs);
    }
    tb_op_free(op);
    return rc;
}

static void run(tb_op *op, rows *rs)
{
    tb_err err;
    tb_rc rc = run_rc(op, rs, &err);
    if (rc != TB_OK)
        fail_msg("operator failed: %s", err.msg);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Compare with expected rows; sorted: compare as multisets. */
static void expect_rows(tb_op *op, const char *const *want, size_t n_want, bool sorted)
{
    rows rs;
    char **w = malloc((n_want + 1) * sizeof(char *));

    run(op, &rs);
    memcpy(w, want, n_want * sizeof(char *));
    if (sorted) {
        qsort(rs.r, rs.n, sizeof(char *), cmp_str);
        qsort(w, n_want, sizeof(char *), cmp_str);
    }
    for (size_t i = 0; i < rs.n && i < n_want; i++) {
        if (strcmp(rs.r[i], w[i]) != 0)
            fail_msg("row %zu: got '%s', want '%s'", i, rs.r[i], w[i]);
    }
    if (rs.n != n_want)
        fail_msg("got %zu rows, want %zu", rs.n, n_want);
    free(w);
    rows_free(&rs);
}

#define EXPECT(op, sorted, ...)                                                                    \
    do {                                                                                           \
        static const char *const want_[] = {__VA_ARGS__};                                          \
        expect_rows((op), want_, sizeof(want_) / sizeof(want_[0]), (sorted));                      \
    } while (0)

static void expect_empty(tb_op *op)
{
    rows rs;
    run(op, &rs);
    assert_int_equal(rs.n, 0);
    rows_free(&rs);
}

static tb_expr *col(int i, tb_type t)
{
    tb_expr *e = tb_expr_col(g_arena, i, t);
    assert_non_null(e);
    return e;
}

static tb_expr *kint(int64_t x)
{
    tb_value v;
    memset(&v, 0, sizeof(v));
    v.type = T(TB_T_INT64);
    v.u.i = x;
    return tb_expr_const(g_arena, &v);
}

static tb_expr *call2(const char *name, tb_expr *a, tb_expr *b)
{
    tb_expr *args[2] = {a, b}, *out = NULL;
    tb_err err;
    if (tb_expr_call(g_arena, name, args, 2, -1, &out, &err) != TB_OK)
        fail_msg("tb_expr_call %s: %s", name, err.msg);
    return out;
}

/* ---------------------------------------------------------------- tables */

static void test_table_basic(void **state)
{
    tb_table *t = table_of("a int, b text"), *u = table_of("a int, b text");
    tb_op *op = NULL;
    int proj[1] = {1};
    tb_err err;
    (void)state;

    static const char *const r1[] = {"1|x", "2|NULL", "NULL|zz"};
    add_rows(t, r1, 3);
    assert_int_equal(tb_table_rows(t), 3);
    assert_true(tb_table_bytes(t) > 0);
    EXPECT(scan(t), false, "1|x", "2|NULL", "NULL|zz");
    assert_int_equal(tb_table_scan_new(t, proj, 1, &op, &err), TB_OK);
    assert_string_equal(op->schema->fields[0].name, "b");
    EXPECT(op, false, "x", "NULL", "zz");

    /* many one-row appends: merged into chunks, order kept */
    for (int i = 0; i < 3000; i++) {
        char buf[32];
        const char *row[1] = {buf};
        snprintf(buf, sizeof(buf), "%d|s%d", i, i);
        add_rows(u, row, 1);
    }
    {
        rows rs;
        run(scan(u), &rs);
        assert_int_equal(rs.n, 3000);
        assert_true(rs.batches <= 3);
        for (int i = 0; i < 3000; i++) {
            char buf[32];
            snprintf(buf, sizeof(buf), "%d|s%d", i, i);
            assert_string_equal(rs.r[i], buf);
        }
        rows_free(&rs);
    }

    /* a scan snapshot survives truncate and swap */
    assert_int_equal(tb_table_scan_new(t, NULL, 0, &op, &err), TB_OK);
    tb_table_swap(t, u); /* t gets u's rows, u emptied */
    assert_int_equal(tb_table_rows(t), 3000);
    assert_int_equal(tb_table_rows(u), 0);
    EXPECT(op, false, "1|x", "2|NULL", "NULL|zz");
    assert_int_equal(tb_table_scan_new(t, NULL, 0, &op, &err), TB_OK);
    tb_table_truncate(t);
    assert_int_equal(tb_table_rows(t), 0);
    {
        rows rs;
        run(op, &rs);
        assert_int_equal(rs.n, 3000);
        rows_free(&rs);
    }
    expect_empty(scan(t));

    /* type mismatch is an error */
    {
        tb_table *w = table_of("a bigint");
        tb_arena *arena = tb_arena_new(0);
        tb_batch *batch = NULL;
        tb_schema *s = schema_of("a text");
        assert_int_equal(tb_batch_new(s, 1, arena, &batch), TB_OK);
        batch->n_rows = 1;
        ((tb_str *)batch->cols[0].data)[0] = (tb_str){"x", 1};
        assert_int_equal(tb_table_append(w, batch, &err), TB_E_TYPE);
        tb_schema_free(s);
        tb_arena_free(arena);
        tb_table_free(w);
    }
    /* one 5000-row batch is stored as chunks of at most TB_BATCH_CAP rows */
    {
        tb_table *w = table_of("a bigint");
        tb_arena *arena = tb_arena_new(0);
        tb_batch *batch = NULL;
        rows rs;
        assert_int_equal(tb_batch_new(tb_table_schema(w), 5000, arena, &batch), TB_OK);
        for (int i = 0; i < 5000; i++)
            TB_VEC_PTR(&batch->cols[0], int64_t)[i] = i;
        assert_int_equal(tb_vec_set_null(&batch->cols[0], 3000, 5000, arena), TB_OK);
        batch->n_rows = 5000;
        assert_int_equal(tb_table_append(w, batch, &err), TB_OK);
        run(scan(w), &rs);
        assert_int_equal(rs.n, 5000);
        assert_int_equal(rs.batches, 3);
        assert_string_equal(rs.r[2999], "2999");
        assert_string_equal(rs.r[3000], "NULL");
        assert_string_equal(rs.r[4999], "4999");
        rows_free(&rs);
        tb_arena_free(arena);
        tb_table_free(w);
    }
    /* scan outliving its table */
    assert_int_equal(tb_table_scan_new(u, NULL, 0, &op, &err), TB_OK);
    add_rows(u, r1, 3);
    tb_table_free(u);
    tb_table_free(t);
    expect_empty(op);
}

typedef struct conc {
    tb_table *t;
    int batches;
    int64_t total;
    volatile int done;
} conc;

static void *appender(void *p)
{
    conc *c = p;
    tb_arena *arena = tb_arena_new(0);
    tb_err err;
    int64_t next = 0;

    for (int b = 0; b < c->batches; b++) {
        tb_batch *batch = NULL;
        uint32_t m = (uint32_t)(1 + (b * 37) % 700); /* small and large appends */
        if (tb_batch_new(tb_table_schema(c->t), m, arena, &batch) != TB_OK)
            abort();
        for (uint32_t i = 0; i < m; i++) {
            char *s = tb_arena_sprintf(arena, "v%lld", (long long)next);
            TB_VEC_PTR(&batch->cols[0], int64_t)[i] = next++;
            ((tb_str *)batch->cols[1].data)[i] = (tb_str){s, (uint32_t)strlen(s)};
        }
        batch->n_rows = m;
        if (tb_table_append(c->t, batch, &err) != TB_OK)
            abort();
        tb_arena_reset(arena);
    }
    tb_arena_free(arena);
    c->total = next;
    __atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Scan once; every row must be the next in sequence. Returns the count. */
static uint64_t scan_check(tb_table *t)
{
    tb_op *op = scan(t);
    uint64_t seen = 0;
    tb_err err;

    for (;;) {
        tb_batch *batch = NULL;
        assert_int_equal(tb_op_next(op, &batch, &err), TB_OK);
        if (batch == NULL)
            break;
        for (uint32_t i = 0; i < batch->n_rows; i++) {
            tb_str s = ((tb_str *)batch->cols[1].data)[i];
            char want[32];
            int64_t k = TB_VEC_PTR(&batch->cols[0], int64_t)[i];
            assert_int_equal(k, (int64_t)seen);
            snprintf(want, sizeof(want), "v%lld", (long long)k);
            assert_int_equal(s.len, strlen(want));
            assert_memory_equal(s.ptr, want, s.len);
            seen++;
        }
    }
    tb_op_free(op);
    return seen;
}

static void test_table_concurrent(void **state)
{
    conc c = {table_of("k bigint, s text"), 600, 0, 0};
    pthread_t th;
    uint64_t last = 0;
    int scans = 0;
    (void)state;

    assert_int_equal(pthread_create(&th, NULL, appender, &c), 0);
    while (!__atomic_load_n(&c.done, __ATOMIC_ACQUIRE)) {
        uint64_t before = tb_table_rows(c.t);
        uint64_t seen = scan_check(c.t);
        assert_true(seen >= before); /* the snapshot holds at least the rows before it */
        assert_true(seen >= last);
        last = seen;
        scans++;
    }
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(scan_check(c.t), (uint64_t)c.total);
    assert_int_equal(tb_table_rows(c.t), (uint64_t)c.total);
    tb_table_free(c.t);
    (void)scans;
}

/* ---------------------------------------------------------------- simple operators */

static void test_values_filter_project(void **state)
{
    tb_table *t = table_of("a int, b text");
    tb_op *op = NULL;
    tb_err err;
    (void)state;

    static const char *const r[] = {"1|one", "2|two", "NULL|nul", "3|three", "4|NULL"};
    add_rows(t, r, 5);

    /* filter a > 2 (NULL drops) */
    assert_int_equal(
        tb_op_filter_new(scan(t), call2(">", col(0, T(TB_T_INT32)), kint(2)), &op, &err), TB_OK);
    EXPECT(op, false, "3|three", "4|NULL");
    /* all pass: the batch passes through */
    assert_int_equal(
        tb_op_filter_new(scan(t), call2(">", col(0, T(TB_T_INT32)), kint(-5)), &op, &err), TB_OK);
    EXPECT(op, false, "1|one", "2|two", "3|three", "4|NULL");
    /* none pass */
    assert_int_equal(
        tb_op_filter_new(scan(t), call2(">", col(0, T(TB_T_INT32)), kint(50)), &op, &err), TB_OK);
    expect_empty(op);
    /* non-boolean predicate rejected, child freed */
    assert_int_equal(tb_op_filter_new(scan(t), col(0, T(TB_T_INT32)), &op, &err), TB_E_TYPE);

    /* project: b, a + 10 */
    {
        tb_expr *ex[2] = {col(1, T(TB_T_STRING)), call2("+", col(0, T(TB_T_INT32)), kint(10))};
        const char *names[2] = {"b", "a10"};
        assert_int_equal(tb_op_project_new(scan(t), 2, ex, names, &op, &err), TB_OK);
        assert_string_equal(op->schema->fields[1].name, "a10");
        assert_int_equal(op->schema->fields[1].type.id, TB_T_INT64);
        EXPECT(op, false, "one|11", "two|12", "nul|NULL", "three|13", "NULL|14");
    }
    /* values */
    {
        tb_schema *s = schema_of("x bigint, y text");
        tb_value v;
        tb_expr *ex[6];
        memset(&v, 0, sizeof(v));
        v.type = T(TB_T_STRING);
        v.u.s = (tb_str){"hi", 2};
        ex[0] = kint(1);
        ex[1] = tb_expr_const(g_arena, &v);
        ex[2] = kint(2);
        ex[3] = tb_expr_null(g_arena);
        ex[4] = tb_expr_null(g_arena);
        ex[5] = tb_expr_const(g_arena, &v);
        assert_int_equal(tb_op_values_new(s, 3, ex, &op, &err), TB_OK);
        EXPECT(op, false, "1|hi", "2|NULL", "NULL|hi");
        assert_int_equal(tb_op_values_new(s, 0, ex, &op, &err), TB_OK);
        expect_empty(op);
        tb_schema_free(s);
    }
    tb_table_free(t);
}

static void test_limit_union(void **state)
{
    tb_table *t = int_table(5000, NULL), *e = table_of("k bigint, v bigint");
    tb_op *op = NULL;
    tb_err err;
    rows rs;
    (void)state;

    /* offset 2000 limit 100: crosses the first batch boundary (2048) */
    assert_int_equal(tb_op_limit_new(scan(t), 100, 2000, &op, &err), TB_OK);
    run(op, &rs);
    assert_int_equal(rs.n, 100);
    for (size_t i = 0; i < rs.n; i++) {
        char want[64];
        snprintf(want, sizeof(want), "%zu|%zu", 2000 + i, 2000 + i);
        assert_string_equal(rs.r[i], want);
    }
    rows_free(&rs);
    /* limit spanning 3 batches */
    assert_int_equal(tb_op_limit_new(scan(t), 4500, 10, &op, &err), TB_OK);
    run(op, &rs);
    assert_int_equal(rs.n, 4500);
    assert_string_equal(rs.r[0], "10|10");
    assert_string_equal(rs.r[4499], "4509|4509");
    rows_free(&rs);
    /* no limit, offset near the end; offset past the end; limit 0 */
    assert_int_equal(tb_op_limit_new(scan(t), -1, 4997, &op, &err), TB_OK);
    EXPECT(op, false, "4997|4997", "4998|4998", "4999|4999");
    assert_int_equal(tb_op_limit_new(scan(t), 5, 6000, &op, &err), TB_OK);
    expect_empty(op);
    assert_int_equal(tb_op_limit_new(scan(t), 0, 0, &op, &err), TB_OK);
    expect_empty(op);
    assert_int_equal(tb_op_limit_new(scan(t), 2, 0, &op, &err), TB_OK);
    EXPECT(op, false, "0|0", "1|1");

    /* union all: t (5000) + empty + limit 3 of t */
    {
        tb_op *kids[3] = {scan(t), scan(e), NULL};
        assert_int_equal(tb_op_limit_new(scan(t), 3, 0, &kids[2], &err), TB_OK);
        assert_int_equal(tb_op_union_all_new(3, kids, &op, &err), TB_OK);
        run(op, &rs);
        assert_int_equal(rs.n, 5003);
        assert_string_equal(rs.r[4999], "4999|4999");
        assert_string_equal(rs.r[5002], "2|2");
        rows_free(&rs);
    }
    /* union all of mismatched types */
    {
        tb_table *s = table_of("k text, v bigint");
        tb_op *kids[2] = {scan(t), scan(s)};
        assert_int_equal(tb_op_union_all_new(2, kids, &op, &err), TB_E_TYPE);
        tb_table_free(s);
    }
    tb_table_free(t);
    tb_table_free(e);
}

/* ---------------------------------------------------------------- hash join */

static tb_table *g_l, *g_r;

static void join_tables(void)
{
    static const char *const l[] = {"1|a", "2|b", "2|bb", "3|c", "NULL|n", "5|e"};
    static const char *const r[] = {"2|X", "2|XX", "3|Y", "4|Z", "NULL|N", "1|W"};
    g_l = table_of("k int, s text");
    g_r = table_of("k int, t text");
    add_rows(g_l, l, 6);
    add_rows(g_r, r, 6);
}

static tb_op *hj(tb_table *l, tb_table *r, tb_join_type type, tb_expr *residual)
{
    tb_expr *lk[1] = {col(0, T(TB_T_INT32))}, *rk[1] = {col(0, T(TB_T_INT32))};
    tb_op *op = NULL;
    tb_err err;
    if (tb_op_hash_join_new(scan(l), scan(r), type, 1, lk, rk, residual, &op, &err) != TB_OK)
        fail_msg("%s", err.msg);
    return op;
}

static void test_hash_join_types(void **state)
{
    (void)state;
    join_tables();
    EXPECT(hj(g_l, g_r, TB_JOIN_INNER, NULL), true, "1|a|1|W", "2|b|2|X", "2|b|2|XX", "2|bb|2|X",
           "2|bb|2|XX", "3|c|3|Y");
    EXPECT(hj(g_l, g_r, TB_JOIN_LEFT, NULL), true, "1|a|1|W", "2|b|2|X", "2|b|2|XX", "2|bb|2|X",
           "2|bb|2|XX", "3|c|3|Y", "NULL|n|NULL|NULL", "5|e|NULL|NULL");
    EXPECT(hj(g_l, g_r, TB_JOIN_RIGHT, NULL), true, "1|a|1|W", "2|b|2|X", "2|b|2|XX", "2|bb|2|X",
           "2|bb|2|XX", "3|c|3|Y", "NULL|NULL|4|Z", "NULL|NULL|NULL|N");
    EXPECT(hj(g_l, g_r, TB_JOIN_FULL, NULL), true, "1|a|1|W", "2|b|2|X", "2|b|2|XX", "2|bb|2|X",
           "2|bb|2|XX", "3|c|3|Y", "NULL|n|NULL|NULL", "5|e|NULL|NULL", "NULL|NULL|4|Z",
           "NULL|NULL|NULL|N");
    EXPECT(hj(g_l, g_r, TB_JOIN_SEMI, NULL), true, "1|a", "2|b", "2|bb", "3|c");
    EXPECT(hj(g_l, g_r, TB_JOIN_ANTI, NULL), true, "NULL|n", "5|e");

    /* residual: l.s <> 'b' (col 1 of the pair) and r.t <> 'XX' (col 3) */
    {
        tb_value v;
        tb_expr *res;
        memset(&v, 0, sizeof(v));
        v.type = T(TB_T_STRING);
        v.u.s = (tb_str){"XX", 2};
        res = call2("<>", col(3, T(TB_T_STRING)), tb_expr_const(g_arena, &v));
        EXPECT(hj(g_l, g_r, TB_JOIN_INNER, res), true, "1|a|1|W", "2|b|2|X", "2|bb|2|X", "3|c|3|Y");
        EXPECT(hj(g_l, g_r, TB_JOIN_RIGHT, res), true, "1|a|1|W", "2|b|2|X", "2|bb|2|X", "3|c|3|Y",
               "NULL|NULL|2|XX", "NULL|NULL|4|Z", "NULL|NULL|NULL|N");
        /* residual false for every pair of key 2 -> left rows unmatched */
        v.u.s = (tb_str){"b", 1};
        res = call2("=", col(1, T(TB_T_STRING)), tb_expr_const(g_arena, &v));
        EXPECT(hj(g_l, g_r, TB_JOIN_LEFT, res), true, "1|a|NULL|NULL", "2|b|2|X", "2|b|2|XX",
               "2|bb|NULL|NULL", "3|c|NULL|NULL", "NULL|n|NULL|NULL", "5|e|NULL|NULL");
        EXPECT(hj(g_l, g_r, TB_JOIN_SEMI, res), true, "2|b");
        EXPECT(hj(g_l, g_r, TB_JOIN_ANTI, res), true, "1|a", "2|bb", "3|c", "NULL|n", "5|e");
        EXPECT(hj(g_l, g_r, TB_JOIN_FULL, res), true, "1|a|NULL|NULL", "2|b|2|X", "2|b|2|XX",
               "2|bb|NULL|NULL", "3|c|NULL|NULL", "NULL|n|NULL|NULL", "5|e|NULL|NULL",
               "NULL|NULL|3|Y", "NULL|NULL|4|Z", "NULL|NULL|NULL|N", "NULL|NULL|1|W");
    }
    /* empty sides */
    {
        tb_table *e = table_of("k int, t text");
        expect_empty(hj(g_l, e, TB_JOIN_INNER, NULL));
        expect_empty(hj(e, g_r, TB_JOIN_INNER, NULL));
        expect_empty(hj(g_l, e, TB_JOIN_SEMI, NULL));
        expect_empty(hj(e, g_r, TB_JOIN_LEFT, NULL));
        EXPECT(hj(g_l, e, TB_JOIN_LEFT, NULL), true, "1|a|NULL|NULL", "2|b|NULL|NULL",
               "2|bb|NULL|NULL", "3|c|NULL|NULL", "NULL|n|NULL|NULL", "5|e|NULL|NULL");
        EXPECT(hj(g_l, e, TB_JOIN_ANTI, NULL), true, "1|a", "2|b", "2|bb", "3|c", "NULL|n", "5|e");
        EXPECT(hj(e, g_r, TB_JOIN_RIGHT, NULL), true, "NULL|NULL|2|X", "NULL|NULL|2|XX",
               "NULL|NULL|3|Y", "NULL|NULL|4|Z", "NULL|NULL|NULL|N", "NULL|NULL|1|W");
        tb_table_free(e);
    }
    tb_table_free(g_l);
    tb_table_free(g_r);
}

static int64_t key_mod(uint32_t i) { return i % 7; }
static int64_t key_sparse(uint32_t i) { return (int64_t)(i % 1000) * 1000003 - 400000000; }
static int64_t key_mod5(uint32_t i) { return i % 5; }
static int64_t key_one(uint32_t i)
{
    (void)i;
    return 1;
}

/* Joins whose output spans many batches, in the three index modes. */
static void test_hash_join_many(void **state)
{
    tb_expr *lk[1], *rk[1];
    tb_op *op = NULL;
    tb_err err;
    rows rs;
    (void)state;

    lk[0] = col(0, T(TB_T_INT64));
    rk[0] = col(0, T(TB_T_INT64));
    /* all keys equal: 300 x 40 = 12000 rows (dense mode, one long chain) */
    {
        tb_table *l = int_table(300, key_one), *r = int_table(40, key_one);
        assert_int_equal(
            tb_op_hash_join_new(scan(l), scan(r), TB_JOIN_INNER, 1, lk, rk, NULL, &op, &err),
            TB_OK);
        run(op, &rs);
        assert_int_equal(rs.n, 12000);
        assert_true(rs.batches >= 6);
        qsort(rs.r, rs.n, sizeof(char *), cmp_str);
        for (size_t i = 1; i < rs.n; i++)
            assert_true(strcmp(rs.r[i - 1], rs.r[i]) != 0); /* every pair once */
        rows_free(&rs);
        assert_int_equal(
            tb_op_hash_join_new(scan(l), scan(r), TB_JOIN_FULL, 1, lk, rk, NULL, &op, &err), TB_OK);
        run(op, &rs);
        assert_int_equal(rs.n, 12000);
        rows_free(&rs);
        tb_table_free(l);
        tb_table_free(r);
    }
    /* sparse keys (hashed int mode) and duplicates: 5000 left rows keyed i%1000, right
     * 3000 rows keyed i%1000 -> each left row matches 3 -> 15000 */
    {
        tb_table *l = int_table(5000, key_sparse), *r = int_table(3000, key_sparse);
        assert_int_equal(
            tb_op_hash_join_new(scan(l), scan(r), TB_JOIN_INNER, 1, lk, rk, NULL, &op, &err),
            TB_OK);
        run(op, &rs);
        assert_int_equal(rs.n, 15000);
        for (size_t i = 0; i < rs.n; i++) {
            long long a, b, c, d;
            assert_int_equal(sscanf(rs.r[i], "%lld|%lld|%lld|%lld", &a, &b, &c, &d), 4);
            assert_int_equal(a, c);
            assert_int_equal(b % 1000, d % 1000);
        }
        rows_free(&rs);
        tb_table_free(l);
        tb_table_free(r);
    }
    /* sparse unique build keys (hashed int mode, one-pass probe) */
    {
        tb_table *l = int_table(5000, key_sparse), *r = int_table(500, key_sparse);
        static const tb_join_type types[] = {TB_JOIN_INNER, TB_JOIN_LEFT,  TB_JOIN_SEMI,
                                             TB_JOIN_ANTI,  TB_JOIN_RIGHT, TB_JOIN_FULL};
        static const size_t want[] = {2500, 5000, 2500, 2500, 2500, 5000};
        for (int t = 0; t < 6; t++) {
            size_t nulls = 0;
            assert_int_equal(
                tb_op_hash_join_new(scan(l), scan(r), types[t], 1, lk, rk, NULL, &op, &err), TB_OK);
            run(op, &rs);
            assert_int_equal(rs.n, want[t]);
            for (size_t i = 0; i < rs.n; i++) {
                long long a, b, c, d;
                int f = sscanf(rs.r[i], "%lld|%lld|%lld|%lld", &a, &b, &c, &d);
                if (f == 4) {
                    assert_int_equal(a, c);
                    assert_true(b % 1000 < 500 && d == b % 1000);
                } else if (types[t] == TB_JOIN_ANTI) {
                    assert_true(b % 1000 >= 500);
                } else if (types[t] != TB_JOIN_SEMI) {
                    nulls++;
                }
            }
            assert_int_equal(nulls,
                             types[t] == TB_JOIN_LEFT || types[t] == TB_JOIN_FULL ? 2500 : 0);
            rows_free(&rs);
        }
        tb_table_free(l);
        tb_table_free(r);
    }
    /* semi/anti: left keys i % 7 over 5000 rows, right keys 0..4 (twice each) */
    {
        tb_table *l = int_table(5000, key_mod), *r = int_table(10, key_mod5);
        size_t want = 0;
        for (uint32_t i = 0; i < 5000; i++)
            want += i % 7 < 5;
        assert_int_equal(
            tb_op_hash_join_new(scan(l), scan(r), TB_JOIN_SEMI, 1, lk, rk, NULL, &op, &err), TB_OK);
        run(op, &rs);
        assert_int_equal(rs.n, want);
        rows_free(&rs);
        assert_int_equal(
            tb_op_hash_join_new(scan(l), scan(r), TB_JOIN_ANTI, 1, lk, rk, NULL, &op, &err), TB_OK);
        run(op, &rs);
        assert_int_equal(rs.n, 5000 - want);
        for (size_t i = 0; i < rs.n; i++)
            assert_true(rs.r[i][0] == '5' || rs.r[i][0] == '6');
        rows_free(&rs);
        tb_table_free(l);
        tb_table_free(r);
    }
    /* generic mode: two keys (k, v % 3) over text + int */
    {
        static const char *const l[] = {"a|1", "a|2", "b|1", "NULL|1", "c|NULL", "a|1"};
        static const char *const r[] = {"a|1|x", "a|1|y", "b|2|z", "c|NULL|w", "NULL|1|q"};
        tb_table *tl = table_of("s text, n int"), *tr = table_of("s text, n int, p text");
        tb_expr *lk2[2] = {col(0, T(TB_T_STRING)), col(1, T(TB_T_INT32))};
        tb_expr *rk2[2] = {col(0, T(TB_T_STRING)), col(1, T(TB_T_INT32))};
        add_rows(tl, l, 6);
        add_rows(tr, r, 5);
        assert_int_equal(
            tb_op_hash_join_new(scan(tl), scan(tr), TB_JOIN_INNER, 2, lk2, rk2, NULL, &op, &err),
            TB_OK);
        EXPECT(op, true, "a|1|a|1|x", "a|1|a|1|y", "a|1|a|1|x", "a|1|a|1|y");
        assert_int_equal(
            tb_op_hash_join_new(scan(tl), scan(tr), TB_JOIN_ANTI, 2, lk2, rk2, NULL, &op, &err),
            TB_OK);
        EXPECT(op, true, "a|2", "b|1", "NULL|1", "c|NULL");
        /* computed key on the build side: r.n + 1 = l.n (bigint) */
        {
            tb_expr *lk3[1] = {call2("+", col(1, T(TB_T_INT32)), kint(0))};
            tb_expr *rk3[1] = {call2("+", col(1, T(TB_T_INT32)), kint(1))};
            assert_int_equal(tb_op_hash_join_new(scan(tl), scan(tr), TB_JOIN_INNER, 1, lk3, rk3,
                                                 NULL, &op, &err),
                             TB_OK);
            EXPECT(op, true, "a|2|a|1|x", "a|2|a|1|y", "a|2|NULL|1|q");
        }
        /* key type mismatch */
        assert_int_equal(tb_op_hash_join_new(scan(tl), scan(tr), TB_JOIN_INNER, 1, lk2, &rk2[1],
                                             NULL, &op, &err),
                         TB_E_TYPE);
        tb_table_free(tl);
        tb_table_free(tr);
    }
}

static void test_hash_join_shared(void **state)
{
    tb_table *dim = table_of("id int, cat text"), *f1 = table_of("sale int, pid int");
    tb_table *f2 = table_of("sale int, pid int");
    tb_hashjoin_table *ht = NULL;
    tb_expr *bk[1] = {col(0, T(TB_T_INT32))}, *pk[1] = {col(1, T(TB_T_INT32))};
    tb_op *op = NULL, *b;
    tb_err err;
    (void)state;

    static const char *const d[] = {"1|toys", "2|food", "3|books"};
    static const char *const s1[] = {"10|1", "11|3", "12|9"};
    static const char *const s2[] = {"20|2", "21|2", "22|NULL"};
    add_rows(dim, d, 3);
    add_rows(f1, s1, 3);
    add_rows(f2, s2, 3);
    b = scan(dim);
    assert_int_equal(tb_hashjoin_table_build(b, 1, bk, &ht, &err), TB_OK);
    tb_op_free(b);
    assert_int_equal(tb_hashjoin_table_rows(ht), 3);
    assert_true(tb_hashjoin_table_bytes(ht) > 0);
    assert_int_equal(tb_hashjoin_table_schema(ht)->n, 2);
    assert_int_equal(
        tb_op_hash_join_new_shared(scan(f1), ht, TB_JOIN_INNER, 1, pk, NULL, &op, &err), TB_OK);
    EXPECT(op, true, "10|1|1|toys", "11|3|3|books");
    assert_int_equal(tb_op_hash_join_new_shared(scan(f2), ht, TB_JOIN_LEFT, 1, pk, NULL, &op, &err),
                     TB_OK);
    {
        /* the table survives its creator's reference while an operator holds it */
        tb_hashjoin_table_free(ht);
        EXPECT(op, true, "20|2|2|food", "21|2|2|food", "22|NULL|NULL|NULL");
    }
    tb_table_free(dim);
    tb_table_free(f1);
    tb_table_free(f2);
}

/* ---------------------------------------------------------------- nested loop join */

static void test_nl_join(void **state)
{
    tb_table *l = table_of("a int"), *r = table_of("b int"), *e = table_of("b int");
    tb_op *op = NULL;
    tb_err err;
    rows rs;
    (void)state;

    static const char *const lr[] = {"1", "2", "3", "NULL"};
    static const char *const rr[] = {"2", "3", "NULL"};
    add_rows(l, lr, 4);
    add_rows(r, rr, 3);
#define NL(type, pred)                                                                             \
    (assert_int_equal(tb_op_nl_join_new(scan(l), scan(r), (type), (pred), &op, &err), TB_OK), op)
#define LT() call2("<", col(0, T(TB_T_INT32)), col(1, T(TB_T_INT32)))
    EXPECT(NL(TB_JOIN_INNER, LT()), true, "1|2", "1|3", "2|3");
    EXPECT(NL(TB_JOIN_LEFT, LT()), true, "1|2", "1|3", "2|3", "3|NULL", "NULL|NULL");
    EXPECT(NL(TB_JOIN_RIGHT, LT()), true, "1|2", "1|3", "2|3", "NULL|NULL");
    EXPECT(NL(TB_JOIN_FULL, LT()), true, "1|2", "1|3", "2|3", "3|NULL", "NULL|NULL", "NULL|NULL");
    EXPECT(NL(TB_JOIN_SEMI, LT()), true, "1", "2");
    EXPECT(NL(TB_JOIN_ANTI, LT()), true, "3", "NULL");
    run(NL(TB_JOIN_INNER, NULL), &rs); /* cross join */
    assert_int_equal(rs.n, 12);
    rows_free(&rs);
    assert_int_equal(tb_op_nl_join_new(scan(l), scan(e), TB_JOIN_LEFT, LT(), &op, &err), TB_OK);
    EXPECT(op, true, "1|NULL", "2|NULL", "3|NULL", "NULL|NULL");
    assert_int_equal(tb_op_nl_join_new(scan(l), scan(e), TB_JOIN_ANTI, NULL, &op, &err), TB_OK);
    EXPECT(op, true, "1", "2", "3", "NULL");
    assert_int_equal(tb_op_nl_join_new(scan(e), scan(r), TB_JOIN_INNER, NULL, &op, &err), TB_OK);
    expect_empty(op);
    /* big cross join spanning batches: 5000 x 3 */
    {
        tb_table *big = int_table(5000, NULL);
        assert_int_equal(tb_op_nl_join_new(scan(big), scan(r), TB_JOIN_INNER, NULL, &op, &err),
                         TB_OK);
        run(op, &rs);
        assert_int_equal(rs.n, 15000);
        assert_true(rs.batches >= 8);
        rows_free(&rs);
        tb_table_free(big);
    }
    tb_table_free(l);
    tb_table_free(r);
    tb_table_free(e);
#undef NL
#undef LT
}

/* ---------------------------------------------------------------- aggregates */

static tb_aggspec aggspec(tb_agg_kind kind, bool distinct, tb_expr *arg, tb_type type)
{
    tb_aggspec a;
    memset(&a, 0, sizeof(a));
    a.kind = kind;
    a.distinct = distinct;
    a.arg = arg;
    a.type = type;
    return a;
}

static tb_op *hagg(tb_table *t, uint32_t n_groups, tb_expr **groups, uint32_t n_aggs,
                   const tb_aggspec *aggs)
{
    tb_op *op = NULL;
    tb_err err;
    if (tb_op_hash_agg_new(scan(t), n_groups, groups, NULL, n_aggs, aggs, NULL, &op, &err) != TB_OK)
        fail_msg("%s", err.msg);
    return op;
}

static void test_hash_agg(void **state)
{
    tb_table *t = table_of("g text, x int"), *e = table_of("g text, x int");
    tb_expr *x = col(1, T(TB_T_INT32));
    tb_expr *groups[1] = {col(0, T(TB_T_STRING))};
    tb_aggspec aggs[8];
    (void)state;

    static const char *const r[] = {"a|1", "a|2", "b|NULL", "NULL|5", "a|2", "b|3", "NULL|NULL"};
    add_rows(t, r, 7);
    aggs[0] = aggspec(TB_AGG_COUNT_STAR, false, NULL, T(TB_T_INT64));
    aggs[1] = aggspec(TB_AGG_COUNT, false, x, T(TB_T_INT64));
    aggs[2] = aggspec(TB_AGG_SUM, false, x, T(TB_T_INT64));
    aggs[3] = aggspec(TB_AGG_AVG, false, x, tb_type_decimal(38, 2));
    aggs[4] = aggspec(TB_AGG_MIN, false, x, T(TB_T_INT32));
    aggs[5] = aggspec(TB_AGG_MAX, false, x, T(TB_T_INT32));
    aggs[6] = aggspec(TB_AGG_COUNT, true, x, T(TB_T_INT64));
    aggs[7] = aggspec(TB_AGG_SUM, true, x, T(TB_T_INT64));
    EXPECT(hagg(t, 1, groups, 8, aggs), true, "a|3|3|5|1.67|1|2|2|3", "b|2|1|3|3.00|3|3|1|3",
           "NULL|2|1|5|5.00|5|5|1|5");
    EXPECT(hagg(t, 0, NULL, 8, aggs), false, "7|5|13|2.60|1|5|4|11");
    EXPECT(hagg(e, 0, NULL, 8, aggs), false, "0|0|NULL|NULL|NULL|NULL|0|NULL");
    expect_empty(hagg(e, 1, groups, 8, aggs));
    /* min/max over strings, grouped by int; avg rounding half away from zero */
    {
        tb_table *u = table_of("g int, s text, y int");
        tb_expr *g2[1] = {col(0, T(TB_T_INT32))};
        tb_aggspec a2[3];
        static const char *const ur[] = {"1|pear|1",        "1|apple|2", "2|fig|-1",
                                         "1|zucchini|NULL", "2|NULL|-2", "2|banana|NULL"};
        add_rows(u, ur, 6);
        a2[0] = aggspec(TB_AGG_MIN, false, col(1, T(TB_T_STRING)), T(TB_T_STRING));
        a2[1] = aggspec(TB_AGG_MAX, false, col(1, T(TB_T_STRING)), T(TB_T_STRING));
        a2[2] = aggspec(TB_AGG_AVG, false, col(2, T(TB_T_INT32)), tb_type_decimal(38, 0));
        EXPECT(hagg(u, 1, g2, 3, a2), true, "1|apple|zucchini|2", "2|banana|fig|-2");
        tb_table_free(u);
    }
    tb_table_free(t);
    tb_table_free(e);
}

static void test_hash_agg_overflow(void **state)
{
    tb_table *t = table_of("k bigint, d numeric(38,0)");
    tb_expr *k = col(0, T(TB_T_INT64)), *d = col(1, tb_type_decimal(38, 0));
    tb_aggspec a;
    tb_err err;
    rows rs;
    (void)state;

    static const char *const r[] = {"9223372036854775807|99999999999999999999999999999999999999",
                                    "9223372036854775807|99999999999999999999999999999999999999",
                                    "9223372036854775807|-5"};
    add_rows(t, r, 3);
    /* sum(bigint) -> numeric: exact */
    a = aggspec(TB_AGG_SUM, false, k, tb_type_decimal(38, 0));
    EXPECT(hagg(t, 0, NULL, 1, &a), false, "27670116110564327421");
    /* avg(bigint) exact too */
    a = aggspec(TB_AGG_AVG, false, k, tb_type_decimal(38, 1));
    EXPECT(hagg(t, 0, NULL, 1, &a), false, "9223372036854775807.0");
    /* bigint result out of range */
    a = aggspec(TB_AGG_SUM, false, k, T(TB_T_INT64));
    assert_int_equal(run_rc(hagg(t, 0, NULL, 1, &a), &rs, &err), TB_E_RANGE);
    rows_free(&rs);
    /* numeric beyond 38 digits */
    a = aggspec(TB_AGG_SUM, false, d, tb_type_decimal(38, 0));
    assert_int_equal(run_rc(hagg(t, 0, NULL, 1, &a), &rs, &err), TB_E_RANGE);
    rows_free(&rs);
    /* int128 overflow while accumulating (4 x 10^38 > 2^127) */
    add_rows(t, r, 3);
    assert_int_equal(run_rc(hagg(t, 0, NULL, 1, &a), &rs, &err), TB_E_RANGE);
    rows_free(&rs);
    /* unsupported: sum(text) */
    {
        tb_op *op = NULL;
        tb_aggspec bad = aggspec(TB_AGG_SUM, false, col(0, T(TB_T_STRING)), T(TB_T_STRING));
        tb_table *s = table_of("s text");
        assert_int_equal(tb_op_hash_agg_new(scan(s), 0, NULL, NULL, 1, &bad, NULL, &op, &err),
                         TB_E_TYPE);
        tb_table_free(s);
    }
    tb_table_free(t);
}

static void expect_same_groups(tb_hashagg *a, tb_hashagg *b);

static int64_t key_120k(uint32_t i) { return i % 120000; }

static void test_hash_agg_many_groups(void **state)
{
    tb_table *t = int_table(250000, key_120k);
    tb_expr *groups[1] = {col(0, T(TB_T_INT64))};
    tb_aggspec aggs[2];
    char *seen = calloc(120000, 1);
    rows rs;
    (void)state;

    aggs[0] = aggspec(TB_AGG_COUNT_STAR, false, NULL, T(TB_T_INT64));
    aggs[1] = aggspec(TB_AGG_SUM, false, col(1, T(TB_T_INT64)), tb_type_decimal(38, 0));
    run(hagg(t, 1, groups, 2, aggs), &rs);
    assert_int_equal(rs.n, 120000);
    for (size_t i = 0; i < rs.n; i++) {
        long long g, c, s;
        assert_int_equal(sscanf(rs.r[i], "%lld|%lld|%lld", &g, &c, &s), 3);
        assert_true(g >= 0 && g < 120000 && !seen[g]);
        seen[g] = 1;
        assert_int_equal(c, g < 10000 ? 3 : 2);
        assert_int_equal(s, g < 10000 ? 3 * g + 360000 : 2 * g + 120000);
    }
    rows_free(&rs);
    free(seen);
    /* the same through two partial states (batches alternating) merged */
    {
        tb_hashagg *p0 = NULL, *p1 = NULL, *whole = NULL;
        tb_type kt[1] = {T(TB_T_INT64)};
        tb_op *op = scan(t);
        tb_arena *arena = tb_arena_new(0);
        tb_err err;
        int b = 0;
        assert_int_equal(tb_hashagg_new(1, kt, 2, aggs, &p0, &err), TB_OK);
        assert_int_equal(tb_hashagg_new(1, kt, 2, aggs, &p1, &err), TB_OK);
        assert_int_equal(tb_hashagg_new(1, kt, 2, aggs, &whole, &err), TB_OK);
        for (;; b++) {
            tb_batch *batch = NULL;
            assert_int_equal(tb_op_next(op, &batch, &err), TB_OK);
            if (batch == NULL)
                break;
            tb_arena_reset(arena);
            assert_int_equal(tb_hashagg_consume_batch(b % 2 ? p1 : p0, batch, groups, arena, &err),
                             TB_OK);
            assert_int_equal(tb_hashagg_consume_batch(whole, batch, groups, arena, &err), TB_OK);
        }
        assert_int_equal(tb_hashagg_merge(p1, p0, &err), TB_OK);
        assert_int_equal(tb_hashagg_groups(p1), 120000);
        expect_same_groups(whole, p1);
        tb_hashagg_free(p0);
        tb_hashagg_free(p1);
        tb_hashagg_free(whole);
        tb_op_free(op);
        tb_arena_free(arena);
    }
    tb_table_free(t);

    /* composite keys (text, int) and float keys: -0 = 0, NaN = NaN */
    {
        tb_table *u = table_of("s text, n int, f double");
        tb_expr *g2[2] = {col(0, T(TB_T_STRING)), col(1, T(TB_T_INT32))};
        tb_expr *g3[1] = {col(2, T(TB_T_DOUBLE))};
        tb_aggspec c = aggspec(TB_AGG_COUNT_STAR, false, NULL, T(TB_T_INT64));
        static const char *const ur[] = {"abcdefghijkl|1|0",   "abcdefghijkl|2|-0",
                                         "abcdefghijkl|1|NaN", "abcdefghijkm|1|nan",
                                         "NULL|NULL|1.5",      "NULL|NULL|NULL"};
        add_rows(u, ur, 6);
        EXPECT(hagg(u, 2, g2, 1, &c), true, "abcdefghijkl|1|2", "abcdefghijkl|2|1",
               "abcdefghijkm|1|1", "NULL|NULL|2");
        EXPECT(hagg(u, 1, g3, 1, &c), true, "0|2", "NaN|2", "1.5|1", "NULL|1");
        tb_table_free(u);
    }
}

/* ---------------------------------------------------------------- aggregate state */

static tb_vec str_vec(tb_arena *arena, const char *const *s, uint32_t n)
{
    tb_vec v;
    assert_int_equal(tb_vec_init(&v, T(TB_T_STRING), n, arena), TB_OK);
    for (uint32_t i = 0; i < n; i++) {
        if (s[i] == NULL)
            assert_int_equal(tb_vec_set_null(&v, i, n, arena), TB_OK);
        else
            ((tb_str *)v.data)[i] = (tb_str){s[i], (uint32_t)strlen(s[i])};
    }
    return v;
}

static tb_vec i64_vec(tb_arena *arena, const int64_t *x, uint32_t n)
{
    tb_vec v;
    assert_int_equal(tb_vec_init(&v, T(TB_T_INT64), n, arena), TB_OK);
    memcpy(v.data, x, n * sizeof(int64_t));
    return v;
}

static void emit_rows(tb_hashagg *agg, tb_hashagg_emit mode, uint32_t key_col,
                      const tb_value *bound, rows *rs)
{
    tb_hashagg_iter it;
    tb_arena *arena = tb_arena_new(0);
    tb_err err;

    memset(rs, 0, sizeof(*rs));
    tb_hashagg_iter_init(&it, mode, key_col, bound);
    for (;;) {
        tb_batch *batch = NULL;
        tb_arena_reset(arena);
        assert_int_equal(tb_hashagg_next(agg, &it, arena, &batch, &err), TB_OK);
        if (batch == NULL)
            break;
        render_batch(batch, rs);
    }
    tb_arena_free(arena);
}

static void expect_emit(tb_hashagg *agg, tb_hashagg_emit mode, const char *const *want, size_t n)
{
    rows rs;
    emit_rows(agg, mode, 0, NULL, &rs);
    assert_int_equal(rs.n, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(rs.r[i], want[i]);
    rows_free(&rs);
}

static void consume3(tb_hashagg *agg, const char *const *g, const int64_t *x, const char *const *s,
                     uint32_t n)
{
    tb_arena *arena = tb_arena_new(0);
    tb_vec keys[1], args[4];
    tb_err err;

    keys[0] = str_vec(arena, g, n);
    memset(args, 0, sizeof(args));
    args[1] = i64_vec(arena, x, n);
    args[2] = str_vec(arena, s, n);
    args[3] = args[1];
    assert_int_equal(tb_hashagg_consume(agg, n, keys, args, &err), TB_OK);
    tb_arena_free(arena); /* the state must not point into the input */
}

static tb_hashagg *state_new(void)
{
    tb_type kt[1] = {T(TB_T_STRING)};
    tb_aggspec a[4];
    tb_hashagg *agg = NULL;
    tb_err err;

    a[0] = aggspec(TB_AGG_COUNT_STAR, false, NULL, T(TB_T_INT64));
    a[1] = aggspec(TB_AGG_SUM, false, col(0, T(TB_T_INT64)), tb_type_decimal(38, 0));
    a[2] = aggspec(TB_AGG_MIN, false, col(0, T(TB_T_STRING)), T(TB_T_STRING));
    a[3] = aggspec(TB_AGG_COUNT, true, col(0, T(TB_T_INT64)), T(TB_T_INT64));
    assert_int_equal(tb_hashagg_new(1, kt, 4, a, &agg, &err), TB_OK);
    return agg;
}

static void test_hashagg_state(void **state)
{
    tb_hashagg *agg = state_new(), *copy = state_new();
    tb_buf img = {0};
    tb_err err;
    (void)state;

    {
        static const char *const g[] = {"a", "b", "a"};
        static const int64_t x[] = {1, 2, 3};
        static const char *const s[] = {"zz", "y", "aa"};
        consume3(agg, g, x, s, 3);
    }
    {
        static const char *const w[] = {"a|2|4|aa|2", "b|1|2|y|1"};
        expect_emit(agg, TB_HASHAGG_CHANGED, w, 2);
        expect_emit(agg, TB_HASHAGG_CHANGED, w, 2); /* a pass does not clear (issue 9) */
        tb_hashagg_changes_clear(agg);
        expect_emit(agg, TB_HASHAGG_CHANGED, w, 0);
    }
    {
        static const char *const g[] = {"b", "c", "b"};
        static const int64_t x[] = {2, 7, 2};
        static const char *const s[] = {"x", NULL, "xa"};
        consume3(agg, g, x, s, 3);
    }
    {
        static const char *const w[] = {"b|3|6|x|1", "c|1|7|NULL|1"};
        static const char *const all[] = {"a|2|4|aa|2", "b|3|6|x|1", "c|1|7|NULL|1"};
        expect_emit(agg, TB_HASHAGG_CHANGED, w, 2);
        expect_emit(agg, TB_HASHAGG_CHANGED, w, 2); /* a pass does not clear (issue 9) */
        tb_hashagg_changes_clear(agg);
        expect_emit(agg, TB_HASHAGG_CHANGED, w, 0);
        expect_emit(agg, TB_HASHAGG_ALL, all, 3);
    }
    assert_int_equal(tb_hashagg_groups(agg), 3);
    assert_true(tb_hashagg_bytes(agg) > 0);

    /* checkpoint image round trip, then both continue identically */
    {
        static const char *const g[] = {"a", "d"};
        static const int64_t x[] = {9, 1};
        static const char *const s[] = {"a", "q"};
        static const char *const all[] = {"a|3|13|a|3", "b|3|6|x|1", "c|1|7|NULL|1", "d|1|1|q|1"};
        static const char *const ch[] = {"a|3|13|a|3", "d|1|1|q|1"};
        consume3(agg, g, x, s, 1); /* a changed, not emitted yet */
        assert_int_equal(tb_hashagg_serialize(agg, &img, &err), TB_OK);
        assert_int_equal(tb_hashagg_deserialize(copy, img.data, img.len, &err), TB_OK);
        consume3(agg, g + 1, x + 1, s + 1, 1);
        consume3(copy, g + 1, x + 1, s + 1, 1);
        expect_emit(agg, TB_HASHAGG_ALL, all, 4);
        expect_emit(copy, TB_HASHAGG_ALL, all, 4);
        expect_emit(copy, TB_HASHAGG_CHANGED, ch, 2); /* changed flags restored */
        tb_hashagg_changes_clear(copy);
        /* duplicate distinct value after restore does not count twice */
        {
            static const char *const g2[] = {"a"};
            static const int64_t x2[] = {9};
            static const char *const s2[] = {"b"};
            static const char *const w2[] = {"a|4|22|a|3"};
            consume3(copy, g2, x2, s2, 1);
            expect_emit(copy, TB_HASHAGG_CHANGED, w2, 1);
        }
    }
    /* corrupt images: every truncation, and byte flips, never crash */
    {
        tb_hashagg *bad = state_new();
        for (size_t len = 0; len < img.len; len++)
            assert_int_equal(tb_hashagg_deserialize(bad, img.data, len, &err), TB_E_CORRUPT);
        assert_int_equal(tb_hashagg_groups(bad), 0);
        for (size_t pos = 0; pos < img.len; pos++) {
            char *d = malloc(img.len);
            tb_rc rc;
            memcpy(d, img.data, img.len);
            d[pos] ^= (char)0x5a;
            rc = tb_hashagg_deserialize(bad, d, img.len, &err);
            assert_true(rc == TB_OK || rc == TB_E_CORRUPT);
            if (rc == TB_OK) {
                /* a flipped value may be out of range: an error, not a crash */
                tb_hashagg_iter it;
                tb_arena *arena = tb_arena_new(0);
                tb_batch *batch = NULL;
                tb_hashagg_iter_init(&it, TB_HASHAGG_ALL, 0, NULL);
                while (tb_hashagg_next(bad, &it, arena, &batch, &err) == TB_OK && batch) {
                    rows rs;
                    memset(&rs, 0, sizeof(rs));
                    render_batch(batch, &rs);
                    rows_free(&rs);
                }
                tb_arena_free(arena);
            }
            free(d);
        }
        tb_hashagg_free(bad);
        /* an image of a different query is refused */
        {
            tb_type kt[1] = {T(TB_T_INT64)};
            tb_aggspec c = aggspec(TB_AGG_COUNT_STAR, false, NULL, T(TB_T_INT64));
            assert_int_equal(tb_hashagg_new(1, kt, 1, &c, &bad, &err), TB_OK);
            assert_int_equal(tb_hashagg_deserialize(bad, img.data, img.len, &err), TB_E_CORRUPT);
            tb_hashagg_free(bad);
        }
    }
    tb_buf_free(&img);
    tb_hashagg_free(agg);
    tb_hashagg_free(copy);
}

/* Replace the first occurrence of `from` in img by `to` (same length). */
static void img_replace(tb_buf *img, const void *from, const void *to, size_t n)
{
    for (size_t i = 0; i + n <= img->len; i++) {
        if (memcmp(img->data + i, from, n) == 0) {
            memcpy(img->data + i, to, n);
            return;
        }
    }
    fail_msg("pattern not in the image");
}

/* A state image holding a group key twice, or a DISTINCT value twice in one group, is
 * damaged (fuzz_checkpoint found the first: the group was emitted twice). */
static void test_hashagg_state_duplicates(void **state)
{
    tb_hashagg *agg = state_new(), *bad = state_new();
    tb_buf img = {0};
    tb_err err;
    (void)state;

    static const char *const g[] = {"grp_key_1", "grp_key_2", "grp_key_1"};
    static const int64_t x[] = {0x1122334455667788LL, 7, 0x1122334455667789LL};
    static const char *const s[] = {"v1", "v2", "v3"};
    consume3(agg, g, x, s, 3);
    assert_int_equal(tb_hashagg_serialize(agg, &img, &err), TB_OK);
    assert_int_equal(tb_hashagg_deserialize(bad, img.data, img.len, &err), TB_OK);
    assert_int_equal(tb_hashagg_groups(bad), 2);
    {
        tb_buf k = {0};
        assert_int_equal(tb_buf_append(&k, img.data, img.len), TB_OK);
        img_replace(&k, "grp_key_2", "grp_key_1", 9);
        assert_int_equal(tb_hashagg_deserialize(bad, k.data, k.len, &err), TB_E_CORRUPT);
        assert_non_null(strstr(err.msg, "a key occurs twice"));
        assert_int_equal(tb_hashagg_groups(bad), 0);
        tb_buf_free(&k);
    }
    {
        int64_t from = 0x1122334455667789LL, to = 0x1122334455667788LL;
        tb_buf k = {0};
        assert_int_equal(tb_buf_append(&k, img.data, img.len), TB_OK);
        img_replace(&k, &from, &to, sizeof(from));
        assert_int_equal(tb_hashagg_deserialize(bad, k.data, k.len, &err), TB_E_CORRUPT);
        assert_non_null(strstr(err.msg, "a key occurs twice"));
        tb_buf_free(&k);
    }
    tb_buf_free(&img);
    tb_hashagg_free(agg);
    tb_hashagg_free(bad);
}

static void test_hashagg_evict(void **state)
{
    tb_type kt[2] = {T(TB_T_TIMESTAMP), T(TB_T_STRING)};
    tb_aggspec a[2];
    tb_hashagg *agg = NULL;
    tb_arena *arena = tb_arena_new(0);
    tb_vec keys[2], args[2];
    tb_value bound;
    uint64_t removed = 0;
    tb_err err;
    rows rs;
    (void)state;

    a[0] = aggspec(TB_AGG_SUM, false, col(0, T(TB_T_INT32)), T(TB_T_INT64));
    a[1] = aggspec(TB_AGG_COUNT, true, col(0, T(TB_T_STRING)), T(TB_T_INT64));
    assert_int_equal(tb_hashagg_new(2, kt, 2, a, &agg, &err), TB_OK);
    {
        static const int64_t ts[] = {0, 10, 20, 0, 10, 20, 0};
        static const char *const cat[] = {"x", "x", "x", "y", "x", "y", "x"};
        static const int32_t q[] = {1, 2, 3, 4, 5, 6, 7};
        static const char *const d[] = {"p", "q", "r", "s", "t", "u", "v"};
        keys[0] = i64_vec(arena, ts, 7);
        keys[0].type = T(TB_T_TIMESTAMP);
        for (int i = 0; i < 7; i++)
            TB_VEC_PTR(&keys[0], int64_t)[i] = ts[i] * TB_USEC_PER_SEC;
        keys[1] = str_vec(arena, cat, 7);
        assert_int_equal(tb_vec_init(&args[0], T(TB_T_INT32), 7, arena), TB_OK);
        memcpy(args[0].data, q, sizeof(q));
        args[1] = str_vec(arena, d, 7);
        assert_int_equal(tb_hashagg_consume(agg, 7, keys, args, &err), TB_OK);
    }
    memset(&bound, 0, sizeof(bound));
    bound.type = T(TB_T_TIMESTAMP);
    bound.u.i = 20 * TB_USEC_PER_SEC;
    emit_rows(agg, TB_HASHAGG_BELOW, 0, &bound, &rs);
    assert_int_equal(rs.n, 3);
    assert_string_equal(rs.r[0], "1970-01-01 00:00:00|x|8|2");
    assert_string_equal(rs.r[1], "1970-01-01 00:00:10|x|7|2");
    assert_string_equal(rs.r[2], "1970-01-01 00:00:00|y|4|1");
    rows_free(&rs);
    assert_int_equal(tb_hashagg_evict_below(agg, 0, &bound, &removed, &err), TB_OK);
    assert_int_equal(removed, 3);
    assert_int_equal(tb_hashagg_groups(agg), 2);
    tb_hashagg_clear_changed(agg);
    /* the remaining groups keep their state; evicted ones start over */
    assert_int_equal(tb_hashagg_consume(agg, 7, keys, args, &err), TB_OK);
    emit_rows(agg, TB_HASHAGG_ALL, 0, NULL, &rs);
    assert_int_equal(rs.n, 5);
    qsort(rs.r, rs.n, sizeof(char *), cmp_str);
    assert_string_equal(rs.r[0], "1970-01-01 00:00:00|x|8|2");
    assert_string_equal(rs.r[1], "1970-01-01 00:00:00|y|4|1");
    assert_string_equal(rs.r[2], "1970-01-01 00:00:10|x|7|2");
    assert_string_equal(rs.r[3], "1970-01-01 00:00:20|x|6|1");
    assert_string_equal(rs.r[4], "1970-01-01 00:00:20|y|12|1");
    rows_free(&rs);
    tb_hashagg_free(agg);
    tb_arena_free(arena);
}

/* Consume a table's rows into agg, grouping by groups (over the table's columns). */
static void consume_table(tb_hashagg *agg, tb_table *t, tb_expr **groups)
{
    tb_op *op = scan(t);
    tb_arena *arena = tb_arena_new(0);
    tb_err err;

    for (;;) {
        tb_batch *batch = NULL;
        assert_int_equal(tb_op_next(op, &batch, &err), TB_OK);
        if (batch == NULL)
            break;
        tb_arena_reset(arena);
        assert_int_equal(tb_hashagg_consume_batch(agg, batch, groups, arena, &err), TB_OK);
    }
    tb_arena_free(arena);
    tb_op_free(op);
}

static void expect_same_groups(tb_hashagg *a, tb_hashagg *b)
{
    rows ra, rb;
    emit_rows(a, TB_HASHAGG_ALL, 0, NULL, &ra);
    emit_rows(b, TB_HASHAGG_ALL, 0, NULL, &rb);
    assert_int_equal(ra.n, rb.n);
    qsort(ra.r, ra.n, sizeof(char *), cmp_str);
    qsort(rb.r, rb.n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < ra.n; i++)
        assert_string_equal(ra.r[i], rb.r[i]);
    rows_free(&ra);
    rows_free(&rb);
}

/* Partial aggregation per partition + merge == aggregation of everything. */
static void test_hashagg_merge(void **state)
{
    tb_table *part[3];
    tb_expr *groups[1] = {col(0, T(TB_T_STRING))};
    tb_expr *x = col(1, T(TB_T_INT64)), *sx = col(2, T(TB_T_STRING));
    tb_aggspec a[8];
    tb_type kt[1] = {T(TB_T_STRING)};
    uint64_t seed = 12345;
    tb_err err;
    (void)state;

    a[0] = aggspec(TB_AGG_COUNT_STAR, false, NULL, T(TB_T_INT64));
    a[1] = aggspec(TB_AGG_SUM, false, x, tb_type_decimal(38, 0));
    a[2] = aggspec(TB_AGG_AVG, false, x, tb_type_decimal(38, 3));
    a[3] = aggspec(TB_AGG_MIN, false, sx, T(TB_T_STRING));
    a[4] = aggspec(TB_AGG_MAX, false, sx, T(TB_T_STRING));
    a[5] = aggspec(TB_AGG_COUNT, true, x, T(TB_T_INT64));
    a[6] = aggspec(TB_AGG_SUM, true, x, tb_type_decimal(38, 0));
    a[7] = aggspec(TB_AGG_MAX, false, x, T(TB_T_INT64));
    for (int p = 0; p < 3; p++) {
        char **r = malloc(3000 * sizeof(char *));
        part[p] = table_of("g text, x bigint, s text");
        for (int i = 0; i < 3000; i++) {
            char gbuf[16], xbuf[24], sbuf[24];
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            snprintf(gbuf, sizeof(gbuf), (seed >> 60) == 0 ? "NULL" : "g%d",
                     (int)((seed >> 33) % 70));
            snprintf(xbuf, sizeof(xbuf), (seed >> 58) % 9 == 0 ? "NULL" : "%d",
                     (int)((seed >> 20) % 40) - 10);
            snprintf(sbuf, sizeof(sbuf), (seed >> 56) % 7 == 0 ? "NULL" : "s%llu",
                     (unsigned long long)((seed >> 8) % 997));
            r[i] = malloc(80);
            snprintf(r[i], 80, "%s|%s|%s", gbuf, xbuf, sbuf);
        }
        add_rows(part[p], (const char *const *)r, 3000);
        for (int i = 0; i < 3000; i++)
            free(r[i]);
        free(r);
    }
    for (uint32_t nk = 0; nk <= 1; nk++) {
        tb_hashagg *all = NULL, *pa[3] = {NULL, NULL, NULL};
        assert_int_equal(tb_hashagg_new(nk, kt, 8, a, &all, &err), TB_OK);
        for (int p = 0; p < 3; p++) {
            assert_int_equal(tb_hashagg_new(nk, kt, 8, a, &pa[p], &err), TB_OK);
            consume_table(all, part[p], groups);
            consume_table(pa[p], part[p], groups);
        }
        assert_int_equal(tb_hashagg_merge(pa[0], pa[1], &err), TB_OK);
        assert_int_equal(tb_hashagg_merge(pa[0], pa[2], &err), TB_OK);
        expect_same_groups(all, pa[0]);
        assert_int_equal(tb_hashagg_merge(pa[0], pa[0], &err), TB_E_MISUSE);
        for (int p = 0; p < 3; p++)
            tb_hashagg_free(pa[p]);
        tb_hashagg_free(all);
    }
    {
        tb_hashagg *x1 = NULL, *x2 = NULL;
        assert_int_equal(tb_hashagg_new(1, kt, 8, a, &x1, &err), TB_OK);
        assert_int_equal(tb_hashagg_new(1, kt, 7, a, &x2, &err), TB_OK);
        assert_int_equal(tb_hashagg_merge(x1, x2, &err), TB_E_MISUSE);
        tb_hashagg_free(x1);
        tb_hashagg_free(x2);
    }
    for (int p = 0; p < 3; p++)
        tb_table_free(part[p]);
}

/* List aggregates (string_agg ORDER BY, percentile, mode) and approx_count_distinct keep
 * their state through merges, checkpoint images and compaction after an eviction. */
static void test_hashagg_list(void **state)
{
    tb_table *part[2];
    tb_expr *groups[1] = {col(0, T(TB_T_STRING))};
    tb_expr *x = col(1, T(TB_T_INT64)), *sx = col(2, T(TB_T_STRING)), *xd = NULL;
    tb_value comma;
    tb_aggspec a[5];
    tb_type kt[1] = {T(TB_T_STRING)};
    uint64_t seed = 777;
    tb_err err;
    bool desc[1] = {true}, asc[1] = {false}, nf[1] = {false};
    (void)state;

    memset(&comma, 0, sizeof(comma));
    comma.type = T(TB_T_STRING);
    comma.u.s = (tb_str){",", 1};
    assert_int_equal(tb_expr_cast(g_arena, x, T(TB_T_DOUBLE), -1, &xd, &err), TB_OK);
    a[0] = aggspec(TB_AGG_STRING_AGG, false, NULL, T(TB_T_STRING));
    assert_int_equal(tb_agg_pack_call(g_arena, sx, tb_expr_const(g_arena, &comma), &x, desc, nf,
                                      1, -1, &a[0].arg, &err), TB_OK);
    a[1] = aggspec(TB_AGG_PCT_CONT, false, NULL, T(TB_T_DOUBLE));
    a[1].frac = 0.3;
    assert_int_equal(tb_agg_pack_call(g_arena, xd, NULL, &xd, asc, nf, 1, -1, &a[1].arg, &err),
                     TB_OK);
    a[2] = aggspec(TB_AGG_MODE, false, NULL, T(TB_T_STRING));
    assert_int_equal(tb_agg_pack_call(g_arena, sx, NULL, &sx, asc, nf, 1, -1, &a[2].arg, &err),
                     TB_OK);
    a[3] = aggspec(TB_AGG_APPROX_DISTINCT, false, sx, T(TB_T_INT64));
    a[4] = aggspec(TB_AGG_PCT_DISC, false, NULL, T(TB_T_INT64));
    a[4].frac = 0.5;
    assert_int_equal(tb_agg_pack_call(g_arena, x, NULL, &x, desc, nf, 1, -1, &a[4].arg, &err),
                     TB_OK);
    for (int p = 0; p < 2; p++) {
        char **r = malloc(2000 * sizeof(char *));
        part[p] = table_of("g text, x bigint, s text");
        for (int i = 0; i < 2000; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            r[i] = malloc(80);
            snprintf(r[i], 80, "g%d|%d|%s%d", (int)((seed >> 33) % 9), (int)((seed >> 20) % 50),
                     (seed >> 56) % 7 == 0 ? "" : "s", (int)((seed >> 8) % 31));
        }
        add_rows(part[p], (const char *const *)r, 2000);
        for (int i = 0; i < 2000; i++)
            free(r[i]);
        free(r);
    }
    tb_hashagg *all = NULL, *pa[2] = {NULL, NULL}, *copy = NULL;
    tb_buf img = {0};
    assert_int_equal(tb_hashagg_new(1, kt, 5, a, &all, &err), TB_OK);
    assert_int_equal(tb_hashagg_new(1, kt, 5, a, &copy, &err), TB_OK);
    for (int p = 0; p < 2; p++) {
        assert_int_equal(tb_hashagg_new(1, kt, 5, a, &pa[p], &err), TB_OK);
        consume_table(pa[p], part[p], groups);
    }
    consume_table(all, part[0], groups);
    /* image after the first part, then both take the second */
    assert_int_equal(tb_hashagg_serialize(all, &img, &err), TB_OK);
    assert_int_equal(tb_hashagg_deserialize(copy, img.data, img.len, &err), TB_OK);
    consume_table(all, part[1], groups);
    consume_table(copy, part[1], groups);
    expect_same_groups(all, copy);
    assert_int_equal(tb_hashagg_merge(pa[0], pa[1], &err), TB_OK);
    expect_same_groups(all, pa[0]);
    {
        rows rs;
        emit_rows(all, TB_HASHAGG_ALL, 0, NULL, &rs);
        assert_int_equal(rs.n, 9);
        for (size_t i = 0; i < rs.n; i++) {
            /* g|string_agg|percentile_cont|mode|approx_count_distinct|percentile_disc:
             * ~444 rows per group over at most 62 values of s (the sketch's linear
             * counting is near exact there) */
            const char *f = rs.r[i];
            for (int k = 0; k < 4; k++)
                f = strchr(f, '|') + 1;
            int approx = atoi(f);
            assert_true(approx >= 50 && approx <= 62);
            assert_true(strlen(rs.r[i]) > 1000); /* the string_agg */
        }
        rows_free(&rs);
    }
    /* evict groups below "g4" (the store is compacted), then both continue alike */
    {
        tb_value bound;
        uint64_t removed = 0;
        memset(&bound, 0, sizeof(bound));
        bound.type = T(TB_T_STRING);
        bound.u.s = (tb_str){"g4", 2};
        assert_int_equal(tb_hashagg_evict_below(all, 0, &bound, &removed, &err), TB_OK);
        assert_int_equal(removed, 4);
        assert_int_equal(tb_hashagg_evict_below(copy, 0, &bound, &removed, &err), TB_OK);
        consume_table(all, part[0], groups);
        consume_table(copy, part[0], groups);
        expect_same_groups(all, copy);
        img.len = 0;
        assert_int_equal(tb_hashagg_serialize(copy, &img, &err), TB_OK);
        tb_hashagg_reset(copy);
        assert_int_equal(tb_hashagg_deserialize(copy, img.data, img.len, &err), TB_OK);
        consume_table(all, part[1], groups);
        consume_table(copy, part[1], groups);
        expect_same_groups(all, copy);
    }
    tb_buf_free(&img);
    tb_hashagg_free(all);
    tb_hashagg_free(copy);
    for (int p = 0; p < 2; p++) {
        tb_hashagg_free(pa[p]);
        tb_table_free(part[p]);
    }
}

/* ---------------------------------------------------------------- sort */

static tb_op *sorted(tb_table *t, uint32_t n, const tb_sortkey *keys, int64_t limit)
{
    tb_op *op = NULL;
    tb_err err;
    if (tb_op_sort_new(scan(t), n, keys, limit, &op, &err) != TB_OK)
        fail_msg("%s", err.msg);
    return op;
}

static tb_sortkey skey(tb_expr *e, bool desc, bool nulls_first)
{
    tb_sortkey k = {e, desc, nulls_first};
    return k;
}

static void test_sort(void **state)
{
    tb_table *t = table_of("k int, s text, i int");
    tb_sortkey k[2];
    (void)state;

    static const char *const r[] = {"2|abcdefghij2|0", "NULL|abc|1", "1|abcdefghij1|2",
                                    "2|abcdefgh|3",    "1|NULL|4",   "NULL|b|5",
                                    "2|abcdefghij1|6"};
    add_rows(t, r, 7);
    /* k asc (nulls last): stable among equal keys */
    k[0] = skey(col(0, T(TB_T_INT32)), false, false);
    EXPECT(sorted(t, 1, k, -1), false, "1|abcdefghij1|2", "1|NULL|4", "2|abcdefghij2|0",
           "2|abcdefgh|3", "2|abcdefghij1|6", "NULL|abc|1", "NULL|b|5");
    /* k desc (nulls first) */
    k[0] = skey(col(0, T(TB_T_INT32)), true, true);
    EXPECT(sorted(t, 1, k, -1), false, "NULL|abc|1", "NULL|b|5", "2|abcdefghij2|0", "2|abcdefgh|3",
           "2|abcdefghij1|6", "1|abcdefghij1|2", "1|NULL|4");
    /* strings sharing 8+ byte prefixes, nulls first */
    k[0] = skey(col(1, T(TB_T_STRING)), false, true);
    EXPECT(sorted(t, 1, k, -1), false, "1|NULL|4", "NULL|abc|1", "2|abcdefgh|3", "1|abcdefghij1|2",
           "2|abcdefghij1|6", "2|abcdefghij2|0", "NULL|b|5");
    /* two keys: k asc nulls first, s desc nulls last */
    k[0] = skey(col(0, T(TB_T_INT32)), false, true);
    k[1] = skey(col(1, T(TB_T_STRING)), true, false);
    EXPECT(sorted(t, 2, k, -1), false, "NULL|b|5", "NULL|abc|1", "1|abcdefghij1|2", "1|NULL|4",
           "2|abcdefghij2|0", "2|abcdefghij1|6", "2|abcdefgh|3");
    /* top-2 of the same */
    EXPECT(sorted(t, 2, k, 2), false, "NULL|b|5", "NULL|abc|1");
    /* computed key: -i */
    k[0] = skey(call2("-", kint(0), col(2, T(TB_T_INT32))), false, false);
    EXPECT(sorted(t, 1, k, 3), false, "2|abcdefghij1|6", "NULL|b|5", "1|NULL|4");
    /* limit 0 */
    expect_empty(sorted(t, 1, k, 0));
    tb_table_free(t);

    /* doubles: -inf, -0 = 0 (stable), 1.5, NaN above all, NULL last */
    {
        tb_table *d = table_of("f double, i int");
        static const char *const dr[] = {"NaN|0", "0|1", "-inf|2", "NULL|3", "-0|4", "1.5|5"};
        add_rows(d, dr, 6);
        k[0] = skey(col(0, T(TB_T_DOUBLE)), false, false);
        EXPECT(sorted(d, 1, k, -1), false, "-Infinity|2", "0|1", "-0|4", "1.5|5", "NaN|0",
               "NULL|3");
        k[0] = skey(col(0, T(TB_T_DOUBLE)), true, false);
        EXPECT(sorted(d, 1, k, -1), false, "NaN|0", "1.5|5", "0|1", "-0|4", "-Infinity|2",
               "NULL|3");
        tb_table_free(d);
    }
    /* wide numerics (beyond int64) */
    {
        tb_table *d = table_of("n numeric(38,2)");
        static const char *const dr[] = {"100000000000000000000000.01", "-5.00",
                                         "100000000000000000000000.00", "3.50",
                                         "-100000000000000000000000.00"};
        add_rows(d, dr, 5);
        k[0] = skey(col(0, tb_type_decimal(38, 2)), false, false);
        EXPECT(sorted(d, 1, k, -1), false, "-100000000000000000000000.00", "-5.00", "3.50",
               "100000000000000000000000.00", "100000000000000000000000.01");
        tb_table_free(d);
    }
}

static int64_t key_perm(uint32_t i)
{
    return (int64_t)((i * 7919u) % 10007u) / 3; /* duplicates, scattered */
}

/* Top-N equals the prefix of the full (stable) sort, over inputs of many batches. */
static void test_sort_topn(void **state)
{
    tb_table *t = int_table(30000, key_perm);
    tb_sortkey k[1];
    rows full, top;
    (void)state;

    for (int desc = 0; desc < 2; desc++) {
        int64_t limits[] = {1, 50, 2048, 5000, 29999};
        k[0] = skey(col(0, T(TB_T_INT64)), desc, desc);
        run(sorted(t, 1, k, -1), &full);
        assert_int_equal(full.n, 30000);
        for (size_t i = 1; i < full.n; i++) {
            long long a, b, c, d;
            sscanf(full.r[i - 1], "%lld|%lld", &a, &b);
            sscanf(full.r[i], "%lld|%lld", &c, &d);
            assert_true(desc ? a >= c : a <= c);
            if (a == c)
                assert_true(b < d); /* stable */
        }
        for (size_t j = 0; j < sizeof(limits) / sizeof(limits[0]); j++) {
            run(sorted(t, 1, k, limits[j]), &top);
            assert_int_equal(top.n, (size_t)limits[j]);
            for (size_t i = 0; i < top.n; i++)
                assert_string_equal(top.r[i], full.r[i]);
            rows_free(&top);
        }
        rows_free(&full);
    }
    tb_table_free(t);
}

/* Strings with long shared prefixes (several 7-byte rounds, and the fallback past
 * them), empty strings and prefixes of each other: order = byte order, stable. */
static void test_sort_strings(void **state)
{
    tb_table *t = table_of("s text, i int");
    char **r = malloc(3000 * sizeof(char *));
    uint64_t seed = 99;
    tb_sortkey k[1];
    (void)state;

    for (int i = 0; i < 3000; i++) {
        int len, pre;
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        len = (int)((seed >> 33) % 90);
        pre = (int)((seed >> 45) % 3) == 0 ? 0 : (int)((seed >> 50) % 70);
        r[i] = malloc(128);
        for (int c = 0; c < len; c++)
            r[i][c] = c < pre ? 'p' : (char)('a' + ((seed >> (c % 40)) & 1));
        snprintf(r[i] + len, 20, "|%d", i);
    }
    add_rows(t, (const char *const *)r, 3000);
    for (int desc = 0; desc < 2; desc++) {
        rows rs;
        k[0] = skey(col(0, T(TB_T_STRING)), desc, false);
        run(sorted(t, 1, k, -1), &rs);
        assert_int_equal(rs.n, 3000);
        for (size_t i = 1; i < rs.n; i++) {
            const char *x = rs.r[i - 1], *y = rs.r[i];
            size_t lx = strcspn(x, "|"), ly = strcspn(y, "|");
            int c = memcmp(x, y, lx < ly ? lx : ly);
            if (c == 0)
                c = (lx > ly) - (lx < ly);
            if (desc)
                c = -c;
            assert_true(c <= 0);
            if (c == 0)
                assert_true(atoi(x + lx + 1) < atoi(y + ly + 1)); /* stable */
        }
        rows_free(&rs);
    }
    for (int i = 0; i < 3000; i++)
        free(r[i]);
    free(r);
    tb_table_free(t);
}

/* ---------------------------------------------------------------- fault injection */

static int64_t key_mod50(uint32_t i) { return i % 53; }

/* scan l LEFT JOIN scan r ON k, group by r.v % .. (r.k) count(*), sum(l.v), ORDER BY 1 */
static tb_rc pipeline(tb_table *l, tb_table *r, tb_expr **ex, tb_op **out, tb_err *err)
{
    tb_op *a = NULL, *b = NULL, *j = NULL, *g = NULL;
    tb_aggspec aggs[2];
    tb_sortkey key = {ex[3], false, false};
    tb_rc rc;

    *out = NULL;
    aggs[0] = aggspec(TB_AGG_COUNT_STAR, false, NULL, T(TB_T_INT64));
    aggs[1] = aggspec(TB_AGG_SUM, false, ex[4], tb_type_decimal(38, 0));
    rc = tb_table_scan_new(l, NULL, 0, &a, err);
    if (rc != TB_OK)
        return rc;
    rc = tb_table_scan_new(r, NULL, 0, &b, err);
    if (rc != TB_OK) {
        tb_op_free(a);
        return rc;
    }
    rc = tb_op_hash_join_new(a, b, TB_JOIN_LEFT, 1, &ex[0], &ex[1], NULL, &j, err);
    if (rc != TB_OK)
        return rc;
    rc = tb_op_hash_agg_new(j, 1, &ex[2], NULL, 2, aggs, NULL, &g, err);
    if (rc != TB_OK)
        return rc;
    return tb_op_sort_new(g, 1, &key, -1, out, err);
}

/* Checksum of the output, read straight from the vectors (no allocation). */
static tb_rc drain(tb_op *op, int64_t *sum, tb_err *err)
{
    int64_t row = 0;
    tb_rc rc;

    *sum = 0;
    for (;;) {
        tb_batch *batch = NULL;
        rc = tb_op_next(op, &batch, err);
        if (rc != TB_OK || batch == NULL)
            return rc;
        for (uint32_t i = 0; i < batch->n_rows; i++, row++) {
            int64_t g =
                tb_vec_is_null(&batch->cols[0], i) ? -1 : TB_VEC_PTR(&batch->cols[0], int64_t)[i];
            int64_t c = TB_VEC_PTR(&batch->cols[1], int64_t)[i];
            int64_t v = tb_vec_is_null(&batch->cols[2], i)
                            ? 0
                            : (int64_t)TB_VEC_PTR(&batch->cols[2], tb_i128)[i];
            *sum += (row + 1) * (g * 31 + c * 7 + v);
        }
    }
}

static void test_faults(void **state)
{
    tb_table *l = int_table(3000, key_mod50), *r = int_table(40, NULL);
    tb_expr *ex[5];
    int64_t want = 0, got = 0;
    tb_op *op = NULL;
    tb_err err;
    int n;
    (void)state;

    ex[0] = col(0, T(TB_T_INT64)); /* l.k */
    ex[1] = col(0, T(TB_T_INT64)); /* r.k */
    ex[2] = col(2, T(TB_T_INT64)); /* group by r.k (NULL for unmatched) */
    ex[3] = col(0, T(TB_T_INT64)); /* order by the group */
    ex[4] = col(1, T(TB_T_INT64)); /* sum(l.v) */
    assert_int_equal(pipeline(l, r, ex, &op, &err), TB_OK);
    assert_int_equal(drain(op, &want, &err), TB_OK);
    tb_op_free(op);
    for (n = 1; n < 100000; n++) {
        tb_rc rc;
        bool fired;
        tb_fault_arm(n);
        rc = pipeline(l, r, ex, &op, &err);
        if (rc == TB_OK) {
            rc = drain(op, &got, &err);
            tb_op_free(op);
        }
        fired = tb_fault_fired();
        tb_fault_arm(0);
        if (!fired) {
            assert_int_equal(rc, TB_OK);
            assert_true(got == want);
            break;
        }
        assert_true(rc == TB_OK || rc == TB_E_NOMEM);
        if (rc == TB_OK)
            assert_true(got == want);
    }
    assert_true(n > 10);

    /* aggregate state: consume, serialize, deserialize under faults */
    for (n = 1; n < 100000; n++) {
        tb_hashagg *agg = NULL, *copy = NULL;
        tb_type kt[1] = {T(TB_T_STRING)};
        tb_aggspec a[2];
        tb_buf img = {0};
        tb_arena *arena;
        tb_vec keys[1], args[2];
        tb_rc rc;
        bool fired;
        static const char *const g[] = {"a", "b", "a", "ccccccccccccccccccccccc", NULL};
        static const char *const s[] = {"x", "y", NULL, "zz", "w"};

        a[0] = aggspec(TB_AGG_MAX, false, ex[0], T(TB_T_STRING));
        a[1] = aggspec(TB_AGG_COUNT, true, ex[0], T(TB_T_INT64));
        arena = tb_arena_new(0);
        assert_non_null(arena);
        keys[0] = str_vec(arena, g, 5);
        args[0] = str_vec(arena, s, 5);
        args[1] = args[0];
        a[0].arg = tb_expr_col(g_arena, 0, T(TB_T_STRING));
        a[1].arg = a[0].arg;
        tb_fault_arm(n);
        rc = tb_hashagg_new(1, kt, 2, a, &agg, &err);
        if (rc == TB_OK)
            rc = tb_hashagg_consume(agg, 5, keys, args, &err);
        if (rc == TB_OK)
            rc = tb_hashagg_serialize(agg, &img, &err);
        if (rc == TB_OK)
            rc = tb_hashagg_new(1, kt, 2, a, &copy, &err);
        if (rc == TB_OK)
            rc = tb_hashagg_deserialize(copy, img.data, img.len, &err);
        fired = tb_fault_fired();
        tb_fault_arm(0);
        assert_true(rc == TB_OK || rc == TB_E_NOMEM);
        if (rc == TB_OK)
            assert_int_equal(tb_hashagg_groups(copy), 4);
        tb_hashagg_free(agg);
        tb_hashagg_free(copy);
        tb_buf_free(&img);
        tb_arena_free(arena);
        if (!fired) {
            assert_int_equal(rc, TB_OK);
            break;
        }
    }
    tb_table_free(l);
    tb_table_free(r);
}

/* ---------------------------------------------------------------- explain */

static void test_explain(void **state)
{
    tb_table *t = int_table(10, NULL);
    tb_op *op = NULL, *f = NULL;
    tb_buf buf = {0};
    tb_err err;
    (void)state;

    assert_int_equal(
        tb_op_filter_new(scan(t), call2(">", col(0, T(TB_T_INT64)), kint(3)), &f, &err), TB_OK);
    assert_int_equal(tb_op_limit_new(f, 5, 1, &op, &err), TB_OK);
    assert_int_equal(tb_op_explain(op, &buf), TB_OK);
    assert_non_null(strstr(tb_buf_cstr(&buf), "limit 5 offset 1\n  filter "));
    assert_non_null(strstr(tb_buf_cstr(&buf), "\n    scan memory (10 rows) (k, v)\n"));
    tb_buf_free(&buf);
    tb_op_free(op);
    tb_op_free(NULL);
    tb_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_basic),
        cmocka_unit_test(test_table_concurrent),
        cmocka_unit_test(test_values_filter_project),
        cmocka_unit_test(test_limit_union),
        cmocka_unit_test(test_hash_join_types),
        cmocka_unit_test(test_hash_join_many),
        cmocka_unit_test(test_hash_join_shared),
        cmocka_unit_test(test_nl_join),
        cmocka_unit_test(test_hash_agg),
        cmocka_unit_test(test_hash_agg_overflow),
        cmocka_unit_test(test_hash_agg_many_groups),
        cmocka_unit_test(test_hashagg_state),
        cmocka_unit_test(test_hashagg_state_duplicates),
        cmocka_unit_test(test_hashagg_evict),
        cmocka_unit_test(test_hashagg_merge),
        cmocka_unit_test(test_hashagg_list),
        cmocka_unit_test(test_sort),
        cmocka_unit_test(test_sort_topn),
        cmocka_unit_test(test_sort_strings),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_explain),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
