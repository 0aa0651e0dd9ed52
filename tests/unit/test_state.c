/*
 * test_state.c - the aggregate state's change sets and snapshots (hashagg.c, issue 9):
 * a replica fed only the change sets of a random workload (new groups, updates, DISTINCT
 * values, evictions, keys evicted then re-created) equals the original after every
 * batch; so does a state rebuilt from a snapshot plus the change sets after it; the
 * dirty list lists exactly the changed groups; eviction with nothing below the bound
 * leaves the state alone; damaged change sets and snapshot blocks are TB_E_CORRUPT or
 * apply without a crash. Checkpoint (checkpoint.c): offsets with per-source JSON,
 * commits carrying changelogs, snapshots taken by the policy, restore = snapshot +
 * changelogs across reopenings and compactions (old snapshots and segments deleted,
 * never a changelog the snapshot does not cover), and the damage cases: a flipped or
 * cut snapshot, a missing snapshot, a damaged changelog record, each naming the file.
 *
 * Rows are compared as sorted text ("v1|v2|..."): replicas number groups differently.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec/exec.h"
#include "stream/checkpoint.h"

static tb_arena *g_arena;

static tb_type T(tb_type_id id) { return tb_type_make(id); }

typedef struct rows {
    char **r;
    size_t n, cap;
} rows;

static void rows_free(rows *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        free(rs->r[i]);
    free(rs->r);
    memset(rs, 0, sizeof(*rs));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void render_batch(const tb_batch *batch, rows *rs)
{
    for (uint32_t i = 0; i < batch->n_rows; i++) {
        tb_buf buf = {0};
        for (uint32_t c = 0; c < batch->n_cols; c++) {
            tb_value val;
            if (c > 0)
                tb_buf_putc(&buf, '|');
            tb_vec_get(&batch->cols[c], i, &val);
            if (val.is_null || batch->cols[c].type.id == TB_T_NULL)
                tb_buf_puts(&buf, "NULL");
            else
                tb_value_format(&val, &buf);
        }
        if (rs->n == rs->cap) {
            rs->cap = rs->cap ? rs->cap * 2 : 64;
            rs->r = realloc(rs->r, rs->cap * sizeof(char *));
        }
        rs->r[rs->n++] = strdup(tb_buf_cstr(&buf) ? tb_buf_cstr(&buf) : "");
        tb_buf_free(&buf);
    }
}

/* Every row of a pass, sorted. */
static void emit_sorted(tb_hashagg *agg, tb_hashagg_emit mode, rows *rs)
{
    tb_hashagg_iter it;
    tb_arena *arena = tb_arena_new(0);
    tb_err err;

    memset(rs, 0, sizeof(*rs));
    tb_hashagg_iter_init(&it, mode, 0, NULL);
    for (;;) {
        tb_batch *batch = NULL;
        tb_arena_reset(arena);
        assert_int_equal(tb_hashagg_next(agg, &it, arena, &batch, &err), TB_OK);
        if (batch == NULL)
            break;
        render_batch(batch, rs);
    }
    tb_arena_free(arena);
    qsort(rs->r, rs->n, sizeof(char *), cmp_str);
}

static void expect_equal(tb_hashagg *a, tb_hashagg *b)
{
    rows ra, rb;
    emit_sorted(a, TB_HASHAGG_ALL, &ra);
    emit_sorted(b, TB_HASHAGG_ALL, &rb);
    assert_int_equal(ra.n, rb.n);
    for (size_t i = 0; i < ra.n; i++)
        assert_string_equal(ra.r[i], rb.r[i]);
    rows_free(&ra);
    rows_free(&rb);
}

static tb_aggspec aggspec(tb_agg_kind kind, bool distinct, tb_type arg, tb_type type)
{
    tb_aggspec a;
    memset(&a, 0, sizeof(a));
    a.kind = kind;
    a.distinct = distinct;
    a.arg = kind == TB_AGG_COUNT_STAR ? NULL : tb_expr_col(g_arena, 0, arg);
    a.type = type;
    return a;
}

/* Keys (window start bigint, category text); count(*), sum(q), min(s), max(q) as double,
 * count(DISTINCT s). */
static tb_hashagg *state_new(void)
{
    tb_type kt[2] = {T(TB_T_INT64), T(TB_T_STRING)};
    tb_aggspec a[5];
    tb_hashagg *agg = NULL;
    tb_err err;

    a[0] = aggspec(TB_AGG_COUNT_STAR, false, T(TB_T_NULL), T(TB_T_INT64));
    a[1] = aggspec(TB_AGG_SUM, false, T(TB_T_INT64), tb_type_decimal(38, 0));
    a[2] = aggspec(TB_AGG_MIN, false, T(TB_T_STRING), T(TB_T_STRING));
    a[3] = aggspec(TB_AGG_MAX, false, T(TB_T_DOUBLE), T(TB_T_DOUBLE));
    a[4] = aggspec(TB_AGG_COUNT, true, T(TB_T_STRING), T(TB_T_INT64));
    assert_int_equal(tb_hashagg_new(2, kt, 5, a, &agg, &err), TB_OK);
    return agg;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* n random rows: window in [lo, lo + span), category among 40 (some NULL), q, s. */
static void consume_random(tb_hashagg *agg, uint32_t n, int64_t lo, int64_t span)
{
    tb_arena *arena = tb_arena_new(0);
    tb_vec keys[2], args[5];
    static char names[64][8];
    tb_err err;

    for (int i = 0; i < 64; i++)
        snprintf(names[i], sizeof(names[i]), "c%02d", i);
    memset(args, 0, sizeof(args));
    assert_int_equal(tb_vec_init(&keys[0], T(TB_T_INT64), n, arena), TB_OK);
    assert_int_equal(tb_vec_init(&keys[1], T(TB_T_STRING), n, arena), TB_OK);
    assert_int_equal(tb_vec_init(&args[1], T(TB_T_INT64), n, arena), TB_OK);
    assert_int_equal(tb_vec_init(&args[2], T(TB_T_STRING), n, arena), TB_OK);
    assert_int_equal(tb_vec_init(&args[3], T(TB_T_DOUBLE), n, arena), TB_OK);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t r = next_rand();
        ((int64_t *)keys[0].data)[i] = lo + (int64_t)(r % (uint64_t)span);
        if ((r >> 20) % 41 == 40)
            assert_int_equal(tb_vec_set_null(&keys[1], i, n, arena), TB_OK);
        else
            ((tb_str *)keys[1].data)[i] = (tb_str){names[(r >> 20) % 41], 3};
        ((int64_t *)args[1].data)[i] = (int64_t)((r >> 30) % 1000) - 300;
        ((tb_str *)args[2].data)[i] = (tb_str){names[(r >> 40) % 64], 3};
        if ((r >> 50) % 7 == 0)
            assert_int_equal(tb_vec_set_null(&args[2], i, n, arena), TB_OK);
        ((double *)args[3].data)[i] = (double)((r >> 8) % 10000) / 7.0;
    }
    args[4] = args[2];
    assert_int_equal(tb_hashagg_consume(agg, n, keys, args, &err), TB_OK);
    tb_arena_free(arena); /* the state must not point into the input */
}

/* TB_STATE_SEEDS=DIR: write fuzz seeds (fuzz/corpus/checkpoint) of the new formats. */
static void dump_seed(const char *name, const void *data, size_t len)
{
    const char *dir = getenv("TB_STATE_SEEDS");
    char path[512];
    FILE *fp;
    if (dir == NULL)
        return;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    fclose(fp);
}

static tb_rc put_block(void *ud, const void *data, size_t len, tb_err *err)
{
    tb_buf *blocks = ud; /* a list: u64 length, bytes */
    uint64_t n = len;
    (void)err;
    if (tb_buf_append(blocks, &n, 8) != TB_OK || tb_buf_append(blocks, data, len) != TB_OK)
        return TB_E_NOMEM;
    return TB_OK;
}

/* Rebuild `into` from snapshot blocks. */
static void load_blocks(tb_hashagg *into, const tb_buf *blocks)
{
    tb_err err;
    tb_hashagg_reset(into);
    for (size_t off = 0; off < blocks->len;) {
        uint64_t n;
        memcpy(&n, blocks->data + off, 8);
        assert_int_equal(tb_hashagg_apply_changes(into, blocks->data + off + 8, n, &err), TB_OK);
        off += 8 + n;
    }
}

static void evict(tb_hashagg *agg, int64_t below, uint64_t *removed)
{
    tb_value bound;
    tb_err err;
    memset(&bound, 0, sizeof(bound));
    bound.type = T(TB_T_INT64);
    bound.u.i = below;
    assert_int_equal(tb_hashagg_evict_below(agg, 0, &bound, removed, &err), TB_OK);
}

static void test_changes_replay(void **state)
{
    tb_hashagg *agg = state_new(), *replica = state_new(), *restored = state_new();
    tb_buf chg = {0}, snap = {0}, log = {0}; /* log: change sets since the snapshot */
    uint64_t total_evicted = 0;
    tb_err err;
    (void)state;

    for (int b = 0; b < 40; b++) {
        int64_t lo = b / 4; /* windows move forward; some rows land in old windows */
        uint64_t removed = 0;
        consume_random(agg, 300 + (uint32_t)(next_rand() % 900), lo, 6);
        if (b % 3 == 2) {
            evict(agg, lo + 1, &removed);
            total_evicted += removed;
            assert_int_equal(tb_hashagg_deleted_groups(agg), removed);
            if (b % 6 == 5) /* late rows re-create evicted keys in the same change set */
                consume_random(agg, 50, lo - 2, 3);
        }
        {
            /* the dirty list is exactly the groups whose rows changed */
            rows before, changed;
            emit_sorted(agg, TB_HASHAGG_CHANGED, &changed);
            assert_int_equal(changed.n, tb_hashagg_changed_groups(agg));
            emit_sorted(agg, TB_HASHAGG_CHANGED, &before); /* a pass does not clear */
            assert_int_equal(before.n, changed.n);
            rows_free(&before);
            rows_free(&changed);
        }
        chg.len = 0;
        assert_int_equal(tb_hashagg_serialize_changes(agg, &chg, &err), TB_OK);
        if (b == 5)
            dump_seed("state-changes-evict", chg.data, chg.len);
        tb_hashagg_changes_clear(agg);
        assert_int_equal(tb_hashagg_changed_groups(agg), 0);
        assert_int_equal(tb_hashagg_apply_changes(replica, chg.data, chg.len, &err), TB_OK);
        assert_int_equal(tb_hashagg_changed_groups(replica), 0); /* applying is no change */
        expect_equal(agg, replica);
        if (b % 10 == 4) {
            snap.len = 0;
            log.len = 0;
            assert_int_equal(tb_hashagg_snapshot(agg, put_block, &snap, &err), TB_OK);
        } else if (snap.len > 0) {
            put_block(&log, chg.data, chg.len, &err);
            /* restart = snapshot + the change sets after it */
            load_blocks(restored, &snap);
            for (size_t off = 0; off < log.len;) {
                uint64_t n;
                memcpy(&n, log.data + off, 8);
                assert_int_equal(
                    tb_hashagg_apply_changes(restored, log.data + off + 8, n, &err), TB_OK);
                off += 8 + n;
            }
            expect_equal(agg, restored);
        }
    }
    assert_true(total_evicted > 0);
    /* continuing from the replica gives the same answers */
    {
        uint64_t saved = rng;
        consume_random(agg, 500, 12, 3);
        rng = saved;
        consume_random(replica, 500, 12, 3);
        expect_equal(agg, replica);
    }
    tb_buf_free(&chg);
    tb_buf_free(&snap);
    tb_buf_free(&log);
    tb_hashagg_free(agg);
    tb_hashagg_free(replica);
    tb_hashagg_free(restored);
}

/* After restore, DISTINCT values already seen do not count again; eviction that
 * removes nothing keeps the state and records no delete. */
static void test_changes_distinct_and_evict(void **state)
{
    tb_hashagg *agg = state_new(), *copy = state_new();
    tb_buf snap = {0}, chg = {0};
    uint64_t removed = 99;
    uint64_t saved;
    tb_err err;
    (void)state;

    consume_random(agg, 2000, 100, 3);
    tb_hashagg_changes_clear(agg);
    assert_int_equal(tb_hashagg_snapshot(agg, put_block, &snap, &err), TB_OK);
    load_blocks(copy, &snap);
    expect_equal(agg, copy);
    /* the same rows again into both: DISTINCT counts stay, others grow alike */
    saved = rng;
    consume_random(agg, 2000, 100, 3);
    rng = saved;
    consume_random(copy, 2000, 100, 3);
    expect_equal(agg, copy);
    /* nothing below the bound: nothing removed, no deletes (the kept minimum answers) */
    evict(agg, 50, &removed);
    assert_int_equal(removed, 0);
    evict(agg, 100, &removed); /* the minimum is 100: still nothing */
    assert_int_equal(removed, 0);
    assert_int_equal(tb_hashagg_deleted_groups(agg), 0);
    evict(agg, 101, &removed);
    assert_true(removed > 0);
    evict(agg, 101, &removed);
    assert_int_equal(removed, 0);
    /* groups added below the kept minimum are seen by the next eviction */
    consume_random(agg, 100, 20, 2);
    evict(agg, 101, &removed);
    assert_true(removed > 0);
    assert_int_equal(tb_hashagg_serialize_changes(agg, &chg, &err), TB_OK);
    tb_hashagg_changes_clear(agg);
    /* copy had neither the late rows nor the evictions: the change set's upserts and
     * deletes bring it level (the first eviction's deletes were cleared, so evict in copy
     * the same way first) */
    evict(copy, 101, NULL);
    assert_int_equal(tb_hashagg_apply_changes(copy, chg.data, chg.len, &err), TB_OK);
    expect_equal(agg, copy);
    tb_buf_free(&snap);
    tb_buf_free(&chg);
    tb_hashagg_free(agg);
    tb_hashagg_free(copy);
}

/* No GROUP BY: one group, whose changes and snapshot round-trip. */
static void test_changes_no_keys(void **state)
{
    tb_aggspec a[2];
    tb_hashagg *agg = NULL, *copy = NULL;
    tb_arena *arena = tb_arena_new(0);
    tb_vec args[2];
    tb_buf chg = {0}, snap = {0};
    tb_err err;
    (void)state;

    a[0] = aggspec(TB_AGG_COUNT_STAR, false, T(TB_T_NULL), T(TB_T_INT64));
    a[1] = aggspec(TB_AGG_SUM, false, T(TB_T_DOUBLE), T(TB_T_DOUBLE));
    assert_int_equal(tb_hashagg_new(0, NULL, 2, a, &agg, &err), TB_OK);
    assert_int_equal(tb_hashagg_new(0, NULL, 2, a, &copy, &err), TB_OK);
    /* nothing changed: an empty change set applies as a no-op */
    assert_int_equal(tb_hashagg_serialize_changes(agg, &chg, &err), TB_OK);
    assert_int_equal(tb_hashagg_apply_changes(copy, chg.data, chg.len, &err), TB_OK);
    expect_equal(agg, copy);
    memset(args, 0, sizeof(args));
    assert_int_equal(tb_vec_init(&args[1], T(TB_T_DOUBLE), 3, arena), TB_OK);
    ((double *)args[1].data)[0] = 1.5;
    ((double *)args[1].data)[1] = 2.5;
    ((double *)args[1].data)[2] = -1;
    assert_int_equal(tb_hashagg_consume(agg, 3, NULL, args, &err), TB_OK);
    chg.len = 0;
    assert_int_equal(tb_hashagg_serialize_changes(agg, &chg, &err), TB_OK);
    assert_int_equal(tb_hashagg_apply_changes(copy, chg.data, chg.len, &err), TB_OK);
    expect_equal(agg, copy);
    assert_int_equal(tb_hashagg_snapshot(agg, put_block, &snap, &err), TB_OK);
    load_blocks(copy, &snap);
    expect_equal(agg, copy);
    tb_buf_free(&chg);
    tb_buf_free(&snap);
    tb_arena_free(arena);
    tb_hashagg_free(agg);
    tb_hashagg_free(copy);
}

/* Every truncation of a change set is TB_E_CORRUPT; byte flips never crash; a change set
 * of another query's shape is refused. */
static void test_changes_damaged(void **state)
{
    tb_hashagg *agg = state_new(), *bad = state_new();
    tb_buf chg = {0};
    tb_err err;
    (void)state;

    consume_random(agg, 60, 0, 3);
    tb_hashagg_changes_clear(agg);
    consume_random(agg, 30, 0, 3);
    evict(agg, 1, NULL);
    assert_int_equal(tb_hashagg_serialize_changes(agg, &chg, &err), TB_OK);
    for (size_t len = 0; len < chg.len; len++) {
        tb_hashagg_reset(bad);
        assert_int_equal(tb_hashagg_apply_changes(bad, chg.data, len, &err), TB_E_CORRUPT);
    }
    for (size_t pos = 0; pos < chg.len; pos++) {
        char *d = malloc(chg.len);
        tb_rc rc;
        memcpy(d, chg.data, chg.len);
        d[pos] ^= (char)(1 + (pos % 255));
        tb_hashagg_reset(bad);
        rc = tb_hashagg_apply_changes(bad, d, chg.len, &err);
        assert_true(rc == TB_OK || rc == TB_E_CORRUPT);
        if (rc == TB_OK) {
            /* a flipped value may be out of range on output: an error, not a crash */
            tb_hashagg_iter it;
            tb_arena *arena = tb_arena_new(0);
            tb_batch *batch = NULL;
            tb_hashagg_iter_init(&it, TB_HASHAGG_ALL, 0, NULL);
            while (tb_hashagg_next(bad, &it, arena, &batch, &err) == TB_OK && batch) {
                rows rs;
                memset(&rs, 0, sizeof(rs));
                render_batch(batch, &rs);
                rows_free(&rs);
            }
            tb_arena_free(arena);
        }
        free(d);
    }
    {
        tb_type kt[1] = {T(TB_T_INT64)};
        tb_aggspec c = aggspec(TB_AGG_COUNT_STAR, false, T(TB_T_NULL), T(TB_T_INT64));
        tb_hashagg *other = NULL;
        assert_int_equal(tb_hashagg_new(1, kt, 1, &c, &other, &err), TB_OK);
        assert_int_equal(tb_hashagg_apply_changes(other, chg.data, chg.len, &err), TB_E_CORRUPT);
        tb_hashagg_free(other);
    }
    tb_buf_free(&chg);
    tb_hashagg_free(agg);
    tb_hashagg_free(bad);
}

/* A snapshot larger than one block comes back whole (blocks of groups, then DISTINCT
 * entries). */
static void test_snapshot_blocks(void **state)
{
    tb_type kt[1] = {T(TB_T_INT64)};
    tb_aggspec a[2];
    tb_hashagg *agg = NULL, *copy = NULL;
    tb_arena *arena = tb_arena_new(0);
    tb_buf snap = {0};
    uint32_t n = TB_HASHAGG_SNAPSHOT_GROUPS + 1000;
    size_t n_blocks = 0;
    tb_vec keys[1], args[2];
    tb_err err;
    (void)state;

    a[0] = aggspec(TB_AGG_SUM, false, T(TB_T_INT64), T(TB_T_INT64));
    a[1] = aggspec(TB_AGG_COUNT, true, T(TB_T_INT64), T(TB_T_INT64));
    assert_int_equal(tb_hashagg_new(1, kt, 2, a, &agg, &err), TB_OK);
    assert_int_equal(tb_hashagg_new(1, kt, 2, a, &copy, &err), TB_OK);
    assert_int_equal(tb_vec_init(&keys[0], T(TB_T_INT64), n, arena), TB_OK);
    memset(args, 0, sizeof(args));
    assert_int_equal(tb_vec_init(&args[0], T(TB_T_INT64), n, arena), TB_OK);
    for (uint32_t i = 0; i < n; i++) {
        ((int64_t *)keys[0].data)[i] = i;
        ((int64_t *)args[0].data)[i] = i % 7;
    }
    args[1] = args[0];
    assert_int_equal(tb_hashagg_consume(agg, n, keys, args, &err), TB_OK);
    assert_int_equal(tb_hashagg_snapshot(agg, put_block, &snap, &err), TB_OK);
    for (size_t off = 0; off < snap.len; n_blocks++) {
        uint64_t len;
        memcpy(&len, snap.data + off, 8);
        off += 8 + len;
    }
    assert_int_equal(n_blocks, 4); /* 2 of groups, 2 of DISTINCT entries */
    load_blocks(copy, &snap);
    expect_equal(agg, copy);
    {
        /* the DISTINCT entries' last block (small) as a seed */
        size_t off = 0, last = 0;
        while (off < snap.len) {
            uint64_t len;
            memcpy(&len, snap.data + off, 8);
            last = off;
            off += 8 + len;
        }
        uint64_t len;
        memcpy(&len, snap.data + last, 8);
        dump_seed("state-snapshot-block-distinct", snap.data + last + 8, len);
    }
    tb_buf_free(&snap);
    tb_arena_free(arena);
    tb_hashagg_free(agg);
    tb_hashagg_free(copy);
}


/* ---------------------------------------------------------------- checkpoint */

static char *temp_dir(void)
{
    char tmpl[] = "/tmp/tb-state-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    return strdup(tmpl);
}

static void rm_rf(const char *path)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
}

/* Entries of dir whose name starts with prefix. */
static int count_files(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

/* Snapshots are written by the writer thread (tb_ckpt_snapshot_submit), else inline. */
static bool snap_async;

/* Snapshot of batch b: records "snap-<b>-<k>" for k < 3, group count b + 1000. */
static void write_snapshot(tb_ckpt *ck, int64_t b)
{
    tb_ckpt_snapshot *snap = NULL;
    tb_err err;
    if (snap_async)
        assert_int_equal(tb_ckpt_snapshot_begin_async(ck, b, &snap, &err), TB_OK);
    else
        assert_int_equal(tb_ckpt_snapshot_begin(ck, b, &snap, &err), TB_OK);
    tb_ckpt_snapshot_set_groups(snap, (uint64_t)b + 1000);
    for (int k = 0; k < 3; k++) {
        char rec[64];
        snprintf(rec, sizeof(rec), "snap-%lld-%d", (long long)b, k);
        if (k == 1) /* the same bytes as a tag and the rest */
            assert_int_equal(tb_ckpt_snapshot_put_tagged(snap, rec[0], rec + 1, strlen(rec) - 1,
                                                         &err), TB_OK);
        else
            assert_int_equal(tb_ckpt_snapshot_put(snap, rec, strlen(rec), &err), TB_OK);
    }
    if (snap_async) {
        assert_int_equal(tb_ckpt_snapshot_submit(snap, &err), TB_OK);
        assert_true(tb_ckpt_snapshot_in_flight(ck) || tb_ckpt_snapshot_batch(ck) == b);
        assert_false(tb_ckpt_snapshot_due(ck)); /* one in flight at most */
    } else {
        assert_int_equal(tb_ckpt_snapshot_finish(snap, &err), TB_OK);
    }
}

/*
 * Batches from..to-1 as the runtime runs them: the record of batch b carries batch b-1's
 * commit and changelog "chg-<b-1>" padded to 40 bytes; a snapshot when due; compaction.
 * Returns the number of snapshots taken.
 */
static int run_batches(tb_ckpt *ck, int64_t from, int64_t to)
{
    int n_snaps = 0;
    tb_err err;
    for (int64_t b = from; b < to; b++) {
        char chg[41];
        json_t *src = json_pack("{s:{s:I}}", "dg", "to", (json_int_t)(b * 100));
        tb_ckpt_offsets off = {.batch = b, .watermark_us = b, .sources = src,
                               .has_commit = b > 0};
        snprintf(chg, sizeof(chg), "chg-%-36lld", (long long)(b - 1));
        off.changelog = b > 0 ? chg : NULL;
        off.changelog_len = b > 0 ? 40 : 0;
        assert_int_equal(tb_ckpt_write_offsets(ck, &off, &err), TB_OK);
        json_decref(src);
        if (b > 0 && tb_ckpt_snapshot_due(ck)) {
            write_snapshot(ck, b - 1);
            n_snaps++;
        }
        if (b % 4 == 3)
            tb_ckpt_rotate(ck); /* small segments: compactions happen */
        assert_int_equal(tb_ckpt_maybe_compact(ck, NULL, &err), TB_OK);
    }
    return n_snaps;
}

/* Restore and check: the base snapshot's records, then every changelog after it. */
static void expect_restore(tb_ckpt *ck, int64_t last_commit)
{
    tb_ckpt_restore *r = NULL;
    int64_t base = -2, b = -2;
    const char *d = NULL;
    size_t n = 0;
    tb_err err;

    assert_int_equal(tb_ckpt_last_commit(ck), last_commit);
    assert_int_equal(tb_ckpt_restore_begin(ck, &r, &err), TB_OK);
    assert_int_equal(tb_ckpt_restore_base(r, &base), TB_CKPT_BASE_SNAPSHOT);
    assert_true(base >= 0 && base <= last_commit);
    assert_int_equal(tb_ckpt_restore_groups(r), (uint64_t)base + 1000); /* the header's */
    for (int k = 0;; k++) {
        char want[64];
        assert_int_equal(tb_ckpt_restore_snapshot_next(r, &d, &n, &err), TB_OK);
        if (d == NULL) {
            assert_int_equal(k, 3);
            break;
        }
        snprintf(want, sizeof(want), "snap-%lld-%d", (long long)base, k);
        assert_int_equal(n, strlen(want));
        assert_memory_equal(d, want, n);
    }
    for (int64_t want_b = base + 1;; want_b++) {
        char want[41];
        assert_int_equal(tb_ckpt_restore_changelog_next(r, &b, &d, &n, &err), TB_OK);
        if (d == NULL) {
            assert_int_equal(want_b, last_commit + 1);
            break;
        }
        assert_int_equal(b, want_b);
        snprintf(want, sizeof(want), "chg-%-36lld", (long long)b);
        assert_int_equal(n, 40);
        assert_memory_equal(d, want, 40);
    }
    tb_ckpt_restore_end(r);
}

/*
 * Snapshots written by the writer thread (issue 9): the batches go on while it writes;
 * the snapshot becomes the base only once a record written after it finished names it,
 * so every restore in between is the older base plus the changelogs.
 */
static void test_ckpt_snapshot_async(void **state)
{
    char *dir = temp_dir();
    tb_ckpt *ck = NULL;
    tb_err err;
    int snaps;
    (void)state;

    snap_async = true;
    assert_int_equal(tb_ckpt_open(dir, "Q", &ck, &err), TB_OK);
    tb_ckpt_set_snapshot_min_bytes(ck, 200);
    snaps = run_batches(ck, 0, 40);
    assert_true(snaps >= 1);
    assert_int_equal(tb_ckpt_snapshot_wait(ck, true, &err), TB_OK);
    assert_false(tb_ckpt_snapshot_in_flight(ck));
    tb_ckpt_set_snapshot_min_bytes(ck, UINT64_MAX / 2); /* no snapshot in 40 and 41 */
    run_batches(ck, 40, 41); /* a record names the snapshot just finished */
    expect_restore(ck, 39);
    run_batches(ck, 41, 42);
    /* one in flight, then freed: it is finished (durable) but named by no record */
    tb_ckpt_set_snapshot_min_bytes(ck, 0);
    assert_true(tb_ckpt_snapshot_due(ck)); /* batch 40's changelog follows the base */
    write_snapshot(ck, 40);
    tb_ckpt_free(ck);
    assert_int_equal(tb_ckpt_open(dir, "Q", &ck, &err), TB_OK);
    tb_ckpt_set_snapshot_min_bytes(ck, 200);
    expect_restore(ck, 40);
    run_batches(ck, 42, 90);
    assert_int_equal(tb_ckpt_snapshot_wait(ck, true, &err), TB_OK);
    expect_restore(ck, 88);
    tb_ckpt_free(ck);
    assert_int_equal(tb_ckpt_open(dir, "Q", &ck, &err), TB_OK);
    expect_restore(ck, 88);
    tb_ckpt_free(ck);
    snap_async = false;
    rm_rf(dir);
    free(dir);
}

static void test_ckpt_changelogs_snapshots(void **state)
{
    char *dir = temp_dir();
    char sub[600];
    tb_ckpt *ck = NULL;
    tb_ckpt_offsets back = {0};
    tb_err err;
    int snaps;
    (void)state;

    assert_int_equal(tb_ckpt_open(dir, "Q", &ck, &err), TB_OK);
    tb_ckpt_set_snapshot_min_bytes(ck, 200); /* about every 6 batches */
    snaps = run_batches(ck, 0, 40);
    assert_true(snaps >= 4);
    expect_restore(ck, 38);
    /* the sources' offsets come back verbatim */
    assert_int_equal(tb_ckpt_read_offsets(ck, 39, &back, &err), TB_OK);
    assert_non_null(back.sources);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(back.sources, "dg"), "to")),
                     3900);
    assert_int_equal(back.files.n, 0);
    assert_int_equal(back.changelog_len, 40);
    tb_ckpt_offsets_clear(&back);
    tb_ckpt_free(ck);
    if (getenv("TB_STATE_SEEDS") != NULL) {
        /* the first log segment: records with sources, changelogs, snapshot references */
        char cmd[1200];
        snprintf(cmd, sizeof(cmd), "cat \"$(ls -d %s/log/* | tail -1)\" > \"%s/state-log-segment\"",
                 dir, getenv("TB_STATE_SEEDS"));
        assert_int_equal(system(cmd), 0);
    }

    /* reopened: the same restore; continue, then again */
    assert_int_equal(tb_ckpt_open(dir, "Q", &ck, &err), TB_OK);
    tb_ckpt_set_snapshot_min_bytes(ck, 200);
    expect_restore(ck, 38);
    run_batches(ck, 40, 90);
    expect_restore(ck, 88);
    /* the compaction keeps the state files bounded: the base snapshot (and maybe the one
     * before, until its reference is durable), and a few segments */
    snprintf(sub, sizeof(sub), "%s/state", dir);
    assert_true(count_files(sub, "snapshot-") <= 2);
    snprintf(sub, sizeof(sub), "%s/log", dir);
    assert_true(count_files(sub, "0") <= 6);
    tb_ckpt_free(ck);
    assert_int_equal(tb_ckpt_open(dir, "Q", &ck, &err), TB_OK);
    expect_restore(ck, 88);
    {
        /* every batch's offsets are still known (compacted or in the log) */
        int64_t n = 0;
        assert_int_equal(tb_ckpt_last_offsets(ck), 89);
        for (int64_t b = 0; b < 90; b++) {
            tb_ckpt_offsets o = {0};
            tb_rc rc = tb_ckpt_read_offsets(ck, b, &o, &err);
            n += rc == TB_OK;
            tb_ckpt_offsets_clear(&o);
        }
        assert_true(n > 0);
    }
    tb_ckpt_free(ck);
    rm_rf(dir);
    free(dir);
}

/* Offsets records of older releases ("files", a whole state image) still read; the first
 * snapshot then moves the checkpoint to snapshot + changelogs. */
static void test_ckpt_old_records(void **state)
{
    char *dir = temp_dir();
    tb_ckpt *ck = NULL;
    tb_ckpt_restore *r = NULL;
    tb_ckpt_offsets off = {.batch = 0, .watermark_us = 1}, back = {0};
    int64_t base = -2;
    const char *d = NULL;
    size_t n = 0;
    tb_err err;
    (void)state;

    assert_int_equal(tb_ckpt_open(dir, "Q", &ck, &err), TB_OK);
    assert_int_equal(tb_strlist_push(&off.files, "a.csv"), TB_OK);
    assert_int_equal(tb_ckpt_write_offsets(ck, &off, &err), TB_OK);
    tb_ckpt_offsets_clear(&off);
    off = (tb_ckpt_offsets){.batch = 1, .watermark_us = 2, .has_commit = true,
                            .state = "IMAGE0", .state_len = 6};
    assert_int_equal(tb_strlist_push(&off.files, "b.csv"), TB_OK);
    assert_int_equal(tb_ckpt_write_offsets(ck, &off, &err), TB_OK);
    off.state = NULL;
    tb_ckpt_offsets_clear(&off);
    tb_ckpt_free(ck);

    assert_int_equal(tb_ckpt_open(dir, "Q", &ck, &err), TB_OK);
    assert_int_equal(tb_ckpt_read_offsets(ck, 1, &back, &err), TB_OK);
    assert_null(back.sources);
    assert_int_equal(back.files.n, 1);
    assert_string_equal(back.files.items[0], "b.csv");
    tb_ckpt_offsets_clear(&back);
    assert_int_equal(tb_ckpt_restore_begin(ck, &r, &err), TB_OK);
    assert_int_equal(tb_ckpt_restore_base(r, &base), TB_CKPT_BASE_IMAGE);
    assert_int_equal(base, 0);
    assert_int_equal(tb_ckpt_restore_image(r, &d, &n, &err), TB_OK);
    assert_int_equal(n, 6);
    assert_memory_equal(d, "IMAGE0", 6);
    assert_int_equal(tb_ckpt_restore_changelog_next(r, &base, &d, &n, &err), TB_OK);
    assert_null(d);
    tb_ckpt_restore_end(r);
    assert_true(tb_ckpt_snapshot_due(ck) == false); /* nothing after the image yet */
    assert_int_equal(tb_ckpt_write_commit_changelog(ck, 1, "chg-1", 5, &err), TB_OK);
    assert_true(tb_ckpt_snapshot_due(ck)); /* an image base: move on at once */
    write_snapshot(ck, 1);
    assert_false(tb_ckpt_snapshot_due(ck));
    off = (tb_ckpt_offsets){.batch = 2, .watermark_us = 3};
    assert_int_equal(tb_strlist_push(&off.files, "c.csv"), TB_OK);
    assert_int_equal(tb_ckpt_write_offsets(ck, &off, &err), TB_OK); /* references it */
    tb_ckpt_offsets_clear(&off);
    assert_int_equal(tb_ckpt_snapshot_batch(ck), 1);
    tb_ckpt_free(ck);
    assert_int_equal(tb_ckpt_open(dir, "Q", &ck, &err), TB_OK);
    assert_int_equal(tb_ckpt_restore_begin(ck, &r, &err), TB_OK);
    assert_int_equal(tb_ckpt_restore_base(r, &base), TB_CKPT_BASE_SNAPSHOT);
    assert_int_equal(base, 1);
    tb_ckpt_restore_end(r);
    tb_ckpt_free(ck);
    rm_rf(dir);
    free(dir);
}

static void flip(const char *path, long at)
{
    FILE *fp = fopen(path, "r+b");
    int c;
    assert_non_null(fp);
    assert_int_equal(fseek(fp, at, SEEK_SET), 0);
    c = fgetc(fp);
    assert_int_equal(fseek(fp, at, SEEK_SET), 0);
    fputc(c ^ 0x20, fp);
    fclose(fp);
}

/* Restore to the end; the first error's code (TB_OK when none). */
static tb_rc try_restore(tb_ckpt *ck, tb_err *err)
{
    tb_ckpt_restore *r = NULL;
    const char *d = NULL;
    size_t n = 0;
    int64_t b;
    tb_rc rc = tb_ckpt_restore_begin(ck, &r, err);
    while (rc == TB_OK && (rc = tb_ckpt_restore_snapshot_next(r, &d, &n, err)) == TB_OK && d)
        ;
    while (rc == TB_OK && (rc = tb_ckpt_restore_changelog_next(r, &b, &d, &n, err)) == TB_OK && d)
        ;
    tb_ckpt_restore_end(r);
    return rc;
}

static void test_ckpt_state_damage(void **state)
{
    char *dir = temp_dir();
    char snap[600], copy[700], cmd[1500];
    tb_ckpt *ck = NULL;
    tb_err err;
    int64_t s;
    long size;
    struct stat st;
    (void)state;

    assert_int_equal(tb_ckpt_open(dir, "Q", &ck, &err), TB_OK);
    tb_ckpt_set_snapshot_min_bytes(ck, 200);
    run_batches(ck, 0, 20);
    s = tb_ckpt_snapshot_batch(ck);
    assert_true(s >= 0);
    tb_ckpt_free(ck);
    snprintf(snap, sizeof(snap), "%s/state/snapshot-%lld", dir, (long long)s);
    snprintf(copy, sizeof(copy), "%s.good", snap);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", snap, copy);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(stat(snap, &st), 0);
    size = (long)st.st_size;
    {
        /* the file parses whole; every cut and flip is found, naming the file */
        char *img = malloc((size_t)size);
        FILE *fp = fopen(snap, "rb");
        int64_t batch = -1;
        assert_int_equal(fread(img, 1, (size_t)size, fp), (size_t)size);
        fclose(fp);
        assert_int_equal(tb_ckpt_parse_snapshot(snap, img, (size_t)size, &batch, NULL, NULL,
                                                &err), TB_OK);
        assert_int_equal(batch, s);
        dump_seed("state-snapshot-file", img, (size_t)size);
        for (long len = 0; len < size; len++)
            assert_int_equal(tb_ckpt_parse_snapshot(snap, img, (size_t)len, &batch, NULL, NULL,
                                                    &err), TB_E_CORRUPT);
        for (long at = 0; at < size; at++) {
            img[at] ^= 0x20;
            assert_int_equal(tb_ckpt_parse_snapshot(snap, img, (size_t)size, &batch, NULL, NULL,
                                                    &err), TB_E_CORRUPT);
            img[at] ^= 0x20;
        }
        free(img);
    }
    /* flipped in a record */
    flip(snap, size - 30);
    assert_int_equal(tb_ckpt_open(dir, "Q", &ck, &err), TB_OK);
    assert_int_equal(try_restore(ck, &err), TB_E_CORRUPT);
    assert_non_null(strstr(err.msg, snap));
    assert_non_null(strstr(err.msg, "checksum"));
    tb_ckpt_free(ck);
    /* cut short */
    assert_int_equal(truncate(snap, size - 10), 0);
    assert_int_equal(tb_ckpt_open(dir, "Q", &ck, &err), TB_OK);
    assert_int_equal(try_restore(ck, &err), TB_E_CORRUPT);
    assert_non_null(strstr(err.msg, snap));
    tb_ckpt_free(ck);
    /* missing, though the log references it */
    assert_int_equal(unlink(snap), 0);
    assert_int_equal(tb_ckpt_open(dir, "Q", &ck, &err), TB_OK);
    assert_int_equal(try_restore(ck, &err), TB_E_CORRUPT);
    assert_non_null(strstr(err.msg, snap));
    assert_non_null(strstr(err.msg, "referenced by the log"));
    tb_ckpt_free(ck);
    assert_int_equal(rename(copy, snap), 0);
    assert_int_equal(tb_ckpt_open(dir, "Q", &ck, &err), TB_OK);
    assert_int_equal(try_restore(ck, &err), TB_OK);
    tb_ckpt_free(ck);
    rm_rf(dir);
    free(dir);
}

static int setup(void **state)
{
    (void)state;
    g_arena = tb_arena_new(0);
    return g_arena ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tb_arena_free(g_arena);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_changes_replay),
        cmocka_unit_test(test_changes_distinct_and_evict),
        cmocka_unit_test(test_changes_no_keys),
        cmocka_unit_test(test_changes_damaged),
        cmocka_unit_test(test_snapshot_blocks),
        cmocka_unit_test(test_ckpt_changelogs_snapshots),
        cmocka_unit_test(test_ckpt_snapshot_async),
        cmocka_unit_test(test_ckpt_old_records),
        cmocka_unit_test(test_ckpt_state_damage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
