/*
 * op_hop.c - the window operator behind hop(...) and tumble(...) in FROM: each input row
 * is repeated once per window holding its time value, with the window start appended.
 *
 * Windows are [start, start + size) with start = k * slide + offset for every integer
 * k (all in microseconds). A row at time t belongs to the windows whose start lies in
 * (t - size, t]: the latest is last = floor((t - offset) / slide) * slide + offset, the
 * others last - slide, last - 2 * slide, ... while start + size > t. With d = t - last
 * (0 <= d < slide) that is n(t) = ceil((size - d) / slide) windows when size > d, else
 * none (size < slide leaves gaps between windows). When size is a multiple of slide,
 * n(t) = size / slide for every row. A row whose time is NULL is in no window (as in
 * Flink); tumble is the case slide == size (one window per row).
 *
 * Vectorized by copies: for an input batch and j = 0 .. K-1 (K = ceil(size / slide),
 * the most windows a row can be in, at most TB_HOP_MAX_WINDOWS), copy j holds the rows
 * with n(t) > j and window start last - j * slide. When every row qualifies (size a
 * multiple of slide, no NULL time) a copy passes the input vectors through by struct
 * copy and only computes the start column; otherwise the qualifying rows are gathered.
 * Output batches are the input's size at most. The input batch (and the per-row
 * figures derived from it, in `in_arena`) stays valid while its K copies are emitted:
 * the child is only advanced after the last one.
 */
#include <string.h>

#include "exec/op_int.h"

typedef struct hop_op {
    tb_op base;
    tb_expr *time; /* over the child's columns; timestamp */
    int64_t slide, size, offset;
    uint32_t k;       /* most windows per row */
    bool exact;       /* size % slide == 0: every non-NULL row is in k windows */
    char *start_name; /* for tb_op_hop_column (stream windows) */
    char *end_name;
    /* current input batch */
    tb_batch *in;
    uint32_t copy;     /* next copy to emit */
    int64_t *last;     /* latest window start per row */
    uint8_t *none;     /* row in no window at all (NULL time, or in a gap) */
    uint16_t *n_win;   /* windows per row (inexact case only) */
    bool all_full;     /* every row is in k windows */
    uint32_t sel[TB_BATCH_CAP];
    tb_arena *in_arena;  /* per input batch */
    tb_arena *out_arena; /* per output batch */
} hop_op;

static tb_rc out_of_range(tb_expr *time, tb_err *err)
{
    return TB_ERRPOS(err, TB_E_RANGE, time->pos, "hop: window start out of range");
}

/* Take the next non-empty input batch and derive each row's windows; *done at the end. */
static tb_rc pull(hop_op *h, bool *done, tb_err *err)
{
    tb_batch *in = NULL;
    tb_vec tv;
    tb_rc rc;

    *done = false;
    h->in = NULL;
    tb_arena_reset(h->in_arena);
    do {
        rc = tb_op_next(h->base.children[0], &in, err);
        if (rc != TB_OK)
            return rc;
        if (in == NULL) {
            *done = true;
            return TB_OK;
        }
    } while (in->n_rows == 0);
    if (in->n_rows > TB_BATCH_CAP)
        return TB_ERRF(err, TB_E_LIMIT, "hop: batch of %u rows (max %u)", in->n_rows,
                       TB_BATCH_CAP);
    rc = tb_op_eval(h->time, in, h->in_arena, &tv, err);
    if (rc != TB_OK)
        return rc;
    uint32_t n = in->n_rows;
    h->last = tb_arena_alloc(h->in_arena, n * sizeof(int64_t));
    h->none = tb_arena_alloc(h->in_arena, n);
    h->n_win = h->exact ? NULL : tb_arena_alloc(h->in_arena, n * sizeof(uint16_t));
    if (h->last == NULL || h->none == NULL || (!h->exact && h->n_win == NULL))
        return tb_err_nomem(err);
    bool typed = tv.type.id == TB_T_TIMESTAMP;
    const int64_t *t = typed ? tv.data : NULL;
    /* the earliest start a row can get is last - (k - 1) * slide: it must not overflow */
    int64_t span = (int64_t)(h->k - 1) * h->slide;
    bool bad = false, full = true;
    for (uint32_t i = 0; i < n; i++) {
        if (!typed || tb_vec_is_null(&tv, i)) {
            h->none[i] = 1;
            h->last[i] = 0;
            if (h->n_win != NULL)
                h->n_win[i] = 0;
            full = false;
            continue;
        }
        int64_t x, s, first;
        bad |= __builtin_sub_overflow(t[i], h->offset, &x);
        s = x % h->slide;
        s += s < 0 ? h->slide : 0; /* 0 <= s < slide: t - s is a window start */
        bad |= __builtin_sub_overflow(t[i], s, &h->last[i]);
        bad |= __builtin_sub_overflow(h->last[i], span, &first);
        if (h->exact) {
            h->none[i] = 0;
        } else {
            uint32_t w = s < h->size ? (uint32_t)((h->size - s - 1) / h->slide) + 1 : 0;
            h->n_win[i] = (uint16_t)w;
            h->none[i] = w == 0;
            full &= w == h->k;
        }
    }
    if (bad)
        return out_of_range(h->time, err);
    h->in = in;
    h->copy = 0;
    h->all_full = full;
    return TB_OK;
}

static tb_rc hop_next(tb_op *op, tb_batch **out, tb_err *err)
{
    hop_op *h = (hop_op *)op;
    tb_rc rc;

    *out = NULL;
    tb_arena_reset(h->out_arena);
    for (;;) {
        if (h->in == NULL || h->copy >= h->k) {
            bool done;
            rc = pull(h, &done, err);
            if (rc != TB_OK || done)
                return rc;
        }
        tb_batch *in = h->in;
        uint32_t j = h->copy++;
        uint32_t n = 0;
        const uint32_t *sel = NULL;
        if (!h->all_full) {
            if (h->exact) {
                for (uint32_t i = 0; i < in->n_rows; i++) {
                    h->sel[n] = i;
                    n += h->none[i] == 0;
                }
            } else {
                for (uint32_t i = 0; i < in->n_rows; i++) {
                    h->sel[n] = i;
                    n += h->n_win[i] > j;
                }
            }
            if (n == 0)
                continue;
            sel = h->sel;
        } else {
            n = in->n_rows;
        }
        tb_batch *batch = NULL;
        if (tb_batch_shell(in->n_cols + 1, h->out_arena, &batch) != TB_OK)
            return tb_err_nomem(err);
        for (uint32_t c = 0; c < in->n_cols; c++) {
            if (sel == NULL)
                batch->cols[c] = in->cols[c];
            else if (tb_op_gather_new(&batch->cols[c], &in->cols[c], sel, n, h->out_arena) !=
                     TB_OK)
                return tb_err_nomem(err);
        }
        tb_vec *ws = &batch->cols[in->n_cols];
        if (tb_vec_init(ws, tb_type_make(TB_T_TIMESTAMP), n, h->out_arena) != TB_OK)
            return tb_err_nomem(err);
        int64_t *o = ws->data;
        int64_t back = (int64_t)j * h->slide; /* no overflow: checked against span */
        if (sel == NULL) {
            for (uint32_t i = 0; i < n; i++)
                o[i] = h->last[i] - back;
        } else {
            for (uint32_t i = 0; i < n; i++)
                o[i] = h->last[sel[i]] - back;
        }
        batch->n_rows = n;
        batch->cap = n;
        *out = batch;
        return TB_OK;
    }
}

static void hop_free(tb_op *op)
{
    hop_op *h = (hop_op *)op;
    tb_arena_free(h->in_arena);
    tb_arena_free(h->out_arena);
    tb_free(h->start_name);
    tb_free(h->end_name);
}

static tb_rc fmt_us(tb_buf *buf, const char *what, int64_t us)
{
    tb_interval iv = {0, 0, us};
    char b[96];
    (void)tb_format_interval(iv, b);
    return tb_buf_printf(buf, "%s %s", what, b);
}

static tb_rc hop_explain(tb_op *op, tb_buf *buf)
{
    hop_op *h = (hop_op *)op;
    tb_rc rc = tb_expr_format(h->time, op->children[0]->schema, buf);
    if (rc == TB_OK)
        rc = fmt_us(buf, ", slide", h->slide);
    if (rc == TB_OK)
        rc = fmt_us(buf, ", size", h->size);
    if (rc == TB_OK && h->offset != 0)
        rc = fmt_us(buf, ", offset", h->offset);
    if (rc == TB_OK)
        rc = tb_buf_printf(buf, " AS %s", op->schema->fields[op->schema->n - 1].name);
    return rc;
}

static tb_rc hop_rescan(tb_op *op, tb_err *err)
{
    hop_op *h = (hop_op *)op;
    h->in = NULL;
    h->copy = 0;
    return tb_op_rescan_children(op, err);
}

static const tb_op_vt hop_vt = {"hop", hop_next, hop_free, hop_explain, hop_rescan};

tb_rc tb_op_hop_new(tb_op *child, tb_expr *time, int64_t slide_us, int64_t size_us,
                    int64_t offset_us, const char *start_name, const char *end_name, tb_op **out,
                    tb_err *err)
{
    hop_op *h = NULL;
    tb_rc rc;

    *out = NULL;
    if (time->type.id != TB_T_TIMESTAMP && time->type.id != TB_T_NULL) {
        char b[64];
        rc = TB_ERRPOS(err, TB_E_TYPE, time->pos,
                       "hop: the time column must be a timestamp, not %s",
                       tb_type_name(time->type, b, sizeof(b)));
        goto fail;
    }
    if (slide_us <= 0 || size_us <= 0) {
        rc = TB_ERRPOS(err, TB_E_RANGE, time->pos, "hop: slide and size must be positive");
        goto fail;
    }
    uint64_t k = (uint64_t)(size_us - 1) / (uint64_t)slide_us + 1;
    if (k > TB_HOP_MAX_WINDOWS) {
        rc = TB_ERRPOS(err, TB_E_LIMIT, time->pos,
                       "hop: a row would be in %llu windows (size / slide), more than %d",
                       (unsigned long long)k, TB_HOP_MAX_WINDOWS);
        goto fail;
    }
    h = tb_op_alloc(sizeof(*h), &hop_vt, 1, &child);
    if (h == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    child = NULL; /* h owns it now */
    h->time = time;
    h->slide = slide_us;
    h->size = size_us;
    h->offset = offset_us;
    h->k = (uint32_t)k;
    h->exact = size_us % slide_us == 0;
    h->in_arena = tb_arena_new(0);
    h->out_arena = tb_arena_new(0);
    h->start_name = tb_strdup(start_name != NULL ? start_name : "window_start");
    h->end_name = end_name != NULL ? tb_strdup(end_name) : NULL;
    const tb_schema *cs = h->base.children[0]->schema;
    h->base.schema = tb_schema_new(cs->n + 1);
    if (h->in_arena == NULL || h->out_arena == NULL || h->start_name == NULL ||
        (end_name != NULL && h->end_name == NULL) || h->base.schema == NULL)
        goto nomem;
    for (uint32_t i = 0; i < cs->n; i++) {
        if (tb_schema_set(h->base.schema, i, cs->fields[i].name, cs->fields[i].type,
                          cs->fields[i].nullable) != TB_OK)
            goto nomem;
    }
    if (tb_schema_set(h->base.schema, cs->n, h->start_name, tb_type_make(TB_T_TIMESTAMP),
                      false) != TB_OK)
        goto nomem;
    *out = &h->base;
    return TB_OK;
nomem:
    tb_op_free(&h->base);
    return tb_err_nomem(err);
fail:
    tb_op_free(child);
    return rc;
}

bool tb_op_hop_column(const tb_op *op, const char *name, int64_t *out_to_end_us)
{
    if (op == NULL || name == NULL)
        return false;
    if (op->vt == &hop_vt) {
        const hop_op *h = (const hop_op *)op;
        if (strcmp(h->start_name, name) == 0) {
            *out_to_end_us = h->size;
            return true;
        }
        if (h->end_name != NULL && strcmp(h->end_name, name) == 0) {
            *out_to_end_us = 0;
            return true;
        }
    }
    for (uint32_t i = 0; i < op->n_children; i++)
        if (tb_op_hop_column(op->children[i], name, out_to_end_us))
            return true;
    return false;
}
