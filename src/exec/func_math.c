/*
 * func_math.c - mathematical functions.
 *
 * Overloads follow PostgreSQL where it has them: abs keeps integer types (abs of the
 * minimum value is "integer out of range"); round/ceil/floor/trunc/sign of numeric stay
 * numeric (round half away from zero), of double stay double (round(double) rounds half
 * to even like rint, as PostgreSQL); integers go to double for the one-argument forms
 * (PostgreSQL prefers double precision) and to numeric for round(x, n)/trunc(x, n).
 * Extensions: round(double, n) and trunc(double, n) exist (half away from zero). The
 * transcendental functions (sqrt, cbrt, exp, ln, log, log10, power, trigonometry) are
 * double precision only; numeric arguments are converted (PostgreSQL would keep
 * numeric: a documented gap). Domain errors use PostgreSQL's messages.
 */
#include "exec/expr_int.h"

#include <math.h>
#include <string.h>

enum {
    M_SQRT,
    M_CBRT,
    M_EXP,
    M_LN,
    M_LOG10,
    M_CEIL,
    M_FLOOR,
    M_ROUND,
    M_TRUNC,
    M_SIGN,
    M_ABS,
    M_DEGREES,
    M_RADIANS,
    M_SIN,
    M_COS,
    M_TAN,
    M_ASIN,
    M_ACOS,
    M_ATAN,
    M_COT
};

static tb_rc mk(tb_arena *arena, const char *name, tb_kernel k, uint32_t flags, int op, tb_type t,
                tb_expr **args, uint32_t n, int pos, tb_expr **out, tb_func **pfn, tb_err *err)
{
    tb_func *fn = tb_expr_func_new(arena, name, k, flags, op);
    if (fn == NULL || (*out = tb_expr_new_call(arena, name, fn, t, args, n, pos)) == NULL)
        return tb_expr_nomem(err);
    if (pfn != NULL)
        *pfn = fn;
    return TB_OK;
}

static bool untyped(const tb_expr *e)
{
    return e->type.id == TB_T_NULL || tb_expr_is_unknown_lit(e);
}

/* ---------------------------------------------------------------- double kernels */

/* glibc's cbrt is not correctly rounded (cbrt(27) = 3.0000000000000004); one Newton
 * step fixes exact cubes. */
static double cbrt_exact(double x)
{
    double r = cbrt(x);
    if (r != 0 && isfinite(r))
        r = r - (r * r * r - x) / (3 * r * r);
    return r;
}

static tb_rc k_dbl1(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                    tb_err *err)
{
    const double *a = args[0].v.data;
    double *o = out->v.data;
    uint32_t i;
    int op = e->fn->op;
    TB_UNUSED(arena);

#define DLOOP(EXPR)                                                                                \
    for (i = 0; i < n; i++) {                                                                      \
        double x = a[i];                                                                           \
        o[i] = (EXPR);                                                                             \
    }                                                                                              \
    break
    switch (op) {
    case M_CBRT:
        DLOOP(cbrt_exact(x));
    case M_CEIL:
        DLOOP(ceil(x));
    case M_FLOOR:
        DLOOP(floor(x));
    case M_ROUND:
        DLOOP(rint(x));
    case M_TRUNC:
        DLOOP(trunc(x));
    case M_SIGN:
        DLOOP(x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0);
    case M_ABS:
        DLOOP(fabs(x));
    case M_DEGREES:
        DLOOP(x * (180.0 / M_PI));
    case M_RADIANS:
        DLOOP(x * (M_PI / 180.0));
    case M_SIN:
        DLOOP(sin(x));
    case M_COS:
        DLOOP(cos(x));
    case M_TAN:
        DLOOP(tan(x));
    case M_ATAN:
        DLOOP(atan(x));
    default:
        /* functions with domain errors: check valid rows */
        for (i = 0; i < n; i++) {
            double x = a[i], r = 0;
            bool valid = !tb_vec_is_null(&out->v, i);
            switch (op) {
            case M_SQRT:
                if (x < 0 && valid)
                    return TB_ERRPOS(err, TB_E_RANGE, e->pos,
                                     "cannot take square root of a negative number");
                r = sqrt(x);
                break;
            case M_EXP:
                r = exp(x);
                if (valid && isinf(r) && !isinf(x))
                    return TB_ERRPOS(err, TB_E_RANGE, e->pos, "value out of range: overflow");
                break;
            case M_LN:
            case M_LOG10:
                if (valid && x == 0)
                    return TB_ERRPOS(err, TB_E_RANGE, e->pos, "cannot take logarithm of zero");
                if (valid && x < 0)
                    return TB_ERRPOS(err, TB_E_RANGE, e->pos,
                                     "cannot take logarithm of a negative number");
                r = op == M_LN ? log(x) : log10(x);
                break;
            case M_ASIN:
            case M_ACOS:
                if (valid && (x < -1 || x > 1))
                    return TB_ERRPOS(err, TB_E_RANGE, e->pos, "input is out of range");
                r = op == M_ASIN ? asin(x) : acos(x);
                break;
            case M_COT:
                r = 1.0 / tan(x);
                break;
            default:
                r = x;
                break;
            }
            o[i] = r;
        }
        break;
    }
#undef DLOOP
    return TB_OK;
}

/* power(x, y), log(b, x), atan2(y, x) */
static tb_rc k_dbl2(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                    tb_err *err)
{
    const double *a = args[0].v.data, *b = args[1].v.data;
    double *o = out->v.data;
    uint32_t i;
    int op = e->fn->op;
    TB_UNUSED(arena);
    for (i = 0; i < n; i++) {
        double x = a[TB_IX(&args[0], i)], y = b[TB_IX(&args[1], i)], r;
        bool valid = !tb_vec_is_null(&out->v, i);
        if (op == 0) { /* power */
            if (valid && x == 0 && y < 0)
                return TB_ERRPOS(err, TB_E_RANGE, e->pos,
                                 "zero raised to a negative power is undefined");
            if (valid && x < 0 && floor(y) != y && !isinf(y))
                return TB_ERRPOS(err, TB_E_RANGE, e->pos,
                                 "a negative number raised to a non-integer power yields a "
                                 "complex result");
            r = pow(x, y);
            if (valid && isinf(r) && !isinf(x) && !isinf(y))
                return TB_ERRPOS(err, TB_E_RANGE, e->pos, "value out of range: overflow");
        } else if (op == 1) { /* log(b, x) */
            if (valid && (x <= 0 || y <= 0))
                return TB_ERRPOS(err, TB_E_RANGE, e->pos,
                                 x == 0 || y == 0 ? "cannot take logarithm of zero"
                                                  : "cannot take logarithm of a negative number");
            /* log10 ratios are exact for powers of ten and of two in practice
             * (log(2, 8) = 3, not 3.0000000000000004) */
            r = x == 2 ? log2(y) : log10(y) / log10(x);
            if (valid && (isinf(r) || isnan(r)) && x == 1)
                return TB_ERRPOS(err, TB_E_RANGE, e->pos, "division by zero");
        } else {
            r = atan2(x, y);
        }
        o[i] = r;
    }
    return TB_OK;
}

/* round(double, n) / trunc(double, n): half away from zero on the decimal digits */
static tb_rc k_dbl_round_n(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                           tb_err *err)
{
    const double *a = args[0].v.data;
    const int32_t *d = args[1].v.data;
    double *o = out->v.data;
    uint32_t i;
    TB_UNUSED(arena);
    TB_UNUSED(err);
    for (i = 0; i < n; i++) {
        double x = a[TB_IX(&args[0], i)];
        int32_t k = d[TB_IX(&args[1], i)];
        double p, r;
        if (k > 308)
            k = 308;
        if (k < -308)
            k = -308;
        p = pow(10.0, k);
        r = e->fn->op == M_TRUNC ? trunc(x * p) / p : round(x * p) / p;
        o[i] = isfinite(r) ? r : x;
    }
    return TB_OK;
}

static tb_rc k_random(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                      tb_err *err)
{
    static _Thread_local uint64_t state;
    double *o = out->v.data;
    uint32_t i;
    TB_UNUSED(e);
    TB_UNUSED(args);
    TB_UNUSED(arena);
    TB_UNUSED(err);
    if (state == 0)
        state = tb_hash_u64((uint64_t)tb_wall_us() ^ (uint64_t)(uintptr_t)&state) | 1;
    for (i = 0; i < n; i++) {
        /* xorshift64* */
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        o[i] = (double)((state * 0x2545F4914F6CDD1DULL) >> 11) * (1.0 / 9007199254740992.0);
    }
    return TB_OK;
}

static tb_rc k_pi(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                  tb_err *err)
{
    uint32_t i;
    TB_UNUSED(e);
    TB_UNUSED(args);
    TB_UNUSED(arena);
    TB_UNUSED(err);
    for (i = 0; i < n; i++)
        ((double *)out->v.data)[i] = M_PI;
    return TB_OK;
}

/* ---------------------------------------------------------------- integer / numeric */

static tb_rc k_abs_int(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                       tb_err *err)
{
    uint32_t i;
    TB_UNUSED(arena);
    switch ((tb_type_id)e->type.id) {
    case TB_T_INT16: {
        const int16_t *a = args[0].v.data;
        int16_t *o = out->v.data;
        for (i = 0; i < n; i++) {
            if (a[i] == INT16_MIN && !tb_vec_is_null(&out->v, i))
                return TB_ERRPOS(err, TB_E_RANGE, e->pos, "smallint out of range");
            o[i] = (int16_t)(a[i] < 0 && a[i] != INT16_MIN ? -a[i] : a[i]);
        }
        break;
    }
    case TB_T_INT32: {
        const int32_t *a = args[0].v.data;
        int32_t *o = out->v.data;
        for (i = 0; i < n; i++) {
            if (a[i] == INT32_MIN && !tb_vec_is_null(&out->v, i))
                return TB_ERRPOS(err, TB_E_RANGE, e->pos, "integer out of range");
            o[i] = a[i] < 0 && a[i] != INT32_MIN ? -a[i] : a[i];
        }
        break;
    }
    default: {
        const int64_t *a = args[0].v.data;
        int64_t *o = out->v.data;
        for (i = 0; i < n; i++) {
            if (a[i] == INT64_MIN && !tb_vec_is_null(&out->v, i))
                return TB_ERRPOS(err, TB_E_RANGE, e->pos, "bigint out of range");
            o[i] = a[i] < 0 && a[i] != INT64_MIN ? -a[i] : a[i];
        }
        break;
    }
    }
    return TB_OK;
}

/* numeric: op on args[0] (scale sa) with optional digits arg; result scale rs = e->type */
static tb_rc k_dec(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                   tb_err *err)
{
    const tb_i128 *a = args[0].v.data;
    const int32_t *dg = e->n_args > 1 ? args[1].v.data : NULL;
    tb_i128 *o = out->v.data;
    int sa = (int)e->fn->k0, rs = e->type.scale, op = e->fn->op;
    uint32_t i;
    TB_UNUSED(arena);
    for (i = 0; i < n; i++) {
        tb_i128 x = a[TB_IX(&args[0], i)], r = 0, p, q;
        int digits = dg != NULL ? dg[TB_IX(&args[1], i)] : 0;
        if (tb_vec_is_null(&out->v, i)) {
            o[i] = 0;
            continue;
        }
        switch (op) {
        case M_ABS:
            r = x < 0 ? -x : x;
            break;
        case M_SIGN:
            r = (tb_i128)((x > 0) - (x < 0)) * tb_i128_pow10(rs);
            break;
        case M_CEIL:
        case M_FLOOR:
        case M_ROUND:
        case M_TRUNC: {
            /* keep `digits` fraction digits of x (digits may be negative) */
            int drop = sa - digits;
            if (drop <= 0) {
                r = x;
            } else if (drop > 38) {
                r = 0;
            } else {
                p = tb_i128_pow10(drop);
                q = x / p;
                tb_i128 rem = x % p;
                if (op == M_ROUND) {
                    tb_i128 ar = rem < 0 ? -rem : rem;
                    if (ar >= p - ar)
                        q += x < 0 ? -1 : 1;
                } else if (op == M_CEIL && rem > 0) {
                    q += 1;
                } else if (op == M_FLOOR && rem < 0) {
                    q -= 1;
                }
                if (__builtin_mul_overflow(q, p, &r))
                    return TB_ERRPOS(err, TB_E_RANGE, e->pos, "numeric field overflow");
            }
            /* r has scale sa; bring to rs */
            if (!tb_dec_rescale(r, sa, rs, &r) || !tb_dec_fits(r, 38))
                return TB_ERRPOS(err, TB_E_RANGE, e->pos, "numeric field overflow");
            break;
        }
        default:
            r = x;
            break;
        }
        o[i] = r;
    }
    return TB_OK;
}

/* ---------------------------------------------------------------- resolvers */

static const struct {
    const char *name;
    int op;
} m1[] = {
    {"sqrt", M_SQRT},       {"cbrt", M_CBRT},       {"exp", M_EXP},      {"ln", M_LN},
    {"log10", M_LOG10},     {"ceil", M_CEIL},       {"ceiling", M_CEIL}, {"floor", M_FLOOR},
    {"round", M_ROUND},     {"trunc", M_TRUNC},     {"sign", M_SIGN},    {"abs", M_ABS},
    {"degrees", M_DEGREES}, {"radians", M_RADIANS}, {"sin", M_SIN},      {"cos", M_COS},
    {"tan", M_TAN},         {"asin", M_ASIN},       {"acos", M_ACOS},    {"atan", M_ATAN},
    {"cot", M_COT},         {"log", M_LOG10},
};

static int m1_op(const char *name)
{
    size_t k;
    for (k = 0; k < sizeof(m1) / sizeof(m1[0]); k++)
        if (strcmp(m1[k].name, name) == 0)
            return m1[k].op;
    return -1;
}

static tb_rc to_double(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, uint32_t i,
                       int pos, tb_err *err)
{
    if (!tb_type_is_numeric(args[i]->type) && !untyped(args[i]))
        return tb_func_no_overload(name, args, n, pos, err);
    return tb_cast_build(arena, args[i], tb_type_make(TB_T_DOUBLE), TB_CAST_IMPLICIT, pos, &args[i],
                         err);
}

static tb_rc r_math1(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                     tb_expr **out, tb_err *err)
{
    int op = m1_op(name);
    tb_type t;
    tb_func *fn = NULL;
    tb_rc rc;
    bool rounding;

    if (n != 1 && !(n == 2 && (op == M_ROUND || op == M_TRUNC)))
        return tb_func_no_overload(name, args, n, pos, err);
    t = args[0]->type;
    rounding = op == M_CEIL || op == M_FLOOR || op == M_ROUND || op == M_TRUNC;
    if (n == 2) {
        rc = tb_func_coerce_arg(arena, name, args, n, 1, tb_type_make(TB_T_INT32), pos, err);
        if (rc != TB_OK)
            return rc;
        if (untyped(args[0]))
            rc = tb_cast_build(arena, args[0], tb_type_decimal(38, 10), TB_CAST_IMPLICIT, pos,
                               &args[0], err);
        else if (tb_type_is_integer(t))
            rc = tb_cast_build(arena, args[0], tb_cast_int_decimal(t), TB_CAST_IMPLICIT, pos,
                               &args[0], err);
        if (rc != TB_OK)
            return rc;
        t = args[0]->type;
        if (t.id == TB_T_FLOAT || t.id == TB_T_DOUBLE) {
            rc = to_double(arena, name, args, n, 0, pos, err);
            if (rc != TB_OK)
                return rc;
            return mk(arena, name, k_dbl_round_n, TB_FN_STRICT | TB_FN_SAFE, op,
                      tb_type_make(TB_T_DOUBLE), args, n, pos, out, NULL, err);
        }
        if (t.id != TB_T_DECIMAL)
            return tb_func_no_overload(name, args, n, pos, err);
        {
            int rs = t.scale;
            if (args[1]->kind == TB_EX_CONST && !args[1]->value.is_null) {
                int64_t d = args[1]->value.u.i;
                rs = d < 0 ? 0 : d > 38 ? 38 : (int)d;
            }
            rc = mk(arena, name, k_dec, TB_FN_STRICT, op, tb_type_decimal(38, rs), args, n, pos,
                    out, &fn, err);
            if (rc == TB_OK && fn != NULL)
                fn->k0 = t.scale;
            return rc;
        }
    }
    if (t.id == TB_T_DECIMAL && (rounding || op == M_ABS || op == M_SIGN)) {
        int rs = rounding ? 0 : op == M_SIGN ? 0 : t.scale;
        rc = mk(arena, name, k_dec, TB_FN_STRICT, op, tb_type_decimal(38, rs), args, n, pos, out,
                &fn, err);
        if (rc == TB_OK && fn != NULL)
            fn->k0 = t.scale;
        return rc;
    }
    if (op == M_ABS && tb_type_is_integer(t))
        return mk(arena, name, k_abs_int, TB_FN_STRICT, op, t, args, n, pos, out, NULL, err);
    /* abs(real) is real in PostgreSQL; here every float result is double precision */
    rc = to_double(arena, name, args, n, 0, pos, err);
    if (rc != TB_OK)
        return rc;
    return mk(arena, name, k_dbl1,
              TB_FN_STRICT | ((op == M_SQRT || op == M_EXP || op == M_LN || op == M_LOG10 ||
                               op == M_ASIN || op == M_ACOS)
                                  ? 0
                                  : TB_FN_SAFE),
              op, tb_type_make(TB_T_DOUBLE), args, n, pos, out, NULL, err);
}

static tb_rc r_log(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                   tb_expr **out, tb_err *err)
{
    tb_rc rc;
    if (n == 1)
        return r_math1(arena, name, args, n, pos, out, err);
    if (n != 2)
        return tb_func_no_overload(name, args, n, pos, err);
    if ((rc = to_double(arena, name, args, n, 0, pos, err)) != TB_OK ||
        (rc = to_double(arena, name, args, n, 1, pos, err)) != TB_OK)
        return rc;
    return mk(arena, name, k_dbl2, TB_FN_STRICT, 1, tb_type_make(TB_T_DOUBLE), args, n, pos, out,
              NULL, err);
}

static tb_rc r_math2(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                     tb_expr **out, tb_err *err)
{
    tb_rc rc;
    int op = strcmp(name, "atan2") == 0 ? 2 : 0;
    if (n != 2)
        return tb_func_no_overload(name, args, n, pos, err);
    if ((rc = to_double(arena, name, args, n, 0, pos, err)) != TB_OK ||
        (rc = to_double(arena, name, args, n, 1, pos, err)) != TB_OK)
        return rc;
    return mk(arena, name, k_dbl2, TB_FN_STRICT | (op == 2 ? TB_FN_SAFE : 0), op,
              tb_type_make(TB_T_DOUBLE), args, n, pos, out, NULL, err);
}

static tb_rc r_mod(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                   tb_expr **out, tb_err *err)
{
    tb_rc rc;
    if (n != 2)
        return tb_func_no_overload(name, args, n, pos, err);
    rc = tb_expr_call(arena, "%", args, n, pos, out, err);
    if (rc == TB_OK) {
        (*out)->fn_name = "mod";
        return TB_OK;
    }
    return rc == TB_E_TYPE ? tb_func_no_overload(name, args, n, pos, err) : rc;
}

static tb_rc r_random(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                      tb_expr **out, tb_err *err)
{
    if (n != 0)
        return tb_func_no_overload(name, args, n, pos, err);
    return mk(arena, name, k_random, TB_FN_VOLATILE | TB_FN_SAFE, 0, tb_type_make(TB_T_DOUBLE),
              args, 0, pos, out, NULL, err);
}

static tb_rc r_pi(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                  tb_expr **out, tb_err *err)
{
    if (n != 0)
        return tb_func_no_overload(name, args, n, pos, err);
    return mk(arena, name, k_pi, TB_FN_SAFE, 0, tb_type_make(TB_T_DOUBLE), args, 0, pos, out, NULL,
              err);
}

const tb_fn_entry tb_func_math_table[] = {
    {"abs", r_math1},     {"sign", r_math1},    {"round", r_math1},   {"ceil", r_math1},
    {"ceiling", r_math1}, {"floor", r_math1},   {"trunc", r_math1},   {"sqrt", r_math1},
    {"cbrt", r_math1},    {"exp", r_math1},     {"ln", r_math1},      {"log10", r_math1},
    {"log", r_log},       {"power", r_math2},   {"pow", r_math2},     {"atan2", r_math2},
    {"degrees", r_math1}, {"radians", r_math1}, {"sin", r_math1},     {"cos", r_math1},
    {"tan", r_math1},     {"asin", r_math1},    {"acos", r_math1},    {"atan", r_math1},
    {"cot", r_math1},     {"mod", r_mod},       {"random", r_random}, {"pi", r_pi},
    {NULL, NULL},
};
