/*
 * fuzz_sql.c - SQL text through libpg_query into our binder, planner and executor,
 * against a small catalog (a memory table t(a int, b text, c timestamp, d numeric) with
 * three rows). An input is a script of ;-separated statements (DDL, INSERT, queries,
 * EXPLAIN, SET), run on a fresh engine. Any input must give a result or a clear error,
 * never a crash or a leak. The last result is stepped to the end with a row cap so
 * generated cross joins stay small.
 *
 * Files: the table functions (read_csv, read_parquet, read_delta, and the tables of
 * CREATE TABLE ... WITH (connector = ...)) are wrapped so that a path must be a plain
 * name (no '/', no "..", no '~'), taken in a directory of the run's own (under
 * /dev/shm) holding small test files: the CSV files of
 * tests/sql/data, and, when the shared test data is present, alltypes_plain.parquet and
 * the Delta table snapshot-data1 (as `delta`). A fuzzed path thus never reads the rest
 * of the file system (a directory walk of /, or /dev/zero).
 *
 * Oracles beyond "no crash, no leak": an error has a message; an error position lies
 * inside the text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sql/sql.h"
#include "tributary.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ROWS 10000

static const char *setup_sql =
    "CREATE TABLE t (a int, b text, c timestamp, d numeric(10,2));"
    "INSERT INTO t VALUES (1, 'x', '2024-01-01 00:00:00', 1.5), (2, NULL, NULL, -3.25),"
    " (NULL, 'yy', '2024-01-01 00:00:15', NULL)";

static void die(const char *what)
{
    (void)fprintf(stderr, "fuzz_sql: oracle failed: %s\n", what);
    abort();
}

/* ---------------------------------------------------------------- file sandbox */

static const tb_tablefunc *orig[3];
static tb_tablefunc guarded[3];

static bool path_ok(const tb_value *v)
{
    if (v->is_null || v->type.id != TB_T_STRING || v->u.s.len == 0)
        return true; /* the function's own error */
    if (memchr(v->u.s.ptr, '/', v->u.s.len) != NULL || v->u.s.ptr[0] == '~' ||
        memchr(v->u.s.ptr, '\\', v->u.s.len) != NULL || memchr(v->u.s.ptr, '$', v->u.s.len))
        return false;
    for (uint32_t i = 0; i + 1 < v->u.s.len; i++)
        if (v->u.s.ptr[i] == '.' && v->u.s.ptr[i + 1] == '.')
            return false;
    return true;
}

static char workdir[64];

/* Paths are checked and made absolute under workdir (the engine's working directory
 * stays the process's: libFuzzer writes its corpus with relative names). */
static tb_rc guard(int which, const tb_tf_arg *args, uint32_t n_args, const tb_schema *declared,
                   void **out_state, tb_schema **out_schema, tb_err *err)
{
    tb_tf_arg *copy = calloc(n_args + 1, sizeof(tb_tf_arg));
    tb_buf paths[8] = {{0}};
    uint32_t n_paths = 0;
    tb_rc rc = TB_OK;

    if (copy == NULL)
        return tb_err_nomem(err);
    for (uint32_t i = 0; i < n_args && rc == TB_OK; i++) {
        copy[i] = args[i];
        bool is_path = args[i].name == NULL || strcmp(args[i].name, "path") == 0;
        if (args[i].name != NULL && !is_path && strstr(args[i].name, "path") != NULL)
            rc = TB_ERRF(err, TB_E_MISUSE, "fuzz_sql: no path options here");
        else if (is_path && !path_ok(&args[i].value))
            rc = TB_ERRF(err, TB_E_MISUSE, "fuzz_sql: %s: paths are plain names here",
                         guarded[which].name);
        else if (is_path && !args[i].value.is_null && args[i].value.type.id == TB_T_STRING &&
                 n_paths < 8) {
            tb_buf *b = &paths[n_paths++];
            if (tb_buf_printf(b, "%s/%.*s", workdir, (int)args[i].value.u.s.len,
                              args[i].value.u.s.ptr) != TB_OK)
                rc = tb_err_nomem(err);
            else {
                copy[i].value.u.s.ptr = b->data;
                copy[i].value.u.s.len = (uint32_t)b->len;
            }
        }
    }
    if (rc == TB_OK)
        rc = orig[which]->bind(copy, n_args, declared, out_state, out_schema, err);
    for (uint32_t i = 0; i < n_paths; i++)
        tb_buf_free(&paths[i]);
    free(copy);
    return rc;
}

static tb_rc bind0(const tb_tf_arg *a, uint32_t n, const tb_schema *d, void **s, tb_schema **o,
                   tb_err *e)
{
    return guard(0, a, n, d, s, o, e);
}
static tb_rc bind1(const tb_tf_arg *a, uint32_t n, const tb_schema *d, void **s, tb_schema **o,
                   tb_err *e)
{
    return guard(1, a, n, d, s, o, e);
}
static tb_rc bind2(const tb_tf_arg *a, uint32_t n, const tb_schema *d, void **s, tb_schema **o,
                   tb_err *e)
{
    return guard(2, a, n, d, s, o, e);
}

static void sh(const char *fmt, const char *a, const char *b)
{
    char cmd[2048];
    if (snprintf(cmd, sizeof(cmd), fmt, a, b) < (int)sizeof(cmd))
        (void)system(cmd);
}

static void rm_workdir(void)
{
    sh("rm -rf '%s'%s", workdir, "");
}

static void sandbox(void)
{
    static const char *const names[3] = {"read_csv", "read_parquet", "read_delta"};
    tb_rc (*const binds[3])(const tb_tf_arg *, uint32_t, const tb_schema *, void **,
                            tb_schema **, tb_err *) = {bind0, bind1, bind2};
    char cwd[1024], src[1100];
    const char *td = getenv("TB_TESTDATA");

    for (int i = 0; i < 3; i++) {
        orig[i] = tb_sql_find_tablefunc(names[i]);
        if (orig[i] == NULL)
            die("table function missing");
        guarded[i] = *orig[i];
        guarded[i].bind = binds[i];
        if (tb_sql_register_tablefunc(&guarded[i]) != TB_OK ||
            tb_sql_find_tablefunc(names[i]) != &guarded[i])
            die("cannot wrap a table function");
    }
    (void)snprintf(workdir, sizeof(workdir), "%s/tb-fuzz-sql-XXXXXX",
                   access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (mkdtemp(workdir) == NULL || getcwd(cwd, sizeof(cwd)) == NULL)
        die("cannot make a working directory");
    atexit(rm_workdir);
    /* the repository's SQL test files (found from this file's path, as compiled) */
    (void)snprintf(src, sizeof(src), "%s", __FILE__);
    char *slash = strrchr(src, '/');
    if (slash != NULL && src[0] == '/') {
        *slash = '\0'; /* .../fuzz */
        sh("cp -r '%s'/../tests/sql/data/. '%s'/ 2>/dev/null", src, workdir);
    } else {
        sh("cp -r '%s'/tests/sql/data/. '%s'/ 2>/dev/null", cwd, workdir);
    }
    char tdbuf[1100];
    if ((td == NULL || td[0] == '\0') && slash != NULL && src[0] == '/') {
        if (snprintf(tdbuf, sizeof(tdbuf), "%s/../../shared/testdata", src) < (int)sizeof(tdbuf))
            td = tdbuf; /* the repository's ../shared/testdata */
    }
    if (td == NULL || td[0] == '\0' || access(td, R_OK) != 0)
        td = "/work/shared/testdata";
    if (snprintf(src, sizeof(src), "%s/%s/parquet-testing/alltypes_plain.parquet",
                 td[0] == '/' ? "" : cwd, td) < (int)sizeof(src))
        sh("cp '%s' '%s'/ 2>/dev/null", src, workdir);
    if (snprintf(src, sizeof(src), "%s/%s/delta-golden/snapshot-data1", td[0] == '/' ? "" : cwd,
                 td) < (int)sizeof(src))
        sh("cp -r '%s' '%s'/delta 2>/dev/null", src, workdir);
}

/* ---------------------------------------------------------------- the target */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        sandbox();
        ready = true;
    }
    if (size > 4096)
        return 0; /* keep runs short: long inputs add no new parser paths */
    char *sql = malloc(size + 1);
    if (sql == NULL)
        return 0;
    memcpy(sql, data, size);
    sql[size] = '\0';
    tb_db *db = NULL;
    if (tb_db_open(NULL, &db) == TB_OK && tb_db_exec(db, setup_sql, NULL) == TB_OK) {
        tb_result *res = NULL;
        tb_rc rc = tb_db_exec(db, sql, &res);
        int rows = 0;
        if (rc == TB_OK && res != NULL) {
            int has = 1;
            for (; rows < MAX_ROWS && has; rows++) {
                rc = tb_result_step(res, &has);
                if (rc != TB_OK)
                    break;
                for (int j = 0; has && j < tb_result_column_count(res); j++) {
                    (void)tb_result_column_name(res, j);
                    (void)tb_result_column_type(res, j);
                    (void)tb_result_text(res, j);
                    (void)tb_result_type(res, j);
                }
            }
        }
        if (rc != TB_OK && rc != TB_E_NOMEM) {
            const char *msg = tb_db_errmsg(db);
            int pos = tb_db_errpos(db);
            if (res == NULL && (msg == NULL || msg[0] == '\0'))
                die("an error without a message");
            if (pos > (int)size)
                die("an error position past the end of the text");
        }
        if (getenv("TB_FUZZ_VERBOSE") != NULL)
            (void)fprintf(stderr, "%s\n", rc == TB_OK ? "ok" : tb_db_errmsg(db));
        tb_result_free(&res);
    }
    tb_db_close(&db);
    free(sql);
    return 0;
}
