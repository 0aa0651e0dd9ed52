/*
 * test_jsonl.c - JSON lines reader: options, conversion to every type, NULLs and
 * missing keys, key matching, line ends, BOM, lines across read-chunk boundaries,
 * malformed lines in every mode (exact messages with file:line), limits, projection,
 * inference, the bad-record callback, stats, allocation faults. Files are real files in
 * a temp dir; every case is read from a buffer and from a file in chunks of 1..13 bytes,
 * which must agree exactly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/jsonl.h"
#include "format/codec.h"

static char g_dir[256];

static int setup_dir(void **state)
{
    (void)state;
    (void)snprintf(g_dir, sizeof(g_dir), "/tmp/tb_test_jsonl_XXXXXX");
    return mkdtemp(g_dir) == NULL ? -1 : 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown_dir(void **state)
{
    (void)state;
    return nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Write a file in the temp dir; returns its path (static buffer rotation). */
static const char *put_file(const char *name, const void *data, size_t len)
{
    static char paths[8][512];
    static int k;
    char *path = paths[k++ & 7];
    FILE *f;

    (void)snprintf(path, 512, "%s/%s", g_dir, name);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* A gzip / zstd compressed copy of data under name + ".gz" / ".zst" (what COPY writes:
 * the input in several members / frames, so member boundaries fall inside records). */
static const char *put_compressed(const char *name, const char *data, size_t len, int codec)
{
    tb_buf z = {0};
    tb_err err;
    char zname[256];
    const char *path;
    size_t part = len / 3 + 1, off;

    for (off = 0; off < len || off == 0; off += part) {
        size_t n = TB_MIN(part, len - off);
        assert_int_equal(tb_compress(codec, (const uint8_t *)data + off, n, &z, &err), TB_OK);
        if (len == 0)
            break;
    }
    (void)snprintf(zname, sizeof(zname), "%s%s", name, codec == TB_CODEC_GZIP ? ".gz" : ".zst");
    path = put_file(zname, z.data != NULL ? z.data : "", z.len);
    tb_buf_free(&z);
    return path;
}

static const char *put_text(const char *name, const char *text)
{
    return put_file(name, text, strlen(text));
}

/* Options from key, value, ..., NULL. */
static tb_jsonl_opts *mkopts(const char *kv, ...)
{
    tb_jsonl_opts *opts = tb_jsonl_opts_new();
    va_list ap;
    const char *k = kv;
    tb_err err;

    assert_non_null(opts);
    va_start(ap, kv);
    while (k != NULL) {
        const char *v = va_arg(ap, const char *);
        tb_rc rc = tb_jsonl_opts_set(opts, k, v, &err);
        if (rc != TB_OK)
            fail_msg("option %s=%s: %s", k, v, err.msg);
        k = va_arg(ap, const char *);
    }
    va_end(ap);
    return opts;
}

static tb_schema *mkschema(const char *text)
{
    tb_schema *schema = NULL;
    tb_err err;
    if (tb_schema_parse(text, &schema, &err) != TB_OK)
        fail_msg("schema %s: %s", text, err.msg);
    return schema;
}

/* Render every row as "a|b|c\n" (NULL as "N"); returns the rc of the drain. */
static tb_rc drain(tb_source *src, tb_buf *out, uint32_t *n_batches, tb_err *err)
{
    tb_arena *arena = tb_arena_new(0);
    tb_rc rc = TB_OK;
    uint32_t nb = 0;

    assert_non_null(arena);
    for (;;) {
        tb_batch *batch = NULL;
        uint32_t r, c;
        tb_arena_reset(arena);
        rc = tb_source_next(src, arena, &batch, err);
        if (rc != TB_OK || batch == NULL)
            break;
        nb++;
        assert_true(batch->n_rows <= batch->cap);
        assert_int_equal(batch->n_cols, src->schema->n);
        for (r = 0; r < batch->n_rows; r++) {
            for (c = 0; c < batch->n_cols; c++) {
                tb_value val;
                if (c > 0)
                    tb_buf_putc(out, '|');
                tb_vec_get(&batch->cols[c], r, &val);
                if (val.is_null) {
                    tb_buf_putc(out, 'N');
                } else {
                    if (val.type.id == TB_T_STRING) {
                        assert_true(tb_utf8_valid(val.u.s.ptr, val.u.s.len));
                        assert_null(memchr(val.u.s.ptr, 0, val.u.s.len));
                    }
                    assert_int_equal(tb_value_format(&val, out), TB_OK);
                }
            }
            if (batch->n_cols == 0)
                tb_buf_putc(out, '.');
            tb_buf_putc(out, '\n');
        }
    }
    tb_arena_free(arena);
    if (n_batches != NULL)
        *n_batches = nb;
    tb_buf_cstr(out);
    return rc;
}

static const int PALL[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

typedef struct run_res {
    tb_rc rc;
    char text[8192];
    char msg[TB_ERR_MSG_CAP];
    tb_source_stats stats;
    uint32_t n_batches;
    char bad[4096]; /* bad-record callback calls: "LINE:reason|raw\n" */
} run_res;

static void on_bad(void *ud, const char *file, uint64_t line, const char *raw, size_t raw_len,
                   const char *reason)
{
    run_res *res = ud;
    size_t n = strlen(res->bad);
    assert_non_null(file);
    (void)snprintf(res->bad + n, sizeof(res->bad) - n, "%llu:%s|%.*s\n",
                   (unsigned long long)line, reason, (int)raw_len, raw);
}

/* Read a buffer with options and a schema text, all columns (or proj). */
static void run_buf_proj(const char *data, size_t len, tb_jsonl_opts *opts,
                         const char *schema_text, const int *proj, int n_proj, run_res *res)
{
    tb_schema *schema = mkschema(schema_text);
    tb_source *src = NULL;
    tb_err err;
    tb_buf out = {0};

    memset(res, 0, sizeof(*res));
    tb_err_clear(&err);
    assert_int_equal(tb_jsonl_source_from_buffer("buf.jsonl", data, len, opts, schema,
                                                 proj != NULL ? proj : PALL,
                                                 n_proj >= 0 ? (uint32_t)n_proj : schema->n,
                                                 &src, &err),
                     TB_OK);
    tb_jsonl_source_on_bad_record(src, on_bad, res);
    res->rc = drain(src, &out, &res->n_batches, &err);
    (void)snprintf(res->text, sizeof(res->text), "%s", out.data != NULL ? out.data : "");
    (void)snprintf(res->msg, sizeof(res->msg), "%s", res->rc != TB_OK ? err.msg : "");
    res->stats = src->stats;
    tb_buf_free(&out);
    tb_source_free(src);
    tb_schema_free(schema);
}

/* Same through a real file, with a given read chunk size (0: default). */
static void run_file(const char *path, tb_jsonl_opts *opts, const char *schema_text,
                     size_t chunk, run_res *res)
{
    tb_schema *schema = mkschema(schema_text);
    tb_source *src = NULL;
    tb_err err;
    tb_buf out = {0};
    tb_strlist paths = {0};

    memset(res, 0, sizeof(*res));
    tb_err_clear(&err);
    tb_jsonl_opts_set_chunk_size(opts, chunk);
    assert_int_equal(tb_strlist_push(&paths, path), TB_OK);
    assert_int_equal(tb_jsonl_source_new(&paths, opts, schema, PALL, schema->n, &src, &err),
                     TB_OK);
    tb_jsonl_source_on_bad_record(src, on_bad, res);
    res->rc = drain(src, &out, &res->n_batches, &err);
    (void)snprintf(res->text, sizeof(res->text), "%s", out.data != NULL ? out.data : "");
    (void)snprintf(res->msg, sizeof(res->msg), "%s", res->rc != TB_OK ? err.msg : "");
    {
        /* name the file as run_buf names its buffer, so messages compare */
        char *at = strstr(res->msg, path);
        if (at != NULL) {
            tb_buf fixed = {0};
            *at = '\0';
            (void)tb_buf_printf(&fixed, "%sbuf.jsonl%s", res->msg, at + strlen(path));
            (void)snprintf(res->msg, sizeof(res->msg), "%s", tb_buf_cstr(&fixed));
            tb_buf_free(&fixed);
        }
    }
    res->stats = src->stats;
    tb_buf_free(&out);
    tb_source_free(src);
    tb_schema_free(schema);
    tb_strlist_free(&paths);
    tb_jsonl_opts_set_chunk_size(opts, 0);
}

/* Buffer and file (default chunk and chunks of 1..9 and 13 bytes) must agree exactly. */
static void run_all(const char *name, const char *data, size_t len, tb_jsonl_opts *opts,
                    const char *schema_text, run_res *res)
{
    static const size_t chunks[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 13};
    const char *path = put_file(name, data, len);
    run_res *f = malloc(sizeof(*f));
    size_t i;

    assert_non_null(f);
    run_buf_proj(data, len, opts, schema_text, NULL, -1, res);
    for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        run_file(path, opts, schema_text, chunks[i], f);
        if (f->rc != res->rc || strcmp(f->text, res->text) != 0 ||
            strcmp(f->msg, res->msg) != 0 || strcmp(f->bad, res->bad) != 0 ||
            f->stats.rows_malformed != res->stats.rows_malformed ||
            f->stats.rows_read != res->stats.rows_read)
            fail_msg("chunk %zu differs:\nbuffer rc=%d %s\n%s\nfile rc=%d %s\n%s", chunks[i],
                     res->rc, res->msg, res->text, f->rc, f->msg, f->text);
        if (res->rc == TB_OK) {
            assert_int_equal(f->stats.bytes_read, len);
            assert_int_equal(f->stats.files_done, 1);
        }
    }
    /* The same input compressed (issue 9 point 8): the same rows, messages (lines of
     * the decompressed text) and counts, whatever the chunk size. */
    for (int codec = TB_CODEC_GZIP; codec <= TB_CODEC_ZSTD; codec += TB_CODEC_ZSTD - TB_CODEC_GZIP) {
        static const size_t zchunks[] = {0, 1, 7};
        const char *zpath = put_compressed(name, data, len, codec);
        for (i = 0; i < sizeof(zchunks) / sizeof(zchunks[0]); i++) {
            run_file(zpath, opts, schema_text, zchunks[i], f);
            if (f->rc != res->rc || strcmp(f->text, res->text) != 0 ||
                strcmp(f->msg, res->msg) != 0 || strcmp(f->bad, res->bad) != 0 ||
                f->stats.rows_malformed != res->stats.rows_malformed ||
                f->stats.rows_read != res->stats.rows_read)
                fail_msg("%s, chunk %zu differs:\nbuffer rc=%d %s\n%s\nfile rc=%d %s\n%s",
                         zpath, zchunks[i], res->rc, res->msg, res->text, f->rc, f->msg, f->text);
        }
    }
    free(f);
}

#define RUN(data, opts, schema, res) run_all("t.jsonl", data, strlen(data), opts, schema, res)
/* A string literal that may hold NUL bytes. */
#define RUNL(lit, opts, schema, res) run_all("t.jsonl", lit, sizeof(lit) - 1, opts, schema, res)

/* ---------------------------------------------------------------- options */

static void test_opts(void **state)
{
    tb_jsonl_opts *opts = tb_jsonl_opts_new(), *copy;
    tb_err err;
    (void)state;

    assert_non_null(opts);
    assert_null(tb_jsonl_opts_schema(opts));
    assert_int_equal(tb_jsonl_opts_set(opts, "header", "true", &err), TB_E_NOTFOUND);
    assert_string_equal(err.msg, "read_json: unknown option 'header' (known: mode, "
                                 "corrupt_column, schema, sample_rows, max_line_bytes)");
    assert_int_equal(tb_jsonl_opts_set(opts, "mode", "lenient", &err), TB_E_SQL);
    assert_string_equal(err.msg, "read_json: invalid value 'lenient' for option 'mode' "
                                 "(expected permissive, dropmalformed or failfast)");
    assert_int_equal(tb_jsonl_opts_set(opts, "MODE", "FailFast", &err), TB_OK);
    assert_int_equal(tb_jsonl_opts_set(opts, "max_line_bytes", "0", &err), TB_E_SQL);
    assert_int_equal(tb_jsonl_opts_set(opts, "max_line_bytes", "1073741825", &err), TB_E_SQL);
    assert_int_equal(tb_jsonl_opts_set(opts, "max_line_bytes", "1073741824", &err), TB_OK);
    assert_int_equal(tb_jsonl_opts_set(opts, "sample_rows", "-1", &err), TB_E_SQL);
    assert_int_equal(tb_jsonl_opts_set(opts, "sample_rows", "5", &err), TB_OK);
    assert_int_equal(tb_jsonl_opts_set(opts, "corrupt_column", "", &err), TB_E_SQL);
    assert_int_equal(tb_jsonl_opts_set(opts, "corrupt_column", "_bad", &err), TB_OK);
    assert_int_equal(tb_jsonl_opts_set(opts, "schema", "a nosuchtype", &err), TB_E_SQL);
    assert_non_null(strstr(err.msg, "read_json: option 'schema'"));
    assert_int_equal(tb_jsonl_opts_set(opts, "schema", "a int, \"camelKey\" text", &err),
                     TB_OK);
    assert_non_null(tb_jsonl_opts_schema(opts));
    assert_string_equal(tb_jsonl_opts_schema(opts)->fields[1].name, "camelKey");
    copy = tb_jsonl_opts_copy(opts);
    assert_non_null(copy);
    assert_int_equal(tb_jsonl_opts_schema(copy)->n, 2);
    tb_jsonl_opts_free(copy);
    tb_jsonl_opts_free(opts);
    tb_jsonl_opts_free(NULL);
}

/* ---------------------------------------------------------------- values */

static void test_types(void **state)
{
    tb_jsonl_opts *opts = mkopts(NULL);
    run_res res;
    (void)state;

    RUN("{\"b\": true, \"s\": 7, \"i\": -2147483648, \"l\": 9223372036854775807, "
        "\"r\": 1.5, \"d\": 2.25e2, \"n\": 12.345, \"t\": \"h\\u00e9 \\\"q\\\"\", "
        "\"dt\": \"2024-02-29\", \"ts\": \"2024-01-01T10:00:00.5Z\", \"iv\": \"10 seconds\"}\n"
        "{\"b\": false, \"s\": -32768, \"i\": 0, \"l\": -9223372036854775808, \"r\": -0.0, "
        "\"d\": 1e-3, \"n\": \"-0.005\", \"t\": \"\", \"dt\": \"2024-01-01 23:59:59\", "
        "\"ts\": \"2024-01-01 10:00:00\", \"iv\": \"1 day 02:00:00\"}\n"
        "{}\n",
        opts,
        "b boolean, s smallint, i int, l bigint, r real, d double precision, n numeric(10,2), "
        "t text, dt date, ts timestamp, iv interval",
        &res);
    assert_int_equal(res.rc, TB_OK);
    assert_string_equal(res.text,
                        "true|7|-2147483648|9223372036854775807|1.5|225|12.35|h\xC3\xA9 "
                        "\"q\"|2024-02-29|2024-01-01 10:00:00.5|00:00:10\n"
                        "false|-32768|0|-9223372036854775808|-0|0.001|-0.01||2024-01-01|"
                        "2024-01-01 10:00:00|1 day 02:00:00\n"
                        "N|N|N|N|N|N|N|N|N|N|N\n");
    assert_int_equal(res.stats.rows_read, 3);
    assert_int_equal(res.stats.rows_malformed, 0);
    tb_jsonl_opts_free(opts);
}

static void test_nulls_keys(void **state)
{
    tb_jsonl_opts *opts = mkopts(NULL);
    run_res res;
    (void)state;

    /* missing keys, null, extra keys, nested extra keys, duplicate keys (last wins),
     * case-sensitive names, a key spelled with escapes, keys in another order */
    RUN("{\"id\": 1, \"name\": \"a\", \"extra\": {\"id\": 99, \"x\": [1, {\"name\": 2}]}}\n"
        "{\"name\": null, \"id\": 2}\n"
        "{\"id\": 3}\n"
        "{\"ID\": 4, \"Name\": \"upper\"}\n"
        "{\"id\": 5, \"id\": 6, \"name\": \"dup\"}\n"
        "{\"\\u0069d\": 7, \"na\\u006de\": \"escaped key\"}\n"
        "{\"camelKey\": \"c\", \"camelkey\": \"lower\"}\n",
        opts, "id int, name text, \"camelKey\" text", &res);
    assert_int_equal(res.rc, TB_OK);
    assert_string_equal(res.text, "1|a|N\n"
                                  "2|N|N\n"
                                  "3|N|N\n"
                                  "N|N|N\n"
                                  "6|dup|N\n"
                                  "7|escaped key|N\n"
                                  "N|N|c\n");
    assert_int_equal(res.stats.rows_malformed, 0);
    tb_jsonl_opts_free(opts);
}

static void test_text_of_values(void **state)
{
    tb_jsonl_opts *opts = mkopts(NULL);
    run_res res;
    (void)state;

    /* non-string values into a text column: their JSON text; objects and arrays without
     * white space outside strings */
    RUN("{\"v\": 12.50}\n"
        "{\"v\": -1e5}\n"
        "{\"v\": true}\n"
        "{\"v\": false}\n"
        "{\"v\": { \"a\" : [ 1 , 2 ] , \"b c\" : \"x  y\\\" }\" } }\n"
        "{\"v\": []}\n"
        "{\"v\": NaN}\n"
        "{\"v\": \"tab\\there\\nnl \\ud83d\\ude00 \\/ \\\\\"}\n",
        opts, "v text", &res);
    assert_int_equal(res.rc, TB_OK);
    assert_string_equal(res.text, "12.50\n"
                                  "-1e5\n"
                                  "true\n"
                                  "false\n"
                                  "{\"a\":[1,2],\"b c\":\"x  y\\\" }\"}\n"
                                  "[]\n"
                                  "NaN\n"
                                  "tab\there\nnl \xF0\x9F\x98\x80 / \\\n");
    tb_jsonl_opts_free(opts);
}

static void test_numbers(void **state)
{
    tb_jsonl_opts *opts = mkopts(NULL);
    run_res res;
    (void)state;

    /* doubles: specials bare and as strings; numeric: rounding half away, exponents,
     * strings; timestamps from seconds */
    RUN("{\"d\": NaN, \"n\": 1.005, \"ts\": 0}\n"
        "{\"d\": Infinity, \"n\": \"1e2\", \"ts\": 1700000000}\n"
        "{\"d\": -Infinity, \"n\": -2.5e-2, \"ts\": -1}\n"
        "{\"d\": \"-Inf\", \"n\": 0.0049, \"ts\": \"2024-01-01T00:00:00+02:00\"}\n"
        "{\"d\": \"+Infinity\", \"n\": 99999999.994, \"ts\": null}\n"
        "{\"d\": 1.7976931348623157e308, \"n\": \"+.5\", \"ts\": \"1999-12-31\"}\n"
        "{\"d\": 123456789012345678901234567890, \"n\": 0e999999999999, \"ts\": 1}\n",
        opts, "d double precision, n numeric(10,2), ts timestamp", &res);
    assert_int_equal(res.rc, TB_OK);
    assert_string_equal(res.text, "NaN|1.01|1970-01-01 00:00:00\n"
                                  "Infinity|100.00|2023-11-14 22:13:20\n"
                                  "-Infinity|-0.03|1969-12-31 23:59:59\n"
                                  "-Infinity|0.00|2023-12-31 22:00:00\n"
                                  "Infinity|99999999.99|N\n"
                                  "1.7976931348623157e+308|0.50|1999-12-31 00:00:00\n"
                                  "1.2345678901234568e+29|0.00|1970-01-01 00:00:01\n");
    assert_int_equal(res.stats.rows_malformed, 0);
    tb_jsonl_opts_free(opts);
}

/* ---------------------------------------------------------------- line structure */

static void test_lines(void **state)
{
    tb_jsonl_opts *opts = mkopts(NULL);
    run_res res;
    (void)state;

    /* BOM, CRLF, blank and white-space lines, white space around, no final LF */
    RUN("\xEF\xBB\xBF{\"a\":1}\r\n\r\n   \t\n\n  {\"a\" : 2 }  \r\n{\"a\":3}", opts, "a int",
        &res);
    assert_int_equal(res.rc, TB_OK);
    assert_string_equal(res.text, "1\n2\n3\n");
    assert_int_equal(res.stats.rows_read, 3);

    /* an empty file, only blank lines, a BOM alone */
    RUN("", opts, "a int", &res);
    assert_int_equal(res.rc, TB_OK);
    assert_string_equal(res.text, "");
    RUN("\n\r\n \n", opts, "a int", &res);
    assert_string_equal(res.text, "");
    RUN("\xEF\xBB\xBF", opts, "a int", &res);
    assert_string_equal(res.text, "");
    assert_int_equal(res.stats.rows_malformed, 0);

    /* a BOM not at the start is malformed; line numbers count blank lines */
    RUN("\n{\"a\":1}\n\xEF\xBB\xBF{\"a\":2}\n", opts, "a int", &res);
    assert_string_equal(res.text, "1\nN\n");
    assert_string_equal(res.bad,
                        "3:invalid JSON: unexpected character at byte 1|\xEF\xBB\xBF{\"a\":2}\n");
    tb_jsonl_opts_free(opts);
}

/* ---------------------------------------------------------------- malformed lines */

/* Every kind of malformed line, with its exact reason. */
static void test_malformed_reasons(void **state)
{
    tb_jsonl_opts *opts = mkopts("corrupt_column", "_bad", NULL);
    run_res res;
    (void)state;

    RUNL("{\"id\": 1, \"name\": \"ok\"}\n"                    /* 1 */
        "{\"id\": 2, \"name\": \"a\"\n"                      /* 2 unterminated */
        "[1, 2]\n"                                          /* 3 array */
        "42\n"                                              /* 4 number */
        "{\"id\": 5, name: 1}\n"                            /* 5 key not a string */
        "{\"id\": 6,}\n"                                    /* 6 trailing comma */
        "{\"id\": 07}\n"                                    /* 7 leading zero */
        "{\"id\": 8} x\n"                                   /* 8 data after */
        "{\"id\": 9, \"name\": \"\xff\"}\n"                 /* 9 invalid UTF-8 */
        "{\"id\": 10, \"name\": \"a\x00" "b\"}\n"           /* 10 NUL */
        "{\"id\": \"11\", \"name\": \"str for int\"}\n"     /* 11 bad value */
        "{\"id\": 1.5, \"name\": \"fraction\"}\n"          /* 12 bad value */
        "{\"id\": 2147483648, \"name\": \"range\"}\n"      /* 13 out of range */
        "{\"id\": 14, \"name\": \"x\\u0000y\"}\n"          /* 14 NUL in text */
        "{\"id\": 15, \"name\": \"tab\there\"}\n"          /* 15 raw control char */
        "{\"id\": 16, \"name\": \"\\x\"}\n"                /* 16 bad escape */
        "{\"id\": 17, \"name\": \"\\ud800\"}\n"            /* 17 lone surrogate */
        "{\"id\": tru}\n"                                   /* 18 bad literal */
        "{\"id\": 19 \"name\": 1}\n"                        /* 19 missing comma */
        "{\"id\": 20, \"t\": [1, [2, {\"a\": }]]}\n"        /* 20 nested error */
        "{\"id\": 21, \"name\": \"ok again\"}\n",           /* 21 */
        opts, "id int, name text, _bad text", &res);
    assert_int_equal(res.rc, TB_OK);
    assert_string_equal(res.text,
                        "1|ok|N\n"
                        "N|N|{\"id\": 2, \"name\": \"a\"\n"
                        "N|N|[1, 2]\n"
                        "N|N|42\n"
                        "N|N|{\"id\": 5, name: 1}\n"
                        "N|N|{\"id\": 6,}\n"
                        "N|N|{\"id\": 07}\n"
                        "N|N|{\"id\": 8} x\n"
                        "N|N|{\"id\": 9, \"name\": \"\xEF\xBF\xBD\"}\n"
                        "N|N|{\"id\": 10, \"name\": \"a\xEF\xBF\xBD" "b\"}\n"
                        "N|str for int|{\"id\": \"11\", \"name\": \"str for int\"}\n"
                        "N|fraction|{\"id\": 1.5, \"name\": \"fraction\"}\n"
                        "N|range|{\"id\": 2147483648, \"name\": \"range\"}\n"
                        "14|N|{\"id\": 14, \"name\": \"x\\u0000y\"}\n"
                        "N|N|{\"id\": 15, \"name\": \"tab\there\"}\n"
                        "N|N|{\"id\": 16, \"name\": \"\\x\"}\n"
                        "N|N|{\"id\": 17, \"name\": \"\\ud800\"}\n"
                        "N|N|{\"id\": tru}\n"
                        "N|N|{\"id\": 19 \"name\": 1}\n"
                        "N|N|{\"id\": 20, \"t\": [1, [2, {\"a\": }]]}\n"
                        "21|ok again|N\n");
    assert_int_equal(res.stats.rows_read, 21);
    assert_int_equal(res.stats.rows_malformed, 19);
    {
        /* the reasons, one per malformed line (raw text after '|' elided here) */
        static const char *const want[] = {
            "2:invalid JSON: unterminated object at byte 22",
            "3:expected a JSON object, found an array at byte 1",
            "4:expected a JSON object, found a number at byte 1",
            "5:invalid JSON: expected a key (a string) at byte 11",
            "6:invalid JSON: expected a key (a string) at byte 10",
            "7:invalid JSON: invalid number (leading zero) at byte 8",
            "8:invalid JSON: unexpected data after the object at byte 11",
            "9:invalid UTF-8 at byte 20",
            "10:NUL byte at byte 22",
            "11:key \"id\": expected an integer number for type integer, found string \"11\"",
            "12:key \"id\": expected an integer number for type integer, found number 1.5",
            "13:key \"id\": value 2147483648 out of range for type integer",
            "14:key \"name\": string holds a NUL character (\\u0000)",
            "15:invalid JSON: control character in a string (must be escaped) at byte 24",
            "16:invalid JSON: invalid escape in a string at byte 21",
            "17:invalid JSON: invalid \\u escape (a high surrogate without its low "
            "surrogate) at byte 21",
            "18:invalid JSON: unexpected character at byte 8",
            "19:invalid JSON: expected ',' or '}' after a value at byte 11",
            "20:invalid JSON: unexpected character at byte 31",
        };
        const char *p = res.bad;
        size_t i;
        for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
            const char *bar = strchr(p, '|'), *nl;
            assert_non_null(bar);
            if (strlen(want[i]) != (size_t)(bar - p) || memcmp(p, want[i], strlen(want[i])) != 0)
                fail_msg("reason %zu: want [%s], got [%.*s]", i, want[i], (int)(bar - p), p);
            nl = strchr(bar, '\n');
            assert_non_null(nl);
            p = nl + 1;
        }
        assert_string_equal(p, "");
    }
    tb_jsonl_opts_free(opts);
}

static void test_modes(void **state)
{
    const char *data = "{\"id\": 1, \"ts\": \"2024-01-01 00:00:00\"}\n"
                       "{\"id\": 2, \"ts\": \"2024-13-45\"}\n"
                       "\n"
                       "{\"id\": 3, \"ts\": \"2024-01-01 00:00:03\"}\n"
                       "not json\n"
                       "{\"id\": 5, \"ts\": 1.5}\n";
    tb_jsonl_opts *opts;
    run_res res;
    (void)state;

    opts = mkopts(NULL); /* permissive without a corrupt column */
    RUN(data, opts, "id int, ts timestamp", &res);
    assert_int_equal(res.rc, TB_OK);
    assert_string_equal(res.text, "1|2024-01-01 00:00:00\n2|N\n3|2024-01-01 00:00:03\nN|N\n5|N\n");
    assert_int_equal(res.stats.rows_read, 5);
    assert_int_equal(res.stats.rows_malformed, 3);
    assert_string_equal(res.bad,
                        "2:key \"ts\": invalid timestamp \"2024-13-45\"|{\"id\": 2, \"ts\": "
                        "\"2024-13-45\"}\n"
                        "5:invalid JSON: unexpected character at byte 1|not json\n"
                        "6:key \"ts\": expected a timestamp string or a number of seconds for "
                        "type timestamp, found number 1.5|{\"id\": 5, \"ts\": 1.5}\n");
    tb_jsonl_opts_free(opts);

    opts = mkopts("mode", "dropmalformed", NULL);
    RUN(data, opts, "id int, ts timestamp", &res);
    assert_int_equal(res.rc, TB_OK);
    assert_string_equal(res.text, "1|2024-01-01 00:00:00\n3|2024-01-01 00:00:03\n");
    assert_int_equal(res.stats.rows_read, 2);
    assert_int_equal(res.stats.rows_malformed, 3);
    tb_jsonl_opts_free(opts);

    opts = mkopts("mode", "failfast", NULL);
    RUN(data, opts, "id int, ts timestamp", &res);
    assert_int_equal(res.rc, TB_E_PARSE);
    assert_string_equal(res.msg, "json: buf.jsonl:2: key \"ts\": invalid timestamp \"2024-13-45\"");
    assert_int_equal(res.stats.rows_malformed, 1);
    RUN("{\"id\": 1}\n\n\n{\"id\": 1,,}\n", opts, "id int", &res);
    assert_int_equal(res.rc, TB_E_PARSE);
    assert_string_equal(res.msg,
                        "json: buf.jsonl:4: invalid JSON: expected a key (a string) at byte 10");
    tb_jsonl_opts_free(opts);
}

static void test_dropmalformed_all(void **state)
{
    tb_jsonl_opts *opts = mkopts("mode", "dropmalformed", NULL);
    tb_buf big = {0};
    run_res res;
    int i;
    (void)state;

    /* many batches of nothing but bad lines, then one good line */
    for (i = 0; i < 5000; i++)
        assert_int_equal(tb_buf_puts(&big, "{\"a\": \"x\"}\n"), TB_OK);
    assert_int_equal(tb_buf_puts(&big, "{\"a\": 1}\n"), TB_OK);
    run_buf_proj(big.data, big.len, opts, "a int", NULL, -1, &res);
    assert_int_equal(res.rc, TB_OK);
    assert_string_equal(res.text, "1\n");
    assert_int_equal(res.stats.rows_malformed, 5000);
    assert_int_equal(res.stats.rows_read, 1);
    tb_buf_free(&big);
    tb_jsonl_opts_free(opts);
}

/* ---------------------------------------------------------------- limits */

static void test_limits(void **state)
{
    tb_jsonl_opts *opts = mkopts("max_line_bytes", "20", NULL);
    tb_buf deep = {0};
    run_res res;
    int i;
    (void)state;

    /* a line of exactly the limit (+ CR) is fine; one byte more stops the read in every
     * mode, after the lines before it */
    RUN("{\"a\":1}\n{\"a\":12345678901234}\r\n{\"a\":1234567890123456}\n{\"a\":4}\n", opts,
        "a bigint", &res);
    assert_int_equal(res.rc, TB_E_LIMIT);
    assert_string_equal(res.msg,
                        "json: buf.jsonl:3: line longer than max_line_bytes (20 bytes)");
    tb_jsonl_opts_free(opts);
    opts = mkopts("max_line_bytes", "20", "mode", "dropmalformed", NULL);
    RUN("{\"a\":1}\n{\"a\":1234567890123456}", opts, "a bigint", &res);
    assert_int_equal(res.rc, TB_E_LIMIT);
    assert_string_equal(res.msg,
                        "json: buf.jsonl:2: line longer than max_line_bytes (20 bytes)");
    tb_jsonl_opts_free(opts);

    /* nesting: 999 levels inside the top object are fine, 1000 are malformed */
    opts = mkopts(NULL);
    for (i = 0; i < 999; i++)
        tb_buf_putc(&deep, '[');
    for (i = 0; i < 999; i++)
        tb_buf_putc(&deep, ']');
    {
        tb_buf line = {0};
        tb_buf_printf(&line, "{\"a\": %.*s}\n{\"a\": [%.*s]}\n", (int)deep.len, deep.data,
                      (int)deep.len, deep.data);
        run_buf_proj(line.data, line.len, opts, "a text", NULL, -1, &res);
        assert_int_equal(res.rc, TB_OK);
        assert_int_equal(res.stats.rows_read, 2);
        assert_int_equal(res.stats.rows_malformed, 1);
        assert_non_null(strstr(res.bad, "2:invalid JSON: nesting deeper than 1000 at byte 1006"));
        tb_buf_free(&line);
    }
    /* very deep input: no stack exhaustion */
    deep.len = 0;
    tb_buf_puts(&deep, "{\"a\": ");
    for (i = 0; i < 1000000; i++)
        tb_buf_putc(&deep, '[');
    run_buf_proj(deep.data, deep.len, opts, "a text", NULL, -1, &res);
    assert_int_equal(res.rc, TB_OK);
    assert_int_equal(res.stats.rows_malformed, 1);
    tb_buf_free(&deep);
    tb_jsonl_opts_free(opts);
}

/* A line far over the limit is refused without reading it whole: memory stays bounded
 * by max_line_bytes + 2 chunks. */
static void test_long_line_file(void **state)
{
    tb_jsonl_opts *opts = mkopts("max_line_bytes", "1000", NULL);
    tb_schema *schema = mkschema("a text");
    tb_strlist paths = {0};
    tb_source *src = NULL;
    tb_err err;
    tb_buf out = {0};
    const char *path;
    char *big = malloc(3 << 20);
    (void)state;

    assert_non_null(big);
    memset(big, 'x', 3 << 20);
    memcpy(big, "{\"a\":1}\n{\"a\":\"", 14);
    path = put_file("long.jsonl", big, 3 << 20);
    free(big);
    assert_int_equal(tb_strlist_push(&paths, path), TB_OK);
    tb_jsonl_opts_set_chunk_size(opts, 4096);
    assert_int_equal(tb_jsonl_source_new(&paths, opts, schema, PALL, 1, &src, &err), TB_OK);
    assert_int_equal(drain(src, &out, NULL, &err), TB_E_LIMIT);
    assert_non_null(strstr(err.msg, "long.jsonl:2: line longer than max_line_bytes (1000 bytes)"));
    tb_source_free(src);
    tb_buf_free(&out);
    tb_strlist_free(&paths);
    tb_schema_free(schema);
    tb_jsonl_opts_free(opts);
}

/* ---------------------------------------------------------------- projection, files */

static void test_projection(void **state)
{
    const char *data = "{\"a\": 1, \"b\": \"x\", \"c\": true}\n"
                       "{\"a\": \"bad\", \"b\": \"y\", \"c\": false}\n"
                       "{\"a\": 3, \"b\": \"z\", \"c\": nul}\n";
    const int pb[] = {1}, pca[] = {2, 0}, pdup[] = {1, 1};
    tb_jsonl_opts *opts = mkopts(NULL);
    run_res res;
    (void)state;

    /* malformed is a property of the line (issue 13): the bad value of a is seen when a
     * is not read, as the syntax error always is */
    run_buf_proj(data, strlen(data), opts, "a int, b text, c boolean", pb, 1, &res);
    assert_string_equal(res.text, "x\ny\nN\n");
    assert_int_equal(res.stats.rows_malformed, 2);
    run_buf_proj(data, strlen(data), opts, "a int, b text, c boolean", pca, 2, &res);
    assert_string_equal(res.text, "true|1\nfalse|N\nN|N\n");
    assert_int_equal(res.stats.rows_malformed, 2);
    run_buf_proj(data, strlen(data), opts, "a int, b text, c boolean", pdup, 2, &res);
    assert_string_equal(res.text, "x|x\ny|y\nN|N\n");
    /* no column: row counts only */
    run_buf_proj(data, strlen(data), opts, "a int, b text, c boolean", NULL, 0, &res);
    assert_string_equal(res.text, ".\n.\n.\n");
    assert_int_equal(res.stats.rows_read, 3);
    assert_int_equal(res.stats.rows_malformed, 2);
    tb_jsonl_opts_free(opts);
    /* dropmalformed with no column read (count(*)): the same lines drop as for SELECT * */
    opts = mkopts("mode", "dropmalformed", NULL);
    run_buf_proj(data, strlen(data), opts, "a int, b text, c boolean", NULL, 0, &res);
    assert_int_equal(res.stats.rows_read, 1);
    run_buf_proj(data, strlen(data), opts, "a int, b text, c boolean", NULL, -1, &res);
    assert_int_equal(res.stats.rows_read, 1);
    tb_jsonl_opts_free(opts);
    /* the corrupt column alone, and in the middle of the table */
    opts = mkopts("corrupt_column", "_c", NULL);
    {
        const int pc[] = {1};
        run_buf_proj(data, strlen(data), opts, "a int, _c text, b text", pc, 1, &res);
        /* reading the corrupt column checks every column: line 2's bad a is seen */
        assert_string_equal(res.text, "N\n{\"a\": \"bad\", \"b\": \"y\", \"c\": false}\n"
                                      "{\"a\": 3, \"b\": \"z\", \"c\": nul}\n");
        assert_int_equal(res.stats.rows_malformed, 2);
        assert_string_equal(res.bad, "2:key \"a\": expected an integer number for type integer, "
                                     "found string \"bad\"|{\"a\": \"bad\", \"b\": \"y\", "
                                     "\"c\": false}\n"
                                     "3:invalid JSON: unexpected character at byte 25|{\"a\": 3, "
                                     "\"b\": \"z\", \"c\": nul}\n");
        run_buf_proj(data, strlen(data), opts, "a int, _c text, b text", NULL, -1, &res);
        assert_string_equal(res.text, "1|N|x\nN|{\"a\": \"bad\", \"b\": \"y\", \"c\": false}|y\n"
                                      "N|{\"a\": 3, \"b\": \"z\", \"c\": nul}|N\n");
    }
    tb_jsonl_opts_free(opts);
}

static void test_corrupt_type(void **state)
{
    tb_jsonl_opts *opts = mkopts("corrupt_column", "_c", NULL);
    tb_schema *schema = mkschema("a int, _c int");
    tb_source *src = NULL;
    tb_err err;
    (void)state;

    assert_int_equal(tb_jsonl_source_from_buffer("x", "", 0, opts, schema, PALL, 2, &src, &err),
                     TB_E_TYPE);
    assert_string_equal(err.msg, "read_json: corrupt column '_c' must be of type text");
    assert_null(src);
    tb_schema_free(schema);
    tb_jsonl_opts_free(opts);
}

static void test_files(void **state)
{
    tb_jsonl_opts *opts = mkopts("mode", "failfast", NULL);
    tb_schema *schema = mkschema("k int, v text");
    tb_strlist paths = {0};
    tb_source *src = NULL;
    tb_err err;
    tb_buf out = {0};
    uint32_t nb = 0;
    (void)state;

    assert_int_equal(tb_strlist_push(&paths, put_text("f1.jsonl", "{\"k\":1,\"v\":\"a\"}\n")),
                     TB_OK);
    assert_int_equal(tb_strlist_push(&paths, put_text("f2.jsonl", "")), TB_OK);
    assert_int_equal(tb_strlist_push(&paths, put_text("f3.jsonl", "\xEF\xBB\xBF{\"k\":2}")),
                     TB_OK);
    assert_int_equal(tb_strlist_push(&paths, put_text("f4.jsonl", "{\"k\":3}\n{\"k\":x}\n")),
                     TB_OK);
    assert_int_equal(tb_jsonl_source_new(&paths, opts, schema, PALL, 2, &src, &err), TB_OK);
    assert_int_equal(drain(src, &out, &nb, &err), TB_E_PARSE);
    assert_non_null(strstr(err.msg, "/f4.jsonl:2: invalid JSON: unexpected character at byte 6"));
    assert_int_equal(src->stats.files_done, 3);
    tb_source_free(src);
    tb_strlist_free(&paths);
    /* a missing file: an error naming it */
    out.len = 0;
    assert_int_equal(tb_strlist_push(&paths, put_text("g1.jsonl", "{\"k\":1}\n")), TB_OK);
    assert_int_equal(tb_strlist_push(&paths, "/nonexistent/dir/x.jsonl"), TB_OK);
    assert_int_equal(tb_jsonl_source_new(&paths, opts, schema, PALL, 2, &src, &err), TB_OK);
    assert_int_equal(drain(src, &out, &nb, &err), TB_E_IO);
    assert_string_equal(err.msg,
                        "json: open '/nonexistent/dir/x.jsonl': No such file or directory");
    tb_source_free(src);
    tb_strlist_free(&paths);
    tb_buf_free(&out);
    tb_schema_free(schema);
    tb_jsonl_opts_free(opts);
}

static void test_batches(void **state)
{
    tb_jsonl_opts *opts = mkopts(NULL);
    tb_buf data = {0};
    run_res res;
    int i;
    (void)state;

    for (i = 0; i < 10000; i++)
        tb_buf_printf(&data, "{\"i\": %d, \"s\": \"row %d\"}\n", i, i);
    run_buf_proj(data.data, data.len, opts, "i int, s text", NULL, -1, &res);
    assert_int_equal(res.rc, TB_OK);
    assert_int_equal(res.stats.rows_read, 10000);
    assert_true(res.n_batches >= 5); /* TB_BATCH_CAP rows each at most */
    tb_buf_free(&data);
    tb_jsonl_opts_free(opts);
}

/* ---------------------------------------------------------------- inference */

static tb_schema *infer(const char *text, tb_jsonl_opts *opts, tb_rc want, tb_err *err)
{
    tb_strlist paths = {0};
    tb_schema *schema = NULL;
    assert_int_equal(tb_strlist_push(&paths, put_text("infer.jsonl", text)), TB_OK);
    assert_int_equal(tb_jsonl_infer_schema(&paths, opts, &schema, err), want);
    tb_strlist_free(&paths);
    return schema;
}

static void schema_text(const tb_schema *schema, char *buf, size_t cap)
{
    size_t n = 0;
    uint32_t i;
    buf[0] = '\0';
    for (i = 0; i < schema->n; i++) {
        char t[64];
        n += (size_t)snprintf(buf + n, cap - n, "%s%s %s", i ? ", " : "", schema->fields[i].name,
                              tb_type_name(schema->fields[i].type, t, sizeof(t)));
    }
}

static void test_infer(void **state)
{
    tb_jsonl_opts *opts = mkopts("corrupt_column", "_bad", NULL);
    tb_schema *schema;
    tb_err err;
    char buf[1024];
    (void)state;

    schema = infer("{\"i\": 1, \"b\": true, \"camelCase\": \"x\", \"n\": null}\n"
                   "not json, skipped: {\"zz\": 1}\n"
                   "{\"l\": 3000000000, \"i\": -5, \"d\": 1, \"dt\": \"2024-01-01\", "
                   "\"ts\": \"2024-01-01 10:00:00\", \"o\": {\"a\": 1}, \"a\": [1]}\n"
                   "{\"d\": 1.5, \"mix\": 1, \"dts\": \"2024-01-01\", \"big\": "
                   "123456789012345678901234567890}\n"
                   "{\"mix\": \"one\", \"dts\": \"2024-01-01T00:00:01Z\", \"nan\": NaN}\n",
                   opts, TB_OK, &err);
    schema_text(schema, buf, sizeof(buf));
    assert_string_equal(buf, "i integer, b boolean, camelCase text, n text, l bigint, "
                             "d double precision, dt date, ts timestamp, o text, a text, "
                             "mix text, dts timestamp, big numeric(38,0), nan double precision, "
                             "_bad text");
    tb_schema_free(schema);

    /* sample_rows bounds the lines read */
    tb_jsonl_opts_free(opts);
    opts = mkopts("sample_rows", "1", NULL);
    schema = infer("{\"a\": 1}\n{\"a\": \"x\", \"b\": 2}\n", opts, TB_OK, &err);
    schema_text(schema, buf, sizeof(buf));
    assert_string_equal(buf, "a integer");
    tb_schema_free(schema);

    /* errors */
    assert_null(infer("\n[1]\n{}\n", opts, TB_E_PARSE, &err));
    assert_non_null(strstr(err.msg, "json: cannot infer a schema: no JSON object with a key"));
    tb_jsonl_opts_free(opts);
    opts = mkopts(NULL);
    assert_null(infer("{\"id\": 1, \"ID\": 2}\n", opts, TB_E_SQL, &err));
    assert_string_equal(err.msg, "json: cannot infer a schema: keys \"id\" and \"ID\" differ "
                                 "only in case (SQL names are case-insensitive): declare the "
                                 "schema");
    tb_jsonl_opts_free(opts);
    opts = mkopts("corrupt_column", "x", NULL);
    assert_null(infer("{\"x\": 1}\n", opts, TB_E_SQL, &err));
    assert_non_null(strstr(err.msg, "corrupt_column 'x' is also a key"));
    tb_jsonl_opts_free(opts);
    opts = mkopts("max_line_bytes", "10", NULL);
    assert_null(infer("{\"x\": 1}\n{\"x\": 12345678}\n", opts, TB_E_LIMIT, &err));
    assert_non_null(strstr(err.msg, "infer.jsonl:2: line longer than max_line_bytes"));
    tb_jsonl_opts_free(opts);
    /* the schema option wins */
    opts = mkopts("schema", "q bigint", "corrupt_column", "_c", NULL);
    schema = infer("{\"x\": 1}\n", opts, TB_OK, &err);
    schema_text(schema, buf, sizeof(buf));
    assert_string_equal(buf, "q bigint, _c text");
    tb_schema_free(schema);
    tb_jsonl_opts_free(opts);
}

/* ---------------------------------------------------------------- allocation faults */

static tb_rc fault_run(const char *path, tb_buf *out)
{
    tb_jsonl_opts *opts = tb_jsonl_opts_new();
    tb_schema *schema = NULL;
    tb_strlist paths = {0};
    tb_source *src = NULL;
    tb_arena *arena = NULL;
    tb_err err;
    tb_rc rc = TB_E_NOMEM;
    int proj[] = {0, 1, 2, 3, 4, 5};

    out->len = 0;
    if (opts == NULL)
        goto done;
    if ((rc = tb_jsonl_opts_set(opts, "corrupt_column", "_bad", &err)) != TB_OK ||
        (rc = tb_strlist_push(&paths, path)) != TB_OK)
        goto done;
    tb_jsonl_opts_set_chunk_size(opts, 7);
    if ((rc = tb_jsonl_infer_schema(&paths, opts, &schema, &err)) != TB_OK)
        goto done;
    if (schema->n != 6) {
        rc = TB_E_ERROR;
        goto done;
    }
    if ((rc = tb_jsonl_source_new(&paths, opts, schema, proj, 6, &src, &err)) != TB_OK)
        goto done;
    if ((arena = tb_arena_new(0)) == NULL) {
        rc = TB_E_NOMEM;
        goto done;
    }
    for (;;) {
        tb_batch *batch = NULL;
        uint32_t r, c;
        tb_arena_reset(arena);
        if ((rc = tb_source_next(src, arena, &batch, &err)) != TB_OK || batch == NULL)
            break;
        for (r = 0; r < batch->n_rows; r++) {
            for (c = 0; c < batch->n_cols; c++) {
                tb_value val;
                tb_vec_get(&batch->cols[c], r, &val);
                if (c > 0)
                    tb_buf_putc(out, '|');
                if (val.is_null)
                    tb_buf_putc(out, 'N');
                else if ((rc = tb_value_format(&val, out)) != TB_OK)
                    goto done;
            }
            tb_buf_putc(out, '\n');
        }
    }
done:
    tb_arena_free(arena);
    tb_source_free(src);
    tb_schema_free(schema);
    tb_strlist_free(&paths);
    tb_jsonl_opts_free(opts);
    return rc;
}

static void test_alloc_faults(void **state)
{
    const char *path = put_text("faults.jsonl",
                                "{\"id\": 1, \"name\": \"a \\\"quoted\\\" name\", \"x\": 1.5, "
                                "\"d\": \"2024-01-01\", \"o\": {\"k\": [1, 2]}}\n"
                                "{\"id\": 2, \"name\": \"plain\", \"x\": null}\n"
                                "{\"id\": 3 oops\n"
                                "{\"\\u0069d\": 4, \"name\": \"\\u00e9\", \"d\": \"2024-13-01\"}\n");
    tb_buf ref = {0}, out = {0};
    long n;
    (void)state;

    assert_int_equal(fault_run(path, &ref), TB_OK);
    tb_buf_cstr(&ref);
    assert_string_equal(ref.data, "1|a \"quoted\" name|1.5|2024-01-01|{\"k\":[1,2]}|N\n"
                                  "2|plain|N|N|N|N\n"
                                  "N|N|N|N|N|{\"id\": 3 oops\n"
                                  "4|\xC3\xA9|N|2024-13-01|N|N\n");
    for (n = 1; n < 100000; n++) {
        tb_rc rc;
        bool fired;
        tb_fault_arm(n);
        rc = fault_run(path, &out);
        fired = tb_fault_fired();
        tb_fault_arm(0);
        if (!fired) {
            assert_int_equal(rc, TB_OK);
            break;
        }
        if (rc != TB_OK && rc != TB_E_NOMEM)
            fail_msg("fault at allocation %ld: rc %d", n, rc);
        if (rc == TB_OK) {
            tb_buf_cstr(&out);
            assert_string_equal(out.data, ref.data);
        }
    }
    assert_true(n > 10);
    tb_buf_free(&ref);
    tb_buf_free(&out);
}

/* Compressed JSON lines (issue 9 point 8): inference and reading through the
 * decompressed text, lines counted in it; a damaged stream names the file. */
static void test_compressed(void **state)
{
    static const char text[] = "{\"a\": 1, \"b\": \"x\"}\n{\"a\": 2, \"b\": \"y\"}\n\n"
                               "{\"a\": \"three\", \"b\": \"z\"}\n";
    tb_jsonl_opts *opts = mkopts("mode", "failfast", NULL);
    tb_strlist paths = {0};
    tb_schema *schema = NULL;
    tb_buf z = {0};
    tb_err err;
    run_res *res = malloc(sizeof(*res));
    const char *p;
    (void)state;

    assert_non_null(res);
    for (int codec = TB_CODEC_GZIP; codec <= TB_CODEC_ZSTD; codec += TB_CODEC_ZSTD - TB_CODEC_GZIP) {
        p = put_compressed("c.jsonl", text, sizeof(text) - 1, codec);
        tb_strlist_free(&paths);
        assert_int_equal(tb_strlist_push(&paths, p), TB_OK);
        assert_int_equal(tb_jsonl_infer_schema(&paths, opts, &schema, &err), TB_OK);
        assert_int_equal(schema->n, 2);
        assert_int_equal(schema->fields[0].type.id, TB_T_STRING); /* 1, 2, "three" */
        tb_schema_free(schema);
        schema = NULL;
        run_file(p, opts, "a int, b text", 0, res);
        assert_int_equal(res->rc, TB_E_PARSE);
        assert_string_equal(res->msg, "json: buf.jsonl:4: key \"a\": expected an integer number "
                                      "for type integer, found string \"three\"");
    }
    assert_int_equal(tb_compress(TB_CODEC_GZIP, (const uint8_t *)text, sizeof(text) - 1, &z,
                                 &err),
                     TB_OK);
    p = put_file("trunc.jsonl.gz", z.data, z.len - 4);
    run_file(p, opts, "a int, b text", 0, res);
    assert_int_equal(res->rc, TB_E_CORRUPT);
    assert_string_equal(res->msg, "json: buf.jsonl: corrupt gzip data (truncated: the file "
                                  "ends inside the compressed stream)");
    p = put_text("fake.jsonl.zst", text);
    run_file(p, opts, "a int, b text", 0, res);
    assert_int_equal(res->rc, TB_E_CORRUPT);
    assert_string_equal(res->msg, "json: buf.jsonl: not zstd data (the name ends in .zst, but "
                                  "the file does not start with its magic bytes 28 b5 2f fd)");
    tb_buf_free(&z);
    tb_strlist_free(&paths);
    tb_jsonl_opts_free(opts);
    free(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opts),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_nulls_keys),
        cmocka_unit_test(test_text_of_values),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_malformed_reasons),
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_dropmalformed_all),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_long_line_file),
        cmocka_unit_test(test_projection),
        cmocka_unit_test(test_corrupt_type),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_infer),
        cmocka_unit_test(test_alloc_faults),
        cmocka_unit_test(test_compressed),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
