/*
 * test_sql.c - the SQL layer through its two APIs: the public one (tributary.h) and the
 * module one for upper layers (sql/sql.h): results, errors with positions and psql-style
 * rendering, catalog connectors with projection pushdown, the statement hook, planning
 * with an aggregate hook, table-function registration, plan shapes (EXPLAIN), and
 * allocation-failure injection over whole statements.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pg_query/pg_query.pb-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql/sql.h"

/* ---------------------------------------------------------------- helpers */

static tb_db *open_db(void)
{
    tb_db *db = NULL;
    assert_int_equal(tb_db_open(NULL, &db), TB_OK);
    assert_non_null(db);
    return db;
}

static void exec_ok(tb_db *db, const char *sql)
{
    tb_rc rc = tb_db_exec(db, sql, NULL);
    if (rc != TB_OK)
        fail_msg("exec failed: %s\n  %s", tb_db_errmsg(db), sql);
}

/* First column of every row as text, joined by ',' (NULL as "NULL"). */
static char *rows_text(tb_db *db, const char *sql)
{
    tb_result *res = NULL;
    tb_rc rc = tb_db_exec(db, sql, &res);
    if (rc != TB_OK)
        fail_msg("query failed: %s\n  %s", tb_db_errmsg(db), sql);
    tb_buf buf = {0};
    int has = 0;
    while (tb_result_step(res, &has) == TB_OK && has) {
        if (buf.len > 0)
            tb_buf_putc(&buf, ',');
        for (int c = 0; c < tb_result_column_count(res); c++) {
            if (c > 0)
                tb_buf_putc(&buf, '|');
            const char *t = tb_result_text(res, c);
            tb_buf_puts(&buf, t ? t : "NULL");
        }
    }
    tb_result_free(&res);
    tb_buf_cstr(&buf);
    if (buf.data == NULL)
        return strdup("");
    char *s = strdup(buf.data);
    tb_buf_free(&buf);
    return s;
}

static void expect_rows(tb_db *db, const char *sql, const char *want)
{
    char *got = rows_text(db, sql);
    if (strcmp(got, want) != 0) {
        char msg[4096];
        snprintf(msg, sizeof(msg), "%s\n  want: %s\n  got:  %s", sql, want, got);
        free(got);
        fail_msg("%s", msg);
    }
    free(got);
}

/* Exec expecting failure; returns the message (static buffer) and position. */
static const char *exec_err(tb_db *db, const char *sql, int *pos)
{
    static char msg[2048];
    tb_rc rc = tb_db_exec(db, sql, NULL);
    if (rc == TB_OK)
        fail_msg("expected an error: %s", sql);
    snprintf(msg, sizeof(msg), "%s", tb_db_errmsg(db));
    if (pos != NULL)
        *pos = tb_db_errpos(db);
    return msg;
}

static char *explain(tb_db *db, const char *sql)
{
    char q[2048];
    snprintf(q, sizeof(q), "EXPLAIN %s", sql);
    tb_result *res = NULL;
    if (tb_db_exec(db, q, &res) != TB_OK)
        fail_msg("explain failed: %s", tb_db_errmsg(db));
    tb_buf buf = {0};
    int has = 0;
    while (tb_result_step(res, &has) == TB_OK && has) {
        tb_buf_puts(&buf, tb_result_text(res, 0));
        tb_buf_putc(&buf, '\n');
    }
    tb_result_free(&res);
    tb_buf_cstr(&buf);
    char *s = strdup(buf.data ? buf.data : "");
    tb_buf_free(&buf);
    return s;
}

/* ---------------------------------------------------------------- results */

static void test_result_api(void **state)
{
    (void)state;
    tb_db *db = open_db();
    tb_result *res = NULL;
    assert_int_equal(tb_db_exec(db,
                                "SELECT 1 AS i, 2.5::double precision AS d, 'x' AS t, NULL AS n, "
                                "true AS b, 12.50 AS num, DATE '2024-01-02' AS dt",
                                &res),
                     TB_OK);
    assert_int_equal(tb_result_column_count(res), 7);
    assert_string_equal(tb_result_column_name(res, 0), "i");
    assert_string_equal(tb_result_column_type(res, 0), "integer");
    assert_string_equal(tb_result_column_type(res, 1), "double precision");
    assert_string_equal(tb_result_column_type(res, 2), "text");
    assert_string_equal(tb_result_column_type(res, 5), "numeric");
    assert_string_equal(tb_result_column_type(res, 6), "date");
    assert_int_equal(tb_result_changes(res), -1);
    int has = 0;
    assert_int_equal(tb_result_step(res, &has), TB_OK);
    assert_int_equal(has, 1);
    assert_int_equal(tb_result_type(res, 0), TB_VT_INT);
    assert_int_equal(tb_result_int(res, 0), 1);
    assert_int_equal(tb_result_type(res, 1), TB_VT_DOUBLE);
    assert_true(tb_result_double(res, 1) == 2.5);
    assert_int_equal(tb_result_type(res, 2), TB_VT_TEXT);
    assert_string_equal(tb_result_text(res, 2), "x");
    assert_true(tb_result_is_null(res, 3));
    assert_null(tb_result_text(res, 3));
    assert_int_equal(tb_result_type(res, 3), TB_VT_NULL);
    assert_int_equal(tb_result_type(res, 4), TB_VT_BOOL);
    assert_int_equal(tb_result_int(res, 4), 1);
    assert_string_equal(tb_result_text(res, 5), "12.50");
    assert_true(tb_result_double(res, 5) == 12.5);
    assert_int_equal(tb_result_int(res, 5), 12);
    assert_string_equal(tb_result_text(res, 6), "2024-01-02");
    /* texts of two columns stay valid together */
    const char *a = tb_result_text(res, 2), *b = tb_result_text(res, 5);
    assert_string_equal(a, "x");
    assert_string_equal(b, "12.50");
    assert_int_equal(tb_result_step(res, &has), TB_OK);
    assert_int_equal(has, 0);
    assert_int_equal(tb_result_step(res, &has), TB_OK);
    assert_int_equal(has, 0);
    tb_result_free(&res);
    assert_null(res);
    tb_db_close(&db);
    assert_null(db);
}

/* Output column names as PostgreSQL's FigureColname gives them: a function call after
 * the function, a cast after its argument, an operator "?column?", a scalar subquery
 * after its column (the server answers version() and current_setting() that way). */
static void test_column_names(void **state)
{
    (void)state;
    tb_db *db = open_db();
    tb_result *res = NULL;
    assert_int_equal(tb_db_exec(db,
                                "SELECT now(), count(*), upper('a'), x::text, CAST(x AS bigint), "
                                "coalesce(x, 1), 1 + 1, current_date, sum(x) AS s, "
                                "(SELECT 'v' AS version), max(x) FROM (VALUES (1)) t(x) "
                                "GROUP BY x",
                                &res),
                     TB_OK);
    static const char *const want[] = {"now",    "count",        "upper", "x",
                                       "x",      "coalesce",     "?column?", "current_date",
                                       "s",      "version",      "max"};
    assert_int_equal(tb_result_column_count(res), 11);
    for (int i = 0; i < 11; i++)
        assert_string_equal(tb_result_column_name(res, i), want[i]);
    tb_result_free(&res);
    tb_db_close(&db);
}

static void test_changes_and_streaming(void **state)
{
    (void)state;
    tb_db *db = open_db();
    tb_result *res = NULL;
    assert_int_equal(tb_db_exec(db, "CREATE TABLE d (x int)", &res), TB_OK);
    assert_int_equal(tb_result_column_count(res), 0);
    int has = 1;
    assert_int_equal(tb_result_step(res, &has), TB_OK);
    assert_int_equal(has, 0);
    tb_result_free(&res);
    assert_int_equal(tb_db_exec(db, "INSERT INTO d VALUES (1), (2), (3)", &res), TB_OK);
    assert_int_equal(tb_result_changes(res), 3);
    tb_result_free(&res);
    /* 3 * 10^4 rows: many batches */
    exec_ok(
        db,
        "CREATE TABLE ten AS SELECT * FROM (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) v(n)");
    assert_int_equal(
        tb_db_exec(db,
                   "CREATE TABLE big AS SELECT a.n + 10 * b.n + 100 * c.n + 1000 * e.n "
                   "AS v, d.x FROM ten a, ten b, ten c, ten e, d",
                   &res),
        TB_OK);
    assert_int_equal(tb_result_changes(res), 30000);
    tb_result_free(&res);
    assert_int_equal(tb_db_exec(db, "SELECT v, x FROM big", &res), TB_OK);
    int64_t n = 0, sum = 0;
    while (tb_result_step(res, &has) == TB_OK && has) {
        n++;
        sum += tb_result_int(res, 0);
    }
    assert_int_equal(n, 30000);
    assert_int_equal(sum, 3 * (9999LL * 10000 / 2));
    tb_result_free(&res);
    expect_rows(db, "SELECT count(*), count(DISTINCT v), max(v) FROM big", "30000|10000|9999");
    expect_rows(db, "SELECT v FROM big ORDER BY v DESC, x LIMIT 2", "9999,9999");
    expect_rows(db, "SELECT x, count(*) FROM big GROUP BY x ORDER BY x", "1|10000,2|10000,3|10000");
    tb_db_close(&db);
}

/* ---------------------------------------------------------------- errors */

static void test_error_messages(void **state)
{
    (void)state;
    tb_db *db = open_db();
    exec_ok(db, "CREATE TABLE sales (sale_id int, product_id int, quantity int, ts timestamp)");
    exec_ok(db, "CREATE TABLE products (product_id int, category text)");
    int pos;
    const char *sql = "SELECT qty FROM sales";
    const char *m = exec_err(db, sql, &pos);
    assert_non_null(strstr(m, "column \"qty\" does not exist"));
    assert_non_null(strstr(m, "candidates: quantity"));
    assert_int_equal(pos, 7);

    sql = "SELECT category\nFROM product";
    m = exec_err(db, sql, &pos);
    assert_non_null(strstr(m, "relation \"product\" does not exist"));
    assert_non_null(strstr(m, "candidates: products"));
    assert_int_equal(pos, 21);

    m = exec_err(db, "SELECT product_id FROM sales, products", &pos);
    assert_string_equal(m, "column reference \"product_id\" is ambiguous");
    assert_int_equal(pos, 7);

    m = exec_err(db, "SELECT sale_id, sum(quantity) FROM sales", &pos);
    assert_string_equal(m, "column \"sales.sale_id\" must appear in the GROUP BY clause or be "
                           "used in an aggregate function");
    assert_int_equal(pos, 7);

    m = exec_err(db, "SELECT quantity + category FROM sales, products", &pos);
    assert_non_null(strstr(m, "integer"));
    assert_non_null(strstr(m, "text"));

    /* syntax error in the second statement: position in the whole text */
    sql = "SELECT 1;\nSELEC 2";
    m = exec_err(db, sql, &pos);
    assert_non_null(strstr(m, "syntax error"));
    assert_int_equal(pos, 10);

    /* multibyte text before the error */
    sql = "SELECT 'é' FROM nosuch";
    m = exec_err(db, sql, &pos);
    assert_int_equal(pos, 17);

    /* runtime errors surface from tb_db_exec (result not requested) and from step */
    m = exec_err(db, "SELECT 1 / 0", NULL);
    assert_non_null(strstr(m, "division by zero"));
    tb_result *res = NULL;
    assert_int_equal(tb_db_exec(db, "SELECT 1 / (x - 1) FROM (VALUES (1)) v(x)", &res), TB_OK);
    int has = 0;
    assert_int_not_equal(tb_result_step(res, &has), TB_OK);
    assert_non_null(strstr(tb_db_errmsg(db), "division by zero"));
    tb_result_free(&res);

    /* a successful call clears the error */
    exec_ok(db, "SELECT 1");
    assert_string_equal(tb_db_errmsg(db), "");
    assert_int_equal(tb_db_errpos(db), -1);
    tb_db_close(&db);
}

static void test_format_error(void **state)
{
    (void)state;
    tb_err err;
    tb_err_clear(&err);
    TB_ERRF(&err, TB_E_NOTFOUND, "column \"foo\" does not exist");
    const char *sql = "SELECT a,\n       foo FROM t";
    err.pos = 17;
    tb_buf buf = {0};
    assert_int_equal(tb_sql_format_error(sql, &err, &buf), TB_OK);
    assert_string_equal(tb_buf_cstr(&buf), "ERROR:  column \"foo\" does not exist\n"
                                           "LINE 2:        foo FROM t\n"
                                           "               ^\n");
    tb_buf_free(&buf);
    err.pos = -1;
    assert_int_equal(tb_sql_format_error(sql, &err, &buf), TB_OK);
    assert_string_equal(tb_buf_cstr(&buf), "ERROR:  column \"foo\" does not exist\n");
    tb_buf_free(&buf);
    /* a long line is cut around the position */
    char longsql[400];
    memset(longsql, 'x', sizeof(longsql));
    memcpy(longsql, "SELECT ", 7);
    longsql[sizeof(longsql) - 1] = '\0';
    err.pos = 300;
    assert_int_equal(tb_sql_format_error(longsql, &err, &buf), TB_OK);
    const char *line2 = strchr(tb_buf_cstr(&buf), '\n') + 1;
    assert_true(strncmp(line2, "LINE 1: ...", 11) == 0);
    const char *line3 = strchr(line2, '\n') + 1;
    assert_int_equal((int)(strchr(line3, '^') - line3), (int)strlen("LINE 1: ...") + 40);
    tb_buf_free(&buf);
    /* through the db */
    tb_db *db = open_db();
    const char *q = "SELECT 1,\n  nosuch";
    assert_int_not_equal(tb_db_exec(db, q, NULL), TB_OK);
    assert_int_equal(tb_sql_format_error(q, tb_db_last_error(db), &buf), TB_OK);
    assert_string_equal(tb_buf_cstr(&buf), "ERROR:  column \"nosuch\" does not exist\n"
                                           "LINE 2:   nosuch\n"
                                           "          ^\n");
    tb_buf_free(&buf);
    tb_db_close(&db);
}

/* ---------------------------------------------------------------- connectors */

typedef struct conn_state {
    int opens;
    int last_proj[8];
    uint32_t last_n_proj;
    int freed;
} conn_state;

static conn_state g_conn;

/* A connector over rows (i, i*10, 'r<i>') for i in 1..4 built with a values operator
 * (whose expressions live in arenas kept until the test ends). */
static tb_arena *g_keep_arenas[256];
static int g_n_keep;

static tb_rc conn_open2(void *ud, const int *proj, uint32_t n_proj, tb_op **out, tb_err *err)
{
    conn_state *cs = ud;
    cs->opens++;
    cs->last_n_proj = n_proj;
    for (uint32_t i = 0; i < n_proj && i < 8; i++)
        cs->last_proj[i] = proj[i];
    tb_arena *arena = tb_arena_new(0);
    assert_true(g_n_keep < 256);
    g_keep_arenas[g_n_keep++] = arena;
    tb_schema *full = NULL;
    assert_int_equal(tb_schema_parse("a int, b bigint, c text", &full, err), TB_OK);
    tb_schema *schema = tb_schema_new(n_proj);
    for (uint32_t i = 0; i < n_proj; i++)
        tb_schema_set(schema, i, full->fields[proj[i]].name, full->fields[proj[i]].type, true);
    tb_expr **ex = tb_arena_alloc(arena, (4 * n_proj + 1) * sizeof(tb_expr *));
    for (int r = 0; r < 4; r++) {
        for (uint32_t i = 0; i < n_proj; i++) {
            tb_value v;
            memset(&v, 0, sizeof(v));
            char txt[8];
            tb_expr *e;
            if (proj[i] == 0) {
                v.type = tb_type_make(TB_T_INT32);
                v.u.i = r + 1;
                e = tb_expr_const(arena, &v);
            } else if (proj[i] == 1) {
                v.type = tb_type_make(TB_T_INT64);
                v.u.i = (r + 1) * 10;
                e = tb_expr_const(arena, &v);
            } else {
                snprintf(txt, sizeof(txt), "r%d", r + 1);
                v.type = tb_type_make(TB_T_STRING);
                v.u.s.ptr = txt;
                v.u.s.len = (uint32_t)strlen(txt);
                e = tb_expr_const(arena, &v);
                assert_int_equal(tb_expr_cast(arena, e, v.type, -1, &e, err), TB_OK);
            }
            ex[r * n_proj + i] = e;
        }
    }
    tb_rc rc = tb_op_values_new(schema, 4, ex, out, err);
    tb_schema_free(schema);
    tb_schema_free(full);
    return rc;
}

static void conn_free(void *ud)
{
    conn_state *cs = ud;
    cs->freed++;
}

static int64_t conn_rows(void *ud)
{
    (void)ud;
    return 4;
}

static const tb_connector_vt test_vt = {"testconn", conn_open2, conn_free, conn_rows, NULL};

static void test_connector(void **state)
{
    (void)state;
    tb_db *db = open_db();
    memset(&g_conn, 0, sizeof(g_conn));
    tb_schema *schema = NULL;
    tb_err err;
    tb_err_clear(&err);
    assert_int_equal(tb_schema_parse("a int, b bigint, c text", &schema, &err), TB_OK);
    assert_int_equal(tb_catalog_add_connector(db, "conn", schema, &test_vt, &g_conn, &err), TB_OK);
    assert_int_equal(tb_catalog_add_connector(db, "conn", schema, &test_vt, &g_conn, &err),
                     TB_E_EXISTS);
    tb_schema_free(schema);

    tb_catalog_info info;
    assert_int_equal(tb_catalog_lookup(db, "conn", &info, &err), TB_OK);
    assert_int_equal(info.kind, TB_CAT_CONNECTOR);
    assert_ptr_equal(info.ud, &g_conn);
    assert_int_equal(info.schema->n, 3);
    assert_int_equal(tb_catalog_lookup(db, "nosuch", &info, &err), TB_E_NOTFOUND);

    expect_rows(db, "SELECT c, a FROM conn WHERE b > 20 ORDER BY a", "r3|3,r4|4");
    assert_int_equal(g_conn.last_n_proj, 3); /* a, b, c: b is needed by the filter */
    expect_rows(db, "SELECT c FROM conn ORDER BY c DESC LIMIT 1", "r4");
    assert_int_equal(g_conn.last_n_proj, 1);
    assert_int_equal(g_conn.last_proj[0], 2);
    /* count(*) reads no column */
    expect_rows(db, "SELECT count(*) FROM conn", "4");
    assert_int_equal(g_conn.last_n_proj, 0);
    /* self join opens it twice */
    int before = g_conn.opens;
    expect_rows(db, "SELECT x.a, y.b FROM conn x JOIN conn y ON x.a = y.a WHERE x.a = 2", "2|20");
    assert_int_equal(g_conn.opens - before, 2);
    /* join with a memory table, SHOW TABLES */
    exec_ok(db, "CREATE TABLE m (a int, label text); INSERT INTO m VALUES (1, 'one'), (4, 'four')");
    expect_rows(db, "SELECT label, b FROM conn JOIN m USING (a) ORDER BY a", "one|10,four|40");
    expect_rows(db, "SHOW TABLES", "conn|testconn,m|table");
    /* drop frees the state */
    assert_int_equal(g_conn.freed, 0);
    exec_ok(db, "DROP TABLE conn");
    assert_int_equal(g_conn.freed, 1);
    assert_int_equal(tb_catalog_drop(db, "conn", false, &err), TB_E_NOTFOUND);
    assert_int_equal(tb_catalog_drop(db, "conn", true, &err), TB_OK);

    /* a memory table added through the API */
    tb_schema *ts = NULL;
    assert_int_equal(tb_schema_parse("k int", &ts, &err), TB_OK);
    tb_table *t = tb_table_new(ts);
    tb_schema_free(ts);
    assert_int_equal(tb_catalog_add_table(db, "apit", t, &err), TB_OK);
    exec_ok(db, "INSERT INTO apit VALUES (5), (6)");
    assert_int_equal(tb_catalog_lookup(db, "apit", &info, &err), TB_OK);
    assert_ptr_equal(info.table, t);
    assert_int_equal(tb_table_rows(t), 2);
    tb_strlist names = {0};
    assert_int_equal(tb_catalog_names(db, &names), TB_OK);
    assert_int_equal(names.n, 2);
    assert_string_equal(names.items[0], "m");
    assert_string_equal(names.items[1], "apit");
    tb_strlist_free(&names);
    tb_db_close(&db);
    for (int i = 0; i < g_n_keep; i++)
        tb_arena_free(g_keep_arenas[i]);
    g_n_keep = 0;
}

/* ---------------------------------------------------------------- statement hook */

typedef struct hook_state {
    int calls;
    int last_offset, last_len;
    int last_case;
    char last_text[256];
    char opts[128];
    char schema[128];
    tb_rc answer;
} hook_state;

static tb_rc hook(void *ud, tb_db *db, const char *sql, int offset, int len,
                  const struct PgQuery__Node *stmt, int64_t *out_changes, tb_err *err)
{
    hook_state *hs = ud;
    (void)db;
    hs->calls++;
    hs->last_offset = offset;
    hs->last_len = len;
    hs->last_case = (int)stmt->node_case;
    snprintf(hs->last_text, sizeof(hs->last_text), "%.*s", len > 0 ? len : 255, sql + offset);
    if (stmt->node_case == PG_QUERY__NODE__NODE_CREATE_STMT) {
        tb_strlist kv = {0};
        assert_int_equal(tb_sql_stmt_options(stmt, &kv, err), TB_OK);
        hs->opts[0] = '\0';
        for (size_t i = 0; i + 1 < kv.n; i += 2)
            snprintf(hs->opts + strlen(hs->opts), sizeof(hs->opts) - strlen(hs->opts), "%s%s=%s",
                     i ? "," : "", kv.items[i], kv.items[i + 1]);
        tb_strlist_free(&kv);
        tb_schema *sch = NULL;
        assert_int_equal(tb_sql_create_schema(stmt, &sch, err), TB_OK);
        snprintf(hs->schema, sizeof(hs->schema), "%s:%s", sch->fields[0].name,
                 tb_type_id_name((tb_type_id)sch->fields[0].type.id));
        tb_schema_free(sch);
    }
    if (hs->answer == TB_OK)
        *out_changes = 7;
    if (hs->answer != TB_OK && hs->answer != TB_E_UNSUPPORTED)
        return TB_ERRF(err, hs->answer, "hook says no");
    return hs->answer;
}

static void test_stmt_hook(void **state)
{
    (void)state;
    tb_db *db = open_db();
    hook_state hs;
    memset(&hs, 0, sizeof(hs));
    int pos;
    /* without a hook */
    const char *m = exec_err(db, "CREATE MATERIALIZED VIEW mv AS SELECT 1", &pos);
    assert_string_equal(m, "CREATE MATERIALIZED VIEW is not supported");
    tb_sql_set_stmt_hook(db, hook, &hs);
    hs.answer = TB_OK;
    tb_result *res = NULL;
    assert_int_equal(tb_db_exec(db, "SELECT 1; CREATE MATERIALIZED VIEW mv AS SELECT 1", &res),
                     TB_OK);
    assert_int_equal(tb_result_changes(res), 7);
    tb_result_free(&res);
    assert_int_equal(hs.calls, 1);
    assert_int_equal(hs.last_offset, 10);
    assert_string_equal(hs.last_text, "CREATE MATERIALIZED VIEW mv AS SELECT 1");
    assert_int_equal(hs.last_case, PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT);
    /* unknown connectors go to the hook; csv does not */
    exec_ok(db, "CREATE TABLE k (a int) WITH (connector = 'kafka', topic = 't')");
    assert_int_equal(hs.calls, 2);
    assert_int_equal(hs.last_case, PG_QUERY__NODE__NODE_CREATE_STMT);
    assert_string_equal(hs.opts, "connector=kafka,topic=t");
    assert_string_equal(hs.schema, "a:integer");
    /* declining gives "not supported" */
    hs.answer = TB_E_UNSUPPORTED;
    m = exec_err(db, "DELETE FROM k", &pos);
    assert_string_equal(m, "DELETE is not supported");
    assert_int_equal(pos, 0);
    m = exec_err(db, "CREATE TABLE k2 (a int) WITH (connector = 'nosuch')", &pos);
    assert_non_null(strstr(m, "connector 'nosuch' is not supported"));
    /* an error from the hook is the statement's */
    hs.answer = TB_E_CONFLICT;
    m = exec_err(db, "UPDATE k SET a = 1", &pos);
    assert_string_equal(m, "hook says no");
    tb_sql_set_stmt_hook(db, NULL, NULL);

    tb_db_close(&db);
}

/* ---------------------------------------------------------------- planning a stream query */

/* "group/agg" names of the plan's own aggregate, or "none". */
static const char *top_agg_names(const tb_plan *plan, char *buf, size_t cap)
{
    const tb_plan_agg *ta = plan->top_agg;
    if (ta == NULL)
        snprintf(buf, cap, "none");
    else
        snprintf(buf, cap, "%u:%s/%u:%s", ta->n_groups, ta->n_groups ? ta->group_names[0] : "-",
                 ta->n_aggs, ta->n_aggs ? ta->agg_names[0] : "-");
    return buf;
}

static void test_plan_select(void **state)
{
    (void)state;
    tb_db *db = open_db();
    exec_ok(db,
            "CREATE TABLE s (cat text, q int); INSERT INTO s VALUES ('a', 1), ('b', 2), ('a', 3)");
    char names[128];
    tb_plan_opts opts = {.stream = true};
    tb_plan *plan = NULL;
    tb_err err;
    tb_err_clear(&err);
    const char *sql = "SELECT cat, sum(q) AS total FROM s WHERE q IN (SELECT q FROM s GROUP BY q) "
                      "GROUP BY cat ORDER BY total DESC";
    assert_int_equal(tb_sql_plan_select(db, sql, &opts, &plan, &err), TB_OK);
    /* the subquery's aggregate is not the query's own */
    assert_string_equal(top_agg_names(plan, names, sizeof(names)), "1:cat/1:sum");
    assert_int_equal(plan->root->schema->n, 2);
    assert_string_equal(plan->root->schema->fields[1].name, "total");
    tb_batch *batch = NULL;
    assert_int_equal(tb_op_next(plan->root, &batch, &err), TB_OK);
    assert_non_null(batch);
    assert_int_equal(batch->n_rows, 2);
    tb_value v;
    tb_vec_get(&batch->cols[1], 0, &v);
    assert_int_equal(v.u.i, 4);
    tb_plan_free(plan);

    /* through a view; DISTINCT over GROUP BY: the GROUP BY is the query's own */
    exec_ok(db, "CREATE VIEW per_cat AS SELECT cat, sum(q) AS total FROM s GROUP BY cat");
    assert_int_equal(
        tb_sql_plan_select(db, "SELECT * FROM per_cat WHERE total > 1", &opts, &plan, &err), TB_OK);
    assert_string_equal(top_agg_names(plan, names, sizeof(names)), "1:cat/1:sum");
    tb_plan_free(plan);
    assert_int_equal(
        tb_sql_plan_select(db, "SELECT DISTINCT count(*) FROM s GROUP BY cat", &opts, &plan, &err),
        TB_OK);
    assert_string_equal(top_agg_names(plan, names, sizeof(names)), "1:cat/1:count");
    tb_plan_free(plan);
    /* aggregates under a join are not */
    assert_int_equal(
        tb_sql_plan_select(db, "SELECT * FROM per_cat JOIN s USING (cat)", &opts, &plan, &err),
        TB_OK);
    assert_string_equal(top_agg_names(plan, names, sizeof(names)), "none");
    tb_plan_free(plan);

    /* errors carry positions */
    assert_int_equal(tb_sql_plan_select(db, "SELECT nosuch FROM s", NULL, &plan, &err),
                     TB_E_NOTFOUND);
    assert_int_equal(err.pos, 7);
    assert_int_not_equal(tb_sql_plan_select(db, "CREATE TABLE x (a int)", NULL, &plan, &err),
                         TB_OK);
    tb_plan_free(NULL);
    tb_db_close(&db);
}

/* ---------------------------------------------------------------- table functions */

typedef struct gen_src {
    tb_source base;
    int64_t next, n;
    uint32_t n_proj;
} gen_src;

static tb_rc gen_next(tb_source *src, tb_arena *arena, tb_batch **out, tb_err *err)
{
    gen_src *g = (gen_src *)src;
    (void)err;
    *out = NULL;
    if (g->next >= g->n)
        return TB_OK;
    uint32_t k = (uint32_t)TB_MIN(g->n - g->next, TB_BATCH_CAP);
    tb_batch *b = NULL;
    if (tb_batch_new(src->schema, k, arena, &b) != TB_OK)
        return TB_E_NOMEM;
    for (uint32_t i = 0; i < k; i++) {
        if (g->n_proj > 0)
            TB_VEC_PTR(&b->cols[0], int64_t)[i] = g->next + i;
    }
    b->n_rows = k;
    g->next += k;
    *out = b;
    return TB_OK;
}

static void gen_free(tb_source *src)
{
    tb_schema_free(src->schema);
    tb_free(src);
}

static const tb_source_vt gen_vt = {"generate", gen_next, gen_free};

static tb_rc gen_bind(const tb_tf_arg *args, uint32_t n_args, const tb_schema *declared,
                      void **out_state, tb_schema **out_schema, tb_err *err)
{
    (void)declared;
    if (n_args != 1)
        return TB_ERRF(err, TB_E_SQL, "generate_n(n)");
    int64_t n = 0;
    if (args[0].value.type.id == TB_T_STRING)
        n = strtoll(args[0].value.u.s.ptr, NULL, 10);
    else
        n = args[0].value.u.i;
    if (n < 0) {
        TB_ERRF(err, TB_E_SQL, "generate_n: n must be >= 0");
        err->pos = args[0].pos;
        return TB_E_SQL;
    }
    int64_t *st = malloc(sizeof(int64_t));
    *st = n;
    *out_state = st;
    return tb_schema_parse("i bigint", out_schema, err);
}

static tb_rc gen_open(void *state, const int *proj, uint32_t n_proj, tb_source **out_src,
                      tb_err *err)
{
    (void)proj;
    gen_src *g = tb_calloc(1, sizeof(*g));
    g->base.vt = &gen_vt;
    g->n = *(int64_t *)state;
    g->n_proj = n_proj;
    if (n_proj == 0)
        g->base.schema = tb_schema_new(0);
    else
        assert_int_equal(tb_schema_parse("i bigint", &g->base.schema, err), TB_OK);
    *out_src = &g->base;
    return TB_OK;
}

static void gen_state_free(void *state) { free(state); }

static const tb_tablefunc gen_tf = {"read_gen", gen_bind, gen_open, gen_state_free, NULL};

static void test_tablefunc(void **state)
{
    (void)state;
    assert_int_equal(tb_sql_register_tablefunc(&gen_tf), TB_OK);
    assert_ptr_equal(tb_sql_find_tablefunc("READ_GEN"), &gen_tf);
    assert_non_null(tb_sql_find_tablefunc("read_csv"));
    assert_non_null(tb_sql_find_tablefunc("read_parquet"));
    tb_db *db = open_db();
    expect_rows(db, "SELECT count(*), sum(i), max(i) FROM read_gen(5000)", "5000|12497500|4999");
    expect_rows(db, "SELECT count(*) FROM read_gen(3)", "3");
    int pos;
    const char *m = exec_err(db, "SELECT * FROM read_gen(-1)", &pos);
    assert_string_equal(m, "generate_n: n must be >= 0");
    assert_int_equal(pos, 23);
    /* connector = 'gen' maps to read_gen */
    exec_ok(db, "CREATE TABLE g () WITH (connector = 'gen', n = '10')");
    expect_rows(db, "SELECT sum(i) FROM g", "45");
    expect_rows(db, "SHOW TABLES", "g|read_gen");
    tb_db_close(&db);
}

/* ---------------------------------------------------------------- plans */

static void test_plan_shapes(void **state)
{
    (void)state;
    tb_db *db = open_db();
    exec_ok(db, "CREATE TABLE small (k int, name text)");
    exec_ok(db, "CREATE TABLE large (k int, v int, w text)");
    exec_ok(db, "INSERT INTO small VALUES (1, 'a'), (2, 'b')");
    exec_ok(db, "INSERT INTO large SELECT a.column1 * 10 + b.column1, 1, 'x' FROM "
                "(VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) a, "
                "(VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) b");
    /* the small side is the build (right) child, whatever the FROM order */
    char *p = explain(db, "SELECT name, v FROM small JOIN large ON small.k = large.k");
    const char *hj = strstr(p, "hash join");
    assert_non_null(hj);
    const char *s_large = strstr(hj, "(k, v)");
    const char *s_small = strstr(hj, "(k, name)");
    assert_non_null(s_large);
    assert_non_null(s_small);
    assert_true(s_large < s_small);
    free(p);
    p = explain(db, "SELECT name, v FROM large, small WHERE small.k = large.k AND large.v > 0");
    assert_non_null(strstr(p, "hash join"));
    assert_null(strstr(p, "nested"));
    /* the filter is below the join, and only used columns are scanned */
    const char *f = strstr(p, "filter");
    assert_non_null(f);
    assert_true(f > strstr(p, "hash join"));
    assert_null(strstr(p, "(k, v, w)"));
    free(p);
    /* ORDER BY + LIMIT is a top-N */
    p = explain(db, "SELECT k FROM large ORDER BY v, k DESC LIMIT 3 OFFSET 2");
    assert_non_null(strstr(p, "top 5"));
    free(p);
    expect_rows(db, "SELECT k FROM large ORDER BY v, k DESC LIMIT 3 OFFSET 2", "97,96,95");
    /* count(*) reads no column */
    p = explain(db, "SELECT count(*) FROM large");
    assert_non_null(strstr(p, "()"));
    free(p);
    /* a filter on a LEFT JOIN's nullable side stays above the join */
    p = explain(db,
                "SELECT * FROM large LEFT JOIN small ON large.k = small.k WHERE small.name = 'a'");
    assert_true(strstr(p, "filter") < strstr(p, "hash join"));
    free(p);
    tb_db_close(&db);
}

/* ---------------------------------------------------------------- settings */

static void test_settings(void **state)
{
    (void)state;
    tb_db *db = open_db();
    char cpus[16];
    snprintf(cpus, sizeof(cpus), "%u", tb_online_cpus()); /* the default: every core */
    assert_string_equal(tb_db_setting(db, "threads"), cpus);
    assert_int_equal(tb_db_set(db, "threads", "8"), TB_OK);
    assert_int_equal(tb_db_threads(db), 8);
    assert_int_equal(tb_db_set(db, "memory_limit", "512MB"), TB_OK);
    assert_int_equal(tb_db_memory_limit(db), 512LL * 1024 * 1024);
    assert_int_equal(tb_db_set(db, "threads", "lots"), TB_E_SQL);
    assert_non_null(strstr(tb_db_errmsg(db), "threads"));
    assert_int_equal(tb_db_set(db, "nosuch", "1"), TB_E_NOTFOUND);
    assert_null(tb_db_setting(db, "nosuch"));
    exec_ok(db, "SET threads TO 2");
    assert_int_equal(tb_db_threads(db), 2);
    assert_int_equal(tb_db_open("/some/path", &(tb_db *){NULL}), TB_E_UNSUPPORTED);
    assert_int_equal(tb_db_exec(NULL, "SELECT 1", NULL), TB_E_MISUSE);
    assert_string_equal(tb_errstr(TB_E_NOMEM), "out of memory");
    tb_db_close(&db);
}

/* ---------------------------------------------------------------- faults */

/* Fail the n-th allocation of whole statements for n = 1.. until they succeed: every
 * failure must be an error (no crash) and leak nothing (LeakSanitizer). */
static void test_alloc_faults(void **state)
{
    (void)state;
    const char *setup = "CREATE TABLE a (k int, v text); CREATE TABLE b (k int, w int); "
                        "INSERT INTO a VALUES (1, 'x'), (2, 'y'), (3, NULL); "
                        "INSERT INTO b VALUES (1, 10), (1, 11), (3, 30)";
    const char *queries[] = {
        "SELECT a.v, sum(b.w) FROM a LEFT JOIN b USING (k) GROUP BY a.v ORDER BY 2 DESC",
        "SELECT k, (SELECT max(w) FROM b WHERE b.k = a.k) FROM a WHERE k IN (SELECT k FROM b) "
        "UNION SELECT 9, 9 ORDER BY 1",
        "CREATE VIEW vv AS SELECT k FROM a; SELECT count(*) FROM vv, b WHERE vv.k = b.k",
        "CREATE TABLE c AS SELECT * FROM a WHERE v IS NOT NULL; INSERT INTO c SELECT * FROM c",
    };
    long fired_total = 0;
    for (size_t qi = 0; qi < sizeof(queries) / sizeof(queries[0]); qi++) {
        bool done = false;
        long n_fired = 0;
        for (long n = 1; n < 20000 && !done; n++) {
            tb_db *db = open_db();
            exec_ok(db, setup);
            tb_result *res = NULL;
            tb_fault_arm(n);
            tb_rc rc = tb_db_exec(db, queries[qi], &res);
            int has = 0;
            while (rc == TB_OK && res != NULL) {
                rc = tb_result_step(res, &has);
                if (!has)
                    break;
            }
            bool fired = tb_fault_fired();
            tb_fault_arm(0);
            n_fired += fired;
            tb_result_free(&res);
            if (!fired) {
                if (rc != TB_OK)
                    fail_msg("query %zu failed without a fault: %s", qi, tb_db_errmsg(db));
                done = true;
            } else if (rc == TB_OK) {
                /* a failed allocation some layer recovered from (e.g. an optional cache) */
            }
            tb_db_close(&db);
        }
        assert_true(done);
        fired_total += n_fired;
    }
    /* the loop really injected failures */
    assert_true(fired_total > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result_api),     cmocka_unit_test(test_column_names),
        cmocka_unit_test(test_changes_and_streaming),
        cmocka_unit_test(test_error_messages), cmocka_unit_test(test_format_error),
        cmocka_unit_test(test_connector),      cmocka_unit_test(test_stmt_hook),
        cmocka_unit_test(test_plan_select),    cmocka_unit_test(test_tablefunc),
        cmocka_unit_test(test_plan_shapes),    cmocka_unit_test(test_settings),
        cmocka_unit_test(test_alloc_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
