/*
 * gen.c - `tributary generate`: deterministic data for the reference job, the demo,
 * the tests and the benchmark.
 *
 *   tributary generate products --out FILE.parquet [--products N]
 *   tributary generate sales --out DIR [--rows N] [--files F] [--seed S] [--products N]
 *                            [--start 'YYYY-MM-DD HH:MM:SS' | --start now] [--rate R]
 *                            [--first-file K] [--first-id I]
 *
 * Sales rows: sale_id sequential from --first-id; product_id uniform over 1..N plus
 * about 0.5% ids with no product (so inner and outer joins differ); quantity 1..10; ts
 * advancing at R rows per second of event time from --start with up to +-1 s of
 * disorder. Each file is written under a hidden name and renamed into place, so a
 * streaming job watching DIR never sees a partial file. Same arguments, same bytes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "format/parquet_write.h"

static const char *const categories[] = {"electronics", "books",   "clothing", "garden",
                                         "toys",        "grocery", "sports",   "beauty",
                                         "automotive",  "music",   "office",   "health"};
#define N_CATEGORIES (sizeof(categories) / sizeof(categories[0]))

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

const char *tb_cli_category_of(int64_t product_id)
{
    return categories[(uint64_t)(product_id * 7 + product_id / 13) % N_CATEGORIES];
}

static int gen_products(const char *out, int64_t n)
{
    tb_err err;
    tb_err_clear(&err);
    tb_schema *schema = NULL;
    tb_parquet_writer *w = NULL;
    tb_arena *arena = tb_arena_new(0);
    tb_rc rc = tb_schema_parse("product_id int, category text", &schema, &err);
    if (rc == TB_OK && arena == NULL)
        rc = tb_err_nomem(&err);
    if (rc == TB_OK)
        rc = tb_parquet_writer_open(out, schema, NULL, &w, &err);
    for (int64_t base = 1; rc == TB_OK && base <= n; base += TB_BATCH_CAP) {
        tb_batch *batch = NULL;
        tb_arena_reset(arena);
        rc = tb_batch_new(schema, TB_BATCH_CAP, arena, &batch);
        if (rc != TB_OK) {
            tb_err_nomem(&err);
            break;
        }
        uint32_t k = 0;
        for (int64_t id = base; id <= n && k < TB_BATCH_CAP; id++, k++) {
            TB_VEC_PTR(&batch->cols[0], int32_t)[k] = (int32_t)id;
            const char *c = tb_cli_category_of(id);
            TB_VEC_PTR(&batch->cols[1], tb_str)[k] = (tb_str){c, (uint32_t)strlen(c)};
        }
        batch->n_rows = k;
        rc = tb_parquet_writer_write_batch(w, batch, &err);
    }
    if (rc == TB_OK) {
        rc = tb_parquet_writer_close(w, NULL, &err);
        w = NULL;
    }
    tb_parquet_writer_abort(w);
    tb_arena_free(arena);
    tb_schema_free(schema);
    if (rc != TB_OK) {
        fprintf(stderr, "error: generate products: %s\n", err.msg);
        return 1;
    }
    return 0;
}

typedef struct sales_args {
    const char *out;
    int64_t rows, files, products, first_id, first_file;
    uint64_t seed;
    int64_t start_us;
    double rate;
} sales_args;

static int gen_sales(const sales_args *a)
{
    tb_err err;
    tb_err_clear(&err);
    if (tb_mkdirs(a->out, &err) != TB_OK) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    uint64_t state = a->seed * 0x2545F4914F6CDD1DULL + 1;
    int64_t row = 0;
    tb_buf buf = {0};
    int64_t unmatched_mod = a->products + a->products / 200 + 1; /* ~0.5% unmatched */
    for (int64_t f = 0; f < a->files; f++) {
        int64_t n = a->rows / a->files + (f < a->rows % a->files ? 1 : 0);
        buf.len = 0;
        if (tb_buf_puts(&buf, "sale_id,product_id,quantity,ts\n") != TB_OK)
            goto oom;
        for (int64_t i = 0; i < n; i++, row++) {
            uint64_t r = splitmix(&state);
            int64_t pid = 1 + (int64_t)(r % (uint64_t)unmatched_mod);
            int64_t qty = 1 + (int64_t)((r >> 20) % 10);
            int64_t jitter = (int64_t)((r >> 32) % 2000001) - 1000000;
            int64_t ts = a->start_us + (int64_t)((double)row * 1e6 / a->rate) + jitter;
            ts -= ((ts % 1000000) + 1000000) % 1000000; /* whole seconds */
            char tsbuf[48];
            tb_format_timestamp(ts, tsbuf);
            if (tb_buf_printf(&buf, "%" PRId64 ",%" PRId64 ",%" PRId64 ",%s\n",
                              a->first_id + row, pid, qty, tsbuf) != TB_OK)
                goto oom;
        }
        /* Hidden name, then rename: a watcher never sees a partial file. No fsync:
         * generated data need not survive a power cut, and 100,000 fsyncs are slow. */
        char path[4096], tmp[4200];
        snprintf(path, sizeof(path), "%s/sales-%06" PRId64 ".csv", a->out, a->first_file + f);
        snprintf(tmp, sizeof(tmp), "%s/.sales-%06" PRId64 ".csv.tmp", a->out,
                 a->first_file + f);
        FILE *fp = fopen(tmp, "wb");
        if (fp == NULL || fwrite(buf.data, 1, buf.len, fp) != buf.len || fclose(fp) != 0 ||
            rename(tmp, path) != 0) {
            fprintf(stderr, "error: generate sales: writing '%s': %s\n", path,
                    strerror(errno));
            tb_buf_free(&buf);
            return 1;
        }
    }
    tb_buf_free(&buf);
    return 0;
oom:
    tb_buf_free(&buf);
    fprintf(stderr, "error: out of memory\n");
    return 1;
}

static int parse_i64(const char *opt, const char *s, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0) {
        fprintf(stderr, "error: %s takes a non-negative integer, not '%s'\n", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

int tb_cli_generate(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "--help") == 0) {
        fputs("usage: tributary generate products --out FILE.parquet [--products N]\n"
              "       tributary generate sales --out DIR [--rows N] [--files F] [--seed S]\n"
              "              [--products N] [--start 'YYYY-MM-DD HH:MM:SS'|now] [--rate R]\n"
              "              [--first-file K] [--first-id I]\n",
              argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    const char *what = argv[0];
    sales_args a = {.rows = 100000, .files = 10, .products = 1000, .seed = 42,
                    .rate = 1000.0, .first_id = 1};
    tb_parse_timestamp("2024-01-01 00:00:00", 19, &a.start_us);
    for (int i = 1; i < argc; i += 2) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            fprintf(stderr, "error: %s needs a value\n", o);
            return 2;
        }
        int64_t x = 0;
        int bad = 0;
        if (strcmp(o, "--out") == 0)
            a.out = v;
        else if (strcmp(o, "--rows") == 0)
            bad = parse_i64(o, v, &a.rows);
        else if (strcmp(o, "--files") == 0)
            bad = parse_i64(o, v, &a.files);
        else if (strcmp(o, "--products") == 0)
            bad = parse_i64(o, v, &a.products);
        else if (strcmp(o, "--first-id") == 0)
            bad = parse_i64(o, v, &a.first_id);
        else if (strcmp(o, "--first-file") == 0)
            bad = parse_i64(o, v, &a.first_file);
        else if (strcmp(o, "--seed") == 0) {
            bad = parse_i64(o, v, &x);
            a.seed = (uint64_t)x;
        } else if (strcmp(o, "--rate") == 0) {
            a.rate = strtod(v, NULL);
            bad = a.rate <= 0;
        } else if (strcmp(o, "--start") == 0) {
            if (strcmp(v, "now") == 0)
                a.start_us = tb_wall_us();
            else if (!tb_parse_timestamp(v, strlen(v), &a.start_us))
                bad = 1;
        } else {
            fprintf(stderr, "error: unknown option '%s'\n", o);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "error: bad value for %s: '%s'\n", o, v);
            return 2;
        }
    }
    if (a.out == NULL) {
        fprintf(stderr, "error: --out is required\n");
        return 2;
    }
    if (a.products < 1 || a.files < 1) {
        fprintf(stderr, "error: --products and --files must be at least 1\n");
        return 2;
    }
    if (strcmp(what, "products") == 0)
        return gen_products(a.out, a.products);
    if (strcmp(what, "sales") == 0)
        return gen_sales(&a);
    fprintf(stderr, "error: generate takes 'products' or 'sales', not '%s'\n", what);
    return 2;
}
