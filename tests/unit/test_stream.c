/*
 * test_stream.c - unit tests of the stream layer's pieces: file discovery (inotify and
 * listing, hidden names, each file once, limits and order, files found out of time
 * order) and the checkpoint log (round trips, the commit carried by the next batch's
 * record, torn tails against damage, deferred sync, segments and compaction, the older
 * file layout, refusal of a changed query).
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

#include <zlib.h>

#include "stream/checkpoint.h"
#include "stream/filesource.h"
#include "stream/stream.h"
#include "tributary.h"

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

static long file_size(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return (long)sb.st_size;
}

/* Offset of the n-th (0-based) record frame of a log segment. */
static long record_at(const char *path, int n)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    long off = 0;
    for (int i = 0; i < n; i++) {
        unsigned char h[20];
        assert_int_equal(fseek(fp, off, SEEK_SET), 0);
        assert_int_equal(fread(h, 1, 20, fp), 20);
        assert_memory_equal(h, "TBL2", 4);
        uint32_t len;
        memcpy(&len, h + 4, 4);
        off += 20 + (long)len;
    }
    fclose(fp);
    return off;
}

/* Batches 0..n-1, each but the first committing the one before (state "state-<b-1>"). */
static void write_batches(tb_ckpt *ck, int64_t from, int64_t n, bool commits)
{
    tb_err err;
    tb_err_clear(&err);
    for (int64_t b = from; b < n; b++) {
        char name[32], st[32];
        snprintf(name, sizeof(name), "f%lld.csv", (long long)b);
        snprintf(st, sizeof(st), "state-%lld", (long long)(b - 1));
        bool c = commits && b > 0;
        tb_ckpt_offsets off = {.batch = b, .watermark_us = b * 10, .has_commit = c,
                               .state = c ? st : NULL, .state_len = c ? strlen(st) : 0};
        assert_int_equal(tb_strlist_push(&off.files, name), TB_OK);
        assert_int_equal(tb_ckpt_write_offsets(ck, &off, &err), TB_OK);
        off.state = NULL;
        tb_ckpt_offsets_clear(&off);
    }
}

static void test_checkpoint_damage_detected(void **state)
{
    (void)state;
    char *dir = tmpdir();
    tb_err err;
    tb_err_clear(&err);
    tb_ckpt *ck = NULL;
    assert_int_equal(tb_ckpt_open(dir, "q", &ck, &err), TB_OK);
    write_batches(ck, 0, 3, true);
    tb_ckpt_free(ck);
    char seg[600], copy[700], cmd[1500];
    snprintf(seg, sizeof(seg), "%s/log/0000000000000001", dir);
    snprintf(copy, sizeof(copy), "%s.good", seg);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", seg, copy);
    assert_int_equal(system(cmd), 0);

    /* A flipped byte in a record that is not the last: damage, naming the segment. */
    corrupt(seg, record_at(seg, 1) + 20);
    assert_int_equal(tb_ckpt_open(dir, "q", &ck, &err), TB_E_CORRUPT);
    assert_non_null(strstr(err.msg, "log/0000000000000001"));
    assert_non_null(strstr(err.msg, "offset"));
    /* ... in a record frame: damage too */
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", copy, seg);
    assert_int_equal(system(cmd), 0);
    corrupt(seg, record_at(seg, 1) + 5);
    assert_int_equal(tb_ckpt_open(dir, "q", &ck, &err), TB_E_CORRUPT);
    assert_non_null(strstr(err.msg, "frame"));

    /* The last record cut short (a crash in the middle of its write): dropped, the
     * segment truncated, the batch before it is the last one. */
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", copy, seg);
    assert_int_equal(system(cmd), 0);
    long last = record_at(seg, 2);
    assert_int_equal(truncate(seg, file_size(seg) - 7), 0);
    assert_int_equal(tb_ckpt_open(dir, "q", &ck, &err), TB_OK);
    assert_int_equal(tb_ckpt_torn_dropped(ck), 1);
    assert_int_equal(tb_ckpt_last_offsets(ck), 1);
    assert_int_equal(tb_ckpt_last_commit(ck), 0);
    assert_int_equal(file_size(seg), last);
    /* and the log goes on from there */
    write_batches(ck, 2, 3, true);
    tb_ckpt_free(ck);
    assert_int_equal(tb_ckpt_open(dir, "q", &ck, &err), TB_OK);
    assert_int_equal(tb_ckpt_torn_dropped(ck), 0);
    assert_int_equal(tb_ckpt_last_offsets(ck), 2);
    assert_int_equal(tb_ckpt_last_commit(ck), 1);
    tb_ckpt_free(ck);
    /* The last record's end never written (zeros, as after a power cut): torn too. */
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", seg, copy);
    assert_int_equal(system(cmd), 0);
    {
        FILE *fp = fopen(seg, "r+b");
        assert_non_null(fp);
        assert_int_equal(fseek(fp, file_size(seg) - 40, SEEK_SET), 0);
        static const char zeros[40];
        assert_int_equal(fwrite(zeros, 1, 40, fp), 40);
        fclose(fp);
    }
    assert_int_equal(tb_ckpt_open(dir, "q", &ck, &err), TB_OK);
    assert_int_equal(tb_ckpt_torn_dropped(ck), 1);
    assert_int_equal(tb_ckpt_last_offsets(ck), 1);
    tb_ckpt_free(ck);
    /* A flipped byte in the last record: no later record vouches for it, so it cannot be
     * told from a torn write (as in any write-ahead log): dropped. */
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", copy, seg);
    assert_int_equal(system(cmd), 0);
    corrupt(seg, file_size(seg) - 30);
    assert_int_equal(tb_ckpt_open(dir, "q", &ck, &err), TB_OK);
    assert_int_equal(tb_ckpt_torn_dropped(ck), 1);
    tb_ckpt_free(ck);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", copy, seg);
    assert_int_equal(system(cmd), 0);

    /* The old layout's state file: damage detected too. */
    assert_int_equal(tb_ckpt_open(dir, "q", &ck, &err), TB_OK);
    assert_int_equal(tb_ckpt_write_state(ck, 3, "abcdefgh", 8, &err), TB_OK);
    char path[600];
    snprintf(path, sizeof(path), "%s/state/3", dir);
    corrupt(path, 22);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(tb_ckpt_read_state(ck, 3, &data, &len, &err), TB_E_CORRUPT);
    assert_non_null(strstr(err.msg, "state/3"));
    assert_null(data);
    assert_int_equal(truncate(path, 10), 0);
    assert_int_equal(tb_ckpt_read_state(ck, 3, &data, &len, &err), TB_E_CORRUPT);
    tb_ckpt_free(ck);
    rm_rf(dir);
    free(dir);
}

/* A record of batch N carries the commit of N-1 and the state after it. */
static void test_checkpoint_combined_commit(void **state)
{
    (void)state;
    char *dir = tmpdir();
    tb_err err;
    tb_err_clear(&err);
    tb_ckpt *ck = NULL;
    assert_int_equal(tb_ckpt_open(dir, "q", &ck, &err), TB_OK);
    tb_ckpt_offsets off = {.batch = 0, .watermark_us = 5};
    assert_int_equal(tb_strlist_push(&off.files, "a.csv"), TB_OK);
    assert_int_equal(tb_ckpt_write_offsets(ck, &off, &err), TB_OK);
    tb_ckpt_offsets_clear(&off);
    assert_int_equal(tb_ckpt_last_commit(ck), -1);
    /* batch 1's offsets commit batch 0 with a binary state (NUL and newline bytes) */
    static const char st0[] = "st\0\nte-0";
    off = (tb_ckpt_offsets){.batch = 1, .watermark_us = 6, .has_commit = true,
                            .state = (char *)st0, .state_len = sizeof(st0)};
    assert_int_equal(tb_strlist_push(&off.files, "b.csv"), TB_OK);
    assert_int_equal(tb_ckpt_write_offsets(ck, &off, &err), TB_OK);
    off.state = NULL;
    tb_ckpt_offsets_clear(&off);
    assert_int_equal(tb_ckpt_last_commit(ck), 0);
    /* offsets out of order are refused */
    off = (tb_ckpt_offsets){.batch = 1, .watermark_us = 6};
    assert_int_equal(tb_ckpt_write_offsets(ck, &off, &err), TB_E_MISUSE);
    tb_ckpt_free(ck);

    assert_int_equal(tb_ckpt_open(dir, "q", &ck, &err), TB_OK);
    assert_int_equal(tb_ckpt_last_commit(ck), 0);
    assert_int_equal(tb_ckpt_last_offsets(ck), 1);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(tb_ckpt_read_state(ck, 0, &data, &len, &err), TB_OK);
    assert_int_equal(len, sizeof(st0));
    assert_memory_equal(data, st0, sizeof(st0));
    tb_free(data);
    tb_ckpt_offsets back = {0};
    assert_int_equal(tb_ckpt_read_offsets(ck, 1, &back, &err), TB_OK);
    assert_true(back.has_commit);
    assert_int_equal(back.files.n, 1);
    assert_string_equal(back.files.items[0], "b.csv");
    assert_int_equal(back.state_len, sizeof(st0));
    tb_ckpt_offsets_clear(&back);
    /* batch 1 ran; its commit written alone (the job idled) */
    assert_int_equal(tb_ckpt_write_commit_state(ck, 1, "st-1", 4, &err), TB_OK);
    /* a commit of a batch without offsets is refused */
    assert_int_equal(tb_ckpt_write_commit_state(ck, 5, "x", 1, &err), TB_E_MISUSE);
    tb_ckpt_free(ck);
    assert_int_equal(tb_ckpt_open(dir, "q", &ck, &err), TB_OK);
    assert_int_equal(tb_ckpt_last_commit(ck), 1);
    assert_int_equal(tb_ckpt_read_state(ck, 1, &data, &len, &err), TB_OK);
    assert_int_equal(len, 4);
    assert_memory_equal(data, "st-1", 4);
    tb_free(data);
    /* no state anywhere for batch 7 */
    assert_int_equal(tb_ckpt_read_state(ck, 7, &data, &len, &err), TB_E_NOTFOUND);
    tb_ckpt_free(ck);

    /* A flipped byte in the state carried by batch 1's record (not the last record)
     * stops the open, naming the segment. */
    char seg[600];
    snprintf(seg, sizeof(seg), "%s/log/0000000000000001", dir);
    corrupt(seg, record_at(seg, 2) - 30);
    assert_int_equal(tb_ckpt_open(dir, "q", &ck, &err), TB_E_CORRUPT);
    assert_non_null(strstr(err.msg, "log/0000000000000001"));
    rm_rf(dir);
    free(dir);
}

typedef struct scan_seen {
    int64_t next;
    size_t files;
} scan_seen;

static tb_rc scan_count(void *ud, const tb_ckpt_offsets *off, tb_err *err)
{
    (void)err;
    scan_seen *s = ud;
    char want[32];
    snprintf(want, sizeof(want), "f%lld.csv", (long long)off->batch);
    if (off->batch != s->next || off->files.n != 1 || strcmp(off->files.items[0], want) != 0 ||
        off->watermark_us != off->batch * 10)
        return TB_E_CORRUPT;
    s->next++;
    s->files += off->files.n;
    return TB_OK;
}

static int count_files(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "ls '%s' | wc -l", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    int n = -1;
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
}

static void check_all(const char *dir, int64_t n, int64_t commit)
{
    tb_err err;
    tb_err_clear(&err);
    tb_ckpt *ck = NULL;
    assert_int_equal(tb_ckpt_open(dir, "q", &ck, &err), TB_OK);
    assert_int_equal(tb_ckpt_last_commit(ck), commit);
    assert_int_equal(tb_ckpt_last_offsets(ck), n - 1);
    scan_seen seen = {0, 0};
    assert_int_equal(tb_ckpt_scan(ck, scan_count, &seen, &err), TB_OK);
    assert_int_equal(seen.next, n);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(tb_ckpt_read_state(ck, commit, &data, &len, &err), TB_OK);
    char want[32];
    snprintf(want, sizeof(want), "state-%lld", (long long)commit);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(data, want, len);
    tb_free(data);
    tb_ckpt_free(ck);
}

/* Segments, compaction and the directory's bound; every batch's files kept, in order. */
static void test_checkpoint_compaction(void **state)
{
    (void)state;
    char *dir = tmpdir();
    tb_err err;
    tb_err_clear(&err);
    tb_ckpt *ck = NULL;
    assert_int_equal(tb_ckpt_open(dir, "q", &ck, &err), TB_OK);
    int64_t n = 0;
    int compactions = 0;
    for (int seg = 0; seg < 5; seg++) { /* five segments of 100 batches */
        for (int k = 0; k < 100; k++, n++) {
            write_batches(ck, n, n + 1, true);
            bool done = false;
            assert_int_equal(tb_ckpt_maybe_compact(ck, &done, &err), TB_OK);
            compactions += done;
        }
        tb_ckpt_rotate(ck);
    }
    /* each rotation's first record holds the last commit: the older segment goes */
    assert_int_equal(compactions, 4);
    char path[600];
    snprintf(path, sizeof(path), "%s/log", dir);
    assert_int_equal(count_files(path), 1);
    snprintf(path, sizeof(path), "%s/offsets", dir);
    assert_int_equal(count_files(path), 1); /* the compact file */
    tb_ckpt_free(ck);
    check_all(dir, n, n - 2);

    /* A compaction right after an open, a few batches later. */
    assert_int_equal(tb_ckpt_open(dir, "q", &ck, &err), TB_OK);
    write_batches(ck, n, n + 5, true);
    n += 5;
    assert_int_equal(tb_ckpt_compact(ck, &err), TB_OK);
    tb_ckpt_free(ck);
    check_all(dir, n, n - 2);
    /* A commit written alone after a rotation holds the last commit too. */
    assert_int_equal(tb_ckpt_open(dir, "q", &ck, &err), TB_OK);
    tb_ckpt_rotate(ck);
    assert_int_equal(tb_ckpt_write_commit_state(ck, n - 1, "state-x", 7, &err), TB_OK);
    bool done = false;
    assert_int_equal(tb_ckpt_maybe_compact(ck, &done, &err), TB_OK);
    tb_ckpt_free(ck);
    assert_int_equal(tb_ckpt_open(dir, "q", &ck, &err), TB_OK);
    assert_int_equal(tb_ckpt_last_commit(ck), n - 1);
    scan_seen seen = {0, 0};
    assert_int_equal(tb_ckpt_scan(ck, scan_count, &seen, &err), TB_OK);
    assert_int_equal(seen.next, n);
    tb_ckpt_free(ck);

    /* a damaged compact file is an error naming it */
    snprintf(path, sizeof(path), "%s/offsets", dir);
    char cmd[800];
    snprintf(cmd, sizeof(cmd), "ls %s/*.compact", path);
    FILE *pp = popen(cmd, "r");
    assert_non_null(pp);
    char cpath[700];
    assert_non_null(fgets(cpath, sizeof(cpath), pp));
    pclose(pp);
    cpath[strcspn(cpath, "\n")] = '\0';
    corrupt(cpath, 40);
    assert_int_equal(tb_ckpt_open(dir, "q", &ck, &err), TB_OK);
    seen = (scan_seen){0, 0};
    assert_int_equal(tb_ckpt_scan(ck, scan_count, &seen, &err), TB_E_CORRUPT);
    assert_non_null(strstr(err.msg, ".compact"));
    tb_ckpt_free(ck);
    rm_rf(dir);
    free(dir);
}

/* Deferred sync: appends are durable only after tb_ckpt_sync; records written before a
 * sync vouch for what came before them, so a hole in the never-synced tail (a power cut
 * with pages written out of order) is torn, not damage. */
static void test_checkpoint_deferred_sync(void **state)
{
    (void)state;
    char *dir = tmpdir();
    tb_err err;
    tb_err_clear(&err);
    tb_ckpt *ck = NULL;
    assert_int_equal(tb_ckpt_open(dir, "q", &ck, &err), TB_OK);
    tb_ckpt_set_deferred_sync(ck, true);
    write_batches(ck, 0, 3, true);
    assert_true(tb_ckpt_dirty_since(ck) > 0);
    assert_int_equal(tb_ckpt_sync(ck, &err), TB_OK);
    assert_int_equal(tb_ckpt_dirty_since(ck), 0);
    write_batches(ck, 3, 6, true); /* 3, 4, 5: not synced */
    assert_true(tb_ckpt_dirty_since(ck) > 0);
    tb_ckpt_free(ck); /* a killed process: the appends are in the page cache */
    check_all(dir, 6, 4);
    char seg[600];
    snprintf(seg, sizeof(seg), "%s/log/0000000000000001", dir);
    /* a hole in the unsynced tail (batch 4's record), batch 5's record intact after it:
     * its durable mark stops at batch 3, so 4 and 5 are dropped as never durable */
    long r4 = record_at(seg, 4);
    corrupt(seg, r4 + 30);
    assert_int_equal(tb_ckpt_open(dir, "q", &ck, &err), TB_OK);
    assert_int_equal(tb_ckpt_torn_dropped(ck), 1);
    assert_int_equal(tb_ckpt_last_offsets(ck), 3);
    assert_int_equal(tb_ckpt_last_commit(ck), 2);
    assert_int_equal(file_size(seg), r4);
    tb_ckpt_free(ck);
    /* but a hole before the durable mark is damage */
    corrupt(seg, record_at(seg, 1) + 30);
    assert_int_equal(tb_ckpt_open(dir, "q", &ck, &err), TB_E_CORRUPT);
    rm_rf(dir);
    free(dir);
}

/* An old-layout record file: JSON line + CRC trailer. */
static void put_old_record(const char *dir, const char *name, const char *json)
{
    char text[512];
    snprintf(text, sizeof(text), "%s\n", json);
    uLong c = crc32(crc32(0L, Z_NULL, 0), (const Bytef *)text, (uInt)strlen(text));
    char full[700];
    snprintf(full, sizeof(full), "%scrc32 %08lx\n", text, (unsigned long)c);
    put(dir, name, full);
}

/* A checkpoint of the older file layout resumes, and its files are compacted away. */
static void test_checkpoint_old_layout(void **state)
{
    (void)state;
    char *dir = tmpdir();
    tb_err err;
    tb_err_clear(&err);
    tb_ckpt *ck = NULL;
    assert_int_equal(tb_ckpt_open(dir, "q", &ck, &err), TB_OK);
    assert_int_equal(tb_ckpt_write_state(ck, 0, "state-0", 7, &err), TB_OK);
    assert_int_equal(tb_ckpt_write_commit(ck, 0, &err), TB_OK);
    tb_ckpt_free(ck);
    char odir[600];
    snprintf(odir, sizeof(odir), "%s/offsets", dir);
    put_old_record(odir, "0", "{\"batch\":0,\"watermark_us\":0,\"files\":[\"f0.csv\"]}");
    put_old_record(odir, "1", "{\"batch\":1,\"watermark_us\":10,\"files\":[\"f1.csv\"]}");
    check_all(dir, 2, 0); /* batch 1 uncommitted: a restart re-runs it */
    assert_int_equal(tb_ckpt_open(dir, "q", &ck, &err), TB_OK);
    write_batches(ck, 2, 3, true); /* batch 1 re-run; batch 2's offsets commit it */
    bool done = false;
    assert_int_equal(tb_ckpt_maybe_compact(ck, &done, &err), TB_OK);
    assert_true(done);
    tb_ckpt_free(ck);
    assert_int_equal(count_files(odir), 1); /* offsets/0, offsets/1 folded into a compact */
    char cdir[600];
    snprintf(cdir, sizeof(cdir), "%s/commits", dir);
    assert_int_equal(count_files(cdir), 0);
    check_all(dir, 3, 1);
    rm_rf(dir);
    free(dir);
}

/* Files discovered out of time order are still handed out oldest first (or newest
 * first), without a sort per take. */
static void test_filewatch_out_of_order(void **state)
{
    (void)state;
    char *dir = tmpdir();
    tb_err err;
    tb_err_clear(&err);
    tb_filewatch *fw = NULL;
    assert_int_equal(tb_filewatch_open(dir, NULL, &fw, &err), TB_OK);
    tb_strlist got = {0};
    assert_int_equal(tb_filewatch_take(fw, 0, 0, false, &got, &err), TB_OK);
    assert_int_equal(got.n, 0);
    /* mtimes 5, 3, 4, 1, 2 (plus a tie at 3 broken by name), renamed into place */
    static const int mt[] = {5, 3, 4, 1, 2, 3};
    static const char *const names[] = {"e.csv", "c2.csv", "d.csv", "a.csv", "b.csv", "c1.csv"};
    for (int i = 0; i < 6; i++) {
        char tmp[40];
        snprintf(tmp, sizeof(tmp), ".%s", names[i]);
        put(dir, tmp, "x\n");
        char from[512], to[512];
        snprintf(from, sizeof(from), "%s/%s", dir, tmp);
        snprintf(to, sizeof(to), "%s/%s", dir, names[i]);
        struct timespec ts[2] = {{1000 + mt[i], 0}, {1000 + mt[i], 0}};
        assert_int_equal(utimensat(AT_FDCWD, from, ts, 0), 0);
        assert_int_equal(rename(from, to), 0);
    }
    assert_int_equal(tb_filewatch_take(fw, 1000, 2, false, &got, &err), TB_OK);
    assert_int_equal(got.n, 2);
    assert_string_equal(base(got.items[0]), "a.csv");
    assert_string_equal(base(got.items[1]), "b.csv");
    tb_strlist_free(&got);
    assert_int_equal(tb_filewatch_take(fw, 0, 1, true, &got, &err), TB_OK);
    assert_int_equal(got.n, 1);
    assert_string_equal(base(got.items[0]), "e.csv");
    tb_strlist_free(&got);
    assert_int_equal(tb_filewatch_pending(fw), 3);
    assert_int_equal(tb_filewatch_take(fw, 0, 0, false, &got, &err), TB_OK);
    assert_int_equal(got.n, 3);
    assert_string_equal(base(got.items[0]), "c1.csv");
    assert_string_equal(base(got.items[1]), "c2.csv");
    assert_string_equal(base(got.items[2]), "d.csv");
    tb_strlist_free(&got);
    assert_int_equal(tb_filewatch_seen_count(fw), 6);
    tb_filewatch_free(fw);
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

/* ---------------------------------------------------------------- batch cost (issue 9) */

typedef struct batch_seen {
    int64_t n, out, in, state, max_out, in_total;
    bool out_over_in;
} batch_seen;

static int64_t json_int_field(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(json, pat);
    return p != NULL ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

static void on_batch_seen(void *ud, const char *progress, const char *const *views, size_t n)
{
    batch_seen *b = ud;
    (void)views;
    (void)n;
    b->n++;
    b->out = json_int_field(progress, "numOutputRows");
    b->in = json_int_field(progress, "numInputRows");
    b->state = json_int_field(progress, "stateRows");
    b->in_total += b->in;
    b->out_over_in |= b->out > b->in;
    if (b->out > b->max_out)
        b->max_out = b->out;
}

static int64_t query_int(tb_db *db, const char *sql, int col)
{
    tb_result *r = NULL;
    int has = 0;
    if (tb_db_exec(db, sql, &r) != TB_OK)
        fail_msg("%s: %s", sql, tb_db_errmsg(db));
    assert_int_equal(tb_result_step(r, &has), TB_OK);
    assert_true(has);
    int64_t v = tb_result_is_null(r, col) ? -1 : tb_result_int(r, col);
    tb_result_free(&r);
    return v;
}

/*
 * A batch emits the groups it changed (not every group), and the aggregating views,
 * read from the state, agree with the rows read so far after every batch (a view with
 * HAVING and ORDER BY above the aggregate too).
 */
static void test_batch_emits_changed_groups(void **state)
{
    (void)state;
    tb_db *db = NULL;
    tb_stream *st = NULL;
    tb_err err;
    tb_err_clear(&err);
    batch_seen seen = {0};
    assert_int_equal(tb_db_open(NULL, &db), TB_OK);
    tb_stream_opts opts;
    tb_stream_opts_default(&opts);
    opts.trigger = TB_TRIGGER_AVAILABLE_NOW;
    opts.on_batch = on_batch_seen;
    opts.on_batch_ud = &seen;
    assert_int_equal(tb_stream_new(db, &opts, &st, &err), TB_OK);
    tb_rc rc = tb_stream_exec(
        st,
        "CREATE TABLE sales (sale_id bigint, product_id int, quantity int, ts timestamp) "
        "WITH (connector = 'datagen', rows = '400', max_rows_per_trigger = '10', "
        "products = '1000', seed = '5');"
        "CREATE MATERIALIZED VIEW raw AS SELECT sale_id, product_id, quantity FROM sales;"
        "CREATE VIEW raw_big AS SELECT * FROM raw WHERE quantity > 5;"
        "CREATE MATERIALIZED VIEW big AS SELECT sale_id, quantity * 2 AS q2 FROM raw_big;"
        "CREATE MATERIALIZED VIEW v AS SELECT product_id, count(*) AS n, sum(quantity) AS q "
        "FROM sales GROUP BY 1;"
        "CREATE MATERIALIZED VIEW w AS SELECT product_id, count(*) AS n FROM sales "
        "GROUP BY 1 HAVING count(*) >= 2 ORDER BY 2 DESC, 1;",
        &err);
    if (rc != TB_OK)
        fail_msg("%s", err.msg);
    int64_t total = 0;
    for (int i = 0; i < 100; i++) {
        uint32_t ran = 0;
        rc = tb_stream_step(st, 0, &ran, &err);
        if (rc != TB_OK)
            fail_msg("%s", err.msg);
        if (ran == 0)
            break;
        total = seen.in_total; /* each query's batch: the same rows */
        int64_t rows = query_int(db, "SELECT sum(n) FROM v", 0);
        assert_int_equal(rows * 3, total); /* the three queries read every row */
        /* the cascade over the append-only view (fed the rows each batch appends) */
        assert_int_equal(query_int(db, "SELECT count(*) FROM raw", 0), rows);
        assert_int_equal(query_int(db, "SELECT count(*) FROM big", 0),
                         query_int(db, "SELECT count(*) FROM raw WHERE quantity > 5", 0));
        assert_int_equal(query_int(db, "SELECT coalesce(sum(q2), 0) FROM big", 0),
                         query_int(db, "SELECT coalesce(sum(quantity * 2), 0) FROM raw "
                                       "WHERE quantity > 5", 0));
        assert_int_equal(query_int(db, "SELECT count(*) FROM v", 0), seen.state);
        assert_int_equal(query_int(db, "SELECT count(*) FROM w", 0),
                         query_int(db, "SELECT count(*) FROM v WHERE n >= 2", 0));
    }
    assert_int_equal(total, 1200);
    assert_false(seen.out_over_in); /* at most one changed group per row */
    assert_true(seen.max_out <= 10);
    assert_true(seen.state > 100); /* the state outgrew what a batch emits */
    tb_stream_free(st);
    /* the views keep their last rows once the job is gone */
    assert_int_equal(query_int(db, "SELECT sum(n) FROM v", 0), 400);
    tb_db_close(&db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filewatch_each_file_once),
        cmocka_unit_test(test_filewatch_limit_order_seen),
        cmocka_unit_test(test_checkpoint_round_trip),
        cmocka_unit_test(test_checkpoint_damage_detected),
        cmocka_unit_test(test_checkpoint_combined_commit),
        cmocka_unit_test(test_checkpoint_compaction),
        cmocka_unit_test(test_checkpoint_old_layout),
        cmocka_unit_test(test_checkpoint_deferred_sync),
        cmocka_unit_test(test_filewatch_out_of_order),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_batch_emits_changed_groups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
