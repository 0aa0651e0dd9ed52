/*
 * apply.c - the apply operator: correlated subqueries evaluated per outer row.
 *
 * For each row of its child, the operator plans the subquery's logical tree with the
 * outer columns it references bound as constants (tb_sql_physical's parameters), runs
 * it, and appends one column: the scalar value (AP_SCALAR; NULL when no row, an error
 * when several), whether a row exists (AP_EXISTS), or `test IN (subquery)` with SQL's
 * three-valued logic (AP_IN; `negate` for NOT IN).
 *
 * This is the general fallback (row at a time by nature); uncorrelated subqueries never
 * come here (the binder evaluates them once). Per-row plans live in a row arena reset
 * before each row; the output batch lives in the operator's arena, reset per next().
 * Parameters inherited from enclosing applies are passed on, so nested correlation
 * (a subquery referencing two levels up) works.
 *
 * AP_HOP is no subquery: the window of hop()/tumble() in FROM (bind.c), carried by an
 * apply node because it appends one column to its input like one. It becomes the exec
 * hop operator (op_hop.c): `test` is the time expression, `sub` a one-row VALUES of the
 * constant slide, size and offset intervals.
 */
#include <assert.h>
#include <string.h>

#include "sql/sql_int.h"

typedef struct apply_op {
    tb_op base;
    qctx *q;
    lnode *sub;
    applykind ap;
    tb_expr *test; /* AP_IN: over the child's columns */
    bool negate;
    tb_type type;
    uint32_t n_params; /* inherited + own */
    uint32_t n_inh;
    int *param_ids;
    tb_value *params;
    uint32_t *own_pos; /* child column of own parameter k */
    tb_arena *arena;
    tb_arena *row_arena;
} apply_op;

static tb_rc copy_str(tb_arena *arena, tb_value *v)
{
    if (!v->is_null && v->type.id == TB_T_STRING && v->u.s.len > 0) {
        char *p = tb_arena_memdup(arena, v->u.s.ptr, v->u.s.len);
        if (p == NULL)
            return TB_E_NOMEM;
        v->u.s.ptr = p;
    }
    return TB_OK;
}

/* Run the subquery for the current parameters; *out gets the row's result. */
static tb_rc run_row(apply_op *a, const tb_value *testv, tb_value *out, tb_err *err)
{
    tb_op *op = NULL;
    tb_rc rc;
    tb_arena_reset(a->row_arena);
    rc = tb_sql_physical(a->q, a->row_arena, a->sub, NULL, a->n_params, a->param_ids, a->params,
                         &op, err);
    if (rc != TB_OK)
        return rc;
    memset(out, 0, sizeof(*out));
    out->type = a->type;
    out->is_null = true;
    bool found = false, saw_null = false;
    uint64_t rows = 0;
    for (;;) {
        tb_batch *batch = NULL;
        rc = tb_op_next(op, &batch, err);
        if (rc != TB_OK)
            goto done;
        if (batch == NULL)
            break;
        if (batch->n_rows == 0)
            continue;
        if (a->ap == AP_EXISTS) {
            found = true;
            break;
        }
        if (a->ap == AP_SCALAR) {
            rows += batch->n_rows;
            if (rows > 1) {
                rc = TB_ERRF(err, TB_E_SQL,
                             "more than one row returned by a subquery used as an expression");
                goto done;
            }
            tb_vec_get(&batch->cols[0], 0, out);
            out->type = a->type;
            if (copy_str(a->arena, out) != TB_OK) {
                rc = tb_err_nomem(err);
                goto done;
            }
            continue;
        }
        /* AP_IN */
        for (uint32_t i = 0; i < batch->n_rows && !found; i++) {
            tb_value v;
            tb_vec_get(&batch->cols[0], i, &v);
            if (v.is_null) {
                saw_null = true;
                continue;
            }
            if (testv->is_null) {
                saw_null = true;
                continue;
            }
            v.type = testv->type;
            if (tb_value_cmp(testv, &v) == 0)
                found = true;
        }
        if (found)
            break;
    }
    if (a->ap == AP_EXISTS) {
        out->is_null = false;
        out->u.b = found;
    } else if (a->ap == AP_IN) {
        if (found) {
            out->is_null = false;
            out->u.b = !a->negate;
        } else if (saw_null) {
            out->is_null = true;
        } else {
            out->is_null = false;
            out->u.b = a->negate;
        }
    }
    rc = TB_OK;
done:
    tb_op_free(op);
    return rc;
}

static tb_rc apply_next(tb_op *op, tb_batch **out, tb_err *err)
{
    apply_op *a = (apply_op *)op;
    tb_batch *in = NULL, *batch = NULL;
    tb_rc rc;
    *out = NULL;
    tb_arena_reset(a->arena);
    do {
        rc = tb_op_next(op->children[0], &in, err);
        if (rc != TB_OK || in == NULL)
            return rc;
    } while (in->n_rows == 0);
    tb_vec tv;
    memset(&tv, 0, sizeof(tv));
    if (a->ap == AP_IN) {
        rc = tb_expr_eval(a->test, in, a->arena, &tv, err);
        if (rc != TB_OK)
            return rc;
    }
    tb_vec res;
    if (tb_vec_init(&res, a->type, in->n_rows, a->arena) != TB_OK ||
        tb_batch_shell(in->n_cols + 1, a->arena, &batch) != TB_OK)
        return tb_err_nomem(err);
    uint32_t n_own = a->n_params - a->n_inh;
    for (uint32_t i = 0; i < in->n_rows; i++) {
        for (uint32_t k = 0; k < n_own; k++)
            tb_vec_get(&in->cols[a->own_pos[k]], i, &a->params[a->n_inh + k]);
        tb_value testv, v;
        memset(&testv, 0, sizeof(testv));
        if (a->ap == AP_IN)
            tb_vec_get(&tv, i, &testv);
        rc = run_row(a, &testv, &v, err);
        if (rc != TB_OK)
            return rc;
        if (v.is_null) {
            if (tb_vec_set_null(&res, i, in->n_rows, a->arena) != TB_OK)
                return tb_err_nomem(err);
        } else {
            v.type = a->type;
            rc = tb_vec_put(&res, i, in->n_rows, &v, a->arena);
            if (rc != TB_OK)
                return TB_ERRF(err, rc, "apply: cannot store subquery value");
        }
    }
    for (uint32_t c = 0; c < in->n_cols; c++)
        batch->cols[c] = in->cols[c];
    batch->cols[in->n_cols] = res;
    batch->n_rows = in->n_rows;
    batch->cap = in->n_rows;
    *out = batch;
    return TB_OK;
}

static void apply_free(tb_op *op)
{
    apply_op *a = (apply_op *)op;
    tb_free(a->param_ids);
    tb_free(a->params);
    tb_free(a->own_pos);
    tb_arena_free(a->arena);
    tb_arena_free(a->row_arena);
}

static tb_rc apply_explain(tb_op *op, tb_buf *buf)
{
    apply_op *a = (apply_op *)op;
    static const char *kinds[] = {"scalar", "exists", "in"};
    return tb_buf_printf(buf, "%s%s subquery (per row) AS %s", a->negate ? "not " : "",
                         kinds[a->ap], op->schema->fields[op->schema->n - 1].name);
}

/* Run again over the child's next binding: the subquery is planned per row anyway, so
 * nothing of the operator outlives a next() (issue 9: a prepared continuous query). */
static tb_rc apply_rescan(tb_op *op, tb_err *err)
{
    return tb_op_rescan(op->children[0], err);
}

static const tb_op_vt apply_vt = {"apply", apply_next, apply_free, apply_explain, apply_rescan};

/* Column ids referenced by the subquery tree. */
static void refs(const lnode *n, uint64_t *set)
{
    if (n == NULL)
        return;
    for (uint32_t i = 0; i < n->n_conds; i++)
        tb_sql_expr_cols(n->conds[i], set);
    if (n->kind == L_PROJECT)
        for (uint32_t i = 0; i < n->n_out; i++)
            tb_sql_expr_cols(n->exprs[i], set);
    for (uint32_t i = 0; i < n->n_groups; i++)
        tb_sql_expr_cols(n->groups[i], set);
    for (uint32_t i = 0; i < n->n_aggs; i++)
        tb_sql_expr_cols(n->aggs[i].arg, set);
    for (uint32_t i = 0; i < n->n_keys; i++)
        tb_sql_expr_cols(n->keys[i].expr, set);
    if (n->test != NULL)
        tb_sql_expr_cols(n->test, set);
    refs(n->left, set);
    refs(n->right, set);
    for (uint32_t i = 0; i < n->n_kids; i++)
        refs(n->kids[i], set);
}

/* The hop window (AP_HOP): sub holds (slide, size, offset) as constant intervals. */
static tb_rc hop_new(tb_op *child, lnode *sub, tb_expr *time, const char *name, tb_op **out,
                     tb_err *err)
{
    int64_t us[3];
    assert(sub != NULL && sub->kind == L_VALUES && sub->n_rows == 1 && sub->n_out == 3);
    for (int i = 0; i < 3; i++) {
        const tb_expr *e = sub->vals[i];
        assert(e->kind == TB_EX_CONST && e->type.id == TB_T_INTERVAL && !e->value.is_null);
        us[i] = tb_interval_micros(e->value.u.iv); /* no months: checked by the binder */
    }
    return tb_op_hop_new(child, time, us[0], us[1], us[2], name, "window_end", out, err);
}

tb_rc tb_sql_apply_new(qctx *q, tb_op *child, const int *child_layout, uint32_t n_child, lnode *sub,
                       applykind ap, tb_expr *test, bool negate, const char *name, tb_type type,
                       uint32_t n_params, const int *param_ids, const tb_value *params, tb_op **out,
                       tb_err *err)
{
    if (ap == AP_HOP)
        return hop_new(child, sub, test, name, out, err);
    apply_op *a = tb_calloc(1, sizeof(*a));
    uint64_t *set = NULL;
    *out = NULL;
    if (a == NULL) {
        tb_op_free(child);
        return tb_err_nomem(err);
    }
    a->base.vt = &apply_vt;
    a->base.children = tb_calloc(1, sizeof(tb_op *));
    if (a->base.children == NULL) {
        tb_free(a);
        tb_op_free(child);
        return tb_err_nomem(err);
    }
    a->base.children[0] = child;
    a->base.n_children = 1;
    a->q = q;
    a->sub = sub;
    a->ap = ap;
    a->test = test;
    a->negate = negate;
    a->type = type;
    a->arena = tb_arena_new(0);
    a->row_arena = tb_arena_new(0);
    a->base.schema = tb_schema_new(child->schema->n + 1);
    uint32_t words = (q->n_cols + 64) / 64;
    set = tb_calloc(words, sizeof(uint64_t));
    a->param_ids = tb_calloc(n_params + n_child + 1, sizeof(int));
    a->params = tb_calloc(n_params + n_child + 1, sizeof(tb_value));
    a->own_pos = tb_calloc(n_child + 1, sizeof(uint32_t));
    if (a->arena == NULL || a->row_arena == NULL || a->base.schema == NULL || set == NULL ||
        a->param_ids == NULL || a->params == NULL || a->own_pos == NULL)
        goto nomem;
    for (uint32_t i = 0; i < child->schema->n; i++) {
        const tb_field *f = &child->schema->fields[i];
        if (tb_schema_set(a->base.schema, i, f->name, f->type, f->nullable) != TB_OK)
            goto nomem;
    }
    if (tb_schema_set(a->base.schema, child->schema->n, name, type, true) != TB_OK)
        goto nomem;
    /* inherited parameters first (values stay valid: the enclosing apply keeps them) */
    for (uint32_t i = 0; i < n_params; i++) {
        a->param_ids[i] = param_ids[i];
        a->params[i] = params[i];
    }
    a->n_inh = n_params;
    a->n_params = n_params;
    refs(sub, set);
    for (uint32_t i = 0; i < n_child; i++) {
        int id = child_layout[i];
        if ((set[(uint32_t)id >> 6] >> ((uint32_t)id & 63)) & 1) {
            a->own_pos[a->n_params - a->n_inh] = i;
            a->param_ids[a->n_params++] = id;
        }
    }
    tb_free(set);
    *out = &a->base;
    return TB_OK;
nomem:
    tb_free(set);
    tb_op_free(&a->base);
    return tb_err_nomem(err);
}
