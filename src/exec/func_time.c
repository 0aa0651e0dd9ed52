/*
 * func_time.c - date/timestamp/interval operators and functions.
 *
 * Representation (vector.h): date = int32 days since 1970-01-01, timestamp = int64
 * microseconds since the epoch (no time zone), interval = {months, days, micros} kept
 * apart as PostgreSQL does, so ts + '1 month' lands on the same day of the next month
 * (clamped to its last day: 2024-01-31 + 1 month = 2024-02-29).
 *
 * Windows: tumble(ts, size[, offset]) is the start of the size-wide window holding ts,
 * floor((ts - offset) / size) * size + offset, correct for timestamps before 1970
 * (floor, not truncation); tumble_end adds size. date_bin(stride, ts, origin) is
 * PostgreSQL's (rounding down also before the origin, as PostgreSQL 16). Window sizes
 * must not contain months (they have no fixed length); days count as 24 hours.
 *
 * now() / current_timestamp / current_date are read once when the expression is built
 * (statement time) and stay fixed for the life of the plan. Times are UTC.
 *
 * extract(field from x) returns numeric (scale 6 for second/epoch, 3 for millisecond,
 * 0 otherwise and for dates), date_part returns double precision, as PostgreSQL 14+.
 */
#include "exec/expr_int.h"

#include <math.h>
#include <string.h>

/* ================================================================ calendar helpers */

static bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

static void split_ts(int64_t ts, int64_t *days, int64_t *tod)
{
    *days = tb_floordiv(ts, TB_USEC_PER_DAY);
    *tod = ts - *days * TB_USEC_PER_DAY;
}

bool tb_ts_add_interval(int64_t ts, tb_interval iv, int sign, int64_t *out)
{
    int64_t days, tod, r, t;
    int64_t months = (int64_t)iv.months * sign, dd = (int64_t)iv.days * sign;
    int64_t us;
    if (__builtin_mul_overflow(iv.micros, (int64_t)sign, &us))
        return false;
    split_ts(ts, &days, &tod);
    if (months != 0) {
        int64_t y;
        unsigned m, d, dim;
        int64_t mi;
        tb_civil_from_days(days, &y, &m, &d);
        mi = y * 12 + (m - 1) + months;
        y = tb_floordiv(mi, 12);
        m = (unsigned)(mi - y * 12) + 1;
        if (y < -300000 || y > 300000)
            return false;
        dim = days_in_month(y, m);
        if (d > dim)
            d = dim;
        days = tb_days_from_civil(y, m, d);
    }
    days += dd;
    if (__builtin_mul_overflow(days, TB_USEC_PER_DAY, &r) || __builtin_add_overflow(r, tod, &t) ||
        __builtin_add_overflow(t, us, &r))
        return false;
    *out = r;
    return true;
}

/* ISO 8601 week number and year of a day number */
static void iso_week(int64_t days, int64_t *week, int64_t *year)
{
    int64_t dow = ((days + 4) % 7 + 7) % 7; /* 0 = Sunday; 1970-01-01 was a Thursday */
    int64_t isodow = dow == 0 ? 7 : dow;
    int64_t thu = days - (isodow - 1) + 3, y, jan1;
    unsigned m, d;
    tb_civil_from_days(thu, &y, &m, &d);
    jan1 = tb_days_from_civil(y, 1, 1);
    *week = (thu - jan1) / 7 + 1;
    *year = y;
}

/* ================================================================ units / fields */

enum {
    U_MICROSECOND,
    U_MILLISECOND,
    U_SECOND,
    U_MINUTE,
    U_HOUR,
    U_DAY,
    U_WEEK,
    U_MONTH,
    U_QUARTER,
    U_YEAR,
    U_DECADE,
    U_CENTURY,
    U_MILLENNIUM,
    U_DOW,
    U_ISODOW,
    U_DOY,
    U_EPOCH,
    U_ISOYEAR,
    U_JULIAN,
    U_TIMEZONE
};

static int parse_unit(const char *s, size_t n)
{
    static const struct {
        const char *name;
        int unit;
    } names[] = {
        {"microsecond", U_MICROSECOND},
        {"microseconds", U_MICROSECOND},
        {"us", U_MICROSECOND},
        {"usec", U_MICROSECOND},
        {"usecs", U_MICROSECOND},
        {"millisecond", U_MILLISECOND},
        {"milliseconds", U_MILLISECOND},
        {"ms", U_MILLISECOND},
        {"msec", U_MILLISECOND},
        {"msecs", U_MILLISECOND},
        {"second", U_SECOND},
        {"seconds", U_SECOND},
        {"s", U_SECOND},
        {"sec", U_SECOND},
        {"secs", U_SECOND},
        {"minute", U_MINUTE},
        {"minutes", U_MINUTE},
        {"m", U_MINUTE},
        {"min", U_MINUTE},
        {"mins", U_MINUTE},
        {"hour", U_HOUR},
        {"hours", U_HOUR},
        {"h", U_HOUR},
        {"hr", U_HOUR},
        {"hrs", U_HOUR},
        {"day", U_DAY},
        {"days", U_DAY},
        {"d", U_DAY},
        {"week", U_WEEK},
        {"weeks", U_WEEK},
        {"w", U_WEEK},
        {"month", U_MONTH},
        {"months", U_MONTH},
        {"mon", U_MONTH},
        {"mons", U_MONTH},
        {"quarter", U_QUARTER},
        {"qtr", U_QUARTER},
        {"year", U_YEAR},
        {"years", U_YEAR},
        {"y", U_YEAR},
        {"yr", U_YEAR},
        {"yrs", U_YEAR},
        {"decade", U_DECADE},
        {"decades", U_DECADE},
        {"century", U_CENTURY},
        {"centuries", U_CENTURY},
        {"millennium", U_MILLENNIUM},
        {"millennia", U_MILLENNIUM},
        {"millenniums", U_MILLENNIUM},
        {"dow", U_DOW},
        {"isodow", U_ISODOW},
        {"doy", U_DOY},
        {"epoch", U_EPOCH},
        {"isoyear", U_ISOYEAR},
        {"julian", U_JULIAN},
        {"timezone", U_TIMEZONE},
        {"timezone_hour", U_TIMEZONE},
        {"timezone_minute", U_TIMEZONE},
    };
    char low[32];
    size_t k, b = 0;
    while (b < n && s[b] == ' ')
        b++;
    while (n > b && s[n - 1] == ' ')
        n--;
    if (n - b == 0 || n - b >= sizeof(low))
        return -1;
    for (k = b; k < n; k++)
        low[k - b] = (char)((s[k] >= 'A' && s[k] <= 'Z') ? s[k] + 32 : s[k]);
    low[n - b] = '\0';
    for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
        if (strcmp(names[k].name, low) == 0)
            return names[k].unit;
    return -1;
}

static tb_rc bad_unit(tb_err *err, int pos, const char *s, size_t n, tb_type t)
{
    char tn[64];
    if (n > 64)
        n = 64;
    return TB_ERRPOS(err, TB_E_TYPE, pos, "unit \"%.*s\" not recognized for type %s", (int)n, s,
                     t.id == TB_T_TIMESTAMP ? "timestamp without time zone"
                                            : tb_type_name(t, tn, sizeof(tn)));
}

static tb_rc unsupported_unit(tb_err *err, int pos, const char *s, size_t n, tb_type t)
{
    char tn[64];
    if (n > 64)
        n = 64;
    return TB_ERRPOS(err, TB_E_TYPE, pos, "unit \"%.*s\" not supported for type %s", (int)n, s,
                     t.id == TB_T_TIMESTAMP ? "timestamp without time zone"
                                            : tb_type_name(t, tn, sizeof(tn)));
}

/* date_trunc on a timestamp; false if unit unsupported */
static bool trunc_ts(int64_t ts, int unit, int64_t *out)
{
    int64_t days, tod, y;
    unsigned m, d;
    split_ts(ts, &days, &tod);
    switch (unit) {
    case U_MICROSECOND:
        *out = ts;
        return true;
    case U_MILLISECOND:
        *out = ts - (tod % 1000);
        return true;
    case U_SECOND:
        *out = ts - (tod % TB_USEC_PER_SEC);
        return true;
    case U_MINUTE:
        *out = ts - (tod % (60 * TB_USEC_PER_SEC));
        return true;
    case U_HOUR:
        *out = ts - (tod % (3600 * TB_USEC_PER_SEC));
        return true;
    case U_DAY:
        *out = days * TB_USEC_PER_DAY;
        return true;
    case U_WEEK: {
        int64_t dow = ((days + 4) % 7 + 7) % 7, isodow = dow == 0 ? 7 : dow;
        *out = (days - (isodow - 1)) * TB_USEC_PER_DAY;
        return true;
    }
    default:
        break;
    }
    tb_civil_from_days(days, &y, &m, &d);
    switch (unit) {
    case U_MONTH:
        break;
    case U_QUARTER:
        m = (m - 1) / 3 * 3 + 1;
        break;
    case U_YEAR:
        m = 1;
        break;
    case U_DECADE:
        m = 1;
        y = tb_floordiv(y, 10) * 10;
        break;
    case U_CENTURY:
        m = 1;
        y = y > 0 ? (y + 99) / 100 * 100 - 99 : -((99 - (y - 1)) / 100) * 100 + 1;
        break;
    case U_MILLENNIUM:
        m = 1;
        y = y > 0 ? (y + 999) / 1000 * 1000 - 999 : -((999 - (y - 1)) / 1000) * 1000 + 1;
        break;
    default:
        return false;
    }
    *out = tb_days_from_civil(y, m, 1) * TB_USEC_PER_DAY;
    return true;
}

static bool trunc_iv(tb_interval iv, int unit, tb_interval *out)
{
    int64_t us = iv.micros;
    *out = iv;
    switch (unit) {
    case U_MICROSECOND:
        return true;
    case U_MILLISECOND:
        out->micros = us - us % 1000;
        return true;
    case U_SECOND:
        out->micros = us - us % TB_USEC_PER_SEC;
        return true;
    case U_MINUTE:
        out->micros = us - us % (60 * TB_USEC_PER_SEC);
        return true;
    case U_HOUR:
        out->micros = us - us % (3600 * TB_USEC_PER_SEC);
        return true;
    case U_DAY:
        out->micros = 0;
        return true;
    case U_MONTH:
        out->micros = 0;
        out->days = 0;
        return true;
    case U_QUARTER:
        out->micros = 0;
        out->days = 0;
        out->months = iv.months - iv.months % 3;
        return true;
    case U_YEAR:
        out->micros = 0;
        out->days = 0;
        out->months = iv.months - iv.months % 12;
        return true;
    case U_DECADE:
    case U_CENTURY:
    case U_MILLENNIUM: {
        int32_t per = unit == U_DECADE ? 120 : unit == U_CENTURY ? 1200 : 12000;
        out->micros = 0;
        out->days = 0;
        out->months = iv.months - iv.months % per;
        return true;
    }
    default:
        return false;
    }
}

/* field of a timestamp, scaled by 10^6; false if unsupported */
static bool field_ts(int64_t ts, int unit, tb_i128 *out)
{
    const tb_i128 M = 1000000;
    int64_t days, tod, y, wk, iy;
    unsigned m, d;
    split_ts(ts, &days, &tod);
    tb_civil_from_days(days, &y, &m, &d);
    switch (unit) {
    case U_MICROSECOND:
        *out = (tb_i128)(tod % (60 * TB_USEC_PER_SEC)) * M;
        return true;
    case U_MILLISECOND:
        *out = (tb_i128)(tod % (60 * TB_USEC_PER_SEC)) * 1000;
        return true;
    case U_SECOND:
        *out = tod % (60 * TB_USEC_PER_SEC);
        return true;
    case U_MINUTE:
        *out = (tod / (60 * TB_USEC_PER_SEC)) % 60 * M;
        return true;
    case U_HOUR:
        *out = tod / (3600 * TB_USEC_PER_SEC) * M;
        return true;
    case U_DAY:
        *out = d * M;
        return true;
    case U_MONTH:
        *out = m * M;
        return true;
    case U_QUARTER:
        *out = ((m - 1) / 3 + 1) * M;
        return true;
    case U_YEAR:
        *out = y * M;
        return true;
    case U_DECADE:
        *out = tb_floordiv(y, 10) * M;
        return true;
    case U_CENTURY:
        *out = (y > 0 ? (y + 99) / 100 : -((99 - (y - 1)) / 100)) * M;
        return true;
    case U_MILLENNIUM:
        *out = (y > 0 ? (y + 999) / 1000 : -((999 - (y - 1)) / 1000)) * M;
        return true;
    case U_DOW:
        *out = (((days + 4) % 7 + 7) % 7) * M;
        return true;
    case U_ISODOW: {
        int64_t dow = ((days + 4) % 7 + 7) % 7;
        *out = (dow == 0 ? 7 : dow) * M;
        return true;
    }
    case U_DOY:
        *out = (days - tb_days_from_civil(y, 1, 1) + 1) * M;
        return true;
    case U_WEEK:
        iso_week(days, &wk, &iy);
        *out = wk * M;
        return true;
    case U_ISOYEAR:
        iso_week(days, &wk, &iy);
        *out = iy * M;
        return true;
    case U_EPOCH:
        *out = ts;
        return true;
    case U_JULIAN:
        *out = (tb_i128)(days + 2440588) * M + (tb_i128)tod * M / TB_USEC_PER_DAY;
        return true;
    default:
        return false;
    }
}

static bool field_iv(tb_interval iv, int unit, tb_i128 *out)
{
    const tb_i128 M = 1000000;
    switch (unit) {
    case U_MICROSECOND:
        *out = (tb_i128)(iv.micros % (60 * TB_USEC_PER_SEC)) * M;
        return true;
    case U_MILLISECOND:
        *out = (tb_i128)(iv.micros % (60 * TB_USEC_PER_SEC)) * 1000;
        return true;
    case U_SECOND:
        *out = iv.micros % (60 * TB_USEC_PER_SEC);
        return true;
    case U_MINUTE:
        *out = (iv.micros / (60 * TB_USEC_PER_SEC)) % 60 * M;
        return true;
    case U_HOUR:
        *out = iv.micros / (3600 * TB_USEC_PER_SEC) * M;
        return true;
    case U_DAY:
        *out = iv.days * M;
        return true;
    case U_MONTH:
        *out = (iv.months % 12) * M;
        return true;
    case U_QUARTER:
        *out = ((iv.months % 12) / 3 + 1) * M;
        return true;
    case U_YEAR:
        *out = (iv.months / 12) * M;
        return true;
    case U_DECADE:
        *out = (iv.months / 120) * M;
        return true;
    case U_CENTURY:
        *out = (iv.months / 1200) * M;
        return true;
    case U_MILLENNIUM:
        *out = (iv.months / 12000) * M;
        return true;
    case U_EPOCH:
        *out = (tb_i128)iv.micros + (tb_i128)(iv.months / 12) * 31557600 * M +
               (tb_i128)(iv.months % 12) * 30 * 86400 * M + (tb_i128)iv.days * 86400 * M;
        return true;
    default:
        return false;
    }
}

static int field_scale(int unit, tb_type_id arg)
{
    if (arg == TB_T_DATE)
        return 0;
    switch (unit) {
    case U_SECOND:
    case U_EPOCH:
    case U_JULIAN:
        return 6;
    case U_MILLISECOND:
        return 3;
    default:
        return 0;
    }
}

/* ================================================================ construction helpers */

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

static const tb_type T_TS = {TB_T_TIMESTAMP, 0, 0};
static const tb_type T_DATE = {TB_T_DATE, 0, 0};
static const tb_type T_IV = {TB_T_INTERVAL, 0, 0};
static const tb_type T_DBL = {TB_T_DOUBLE, 0, 0};
static const tb_type T_INT = {TB_T_INT32, 0, 0};

#define TS(k, i)  (((const int64_t *)args[k].v.data)[TB_IX(&args[k], i)])
#define DT(k, i)  (((const int32_t *)args[k].v.data)[TB_IX(&args[k], i)])
#define IV(k, i)  (((const tb_interval *)args[k].v.data)[TB_IX(&args[k], i)])
#define DBL(k, i) (((const double *)args[k].v.data)[TB_IX(&args[k], i)])
#define I32(k, i) (((const int32_t *)args[k].v.data)[TB_IX(&args[k], i)])
#define VALID(i)  (!tb_vec_is_null(&out->v, (i)))

/* ================================================================ operator kernels */

/* ts +/- interval. fn->op: +1 / -1; fn->k0: 1 if args are (interval, ts) */
static tb_rc k_ts_iv(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                     tb_err *err)
{
    int sign = e->fn->op;
    int ti = (int)e->fn->k0, ii = 1 - ti;
    int64_t *o = out->v.data;
    uint32_t i;
    TB_UNUSED(arena);

    if (args[ii].konst && !args[ti].konst && IV(ii, 0).months == 0) {
        /* hot path: fixed-length interval */
        tb_interval iv = IV(ii, 0);
        int64_t delta, r;
        const int64_t *t = args[ti].v.data;
        bool bad = false;
        if (__builtin_mul_overflow((int64_t)iv.days, TB_USEC_PER_DAY, &delta) ||
            __builtin_add_overflow(delta, iv.micros, &delta))
            bad = true;
        if (sign < 0)
            delta = -delta;
        for (i = 0; i < n; i++) {
            bad |= __builtin_add_overflow(t[i], delta, &r);
            o[i] = r;
        }
        if (!bad)
            return TB_OK;
    }
    for (i = 0; i < n; i++) {
        if (!VALID(i)) {
            o[i] = 0;
            continue;
        }
        if (!tb_ts_add_interval(TS(ti, i), IV(ii, i), sign, &o[i]))
            return TB_ERRPOS(err, TB_E_RANGE, e->pos, "timestamp out of range");
    }
    return TB_OK;
}

/* date +/- integer -> date. fn->k0: 1 if args are (int, date) */
static tb_rc k_date_int(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                        tb_err *err)
{
    int sign = e->fn->op;
    int di = (int)e->fn->k0, ii = 1 - di;
    int32_t *o = out->v.data;
    uint32_t i;
    TB_UNUSED(arena);
    for (i = 0; i < n; i++) {
        int64_t r = (int64_t)DT(di, i) + sign * (int64_t)I32(ii, i);
        if (r < INT32_MIN || r > INT32_MAX) {
            if (VALID(i))
                return TB_ERRPOS(err, TB_E_RANGE, e->pos, "date out of range");
            r = 0;
        }
        o[i] = (int32_t)r;
    }
    return TB_OK;
}

static tb_rc k_date_diff(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                         tb_err *err)
{
    int32_t *o = out->v.data;
    uint32_t i;
    TB_UNUSED(arena);
    for (i = 0; i < n; i++) {
        int64_t r = (int64_t)DT(0, i) - DT(1, i);
        if (r < INT32_MIN || r > INT32_MAX) {
            if (VALID(i))
                return TB_ERRPOS(err, TB_E_RANGE, e->pos, "integer out of range");
            r = 0;
        }
        o[i] = (int32_t)r;
    }
    return TB_OK;
}

static tb_rc k_ts_diff(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                       tb_err *err)
{
    tb_interval *o = out->v.data;
    uint32_t i;
    TB_UNUSED(arena);
    for (i = 0; i < n; i++) {
        int64_t d;
        tb_interval r = {0, 0, 0};
        if (__builtin_sub_overflow(TS(0, i), TS(1, i), &d)) {
            if (VALID(i))
                return TB_ERRPOS(err, TB_E_RANGE, e->pos, "interval out of range");
            d = 0;
        }
        r.days = (int32_t)(d / TB_USEC_PER_DAY);
        r.micros = d - (int64_t)r.days * TB_USEC_PER_DAY;
        o[i] = r;
    }
    return TB_OK;
}

static tb_rc k_iv_addsub(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                         tb_err *err)
{
    tb_interval *o = out->v.data;
    int op = e->fn->op;
    uint32_t i;
    TB_UNUSED(arena);
    for (i = 0; i < n; i++) {
        tb_interval a = IV(0, i), b = {0, 0, 0}, r;
        bool bad;
        if (op != TB_OP_NEG)
            b = IV(1, i);
        if (op == TB_OP_NEG)
            bad = (int)__builtin_sub_overflow(0, a.months, &r.months) |
                  (int)__builtin_sub_overflow(0, a.days, &r.days) |
                  (int)__builtin_sub_overflow((int64_t)0, a.micros, &r.micros);
        else if (op == TB_OP_ADD)
            bad = (int)__builtin_add_overflow(a.months, b.months, &r.months) |
                  (int)__builtin_add_overflow(a.days, b.days, &r.days) |
                  (int)__builtin_add_overflow(a.micros, b.micros, &r.micros);
        else
            bad = (int)__builtin_sub_overflow(a.months, b.months, &r.months) |
                  (int)__builtin_sub_overflow(a.days, b.days, &r.days) |
                  (int)__builtin_sub_overflow(a.micros, b.micros, &r.micros);
        if (bad && VALID(i))
            return TB_ERRPOS(err, TB_E_RANGE, e->pos, "interval out of range");
        o[i] = r;
    }
    return TB_OK;
}

/* interval * factor (PostgreSQL's interval_mul: fractional months spill into days,
 * fractional days into time). */
static bool iv_mul(tb_interval a, double f, tb_interval *r)
{
    double md = a.months * f, dd = a.days * f, month_rem_days, sec_rem, t;
    if (isnan(f) || !(md > -2147483648.0 && md < 2147483648.0) ||
        !(dd > -2147483648.0 && dd < 2147483648.0))
        return false;
    r->months = (int32_t)md;
    r->days = (int32_t)dd;
    month_rem_days = (md - r->months) * 30;
    month_rem_days = rint(month_rem_days * 1e6) / 1e6;
    sec_rem = (dd - r->days + month_rem_days - trunc(month_rem_days)) * 86400.0;
    sec_rem = rint(sec_rem * 1e6) / 1e6;
    if (fabs(sec_rem) >= 86400.0) {
        r->days += (int32_t)(sec_rem / 86400.0);
        sec_rem -= (int32_t)(sec_rem / 86400.0) * 86400.0;
    }
    r->days += (int32_t)month_rem_days;
    t = rint((double)a.micros * f + sec_rem * 1e6);
    if (!(t > -9.2e18 && t < 9.2e18))
        return false;
    r->micros = (int64_t)t;
    return true;
}

/* interval * double (op MUL; k0: 1 if (double, interval)), interval / double (op DIV) */
static tb_rc k_iv_mul(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                      tb_err *err)
{
    tb_interval *o = out->v.data;
    int ii = (int)e->fn->k0, fi = 1 - ii;
    bool div = e->fn->op == TB_OP_DIV;
    uint32_t i;
    TB_UNUSED(arena);
    for (i = 0; i < n; i++) {
        double f;
        tb_interval r = {0, 0, 0};
        if (!VALID(i)) {
            o[i] = r;
            continue;
        }
        f = DBL(fi, i);
        if (div) {
            if (f == 0)
                return TB_ERRPOS(err, TB_E_RANGE, e->pos, "division by zero");
            f = 1.0 / f;
        }
        if (!iv_mul(IV(ii, i), f, &r))
            return TB_ERRPOS(err, TB_E_RANGE, e->pos, "interval out of range");
        o[i] = r;
    }
    return TB_OK;
}

tb_rc tb_time_op_resolve(tb_arena *arena, const char *name, int op, tb_expr **a, uint32_t n,
                         int pos, tb_expr **out, tb_err *err)
{
    tb_type_id x = (tb_type_id)a[0]->type.id, y = n > 1 ? (tb_type_id)a[1]->type.id : TB_T_NULL;
    tb_func *fn = NULL;
    tb_rc rc;
    const uint32_t F = TB_FN_STRICT;

    if (op == TB_OP_NEG && n == 1 && x == TB_T_INTERVAL)
        return mk(arena, name, k_iv_addsub, F, TB_OP_NEG, T_IV, a, 1, pos, out, NULL, err);
    if (n != 2)
        return TB_E_NOTFOUND;

    if (op == TB_OP_ADD || op == TB_OP_SUB) {
        int sign = op == TB_OP_ADD ? 1 : -1;
        /* (date|timestamp) +/- interval, interval + (date|timestamp) */
        if (((x == TB_T_TIMESTAMP || x == TB_T_DATE) && y == TB_T_INTERVAL) ||
            (op == TB_OP_ADD && x == TB_T_INTERVAL && (y == TB_T_TIMESTAMP || y == TB_T_DATE))) {
            int ti = x == TB_T_INTERVAL ? 1 : 0;
            rc = tb_cast_build(arena, a[ti], T_TS, TB_CAST_IMPLICIT, pos, &a[ti], err);
            if (rc != TB_OK)
                return rc;
            rc = mk(arena, name, k_ts_iv, F, sign, T_TS, a, 2, pos, out, &fn, err);
            if (rc == TB_OK && fn != NULL)
                fn->k0 = ti;
            return rc;
        }
        /* date +/- integer, integer + date */
        if ((x == TB_T_DATE && tb_type_is_integer(a[1]->type)) ||
            (op == TB_OP_ADD && y == TB_T_DATE && tb_type_is_integer(a[0]->type))) {
            int di = x == TB_T_DATE ? 0 : 1;
            rc = tb_cast_build(arena, a[1 - di], T_INT, TB_CAST_ASSIGNMENT, pos, &a[1 - di], err);
            if (rc != TB_OK)
                return rc;
            rc = mk(arena, name, k_date_int, F, sign, T_DATE, a, 2, pos, out, &fn, err);
            if (rc == TB_OK && fn != NULL)
                fn->k0 = di;
            return rc;
        }
        if (op == TB_OP_SUB && x == TB_T_DATE && y == TB_T_DATE)
            return mk(arena, name, k_date_diff, F, 0, T_INT, a, 2, pos, out, NULL, err);
        if (op == TB_OP_SUB && (x == TB_T_DATE || x == TB_T_TIMESTAMP) &&
            (y == TB_T_DATE || y == TB_T_TIMESTAMP)) {
            if ((rc = tb_cast_build(arena, a[0], T_TS, TB_CAST_IMPLICIT, pos, &a[0], err)) !=
                    TB_OK ||
                (rc = tb_cast_build(arena, a[1], T_TS, TB_CAST_IMPLICIT, pos, &a[1], err)) != TB_OK)
                return rc;
            return mk(arena, name, k_ts_diff, F, 0, T_IV, a, 2, pos, out, NULL, err);
        }
        if (x == TB_T_INTERVAL && y == TB_T_INTERVAL)
            return mk(arena, name, k_iv_addsub, F, op, T_IV, a, 2, pos, out, NULL, err);
        return TB_E_NOTFOUND;
    }
    if ((op == TB_OP_MUL && x == TB_T_INTERVAL && tb_type_is_numeric(a[1]->type)) ||
        (op == TB_OP_MUL && y == TB_T_INTERVAL && tb_type_is_numeric(a[0]->type)) ||
        (op == TB_OP_DIV && x == TB_T_INTERVAL && tb_type_is_numeric(a[1]->type))) {
        int ii = x == TB_T_INTERVAL ? 0 : 1;
        rc = tb_cast_build(arena, a[1 - ii], T_DBL, TB_CAST_IMPLICIT, pos, &a[1 - ii], err);
        if (rc != TB_OK)
            return rc;
        rc = mk(arena, name, k_iv_mul, F, op, T_IV, a, 2, pos, out, &fn, err);
        if (rc == TB_OK && fn != NULL)
            fn->k0 = ii;
        return rc;
    }
    return TB_E_NOTFOUND;
}

/* ================================================================ date_trunc / extract */

/* fn->op: unit, or -1 when the unit is not a constant (parsed per row) */
static tb_rc k_date_trunc(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                          tb_err *err)
{
    uint32_t i;
    int unit = e->fn->op;
    bool is_iv = e->type.id == TB_T_INTERVAL;
    TB_UNUSED(arena);
    for (i = 0; i < n; i++) {
        if (!VALID(i)) {
            if (is_iv)
                memset(&((tb_interval *)out->v.data)[i], 0, sizeof(tb_interval));
            else
                ((int64_t *)out->v.data)[i] = 0;
            continue;
        }
        if (e->fn->op < 0) {
            tb_str u = ((const tb_str *)args[0].v.data)[TB_IX(&args[0], i)];
            unit = parse_unit(u.ptr, u.len);
            if (unit < 0)
                return bad_unit(err, e->pos, u.ptr, u.len, args[1].v.type);
        }
        if (is_iv) {
            if (!trunc_iv(IV(1, i), unit, &((tb_interval *)out->v.data)[i]))
                return TB_ERRPOS(err, TB_E_TYPE, e->pos, "unit not supported for type interval");
        } else if (!trunc_ts(TS(1, i), unit, &((int64_t *)out->v.data)[i])) {
            return TB_ERRPOS(err, TB_E_TYPE, e->pos,
                             "unit not supported for type timestamp without time zone");
        }
    }
    return TB_OK;
}

/* date_part (double) / extract (numeric with scale e->type.scale); fn->op as above */
static tb_rc k_extract(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                       tb_err *err)
{
    uint32_t i;
    int unit = e->fn->op;
    tb_type_id at = (tb_type_id)args[1].v.type.id;
    bool dbl = e->type.id == TB_T_DOUBLE;
    int scale = e->type.scale;
    TB_UNUSED(arena);
    for (i = 0; i < n; i++) {
        tb_i128 v = 0;
        bool ok;
        if (!VALID(i)) {
            if (dbl)
                ((double *)out->v.data)[i] = 0;
            else
                ((tb_i128 *)out->v.data)[i] = 0;
            continue;
        }
        if (e->fn->op < 0) {
            tb_str u = ((const tb_str *)args[0].v.data)[TB_IX(&args[0], i)];
            unit = parse_unit(u.ptr, u.len);
            if (unit < 0)
                return bad_unit(err, e->pos, u.ptr, u.len, args[1].v.type);
        }
        if (at == TB_T_INTERVAL)
            ok = field_iv(IV(1, i), unit, &v);
        else if (at == TB_T_DATE)
            ok = field_ts((int64_t)DT(1, i) * TB_USEC_PER_DAY, unit, &v);
        else
            ok = field_ts(TS(1, i), unit, &v);
        if (!ok)
            return TB_ERRPOS(err, TB_E_TYPE, e->pos, "unit not supported for type %s",
                             tb_type_id_name(at));
        if (dbl)
            ((double *)out->v.data)[i] = (double)v / 1e6;
        else
            ((tb_i128 *)out->v.data)[i] = v / tb_i128_pow10(6 - scale);
    }
    return TB_OK;
}

static tb_rc r_trunc_extract(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                             tb_expr **out, tb_err *err)
{
    bool trunc = strcmp(name, "date_trunc") == 0;
    bool is_extract = strcmp(name, "extract") == 0;
    int unit = -1;
    tb_type src, rt;
    tb_rc rc;

    if (n != 2)
        return tb_func_no_overload(name, args, n, pos, err);
    rc = tb_func_coerce_arg(arena, name, args, n, 0, tb_type_make(TB_T_STRING), pos, err);
    if (rc != TB_OK)
        return rc;
    if (untyped(args[1])) {
        rc = tb_cast_build(arena, args[1], T_TS, TB_CAST_EXPLICIT, pos, &args[1], err);
        if (rc != TB_OK)
            return rc;
    }
    src = args[1]->type;
    if (src.id != TB_T_TIMESTAMP && src.id != TB_T_DATE && src.id != TB_T_INTERVAL)
        return tb_func_no_overload(name, args, n, pos, err);
    if (trunc && src.id == TB_T_DATE) {
        rc = tb_cast_build(arena, args[1], T_TS, TB_CAST_IMPLICIT, pos, &args[1], err);
        if (rc != TB_OK)
            return rc;
        src = T_TS;
    }
    if (args[0]->kind == TB_EX_CONST) {
        const tb_value *u = &args[0]->value;
        if (u->is_null) {
            rc = mk(arena, name, k_extract, TB_FN_STRICT, 0,
                    trunc        ? src
                    : is_extract ? tb_type_decimal(38, 6)
                                 : T_DBL,
                    args, n, pos, out, NULL, err);
            return rc;
        }
        unit = parse_unit(u->u.s.ptr, u->u.s.len);
        if (unit < 0)
            return bad_unit(err, pos, u->u.s.ptr, u->u.s.len, src);
        /* check support now so a bad unit is a construction error */
        if (trunc) {
            int64_t t;
            tb_interval iv = {0, 0, 0};
            if (src.id == TB_T_INTERVAL ? !trunc_iv(iv, unit, &iv) : !trunc_ts(0, unit, &t))
                return unsupported_unit(err, pos, u->u.s.ptr, u->u.s.len, src);
        } else {
            tb_i128 v;
            tb_interval iv = {0, 0, 0};
            if (src.id == TB_T_INTERVAL ? !field_iv(iv, unit, &v) : !field_ts(0, unit, &v))
                return unsupported_unit(err, pos, u->u.s.ptr, u->u.s.len, src);
        }
    }
    if (trunc)
        rt = src;
    else if (is_extract)
        rt = tb_type_decimal(38, unit >= 0 ? field_scale(unit, (tb_type_id)src.id) : 6);
    else
        rt = T_DBL;
    return mk(arena, name, trunc ? k_date_trunc : k_extract, TB_FN_STRICT, unit, rt, args, n, pos,
              out, NULL, err);
}

/* ================================================================ windows */

static bool window_width(tb_interval iv, int64_t *w)
{
    int64_t d;
    if (iv.months != 0)
        return false;
    if (__builtin_mul_overflow((int64_t)iv.days, TB_USEC_PER_DAY, &d) ||
        __builtin_add_overflow(d, iv.micros, w))
        return false;
    return true;
}

static tb_rc bad_width(const tb_expr *e, tb_interval iv, tb_err *err)
{
    if (iv.months != 0)
        return TB_ERRPOS(err, TB_E_RANGE, e->pos,
                         "%s: window size must not contain months or years (they have no "
                         "fixed length)",
                         e->fn_name);
    return TB_ERRPOS(err, TB_E_RANGE, e->pos, "%s: window size must be greater than zero",
                     e->fn_name);
}

/* tumble(ts, width[, offset]); fn->op: 1 = end of window */
static tb_rc k_tumble(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                      tb_err *err)
{
    int64_t *o = out->v.data;
    bool end = e->fn->op == 1;
    bool has_off = e->n_args > 2;
    uint32_t i;
    TB_UNUSED(arena);

    if (args[1].konst && (!has_off || args[2].konst) && !args[0].konst) {
        const int64_t *t = args[0].v.data;
        int64_t w, off = 0, add;
        bool bad = false;
        if (!window_width(IV(1, 0), &w) || w <= 0)
            return bad_width(e, IV(1, 0), err);
        if (has_off && !window_width(IV(2, 0), &off))
            return bad_width(e, IV(2, 0), err);
        add = end ? w : 0;
        if (off == 0) {
            /* the hot loop of the reference job: times mostly come in order, so the last
             * row's window [lo, hi) usually holds the next one too (no division then) */
            int64_t lo = 1, hi = 0, val = 0;
            for (i = 0; i < n; i++) {
                int64_t x = t[i], r, s;
                if (x >= lo && x < hi) {
                    o[i] = val;
                    continue;
                }
                r = x % w;
                bad |= __builtin_sub_overflow(x - r, r < 0 ? w : 0, &s);
                bad |= __builtin_add_overflow(s, add, &o[i]);
                lo = s;
                val = o[i];
                if (__builtin_add_overflow(s, w, &hi))
                    hi = INT64_MAX; /* the window runs past the last time */
            }
        } else {
            for (i = 0; i < n; i++) {
                int64_t x, r, s;
                bad |= __builtin_sub_overflow(t[i], off, &x);
                r = x % w;
                bad |= __builtin_sub_overflow(x - r, r < 0 ? w : 0, &s);
                bad |= __builtin_add_overflow(s, off + add, &o[i]);
            }
        }
        if (!bad)
            return TB_OK;
    }
    for (i = 0; i < n; i++) {
        int64_t w, off = 0, x, s, r;
        if (!VALID(i)) {
            o[i] = 0;
            continue;
        }
        if (!window_width(IV(1, i), &w) || w <= 0)
            return bad_width(e, IV(1, i), err);
        if (has_off && !window_width(IV(2, i), &off))
            return bad_width(e, IV(2, i), err);
        if (__builtin_sub_overflow(TS(0, i), off, &x) ||
            __builtin_mul_overflow(tb_floordiv(x, w), w, &s) ||
            __builtin_add_overflow(s, off + (end ? w : 0), &r))
            return TB_ERRPOS(err, TB_E_RANGE, e->pos, "timestamp out of range");
        o[i] = r;
    }
    return TB_OK;
}

static tb_rc r_tumble(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                      tb_expr **out, tb_err *err)
{
    tb_rc rc;
    uint32_t i;
    if (n != 2 && n != 3)
        return tb_func_no_overload(name, args, n, pos, err);
    rc = tb_func_coerce_arg(arena, name, args, n, 0, T_TS, pos, err);
    for (i = 1; i < n && rc == TB_OK; i++)
        rc = tb_func_coerce_arg(arena, name, args, n, i, T_IV, pos, err);
    if (rc != TB_OK)
        return rc;
    if (args[1]->kind == TB_EX_CONST && !args[1]->value.is_null) {
        int64_t w;
        if (!window_width(args[1]->value.u.iv, &w) || w <= 0)
            return TB_ERRPOS(err, TB_E_RANGE, pos,
                             args[1]->value.u.iv.months != 0
                                 ? "%s: window size must not contain months or years (they have "
                                   "no fixed length)"
                                 : "%s: window size must be greater than zero",
                             name);
    }
    return mk(arena, name, k_tumble, TB_FN_STRICT, strcmp(name, "tumble_end") == 0, T_TS, args, n,
              pos, out, NULL, err);
}

/* date_bin(stride, source, origin) */
static tb_rc k_date_bin(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                        tb_err *err)
{
    int64_t *o = out->v.data;
    uint32_t i;
    TB_UNUSED(arena);
    for (i = 0; i < n; i++) {
        tb_interval iv;
        int64_t w, x, s, r;
        if (!VALID(i)) {
            o[i] = 0;
            continue;
        }
        iv = IV(0, i);
        if (iv.months != 0)
            return TB_ERRPOS(err, TB_E_RANGE, e->pos,
                             "timestamps cannot be binned into intervals containing months or "
                             "years");
        if (!window_width(iv, &w) || w <= 0)
            return TB_ERRPOS(err, TB_E_RANGE, e->pos, "stride must be greater than zero");
        if (__builtin_sub_overflow(TS(1, i), TS(2, i), &x) ||
            __builtin_mul_overflow(tb_floordiv(x, w), w, &s) ||
            __builtin_add_overflow(s, TS(2, i), &r))
            return TB_ERRPOS(err, TB_E_RANGE, e->pos, "timestamp out of range");
        o[i] = r;
    }
    return TB_OK;
}

static tb_rc r_date_bin(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                        tb_expr **out, tb_err *err)
{
    tb_rc rc;
    if (n != 3)
        return tb_func_no_overload(name, args, n, pos, err);
    if ((rc = tb_func_coerce_arg(arena, name, args, n, 0, T_IV, pos, err)) != TB_OK ||
        (rc = tb_func_coerce_arg(arena, name, args, n, 1, T_TS, pos, err)) != TB_OK ||
        (rc = tb_func_coerce_arg(arena, name, args, n, 2, T_TS, pos, err)) != TB_OK)
        return rc;
    return mk(arena, name, k_date_bin, TB_FN_STRICT, 0, T_TS, args, n, pos, out, NULL, err);
}

/* ================================================================ constructors */

static tb_rc k_make_date(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                         tb_err *err)
{
    bool ts = e->type.id == TB_T_TIMESTAMP;
    uint32_t i;
    TB_UNUSED(arena);
    for (i = 0; i < n; i++) {
        int64_t y, days;
        int32_t m, d;
        if (!VALID(i)) {
            if (ts)
                ((int64_t *)out->v.data)[i] = 0;
            else
                ((int32_t *)out->v.data)[i] = 0;
            continue;
        }
        y = I32(0, i);
        m = I32(1, i);
        d = I32(2, i);
        if (y == 0 || y < -4713 || y > 294276 || m < 1 || m > 12 || d < 1 ||
            (unsigned)d > days_in_month(y < 0 ? y + 1 : y, (unsigned)m))
            return TB_ERRPOS(err, TB_E_RANGE, e->pos,
                             "date field value out of range: %lld-%02d-%02d", (long long)y, m, d);
        if (y < 0)
            y += 1; /* 1 BC is year 0 of the proleptic calendar */
        days = tb_days_from_civil(y, (unsigned)m, (unsigned)d);
        if (!ts) {
            if (days < INT32_MIN || days > INT32_MAX)
                return TB_ERRPOS(err, TB_E_RANGE, e->pos, "date out of range");
            ((int32_t *)out->v.data)[i] = (int32_t)days;
        } else {
            int32_t h = I32(3, i), mi = I32(4, i);
            double sec = DBL(5, i), us;
            if (h < 0 || h > 24 || mi < 0 || mi > 59 || !(sec >= 0 && sec <= 60) ||
                (h == 24 && (mi != 0 || sec != 0)))
                return TB_ERRPOS(err, TB_E_RANGE, e->pos,
                                 "time field value out of range: %d:%02d:%02g", h, mi, sec);
            us = rint(sec * 1e6);
            ((int64_t *)out->v.data)[i] = days * TB_USEC_PER_DAY +
                                          ((int64_t)h * 3600 + (int64_t)mi * 60) * TB_USEC_PER_SEC +
                                          (int64_t)us;
        }
    }
    return TB_OK;
}

static tb_rc r_make_date(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                         tb_expr **out, tb_err *err)
{
    bool ts = strcmp(name, "make_timestamp") == 0;
    uint32_t i;
    tb_rc rc = TB_OK;
    if (n != (ts ? 6u : 3u))
        return tb_func_no_overload(name, args, n, pos, err);
    for (i = 0; i < n && rc == TB_OK; i++) {
        if (i == 5)
            rc = tb_func_coerce_arg(arena, name, args, n, i, T_DBL, pos, err);
        else if (tb_type_is_integer(args[i]->type))
            rc = tb_cast_build(arena, args[i], T_INT, TB_CAST_ASSIGNMENT, pos, &args[i], err);
        else
            rc = tb_func_coerce_arg(arena, name, args, n, i, T_INT, pos, err);
    }
    if (rc != TB_OK)
        return rc;
    return mk(arena, name, k_make_date, TB_FN_STRICT, 0, ts ? T_TS : T_DATE, args, n, pos, out,
              NULL, err);
}

/* make_interval(years, months, weeks, days, hours, mins, secs): every argument defaults
 * to 0 (the binder maps named arguments, make_interval(secs => 5), onto positions) */
static tb_rc k_make_interval(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena,
                             tb_ev *out, tb_err *err)
{
    TB_UNUSED(arena);
    for (uint32_t i = 0; i < n; i++) {
        tb_interval *o = &((tb_interval *)out->v.data)[i];
        memset(o, 0, sizeof(*o));
        if (!VALID(i))
            continue;
        int64_t months = (int64_t)I32(0, i) * 12 + I32(1, i);
        int64_t days = (int64_t)I32(2, i) * 7 + I32(3, i);
        double secs = DBL(6, i);
        double us = (double)I32(4, i) * 3600e6 + (double)I32(5, i) * 60e6 + rint(secs * 1e6);
        if (months < INT32_MIN || months > INT32_MAX || days < INT32_MIN || days > INT32_MAX ||
            !(us > -9.2e18 && us < 9.2e18))
            return TB_ERRPOS(err, TB_E_RANGE, e->pos, "interval out of range");
        o->months = (int32_t)months;
        o->days = (int32_t)days;
        /* exact for the integer parts; secs as PostgreSQL rounds it (to microseconds) */
        o->micros = (int64_t)I32(4, i) * 3600 * TB_USEC_PER_SEC +
                    (int64_t)I32(5, i) * 60 * TB_USEC_PER_SEC + (int64_t)rint(secs * 1e6);
    }
    return TB_OK;
}

static tb_rc r_make_interval(tb_arena *arena, const char *name, tb_expr **args, uint32_t n,
                             int pos, tb_expr **out, tb_err *err)
{
    tb_expr *all[7];
    tb_rc rc = TB_OK;
    if (n > 7)
        return tb_func_no_overload(name, args, n, pos, err);
    for (uint32_t i = 0; i < 7; i++) {
        if (i < n) {
            all[i] = args[i];
        } else {
            tb_value z;
            memset(&z, 0, sizeof(z));
            z.type = i == 6 ? T_DBL : T_INT;
            all[i] = tb_expr_const_typed(arena, &z);
            if (all[i] == NULL)
                return tb_expr_nomem(err);
        }
    }
    for (uint32_t i = 0; i < 7 && rc == TB_OK; i++) {
        if (i == 6)
            rc = tb_func_coerce_arg(arena, name, all, 7, i, T_DBL, pos, err);
        else if (tb_type_is_integer(all[i]->type))
            rc = tb_cast_build(arena, all[i], T_INT, TB_CAST_ASSIGNMENT, pos, &all[i], err);
        else
            rc = tb_func_coerce_arg(arena, name, all, 7, i, T_INT, pos, err);
    }
    if (rc != TB_OK)
        return rc;
    tb_expr **keep = tb_arena_alloc(arena, sizeof(all));
    if (keep == NULL)
        return tb_expr_nomem(err);
    memcpy(keep, all, sizeof(all));
    return mk(arena, name, k_make_interval, TB_FN_STRICT, 0, T_IV, keep, 7, pos, out, NULL, err);
}

/* to_timestamp(double seconds) (op 0), epoch(ts) -> double seconds (op 1) */
static tb_rc k_epoch(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                     tb_err *err)
{
    uint32_t i;
    TB_UNUSED(arena);
    for (i = 0; i < n; i++) {
        if (e->fn->op == 1) {
            ((double *)out->v.data)[i] = (double)TS(0, i) / 1e6;
            continue;
        }
        {
            double x = DBL(0, i), us = rint(x * 1e6);
            bool ok = us > -9.2e18 && us < 9.2e18;
            if (!ok && VALID(i)) {
                if (isnan(x))
                    return TB_ERRPOS(err, TB_E_RANGE, e->pos, "timestamp cannot be NaN");
                return TB_ERRPOS(err, TB_E_RANGE, e->pos, "timestamp out of range: \"%g\"", x);
            }
            ((int64_t *)out->v.data)[i] = ok ? (int64_t)us : 0;
        }
    }
    return TB_OK;
}

static tb_rc r_epoch(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                     tb_expr **out, tb_err *err)
{
    bool to_ts = strcmp(name, "to_timestamp") == 0;
    tb_rc rc;
    if (to_ts && n == 2) /* to_timestamp(text, template) */
        return tb_fmt_parse_resolve(arena, name, args, n, pos, out, err);
    if (n != 1)
        return tb_func_no_overload(name, args, n, pos, err);
    rc = tb_func_coerce_arg(arena, name, args, n, 0, to_ts ? T_DBL : T_TS, pos, err);
    if (rc != TB_OK)
        return rc;
    return mk(arena, name, k_epoch, TB_FN_STRICT | (to_ts ? 0 : TB_FN_SAFE), to_ts ? 0 : 1,
              to_ts ? T_TS : T_DBL, args, n, pos, out, NULL, err);
}

/* now() & co: fn->k0 holds the statement time; op 1 = clock_timestamp (per call) */
static tb_rc k_now(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                   tb_err *err)
{
    int64_t t = e->fn->op == 1 ? tb_wall_us() : e->fn->k0;
    uint32_t i;
    TB_UNUSED(args);
    TB_UNUSED(arena);
    TB_UNUSED(err);
    for (i = 0; i < n; i++) {
        if (e->type.id == TB_T_DATE)
            ((int32_t *)out->v.data)[i] = (int32_t)tb_floordiv(t, TB_USEC_PER_DAY);
        else
            ((int64_t *)out->v.data)[i] = t;
    }
    return TB_OK;
}

static tb_rc r_now(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                   tb_expr **out, tb_err *err)
{
    bool clock = strcmp(name, "clock_timestamp") == 0;
    bool date = strcmp(name, "current_date") == 0;
    tb_func *fn = NULL;
    tb_rc rc;
    if (n != 0)
        return tb_func_no_overload(name, args, n, pos, err);
    rc = mk(arena, name, k_now, TB_FN_SAFE | (clock ? TB_FN_VOLATILE : TB_FN_STABLE), clock,
            date ? T_DATE : T_TS, args, 0, pos, out, &fn, err);
    if (rc == TB_OK && fn != NULL)
        fn->k0 = tb_wall_us();
    return rc;
}

const tb_fn_entry tb_func_time_table[] = {
    {"date_trunc", r_trunc_extract},
    {"date_part", r_trunc_extract},
    {"extract", r_trunc_extract},
    {"date_bin", r_date_bin},
    {"tumble", r_tumble},
    {"tumble_start", r_tumble},
    {"tumble_end", r_tumble},
    {"make_date", r_make_date},
    {"make_timestamp", r_make_date},
    {"make_interval", r_make_interval},
    {"to_timestamp", r_epoch},
    {"epoch", r_epoch},
    {"now", r_now},
    {"current_timestamp", r_now},
    {"localtimestamp", r_now},
    {"transaction_timestamp", r_now},
    {"statement_timestamp", r_now},
    {"clock_timestamp", r_now},
    {"current_date", r_now},
    {NULL, NULL},
};
