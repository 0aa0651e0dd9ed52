/*
 * test_csv_fast.c - the CSV reader's fast paths (issue 5) against its careful path: the
 * block tokenizer for plain records and the integer / timestamp shortcuts of the
 * conversion must give exactly what the careful path gives (tb_csv_opts_set_fast_path
 * off): the same rows and values, NULLs, malformed-row counts, bad-record reports (file,
 * line, raw record, reason) and errors, in every mode, for every read chunk size (records
 * across buffer refills), over random input that mixes plain records with every kind of
 * irregular one (quotes, CR, blank lines, wrong field counts, NUL bytes, bad values,
 * long records, a missing final line break). Also timestamps one by one against
 * tb_parse_timestamp, including near misses of the fast layout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/csv.h"

static char g_dir[256];
static uint64_t g_rng;

static uint32_t rnd(void)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (uint32_t)((g_rng * 0x2545F4914F6CDD1DULL) >> 33);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    (void)snprintf(g_dir, sizeof(g_dir), "/tmp/tb_test_csv_fast_XXXXXX");
    return mkdtemp(g_dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---------------------------------------------------------------- random input */

static void put_ts(tb_buf *b)
{
    uint32_t r = rnd();
    unsigned y = 1990 + r % 50, m = 1 + (r >> 6) % 12, d = 1 + (r >> 10) % 28;
    unsigned hh = (r >> 15) % 24, mi = (r >> 20) % 60, ss = (r >> 26) % 60;
    switch (rnd() % 24) {
    case 0:
        d = 29 + rnd() % 3; /* Feb 30, Apr 31, ... */
        break;
    case 1:
        hh = 24;
        break;
    case 2:
        ss = 60;
        break;
    case 3:
        m = 13;
        break;
    case 4:
        y = 0;
        break;
    default:
        break;
    }
    tb_buf_printf(b, "%04u-%02u-%02u%c%02u:%02u:%02u", y, m, d, rnd() % 9 == 0 ? 'T' : ' ', hh,
                  mi, ss);
    switch (rnd() % 12) {
    case 0:
        tb_buf_printf(b, ".%u", rnd() % 10);
        break;
    case 1:
        tb_buf_printf(b, ".%06u", rnd() % 1000000);
        break;
    case 2:
        tb_buf_printf(b, ".%09u", rnd() % 1000000000);
        break;
    case 3:
        tb_buf_puts(b, ".");
        break;
    case 4:
        tb_buf_puts(b, "Z");
        break;
    case 5:
        tb_buf_puts(b, "+02:00");
        break;
    default:
        break;
    }
}

static void put_field(tb_buf *b, int col)
{
    uint32_t r = rnd() % 100;
    if (r < 4) {
        return; /* empty: NULL */
    }
    if (r < 7) {
        tb_buf_puts(b, "\"q,\"\"x\"\"\ny\"");
        return;
    }
    if (r == 7) {
        tb_buf_puts(b, " 12 ");
        return;
    }
    if (r == 8) {
        tb_buf_puts(b, "NA");
        return;
    }
    switch (col) {
    case 0: /* int */
        if (r < 12)
            tb_buf_printf(b, "%s%u", r % 2 ? "-" : "+", rnd());
        else if (r < 14)
            tb_buf_puts(b, r % 2 ? "99999999999" : "12a");
        else if (r < 16)
            tb_buf_puts(b, "-2147483648");
        else
            tb_buf_printf(b, "%u", rnd() % 100000);
        break;
    case 1: /* text */
        if (r < 12)
            tb_buf_puts(b, "\xff\xfe");
        else if (r < 14)
            tb_buf_puts(b, "a\"b");
        else
            for (uint32_t k = rnd() % 90; k > 0; k--)
                tb_buf_putc(b, (char)('a' + rnd() % 26));
        break;
    case 2: /* timestamp */
        put_ts(b);
        break;
    default: /* bigint */
        if (r < 12)
            tb_buf_puts(b, "9223372036854775808");
        else if (r < 14)
            tb_buf_puts(b, "-9223372036854775808");
        else
            tb_buf_printf(b, "%llu", (unsigned long long)rnd() * rnd());
        break;
    }
}

/* n records, mostly plain; `odd` in 0..100 = how often a record is irregular. */
static void gen(tb_buf *b, int n, int odd)
{
    tb_buf_puts(b, "a,b,c,d\n");
    for (int i = 0; i < n; i++) {
        int k = (int)(rnd() % 100) < odd ? (int)(rnd() % 9) : -1;
        int nf = 4;
        if (k == 0)
            nf = 3;
        else if (k == 1)
            nf = 5;
        for (int c = 0; c < nf; c++) {
            if (c > 0)
                tb_buf_putc(b, ',');
            put_field(b, c < 4 ? c : 1);
        }
        switch (k) {
        case 2:
            tb_buf_puts(b, "\r\n");
            break;
        case 3:
            tb_buf_puts(b, "\n\n");
            break;
        case 4:
            tb_buf_putc(b, '\0');
            tb_buf_putc(b, '\n');
            break;
        case 5:
            tb_buf_puts(b, ",\"x\"y\n");
            break;
        case 6:
            tb_buf_putc(b, '\r');
            break;
        default:
            tb_buf_putc(b, '\n');
            break;
        }
    }
    if (rnd() % 2)
        tb_buf_puts(b, "1,last,2024-01-01 00:00:00,2"); /* no final line break */
}

/* ---------------------------------------------------------------- reading */

static void on_bad(void *ud, const char *file, uint64_t line, const char *raw, size_t raw_len,
                   const char *reason)
{
    tb_buf *log = ud;
    const char *slash = strrchr(file, '/');
    tb_buf_printf(log, "BAD %s:%llu [", slash ? slash + 1 : file, (unsigned long long)line);
    tb_buf_append(log, raw, raw_len);
    tb_buf_printf(log, "] %s\n", reason);
}

/* Everything a read produces, as text. */
static char *read_text(const char *path, const char *mode, bool corrupt, size_t chunk, bool fast)
{
    tb_csv_opts *opts = tb_csv_opts_new();
    tb_strlist paths = {0};
    tb_schema *schema = NULL;
    tb_source *src = NULL;
    tb_err err;
    tb_buf out = {0};
    tb_arena *arena = tb_arena_new(0);
    int proj[5] = {0, 1, 2, 3, 4};

    assert_int_equal(tb_csv_opts_set(opts, "mode", mode, &err), TB_OK);
    assert_int_equal(tb_csv_opts_set(opts, "schema", "a int, b text, c timestamp, d bigint", &err),
                     TB_OK);
    if (corrupt)
        assert_int_equal(tb_csv_opts_set(opts, "corrupt_column", "_bad", &err), TB_OK);
    tb_csv_opts_set_chunk_size(opts, chunk);
    tb_csv_opts_set_fast_path(opts, fast);
    assert_int_equal(tb_strlist_push(&paths, path), TB_OK);
    assert_int_equal(tb_csv_infer_schema(&paths, opts, &schema, &err), TB_OK);
    assert_int_equal(tb_csv_source_new(&paths, opts, schema, proj, schema->n, &src, &err), TB_OK);
    tb_csv_source_on_bad_record(src, on_bad, &out);
    for (;;) {
        tb_batch *batch = NULL;
        tb_arena_reset(arena);
        tb_rc rc = tb_source_next(src, arena, &batch, &err);
        if (rc != TB_OK) {
            const char *slash = strrchr(err.msg, '/');
            tb_buf_printf(&out, "ERROR %d %s\n", (int)rc, slash ? slash + 1 : err.msg);
            break;
        }
        if (batch == NULL)
            break;
        for (uint32_t r = 0; r < batch->n_rows; r++) {
            for (uint32_t c = 0; c < batch->n_cols; c++) {
                tb_value v;
                tb_vec_get(&batch->cols[c], r, &v);
                if (c > 0)
                    tb_buf_putc(&out, '|');
                if (v.is_null)
                    tb_buf_puts(&out, "NULL");
                else
                    tb_value_format(&v, &out);
            }
            tb_buf_putc(&out, '\n');
        }
    }
    tb_buf_printf(&out, "rows %llu malformed %llu\n", (unsigned long long)src->stats.rows_read,
                  (unsigned long long)src->stats.rows_malformed);
    tb_source_free(src);
    tb_schema_free(schema);
    tb_csv_opts_free(opts);
    tb_strlist_free(&paths);
    tb_arena_free(arena);
    tb_buf_cstr(&out);
    char *s = strdup(out.data);
    tb_buf_free(&out);
    return s;
}

static void write_file(const char *path, const tb_buf *b)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(b->data, 1, b->len, fp), b->len);
    assert_int_equal(fclose(fp), 0);
}

static void compare(const char *path, const char *mode, bool corrupt, size_t chunk)
{
    char *careful = read_text(path, mode, corrupt, chunk, false);
    char *fast = read_text(path, mode, corrupt, chunk, true);
    if (strcmp(careful, fast) != 0) {
        size_t k = 0, line = 1, at = 0;
        for (; careful[k] != '\0' && careful[k] == fast[k]; k++) {
            if (careful[k] == '\n') {
                line++;
                at = k + 1;
            }
        }
        print_message("%s mode %s chunk %zu: first difference at output line %zu:\n"
                      "careful: %.300s\nfast:    %.300s\n",
                      path, mode, chunk, line, careful + at, fast + at);
        free(careful);
        free(fast);
        fail_msg("fast and careful CSV paths differ");
    }
    free(careful);
    free(fast);
}

static void test_random_files(void **state)
{
    (void)state;
    static const int odds[] = {0, 1, 5, 30};
    static const size_t chunks[] = {0, 7, 100, 4096};
    static const char *modes[] = {"permissive", "dropmalformed", "failfast"};
    char path[512];
    g_rng = 0x1234567;
    for (int round = 0; round < 8; round++) {
        for (size_t o = 0; o < sizeof(odds) / sizeof(odds[0]); o++) {
            tb_buf b = {0};
            gen(&b, 300 + (int)(rnd() % 700), odds[o]);
            (void)snprintf(path, sizeof(path), "%s/r%d-%zu.csv", g_dir, round, o);
            write_file(path, &b);
            tb_buf_free(&b);
            for (size_t m = 0; m < 3; m++) {
                for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
                    if (m == 1 && c % 2 == 1)
                        continue;
                    compare(path, modes[m], m == 0 && c == 0, chunks[c]);
                }
            }
        }
    }
}

/* Plain files only (the fast path takes everything), with and without a line limit hit,
 * and a record longer than 64 KiB (many blocks). */
static void test_plain_and_long(void **state)
{
    (void)state;
    char path[512];
    tb_buf b = {0};
    g_rng = 99;
    tb_buf_puts(&b, "a,b,c,d\n");
    for (int i = 0; i < 5000; i++)
        tb_buf_printf(&b, "%d,%s,2024-01-%02d 10:%02d:%02d,%d\n", i, i % 3 ? "xyz" : "", 1 + i % 28,
                      i % 60, (i * 7) % 60, -i);
    tb_buf_puts(&b, "1,");
    for (int i = 0; i < 70000; i++)
        tb_buf_putc(&b, (char)('a' + i % 26));
    tb_buf_puts(&b, ",2024-01-01 00:00:00,5\n7,after,2024-01-01 00:00:01,8\n");
    (void)snprintf(path, sizeof(path), "%s/plain.csv", g_dir);
    write_file(path, &b);
    tb_buf_free(&b);
    compare(path, "permissive", false, 0);
    compare(path, "failfast", false, 100);
    compare(path, "permissive", true, 65536);
}

/* ---------------------------------------------------------------- timestamps */

/* One timestamp column: the fast conversion against tb_parse_timestamp, value by value. */
static void test_timestamps(void **state)
{
    (void)state;
    char path[512];
    tb_buf b = {0}, want = {0};
    g_rng = 7;
    tb_buf_puts(&b, "t\n");
    for (int i = 0; i < 20000; i++) {
        tb_buf row = {0};
        put_ts(&row);
        /* near misses of the fixed layout */
        if (rnd() % 10 == 0 && row.len > 12)
            row.data[rnd() % row.len] = "0123456789-: T.x/"[rnd() % 17];
        tb_buf_append(&b, row.data, row.len);
        tb_buf_putc(&b, '\n');
        int64_t us;
        if (tb_parse_timestamp(row.data, row.len, &us)) {
            char t[40];
            tb_format_timestamp(us, t);
            tb_buf_printf(&want, "%s\n", t);
        } else {
            tb_buf_puts(&want, "NULL\n");
        }
        tb_buf_free(&row);
    }
    (void)snprintf(path, sizeof(path), "%s/ts.csv", g_dir);
    write_file(path, &b);
    tb_buf_free(&b);

    tb_csv_opts *opts = tb_csv_opts_new();
    tb_strlist paths = {0};
    tb_schema *schema = NULL;
    tb_source *src = NULL;
    tb_err err;
    tb_buf got = {0};
    tb_arena *arena = tb_arena_new(0);
    int proj[1] = {0};
    assert_int_equal(tb_csv_opts_set(opts, "schema", "t timestamp", &err), TB_OK);
    assert_int_equal(tb_strlist_push(&paths, path), TB_OK);
    assert_int_equal(tb_schema_parse("t timestamp", &schema, &err), TB_OK);
    assert_int_equal(tb_csv_source_new(&paths, opts, schema, proj, 1, &src, &err), TB_OK);
    for (;;) {
        tb_batch *batch = NULL;
        tb_arena_reset(arena);
        assert_int_equal(tb_source_next(src, arena, &batch, &err), TB_OK);
        if (batch == NULL)
            break;
        for (uint32_t r = 0; r < batch->n_rows; r++) {
            tb_value v;
            tb_vec_get(&batch->cols[0], r, &v);
            if (v.is_null) {
                tb_buf_puts(&got, "NULL\n");
            } else {
                char t[40];
                tb_format_timestamp(v.u.i, t);
                tb_buf_printf(&got, "%s\n", t);
            }
        }
    }
    tb_buf_cstr(&got);
    tb_buf_cstr(&want);
    assert_string_equal(got.data, want.data);
    tb_buf_free(&got);
    tb_buf_free(&want);
    tb_source_free(src);
    tb_schema_free(schema);
    tb_csv_opts_free(opts);
    tb_strlist_free(&paths);
    tb_arena_free(arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_files),
        cmocka_unit_test(test_plain_and_long),
        cmocka_unit_test(test_timestamps),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
