/*
 * test_parquet_write.c - the Parquet writer: every engine type with various NULL
 * patterns, empty files, several row groups, every codec, dictionary fallback, nested
 * schemas, statistics. Files are read back with our Parquet reader and compared value
 * by value.
 *
 * Interop: when TB_INTEROP_DIR is set, the files are also left there together with a
 * CSV of the expected values (<name>.parquet + <name>.csv, NULL written as \N), which
 * tests/run_delta_interop.sh has DuckDB compare.
 */
/* cmocka needs these first, in this order */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/parquet.h"
#include "format/parquet_write.h"

/* ---------------------------------------------------------------- data generation */

enum {
    C_BOOL,
    C_I16,
    C_I32,
    C_I64,
    C_F32,
    C_F64,
    C_DEC9,
    C_DEC18,
    C_DEC38,
    C_STR,
    C_STR_UNIQ,
    C_DATE,
    C_TS,
    C_IV,
    C_ALLNULL,
    C_REQ,
    N_COLS
};

static tb_schema *make_schema(void)
{
    tb_schema *s = tb_schema_new(N_COLS);
    assert_non_null(s);
    assert_int_equal(tb_schema_set(s, C_BOOL, "b", tb_type_make(TB_T_BOOL), true), TB_OK);
    assert_int_equal(tb_schema_set(s, C_I16, "i16", tb_type_make(TB_T_INT16), true), TB_OK);
    assert_int_equal(tb_schema_set(s, C_I32, "i32", tb_type_make(TB_T_INT32), true), TB_OK);
    assert_int_equal(tb_schema_set(s, C_I64, "i64", tb_type_make(TB_T_INT64), true), TB_OK);
    assert_int_equal(tb_schema_set(s, C_F32, "f32", tb_type_make(TB_T_FLOAT), true), TB_OK);
    assert_int_equal(tb_schema_set(s, C_F64, "f64", tb_type_make(TB_T_DOUBLE), true), TB_OK);
    assert_int_equal(tb_schema_set(s, C_DEC9, "d9", tb_type_decimal(9, 2), true), TB_OK);
    assert_int_equal(tb_schema_set(s, C_DEC18, "d18", tb_type_decimal(18, 4), true), TB_OK);
    assert_int_equal(tb_schema_set(s, C_DEC38, "d38", tb_type_decimal(38, 6), true), TB_OK);
    assert_int_equal(tb_schema_set(s, C_STR, "s", tb_type_make(TB_T_STRING), true), TB_OK);
    assert_int_equal(tb_schema_set(s, C_STR_UNIQ, "su", tb_type_make(TB_T_STRING), true), TB_OK);
    assert_int_equal(tb_schema_set(s, C_DATE, "dt", tb_type_make(TB_T_DATE), true), TB_OK);
    assert_int_equal(tb_schema_set(s, C_TS, "ts", tb_type_make(TB_T_TIMESTAMP), true), TB_OK);
    assert_int_equal(tb_schema_set(s, C_IV, "iv", tb_type_make(TB_T_INTERVAL), true), TB_OK);
    assert_int_equal(tb_schema_set(s, C_ALLNULL, "n", tb_type_make(TB_T_INT32), true), TB_OK);
    assert_int_equal(tb_schema_set(s, C_REQ, "req", tb_type_make(TB_T_INT64), false), TB_OK);
    return s;
}

/* Is row r of column c NULL? Different patterns per column. */
static bool gen_null(int c, uint64_t r)
{
    switch (c) {
    case C_ALLNULL:
        return true;
    case C_REQ:
        return false;
    case C_I32:
        return false; /* no NULLs: no bitmap */
    case C_STR:
        return r % 3 == 1;
    case C_BOOL:
        return r % 5 == 4;
    case C_TS:
        return (r / 100) % 2 == 1; /* long runs */
    default:
        return (r * 7 + (uint64_t)c) % 11 == 0;
    }
}

static char g_strbuf[256];

static void gen_value(int c, uint64_t r, tb_value *v, const tb_schema *s)
{
    memset(v, 0, sizeof(*v));
    v->type = s->fields[c].type;
    if (gen_null(c, r)) {
        v->is_null = true;
        return;
    }
    switch (c) {
    case C_BOOL:
        v->u.b = r % 3 == 0;
        break;
    case C_I16:
        v->u.i = (int64_t)((r * 7919) % 60000) - 30000;
        break;
    case C_I32:
        v->u.i = (int32_t)(uint32_t)(r * 2654435761u);
        break;
    case C_I64:
        v->u.i = (int64_t)r * 1000000007LL - 5000000000000LL;
        break;
    case C_F32:
        v->u.d = (float)((double)r * 0.25 - 100.0);
        break;
    case C_F64:
        v->u.d = (double)r * 1.0625 - 1e6 + 1.0 / 3.0;
        break;
    case C_DEC9:
        v->u.dec = (tb_i128)((int64_t)(r % 1000) * 12345 - 6000000);
        break;
    case C_DEC18:
        v->u.dec = (tb_i128)((int64_t)r * 10000000007LL - 1);
        break;
    case C_DEC38:
        v->u.dec = tb_i128_pow10(30) * (tb_i128)((int64_t)r - 500) + (tb_i128)r;
        break;
    case C_STR:
        snprintf(g_strbuf, sizeof(g_strbuf), "cat-%u", (unsigned)(r % 37));
        v->u.s.ptr = g_strbuf;
        v->u.s.len = (uint32_t)strlen(g_strbuf);
        break;
    case C_STR_UNIQ:
        if (r % 13 == 5) { /* empty string, not NULL */
            v->u.s.ptr = "";
            v->u.s.len = 0;
            break;
        }
        snprintf(g_strbuf, sizeof(g_strbuf),
                 "unique value %llu with \"quotes\", commas and ünïcode", (unsigned long long)r);
        v->u.s.ptr = g_strbuf;
        v->u.s.len = (uint32_t)strlen(g_strbuf);
        break;
    case C_DATE:
        v->u.i = (int64_t)r - 20000;
        break;
    case C_TS:
        v->u.i =
            (int64_t)r * 3600 * TB_USEC_PER_SEC + 123456 - 86400LL * 365 * 40 * TB_USEC_PER_SEC;
        break;
    case C_IV:
        v->u.iv.months = (int32_t)(r % 25);
        v->u.iv.days = (int32_t)(r % 31);
        v->u.iv.micros = (int64_t)(r % 100000) * 1000; /* whole milliseconds: INTERVAL keeps ms */
        break;
    case C_ALLNULL:
        break;
    case C_REQ:
        v->u.i = (int64_t)r;
        break;
    }
}

/* Fill a batch with rows [start, start + n). */
static tb_batch *gen_batch(const tb_schema *s, uint64_t start, uint32_t n, tb_arena *arena)
{
    tb_batch *b = NULL;
    uint32_t i;
    int c;

    assert_int_equal(tb_batch_new(s, n > 0 ? n : 1, arena, &b), TB_OK);
    for (c = 0; c < (int)s->n; c++) {
        for (i = 0; i < n; i++) {
            tb_value v;
            gen_value(c, start + i, &v, s);
            if (v.is_null) {
                assert_int_equal(tb_vec_set_null(&b->cols[c], i, b->cap, arena), TB_OK);
            } else {
                if (v.type.id == TB_T_STRING) /* copy: g_strbuf is reused */
                    v.u.s.ptr = tb_arena_strndup(arena, v.u.s.ptr, v.u.s.len);
                assert_int_equal(tb_vec_put(&b->cols[c], i, b->cap, &v, arena), TB_OK);
            }
        }
    }
    b->n_rows = n;
    return b;
}

/* ---------------------------------------------------------------- files */

static char g_dir[512];

static void rm_rf(const char *path)
{
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: %s failed\n", cmd);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/tb_pqw_%d", (int)getpid());
    rm_rf(g_dir);
    return mkdir(g_dir, 0755);
}

static int teardown(void **state)
{
    (void)state;
    rm_rf(g_dir);
    return 0;
}

/* Write rows [0, n_rows) in batches of batch_rows. Returns the file size. */
static uint64_t write_file(const char *path, const tb_schema *s, uint64_t n_rows,
                           uint32_t batch_rows, const tb_parquet_write_opts *opts)
{
    tb_parquet_writer *w = NULL;
    tb_arena *arena = tb_arena_new(0);
    uint64_t done = 0, size = 0;
    tb_err err;
    tb_rc rc;

    tb_err_clear(&err);
    rc = tb_parquet_writer_open(path, s, opts, &w, &err);
    if (rc != TB_OK)
        fprintf(stderr, "open: %s\n", err.msg);
    assert_int_equal(rc, TB_OK);
    while (done < n_rows) {
        uint32_t n = (uint32_t)TB_MIN((uint64_t)batch_rows, n_rows - done);
        tb_batch *b;
        tb_arena_reset(arena);
        b = gen_batch(s, done, n, arena);
        rc = tb_parquet_writer_write_batch(w, b, &err);
        if (rc != TB_OK)
            fprintf(stderr, "write: %s\n", err.msg);
        assert_int_equal(rc, TB_OK);
        done += n;
    }
    assert_int_equal(tb_parquet_writer_rows(w), n_rows);
    rc = tb_parquet_writer_close(w, &size, &err);
    if (rc != TB_OK)
        fprintf(stderr, "close: %s\n", err.msg);
    assert_int_equal(rc, TB_OK);
    tb_arena_free(arena);
    return size;
}

static bool values_equal(const tb_value *a, const tb_value *b)
{
    if (a->is_null || b->is_null)
        return a->is_null && b->is_null;
    if (a->type.id == TB_T_FLOAT)
        return (float)a->u.d == (float)b->u.d;
    return tb_value_cmp(a, b) == 0;
}

/* Read the file back with the Parquet reader and compare every value. */
static void check_file(const char *path, const tb_schema *s, uint64_t n_rows)
{
    tb_strlist paths = {0};
    tb_source *src = NULL;
    tb_arena *arena = tb_arena_new(0);
    tb_batch *b;
    tb_err err;
    uint64_t row = 0;
    uint32_t c;
    tb_rc rc;

    tb_err_clear(&err);
    assert_int_equal(tb_strlist_push(&paths, path), TB_OK);
    {
        int proj[N_COLS];
        for (c = 0; c < s->n; c++)
            proj[c] = (int)c;
        rc = tb_parquet_source_new(&paths, proj, s->n, &src, &err);
    }
    if (rc != TB_OK)
        fprintf(stderr, "reader: %s\n", err.msg);
    assert_int_equal(rc, TB_OK);
    assert_int_equal(src->schema->n, s->n);
    for (c = 0; c < s->n; c++) {
        assert_string_equal(src->schema->fields[c].name, s->fields[c].name);
        assert_true(tb_type_eq(src->schema->fields[c].type, s->fields[c].type));
    }
    for (;;) {
        uint32_t i;
        tb_arena_reset(arena);
        rc = tb_source_next(src, arena, &b, &err);
        if (rc != TB_OK)
            fprintf(stderr, "next: %s\n", err.msg);
        assert_int_equal(rc, TB_OK);
        if (b == NULL)
            break;
        for (i = 0; i < b->n_rows; i++, row++) {
            for (c = 0; c < s->n; c++) {
                tb_value want, got;
                gen_value((int)c, row, &want, s);
                tb_vec_get(&b->cols[c], i, &got);
                if (!values_equal(&want, &got)) {
                    tb_buf x = {0}, y = {0};
                    tb_value_format(&want, &x);
                    tb_value_format(&got, &y);
                    fprintf(stderr, "%s: row %llu col %s: want '%s' (null %d) got '%s' (null %d)\n",
                            path, (unsigned long long)row, s->fields[c].name,
                            x.data ? tb_buf_cstr(&x) : "", want.is_null,
                            y.data ? tb_buf_cstr(&y) : "", got.is_null);
                    tb_buf_free(&x);
                    tb_buf_free(&y);
                    fail();
                }
            }
        }
    }
    assert_int_equal(row, n_rows);
    tb_source_free(src);
    tb_strlist_free(&paths);
    tb_arena_free(arena);
}

/* CSV of the expected values for the DuckDB cross-check (NULL = \N). */
static void write_expect_csv(const char *path, const tb_schema *s, uint64_t n_rows)
{
    FILE *f = fopen(path, "w");
    uint64_t r;
    uint32_t c;
    tb_buf buf = {0};

    assert_non_null(f);
    for (c = 0; c < s->n; c++)
        fprintf(f, "%s%s", c ? "," : "", s->fields[c].name);
    fputc('\n', f);
    for (r = 0; r < n_rows; r++) {
        for (c = 0; c < s->n; c++) {
            tb_value v;
            if (c)
                fputc(',', f);
            gen_value((int)c, r, &v, s);
            if (v.is_null) {
                fputs("\\N", f);
                continue;
            }
            buf.len = 0;
            switch (v.type.id) {
            case TB_T_FLOAT:
                fprintf(f, "%.9g", v.u.d);
                break;
            case TB_T_DOUBLE:
                fprintf(f, "%.17g", v.u.d);
                break;
            case TB_T_INTERVAL:
                fprintf(f, "%d months %d days %lld microseconds", v.u.iv.months, v.u.iv.days,
                        (long long)v.u.iv.micros);
                break;
            case TB_T_STRING: {
                uint32_t k;
                fputc('"', f);
                for (k = 0; k < v.u.s.len; k++) {
                    if (v.u.s.ptr[k] == '"')
                        fputc('"', f);
                    fputc(v.u.s.ptr[k], f);
                }
                fputc('"', f);
                break;
            }
            default:
                assert_int_equal(tb_value_format(&v, &buf), TB_OK);
                fwrite(buf.data, 1, buf.len, f);
                break;
            }
        }
        fputc('\n', f);
    }
    tb_buf_free(&buf);
    fclose(f);
}

static void interop_copy(const char *name, const char *path, const tb_schema *s, uint64_t n_rows)
{
    const char *dir = getenv("TB_INTEROP_DIR");
    char dst[1024], cmd[2400];

    if (dir == NULL || dir[0] == '\0')
        return;
    snprintf(dst, sizeof(dst), "%s/%s.parquet", dir, name);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", path, dst);
    assert_int_equal(system(cmd), 0);
    snprintf(dst, sizeof(dst), "%s/%s.csv", dir, name);
    write_expect_csv(dst, s, n_rows);
}

/* ---------------------------------------------------------------- tests */

static void roundtrip(const char *name, uint64_t n_rows, uint32_t batch_rows,
                      const tb_parquet_write_opts *opts)
{
    tb_schema *s = make_schema();
    char path[700];

    snprintf(path, sizeof(path), "%s/%s.parquet", g_dir, name);
    write_file(path, s, n_rows, batch_rows, opts);
    check_file(path, s, n_rows);
    interop_copy(name, path, s, n_rows);
    tb_schema_free(s);
}

static void test_all_types(void **state)
{
    (void)state;
    roundtrip("all_types", 5000, 2048, NULL);
}

static void test_empty_file(void **state)
{
    (void)state;
    roundtrip("empty", 0, 16, NULL);
}

static void test_one_row(void **state)
{
    (void)state;
    roundtrip("one_row", 1, 16, NULL);
}

static void test_codecs(void **state)
{
    static const struct {
        int codec;
        const char *name;
    } codecs[] = {{TB_CODEC_UNCOMPRESSED, "codec_none"},
                  {TB_CODEC_SNAPPY, "codec_snappy"},
                  {TB_CODEC_GZIP, "codec_gzip"},
                  {TB_CODEC_ZSTD, "codec_zstd"},
                  {TB_CODEC_LZ4_RAW, "codec_lz4raw"}};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
        tb_parquet_write_opts o;
        tb_parquet_write_opts_default(&o);
        o.codec = codecs[i].codec;
        roundtrip(codecs[i].name, 3000, 1000, &o);
    }
}

static void test_row_groups_and_pages(void **state)
{
    tb_parquet_write_opts o;
    tb_parquet_file *pf = NULL;
    tb_err err;
    char path[700];

    (void)state;
    tb_parquet_write_opts_default(&o);
    o.row_group_rows = 1000;
    o.page_size_bytes = 4096; /* many pages per chunk */
    roundtrip("multi_rg", 4500, 700, &o);
    snprintf(path, sizeof(path), "%s/multi_rg.parquet", g_dir);
    tb_err_clear(&err);
    assert_int_equal(tb_parquet_open(path, &pf, &err), TB_OK);
    assert_int_equal(tb_parquet_meta(pf)->n_row_groups, 5);
    assert_int_equal(tb_parquet_num_rows(pf), 4500);
    assert_int_equal(tb_parquet_meta(pf)->row_groups[4].num_rows, 500);
    tb_parquet_close(pf);

    /* by bytes: a small row group size forces several */
    tb_parquet_write_opts_default(&o);
    o.row_group_size_bytes = 64 * 1024;
    o.page_size_bytes = 8192;
    roundtrip("rg_bytes", 20000, 2048, &o);
    snprintf(path, sizeof(path), "%s/rg_bytes.parquet", g_dir);
    assert_int_equal(tb_parquet_open(path, &pf, &err), TB_OK);
    assert_true(tb_parquet_meta(pf)->n_row_groups > 2);
    tb_parquet_close(pf);
}

static void test_dictionary_fallback(void **state)
{
    tb_parquet_write_opts o;
    tb_parquet_file *pf = NULL;
    const tb_pq_file_meta *m;
    tb_err err;
    char path[700];
    bool saw_plain = false, saw_dict = false;
    uint32_t k;

    (void)state;
    tb_parquet_write_opts_default(&o);
    o.dict_size_limit = 2048; /* the unique strings overflow it quickly */
    roundtrip("dict_fallback", 6000, 2048, &o);
    snprintf(path, sizeof(path), "%s/dict_fallback.parquet", g_dir);
    tb_err_clear(&err);
    assert_int_equal(tb_parquet_open(path, &pf, &err), TB_OK);
    m = tb_parquet_meta(pf);
    /* column su: dictionary pages then PLAIN pages */
    for (k = 0; k < m->row_groups[0].columns[C_STR_UNIQ].meta.n_encodings; k++) {
        int e = m->row_groups[0].columns[C_STR_UNIQ].meta.encodings[k];
        saw_plain |= e == TB_PQ_ENC_PLAIN;
        saw_dict |= e == TB_PQ_ENC_RLE_DICTIONARY;
    }
    assert_true(saw_plain);
    assert_true(saw_dict);
    /* the low-cardinality column keeps its dictionary */
    assert_true(m->row_groups[0].columns[C_STR].meta.dictionary_page_offset > 0);
    tb_parquet_close(pf);

    tb_parquet_write_opts_default(&o);
    o.dictionary = false;
    roundtrip("no_dict", 3000, 2048, &o);
}

static void test_statistics(void **state)
{
    tb_schema *s = make_schema();
    tb_parquet_writer *w = NULL;
    tb_parquet_file *pf = NULL;
    tb_arena *arena = tb_arena_new(0);
    tb_batch *b;
    tb_value mn, mx;
    uint64_t nulls;
    bool has;
    tb_err err;
    char path[700];
    const tb_pq_column_meta *cm;
    int32_t i32;

    (void)state;
    tb_err_clear(&err);
    snprintf(path, sizeof(path), "%s/stats.parquet", g_dir);
    assert_int_equal(tb_parquet_writer_open(path, s, NULL, &w, &err), TB_OK);
    b = gen_batch(s, 0, 1000, arena);
    assert_int_equal(tb_parquet_writer_write_batch(w, b, &err), TB_OK);
    tb_parquet_writer_col_stats(w, C_REQ, &nulls, &has, &mn, &mx);
    assert_true(has);
    assert_int_equal(nulls, 0);
    assert_int_equal(mn.u.i, 0);
    assert_int_equal(mx.u.i, 999);
    tb_parquet_writer_col_stats(w, C_ALLNULL, &nulls, &has, &mn, &mx);
    assert_false(has);
    assert_int_equal(nulls, 1000);
    tb_parquet_writer_col_stats(w, C_STR, &nulls, &has, &mn, &mx);
    assert_true(has);
    assert_int_equal(nulls, 333);
    assert_int_equal(mn.u.s.len, 5);
    assert_memory_equal(mn.u.s.ptr, "cat-0", 5);
    assert_memory_equal(mx.u.s.ptr, "cat-9", 5);
    tb_parquet_writer_col_stats(w, C_DEC38, &nulls, &has, &mn, &mx);
    assert_true(has);
    assert_true(mn.u.dec == tb_i128_pow10(30) * -500);
    tb_parquet_writer_col_stats(w, C_IV, &nulls, &has, &mn, &mx);
    assert_false(has); /* interval order is undefined: no min/max */
    assert_int_equal(tb_parquet_writer_close(w, NULL, &err), TB_OK);

    /* the footer carries them too */
    assert_int_equal(tb_parquet_open(path, &pf, &err), TB_OK);
    cm = &tb_parquet_meta(pf)->row_groups[0].columns[C_REQ].meta;
    assert_true(cm->has_statistics);
    assert_int_equal(cm->statistics.null_count, 0);
    assert_true(cm->statistics.min_value.set);
    assert_int_equal(cm->statistics.min_value.len, 8);
    cm = &tb_parquet_meta(pf)->row_groups[0].columns[C_I16].meta;
    memcpy(&i32, cm->statistics.min_value.p, 4);
    assert_true(i32 >= -30000 && i32 < 30000);
    cm = &tb_parquet_meta(pf)->row_groups[0].columns[C_ALLNULL].meta;
    assert_int_equal(cm->statistics.null_count, 1000);
    assert_false(cm->statistics.min_value.set);
    tb_parquet_close(pf);
    tb_arena_free(arena);
    tb_schema_free(s);
}

static void test_errors_and_abort(void **state)
{
    tb_schema *s = make_schema(), *other;
    tb_parquet_writer *w = NULL;
    tb_arena *arena = tb_arena_new(0);
    tb_batch *b;
    tb_err err;
    char path[700], tmp[800];
    struct stat st;

    (void)state;
    tb_err_clear(&err);
    snprintf(path, sizeof(path), "%s/aborted.parquet", g_dir);
    assert_int_equal(tb_parquet_writer_open(path, s, NULL, &w, &err), TB_OK);
    /* the file is not visible before close; the temp file is hidden */
    assert_int_not_equal(stat(path, &st), 0);
    snprintf(tmp, sizeof(tmp), "%s/.aborted.parquet.tmp-%d", g_dir, (int)getpid());
    assert_int_equal(stat(tmp, &st), 0);
    /* wrong batch shape */
    other = tb_schema_new(1);
    assert_int_equal(tb_schema_set(other, 0, "x", tb_type_make(TB_T_INT32), true), TB_OK);
    assert_int_equal(tb_batch_new(other, 4, arena, &b), TB_OK);
    b->n_rows = 1;
    assert_int_equal(tb_parquet_writer_write_batch(w, b, &err), TB_E_TYPE);
    /* NULL in a required column */
    b = gen_batch(s, 0, 10, arena);
    assert_int_equal(tb_vec_set_null(&b->cols[C_REQ], 3, b->cap, arena), TB_OK);
    assert_int_equal(tb_parquet_writer_write_batch(w, b, &err), TB_E_TYPE);
    assert_non_null(strstr(err.msg, "req"));
    tb_parquet_writer_abort(w);
    assert_int_not_equal(stat(tmp, &st), 0);
    assert_int_not_equal(stat(path, &st), 0);
    /* unwritable directory */
    assert_int_equal(tb_parquet_writer_open("/nonexistent/dir/x.parquet", s, NULL, &w, &err),
                     TB_E_IO);
    tb_schema_free(other);
    tb_schema_free(s);
    tb_arena_free(arena);
}

/* A nested file through the low-level interface: a MAP<string,string> and a LIST of
 * strings inside an optional struct, as Delta checkpoints have. Checked by the reader's
 * schema (nested top-level columns are reported as such) and by DuckDB (interop). */
static void test_nested(void **state)
{
    static const tb_pq_node nodes[] = {
        {"id", TB_PQ_REQUIRED, 0, -1, {TB_T_INT64, 0, 0}},
        {"add", TB_PQ_OPTIONAL, 3, -1, {0, 0, 0}},
        {"path", TB_PQ_OPTIONAL, 0, -1, {TB_T_STRING, 0, 0}},
        {"pv", TB_PQ_OPTIONAL, 1, TB_PQ_CT_MAP, {0, 0, 0}},
        {"key_value", TB_PQ_REPEATED, 2, -1, {0, 0, 0}},
        {"key", TB_PQ_REQUIRED, 0, -1, {TB_T_STRING, 0, 0}},
        {"value", TB_PQ_OPTIONAL, 0, -1, {TB_T_STRING, 0, 0}},
        {"tags", TB_PQ_OPTIONAL, 1, TB_PQ_CT_LIST, {0, 0, 0}},
        {"list", TB_PQ_REPEATED, 1, -1, {0, 0, 0}},
        {"element", TB_PQ_OPTIONAL, 0, -1, {TB_T_STRING, 0, 0}},
    };
    tb_parquet_writer *w = NULL;
    tb_parquet_file *pf = NULL;
    tb_err err;
    char path[700];
    int d, r, row;
    tb_value v;

    (void)state;
    tb_err_clear(&err);
    snprintf(path, sizeof(path), "%s/nested.parquet", g_dir);
    assert_int_equal(tb_parquet_writer_open_nested(path, nodes, 10, NULL, &w, &err), TB_OK);
    assert_int_equal(tb_parquet_writer_leaf_count(w), 5);
    tb_parquet_writer_leaf_levels(w, 2, &d, &r); /* add.pv.key_value.key */
    assert_int_equal(d, 3);
    assert_int_equal(r, 1);
    tb_parquet_writer_leaf_levels(w, 4, &d, &r); /* add.tags.list.element */
    assert_int_equal(d, 4);
    assert_int_equal(r, 1);
    memset(&v, 0, sizeof(v));
    for (row = 0; row < 3; row++) {
        v.type = tb_type_make(TB_T_INT64);
        v.u.i = row;
        assert_int_equal(tb_parquet_writer_leaf_put(w, 0, 0, 0, &v, &err), TB_OK);
        if (row == 1) { /* add is NULL */
            int leaf;
            for (leaf = 1; leaf < 5; leaf++)
                assert_int_equal(tb_parquet_writer_leaf_put(w, (uint32_t)leaf, 0, 0, NULL, &err),
                                 TB_OK);
        } else {
            v.type = tb_type_make(TB_T_STRING);
            v.u.s.ptr = "f.parquet";
            v.u.s.len = 9;
            assert_int_equal(tb_parquet_writer_leaf_put(w, 1, 2, 0, &v, &err), TB_OK);
            /* pv: {"a": "1", "b": null} for row 0, {} for row 2 */
            if (row == 0) {
                v.u.s.ptr = "a";
                v.u.s.len = 1;
                assert_int_equal(tb_parquet_writer_leaf_put(w, 2, 3, 0, &v, &err), TB_OK);
                v.u.s.ptr = "1";
                assert_int_equal(tb_parquet_writer_leaf_put(w, 3, 4, 0, &v, &err), TB_OK);
                v.u.s.ptr = "b";
                assert_int_equal(tb_parquet_writer_leaf_put(w, 2, 3, 1, &v, &err), TB_OK);
                assert_int_equal(tb_parquet_writer_leaf_put(w, 3, 3, 1, NULL, &err), TB_OK);
            } else {
                assert_int_equal(tb_parquet_writer_leaf_put(w, 2, 2, 0, NULL, &err), TB_OK);
                assert_int_equal(tb_parquet_writer_leaf_put(w, 3, 2, 0, NULL, &err), TB_OK);
            }
            /* tags: ["x"] for row 0, NULL for row 2 */
            if (row == 0) {
                v.u.s.ptr = "x";
                v.u.s.len = 1;
                assert_int_equal(tb_parquet_writer_leaf_put(w, 4, 4, 0, &v, &err), TB_OK);
            } else {
                assert_int_equal(tb_parquet_writer_leaf_put(w, 4, 1, 0, NULL, &err), TB_OK);
            }
        }
        assert_int_equal(tb_parquet_writer_end_record(w, &err), TB_OK);
    }
    /* bad levels are refused */
    assert_int_equal(tb_parquet_writer_leaf_put(w, 0, 1, 0, &v, &err), TB_E_MISUSE);
    assert_int_equal(tb_parquet_writer_close(w, NULL, &err), TB_OK);

    assert_int_equal(tb_parquet_open(path, &pf, &err), TB_OK);
    assert_int_equal(tb_parquet_num_rows(pf), 3);
    assert_int_equal(tb_parquet_meta(pf)->n_schema, 11);
    assert_true(tb_parquet_column_nested(pf, 1));
    assert_int_equal(tb_parquet_meta(pf)->row_groups[0].columns[2].meta.num_values, 4);
    tb_parquet_close(pf);
    {
        const char *dir = getenv("TB_INTEROP_DIR");
        if (dir != NULL && dir[0] != '\0') {
            char cmd[2000];
            snprintf(cmd, sizeof(cmd), "cp '%s' '%s/nested.parquet'", path, dir);
            assert_int_equal(system(cmd), 0);
        }
    }
}

/* Every allocation failure in open / write / close gives TB_E_NOMEM, no leak, and no
 * file left at the final path (nor the temp file). */
static void test_fault_injection(void **state)
{
    tb_schema *s = make_schema();
    tb_arena *arena = tb_arena_new(0);
    tb_batch *b = gen_batch(s, 0, 300, arena);
    tb_parquet_write_opts o;
    char path[700];
    long n;
    int n_nomem = 0;
    bool fired = true;

    (void)state;
    tb_parquet_write_opts_default(&o);
    o.sync = false;
    o.row_group_rows = 200; /* two row groups */
    snprintf(path, sizeof(path), "%s/fault.parquet", g_dir);
    for (n = 1; n < 100000 && fired; n++) {
        tb_parquet_writer *w = NULL;
        tb_err err;
        tb_rc rc;
        struct stat st;

        tb_err_clear(&err);
        (void)unlink(path);
        tb_fault_arm(n);
        rc = tb_parquet_writer_open(path, s, &o, &w, &err);
        if (rc == TB_OK) {
            rc = tb_parquet_writer_write_batch(w, b, &err);
            if (rc == TB_OK)
                rc = tb_parquet_writer_close(w, NULL, &err);
            else
                tb_parquet_writer_abort(w);
        }
        fired = tb_fault_fired();
        tb_fault_arm(0);
        if (rc != TB_OK) {
            if (rc != TB_E_NOMEM)
                fail_msg("fault %ld: rc %d: %s", n, rc, err.msg);
            assert_int_not_equal(stat(path, &st), 0);
            n_nomem++;
        } else {
            check_file(path, s, 300);
        }
    }
    assert_false(fired);
    assert_true(n_nomem > 20);
    tb_arena_free(arena);
    tb_schema_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_types),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_one_row),
        cmocka_unit_test(test_codecs),
        cmocka_unit_test(test_row_groups_and_pages),
        cmocka_unit_test(test_dictionary_fallback),
        cmocka_unit_test(test_statistics),
        cmocka_unit_test(test_errors_and_abort),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_fault_injection),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
