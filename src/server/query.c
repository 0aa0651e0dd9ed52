/*
 * query.c - running a served statement: classification, session settings (SET, SHOW),
 * read-only enforcement, and SELECTs run under the db's read lock into a materialised
 * tb_srv_rows bounded in time and memory (srv_int.h explains why rows are
 * materialised before they are sent).
 *
 * Bounds: the read lock is awaited at most statement_timeout; while the query runs its
 * allocations count against a tb_mem_budget (util.h) whose stop flag the server's
 * watchdog sets at the deadline and a cancel request sets at once, so a runaway
 * operator fails at its next allocation, and the row loop checks the flag between
 * batches. The rows themselves are allocated under the same budget.
 */
#include <stdio.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv_int.h"

/* ---------------------------------------------------------------- types */

uint32_t tb_srv_type_oid(tb_type t)
{
    switch ((tb_type_id)t.id) {
    case TB_T_BOOL:
        return TB_OID_BOOL;
    case TB_T_INT16:
        return TB_OID_INT2;
    case TB_T_INT32:
        return TB_OID_INT4;
    case TB_T_INT64:
        return TB_OID_INT8;
    case TB_T_FLOAT:
        return TB_OID_FLOAT4;
    case TB_T_DOUBLE:
        return TB_OID_FLOAT8;
    case TB_T_DECIMAL:
        return TB_OID_NUMERIC;
    case TB_T_DATE:
        return TB_OID_DATE;
    case TB_T_TIMESTAMP:
        return TB_OID_TIMESTAMP;
    case TB_T_INTERVAL:
        return TB_OID_INTERVAL;
    default:
        return TB_OID_TEXT; /* strings, and a bare NULL as PostgreSQL reports it */
    }
}

int16_t tb_srv_oid_len(uint32_t oid)
{
    switch (oid) {
    case TB_OID_BOOL:
        return 1;
    case TB_OID_INT2:
        return 2;
    case TB_OID_INT4:
    case TB_OID_FLOAT4:
    case TB_OID_DATE:
    case TB_OID_OID:
        return 4;
    case TB_OID_INT8:
    case TB_OID_FLOAT8:
    case TB_OID_TIMESTAMP:
    case TB_OID_TIMESTAMPTZ:
        return 8;
    case TB_OID_INTERVAL:
        return 16;
    default:
        return -1;
    }
}

const char *tb_srv_format_type(tb_type t, char *buf, size_t cap)
{
    switch ((tb_type_id)t.id) {
    case TB_T_TIMESTAMP:
        return "timestamp without time zone";
    case TB_T_STRING:
    case TB_T_NULL:
        return "text";
    default:
        return tb_type_name(t, buf, cap);
    }
}

/* ---------------------------------------------------------------- rows */

void tb_srv_rows_free(tb_srv_rows *rows)
{
    if (rows == NULL)
        return;
    for (uint32_t i = 0; i < rows->n_cols; i++)
        tb_free(rows->cols[i].name);
    tb_free(rows->cols);
    tb_buf_free(&rows->data);
    tb_free(rows->row_off);
    memset(rows, 0, sizeof(*rows));
}

tb_rc tb_srv_rows_add_col(tb_srv_rows *rows, const char *name, tb_type type)
{
    tb_srv_col *cols = tb_realloc(rows->cols, sizeof(*cols) * (rows->n_cols + 1));
    if (cols == NULL)
        return TB_E_NOMEM;
    rows->cols = cols;
    char *n = tb_strdup(name);
    if (n == NULL)
        return TB_E_NOMEM;
    cols[rows->n_cols].name = n;
    cols[rows->n_cols].type = type;
    cols[rows->n_cols].oid = tb_srv_type_oid(type);
    rows->n_cols++;
    rows->has_rows = true;
    return TB_OK;
}

static tb_rc put_be16(tb_buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    return tb_buf_append(b, x, 2);
}

static tb_rc put_be32(tb_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return tb_buf_append(b, x, 4);
}

static tb_rc row_begin(tb_srv_rows *rows)
{
    if (tb_grow((void **)&rows->row_off, &rows->cap_rows, rows->n_rows + 1, sizeof(size_t)) !=
        TB_OK)
        return TB_E_NOMEM;
    rows->row_off[rows->n_rows] = rows->data.len;
    return put_be16(&rows->data, (uint16_t)rows->n_cols);
}

tb_rc tb_srv_rows_add(tb_srv_rows *rows, const char *const *vals)
{
    if (row_begin(rows) != TB_OK)
        return TB_E_NOMEM;
    for (uint32_t i = 0; i < rows->n_cols; i++) {
        if (vals[i] == NULL) {
            if (put_be32(&rows->data, 0xFFFFFFFFu) != TB_OK)
                return TB_E_NOMEM;
            continue;
        }
        size_t n = strlen(vals[i]);
        if (put_be32(&rows->data, (uint32_t)n) != TB_OK ||
            tb_buf_append(&rows->data, vals[i], n) != TB_OK)
            return TB_E_NOMEM;
    }
    rows->n_rows++;
    return TB_OK;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

bool tb_srv_rows_cell(const tb_srv_rows *rows, size_t r, uint32_t col, const char **out,
                      int32_t *out_len)
{
    const uint8_t *p = (const uint8_t *)rows->data.data + rows->row_off[r] + 2;
    for (uint32_t i = 0;; i++) {
        int32_t len = (int32_t)get_be32(p);
        p += 4;
        if (i == col) {
            *out = (const char *)p;
            *out_len = len < 0 ? 0 : len;
            return len >= 0;
        }
        if (len > 0)
            p += len;
    }
}

/* ---------------------------------------------------------------- errors */

const char *tb_srv_sqlstate(tb_rc code)
{
    switch (code) {
    case TB_E_SQL:
        return "42601";
    case TB_E_NOTFOUND:
        return "42P01";
    case TB_E_TYPE:
        return "42804";
    case TB_E_RANGE:
        return "22003";
    case TB_E_NOMEM:
        return "53200";
    case TB_E_LIMIT:
        return "54000";
    case TB_E_INTERRUPT:
        return "57014";
    case TB_E_UNSUPPORTED:
        return "0A000";
    case TB_E_PARSE:
        return "22P02";
    case TB_E_IO:
        return "58030";
    case TB_E_MISUSE:
        return "25006";
    default:
        return "XX000";
    }
}

const char *tb_srv_err_sqlstate(const tb_err *err)
{
    if (err->code == TB_E_NOTFOUND && strstr(err->msg, "column") != NULL)
        return "42703";
    if (err->code == TB_E_NOTFOUND && strstr(err->msg, "function") != NULL)
        return "42883";
    if (err->code == TB_E_NOTFOUND && strstr(err->msg, "parameter") != NULL)
        return "42704";
    if (strstr(err->msg, "current transaction is aborted") != NULL)
        return "25P02";
    return tb_srv_sqlstate(err->code);
}

/* ---------------------------------------------------------------- SELECT */

/* After the query failed: was it stopped (timeout, cancel) or over its memory bound?
 * Replaces the engine's error by the reason the client must see. */
static tb_rc stop_reason(const tb_srv_limits *lim, tb_rc rc, tb_err *err)
{
    if (lim->budget == NULL)
        return rc;
    if (lim->cancelled != NULL && atomic_load(lim->cancelled)) {
        tb_err_clear(err);
        return TB_ERRF(err, TB_E_INTERRUPT, "canceling statement due to user request");
    }
    if (atomic_load(&lim->budget->stop)) {
        tb_err_clear(err);
        return TB_ERRF(err, TB_E_INTERRUPT, "canceling statement due to statement timeout");
    }
    if (atomic_load(&lim->budget->exceeded)) {
        tb_err_clear(err);
        return TB_ERRF(err, TB_E_LIMIT,
                       "query exceeded its memory bound of %lld bytes (SET "
                       "query_memory_limit to raise it)",
                       (long long)lim->mem_limit);
    }
    return rc;
}

static tb_rc collect(tb_op *root, const tb_srv_limits *lim, tb_srv_rows *rows, tb_err *err)
{
    tb_buf cell = {0};
    tb_rc rc = TB_OK;
    const tb_schema *schema = root->schema;
    for (uint32_t i = 0; i < schema->n && rc == TB_OK; i++)
        rc = tb_srv_rows_add_col(rows, schema->fields[i].name, schema->fields[i].type);
    if (rc != TB_OK)
        return tb_err_nomem(err);
    for (;;) {
        if (lim->budget != NULL && atomic_load(&lim->budget->stop)) {
            rc = TB_E_INTERRUPT;
            break;
        }
        tb_batch *batch = NULL;
        rc = tb_op_next(root, &batch, err);
        if (rc != TB_OK || batch == NULL)
            break;
        for (uint32_t r = 0; r < batch->n_rows && rc == TB_OK; r++) {
            if (row_begin(rows) != TB_OK) {
                rc = tb_err_nomem(err);
                break;
            }
            for (uint32_t c = 0; c < schema->n; c++) {
                tb_value v;
                tb_vec_get(&batch->cols[c], r, &v);
                v.type = schema->fields[c].type;
                if (v.is_null || v.type.id == TB_T_NULL) {
                    rc = put_be32(&rows->data, 0xFFFFFFFFu);
                } else if (v.type.id == TB_T_BOOL) {
                    rc = put_be32(&rows->data, 1);
                    if (rc == TB_OK)
                        rc = tb_buf_putc(&rows->data, v.u.i != 0 ? 't' : 'f');
                } else {
                    cell.len = 0;
                    rc = tb_value_format(&v, &cell);
                    if (rc == TB_OK)
                        rc = put_be32(&rows->data, (uint32_t)cell.len);
                    if (rc == TB_OK)
                        rc = tb_buf_append(&rows->data, cell.data, cell.len);
                }
                if (rc != TB_OK) {
                    rc = tb_err_nomem(err);
                    break;
                }
            }
            if (rc == TB_OK)
                rows->n_rows++;
        }
        if (rc != TB_OK)
            break;
    }
    tb_buf_free(&cell);
    snprintf(rows->tag, sizeof(rows->tag), "SELECT %zu", rows->n_rows);
    return rc;
}

tb_rc tb_srv_run_select(tb_db *db, const char *sql, bool explain, const tb_srv_limits *lim,
                        tb_srv_rows *rows, tb_err *err)
{
    tb_plan *plan = NULL;
    tb_rc rc = lim->no_lock ? TB_OK : tb_db_read_begin(db, lim->timeout_ms);
    if (rc == TB_E_INTERRUPT)
        return TB_ERRF(err, rc, "canceling statement due to statement timeout (waiting for "
                                "a batch to commit)");
    if (rc != TB_OK)
        return TB_ERRF(err, rc, "cannot take the read lock");
    tb_mem_budget *prev = tb_mem_budget_enter(lim->budget);
    rc = tb_sql_plan_select(db, sql, NULL, &plan, err);
    if (rc == TB_OK && explain) {
        tb_buf text = {0};
        rc = tb_op_explain(plan->root, &text);
        if (rc == TB_OK)
            rc = tb_srv_rows_add_col(rows, "QUERY PLAN", tb_type_make(TB_T_STRING));
        char *line = text.data;
        while (rc == TB_OK && line != NULL && *line != '\0') {
            char *nl = strchr(line, '\n');
            if (nl != NULL)
                *nl = '\0';
            const char *vals[1] = {line};
            rc = tb_srv_rows_add(rows, vals);
            line = nl != NULL ? nl + 1 : NULL;
        }
        tb_buf_free(&text);
        snprintf(rows->tag, sizeof(rows->tag), "EXPLAIN");
        if (rc != TB_OK)
            rc = tb_err_nomem(err);
    } else if (rc == TB_OK) {
        rc = collect(plan->root, lim, rows, err);
    }
    tb_plan_free(plan);
    (void)tb_mem_budget_enter(prev);
    if (!lim->no_lock)
        tb_db_read_end(db);
    if (rc != TB_OK) {
        rc = stop_reason(lim, rc, err);
        if (err->code == TB_OK)
            TB_ERRF(err, rc, "%s", tb_errstr(rc));
    }
    return rc;
}

tb_rc tb_srv_describe_select(tb_db *db, const char *sql, int64_t timeout_ms, tb_srv_rows *rows,
                             tb_err *err)
{
    tb_plan *plan = NULL;
    tb_rc rc = tb_db_read_begin(db, timeout_ms);
    if (rc != TB_OK)
        return TB_ERRF(err, TB_E_INTERRUPT,
                       "canceling statement due to statement timeout (waiting for a batch)");
    rc = tb_sql_plan_select(db, sql, NULL, &plan, err);
    for (uint32_t i = 0; rc == TB_OK && i < plan->root->schema->n; i++) {
        const tb_field *f = &plan->root->schema->fields[i];
        if (tb_srv_rows_add_col(rows, f->name, f->type) != TB_OK)
            rc = tb_err_nomem(err);
    }
    tb_plan_free(plan);
    tb_db_read_end(db);
    return rc;
}

/* ---------------------------------------------------------------- classification */

static const char *skip_space_comments(const char *p)
{
    for (;;) {
        while (*p != '\0' && isspace((unsigned char)*p))
            p++;
        if (p[0] == '-' && p[1] == '-') {
            while (*p != '\0' && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            p = e != NULL ? e + 2 : p + strlen(p);
        } else {
            return p;
        }
    }
}

tb_srv_kind tb_srv_classify(const char *sql, char *out_word, size_t cap)
{
    const char *p = skip_space_comments(sql);
    size_t n = 0;
    if (*p == '(') {
        snprintf(out_word, cap, "SELECT");
        return TB_SK_SELECT;
    }
    while (isalpha((unsigned char)p[n]) || p[n] == '_')
        n++;
    if (cap > 0) {
        size_t k = n < cap - 1 ? n : cap - 1;
        for (size_t i = 0; i < k; i++)
            out_word[i] = (char)toupper((unsigned char)p[i]);
        out_word[k] = '\0';
    }
    if (n == 0) {
        while (*p == ';' || isspace((unsigned char)*p))
            p = skip_space_comments(p + 1);
        return *p == '\0' ? TB_SK_EMPTY : TB_SK_OTHER;
    }
    static const struct {
        const char *w;
        tb_srv_kind k;
    } words[] = {
        {"SELECT", TB_SK_SELECT},     {"WITH", TB_SK_SELECT},         {"VALUES", TB_SK_SELECT},
        {"TABLE", TB_SK_SELECT},      {"EXPLAIN", TB_SK_EXPLAIN},     {"SET", TB_SK_SET},
        {"RESET", TB_SK_RESET},       {"SHOW", TB_SK_SHOW},           {"BEGIN", TB_SK_BEGIN},
        {"START", TB_SK_BEGIN},       {"COMMIT", TB_SK_COMMIT},       {"END", TB_SK_COMMIT},
        {"ROLLBACK", TB_SK_ROLLBACK}, {"ABORT", TB_SK_ROLLBACK},      {"DISCARD", TB_SK_DISCARD},
        {"DEALLOCATE", TB_SK_DEALLOCATE},
        {"INSERT", TB_SK_WRITE},      {"UPDATE", TB_SK_WRITE},        {"DELETE", TB_SK_WRITE},
        {"MERGE", TB_SK_WRITE},       {"CREATE", TB_SK_WRITE},        {"DROP", TB_SK_WRITE},
        {"ALTER", TB_SK_WRITE},       {"TRUNCATE", TB_SK_WRITE},      {"COPY", TB_SK_WRITE},
        {"GRANT", TB_SK_WRITE},       {"REVOKE", TB_SK_WRITE},        {"COMMENT", TB_SK_WRITE},
        {"VACUUM", TB_SK_WRITE},      {"ANALYZE", TB_SK_WRITE},       {"REFRESH", TB_SK_WRITE},
        {"CALL", TB_SK_WRITE},        {"DO", TB_SK_WRITE},            {"LOCK", TB_SK_WRITE},
        {"CLUSTER", TB_SK_WRITE},     {"REINDEX", TB_SK_WRITE},       {"IMPORT", TB_SK_WRITE},
        {"SECURITY", TB_SK_WRITE},    {"LISTEN", TB_SK_OTHER},
    };
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strlen(words[i].w) == n && tb_str_nieq(p, n, words[i].w))
            return words[i].k;
    return TB_SK_OTHER;
}

/* ---------------------------------------------------------------- settings */

void tb_srv_session_free(tb_srv_session *s)
{
    for (size_t i = 0; i < s->n_gucs; i++) {
        tb_free(s->gucs[i].name);
        tb_free(s->gucs[i].value);
    }
    tb_free(s->gucs);
    tb_free(s->user);
    tb_free(s->database);
    memset(s, 0, sizeof(*s));
}

static const struct {
    const char *name, *value;
} guc_defaults[] = {
    {"server_version", "15.0 (Tributary " TB_VERSION ")"},
    {"server_version_num", "150000"},
    {"server_encoding", "UTF8"},
    {"client_encoding", "UTF8"},
    {"datestyle", "ISO, MDY"},
    {"timezone", "UTC"},
    {"intervalstyle", "postgres"},
    {"integer_datetimes", "on"},
    {"standard_conforming_strings", "on"},
    {"transaction_isolation", "read committed"},
    {"transaction_read_only", "on"},
    {"default_transaction_read_only", "on"},
    {"search_path", "\"$user\", public"},
    {"max_identifier_length", "63"},
    {"extra_float_digits", "1"},
    {"application_name", ""},
    {"is_superuser", "off"},
    {"lc_collate", "C.UTF-8"},
    {"lc_ctype", "C.UTF-8"},
    {"max_connections", "256"},
};

const char *tb_srv_guc_get(const tb_srv_session *s, const char *name)
{
    for (size_t i = 0; i < s->n_gucs; i++)
        if (tb_str_ieq(s->gucs[i].name, name))
            return s->gucs[i].value;
    for (size_t i = 0; i < sizeof(guc_defaults) / sizeof(guc_defaults[0]); i++)
        if (tb_str_ieq(guc_defaults[i].name, name))
            return guc_defaults[i].value;
    return NULL;
}

tb_rc tb_srv_guc_set(tb_srv_session *s, const char *name, const char *value)
{
    char *v = tb_strdup(value);
    if (v == NULL)
        return TB_E_NOMEM;
    for (size_t i = 0; i < s->n_gucs; i++) {
        if (tb_str_ieq(s->gucs[i].name, name)) {
            tb_free(s->gucs[i].value);
            s->gucs[i].value = v;
            return TB_OK;
        }
    }
    if (s->n_gucs >= 256) { /* a client cannot grow a session without bound */
        tb_free(v);
        return TB_E_LIMIT;
    }
    char *n = tb_strdup(name);
    if (n == NULL || tb_grow((void **)&s->gucs, &s->cap_gucs, s->n_gucs + 1, sizeof(tb_srv_guc)) !=
                         TB_OK) {
        tb_free(n);
        tb_free(v);
        return TB_E_NOMEM;
    }
    for (char *c = n; *c != '\0'; c++)
        *c = (char)tolower((unsigned char)*c);
    s->gucs[s->n_gucs].name = n;
    s->gucs[s->n_gucs].value = v;
    s->n_gucs++;
    return TB_OK;
}

/* "30s", "1500", "2min", "1 h" -> ms (a bare number is ms, as PostgreSQL's). */
static bool parse_ms(const char *v, int64_t *out)
{
    char *end = NULL;
    double x = strtod(v, &end);
    if (end == v || x < 0)
        return false;
    while (*end == ' ')
        end++;
    double mul = 1;
    if (*end == '\0' || strcmp(end, "ms") == 0)
        mul = 1;
    else if (strcmp(end, "s") == 0 || strcmp(end, "sec") == 0 || strcmp(end, "seconds") == 0)
        mul = 1000;
    else if (strcmp(end, "min") == 0 || strcmp(end, "minutes") == 0)
        mul = 60000;
    else if (strcmp(end, "h") == 0 || strcmp(end, "hours") == 0)
        mul = 3600000;
    else
        return false;
    *out = (int64_t)(x * mul);
    return true;
}

/* "256MB", "1GB", "65536" (kB, as PostgreSQL's memory settings) -> bytes. */
static bool parse_bytes(const char *v, int64_t *out)
{
    char *end = NULL;
    double x = strtod(v, &end);
    if (end == v || x < 0)
        return false;
    while (*end == ' ')
        end++;
    double mul;
    if (*end == '\0' || tb_str_ieq(end, "kb"))
        mul = 1024;
    else if (tb_str_ieq(end, "b"))
        mul = 1;
    else if (tb_str_ieq(end, "mb"))
        mul = 1024.0 * 1024;
    else if (tb_str_ieq(end, "gb"))
        mul = 1024.0 * 1024 * 1024;
    else
        return false;
    *out = (int64_t)(x * mul);
    return true;
}

int64_t tb_srv_session_timeout_ms(const tb_srv_session *s)
{
    const char *v = tb_srv_guc_get(s, "statement_timeout");
    int64_t ms = 0;
    if (v != NULL && parse_ms(v, &ms))
        return ms;
    return s->default_timeout_ms;
}

int64_t tb_srv_session_mem_limit(const tb_srv_session *s)
{
    const char *v = tb_srv_guc_get(s, "query_memory_limit");
    int64_t b = 0;
    if (v != NULL && parse_bytes(v, &b))
        return b;
    return s->default_mem_limit;
}

/* ---------------------------------------------------------------- statements */

/* SET [SESSION|LOCAL] name {=|TO} value[, ...] / SET TIME ZONE x: name and value. */
static tb_rc parse_set(const char *sql, char *name, size_t ncap, tb_buf *value, tb_err *err)
{
    const char *p = skip_space_comments(sql) + 3;
    while (isspace((unsigned char)*p))
        p++;
    for (int k = 0; k < 2; k++) {
        if (tb_str_nieq(p, 7, "SESSION") && isspace((unsigned char)p[7]))
            p += 8;
        else if (tb_str_nieq(p, 5, "LOCAL") && isspace((unsigned char)p[5]))
            p += 6;
        while (isspace((unsigned char)*p))
            p++;
    }
    size_t n = 0;
    if (tb_str_nieq(p, 9, "TIME ZONE")) {
        snprintf(name, ncap, "timezone");
        p += 9;
    } else {
        while ((isalnum((unsigned char)p[n]) || p[n] == '_' || p[n] == '.') && n + 1 < ncap)
            n++;
        if (n == 0)
            return TB_ERRPOS(err, TB_E_SQL, (int)(p - sql), "syntax error in SET");
        for (size_t i = 0; i < n; i++)
            name[i] = (char)tolower((unsigned char)p[i]);
        name[n] = '\0';
        p += n;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '=')
            p++;
        else if (tb_str_nieq(p, 2, "TO") && !isalnum((unsigned char)p[2]))
            p += 2;
        else
            return TB_ERRPOS(err, TB_E_SQL, (int)(p - sql),
                             "syntax error at or near \"%.20s\": SET name = value", p);
    }
    /* the value: words, numbers or quoted strings up to ';' or the end */
    bool first = true;
    while (*p != '\0' && *p != ';') {
        while (isspace((unsigned char)*p) || *p == ',')
            p++;
        if (*p == '\0' || *p == ';')
            break;
        if (!first && tb_buf_puts(value, ", ") != TB_OK)
            return tb_err_nomem(err);
        first = false;
        if (*p == '\'' || *p == '"') {
            char q = *p++;
            while (*p != '\0') {
                if (*p == q && p[1] == q) {
                    if (tb_buf_putc(value, q) != TB_OK)
                        return tb_err_nomem(err);
                    p += 2;
                } else if (*p == q) {
                    p++;
                    break;
                } else if (tb_buf_putc(value, *p++) != TB_OK) {
                    return tb_err_nomem(err);
                }
            }
        } else {
            while (*p != '\0' && *p != ';' && *p != ',' && !isspace((unsigned char)*p))
                if (tb_buf_putc(value, *p++) != TB_OK)
                    return tb_err_nomem(err);
        }
    }
    if (tb_buf_cstr(value) == NULL)
        return tb_err_nomem(err);
    return TB_OK;
}

static tb_rc one_text_row(tb_srv_rows *rows, const char *col, const char *val)
{
    if (tb_srv_rows_add_col(rows, col, tb_type_make(TB_T_STRING)) != TB_OK)
        return TB_E_NOMEM;
    const char *vals[1] = {val};
    return tb_srv_rows_add(rows, vals);
}

tb_rc tb_srv_execute(tb_server *srv, tb_db *db, tb_srv_session *s, const char *sql,
                     const tb_srv_limits *lim, bool describe_only, tb_srv_rows *rows,
                     tb_err *err)
{
    char word[32];
    tb_srv_kind kind = tb_srv_classify(sql, word, sizeof(word));
    tb_rc rc = TB_OK;
    (void)srv;
    switch (kind) {
    case TB_SK_EMPTY:
        return TB_OK;
    case TB_SK_WRITE:
        return TB_ERRF(err, TB_E_MISUSE, "cannot execute %s in a read-only transaction", word);
    case TB_SK_BEGIN:
        snprintf(rows->tag, sizeof(rows->tag), "BEGIN");
        return TB_OK;
    case TB_SK_COMMIT:
        snprintf(rows->tag, sizeof(rows->tag), "COMMIT");
        return TB_OK;
    case TB_SK_ROLLBACK:
        snprintf(rows->tag, sizeof(rows->tag), "ROLLBACK");
        return TB_OK;
    case TB_SK_DISCARD:
        snprintf(rows->tag, sizeof(rows->tag), "DISCARD ALL");
        return TB_OK;
    case TB_SK_DEALLOCATE:
        snprintf(rows->tag, sizeof(rows->tag), "DEALLOCATE");
        return TB_OK;
    case TB_SK_SET: {
        char name[64];
        tb_buf value = {0};
        rc = parse_set(sql, name, sizeof(name), &value, err);
        if (rc == TB_OK && !describe_only) {
            int64_t x;
            if (tb_str_ieq(name, "statement_timeout") && !parse_ms(value.data, &x))
                rc = TB_ERRF(err, TB_E_SQL,
                             "invalid value for parameter \"statement_timeout\": \"%s\"",
                             value.data);
            else if (tb_str_ieq(name, "query_memory_limit") && !parse_bytes(value.data, &x))
                rc = TB_ERRF(err, TB_E_SQL,
                             "invalid value for parameter \"query_memory_limit\": \"%s\"",
                             value.data);
            else if (tb_str_ieq(name, "transaction_read_only") ||
                     tb_str_ieq(name, "default_transaction_read_only"))
                rc = TB_OK; /* always on */
            else
                rc = tb_srv_guc_set(s, name, value.data);
            if (rc == TB_E_NOMEM || rc == TB_E_LIMIT)
                rc = TB_ERRF(err, rc, "cannot keep more session settings");
        }
        tb_buf_free(&value);
        snprintf(rows->tag, sizeof(rows->tag), "SET");
        return rc;
    }
    case TB_SK_RESET:
        if (!describe_only) {
            const char *p = skip_space_comments(sql) + 5;
            while (isspace((unsigned char)*p))
                p++;
            char name[64];
            size_t n = 0;
            while ((isalnum((unsigned char)p[n]) || p[n] == '_' || p[n] == '.') && n < 63) {
                name[n] = (char)tolower((unsigned char)p[n]);
                n++;
            }
            name[n] = '\0';
            for (size_t i = 0; i < s->n_gucs; i++) {
                if (tb_str_ieq(name, "all") || tb_str_ieq(s->gucs[i].name, name)) {
                    tb_free(s->gucs[i].name);
                    tb_free(s->gucs[i].value);
                    s->gucs[i--] = s->gucs[--s->n_gucs];
                }
            }
        }
        snprintf(rows->tag, sizeof(rows->tag), "RESET");
        return TB_OK;
    case TB_SK_SHOW: {
        const char *p = skip_space_comments(sql) + 4;
        while (isspace((unsigned char)*p))
            p++;
        char name[64];
        size_t n = 0;
        while ((isalnum((unsigned char)p[n]) || p[n] == '_' || p[n] == '.' || p[n] == ' ') &&
               n < 63) {
            name[n] = (char)tolower((unsigned char)p[n]);
            n++;
        }
        while (n > 0 && name[n - 1] == ' ')
            n--;
        name[n] = '\0';
        if (strcmp(name, "tables") == 0) /* the engine's SHOW TABLES, via the catalog */
            break;
        if (strcmp(name, "time zone") == 0)
            snprintf(name, sizeof(name), "timezone");
        char buf[64];
        const char *v = tb_srv_guc_get(s, name);
        if (tb_str_ieq(name, "statement_timeout")) {
            snprintf(buf, sizeof(buf), "%lldms", (long long)tb_srv_session_timeout_ms(s));
            v = buf;
        } else if (tb_str_ieq(name, "query_memory_limit")) {
            snprintf(buf, sizeof(buf), "%lldkB", (long long)tb_srv_session_mem_limit(s) / 1024);
            v = buf;
        }
        if (v == NULL)
            return TB_ERRF(err, TB_E_NOTFOUND, "unrecognized configuration parameter \"%s\"",
                           name);
        rc = one_text_row(rows, name, v);
        snprintf(rows->tag, sizeof(rows->tag), "SHOW");
        return rc == TB_OK ? TB_OK : tb_err_nomem(err);
    }
    default:
        break;
    }
    if (kind == TB_SK_OTHER)
        return TB_ERRF(err, TB_E_UNSUPPORTED, "%s is not supported by this server (read-only: "
                                              "SELECT, SHOW, SET, EXPLAIN)", word);
    /* SHOW TABLES, SELECT, EXPLAIN */
    if (tb_pgcat_answer(db, s, sql, lim->timeout_ms, rows, &rc, err))
        return rc;
    char *text = tb_pgcat_rewrite(s, sql);
    if (text == NULL)
        return tb_err_nomem(err);
    const char *q = text;
    bool explain = kind == TB_SK_EXPLAIN;
    if (explain) {
        q = skip_space_comments(text) + 7;
        if (tb_srv_classify(q, word, sizeof(word)) != TB_SK_SELECT) {
            tb_free(text);
            return TB_ERRF(err, TB_E_UNSUPPORTED, "EXPLAIN of %s is not supported", word);
        }
    }
    if (describe_only) {
        rc = explain ? tb_srv_rows_add_col(rows, "QUERY PLAN", tb_type_make(TB_T_STRING))
                     : tb_srv_describe_select(db, q, lim->timeout_ms, rows, err);
        if (rc != TB_OK && err->code == TB_OK)
            rc = tb_err_nomem(err);
    } else {
        rc = tb_srv_run_select(db, q, explain, lim, rows, err);
    }
    if (rc != TB_OK && err->pos >= 0 && q != text)
        err->pos += (int)(q - text);
    if (rc != TB_OK && err->pos >= 0 && strcmp(text, sql) != 0)
        err->pos = -1; /* positions in the rewritten text do not map back */
    tb_free(text);
    return rc;
}
