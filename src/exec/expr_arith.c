/*
 * expr_arith.c - operators: + - * / % (and unary -), comparisons, || ; their
 * PostgreSQL-style resolution and their vectorized kernels.
 *
 * Resolution: an untyped literal or NULL takes the other operand's type; numbers
 * promote (smallint -> integer -> bigint -> numeric -> real/double, with real op real
 * staying real and real op anything-else becoming double); date and timestamp compare
 * as timestamp; temporal arithmetic is delegated to func_time.c.
 *
 * Numeric (decimal) result scales, fixed per expression because our decimals are
 * fixed-point with at most 38 digits:
 *   a + b, a - b, a % b : max(sa, sb)
 *   a * b              : sa + sb, but at most max(16, sa, sb) (rounded half away)
 *   a / b              : max(16, sa, sb) (PostgreSQL shows 16+ significant digits:
 *                        10::numeric / 4 = 2.5000000000000000 in both)
 * Results beyond 38 digits are "numeric field overflow".
 *
 * Kernels: one function per (type family), switching on the operator once per batch,
 * with separate loops for column-column, column-constant and constant-column so the
 * constant lives in a register. Overflow and division by zero are accumulated in a
 * flag during the loop and re-checked against validity only when set (NULL rows hold
 * unspecified data).
 */
#include "exec/expr_int.h"

#include <math.h>
#include <string.h>

typedef unsigned __int128 u128;

/* ================================================================ 256-bit helpers */

static void mul_u128(u128 a, u128 b, u128 *hi, u128 *lo)
{
    uint64_t a0 = (uint64_t)a, a1 = (uint64_t)(a >> 64), b0 = (uint64_t)b, b1 = (uint64_t)(b >> 64);
    u128 p00 = (u128)a0 * b0, p01 = (u128)a0 * b1, p10 = (u128)a1 * b0, p11 = (u128)a1 * b1;
    u128 mid = (p00 >> 64) + (uint64_t)p01 + (uint64_t)p10;
    *lo = (mid << 64) | (uint64_t)p00;
    *hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
}

static bool div_256(u128 hi, u128 lo, u128 d, u128 *q, u128 *r)
{
    u128 rem = hi, quo = 0;
    int i;
    if (hi >= d)
        return false;
    for (i = 127; i >= 0; i--) {
        bool carry = (rem >> 127) != 0;
        rem = (rem << 1) | ((lo >> i) & 1);
        quo <<= 1;
        if (carry || rem >= d) {
            rem -= d;
            quo |= 1;
        }
    }
    *q = quo;
    *r = rem;
    return true;
}

bool tb_dec_muldiv(tb_i128 a, tb_i128 b, tb_i128 d, tb_i128 *out)
{
    bool neg = (a < 0) != (b < 0);
    u128 ua, ub, ud, hi, lo, q, r;
    tb_i128 p;

    if (d == 0)
        return false;
    if (d < 0)
        neg = !neg;
    if (!__builtin_mul_overflow(a, b, &p)) {
        tb_i128 qq = p / d, rr = p % d;
        if (rr < 0)
            rr = -rr;
        if (rr != 0 && rr >= (d < 0 ? -d : d) - rr)
            qq += neg ? -1 : 1;
        if (!tb_dec_fits(qq, 38))
            return false;
        *out = qq;
        return true;
    }
    ua = a < 0 ? (u128)0 - (u128)a : (u128)a;
    ub = b < 0 ? (u128)0 - (u128)b : (u128)b;
    ud = d < 0 ? (u128)0 - (u128)d : (u128)d;
    mul_u128(ua, ub, &hi, &lo);
    if (!div_256(hi, lo, ud, &q, &r))
        return false;
    if (r >= ud - r)
        q++;
    if (q >= (u128)tb_i128_pow10(38))
        return false;
    *out = neg ? -(tb_i128)q : (tb_i128)q;
    return true;
}

/* ================================================================ loops */

/* STMT uses x, y (operands) and i (output row). */
#define LOOP2(TA, TB, STMT)                                                                        \
    do {                                                                                           \
        const TA *pa_ = args[0].v.data;                                                            \
        const TB *pb_ = args[1].v.data;                                                            \
        if (!args[0].konst && !args[1].konst) {                                                    \
            for (uint32_t i = 0; i < n; i++) {                                                     \
                TA x = pa_[i];                                                                     \
                TB y = pb_[i];                                                                     \
                STMT;                                                                              \
            }                                                                                      \
        } else if (!args[0].konst) {                                                               \
            TB y = pb_[0];                                                                         \
            for (uint32_t i = 0; i < n; i++) {                                                     \
                TA x = pa_[i];                                                                     \
                STMT;                                                                              \
            }                                                                                      \
        } else if (!args[1].konst) {                                                               \
            TA x = pa_[0];                                                                         \
            for (uint32_t i = 0; i < n; i++) {                                                     \
                TB y = pb_[i];                                                                     \
                STMT;                                                                              \
            }                                                                                      \
        } else {                                                                                   \
            for (uint32_t i = 0; i < n; i++) {                                                     \
                TA x = pa_[0];                                                                     \
                TB y = pb_[0];                                                                     \
                STMT;                                                                              \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* first valid output row where COND (over x, y) holds */
#define FIND2(TA, TB, COND, res)                                                                   \
    do {                                                                                           \
        const TA *pa_ = args[0].v.data;                                                            \
        const TB *pb_ = args[1].v.data;                                                            \
        (res) = UINT32_MAX;                                                                        \
        for (uint32_t i = 0; i < n; i++) {                                                         \
            TA x = pa_[TB_IX(&args[0], i)];                                                        \
            TB y = pb_[TB_IX(&args[1], i)];                                                        \
            (void)x;                                                                               \
            (void)y;                                                                               \
            if (!tb_vec_is_null(&out->v, i) && (COND)) {                                           \
                (res) = i;                                                                         \
                break;                                                                             \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#define CMP_OPS(T, EQ, LT, LE)                                                                     \
    do {                                                                                           \
        uint8_t *o = out->v.data;                                                                  \
        switch (e->fn->op) {                                                                       \
        case TB_OP_EQ:                                                                             \
            LOOP2(T, T, o[i] = (EQ));                                                              \
            break;                                                                                 \
        case TB_OP_NE:                                                                             \
            LOOP2(T, T, o[i] = !(EQ));                                                             \
            break;                                                                                 \
        case TB_OP_LT:                                                                             \
            LOOP2(T, T, o[i] = (LT));                                                              \
            break;                                                                                 \
        case TB_OP_LE:                                                                             \
            LOOP2(T, T, o[i] = (LE));                                                              \
            break;                                                                                 \
        case TB_OP_GT:                                                                             \
            LOOP2(T, T, o[i] = !(LE));                                                             \
            break;                                                                                 \
        default:                                                                                   \
            LOOP2(T, T, o[i] = !(LT));                                                             \
            break;                                                                                 \
        }                                                                                          \
    } while (0)

/* ================================================================ comparisons */

#define CMP_KERNEL(NAME, T)                                                                        \
    static tb_rc NAME(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,      \
                      tb_err *err)                                                                 \
    {                                                                                              \
        TB_UNUSED(arena);                                                                          \
        TB_UNUSED(err);                                                                            \
        CMP_OPS(T, x == y, x < y, x <= y);                                                         \
        return TB_OK;                                                                              \
    }

CMP_KERNEL(cmp_u8, uint8_t)
CMP_KERNEL(cmp_i16, int16_t)
CMP_KERNEL(cmp_i32, int32_t)
CMP_KERNEL(cmp_i64, int64_t)
CMP_KERNEL(cmp_i128, tb_i128)

/* PostgreSQL: NaN = NaN and NaN sorts above everything. */
#define F_EQ(x, y) (isnan(x) ? isnan(y) : (x) == (y))
#define F_LT(x, y) (isnan(y) ? !isnan(x) : (x) < (y))
#define F_LE(x, y) (isnan(y) ? 1 : (x) <= (y))

static tb_rc cmp_f32(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                     tb_err *err)
{
    TB_UNUSED(arena);
    TB_UNUSED(err);
    CMP_OPS(float, F_EQ(x, y), F_LT(x, y), F_LE(x, y));
    return TB_OK;
}

static tb_rc cmp_f64(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                     tb_err *err)
{
    TB_UNUSED(arena);
    TB_UNUSED(err);
    CMP_OPS(double, F_EQ(x, y), F_LT(x, y), F_LE(x, y));
    return TB_OK;
}

static inline int str_cmp(tb_str a, tb_str b)
{
    uint32_t m = a.len < b.len ? a.len : b.len;
    int c = m ? memcmp(a.ptr, b.ptr, m) : 0;
    if (c != 0)
        return c;
    return (a.len > b.len) - (a.len < b.len);
}

static inline bool str_eq(tb_str a, tb_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static tb_rc cmp_str(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                     tb_err *err)
{
    TB_UNUSED(arena);
    TB_UNUSED(err);
    /* NULL rows may hold garbage views: compare only valid rows */
    if (out->v.valid == NULL) {
        CMP_OPS(tb_str, str_eq(x, y), str_cmp(x, y) < 0, str_cmp(x, y) <= 0);
    } else {
        const tb_str *a = args[0].v.data, *b = args[1].v.data;
        uint8_t *o = out->v.data;
        int op = e->fn->op;
        for (uint32_t i = 0; i < n; i++) {
            tb_str x, y;
            int c;
            if (tb_vec_is_null(&out->v, i)) {
                o[i] = 0;
                continue;
            }
            x = a[TB_IX(&args[0], i)];
            y = b[TB_IX(&args[1], i)];
            if (op == TB_OP_EQ || op == TB_OP_NE) {
                o[i] = str_eq(x, y) == (op == TB_OP_EQ);
                continue;
            }
            c = str_cmp(x, y);
            o[i] = op == TB_OP_LT   ? c < 0
                   : op == TB_OP_LE ? c <= 0
                   : op == TB_OP_GT ? c > 0
                                    : c >= 0;
        }
    }
    return TB_OK;
}

static tb_rc cmp_iv(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                    tb_err *err)
{
    TB_UNUSED(arena);
    TB_UNUSED(err);
    CMP_OPS(tb_interval, tb_iv_span(x) == tb_iv_span(y), tb_iv_span(x) < tb_iv_span(y),
            tb_iv_span(x) <= tb_iv_span(y));
    return TB_OK;
}

int tb_arith_cmp_rows(const tb_vec *a, uint32_t i, const tb_vec *b, uint32_t j)
{
#define C3(x, y) (((x) > (y)) - ((x) < (y)))
    switch ((tb_type_id)a->type.id) {
    case TB_T_BOOL:
        return C3(((const uint8_t *)a->data)[i], ((const uint8_t *)b->data)[j]);
    case TB_T_INT16:
        return C3(((const int16_t *)a->data)[i], ((const int16_t *)b->data)[j]);
    case TB_T_INT32:
    case TB_T_DATE:
        return C3(((const int32_t *)a->data)[i], ((const int32_t *)b->data)[j]);
    case TB_T_INT64:
    case TB_T_TIMESTAMP:
        return C3(((const int64_t *)a->data)[i], ((const int64_t *)b->data)[j]);
    case TB_T_FLOAT:
    case TB_T_DOUBLE: {
        double x =
            a->type.id == TB_T_FLOAT ? ((const float *)a->data)[i] : ((const double *)a->data)[i];
        double y =
            b->type.id == TB_T_FLOAT ? ((const float *)b->data)[j] : ((const double *)b->data)[j];
        if (F_EQ(x, y))
            return 0;
        return F_LT(x, y) ? -1 : 1;
    }
    case TB_T_DECIMAL:
        return C3(((const tb_i128 *)a->data)[i], ((const tb_i128 *)b->data)[j]);
    case TB_T_STRING:
        return str_cmp(((const tb_str *)a->data)[i], ((const tb_str *)b->data)[j]);
    case TB_T_INTERVAL:
        return C3(tb_iv_span(((const tb_interval *)a->data)[i]),
                  tb_iv_span(((const tb_interval *)b->data)[j]));
    default:
        return 0;
    }
#undef C3
}

/* ================================================================ integer arithmetic */

/* T is a type name: it cannot be parenthesized. */
/* NOLINTBEGIN(bugprone-macro-parentheses) */
#define INT_KERNEL(NAME, T, TMIN, MSG)                                                             \
    static tb_rc NAME(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,      \
                      tb_err *err)                                                                 \
    {                                                                                              \
        T *o = out->v.data;                                                                        \
        bool bad = false;                                                                          \
        uint32_t b;                                                                                \
        TB_UNUSED(arena);                                                                          \
        switch (e->fn->op) {                                                                       \
        case TB_OP_ADD:                                                                            \
            LOOP2(T, T, bad |= __builtin_add_overflow(x, y, &o[i]));                               \
            break;                                                                                 \
        case TB_OP_SUB:                                                                            \
            LOOP2(T, T, bad |= __builtin_sub_overflow(x, y, &o[i]));                               \
            break;                                                                                 \
        case TB_OP_MUL:                                                                            \
            LOOP2(T, T, bad |= __builtin_mul_overflow(x, y, &o[i]));                               \
            break;                                                                                 \
        case TB_OP_DIV:                                                                            \
            LOOP2(T, T, {                                                                          \
                bool z_ = (y == 0) | ((x == TMIN) & (y == -1));                                    \
                bad |= z_;                                                                         \
                o[i] = z_ ? 0 : (T)(x / y);                                                        \
            });                                                                                    \
            break;                                                                                 \
        case TB_OP_MOD:                                                                            \
            LOOP2(T, T, {                                                                          \
                bool z_ = y == 0;                                                                  \
                bad |= z_;                                                                         \
                o[i] = (z_ || y == -1) ? 0 : (T)(x % y);                                           \
            });                                                                                    \
            break;                                                                                 \
        default: { /* unary minus */                                                               \
            const T *pa = args[0].v.data;                                                          \
            for (uint32_t i = 0; i < n; i++) {                                                     \
                bad |= pa[i] == TMIN;                                                              \
                o[i] = pa[i] == TMIN ? 0 : (T)-pa[i];                                              \
            }                                                                                      \
            if (bad) {                                                                             \
                for (b = 0; b < n; b++)                                                            \
                    if (!tb_vec_is_null(&out->v, b) && pa[b] == TMIN)                              \
                        return TB_ERRPOS(err, TB_E_RANGE, e->pos, MSG);                            \
            }                                                                                      \
            return TB_OK;                                                                          \
        }                                                                                          \
        }                                                                                          \
        if (bad) {                                                                                 \
            T r_;                                                                                  \
            int op = e->fn->op;                                                                    \
            if (op == TB_OP_DIV || op == TB_OP_MOD) {                                              \
                FIND2(T, T, y == 0, b);                                                            \
                if (b != UINT32_MAX)                                                               \
                    return TB_ERRPOS(err, TB_E_RANGE, e->pos, "division by zero");                 \
                if (op == TB_OP_DIV) {                                                             \
                    FIND2(T, T, x == TMIN && y == -1, b);                                          \
                    if (b != UINT32_MAX)                                                           \
                        return TB_ERRPOS(err, TB_E_RANGE, e->pos, MSG);                            \
                }                                                                                  \
                return TB_OK;                                                                      \
            }                                                                                      \
            FIND2(T, T,                                                                            \
                  op == TB_OP_ADD   ? __builtin_add_overflow(x, y, &r_)                            \
                  : op == TB_OP_SUB ? __builtin_sub_overflow(x, y, &r_)                            \
                                    : __builtin_mul_overflow(x, y, &r_),                           \
                  b);                                                                              \
            if (b != UINT32_MAX)                                                                   \
                return TB_ERRPOS(err, TB_E_RANGE, e->pos, MSG);                                    \
        }                                                                                          \
        return TB_OK;                                                                              \
    }

/* NOLINTEND(bugprone-macro-parentheses) */

INT_KERNEL(arith_i16, int16_t, INT16_MIN, "smallint out of range")
INT_KERNEL(arith_i32, int32_t, INT32_MIN, "integer out of range")
INT_KERNEL(arith_i64, int64_t, INT64_MIN, "bigint out of range")

/* ================================================================ float arithmetic */

/* NOLINTBEGIN(bugprone-macro-parentheses) */
#define FLT_KERNEL(NAME, T, FMOD)                                                                  \
    static tb_rc NAME(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,      \
                      tb_err *err)                                                                 \
    {                                                                                              \
        T *o = out->v.data;                                                                        \
        bool bad = false;                                                                          \
        uint32_t b;                                                                                \
        int op = e->fn->op;                                                                        \
        TB_UNUSED(arena);                                                                          \
        switch (op) {                                                                              \
        case TB_OP_ADD:                                                                            \
            LOOP2(T, T, {                                                                          \
                T r_ = x + y;                                                                      \
                bad |= isinf(r_) & !isinf(x) & !isinf(y);                                          \
                o[i] = r_;                                                                         \
            });                                                                                    \
            break;                                                                                 \
        case TB_OP_SUB:                                                                            \
            LOOP2(T, T, {                                                                          \
                T r_ = x - y;                                                                      \
                bad |= isinf(r_) & !isinf(x) & !isinf(y);                                          \
                o[i] = r_;                                                                         \
            });                                                                                    \
            break;                                                                                 \
        case TB_OP_MUL:                                                                            \
            LOOP2(T, T, {                                                                          \
                T r_ = x * y;                                                                      \
                bad |= (isinf(r_) & !isinf(x) & !isinf(y)) | ((r_ == 0) & (x != 0) & (y != 0));    \
                o[i] = r_;                                                                         \
            });                                                                                    \
            break;                                                                                 \
        case TB_OP_DIV:                                                                            \
            LOOP2(T, T, {                                                                          \
                T r_ = y == 0 ? 0 : x / y;                                                         \
                bad |= (y == 0) | (isinf(r_) & !isinf(x)) | ((r_ == 0) & (x != 0) & !isinf(y));    \
                o[i] = r_;                                                                         \
            });                                                                                    \
            break;                                                                                 \
        case TB_OP_MOD:                                                                            \
            LOOP2(T, T, {                                                                          \
                bad |= y == 0;                                                                     \
                o[i] = y == 0 ? 0 : FMOD(x, y);                                                    \
            });                                                                                    \
            break;                                                                                 \
        default: {                                                                                 \
            const T *pa = args[0].v.data;                                                          \
            for (uint32_t i = 0; i < n; i++)                                                       \
                o[i] = -pa[i];                                                                     \
            return TB_OK;                                                                          \
        }                                                                                          \
        }                                                                                          \
        if (bad) {                                                                                 \
            if (op == TB_OP_DIV || op == TB_OP_MOD) {                                              \
                FIND2(T, T, y == 0, b);                                                            \
                if (b != UINT32_MAX)                                                               \
                    return TB_ERRPOS(err, TB_E_RANGE, e->pos, "division by zero");                 \
            }                                                                                      \
            for (b = 0; b < n; b++) {                                                              \
                const T *pa_ = args[0].v.data, *pb_ = args[1].v.data;                              \
                T x = pa_[TB_IX(&args[0], b)], y = pb_[TB_IX(&args[1], b)];                        \
                if (tb_vec_is_null(&out->v, b) || op == TB_OP_MOD)                                 \
                    continue;                                                                      \
                if (isinf(o[b]) && !isinf(x) && !isinf(y))                                         \
                    return TB_ERRPOS(err, TB_E_RANGE, e->pos, "value out of range: overflow");     \
                if (o[b] == 0 && x != 0 &&                                                         \
                    (op == TB_OP_DIV ? !isinf(y) : (y != 0 && op == TB_OP_MUL)))                   \
                    return TB_ERRPOS(err, TB_E_RANGE, e->pos, "value out of range: underflow");    \
            }                                                                                      \
        }                                                                                          \
        return TB_OK;                                                                              \
    }

/* NOLINTEND(bugprone-macro-parentheses) */

FLT_KERNEL(arith_f32, float, fmodf)
FLT_KERNEL(arith_f64, double, fmod)

/* ================================================================ numeric arithmetic */

/* fn->k0: MUL: 10^(sa+sb-rs) divisor; DIV: exponent k = rs + sb - sa */
static tb_rc arith_dec(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                       tb_err *err)
{
    tb_i128 *o = out->v.data;
    const tb_i128 *pa = args[0].v.data;
    const tb_i128 *pb = e->n_args > 1 ? args[1].v.data : NULL;
    int op = e->fn->op;
    uint32_t i;
    TB_UNUSED(arena);

    for (i = 0; i < n; i++) {
        tb_i128 x = pa[TB_IX(&args[0], i)], y = pb ? pb[TB_IX(&args[1], i)] : 0, r = 0;
        bool ok = true;
        if (tb_vec_is_null(&out->v, i)) {
            o[i] = 0;
            continue;
        }
        switch (op) {
        case TB_OP_ADD:
            ok = !__builtin_add_overflow(x, y, &r) && tb_dec_fits(r, 38);
            break;
        case TB_OP_SUB:
            ok = !__builtin_sub_overflow(x, y, &r) && tb_dec_fits(r, 38);
            break;
        case TB_OP_MUL:
            if (e->fn->k0 <= 0)
                ok = !__builtin_mul_overflow(x, y, &r) && tb_dec_fits(r, 38);
            else
                ok = tb_dec_muldiv(x, y, tb_i128_pow10((int)e->fn->k0), &r);
            break;
        case TB_OP_DIV: {
            int k = (int)e->fn->k0;
            if (y == 0)
                return TB_ERRPOS(err, TB_E_RANGE, e->pos, "division by zero");
            if (k > 38) {
                ok = tb_dec_muldiv(x, tb_i128_pow10(k - 38), 1, &x);
                k = 38;
            }
            ok = ok && tb_dec_muldiv(x, tb_i128_pow10(k), y, &r);
            break;
        }
        case TB_OP_MOD:
            if (y == 0)
                return TB_ERRPOS(err, TB_E_RANGE, e->pos, "division by zero");
            r = x % y;
            break;
        default:
            r = -x;
            break;
        }
        if (!ok)
            return TB_ERRPOS(err, TB_E_RANGE, e->pos, "numeric field overflow");
        o[i] = r;
    }
    return TB_OK;
}

/* ================================================================ || */

static tb_rc concat_kernel(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                           tb_err *err)
{
    const tb_str *a = args[0].v.data, *b = args[1].v.data;
    tb_str *o = out->v.data;
    size_t total = 0;
    uint32_t i;
    char *p;
    TB_UNUSED(e);

    for (i = 0; i < n; i++) {
        if (tb_vec_is_null(&out->v, i))
            continue;
        total += (size_t)a[TB_IX(&args[0], i)].len + b[TB_IX(&args[1], i)].len;
    }
    if (total > UINT32_MAX / 2)
        return TB_ERRF(err, TB_E_LIMIT, "string concatenation exceeds 2 GiB in one batch");
    p = tb_arena_alloc(arena, total + 1);
    if (p == NULL)
        return tb_expr_nomem(err);
    for (i = 0; i < n; i++) {
        tb_str x, y;
        if (tb_vec_is_null(&out->v, i)) {
            o[i].ptr = p;
            o[i].len = 0;
            continue;
        }
        x = a[TB_IX(&args[0], i)];
        y = b[TB_IX(&args[1], i)];
        o[i].ptr = p;
        o[i].len = x.len + y.len;
        if (x.len)
            memcpy(p, x.ptr, x.len);
        if (y.len)
            memcpy(p + x.len, y.ptr, y.len);
        p += o[i].len;
    }
    return TB_OK;
}

/* ================================================================ resolution */

static int op_code(const char *name, uint32_t n)
{
    if (n == 1)
        return strcmp(name, "-") == 0 ? TB_OP_NEG : strcmp(name, "+") == 0 ? -2 : -1;
    if (strcmp(name, "+") == 0)
        return TB_OP_ADD;
    if (strcmp(name, "-") == 0)
        return TB_OP_SUB;
    if (strcmp(name, "*") == 0)
        return TB_OP_MUL;
    if (strcmp(name, "/") == 0)
        return TB_OP_DIV;
    if (strcmp(name, "%") == 0)
        return TB_OP_MOD;
    if (strcmp(name, "=") == 0)
        return TB_OP_EQ;
    if (strcmp(name, "<>") == 0 || strcmp(name, "!=") == 0)
        return TB_OP_NE;
    if (strcmp(name, "<") == 0)
        return TB_OP_LT;
    if (strcmp(name, "<=") == 0)
        return TB_OP_LE;
    if (strcmp(name, ">") == 0)
        return TB_OP_GT;
    if (strcmp(name, ">=") == 0)
        return TB_OP_GE;
    return -1;
}

tb_rc tb_op_no_overload(const char *name, tb_expr **args, uint32_t n, int pos, tb_err *err)
{
    char b1[64], b2[64];
    if (n == 1)
        return TB_ERRPOS(err, TB_E_TYPE, pos, "operator does not exist: %s %s", name,
                         tb_expr_type_name(args[0], b1, sizeof(b1)));
    return TB_ERRPOS(err, TB_E_TYPE, pos, "operator does not exist: %s %s %s",
                     tb_expr_type_name(args[0], b1, sizeof(b1)), name,
                     tb_expr_type_name(args[1], b2, sizeof(b2)));
}

static bool is_untyped(const tb_expr *e)
{
    return e->type.id == TB_T_NULL || tb_expr_is_unknown_lit(e);
}

static bool is_num(tb_type t) { return tb_type_is_numeric(t); }

static tb_rc build(tb_arena *arena, const char *name, tb_kernel k, uint32_t flags, int op,
                   tb_type type, tb_expr **args, uint32_t n, int pos, tb_expr **out,
                   tb_func **out_fn, tb_err *err)
{
    tb_func *fn = tb_expr_func_new(arena, name, k, flags | TB_FN_STRICT, op);
    if (fn == NULL || (*out = tb_expr_new_call(arena, name, fn, type, args, n, pos)) == NULL)
        return tb_expr_nomem(err);
    if (out_fn != NULL)
        *out_fn = fn;
    return TB_OK;
}

static tb_kernel cmp_kernel_for(tb_type t)
{
    switch ((tb_type_id)t.id) {
    case TB_T_BOOL:
        return cmp_u8;
    case TB_T_INT16:
        return cmp_i16;
    case TB_T_INT32:
    case TB_T_DATE:
        return cmp_i32;
    case TB_T_INT64:
    case TB_T_TIMESTAMP:
        return cmp_i64;
    case TB_T_FLOAT:
        return cmp_f32;
    case TB_T_DOUBLE:
        return cmp_f64;
    case TB_T_DECIMAL:
        return cmp_i128;
    case TB_T_STRING:
        return cmp_str;
    case TB_T_INTERVAL:
        return cmp_iv;
    default:
        return NULL;
    }
}

static tb_rc coerce2(tb_arena *arena, tb_expr **a, tb_type t, int pos, tb_err *err)
{
    return tb_cast_build(arena, *a, t, TB_CAST_IMPLICIT, pos, a, err);
}

/* Binary numeric arithmetic (both numeric). */
static tb_rc resolve_num_arith(tb_arena *arena, const char *name, int op, tb_expr **a, int pos,
                               tb_expr **out, tb_err *err)
{
    tb_type ta = a[0]->type, tb = a[1]->type, rt;
    tb_func *fn = NULL;
    tb_rc rc;

    if (ta.id == TB_T_DOUBLE || tb.id == TB_T_DOUBLE || ta.id == TB_T_FLOAT ||
        tb.id == TB_T_FLOAT) {
        rt = tb_type_make((ta.id == TB_T_FLOAT && tb.id == TB_T_FLOAT) ? TB_T_FLOAT : TB_T_DOUBLE);
        if ((rc = coerce2(arena, &a[0], rt, pos, err)) != TB_OK ||
            (rc = coerce2(arena, &a[1], rt, pos, err)) != TB_OK)
            return rc;
        return build(arena, name, rt.id == TB_T_FLOAT ? arith_f32 : arith_f64, TB_FN_SAFE * 0, op,
                     rt, a, 2, pos, out, NULL, err);
    }
    if (ta.id == TB_T_DECIMAL || tb.id == TB_T_DECIMAL) {
        tb_type da = ta.id == TB_T_DECIMAL ? ta : tb_cast_int_decimal(ta);
        tb_type db = tb.id == TB_T_DECIMAL ? tb : tb_cast_int_decimal(tb);
        int sa = da.scale, sb = db.scale, rs;
        int64_t k0 = 0;
        switch (op) {
        case TB_OP_MUL:
            rs = TB_MIN(sa + sb, TB_MAX(16, TB_MAX(sa, sb)));
            k0 = sa + sb - rs;
            break;
        case TB_OP_DIV:
            rs = TB_MAX(16, TB_MAX(sa, sb));
            k0 = rs + sb - sa;
            break;
        default:
            rs = TB_MAX(sa, sb);
            da = tb_type_decimal(38, rs);
            db = tb_type_decimal(38, rs);
            break;
        }
        if ((rc = coerce2(arena, &a[0], da, pos, err)) != TB_OK ||
            (rc = coerce2(arena, &a[1], db, pos, err)) != TB_OK)
            return rc;
        rc =
            build(arena, name, arith_dec, 0, op, tb_type_decimal(38, rs), a, 2, pos, out, &fn, err);
        if (rc == TB_OK && fn != NULL)
            fn->k0 = k0;
        return rc;
    }
    /* integers */
    rt = ta.id >= tb.id ? ta : tb;
    if ((rc = coerce2(arena, &a[0], rt, pos, err)) != TB_OK ||
        (rc = coerce2(arena, &a[1], rt, pos, err)) != TB_OK)
        return rc;
    return build(arena, name,
                 rt.id == TB_T_INT16   ? arith_i16
                 : rt.id == TB_T_INT32 ? arith_i32
                                       : arith_i64,
                 0, op, rt, a, 2, pos, out, NULL, err);
}

static tb_rc resolve_cmp(tb_arena *arena, const char *name, int op, tb_expr **a, int pos,
                         tb_expr **out, tb_err *err)
{
    tb_type ta = a[0]->type, tb = a[1]->type, ct;
    tb_rc rc;

    if (is_num(ta) && is_num(tb)) {
        tb_expr *pair[2] = {a[0], a[1]};
        rc = tb_expr_common_type(pair, 2, NULL, pos, &ct, err);
        if (rc != TB_OK)
            return rc;
    } else if ((ta.id == TB_T_DATE || ta.id == TB_T_TIMESTAMP) &&
               (tb.id == TB_T_DATE || tb.id == TB_T_TIMESTAMP)) {
        ct = ta.id == tb.id ? ta : tb_type_make(TB_T_TIMESTAMP);
    } else if (ta.id == tb.id &&
               (ta.id == TB_T_STRING || ta.id == TB_T_BOOL || ta.id == TB_T_INTERVAL)) {
        ct = ta;
    } else {
        return tb_op_no_overload(name, a, 2, pos, err);
    }
    if ((rc = coerce2(arena, &a[0], ct, pos, err)) != TB_OK ||
        (rc = coerce2(arena, &a[1], ct, pos, err)) != TB_OK)
        return rc;
    return build(arena, name, cmp_kernel_for(ct), TB_FN_SAFE, op, tb_type_make(TB_T_BOOL), a, 2,
                 pos, out, NULL, err);
}

static tb_rc resolve_op(tb_arena *arena, const char *name, tb_expr **args_in, uint32_t n, int pos,
                        tb_expr **out, tb_err *err)
{
    tb_expr *a[2];
    int op = op_code(name, n);
    bool is_cat = strcmp(name, "||") == 0;
    bool is_cmp = op >= TB_OP_EQ;
    tb_rc rc;

    if (n < 1 || n > 2 || (op == -1 && !is_cat) || (is_cat && n != 2))
        return tb_op_no_overload(name, args_in, n, pos, err);
    a[0] = args_in[0];
    a[1] = n > 1 ? args_in[1] : NULL;

    if (n == 1) {
        tb_type t = a[0]->type;
        if (is_untyped(a[0])) {
            rc = coerce2(arena, &a[0],
                         tb_type_make(a[0]->type.id == TB_T_NULL ? TB_T_INT32 : TB_T_DOUBLE), pos,
                         err);
            if (rc != TB_OK)
                return rc;
            t = a[0]->type;
        }
        if (op == -2) { /* unary plus */
            if (!is_num(t) && t.id != TB_T_INTERVAL)
                return tb_op_no_overload(name, a, 1, pos, err);
            *out = a[0];
            return TB_OK;
        }
        if (t.id == TB_T_INTERVAL)
            return tb_time_op_resolve(arena, name, TB_OP_NEG, a, 1, pos, out, err);
        if (!is_num(t))
            return tb_op_no_overload(name, a, 1, pos, err);
        switch ((tb_type_id)t.id) {
        case TB_T_INT16:
            return build(arena, name, arith_i16, 0, TB_OP_NEG, t, a, 1, pos, out, NULL, err);
        case TB_T_INT32:
            return build(arena, name, arith_i32, 0, TB_OP_NEG, t, a, 1, pos, out, NULL, err);
        case TB_T_INT64:
            return build(arena, name, arith_i64, 0, TB_OP_NEG, t, a, 1, pos, out, NULL, err);
        case TB_T_FLOAT:
            return build(arena, name, arith_f32, TB_FN_SAFE, TB_OP_NEG, t, a, 1, pos, out, NULL,
                         err);
        case TB_T_DOUBLE:
            return build(arena, name, arith_f64, TB_FN_SAFE, TB_OP_NEG, t, a, 1, pos, out, NULL,
                         err);
        default:
            return build(arena, name, arith_dec, TB_FN_SAFE, TB_OP_NEG, t, a, 1, pos, out, NULL,
                         err);
        }
    }

    /* untyped operands adopt the other side's type */
    if (is_untyped(a[0]) || is_untyped(a[1])) {
        int k = is_untyped(a[0]) ? 0 : 1;
        tb_expr *other = a[1 - k];
        tb_type t;
        if (is_untyped(other)) {
            /* both untyped: text for comparisons and ||, integer NULL arithmetic */
            bool any_str = tb_expr_is_unknown_lit(a[0]) || tb_expr_is_unknown_lit(a[1]);
            t = tb_type_make((is_cmp || is_cat || any_str) ? TB_T_STRING : TB_T_INT32);
            if ((rc = coerce2(arena, &a[0], t, pos, err)) != TB_OK ||
                (rc = coerce2(arena, &a[1], t, pos, err)) != TB_OK)
                return rc;
        } else {
            t = other->type;
            if (is_cat)
                t = tb_type_make(TB_T_STRING);
            else if (!is_cmp && (t.id == TB_T_DATE || t.id == TB_T_TIMESTAMP) &&
                     tb_expr_is_unknown_lit(a[k])) {
                /* ts + '1 day' is an interval; ts - 'literal' is ts - ts when the literal
                 * reads as a timestamp (PostgreSQL's exact-match rule), else an interval
                 * (PostgreSQL would reject ts - '1 day'; we accept it) */
                tb_value probe;
                tb_err perr;
                const tb_str *ls = &a[k]->value.u.s;
                if (!(op == TB_OP_SUB && k == 1 &&
                      tb_cast_parse_text(ls->ptr, ls->len, t, pos, &probe, &perr) == TB_OK))
                    t = tb_type_make(TB_T_INTERVAL);
            }
            rc = coerce2(arena, &a[k], t, pos, err);
            if (rc != TB_OK)
                return rc;
        }
    }

    if (is_cat) {
        tb_type t = tb_type_make(TB_T_STRING);
        if (a[0]->type.id != TB_T_STRING && a[1]->type.id != TB_T_STRING)
            return tb_op_no_overload(name, a, 2, pos, err);
        if ((rc = tb_cast_build(arena, a[0], t, TB_CAST_ASSIGNMENT, pos, &a[0], err)) != TB_OK ||
            (rc = tb_cast_build(arena, a[1], t, TB_CAST_ASSIGNMENT, pos, &a[1], err)) != TB_OK)
            return rc;
        return build(arena, name, concat_kernel, 0, 0, t, a, 2, pos, out, NULL, err);
    }
    if (is_cmp)
        return resolve_cmp(arena, name, op, a, pos, out, err);
    if (is_num(a[0]->type) && is_num(a[1]->type))
        return resolve_num_arith(arena, name, op, a, pos, out, err);
    rc = tb_time_op_resolve(arena, name, op, a, 2, pos, out, err);
    if (rc == TB_E_NOTFOUND)
        return tb_op_no_overload(name, a, 2, pos, err);
    return rc;
}

const tb_fn_entry tb_func_arith_table[] = {
    {"+", resolve_op},  {"-", resolve_op},  {"*", resolve_op},  {"/", resolve_op},
    {"%", resolve_op},  {"=", resolve_op},  {"<>", resolve_op}, {"!=", resolve_op},
    {"<", resolve_op},  {"<=", resolve_op}, {">", resolve_op},  {">=", resolve_op},
    {"||", resolve_op}, {NULL, NULL},
};
