/*
 * func_misc.c - conditional functions: coalesce, nullif, greatest, least,
 * is_distinct_from / is_not_distinct_from (IS [NOT] DISTINCT FROM).
 *
 * coalesce is lazy (TB_FN_LAZY): the driver in expr.c evaluates argument k only for
 * the rows still NULL after arguments 0..k-1, as PostgreSQL does. The others are
 * non-strict kernels that look at validity themselves.
 */
#include "exec/expr_int.h"

#include <string.h>

static tb_rc need_bitmap(tb_ev *out, uint32_t n, bool set, tb_arena *arena, tb_err *err)
{
    size_t words = tb_valid_words(n > 0 ? n : 1);
    if (out->v.valid != NULL)
        return TB_OK;
    out->v.valid = tb_arena_alloc(arena, words * 8);
    if (out->v.valid == NULL)
        return tb_expr_nomem(err);
    memset(out->v.valid, set ? 0xff : 0, words * 8);
    return TB_OK;
}

static void copy_val(tb_vec *dst, uint32_t di, const tb_vec *src, uint32_t si)
{
    size_t w = tb_type_width(dst->type);
    if (w > 0)
        memcpy((char *)dst->data + di * w, (const char *)src->data + si * w, w);
}

static tb_rc resolve_common(tb_arena *arena, const char *name, const char *ctx, tb_expr **args,
                            uint32_t n, int pos, tb_type *out, tb_err *err)
{
    uint32_t i;
    tb_rc rc = tb_expr_common_type(args, n, ctx, pos, out, err);
    if (rc != TB_OK)
        return rc;
    for (i = 0; i < n; i++) {
        rc = tb_cast_build(arena, args[i], *out, TB_CAST_IMPLICIT, pos, &args[i], err);
        if (rc != TB_OK)
            return rc;
    }
    TB_UNUSED(name);
    return TB_OK;
}

static tb_rc mk(tb_arena *arena, const char *name, tb_kernel k, uint32_t flags, int op, tb_type t,
                tb_expr **args, uint32_t n, int pos, tb_expr **out, tb_err *err)
{
    tb_func *fn = tb_expr_func_new(arena, name, k, flags, op);
    if (fn == NULL || (*out = tb_expr_new_call(arena, name, fn, t, args, n, pos)) == NULL)
        return tb_expr_nomem(err);
    return TB_OK;
}

/* ---------------------------------------------------------------- coalesce */

static tb_rc coalesce_unused(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                             tb_err *err)
{
    TB_UNUSED(e);
    TB_UNUSED(args);
    TB_UNUSED(n);
    TB_UNUSED(arena);
    TB_UNUSED(out);
    return TB_ERRF(err, TB_E_ERROR, "coalesce is evaluated by the driver");
}

static tb_rc r_coalesce(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                        tb_expr **out, tb_err *err)
{
    tb_type t;
    tb_rc rc;
    if (n == 0)
        return tb_func_no_overload(name, args, n, pos, err);
    rc = resolve_common(arena, name, "COALESCE", args, n, pos, &t, err);
    if (rc != TB_OK)
        return rc;
    return mk(arena, name, coalesce_unused, TB_FN_LAZY | TB_FN_SAFE, 0, t, args, n, pos, out, err);
}

/* ---------------------------------------------------------------- nullif */

static tb_rc k_nullif(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                      tb_err *err)
{
    uint32_t i;
    tb_rc rc = need_bitmap(out, n, true, arena, err);
    TB_UNUSED(e);
    if (rc != TB_OK)
        return rc;
    for (i = 0; i < n; i++) {
        uint32_t ia = TB_IX(&args[0], i), ib = TB_IX(&args[1], i);
        bool null_a = tb_vec_is_null(&args[0].v, ia);
        bool null_b = tb_vec_is_null(&args[1].v, ib);
        if (null_a || (!null_b && tb_arith_cmp_rows(&args[0].v, ia, &args[1].v, ib) == 0)) {
            out->v.valid[i >> 6] &= ~((uint64_t)1 << (i & 63));
            continue;
        }
        copy_val(&out->v, i, &args[0].v, ia);
    }
    return TB_OK;
}

static tb_rc r_nullif(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                      tb_expr **out, tb_err *err)
{
    tb_type t;
    tb_rc rc;
    if (n != 2)
        return tb_func_no_overload(name, args, n, pos, err);
    rc = resolve_common(arena, name, "NULLIF", args, n, pos, &t, err);
    if (rc != TB_OK)
        return rc;
    return mk(arena, name, k_nullif, TB_FN_SAFE, 0, t, args, n, pos, out, err);
}

/* ---------------------------------------------------------------- greatest / least */

static tb_rc k_greatest(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                        tb_err *err)
{
    uint32_t i, a;
    int sign = e->fn->op; /* +1 greatest, -1 least */
    tb_rc rc = need_bitmap(out, n, true, arena, err);
    if (rc != TB_OK)
        return rc;
    for (i = 0; i < n; i++) {
        int best = -1;
        uint32_t bi = 0;
        for (a = 0; a < e->n_args; a++) {
            uint32_t r = TB_IX(&args[a], i);
            if (args[a].v.type.id == TB_T_NULL || tb_vec_is_null(&args[a].v, r))
                continue;
            if (best < 0 || tb_arith_cmp_rows(&args[a].v, r, &args[best].v, bi) * sign > 0) {
                best = (int)a;
                bi = r;
            }
        }
        if (best < 0)
            out->v.valid[i >> 6] &= ~((uint64_t)1 << (i & 63));
        else
            copy_val(&out->v, i, &args[best].v, bi);
    }
    return TB_OK;
}

static tb_rc r_greatest(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                        tb_expr **out, tb_err *err)
{
    tb_type t;
    bool least = strcmp(name, "least") == 0;
    tb_rc rc;
    if (n == 0)
        return tb_func_no_overload(name, args, n, pos, err);
    rc = resolve_common(arena, name, least ? "LEAST" : "GREATEST", args, n, pos, &t, err);
    if (rc != TB_OK)
        return rc;
    return mk(arena, name, k_greatest, TB_FN_SAFE, least ? -1 : 1, t, args, n, pos, out, err);
}

/* ---------------------------------------------------------------- IS DISTINCT FROM */

static tb_rc k_distinct(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                        tb_err *err)
{
    uint8_t *o = out->v.data;
    uint32_t i;
    bool want_distinct = e->fn->op == 1;
    TB_UNUSED(arena);
    TB_UNUSED(err);
    for (i = 0; i < n; i++) {
        uint32_t ia = TB_IX(&args[0], i), ib = TB_IX(&args[1], i);
        bool na = args[0].v.type.id == TB_T_NULL || tb_vec_is_null(&args[0].v, ia);
        bool nb = args[1].v.type.id == TB_T_NULL || tb_vec_is_null(&args[1].v, ib);
        bool distinct;
        if (na || nb)
            distinct = na != nb;
        else
            distinct = tb_arith_cmp_rows(&args[0].v, ia, &args[1].v, ib) != 0;
        o[i] = distinct == want_distinct;
    }
    return TB_OK;
}

static tb_rc r_distinct(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                        tb_expr **out, tb_err *err)
{
    tb_type t;
    tb_rc rc;
    if (n != 2)
        return tb_func_no_overload(name, args, n, pos, err);
    rc = tb_expr_common_type(args, n, NULL, pos, &t, err);
    if (rc != TB_OK)
        return tb_op_no_overload(strcmp(name, "is_distinct_from") == 0 ? "IS DISTINCT FROM"
                                                                       : "IS NOT DISTINCT FROM",
                                 args, 2, pos, err);
    rc = resolve_common(arena, name, NULL, args, n, pos, &t, err);
    if (rc != TB_OK)
        return rc;
    return mk(arena, name, k_distinct, TB_FN_SAFE, strcmp(name, "is_distinct_from") == 0,
              tb_type_make(TB_T_BOOL), args, n, pos, out, err);
}

/* ---------------------------------------------------------------- pg_typeof */

static tb_rc r_typeof(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                      tb_expr **out, tb_err *err)
{
    tb_value v;
    const char *tn;
    if (n != 1)
        return tb_func_no_overload(name, args, n, pos, err);
    if (tb_expr_is_unknown_lit(args[0]) || args[0]->type.id == TB_T_NULL)
        tn = "unknown";
    else if (args[0]->type.id == TB_T_TIMESTAMP)
        tn = "timestamp without time zone";
    else
        tn = tb_type_id_name((tb_type_id)args[0]->type.id);
    memset(&v, 0, sizeof(v));
    v.type = tb_type_make(TB_T_STRING);
    v.u.s.ptr = tn;
    v.u.s.len = (uint32_t)strlen(tn);
    *out = tb_expr_const_typed(arena, &v);
    if (*out == NULL)
        return tb_expr_nomem(err);
    (*out)->pos = pos;
    return TB_OK;
}

const tb_fn_entry tb_func_misc_table[] = {
    {"pg_typeof", r_typeof},
    {"coalesce", r_coalesce},
    {"nullif", r_nullif},
    {"greatest", r_greatest},
    {"least", r_greatest},
    {"is_distinct_from", r_distinct},
    {"is_not_distinct_from", r_distinct},
    {NULL, NULL},
};
