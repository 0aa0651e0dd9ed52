/*
 * test_expr.c - expressions: typing, vectorized evaluation, NULLs, errors.
 *
 * A fixed test batch (see setup) holds columns of every type with NULLs in them;
 * results are rendered "v1,v2,NULL,..." with tb_value_format and compared as text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exec/exec.h"

static tb_arena *A;
static tb_err E;
static tb_schema *S;
static tb_batch *B;
static char out_text[8192];

enum { C_I, C_B, C_D, C_S, C_T, C_DT, C_M, C_BO, C_IV, C_SM, N_COLS };
#define NROWS 5

/* ------------------------------------------------------------------ builders */

static tb_expr *col(int i) { return tb_expr_col(A, i, S->fields[i].type); }

static tb_expr *ci(int64_t v)
{
    tb_value x;
    memset(&x, 0, sizeof(x));
    x.type = tb_type_make(v >= INT32_MIN && v <= INT32_MAX ? TB_T_INT32 : TB_T_INT64);
    x.u.i = v;
    return tb_expr_const(A, &x);
}

static tb_expr *cbig(int64_t v)
{
    tb_value x;
    memset(&x, 0, sizeof(x));
    x.type = tb_type_make(TB_T_INT64);
    x.u.i = v;
    return tb_expr_const(A, &x);
}

static tb_expr *cd(double v)
{
    tb_value x;
    memset(&x, 0, sizeof(x));
    x.type = tb_type_make(TB_T_DOUBLE);
    x.u.d = v;
    return tb_expr_const(A, &x);
}

static tb_expr *cs(const char *s)
{
    tb_value x;
    memset(&x, 0, sizeof(x));
    x.type = tb_type_make(TB_T_STRING);
    x.u.s.ptr = s;
    x.u.s.len = (uint32_t)strlen(s);
    return tb_expr_const(A, &x);
}

static tb_expr *cb(bool b)
{
    tb_value x;
    memset(&x, 0, sizeof(x));
    x.type = tb_type_make(TB_T_BOOL);
    x.u.b = b;
    return tb_expr_const(A, &x);
}

/* numeric literal from text: scale = digits after the point */
static tb_expr *cn(const char *s)
{
    tb_value x;
    const char *dot = strchr(s, '.');
    int scale = dot ? (int)strlen(dot + 1) : 0;
    memset(&x, 0, sizeof(x));
    x.type = tb_type_decimal(38, scale);
    assert_true(tb_i128_parse(s, strlen(s), scale, &x.u.dec));
    return tb_expr_const(A, &x);
}

static tb_expr *cnull(void) { return tb_expr_null(A); }

static tb_type ty(const char *name)
{
    tb_type t;
    assert_int_equal(tb_type_parse(name, &t, &E), TB_OK);
    return t;
}

static tb_expr *cast(tb_expr *e, const char *type)
{
    tb_expr *r = NULL;
    tb_rc rc = tb_expr_cast(A, e, ty(type), 0, &r, &E);
    if (rc != TB_OK)
        fail_msg("cast to %s: %s", type, E.msg);
    return r;
}

static tb_rc vcall(tb_expr **out, const char *name, int n, va_list ap)
{
    tb_expr *args[8];
    int i;
    for (i = 0; i < n; i++)
        args[i] = va_arg(ap, tb_expr *);
    tb_err_clear(&E);
    return tb_expr_call(A, name, args, (uint32_t)n, 7, out, &E);
}

static tb_expr *call(const char *name, int n, ...)
{
    tb_expr *r = NULL;
    va_list ap;
    tb_rc rc;
    va_start(ap, n);
    rc = vcall(&r, name, n, ap);
    va_end(ap);
    if (rc != TB_OK)
        fail_msg("call %s: %s", name, E.msg);
    return r;
}

/* call that must fail at construction with rc and a message containing msg */
static void call_fails(tb_rc want, const char *msg, const char *name, int n, ...)
{
    tb_expr *r = NULL;
    va_list ap;
    tb_rc rc;
    va_start(ap, n);
    rc = vcall(&r, name, n, ap);
    va_end(ap);
    if (rc != want || strstr(E.msg, msg) == NULL)
        fail_msg("call %s: want rc %d '%s', got rc %d '%s'", name, want, msg, rc, E.msg);
    assert_int_equal(E.pos, 7);
}

static tb_expr *mk(tb_expr_kind kind, bool negate, bool has_else, int n, ...)
{
    tb_expr *args[16], *r = NULL;
    va_list ap;
    int i;
    va_start(ap, n);
    for (i = 0; i < n; i++)
        args[i] = va_arg(ap, tb_expr *);
    va_end(ap);
    if (tb_expr_make(A, kind, args, (uint32_t)n, negate, has_else, 3, &r, &E) != TB_OK)
        fail_msg("make: %s", E.msg);
    return r;
}

/* ------------------------------------------------------------------ evaluation */

static const char *render(const tb_vec *v, uint32_t n)
{
    tb_buf buf = {0};
    uint32_t i;
    for (i = 0; i < n; i++) {
        tb_value x;
        if (i > 0)
            tb_buf_putc(&buf, ',');
        tb_vec_get(v, i, &x);
        if (x.is_null || v->type.id == TB_T_NULL)
            tb_buf_puts(&buf, "NULL");
        else
            tb_value_format(&x, &buf);
    }
    snprintf(out_text, sizeof(out_text), "%.*s", (int)buf.len, buf.data ? buf.data : "");
    tb_buf_free(&buf);
    return out_text;
}

/* evaluate over the test batch */
static const char *ev(tb_expr *e)
{
    tb_vec v;
    tb_err_clear(&E);
    if (tb_expr_eval(e, B, A, &v, &E) != TB_OK)
        fail_msg("eval: %s", E.msg);
    assert_int_equal(v.type.id, e->type.id);
    return render(&v, B->n_rows);
}

/* evaluate a constant expression */
static const char *ev1(tb_expr *e)
{
    tb_value v;
    tb_buf buf = {0};
    tb_err_clear(&E);
    if (tb_expr_eval_const(e, A, &v, &E) != TB_OK)
        fail_msg("eval_const: %s", E.msg);
    if (v.is_null)
        snprintf(out_text, sizeof(out_text), "NULL");
    else {
        tb_value_format(&v, &buf);
        snprintf(out_text, sizeof(out_text), "%.*s", (int)buf.len, buf.data ? buf.data : "");
    }
    tb_buf_free(&buf);
    return out_text;
}

static void ev_fails(tb_expr *e, tb_rc want, const char *msg)
{
    tb_vec v;
    tb_rc rc;
    tb_err_clear(&E);
    rc = tb_expr_eval(e, B, A, &v, &E);
    if (rc != want || strstr(E.msg, msg) == NULL)
        fail_msg("eval: want rc %d '%s', got rc %d '%s'", want, msg, rc, E.msg);
}

static const char *typename_of(const tb_expr *e)
{
    static char b[64];
    return tb_type_name(e->type, b, sizeof(b));
}

#define EQ(got, want) assert_string_equal((got), (want))

/* ------------------------------------------------------------------ fixture */

static int64_t ts_of(const char *s)
{
    int64_t us;
    assert_true(tb_parse_timestamp(s, strlen(s), &us));
    return us;
}

static int setup(void **state)
{
    static const char *names[N_COLS] = {"i", "b", "d", "s", "t", "dt", "m", "bo", "iv", "sm"};
    static const char *types[N_COLS] = {"integer",   "bigint",  "double",        "text",
                                        "timestamp", "date",    "numeric(10,2)", "boolean",
                                        "interval",  "smallint"};
    static const char *strs[NROWS] = {"abc", "Hello World", NULL, "", "h\xc3\xa9llo"};
    uint32_t c, r;
    (void)state;
    A = tb_arena_new(0);
    S = tb_schema_new(N_COLS);
    assert_non_null(A);
    assert_non_null(S);
    for (c = 0; c < N_COLS; c++)
        assert_int_equal(tb_schema_set(S, c, names[c], ty(types[c]), true), TB_OK);
    assert_int_equal(tb_batch_new(S, 64, A, &B), TB_OK);
    B->n_rows = NROWS;
    {
        int32_t iv[NROWS] = {1, -2, 0, 2147483647, 0};
        int64_t bv[NROWS] = {10, 20, 30, 0, INT64_MIN};
        double dv[NROWS] = {1.5, -2.5, 0, 0.0, NAN};
        const char *tv[NROWS] = {"2024-01-31 10:00:07.5", "1969-12-31 23:59:55", "2024-01-01",
                                 "2000-02-29 00:00:00", "1970-01-01 00:00:00"};
        int32_t dtv[NROWS] = {19753, -1, 0, 11016, 0}; /* 2024-01-31, 1969-12-31, ... */
        int64_t mv[NROWS] = {125, -350, 0, 99999, 1};  /* numeric(10,2) * 100 */
        uint8_t bov[NROWS] = {1, 0, 0, 1, 0};
        tb_interval ivv[NROWS] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 0}, {0, 0, 10000000}, {-1, 2, 3}};
        int16_t smv[NROWS] = {1, -32768, 0, 32767, 5};
        for (r = 0; r < NROWS; r++) {
            ((int32_t *)B->cols[C_I].data)[r] = iv[r];
            ((int64_t *)B->cols[C_B].data)[r] = bv[r];
            ((double *)B->cols[C_D].data)[r] = dv[r];
            if (strs[r] != NULL) {
                ((tb_str *)B->cols[C_S].data)[r].ptr = strs[r];
                ((tb_str *)B->cols[C_S].data)[r].len = (uint32_t)strlen(strs[r]);
            }
            ((int64_t *)B->cols[C_T].data)[r] = ts_of(tv[r]);
            ((int32_t *)B->cols[C_DT].data)[r] = dtv[r];
            ((tb_i128 *)B->cols[C_M].data)[r] = mv[r];
            ((uint8_t *)B->cols[C_BO].data)[r] = bov[r];
            ((tb_interval *)B->cols[C_IV].data)[r] = ivv[r];
            ((int16_t *)B->cols[C_SM].data)[r] = smv[r];
        }
    }
    /* row 2 is NULL in every column (garbage-free here, but kernels must not care) */
    for (c = 0; c < N_COLS; c++) {
        if (c == C_S) {
            /* a garbage view on a NULL row: must never be dereferenced */
            ((tb_str *)B->cols[C_S].data)[2].ptr = (const char *)(uintptr_t)0x10;
            ((tb_str *)B->cols[C_S].data)[2].len = 1000000;
        }
        assert_int_equal(tb_vec_set_null(&B->cols[c], 2, 64, A), TB_OK);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tb_schema_free(S);
    tb_arena_free(A);
    return 0;
}

/* ------------------------------------------------------------------ tests */

static void test_arith_int(void **state)
{
    tb_expr *e;
    (void)state;
    /* i = 1,-2,NULL,2147483647,0 */
    e = call("-", 2, col(C_I), ci(1));
    EQ(typename_of(e), "integer");
    EQ(ev(e), "0,-3,NULL,2147483646,-1");
    e = call("*", 2, cbig(3), col(C_I));
    EQ(typename_of(e), "bigint");
    EQ(ev(e), "3,-6,NULL,6442450941,0");
    ev_fails(call("+", 2, col(C_I), ci(1)), TB_E_RANGE, "integer out of range");
    ev_fails(call("*", 2, col(C_I), ci(2)), TB_E_RANGE, "integer out of range");
    ev_fails(call("-", 1, col(C_B)), TB_E_RANGE, "bigint out of range");
    ev_fails(call("-", 2, col(C_B), ci(1)), TB_E_RANGE, "bigint out of range");
    ev_fails(call("+", 2, col(C_SM), col(C_SM)), TB_E_RANGE, "smallint out of range");
    e = call("+", 2, col(C_I), col(C_B));
    EQ(typename_of(e), "bigint");
    EQ(ev(e), "11,18,NULL,2147483647,-9223372036854775808");
    EQ(ev(call("-", 1, col(C_I))), "-1,2,NULL,-2147483647,0");
    /* division truncates; a zero divisor on a NULL row is no error */
    EQ(ev(call("/", 2, col(C_I), ci(2))), "0,-1,NULL,1073741823,0");
    EQ(ev(call("%", 2, col(C_I), ci(2))), "1,0,NULL,1,0");
    e = call("/", 2, ci(100), col(C_SM));
    EQ(typename_of(e), "integer");
    EQ(ev(e), "100,0,NULL,0,20");
    ev_fails(call("/", 2, ci(1), col(C_I)), TB_E_RANGE, "division by zero");
    ev_fails(call("%", 2, col(C_B), ci(0)), TB_E_RANGE, "division by zero");
    EQ(ev1(call("/", 2, ci(7), ci(-2))), "-3");
    EQ(ev1(call("%", 2, ci(-7), ci(2))), "-1");
    EQ(ev1(call("mod", 2, ci(7), ci(3))), "1");
    EQ(ev1(call("%", 2, cbig(INT64_MIN), ci(-1))), "0");
    /* folding a failing call leaves it for run time */
    e = call("/", 2, cbig(INT64_MIN), cbig(-1));
    assert_int_equal(e->kind, TB_EX_CALL);
    ev_fails(e, TB_E_RANGE, "bigint out of range");
    ev_fails(call("/", 2, ci(1), ci(0)), TB_E_RANGE, "division by zero");
    /* untyped literals adopt the other side's type */
    EQ(ev1(call("+", 2, cs("2"), ci(3))), "5");
    EQ(ev1(call("+", 2, cnull(), ci(3))), "NULL");
    call_fails(TB_E_TYPE, "invalid input syntax for type integer: \"x\"", "+", 2, cs("x"), ci(1));
    call_fails(TB_E_TYPE, "operator does not exist: text + integer", "+", 2, col(C_S), ci(1));
    call_fails(TB_E_TYPE, "operator does not exist: boolean * boolean", "*", 2, col(C_BO),
               cb(true));
}

static void test_arith_float(void **state)
{
    tb_expr *e;
    (void)state;
    e = call("*", 2, col(C_D), ci(2));
    EQ(typename_of(e), "double precision");
    EQ(ev(e), "3,-5,NULL,0,NaN");
    EQ(ev(call("+", 2, col(C_D), col(C_I))), "2.5,-4.5,NULL,2147483647,NaN");
    ev_fails(call("/", 2, col(C_D), cd(0)), TB_E_RANGE, "division by zero");
    ev_fails(call("*", 2, cd(1e308), col(C_I)), TB_E_RANGE, "value out of range: overflow");
    EQ(ev1(call("/", 2, cd(1), cd(4))), "0.25");
    EQ(ev1(call("%", 2, cd(5.5), ci(2))), "1.5");
    e = call("*", 2, cast(cd(1.5), "real"), cast(cd(2), "real"));
    EQ(typename_of(e), "real");
    EQ(ev1(e), "3");
    EQ(typename_of(call("+", 2, cast(cd(1.5), "real"), ci(1))), "double precision");
    EQ(ev1(call("+", 2, cn("0.1"), cd(0.2))), "0.30000000000000004");
    EQ(ev(call("=", 2, col(C_D), cs("NaN"))), "false,false,NULL,false,true");
    EQ(ev(call(">", 2, col(C_D), cd(1e300))), "false,false,NULL,false,true");
}

static void test_numeric(void **state)
{
    tb_expr *e;
    (void)state;
    /* m = 1.25,-3.50,NULL,999.99,0.01 (numeric(10,2)) */
    e = call("+", 2, col(C_M), ci(1));
    EQ(typename_of(e), "numeric(38,2)");
    EQ(ev(e), "2.25,-2.50,NULL,1000.99,1.01");
    e = call("*", 2, col(C_M), col(C_M));
    EQ(typename_of(e), "numeric(38,4)");
    EQ(ev(e), "1.5625,12.2500,NULL,999980.0001,0.0001");
    e = call("/", 2, col(C_M), ci(3));
    EQ(typename_of(e), "numeric(38,16)");
    EQ(ev(e),
       "0.4166666666666667,-1.1666666666666667,NULL,333.3300000000000000,0.0033333333333333");
    EQ(ev1(call("/", 2, cast(ci(10), "numeric"), ci(4))), "2.5000000000000000");
    EQ(ev1(call("+", 2, cn("1.5"), ci(1))), "2.5");
    EQ(ev1(call("-", 2, cn("1.5"), cn("0.25"))), "1.25");
    EQ(ev1(call("%", 2, cn("5.5"), ci(2))), "1.5");
    EQ(typename_of(call("+", 2, cn("1.5"), cd(1))), "double precision");
    ev_fails(call("+", 2, cn("99999999999999999999999999999999999999"), ci(1)), TB_E_RANGE,
             "numeric field overflow");
    ev_fails(call("*", 2, cn("12345678901234567890.12"), cn("12345678901234567890.12")), TB_E_RANGE,
             "numeric field overflow");
    /* wide products/quotients go through 256-bit arithmetic */
    EQ(ev1(call("*", 2, cn("1234567890123456789.123456"), cn("0.000001"))),
       "1234567890123.456789123456");
    EQ(ev1(call("/", 2, cn("12345678901234567890123.45"), cn("1234.5"))),
       "10000549940246713560.2458080194410693");
    EQ(ev1(call("/", 2, cn("1000000000000000000.5"), cn("0.5"))),
       "2000000000000000001.0000000000000000");
    ev_fails(call("/", 2, col(C_M), cn("0.00")), TB_E_RANGE, "division by zero");
    /* rounding: numeric half away from zero, double half to even (rint) */
    EQ(ev1(call("round", 1, cn("2.5"))), "3");
    EQ(ev1(call("round", 1, cn("-2.5"))), "-3");
    EQ(ev1(call("round", 1, cd(2.5))), "2");
    EQ(ev1(call("round", 1, cd(3.5))), "4");
    EQ(ev1(call("round", 2, cn("1.235"), ci(2))), "1.24");
    EQ(ev1(call("round", 2, cn("-1.235"), ci(2))), "-1.24");
    EQ(ev1(call("round", 2, cn("1.5"), ci(3))), "1.500");
    EQ(ev1(call("round", 2, cn("1250"), ci(-2))), "1300");
    EQ(ev1(call("round", 2, ci(7), ci(1))), "7.0");
    EQ(ev1(call("round", 2, cd(1.25), ci(1))), "1.3");
    EQ(ev1(call("trunc", 1, cn("1.99"))), "1");
    EQ(ev1(call("trunc", 2, cn("-1.999"), ci(2))), "-1.99");
    EQ(ev1(call("floor", 1, cn("-1.5"))), "-2");
    EQ(ev1(call("ceil", 1, cn("-1.5"))), "-1");
    EQ(ev1(call("ceiling", 1, cd(1.2))), "2");
    EQ(ev(call("round", 1, col(C_M))), "1,-4,NULL,1000,0");
    EQ(ev(call(">", 2, col(C_M), ci(1))), "true,false,NULL,true,false");
    EQ(ev(call("=", 2, col(C_M), cn("1.250"))), "true,false,NULL,false,false");
    EQ(ev(call("<", 2, col(C_I), cn("1.5"))), "true,true,NULL,false,true");
    EQ(ev(cast(col(C_M), "integer")), "1,-4,NULL,1000,0");
    EQ(ev(cast(col(C_M), "double")), "1.25,-3.5,NULL,999.99,0.01");
    EQ(ev(cast(col(C_M), "numeric(10,1)")), "1.3,-3.5,NULL,1000.0,0.0");
    ev_fails(cast(col(C_M), "numeric(3,1)"), TB_E_RANGE, "numeric field overflow");
    EQ(ev1(cast(cast(cd(1.005), "double"), "numeric(10,2)")), "1.01");
    EQ(ev1(cast(cs("12.345"), "numeric(5,2)")), "12.35");
    EQ(ev1(cast(cs("-0.005"), "numeric(5,2)")), "-0.01");
    EQ(ev1(cast(cs("1e3"), "numeric(10,2)")), "1000.00");
    EQ(ev1(cast(cs(" 12.5e-1 "), "numeric(10,2)")), "1.25");
    {
        tb_expr *r;
        assert_int_equal(tb_expr_cast(A, cs("1234.5"), ty("numeric(5,2)"), 0, &r, &E), TB_E_RANGE);
        assert_non_null(strstr(E.msg, "numeric field overflow"));
        assert_int_equal(tb_expr_cast(A, cs("1.2.3"), ty("numeric"), 0, &r, &E), TB_E_TYPE);
        assert_non_null(strstr(E.msg, "invalid input syntax for type numeric: \"1.2.3\""));
    }
    EQ(ev1(call("abs", 1, cn("-1.50"))), "1.50");
    EQ(ev1(call("sign", 1, cn("-2.5"))), "-1");
    EQ(ev1(call("-", 1, cn("2.5"))), "-2.5");
}

static void test_compare(void **state)
{
    (void)state;
    EQ(ev(call("<", 2, col(C_I), ci(1))), "false,true,NULL,false,true");
    EQ(ev(call(">=", 2, ci(1), col(C_I))), "true,true,NULL,false,true");
    EQ(ev(call("=", 2, col(C_I), col(C_B))), "false,false,NULL,false,false");
    EQ(ev(call("<>", 2, col(C_I), ci(0))), "true,true,NULL,true,false");
    EQ(ev(call("!=", 2, col(C_I), ci(0))), "true,true,NULL,true,false");
    EQ(ev(call("<", 2, col(C_I), col(C_D))), "true,false,NULL,false,true");
    EQ(ev(call("=", 2, col(C_S), cs("abc"))), "true,false,NULL,false,false");
    EQ(ev(call("<", 2, col(C_S), cs("b"))), "true,true,NULL,true,false");
    EQ(ev(call(">", 2, col(C_S), col(C_S))), "false,false,NULL,false,false");
    EQ(ev(call("<", 2, col(C_DT), col(C_T))), "true,true,NULL,false,false");
    EQ(ev(call(">=", 2, col(C_T), cs("2000-01-01"))), "true,false,NULL,true,false");
    EQ(ev(call("=", 2, col(C_DT), cs("2024-01-31"))), "true,false,NULL,false,false");
    EQ(ev(call("=", 2, col(C_BO), cb(true))), "true,false,NULL,true,false");
    EQ(ev(call("=", 2, col(C_BO), cs("f"))), "false,true,NULL,false,true");
    EQ(ev(call("=", 2, col(C_IV), cs("30 days"))), "true,false,NULL,false,false");
    EQ(ev(call("<", 2, col(C_SM), col(C_I))), "false,true,NULL,true,false");
    EQ(ev(call("=", 2, col(C_I), cs("0"))), "false,false,NULL,false,true");
    EQ(ev1(call("=", 2, cnull(), ci(1))), "NULL");
    EQ(ev1(call("=", 2, cs("a"), cs("a"))), "true");
    call_fails(TB_E_TYPE, "operator does not exist: text = integer", "=", 2, col(C_S), col(C_I));
    call_fails(TB_E_TYPE, "operator does not exist: date = integer", "=", 2, col(C_DT), ci(1));
    call_fails(TB_E_TYPE, "invalid input syntax for type integer: \"abc\"", "=", 2, col(C_I),
               cs("abc"));
    call_fails(TB_E_TYPE, "invalid input syntax for type timestamp", "<", 2, col(C_T), cs("x"));
}

static void test_logic(void **state)
{
    tb_expr *T, *F, *N;
    (void)state;
    T = cb(true);
    F = cb(false);
    N = cnull();
    /* truth tables */
    EQ(ev1(mk(TB_EX_AND, false, false, 2, T, T)), "true");
    EQ(ev1(mk(TB_EX_AND, false, false, 2, T, F)), "false");
    EQ(ev1(mk(TB_EX_AND, false, false, 2, T, N)), "NULL");
    EQ(ev1(mk(TB_EX_AND, false, false, 2, N, F)), "false");
    EQ(ev1(mk(TB_EX_AND, false, false, 2, F, N)), "false");
    EQ(ev1(mk(TB_EX_AND, false, false, 2, N, N)), "NULL");
    EQ(ev1(mk(TB_EX_OR, false, false, 2, T, N)), "true");
    EQ(ev1(mk(TB_EX_OR, false, false, 2, N, T)), "true");
    EQ(ev1(mk(TB_EX_OR, false, false, 2, F, N)), "NULL");
    EQ(ev1(mk(TB_EX_OR, false, false, 2, F, F)), "false");
    EQ(ev1(mk(TB_EX_OR, false, false, 2, N, N)), "NULL");
    EQ(ev1(mk(TB_EX_NOT, false, false, 1, N)), "NULL");
    EQ(ev1(mk(TB_EX_NOT, false, false, 1, F)), "true");
    /* columns: bo = T,F,N,T,F; i > 0 = T,F,N,T,F */
    EQ(ev(mk(TB_EX_AND, false, false, 2, col(C_BO), call(">", 2, col(C_I), ci(0)))),
       "true,false,NULL,true,false");
    EQ(ev(mk(TB_EX_OR, false, false, 2, col(C_BO), cnull())), "true,NULL,NULL,true,NULL");
    EQ(ev(mk(TB_EX_AND, false, false, 2, col(C_BO), cnull())), "NULL,false,NULL,NULL,false");
    EQ(ev(mk(TB_EX_OR, false, false, 3, col(C_BO), cb(false),
             mk(TB_EX_IS_NULL, false, false, 1, col(C_I)))),
       "true,false,true,true,false");
    EQ(ev(mk(TB_EX_NOT, false, false, 1, col(C_BO))), "false,true,NULL,false,true");
    /* laziness: the division is evaluated only where i <> 0 */
    EQ(ev(mk(TB_EX_AND, false, false, 2, call("<>", 2, col(C_I), ci(0)),
             call(">", 2, call("/", 2, ci(10), col(C_I)), ci(1)))),
       "true,false,NULL,false,false");
    EQ(ev(mk(TB_EX_OR, false, false, 2, call("=", 2, col(C_I), ci(0)),
             call(">", 2, call("/", 2, ci(10), col(C_I)), ci(1)))),
       "true,false,NULL,false,true");
    {
        tb_expr *args[2] = {col(C_I), T}, *r;
        assert_int_equal(tb_expr_make(A, TB_EX_AND, args, 2, false, false, 3, &r, &E), TB_E_TYPE);
        assert_non_null(strstr(E.msg, "argument of AND must be type boolean, not type integer"));
    }
    EQ(ev(mk(TB_EX_AND, false, false, 2, col(C_BO), cs("true"))), "true,false,NULL,true,false");
}

static void test_isnull_case(void **state)
{
    tb_expr *e;
    (void)state;
    EQ(ev(mk(TB_EX_IS_NULL, false, false, 1, col(C_I))), "false,false,true,false,false");
    EQ(ev(mk(TB_EX_IS_NULL, true, false, 1, col(C_S))), "true,true,false,true,true");
    EQ(ev1(mk(TB_EX_IS_NULL, false, false, 1, cnull())), "true");
    /* CASE without ELSE gives NULL */
    e = mk(TB_EX_CASE, false, false, 4, call(">", 2, col(C_I), ci(0)), cs("pos"),
           call("<", 2, col(C_I), ci(0)), cs("neg"));
    EQ(typename_of(e), "text");
    EQ(ev(e), "pos,neg,NULL,pos,NULL");
    /* only the rows reaching a branch evaluate it */
    e = mk(TB_EX_CASE, false, true, 3, call("=", 2, col(C_I), ci(0)), ci(0),
           call("/", 2, ci(100), col(C_I)));
    EQ(ev(e), "100,-50,NULL,0,0");
    e = mk(TB_EX_CASE, false, true, 3, col(C_BO), ci(1), cn("1.5"));
    EQ(typename_of(e), "numeric(38,1)");
    EQ(ev(e), "1.0,1.5,1.5,1.0,1.5");
    e = mk(TB_EX_CASE, false, true, 3, col(C_BO), col(C_S), cnull());
    EQ(ev(e), "abc,NULL,NULL,,NULL");
    EQ(ev1(mk(TB_EX_CASE, false, true, 3, cb(false), ci(1), ci(2))), "2");
    {
        tb_expr *args[3] = {col(C_BO), col(C_I), col(C_S)}, *r;
        assert_int_equal(tb_expr_make(A, TB_EX_CASE, args, 3, false, true, 3, &r, &E), TB_E_TYPE);
        assert_non_null(strstr(E.msg, "CASE types integer and text cannot be matched"));
        args[1] = ci(1);
        args[2] = cs("x");
        assert_int_equal(tb_expr_make(A, TB_EX_CASE, args, 3, false, true, 3, &r, &E), TB_E_TYPE);
        assert_non_null(strstr(E.msg, "invalid input syntax for type integer: \"x\""));
        args[0] = col(C_I);
        assert_int_equal(tb_expr_make(A, TB_EX_CASE, args, 3, false, true, 3, &r, &E), TB_E_TYPE);
        assert_non_null(
            strstr(E.msg, "argument of CASE/WHEN must be type boolean, not type integer"));
    }
}

static void test_in(void **state)
{
    tb_expr *items[101], *e;
    int k;
    (void)state;
    EQ(ev(mk(TB_EX_IN, false, false, 4, col(C_I), ci(1), ci(2), ci(0))),
       "true,false,NULL,false,true");
    /* x IN (1, NULL) is NULL when nothing matches */
    EQ(ev(mk(TB_EX_IN, false, false, 3, col(C_I), ci(1), cnull())), "true,NULL,NULL,NULL,NULL");
    EQ(ev(mk(TB_EX_IN, true, false, 3, col(C_I), ci(1), cnull())), "false,NULL,NULL,NULL,NULL");
    EQ(ev(mk(TB_EX_IN, true, false, 3, col(C_I), ci(5), ci(6))), "true,true,NULL,true,true");
    EQ(ev(mk(TB_EX_IN, false, false, 3, col(C_S), cs("abc"), cs(""))),
       "true,false,NULL,true,false");
    EQ(ev(mk(TB_EX_IN, false, false, 3, col(C_D), cn("1.5"), cs("NaN"))),
       "true,false,NULL,false,true");
    EQ(ev(mk(TB_EX_IN, false, false, 3, col(C_B), ci(20), cbig(INT64_MIN))),
       "false,true,NULL,false,true");
    EQ(ev(mk(TB_EX_IN, false, false, 2, col(C_DT), cs("1969-12-31"))),
       "false,true,NULL,false,false");
    /* non-constant list */
    EQ(ev(mk(TB_EX_IN, false, false, 3, col(C_I), col(C_B), ci(1))), "true,false,NULL,false,false");
    EQ(ev(mk(TB_EX_IN, true, false, 3, col(C_I), col(C_B), ci(1))), "false,true,NULL,true,true");
    /* a long list (hash set) */
    items[0] = col(C_I);
    for (k = 0; k < 100; k++)
        items[k + 1] = ci(k * 7 - 14); /* -14, -7, 0, 7, ... */
    {
        tb_expr *r;
        assert_int_equal(tb_expr_make(A, TB_EX_IN, items, 101, false, false, 3, &r, &E), TB_OK);
        EQ(ev(r), "false,false,NULL,false,true");
    }
    e = mk(TB_EX_IN, false, false, 3, ci(7), ci(1), ci(7));
    assert_int_equal(e->kind, TB_EX_CONST);
    EQ(ev1(e), "true");
    {
        tb_expr *args[3] = {col(C_I), ci(1), cs("x")}, *r;
        assert_int_equal(tb_expr_make(A, TB_EX_IN, args, 3, false, false, 3, &r, &E), TB_E_TYPE);
        assert_non_null(strstr(E.msg, "invalid input syntax for type integer: \"x\""));
        args[2] = col(C_S);
        assert_int_equal(tb_expr_make(A, TB_EX_IN, args, 3, false, false, 3, &r, &E), TB_E_TYPE);
        assert_non_null(strstr(E.msg, "integer and text cannot be matched"));
    }
}

static void test_like(void **state)
{
    (void)state;
    /* s = 'abc','Hello World',NULL,'','héllo' */
    EQ(ev(call("~~", 2, col(C_S), cs("a%"))), "true,false,NULL,false,false");
    EQ(ev(call("~~", 2, col(C_S), cs("%World"))), "false,true,NULL,false,false");
    EQ(ev(call("~~", 2, col(C_S), cs("%llo%"))), "false,true,NULL,false,true");
    EQ(ev(call("~~", 2, col(C_S), cs("h_llo"))), "false,false,NULL,false,true");
    EQ(ev(call("~~", 2, col(C_S), cs(""))), "false,false,NULL,true,false");
    EQ(ev(call("~~", 2, col(C_S), cs("%"))), "true,true,NULL,true,true");
    EQ(ev(call("~~", 2, col(C_S), cs("%o%o%"))), "false,true,NULL,false,false");
    EQ(ev(call("~~", 2, col(C_S), cs("___"))), "true,false,NULL,false,false");
    EQ(ev(call("!~~", 2, col(C_S), cs("abc"))), "false,true,NULL,true,true");
    EQ(ev(call("~~*", 2, col(C_S), cs("hello%"))), "false,true,NULL,false,false");
    EQ(ev(call("~~*", 2, col(C_S), cs("H_LLO"))), "false,false,NULL,false,true");
    EQ(ev(call("!~~*", 2, col(C_S), cs("%D"))), "true,false,NULL,true,true");
    EQ(ev(call("~~", 2, col(C_S), col(C_S))), "true,true,NULL,true,true");
    EQ(ev1(call("~~", 2, cs("a%b"), cs("a\\%b"))), "true");
    EQ(ev1(call("~~", 2, cs("axb"), cs("a\\%b"))), "false");
    EQ(ev1(call("~~", 2, cs("a_b"), cs("a\\_b"))), "true");
    EQ(ev1(call("~~", 2, cs("a\\b"), cs("a\\\\b"))), "true");
    EQ(ev1(call("~~", 2, cs("a%b"), call("like_escape", 2, cs("a#%b"), cs("#")))), "true");
    EQ(ev1(call("~~", 2, cs("a\\b"), call("like_escape", 2, cs("a\\b"), cs("#")))), "true");
    EQ(ev1(call("~~", 2, cs("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"), cs("%a%a%a%a%a%a%a%a%c"))),
       "false");
    EQ(ev1(call("~~", 2, cs("xabcabcabd"), cs("%abc%abd"))), "true");
    EQ(ev1(call("~~", 2, cnull(), cs("a"))), "NULL");
    call_fails(TB_E_SQL, "LIKE pattern must not end with escape character", "~~", 2, col(C_S),
               cs("ab\\"));
    call_fails(TB_E_TYPE, "operator does not exist: integer ~~ unknown", "~~", 2, col(C_I),
               cs("a"));
}

static void test_regex(void **state)
{
    (void)state;
    /* s = 'abc','Hello World',NULL,'','héllo' */
    EQ(ev(call("~", 2, col(C_S), cs("^[a-h]"))), "true,false,NULL,false,true");
    EQ(ev(call("~*", 2, col(C_S), cs("^[a-h]"))), "true,true,NULL,false,true");
    EQ(ev(call("!~", 2, col(C_S), cs("o"))), "true,false,NULL,true,false");
    EQ(ev(call("!~*", 2, col(C_S), cs("WORLD$"))), "true,false,NULL,true,true");
    EQ(ev1(call("~", 2, cs("abc123"), cs("\\d+$"))), "true");
    EQ(ev1(call("~", 2, cs("abc"), cs("[\\d]"))), "false");
    EQ(ev1(call("~", 2, cs("a b"), cs("a\\sb"))), "true");
    EQ(ev1(call("regexp_like", 3, cs("ABC"), cs("b"), cs("i"))), "true");
    EQ(ev(call("~", 2, col(C_S), col(C_S))), "true,true,NULL,true,true");
    EQ(ev1(call("regexp_replace", 3, cs("foobarbaz"), cs("b(..)"), cs("X\\1Y"))), "fooXarYbaz");
    EQ(ev1(call("regexp_replace", 4, cs("foobarbaz"), cs("b(..)"), cs("X\\1Y"), cs("g"))),
       "fooXarYXazY");
    EQ(ev1(call("regexp_replace", 4, cs("aaa"), cs("x*"), cs("-"), cs("g"))), "-a-a-a-");
    EQ(ev1(call("regexp_replace", 4, cs("Hello"), cs("L"), cs("[\\&]"), cs("gi"))), "He[l][l]o");
    EQ(ev(call("regexp_replace", 3, col(C_S), cs("[aeiou]"), cs(""))),
       "bc,Hllo World,NULL,,h\xc3\xa9ll");
    EQ(ev1(call("substring", 2, cs("foobar"), cs("o+b"))), "oob");
    EQ(ev1(call("substring", 2, cs("foobar"), cs("o(b.)"))), "ba");
    EQ(ev1(call("substring", 2, cs("foobar"), cs("xyz"))), "NULL");
    call_fails(TB_E_SQL, "invalid regular expression", "~", 2, col(C_S), cs("a("));
    call_fails(TB_E_TYPE, "operator does not exist: integer ~ unknown", "~", 2, ci(1), cs("a"));
    ev_fails(call("regexp_replace", 4, col(C_S), cs("a"), cs("b"), cs("q")), TB_E_SQL,
             "invalid regular expression option");
    call_fails(TB_E_NOTFOUND, "operator does not exist: integer @@ integer", "@@", 2, ci(1), ci(2));
}

static void test_strings(void **state)
{
    tb_expr *e;
    (void)state;
    EQ(ev(call("length", 1, col(C_S))), "3,11,NULL,0,5");
    EQ(ev(call("octet_length", 1, col(C_S))), "3,11,NULL,0,6");
    EQ(ev(call("upper", 1, col(C_S))), "ABC,HELLO WORLD,NULL,,H\xc3\xa9LLO");
    EQ(ev(call("lower", 1, col(C_S))), "abc,hello world,NULL,,h\xc3\xa9llo");
    EQ(ev1(call("initcap", 1, cs("hello wORLD foo-bar"))), "Hello World Foo-Bar");
    EQ(ev(call("substr", 2, col(C_S), ci(2))), "bc,ello World,NULL,,\xc3\xa9llo");
    EQ(ev1(call("substr", 3, cs("hello"), ci(2), ci(3))), "ell");
    EQ(ev1(call("substring", 3, cs("hello"), ci(0), ci(3))), "he");
    EQ(ev1(call("substr", 2, cs("hello"), ci(-1))), "hello");
    EQ(ev1(call("substr", 3, cs("h\xc3\xa9llo"), ci(2), ci(2))), "\xc3\xa9l");
    EQ(ev1(call("substr", 2, cs("hello"), ci(10))), "");
    ev_fails(call("substr", 3, cs("hello"), ci(1), ci(-1)), TB_E_RANGE,
             "negative substring length not allowed");
    EQ(ev1(call("trim", 1, cs("  x  "))), "x");
    EQ(ev1(call("ltrim", 2, cs("xxaxx"), cs("x"))), "axx");
    EQ(ev1(call("rtrim", 2, cs("xxaxx"), cs("x"))), "xxa");
    EQ(ev1(call("btrim", 2, cs("xyhixy"), cs("xy"))), "hi");
    EQ(ev1(call("btrim", 2, cs("\xc3\xa9h\xc3\xa9"), cs("\xc3\xa9"))), "h");
    EQ(ev1(call("replace", 3, cs("abcabc"), cs("b"), cs("XX"))), "aXXcaXXc");
    EQ(ev1(call("replace", 3, cs("abc"), cs(""), cs("x"))), "abc");
    EQ(ev(call("replace", 3, col(C_S), cs("l"), cs("L"))), "abc,HeLLo WorLd,NULL,,h\xc3\xa9LLo");
    EQ(ev1(call("translate", 3, cs("12345"), cs("143"), cs("ax"))), "a2x5");
    EQ(ev1(call("concat", 4, cs("a"), cnull(), ci(1), cb(true))), "a1true");
    EQ(ev(call("concat", 2, col(C_S), col(C_I))), "abc1,Hello World-2,,2147483647,h\xc3\xa9llo0");
    EQ(ev1(call("concat_ws", 4, cs(","), cs("a"), cnull(), cs("b"))), "a,b");
    EQ(ev1(call("concat_ws", 2, cnull(), cs("a"))), "NULL");
    EQ(ev1(call("left", 2, cs("hello"), ci(2))), "he");
    EQ(ev1(call("left", 2, cs("hello"), ci(-2))), "hel");
    EQ(ev1(call("right", 2, cs("hello"), ci(2))), "lo");
    EQ(ev1(call("right", 2, cs("hello"), ci(-2))), "llo");
    EQ(ev1(call("right", 2, cs("h\xc3\xa9llo"), ci(4))), "\xc3\xa9llo");
    EQ(ev1(call("strpos", 2, cs("h\xc3\xa9llo"), cs("llo"))), "3");
    EQ(ev1(call("position", 2, cs("abc"), cs("x"))), "0");
    EQ(ev1(call("starts_with", 2, cs("hello"), cs("he"))), "true");
    EQ(ev1(call("split_part", 3, cs("a,b,c"), cs(","), ci(2))), "b");
    EQ(ev1(call("split_part", 3, cs("a,b,c"), cs(","), ci(4))), "");
    EQ(ev1(call("split_part", 3, cs("a,b,c"), cs(","), ci(-1))), "c");
    EQ(ev1(call("split_part", 3, cs("a,b,c"), cs(","), ci(-3))), "a");
    EQ(ev1(call("split_part", 3, cs("a::b"), cs("::"), ci(2))), "b");
    ev_fails(call("split_part", 3, cs("a,b"), cs(","), ci(0)), TB_E_RANGE,
             "field position must not be zero");
    EQ(ev1(call("lpad", 2, cs("hi"), ci(5))), "   hi");
    EQ(ev1(call("lpad", 3, cs("hi"), ci(5), cs("xy"))), "xyxhi");
    EQ(ev1(call("rpad", 3, cs("hi"), ci(5), cs("xy"))), "hixyx");
    EQ(ev1(call("lpad", 2, cs("hello"), ci(2))), "he");
    EQ(ev1(call("reverse", 1, cs("h\xc3\xa9llo"))), "oll\xc3\xa9h");
    EQ(ev1(call("repeat", 2, cs("ab"), ci(3))), "ababab");
    EQ(ev1(call("repeat", 2, cs("ab"), ci(-1))), "");
    ev_fails(call("repeat", 2, cs("ab"), ci(2000000000)), TB_E_LIMIT, "requested length too large");
    EQ(ev1(call("md5", 1, cs(""))), "d41d8cd98f00b204e9800998ecf8427e");
    EQ(ev1(call("md5", 1, cs("abc"))), "900150983cd24fb0d6963f7d28e17f72");
    EQ(ev1(call("md5", 1, cs("The quick brown fox jumps over the lazy dog"))),
       "9e107d9d372bb6826bd81d3542a419d6");
    EQ(ev1(call("md5", 1,
                cs("1234567890123456789012345678901234567890123456789012345678901234567890"
                   "1234567890"))),
       "57edf4a22be3c955ac49da2e2107b67a");
    EQ(ev1(call("ascii", 1, cs("A"))), "65");
    EQ(ev1(call("ascii", 1, cs("\xc3\xa9"))), "233");
    EQ(ev1(call("chr", 1, ci(65))), "A");
    EQ(ev1(call("chr", 1, ci(233))), "\xc3\xa9");
    ev_fails(call("chr", 1, ci(0)), TB_E_RANGE, "null character not permitted");
    e = call("||", 2, col(C_S), cs("!"));
    EQ(typename_of(e), "text");
    EQ(ev(e), "abc!,Hello World!,NULL,!,h\xc3\xa9llo!");
    EQ(ev1(call("||", 2, cs("a"), ci(1))), "a1");
    EQ(ev(call("||", 2, col(C_I), cs("x"))), "1x,-2x,NULL,2147483647x,0x");
    call_fails(TB_E_TYPE, "operator does not exist: integer || integer", "||", 2, ci(1), ci(2));
    call_fails(TB_E_TYPE, "function lower(integer) does not exist", "lower", 1, ci(1));
    call_fails(TB_E_NOTFOUND, "function lenght(text) does not exist (did you mean: length?)",
               "lenght", 1, col(C_S));
    call_fails(TB_E_NOTFOUND, "function frobnicate(integer, unknown) does not exist", "frobnicate",
               2, ci(1), cs("x"));
    call_fails(TB_E_TYPE, "function substr(text) does not exist", "substr", 1, col(C_S));
    EQ(ev1(call("UPPER", 1, cs("x"))), "X");
    /* function-style casts and pg_typeof */
    EQ(ev1(call("date", 1, cast(cs("2024-01-02 10:00"), "timestamp"))), "2024-01-02");
    EQ(ev1(call("int8", 1, cs("12"))), "12");
    EQ(ev1(call("pg_typeof", 1, call("+", 2, ci(1), cn("1.5")))), "numeric");
    EQ(ev1(call("pg_typeof", 1, col(C_T))), "timestamp without time zone");
    EQ(ev1(call("pg_typeof", 1, cs("x"))), "unknown");
    EQ(ev1(call("pg_typeof", 1, call("/", 2, col(C_I), col(C_SM)))), "integer");
}

static void test_conditional(void **state)
{
    tb_expr *e;
    (void)state;
    EQ(ev(call("coalesce", 2, col(C_I), ci(0))), "1,-2,0,2147483647,0");
    EQ(ev1(call("coalesce", 3, cnull(), cnull(), cs("x"))), "x");
    /* lazy: 10 / i is evaluated only where sm is NULL (row 2, where i is NULL too) */
    e = call("coalesce", 2, col(C_SM), call("/", 2, ci(10), col(C_I)));
    EQ(typename_of(e), "integer");
    EQ(ev(e), "1,-32768,NULL,32767,5");
    EQ(ev(call("nullif", 2, col(C_I), ci(0))), "1,-2,NULL,2147483647,NULL");
    EQ(ev(call("greatest", 3, col(C_I), ci(0), cnull())), "1,0,0,2147483647,0");
    EQ(ev(call("least", 2, col(C_I), ci(0))), "0,-2,0,0,0");
    EQ(ev(call("greatest", 2, col(C_S), cs("b"))), "b,b,b,b,h\xc3\xa9llo");
    EQ(ev1(call("greatest", 2, ci(1), cn("2.5"))), "2.5");
    EQ(ev1(call("least", 2, cnull(), cnull())), "NULL");
    call_fails(TB_E_TYPE, "GREATEST types integer and text cannot be matched", "greatest", 2,
               col(C_I), col(C_S));
    EQ(ev(call("is_distinct_from", 2, col(C_I), cnull())), "true,true,false,true,true");
    EQ(ev(call("is_not_distinct_from", 2, col(C_I), ci(0))), "false,false,false,false,true");
    EQ(ev(call("is_distinct_from", 2, col(C_I), col(C_I))), "false,false,false,false,false");
}

static void test_math(void **state)
{
    tb_expr *e;
    tb_vec v;
    uint32_t r;
    (void)state;
    EQ(ev(call("abs", 1, col(C_I))), "1,2,NULL,2147483647,0");
    ev_fails(call("abs", 1, col(C_SM)), TB_E_RANGE, "smallint out of range");
    EQ(ev(call("abs", 1, col(C_D))), "1.5,2.5,NULL,0,NaN");
    EQ(ev1(call("sqrt", 1, ci(4))), "2");
    ev_fails(call("sqrt", 1, ci(-1)), TB_E_RANGE, "cannot take square root of a negative number");
    EQ(ev1(call("cbrt", 1, ci(27))), "3");
    EQ(ev1(call("power", 2, ci(2), ci(10))), "1024");
    EQ(ev1(call("pow", 2, cd(4), cd(0.5))), "2");
    ev_fails(call("power", 2, ci(0), ci(-1)), TB_E_RANGE, "zero raised to a negative power");
    ev_fails(call("power", 2, ci(-8), cd(0.5)), TB_E_RANGE, "complex result");
    EQ(ev1(call("exp", 1, ci(0))), "1");
    EQ(ev1(call("ln", 1, ci(1))), "0");
    ev_fails(call("ln", 1, ci(0)), TB_E_RANGE, "cannot take logarithm of zero");
    ev_fails(call("log", 1, ci(-1)), TB_E_RANGE, "cannot take logarithm of a negative number");
    EQ(ev1(call("log", 1, ci(100))), "2");
    EQ(ev1(call("log10", 1, ci(1000))), "3");
    EQ(ev1(call("log", 2, ci(2), ci(8))), "3");
    EQ(ev1(call("sign", 1, ci(-5))), "-1");
    EQ(ev1(call("pi", 0)), "3.141592653589793");
    EQ(ev(call("round", 1, col(C_D))), "2,-2,NULL,0,NaN");
    EQ(ev(call("floor", 1, col(C_I))), "1,-2,NULL,2147483647,0");
    EQ(ev1(call("trunc", 1, cd(-1.7))), "-1");
    EQ(ev1(call("degrees", 1, call("pi", 0))), "180");
    /* random(): volatile, never folded, one value per row in [0, 1) */
    e = call("random", 0);
    assert_int_equal(e->kind, TB_EX_CALL);
    assert_false(tb_expr_is_const(e));
    assert_int_equal(tb_expr_eval(e, B, A, &v, &E), TB_OK);
    for (r = 0; r < NROWS; r++) {
        double x = ((double *)v.data)[r];
        assert_true(x >= 0 && x < 1);
    }
    assert_true(((double *)v.data)[0] != ((double *)v.data)[1]);
}

static void test_casts(void **state)
{
    tb_expr *r;
    (void)state;
    EQ(ev(cast(col(C_I), "text")), "1,-2,NULL,2147483647,0");
    EQ(ev(cast(col(C_D), "text")), "1.5,-2.5,NULL,0,NaN");
    EQ(ev(cast(col(C_BO), "text")), "true,false,NULL,true,false");
    EQ(ev(cast(col(C_M), "text")), "1.25,-3.50,NULL,999.99,0.01");
    EQ(ev(cast(col(C_T), "text")),
       "2024-01-31 10:00:07.5,1969-12-31 23:59:55,NULL,2000-02-29 00:00:00,1970-01-01 00:00:00");
    EQ(ev(cast(col(C_DT), "text")), "2024-01-31,1969-12-31,NULL,2000-02-29,1970-01-01");
    EQ(ev1(cast(cs("42"), "integer")), "42");
    EQ(ev1(cast(cs(" -42 "), "bigint")), "-42");
    EQ(ev1(cast(cs("yes"), "boolean")), "true");
    EQ(ev1(cast(cs("OFF"), "boolean")), "false");
    EQ(ev1(cast(cs("1 day 02:00:00"), "interval")), "1 day 02:00:00");
    EQ(ev1(cast(cs("Infinity"), "double")), "Infinity");
    EQ(ev1(cast(cs("-1.5e2"), "double")), "-150");
    EQ(ev1(cast(cs("2024-02-29"), "date")), "2024-02-29");
    EQ(ev1(cast(cs("2024-02-29 12:00"), "timestamp")), "2024-02-29 12:00:00");
#define CAST_FAILS(str, type, code, want)                                                          \
    do {                                                                                           \
        assert_int_equal(tb_expr_cast(A, cs(str), ty(type), 0, &r, &E), code);                     \
        if (strstr(E.msg, want) == NULL)                                                           \
            fail_msg("cast '%s' to %s: %s", str, type, E.msg);                                     \
    } while (0)
    CAST_FAILS("abc", "integer", TB_E_TYPE, "invalid input syntax for type integer: \"abc\"");
    CAST_FAILS("1.5", "integer", TB_E_TYPE, "invalid input syntax for type integer: \"1.5\"");
    CAST_FAILS("99999999999", "integer", TB_E_RANGE,
               "value \"99999999999\" is out of range for type integer");
    CAST_FAILS("40000", "smallint", TB_E_RANGE, "out of range for type smallint");
    CAST_FAILS("maybe", "boolean", TB_E_TYPE, "invalid input syntax for type boolean: \"maybe\"");
    CAST_FAILS("2024-02-30", "date", TB_E_TYPE, "invalid input syntax for type date");
    CAST_FAILS("abc", "double", TB_E_TYPE, "invalid input syntax for type double precision");
    CAST_FAILS("0x10", "double", TB_E_TYPE, "invalid input syntax for type double precision");
    CAST_FAILS("1e999", "double", TB_E_RANGE, "out of range for type double precision");
    CAST_FAILS("10 parsecs", "interval", TB_E_TYPE, "invalid input syntax for type interval");
    ev_fails(cast(col(C_S), "integer"), TB_E_TYPE,
             "invalid input syntax for type integer: \"abc\"");
    assert_int_equal(tb_expr_cast(A, cbig(3000000000LL), ty("integer"), 0, &r, &E), TB_E_RANGE);
    assert_non_null(strstr(E.msg, "integer out of range"));
    ev_fails(cast(col(C_B), "integer"), TB_E_RANGE, "integer out of range");
    ev_fails(cast(col(C_D), "integer"), TB_E_RANGE, "integer out of range"); /* NaN */
    EQ(ev1(cast(cd(2.5), "integer")), "2");
    EQ(ev1(cast(cd(3.5), "integer")), "4");
    EQ(ev1(cast(cd(-2.5), "bigint")), "-2");
    EQ(ev1(cast(cb(true), "integer")), "1");
    EQ(ev1(cast(ci(0), "boolean")), "false");
    EQ(ev(cast(col(C_T), "date")), "2024-01-31,1969-12-31,NULL,2000-02-29,1970-01-01");
    EQ(ev(cast(col(C_DT), "timestamp")),
       "2024-01-31 00:00:00,1969-12-31 00:00:00,NULL,2000-02-29 00:00:00,1970-01-01 00:00:00");
    EQ(ev(cast(col(C_I), "double")), "1,-2,NULL,2147483647,0");
    EQ(ev(cast(col(C_SM), "numeric(7,1)")), "1.0,-32768.0,NULL,32767.0,5.0");
    ev_fails(cast(col(C_I), "numeric(5,1)"), TB_E_RANGE, "numeric field overflow");
    EQ(ev(cast(col(C_B), "real")), "10,20,NULL,0,-9.223372e+18");
    assert_int_equal(tb_expr_cast(A, col(C_DT), ty("integer"), 0, &r, &E), TB_E_TYPE);
    assert_non_null(strstr(E.msg, "cannot cast type date to integer"));
    assert_int_equal(tb_expr_cast(A, col(C_BO), ty("date"), 0, &r, &E), TB_E_TYPE);
    assert_non_null(strstr(E.msg, "cannot cast type boolean to date"));
    /* coercion: implicit + assignment casts, never text -> other */
    assert_int_equal(tb_expr_coerce(A, col(C_I), ty("bigint"), 0, &r, &E), TB_OK);
    EQ(typename_of(r), "bigint");
    assert_int_equal(tb_expr_coerce(A, col(C_D), ty("integer"), 0, &r, &E), TB_OK);
    assert_int_equal(tb_expr_coerce(A, col(C_I), ty("text"), 0, &r, &E), TB_OK);
    assert_int_equal(tb_expr_coerce(A, col(C_S), ty("integer"), 5, &r, &E), TB_E_TYPE);
    assert_non_null(strstr(E.msg, "text to integer"));
    assert_int_equal(E.pos, 5);
    assert_int_equal(tb_expr_coerce(A, cs("12"), ty("integer"), 0, &r, &E), TB_OK);
    EQ(ev1(r), "12");
    assert_int_equal(tb_expr_coerce(A, cnull(), ty("date"), 0, &r, &E), TB_OK);
    EQ(typename_of(r), "date");
    EQ(ev(r), "NULL,NULL,NULL,NULL,NULL");
}

static void test_time(void **state)
{
    tb_expr *e;
    (void)state;
    e = call("+", 2, col(C_T), cs("1 month"));
    EQ(typename_of(e), "timestamp");
    EQ(ev(e), "2024-02-29 10:00:07.5,1970-01-31 23:59:55,NULL,2000-03-29 00:00:00,"
              "1970-02-01 00:00:00");
    EQ(ev(call("-", 2, col(C_T), cs("1 day 1 second"))),
       "2024-01-30 10:00:06.5,1969-12-30 23:59:54,NULL,2000-02-27 23:59:59,1969-12-30 23:59:59");
    EQ(ev(call("+", 2, col(C_T), col(C_IV))),
       "2024-02-29 10:00:07.5,1970-01-01 23:59:55,NULL,2000-02-29 00:00:10,"
       "1969-12-03 00:00:00.000003");
    EQ(ev(call("+", 2, col(C_IV), col(C_DT))),
       "2024-02-29 00:00:00,1970-01-01 00:00:00,NULL,2000-02-29 00:00:10,"
       "1969-12-03 00:00:00.000003");
    e = call("+", 2, col(C_DT), ci(1));
    EQ(typename_of(e), "date");
    EQ(ev(e), "2024-02-01,1970-01-01,NULL,2000-03-01,1970-01-02");
    EQ(ev(call("-", 2, col(C_DT), cast(cs("2024-01-01"), "date"))), "30,-19724,NULL,-8707,-19723");
    EQ(ev1(call("-", 2, cast(cs("2024-01-02 03:00:00"), "timestamp"),
                cast(cs("2024-01-01"), "timestamp"))),
       "1 day 03:00:00");
    EQ(ev1(call("*", 2, cast(cs("1 month"), "interval"), cd(1.5))), "1 mon 15 days");
    EQ(ev1(call("*", 2, ci(2), cast(cs("1 day 01:00:00"), "interval"))), "2 days 02:00:00");
    EQ(ev1(call("/", 2, cast(cs("1 day"), "interval"), ci(2))), "12:00:00");
    EQ(ev1(call("+", 2, cast(cs("1 day"), "interval"), cs("1 hour"))), "1 day 01:00:00");
    EQ(ev1(call("-", 1, cast(cs("1 day"), "interval"))), "-1 days");
    ev_fails(call("/", 2, col(C_IV), ci(0)), TB_E_RANGE, "division by zero");
    /* ts - 'literal': a timestamp literal gives ts - ts, otherwise an interval */
    EQ(typename_of(call("-", 2, col(C_T), cs("2024-01-31"))), "interval");
    EQ(ev(call("-", 2, col(C_T), cs("2024-01-31"))),
       "10:00:07.5,-19753 days -00:00:05,NULL,-8737 days,-19753 days");
    EQ(typename_of(call("-", 2, col(C_T), cs("1 hour"))), "timestamp");
    EQ(typename_of(call("-", 2, col(C_DT), cs("2024-01-01"))), "integer");
    /* extract / date_part */
    e = call("extract", 2, cs("year"), col(C_T));
    EQ(typename_of(e), "numeric(38,0)");
    EQ(ev(e), "2024,1969,NULL,2000,1970");
    EQ(ev(call("extract", 2, cs("second"), col(C_T))), "7.500000,55.000000,NULL,0.000000,0.000000");
    EQ(ev(call("extract", 2, cs("milliseconds"), col(C_T))), "7500.000,55000.000,NULL,0.000,0.000");
    e = call("date_part", 2, cs("epoch"), col(C_T));
    EQ(typename_of(e), "double precision");
    EQ(ev(e), "1706695207.5,-5,NULL,951782400,0");
    EQ(ev(call("extract", 2, cs("dow"), col(C_DT))), "3,3,NULL,2,4");
    EQ(ev(call("extract", 2, cs("isodow"), col(C_DT))), "3,3,NULL,2,4");
    EQ(ev(call("extract", 2, cs("doy"), col(C_T))), "31,365,NULL,60,1");
    EQ(ev(call("extract", 2, cs("week"), col(C_DT))), "5,1,NULL,9,1");
    EQ(ev(call("extract", 2, cs("quarter"), col(C_T))), "1,4,NULL,1,1");
    EQ(ev(call("extract", 2, cs("month"), col(C_T))), "1,12,NULL,2,1");
    EQ(ev(call("extract", 2, cs("DAY"), col(C_T))), "31,31,NULL,29,1");
    EQ(ev(call("extract", 2, cs("hour"), col(C_T))), "10,23,NULL,0,0");
    EQ(ev(call("extract", 2, cs("minute"), col(C_T))), "0,59,NULL,0,0");
    EQ(ev(call("extract", 2, cs("century"), col(C_T))), "21,20,NULL,20,20");
    EQ(ev(call("extract", 2, cs("epoch"), col(C_IV))),
       "2592000.000000,86400.000000,NULL,10.000000,-2419199.999997");
    EQ(ev(call("date_part", 2, cs("month"), col(C_IV))), "1,0,NULL,0,-1");
    call_fails(TB_E_TYPE, "unit \"fortnight\" not recognized", "extract", 2, cs("fortnight"),
               col(C_T));
    call_fails(TB_E_TYPE, "unit \"dow\" not supported for type interval", "extract", 2, cs("dow"),
               col(C_IV));
    /* date_trunc */
    EQ(ev(call("date_trunc", 2, cs("month"), col(C_T))),
       "2024-01-01 00:00:00,1969-12-01 00:00:00,NULL,2000-02-01 00:00:00,1970-01-01 00:00:00");
    EQ(ev(call("date_trunc", 2, cs("hour"), col(C_T))),
       "2024-01-31 10:00:00,1969-12-31 23:00:00,NULL,2000-02-29 00:00:00,1970-01-01 00:00:00");
    EQ(ev(call("date_trunc", 2, cs("week"), col(C_T))),
       "2024-01-29 00:00:00,1969-12-29 00:00:00,NULL,2000-02-28 00:00:00,1969-12-29 00:00:00");
    EQ(ev(call("date_trunc", 2, cs("second"), col(C_T))),
       "2024-01-31 10:00:07,1969-12-31 23:59:55,NULL,2000-02-29 00:00:00,1970-01-01 00:00:00");
    EQ(ev(call("date_trunc", 2, cs("quarter"), col(C_DT))),
       "2024-01-01 00:00:00,1969-10-01 00:00:00,NULL,2000-01-01 00:00:00,1970-01-01 00:00:00");
    EQ(ev1(call("date_trunc", 2, cs("year"), cast(cs("1 year 2 months 3 days"), "interval"))),
       "1 year");
    call_fails(TB_E_TYPE, "unit \"foo\" not recognized", "date_trunc", 2, cs("foo"), col(C_T));
    /* windows */
    e = call("tumble", 2, col(C_T), cs("10 seconds"));
    EQ(typename_of(e), "timestamp");
    EQ(ev(e), "2024-01-31 10:00:00,1969-12-31 23:59:50,NULL,2000-02-29 00:00:00,"
              "1970-01-01 00:00:00");
    EQ(ev(call("tumble_end", 2, col(C_T), cs("10 seconds"))),
       "2024-01-31 10:00:10,1970-01-01 00:00:00,NULL,2000-02-29 00:00:10,1970-01-01 00:00:10");
    EQ(ev(call("tumble", 3, col(C_T), cs("1 hour"), cs("15 minutes"))),
       "2024-01-31 09:15:00,1969-12-31 23:15:00,NULL,2000-02-28 23:15:00,1969-12-31 23:15:00");
    EQ(ev(call("tumble", 2, col(C_T), cs("1 day"))),
       "2024-01-31 00:00:00,1969-12-31 00:00:00,NULL,2000-02-29 00:00:00,1970-01-01 00:00:00");
    EQ(ev1(call("tumble", 2, cast(cs("1969-12-31 23:59:59.5"), "timestamp"), cs("1 second"))),
       "1969-12-31 23:59:59");
    EQ(ev1(call("tumble", 2, cast(cs("1969-12-31 23:59:50"), "timestamp"), cs("10 seconds"))),
       "1969-12-31 23:59:50");
    call_fails(TB_E_RANGE, "must not contain months", "tumble", 2, col(C_T), cs("1 month"));
    call_fails(TB_E_RANGE, "greater than zero", "tumble", 2, col(C_T), cs("0 seconds"));
    EQ(ev(call("date_bin", 3, cs("15 minutes"), col(C_T), cs("2000-01-01"))),
       "2024-01-31 10:00:00,1969-12-31 23:45:00,NULL,2000-02-29 00:00:00,1970-01-01 00:00:00");
    EQ(ev1(call("date_bin", 3, cs("1 hour"), cast(cs("2020-01-01 00:30"), "timestamp"),
                cast(cs("2020-01-01 01:15"), "timestamp"))),
       "2020-01-01 00:15:00");
    ev_fails(call("date_bin", 3, cs("1 month"), col(C_T), cs("2000-01-01")), TB_E_RANGE,
             "cannot be binned into intervals containing months");
    /* constructors */
    EQ(ev1(call("make_date", 3, ci(2024), ci(2), ci(29))), "2024-02-29");
    ev_fails(call("make_date", 3, ci(2023), ci(2), ci(29)), TB_E_RANGE,
             "date field value out of range: 2023-02-29");
    EQ(ev1(call("make_timestamp", 6, ci(2024), ci(1), ci(2), ci(3), ci(4), cd(5.5))),
       "2024-01-02 03:04:05.5");
    EQ(ev1(call("to_timestamp", 1, ci(0))), "1970-01-01 00:00:00");
    EQ(ev1(call("to_timestamp", 1, cd(-1.5))), "1969-12-31 23:59:58.5");
    EQ(ev(call("epoch", 1, col(C_DT))), "1706659200,-86400,NULL,951782400,0");
    /* statement time: fixed per expression, not folded into a literal */
    e = call("now", 0);
    assert_int_equal(e->kind, TB_EX_CALL);
    EQ(typename_of(e), "timestamp");
    {
        char first[64];
        snprintf(first, sizeof(first), "%s", ev1(e));
        EQ(ev1(e), first);
    }
    EQ(typename_of(call("current_date", 0)), "date");
    call_fails(TB_E_TYPE, "operator does not exist: timestamp + integer", "+", 2, col(C_T), ci(1));
    call_fails(TB_E_TYPE, "operator does not exist: date * integer", "*", 2, col(C_DT), ci(2));
}

static void test_types(void **state)
{
    tb_type ts[3], out;
    tb_aggspec ag;
    tb_expr *exprs[2];
    (void)state;
    ts[0] = ty("integer");
    ts[1] = ty("bigint");
    assert_int_equal(tb_type_common(ts, 2, &out, 0, &E), TB_OK);
    assert_int_equal(out.id, TB_T_INT64);
    ts[1] = ty("numeric(10,2)");
    assert_int_equal(tb_type_common(ts, 2, &out, 0, &E), TB_OK);
    assert_true(tb_type_eq(out, tb_type_decimal(12, 2)));
    ts[1] = ty("double");
    assert_int_equal(tb_type_common(ts, 2, &out, 0, &E), TB_OK);
    assert_int_equal(out.id, TB_T_DOUBLE);
    ts[0] = ty("date");
    ts[1] = ty("timestamp");
    assert_int_equal(tb_type_common(ts, 2, &out, 0, &E), TB_OK);
    assert_int_equal(out.id, TB_T_TIMESTAMP);
    ts[0] = tb_type_make(TB_T_NULL);
    ts[1] = ty("integer");
    assert_int_equal(tb_type_common(ts, 2, &out, 0, &E), TB_OK);
    assert_int_equal(out.id, TB_T_INT32);
    assert_int_equal(tb_type_common(ts, 1, &out, 0, &E), TB_OK);
    assert_int_equal(out.id, TB_T_STRING);
    ts[0] = ty("integer");
    ts[1] = ty("real");
    ts[2] = ty("text");
    assert_int_equal(tb_type_common(ts, 3, &out, 9, &E), TB_E_TYPE);
    EQ(E.msg, "UNION types double precision and text cannot be matched");
    assert_int_equal(E.pos, 9);
    exprs[0] = cs("1");
    exprs[1] = ci(1);
    assert_int_equal(tb_expr_common_type(exprs, 2, "UNION", 0, &out, &E), TB_OK);
    assert_int_equal(out.id, TB_T_INT32);
    /* aggregates */
    assert_int_equal(tb_agg_resolve("sum", false, false, col(C_I), 0, &ag, &E), TB_OK);
    assert_int_equal(ag.kind, TB_AGG_SUM);
    assert_int_equal(ag.type.id, TB_T_INT64);
    assert_int_equal(tb_agg_resolve("SUM", false, true, col(C_B), 0, &ag, &E), TB_OK);
    assert_true(tb_type_eq(ag.type, tb_type_decimal(38, 0)));
    assert_true(ag.distinct);
    assert_int_equal(tb_agg_resolve("sum", false, false, col(C_M), 0, &ag, &E), TB_OK);
    assert_true(tb_type_eq(ag.type, tb_type_decimal(38, 2)));
    assert_int_equal(tb_agg_resolve("avg", false, false, col(C_SM), 0, &ag, &E), TB_OK);
    assert_true(tb_type_eq(ag.type, tb_type_decimal(38, 6)));
    assert_int_equal(tb_agg_resolve("avg", false, false, col(C_D), 0, &ag, &E), TB_OK);
    assert_int_equal(ag.type.id, TB_T_DOUBLE);
    assert_int_equal(tb_agg_resolve("count", true, false, NULL, 0, &ag, &E), TB_OK);
    assert_int_equal(ag.kind, TB_AGG_COUNT_STAR);
    assert_int_equal(ag.type.id, TB_T_INT64);
    assert_int_equal(tb_agg_resolve("count", false, false, col(C_S), 0, &ag, &E), TB_OK);
    assert_int_equal(ag.kind, TB_AGG_COUNT);
    assert_int_equal(tb_agg_resolve("max", false, false, col(C_S), 0, &ag, &E), TB_OK);
    assert_int_equal(ag.kind, TB_AGG_MAX);
    assert_int_equal(ag.type.id, TB_T_STRING);
    {
        tb_expr *n = cnull();
        tb_vec v;
        assert_int_equal(tb_agg_resolve("sum", false, false, n, 0, &ag, &E), TB_OK);
        assert_int_equal(ag.type.id, TB_T_INT64);
        assert_int_equal(tb_expr_eval(n, B, A, &v, &E), TB_OK);
        assert_int_equal(v.type.id, TB_T_INT32);
        EQ(render(&v, NROWS), "NULL,NULL,NULL,NULL,NULL");
    }
    assert_int_equal(tb_agg_resolve("sum", false, false, col(C_S), 4, &ag, &E), TB_E_TYPE);
    EQ(E.msg, "function sum(text) does not exist");
    assert_int_equal(tb_agg_resolve("stddev", false, false, col(C_I), 4, &ag, &E), TB_E_NOTFOUND);
    assert_true(tb_agg_is_name("Count"));
    assert_false(tb_agg_is_name("lower"));
}

static void test_format_fold(void **state)
{
    tb_buf buf = {0};
    tb_expr *e;
    (void)state;
    e = mk(TB_EX_AND, false, false, 2, call("<", 2, call("+", 2, col(C_I), col(C_B)), ci(3)),
           call("~~", 2, col(C_S), cs("a'%")));
    assert_int_equal(tb_expr_format(e, S, &buf), TB_OK);
    assert_non_null(tb_buf_cstr(&buf));
    EQ(buf.data, "(((CAST(i AS bigint) + b) < 3) AND (s LIKE 'a''%'))");
    buf.len = 0;
    e = mk(TB_EX_CASE, false, true, 3, mk(TB_EX_IN, true, false, 3, col(C_I), ci(1), ci(2)),
           call("upper", 1, col(C_S)), col(C_S));
    assert_int_equal(tb_expr_format(e, S, &buf), TB_OK);
    tb_buf_cstr(&buf);
    EQ(buf.data, "CASE WHEN (i NOT IN (1, 2)) THEN upper(s) ELSE s END");
    buf.len = 0;
    e = mk(TB_EX_OR, false, false, 2, mk(TB_EX_IS_NULL, true, false, 1, col(C_DT)),
           mk(TB_EX_NOT, false, false, 1, col(C_BO)));
    assert_int_equal(tb_expr_format(e, S, &buf), TB_OK);
    tb_buf_cstr(&buf);
    EQ(buf.data, "((dt IS NOT NULL) OR (NOT bo))");
    buf.len = 0;
    e = call("=", 2, col(C_DT), cs("2024-01-31"));
    assert_int_equal(tb_expr_format(e, S, &buf), TB_OK);
    tb_buf_cstr(&buf);
    EQ(buf.data, "(dt = '2024-01-31'::date)");
    tb_buf_free(&buf);
    /* folding */
    e = call("+", 2, ci(1), call("*", 2, ci(2), ci(3)));
    assert_int_equal(e->kind, TB_EX_CONST);
    EQ(ev1(e), "7");
    assert_true(tb_expr_is_const(call("upper", 1, cs("x"))));
    assert_false(tb_expr_is_const(col(C_I)));
    e = call("upper", 1, cs("abc"));
    assert_int_equal(e->kind, TB_EX_CONST);
    /* a folded text constant is typed text, not an unknown literal */
    call_fails(TB_E_TYPE, "operator does not exist: text = integer", "=", 2, e, ci(1));
}

/* Larger batches: fast paths against a scalar reference, NULLs in every 7th row. */
static void test_big_batch(void **state)
{
    enum { N = 2048 };
    tb_schema *sch = tb_schema_new(4);
    tb_batch *bb;
    tb_vec v;
    tb_expr *e;
    uint32_t r;
    const int64_t W = 10 * TB_USEC_PER_SEC;
    (void)state;
    assert_non_null(sch);
    tb_schema_set(sch, 0, "a", ty("integer"), true);
    tb_schema_set(sch, 1, "b", ty("integer"), false);
    tb_schema_set(sch, 2, "ts", ty("timestamp"), false);
    tb_schema_set(sch, 3, "x", ty("double"), true);
    assert_int_equal(tb_batch_new(sch, N, A, &bb), TB_OK);
    bb->n_rows = N;
    for (r = 0; r < N; r++) {
        ((int32_t *)bb->cols[0].data)[r] = (int32_t)(r * 37 % 1000) - 500;
        ((int32_t *)bb->cols[1].data)[r] = (int32_t)(r % 13) - 6;
        ((int64_t *)bb->cols[2].data)[r] = ((int64_t)r - 1000) * 1234567;
        ((double *)bb->cols[3].data)[r] = r * 0.5;
        if (r % 7 == 3) {
            tb_vec_set_null(&bb->cols[0], r, N, A);
            tb_vec_set_null(&bb->cols[3], r, N, A);
        }
    }
    /* a < 0 AND b > 0 */
    e = mk(TB_EX_AND, false, false, 2, call("<", 2, tb_expr_col(A, 0, ty("integer")), ci(0)),
           call(">", 2, tb_expr_col(A, 1, ty("integer")), ci(0)));
    assert_int_equal(tb_expr_eval(e, bb, A, &v, &E), TB_OK);
    for (r = 0; r < N; r++) {
        int32_t a = ((int32_t *)bb->cols[0].data)[r], b = ((int32_t *)bb->cols[1].data)[r];
        bool anull = r % 7 == 3;
        if (anull && b > 0) {
            assert_true(tb_vec_is_null(&v, r));
        } else {
            assert_false(tb_vec_is_null(&v, r));
            assert_int_equal(((uint8_t *)v.data)[r], !anull && a < 0 && b > 0);
        }
    }
    /* a + b (col-col with NULLs), a * 3 */
    e = call("+", 2, tb_expr_col(A, 0, ty("integer")), tb_expr_col(A, 1, ty("integer")));
    assert_int_equal(tb_expr_eval(e, bb, A, &v, &E), TB_OK);
    assert_int_equal(tb_vec_null_count(&v, N), (N + 3) / 7);
    for (r = 0; r < N; r++)
        if (r % 7 != 3)
            assert_int_equal(((int32_t *)v.data)[r],
                             ((int32_t *)bb->cols[0].data)[r] + ((int32_t *)bb->cols[1].data)[r]);
    /* 1000 / b: b is zero on some valid rows */
    ev_fails(call("/", 2, ci(1000), tb_expr_col(A, 1, ty("integer"))), TB_E_RANGE,
             "division by zero");
    /* tumble over negative and positive timestamps */
    e = call("tumble", 2, tb_expr_col(A, 2, ty("timestamp")), cs("10 seconds"));
    assert_int_equal(tb_expr_eval(e, bb, A, &v, &E), TB_OK);
    for (r = 0; r < N; r++) {
        int64_t t = ((int64_t *)bb->cols[2].data)[r], s = ((int64_t *)v.data)[r];
        assert_true(s <= t && t < s + W);
        assert_int_equal(((s % W) + W) % W, 0);
    }
    /* x > 100.0 with NULLs; IN on a large constant list */
    e = call(">", 2, tb_expr_col(A, 3, ty("double")), ci(100));
    assert_int_equal(tb_expr_eval(e, bb, A, &v, &E), TB_OK);
    for (r = 0; r < N; r++) {
        if (r % 7 == 3)
            assert_true(tb_vec_is_null(&v, r));
        else
            assert_int_equal(((uint8_t *)v.data)[r], r * 0.5 > 100);
    }
    {
        tb_expr *items[41], *in;
        int k;
        items[0] = tb_expr_col(A, 0, ty("integer"));
        for (k = 0; k < 40; k++)
            items[k + 1] = ci(k * 25 - 500);
        assert_int_equal(tb_expr_make(A, TB_EX_IN, items, 41, false, false, 0, &in, &E), TB_OK);
        assert_int_equal(tb_expr_eval(in, bb, A, &v, &E), TB_OK);
        for (r = 0; r < N; r++) {
            int32_t a = ((int32_t *)bb->cols[0].data)[r];
            if (r % 7 == 3)
                assert_true(tb_vec_is_null(&v, r));
            else
                assert_int_equal(((uint8_t *)v.data)[r], a % 25 == 0 && a < 500);
        }
    }
    /* CASE over a subset keeps row alignment */
    e = mk(TB_EX_CASE, false, true, 3, call(">", 2, tb_expr_col(A, 1, ty("integer")), ci(0)),
           call("/", 2, ci(600), tb_expr_col(A, 1, ty("integer"))),
           call("-", 1, tb_expr_col(A, 0, ty("integer"))));
    assert_int_equal(tb_expr_eval(e, bb, A, &v, &E), TB_OK);
    for (r = 0; r < N; r++) {
        int32_t a = ((int32_t *)bb->cols[0].data)[r], b = ((int32_t *)bb->cols[1].data)[r];
        if (b > 0) {
            assert_false(tb_vec_is_null(&v, r));
            assert_int_equal(((int32_t *)v.data)[r], 600 / b);
        } else if (r % 7 == 3) {
            assert_true(tb_vec_is_null(&v, r));
        } else {
            assert_int_equal(((int32_t *)v.data)[r], -a);
        }
    }
    /* an empty batch */
    bb->n_rows = 0;
    e = mk(TB_EX_CASE, false, true, 3, call(">", 2, tb_expr_col(A, 1, ty("integer")), ci(0)),
           call("/", 2, ci(600), tb_expr_col(A, 1, ty("integer"))), ci(1));
    assert_int_equal(tb_expr_eval(e, bb, A, &v, &E), TB_OK);
    e = mk(TB_EX_AND, false, false, 2, call(">", 2, tb_expr_col(A, 0, ty("integer")), ci(0)),
           call("~~", 2, cast(tb_expr_col(A, 3, ty("double")), "text"), cs("1%")));
    assert_int_equal(tb_expr_eval(e, bb, A, &v, &E), TB_OK);
    assert_int_equal(tb_expr_eval(ci(5), bb, A, &v, &E), TB_OK);
    tb_schema_free(sch);
}

/* Allocation failures anywhere in construction or evaluation give TB_E_NOMEM, never a
 * crash or a leak (TB_FAULTS builds). */
static void test_faults(void **state)
{
    tb_expr *es[8];
    int n, k;
    (void)state;
    es[0] = mk(TB_EX_CASE, false, true, 3, call(">", 2, col(C_I), ci(0)),
               call("upper", 1, col(C_S)), cast(col(C_I), "text"));
    es[1] = call("concat", 3, col(C_S), col(C_M), col(C_T));
    es[2] = mk(TB_EX_AND, false, false, 2, call("<>", 2, col(C_I), ci(0)),
               call(">", 2, call("/", 2, ci(10), col(C_I)), ci(1)));
    es[3] = call("coalesce", 2, col(C_SM), call("/", 2, ci(10), col(C_I)));
    es[4] = call("regexp_replace", 4, col(C_S), cs("l"), cs("L"), cs("g"));
    es[5] = mk(TB_EX_IN, false, false, 3, col(C_I), col(C_B), ci(1));
    es[6] = call("lpad", 3, col(C_S), ci(20), cs("-"));
    es[7] = call("tumble", 2, col(C_T), col(C_IV));
    for (n = 1; n < 100000; n++) {
        tb_arena *ar = tb_arena_new(256);
        tb_err err;
        bool all_ok = true;
        tb_expr *like_args[2] = {col(C_S), cs("a%")};
        tb_expr *in_args[3] = {col(C_I), ci(1), cs("2")};
        assert_non_null(ar);
        tb_fault_arm(n);
        for (k = 0; k < 8; k++) {
            tb_vec v;
            tb_rc rc = tb_expr_eval(es[k], B, ar, &v, &err);
            if (rc != TB_OK) {
                if (rc != TB_E_NOMEM && !(k == 7 && rc == TB_E_RANGE))
                    fail_msg("expr %d at fault %d: rc %d %s", k, n, rc, err.msg);
                if (rc == TB_E_NOMEM)
                    all_ok = false;
            }
        }
        /* construction */
        {
            tb_expr *r;
            tb_rc rc = tb_expr_call(ar, "~~", like_args, 2, 0, &r, &err);
            if (rc != TB_OK && rc != TB_E_NOMEM)
                fail_msg("construction at fault %d: %s", n, err.msg);
            if (rc != TB_OK)
                all_ok = false;
            rc = tb_expr_make(ar, TB_EX_IN, in_args, 3, false, false, 0, &r, &err);
            if (rc != TB_OK && rc != TB_E_NOMEM)
                fail_msg("construction at fault %d: %s", n, err.msg);
            if (rc != TB_OK)
                all_ok = false;
        }
        tb_fault_arm(0);
        tb_arena_free(ar);
        if (all_ok && !tb_fault_fired())
            break;
    }
    assert_true(n > 20); /* the loop really went through many failure points */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arith_int),   cmocka_unit_test(test_arith_float),
        cmocka_unit_test(test_numeric),     cmocka_unit_test(test_compare),
        cmocka_unit_test(test_logic),       cmocka_unit_test(test_isnull_case),
        cmocka_unit_test(test_in),          cmocka_unit_test(test_like),
        cmocka_unit_test(test_strings),     cmocka_unit_test(test_regex),
        cmocka_unit_test(test_conditional), cmocka_unit_test(test_math),
        cmocka_unit_test(test_casts),       cmocka_unit_test(test_time),
        cmocka_unit_test(test_types),       cmocka_unit_test(test_format_fold),
        cmocka_unit_test(test_big_batch),   cmocka_unit_test(test_faults),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
