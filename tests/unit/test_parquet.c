/*
 * test_parquet.c - the Parquet reader and its building blocks: thrift compact protocol,
 * codecs, RLE/bit-packing and DELTA encodings, metadata encode/decode, and every file of
 * $TB_TESTDATA/parquet-testing compared value by value with an expectation:
 *   - the file's upstream *_expect.csv, or
 *   - tests/data/parquet_expect/<path with '/' as '__'>.csv, produced once with DuckDB by
 *     tests/gen_parquet_expect.mjs (see there for the rendering and the few overrides).
 * Nested files: selecting a nested column must fail with a clear error, the flat ones must
 * read. Encrypted files must be refused with a clear error naming the file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/codec.h"
#include "format/parquet.h"
#include "format/rle.h"
#include "format/thrift.h"

/* ---------------------------------------------------------------- paths */

/* snprintf without truncation warnings (paths here are far below the buffer sizes). */
static void fmt(char *buf, size_t cap, const char *f, ...) TB_PRINTF(3, 4);
static void fmt(char *buf, size_t cap, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, cap, f, ap);
    va_end(ap);
}

static const char *srcdir(void)
{
    static char buf[4096];
    const char *s = getenv("TB_SRCDIR");
    if (s != NULL && *s != '\0')
        return s;
    /* fall back to this file's location: <src>/tests/unit/test_parquet.c */
    snprintf(buf, sizeof(buf), "%s", __FILE__);
    char *p = strstr(buf, "/tests/unit/");
    if (p != NULL)
        *p = '\0';
    return buf;
}

static const char *testdata(void)
{
    static char buf[4096];
    const char *s = getenv("TB_TESTDATA");
    if (s != NULL && *s != '\0')
        return s;
    fmt(buf, sizeof(buf), "%s/../shared/testdata", srcdir());
    return buf;
}

static bool is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---------------------------------------------------------------- thrift */

static void test_thrift_roundtrip(void **state)
{
    (void)state;
    tb_buf buf = {0};
    tb_thrift_writer w;
    tb_thrift_writer_init(&w, &buf);
    tb_thrift_write_struct_begin(&w);
    tb_thrift_write_field_i32(&w, 1, -123456);
    tb_thrift_write_field_i64(&w, 2, INT64_MIN);
    tb_thrift_write_field_bool(&w, 3, true);
    tb_thrift_write_field_string(&w, 20, "hello"); /* long delta: absolute id */
    tb_thrift_write_field_double(&w, 21, 3.25);
    tb_thrift_write_field_begin(&w, TB_CT_LIST, 22);
    tb_thrift_write_list_begin(&w, TB_CT_I32, 20);
    for (int i = 0; i < 20; i++)
        tb_thrift_write_i32(&w, i - 10);
    tb_thrift_write_field_begin(&w, TB_CT_STRUCT, 23); /* nested, skipped by the reader */
    tb_thrift_write_struct_begin(&w);
    tb_thrift_write_field_i32(&w, 1, 7);
    tb_thrift_write_field_begin(&w, TB_CT_MAP, 2);
    tb_thrift_write_map_begin(&w, TB_CT_BINARY, TB_CT_I64, 2);
    tb_thrift_write_binary(&w, "a", 1);
    tb_thrift_write_i64(&w, 1);
    tb_thrift_write_binary(&w, "b", 1);
    tb_thrift_write_i64(&w, 2);
    tb_thrift_write_struct_end(&w);
    tb_thrift_write_field_bool(&w, 24, false);
    tb_thrift_write_struct_end(&w);
    assert_int_equal(w.rc, TB_OK);
    assert_int_equal(w.depth, 0);

    tb_thrift_reader r;
    int16_t id;
    uint8_t t;
    int seen = 0;
    tb_thrift_reader_init(&r, buf.data, buf.len);
    assert_true(tb_thrift_struct_begin(&r));
    while (tb_thrift_field(&r, &id, &t)) {
        switch (id) {
        case 1:
            assert_int_equal(t, TB_CT_I32);
            assert_int_equal(tb_thrift_read_i32(&r), -123456);
            break;
        case 2:
            assert_true(tb_thrift_read_i64(&r) == INT64_MIN);
            break;
        case 3:
            assert_true(tb_thrift_read_bool(&r, t));
            break;
        case 20: {
            const uint8_t *p;
            uint32_t n;
            assert_true(tb_thrift_read_binary(&r, &p, &n));
            assert_int_equal(n, 5);
            assert_memory_equal(p, "hello", 5);
            break;
        }
        case 21:
            assert_true(tb_thrift_read_double(&r) == 3.25);
            break;
        case 22: {
            uint8_t et;
            uint32_t n;
            assert_true(tb_thrift_list_begin(&r, &et, &n));
            assert_int_equal(et, TB_CT_I32);
            assert_int_equal(n, 20);
            for (int i = 0; i < 20; i++)
                assert_int_equal(tb_thrift_read_i32(&r), i - 10);
            break;
        }
        case 24:
            assert_false(tb_thrift_read_bool(&r, t));
            break;
        default:
            assert_int_equal(id, 23);
            assert_true(tb_thrift_skip(&r, t));
        }
        seen++;
    }
    tb_thrift_struct_end(&r);
    assert_true(tb_thrift_ok(&r));
    assert_int_equal(seen, 8);
    assert_int_equal(tb_thrift_pos(&r), buf.len);

    /* every truncation of the input fails cleanly (and says it was truncated) */
    for (size_t cut = 0; cut < buf.len; cut++) {
        tb_thrift_reader_init(&r, buf.data, cut);
        if (tb_thrift_struct_begin(&r))
            while (tb_thrift_field(&r, &id, &t) && tb_thrift_skip(&r, t))
                ;
        assert_false(tb_thrift_ok(&r));
        assert_true(r.truncated);
    }
    tb_buf_free(&buf);

    /* nesting beyond the limit is refused, not recursed into */
    uint8_t deep[200];
    for (size_t i = 0; i < sizeof(deep); i++)
        deep[i] = 0x1c; /* field delta 1, type struct */
    tb_thrift_reader_init(&r, deep, sizeof(deep));
    assert_true(tb_thrift_struct_begin(&r));
    assert_true(tb_thrift_field(&r, &id, &t));
    assert_false(tb_thrift_skip(&r, t));
    assert_false(r.truncated);

    /* a list claiming more elements than bytes */
    uint8_t big_list[] = {0xf5, 0xff, 0xff, 0xff, 0xff, 0x0f};
    uint8_t et;
    uint32_t n;
    tb_thrift_reader_init(&r, big_list, sizeof(big_list));
    assert_false(tb_thrift_list_begin(&r, &et, &n));
}

/* ---------------------------------------------------------------- codecs */

static void test_codecs(void **state)
{
    (void)state;
    tb_err err;
    size_t len = 300000;
    uint8_t *src = malloc(len), *dst = malloc(len + 16);
    assert_non_null(src);
    assert_non_null(dst);
    for (size_t i = 0; i < len; i++)
        src[i] = (uint8_t)((i * 7) % 13 + (i % 1000 == 0 ? i / 1000 : 0));
    int codecs[] = {TB_CODEC_UNCOMPRESSED, TB_CODEC_SNAPPY, TB_CODEC_GZIP,   TB_CODEC_BROTLI,
                    TB_CODEC_LZ4,          TB_CODEC_ZSTD,   TB_CODEC_LZ4_RAW};
    for (size_t k = 0; k < sizeof(codecs) / sizeof(codecs[0]); k++) {
        tb_buf out = {0};
        int c = codecs[k];
        assert_true(tb_codec_supported(c));
        assert_int_equal(tb_compress(c, src, len, &out, &err), TB_OK);
        memset(dst, 0, len);
        assert_int_equal(tb_decompress(c, (uint8_t *)out.data, out.len, dst, len, &err), TB_OK);
        assert_memory_equal(src, dst, len);
        /* the expected size is a hard cap: one byte less is an error, not an overflow */
        assert_int_not_equal(tb_decompress(c, (uint8_t *)out.data, out.len, dst, len - 1, &err),
                             TB_OK);
        if (c != TB_CODEC_UNCOMPRESSED) {
            /* corrupt input never crashes; it may only fail */
            for (size_t i = 0; i < out.len; i += 97)
                out.data[i] ^= 0x5a;
            (void)tb_decompress(c, (uint8_t *)out.data, out.len, dst, len, &err);
        }
        tb_buf_free(&out);
    }
    /* concatenated gzip members */
    tb_buf gz = {0};
    assert_int_equal(tb_compress(TB_CODEC_GZIP, src, 1000, &gz, &err), TB_OK);
    assert_int_equal(tb_compress(TB_CODEC_GZIP, src + 1000, 2000, &gz, &err), TB_OK);
    assert_int_equal(tb_decompress(TB_CODEC_GZIP, (uint8_t *)gz.data, gz.len, dst, 3000, &err),
                     TB_OK);
    assert_memory_equal(src, dst, 3000);
    tb_buf_free(&gz);
    /* raw LZ4 block under the (Hadoop) LZ4 codec id is accepted as a fallback */
    tb_buf raw = {0};
    assert_int_equal(tb_compress(TB_CODEC_LZ4_RAW, src, 5000, &raw, &err), TB_OK);
    assert_int_equal(tb_decompress(TB_CODEC_LZ4, (uint8_t *)raw.data, raw.len, dst, 5000, &err),
                     TB_OK);
    assert_memory_equal(src, dst, 5000);
    tb_buf_free(&raw);
    /* limits and unknown codecs */
    assert_int_equal(tb_decompress(TB_CODEC_ZSTD, src, 10, dst, TB_DECOMPRESS_MAX + 1, &err),
                     TB_E_LIMIT);
    assert_int_equal(tb_decompress(TB_CODEC_LZO, src, 10, dst, 10, &err), TB_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "LZO"));
    free(src);
    free(dst);
}

/* ---------------------------------------------------------------- encodings */

static void test_rle_hybrid(void **state)
{
    (void)state;
    enum { N = 5000 };
    uint32_t *vals = malloc(N * sizeof(uint32_t)), *back = malloc((N + 8) * sizeof(uint32_t));
    assert_non_null(vals);
    assert_non_null(back);
    for (int bw = 0; bw <= 32; bw += (bw < 4 ? 1 : 7)) {
        uint64_t mask = bw == 32 ? 0xffffffffu : (((uint64_t)1 << bw) - 1);
        uint64_t x = 88172645463325252ULL;
        for (int i = 0; i < N; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            /* runs and noise */
            vals[i] = (i / 100) % 2 ? (uint32_t)((i / 100) & mask) : (uint32_t)(x & mask);
        }
        tb_buf out = {0};
        assert_int_equal(tb_rle_encode(vals, N, bw, &out), TB_OK);
        tb_rle_dec d;
        tb_rle_dec_init(&d, (uint8_t *)out.data, out.len, bw);
        /* decode in uneven chunks */
        uint32_t got = 0;
        for (uint32_t k = 1; got < N; k = k * 3 % 997 + 1)
            got += tb_rle_dec_get(&d, back + got, TB_MIN(k, N - got));
        assert_int_equal(got, N);
        assert_memory_equal(vals, back, N * sizeof(uint32_t));
        assert_int_equal(tb_rle_dec_get(&d, back, 8), 0); /* padding only */
        tb_buf_free(&out);
    }
    /* a bit-packed run cut short by the end of the data yields what is there */
    uint8_t cut[] = {0x03 /* 1 group of 8, bw 4 */, 0x21, 0x43};
    tb_rle_dec d;
    tb_rle_dec_init(&d, cut, sizeof(cut), 4);
    assert_int_equal(tb_rle_dec_get(&d, back, 8), 4);
    assert_int_equal(back[0], 1);
    assert_int_equal(back[3], 4);
    /* an RLE value wider than the bit width is malformed */
    uint8_t wide[] = {0x10, 0x05};
    tb_rle_dec_init(&d, wide, sizeof(wide), 2);
    assert_int_equal(tb_rle_dec_get(&d, back, 1), 0);
    assert_true(d.bad);
    free(vals);
    free(back);
}

static void test_delta(void **state)
{
    (void)state;
    enum { N = 1000 };
    int64_t v64[N];
    uint64_t back[N];
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        v64[i] = i < 10 ? (i % 2 ? INT64_MIN : INT64_MAX) : i < 500 ? (int64_t)x : i * 3;
    }
    for (int is32 = 0; is32 < 2; is32++) {
        int64_t vals[N];
        for (int i = 0; i < N; i++)
            vals[i] = is32 ? (int32_t)v64[i] : v64[i];
        for (int n = 0; n <= N; n += (n < 5 ? 1 : 331)) {
            tb_buf out = {0};
            assert_int_equal(tb_delta_encode(vals, (size_t)n, is32 != 0, &out), TB_OK);
            const uint8_t *end;
            uint64_t total;
            assert_true(tb_delta_skip((uint8_t *)out.data, out.len, &end, &total));
            assert_int_equal(total, n);
            assert_ptr_equal(end, (uint8_t *)out.data + out.len);
            tb_delta_dec d;
            assert_true(tb_delta_dec_init(&d, (uint8_t *)out.data, out.len));
            uint32_t got = 0;
            for (uint32_t k = 7; got < (uint32_t)n; k = k * 5 % 301 + 1)
                got += tb_delta_dec_get(&d, back + got, TB_MIN(k, (uint32_t)n - got));
            assert_int_equal(got, n);
            for (int i = 0; i < n; i++) {
                if (is32)
                    assert_int_equal((int32_t)back[i], (int32_t)vals[i]);
                else
                    assert_true((int64_t)back[i] == vals[i]);
            }
            /* truncations fail cleanly */
            for (size_t cut = 0; cut + 1 < out.len; cut += 3)
                if (tb_delta_dec_init(&d, (uint8_t *)out.data, cut)) {
                    uint32_t g = 0, k;
                    while ((k = tb_delta_dec_get(&d, back, 64)) > 0)
                        g += k;
                    assert_true(g <= (uint32_t)n);
                }
            tb_buf_free(&out);
        }
    }
}

/* ---------------------------------------------------------------- metadata */

static void test_meta_roundtrip(void **state)
{
    (void)state;
    tb_err err;
    tb_pq_schema_element se[3];
    tb_pq_schema_element_init(&se[0]);
    se[0].name = "schema";
    se[0].num_children = 2;
    tb_pq_schema_element_init(&se[1]);
    se[1].name = "ts";
    se[1].type = TB_PQ_INT64;
    se[1].repetition = TB_PQ_OPTIONAL;
    se[1].has_logical = true;
    se[1].logical.kind = TB_PQ_LT_TIMESTAMP;
    se[1].logical.unit = TB_PQ_UNIT_NANOS;
    se[1].logical.utc = true;
    tb_pq_schema_element_init(&se[2]);
    se[2].name = "d";
    se[2].type = TB_PQ_FIXED_LEN_BYTE_ARRAY;
    se[2].type_length = 9;
    se[2].repetition = TB_PQ_REQUIRED;
    se[2].converted_type = TB_PQ_CT_DECIMAL;
    se[2].precision = 20;
    se[2].scale = 4;
    se[2].has_logical = true;
    se[2].logical.kind = TB_PQ_LT_DECIMAL;
    se[2].logical.precision = 20;
    se[2].logical.scale = 4;

    int32_t encs[] = {TB_PQ_ENC_PLAIN, TB_PQ_ENC_RLE};
    const char *path1[] = {"ts"}, *path2[] = {"d"};
    tb_pq_column_chunk cc[2];
    for (int i = 0; i < 2; i++) {
        tb_pq_column_chunk_init(&cc[i]);
        cc[i].has_meta = true;
        cc[i].meta.type = se[1 + i].type;
        cc[i].meta.n_encodings = 2;
        cc[i].meta.encodings = encs;
        cc[i].meta.n_path = 1;
        cc[i].meta.path = i == 0 ? path1 : path2;
        cc[i].meta.codec = TB_CODEC_ZSTD;
        cc[i].meta.num_values = 10;
        cc[i].meta.total_compressed_size = 100 + i;
        cc[i].meta.total_uncompressed_size = 200 + i;
        cc[i].meta.data_page_offset = 4 + 100 * i;
        cc[i].meta.has_statistics = true;
        cc[i].meta.statistics.null_count = i;
        cc[i].meta.statistics.min_value = (tb_pq_bytes){(const uint8_t *)"abc", 3, true};
    }
    tb_pq_row_group rg;
    tb_pq_row_group_init(&rg);
    rg.n_columns = 2;
    rg.columns = cc;
    rg.num_rows = 10;
    rg.total_byte_size = 401;
    tb_pq_kv kv = {"k", "v"};
    tb_pq_file_meta m;
    memset(&m, 0, sizeof(m));
    m.version = 2;
    m.n_schema = 3;
    m.schema = se;
    m.num_rows = 10;
    m.n_row_groups = 1;
    m.row_groups = &rg;
    m.n_kv = 1;
    m.kv = &kv;
    m.created_by = "tributary";
    m.n_column_orders = 2;

    tb_buf buf = {0};
    assert_int_equal(tb_pq_encode_file_meta(&m, &buf, &err), TB_OK);
    tb_arena *arena = tb_arena_new(0);
    tb_pq_file_meta d;
    assert_int_equal(tb_pq_decode_file_meta((uint8_t *)buf.data, buf.len, arena, &d, &err), TB_OK);
    assert_int_equal(d.version, 2);
    assert_int_equal(d.n_schema, 3);
    assert_string_equal(d.schema[1].name, "ts");
    assert_int_equal(d.schema[1].logical.kind, TB_PQ_LT_TIMESTAMP);
    assert_int_equal(d.schema[1].logical.unit, TB_PQ_UNIT_NANOS);
    assert_true(d.schema[1].logical.utc);
    assert_int_equal(d.schema[2].type_length, 9);
    assert_int_equal(d.schema[2].logical.precision, 20);
    assert_int_equal(d.schema[2].logical.scale, 4);
    assert_int_equal(d.schema[2].scale, 4);
    assert_int_equal(d.n_row_groups, 1);
    assert_int_equal(d.row_groups[0].n_columns, 2);
    assert_int_equal(d.row_groups[0].columns[1].meta.total_compressed_size, 101);
    assert_int_equal(d.row_groups[0].columns[1].meta.data_page_offset, 104);
    assert_int_equal(d.row_groups[0].columns[1].meta.codec, TB_CODEC_ZSTD);
    assert_string_equal(d.row_groups[0].columns[1].meta.path[0], "d");
    assert_int_equal(d.row_groups[0].columns[1].meta.statistics.null_count, 1);
    assert_int_equal(d.row_groups[0].columns[1].meta.statistics.min_value.len, 3);
    assert_int_equal(d.row_groups[0].columns[0].meta.dictionary_page_offset, -1);
    assert_string_equal(d.kv[0].value, "v");
    assert_string_equal(d.created_by, "tributary");
    assert_int_equal(d.n_column_orders, 2);
    assert_false(d.encrypted);
    /* truncated footers fail without crashing */
    for (size_t cut = 0; cut < buf.len; cut++) {
        tb_arena_reset(arena);
        assert_int_not_equal(tb_pq_decode_file_meta((uint8_t *)buf.data, cut, arena, &d, &err),
                             TB_OK);
    }
    tb_arena_free(arena);
    tb_buf_free(&buf);

    /* page headers */
    tb_pq_page_header ph, back;
    tb_pq_page_header_init(&ph);
    ph.type = TB_PQ_PAGE_DATA_V2;
    ph.uncompressed_page_size = 1000;
    ph.compressed_page_size = 500;
    ph.has_crc = true;
    ph.crc = -5;
    ph.has_data_v2 = true;
    ph.data_v2.num_values = 10;
    ph.data_v2.num_nulls = 2;
    ph.data_v2.num_rows = 10;
    ph.data_v2.encoding = TB_PQ_ENC_DELTA_BINARY_PACKED;
    ph.data_v2.definition_levels_byte_length = 3;
    ph.data_v2.is_compressed = false;
    assert_int_equal(tb_pq_encode_page_header(&ph, &buf, &err), TB_OK);
    size_t hlen;
    bool trunc;
    assert_int_equal(
        tb_pq_decode_page_header((uint8_t *)buf.data, buf.len, &back, &hlen, &trunc, &err), TB_OK);
    assert_int_equal(hlen, buf.len);
    assert_int_equal(back.type, TB_PQ_PAGE_DATA_V2);
    assert_int_equal(back.crc, -5);
    assert_true(back.has_data_v2);
    assert_int_equal(back.data_v2.num_nulls, 2);
    assert_int_equal(back.data_v2.encoding, TB_PQ_ENC_DELTA_BINARY_PACKED);
    assert_int_equal(back.data_v2.definition_levels_byte_length, 3);
    assert_false(back.data_v2.is_compressed);
    assert_int_not_equal(
        tb_pq_decode_page_header((uint8_t *)buf.data, buf.len - 1, &back, &hlen, &trunc, &err),
        TB_OK);
    assert_true(trunc);
    tb_buf_free(&buf);
}

/* ---------------------------------------------------------------- synthetic files */

/*
 * A small Parquet writer built from the module's encoders (the real writer lives
 * elsewhere): flat INT32/INT64/BYTE_ARRAY columns, optional ones with RLE definition
 * levels, PLAIN or DELTA encodings, v1 or v2 pages, any codec. Values are a function of
 * (column, row) so reads can be checked without storing them.
 */
typedef struct wcol {
    const char *name;
    int phys; /* TB_PQ_INT32, TB_PQ_INT64, TB_PQ_BYTE_ARRAY */
    bool optional;
    int enc;     /* PLAIN, DELTA_BINARY_PACKED (ints), DELTA_LENGTH_/DELTA_BYTE_ARRAY (strings) */
    int decimal; /* > 0: annotate DECIMAL(decimal, 2) instead of UTF8 / nothing */
} wcol;

typedef struct wopts {
    int codec;
    bool v2;
    uint32_t rows_per_rg;
    uint32_t rows_per_page;
    int32_t fake_usize; /* > 0: claim this uncompressed size for every page */
} wopts;

static bool wnull(int c, int64_t r) { return (r + c) % 5 == 3; }

static int64_t wval(int c, int64_t r) { return (r * 7919 + c * 1000003) % 200003 - 100000; }

/* String values: g_pad 'x's then "s<value>" (a long shared prefix when g_pad is big). */
static size_t g_pad;

typedef struct wbuf {
    char *data;
    size_t len;
} wbuf;

/* (plain malloc: the value checks must not be hit by injected allocation faults) */
static void wstr(int64_t v, wbuf *out)
{
    out->data = malloc(g_pad + 32);
    assert_non_null(out->data);
    memset(out->data, 'x', g_pad);
    out->len = g_pad + (size_t)snprintf(out->data + g_pad, 32, "s%lld", (long long)v);
}

static void le32put(tb_buf *b, uint32_t v)
{
    uint8_t t[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    tb_buf_append(b, t, 4);
}

static void write_pq(const char *path, const wcol *cols, int n_cols, int64_t n_rows, const wopts *o)
{
    tb_err err;
    tb_buf file = {0};
    tb_arena *arena = tb_arena_new(0);
    uint32_t n_rg = (uint32_t)((n_rows + o->rows_per_rg - 1) / o->rows_per_rg);
    tb_pq_row_group *rgs = tb_arena_zalloc(arena, sizeof(tb_pq_row_group) * (n_rg + 1));
    tb_buf_append(&file, "PAR1", 4);
    for (uint32_t g = 0; g < n_rg; g++) {
        int64_t r0 = (int64_t)g * o->rows_per_rg;
        int64_t r1 = TB_MIN(n_rows, r0 + o->rows_per_rg);
        tb_pq_row_group *rg = &rgs[g];
        tb_pq_row_group_init(rg);
        rg->num_rows = r1 - r0;
        rg->n_columns = (uint32_t)n_cols;
        rg->columns = tb_arena_zalloc(arena, sizeof(tb_pq_column_chunk) * (size_t)n_cols);
        for (int c = 0; c < n_cols; c++) {
            const wcol *wc = &cols[c];
            size_t start = file.len, usum = 0;
            for (int64_t p0 = r0; p0 < r1; p0 += o->rows_per_page) {
                int64_t p1 = TB_MIN(r1, p0 + o->rows_per_page);
                uint32_t k = (uint32_t)(p1 - p0), nulls = 0;
                tb_buf lv = {0}, vals = {0}, body = {0}, comp = {0}, hdr = {0};
                uint32_t *defs = malloc(sizeof(uint32_t) * k);
                int64_t *ints = malloc(sizeof(int64_t) * k);
                uint32_t m = 0;
                for (uint32_t i = 0; i < k; i++) {
                    bool nul = wc->optional && wnull(c, p0 + i);
                    defs[i] = !nul;
                    nulls += nul;
                    if (!nul)
                        ints[m++] =
                            wc->phys == TB_PQ_INT32 ? (int32_t)wval(c, p0 + i) : wval(c, p0 + i);
                }
                if (wc->optional)
                    assert_int_equal(tb_rle_encode(defs, k, 1, &lv), TB_OK);
                if (wc->phys == TB_PQ_BYTE_ARRAY) {
                    int64_t *lens = malloc(sizeof(int64_t) * (m + 1));
                    int64_t *pre = malloc(sizeof(int64_t) * (m + 1));
                    tb_buf bytes = {0}, prev = {0};
                    for (uint32_t i = 0; i < m; i++) {
                        wbuf t;
                        wstr(ints[i], &t);
                        size_t n = t.len, pl = 0;
                        if (wc->enc == TB_PQ_ENC_DELTA_BYTE_ARRAY) {
                            while (pl < n && pl < prev.len && prev.data[pl] == t.data[pl])
                                pl++;
                            prev.len = 0;
                            tb_buf_append(&prev, t.data, n);
                        }
                        pre[i] = (int64_t)pl;
                        lens[i] = (int64_t)(n - pl);
                        if (wc->enc == TB_PQ_ENC_PLAIN)
                            le32put(&vals, (uint32_t)n);
                        tb_buf_append(wc->enc == TB_PQ_ENC_PLAIN ? &vals : &bytes, t.data + pl,
                                      n - pl);
                        free(t.data);
                    }
                    if (wc->enc == TB_PQ_ENC_DELTA_BYTE_ARRAY)
                        assert_int_equal(tb_delta_encode(pre, m, true, &vals), TB_OK);
                    if (wc->enc != TB_PQ_ENC_PLAIN) {
                        assert_int_equal(tb_delta_encode(lens, m, true, &vals), TB_OK);
                        tb_buf_append(&vals, bytes.data, bytes.len);
                    }
                    tb_buf_free(&bytes);
                    tb_buf_free(&prev);
                    free(lens);
                    free(pre);
                } else if (wc->enc == TB_PQ_ENC_PLAIN) {
                    for (uint32_t i = 0; i < m; i++) {
                        if (wc->phys == TB_PQ_INT32) {
                            int32_t v = (int32_t)ints[i];
                            tb_buf_append(&vals, &v, 4);
                        } else {
                            tb_buf_append(&vals, &ints[i], 8);
                        }
                    }
                } else {
                    assert_int_equal(tb_delta_encode(ints, m, wc->phys == TB_PQ_INT32, &vals),
                                     TB_OK);
                }
                tb_pq_page_header ph;
                tb_pq_page_header_init(&ph);
                if (!o->v2) {
                    if (wc->optional) {
                        le32put(&body, (uint32_t)lv.len);
                        tb_buf_append(&body, lv.data, lv.len);
                    }
                    tb_buf_append(&body, vals.data, vals.len);
                    assert_int_equal(
                        tb_compress(o->codec, (uint8_t *)body.data, body.len, &comp, &err), TB_OK);
                    ph.type = TB_PQ_PAGE_DATA;
                    ph.uncompressed_page_size = (int32_t)body.len;
                    ph.compressed_page_size = (int32_t)comp.len;
                    ph.has_data = true;
                    ph.data.num_values = (int32_t)k;
                    ph.data.encoding = wc->enc;
                    ph.data.definition_level_encoding = TB_PQ_ENC_RLE;
                    ph.data.repetition_level_encoding = TB_PQ_ENC_RLE;
                } else {
                    tb_buf_append(&comp, lv.data, lv.len);
                    assert_int_equal(
                        tb_compress(o->codec, (uint8_t *)vals.data, vals.len, &comp, &err), TB_OK);
                    ph.type = TB_PQ_PAGE_DATA_V2;
                    ph.uncompressed_page_size = (int32_t)(lv.len + vals.len);
                    ph.compressed_page_size = (int32_t)comp.len;
                    ph.has_data_v2 = true;
                    ph.data_v2.num_values = (int32_t)k;
                    ph.data_v2.num_rows = (int32_t)k;
                    ph.data_v2.num_nulls = (int32_t)nulls;
                    ph.data_v2.encoding = wc->enc;
                    ph.data_v2.definition_levels_byte_length = (int32_t)lv.len;
                }
                if (o->fake_usize > 0)
                    ph.uncompressed_page_size = o->fake_usize;
                usum += (size_t)ph.uncompressed_page_size;
                assert_int_equal(tb_pq_encode_page_header(&ph, &hdr, &err), TB_OK);
                usum += hdr.len;
                tb_buf_append(&file, hdr.data, hdr.len);
                tb_buf_append(&file, comp.data, comp.len);
                tb_buf_free(&lv);
                tb_buf_free(&vals);
                tb_buf_free(&body);
                tb_buf_free(&comp);
                tb_buf_free(&hdr);
                free(defs);
                free(ints);
            }
            tb_pq_column_chunk *cc = &rg->columns[c];
            tb_pq_column_chunk_init(cc);
            cc->file_offset = (int64_t)start;
            cc->has_meta = true;
            cc->meta.type = wc->phys;
            cc->meta.n_encodings = 2;
            cc->meta.encodings = tb_arena_zalloc(arena, 2 * sizeof(int32_t));
            cc->meta.encodings[0] = wc->enc;
            cc->meta.encodings[1] = TB_PQ_ENC_RLE;
            cc->meta.n_path = 1;
            cc->meta.path = tb_arena_zalloc(arena, sizeof(char *));
            cc->meta.path[0] = wc->name;
            cc->meta.codec = o->codec;
            cc->meta.num_values = rg->num_rows;
            cc->meta.total_compressed_size = (int64_t)(file.len - start);
            cc->meta.total_uncompressed_size = (int64_t)usum;
            cc->meta.data_page_offset = (int64_t)start;
            rg->total_byte_size += (int64_t)usum;
        }
    }
    tb_pq_schema_element *se = tb_arena_zalloc(arena, sizeof(*se) * (size_t)(n_cols + 1));
    tb_pq_schema_element_init(&se[0]);
    se[0].name = "schema";
    se[0].num_children = n_cols;
    for (int c = 0; c < n_cols; c++) {
        tb_pq_schema_element_init(&se[c + 1]);
        se[c + 1].name = cols[c].name;
        se[c + 1].type = cols[c].phys;
        se[c + 1].repetition = cols[c].optional ? TB_PQ_OPTIONAL : TB_PQ_REQUIRED;
        if (cols[c].decimal > 0) {
            se[c + 1].converted_type = TB_PQ_CT_DECIMAL;
            se[c + 1].precision = cols[c].decimal;
            se[c + 1].scale = 2;
        } else if (cols[c].phys == TB_PQ_BYTE_ARRAY) {
            se[c + 1].converted_type = TB_PQ_CT_UTF8;
        }
    }
    tb_pq_file_meta m;
    memset(&m, 0, sizeof(m));
    m.version = 1;
    m.n_schema = (uint32_t)n_cols + 1;
    m.schema = se;
    m.num_rows = n_rows;
    m.n_row_groups = n_rg;
    m.row_groups = rgs;
    m.created_by = "test_parquet";
    size_t foot = file.len;
    assert_int_equal(tb_pq_encode_file_meta(&m, &file, &err), TB_OK);
    le32put(&file, (uint32_t)(file.len - foot));
    tb_buf_append(&file, "PAR1", 4);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(file.data, 1, file.len, fp), file.len);
    fclose(fp);
    tb_buf_free(&file);
    tb_arena_free(arena);
}

/* Read path(s) with projection proj and check every value against wval/wnull. Returns
 * the rc of the first failing call (TB_OK when everything was read and matched). */
static tb_rc read_check(const tb_strlist *paths, const wcol *cols, const int *proj, uint32_t n_proj,
                        int64_t rows_per_file, tb_err *err)
{
    tb_source *src = NULL;
    tb_arena *arena = tb_arena_new(0);
    if (arena == NULL)
        return TB_E_NOMEM; /* fault injection */
    tb_rc rc = tb_parquet_source_new(paths, proj, n_proj, &src, err);
    int64_t row = 0;
    while (rc == TB_OK) {
        tb_batch *batch;
        tb_arena_reset(arena);
        rc = tb_source_next(src, arena, &batch, err);
        if (rc != TB_OK || batch == NULL)
            break;
        assert_int_equal(batch->n_cols, n_proj);
        for (uint32_t j = 0; j < n_proj; j++) {
            int c = proj[j];
            for (uint32_t r = 0; r < batch->n_rows; r++) {
                int64_t fr = (row + r) % rows_per_file;
                tb_value v;
                tb_vec_get(&batch->cols[j], r, &v);
                bool nul = cols[c].optional && wnull(c, fr);
                assert_int_equal(v.is_null, nul);
                if (nul)
                    continue;
                int64_t want = cols[c].phys == TB_PQ_INT32 ? (int32_t)wval(c, fr) : wval(c, fr);
                if (cols[c].decimal > 38) {
                    /* numeric wider than 38 digits reads as double: the big-endian
                     * two's complement bytes / 10^scale */
                    wbuf t;
                    double x = 0;
                    wstr(want, &t);
                    for (size_t b = 0; b < t.len; b++)
                        x = x * 256 + (b == 0 ? (double)(int8_t)t.data[0] : (uint8_t)t.data[b]);
                    free(t.data);
                    assert_int_equal(v.type.id, TB_T_DOUBLE);
                    assert_true(fabs(v.u.d - x / 100) <= fabs(x / 100) * 1e-15);
                } else if (cols[c].decimal > 0) {
                    wbuf t;
                    tb_i128 x = 0;
                    wstr(want, &t);
                    for (size_t b = 0; b < t.len; b++)
                        x = x * 256 + (uint8_t)t.data[b]; /* 's' first: positive */
                    free(t.data);
                    assert_int_equal(v.type.id, TB_T_DECIMAL);
                    assert_int_equal(v.type.precision, cols[c].decimal);
                    assert_true(v.u.dec == x);
                } else if (cols[c].phys == TB_PQ_BYTE_ARRAY) {
                    wbuf t;
                    wstr(want, &t);
                    assert_int_equal(v.u.s.len, t.len);
                    assert_memory_equal(v.u.s.ptr, t.data, t.len);
                    free(t.data);
                } else {
                    assert_true(v.u.i == want);
                }
            }
        }
        row += batch->n_rows;
    }
    if (rc == TB_OK) {
        assert_int_equal(row, rows_per_file * (int64_t)paths->n);
        assert_int_equal(src->stats.rows_read, row);
        assert_int_equal(src->stats.files_done, paths->n);
        assert_true(src->stats.bytes_read > 12 * paths->n);
    }
    tb_source_free(src);
    tb_arena_free(arena);
    return rc;
}

static const wcol synth_cols[] = {
    {"a", TB_PQ_INT64, true, TB_PQ_ENC_PLAIN, 0},
    {"b", TB_PQ_BYTE_ARRAY, true, TB_PQ_ENC_PLAIN, 0},
    {"c", TB_PQ_INT32, false, TB_PQ_ENC_DELTA_BINARY_PACKED, 0},
    {"d", TB_PQ_INT64, true, TB_PQ_ENC_DELTA_BINARY_PACKED, 0},
    {"e", TB_PQ_BYTE_ARRAY, false, TB_PQ_ENC_DELTA_LENGTH_BYTE_ARRAY, 0},
    {"f", TB_PQ_BYTE_ARRAY, true, TB_PQ_ENC_DELTA_BYTE_ARRAY, 0},
};

static void tmp_path(char *buf, size_t cap, const char *name)
{
    const char *t = getenv("TMPDIR");
    fmt(buf, cap, "%s/tb_test_parquet_%d_%s", t != NULL ? t : "/tmp", (int)getpid(), name);
}

static void test_synthetic(void **state)
{
    (void)state;
    char path[512];
    tb_err err;
    tmp_path(path, sizeof(path), "synth.parquet");
    int codecs[] = {TB_CODEC_UNCOMPRESSED, TB_CODEC_SNAPPY, TB_CODEC_GZIP, TB_CODEC_ZSTD,
                    TB_CODEC_LZ4_RAW,      TB_CODEC_BROTLI, TB_CODEC_LZ4};
    int proj[] = {4, 2, 5, 0, 3, 1};
    for (size_t k = 0; k < sizeof(codecs) / sizeof(codecs[0]); k++) {
        for (int v2 = 0; v2 < 2; v2++) {
            wopts o = {codecs[k], v2 != 0, 3000, 700, 0};
            g_pad = k % 3 == 0 ? 0 : k * 5; /* long shared prefixes for DELTA_BYTE_ARRAY */
            write_pq(path, synth_cols, 6, 7001, &o);
            tb_strlist paths = {0};
            tb_strlist_push(&paths, path);
            assert_int_equal(read_check(&paths, synth_cols, proj, 6, 7001, &err), TB_OK);
            assert_int_equal(read_check(&paths, synth_cols, proj + 2, 1, 7001, &err), TB_OK);
            tb_strlist_free(&paths);
        }
    }
    /* BYTE_ARRAY decimals: numeric(30,2), and precision 40 -> double precision; with
     * g_pad = 10 the values are 17 to 18 bytes wide, more than numeric(30) can hold */
    static const wcol dec_cols[] = {
        {"n30", TB_PQ_BYTE_ARRAY, true, TB_PQ_ENC_PLAIN, 30},
        {"n40", TB_PQ_BYTE_ARRAY, false, TB_PQ_ENC_DELTA_BYTE_ARRAY, 40},
    };
    int dproj[] = {0, 1};
    wopts od = {TB_CODEC_SNAPPY, false, 1000, 333, 0};
    g_pad = 0;
    write_pq(path, dec_cols, 2, 2000, &od);
    tb_strlist dpaths = {0};
    tb_strlist_push(&dpaths, path);
    assert_int_equal(read_check(&dpaths, dec_cols, dproj, 2, 2000, &err), TB_OK);
    g_pad = 10;
    write_pq(path, dec_cols, 2, 2000, &od);
    assert_int_equal(read_check(&dpaths, dec_cols, dproj, 2, 2000, &err), TB_E_RANGE);
    assert_non_null(strstr(err.msg, "does not fit 38 digits"));
    tb_strlist_free(&dpaths);
    g_pad = 0;
    unlink(path);
}

static void test_multi_file(void **state)
{
    (void)state;
    char p1[512], p2[512], p3[512];
    tb_err err;
    wopts o = {TB_CODEC_SNAPPY, false, 1000, 300, 0};
    tmp_path(p1, sizeof(p1), "m1.parquet");
    tmp_path(p2, sizeof(p2), "m2.parquet");
    tmp_path(p3, sizeof(p3), "m3.parquet");
    write_pq(p1, synth_cols, 5, 2500, &o);
    write_pq(p2, synth_cols, 5, 2500, &o);
    write_pq(p3, synth_cols, 4, 2500, &o); /* one column fewer */
    tb_strlist paths = {0};
    tb_strlist_push(&paths, p1);
    tb_strlist_push(&paths, p2);
    int proj[] = {1, 3};
    assert_int_equal(read_check(&paths, synth_cols, proj, 2, 2500, &err), TB_OK);
    /* row counts only */
    assert_int_equal(read_check(&paths, synth_cols, NULL, 0, 2500, &err), TB_OK);
    /* a later file with another schema: an error naming it */
    tb_strlist_push(&paths, p3);
    assert_int_equal(read_check(&paths, synth_cols, proj, 2, 2500, &err), TB_E_TYPE);
    assert_non_null(strstr(err.msg, p3));
    assert_non_null(strstr(err.msg, "schema differs"));
    /* bad projection */
    int bad = 7;
    tb_source *src = NULL;
    assert_int_equal(tb_parquet_source_new(&paths, &bad, 1, &src, &err), TB_E_MISUSE);
    /* schema helper */
    tb_schema *sc = NULL;
    assert_int_equal(tb_parquet_read_schema(p1, &sc, &err), TB_OK);
    assert_int_equal(sc->n, 5);
    assert_string_equal(sc->fields[1].name, "b");
    assert_int_equal(sc->fields[1].type.id, TB_T_STRING);
    assert_int_equal(sc->fields[2].type.id, TB_T_INT32);
    assert_false(sc->fields[2].nullable);
    tb_schema_free(sc);
    assert_int_equal(tb_parquet_read_schema("/nonexistent/x.parquet", &sc, &err), TB_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/x.parquet"));
    tb_strlist_free(&paths);
    unlink(p1);
    unlink(p2);
    unlink(p3);
}

/* Pages claiming absurd sizes are refused before any allocation. */
static void test_limits(void **state)
{
    (void)state;
    char path[512];
    tb_err err;
    tb_strlist paths = {0};
    int proj[] = {0};
    tmp_path(path, sizeof(path), "limits.parquet");
    tb_strlist_push(&paths, path);

    wopts o = {TB_CODEC_ZSTD, false, 1000, 1000, (int32_t)(1536u << 20)}; /* 1.5 GiB */
    write_pq(path, synth_cols, 1, 1000, &o);
    assert_int_equal(read_check(&paths, synth_cols, proj, 1, 1000, &err), TB_E_LIMIT);
    assert_non_null(strstr(err.msg, "exceeds"));
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "column 'a'"));

    /* a page claiming a smaller size than its data decompresses to */
    o.fake_usize = 100;
    write_pq(path, synth_cols, 1, 1000, &o);
    assert_int_equal(read_check(&paths, synth_cols, proj, 1, 1000, &err), TB_E_CORRUPT);
    assert_non_null(strstr(err.msg, "ZSTD"));

    /* DELTA_BYTE_ARRAY: 2048 values sharing a 270 KB prefix would build 550 MB from a page
     * of 270 KB; the per-batch string cap (512 MiB) stops it */
    {
        static const wcol dba[] = {{"s", TB_PQ_BYTE_ARRAY, false, TB_PQ_ENC_DELTA_BYTE_ARRAY, 0}};
        wopts od = {TB_CODEC_UNCOMPRESSED, false, 2048, 2048, 0};
        g_pad = 270000;
        write_pq(path, dba, 1, 2048, &od);
        g_pad = 0;
        assert_int_equal(read_check(&paths, dba, proj, 1, 2048, &err), TB_E_LIMIT);
        assert_non_null(strstr(err.msg, "in one batch"));
    }

    /* every truncation of a small file fails with a clear error (never crashes) */
    o.fake_usize = 0;
    o.codec = TB_CODEC_SNAPPY;
    write_pq(path, synth_cols, 5, 300, &o);
    FILE *fp = fopen(path, "rb");
    char *data = malloc(1 << 16);
    size_t len = fread(data, 1, 1 << 16, fp);
    fclose(fp);
    int proj5[] = {0, 1, 2, 3, 4};
    for (size_t cut = 0; cut < len; cut += 7) {
        fp = fopen(path, "wb");
        fwrite(data, 1, cut, fp);
        if (cut > 8) /* keep a tail so that the footer length and magic are found */
            fwrite(data + len - 8, 1, 8, fp);
        fclose(fp);
        tb_rc rc = read_check(&paths, synth_cols, proj5, 5, 300, &err);
        assert_int_not_equal(rc, TB_OK);
        assert_non_null(strstr(err.msg, "parquet: "));
    }
    free(data);
    tb_strlist_free(&paths);
    unlink(path);
}

/* Allocation failures anywhere give TB_E_NOMEM (or another clean error), never a crash or
 * a leak. */
static void test_faults(void **state)
{
    (void)state;
    char path[512];
    tb_err err;
    tmp_path(path, sizeof(path), "faults.parquet");
    wopts o = {TB_CODEC_GZIP, true, 200, 90, 0};
    write_pq(path, synth_cols, 5, 500, &o);
    tb_strlist paths = {0};
    tb_strlist_push(&paths, path);
    int proj[] = {0, 1, 2, 3, 4};
    long n;
    for (n = 1; n < 100000; n++) {
        tb_fault_arm(n);
        tb_rc rc = read_check(&paths, synth_cols, proj, 5, 500, &err);
        bool fired = tb_fault_fired();
        tb_fault_arm(0);
        if (!fired) {
            assert_int_equal(rc, TB_OK);
            break;
        }
        assert_int_not_equal(rc, TB_OK);
    }
    assert_true(n > 5);
    tb_strlist_free(&paths);
    unlink(path);
}

/*
 * large_string_map.brotli.parquet expands to over 2 GB (two 1 GiB strings in a MAP). Its
 * only column is nested, so it is refused when selected; to exercise the page size cap
 * too, rewrite its footer so that the key column looks flat and read it: the dictionary
 * page claims more than TB_DECOMPRESS_MAX and must be refused before any allocation.
 */
static void test_large_string_map(void **state)
{
    (void)state;
    char src[2048], path[512];
    tb_err err;
    fmt(src, sizeof(src), "%s/parquet-testing/large_string_map.brotli.parquet", testdata());
    if (!is_file(src)) {
        print_message("SKIP: %s not found (set TB_TESTDATA)\n", src);
        skip();
    }
    tb_parquet_file *pf;
    assert_int_equal(tb_parquet_open(src, &pf, &err), TB_OK);
    assert_true(tb_parquet_column_nested(pf, 0));
    assert_int_equal(tb_parquet_num_rows(pf), 2);
    const tb_pq_file_meta *m = tb_parquet_meta(pf);
    assert_true(m->n_row_groups == 1 && m->row_groups[0].n_columns == 2);

    /* the same data with a flat footer: root -> key (BYTE_ARRAY, required) */
    tb_pq_schema_element se[2];
    tb_pq_schema_element_init(&se[0]);
    se[0].name = "schema";
    se[0].num_children = 1;
    tb_pq_schema_element_init(&se[1]);
    se[1].name = "key";
    se[1].type = TB_PQ_BYTE_ARRAY;
    se[1].repetition = TB_PQ_REQUIRED;
    tb_pq_row_group rg = m->row_groups[0];
    rg.n_columns = 1;
    tb_pq_file_meta fm = *m;
    fm.n_schema = 2;
    fm.schema = se;
    fm.row_groups = &rg;
    fm.n_row_groups = 1;
    tb_buf file = {0};
    FILE *fp = fopen(src, "rb");
    assert_non_null(fp);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        tb_buf_append(&file, chunk, n);
    fclose(fp);
    uint32_t flen;
    memcpy(&flen, file.data + file.len - 8, 4);
    file.len -= 8 + flen; /* drop the old footer */
    size_t foot = file.len;
    assert_int_equal(tb_pq_encode_file_meta(&fm, &file, &err), TB_OK);
    le32put(&file, (uint32_t)(file.len - foot));
    tb_buf_append(&file, "PAR1", 4);
    tb_parquet_close(pf);
    tmp_path(path, sizeof(path), "large_string_map_flat.parquet");
    fp = fopen(path, "wb");
    assert_int_equal(fwrite(file.data, 1, file.len, fp), file.len);
    fclose(fp);
    tb_buf_free(&file);

    tb_strlist paths = {0};
    tb_source *s = NULL;
    tb_arena *arena = tb_arena_new(0);
    tb_batch *batch;
    int proj[] = {0};
    tb_strlist_push(&paths, path);
    assert_int_equal(tb_parquet_source_new(&paths, proj, 1, &s, &err), TB_OK);
    assert_int_equal(tb_source_next(s, arena, &batch, &err), TB_E_LIMIT);
    assert_non_null(strstr(err.msg, "exceeds"));
    assert_non_null(strstr(err.msg, "column 'key'"));
    tb_source_free(s);
    tb_arena_free(arena);
    tb_strlist_free(&paths);
    unlink(path);
}

/* ---------------------------------------------------------------- CSV expectations */

typedef struct field {
    char *s;
    size_t len;
    bool quoted;
} field;

typedef struct record {
    field *f;
    size_t n;
} record;

typedef struct csv {
    record *r;
    size_t n;
    char *data;
} csv;

static void csv_free(csv *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->r[i].f);
    free(c->r);
    free(c->data);
    memset(c, 0, sizeof(*c));
}

/* RFC 4180; fields point into (unescaped in place) data. */
static bool csv_load(const char *path, csv *c)
{
    memset(c, 0, sizeof(*c));
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return false;
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    c->data = malloc((size_t)sz + 1);
    if (c->data == NULL || fread(c->data, 1, (size_t)sz, fp) != (size_t)sz) {
        fclose(fp);
        return false;
    }
    fclose(fp);
    char *p = c->data, *end = c->data + sz;
    size_t rcap = 0;
    while (p < end) {
        record rec = {NULL, 0};
        size_t fcap = 0;
        for (;;) {
            field f = {p, 0, false};
            if (p < end && *p == '"') {
                char *o = ++p;
                f.s = o;
                f.quoted = true;
                while (p < end) {
                    if (*p == '"') {
                        if (p + 1 < end && p[1] == '"') {
                            *o++ = '"';
                            p += 2;
                            continue;
                        }
                        p++;
                        break;
                    }
                    *o++ = *p++;
                }
                f.len = (size_t)(o - f.s);
            } else {
                while (p < end && *p != ',' && *p != '\n' && *p != '\r')
                    p++;
                f.len = (size_t)(p - f.s);
            }
            if (rec.n == fcap) {
                fcap = fcap ? fcap * 2 : 16;
                rec.f = realloc(rec.f, fcap * sizeof(field));
            }
            rec.f[rec.n++] = f;
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            if (p < end && *p == '\r')
                p++;
            if (p < end && *p == '\n')
                p++;
            break;
        }
        if (c->n == rcap) {
            rcap = rcap ? rcap * 2 : 256;
            c->r = realloc(c->r, rcap * sizeof(record));
        }
        c->r[c->n++] = rec;
    }
    return true;
}

/* The escaping of gen_parquet_expect.mjs. */
static void escape_text(const char *s, size_t n, tb_buf *out)
{
    bool valid = tb_utf8_valid(s, n);
    for (size_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)s[i];
        if (b == '\\')
            tb_buf_puts(out, "\\\\");
        else if (b < 0x20 || b == 0x7f || (!valid && b >= 0x80))
            tb_buf_printf(out, "\\x%02x", b);
        else
            tb_buf_putc(out, (char)b);
    }
}

static bool float_match(const field *f, double v, bool is_float)
{
    char tmp[128];
    if (f->len >= sizeof(tmp))
        return false;
    memcpy(tmp, f->s, f->len);
    tmp[f->len] = '\0';
    char *e;
    double x = is_float ? (double)strtof(tmp, &e) : strtod(tmp, &e);
    if (e == tmp || *e != '\0')
        return false;
    if (isnan(x) || isnan(v))
        return isnan(x) && isnan(v);
    return x == v && signbit(x) == signbit(v);
}

/* ---------------------------------------------------------------- parquet-testing */

typedef struct outcome {
    int passed, failed, skipped;
    tb_buf report;
} outcome;

static void note(outcome *o, const char *kind, const char *file, const char *fmt, ...)
    TB_PRINTF(4, 5);
static void note(outcome *o, const char *kind, const char *file, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    tb_buf_printf(&o->report, "  %s %s: %s\n", kind, file, msg);
}

/* Files DuckDB cannot read but whose twin holds the same values (see the generator). */
static const char *twin_of(const char *rel)
{
    static const char *twins[][2] = {
        {"hadoop_lz4_compressed.parquet", "lz4_raw_compressed.parquet.csv"},
        {"non_hadoop_lz4_compressed.parquet", "lz4_raw_compressed.parquet.csv"},
        {"hadoop_lz4_compressed_larger.parquet", "lz4_raw_compressed_larger.parquet.csv"},
    };
    for (size_t i = 0; i < sizeof(twins) / sizeof(twins[0]); i++)
        if (strcmp(rel, twins[i][0]) == 0)
            return twins[i][1];
    return NULL;
}

/* Find the expectation CSV of rel; false if none. */
static bool expectation(const char *dir, const char *rel, char *out, size_t cap)
{
    char base[1024];
    fmt(base, sizeof(base), "%s", rel);
    char *dot = strstr(base, ".parquet");
    if (dot != NULL) {
        *dot = '\0';
        fmt(out, cap, "%s/%s_expect.csv", dir, base);
        if (is_file(out))
            return true;
    }
    char flat[1024];
    size_t k = 0;
    for (const char *p = rel; *p && k + 3 < sizeof(flat); p++) {
        if (*p == '/') {
            flat[k++] = '_';
            flat[k++] = '_';
        } else {
            flat[k++] = *p;
        }
    }
    flat[k] = '\0';
    fmt(out, cap, "%s/tests/data/parquet_expect/%s.csv", srcdir(), flat);
    if (is_file(out))
        return true;
    const char *twin = twin_of(rel);
    if (twin != NULL) {
        fmt(out, cap, "%s/tests/data/parquet_expect/%s", srcdir(), twin);
        return is_file(out);
    }
    return false;
}

/* Read every flat column of path and compare with the CSV. Returns NULL or a reason. */
static const char *check_values(const char *path, const int *proj, uint32_t n_proj,
                                const char *csv_path, bool check_names, char *why, size_t why_cap)
{
    csv c;
    tb_err err;
    tb_source *src = NULL;
    tb_strlist paths = {0};
    tb_arena *arena = tb_arena_new(0);
    tb_buf text = {0}, esc = {0};
    const char *res = NULL;
    size_t row = 1; /* CSV record index (0 is the header) */

    if (!csv_load(csv_path, &c)) {
        snprintf(why, why_cap, "cannot read %s", csv_path);
        tb_arena_free(arena);
        return why;
    }
    if (c.n == 0 || c.r[0].n != (n_proj > 0 ? n_proj : 1)) {
        snprintf(why, why_cap, "expectation has %zu columns, file has %u flat columns",
                 c.n ? c.r[0].n : 0, n_proj);
        res = why;
        goto out;
    }
    tb_strlist_push(&paths, path);
    if (tb_parquet_source_new(&paths, proj, n_proj, &src, &err) != TB_OK) {
        snprintf(why, why_cap, "source: %s", err.msg);
        res = why;
        goto out;
    }
    for (uint32_t j = 0; j < n_proj && check_names; j++) {
        const field *h = &c.r[0].f[j];
        const char *name = src->schema->fields[j].name;
        size_t a = 0, b = h->len;
        if (strlen(name) != b - a || memcmp(name, h->s + a, b - a) != 0) {
            snprintf(why, why_cap, "column %u is '%s', expectation says '%.*s'", j, name,
                     (int)h->len, h->s);
            res = why;
            goto out;
        }
    }
    for (;;) {
        tb_batch *batch;
        tb_arena_reset(arena);
        if (tb_source_next(src, arena, &batch, &err) != TB_OK) {
            snprintf(why, why_cap, "read: %s", err.msg);
            res = why;
            goto out;
        }
        if (batch == NULL)
            break;
        for (uint32_t r = 0; r < batch->n_rows; r++, row++) {
            if (row >= c.n) {
                snprintf(why, why_cap, "more rows than the expectation's %zu", c.n - 1);
                res = why;
                goto out;
            }
            const record *rec = &c.r[row];
            if (rec->n != (n_proj > 0 ? n_proj : 1)) {
                snprintf(why, why_cap, "expectation row %zu has %zu fields", row, rec->n);
                res = why;
                goto out;
            }
            for (uint32_t j = 0; j < n_proj; j++) {
                const field *f = &rec->f[j];
                tb_value v;
                bool ok;
                tb_vec_get(&batch->cols[j], r, &v);
                bool exp_null = f->len == 0 && !f->quoted;
                text.len = 0;
                esc.len = 0;
                if (v.is_null || exp_null) {
                    ok = v.is_null == exp_null;
                } else if (v.type.id == TB_T_FLOAT || v.type.id == TB_T_DOUBLE) {
                    ok = float_match(f, v.u.d, v.type.id == TB_T_FLOAT);
                } else {
                    tb_value_format(&v, &text);
                    escape_text(text.data, text.len, &esc);
                    ok = esc.len == f->len && memcmp(esc.data, f->s, f->len) == 0;
                }
                if (!ok) {
                    if (!v.is_null && text.len == 0)
                        tb_value_format(&v, &text);
                    snprintf(why, why_cap, "row %zu column '%s': got %s'%.*s', expected '%.*s'",
                             row - 1, src->schema->fields[j].name, v.is_null ? "NULL " : "",
                             (int)TB_MIN(text.len, (size_t)200), text.data ? text.data : "",
                             (int)TB_MIN(f->len, (size_t)200), f->s);
                    res = why;
                    goto out;
                }
            }
        }
    }
    if (row != c.n) {
        snprintf(why, why_cap, "%zu rows, expectation has %zu", row - 1, c.n - 1);
        res = why;
    }
out:
    tb_buf_free(&text);
    tb_buf_free(&esc);
    tb_source_free(src);
    tb_strlist_free(&paths);
    tb_arena_free(arena);
    csv_free(&c);
    return res;
}

static void check_file(const char *dir, const char *rel, outcome *o)
{
    char path[2048], exp[2048], why[4096];
    tb_err err;
    tb_parquet_file *pf = NULL;
    const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;

    fmt(path, sizeof(path), "%s/%s", dir, rel);
    bool encrypted = strstr(rel, ".encrypted") != NULL;
    tb_rc rc = tb_parquet_open(path, &pf, &err);
    if (encrypted) {
        if (rc == TB_E_UNSUPPORTED && strstr(err.msg, "encrypted file not supported") != NULL &&
            strstr(err.msg, base) != NULL) {
            o->passed++;
        } else {
            o->failed++;
            note(o, "FAIL", rel, "expected 'encrypted file not supported', got rc %d: %s", rc,
                 rc ? err.msg : "opened");
        }
        tb_parquet_close(pf);
        return;
    }
    if (rc != TB_OK) {
        o->failed++;
        note(o, "FAIL", rel, "open: %s", err.msg);
        return;
    }
    const tb_schema *sc = tb_parquet_schema(pf);
    int proj[512];
    uint32_t n_proj = 0;
    bool bad = false;
    for (uint32_t i = 0; i < sc->n && n_proj < 512; i++) {
        if (!tb_parquet_column_nested(pf, (int)i)) {
            if (sc->fields[i].type.id == TB_T_NULL) {
                note(o, "FAIL", rel, "flat column '%s' has no type", sc->fields[i].name);
                bad = true;
            }
            proj[n_proj++] = (int)i;
            continue;
        }
        /* selecting a nested column: a clear error naming file and column */
        tb_strlist paths = {0};
        tb_source *src = NULL;
        int one = (int)i;
        tb_strlist_push(&paths, path);
        rc = tb_parquet_source_new(&paths, &one, 1, &src, &err);
        if (rc != TB_E_UNSUPPORTED || strstr(err.msg, "is nested (LIST/MAP/STRUCT)") == NULL ||
            strstr(err.msg, base) == NULL || strstr(err.msg, sc->fields[i].name) == NULL) {
            note(o, "FAIL", rel, "nested column '%s': rc %d, '%s'", sc->fields[i].name, rc,
                 rc ? err.msg : "");
            bad = true;
        }
        tb_source_free(src);
        tb_strlist_free(&paths);
    }
    int64_t n_rows = tb_parquet_num_rows(pf);
    tb_parquet_close(pf);

    /* no columns: batches carry only the row count */
    {
        tb_strlist paths = {0};
        tb_source *src = NULL;
        tb_arena *arena = tb_arena_new(0);
        int64_t seen = 0;
        tb_strlist_push(&paths, path);
        rc = tb_parquet_source_new(&paths, NULL, 0, &src, &err);
        while (rc == TB_OK) {
            tb_batch *batch;
            tb_arena_reset(arena);
            rc = tb_source_next(src, arena, &batch, &err);
            if (rc != TB_OK || batch == NULL)
                break;
            assert_int_equal(batch->n_cols, 0);
            seen += batch->n_rows;
        }
        if (rc != TB_OK || seen != n_rows) {
            note(o, "FAIL", rel, "row count only: rc %d, %lld rows of %lld (%s)", rc,
                 (long long)seen, (long long)n_rows, rc ? err.msg : "");
            bad = true;
        }
        tb_source_free(src);
        tb_strlist_free(&paths);
        tb_arena_free(arena);
    }

    if (n_proj == 0) {
        if (bad)
            o->failed++;
        else
            o->passed++;
        return;
    }
    if (!expectation(dir, rel, exp, sizeof(exp))) {
        o->skipped++;
        note(o, "SKIP", rel, "no expectation (DuckDB could not read it)");
        return;
    }
    /* upstream CSV headers do not always spell the file's column names */
    bool upstream = strstr(exp, "_expect.csv") != NULL;
    const char *res = check_values(path, proj, n_proj, exp, !upstream, why, sizeof(why));
    if (res != NULL) {
        note(o, "FAIL", rel, "%s", res);
        bad = true;
    }
    if (bad)
        o->failed++;
    else
        o->passed++;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_dir(const char *dir, const char *sub, tb_strlist *out)
{
    char p[2048];
    fmt(p, sizeof(p), "%s/%s", dir, sub);
    DIR *d = opendir(p);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || de->d_name[0] == '_')
            continue;
        if (!tb_str_ends_with(de->d_name, ".parquet") &&
            !tb_str_ends_with(de->d_name, ".parquet.encrypted"))
            continue;
        char rel[1024];
        fmt(rel, sizeof(rel), "%s%s%s", sub, *sub ? "/" : "", de->d_name);
        tb_strlist_push(out, rel);
    }
    closedir(d);
}

static void test_parquet_testing(void **state)
{
    (void)state;
    char dir[2048];
    fmt(dir, sizeof(dir), "%s/parquet-testing", testdata());
    if (!is_dir(dir)) {
        print_message("SKIP: parquet-testing files not found at %s (set TB_TESTDATA)\n", dir);
        skip();
    }
    tb_strlist files = {0};
    list_dir(dir, "", &files);
    list_dir(dir, "geospatial", &files);
    list_dir(dir, "aes256", &files);
    qsort(files.items, files.n, sizeof(char *), cmp_str);
    outcome o = {0, 0, 0, {0}};
    for (size_t i = 0; i < files.n; i++)
        check_file(dir, files.items[i], &o);
    print_message("parquet-testing: %d files passed, %d failed, %d skipped (of %zu)\n", o.passed,
                  o.failed, o.skipped, files.n);
    /* the DuckDB-made files of the fuzz corpus (every type DuckDB writes, six codec and
     * page-version settings), with expectations from the same generator */
    char fz[2048];
    tb_strlist corpus = {0};
    fmt(fz, sizeof(fz), "%s/fuzz", srcdir());
    list_dir(fz, "corpus/parquet", &corpus);
    qsort(corpus.items, corpus.n, sizeof(char *), cmp_str);
    outcome oc = {0, 0, 0, {0}};
    for (size_t i = 0; i < corpus.n; i++)
        check_file(fz, corpus.items[i], &oc);
    print_message("fuzz corpus files: %d passed, %d failed, %d skipped (of %zu)\n", oc.passed,
                  oc.failed, oc.skipped, corpus.n);
    if (oc.report.len > 0)
        print_message("%s", tb_buf_cstr(&oc.report));
    tb_buf_free(&oc.report);
    tb_strlist_free(&corpus);
    assert_int_equal(oc.failed, 0);
    assert_true(oc.passed >= 6);
    if (o.report.len > 0)
        print_message("%s", tb_buf_cstr(&o.report));
    tb_buf_free(&o.report);
    tb_strlist_free(&files);
    assert_int_equal(o.failed, 0);
    assert_true(o.passed > 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thrift_roundtrip), cmocka_unit_test(test_codecs),
        cmocka_unit_test(test_rle_hybrid),       cmocka_unit_test(test_delta),
        cmocka_unit_test(test_meta_roundtrip),   cmocka_unit_test(test_synthetic),
        cmocka_unit_test(test_multi_file),       cmocka_unit_test(test_limits),
        cmocka_unit_test(test_faults),           cmocka_unit_test(test_large_string_map),
        cmocka_unit_test(test_parquet_testing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
