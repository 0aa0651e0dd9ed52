/*
 * op_nljoin.c - nested-loop join, for joins without equality keys (cross joins and
 * non-equi conditions), every join type.
 *
 * The right side is materialized in a column store; each left batch is paired with
 * every right row. Pairs are generated left-row-major in blocks that fit the room left
 * in the output batch; the predicate is evaluated over a block (one batch of pairs
 * with the left columns then the right columns), passing pairs are recorded (left and
 * right matched flags) and emitted for INNER/LEFT/RIGHT/FULL. When a left row's last
 * pair has been evaluated its outcome is known: LEFT/FULL emit it NULL-extended if it
 * never matched, SEMI emits it if it matched, ANTI if it did not. A block of k pairs
 * yields at most k output rows, so the output batch never overflows; position
 * (li, ri) resumes on the next call. RIGHT/FULL then emit unmatched right rows.
 */
#include <string.h>

#include "exec/op_int.h"

enum { PH_BUILD, PH_PROBE, PH_TAIL, PH_DONE };

typedef struct nl_op {
    tb_op base;
    tb_join_type type;
    tb_expr *pred;
    tb_schema *pair_schema;
    tb_colstore store;
    int phase;
    uint8_t *rmatched;
    uint32_t tail_row;
    tb_batch *lb;
    uint32_t li, ri;
    tb_arena *arena;
    tb_arena *scratch;
    uint32_t n_out;
    uint8_t lmatched[TB_BATCH_CAP];
    uint32_t pl[TB_BATCH_CAP], pr[TB_BATCH_CAP];
    uint32_t out_l[TB_BATCH_CAP], out_r[TB_BATCH_CAP];
} nl_op;

static bool pairs_out(tb_join_type type) { return type != TB_JOIN_SEMI && type != TB_JOIN_ANTI; }

static inline void emit(nl_op *j, uint32_t l, uint32_t r)
{
    j->out_l[j->n_out] = l;
    j->out_r[j->n_out] = r;
    j->n_out++;
}

/* Left row l has seen every right row. */
static inline void finish_left(nl_op *j, uint32_t l)
{
    bool m = j->lmatched[l];
    switch (j->type) {
    case TB_JOIN_LEFT:
    case TB_JOIN_FULL:
    case TB_JOIN_ANTI:
        if (!m)
            emit(j, l, TB_ROW_NONE);
        break;
    case TB_JOIN_SEMI:
        if (m)
            emit(j, l, TB_ROW_NONE);
        break;
    default:
        break;
    }
}

static tb_rc nl_build(nl_op *j, tb_err *err)
{
    tb_op *right = j->base.children[1];
    tb_rc rc;

    for (;;) {
        tb_batch *batch = NULL;
        rc = tb_op_next(right, &batch, err);
        if (rc != TB_OK)
            return rc;
        if (batch == NULL)
            break;
        rc = tb_colstore_append(&j->store, batch->cols, NULL, batch->n_rows, err);
        if (rc != TB_OK)
            return rc;
    }
    if (j->type == TB_JOIN_RIGHT || j->type == TB_JOIN_FULL) {
        j->rmatched = tb_calloc(j->store.n_rows ? j->store.n_rows : 1, 1);
        if (j->rmatched == NULL)
            return tb_err_nomem(err);
    }
    return TB_OK;
}

/* Evaluate the predicate over pairs pl/pr[0..np); pass[k] = 1 where true. */
static tb_rc eval_block(nl_op *j, uint32_t np, uint8_t *pass, tb_err *err)
{
    const tb_batch *lb = j->lb;
    uint32_t nl = lb->n_cols, nr = j->store.n_cols;
    tb_batch *pair = NULL;
    tb_vec pv;
    tb_rc rc;

    if (j->pred == NULL) {
        memset(pass, 1, np);
        return TB_OK;
    }
    tb_arena_reset(j->scratch);
    if (tb_batch_shell(nl + nr, j->scratch, &pair) != TB_OK)
        return tb_err_nomem(err);
    for (uint32_t c = 0; c < nl; c++) {
        if (tb_op_gather_new(&pair->cols[c], &lb->cols[c], j->pl, np, j->scratch) != TB_OK)
            return tb_err_nomem(err);
    }
    for (uint32_t c = 0; c < nr; c++) {
        if (tb_op_gather_new(&pair->cols[nl + c], &j->store.cols[c], j->pr, np, j->scratch) !=
            TB_OK)
            return tb_err_nomem(err);
    }
    pair->n_rows = np;
    pair->cap = np;
    rc = tb_op_eval(j->pred, pair, j->scratch, &pv, err);
    if (rc != TB_OK)
        return rc;
    for (uint32_t k = 0; k < np; k++)
        pass[k] = pv.type.id == TB_T_BOOL && !tb_vec_is_null(&pv, k) &&
                  ((const uint8_t *)pv.data)[k] != 0;
    return TB_OK;
}

/* Run blocks over the current left batch until it is done or the output is full. */
static tb_rc probe(nl_op *j, tb_err *err)
{
    uint32_t n = j->lb->n_rows, nr = j->store.n_rows;
    uint8_t pass[TB_BATCH_CAP];
    tb_rc rc;

    if (nr == 0) {
        while (j->li < n && j->n_out < TB_BATCH_CAP)
            finish_left(j, j->li++);
        return TB_OK;
    }
    while (j->li < n && j->n_out < TB_BATCH_CAP) {
        /* serve (issue 11): a block of pairs is the cancellation point of a join whose
         * left batch pairs with millions of right rows (statement_timeout, cancel) */
        if (TB_UNLIKELY(tb_mem_budget_stopped()))
            return TB_ERRF(err, TB_E_INTERRUPT, "query stopped (statement_timeout or cancel)");
        /* Each pair and each early completion yields at most one output row. */
        uint32_t room = TB_BATCH_CAP - j->n_out, np = 0, used = 0;
        while (used < room && j->li < n) {
            if (!pairs_out(j->type) && j->lmatched[j->li]) {
                /* SEMI/ANTI: outcome known, skip the rest of the row's pairs */
                finish_left(j, j->li++);
                j->ri = 0;
                used++;
                continue;
            }
            j->pl[np] = j->li;
            j->pr[np] = j->ri;
            np++;
            used++;
            if (++j->ri == nr) {
                j->ri = 0;
                j->li++;
            }
        }
        if (np == 0)
            continue;
        rc = eval_block(j, np, pass, err);
        if (rc != TB_OK)
            return rc;
        for (uint32_t k = 0; k < np; k++) {
            uint32_t l = j->pl[k], r = j->pr[k];
            if (pass[k]) {
                j->lmatched[l] = 1;
                if (j->rmatched != NULL)
                    j->rmatched[r] = 1;
                if (pairs_out(j->type))
                    emit(j, l, r);
            }
            if (r == nr - 1)
                finish_left(j, l);
        }
    }
    return TB_OK;
}

static tb_rc make_output(nl_op *j, tb_batch **out, tb_err *err)
{
    const tb_batch *lb = j->lb;
    const tb_schema *ls = j->base.children[0]->schema;
    uint32_t n = j->n_out, nl = ls->n, nr = pairs_out(j->type) ? j->store.n_cols : 0;
    tb_batch *batch = NULL;

    if (tb_batch_shell(nl + nr, j->arena, &batch) != TB_OK)
        return tb_err_nomem(err);
    for (uint32_t c = 0; c < nl; c++) {
        tb_rc rc;
        if (lb == NULL)
            rc = tb_op_null_vec(&batch->cols[c], ls->fields[c].type, n, j->arena);
        else
            rc = tb_op_gather_new(&batch->cols[c], &lb->cols[c], j->out_l, n, j->arena);
        if (rc != TB_OK)
            return tb_err_nomem(err);
    }
    for (uint32_t c = 0; c < nr; c++) {
        if (tb_op_gather_new(&batch->cols[nl + c], &j->store.cols[c], j->out_r, n, j->arena) !=
            TB_OK)
            return tb_err_nomem(err);
    }
    batch->n_rows = n;
    batch->cap = n;
    *out = batch;
    return TB_OK;
}

static tb_rc nl_next(tb_op *op, tb_batch **out, tb_err *err)
{
    nl_op *j = (nl_op *)op;
    tb_rc rc;

    *out = NULL;
    tb_arena_reset(j->arena);
    j->n_out = 0;
    if (j->phase == PH_BUILD) {
        rc = nl_build(j, err);
        if (rc != TB_OK)
            return rc;
        j->phase = PH_PROBE;
    }
    while (j->phase == PH_PROBE) {
        if (j->lb == NULL) {
            tb_batch *lb = NULL;
            rc = tb_op_next(op->children[0], &lb, err);
            if (rc != TB_OK)
                return rc;
            if (lb == NULL) {
                j->phase = j->rmatched != NULL ? PH_TAIL : PH_DONE;
                break;
            }
            if (lb->n_rows == 0)
                continue;
            if (lb->n_rows > TB_BATCH_CAP)
                return TB_ERRF(err, TB_E_LIMIT, "nested loop join: batch of %u rows (max %u)",
                               lb->n_rows, TB_BATCH_CAP);
            j->lb = lb;
            j->li = j->ri = 0;
            memset(j->lmatched, 0, lb->n_rows);
        }
        rc = probe(j, err);
        if (rc != TB_OK)
            return rc;
        if (j->n_out > 0) {
            rc = make_output(j, out, err);
            if (j->li >= j->lb->n_rows)
                j->lb = NULL; /* the output still points into it until our next call */
            return rc;
        }
        j->lb = NULL;
    }
    if (j->phase == PH_TAIL) {
        uint32_t n = j->store.n_rows;
        j->lb = NULL;
        while (j->tail_row < n && j->n_out < TB_BATCH_CAP) {
            uint32_t b = j->tail_row++;
            if (!j->rmatched[b])
                emit(j, TB_ROW_NONE, b);
        }
        if (j->n_out > 0)
            return make_output(j, out, err);
        j->phase = PH_DONE;
    }
    return TB_OK;
}

static void nl_free(tb_op *op)
{
    nl_op *j = (nl_op *)op;
    tb_colstore_free(&j->store);
    tb_free(j->rmatched);
    tb_schema_free(j->pair_schema);
    tb_arena_free(j->arena);
    tb_arena_free(j->scratch);
}

static tb_rc nl_explain(tb_op *op, tb_buf *buf)
{
    static const char *const names[] = {"inner", "left", "right", "full", "semi", "anti"};
    nl_op *j = (nl_op *)op;
    tb_rc rc =
        tb_buf_puts(buf, j->pred == NULL && j->type == TB_JOIN_INNER ? "cross" : names[j->type]);
    if (rc == TB_OK && j->pred != NULL) {
        rc = tb_buf_puts(buf, " on ");
        if (rc == TB_OK)
            rc = tb_expr_format(j->pred, j->pair_schema, buf);
    }
    return rc;
}

/*
 * Run again over the left input's next binding (a prepared continuous query, issue 9):
 * the materialized right side is kept (the planner puts the stream on the left: its
 * estimate is unbounded; the static right side changing makes the runtime plan again),
 * its matched flags cleared. Before the right side was built there is nothing to keep.
 * A right side that reads the stream (a semi join of a static table with a subquery
 * over the stream) cannot be kept: TB_E_UNSUPPORTED, the runtime plans per batch.
 */
static tb_rc nl_rescan(tb_op *op, tb_err *err)
{
    nl_op *j = (nl_op *)op;
    if (tb_op_binds_input(op->children[1]))
        return TB_ERRF(err, TB_E_UNSUPPORTED,
                       "a nested loop join whose inner side reads the stream cannot be "
                       "re-executed");
    if (j->phase != PH_BUILD) {
        j->phase = PH_PROBE;
        if (j->rmatched != NULL)
            memset(j->rmatched, 0, j->store.n_rows ? j->store.n_rows : 1);
    }
    j->lb = NULL;
    j->li = j->ri = 0;
    j->tail_row = 0;
    j->n_out = 0;
    return tb_op_rescan(op->children[0], err);
}

static const tb_op_vt nl_vt = {"nested loop join", nl_next, nl_free, nl_explain, nl_rescan};

static tb_schema *pair_schema(const tb_schema *ls, const tb_schema *rs, tb_join_type type,
                              bool pairs)
{
    uint32_t nl = ls->n, nr = pairs ? rs->n : 0;
    tb_schema *s = tb_schema_new(nl + nr);
    bool lnull = type == TB_JOIN_RIGHT || type == TB_JOIN_FULL;
    bool rnull = type == TB_JOIN_LEFT || type == TB_JOIN_FULL;

    if (s == NULL)
        return NULL;
    for (uint32_t c = 0; c < nl + nr; c++) {
        const tb_field *f = c < nl ? &ls->fields[c] : &rs->fields[c - nl];
        if (tb_schema_set(s, c, f->name, f->type, f->nullable || (c < nl ? lnull : rnull)) !=
            TB_OK) {
            tb_schema_free(s);
            return NULL;
        }
    }
    return s;
}

tb_rc tb_op_nl_join_new(tb_op *left, tb_op *right, tb_join_type type, tb_expr *pred, tb_op **out,
                        tb_err *err)
{
    tb_op *kids[2] = {left, right};
    nl_op *j = tb_op_alloc(sizeof(*j), &nl_vt, 2, kids);
    tb_type *types = NULL;
    tb_rc rc;

    *out = NULL;
    if (j == NULL) {
        tb_op_free_all(kids, 2);
        return tb_err_nomem(err);
    }
    j->type = type;
    j->pred = pred;
    if ((unsigned)type > TB_JOIN_ANTI) {
        rc = TB_ERRF(err, TB_E_MISUSE, "nested loop join: bad join type");
        goto fail;
    }
    if (pred != NULL && pred->type.id != TB_T_BOOL && pred->type.id != TB_T_NULL) {
        rc = TB_ERRPOS(err, TB_E_TYPE, pred->pos, "argument of JOIN/ON must be type boolean");
        goto fail;
    }
    j->arena = tb_arena_new(256 * 1024);
    j->scratch = tb_arena_new(256 * 1024);
    j->base.schema = pair_schema(left->schema, right->schema, type, pairs_out(type));
    j->pair_schema = pair_schema(left->schema, right->schema, type, true);
    types = tb_malloc((right->schema->n + 1) * sizeof(tb_type));
    if (j->arena == NULL || j->scratch == NULL || j->base.schema == NULL ||
        j->pair_schema == NULL || types == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    for (uint32_t c = 0; c < right->schema->n; c++)
        types[c] = right->schema->fields[c].type;
    rc = tb_colstore_init(&j->store, right->schema->n, types, err);
    if (rc != TB_OK)
        goto fail;
    tb_free(types);
    j->phase = PH_BUILD;
    *out = &j->base;
    return TB_OK;
fail:
    tb_free(types);
    tb_op_free(&j->base);
    return rc;
}
