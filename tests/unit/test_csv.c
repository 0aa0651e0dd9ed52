/*
 * test_csv.c - CSV reader and writer: options, RFC 4180 quoting, line ends, BOM,
 * records across read-chunk boundaries, malformed records in every mode (exact
 * messages), inference, projection, count(*)-style scans, limits, the bad-record
 * callback, stats, and writer round trips. Files are real files in a temp dir.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/csv.h"
#include "format/codec.h"

static char g_dir[256];

static int setup_dir(void **state)
{
    (void)state;
    (void)snprintf(g_dir, sizeof(g_dir), "/tmp/tb_test_csv_XXXXXX");
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

/* Deterministic test randomness (xorshift64*), independent of libc's rnd(). */
static uint64_t g_rng = 0x9E3779B97F4A7C15ULL;

static void rng_seed(uint64_t seed)
{
    g_rng = seed * 0x9E3779B97F4A7C15ULL + 1;
}

static int rnd(void)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (int)((g_rng * 0x2545F4914F6CDD1DULL) >> 33);
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

static tb_csv_opts *mkopts(const char *kv, ...)
{
    tb_csv_opts *opts = tb_csv_opts_new();
    va_list ap;
    const char *k = kv;
    tb_err err;

    assert_non_null(opts);
    va_start(ap, kv);
    while (k != NULL) {
        const char *v = va_arg(ap, const char *);
        tb_rc rc = tb_csv_opts_set(opts, k, v, &err);
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
                if (val.is_null)
                    tb_buf_putc(out, 'N');
                else
                    assert_int_equal(tb_value_format(&val, out), TB_OK);
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

static const int P4[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};

typedef struct run_res {
    tb_rc rc;
    char text[8192];
    char msg[TB_ERR_MSG_CAP];
    tb_source_stats stats;
    uint32_t n_batches;
} run_res;

/* Read a buffer with options and a schema text, all columns. */
static void run_buf(const char *data, size_t len, tb_csv_opts *opts, const char *schema_text,
                    run_res *res)
{
    tb_schema *schema = mkschema(schema_text);
    tb_source *src = NULL;
    tb_err err;
    tb_buf out = {0};

    memset(res, 0, sizeof(*res));
    tb_err_clear(&err);
    assert_int_equal(tb_csv_source_from_buffer("buf.csv", data, len, opts, schema, P4,
                                               schema->n, &src, &err),
                     TB_OK);
    res->rc = drain(src, &out, &res->n_batches, &err);
    (void)snprintf(res->text, sizeof(res->text), "%s", out.data != NULL ? out.data : "");
    (void)snprintf(res->msg, sizeof(res->msg), "%s", res->rc != TB_OK ? err.msg : "");
    res->stats = src->stats;
    tb_buf_free(&out);
    tb_source_free(src);
    tb_schema_free(schema);
}

/* Same through a real file, with a given read chunk size (0: default). */
static void run_file(const char *path, tb_csv_opts *opts, const char *schema_text,
                     size_t chunk, run_res *res)
{
    tb_schema *schema = mkschema(schema_text);
    tb_source *src = NULL;
    tb_err err;
    tb_buf out = {0};
    tb_strlist paths = {0};

    memset(res, 0, sizeof(*res));
    tb_err_clear(&err);
    tb_csv_opts_set_chunk_size(opts, chunk);
    assert_int_equal(tb_strlist_push(&paths, path), TB_OK);
    assert_int_equal(tb_csv_source_new(&paths, opts, schema, P4, schema->n, &src, &err), TB_OK);
    res->rc = drain(src, &out, &res->n_batches, &err);
    (void)snprintf(res->text, sizeof(res->text), "%s", out.data != NULL ? out.data : "");
    (void)snprintf(res->msg, sizeof(res->msg), "%s", res->rc != TB_OK ? err.msg : "");
    {
        /* name the file as run_buf names its buffer, so messages compare */
        char *at = strstr(res->msg, path);
        if (at != NULL) {
            tb_buf fixed = {0};
            *at = '\0';
            (void)tb_buf_printf(&fixed, "%sbuf.csv%s", res->msg, at + strlen(path));
            (void)snprintf(res->msg, sizeof(res->msg), "%s", tb_buf_cstr(&fixed));
            tb_buf_free(&fixed);
        }
    }
    res->stats = src->stats;
    tb_buf_free(&out);
    tb_source_free(src);
    tb_schema_free(schema);
    tb_strlist_free(&paths);
    tb_csv_opts_set_chunk_size(opts, 0);
}

/* Buffer and file (default chunk and chunks of 1..9 and 13 bytes) must agree exactly. */
static void run_all(const char *name, const char *data, size_t len, tb_csv_opts *opts,
                    const char *schema_text, run_res *res)
{
    static const size_t chunks[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 13};
    const char *path = put_file(name, data, len);
    run_res *f = malloc(sizeof(*f));
    size_t i;

    assert_non_null(f);
    run_buf(data, len, opts, schema_text, res);
    for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        run_file(path, opts, schema_text, chunks[i], f);
        if (f->rc != res->rc || strcmp(f->text, res->text) != 0 || strcmp(f->msg, res->msg) != 0 ||
            f->stats.rows_malformed != res->stats.rows_malformed)
            fail_msg("chunk %zu differs:\nbuffer rc=%d %s\n%s\nfile rc=%d %s\n%s", chunks[i],
                     res->rc, res->msg, res->text, f->rc, f->msg, f->text);
        assert_int_equal(f->stats.bytes_read, res->rc == TB_OK ? len : f->stats.bytes_read);
    }
    /* The same input compressed (issue 9 point 8): the same rows, messages (lines of
     * the decompressed text) and counts, whatever the chunk size. */
    for (int codec = TB_CODEC_GZIP; codec <= TB_CODEC_ZSTD; codec += TB_CODEC_ZSTD - TB_CODEC_GZIP) {
        static const size_t zchunks[] = {0, 1, 7};
        const char *zpath = put_compressed(name, data, len, codec);
        for (i = 0; i < sizeof(zchunks) / sizeof(zchunks[0]); i++) {
            run_file(zpath, opts, schema_text, zchunks[i], f);
            if (f->rc != res->rc || strcmp(f->text, res->text) != 0 || strcmp(f->msg, res->msg) != 0 ||
                f->stats.rows_malformed != res->stats.rows_malformed)
                fail_msg("%s, chunk %zu differs:\nbuffer rc=%d %s\n%s\nfile rc=%d %s\n%s",
                         zpath, zchunks[i], res->rc, res->msg, res->text, f->rc, f->msg, f->text);
        }
    }
    free(f);
}

#define RUN(data, opts, schema, res) run_all("t.csv", data, strlen(data), opts, schema, res)

/* ---------------------------------------------------------------- options */

static void test_opts(void **state)
{
    tb_csv_opts *opts = tb_csv_opts_new(), *copy;
    tb_err err;
    (void)state;

    assert_non_null(opts);
    assert_null(tb_csv_opts_schema(opts));
    assert_null(tb_csv_opts_corrupt_column(opts));
    assert_int_equal(tb_csv_opts_set(opts, "bogus", "1", &err), TB_E_NOTFOUND);
    assert_string_equal(err.msg, "read_csv: unknown option 'bogus' (known: header, delimiter, "
                                 "quote, escape, null, timestamp_format, date_format, mode, "
                                 "corrupt_column, schema, sample_rows, max_line_bytes, skip)");
    assert_int_equal(tb_csv_opts_set(opts, "header", "maybe", &err), TB_E_SQL);
    assert_string_equal(err.msg, "read_csv: invalid value 'maybe' for option 'header' "
                                 "(expected true or false)");
    assert_int_equal(tb_csv_opts_set(opts, "HEADER", "FALSE", &err), TB_OK);
    assert_int_equal(tb_csv_opts_set(opts, "delimiter", ";;", &err), TB_E_SQL);
    assert_non_null(strstr(err.msg, "option 'delimiter'"));
    assert_int_equal(tb_csv_opts_set(opts, "delimiter", "", &err), TB_E_SQL);
    assert_int_equal(tb_csv_opts_set(opts, "delimiter", "\\t", &err), TB_OK);
    assert_int_equal(tb_csv_opts_set(opts, "quote", "ab", &err), TB_E_SQL);
    assert_int_equal(tb_csv_opts_set(opts, "quote", "'", &err), TB_OK);
    assert_int_equal(tb_csv_opts_set(opts, "escape", "\\", &err), TB_OK);
    assert_int_equal(tb_csv_opts_set(opts, "null", "NA", &err), TB_OK);
    assert_int_equal(tb_csv_opts_set(opts, "timestamp_format", "%Y/%q", &err), TB_E_SQL);
    assert_non_null(strstr(err.msg, "'%Y/%q' for option 'timestamp_format'"));
    assert_int_equal(tb_csv_opts_set(opts, "timestamp_format", "%d/%m/%Y %H:%M", &err), TB_OK);
    assert_int_equal(tb_csv_opts_set(opts, "date_format", "%H", &err), TB_E_SQL);
    assert_int_equal(tb_csv_opts_set(opts, "date_format", "%d.%m.%Y", &err), TB_OK);
    assert_int_equal(tb_csv_opts_set(opts, "mode", "lenient", &err), TB_E_SQL);
    assert_string_equal(err.msg, "read_csv: invalid value 'lenient' for option 'mode' "
                                 "(expected permissive, dropmalformed or failfast)");
    assert_int_equal(tb_csv_opts_set(opts, "mode", "FailFast", &err), TB_OK);
    assert_int_equal(tb_csv_opts_set(opts, "corrupt_column", "", &err), TB_E_SQL);
    assert_int_equal(tb_csv_opts_set(opts, "corrupt_column", "_bad", &err), TB_OK);
    assert_string_equal(tb_csv_opts_corrupt_column(opts), "_bad");
    assert_int_equal(tb_csv_opts_set(opts, "schema", "a int, b", &err), TB_E_SQL);
    assert_non_null(strstr(err.msg, "read_csv: option 'schema'"));
    assert_int_equal(tb_csv_opts_set(opts, "schema", "a int, b text", &err), TB_OK);
    assert_int_equal(tb_csv_opts_schema(opts)->n, 2);
    assert_int_equal(tb_csv_opts_set(opts, "sample_rows", "0", &err), TB_E_SQL);
    assert_int_equal(tb_csv_opts_set(opts, "sample_rows", "-5", &err), TB_E_SQL);
    assert_int_equal(tb_csv_opts_set(opts, "sample_rows", "12", &err), TB_OK);
    assert_int_equal(tb_csv_opts_set(opts, "max_line_bytes", "2000000000", &err), TB_E_SQL);
    assert_int_equal(tb_csv_opts_set(opts, "max_line_bytes", "x", &err), TB_E_SQL);
    assert_int_equal(tb_csv_opts_set(opts, "max_line_bytes", "4096", &err), TB_OK);
    assert_int_equal(tb_csv_opts_set(opts, "skip", "-1", &err), TB_E_SQL);
    assert_int_equal(tb_csv_opts_set(opts, "skip", "3", &err), TB_OK);

    copy = tb_csv_opts_copy(opts);
    assert_non_null(copy);
    tb_csv_opts_free(opts);
    assert_string_equal(tb_csv_opts_corrupt_column(copy), "_bad");
    assert_string_equal(tb_csv_opts_schema(copy)->fields[1].name, "b");
    tb_csv_opts_free(copy);
    tb_csv_opts_free(NULL);
}

static void test_opts_conflict(void **state)
{
    tb_csv_opts *opts = mkopts("delimiter", "'", "quote", "'", NULL);
    tb_schema *schema = mkschema("a int");
    tb_source *src = NULL;
    tb_err err;
    (void)state;

    assert_int_equal(tb_csv_source_from_buffer("x", "1\n", 2, opts, schema, P4, 1, &src, &err),
                     TB_E_SQL);
    assert_string_equal(err.msg, "read_csv: options 'delimiter' and 'quote' are both '''");
    assert_null(src);
    /* bad projection */
    tb_csv_opts_free(opts);
    opts = mkopts(NULL);
    {
        int bad[] = {1};
        assert_int_equal(
            tb_csv_source_from_buffer("x", "1\n", 2, opts, schema, bad, 1, &src, &err),
            TB_E_MISUSE);
    }
    tb_schema_free(schema);
    tb_csv_opts_free(opts);
}

/* ---------------------------------------------------------------- basic reading */

static void test_basic_types(void **state)
{
    tb_csv_opts *opts = mkopts(NULL);
    run_res res;
    (void)state;

    RUN("sale_id,product_id,quantity,ts\n"
        "1,10,5,2024-01-01 10:00:00\n"
        "2,-11,0,2024-01-01T10:00:05.25\n"
        "3, 12 ,+7,2024-02-29 23:59:59\n",
        opts, "sale_id bigint, product_id int, quantity smallint, ts timestamp", &res);
    assert_int_equal(res.rc, TB_OK);
    assert_string_equal(res.text, "1|10|5|2024-01-01 10:00:00\n"
                                  "2|-11|0|2024-01-01 10:00:05.25\n"
                                  "3|12|7|2024-02-29 23:59:59\n");
    assert_int_equal(res.stats.rows_read, 3);
    assert_int_equal(res.stats.rows_malformed, 0);
    assert_int_equal(res.stats.files_done, 1);

    RUN("b,f,d,dt,n,iv\n"
        "true,1.5,-0.25,2024-03-01,12.345,1 day 02:00:00\n"
        "NO,1e3,1e-7,1999-12-31,-0.5,10 seconds\n"
        "t,NaN,Infinity,2000-02-29,99999.99,00:00:10\n"
        "0,,-Infinity,,,\n",
        opts, "b boolean, f real, d double precision, dt date, n numeric(7,2), iv interval",
        &res);
    assert_int_equal(res.rc, TB_OK);
    assert_string_equal(res.text, "true|1.5|-0.25|2024-03-01|12.35|1 day 02:00:00\n"
                                  "false|1000|1e-07|1999-12-31|-0.50|00:00:10\n"
                                  "true|NaN|Infinity|2000-02-29|99999.99|00:00:10\n"
                                  "false|N|-Infinity|N|N|N\n");
    tb_csv_opts_free(opts);
}

static void test_quoting(void **state)
{
    tb_csv_opts *opts = mkopts("header", "false", NULL);
    run_res res;
    (void)state;

    /* embedded delimiter, doubled quotes, newline (CRLF and LF) inside quotes, quoted
     * empty string vs unquoted empty (NULL), quote inside an unquoted field (literal). */
    RUN("1,\"a,b\",\"say \"\"hi\"\"\"\n"
        "2,\"line1\nline2\",\"x\r\ny\"\n"
        "3,\"\",\n"
        "4,ab\"c,\"\"\"\"\n"
        "5,\"\",\"\"\"\"\"\"",
        opts, "id int, a text, b text", &res);
    assert_int_equal(res.rc, TB_OK);
    assert_string_equal(res.text, "1|a,b|say \"hi\"\n"
                                  "2|line1\nline2|x\r\ny\n"
                                  "3||N\n"
                                  "4|ab\"c|\"\n"
                                  "5||\"\"\n");
    tb_csv_opts_free(opts);

    /* backslash escape, other quote and delimiter */
    opts = mkopts("header", "false", "quote", "'", "escape", "\\", "delimiter", ";", NULL);
    RUN("1;'it\\'s; ok';'a\\\\b'\n2;'x''y';plain\\n\n", opts, "id int, a text, b text", &res);
    assert_int_equal(res.rc, TB_OK);
    /* with a backslash escape, '' is a closing quote followed by a character */
    assert_string_equal(res.text, "1|it's; ok|a\\b\n2|x|plain\\n\n");
    assert_int_equal(res.stats.rows_malformed, 1);
    tb_csv_opts_free(opts);

    /* quoting disabled */
    opts = mkopts("header", "false", "quote", "", NULL);
    RUN("1,\"a\",\"b,c\"\n", opts, "id int, a text, b text", &res);
    assert_int_equal(res.rc, TB_OK);
    assert_string_equal(res.text, "1|\"a\"|\"b\n");
    assert_int_equal(res.stats.rows_malformed, 1); /* 4 fields */
    tb_csv_opts_free(opts);

    /* tab delimiter */
    opts = mkopts("header", "false", "delimiter", "\\t", NULL);
    RUN("1\ta b\t\"c\td\"\n", opts, "id int, a text, b text", &res);
    assert_string_equal(res.text, "1|a b|c\td\n");
    tb_csv_opts_free(opts);
}

static void test_line_ends(void **state)
{
    tb_csv_opts *opts = mkopts("mode", "failfast", NULL);
    run_res res;
    (void)state;

    /* BOM, CRLF, lone CR, blank lines (LF, CRLF, CR), last line without a line end;
     * the error line shows that physical lines are counted across all of them. */
    RUN("\xEF\xBB\xBF"
        "a,b\r\n1,x\r\n\r\n2,y\r3,z\n\n\r4,\"multi\r\nline\"\r\n5,w",
        opts, "a int, b text", &res);
    assert_int_equal(res.rc, TB_OK);
    assert_string_equal(res.text, "1|x\n2|y\n3|z\n4|multi\r\nline\n5|w\n");
    RUN("\xEF\xBB\xBF"
        "a,b\r\n1,x\r\n\r\n2,y\r3,z\n\n\r4,\"multi\r\nline\"\r\n5,w\nbad",
        opts, "a int, b text", &res);
    assert_int_equal(res.rc, TB_E_PARSE);
    assert_string_equal(res.msg, "csv: buf.csv:11: expected 2 fields, found 1");

    /* header names are the BOM-less first line; the BOM is only skipped at the start */
    RUN("\xEF\xBB\xBFx\n\xEF\xBB\xBFy\n", opts, "a text", &res);
    assert_string_equal(res.text, "\xEF\xBB\xBFy\n");
    tb_csv_opts_free(opts);

    /* skip counts physical lines before the header */
    opts = mkopts("skip", "2", NULL);
    RUN("junk line 1\r\njunk \"line 2\nname\n1\n2\n", opts, "a int", &res);
    assert_int_equal(res.rc, TB_OK);
    assert_string_equal(res.text, "1\n2\n");
    RUN("only\n", opts, "a int", &res);
    assert_string_equal(res.text, "");
    tb_csv_opts_free(opts);
}

static void test_empty_inputs(void **state)
{
    tb_csv_opts *opts = mkopts(NULL);
    run_res res;
    (void)state;

    RUN("", opts, "a int", &res);
    assert_int_equal(res.rc, TB_OK);
    assert_string_equal(res.text, "");
    assert_int_equal(res.n_batches, 0);
    RUN("a,b\n", opts, "a int, b int", &res);
    assert_string_equal(res.text, "");
    RUN("a,b", opts, "a int, b int", &res);
    assert_string_equal(res.text, "");
    RUN("\n\n\r\n", opts, "a int", &res);
    assert_string_equal(res.text, "");
    RUN("\xEF\xBB\xBF", opts, "a int", &res);
    assert_string_equal(res.text, "");
    tb_csv_opts_free(opts);
}

static void test_nulls(void **state)
{
    tb_csv_opts *opts = mkopts("header", "false", "null", "NA", NULL);
    run_res res;
    (void)state;

    RUN("NA,NA,\"NA\"\n1,,\"\"\n \t,x, NA\n", opts, "a int, b text, c text", &res);
    assert_int_equal(res.rc, TB_OK);
    /* unquoted NA is NULL; quoted "NA" is text; empty non-text fields are NULL; blanks
     * around non-text values are ignored, text keeps them */
    assert_string_equal(res.text, "N|N|NA\n1||\nN|x| NA\n");
    tb_csv_opts_free(opts);
}

static void test_formats(void **state)
{
    tb_csv_opts *opts = mkopts("header", "false", "timestamp_format", "%d/%m/%Y %H:%M:%S.%f",
                               "date_format", "%Y%m%d", "mode", "failfast", NULL);
    run_res res;
    (void)state;

    RUN("05/01/2024 07:08:09.5,20240229\n5/1/2024 7:08:09.123456789,19700101\n", opts,
        "ts timestamp, d date", &res);
    assert_int_equal(res.rc, TB_OK);
    assert_string_equal(res.text, "2024-01-05 07:08:09.5|2024-02-29\n"
                                  "2024-01-05 07:08:09.123456|1970-01-01\n");
    RUN("05/01/2024 07:08:09.5,20230229\n", opts, "ts timestamp, d date", &res);
    assert_int_equal(res.rc, TB_E_PARSE);
    assert_string_equal(res.msg, "csv: buf.csv:1: column 'd': invalid date '20230229'");
    RUN("2024-01-05 07:08:09,20230228\n", opts, "ts timestamp, d date", &res);
    assert_string_equal(res.msg,
                        "csv: buf.csv:1: column 'ts': invalid timestamp '2024-01-05 07:08:09'");
    tb_csv_opts_free(opts);
}

/* ---------------------------------------------------------------- malformed records */

typedef struct bad_log {
    int n;
    char text[4096];
} bad_log;

static void on_bad(void *ud, const char *file, uint64_t line, const char *raw, size_t raw_len,
                   const char *reason)
{
    bad_log *log = ud;
    size_t len = strlen(log->text);
    log->n++;
    (void)snprintf(log->text + len, sizeof(log->text) - len, "%s:%llu:[%.*s]:%s\n",
             strrchr(file, '/') != NULL ? strrchr(file, '/') + 1 : file,
             (unsigned long long)line, (int)raw_len, raw, reason);
}

/* One malformed case: the failfast error, the permissive rows (corrupt column last),
 * the dropmalformed rows, and the callback log. */
typedef struct bad_case {
    const char *data;
    size_t len; /* 0: strlen */
    const char *schema;
    const char *failfast;
    const char *permissive;
    const char *dropped;
    const char *log;
} bad_case;

static void check_bad_case(const bad_case *bc)
{
    size_t len = bc->len ? bc->len : strlen(bc->data);
    const char *path = put_file("bad.csv", bc->data, len);
    tb_csv_opts *ff = mkopts("header", "false", "mode", "failfast", NULL);
    tb_csv_opts *perm = mkopts("header", "false", "corrupt_column", "_raw", NULL);
    tb_csv_opts *drop = mkopts("header", "false", "mode", "dropmalformed", NULL);
    tb_schema *schema = mkschema(bc->schema), *full = NULL;
    tb_strlist paths = {0};
    tb_source *src = NULL;
    tb_err err;
    tb_buf out = {0};
    bad_log log = {0};
    run_res res;
    char msg[600];
    int proj_all[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    size_t chunk;

    assert_int_equal(tb_strlist_push(&paths, path), TB_OK);
    for (chunk = 0; chunk < 4; chunk++) {
        /* failfast, with the callback */
        tb_csv_opts_set_chunk_size(ff, chunk * 3);
        assert_int_equal(tb_csv_source_new(&paths, ff, schema, P4, schema->n, &src, &err),
                         TB_OK);
        memset(&log, 0, sizeof(log));
        tb_csv_source_on_bad_record(src, on_bad, &log);
        out.len = 0;
        assert_int_equal(drain(src, &out, NULL, &err), TB_E_PARSE);
        (void)snprintf(msg, sizeof(msg), "csv: %s:%s", path, bc->failfast);
        assert_string_equal(err.msg, msg);
        assert_int_equal(src->stats.rows_malformed, 1);
        assert_int_equal(log.n, 1);
        tb_source_free(src);

        /* permissive with a corrupt column */
        tb_csv_opts_set_chunk_size(perm, chunk * 3);
        assert_int_equal(tb_csv_infer_schema(&paths, perm, &full, &err), TB_OK);
        assert_string_equal(full->fields[full->n - 1].name, "_raw");
        {
            /* use the given schema plus the corrupt column */
            tb_schema *with = tb_schema_new(schema->n + 1);
            uint32_t i;
            for (i = 0; i < schema->n; i++)
                tb_schema_set(with, i, schema->fields[i].name, schema->fields[i].type, true);
            tb_schema_set(with, schema->n, "_raw", tb_type_make(TB_T_STRING), true);
            tb_schema_free(full);
            full = with;
        }
        assert_int_equal(tb_csv_source_new(&paths, perm, full, proj_all, full->n, &src, &err),
                         TB_OK);
        memset(&log, 0, sizeof(log));
        tb_csv_source_on_bad_record(src, on_bad, &log);
        out.len = 0;
        assert_int_equal(drain(src, &out, NULL, &err), TB_OK);
        assert_string_equal(out.data, bc->permissive);
        assert_string_equal(log.text, bc->log);
        assert_int_equal(src->stats.rows_malformed, log.n);
        tb_source_free(src);
        tb_schema_free(full);
        full = NULL;

        /* dropmalformed */
        tb_csv_opts_set_chunk_size(drop, chunk * 3);
        assert_int_equal(tb_csv_source_new(&paths, drop, schema, P4, schema->n, &src, &err),
                         TB_OK);
        out.len = 0;
        assert_int_equal(drain(src, &out, NULL, &err), TB_OK);
        assert_string_equal(out.data != NULL ? out.data : "", bc->dropped);
        assert_int_equal(src->stats.rows_malformed, log.n);
        tb_source_free(src);
    }
    /* the same through a buffer */
    run_buf(bc->data, len, ff, bc->schema, &res);
    (void)snprintf(msg, sizeof(msg), "csv: buf.csv:%s", bc->failfast);
    assert_string_equal(res.msg, msg);

    tb_buf_free(&out);
    tb_strlist_free(&paths);
    tb_schema_free(schema);
    tb_csv_opts_free(ff);
    tb_csv_opts_free(perm);
    tb_csv_opts_free(drop);
}

static void test_malformed(void **state)
{
    static const bad_case cases[] = {
        {"1,a,5\n2,b\n3,c,7,8\n4,d,9\n", 0, "id int, name text, q int",
         "2: expected 3 fields, found 2", "1|a|5|N\n2|b|N|2,b\n3|c|7|3,c,7,8\n4|d|9|N\n",
         "1|a|5\n4|d|9\n",
         "bad.csv:2:[2,b]:expected 3 fields, found 2\n"
         "bad.csv:3:[3,c,7,8]:expected 3 fields, found 4\n"},
        {"1,a,5\n2,b,abc\n3,c,99999999999\n", 0, "id int, name text, quantity int",
         "2: column 'quantity': invalid integer 'abc'",
         "1|a|5|N\n2|b|N|2,b,abc\n3|c|N|3,c,99999999999\n", "1|a|5\n",
         "bad.csv:2:[2,b,abc]:column 'quantity': invalid integer 'abc'\n"
         "bad.csv:3:[3,c,99999999999]:column 'quantity': value '99999999999' out of range "
         "for type integer\n"},
        {"x,1\n\"multi\nline\",2\n\"open,3\n4,5\n", 0, "s text, n int",
         "4: unterminated quoted field", "x|1|N\nmulti\nline|2|N\nN|N|\"open,3\n4,5\n\n",
         "x|1\nmulti\nline|2\n", "bad.csv:4:[\"open,3\n4,5\n]:unterminated quoted field\n"},
        {"\"ab\"c,1\n\"ok\",2\n", 0, "s text, n int",
         "1: unexpected character 'c' after closing quote", "ab|1|\"ab\"c,1\nok|2|N\n",
         "ok|2\n", "bad.csv:1:[\"ab\"c,1]:unexpected character 'c' after closing quote\n"},
        {"a\0b,1\nc,2\n", 10, "s text, n int", "1: NUL byte in record",
         "N|1|a\xEF\xBF\xBD" "b,1\nc|2|N\n", "c|2\n",
         "bad.csv:1:[a]:NUL byte in record\n"},
        {"ok,1\n\xff\xfe,2\n", 0, "s text, n int", "2: column 's': invalid UTF-8",
         "ok|1|N\nN|2|\xEF\xBF\xBD\xEF\xBF\xBD,2\n", "ok|1\n",
         "bad.csv:2:[\xff\xfe,2]:column 's': invalid UTF-8\n"},
        {"1,x,2024-13-01\n2,y,2024-01-01 00:00:00\n", 0, "id int, s text, ts timestamp",
         "1: column 'ts': invalid timestamp '2024-13-01'",
         "1|x|N|1,x,2024-13-01\n2|y|2024-01-01 00:00:00|N\n", "2|y|2024-01-01 00:00:00\n",
         "bad.csv:1:[1,x,2024-13-01]:column 'ts': invalid timestamp '2024-13-01'\n"},
        /* two bad values in one row: the first column is reported */
        {"a,b\n", 0, "x int, y double precision", "1: column 'x': invalid integer 'a'",
         "N|N|a,b\n", "", "bad.csv:1:[a,b]:column 'x': invalid integer 'a'\n"},
        {"1e999,32768,tru\n", 0, "x double precision, y smallint, z boolean",
         "1: column 'x': value '1e999' out of range for type double precision",
         "N|N|N|1e999,32768,tru\n", "",
         "bad.csv:1:[1e999,32768,tru]:column 'x': value '1e999' out of range for type double "
         "precision\n"},
    };
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("case %zu\n", i);
        check_bad_case(&cases[i]);
    }
}

/* Only projected columns are parsed; field counts are always checked. */
static void test_projection(void **state)
{
    tb_csv_opts *opts = mkopts("mode", "failfast", NULL);
    tb_schema *schema = mkschema("a int, b text, c int");
    const char *data = "a,b,c\n1,x,10\n2,y,bad\n3,z,30\n";
    tb_source *src = NULL;
    tb_err err;
    tb_buf out = {0};
    int proj[] = {2, 0};
    int proj_b[] = {1};
    (void)state;

    assert_int_equal(tb_csv_source_from_buffer("p", data, strlen(data), opts, schema, proj, 2,
                                               &src, &err),
                     TB_OK);
    assert_int_equal(src->schema->n, 2);
    assert_string_equal(src->schema->fields[0].name, "c");
    assert_int_equal(drain(src, &out, NULL, &err), TB_E_PARSE);
    assert_string_equal(err.msg, "csv: p:3: column 'c': invalid integer 'bad'");
    tb_source_free(src);

    /* malformed is a property of the record (issue 13): column c is checked when only b
     * is read, and when nothing is (count(*)) */
    out.len = 0;
    assert_int_equal(tb_csv_source_from_buffer("p", data, strlen(data), opts, schema, proj_b,
                                               1, &src, &err),
                     TB_OK);
    assert_int_equal(drain(src, &out, NULL, &err), TB_E_PARSE);
    assert_string_equal(err.msg, "csv: p:3: column 'c': invalid integer 'bad'");
    tb_source_free(src);
    assert_int_equal(tb_csv_source_from_buffer("p", data, strlen(data), opts, schema, NULL, 0,
                                               &src, &err),
                     TB_OK);
    assert_int_equal(drain(src, &out, NULL, &err), TB_E_PARSE);
    assert_string_equal(err.msg, "csv: p:3: column 'c': invalid integer 'bad'");
    tb_source_free(src);
    tb_buf_free(&out);
    tb_schema_free(schema);
    tb_csv_opts_free(opts);
}

static void test_count_star(void **state)
{
    tb_csv_opts *drop = mkopts("mode", "dropmalformed", NULL);
    tb_csv_opts *perm = mkopts(NULL);
    tb_schema *schema = mkschema("a int, b int");
    tb_buf data = {0}, out = {0};
    tb_source *src = NULL;
    tb_err err;
    uint32_t nb;
    int i;
    (void)state;

    tb_buf_puts(&data, "a,b\n");
    for (i = 0; i < 5000; i++) {
        if (i % 1000 == 7)
            tb_buf_printf(&data, "%d\n", i); /* malformed: 1 field */
        else
            tb_buf_printf(&data, "%d,\"%d\"\n", i, i * 2);
    }
    assert_int_equal(tb_csv_source_from_buffer("c", data.data, data.len, drop, schema, NULL, 0,
                                               &src, &err),
                     TB_OK);
    assert_int_equal(drain(src, &out, &nb, &err), TB_OK);
    assert_int_equal(src->stats.rows_read, 4995);
    assert_int_equal(src->stats.rows_malformed, 5);
    assert_int_equal(src->schema->n, 0);
    assert_int_equal(strlen(out.data), 2 * 4995);
    assert_int_equal(nb, 3);
    tb_source_free(src);

    out.len = 0;
    assert_int_equal(tb_csv_source_from_buffer("c", data.data, data.len, perm, schema, NULL, 0,
                                               &src, &err),
                     TB_OK);
    assert_int_equal(drain(src, &out, &nb, &err), TB_OK);
    assert_int_equal(src->stats.rows_read, 5000);
    assert_int_equal(src->stats.bytes_read, data.len);
    tb_source_free(src);
    tb_buf_free(&data);
    tb_buf_free(&out);
    tb_schema_free(schema);
    tb_csv_opts_free(drop);
    tb_csv_opts_free(perm);
}

/* Many rows across batches, files and chunk boundaries: values and sums are exact. */
static void test_large_multi_file(void **state)
{
    tb_csv_opts *opts = mkopts(NULL);
    tb_schema *schema = mkschema("sale_id int, product_id int, quantity int, ts timestamp");
    tb_buf data = {0};
    tb_strlist paths = {0};
    tb_source *src = NULL;
    tb_arena *arena = tb_arena_new(0);
    tb_err err;
    int64_t sum_q = 0, sum_id = 0, rows = 0, last_ts = 0;
    size_t total = 0;
    int f, i, id = 0;
    static const size_t chunks[] = {0, 7, 4096};
    size_t ci;
    (void)state;

    for (f = 0; f < 3; f++) {
        char name[32];
        data.len = 0;
        tb_buf_puts(&data, "sale_id,product_id,quantity,ts\n");
        for (i = 0; i < 3000 + f * 10; i++, id++)
            tb_buf_printf(&data, "%d,%d,%d,2024-01-01 00:%02d:%02d\n", id, id % 17, id % 5,
                          (id / 60) % 60, id % 60);
        (void)snprintf(name, sizeof(name), "part-%d.csv", f);
        assert_int_equal(tb_strlist_push(&paths, put_file(name, data.data, data.len)), TB_OK);
        total += data.len;
    }
    for (ci = 0; ci < 3; ci++) {
        tb_csv_opts_set_chunk_size(opts, chunks[ci]);
        assert_int_equal(tb_csv_source_new(&paths, opts, schema, P4, 4, &src, &err), TB_OK);
        sum_q = sum_id = rows = 0;
        for (;;) {
            tb_batch *batch;
            uint32_t r;
            tb_arena_reset(arena);
            assert_int_equal(tb_source_next(src, arena, &batch, &err), TB_OK);
            if (batch == NULL)
                break;
            for (r = 0; r < batch->n_rows; r++) {
                int32_t sid = TB_VEC_PTR(&batch->cols[0], int32_t)[r];
                assert_int_equal(sid, rows);
                sum_id += sid;
                sum_q += TB_VEC_PTR(&batch->cols[2], int32_t)[r];
                last_ts = TB_VEC_PTR(&batch->cols[3], int64_t)[r];
                assert_null(batch->cols[0].valid);
                rows++;
            }
        }
        assert_int_equal(rows, id);
        assert_int_equal(sum_id, (int64_t)id * (id - 1) / 2);
        assert_int_equal(src->stats.rows_read, id);
        assert_int_equal(src->stats.files_done, 3);
        assert_int_equal(src->stats.bytes_read, total);
        tb_source_free(src);
    }
    {
        int64_t expect_q = 0;
        for (i = 0; i < id; i++)
            expect_q += i % 5;
        assert_int_equal(sum_q, expect_q);
    }
    assert_int_equal(last_ts, 1704067200LL * 1000000 +
                                  (int64_t)(((id - 1) / 60) % 60 * 60 + (id - 1) % 60) * 1000000);
    tb_arena_free(arena);
    tb_buf_free(&data);
    tb_strlist_free(&paths);
    tb_schema_free(schema);
    tb_csv_opts_free(opts);
}

static void test_missing_file(void **state)
{
    tb_csv_opts *opts = mkopts(NULL);
    tb_schema *schema = mkschema("a int");
    tb_strlist paths = {0};
    tb_source *src = NULL;
    tb_err err;
    tb_buf out = {0};
    char path[600];
    (void)state;

    put_text("present.csv", "a\n1\n");
    (void)snprintf(path, sizeof(path), "%s/present.csv", g_dir);
    tb_strlist_push(&paths, path);
    (void)snprintf(path, sizeof(path), "%s/gone.csv", g_dir);
    tb_strlist_push(&paths, path);
    assert_int_equal(tb_csv_source_new(&paths, opts, schema, P4, 1, &src, &err), TB_OK);
    assert_int_equal(drain(src, &out, NULL, &err), TB_E_IO);
    {
        char expect[700];
        (void)snprintf(expect, sizeof(expect), "csv: open '%s': No such file or directory", path);
        assert_string_equal(err.msg, expect);
    }
    tb_source_free(src);
    {
        tb_schema *inferred = NULL;
        assert_int_equal(tb_csv_infer_schema(&paths, opts, &inferred, &err), TB_E_IO);
        assert_null(inferred);
    }
    tb_buf_free(&out);
    tb_strlist_free(&paths);
    tb_schema_free(schema);
    tb_csv_opts_free(opts);
}

static void test_long_line(void **state)
{
    tb_csv_opts *opts = mkopts("max_line_bytes", "100", "header", "false", NULL);
    char *big = malloc(5000);
    run_res res;
    size_t n;
    (void)state;

    (void)snprintf(big, 5000, "1,short\n2,");
    memset(big + 10, 'x', 4000);
    memcpy(big + 4010, "\n3,z\n", sizeof("\n3,z\n"));
    n = strlen(big);
    run_all("long.csv", big, n, opts, "a int, b text", &res);
    assert_int_equal(res.rc, TB_E_LIMIT);
    assert_string_equal(res.msg,
                        "csv: buf.csv:2: record longer than max_line_bytes (100 bytes)");
    /* a long quoted record (unterminated) is bounded the same way */
    big[10] = '"';
    run_all("long.csv", big, n, opts, "a int, b text", &res);
    assert_int_equal(res.rc, TB_E_LIMIT);
    /* exactly at the limit is fine */
    tb_csv_opts_free(opts);
    opts = mkopts("max_line_bytes", "7", "header", "false", NULL);
    RUN("1,12345\n", opts, "a int, b text", &res);
    assert_int_equal(res.rc, TB_OK);
    RUN("1,123456\n", opts, "a int, b text", &res);
    assert_int_equal(res.rc, TB_E_LIMIT);
    tb_csv_opts_free(opts);

    /* a 3 MiB line with a 1 MiB limit in a real file: error, read stops early */
    {
        size_t len = (size_t)3 << 20;
        char *huge = malloc(len + 1);
        const char *path;
        memset(huge, 'y', len);
        huge[len] = '\n';
        path = put_file("huge.csv", huge, len + 1);
        opts = mkopts("max_line_bytes", "1048576", NULL);
        run_file(path, opts, "a text", 0, &res);
        assert_int_equal(res.rc, TB_E_LIMIT);
        assert_string_equal(res.msg, "csv: buf.csv:1: record longer than max_line_bytes (1048576 bytes)");
        assert_true(res.stats.bytes_read == 0);
        tb_csv_opts_free(opts);
        free(huge);
    }
    free(big);
}

/* ---------------------------------------------------------------- inference */

static tb_schema *infer_text(const char *data, tb_csv_opts *opts, tb_rc expect_rc, tb_err *err)
{
    tb_strlist paths = {0};
    tb_schema *schema = NULL;
    tb_strlist_push(&paths, put_text("infer.csv", data));
    assert_int_equal(tb_csv_infer_schema(&paths, opts, &schema, err), expect_rc);
    tb_strlist_free(&paths);
    return schema;
}

static void schema_str(const tb_schema *schema, char *buf, size_t cap)
{
    uint32_t i;
    size_t len = 0;
    buf[0] = '\0';
    for (i = 0; i < schema->n; i++) {
        char tb[64];
        len += (size_t)snprintf(buf + len, cap - len, "%s%s %s", i ? ", " : "",
                                schema->fields[i].name,
                                tb_type_name(schema->fields[i].type, tb, sizeof(tb)));
    }
}

static void test_infer(void **state)
{
    tb_csv_opts *opts = mkopts(NULL);
    tb_schema *schema;
    tb_err err;
    char s[512];
    (void)state;

    schema = infer_text("\xEF\xBB\xBF"
                        "id,big,flag,x,d,ts,name,empty,mixed,\"q,\"\"uoted\"\"\"\n"
                        "1,3000000000,true,1.5,2024-01-01,2024-01-01 10:00:00,a,,1,2\n"
                        "2,4,FALSE,2,2024-01-02,2024-01-02,b,,x,3\n"
                        " 3 ,-5,true,1e3,,2024-01-03T01:02:03Z,\"7\",,2024-01-01,\n",
                        opts, TB_OK, &err);
    schema_str(schema, s, sizeof(s));
    assert_string_equal(s, "id integer, big bigint, flag boolean, x double precision, "
                           "d date, ts timestamp, name text, empty text, mixed text, "
                           "q,\"uoted\" integer");
    tb_schema_free(schema);

    tb_csv_opts_set(opts, "header", "false", &err);
    tb_csv_opts_set(opts, "sample_rows", "2", &err);
    tb_csv_opts_set(opts, "corrupt_column", "_corrupt", &err);
    schema = infer_text("1,a\n2,b\nx,c\n", opts, TB_OK, &err);
    schema_str(schema, s, sizeof(s));
    assert_string_equal(s, "column0 integer, column1 text, _corrupt text");
    tb_schema_free(schema);
    tb_csv_opts_free(opts);

    /* duplicate and empty header names; blank lines before the header */
    opts = mkopts(NULL);
    schema = infer_text("\n\na,,A,b\n1,2,3,4\n", opts, TB_OK, &err);
    schema_str(schema, s, sizeof(s));
    assert_string_equal(s, "a0 integer, column1 integer, A2 integer, b integer");
    tb_schema_free(schema);

    /* empty input */
    schema = infer_text("", opts, TB_E_PARSE, &err);
    assert_null(schema);
    assert_non_null(strstr(err.msg, "csv: cannot infer a schema: no records in '"));
    /* too many columns */
    {
        char *wide = malloc(70002);
        memset(wide, ',', 70000);
        wide[70000] = '\n';
        wide[70001] = '\0';
        schema = infer_text(wide, opts, TB_E_LIMIT, &err);
        assert_null(schema);
        assert_non_null(strstr(err.msg, "infer.csv:1: too many columns (70001, at most 65536)"));
        free(wide);
    }
    /* header only: names, text types */
    schema = infer_text("a,b\n", opts, TB_OK, &err);
    schema_str(schema, s, sizeof(s));
    assert_string_equal(s, "a text, b text");
    tb_schema_free(schema);

    /* a header column named like the corrupt column */
    tb_csv_opts_set(opts, "corrupt_column", "B", &err);
    schema = infer_text("a,b\n1,2\n", opts, TB_E_SQL, &err);
    assert_null(schema);
    assert_non_null(strstr(err.msg, "read_csv: corrupt_column 'B' is also a column of '"));
    tb_csv_opts_free(opts);

    /* the schema option wins (plus the corrupt column) */
    opts = mkopts("schema", "x bigint, y text", "corrupt_column", "bad", NULL);
    schema = infer_text("1,2\n", opts, TB_OK, &err);
    schema_str(schema, s, sizeof(s));
    assert_string_equal(s, "x bigint, y text, bad text");
    tb_schema_free(schema);
    tb_csv_opts_free(opts);

    /* formats */
    opts = mkopts("date_format", "%d/%m/%Y", "timestamp_format", "%d/%m/%Y %H:%M", NULL);
    schema = infer_text("d,t\n01/02/2024,01/02/2024 10:00\n", opts, TB_OK, &err);
    schema_str(schema, s, sizeof(s));
    assert_string_equal(s, "d date, t timestamp");
    tb_schema_free(schema);
    tb_csv_opts_free(opts);

    /* the inferred schema reads the file */
    {
        tb_strlist paths = {0};
        tb_source *src = NULL;
        tb_buf out = {0};
        int proj[] = {0, 1, 2};
        opts = mkopts(NULL);
        tb_strlist_push(&paths, put_text("inf2.csv", "n,when,ok\n1,2024-05-06 07:08:09,true\n"));
        assert_int_equal(tb_csv_infer_schema(&paths, opts, &schema, &err), TB_OK);
        assert_int_equal(tb_csv_source_new(&paths, opts, schema, proj, 3, &src, &err), TB_OK);
        assert_int_equal(drain(src, &out, NULL, &err), TB_OK);
        assert_string_equal(out.data, "1|2024-05-06 07:08:09|true\n");
        tb_source_free(src);
        tb_schema_free(schema);
        tb_strlist_free(&paths);
        tb_buf_free(&out);
        tb_csv_opts_free(opts);
    }
}


/* ---------------------------------------------------------------- integers */

/* Reference: what an integer field must give (strtoll semantics, no blanks inside). */
static int ref_int(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    long long v;
    const char *d = s + (*s == '-' || *s == '+');
    if (*d < '0' || *d > '9')
        return 1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*end != '\0')
        return 1;
    if (errno == ERANGE || v < lo || v > hi)
        return 2;
    *out = v;
    return 0;
}

/* The SWAR integer paths (1..8 and 9..16 digits, signs, a bad byte anywhere, the field
 * at the very end of the buffer) agree with strtoll for every width. */
static void test_int_exact(void **state)
{
    static const char *const types[] = {"smallint", "integer", "bigint"};
    static const int64_t los[] = {INT16_MIN, INT32_MIN, INT64_MIN};
    static const int64_t his[] = {INT16_MAX, INT32_MAX, INT64_MAX};
    tb_csv_opts *opts = mkopts("header", "false", "mode", "failfast", NULL);
    int t, i;
    (void)state;

    rng_seed(7);
    for (t = 0; t < 3; t++) {
        char schema_text[64];
        (void)snprintf(schema_text, sizeof(schema_text), "v %s", types[t]);
        for (i = 0; i < 3000; i++) {
            char val[40], data[48];
            int nd = 1 + rnd() % 20, k = 0, j, how;
            int64_t expect = 0;
            run_res res;
            if (rnd() % 4 == 0)
                val[k++] = rnd() % 2 ? '-' : '+';
            for (j = 0; j < nd; j++)
                val[k++] = (char)('0' + rnd() % 10);
            val[k] = '\0';
            if (rnd() % 5 == 0)
                val[rnd() % k] = "x/:. \x80"[rnd() % 6];
            if (val[0] == ' ')
                val[0] = 'y'; /* leading blanks are trimmed: not what this test is about */
            if (val[k - 1] == ' ')
                val[k - 1] = 'z';
            how = ref_int(val, los[t], his[t], &expect);
            (void)snprintf(data, sizeof(data), "%s", val); /* no line end: the field ends the buffer */
            run_buf(data, strlen(data), opts, schema_text, &res);
            if (how == 0) {
                char expect_text[32];
                (void)snprintf(expect_text, sizeof(expect_text), "%lld\n", (long long)expect);
                if (res.rc != TB_OK || strcmp(res.text, expect_text) != 0)
                    fail_msg("%s '%s': rc %d %s text %s", types[t], val, res.rc, res.msg,
                             res.text);
            } else {
                char expect_msg[200];
                if (how == 1)
                    (void)snprintf(expect_msg, sizeof(expect_msg),
                             "csv: buf.csv:1: column 'v': invalid %s '%s'", types[t], val);
                else
                    (void)snprintf(expect_msg, sizeof(expect_msg),
                             "csv: buf.csv:1: column 'v': value '%s' out of range for type %s",
                             val, types[t]);
                if (res.rc != TB_E_PARSE || strcmp(res.msg, expect_msg) != 0)
                    fail_msg("%s '%s': rc %d msg %s", types[t], val, res.rc, res.msg);
            }
        }
    }
    tb_csv_opts_free(opts);
}

/* ---------------------------------------------------------------- doubles */

static uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static uint32_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    return u;
}

/* The double fast path must give exactly strtod's bits. */
static void test_double_exact(void **state)
{
    tb_csv_opts *opts = mkopts("header", "false", NULL);
    tb_schema *schema = mkschema("d double precision, f real");
    tb_buf data = {0};
    tb_source *src = NULL;
    tb_arena *arena = tb_arena_new(0);
    tb_err err;
    char **texts = calloc(20000, sizeof(char *));
    uint32_t row = 0;
    int i;
    (void)state;

    rng_seed(42);
    for (i = 0; i < 20000; i++) {
        char buf[64];
        int kind = i % 4;
        if (kind == 0)
            (void)snprintf(buf, sizeof(buf), "%d.%0*d", rnd() % 100000, 1 + rnd() % 9,
                     rnd() % 1000000);
        else if (kind == 1)
            (void)snprintf(buf, sizeof(buf), "%de%d", rnd(), rnd() % 60 - 30);
        else if (kind == 2)
            (void)snprintf(buf, sizeof(buf), "-0.%09d%d", rnd() % 1000000000, rnd() % 10);
        else
            (void)snprintf(buf, sizeof(buf), "%.17g", (double)rnd() / 3.0 * pow(10, rnd() % 40 - 20));
        texts[i] = strdup(buf);
        tb_buf_printf(&data, "%s,%s\n", buf, buf);
    }
    assert_int_equal(tb_csv_source_from_buffer("d", data.data, data.len, opts, schema, P4, 2,
                                               &src, &err),
                     TB_OK);
    for (;;) {
        tb_batch *batch;
        uint32_t r;
        tb_arena_reset(arena);
        assert_int_equal(tb_source_next(src, arena, &batch, &err), TB_OK);
        if (batch == NULL)
            break;
        for (r = 0; r < batch->n_rows; r++, row++) {
            double expect = strtod(texts[row], NULL);
            float expf = strtof(texts[row], NULL);
            double got = TB_VEC_PTR(&batch->cols[0], double)[r];
            float gotf = TB_VEC_PTR(&batch->cols[1], float)[r];
            if (dbits(got) != dbits(expect))
                fail_msg("'%s': got %.17g, strtod %.17g", texts[row], got, expect);
            if (fbits(gotf) != fbits(expf))
                fail_msg("'%s': got %.9g, strtof %.9g", texts[row], gotf, expf);
        }
    }
    assert_int_equal(row, 20000);
    for (i = 0; i < 20000; i++)
        free(texts[i]);
    free(texts);
    tb_source_free(src);
    tb_arena_free(arena);
    tb_buf_free(&data);
    tb_schema_free(schema);
    tb_csv_opts_free(opts);
}

/* ---------------------------------------------------------------- writer */

static void test_writer_round_trip(void **state)
{
    tb_csv_opts *opts = mkopts("mode", "failfast", NULL);
    tb_schema *schema = mkschema("id bigint, name text, price numeric(10,2), ts timestamp, "
                                 "d double precision, ok boolean, day date, iv interval");
    const char *data = "id,name,price,ts,d,ok,day,iv\n"
                       "1,\"a, b\",12.50,2024-01-01 10:00:00.123456,1.5,true,2024-01-01,"
                       "1 day 02:00:00\n"
                       "-2,\"say \"\"hi\"\"\",,2024-01-01 10:00:00,-0.1,false,,\n"
                       "3,\"\",0.01,,1e300,,1970-01-01,00:00:10\n"
                       "4,,1,,,,,\n"
                       "5,\"multi\nline\r\nx\",2,,NaN,t,,\n";
    tb_source *src = NULL;
    tb_arena *arena = tb_arena_new(0);
    tb_batch *batch;
    tb_buf out = {0}, first = {0}, second = {0};
    tb_err err;
    (void)state;

    assert_int_equal(tb_csv_source_from_buffer("w", data, strlen(data), opts, schema, P4, 8,
                                               &src, &err),
                     TB_OK);
    assert_int_equal(tb_csv_write_header(src->schema, &out), TB_OK);
    assert_int_equal(tb_source_next(src, arena, &batch, &err), TB_OK);
    assert_non_null(batch);
    assert_int_equal(tb_csv_write_batch(batch, &out, &err), TB_OK);
    tb_buf_cstr(&out);
    assert_string_equal(out.data,
                        "id,name,price,ts,d,ok,day,iv\n"
                        "1,\"a, b\",12.50,2024-01-01 10:00:00.123456,1.5,true,2024-01-01,"
                        "1 day 02:00:00\n"
                        "-2,\"say \"\"hi\"\"\",,2024-01-01 10:00:00,-0.1,false,,\n"
                        "3,\"\",0.01,,1e+300,,1970-01-01,00:00:10\n"
                        "4,,1.00,,,,,\n"
                        "5,\"multi\nline\r\nx\",2.00,,NaN,true,,\n");
    tb_source_free(src);

    /* reading the output back gives the same rows */
    assert_int_equal(tb_csv_source_from_buffer("w", data, strlen(data), opts, schema, P4, 8,
                                               &src, &err),
                     TB_OK);
    assert_int_equal(drain(src, &first, NULL, &err), TB_OK);
    tb_source_free(src);
    assert_int_equal(tb_csv_source_from_buffer("w2", out.data, out.len, opts, schema, P4, 8,
                                               &src, &err),
                     TB_OK);
    assert_int_equal(drain(src, &second, NULL, &err), TB_OK);
    tb_source_free(src);
    assert_string_equal(first.data, second.data);

    /* header names that need quotes */
    {
        tb_schema *q = tb_schema_new(2);
        tb_schema_set(q, 0, "a,b", tb_type_make(TB_T_INT32), true);
        tb_schema_set(q, 1, "c\"d", tb_type_make(TB_T_STRING), true);
        out.len = 0;
        assert_int_equal(tb_csv_write_header(q, &out), TB_OK);
        tb_buf_cstr(&out);
        assert_string_equal(out.data, "\"a,b\",\"c\"\"d\"\n");
        tb_schema_free(q);
    }
    tb_buf_free(&out);
    tb_buf_free(&first);
    tb_buf_free(&second);
    tb_arena_free(arena);
    tb_schema_free(schema);
    tb_csv_opts_free(opts);
}

/* A corrupt column given in the table schema, in the middle, and the permissive NULLs. */
static void test_corrupt_column_position(void **state)
{
    tb_csv_opts *opts = mkopts("header", "false", "corrupt_column", "_c", NULL);
    run_res res;
    (void)state;

    RUN("1,2\n3\n4,x\n", opts, "a int, _c text, b int", &res);
    assert_int_equal(res.rc, TB_OK);
    assert_string_equal(res.text, "1|N|2\n3|3|N\n4|4,x|N\n");
    assert_int_equal(res.stats.rows_malformed, 2);
    tb_csv_opts_free(opts);

    {
        tb_csv_opts *o = mkopts("corrupt_column", "_c", NULL);
        tb_schema *schema = mkschema("a int, _c int");
        tb_source *src = NULL;
        tb_err err;
        assert_int_equal(
            tb_csv_source_from_buffer("x", "1\n", 2, o, schema, P4, 2, &src, &err), TB_E_TYPE);
        tb_schema_free(schema);
        tb_csv_opts_free(o);
    }
}

/* Dropping every row of many batches still ends (no empty batches before the end). */
static void test_drop_all(void **state)
{
    tb_csv_opts *opts = mkopts("mode", "dropmalformed", "header", "false", NULL);
    tb_buf data = {0};
    run_res res;
    int i;
    (void)state;

    for (i = 0; i < 10000; i++)
        tb_buf_puts(&data, "x,y,z\n");
    tb_buf_puts(&data, "1,2\n");
    run_buf(data.data, data.len, opts, "a int, b text", &res);
    assert_int_equal(res.rc, TB_OK);
    assert_string_equal(res.text, "1|2\n");
    assert_int_equal(res.n_batches, 1);
    assert_int_equal(res.stats.rows_malformed, 10000);
    tb_buf_free(&data);
    tb_csv_opts_free(opts);
}


/* ---------------------------------------------------------------- allocation faults */

/* Options, inference, a chunked read with every kind of row, and the writer, with no
 * helper that asserts: returns the first failing rc, output rendered into out. */
static tb_rc fault_run(const char *path, tb_buf *out)
{
    tb_csv_opts *opts = tb_csv_opts_new();
    tb_schema *schema = NULL;
    tb_strlist paths = {0};
    tb_source *src = NULL;
    tb_arena *arena = NULL;
    tb_err err;
    tb_rc rc = TB_E_NOMEM;
    int proj[] = {0, 1, 2, 3, 4};

    out->len = 0;
    if (opts == NULL)
        goto done;
    if ((rc = tb_csv_opts_set(opts, "corrupt_column", "_bad", &err)) != TB_OK ||
        (rc = tb_csv_opts_set(opts, "null", "NA", &err)) != TB_OK ||
        (rc = tb_strlist_push(&paths, path)) != TB_OK)
        goto done;
    tb_csv_opts_set_chunk_size(opts, 5);
    if ((rc = tb_csv_infer_schema(&paths, opts, &schema, &err)) != TB_OK)
        goto done;
    if (schema->n != 5) {
        rc = TB_E_ERROR;
        goto done;
    }
    if ((rc = tb_csv_source_new(&paths, opts, schema, proj, 5, &src, &err)) != TB_OK)
        goto done;
    if ((arena = tb_arena_new(0)) == NULL) {
        rc = TB_E_NOMEM;
        goto done;
    }
    for (;;) {
        tb_batch *batch = NULL;
        tb_arena_reset(arena);
        if ((rc = tb_source_next(src, arena, &batch, &err)) != TB_OK || batch == NULL)
            break;
        if ((rc = tb_csv_write_batch(batch, out, &err)) != TB_OK)
            break;
    }
done:
    tb_arena_free(arena);
    tb_source_free(src);
    tb_schema_free(schema);
    tb_strlist_free(&paths);
    tb_csv_opts_free(opts);
    return rc;
}

static void test_alloc_faults(void **state)
{
    const char *path = put_text("faults.csv", "id,name,x,d\n"
                                              "1,\"a \"\"quoted\"\" name\",1.5,2024-01-01\n"
                                              "2,plain,NA,2024-01-02\n"
                                              "3,\"multi\nline\",\"2\"\"\",2024-01-03\n"
                                              "4,short\n"
                                              "5,\xff,3,2024-01-04\n");
    tb_buf ref = {0}, out = {0};
    long n;
    (void)state;

    assert_int_equal(fault_run(path, &ref), TB_OK);
    tb_buf_cstr(&ref);
    assert_string_equal(ref.data, "1,\"a \"\"quoted\"\" name\",1.5,2024-01-01,\n"
                                  "2,plain,,2024-01-02,\n"
                                  "3,\"multi\nline\",\"2\"\"\",2024-01-03,\n"
                                  "4,short,,,\"4,short\"\n"
                                  "5,,3,2024-01-04,\"5,\xEF\xBF\xBD,3,2024-01-04\"\n");
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

/* Compressed files (issue 9 point 8): found by magic bytes whatever the name; inference
 * reads the decompressed text; damaged streams and bombs are errors naming the file;
 * line numbers count decompressed lines. */
static void test_compressed(void **state)
{
    static const char text[] = "id,name,when\n1,a,2024-01-01 10:00:00\n2,\"b\nc\",2024-01-02\n"
                               "3,x,not a date\n";
    tb_csv_opts *opts = mkopts("mode", "failfast", NULL);
    tb_buf z = {0}, big = {0};
    tb_err err;
    tb_strlist paths = {0};
    tb_schema *schema = NULL;
    run_res *res = malloc(sizeof(*res));
    const char *gz, *zs, *p;
    char name[600];
    (void)state;

    assert_non_null(res);
    gz = put_compressed("c.csv", text, sizeof(text) - 1, TB_CODEC_GZIP);
    zs = put_compressed("c.csv", text, sizeof(text) - 1, TB_CODEC_ZSTD);
    /* inference over the decompressed text */
    for (int k = 0; k < 2; k++) {
        tb_strlist_free(&paths);
        assert_int_equal(tb_strlist_push(&paths, k == 0 ? gz : zs), TB_OK);
        assert_int_equal(tb_csv_infer_schema(&paths, opts, &schema, &err), TB_OK);
        assert_int_equal(schema->n, 3);
        assert_string_equal(schema->fields[1].name, "name");
        assert_int_equal(schema->fields[0].type.id, TB_T_INT32);
        assert_int_equal(schema->fields[2].type.id, TB_T_STRING);
        tb_schema_free(schema);
        schema = NULL;
    }
    /* failfast: the line of the decompressed text (record 3 starts on line 5) */
    run_file(gz, opts, "id int, name text, t date", 0, res);
    assert_int_equal(res->rc, TB_E_PARSE);
    assert_string_equal(res->msg, "csv: buf.csv:5: column 't': invalid date 'not a date'");
    /* gzip data under a plain name: found by its magic bytes */
    assert_int_equal(tb_compress(TB_CODEC_GZIP, (const uint8_t *)text, sizeof(text) - 1, &z,
                                 &err),
                     TB_OK);
    p = put_file("plain-name.csv", z.data, z.len);
    run_file(p, opts, "id int, name text, t text", 0, res);
    assert_int_equal(res->rc, TB_OK);
    assert_string_equal(res->text, "1|a|2024-01-01 10:00:00\n2|b\nc|2024-01-02\n3|x|not a date\n");
    /* truncated, flipped bytes, no magic behind the extension */
    p = put_file("trunc.csv.gz", z.data, z.len - 5);
    run_file(p, opts, "id int, name text, t text", 0, res);
    assert_int_equal(res->rc, TB_E_CORRUPT);
    assert_string_equal(res->msg, "csv: buf.csv: corrupt gzip data (truncated: the file ends "
                                  "inside the compressed stream)");
    z.data[z.len / 2] ^= 0x55;
    z.data[z.len / 2 + 1] ^= 0x55;
    p = put_file("flip.csv.gz", z.data, z.len);
    run_file(p, opts, "id int, name text, t text", 0, res);
    assert_int_equal(res->rc, TB_E_CORRUPT);
    assert_non_null(strstr(res->msg, "csv: buf.csv: corrupt gzip data ("));
    p = put_text("fake.csv.gz", text);
    run_file(p, opts, "id int, name text, t text", 0, res);
    assert_int_equal(res->rc, TB_E_CORRUPT);
    assert_string_equal(res->msg, "csv: buf.csv: not gzip data (the name ends in .gz, but the "
                                  "file does not start with its magic bytes 1f 8b)");
    p = put_text("fake.csv.zst", text);
    run_file(p, opts, "id int, name text, t text", 0, res);
    assert_int_equal(res->rc, TB_E_CORRUPT);
    z.len = 0;
    {
        /* a zstd frame cut short */
        const char *full = put_compressed("z.csv", text, sizeof(text) - 1, TB_CODEC_ZSTD);
        FILE *f = fopen(full, "rb");
        char raw[512];
        size_t n;
        assert_non_null(f);
        n = fread(raw, 1, sizeof(raw), f);
        (void)fclose(f);
        p = put_file("ztrunc.csv.zst", raw, n - 3);
        run_file(p, opts, "id int, name text, t text", 0, res);
        assert_int_equal(res->rc, TB_E_CORRUPT);
        assert_non_null(strstr(res->msg, "csv: buf.csv: corrupt zstd data ("));
    }
    /* inference names the file too */
    tb_strlist_free(&paths);
    (void)snprintf(name, sizeof(name), "%s/trunc.csv.gz", g_dir);
    assert_int_equal(tb_strlist_push(&paths, name), TB_OK);
    assert_int_equal(tb_csv_infer_schema(&paths, opts, &schema, &err), TB_E_CORRUPT);
    assert_non_null(strstr(err.msg, "trunc.csv.gz: corrupt gzip data"));
    /* a bomb: 16 MiB of one repeated line compress to a few KB; reading stops past
     * 1032 times the compressed size plus 1 MiB */
    for (int i = 0; i < (16 << 20) / 4; i++)
        assert_int_equal(tb_buf_append(&big, "1,2\n", 4), TB_OK);
    assert_int_equal(tb_compress(TB_CODEC_ZSTD, (const uint8_t *)big.data, big.len, &z, &err),
                     TB_OK);
    assert_true(z.len < 8192);
    p = put_file("bomb.csv.zst", z.data, z.len);
    run_file(p, opts, "a int, b int", 0, res);
    assert_int_equal(res->rc, TB_E_LIMIT);
    assert_string_equal(res->msg, "csv: buf.csv: decompresses to more than 1032 times its "
                                  "compressed size plus 1 MiB (a decompression bomb?)");
    tb_buf_free(&z);
    tb_buf_free(&big);
    tb_strlist_free(&paths);
    tb_csv_opts_free(opts);
    free(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opts),
        cmocka_unit_test(test_opts_conflict),
        cmocka_unit_test(test_basic_types),
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_line_ends),
        cmocka_unit_test(test_empty_inputs),
        cmocka_unit_test(test_nulls),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_projection),
        cmocka_unit_test(test_count_star),
        cmocka_unit_test(test_large_multi_file),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_long_line),
        cmocka_unit_test(test_infer),
        cmocka_unit_test(test_int_exact),
        cmocka_unit_test(test_double_exact),
        cmocka_unit_test(test_writer_round_trip),
        cmocka_unit_test(test_corrupt_column_position),
        cmocka_unit_test(test_drop_all),
        cmocka_unit_test(test_alloc_faults),
        cmocka_unit_test(test_compressed),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
