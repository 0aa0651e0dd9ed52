/*
 * cq_state.c - the state of a continuous query and its checkpoint: the changelog carried
 * by a commit, the snapshots, the writes of a batch's offsets and commit, and the restore
 * at start (state, files seen, view rebuild, re-run of an uncommitted batch).
 *
 * Incremental checkpoint (issue 9): a commit carries the batch's changelog, O(what the
 * batch changed):
 *   "TBCC", u32 version 1, i64 watermark after the batch,
 *   u64 length + the aggregate's change set (tb_hashagg_serialize_changes: the groups
 *       the batch changed, whole, and the windows it evicted; empty without aggregate),
 *   u8 1 when the emitted rows below replace every earlier one (else they follow them),
 *   u64 length + CSV text of the rows the batch emitted (append mode).
 * The aggregate's dirty list is cleared once the changelog is written. When the
 * checkpoint says a snapshot is due (tb_ckpt_snapshot_due: the changelogs since the last
 * one outweigh it), the state after the commit is written whole, in records:
 *   "TBCS", u32 version 1, i64 watermark;
 *   'E' + CSV text of emitted rows (chunks of up to 4 MB);
 *   'A' + one block of the aggregate's snapshot (tb_hashagg_snapshot).
 * Restart reads the snapshot (or an older release's whole image, "TBCQ") and the
 * changelogs after it: O(snapshot + changelogs). The aggregate does not exist before the
 * query's first plan: its blocks and change sets wait in q->restore_chg, applied by
 * tb_cq_restore_agg when the plan creates it.
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

/* ---------------------------------------------------------------- changelogs */

static tb_hashagg *cq_hashagg(cq *q)
{
    return q->agg != NULL ? tb_sagg_hashagg(q->agg) : NULL;
}

/* The changelog of the batch that ran last (see the top of the file). */
static tb_rc cq_changelog(cq *q, tb_buf *out, tb_err *err)
{
    tb_hashagg *ha = cq_hashagg(q);
    uint32_t version = 1;
    uint64_t la = 0, le = 0;
    uint8_t reset = 0;
    size_t at;
    tb_rc rc = TB_OK;
    if (q->emitted != NULL)
        rc = emitted_catch_up(q, err);
    if (rc != TB_OK)
        return rc;
    if (q->emitted_logged > q->emitted_csv.len) { /* encoded again from the start */
        reset = 1;
        q->emitted_logged = 0;
    }
    if (q->emitted != NULL)
        le = q->emitted_csv.len - q->emitted_logged;
    if (tb_buf_append(out, "TBCC", 4) || tb_buf_append(out, &version, 4) ||
        tb_buf_append(out, &q->watermark, 8) || tb_buf_append(out, &la, 8))
        return tb_err_nomem(err);
    at = out->len;
    if (ha != NULL && (rc = tb_hashagg_serialize_changes(ha, out, err)) != TB_OK)
        return rc;
    la = out->len - at;
    memcpy(out->data + at - 8, &la, 8);
    if (tb_buf_append(out, &reset, 1) || tb_buf_append(out, &le, 8) ||
        (le > 0 && tb_buf_append(out, q->emitted_csv.data + q->emitted_logged, le)))
        return tb_err_nomem(err);
    return TB_OK;
}

/* The changelog is in the log: what it holds is no longer a change. */
static void cq_changes_written(cq *q)
{
    tb_hashagg *ha = cq_hashagg(q);
    if (ha != NULL)
        tb_hashagg_changes_clear(ha);
    q->emitted_logged = q->emitted_csv.len;
}

typedef struct snap_put {
    tb_ckpt_snapshot *snap;
    tb_buf rec;
} snap_put;

/* An aggregate snapshot block as an 'A' record. */
static tb_rc put_agg_block(void *ud, const void *data, size_t len, tb_err *err)
{
    snap_put *sp = ud;
    return tb_ckpt_snapshot_put_tagged(sp->snap, 'A', data, len, err);
}

/*
 * The state now (after the last commit) as a snapshot: its records copied into memory
 * here (the image of the state at this commit), then written, checksummed and fsynced by
 * the checkpoint's writer thread while the next batches run (issue 9: a 269 MB snapshot
 * written inside its batch stalled it 10.9 s).
 */
static tb_rc cq_snapshot(cq *q, tb_err *err)
{
    int64_t batch = tb_ckpt_last_commit(q->ckpt);
    tb_hashagg *ha = cq_hashagg(q);
    snap_put sp = {NULL, {0}};
    uint32_t version = 1;
    tb_rc rc = tb_ckpt_snapshot_begin_async(q->ckpt, batch, &sp.snap, err);
    if (rc != TB_OK)
        return rc;
    if (ha != NULL) /* the restore sizes the aggregate's table once */
        tb_ckpt_snapshot_set_groups(sp.snap, tb_hashagg_groups(ha));
    if (tb_buf_append(&sp.rec, "TBCS", 4) || tb_buf_append(&sp.rec, &version, 4) ||
        tb_buf_append(&sp.rec, &q->watermark, 8))
        rc = tb_err_nomem(err);
    if (rc == TB_OK)
        rc = tb_ckpt_snapshot_put(sp.snap, sp.rec.data, sp.rec.len, err);
    if (rc == TB_OK && q->emitted != NULL)
        rc = emitted_catch_up(q, err);
    for (size_t off = 0; rc == TB_OK && q->emitted != NULL && off < q->emitted_csv.len;) {
        /* chunks end at a row's end (a CSV line: emitted rows hold no newline unquoted,
         * so cut after a newline that ends a row: csv_to_table reads each chunk alone) */
        size_t n = q->emitted_csv.len - off, cap = (size_t)4 << 20;
        if (n > cap) {
            const char *base = q->emitted_csv.data + off;
            size_t cut = 0;
            bool quoted = false;
            for (size_t i = 0; i < n && (cut == 0 || i < cap); i++) {
                if (base[i] == '"')
                    quoted = !quoted;
                else if (base[i] == '\n' && !quoted)
                    cut = i + 1;
            }
            if (cut > 0)
                n = cut;
        }
        rc = tb_ckpt_snapshot_put_tagged(sp.snap, 'E', q->emitted_csv.data + off, n, err);
        off += n;
    }
    if (rc == TB_OK && ha != NULL)
        rc = tb_hashagg_snapshot(ha, put_agg_block, &sp, err);
    tb_buf_free(&sp.rec);
    if (rc != TB_OK) {
        tb_ckpt_snapshot_abort(sp.snap);
        return rc;
    }
    return tb_ckpt_snapshot_submit(sp.snap, err);
}

/* After a commit was written: its changelog is out; a snapshot when due; compaction. */
static void cq_after_commit(cq *q)
{
    tb_err e2;
    tb_err_clear(&e2);
    if (tb_ckpt_snapshot_wait(q->ckpt, false, &e2) != TB_OK)
        tb_log(TB_LOG_WARN, "%s: checkpoint snapshot failed (retried later): %s", q->name,
               e2.msg);
    tb_err_clear(&e2);
    if (tb_ckpt_snapshot_due(q->ckpt)) {
        int64_t t0 = tb_now_ns();
        if (cq_snapshot(q, &e2) != TB_OK)
            tb_log(TB_LOG_WARN, "%s: checkpoint snapshot failed (retried later): %s", q->name,
                   e2.msg);
        else
            tb_log(TB_LOG_DEBUG, "%s: snapshot of batch %" PRId64 " taken in %.1f ms (written "
                   "in the background)", q->name, tb_ckpt_last_commit(q->ckpt),
                   (double)(tb_now_ns() - t0) / 1e6);
        tb_err_clear(&e2);
    }
    if (tb_ckpt_maybe_compact(q->ckpt, NULL, &e2) != TB_OK)
        tb_log(TB_LOG_WARN, "%s: checkpoint compaction failed (retried later): %s", q->name,
               e2.msg);
}

/* ---------------------------------------------------------------- checkpoint writes */
/* Append the pending commit on its own, with the changelog of the batch. */
tb_rc tb_cq_flush(cq *q, tb_err *err)
{
    if (q->pending_commit < 0 || q->failed)
        return TB_OK;
    tb_buf chg = {0};
    tb_rc rc = cq_changelog(q, &chg, err);
    if (rc == TB_OK)
        rc = tb_ckpt_write_commit_changelog(q->ckpt, q->pending_commit, chg.data, chg.len, err);
    tb_buf_free(&chg);
    if (rc != TB_OK)
        return rc;
    cq_changes_written(q);
    tb_cq_kill_point("commit", q->pending_commit);
    q->pending_commit = -1;
    tb_cq_committed(q); /* the source's ack (runner.c) */
    cq_after_commit(q);
    return TB_OK;
}

/*
 * Batch N's offsets (the source's JSON, stored under the stream's name), written before
 * anything reads them. When batch N-1 is pending, the record also carries its commit and
 * its changelog: one durable write is both the intent of N and the commit of N-1.
 */
tb_rc tb_cq_write_offsets(cq *q, int64_t batch, const json_t *offsets, tb_err *err)
{
    tb_ckpt_offsets off = {.batch = batch, .watermark_us = q->watermark};
    tb_buf chg = {0};
    tb_rc rc = TB_OK;
    bool commit = false;
    if (q->pending_commit >= 0 && q->pending_commit != batch - 1)
        rc = tb_cq_flush(q, err); /* not the batch before: it cannot ride along */
    if (rc == TB_OK &&
        ((off.sources = json_object()) == NULL ||
         json_object_set(off.sources, q->tab->name, (json_t *)offsets) != 0))
        rc = tb_err_nomem(err);
    if (rc == TB_OK && q->pending_commit >= 0) {
        rc = cq_changelog(q, &chg, err);
        off.has_commit = commit = true;
        off.changelog = chg.data; /* borrowed */
        off.changelog_len = chg.len;
    }
    if (rc == TB_OK)
        rc = tb_ckpt_write_offsets(q->ckpt, &off, err);
    off.changelog = NULL;
    tb_ckpt_offsets_clear(&off);
    tb_buf_free(&chg);
    if (rc != TB_OK)
        return rc;
    if (commit)
        cq_changes_written(q);
    tb_cq_kill_point("offsets", batch);
    q->pending_commit = -1;
    if (commit) {
        tb_cq_committed(q); /* the source's ack (runner.c) */
        cq_after_commit(q);
    } else {
        tb_err e2;
        tb_err_clear(&e2);
        if (tb_ckpt_maybe_compact(q->ckpt, NULL, &e2) != TB_OK)
            tb_log(TB_LOG_WARN, "%s: checkpoint compaction failed (retried later): %s",
                   q->name, e2.msg);
    }
    return TB_OK;
}

/* ---------------------------------------------------------------- restore */

/* Hold an aggregate change set (from `batch`'s changelog, or the snapshot: -1) for
 * tb_cq_restore_agg. */
static tb_rc hold_changes(cq *q, int64_t batch, const char *data, size_t len, tb_err *err)
{
    uint64_t n = len;
    if (tb_buf_append(&q->restore_chg, &n, 8) || tb_buf_append(&q->restore_chg, &batch, 8) ||
        (len > 0 && tb_buf_append(&q->restore_chg, data, len)))
        return tb_err_nomem(err);
    return TB_OK;
}

tb_rc tb_cq_restore_agg(cq *q, tb_err *err)
{
    tb_hashagg *ha = cq_hashagg(q);
    tb_rc rc = TB_OK;
    if (ha != NULL && q->restore_groups > 0) {
        /* Size the table once: the snapshot's groups, plus as many more as the changelogs'
         * bytes could hold at the snapshot's bytes per group (a hint, bounded by the bytes
         * read: a bad count cannot make it allocate more than those). */
        uint64_t snap_bytes = 0, chg_bytes = 0, want = q->restore_groups;
        for (size_t off = 0; off + 16 <= q->restore_chg.len;) {
            uint64_t n;
            int64_t batch;
            memcpy(&n, q->restore_chg.data + off, 8);
            memcpy(&batch, q->restore_chg.data + off + 8, 8);
            *(batch < 0 ? &snap_bytes : &chg_bytes) += n;
            off += 16 + n;
        }
        if (want > snap_bytes)
            want = snap_bytes;
        if (snap_bytes > 0)
            want += (uint64_t)((double)chg_bytes * (double)want / (double)snap_bytes);
        tb_err e2;
        if (tb_hashagg_reserve(ha, want, &e2) != TB_OK) /* it grows as it goes instead */
            tb_log(TB_LOG_WARN, "%s: presizing the aggregate for %" PRIu64 " groups: %s",
                   q->name, want, e2.msg);
    }
    q->restore_groups = 0;
    for (size_t off = 0; ha != NULL && off + 16 <= q->restore_chg.len && rc == TB_OK;) {
        uint64_t n;
        int64_t batch;
        memcpy(&n, q->restore_chg.data + off, 8);
        memcpy(&batch, q->restore_chg.data + off + 8, 8);
        rc = tb_hashagg_apply_changes(ha, q->restore_chg.data + off + 16, n, err);
        if (rc != TB_OK) {
            if (batch < 0)
                tb_err_prefix(err, "checkpoint %s: snapshot %s/state/snapshot-%" PRId64,
                              q->name, tb_ckpt_dir(q->ckpt), -batch - 1);
            else
                tb_err_prefix(err, "checkpoint %s: %s/log: the changelog of batch %" PRId64,
                              q->name, tb_ckpt_dir(q->ckpt), batch);
        }
        off += 16 + n;
    }
    if (ha != NULL)
        tb_hashagg_changes_clear(ha); /* restored: nothing changed since the commit */
    tb_buf_free(&q->restore_chg);
    return rc;
}

/* Append emitted rows (CSV text) to the emitted table and its text. */
static tb_rc restore_emitted(cq *q, const char *data, size_t len, bool reset, const char *what,
                             tb_err *err)
{
    tb_rc rc;
    if (q->emitted == NULL)
        return TB_OK;
    if (reset) {
        tb_table_truncate(q->emitted);
        q->emitted_csv.len = 0;
    }
    if (len == 0)
        return TB_OK;
    rc = csv_to_table(data, len, q->emitted, err);
    if (rc == TB_OK && tb_buf_append(&q->emitted_csv, data, len) != TB_OK)
        rc = tb_err_nomem(err);
    if (rc != TB_OK)
        return tb_err_prefix(err, "checkpoint %s: emitted rows of %s", q->name, what);
    return TB_OK;
}

static tb_rc bad_state(cq *q, const char *what, const char *why, tb_err *err)
{
    return TB_ERRF(err, TB_E_CORRUPT, "checkpoint %s: %s is damaged (%s)", q->name, what, why);
}

tb_rc tb_cq_changelog_parse(const char *data, size_t len, tb_cq_changelog *out,
                            const char **out_why)
{
    uint32_t version;
    uint64_t la, le;
    memset(out, 0, sizeof(*out));
    *out_why = NULL;
    if (len < 24 || memcmp(data, "TBCC", 4) != 0) {
        *out_why = "not a changelog";
        return TB_E_CORRUPT;
    }
    memcpy(&version, data + 4, 4);
    memcpy(&la, data + 16, 8);
    if (version != 1 || la > len - 24 || len - 24 - la < 9) {
        *out_why = "bad version or length";
        return TB_E_CORRUPT;
    }
    memcpy(&out->reset, data + 24 + la, 1);
    memcpy(&le, data + 25 + la, 8);
    if (out->reset > 1 || le != len - 33 - la) {
        *out_why = "bad length of the emitted rows";
        return TB_E_CORRUPT;
    }
    memcpy(&out->watermark, data + 8, 8);
    out->agg = data + 24;
    out->agg_len = la;
    out->emitted = data + 33 + la;
    out->emitted_len = le;
    return TB_OK;
}

/* A changelog (see the top of the file). */
static tb_rc apply_changelog(cq *q, int64_t batch, const char *data, size_t len, tb_err *err)
{
    char what[600];
    tb_cq_changelog cl;
    const char *why = NULL;
    snprintf(what, sizeof(what), "%s/log: the changelog of batch %" PRId64,
             tb_ckpt_dir(q->ckpt), batch);
    if (tb_cq_changelog_parse(data, len, &cl, &why) != TB_OK)
        return bad_state(q, what, why, err);
    q->watermark = cl.watermark;
    tb_rc rc = TB_OK;
    if (cl.agg_len > 0) {
        if (!q->is_agg)
            return bad_state(q, what, "aggregate changes for a query without aggregate", err);
        rc = hold_changes(q, batch, cl.agg, cl.agg_len, err);
    }
    if (rc == TB_OK)
        rc = restore_emitted(q, cl.emitted, cl.emitted_len, cl.reset != 0, what, err);
    return rc;
}

/* A snapshot's records (see the top of the file). */
static tb_rc apply_snapshot(cq *q, tb_ckpt_restore *r, int64_t base, tb_err *err)
{
    char what[600];
    bool head = false;
    tb_rc rc;
    snprintf(what, sizeof(what), "%s/state/snapshot-%" PRId64, tb_ckpt_dir(q->ckpt), base);
    for (;;) {
        const char *d = NULL;
        size_t n = 0;
        rc = tb_ckpt_restore_snapshot_next(r, &d, &n, err);
        if (rc != TB_OK || d == NULL)
            break;
        if (!head) {
            uint32_t version;
            if (n != 16 || memcmp(d, "TBCS", 4) != 0)
                return bad_state(q, what, "no query state header", err);
            memcpy(&version, d + 4, 4);
            if (version != 1)
                return bad_state(q, what, "unknown version", err);
            memcpy(&q->watermark, d + 8, 8);
            head = true;
        } else if (n > 0 && d[0] == 'E') {
            rc = restore_emitted(q, d + 1, n - 1, false, what, err);
        } else if (n > 0 && d[0] == 'A' && q->is_agg) {
            rc = hold_changes(q, -base - 1, d + 1, n - 1, err);
        } else {
            return bad_state(q, what, "a record of an unknown kind", err);
        }
        if (rc != TB_OK)
            break;
    }
    if (rc == TB_OK && !head)
        rc = bad_state(q, what, "no query state header", err);
    return rc;
}

/* The state after the last commit: its base, then the changelogs after it. */
static tb_rc cq_restore(cq *q, tb_err *err)
{
    tb_ckpt_restore *r = NULL;
    int64_t base = -1;
    tb_rc rc = tb_ckpt_restore_begin(q->ckpt, &r, err);
    if (rc != TB_OK)
        return rc;
    switch (tb_ckpt_restore_base(r, &base)) {
    case TB_CKPT_BASE_SNAPSHOT:
        q->restore_groups = tb_ckpt_restore_groups(r);
        rc = apply_snapshot(q, r, base, err);
        break;
    case TB_CKPT_BASE_IMAGE: {
        const char *d = NULL;
        size_t n = 0;
        rc = tb_ckpt_restore_image(r, &d, &n, err);
        if (rc == TB_OK)
            rc = cq_load_state(q, d, n, "state", err);
        break;
    }
    default:
        break;
    }
    while (rc == TB_OK) {
        const char *d = NULL;
        size_t n = 0;
        int64_t batch = -1;
        rc = tb_ckpt_restore_changelog_next(r, &batch, &d, &n, err);
        if (rc != TB_OK || d == NULL)
            break;
        rc = apply_changelog(q, batch, d, n, err);
    }
    tb_ckpt_restore_end(r);
    if (q->emitted != NULL)
        q->emitted_rows = tb_table_rows(q->emitted); /* the text encodes exactly them */
    q->emitted_logged = q->emitted_csv.len;
    return rc;
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
        rc = cq_restore(q, err);
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

