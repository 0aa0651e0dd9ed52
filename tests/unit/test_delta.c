/*
 * test_delta.c - Delta Lake log reader, source and writer.
 *
 * Reader: every table of $TB_TESTDATA/delta-golden (written by Delta itself) opens with
 * the expected version, live files, partition values and txn; time travel; corrupt logs.
 * Rows are compared with tests/data/delta_expect/<table>[@version].csv, produced once by
 * tests/interop/delta_expect.mjs with DuckDB reading the live Parquet files directly.
 * Writer: create / append / overwrite / txn skip / checkpoints / put-if-absent races, a
 * log check written from PROTOCOL.md, and two processes appending concurrently.
 */
/* cmocka needs these first, in this order */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "format/codec.h"
#include "format/delta.h"
#include "format/delta_int.h" /* white-box: the commit-race hook */
#include "format/parquet.h"
#include "format/parquet_write.h"
#include <jansson.h>

/* ---------------------------------------------------------------- helpers */

static char g_golden[4096];
static bool g_have_golden;

static int setup_golden(void **state)
{
    const char *td = getenv("TB_TESTDATA");
    struct stat st;

    (void)state;
    if (td == NULL || td[0] == '\0')
        td = "../shared/testdata";
    snprintf(g_golden, sizeof(g_golden), "%s/delta-golden", td);
    g_have_golden = stat(g_golden, &st) == 0 && S_ISDIR(st.st_mode);
    return 0;
}

#define NEED_GOLDEN()                                                                              \
    do {                                                                                           \
        if (!g_have_golden) {                                                                      \
            fprintf(stderr, "SKIP: no Delta golden tables at %s (set TB_TESTDATA)\n", g_golden);   \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static tb_delta_snapshot *open_golden(const char *name, int64_t version)
{
    char path[4200];
    tb_delta_snapshot *snap = NULL;
    tb_err err;
    tb_rc rc;

    tb_err_clear(&err);
    snprintf(path, sizeof(path), "%s/%s", g_golden, name);
    rc = tb_delta_open(path, version, &snap, &err);
    if (rc != TB_OK)
        fprintf(stderr, "open %s@%lld: %s\n", name, (long long)version, err.msg);
    assert_int_equal(rc, TB_OK);
    assert_non_null(snap);
    return snap;
}

static const char *mktmp(const char *tag);
static void rm_rf(const char *path);

static bool has_file(const tb_delta_snapshot *snap, const char *needle)
{
    uint64_t i;
    tb_delta_file_info fi;

    for (i = 0; i < tb_delta_file_count(snap); i++) {
        tb_delta_file_get(snap, i, &fi);
        if (strstr(fi.path, needle) != NULL)
            return true;
    }
    return false;
}

/* ---------------------------------------------------------------- log reader */

static void test_golden_versions_and_files(void **state)
{
    static const struct {
        const char *name;
        int64_t version;
        uint64_t n_files;
        uint32_t n_cols;
        uint32_t n_part;
    } cases[] = {
        {"snapshot-data0", 0, 2, 2, 0},
        {"snapshot-data1", 1, 4, 2, 0},
        {"snapshot-data2-deleted", 4, 3, 2, 0},
        {"deltalog-getChanges", 2, 0, 2, 0},
        {"checkpoint", 14, 1, 1, 0},
        {"basic-with-inserts-deletes-checkpoint", 13, 7, 1, 0},
        {"multi-part-checkpoint", 1, 10, 1, 0},
        {"data-reader-partition-values", 0, 3, 13, 12},
        {"time-travel-partition-changes-a", 0, 10, 2, 1},
    };
    size_t i;

    (void)state;
    NEED_GOLDEN();
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tb_delta_snapshot *snap = open_golden(cases[i].name, -1);
        if (tb_delta_version(snap) != cases[i].version ||
            tb_delta_file_count(snap) != cases[i].n_files ||
            tb_delta_schema(snap)->n != cases[i].n_cols ||
            tb_delta_partition_count(snap) != cases[i].n_part)
            fprintf(stderr, "%s: version %lld files %llu cols %u part %u\n", cases[i].name,
                    (long long)tb_delta_version(snap),
                    (unsigned long long)tb_delta_file_count(snap), tb_delta_schema(snap)->n,
                    tb_delta_partition_count(snap));
        assert_int_equal(tb_delta_version(snap), cases[i].version);
        assert_int_equal(tb_delta_file_count(snap), cases[i].n_files);
        assert_int_equal(tb_delta_schema(snap)->n, cases[i].n_cols);
        assert_int_equal(tb_delta_partition_count(snap), cases[i].n_part);
        tb_delta_snapshot_free(snap);
    }
}

static void test_golden_deleted_files(void **state)
{
    tb_delta_snapshot *snap;

    (void)state;
    NEED_GOLDEN();
    snap = open_golden("snapshot-data2-deleted", -1);
    assert_true(has_file(snap, "cb078bc1"));
    assert_true(has_file(snap, "9bf4b8f8"));
    assert_true(has_file(snap, "d83dafd8"));
    assert_false(has_file(snap, "842017c2"));
    assert_false(has_file(snap, "0441e99a"));
    tb_delta_snapshot_free(snap);

    snap = open_golden("checkpoint", -1);
    assert_true(has_file(snap, "15"));
    tb_delta_snapshot_free(snap);
}

static void test_golden_time_travel(void **state)
{
    static const struct {
        int64_t version;
        uint64_t n_files;
    } cases[] = {{0, 2}, {1, 4}, {2, 2}, {3, 4}, {4, 3}};
    size_t i;
    tb_delta_snapshot *snap;
    tb_err err;
    char path[4200];

    (void)state;
    NEED_GOLDEN();
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snap = open_golden("snapshot-data2-deleted", cases[i].version);
        assert_int_equal(tb_delta_version(snap), cases[i].version);
        assert_int_equal(tb_delta_file_count(snap), cases[i].n_files);
        tb_delta_snapshot_free(snap);
    }
    /* before and after the checkpoint of version 10 */
    snap = open_golden("basic-with-inserts-deletes-checkpoint", 4);
    assert_int_equal(tb_delta_file_count(snap), 5);
    tb_delta_snapshot_free(snap);
    snap = open_golden("basic-with-inserts-deletes-checkpoint", 10);
    assert_int_equal(tb_delta_file_count(snap), 6);
    tb_delta_snapshot_free(snap);
    snap = open_golden("basic-with-inserts-deletes-checkpoint", 12);
    assert_int_equal(tb_delta_file_count(snap), 8);
    tb_delta_snapshot_free(snap);
    snap = open_golden("checkpoint", 10);
    assert_true(has_file(snap, "11"));
    assert_int_equal(tb_delta_file_count(snap), 1);
    tb_delta_snapshot_free(snap);

    /* a version past the end */
    snprintf(path, sizeof(path), "%s/snapshot-data0", g_golden);
    tb_err_clear(&err);
    snap = NULL;
    assert_int_equal(tb_delta_open(path, 7, &snap, &err), TB_E_NOTFOUND);
    assert_null(snap);
    assert_non_null(strstr(err.msg, "version 7"));
}

static void test_golden_txn(void **state)
{
    tb_delta_snapshot *snap;
    int64_t v = -1;

    (void)state;
    NEED_GOLDEN();
    snap = open_golden("deltalog-getChanges", -1);
    assert_true(tb_delta_txn_version(snap, "fakeAppId", &v));
    assert_int_equal(v, 3);
    assert_false(tb_delta_txn_version(snap, "other", &v));
    tb_delta_snapshot_free(snap);
    snap = open_golden("deltalog-getChanges", 1);
    assert_false(tb_delta_txn_version(snap, "fakeAppId", &v));
    tb_delta_snapshot_free(snap);
}

static void test_golden_partition_values(void **state)
{
    tb_delta_snapshot *snap;
    const tb_schema *schema;
    uint64_t i;
    int n_null_files = 0, n_ts = 0;

    (void)state;
    NEED_GOLDEN();
    snap = open_golden("data-reader-partition-values", -1);
    schema = tb_delta_schema(snap);
    assert_int_equal(schema->fields[tb_schema_find(schema, "as_byte")].type.id, TB_T_INT16);
    assert_int_equal(schema->fields[tb_schema_find(schema, "as_big_decimal")].type.id,
                     TB_T_DECIMAL);
    assert_int_equal(schema->fields[tb_schema_find(schema, "as_big_decimal")].type.precision, 1);
    assert_int_equal(tb_schema_find(schema, "as_nested_struct"), -1);
    assert_string_equal(tb_delta_partition_column(snap, 10), "as_timestamp");
    for (i = 0; i < tb_delta_file_count(snap); i++) {
        tb_delta_file_info fi;
        uint32_t k;
        tb_delta_file_get(snap, i, &fi);
        assert_int_equal(fi.n_part_values, 12);
        for (k = 0; k < fi.n_part_values; k++) {
            if (strcmp(fi.part_keys[k], "as_int") == 0 && fi.part_vals[k] == NULL)
                n_null_files++;
            if (strcmp(fi.part_keys[k], "as_timestamp") == 0 && fi.part_vals[k] != NULL) {
                assert_string_equal(fi.part_vals[k], "2021-09-08 11:11:11");
                n_ts++;
            }
        }
        /* the path is decoded once: the directory name keeps Hive's %3A */
        if (strstr(fi.path, "as_timestamp=2021") != NULL)
            assert_non_null(strstr(fi.path, "as_timestamp=2021-09-08 11%3A11%3A11/"));
    }
    assert_int_equal(n_null_files, 1);
    assert_int_equal(n_ts, 2);
    tb_delta_snapshot_free(snap);
}

/* ---------------------------------------------------------------- rows vs expectations */

typedef struct rowset {
    tb_value *vals; /* n_rows * n_cols */
    size_t n_rows, cap_rows;
    uint32_t n_cols;
    tb_arena *arena; /* string bytes */
} rowset;

static uint32_t g_sort_cols;

static int cmp_rows(const void *a, const void *b)
{
    const tb_value *x = a, *y = b;
    uint32_t c;
    for (c = 0; c < g_sort_cols; c++) {
        int r = tb_value_cmp(&x[c], &y[c]);
        if (r != 0)
            return r;
    }
    return 0;
}

static void rowset_sort(rowset *rs)
{
    g_sort_cols = rs->n_cols;
    if (rs->n_rows > 1)
        qsort(rs->vals, rs->n_rows, sizeof(tb_value) * rs->n_cols, cmp_rows);
}

static tb_value *rowset_add(rowset *rs)
{
    if (rs->n_rows == rs->cap_rows) {
        rs->cap_rows = rs->cap_rows ? rs->cap_rows * 2 : 64;
        rs->vals = realloc(rs->vals, rs->cap_rows * rs->n_cols * sizeof(tb_value));
        assert_non_null(rs->vals);
    }
    return &rs->vals[rs->n_rows++ * rs->n_cols];
}

/* Parse one CSV line of quoted fields or \N into typed values. */
static void parse_expect_line(const char *line, const tb_schema *schema, rowset *rs)
{
    tb_value *row = rowset_add(rs);
    const char *p = line;
    uint32_t c;

    for (c = 0; c < schema->n; c++) {
        char *field = NULL;
        bool is_null = false;
        if (strncmp(p, "\\N", 2) == 0) {
            is_null = true;
            p += 2;
        } else {
            size_t n = 0;
            assert_true(*p == '"');
            p++;
            field = tb_arena_alloc(rs->arena, strlen(p) + 1);
            for (;;) {
                assert_true(*p != '\0');
                if (*p == '"' && p[1] == '"') {
                    field[n++] = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    field[n++] = *p++;
                }
            }
            field[n] = '\0';
        }
        if (c + 1 < schema->n) {
            assert_true(*p == ',');
            p++;
        }
        if (is_null) {
            memset(&row[c], 0, sizeof(tb_value));
            row[c].type = schema->fields[c].type;
            row[c].is_null = true;
        } else {
            if (!tb_delta_part_value(field, schema->fields[c].type, &row[c]))
                fail_msg("cannot parse '%s' as column %s", field, schema->fields[c].name);
            if (schema->fields[c].type.id == TB_T_FLOAT)
                row[c].u.d = (float)row[c].u.d;
        }
    }
}

static void load_expect(const char *path, const tb_schema *schema, rowset *rs)
{
    char *data = NULL, *line, *save = NULL;
    size_t len = 0;
    tb_err err;
    bool header = true;

    tb_err_clear(&err);
    assert_int_equal(tb_file_read_all(path, 1 << 24, &data, &len, &err), TB_OK);
    for (line = strtok_r(data, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        if (header) {
            /* the header names the schema's columns, in order */
            char names[4096] = "";
            uint32_t c;
            for (c = 0; c < schema->n; c++) {
                strcat(names, c ? "," : "");
                strcat(names, schema->fields[c].name);
            }
            assert_string_equal(line, names);
            header = false;
            continue;
        }
        parse_expect_line(line, schema, rs);
    }
    tb_free(data);
}

/* Read every row of a source into rs (strings copied). */
static void read_source(tb_source *src, rowset *rs)
{
    tb_arena *arena = tb_arena_new(0);
    tb_batch *b;
    tb_err err;
    uint32_t i, c;

    tb_err_clear(&err);
    for (;;) {
        tb_rc rc;
        tb_arena_reset(arena);
        rc = tb_source_next(src, arena, &b, &err);
        if (rc != TB_OK)
            fprintf(stderr, "next: %s\n", err.msg);
        assert_int_equal(rc, TB_OK);
        if (b == NULL)
            break;
        assert_int_equal(b->n_cols, rs->n_cols);
        for (i = 0; i < b->n_rows; i++) {
            tb_value *row = rowset_add(rs);
            for (c = 0; c < b->n_cols; c++) {
                tb_vec_get(&b->cols[c], i, &row[c]);
                if (!row[c].is_null && row[c].type.id == TB_T_STRING)
                    row[c].u.s.ptr = tb_arena_strndup(rs->arena, row[c].u.s.ptr, row[c].u.s.len);
            }
        }
    }
    tb_arena_free(arena);
}

static void rowset_free(rowset *rs)
{
    free(rs->vals);
    tb_arena_free(rs->arena);
}

static void compare_rowsets(const char *what, rowset *want, rowset *got)
{
    size_t r;
    uint32_t c;

    rowset_sort(want);
    rowset_sort(got);
    if (want->n_rows != got->n_rows)
        fprintf(stderr, "%s: %zu rows, expected %zu\n", what, got->n_rows, want->n_rows);
    assert_int_equal(got->n_rows, want->n_rows);
    for (r = 0; r < want->n_rows; r++) {
        for (c = 0; c < want->n_cols; c++) {
            const tb_value *x = &want->vals[r * want->n_cols + c],
                           *y = &got->vals[r * got->n_cols + c];
            if (x->is_null != y->is_null || (!x->is_null && tb_value_cmp(x, y) != 0)) {
                tb_buf a = {0}, b = {0};
                tb_value_format(x, &a);
                tb_value_format(y, &b);
                fprintf(stderr, "%s: row %zu col %u: expected '%s'%s, got '%s'%s\n", what, r, c,
                        a.data ? tb_buf_cstr(&a) : "", x->is_null ? " (NULL)" : "",
                        b.data ? tb_buf_cstr(&b) : "", y->is_null ? " (NULL)" : "");
                tb_buf_free(&a);
                tb_buf_free(&b);
                fail();
            }
        }
    }
}

static const char *srcdir(void)
{
    const char *s = getenv("TB_SRCDIR");
    return s != NULL && s[0] != '\0' ? s : ".";
}

static void test_golden_rows(void **state)
{
    char dirpath[4200];
    DIR *d;
    struct dirent *de;
    int n_checked = 0;

    (void)state;
    NEED_GOLDEN();
    snprintf(dirpath, sizeof(dirpath), "%s/tests/data/delta_expect", srcdir());
    d = opendir(dirpath);
    if (d == NULL) {
        fprintf(stderr, "SKIP: no expectations at %s (set TB_SRCDIR)\n", dirpath);
        skip();
    }
    while ((de = readdir(d)) != NULL) {
        char name[256], path[8400], *at;
        long version;
        tb_delta_snapshot *snap;
        tb_source *src = NULL;
        rowset want = {0}, got = {0};
        tb_err err;

        if (!tb_str_ends_with(de->d_name, ".csv"))
            continue;
        snprintf(name, sizeof(name), "%s", de->d_name);
        at = strchr(name, '@');
        assert_non_null(at);
        *at = '\0';
        version = strtol(at + 1, NULL, 10);
        snap = open_golden(name, version);
        tb_err_clear(&err);
        assert_int_equal(tb_delta_source_new(snap, NULL, 0, &src, &err), TB_OK);
        tb_delta_snapshot_free(snap); /* the source does not need it */
        want.n_cols = got.n_cols = src->schema->n;
        want.arena = tb_arena_new(0);
        got.arena = tb_arena_new(0);
        snprintf(path, sizeof(path), "%s/%s", dirpath, de->d_name);
        load_expect(path, src->schema, &want);
        read_source(src, &got);
        compare_rowsets(de->d_name, &want, &got);
        assert_int_equal(src->stats.rows_read, want.n_rows);
        tb_source_free(src);
        rowset_free(&want);
        rowset_free(&got);
        n_checked++;
    }
    closedir(d);
    assert_true(n_checked >= 10);
}

static void test_golden_projection(void **state)
{
    tb_delta_snapshot *snap;
    tb_source *src = NULL;
    tb_arena *arena;
    tb_batch *b;
    tb_err err;
    int proj[2];
    uint64_t rows = 0;
    const tb_schema *schema;

    (void)state;
    NEED_GOLDEN();
    arena = tb_arena_new(0);
    tb_err_clear(&err);
    /* only partition columns, reversed */
    snap = open_golden("time-travel-partition-changes-a", -1);
    proj[0] = tb_schema_find(tb_delta_schema(snap), "part5");
    assert_int_equal(tb_delta_source_new(snap, proj, 1, &src, &err), TB_OK);
    for (;;) {
        uint32_t i;
        tb_arena_reset(arena);
        assert_int_equal(tb_source_next(src, arena, &b, &err), TB_OK);
        if (b == NULL)
            break;
        for (i = 0; i < b->n_rows; i++) {
            int64_t p = TB_VEC_PTR(&b->cols[0], int64_t)[i];
            assert_true(p >= 0 && p <= 4);
        }
        rows += b->n_rows;
    }
    assert_int_equal(rows, 10);
    tb_source_free(src);
    tb_delta_snapshot_free(snap);

    /* a file the log names but which is gone: the error names it */
    snap = open_golden("checkpoint", -1);
    schema = tb_delta_schema(snap);
    assert_int_equal(schema->n, 1);
    assert_int_equal(tb_delta_source_new(snap, NULL, 0, &src, &err), TB_OK);
    tb_arena_reset(arena);
    assert_int_not_equal(tb_source_next(src, arena, &b, &err), TB_OK);
    assert_non_null(strstr(err.msg, "checkpoint/15"));
    tb_source_free(src);
    tb_delta_snapshot_free(snap);
    tb_arena_free(arena);
}

/* Spark-written checkpoints (single and multi-part) with the JSON commits they cover
 * deleted: the table must come out of the checkpoint alone, rows as expected. */
static void test_golden_checkpoint_only(void **state)
{
    static const struct {
        const char *name;
        const char *rm; /* commits to delete */
        int64_t version;
        uint64_t n_files;
    } cases[] = {
        {"basic-with-inserts-deletes-checkpoint", "0000000000000000000[0-9].json", 13, 7},
        {"multi-part-checkpoint", "0000000000000000000[01].json", 1, 10},
        {"checkpoint", "0000000000000000000[0-9].json", 14, 1},
    };
    const char *dir = mktmp("goldck");
    char cmd[9000], path[4400], csv[4600];
    size_t i;

    (void)state;
    NEED_GOLDEN();
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tb_delta_snapshot *snap = NULL;
        tb_err err;
        tb_err_clear(&err);
        snprintf(cmd, sizeof(cmd),
                 "cp -r '%s/%s' '%s/' && chmod -R u+w '%s/%s' && rm %s/%s/_delta_log/%s", g_golden,
                 cases[i].name, dir, dir, cases[i].name, dir, cases[i].name, cases[i].rm);
        assert_int_equal(system(cmd), 0);
        snprintf(path, sizeof(path), "%s/%s", dir, cases[i].name);
        if (tb_delta_open(path, -1, &snap, &err) != TB_OK)
            fail_msg("%s: %s", path, err.msg);
        assert_int_equal(tb_delta_version(snap), cases[i].version);
        assert_int_equal(tb_delta_file_count(snap), cases[i].n_files);
        snprintf(csv, sizeof(csv), "%s/tests/data/delta_expect/%s@%lld.csv", srcdir(),
                 cases[i].name, (long long)cases[i].version);
        if (access(csv, R_OK) == 0) {
            tb_source *src = NULL;
            rowset want = {0}, got = {0};
            assert_int_equal(tb_delta_source_new(snap, NULL, 0, &src, &err), TB_OK);
            want.n_cols = got.n_cols = src->schema->n;
            want.arena = tb_arena_new(0);
            got.arena = tb_arena_new(0);
            load_expect(csv, src->schema, &want);
            read_source(src, &got);
            compare_rowsets(csv, &want, &got);
            rowset_free(&want);
            rowset_free(&got);
            tb_source_free(src);
        }
        tb_delta_snapshot_free(snap);
        /* a version before the checkpoint cannot be rebuilt any more */
        assert_int_equal(tb_delta_open(path, 0, &snap, &err), TB_E_CORRUPT);
    }
    rm_rf(dir);
}

/* Every allocation failure on the way gives TB_E_NOMEM (or success) and no leak. */
static void test_fault_injection(void **state)
{
    char path[4200];
    long n;
    int n_nomem = 0;
    bool fired;

    (void)state;
    NEED_GOLDEN();
    snprintf(path, sizeof(path), "%s/basic-with-inserts-deletes-checkpoint", g_golden);
    for (n = 1; n < 5000; n++) {
        tb_delta_snapshot *snap = NULL;
        tb_source *src = NULL;
        tb_err err;
        tb_rc rc;
        tb_err_clear(&err);
        tb_fault_arm(n);
        rc = tb_delta_open(path, -1, &snap, &err);
        if (rc == TB_OK) {
            rc = tb_delta_source_new(snap, NULL, 0, &src, &err);
            if (rc == TB_OK) {
                tb_arena *arena = tb_arena_new(0);
                tb_batch *b = NULL;
                if (arena != NULL) {
                    do
                        rc = tb_source_next(src, arena, &b, &err);
                    while (rc == TB_OK && b != NULL);
                    tb_arena_free(arena);
                } else {
                    rc = TB_E_NOMEM;
                }
                tb_source_free(src);
            }
            tb_delta_snapshot_free(snap);
        }
        fired = tb_fault_fired();
        tb_fault_arm(0);
        if (rc == TB_OK && !fired)
            break; /* past the last allocation */
        if (rc != TB_OK) {
            if (rc != TB_E_NOMEM &&
                !(rc == TB_E_CORRUPT && strstr(err.msg, "out of memory") != NULL))
                fail_msg("fault %ld: rc %d: %s", n, rc, err.msg);
            n_nomem++;
        }
    }
    assert_true(n < 5000);
    assert_true(n_nomem > 50);
}

/* ---------------------------------------------------------------- corrupt logs */

static char g_tmp[256];

/* rm -rf, in process (the fault loops remove thousands of tables). */
static void rm_rf(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *de;

    if (lstat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        (void)unlink(path);
        return;
    }
    d = opendir(path);
    if (d != NULL) {
        while ((de = readdir(d)) != NULL) {
            char sub[4096];
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
            rm_rf(sub);
        }
        closedir(d);
    }
    (void)rmdir(path);
}

static const char *mktmp(const char *tag)
{
    snprintf(g_tmp, sizeof(g_tmp), "/tmp/tb_delta_%s_%d", tag, (int)getpid());
    rm_rf(g_tmp);
    assert_int_equal(mkdir(g_tmp, 0755), 0);
    return g_tmp;
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[600];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

#define V0_LINES                                                                                   \
    "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}\n"                             \
    "{\"metaData\":{\"id\":\"x\",\"format\":{\"provider\":\"parquet\",\"options\":{}},"            \
    "\"schemaString\":\"{\\\"type\\\":\\\"struct\\\",\\\"fields\\\":[{\\\"name\\\":\\\"a\\\","     \
    "\\\"type\\\":\\\"integer\\\",\\\"nullable\\\":true,\\\"metadata\\\":{}}]}\","                 \
    "\"partitionColumns\":[],\"configuration\":{}}}\n"

static void test_corrupt_logs(void **state)
{
    const char *dir = mktmp("corrupt");
    char log[400];
    tb_delta_snapshot *snap = NULL;
    tb_err err;

    (void)state;
    snprintf(log, sizeof(log), "%s/_delta_log", dir);
    /* not a table */
    tb_err_clear(&err);
    assert_int_equal(tb_delta_open(dir, -1, &snap, &err), TB_E_NOTFOUND);
    assert_int_equal(mkdir(log, 0755), 0);
    assert_int_equal(tb_delta_open(dir, -1, &snap, &err), TB_E_NOTFOUND);

    write_text(log, "00000000000000000000.json", V0_LINES);
    write_text(log, "00000000000000000001.json",
               "{\"add\":{\"path\":\"f1.parquet\",\"partitionValues\":{},\"size\":1,"
               "\"modificationTime\":1,\"dataChange\":true}}\n");
    assert_int_equal(tb_delta_open(dir, -1, &snap, &err), TB_OK);
    assert_int_equal(tb_delta_version(snap), 1);
    assert_int_equal(tb_delta_file_count(snap), 1);
    tb_delta_snapshot_free(snap);
    snap = NULL;

    /* a gap: version 2 missing, 3 present */
    write_text(log, "00000000000000000003.json",
               "{\"add\":{\"path\":\"f3.parquet\",\"partitionValues\":{},\"size\":1,"
               "\"modificationTime\":1,\"dataChange\":true}}\n");
    tb_err_clear(&err);
    assert_int_equal(tb_delta_open(dir, -1, &snap, &err), TB_E_CORRUPT);
    assert_non_null(strstr(err.msg, "00000000000000000002.json"));
    /* but version 1 is still readable */
    assert_int_equal(tb_delta_open(dir, 1, &snap, &err), TB_OK);
    tb_delta_snapshot_free(snap);
    snap = NULL;

    /* a torn line */
    write_text(log, "00000000000000000002.json",
               "{\"commitInfo\":{}}\n{\"add\":{\"path\":\"f2.parquet\",\"partitionVal");
    tb_err_clear(&err);
    assert_int_equal(tb_delta_open(dir, -1, &snap, &err), TB_E_CORRUPT);
    assert_non_null(strstr(err.msg, "00000000000000000002.json:2"));
    assert_null(snap);

    /* a well-formed JSON line with a bad field */
    write_text(log, "00000000000000000002.json",
               "{\"add\":{\"path\":\"f2.parquet\",\"partitionValues\":{},\"size\":\"big\","
               "\"modificationTime\":1,\"dataChange\":true}}\n");
    tb_err_clear(&err);
    assert_int_equal(tb_delta_open(dir, -1, &snap, &err), TB_E_CORRUPT);
    assert_non_null(strstr(err.msg, "00000000000000000002.json:1"));
    assert_non_null(strstr(err.msg, "add.size"));

    /* fixed: remove f1, add f2 */
    write_text(
        log, "00000000000000000002.json",
        "{\"remove\":{\"path\":\"f1.parquet\",\"deletionTimestamp\":5,\"dataChange\":true}}\n"
        "{\"add\":{\"path\":\"f%202.parquet\",\"partitionValues\":{},\"size\":1,"
        "\"modificationTime\":1,\"dataChange\":true}}\n");
    assert_int_equal(tb_delta_open(dir, -1, &snap, &err), TB_OK);
    assert_int_equal(tb_delta_version(snap), 3);
    assert_int_equal(tb_delta_file_count(snap), 2);
    assert_true(has_file(snap, "f 2.parquet"));
    assert_false(has_file(snap, "f1.parquet"));
    tb_delta_snapshot_free(snap);
    snap = NULL;

    /* unsupported reader protocol */
    write_text(
        log, "00000000000000000004.json",
        "{\"protocol\":{\"minReaderVersion\":3,\"minWriterVersion\":7,"
        "\"readerFeatures\":[\"deletionVectors\"],\"writerFeatures\":[\"deletionVectors\"]}}\n");
    tb_err_clear(&err);
    assert_int_equal(tb_delta_open(dir, -1, &snap, &err), TB_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "deletionVectors"));
    rm_rf(dir);
}

/* ---------------------------------------------------------------- writer */

enum { W_ID, W_NAME, W_AMOUNT, W_TS, W_P, W_D, W_F, W_NCOLS };

static tb_schema *writer_schema(void)
{
    tb_schema *s = tb_schema_new(W_NCOLS);
    assert_int_equal(tb_schema_set(s, W_ID, "id", tb_type_make(TB_T_INT64), false), TB_OK);
    assert_int_equal(tb_schema_set(s, W_NAME, "name", tb_type_make(TB_T_STRING), true), TB_OK);
    assert_int_equal(tb_schema_set(s, W_AMOUNT, "amount", tb_type_decimal(10, 2), true), TB_OK);
    assert_int_equal(tb_schema_set(s, W_TS, "ts", tb_type_make(TB_T_TIMESTAMP), true), TB_OK);
    assert_int_equal(tb_schema_set(s, W_P, "p", tb_type_make(TB_T_STRING), true), TB_OK);
    assert_int_equal(tb_schema_set(s, W_D, "d", tb_type_make(TB_T_DATE), true), TB_OK);
    assert_int_equal(tb_schema_set(s, W_F, "f", tb_type_make(TB_T_DOUBLE), true), TB_OK);
    return s;
}

static const char *const g_pvals[] = {"a", "b/c:d %=x", NULL, "", "ünï"};

/* Value of column c for row id; `as_read` gives what a reader sees (Delta turns an empty
 * partition string into NULL). */
static void wgen(int c, int64_t id, bool as_read, tb_value *v)
{
    static char name[64];
    memset(v, 0, sizeof(*v));
    switch (c) {
    case W_ID:
        v->type = tb_type_make(TB_T_INT64);
        v->u.i = id;
        break;
    case W_NAME:
        v->type = tb_type_make(TB_T_STRING);
        if (id % 7 == 3) {
            v->is_null = true;
            break;
        }
        snprintf(name, sizeof(name), "name-%lld", (long long)(id % 50));
        v->u.s.ptr = name;
        v->u.s.len = (uint32_t)strlen(name);
        break;
    case W_AMOUNT:
        v->type = tb_type_decimal(10, 2);
        v->u.dec = (tb_i128)(id * 101 - 5000);
        break;
    case W_TS:
        v->type = tb_type_make(TB_T_TIMESTAMP);
        v->u.i = 1700000000LL * TB_USEC_PER_SEC + id * 1234567;
        break;
    case W_P: {
        const char *pv = g_pvals[id % 5];
        v->type = tb_type_make(TB_T_STRING);
        if (pv == NULL || (as_read && pv[0] == '\0')) {
            v->is_null = true;
            break;
        }
        v->u.s.ptr = pv;
        v->u.s.len = (uint32_t)strlen(pv);
        break;
    }
    case W_D:
        v->type = tb_type_make(TB_T_DATE);
        if (id % 3 == 2)
            v->is_null = true;
        else
            v->u.i = 19000 + id % 3;
        break;
    case W_F:
        v->type = tb_type_make(TB_T_DOUBLE);
        v->u.d = (double)id / 8.0;
        break;
    }
}

static tb_batch *wbatch(const tb_schema *s, int64_t first, uint32_t n, tb_arena *arena)
{
    tb_batch *b = NULL;
    uint32_t i;
    int c;

    assert_int_equal(tb_batch_new(s, n > 0 ? n : 1, arena, &b), TB_OK);
    for (c = 0; c < W_NCOLS; c++) {
        for (i = 0; i < n; i++) {
            tb_value v;
            wgen(c, first + i, false, &v);
            if (v.is_null) {
                assert_int_equal(tb_vec_set_null(&b->cols[c], i, b->cap, arena), TB_OK);
            } else {
                if (v.type.id == TB_T_STRING)
                    v.u.s.ptr = tb_arena_strndup(arena, v.u.s.ptr, v.u.s.len);
                assert_int_equal(tb_vec_put(&b->cols[c], i, b->cap, &v, arena), TB_OK);
            }
        }
    }
    b->n_rows = n;
    return b;
}

/* Expected rows: ids [first, first + n) for each range. */
static void expect_ids(rowset *rs, const int64_t *ranges, int n_ranges, bool p_is_part)
{
    int k;
    for (k = 0; k < n_ranges; k++) {
        int64_t id;
        for (id = ranges[2 * k]; id < ranges[2 * k] + ranges[2 * k + 1]; id++) {
            tb_value *row = rowset_add(rs);
            int c;
            for (c = 0; c < W_NCOLS; c++) {
                wgen(c, id, p_is_part, &row[c]);
                if (!row[c].is_null && row[c].type.id == TB_T_STRING)
                    row[c].u.s.ptr = tb_arena_strndup(rs->arena, row[c].u.s.ptr, row[c].u.s.len);
            }
        }
    }
}

static void check_table_rows(const char *path, int64_t version, const int64_t *ranges, int n_ranges)
{
    tb_delta_snapshot *snap = NULL;
    tb_source *src = NULL;
    rowset want = {0}, got = {0};
    tb_err err;

    tb_err_clear(&err);
    if (tb_delta_open(path, version, &snap, &err) != TB_OK)
        fail_msg("open %s: %s", path, err.msg);
    assert_int_equal(tb_delta_source_new(snap, NULL, 0, &src, &err), TB_OK);
    want.n_cols = got.n_cols = W_NCOLS;
    want.arena = tb_arena_new(0);
    got.arena = tb_arena_new(0);
    expect_ids(&want, ranges, n_ranges,
               tb_delta_partition_count(snap) > 0 &&
                   strcmp(tb_delta_partition_column(snap, 0), "p") == 0);
    read_source(src, &got);
    compare_rowsets(path, &want, &got);
    rowset_free(&want);
    rowset_free(&got);
    tb_source_free(src);
    tb_delta_snapshot_free(snap);
}

/* An independent check of a log against PROTOCOL.md: versions 0..N contiguous, one action
 * per line, version 0 has protocol (1/2) and metaData with a parsable schemaString, one
 * commitInfo per commit, stats parse, no temp files left, every live add path exists.
 * Returns the number of live files. */
static size_t check_log(const char *table)
{
    char log[1200], path[2600];
    DIR *d;
    struct dirent *de;
    int64_t max_v = -1, n_json = 0, v;
    json_t *live = json_object();
    const char *k;
    json_t *val;
    size_t n_live;

    snprintf(log, sizeof(log), "%s/_delta_log", table);
    d = opendir(log);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (strstr(de->d_name, ".tmp") != NULL)
            fail_msg("temp file left in the log: %s", de->d_name);
        if (len == 25 && strcmp(de->d_name + 20, ".json") == 0) {
            v = strtoll(de->d_name, NULL, 10);
            n_json++;
            if (v > max_v)
                max_v = v;
        }
    }
    closedir(d);
    assert_int_equal(n_json, max_v + 1); /* contiguous from 0, each version once */
    for (v = 0; v <= max_v; v++) {
        char *data = NULL, *line, *save = NULL;
        size_t len;
        int n_ci = 0, n_proto = 0, n_meta = 0;
        tb_err err;
        tb_err_clear(&err);
        snprintf(path, sizeof(path), "%s/%020lld.json", log, (long long)v);
        assert_int_equal(tb_file_read_all(path, 1 << 26, &data, &len, &err), TB_OK);
        for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            json_error_t je;
            json_t *a = json_loads(line, 0, &je), *body;
            const char *key;
            if (a == NULL)
                fail_msg("%s: invalid JSON line: %s", path, je.text);
            assert_int_equal(json_object_size(a), 1);
            json_object_foreach(a, key, body)
            {
                if (strcmp(key, "commitInfo") == 0) {
                    n_ci++;
                } else if (strcmp(key, "protocol") == 0) {
                    n_proto++;
                    assert_int_equal(json_integer_value(json_object_get(body, "minReaderVersion")),
                                     1);
                    assert_int_equal(json_integer_value(json_object_get(body, "minWriterVersion")),
                                     2);
                } else if (strcmp(key, "metaData") == 0) {
                    json_t *sch = json_loads(
                        json_string_value(json_object_get(body, "schemaString")), 0, &je);
                    size_t fi;
                    json_t *fld;
                    n_meta++;
                    assert_non_null(sch);
                    assert_string_equal(json_string_value(json_object_get(sch, "type")), "struct");
                    json_array_foreach(json_object_get(sch, "fields"), fi, fld)
                    {
                        assert_true(json_is_string(json_object_get(fld, "name")));
                        assert_true(json_is_string(json_object_get(fld, "type")));
                        assert_true(json_is_boolean(json_object_get(fld, "nullable")));
                        assert_true(json_is_object(json_object_get(fld, "metadata")));
                    }
                    json_decref(sch);
                    assert_true(json_is_array(json_object_get(body, "partitionColumns")));
                    assert_true(json_is_string(json_object_get(body, "id")));
                } else if (strcmp(key, "add") == 0) {
                    json_t *st =
                        json_loads(json_string_value(json_object_get(body, "stats")), 0, &je);
                    assert_non_null(st);
                    assert_true(json_is_integer(json_object_get(st, "numRecords")));
                    json_decref(st);
                    assert_true(json_is_true(json_object_get(body, "dataChange")));
                    json_object_set(live, json_string_value(json_object_get(body, "path")), body);
                } else if (strcmp(key, "remove") == 0) {
                    json_object_del(live, json_string_value(json_object_get(body, "path")));
                }
            }
            json_decref(a);
        }
        tb_free(data);
        assert_int_equal(n_ci, 1);
        if (v == 0) {
            assert_int_equal(n_proto, 1);
            assert_int_equal(n_meta, 1);
        }
    }
    json_object_foreach(live, k, val)
    {
        char *dec = NULL;
        struct stat st;
        assert_int_equal(tb_delta_path_decode(k, &dec), TB_OK);
        snprintf(path, sizeof(path), "%s/%s", table, dec);
        if (stat(path, &st) != 0)
            fail_msg("live file missing: %s", path);
        assert_int_equal((int64_t)st.st_size, json_integer_value(json_object_get(val, "size")));
        tb_free(dec);
    }
    n_live = json_object_size(live);
    json_decref(live);
    return n_live;
}

/* Number of .parquet data files under dir (recursively), temp files included. */
static int count_data_files(const char *dir)
{
    char cmd[1200];
    FILE *f;
    int n = -1;
    snprintf(cmd, sizeof(cmd), "find '%s' -name '*.parquet*' -not -path '*_delta_log*' | wc -l",
             dir);
    f = popen(cmd, "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%d", &n), 1);
    pclose(f);
    return n;
}

static const char *interop_dir(void)
{
    const char *d = getenv("TB_INTEROP_DIR");
    return d != NULL && d[0] != '\0' ? d : NULL;
}

static void commit_ok(tb_delta_writer *w, tb_delta_mode mode, const char *app, int64_t txn,
                      bool want_skip, int64_t want_version)
{
    bool skipped = !want_skip;
    int64_t version = -2;
    tb_err err;
    tb_rc rc;

    tb_err_clear(&err);
    rc = tb_delta_writer_commit(w, mode, app, txn, &skipped, &version, &err);
    if (rc != TB_OK)
        fail_msg("commit: %s", err.msg);
    assert_int_equal(skipped, want_skip);
    if (want_version >= 0)
        assert_int_equal(version, want_version);
}

static void test_writer_create_append(void **state)
{
    tb_schema *s = writer_schema();
    tb_delta_writer *w = NULL;
    tb_arena *arena = tb_arena_new(0);
    tb_err err;
    int64_t r1[] = {0, 3000}, r2[] = {0, 3000, 5000, 100};
    char table[400];
    const char *dir = mktmp("create");

    (void)state;
    tb_err_clear(&err);
    snprintf(table, sizeof(table), "%s/t", dir);
    /* no schema, no table */
    assert_int_equal(tb_delta_writer_open(table, NULL, NULL, 0, &w, &err), TB_E_NOTFOUND);
    assert_int_equal(tb_delta_writer_open(table, s, NULL, 0, &w, &err), TB_OK);
    assert_int_equal(tb_delta_writer_add_batch(w, wbatch(s, 0, 2000, arena), &err), TB_OK);
    assert_int_equal(tb_delta_writer_add_batch(w, wbatch(s, 2000, 1000, arena), &err), TB_OK);
    commit_ok(w, TB_DELTA_APPEND, NULL, 0, false, 0);
    assert_int_equal(check_log(table), 1);
    check_table_rows(table, -1, r1, 1);
    /* the same writer goes on */
    assert_int_equal(tb_delta_writer_add_batch(w, wbatch(s, 5000, 100, arena), &err), TB_OK);
    commit_ok(w, TB_DELTA_APPEND, NULL, 0, false, 1);
    tb_delta_writer_free(w);
    assert_int_equal(check_log(table), 2);
    check_table_rows(table, -1, r2, 2);
    check_table_rows(table, 0, r1, 1);

    /* a new writer on the existing table: schema must match */
    {
        tb_schema *bad = tb_schema_new(1);
        assert_int_equal(tb_schema_set(bad, 0, "id", tb_type_make(TB_T_INT32), false), TB_OK);
        assert_int_equal(tb_delta_writer_open(table, bad, NULL, 0, &w, &err), TB_E_TYPE);
        tb_schema_free(bad);
    }
    assert_int_equal(tb_delta_writer_open(table, NULL, NULL, 0, &w, &err), TB_OK);
    assert_int_equal(tb_delta_writer_schema(w)->n, W_NCOLS);
    /* an empty commit is a valid version (commitInfo only) */
    commit_ok(w, TB_DELTA_APPEND, NULL, 0, false, 2);
    /* abort drops written files */
    assert_int_equal(tb_delta_writer_add_batch(w, wbatch(s, 9000, 10, arena), &err), TB_OK);
    tb_delta_writer_abort(w);
    assert_int_equal(count_data_files(table), 2);
    tb_delta_writer_free(w);
    assert_int_equal(check_log(table), 2);

    /* interval columns cannot be stored in Delta */
    {
        tb_schema *iv = tb_schema_new(1);
        char t2[500];
        snprintf(t2, sizeof(t2), "%s/iv", dir);
        assert_int_equal(tb_schema_set(iv, 0, "x", tb_type_make(TB_T_INTERVAL), true), TB_OK);
        assert_int_equal(tb_delta_writer_open(t2, iv, NULL, 0, &w, &err), TB_E_UNSUPPORTED);
        tb_schema_free(iv);
    }
    tb_arena_free(arena);
    tb_schema_free(s);
    rm_rf(dir);
}

/* Expected rows as CSV for the DuckDB check (same format as delta_expect.mjs). */
static void write_rows_csv(const char *path, const int64_t *ranges, int n_ranges)
{
    FILE *f = fopen(path, "w");
    int k, c;
    int64_t id;
    tb_buf b = {0};

    assert_non_null(f);
    fputs("id,name,amount,ts,p,d,f\n", f);
    for (k = 0; k < n_ranges; k++) {
        for (id = ranges[2 * k]; id < ranges[2 * k] + ranges[2 * k + 1]; id++) {
            for (c = 0; c < W_NCOLS; c++) {
                tb_value v;
                wgen(c, id, true, &v);
                if (c)
                    fputc(',', f);
                if (v.is_null) {
                    fputs("\\N", f);
                    continue;
                }
                b.len = 0;
                if (c == W_F)
                    tb_buf_printf(&b, "%.17g", v.u.d);
                else
                    assert_int_equal(tb_value_format(&v, &b), TB_OK);
                fputc('"', f);
                fwrite(b.data, 1, b.len, f);
                fputc('"', f);
            }
            fputc('\n', f);
        }
    }
    tb_buf_free(&b);
    fclose(f);
}

static void test_writer_partitioned(void **state)
{
    tb_schema *s = writer_schema();
    tb_delta_writer *w = NULL;
    tb_delta_write_opts o;
    tb_arena *arena = tb_arena_new(0);
    const char *parts[] = {"p", "d"};
    tb_delta_snapshot *snap = NULL;
    tb_err err;
    int64_t r[] = {0, 4000};
    char table[600], pathbuf[1200];
    const char *dir = mktmp("part");
    struct stat st;
    uint64_t i;
    bool saw_escaped = false, saw_null = false;

    (void)state;
    tb_err_clear(&err);
    if (interop_dir() != NULL)
        snprintf(table, sizeof(table), "%s/delta_part", interop_dir());
    else
        snprintf(table, sizeof(table), "%s/t", dir);
    rm_rf(table);
    tb_delta_write_opts_default(&o);
    o.max_open_files = 4; /* fewer than the 15 partitions: files get closed and reopened */
    o.codec = TB_CODEC_ZSTD;
    assert_int_equal(tb_delta_writer_open_opts(table, s, parts, 2, &o, &w, &err), TB_OK);
    for (i = 0; i < 4; i++)
        assert_int_equal(
            tb_delta_writer_add_batch(w, wbatch(s, (int64_t)i * 1000, 1000, arena), &err), TB_OK);
    commit_ok(w, TB_DELTA_APPEND, NULL, 0, false, 0);
    tb_delta_writer_free(w);
    check_log(table);
    check_table_rows(table, -1, r, 1);

    assert_int_equal(tb_delta_open(table, -1, &snap, &err), TB_OK);
    assert_int_equal(tb_delta_partition_count(snap), 2);
    assert_true(tb_delta_file_count(snap) >= 15);
    for (i = 0; i < tb_delta_file_count(snap); i++) {
        tb_delta_file_info fi;
        tb_delta_file_get(snap, i, &fi);
        assert_int_equal(fi.n_part_values, 2);
        assert_non_null(fi.stats);
        if (strncmp(fi.path, "p=b%2Fc%3Ad %25%3Dx/", 20) == 0)
            saw_escaped = true;
        if (strncmp(fi.path, "p=__HIVE_DEFAULT_PARTITION__/", 29) == 0) {
            saw_null = true;
            assert_null(strcmp(fi.part_keys[0], "p") == 0 ? fi.part_vals[0] : fi.part_vals[1]);
        }
        snprintf(pathbuf, sizeof(pathbuf), "%s/%s", table, fi.path);
        assert_int_equal(stat(pathbuf, &st), 0);
        /* data files do not hold the partition columns */
        {
            tb_schema *fs = NULL;
            assert_int_equal(tb_parquet_read_schema(pathbuf, &fs, &err), TB_OK);
            assert_int_equal(fs->n, W_NCOLS - 2);
            assert_int_equal(tb_schema_find(fs, "p"), -1);
            tb_schema_free(fs);
        }
    }
    assert_true(saw_escaped);
    assert_true(saw_null);
    tb_delta_snapshot_free(snap);
    if (interop_dir() != NULL) {
        snprintf(pathbuf, sizeof(pathbuf), "%s/delta_part.csv", interop_dir());
        write_rows_csv(pathbuf, r, 1);
    }
    tb_arena_free(arena);
    tb_schema_free(s);
    rm_rf(dir);
}

static void test_writer_overwrite(void **state)
{
    tb_schema *s = writer_schema();
    tb_delta_writer *w = NULL;
    tb_arena *arena = tb_arena_new(0);
    const char *parts[] = {"p"};
    tb_err err;
    int64_t r0[] = {0, 500}, r1[] = {0, 500, 500, 500}, r2[] = {7000, 50};
    char table[400];
    const char *dir = mktmp("overwrite");

    (void)state;
    tb_err_clear(&err);
    snprintf(table, sizeof(table), "%s/t", dir);
    assert_int_equal(tb_delta_writer_open(table, s, parts, 1, &w, &err), TB_OK);
    assert_int_equal(tb_delta_writer_add_batch(w, wbatch(s, 0, 500, arena), &err), TB_OK);
    commit_ok(w, TB_DELTA_APPEND, NULL, 0, false, 0);
    assert_int_equal(tb_delta_writer_add_batch(w, wbatch(s, 500, 500, arena), &err), TB_OK);
    commit_ok(w, TB_DELTA_APPEND, NULL, 0, false, 1);
    assert_int_equal(tb_delta_writer_add_batch(w, wbatch(s, 7000, 50, arena), &err), TB_OK);
    commit_ok(w, TB_DELTA_OVERWRITE, NULL, 0, false, 2);
    tb_delta_writer_free(w);
    assert_int_equal(check_log(table), 4); /* NULL and '' are one partition */
    check_table_rows(table, -1, r2, 1);
    check_table_rows(table, 1, r1, 2);
    check_table_rows(table, 0, r0, 1);
    /* overwriting with nothing empties the table */
    assert_int_equal(tb_delta_writer_open(table, NULL, NULL, 0, &w, &err), TB_OK);
    commit_ok(w, TB_DELTA_OVERWRITE, NULL, 0, false, 3);
    tb_delta_writer_free(w);
    assert_int_equal(check_log(table), 0);
    check_table_rows(table, -1, NULL, 0);
    tb_arena_free(arena);
    tb_schema_free(s);
    rm_rf(dir);
}

static void test_writer_txn(void **state)
{
    tb_schema *s = writer_schema();
    tb_delta_writer *w = NULL;
    tb_delta_snapshot *snap = NULL;
    tb_arena *arena = tb_arena_new(0);
    tb_err err;
    int64_t v = -1, r[] = {0, 10, 20, 10};
    char table[400];
    const char *dir = mktmp("txn");

    (void)state;
    tb_err_clear(&err);
    snprintf(table, sizeof(table), "%s/t", dir);
    assert_int_equal(tb_delta_writer_open(table, s, NULL, 0, &w, &err), TB_OK);
    assert_int_equal(tb_delta_writer_add_batch(w, wbatch(s, 0, 10, arena), &err), TB_OK);
    commit_ok(w, TB_DELTA_APPEND, "query-1", 5, false, 0);
    /* re-run of batch 5: skipped, its files deleted */
    assert_int_equal(tb_delta_writer_add_batch(w, wbatch(s, 10, 10, arena), &err), TB_OK);
    commit_ok(w, TB_DELTA_APPEND, "query-1", 5, true, 0);
    assert_int_equal(count_data_files(table), 1);
    /* an older batch too */
    assert_int_equal(tb_delta_writer_add_batch(w, wbatch(s, 10, 10, arena), &err), TB_OK);
    commit_ok(w, TB_DELTA_APPEND, "query-1", 4, true, 0);
    /* another app is independent; the next batch goes in */
    assert_int_equal(tb_delta_writer_add_batch(w, wbatch(s, 20, 10, arena), &err), TB_OK);
    commit_ok(w, TB_DELTA_APPEND, "query-2", 5, false, 1);
    commit_ok(w, TB_DELTA_APPEND, "query-1", 6, false, 2);
    tb_delta_writer_free(w);
    check_log(table);
    check_table_rows(table, -1, r, 2);
    assert_int_equal(tb_delta_open(table, -1, &snap, &err), TB_OK);
    assert_true(tb_delta_txn_version(snap, "query-1", &v));
    assert_int_equal(v, 6);
    assert_true(tb_delta_txn_version(snap, "query-2", &v));
    assert_int_equal(v, 5);
    tb_delta_snapshot_free(snap);
    /* a fresh writer (a restarted query) sees the txn too */
    assert_int_equal(tb_delta_writer_open(table, NULL, NULL, 0, &w, &err), TB_OK);
    assert_int_equal(tb_delta_writer_add_batch(w, wbatch(s, 20, 10, arena), &err), TB_OK);
    commit_ok(w, TB_DELTA_APPEND, "query-2", 5, true, 2);
    tb_delta_writer_free(w);
    check_table_rows(table, -1, r, 2);
    tb_arena_free(arena);
    tb_schema_free(s);
    rm_rf(dir);
}

static void test_writer_checkpoints(void **state)
{
    tb_schema *s = writer_schema();
    tb_delta_writer *w = NULL;
    tb_delta_snapshot *snap = NULL;
    tb_arena *arena = tb_arena_new(0);
    const char *parts[] = {"p"};
    tb_err err;
    int64_t i, r[] = {0, 25 * 20}, r15[] = {0, 15 * 20}, r20[] = {0, 20 * 20};
    char table[600], path[1400], *lc = NULL;
    size_t len;
    const char *dir = mktmp("ckpt");
    struct stat st;

    (void)state;
    tb_err_clear(&err);
    if (interop_dir() != NULL)
        snprintf(table, sizeof(table), "%s/delta_ckpt", interop_dir());
    else
        snprintf(table, sizeof(table), "%s/t", dir);
    rm_rf(table);
    assert_int_equal(tb_delta_writer_open(table, s, parts, 1, &w, &err), TB_OK);
    for (i = 0; i < 25; i++) {
        assert_int_equal(tb_delta_writer_add_batch(w, wbatch(s, i * 20, 20, arena), &err), TB_OK);
        commit_ok(w, TB_DELTA_APPEND, "stream", i, false, i);
        if (i == 12) { /* a delete-everything-and-rewrite in the middle: tombstones */
            assert_int_equal(tb_delta_writer_add_batch(w, wbatch(s, 0, 13 * 20, arena), &err),
                             TB_OK);
            commit_ok(w, TB_DELTA_OVERWRITE, NULL, 0, false, 13);
            i = 13;
            assert_int_equal(tb_delta_writer_add_batch(w, wbatch(s, 13 * 20, 20, arena), &err),
                             TB_OK);
            commit_ok(w, TB_DELTA_APPEND, "stream", 13, false, 14);
            i = 14;
            assert_int_equal(tb_delta_writer_add_batch(w, wbatch(s, 14 * 20, 20, arena), &err),
                             TB_OK);
            commit_ok(w, TB_DELTA_APPEND, "stream", 14, false, 15);
            break;
        }
    }
    for (i = 15; i < 25; i++) {
        assert_int_equal(tb_delta_writer_add_batch(w, wbatch(s, i * 20, 20, arena), &err), TB_OK);
        commit_ok(w, TB_DELTA_APPEND, "stream", i, false, i + 1);
    }
    tb_delta_writer_free(w);
    check_log(table);
    snprintf(path, sizeof(path), "%s/_delta_log/00000000000000000010.checkpoint.parquet", table);
    assert_int_equal(stat(path, &st), 0);
    snprintf(path, sizeof(path), "%s/_delta_log/00000000000000000020.checkpoint.parquet", table);
    assert_int_equal(stat(path, &st), 0);
    snprintf(path, sizeof(path), "%s/_delta_log/00000000000000000015.checkpoint.parquet", table);
    assert_int_not_equal(stat(path, &st), 0);
    snprintf(path, sizeof(path), "%s/_delta_log/_last_checkpoint", table);
    assert_int_equal(tb_file_read_all(path, 4096, &lc, &len, &err), TB_OK);
    assert_non_null(strstr(lc, "\"version\":20"));
    tb_free(lc);
    check_table_rows(table, -1, r, 1);
    check_table_rows(table, 15, r15, 1);

    /* the checkpoint alone (JSON commits 0..20 gone) gives the same table */
    snprintf(path, sizeof(path),
             "cp -r '%s' '%s/copy' && rm '%s/copy/_delta_log/'000000000000000000[01]*.json "
             "'%s/copy/_delta_log/00000000000000000020.json'",
             table, dir, dir, dir);
    assert_int_equal(system(path), 0);
    snprintf(path, sizeof(path), "%s/copy", dir);
    assert_int_equal(tb_delta_open(path, -1, &snap, &err), TB_OK);
    assert_int_equal(tb_delta_version(snap), 25);
    assert_true(tb_delta_txn_version(snap, "stream", &i));
    assert_int_equal(i, 24);
    tb_delta_snapshot_free(snap);
    check_table_rows(path, -1, r, 1);
    check_table_rows(path, 20, r20, 1);
    /* version 15 needed commits 11..15, which are gone */
    assert_int_equal(tb_delta_open(path, 15, &snap, &err), TB_E_CORRUPT);
    tb_arena_free(arena);
    tb_schema_free(s);
    rm_rf(dir);
}

/* Allocation failures anywhere in open / add_batch / commit (incl. the checkpoint) give
 * TB_E_NOMEM or success, never a crash, a leak or a corrupt log. */
static void test_writer_fault_injection(void **state)
{
    tb_schema *s = writer_schema();
    const char *dir = mktmp("wfault");
    const char *parts[] = {"p"};
    char table[400];
    tb_arena *arena = tb_arena_new(0);
    tb_batch *batches[2];
    tb_delta_write_opts o;
    long n;
    int n_nomem = 0, k;
    bool fired = true;

    (void)state;
    for (k = 0; k < 2; k++) /* made outside the loop: the test's own allocations */
        batches[k] = wbatch(s, k * 5, 5, arena);
    tb_delta_write_opts_default(&o);
    o.checkpoint_interval = 1; /* a checkpoint at version 1 */
    o.sync = false;            /* hundreds of runs: no fsync */
    for (n = 1; n < 20000 && fired; n++) {
        tb_delta_writer *w = NULL;
        tb_err err;
        tb_rc rc;
        int64_t version = -1;
        bool skipped = false;

        tb_err_clear(&err);
        snprintf(table, sizeof(table), "%s/t%ld", dir, n);
        tb_fault_arm(n);
        rc = tb_delta_writer_open_opts(table, s, parts, 1, &o, &w, &err);
        for (k = 0; rc == TB_OK && k < 2; k++) {
            rc = tb_delta_writer_add_batch(w, batches[k], &err);
            if (rc == TB_OK)
                rc = tb_delta_writer_commit(w, TB_DELTA_APPEND, "app", k, &skipped, &version, &err);
        }
        fired = tb_fault_fired();
        tb_fault_arm(0);
        tb_delta_writer_free(w);
        if (rc != TB_OK) {
            if (rc != TB_E_NOMEM)
                fail_msg("fault %ld: rc %d: %s", n, rc, err.msg);
            n_nomem++;
        }
        /* whatever happened, the log is consistent and readable */
        {
            char log[500];
            struct stat st;
            snprintf(log, sizeof(log), "%s/_delta_log/00000000000000000000.json", table);
            if (stat(log, &st) == 0) {
                tb_delta_snapshot *snap = NULL;
                check_log(table);
                assert_int_equal(tb_delta_open(table, -1, &snap, &err), TB_OK);
                tb_delta_snapshot_free(snap);
            }
        }
        rm_rf(table);
    }
    assert_false(fired); /* ran to a fault-free end */
    printf("writer fault injection: %ld allocation points, %d failed with TB_E_NOMEM\n", n - 1,
           n_nomem);
    assert_true(n_nomem > 100);
    tb_arena_free(arena);
    tb_schema_free(s);
    rm_rf(dir);
}

/* ---- lost races, made deterministic with the writer's hook */

static const char *g_race_commit;
static int g_race_fired;

static void race_hook(const char *table, int64_t version)
{
    char path[1200];
    FILE *f;
    if (g_race_commit == NULL || g_race_fired++ > 0)
        return;
    snprintf(path, sizeof(path), "%s/_delta_log/%020lld.json", table, (long long)version);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(g_race_commit, f);
    fclose(f);
}

static void race(const char *table, const char *theirs, tb_delta_mode mode, const char *app,
                 int64_t txn, tb_rc want_rc, bool want_skip, int64_t want_version)
{
    tb_schema *s = writer_schema();
    tb_delta_writer *w = NULL;
    tb_arena *arena = tb_arena_new(0);
    tb_err err;
    bool skipped = false;
    int64_t version = -1;
    tb_rc rc;

    tb_err_clear(&err);
    assert_int_equal(tb_delta_writer_open(table, NULL, NULL, 0, &w, &err), TB_OK);
    assert_int_equal(tb_delta_writer_add_batch(w, wbatch(s, 100, 5, arena), &err), TB_OK);
    g_race_commit = theirs;
    g_race_fired = 0;
    tb_delta_before_commit_hook = race_hook;
    rc = tb_delta_writer_commit(w, mode, app, txn, &skipped, &version, &err);
    tb_delta_before_commit_hook = NULL;
    if (rc != want_rc)
        fail_msg("race: rc %d (%s), expected %d", rc, err.msg, want_rc);
    if (rc == TB_E_CONFLICT)
        assert_non_null(strstr(err.msg, "concurrent"));
    if (rc == TB_OK) {
        assert_int_equal(skipped, want_skip);
        assert_int_equal(version, want_version);
    }
    tb_delta_writer_free(w);
    tb_arena_free(arena);
    tb_schema_free(s);
}

static void test_writer_races(void **state)
{
    tb_schema *s = writer_schema();
    tb_delta_writer *w = NULL;
    tb_arena *arena = tb_arena_new(0);
    tb_err err;
    char table[400];
    const char *dir = mktmp("race");
    int64_t r[] = {0, 10, 100, 5};

    (void)state;
    tb_err_clear(&err);
    snprintf(table, sizeof(table), "%s/t", dir);
    assert_int_equal(tb_delta_writer_open(table, s, NULL, 0, &w, &err), TB_OK);
    assert_int_equal(tb_delta_writer_add_batch(w, wbatch(s, 0, 10, arena), &err), TB_OK);
    commit_ok(w, TB_DELTA_APPEND, NULL, 0, false, 0);
    tb_delta_writer_free(w);

    /* blind append vs blind append: retried at the next version */
    race(table, "{\"commitInfo\":{\"operation\":\"WRITE\"}}\n", TB_DELTA_APPEND, NULL, 0, TB_OK,
         false, 2);
    check_log(table);
    check_table_rows(table, -1, r, 2);
    /* append vs a metadata change: conflict */
    race(table,
         "{\"commitInfo\":{}}\n{\"metaData\":{\"id\":\"x\",\"format\":{\"provider\":\"parquet\"},"
         "\"schemaString\":\"{\\\"type\\\":\\\"struct\\\",\\\"fields\\\":[{\\\"name\\\":\\\"id\\\","
         "\\\"type\\\":\\\"long\\\",\\\"nullable\\\":false,\\\"metadata\\\":{}}]}\","
         "\"partitionColumns\":[],\"configuration\":{}}}\n",
         TB_DELTA_APPEND, NULL, 0, TB_E_CONFLICT, false, -1);
    /* (repair: version 4 restores the schema) */
    {
        char *ss = NULL, line[4096], path[600];
        FILE *f;
        assert_int_equal(tb_delta_schema_string(s, &ss, &err), TB_OK);
        json_t *j = json_pack("{s:{s:s,s:{s:s},s:s,s:[],s:{}}}", "metaData", "id", "x", "format",
                              "provider", "parquet", "schemaString", ss, "partitionColumns",
                              "configuration");
        char *js = json_dumps(j, JSON_COMPACT);
        snprintf(line, sizeof(line), "{\"commitInfo\":{}}\n%s\n", js);
        free(js);
        json_decref(j);
        tb_free(ss);
        snprintf(path, sizeof(path), "%s/_delta_log/00000000000000000004.json", table);
        f = fopen(path, "w");
        fputs(line, f);
        fclose(f);
    }
    /* overwrite vs anything: conflict */
    race(table, "{\"commitInfo\":{}}\n", TB_DELTA_OVERWRITE, NULL, 0, TB_E_CONFLICT, false, -1);
    /* the same txn committed by the winner: we are a re-run, skipped */
    race(table, "{\"commitInfo\":{}}\n{\"txn\":{\"appId\":\"q\",\"version\":7}}\n", TB_DELTA_APPEND,
         "q", 7, TB_OK, true, 6);
    check_log(table);
    check_table_rows(table, -1, r, 2);
    assert_int_equal(count_data_files(table), 2);
    tb_arena_free(arena);
    tb_schema_free(s);
    rm_rf(dir);
}

/* Two processes append 100 commits each to one table. */
static int child_appends(const char *table, int who)
{
    tb_schema *s = writer_schema();
    tb_delta_writer *w = NULL;
    tb_arena *arena = tb_arena_new(0);
    tb_err err;
    int i;

    tb_err_clear(&err);
    if (tb_delta_writer_open(table, NULL, NULL, 0, &w, &err) != TB_OK) {
        fprintf(stderr, "child %d: open: %s\n", who, err.msg);
        return 1;
    }
    for (i = 0; i < 100; i++) {
        bool skipped = true;
        int64_t version = -1;
        tb_arena_reset(arena);
        if (tb_delta_writer_add_batch(w, wbatch(s, who * 100000 + i * 3, 3, arena), &err) !=
                TB_OK ||
            tb_delta_writer_commit(w, TB_DELTA_APPEND, NULL, 0, &skipped, &version, &err) !=
                TB_OK ||
            skipped || version < 1) {
            fprintf(stderr, "child %d: commit %d: %s\n", who, i, err.msg);
            return 1;
        }
    }
    tb_delta_writer_free(w);
    tb_arena_free(arena);
    tb_schema_free(s);
    return 0;
}

static void test_writer_concurrent_processes(void **state)
{
    tb_schema *s = writer_schema();
    tb_delta_writer *w = NULL;
    tb_delta_snapshot *snap = NULL;
    tb_err err;
    char table[400];
    const char *dir = mktmp("conc");
    pid_t pids[2];
    int k, status;
    int64_t r[] = {100000, 300, 200000, 300};

    (void)state;
    tb_err_clear(&err);
    snprintf(table, sizeof(table), "%s/t", dir);
    assert_int_equal(tb_delta_writer_open(table, s, NULL, 0, &w, &err), TB_OK);
    commit_ok(w, TB_DELTA_APPEND, NULL, 0, false, 0); /* create, no data */
    tb_delta_writer_free(w);
    fflush(NULL);
    for (k = 0; k < 2; k++) {
        pids[k] = fork();
        assert_true(pids[k] >= 0);
        if (pids[k] == 0)
            _exit(child_appends(table, k + 1));
    }
    for (k = 0; k < 2; k++) {
        assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(check_log(table), 200);
    assert_int_equal(tb_delta_open(table, -1, &snap, &err), TB_OK);
    assert_int_equal(tb_delta_version(snap), 200);
    assert_int_equal(tb_delta_file_count(snap), 200);
    tb_delta_snapshot_free(snap);
    /* every row exactly once (ids 100000 + 0..299 and 200000 + 0..299) */
    {
        int64_t rr[] = {100000, 300, 200000, 300};
        memcpy(r, rr, sizeof(rr));
    }
    check_table_rows(table, -1, r, 2);
    tb_schema_free(s);
    rm_rf(dir);
}

/* Schema evolution: a data file written before a column was added reads it as NULL, and
 * a file column of a narrower type (INT32 where the table says long) is widened. */
static void test_source_evolution_and_casts(void **state)
{
    const char *dir = mktmp("evol");
    char path[600], log[600];
    tb_schema *fs = tb_schema_new(2);
    tb_parquet_writer *pw = NULL;
    tb_arena *arena = tb_arena_new(0);
    tb_batch *b = NULL;
    tb_delta_snapshot *snap = NULL;
    tb_source *src = NULL;
    tb_err err;
    uint64_t size = 0;
    uint32_t i, rows = 0;
    char commit[2048];

    (void)state;
    tb_err_clear(&err);
    /* the data file: a INT32, s STRING */
    assert_int_equal(tb_schema_set(fs, 0, "a", tb_type_make(TB_T_INT32), true), TB_OK);
    assert_int_equal(tb_schema_set(fs, 1, "s", tb_type_make(TB_T_STRING), true), TB_OK);
    snprintf(path, sizeof(path), "%s/f1.parquet", dir);
    assert_int_equal(tb_parquet_writer_open(path, fs, NULL, &pw, &err), TB_OK);
    assert_int_equal(tb_batch_new(fs, 4, arena, &b), TB_OK);
    for (i = 0; i < 4; i++) {
        tb_value v;
        memset(&v, 0, sizeof(v));
        v.type = tb_type_make(TB_T_INT32);
        v.u.i = (int64_t)i * 1000 - 1500;
        assert_int_equal(tb_vec_put(&b->cols[0], i, 4, &v, arena), TB_OK);
        v.type = tb_type_make(TB_T_STRING);
        v.u.s.ptr = "x";
        v.u.s.len = 1;
        assert_int_equal(tb_vec_put(&b->cols[1], i, 4, &v, arena), TB_OK);
    }
    b->n_rows = 4;
    assert_int_equal(tb_parquet_writer_write_batch(pw, b, &err), TB_OK);
    assert_int_equal(tb_parquet_writer_close(pw, &size, &err), TB_OK);
    /* the log: a is long in the table, column n (double) was added later */
    snprintf(log, sizeof(log), "%s/_delta_log", dir);
    assert_int_equal(mkdir(log, 0755), 0);
    snprintf(commit, sizeof(commit),
             "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}\n"
             "{\"metaData\":{\"id\":\"e\",\"format\":{\"provider\":\"parquet\",\"options\":{}},"
             "\"schemaString\":\"{\\\"type\\\":\\\"struct\\\",\\\"fields\\\":["
             "{\\\"name\\\":\\\"A\\\",\\\"type\\\":\\\"long\\\",\\\"nullable\\\":true,"
             "\\\"metadata\\\":{}},"
             "{\\\"name\\\":\\\"s\\\",\\\"type\\\":\\\"string\\\",\\\"nullable\\\":true,"
             "\\\"metadata\\\":{}},"
             "{\\\"name\\\":\\\"n\\\",\\\"type\\\":\\\"double\\\",\\\"nullable\\\":true,"
             "\\\"metadata\\\":{}}]}\","
             "\"partitionColumns\":[],\"configuration\":{}}}\n"
             "{\"add\":{\"path\":\"f1.parquet\",\"partitionValues\":{},\"size\":%llu,"
             "\"modificationTime\":1,\"dataChange\":true}}\n",
             (unsigned long long)size);
    write_text(log, "00000000000000000000.json", commit);
    assert_int_equal(tb_delta_open(dir, -1, &snap, &err), TB_OK);
    assert_int_equal(tb_delta_source_new(snap, NULL, 0, &src, &err), TB_OK);
    tb_delta_snapshot_free(snap);
    assert_int_equal(src->schema->fields[0].type.id, TB_T_INT64);
    for (;;) {
        tb_arena_reset(arena);
        assert_int_equal(tb_source_next(src, arena, &b, &err), TB_OK);
        if (b == NULL)
            break;
        for (i = 0; i < b->n_rows; i++, rows++) {
            assert_int_equal(TB_VEC_PTR(&b->cols[0], int64_t)[i], (int64_t)rows * 1000 - 1500);
            assert_true(tb_vec_is_null(&b->cols[2], i));
            assert_false(tb_vec_is_null(&b->cols[1], i));
        }
    }
    assert_int_equal(rows, 4);
    tb_source_free(src);

    /* a file column that cannot be converted: the error names the file and the column */
    write_text(log, "00000000000000000001.json",
               "{\"metaData\":{\"id\":\"e\",\"format\":{\"provider\":\"parquet\",\"options\":{}},"
               "\"schemaString\":\"{\\\"type\\\":\\\"struct\\\",\\\"fields\\\":["
               "{\\\"name\\\":\\\"s\\\",\\\"type\\\":\\\"date\\\",\\\"nullable\\\":true,"
               "\\\"metadata\\\":{}}]}\","
               "\"partitionColumns\":[],\"configuration\":{}}}\n");
    assert_int_equal(tb_delta_open(dir, -1, &snap, &err), TB_OK);
    assert_int_equal(tb_delta_source_new(snap, NULL, 0, &src, &err), TB_OK);
    tb_delta_snapshot_free(snap);
    assert_int_equal(tb_source_next(src, arena, &b, &err), TB_E_TYPE);
    assert_non_null(strstr(err.msg, "f1.parquet"));
    assert_non_null(strstr(err.msg, "'s'"));
    tb_source_free(src);
    tb_arena_free(arena);
    tb_schema_free(fs);
    rm_rf(dir);
}

static void test_commit_parse(void **state)
{
    static const char ok_commit[] =
        "{\"commitInfo\":{\"timestamp\":1}}\n"
        "{\"txn\":{\"appId\":\"q\",\"version\":7}}\n"
        "\n"
        "{\"add\":{\"path\":\"a\",\"partitionValues\":{\"p\":null},\"size\":1,"
        "\"modificationTime\":1,\"dataChange\":true,\"stats\":\"{}\"}}\n"
        "{\"cdc\":{\"path\":\"c\"}}\n";
    tb_delta_commit *c = NULL;
    tb_delta_commit_summary s;
    tb_err err;

    (void)state;
    tb_err_clear(&err);
    assert_int_equal(tb_delta_commit_parse("t.json", ok_commit, strlen(ok_commit), &c, &err),
                     TB_OK);
    tb_delta_commit_summarize(c, &s);
    assert_int_equal(s.n_add, 1);
    assert_int_equal(s.n_txn, 1);
    assert_int_equal(s.n_other, 2);
    assert_true(s.is_blind_append);
    tb_delta_commit_free(c);

    assert_int_equal(tb_delta_commit_parse("t.json", "[1]\n", 4, &c, &err), TB_E_CORRUPT);
    assert_non_null(strstr(err.msg, "t.json:1"));
    assert_int_equal(tb_delta_commit_parse("t.json", "{}\n{\"txn\":{\"appId\":1}}", 22, &c, &err),
                     TB_E_CORRUPT);
    assert_non_null(strstr(err.msg, "t.json:2"));
    assert_int_equal(tb_delta_commit_parse("t.json", "{\"add\":{\"path\":\"%zz\"}}", 22, &c, &err),
                     TB_E_CORRUPT);
}

static void test_schema_roundtrip(void **state)
{
    tb_schema *schema = tb_schema_new(4), *back = NULL;
    char *s = NULL, *skipped = NULL;
    tb_err err;

    (void)state;
    tb_err_clear(&err);
    assert_int_equal(tb_schema_set(schema, 0, "i", tb_type_make(TB_T_INT32), true), TB_OK);
    assert_int_equal(tb_schema_set(schema, 1, "d", tb_type_decimal(12, 3), false), TB_OK);
    assert_int_equal(tb_schema_set(schema, 2, "ts", tb_type_make(TB_T_TIMESTAMP), true), TB_OK);
    assert_int_equal(tb_schema_set(schema, 3, "s", tb_type_make(TB_T_STRING), true), TB_OK);
    assert_int_equal(tb_delta_schema_string(schema, &s, &err), TB_OK);
    assert_non_null(strstr(s, "\"decimal(12,3)\""));
    assert_int_equal(tb_delta_schema_parse(s, &back, &skipped, &err), TB_OK);
    assert_null(skipped);
    assert_int_equal(back->n, 4);
    assert_true(tb_type_eq(back->fields[1].type, tb_type_decimal(12, 3)));
    assert_false(back->fields[1].nullable);
    assert_string_equal(back->fields[2].name, "ts");
    tb_schema_free(back);
    tb_free(s);
    tb_schema_free(schema);

    schema = tb_schema_new(1);
    assert_int_equal(tb_schema_set(schema, 0, "iv", tb_type_make(TB_T_INTERVAL), true), TB_OK);
    assert_int_equal(tb_delta_schema_string(schema, &s, &err), TB_E_UNSUPPORTED);
    tb_schema_free(schema);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_versions_and_files),
        cmocka_unit_test(test_golden_deleted_files),
        cmocka_unit_test(test_golden_time_travel),
        cmocka_unit_test(test_golden_txn),
        cmocka_unit_test(test_golden_partition_values),
        cmocka_unit_test(test_golden_rows),
        cmocka_unit_test(test_golden_projection),
        cmocka_unit_test(test_golden_checkpoint_only),
        cmocka_unit_test(test_fault_injection),
        cmocka_unit_test(test_corrupt_logs),
        cmocka_unit_test(test_source_evolution_and_casts),
        cmocka_unit_test(test_commit_parse),
        cmocka_unit_test(test_schema_roundtrip),
        cmocka_unit_test(test_writer_create_append),
        cmocka_unit_test(test_writer_partitioned),
        cmocka_unit_test(test_writer_overwrite),
        cmocka_unit_test(test_writer_txn),
        cmocka_unit_test(test_writer_checkpoints),
        cmocka_unit_test(test_writer_races),
        cmocka_unit_test(test_writer_fault_injection),
        cmocka_unit_test(test_writer_concurrent_processes),
    };
    /* TB_TEST_FILTER: comma-separated fnmatch patterns of the tests to run */
    const char *filter = getenv("TB_TEST_FILTER");
    struct CMUnitTest chosen[sizeof(tests) / sizeof(tests[0])];
    size_t i, n = 0;
    for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        char pats[1024], *pat, *save = NULL;
        bool keep = filter == NULL;
        if (filter != NULL) {
            snprintf(pats, sizeof(pats), "%s", filter);
            for (pat = strtok_r(pats, ",", &save); pat && !keep; pat = strtok_r(NULL, ",", &save))
                keep = fnmatch(pat, tests[i].name, 0) == 0;
        }
        if (keep)
            chosen[n++] = tests[i];
    }
    return _cmocka_run_group_tests("test_delta", chosen, n, setup_golden, NULL);
}
