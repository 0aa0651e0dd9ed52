/*
 * http.c - the HTTP API, server-sent events, Prometheus metrics and the dashboard
 * (routes in http.h), on libmicrohttpd in thread-per-connection mode: a query or an
 * event stream blocks only its own connection.
 *
 * Bounds: libmicrohttpd limits each connection's memory (headers included: a request
 * with huge headers is refused by it with 431/413 before we see it), the number of
 * connections and their idle time. Queries run as in pgwire.c: under the db's read
 * lock, into materialised rows, bounded by statement_timeout and the memory bound,
 * then written out.
 *
 * Events: tb_server_on_batch (the runtime's thread, after a batch) reads each changed
 * view under the read lock, diffs it against the rows it sent last time, and appends one JSON
 * event to a ring of TB_SRV_EVENTS; each subscriber keeps the sequence number it has
 * sent and waits on a condition variable. A subscriber that falls more than the ring
 * behind skips to the oldest event still held (it is told so in a comment line): a
 * slow browser costs memory bounded by the ring, never the runtime's time.
 */
#include <stdio.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/http.h"

/* ---------------------------------------------------------------- URL parsing */

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

bool tb_http_decode(const char *s, size_t n, bool plus_space, tb_buf *out, size_t *bad_off)
{
    out->len = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '%') {
            int hi = i + 1 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                *bad_off = i;
                return false;
            }
            ch = (char)(hi * 16 + lo);
            i += 2;
        } else if (ch == '+' && plus_space) {
            ch = ' ';
        } else if (ch == '\0') {
            *bad_off = i;
            return false;
        }
        if (tb_buf_putc(out, ch) != TB_OK) {
            *bad_off = i;
            return false;
        }
    }
    if (tb_buf_cstr(out) == NULL) {
        *bad_off = 0;
        return false;
    }
    return true;
}

/* Value of query argument `key` (decoded, heap) or NULL; *bad set on a bad escape. */
static char *query_arg(const char *query, const char *key, bool *bad, size_t *bad_off)
{
    size_t klen = strlen(key);
    for (const char *p = query; p != NULL && *p != '\0';) {
        const char *amp = strchr(p, '&');
        size_t len = amp != NULL ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t nlen = eq != NULL ? (size_t)(eq - p) : len;
        if (nlen == klen && memcmp(p, key, klen) == 0) {
            tb_buf v = {0};
            const char *vs = eq != NULL ? eq + 1 : p + len;
            size_t vn = eq != NULL ? len - nlen - 1 : 0;
            size_t off = 0;
            if (!tb_http_decode(vs, vn, true, &v, &off)) {
                *bad = true;
                *bad_off = (size_t)(vs - query) + off;
                tb_buf_free(&v);
                return NULL;
            }
            if (v.data == NULL)
                return tb_strdup("");
            return v.data;
        }
        p = amp != NULL ? amp + 1 : NULL;
    }
    return NULL;
}

/* ---------------------------------------------------------------- JSON helpers */

static void json_err(tb_http_resp *resp, int status, const char *msg, const char *sqlstate,
                     int pos)
{
    resp->status = status;
    resp->ctype = "application/json";
    json_t *o = json_pack("{s:s}", "error", msg);
    if (o != NULL && sqlstate != NULL)
        json_object_set_new(o, "sqlstate", json_string(sqlstate));
    if (o != NULL && pos >= 0)
        json_object_set_new(o, "position", json_integer(pos + 1));
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    resp->body.len = 0;
    (void)tb_buf_puts(&resp->body, text != NULL ? text : "{\"error\":\"out of memory\"}");
    (void)tb_buf_putc(&resp->body, '\n');
    free(text);
    json_decref(o);
}

/* A cell as JSON: numbers for numeric types, strings otherwise, null for NULL. */
static json_t *cell_json(const tb_srv_rows *rows, size_t r, uint32_t c)
{
    const char *s;
    int32_t n;
    if (!tb_srv_rows_cell(rows, r, c, &s, &n))
        return json_null();
    switch (rows->cols[c].oid) {
    case TB_OID_INT2:
    case TB_OID_INT4:
    case TB_OID_INT8: {
        char tmp[32];
        if (n < (int32_t)sizeof(tmp)) {
            memcpy(tmp, s, (size_t)n);
            tmp[n] = '\0';
            return json_integer(strtoll(tmp, NULL, 10));
        }
        break;
    }
    case TB_OID_FLOAT4:
    case TB_OID_FLOAT8:
    case TB_OID_NUMERIC: {
        char tmp[64];
        if (n < (int32_t)sizeof(tmp)) {
            memcpy(tmp, s, (size_t)n);
            tmp[n] = '\0';
            char *end = NULL;
            double d = strtod(tmp, &end);
            if (*end == '\0' && d == d && d - d == 0)
                return json_real(d);
        }
        break;
    }
    case TB_OID_BOOL:
        return json_boolean(s[0] == 't');
    default:
        break;
    }
    return json_stringn(s, (size_t)n);
}

static json_t *rows_json(const tb_srv_rows *rows)
{
    json_t *cols = json_array(), *data = json_array();
    char tb[64];
    for (uint32_t c = 0; c < rows->n_cols; c++)
        json_array_append_new(cols, json_pack("{s:s, s:s}", "name", rows->cols[c].name, "type",
                                              tb_srv_format_type(rows->cols[c].type, tb,
                                                                 sizeof(tb))));
    for (size_t r = 0; r < rows->n_rows; r++) {
        json_t *row = json_array();
        for (uint32_t c = 0; c < rows->n_cols; c++)
            json_array_append_new(row, cell_json(rows, r, c));
        json_array_append_new(data, row);
    }
    return json_pack("{s:o, s:o, s:I}", "columns", cols, "rows", data, "rowCount",
                     (json_int_t)rows->n_rows);
}

static void csv_field(tb_buf *b, const char *s, int32_t n)
{
    bool quote = false;
    for (int32_t i = 0; i < n; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r')
            quote = true;
    if (!quote) {
        (void)tb_buf_append(b, s, (size_t)n);
        return;
    }
    (void)tb_buf_putc(b, '"');
    for (int32_t i = 0; i < n; i++) {
        if (s[i] == '"')
            (void)tb_buf_putc(b, '"');
        (void)tb_buf_putc(b, s[i]);
    }
    (void)tb_buf_putc(b, '"');
}

/* ---------------------------------------------------------------- handlers */

static void limits_default(tb_server *srv, tb_srv_session *sess, tb_srv_limits *lim,
                           tb_mem_budget *budget)
{
    memset(budget, 0, sizeof(*budget));
    sess->default_timeout_ms = srv->opts.statement_timeout_ms > 0 ? srv->opts.statement_timeout_ms
                                                                  : 30000;
    sess->default_mem_limit = srv->opts.query_mem_limit > 0 ? srv->opts.query_mem_limit
                                                            : 256ll << 20;
    lim->timeout_ms = sess->default_timeout_ms;
    lim->mem_limit = sess->default_mem_limit;
    budget->limit = lim->mem_limit;
    lim->budget = budget;
    lim->cancelled = NULL;
    lim->no_lock = false;
}

static void handle_query(tb_server *srv, const char *query, tb_http_resp *resp)
{
    bool bad = false;
    size_t bad_off = 0;
    char *sql = query != NULL ? query_arg(query, "sql", &bad, &bad_off) : NULL;
    char *fmt = !bad && query != NULL ? query_arg(query, "format", &bad, &bad_off) : NULL;
    char *timeout = !bad && query != NULL ? query_arg(query, "timeout", &bad, &bad_off) : NULL;
    if (bad) {
        char msg[128];
        snprintf(msg, sizeof(msg), "bad percent-encoding in the query string at offset %zu",
                 bad_off);
        json_err(resp, 400, msg, "22023", -1);
        goto done;
    }
    if (sql == NULL || sql[0] == '\0') {
        json_err(resp, 400, "missing the sql parameter: /api/query?sql=SELECT...", "22023", -1);
        goto done;
    }
    if (!tb_utf8_valid(sql, strlen(sql))) {
        json_err(resp, 400, "invalid byte sequence for encoding \"UTF8\" in sql", "22021", -1);
        goto done;
    }
    bool csv = fmt != NULL && strcmp(fmt, "csv") == 0;
    if (fmt != NULL && !csv && strcmp(fmt, "json") != 0) {
        json_err(resp, 400, "format must be json or csv", "22023", -1);
        goto done;
    }
    tb_srv_session sess = {0};
    tb_srv_limits lim;
    tb_mem_budget budget;
    limits_default(srv, &sess, &lim, &budget);
    if (timeout != NULL && tb_srv_guc_set(&sess, "statement_timeout", timeout) == TB_OK)
        lim.timeout_ms = tb_srv_session_timeout_ms(&sess);
    tb_srv_rows rows = {0};
    tb_err err;
    tb_err_clear(&err);
    if (lim.timeout_ms > 0)
        tb_srv_watch(srv, &budget, tb_now_ns() + lim.timeout_ms * 1000000);
    tb_rc rc = tb_srv_execute(srv, srv->db, &sess, sql, &lim, false, &rows, &err);
    if (lim.timeout_ms > 0)
        tb_srv_unwatch(srv, &budget);
    if (rc != TB_OK) {
        int status = rc == TB_E_INTERRUPT || rc == TB_E_LIMIT || rc == TB_E_NOMEM ? 503 : 400;
        if (rc == TB_E_MISUSE)
            status = 403;
        json_err(resp, status, err.msg, tb_srv_err_sqlstate(&err), err.pos);
    } else if (csv) {
        resp->status = 200;
        resp->ctype = "text/csv; charset=utf-8";
        for (uint32_t c = 0; c < rows.n_cols; c++) {
            if (c > 0)
                (void)tb_buf_putc(&resp->body, ',');
            csv_field(&resp->body, rows.cols[c].name, (int32_t)strlen(rows.cols[c].name));
        }
        (void)tb_buf_putc(&resp->body, '\n');
        for (size_t r = 0; r < rows.n_rows; r++) {
            for (uint32_t c = 0; c < rows.n_cols; c++) {
                const char *s;
                int32_t n;
                if (c > 0)
                    (void)tb_buf_putc(&resp->body, ',');
                if (tb_srv_rows_cell(&rows, r, c, &s, &n))
                    csv_field(&resp->body, s, n);
            }
            (void)tb_buf_putc(&resp->body, '\n');
        }
    } else {
        json_t *o = rows_json(&rows);
        char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (text == NULL) {
            json_err(resp, 503, "out of memory", "53200", -1);
        } else {
            resp->status = 200;
            resp->ctype = "application/json";
            (void)tb_buf_puts(&resp->body, text);
            (void)tb_buf_putc(&resp->body, '\n');
            free(text);
        }
    }
    tb_srv_rows_free(&rows);
    tb_srv_session_free(&sess);
done:
    tb_free(sql);
    tb_free(fmt);
    tb_free(timeout);
}

static void handle_views(tb_server *srv, tb_http_resp *resp)
{
    tb_srv_session sess = {0};
    tb_srv_limits lim;
    tb_mem_budget budget;
    limits_default(srv, &sess, &lim, &budget);
    tb_srv_rows rows = {0};
    tb_err err;
    tb_err_clear(&err);
    tb_rc rc = tb_srv_execute(srv, srv->db, &sess, "SHOW TABLES", &lim, false, &rows, &err);
    json_t *arr = json_array();
    for (size_t r = 0; rc == TB_OK && r < rows.n_rows; r++) {
        const char *name, *type;
        int32_t nl, tl;
        (void)tb_srv_rows_cell(&rows, r, 0, &name, &nl);
        (void)tb_srv_rows_cell(&rows, r, 1, &type, &tl);
        tb_buf q = {0};
        (void)tb_buf_printf(&q, "SELECT * FROM \"%.*s\" LIMIT 0", (int)nl, name);
        tb_srv_rows cols = {0};
        tb_err e2;
        tb_err_clear(&e2);
        json_t *cj = json_array();
        if (q.data != NULL &&
            tb_srv_describe_select(srv->db, q.data, lim.timeout_ms, &cols, &e2) == TB_OK) {
            char tb[64];
            for (uint32_t c = 0; c < cols.n_cols; c++)
                json_array_append_new(cj, json_pack("{s:s, s:s}", "name", cols.cols[c].name,
                                                    "type",
                                                    tb_srv_format_type(cols.cols[c].type, tb,
                                                                       sizeof(tb))));
        }
        json_array_append_new(arr, json_pack("{s:s%, s:s%, s:o}", "name", name, (size_t)nl,
                                             "type", type, (size_t)tl, "columns", cj));
        tb_srv_rows_free(&cols);
        tb_buf_free(&q);
    }
    if (rc != TB_OK) {
        json_decref(arr);
        json_err(resp, 503, err.msg, tb_srv_sqlstate(err.code), -1);
    } else {
        json_t *o = json_pack("{s:o}", "views", arr);
        char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        resp->status = 200;
        resp->ctype = "application/json";
        (void)tb_buf_puts(&resp->body, text != NULL ? text : "{}");
        (void)tb_buf_putc(&resp->body, '\n');
        free(text);
    }
    tb_srv_rows_free(&rows);
    tb_srv_session_free(&sess);
}

static void handle_progress(tb_server *srv, tb_http_resp *resp)
{
    resp->status = 200;
    resp->ctype = "application/json";
    pthread_mutex_lock(&srv->ev_mu);
    (void)tb_buf_puts(&resp->body, "{\"queries\":[");
    for (size_t i = 0; i < srv->n_qstats; i++) {
        if (i > 0)
            (void)tb_buf_putc(&resp->body, ',');
        (void)tb_buf_puts(&resp->body, srv->qstats[i].last_progress != NULL
                                           ? srv->qstats[i].last_progress
                                           : "null");
    }
    (void)tb_buf_printf(&resp->body, "],\"batchEvents\":%llu}\n",
                        (unsigned long long)srv->ev_seq);
    pthread_mutex_unlock(&srv->ev_mu);
}

static void handle_config(tb_server *srv, tb_http_resp *resp)
{
    json_t *o = json_pack("{s:s?, s:s}", "show", srv->show_sql, "version", TB_VERSION);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    resp->status = 200;
    resp->ctype = "application/json";
    (void)tb_buf_puts(&resp->body, text != NULL ? text : "{}");
    free(text);
}

static const double hist_bounds[TB_SRV_HIST_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                         0.5,   1,    2.5,   5,    10,  30};

static void metric_escape(tb_buf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\')
            (void)tb_buf_putc(b, '\\');
        if (*s == '\n') {
            (void)tb_buf_puts(b, "\\n");
            continue;
        }
        (void)tb_buf_putc(b, *s);
    }
}

/* Kafka consumer lag per partition (issue 11): latestOffset - endOffset of the last
 * batch's sources[] entry (the source's view of the high watermark when it planned). */
static void put_kafka_lag(tb_buf *b, const tb_srv_qstats *q)
{
    json_t *rec = q->last_progress != NULL ? json_loads(q->last_progress, 0, NULL) : NULL;
    json_t *src, *parts, *end;
    const char *topic, *part;
    size_t i;
    json_array_foreach(json_object_get(rec, "sources"), i, src)
    {
        const char *desc = json_string_value(json_object_get(src, "description"));
        if (desc == NULL || strncmp(desc, "KafkaV2", 7) != 0)
            continue;
        json_object_foreach(json_object_get(src, "endOffset"), topic, parts)
        {
            json_t *lt = json_object_get(json_object_get(src, "latestOffset"), topic);
            json_object_foreach(parts, part, end)
            {
                json_t *latest = json_object_get(lt, part);
                if (!json_is_integer(latest) || !json_is_integer(end))
                    continue;
                (void)tb_buf_puts(b, "tributary_kafka_lag{query=\"");
                metric_escape(b, q->name);
                (void)tb_buf_puts(b, "\",topic=\"");
                metric_escape(b, topic);
                (void)tb_buf_printf(b, "\",partition=\"%s\"} %lld\n", part,
                                    (long long)(json_integer_value(latest) -
                                                json_integer_value(end)));
            }
        }
    }
    json_decref(rec);
}

static void handle_metrics(tb_server *srv, tb_http_resp *resp)
{
    tb_buf *b = &resp->body;
    resp->status = 200;
    resp->ctype = "text/plain; version=0.0.4; charset=utf-8";
    static const struct {
        const char *name, *type, *help;
    } fams[] = {
        {"tributary_input_rows_total", "counter", "Rows read by the continuous query."},
        {"tributary_batches_total", "counter", "Micro-batches committed."},
        {"tributary_rows_malformed_total", "counter", "Input rows that failed to parse."},
        {"tributary_rows_dropped_total", "counter", "Rows dropped as late by the watermark."},
        {"tributary_state_rows", "gauge", "Groups held in the aggregate state."},
        {"tributary_state_bytes", "gauge", "Bytes held in the aggregate state."},
        {"tributary_watermark_delay_seconds", "gauge",
         "Wall clock minus the event-time watermark at the last batch."},
    };
    pthread_mutex_lock(&srv->ev_mu);
    for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
        (void)tb_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", fams[f].name, fams[f].help,
                            fams[f].name, fams[f].type);
        for (size_t i = 0; i < srv->n_qstats; i++) {
            const tb_srv_qstats *q = &srv->qstats[i];
            double v = 0;
            switch (f) {
            case 0: v = (double)q->input_rows; break;
            case 1: v = (double)q->batches; break;
            case 2: v = (double)q->malformed; break;
            case 3: v = (double)q->dropped; break;
            case 4: v = (double)q->state_rows; break;
            case 5: v = (double)q->state_bytes; break;
            default: v = q->watermark_delay_s; break;
            }
            if (f == 6 && v < 0)
                continue;
            (void)tb_buf_printf(b, "%s{query=\"", fams[f].name);
            metric_escape(b, q->name);
            (void)tb_buf_printf(b, "\"} %.17g\n", v);
        }
    }
    (void)tb_buf_puts(b, "# HELP tributary_batch_duration_seconds Time to run a micro-batch.\n"
                         "# TYPE tributary_batch_duration_seconds histogram\n");
    for (size_t i = 0; i < srv->n_qstats; i++) {
        const tb_srv_qstats *q = &srv->qstats[i];
        long long cum = 0;
        for (int k = 0; k < TB_SRV_HIST_BUCKETS; k++) {
            cum += q->dur_buckets[k];
            (void)tb_buf_puts(b, "tributary_batch_duration_seconds_bucket{query=\"");
            metric_escape(b, q->name);
            (void)tb_buf_printf(b, "\",le=\"%g\"} %lld\n", hist_bounds[k], cum);
        }
        (void)tb_buf_puts(b, "tributary_batch_duration_seconds_bucket{query=\"");
        metric_escape(b, q->name);
        (void)tb_buf_printf(b, "\",le=\"+Inf\"} %lld\n", q->batches);
        (void)tb_buf_puts(b, "tributary_batch_duration_seconds_sum{query=\"");
        metric_escape(b, q->name);
        (void)tb_buf_printf(b, "\"} %.9g\n", q->dur_sum_s);
        (void)tb_buf_puts(b, "tributary_batch_duration_seconds_count{query=\"");
        metric_escape(b, q->name);
        (void)tb_buf_printf(b, "\"} %lld\n", q->batches);
    }
    (void)tb_buf_puts(b, "# HELP tributary_kafka_lag Kafka messages behind the partition's "
                         "latest offset at the last batch.\n# TYPE tributary_kafka_lag gauge\n");
    for (size_t i = 0; i < srv->n_qstats; i++)
        put_kafka_lag(b, &srv->qstats[i]);
    pthread_mutex_unlock(&srv->ev_mu);
    (void)tb_buf_printf(b,
                        "# HELP tributary_pg_connections Open PostgreSQL protocol connections.\n"
                        "# TYPE tributary_pg_connections gauge\n"
                        "tributary_pg_connections %lld\n"
                        "# HELP tributary_http_requests_total HTTP requests received.\n"
                        "# TYPE tributary_http_requests_total counter\n"
                        "tributary_http_requests_total %lld\n",
                        (long long)atomic_load(&srv->pg_connections),
                        (long long)atomic_load(&srv->http_requests));
}

static bool token_ok(tb_server *srv, const char *authorization, const char *query)
{
    if (srv->token == NULL)
        return true;
    const char *given = NULL;
    char *from_query = NULL;
    if (authorization != NULL && tb_str_nieq(authorization, 7, "Bearer "))
        given = authorization + 7;
    if (given == NULL && query != NULL) {
        bool bad = false;
        size_t off = 0;
        from_query = query_arg(query, "token", &bad, &off);
        given = from_query;
    }
    bool ok = false;
    if (given != NULL) {
        size_t a = strlen(given), b = strlen(srv->token);
        unsigned diff = (unsigned)(a != b);
        for (size_t i = 0; i < a; i++)
            diff |= (unsigned)(uint8_t)given[i] ^ (unsigned)(uint8_t)srv->token[i % (b ? b : 1)];
        ok = diff == 0;
    }
    tb_free(from_query);
    return ok;
}

void tb_http_handle(tb_server *srv, const char *method, const char *raw_url,
                    const char *authorization, tb_http_resp *resp)
{
    resp->status = 500;
    resp->ctype = "text/plain";
    resp->sse = false;
    resp->auth_challenge = false;
    atomic_fetch_add(&srv->http_requests, 1);
    size_t ulen = strlen(raw_url);
    if (ulen > TB_HTTP_MAX_URL) {
        json_err(resp, 414, "request target too long", NULL, -1);
        return;
    }
    const char *q = strchr(raw_url, '?');
    size_t plen = q != NULL ? (size_t)(q - raw_url) : ulen;
    tb_buf path = {0};
    size_t bad_off = 0;
    if (!tb_http_decode(raw_url, plen, false, &path, &bad_off)) {
        char msg[96];
        snprintf(msg, sizeof(msg), "bad percent-encoding in the path at offset %zu", bad_off);
        json_err(resp, 400, msg, NULL, -1);
        tb_buf_free(&path);
        return;
    }
    const char *p = path.data != NULL ? path.data : "";
    /* no '..' segment, no backslash: nothing here maps to files, and nothing may look
     * as if it did */
    bool traversal = strchr(p, '\\') != NULL;
    for (const char *s = p; *s != '\0'; s++)
        if (s[0] == '.' && s[1] == '.' && (s == p || s[-1] == '/') && (s[2] == '/' || s[2] == '\0'))
            traversal = true;
    if (p[0] != '/' || traversal) {
        json_err(resp, 400, "bad request path", NULL, -1);
        tb_buf_free(&path);
        return;
    }
    const char *query = q != NULL ? q + 1 : NULL;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        json_err(resp, 405, "only GET is supported (the API is read-only)", NULL, -1);
    } else if (strcmp(p, "/") == 0 || strcmp(p, "/index.html") == 0) {
        /* the page itself carries no data; it reads the API with the token */
        resp->status = 200;
        resp->ctype = "text/html; charset=utf-8";
        (void)tb_buf_append(&resp->body, tb_dashboard_html, tb_dashboard_html_len);
    } else if (!token_ok(srv, authorization, query)) {
        resp->auth_challenge = true;
        json_err(resp, 401, "missing or wrong token (Authorization: Bearer TOKEN)", "28P01", -1);
    } else if (strcmp(p, "/api/query") == 0) {
        handle_query(srv, query, resp);
    } else if (strcmp(p, "/api/views") == 0) {
        handle_views(srv, resp);
    } else if (strcmp(p, "/api/progress") == 0) {
        handle_progress(srv, resp);
    } else if (strcmp(p, "/api/config") == 0) {
        handle_config(srv, resp);
    } else if (strcmp(p, "/api/events") == 0) {
        resp->status = 200;
        resp->ctype = "text/event-stream";
        resp->sse = true;
    } else if (strcmp(p, "/metrics") == 0) {
        handle_metrics(srv, resp);
    } else {
        json_err(resp, 404, "no such resource", NULL, -1);
    }
    tb_buf_free(&path);
}

/* ---------------------------------------------------------------- batches -> events */

/* The view's rows as JSON row texts (heap strings) in `now`, under the read lock. */
static tb_rc view_rows(tb_server *srv, const char *view, json_t **out_cols, tb_strlist *now)
{
    tb_buf q = {0};
    if (tb_buf_printf(&q, "SELECT * FROM \"%s\"", view) != TB_OK)
        return TB_E_NOMEM;
    tb_srv_session sess = {0};
    tb_srv_limits lim;
    tb_mem_budget budget;
    limits_default(srv, &sess, &lim, &budget);
    /* a batch committed: read the views as of it (the next batch waits for this) */
    tb_srv_rows rows = {0};
    tb_err err;
    tb_err_clear(&err);
    tb_rc rc = tb_srv_run_select(srv->db, q.data, false, &lim, &rows, &err);
    tb_buf_free(&q);
    if (rc == TB_OK) {
        json_t *o = rows_json(&rows);
        json_t *data = o != NULL ? json_object_get(o, "rows") : NULL;
        *out_cols = o != NULL ? json_incref(json_object_get(o, "columns")) : NULL;
        size_t i;
        json_t *row;
        json_array_foreach(data, i, row)
        {
            char *t = json_dumps(row, JSON_COMPACT | JSON_ENCODE_ANY);
            if (t == NULL || tb_strlist_push(now, t) != TB_OK)
                rc = TB_E_NOMEM;
            free(t);
            if (rc != TB_OK)
                break;
        }
        json_decref(o);
    }
    tb_srv_rows_free(&rows);
    tb_srv_session_free(&sess);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool in_sorted(const tb_strlist *l, const char *s)
{
    return l->n > 0 && bsearch(&s, l->items, l->n, sizeof(char *), cmp_str) != NULL;
}

static tb_srv_qstats *qstats_for(tb_server *srv, const char *name)
{
    for (size_t i = 0; i < srv->n_qstats; i++)
        if (strcmp(srv->qstats[i].name, name) == 0)
            return &srv->qstats[i];
    if (srv->n_qstats >= TB_SRV_MAX_QUERIES)
        return NULL;
    tb_srv_qstats *q = &srv->qstats[srv->n_qstats++];
    memset(q, 0, sizeof(*q));
    snprintf(q->name, sizeof(q->name), "%s", name);
    q->watermark_delay_s = -1;
    return q;
}

static void update_stats(tb_server *srv, json_t *prog, const char *text)
{
    const char *name = json_string_value(json_object_get(prog, "name"));
    tb_srv_qstats *q = qstats_for(srv, name != NULL ? name : "query");
    if (q == NULL)
        return;
    q->batches++;
    q->input_rows += json_integer_value(json_object_get(prog, "numInputRows"));
    q->malformed += json_integer_value(json_object_get(prog, "rowsMalformed"));
    q->dropped += json_integer_value(json_object_get(prog, "rowsDroppedByWatermark"));
    q->state_rows = json_integer_value(json_object_get(prog, "stateRows"));
    q->state_bytes = json_integer_value(json_object_get(prog, "stateBytes"));
    double dur = json_number_value(json_object_get(json_object_get(prog, "durationMs"), "total")) /
                 1e3;
    q->dur_sum_s += dur;
    for (int k = 0; k < TB_SRV_HIST_BUCKETS; k++) {
        if (dur <= hist_bounds[k]) {
            q->dur_buckets[k]++;
            break;
        }
    }
    const char *wm = json_string_value(json_object_get(prog, "watermark"));
    int64_t wm_us = 0;
    if (wm != NULL && tb_parse_timestamp(wm, strlen(wm), &wm_us))
        q->watermark_delay_s = (double)(tb_wall_us() - wm_us) / 1e6;
    char *copy = tb_strdup(text);
    if (copy != NULL) {
        tb_free(q->last_progress);
        q->last_progress = copy;
    }
}

#define VIEW_DIFF_MAX 10000 /* rows of a view diffed per event; beyond: not sent */

void tb_server_on_batch(void *ud, const char *progress_json, const char *const *views,
                        size_t n_views)
{
    tb_server *srv = ud;
    if (srv == NULL)
        return;
    json_t *prog = json_loads(progress_json, 0, NULL);
    json_t *ev = json_pack("{s:o?, s:{}}", "progress", prog != NULL ? json_incref(prog) : NULL,
                           "views");
    json_t *vobj = ev != NULL ? json_object_get(ev, "views") : NULL;
    for (size_t v = 0; v < n_views && vobj != NULL; v++) {
        size_t slot = srv->n_views;
        for (size_t i = 0; i < srv->n_views; i++)
            if (strcmp(srv->view_names[i], views[v]) == 0)
                slot = i;
        if (slot == srv->n_views) {
            char **names = tb_realloc(srv->view_names, sizeof(char *) * (slot + 1));
            if (names == NULL)
                continue;
            srv->view_names = names;
            tb_strlist *prev = tb_realloc(srv->view_prev, sizeof(tb_strlist) * (slot + 1));
            if (prev == NULL)
                continue;
            srv->view_prev = prev;
            if ((srv->view_names[slot] = tb_strdup(views[v])) == NULL)
                continue;
            memset(&srv->view_prev[slot], 0, sizeof(tb_strlist));
            srv->n_views++;
        }
        tb_strlist now = {0};
        json_t *cols = NULL;
        if (view_rows(srv, views[v], &cols, &now) != TB_OK) {
            tb_strlist_free(&now);
            json_decref(cols);
            continue;
        }
        qsort(now.items, now.n, sizeof(char *), cmp_str);
        json_t *changed = json_array(), *removed = json_array();
        bool truncated = now.n > VIEW_DIFF_MAX || srv->view_prev[slot].n > VIEW_DIFF_MAX;
        for (size_t i = 0; !truncated && i < now.n; i++)
            if (!in_sorted(&srv->view_prev[slot], now.items[i]))
                json_array_append_new(changed, json_loads(now.items[i], JSON_DECODE_ANY, NULL));
        for (size_t i = 0; !truncated && i < srv->view_prev[slot].n; i++)
            if (!in_sorted(&now, srv->view_prev[slot].items[i]))
                json_array_append_new(removed, json_loads(srv->view_prev[slot].items[i],
                                                          JSON_DECODE_ANY, NULL));
        json_object_set_new(vobj, views[v],
                            json_pack("{s:o?, s:o, s:o, s:I, s:b}", "columns", cols, "changed",
                                      changed, "removed", removed, "rowCount",
                                      (json_int_t)now.n, "truncated", truncated));
        tb_strlist_free(&srv->view_prev[slot]);
        srv->view_prev[slot] = now;
    }
    char *text = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;
    pthread_mutex_lock(&srv->ev_mu);
    if (prog != NULL)
        update_stats(srv, prog, progress_json);
    if (text != NULL) {
        srv->ev_seq++;
        size_t slot = (size_t)(srv->ev_seq % TB_SRV_EVENTS);
        tb_free(srv->events[slot]);
        srv->events[slot] = tb_strdup(text);
    }
    pthread_cond_broadcast(&srv->ev_cv);
    pthread_mutex_unlock(&srv->ev_mu);
    free(text);
    json_decref(ev);
    json_decref(prog);
}

/* ---------------------------------------------------------------- libmicrohttpd */

typedef struct sse_state {
    tb_server *srv;
    uint64_t seq;
    tb_buf pending;
    size_t off;
} sse_state;

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    sse_state *s = cls;
    (void)pos;
    tb_server *srv = s->srv;
    if (s->off >= s->pending.len) {
        s->pending.len = 0;
        s->off = 0;
        pthread_mutex_lock(&srv->ev_mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 15;
        while (srv->ev_seq <= s->seq && !atomic_load(&srv->stopping)) {
            if (pthread_cond_timedwait(&srv->ev_cv, &srv->ev_mu, &ts) != 0)
                break;
        }
        if (atomic_load(&srv->stopping)) {
            pthread_mutex_unlock(&srv->ev_mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (srv->ev_seq <= s->seq) {
            (void)tb_buf_puts(&s->pending, ": keepalive\n\n");
        } else {
            if (srv->ev_seq - s->seq > TB_SRV_EVENTS) {
                s->seq = srv->ev_seq - TB_SRV_EVENTS;
                (void)tb_buf_puts(&s->pending, ": lagged; older events dropped\n\n");
            }
            while (s->seq < srv->ev_seq) {
                s->seq++;
                const char *e = srv->events[s->seq % TB_SRV_EVENTS];
                (void)tb_buf_printf(&s->pending, "id: %llu\nevent: batch\ndata: %s\n\n",
                                    (unsigned long long)s->seq, e != NULL ? e : "{}");
            }
        }
        pthread_mutex_unlock(&srv->ev_mu);
        if (s->pending.len == 0)
            return MHD_CONTENT_READER_END_WITH_ERROR; /* out of memory */
    }
    size_t n = s->pending.len - s->off;
    if (n > max)
        n = max;
    memcpy(buf, s->pending.data + s->off, n);
    s->off += n;
    return (ssize_t)n;
}

static void sse_free(void *cls)
{
    sse_state *s = cls;
    tb_buf_free(&s->pending);
    tb_free(s);
}

/* The raw request target, kept for the handler (libmicrohttpd decodes its own copy). */
static void *uri_log(void *cls, const char *uri, struct MHD_Connection *con)
{
    (void)cls;
    (void)con;
    size_t n = strnlen(uri, TB_HTTP_MAX_URL + 1);
    return tb_strndup(uri, n);
}

static void request_done(void *cls, struct MHD_Connection *con, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)con;
    (void)toe;
    tb_free(*con_cls);
    *con_cls = NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    tb_server *srv = cls;
    (void)url;
    (void)version;
    (void)upload_data;
    tb_srv_thread_nice(); /* a connection's thread: cheap, idempotent */
    if (*upload_data_size != 0) {
        *upload_data_size = 0; /* bodies are ignored: every route is a GET */
        return MHD_YES;
    }
    const char *raw = *con_cls != NULL ? (const char *)*con_cls : url;
    const char *auth = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Authorization");
    tb_http_resp resp = {0};
    tb_http_handle(srv, method, raw, auth, &resp);
    struct MHD_Response *r = NULL;
    if (resp.sse) {
        sse_state *s = tb_calloc(1, sizeof(*s));
        if (s != NULL) {
            s->srv = srv;
            pthread_mutex_lock(&srv->ev_mu);
            s->seq = srv->ev_seq;
            pthread_mutex_unlock(&srv->ev_mu);
            (void)tb_buf_puts(&s->pending, "retry: 1000\n: connected\n\n");
            r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, s, sse_free);
            if (r == NULL)
                sse_free(s);
        }
        if (r != NULL)
            (void)MHD_add_response_header(r, "Cache-Control", "no-cache");
    } else {
        r = MHD_create_response_from_buffer(resp.body.len, resp.body.data != NULL ? resp.body.data : (void *)"",
                                            MHD_RESPMEM_MUST_COPY);
    }
    tb_buf_free(&resp.body);
    if (r == NULL)
        return MHD_NO;
    (void)MHD_add_response_header(r, "Content-Type", resp.ctype);
    (void)MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (resp.auth_challenge)
        (void)MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    enum MHD_Result ret = MHD_queue_response(con, (unsigned)resp.status, r);
    MHD_destroy_response(r);
    return ret;
}

tb_rc tb_http_start(tb_server *srv, const char *listen, tb_err *err)
{
    struct sockaddr_in sa;
    bool loopback = true;
    tb_rc rc = tb_srv_parse_listen(listen, &sa, &loopback, err);
    if (rc != TB_OK)
        return tb_err_prefix(err, "--http");
    if (!loopback && srv->token == NULL)
        return TB_ERRF(err, TB_E_MISUSE,
                       "--http: listening on %s (not a loopback address) needs --token", listen);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
        on_request, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)256, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)120, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 << 10),
        MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL, MHD_OPTION_NOTIFY_COMPLETED, request_done,
        NULL, MHD_OPTION_END);
    if (d == NULL)
        return TB_ERRF(err, TB_E_IO, "--http: cannot listen on %s (port in use?)", listen);
    srv->mhd = d;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
    snprintf(srv->http_addr, sizeof(srv->http_addr), "%s:%u", ip,
             info != NULL ? info->port : ntohs(sa.sin_port));
    return TB_OK;
}

void tb_http_stop(tb_server *srv)
{
    if (srv->mhd == NULL)
        return;
    pthread_mutex_lock(&srv->ev_mu);
    pthread_cond_broadcast(&srv->ev_cv); /* event streams see `stopping` and end */
    pthread_mutex_unlock(&srv->ev_mu);
    MHD_stop_daemon(srv->mhd);
    srv->mhd = NULL;
}
