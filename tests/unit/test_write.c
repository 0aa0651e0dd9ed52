/*
 * test_write.c - the write statements of src/sink/write_stmt.c through the public API
 * with the hook installed: COPY to Parquet and CSV (row counts, contents read back,
 * atomic replacement), Delta CREATE TABLE AS / INSERT / TRUNCATE / declared tables
 * (versions, rows, error positions), the batch INSERT the stream layer delegates, and
 * allocation failures at every step (no crash, no leak, no temp file, a readable table).
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include "format/delta.h"
#include "sink/write_stmt.h"

static char g_dir[256];

static void rm_rf(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/tb_test_write_XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rm_rf(g_dir);
    return 0;
}

static tb_db *open_db(void)
{
    tb_db *db = NULL;
    assert_int_equal(tb_db_open(NULL, &db), TB_OK);
    tb_sql_set_stmt_hook(db, tb_write_stmt_hook, NULL);
    return db;
}

/* Run sql; fail the test on error. Returns tb_result_changes of the last statement. */
static int64_t exec_ok(tb_db *db, const char *fmt, ...)
{
    char sql[8192];
    va_list ap;
    tb_result *res = NULL;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    if (tb_db_exec(db, sql, &res) != TB_OK)
        fail_msg("%s\n-> %s", sql, tb_db_errmsg(db));
    int64_t n = res != NULL ? tb_result_changes(res) : -1;
    tb_result_free(&res);
    return n;
}

/* Run sql expecting an error; returns its code, message in msg. */
static tb_rc exec_err(tb_db *db, char *msg, size_t cap, int *pos, const char *sql)
{
    tb_result *res = NULL;
    tb_rc rc = tb_db_exec(db, sql, &res);
    if (rc == TB_OK)
        fail_msg("expected an error from: %s", sql);
    snprintf(msg, cap, "%s", tb_db_errmsg(db));
    if (pos != NULL)
        *pos = tb_db_errpos(db);
    tb_result_free(&res);
    return rc;
}

/* First column of the single row of a query, as text (static buffer). */
static const char *scalar(tb_db *db, const char *fmt, ...)
{
    static char out[1024];
    char sql[4096];
    va_list ap;
    tb_result *res = NULL;
    int has = 0;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    if (tb_db_exec(db, sql, &res) != TB_OK)
        fail_msg("%s\n-> %s", sql, tb_db_errmsg(db));
    assert_int_equal(tb_result_step(res, &has), TB_OK);
    assert_true(has);
    snprintf(out, sizeof(out), "%s", tb_result_is_null(res, 0) ? "NULL" : tb_result_text(res, 0));
    tb_result_free(&res);
    return out;
}

static int count_tmp(const char *dir)
{
    char cmd[600];
    int n = -1;
    snprintf(cmd, sizeof(cmd), "find '%s' -name '*tmp*' | wc -l", dir);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%d", &n), 1);
    pclose(f);
    return n;
}

static int64_t delta_version(const char *path)
{
    tb_delta_snapshot *snap = NULL;
    tb_err err;
    tb_err_clear(&err);
    if (tb_delta_open(path, -1, &snap, &err) != TB_OK)
        return -1;
    int64_t v = tb_delta_version(snap);
    tb_delta_snapshot_free(snap);
    return v;
}

#define VALUES_1000                                                                                \
    "(SELECT a.x * 100 + b.y AS i FROM (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) "          \
    "a(x) CROSS JOIN (SELECT c.p * 10 + d.q AS y FROM (VALUES (0),(1),(2),(3),(4),(5),(6),"        \
    "(7),(8),(9)) c(p) CROSS JOIN (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) d(q)) b) g"

static void test_copy(void **state)
{
    tb_db *db = open_db();
    char msg[2048];
    int pos = -1;
    (void)state;
    assert_int_equal(exec_ok(db,
                             "COPY (SELECT i, CAST(i AS text) || 'x' AS s, CASE WHEN i %% 3 = 0 "
                             "THEN NULL ELSE i * 0.5 END AS d FROM " VALUES_1000
                             ") TO '%s/a.parquet' (FORMAT parquet, COMPRESSION zstd, "
                             "ROW_GROUP_SIZE 100)",
                             g_dir),
                     1000);
    assert_string_equal(scalar(db,
                               "SELECT count(*) || ':' || sum(i) || ':' || count(d) || ':' || "
                               "max(s) FROM read_parquet('%s/a.parquet')",
                               g_dir),
                        "1000:499500:666:9x");
    /* COPY table, to CSV, then read back */
    exec_ok(db, "CREATE TABLE m AS SELECT * FROM read_parquet('%s/a.parquet')", g_dir);
    assert_int_equal(exec_ok(db, "COPY m (s, i) TO '%s/m.csv' (DELIMITER ';', NULL 'N/A')", g_dir),
                     1000);
    assert_string_equal(scalar(db,
                               "SELECT count(*) || ':' || sum(i) FROM read_csv('%s/m.csv', "
                               "delimiter => ';', schema => 's text, i int')",
                               g_dir),
                        "1000:499500");
    /* empty result: a valid file with the columns */
    assert_int_equal(exec_ok(db, "COPY (SELECT 1 AS a WHERE false) TO '%s/e.parquet'", g_dir), 0);
    assert_string_equal(scalar(db, "SELECT count(*) FROM read_parquet('%s/e.parquet')", g_dir),
                        "0");
    /* a failure half way keeps the old file */
    exec_ok(db, "COPY (SELECT 7 AS seven) TO '%s/keep.csv'", g_dir);
    snprintf(msg, sizeof(msg), "COPY (SELECT 1 / (i - 900) FROM " VALUES_1000 ") TO '%s/keep.csv'",
             g_dir);
    {
        char sql[4096];
        snprintf(sql, sizeof(sql), "%s", msg);
        exec_err(db, msg, sizeof(msg), NULL, sql);
    }
    assert_non_null(strstr(msg, "division by zero"));
    assert_string_equal(scalar(db, "SELECT seven FROM read_csv('%s/keep.csv')", g_dir), "7");
    assert_int_equal(count_tmp(g_dir), 0);
    /* errors name the option and point at it */
    exec_err(db, msg, sizeof(msg), &pos,
             "COPY (SELECT 1) TO '/tmp/x.parquet' (FORMAT parquet, BAD 1)");
    assert_non_null(strstr(msg, "unknown option \"bad\""));
    assert_int_equal(pos, 53);
    assert_int_equal(exec_err(db, msg, sizeof(msg), &pos, "COPY (SELECT 1) TO STDOUT"), TB_E_SQL);
    assert_non_null(strstr(msg, "STDOUT"));
    assert_int_equal(pos, 0);
    tb_db_close(&db);
}

static void test_delta(void **state)
{
    tb_db *db = open_db();
    char t[400], msg[2048], sql[1024];
    int pos = -1;
    (void)state;
    snprintf(t, sizeof(t), "%s/dt", g_dir);
    assert_int_equal(exec_ok(db,
                             "CREATE TABLE d WITH (connector = 'delta', path = '%s', partition_by "
                             "= 'p') AS SELECT i, CAST(i %% 4 AS text) AS p FROM " VALUES_1000,
                             t),
                     1000);
    assert_int_equal(delta_version(t), 0);
    assert_int_equal(exec_ok(db, "INSERT INTO d VALUES (5000, 'new'), (5001, NULL)"), 2);
    assert_int_equal(exec_ok(db, "INSERT INTO d (i) SELECT i + 10000 FROM d WHERE i < 10"), 10);
    assert_int_equal(delta_version(t), 2);
    assert_string_equal(scalar(db, "SELECT count(*) || ':' || count(p) FROM d"), "1012:1001");
    /* overwrite: one commit */
    assert_int_equal(exec_ok(db,
                             "CREATE TABLE d WITH (connector = 'delta', path = '%s', mode = "
                             "'overwrite') AS SELECT 1 AS i, 'one' AS p",
                             t),
                     1);
    assert_int_equal(delta_version(t), 3);
    assert_string_equal(scalar(db, "SELECT count(*) || ':' || max(p) FROM d"), "1:one");
    exec_ok(db, "TRUNCATE d");
    assert_int_equal(delta_version(t), 4);
    assert_string_equal(scalar(db, "SELECT count(*) FROM d"), "0");
    /* a second session declares it, sees the same */
    {
        tb_db *db2 = open_db();
        exec_ok(db2, "CREATE TABLE dd (p text) WITH (connector = 'delta', path = '%s')", t);
        exec_ok(db, "INSERT INTO d VALUES (3, 'x')");
        assert_string_equal(scalar(db2, "SELECT p FROM dd"), "x");
        tb_db_close(&db2);
    }
    /* errors with positions */
    snprintf(sql, sizeof(sql), "CREATE TABLE z WITH (connector = 'delta', path = '%s') AS SELECT 1",
             t);
    assert_int_equal(exec_err(db, msg, sizeof(msg), &pos, sql), TB_E_EXISTS);
    assert_non_null(strstr(msg, "already exists (version 5)"));
    assert_int_equal(pos, 13);
    assert_int_equal(exec_err(db, msg, sizeof(msg), &pos, "INSERT INTO d (i, nope) VALUES (1, 2)"),
                     TB_E_NOTFOUND);
    assert_int_equal(pos, 18);
    exec_err(db, msg, sizeof(msg), &pos, "INSERT INTO d SELECT 1, 2, 3");
    assert_non_null(strstr(msg, "more expressions than target columns"));
    tb_db_close(&db);
}

/* The entry the stream layer uses for INSERT INTO <sink declaration> with no stream. */
static void test_insert_declared(void **state)
{
    tb_db *db = open_db();
    char t[400], sql[1024];
    tb_strlist kv = {0};
    tb_err err;
    int64_t n = -1;
    (void)state;
    snprintf(t, sizeof(t), "%s/decl", g_dir);
    assert_int_equal(tb_strlist_push(&kv, "connector"), TB_OK);
    assert_int_equal(tb_strlist_push(&kv, "delta"), TB_OK);
    assert_int_equal(tb_strlist_push(&kv, "path"), TB_OK);
    assert_int_equal(tb_strlist_push(&kv, t), TB_OK);
    snprintf(sql, sizeof(sql), "INSERT INTO k (a, b) VALUES (1, 'x'), (2, 'y')");
    PgQueryProtobufParseResult r = pg_query_parse_protobuf(sql);
    assert_null(r.error);
    PgQuery__ParseResult *pr =
        pg_query__parse_result__unpack(NULL, r.parse_tree.len, (const uint8_t *)r.parse_tree.data);
    pg_query_free_protobuf_parse_result(r);
    assert_non_null(pr);
    for (int k = 0; k < 2; k++) { /* the second run is the same batch: committed once */
        tb_err_clear(&err);
        if (tb_write_insert_declared(db, sql, 0, (int)strlen(sql), pr->stmts[0]->stmt, &kv, NULL,
                                     &n, &err) != TB_OK)
            fail_msg("%s", err.msg);
        assert_int_equal(n, k == 0 ? 2 : 0);
    }
    assert_int_equal(delta_version(t), 0);
    /* the table is now queryable by name */
    assert_string_equal(scalar(db, "SELECT sum(a) || b FROM k GROUP BY b ORDER BY b LIMIT 1"),
                        "1x");
    /* not a delta declaration */
    tb_strlist_free(&kv);
    assert_int_equal(tb_strlist_push(&kv, "connector"), TB_OK);
    assert_int_equal(tb_strlist_push(&kv, "console"), TB_OK);
    tb_err_clear(&err);
    assert_int_equal(tb_write_insert_declared(db, sql, 0, (int)strlen(sql), pr->stmts[0]->stmt, &kv,
                                              NULL, &n, &err),
                     TB_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "reads no stream"));
    pg_query__parse_result__free_unpacked(pr, NULL);
    tb_strlist_free(&kv);
    tb_db_close(&db);
}

/* Fail the n-th allocation of a statement list, for every n: never a crash or a leak;
 * the error is "out of memory"; no temp file is left; any Delta table stays readable. */
static void test_fault_injection(void **state)
{
    long n;
    bool fired = true;
    int n_nomem = 0;
    (void)state;
    tb_log_set_level(TB_LOG_ERROR); /* "re-reading after commit: out of memory" warnings */
    for (n = 1; n < 100000 && fired; n += n < 3000 ? 1 : 13) {
        char dir[300], sql[4096], t[400];
        tb_db *db = open_db();
        tb_result *res = NULL;
        snprintf(dir, sizeof(dir), "%s/f%ld", g_dir, n);
        assert_int_equal(mkdir(dir, 0755), 0);
        snprintf(t, sizeof(t), "%s/t", dir);
        snprintf(sql, sizeof(sql),
                 "COPY (SELECT x, 'v' || x AS s FROM (VALUES (1),(2),(3)) v(x)) TO "
                 "'%s/a.parquet' (ROW_GROUP_SIZE 2);"
                 "COPY (VALUES (1, 'a,b')) TO '%s/a.csv.gz';"
                 "CREATE TABLE t WITH (connector = 'delta', path = '%s', partition_by = 'p') AS "
                 "SELECT 1 AS k, 'a' AS p;"
                 "INSERT INTO t VALUES (2, 'b');"
                 "TRUNCATE t;"
                 "CREATE TABLE u (k int) WITH (connector = 'delta', path = '%s');"
                 "SELECT count(*) FROM u",
                 dir, dir, t, t);
        tb_fault_arm(n);
        tb_rc rc = tb_db_exec(db, sql, &res);
        fired = tb_fault_fired();
        tb_fault_arm(0);
        if (rc != TB_OK) {
            if (rc != TB_E_NOMEM && strstr(tb_db_errmsg(db), "out of memory") == NULL)
                fail_msg("fault %ld: rc %d: %s", n, rc, tb_db_errmsg(db));
            n_nomem++;
        }
        tb_result_free(&res);
        tb_db_close(&db);
        if (count_tmp(dir) != 0)
            fail_msg("fault %ld: a temp file was left in %s", n, dir);
        if (delta_version(t) < 0) {
            struct stat st;
            char log0[500];
            snprintf(log0, sizeof(log0), "%s/_delta_log/00000000000000000000.json", t);
            if (stat(log0, &st) == 0)
                fail_msg("fault %ld: the table at %s does not read", n, t);
        }
        rm_rf(dir);
    }
    assert_false(fired); /* the last run went through without a fault */
    assert_true(n_nomem > 100);
    fprintf(stderr, "fault injection: %d failing runs of %ld\n", n_nomem, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_delta),
        cmocka_unit_test(test_insert_declared),
        cmocka_unit_test(test_fault_injection),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
