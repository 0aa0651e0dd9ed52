/*
 * time.c - calendar arithmetic, timestamp/date/interval parsing and formatting, clocks.
 *
 * Timestamps are int64 microseconds since 1970-01-01 00:00:00 (no time zone; inputs with
 * an offset are converted to UTC). Dates are int32 days since 1970-01-01. The calendar is
 * the proleptic Gregorian one; civil<->days conversion uses Howard Hinnant's era-based
 * algorithm (400-year eras of 146097 days, years starting in March so the leap day is
 * the last day of the year).
 *
 * Text forms follow PostgreSQL: years are 1..99999, printed with at least 4 digits;
 * year <= 0 (astronomical) is printed and parsed as "<1-year> BC" (so astronomical
 * year 0 is "0001 BC"). Fractions of a second are printed to microseconds with trailing
 * zeros trimmed; parsed up to 9 digits, truncated to microseconds.
 *
 * tb_parse_timestamp is called once per CSV cell: the exact 19-byte form
 * "YYYY-MM-DD HH:MM:SS" takes a straight-line path with no loops.
 */
#include <math.h>
#include <string.h>
#include <time.h>

#include "util/util.h"

#define USEC_PER_MIN (60 * TB_USEC_PER_SEC)
#define USEC_PER_HOUR (3600 * TB_USEC_PER_SEC)
#define MAX_YEAR 99999

/* ---------------------------------------------------------------- calendar */

int64_t tb_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);                            /* [0, 399] */
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;       /* [0, 365] */
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;                 /* [0, 146096] */
    return era * 146097 + (int64_t)doe - 719468;
}

void tb_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);                             /* [0, 146096] */
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;   /* [0, 399] */
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                 /* [0, 365] */
    unsigned mp = (5 * doy + 2) / 153;                                      /* [0, 11] */
    unsigned mm = mp < 10 ? mp + 3 : mp - 9;

    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mm;
    *y = (int64_t)yoe + era * 400 + (mm <= 2);
}

/* tb_days_from_civil for years 1..99999: unsigned, so the divisions are cheap. */
static inline int64_t days_from_civil_pos(unsigned y, unsigned m, unsigned d)
{
    unsigned era, yoe, doy, doe;

    y -= m <= 2;
    era = y / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int64_t)era * 146097 + (int64_t)doe - 719468;
}

static inline bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static inline unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned char dim[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 ? 28u + is_leap(y) : dim[m];
}

/* ---------------------------------------------------------------- parsing */

static inline unsigned dig(char c)
{
    return (unsigned)(unsigned char)c - '0'; /* > 9 when not a digit */
}

static inline bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static inline char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

static void trim(const char **s, size_t *n)
{
    while (*n > 0 && is_space(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_space((*s)[*n - 1]))
        (*n)--;
}

/* Read between min_d and max_d digits at s[*i]; false if fewer than min_d. */
static bool read_uint(const char *s, size_t n, size_t *i, unsigned min_d, unsigned max_d,
                      unsigned *out)
{
    unsigned v = 0, k = 0;
    while (*i < n && k < max_d && dig(s[*i]) <= 9) {
        v = v * 10 + dig(s[*i]);
        (*i)++;
        k++;
    }
    *out = v;
    return k >= min_d;
}

/*
 * General timestamp parser. On success *out_us is microseconds since the epoch, in UTC
 * when apply_offset (else the offset is parsed and ignored).
 */
static bool parse_ts_slow(const char *s, size_t n, int64_t *out_us, bool apply_offset)
{
    size_t i = 0;
    unsigned y, mo, d, hh = 0, mi = 0, ss = 0, frac = 0;
    int64_t year, days, us, offset_us = 0;

    trim(&s, &n);
    if (!read_uint(s, n, &i, 4, 5, &y) || i >= n || s[i] != '-')
        return false;
    i++;
    if (!read_uint(s, n, &i, 1, 2, &mo) || i >= n || s[i] != '-')
        return false;
    i++;
    if (!read_uint(s, n, &i, 1, 2, &d))
        return false;
    if (i < n && (s[i] == ' ' || s[i] == 'T' || s[i] == 't') && i + 1 < n &&
        dig(s[i + 1]) <= 9) {
        i++;
        if (!read_uint(s, n, &i, 1, 2, &hh) || i >= n || s[i] != ':')
            return false;
        i++;
        if (!read_uint(s, n, &i, 2, 2, &mi))
            return false;
        if (i < n && s[i] == ':') {
            i++;
            if (!read_uint(s, n, &i, 2, 2, &ss))
                return false;
            if (i < n && s[i] == '.') {
                unsigned k = 0;
                i++;
                while (i < n && dig(s[i]) <= 9) {
                    if (k < 6)
                        frac = frac * 10 + dig(s[i]);
                    k++;
                    i++;
                }
                if (k == 0 || k > 9)
                    return false;
                for (; k < 6; k++)
                    frac *= 10;
            }
        }
        /* Offset: Z, +HH, +HH:MM, +HHMM (optionally after one space). */
        {
            size_t j = i;
            if (j < n && s[j] == ' ' && j + 1 < n &&
                (s[j + 1] == '+' || s[j + 1] == '-' || s[j + 1] == 'Z' || s[j + 1] == 'z'))
                j++;
            if (j < n && (s[j] == 'Z' || s[j] == 'z')) {
                i = j + 1;
            } else if (j < n && (s[j] == '+' || s[j] == '-')) {
                unsigned oh, om = 0;
                bool neg = s[j] == '-';
                j++;
                if (!read_uint(s, n, &j, 1, 2, &oh))
                    return false;
                if (j < n && s[j] == ':') {
                    j++;
                    if (!read_uint(s, n, &j, 2, 2, &om))
                        return false;
                } else if (j < n && dig(s[j]) <= 9) {
                    if (!read_uint(s, n, &j, 2, 2, &om))
                        return false;
                }
                if (oh > 15 || om > 59)
                    return false;
                offset_us = ((int64_t)oh * 60 + om) * USEC_PER_MIN;
                if (neg)
                    offset_us = -offset_us;
                i = j;
            }
        }
    }
    year = y;
    if (i + 3 <= n && s[i] == ' ' && lower(s[i + 1]) == 'b' && lower(s[i + 2]) == 'c') {
        year = 1 - year;
        i += 3;
    } else if (i + 3 <= n && s[i] == ' ' && lower(s[i + 1]) == 'a' &&
               lower(s[i + 2]) == 'd') {
        i += 3;
    }
    if (i != n)
        return false;
    if (y == 0 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(year, mo) || hh > 23 ||
        mi > 59 || ss > 59)
        return false;
    days = tb_days_from_civil(year, mo, d);
    us = days * TB_USEC_PER_DAY +
         ((int64_t)hh * 3600 + (int64_t)mi * 60 + ss) * TB_USEC_PER_SEC + frac;
    *out_us = apply_offset ? us - offset_us : us;
    return true;
}

bool tb_parse_timestamp(const char *s, size_t n, int64_t *out_us)
{
    /* Fast path: "YYYY-MM-DD HH:MM:SS" optionally followed by ".f" (1..9 digits). */
    if (TB_LIKELY(n >= 19 && s[4] == '-' && s[7] == '-' && (s[10] == ' ' || s[10] == 'T') &&
                  s[13] == ':' && s[16] == ':' && (n == 19 || (s[19] == '.' && n <= 29)))) {
        unsigned y0 = dig(s[0]), y1 = dig(s[1]), y2 = dig(s[2]), y3 = dig(s[3]);
        unsigned m0 = dig(s[5]), m1 = dig(s[6]), d0 = dig(s[8]), d1 = dig(s[9]);
        unsigned h0 = dig(s[11]), h1 = dig(s[12]), i0 = dig(s[14]), i1 = dig(s[15]);
        unsigned s0 = dig(s[17]), s1 = dig(s[18]);
        unsigned bad = (y0 > 9) | (y1 > 9) | (y2 > 9) | (y3 > 9) | (m0 > 9) | (m1 > 9) |
                       (d0 > 9) | (d1 > 9) | (h0 > 9) | (h1 > 9) | (i0 > 9) | (i1 > 9) |
                       (s0 > 9) | (s1 > 9);
        unsigned y = y0 * 1000 + y1 * 100 + y2 * 10 + y3;
        unsigned m = m0 * 10 + m1, d = d0 * 10 + d1;
        unsigned hh = h0 * 10 + h1, mi = i0 * 10 + i1, ss = s0 * 10 + s1;
        unsigned frac = 0;
        if (n > 19) {
            size_t k;
            if (n == 20)
                return false; /* "SS." */
            for (k = 20; k < n; k++) {
                unsigned v = dig(s[k]);
                bad |= v > 9;
                if (k < 26)
                    frac = frac * 10 + v;
            }
            for (; k < 26; k++)
                frac *= 10;
        }
        /* On any failure the general parser decides: it knows the rarer forms that
         * share the layout ("...00.5Z", "...00.5+02", blanks around). */
        if (TB_UNLIKELY(bad | (y == 0) | (m - 1 > 11) | (hh > 23) | (mi > 59) | (ss > 59) ||
                        d - 1 >= days_in_month(y, m - 1 > 11 ? 1 : m)))
            return parse_ts_slow(s, n, out_us, true);
        *out_us = days_from_civil_pos(y, m, d) * TB_USEC_PER_DAY +
                  ((int64_t)hh * 3600 + mi * 60 + ss) * TB_USEC_PER_SEC + frac;
        return true;
    }
    return parse_ts_slow(s, n, out_us, true);
}

bool tb_parse_date(const char *s, size_t n, int32_t *out_days)
{
    int64_t us, days;

    if (TB_LIKELY(n == 10 && s[4] == '-' && s[7] == '-')) {
        unsigned y0 = dig(s[0]), y1 = dig(s[1]), y2 = dig(s[2]), y3 = dig(s[3]);
        unsigned m0 = dig(s[5]), m1 = dig(s[6]), d0 = dig(s[8]), d1 = dig(s[9]);
        unsigned bad = (y0 > 9) | (y1 > 9) | (y2 > 9) | (y3 > 9) | (m0 > 9) | (m1 > 9) |
                       (d0 > 9) | (d1 > 9);
        unsigned y = y0 * 1000 + y1 * 100 + y2 * 10 + y3;
        unsigned m = m0 * 10 + m1, d = d0 * 10 + d1;
        if (TB_UNLIKELY(bad | (y == 0) | (m - 1 > 11) ||
                        d - 1 >= days_in_month(y, m - 1 > 11 ? 1 : m)))
            goto slow; /* the general parser decides (blanks, BC, ...) */
        *out_days = (int32_t)days_from_civil_pos(y, m, d);
        return true;
    }
slow:
    /* A timestamp is accepted and truncated to its date (as PostgreSQL's date input
     * does); an offset is ignored there too. */
    if (!parse_ts_slow(s, n, &us, false))
        return false;
    days = us / TB_USEC_PER_DAY;
    if (us % TB_USEC_PER_DAY < 0)
        days--;
    *out_days = (int32_t)days;
    return true;
}

/* ---------------------------------------------------------------- formatting */

static inline char *put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

/* Unsigned decimal with at least min_digits digits (zero padded). */
static char *put_uint(char *p, uint64_t v, int min_digits)
{
    char tmp[24];
    int k = 0;
    do {
        tmp[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (k < min_digits)
        tmp[k++] = '0';
    while (k > 0)
        *p++ = tmp[--k];
    return p;
}

/* ".ffffff" with trailing zeros trimmed; nothing when frac == 0. */
static char *put_frac(char *p, unsigned frac)
{
    int k, len = 6;
    if (frac == 0)
        return p;
    *p++ = '.';
    for (k = 5; k >= 0; k--) {
        p[k] = (char)('0' + frac % 10);
        frac /= 10;
    }
    while (p[len - 1] == '0')
        len--;
    return p + len;
}

/* Writes "YYYY-MM-DD" and returns the end; *bc set when the year is <= 0. */
static char *put_date(char *p, int64_t days, bool *bc)
{
    int64_t y;
    unsigned m, d;

    tb_civil_from_days(days, &y, &m, &d);
    *bc = y <= 0;
    if (*bc)
        y = 1 - y;
    p = put_uint(p, (uint64_t)y, 4);
    *p++ = '-';
    p = put2(p, m);
    *p++ = '-';
    return put2(p, d);
}

int tb_format_date(int32_t days, char *buf)
{
    bool bc;
    char *p = put_date(buf, days, &bc);
    if (bc) {
        memcpy(p, " BC", 3);
        p += 3;
    }
    *p = '\0';
    return (int)(p - buf);
}

int tb_format_timestamp(int64_t us, char *buf)
{
    int64_t days = us / TB_USEC_PER_DAY;
    int64_t rem = us % TB_USEC_PER_DAY;
    unsigned secs;
    bool bc;
    char *p;

    if (rem < 0) {
        rem += TB_USEC_PER_DAY;
        days--;
    }
    p = put_date(buf, days, &bc);
    *p++ = ' ';
    secs = (unsigned)(rem / TB_USEC_PER_SEC);
    p = put2(p, secs / 3600);
    *p++ = ':';
    p = put2(p, secs / 60 % 60);
    *p++ = ':';
    p = put2(p, secs % 60);
    p = put_frac(p, (unsigned)(rem % TB_USEC_PER_SEC));
    if (bc) {
        memcpy(p, " BC", 3);
        p += 3;
    }
    *p = '\0';
    return (int)(p - buf);
}

/* ---------------------------------------------------------------- intervals */

typedef struct iv_acc {
    int64_t months;
    int64_t days;
    int64_t micros;
    bool ok;
} iv_acc;

static void acc_add(int64_t *field, int64_t v, iv_acc *acc)
{
    if (__builtin_add_overflow(*field, v, field))
        acc->ok = false;
}

static void acc_add_mul(int64_t *field, int64_t v, int64_t mul, iv_acc *acc)
{
    int64_t t;
    if (__builtin_mul_overflow(v, mul, &t))
        acc->ok = false;
    else
        acc_add(field, t, acc);
}

/* Add a (signed) fraction of `unit` microseconds, rounded to the microsecond. */
static void acc_frac_us(iv_acc *acc, double frac, double unit)
{
    double v = frac * unit;
    if (!(fabs(v) < 9.2e18)) {
        acc->ok = false;
        return;
    }
    acc_add(&acc->micros, llround(v), acc);
}

/* Add fractional days: whole days to days, the rest as time (PostgreSQL's spill). */
static void acc_frac_days(iv_acc *acc, double fdays)
{
    double whole = trunc(fdays);
    if (!(fabs(whole) < 9.2e18)) {
        acc->ok = false;
        return;
    }
    acc_add(&acc->days, (int64_t)whole, acc);
    acc_frac_us(acc, fdays - whole, (double)TB_USEC_PER_DAY);
}

typedef enum unit_kind {
    U_NONE,
    U_MICRO,
    U_MILLI,
    U_SEC,
    U_MIN,
    U_HOUR,
    U_DAY,
    U_WEEK,
    U_MONTH,
    U_YEAR,
    U_DECADE,
    U_CENTURY,
    U_MILLENNIUM
} unit_kind;

static unit_kind lookup_unit(const char *u, size_t n)
{
    static const struct {
        const char *name;
        unit_kind kind;
    } units[] = {
        {"us", U_MICRO},          {"usec", U_MICRO},        {"usecs", U_MICRO},
        {"microsecond", U_MICRO}, {"microseconds", U_MICRO}, {"ms", U_MILLI},
        {"msec", U_MILLI},        {"msecs", U_MILLI},       {"millisecond", U_MILLI},
        {"milliseconds", U_MILLI}, {"s", U_SEC},            {"sec", U_SEC},
        {"secs", U_SEC},          {"second", U_SEC},        {"seconds", U_SEC},
        {"m", U_MIN},             {"min", U_MIN},           {"mins", U_MIN},
        {"minute", U_MIN},        {"minutes", U_MIN},       {"h", U_HOUR},
        {"hr", U_HOUR},           {"hrs", U_HOUR},          {"hour", U_HOUR},
        {"hours", U_HOUR},        {"d", U_DAY},             {"day", U_DAY},
        {"days", U_DAY},          {"w", U_WEEK},            {"week", U_WEEK},
        {"weeks", U_WEEK},        {"mon", U_MONTH},         {"mons", U_MONTH},
        {"month", U_MONTH},       {"months", U_MONTH},      {"y", U_YEAR},
        {"yr", U_YEAR},           {"yrs", U_YEAR},          {"year", U_YEAR},
        {"years", U_YEAR},        {"decade", U_DECADE},     {"decades", U_DECADE},
        {"century", U_CENTURY},   {"centuries", U_CENTURY}, {"millennium", U_MILLENNIUM},
        {"millennia", U_MILLENNIUM}, {"millenniums", U_MILLENNIUM},
    };
    size_t k;
    for (k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
        if (tb_str_nieq(u, n, units[k].name))
            return units[k].kind;
    }
    return U_NONE;
}

/* A signed decimal number: integer part and fraction (same sign). */
typedef struct num {
    int64_t ipart;
    double frac;
    bool has_frac;
} num;

static bool read_num(const char *s, size_t n, size_t *i, num *out)
{
    bool neg = false;
    unsigned nd = 0, nf = 0;
    int64_t v = 0;
    double f = 0, scale = 0.1;

    if (*i < n && (s[*i] == '+' || s[*i] == '-')) {
        neg = s[*i] == '-';
        (*i)++;
    }
    while (*i < n && dig(s[*i]) <= 9) {
        if (nd >= 18)
            return false;
        v = v * 10 + dig(s[*i]);
        nd++;
        (*i)++;
    }
    out->has_frac = false;
    if (*i < n && s[*i] == '.') {
        (*i)++;
        out->has_frac = true;
        while (*i < n && dig(s[*i]) <= 9) {
            if (nf < 17) {
                f += dig(s[*i]) * scale;
                scale /= 10;
            }
            nf++;
            (*i)++;
        }
    }
    if (nd + nf == 0)
        return false;
    out->ipart = neg ? -v : v;
    out->frac = neg ? -f : f;
    return true;
}

static void apply_unit(iv_acc *acc, unit_kind u, const num *x)
{
    switch (u) {
    case U_MICRO:
        acc_add(&acc->micros, x->ipart, acc);
        acc_frac_us(acc, x->frac, 1);
        break;
    case U_MILLI:
        acc_add_mul(&acc->micros, x->ipart, 1000, acc);
        acc_frac_us(acc, x->frac, 1000);
        break;
    case U_NONE:
    case U_SEC:
        acc_add_mul(&acc->micros, x->ipart, TB_USEC_PER_SEC, acc);
        acc_frac_us(acc, x->frac, (double)TB_USEC_PER_SEC);
        break;
    case U_MIN:
        acc_add_mul(&acc->micros, x->ipart, USEC_PER_MIN, acc);
        acc_frac_us(acc, x->frac, (double)USEC_PER_MIN);
        break;
    case U_HOUR:
        acc_add_mul(&acc->micros, x->ipart, USEC_PER_HOUR, acc);
        acc_frac_us(acc, x->frac, (double)USEC_PER_HOUR);
        break;
    case U_DAY:
        acc_add(&acc->days, x->ipart, acc);
        acc_frac_days(acc, x->frac);
        break;
    case U_WEEK:
        acc_add_mul(&acc->days, x->ipart, 7, acc);
        acc_frac_days(acc, x->frac * 7);
        break;
    case U_MONTH:
        acc_add(&acc->months, x->ipart, acc);
        acc_frac_days(acc, x->frac * 30);
        break;
    case U_YEAR:
    case U_DECADE:
    case U_CENTURY:
    case U_MILLENNIUM: {
        int64_t years = u == U_YEAR ? 1 : u == U_DECADE ? 10 : u == U_CENTURY ? 100 : 1000;
        acc_add_mul(&acc->months, x->ipart, 12 * years, acc);
        acc_add(&acc->months, llround(x->frac * 12.0 * (double)years), acc);
        break;
    }
    }
}

/* "HH:MM[:SS[.f]]" after the hours number was read as `hours` (sign in neg). */
static bool read_time_field(const char *s, size_t n, size_t *i, const num *hours,
                            bool neg, iv_acc *acc)
{
    unsigned mi, ss = 0, frac = 0;
    int64_t us, h = hours->ipart < 0 ? -hours->ipart : hours->ipart;

    if (hours->has_frac)
        return false;
    (*i)++; /* ':' */
    if (!read_uint(s, n, i, 1, 2, &mi) || mi > 59)
        return false;
    if (*i < n && s[*i] == ':') {
        (*i)++;
        if (!read_uint(s, n, i, 1, 2, &ss) || ss > 59)
            return false;
        if (*i < n && s[*i] == '.') {
            unsigned k = 0;
            (*i)++;
            while (*i < n && dig(s[*i]) <= 9) {
                if (k < 6)
                    frac = frac * 10 + dig(s[*i]);
                k++;
                (*i)++;
            }
            if (k == 0)
                return false;
            for (; k < 6; k++)
                frac *= 10;
        }
    }
    if (__builtin_mul_overflow(h, USEC_PER_HOUR, &us)) {
        acc->ok = false;
        return true;
    }
    us += ((int64_t)mi * 60 + ss) * TB_USEC_PER_SEC + frac;
    acc_add(&acc->micros, neg ? -us : us, acc);
    return true;
}

static bool parse_iso_interval(const char *s, size_t n, iv_acc *acc)
{
    size_t i = 0;
    bool neg = false, in_time = false, any = false;

    if (s[i] == '-') {
        neg = true;
        i++;
    }
    if (i >= n || (s[i] != 'P' && s[i] != 'p'))
        return false;
    i++;
    while (i < n) {
        num x;
        char c;
        unit_kind u;
        if (s[i] == 'T' || s[i] == 't') {
            if (in_time)
                return false;
            in_time = true;
            i++;
            continue;
        }
        if (!read_num(s, n, &i, &x) || i >= n)
            return false;
        c = lower(s[i++]);
        if (!in_time)
            u = c == 'y' ? U_YEAR : c == 'm' ? U_MONTH : c == 'w' ? U_WEEK
                : c == 'd' ? U_DAY : U_NONE;
        else
            u = c == 'h' ? U_HOUR : c == 'm' ? U_MIN : c == 's' ? U_SEC : U_NONE;
        if (u == U_NONE)
            return false;
        apply_unit(acc, u, &x);
        any = true;
    }
    if (!any)
        return false;
    if (neg) {
        acc->months = -acc->months;
        acc->days = -acc->days;
        acc->micros = -acc->micros;
    }
    return true;
}

bool tb_parse_interval(const char *s, size_t n, tb_interval *out)
{
    iv_acc acc = {0, 0, 0, true};
    size_t i = 0;
    bool any = false, ago = false;

    trim(&s, &n);
    if (n == 0)
        return false;
    if (s[0] == '@') {
        s++;
        n--;
        trim(&s, &n);
        if (n == 0)
            return false;
    }
    if (s[0] == 'P' || s[0] == 'p' || (n > 1 && s[0] == '-' && (s[1] == 'P' || s[1] == 'p'))) {
        if (!parse_iso_interval(s, n, &acc))
            return false;
        goto done;
    }
    while (i < n) {
        num x;
        bool neg;
        size_t u0;
        unit_kind u;

        while (i < n && is_space(s[i]))
            i++;
        if (i >= n)
            break;
        if (ago)
            return false; /* "ago" must be last */
        if (n - i >= 3 && tb_str_nieq(s + i, 3, "ago") && (n - i == 3 || is_space(s[i + 3]))) {
            if (!any)
                return false;
            ago = true;
            i += 3;
            continue;
        }
        neg = s[i] == '-';
        if (!read_num(s, n, &i, &x))
            return false;
        if (i < n && s[i] == ':') {
            if (!read_time_field(s, n, &i, &x, neg, &acc))
                return false;
            any = true;
            continue;
        }
        while (i < n && is_space(s[i]))
            i++;
        u0 = i;
        while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
            i++;
        if (i == u0) {
            u = U_SEC; /* a bare number is seconds, as in PostgreSQL */
        } else if (i - u0 == 3 && tb_str_nieq(s + u0, 3, "ago")) {
            i = u0; /* "10 ago": seconds, then "ago" */
            u = U_SEC;
        } else {
            u = lookup_unit(s + u0, i - u0);
            if (u == U_NONE)
                return false;
        }
        /* Next: end, a blank, a sign, or (after a unit: "1h30m") a digit. */
        if (i < n && !is_space(s[i]) && s[i] != '+' && s[i] != '-' &&
            !(i > u0 && dig(s[i]) <= 9))
            return false;
        apply_unit(&acc, u, &x);
        any = true;
    }
    if (!any)
        return false;
    if (ago) {
        acc.months = -acc.months;
        acc.days = -acc.days;
        acc.micros = -acc.micros;
    }
done:
    if (!acc.ok || acc.months > INT32_MAX || acc.months < INT32_MIN || acc.days > INT32_MAX ||
        acc.days < INT32_MIN)
        return false;
    out->months = (int32_t)acc.months;
    out->days = (int32_t)acc.days;
    out->micros = acc.micros;
    return true;
}

/* PostgreSQL's AddPostgresIntPart: "+" after a negative field, plural unless 1. */
static char *put_iv_part(char *p, int64_t v, const char *unit, bool *is_before,
                         bool *is_zero)
{
    size_t ulen = strlen(unit);
    if (v == 0)
        return p;
    if (!*is_zero)
        *p++ = ' ';
    if (*is_before && v > 0)
        *p++ = '+';
    if (v < 0) {
        *p++ = '-';
        p = put_uint(p, (uint64_t)0 - (uint64_t)v, 1);
    } else {
        p = put_uint(p, (uint64_t)v, 1);
    }
    *p++ = ' ';
    memcpy(p, unit, ulen);
    p += ulen;
    if (v != 1)
        *p++ = 's';
    *is_before = v < 0;
    *is_zero = false;
    return p;
}

int tb_format_interval(tb_interval iv, char *buf)
{
    char *p = buf;
    bool is_before = false, is_zero = true;

    p = put_iv_part(p, iv.months / 12, "year", &is_before, &is_zero);
    p = put_iv_part(p, iv.months % 12, "mon", &is_before, &is_zero);
    p = put_iv_part(p, iv.days, "day", &is_before, &is_zero);
    if (is_zero || iv.micros != 0) {
        bool minus = iv.micros < 0;
        uint64_t mag = minus ? (uint64_t)0 - (uint64_t)iv.micros : (uint64_t)iv.micros;
        uint64_t secs = mag / TB_USEC_PER_SEC;
        if (!is_zero)
            *p++ = ' ';
        if (minus)
            *p++ = '-';
        else if (is_before)
            *p++ = '+';
        p = put_uint(p, secs / 3600, 2);
        *p++ = ':';
        p = put2(p, (unsigned)(secs / 60 % 60));
        *p++ = ':';
        p = put2(p, (unsigned)(secs % 60));
        p = put_frac(p, (unsigned)(mag % TB_USEC_PER_SEC));
    }
    *p = '\0';
    return (int)(p - buf);
}

int64_t tb_interval_micros(tb_interval iv)
{
    __int128 t = ((__int128)iv.months * 30 + iv.days) * TB_USEC_PER_DAY + iv.micros;
    if (t > INT64_MAX)
        return INT64_MAX;
    if (t < INT64_MIN)
        return INT64_MIN;
    return (int64_t)t;
}

/* ---------------------------------------------------------------- clocks */

int64_t tb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t tb_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * TB_USEC_PER_SEC + ts.tv_nsec / 1000;
}
