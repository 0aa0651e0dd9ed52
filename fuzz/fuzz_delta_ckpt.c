/*
 * fuzz_delta_ckpt.c - the Delta checkpoint reader (delta_ckpt.c: nested Parquet columns
 * decoded on top of the Parquet module's footer, page and codec primitives).
 *
 * The input is the only file of a table's log, `_delta_log/00000000000000000001.
 * checkpoint.parquet` (in a directory under /dev/shm kept for the run), and the table
 * is opened with tb_delta_open. Oracles beyond "no crash, no leak": an error names the
 * table; a snapshot that loads is written back as a checkpoint by our writer
 * (tb_delta_checkpoint), and that checkpoint must load again into the same snapshot
 * (version, schema, partition columns, live files with their sizes, times, statistics
 * and partition values, in order).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/delta_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char table[64];
static char ckpt_path[160], last_path[160];

static void die(const char *what)
{
    (void)fprintf(stderr, "fuzz_delta_ckpt: oracle failed: %s\n", what);
    abort();
}

static void rm_table(void)
{
    char cmd[128];
    if (table[0] != '\0' && snprintf(cmd, sizeof(cmd), "rm -rf '%s'", table) < 100)
        (void)system(cmd);
}

static bool setup(void)
{
    static int state; /* 0 not tried, 1 ready, 2 failed */
    char log[96];
    if (state != 0)
        return state == 1;
    state = 2;
    (void)snprintf(table, sizeof(table), "%s/tb-fuzz-delta-XXXXXX",
                   access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (mkdtemp(table) == NULL)
        return false;
    atexit(rm_table);
    (void)snprintf(log, sizeof(log), "%s/_delta_log", table);
    (void)snprintf(ckpt_path, sizeof(ckpt_path), "%s/00000000000000000001.checkpoint.parquet",
                   log);
    (void)snprintf(last_path, sizeof(last_path), "%s/_last_checkpoint", log);
    tb_err err;
    if (tb_mkdirs(log, &err) != TB_OK)
        return false;
    state = 1;
    return true;
}

static bool str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void same_snapshot(const tb_delta_snapshot *a, const tb_delta_snapshot *b)
{
    if (tb_delta_version(a) != tb_delta_version(b))
        die("version");
    const tb_schema *sa = tb_delta_schema(a), *sb = tb_delta_schema(b);
    if ((sa == NULL) != (sb == NULL) || (sa != NULL && sa->n != sb->n))
        die("schema");
    for (uint32_t i = 0; sa != NULL && i < sa->n; i++)
        if (strcmp(sa->fields[i].name, sb->fields[i].name) != 0 ||
            !tb_type_eq(sa->fields[i].type, sb->fields[i].type))
            die("schema field");
    if (tb_delta_partition_count(a) != tb_delta_partition_count(b))
        die("partition columns");
    for (uint32_t i = 0; i < tb_delta_partition_count(a); i++)
        if (!str_eq(tb_delta_partition_column(a, i), tb_delta_partition_column(b, i)))
            die("partition column");
    if (!str_eq(tb_delta_table_id(a), tb_delta_table_id(b)))
        die("table id");
    if (tb_delta_file_count(a) != tb_delta_file_count(b))
        die("live file count");
    for (uint64_t i = 0; i < tb_delta_file_count(a); i++) {
        tb_delta_file_info x, y;
        tb_delta_file_get(a, i, &x);
        tb_delta_file_get(b, i, &y);
        if (!str_eq(x.path, y.path) || x.size != y.size ||
            x.modification_time != y.modification_time || !str_eq(x.stats, y.stats) ||
            x.n_part_values != y.n_part_values)
            die("live file");
        for (uint32_t j = 0; j < x.n_part_values; j++)
            if (!str_eq(x.part_keys[j], y.part_keys[j]) || !str_eq(x.part_vals[j], y.part_vals[j]))
                die("partition value");
    }
    for (size_t i = 0; i < a->n_txn; i++) {
        int64_t v;
        if (!tb_delta_txn_version(b, a->txns[i].app_id, &v) || v != a->txns[i].version)
            die("txn");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tb_delta_snapshot *snap = NULL, *again = NULL;
    tb_err err;

    if (!setup())
        return 0;
    (void)unlink(last_path);
    tb_err_clear(&err);
    if (tb_file_write_atomic(ckpt_path, size > 0 ? (const char *)data : "", size, &err) != TB_OK)
        return 0;
    tb_err_clear(&err);
    tb_rc rc = tb_delta_open(table, -1, &snap, &err);
    if (getenv("TB_FUZZ_VERBOSE") != NULL)
        (void)fprintf(stderr, "open: %s (%llu files)\n", rc == TB_OK ? "ok" : err.msg,
                      rc == TB_OK ? (unsigned long long)tb_delta_file_count(snap) : 0ULL);
    if (rc != TB_OK) {
        if (err.code != TB_E_NOMEM && strstr(err.msg, table) == NULL)
            die("error not naming the table");
        return 0;
    }
    for (uint64_t i = 0; i < tb_delta_file_count(snap); i++) {
        tb_delta_file_info fi;
        tb_delta_file_get(snap, i, &fi);
        if (fi.path == NULL)
            die("live file without a path");
    }
    (void)tb_delta_check_protocol(snap, true, &err);
    (void)tb_delta_config(snap, "delta.appendOnly");
    /* our writer's checkpoint of the snapshot reads back the same */
    if (tb_delta_checkpoint(snap, &err) == TB_OK) {
        if (tb_delta_open(table, -1, &again, &err) != TB_OK) {
            if (err.code != TB_E_NOMEM) {
                (void)fprintf(stderr, "%s\n", err.msg);
                die("our checkpoint of a loaded snapshot does not load");
            }
        } else {
            same_snapshot(snap, again);
        }
    }
    tb_delta_snapshot_free(again);
    tb_delta_snapshot_free(snap);
    return 0;
}
