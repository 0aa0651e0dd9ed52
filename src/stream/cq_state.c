/*
 * cq_state.c - the state of a continuous query and its checkpoint: the state image
 * carried by a commit (aggregate groups, watermark, emitted rows), the writes of a
 * batch's offsets and commit, and the restore at start (state, files seen, view rebuild,
 * re-run of an uncommitted batch).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "format/csv.h"
#include "stream/stream_int.h"

/* ---------------------------------------------------------------- state images */

/*
 * State image (carried by a commit): "TBCQ" u32 version, i64 watermark, u64 len + agg state bytes,
 * u64 len + emitted rows (CSV text of the emitted table, append mode).
 */
static tb_rc csv_to_table(const char *data, size_t len, tb_table *t, tb_err *err)
{
    tb_csv_opts *opts = tb_csv_opts_new();
    tb_source *src = NULL;
    tb_arena *arena = tb_arena_new(0);
    const tb_schema *schema = tb_table_schema(t);
    int *proj = tb_malloc(sizeof(int) * (schema->n + 1));
    tb_rc rc = TB_OK;
    if (opts == NULL || arena == NULL || proj == NULL) {
        rc = tb_err_nomem(err);
        goto done;
    }
    for (uint32_t i = 0; i < schema->n; i++)
        proj[i] = (int)i;
    if ((rc = tb_csv_opts_set(opts, "header", "false", err)) != TB_OK ||
        (rc = tb_csv_opts_set(opts, "mode", "failfast", err)) != TB_OK)
        goto done;
    rc = tb_csv_source_from_buffer("checkpoint state", data, len, opts, schema, proj,
                                   schema->n, &src, err);
    while (rc == TB_OK) {
        tb_batch *b = NULL;
        tb_arena_reset(arena);
        rc = tb_source_next(src, arena, &b, err);
        if (rc != TB_OK || b == NULL)
            break;
        rc = tb_table_append(t, b, err);
    }
done:
    tb_source_free(src);
    tb_arena_free(arena);
    tb_csv_opts_free(opts);
    tb_free(proj);
    return rc;
}

/* Bring q->emitted_csv up to date: encode the rows emitted since it was last done. */
static tb_rc emitted_catch_up(cq *q, tb_err *err)
{
    uint64_t total = tb_table_rows(q->emitted);
    if (total == q->emitted_rows)
        return TB_OK;
    if (total < q->emitted_rows) { /* not append only after all: start over */
        q->emitted_csv.len = 0;
        q->emitted_rows = 0;
    }
    uint64_t skip = q->emitted_rows;
    tb_op *scan = NULL;
    tb_arena *arena = tb_arena_new(0);
    tb_rc rc = arena == NULL ? tb_err_nomem(err) : tb_table_scan_new(q->emitted, NULL, 0, &scan, err);
    while (rc == TB_OK) {
        tb_batch *b = NULL;
        rc = tb_op_next(scan, &b, err);
        if (rc != TB_OK || b == NULL)
            break;
        if (skip >= b->n_rows) {
            skip -= b->n_rows;
            continue;
        }
        if (skip > 0) { /* the rows from `skip` on of this batch */
            uint32_t n = b->n_rows - (uint32_t)skip;
            uint32_t *sel = tb_arena_alloc(arena, sizeof(uint32_t) * n);
            tb_batch *part = NULL;
            rc = sel == NULL ? TB_E_NOMEM : tb_batch_shell(b->n_cols, arena, &part);
            for (uint32_t i = 0; rc == TB_OK && i < n; i++)
                sel[i] = (uint32_t)skip + i;
            for (uint32_t j = 0; rc == TB_OK && j < b->n_cols; j++) {
                rc = tb_vec_init(&part->cols[j], b->cols[j].type, n, arena);
                if (rc == TB_OK)
                    rc = tb_vec_copy_rows(&part->cols[j], 0, n, &b->cols[j], sel, n, false,
                                          arena);
            }
            if (rc != TB_OK) {
                rc = tb_err_nomem(err);
                break;
            }
            part->n_rows = part->cap = n;
            b = part;
            skip = 0;
        }
        rc = tb_csv_write_batch(b, &q->emitted_csv, err);
    }
    tb_op_free(scan);
    tb_arena_free(arena);
    if (rc == TB_OK)
        q->emitted_rows = total;
    else { /* partly appended: encode everything again next time */
        q->emitted_csv.len = 0;
        q->emitted_rows = 0;
    }
    return rc;
}

static tb_rc cq_state_image(cq *q, tb_buf *img, tb_err *err)
{
    tb_buf agg = {0};
    tb_rc rc = TB_OK;
    uint32_t version = 1;
    if (q->agg != NULL)
        rc = tb_sagg_serialize(q->agg, &agg, err);
    if (rc == TB_OK && q->emitted != NULL)
        rc = emitted_catch_up(q, err);
    uint64_t la = agg.len, le = q->emitted != NULL ? q->emitted_csv.len : 0;
    if (rc == TB_OK &&
        (tb_buf_append(img, "TBCQ", 4) || tb_buf_append(img, &version, 4) ||
         tb_buf_append(img, &q->watermark, 8) || tb_buf_append(img, &la, 8) ||
         (la && tb_buf_append(img, agg.data, la)) || tb_buf_append(img, &le, 8) ||
         (le && tb_buf_append(img, q->emitted_csv.data, le))))
        rc = tb_err_nomem(err);
    tb_buf_free(&agg);
    return rc;
}

static tb_rc cq_load_state(cq *q, const char *data, size_t len, const char *what,
                           tb_err *err)
{
    uint32_t version;
    uint64_t la, le;
    if (len < 24 || memcmp(data, "TBCQ", 4) != 0)
        return TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s is not a query state", what);
    memcpy(&version, data + 4, 4);
    memcpy(&q->watermark, data + 8, 8);
    memcpy(&la, data + 16, 8);
    if (version != 1 || la > len - 24)
        return TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s: bad version or length", what);
    const char *p = data + 24;
    if (la > 0) {
        q->restore = tb_malloc(la);
        if (q->restore == NULL)
            return tb_err_nomem(err);
        memcpy(q->restore, p, la);
        q->restore_len = la;
    }
    p += la;
    if ((size_t)(data + len - p) < 8)
        return TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s: truncated", what);
    memcpy(&le, p, 8);
    p += 8;
    if (le > (size_t)(data + len - p))
        return TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s: truncated", what);
    if (le > 0 && q->emitted != NULL) {
        tb_rc rc = csv_to_table(p, le, q->emitted, err);
        q->emitted_csv.len = 0;
        q->emitted_rows = 0;
        if (rc == TB_OK && tb_buf_append(&q->emitted_csv, p, le) == TB_OK)
            q->emitted_rows = tb_table_rows(q->emitted); /* these bytes encode exactly them */
        return rc;
    }
    return TB_OK;
}

/* ---------------------------------------------------------------- checkpoint writes */
/* Append the pending commit on its own, with the state held now. */
tb_rc tb_cq_flush(cq *q, tb_err *err)
{
    if (q->pending_commit < 0 || q->failed)
        return TB_OK;
    tb_buf img = {0};
    tb_rc rc = cq_state_image(q, &img, err);
    if (rc == TB_OK)
        rc = tb_ckpt_write_commit_state(q->ckpt, q->pending_commit, img.data, img.len, err);
    tb_buf_free(&img);
    if (rc != TB_OK)
        return rc;
    tb_cq_kill_point("commit", q->pending_commit);
    q->pending_commit = -1;
    if (q->agg != NULL)
        tb_sagg_changes_clear(q->agg); /* in the commit's state now */
    tb_err e2;
    tb_err_clear(&e2);
    if (tb_ckpt_maybe_compact(q->ckpt, NULL, &e2) != TB_OK)
        tb_log(TB_LOG_WARN, "%s: checkpoint compaction failed (retried later): %s", q->name,
               e2.msg);
    return TB_OK;
}

/*
 * Batch N's offsets (the source's JSON, stored under the stream's name), written before
 * anything reads them. When batch N-1 is pending, the record also carries its commit
 * and the state held now (the state after N-1): one durable write is both the intent of
 * N and the commit of N-1.
 */
tb_rc tb_cq_write_offsets(cq *q, int64_t batch, const json_t *offsets, tb_err *err)
{
    tb_ckpt_offsets off = {.batch = batch, .watermark_us = q->watermark};
    tb_buf img = {0};
    tb_rc rc = TB_OK;
    if (q->pending_commit >= 0 && q->pending_commit != batch - 1)
        rc = tb_cq_flush(q, err); /* not the batch before: it cannot ride along */
    if (rc == TB_OK &&
        ((off.sources = json_object()) == NULL ||
         json_object_set(off.sources, q->tab->name, (json_t *)offsets) != 0))
        rc = tb_err_nomem(err);
    if (rc == TB_OK && q->pending_commit >= 0) {
        rc = cq_state_image(q, &img, err);
        off.has_commit = true;
        off.state = img.data; /* borrowed */
        off.state_len = img.len;
    }
    if (rc == TB_OK)
        rc = tb_ckpt_write_offsets(q->ckpt, &off, err);
    bool off_commit = off.has_commit;
    off.state = NULL;
    tb_ckpt_offsets_clear(&off);
    tb_buf_free(&img);
    if (rc != TB_OK)
        return rc;
    tb_cq_kill_point("offsets", batch);
    if (off_commit && q->agg != NULL)
        tb_sagg_changes_clear(q->agg); /* in the commit's state now */
    q->pending_commit = -1;
    tb_err e2;
    tb_err_clear(&e2);
    if (tb_ckpt_maybe_compact(q->ckpt, NULL, &e2) != TB_OK)
        tb_log(TB_LOG_WARN, "%s: checkpoint compaction failed (retried later): %s", q->name,
               e2.msg);
    return TB_OK;
}

/*
 * The offsets of q's source in a checkpoint record (a new reference): its entry of the
 * record's "sources", or, in a record of an older release, its "files" list as the files
 * source's offsets.
 */
static tb_rc record_offsets(cq *q, const tb_ckpt_offsets *off, json_t **out, tb_err *err)
{
    *out = NULL;
    if (off->sources != NULL) {
        json_t *o = json_object_get(off->sources, q->tab->name);
        if (o == NULL)
            return TB_ERRF(err, TB_E_CORRUPT,
                           "checkpoint of %s: batch %" PRId64 " has no offsets of stream %s",
                           q->name, off->batch, q->tab->name);
        *out = json_incref(o);
        return TB_OK;
    }
    json_t *files = json_array();
    for (size_t i = 0; files != NULL && i < off->files.n; i++)
        if (json_array_append_new(files, json_string(off->files.items[i])) != 0) {
            json_decref(files);
            files = NULL;
        }
    *out = files != NULL ? json_pack("{s:o}", "files", files) : NULL;
    return *out != NULL ? TB_OK : tb_err_nomem(err);
}

/*
 * A non-aggregating view holds every row so far but its rows are not in the state
 * (that would rewrite the whole view at every batch): at restart, committed batch
 * off->batch is re-read into the view alone, with the watermark it ran with, so the
 * view gets exactly the rows it had. Input gone since is skipped with a warning.
 */
static tb_rc rebuild_view(tb_stream *st, cq *q, const tb_ckpt_offsets *off,
                          const json_t *offsets, tb_err *err)
{
    int64_t wm = q->watermark; /* from the state: the one to keep */
    q->watermark = off->watermark_us;
    tb_rc rc = tb_cq_run_batch(st, q, off->batch, offsets, true, true, err);
    q->watermark = wm;
    return rc;
}

/* What cq_start gathers from the checkpoint's batches. */
typedef struct start_scan {
    tb_stream *st;
    cq *q;
    int64_t commit; /* last committed batch */
    json_t *replay; /* offsets of the uncommitted batch */
} start_scan;

static tb_rc start_batch(void *ud, const tb_ckpt_offsets *off, tb_err *err)
{
    start_scan *ss = ud;
    cq *q = ss->q;
    json_t *offsets = NULL;
    tb_rc rc = record_offsets(q, off, &offsets, err);
    /* Every batch with offsets was (or is being) read: the source moves past it. */
    if (rc == TB_OK)
        rc = q->src->vt->restore(q->src, offsets, err);
    if (rc == TB_OK && off->batch > ss->commit) {
        json_decref(ss->replay);
        ss->replay = json_incref(offsets);
    }
    if (off->batch <= ss->commit && rc == TB_OK && q->mv != NULL && !q->is_agg)
        rc = rebuild_view(ss->st, q, off, offsets, err);
    json_decref(offsets);
    return rc;
}

/* Restore q from its checkpoint and re-run an uncommitted batch. */
tb_rc tb_cq_start(tb_stream *st, cq *q, tb_err *err)
{
    tb_rc rc;
    /* Nothing of this query leaves the process: its records need not be durable before
     * its batches run (see tb_ckpt_set_deferred_sync). */
    tb_ckpt_set_deferred_sync(q->ckpt, !st->opts.sync_every_batch && q->n_sinks == 0 &&
                                           !q->src->writes_files);
    int64_t c = tb_ckpt_last_commit(q->ckpt);
    int64_t last_off = tb_ckpt_last_offsets(q->ckpt);
    if (c >= 0) {
        char *data = NULL;
        size_t len = 0;
        rc = tb_ckpt_read_state(q->ckpt, c, &data, &len, err);
        if (rc == TB_OK)
            rc = cq_load_state(q, data, len, "state", err);
        tb_free(data);
        if (rc != TB_OK)
            return rc;
    }
    start_scan ss = {st, q, c, NULL};
    rc = tb_ckpt_scan(q->ckpt, start_batch, &ss, err);
    if (rc != TB_OK) {
        json_decref(ss.replay);
        return rc;
    }
    q->next_batch = c + 1;
    if (c >= 0) {
        /* rebuild the view from the state */
        rc = tb_cq_run_batch(st, q, c, NULL, false, false, err);
        if (rc != TB_OK) {
            json_decref(ss.replay);
            return rc;
        }
    }
    if (last_off > c && ss.replay != NULL) {
        tb_log(TB_LOG_INFO, "%s: re-running uncommitted batch %" PRId64 " (%zu files)", q->name,
               c + 1, json_array_size(json_object_get(ss.replay, "files")));
        rc = tb_cq_run_batch(st, q, c + 1, ss.replay, true, false, err);
        q->next_batch = c + 2;
        q->failed = rc != TB_OK;
    }
    json_decref(ss.replay);
    q->started = true;
    return rc;
}

