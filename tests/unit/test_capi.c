/*
 * test_capi.c - the public C API's top-layer parts (src/server/capi.c):
 *   - results as Arrow C Data Interface arrays, checked against the specification's
 *     format strings, buffer layouts (validity bitmaps LSB first, int32 offsets + data
 *     for utf8, 16-byte decimal128, date32 days, timestamp[us], month_day_nano) and null
 *     counts, for a query with every type and NULLs, over several batches;
 *   - tb_db_open gives the whole engine (COPY writes through the sink layer's handler);
 *   - tb_job_start errors (position into the SQL), a job's progress and a query of its
 *     view while it runs, stop.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tributary.h"

static bool bit(const void *bits, int64_t i)
{
    return bits == NULL || ((const uint8_t *)bits)[i >> 3] >> (i & 7) & 1;
}

static void test_arrow_types(void **state)
{
    (void)state;
    tb_db *db = NULL;
    assert_int_equal(tb_db_open(NULL, &db), TB_OK);
    tb_result *res = NULL;
    assert_int_equal(
        tb_db_exec(db,
                   "SELECT *, NULL AS n FROM (VALUES "
                   "(true, 1::smallint, 2, 3::bigint, 1.5::real, 2.5::double precision, "
                   " 12.34::numeric(10,2), 'héllo', DATE '2024-01-02', "
                   " TIMESTAMP '2024-01-02 03:04:05.5', INTERVAL '1 month 2 days 3 seconds'),"
                   "(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),"
                   "(false, -1::smallint, -2, -3::bigint, -1.5::real, -2.5::double precision, "
                   " -0.01::numeric(10,2), '', DATE '1970-01-01', TIMESTAMP '1970-01-01 00:00:00', "
                   " INTERVAL '0 seconds')"
                   ") v(b, s, i, l, f, g, d, u, dt, ts, iv)",
                   &res),
        TB_OK);
    struct ArrowSchema sc;
    assert_int_equal(tb_result_arrow_schema(res, &sc), TB_OK);
    assert_string_equal(sc.format, "+s");
    assert_int_equal(sc.n_children, 12);
    const char *formats[12] = {"b", "s", "i", "l", "f", "g", "d:10,2", "u", "tdD", "tsu:", "tin", "u"};
    const char *names[12] = {"b", "s", "i", "l", "f", "g", "d", "u", "dt", "ts", "iv", "n"};
    for (int i = 0; i < 12; i++) {
        assert_string_equal(sc.children[i]->format, formats[i]);
        assert_string_equal(sc.children[i]->name, names[i]);
        assert_true(sc.children[i]->flags & ARROW_FLAG_NULLABLE);
    }
    struct ArrowArray a;
    int has = 0;
    assert_int_equal(tb_result_arrow_next(res, &a, &has), TB_OK);
    assert_int_equal(has, 1);
    assert_int_equal(a.length, 3);
    assert_int_equal(a.n_children, 12);
    assert_int_equal(a.null_count, 0);
    for (int i = 0; i < 11; i++) {
        assert_int_equal(a.children[i]->length, 3);
        assert_int_equal(a.children[i]->null_count, 1);
        assert_false(bit(a.children[i]->buffers[0], 1));
        assert_true(bit(a.children[i]->buffers[0], 0));
        assert_true(bit(a.children[i]->buffers[0], 2));
    }
    /* a bare NULL column is text (as in PostgreSQL): every row null */
    assert_int_equal(a.children[11]->n_buffers, 3);
    assert_int_equal(a.children[11]->null_count, 3);
    assert_int_equal(((const int32_t *)a.children[11]->buffers[1])[3], 0);
    /* bool: bit-packed */
    assert_int_equal(a.children[0]->n_buffers, 2);
    assert_true(bit(a.children[0]->buffers[1], 0));
    assert_false(bit(a.children[0]->buffers[1], 2));
    assert_int_equal(((const int16_t *)a.children[1]->buffers[1])[2], -1);
    assert_int_equal(((const int32_t *)a.children[2]->buffers[1])[0], 2);
    assert_int_equal(((const int64_t *)a.children[3]->buffers[1])[2], -3);
    assert_true(((const float *)a.children[4]->buffers[1])[0] == 1.5f);
    assert_true(((const double *)a.children[5]->buffers[1])[2] == -2.5);
    /* decimal128: little-endian 16 bytes, scaled */
    const int64_t *d = a.children[6]->buffers[1];
    assert_int_equal(d[0], 1234);
    assert_int_equal(d[1], 0);
    assert_int_equal(d[4], -1);
    assert_int_equal(d[5], -1); /* sign extension of -1 */
    /* utf8: offsets + data */
    assert_int_equal(a.children[7]->n_buffers, 3);
    const int32_t *off = a.children[7]->buffers[1];
    assert_int_equal(off[0], 0);
    assert_int_equal(off[1], 6); /* "héllo" is 6 bytes */
    assert_int_equal(off[2], 6);
    assert_int_equal(off[3], 6);
    assert_memory_equal(a.children[7]->buffers[2], "h\xc3\xa9llo", 6);
    assert_int_equal(((const int32_t *)a.children[8]->buffers[1])[0], 19724);
    assert_int_equal(((const int64_t *)a.children[9]->buffers[1])[0], 1704164645500000LL);
    const uint8_t *iv = a.children[10]->buffers[1];
    int32_t months, days;
    int64_t nanos;
    memcpy(&months, iv, 4);
    memcpy(&days, iv + 4, 4);
    memcpy(&nanos, iv + 8, 8);
    assert_int_equal(months, 1);
    assert_int_equal(days, 2);
    assert_int_equal(nanos, 3000000000LL);
    a.release(&a);
    assert_null(a.release);
    assert_int_equal(tb_result_arrow_next(res, &a, &has), TB_OK);
    assert_int_equal(has, 0);
    assert_null(a.release);
    sc.release(&sc);
    assert_null(sc.release);
    tb_result_free(&res);

    /* several batches: 5000 rows arrive as more than one array, all rows once */
    char path[128];
    snprintf(path, sizeof(path), "/tmp/tb_capi_%d.csv", (int)getpid());
    FILE *fp = fopen(path, "w");
    fprintf(fp, "x\n");
    for (int i = 0; i < 5000; i++)
        fprintf(fp, "%d\n", i);
    fclose(fp);
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT x FROM read_csv('%s')", path);
    assert_int_equal(tb_db_exec(db, sql, &res), TB_OK);
    int64_t rows = 0, sum = 0, arrays = 0;
    for (;;) {
        assert_int_equal(tb_result_arrow_next(res, &a, &has), TB_OK);
        if (!has)
            break;
        arrays++;
        for (int64_t i = 0; i < a.length; i++)
            sum += ((const int32_t *)a.children[0]->buffers[1])[i];
        rows += a.length;
        a.release(&a);
    }
    assert_int_equal(rows, 5000);
    assert_int_equal(sum, 4999LL * 5000 / 2);
    assert_true(arrays > 1);
    tb_result_free(&res);
    unlink(path);
    tb_db_close(&db);
}

static void test_whole_engine(void **state)
{
    (void)state;
    tb_db *db = NULL;
    assert_int_equal(tb_db_open(NULL, &db), TB_OK);
    char path[128], sql[256];
    snprintf(path, sizeof(path), "/tmp/tb_capi_copy_%d.csv", (int)getpid());
    snprintf(sql, sizeof(sql), "COPY (SELECT 1 AS a, 'x' AS b) TO '%s' (FORMAT csv, HEADER)", path);
    assert_int_equal(tb_db_exec(db, sql, NULL), TB_OK);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char line[64];
    assert_non_null(fgets(line, sizeof(line), fp));
    assert_string_equal(line, "a,b\n");
    fclose(fp);
    unlink(path);
    tb_db_close(&db);
}

static void test_job(void **state)
{
    (void)state;
    tb_db *db = NULL;
    assert_int_equal(tb_db_open(NULL, &db), TB_OK);
    tb_job *job = NULL;
    const char *bad = "CREATE MATERIALIZED VIEW v AS SELECT nope FROM missing";
    assert_int_not_equal(tb_job_start(db, bad, NULL, &job), TB_OK);
    assert_null(job);
    assert_non_null(strstr(tb_db_errmsg(db), "missing"));
    assert_int_equal(tb_db_errpos(db), (int)(strstr(bad, "missing") - bad));
    assert_int_not_equal(tb_job_start(db, "SELECT 1", "trigger=sometimes", &job), TB_OK);

    char dir[128], sql[512];
    snprintf(dir, sizeof(dir), "/tmp/tb_capi_job_%d", (int)getpid());
    snprintf(sql, sizeof(sql), "rm -rf %s && mkdir -p %s", dir, dir);
    assert_int_equal(system(sql), 0);
    snprintf(sql, sizeof(sql),
             "CREATE TABLE s (k text, q int) WITH (connector = 'files', format = 'csv', path = '%s');"
             "CREATE MATERIALIZED VIEW v AS SELECT k, sum(q) AS t FROM s GROUP BY k",
             dir);
    assert_int_equal(tb_job_start(db, sql, "trigger=20ms", &job), TB_OK);
    assert_null(tb_job_pg_address(job));
    char f[256];
    snprintf(f, sizeof(f), "%s/.a", dir);
    FILE *fp = fopen(f, "w");
    fprintf(fp, "k,q\na,1\nb,2\na,3\n");
    fclose(fp);
    char g[256];
    snprintf(g, sizeof(g), "%s/a.csv", dir);
    assert_int_equal(rename(f, g), 0);
    for (int i = 0; i < 500 && tb_job_batches(job) == 0; i++)
        usleep(10000);
    assert_int_equal(tb_job_batches(job), 1);
    char progress[2048];
    assert_int_equal(tb_job_progress(job, progress, sizeof(progress)), TB_OK);
    assert_non_null(strstr(progress, "\"numInputRows\":3"));
    tb_result *res = NULL;
    assert_int_equal(tb_job_query(job, "SELECT t FROM v WHERE k = 'a'", &res), TB_OK);
    int has = 0;
    assert_int_equal(tb_result_step(res, &has), TB_OK);
    assert_int_equal(has, 1);
    assert_int_equal(tb_result_int(res, 0), 4);
    tb_result_free(&res);
    assert_int_equal(tb_job_stop(&job), TB_OK);
    assert_null(job);
    snprintf(sql, sizeof(sql), "rm -rf %s", dir);
    assert_int_equal(system(sql), 0);
    tb_db_close(&db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arrow_types),
        cmocka_unit_test(test_whole_engine),
        cmocka_unit_test(test_job),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
