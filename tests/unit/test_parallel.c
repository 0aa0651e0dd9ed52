/*
 * test_parallel.c - parallel execution (issue 5): the worker helper (tb_par_run), the
 * morsel readers of CSV and Parquet sources, and whole queries run with threads = 1 and
 * threads = 2..8 through the public API. A parallel run must give exactly the serial
 * result (same rows, same order) and, on bad input, exactly the serial error (the first
 * in input order: file and line), whatever the thread count. EXPLAIN is checked so the
 * parallel path is known to be the one exercised. Data: generated CSV and Parquet files
 * in a temp dir (Parquet with many small row groups).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/csv.h"
#include "format/parquet.h"
#include "format/parquet_write.h"
#include "sql/sql.h"

static char g_dir[256];

/* ---------------------------------------------------------------- helpers */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void path_of(char *buf, size_t cap, const char *name)
{
    (void)snprintf(buf, cap, "%s/%s", g_dir, name);
}

static void write_file(const char *name, const char *text)
{
    char path[512];
    path_of(path, sizeof(path), name);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
    assert_int_equal(fclose(fp), 0);
}

static uint64_t g_rng;

static uint32_t rnd(void)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (uint32_t)((g_rng * 0x2545F4914F6CDD1DULL) >> 33);
}

/* Sales CSV file `name` with rows [first, first + n): ids, product 1..40 (some 99: no
 * product), quantity 0..9 (some empty: NULL), timestamps 1 s apart. */
static void write_sales(const char *name, int first, int n)
{
    tb_buf b = {0};
    tb_buf_puts(&b, "sale_id,product_id,quantity,ts\n");
    for (int i = first; i < first + n; i++) {
        uint32_t r = rnd();
        int pid = r % 50 == 0 ? 99 : (int)(r % 40) + 1;
        int64_t us = (int64_t)1704067200 * TB_USEC_PER_SEC + (int64_t)i * TB_USEC_PER_SEC;
        char ts[40];
        tb_format_timestamp(us, ts);
        if (r % 97 == 3)
            tb_buf_printf(&b, "%d,%d,,%s\n", i, pid, ts);
        else
            tb_buf_printf(&b, "%d,%d,%u,%s\n", i, pid, (r >> 8) % 10, ts);
    }
    tb_buf_cstr(&b);
    write_file(name, b.data);
    tb_buf_free(&b);
}

/* The same kind of rows as Parquet, in row groups of rg_rows. */
static void write_sales_parquet(const char *name, int first, int n, uint64_t rg_rows)
{
    char path[512];
    tb_schema *schema = NULL;
    tb_err err;
    tb_parquet_write_opts opts;
    tb_parquet_writer *w = NULL;
    tb_arena *arena = tb_arena_new(0);

    path_of(path, sizeof(path), name);
    assert_int_equal(
        tb_schema_parse("sale_id int, product_id int, quantity int, ts timestamp", &schema, &err),
        TB_OK);
    tb_parquet_write_opts_default(&opts);
    opts.row_group_rows = rg_rows;
    opts.sync = false;
    assert_int_equal(tb_parquet_writer_open(path, schema, &opts, &w, &err), TB_OK);
    for (int off = 0; off < n; off += 1000) {
        int m = n - off < 1000 ? n - off : 1000;
        tb_batch *batch = NULL;
        tb_arena_reset(arena);
        assert_int_equal(tb_batch_new(schema, (uint32_t)m, arena, &batch), TB_OK);
        for (int k = 0; k < m; k++) {
            int i = first + off + k;
            uint32_t r = rnd();
            TB_VEC_PTR(&batch->cols[0], int32_t)[k] = i;
            TB_VEC_PTR(&batch->cols[1], int32_t)[k] = r % 50 == 0 ? 99 : (int32_t)(r % 40) + 1;
            TB_VEC_PTR(&batch->cols[2], int32_t)[k] = (int32_t)((r >> 8) % 10);
            TB_VEC_PTR(&batch->cols[3], int64_t)[k] =
                (int64_t)1704067200 * TB_USEC_PER_SEC + (int64_t)i * TB_USEC_PER_SEC;
            if (r % 97 == 3)
                assert_int_equal(tb_vec_set_null(&batch->cols[2], (uint32_t)k, (uint32_t)m, arena),
                                 TB_OK);
        }
        batch->n_rows = (uint32_t)m;
        assert_int_equal(tb_parquet_writer_write_batch(w, batch, &err), TB_OK);
    }
    assert_int_equal(tb_parquet_writer_close(w, NULL, &err), TB_OK);
    tb_schema_free(schema);
    tb_arena_free(arena);
}

static int setup(void **state)
{
    (void)state;
    (void)snprintf(g_dir, sizeof(g_dir), "/tmp/tb_test_parallel_XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return -1;
    g_rng = 0x9E3779B97F4A7C15ULL;
    char d[512];
    const char *dirs[] = {"sales", "bad", "bad2", "pq", "pqbad", "few"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        path_of(d, sizeof(d), dirs[i]);
        if (mkdir(d, 0755) != 0)
            return -1;
    }
    /* 12 files of varied sizes, one empty, one header-only */
    static const int sizes[] = {500, 1, 3000, 0, 777, 2500, 10, 4100, 1200, 64, 999, 2048};
    int first = 1;
    for (int f = 0; f < 12; f++) {
        char name[64];
        (void)snprintf(name, sizeof(name), "sales/part-%02d.csv", f);
        if (f == 3) {
            write_file(name, "sale_id,product_id,quantity,ts\n");
            continue;
        }
        write_sales(name, first, sizes[f]);
        first += sizes[f];
    }
    write_file("sales/part-12.csv", "");
    /* products: 1..40 in 6 categories, product 7 twice (a non-unique build key) */
    tb_buf b = {0};
    tb_buf_puts(&b, "product_id,category\n");
    static const char *cats[] = {"books", "games", "music", "garden", "toys", "food"};
    for (int p = 1; p <= 40; p++)
        tb_buf_printf(&b, "%d,%s\n", p, cats[p % 6]);
    tb_buf_puts(&b, "7,extra\n");
    tb_buf_cstr(&b);
    write_file("products.csv", b.data);
    tb_buf_free(&b);
    /* bad: 8 good files and two with a bad value (part-03 line 5, part-06 line 2) */
    for (int f = 0; f < 9; f++) {
        char name[64];
        (void)snprintf(name, sizeof(name), "bad/part-%02d.csv", f);
        write_sales(name, 1 + f * 1000, 900 + f);
    }
    write_file("bad/part-03.csv", "sale_id,product_id,quantity,ts\n1,2,3,2024-01-01 00:00:00\n"
                                  "2,2,3,2024-01-01 00:00:01\n3,2,3,2024-01-01 00:00:02\n"
                                  "4,2,x3,2024-01-01 00:00:03\n5,2,3,2024-01-01 00:00:04\n");
    write_file("bad/part-06.csv", "sale_id,product_id,quantity,ts\n1,2,zz,2024-01-01 00:00:00\n");
    /* bad2: the bad file last, after big good ones (workers must stop at the end) */
    for (int f = 0; f < 6; f++) {
        char name[64];
        (void)snprintf(name, sizeof(name), "bad2/part-%02d.csv", f);
        write_sales(name, 1 + f * 3000, 3000);
    }
    write_file("bad2/part-06.csv", "sale_id,product_id,quantity,ts\n1,2,3,2024-13-01 00:00:00\n");
    /* Parquet: one file of 20 row groups, a directory of 3 files */
    write_sales_parquet("sales.parquet", 1, 9000, 450);
    write_sales_parquet("pq/a.parquet", 1, 3000, 700);
    write_sales_parquet("pq/b.parquet", 3001, 10, 4);
    write_sales_parquet("pq/c.parquet", 3011, 2000, 1000);
    write_sales_parquet("pqbad/a.parquet", 1, 3000, 700);
    write_file("pqbad/b.parquet", "PAR1 this is not a parquet file PAR1");
    write_sales_parquet("pqbad/c.parquet", 3011, 2000, 1000);
    write_sales("few/only.csv", 1, 100);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static tb_db *open_db(int threads)
{
    tb_db *db = NULL;
    char t[16];
    assert_int_equal(tb_db_open(NULL, &db), TB_OK);
    (void)snprintf(t, sizeof(t), "%d", threads);
    assert_int_equal(tb_db_set(db, "threads", t), TB_OK);
    return db;
}

/* Expand $D to the temp dir. */
static void expand(char *out, size_t cap, const char *sql)
{
    size_t o = 0;
    for (const char *p = sql; *p != '\0' && o + 1 < cap; p++) {
        if (p[0] == '$' && p[1] == 'D') {
            o += (size_t)snprintf(out + o, cap - o, "%s", g_dir);
            p++;
        } else {
            out[o++] = *p;
        }
    }
    out[o < cap ? o : cap - 1] = '\0';
}

/* Every row, every column, as text: "a|b\nc|d\n". On error: "ERROR: message". */
static char *run(int threads, const char *sql_in)
{
    char sql[4096];
    tb_db *db = open_db(threads);
    tb_result *res = NULL;
    tb_buf buf = {0};
    int has = 0;

    expand(sql, sizeof(sql), sql_in);
    if (tb_db_exec(db, sql, &res) != TB_OK) {
        tb_buf_printf(&buf, "ERROR: %s", tb_db_errmsg(db));
    } else {
        tb_rc rc;
        while ((rc = tb_result_step(res, &has)) == TB_OK && has) {
            for (int c = 0; c < tb_result_column_count(res); c++) {
                const char *t = tb_result_text(res, c);
                tb_buf_printf(&buf, "%s%s", c ? "|" : "", t ? t : "NULL");
            }
            tb_buf_putc(&buf, '\n');
        }
        if (rc != TB_OK)
            tb_buf_printf(&buf, "ERROR: %s", tb_db_errmsg(db));
        tb_result_free(&res);
    }
    tb_db_close(&db);
    tb_buf_cstr(&buf);
    char *s = strdup(buf.data ? buf.data : "");
    tb_buf_free(&buf);
    return s;
}

static bool explain_has_(int threads, const char *sql_in, const char *what, bool want)
{
    char sql[4096], q[4200];
    expand(sql, sizeof(sql), sql_in);
    (void)snprintf(q, sizeof(q), "EXPLAIN %s", sql);
    char *plan = run(threads, q);
    bool has = strstr(plan, what) != NULL;
    if (has != want)
        print_message("plan at %d threads:\n%s", threads, plan);
    free(plan);
    return has;
}

#define explain_has(t, sql, what) explain_has_((t), (sql), (what), true)
#define explain_lacks(t, sql, what) (!explain_has_((t), (sql), (what), false))

/* The query at 1 thread, then at 2, 3, 4 and 8: the same text every time. */
static char *same_at_all_threads(const char *sql)
{
    char *serial = run(1, sql);
    static const int ts[] = {2, 3, 4, 8};
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
        char *par = run(ts[i], sql);
        if (strcmp(serial, par) != 0) {
            size_t k = 0, line = 1, at = 0;
            for (; serial[k] != '\0' && serial[k] == par[k]; k++) {
                if (serial[k] == '\n') {
                    line++;
                    at = k + 1;
                }
            }
            print_message("query: %s\nfirst difference at line %zu:\n-- 1 thread:\n%.300s\n"
                          "-- %d threads:\n%.300s\n",
                          sql, line, serial + at, ts[i], par + at);
            free(serial);
            free(par);
            fail_msg("results differ between 1 and %d threads", ts[i]);
        }
        free(par);
    }
    return serial;
}

#define CSV_SALES                                                                                 \
    "read_csv('$D/sales', schema => 'sale_id int, product_id int, quantity int, ts timestamp')"
#define CSV_PRODUCTS "read_csv('$D/products.csv')"

/* ---------------------------------------------------------------- tb_par_run */

typedef struct par_ctx {
    atomic_uint ran;
    atomic_uint mask;
} par_ctx;

static void count_worker(void *arg, uint32_t w)
{
    par_ctx *c = arg;
    atomic_fetch_add(&c->ran, 1);
    atomic_fetch_or(&c->mask, 1u << w);
}

static void test_par_run(void **state)
{
    (void)state;
    for (uint32_t n = 0; n <= 9; n++) {
        par_ctx c;
        atomic_init(&c.ran, 0);
        atomic_init(&c.mask, 0);
        uint32_t got = tb_par_run(n, count_worker, &c);
        uint32_t want = n == 0 ? 1 : n;
        assert_int_equal(got, want); /* threads can be created here */
        assert_int_equal(atomic_load(&c.ran), want);
        assert_int_equal(atomic_load(&c.mask), (1u << want) - 1);
    }
    assert_true(tb_online_cpus() >= 1);
    assert_true(tb_online_cpus() <= TB_PAR_MAX);
}

/* ---------------------------------------------------------------- morsel readers */

/* Read a source through readers, morsels in order, round robin over 3 readers: the
 * rows (as text of column 0 and 2) must be those of the source read serially. */
static void read_all(tb_source *src, tb_buf *out)
{
    tb_arena *arena = tb_arena_new(0);
    tb_err err;
    for (;;) {
        tb_batch *b = NULL;
        tb_arena_reset(arena);
        assert_int_equal(tb_source_next(src, arena, &b, &err), TB_OK);
        if (b == NULL)
            break;
        for (uint32_t r = 0; r < b->n_rows; r++) {
            tb_value v0, v2;
            tb_vec_get(&b->cols[0], r, &v0);
            tb_vec_get(&b->cols[1], r, &v2);
            tb_buf_printf(out, "%lld,%lld;", (long long)v0.u.i,
                          v2.is_null ? -1LL : (long long)v2.u.i);
        }
    }
    tb_arena_free(arena);
}

static void check_morsels(tb_source *serial, tb_source *split, uint64_t want_n)
{
    tb_err err;
    uint64_t n = 0;
    tb_buf a = {0}, b = {0};
    tb_source *rd[3] = {NULL, NULL, NULL};

    read_all(serial, &a);
    assert_int_equal(tb_source_morsels(split, &n, &err), TB_OK);
    assert_int_equal(n, want_n);
    for (int i = 0; i < 3; i++)
        assert_int_equal(tb_source_morsel_reader(split, &rd[i], &err), TB_OK);
    /* an unpositioned reader yields nothing */
    tb_arena *arena = tb_arena_new(0);
    tb_batch *none = NULL;
    assert_int_equal(tb_source_next(rd[0], arena, &none, &err), TB_OK);
    assert_null(none);
    tb_arena_free(arena);
    for (uint64_t m = 0; m < n; m++) {
        tb_source *r = rd[m % 3];
        assert_int_equal(tb_source_seek_morsel(r, m, &err), TB_OK);
        read_all(r, &b);
    }
    assert_int_not_equal(tb_source_seek_morsel(rd[0], n, &err), TB_OK);
    tb_buf_cstr(&a);
    tb_buf_cstr(&b);
    assert_true(a.len > 0);
    assert_string_equal(a.data, b.data);
    for (int i = 0; i < 3; i++)
        tb_source_free(rd[i]);
    tb_buf_free(&a);
    tb_buf_free(&b);
}

static void test_morsels_csv(void **state)
{
    (void)state;
    char dir[512];
    tb_strlist paths = {0};
    tb_err err;
    tb_schema *schema = NULL;
    tb_csv_opts *opts = tb_csv_opts_new();
    tb_source *s1 = NULL, *s2 = NULL;
    int proj[2] = {0, 2};

    path_of(dir, sizeof(dir), "sales");
    assert_int_equal(tb_path_expand(dir, NULL, &paths, &err), TB_OK);
    assert_int_equal(
        tb_schema_parse("sale_id int, product_id int, quantity int, ts timestamp", &schema, &err),
        TB_OK);
    assert_int_equal(tb_csv_source_new(&paths, opts, schema, proj, 2, &s1, &err), TB_OK);
    assert_int_equal(tb_csv_source_new(&paths, opts, schema, proj, 2, &s2, &err), TB_OK);
    check_morsels(s1, s2, paths.n);
    tb_source_free(s1);
    tb_source_free(s2);
    /* an in-memory source is one input: not split */
    assert_int_equal(
        tb_csv_source_from_buffer("mem", "1,2,3,2024-01-01\n", 17, opts, schema, proj, 2, &s1, &err),
        TB_OK);
    uint64_t n = 99;
    assert_int_equal(tb_source_morsels(s1, &n, &err), TB_OK);
    assert_int_equal(n, 0);
    tb_source_free(s1);
    tb_schema_free(schema);
    tb_csv_opts_free(opts);
    tb_strlist_free(&paths);
}

static void test_morsels_parquet(void **state)
{
    (void)state;
    char p[512];
    tb_strlist paths = {0};
    tb_err err;
    tb_source *s1 = NULL, *s2 = NULL;
    int proj[2] = {0, 2};

    path_of(p, sizeof(p), "sales.parquet");
    assert_int_equal(tb_strlist_push(&paths, p), TB_OK);
    assert_int_equal(tb_parquet_source_new(&paths, proj, 2, &s1, &err), TB_OK);
    assert_int_equal(tb_parquet_source_new(&paths, proj, 2, &s2, &err), TB_OK);
    check_morsels(s1, s2, 20); /* 9000 rows in groups of 450 */
    tb_source_free(s1);
    tb_source_free(s2);
    tb_strlist_free(&paths);
    /* several files: 5 + 3 + 2 row groups */
    path_of(p, sizeof(p), "pq");
    assert_int_equal(tb_path_expand(p, ".parquet", &paths, &err), TB_OK);
    assert_int_equal(tb_parquet_source_new(&paths, proj, 2, &s1, &err), TB_OK);
    assert_int_equal(tb_parquet_source_new(&paths, proj, 2, &s2, &err), TB_OK);
    check_morsels(s1, s2, 5 + 3 + 2);
    tb_source_free(s1);
    tb_source_free(s2);
    tb_strlist_free(&paths);
}

/* ---------------------------------------------------------------- queries */

static void test_queries_csv(void **state)
{
    (void)state;
    static const char *queries[] = {
        /* the reference job's shape: group by window and a build-side string */
        "SELECT tumble(ts, INTERVAL '10 seconds') AS w, category, sum(quantity) FROM " CSV_SALES
        " JOIN " CSV_PRODUCTS " USING (product_id) GROUP BY 1, 2",
        /* global aggregates (one group), every aggregate kind */
        "SELECT count(*), count(quantity), sum(sale_id), sum(quantity), avg(quantity), "
        "min(ts), max(ts), min(product_id), max(sale_id) FROM " CSV_SALES,
        "SELECT count(DISTINCT product_id), count(DISTINCT quantity) FROM " CSV_SALES,
        /* group by a probe column with a filter; output in first-seen order */
        "SELECT product_id, count(*), sum(quantity), min(sale_id), max(ts) FROM " CSV_SALES
        " WHERE quantity > 2 AND sale_id % 3 <> 1 GROUP BY product_id",
        /* projections below the aggregate, HAVING, ORDER BY above it */
        "SELECT quantity * 2 AS q2, count(*) AS n FROM " CSV_SALES
        " GROUP BY 1 HAVING count(*) > 10 ORDER BY n DESC, q2",
        /* LEFT join: unmatched products (99) give NULL categories */
        "SELECT category, count(*), count(category) FROM " CSV_SALES " s LEFT JOIN " CSV_PRODUCTS
        " p ON s.product_id = p.product_id GROUP BY category",
        /* semi and anti joins (IN / NOT IN subqueries) */
        "SELECT count(*), sum(quantity) FROM " CSV_SALES
        " WHERE product_id IN (SELECT product_id FROM " CSV_PRODUCTS " WHERE category = 'books')",
        "SELECT count(*) FROM " CSV_SALES " s WHERE NOT EXISTS (SELECT 1 FROM " CSV_PRODUCTS
        " p WHERE p.product_id = s.product_id)",
        /* a residual join condition; DISTINCT */
        "SELECT category, sum(quantity) FROM " CSV_SALES " s JOIN " CSV_PRODUCTS
        " p ON s.product_id = p.product_id AND s.quantity < p.product_id GROUP BY category",
        "SELECT DISTINCT quantity FROM " CSV_SALES,
        /* count(*) with no column read; a file-backed table */
        "SELECT count(*) FROM " CSV_SALES,
        /* an aggregate over a subquery that aggregates (the inner one runs in parallel) */
        "SELECT count(*), sum(n) FROM (SELECT product_id, count(*) AS n FROM " CSV_SALES
        " GROUP BY product_id) t",
    };
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        char *r = same_at_all_threads(queries[i]);
        assert_null(strstr(r, "ERROR"));
        assert_true(strlen(r) > 0);
        free(r);
    }
    /* the reference query did run in parallel */
    assert_true(explain_has(4, queries[0], "parallel hash aggregate 4 workers"));
    assert_true(explain_has(4, queries[0], "parallel scan csv, 13 morsels"));
    assert_true(explain_lacks(1, queries[0], "parallel"));
    /* and the answer is right: the total equals the sum over the files */
    char *total = run(3, "SELECT sum(quantity), count(*) FROM " CSV_SALES);
    char *total1 = run(1, "SELECT sum(quantity), count(*) FROM " CSV_SALES);
    assert_string_equal(total, total1);
    assert_non_null(strstr(total, "|15199\n")); /* the 12 files' rows */
    free(total);
    free(total1);
    /* a single file is one morsel: serial plan */
    assert_true(explain_lacks(4,
                             "SELECT count(*) FROM read_csv('$D/few', schema => 'sale_id int, "
                             "product_id int, quantity int, ts timestamp')",
                             "parallel"));
}

static void test_queries_file_table(void **state)
{
    (void)state;
    char sql[2048];
    (void)snprintf(sql, sizeof(sql),
                   "CREATE TABLE s (sale_id int, product_id int, quantity int, ts timestamp) "
                   "WITH (connector = 'csv', path = '%s/sales'); "
                   "SELECT product_id %% 7, sum(quantity), count(*) FROM s GROUP BY 1",
                   g_dir);
    char *r1 = run(1, sql);
    char *r4 = run(4, sql);
    assert_string_equal(r1, r4);
    assert_null(strstr(r1, "ERROR"));
    free(r1);
    free(r4);
}

static void test_queries_parquet(void **state)
{
    (void)state;
    static const char *queries[] = {
        "SELECT tumble(ts, INTERVAL '10 seconds') AS w, category, sum(quantity) FROM "
        "read_parquet('$D/sales.parquet') JOIN " CSV_PRODUCTS " USING (product_id) GROUP BY 1, 2",
        "SELECT count(*), sum(quantity), min(ts), max(sale_id), avg(product_id) FROM "
        "read_parquet('$D/pq')",
        "SELECT product_id, sum(quantity) FROM read_parquet('$D/pq') WHERE sale_id % 2 = 0 "
        "GROUP BY product_id ORDER BY 2 DESC, 1",
    };
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        char *r = same_at_all_threads(queries[i]);
        assert_null(strstr(r, "ERROR"));
        free(r);
    }
    assert_true(explain_has(2, queries[0], "parallel scan parquet, 20 morsels"));
}

/* ---------------------------------------------------------------- eager aggregation */

static int cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The rows of a result text, sorted (the order of an aggregate over a join may change
 * with the plan when build keys repeat). */
static char *sorted_rows(char *text) /* frees text */
{
    size_t cap = 1;
    for (const char *p = text; *p != '\0'; p++)
        cap += *p == '\n';
    char **lines = calloc(cap, sizeof(char *));
    size_t n = 0;
    assert_non_null(lines);
    for (char *p = strtok(text, "\n"); p != NULL && n < cap; p = strtok(NULL, "\n"))
        lines[n++] = p;
    qsort(lines, n, sizeof(lines[0]), cmp_line);
    tb_buf b = {0};
    for (size_t i = 0; i < n; i++)
        tb_buf_printf(&b, "%s\n", lines[i]);
    tb_buf_cstr(&b);
    char *s = strdup(b.data ? b.data : "");
    tb_buf_free(&b);
    free(lines);
    free(text);
    return s;
}

/*
 * An aggregate over a join with a small side is computed by aggregating the large side
 * first (opt.c, eager aggregation). Each query below is compared with the same query
 * whose join sits under a LIMIT (which the rewrite does not cross): same rows, at 1 and
 * 4 threads; and EXPLAIN shows the rewrite happened.
 */
static void test_eager_agg(void **state)
{
    (void)state;
    static const char *cases[][2] = {
        {"tumble(ts, INTERVAL '10 seconds') AS w, category, sum(quantity), count(*), "
         "count(quantity), min(ts), max(sale_id)",
         "GROUP BY 1, 2"},
        {"category, sum(quantity)", "GROUP BY category"},
        {"product_id % 3 AS m, max(quantity), min(quantity)", "GROUP BY 1"},
        {"category, quantity, count(*)", "GROUP BY category, quantity"},
        {"DISTINCT category, sale_id % 4", ""},
    };
    char q1[2048], q2[2048];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        (void)snprintf(q1, sizeof(q1), "SELECT %s FROM " CSV_SALES " JOIN " CSV_PRODUCTS
                       " USING (product_id) %s",
                       cases[i][0], cases[i][1]);
        (void)snprintf(q2, sizeof(q2), "SELECT %s FROM (SELECT * FROM " CSV_SALES " JOIN "
                       CSV_PRODUCTS " USING (product_id) LIMIT 1000000000) t %s",
                       cases[i][0], cases[i][1]);
        for (int t = 1; t <= 4; t += 3) {
            char *a = sorted_rows(run(t, q1));
            char *b = sorted_rows(run(t, q2));
            if (strcmp(a, b) != 0)
                print_message("%s\n-- eager:\n%.1000s\n-- plain:\n%.1000s\n", q1, a, b);
            assert_string_equal(a, b);
            assert_null(strstr(a, "ERROR"));
            assert_true(strlen(a) > 10);
            free(a);
            free(b);
        }
        if (i < 4)
            assert_true(explain_has(1, q1, "(partial)"));
        assert_true(explain_lacks(1, q2, "(partial)"));
    }
    /* a two-key join */
    (void)snprintf(q1, sizeof(q1),
                   "SELECT s.quantity, sum(s.sale_id), count(*) FROM " CSV_SALES " s JOIN "
                   "(SELECT product_id, product_id %% 10 AS q FROM " CSV_PRODUCTS
                   ") p ON s.product_id = p.product_id AND s.quantity = p.q GROUP BY 1");
    (void)snprintf(q2, sizeof(q2),
                   "SELECT quantity, sum(sale_id), count(*) FROM (SELECT s.quantity, s.sale_id "
                   "FROM " CSV_SALES " s JOIN (SELECT product_id, product_id %% 10 AS q FROM "
                   CSV_PRODUCTS ") p ON s.product_id = p.product_id AND s.quantity = p.q LIMIT "
                   "1000000000) t GROUP BY 1");
    char *a = sorted_rows(run(4, q1));
    char *b = sorted_rows(run(4, q2));
    assert_string_equal(a, b);
    assert_null(strstr(a, "ERROR"));
    assert_true(explain_has(4, q1, "(partial)"));
    free(a);
    free(b);
}

/* ---------------------------------------------------------------- errors */

static void test_errors(void **state)
{
    (void)state;
    char want[1024];
    /* failfast: the first bad file in order wins (part-03 line 5), at every thread count */
    char *r = same_at_all_threads(
        "SELECT product_id, sum(quantity) FROM read_csv('$D/bad', schema => 'sale_id int, "
        "product_id int, quantity int, ts timestamp', mode => 'failfast') GROUP BY 1");
    (void)snprintf(want, sizeof(want),
                   "ERROR: csv: %s/bad/part-03.csv:5: column 'quantity': invalid integer 'x3'",
                   g_dir);
    assert_string_equal(r, want);
    free(r);
    /* the bad file is the last one */
    r = same_at_all_threads("SELECT count(*), max(ts) FROM read_csv('$D/bad2', schema => "
                            "'sale_id int, product_id int, quantity int, ts timestamp', mode "
                            "=> 'failfast')");
    (void)snprintf(want, sizeof(want),
                   "ERROR: csv: %s/bad2/part-06.csv:2: column 'ts': invalid timestamp "
                   "'2024-13-01 00:00:00'",
                   g_dir);
    assert_string_equal(r, want);
    free(r);
    /* permissive: bad values are NULL, same rows */
    r = same_at_all_threads(
        "SELECT count(*), count(quantity), sum(quantity) FROM read_csv('$D/bad', schema => "
        "'sale_id int, product_id int, quantity int, ts timestamp')");
    assert_null(strstr(r, "ERROR"));
    free(r);
    /* a runtime error in an expression of the pipeline: the first in input order */
    r = same_at_all_threads("SELECT sum(100 / (quantity - quantity)) FROM " CSV_SALES);
    assert_string_equal(r, "ERROR: division by zero");
    free(r);
    /* a corrupt Parquet file among good ones */
    r = same_at_all_threads("SELECT count(*), sum(quantity) FROM read_parquet('$D/pqbad')");
    assert_non_null(strstr(r, "ERROR: parquet"));
    assert_non_null(strstr(r, "pqbad/b.parquet"));
    free(r);
    /* a build side that fails: its error, not a probe-side one */
    r = same_at_all_threads(
        "SELECT category, sum(quantity) FROM read_csv('$D/bad', schema => 'sale_id int, "
        "product_id int, quantity int, ts timestamp', mode => 'failfast') s JOIN (SELECT * "
        "FROM read_csv('$D/bad', schema => 'product_id int, category int, q int, ts timestamp', "
        "mode => 'failfast') WHERE q >= 0) p USING (product_id) GROUP BY 1");
    assert_non_null(strstr(r, "ERROR: csv"));
    assert_non_null(strstr(r, "part-03.csv:5: column 'q':")); /* the build side's */
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_par_run),          cmocka_unit_test(test_morsels_csv),
        cmocka_unit_test(test_morsels_parquet),  cmocka_unit_test(test_queries_csv),
        cmocka_unit_test(test_queries_file_table), cmocka_unit_test(test_queries_parquet),
        cmocka_unit_test(test_eager_agg),          cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
