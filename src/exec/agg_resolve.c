/*
 * agg_resolve.c - aggregate name resolution and result types (PostgreSQL's rules).
 *
 *   count(*), count(x)           -> bigint
 *   sum(smallint | integer)      -> bigint
 *   sum(bigint)                  -> numeric(38,0)
 *   sum(numeric(p,s))            -> numeric(38,s)
 *   sum(real | double)           -> double precision
 *   avg(smallint|integer|bigint) -> numeric(38,6)
 *   avg(numeric(p,s))            -> numeric(38, max(s,6))
 *   avg(real | double)           -> double precision
 *   min/max(x)                   -> type of x (any type but NULL)
 *
 * avg's scale: PostgreSQL computes avg exactly and prints 16+ significant digits
 * (avg(1,2) = 1.5000000000000000). Our numerics are fixed-point with 38 digits; scale 6
 * keeps 32 integer digits, so sum * 10^6 of any realistic bigint sum still fits, and
 * sqllogictest compares averages with a few decimals. Rounding is half away from zero.
 *
 * An untyped argument (NULL or a string literal) is resolved in place: NULL becomes
 * integer for sum/avg (so sum(NULL) is a NULL bigint), text for min/max/count.
 */
#include "exec/expr_int.h"

#include <string.h>

static const char *const agg_names[] = {"count", "sum", "avg", "min", "max"};

bool tb_agg_is_name(const char *name)
{
    size_t k;
    for (k = 0; k < sizeof(agg_names) / sizeof(agg_names[0]); k++)
        if (tb_str_ieq(name, agg_names[k]))
            return true;
    return false;
}

const char *tb_agg_kind_name(tb_agg_kind kind)
{
    static const char *const names[] = {"count",           "count",           "sum",
                                        "avg",             "min",             "max",
                                        "string_agg",      "percentile_cont", "percentile_disc",
                                        "mode",            "approx_count_distinct"};
    _Static_assert(sizeof(names) / sizeof(names[0]) == TB_AGG_APPROX_DISTINCT + 1,
                   "a name per aggregate kind");
    return (unsigned)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}

static void settle_untyped(tb_expr *arg, tb_type t)
{
    /* only a NULL literal can be retyped in place (no storage to convert) */
    if (arg->kind == TB_EX_CONST && arg->type.id == TB_T_NULL) {
        arg->type = t;
        arg->value.type = t;
        arg->value.is_null = true;
    }
}

tb_rc tb_agg_resolve(const char *name, bool star, bool distinct, tb_expr *arg, int pos,
                     tb_aggspec *out, tb_err *err)
{
    char tb[64];
    tb_type t;

    memset(out, 0, sizeof(*out));
    out->distinct = distinct;
    out->arg = arg;
    if (tb_str_ieq(name, "count")) {
        out->type = tb_type_make(TB_T_INT64);
        if (star) {
            out->kind = TB_AGG_COUNT_STAR;
            out->arg = NULL;
            return TB_OK;
        }
        if (arg == NULL)
            return TB_ERRPOS(err, TB_E_SQL, pos, "count needs an argument or *");
        out->kind = TB_AGG_COUNT;
        return TB_OK;
    }
    if (star)
        return TB_ERRPOS(err, TB_E_SQL, pos,
                         "%s(*) must be used to call a parameterless "
                         "aggregate function",
                         name);
    if (arg == NULL)
        return TB_ERRPOS(err, TB_E_SQL, pos, "function %s() does not exist", name);
    t = arg->type;
    if (tb_str_ieq(name, "sum") || tb_str_ieq(name, "avg")) {
        bool avg = tb_str_ieq(name, "avg");
        out->kind = avg ? TB_AGG_AVG : TB_AGG_SUM;
        if (t.id == TB_T_NULL) {
            settle_untyped(arg, tb_type_make(TB_T_INT32));
            t = arg->type;
        }
        switch ((tb_type_id)t.id) {
        case TB_T_INT16:
        case TB_T_INT32:
            out->type = avg ? tb_type_decimal(38, 6) : tb_type_make(TB_T_INT64);
            return TB_OK;
        case TB_T_INT64:
            out->type = avg ? tb_type_decimal(38, 6) : tb_type_decimal(38, 0);
            return TB_OK;
        case TB_T_DECIMAL:
            out->type = tb_type_decimal(38, avg ? TB_MAX(t.scale, 6) : t.scale);
            return TB_OK;
        case TB_T_FLOAT:
        case TB_T_DOUBLE:
            out->type = tb_type_make(TB_T_DOUBLE);
            return TB_OK;
        default:
            return TB_ERRPOS(err, TB_E_TYPE, pos, "function %s(%s) does not exist", name,
                             tb_expr_type_name(arg, tb, sizeof(tb)));
        }
    }
    if (tb_str_ieq(name, "min") || tb_str_ieq(name, "max")) {
        out->kind = tb_str_ieq(name, "min") ? TB_AGG_MIN : TB_AGG_MAX;
        if (t.id == TB_T_NULL) {
            settle_untyped(arg, tb_type_make(TB_T_STRING));
            t = arg->type;
        }
        if (t.id == TB_T_BOOL) /* as PostgreSQL (bool_and / bool_or); the difftest found it */
            return TB_ERRPOS(err, TB_E_TYPE, pos, "function %s(boolean) does not exist", name);
        out->type = t;
        return TB_OK;
    }
    return TB_ERRPOS(err, TB_E_NOTFOUND, pos, "aggregate function %s(%s) does not exist", name,
                     tb_expr_type_name(arg, tb, sizeof(tb)));
}
