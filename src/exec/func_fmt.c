/*
 * func_fmt.c - to_char / to_date / to_timestamp with PostgreSQL's template patterns
 * (issue 13 point 3).
 *
 * Date/time templates: HH HH12 HH24 MI SS MS US FF1..FF6 SSSS SSSSS AM PM A.M. P.M. (any
 * case) Y,YYY YYYY YYY YY Y IYYY IYY IY I BC AD B.C. A.D. MONTH Month month MON Mon mon
 * MM DAY Day day DY Dy dy DDD IDDD DD D ID W WW IW CC J Q RM rm TZ tz TZH TZM OF, the FM
 * prefix (no padding), the TH / th suffix (ordinal), "quoted text" (\" for a quote),
 * anything else copied. Keywords match case-insensitively, longest first; the case of a
 * name's first two letters chooses its output case (MONTH, Month, month), as PostgreSQL's
 * keyword table does. Our timestamps have no time zone: TZ prints nothing and OF / TZH
 * print +00, as PostgreSQL does for timestamp without time zone.
 *
 * Number templates (to_char of integers, numeric and floating point): 9 (digit, blank
 * when a leading zero), 0 (digit, zero kept), . or D (decimal point), , or G (group
 * separator, blank among leading blanks), S MI PL SG PR (signs), FM (no padding, no
 * trailing zeros of 9 positions), other characters and "quoted text" copied. Without a
 * sign pattern one position is kept for the sign, written right before the first digit.
 * A value with more integer digits than the template has is printed as '#'s. V, L, RN,
 * EEEE and TH are not supported (an error naming them).
 *
 * to_date / to_timestamp read the input along the template: numbers (a field followed by
 * another field without a separator takes its width in digits, otherwise all digits),
 * month and day names (any case), AM/PM, BC; a separator in the template matches any one
 * separator in the input; quoted text skips as many characters; trailing input is
 * ignored; fields not given default to 0001-01-01 00:00:00 (year 1 BC when no year field,
 * as PostgreSQL). to_timestamp returns timestamp (PostgreSQL: timestamp with time zone,
 * equal to ours in a UTC session). Errors carry the call's SQL position and PostgreSQL's
 * wording: `invalid value "ab" for "YYYY"`, `date/time field value out of range:
 * "2024-13-05"`.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exec/expr_int.h"

/* ---------------------------------------------------------------- keywords */

enum {
    K_AD_DOT, K_AM_DOT, K_AD, K_AM, K_BC_DOT, K_BC, K_CC, K_DAY, K_DDD, K_DD, K_DY, K_D,
    K_FF1, K_FF2, K_FF3, K_FF4, K_FF5, K_FF6, K_HH24, K_HH12, K_HH, K_IDDD, K_ID, K_IW,
    K_IYYY, K_IYY, K_IY, K_I, K_J, K_MI, K_MM, K_MONTH, K_MON, K_MS, K_OF, K_PM_DOT, K_PM,
    K_Q, K_RM, K_SSSSS, K_SSSS, K_SS, K_TZH, K_TZM, K_TZ, K_US, K_WW, K_W, K_YCOMMA, K_YYYY,
    K_YYY, K_YY, K_Y, K__N
};

typedef struct kwdef {
    const char *name;
    uint8_t len;
    uint8_t width; /* digits when padded (numeric fields); 0: text field */
} kwdef;

/* In match order: a keyword comes before the shorter ones it starts with. */
static const kwdef kws[K__N] = {
    [K_AD_DOT] = {"A.D.", 4, 0}, [K_AM_DOT] = {"A.M.", 4, 0}, [K_AD] = {"AD", 2, 0},
    [K_AM] = {"AM", 2, 0},       [K_BC_DOT] = {"B.C.", 4, 0}, [K_BC] = {"BC", 2, 0},
    [K_CC] = {"CC", 2, 2},       [K_DAY] = {"DAY", 3, 0},     [K_DDD] = {"DDD", 3, 3},
    [K_DD] = {"DD", 2, 2},       [K_DY] = {"DY", 2, 0},       [K_D] = {"D", 1, 1},
    [K_FF1] = {"FF1", 3, 1},     [K_FF2] = {"FF2", 3, 2},     [K_FF3] = {"FF3", 3, 3},
    [K_FF4] = {"FF4", 3, 4},     [K_FF5] = {"FF5", 3, 5},     [K_FF6] = {"FF6", 3, 6},
    [K_HH24] = {"HH24", 4, 2},   [K_HH12] = {"HH12", 4, 2},   [K_HH] = {"HH", 2, 2},
    [K_IDDD] = {"IDDD", 4, 3},   [K_ID] = {"ID", 2, 1},       [K_IW] = {"IW", 2, 2},
    [K_IYYY] = {"IYYY", 4, 4},   [K_IYY] = {"IYY", 3, 3},     [K_IY] = {"IY", 2, 2},
    [K_I] = {"I", 1, 1},         [K_J] = {"J", 1, 1},         [K_MI] = {"MI", 2, 2},
    [K_MM] = {"MM", 2, 2},       [K_MONTH] = {"MONTH", 5, 0}, [K_MON] = {"MON", 3, 0},
    [K_MS] = {"MS", 2, 3},       [K_OF] = {"OF", 2, 0},       [K_PM_DOT] = {"P.M.", 4, 0},
    [K_PM] = {"PM", 2, 0},       [K_Q] = {"Q", 1, 1},         [K_RM] = {"RM", 2, 0},
    [K_SSSSS] = {"SSSSS", 5, 1}, [K_SSSS] = {"SSSS", 4, 1},   [K_SS] = {"SS", 2, 2},
    [K_TZH] = {"TZH", 3, 0},     [K_TZM] = {"TZM", 3, 0},     [K_TZ] = {"TZ", 2, 0},
    [K_US] = {"US", 2, 6},       [K_WW] = {"WW", 2, 2},       [K_W] = {"W", 1, 1},
    [K_YCOMMA] = {"Y,YYY", 5, 5}, [K_YYYY] = {"YYYY", 4, 4},  [K_YYY] = {"YYY", 3, 3},
    [K_YY] = {"YY", 2, 2},       [K_Y] = {"Y", 1, 1},
};

/* A prefix or suffix (FM, TM, FX, TH): all upper or all lower case, as PostgreSQL's. */
static bool modifier(const char *s, size_t n, const char *m)
{
    return n >= 2 && ((s[0] == m[0] && s[1] == m[1]) ||
                      (s[0] == tolower((unsigned char)m[0]) && s[1] == tolower((unsigned char)m[1])));
}

static bool starts_ci(const char *s, size_t n, const char *kw, size_t kl)
{
    if (n < kl)
        return false;
    for (size_t i = 0; i < kl; i++)
        if (toupper((unsigned char)s[i]) != kw[i])
            return false;
    return true;
}

typedef struct fnode {
    bool is_kw;
    uint8_t kw;
    bool fm;
    uint8_t th;   /* 0, 1 "th", 2 "TH" */
    uint8_t caps; /* text fields: 0 lower, 1 Capitalized, 2 UPPER */
    const char *lit; /* literal bytes, or the keyword as written (messages) */
    uint32_t len;
} fnode;

typedef struct fmt {
    fnode *nodes;
    uint32_t n;
    size_t out_max; /* bound of one row's to_char output */
} fmt;

/* Compile a date/time template (arena). */
static tb_rc compile_dt(const char *p, size_t n, tb_arena *arena, fmt *out, tb_err *err)
{
    fnode *v = tb_arena_alloc(arena, (n + 1) * sizeof(*v));
    uint32_t k = 0;
    bool fm = false;
    size_t i = 0;

    if (v == NULL)
        return tb_expr_nomem(err);
    out->out_max = 1;
    while (i < n) {
        fnode *f = &v[k];
        memset(f, 0, sizeof(*f));
        if (modifier(p + i, n - i, "FM")) {
            fm = true;
            i += 2;
            continue;
        }
        if (modifier(p + i, n - i, "FX") || modifier(p + i, n - i, "TM")) {
            i += 2; /* exact matching / translation: no effect here */
            continue;
        }
        if (p[i] == '"') { /* quoted literal: up to the closing quote, \" for a quote */
            char *lit = tb_arena_alloc(arena, n - i + 1);
            uint32_t m = 0;
            if (lit == NULL)
                return tb_expr_nomem(err);
            for (i++; i < n && p[i] != '"'; i++) {
                if (p[i] == '\\' && i + 1 < n)
                    i++;
                lit[m++] = p[i];
            }
            i += i < n; /* the closing quote */
            f->lit = lit;
            f->len = m;
            out->out_max += m;
            k++;
            continue;
        }
        if (p[i] == '\\' && i + 1 < n && p[i + 1] == '"') {
            f->lit = p + i + 1;
            f->len = 1;
            i += 2;
            out->out_max += 1;
            k++;
            continue;
        }
        int id = -1;
        for (int j = 0; j < K__N; j++) {
            if (starts_ci(p + i, n - i, kws[j].name, kws[j].len)) {
                id = j;
                break;
            }
        }
        if (id < 0) {
            f->lit = p + i;
            f->len = 1;
            i++;
            out->out_max += 1;
            k++;
            continue;
        }
        f->is_kw = true;
        f->kw = (uint8_t)id;
        f->fm = fm;
        f->lit = p + i;
        f->len = kws[id].len;
        fm = false;
        {
            /* the case of the first two letters ("A.M.": A and M) */
            bool up0 = isupper((unsigned char)p[i]) != 0, up1 = true;
            for (size_t j = 1; j < kws[id].len; j++) {
                if (isalpha((unsigned char)p[i + j])) {
                    up1 = isupper((unsigned char)p[i + j]) != 0;
                    break;
                }
            }
            f->caps = !up0 ? 0 : up1 ? 2 : 1;
        }
        i += kws[id].len;
        if (modifier(p + i, n - i, "TH")) { /* the suffix; no effect on a name */
            f->th = kws[id].width == 0 ? 0 : p[i] == 'T' ? 2 : 1;
            i += 2;
        }
        out->out_max += 48;
        k++;
    }
    out->nodes = v;
    out->n = k;
    return TB_OK;
}

/* ---------------------------------------------------------------- to_char(timestamp) */

static const char *const month_names[12] = {"January", "February", "March",     "April",
                                            "May",     "June",     "July",      "August",
                                            "September", "October", "November", "December"};
static const char *const day_names[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                         "Thursday", "Friday", "Saturday"};
static const char *const roman[12] = {"I",   "II",   "III", "IV", "V",  "VI",
                                      "VII", "VIII", "IX",  "X",  "XI", "XII"};

static const char *ordinal(int64_t v)
{
    int64_t a = v < 0 ? -v : v;
    if (a % 100 >= 11 && a % 100 <= 13)
        return "th";
    switch (a % 10) {
    case 1:
        return "st";
    case 2:
        return "nd";
    case 3:
        return "rd";
    default:
        return "th";
    }
}

/* Text of name in the node's case, padded to `pad` columns unless FM. */
static size_t put_name(char *o, const fnode *f, const char *name, size_t keep, size_t pad)
{
    size_t n = strlen(name);
    if (keep > 0 && n > keep)
        n = keep;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (f->caps == 2 || (f->caps == 1 && i == 0))
            c = (char)toupper((unsigned char)c);
        else
            c = (char)tolower((unsigned char)c);
        o[i] = c;
    }
    if (!f->fm)
        while (n < pad)
            o[n++] = ' ';
    return n;
}

static size_t put_num(char *o, const fnode *f, int64_t v, int width)
{
    int n = snprintf(o, 40, "%0*lld", f->fm ? 0 : width, (long long)v);
    if (f->th) {
        const char *s = ordinal(v);
        o[n++] = f->th == 2 ? (char)toupper((unsigned char)s[0]) : s[0];
        o[n++] = f->th == 2 ? (char)toupper((unsigned char)s[1]) : s[1];
    }
    return (size_t)n;
}

typedef struct tfields {
    int64_t year; /* proleptic: 0 = 1 BC */
    unsigned mon, mday;
    int hour, min, sec;
    int64_t usec;
    int64_t days; /* since 1970-01-01 */
    int dow;      /* 0 Sunday */
    int doy;      /* 1.. */
    int64_t iso_year;
    int iso_week, iso_dow;
} tfields;

static void split_ts(int64_t ts, tfields *t)
{
    int64_t y;
    unsigned m, d;
    int64_t tod = ts - tb_floordiv(ts, TB_USEC_PER_DAY) * TB_USEC_PER_DAY;
    t->days = tb_floordiv(ts, TB_USEC_PER_DAY);
    tb_civil_from_days(t->days, &y, &m, &d);
    t->year = y;
    t->mon = m;
    t->mday = d;
    t->hour = (int)(tod / (3600 * TB_USEC_PER_SEC));
    t->min = (int)(tod / (60 * TB_USEC_PER_SEC) % 60);
    t->sec = (int)(tod / TB_USEC_PER_SEC % 60);
    t->usec = tod % TB_USEC_PER_SEC;
    t->dow = (int)(((t->days + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
    t->doy = (int)(t->days - tb_days_from_civil(y, 1, 1)) + 1;
    t->iso_dow = t->dow == 0 ? 7 : t->dow;
    /* the ISO year is the year of the week's Thursday */
    int64_t thu = t->days - (t->iso_dow - 1) + 3, ty;
    unsigned tm, td;
    tb_civil_from_days(thu, &ty, &tm, &td);
    t->iso_year = ty;
    t->iso_week = (int)((thu - tb_days_from_civil(ty, 1, 1)) / 7) + 1;
}

/* One row of to_char(timestamp) into o (room: f->out_max). A date is a timestamp with
 * time zone at midnight UTC for PostgreSQL (its TZ prints UTC in a UTC session). */
static size_t fmt_ts(const fmt *fm, int64_t ts, bool is_date, char *o)
{
    tfields t;
    size_t n = 0;
    split_ts(ts, &t);
    bool bc = t.year <= 0;
    int64_t yr = bc ? 1 - t.year : t.year; /* PostgreSQL prints BC years as positive */
    int64_t iyr = t.iso_year <= 0 ? 1 - t.iso_year : t.iso_year;
    for (uint32_t k = 0; k < fm->n; k++) {
        const fnode *f = &fm->nodes[k];
        char *p = o + n;
        if (!f->is_kw) {
            memcpy(p, f->lit, f->len);
            n += f->len;
            continue;
        }
        int h12 = t.hour % 12 == 0 ? 12 : t.hour % 12;
        switch (f->kw) {
        case K_AD_DOT:
        case K_BC_DOT:
            n += put_name(p, f, bc ? "b.c." : "a.d.", 0, 0);
            break;
        case K_AD:
        case K_BC:
            n += put_name(p, f, bc ? "bc" : "ad", 0, 0);
            break;
        case K_AM_DOT:
        case K_PM_DOT:
            n += put_name(p, f, t.hour >= 12 ? "p.m." : "a.m.", 0, 0);
            break;
        case K_AM:
        case K_PM:
            n += put_name(p, f, t.hour >= 12 ? "pm" : "am", 0, 0);
            break;
        case K_CC: {
            int64_t cc = t.year > 0 ? (t.year + 99) / 100 : -((99 - t.year) / 100);
            n += put_num(p, f, cc, 2);
            break;
        }
        case K_DAY:
            n += put_name(p, f, day_names[t.dow], 0, 9);
            break;
        case K_DY:
            n += put_name(p, f, day_names[t.dow], 3, 0);
            break;
        case K_DDD:
            n += put_num(p, f, t.doy, 3);
            break;
        case K_DD:
            n += put_num(p, f, t.mday, 2);
            break;
        case K_D:
            n += put_num(p, f, t.dow + 1, 1);
            break;
        case K_FF1:
        case K_FF2:
        case K_FF3:
        case K_FF4:
        case K_FF5:
        case K_FF6: {
            int digits = f->kw - K_FF1 + 1;
            int64_t v = t.usec;
            for (int d = 6; d > digits; d--)
                v /= 10;
            n += (size_t)snprintf(p, 16, "%0*lld", digits, (long long)v);
            break;
        }
        case K_HH24:
            n += put_num(p, f, t.hour, 2);
            break;
        case K_HH12:
        case K_HH:
            n += put_num(p, f, h12, 2);
            break;
        case K_IDDD:
            n += put_num(p, f, (t.iso_week - 1) * 7 + t.iso_dow, 3);
            break;
        case K_ID:
            n += put_num(p, f, t.iso_dow, 1);
            break;
        case K_IW:
            n += put_num(p, f, t.iso_week, 2);
            break;
        case K_IYYY:
            n += put_num(p, f, iyr, 4);
            break;
        case K_IYY:
            n += put_num(p, f, iyr % 1000, 3);
            break;
        case K_IY:
            n += put_num(p, f, iyr % 100, 2);
            break;
        case K_I:
            n += put_num(p, f, iyr % 10, 1);
            break;
        case K_J:
            n += put_num(p, f, t.days + 2440588, 1);
            break;
        case K_MI:
            n += put_num(p, f, t.min, 2);
            break;
        case K_MM:
            n += put_num(p, f, t.mon, 2);
            break;
        case K_MONTH:
            n += put_name(p, f, month_names[t.mon - 1], 0, 9);
            break;
        case K_MON:
            n += put_name(p, f, month_names[t.mon - 1], 3, 0);
            break;
        case K_MS:
            n += put_num(p, f, t.usec / 1000, 3);
            break;
        case K_US:
            n += put_num(p, f, t.usec, 6);
            break;
        case K_OF:
        case K_TZH:
            memcpy(p, "+00", 3);
            n += 3;
            break;
        case K_TZM:
            memcpy(p, "00", 2);
            n += 2;
            break;
        case K_TZ: /* no time zone for a timestamp */
            if (is_date)
                n += put_name(p, f, "utc", 0, 0);
            break;
        case K_Q:
            n += put_num(p, f, (t.mon - 1) / 3 + 1, 1);
            break;
        case K_RM:
            n += put_name(p, f, roman[t.mon - 1], 0, 4);
            break;
        case K_SSSSS:
        case K_SSSS:
            n += put_num(p, f, t.hour * 3600 + t.min * 60 + t.sec, 1);
            break;
        case K_SS:
            n += put_num(p, f, t.sec, 2);
            break;
        case K_WW:
            n += put_num(p, f, (t.doy - 1) / 7 + 1, 2);
            break;
        case K_W:
            n += put_num(p, f, (t.mday - 1) / 7 + 1, 1);
            break;
        case K_YCOMMA: {
            int m = f->fm ? snprintf(p, 40, "%lld,%03lld", (long long)(yr / 1000),
                                     (long long)(yr % 1000))
                          : snprintf(p, 40, "%lld,%03lld", (long long)(yr / 1000),
                                     (long long)(yr % 1000));
            n += (size_t)m;
            break;
        }
        case K_YYYY:
            n += put_num(p, f, yr, 4);
            break;
        case K_YYY:
            n += put_num(p, f, yr % 1000, 3);
            break;
        case K_YY:
            n += put_num(p, f, yr % 100, 2);
            break;
        case K_Y:
            n += put_num(p, f, yr % 10, 1);
            break;
        default:
            break;
        }
    }
    return n;
}

/* ---------------------------------------------------------------- to_char(number) */

enum { NS_NONE, NS_S, NS_MI, NS_PL, NS_SG, NS_PR };

typedef struct nnode {
    char c;       /* '9', '0', '.', ',', 'S' (S), 'M' (MI), 'P' (PL), 'G' (SG), 'R' (PR), 0 literal */
    const char *lit;
    uint32_t len;
} nnode;

typedef struct nfmt {
    nnode *nodes;
    uint32_t n;
    int pre, post;   /* digit positions before / after the decimal point */
    int zero_start;  /* first integer position (0-based) with a '0', or pre */
    bool fm, sign_slot, has_point, pr;
    size_t out_max;
} nfmt;

static tb_rc compile_num(const char *p, size_t n, int pos, tb_arena *arena, nfmt *out,
                         tb_err *err)
{
    nnode *v = tb_arena_alloc(arena, (n + 1) * sizeof(*v));
    uint32_t k = 0;
    size_t i = 0;
    bool sign = false;

    if (v == NULL)
        return tb_expr_nomem(err);
    memset(out, 0, sizeof(*out));
    out->zero_start = -1;
    out->out_max = 4;
    while (i < n) {
        nnode *f = &v[k];
        char c = (char)toupper((unsigned char)p[i]);
        memset(f, 0, sizeof(*f));
        if (starts_ci(p + i, n - i, "FM", 2)) {
            out->fm = true;
            i += 2;
            continue;
        }
        if (starts_ci(p + i, n - i, "EEEE", 4) || starts_ci(p + i, n - i, "RN", 2) ||
            starts_ci(p + i, n - i, "TH", 2) || c == 'V' || c == 'L' || c == 'B')
            return TB_ERRPOS(err, TB_E_UNSUPPORTED, pos,
                             "to_char: number format \"%.*s\" is not supported",
                             starts_ci(p + i, n - i, "EEEE", 4) ? 4
                             : (c == 'V' || c == 'L' || c == 'B') ? 1
                                                                   : 2,
                             p + i);
        if (c == '9' || c == '0') {
            f->c = c;
            if (out->has_point) {
                out->post++;
            } else {
                if (c == '0' && out->zero_start < 0)
                    out->zero_start = out->pre;
                out->pre++;
            }
            i++;
        } else if (c == '.' || c == 'D') {
            if (out->has_point)
                return TB_ERRPOS(err, TB_E_SQL, pos, "multiple decimal points");
            out->has_point = true;
            f->c = '.';
            i++;
        } else if (c == ',' || c == 'G') {
            f->c = ',';
            i++;
        } else if (starts_ci(p + i, n - i, "SG", 2) || starts_ci(p + i, n - i, "PL", 2) ||
                   starts_ci(p + i, n - i, "MI", 2) || starts_ci(p + i, n - i, "PR", 2) ||
                   c == 'S') {
            bool two = c != 'S' || (n - i >= 2 && toupper((unsigned char)p[i + 1]) == 'G');
            f->c = c == 'S'   ? (two ? 'G' : 'S')
                   : c == 'P' ? (toupper((unsigned char)p[i + 1]) == 'L' ? 'P' : 'R')
                              : 'M';
            if (sign && (f->c == 'S' || f->c == 'G' || f->c == 'M' || f->c == 'R'))
                return TB_ERRPOS(err, TB_E_SQL, pos, "cannot use \"%.*s\" twice", two ? 2 : 1,
                                 p + i);
            /* PL and PR keep the sign position (PR writes '<' there) */
            if (f->c == 'S' || f->c == 'G' || f->c == 'M')
                sign = true;
            if (f->c == 'R')
                out->pr = true;
            i += two ? 2 : 1;
        } else if (p[i] == '"') {
            char *lit = tb_arena_alloc(arena, n - i + 1);
            uint32_t m = 0;
            if (lit == NULL)
                return tb_expr_nomem(err);
            for (i++; i < n && p[i] != '"'; i++) {
                if (p[i] == '\\' && i + 1 < n)
                    i++;
                lit[m++] = p[i];
            }
            i += i < n;
            f->lit = lit;
            f->len = m;
        } else {
            f->lit = p + i;
            f->len = 1;
            i++;
        }
        out->out_max += f->c ? 2 : f->len;
        k++;
    }
    if (out->zero_start < 0)
        out->zero_start = out->pre;
    out->sign_slot = !sign;
    out->nodes = v;
    out->n = k;
    return TB_OK;
}

/*
 * One row of to_char(number): digits holds |value| rounded to f->post decimals, as
 * "int.frac" (int without leading zeros, possibly empty; frac exactly post digits).
 */
static size_t fmt_num(const nfmt *f, bool neg, const char *ip, size_t il, const char *fp,
                      char *o)
{
    size_t n = 0;
    bool ovf = (int)il > f->pre;
    /* a zero integer part prints as '0' only where a 0 position or a template without
     * decimals asks for it (PostgreSQL: to_char(0, '999') is '   0', to_char(0.5, '9.99')
     * '  .50') */
    bool zero_int = il == 0;
    int lead = ovf ? 0 : f->pre - (int)il; /* leading positions without a digit */
    int last_frac = f->post;              /* FM: fraction digits kept */
    if (f->fm) {
        while (last_frac > 0 && fp[last_frac - 1] == '0') {
            /* keep digits of 0 positions */
            int seen = 0, idx = 0;
            for (uint32_t k = 0, after = 0; k < f->n; k++) {
                if (f->nodes[k].c == '.')
                    after = 1;
                else if (after && (f->nodes[k].c == '9' || f->nodes[k].c == '0')) {
                    if (++idx == last_frac) {
                        seen = f->nodes[k].c == '0';
                        break;
                    }
                }
            }
            if (seen)
                break;
            last_frac--;
        }
    }
    bool want_zero = zero_int && f->post == 0; /* to_char(0, '999') -> '0' */
    if (zero_int && f->fm && f->has_point && last_frac == 0)
        want_zero = true; /* to_char(0, 'FM9.99') -> '0.' */
    bool sign_done = !f->sign_slot;
    bool started = false;
    int ipos = 0, fpos = 0;
    bool after = false;
    char sign_ch = neg ? (f->pr ? '<' : '-') : ' ';
    /* the sign position: a blank right before the number's first position; the sign
     * itself replaces the blank right before the first digit or point */
    bool slot_pending = f->sign_slot && !f->fm;
    if (f->sign_slot && f->fm)
        sign_done = !neg;
    for (uint32_t k = 0; k < f->n; k++) {
        const nnode *x = &f->nodes[k];
        if (slot_pending && (x->c == '9' || x->c == '0' || x->c == '.')) {
            o[n++] = ' ';
            slot_pending = false;
        }
        switch (x->c) {
        case 0:
            memcpy(o + n, x->lit, x->len);
            n += x->len;
            break;
        case '9':
        case '0':
            if (after) {
                if (ovf)
                    o[n++] = '#';
                else if (fpos < last_frac || x->c == '0' || !f->fm)
                    o[n++] = fp[fpos];
                fpos++;
                break;
            }
            if (ovf) { /* the sign stays: to_char(-1000, '999') is '-###' */
                if (!sign_done) {
                    if (f->fm || n == 0 || o[n - 1] != ' ')
                        o[n++] = sign_ch;
                    else
                        o[n - 1] = sign_ch;
                    sign_done = true;
                }
                o[n++] = '#';
                ipos++;
                break;
            }
            {
                bool digit = ipos >= lead;
                bool zero = !digit && (ipos >= f->zero_start ||
                                       (want_zero && ipos == f->pre - 1));
                if (digit || zero) {
                    if (!sign_done) {
                        if (f->fm || n == 0 || o[n - 1] != ' ')
                            o[n++] = sign_ch;
                        else
                            o[n - 1] = sign_ch; /* the blank before becomes the sign */
                        sign_done = true;
                    }
                    o[n++] = digit ? ip[ipos - lead] : '0';
                    started = true;
                } else if (!f->fm) {
                    o[n++] = ' ';
                }
            }
            ipos++;
            break;
        case '.':
            if (!sign_done) {
                if (f->fm || n == 0 || o[n - 1] != ' ')
                    o[n++] = sign_ch;
                else
                    o[n - 1] = sign_ch;
                sign_done = true;
            }
            o[n++] = '.';
            after = true;
            started = true;
            break;
        case ',':
            if (started || ovf)
                o[n++] = ',';
            else if (!f->fm)
                o[n++] = ' ';
            break;
        case 'S': /* S: the sign, anchored before the number (or after it at the end) */
            if (k == 0 || !started) {
                /* written before the first digit: remember by a marker */
                o[n++] = '\x01';
            } else {
                o[n++] = neg ? '-' : '+';
            }
            break;
        case 'G': /* SG: the sign here */
            o[n++] = neg ? '-' : '+';
            break;
        case 'M': /* MI: minus here, or a blank */
            if (neg)
                o[n++] = '-';
            else if (!f->fm)
                o[n++] = ' ';
            break;
        case 'P': /* PL: plus here, or a blank */
            if (!neg)
                o[n++] = '+';
            else if (!f->fm)
                o[n++] = ' ';
            break;
        case 'R': /* PR: <value> when negative */
            if (neg)
                o[n++] = '>';
            else if (!f->fm)
                o[n++] = ' ';
            break;
        }
    }
    /* S before the number: move the marker right before the first digit / point */
    char *mk = memchr(o, '\x01', n);
    if (mk != NULL) {
        size_t at = (size_t)(mk - o), j = at + 1;
        while (j < n && o[j] == ' ')
            j++;
        memmove(o + at, o + at + 1, j - at - 1);
        o[j - 1] = neg ? '-' : '+';
    }
    return n;
}

/* |v| (an integer scaled by 10^scale) rounded half away from zero to `post` decimals, as
 * integer digits (no leading zeros; "" for 0) and exactly post fraction digits. */
static void dec_digits(tb_i128 v, int scale, int post, char *ip, size_t *il, char *fp)
{
    unsigned __int128 a = v < 0 ? (unsigned __int128)0 - (unsigned __int128)v
                                : (unsigned __int128)v;
    char buf[64];
    int len = 0;
    /* rescale to post decimals */
    while (scale > post) {
        unsigned __int128 q = a / 10, r = a % 10;
        /* only the first dropped digit decides (half away from zero on |v|) */
        a = q + (scale - 1 == post && r >= 5);
        scale--;
    }
    int extra = post - scale;
    do {
        buf[len++] = (char)('0' + (int)(a % 10));
        a /= 10;
    } while (a > 0);
    /* buf holds digits reversed; value = digits * 10^-scale; pad with extra zeros */
    char dg[96];
    int m = 0;
    for (int i = len - 1; i >= 0; i--)
        dg[m++] = buf[i];
    for (int i = 0; i < extra; i++)
        dg[m++] = '0';
    /* now dg has m digits with post decimals */
    int intlen = m - post;
    size_t k = 0;
    int start = 0;
    while (start < intlen && dg[start] == '0')
        start++;
    for (int i = start; i < intlen; i++)
        ip[k++] = dg[i];
    *il = k;
    for (int i = 0; i < post; i++) {
        int idx = intlen + i;
        fp[i] = idx >= 0 ? dg[idx] : '0';
    }
}

/* ---------------------------------------------------------------- kernels */

#define STRARG(k, i) (((const tb_str *)args[k].v.data)[TB_IX(&args[k], i)])
#define VALID(i)     (!tb_vec_is_null(&out->v, (i)))

static tb_rc k_to_char_ts(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                          tb_err *err)
{
    tb_str *o = out->v.data;
    fmt f;
    bool have = false;
    tb_rc rc;
    TB_UNUSED(e);
    for (uint32_t i = 0; i < n; i++) {
        o[i].ptr = "";
        o[i].len = 0;
        if (!VALID(i))
            continue;
        if (!have || !args[1].konst) {
            tb_str p = STRARG(1, i);
            if ((rc = compile_dt(p.ptr, p.len, arena, &f, err)) != TB_OK)
                return rc;
            have = true;
        }
        int64_t ts = args[0].v.type.id == TB_T_DATE
                         ? (int64_t)((const int32_t *)args[0].v.data)[TB_IX(&args[0], i)] *
                               TB_USEC_PER_DAY
                         : ((const int64_t *)args[0].v.data)[TB_IX(&args[0], i)];
        char *buf = tb_arena_alloc(arena, f.out_max);
        if (buf == NULL)
            return tb_expr_nomem(err);
        o[i].ptr = buf;
        o[i].len = (uint32_t)fmt_ts(&f, ts, args[0].v.type.id == TB_T_DATE, buf);
    }
    return TB_OK;
}

static tb_rc k_to_char_num(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena,
                           tb_ev *out, tb_err *err)
{
    tb_str *o = out->v.data;
    nfmt f;
    bool have = false;
    tb_rc rc;
    tb_type t = args[0].v.type;
    for (uint32_t i = 0; i < n; i++) {
        o[i].ptr = "";
        o[i].len = 0;
        if (!VALID(i))
            continue;
        if (!have || !args[1].konst) {
            tb_str p = STRARG(1, i);
            if ((rc = compile_num(p.ptr, p.len, e->pos, arena, &f, err)) != TB_OK)
                return rc;
            have = true;
        }
        uint32_t r = TB_IX(&args[0], i);
        char ip[96], fp[96];
        size_t il = 0;
        bool neg = false;
        if (f.post > 60)
            return TB_ERRPOS(err, TB_E_UNSUPPORTED, e->pos, "to_char: more than 60 decimals");
        if (t.id == TB_T_DOUBLE || t.id == TB_T_FLOAT) {
            double d = t.id == TB_T_DOUBLE ? ((const double *)args[0].v.data)[r]
                                           : ((const float *)args[0].v.data)[r];
            char tmp[512];
            if (isnan(d) || isinf(d) || fabs(d) >= 1e300) {
                /* as PostgreSQL: every digit position a '#' */
                il = (size_t)f.pre + 1;
                memset(ip, '9', il);
                memset(fp, '0', (size_t)f.post);
                neg = d < 0;
            } else {
                int m = snprintf(tmp, sizeof(tmp), "%.*f", f.post, fabs(d));
                neg = signbit(d) && m > 0;
                char *dot = strchr(tmp, '.');
                size_t intl = dot ? (size_t)(dot - tmp) : (size_t)m;
                size_t s = 0;
                while (s < intl && tmp[s] == '0')
                    s++;
                if (intl - s > 90)
                    intl = s + 90; /* cannot fit a template: printed as '#' */
                memcpy(ip, tmp + s, intl - s);
                il = intl - s;
                for (int k = 0; k < f.post; k++)
                    fp[k] = dot ? dot[1 + k] : '0';
                /* -0.001 rounded to '-.00': PostgreSQL keeps the sign of the value */
            }
        } else {
            tb_i128 v;
            int scale = 0;
            switch ((tb_type_id)t.id) {
            case TB_T_INT16:
                v = ((const int16_t *)args[0].v.data)[r];
                break;
            case TB_T_INT32:
                v = ((const int32_t *)args[0].v.data)[r];
                break;
            case TB_T_INT64:
                v = ((const int64_t *)args[0].v.data)[r];
                break;
            default:
                v = ((const tb_i128 *)args[0].v.data)[r];
                scale = t.scale;
                break;
            }
            neg = v < 0;
            dec_digits(v, scale, f.post, ip, &il, fp);
        }
        char *buf = tb_arena_alloc(arena, f.out_max + il + 8);
        if (buf == NULL)
            return tb_expr_nomem(err);
        o[i].ptr = buf;
        o[i].len = (uint32_t)fmt_num(&f, neg, ip, il, fp, buf);
    }
    return TB_OK;
}

/* ---------------------------------------------------------------- to_date / to_timestamp */

static bool is_sep(char c) { return !isalnum((unsigned char)c); }

/* Does the node after k start a field directly (no separator in between)? */
static bool next_is_field(const fmt *f, uint32_t k)
{
    return k + 1 < f->n && f->nodes[k + 1].is_kw && kws[f->nodes[k + 1].kw].width > 0;
}

static tb_rc bad_value(tb_err *err, int pos, const char *s, size_t n, const fnode *f,
                       const char *detail)
{
    size_t show = n < f->len ? n : f->len;
    if (show == 0)
        return TB_ERRPOS(err, TB_E_SQL, pos, "source string too short for \"%.*s\" formatting "
                         "field", (int)f->len, f->lit);
    return TB_ERRPOS(err, TB_E_SQL, pos, "invalid value \"%.*s\" for \"%.*s\"%s%s", (int)show, s,
                     (int)f->len, f->lit, detail ? ": " : "", detail ? detail : "");
}

/* Match one of names (case-insensitive; keep: compare this many letters, 0 = all). */
static int match_name(const char *s, size_t n, const char *const *names, int count, size_t keep,
                      size_t *used)
{
    for (int j = 0; j < count; j++) {
        size_t l = strlen(names[j]);
        if (keep > 0 && l > keep)
            l = keep;
        if (n >= l) {
            size_t i = 0;
            while (i < l && tolower((unsigned char)s[i]) == tolower((unsigned char)names[j][i]))
                i++;
            if (i == l) {
                *used = l;
                return j;
            }
        }
    }
    return -1;
}

static tb_rc parse_dt(const fmt *f, const char *s, size_t n, bool want_ts, int pos, int64_t *out,
                      tb_err *err)
{
    int64_t year = 0, yday = 0, jday = -1;
    int mon = 1, mday = 1, hour = 0, min = 0, sec = 0;
    int64_t usec = 0;
    bool have_year = false, have_md = false, bc = false, pm = false, have_ampm = false;
    bool h12 = false;
    size_t i = 0;

    for (uint32_t k = 0; k < f->n; k++) {
        const fnode *x = &f->nodes[k];
        if (!x->is_kw) {
            for (uint32_t c = 0; c < x->len; c++) {
                char t = x->lit[c];
                if (t == ' ') {
                    while (i < n && isspace((unsigned char)s[i]))
                        i++;
                } else if (is_sep(t)) {
                    if (i < n && is_sep(s[i]))
                        i++;
                } else if (i < n) {
                    i++;
                }
            }
            continue;
        }
        while (i < n && isspace((unsigned char)s[i]))
            i++;
        if (i >= n)
            break; /* the input ended: the remaining fields keep their defaults (PG) */
        int w = kws[x->kw].width;
        if (w > 0) {
            /* a number: its width when a field follows directly, else all digits */
            size_t max = next_is_field(f, k) && !x->fm ? (size_t)w : 18;
            bool negn = false;
            size_t st = i;
            if (x->kw == K_YCOMMA) {
                int64_t v = 0;
                size_t d = 0;
                while (i < n && (isdigit((unsigned char)s[i]) || s[i] == ',') && d < 12) {
                    if (s[i] != ',')
                        v = v * 10 + (s[i] - '0');
                    i++;
                    d++;
                }
                if (d == 0)
                    return bad_value(err, pos, s + st, n - st, x, "value must be an integer");
                year = v;
                have_year = true;
                continue;
            }
            if (i < n && (s[i] == '-' || s[i] == '+') && (x->kw == K_YYYY || x->kw == K_J)) {
                negn = s[i] == '-';
                i++;
            }
            int64_t v = 0;
            size_t d = 0;
            while (i < n && d < max && isdigit((unsigned char)s[i])) {
                v = v * 10 + (s[i] - '0');
                i++;
                d++;
            }
            if (d == 0)
                return bad_value(err, pos, s + st, n - st, x, "value must be an integer");
            if (negn)
                v = -v;
            switch (x->kw) {
            case K_YYYY:
            case K_YYY:
            case K_YY:
            case K_Y:
                /* fewer than 4 digits: the year nearest 2020, as PostgreSQL */
                if (x->kw != K_YYYY && d < 4) {
                    if (d == 1)
                        v += 2000;
                    else if (d == 2)
                        v += v < 70 ? 2000 : 1900;
                    else if (d == 3)
                        v += v < 520 ? 2000 : 1000;
                }
                year = v;
                have_year = true;
                break;
            case K_MM:
                mon = (int)v;
                have_md = true;
                if (v < 1 || v > 12)
                    goto range;
                break;
            case K_DD:
                mday = (int)v;
                have_md = true;
                break;
            case K_DDD:
                yday = v;
                break;
            case K_HH24:
                hour = (int)v;
                break;
            case K_HH12:
            case K_HH:
                hour = (int)v;
                h12 = true;
                if (v < 1 || v > 12)
                    return TB_ERRPOS(err, TB_E_RANGE, pos,
                                     "hour \"%lld\" is invalid for the 12-hour clock",
                                     (long long)v);
                break;
            case K_MI:
                min = (int)v;
                break;
            case K_SS:
                sec = (int)v;
                break;
            case K_SSSS:
            case K_SSSSS:
                if (v >= 86400)
                    goto range;
                hour = (int)(v / 3600);
                min = (int)(v / 60 % 60);
                sec = (int)(v % 60);
                break;
            case K_MS:
            case K_US:
            case K_FF1:
            case K_FF2:
            case K_FF3:
            case K_FF4:
            case K_FF5:
            case K_FF6: {
                /* a fraction: "5" in MS is 500 ms, as PostgreSQL */
                int64_t us = v;
                int digits = (int)d, full = x->kw == K_MS ? 3 : 6;
                if (digits > full)
                    goto range;
                for (int z = digits; z < full; z++)
                    us *= 10;
                usec = x->kw == K_MS ? us * 1000 : us;
                break;
            }
            case K_J:
                jday = v;
                break;
            case K_D:
            case K_ID:
            case K_Q:
            case K_W:
            case K_WW:
            case K_CC:
                break; /* read, not used (as PostgreSQL without a fuller date) */
            default:
                return TB_ERRPOS(err, TB_E_UNSUPPORTED, pos,
                                 "formatting field \"%.*s\" is not supported in to_date / "
                                 "to_timestamp",
                                 (int)x->len, x->lit);
            }
            continue;
        }
        size_t used = 0;
        int j;
        switch (x->kw) {
        case K_MONTH:
            j = match_name(s + i, n - i, month_names, 12, 0, &used);
            if (j < 0)
                j = match_name(s + i, n - i, month_names, 12, 3, &used);
            if (j < 0)
                return bad_value(err, pos, s + i, n - i, x,
                                 "the given value did not match any of the allowed values");
            mon = j + 1;
            have_md = true;
            break;
        case K_MON:
            j = match_name(s + i, n - i, month_names, 12, 3, &used);
            if (j < 0)
                return bad_value(err, pos, s + i, n - i, x,
                                 "the given value did not match any of the allowed values");
            mon = j + 1;
            have_md = true;
            break;
        case K_DAY:
            j = match_name(s + i, n - i, day_names, 7, 0, &used);
            if (j < 0)
                j = match_name(s + i, n - i, day_names, 7, 3, &used);
            if (j < 0)
                return bad_value(err, pos, s + i, n - i, x,
                                 "the given value did not match any of the allowed values");
            break;
        case K_DY:
            j = match_name(s + i, n - i, day_names, 7, 3, &used);
            if (j < 0)
                return bad_value(err, pos, s + i, n - i, x,
                                 "the given value did not match any of the allowed values");
            break;
        case K_AM:
        case K_PM:
        case K_AM_DOT:
        case K_PM_DOT: {
            static const char *const ap[4] = {"a.m.", "p.m.", "am", "pm"};
            j = match_name(s + i, n - i, ap, 4, 0, &used);
            if (j < 0)
                return bad_value(err, pos, s + i, n - i, x,
                                 "the given value did not match any of the allowed values");
            pm = j % 2 == 1;
            have_ampm = true;
            break;
        }
        case K_AD:
        case K_BC:
        case K_AD_DOT:
        case K_BC_DOT: {
            static const char *const ab[4] = {"a.d.", "b.c.", "ad", "bc"};
            j = match_name(s + i, n - i, ab, 4, 0, &used);
            if (j < 0)
                return bad_value(err, pos, s + i, n - i, x,
                                 "the given value did not match any of the allowed values");
            bc = j % 2 == 1;
            break;
        }
        case K_RM: {
            static const char *const rm[12] = {"XII", "XI", "X",  "IX", "VIII", "VII",
                                               "VI",  "V",  "IV", "III", "II",  "I"};
            j = match_name(s + i, n - i, rm, 12, 0, &used);
            if (j < 0)
                return bad_value(err, pos, s + i, n - i, x,
                                 "the given value did not match any of the allowed values");
            mon = 12 - j;
            have_md = true;
            break;
        }
        default:
            return TB_ERRPOS(err, TB_E_UNSUPPORTED, pos,
                             "formatting field \"%.*s\" is only supported in to_char",
                             (int)x->len, x->lit);
        }
        i += used;
    }
    if (h12 || have_ampm) {
        if (hour == 12)
            hour = 0;
        if (pm)
            hour += 12;
    }
    if (have_year && bc)
        year = 1 - year; /* proleptic: 1 BC is year 0 */
    else if (have_year && year == 0)
        goto range;
    if (!have_year)
        year = 0; /* PostgreSQL's default: year 1 BC */
    if (year < -4712 || year > 294276)
        goto range;
    int64_t days;
    if (jday >= 0) {
        days = jday - 2440588;
    } else if (yday > 0 && !have_md) {
        int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        if (yday > 365 + leap)
            goto range;
        days = tb_days_from_civil(year, 1, 1) + yday - 1;
    } else {
        static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        if (mon < 1 || mon > 12 || mday < 1 || mday > mdays[mon - 1] + (mon == 2 && leap))
            goto range;
        days = tb_days_from_civil(year, (unsigned)mon, (unsigned)mday);
    }
    if (!want_ts) {
        if (days < INT32_MIN || days > INT32_MAX)
            goto range;
        *out = days;
        return TB_OK;
    }
    if (hour < 0 || hour > 24 || min < 0 || min > 59 || sec < 0 || sec > 60 ||
        (hour == 24 && (min > 0 || sec > 0 || usec > 0)))
        goto range;
    *out = days * TB_USEC_PER_DAY + ((int64_t)hour * 3600 + min * 60 + sec) * TB_USEC_PER_SEC +
           usec;
    return TB_OK;
range:
    return TB_ERRPOS(err, TB_E_RANGE, pos, "date/time field value out of range: \"%.*s\"",
                     (int)(n > 200 ? 200 : n), s);
}

static tb_rc k_parse(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                     tb_err *err)
{
    bool ts = e->type.id == TB_T_TIMESTAMP;
    fmt f;
    bool have = false;
    tb_rc rc;
    for (uint32_t i = 0; i < n; i++) {
        if (ts)
            ((int64_t *)out->v.data)[i] = 0;
        else
            ((int32_t *)out->v.data)[i] = 0;
        if (!VALID(i))
            continue;
        if (!have || !args[1].konst) {
            tb_str p = STRARG(1, i);
            if ((rc = compile_dt(p.ptr, p.len, arena, &f, err)) != TB_OK)
                return rc;
            have = true;
        }
        tb_str s = STRARG(0, i);
        int64_t v;
        if ((rc = parse_dt(&f, s.ptr, s.len, ts, e->pos, &v, err)) != TB_OK)
            return rc;
        if (ts)
            ((int64_t *)out->v.data)[i] = v;
        else
            ((int32_t *)out->v.data)[i] = (int32_t)v;
    }
    return TB_OK;
}

/* ---------------------------------------------------------------- resolvers */

static tb_rc mkcall(tb_arena *arena, const char *name, tb_kernel k, tb_type t, tb_expr **args,
                    uint32_t n, int pos, tb_expr **out, tb_err *err)
{
    tb_func *fn = tb_expr_func_new(arena, name, k, TB_FN_STRICT, 0);
    if (fn == NULL || (*out = tb_expr_new_call(arena, name, fn, t, args, n, pos)) == NULL)
        return tb_expr_nomem(err);
    return TB_OK;
}

static tb_rc r_to_char(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                       tb_expr **out, tb_err *err)
{
    tb_rc rc;
    if (n != 2)
        return tb_func_no_overload(name, args, n, pos, err);
    if ((rc = tb_func_coerce_arg(arena, name, args, n, 1, tb_type_make(TB_T_STRING), pos,
                                 err)) != TB_OK)
        return rc;
    tb_type t = args[0]->type;
    if (tb_expr_is_unknown_lit(args[0]) || t.id == TB_T_NULL)
        return TB_ERRPOS(err, TB_E_TYPE, pos, "function to_char(unknown, unknown) is not unique");
    switch ((tb_type_id)t.id) {
    case TB_T_DATE:
    case TB_T_TIMESTAMP:
        return mkcall(arena, name, k_to_char_ts, tb_type_make(TB_T_STRING), args, n, pos, out,
                      err);
    case TB_T_INT16:
    case TB_T_INT32:
    case TB_T_INT64:
    case TB_T_DECIMAL:
    case TB_T_FLOAT:
    case TB_T_DOUBLE:
        return mkcall(arena, name, k_to_char_num, tb_type_make(TB_T_STRING), args, n, pos, out,
                      err);
    case TB_T_INTERVAL:
        return TB_ERRPOS(err, TB_E_UNSUPPORTED, pos, "to_char(interval, text) is not supported");
    default:
        return tb_func_no_overload(name, args, n, pos, err);
    }
}

tb_rc tb_fmt_parse_resolve(tb_arena *arena, const char *name, tb_expr **args, uint32_t n,
                           int pos, tb_expr **out, tb_err *err)
{
    tb_rc rc;
    bool ts = strcmp(name, "to_timestamp") == 0;
    if (n != 2)
        return tb_func_no_overload(name, args, n, pos, err);
    for (uint32_t k = 0; k < 2; k++) {
        if (args[k]->type.id != TB_T_STRING && args[k]->type.id != TB_T_NULL)
            return tb_func_no_overload(name, args, n, pos, err);
        if ((rc = tb_func_coerce_arg(arena, name, args, n, k, tb_type_make(TB_T_STRING), pos,
                                     err)) != TB_OK)
            return rc;
    }
    return mkcall(arena, name, k_parse, tb_type_make(ts ? TB_T_TIMESTAMP : TB_T_DATE), args, n,
                  pos, out, err);
}

const tb_fn_entry tb_func_fmt_table[] = {
    {"to_char", r_to_char},
    {"to_date", tb_fmt_parse_resolve},
    {NULL, NULL},
};
