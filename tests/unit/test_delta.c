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
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "format/delta.h"

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

#define NEED_GOLDEN()                                                                        \
    do {                                                                                     \
        if (!g_have_golden) {                                                                \
            fprintf(stderr, "SKIP: no Delta golden tables at %s (set TB_TESTDATA)\n",        \
                    g_golden);                                                               \
            skip();                                                                          \
        }                                                                                    \
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
            const tb_value *x = &want->vals[r * want->n_cols + c], *y = &got->vals[r * got->n_cols + c];
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
    tb_arena *arena = tb_arena_new(0);
    tb_batch *b;
    tb_err err;
    int proj[2];
    uint64_t rows = 0;
    const tb_schema *schema;

    (void)state;
    NEED_GOLDEN();
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

/* ---------------------------------------------------------------- corrupt logs */

static char g_tmp[256];

static void rm_rf(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: %s failed\n", cmd);
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

#define V0_LINES                                                                             \
    "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}\n"                       \
    "{\"metaData\":{\"id\":\"x\",\"format\":{\"provider\":\"parquet\",\"options\":{}},"     \
    "\"schemaString\":\"{\\\"type\\\":\\\"struct\\\",\\\"fields\\\":[{\\\"name\\\":\\\"a\\\","  \
    "\\\"type\\\":\\\"integer\\\",\\\"nullable\\\":true,\\\"metadata\\\":{}}]}\","           \
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
    write_text(log, "00000000000000000002.json",
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
    write_text(log, "00000000000000000004.json",
               "{\"protocol\":{\"minReaderVersion\":3,\"minWriterVersion\":7,"
               "\"readerFeatures\":[\"deletionVectors\"],\"writerFeatures\":[\"deletionVectors\"]}}\n");
    tb_err_clear(&err);
    assert_int_equal(tb_delta_open(dir, -1, &snap, &err), TB_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "deletionVectors"));
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
        cmocka_unit_test(test_corrupt_logs),
        cmocka_unit_test(test_commit_parse),
        cmocka_unit_test(test_schema_roundtrip),
    };
    return cmocka_run_group_tests(tests, setup_golden, NULL);
}
