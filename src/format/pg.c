/*
 * pg.c - libpq helpers shared by the postgres sink and reader (see pg.h): connections
 * with retries, error classification and messages, the type mapping, the COPY text
 * format, identifier quoting.
 *
 * COPY text format (PostgreSQL's "text" COPY format): one row per line, columns
 * separated by a tab, NULL written \N, and backslash escapes \b \f \n \r \t \v \\,
 * \ooo (octal) and \xhh (hex); any other escaped character stands for itself. We
 * write only \\ \n \r \t; we read all of them, since the server may send any.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format/pg.h"

/* Type oids (pg_type.dat). */
enum {
    OID_BOOL = 16,
    OID_NAME = 19,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_TEXT = 25,
    OID_OID = 26,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
    OID_BPCHAR = 1042,
    OID_VARCHAR = 1043,
    OID_DATE = 1082,
    OID_TIMESTAMP = 1114,
    OID_TIMESTAMPTZ = 1184,
    OID_INTERVAL = 1186,
    OID_NUMERIC = 1700
};

/* ================================================================ retries */

tb_rc tb_pg_retry_parse(const char *retries, const char *backoff, tb_pg_retry *out,
                        tb_err *err)
{
    tb_pg_retry d = TB_PG_RETRY_DEFAULT;
    *out = d;
    if (retries != NULL) {
        char *end = NULL;
        long n = strtol(retries, &end, 10);
        if (end == retries || *end != '\0' || n < 0 || n > 100)
            return TB_ERRF(err, TB_E_SQL, "retries must be a whole number from 0 to 100, not '%s'",
                           retries);
        out->retries = (int)n;
    }
    if (backoff != NULL) {
        tb_interval iv;
        if (!tb_parse_interval(backoff, strlen(backoff), &iv) || tb_interval_micros(iv) < 0 ||
            tb_interval_micros(iv) > 60 * TB_USEC_PER_SEC)
            return TB_ERRF(err, TB_E_SQL,
                           "retry_backoff must be an interval from 0 to 60 seconds ('200 ms'), "
                           "not '%s'",
                           backoff);
        out->backoff_ms = tb_interval_micros(iv) / 1000;
    }
    return TB_OK;
}

void tb_pg_backoff(const tb_pg_retry *r, int attempt)
{
    int64_t ms = r->backoff_ms;
    for (int i = 1; i < attempt && ms < r->max_wait_ms; i++)
        ms *= 2;
    if (ms > r->max_wait_ms)
        ms = r->max_wait_ms;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ================================================================ errors */

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
}

/* One line: newlines of multi-line messages become "; ". */
static void flatten(char *s)
{
    chomp(s);
    for (char *p = s; *p != '\0'; p++)
        if (*p == '\n')
            *p = ';';
}

static bool retriable_state(const char *st)
{
    if (st == NULL)
        return false;
    return strncmp(st, "08", 2) == 0 || strcmp(st, "57P01") == 0 || strcmp(st, "57P02") == 0 ||
           strcmp(st, "57P03") == 0 || strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0 ||
           strcmp(st, "53300") == 0;
}

tb_rc tb_pg_error(PGconn *conn, const PGresult *res, const char *what, tb_rc code, tb_err *err)
{
    char msg[TB_ERR_MSG_CAP];
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    tb_buf b = {0};
    bool ok = true;
    if (primary == NULL) {
        /* no error result (connection lost, libpq's own message) */
        const char *m = res ? PQresultErrorMessage(res) : NULL;
        if (m == NULL || m[0] == '\0')
            m = conn ? PQerrorMessage(conn) : "no connection";
        ok = tb_buf_puts(&b, m) == TB_OK;
    } else {
        const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
        const char *col = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
        const char *cons = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
        const char *tab = PQresultErrorField(res, PG_DIAG_TABLE_NAME);
        const char *ctx = PQresultErrorField(res, PG_DIAG_CONTEXT);
        const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
        ok = tb_buf_printf(&b, "%s (SQLSTATE %s)", primary, st ? st : "?") == TB_OK;
        if (ok && tab != NULL && col != NULL)
            ok = tb_buf_printf(&b, "; column \"%s\" of table \"%s\"", col, tab) == TB_OK;
        else if (ok && col != NULL)
            ok = tb_buf_printf(&b, "; column \"%s\"", col) == TB_OK;
        if (ok && cons != NULL)
            ok = tb_buf_printf(&b, "; constraint \"%s\"", cons) == TB_OK;
        if (ok && detail != NULL)
            ok = tb_buf_printf(&b, "; DETAIL: %s", detail) == TB_OK;
        if (ok && hint != NULL)
            ok = tb_buf_printf(&b, "; HINT: %s", hint) == TB_OK;
        /* COPY's context names the column and quotes the value: 'COPY out, line 3,
         * column qty: "abc"' */
        if (ok && ctx != NULL)
            ok = tb_buf_printf(&b, "; CONTEXT: %s", ctx) == TB_OK;
    }
    const char *text = ok ? tb_buf_cstr(&b) : NULL;
    snprintf(msg, sizeof(msg), "%s", text != NULL ? text : "out of memory");
    tb_buf_free(&b);
    flatten(msg);
    TB_ERRF(err, code, "%s: %s", what, msg);
    err->retriable = retriable_state(st) || (conn != NULL && PQstatus(conn) == CONNECTION_BAD);
    return code;
}

tb_rc tb_pg_exec(PGconn *conn, const char *sql, const char *what, tb_err *err)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    tb_rc rc = TB_OK;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        rc = tb_pg_error(conn, res, what, TB_E_IO, err);
    PQclear(res);
    return rc;
}

/* ================================================================ connections */

/* A connection failure worth another attempt: no server answer (refused, unreachable,
 * timed out, socket missing) or an answer saying "later". Server answers (FATAL:) about
 * passwords, roles, databases and pg_hba.conf are final. */
static bool connect_retriable(const char *m)
{
    if (strstr(m, "starting up") || strstr(m, "shutting down") ||
        strstr(m, "too many clients") || strstr(m, "in recovery") ||
        strstr(m, "not yet accepting connections") ||
        strstr(m, "remaining connection slots"))
        return true;
    if (strstr(m, "FATAL:") || strstr(m, "authentication") || strstr(m, "password") ||
        strstr(m, "SSL") || strstr(m, "invalid"))
        return false;
    return true;
}

static void quiet_notice(void *arg, const char *message)
{
    TB_UNUSED(arg);
    tb_log(TB_LOG_DEBUG, "postgres: %s", message);
}

tb_rc tb_pg_connect(const char *dsn, const char *what, const tb_pg_retry *r, PGconn **out,
                    tb_err *err)
{
    char *perr = NULL;
    *out = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &perr);
    if (opts == NULL) {
        char m[512];
        snprintf(m, sizeof(m), "%s", perr ? perr : "out of memory");
        flatten(m);
        PQfreemem(perr);
        return TB_ERRF(err, TB_E_SQL, "%s: bad dsn: %s", what, m);
    }
    PQconninfoFree(opts);
    /* Later keywords override earlier ones: the DSN may set its own connect_timeout. */
    const char *const keys[] = {"connect_timeout", "dbname", "client_encoding",
                                "fallback_application_name", NULL};
    const char *const vals[] = {"10", dsn, "UTF8", "tributary", NULL};
    for (int attempt = 0;; attempt++) {
        PGconn *conn = PQconnectdbParams(keys, vals, 1);
        if (conn == NULL)
            return tb_err_nomem(err);
        if (PQstatus(conn) == CONNECTION_OK) {
            /* NOTICEs ("relation ... already exists, skipping") are not ours to print */
            PQsetNoticeProcessor(conn, quiet_notice, NULL);
            tb_rc rc = tb_pg_exec(conn,
                                  "SET DateStyle = ISO; SET TimeZone = 'UTC'; "
                                  "SET IntervalStyle = postgres; SET extra_float_digits = 3",
                                  what, err);
            if (rc == TB_OK) {
                *out = conn;
                return TB_OK;
            }
            PQfinish(conn);
            if (!err->retriable || attempt >= r->retries)
                return rc;
        } else {
            char m[1024];
            snprintf(m, sizeof(m), "%s", PQerrorMessage(conn));
            flatten(m);
            PQfinish(conn);
            bool again = connect_retriable(m);
            if (!again || attempt >= r->retries) {
                TB_ERRF(err, TB_E_IO, "%s: cannot connect%s: %s", what,
                        again ? " (retries exhausted)" : "", m);
                if (again) {
                    char tail[64];
                    snprintf(tail, sizeof(tail), " [%d attempts]", attempt + 1);
                    size_t l = strlen(err->msg);
                    snprintf(err->msg + l, sizeof(err->msg) - l, "%s", tail);
                }
                err->retriable = again;
                return TB_E_IO;
            }
            tb_log(TB_LOG_WARN, "%s: cannot connect (attempt %d of %d, retrying): %s", what,
                   attempt + 1, r->retries + 1, m);
        }
        tb_pg_backoff(r, attempt + 1);
    }
}

/* ================================================================ types */

const char *tb_pg_type_sql(tb_type t, char *buf, size_t cap)
{
    switch ((tb_type_id)t.id) {
    case TB_T_BOOL:
        return "boolean";
    case TB_T_INT16:
        return "smallint";
    case TB_T_INT32:
        return "integer";
    case TB_T_INT64:
        return "bigint";
    case TB_T_FLOAT:
        return "real";
    case TB_T_DOUBLE:
        return "double precision";
    case TB_T_DECIMAL:
        snprintf(buf, cap, "numeric(%d,%d)", t.precision, t.scale);
        return buf;
    case TB_T_DATE:
        return "date";
    case TB_T_TIMESTAMP:
        return "timestamp";
    case TB_T_INTERVAL:
        return "interval";
    case TB_T_STRING:
    case TB_T_NULL:
    case TB_T__COUNT:
        break;
    }
    return "text";
}

tb_type tb_pg_type_from_oid(uint32_t oid, int32_t typmod)
{
    switch (oid) {
    case OID_BOOL:
        return tb_type_make(TB_T_BOOL);
    case OID_INT2:
        return tb_type_make(TB_T_INT16);
    case OID_INT4:
        return tb_type_make(TB_T_INT32);
    case OID_INT8:
    case OID_OID:
        return tb_type_make(TB_T_INT64);
    case OID_FLOAT4:
        return tb_type_make(TB_T_FLOAT);
    case OID_FLOAT8:
        return tb_type_make(TB_T_DOUBLE);
    case OID_NUMERIC:
        if (typmod >= 4) {
            int p = ((typmod - 4) >> 16) & 0xffff, s = (typmod - 4) & 0xffff;
            if (p >= 1 && p <= 38 && s <= p)
                return tb_type_decimal(p, s);
        }
        /* unconstrained or wider than 38 digits: as double precision (README) */
        return tb_type_make(TB_T_DOUBLE);
    case OID_DATE:
        return tb_type_make(TB_T_DATE);
    case OID_TIMESTAMP:
    case OID_TIMESTAMPTZ: /* read in UTC (the session's TimeZone) */
        return tb_type_make(TB_T_TIMESTAMP);
    case OID_INTERVAL:
        return tb_type_make(TB_T_INTERVAL);
    default:
        return tb_type_make(TB_T_STRING);
    }
}

bool tb_pg_type_accepts(uint32_t oid, int32_t typmod, tb_type t)
{
    switch ((tb_type_id)t.id) {
    case TB_T_BOOL:
        return oid == OID_BOOL;
    case TB_T_INT16:
        return oid == OID_INT2 || oid == OID_INT4 || oid == OID_INT8 || oid == OID_NUMERIC;
    case TB_T_INT32:
        return oid == OID_INT4 || oid == OID_INT8 || oid == OID_NUMERIC;
    case TB_T_INT64:
        return oid == OID_INT8 || oid == OID_NUMERIC;
    case TB_T_FLOAT:
        return oid == OID_FLOAT4 || oid == OID_FLOAT8;
    case TB_T_DOUBLE:
        return oid == OID_FLOAT8;
    case TB_T_DECIMAL:
        if (oid != OID_NUMERIC)
            return false;
        if (typmod < 4)
            return true;
        {
            int p = ((typmod - 4) >> 16) & 0xffff, s = (typmod - 4) & 0xffff;
            return s >= t.scale && p - s >= t.precision - t.scale;
        }
    case TB_T_STRING:
        /* varchar(n) / char(n) are accepted: a longer value is the row's error */
        return oid == OID_TEXT || oid == OID_VARCHAR || oid == OID_BPCHAR;
    case TB_T_DATE:
        return oid == OID_DATE || oid == OID_TIMESTAMP || oid == OID_TIMESTAMPTZ;
    case TB_T_TIMESTAMP:
        return oid == OID_TIMESTAMP || oid == OID_TIMESTAMPTZ;
    case TB_T_INTERVAL:
        return oid == OID_INTERVAL;
    case TB_T_NULL:
    case TB_T__COUNT:
        break;
    }
    return true;
}

/* ================================================================ COPY encode */

static tb_rc put_escaped(tb_buf *buf, const char *s, size_t n)
{
    if (tb_buf_reserve(buf, n + 8) != TB_OK)
        return TB_E_NOMEM;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i], e;
        switch (c) {
        case '\\':
            e = '\\';
            break;
        case '\n':
            e = 'n';
            break;
        case '\r':
            e = 'r';
            break;
        case '\t':
            e = 't';
            break;
        default:
            continue;
        }
        if (tb_buf_append(buf, s + start, i - start) != TB_OK || tb_buf_putc(buf, '\\') != TB_OK ||
            tb_buf_putc(buf, e) != TB_OK)
            return TB_E_NOMEM;
        start = i + 1;
    }
    return tb_buf_append(buf, s + start, n - start);
}

static int fmt_i64(int64_t v, char *out)
{
    char tmp[24];
    int n = 0, len = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        out[len++] = '-';
    while (n > 0)
        out[len++] = tmp[--n];
    return len;
}

tb_rc tb_pg_copy_encode_row(const tb_batch *batch, uint32_t i, tb_buf *buf)
{
    char tmp[96];
    for (uint32_t j = 0; j < batch->n_cols; j++) {
        const tb_vec *v = &batch->cols[j];
        if (j > 0 && tb_buf_putc(buf, '\t') != TB_OK)
            return TB_E_NOMEM;
        if (tb_vec_is_null(v, i)) {
            if (tb_buf_append(buf, "\\N", 2) != TB_OK)
                return TB_E_NOMEM;
            continue;
        }
        int n = -1;
        switch ((tb_type_id)v->type.id) {
        case TB_T_BOOL:
            n = 1;
            tmp[0] = TB_VEC_PTR(v, uint8_t)[i] ? 't' : 'f';
            break;
        case TB_T_INT16:
            n = fmt_i64(TB_VEC_PTR(v, int16_t)[i], tmp);
            break;
        case TB_T_INT32:
            n = fmt_i64(TB_VEC_PTR(v, int32_t)[i], tmp);
            break;
        case TB_T_INT64:
            n = fmt_i64(TB_VEC_PTR(v, int64_t)[i], tmp);
            break;
        case TB_T_DECIMAL:
            n = tb_i128_format(TB_VEC_PTR(v, tb_i128)[i], v->type.scale, tmp);
            break;
        case TB_T_DATE:
            n = tb_format_date(TB_VEC_PTR(v, int32_t)[i], tmp);
            break;
        case TB_T_TIMESTAMP:
            n = tb_format_timestamp(TB_VEC_PTR(v, int64_t)[i], tmp);
            break;
        case TB_T_INTERVAL:
            n = tb_format_interval(TB_VEC_PTR(v, tb_interval)[i], tmp);
            break;
        case TB_T_STRING: {
            const tb_str *s = &TB_VEC_PTR(v, tb_str)[i];
            if (put_escaped(buf, s->ptr, s->len) != TB_OK)
                return TB_E_NOMEM;
            continue;
        }
        case TB_T_FLOAT:
        case TB_T_DOUBLE:
        case TB_T_NULL:
        case TB_T__COUNT: {
            tb_value val;
            tb_vec_get(v, i, &val);
            if (tb_value_format(&val, buf) != TB_OK)
                return TB_E_NOMEM;
            continue;
        }
        }
        if (tb_buf_append(buf, tmp, (size_t)n) != TB_OK)
            return TB_E_NOMEM;
    }
    return tb_buf_putc(buf, '\n');
}

/* ================================================================ COPY binary */

bool tb_pg_binary_ok(uint32_t oid, int32_t typmod, tb_type t)
{
    TB_UNUSED(typmod);
    switch ((tb_type_id)t.id) {
    case TB_T_BOOL:
        return oid == OID_BOOL;
    case TB_T_INT16:
        return oid == OID_INT2;
    case TB_T_INT32:
        return oid == OID_INT4;
    case TB_T_INT64:
        return oid == OID_INT8;
    case TB_T_FLOAT:
        return oid == OID_FLOAT4;
    case TB_T_DOUBLE:
        return oid == OID_FLOAT8;
    case TB_T_STRING:
        return oid == OID_TEXT;
    case TB_T_DATE:
        return oid == OID_DATE;
    case TB_T_TIMESTAMP:
        return oid == OID_TIMESTAMP;
    case TB_T_INTERVAL:
        return oid == OID_INTERVAL;
    case TB_T_DECIMAL: /* text: PostgreSQL's base-10000 digits are not worth it here */
    case TB_T_NULL:
    case TB_T__COUNT:
        break;
    }
    return false;
}

tb_rc tb_pg_copy_binary_header(tb_buf *buf)
{
    static const char hdr[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0";
    return tb_buf_append(buf, hdr, sizeof(hdr));
}

tb_rc tb_pg_copy_binary_trailer(tb_buf *buf)
{
    return tb_buf_append(buf, "\377\377", 2);
}

static void be16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static void be32(unsigned char *p, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        p[k] = (unsigned char)(v >> (24 - 8 * k));
}

static void be64(unsigned char *p, uint64_t v)
{
    for (int k = 0; k < 8; k++)
        p[k] = (unsigned char)(v >> (56 - 8 * k));
}

/* PostgreSQL's epoch for dates and timestamps is 2000-01-01. */
#define PG_EPOCH_DAYS 10957
#define PG_EPOCH_US   (INT64_C(10957) * TB_USEC_PER_DAY)

tb_rc tb_pg_copy_encode_row_binary(const tb_batch *batch, uint32_t i, tb_buf *buf)
{
    /* fixed-size fields: 4-byte length + at most 16 bytes */
    if (tb_buf_reserve(buf, 2 + (size_t)batch->n_cols * 20) != TB_OK)
        return TB_E_NOMEM;
    unsigned char *p = (unsigned char *)buf->data + buf->len;
    be16(p, (uint16_t)batch->n_cols);
    buf->len += 2;
    for (uint32_t j = 0; j < batch->n_cols; j++) {
        const tb_vec *v = &batch->cols[j];
        p = (unsigned char *)buf->data + buf->len;
        if (tb_vec_is_null(v, i)) {
            be32(p, 0xffffffffu);
            buf->len += 4;
            continue;
        }
        uint32_t n = 0;
        switch ((tb_type_id)v->type.id) {
        case TB_T_BOOL:
            n = 1;
            p[4] = TB_VEC_PTR(v, uint8_t)[i] ? 1 : 0;
            break;
        case TB_T_INT16:
            n = 2;
            be16(p + 4, (uint16_t)TB_VEC_PTR(v, int16_t)[i]);
            break;
        case TB_T_INT32:
            n = 4;
            be32(p + 4, (uint32_t)TB_VEC_PTR(v, int32_t)[i]);
            break;
        case TB_T_DATE:
            n = 4;
            be32(p + 4, (uint32_t)(TB_VEC_PTR(v, int32_t)[i] - PG_EPOCH_DAYS));
            break;
        case TB_T_INT64:
            n = 8;
            be64(p + 4, (uint64_t)TB_VEC_PTR(v, int64_t)[i]);
            break;
        case TB_T_TIMESTAMP:
            n = 8;
            be64(p + 4, (uint64_t)TB_VEC_PTR(v, int64_t)[i] - (uint64_t)PG_EPOCH_US);
            break;
        case TB_T_FLOAT: {
            uint32_t bits;
            memcpy(&bits, &TB_VEC_PTR(v, float)[i], 4);
            n = 4;
            be32(p + 4, bits);
            break;
        }
        case TB_T_DOUBLE: {
            uint64_t bits;
            memcpy(&bits, &TB_VEC_PTR(v, double)[i], 8);
            n = 8;
            be64(p + 4, bits);
            break;
        }
        case TB_T_INTERVAL: {
            tb_interval iv = TB_VEC_PTR(v, tb_interval)[i];
            n = 16;
            be64(p + 4, (uint64_t)iv.micros);
            be32(p + 12, (uint32_t)iv.days);
            be32(p + 16, (uint32_t)iv.months);
            break;
        }
        case TB_T_STRING: {
            const tb_str *str = &TB_VEC_PTR(v, tb_str)[i];
            be32(p, str->len);
            buf->len += 4;
            if (tb_buf_append(buf, str->ptr, str->len) != TB_OK ||
                tb_buf_reserve(buf, (size_t)(batch->n_cols - j) * 20) != TB_OK)
                return TB_E_NOMEM;
            continue;
        }
        case TB_T_DECIMAL:
        case TB_T_NULL:
        case TB_T__COUNT:
            return TB_E_MISUSE; /* tb_pg_binary_ok refuses these */
        }
        be32(p, n);
        buf->len += 4 + n;
    }
    return TB_OK;
}

/* ================================================================ COPY decode */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Unescape field [s, s+n) into out (n bytes at most). Returns the length. */
static size_t unescape(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c != '\\' || i + 1 >= n) {
            out[o++] = c;
            continue;
        }
        c = s[++i];
        switch (c) {
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case 'v':
            out[o++] = '\v';
            break;
        case 'x': {
            int h1 = i + 1 < n ? hexval(s[i + 1]) : -1;
            if (h1 < 0) {
                out[o++] = 'x';
                break;
            }
            int val = h1;
            i++;
            int h2 = i + 1 < n ? hexval(s[i + 1]) : -1;
            if (h2 >= 0) {
                val = val * 16 + h2;
                i++;
            }
            out[o++] = (char)val;
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                int val = c - '0';
                for (int k = 0; k < 2 && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '7'; k++)
                    val = val * 8 + (s[++i] - '0');
                out[o++] = (char)(val & 0xff);
            } else {
                out[o++] = c;
            }
        }
    }
    return o;
}

static tb_rc bad_value(const char *const *names, uint32_t j, const char *what, const char *s,
                       size_t n, tb_err *err)
{
    return TB_ERRF(err, TB_E_PARSE, "column \"%s\": %s \"%.*s\"%s", names ? names[j] : "?", what,
                   (int)(n > 200 ? 200 : n), s, n > 200 ? "..." : "");
}

static bool parse_i64(const char *s, size_t n, int64_t lo, int64_t hi, int64_t *out)
{
    char tmp[32];
    if (n == 0 || n >= sizeof(tmp))
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end = NULL;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno != 0 || end != tmp + n || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool parse_f64(const char *s, size_t n, double *out)
{
    char tmp[64];
    if (n == 0 || n >= sizeof(tmp))
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end = NULL;
    errno = 0;
    double d = strtod(tmp, &end);
    if (end != tmp + n || (errno == ERANGE && fabs(d) > 1.0)) /* underflow is fine */
        return false;
    *out = d;
    return true;
}

tb_rc tb_pg_copy_decode_row(const char *line, size_t len, tb_batch *batch, uint32_t row,
                            const char *const *names, tb_arena *arena, tb_err *err)
{
    size_t pos = 0;
    char *scratch = NULL;
    if (batch->n_cols == 0) {
        if (len != 0)
            return TB_ERRF(err, TB_E_PARSE, "expected no columns, got \"%.*s\"",
                           (int)(len > 100 ? 100 : len), line);
        return TB_OK;
    }
    for (uint32_t j = 0; j < batch->n_cols; j++) {
        size_t e = pos;
        while (e < len && line[e] != '\t')
            e++;
        if (e == len && j + 1 < batch->n_cols)
            return TB_ERRF(err, TB_E_PARSE, "row has %u columns, expected %u", j + 1,
                           batch->n_cols);
        if (e < len && j + 1 == batch->n_cols)
            return TB_ERRF(err, TB_E_PARSE, "row has more than the %u expected columns",
                           batch->n_cols);
        const char *f = line + pos;
        size_t n = e - pos;
        pos = e + 1;
        tb_vec *v = &batch->cols[j];
        if (n == 2 && f[0] == '\\' && f[1] == 'N') {
            if (tb_vec_set_null(v, row, batch->cap, arena) != TB_OK)
                return tb_err_nomem(err);
            continue;
        }
        tb_vec_set_valid(v, row);
        if (memchr(f, '\\', n) != NULL) {
            scratch = tb_arena_alloc(arena, n + 1);
            if (scratch == NULL)
                return tb_err_nomem(err);
            n = unescape(f, n, scratch);
            scratch[n] = '\0';
            f = scratch;
        }
        int64_t iv;
        switch ((tb_type_id)v->type.id) {
        case TB_T_BOOL:
            if (n == 1 && (f[0] == 't' || f[0] == 'f'))
                TB_VEC_PTR(v, uint8_t)[row] = f[0] == 't';
            else if (n == 4 && memcmp(f, "true", 4) == 0)
                TB_VEC_PTR(v, uint8_t)[row] = 1;
            else if (n == 5 && memcmp(f, "false", 5) == 0)
                TB_VEC_PTR(v, uint8_t)[row] = 0;
            else
                return bad_value(names, j, "not a boolean:", f, n, err);
            break;
        case TB_T_INT16:
            if (!parse_i64(f, n, INT16_MIN, INT16_MAX, &iv))
                return bad_value(names, j, "not a smallint:", f, n, err);
            TB_VEC_PTR(v, int16_t)[row] = (int16_t)iv;
            break;
        case TB_T_INT32:
            if (!parse_i64(f, n, INT32_MIN, INT32_MAX, &iv))
                return bad_value(names, j, "not an integer:", f, n, err);
            TB_VEC_PTR(v, int32_t)[row] = (int32_t)iv;
            break;
        case TB_T_INT64:
            if (!parse_i64(f, n, INT64_MIN, INT64_MAX, &iv))
                return bad_value(names, j, "not a bigint:", f, n, err);
            TB_VEC_PTR(v, int64_t)[row] = iv;
            break;
        case TB_T_FLOAT:
        case TB_T_DOUBLE: {
            double d;
            if (!parse_f64(f, n, &d))
                return bad_value(names, j, "not a number:", f, n, err);
            if (v->type.id == TB_T_FLOAT)
                TB_VEC_PTR(v, float)[row] = (float)d;
            else
                TB_VEC_PTR(v, double)[row] = d;
            break;
        }
        case TB_T_DECIMAL: {
            tb_i128 d;
            if (n == 0 || !tb_i128_parse(f, n, v->type.scale, &d))
                return bad_value(names, j, "not a numeric:", f, n, err);
            TB_VEC_PTR(v, tb_i128)[row] = d;
            break;
        }
        case TB_T_DATE: {
            int32_t days;
            if (!tb_parse_date(f, n, &days))
                return bad_value(names, j, "not a date (infinity and BC dates are not read):",
                                 f, n, err);
            TB_VEC_PTR(v, int32_t)[row] = days;
            break;
        }
        case TB_T_TIMESTAMP: {
            int64_t us;
            if (!tb_parse_timestamp(f, n, &us))
                return bad_value(
                    names, j, "not a timestamp (infinity and BC times are not read):", f, n, err);
            TB_VEC_PTR(v, int64_t)[row] = us;
            break;
        }
        case TB_T_INTERVAL: {
            tb_interval ivl;
            if (!tb_parse_interval(f, n, &ivl))
                return bad_value(names, j, "not an interval:", f, n, err);
            TB_VEC_PTR(v, tb_interval)[row] = ivl;
            break;
        }
        case TB_T_STRING: {
            if (!tb_utf8_valid(f, n))
                return bad_value(names, j, "not valid UTF-8:", f, n, err);
            static const char empty[1] = "";
            const char *p = n == 0 ? empty : f == scratch ? scratch : tb_arena_memdup(arena, f, n);
            if (p == NULL)
                return tb_err_nomem(err);
            TB_VEC_PTR(v, tb_str)[row] = (tb_str){p, (uint32_t)n};
            break;
        }
        case TB_T_NULL:
        case TB_T__COUNT:
            break;
        }
    }
    return TB_OK;
}

/* ================================================================ identifiers */

tb_rc tb_pg_quote_ident(const char *name, size_t len, tb_buf *buf)
{
    if (tb_buf_putc(buf, '"') != TB_OK)
        return TB_E_NOMEM;
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '"' && tb_buf_putc(buf, '"') != TB_OK)
            return TB_E_NOMEM;
        if (tb_buf_putc(buf, name[i]) != TB_OK)
            return TB_E_NOMEM;
    }
    return tb_buf_putc(buf, '"');
}

/* One name part at *p: "quoted" (kept) or bare (lower-cased, blanks trimmed), written
 * to part (NUL-terminated, cap bytes). Advances *p past it. */
static tb_rc name_part(const char **p, char *part, size_t cap, const char *whole, tb_err *err)
{
    const char *s = *p;
    size_t n = 0;
    while (*s == ' ')
        s++;
    if (*s == '"') {
        s++;
        for (;;) {
            if (*s == '\0')
                return TB_ERRF(err, TB_E_SQL, "unterminated quoted name in '%s'", whole);
            if (*s == '"') {
                if (s[1] != '"')
                    break;
                s++;
            }
            if (n + 1 >= cap)
                return TB_ERRF(err, TB_E_SQL, "name too long in '%s'", whole);
            part[n++] = *s++;
        }
        s++;
    } else {
        while (*s != '\0' && *s != '.' && *s != ',') {
            if (n + 1 >= cap)
                return TB_ERRF(err, TB_E_SQL, "name too long in '%s'", whole);
            char c = *s++;
            part[n++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        while (n > 0 && part[n - 1] == ' ')
            n--;
    }
    while (*s == ' ')
        s++;
    part[n] = '\0';
    if (n == 0)
        return TB_ERRF(err, TB_E_SQL, "empty name in '%s'", whole);
    *p = s;
    return TB_OK;
}

tb_rc tb_pg_quote_qualified(const char *name, tb_buf *buf, tb_err *err)
{
    char part[256];
    const char *p = name;
    for (int k = 0;; k++) {
        tb_rc rc = name_part(&p, part, sizeof(part), name, err);
        if (rc != TB_OK)
            return rc;
        if (tb_pg_quote_ident(part, strlen(part), buf) != TB_OK)
            return tb_err_nomem(err);
        if (*p == '\0')
            return TB_OK;
        if (*p != '.' || k >= 1)
            return TB_ERRF(err, TB_E_SQL, "bad table name '%s' (expected name or schema.name)",
                           name);
        p++;
        if (tb_buf_putc(buf, '.') != TB_OK)
            return tb_err_nomem(err);
    }
}

tb_rc tb_pg_quote_literal(const char *s, tb_buf *buf)
{
    if (tb_buf_putc(buf, '\'') != TB_OK)
        return TB_E_NOMEM;
    for (; *s != '\0'; s++) {
        if (*s == '\'' && tb_buf_putc(buf, '\'') != TB_OK)
            return TB_E_NOMEM;
        if (tb_buf_putc(buf, *s) != TB_OK)
            return TB_E_NOMEM;
    }
    return tb_buf_putc(buf, '\'');
}

tb_rc tb_pg_split_names(const char *list, tb_strlist *out, tb_err *err)
{
    char part[256];
    const char *p = list;
    for (;;) {
        tb_rc rc = name_part(&p, part, sizeof(part), list, err);
        if (rc != TB_OK)
            return rc;
        if (tb_strlist_push(out, part) != TB_OK)
            return tb_err_nomem(err);
        if (*p == '\0')
            return TB_OK;
        if (*p != ',')
            return TB_ERRF(err, TB_E_SQL, "bad name list '%s' (expected 'a, b, ...')", list);
        p++;
    }
}
