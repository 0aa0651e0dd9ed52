/*
 * fuzz_jsonl.c - fuzz target for the JSON lines reader and its schema inference.
 *
 * Each input is read under four option variants (typed permissive with a corrupt
 * column, typed failfast, typed dropmalformed with a 64-byte line limit, all-text
 * permissive). Oracles beyond "no crash, no leak":
 *   - the buffer path and the file path (a memfd read in chunks of 1..7 bytes, so lines
 *     straddle every boundary) give the same rows, error and malformed count;
 *   - text values are valid UTF-8 without NUL bytes;
 *   - jansson as a reference parser, line by line (permissive variants): a line jansson
 *     parses as an object nested at most 1000 deep is not malformed for us (all-text
 *     variant, unless a string holds a NUL); a line jansson refuses is malformed for
 *     us unless it holds NaN / Infinity, a number jansson cannot hold or a key with
 *     "\u0000" (jansson refuses it; for us it is a key matching no column); then
 *     a string value of key "a" / "b" (all-text variant) is exactly jansson's decoded
 *     string (or the row is malformed when it holds a NUL), an integer "id" and a
 *     number "x" (typed variant) are jansson's values;
 *   - rows read + malformed and dropped = lines (dropmalformed).
 * Inference runs on the memfd too, and its schema is read with. Any disagreement aborts.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "format/jsonl.h"

typedef struct outcome {
    tb_rc rc;
    tb_buf rows;
    char msg[TB_ERR_MSG_CAP];
    uint64_t malformed, rows_read;
} outcome;

/* The input's non-blank lines, as the reader sees them. */
typedef struct lines {
    size_t n, cap;
    const uint8_t **p;
    size_t *len;
} lines;

static void die(const char *what)
{
    (void)fprintf(stderr, "fuzz_jsonl: oracle failed: %s\n", what);
    abort();
}

static void split_lines(const uint8_t *d, size_t size, lines *out)
{
    size_t i = 0;

    memset(out, 0, sizeof(*out));
    if (size >= 3 && memcmp(d, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < size) {
        const uint8_t *nl = memchr(d + i, '\n', size - i);
        size_t end = nl != NULL ? (size_t)(nl - d) : size, len = end - i, k;
        bool blank = true;
        if (len > 0 && d[i + len - 1] == '\r')
            len--;
        for (k = 0; k < len && blank; k++)
            blank = d[i + k] == ' ' || d[i + k] == '\t' || d[i + k] == '\r';
        if (!blank) {
            if (out->n == out->cap) {
                size_t nc = out->cap ? out->cap * 2 : 16;
                const uint8_t **np = realloc(out->p, nc * sizeof(*np));
                size_t *nlen;
                if (np == NULL)
                    die("oom");
                out->p = np;
                nlen = realloc(out->len, nc * sizeof(*nlen));
                if (nlen == NULL)
                    die("oom");
                out->len = nlen;
                out->cap = nc;
            }
            out->p[out->n] = d + i;
            out->len[out->n] = len;
            out->n++;
        }
        i = end + 1;
    }
}

static int depth_of(const json_t *v)
{
    int m = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach((json_t *)v, k, c) {
            int d = depth_of(c);
            m = d > m ? d : m;
        }
        return m + 1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c) {
            int d = depth_of(c);
            m = d > m ? d : m;
        }
        return m + 1;
    }
    return 0;
}

/* Checks of row values against jansson's parse of the row's line (variants 0 and 3). */
static void check_row(int variant, const tb_batch *batch, uint32_t r, const uint8_t *line,
                      size_t len, uint64_t *rows_malformed_seen, const tb_source *src)
{
    json_error_t jerr;
    json_t *root;
    (void)rows_malformed_seen;
    (void)src;

    /* jansson skips a raw NUL byte between tokens as if it were white space; RFC 8259
     * (and we) do not: no comparison for such lines */
    if (memchr(line, 0, len) != NULL)
        return;
    root = json_loadb((const char *)line, len, JSON_ALLOW_NUL, &jerr);

    if (root == NULL) {
        /* jansson refuses what we read: only for the extensions we accept (NaN,
         * Infinity) or numbers jansson cannot hold */
        if (variant == 3) {
            tb_value bad;
            tb_vec_get(&batch->cols[4], r, &bad);
            if (bad.is_null && strstr(jerr.text, "too big") == NULL &&
                strstr(jerr.text, "overflow") == NULL &&
                strstr(jerr.text, "NUL byte in object key") == NULL &&
                memmem(line, len, "NaN", 3) == NULL &&
                memmem(line, len, "Infinity", 8) == NULL) {
                (void)fprintf(stderr, "jansson: %s\n", jerr.text);
                die("a line jansson refuses was read as valid");
            }
        }
        return;
    }
    if (!json_is_object(root) || depth_of(root) > 1000) {
        json_decref(root);
        return;
    }
    if (variant == 3) {
        /* a text, b text, c text, d text, _bad text */
        static const char *const keys[4] = {"a", "b", "c", "d"};
        bool nul = false;
        int k;
        tb_value bad;
        for (k = 0; k < 4; k++) {
            json_t *v = json_object_get(root, keys[k]);
            if (v != NULL && json_is_string(v) &&
                memchr(json_string_value(v), 0, json_string_length(v)) != NULL)
                nul = true;
        }
        tb_vec_get(&batch->cols[4], r, &bad);
        if (!nul && !bad.is_null)
            die("a line jansson reads as an object was malformed");
        for (k = 0; k < 2; k++) {
            json_t *v = json_object_get(root, keys[k]);
            tb_value val;
            tb_vec_get(&batch->cols[k], r, &val);
            if (v == NULL || json_is_null(v)) {
                if (!val.is_null)
                    die("missing/null key gave a value");
                continue;
            }
            if (json_is_string(v)) {
                size_t n = json_string_length(v);
                const char *s = json_string_value(v);
                if (memchr(s, 0, n) != NULL) {
                    if (!val.is_null)
                        die("string with NUL gave a text value");
                    continue;
                }
                if (val.is_null || val.u.s.len != n || memcmp(val.u.s.ptr, s, n) != 0) {
                    (void)fprintf(stderr, "key %s: jansson [%.*s] ours [%.*s]\n", keys[k],
                                  (int)n, s, val.is_null ? 4 : (int)val.u.s.len,
                                  val.is_null ? "NULL" : val.u.s.ptr);
                    die("string value differs from jansson's");
                }
            } else if (val.is_null) {
                die("a non-string value gave NULL in a text column");
            }
        }
    } else {
        /* id int, name text, ts timestamp, x double precision, ... */
        json_t *id = json_object_get(root, "id"), *x = json_object_get(root, "x");
        tb_value val;
        tb_vec_get(&batch->cols[0], r, &val);
        if (id != NULL && json_is_integer(id) && json_integer_value(id) >= INT32_MIN &&
            json_integer_value(id) <= INT32_MAX) {
            if (val.is_null || val.u.i != json_integer_value(id)) {
                (void)fprintf(stderr, "line [%.*s]: jansson %lld, ours %s%lld\n", (int)len,
                              line, (long long)json_integer_value(id), val.is_null ? "NULL " : "",
                              (long long)val.u.i);
                die("integer id differs from jansson's");
            }
        }
        tb_vec_get(&batch->cols[3], r, &val);
        if (x != NULL && json_is_number(x)) {
            double want = json_number_value(x);
            if (val.is_null || !(val.u.d == want || (isnan(val.u.d) && isnan(want))))
                die("number x differs from jansson's");
        }
    }
    json_decref(root);
}

/* Drain a source rendering rows; check the UTF-8 invariant and (lns != NULL) the
 * jansson oracle row by row. */
static void drain(tb_source *src, outcome *o, int variant, const lines *lns)
{
    tb_arena *arena = tb_arena_new(0);
    tb_err err;
    size_t g = 0;
    uint64_t seen = 0;

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
            if (lns != NULL) {
                if (g >= lns->n)
                    die("more rows than lines");
                check_row(variant, batch, r, lns->p[g], lns->len[g], &seen, src);
            }
            g++;
        }
    }
    if (lns != NULL && o->rc == TB_OK && g != lns->n)
        die("permissive: rows != lines");
    o->malformed = src->stats.rows_malformed;
    o->rows_read = src->stats.rows_read;
    (void)snprintf(o->msg, sizeof(o->msg), "%s", o->rc != TB_OK ? err.msg : "");
    tb_arena_free(arena);
}

static tb_jsonl_opts *variant_opts(int v)
{
    static const char *const kv[4][6] = {
        {"corrupt_column", "_bad", NULL},
        {"mode", "failfast", NULL},
        {"mode", "dropmalformed", "max_line_bytes", "64", NULL},
        {"corrupt_column", "_bad", NULL},
    };
    tb_jsonl_opts *opts = tb_jsonl_opts_new();
    tb_err err;
    int i;

    if (opts == NULL)
        return NULL;
    for (i = 0; kv[v][i] != NULL; i += 2) {
        if (tb_jsonl_opts_set(opts, kv[v][i], kv[v][i + 1], &err) != TB_OK)
            die("option");
    }
    return opts;
}

static tb_schema *variant_schema(int v)
{
    tb_schema *schema = NULL;
    tb_err err;
    const char *text =
        v == 3 ? "a text, b text, c text, d text, _bad text"
        : v == 0
            ? "id int, name text, ts timestamp, x double precision, n numeric(10,2), "
              "b boolean, d date, s smallint, r real, iv interval, l bigint, _bad text"
            : "id int, name text, ts timestamp, x double precision, n numeric(10,2), "
              "b boolean, d date, s smallint, r real, iv interval, l bigint";

    if (tb_schema_parse(text, &schema, &err) != TB_OK)
        return NULL;
    return schema;
}

static const int PROJ[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz_jsonl", 0);
    char path[64];
    tb_strlist paths = {0};
    lines lns;
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
    split_lines(data, size, &lns);
    for (v = 0; v < 4; v++) {
        tb_jsonl_opts *opts = variant_opts(v);
        tb_schema *schema = variant_schema(v), *inferred = NULL;
        tb_source *src = NULL;
        outcome a = {0}, b = {0};
        tb_err err;

        if (opts == NULL || schema == NULL)
            goto next;
        if (tb_jsonl_source_from_buffer(path, (const char *)data, size, opts, schema, PROJ,
                                        schema->n, &src, &err) != TB_OK)
            die("source_from_buffer");
        drain(src, &a, v, v == 0 || v == 3 ? &lns : NULL);
        tb_source_free(src);
        src = NULL;
        if (v == 2 && a.rc == TB_OK && a.rows_read + a.malformed != lns.n)
            die("dropmalformed: rows + malformed != lines");

        tb_jsonl_opts_set_chunk_size(opts, 1 + size % 7);
        if (tb_jsonl_source_new(&paths, opts, schema, PROJ, schema->n, &src, &err) != TB_OK)
            die("source_new");
        drain(src, &b, v, NULL);
        tb_source_free(src);
        src = NULL;
        if (a.rc != TB_E_NOMEM && b.rc != TB_E_NOMEM) {
            if (a.rc != b.rc || strcmp(a.msg, b.msg) != 0 || a.malformed != b.malformed ||
                a.rows.len != b.rows.len ||
                (a.rows.len > 0 && memcmp(a.rows.data, b.rows.data, a.rows.len) != 0)) {
                (void)fprintf(stderr, "variant %d\nbuffer: rc=%d %s malformed=%llu\n%.*s\n"
                              "file: rc=%d %s malformed=%llu\n%.*s\n", v, a.rc, a.msg,
                              (unsigned long long)a.malformed, (int)a.rows.len, a.rows.data,
                              b.rc, b.msg, (unsigned long long)b.malformed, (int)b.rows.len,
                              b.rows.data);
                die("buffer and chunked file disagree");
            }
        }

        if (v == 0 || v == 2) {
            tb_jsonl_opts_set_chunk_size(opts, 0);
            if (tb_jsonl_infer_schema(&paths, opts, &inferred, &err) == TB_OK) {
                int *proj;
                uint32_t i;
                if (inferred == NULL || inferred->n == 0)
                    die("inferred an empty schema");
                proj = calloc(inferred->n, sizeof(int));
                if (proj != NULL) {
                    for (i = 0; i < inferred->n; i++)
                        proj[i] = (int)i;
                    if (tb_jsonl_source_new(&paths, opts, inferred, proj, inferred->n, &src,
                                            &err) == TB_OK) {
                        outcome d = {0};
                        drain(src, &d, v, NULL);
                        tb_source_free(src);
                        src = NULL;
                        tb_buf_free(&d.rows);
                    }
                    free(proj);
                }
                tb_schema_free(inferred);
            }
        }
    next:
        tb_buf_free(&a.rows);
        tb_buf_free(&b.rows);
        tb_schema_free(schema);
        tb_jsonl_opts_free(opts);
    }
    free(lns.p);
    free(lns.len);
    tb_strlist_free(&paths);
    close(fd);
    return 0;
}
