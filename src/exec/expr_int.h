/*
 * expr_int.h - private to the expression evaluator (expr*.c, func*.c, cast.c).
 *
 * Evaluation model: tb_expr_eval walks the tree once per batch. Every node yields a
 * tb_ev: a vector of n rows, or (konst) a vector of ONE row standing for every row
 * (constants, and functions whose arguments are all constant). Kernels loop over whole
 * vectors; the only indirect call is one kernel call per node per batch.
 *
 * NULLs: for strict functions (TB_FN_STRICT) the driver computes the output validity
 * (AND of the argument bitmaps, word-wise) before calling the kernel, and short-cuts a
 * constant NULL argument to a constant NULL result. The data of NULL rows is
 * unspecified (may be garbage): kernels must never fail, trap or read through pointers
 * on NULL rows (they compute blindly, then re-check a failure flag against validity).
 */
#ifndef TB_EXPR_INT_H
#define TB_EXPR_INT_H

#include "exec/exec.h"

typedef struct tb_ev {
    tb_vec v;
    bool konst; /* v holds one row that stands for every row */
} tb_ev;

/* Row index of argument a for row i (constants always read row 0). */
#define TB_IX(a, i) ((a)->konst ? 0u : (i))

/*
 * A kernel computes out->v.data for n rows (n == 1 when every argument is konst).
 * For strict functions out->v.valid is already set (NULL: every row valid) and out->v.data
 * is allocated for the result type; the kernel may add NULLs with tb_vec_set_null.
 * Non-strict kernels get out->v with data allocated and valid == NULL and set both.
 */
typedef tb_rc (*tb_kernel)(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                           tb_err *err);

enum {
    TB_FN_STRICT = 1,   /* NULL in any argument -> NULL (handled by the driver) */
    TB_FN_VOLATILE = 2, /* new value per row / per call: never folded (random) */
    TB_FN_SAFE = 4,     /* never fails at run time (AND/OR/CASE may evaluate it eagerly) */
    TB_FN_LAZY = 8,     /* evaluated by the driver itself (coalesce) */
    TB_FN_STABLE = 16   /* fixed per query but not foldable into a literal (now) */
};

struct tb_func {
    const char *name;
    tb_kernel kernel;
    uint32_t flags;
    int op;     /* kernel-specific selector (operator, field, unit, ...) */
    tb_type t0; /* kernel-specific operand type */
    int64_t k0; /* kernel-specific constant (scale factor, statement time, ...) */
    int64_t k1;
};

/* Out of memory: sets err and returns TB_E_NOMEM (visibly to static analysis, unlike
 * tb_err_nomem's body in another unit). */
static inline tb_rc tb_expr_nomem(tb_err *err)
{
    (void)tb_err_nomem(err);
    return TB_E_NOMEM;
}

/* ---------------------------------------------------------------- expr.c */

/* Recursive evaluator: n rows of batch (batch may be NULL when n == 1 and e has no
 * column). */
tb_rc tb_expr_ev(const tb_expr *e, const tb_batch *batch, uint32_t n, tb_arena *arena, tb_ev *out,
                 tb_err *err);
/* Allocate an output of type t for n rows (data only, no bitmap). */
tb_rc tb_expr_ev_alloc(tb_ev *out, tb_type t, uint32_t n, bool konst, tb_arena *arena, tb_err *err);
/* A constant NULL of type t. */
tb_rc tb_expr_ev_null(tb_ev *out, tb_type t, tb_arena *arena, tb_err *err);
/* Expand a konst ev to n rows (no-op for non-konst). */
tb_rc tb_expr_ev_flatten(tb_ev *ev, uint32_t n, tb_arena *arena, tb_err *err);
/* Is the expression an untyped string literal (PostgreSQL's "unknown")? */
bool tb_expr_is_unknown_lit(const tb_expr *e);
/* Make a typed constant (not "unknown") from a value (strings copied to arena). */
tb_expr *tb_expr_const_typed(tb_arena *arena, const tb_value *value);
/* New CALL node bound to fn (no resolution, no folding). */
tb_expr *tb_expr_new_call(tb_arena *arena, const char *name, const tb_func *fn, tb_type type,
                          tb_expr **args, uint32_t n_args, int pos);
tb_func *tb_expr_func_new(tb_arena *arena, const char *name, tb_kernel kernel, uint32_t flags,
                          int op);
/* Try to fold a CALL/CAST whose arguments are all constants into a CONST (on failure,
 * or for volatile functions, returns e unchanged and clears nothing). */
tb_expr *tb_expr_fold(tb_arena *arena, tb_expr *e);
/* Name of a type for messages; "unknown" for untyped literals. */
const char *tb_expr_type_name(const tb_expr *e, char *buf, size_t cap);
/* Validity of row i (konst aware). */
static inline bool tb_ev_valid(const tb_ev *a, uint32_t i)
{
    return !tb_vec_is_null(&a->v, TB_IX(a, i));
}

/* ---------------------------------------------------------------- cast.c */

typedef enum tb_cast_level {
    TB_CAST_IMPLICIT = 0,   /* operator/function argument promotion */
    TB_CAST_ASSIGNMENT = 1, /* INSERT / coerce (numeric narrowing, anything -> text) */
    TB_CAST_EXPLICIT = 2    /* CAST / :: */
} tb_cast_level;

bool tb_cast_allowed(tb_type from, tb_type to, tb_cast_level level);
/* Cast an evaluated operand (n rows, or konst) to type `to`; errors carry pos. */
tb_rc tb_cast_ev(const tb_ev *in, tb_type to, uint32_t n, int pos, tb_arena *arena, tb_ev *out,
                 tb_err *err);
/* Build a cast node (folding constants; unknown literals parsed now). */
tb_rc tb_cast_build(tb_arena *arena, tb_expr *e, tb_type to, tb_cast_level level, int pos,
                    tb_expr **out, tb_err *err);
/* Decimal type able to hold every value of an integer type (int32 -> numeric(10,0)). */
tb_type tb_cast_int_decimal(tb_type t);
/* i128 helpers shared with arithmetic. */
bool tb_dec_rescale(tb_i128 v, int from_scale, int to_scale, tb_i128 *out);
bool tb_dec_fits(tb_i128 v, int precision);
/* Parse text as a value of type t (trimmed as PostgreSQL does); error text as PG. */
tb_rc tb_cast_parse_text(const char *s, size_t len, tb_type t, int pos, tb_value *out, tb_err *err);

/* ---------------------------------------------------------------- func registry */

typedef tb_rc (*tb_resolver)(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                             tb_expr **out, tb_err *err);
typedef struct tb_fn_entry {
    const char *name;
    tb_resolver resolve;
} tb_fn_entry;

/* Each family exports its table, terminated by {NULL, NULL}. */
extern const tb_fn_entry tb_func_math_table[];
extern const tb_fn_entry tb_func_string_table[];
extern const tb_fn_entry tb_func_time_table[];
extern const tb_fn_entry tb_func_misc_table[];
extern const tb_fn_entry tb_func_regex_table[];
extern const tb_fn_entry tb_func_fmt_table[];
/* to_date(text, text) / to_timestamp(text, text) (func_fmt.c), chosen by func_time.c's
 * to_timestamp resolver for two arguments */
tb_rc tb_fmt_parse_resolve(tb_arena *arena, const char *name, tb_expr **args, uint32_t n,
                           int pos, tb_expr **out, tb_err *err);
/* substring(text from pattern) (func_regex.c), chosen by func_string.c's resolver */
tb_rc tb_regex_substring_resolve(tb_arena *arena, const char *name, tb_expr **args, uint32_t n,
                                 int pos, tb_expr **out, tb_err *err);

/* ---------------------------------------------------------------- expr_arith.c */

/* Operator codes (tb_func.op of operator kernels). */
enum {
    TB_OP_ADD,
    TB_OP_SUB,
    TB_OP_MUL,
    TB_OP_DIV,
    TB_OP_MOD,
    TB_OP_NEG,
    TB_OP_EQ,
    TB_OP_NE,
    TB_OP_LT,
    TB_OP_LE,
    TB_OP_GT,
    TB_OP_GE
};
extern const tb_fn_entry tb_func_arith_table[];
/* Temporal operators (func_time.c): date/timestamp/interval +, -, *, /. Returns
 * TB_E_NOTFOUND without touching err when no temporal overload applies. */
tb_rc tb_time_op_resolve(tb_arena *arena, const char *name, int op, tb_expr **args, uint32_t n,
                         int pos, tb_expr **out, tb_err *err);
/* Span of an interval in microseconds with 30-day months (PostgreSQL's ordering). */
static inline tb_i128 tb_iv_span(tb_interval iv)
{
    return (tb_i128)iv.months * 30 * TB_USEC_PER_DAY + (tb_i128)iv.days * TB_USEC_PER_DAY +
           iv.micros;
}
/* "operator does not exist: text + integer" (TB_E_TYPE). */
tb_rc tb_op_no_overload(const char *name, tb_expr **args, uint32_t n, int pos, tb_err *err);

/* Three-way comparison of row i of a with row j of b (same type). Used by greatest,
 * least, IN lists, nullif. */
int tb_arith_cmp_rows(const tb_vec *a, uint32_t i, const tb_vec *b, uint32_t j);
/* Signed 256-bit helpers for numeric mul/div: (a * b) / d rounded half away from
 * zero; false on overflow of the 38-digit range. */
bool tb_dec_muldiv(tb_i128 a, tb_i128 b, tb_i128 d, tb_i128 *out);

/* "function name(t1, t2) does not exist" as TB_E_TYPE (name known, no overload). */
tb_rc tb_func_no_overload(const char *name, tb_expr **args, uint32_t n, int pos, tb_err *err);
/* Coerce args[i] in place to type t (implicit level), error naming the function. */
tb_rc tb_func_coerce_arg(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, uint32_t i,
                         tb_type t, int pos, tb_err *err);

/* String helpers used across files. */
tb_rc tb_str_ev_alloc_bytes(tb_arena *arena, size_t n, char **out, tb_err *err);

/* LIKE matcher (exposed for tests through the "~~" operator only). */
bool tb_like_match(const char *s, size_t n, const char *p, size_t m, bool icase);

/* Time helpers shared by casts and functions. */
bool tb_ts_add_interval(int64_t ts, tb_interval iv, int sign, int64_t *out);
/* floor division */
static inline int64_t tb_floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

#endif /* TB_EXPR_INT_H */
