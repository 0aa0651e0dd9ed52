/*
 * pgwire.c - the PostgreSQL frontend/backend protocol v3 (protocol.html of the
 * PostgreSQL 15 documentation), server side, without I/O (pgwire.h).
 *
 * States:
 *   STARTUP  untyped packets: SSLRequest / GSSENCRequest (answered 'N', stay),
 *            CancelRequest (forwarded, then close), StartupMessage 3.x (needs "user")
 *   AUTH     a token is configured: SCRAM-SHA-256 (RFC 5802/7677, what PostgreSQL 14+
 *            uses by default): AuthenticationSASL sent, waiting for SASLInitialResponse;
 *            then server-first sent, waiting for the client-final SASLResponse
 *   READY    typed messages: Q (simple query), P/B/D/E/C/S/H (extended query), X
 *   CLOSED   everything after a fatal error or Terminate is ignored
 *
 * Every message is length-checked before it is buffered (TB_PGW_MAX_MSG), decoded with
 * a bounds-checked cursor, and a malformed one gets an ErrorResponse with SQLSTATE
 * 08P01 and the connection is closed (what PostgreSQL does: after a framing error the
 * byte stream cannot be trusted). After an error in the extended protocol, messages
 * are skipped until Sync, as the protocol requires.
 *
 * Parameters are substituted into the statement text as literals ($n outside quotes):
 * the engine has no parameter binding of its own, and a literal of unknown type is
 * coerced by the binder exactly as PostgreSQL coerces an untyped parameter. Portals
 * are executed once, on Describe or the first Execute, into materialised rows which
 * Execute hands out max_rows at a time (PortalSuspended in between).
 */
#include <stdio.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pg_query.h>

#include "server/pgwire.h"

typedef enum { ST_STARTUP, ST_AUTH, ST_READY, ST_CLOSED } pgw_state;

typedef struct pstmt {
    char *name;
    char *sql;
    uint32_t n_params;
    uint32_t *param_oids;
} pstmt;

typedef struct portal {
    char *name;
    char *sql; /* parameters substituted */
    int16_t *formats; /* result formats per column (or one for all, or none) */
    uint32_t n_formats;
    bool executed;
    tb_rc rc;
    tb_err err;
    tb_srv_rows rows;
    size_t sent;
} portal;

struct tb_pgw {
    tb_pgw_env env;
    pgw_state state;
    tb_buf in;
    size_t in_off;
    bool skip_to_sync;
    char txn; /* 'I', 'T', 'E' */
    tb_srv_session sess;
    pstmt *stmts;
    size_t n_stmts, cap_stmts;
    portal *portals;
    size_t n_portals, cap_portals;
    tb_mem_budget budget;
    _Atomic int cancelled;
    /* SCRAM exchange: 0 none yet, 1 server-first sent */
    int scram_step;
    char *scram_client_first_bare, *scram_server_first, *scram_nonce;
    uint8_t scram_salt[16];
};

/* ---------------------------------------------------------------- output */

static tb_rc put8(tb_buf *b, uint8_t v) { return tb_buf_append(b, &v, 1); }

static tb_rc put16(tb_buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    return tb_buf_append(b, x, 2);
}

static tb_rc put32(tb_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return tb_buf_append(b, x, 4);
}

static tb_rc putstr(tb_buf *b, const char *s) { return tb_buf_append(b, s, strlen(s) + 1); }

/* Start a typed message; msg_end patches its length. */
static size_t msg_begin(tb_buf *b, char type)
{
    size_t at = b->len;
    (void)put8(b, (uint8_t)type);
    (void)put32(b, 0);
    return at;
}

static tb_rc msg_end(tb_buf *b, size_t at)
{
    if (b->data == NULL || b->len < at + 5)
        return TB_E_NOMEM;
    uint32_t n = (uint32_t)(b->len - at - 1);
    uint8_t *p = (uint8_t *)b->data + at + 1;
    p[0] = (uint8_t)(n >> 24);
    p[1] = (uint8_t)(n >> 16);
    p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
    return TB_OK;
}

/* Byte offset -> 1-based character position (PostgreSQL counts characters). */
static int char_pos(const char *sql, int byte_off)
{
    int n = 1;
    for (int i = 0; i < byte_off && sql[i] != '\0'; i++)
        if (((unsigned char)sql[i] & 0xC0) != 0x80)
            n++;
    return n;
}

static tb_rc send_error(tb_buf *out, const char *severity, const char *sqlstate,
                        const char *msg, const char *sql, int pos)
{
    size_t at = msg_begin(out, 'E');
    tb_rc rc = put8(out, 'S');
    rc |= putstr(out, severity);
    rc |= put8(out, 'V');
    rc |= putstr(out, severity);
    rc |= put8(out, 'C');
    rc |= putstr(out, sqlstate);
    rc |= put8(out, 'M');
    rc |= putstr(out, msg);
    if (pos >= 0 && sql != NULL) {
        char num[16];
        snprintf(num, sizeof(num), "%d", char_pos(sql, pos));
        rc |= put8(out, 'P');
        rc |= putstr(out, num);
    }
    rc |= put8(out, 0);
    return rc != TB_OK ? TB_E_NOMEM : msg_end(out, at);
}

static tb_rc send_err(tb_pgw *c, tb_buf *out, const tb_err *err, const char *sql, int base)
{
    const char *state = tb_srv_err_sqlstate(err);
    if (c->txn == 'T')
        c->txn = 'E';
    return send_error(out, "ERROR", state, err->msg, sql, err->pos >= 0 ? base + err->pos : -1);
}

static tb_rc send_ready(tb_pgw *c, tb_buf *out)
{
    size_t at = msg_begin(out, 'Z');
    (void)put8(out, (uint8_t)c->txn);
    return msg_end(out, at);
}

static tb_rc send_simple(tb_buf *out, char type)
{
    size_t at = msg_begin(out, type);
    return msg_end(out, at);
}

static tb_rc send_param_status(tb_buf *out, const char *k, const char *v)
{
    size_t at = msg_begin(out, 'S');
    (void)putstr(out, k);
    (void)putstr(out, v);
    return msg_end(out, at);
}

static int16_t col_format(const portal *p, uint32_t col)
{
    if (p == NULL || p->n_formats == 0)
        return 0;
    return p->n_formats == 1 ? p->formats[0] : (col < p->n_formats ? p->formats[col] : 0);
}

static tb_rc send_row_desc(tb_buf *out, const tb_srv_rows *rows, const portal *p)
{
    size_t at = msg_begin(out, 'T');
    tb_rc rc = put16(out, (uint16_t)rows->n_cols);
    for (uint32_t i = 0; i < rows->n_cols; i++) {
        rc |= putstr(out, rows->cols[i].name);
        rc |= put32(out, 0);
        rc |= put16(out, 0);
        rc |= put32(out, rows->cols[i].oid);
        rc |= put16(out, (uint16_t)tb_srv_oid_len(rows->cols[i].oid));
        rc |= put32(out, 0xFFFFFFFFu);
        rc |= put16(out, (uint16_t)col_format(p, i));
    }
    return rc != TB_OK ? TB_E_NOMEM : msg_end(out, at);
}

/* Binary NUMERIC (base 10000 digits) from its text form. */
static tb_rc put_numeric_bin(tb_buf *out, const char *s, int32_t n)
{
    bool neg = n > 0 && s[0] == '-';
    const char *p = s + (neg ? 1 : 0), *end = s + n;
    const char *dot = memchr(p, '.', (size_t)(end - p));
    const char *ip_end = dot != NULL ? dot : end;
    int n_int = (int)(ip_end - p), n_frac = dot != NULL ? (int)(end - dot - 1) : 0;
    /* digits padded to groups of 4 around the decimal point */
    int lead = (4 - n_int % 4) % 4, trail = (4 - n_frac % 4) % 4;
    int total = lead + n_int + n_frac + trail;
    if (total / 4 > 1000)
        return TB_E_LIMIT;
    int16_t groups[1000];
    int ng = 0;
    char digits[4100];
    int k = 0;
    for (int i = 0; i < lead; i++)
        digits[k++] = '0';
    memcpy(digits + k, p, (size_t)n_int);
    k += n_int;
    if (dot != NULL)
        memcpy(digits + k, dot + 1, (size_t)n_frac);
    k += n_frac;
    for (int i = 0; i < trail; i++)
        digits[k++] = '0';
    for (int i = 0; i < k; i += 4)
        groups[ng++] = (int16_t)((digits[i] - '0') * 1000 + (digits[i + 1] - '0') * 100 +
                                 (digits[i + 2] - '0') * 10 + (digits[i + 3] - '0'));
    int weight = (lead + n_int) / 4 - 1;
    int first = 0;
    while (first < ng && groups[first] == 0) {
        first++;
        weight--;
    }
    int last = ng;
    while (last > first && groups[last - 1] == 0)
        last--;
    if (first == last)
        weight = 0;
    tb_rc rc = put32(out, (uint32_t)(8 + 2 * (last - first)));
    rc |= put16(out, (uint16_t)(last - first));
    rc |= put16(out, (uint16_t)(int16_t)weight);
    rc |= put16(out, neg ? 0x4000 : 0);
    rc |= put16(out, (uint16_t)n_frac);
    for (int i = first; i < last; i++)
        rc |= put16(out, (uint16_t)groups[i]);
    return rc;
}

/* One cell in binary format (the types clients ask binary for). */
static tb_rc put_cell_bin(tb_buf *out, uint32_t oid, const char *s, int32_t n)
{
    char tmp[128];
    if (n >= (int32_t)sizeof(tmp) && oid != TB_OID_TEXT && oid != TB_OID_VARCHAR &&
        oid != TB_OID_NUMERIC)
        return TB_E_LIMIT;
    if (oid != TB_OID_TEXT && oid != TB_OID_VARCHAR && oid != TB_OID_NUMERIC) {
        memcpy(tmp, s, (size_t)n);
        tmp[n] = '\0';
    }
    switch (oid) {
    case TB_OID_BOOL:
        return put32(out, 1) | put8(out, s[0] == 't');
    case TB_OID_INT2:
        return put32(out, 2) | put16(out, (uint16_t)(int16_t)strtol(tmp, NULL, 10));
    case TB_OID_INT4:
        return put32(out, 4) | put32(out, (uint32_t)(int32_t)strtol(tmp, NULL, 10));
    case TB_OID_INT8: {
        uint64_t v = (uint64_t)strtoll(tmp, NULL, 10);
        return put32(out, 8) | put32(out, (uint32_t)(v >> 32)) | put32(out, (uint32_t)v);
    }
    case TB_OID_FLOAT4: {
        float f = strtof(tmp, NULL);
        uint32_t u;
        memcpy(&u, &f, 4);
        return put32(out, 4) | put32(out, u);
    }
    case TB_OID_FLOAT8: {
        double d = strtod(tmp, NULL);
        uint64_t u;
        memcpy(&u, &d, 8);
        return put32(out, 8) | put32(out, (uint32_t)(u >> 32)) | put32(out, (uint32_t)u);
    }
    case TB_OID_DATE: {
        int32_t days = 0;
        if (!tb_parse_date(tmp, (size_t)n, &days))
            return TB_E_PARSE;
        return put32(out, 4) | put32(out, (uint32_t)(days - 10957)); /* since 2000-01-01 */
    }
    case TB_OID_TIMESTAMP: {
        int64_t us = 0;
        if (!tb_parse_timestamp(tmp, (size_t)n, &us))
            return TB_E_PARSE;
        uint64_t v = (uint64_t)(us - INT64_C(946684800000000));
        return put32(out, 8) | put32(out, (uint32_t)(v >> 32)) | put32(out, (uint32_t)v);
    }
    case TB_OID_NUMERIC:
        return put_numeric_bin(out, s, n);
    case TB_OID_TEXT:
    case TB_OID_VARCHAR:
        return put32(out, (uint32_t)n) | tb_buf_append(out, s, (size_t)n);
    default:
        return TB_E_UNSUPPORTED;
    }
}

static tb_rc send_row(tb_buf *out, const tb_srv_rows *rows, size_t r, const portal *p)
{
    bool any_bin = false;
    for (uint32_t i = 0; i < rows->n_cols; i++)
        any_bin |= col_format(p, i) == 1;
    size_t end = r + 1 < rows->n_rows ? rows->row_off[r + 1] : rows->data.len;
    size_t at = msg_begin(out, 'D');
    if (!any_bin) {
        if (tb_buf_append(out, rows->data.data + rows->row_off[r], end - rows->row_off[r]) !=
            TB_OK)
            return TB_E_NOMEM;
        return msg_end(out, at);
    }
    tb_rc rc = put16(out, (uint16_t)rows->n_cols);
    for (uint32_t i = 0; i < rows->n_cols && rc == TB_OK; i++) {
        const char *s;
        int32_t n;
        if (!tb_srv_rows_cell(rows, r, i, &s, &n))
            rc = put32(out, 0xFFFFFFFFu);
        else if (col_format(p, i) == 1)
            rc = put_cell_bin(out, rows->cols[i].oid, s, n);
        else
            rc = put32(out, (uint32_t)n) | tb_buf_append(out, s, (size_t)n);
    }
    if (rc != TB_OK) {
        out->len = at;
        return rc;
    }
    return msg_end(out, at);
}

static tb_rc send_complete(tb_buf *out, const char *tag)
{
    size_t at = msg_begin(out, 'C');
    (void)putstr(out, tag);
    return msg_end(out, at);
}

/* ---------------------------------------------------------------- input cursor */

typedef struct cur {
    const uint8_t *p;
    size_t n;
    bool bad;
} cur;

static uint8_t get8(cur *c)
{
    if (c->n < 1) {
        c->bad = true;
        return 0;
    }
    c->n--;
    return *c->p++;
}

static int16_t get16(cur *c)
{
    if (c->n < 2) {
        c->bad = true;
        c->n = 0;
        return 0;
    }
    int16_t v = (int16_t)((uint16_t)c->p[0] << 8 | c->p[1]);
    c->p += 2;
    c->n -= 2;
    return v;
}

static int32_t get32(cur *c)
{
    if (c->n < 4) {
        c->bad = true;
        c->n = 0;
        return 0;
    }
    int32_t v = (int32_t)((uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 |
                          (uint32_t)c->p[2] << 8 | c->p[3]);
    c->p += 4;
    c->n -= 4;
    return v;
}

/* A NUL-terminated string inside the message (pointer into it), or NULL. */
static const char *getstr(cur *c)
{
    const uint8_t *z = c->n > 0 ? memchr(c->p, 0, c->n) : NULL;
    if (z == NULL) {
        c->bad = true;
        c->n = 0;
        return NULL;
    }
    const char *s = (const char *)c->p;
    size_t k = (size_t)(z - c->p) + 1;
    c->p += k;
    c->n -= k;
    return s;
}

static const uint8_t *getbytes(cur *c, size_t n)
{
    if (c->n < n) {
        c->bad = true;
        c->n = 0;
        return NULL;
    }
    const uint8_t *p = c->p;
    c->p += n;
    c->n -= n;
    return p;
}

/* ---------------------------------------------------------------- statements, portals */

static void pstmt_clear(pstmt *s)
{
    tb_free(s->name);
    tb_free(s->sql);
    tb_free(s->param_oids);
    memset(s, 0, sizeof(*s));
}

static void portal_clear(portal *p)
{
    tb_free(p->name);
    tb_free(p->sql);
    tb_free(p->formats);
    tb_srv_rows_free(&p->rows);
    memset(p, 0, sizeof(*p));
}

static pstmt *find_stmt(tb_pgw *c, const char *name)
{
    for (size_t i = 0; i < c->n_stmts; i++)
        if (strcmp(c->stmts[i].name, name) == 0)
            return &c->stmts[i];
    return NULL;
}

static portal *find_portal(tb_pgw *c, const char *name)
{
    for (size_t i = 0; i < c->n_portals; i++)
        if (strcmp(c->portals[i].name, name) == 0)
            return &c->portals[i];
    return NULL;
}

static void drop_stmt(tb_pgw *c, const char *name)
{
    pstmt *s = find_stmt(c, name);
    if (s != NULL) {
        pstmt_clear(s);
        *s = c->stmts[--c->n_stmts];
    }
}

static void drop_portal(tb_pgw *c, const char *name)
{
    portal *p = find_portal(c, name);
    if (p != NULL) {
        portal_clear(p);
        *p = c->portals[--c->n_portals];
    }
}

/* Highest $n in sql outside quotes and comments. */
static uint32_t count_params(const char *sql)
{
    uint32_t max = 0;
    char q = 0;
    for (const char *p = sql; *p != '\0'; p++) {
        if (q) {
            if (*p == q)
                q = 0;
            continue;
        }
        if (*p == '\'' || *p == '"') {
            q = *p;
        } else if (p[0] == '-' && p[1] == '-') {
            while (p[1] != '\0' && p[1] != '\n')
                p++;
        } else if (*p == '$' && isdigit((unsigned char)p[1]) &&
                   (p == sql || !(isalnum((unsigned char)p[-1]) || p[-1] == '_'))) {
            unsigned long v = strtoul(p + 1, NULL, 10);
            if (v > max && v <= 65535)
                max = (uint32_t)v;
        }
    }
    return max;
}

static bool numeric_oid(uint32_t oid)
{
    return oid == TB_OID_INT2 || oid == TB_OID_INT4 || oid == TB_OID_INT8 ||
           oid == TB_OID_FLOAT4 || oid == TB_OID_FLOAT8 || oid == TB_OID_NUMERIC ||
           oid == TB_OID_OID;
}

static bool looks_numeric(const char *s)
{
    char *end = NULL;
    if (*s == '\0')
        return false;
    (void)strtod(s, &end);
    return *end == '\0' && strchr(s, 'x') == NULL && strchr(s, 'X') == NULL &&
           strpbrk(s, "nNiI") == NULL; /* not nan / inf / hex */
}

static tb_rc put_quoted(tb_buf *out, const char *v)
{
    tb_rc rc = tb_buf_putc(out, '\'');
    for (; *v != '\0' && rc == TB_OK; v++) {
        if (*v == '\'')
            rc = tb_buf_putc(out, '\'');
        if (rc == TB_OK)
            rc = tb_buf_putc(out, *v);
    }
    return rc == TB_OK ? tb_buf_putc(out, '\'') : rc;
}

/* sql with $n replaced by vals[n-1] as literals (NULL values: NULL). */
static char *substitute(const char *sql, char **vals, const uint32_t *oids, uint32_t n)
{
    tb_buf out = {0};
    char q = 0;
    tb_rc rc = TB_OK;
    for (const char *p = sql; *p != '\0' && rc == TB_OK;) {
        if (q) {
            if (*p == q)
                q = 0;
            rc = tb_buf_putc(&out, *p++);
            continue;
        }
        if (*p == '\'' || *p == '"') {
            q = *p;
            rc = tb_buf_putc(&out, *p++);
            continue;
        }
        if (*p == '$' && isdigit((unsigned char)p[1]) &&
            (p == sql || !(isalnum((unsigned char)p[-1]) || p[-1] == '_'))) {
            char *end = NULL;
            unsigned long k = strtoul(p + 1, &end, 10);
            if (k >= 1 && k <= n) {
                const char *v = vals[k - 1];
                uint32_t oid = oids != NULL ? oids[k - 1] : 0;
                if (v == NULL)
                    rc = tb_buf_puts(&out, "NULL");
                else if (numeric_oid(oid) && looks_numeric(v))
                    rc = tb_buf_printf(&out, "(%s)", v);
                else if (oid == TB_OID_BOOL)
                    rc = tb_buf_puts(&out, (v[0] == 't' || v[0] == 'T' || v[0] == '1' ||
                                           v[0] == 'y' || v[0] == 'Y' ||
                                           tb_str_ieq(v, "on"))
                                              ? "TRUE"
                                              : "FALSE");
                else {
                    rc = put_quoted(&out, v);
                    if (rc == TB_OK && numeric_oid(oid))
                        rc = tb_buf_puts(&out, "::numeric"); /* rejected by the cast */
                }
                p = end;
                continue;
            }
        }
        rc = tb_buf_putc(&out, *p++);
    }
    if (rc != TB_OK || tb_buf_cstr(&out) == NULL) {
        tb_buf_free(&out);
        return NULL;
    }
    return out.data;
}

/* A binary parameter as text, or NULL with *why set. */
static char *bin_param_text(uint32_t oid, const uint8_t *p, int32_t n, const char **why)
{
    char buf[64];
    switch (oid) {
    case TB_OID_BOOL:
        if (n != 1)
            break;
        return tb_strdup(p[0] ? "t" : "f");
    case TB_OID_INT2:
        if (n != 2)
            break;
        snprintf(buf, sizeof(buf), "%d", (int16_t)((uint16_t)p[0] << 8 | p[1]));
        return tb_strdup(buf);
    case TB_OID_INT4:
    case TB_OID_OID:
        if (n != 4)
            break;
        snprintf(buf, sizeof(buf), "%d",
                 (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]));
        return tb_strdup(buf);
    case TB_OID_INT8: {
        if (n != 8)
            break;
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
            v = v << 8 | p[i];
        snprintf(buf, sizeof(buf), "%lld", (long long)(int64_t)v);
        return tb_strdup(buf);
    }
    case TB_OID_FLOAT4: {
        if (n != 4)
            break;
        uint32_t u = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        float f;
        memcpy(&f, &u, 4);
        snprintf(buf, sizeof(buf), "%.9g", (double)f);
        return tb_strdup(buf);
    }
    case TB_OID_FLOAT8: {
        if (n != 8)
            break;
        uint64_t u = 0;
        for (int i = 0; i < 8; i++)
            u = u << 8 | p[i];
        double d;
        memcpy(&d, &u, 8);
        snprintf(buf, sizeof(buf), "%.17g", d);
        return tb_strdup(buf);
    }
    case 0:
    case TB_OID_TEXT:
    case TB_OID_VARCHAR:
    case TB_OID_UNKNOWN:
        if (!tb_utf8_valid((const char *)p, (size_t)n) || memchr(p, 0, (size_t)n) != NULL)
            break;
        return tb_strndup((const char *)p, (size_t)n);
    default:
        *why = "binary format for this parameter type is not supported (send it as text)";
        return NULL;
    }
    *why = "incorrect binary data format in bind parameter";
    return NULL;
}

/* ---------------------------------------------------------------- running */

static void limits_of(tb_pgw *c, tb_srv_limits *lim)
{
    atomic_store(&c->budget.used, 0);
    atomic_store(&c->budget.stop, 0);
    atomic_store(&c->budget.exceeded, 0);
    atomic_store(&c->cancelled, 0);
    lim->timeout_ms = tb_srv_session_timeout_ms(&c->sess);
    lim->mem_limit = tb_srv_session_mem_limit(&c->sess);
    c->budget.limit = lim->mem_limit;
    lim->budget = &c->budget;
    lim->cancelled = &c->cancelled;
    lim->no_lock = false;
}

/* Execute one statement (or describe it) honouring the transaction state. */
static tb_rc run_stmt(tb_pgw *c, const char *sql, bool describe_only, tb_srv_rows *rows,
                      tb_err *err)
{
    char word[32];
    tb_srv_kind kind = tb_srv_classify(sql, word, sizeof(word));
    if (c->txn == 'E' && kind != TB_SK_ROLLBACK && kind != TB_SK_COMMIT)
        return TB_ERRF(err, TB_E_ERROR, "current transaction is aborted, commands ignored "
                                        "until end of transaction block");
    tb_srv_limits lim;
    limits_of(c, &lim);
    if (c->env.srv != NULL && lim.timeout_ms > 0)
        tb_srv_watch(c->env.srv, &c->budget, tb_now_ns() + lim.timeout_ms * 1000000);
    tb_rc rc = tb_srv_execute(c->env.srv, c->env.db, &c->sess, sql, &lim, describe_only, rows,
                              err);
    if (c->env.srv != NULL && lim.timeout_ms > 0)
        tb_srv_unwatch(c->env.srv, &c->budget);
    if (rc == TB_OK && !describe_only) {
        if (kind == TB_SK_BEGIN)
            c->txn = 'T';
        else if (kind == TB_SK_COMMIT || kind == TB_SK_ROLLBACK)
            c->txn = 'I';
        else if (kind == TB_SK_DEALLOCATE) {
            const char *p = strcasestr(sql, "DEALLOCATE") + 10;
            while (isspace((unsigned char)*p))
                p++;
            if (tb_str_nieq(p, 7, "PREPARE"))
                p += 7;
            while (isspace((unsigned char)*p))
                p++;
            char name[128];
            size_t n = 0;
            while (*p != '\0' && *p != ';' && !isspace((unsigned char)*p) && n < 127)
                name[n++] = *p++;
            name[n] = '\0';
            if (tb_str_ieq(name, "ALL")) {
                while (c->n_stmts > 0)
                    drop_stmt(c, c->stmts[0].name);
            } else {
                drop_stmt(c, name);
            }
        }
    }
    if (rc != TB_OK && err->code == TB_E_MISUSE && strstr(err->msg, "aborted") != NULL)
        err->code = TB_E_ERROR;
    return rc;
}

/* Simple query: every statement in turn, stopping at the first error. */
static tb_rc simple_query(tb_pgw *c, const char *sql, tb_buf *out)
{
    if (!tb_utf8_valid(sql, strlen(sql)))
        return send_error(out, "ERROR", "22021", "invalid byte sequence for encoding \"UTF8\"",
                          NULL, -1) |
               send_ready(c, out);
    /* the parser, not the scanner: a syntax error anywhere fails the whole string before
     * any statement runs, as in PostgreSQL */
    PgQuerySplitResult sr = pg_query_split_with_parser(sql);
    tb_rc rc = TB_OK;
    if (sr.error != NULL) {
        rc = send_error(out, "ERROR", "42601", sr.error->message, sql, sr.error->cursorpos - 1);
        if (c->txn == 'T')
            c->txn = 'E';
        pg_query_free_split_result(sr);
        return rc | send_ready(c, out);
    }
    int n_real = 0;
    for (int i = 0; i < sr.n_stmts && rc == TB_OK; i++) {
        const PgQuerySplitStmt *st = sr.stmts[i];
        if (st->stmt_location < 0 || st->stmt_len < 0 ||
            (size_t)st->stmt_location + (size_t)st->stmt_len > strlen(sql))
            continue;
        char *one = tb_strndup(sql + st->stmt_location,
                               st->stmt_len > 0 ? (size_t)st->stmt_len : strlen(sql + st->stmt_location));
        if (one == NULL) {
            rc = TB_E_NOMEM;
            break;
        }
        char word[8];
        if (tb_srv_classify(one, word, sizeof(word)) == TB_SK_EMPTY) {
            tb_free(one);
            continue;
        }
        n_real++;
        tb_srv_rows rows = {0};
        tb_err err;
        tb_err_clear(&err);
        tb_rc r = run_stmt(c, one, false, &rows, &err);
        if (r != TB_OK) {
            const char *state = tb_srv_err_sqlstate(&err);
            if (c->txn == 'T')
                c->txn = 'E';
            rc = send_error(out, "ERROR", state, err.msg, sql,
                            err.pos >= 0 ? st->stmt_location + err.pos : -1);
            tb_srv_rows_free(&rows);
            tb_free(one);
            break;
        }
        if (rows.has_rows) {
            rc = send_row_desc(out, &rows, NULL);
            for (size_t k = 0; k < rows.n_rows && rc == TB_OK; k++)
                rc = send_row(out, &rows, k, NULL);
        }
        if (rc == TB_OK)
            rc = send_complete(out, rows.tag[0] != '\0' ? rows.tag : "SELECT 0");
        tb_srv_rows_free(&rows);
        tb_free(one);
    }
    pg_query_free_split_result(sr);
    if (rc == TB_OK && n_real == 0)
        rc = send_simple(out, 'I'); /* EmptyQueryResponse */
    return rc | send_ready(c, out);
}

/* Extended query: report an error and skip to Sync. */
static tb_rc ext_error(tb_pgw *c, tb_buf *out, const char *state, const char *msg)
{
    c->skip_to_sync = true;
    if (c->txn == 'T')
        c->txn = 'E';
    return send_error(out, "ERROR", state, msg, NULL, -1);
}

static tb_rc on_parse(tb_pgw *c, cur *m, tb_buf *out)
{
    const char *name = getstr(m);
    const char *sql = getstr(m);
    int16_t n = get16(m);
    if (m->bad || n < 0)
        return TB_E_PARSE;
    if (!tb_utf8_valid(sql, strlen(sql)))
        return ext_error(c, out, "22021", "invalid byte sequence for encoding \"UTF8\"");
    PgQuerySplitResult sr = pg_query_split_with_scanner(sql);
    int n_stmts = sr.error == NULL ? sr.n_stmts : 1;
    pg_query_free_split_result(sr);
    if (n_stmts > 1)
        return ext_error(c, out, "42601",
                         "cannot insert multiple commands into a prepared statement");
    if (name[0] != '\0' && find_stmt(c, name) != NULL) {
        char msg[200];
        snprintf(msg, sizeof(msg), "prepared statement \"%.100s\" already exists", name);
        return ext_error(c, out, "42P05", msg);
    }
    drop_stmt(c, "");
    if (c->n_stmts >= TB_PGW_MAX_NAMED)
        return ext_error(c, out, "54000", "too many prepared statements on this connection");
    uint32_t np = count_params(sql);
    if ((uint32_t)n > np)
        np = (uint32_t)n;
    pstmt s = {0};
    s.name = tb_strdup(name);
    s.sql = tb_strdup(sql);
    s.n_params = np;
    s.param_oids = tb_calloc(np + 1, sizeof(uint32_t));
    if (s.name == NULL || s.sql == NULL || s.param_oids == NULL ||
        tb_grow((void **)&c->stmts, &c->cap_stmts, c->n_stmts + 1, sizeof(pstmt)) != TB_OK) {
        pstmt_clear(&s);
        return TB_E_NOMEM;
    }
    for (int16_t i = 0; i < n; i++)
        s.param_oids[i] = (uint32_t)get32(m);
    if (m->bad) {
        pstmt_clear(&s);
        return TB_E_PARSE;
    }
    c->stmts[c->n_stmts++] = s;
    return send_simple(out, '1');
}

static tb_rc on_bind(tb_pgw *c, cur *m, tb_buf *out)
{
    const char *pname = getstr(m);
    const char *sname = getstr(m);
    int16_t n_pf = get16(m);
    if (m->bad || n_pf < 0)
        return TB_E_PARSE;
    const uint8_t *pf = getbytes(m, (size_t)n_pf * 2);
    int16_t n_vals = get16(m);
    if (m->bad || n_vals < 0)
        return TB_E_PARSE;
    pstmt *s = find_stmt(c, sname);
    if (s == NULL) {
        char msg[200];
        snprintf(msg, sizeof(msg), "prepared statement \"%.100s\" does not exist", sname);
        return ext_error(c, out, "26000", msg);
    }
    if ((uint32_t)n_vals != s->n_params) {
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "bind message supplies %d parameters, but prepared statement \"%.100s\" "
                 "requires %u",
                 n_vals, sname, s->n_params);
        return ext_error(c, out, "08P01", msg);
    }
    if (n_pf > 1 && n_pf != n_vals)
        return TB_E_PARSE;
    char **vals = tb_calloc((size_t)n_vals + 1, sizeof(char *));
    tb_rc rc = vals == NULL ? TB_E_NOMEM : TB_OK;
    const char *why = NULL;
    for (int16_t i = 0; i < n_vals && rc == TB_OK && why == NULL; i++) {
        int32_t len = get32(m);
        if (m->bad || len < -1) {
            rc = TB_E_PARSE;
            break;
        }
        if (len == -1)
            continue;
        const uint8_t *p = getbytes(m, (size_t)len);
        if (p == NULL) {
            rc = TB_E_PARSE;
            break;
        }
        int fmt = n_pf == 0 ? 0 : ((const uint8_t *)pf)[(n_pf == 1 ? 0 : i) * 2 + 1];
        if (fmt == 1) {
            vals[i] = bin_param_text(s->param_oids[i], p, len, &why);
        } else if (!tb_utf8_valid((const char *)p, (size_t)len) ||
                   memchr(p, 0, (size_t)len) != NULL) {
            why = "invalid byte sequence for encoding \"UTF8\"";
        } else {
            vals[i] = tb_strndup((const char *)p, (size_t)len);
            if (vals[i] == NULL)
                rc = TB_E_NOMEM;
        }
    }
    int16_t n_rf = rc == TB_OK ? get16(m) : 0;
    if (rc == TB_OK && (m->bad || n_rf < 0))
        rc = TB_E_PARSE;
    portal p = {0};
    if (rc == TB_OK && why == NULL) {
        p.formats = tb_calloc((size_t)n_rf + 1, sizeof(int16_t));
        p.n_formats = (uint32_t)n_rf;
        for (int16_t i = 0; p.formats != NULL && i < n_rf; i++) {
            p.formats[i] = get16(m);
            if (p.formats[i] != 0 && p.formats[i] != 1)
                why = "unsupported format code";
        }
        if (m->bad)
            rc = TB_E_PARSE;
        p.name = tb_strdup(pname);
        p.sql = substitute(s->sql, vals, s->param_oids, s->n_params);
        if (rc == TB_OK && (p.formats == NULL || p.name == NULL || p.sql == NULL))
            rc = TB_E_NOMEM;
    }
    for (int16_t i = 0; vals != NULL && i < n_vals; i++)
        tb_free(vals[i]);
    tb_free(vals);
    if (rc == TB_OK && why != NULL) {
        portal_clear(&p);
        return ext_error(c, out, strstr(why, "UTF8") ? "22021" : "22P03", why);
    }
    if (rc != TB_OK) {
        portal_clear(&p);
        return rc;
    }
    drop_portal(c, pname);
    if (c->n_portals >= TB_PGW_MAX_NAMED ||
        tb_grow((void **)&c->portals, &c->cap_portals, c->n_portals + 1, sizeof(portal)) != TB_OK) {
        portal_clear(&p);
        return ext_error(c, out, "54000", "too many portals on this connection");
    }
    c->portals[c->n_portals++] = p;
    return send_simple(out, '2');
}

static void portal_run(tb_pgw *c, portal *p)
{
    if (p->executed)
        return;
    p->executed = true;
    tb_err_clear(&p->err);
    p->rc = run_stmt(c, p->sql, false, &p->rows, &p->err);
}

static tb_rc on_describe(tb_pgw *c, cur *m, tb_buf *out)
{
    uint8_t what = get8(m);
    const char *name = getstr(m);
    if (m->bad)
        return TB_E_PARSE;
    if (what == 'S') {
        pstmt *s = find_stmt(c, name);
        if (s == NULL) {
            char msg[200];
            snprintf(msg, sizeof(msg), "prepared statement \"%.100s\" does not exist", name);
            return ext_error(c, out, "26000", msg);
        }
        size_t at = msg_begin(out, 't');
        tb_rc rc = put16(out, (uint16_t)s->n_params);
        for (uint32_t i = 0; i < s->n_params; i++)
            rc |= put32(out, s->param_oids[i] != 0 ? s->param_oids[i] : TB_OID_TEXT);
        rc |= msg_end(out, at);
        char **nulls = tb_calloc(s->n_params + 1, sizeof(char *));
        char *sql = nulls != NULL ? substitute(s->sql, nulls, s->param_oids, s->n_params) : NULL;
        tb_free(nulls);
        if (sql == NULL)
            return TB_E_NOMEM;
        tb_srv_rows rows = {0};
        tb_err err;
        tb_err_clear(&err);
        tb_rc r = run_stmt(c, sql, true, &rows, &err);
        if (r != TB_OK)
            rc |= send_err(c, out, &err, NULL, 0), c->skip_to_sync = true;
        else if (rows.has_rows)
            rc |= send_row_desc(out, &rows, NULL);
        else
            rc |= send_simple(out, 'n');
        tb_srv_rows_free(&rows);
        tb_free(sql);
        return rc;
    }
    if (what != 'P')
        return TB_E_PARSE;
    portal *p = find_portal(c, name);
    if (p == NULL) {
        char msg[200];
        snprintf(msg, sizeof(msg), "portal \"%.100s\" does not exist", name);
        return ext_error(c, out, "34000", msg);
    }
    portal_run(c, p);
    if (p->rc != TB_OK) {
        c->skip_to_sync = true;
        return send_err(c, out, &p->err, NULL, 0);
    }
    return p->rows.has_rows ? send_row_desc(out, &p->rows, p) : send_simple(out, 'n');
}

static tb_rc on_execute(tb_pgw *c, cur *m, tb_buf *out)
{
    const char *name = getstr(m);
    int32_t max = get32(m);
    if (m->bad)
        return TB_E_PARSE;
    portal *p = find_portal(c, name);
    if (p == NULL) {
        char msg[200];
        snprintf(msg, sizeof(msg), "portal \"%.100s\" does not exist", name);
        return ext_error(c, out, "34000", msg);
    }
    portal_run(c, p);
    if (p->rc != TB_OK) {
        c->skip_to_sync = true;
        return send_err(c, out, &p->err, NULL, 0);
    }
    char word[8];
    if (tb_srv_classify(p->sql, word, sizeof(word)) == TB_SK_EMPTY)
        return send_simple(out, 'I');
    tb_rc rc = TB_OK;
    size_t end = p->rows.n_rows;
    if (max > 0 && p->sent + (size_t)max < end)
        end = p->sent + (size_t)max;
    for (; p->sent < end && rc == TB_OK; p->sent++)
        rc = send_row(out, &p->rows, p->sent, p);
    if (rc == TB_E_UNSUPPORTED || rc == TB_E_PARSE || rc == TB_E_LIMIT)
        return ext_error(c, out, "0A000", "binary output is not supported for this column type");
    if (rc != TB_OK)
        return rc;
    if (p->sent < p->rows.n_rows)
        return send_simple(out, 's'); /* PortalSuspended */
    return send_complete(out, p->rows.tag[0] != '\0' ? p->rows.tag : "SELECT 0");
}

static tb_rc on_close(tb_pgw *c, cur *m, tb_buf *out)
{
    uint8_t what = get8(m);
    const char *name = getstr(m);
    if (m->bad || (what != 'S' && what != 'P'))
        return TB_E_PARSE;
    if (what == 'S')
        drop_stmt(c, name);
    else
        drop_portal(c, name);
    return send_simple(out, '3');
}

/* ---------------------------------------------------------------- startup */

static tb_rc send_fatal(tb_pgw *c, tb_buf *out, const char *state, const char *msg)
{
    c->state = ST_CLOSED;
    return send_error(out, "FATAL", state, msg, NULL, -1);
}

static tb_rc greet(tb_pgw *c, tb_buf *out)
{
    size_t at = msg_begin(out, 'R');
    tb_rc rc = put32(out, 0); /* AuthenticationOk */
    rc |= msg_end(out, at);
    static const char *const keys[] = {"server_version",  "server_encoding",
                                       "client_encoding", "DateStyle",
                                       "TimeZone",        "integer_datetimes",
                                       "standard_conforming_strings", "IntervalStyle",
                                       "is_superuser",    "application_name"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *v = tb_srv_guc_get(&c->sess, keys[i]);
        rc |= send_param_status(out, keys[i], v != NULL ? v : "");
    }
    rc |= send_param_status(out, "session_authorization", c->sess.user);
    at = msg_begin(out, 'K');
    rc |= put32(out, (uint32_t)c->env.pid);
    rc |= put32(out, (uint32_t)c->env.key);
    rc |= msg_end(out, at);
    c->state = ST_READY;
    return rc | send_ready(c, out);
}

static tb_rc on_startup(tb_pgw *c, cur *m, tb_buf *out)
{
    int32_t code = get32(m);
    if (m->bad)
        return send_fatal(c, out, "08P01", "invalid startup packet layout");
    if (code == 80877103 || code == 80877104) /* SSLRequest, GSSENCRequest: no */
        return put8(out, 'N');
    if (code == 80877102) { /* CancelRequest */
        int32_t pid = get32(m), key = get32(m);
        if (!m->bad && c->env.cancel != NULL)
            c->env.cancel(c->env.cancel_ud, pid, key);
        c->state = ST_CLOSED;
        return TB_OK;
    }
    if ((code >> 16) != 3) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "unsupported frontend protocol %d.%d: server supports 3.0 to 3.0", code >> 16,
                 code & 0xFFFF);
        return send_fatal(c, out, "0A000", msg);
    }
    for (;;) {
        const char *k = getstr(m);
        if (k == NULL)
            return send_fatal(c, out, "08P01", "invalid startup packet layout: expected "
                                               "terminator as last byte");
        if (k[0] == '\0')
            break;
        const char *v = getstr(m);
        if (v == NULL)
            return send_fatal(c, out, "08P01", "invalid startup packet layout: expected "
                                               "terminator as last byte");
        if (!tb_utf8_valid(k, strlen(k)) || !tb_utf8_valid(v, strlen(v)))
            return send_fatal(c, out, "22021", "invalid byte sequence for encoding \"UTF8\" "
                                               "in the startup packet");
        tb_rc rc = TB_OK;
        if (strcmp(k, "user") == 0) {
            tb_free(c->sess.user);
            rc = (c->sess.user = tb_strdup(v)) == NULL ? TB_E_NOMEM : TB_OK;
        } else if (strcmp(k, "database") == 0) {
            tb_free(c->sess.database);
            rc = (c->sess.database = tb_strdup(v)) == NULL ? TB_E_NOMEM : TB_OK;
        } else if (strcmp(k, "options") != 0 && strcmp(k, "replication") != 0) {
            rc = tb_srv_guc_set(&c->sess, k, v);
        }
        if (rc != TB_OK)
            return send_fatal(c, out, "53200", "out of memory in the startup packet");
    }
    if (c->sess.user == NULL || c->sess.user[0] == '\0')
        return send_fatal(c, out, "28000", "no PostgreSQL user name specified in startup packet");
    if (c->env.token != NULL) {
        size_t at = msg_begin(out, 'R');
        tb_rc rc = put32(out, 10); /* AuthenticationSASL */
        rc |= putstr(out, "SCRAM-SHA-256");
        rc |= put8(out, 0);
        c->state = ST_AUTH;
        return rc | msg_end(out, at);
    }
    return greet(c, out);
}

static tb_rc auth_failed(tb_pgw *c, tb_buf *out)
{
    char msg[200];
    snprintf(msg, sizeof(msg), "password authentication failed for user \"%.100s\"",
             c->sess.user);
    return send_fatal(c, out, "28P01", msg);
}

static char *b64(const uint8_t *p, size_t n)
{
    char *o = tb_malloc(4 * ((n + 2) / 3) + 1);
    if (o != NULL)
        EVP_EncodeBlock((unsigned char *)o, p, (int)n);
    return o;
}

/* Decode base64 into out (cap bytes); -1 if malformed or too long. */
static int unb64(const char *s, size_t n, uint8_t *out, size_t cap)
{
    if (n == 0 || n % 4 != 0 || n / 4 * 3 > cap)
        return -1;
    int k = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
    if (k < 0)
        return -1;
    if (s[n - 1] == '=')
        k--;
    if (s[n - 2] == '=')
        k--;
    return k;
}

static void hmac256(const uint8_t *key, size_t klen, const void *msg, size_t n, uint8_t *out)
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)klen, msg, n, out, &len);
}

/* The value of attribute `a` ("r", "p", ...) in a SCRAM message, or NULL. */
static const char *scram_attr(const char *msg, char a, size_t *len)
{
    for (const char *p = msg; p != NULL && *p != '\0';) {
        if (p[0] == a && p[1] == '=') {
            const char *e = strchr(p, ',');
            *len = e != NULL ? (size_t)(e - p - 2) : strlen(p + 2);
            return p + 2;
        }
        p = strchr(p, ',');
        if (p != NULL)
            p++;
    }
    return NULL;
}

/* SASLInitialResponse: mechanism, client-first-message "n,,n=user,r=nonce". */
static tb_rc scram_first(tb_pgw *c, cur *m, tb_buf *out)
{
    const char *mech = getstr(m);
    int32_t len = get32(m);
    if (m->bad || len < 0 || (size_t)len != m->n)
        return send_fatal(c, out, "08P01", "malformed SASLInitialResponse");
    if (strcmp(mech, "SCRAM-SHA-256") != 0)
        return send_fatal(c, out, "28000", "SASL authentication mechanism not supported "
                                           "(SCRAM-SHA-256 only)");
    char *msg = tb_strndup((const char *)m->p, (size_t)len);
    if (msg == NULL)
        return TB_E_NOMEM;
    /* gs2 header: no channel binding (we refuse SSL): "n,," or "y,," */
    const char *bare = NULL;
    if ((msg[0] == 'n' || msg[0] == 'y') && msg[1] == ',' && msg[2] == ',')
        bare = msg + 3;
    size_t nlen = 0;
    const char *cnonce = bare != NULL ? scram_attr(bare, 'r', &nlen) : NULL;
    if (cnonce == NULL || nlen == 0 || nlen > 256 || memchr(cnonce, 0, nlen) != NULL) {
        tb_free(msg);
        return send_fatal(c, out, "08P01", "malformed SCRAM client-first-message");
    }
    uint8_t rnd[18];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1 || RAND_bytes(c->scram_salt, 16) != 1) {
        tb_free(msg);
        return send_fatal(c, out, "XX000", "no random bytes for SCRAM");
    }
    char *snonce = b64(rnd, sizeof(rnd)), *salt = b64(c->scram_salt, 16);
    tb_buf nonce = {0}, first = {0};
    tb_rc rc = TB_OK;
    if (snonce == NULL || salt == NULL || tb_buf_append(&nonce, cnonce, nlen) != TB_OK ||
        tb_buf_puts(&nonce, snonce) != TB_OK || tb_buf_cstr(&nonce) == NULL ||
        tb_buf_printf(&first, "r=%s,s=%s,i=4096", nonce.data, salt) != TB_OK ||
        tb_buf_cstr(&first) == NULL)
        rc = TB_E_NOMEM;
    tb_free(snonce);
    tb_free(salt);
    if (rc == TB_OK) {
        c->scram_client_first_bare = tb_strdup(bare);
        c->scram_nonce = nonce.data;
        c->scram_server_first = first.data;
        nonce.data = first.data = NULL;
        if (c->scram_client_first_bare == NULL)
            rc = TB_E_NOMEM;
    }
    tb_buf_free(&nonce);
    tb_buf_free(&first);
    tb_free(msg);
    if (rc != TB_OK)
        return rc;
    size_t at = msg_begin(out, 'R');
    rc = put32(out, 11); /* AuthenticationSASLContinue */
    rc |= tb_buf_puts(out, c->scram_server_first);
    c->scram_step = 1;
    return rc | msg_end(out, at);
}

/* SASLResponse: client-final-message "c=biws,r=nonce,p=proof". */
static tb_rc scram_final(tb_pgw *c, cur *m, tb_buf *out)
{
    char *msg = tb_strndup((const char *)m->p, m->n);
    if (msg == NULL)
        return TB_E_NOMEM;
    size_t rlen = 0, plen = 0, clen = 0;
    const char *r = scram_attr(msg, 'r', &rlen), *p = scram_attr(msg, 'p', &plen);
    const char *cb = scram_attr(msg, 'c', &clen);
    const char *pstart = strstr(msg, ",p=");
    uint8_t proof[64];
    int proof_len = p != NULL ? unb64(p, plen, proof, sizeof(proof)) : -1;
    bool ok = r != NULL && cb != NULL && pstart != NULL && proof_len == 32 &&
              rlen == strlen(c->scram_nonce) && memcmp(r, c->scram_nonce, rlen) == 0 &&
              ((clen == 4 && (memcmp(cb, "biws", 4) == 0 || memcmp(cb, "eSws", 4) == 0)));
    tb_rc rc = TB_OK;
    if (ok) {
        uint8_t salted[32], client_key[32], stored[32], sig[32], server_key[32], ssig[32];
        PKCS5_PBKDF2_HMAC(c->env.token, (int)strlen(c->env.token), c->scram_salt, 16, 4096,
                          EVP_sha256(), 32, salted);
        hmac256(salted, 32, "Client Key", 10, client_key);
        unsigned int sl = 32;
        EVP_Digest(client_key, 32, stored, &sl, EVP_sha256(), NULL);
        tb_buf auth = {0};
        if (tb_buf_printf(&auth, "%s,%s,%.*s", c->scram_client_first_bare,
                          c->scram_server_first, (int)(pstart - msg), msg) != TB_OK) {
            tb_free(msg);
            return TB_E_NOMEM;
        }
        hmac256(stored, 32, auth.data, auth.len, sig);
        uint8_t key[32], check[32];
        for (int i = 0; i < 32; i++)
            key[i] = proof[i] ^ sig[i];
        EVP_Digest(key, 32, check, &sl, EVP_sha256(), NULL);
        unsigned diff = 0;
        for (int i = 0; i < 32; i++)
            diff |= (unsigned)(check[i] ^ stored[i]);
        ok = diff == 0;
        if (ok) {
            hmac256(salted, 32, "Server Key", 10, server_key);
            hmac256(server_key, 32, auth.data, auth.len, ssig);
            char *v = b64(ssig, 32);
            size_t at = msg_begin(out, 'R');
            rc = put32(out, 12); /* AuthenticationSASLFinal */
            rc |= tb_buf_puts(out, "v=");
            rc |= tb_buf_puts(out, v != NULL ? v : "");
            rc |= msg_end(out, at);
            tb_free(v);
        }
        tb_buf_free(&auth);
    }
    tb_free(msg);
    if (rc != TB_OK)
        return rc;
    return ok ? greet(c, out) : auth_failed(c, out);
}

static tb_rc on_password(tb_pgw *c, cur *m, tb_buf *out)
{
    return c->scram_step == 0 ? scram_first(c, m, out) : scram_final(c, m, out);
}

/* ---------------------------------------------------------------- feed */

static tb_rc on_message(tb_pgw *c, uint8_t type, cur *m, tb_buf *out)
{
    if (c->state == ST_AUTH) {
        if (type != 'p')
            return send_fatal(c, out, "08P01", "expected SASL response");
        return on_password(c, m, out);
    }
    if (c->skip_to_sync && type != 'S' && type != 'X')
        return TB_OK;
    tb_rc rc;
    switch (type) {
    case 'Q': {
        const char *sql = getstr(m);
        rc = sql == NULL || m->n != 0 ? TB_E_PARSE : simple_query(c, sql, out);
        break;
    }
    case 'P':
        rc = on_parse(c, m, out);
        break;
    case 'B':
        rc = on_bind(c, m, out);
        break;
    case 'D':
        rc = on_describe(c, m, out);
        break;
    case 'E':
        rc = on_execute(c, m, out);
        break;
    case 'C':
        rc = on_close(c, m, out);
        break;
    case 'S':
        c->skip_to_sync = false;
        drop_portal(c, "");
        return send_ready(c, out);
    case 'H':
        return TB_OK;
    case 'X':
        c->state = ST_CLOSED;
        return TB_OK;
    case 'F':
        return ext_error(c, out, "0A000", "the function call protocol is not supported");
    case 'd':
    case 'c':
    case 'f':
        return TB_OK; /* COPY data outside COPY: ignored, as PostgreSQL does */
    default: {
        char msg[80];
        snprintf(msg, sizeof(msg), "invalid frontend message type %d", type);
        return send_fatal(c, out, "08P01", msg);
    }
    }
    if (rc == TB_E_PARSE) {
        char msg[80];
        snprintf(msg, sizeof(msg), "invalid message format ('%c' message)", type);
        return send_fatal(c, out, "08P01", msg);
    }
    return rc;
}

tb_rc tb_pgw_feed(tb_pgw *c, const uint8_t *data, size_t len, tb_buf *out, bool *out_close)
{
    *out_close = false;
    if (c->state == ST_CLOSED) {
        *out_close = true;
        return TB_OK;
    }
    if (len > 0 && tb_buf_append(&c->in, data, len) != TB_OK)
        return TB_E_NOMEM;
    tb_rc rc = TB_OK;
    while (rc == TB_OK && c->state != ST_CLOSED) {
        const uint8_t *p = (const uint8_t *)c->in.data + c->in_off;
        size_t avail = c->in.len - c->in_off;
        bool startup = c->state == ST_STARTUP;
        size_t hdr = startup ? 4 : 5;
        if (avail < hdr)
            break;
        const uint8_t *lp = startup ? p : p + 1;
        uint32_t mlen = (uint32_t)lp[0] << 24 | (uint32_t)lp[1] << 16 | (uint32_t)lp[2] << 8 |
                        lp[3];
        uint32_t limit = startup ? TB_PGW_MAX_STARTUP : TB_PGW_MAX_MSG;
        if (mlen < 4 || mlen > limit) {
            char msg[160];
            snprintf(msg, sizeof(msg), "invalid %s length %u (must be 4 to %u bytes)",
                     startup ? "startup packet" : "message", mlen, limit);
            rc = send_fatal(c, out, "08P01", msg);
            break;
        }
        if (avail < (startup ? 0 : 1) + (size_t)mlen)
            break; /* wait for the rest (bounded by the check above) */
        cur m = {lp + 4, mlen - 4, false};
        c->in_off += (startup ? 0 : 1) + (size_t)mlen;
        rc = startup ? on_startup(c, &m, out) : on_message(c, p[0], &m, out);
    }
    /* keep the buffer small: drop what was consumed */
    if (c->in_off > 0) {
        size_t rest = c->in.len - c->in_off;
        memmove(c->in.data, c->in.data + c->in_off, rest);
        c->in.len = rest;
        c->in_off = 0;
        if (c->in.cap > (1u << 20) && rest == 0)
            tb_buf_free(&c->in); /* a large message passed: give its buffer back */
    }
    *out_close = c->state == ST_CLOSED;
    return rc;
}

tb_pgw *tb_pgw_new(const tb_pgw_env *env)
{
    tb_pgw *c = tb_calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->env = *env;
    c->txn = 'I';
    c->sess.pid = env->pid;
    c->sess.default_timeout_ms = env->timeout_ms;
    c->sess.default_mem_limit = env->mem_limit;
    return c;
}

void tb_pgw_free(tb_pgw *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_stmts; i++)
        pstmt_clear(&c->stmts[i]);
    tb_free(c->stmts);
    for (size_t i = 0; i < c->n_portals; i++)
        portal_clear(&c->portals[i]);
    tb_free(c->portals);
    tb_buf_free(&c->in);
    tb_srv_session_free(&c->sess);
    tb_free(c->scram_client_first_bare);
    tb_free(c->scram_server_first);
    tb_free(c->scram_nonce);
    tb_free(c);
}

void tb_pgw_cancel(tb_pgw *c)
{
    atomic_store(&c->cancelled, 1);
    atomic_store(&c->budget.stop, 1);
}

int32_t tb_pgw_pid(const tb_pgw *c) { return c->env.pid; }
int32_t tb_pgw_key(const tb_pgw *c) { return c->env.key; }
