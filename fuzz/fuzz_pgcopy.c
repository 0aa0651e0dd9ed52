/*
 * fuzz_pgcopy.c - fuzz target for what the PostgreSQL connector parses (issue 12):
 * COPY text-format rows as the server sends them (tb_pg_copy_decode_row), and the
 * option texts (table names 'schema.name', key lists, retry options).
 *
 * Input: the first line picks the column types, one letter each (b bool, s smallint,
 * i integer, l bigint, f real, d double, n numeric(18,4), N numeric(38,0), t text, D date,
 * T timestamp, I interval; other bytes are skipped; at most 16 columns) and is also
 * given, whole, to the option parsers. Every further line is one COPY row.
 * Oracles beyond "no crash, no leak":
 *   - a row that decodes is encoded again (tb_pg_copy_encode_row) and that text decodes
 *     to a row that encodes to the same text (the writer and the reader agree); it is
 *     also encoded in the binary COPY format (no crash);
 *   - decoded text values are valid UTF-8;
 *   - a quoted table name is '"..."' or '"...".".."', a key list has no empty name.
 * Any disagreement aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/pg.h"

#define MAX_COLS 16

static void die(const char *what, const char *a, size_t an, const char *b, size_t bn)
{
    (void)fprintf(stderr, "fuzz_pgcopy: oracle failed: %s\n  [%.*s]\n  [%.*s]\n", what,
                  (int)an, a, (int)bn, b);
    abort();
}

static int types_of(const char *s, size_t n, tb_type *types)
{
    int k = 0;
    for (size_t i = 0; i < n && k < MAX_COLS; i++) {
        switch (s[i]) {
        case 'b': types[k++] = tb_type_make(TB_T_BOOL); break;
        case 's': types[k++] = tb_type_make(TB_T_INT16); break;
        case 'i': types[k++] = tb_type_make(TB_T_INT32); break;
        case 'l': types[k++] = tb_type_make(TB_T_INT64); break;
        case 'f': types[k++] = tb_type_make(TB_T_FLOAT); break;
        case 'd': types[k++] = tb_type_make(TB_T_DOUBLE); break;
        case 'n': types[k++] = tb_type_decimal(18, 4); break;
        case 'N': types[k++] = tb_type_decimal(38, 0); break;
        case 't': types[k++] = tb_type_make(TB_T_STRING); break;
        case 'D': types[k++] = tb_type_make(TB_T_DATE); break;
        case 'T': types[k++] = tb_type_make(TB_T_TIMESTAMP); break;
        case 'I': types[k++] = tb_type_make(TB_T_INTERVAL); break;
        default: break;
        }
    }
    return k;
}

static void options(const char *s)
{
    tb_err err;
    tb_buf b = {0};
    tb_err_clear(&err);
    if (tb_pg_quote_qualified(s, &b, &err) == TB_OK) {
        const char *q = tb_buf_cstr(&b);
        if (q == NULL || b.len < 3 || q[0] != '"' || q[b.len - 1] != '"')
            die("quoted name", s, strlen(s), q ? q : "", q ? b.len : 0);
    }
    tb_buf_free(&b);
    tb_strlist names = {0};
    tb_err_clear(&err);
    if (tb_pg_split_names(s, &names, &err) == TB_OK) {
        for (size_t i = 0; i < names.n; i++)
            if (names.items[i][0] == '\0')
                die("empty key name", s, strlen(s), "", 0);
    }
    tb_strlist_free(&names);
    tb_pg_retry r;
    tb_err_clear(&err);
    (void)tb_pg_retry_parse(s, NULL, &r, &err);
    tb_err_clear(&err);
    (void)tb_pg_retry_parse(NULL, s, &r, &err);
}

/* Decode line into row 0 of a fresh batch; on success encode it into out. */
static tb_rc roundtrip(const tb_schema *schema, const char *const *names, const char *line,
                       size_t len, tb_arena *arena, tb_buf *out)
{
    tb_batch *batch = NULL;
    tb_err err;
    tb_err_clear(&err);
    if (tb_batch_new(schema, 1, arena, &batch) != TB_OK)
        return TB_E_NOMEM;
    tb_rc rc = tb_pg_copy_decode_row(line, len, batch, 0, names, arena, &err);
    if (rc != TB_OK)
        return rc;
    batch->n_rows = 1;
    for (uint32_t j = 0; j < batch->n_cols; j++) {
        const tb_vec *v = &batch->cols[j];
        if (v->type.id == TB_T_STRING && !tb_vec_is_null(v, 0)) {
            const tb_str *s = &TB_VEC_PTR(v, tb_str)[0];
            if (!tb_utf8_valid(s->ptr, s->len))
                die("text not UTF-8", line, len, s->ptr, s->len);
        }
    }
    /* the binary encoding of the same row (no crash; decimals are refused) */
    out->len = 0;
    rc = tb_pg_copy_binary_header(out);
    if (rc == TB_OK) {
        rc = tb_pg_copy_encode_row_binary(batch, 0, out);
        if (rc == TB_E_MISUSE)
            rc = TB_OK;
    }
    if (rc == TB_OK)
        rc = tb_pg_copy_binary_trailer(out);
    if (rc != TB_OK)
        return rc;
    out->len = 0;
    return tb_pg_copy_encode_row(batch, 0, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *d = (const char *)data;
    const char *nl = memchr(d, '\n', size);
    size_t head = nl ? (size_t)(nl - d) : size;
    tb_type types[MAX_COLS];
    char *opt = tb_strndup(d, head);
    if (opt == NULL)
        return 0;
    options(opt);
    tb_free(opt);
    int n = types_of(d, head, types);
    tb_schema *schema = tb_schema_new((uint32_t)n);
    tb_arena *arena = tb_arena_new(0);
    const char *names[MAX_COLS];
    tb_buf enc1 = {0}, enc2 = {0};
    if (schema == NULL || arena == NULL)
        goto done;
    for (int j = 0; j < n; j++) {
        char nm[16];
        snprintf(nm, sizeof(nm), "c%d", j);
        if (tb_schema_set(schema, (uint32_t)j, nm, types[j], true) != TB_OK)
            goto done;
        names[j] = schema->fields[j].name;
    }
    for (size_t pos = nl ? head + 1 : size; pos < size;) {
        const char *e = memchr(d + pos, '\n', size - pos);
        size_t len = e ? (size_t)(e - (d + pos)) : size - pos;
        tb_arena_reset(arena);
        if (roundtrip(schema, names, d + pos, len, arena, &enc1) == TB_OK && enc1.len > 0) {
            /* enc1 ends with '\n': decode it without */
            if (roundtrip(schema, names, enc1.data, enc1.len - 1, arena, &enc2) != TB_OK)
                die("re-decode of our own encoding failed", d + pos, len, enc1.data, enc1.len);
            if (enc1.len != enc2.len || memcmp(enc1.data, enc2.data, enc1.len) != 0)
                die("encode(decode(encode(row))) differs", enc1.data, enc1.len, enc2.data,
                    enc2.len);
        }
        pos += len + 1;
    }
done:
    tb_buf_free(&enc1);
    tb_buf_free(&enc2);
    tb_arena_free(arena);
    tb_schema_free(schema);
    return 0;
}
