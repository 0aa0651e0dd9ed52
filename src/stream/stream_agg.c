/*
 * stream_agg.c - the incremental aggregate of a continuous query (see stream_int.h).
 *
 * The groups live in a tb_hashagg owned by the query (tb_sagg) and survive from batch
 * to batch; the prepared plan's operator over it is re-executed per batch. The operator
 * evaluates the group keys and aggregate arguments with the expressions of its own plan
 * (the state never keeps expression pointers: a plan may be made again), folds the
 * batch's rows in, then emits what tb_sagg_set_emit chose: a batch emits only the
 * groups it changed (the dirty list), so its cost does not grow with the state; the
 * view's readers execute the plan over no input emitting every group (runner.c).
 */
#include <string.h>

#include "stream/stream_int.h"

struct tb_sagg {
    tb_hashagg *ha;
    uint32_t n_keys, n_aggs;
    tb_type *key_types;
    tb_aggspec *aggs; /* args point to type-only expressions in arena */
    tb_arena *arena;
    tb_hashagg_emit emit; /* what the operator's pass emits (tb_sagg_set_emit) */
    uint32_t emit_col;
    tb_value emit_bound;
};

typedef struct sagg_op {
    tb_op base;
    tb_sagg *state;
    tb_expr **group_exprs; /* in the plan's arena */
    tb_aggspec *aggs;      /* copied array; exprs in the plan's arena */
    tb_arena *arena;
    bool consumed;
    tb_hashagg_iter it;
} sagg_op;

void tb_sagg_free(tb_sagg *state)
{
    if (state == NULL)
        return;
    tb_hashagg_free(state->ha);
    tb_arena_free(state->arena);
    tb_free(state);
}

uint64_t tb_sagg_groups(const tb_sagg *state)
{
    return tb_hashagg_groups(state->ha);
}

size_t tb_sagg_bytes(const tb_sagg *state)
{
    return tb_hashagg_bytes(state->ha);
}

tb_hashagg *tb_sagg_hashagg(tb_sagg *state)
{
    return state->ha;
}

void tb_sagg_set_emit(tb_sagg *state, tb_hashagg_emit mode, uint32_t key_col,
                      const tb_value *bound)
{
    state->emit = mode;
    state->emit_col = key_col;
    if (bound != NULL)
        state->emit_bound = *bound; /* a timestamp: no pointer inside */
}

void tb_sagg_changes_clear(tb_sagg *state)
{
    tb_hashagg_changes_clear(state->ha);
}

tb_rc tb_sagg_serialize(const tb_sagg *state, tb_buf *out, tb_err *err)
{
    return tb_hashagg_serialize(state->ha, out, err);
}

tb_rc tb_sagg_evict_before(tb_sagg *state, uint32_t group_col, int64_t before_us, tb_err *err)
{
    tb_value bound = {.type = tb_type_make(TB_T_TIMESTAMP), .is_null = false};
    bound.u.i = before_us;
    uint64_t removed = 0;
    return tb_hashagg_evict_below(state->ha, group_col, &bound, &removed, err);
}

static tb_rc state_new(uint32_t n_keys, tb_expr **group_exprs, uint32_t n_aggs,
                       const tb_aggspec *aggs, tb_sagg **out, tb_err *err)
{
    tb_sagg *s = tb_calloc(1, sizeof(*s));
    if (s == NULL || (s->arena = tb_arena_new(0)) == NULL)
        goto oom;
    s->n_keys = n_keys;
    s->n_aggs = n_aggs;
    s->key_types = tb_arena_alloc(s->arena, sizeof(tb_type) * (n_keys + 1));
    s->aggs = tb_arena_alloc(s->arena, sizeof(tb_aggspec) * (n_aggs + 1));
    if (s->key_types == NULL || s->aggs == NULL)
        goto oom;
    for (uint32_t k = 0; k < n_keys; k++)
        s->key_types[k] = group_exprs[k]->type;
    for (uint32_t i = 0; i < n_aggs; i++) {
        s->aggs[i] = aggs[i];
        if (aggs[i].arg != NULL) {
            s->aggs[i].arg = tb_expr_col(s->arena, 0, aggs[i].arg->type);
            if (s->aggs[i].arg == NULL)
                goto oom;
        }
    }
    tb_rc rc = tb_hashagg_new(n_keys, s->key_types, n_aggs, s->aggs, &s->ha, err);
    if (rc != TB_OK) {
        tb_sagg_free(s);
        return rc;
    }
    *out = s;
    return TB_OK;
oom:
    tb_sagg_free(s);
    return tb_err_nomem(err);
}

static tb_rc sagg_next(tb_op *op, tb_batch **out, tb_err *err)
{
    sagg_op *a = (sagg_op *)op;
    tb_sagg *s = a->state;
    *out = NULL;
    if (!a->consumed) {
        tb_vec *keys = tb_calloc(s->n_keys + 1, sizeof(tb_vec));
        tb_vec *args = tb_calloc(s->n_aggs + 1, sizeof(tb_vec));
        tb_rc rc = keys == NULL || args == NULL ? tb_err_nomem(err) : TB_OK;
        while (rc == TB_OK) {
            tb_batch *b = NULL;
            rc = tb_op_next(op->children[0], &b, err);
            if (rc != TB_OK || b == NULL)
                break;
            if (b->n_rows == 0)
                continue;
            tb_arena_reset(a->arena);
            for (uint32_t k = 0; rc == TB_OK && k < s->n_keys; k++)
                rc = tb_expr_eval(a->group_exprs[k], b, a->arena, &keys[k], err);
            for (uint32_t i = 0; rc == TB_OK && i < s->n_aggs; i++) {
                memset(&args[i], 0, sizeof(tb_vec));
                if (a->aggs[i].arg != NULL)
                    rc = tb_expr_eval(a->aggs[i].arg, b, a->arena, &args[i], err);
            }
            if (rc == TB_OK)
                rc = tb_hashagg_consume(s->ha, b->n_rows, keys, args, err);
        }
        tb_free(keys);
        tb_free(args);
        if (rc != TB_OK)
            return rc;
        a->consumed = true;
        tb_hashagg_iter_init(&a->it, s->emit, s->emit_col,
                             s->emit == TB_HASHAGG_BELOW ? &s->emit_bound : NULL);
    }
    tb_arena_reset(a->arena);
    return tb_hashagg_next(s->ha, &a->it, a->arena, out, err);
}

static void sagg_free(tb_op *op)
{
    sagg_op *a = (sagg_op *)op;
    tb_free(a->aggs);
    tb_arena_free(a->arena);
}

static tb_rc sagg_explain(tb_op *op, tb_buf *buf)
{
    sagg_op *a = (sagg_op *)op;
    return tb_buf_printf(buf, "incremental aggregate: %u keys, %u aggregates, %llu groups",
                         a->state->n_keys, a->state->n_aggs,
                         (unsigned long long)tb_hashagg_groups(a->state->ha));
}

/* The next batch folds into the same groups, then emits what tb_sagg_set_emit says. */
static tb_rc sagg_rescan(tb_op *op, tb_err *err)
{
    ((sagg_op *)op)->consumed = false;
    return tb_op_rescan_children(op, err);
}

static const tb_op_vt sagg_vt = {"stream aggregate", sagg_next, sagg_free, sagg_explain,
                                 sagg_rescan};

tb_rc tb_sagg_op_new(tb_sagg **state, tb_op *child, uint32_t n_groups, tb_expr **group_exprs,
                     const char **group_names, uint32_t n_aggs, const tb_aggspec *aggs,
                     const char **agg_names, const char *restore, size_t restore_len,
                     tb_op **out, tb_err *err)
{
    tb_rc rc;
    sagg_op *a = NULL;
    *out = NULL;
    if (*state == NULL) {
        rc = state_new(n_groups, group_exprs, n_aggs, aggs, state, err);
        if (rc != TB_OK)
            goto fail;
        if (restore != NULL) {
            rc = tb_hashagg_deserialize((*state)->ha, restore, restore_len, err);
            if (rc != TB_OK) {
                tb_err_prefix(err, "checkpoint state");
                goto fail;
            }
        }
    } else {
        tb_sagg *s = *state;
        bool same = s->n_keys == n_groups && s->n_aggs == n_aggs;
        for (uint32_t k = 0; same && k < n_groups; k++)
            same = tb_type_eq(s->key_types[k], group_exprs[k]->type);
        for (uint32_t i = 0; same && i < n_aggs; i++)
            same = s->aggs[i].kind == aggs[i].kind && tb_type_eq(s->aggs[i].type, aggs[i].type);
        if (!same) {
            rc = TB_ERRF(err, TB_E_MISUSE, "stream aggregate: the query's groups changed");
            goto fail;
        }
    }
    a = tb_calloc(1, sizeof(*a));
    if (a == NULL || (a->base.children = tb_calloc(1, sizeof(tb_op *))) == NULL ||
        (a->arena = tb_arena_new(0)) == NULL ||
        (a->aggs = tb_malloc(sizeof(tb_aggspec) * (n_aggs + 1))) == NULL ||
        (a->base.schema = tb_schema_new(n_groups + n_aggs)) == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    for (uint32_t k = 0; k < n_groups; k++) {
        if (tb_schema_set(a->base.schema, k, group_names[k], group_exprs[k]->type, true) !=
            TB_OK) {
            rc = tb_err_nomem(err);
            goto fail;
        }
    }
    for (uint32_t i = 0; i < n_aggs; i++) {
        a->aggs[i] = aggs[i];
        if (tb_schema_set(a->base.schema, n_groups + i, agg_names[i], aggs[i].type, true) !=
            TB_OK) {
            rc = tb_err_nomem(err);
            goto fail;
        }
    }
    a->base.vt = &sagg_vt;
    a->base.children[0] = child;
    a->base.n_children = 1;
    a->state = *state;
    a->group_exprs = group_exprs;
    *out = &a->base;
    return TB_OK;
fail:
    if (a != NULL) {
        tb_free(a->aggs);
        tb_arena_free(a->arena);
        tb_schema_free(a->base.schema);
        tb_free(a->base.children);
        tb_free(a);
    }
    tb_op_free(child);
    return rc;
}
