/*
 * test_stream.c - unit tests of the stream layer's pieces: file discovery (inotify and
 * listing, hidden names, each file once, limits and order) and the checkpoint log
 * (offsets/commits/state round trips, damage detection, refusal of a changed query).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stream/checkpoint.h"
#include "stream/filesource.h"
#include "stream/stream.h"

static char *tmpdir(void)
{
    char tmpl[] = "/tmp/tb-test-stream-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static void put(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void rm_rf(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static const char *base(const char *path)
{
    const char *s = strrchr(path, '/');
    return s != NULL ? s + 1 : path;
}

static void test_filewatch_each_file_once(void **state)
{
    (void)state;
    char *dir = tmpdir();
    tb_err err;
    tb_err_clear(&err);
    put(dir, "a.csv", "x\n");
    put(dir, ".hidden.csv", "x\n");
    put(dir, "_temporary", "x\n");
    tb_filewatch *fw = NULL;
    assert_int_equal(tb_filewatch_open(dir, NULL, &fw, &err), TB_OK);
    tb_strlist got = {0};
    assert_int_equal(tb_filewatch_take(fw, 0, 0, false, &got, &err), TB_OK);
    assert_int_equal(got.n, 1);
    assert_string_equal(base(got.items[0]), "a.csv");
    tb_strlist_free(&got);
    /* Nothing new: nothing taken, even after a relist. */
    assert_int_equal(tb_filewatch_take(fw, 0, 0, false, &got, &err), TB_OK);
    assert_int_equal(got.n, 0);
    /* A file renamed into place is seen (inotify) and taken once. */
    put(dir, ".b.csv.tmp", "y\n");
    char from[512], to[512];
    snprintf(from, sizeof(from), "%s/.b.csv.tmp", dir);
    snprintf(to, sizeof(to), "%s/b.csv", dir);
    assert_int_equal(rename(from, to), 0);
    assert_int_equal(tb_filewatch_take(fw, 1000, 0, false, &got, &err), TB_OK);
    assert_int_equal(got.n, 1);
    assert_string_equal(base(got.items[0]), "b.csv");
    tb_strlist_free(&got);
    assert_int_equal(tb_filewatch_take(fw, 0, 0, false, &got, &err), TB_OK);
    assert_int_equal(got.n, 0);
    assert_int_equal(tb_filewatch_seen_count(fw), 2);
    tb_filewatch_free(fw);
    rm_rf(dir);
    free(dir);
}

static void test_filewatch_limit_order_seen(void **state)
{
    (void)state;
    char *dir = tmpdir();
    tb_err err;
    tb_err_clear(&err);
    char name[32];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "f%d.csv", i);
        put(dir, name, "x\n");
        /* distinct modification times: oldest first is f0..f4 */
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        struct timespec ts[2] = {{1000 + i, 0}, {1000 + i, 0}};
        assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
    }
    tb_filewatch_opts o;
    tb_filewatch_opts_default(&o);
    o.use_inotify = false; /* the listing path */
    tb_filewatch *fw = NULL;
    assert_int_equal(tb_filewatch_open(dir, &o, &fw, &err), TB_OK);
    assert_int_equal(tb_filewatch_mark_seen(fw, "f0.csv", &err), TB_OK);
    tb_strlist got = {0};
    assert_int_equal(tb_filewatch_take(fw, 0, 2, true, &got, &err), TB_OK);
    assert_int_equal(got.n, 2);
    assert_string_equal(base(got.items[0]), "f4.csv"); /* latest first */
    assert_string_equal(base(got.items[1]), "f3.csv");
    tb_strlist_free(&got);
    assert_int_equal(tb_filewatch_take(fw, 0, 0, false, &got, &err), TB_OK);
    assert_int_equal(got.n, 2);
    assert_string_equal(base(got.items[0]), "f1.csv");
    assert_string_equal(base(got.items[1]), "f2.csv");
    tb_strlist_free(&got);
    tb_filewatch_free(fw);
    /* A missing directory is a clear error. */
    assert_int_equal(tb_filewatch_open("/nonexistent/tb-dir", NULL, &fw, &err), TB_E_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/tb-dir"));
    rm_rf(dir);
    free(dir);
}

static void test_checkpoint_round_trip(void **state)
{
    (void)state;
    char *dir = tmpdir();
    tb_err err;
    tb_err_clear(&err);
    tb_ckpt *ck = NULL;
    assert_int_equal(tb_ckpt_open(dir, "SELECT 1", &ck, &err), TB_OK);
    assert_int_equal(tb_ckpt_last_commit(ck), -1);
    char id[64];
    snprintf(id, sizeof(id), "%s", tb_ckpt_id(ck));
    tb_ckpt_offsets off = {.batch = 0, .watermark_us = 1234};
    assert_int_equal(tb_strlist_push(&off.files, "a.csv"), TB_OK);
    assert_int_equal(tb_strlist_push(&off.files, "b \"quoted\".csv"), TB_OK);
    assert_int_equal(tb_ckpt_write_offsets(ck, &off, &err), TB_OK);
    tb_ckpt_offsets_clear(&off);
    assert_int_equal(tb_ckpt_write_state(ck, 0, "state-bytes", 11, &err), TB_OK);
    assert_int_equal(tb_ckpt_write_commit(ck, 0, &err), TB_OK);
    tb_ckpt_free(ck);

    assert_int_equal(tb_ckpt_open(dir, "SELECT 1", &ck, &err), TB_OK);
    assert_string_equal(tb_ckpt_id(ck), id); /* stable across restarts */
    assert_int_equal(tb_ckpt_last_commit(ck), 0);
    assert_int_equal(tb_ckpt_last_offsets(ck), 0);
    tb_ckpt_offsets back = {0};
    assert_int_equal(tb_ckpt_read_offsets(ck, 0, &back, &err), TB_OK);
    assert_int_equal(back.watermark_us, 1234);
    assert_int_equal(back.files.n, 2);
    assert_string_equal(back.files.items[1], "b \"quoted\".csv");
    tb_ckpt_offsets_clear(&back);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(tb_ckpt_read_state(ck, 0, &data, &len, &err), TB_OK);
    assert_int_equal(len, 11);
    assert_memory_equal(data, "state-bytes", 11);
    tb_free(data);
    assert_int_equal(tb_ckpt_read_offsets(ck, 7, &back, &err), TB_E_NOTFOUND);
    tb_ckpt_free(ck);

    /* A different query is refused, naming both. */
    assert_int_equal(tb_ckpt_open(dir, "SELECT 2", &ck, &err), TB_E_MISUSE);
    assert_non_null(strstr(err.msg, "SELECT 1"));
    assert_non_null(strstr(err.msg, "SELECT 2"));
    rm_rf(dir);
    free(dir);
}

static void corrupt(const char *path, long at)
{
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, at, SEEK_SET), 0);
    int c = fgetc(fp);
    assert_int_equal(fseek(fp, at, SEEK_SET), 0);
    fputc(c ^ 0x20, fp);
    fclose(fp);
}

static void test_checkpoint_damage_detected(void **state)
{
    (void)state;
    char *dir = tmpdir();
    tb_err err;
    tb_err_clear(&err);
    tb_ckpt *ck = NULL;
    assert_int_equal(tb_ckpt_open(dir, "q", &ck, &err), TB_OK);
    tb_ckpt_offsets off = {.batch = 3, .watermark_us = TB_WATERMARK_NONE};
    assert_int_equal(tb_strlist_push(&off.files, "x.csv"), TB_OK);
    assert_int_equal(tb_ckpt_write_offsets(ck, &off, &err), TB_OK);
    tb_ckpt_offsets_clear(&off);
    assert_int_equal(tb_ckpt_write_state(ck, 3, "abcdefgh", 8, &err), TB_OK);
    char path[600];
    snprintf(path, sizeof(path), "%s/offsets/3", dir);
    corrupt(path, 5);
    tb_ckpt_offsets back = {0};
    assert_int_equal(tb_ckpt_read_offsets(ck, 3, &back, &err), TB_E_CORRUPT);
    assert_non_null(strstr(err.msg, "offsets/3"));
    tb_ckpt_offsets_clear(&back);
    snprintf(path, sizeof(path), "%s/state/3", dir);
    corrupt(path, 22);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(tb_ckpt_read_state(ck, 3, &data, &len, &err), TB_E_CORRUPT);
    assert_non_null(strstr(err.msg, "state/3"));
    assert_null(data);
    /* A truncated (torn) text file is detected too. */
    assert_int_equal(truncate(path, 10), 0);
    assert_int_equal(tb_ckpt_read_state(ck, 3, &data, &len, &err), TB_E_CORRUPT);
    tb_ckpt_free(ck);
    rm_rf(dir);
    free(dir);
}

static void test_durations(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_true(tb_stream_parse_duration("2 seconds", &ms));
    assert_int_equal(ms, 2000);
    assert_true(tb_stream_parse_duration("500ms", &ms));
    assert_int_equal(ms, 500);
    assert_true(tb_stream_parse_duration("1 minute", &ms));
    assert_int_equal(ms, 60000);
    assert_false(tb_stream_parse_duration("soon", &ms));
    assert_false(tb_stream_parse_duration("-3 seconds", &ms));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filewatch_each_file_once),
        cmocka_unit_test(test_filewatch_limit_order_seen),
        cmocka_unit_test(test_checkpoint_round_trip),
        cmocka_unit_test(test_checkpoint_damage_detected),
        cmocka_unit_test(test_durations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
