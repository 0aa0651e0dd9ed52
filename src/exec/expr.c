/*
 * expr.c - expression constructors and the vectorized evaluation driver.
 *
 * Constructors own typing: every node leaves here with its result type fixed and its
 * operands already coerced (casts inserted, constants folded), so evaluation never
 * looks at types beyond picking a kernel once per batch.
 *
 * Evaluation (see expr_int.h): tb_expr_ev yields a tb_ev per node; constants are one
 * row (konst) and only expanded at the top (tb_expr_eval) so that col-op-const loops
 * read the constant from a register. Kernels run over whole vectors.
 *
 * Laziness: SQL users write `x <> 0 AND 10 / x > 1` and `CASE WHEN x = 0 THEN 0 ELSE
 * 1 / x END`. A branch that can fail at run time (division, casts from text,
 * overflow...) is therefore evaluated only over the rows that reach it: those rows are
 * gathered into a sub-batch (only the referenced columns), evaluated, and scattered
 * back. Branches that cannot fail are evaluated over the whole batch.
 *
 * Invariants: expression nodes are immutable after construction (state is built by
 * the constructors); evaluation allocates only in the caller's arena.
 */
#include "exec/expr_int.h"

#include <stdio.h>
#include <string.h>

typedef struct const_state {
    tb_vec v;   /* one row holding the value */
    bool typed; /* false: an untyped string literal (PostgreSQL's "unknown") */
} const_state;

typedef struct in_state {
    /* constant list: open-addressing set over the item values */
    uint32_t mask;  /* slots - 1 (0 when no set) */
    int32_t *slots; /* index into vals, -1 empty */
    tb_value *vals;
    uint32_t n_vals;
    bool has_null; /* a NULL item: no match gives NULL, not false */
    bool use_set;
    tb_expr *or_expr; /* non-constant list: x = a OR x = b ... */
} in_state;

/* ================================================================ small helpers */

tb_func *tb_expr_func_new(tb_arena *arena, const char *name, tb_kernel kernel, uint32_t flags,
                          int op)
{
    tb_func *fn = tb_arena_zalloc(arena, sizeof(*fn));
    if (fn == NULL)
        return NULL;
    fn->name = name;
    fn->kernel = kernel;
    fn->flags = flags;
    fn->op = op;
    return fn;
}

static tb_expr *new_node(tb_arena *arena, tb_expr_kind kind, tb_type type, int pos)
{
    tb_expr *e = tb_arena_zalloc(arena, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->kind = kind;
    e->type = type;
    e->col = -1;
    e->pos = pos;
    return e;
}

tb_expr *tb_expr_new_call(tb_arena *arena, const char *name, const tb_func *fn, tb_type type,
                          tb_expr **args, uint32_t n_args, int pos)
{
    tb_expr *e = new_node(arena, TB_EX_CALL, type, pos);
    if (e == NULL)
        return NULL;
    e->fn_name = name;
    e->fn = fn;
    e->n_args = n_args;
    if (n_args > 0) {
        e->args = tb_arena_alloc(arena, sizeof(tb_expr *) * n_args);
        if (e->args == NULL)
            return NULL;
        memcpy(e->args, args, sizeof(tb_expr *) * n_args);
    }
    return e;
}

tb_rc tb_expr_ev_alloc(tb_ev *out, tb_type t, uint32_t n, bool konst, tb_arena *arena, tb_err *err)
{
    size_t w = tb_type_width(t);
    memset(out, 0, sizeof(*out));
    out->v.type = t;
    out->konst = konst;
    if (w > 0) {
        out->v.data = tb_arena_alloc(arena, w * (n > 0 ? n : 1));
        if (out->v.data == NULL)
            return tb_expr_nomem(err);
    }
    return TB_OK;
}

static uint64_t *bitmap_new(uint32_t n, bool set, tb_arena *arena)
{
    size_t words = tb_valid_words(n > 0 ? n : 1);
    uint64_t *b = tb_arena_alloc(arena, words * 8);
    if (b != NULL)
        memset(b, set ? 0xff : 0, words * 8);
    return b;
}

tb_rc tb_expr_ev_null(tb_ev *out, tb_type t, tb_arena *arena, tb_err *err)
{
    tb_rc rc = tb_expr_ev_alloc(out, t, 1, true, arena, err);
    if (rc != TB_OK)
        return rc;
    if (out->v.data != NULL)
        memset(out->v.data, 0, tb_type_width(t));
    out->v.valid = bitmap_new(1, false, arena);
    if (out->v.valid == NULL)
        return tb_expr_nomem(err);
    return TB_OK;
}

/* Copy row si of src into row di of dst (same type), validity included; dst must have a
 * bitmap if src row is NULL. */
static inline void copy_row(tb_vec *dst, uint32_t di, const tb_vec *src, uint32_t si, size_t w)
{
    char *d, *base = dst->data;
    const char *s, *sbase = src->data;
    if (base == NULL || sbase == NULL) /* width-0 (NULL-typed) vectors */
        return;
    d = base + (size_t)di * w;
    s = sbase + (size_t)si * w;
    switch (w) {
    case 0:
        break;
    case 1:
        *(uint8_t *)d = *(const uint8_t *)s;
        break;
    case 2:
        memcpy(d, s, 2);
        break;
    case 4:
        memcpy(d, s, 4);
        break;
    case 8:
        memcpy(d, s, 8);
        break;
    case 16:
        memcpy(d, s, 16);
        break;
    default:
        memcpy(d, s, w);
        break;
    }
}

tb_rc tb_expr_ev_flatten(tb_ev *ev, uint32_t n, tb_arena *arena, tb_err *err)
{
    tb_ev out;
    tb_rc rc;
    size_t w;
    uint32_t i;

    if (!ev->konst)
        return TB_OK;
    rc = tb_expr_ev_alloc(&out, ev->v.type, n, false, arena, err);
    if (rc != TB_OK)
        return rc;
    w = tb_type_width(ev->v.type);
    if (tb_vec_is_null(&ev->v, 0)) {
        out.v.valid = bitmap_new(n, false, arena);
        if (out.v.valid == NULL)
            return tb_expr_nomem(err);
        if (w > 0)
            memset(out.v.data, 0, w * (n > 0 ? n : 1));
    } else {
        switch (w) {
        case 1:
            memset(out.v.data, *(const uint8_t *)ev->v.data, n);
            break;
        case 4: {
            uint32_t x = *(const uint32_t *)ev->v.data;
            uint32_t *o = out.v.data;
            for (i = 0; i < n; i++)
                o[i] = x;
            break;
        }
        case 8: {
            uint64_t x = *(const uint64_t *)ev->v.data;
            uint64_t *o = out.v.data;
            for (i = 0; i < n; i++)
                o[i] = x;
            break;
        }
        default:
            for (i = 0; i < n; i++)
                copy_row(&out.v, i, &ev->v, 0, w);
            break;
        }
    }
    *ev = out;
    return TB_OK;
}

/* ================================================================ constants */

static tb_rc value_to_vec(tb_arena *arena, const tb_value *val, tb_vec *v)
{
    tb_ev ev;
    tb_rc rc;
    if (val->is_null || val->type.id == TB_T_NULL) {
        rc = tb_expr_ev_null(&ev, val->type, arena, NULL);
        *v = ev.v;
        return rc;
    }
    rc = tb_expr_ev_alloc(&ev, val->type, 1, true, arena, NULL);
    if (rc != TB_OK)
        return rc;
    switch ((tb_type_id)val->type.id) {
    case TB_T_BOOL:
        *(uint8_t *)ev.v.data = val->u.b ? 1 : 0;
        break;
    case TB_T_INT16:
        *(int16_t *)ev.v.data = (int16_t)val->u.i;
        break;
    case TB_T_INT32:
    case TB_T_DATE:
        *(int32_t *)ev.v.data = (int32_t)val->u.i;
        break;
    case TB_T_INT64:
    case TB_T_TIMESTAMP:
        *(int64_t *)ev.v.data = val->u.i;
        break;
    case TB_T_FLOAT:
        *(float *)ev.v.data = (float)val->u.d;
        break;
    case TB_T_DOUBLE:
        *(double *)ev.v.data = val->u.d;
        break;
    case TB_T_DECIMAL:
        memcpy(ev.v.data, &val->u.dec, sizeof(tb_i128));
        break;
    case TB_T_STRING:
        *(tb_str *)ev.v.data = val->u.s;
        break;
    case TB_T_INTERVAL:
        *(tb_interval *)ev.v.data = val->u.iv;
        break;
    default:
        break;
    }
    *v = ev.v;
    return TB_OK;
}

static tb_expr *make_const(tb_arena *arena, const tb_value *value, bool typed)
{
    tb_expr *e;
    const_state *st;
    tb_value v = *value;

    if (v.type.id == TB_T_NULL)
        v.is_null = true;
    if (!v.is_null && v.type.id == TB_T_STRING) {
        char *p = tb_arena_memdup(arena, v.u.s.len ? v.u.s.ptr : "", v.u.s.len + 1);
        if (p == NULL)
            return NULL;
        p[v.u.s.len] = '\0';
        v.u.s.ptr = p;
    }
    e = new_node(arena, TB_EX_CONST, v.type, -1);
    st = tb_arena_zalloc(arena, sizeof(*st));
    if (e == NULL || st == NULL)
        return NULL;
    e->value = v;
    st->typed = typed || v.type.id != TB_T_STRING;
    if (value_to_vec(arena, &v, &st->v) != TB_OK)
        return NULL;
    e->state = st;
    return e;
}

tb_expr *tb_expr_col(tb_arena *arena, int col, tb_type type)
{
    tb_expr *e = new_node(arena, TB_EX_COL, type, -1);
    if (e != NULL)
        e->col = col;
    return e;
}

tb_expr *tb_expr_const(tb_arena *arena, const tb_value *value)
{
    return make_const(arena, value, false);
}

tb_expr *tb_expr_const_typed(tb_arena *arena, const tb_value *value)
{
    return make_const(arena, value, true);
}

tb_expr *tb_expr_null(tb_arena *arena)
{
    tb_value v;
    memset(&v, 0, sizeof(v));
    v.type = tb_type_make(TB_T_NULL);
    v.is_null = true;
    return make_const(arena, &v, true);
}

bool tb_expr_is_unknown_lit(const tb_expr *e)
{
    const const_state *st;
    if (e->kind != TB_EX_CONST || e->type.id != TB_T_STRING)
        return false;
    st = e->state;
    return st != NULL && !st->typed;
}

const char *tb_expr_type_name(const tb_expr *e, char *buf, size_t cap)
{
    if (tb_expr_is_unknown_lit(e) || e->type.id == TB_T_NULL) {
        (void)snprintf(buf, cap, "unknown");
        return buf;
    }
    return tb_type_name(e->type, buf, cap);
}

/* ================================================================ const-ness */

static bool has_volatile(const tb_expr *e)
{
    uint32_t i;
    if ((e->kind == TB_EX_CALL) && e->fn != NULL && (e->fn->flags & TB_FN_VOLATILE))
        return true;
    for (i = 0; i < e->n_args; i++)
        if (has_volatile(e->args[i]))
            return true;
    return false;
}

static bool refs_columns(const tb_expr *e)
{
    uint32_t i;
    if (e->kind == TB_EX_COL || e->kind == TB_EX_PARAM)
        return true;
    for (i = 0; i < e->n_args; i++)
        if (refs_columns(e->args[i]))
            return true;
    return false;
}

bool tb_expr_is_const(const tb_expr *e) { return !refs_columns(e) && !has_volatile(e); }

static bool has_stable(const tb_expr *e)
{
    uint32_t i;
    if (e->kind == TB_EX_CALL && e->fn != NULL && (e->fn->flags & TB_FN_STABLE))
        return true;
    for (i = 0; i < e->n_args; i++)
        if (has_stable(e->args[i]))
            return true;
    return false;
}

tb_expr *tb_expr_fold(tb_arena *arena, tb_expr *e)
{
    tb_value v;
    tb_err err;
    tb_expr *c;

    if (e->kind == TB_EX_CONST || e->kind == TB_EX_COL || !tb_expr_is_const(e) || has_stable(e))
        return e;
    tb_err_clear(&err);
    if (tb_expr_eval_const(e, arena, &v, &err) != TB_OK)
        return e; /* keep it: the error surfaces at run time, if the row is reached */
    v.type = e->type;
    c = tb_expr_const_typed(arena, &v);
    if (c == NULL)
        return e;
    c->pos = e->pos;
    return c;
}

/* ================================================================ type resolution */

typedef enum cat { CAT_NONE, CAT_BOOL, CAT_NUM, CAT_STR, CAT_DT, CAT_IV } cat;

static cat type_cat(tb_type t)
{
    switch ((tb_type_id)t.id) {
    case TB_T_BOOL:
        return CAT_BOOL;
    case TB_T_INT16:
    case TB_T_INT32:
    case TB_T_INT64:
    case TB_T_FLOAT:
    case TB_T_DOUBLE:
    case TB_T_DECIMAL:
        return CAT_NUM;
    case TB_T_STRING:
        return CAT_STR;
    case TB_T_DATE:
    case TB_T_TIMESTAMP:
        return CAT_DT;
    case TB_T_INTERVAL:
        return CAT_IV;
    default:
        return CAT_NONE;
    }
}

static int int_digits(tb_type t)
{
    switch ((tb_type_id)t.id) {
    case TB_T_INT16:
        return 5;
    case TB_T_INT32:
        return 10;
    case TB_T_INT64:
        return 19;
    case TB_T_DECIMAL:
        return t.precision - t.scale;
    default:
        return 0;
    }
}

/* Common type of two known types of one category. */
static tb_type common2(tb_type a, tb_type b)
{
    if (tb_type_eq(a, b))
        return a;
    switch (type_cat(a)) {
    case CAT_NUM: {
        bool ad = a.id == TB_T_DOUBLE, bd = b.id == TB_T_DOUBLE;
        bool af = a.id == TB_T_FLOAT, bf = b.id == TB_T_FLOAT;
        if (ad || bd || af || bf)
            return tb_type_make((af && bf) ? TB_T_FLOAT : TB_T_DOUBLE);
        if (a.id == TB_T_DECIMAL || b.id == TB_T_DECIMAL) {
            int s = TB_MAX(a.id == TB_T_DECIMAL ? a.scale : 0, b.id == TB_T_DECIMAL ? b.scale : 0);
            int d = TB_MAX(int_digits(a), int_digits(b));
            int p = TB_MIN(38, d + s);
            if (p < s)
                p = s;
            if (p == 0)
                p = 1;
            return tb_type_decimal(p, s);
        }
        return a.id > b.id ? a : b; /* INT16 < INT32 < INT64 */
    }
    case CAT_DT:
        return tb_type_make(TB_T_TIMESTAMP);
    default:
        return a;
    }
}

static tb_rc common_impl(const tb_type *types, const bool *unknown, uint32_t n, const char *ctx,
                         int pos, tb_type *out, tb_err *err)
{
    uint32_t i;
    bool have = false;
    tb_type t = tb_type_make(TB_T_STRING);
    char b1[64], b2[64];

    for (i = 0; i < n; i++) {
        if (types[i].id == TB_T_NULL || (unknown != NULL && unknown[i]))
            continue;
        if (!have) {
            t = types[i];
            have = true;
            continue;
        }
        if (type_cat(t) != type_cat(types[i]) || type_cat(t) == CAT_NONE) {
            if (ctx != NULL && ctx[0] != '\0')
                return TB_ERRPOS(err, TB_E_TYPE, pos, "%s types %s and %s cannot be matched", ctx,
                                 tb_type_name(t, b1, sizeof(b1)),
                                 tb_type_name(types[i], b2, sizeof(b2)));
            return TB_ERRPOS(err, TB_E_TYPE, pos, "types %s and %s cannot be matched",
                             tb_type_name(t, b1, sizeof(b1)),
                             tb_type_name(types[i], b2, sizeof(b2)));
        }
        t = common2(t, types[i]);
    }
    *out = t; /* all NULL / unknown: text, as PostgreSQL resolves unknown */
    return TB_OK;
}

tb_rc tb_type_common(const tb_type *types, uint32_t n, tb_type *out, int pos, tb_err *err)
{
    return common_impl(types, NULL, n, "UNION", pos, out, err);
}

tb_rc tb_expr_common_type(tb_expr **args, uint32_t n, const char *ctx, int pos, tb_type *out,
                          tb_err *err)
{
    tb_type tbuf[16];
    bool ubuf[16];
    tb_type *types = tbuf;
    bool *unk = ubuf;
    uint32_t i;
    tb_rc rc;

    if (n > 16) {
        types = tb_malloc(sizeof(*types) * n);
        unk = tb_malloc(sizeof(*unk) * n);
        if (types == NULL || unk == NULL) {
            rc = tb_expr_nomem(err);
            goto done;
        }
    }
    for (i = 0; i < n; i++) {
        types[i] = args[i]->type;
        unk[i] = tb_expr_is_unknown_lit(args[i]);
    }
    rc = common_impl(types, unk, n, ctx, pos, out, err);
done:
    if (types != tbuf)
        tb_free(types);
    if (unk != ubuf)
        tb_free(unk);
    return rc;
}

/* ================================================================ casts (entry points) */

tb_rc tb_expr_cast(tb_arena *arena, tb_expr *e, tb_type type, int pos, tb_expr **out, tb_err *err)
{
    return tb_cast_build(arena, e, type, TB_CAST_EXPLICIT, pos, out, err);
}

tb_rc tb_expr_coerce(tb_arena *arena, tb_expr *e, tb_type type, int pos, tb_expr **out, tb_err *err)
{
    return tb_cast_build(arena, e, type, TB_CAST_ASSIGNMENT, pos, out, err);
}

/* ================================================================ tb_expr_make */

static tb_rc to_bool(tb_arena *arena, tb_expr **pe, const char *ctx, tb_err *err)
{
    tb_expr *e = *pe;
    char b[64];
    if (e->type.id == TB_T_BOOL)
        return TB_OK;
    if (e->type.id == TB_T_NULL || tb_expr_is_unknown_lit(e))
        return tb_cast_build(arena, e, tb_type_make(TB_T_BOOL), TB_CAST_EXPLICIT, e->pos, pe, err);
    return TB_ERRPOS(err, TB_E_TYPE, e->pos >= 0 ? e->pos : -1,
                     "argument of %s must be type boolean, not type %s", ctx,
                     tb_type_name(e->type, b, sizeof(b)));
}

static uint64_t value_hash(const tb_value *v)
{
    switch ((tb_type_id)v->type.id) {
    case TB_T_FLOAT:
    case TB_T_DOUBLE: {
        double d = v->u.d;
        uint64_t bits;
        if (d == 0)
            d = 0; /* -0 == 0 */
        if (d != d)
            return 0x7ff8;
        memcpy(&bits, &d, 8);
        return tb_hash_u64(bits);
    }
    case TB_T_DECIMAL:
        return tb_hash_combine(tb_hash_u64((uint64_t)v->u.dec), (uint64_t)(v->u.dec >> 64));
    case TB_T_STRING:
        return tb_hash_bytes(v->u.s.ptr, v->u.s.len, 0);
    case TB_T_INTERVAL: {
        tb_i128 span = (tb_i128)v->u.iv.months * 30 * TB_USEC_PER_DAY +
                       (tb_i128)v->u.iv.days * TB_USEC_PER_DAY + v->u.iv.micros;
        return tb_hash_combine(tb_hash_u64((uint64_t)span), (uint64_t)(span >> 64));
    }
    case TB_T_BOOL:
        return tb_hash_u64(v->u.b ? 1 : 0);
    default:
        return tb_hash_u64((uint64_t)v->u.i);
    }
}

static bool value_eq(const tb_value *a, const tb_value *b)
{
    tb_vec va, vb;
    memset(&va, 0, sizeof(va));
    memset(&vb, 0, sizeof(vb));
    switch ((tb_type_id)a->type.id) {
    case TB_T_FLOAT:
    case TB_T_DOUBLE:
        if (a->u.d != a->u.d)
            return b->u.d != b->u.d;
        return a->u.d == b->u.d;
    case TB_T_DECIMAL:
        return a->u.dec == b->u.dec;
    case TB_T_STRING:
        return a->u.s.len == b->u.s.len &&
               (a->u.s.len == 0 || memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0);
    case TB_T_INTERVAL: {
        tb_i128 sa = (tb_i128)a->u.iv.months * 30 * TB_USEC_PER_DAY +
                     (tb_i128)a->u.iv.days * TB_USEC_PER_DAY + a->u.iv.micros;
        tb_i128 sb = (tb_i128)b->u.iv.months * 30 * TB_USEC_PER_DAY +
                     (tb_i128)b->u.iv.days * TB_USEC_PER_DAY + b->u.iv.micros;
        return sa == sb;
    }
    case TB_T_BOOL:
        return a->u.b == b->u.b;
    default:
        return a->u.i == b->u.i;
    }
}

static bool inset_find(const in_state *st, const tb_value *v)
{
    uint32_t h = (uint32_t)value_hash(v) & st->mask;
    for (;;) {
        int32_t k = st->slots[h];
        if (k < 0)
            return false;
        if (value_eq(&st->vals[k], v))
            return true;
        h = (h + 1) & st->mask;
    }
}

static tb_rc build_in(tb_arena *arena, tb_expr *e, tb_err *err)
{
    in_state *st = tb_arena_zalloc(arena, sizeof(*st));
    uint32_t i, n_items = e->n_args - 1, cap = 8;
    bool all_const = true;
    tb_rc rc;

    if (st == NULL)
        return tb_expr_nomem(err);
    for (i = 1; i < e->n_args; i++)
        if (e->args[i]->kind != TB_EX_CONST)
            all_const = false;
    if (all_const) {
        st->use_set = true;
        while (cap < n_items * 2)
            cap *= 2;
        st->mask = cap - 1;
        st->slots = tb_arena_alloc(arena, sizeof(int32_t) * cap);
        st->vals = tb_arena_alloc(arena, sizeof(tb_value) * (n_items ? n_items : 1));
        if (st->slots == NULL || st->vals == NULL)
            return tb_expr_nomem(err);
        memset(st->slots, 0xff, sizeof(int32_t) * cap);
        for (i = 1; i < e->n_args; i++) {
            const tb_value *v = &e->args[i]->value;
            uint32_t h;
            if (v->is_null) {
                st->has_null = true;
                continue;
            }
            if (st->n_vals > 0 && inset_find(st, v))
                continue;
            st->vals[st->n_vals] = *v;
            st->vals[st->n_vals].type = e->args[0]->type;
            h = (uint32_t)value_hash(v) & st->mask;
            while (st->slots[h] >= 0)
                h = (h + 1) & st->mask;
            st->slots[h] = (int32_t)st->n_vals++;
        }
    } else {
        tb_expr *acc = NULL;
        for (i = 1; i < e->n_args; i++) {
            tb_expr *pair[2] = {e->args[0], e->args[i]};
            tb_expr *eq;
            rc = tb_expr_call(arena, "=", pair, 2, e->pos, &eq, err);
            if (rc != TB_OK)
                return rc;
            if (acc == NULL) {
                acc = eq;
            } else {
                tb_expr *two[2] = {acc, eq};
                tb_expr *o = new_node(arena, TB_EX_OR, tb_type_make(TB_T_BOOL), e->pos);
                if (o == NULL)
                    return tb_expr_nomem(err);
                o->n_args = 2;
                o->args = tb_arena_memdup(arena, two, sizeof(two));
                if (o->args == NULL)
                    return tb_expr_nomem(err);
                acc = o;
            }
        }
        st->or_expr = acc;
    }
    e->state = st;
    return TB_OK;
}

tb_rc tb_expr_make(tb_arena *arena, tb_expr_kind kind, tb_expr **args, uint32_t n_args, bool negate,
                   bool has_else, int pos, tb_expr **out, tb_err *err)
{
    tb_expr *e;
    uint32_t i;
    tb_rc rc;
    tb_type t;

    *out = NULL;
    e = new_node(arena, kind, tb_type_make(TB_T_BOOL), pos);
    if (e == NULL)
        return tb_expr_nomem(err);
    e->negate = negate;
    e->has_else = has_else;
    e->n_args = n_args;
    if (n_args > 0) {
        e->args = tb_arena_memdup(arena, args, sizeof(tb_expr *) * n_args);
        if (e->args == NULL)
            return tb_expr_nomem(err);
    }
    switch (kind) {
    case TB_EX_AND:
    case TB_EX_OR:
    case TB_EX_NOT:
        if (n_args == 0 || (kind == TB_EX_NOT && n_args != 1))
            return TB_ERRPOS(err, TB_E_MISUSE, pos, "%s: wrong number of arguments",
                             kind == TB_EX_NOT   ? "NOT"
                             : kind == TB_EX_AND ? "AND"
                                                 : "OR");
        for (i = 0; i < n_args; i++) {
            rc = to_bool(arena, &e->args[i],
                         kind == TB_EX_NOT   ? "NOT"
                         : kind == TB_EX_AND ? "AND"
                                             : "OR",
                         err);
            if (rc != TB_OK)
                return rc;
        }
        break;
    case TB_EX_IS_NULL:
        if (n_args != 1)
            return TB_ERRPOS(err, TB_E_MISUSE, pos, "IS NULL: wrong number of arguments");
        break;
    case TB_EX_CASE: {
        uint32_t n_pairs = (n_args - (has_else ? 1 : 0)) / 2;
        tb_expr **res;
        uint32_t n_res = 0;
        if (n_pairs == 0 || n_pairs * 2 + (has_else ? 1 : 0) != n_args)
            return TB_ERRPOS(err, TB_E_MISUSE, pos, "CASE: wrong number of arguments");
        res = tb_arena_alloc(arena, sizeof(tb_expr *) * (n_pairs + 1));
        if (res == NULL)
            return tb_expr_nomem(err);
        for (i = 0; i < n_pairs; i++) {
            rc = to_bool(arena, &e->args[(size_t)2 * i], "CASE/WHEN", err);
            if (rc != TB_OK)
                return rc;
            res[n_res++] = e->args[2 * i + 1];
        }
        if (has_else)
            res[n_res++] = e->args[n_args - 1];
        rc = tb_expr_common_type(res, n_res, "CASE", pos, &t, err);
        if (rc != TB_OK)
            return rc;
        for (i = 0; i < n_pairs; i++) {
            rc = tb_cast_build(arena, e->args[2 * i + 1], t, TB_CAST_IMPLICIT, pos,
                               &e->args[2 * i + 1], err);
            if (rc != TB_OK)
                return rc;
        }
        if (has_else) {
            rc = tb_cast_build(arena, e->args[n_args - 1], t, TB_CAST_IMPLICIT, pos,
                               &e->args[n_args - 1], err);
            if (rc != TB_OK)
                return rc;
        }
        e->type = t;
        break;
    }
    case TB_EX_IN:
        if (n_args < 2)
            return TB_ERRPOS(err, TB_E_MISUSE, pos, "IN: empty list");
        rc = tb_expr_common_type(e->args, n_args, "IN", pos, &t, err);
        if (rc != TB_OK)
            return rc;
        for (i = 0; i < n_args; i++) {
            rc = tb_cast_build(arena, e->args[i], t, TB_CAST_IMPLICIT, pos, &e->args[i], err);
            if (rc != TB_OK)
                return rc;
        }
        rc = build_in(arena, e, err);
        if (rc != TB_OK)
            return rc;
        break;
    default:
        return TB_ERRPOS(err, TB_E_MISUSE, pos, "tb_expr_make: unsupported kind %d", (int)kind);
    }
    *out = tb_expr_fold(arena, e);
    return TB_OK;
}

/* ================================================================ evaluation helpers */

/* AND the validity of the non-konst args into a new bitmap (NULL: all valid). */
static tb_rc combine_valid(tb_ev *args, uint32_t n_args, uint32_t n, tb_arena *arena,
                           uint64_t **out, tb_err *err)
{
    uint32_t i, first = UINT32_MAX;
    size_t w, words = tb_valid_words(n);
    uint64_t *b;

    *out = NULL;
    for (i = 0; i < n_args; i++) {
        if (!args[i].konst && args[i].v.valid != NULL) {
            first = i;
            break;
        }
    }
    if (first == UINT32_MAX)
        return TB_OK;
    b = tb_arena_alloc(arena, (words > 0 ? words : 1) * 8);
    if (b == NULL)
        return tb_expr_nomem(err);
    memcpy(b, args[first].v.valid, words * 8);
    for (i = first + 1; i < n_args; i++) {
        const uint64_t *v = args[i].v.valid;
        if (args[i].konst || v == NULL)
            continue;
        for (w = 0; w < words; w++)
            b[w] &= v[w];
    }
    *out = b;
    return TB_OK;
}

static bool expr_safe(const tb_expr *e);

/* Which columns does e read (used[col] = 1)? */
static void collect_cols(const tb_expr *e, uint8_t *used, uint32_t n_cols)
{
    uint32_t i;
    if (e->kind == TB_EX_COL && e->col >= 0 && (uint32_t)e->col < n_cols)
        used[e->col] = 1;
    for (i = 0; i < e->n_args; i++)
        collect_cols(e->args[i], used, n_cols);
}

static void gather(tb_vec *dst, const tb_vec *src, const uint32_t *sel, uint32_t n_sel)
{
    size_t w = tb_type_width(src->type);
    uint32_t k;
    switch (w) {
    case 0:
        break;
    case 1:
        for (k = 0; k < n_sel; k++)
            ((uint8_t *)dst->data)[k] = ((const uint8_t *)src->data)[sel[k]];
        break;
    case 2:
        for (k = 0; k < n_sel; k++)
            ((uint16_t *)dst->data)[k] = ((const uint16_t *)src->data)[sel[k]];
        break;
    case 4:
        for (k = 0; k < n_sel; k++)
            ((uint32_t *)dst->data)[k] = ((const uint32_t *)src->data)[sel[k]];
        break;
    case 8:
        for (k = 0; k < n_sel; k++)
            ((uint64_t *)dst->data)[k] = ((const uint64_t *)src->data)[sel[k]];
        break;
    default:
        for (k = 0; k < n_sel; k++)
            copy_row(dst, k, src, sel[k], w);
        break;
    }
    if (src->valid != NULL) {
        for (k = 0; k < n_sel; k++) {
            if (!tb_vec_is_null(src, sel[k]))
                dst->valid[k >> 6] |= (uint64_t)1 << (k & 63);
        }
    }
}

/*
 * Evaluate e over the rows sel[0..n_sel) of batch (sorted, distinct). Row k of the
 * result is row sel[k] of the batch (or row 0 if konst).
 */
static tb_rc ev_rows(const tb_expr *e, const tb_batch *batch, uint32_t n, const uint32_t *sel,
                     uint32_t n_sel, tb_arena *arena, tb_ev *out, tb_err *err)
{
    tb_batch *sub;
    uint8_t *used;
    uint32_t c;

    if (n_sel == n || batch == NULL || batch->n_cols == 0)
        return tb_expr_ev(e, batch, n_sel == n ? n : n_sel, arena, out, err);
    sub = tb_arena_zalloc(arena, sizeof(*sub));
    used = tb_arena_zalloc(arena, batch->n_cols);
    if (sub == NULL || used == NULL)
        return tb_expr_nomem(err);
    sub->n_rows = n_sel;
    sub->cap = n_sel;
    sub->n_cols = batch->n_cols;
    sub->cols = tb_arena_zalloc(arena, sizeof(tb_vec) * batch->n_cols);
    if (sub->cols == NULL)
        return tb_expr_nomem(err);
    collect_cols(e, used, batch->n_cols);
    for (c = 0; c < batch->n_cols; c++) {
        tb_vec *d = &sub->cols[c];
        tb_ev tmp;
        tb_rc rc;
        d->type = batch->cols[c].type;
        if (!used[c])
            continue;
        rc = tb_expr_ev_alloc(&tmp, d->type, n_sel, false, arena, err);
        if (rc != TB_OK)
            return rc;
        d->data = tmp.v.data;
        if (batch->cols[c].valid != NULL) {
            d->valid = bitmap_new(n_sel, false, arena);
            if (d->valid == NULL)
                return tb_expr_nomem(err);
        }
        gather(d, &batch->cols[c], sel, n_sel);
    }
    return tb_expr_ev(e, sub, n_sel, arena, out, err);
}

/* Evaluate e for rows sel (result row k <-> batch row sel[k]); evaluates over the whole
 * batch instead when e cannot fail, returning full = true (result row i <-> row i). */
static tb_rc ev_for(const tb_expr *e, const tb_batch *batch, uint32_t n, const uint32_t *sel,
                    uint32_t n_sel, tb_arena *arena, tb_ev *out, bool *full, tb_err *err)
{
    if (n_sel == n || expr_safe(e)) {
        *full = true;
        return tb_expr_ev(e, batch, n, arena, out, err);
    }
    *full = false;
    return ev_rows(e, batch, n, sel, n_sel, arena, out, err);
}

/* Row of an ev evaluated by ev_for for the k-th selected row. */
static inline uint32_t ev_row(const tb_ev *ev, bool full, const uint32_t *sel, uint32_t k)
{
    if (ev->konst)
        return 0;
    return full ? sel[k] : k;
}

static inline bool ev_true(const tb_ev *ev, uint32_t r)
{
    return !tb_vec_is_null(&ev->v, r) && ((const uint8_t *)ev->v.data)[r] != 0;
}

/* ================================================================ AND / OR / NOT */

static tb_rc ev_andor(const tb_expr *e, const tb_batch *batch, uint32_t n, tb_arena *arena,
                      tb_ev *out, tb_err *err)
{
    bool is_and = e->kind == TB_EX_AND;
    size_t words = tb_valid_words(n);
    uint64_t *decided, *nulls;
    uint32_t *sel;
    uint32_t n_sel = n, i, k, a;
    uint8_t *o;
    tb_rc rc;

    /* decided: a false (AND) / true (OR) was seen; nulls: a NULL was seen */
    decided = bitmap_new(n, false, arena);
    nulls = bitmap_new(n, false, arena);
    sel = tb_arena_alloc(arena, sizeof(uint32_t) * (n > 0 ? n : 1));
    if (decided == NULL || nulls == NULL || sel == NULL)
        return tb_expr_nomem(err);
    for (i = 0; i < n; i++)
        sel[i] = i;
    for (a = 0; a < e->n_args && n_sel > 0; a++) {
        tb_ev ev;
        bool full;
        const uint8_t *d;
        rc = ev_for(e->args[a], batch, n, sel, n_sel, arena, &ev, &full, err);
        if (rc != TB_OK)
            return rc;
        d = ev.v.data;
        if (ev.konst && n_sel == n) {
            bool isnull = tb_vec_is_null(&ev.v, 0);
            if (isnull) {
                memset(nulls, 0xff, words * 8);
            } else if ((d[0] != 0) != is_and) {
                memset(decided, 0xff, words * 8);
                n_sel = 0;
            }
            continue;
        }
        if (!ev.konst && full && n_sel == n && ev.v.valid == NULL) {
            /* common fast path: every row known, whole batch */
            for (i = 0; i < n; i++) {
                uint64_t bit = (uint64_t)((d[i] != 0) != is_and);
                decided[i >> 6] |= bit << (i & 63);
            }
        } else {
            for (k = 0; k < n_sel; k++) {
                uint32_t r = ev_row(&ev, full, sel, k), row = sel[k];
                if (tb_vec_is_null(&ev.v, r))
                    nulls[row >> 6] |= (uint64_t)1 << (row & 63);
                else if ((d[r] != 0) != is_and)
                    decided[row >> 6] |= (uint64_t)1 << (row & 63);
            }
        }
        /* keep undecided rows only */
        {
            uint32_t m = 0;
            for (k = 0; k < n_sel; k++) {
                uint32_t row = sel[k];
                if (!((decided[row >> 6] >> (row & 63)) & 1))
                    sel[m++] = row;
            }
            n_sel = m;
        }
    }
    rc = tb_expr_ev_alloc(out, tb_type_make(TB_T_BOOL), n, false, arena, err);
    if (rc != TB_OK)
        return rc;
    o = out->v.data;
    {
        bool any_null = false;
        for (i = 0; i < words; i++) {
            nulls[i] &= ~decided[i];
            if (nulls[i])
                any_null = true;
        }
        for (i = 0; i < n; i++) {
            bool dec = (decided[i >> 6] >> (i & 63)) & 1;
            o[i] = (uint8_t)(dec ? !is_and : is_and);
        }
        if (any_null) {
            for (i = 0; i < words; i++)
                nulls[i] = ~nulls[i];
            out->v.valid = nulls;
        }
    }
    return TB_OK;
}

static tb_rc ev_not(const tb_expr *e, const tb_batch *batch, uint32_t n, tb_arena *arena,
                    tb_ev *out, tb_err *err)
{
    tb_ev a;
    uint32_t i, m;
    const uint8_t *d;
    uint8_t *o;
    tb_rc rc = tb_expr_ev(e->args[0], batch, n, arena, &a, err);
    if (rc != TB_OK)
        return rc;
    m = a.konst ? 1 : n;
    rc = tb_expr_ev_alloc(out, tb_type_make(TB_T_BOOL), m, a.konst, arena, err);
    if (rc != TB_OK)
        return rc;
    d = a.v.data;
    o = out->v.data;
    for (i = 0; i < m; i++)
        o[i] = d[i] == 0;
    out->v.valid = a.v.valid; /* bitmaps are never written after production */
    return TB_OK;
}

static tb_rc ev_isnull(const tb_expr *e, const tb_batch *batch, uint32_t n, tb_arena *arena,
                       tb_ev *out, tb_err *err)
{
    tb_ev a;
    uint32_t i, m;
    uint8_t *o;
    tb_rc rc = tb_expr_ev(e->args[0], batch, n, arena, &a, err);
    if (rc != TB_OK)
        return rc;
    m = a.konst ? 1 : n;
    rc = tb_expr_ev_alloc(out, tb_type_make(TB_T_BOOL), m, a.konst, arena, err);
    if (rc != TB_OK)
        return rc;
    o = out->v.data;
    if (a.v.valid == NULL && a.v.type.id != TB_T_NULL) {
        memset(o, e->negate ? 1 : 0, m);
    } else {
        for (i = 0; i < m; i++) {
            bool isnull = a.v.type.id == TB_T_NULL || !((a.v.valid[i >> 6] >> (i & 63)) & 1);
            o[i] = (uint8_t)(isnull != e->negate);
        }
    }
    return TB_OK;
}

/* ================================================================ CASE / COALESCE */

/* Write rows of src into dst at sel positions. */
static void scatter(tb_vec *dst, const uint32_t *sel, uint32_t n_sel, const tb_ev *src, bool full)
{
    size_t w = tb_type_width(dst->type);
    uint32_t k;
    for (k = 0; k < n_sel; k++) {
        uint32_t r = ev_row(src, full, sel, k), row = sel[k];
        if (tb_vec_is_null(&src->v, r) || src->v.type.id == TB_T_NULL)
            continue; /* dst rows start NULL */
        copy_row(dst, row, &src->v, r, w);
        dst->valid[row >> 6] |= (uint64_t)1 << (row & 63);
    }
}

static tb_rc ev_case(const tb_expr *e, const tb_batch *batch, uint32_t n, tb_arena *arena,
                     tb_ev *out, tb_err *err)
{
    uint32_t n_pairs = (e->n_args - (e->has_else ? 1 : 0)) / 2;
    uint32_t *sel, *hit, n_sel = n, i, p;
    tb_rc rc;

    rc = tb_expr_ev_alloc(out, e->type, n, false, arena, err);
    if (rc != TB_OK)
        return rc;
    out->v.valid = bitmap_new(n, false, arena);
    sel = tb_arena_alloc(arena, sizeof(uint32_t) * (n > 0 ? n : 1));
    hit = tb_arena_alloc(arena, sizeof(uint32_t) * (n > 0 ? n : 1));
    if (out->v.valid == NULL || sel == NULL || hit == NULL)
        return tb_expr_nomem(err);
    if (out->v.data != NULL)
        memset(out->v.data, 0, tb_type_width(e->type) * (n > 0 ? n : 1));
    for (i = 0; i < n; i++)
        sel[i] = i;
    for (p = 0; p < n_pairs && n_sel > 0; p++) {
        tb_ev cond, val;
        bool full, vfull;
        uint32_t n_hit = 0, m = 0, k;
        rc = ev_for(e->args[(size_t)2 * p], batch, n, sel, n_sel, arena, &cond, &full, err);
        if (rc != TB_OK)
            return rc;
        for (k = 0; k < n_sel; k++) {
            if (ev_true(&cond, ev_row(&cond, full, sel, k)))
                hit[n_hit++] = sel[k];
            else
                sel[m++] = sel[k];
        }
        n_sel = m;
        if (n_hit == 0)
            continue;
        rc = ev_for(e->args[2 * p + 1], batch, n, hit, n_hit, arena, &val, &vfull, err);
        if (rc != TB_OK)
            return rc;
        scatter(&out->v, hit, n_hit, &val, vfull);
    }
    if (e->has_else && n_sel > 0) {
        tb_ev val;
        bool vfull;
        rc = ev_for(e->args[e->n_args - 1], batch, n, sel, n_sel, arena, &val, &vfull, err);
        if (rc != TB_OK)
            return rc;
        scatter(&out->v, sel, n_sel, &val, vfull);
    }
    return TB_OK;
}

static tb_rc ev_coalesce(const tb_expr *e, const tb_batch *batch, uint32_t n, tb_arena *arena,
                         tb_ev *out, tb_err *err)
{
    uint32_t *sel, n_sel = n, i, a;
    tb_rc rc;

    rc = tb_expr_ev_alloc(out, e->type, n, false, arena, err);
    if (rc != TB_OK)
        return rc;
    out->v.valid = bitmap_new(n, false, arena);
    sel = tb_arena_alloc(arena, sizeof(uint32_t) * (n > 0 ? n : 1));
    if (out->v.valid == NULL || sel == NULL)
        return tb_expr_nomem(err);
    if (out->v.data != NULL)
        memset(out->v.data, 0, tb_type_width(e->type) * (n > 0 ? n : 1));
    for (i = 0; i < n; i++)
        sel[i] = i;
    for (a = 0; a < e->n_args && n_sel > 0; a++) {
        tb_ev val;
        bool full;
        uint32_t k, m = 0;
        rc = ev_for(e->args[a], batch, n, sel, n_sel, arena, &val, &full, err);
        if (rc != TB_OK)
            return rc;
        scatter(&out->v, sel, n_sel, &val, full);
        for (k = 0; k < n_sel; k++) {
            if (tb_vec_is_null(&val.v, ev_row(&val, full, sel, k)) || val.v.type.id == TB_T_NULL)
                sel[m++] = sel[k];
        }
        n_sel = m;
    }
    return TB_OK;
}

/* ================================================================ IN */

static tb_rc ev_in(const tb_expr *e, const tb_batch *batch, uint32_t n, tb_arena *arena, tb_ev *out,
                   tb_err *err)
{
    const in_state *st = e->state;
    tb_ev x;
    uint32_t i, m;
    uint8_t *o;
    tb_rc rc;

    if (!st->use_set) {
        rc = tb_expr_ev(st->or_expr, batch, n, arena, &x, err);
        if (rc != TB_OK || !e->negate) {
            *out = x;
            return rc;
        }
        m = x.konst ? 1 : n;
        rc = tb_expr_ev_alloc(out, tb_type_make(TB_T_BOOL), m, x.konst, arena, err);
        if (rc != TB_OK)
            return rc;
        o = out->v.data;
        for (i = 0; i < m; i++)
            o[i] = ((const uint8_t *)x.v.data)[i] == 0;
        out->v.valid = x.v.valid;
        return TB_OK;
    }
    rc = tb_expr_ev(e->args[0], batch, n, arena, &x, err);
    if (rc != TB_OK)
        return rc;
    m = x.konst ? 1 : n;
    rc = tb_expr_ev_alloc(out, tb_type_make(TB_T_BOOL), m, x.konst, arena, err);
    if (rc != TB_OK)
        return rc;
    o = out->v.data;
    if (x.v.valid != NULL || st->has_null) {
        out->v.valid = bitmap_new(m, true, arena);
        if (out->v.valid == NULL)
            return tb_expr_nomem(err);
    }
    if (st->n_vals == 0) {
        /* only NULL items */
        memset(o, 0, m);
    } else if (x.v.type.id == TB_T_INT32 || x.v.type.id == TB_T_DATE) {
        /* hot path: integer keys probed without building tb_values */
        const int32_t *d = x.v.data;
        for (i = 0; i < m; i++) {
            tb_value v;
            v.type = x.v.type;
            v.u.i = d[i];
            o[i] = tb_vec_is_null(&x.v, i) ? 0 : inset_find(st, &v);
        }
    } else {
        for (i = 0; i < m; i++) {
            tb_value v;
            if (tb_vec_is_null(&x.v, i)) {
                o[i] = 0;
                continue;
            }
            tb_vec_get(&x.v, i, &v);
            o[i] = inset_find(st, &v);
        }
    }
    for (i = 0; i < m; i++) {
        bool isnull = tb_vec_is_null(&x.v, i) || (!o[i] && st->has_null);
        if (isnull)
            out->v.valid[i >> 6] &= ~((uint64_t)1 << (i & 63));
        if (e->negate)
            o[i] = !o[i];
    }
    return TB_OK;
}

/* ================================================================ the driver */

static bool expr_safe(const tb_expr *e)
{
    uint32_t i;
    switch (e->kind) {
    case TB_EX_COL:
    case TB_EX_CONST:
        return true;
    case TB_EX_CALL:
        if (e->fn == NULL || !(e->fn->flags & TB_FN_SAFE))
            return false;
        break;
    case TB_EX_CAST: {
        tb_type f = e->args[0]->type, t = e->type;
        bool ok = f.id == TB_T_NULL || t.id == TB_T_STRING ||
                  (tb_type_is_integer(f) && tb_type_is_integer(t) && f.id <= t.id) ||
                  (tb_type_is_numeric(f) && t.id == TB_T_DOUBLE) ||
                  (f.id == TB_T_DATE && t.id == TB_T_TIMESTAMP);
        if (!ok)
            return false;
        break;
    }
    case TB_EX_PARAM:
        return false;
    default:
        break;
    }
    for (i = 0; i < e->n_args; i++)
        if (!expr_safe(e->args[i]))
            return false;
    return true;
}

static tb_rc ev_call(const tb_expr *e, const tb_batch *batch, uint32_t n, tb_arena *arena,
                     tb_ev *out, tb_err *err)
{
    const tb_func *fn = e->fn;
    tb_ev abuf[4];
    tb_ev *args = abuf;
    bool all_konst = true;
    uint32_t i, m;
    tb_rc rc;

    if (fn->flags & TB_FN_LAZY)
        return ev_coalesce(e, batch, n, arena, out, err);
    if (e->n_args > 4) {
        args = tb_arena_alloc(arena, sizeof(*args) * e->n_args);
        if (args == NULL)
            return tb_expr_nomem(err);
    }
    for (i = 0; i < e->n_args; i++) {
        rc = tb_expr_ev(e->args[i], batch, n, arena, &args[i], err);
        if (rc != TB_OK)
            return rc;
        if (!args[i].konst)
            all_konst = false;
    }
    if (fn->flags & TB_FN_VOLATILE)
        all_konst = false;
    m = all_konst ? 1 : n;
    if (fn->flags & TB_FN_STRICT) {
        for (i = 0; i < e->n_args; i++) {
            if (args[i].konst && (args[i].v.type.id == TB_T_NULL || tb_vec_is_null(&args[i].v, 0)))
                return tb_expr_ev_null(out, e->type, arena, err);
        }
        rc = tb_expr_ev_alloc(out, e->type, m, all_konst, arena, err);
        if (rc != TB_OK)
            return rc;
        rc = combine_valid(args, e->n_args, m, arena, &out->v.valid, err);
        if (rc != TB_OK)
            return rc;
    } else {
        rc = tb_expr_ev_alloc(out, e->type, m, all_konst, arena, err);
        if (rc != TB_OK)
            return rc;
    }
    return fn->kernel(e, args, m, arena, out, err);
}

tb_rc tb_expr_ev(const tb_expr *e, const tb_batch *batch, uint32_t n, tb_arena *arena, tb_ev *out,
                 tb_err *err)
{
    switch (e->kind) {
    case TB_EX_COL:
        if (batch == NULL || e->col < 0 || (uint32_t)e->col >= batch->n_cols)
            return TB_ERRPOS(err, TB_E_MISUSE, e->pos, "expression: column %d not in input",
                             e->col);
        out->v = batch->cols[e->col];
        out->konst = false;
        return TB_OK;
    case TB_EX_CONST: {
        const const_state *st = e->state;
        if (st->v.type.id != e->type.id) /* a NULL literal retyped by tb_agg_resolve */
            return tb_expr_ev_null(out, e->type, arena, err);
        out->v = st->v;
        out->konst = true;
        return TB_OK;
    }
    case TB_EX_CALL:
        return ev_call(e, batch, n, arena, out, err);
    case TB_EX_CAST: {
        tb_ev a;
        tb_rc rc = tb_expr_ev(e->args[0], batch, n, arena, &a, err);
        if (rc != TB_OK)
            return rc;
        return tb_cast_ev(&a, e->type, a.konst ? 1 : n, e->pos, arena, out, err);
    }
    case TB_EX_AND:
    case TB_EX_OR:
        return ev_andor(e, batch, n, arena, out, err);
    case TB_EX_NOT:
        return ev_not(e, batch, n, arena, out, err);
    case TB_EX_IS_NULL:
        return ev_isnull(e, batch, n, arena, out, err);
    case TB_EX_CASE:
        return ev_case(e, batch, n, arena, out, err);
    case TB_EX_IN:
        return ev_in(e, batch, n, arena, out, err);
    case TB_EX_PARAM:
    default:
        return TB_ERRPOS(err, TB_E_UNSUPPORTED, e->pos, "expression kind %d not supported",
                         (int)e->kind);
    }
}

tb_rc tb_expr_eval(tb_expr *e, const tb_batch *batch, tb_arena *arena, tb_vec *out, tb_err *err)
{
    tb_ev ev;
    uint32_t n = batch != NULL ? batch->n_rows : 1;
    tb_rc rc = tb_expr_ev(e, batch, n, arena, &ev, err);
    if (rc != TB_OK)
        return rc;
    if (ev.konst) {
        rc = tb_expr_ev_flatten(&ev, n, arena, err);
        if (rc != TB_OK)
            return rc;
    } else if (ev.v.type.id == TB_T_NULL && ev.v.valid == NULL) {
        ev.v.valid = bitmap_new(n, false, arena);
        if (ev.v.valid == NULL)
            return tb_expr_nomem(err);
    }
    ev.v.type = e->type; /* numeric precision/scale as declared by the node */
    *out = ev.v;
    return TB_OK;
}

tb_rc tb_expr_eval_const(tb_expr *e, tb_arena *arena, tb_value *out, tb_err *err)
{
    tb_ev ev;
    tb_rc rc;
    if (refs_columns(e))
        return TB_ERRPOS(err, TB_E_MISUSE, e->pos, "expression is not constant");
    rc = tb_expr_ev(e, NULL, 1, arena, &ev, err);
    if (rc != TB_OK)
        return rc;
    tb_vec_get(&ev.v, 0, out);
    out->type = e->type;
    return TB_OK;
}

/* ================================================================ formatting */

static tb_rc fmt_value(const tb_value *v, tb_buf *buf)
{
    char tb[64];
    tb_rc rc;
    size_t i;
    if (v->is_null || v->type.id == TB_T_NULL)
        return tb_buf_puts(buf, "NULL");
    switch ((tb_type_id)v->type.id) {
    case TB_T_STRING:
        rc = tb_buf_putc(buf, '\'');
        for (i = 0; rc == TB_OK && i < v->u.s.len; i++) {
            if (v->u.s.ptr[i] == '\'')
                rc = tb_buf_putc(buf, '\'');
            if (rc == TB_OK)
                rc = tb_buf_putc(buf, v->u.s.ptr[i]);
        }
        return rc != TB_OK ? rc : tb_buf_putc(buf, '\'');
    case TB_T_DATE:
    case TB_T_TIMESTAMP:
    case TB_T_INTERVAL:
        if ((rc = tb_buf_putc(buf, '\'')) != TB_OK || (rc = tb_value_format(v, buf)) != TB_OK)
            return rc;
        return tb_buf_printf(buf, "'::%s", tb_type_name(v->type, tb, sizeof(tb)));
    default:
        return tb_value_format(v, buf);
    }
}

static bool is_op_name(const char *s)
{
    return s != NULL && s[0] != '\0' && !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_');
}

static const char *op_display(const char *s)
{
    if (strcmp(s, "~~") == 0)
        return "LIKE";
    if (strcmp(s, "!~~") == 0)
        return "NOT LIKE";
    if (strcmp(s, "~~*") == 0)
        return "ILIKE";
    if (strcmp(s, "!~~*") == 0)
        return "NOT ILIKE";
    return s;
}

static tb_rc fmt(const tb_expr *e, const tb_schema *in, tb_buf *buf)
{
    tb_rc rc = TB_OK;
    uint32_t i;
    char tb[64];

#define P(s)                                                                                       \
    do {                                                                                           \
        if ((rc = tb_buf_puts(buf, (s))) != TB_OK)                                                 \
            return rc;                                                                             \
    } while (0)
#define SUB(x)                                                                                     \
    do {                                                                                           \
        if ((rc = fmt((x), in, buf)) != TB_OK)                                                     \
            return rc;                                                                             \
    } while (0)

    switch (e->kind) {
    case TB_EX_COL:
        if (in != NULL && e->col >= 0 && (uint32_t)e->col < in->n && in->fields[e->col].name)
            P(in->fields[e->col].name);
        else
            rc = tb_buf_printf(buf, "#%d", e->col);
        return rc;
    case TB_EX_CONST:
        return fmt_value(&e->value, buf);
    case TB_EX_CALL:
        if (is_op_name(e->fn_name) && e->n_args == 2) {
            P("(");
            SUB(e->args[0]);
            P(" ");
            P(op_display(e->fn_name));
            P(" ");
            SUB(e->args[1]);
            P(")");
            return TB_OK;
        }
        if (is_op_name(e->fn_name) && e->n_args == 1) {
            P("(");
            P(e->fn_name);
            SUB(e->args[0]);
            P(")");
            return TB_OK;
        }
        P(e->fn_name != NULL ? e->fn_name : "?");
        P("(");
        for (i = 0; i < e->n_args; i++) {
            if (i > 0)
                P(", ");
            SUB(e->args[i]);
        }
        P(")");
        return TB_OK;
    case TB_EX_CAST:
        P("CAST(");
        SUB(e->args[0]);
        P(" AS ");
        P(tb_type_name(e->type, tb, sizeof(tb)));
        P(")");
        return TB_OK;
    case TB_EX_AND:
    case TB_EX_OR:
        P("(");
        for (i = 0; i < e->n_args; i++) {
            if (i > 0)
                P(e->kind == TB_EX_AND ? " AND " : " OR ");
            SUB(e->args[i]);
        }
        P(")");
        return TB_OK;
    case TB_EX_NOT:
        P("(NOT ");
        SUB(e->args[0]);
        P(")");
        return TB_OK;
    case TB_EX_IS_NULL:
        P("(");
        SUB(e->args[0]);
        P(e->negate ? " IS NOT NULL)" : " IS NULL)");
        return TB_OK;
    case TB_EX_CASE: {
        uint32_t n_pairs = (e->n_args - (e->has_else ? 1 : 0)) / 2;
        P("CASE");
        for (i = 0; i < n_pairs; i++) {
            P(" WHEN ");
            SUB(e->args[(size_t)2 * i]);
            P(" THEN ");
            SUB(e->args[2 * i + 1]);
        }
        if (e->has_else) {
            P(" ELSE ");
            SUB(e->args[e->n_args - 1]);
        }
        P(" END");
        return TB_OK;
    }
    case TB_EX_IN:
        P("(");
        SUB(e->args[0]);
        P(e->negate ? " NOT IN (" : " IN (");
        for (i = 1; i < e->n_args; i++) {
            if (i > 1)
                P(", ");
            SUB(e->args[i]);
        }
        P("))");
        return TB_OK;
    case TB_EX_PARAM:
        return tb_buf_printf(buf, "$%d", e->col);
    default:
        return tb_buf_puts(buf, "?");
    }
#undef P
#undef SUB
}

tb_rc tb_expr_format(const tb_expr *e, const tb_schema *input, tb_buf *buf)
{
    return fmt(e, input, buf);
}
