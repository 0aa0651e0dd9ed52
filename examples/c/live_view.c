/*
 * live_view.c - the C API end to end (include/tributary.h; README "C API"):
 *
 *   1. open an engine, load a static table with SQL;
 *   2. start a continuous query over a directory of CSV files (a job), serving it over
 *      the PostgreSQL protocol on a free loopback port;
 *   3. drop files into the directory, poll the job's progress until they are read;
 *   4. read the materialized view as Arrow C Data Interface arrays (no Arrow library
 *      needed: the structs are in tributary.h) and print it;
 *   5. stop the job and close the engine.
 *
 * usage: live_view DIR   (DIR: an empty scratch directory)
 * Prints the view as "category total" lines and "ok" at the end; exit 1 on error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tributary.h"

static int fail(tb_db *db, const char *what)
{
    fprintf(stderr, "live_view: %s: %s\n", what, tb_db_errmsg(db));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: live_view DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    char path[512], sql[2048];
    tb_db *db = NULL;
    if (tb_db_open(NULL, &db) != TB_OK)
        return 1;

    /* 1. a static dimension table */
    if (tb_db_exec(db,
                   "CREATE TABLE products (product_id int, category text);"
                   "INSERT INTO products VALUES (1, 'books'), (2, 'toys'), (3, 'garden')",
                   NULL) != TB_OK)
        return fail(db, "products");

    /* 2. the pipeline: a stream of CSV files joined with products, summed per category */
    snprintf(path, sizeof(path), "%s/in", dir);
    snprintf(sql, sizeof(sql), "mkdir -p '%s'", path);
    if (system(sql) != 0)
        return 1;
    snprintf(sql, sizeof(sql),
             "CREATE TABLE sales (sale_id int, product_id int, quantity int)"
             "  WITH (connector = 'files', format = 'csv', path = '%s');"
             "CREATE MATERIALIZED VIEW by_category AS"
             "  SELECT category, sum(quantity) AS total_quantity, count(*) AS n"
             "  FROM sales JOIN products USING (product_id) GROUP BY category",
             path);
    tb_job *job = NULL;
    if (tb_job_start(db, sql, "trigger=50ms;pg=127.0.0.1:0", &job) != TB_OK)
        return fail(db, "tb_job_start");
    printf("serving the view over the PostgreSQL protocol on %s\n", tb_job_pg_address(job));

    /* 3. files land (written under a hidden name, then renamed) */
    for (int f = 0; f < 3; f++) {
        char tmp[600], final[600];
        snprintf(tmp, sizeof(tmp), "%s/.part%d", path, f);
        snprintf(final, sizeof(final), "%s/sales%d.csv", path, f);
        FILE *fp = fopen(tmp, "w");
        if (fp == NULL)
            return 1;
        fprintf(fp, "sale_id,product_id,quantity\n");
        for (int i = 0; i < 10; i++)
            fprintf(fp, "%d,%d,%d\n", f * 10 + i, i % 3 + 1, f + 1);
        fclose(fp);
        if (rename(tmp, final) != 0)
            return 1;
    }
    int64_t seen = 0;
    for (int tries = 0; tries < 400 && seen < 30; tries++) {
        usleep(50 * 1000);
        tb_result *res = NULL;
        if (tb_job_query(job, "SELECT coalesce(sum(n), 0) FROM by_category", &res) != TB_OK)
            return fail(db, "poll");
        int has = 0;
        if (tb_result_step(res, &has) == TB_OK && has)
            seen = tb_result_int(res, 0);
        tb_result_free(&res);
    }
    char progress[4096];
    tb_job_progress(job, progress, sizeof(progress));
    printf("batches: %lld, rows: %lld\nlast progress: %.120s...\n", (long long)tb_job_batches(job),
           (long long)seen, progress);

    /* 4. the view as Arrow arrays */
    tb_result *res = NULL;
    if (tb_job_query(job, "SELECT category, total_quantity FROM by_category ORDER BY category",
                     &res) != TB_OK)
        return fail(db, "query");
    struct ArrowSchema schema;
    if (tb_result_arrow_schema(res, &schema) != TB_OK)
        return fail(db, "arrow schema");
    printf("arrow schema %s: %s %s, %s %s\n", schema.format, schema.children[0]->name,
           schema.children[0]->format, schema.children[1]->name, schema.children[1]->format);
    for (;;) {
        struct ArrowArray batch;
        int has = 0;
        if (tb_result_arrow_next(res, &batch, &has) != TB_OK)
            return fail(db, "arrow next");
        if (!has)
            break;
        const struct ArrowArray *cat = batch.children[0], *tot = batch.children[1];
        const int32_t *offs = cat->buffers[1];
        const char *bytes = cat->buffers[2];
        const int64_t *totals = tot->buffers[1];
        for (int64_t i = 0; i < batch.length; i++)
            printf("%.*s %lld\n", (int)(offs[i + 1] - offs[i]), bytes + offs[i],
                   (long long)totals[i]);
        batch.release(&batch);
    }
    schema.release(&schema);
    tb_result_free(&res);

    /* 5. stop */
    if (tb_job_stop(&job) != TB_OK)
        return fail(db, "stop");
    tb_db_close(&db);
    printf("ok\n");
    return 0;
}
