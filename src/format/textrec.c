/*
 * textrec.c - the text-record reader shared by the CSV and JSON-lines sources
 * (textrec_int.h), and the record decoder for message sources (textrec.h) with its
 * 'text' format.
 *
 * Batch loop (tb_trd_next): inputs are opened in order (the format's prologue skips BOM,
 * lines, header); the format's scan() tokenizes a segment of records straight from the
 * read buffer into the row arrays; the segment is converted and settled (malformed rows
 * by mode) before the buffer is refilled (which moves its bytes) or the next input is
 * opened, so segment-relative offsets never dangle. A batch stops at rows_cap rows or
 * TB_TR_BATCH_BYTES of input; one whose rows were all dropped is refilled in place
 * unless the arena grew past TB_TR_EMPTY_ARENA_MAX (then it is returned empty, so that
 * the caller gets to reset its arena).
 *
 * Decoder: records are copied into a queue (bytes, offsets, locations); a flush takes up
 * to rows_cap records (and at most TB_TR_BATCH_BYTES of them after the first) as one
 * segment: the format's scan_record() per record, then the same convert and settle.
 */
#include <stdio.h>
#include <string.h>

#include "format/csv.h"
#include "format/jsonl.h"
#include "format/textrec.h"
#include "format/textrec_int.h"

/* ================================================================ options */

void tb_tr_opts_init(tb_tr_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->mode = TB_TR_PERMISSIVE;
    o->sample_rows = 10000;
    o->max_line = TB_TR_DEFAULT_MAX_LINE;
    o->chunk = TB_TR_DEFAULT_CHUNK;
}

void tb_tr_opts_clear(tb_tr_opts *o)
{
    tb_free(o->corrupt);
    tb_schema_free(o->schema);
    o->corrupt = NULL;
    o->schema = NULL;
}

bool tb_tr_opts_copy(tb_tr_opts *dst, const tb_tr_opts *src)
{
    *dst = *src;
    dst->corrupt = NULL;
    dst->schema = NULL;
    if (src->corrupt != NULL && (dst->corrupt = tb_strdup(src->corrupt)) == NULL)
        return false;
    if (src->schema != NULL && (dst->schema = tb_schema_copy(src->schema)) == NULL)
        return false;
    return true;
}

bool tb_tr_opt_u64(const char *v, uint64_t *out)
{
    uint64_t acc = 0;

    if (*v == '\0')
        return false;
    for (; *v != '\0'; v++) {
        unsigned d = (unsigned)(uint8_t)*v - '0';
        if (d > 9 || acc > (UINT64_MAX - d) / 10)
            return false;
        acc = acc * 10 + d;
    }
    *out = acc;
    return true;
}

tb_rc tb_tr_bad_option(tb_err *err, const char *fn, const char *key, const char *value,
                       const char *hint)
{
    return TB_ERRF(err, TB_E_SQL, "%s: invalid value '%s' for option '%s' (%s)", fn, value, key,
                   hint);
}

tb_rc tb_tr_opts_set(tb_tr_opts *o, const char *fn, const char *key, const char *value,
                     tb_err *err)
{
    uint64_t n;

    if (tb_str_ieq(key, "mode")) {
        if (tb_str_ieq(value, "permissive"))
            o->mode = TB_TR_PERMISSIVE;
        else if (tb_str_ieq(value, "dropmalformed"))
            o->mode = TB_TR_DROP;
        else if (tb_str_ieq(value, "failfast"))
            o->mode = TB_TR_FAILFAST;
        else
            return tb_tr_bad_option(err, fn, key, value,
                                    "expected permissive, dropmalformed or failfast");
    } else if (tb_str_ieq(key, "corrupt_column")) {
        char *c;
        if (value[0] == '\0')
            return tb_tr_bad_option(err, fn, key, value, "expected a column name");
        c = tb_strdup(value);
        if (c == NULL)
            return tb_err_nomem(err);
        tb_free(o->corrupt);
        o->corrupt = c;
    } else if (tb_str_ieq(key, "schema")) {
        tb_schema *schema = NULL;
        tb_rc rc = tb_schema_parse(value, &schema, err);
        if (rc != TB_OK) {
            if (rc == TB_E_NOMEM)
                return rc;
            if (err != NULL) {
                tb_err_prefix(err, "%s: option 'schema'", fn);
                err->code = TB_E_SQL;
                err->pos = -1;
            }
            return TB_E_SQL;
        }
        if (schema->n == 0) {
            tb_schema_free(schema);
            return tb_tr_bad_option(err, fn, key, value, "expected at least one column");
        }
        tb_schema_free(o->schema);
        o->schema = schema;
    } else if (tb_str_ieq(key, "sample_rows")) {
        if (!tb_tr_opt_u64(value, &n) || n == 0)
            return tb_tr_bad_option(err, fn, key, value, "expected a positive integer");
        o->sample_rows = n;
    } else if (tb_str_ieq(key, "max_line_bytes")) {
        if (!tb_tr_opt_u64(value, &n) || n == 0 || n > TB_TR_MAX_MAX_LINE)
            return tb_tr_bad_option(err, fn, key, value,
                                    "expected an integer from 1 to 1073741824");
        o->max_line = (size_t)n;
    } else {
        return TB_E_NOTFOUND;
    }
    return TB_OK;
}

tb_rc tb_tr_with_corrupt(const tb_schema *schema, const char *corrupt, tb_schema **out,
                         tb_err *err)
{
    tb_schema *s;
    uint32_t i;
    bool add = corrupt != NULL && tb_schema_find(schema, corrupt) < 0;

    *out = NULL;
    s = tb_schema_new(schema->n + (add ? 1 : 0));
    if (s == NULL)
        return tb_err_nomem(err);
    for (i = 0; i < schema->n; i++) {
        if (tb_schema_set(s, i, schema->fields[i].name, schema->fields[i].type,
                          schema->fields[i].nullable) != TB_OK)
            goto nomem;
    }
    if (add && tb_schema_set(s, schema->n, corrupt, tb_type_make(TB_T_STRING), true) != TB_OK)
        goto nomem;
    *out = s;
    return TB_OK;
nomem:
    tb_schema_free(s);
    return tb_err_nomem(err);
}

void tb_tr_show(tb_buf *b, const uint8_t *p, size_t n)
{
    size_t i, lim = TB_MIN(n, (size_t)TB_TR_SHOW_MAX);

    for (i = 0; i < lim; i++) {
        uint8_t c = p[i];
        if (c < 0x20 || c == 0x7f)
            (void)tb_buf_printf(b, "\\x%02x", c);
        else
            (void)tb_buf_putc(b, (char)c);
    }
    if (n > lim)
        (void)tb_buf_puts(b, "...");
}

bool tb_tr_all_ascii(const uint8_t *p, size_t n)
{
    uint64_t acc = 0, v;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        memcpy(&v, p + i, 8);
        acc |= v;
    }
    for (; i < n; i++)
        acc |= p[i];
    return (acc & 0x8080808080808080ULL) == 0;
}

static const char REPLACEMENT_CHAR[3] = {'\xEF', '\xBF', '\xBD'}; /* U+FFFD */

tb_rc tb_tr_raw_text(const char *p, size_t n, tb_arena *arena, tb_str *out)
{
    char *dst;
    size_t i = 0, o = 0;
    bool clean = memchr(p, 0, n) == NULL &&
                 (tb_tr_all_ascii((const uint8_t *)p, n) || tb_utf8_valid(p, n));

    if (clean) {
        dst = tb_arena_memdup(arena, p, n > 0 ? n : 1);
        if (dst == NULL)
            return TB_E_NOMEM;
        out->ptr = dst;
        out->len = (uint32_t)n;
        return TB_OK;
    }
    dst = tb_arena_alloc(arena, n * 3 + 1);
    if (dst == NULL)
        return TB_E_NOMEM;
    while (i < n) {
        uint8_t c = (uint8_t)p[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (c != 0 && len > 0 && i + len <= n && tb_utf8_valid(p + i, len)) {
            memcpy(dst + o, p + i, len);
            o += len;
            i += len;
        } else {
            memcpy(dst + o, REPLACEMENT_CHAR, sizeof(REPLACEMENT_CHAR));
            o += sizeof(REPLACEMENT_CHAR);
            i++;
        }
    }
    out->ptr = dst;
    out->len = (uint32_t)o;
    return TB_OK;
}

void *tb_tr_alloc_n(size_t n, size_t elem)
{
    return tb_calloc(n > 0 ? n : 1, elem);
}

/* ================================================================ reader core */

tb_rc tb_trd_init(tb_trd *t, uint32_t cells_per_row, tb_err *err)
{
    t->rd.fd = -1;
    t->rows_cap = TB_BATCH_CAP;
    if (cells_per_row > 0 && (size_t)cells_per_row * (size_t)TB_BATCH_CAP > TB_TR_MAX_CELLS)
        t->rows_cap = (uint32_t)TB_MAX((size_t)1, TB_TR_MAX_CELLS / cells_per_row);
    t->rs = tb_tr_alloc_n(t->rows_cap, sizeof(uint32_t));
    t->re = tb_tr_alloc_n(t->rows_cap, sizeof(uint32_t));
    t->rline = tb_tr_alloc_n(t->rows_cap, sizeof(uint64_t));
    t->rbad = tb_tr_alloc_n(t->rows_cap, 1);
    t->drop = tb_tr_alloc_n(t->rows_cap, 1);
    if (t->rs == NULL || t->re == NULL || t->rline == NULL || t->rbad == NULL || t->drop == NULL)
        return tb_err_nomem(err);
    return TB_OK;
}

tb_rc tb_trd_set_files(tb_trd *t, const tb_strlist *paths, tb_err *err)
{
    for (size_t i = 0; i < paths->n; i++) {
        if (tb_strlist_push(&t->paths, paths->items[i]) != TB_OK)
            return tb_err_nomem(err);
    }
    t->file_end = t->paths.n;
    return TB_OK;
}

tb_rc tb_trd_set_buffer(tb_trd *t, const char *name, const char *data, size_t len, tb_err *err)
{
    t->mem = data != NULL ? data : "";
    t->mem_len = len;
    t->mem_name = tb_strdup(name != NULL ? name : "<buffer>");
    return t->mem_name != NULL ? TB_OK : tb_err_nomem(err);
}

tb_rc tb_trd_source_files(tb_trd_ctor ctor, const char *fmt, const tb_strlist *paths,
                          const void *opts, const tb_schema *schema, const int *proj,
                          uint32_t n_proj, tb_source **out_src, tb_err *err)
{
    tb_trd *t = NULL;
    tb_rc rc;

    if (out_src == NULL)
        return TB_ERRF(err, TB_E_MISUSE, "%s: NULL argument", fmt);
    *out_src = NULL;
    if (paths == NULL)
        return TB_ERRF(err, TB_E_MISUSE, "%s: NULL argument", fmt);
    rc = ctor(opts, schema, proj, n_proj, &t, err);
    if (rc != TB_OK)
        return rc;
    rc = tb_trd_set_files(t, paths, err);
    if (rc != TB_OK) {
        tb_trd_free(t);
        return rc;
    }
    *out_src = &t->base;
    return TB_OK;
}

tb_rc tb_trd_source_buffer(tb_trd_ctor ctor, const char *fmt, const char *name, const char *data,
                           size_t len, const void *opts, const tb_schema *schema,
                           const int *proj, uint32_t n_proj, tb_source **out_src, tb_err *err)
{
    tb_trd *t = NULL;
    tb_rc rc;

    if (out_src == NULL)
        return TB_ERRF(err, TB_E_MISUSE, "%s: NULL argument", fmt);
    *out_src = NULL;
    if (data == NULL && len > 0)
        return TB_ERRF(err, TB_E_MISUSE, "%s: NULL buffer", fmt);
    rc = ctor(opts, schema, proj, n_proj, &t, err);
    if (rc != TB_OK)
        return rc;
    rc = tb_trd_set_buffer(t, name, data, len, err);
    if (rc != TB_OK) {
        tb_trd_free(t);
        return rc;
    }
    *out_src = &t->base;
    return TB_OK;
}

void tb_trd_free(tb_trd *t)
{
    if (t == NULL)
        return;
    if (t->open)
        tb_bufrd_close(&t->rd);
    if (t->fmt != NULL && t->fmt->free != NULL)
        t->fmt->free(t);
    tb_schema_free(t->base.schema);
    tb_strlist_free(&t->paths);
    tb_free(t->mem_name);
    tb_free(t->rs);
    tb_free(t->re);
    tb_free(t->rline);
    tb_free(t->rbad);
    tb_free(t->drop);
    tb_buf_free(&t->msg);
    tb_free(t);
}

static void account(tb_trd *t)
{
    uint64_t cur = t->rd.off + t->rd.pos;
    t->base.stats.bytes_read += cur - t->acc_mark;
    t->acc_mark = cur;
}

/* Open the next input and run the format's prologue; *out_none when none is left. */
static tb_rc open_next(tb_trd *t, bool *out_none, tb_err *err)
{
    const tb_trd_fmt *f = t->fmt;
    tb_rc rc;

    *out_none = false;
    if (t->mem_name != NULL) {
        if (t->mem_done) {
            *out_none = true;
            return TB_OK;
        }
        t->mem_done = true;
        tb_bufrd_open_mem(&t->rd, f->fmt, f->unit, t->mem_name, t->mem, t->mem_len, t->o->chunk,
                          t->o->max_line);
    } else {
        if (t->next_file >= t->file_end) {
            *out_none = true;
            return TB_OK;
        }
        rc = tb_bufrd_open_file(&t->rd, f->fmt, f->unit, t->paths.items[t->next_file++],
                                t->o->chunk, t->o->max_line, err);
        if (rc != TB_OK) {
            tb_bufrd_close(&t->rd);
            return rc;
        }
    }
    t->open = true;
    t->acc_mark = 0;
    rc = f->prologue(t, err);
    account(t);
    return rc;
}

void tb_trd_close_input(tb_trd *t)
{
    account(t);
    tb_bufrd_close(&t->rd);
    t->open = false;
    t->base.stats.files_done++;
}

tb_rc tb_trd_new_batch(tb_trd *t, tb_arena *arena, tb_batch **out)
{
    const tb_schema *schema = t->base.schema;
    tb_rc rc;

    if (t->n_proj == 0) {
        rc = tb_batch_shell(0, arena, out);
        if (rc == TB_OK)
            (*out)->cap = t->rows_cap;
    } else if (t->fmt->zero_batch) {
        rc = tb_batch_new(schema, t->rows_cap, arena, out);
    } else {
        /* Not zeroed: conversion writes every row of the batch (NULLs included). */
        rc = tb_batch_shell(t->n_proj, arena, out);
        if (rc == TB_OK)
            (*out)->cap = t->rows_cap;
        for (uint32_t c = 0; rc == TB_OK && c < t->n_proj; c++) {
            tb_vec *v = &(*out)->cols[c];
            size_t w = tb_type_width(schema->fields[c].type);
            v->type = schema->fields[c].type;
            if (w == 0)
                continue;
            v->data = (int)c == t->corrupt_out ? tb_arena_zalloc(arena, w * t->rows_cap)
                                               : tb_arena_alloc(arena, w * t->rows_cap);
            if (v->data == NULL)
                rc = TB_E_NOMEM;
        }
    }
    if (rc == TB_OK && t->corrupt_out >= 0) {
        tb_vec *v = &(*out)->cols[t->corrupt_out];
        v->valid = tb_arena_zalloc(arena, tb_valid_words(t->rows_cap) * sizeof(uint64_t));
        if (v->valid == NULL)
            rc = TB_E_NOMEM;
    }
    return rc;
}

/* Reuse a batch whose rows were all dropped: clear the NULL marks. */
static void batch_clear(tb_trd *t, tb_batch *batch)
{
    for (uint32_t c = 0; c < batch->n_cols; c++) {
        tb_vec *v = &batch->cols[c];
        if ((int)c == t->corrupt_out)
            memset(v->valid, 0, tb_valid_words(t->rows_cap) * sizeof(uint64_t));
        else
            v->valid = NULL;
    }
}

tb_rc tb_trd_settle(tb_trd *t, tb_batch *batch, uint32_t r0, uint32_t r1, const uint8_t *base,
                    tb_arena *arena, tb_err *err)
{
    for (uint32_t r = r0; r < r1; r++) {
        const char *reason, *raw;
        size_t raw_len;

        if (TB_LIKELY(t->rbad[r] == 0))
            continue;
        reason = (t->rbad[r] & TB_TR_BAD_EMPTY) ? "empty record" : t->fmt->reason(t, base, r);
        raw = (const char *)base + t->rs[r];
        raw_len = t->re[r] - t->rs[r];
        t->base.stats.rows_malformed++;
        if (t->bad_fn != NULL) {
            if (t->rloc != NULL)
                t->bad_fn(t->bad_ud, t->rloc[r], 0, raw, raw_len, reason);
            else
                t->bad_fn(t->bad_ud, t->rd.name, t->rline[r], raw, raw_len, reason);
        }
        if (t->o->mode == TB_TR_FAILFAST) {
            t->fail_row = r;
            if (t->rloc != NULL)
                return TB_ERRF(err, TB_E_PARSE, "%s: %s: %s", t->fmt->fmt, t->rloc[r], reason);
            return TB_ERRF(err, TB_E_PARSE, "%s: %s:%llu: %s", t->fmt->fmt, t->rd.name,
                           (unsigned long long)t->rline[r], reason);
        }
        if (t->o->mode == TB_TR_DROP) {
            t->drop[r] = 1;
        } else if (t->corrupt_out >= 0) {
            tb_vec *v = &batch->cols[t->corrupt_out];
            if (tb_tr_raw_text(raw, raw_len, arena, &((tb_str *)v->data)[r]) != TB_OK)
                return tb_err_nomem(err);
            tb_vec_set_valid(v, r);
        }
    }
    return TB_OK;
}

tb_rc tb_trd_next(tb_source *src, tb_arena *arena, tb_batch **out, tb_err *err)
{
    tb_trd *t = (tb_trd *)src;
    const tb_trd_fmt *f = t->fmt;
    tb_batch *batch = NULL;
    tb_rc rc;
    uint32_t n = 0, kept;
    size_t batch_bytes = 0, arena_start = tb_arena_bytes(arena);

    *out = NULL;
again:
    if (t->done)
        return TB_OK;
    if (batch == NULL) {
        rc = tb_trd_new_batch(t, arena, &batch);
        if (rc != TB_OK)
            return tb_err_nomem(err);
    } else {
        batch_clear(t, batch);
    }
    memset(t->rbad, 0, t->rows_cap);
    memset(t->drop, 0, t->rows_cap);
    n = 0;
    batch_bytes = 0;
    while (n < t->rows_cap && batch_bytes < TB_TR_BATCH_BYTES) {
        tb_bufrd *rd = &t->rd;
        size_t seg;
        uint32_t r0 = n;
        int st = TB_TR_FULL;

        if (!t->open) {
            bool none;
            rc = open_next(t, &none, err);
            if (rc != TB_OK)
                goto fail;
            if (none) {
                t->done = true;
                break;
            }
            continue;
        }
        seg = rd->pos;
        rc = f->scan(t, seg, TB_TR_BATCH_BYTES - batch_bytes, &n, &st, err);
        if (rc != TB_OK)
            goto fail;
        batch_bytes += rd->pos - seg;
        if (n > r0) {
            const uint8_t *base = rd->data + seg;
            rc = f->convert(t, batch, r0, n, base, rd->data + rd->len, arena, err);
            if (rc == TB_OK)
                rc = tb_trd_settle(t, batch, r0, n, base, arena, err);
            if (rc != TB_OK)
                goto fail;
        }
        if (st == TB_TR_LONG) {
            /* reported after the rows before it, as when found by tb_bufrd_fill */
            rc = tb_bufrd_too_long(rd, rd->line, err);
            goto fail;
        }
        account(t);
        if (st == TB_TR_EOF) {
            tb_trd_close_input(t);
            if (f->batch_per_file && n > 0)
                break; /* csv: a batch never spans files (parallel reading) */
        } else if (st == TB_TR_MORE) {
            rc = tb_bufrd_fill(rd, err);
            if (rc != TB_OK)
                goto fail;
        }
    }
    kept = n;
    if (t->o->mode == TB_TR_DROP && n > 0)
        kept = tb_batch_drop_rows(batch, n, t->drop);
    if (kept == 0) {
        if (t->done)
            return TB_OK;
        /* Every row was dropped: keep reading, unless the arena grew a lot (text copies
         * of dropped rows stay in it until the caller resets it): then an empty batch. */
        if (tb_arena_bytes(arena) - arena_start < TB_TR_EMPTY_ARENA_MAX)
            goto again;
    }
    batch->n_rows = kept;
    t->base.stats.rows_read += kept;
    *out = batch;
    return TB_OK;
fail:
    t->done = true; /* a failed source yields nothing more */
    if (t->open)
        tb_bufrd_close(&t->rd);
    t->open = false;
    return rc;
}

/* ================================================================ format 'text' */

#define TXT_BAD_UTF8 1
#define TXT_BAD_NUL 2

typedef struct txt_src {
    tb_trd t;
    tb_tr_opts o;
    int value_out; /* output index of the value column, or -1 */
    uint8_t *rnull; /* per row: a NULL record */
} txt_src;

static tb_rc txt_scan_record(tb_trd *t, const uint8_t *base, size_t start, size_t end,
                             uint32_t n, bool *empty, tb_err *err)
{
    const uint8_t *p = base + start;
    size_t len = end - start;
    (void)err;

    *empty = false; /* an empty text is the empty string */
    if (memchr(p, 0, len) != NULL)
        t->rbad[n] = TXT_BAD_NUL;
    else if (!tb_tr_all_ascii(p, len) && !tb_utf8_valid((const char *)p, len))
        t->rbad[n] = TXT_BAD_UTF8;
    return TB_OK;
}

static tb_rc txt_convert(tb_trd *t, tb_batch *batch, uint32_t r0, uint32_t r1,
                         const uint8_t *base, const uint8_t *lim, tb_arena *arena, tb_err *err)
{
    txt_src *s = (txt_src *)t;
    tb_vec *v;
    const char *copy;
    size_t n = t->re[r1 - 1];
    (void)lim;

    if (s->value_out < 0)
        return TB_OK;
    v = &batch->cols[s->value_out];
    copy = tb_arena_memdup(arena, base, n > 0 ? n : 1);
    if (copy == NULL)
        return tb_err_nomem(err);
    for (uint32_t r = r0; r < r1; r++) {
        tb_str *o = &((tb_str *)v->data)[r];
        if (t->rbad[r] != 0 || s->rnull[r]) {
            o->ptr = NULL;
            o->len = 0;
            if (tb_vec_set_null(v, r, batch->cap, arena) != TB_OK)
                return tb_err_nomem(err);
            continue;
        }
        o->ptr = copy + t->rs[r];
        o->len = t->re[r] - t->rs[r];
    }
    return TB_OK;
}

static const char *txt_reason(tb_trd *t, const uint8_t *base, uint32_t r)
{
    (void)base;
    return t->rbad[r] == TXT_BAD_NUL ? "NUL byte in record" : "invalid UTF-8";
}

static void txt_free(tb_trd *t)
{
    txt_src *s = (txt_src *)t;
    tb_tr_opts_clear(&s->o);
    tb_free(s->rnull);
}

static const tb_trd_fmt TXT_FMT = {"text",          "record",   false,    true, NULL, NULL,
                                   txt_scan_record, txt_convert, txt_reason, txt_free};

/* ================================================================ decoder */

enum { FMT_CSV, FMT_JSON, FMT_TEXT };

struct tb_textdec_opts {
    int format;
    tb_csv_opts *csv;
    tb_jsonl_opts *json;
    tb_tr_opts text; /* format text: mode and corrupt_column */
};

typedef struct dec_rec {
    size_t off, len; /* in queue */
    size_t loc;      /* in locs */
    bool null;
} dec_rec;

struct tb_textdec {
    int format;
    tb_trd *t;
    tb_buf queue; /* record bytes */
    tb_buf locs;  /* NUL-terminated locations */
    dec_rec *recs;
    size_t n_recs, cap_recs, head; /* records [head, n_recs) are pending */
    uint64_t added;
    size_t max_line;
};

static const char *const FORMATS[] = {"csv", "json", "text"};

tb_rc tb_textdec_opts_new(const char *format, tb_textdec_opts **out, tb_err *err)
{
    tb_textdec_opts *o;
    int f;

    if (out == NULL)
        return TB_ERRF(err, TB_E_MISUSE, "textdec: NULL argument");
    *out = NULL;
    if (format == NULL)
        return TB_ERRF(err, TB_E_MISUSE, "textdec: NULL argument");
    for (f = 0; f < 3 && !tb_str_ieq(format, FORMATS[f]); f++)
        ;
    if (f == 3)
        return TB_ERRF(err, TB_E_SQL, "format '%s' is not supported for records (csv, json, text)",
                       format);
    o = tb_calloc(1, sizeof(*o));
    if (o == NULL)
        return tb_err_nomem(err);
    o->format = f;
    tb_tr_opts_init(&o->text);
    if (f == FMT_CSV) {
        tb_err e2;
        o->csv = tb_csv_opts_new();
        if (o->csv == NULL || tb_csv_opts_set(o->csv, "header", "false", &e2) != TB_OK)
            goto nomem;
    } else if (f == FMT_JSON) {
        o->json = tb_jsonl_opts_new();
        if (o->json == NULL)
            goto nomem;
    }
    *out = o;
    return TB_OK;
nomem:
    tb_textdec_opts_free(o);
    return tb_err_nomem(err);
}

void tb_textdec_opts_free(tb_textdec_opts *opts)
{
    if (opts == NULL)
        return;
    tb_csv_opts_free(opts->csv);
    tb_jsonl_opts_free(opts->json);
    tb_tr_opts_clear(&opts->text);
    tb_free(opts);
}

const char *tb_textdec_opts_format(const tb_textdec_opts *opts)
{
    return FORMATS[opts->format];
}

const char *tb_textdec_opts_known(const tb_textdec_opts *opts)
{
    switch (opts->format) {
    case FMT_CSV:
        return "delimiter, quote, escape, null, timestamp_format, date_format, mode, "
               "corrupt_column, schema, max_line_bytes";
    case FMT_JSON:
        return "mode, corrupt_column, schema, max_line_bytes";
    default:
        return "mode, corrupt_column";
    }
}

tb_rc tb_textdec_opts_set(tb_textdec_opts *opts, const char *key, const char *value,
                          tb_err *err)
{
    tb_rc rc;

    if (opts == NULL || key == NULL || value == NULL)
        return TB_ERRF(err, TB_E_MISUSE, "textdec: NULL option argument");
    if (tb_str_ieq(key, "sample_rows") || tb_str_ieq(key, "skip") ||
        (opts->format != FMT_TEXT && tb_str_ieq(key, "header")) ||
        (opts->format == FMT_TEXT && !tb_str_ieq(key, "mode") &&
         !tb_str_ieq(key, "corrupt_column")))
        return TB_ERRF(err, TB_E_NOTFOUND,
                       "option '%s' does not apply to %s records (known: %s)", key,
                       FORMATS[opts->format], tb_textdec_opts_known(opts));
    if (opts->format == FMT_CSV)
        rc = tb_csv_opts_set(opts->csv, key, value, err);
    else if (opts->format == FMT_JSON)
        rc = tb_jsonl_opts_set(opts->json, key, value, err);
    else
        rc = tb_tr_opts_set(&opts->text, "format text", key, value, err);
    if (rc == TB_E_NOTFOUND)
        return TB_ERRF(err, TB_E_NOTFOUND, "unknown option '%s' for %s records (known: %s)", key,
                       FORMATS[opts->format], tb_textdec_opts_known(opts));
    return rc;
}

static const tb_tr_opts *dec_common(const tb_textdec_opts *opts)
{
    if (opts->format == FMT_CSV)
        return tb_csv_opts_common(opts->csv);
    if (opts->format == FMT_JSON)
        return tb_jsonl_opts_common(opts->json);
    return &opts->text;
}

tb_rc tb_textdec_schema(const tb_textdec_opts *opts, const tb_schema *declared, tb_schema **out,
                        tb_err *err)
{
    const tb_tr_opts *o;
    const tb_schema *schema;
    tb_schema *value = NULL;
    tb_rc rc;

    if (opts == NULL || out == NULL)
        return TB_ERRF(err, TB_E_MISUSE, "textdec: NULL argument");
    *out = NULL;
    o = dec_common(opts);
    schema = declared != NULL ? declared : o->schema;
    if (schema == NULL) {
        if (opts->format != FMT_TEXT)
            return TB_ERRF(err, TB_E_SQL, "format '%s' needs a schema (declare the columns or "
                           "set the schema option)", FORMATS[opts->format]);
        value = tb_schema_new(1);
        if (value == NULL || tb_schema_set(value, 0, "value", tb_type_make(TB_T_STRING), true) !=
                                 TB_OK) {
            tb_schema_free(value);
            return tb_err_nomem(err);
        }
        schema = value;
    }
    rc = tb_tr_with_corrupt(schema, o->corrupt, out, err);
    tb_schema_free(value);
    return rc;
}

static tb_rc txt_new(const tb_textdec_opts *opts, const tb_schema *schema, const int *proj,
                     uint32_t n_proj, tb_trd **out, tb_err *err)
{
    txt_src *s = tb_calloc(1, sizeof(*s));
    int corrupt = -1, value = -1;
    tb_rc rc;

    *out = NULL;
    if (s == NULL)
        return tb_err_nomem(err);
    s->t.fmt = &TXT_FMT;
    s->t.o = &s->o;
    s->t.corrupt_out = -1;
    s->value_out = -1;
    s->t.base.vt = NULL;
    if (!tb_tr_opts_copy(&s->o, &opts->text))
        goto nomem;
    if (s->o.corrupt != NULL)
        corrupt = tb_schema_find(schema, s->o.corrupt);
    for (uint32_t i = 0; i < schema->n; i++) {
        if ((int)i == corrupt)
            continue;
        if (value >= 0 || schema->fields[i].type.id != TB_T_STRING) {
            rc = TB_ERRF(err, TB_E_SQL, "format 'text' reads one text column (found '%s' %s)",
                         schema->fields[i].name, value >= 0 ? "as a second column" : "not text");
            goto fail;
        }
        value = (int)i;
    }
    s->t.base.schema = tb_schema_new(n_proj);
    if (s->t.base.schema == NULL)
        goto nomem;
    for (uint32_t i = 0; i < n_proj; i++) {
        const tb_field *f = &schema->fields[proj[i]];
        if (proj[i] == corrupt)
            s->t.corrupt_out = (int)i;
        else if (proj[i] == value)
            s->value_out = (int)i;
        if (tb_schema_set(s->t.base.schema, i, f->name, f->type, true) != TB_OK)
            goto nomem;
    }
    s->t.n_proj = n_proj;
    rc = tb_trd_init(&s->t, 1, err);
    if (rc != TB_OK)
        goto fail;
    s->rnull = tb_tr_alloc_n(s->t.rows_cap, 1);
    if (s->rnull == NULL)
        goto nomem;
    *out = &s->t;
    return TB_OK;
nomem:
    rc = tb_err_nomem(err);
fail:
    tb_trd_free(&s->t);
    return rc;
}

tb_rc tb_textdec_new(const tb_textdec_opts *opts, const tb_schema *schema, const int *proj,
                     uint32_t n_proj, tb_textdec **out, tb_err *err)
{
    tb_textdec *dec;
    tb_rc rc;

    if (out == NULL)
        return TB_ERRF(err, TB_E_MISUSE, "textdec: NULL argument");
    *out = NULL;
    if (opts == NULL || schema == NULL || (n_proj > 0 && proj == NULL))
        return TB_ERRF(err, TB_E_MISUSE, "textdec: NULL argument");
    for (uint32_t i = 0; i < n_proj; i++) {
        if (proj[i] < 0 || (uint32_t)proj[i] >= schema->n)
            return TB_ERRF(err, TB_E_MISUSE,
                           "textdec: projection index %d out of range (%u columns)", proj[i],
                           schema->n);
    }
    if (opts->format == FMT_CSV && tb_csv_opts_has_header(opts->csv))
        return TB_ERRF(err, TB_E_SQL, "csv records have no header: header must be false");
    dec = tb_calloc(1, sizeof(*dec));
    if (dec == NULL)
        return tb_err_nomem(err);
    dec->format = opts->format;
    dec->max_line = dec_common(opts)->max_line;
    if (opts->format == FMT_CSV)
        rc = tb_csv_trd_new(opts->csv, schema, proj, n_proj, &dec->t, err);
    else if (opts->format == FMT_JSON)
        rc = tb_jsonl_trd_new(opts->json, schema, proj, n_proj, &dec->t, err);
    else
        rc = txt_new(opts, schema, proj, n_proj, &dec->t, err);
    if (rc == TB_OK) {
        dec->t->rloc = tb_tr_alloc_n(dec->t->rows_cap, sizeof(char *));
        if (dec->t->rloc == NULL)
            rc = tb_err_nomem(err);
    }
    if (rc != TB_OK) {
        tb_textdec_free(dec);
        return rc;
    }
    *out = dec;
    return TB_OK;
}

void tb_textdec_free(tb_textdec *dec)
{
    if (dec == NULL)
        return;
    if (dec->t != NULL) {
        tb_free(dec->t->rloc);
        tb_trd_free(dec->t);
    }
    tb_buf_free(&dec->queue);
    tb_buf_free(&dec->locs);
    tb_free(dec->recs);
    tb_free(dec);
}

void tb_textdec_on_bad_record(tb_textdec *dec, tb_textdec_bad_record_fn fn, void *ud)
{
    if (dec == NULL)
        return;
    dec->t->bad_fn = fn;
    dec->t->bad_ud = ud;
}

tb_rc tb_textdec_add(tb_textdec *dec, const char *data, size_t len, const char *location,
                     tb_err *err)
{
    dec_rec *r;
    char num[48];

    if (dec == NULL || (data == NULL && len > 0))
        return TB_ERRF(err, TB_E_MISUSE, "textdec: NULL argument");
    dec->added++;
    if (location == NULL) {
        (void)snprintf(num, sizeof(num), "record %llu", (unsigned long long)dec->added);
        location = num;
    }
    if (len > dec->max_line)
        return TB_ERRF(err, TB_E_LIMIT, "%s: %s: record longer than max_line_bytes (%zu bytes)",
                       dec->t->fmt->fmt, location, dec->max_line);
    if (dec->n_recs == dec->cap_recs) {
        size_t nc = dec->cap_recs == 0 ? 64 : dec->cap_recs * 2;
        dec_rec *nr = tb_realloc(dec->recs, nc * sizeof(*nr));
        if (nr == NULL)
            return tb_err_nomem(err);
        dec->recs = nr;
        dec->cap_recs = nc;
    }
    r = &dec->recs[dec->n_recs];
    r->off = dec->queue.len;
    r->len = len;
    r->loc = dec->locs.len;
    r->null = data == NULL;
    if ((len > 0 && tb_buf_append(&dec->queue, data, len) != TB_OK) ||
        tb_buf_append(&dec->locs, location, strlen(location) + 1) != TB_OK)
        return tb_err_nomem(err);
    dec->n_recs++;
    return TB_OK;
}

size_t tb_textdec_pending(const tb_textdec *dec)
{
    return dec->n_recs - dec->head;
}

void tb_textdec_reset(tb_textdec *dec)
{
    dec->head = dec->n_recs = 0;
    dec->queue.len = 0;
    dec->locs.len = 0;
}

const tb_source_stats *tb_textdec_stats(const tb_textdec *dec)
{
    return &dec->t->base.stats;
}

tb_rc tb_textdec_flush(tb_textdec *dec, tb_arena *arena, tb_batch **out, tb_err *err)
{
    tb_trd *t;
    tb_batch *batch = NULL;
    const uint8_t *base;
    size_t first, bytes = 0;
    uint32_t n = 0, kept;
    tb_rc rc;

    if (out == NULL)
        return TB_ERRF(err, TB_E_MISUSE, "textdec: NULL argument");
    *out = NULL;
    if (dec == NULL || arena == NULL)
        return TB_ERRF(err, TB_E_MISUSE, "textdec: NULL argument");
    t = dec->t;
    if (dec->head == dec->n_recs) {
        tb_textdec_reset(dec);
        return TB_OK;
    }
    rc = tb_trd_new_batch(t, arena, &batch);
    if (rc != TB_OK)
        return tb_err_nomem(err);
    memset(t->rbad, 0, t->rows_cap);
    memset(t->drop, 0, t->rows_cap);
    first = dec->recs[dec->head].off;
    base = (const uint8_t *)(dec->queue.data != NULL ? dec->queue.data : "") + first;
    while (n < t->rows_cap && dec->head + n < dec->n_recs &&
           (n == 0 || bytes < TB_TR_BATCH_BYTES)) {
        const dec_rec *r = &dec->recs[dec->head + n];
        size_t s0 = r->off - first;
        bool empty = false;
        t->rs[n] = (uint32_t)s0;
        t->re[n] = (uint32_t)(s0 + r->len);
        t->rline[n] = 0;
        t->rloc[n] = dec->locs.data + r->loc;
        rc = t->fmt->scan_record(t, base, s0, s0 + r->len, n, &empty, err);
        if (rc != TB_OK)
            return rc;
        if (dec->format == FMT_TEXT)
            ((txt_src *)t)->rnull[n] = r->null;
        else if (empty || r->null)
            t->rbad[n] |= TB_TR_BAD_EMPTY;
        bytes += r->len;
        n++;
    }
    /* lim: the queue's end; formats may read ahead up to it */
    rc = t->fmt->convert(t, batch, 0, n, base,
                         (const uint8_t *)(dec->queue.data != NULL ? dec->queue.data : "") +
                             dec->queue.len,
                         arena, err);
    if (rc == TB_OK)
        rc = tb_trd_settle(t, batch, 0, n, base, arena, err);
    if (rc != TB_OK) {
        if (rc == TB_E_PARSE)
            dec->head += t->fail_row + 1; /* the records after it stay queued */
        return rc;
    }
    dec->head += n;
    t->base.stats.bytes_read += bytes;
    kept = n;
    if (t->o->mode == TB_TR_DROP)
        kept = tb_batch_drop_rows(batch, n, t->drop);
    batch->n_rows = kept;
    t->base.stats.rows_read += kept;
    *out = batch;
    return TB_OK;
}
