/*
 * op_basic.c - the streaming (non-materializing) operators: scan, values, filter,
 * project, limit/offset, union all; plus tb_op_free and tb_op_explain.
 *
 * Each operator owns one arena for the batches it produces and resets it at the top of
 * next(): an output batch is valid until the following next() call. Operators pass
 * their child's vectors through by struct copy whenever they can (project of a column,
 * a filter that keeps every row, a limit that keeps a prefix), so the common paths copy
 * no data.
 */
#include <string.h>

#include "exec/op_int.h"

/* Block size of per-operator batch arenas: large enough that a 2048-row vector of
 * 16-byte values is bumped from a block rather than malloc'ed per batch. */
#define OP_ARENA_BLOCK (256 * 1024)

/* ---------------------------------------------------------------- generic */

void tb_op_free(tb_op *op)
{
    if (op == NULL)
        return;
    if (op->vt->free != NULL)
        op->vt->free(op);
    for (uint32_t i = 0; i < op->n_children; i++)
        tb_op_free(op->children[i]);
    tb_free(op->children);
    tb_schema_free(op->schema);
    tb_free(op);
}

tb_rc tb_op_rescan(tb_op *op, tb_err *err)
{
    if (op->vt->rescan == NULL)
        return TB_ERRF(err, TB_E_UNSUPPORTED, "operator %s cannot be re-executed", op->vt->name);
    return op->vt->rescan(op, err);
}

bool tb_op_binds_input(const tb_op *op)
{
    if (op->binds_input)
        return true;
    for (uint32_t i = 0; i < op->n_children; i++)
        if (tb_op_binds_input(op->children[i]))
            return true;
    return false;
}

/* Rescan every child (operators whose own state is none or reset by the caller). */
tb_rc tb_op_rescan_children(tb_op *op, tb_err *err)
{
    for (uint32_t i = 0; i < op->n_children; i++) {
        tb_rc rc = tb_op_rescan(op->children[i], err);
        if (rc != TB_OK)
            return rc;
    }
    return TB_OK;
}

static tb_rc explain_rec(tb_op *op, tb_buf *buf, int depth)
{
    tb_rc rc = TB_OK;

    for (int i = 0; i < depth && rc == TB_OK; i++)
        rc = tb_buf_puts(buf, "  ");
    if (rc == TB_OK)
        rc = tb_buf_puts(buf, op->vt->name);
    if (rc == TB_OK && op->vt->explain != NULL) {
        size_t at = buf->len;
        rc = tb_buf_putc(buf, ' ');
        if (rc == TB_OK)
            rc = op->vt->explain(op, buf);
        if (rc == TB_OK && buf->len == at + 1)
            buf->len = at; /* empty detail: drop the space */
    }
    if (rc == TB_OK)
        rc = tb_buf_putc(buf, '\n');
    for (uint32_t i = 0; i < op->n_children && rc == TB_OK; i++)
        rc = explain_rec(op->children[i], buf, depth + 1);
    return rc;
}

tb_rc tb_op_explain(tb_op *op, tb_buf *buf) { return explain_rec(op, buf, 0); }

/* "(a, b, c)" of a schema's names */
static tb_rc explain_cols(const tb_schema *schema, tb_buf *buf)
{
    tb_rc rc = tb_buf_putc(buf, '(');
    for (uint32_t i = 0; i < schema->n && rc == TB_OK; i++) {
        if (i > 0)
            rc = tb_buf_puts(buf, ", ");
        if (rc == TB_OK)
            rc = tb_buf_puts(buf, schema->fields[i].name ? schema->fields[i].name : "?");
    }
    return rc == TB_OK ? tb_buf_putc(buf, ')') : rc;
}

/* ---------------------------------------------------------------- scan */

typedef struct scan_op {
    tb_op base;
    tb_source *src;
    tb_arena *arena;
} scan_op;

static tb_rc scan_next(tb_op *op, tb_batch **out, tb_err *err)
{
    scan_op *s = (scan_op *)op;
    tb_rc rc;

    *out = NULL;
    for (;;) {
        tb_batch *batch = NULL;
        tb_arena_reset(s->arena);
        rc = tb_source_next(s->src, s->arena, &batch, err);
        if (rc != TB_OK || batch == NULL)
            return rc;
        if (batch->n_rows > 0) {
            *out = batch;
            return TB_OK;
        }
    }
}

static void scan_free(tb_op *op)
{
    scan_op *s = (scan_op *)op;
    tb_source_free(s->src);
    tb_arena_free(s->arena);
}

static tb_rc scan_explain(tb_op *op, tb_buf *buf)
{
    scan_op *s = (scan_op *)op;
    tb_rc rc = tb_buf_printf(buf, "%s ", s->src->vt->name);
    return rc == TB_OK ? explain_cols(op->schema, buf) : rc;
}

static const tb_op_vt scan_vt = {"scan", scan_next, scan_free, scan_explain, NULL};

tb_rc tb_op_scan_new(tb_source *src, tb_op **out, tb_err *err)
{
    scan_op *s = tb_op_alloc(sizeof(*s), &scan_vt, 0, NULL);

    *out = NULL;
    if (s == NULL) {
        tb_source_free(src);
        return tb_err_nomem(err);
    }
    s->src = src;
    s->arena = tb_arena_new(OP_ARENA_BLOCK);
    s->base.schema = tb_schema_copy(src->schema);
    if (s->arena == NULL || s->base.schema == NULL) {
        tb_op_free(&s->base);
        return tb_err_nomem(err);
    }
    *out = &s->base;
    return TB_OK;
}

tb_source *tb_op_scan_detach(tb_op *op)
{
    scan_op *s = (scan_op *)op;
    tb_source *src;

    if (op == NULL || op->vt != &scan_vt)
        return NULL;
    src = s->src;
    s->src = NULL;
    tb_op_free(op);
    return src;
}

/* ---------------------------------------------------------------- values */

typedef struct values_op {
    tb_op base;
    uint32_t n_rows;
    uint32_t next_row;
    tb_expr **exprs; /* n_rows * schema->n, borrowed from the plan */
    tb_arena *arena;
} values_op;

static tb_rc values_next(tb_op *op, tb_batch **out, tb_err *err)
{
    values_op *v = (values_op *)op;
    uint32_t n_cols = op->schema->n, n;
    tb_batch *batch = NULL;
    tb_rc rc;

    *out = NULL;
    tb_arena_reset(v->arena);
    if (v->next_row >= v->n_rows)
        return TB_OK;
    n = TB_MIN(v->n_rows - v->next_row, (uint32_t)TB_BATCH_CAP);
    rc = tb_batch_new(op->schema, n, v->arena, &batch);
    if (rc != TB_OK)
        return tb_err_nomem(err);
    for (uint32_t i = 0; i < n; i++) {
        for (uint32_t c = 0; c < n_cols; c++) {
            tb_expr *e = v->exprs[(size_t)(v->next_row + i) * n_cols + c];
            tb_vec *col = &batch->cols[c];
            tb_value val;

            rc = tb_expr_eval_const(e, v->arena, &val, err);
            if (rc != TB_OK)
                return rc;
            if (val.is_null || val.type.id == TB_T_NULL || col->type.id == TB_T_NULL) {
                if (!val.is_null && val.type.id != TB_T_NULL)
                    return TB_ERRF(err, TB_E_TYPE,
                                   "VALUES: row %u column %u: value for a "
                                   "NULL-typed column",
                                   v->next_row + i + 1, c + 1);
                rc = tb_vec_set_null(col, i, n, v->arena);
            } else if (val.type.id != col->type.id ||
                       (col->type.id == TB_T_DECIMAL && val.type.scale != col->type.scale)) {
                char b1[64], b2[64];
                return TB_ERRF(err, TB_E_TYPE, "VALUES: row %u column %u is %s, expected %s",
                               v->next_row + i + 1, c + 1, tb_type_name(val.type, b1, sizeof(b1)),
                               tb_type_name(col->type, b2, sizeof(b2)));
            } else {
                rc = tb_vec_put(col, i, n, &val, v->arena);
            }
            if (rc != TB_OK)
                return tb_err_nomem(err);
        }
    }
    batch->n_rows = n;
    v->next_row += n;
    *out = batch;
    return TB_OK;
}

static void values_free(tb_op *op)
{
    values_op *v = (values_op *)op;
    tb_free(v->exprs);
    tb_arena_free(v->arena);
}

static tb_rc values_explain(tb_op *op, tb_buf *buf)
{
    values_op *v = (values_op *)op;
    return tb_buf_printf(buf, "%u rows", v->n_rows);
}

static tb_rc values_rescan(tb_op *op, tb_err *err)
{
    TB_UNUSED(err);
    ((values_op *)op)->next_row = 0;
    return TB_OK;
}

static const tb_op_vt values_vt = {"values", values_next, values_free, values_explain,
                                   values_rescan};

tb_rc tb_op_values_new(const tb_schema *schema, uint32_t n_rows, tb_expr **exprs, tb_op **out,
                       tb_err *err)
{
    values_op *v = tb_op_alloc(sizeof(*v), &values_vt, 0, NULL);
    size_t n = (size_t)n_rows * schema->n;

    *out = NULL;
    if (v == NULL)
        return tb_err_nomem(err);
    v->n_rows = n_rows;
    v->arena = tb_arena_new(OP_ARENA_BLOCK);
    v->base.schema = tb_schema_copy(schema);
    v->exprs = tb_malloc(n ? n * sizeof(tb_expr *) : 1);
    if (v->arena == NULL || v->base.schema == NULL || v->exprs == NULL) {
        tb_op_free(&v->base);
        return tb_err_nomem(err);
    }
    if (n > 0)
        memcpy(v->exprs, exprs, n * sizeof(tb_expr *));
    *out = &v->base;
    return TB_OK;
}

/* ---------------------------------------------------------------- filter */

typedef struct filter_op {
    tb_op base;
    tb_expr *pred;
    tb_arena *arena;
    uint32_t sel[TB_BATCH_CAP];
} filter_op;

/* Rows where a boolean vector is true (valid and non-zero); returns their count. */
static uint32_t bool_sel(const tb_vec *v, uint32_t n, uint32_t *sel)
{
    const uint8_t *d = v->data;
    uint32_t k = 0;

    if (v->type.id != TB_T_BOOL)
        return 0; /* NULL-typed predicate: nothing passes */
    if (v->valid == NULL) {
        for (uint32_t i = 0; i < n; i++) {
            sel[k] = i;
            k += d[i] != 0;
        }
    } else {
        for (uint32_t i = 0; i < n; i++) {
            sel[k] = i;
            k += (d[i] != 0) & (uint32_t)((v->valid[i >> 6] >> (i & 63)) & 1);
        }
    }
    return k;
}

static tb_rc gather_batch(const tb_batch *in, const uint32_t *sel, uint32_t n, tb_arena *arena,
                          tb_batch **out, tb_err *err)
{
    tb_batch *batch = NULL;

    if (tb_batch_shell(in->n_cols, arena, &batch) != TB_OK)
        return tb_err_nomem(err);
    for (uint32_t c = 0; c < in->n_cols; c++) {
        if (tb_op_gather_new(&batch->cols[c], &in->cols[c], sel, n, arena) != TB_OK)
            return tb_err_nomem(err);
    }
    batch->n_rows = n;
    batch->cap = n;
    *out = batch;
    return TB_OK;
}

static tb_rc filter_next(tb_op *op, tb_batch **out, tb_err *err)
{
    filter_op *f = (filter_op *)op;
    tb_rc rc;

    *out = NULL;
    for (;;) {
        tb_batch *batch = NULL;
        tb_vec pv;
        uint32_t n;

        tb_arena_reset(f->arena);
        rc = tb_op_next(op->children[0], &batch, err);
        if (rc != TB_OK || batch == NULL)
            return rc;
        if (batch->n_rows == 0)
            continue;
        if (batch->n_rows > TB_BATCH_CAP)
            return TB_ERRF(err, TB_E_LIMIT, "filter: batch of %u rows (max %u)", batch->n_rows,
                           TB_BATCH_CAP);
        rc = tb_op_eval(f->pred, batch, f->arena, &pv, err);
        if (rc != TB_OK)
            return rc;
        n = bool_sel(&pv, batch->n_rows, f->sel);
        if (n == batch->n_rows) {
            *out = batch;
            return TB_OK;
        }
        if (n == 0)
            continue;
        return gather_batch(batch, f->sel, n, f->arena, out, err);
    }
}

static void filter_free(tb_op *op) { tb_arena_free(((filter_op *)op)->arena); }

static tb_rc filter_explain(tb_op *op, tb_buf *buf)
{
    filter_op *f = (filter_op *)op;
    return tb_expr_format(f->pred, op->children[0]->schema, buf);
}

static const tb_op_vt filter_vt = {"filter", filter_next, filter_free, filter_explain,
                                   tb_op_rescan_children};

tb_rc tb_op_filter_new(tb_op *child, tb_expr *pred, tb_op **out, tb_err *err)
{
    filter_op *f = tb_op_alloc(sizeof(*f), &filter_vt, 1, &child);

    *out = NULL;
    if (f == NULL) {
        tb_op_free(child);
        return tb_err_nomem(err);
    }
    f->pred = pred;
    f->arena = tb_arena_new(OP_ARENA_BLOCK);
    f->base.schema = tb_schema_copy(child->schema);
    if (f->arena == NULL || f->base.schema == NULL) {
        tb_op_free(&f->base);
        return tb_err_nomem(err);
    }
    if (pred->type.id != TB_T_BOOL && pred->type.id != TB_T_NULL) {
        char b[64];
        tb_rc rc = TB_ERRPOS(err, TB_E_TYPE, pred->pos,
                             "argument of WHERE must be type boolean, not type %s",
                             tb_type_name(pred->type, b, sizeof(b)));
        tb_op_free(&f->base);
        return rc;
    }
    *out = &f->base;
    return TB_OK;
}

/* ---------------------------------------------------------------- project */

typedef struct project_op {
    tb_op base;
    uint32_t n;
    tb_expr **exprs;
    tb_arena *arena;
} project_op;

static tb_rc project_next(tb_op *op, tb_batch **out, tb_err *err)
{
    project_op *p = (project_op *)op;
    tb_batch *in = NULL, *batch = NULL;
    tb_rc rc;

    *out = NULL;
    tb_arena_reset(p->arena);
    do {
        rc = tb_op_next(op->children[0], &in, err);
        if (rc != TB_OK || in == NULL)
            return rc;
    } while (in->n_rows == 0);
    if (tb_batch_shell(p->n, p->arena, &batch) != TB_OK)
        return tb_err_nomem(err);
    for (uint32_t i = 0; i < p->n; i++) {
        rc = tb_op_eval(p->exprs[i], in, p->arena, &batch->cols[i], err);
        if (rc != TB_OK)
            return rc;
    }
    batch->n_rows = in->n_rows;
    batch->cap = in->n_rows;
    *out = batch;
    return TB_OK;
}

static void project_free(tb_op *op)
{
    project_op *p = (project_op *)op;
    tb_free(p->exprs);
    tb_arena_free(p->arena);
}

static tb_rc project_explain(tb_op *op, tb_buf *buf)
{
    project_op *p = (project_op *)op;
    tb_rc rc = TB_OK;

    for (uint32_t i = 0; i < p->n && rc == TB_OK; i++) {
        if (i > 0)
            rc = tb_buf_puts(buf, ", ");
        if (rc == TB_OK)
            rc = tb_expr_format(p->exprs[i], op->children[0]->schema, buf);
        if (rc == TB_OK && op->schema->fields[i].name != NULL)
            rc = tb_buf_printf(buf, " AS %s", op->schema->fields[i].name);
    }
    return rc;
}

static const tb_op_vt project_vt = {"project", project_next, project_free, project_explain,
                                    tb_op_rescan_children};

tb_rc tb_op_project_new(tb_op *child, uint32_t n, tb_expr **exprs, const char **names, tb_op **out,
                        tb_err *err)
{
    project_op *p = tb_op_alloc(sizeof(*p), &project_vt, 1, &child);

    *out = NULL;
    if (p == NULL) {
        tb_op_free(child);
        return tb_err_nomem(err);
    }
    p->n = n;
    p->arena = tb_arena_new(OP_ARENA_BLOCK);
    p->exprs = tb_malloc(n ? n * sizeof(tb_expr *) : 1);
    p->base.schema = tb_schema_new(n);
    if (p->arena == NULL || p->exprs == NULL || p->base.schema == NULL)
        goto nomem;
    if (n > 0)
        memcpy(p->exprs, exprs, n * sizeof(tb_expr *));
    for (uint32_t i = 0; i < n; i++) {
        bool nullable = true;
        if (exprs[i]->kind == TB_EX_COL && exprs[i]->col >= 0 &&
            (uint32_t)exprs[i]->col < child->schema->n)
            nullable = child->schema->fields[exprs[i]->col].nullable;
        if (tb_schema_set(p->base.schema, i, names && names[i] ? names[i] : "?column?",
                          exprs[i]->type, nullable) != TB_OK)
            goto nomem;
    }
    *out = &p->base;
    return TB_OK;
nomem:
    tb_op_free(&p->base);
    return tb_err_nomem(err);
}

/* ---------------------------------------------------------------- limit */

typedef struct limit_op {
    tb_op base;
    int64_t limit; /* < 0: none */
    int64_t offset;
    int64_t to_skip;
    int64_t left; /* rows still to emit (limit >= 0) */
    tb_arena *arena;
    uint32_t sel[TB_BATCH_CAP];
} limit_op;

static tb_rc limit_next(tb_op *op, tb_batch **out, tb_err *err)
{
    limit_op *l = (limit_op *)op;
    tb_rc rc;

    *out = NULL;
    tb_arena_reset(l->arena);
    for (;;) {
        tb_batch *batch = NULL;
        uint32_t n, skip, take;

        if (l->limit >= 0 && l->left == 0)
            return TB_OK; /* done: do not pull (nor run) the child any further */
        rc = tb_op_next(op->children[0], &batch, err);
        if (rc != TB_OK || batch == NULL)
            return rc;
        n = batch->n_rows;
        if (n > TB_BATCH_CAP)
            return TB_ERRF(err, TB_E_LIMIT, "limit: batch of %u rows (max %u)", n, TB_BATCH_CAP);
        skip = (uint32_t)TB_MIN((int64_t)n, l->to_skip);
        l->to_skip -= skip;
        take = n - skip;
        if (l->limit >= 0 && (int64_t)take > l->left)
            take = (uint32_t)l->left;
        if (take == 0)
            continue;
        if (l->limit >= 0)
            l->left -= take;
        if (skip == 0 && take == n) {
            *out = batch;
            return TB_OK;
        }
        if (skip == 0) {
            /* A prefix: share the vectors, shorten the row count. */
            tb_batch *shell = NULL;
            if (tb_batch_shell(batch->n_cols, l->arena, &shell) != TB_OK)
                return tb_err_nomem(err);
            if (batch->n_cols > 0)
                memcpy(shell->cols, batch->cols, batch->n_cols * sizeof(tb_vec));
            shell->n_rows = take;
            shell->cap = batch->cap;
            *out = shell;
            return TB_OK;
        }
        for (uint32_t k = 0; k < take; k++)
            l->sel[k] = skip + k;
        return gather_batch(batch, l->sel, take, l->arena, out, err);
    }
}

static void limit_free(tb_op *op) { tb_arena_free(((limit_op *)op)->arena); }

static tb_rc limit_explain(tb_op *op, tb_buf *buf)
{
    limit_op *l = (limit_op *)op;
    tb_rc rc = TB_OK;

    if (l->limit >= 0)
        rc = tb_buf_printf(buf, "%lld", (long long)l->limit);
    else
        rc = tb_buf_puts(buf, "all");
    if (rc == TB_OK && l->offset > 0)
        rc = tb_buf_printf(buf, " offset %lld", (long long)l->offset);
    return rc;
}

static tb_rc limit_rescan(tb_op *op, tb_err *err)
{
    limit_op *l = (limit_op *)op;
    l->to_skip = l->offset;
    l->left = l->limit;
    return tb_op_rescan_children(op, err);
}

static const tb_op_vt limit_vt = {"limit", limit_next, limit_free, limit_explain, limit_rescan};

tb_rc tb_op_limit_new(tb_op *child, int64_t limit, int64_t offset, tb_op **out, tb_err *err)
{
    limit_op *l = tb_op_alloc(sizeof(*l), &limit_vt, 1, &child);

    *out = NULL;
    if (l == NULL) {
        tb_op_free(child);
        return tb_err_nomem(err);
    }
    l->limit = limit < 0 ? -1 : limit;
    l->offset = offset < 0 ? 0 : offset;
    l->to_skip = l->offset;
    l->left = l->limit;
    l->arena = tb_arena_new(OP_ARENA_BLOCK);
    l->base.schema = tb_schema_copy(child->schema);
    if (l->arena == NULL || l->base.schema == NULL) {
        tb_op_free(&l->base);
        return tb_err_nomem(err);
    }
    *out = &l->base;
    return TB_OK;
}

/* ---------------------------------------------------------------- union all */

typedef struct union_op {
    tb_op base;
    uint32_t cur;
} union_op;

static tb_rc union_next(tb_op *op, tb_batch **out, tb_err *err)
{
    union_op *u = (union_op *)op;
    tb_rc rc;

    *out = NULL;
    while (u->cur < op->n_children) {
        tb_batch *batch = NULL;
        rc = tb_op_next(op->children[u->cur], &batch, err);
        if (rc != TB_OK)
            return rc;
        if (batch == NULL) {
            u->cur++;
            continue;
        }
        if (batch->n_rows == 0)
            continue;
        *out = batch;
        return TB_OK;
    }
    return TB_OK;
}

static tb_rc union_rescan(tb_op *op, tb_err *err)
{
    ((union_op *)op)->cur = 0;
    return tb_op_rescan_children(op, err);
}

static const tb_op_vt union_vt = {"union all", union_next, NULL, NULL, union_rescan};

tb_rc tb_op_union_all_new(uint32_t n, tb_op **children, tb_op **out, tb_err *err)
{
    union_op *u;
    tb_schema *schema;

    *out = NULL;
    if (n == 0)
        return TB_ERRF(err, TB_E_MISUSE, "union all: no inputs");
    u = tb_op_alloc(sizeof(*u), &union_vt, n, children);
    if (u == NULL) {
        tb_op_free_all(children, n);
        return tb_err_nomem(err);
    }
    schema = u->base.schema = tb_schema_copy(children[0]->schema);
    if (schema == NULL) {
        tb_op_free(&u->base);
        return tb_err_nomem(err);
    }
    for (uint32_t i = 1; i < n; i++) {
        const tb_schema *s = children[i]->schema;
        if (s->n != schema->n) {
            tb_op_free(&u->base);
            return TB_ERRF(err, TB_E_TYPE,
                           "each UNION query must have the same number of "
                           "columns (%u vs %u)",
                           schema->n, s->n);
        }
        for (uint32_t c = 0; c < s->n; c++) {
            tb_type a = schema->fields[c].type, b = s->fields[c].type;
            if (a.id != b.id || (a.id == TB_T_DECIMAL && a.scale != b.scale)) {
                char b1[64], b2[64];
                tb_op_free(&u->base);
                return TB_ERRF(err, TB_E_TYPE,
                               "UNION types %s and %s cannot be matched "
                               "(column %u)",
                               tb_type_name(a, b1, sizeof(b1)), tb_type_name(b, b2, sizeof(b2)),
                               c + 1);
            }
            schema->fields[c].nullable |= s->fields[c].nullable;
        }
    }
    *out = &u->base;
    return TB_OK;
}
