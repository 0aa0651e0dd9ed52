/*
 * state_growth.c - bench case (f) of issue 9 at the state layer: what the streaming
 * runtime does per batch with an aggregate's state and the checkpoint, without the SQL
 * front end (the runtime's datagen source and harness case drive the whole engine).
 *
 * Per batch: the record of batch b (offsets + the commit of b-1 with its changelog:
 * tb_hashagg_serialize_changes), the dirty list cleared, a snapshot when the checkpoint
 * says it is due (as the runtime takes it: copied into memory, then written by the
 * checkpoint's writer thread; `sync` as 4th argument writes it inside the batch, as
 * before), compaction; then ROWS rows each with a new group key (sum(quantity)
 * GROUP BY sale_id) consumed, and the update-mode rows emitted from the dirty list.
 * Deferred sync as for a query whose output stays in the process (synced every 10
 * batches). At the end: batch time medians (batches 2-11 vs the last 10), checkpoint
 * bytes per batch, stateBytes and peak RSS; then restarts in child processes (open,
 * snapshot + changelogs applied to a new aggregate) timed, with their own peak RSS:
 * growing the table as groups come, then presized from the snapshot header's count.
 *
 * Build (release): see bench/README.md; usage: state_growth DIR [BATCHES [ROWS [sync]]]
 *                                              state_growth DIR restart GROUPS [presize]
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec/exec.h"
#include "stream/checkpoint.h"

static double ms_since(int64_t t0) { return (double)(tb_now_ns() - t0) / 1e6; }

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, size_t n)
{
    double *c = malloc(n * sizeof(double));
    double m;
    memcpy(c, v, n * sizeof(double));
    qsort(c, n, sizeof(double), cmp_d);
    m = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
    free(c);
    return m;
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static tb_hashagg *agg_new(tb_arena *arena)
{
    tb_type kt = tb_type_make(TB_T_INT32);
    tb_aggspec a;
    tb_hashagg *agg = NULL;
    tb_err err;
    memset(&a, 0, sizeof(a));
    a.kind = TB_AGG_SUM;
    a.arg = tb_expr_col(arena, 0, tb_type_make(TB_T_INT32));
    a.type = tb_type_make(TB_T_INT64);
    if (tb_hashagg_new(1, &kt, 1, &a, &agg, &err) != TB_OK) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return agg;
}

static void check(tb_rc rc, const tb_err *err)
{
    if (rc != TB_OK) {
        fprintf(stderr, "error: %s\n", err->msg);
        exit(1);
    }
}

static tb_rc put_snap(void *ud, const void *data, size_t len, tb_err *err)
{
    return tb_ckpt_snapshot_put(ud, data, len, err);
}

/* Restart: a new aggregate from the snapshot and the changelogs. */
static int restart(const char *dir, uint64_t want_groups, bool presize)
{
    tb_arena *arena = tb_arena_new(0);
    tb_ckpt *ck = NULL;
    tb_ckpt_restore *r = NULL;
    tb_hashagg *agg = agg_new(arena);
    int64_t t0 = tb_now_ns(), base = -1, batch;
    const char *d;
    size_t n, n_chg = 0, chg_bytes = 0;
    uint64_t snap_bytes = 0;
    tb_err err;
    check(tb_ckpt_open(dir, "bench f", &ck, &err), &err);
    double t_open = ms_since(t0);
    check(tb_ckpt_restore_begin(ck, &r, &err), &err);
    tb_ckpt_restore_base(r, &base);
    if (presize) {
        /* as cq_state.c does: the snapshot header's count, plus as many groups as the
         * changelogs' bytes hold at the snapshot's bytes per group */
        uint64_t groups = tb_ckpt_restore_groups(r);
        struct stat sb;
        char path[600];
        snprintf(path, sizeof(path), "%s/state/snapshot-%lld", dir, (long long)base);
        if (stat(path, &sb) == 0 && sb.st_size > 0)
            groups += (uint64_t)((double)tb_ckpt_changelog_bytes(ck) * (double)groups /
                                 (double)sb.st_size);
        check(tb_hashagg_reserve(agg, groups, &err), &err);
    }
    while (tb_ckpt_restore_snapshot_next(r, &d, &n, &err) == TB_OK && d != NULL) {
        snap_bytes += n;
        check(tb_hashagg_apply_changes(agg, d, n, &err), &err);
    }
    double t_snap = ms_since(t0);
    for (;;) {
        check(tb_ckpt_restore_changelog_next(r, &batch, &d, &n, &err), &err);
        if (d == NULL)
            break;
        n_chg++;
        chg_bytes += n;
        check(tb_hashagg_apply_changes(agg, d, n, &err), &err);
    }
    tb_ckpt_restore_end(r);
    double t_all = ms_since(t0);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("restart (%s): %.0f ms, CPU %.0f ms user + %.0f ms sys, %ld minor faults (open %.0f, snapshot of batch %lld %.1f MB %.0f ms, %zu changelogs "
           "%.1f MB %.0f ms), %llu groups (want %llu), peak RSS %.0f MB, stateBytes %.0f MB\n",
           presize ? "presized" : "growing", t_all,
           ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3,
           ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3, ru.ru_minflt, t_open,
           (long long)base, snap_bytes / 1e6, t_snap - t_open, n_chg,
           chg_bytes / 1e6, t_all - t_snap, (unsigned long long)tb_hashagg_groups(agg),
           (unsigned long long)want_groups, peak_rss_kb() / 1024.0,
           tb_hashagg_bytes(agg) / 1048576.0);
    fflush(stdout);
    int ok = tb_hashagg_groups(agg) == want_groups;
    tb_hashagg_free(agg);
    tb_ckpt_free(ck);
    tb_arena_free(arena);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp/tb-bench-f";
    if (argc > 3 && strcmp(argv[2], "restart") == 0) /* DIR restart GROUPS: only that */
        return restart(dir, strtoull(argv[3], NULL, 10), argc > 4);
    bool in_batch = argc > 4 && strcmp(argv[4], "sync") == 0;
    int n_batches = argc > 2 ? atoi(argv[2]) : 2000;
    uint32_t rows = argc > 3 ? (uint32_t)atoi(argv[3]) : 5000;
    tb_arena *arena = tb_arena_new(0), *out = tb_arena_new(0);
    tb_hashagg *agg = agg_new(arena);
    tb_ckpt *ck = NULL;
    tb_buf chg = {0};
    double *t_batch = calloc((size_t)n_batches, sizeof(double));
    double *t_ckpt = calloc((size_t)n_batches, sizeof(double));
    uint64_t *bytes = calloc((size_t)n_batches, sizeof(uint64_t));
    int n_snaps = 0, inflight_batches = 0;
    int64_t t_submit = 0; /* a snapshot handed to the writer thread, not yet done */
    double writer_ms_max = 0;
    double snap_ms_max = 0, snap_ms_total = 0;
    tb_vec keys, args;
    tb_err err;
    char cmd[600];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    check(tb_ckpt_open(dir, "bench f", &ck, &err), &err);
    tb_ckpt_set_deferred_sync(ck, true);
    check(tb_vec_init(&keys, tb_type_make(TB_T_INT32), rows, arena), &err);
    check(tb_vec_init(&args, tb_type_make(TB_T_INT32), rows, arena), &err);
    for (int b = 0; b < n_batches; b++) {
        int64_t t0 = tb_now_ns();
        tb_ckpt_offsets off = {.batch = b, .watermark_us = b, .has_commit = b > 0};
        json_t *src = json_pack("{s:{s:I}}", "datagen", "to", (json_int_t)(b + 1) * rows);
        off.sources = src;
        chg.len = 0;
        if (b > 0)
            check(tb_hashagg_serialize_changes(agg, &chg, &err), &err);
        off.changelog = chg.data;
        off.changelog_len = chg.len;
        check(tb_ckpt_write_offsets(ck, &off, &err), &err);
        json_decref(src);
        if (t_submit != 0 && !tb_ckpt_snapshot_in_flight(ck)) {
            double ms = ms_since(t_submit);
            fprintf(stderr, "  the writer thread (checksums, write, fsync, rename, next buffer "
                    "touched) ended %.0f ms later, %d batches ran meanwhile\n", ms,
                    inflight_batches);
            if (ms > writer_ms_max)
                writer_ms_max = ms;
            t_submit = 0;
            inflight_batches = 0;
        } else if (t_submit != 0) {
            inflight_batches++;
        }
        tb_hashagg_changes_clear(agg);
        bytes[b] = chg.len;
        if (b > 0 && tb_ckpt_snapshot_due(ck)) {
            int64_t ts = tb_now_ns();
            tb_ckpt_snapshot *snap = NULL;
            if (in_batch)
                check(tb_ckpt_snapshot_begin(ck, b - 1, &snap, &err), &err);
            else
                check(tb_ckpt_snapshot_begin_async(ck, b - 1, &snap, &err), &err);
            tb_ckpt_snapshot_set_groups(snap, tb_hashagg_groups(agg));
            check(tb_hashagg_snapshot(agg, put_snap, snap, &err), &err);
            double ms_image = ms_since(ts);
            if (in_batch)
                check(tb_ckpt_snapshot_finish(snap, &err), &err);
            else
                check(tb_ckpt_snapshot_submit(snap, &err), &err);
            if (!in_batch)
                t_submit = tb_now_ns();
            double ms = ms_since(ts);
            fprintf(stderr, "snapshot of batch %d: %llu groups, %.0f ms in the batch (%.0f ms "
                    "serializing the state)\n", b - 1,
                    (unsigned long long)tb_hashagg_groups(agg), ms, ms_image);
            n_snaps++;
            snap_ms_total += ms;
            if (ms > snap_ms_max)
                snap_ms_max = ms;
        }
        check(tb_ckpt_snapshot_wait(ck, false, &err), &err); /* a failed writer */
        if (b % 10 == 9)
            check(tb_ckpt_sync(ck, &err), &err);
        check(tb_ckpt_maybe_compact(ck, NULL, &err), &err);
        t_ckpt[b] = ms_since(t0);
        for (uint32_t i = 0; i < rows; i++) {
            ((int32_t *)keys.data)[i] = (int32_t)((uint32_t)b * rows + i);
            ((int32_t *)args.data)[i] = (int32_t)(i % 10) + 1;
        }
        check(tb_hashagg_consume(agg, rows, &keys, &args, &err), &err);
        {
            /* update mode: the rows of the groups this batch changed */
            tb_hashagg_iter it;
            uint64_t n_out = 0;
            tb_hashagg_iter_init(&it, TB_HASHAGG_CHANGED, 0, NULL);
            for (;;) {
                tb_batch *batch = NULL;
                tb_arena_reset(out);
                check(tb_hashagg_next(agg, &it, out, &batch, &err), &err);
                if (batch == NULL)
                    break;
                n_out += batch->n_rows;
            }
            if (n_out != rows) {
                fprintf(stderr, "batch %d: %llu rows out\n", b, (unsigned long long)n_out);
                return 1;
            }
        }
        t_batch[b] = ms_since(t0);
        if (b % 200 == 199 || b == n_batches - 1)
            fprintf(stderr, "batch %d: %llu groups, %.2f ms (checkpoint %.2f ms, %llu bytes)\n",
                    b, (unsigned long long)tb_hashagg_groups(agg), t_batch[b], t_ckpt[b],
                    (unsigned long long)bytes[b]);
    }
    /* a snapshot still being written: its end awaited, so that the last record names it
     * (the restart below then reads as much as after a sync run) */
    check(tb_ckpt_snapshot_wait(ck, true, &err), &err);
    /* the last batch's commit on its own (the job stops) */
    chg.len = 0;
    check(tb_hashagg_serialize_changes(agg, &chg, &err), &err);
    check(tb_ckpt_write_commit_changelog(ck, n_batches - 1, chg.data, chg.len, &err), &err);
    check(tb_ckpt_sync(ck, &err), &err);
    tb_hashagg_changes_clear(agg);
    {
        int first = n_batches > 11 ? 2 : 0, nf = n_batches > 11 ? 10 : n_batches;
        int last = n_batches > 10 ? n_batches - 10 : 0;
        double m_first = median(t_batch + first, (size_t)nf);
        double m_last = median(t_batch + last, (size_t)(n_batches - last));
        double c_first = median(t_ckpt + first, (size_t)nf);
        double c_last = median(t_ckpt + last, (size_t)(n_batches - last));
        printf("batches %d x %u rows, groups %llu\n", n_batches, rows,
               (unsigned long long)tb_hashagg_groups(agg));
        printf("median batch ms: batches 2-11 %.2f, last 10 %.2f (ratio %.2f)\n", m_first,
               m_last, m_last / m_first);
        printf("median checkpoint ms (record + snapshot when due + compaction): batches 2-11 "
               "%.3f, last 10 %.3f\n",
               c_first, c_last);
        printf("changelog bytes per batch: batch 2 %llu, batch %d %llu (%.1f bytes per changed "
               "group)\n",
               (unsigned long long)bytes[2], n_batches - 1,
               (unsigned long long)bytes[n_batches - 1], (double)bytes[n_batches - 1] / rows);
        printf("snapshots (%s): %d, %.0f ms in the batches in all (largest %.0f ms): %.3f ms "
               "per batch amortised\n",
               in_batch ? "written inside the batch" : "copied in the batch, written by the thread",
               n_snaps, snap_ms_total, snap_ms_max, snap_ms_total / n_batches);
        if (!in_batch)
            printf("snapshot writes in the writer thread, batches running meanwhile: longest "
                   "%.0f ms\n", writer_ms_max);
        printf("stateBytes %.0f MB, peak RSS %.0f MB (%.2fx)\n",
               tb_hashagg_bytes(agg) / 1048576.0, peak_rss_kb() / 1024.0,
               (peak_rss_kb() / 1024.0) / (tb_hashagg_bytes(agg) / 1048576.0));
        snprintf(cmd, sizeof(cmd), "du -sh '%s/state' '%s/log' '%s/offsets'", dir, dir, dir);
        fflush(stdout);
        if (system(cmd) != 0)
            return 1;
    }
    uint64_t groups = tb_hashagg_groups(agg);
    tb_hashagg_free(agg);
    tb_ckpt_free(ck);
    fflush(stdout);
    int st = 0;
    for (int presize = 0; presize < 2 && (presize == 0 || WIFEXITED(st)); presize++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(restart(dir, groups, presize));
        waitpid(pid, &st, 0);
    }
    tb_buf_free(&chg);
    free(t_batch);
    free(t_ckpt);
    free(bytes);
    tb_arena_free(arena);
    tb_arena_free(out);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
