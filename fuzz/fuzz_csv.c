/*
 * fuzz_csv.c - fuzz target for the CSV reader, inference and writer.
 *
 * Each input is read under four option variants (typed permissive with a corrupt
 * column, typed failfast, typed with other delimiter/quote/escape/null and a small line
 * limit, all-text permissive without a header). Oracles beyond "no crash, no leak":
 *   - the buffer path and the file path (a memfd read in chunks of 1..7 bytes, so
 *     records straddle every boundary) give the same rows, error and malformed count;
 *   - text values are valid UTF-8 without NUL bytes;
 *   - all-text rows written by tb_csv_write_batch and read back are the same rows.
 * Inference runs on the memfd too. Any disagreement aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "format/csv.h"

typedef struct outcome {
    tb_rc rc;
    tb_buf rows;
    char msg[TB_ERR_MSG_CAP];
    uint64_t malformed, rows_read;
} outcome;

static void die(const char *what)
{
    (void)fprintf(stderr, "fuzz_csv: oracle failed: %s\n", what);
    abort();
}

/* Drain a source rendering rows; for text columns also check the UTF-8 invariant. If
 * csv_out is not NULL, the batches are also written as CSV there. */
static void drain(tb_source *src, outcome *o, tb_buf *csv_out)
{
    tb_arena *arena = tb_arena_new(0);
    tb_err err;

    tb_err_clear(&err);
    o->rc = TB_OK;
    if (arena == NULL) {
        o->rc = TB_E_NOMEM;
        return;
    }
    for (;;) {
        tb_batch *batch = NULL;
        uint32_t r, c;
        tb_arena_reset(arena);
        o->rc = tb_source_next(src, arena, &batch, &err);
        if (o->rc != TB_OK || batch == NULL)
            break;
        if (batch->n_rows > batch->cap || batch->n_cols != src->schema->n)
            die("batch shape");
        for (r = 0; r < batch->n_rows; r++) {
            for (c = 0; c < batch->n_cols; c++) {
                tb_value val;
                tb_vec_get(&batch->cols[c], r, &val);
                (void)tb_buf_putc(&o->rows, c > 0 ? '|' : '<');
                if (val.is_null) {
                    (void)tb_buf_puts(&o->rows, "NULL");
                    continue;
                }
                if (val.type.id == TB_T_STRING &&
                    (!tb_utf8_valid(val.u.s.ptr, val.u.s.len) ||
                     memchr(val.u.s.ptr, 0, val.u.s.len) != NULL))
                    die("text value not clean UTF-8");
                (void)tb_buf_putc(&o->rows, '\'');
                (void)tb_value_format(&val, &o->rows);
                (void)tb_buf_putc(&o->rows, '\'');
            }
            (void)tb_buf_puts(&o->rows, ">\n");
        }
        if (csv_out != NULL && tb_csv_write_batch(batch, csv_out, &err) != TB_OK)
            die("write_batch");
    }
    o->malformed = src->stats.rows_malformed;
    o->rows_read = src->stats.rows_read;
    (void)snprintf(o->msg, sizeof(o->msg), "%s", o->rc != TB_OK ? err.msg : "");
    tb_arena_free(arena);
}

static tb_csv_opts *variant_opts(int v)
{
    static const char *const kv[4][12] = {
        {"corrupt_column", "_bad", NULL},
        {"mode", "failfast", NULL},
        {"delimiter", ";", "quote", "'", "escape", "\\", "null", "NA", "max_line_bytes", "64",
         NULL},
        {"header", "false", NULL},
    };
    tb_csv_opts *opts = tb_csv_opts_new();
    tb_err err;
    int i;

    if (opts == NULL)
        return NULL;
    for (i = 0; kv[v][i] != NULL; i += 2) {
        if (tb_csv_opts_set(opts, kv[v][i], kv[v][i + 1], &err) != TB_OK)
            die("option");
    }
    return opts;
}

static tb_schema *variant_schema(int v)
{
    tb_schema *schema = NULL;
    tb_err err;
    const char *text = v == 3 ? "a text, b text, c text, d text"
                              : "id int, name text, ts timestamp, x double precision";

    if (tb_schema_parse(text, &schema, &err) != TB_OK)
        return NULL;
    if (v == 0) {
        /* the corrupt column, last */
        tb_schema *with = tb_schema_new(schema->n + 1);
        uint32_t i;
        if (with == NULL) {
            tb_schema_free(schema);
            return NULL;
        }
        for (i = 0; i < schema->n; i++)
            (void)tb_schema_set(with, i, schema->fields[i].name, schema->fields[i].type, true);
        (void)tb_schema_set(with, schema->n, "_bad", tb_type_make(TB_T_STRING), true);
        tb_schema_free(schema);
        schema = with;
    }
    return schema;
}

static const int PROJ[] = {0, 1, 2, 3, 4};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz_csv", 0);
    char path[64];
    tb_strlist paths = {0};
    int v;

    if (fd < 0)
        return 0;
    if (size > 0 && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    (void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    if (tb_strlist_push(&paths, path) != TB_OK) {
        close(fd);
        return 0;
    }
    for (v = 0; v < 4; v++) {
        tb_csv_opts *opts = variant_opts(v);
        tb_schema *schema = variant_schema(v), *inferred = NULL;
        tb_source *src = NULL;
        outcome a = {0}, b = {0}, c = {0};
        tb_buf csv = {0};
        tb_err err;

        if (opts == NULL || schema == NULL)
            goto next;
        if (tb_csv_source_from_buffer(path, (const char *)data, size, opts, schema, PROJ,
                                      schema->n, &src, &err) != TB_OK)
            die("source_from_buffer");
        if (v == 3)
            (void)tb_csv_write_header(src->schema, &csv);
        drain(src, &a, v == 3 ? &csv : NULL);
        tb_source_free(src);
        src = NULL;

        tb_csv_opts_set_chunk_size(opts, 1 + size % 7);
        if (tb_csv_source_new(&paths, opts, schema, PROJ, schema->n, &src, &err) != TB_OK)
            die("source_new");
        drain(src, &b, NULL);
        tb_source_free(src);
        src = NULL;
        if (a.rc != TB_E_NOMEM && b.rc != TB_E_NOMEM) {
            if (a.rc != b.rc || strcmp(a.msg, b.msg) != 0 || a.malformed != b.malformed ||
                a.rows.len != b.rows.len ||
                (a.rows.len > 0 && memcmp(a.rows.data, b.rows.data, a.rows.len) != 0)) {
                (void)fprintf(stderr, "variant %d\nbuffer: rc=%d %s malformed=%llu\n%.*s\n"
                        "file: rc=%d %s malformed=%llu\n%.*s\n", v, a.rc, a.msg,
                        (unsigned long long)a.malformed, (int)a.rows.len, a.rows.data, b.rc,
                        b.msg, (unsigned long long)b.malformed, (int)b.rows.len, b.rows.data);
                die("buffer and chunked file disagree");
            }
        }

        /* all-text round trip through the writer (header=false for reading back: the
         * written header is consumed by a header=true reader) */
        if (v == 3 && a.rc == TB_OK) {
            tb_csv_opts *ro = variant_opts(1);
            if (ro == NULL)
                goto next;
            tb_csv_opts_set(ro, "mode", "failfast", &err);
            if (tb_csv_source_from_buffer("rt", csv.data != NULL ? csv.data : "", csv.len, ro,
                                          schema, PROJ, schema->n, &src, &err) != TB_OK)
                die("source_from_buffer (round trip)");
            drain(src, &c, NULL);
            tb_source_free(src);
            src = NULL;
            tb_csv_opts_free(ro);
            if (c.rc != TB_E_NOMEM &&
                (c.rc != TB_OK || c.rows.len != a.rows.len ||
                 (a.rows.len > 0 && memcmp(a.rows.data, c.rows.data, a.rows.len) != 0)))
                die("writer round trip");
        }

        tb_csv_opts_set_chunk_size(opts, 0);
        if (tb_csv_infer_schema(&paths, opts, &inferred, &err) == TB_OK) {
            if (inferred == NULL || inferred->n == 0)
                die("inferred an empty schema");
            /* and read with it */
            {
                int *proj = calloc(inferred->n, sizeof(int));
                uint32_t i;
                if (proj != NULL) {
                    for (i = 0; i < inferred->n; i++)
                        proj[i] = (int)i;
                    if (tb_csv_source_new(&paths, opts, inferred, proj, inferred->n, &src,
                                          &err) == TB_OK) {
                        outcome d = {0};
                        drain(src, &d, NULL);
                        tb_source_free(src);
                        src = NULL;
                        tb_buf_free(&d.rows);
                    }
                    free(proj);
                }
            }
            tb_schema_free(inferred);
        }
    next:
        tb_buf_free(&a.rows);
        tb_buf_free(&b.rows);
        tb_buf_free(&c.rows);
        tb_buf_free(&csv);
        tb_schema_free(schema);
        tb_csv_opts_free(opts);
    }
    tb_strlist_free(&paths);
    close(fd);
    return 0;
}
