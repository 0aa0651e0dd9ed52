/*
 * runner.c - the micro-batch loop of continuous queries: running a batch with its
 * checkpoint protocol, sinks, progress; triggers (tb_stream_run, tb_stream_step).
 *
 * One micro-batch of a continuous query (cq), batch id N:
 *   1. input: the files of batch N's offsets if they exist uncommitted (a re-run after a
 *      crash), else new files from the watcher; none -> no batch;
 *   2. batch N's offsets (files + watermark) are appended to the checkpoint log before
 *      anything reads them, in one durable record with the commit of batch N-1 and the
 *      state after it (aggregate groups, watermark, emitted rows), which the cq holds
 *      unchanged until now;
 *   3. the query is planned with the stream table bound to exactly those files and
 *      its top-level aggregate bound to the cq's persistent state (tb_sagg);
 *   4. the result goes to the materialized view (memory) and every sink, which commit
 *      batch N idempotently (Delta: txn {query id, N});
 *   5. batch N's commit is pending: it rides on batch N+1's record, or is appended alone
 *      (with the state) after IDLE_COMMIT_MS without a next batch, or at stop.
 * A kill anywhere leaves either batch N committed or a batch re-run from the state after
 * N-1 with the files of batch N's offsets: nothing lost, nothing repeated. So a batch
 * costs one durable append (one fdatasync), not three atomic files (six fsyncs).
 *
 * Watermark (per source, `watermark = 'ts - 10 seconds'`): the max event time seen
 * minus the delay, advanced after each batch. Rows older than the watermark at the
 * start of a batch are dropped and counted. In append mode, a window is emitted once
 * its end passes the watermark, and then evicted from the state.
 */
#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "stream/stream_int.h"

/*
 * Crash points of a batch for the recovery tests (tb_crash_point, TB_FAULTS builds):
 * TB_CRASH_AT="stream-POINT@N" kills the process when batch N (of the first query to get
 * there) reaches POINT: "offsets" (its record, carrying the previous commit, is appended;
 * nothing ran), "sinks" (every sink committed it; its own commit is pending), "commit"
 * (its commit was appended on its own).
 */
void tb_cq_kill_point(const char *point, int64_t batch)
{
#ifdef TB_FAULTS
    char name[64];
    snprintf(name, sizeof(name), "stream-%s@%" PRId64, point, batch);
    tb_crash_point(name);
#else
    TB_UNUSED(point);
    TB_UNUSED(batch);
#endif
}

static const char *mode_name(out_mode m)
{
    return m == MODE_COMPLETE ? "complete" : m == MODE_APPEND ? "append" : "update";
}

/* ---------------------------------------------------------------- running a batch */

/* Per-batch figures for the progress record. */
typedef struct batch_stats {
    int64_t batch;
    size_t n_files;
    uint64_t rows_in, late, malformed, rows_out, rows_emitted;
    int64_t t_start, t_offsets, t_plan, t_exec, t_sink, t_ckpt, t_end; /* ns */
    int64_t wall_start_us;
} batch_stats;

static tb_rc write_progress(tb_stream *st, cq *q, const batch_stats *bs, const json_t *offsets)
{
    double total_s = (double)(bs->t_end - bs->t_start) / 1e9;
    double exec_s = (double)(bs->t_exec - bs->t_plan) / 1e9;
    char wm[48] = "";
    if (q->watermark != TB_WATERMARK_NONE)
        tb_format_timestamp(q->watermark, wm);
    char ts[48];
    tb_format_timestamp(bs->wall_start_us, ts);
    if (st->opts.progress_fp != NULL || st->opts.on_batch != NULL) {
        json_t *sinks = json_array();
        for (size_t i = 0; i < q->n_sinks; i++)
            json_array_append_new(
                sinks, json_pack("{s:s, s:s, s:s, s:I}", "table", q->sinks[i].table, "type",
                                 q->sinks[i].sink->vt->name, "mode", mode_name(q->sinks[i].mode),
                                 "rowsCommitted", (json_int_t)q->sinks[i].sink->rows_committed));
        json_t *rec = json_pack(
            "{s:s, s:s, s:I, s:s, s:I, s:I, s:f, s:f, s:{s:f, s:f, s:f, s:f, s:f}, s:I, s:I, "
            "s:s?, s:I, s:I, s:I, s:o}",
            "id", tb_ckpt_id(q->ckpt), "name", q->name, "batchId", (json_int_t)bs->batch,
            "timestamp", ts, "numInputFiles", (json_int_t)bs->n_files, "numInputRows",
            (json_int_t)bs->rows_in, "inputRowsPerSecond",
            total_s > 0 ? (double)bs->rows_in / total_s : 0.0, "processedRowsPerSecond",
            exec_s > 0 ? (double)bs->rows_in / exec_s : 0.0, "durationMs", "planning",
            (double)(bs->t_plan - bs->t_offsets) / 1e6, "execution",
            (double)(bs->t_exec - bs->t_plan) / 1e6, "sinks",
            (double)(bs->t_sink - bs->t_exec) / 1e6, "checkpoint",
            (double)(bs->t_offsets - bs->t_start + bs->t_ckpt - bs->t_sink) / 1e6, "total",
            total_s * 1e3, "stateRows",
            (json_int_t)(q->agg ? tb_sagg_groups(q->agg) : 0), "stateBytes",
            (json_int_t)(q->agg ? tb_sagg_bytes(q->agg) : 0), "watermark",
            q->watermark != TB_WATERMARK_NONE ? wm : NULL, "rowsDroppedByWatermark",
            (json_int_t)bs->late, "rowsMalformed", (json_int_t)bs->malformed, "numOutputRows",
            (json_int_t)bs->rows_out, "sinks", sinks);
        /* Spark's sources[]: what the source says of the batch (description, offsets) */
        json_t *srcs = json_array(), *entry = json_object();
        if (rec != NULL && srcs != NULL && entry != NULL) {
            json_object_set_new(entry, "description", json_string(q->tab->name));
            json_object_set(entry, "endOffset", (json_t *)offsets);
            if (q->src->vt->describe != NULL)
                q->src->vt->describe(q->src, offsets, entry);
            json_object_set_new(entry, "numInputRows", json_integer((json_int_t)bs->rows_in));
            json_array_append(srcs, entry);
            json_object_set(rec, "sources", srcs);
            json_object_set_new(rec, "numPlans", json_integer((json_int_t)q->n_plans));
        }
        json_decref(entry);
        json_decref(srcs);
        if (rec != NULL) {
            char *text = json_dumps(rec, JSON_COMPACT);
            if (text != NULL && st->opts.progress_fp != NULL) {
                fprintf(st->opts.progress_fp, "%s\n", text);
                fflush(st->opts.progress_fp);
            }
            /* The servers' hook (issue 11): progress + changed views, outside the write
             * lock (the callback reads the views under the read lock). */
            if (text != NULL && st->opts.on_batch != NULL) {
                const char *views[1] = {q->name};
                st->opts.on_batch(st->opts.on_batch_ud, text, views,
                                 q->mv != NULL || q->view != NULL ? 1 : 0);
            }
            free(text);
            json_decref(rec);
        }
    }
    if (st->opts.summary)
        fprintf(stderr,
                "[%s] batch %" PRId64 ": %" PRIu64 " rows from %zu file%s in %.1f ms (%.0f rows/s)"
                "%s%s, state %" PRIu64 " groups%s%s%s\n",
                q->name, bs->batch, bs->rows_in, bs->n_files, bs->n_files == 1 ? "" : "s",
                total_s * 1e3, total_s > 0 ? (double)bs->rows_in / total_s : 0.0,
                bs->late ? ", late dropped " : "",
                bs->late ? "yes" : "", q->agg ? tb_sagg_groups(q->agg) : 0,
                wm[0] ? ", watermark " : "", wm, bs->malformed ? ", malformed rows!" : "");
    return TB_OK;
}

static size_t sview_bytes(const struct tb_sview *v);

/* Bytes a query holds between batches: its aggregate state, its view and the final
 * rows it keeps (append mode). */
static uint64_t cq_bytes(const cq *q)
{
    uint64_t n = q->agg != NULL ? tb_sagg_bytes(q->agg) : 0;
    if (q->mv != NULL)
        n += tb_table_bytes(q->mv);
    if (q->view != NULL)
        n += sview_bytes(q->view); /* rows last read by a query */
    if (q->emitted != NULL)
        n += tb_table_bytes(q->emitted);
    return n;
}

/* --memory-limit: the streaming state of all queries, checked after each batch of q. */
static tb_rc check_memory(tb_stream *st, cq *q, bool refresh, int64_t batch, tb_err *err)
{
    if (st->opts.memory_limit == 0)
        return TB_OK;
    uint64_t total = 0;
    for (size_t i = 0; i < st->n_cqs; i++)
        total += cq_bytes(st->cqs[i]);
    if (total <= st->opts.memory_limit)
        return TB_OK;
    char others[96] = "";
    if (st->n_cqs > 1)
        snprintf(others, sizeof(others), "; %" PRIu64 " bytes with the other queries", total);
    return TB_ERRF(err, TB_E_LIMIT,
                   "memory limit of %" PRIu64 " bytes exceeded by query %s (state %" PRIu64
                   " bytes%s) %s batch %" PRId64 "; the checkpoint is intact: restart with a "
                   "higher --memory-limit to resume",
                   st->opts.memory_limit, q->name, cq_bytes(q), others,
                   refresh ? "restoring committed" : "in uncommitted", batch);
}

/* Run q's plan as bound now, appending its rows to out. */
static tb_rc execute(cq *q, tb_table *out, uint64_t *out_rows, tb_err *err)
{
    for (;;) {
        tb_batch *b = NULL;
        tb_rc rc = tb_op_next(q->plan->root, &b, err);
        if (rc != TB_OK)
            return rc;
        if (b == NULL)
            return TB_OK;
        if (b->n_rows == 0)
            continue;
        rc = tb_table_append(out, b, err);
        if (rc != TB_OK)
            return rc;
        if (out_rows != NULL)
            *out_rows += b->n_rows;
    }
}

/* The rows of `in` whose window is still open (append mode: the closed ones are final). */
static tb_rc open_rows(cq *q, tb_table *in, tb_table **out, tb_err *err)
{
    tb_op *scan = NULL;
    tb_arena *arena = tb_arena_new(0);
    *out = tb_table_new(tb_table_schema(in));
    tb_rc rc = arena == NULL || *out == NULL ? tb_err_nomem(err)
                                             : tb_table_scan_new(in, NULL, 0, &scan, err);
    while (rc == TB_OK) {
        tb_batch *b = NULL;
        rc = tb_op_next(scan, &b, err);
        if (rc != TB_OK || b == NULL)
            break;
        tb_arena_reset(arena);
        uint32_t *sel = tb_arena_alloc(arena, sizeof(uint32_t) * (b->n_rows + 1));
        tb_batch *ob = NULL;
        uint32_t n = 0;
        const tb_vec *wv = &b->cols[q->win_out_col];
        if (sel == NULL || tb_batch_shell(b->n_cols, arena, &ob) != TB_OK) {
            rc = tb_err_nomem(err);
            break;
        }
        for (uint32_t i = 0; i < b->n_rows; i++)
            if (tb_vec_is_null(wv, i) ||
                TB_VEC_PTR(wv, int64_t)[i] + q->win_size_us > q->watermark)
                sel[n++] = i;
        for (uint32_t j = 0; rc == TB_OK && j < b->n_cols && n > 0; j++) {
            rc = tb_vec_init(&ob->cols[j], b->cols[j].type, n, arena);
            if (rc == TB_OK)
                rc = tb_vec_copy_rows(&ob->cols[j], 0, n, &b->cols[j], sel, n, false, arena);
        }
        if (rc != TB_OK) {
            rc = tb_err_nomem(err);
            break;
        }
        ob->n_rows = ob->cap = n;
        if (n > 0)
            rc = tb_table_append(*out, ob, err);
    }
    tb_op_free(scan);
    tb_arena_free(arena);
    return rc;
}

void tb_cq_committed(cq *q)
{
    if (q->agg != NULL)
        tb_sagg_changes_clear(q->agg); /* in the commit's state now */
    if (q->pending_offsets != NULL && q->src->vt->ack != NULL) {
        tb_err e;
        tb_err_clear(&e);
        if (q->src->vt->ack(q->src, q->pending_offsets, &e) != TB_OK)
            tb_log(TB_LOG_WARN, "%s: acknowledging a committed batch: %s", q->name, e.msg);
    }
    json_decref(q->pending_offsets);
    q->pending_offsets = NULL;
}

/* ---------------------------------------------------------------- prepared plan */

/* The version token of a static relation the plan reads (*out_has false: none). */
static tb_rc rel_version(const tb_plan_rel *r, uint64_t *out_v, bool *out_has, tb_err *err)
{
    *out_has = false;
    if (r->table != NULL) {
        *out_v = tb_table_version(r->table);
        *out_has = true;
        return TB_OK;
    }
    if (r->vt == NULL || r->vt->version == NULL || tb_stream_tab_of(r->vt, r->ud) != NULL)
        return TB_OK;
    *out_has = true;
    tb_rc rc = r->vt->version(r->ud, out_v, err);
    if (rc != TB_OK)
        tb_err_prefix(err, "%s", r->name);
    return rc;
}

/* Note the versions of the relations the new plan reads. */
static tb_rc note_versions(cq *q, tb_err *err)
{
    const tb_plan *plan = q->plan;
    tb_free(q->vers);
    q->vers = NULL;
    q->n_vers = 0;
    if (plan->n_rels == 0)
        return TB_OK;
    q->vers = tb_calloc(plan->n_rels, sizeof(*q->vers));
    if (q->vers == NULL)
        return tb_err_nomem(err);
    for (uint32_t i = 0; i < plan->n_rels; i++) {
        bool has = false;
        uint64_t v = 0;
        tb_rc rc = rel_version(&plan->rels[i], &v, &has, err);
        if (rc != TB_OK)
            return rc;
        if (has)
            q->vers[q->n_vers++] = (rel_ver){i, v};
    }
    return TB_OK;
}

/* Whether a static relation of the plan changed since it was made (*out_name: which). */
static tb_rc versions_moved(cq *q, bool *out_moved, const char **out_name, tb_err *err)
{
    *out_moved = false;
    for (size_t i = 0; i < q->n_vers; i++) {
        const tb_plan_rel *r = &q->plan->rels[q->vers[i].rel];
        bool has = false;
        uint64_t v = 0;
        tb_rc rc = rel_version(r, &v, &has, err);
        if (rc != TB_OK)
            return rc;
        if (has && v != q->vers[i].v) {
            *out_moved = true;
            *out_name = r->name;
            return TB_OK;
        }
    }
    return TB_OK;
}

/*
 * Make q's plan ready to run over q->bi: planned once (tb_cq_prepare) and re-executed
 * batch after batch (tb_op_rescan, the stream scans bound to the batch's input). It is
 * planned again only when a static relation it reads changed (its version token moved:
 * a join's build side is then built again), after a failed batch, or when an operator
 * of it cannot be re-executed (then per batch, as before plans were kept).
 */
static tb_rc bind_plan(tb_stream *st, cq *q, tb_err *err)
{
    tb_rc rc = TB_OK;
    if (q->plan != NULL) {
        bool moved = false;
        const char *what = NULL;
        rc = versions_moved(q, &moved, &what, err);
        if (rc != TB_OK)
            return rc;
        if (moved) {
            tb_log(TB_LOG_INFO, "%s: %s changed: planning the query again", q->name, what);
            tb_plan_free(q->plan);
            q->plan = NULL;
        }
    }
    if (q->plan != NULL && !q->plan_fresh) {
        rc = tb_op_rescan(q->plan->root, err);
        if (rc == TB_E_UNSUPPORTED) {
            if (!q->replan_noted)
                tb_log(TB_LOG_DEBUG, "%s: %s: planned per batch", q->name, err->msg);
            q->replan_noted = true;
            tb_err_clear(err);
            tb_plan_free(q->plan);
            q->plan = NULL;
            rc = TB_OK;
        }
        if (rc != TB_OK)
            return rc;
    }
    if (q->plan == NULL) {
        rc = tb_cq_prepare(st, q, &q->plan, err);
        if (rc == TB_OK)
            rc = note_versions(q, err);
        if (rc != TB_OK) {
            tb_plan_free(q->plan);
            q->plan = NULL;
            return rc;
        }
        q->n_plans++;
    }
    q->plan_fresh = false;
    tb_sscan_bind(q->plan->root, q->tab, &q->bi);
    return TB_OK;
}

/* ---------------------------------------------------------------- aggregating views */

/*
 * Execute q's plan over no input with its aggregate emitting every group, after the
 * rows already final (append mode: closed windows): the query's whole result. O(state):
 * paid by a query of the view (once per batch at most) and by complete-mode sinks,
 * never by a batch otherwise. The caller excludes the batch runner (it holds the db's
 * read lock, or is the runner) and other readers (the view's mutex).
 */
static tb_rc run_whole(tb_stream *st, cq *q, tb_table *out, tb_err *err)
{
    tb_rc rc = q->emitted != NULL ? tb_table_append_all(out, q->emitted, err) : TB_OK;
    if (rc != TB_OK)
        return rc;
    int64_t src_batch = q->src->batch;
    q->bi = (batch_in){.src = q->src, .offsets = NULL, .watermark = q->watermark,
                       .max_ts = INT64_MIN};
    q->src->batch = -1;
    rc = bind_plan(st, q, err);
    if (rc == TB_OK && q->agg != NULL)
        tb_sagg_set_emit(q->agg, TB_HASHAGG_ALL, 0, NULL);
    if (rc == TB_OK)
        rc = execute(q, out, NULL, err);
    q->src->batch = src_batch;
    if (rc != TB_OK && q->plan != NULL) {
        tb_plan_free(q->plan); /* operators left midway */
        q->plan = NULL;
    }
    return rc;
}

/*
 * The view of an aggregating continuous query. Its content is the aggregate's hash
 * table (plus the closed windows of append mode): a batch changes the state under the
 * db's write lock and bumps `gen`; a query of the view (under the read lock, so never
 * during a batch) runs the part of the plan above the aggregate over every group once
 * per generation, into `rows`, which the queries of that generation then scan. So a
 * batch costs O(its rows + the groups it changed) and only queries pay O(state).
 *
 * Why the write lock is held while the aggregate absorbs the batch (rather than folding
 * the batch into a side delta merged under the lock): the batch is small (a micro-batch
 * of rows, not the state), so readers wait about one batch's execution at most, and the
 * state, the plan and the watermark stay one copy with no merge step to get wrong.
 */
typedef struct tb_sview {
    pthread_mutex_t mu; /* rows, rows_gen, refs, q; the plan when a reader runs it */
    int refs;           /* the catalog's entry and the query's */
    tb_stream *st;
    cq *q;              /* NULL once the query is gone: rows are then final */
    tb_table *rows;     /* the view as of generation rows_gen */
    uint64_t gen;       /* bumped under the db write lock by each batch */
    uint64_t rows_gen;
    bool broken;        /* a batch failed midway: the state is not a committed one */
} tb_sview;

static size_t sview_bytes(const tb_sview *v)
{
    return tb_table_bytes(v->rows);
}

/* Bring v->rows to v->gen (v->mu held). */
static tb_rc sview_catch_up(tb_sview *v, tb_err *err)
{
    if (v->q == NULL || v->broken || v->rows_gen == v->gen)
        return TB_OK;
    tb_table *fresh = tb_table_new(tb_table_schema(v->rows));
    if (fresh == NULL)
        return tb_err_nomem(err);
    tb_rc rc = run_whole(v->st, v->q, fresh, err);
    if (rc == TB_OK) {
        tb_table_swap(v->rows, fresh);
        v->rows_gen = v->gen;
    }
    tb_table_free(fresh);
    return rc;
}

static tb_rc sview_open(void *ud, const int *proj, uint32_t n_proj, tb_op **out, tb_err *err)
{
    tb_sview *v = ud;
    pthread_mutex_lock(&v->mu);
    tb_rc rc = sview_catch_up(v, err);
    if (rc == TB_OK)
        rc = tb_table_scan_new(v->rows, proj, n_proj, out, err);
    pthread_mutex_unlock(&v->mu);
    return rc;
}

static void sview_unref(void *ud)
{
    tb_sview *v = ud;
    pthread_mutex_lock(&v->mu);
    bool last = --v->refs == 0;
    pthread_mutex_unlock(&v->mu);
    if (!last)
        return;
    tb_table_free(v->rows);
    pthread_mutex_destroy(&v->mu);
    tb_free(v);
}

static int64_t sview_estimate(void *ud)
{
    tb_sview *v = ud;
    cq *q = v->q;
    if (q == NULL || q->agg == NULL)
        return (int64_t)tb_table_rows(v->rows);
    return (int64_t)(tb_sagg_groups(q->agg) + (q->emitted ? tb_table_rows(q->emitted) : 0));
}

static tb_rc sview_version(void *ud, uint64_t *out, tb_err *err)
{
    TB_UNUSED(err);
    *out = ((tb_sview *)ud)->gen;
    return TB_OK;
}

/* "table": what SHOW TABLES said of these views when they were memory tables. */
const tb_connector_vt tb_sview_vt = {"table", sview_open, sview_unref, sview_estimate,
                                     sview_version};

tb_rc tb_sview_register(tb_stream *st, cq *q, const char *name, tb_err *err)
{
    tb_sview *v = tb_calloc(1, sizeof(*v));
    if (v == NULL || (v->rows = tb_table_new(q->out_schema)) == NULL) {
        tb_free(v);
        return tb_err_nomem(err);
    }
    pthread_mutex_init(&v->mu, NULL);
    v->refs = 2;
    v->st = st;
    v->q = q;
    tb_rc rc = tb_catalog_add_connector(st->db, name, q->out_schema, &tb_sview_vt, v, err);
    if (rc != TB_OK) {
        v->refs = 1;
        sview_unref(v);
        return rc;
    }
    q->view = v;
    return TB_OK;
}

void tb_sview_detach(cq *q)
{
    tb_sview *v = q->view;
    if (v == NULL)
        return;
    pthread_mutex_lock(&v->mu);
    if (v->refs > 1) { /* still in the catalog: keep the last batch's rows */
        tb_err e;
        tb_err_clear(&e);
        if (sview_catch_up(v, &e) != TB_OK)
            tb_log(TB_LOG_WARN, "%s: the view keeps an earlier batch: %s", q->name, e.msg);
    }
    v->q = NULL;
    pthread_mutex_unlock(&v->mu);
    q->view = NULL;
    sview_unref(v);
}

/* The whole result of q for a complete-mode sink: its view's rows, else computed. */
static tb_rc whole_result(tb_stream *st, cq *q, tb_table **owned, tb_table **out, tb_err *err)
{
    tb_rc rc;
    *out = NULL;
    if (q->view != NULL) {
        tb_sview *v = q->view;
        pthread_mutex_lock(&v->mu);
        rc = sview_catch_up(v, err);
        pthread_mutex_unlock(&v->mu);
        /* v->rows changes only at a later generation: after this batch's sinks */
        if (rc == TB_OK)
            *out = v->rows;
        return rc;
    }
    if (*owned == NULL && (*owned = tb_table_new(q->out_schema)) == NULL)
        return tb_err_nomem(err);
    rc = run_whole(st, q, *owned, err);
    if (rc == TB_OK)
        *out = *owned;
    return rc;
}

/* Write `rows` (may be NULL: none) to a sink. */
static tb_rc sink_write_table(tb_sink *sink, tb_table *rows, tb_err *err)
{
    if (rows == NULL)
        return TB_OK;
    tb_op *scan = NULL;
    tb_rc rc = tb_table_scan_new(rows, NULL, 0, &scan, err);
    while (rc == TB_OK) {
        tb_batch *b = NULL;
        rc = tb_op_next(scan, &b, err);
        if (rc != TB_OK || b == NULL)
            break;
        rc = tb_sink_write(sink, b, err);
    }
    tb_op_free(scan);
    return rc;
}

/* ---------------------------------------------------------------- one batch */

tb_rc tb_cq_run_batch(tb_stream *st, cq *q, int64_t batch, const json_t *offsets, bool replay,
                      bool rebuild, tb_err *err)
{
    tb_rc rc = TB_OK;
    tb_table *out = NULL, *closed = NULL, *whole = NULL;
    batch_stats bs = {.batch = batch, .t_start = tb_now_ns(), .wall_start_us = tb_wall_us()};
    bool refresh = offsets == NULL || rebuild;
    bool agg = q->is_agg;
    bool locked = false;
    tb_ssrc *src = q->src;

    if (!refresh && !replay) {
        rc = tb_cq_write_offsets(q, batch, offsets, err);
        if (rc != TB_OK)
            return rc;
    }
    bs.t_offsets = tb_now_ns();
    const json_t *files = json_object_get(offsets, "files");
    bs.n_files = refresh ? 0 : json_array_size(files);
    q->bi = (batch_in){.src = src, .offsets = offsets, .watermark = q->watermark,
                       .max_ts = INT64_MIN};
    memset(&src->stats, 0, sizeof(src->stats));
    src->batch = refresh ? -1 : batch;
    src->query = q->tab->n_readers > 1 ? q->name : NULL;

    /* An aggregating view's queries read the state and run the plan: the batch changes
     * them under the db's write lock, so a query sees the view as of one batch. */
    if (agg && q->view != NULL) {
        tb_db_write_begin(st->db);
        locked = true;
    }
    rc = bind_plan(st, q, err);
    bs.t_plan = tb_now_ns();
    if (rc != TB_OK)
        goto done;
    if (agg && refresh) {
        /* Restart: the restored state is the view; its groups are not changes of the
         * next batch. Nothing runs (the view's queries run the plan over the state). */
        if (q->agg != NULL)
            tb_sagg_changes_clear(q->agg);
        if (q->view != NULL)
            q->view->gen++;
        if (locked)
            tb_db_write_end(st->db);
        locked = false;
        bs.t_exec = tb_now_ns();
        rc = check_memory(st, q, refresh, batch, err);
        goto done;
    }
    /* What the batch emits: its rows, or the groups it changed (the aggregate's dirty
     * list): O(batch + changed groups), whatever the state holds. */
    out = tb_table_new(q->plan->root->schema);
    if (out == NULL) {
        rc = tb_err_nomem(err);
        goto done;
    }
    if (agg && q->agg != NULL)
        tb_sagg_set_emit(q->agg, TB_HASHAGG_CHANGED, 0, NULL);
    rc = execute(q, out, NULL, err);
    if (agg && q->agg != NULL)
        tb_sagg_set_emit(q->agg, TB_HASHAGG_ALL, 0, NULL);
    if (rc != TB_OK)
        goto done;
    bs.t_exec = tb_now_ns();
    batch_in bi = q->bi;
    q->bi.offsets = NULL; /* the caller's; the plan now reads no input */
    bs.rows_in = bi.rows;
    bs.late = bi.late;
    bs.malformed = src->stats.rows_malformed;
    if (q->tab->wm_col >= 0 && bi.max_ts != INT64_MIN) {
        int64_t wm = bi.max_ts - q->tab->wm_delay_us;
        if (q->watermark == TB_WATERMARK_NONE || wm > q->watermark)
            q->watermark = wm;
    }

    bool append_agg = agg && q->mode == MODE_APPEND;
    if (append_agg && q->watermark != TB_WATERMARK_NONE && q->agg != NULL &&
        q->win_group >= 0) {
        /* The windows the watermark closed are final: the plan again over no input,
         * its aggregate emitting those groups; then they are evicted from the state and
         * kept as emitted rows. O(open windows), which the watermark bounds. */
        tb_value bound = {.type = tb_type_make(TB_T_TIMESTAMP), .is_null = false};
        bound.u.i = q->watermark - q->win_size_us + 1;
        closed = tb_table_new(q->plan->root->schema);
        if (closed == NULL) {
            rc = tb_err_nomem(err);
            goto done;
        }
        tb_sagg_set_emit(q->agg, TB_HASHAGG_BELOW, (uint32_t)q->win_group, &bound);
        rc = bind_plan(st, q, err);
        if (rc == TB_OK)
            rc = execute(q, closed, NULL, err);
        tb_sagg_set_emit(q->agg, TB_HASHAGG_ALL, 0, NULL);
        if (rc == TB_OK)
            rc = tb_sagg_evict_before(q->agg, (uint32_t)q->win_group, bound.u.i, err);
        if (rc == TB_OK)
            rc = tb_table_append_all(q->emitted, closed, err);
        if (rc != TB_OK)
            goto done;
        bs.rows_emitted = tb_table_rows(closed);
        tb_table *open = NULL;
        rc = open_rows(q, out, &open, err); /* the changed groups still open */
        tb_table_free(out);
        out = open;
        if (rc != TB_OK)
            goto done;
    }
    bs.rows_out = tb_table_rows(out) + (closed != NULL ? tb_table_rows(closed) : 0);

    /* Materialized view: an aggregating one is the state (a new generation for its
     * queries); a non-aggregating one gets the batch's rows appended. */
    if (q->view != NULL) {
        q->view->gen++;
    } else if (q->mv != NULL && (!refresh || rebuild)) {
        tb_db_write_begin(st->db);
        rc = tb_table_append_all(q->mv, out, err);
        tb_db_write_end(st->db);
        if (rc != TB_OK)
            goto done;
    }
    if (locked) {
        tb_db_write_end(st->db);
        locked = false;
    }

    rc = check_memory(st, q, refresh, batch, err);
    if (rc != TB_OK)
        goto done; /* batch N stays uncommitted: a restart with a higher limit re-runs it */
    if (refresh)
        goto done; /* restart: sinks already have every batch */
    if (q->n_sinks > 0 && tb_ckpt_dirty_since(q->ckpt) != 0) {
        rc = tb_ckpt_sync(q->ckpt, err); /* the batch's offsets before any output of it */
        if (rc != TB_OK)
            goto done;
    }

    for (size_t s = 0; s < q->n_sinks; s++) {
        sink_ref *sr = &q->sinks[s];
        tb_table *rows = out; /* update mode, and append mode without aggregate */
        bool replace = false;
        if (sr->mode == MODE_COMPLETE) {
            replace = true;
            /* the whole result: O(state), what complete mode means */
            if (agg)
                rc = whole_result(st, q, &whole, &rows, err);
        } else if (sr->mode == MODE_APPEND && agg) {
            rows = closed; /* final windows only */
        }
        sr->sink->src_offsets = offsets; /* the Delta sink's per-partition txns */
        if (rc == TB_OK)
            rc = tb_sink_begin(sr->sink, batch, replace, err);
        if (rc == TB_OK)
            rc = sink_write_table(sr->sink, rows, err);
        if (rc == TB_OK)
            rc = tb_sink_commit(sr->sink, batch, err);
        if (rc != TB_OK) {
            sr->sink->vt->abort(sr->sink);
            tb_err_prefix(err, "sink %s", sr->table);
            goto done;
        }
    }
    bs.t_sink = tb_now_ns();

    /* Every sink has batch N: its commit (with the state now held) is written with the
     * next batch's offsets, or on its own when the job idles or stops (cq_flush). */
    q->pending_commit = batch;
    json_decref(q->pending_offsets);
    q->pending_offsets = json_incref((json_t *)offsets);
    q->pending_since_ns = tb_now_ns();
    tb_cq_kill_point("sinks", batch);
    q->total_rows += bs.rows_in;
    tb_db_write_begin(st->db); /* the cascade's views change too (issue 11) */
    rc = tb_stream_refresh_derived(st, q, q->mv != NULL ? out : NULL, err);
    tb_db_write_end(st->db);
    if (rc != TB_OK)
        goto done;
    bs.t_ckpt = bs.t_end = tb_now_ns();
    write_progress(st, q, &bs, offsets);
done:
    src->batch = -1;
    q->bi.offsets = NULL;
    if (rc != TB_OK && q->view != NULL && !refresh)
        q->view->broken = true; /* the state may hold part of the batch: keep the rows */
    if (locked)
        tb_db_write_end(st->db);
    if (rc != TB_OK && q->plan != NULL) {
        /* a failed execution leaves operators midway: start from a new plan */
        tb_plan_free(q->plan);
        q->plan = NULL;
    }
    tb_table_free(out);
    tb_table_free(closed);
    tb_table_free(whole);
    return rc;
}

static tb_rc cq_step(tb_stream *st, cq *q, int timeout_ms, bool *out_ran, bool *out_more,
                     tb_err *err)
{
    json_t *offsets = NULL;
    bool more = false;
    *out_ran = false;
    if (out_more != NULL)
        *out_more = false;
    if (q->failed)
        return TB_ERRF(err, TB_E_MISUSE,
                       "%s: batch %" PRId64 " failed; restart the job to resume from the "
                       "checkpoint",
                       q->name, q->next_batch);
    tb_rc rc = q->src->vt->plan(q->src, timeout_ms, &offsets, &more, err);
    if (rc == TB_OK && offsets == NULL && q->pending_commit >= 0 &&
        tb_now_ns() - q->pending_since_ns >= (int64_t)IDLE_COMMIT_MS * 1000000)
        rc = tb_cq_flush(q, err);
    /* deferred sync: when nothing is waiting, or when the oldest unsynced record is old */
    int64_t dirty = tb_ckpt_dirty_since(q->ckpt);
    if (rc == TB_OK && dirty != 0 &&
        (offsets == NULL || tb_now_ns() - dirty >= (int64_t)SYNC_DEFER_MS * 1000000))
        rc = tb_ckpt_sync(q->ckpt, err);
    if (rc == TB_OK && offsets != NULL) {
        rc = tb_cq_run_batch(st, q, q->next_batch, offsets, false, false, err);
        if (rc == TB_OK) {
            q->next_batch++;
            *out_ran = true;
            if (out_more != NULL)
                *out_more = more;
        } else {
            q->failed = true; /* its input is taken, the state may hold part of it */
        }
    }
    json_decref(offsets);
    if (rc != TB_OK)
        tb_err_prefix(err, "%s", q->name);
    return rc;
}

static tb_rc start_all(tb_stream *st, tb_err *err)
{
    bool started = false;
    for (size_t i = 0; i < st->n_cqs; i++) {
        if (st->cqs[i]->started)
            continue;
        tb_rc rc = tb_cq_start(st, st->cqs[i], err);
        if (rc != TB_OK)
            return tb_err_prefix(err, "%s", st->cqs[i]->name);
        started = true;
    }
    return started ? tb_stream_refresh_derived(st, NULL, NULL, err) : TB_OK;
}

tb_rc tb_stream_step(tb_stream *st, int timeout_ms, uint32_t *out_ran, tb_err *err)
{
    *out_ran = 0;
    tb_rc rc = start_all(st, err);
    for (size_t i = 0; rc == TB_OK && i < st->n_cqs; i++) {
        bool ran = false;
        cq *q = st->cqs[i];
        rc = cq_step(st, q, i == 0 ? timeout_ms : 0, &ran, NULL, err);
        *out_ran += ran;
    }
    return rc;
}

static void sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

tb_rc tb_stream_run(tb_stream *st, volatile sig_atomic_t *stop, tb_err *err)
{
    if (st->n_cqs == 0)
        return TB_ERRF(err, TB_E_MISUSE,
                       "the job declares no continuous query (CREATE MATERIALIZED VIEW over a "
                       "stream, or INSERT INTO a sink SELECT ... FROM a stream)");
    tb_rc rc = start_all(st, err);
    if (rc != TB_OK)
        return rc;
    int64_t t0 = tb_now_ns() / 1000000;
    int64_t next_tick = t0 + (st->opts.tick_every_ms > 0 ? st->opts.tick_every_ms : 5000);
    int64_t last_input = t0;
    int64_t next_trigger = t0;
    bool once_done = false;
    while (rc == TB_OK && (stop == NULL || !*stop)) {
        int64_t now = tb_now_ns() / 1000000;
        if (st->opts.stop_after_ms > 0 && now - t0 >= st->opts.stop_after_ms)
            break;
        if (st->opts.idle_stop_ms > 0 && now - last_input >= st->opts.idle_stop_ms)
            break;
        if (st->opts.tick != NULL && now >= next_tick) {
            st->opts.tick(st->opts.tick_ud, st->db);
            next_tick = now + st->opts.tick_every_ms;
        }
        uint32_t ran = 0;
        switch (st->opts.trigger) {
        case TB_TRIGGER_ONCE:
            for (size_t i = 0; rc == TB_OK && i < st->n_cqs; i++) {
                bool r = false;
                st->cqs[i]->src->plan_all = true;
                rc = cq_step(st, st->cqs[i], 0, &r, NULL, err);
                st->cqs[i]->src->plan_all = false;
            }
            once_done = true;
            break;
        case TB_TRIGGER_AVAILABLE_NOW:
            rc = tb_stream_step(st, 0, &ran, err);
            once_done = ran == 0;
            break;
        case TB_TRIGGER_CONTINUOUS:
            rc = tb_stream_step(st, 20, &ran, err);
            break;
        case TB_TRIGGER_INTERVAL:
        default:
            if (now < next_trigger) {
                sleep_ms(TB_MIN(next_trigger - now, 50));
                continue;
            }
            next_trigger = now + st->opts.interval_ms;
            rc = tb_stream_step(st, 0, &ran, err);
            break;
        }
        if (ran > 0)
            last_input = tb_now_ns() / 1000000;
        if (once_done)
            break;
    }
    /* Commit what ran (after an error too: a pending commit is of a batch that
     * completed; the failed batch's own offsets already carried it). */
    tb_err e2;
    tb_err_clear(&e2);
    tb_rc frc = tb_stream_flush(st, rc == TB_OK ? err : &e2);
    if (rc == TB_OK)
        rc = frc;
    else if (frc != TB_OK)
        tb_log(TB_LOG_WARN, "stopping after an error: %s", e2.msg);
    if (st->opts.tick != NULL)
        st->opts.tick(st->opts.tick_ud, st->db);
    return rc;
}

tb_rc tb_stream_flush(tb_stream *st, tb_err *err)
{
    tb_rc rc = TB_OK;
    for (size_t i = 0; i < st->n_cqs; i++) {
        tb_rc r = tb_cq_flush(st->cqs[i], err);
        if (r == TB_OK && st->cqs[i]->ckpt != NULL)
            r = tb_ckpt_sync(st->cqs[i]->ckpt, err);
        if (r != TB_OK && rc == TB_OK) {
            rc = r;
            tb_err_prefix(err, "%s", st->cqs[i]->name);
        }
    }
    return rc;
}

