/*
 * stream_scan.c - stream tables in the catalog and the stream scan operator.
 *
 * CREATE TABLE s (cols) WITH (connector = 'X', watermark = '...', ...) with X a stream
 * source (source.h) adds a catalog connector whose open() makes a stream scan. In a
 * continuous query's plan the runtime binds each stream scan to the batch's input
 * (tb_sscan_bind: the query's source instance and the batch's offsets), before every
 * execution of the plan; the scan opens the source's operator for exactly that input,
 * tracks the max event time, drops rows older than the watermark (counted) and strips
 * the watermark column when the query did not ask for it.
 *
 * A stream scan never bound (a batch query over the stream table, e.g. from the
 * dashboard) reads what the source has now: a fresh instance of the source plans
 * batches until none is left, and the scan reads them one after the other.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/stream_int.h"

typedef struct sscan_op {
    tb_op base;
    stream_tab *tab;
    int *proj; /* what the source yields: the query's columns, then the watermark one */
    uint32_t n_proj;
    int wm_idx;      /* index of the watermark column in the child's output, -1 */
    bool strip_last; /* child has one extra (watermark) column at the end */
    tb_arena *arena;
    batch_in *bi;    /* bound input, or NULL */
    bool opened;     /* the child for the bound input exists (or the input is empty) */
    /* unbound: a private instance of the source and the offsets it planned */
    tb_ssrc *own;
    json_t *pending;
    size_t next_pending;
    batch_in own_bi;
} sscan_op;

static void sscan_drop_child(sscan_op *s)
{
    if (s->base.n_children > 0) {
        tb_op_free(s->base.children[0]);
        s->base.children[0] = NULL;
        s->base.n_children = 0;
    }
}

static tb_rc open_child(sscan_op *s, tb_ssrc *src, const json_t *offsets, tb_err *err)
{
    tb_op *child = NULL;
    tb_rc rc = src->vt->open(src, offsets, s->proj, s->n_proj, &child, err);
    if (rc != TB_OK)
        return rc;
    s->base.children[0] = child;
    s->base.n_children = 1;
    return TB_OK;
}

/* Unbound: plan every batch a fresh source instance has now, read them in turn. */
static tb_rc unbound_next_child(sscan_op *s, bool *out_end, tb_err *err)
{
    stream_tab *t = s->tab;
    tb_rc rc;
    *out_end = false;
    if (s->own == NULL) {
        tb_ssrc_args args = {.name = t->name, .kv = &t->kv, .schema = t->schema,
                             .query_id = t->name, .batch = -1};
        rc = t->vt->create(&args, &s->own, err);
        if (rc != TB_OK)
            return rc;
        s->own->batch = -1;
        s->pending = json_array();
        if (s->pending == NULL)
            return tb_err_nomem(err);
        for (int guard = 0; guard < 1000000; guard++) {
            json_t *offs = NULL;
            bool more = false;
            rc = s->own->vt->plan(s->own, 0, &offs, &more, err);
            if (rc != TB_OK)
                return rc;
            if (offs == NULL)
                break;
            if (json_array_append_new(s->pending, offs) != 0)
                return tb_err_nomem(err);
            if (!more)
                break;
        }
        s->own_bi.watermark = TB_WATERMARK_NONE;
        s->own_bi.max_ts = INT64_MIN;
        s->bi = &s->own_bi;
    }
    if (s->next_pending >= json_array_size(s->pending)) {
        *out_end = true;
        return TB_OK;
    }
    return open_child(s, s->own, json_array_get(s->pending, s->next_pending++), err);
}

static tb_rc sscan_next(tb_op *op, tb_batch **out, tb_err *err)
{
    sscan_op *s = (sscan_op *)op;
    stream_tab *t = s->tab;
    tb_batch *in = NULL;
    tb_rc rc;
    *out = NULL;
    for (;;) {
        if (op->n_children == 0) {
            if (s->own != NULL || s->bi == NULL) {
                bool end = false;
                rc = unbound_next_child(s, &end, err);
                if (rc != TB_OK || end)
                    return rc;
            } else if (s->opened || s->bi->offsets == NULL) {
                return TB_OK; /* the bound input is read (or there is none) */
            } else {
                s->opened = true;
                rc = open_child(s, s->bi->src, s->bi->offsets, err);
                if (rc != TB_OK)
                    return rc;
            }
        }
        rc = tb_op_next(op->children[0], &in, err);
        if (rc != TB_OK)
            return rc;
        if (in != NULL)
            break;
        sscan_drop_child(s);
        if (s->own == NULL)
            return TB_OK;
    }
    batch_in *bi = s->bi;
    tb_arena_reset(s->arena);
    uint32_t n = in->n_rows;
    uint32_t *sel = NULL;
    uint32_t n_sel = n;
    if (s->wm_idx >= 0) {
        const tb_vec *ts = &in->cols[s->wm_idx];
        const int64_t *v = TB_VEC_PTR(ts, const int64_t);
        int64_t wm = bi->watermark;
        for (uint32_t i = 0; i < n; i++)
            if (!tb_vec_is_null(ts, i) && v[i] > bi->max_ts)
                bi->max_ts = v[i];
        if (wm != TB_WATERMARK_NONE) {
            sel = tb_arena_alloc(s->arena, sizeof(uint32_t) * (n ? n : 1));
            if (sel == NULL)
                return tb_err_nomem(err);
            n_sel = 0;
            for (uint32_t i = 0; i < n; i++)
                if (tb_vec_is_null(ts, i) || v[i] >= wm)
                    sel[n_sel++] = i;
            bi->late += n - n_sel;
            if (n_sel == n)
                sel = NULL;
        }
    }
    bi->rows += n_sel;
    (void)t;
    if (sel == NULL && !s->strip_last) {
        *out = in;
        return TB_OK;
    }
    uint32_t n_cols = op->schema->n;
    tb_batch *b = NULL;
    if (tb_batch_shell(n_cols, s->arena, &b) != TB_OK)
        return tb_err_nomem(err);
    b->n_rows = n_sel;
    b->cap = n_sel;
    for (uint32_t j = 0; j < n_cols; j++) {
        if (sel == NULL) {
            b->cols[j] = in->cols[j];
            continue;
        }
        if (tb_vec_init(&b->cols[j], in->cols[j].type, n_sel ? n_sel : 1, s->arena) != TB_OK)
            return tb_err_nomem(err);
        rc = tb_vec_copy_rows(&b->cols[j], 0, n_sel ? n_sel : 1, &in->cols[j], sel, n_sel,
                              false, s->arena);
        if (rc != TB_OK)
            return tb_err_nomem(err);
    }
    *out = b;
    return TB_OK;
}

static void sscan_free(tb_op *op)
{
    sscan_op *s = (sscan_op *)op;
    tb_arena_free(s->arena);
    tb_free(s->proj);
    json_decref(s->pending);
    if (s->own != NULL)
        s->own->vt->free(s->own);
}

static tb_rc sscan_explain(tb_op *op, tb_buf *buf)
{
    sscan_op *s = (sscan_op *)op;
    return tb_buf_printf(buf, "stream %s (%s)", s->tab->name, s->tab->vt->name);
}

static tb_rc sscan_rescan(tb_op *op, tb_err *err)
{
    TB_UNUSED(err);
    sscan_op *s = (sscan_op *)op;
    sscan_drop_child(s);
    s->opened = false;
    return TB_OK;
}

static const tb_op_vt sscan_vt = {"stream", sscan_next, sscan_free, sscan_explain,
                                  sscan_rescan};

/* ---------------------------------------------------------------- catalog connector */

static tb_rc tab_open(void *ud, const int *proj, uint32_t n_proj, tb_op **out, tb_err *err)
{
    stream_tab *t = ud;
    tb_rc rc;
    sscan_op *s = tb_calloc(1, sizeof(*s));
    tb_schema *pschema = tb_schema_new(n_proj);
    *out = NULL;
    if (s == NULL || pschema == NULL)
        goto nomem;
    int wm_idx = -1;
    for (uint32_t i = 0; i < n_proj; i++) {
        const tb_field *fd = &t->schema->fields[proj[i]];
        if (tb_schema_set(pschema, i, fd->name, fd->type, fd->nullable) != TB_OK)
            goto nomem;
        if (proj[i] == t->wm_col)
            wm_idx = (int)i;
    }
    bool strip = t->wm_col >= 0 && wm_idx < 0;
    s->proj = tb_malloc(sizeof(int) * (n_proj + 1));
    s->arena = tb_arena_new(0);
    s->base.children = tb_calloc(1, sizeof(tb_op *));
    if (s->proj == NULL || s->arena == NULL || s->base.children == NULL)
        goto nomem;
    if (n_proj > 0)
        memcpy(s->proj, proj, sizeof(int) * n_proj);
    s->n_proj = n_proj;
    if (strip) {
        s->proj[n_proj] = t->wm_col;
        wm_idx = (int)n_proj;
        s->n_proj++;
    }
    s->base.vt = &sscan_vt;
    s->base.binds_input = true; /* bound to each batch: joins must not keep what it built */
    s->base.schema = pschema;
    s->tab = t;
    s->wm_idx = wm_idx;
    s->strip_last = strip;
    *out = &s->base;
    return TB_OK;
nomem:
    rc = tb_err_nomem(err);
    tb_schema_free(pschema);
    if (s != NULL) {
        tb_free(s->proj);
        tb_arena_free(s->arena);
        tb_free(s->base.children);
        tb_free(s);
    }
    return rc;
}

static void tab_free(void *ud)
{
    stream_tab *t = ud;
    if (t == NULL)
        return;
    tb_free(t->name);
    tb_strlist_free(&t->kv);
    tb_schema_free(t->schema);
    tb_free(t);
}

static int64_t tab_estimate(void *ud)
{
    TB_UNUSED(ud);
    return -1; /* unbounded: never the build side of a join */
}

stream_tab *tb_stream_tab_of(const tb_connector_vt *vt, void *ud)
{
    return vt != NULL && vt->open == tab_open ? ud : NULL;
}

/* "ts - 10 seconds", "ts - INTERVAL '10 seconds'", "ts" -> column + delay. */
static tb_rc parse_watermark(const char *spec, const tb_schema *schema, int *out_col,
                             int64_t *out_delay, tb_err *err)
{
    char name[256];
    size_t i = 0, j = 0;
    while (spec[i] == ' ')
        i++;
    while (spec[i] != '\0' && spec[i] != ' ' && spec[i] != '-' && j + 1 < sizeof(name))
        name[j++] = spec[i++];
    name[j] = '\0';
    int col = tb_schema_find(schema, name);
    if (col < 0)
        return TB_ERRF(err, TB_E_NOTFOUND,
                       "watermark '%s': column \"%s\" is not a column of the stream", spec,
                       name);
    if (schema->fields[col].type.id != TB_T_TIMESTAMP)
        return TB_ERRF(err, TB_E_TYPE, "watermark '%s': column \"%s\" must be a timestamp",
                       spec, name);
    while (spec[i] == ' ')
        i++;
    int64_t delay = 0;
    if (spec[i] == '-') {
        i++;
        while (spec[i] == ' ')
            i++;
        const char *d = spec + i;
        if (tb_str_nieq(d, 8, "interval"))
            d += 8;
        while (*d == ' ' || *d == '\'')
            d++;
        char buf[128];
        snprintf(buf, sizeof(buf), "%s", d);
        size_t bl = strlen(buf);
        while (bl > 0 && (buf[bl - 1] == '\'' || buf[bl - 1] == ' '))
            buf[--bl] = '\0';
        int64_t ms;
        if (!tb_stream_parse_duration(buf, &ms))
            return TB_ERRF(err, TB_E_SQL,
                           "watermark '%s': bad delay '%s' (expected e.g. 'ts - 10 seconds')",
                           spec, buf);
        delay = ms * 1000;
    } else if (spec[i] != '\0') {
        return TB_ERRF(err, TB_E_SQL, "watermark '%s': expected 'column - delay'", spec);
    }
    *out_col = col;
    *out_delay = delay;
    return TB_OK;
}

tb_rc tb_stream_tab_create(tb_stream *st, const PgQuery__Node *node, const char *name,
                           const tb_ssrc_vt *vt, const tb_strlist *kv, int pos,
                           stream_tab **out, tb_err *err)
{
    tb_rc rc;
    tb_ssrc *probe = NULL;
    stream_tab *t = tb_calloc(1, sizeof(*t));
    *out = NULL;
    if (t == NULL)
        return tb_err_nomem(err);
    t->st = st;
    t->vt = vt;
    t->wm_col = -1;
    t->name = tb_strdup(name);
    if (t->name == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    rc = tb_sql_create_schema(node, &t->schema, err);
    if (rc != TB_OK)
        goto fail;
    if (t->schema == NULL || t->schema->n == 0) {
        rc = TB_ERRPOS(err, TB_E_SQL, pos,
                       "stream \"%s\": declare its columns (a streaming source needs a fixed "
                       "schema, as in Spark): CREATE TABLE %s (col type, ...) WITH (...)",
                       name, name);
        goto fail;
    }
    /* The runtime's options (connector, watermark); every other one is the source's. */
    for (size_t i = 0; i + 1 < kv->n; i += 2) {
        const char *k = kv->items[i], *v = kv->items[i + 1];
        if (tb_str_ieq(k, "connector"))
            continue;
        if (tb_str_ieq(k, "watermark")) {
            rc = parse_watermark(v, t->schema, &t->wm_col, &t->wm_delay_us, err);
            if (rc != TB_OK)
                goto fail;
            continue;
        }
        if (tb_strlist_push(&t->kv, k) != TB_OK || tb_strlist_push(&t->kv, v) != TB_OK) {
            rc = tb_err_nomem(err);
            goto fail;
        }
    }
    /* The source checks its options now, at the statement (each query makes its own). */
    tb_ssrc_args args = {.name = name, .kv = &t->kv, .schema = t->schema, .query_id = name,
                         .batch = -1};
    rc = vt->create(&args, &probe, err);
    if (rc != TB_OK)
        goto fail;
    vt->free(probe);
    t->cvt.name = vt->name;
    t->cvt.open = tab_open;
    t->cvt.free = tab_free;
    t->cvt.estimate_rows = tab_estimate;
    rc = tb_catalog_add_connector(st->db, name, t->schema, &t->cvt, t, err);
    if (rc != TB_OK)
        goto fail;
    *out = t; /* the catalog owns t */
    return TB_OK;
fail:
    if (err->pos < 0)
        err->pos = pos;
    tab_free(t);
    return rc;
}

/* Bind every stream scan under op to bi (see stream_int.h). */
static void bind_rec(tb_op *op, stream_tab *tab, batch_in *bi, uint32_t *n)
{
    if (op == NULL)
        return;
    if (op->vt == &sscan_vt && ((sscan_op *)op)->tab == tab) {
        sscan_op *s = (sscan_op *)op;
        sscan_drop_child(s);
        s->bi = bi;
        s->opened = false;
        (*n)++;
        return;
    }
    for (uint32_t i = 0; i < op->n_children; i++)
        bind_rec(op->children[i], tab, bi, n);
}

uint32_t tb_sscan_bind(tb_op *root, stream_tab *tab, batch_in *bi)
{
    uint32_t n = 0;
    bind_rec(root, tab, bi, &n);
    return n;
}

static void tables_rec(const tb_op *op, stream_tab **out, uint32_t cap, uint32_t *n)
{
    if (op == NULL)
        return;
    if (op->vt == &sscan_vt) {
        stream_tab *t = ((const sscan_op *)op)->tab;
        for (uint32_t i = 0; i < *n && i < cap; i++)
            if (out[i] == t)
                return;
        if (*n < cap)
            out[*n] = t;
        (*n)++;
        return;
    }
    for (uint32_t i = 0; i < op->n_children; i++)
        tables_rec(op->children[i], out, cap, n);
}

uint32_t tb_sscan_tables(const tb_op *root, stream_tab **out, uint32_t cap)
{
    uint32_t n = 0;
    tables_rec(root, out, cap, &n);
    return n;
}
