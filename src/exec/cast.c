/*
 * cast.c - type conversions: which casts exist (PostgreSQL's implicit / assignment /
 * explicit levels), and their vectorized kernels.
 *
 * Rules followed (PostgreSQL):
 *  - numeric widening (smallint -> integer -> bigint -> numeric -> real -> double) and
 *    date -> timestamp are implicit; narrowing and timestamp -> date are assignment
 *    casts; anything -> text is an assignment cast; text -> anything, bool <-> integer
 *    are explicit only. An untyped string literal (or NULL) converts to any type.
 *  - double/real -> integer rounds half to even (rint), numeric -> integer rounds half
 *    away from zero; out of range is "integer out of range" (smallint/bigint alike).
 *  - double -> numeric goes through "%.15g" text (PostgreSQL's float8_numeric), so
 *    1.005::float8::numeric(10,2) is 1.01 as in PostgreSQL.
 *  - text input is trimmed; bad input is "invalid input syntax for type T: "v"".
 *
 * Kernels compute blindly over all rows (NULL rows may hold garbage) and collect a
 * failure flag; only when it is set is the batch re-scanned for the first failing
 * valid row, so the common path has no per-row validity test.
 */
#include "exec/expr_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ================================================================ i128 helpers */

tb_type tb_cast_int_decimal(tb_type t)
{
    switch ((tb_type_id)t.id) {
    case TB_T_BOOL:
    case TB_T_INT16:
        return tb_type_decimal(5, 0);
    case TB_T_INT32:
        return tb_type_decimal(10, 0);
    case TB_T_INT64:
        return tb_type_decimal(19, 0);
    default:
        return t;
    }
}

bool tb_dec_fits(tb_i128 v, int precision)
{
    tb_i128 lim = tb_i128_pow10(precision > 38 ? 38 : precision);
    return v < lim && v > -lim;
}

/* Divide by 10^k rounding half away from zero. */
static tb_i128 div_round_p10(tb_i128 v, int k)
{
    tb_i128 d, q, r;
    if (k <= 0)
        return v;
    if (k > 38)
        return 0;
    d = tb_i128_pow10(k);
    q = v / d;
    r = v % d;
    if (r < 0)
        r = -r;
    if (r >= d - r) /* 2r >= d without overflow */
        q += v < 0 ? -1 : 1;
    return q;
}

bool tb_dec_rescale(tb_i128 v, int from_scale, int to_scale, tb_i128 *out)
{
    if (to_scale >= from_scale) {
        int k = to_scale - from_scale;
        if (k > 38)
            return v == 0 ? (*out = 0, true) : false;
        if (__builtin_mul_overflow(v, tb_i128_pow10(k), out))
            return false;
        return true;
    }
    *out = div_round_p10(v, from_scale - to_scale);
    return true;
}

/* ================================================================ allowed casts */

static int num_rank(tb_type_id id)
{
    switch (id) {
    case TB_T_INT16:
        return 1;
    case TB_T_INT32:
        return 2;
    case TB_T_INT64:
        return 3;
    case TB_T_DECIMAL:
        return 4;
    case TB_T_FLOAT:
        return 5;
    case TB_T_DOUBLE:
        return 6;
    default:
        return 0;
    }
}

bool tb_cast_allowed(tb_type from, tb_type to, tb_cast_level level)
{
    tb_type_id f = (tb_type_id)from.id, t = (tb_type_id)to.id;
    if (f == t)
        return true;
    if (f == TB_T_NULL)
        return true;
    if (t == TB_T_NULL)
        return false;
    if (t == TB_T_STRING)
        return level >= TB_CAST_ASSIGNMENT;
    if (f == TB_T_STRING)
        return level >= TB_CAST_EXPLICIT;
    if (num_rank(f) && num_rank(t))
        return num_rank(f) < num_rank(t) || level >= TB_CAST_ASSIGNMENT;
    if ((f == TB_T_BOOL && tb_type_is_integer(to)) || (t == TB_T_BOOL && tb_type_is_integer(from)))
        return level >= TB_CAST_EXPLICIT;
    if (f == TB_T_DATE && t == TB_T_TIMESTAMP)
        return true;
    if (f == TB_T_TIMESTAMP && t == TB_T_DATE)
        return level >= TB_CAST_ASSIGNMENT;
    return false;
}

/* ================================================================ text parsing */

static void trim(const char **ps, size_t *pn)
{
    const char *s = *ps;
    size_t n = *pn;
    while (n > 0 &&
           (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '\v')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r' ||
                     s[n - 1] == '\f' || s[n - 1] == '\v'))
        n--;
    *ps = s;
    *pn = n;
}

static tb_rc bad_input(tb_err *err, int pos, tb_type t, const char *s, size_t n)
{
    char tn[64];
    if (n > 200)
        n = 200;
    return TB_ERRPOS(err, TB_E_TYPE, pos, "invalid input syntax for type %s: \"%.*s\"",
                     t.id == TB_T_DECIMAL ? "numeric" : tb_type_name(t, tn, sizeof(tn)), (int)n, s);
}

static tb_rc out_of_range_input(tb_err *err, int pos, tb_type t, const char *s, size_t n)
{
    char tn[64];
    if (n > 200)
        n = 200;
    return TB_ERRPOS(err, TB_E_RANGE, pos, "value \"%.*s\" is out of range for type %s", (int)n, s,
                     t.id == TB_T_DECIMAL ? "numeric" : tb_type_name(t, tn, sizeof(tn)));
}

static const char *int_range_msg(tb_type_id t)
{
    return t == TB_T_INT16   ? "smallint out of range"
           : t == TB_T_INT64 ? "bigint out of range"
                             : "integer out of range";
}

/* 0 ok, 1 syntax, 2 range */
static int parse_int64(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    uint64_t acc = 0;
    if (n == 0)
        return 1;
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n)
        return 1;
    for (; i < n; i++) {
        unsigned d;
        if (s[i] < '0' || s[i] > '9')
            return 1;
        d = (unsigned)(s[i] - '0');
        if (acc > (UINT64_MAX - d) / 10) {
            /* keep scanning for syntax errors first */
            for (; i < n; i++)
                if (s[i] < '0' || s[i] > '9')
                    return 1;
            return 2;
        }
        acc = acc * 10 + d;
    }
    if (neg) {
        if (acc > (uint64_t)INT64_MAX + 1)
            return 2;
        *out = (int64_t)(0 - acc);
    } else {
        if (acc > (uint64_t)INT64_MAX)
            return 2;
        *out = (int64_t)acc;
    }
    return 0;
}

/* Decimal text (with optional exponent) to an integer scaled by 10^scale, rounded half
 * away from zero. 0 ok, 1 syntax, 2 overflow of 38 digits. */
static int parse_decimal(const char *s, size_t n, int scale, tb_i128 *out)
{
    char dig[130];
    int nd = 0, i, e;
    long exp10 = 0, xe = 0;
    size_t k = 0;
    bool neg = false, any = false, dot = false;
    tb_i128 v = 0;

    if (k < n && (s[k] == '+' || s[k] == '-')) {
        neg = s[k] == '-';
        k++;
    }
    for (; k < n; k++) {
        char c = s[k];
        if (c == '.') {
            if (dot)
                return 1;
            dot = true;
            continue;
        }
        if (c < '0' || c > '9')
            break;
        any = true;
        if (nd == 0 && c == '0') {
            if (dot)
                exp10--;
            continue;
        }
        if (nd < 128) {
            dig[nd++] = c;
            if (dot)
                exp10--;
        } else if (!dot) {
            exp10++;
        }
    }
    if (!any)
        return 1;
    if (k < n && (s[k] == 'e' || s[k] == 'E')) {
        bool eneg = false, edig = false;
        k++;
        if (k < n && (s[k] == '+' || s[k] == '-')) {
            eneg = s[k] == '-';
            k++;
        }
        for (; k < n && s[k] >= '0' && s[k] <= '9'; k++) {
            edig = true;
            if (xe < 100000)
                xe = xe * 10 + (s[k] - '0');
        }
        if (!edig)
            return 1;
        exp10 += eneg ? -xe : xe;
    }
    if (k != n)
        return 1;
    /* strip trailing zeros of the mantissa */
    while (nd > 0 && dig[nd - 1] == '0') {
        nd--;
        exp10++;
    }
    if (nd == 0) {
        *out = 0;
        return 0;
    }
    e = (int)(exp10 + scale > 1000 ? 1000 : exp10 + scale < -1000 ? -1000 : exp10 + scale);
    /* value = dig * 10^e */
    if (e >= 0) {
        if (nd + e > 38)
            return 2;
        for (i = 0; i < nd; i++)
            v = v * 10 + (dig[i] - '0');
        v *= tb_i128_pow10(e);
    } else {
        int keep = nd + e; /* digits kept before the rounding point */
        if (keep > 38)
            return 2;
        for (i = 0; i < keep; i++)
            v = v * 10 + (dig[i] - '0');
        if (keep >= 0 && keep < nd && dig[keep] >= '5')
            v += 1;
        if (!tb_dec_fits(v, 38))
            return 2;
    }
    *out = neg ? -v : v;
    return 0;
}

static int parse_bool(const char *s, size_t n, bool *out)
{
    static const char *const t[] = {"true", "yes", "on", "1"};
    static const char *const f[] = {"false", "no", "off", "0"};
    size_t k;
    char low[8];
    if (n == 0 || n > 5)
        return 1;
    for (k = 0; k < n; k++)
        low[k] = (char)((s[k] >= 'A' && s[k] <= 'Z') ? s[k] + 32 : s[k]);
    low[n] = '\0';
    /* PostgreSQL accepts unique prefixes: "t", "tr", "y", "of" ("o" is ambiguous) */
    for (k = 0; k < 4; k++) {
        size_t tl = strlen(t[k]), fl = strlen(f[k]);
        if (n <= tl && strncmp(low, t[k], n) == 0 && !(n == 1 && low[0] == 'o')) {
            *out = true;
            return 0;
        }
        if (n <= fl && strncmp(low, f[k], n) == 0 && !(n == 1 && low[0] == 'o')) {
            if (k == 2 && n < 2)
                continue;
            *out = false;
            return 0;
        }
    }
    return 1;
}

/* strtod accepts hex floats and "nan(...)"; PostgreSQL does not. */
static bool float_syntax_ok(const char *b)
{
    if (*b == '+' || *b == '-')
        b++;
    if ((*b >= '0' && *b <= '9') || *b == '.')
        return !(b[0] == '0' && (b[1] == 'x' || b[1] == 'X'));
    return strcasecmp(b, "inf") == 0 || strcasecmp(b, "infinity") == 0 || strcasecmp(b, "nan") == 0;
}

tb_rc tb_cast_parse_text(const char *s0, size_t n0, tb_type t, int pos, tb_value *out, tb_err *err)
{
    const char *s = s0;
    size_t n = n0;
    int r;

    memset(out, 0, sizeof(*out));
    out->type = t;
    if (t.id != TB_T_STRING)
        trim(&s, &n);
    switch ((tb_type_id)t.id) {
    case TB_T_STRING:
        out->u.s.ptr = s0;
        out->u.s.len = (uint32_t)n0;
        return TB_OK;
    case TB_T_BOOL: {
        bool b;
        if (parse_bool(s, n, &b) != 0)
            return bad_input(err, pos, t, s0, n0);
        out->u.b = b;
        return TB_OK;
    }
    case TB_T_INT16:
    case TB_T_INT32:
    case TB_T_INT64: {
        int64_t v = 0;
        r = parse_int64(s, n, &v);
        if (r == 1)
            return bad_input(err, pos, t, s0, n0);
        if (r == 2 || (t.id == TB_T_INT16 && (v < INT16_MIN || v > INT16_MAX)) ||
            (t.id == TB_T_INT32 && (v < INT32_MIN || v > INT32_MAX)))
            return out_of_range_input(err, pos, t, s0, n0);
        out->u.i = v;
        return TB_OK;
    }
    case TB_T_FLOAT:
    case TB_T_DOUBLE: {
        char buf[128];
        char *end;
        double d;
        if (n == 0 || n >= sizeof(buf))
            return bad_input(err, pos, t, s0, n0);
        memcpy(buf, s, n);
        buf[n] = '\0';
        errno = 0;
        d = strtod(buf, &end);
        if (end != buf + n || !float_syntax_ok(buf))
            return bad_input(err, pos, t, s0, n0);
        if (errno == ERANGE && (d == 0 || isinf(d)))
            return TB_ERRPOS(err, TB_E_RANGE, pos, "\"%.*s\" is out of range for type %s",
                             (int)(n0 > 200 ? 200 : n0), s0,
                             t.id == TB_T_FLOAT ? "real" : "double precision");
        if (t.id == TB_T_FLOAT && isinf((float)d) && !isinf(d))
            return TB_ERRPOS(err, TB_E_RANGE, pos, "\"%.*s\" is out of range for type real",
                             (int)(n0 > 200 ? 200 : n0), s0);
        out->u.d = t.id == TB_T_FLOAT ? (double)(float)d : d;
        return TB_OK;
    }
    case TB_T_DECIMAL: {
        tb_i128 v = 0;
        r = parse_decimal(s, n, t.scale, &v);
        if (r == 1)
            return bad_input(err, pos, t, s0, n0);
        if (r == 2 || !tb_dec_fits(v, t.precision))
            return TB_ERRPOS(err, TB_E_RANGE, pos, "numeric field overflow");
        out->u.dec = v;
        return TB_OK;
    }
    case TB_T_DATE: {
        int32_t d;
        if (!tb_parse_date(s, n, &d))
            return bad_input(err, pos, t, s0, n0);
        out->u.i = d;
        return TB_OK;
    }
    case TB_T_TIMESTAMP: {
        int64_t us;
        if (!tb_parse_timestamp(s, n, &us))
            return bad_input(err, pos, t, s0, n0);
        out->u.i = us;
        return TB_OK;
    }
    case TB_T_INTERVAL: {
        tb_interval iv;
        if (!tb_parse_interval(s, n, &iv))
            return bad_input(err, pos, t, s0, n0);
        out->u.iv = iv;
        return TB_OK;
    }
    default:
        return bad_input(err, pos, t, s0, n0);
    }
}

/* ================================================================ kernels */

static void put_row(tb_vec *v, uint32_t i, const tb_value *val)
{
    switch ((tb_type_id)v->type.id) {
    case TB_T_BOOL:
        ((uint8_t *)v->data)[i] = val->u.b ? 1 : 0;
        break;
    case TB_T_INT16:
        ((int16_t *)v->data)[i] = (int16_t)val->u.i;
        break;
    case TB_T_INT32:
    case TB_T_DATE:
        ((int32_t *)v->data)[i] = (int32_t)val->u.i;
        break;
    case TB_T_INT64:
    case TB_T_TIMESTAMP:
        ((int64_t *)v->data)[i] = val->u.i;
        break;
    case TB_T_FLOAT:
        ((float *)v->data)[i] = (float)val->u.d;
        break;
    case TB_T_DOUBLE:
        ((double *)v->data)[i] = val->u.d;
        break;
    case TB_T_DECIMAL:
        ((tb_i128 *)v->data)[i] = val->u.dec;
        break;
    case TB_T_STRING:
        ((tb_str *)v->data)[i] = val->u.s;
        break;
    case TB_T_INTERVAL:
        ((tb_interval *)v->data)[i] = val->u.iv;
        break;
    default:
        break;
    }
}


static tb_rc to_text(const tb_ev *in, uint32_t n, tb_arena *arena, tb_ev *out, tb_err *err)
{
    tb_buf buf = {0};
    uint32_t *offs = NULL;
    uint32_t i;
    tb_rc rc = TB_OK;
    char *bytes;
    tb_str *o = out->v.data;

    offs = tb_malloc(sizeof(uint32_t) * ((size_t)n + 1));
    if (offs == NULL)
        return tb_expr_nomem(err);
    for (i = 0; i < n; i++) {
        tb_value v;
        offs[i] = (uint32_t)buf.len;
        if (tb_vec_is_null(&in->v, i))
            continue;
        tb_vec_get(&in->v, i, &v);
        rc = tb_value_format(&v, &buf);
        if (rc != TB_OK)
            goto done;
        if (buf.len > UINT32_MAX / 2) {
            rc = TB_ERRF(err, TB_E_LIMIT, "cast to text: batch text exceeds 2 GiB");
            goto done;
        }
    }
    offs[n] = (uint32_t)buf.len;
    bytes = tb_arena_alloc(arena, buf.len + 1);
    if (bytes == NULL) {
        rc = tb_expr_nomem(err);
        goto done;
    }
    if (buf.len > 0)
        memcpy(bytes, buf.data, buf.len);
    for (i = 0; i < n; i++) {
        o[i].ptr = bytes + offs[i];
        o[i].len = offs[i + 1] - offs[i];
    }
done:
    if (rc == TB_E_NOMEM && err != NULL && err->code != TB_E_NOMEM)
        (void)tb_expr_nomem(err);
    tb_buf_free(&buf);
    tb_free(offs);
    return rc;
}

static tb_rc from_text(const tb_ev *in, tb_type to, uint32_t n, int pos, tb_ev *out, tb_err *err)
{
    const tb_str *s = in->v.data;
    uint32_t i;
    for (i = 0; i < n; i++) {
        tb_value v;
        tb_rc rc;
        if (tb_vec_is_null(&in->v, i))
            continue;
        rc = tb_cast_parse_text(s[i].ptr, s[i].len, to, pos, &v, err);
        if (rc != TB_OK)
            return rc;
        put_row(&out->v, i, &v);
    }
    return TB_OK;
}

/* First valid row i < n for which bad(i) holds; UINT32_MAX if none. */
#define FIRST_BAD(vec, n, cond, res)                                                               \
    do {                                                                                           \
        uint32_t j_;                                                                               \
        (res) = UINT32_MAX;                                                                        \
        for (j_ = 0; j_ < (n); j_++) {                                                             \
            uint32_t i = j_;                                                                       \
            if (!tb_vec_is_null((vec), i) && (cond)) {                                             \
                (res) = i;                                                                         \
                break;                                                                             \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* Dispatch over an integer source: x is int64_t, body may use i. */
#define FOR_INT_SRC(from, data, n, BODY)                                                           \
    switch ((tb_type_id)(from)) {                                                                  \
    case TB_T_BOOL: {                                                                              \
        const uint8_t *s_ = (data);                                                                \
        for (uint32_t i = 0; i < (n); i++) {                                                       \
            int64_t x = s_[i] != 0;                                                                \
            BODY                                                                                   \
        }                                                                                          \
        break;                                                                                     \
    }                                                                                              \
    case TB_T_INT16: {                                                                             \
        const int16_t *s_ = (data);                                                                \
        for (uint32_t i = 0; i < (n); i++) {                                                       \
            int64_t x = s_[i];                                                                     \
            BODY                                                                                   \
        }                                                                                          \
        break;                                                                                     \
    }                                                                                              \
    case TB_T_INT32: {                                                                             \
        const int32_t *s_ = (data);                                                                \
        for (uint32_t i = 0; i < (n); i++) {                                                       \
            int64_t x = s_[i];                                                                     \
            BODY                                                                                   \
        }                                                                                          \
        break;                                                                                     \
    }                                                                                              \
    default: {                                                                                     \
        const int64_t *s_ = (data);                                                                \
        for (uint32_t i = 0; i < (n); i++) {                                                       \
            int64_t x = s_[i];                                                                     \
            BODY                                                                                   \
        }                                                                                          \
        break;                                                                                     \
    }                                                                                              \
    }

#define FOR_FLT_SRC(from, data, n, BODY)                                                           \
    if ((from) == TB_T_FLOAT) {                                                                    \
        const float *s_ = (data);                                                                  \
        for (uint32_t i = 0; i < (n); i++) {                                                       \
            double x = s_[i];                                                                      \
            BODY                                                                                   \
        }                                                                                          \
    } else {                                                                                       \
        const double *s_ = (data);                                                                 \
        for (uint32_t i = 0; i < (n); i++) {                                                       \
            double x = s_[i];                                                                      \
            BODY                                                                                   \
        }                                                                                          \
    }

static int64_t int_min(tb_type_id t)
{
    return t == TB_T_INT16 ? INT16_MIN : t == TB_T_INT32 ? INT32_MIN : INT64_MIN;
}
static int64_t int_max(tb_type_id t)
{
    return t == TB_T_INT16 ? INT16_MAX : t == TB_T_INT32 ? INT32_MAX : INT64_MAX;
}

static void store_int(tb_vec *v, uint32_t i, int64_t x)
{
    switch ((tb_type_id)v->type.id) {
    case TB_T_INT16:
        ((int16_t *)v->data)[i] = (int16_t)x;
        break;
    case TB_T_INT32:
        ((int32_t *)v->data)[i] = (int32_t)x;
        break;
    default:
        ((int64_t *)v->data)[i] = x;
        break;
    }
}

static int64_t load_int(const tb_vec *v, uint32_t i)
{
    switch ((tb_type_id)v->type.id) {
    case TB_T_BOOL:
        return ((const uint8_t *)v->data)[i] != 0;
    case TB_T_INT16:
        return ((const int16_t *)v->data)[i];
    case TB_T_INT32:
        return ((const int32_t *)v->data)[i];
    default:
        return ((const int64_t *)v->data)[i];
    }
}

static double load_flt(const tb_vec *v, uint32_t i)
{
    return v->type.id == TB_T_FLOAT ? ((const float *)v->data)[i] : ((const double *)v->data)[i];
}

/* numeric -> double, correctly rounded */
static double dec_to_double(tb_i128 v, int scale)
{
    static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    tb_i128 lim = (tb_i128)1 << 53;
    char buf[64];
    if (v < lim && v > -lim && scale <= 22)
        return (double)(int64_t)v / p10[scale];
    tb_i128_format(v, scale, buf);
    return strtod(buf, NULL);
}

static tb_rc int_to_int(const tb_ev *in, tb_type to, uint32_t n, int pos, tb_ev *out, tb_err *err)
{
    tb_type_id f = (tb_type_id)in->v.type.id, t = (tb_type_id)to.id;
    int64_t lo = int_min(t), hi = int_max(t);
    bool bad = false;
    uint32_t b;

    if (t == TB_T_INT64) {
        int64_t *o = out->v.data;
        FOR_INT_SRC(f, in->v.data, n, o[i] = x;)
        return TB_OK;
    }
    if (t == TB_T_INT32) {
        int32_t *o = out->v.data;
        FOR_INT_SRC(f, in->v.data, n, {
            bad |= (x < lo) | (x > hi);
            o[i] = (int32_t)x;
        })
    } else {
        int16_t *o = out->v.data;
        FOR_INT_SRC(f, in->v.data, n, {
            bad |= (x < lo) | (x > hi);
            o[i] = (int16_t)x;
        })
    }
    if (bad) {
        FIRST_BAD(&in->v, n, load_int(&in->v, i) < lo || load_int(&in->v, i) > hi, b);
        if (b != UINT32_MAX)
            return TB_ERRPOS(err, TB_E_RANGE, pos, "%s", int_range_msg(t));
    }
    return TB_OK;
}

static bool flt_int_ok(double r, tb_type_id t)
{
    if (t == TB_T_INT16)
        return r >= -32768.0 && r < 32768.0;
    if (t == TB_T_INT32)
        return r >= -2147483648.0 && r < 2147483648.0;
    return r >= -9223372036854775808.0 && r < 9223372036854775808.0;
}

static tb_rc flt_to_int(const tb_ev *in, tb_type to, uint32_t n, int pos, tb_ev *out, tb_err *err)
{
    tb_type_id f = (tb_type_id)in->v.type.id, t = (tb_type_id)to.id;
    bool bad = false;
    uint32_t b;
    FOR_FLT_SRC(f, in->v.data, n, {
        double r = rint(x);
        bool ok = flt_int_ok(r, t);
        bad |= !ok;
        store_int(&out->v, i, ok ? (int64_t)r : 0);
    })
    if (bad) {
        FIRST_BAD(&in->v, n, !flt_int_ok(rint(load_flt(&in->v, i)), t), b);
        if (b != UINT32_MAX)
            return TB_ERRPOS(err, TB_E_RANGE, pos, "%s", int_range_msg(t));
    }
    return TB_OK;
}

static tb_rc dec_to_int(const tb_ev *in, tb_type to, uint32_t n, int pos, tb_ev *out, tb_err *err)
{
    const tb_i128 *s = in->v.data;
    tb_type_id t = (tb_type_id)to.id;
    int64_t lo = int_min(t), hi = int_max(t);
    uint32_t i;
    for (i = 0; i < n; i++) {
        tb_i128 q = div_round_p10(s[i], in->v.type.scale);
        if (q < lo || q > hi) {
            if (tb_vec_is_null(&in->v, i))
                q = 0;
            else
                return TB_ERRPOS(err, TB_E_RANGE, pos, "%s", int_range_msg(t));
        }
        store_int(&out->v, i, (int64_t)q);
    }
    return TB_OK;
}

static bool int_dec_ok(int64_t x, tb_type to)
{
    tb_i128 r;
    if (__builtin_mul_overflow((tb_i128)x, tb_i128_pow10(to.scale), &r))
        return false;
    return tb_dec_fits(r, to.precision);
}

static tb_rc int_to_dec(const tb_ev *in, tb_type to, uint32_t n, int pos, tb_ev *out, tb_err *err)
{
    tb_i128 *o = out->v.data;
    tb_i128 m = tb_i128_pow10(to.scale), lim = tb_i128_pow10(to.precision);
    bool bad = false;
    uint32_t b;
    FOR_INT_SRC(in->v.type.id, in->v.data, n, {
        tb_i128 r;
        bool ovf = __builtin_mul_overflow((tb_i128)x, m, &r);
        bad |= ovf | (r >= lim) | (r <= -lim);
        o[i] = r;
    })
    if (bad) {
        FIRST_BAD(&in->v, n, !int_dec_ok(load_int(&in->v, i), to), b);
        if (b != UINT32_MAX)
            return TB_ERRPOS(err, TB_E_RANGE, pos, "numeric field overflow");
    }
    return TB_OK;
}

static tb_rc flt_to_dec(const tb_ev *in, tb_type to, uint32_t n, int pos, tb_ev *out, tb_err *err)
{
    tb_i128 *o = out->v.data;
    uint32_t i;
    for (i = 0; i < n; i++) {
        double x = load_flt(&in->v, i);
        char buf[64];
        int len, r;
        tb_i128 v = 0;
        if (tb_vec_is_null(&in->v, i)) {
            o[i] = 0;
            continue;
        }
        if (isnan(x))
            return TB_ERRPOS(err, TB_E_RANGE, pos, "cannot convert NaN to numeric");
        if (isinf(x))
            return TB_ERRPOS(err, TB_E_RANGE, pos, "cannot convert infinity to numeric");
        len = snprintf(buf, sizeof(buf), "%.*g", in->v.type.id == TB_T_FLOAT ? 6 : 15, x);
        r = parse_decimal(buf, (size_t)len, to.scale, &v);
        if (r != 0 || !tb_dec_fits(v, to.precision))
            return TB_ERRPOS(err, TB_E_RANGE, pos, "numeric field overflow");
        o[i] = v;
    }
    return TB_OK;
}

static tb_rc dec_to_dec(const tb_ev *in, tb_type to, uint32_t n, int pos, tb_ev *out, tb_err *err)
{
    const tb_i128 *s = in->v.data;
    tb_i128 *o = out->v.data;
    int fs = in->v.type.scale, ts = to.scale;
    uint32_t i;
    for (i = 0; i < n; i++) {
        tb_i128 r;
        bool ok = tb_dec_rescale(s[i], fs, ts, &r) && tb_dec_fits(r, to.precision);
        if (!ok) {
            if (!tb_vec_is_null(&in->v, i))
                return TB_ERRPOS(err, TB_E_RANGE, pos, "numeric field overflow");
            r = 0;
        }
        o[i] = r;
    }
    return TB_OK;
}

tb_rc tb_cast_ev(const tb_ev *in, tb_type to, uint32_t n, int pos, tb_arena *arena, tb_ev *out,
                 tb_err *err)
{
    tb_type_id f = (tb_type_id)in->v.type.id, t = (tb_type_id)to.id;
    char b1[64], b2[64];
    tb_rc rc;

    if (f == t && (t != TB_T_DECIMAL ||
                   (in->v.type.scale == to.scale && in->v.type.precision <= to.precision))) {
        *out = *in;
        out->v.type = to;
        return TB_OK;
    }
    if (f == TB_T_NULL) {
        if (in->konst)
            return tb_expr_ev_null(out, to, arena, err);
        rc = tb_expr_ev_alloc(out, to, n, false, arena, err);
        if (rc != TB_OK)
            return rc;
        if (out->v.data != NULL)
            memset(out->v.data, 0, tb_type_width(to) * (n > 0 ? n : 1));
        out->v.valid = tb_arena_zalloc(arena, tb_valid_words(n > 0 ? n : 1) * 8);
        return out->v.valid == NULL ? tb_expr_nomem(err) : TB_OK;
    }
    rc = tb_expr_ev_alloc(out, to, n, in->konst, arena, err);
    if (rc != TB_OK)
        return rc;
    out->v.valid = in->v.valid; /* casts never add NULLs */
    if (t == TB_T_STRING)
        return to_text(in, n, arena, out, err);
    if (f == TB_T_STRING)
        return from_text(in, to, n, pos, out, err);

    switch (f) {
    case TB_T_BOOL:
    case TB_T_INT16:
    case TB_T_INT32:
    case TB_T_INT64:
        switch (t) {
        case TB_T_INT16:
        case TB_T_INT32:
        case TB_T_INT64:
            return int_to_int(in, to, n, pos, out, err);
        case TB_T_BOOL: {
            uint8_t *o = out->v.data;
            FOR_INT_SRC(f, in->v.data, n, o[i] = x != 0;)
            return TB_OK;
        }
        case TB_T_FLOAT: {
            float *o = out->v.data;
            FOR_INT_SRC(f, in->v.data, n, o[i] = (float)x;)
            return TB_OK;
        }
        case TB_T_DOUBLE: {
            double *o = out->v.data;
            FOR_INT_SRC(f, in->v.data, n, o[i] = (double)x;)
            return TB_OK;
        }
        case TB_T_DECIMAL:
            return int_to_dec(in, to, n, pos, out, err);
        default:
            break;
        }
        break;
    case TB_T_FLOAT:
    case TB_T_DOUBLE:
        switch (t) {
        case TB_T_INT16:
        case TB_T_INT32:
        case TB_T_INT64:
            return flt_to_int(in, to, n, pos, out, err);
        case TB_T_FLOAT: {
            float *o = out->v.data;
            const double *s = in->v.data;
            bool bad = false;
            uint32_t b;
            for (uint32_t i = 0; i < n; i++) {
                float r = (float)s[i];
                bad |= (isinf(r) && !isinf(s[i])) | (r == 0 && s[i] != 0);
                o[i] = r;
            }
            if (bad) {
                FIRST_BAD(&in->v, n, isinf((float)s[i]) && !isinf(s[i]), b);
                if (b != UINT32_MAX)
                    return TB_ERRPOS(err, TB_E_RANGE, pos, "value out of range: overflow");
                FIRST_BAD(&in->v, n, (float)s[i] == 0 && s[i] != 0, b);
                if (b != UINT32_MAX)
                    return TB_ERRPOS(err, TB_E_RANGE, pos, "value out of range: underflow");
            }
            return TB_OK;
        }
        case TB_T_DOUBLE: {
            double *o = out->v.data;
            const float *s = in->v.data;
            for (uint32_t i = 0; i < n; i++)
                o[i] = s[i];
            return TB_OK;
        }
        case TB_T_DECIMAL:
            return flt_to_dec(in, to, n, pos, out, err);
        default:
            break;
        }
        break;
    case TB_T_DECIMAL:
        switch (t) {
        case TB_T_INT16:
        case TB_T_INT32:
        case TB_T_INT64:
            return dec_to_int(in, to, n, pos, out, err);
        case TB_T_FLOAT:
        case TB_T_DOUBLE: {
            const tb_i128 *s = in->v.data;
            int sc = in->v.type.scale;
            for (uint32_t i = 0; i < n; i++) {
                double d = dec_to_double(s[i], sc);
                if (t == TB_T_FLOAT)
                    ((float *)out->v.data)[i] = (float)d;
                else
                    ((double *)out->v.data)[i] = d;
            }
            return TB_OK;
        }
        case TB_T_DECIMAL:
            return dec_to_dec(in, to, n, pos, out, err);
        default:
            break;
        }
        break;
    case TB_T_DATE:
        if (t == TB_T_TIMESTAMP) {
            const int32_t *s = in->v.data;
            int64_t *o = out->v.data;
            for (uint32_t i = 0; i < n; i++)
                o[i] = (int64_t)s[i] * TB_USEC_PER_DAY;
            return TB_OK;
        }
        break;
    case TB_T_TIMESTAMP:
        if (t == TB_T_DATE) {
            const int64_t *s = in->v.data;
            int32_t *o = out->v.data;
            for (uint32_t i = 0; i < n; i++)
                o[i] = (int32_t)tb_floordiv(s[i], TB_USEC_PER_DAY);
            return TB_OK;
        }
        break;
    default:
        break;
    }
    return TB_ERRPOS(err, TB_E_TYPE, pos, "cannot cast type %s to %s",
                     tb_type_name(in->v.type, b1, sizeof(b1)), tb_type_name(to, b2, sizeof(b2)));
}

/* ================================================================ construction */

tb_rc tb_cast_build(tb_arena *arena, tb_expr *e, tb_type to, tb_cast_level level, int pos,
                    tb_expr **out, tb_err *err)
{
    char b1[64], b2[64];
    tb_expr *c;
    bool unknown;

    unknown = tb_expr_is_unknown_lit(e);
    if (tb_type_eq(e->type, to) && unknown) {
        /* 'x'::text is typed text, no longer PostgreSQL's "unknown": 'x'::text + 1 is
         * "operator does not exist: text + integer", as in PostgreSQL */
        tb_value v;
        tb_rc rc = tb_expr_eval_const(e, arena, &v, err);
        if (rc != TB_OK)
            return rc;
        tb_expr *k = tb_expr_const_typed(arena, &v);
        if (k == NULL)
            return tb_expr_nomem(err);
        k->pos = e->pos;
        *out = k;
        return TB_OK;
    }
    if (tb_type_eq(e->type, to)) {
        *out = e;
        return TB_OK;
    }
    if (unknown || e->type.id == TB_T_NULL)
        level = TB_CAST_EXPLICIT;
    if (!tb_cast_allowed(e->type, to, level)) {
        if (level == TB_CAST_EXPLICIT)
            return TB_ERRPOS(err, TB_E_TYPE, pos, "cannot cast type %s to %s",
                             tb_type_name(e->type, b1, sizeof(b1)),
                             tb_type_name(to, b2, sizeof(b2)));
        if (tb_cast_allowed(e->type, to, TB_CAST_EXPLICIT))
            return TB_ERRPOS(err, TB_E_TYPE, pos,
                             "cannot convert type %s to %s implicitly (use an explicit CAST)",
                             tb_type_name(e->type, b1, sizeof(b1)),
                             tb_type_name(to, b2, sizeof(b2)));
        return TB_ERRPOS(err, TB_E_TYPE, pos, "cannot cast type %s to %s",
                         tb_type_name(e->type, b1, sizeof(b1)), tb_type_name(to, b2, sizeof(b2)));
    }
    c = tb_arena_zalloc(arena, sizeof(*c));
    if (c == NULL)
        return tb_expr_nomem(err);
    c->kind = TB_EX_CAST;
    c->type = to;
    c->col = -1;
    c->pos = pos >= 0 ? pos : e->pos;
    c->n_args = 1;
    c->args = tb_arena_alloc(arena, sizeof(tb_expr *));
    if (c->args == NULL)
        return tb_expr_nomem(err);
    c->args[0] = e;
    if (e->kind == TB_EX_CONST) {
        /* fold now: a bad literal is an error at construction, as in PostgreSQL, and
         * points at the literal itself when its position is known */
        tb_value v;
        tb_expr *k;
        tb_rc rc;
        if (e->pos >= 0)
            c->pos = e->pos;
        rc = tb_expr_eval_const(c, arena, &v, err);
        if (rc != TB_OK)
            return rc;
        k = tb_expr_const_typed(arena, &v);
        if (k == NULL)
            return tb_expr_nomem(err);
        k->pos = e->pos;
        *out = k;
        return TB_OK;
    }
    *out = c;
    return TB_OK;
}
