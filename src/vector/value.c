/*
 * value.c - scalar values: text rendering (as PostgreSQL prints them), comparison, and
 * the 128-bit decimal helpers.
 *
 * Floating point output matches PostgreSQL >= 12 (extra_float_digits = 1): the shortest
 * decimal that reads back to the same value, in fixed notation when the decimal
 * exponent is in [-4, 15) for double ([-4, 6) for real), else "1.5e+20" style with at
 * least two exponent digits; "NaN", "Infinity", "-Infinity", and "-0" for negative zero.
 * The shortest digits come from printf's correctly rounded %.*e: a double whose shortest
 * form has k <= 15 digits prints those digits (padded with zeros) at precision 15, since
 * 15-digit decimals are coarser than doubles; otherwise the correctly rounded 16- or
 * 17-digit form is the closest of its length, so if any of that length round-trips it
 * does. Subnormals have less precision, so for them the search starts at one digit.
 *
 * Decimals are tb_i128 scaled by 10^scale; at most 38 significant digits (|v| < 10^38).
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vector/vector.h"

/* ---------------------------------------------------------------- decimals */

tb_i128 tb_i128_pow10(int k)
{
    tb_i128 v = 1;
    if (k < 0)
        return 0;
    if (k > 38)
        k = 38;
    while (k-- > 0)
        v *= 10;
    return v;
}

int tb_i128_format(tb_i128 v, int scale, char *buf)
{
    unsigned __int128 mag = v < 0 ? (unsigned __int128)0 - (unsigned __int128)v
                                  : (unsigned __int128)v;
    char digits[48];
    int nd = 0, k, len = 0;

    if (scale < 0)
        scale = 0;
    if (scale > 38)
        scale = 38;
    do {
        digits[nd++] = (char)('0' + (int)(mag % 10));
        mag /= 10;
    } while (mag != 0);
    while (nd < scale + 1)
        digits[nd++] = '0';
    if (v < 0)
        buf[len++] = '-';
    for (k = nd - 1; k >= scale; k--)
        buf[len++] = digits[k];
    if (scale > 0) {
        buf[len++] = '.';
        for (k = scale - 1; k >= 0; k--)
            buf[len++] = digits[k];
    }
    buf[len] = '\0';
    return len;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool tb_i128_parse(const char *s, size_t n, int scale, tb_i128 *out)
{
    static const unsigned __int128 limit = /* 10^38 - 1 */
        (unsigned __int128)10000000000000000000ULL * 10000000000000000000ULL - 1;
    unsigned __int128 acc = 0;
    size_t i = 0;
    bool neg = false, any = false;
    int frac_used = 0;

    if (scale < 0 || scale > 38)
        return false;
    while (i < n && blank(s[i]))
        i++;
    while (n > i && blank(s[n - 1]))
        n--;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        neg = s[i] == '-';
        i++;
    }
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        any = true;
        if (acc > (limit - d) / 10)
            return false;
        acc = acc * 10 + d;
    }
    if (i < n && s[i] == '.') {
        i++;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            unsigned d = (unsigned)(s[i] - '0');
            any = true;
            if (frac_used < scale) {
                if (acc > (limit - d) / 10)
                    return false;
                acc = acc * 10 + d;
                frac_used++;
            } else if (frac_used == scale) {
                /* First dropped digit decides rounding (half away from zero). */
                if (d >= 5) {
                    /* Apply after scaling; remember by bumping frac_used past scale. */
                    frac_used = scale + 2;
                } else {
                    frac_used = scale + 1;
                }
            }
        }
    }
    if (!any || i != n)
        return false;
    for (; frac_used < scale; frac_used++) {
        if (acc > limit / 10)
            return false;
        acc *= 10;
    }
    if (frac_used == scale + 2) {
        if (acc >= limit)
            return false;
        acc += 1;
    }
    *out = neg ? -(tb_i128)acc : (tb_i128)acc;
    return true;
}

/* ---------------------------------------------------------------- floats */

/* Lay out sign, significant digits d[0..nd) and decimal exponent as PostgreSQL does. */
static int float_layout(bool neg, const char *d, int nd, int exp, int hi, char *out)
{
    int len = 0, k;

    if (neg)
        out[len++] = '-';
    if (exp < -4 || exp >= hi) {
        out[len++] = d[0];
        if (nd > 1) {
            out[len++] = '.';
            memcpy(out + len, d + 1, (size_t)(nd - 1));
            len += nd - 1;
        }
        len += snprintf(out + len, 16, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        return len;
    }
    if (exp < 0) {
        out[len++] = '0';
        out[len++] = '.';
        for (k = 0; k < -exp - 1; k++)
            out[len++] = '0';
        memcpy(out + len, d, (size_t)nd);
        len += nd;
    } else {
        for (k = 0; k <= exp; k++)
            out[len++] = k < nd ? d[k] : '0';
        if (nd > exp + 1) {
            out[len++] = '.';
            memcpy(out + len, d + exp + 1, (size_t)(nd - exp - 1));
            len += nd - exp - 1;
        }
    }
    out[len] = '\0';
    return len;
}

/* Split "%.*e" output "-d.ddde+XX" into digits (trailing zeros trimmed) and exponent. */
static int split_e(const char *e, char *d, int *nd, int *exp)
{
    const char *p = e;
    int n = 0;
    if (*p == '-')
        p++;
    for (; *p != 'e'; p++) {
        if (*p != '.')
            d[n++] = *p;
    }
    *exp = atoi(p + 1);
    while (n > 1 && d[n - 1] == '0')
        n--;
    *nd = n;
    return n;
}

static int special_float(double x, char *out)
{
    if (isnan(x))
        return (int)(stpcpy(out, "NaN") - out);
    if (isinf(x))
        return (int)(stpcpy(out, x < 0 ? "-Infinity" : "Infinity") - out);
    /* x == 0 */
    return (int)(stpcpy(out, signbit(x) ? "-0" : "0") - out);
}

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                        1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                        1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/*
 * Fast path for doubles whose shortest form has at most 15 digits (most real data:
 * prices, measurements, 0.1): take the 15-digit scaled integer m = round(ax * 10^k)
 * and check (double)m / 10^k == ax. Both operands are exact doubles (m < 2^53,
 * k <= 22) and IEEE division rounds correctly, so the check is exactly "the decimal
 * m * 10^-k reads back as ax" (Clinger's fast path), with no printf/strtod. A pass
 * also proves m is the correctly rounded 15-digit value (two 15-digit decimals are
 * more than an ulp apart), so trimming its zeros gives the shortest digits.
 */
static bool shortest15(double ax, char *d, int *nd, int *exp)
{
    int e10 = (int)floor(log10(ax)), k, n = 0;
    double m;
    uint64_t mi;
    char tmp[24];

    if (e10 < -7 || e10 > 14)
        return false;
    k = 14 - e10;
    /* log10 may be off by one next to a power of ten: fix k so m has 15 digits. */
    for (int tries = 0;; tries++) {
        if (k < 0 || k > 22 || tries > 2)
            return false;
        m = nearbyint(ax * pow10_exact[k]);
        if (m >= 1e15)
            k--;
        else if (m < 1e14)
            k++;
        else
            break;
    }
    if (m / pow10_exact[k] != ax)
        return false;
    mi = (uint64_t)m;
    while (mi % 10 == 0) {
        mi /= 10;
        k--;
    }
    do {
        tmp[n++] = (char)('0' + mi % 10);
        mi /= 10;
    } while (mi != 0);
    *nd = n;
    *exp = n - 1 - k;
    for (int i = 0; i < n; i++)
        d[i] = tmp[n - 1 - i];
    return true;
}

/* out >= 32 bytes. */
static int format_double(double x, char *out)
{
    char e[40], d[24];
    int prec, nd, exp;

    if (!isfinite(x) || x == 0)
        return special_float(x, out);
    /* Integers below 10^15 print as plain integers; the common case for sums. */
    if (fabs(x) < 1e15 && x == (double)(int64_t)x)
        return snprintf(out, 32, "%lld", (long long)(int64_t)x);
    if (fabs(x) >= DBL_MIN && shortest15(fabs(x), d, &nd, &exp))
        return float_layout(x < 0, d, nd, exp, 15, out);
    /* Subnormals carry fewer digits than 15: search from 1 (the argument above needs
     * full precision). */
    for (prec = fabs(x) < DBL_MIN ? 1 : 15; prec < 17; prec++) {
        (void)snprintf(e, sizeof(e), "%.*e", prec - 1, x);
        if (strtod(e, NULL) == x)
            break;
    }
    if (prec == 17)
        (void)snprintf(e, sizeof(e), "%.*e", prec - 1, x);
    split_e(e, d, &nd, &exp);
    return float_layout(x < 0, d, nd, exp, 15, out);
}

static int format_float(float x, char *out)
{
    char e[40], d[24];
    int prec, nd, exp;

    if (!isfinite(x) || x == 0)
        return special_float(x, out);
    for (prec = fabsf(x) < FLT_MIN ? 1 : 6; prec < 9; prec++) {
        (void)snprintf(e, sizeof(e), "%.*e", prec - 1, (double)x);
        if (strtof(e, NULL) == x)
            break;
    }
    if (prec == 9)
        (void)snprintf(e, sizeof(e), "%.*e", prec - 1, (double)x);
    split_e(e, d, &nd, &exp);
    return float_layout(x < 0, d, nd, exp, 6, out);
}

/* ---------------------------------------------------------------- values */

tb_rc tb_value_format(const tb_value *val, tb_buf *buf)
{
    char tmp[96];
    int len;

    if (val->is_null)
        return TB_OK;
    switch ((tb_type_id)val->type.id) {
    case TB_T_NULL:
    case TB_T__COUNT:
        return TB_OK;
    case TB_T_BOOL:
        return tb_buf_puts(buf, val->u.b ? "true" : "false");
    case TB_T_INT16:
    case TB_T_INT32:
    case TB_T_INT64: {
        /* Hand-rolled: this runs for every integer cell of every output row. */
        uint64_t mag = val->u.i < 0 ? (uint64_t)0 - (uint64_t)val->u.i : (uint64_t)val->u.i;
        char *p = tmp + sizeof(tmp);
        do {
            *--p = (char)('0' + mag % 10);
            mag /= 10;
        } while (mag != 0);
        if (val->u.i < 0)
            *--p = '-';
        return tb_buf_append(buf, p, (size_t)(tmp + sizeof(tmp) - p));
    }
    case TB_T_FLOAT:
        len = format_float((float)val->u.d, tmp);
        break;
    case TB_T_DOUBLE:
        len = format_double(val->u.d, tmp);
        break;
    case TB_T_DECIMAL:
        len = tb_i128_format(val->u.dec, val->type.scale, tmp);
        break;
    case TB_T_STRING:
        return tb_buf_append(buf, val->u.s.ptr, val->u.s.len);
    case TB_T_DATE:
        len = tb_format_date((int32_t)val->u.i, tmp);
        break;
    case TB_T_TIMESTAMP:
        len = tb_format_timestamp(val->u.i, tmp);
        break;
    case TB_T_INTERVAL:
        len = tb_format_interval(val->u.iv, tmp);
        break;
    default:
        return TB_OK;
    }
    return tb_buf_append(buf, tmp, (size_t)len);
}

static int cmp_double(double a, double b)
{
    /* PostgreSQL: NaN equals NaN and sorts above every other value; -0 == 0. */
    if (isnan(a))
        return isnan(b) ? 0 : 1;
    if (isnan(b))
        return -1;
    return (a > b) - (a < b);
}

int tb_value_cmp(const tb_value *a, const tb_value *b)
{
    if (a->is_null || b->is_null || a->type.id == TB_T_NULL)
        return a->is_null == b->is_null ? 0 : (a->is_null ? 1 : -1);
    switch ((tb_type_id)a->type.id) {
    case TB_T_BOOL:
        return (int)a->u.b - (int)b->u.b;
    case TB_T_INT16:
    case TB_T_INT32:
    case TB_T_INT64:
    case TB_T_DATE:
    case TB_T_TIMESTAMP:
        return (a->u.i > b->u.i) - (a->u.i < b->u.i);
    case TB_T_FLOAT:
    case TB_T_DOUBLE:
        return cmp_double(a->u.d, b->u.d);
    case TB_T_DECIMAL:
        return (a->u.dec > b->u.dec) - (a->u.dec < b->u.dec);
    case TB_T_STRING: {
        uint32_t n = TB_MIN(a->u.s.len, b->u.s.len);
        int c = n ? memcmp(a->u.s.ptr, b->u.s.ptr, n) : 0;
        if (c != 0)
            return c < 0 ? -1 : 1;
        return (a->u.s.len > b->u.s.len) - (a->u.s.len < b->u.s.len);
    }
    case TB_T_INTERVAL: {
        /* As PostgreSQL: compare the span with 30-day months, exactly (128-bit). */
        __int128 sa = ((__int128)a->u.iv.months * 30 + a->u.iv.days) * TB_USEC_PER_DAY +
                      a->u.iv.micros;
        __int128 sb = ((__int128)b->u.iv.months * 30 + b->u.iv.days) * TB_USEC_PER_DAY +
                      b->u.iv.micros;
        return (sa > sb) - (sa < sb);
    }
    case TB_T_NULL:
    case TB_T__COUNT:
        break;
    }
    return 0;
}
