/*
 * type.c - SQL types: widths, PostgreSQL-style names, and parsing of type names as
 * written in CREATE TABLE, CAST and read_csv's schema option.
 *
 * Accepted names (case-insensitive, surrounding blanks ignored):
 *   boolean: bool, boolean
 *   smallint: int2, smallint, tinyint
 *   integer: int, int4, integer
 *   bigint: int8, bigint, long
 *   real: float4, real
 *   double precision: float8, float, double, double precision
 *   numeric: numeric, decimal, numeric(p), numeric(p,s) with 1 <= p <= 38, 0 <= s <= p.
 *            A bare "numeric" is numeric(38,10): our decimals are fixed-point, so an
 *            unconstrained numeric needs some scale; 10 fraction digits keep 28 integer
 *            digits, enough for sums of money-like values.
 *   text: text, string, varchar, varchar(n), char(n), character(n),
 *         character varying[(n)] (the length is not enforced)
 *   date: date
 *   timestamp: timestamp, timestamp(p) (p <= 6, ignored: always microseconds),
 *              timestamp without time zone, datetime, and also timestamptz /
 *              timestamp with time zone (stored as UTC, no zone kept)
 *   interval: interval
 */
#include <stdio.h>
#include <string.h>

#include "vector/vector.h"

bool tb_type_eq(tb_type a, tb_type b)
{
    if (a.id != b.id)
        return false;
    if (a.id == TB_T_DECIMAL)
        return a.precision == b.precision && a.scale == b.scale;
    return true;
}

size_t tb_type_width(tb_type t)
{
    switch ((tb_type_id)t.id) {
    case TB_T_NULL:
        return 0;
    case TB_T_BOOL:
        return 1;
    case TB_T_INT16:
        return 2;
    case TB_T_INT32:
        return 4;
    case TB_T_INT64:
        return 8;
    case TB_T_FLOAT:
        return 4;
    case TB_T_DOUBLE:
        return 8;
    case TB_T_DECIMAL:
        return 16;
    case TB_T_STRING:
        return sizeof(tb_str);
    case TB_T_DATE:
        return 4;
    case TB_T_TIMESTAMP:
        return 8;
    case TB_T_INTERVAL:
        return sizeof(tb_interval);
    case TB_T__COUNT:
        break;
    }
    return 0;
}

const char *tb_type_id_name(tb_type_id id)
{
    static const char *const names[TB_T__COUNT] = {
        "unknown", "boolean", "smallint", "integer", "bigint", "real", "double precision",
        "numeric", "text",    "date",     "timestamp", "interval",
    };
    if ((unsigned)id >= TB_T__COUNT)
        return "unknown";
    return names[id];
}

const char *tb_type_name(tb_type t, char *buf, size_t cap)
{
    if (t.id == TB_T_DECIMAL && buf != NULL && cap > 0) {
        (void)snprintf(buf, cap, "numeric(%u,%u)", (unsigned)t.precision, (unsigned)t.scale);
        return buf;
    }
    return tb_type_id_name((tb_type_id)t.id);
}

bool tb_type_is_integer(tb_type t)
{
    return t.id == TB_T_INT16 || t.id == TB_T_INT32 || t.id == TB_T_INT64;
}

bool tb_type_is_numeric(tb_type t)
{
    return tb_type_is_integer(t) || t.id == TB_T_FLOAT || t.id == TB_T_DOUBLE ||
           t.id == TB_T_DECIMAL;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Parse "(a)" or "(a,b)" at s (after optional blanks) up to the end of the string.
 * Returns the count of numbers read (1 or 2) or -1 on bad syntax.
 */
static int parse_type_args(const char *s, long *a, long *b)
{
    int count = 0;
    long *dst[2] = {a, b};

    while (is_blank(*s))
        s++;
    if (*s != '(')
        return -1;
    s++;
    for (;;) {
        long v = 0;
        int nd = 0;
        while (is_blank(*s))
            s++;
        while (*s >= '0' && *s <= '9') {
            if (nd < 9)
                v = v * 10 + (*s - '0');
            else
                v = 1000000000L; /* clamp: out of range either way */
            nd++;
            s++;
        }
        if (nd == 0 || count == 2)
            return -1;
        *dst[count++] = v;
        while (is_blank(*s))
            s++;
        if (*s == ',') {
            s++;
            continue;
        }
        if (*s != ')')
            return -1;
        s++;
        break;
    }
    while (is_blank(*s))
        s++;
    return *s == '\0' ? count : -1;
}

/* Collapse runs of blanks to one space, lowercase, trim; returns false if too long. */
static bool normalize(const char *s, char *out, size_t cap)
{
    size_t k = 0;
    bool pending_space = false;

    while (is_blank(*s))
        s++;
    for (; *s != '\0'; s++) {
        char c = *s;
        if (is_blank(c)) {
            pending_space = true;
            continue;
        }
        if (pending_space && k > 0 && c != '(' && c != ')' && c != ',' &&
            out[k - 1] != '(' && out[k - 1] != ',') {
            if (k + 1 >= cap)
                return false;
            out[k++] = ' ';
        }
        pending_space = false;
        if (k + 1 >= cap)
            return false;
        out[k++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    out[k] = '\0';
    return true;
}

tb_rc tb_type_parse(const char *s, tb_type *out, tb_err *err)
{
    static const struct {
        const char *name;
        tb_type_id id;
    } simple[] = {
        {"bool", TB_T_BOOL},
        {"boolean", TB_T_BOOL},
        {"int2", TB_T_INT16},
        {"smallint", TB_T_INT16},
        {"tinyint", TB_T_INT16},
        {"int", TB_T_INT32},
        {"int4", TB_T_INT32},
        {"integer", TB_T_INT32},
        {"int8", TB_T_INT64},
        {"bigint", TB_T_INT64},
        {"long", TB_T_INT64},
        {"float4", TB_T_FLOAT},
        {"real", TB_T_FLOAT},
        {"float8", TB_T_DOUBLE},
        {"float", TB_T_DOUBLE},
        {"double", TB_T_DOUBLE},
        {"double precision", TB_T_DOUBLE},
        {"text", TB_T_STRING},
        {"string", TB_T_STRING},
        {"varchar", TB_T_STRING},
        {"character varying", TB_T_STRING},
        {"char", TB_T_STRING},
        {"character", TB_T_STRING},
        {"date", TB_T_DATE},
        {"timestamp", TB_T_TIMESTAMP},
        {"timestamp without time zone", TB_T_TIMESTAMP},
        {"timestamp with time zone", TB_T_TIMESTAMP},
        {"timestamptz", TB_T_TIMESTAMP},
        {"datetime", TB_T_TIMESTAMP},
        {"interval", TB_T_INTERVAL},
    };
    char norm[64];
    char *paren;
    size_t k, base_len;
    long a = 0, b = 0;
    int nargs = 0;

    if (s == NULL || !normalize(s, norm, sizeof(norm)) || norm[0] == '\0')
        return TB_ERRF(err, TB_E_TYPE, "unknown type '%s'", s ? s : "");
    paren = strchr(norm, '(');
    base_len = paren ? (size_t)(paren - norm) : strlen(norm);
    if (paren != NULL) {
        nargs = parse_type_args(paren, &a, &b);
        if (nargs < 0)
            return TB_ERRF(err, TB_E_TYPE, "unknown type '%s'", s);
    }
    if ((base_len == 7 && memcmp(norm, "numeric", 7) == 0) ||
        (base_len == 7 && memcmp(norm, "decimal", 7) == 0)) {
        long p = 38, sc = 10;
        if (nargs >= 1) {
            p = a;
            sc = nargs == 2 ? b : 0;
        }
        if (p < 1 || p > 38)
            return TB_ERRF(err, TB_E_TYPE,
                           "numeric precision %ld must be between 1 and 38 in '%s'", p, s);
        if (sc < 0 || sc > p)
            return TB_ERRF(err, TB_E_TYPE,
                           "numeric scale %ld must be between 0 and precision %ld in '%s'", sc,
                           p, s);
        *out = tb_type_decimal((int)p, (int)sc);
        return TB_OK;
    }
    for (k = 0; k < sizeof(simple) / sizeof(simple[0]); k++) {
        if (strlen(simple[k].name) != base_len || memcmp(simple[k].name, norm, base_len) != 0)
            continue;
        if (nargs > 0 && simple[k].id == TB_T_TIMESTAMP) {
            /* timestamp(p): fractional digits kept; we always keep microseconds. */
            if (nargs != 1 || a > 6 || strchr(simple[k].name, ' ') != NULL)
                return TB_ERRF(err, TB_E_TYPE, "unknown type '%s'", s);
        } else if (nargs > 0) {
            /* Only character types take a length: varchar(n), char(n). */
            if (simple[k].id != TB_T_STRING || nargs != 1 ||
                strcmp(simple[k].name, "text") == 0 || strcmp(simple[k].name, "string") == 0)
                return TB_ERRF(err, TB_E_TYPE, "unknown type '%s'", s);
            if (a < 1)
                return TB_ERRF(err, TB_E_TYPE, "length for type '%s' must be at least 1", s);
        }
        *out = tb_type_make(simple[k].id);
        return TB_OK;
    }
    return TB_ERRF(err, TB_E_TYPE, "unknown type '%s'", s);
}
