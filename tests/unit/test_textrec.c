/*
 * test_textrec.c - the record decoder (format/textrec.h) for message sources: CSV records,
 * JSON objects (also across lines) and text values decoded with the read options, every
 * malformed-row mode with exact messages naming the record's location, the bad-record
 * callback, projection, NULL and empty records, batches over TB_BATCH_CAP records,
 * options and schema errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/textrec.h"

static tb_textdec_opts *mkopts(const char *format, ...)
{
    tb_textdec_opts *opts = NULL;
    tb_err err;
    va_list ap;
    const char *k;

    assert_int_equal(tb_textdec_opts_new(format, &opts, &err), TB_OK);
    va_start(ap, format);
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        if (tb_textdec_opts_set(opts, k, v, &err) != TB_OK)
            fail_msg("option %s=%s: %s", k, v, err.msg);
    }
    va_end(ap);
    return opts;
}

typedef struct bad_log {
    tb_buf text;
    int n;
} bad_log;

static void on_bad(void *ud, const char *file, uint64_t line, const char *raw, size_t raw_len,
                   const char *reason)
{
    bad_log *log = ud;
    log->n++;
    (void)tb_buf_printf(&log->text, "%s|%llu|%.*s|%s\n", file, (unsigned long long)line,
                        (int)raw_len, raw, reason);
}

/* Decoded rows as "a|b\n" (NULL as N); returns the flush rc (stops at the first error). */
static tb_rc drain(tb_textdec *dec, tb_buf *out, int *n_batches, tb_err *err)
{
    tb_arena *arena = tb_arena_new(0);
    tb_rc rc;

    assert_non_null(arena);
    for (;;) {
        tb_batch *batch = NULL;
        tb_arena_reset(arena);
        rc = tb_textdec_flush(dec, arena, &batch, err);
        if (rc != TB_OK || batch == NULL)
            break;
        if (n_batches != NULL)
            (*n_batches)++;
        for (uint32_t r = 0; r < batch->n_rows; r++) {
            for (uint32_t c = 0; c < batch->n_cols; c++) {
                tb_value v;
                if (c > 0)
                    (void)tb_buf_putc(out, '|');
                tb_vec_get(&batch->cols[c], r, &v);
                if (v.is_null)
                    (void)tb_buf_putc(out, 'N');
                else
                    assert_int_equal(tb_value_format(&v, out), TB_OK);
            }
            (void)tb_buf_putc(out, '\n');
        }
    }
    (void)tb_buf_cstr(out);
    tb_arena_free(arena);
    return rc;
}

typedef struct rec {
    const char *data; /* NULL: a NULL record */
    const char *loc;
} rec;

typedef struct result {
    tb_rc rc;
    char rows[4096];
    char msg[TB_ERR_MSG_CAP];
    char bad[4096];
    tb_source_stats stats;
} result;

static void run(tb_textdec_opts *opts, const char *declared, const int *proj, int n_proj,
                const rec *recs, size_t n, result *res)
{
    static const int all[] = {0, 1, 2, 3, 4, 5};
    tb_schema *decl = NULL, *schema = NULL;
    tb_textdec *dec = NULL;
    tb_err err;
    tb_buf out = {0};
    bad_log log = {{0}, 0};

    memset(res, 0, sizeof(*res));
    tb_err_clear(&err);
    if (declared != NULL)
        assert_int_equal(tb_schema_parse(declared, &decl, &err), TB_OK);
    assert_int_equal(tb_textdec_schema(opts, decl, &schema, &err), TB_OK);
    assert_int_equal(tb_textdec_new(opts, schema, proj != NULL ? proj : all,
                                    n_proj >= 0 ? (uint32_t)n_proj : schema->n, &dec, &err),
                     TB_OK);
    tb_textdec_on_bad_record(dec, on_bad, &log);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(tb_textdec_add(dec, recs[i].data,
                                        recs[i].data != NULL ? strlen(recs[i].data) : 0,
                                        recs[i].loc, &err),
                         TB_OK);
    assert_int_equal(tb_textdec_pending(dec), n);
    res->rc = drain(dec, &out, NULL, &err);
    (void)snprintf(res->rows, sizeof(res->rows), "%s", out.data != NULL ? out.data : "");
    (void)snprintf(res->msg, sizeof(res->msg), "%s", res->rc != TB_OK ? err.msg : "");
    (void)snprintf(res->bad, sizeof(res->bad), "%s",
                   log.text.data != NULL ? tb_buf_cstr(&log.text) : "");
    res->stats = *tb_textdec_stats(dec);
    tb_buf_free(&out);
    tb_buf_free(&log.text);
    tb_textdec_free(dec);
    tb_schema_free(schema);
    tb_schema_free(decl);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const rec CSV_RECS[] = {
    {"1,apple,2024-01-01 10:00:00", "topic s partition 0 offset 40"},
    {"2,\"pear, ripe\",2024-01-01 10:00:01\n", "topic s partition 0 offset 41"},
    {"3,plum,not a time", "topic s partition 0 offset 42"},
    {"4,\"multi\nline\",2024-01-01 10:00:03", "topic s partition 1 offset 7"},
    {"5,x", "topic s partition 1 offset 8"},
    {"6,a,2024-01-01 10:00:06\n7,b,2024-01-01 10:00:07", "topic s partition 1 offset 9"},
    {"", "topic s partition 1 offset 10"},
    {NULL, "topic s partition 1 offset 11"},
};

static void test_csv_modes(void **state)
{
    result *res = malloc(sizeof(*res));
    tb_textdec_opts *opts;
    (void)state;

    assert_non_null(res);
    opts = mkopts("csv", "corrupt_column", "_bad", NULL);
    run(opts, "id int, name text, ts timestamp", NULL, -1, CSV_RECS, N(CSV_RECS), res);
    assert_int_equal(res->rc, TB_OK);
    assert_string_equal(res->rows, "1|apple|2024-01-01 10:00:00|N\n"
                                   "2|pear, ripe|2024-01-01 10:00:01|N\n"
                                   "3|plum|N|3,plum,not a time\n"
                                   "4|multi\nline|2024-01-01 10:00:03|N\n"
                                   "5|x|N|5,x\n"
                                   "6|a|2024-01-01 10:00:06|6,a,2024-01-01 10:00:06\n"
                                   "7,b,2024-01-01 10:00:07\n"
                                   "N|N|N|\n"
                                   "N|N|N|\n");
    assert_string_equal(res->bad,
                        "topic s partition 0 offset 42|0|3,plum,not a time|column 'ts': "
                        "invalid timestamp 'not a time'\n"
                        "topic s partition 1 offset 8|0|5,x|expected 3 fields, found 2\n"
                        "topic s partition 1 offset 9|0|6,a,2024-01-01 10:00:06\n7,b,2024-01-01 "
                        "10:00:07|more than one record\n"
                        "topic s partition 1 offset 10|0||empty record\n"
                        "topic s partition 1 offset 11|0||empty record\n");
    assert_int_equal(res->stats.rows_malformed, 5);
    assert_int_equal(res->stats.rows_read, 8);
    tb_textdec_opts_free(opts);

    opts = mkopts("csv", "mode", "dropmalformed", NULL);
    run(opts, "id int, name text, ts timestamp", NULL, -1, CSV_RECS, N(CSV_RECS), res);
    assert_int_equal(res->rc, TB_OK);
    assert_string_equal(res->rows, "1|apple|2024-01-01 10:00:00\n"
                                   "2|pear, ripe|2024-01-01 10:00:01\n"
                                   "4|multi\nline|2024-01-01 10:00:03\n");
    assert_int_equal(res->stats.rows_read, 3);
    assert_int_equal(res->stats.rows_malformed, 5);
    tb_textdec_opts_free(opts);

    opts = mkopts("csv", "mode", "failfast", NULL);
    run(opts, "id int, name text, ts timestamp", NULL, -1, CSV_RECS, N(CSV_RECS), res);
    assert_int_equal(res->rc, TB_E_PARSE);
    assert_string_equal(res->msg, "csv: topic s partition 0 offset 42: column 'ts': invalid "
                                  "timestamp 'not a time'");
    tb_textdec_opts_free(opts);

    /* options of read_csv apply: delimiter, null, timestamp_format */
    {
        static const rec r2[] = {{"1;NA;01/02/2024", NULL}, {"2;b;31/12/2023", NULL}};
        opts = mkopts("csv", "delimiter", ";", "null", "NA", "timestamp_format", "%d/%m/%Y",
                      "mode", "failfast", NULL);
        run(opts, "id int, name text, ts timestamp", NULL, -1, r2, N(r2), res);
        assert_int_equal(res->rc, TB_OK);
        assert_string_equal(res->rows, "1|N|2024-02-01 00:00:00\n2|b|2023-12-31 00:00:00\n");
        tb_textdec_opts_free(opts);
    }
    /* projection: only ts and id; a bad value in a column not read */
    {
        static const int proj[] = {2, 0};
        opts = mkopts("csv", NULL);
        run(opts, "id int, name text, ts timestamp", proj, 2, CSV_RECS, 3, res);
        assert_string_equal(res->rows, "2024-01-01 10:00:00|1\n2024-01-01 10:00:01|2\nN|3\n");
        tb_textdec_opts_free(opts);
    }
    free(res);
}

static void test_json(void **state)
{
    static const rec recs[] = {
        {"{\"id\": 1, \"name\": \"a\", \"qty\": 2.5}", "p0@1"},
        {"{\n  \"qty\": 3,\n  \"id\": 2,\n  \"name\": \"pretty\\nprinted\"\n}\n", "p0@2"},
        {"{\"id\": \"three\", \"name\": \"c\"}", "p0@3"},
        {"[1, 2]", "p0@4"},
        {"{\"id\": 5, \"name\": {\"nested\": [1, 2]}}", "p0@5"},
        {"  ", "p0@6"},
        {"{\"id\": 7", "p0@7"},
    };
    result *res = malloc(sizeof(*res));
    tb_textdec_opts *opts;
    (void)state;

    assert_non_null(res);
    opts = mkopts("json", "corrupt_column", "raw", NULL);
    run(opts, "id int, name text, qty double", NULL, -1, recs, N(recs), res);
    assert_int_equal(res->rc, TB_OK);
    assert_string_equal(res->rows, "1|a|2.5|N\n"
                                   "2|pretty\nprinted|3|N\n"
                                   "N|c|N|{\"id\": \"three\", \"name\": \"c\"}\n"
                                   "N|N|N|[1, 2]\n"
                                   "5|{\"nested\":[1,2]}|N|N\n"
                                   "N|N|N|  \n"
                                   "N|N|N|{\"id\": 7\n");
    assert_string_equal(res->bad, "p0@3|0|{\"id\": \"three\", \"name\": \"c\"}|key \"id\": "
                                  "expected an integer number for type integer, found string "
                                  "\"three\"\n"
                                  "p0@4|0|[1, 2]|expected a JSON object, found an array at byte 1\n"
                                  "p0@6|0|  |empty record\n"
                                  "p0@7|0|{\"id\": 7|invalid JSON: unterminated object at byte 9\n");
    tb_textdec_opts_free(opts);

    opts = mkopts("json", "mode", "failfast", "schema", "id int, name text", NULL);
    run(opts, NULL, NULL, -1, recs, N(recs), res);
    assert_int_equal(res->rc, TB_E_PARSE);
    assert_string_equal(res->msg, "json: p0@3: key \"id\": expected an integer number for type "
                                  "integer, found string \"three\"");
    tb_textdec_opts_free(opts);
    free(res);
}

static void test_text(void **state)
{
    static const rec recs[] = {
        {"hello", "o1"}, {"", "o2"}, {NULL, "o3"}, {"caf\xc3\xa9 \n two lines", "o4"},
        {"bad \xff byte", "o5"},
    };
    result *res = malloc(sizeof(*res));
    tb_textdec_opts *opts;
    (void)state;

    assert_non_null(res);
    opts = mkopts("text", "corrupt_column", "_bad", NULL);
    run(opts, NULL, NULL, -1, recs, N(recs), res);
    assert_int_equal(res->rc, TB_OK);
    assert_string_equal(res->rows, "hello|N\n|N\nN|N\ncaf\xc3\xa9 \n two lines|N\n"
                                   "N|bad \xef\xbf\xbd byte\n");
    assert_string_equal(res->bad, "o5|0|bad \xff byte|invalid UTF-8\n");
    tb_textdec_opts_free(opts);

    opts = mkopts("text", "mode", "failfast", NULL);
    run(opts, "line text", NULL, -1, recs, N(recs), res);
    assert_int_equal(res->rc, TB_E_PARSE);
    assert_string_equal(res->msg, "text: o5: invalid UTF-8");
    tb_textdec_opts_free(opts);
    free(res);
}

/* More records than a batch holds, default locations, reuse after flushing, failfast
 * leaving the records after the bad one queued. */
static void test_many(void **state)
{
    tb_textdec_opts *opts = mkopts("csv", "mode", "failfast", NULL);
    tb_schema *schema = NULL;
    tb_textdec *dec = NULL;
    tb_err err;
    tb_buf out = {0};
    int nb = 0;
    char line[64];
    (void)state;

    assert_int_equal(tb_schema_parse("a int, b bigint", &schema, &err), TB_OK);
    assert_int_equal(tb_textdec_new(opts, schema, (const int[]){1, 0}, 2, &dec, &err), TB_OK);
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(line, sizeof(line), "%d,%lld", i, (long long)i * 1000000007LL);
        assert_int_equal(tb_textdec_add(dec, line, (size_t)n, NULL, &err), TB_OK);
    }
    assert_int_equal(drain(dec, &out, &nb, &err), TB_OK);
    assert_int_equal(nb, 3); /* 2048 + 2048 + 904 */
    assert_non_null(strstr(out.data, "\n4999000034993|4999\n"));
    assert_int_equal(tb_textdec_stats(dec)->rows_read, 5000);
    assert_int_equal(tb_textdec_pending(dec), 0);
    /* failfast: the bad record is named by its default location */
    assert_int_equal(tb_textdec_add(dec, "1,2", 3, NULL, &err), TB_OK);
    assert_int_equal(tb_textdec_add(dec, "x,2", 3, NULL, &err), TB_OK);
    assert_int_equal(tb_textdec_add(dec, "3,4", 3, NULL, &err), TB_OK);
    out.len = 0;
    assert_int_equal(drain(dec, &out, NULL, &err), TB_E_PARSE);
    assert_string_equal(err.msg, "csv: record 5002: column 'a': invalid integer 'x'");
    assert_int_equal(tb_textdec_pending(dec), 1);
    out.len = 0;
    assert_int_equal(drain(dec, &out, NULL, &err), TB_OK);
    assert_string_equal(out.data, "4|3\n");
    /* a record over max_line_bytes */
    tb_textdec_free(dec);
    tb_textdec_opts_free(opts);
    opts = mkopts("csv", "max_line_bytes", "4", NULL);
    assert_int_equal(tb_textdec_new(opts, schema, (const int[]){0}, 1, &dec, &err), TB_OK);
    assert_int_equal(tb_textdec_add(dec, "12345", 5, "t p 0 o 9", &err), TB_E_LIMIT);
    assert_string_equal(err.msg, "csv: t p 0 o 9: record longer than max_line_bytes (4 bytes)");
    tb_textdec_free(dec);
    tb_textdec_opts_free(opts);
    tb_schema_free(schema);
    tb_buf_free(&out);
}

static void test_opts_errors(void **state)
{
    tb_textdec_opts *opts = NULL;
    tb_schema *schema = NULL;
    tb_textdec *dec = NULL;
    tb_err err;
    (void)state;

    assert_int_equal(tb_textdec_opts_new("avro", &opts, &err), TB_E_SQL);
    assert_string_equal(err.msg, "format 'avro' is not supported for records (csv, json, text)");
    opts = mkopts("CSV", NULL);
    assert_string_equal(tb_textdec_opts_format(opts), "csv");
    assert_int_equal(tb_textdec_opts_set(opts, "header", "true", &err), TB_E_NOTFOUND);
    assert_int_equal(tb_textdec_opts_set(opts, "colour", "red", &err), TB_E_NOTFOUND);
    assert_string_equal(err.msg, "unknown option 'colour' for csv records (known: delimiter, "
                                 "quote, escape, null, timestamp_format, date_format, mode, "
                                 "corrupt_column, schema, max_line_bytes)");
    assert_int_equal(tb_textdec_opts_set(opts, "mode", "lenient", &err), TB_E_SQL);
    assert_int_equal(tb_textdec_schema(opts, NULL, &schema, &err), TB_E_SQL);
    assert_string_equal(err.msg, "format 'csv' needs a schema (declare the columns or set the "
                                 "schema option)");
    tb_textdec_opts_free(opts);
    opts = mkopts("text", NULL);
    assert_int_equal(tb_textdec_opts_set(opts, "delimiter", ";", &err), TB_E_NOTFOUND);
    assert_int_equal(tb_schema_parse("a text, b int", &schema, &err), TB_OK);
    assert_int_equal(tb_textdec_new(opts, schema, (const int[]){0}, 1, &dec, &err), TB_E_SQL);
    assert_null(dec);
    tb_schema_free(schema);
    tb_textdec_opts_free(opts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_modes), cmocka_unit_test(test_json),
        cmocka_unit_test(test_text),      cmocka_unit_test(test_many),
        cmocka_unit_test(test_opts_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
