/*
 * plan.c - physical planning: logical plan (sql_int.h) -> exec operators.
 *
 * plan_node(n, need) builds the operator for n producing at least the column ids in
 * `need` (a bitset), and reports the layout: the column id at each output position.
 * Needs flow downward, so a source reads only the columns some operator above uses
 * (projection pushdown; n_proj == 0 for count(*)). Expressions are cloned from the
 * logical plan with column ids replaced by input positions, or by constants for
 * correlation parameters (apply.c re-plans a subquery per outer row that way).
 *
 * Joins: equality conjuncts between an expression of each side become hash keys, the
 * rest a residual; the side with the larger estimate is the probe (left) side, the
 * other the build side, swapping inputs (and LEFT <-> RIGHT) when needed. Without keys
 * a nested-loop join is used. ORDER BY + LIMIT is a top-N sort.
 *
 * Memory: expressions go to the arena given to tb_sql_physical (the plan's, or a
 * per-row arena for apply); operators are heap objects owned by their parents.
 */
#include <string.h>

#include "sql/sql_int.h"

/* A hash join's build side, planned once for all the copies of a parallel pipeline. */
typedef struct pjoin {
    const lnode *node;
    int *layout;
    uint32_t n;
    tb_hashjoin_once *once;
} pjoin;

#define PAR_MAX_JOINS 16

/* Planning the copies of a parallel pipeline (plan_agg_par). */
typedef struct ppar {
    uint32_t worker;         /* the copy being planned */
    bool leaf_done;          /* this copy's morsel scan is planned */
    bool bad;                /* the shape cannot run in parallel after all: plan serially */
    tb_morsel_queue *q;      /* made by copy 0's leaf */
    pjoin joins[PAR_MAX_JOINS];
    uint32_t n_joins;
} ppar;

typedef struct pctx {
    qctx *q;
    tb_arena *arena;
    tb_err *err;
    uint32_t words;
    uint32_t n_params;
    const int *param_ids;
    const tb_value *params;
    ppar *par;   /* planning a copy of a parallel pipeline */
    bool no_par; /* inside a parallel region (a shared build side): no nested one */
} pctx;

typedef struct pres {
    tb_op *op;
    int *layout;
    uint32_t n;
} pres;

static tb_rc plan_node(pctx *pc, lnode *n, const uint64_t *need, pres *out);

/* ================================================================ helpers */

static uint64_t *set_new(pctx *pc)
{
    return tb_arena_zalloc(pc->arena, pc->words * sizeof(uint64_t));
}

static void set_add(uint64_t *s, int id)
{
    s[(uint32_t)id >> 6] |= (uint64_t)1 << ((uint32_t)id & 63);
}

static bool set_has(const uint64_t *s, uint32_t words, int id)
{
    uint32_t w = (uint32_t)id >> 6;
    return w < words && ((s[w] >> ((uint32_t)id & 63)) & 1);
}

static uint64_t *set_copy(pctx *pc, const uint64_t *s)
{
    uint64_t *d = set_new(pc);
    if (d != NULL)
        memcpy(d, s, pc->words * sizeof(uint64_t));
    return d;
}

static int find_pos(const int *layout, uint32_t n, int id)
{
    for (uint32_t i = 0; i < n; i++)
        if (layout[i] == id)
            return (int)i;
    return -1;
}

/* Clone e with column ids mapped to positions in layout (or parameter constants). */
static tb_rc remap(pctx *pc, const tb_expr *e, const int *layout, uint32_t n, tb_expr **out)
{
    tb_rc rc;
    if (e->kind == TB_EX_COL) {
        int p = find_pos(layout, n, e->col);
        if (p >= 0) {
            tb_expr *c = tb_arena_memdup(pc->arena, e, sizeof(*e));
            if (c == NULL)
                return tb_err_nomem(pc->err);
            c->col = p;
            *out = c;
            return TB_OK;
        }
        for (uint32_t i = 0; i < pc->n_params; i++) {
            if (pc->param_ids[i] == e->col) {
                tb_value v = pc->params[i];
                tb_expr *k;
                if (v.is_null || v.type.id == TB_T_NULL) {
                    k = tb_expr_null(pc->arena);
                    if (k == NULL)
                        return tb_err_nomem(pc->err);
                    if (e->type.id != TB_T_NULL) {
                        rc = tb_expr_cast(pc->arena, k, e->type, e->pos, &k, pc->err);
                        if (rc != TB_OK)
                            return rc;
                    }
                } else {
                    k = tb_expr_const(pc->arena, &v);
                    if (k == NULL)
                        return tb_err_nomem(pc->err);
                    if (v.type.id == TB_T_STRING) {
                        /* typed text, not an "unknown" literal */
                        rc = tb_expr_cast(pc->arena, k, v.type, e->pos, &k, pc->err);
                        if (rc != TB_OK)
                            return rc;
                    }
                }
                *out = k;
                return TB_OK;
            }
        }
        const colinfo *ci = &pc->q->cols[e->col];
        return TB_ERRF(pc->err, TB_E_ERROR, "internal: column %s%s%s (#%d) not available",
                       ci->rel ? ci->rel : "", ci->rel ? "." : "", ci->name, e->col);
    }
    if (e->n_args == 0) {
        *out = (tb_expr *)e;
        return TB_OK;
    }
    tb_expr **args = tb_arena_alloc(pc->arena, e->n_args * sizeof(*args));
    if (args == NULL)
        return tb_err_nomem(pc->err);
    for (uint32_t i = 0; i < e->n_args; i++) {
        rc = remap(pc, e->args[i], layout, n, &args[i]);
        if (rc != TB_OK)
            return rc;
    }
    if (e->kind == TB_EX_IN) {
        /* its state may hold expressions over the arguments: rebuild it */
        return tb_expr_make(pc->arena, TB_EX_IN, args, e->n_args, e->negate, false, e->pos, out,
                            pc->err);
    }
    tb_expr *c = tb_arena_memdup(pc->arena, e, sizeof(*e));
    if (c == NULL)
        return tb_err_nomem(pc->err);
    c->args = args;
    *out = c;
    return TB_OK;
}

static const char **names_of(pctx *pc, const int *ids, uint32_t n)
{
    const char **names = tb_arena_alloc(pc->arena, (n ? n : 1) * sizeof(char *));
    if (names == NULL)
        return NULL;
    for (uint32_t i = 0; i < n; i++)
        names[i] = pc->q->cols[ids[i]].name;
    return names;
}

static void add_refs(const tb_expr *e, uint64_t *set) { tb_sql_expr_cols(e, set); }

/* Reorder/cut a child's output to exactly ids[] (adds a projection when needed). */
static tb_rc exact(pctx *pc, pres *r, const int *ids, uint32_t n, const char **names)
{
    bool same = r->n == n;
    for (uint32_t i = 0; same && i < n; i++)
        same = r->layout[i] == ids[i];
    if (same && names != NULL) {
        for (uint32_t i = 0; same && i < n; i++)
            same = strcmp(r->op->schema->fields[i].name, names[i]) == 0;
    }
    if (same)
        return TB_OK;
    tb_expr **ex = tb_arena_alloc(pc->arena, (n ? n : 1) * sizeof(*ex));
    if (ex == NULL)
        return tb_err_nomem(pc->err);
    for (uint32_t i = 0; i < n; i++) {
        int p = find_pos(r->layout, r->n, ids[i]);
        if (p < 0) {
            tb_expr *col = tb_expr_col(pc->arena, ids[i], pc->q->cols[ids[i]].type);
            if (col == NULL)
                return tb_err_nomem(pc->err);
            tb_rc rc = remap(pc, col, r->layout, r->n, &ex[i]); /* parameter or error */
            if (rc != TB_OK)
                return rc;
            continue;
        }
        ex[i] = tb_expr_col(pc->arena, p, pc->q->cols[ids[i]].type);
        if (ex[i] == NULL)
            return tb_err_nomem(pc->err);
    }
    if (names == NULL)
        names = names_of(pc, ids, n);
    if (names == NULL)
        return tb_err_nomem(pc->err);
    tb_op *op;
    tb_rc rc = tb_op_project_new(r->op, n, ex, names, &op, pc->err);
    r->op = NULL;
    if (rc != TB_OK)
        return rc;
    r->op = op;
    r->layout = (int *)ids;
    r->n = n;
    return TB_OK;
}

static tb_rc and_of(pctx *pc, tb_expr **conds, uint32_t n, tb_expr **out)
{
    if (n == 1) {
        *out = conds[0];
        return TB_OK;
    }
    return tb_expr_make(pc->arena, TB_EX_AND, conds, n, false, false, -1, out, pc->err);
}

/* ================================================================ nodes */

/* A source that splits into morsels: read_csv / read_parquet, as a table function or
 * behind a file-backed table. */
static bool par_source(const lsource *src)
{
    const char *name = NULL;
    if (src->kind == SRC_TF)
        name = src->tf->name;
    else if (src->kind != SRC_CONNECTOR || !tb_sql_is_file_connector(src->vt, src->ud, &name))
        return false;
    return name != NULL && (strcmp(name, "read_csv") == 0 || strcmp(name, "read_parquet") == 0);
}

/* The leaf of a parallel copy: copy 0 opens the source and makes the morsel queue, every
 * copy gets a morsel scan of it. Fewer than two morsels: not worth it (ppar.bad). */
static tb_rc plan_get_par(pctx *pc, lnode *n, const int *proj, uint32_t n_proj, tb_op **out)
{
    ppar *par = pc->par;
    lsource *src = n->src;
    tb_rc rc;

    if (par->leaf_done || !par_source(src)) {
        par->bad = true; /* a second leaf, or one that cannot be split */
        return TB_E_UNSUPPORTED;
    }
    par->leaf_done = true;
    if (par->worker == 0) {
        tb_source *s = NULL;
        if (src->kind == SRC_TF) {
            rc = src->tf->open(src->tf_state, proj, n_proj, &s, pc->err);
        } else {
            tb_op *op = NULL;
            rc = src->vt->open(src->ud, proj, n_proj, &op, pc->err);
            if (rc == TB_OK && (s = tb_op_scan_detach(op)) == NULL) {
                tb_op_free(op);
                par->bad = true;
                return TB_E_UNSUPPORTED;
            }
        }
        if (rc != TB_OK)
            return rc;
        rc = tb_morsel_queue_new(s, &par->q, pc->err);
        if (rc != TB_OK)
            return rc;
        if (tb_morsel_queue_count(par->q) < 2) {
            par->bad = true;
            return TB_E_UNSUPPORTED;
        }
    }
    return tb_op_morsel_scan_new(par->q, par->worker, out, pc->err);
}

/* Remember a catalog relation the plan scans (tb_plan.rels). */
static tb_rc note_rel(pctx *pc, const lsource *src)
{
    qctx *q = pc->q;
    if (src->kind == SRC_TF)
        return TB_OK; /* a table function in the query: bound with the plan */
    for (uint32_t i = 0; i < q->n_rels; i++)
        if (q->rels[i].table == src->table && q->rels[i].ud == src->ud)
            return TB_OK;
    if (q->n_rels == q->cap_rels) {
        uint32_t cap = q->cap_rels ? q->cap_rels * 2 : 8;
        tb_plan_rel *r = tb_arena_alloc(q->arena, cap * sizeof(*r));
        if (r == NULL)
            return tb_err_nomem(pc->err);
        if (q->n_rels > 0)
            memcpy(r, q->rels, q->n_rels * sizeof(*r));
        q->rels = r;
        q->cap_rels = cap;
    }
    q->rels[q->n_rels++] = (tb_plan_rel){src->name,
                                         src->kind == SRC_TABLE ? src->table : NULL,
                                         src->kind == SRC_CONNECTOR ? src->vt : NULL,
                                         src->kind == SRC_CONNECTOR ? src->ud : NULL};
    return TB_OK;
}

static tb_rc plan_get(pctx *pc, lnode *n, const uint64_t *need, pres *out)
{
    lsource *src = n->src;
    if (note_rel(pc, src) != TB_OK)
        return TB_E_NOMEM;
    int *proj = tb_arena_alloc(pc->arena, (n->n_out ? n->n_out : 1) * sizeof(int));
    int *layout = tb_arena_alloc(pc->arena, (n->n_out ? n->n_out : 1) * sizeof(int));
    if (proj == NULL || layout == NULL)
        return tb_err_nomem(pc->err);
    uint32_t n_proj = 0;
    for (uint32_t i = 0; i < n->n_out; i++) {
        if (set_has(need, pc->words, n->out[i])) {
            proj[n_proj] = (int)i;
            layout[n_proj++] = n->out[i];
        }
    }
    tb_op *op = NULL;
    tb_rc rc;
    if (pc->par != NULL) {
        rc = plan_get_par(pc, n, proj, n_proj, &op);
        if (rc != TB_OK)
            return rc;
        out->op = op;
        out->layout = layout;
        out->n = n_proj;
        return TB_OK;
    }
    switch (src->kind) {
    case SRC_TABLE:
        rc = tb_table_scan_new(src->table, proj, n_proj, &op, pc->err);
        break;
    case SRC_CONNECTOR:
        rc = src->vt->open(src->ud, proj, n_proj, &op, pc->err);
        break;
    case SRC_TF: {
        tb_source *s = NULL;
        rc = src->tf->open(src->tf_state, proj, n_proj, &s, pc->err);
        if (rc == TB_OK)
            rc = tb_op_scan_new(s, &op, pc->err);
        break;
    }
    default:
        rc = TB_ERRF(pc->err, TB_E_ERROR, "internal: bad source");
        break;
    }
    if (rc != TB_OK)
        return rc;
    out->op = op;
    out->layout = layout;
    out->n = n_proj;
    return TB_OK;
}

static tb_rc plan_values(pctx *pc, lnode *n, pres *out)
{
    tb_schema *schema = tb_schema_new(n->n_out);
    tb_rc rc;
    if (schema == NULL)
        return tb_err_nomem(pc->err);
    for (uint32_t i = 0; i < n->n_out; i++) {
        const colinfo *ci = &pc->q->cols[n->out[i]];
        rc = tb_schema_set(schema, i, ci->name, ci->type, true);
        if (rc != TB_OK) {
            tb_schema_free(schema);
            return tb_err_nomem(pc->err);
        }
    }
    uint32_t total = n->n_rows * n->n_out;
    tb_expr **vals = tb_arena_alloc(pc->arena, (total ? total : 1) * sizeof(*vals));
    if (vals == NULL) {
        tb_schema_free(schema);
        return tb_err_nomem(pc->err);
    }
    for (uint32_t i = 0; i < total; i++) {
        rc = remap(pc, n->vals[i], NULL, 0, &vals[i]);
        if (rc != TB_OK) {
            tb_schema_free(schema);
            return rc;
        }
    }
    rc = tb_op_values_new(schema, n->n_rows, vals, &out->op, pc->err);
    tb_schema_free(schema);
    if (rc != TB_OK)
        return rc;
    out->layout = n->out;
    out->n = n->n_out;
    return TB_OK;
}

static tb_rc plan_filter(pctx *pc, lnode *n, const uint64_t *need, pres *out)
{
    uint64_t *nn = set_copy(pc, need);
    if (nn == NULL)
        return tb_err_nomem(pc->err);
    for (uint32_t i = 0; i < n->n_conds; i++)
        add_refs(n->conds[i], nn);
    pres c;
    tb_rc rc = plan_node(pc, n->left, nn, &c);
    if (rc != TB_OK)
        return rc;
    tb_expr **conds = tb_arena_alloc(pc->arena, (n->n_conds ? n->n_conds : 1) * sizeof(*conds));
    if (conds == NULL) {
        rc = tb_err_nomem(pc->err);
        goto fail;
    }
    for (uint32_t i = 0; i < n->n_conds; i++) {
        rc = remap(pc, n->conds[i], c.layout, c.n, &conds[i]);
        if (rc != TB_OK)
            goto fail;
    }
    tb_expr *pred;
    rc = and_of(pc, conds, n->n_conds, &pred);
    if (rc != TB_OK)
        goto fail;
    rc = tb_op_filter_new(c.op, pred, &out->op, pc->err);
    if (rc != TB_OK)
        return rc;
    out->layout = c.layout;
    out->n = c.n;
    return TB_OK;
fail:
    tb_op_free(c.op);
    return rc;
}

static tb_rc plan_project(pctx *pc, lnode *n, const uint64_t *need, pres *out)
{
    uint64_t *nn = set_new(pc);
    int *ids = tb_arena_alloc(pc->arena, (n->n_out ? n->n_out : 1) * sizeof(int));
    tb_expr **sel = tb_arena_alloc(pc->arena, (n->n_out ? n->n_out : 1) * sizeof(*sel));
    if (nn == NULL || ids == NULL || sel == NULL)
        return tb_err_nomem(pc->err);
    uint32_t k = 0;
    for (uint32_t i = 0; i < n->n_out; i++) {
        if (!set_has(need, pc->words, n->out[i]))
            continue;
        /* the same id twice (passthrough projections) is produced once */
        if (find_pos(ids, k, n->out[i]) >= 0)
            continue;
        ids[k] = n->out[i];
        sel[k++] = n->exprs[i];
        add_refs(n->exprs[i], nn);
    }
    pres c;
    tb_rc rc = plan_node(pc, n->left, nn, &c);
    if (rc != TB_OK)
        return rc;
    /* pure passthrough of columns: no operator needed */
    bool pass = true;
    for (uint32_t i = 0; i < k && pass; i++)
        pass = sel[i]->kind == TB_EX_COL && find_pos(c.layout, c.n, sel[i]->col) >= 0 &&
               sel[i]->col == ids[i];
    if (pass && k == c.n) {
        for (uint32_t i = 0; i < k && pass; i++)
            pass = c.layout[i] == ids[i];
        if (pass) {
            *out = c;
            return TB_OK;
        }
    }
    tb_expr **ex = tb_arena_alloc(pc->arena, (k ? k : 1) * sizeof(*ex));
    const char **names = names_of(pc, ids, k);
    if (ex == NULL || names == NULL) {
        tb_op_free(c.op);
        return tb_err_nomem(pc->err);
    }
    for (uint32_t i = 0; i < k; i++) {
        rc = remap(pc, sel[i], c.layout, c.n, &ex[i]);
        if (rc != TB_OK) {
            tb_op_free(c.op);
            return rc;
        }
    }
    rc = tb_op_project_new(c.op, k, ex, names, &out->op, pc->err);
    if (rc != TB_OK)
        return rc;
    out->layout = ids;
    out->n = k;
    return TB_OK;
}

/* Split join conjuncts into hash keys (left expr = right expr) and a residual. */
static bool side_only(const tb_expr *e, const pres *side, const pres *other)
{
    if (e->kind == TB_EX_COL)
        return find_pos(side->layout, side->n, e->col) >= 0 ||
               find_pos(other->layout, other->n, e->col) < 0;
    for (uint32_t i = 0; i < e->n_args; i++)
        if (!side_only(e->args[i], side, other))
            return false;
    return true;
}

static bool refs_side(const tb_expr *e, const pres *side)
{
    if (e->kind == TB_EX_COL)
        return find_pos(side->layout, side->n, e->col) >= 0;
    for (uint32_t i = 0; i < e->n_args; i++)
        if (refs_side(e->args[i], side))
            return true;
    return false;
}

static bool is_eq(const tb_expr *e)
{
    return e->kind == TB_EX_CALL && e->n_args == 2 && e->fn_name != NULL &&
           strcmp(e->fn_name, "=") == 0;
}

static pjoin *par_join_find(ppar *par, const lnode *n)
{
    for (uint32_t i = 0; i < par->n_joins; i++)
        if (par->joins[i].node == n)
            return &par->joins[i];
    return NULL;
}

/*
 * One input of a join. In a parallel copy the probe side is part of the copy, and the
 * build side is planned once (copy 0, serially, with no nested parallel region) and
 * shared: later copies only take its layout.
 */
static tb_rc plan_side(pctx *pc, lnode *side, const uint64_t *need, bool probe, const pjoin *pj,
                       pres *out)
{
    if (pc->par == NULL || probe)
        return plan_node(pc, side, need, out);
    if (pj != NULL) {
        out->op = NULL;
        out->layout = pj->layout;
        out->n = pj->n;
        return TB_OK;
    }
    ppar *par = pc->par;
    bool no_par = pc->no_par;
    pc->par = NULL;
    pc->no_par = true;
    tb_rc rc = plan_node(pc, side, need, out);
    pc->par = par;
    pc->no_par = no_par;
    return rc;
}

static tb_rc plan_join(pctx *pc, lnode *n, const uint64_t *need, pres *out)
{
    uint64_t *nn = set_copy(pc, need);
    if (nn == NULL)
        return tb_err_nomem(pc->err);
    for (uint32_t i = 0; i < n->n_conds; i++)
        add_refs(n->conds[i], nn);
    tb_join_type jt = n->jt;
    double le = n->left->est, re = n->right->est;
    bool swappable =
        jt == TB_JOIN_INNER || jt == TB_JOIN_LEFT || jt == TB_JOIN_RIGHT || jt == TB_JOIN_FULL;
    bool swap = swappable && re > le;
    pjoin *pj = pc->par != NULL ? par_join_find(pc->par, n) : NULL;
    pres L = {NULL, NULL, 0}, R = {NULL, NULL, 0};
    tb_rc rc = plan_side(pc, n->left, nn, !swap, pj, &L);
    if (rc != TB_OK)
        return rc;
    rc = plan_side(pc, n->right, nn, swap, pj, &R);
    if (rc != TB_OK) {
        tb_op_free(L.op);
        return rc;
    }
    if (swap) {
        pres t = L;
        L = R;
        R = t;
        jt = jt == TB_JOIN_LEFT ? TB_JOIN_RIGHT : jt == TB_JOIN_RIGHT ? TB_JOIN_LEFT : jt;
    }
    uint32_t nc = n->n_conds ? n->n_conds : 1;
    tb_expr **lk = tb_arena_alloc(pc->arena, nc * sizeof(*lk));
    tb_expr **rk = tb_arena_alloc(pc->arena, nc * sizeof(*rk));
    tb_expr **res = tb_arena_alloc(pc->arena, nc * sizeof(*res));
    if (lk == NULL || rk == NULL || res == NULL) {
        rc = tb_err_nomem(pc->err);
        goto fail;
    }
    uint32_t n_keys = 0, n_res = 0;
    for (uint32_t i = 0; i < n->n_conds; i++) {
        const tb_expr *c = n->conds[i];
        if (is_eq(c)) {
            const tb_expr *a = c->args[0], *b = c->args[1];
            if (side_only(a, &R, &L) && side_only(b, &L, &R) && refs_side(a, &R) &&
                refs_side(b, &L)) {
                const tb_expr *t = a;
                a = b;
                b = t;
            }
            if (side_only(a, &L, &R) && side_only(b, &R, &L) && refs_side(a, &L) &&
                refs_side(b, &R)) {
                rc = remap(pc, a, L.layout, L.n, &lk[n_keys]);
                if (rc == TB_OK)
                    rc = remap(pc, b, R.layout, R.n, &rk[n_keys]);
                if (rc != TB_OK)
                    goto fail;
                n_keys++;
                continue;
            }
        }
        res[n_res++] = (tb_expr *)c;
    }
    /* output layout: left then right (semi/anti: left only) */
    uint32_t n_all = L.n + R.n;
    int *all = tb_arena_alloc(pc->arena, (n_all ? n_all : 1) * sizeof(int));
    if (all == NULL) {
        rc = tb_err_nomem(pc->err);
        goto fail;
    }
    memcpy(all, L.layout, L.n * sizeof(int));
    memcpy(all + L.n, R.layout, R.n * sizeof(int));
    tb_expr *residual = NULL;
    if (n_res > 0) {
        for (uint32_t i = 0; i < n_res; i++) {
            rc = remap(pc, res[i], all, n_all, &res[i]);
            if (rc != TB_OK)
                goto fail;
        }
        rc = and_of(pc, res, n_res, &residual);
        if (rc != TB_OK)
            goto fail;
    }
    if (pc->par != NULL) {
        /* a copy of a parallel pipeline: probe the build side shared by all copies */
        ppar *par = pc->par;
        if (n_keys == 0 || !(jt == TB_JOIN_INNER || jt == TB_JOIN_LEFT || jt == TB_JOIN_SEMI ||
                             jt == TB_JOIN_ANTI)) {
            par->bad = true;
            rc = TB_E_UNSUPPORTED;
            goto fail;
        }
        if (pj == NULL) {
            tb_hashjoin_once *once = NULL;
            if (par->n_joins == PAR_MAX_JOINS) {
                par->bad = true;
                rc = TB_E_UNSUPPORTED;
                goto fail;
            }
            rc = tb_hashjoin_once_new(R.op, n_keys, rk, &once, pc->err);
            R.op = NULL; /* the once object owns it */
            if (rc != TB_OK)
                goto fail;
            pj = &par->joins[par->n_joins++];
            pj->node = n;
            pj->layout = R.layout;
            pj->n = R.n;
            pj->once = once;
        }
        rc = tb_op_hash_join_new_once(L.op, pj->once, jt, n_keys, lk, residual, &out->op,
                                      pc->err);
    } else if (n_keys > 0)
        rc = tb_op_hash_join_new(L.op, R.op, jt, n_keys, lk, rk, residual, &out->op, pc->err);
    else
        rc = tb_op_nl_join_new(L.op, R.op, jt, residual, &out->op, pc->err);
    if (rc != TB_OK)
        return rc; /* the constructor freed the children */
    out->layout = all;
    out->n = (jt == TB_JOIN_SEMI || jt == TB_JOIN_ANTI) ? L.n : n_all;
    return TB_OK;
fail:
    tb_op_free(L.op);
    tb_op_free(R.op);
    return rc;
}

/* ---------------------------------------------------------------- parallel aggregate */

/* Do the ids of e's columns all lie in out[0..n), and is there at least one? */
static bool cols_within(const tb_expr *e, const int *ids, uint32_t n, bool *any)
{
    if (e->kind == TB_EX_COL) {
        *any = true;
        return find_pos(ids, n, e->col) >= 0;
    }
    for (uint32_t i = 0; i < e->n_args; i++)
        if (!cols_within(e->args[i], ids, n, any))
            return false;
    return true;
}

/*
 * Can the pipeline n run as parallel copies? A splittable scan under filters,
 * projections and hash joins whose probe side holds it (INNER, LEFT, SEMI, ANTI with an
 * equality key; the other side is built once). This mirrors plan_join's choices; where
 * planning finds otherwise it gives up (ppar.bad) and the aggregate is planned serially.
 */
static bool par_shape(const lnode *n)
{
    switch (n->kind) {
    case L_GET:
        return par_source(n->src);
    case L_FILTER:
    case L_PROJECT:
        return par_shape(n->left);
    case L_JOIN: {
        tb_join_type jt = n->jt;
        bool swappable =
            jt == TB_JOIN_INNER || jt == TB_JOIN_LEFT || jt == TB_JOIN_RIGHT || jt == TB_JOIN_FULL;
        bool swap = swappable && n->right->est > n->left->est;
        if (swap)
            jt = jt == TB_JOIN_LEFT ? TB_JOIN_RIGHT : jt == TB_JOIN_RIGHT ? TB_JOIN_LEFT : jt;
        if (!(jt == TB_JOIN_INNER || jt == TB_JOIN_LEFT || jt == TB_JOIN_SEMI || jt == TB_JOIN_ANTI))
            return false;
        const lnode *probe = swap ? n->right : n->left, *build = swap ? n->left : n->right;
        bool key = false;
        for (uint32_t i = 0; i < n->n_conds && !key; i++) {
            const tb_expr *c = n->conds[i];
            if (!is_eq(c))
                continue;
            for (int k = 0; k < 2 && !key; k++) {
                bool ap = false, bp = false;
                key = cols_within(c->args[k], probe->out, probe->n_out, &ap) && ap &&
                      cols_within(c->args[1 - k], build->out, build->n_out, &bp) && bp;
            }
        }
        return key && par_shape(probe);
    }
    default:
        return false;
    }
}

static void par_release(ppar *par)
{
    for (uint32_t i = 0; i < par->n_joins; i++)
        tb_hashjoin_once_free(par->joins[i].once);
    par->n_joins = 0;
    tb_morsel_queue_free(par->q);
    par->q = NULL;
}

/*
 * The aggregate over copies of its input pipeline, one per worker (threads setting,
 * at most the number of morsels). *out_done false: the input cannot run in parallel
 * after all (nothing is left over; the caller plans it serially).
 */
static tb_rc plan_agg_par(pctx *pc, lnode *n, const uint64_t *need, uint32_t threads, pres *out,
                          bool *out_done)
{
    ppar par;
    tb_op *pipes[TB_PAR_MAX];
    pres c0 = {NULL, NULL, 0};
    uint32_t n_pipes = 0;
    tb_rc rc = TB_OK;

    *out_done = false;
    memset(&par, 0, sizeof(par));
    if (threads > TB_PAR_MAX)
        threads = TB_PAR_MAX;
    for (uint32_t w = 0; w < threads; w++) {
        pres c;
        par.worker = w;
        par.leaf_done = false;
        pc->par = &par;
        rc = plan_node(pc, n->left, need, &c);
        pc->par = NULL;
        if (rc == TB_OK && !par.leaf_done) {
            tb_op_free(c.op);
            par.bad = true;
        }
        if (par.bad) {
            rc = TB_OK; /* plan it serially */
            tb_err_clear(pc->err);
            goto done;
        }
        if (rc != TB_OK)
            goto done;
        pipes[n_pipes++] = c.op;
        if (w == 0) {
            c0 = c;
            uint64_t m = tb_morsel_queue_count(par.q);
            if (m < threads)
                threads = (uint32_t)m;
        }
    }
    tb_expr **groups = tb_arena_alloc(pc->arena, (n->n_groups ? n->n_groups : 1) * sizeof(*groups));
    tb_aggspec *aggs = tb_arena_alloc(pc->arena, (n->n_aggs ? n->n_aggs : 1) * sizeof(*aggs));
    const char **gnames = names_of(pc, n->out, n->n_groups);
    const char **anames = names_of(pc, n->out + n->n_groups, n->n_aggs);
    if (groups == NULL || aggs == NULL || gnames == NULL || anames == NULL) {
        rc = tb_err_nomem(pc->err);
        goto done;
    }
    for (uint32_t i = 0; i < n->n_groups && rc == TB_OK; i++)
        rc = remap(pc, n->groups[i], c0.layout, c0.n, &groups[i]);
    for (uint32_t i = 0; i < n->n_aggs && rc == TB_OK; i++) {
        aggs[i] = n->aggs[i];
        if (aggs[i].arg != NULL)
            rc = remap(pc, n->aggs[i].arg, c0.layout, c0.n, &aggs[i].arg);
    }
    if (rc != TB_OK)
        goto done;
    rc = tb_op_parallel_agg_new(par.q, n_pipes, pipes, n->n_groups, groups, gnames, n->n_aggs,
                                aggs, anames, &out->op, pc->err);
    n_pipes = 0; /* the aggregate took them */
    if (rc != TB_OK)
        goto done;
    out->layout = n->out;
    out->n = n->n_out;
    *out_done = true;
done:
    for (uint32_t i = 0; i < n_pipes; i++)
        tb_op_free(pipes[i]);
    par_release(&par);
    return rc;
}

static tb_rc plan_agg(pctx *pc, lnode *n, pres *out)
{
    uint64_t *nn = set_new(pc);
    if (nn == NULL)
        return tb_err_nomem(pc->err);
    for (uint32_t i = 0; i < n->n_groups; i++)
        add_refs(n->groups[i], nn);
    for (uint32_t i = 0; i < n->n_aggs; i++)
        add_refs(n->aggs[i].arg, nn);
    const tb_plan_opts *opts = pc->q->opts;
    uint32_t threads = (uint32_t)tb_db_threads(pc->q->db);
    tb_rc rc;
    if (threads > 1 && pc->par == NULL && !pc->no_par && pc->n_params == 0 &&
        !(n->top_agg && opts != NULL && opts->stream) && par_shape(n->left)) {
        bool done = false;
        rc = plan_agg_par(pc, n, nn, threads, out, &done);
        if (rc != TB_OK || done)
            return rc;
    }
    pres c;
    rc = plan_node(pc, n->left, nn, &c);
    if (rc != TB_OK)
        return rc;
    tb_expr **groups = tb_arena_alloc(pc->arena, (n->n_groups ? n->n_groups : 1) * sizeof(*groups));
    tb_aggspec *aggs = tb_arena_alloc(pc->arena, (n->n_aggs ? n->n_aggs : 1) * sizeof(*aggs));
    const char **gnames = names_of(pc, n->out, n->n_groups);
    const char **anames = names_of(pc, n->out + n->n_groups, n->n_aggs);
    if (groups == NULL || aggs == NULL || gnames == NULL || anames == NULL) {
        tb_op_free(c.op);
        return tb_err_nomem(pc->err);
    }
    for (uint32_t i = 0; i < n->n_groups; i++) {
        rc = remap(pc, n->groups[i], c.layout, c.n, &groups[i]);
        if (rc != TB_OK) {
            tb_op_free(c.op);
            return rc;
        }
    }
    for (uint32_t i = 0; i < n->n_aggs; i++) {
        aggs[i] = n->aggs[i];
        if (aggs[i].arg != NULL) {
            rc = remap(pc, n->aggs[i].arg, c.layout, c.n, &aggs[i].arg);
            if (rc != TB_OK) {
                tb_op_free(c.op);
                return rc;
            }
        }
    }
    rc = tb_op_hash_agg_new(c.op, n->n_groups, groups, gnames, n->n_aggs, aggs, anames, &out->op,
                            pc->err);
    if (rc != TB_OK)
        return rc;
    if (n->top_agg && opts != NULL && opts->stream && pc->q->top_agg == NULL) {
        tb_plan_agg *ta = tb_arena_zalloc(pc->arena, sizeof(*ta));
        if (ta == NULL)
            return tb_err_nomem(pc->err); /* out->op belongs to the caller's tree now */
        *ta = (tb_plan_agg){out->op, n->n_groups, groups, gnames, n->n_aggs, aggs, anames,
                            n->group_out};
        pc->q->top_agg = ta;
    }
    out->layout = n->out;
    out->n = n->n_out;
    return TB_OK;
}

static tb_rc plan_sort(pctx *pc, lnode *n, const uint64_t *need, pres *out)
{
    uint64_t *nn = set_copy(pc, need);
    if (nn == NULL)
        return tb_err_nomem(pc->err);
    for (uint32_t i = 0; i < n->n_keys; i++)
        add_refs(n->keys[i].expr, nn);
    pres c;
    tb_rc rc = plan_node(pc, n->left, nn, &c);
    if (rc != TB_OK)
        return rc;
    tb_sortkey *keys = tb_arena_alloc(pc->arena, n->n_keys * sizeof(*keys));
    if (keys == NULL) {
        tb_op_free(c.op);
        return tb_err_nomem(pc->err);
    }
    for (uint32_t i = 0; i < n->n_keys; i++) {
        keys[i] = n->keys[i];
        rc = remap(pc, n->keys[i].expr, c.layout, c.n, &keys[i].expr);
        if (rc != TB_OK) {
            tb_op_free(c.op);
            return rc;
        }
    }
    rc = tb_op_sort_new(c.op, n->n_keys, keys, n->limit, &out->op, pc->err);
    if (rc != TB_OK)
        return rc;
    out->layout = c.layout;
    out->n = c.n;
    return TB_OK;
}

/* L_WINDOW (issue 13): the window operator over the child; its functions' columns come
 * after the child's in the layout. */
static tb_rc plan_window(pctx *pc, lnode *n, const uint64_t *need, pres *out)
{
    uint64_t *nn = set_copy(pc, need);
    if (nn == NULL)
        return tb_err_nomem(pc->err);
    for (uint32_t i = 0; i < n->n_groups; i++)
        add_refs(n->groups[i], nn);
    for (uint32_t i = 0; i < n->n_keys; i++)
        add_refs(n->keys[i].expr, nn);
    for (uint32_t f = 0; f < n->n_wfuncs; f++)
        for (uint32_t a = 0; a < n->wfuncs[f].n_args; a++)
            add_refs(n->wfuncs[f].args[a], nn);
    pres c;
    tb_rc rc = plan_node(pc, n->left, nn, &c);
    if (rc != TB_OK)
        return rc;
    uint32_t nf = n->n_wfuncs;
    tb_expr **part = tb_arena_alloc(pc->arena, (n->n_groups + 1) * sizeof(*part));
    tb_sortkey *keys = tb_arena_alloc(pc->arena, (n->n_keys + 1) * sizeof(*keys));
    tb_winfunc *fns = tb_arena_alloc(pc->arena, (nf + 1) * sizeof(*fns));
    const char **names = tb_arena_alloc(pc->arena, (nf + 1) * sizeof(*names));
    int *layout = tb_arena_alloc(pc->arena, (c.n + nf + 1) * sizeof(int));
    if (part == NULL || keys == NULL || fns == NULL || names == NULL || layout == NULL) {
        tb_op_free(c.op);
        return tb_err_nomem(pc->err);
    }
    for (uint32_t i = 0; i < n->n_groups && rc == TB_OK; i++)
        rc = remap(pc, n->groups[i], c.layout, c.n, &part[i]);
    for (uint32_t i = 0; i < n->n_keys && rc == TB_OK; i++) {
        keys[i] = n->keys[i];
        rc = remap(pc, n->keys[i].expr, c.layout, c.n, &keys[i].expr);
    }
    uint32_t base = n->n_out - nf;
    for (uint32_t f = 0; f < nf && rc == TB_OK; f++) {
        fns[f] = n->wfuncs[f];
        for (uint32_t a = 0; a < fns[f].n_args && rc == TB_OK; a++)
            rc = remap(pc, n->wfuncs[f].args[a], c.layout, c.n, &fns[f].args[a]);
        names[f] = pc->q->cols[n->out[base + f]].name;
    }
    if (rc != TB_OK) {
        tb_op_free(c.op);
        return rc;
    }
    rc = tb_op_window_new(c.op, n->n_groups, part, n->n_keys, keys, nf, fns, names, &out->op,
                          pc->err);
    if (rc != TB_OK)
        return rc;
    memcpy(layout, c.layout, c.n * sizeof(int));
    for (uint32_t f = 0; f < nf; f++)
        layout[c.n + f] = n->out[base + f];
    out->layout = layout;
    out->n = c.n + nf;
    return TB_OK;
}

static tb_rc plan_union(pctx *pc, lnode *n, const uint64_t *need, pres *out)
{
    uint32_t k = 0;
    int *ids = tb_arena_alloc(pc->arena, (n->n_out ? n->n_out : 1) * sizeof(int));
    uint32_t *pos = tb_arena_alloc(pc->arena, (n->n_out ? n->n_out : 1) * sizeof(uint32_t));
    tb_op **kids = tb_calloc(n->n_kids, sizeof(tb_op *));
    tb_rc rc = TB_OK;
    if (ids == NULL || pos == NULL || kids == NULL) {
        tb_free(kids);
        return tb_err_nomem(pc->err);
    }
    for (uint32_t i = 0; i < n->n_out; i++) {
        if (set_has(need, pc->words, n->out[i])) {
            pos[k] = i;
            ids[k++] = n->out[i];
        }
    }
    for (uint32_t j = 0; j < n->n_kids; j++) {
        lnode *kid = n->kids[j];
        uint64_t *kn = set_new(pc);
        int *kids_ids = tb_arena_alloc(pc->arena, (k ? k : 1) * sizeof(int));
        if (kn == NULL || kids_ids == NULL) {
            rc = tb_err_nomem(pc->err);
            goto fail;
        }
        for (uint32_t i = 0; i < k; i++) {
            kids_ids[i] = kid->out[pos[i]];
            set_add(kn, kids_ids[i]);
        }
        pres c;
        rc = plan_node(pc, kid, kn, &c);
        if (rc != TB_OK)
            goto fail;
        rc = exact(pc, &c, kids_ids, k, names_of(pc, ids, k));
        if (rc != TB_OK) {
            tb_op_free(c.op);
            goto fail;
        }
        kids[j] = c.op;
    }
    rc = tb_op_union_all_new(n->n_kids, kids, &out->op, pc->err);
    tb_free(kids);
    if (rc != TB_OK)
        return rc;
    out->layout = ids;
    out->n = k;
    return TB_OK;
fail:
    for (uint32_t j = 0; j < n->n_kids; j++)
        tb_op_free(kids[j]);
    tb_free(kids);
    return rc;
}

/* Ids referenced anywhere in a logical subtree's expressions. */
static void tree_refs(const lnode *n, uint64_t *set)
{
    if (n == NULL)
        return;
    for (uint32_t i = 0; i < n->n_conds; i++)
        tb_sql_expr_cols(n->conds[i], set);
    if (n->kind == L_PROJECT)
        for (uint32_t i = 0; i < n->n_out; i++)
            tb_sql_expr_cols(n->exprs[i], set);
    if (n->kind == L_VALUES)
        for (uint32_t i = 0; i < n->n_rows * n->n_out; i++)
            tb_sql_expr_cols(n->vals[i], set);
    for (uint32_t i = 0; i < n->n_groups; i++)
        tb_sql_expr_cols(n->groups[i], set);
    for (uint32_t i = 0; i < n->n_aggs; i++)
        tb_sql_expr_cols(n->aggs[i].arg, set);
    for (uint32_t i = 0; i < n->n_keys; i++)
        tb_sql_expr_cols(n->keys[i].expr, set);
    if (n->test != NULL)
        tb_sql_expr_cols(n->test, set);
    tree_refs(n->left, set);
    tree_refs(n->right, set);
    for (uint32_t i = 0; i < n->n_kids; i++)
        tree_refs(n->kids[i], set);
}

static tb_rc plan_apply(pctx *pc, lnode *n, const uint64_t *need, pres *out)
{
    uint64_t *nn = set_copy(pc, need);
    uint64_t *refs = set_new(pc);
    if (nn == NULL || refs == NULL)
        return tb_err_nomem(pc->err);
    tree_refs(n->right, refs);
    if (n->test != NULL)
        tb_sql_expr_cols(n->test, refs);
    for (uint32_t i = 0; i < n->left->n_out; i++)
        if (set_has(refs, pc->words, n->left->out[i]))
            set_add(nn, n->left->out[i]);
    pres c;
    tb_rc rc = plan_node(pc, n->left, nn, &c);
    if (rc != TB_OK)
        return rc;
    tb_expr *test = NULL;
    if (n->test != NULL) {
        rc = remap(pc, n->test, c.layout, c.n, &test);
        if (rc != TB_OK) {
            tb_op_free(c.op);
            return rc;
        }
    }
    int rid = n->out[n->n_out - 1];
    rc = tb_sql_apply_new(pc->q, c.op, c.layout, c.n, n->right, n->ap, test, n->negate,
                          pc->q->cols[rid].name, pc->q->cols[rid].type, pc->n_params, pc->param_ids,
                          pc->params, &out->op, pc->err);
    if (rc != TB_OK)
        return rc;
    int *layout = tb_arena_alloc(pc->arena, (c.n + 1) * sizeof(int));
    if (layout == NULL)
        return tb_err_nomem(pc->err); /* out->op is freed by the caller's failure path */
    memcpy(layout, c.layout, c.n * sizeof(int));
    layout[c.n] = rid;
    out->layout = layout;
    out->n = c.n + 1;
    return TB_OK;
}

static tb_rc plan_node(pctx *pc, lnode *n, const uint64_t *need, pres *out)
{
    memset(out, 0, sizeof(*out));
    switch (n->kind) {
    case L_GET:
        return plan_get(pc, n, need, out);
    case L_VALUES:
        return plan_values(pc, n, out);
    case L_FILTER:
        return plan_filter(pc, n, need, out);
    case L_PROJECT:
        return plan_project(pc, n, need, out);
    case L_JOIN:
        return plan_join(pc, n, need, out);
    case L_AGG:
        return plan_agg(pc, n, out);
    case L_SORT:
        return plan_sort(pc, n, need, out);
    case L_LIMIT: {
        pres c;
        const uint64_t *lneed = need;
        bool any = false;
        for (uint32_t i = 0; i < n->n_out && !any; i++)
            any = set_has(need, pc->words, n->out[i]);
        if (!any && n->n_out > 0) {
            /* keep one column: exec's limit does not take 0-column batches yet */
            uint64_t *nn = set_copy(pc, need);
            if (nn == NULL)
                return tb_err_nomem(pc->err);
            set_add(nn, n->out[0]);
            lneed = nn;
        }
        tb_rc rc = plan_node(pc, n->left, lneed, &c);
        if (rc != TB_OK)
            return rc;
        rc = tb_op_limit_new(c.op, n->limit, n->offset, &out->op, pc->err);
        if (rc != TB_OK)
            return rc;
        out->layout = c.layout;
        out->n = c.n;
        return TB_OK;
    }
    case L_UNION:
        return plan_union(pc, n, need, out);
    case L_WINDOW:
        return plan_window(pc, n, need, out);
    case L_APPLY: {
        tb_rc rc = plan_apply(pc, n, need, out);
        if (rc != TB_OK && out->op != NULL) {
            tb_op_free(out->op);
            out->op = NULL;
        }
        return rc;
    }
    }
    return TB_ERRF(pc->err, TB_E_ERROR, "internal: bad logical node");
}

tb_rc tb_sql_physical(qctx *q, tb_arena *arena, lnode *root, const char **names, uint32_t n_params,
                      const int *param_ids, const tb_value *params, tb_op **out, tb_err *err)
{
    pctx pc;
    pc.q = q;
    pc.arena = arena;
    pc.err = err;
    pc.words = (q->n_cols + 64) / 64;
    pc.n_params = n_params;
    pc.par = NULL;
    pc.no_par = false;
    pc.param_ids = param_ids;
    pc.params = params;
    *out = NULL;
    uint64_t *need = set_new(&pc);
    if (need == NULL)
        return tb_err_nomem(err);
    for (uint32_t i = 0; i < root->n_out; i++)
        set_add(need, root->out[i]);
    pres r;
    tb_rc rc = plan_node(&pc, root, need, &r);
    if (rc != TB_OK)
        return rc;
    const char **nm = names != NULL ? names : names_of(&pc, root->out, root->n_out);
    if (nm == NULL) {
        tb_op_free(r.op);
        return tb_err_nomem(err);
    }
    rc = exact(&pc, &r, root->out, root->n_out, nm);
    if (rc != TB_OK) {
        tb_op_free(r.op);
        return rc;
    }
    *out = r.op;
    return TB_OK;
}

/* ================================================================ subquery evaluation */

static tb_rc copy_value(tb_arena *arena, tb_value *v)
{
    if (!v->is_null && v->type.id == TB_T_STRING && v->u.s.len > 0) {
        char *p = tb_arena_memdup(arena, v->u.s.ptr, v->u.s.len);
        if (p == NULL)
            return TB_E_NOMEM;
        v->u.s.ptr = p;
    }
    return TB_OK;
}

tb_rc tb_sql_eval_subquery(qctx *q, lnode *root, uint32_t max_rows, tb_value **out_vals,
                           uint32_t *out_n, tb_err *err)
{
    tb_op *op = NULL;
    tb_rc rc = tb_sql_optimize(q, &root, err);
    if (rc != TB_OK)
        return rc;
    rc = tb_sql_physical(q, q->arena, root, NULL, 0, NULL, NULL, &op, err);
    if (rc != TB_OK)
        return rc;
    uint32_t n = 0, cap = 0;
    tb_value *vals = NULL;
    for (;;) {
        if (n >= max_rows)
            break;
        tb_batch *batch = NULL;
        rc = tb_op_next(op, &batch, err);
        if (rc != TB_OK)
            goto done;
        if (batch == NULL)
            break;
        for (uint32_t i = 0; i < batch->n_rows && n < max_rows; i++) {
            if (n == cap) {
                uint32_t nc = cap ? cap * 2 : 16;
                tb_value *nv = tb_arena_alloc(q->arena, nc * sizeof(*nv));
                if (nv == NULL) {
                    rc = tb_err_nomem(err);
                    goto done;
                }
                if (n)
                    memcpy(nv, vals, n * sizeof(*nv));
                vals = nv;
                cap = nc;
            }
            if (batch->n_cols > 0) {
                tb_vec_get(&batch->cols[0], i, &vals[n]);
                if (copy_value(q->arena, &vals[n]) != TB_OK) {
                    rc = tb_err_nomem(err);
                    goto done;
                }
            } else {
                memset(&vals[n], 0, sizeof(vals[n]));
                vals[n].is_null = true;
            }
            n++;
        }
    }
    rc = TB_OK;
    *out_vals = vals;
    *out_n = n;
done:
    tb_op_free(op);
    return rc;
}

/* ================================================================ plans */

static void qctx_free(qctx *q)
{
    if (q == NULL)
        return;
    for (size_t i = q->n_cleanups; i > 0; i--)
        q->cleanups[i - 1].fn(q->cleanups[i - 1].p);
    tb_free(q->cleanups);
    q->cleanups = NULL;
    q->n_cleanups = 0;
}

tb_rc tb_sql_plan_new(tb_db *db, const tb_plan_opts *opts, plan_int **out)
{
    tb_arena *arena = tb_arena_new(0);
    if (arena == NULL)
        return TB_E_NOMEM;
    plan_int *p = tb_arena_zalloc(arena, sizeof(*p));
    qctx *q = tb_arena_zalloc(arena, sizeof(*q));
    if (p == NULL || q == NULL) {
        tb_arena_free(arena);
        return TB_E_NOMEM;
    }
    q->db = db;
    q->arena = arena;
    if (opts != NULL) {
        tb_plan_opts *o = tb_arena_memdup(arena, opts, sizeof(*opts));
        if (o == NULL) {
            tb_arena_free(arena);
            return TB_E_NOMEM;
        }
        q->opts = o;
    }
    p->pub.arena = arena;
    p->q = q;
    *out = p;
    return TB_OK;
}

void tb_plan_free(tb_plan *plan)
{
    if (plan == NULL)
        return;
    plan_int *p = (plan_int *)plan;
    tb_op_free(p->pub.root);
    p->pub.root = NULL;
    qctx_free(p->q);
    tb_arena_free(p->pub.arena); /* p itself lives in the arena */
}
