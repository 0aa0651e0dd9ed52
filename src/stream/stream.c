/*
 * stream.c - continuous queries over file streams: statement routing, the stream
 * source connector, the micro-batch loop with its checkpoint protocol, sinks, progress.
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
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include "format/csv.h"
#include "format/delta.h"
#include "format/jsonl.h"
#include "format/parquet.h"
#include "sink/write_stmt.h"
#include "stream/checkpoint.h"
#include "stream/filesource.h"
#include "stream/stream_int.h"

typedef enum out_mode { MODE_DEFAULT, MODE_COMPLETE, MODE_APPEND, MODE_UPDATE } out_mode;

/* ---------------------------------------------------------------- stream source */

typedef struct stream_src {
    tb_stream *st;
    char *name;
    char *dir;
    bool parquet;           /* else csv, or json lines when json != NULL */
    tb_csv_opts *csv;
    tb_jsonl_opts *json;    /* format = 'json' */
    tb_schema *schema;
    int wm_col;             /* watermark column in schema, -1 none */
    int64_t wm_delay_us;
    uint32_t max_files;
    bool latest_first;
    bool ignore_missing; /* ignore_missing_files: a file gone before its batch is skipped */
    /* Restart of a non-aggregating view: committed batches are re-read into the view
     * only (no sink, no checkpoint, no bad records; vanished files skipped). */
    bool rebuilding;
    char *bad_dir;       /* bad_records_path: malformed CSV records go there, or NULL */
    /* Bound while a micro-batch is planned and run (NULL otherwise: a plain query then
     * reads every file present in the directory). */
    const tb_strlist *cur_files;
    int64_t cur_watermark;
    int64_t cur_batch;
    const char *cur_query; /* the continuous query running the batch */
    bool shared;           /* read by several queries: bad records files name the query */
    /* Collected by the feed operators of the current batch. */
    int64_t batch_max_ts;
    uint64_t batch_rows;
    uint64_t batch_late;
    uint64_t batch_malformed;
    /* The current batch's bad records: a hidden temp file renamed into place as
     * bad_dir/bad_records-<batch>.jsonl before the batch commits. */
    FILE *bad_fp;
    char *bad_tmp;
    int bad_errno; /* first write error (the CSV callback cannot return one) */
} stream_src;

/* ---------------------------------------------------------------- bad records */

/*
 * JSON string of arbitrary bytes: control characters and NUL escaped, valid UTF-8 kept,
 * each byte of an invalid UTF-8 sequence written as U+FFFD (the record's file and line
 * locate the original bytes).
 */
static void json_put_str(FILE *fp, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    putc('"', fp);
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        if (c == '"' || c == '\\') {
            putc('\\', fp);
            putc((int)c, fp);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(fp, "\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            putc((int)c, fp);
            i++;
        } else {
            size_t len = c >= 0xc2 && c <= 0xdf   ? 2
                         : c >= 0xe0 && c <= 0xef ? 3
                         : c >= 0xf0 && c <= 0xf4 ? 4
                                                  : 0;
            bool ok = len > 0 && i + len <= n;
            for (size_t k = 1; ok && k < len; k++)
                ok = (p[i + k] & 0xc0) == 0x80;
            if (ok && len == 3) { /* no overlongs, no surrogates */
                ok = !(c == 0xe0 && p[i + 1] < 0xa0) && !(c == 0xed && p[i + 1] >= 0xa0);
            } else if (ok && len == 4) {
                ok = !(c == 0xf0 && p[i + 1] < 0x90) && !(c == 0xf4 && p[i + 1] >= 0x90);
            }
            if (ok) {
                fwrite(p + i, 1, len, fp);
                i += len;
            } else {
                fputs("\\ufffd", fp);
                i++;
            }
        }
    }
    putc('"', fp);
}

static void bad_record(void *ud, const char *file, uint64_t line, const char *raw,
                       size_t raw_len, const char *reason)
{
    stream_src *src = ud;
    if (src->bad_errno != 0)
        return;
    if (src->bad_fp == NULL) {
        tb_buf p = {0};
        if (tb_buf_printf(&p, "%s/.bad_records-%" PRId64 ".jsonl.tmp-%ld", src->bad_dir,
                          src->cur_batch, (long)getpid()) != TB_OK) {
            src->bad_errno = ENOMEM;
            return;
        }
        src->bad_fp = fopen(p.data, "w");
        if (src->bad_fp == NULL) {
            src->bad_errno = errno ? errno : EIO;
            tb_buf_free(&p);
            return;
        }
        src->bad_tmp = p.data;
    }
    FILE *fp = src->bad_fp;
    fputs("{\"file\":", fp);
    json_put_str(fp, file, strlen(file));
    fprintf(fp, ",\"line\":%" PRIu64 ",\"batch\":%" PRId64 ",\"reason\":", line,
            src->cur_batch);
    json_put_str(fp, reason, strlen(reason));
    fputs(",\"record\":", fp);
    json_put_str(fp, raw, raw_len);
    fputs("}\n", fp);
    if (ferror(fp))
        src->bad_errno = errno ? errno : EIO;
}

/* Drop the current batch's bad-records temp file (failure, or before a re-run). */
static void bad_discard(stream_src *src)
{
    if (src->bad_fp != NULL)
        fclose(src->bad_fp);
    if (src->bad_tmp != NULL)
        (void)unlink(src->bad_tmp);
    src->bad_fp = NULL;
    tb_free(src->bad_tmp);
    src->bad_tmp = NULL;
    src->bad_errno = 0;
}

/* Make the batch's bad records durable under their real name (before the commit). */
static tb_rc bad_publish(stream_src *src, tb_err *err)
{
    tb_rc rc = TB_OK;
    tb_buf p = {0};
    if (src->bad_errno != 0) {
        rc = TB_ERRF(err, TB_E_IO, "stream %s: bad_records_path '%s': cannot write: %s",
                     src->name, src->bad_dir, strerror(src->bad_errno));
        goto done;
    }
    if (src->bad_fp == NULL)
        return TB_OK;
    int fd = fileno(src->bad_fp);
    if (fflush(src->bad_fp) != 0 || fsync(fd) != 0) {
        rc = TB_ERRF(err, TB_E_IO, "stream %s: writing '%s': %s", src->name, src->bad_tmp,
                     strerror(errno));
        goto done;
    }
    if ((src->shared ? tb_buf_printf(&p, "%s/bad_records-%s-%" PRId64 ".jsonl", src->bad_dir,
                                     src->cur_query, src->cur_batch)
                     : tb_buf_printf(&p, "%s/bad_records-%" PRId64 ".jsonl", src->bad_dir,
                                     src->cur_batch)) != TB_OK) {
        rc = tb_err_nomem(err);
        goto done;
    }
    if (rename(src->bad_tmp, p.data) != 0) {
        rc = TB_ERRF(err, TB_E_IO, "stream %s: rename '%s' to '%s': %s", src->name,
                     src->bad_tmp, p.data, strerror(errno));
        goto done;
    }
    tb_free(src->bad_tmp);
    src->bad_tmp = NULL;
done:
    tb_buf_free(&p);
    bad_discard(src);
    return rc;
}

/*
 * The feed: wraps the format scan of the batch's files. It tracks the max event time,
 * drops rows older than the watermark (counted), and strips the watermark column when
 * the query did not ask for it.
 */
typedef struct feed_op {
    tb_op base;
    stream_src *src;
    tb_source *fsrc; /* borrowed from the child scan, for its counters */
    int wm_idx;      /* index of the watermark column in the child's output, -1 */
    bool strip_last; /* child has one extra (watermark) column at the end */
    tb_arena *arena;
    uint64_t malformed_seen;
} feed_op;

static tb_rc feed_next(tb_op *op, tb_batch **out, tb_err *err)
{
    feed_op *f = (feed_op *)op;
    stream_src *src = f->src;
    tb_batch *in = NULL;
    *out = NULL;
    tb_rc rc = tb_op_next(op->children[0], &in, err);
    if (f->fsrc != NULL) {
        src->batch_malformed += f->fsrc->stats.rows_malformed - f->malformed_seen;
        f->malformed_seen = f->fsrc->stats.rows_malformed;
    }
    if (rc != TB_OK || in == NULL)
        return rc;
    tb_arena_reset(f->arena);
    uint32_t n = in->n_rows;
    uint32_t *sel = NULL;
    uint32_t n_sel = n;
    if (f->wm_idx >= 0) {
        const tb_vec *ts = &in->cols[f->wm_idx];
        const int64_t *v = TB_VEC_PTR(ts, const int64_t);
        int64_t wm = src->cur_watermark;
        for (uint32_t i = 0; i < n; i++)
            if (!tb_vec_is_null(ts, i) && v[i] > src->batch_max_ts)
                src->batch_max_ts = v[i];
        if (wm != TB_WATERMARK_NONE) {
            sel = tb_arena_alloc(f->arena, sizeof(uint32_t) * (n ? n : 1));
            if (sel == NULL)
                return tb_err_nomem(err);
            n_sel = 0;
            for (uint32_t i = 0; i < n; i++)
                if (tb_vec_is_null(ts, i) || v[i] >= wm)
                    sel[n_sel++] = i;
            src->batch_late += n - n_sel;
            if (n_sel == n)
                sel = NULL;
        }
    }
    src->batch_rows += n_sel;
    if (sel == NULL && !f->strip_last) {
        *out = in;
        return TB_OK;
    }
    uint32_t n_cols = op->schema->n;
    tb_batch *b = NULL;
    if (tb_batch_shell(n_cols, f->arena, &b) != TB_OK)
        return tb_err_nomem(err);
    b->n_rows = n_sel;
    b->cap = n_sel;
    for (uint32_t j = 0; j < n_cols; j++) {
        if (sel == NULL) {
            b->cols[j] = in->cols[j];
            continue;
        }
        if (tb_vec_init(&b->cols[j], in->cols[j].type, n_sel ? n_sel : 1, f->arena) != TB_OK)
            return tb_err_nomem(err);
        rc = tb_vec_copy_rows(&b->cols[j], 0, n_sel ? n_sel : 1, &in->cols[j], sel, n_sel,
                              false, f->arena);
        if (rc != TB_OK)
            return tb_err_nomem(err);
    }
    *out = b;
    return TB_OK;
}

static void feed_free(tb_op *op)
{
    /* tb_op_free releases the child, the schema and the struct (exec.h contract). */
    tb_arena_free(((feed_op *)op)->arena);
}

static tb_rc feed_explain(tb_op *op, tb_buf *buf)
{
    feed_op *f = (feed_op *)op;
    return tb_buf_printf(buf, "stream %s (%s)", f->src->name, f->src->dir);
}

static const tb_op_vt feed_vt = {"stream", feed_next, feed_free, feed_explain};

/* An operator yielding no rows with the given schema (a batch without new files). */
static tb_rc empty_op(const tb_schema *schema, tb_op **out, tb_err *err)
{
    return tb_op_values_new(schema, 0, NULL, out, err);
}

/*
 * Map the stream's columns proj[0..n) to the columns of a Parquet file BY NAME (as
 * Spark does), checking their types: a file that lacks a column or holds it with
 * another type is an error naming the file and the column, never a misread.
 */
static tb_rc parquet_map(stream_src *src, const char *path, const int *proj, uint32_t n,
                         int *out_fproj, tb_err *err)
{
    tb_schema *fs = NULL;
    tb_rc rc = tb_parquet_read_schema(path, &fs, err);
    if (rc != TB_OK)
        return tb_err_prefix(err, "stream %s", src->name);
    for (uint32_t i = 0; i < n && rc == TB_OK; i++) {
        const tb_field *want = &src->schema->fields[proj[i]];
        int c = tb_schema_find(fs, want->name);
        char a[64], b[64];
        if (c < 0)
            rc = TB_ERRF(err, TB_E_TYPE,
                         "stream %s: parquet file '%s' has no column \"%s\" (the stream "
                         "declares it; the file has %u other columns)",
                         src->name, path, want->name, fs->n);
        else if (!tb_type_eq(fs->fields[c].type, want->type))
            rc = TB_ERRF(err, TB_E_TYPE,
                         "stream %s: parquet file '%s': column \"%s\" is %s in the file, the "
                         "stream declares %s",
                         src->name, path, want->name,
                         tb_type_name(fs->fields[c].type, a, sizeof(a)),
                         tb_type_name(want->type, b, sizeof(b)));
        else
            out_fproj[i] = c;
    }
    tb_schema_free(fs);
    return rc;
}

/* Scans of the batch's Parquet files: one source per run of files sharing a column
 * layout, concatenated. */
static tb_rc parquet_scan(stream_src *src, const tb_strlist *files, const int *proj,
                          uint32_t n, tb_op **out, tb_err *err)
{
    tb_rc rc = TB_OK;
    int *run_proj = tb_malloc(sizeof(int) * (n + 1));
    int *fproj = tb_malloc(sizeof(int) * (n + 1));
    tb_op **scans = NULL;
    size_t n_scans = 0, cap_scans = 0;
    tb_strlist run = {0};
    *out = NULL;
    if (run_proj == NULL || fproj == NULL) {
        rc = tb_err_nomem(err);
        goto done;
    }
    for (size_t k = 0; k <= files->n && rc == TB_OK; k++) {
        if (k < files->n) {
            rc = parquet_map(src, files->items[k], proj, n, fproj, err);
            if (rc != TB_OK)
                break;
            if (run.n == 0 || memcmp(fproj, run_proj, sizeof(int) * n) == 0) {
                if (run.n == 0 && n > 0)
                    memcpy(run_proj, fproj, sizeof(int) * n);
                if (tb_strlist_push(&run, files->items[k]) != TB_OK)
                    rc = tb_err_nomem(err);
                continue;
            }
        }
        /* Close the run (another layout starts at k, or the end). */
        tb_source *fsrc = NULL;
        tb_op *scan = NULL;
        if (tb_grow((void **)&scans, &cap_scans, n_scans + 1, sizeof(tb_op *)) != TB_OK) {
            rc = tb_err_nomem(err);
            break;
        }
        rc = tb_parquet_source_new(&run, run_proj, n, &fsrc, err);
        if (rc == TB_OK)
            rc = tb_op_scan_new(fsrc, &scan, err); /* owns fsrc whatever the outcome */
        if (rc != TB_OK)
            break;
        scans[n_scans++] = scan;
        tb_strlist_free(&run);
        if (k < files->n) {
            if (n > 0)
                memcpy(run_proj, fproj, sizeof(int) * n);
            if (tb_strlist_push(&run, files->items[k]) != TB_OK)
                rc = tb_err_nomem(err);
        }
    }
    if (rc == TB_OK && n_scans == 1) {
        *out = scans[0];
        n_scans = 0;
    } else if (rc == TB_OK) {
        rc = tb_op_union_all_new((uint32_t)n_scans, scans, out, err); /* owns the scans */
        n_scans = 0;
    }
done:
    for (size_t i = 0; i < n_scans; i++)
        tb_op_free(scans[i]);
    tb_free(scans);
    tb_strlist_free(&run);
    tb_free(run_proj);
    tb_free(fproj);
    return rc;
}

static tb_rc src_open(void *ud, const int *proj, uint32_t n_proj, tb_op **out, tb_err *err)
{
    stream_src *src = ud;
    tb_rc rc;
    tb_strlist all = {0}, present = {0};
    const tb_strlist *files = src->cur_files;
    int *proj2 = NULL;
    tb_schema *pschema = NULL;
    tb_source *fsrc = NULL;
    tb_op *scan = NULL;
    feed_op *f = NULL;
    *out = NULL;

    /* Projected schema (what the query asked for). */
    pschema = tb_schema_new(n_proj);
    if (pschema == NULL)
        return tb_err_nomem(err);
    int wm_idx = -1;
    for (uint32_t i = 0; i < n_proj; i++) {
        const tb_field *fd = &src->schema->fields[proj[i]];
        if (tb_schema_set(pschema, i, fd->name, fd->type, fd->nullable) != TB_OK) {
            rc = tb_err_nomem(err);
            goto fail;
        }
        if (proj[i] == src->wm_col)
            wm_idx = (int)i;
    }
    if (files == NULL) {
        rc = tb_path_expand(src->dir, NULL, &all, err);
        if (rc == TB_E_NOTFOUND || rc == TB_E_IO) {
            tb_err_clear(err);
            rc = TB_OK; /* no file yet: an empty stream */
        }
        if (rc != TB_OK)
            goto fail;
        files = &all;
    } else if (src->ignore_missing || src->rebuilding) {
        /* A file deleted between discovery and this read is skipped (and said so); the
         * batch's offsets still name it, so a re-run skips it the same way. */
        for (size_t i = 0; i < files->n; i++) {
            if (access(files->items[i], F_OK) != 0) {
                tb_log(TB_LOG_WARN, "stream %s: file '%s' vanished before it was read: "
                       "skipped (%s)", src->name, files->items[i],
                       src->rebuilding ? "rebuilding the view after a restart"
                                       : "ignore_missing_files");
                continue;
            }
            if (tb_strlist_push(&present, files->items[i]) != TB_OK) {
                rc = tb_err_nomem(err);
                goto fail;
            }
        }
        files = &present;
    }
    if (files->n == 0) {
        rc = empty_op(pschema, out, err);
        goto done;
    }
    bool strip = src->wm_col >= 0 && wm_idx < 0;
    proj2 = tb_malloc(sizeof(int) * (n_proj + 1));
    if (proj2 == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    if (n_proj > 0)
        memcpy(proj2, proj, sizeof(int) * n_proj);
    if (strip) {
        proj2[n_proj] = src->wm_col;
        wm_idx = (int)n_proj;
    }
    uint32_t n2 = n_proj + (strip ? 1 : 0);
    tb_source *fsrc_ref = NULL;
    if (src->parquet) {
        rc = parquet_scan(src, files, proj2, n2, &scan, err);
        if (rc != TB_OK)
            goto fail;
    } else {
        rc = src->json != NULL
                 ? tb_jsonl_source_new(files, src->json, src->schema, proj2, n2, &fsrc, err)
                 : tb_csv_source_new(files, src->csv, src->schema, proj2, n2, &fsrc, err);
        if (rc != TB_OK)
            goto fail;
        if (src->bad_dir != NULL && src->cur_files != NULL && !src->rebuilding) {
            tb_csv_source_on_bad_record(fsrc, bad_record, src); /* each a no-op on the */
            tb_jsonl_source_on_bad_record(fsrc, bad_record, src); /* other format */
        }
        fsrc_ref = fsrc;
        rc = tb_op_scan_new(fsrc, &scan, err);
        fsrc = NULL; /* the scan owns it whatever the outcome */
        if (rc != TB_OK)
            goto fail;
    }
    f = tb_calloc(1, sizeof(*f));
    if (f == NULL || (f->base.children = tb_calloc(1, sizeof(tb_op *))) == NULL ||
        (f->arena = tb_arena_new(0)) == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    f->base.vt = &feed_vt;
    f->base.schema = pschema;
    pschema = NULL;
    f->base.children[0] = scan;
    f->base.n_children = 1;
    scan = NULL;
    f->src = src;
    f->fsrc = fsrc_ref;
    f->wm_idx = wm_idx;
    f->strip_last = strip;
    *out = &f->base;
    f = NULL;
    rc = TB_OK;
    goto done;
fail:
    if (f != NULL) {
        tb_arena_free(f->arena);
        tb_free(f->base.children);
        tb_free(f);
    }
    tb_op_free(scan);
    tb_source_free(fsrc);
done:
    tb_schema_free(pschema);
    tb_free(proj2);
    tb_strlist_free(&all);
    tb_strlist_free(&present);
    return rc;
}

static void src_free(void *ud)
{
    stream_src *src = ud;
    if (src == NULL)
        return;
    bad_discard(src);
    tb_free(src->name);
    tb_free(src->dir);
    tb_free(src->bad_dir);
    tb_csv_opts_free(src->csv);
    tb_jsonl_opts_free(src->json);
    tb_schema_free(src->schema);
    tb_free(src);
}

static int64_t src_estimate(void *ud)
{
    TB_UNUSED(ud);
    return -1; /* unbounded: never the build side of a join */
}

static const tb_connector_vt src_vt = {"files", src_open, src_free, src_estimate};

/* ---------------------------------------------------------------- sinks and queries */

typedef struct sink_ref {
    char *table;
    tb_sink *sink;
    out_mode mode;
} sink_ref;

typedef struct cq {
    tb_stream *st;
    char *name;        /* the materialized view, or "insert into <t>" */
    char *query_text;  /* normalised statement text (checkpoint fingerprint) */
    const PgQuery__Node *select; /* in st->parses, valid for the job's life */
    const char *text;            /* the job text `select` locations point into */
    stream_src *src;
    tb_table *mv;      /* owned by the catalog; NULL for a bare INSERT pipeline */
    tb_table *emitted; /* append mode: rows already final (owned) */
    /* CSV text of the first emitted_rows rows of `emitted` (append only, so the state
     * image adds only the rows emitted since the last one instead of re-encoding all) */
    tb_buf emitted_csv;
    uint64_t emitted_rows;
    tb_schema *out_schema;
    out_mode mode;     /* of the view: complete for aggregates, append otherwise */
    bool is_agg;
    tb_sagg *agg;
    char *restore;     /* serialized agg state waiting for the first plan */
    size_t restore_len;
    int win_group;     /* group column holding the window start (or end), -1 */
    int64_t win_size_us; /* from that column's value to the window's end */
    int win_out_col;   /* output column holding the window start, -1 */
    char *win_name;    /* name of the window group column */
    int64_t watermark;
    sink_ref *sinks;
    size_t n_sinks;
    tb_ckpt *ckpt;
    tb_filewatch *fw;
    int64_t next_batch;
    /* The last batch that ran but whose commit is not written yet (-1: none): it goes
     * with the next batch's offsets, or on its own after IDLE_COMMIT_MS or at stop. */
    int64_t pending_commit;
    int64_t pending_since_ns;
    /* A batch failed: its effects on the state and the view are not undone, so the cq
     * runs no further batch and writes no commit (a restart resumes from the checkpoint). */
    bool failed;
    bool started;
    uint64_t total_rows;
    uint64_t *prev_hashes; /* update mode: hashes of the previous result rows (sorted) */
    size_t n_prev;
} cq;

struct tb_stream {
    tb_db *db;
    tb_stream_opts opts;
    char *ckpt_root;
    bool ckpt_tmp;
    tb_strlist texts; /* job texts: parse trees point into them */
    PgQuery__ParseResult **parses;
    size_t n_parses;
    stream_src **srcs; /* borrowed: owned by the catalog */
    size_t n_srcs;
    cq **cqs;
    size_t n_cqs;
    /* Sink declarations: CREATE TABLE t WITH (connector = delta|console|files). */
    struct decl {
        char *name;
        tb_strlist kv;
        tb_schema *schema; /* NULL when the columns were omitted */
    } *decls;
    size_t n_decls;
};

/* ---------------------------------------------------------------- helpers */

static const char *kv_get(const tb_strlist *kv, const char *key)
{
    for (size_t i = 0; i + 1 < kv->n; i += 2)
        if (tb_str_ieq(kv->items[i], key))
            return kv->items[i + 1];
    return NULL;
}

bool tb_stream_parse_duration(const char *s, int64_t *out_ms)
{
    tb_interval iv;
    if (s == NULL)
        return false;
    size_t n = strlen(s);
    if (n > 2 && strcmp(s + n - 2, "ms") == 0 && s[n - 3] >= '0' && s[n - 3] <= '9') {
        char *end = NULL;
        double v = strtod(s, &end);
        if (end != s + n - 2 || v < 0)
            return false;
        *out_ms = (int64_t)v;
        return true;
    }
    if (!tb_parse_interval(s, n, &iv))
        return false;
    int64_t us = tb_interval_micros(iv);
    if (us < 0)
        return false;
    *out_ms = us / 1000;
    return true;
}

/* "ts - 10 seconds", "ts - INTERVAL '10 seconds'", "ts" -> column + delay. */
static tb_rc parse_watermark(const char *spec, const tb_schema *schema, int *out_col,
                             int64_t *out_delay, tb_err *err)
{
    char name[256];
    size_t i = 0, j = 0;
    while (spec[i] == ' ')
        i++;
    while (spec[i] != '\0' && spec[i] != ' ' && spec[i] != '-' && j + 1 < sizeof(name))
        name[j++] = spec[i++];
    name[j] = '\0';
    int col = tb_schema_find(schema, name);
    if (col < 0)
        return TB_ERRF(err, TB_E_NOTFOUND,
                       "watermark '%s': column \"%s\" is not a column of the stream", spec,
                       name);
    if (schema->fields[col].type.id != TB_T_TIMESTAMP)
        return TB_ERRF(err, TB_E_TYPE, "watermark '%s': column \"%s\" must be a timestamp",
                       spec, name);
    while (spec[i] == ' ')
        i++;
    int64_t delay = 0;
    if (spec[i] == '-') {
        i++;
        while (spec[i] == ' ')
            i++;
        const char *d = spec + i;
        if (tb_str_nieq(d, 8, "interval"))
            d += 8;
        while (*d == ' ' || *d == '\'')
            d++;
        char buf[128];
        snprintf(buf, sizeof(buf), "%s", d);
        size_t bl = strlen(buf);
        while (bl > 0 && (buf[bl - 1] == '\'' || buf[bl - 1] == ' '))
            buf[--bl] = '\0';
        int64_t ms;
        if (!tb_stream_parse_duration(buf, &ms))
            return TB_ERRF(err, TB_E_SQL,
                           "watermark '%s': bad delay '%s' (expected e.g. 'ts - 10 seconds')",
                           spec, buf);
        delay = ms * 1000;
    } else if (spec[i] != '\0') {
        return TB_ERRF(err, TB_E_SQL, "watermark '%s': expected 'column - delay'", spec);
    }
    *out_col = col;
    *out_delay = delay;
    return TB_OK;
}

/* The relation named by a window table function in FROM, hop(sales, ...) or
 * tumble(sales, ...): a column reference to the binder, a relation here. */
static tb_rc window_relation(const PgQuery__RangeFunction *rf, tb_strlist *out)
{
    if (rf->n_functions != 1)
        return TB_OK;
    const PgQuery__Node *fn = rf->functions[0];
    if (fn != NULL && fn->node_case == PG_QUERY__NODE__NODE_LIST && fn->list->n_items > 0)
        fn = fn->list->items[0];
    if (fn == NULL || fn->node_case != PG_QUERY__NODE__NODE_FUNC_CALL)
        return TB_OK;
    const PgQuery__FuncCall *fc = fn->func_call;
    const PgQuery__Node *last = fc->n_funcname > 0 ? fc->funcname[fc->n_funcname - 1] : NULL;
    if (last == NULL || last->node_case != PG_QUERY__NODE__NODE_STRING ||
        (!tb_str_ieq(last->string->sval, "hop") && !tb_str_ieq(last->string->sval, "tumble")))
        return TB_OK;
    if (fc->n_args < 1 || fc->args[0]->node_case != PG_QUERY__NODE__NODE_COLUMN_REF)
        return TB_OK;
    const PgQuery__ColumnRef *cr = fc->args[0]->column_ref;
    if (cr->n_fields != 1 || cr->fields[0]->node_case != PG_QUERY__NODE__NODE_STRING)
        return TB_OK;
    return tb_strlist_push(out, cr->fields[0]->string->sval) != TB_OK ? TB_E_NOMEM : TB_OK;
}

/* Collect relation names (RangeVar.relname) anywhere in a protobuf message tree. */
static tb_rc collect_relations(const ProtobufCMessage *m, tb_strlist *out)
{
    if (m == NULL)
        return TB_OK;
    if (m->descriptor == &pg_query__range_var__descriptor) {
        const PgQuery__RangeVar *rv = (const PgQuery__RangeVar *)m;
        if (rv->relname != NULL && tb_strlist_push(out, rv->relname) != TB_OK)
            return TB_E_NOMEM;
    }
    if (m->descriptor == &pg_query__range_function__descriptor &&
        window_relation((const PgQuery__RangeFunction *)m, out) != TB_OK)
        return TB_E_NOMEM;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const char *base = (const char *)m;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            if (*(const uint32_t *)(const void *)(base + f->quantifier_offset) != f->id)
                continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(const void *)(base + f->quantifier_offset);
            ProtobufCMessage *const *arr =
                *(ProtobufCMessage *const *const *)(const void *)(base + f->offset);
            for (size_t k = 0; k < n; k++)
                if (collect_relations(arr[k], out) != TB_OK)
                    return TB_E_NOMEM;
        } else {
            const ProtobufCMessage *sub =
                *(const ProtobufCMessage *const *)(const void *)(base + f->offset);
            if (collect_relations(sub, out) != TB_OK)
                return TB_E_NOMEM;
        }
    }
    return TB_OK;
}

static stream_src *find_src(tb_stream *st, const char *name)
{
    for (size_t i = 0; i < st->n_srcs; i++)
        if (strcmp(st->srcs[i]->name, name) == 0)
            return st->srcs[i];
    return NULL;
}

static cq *find_cq(tb_stream *st, const char *name)
{
    for (size_t i = 0; i < st->n_cqs; i++)
        if (st->cqs[i]->mv != NULL && strcmp(st->cqs[i]->name, name) == 0)
            return st->cqs[i];
    return NULL;
}

static struct decl *find_decl(tb_stream *st, const char *name)
{
    for (size_t i = 0; i < st->n_decls; i++)
        if (strcmp(st->decls[i].name, name) == 0)
            return &st->decls[i];
    return NULL;
}

/* Statement text with runs of white space folded (the checkpoint's query identity). */
static char *normalise(const char *sql, int off, int len)
{
    if (len <= 0)
        len = (int)strlen(sql + off);
    char *out = tb_malloc((size_t)len + 1);
    if (out == NULL)
        return NULL;
    size_t j = 0;
    bool space = false;
    for (int i = 0; i < len; i++) {
        char c = sql[off + i];
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
            space = j > 0;
            continue;
        }
        if (space)
            out[j++] = ' ';
        space = false;
        out[j++] = c;
    }
    while (j > 0 && out[j - 1] == ';')
        j--;
    out[j] = '\0';
    return out;
}

static out_mode parse_mode(const char *s, bool *ok)
{
    *ok = true;
    if (s == NULL)
        return MODE_DEFAULT;
    if (tb_str_ieq(s, "complete"))
        return MODE_COMPLETE;
    if (tb_str_ieq(s, "append"))
        return MODE_APPEND;
    if (tb_str_ieq(s, "update"))
        return MODE_UPDATE;
    *ok = false;
    return MODE_DEFAULT;
}

static const char *mode_name(out_mode m)
{
    return m == MODE_COMPLETE ? "complete" : m == MODE_APPEND ? "append" : "update";
}

/* ---------------------------------------------------------------- aggregate hook */

/*
 * A group key that is a window column of hop() or tumble() in FROM (window_start or
 * window_end, passed up from the hop operator under the aggregate by name): *to_end is
 * the distance from its value to the window's end (the size for the start, 0 for the
 * end). Renamed on the way (a subquery's alias), it is not recognised.
 */
static bool window_column(const tb_op *child, const tb_expr *e, int64_t *to_end)
{
    if (e->kind != TB_EX_COL || e->type.id != TB_T_TIMESTAMP || e->col < 0 ||
        (uint32_t)e->col >= child->schema->n)
        return false;
    return tb_op_hop_column(child, child->schema->fields[e->col].name, to_end);
}

static tb_rc cq_make_agg(void *ud, tb_op *child, uint32_t n_groups, tb_expr **group_exprs,
                         const char **group_names, uint32_t n_aggs, const tb_aggspec *aggs,
                         const char **agg_names, tb_op **out, tb_err *err)
{
    cq *q = ud;
    q->is_agg = true;
    q->win_group = -1;
    for (uint32_t g = 0; g < n_groups; g++) {
        const tb_expr *e = group_exprs[g];
        int64_t to_end = 0;
        if (window_column(child, e, &to_end)) {
            q->win_group = (int)g;
            q->win_size_us = to_end;
            if (q->win_name == NULL && group_names != NULL && group_names[g] != NULL)
                q->win_name = tb_strdup(group_names[g]);
            break;
        }
        if (e->kind != TB_EX_CALL || e->fn_name == NULL || e->type.id != TB_T_TIMESTAMP)
            continue;
        const tb_expr *iv = NULL;
        bool end = false;
        if ((strcmp(e->fn_name, "tumble") == 0 || strcmp(e->fn_name, "tumble_start") == 0 ||
             (end = strcmp(e->fn_name, "tumble_end") == 0)) &&
            e->n_args >= 2)
            iv = e->args[1];
        else if (strcmp(e->fn_name, "date_bin") == 0 && e->n_args >= 2)
            iv = e->args[0];
        if (iv != NULL && iv->kind == TB_EX_CONST && !iv->value.is_null &&
            iv->type.id == TB_T_INTERVAL) {
            q->win_group = (int)g;
            q->win_size_us = end ? 0 : tb_interval_micros(iv->value.u.iv);
            if (q->win_name == NULL && group_names != NULL && group_names[g] != NULL)
                q->win_name = tb_strdup(group_names[g]);
            break;
        }
    }
    tb_rc rc = tb_sagg_op_new(&q->agg, child, n_groups, group_exprs, group_names, n_aggs, aggs,
                              agg_names, q->restore, q->restore_len, out, err);
    if (rc == TB_OK && q->restore != NULL) {
        tb_free(q->restore);
        q->restore = NULL;
        q->restore_len = 0;
    }
    return rc;
}

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

/*
 * Crash points of a batch for the recovery tests (tb_crash_point, TB_FAULTS builds):
 * TB_CRASH_AT="stream-POINT@N" kills the process when batch N (of the first query to get
 * there) reaches POINT: "offsets" (its record, carrying the previous commit, is appended;
 * nothing ran), "sinks" (every sink committed it; its own commit is pending), "commit"
 * (its commit was appended on its own).
 */
static void kill_point(const char *point, int64_t batch)
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

/* A query whose output stays in the process defers the fdatasync of its checkpoint
 * records (tb_ckpt_set_deferred_sync) to a quiet moment, or to this long after the
 * oldest unsynced record while batches keep coming. */
#define SYNC_DEFER_MS 200

/* A batch's commit waits this long for the next batch's offsets to carry it, then is
 * appended on its own: a job that idles has its last batch committed soon.
 * One second: with the default 1-second trigger and steady input every commit rides
 * along; waiting costs nothing but the re-run of one batch after a crash. */
#define IDLE_COMMIT_MS 1000

/* Append the pending commit on its own, with the state held now. */
static tb_rc cq_flush(cq *q, tb_err *err)
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
    kill_point("commit", q->pending_commit);
    q->pending_commit = -1;
    tb_err e2;
    tb_err_clear(&e2);
    if (tb_ckpt_maybe_compact(q->ckpt, NULL, &e2) != TB_OK)
        tb_log(TB_LOG_WARN, "%s: checkpoint compaction failed (retried later): %s", q->name,
               e2.msg);
    return TB_OK;
}

/*
 * Batch N's offsets over `files` (full paths; names relative to the source directory
 * are stored), written before anything reads them. When batch N-1 is pending, the record
 * also carries its commit and the state held now (the state after N-1): one durable
 * write is both the intent of N and the commit of N-1.
 */
static tb_rc cq_write_offsets(cq *q, int64_t batch, const tb_strlist *files, tb_err *err)
{
    tb_ckpt_offsets off = {.batch = batch, .watermark_us = q->watermark};
    tb_buf img = {0};
    tb_rc rc = TB_OK;
    size_t dl = strlen(q->src->dir);
    if (q->pending_commit >= 0 && q->pending_commit != batch - 1)
        rc = cq_flush(q, err); /* not the batch before: it cannot ride along */
    for (size_t i = 0; rc == TB_OK && i < files->n; i++) {
        const char *rel = files->items[i];
        if (strncmp(rel, q->src->dir, dl) == 0 && rel[dl] == '/')
            rel += dl + 1;
        if (tb_strlist_push(&off.files, rel) != TB_OK)
            rc = tb_err_nomem(err);
    }
    if (rc == TB_OK && q->pending_commit >= 0) {
        rc = cq_state_image(q, &img, err);
        off.has_commit = true;
        off.state = img.data; /* borrowed */
        off.state_len = img.len;
    }
    if (rc == TB_OK)
        rc = tb_ckpt_write_offsets(q->ckpt, &off, err);
    off.state = NULL;
    tb_ckpt_offsets_clear(&off);
    tb_buf_free(&img);
    if (rc != TB_OK)
        return rc;
    kill_point("offsets", batch);
    q->pending_commit = -1;
    tb_err e2;
    tb_err_clear(&e2);
    if (tb_ckpt_maybe_compact(q->ckpt, NULL, &e2) != TB_OK)
        tb_log(TB_LOG_WARN, "%s: checkpoint compaction failed (retried later): %s", q->name,
               e2.msg);
    return TB_OK;
}

/* ---------------------------------------------------------------- running a batch */

static uint64_t row_hash(const tb_batch *b, uint32_t i)
{
    uint64_t h = 0x51ed27;
    for (uint32_t j = 0; j < b->n_cols; j++) {
        tb_value v;
        tb_vec_get(&b->cols[j], i, &v);
        if (v.is_null) {
            h = tb_hash_combine(h, 0x6e756c6c);
            continue;
        }
        switch (v.type.id) {
        case TB_T_STRING:
            h = tb_hash_combine(h, tb_hash_bytes(v.u.s.ptr, v.u.s.len, 7));
            break;
        case TB_T_DOUBLE:
        case TB_T_FLOAT: {
            uint64_t bits;
            memcpy(&bits, &v.u.d, 8);
            h = tb_hash_combine(h, bits);
            break;
        }
        case TB_T_DECIMAL:
            h = tb_hash_combine(h, (uint64_t)v.u.dec);
            h = tb_hash_combine(h, (uint64_t)(v.u.dec >> 64));
            break;
        case TB_T_INTERVAL:
            h = tb_hash_combine(h, (uint64_t)v.u.iv.micros ^ ((uint64_t)v.u.iv.days << 40) ^
                                       ((uint64_t)v.u.iv.months << 20));
            break;
        default:
            h = tb_hash_combine(h, (uint64_t)v.u.i);
        }
    }
    return h;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Per-batch figures for the progress record. */
typedef struct batch_stats {
    int64_t batch;
    size_t n_files;
    uint64_t rows_in, late, malformed, rows_out, rows_emitted;
    int64_t t_start, t_offsets, t_plan, t_exec, t_sink, t_ckpt, t_end; /* ns */
    int64_t wall_start_us;
} batch_stats;

static tb_rc write_progress(tb_stream *st, cq *q, const batch_stats *bs)
{
    double total_s = (double)(bs->t_end - bs->t_start) / 1e9;
    double exec_s = (double)(bs->t_exec - bs->t_plan) / 1e9;
    char wm[48] = "";
    if (q->watermark != TB_WATERMARK_NONE)
        tb_format_timestamp(q->watermark, wm);
    char ts[48];
    tb_format_timestamp(bs->wall_start_us, ts);
    if (st->opts.progress_fp != NULL || st->opts.on_batch != NULL) { /* serve hook */
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
        if (rec != NULL) {
            char *text = json_dumps(rec, JSON_COMPACT);
            if (text != NULL && st->opts.progress_fp != NULL) {
                fprintf(st->opts.progress_fp, "%s\n", text);
                fflush(st->opts.progress_fp);
            }
            /* serve hook (issue 11): progress + changed views to the servers (outside
             * the write lock: the callback reads the views under the read lock). */
            if (text != NULL && st->opts.on_batch != NULL) {
                const char *views[1] = {q->name};
                st->opts.on_batch(st->opts.on_batch_ud, text, views, q->mv != NULL ? 1 : 0);
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

/* Bytes a query holds between batches: its aggregate state, its view and the final
 * rows it keeps (append mode). */
static uint64_t cq_bytes(const cq *q)
{
    uint64_t n = q->agg != NULL ? tb_sagg_bytes(q->agg) : 0;
    if (q->mv != NULL)
        n += tb_table_bytes(q->mv);
    if (q->emitted != NULL)
        n += tb_table_bytes(q->emitted);
    return n;
}

/* --memory-limit: the streaming state of all queries, checked after each batch of q. */
static tb_rc check_memory(tb_stream *st, cq *q, bool refresh, tb_err *err)
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
                   refresh ? "restoring committed" : "in uncommitted", q->src->cur_batch);
}

/* Update mode: keep the hashes of this result's rows (sorted) for the next batch's
 * diff. */
static tb_rc remember_result(cq *q, tb_table *result, tb_err *err)
{
    uint64_t *hashes = NULL;
    size_t n_hashes = 0, cap_hashes = 0;
    tb_op *scan = NULL;
    tb_rc rc = tb_table_scan_new(result, NULL, 0, &scan, err);
    while (rc == TB_OK) {
        tb_batch *b = NULL;
        rc = tb_op_next(scan, &b, err);
        if (rc != TB_OK || b == NULL)
            break;
        for (uint32_t i = 0; i < b->n_rows; i++) {
            if (tb_grow((void **)&hashes, &cap_hashes, n_hashes + 1, 8) != TB_OK) {
                rc = tb_err_nomem(err);
                break;
            }
            hashes[n_hashes++] = row_hash(b, i);
        }
    }
    tb_op_free(scan);
    if (rc != TB_OK) {
        tb_free(hashes);
        return rc;
    }
    if (n_hashes > 1)
        qsort(hashes, n_hashes, 8, cmp_u64);
    tb_free(q->prev_hashes);
    q->prev_hashes = hashes;
    q->n_prev = n_hashes;
    return TB_OK;
}

/* A batch failed: if one of its files is gone (deleted between discovery and read),
 * say so and how to go on; the batch stays uncommitted either way. */
static void missing_hint(const stream_src *src, const tb_strlist *files, tb_err *err)
{
    for (size_t i = 0; files != NULL && i < files->n; i++) {
        if (access(files->items[i], F_OK) == 0)
            continue;
        char msg[TB_ERR_MSG_CAP];
        snprintf(msg, sizeof(msg), "%s", err->msg);
        TB_ERRF(err, err->code,
                "%s (file '%s' of this batch was deleted after it was discovered; files must "
                "stay until read: restore it, or set ignore_missing_files = 'true' on stream "
                "%s to skip it)",
                msg, files->items[i], src->name);
        return;
    }
}

/*
 * Run batch `batch` of q over `files` (full paths; rel names go to offsets). `replay`:
 * the batch's offsets exist already (re-run after a crash) and are not written again.
 * files == NULL: a refresh with no input (restart), which writes nothing to the
 * checkpoint.
 */
static tb_rc run_batch(tb_stream *st, cq *q, int64_t batch, const tb_strlist *files,
                       bool replay, tb_err *err)
{
    tb_rc rc = TB_OK;
    tb_plan *plan = NULL;
    tb_table *result = NULL, *closed = NULL;
    tb_strlist none = {0};
    batch_stats bs = {.batch = batch, .t_start = tb_now_ns(), .wall_start_us = tb_wall_us()};
    stream_src *src = q->src;
    bool refresh = files == NULL || src->rebuilding;

    if (!refresh && !replay) {
        rc = cq_write_offsets(q, batch, files, err);
        if (rc != TB_OK)
            return rc;
    }
    bs.t_offsets = tb_now_ns();
    bs.n_files = refresh ? 0 : files->n;
    src->cur_files = files == NULL ? &none : files;
    src->cur_watermark = q->watermark;
    src->cur_batch = batch;
    src->cur_query = q->name;
    bad_discard(src);
    src->batch_max_ts = INT64_MIN;
    src->batch_rows = src->batch_late = src->batch_malformed = 0;

    tb_plan_opts popts = {.make_agg = cq_make_agg, .ud = q};
    rc = tb_sql_plan_node(st->db, q->text, q->select, &popts, &plan, err);
    bs.t_plan = tb_now_ns();
    if (rc != TB_OK)
        goto done;
    result = tb_table_new(plan->root->schema);
    if (result == NULL) {
        rc = tb_err_nomem(err);
        goto done;
    }
    for (;;) {
        tb_batch *b = NULL;
        rc = tb_op_next(plan->root, &b, err);
        if (rc != TB_OK) {
            missing_hint(src, files, err);
            goto done;
        }
        if (b == NULL)
            break;
        if (b->n_rows == 0)
            continue;
        rc = tb_table_append(result, b, err);
        if (rc != TB_OK)
            goto done;
        bs.rows_out += b->n_rows;
    }
    tb_plan_free(plan);
    plan = NULL;
    bs.t_exec = tb_now_ns();
    bs.rows_in = src->batch_rows;
    bs.late = src->batch_late;
    bs.malformed = src->batch_malformed;
    src->cur_files = NULL;
    if (src->wm_col >= 0 && src->batch_max_ts != INT64_MIN) {
        int64_t wm = src->batch_max_ts - src->wm_delay_us;
        if (q->watermark == TB_WATERMARK_NONE || wm > q->watermark)
            q->watermark = wm;
    }

    /* What each sink receives. */
    bool agg = q->is_agg;
    bool append_agg = agg && q->mode == MODE_APPEND;
    if (append_agg && q->watermark != TB_WATERMARK_NONE) {
        /* Split the result into closed windows (final: emitted, then evicted) and open. */
        closed = tb_table_new(tb_table_schema(result));
        tb_table *open = tb_table_new(tb_table_schema(result));
        if (closed == NULL || open == NULL) {
            tb_table_free(open);
            rc = tb_err_nomem(err);
            goto done;
        }
        tb_op *scan = NULL;
        tb_arena *arena = tb_arena_new(0);
        rc = arena == NULL ? tb_err_nomem(err) : tb_table_scan_new(result, NULL, 0, &scan, err);
        while (rc == TB_OK) {
            tb_batch *b = NULL;
            rc = tb_op_next(scan, &b, err);
            if (rc != TB_OK || b == NULL)
                break;
            tb_arena_reset(arena);
            uint32_t *sc = tb_arena_alloc(arena, sizeof(uint32_t) * b->n_rows);
            uint32_t *so = tb_arena_alloc(arena, sizeof(uint32_t) * b->n_rows);
            if (sc == NULL || so == NULL) {
                rc = tb_err_nomem(err);
                break;
            }
            uint32_t nc = 0, no = 0;
            const tb_vec *wv = &b->cols[q->win_out_col];
            for (uint32_t i = 0; i < b->n_rows; i++) {
                int64_t start = TB_VEC_PTR(wv, int64_t)[i];
                if (!tb_vec_is_null(wv, i) && start + q->win_size_us <= q->watermark)
                    sc[nc++] = i;
                else
                    so[no++] = i;
            }
            for (int part = 0; part < 2 && rc == TB_OK; part++) {
                uint32_t n = part == 0 ? nc : no;
                if (n == 0)
                    continue;
                tb_batch *out = NULL;
                rc = tb_batch_shell(b->n_cols, arena, &out);
                for (uint32_t j = 0; rc == TB_OK && j < b->n_cols; j++) {
                    rc = tb_vec_init(&out->cols[j], b->cols[j].type, n, arena);
                    if (rc == TB_OK)
                        rc = tb_vec_copy_rows(&out->cols[j], 0, n, &b->cols[j],
                                              part == 0 ? sc : so, n, false, arena);
                }
                if (rc != TB_OK) {
                    rc = tb_err_nomem(err);
                    break;
                }
                out->n_rows = out->cap = n;
                rc = tb_table_append(part == 0 ? closed : open, out, err);
            }
        }
        tb_op_free(scan);
        tb_arena_free(arena);
        if (rc != TB_OK) {
            tb_table_free(open);
            goto done;
        }
        bs.rows_emitted = tb_table_rows(closed);
        /* Evict the closed windows from the state: they can no longer change. */
        if (q->agg != NULL && q->win_group >= 0) {
            rc = tb_sagg_evict_before(q->agg, (uint32_t)q->win_group,
                                      q->watermark - q->win_size_us + 1, err);
            if (rc != TB_OK) {
                tb_table_free(open);
                goto done;
            }
        }
        /* The view shows final rows (emitted) and the still-open windows. */
        tb_op *es = NULL;
        rc = tb_table_scan_new(closed, NULL, 0, &es, err);
        while (rc == TB_OK) {
            tb_batch *b = NULL;
            rc = tb_op_next(es, &b, err);
            if (rc != TB_OK || b == NULL)
                break;
            rc = tb_table_append(q->emitted, b, err);
        }
        tb_op_free(es);
        tb_table_free(result);
        result = open;
        if (rc != TB_OK)
            goto done;
    }

    /* Update mode: rows that differ from the previous result. */
    bool need_update = false;
    for (size_t i = 0; i < q->n_sinks; i++)
        need_update |= q->sinks[i].mode == MODE_UPDATE;

    /* Materialized view. */
    if (q->mv != NULL) {
        /* serve hook (issue 11): the view changes under the db's write lock (sql.h), so a
         * served query sees it as of one committed batch; only this publish step is
         * locked (queries read the view's table, never the aggregate's state). The
         * runtime rewrite moves the lock to wherever its views change. */
        tb_db_write_begin(st->db);
        tb_table *fresh = tb_table_new(tb_table_schema(q->mv));
        if (fresh == NULL) {
            tb_db_write_end(st->db); /* serve hook */
            rc = tb_err_nomem(err);
            goto done;
        }
        tb_table *parts[2] = {agg ? q->emitted : NULL, result};
        for (int p = 0; p < 2 && rc == TB_OK; p++) {
            if (parts[p] == NULL)
                continue;
            tb_op *scan = NULL;
            rc = tb_table_scan_new(parts[p], NULL, 0, &scan, err);
            while (rc == TB_OK) {
                tb_batch *b = NULL;
                rc = tb_op_next(scan, &b, err);
                if (rc != TB_OK || b == NULL)
                    break;
                rc = tb_table_append(fresh, b, err);
            }
            tb_op_free(scan);
        }
        if (rc != TB_OK) {
            tb_table_free(fresh);
            tb_db_write_end(st->db); /* serve hook */
            goto done;
        }
        if (agg) {
            tb_table_swap(q->mv, fresh); /* complete: the view is the whole result */
        } else if (!refresh || src->rebuilding) {
            tb_op *scan = NULL;
            rc = tb_table_scan_new(fresh, NULL, 0, &scan, err);
            while (rc == TB_OK) {
                tb_batch *b = NULL;
                rc = tb_op_next(scan, &b, err);
                if (rc != TB_OK || b == NULL)
                    break;
                rc = tb_table_append(q->mv, b, err);
            }
            tb_op_free(scan);
        }
        tb_table_free(fresh);
        tb_db_write_end(st->db); /* serve hook */
        if (rc != TB_OK)
            goto done;
    }

    rc = check_memory(st, q, refresh, err);
    if (rc != TB_OK)
        goto done; /* batch N stays uncommitted: a restart with a higher limit re-runs it */
    if (refresh) {
        /* Restart: the view is rebuilt; sinks already have every batch. Update-mode
         * sinks compare the next result with this one (else they re-send it all). */
        if (need_update)
            rc = remember_result(q, result, err);
        goto done;
    }
    if ((src->bad_dir != NULL || q->n_sinks > 0) && tb_ckpt_dirty_since(q->ckpt) != 0) {
        rc = tb_ckpt_sync(q->ckpt, err); /* the batch's files before any output of it */
        if (rc != TB_OK)
            goto done;
    }
    if (src->bad_dir != NULL) {
        rc = bad_publish(src, err); /* durable before any sink commits batch N */
        if (rc != TB_OK)
            goto done;
    }

    for (size_t s = 0; s < q->n_sinks; s++) {
        sink_ref *sr = &q->sinks[s];
        tb_table *rows = result;
        bool replace = false;
        if (sr->mode == MODE_COMPLETE) {
            replace = true;
        } else if (sr->mode == MODE_APPEND && agg) {
            rows = closed; /* final windows only */
        }
        rc = tb_sink_begin(sr->sink, batch, replace, err);
        if (rc != TB_OK)
            goto sink_fail;
        tb_op *scan = NULL;
        if (sr->mode == MODE_COMPLETE && agg && q->emitted != NULL &&
            tb_table_rows(q->emitted) > 0) {
            rc = tb_table_scan_new(q->emitted, NULL, 0, &scan, err);
            while (rc == TB_OK) {
                tb_batch *b = NULL;
                rc = tb_op_next(scan, &b, err);
                if (rc != TB_OK || b == NULL)
                    break;
                rc = tb_sink_write(sr->sink, b, err);
            }
            tb_op_free(scan);
            scan = NULL;
            if (rc != TB_OK)
                goto sink_fail;
        }
        if (rows != NULL) {
            rc = tb_table_scan_new(rows, NULL, 0, &scan, err);
            tb_arena *arena = tb_arena_new(0);
            if (arena == NULL && rc == TB_OK)
                rc = tb_err_nomem(err);
            while (rc == TB_OK) {
                tb_batch *b = NULL;
                rc = tb_op_next(scan, &b, err);
                if (rc != TB_OK || b == NULL)
                    break;
                if (sr->mode == MODE_UPDATE && q->n_prev > 0) {
                    /* Only rows not present in the previous result. */
                    tb_arena_reset(arena);
                    uint32_t *sel = tb_arena_alloc(arena, sizeof(uint32_t) * b->n_rows);
                    uint32_t n = 0;
                    if (sel == NULL) {
                        rc = tb_err_nomem(err);
                        break;
                    }
                    for (uint32_t i = 0; i < b->n_rows; i++) {
                        uint64_t h = row_hash(b, i);
                        if (bsearch(&h, q->prev_hashes, q->n_prev, 8, cmp_u64) == NULL)
                            sel[n++] = i;
                    }
                    if (n == 0)
                        continue;
                    tb_batch *ob = NULL;
                    rc = tb_batch_shell(b->n_cols, arena, &ob);
                    for (uint32_t j = 0; rc == TB_OK && j < b->n_cols; j++) {
                        rc = tb_vec_init(&ob->cols[j], b->cols[j].type, n, arena);
                        if (rc == TB_OK)
                            rc = tb_vec_copy_rows(&ob->cols[j], 0, n, &b->cols[j], sel, n,
                                                  false, arena);
                    }
                    if (rc != TB_OK) {
                        rc = tb_err_nomem(err);
                        break;
                    }
                    ob->n_rows = ob->cap = n;
                    b = ob;
                }
                rc = tb_sink_write(sr->sink, b, err);
            }
            tb_arena_free(arena);
            tb_op_free(scan);
            if (rc != TB_OK)
                goto sink_fail;
        }
        rc = tb_sink_commit(sr->sink, batch, err);
        if (rc != TB_OK)
            goto sink_fail;
        continue;
    sink_fail:
        sr->sink->vt->abort(sr->sink);
        tb_err_prefix(err, "sink %s", sr->table);
        goto done;
    }
    if (need_update) {
        rc = remember_result(q, result, err);
        if (rc != TB_OK)
            goto done;
    }
    bs.t_sink = tb_now_ns();

    /* Every sink has batch N: its commit (with the state now held) is written with the
     * next batch's offsets, or on its own when the job idles or stops (cq_flush). */
    q->pending_commit = batch;
    q->pending_since_ns = tb_now_ns();
    kill_point("sinks", batch);
    q->total_rows += bs.rows_in;
    bs.t_ckpt = bs.t_end = tb_now_ns();
    write_progress(st, q, &bs);
done:
    src->cur_files = NULL;
    bad_discard(src);
    tb_plan_free(plan);
    tb_table_free(result);
    tb_table_free(closed);
    return rc;
}

/* ---------------------------------------------------------------- job statements */

static tb_rc exec_plain(tb_stream *st, const char *sql, int off, int len, tb_err *err)
{
    char *text = tb_strndup(sql + off, len > 0 ? (size_t)len : strlen(sql + off));
    if (text == NULL)
        return tb_err_nomem(err);
    tb_rc rc = tb_db_exec(st->db, text, NULL);
    if (rc != TB_OK) {
        const tb_err *e = tb_db_last_error(st->db);
        *err = *e;
        if (err->pos >= 0)
            err->pos += off;
        if (err->code == TB_OK)
            err->code = rc;
    }
    tb_free(text);
    return rc;
}

static tb_rc create_source(tb_stream *st, const PgQuery__Node *node, const char *name,
                           const tb_strlist *kv, int pos, tb_err *err)
{
    tb_rc rc;
    stream_src *src = tb_calloc(1, sizeof(*src));
    if (src == NULL)
        return tb_err_nomem(err);
    src->st = st;
    src->wm_col = -1;
    src->name = tb_strdup(name);
    src->csv = tb_csv_opts_new();
    if (src->name == NULL || src->csv == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    rc = tb_sql_create_schema(node, &src->schema, err);
    if (rc != TB_OK)
        goto fail;
    if (src->schema == NULL || src->schema->n == 0) {
        rc = TB_ERRPOS(err, TB_E_SQL, pos,
                       "stream \"%s\": declare its columns (a streaming source needs a fixed "
                       "schema, as in Spark): CREATE TABLE %s (col type, ...) WITH (...)",
                       name, name);
        goto fail;
    }
    const char *path = kv_get(kv, "path");
    if (path == NULL) {
        rc = TB_ERRPOS(err, TB_E_SQL, pos, "stream \"%s\": the 'path' option (a directory) is "
                       "required", name);
        goto fail;
    }
    src->dir = tb_strdup(path);
    if (src->dir == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    size_t dl = strlen(src->dir);
    while (dl > 1 && src->dir[dl - 1] == '/')
        src->dir[--dl] = '\0';
    /* JSON lines: known before the loop, so that its options go to the JSON reader */
    if (kv_get(kv, "format") != NULL && tb_str_ieq(kv_get(kv, "format"), "json") &&
        (src->json = tb_jsonl_opts_new()) == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    for (size_t i = 0; i + 1 < kv->n; i += 2) {
        const char *k = kv->items[i], *v = kv->items[i + 1];
        if (tb_str_ieq(k, "connector") || tb_str_ieq(k, "path"))
            continue;
        if (tb_str_ieq(k, "format")) {
            if (tb_str_ieq(v, "parquet")) {
                src->parquet = true;
            } else if (!tb_str_ieq(v, "csv") && !tb_str_ieq(v, "json")) {
                rc = TB_ERRPOS(err, TB_E_UNSUPPORTED, pos,
                               "stream \"%s\": format '%s' is not supported (csv, parquet, "
                               "json)",
                               name, v);
                goto fail;
            }
        } else if (tb_str_ieq(k, "watermark")) {
            rc = parse_watermark(v, src->schema, &src->wm_col, &src->wm_delay_us, err);
            if (rc != TB_OK) {
                err->pos = pos;
                goto fail;
            }
        } else if (tb_str_ieq(k, "max_files_per_trigger")) {
            char *end = NULL;
            long m = strtol(v, &end, 10);
            if (end == v || *end != '\0' || m < 0) {
                rc = TB_ERRPOS(err, TB_E_SQL, pos,
                               "max_files_per_trigger takes a non-negative integer, not '%s'", v);
                goto fail;
            }
            src->max_files = (uint32_t)m;
        } else if (tb_str_ieq(k, "latest_first")) {
            src->latest_first = tb_str_ieq(v, "true") || strcmp(v, "1") == 0;
        } else if (tb_str_ieq(k, "ignore_missing_files")) {
            src->ignore_missing = tb_str_ieq(v, "true") || strcmp(v, "1") == 0;
        } else if (tb_str_ieq(k, "bad_records_path")) {
            tb_free(src->bad_dir);
            src->bad_dir = tb_strdup(v);
            if (src->bad_dir == NULL) {
                rc = tb_err_nomem(err);
                goto fail;
            }
            rc = tb_mkdirs(v, err);
            if (rc != TB_OK) {
                tb_err_prefix(err, "stream \"%s\": bad_records_path", name);
                err->pos = pos;
                goto fail;
            }
        } else if (!src->parquet) {
            rc = src->json != NULL ? tb_jsonl_opts_set(src->json, k, v, err)
                                   : tb_csv_opts_set(src->csv, k, v, err);
            if (rc != TB_OK) {
                err->pos = pos;
                goto fail;
            }
        }
    }
    rc = tb_catalog_add_connector(st->db, name, src->schema, &src_vt, src, err);
    if (rc != TB_OK) {
        err->pos = pos;
        goto fail;
    }
    /* The catalog owns src now. */
    if (tb_grow((void **)&st->srcs, &(size_t){st->n_srcs}, st->n_srcs + 1, sizeof(void *)) !=
        TB_OK)
        return tb_err_nomem(err);
    st->srcs[st->n_srcs++] = src;
    return TB_OK;
fail:
    src_free(src);
    return rc;
}

static tb_rc cq_open_checkpoint(tb_stream *st, cq *q, tb_err *err)
{
    tb_buf dir = {0};
    if (tb_buf_printf(&dir, "%s/%s", st->ckpt_root, q->name) != TB_OK)
        return tb_err_nomem(err);
    for (char *p = dir.data + strlen(st->ckpt_root) + 1; *p; p++)
        if (*p == ' ' || *p == '/')
            *p = '_';
    tb_rc rc = tb_ckpt_open(dir.data, q->query_text, &q->ckpt, err);
    tb_buf_free(&dir);
    return rc;
}

static void cq_free(cq *q)
{
    if (q == NULL)
        return;
    for (size_t i = 0; i < q->n_sinks; i++) {
        tb_sink_free(q->sinks[i].sink);
        tb_free(q->sinks[i].table);
    }
    tb_free(q->sinks);
    tb_sagg_free(q->agg);
    tb_free(q->restore);
    tb_table_free(q->emitted);
    tb_buf_free(&q->emitted_csv);
    tb_schema_free(q->out_schema);
    tb_ckpt_free(q->ckpt);
    tb_filewatch_free(q->fw);
    tb_free(q->prev_hashes);
    tb_free(q->win_name);
    tb_free(q->query_text);
    tb_free(q->name);
    tb_free(q);
}

/* A continuous query over `src`: name is the view (or NULL for an INSERT pipeline). */
static tb_rc create_cq(tb_stream *st, const char *name, const char *text,
                       const PgQuery__Node *select, stream_src *src, const char *stmt_text,
                       int pos, cq **out, tb_err *err)
{
    tb_rc rc;
    tb_plan *plan = NULL;
    cq *q = tb_calloc(1, sizeof(*q));
    *out = NULL;
    if (q == NULL)
        return tb_err_nomem(err);
    q->st = st;
    q->src = src;
    for (size_t i = 0; i < st->n_cqs; i++)
        src->shared |= st->cqs[i]->src == src; /* a second query over src */
    q->select = select;
    q->text = text;
    q->win_group = -1;
    q->win_out_col = -1;
    q->watermark = TB_WATERMARK_NONE;
    q->pending_commit = -1;
    q->name = tb_strdup(name);
    q->query_text = tb_strdup(stmt_text);
    if (q->name == NULL || q->query_text == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    /* Plan once with no input: output schema, aggregate or not, window column. */
    tb_strlist none = {0};
    src->cur_files = &none;
    tb_plan_opts popts = {.make_agg = cq_make_agg, .ud = q};
    rc = tb_sql_plan_node(st->db, text, select, &popts, &plan, err);
    src->cur_files = NULL;
    if (rc != TB_OK)
        goto fail;
    q->out_schema = tb_schema_copy(plan->root->schema);
    if (q->out_schema == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    tb_plan_free(plan);
    plan = NULL;
    /* A fresh state per run: the planning pass above made one without input. */
    tb_sagg_free(q->agg);
    q->agg = NULL;
    q->mode = q->is_agg ? MODE_COMPLETE : MODE_APPEND;
    if (q->is_agg && src->wm_col >= 0 && q->win_group >= 0) {
        /* The output column carrying the window start: the group's own name, else
         * "window_start", else the only timestamp column of the output. */
        if (q->win_name != NULL)
            q->win_out_col = tb_schema_find(q->out_schema, q->win_name);
        if (q->win_out_col < 0)
            q->win_out_col = tb_schema_find(q->out_schema, "window_start");
        for (uint32_t i = 0; q->win_out_col < 0 && i < q->out_schema->n; i++) {
            if (q->out_schema->fields[i].type.id != TB_T_TIMESTAMP)
                continue;
            bool only = true;
            for (uint32_t k = i + 1; k < q->out_schema->n; k++)
                only &= q->out_schema->fields[k].type.id != TB_T_TIMESTAMP;
            if (only)
                q->win_out_col = (int)i;
            break;
        }
        if (q->win_out_col < 0 || q->out_schema->fields[q->win_out_col].type.id != TB_T_TIMESTAMP)
            tb_log(TB_LOG_WARN,
                   "%s: the window start is not an output column; windows are kept, not "
                   "finalised (state grows with time)",
                   name);
        else
            q->mode = MODE_APPEND; /* windows are finalised and evicted by the watermark */
    }
    if (q->mode == MODE_APPEND && q->is_agg &&
        (q->emitted = tb_table_new(q->out_schema)) == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    rc = cq_open_checkpoint(st, q, err);
    if (rc != TB_OK)
        goto fail;
    if (tb_grow((void **)&st->cqs, &(size_t){st->n_cqs}, st->n_cqs + 1, sizeof(void *)) !=
        TB_OK) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    st->cqs[st->n_cqs++] = q;
    *out = q;
    return TB_OK;
fail:
    if (rc != TB_OK && err->pos < 0)
        err->pos = pos;
    tb_plan_free(plan);
    cq_free(q);
    return rc;
}

static tb_rc create_mv(tb_stream *st, const char *name, const char *text,
                       const PgQuery__Node *select, stream_src *src, const char *stmt_text,
                       int pos, tb_err *err)
{
    cq *q = NULL;
    tb_rc rc = create_cq(st, name, text, select, src, stmt_text, pos, &q, err);
    if (rc != TB_OK)
        return rc;
    tb_table *mv = tb_table_new(q->out_schema);
    if (mv == NULL)
        return tb_err_nomem(err);
    rc = tb_catalog_add_table(st->db, name, mv, err);
    if (rc != TB_OK) {
        tb_table_free(mv);
        err->pos = pos;
        return rc;
    }
    q->mv = mv;
    return TB_OK;
}

/* A static materialized view (no stream): computed once, kept as a memory table. */
static tb_rc create_static_mv(tb_stream *st, const char *name, const char *text,
                              const PgQuery__Node *select, tb_err *err)
{
    tb_plan *plan = NULL;
    tb_rc rc = tb_sql_plan_node(st->db, text, select, NULL, &plan, err);
    if (rc != TB_OK)
        return rc;
    tb_table *t = tb_table_new(plan->root->schema);
    if (t == NULL)
        rc = tb_err_nomem(err);
    while (rc == TB_OK) {
        tb_batch *b = NULL;
        rc = tb_op_next(plan->root, &b, err);
        if (rc != TB_OK || b == NULL)
            break;
        rc = tb_table_append(t, b, err);
    }
    tb_plan_free(plan);
    if (rc == TB_OK)
        rc = tb_catalog_add_table(st->db, name, t, err);
    if (rc != TB_OK)
        tb_table_free(t);
    return rc;
}

static bool is_select_star(const PgQuery__Node *sel)
{
    if (sel == NULL || sel->node_case != PG_QUERY__NODE__NODE_SELECT_STMT)
        return false;
    const PgQuery__SelectStmt *s = sel->select_stmt;
    if (s->n_target_list != 1 || s->n_from_clause != 1 || s->where_clause != NULL ||
        s->n_group_clause != 0)
        return false;
    const PgQuery__Node *t = s->target_list[0];
    if (t->node_case != PG_QUERY__NODE__NODE_RES_TARGET || t->res_target->val == NULL ||
        t->res_target->val->node_case != PG_QUERY__NODE__NODE_COLUMN_REF)
        return false;
    const PgQuery__ColumnRef *cr = t->res_target->val->column_ref;
    return cr->n_fields == 1 && cr->fields[0]->node_case == PG_QUERY__NODE__NODE_A_STAR;
}

static tb_rc attach_sink(cq *q, struct decl *d, int pos, tb_err *err)
{
    const char *connector = kv_get(&d->kv, "connector");
    bool ok;
    out_mode mode = parse_mode(kv_get(&d->kv, "output_mode"), &ok);
    if (!ok)
        return TB_ERRPOS(err, TB_E_SQL, pos,
                         "sink \"%s\": output_mode must be complete, append or update", d->name);
    if (mode == MODE_DEFAULT)
        mode = q->is_agg && q->mode != MODE_APPEND ? MODE_COMPLETE : MODE_APPEND;
    if (mode == MODE_COMPLETE && !q->is_agg)
        return TB_ERRPOS(err, TB_E_SQL, pos,
                         "sink \"%s\": complete output mode needs an aggregation (the query "
                         "has none); use append",
                         d->name);
    if (mode == MODE_APPEND && q->is_agg && q->mode != MODE_APPEND)
        return TB_ERRPOS(err, TB_E_SQL, pos,
                         "sink \"%s\": append output mode on an aggregation needs a watermark on "
                         "the source (WITH (watermark = 'ts - 10 seconds')) and the window start "
                         "in the output; use complete or update",
                         d->name);
    const tb_schema *schema = q->out_schema;
    if (d->schema != NULL && d->schema->n > 0) {
        if (d->schema->n != schema->n)
            return TB_ERRPOS(err, TB_E_SQL, pos,
                             "sink \"%s\" has %u columns, the query gives %u", d->name,
                             d->schema->n, schema->n);
        for (uint32_t i = 0; i < schema->n; i++) {
            if (!tb_type_eq(d->schema->fields[i].type, schema->fields[i].type)) {
                char a[64], b[64];
                return TB_ERRPOS(err, TB_E_TYPE, pos,
                                 "sink \"%s\": column \"%s\" is %s, the query gives %s",
                                 d->name, d->schema->fields[i].name,
                                 tb_type_name(d->schema->fields[i].type, a, sizeof(a)),
                                 tb_type_name(schema->fields[i].type, b, sizeof(b)));
            }
        }
        schema = d->schema;
    }
    tb_sink *sink = NULL;
    tb_sink_open_fn open = tb_sink_lookup(connector);
    if (open == NULL) {
        char names[256];
        tb_sink_connectors(names, sizeof(names));
        return TB_ERRPOS(err, TB_E_UNSUPPORTED, pos,
                         "sink \"%s\": connector '%s' cannot receive a stream (%s)", d->name,
                         connector ? connector : "", names);
    }
    tb_sink_args args = {.table = d->name,
                         .kv = &d->kv,
                         .schema = schema,
                         .query_id = tb_ckpt_id(q->ckpt),
                         .mode = mode == MODE_COMPLETE ? TB_OUT_COMPLETE
                                 : mode == MODE_UPDATE ? TB_OUT_UPDATE
                                                       : TB_OUT_APPEND};
    tb_rc rc = open(&args, &sink, err);
    if (rc != TB_OK) {
        err->pos = pos;
        return rc;
    }
    if (tb_grow((void **)&q->sinks, &(size_t){q->n_sinks}, q->n_sinks + 1, sizeof(sink_ref)) !=
        TB_OK) {
        tb_sink_free(sink);
        return tb_err_nomem(err);
    }
    q->sinks[q->n_sinks].sink = sink;
    q->sinks[q->n_sinks].mode = mode;
    q->sinks[q->n_sinks].table = tb_strdup(d->name);
    q->n_sinks++;
    return TB_OK;
}

static tb_rc exec_one(tb_stream *st, const char *text, const PgQuery__RawStmt *raw,
                      tb_err *err)
{
    const PgQuery__Node *node = raw->stmt;
    int off = raw->stmt_location;
    int len = raw->stmt_len;
    tb_rc rc = TB_OK;
    tb_strlist kv = {0}, rels = {0};
    char *norm = NULL;

    /* A statement's location includes the blanks and comments after the previous one:
     * skip them, so errors point at the statement and the checkpoint's query identity
     * does not change with a comment above it. */
    for (;;) {
        int skip = 0;
        while (text[off + skip] == ' ' || text[off + skip] == '\t' ||
               text[off + skip] == '\n' || text[off + skip] == '\r')
            skip++;
        if (text[off + skip] == '-' && text[off + skip + 1] == '-')
            while (text[off + skip] != '\0' && text[off + skip] != '\n')
                skip++;
        if (skip == 0 || (len > 0 && skip >= len))
            break;
        off += skip;
        if (len > 0)
            len -= skip;
    }

    if (node->node_case == PG_QUERY__NODE__NODE_CREATE_STMT) {
        const char *name = node->create_stmt->relation->relname;
        rc = tb_sql_stmt_options(node, &kv, err);
        if (rc != TB_OK)
            goto done;
        const char *connector = kv_get(&kv, "connector");
        /* A files table is a stream source, unless it names an output mode: then it is
         * a sink (files written per batch), as `INSERT INTO` it will use it. `mode` is
         * the CSV parse mode of a source (permissive, dropmalformed, failfast). */
        bool files_sink = connector != NULL && tb_str_ieq(connector, "files") &&
                          kv_get(&kv, "output_mode") != NULL;
        if (connector != NULL && tb_str_ieq(connector, "files") && !files_sink) {
            rc = create_source(st, node, name, &kv, off, err);
            goto done;
        }
        if (connector != NULL && (files_sink || (!tb_str_ieq(connector, "files") &&
                                                 tb_sink_lookup(connector) != NULL))) {
            if (find_decl(st, name) != NULL) {
                rc = TB_ERRPOS(err, TB_E_EXISTS, off, "relation \"%s\" already exists", name);
                goto done;
            }
            if (tb_grow((void **)&st->decls, &(size_t){st->n_decls}, st->n_decls + 1,
                        sizeof(*st->decls)) != TB_OK) {
                rc = tb_err_nomem(err);
                goto done;
            }
            struct decl *d = &st->decls[st->n_decls];
            memset(d, 0, sizeof(*d));
            d->name = tb_strdup(name);
            d->kv = kv;
            kv = (tb_strlist){0};
            if (d->name == NULL) {
                rc = tb_err_nomem(err);
                goto done;
            }
            st->n_decls++;
            rc = tb_sql_create_schema(node, &d->schema, err);
            /* A Delta table that exists already is also queryable by name. */
            const char *path = kv_get(&d->kv, "path");
            if (rc == TB_OK && tb_str_ieq(connector, "delta") && path != NULL &&
                tb_sql_find_tablefunc("read_delta") != NULL) {
                tb_delta_snapshot *snap = NULL;
                tb_err e2;
                tb_err_clear(&e2);
                if (tb_delta_open(path, -1, &snap, &e2) == TB_OK) {
                    tb_delta_snapshot_free(snap);
                    if (exec_plain(st, text, off, len, &e2) != TB_OK)
                        tb_log(TB_LOG_WARN, "delta table %s: %s", name, e2.msg);
                }
            }
            goto done;
        }
        rc = exec_plain(st, text, off, len, err);
        goto done;
    }
    if (node->node_case == PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT &&
        node->create_table_as_stmt->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW) {
        const PgQuery__CreateTableAsStmt *c = node->create_table_as_stmt;
        const char *name = c->into->rel->relname;
        if (collect_relations(&c->query->base, &rels) != TB_OK) {
            rc = tb_err_nomem(err);
            goto done;
        }
        stream_src *src = NULL;
        for (size_t i = 0; i < rels.n; i++) {
            stream_src *s = find_src(st, rels.items[i]);
            if (s != NULL && src != NULL && s != src) {
                rc = TB_ERRPOS(err, TB_E_UNSUPPORTED, off,
                               "materialized view \"%s\" reads two streams (%s, %s): joins of "
                               "two streams are not supported; join a stream with static tables",
                               name, src->name, s->name);
                goto done;
            }
            if (s != NULL)
                src = s;
            if (find_cq(st, rels.items[i]) != NULL) {
                rc = TB_ERRPOS(err, TB_E_UNSUPPORTED, off,
                               "materialized view \"%s\" reads the streaming view \"%s\": views "
                               "over streaming views are not supported yet",
                               name, rels.items[i]);
                goto done;
            }
        }
        if (src == NULL) {
            rc = create_static_mv(st, name, text, c->query, err);
            goto done;
        }
        norm = normalise(text, off, len);
        if (norm == NULL) {
            rc = tb_err_nomem(err);
            goto done;
        }
        rc = create_mv(st, name, text, c->query, src, norm, off, err);
        goto done;
    }
    if (node->node_case == PG_QUERY__NODE__NODE_INSERT_STMT) {
        const PgQuery__InsertStmt *ins = node->insert_stmt;
        struct decl *d = find_decl(st, ins->relation->relname);
        if (d == NULL || ins->select_stmt == NULL) {
            rc = exec_plain(st, text, off, len, err);
            goto done;
        }
        if (collect_relations(&ins->select_stmt->base, &rels) != TB_OK) {
            rc = tb_err_nomem(err);
            goto done;
        }
        cq *q = NULL;
        stream_src *src = NULL;
        for (size_t i = 0; i < rels.n; i++) {
            if (q == NULL)
                q = find_cq(st, rels.items[i]);
            if (src == NULL)
                src = find_src(st, rels.items[i]);
        }
        if (q != NULL) {
            if (!is_select_star(ins->select_stmt)) {
                rc = TB_ERRPOS(err, TB_E_UNSUPPORTED, off,
                               "a sink takes a streaming view's rows as they are: write "
                               "INSERT INTO %s SELECT * FROM %s (shape the rows in the view)",
                               d->name, q->name);
                goto done;
            }
        } else if (src != NULL) {
            norm = normalise(text, off, len);
            if (norm == NULL) {
                rc = tb_err_nomem(err);
                goto done;
            }
            char qname[300];
            snprintf(qname, sizeof(qname), "insert_into_%s", d->name);
            rc = create_cq(st, qname, text, ins->select_stmt, src, norm, off, &q, err);
            if (rc != TB_OK)
                goto done;
        } else { /* no stream read: a batch write (Delta), once per job and table */
            rc = tb_write_insert_declared(st->db, text, off, len, node, &d->kv, d->schema, NULL,
                                          err);
            goto done;
        }
        rc = attach_sink(q, d, off, err);
        goto done;
    }
    rc = exec_plain(st, text, off, len, err);
done:
    tb_free(norm);
    tb_strlist_free(&kv);
    tb_strlist_free(&rels);
    return rc;
}

tb_rc tb_stream_exec(tb_stream *st, const char *sql, tb_err *err)
{
    if (tb_strlist_push(&st->texts, sql) != TB_OK)
        return tb_err_nomem(err);
    const char *text = st->texts.items[st->texts.n - 1];
    PgQueryProtobufParseResult r = pg_query_parse_protobuf(text);
    if (r.error != NULL) {
        tb_rc rc = TB_ERRPOS(err, TB_E_SQL, r.error->cursorpos > 0 ? r.error->cursorpos - 1 : -1,
                             "syntax error: %s", r.error->message);
        pg_query_free_protobuf_parse_result(r);
        return rc;
    }
    PgQuery__ParseResult *pr =
        pg_query__parse_result__unpack(NULL, r.parse_tree.len, (const uint8_t *)r.parse_tree.data);
    pg_query_free_protobuf_parse_result(r);
    if (pr == NULL)
        return tb_err_nomem(err);
    if (tb_grow((void **)&st->parses, &(size_t){st->n_parses}, st->n_parses + 1,
                sizeof(void *)) != TB_OK) {
        pg_query__parse_result__free_unpacked(pr, NULL);
        return tb_err_nomem(err);
    }
    st->parses[st->n_parses++] = pr;
    for (size_t i = 0; i < pr->n_stmts; i++) {
        tb_rc rc = exec_one(st, text, pr->stmts[i], err);
        if (rc != TB_OK)
            return rc;
    }
    return TB_OK;
}

uint32_t tb_stream_query_count(const tb_stream *st)
{
    return (uint32_t)st->n_cqs;
}

/* ---------------------------------------------------------------- lifecycle */

void tb_stream_opts_default(tb_stream_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->trigger = TB_TRIGGER_INTERVAL;
    opts->interval_ms = 1000;
    opts->tick_every_ms = 5000;
}

tb_rc tb_stream_new(tb_db *db, const tb_stream_opts *opts, tb_stream **out, tb_err *err)
{
    tb_stream *st = tb_calloc(1, sizeof(*st));
    *out = NULL;
    if (st == NULL)
        return tb_err_nomem(err);
    st->db = db;
    tb_sql_set_stmt_hook(db, tb_write_stmt_hook, NULL); /* COPY, Delta writes (batch) */
    if (opts != NULL)
        st->opts = *opts;
    else
        tb_stream_opts_default(&st->opts);
    if (st->opts.checkpoint_dir != NULL) {
        st->ckpt_root = tb_strdup(st->opts.checkpoint_dir);
    } else {
        char tmpl[] = "/tmp/tributary-checkpoint-XXXXXX";
        if (mkdtemp(tmpl) == NULL) {
            tb_free(st);
            return TB_ERRF(err, TB_E_IO, "cannot create a temporary checkpoint directory: %s",
                           strerror(errno));
        }
        st->ckpt_root = tb_strdup(tmpl);
        st->ckpt_tmp = true;
        tb_log(TB_LOG_INFO, "no --checkpoint given: using %s (a restart will not resume)",
               tmpl);
    }
    if (st->ckpt_root == NULL) {
        tb_free(st);
        return tb_err_nomem(err);
    }
    *out = st;
    return TB_OK;
}

void tb_stream_free(tb_stream *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->n_cqs; i++)
        cq_free(st->cqs[i]);
    tb_free(st->cqs);
    for (size_t i = 0; i < st->n_decls; i++) {
        tb_free(st->decls[i].name);
        tb_strlist_free(&st->decls[i].kv);
        tb_schema_free(st->decls[i].schema);
    }
    tb_free(st->decls);
    for (size_t i = 0; i < st->n_parses; i++)
        pg_query__parse_result__free_unpacked(st->parses[i], NULL);
    tb_free(st->parses);
    tb_free(st->srcs);
    tb_strlist_free(&st->texts);
    tb_free(st->ckpt_root);
    tb_free(st);
}

/*
 * A non-aggregating view holds every row so far but its rows are not in the state
 * (that would rewrite the whole view at every batch): at restart, committed batch
 * off->batch is re-read into the view alone, with the watermark it ran with, so the
 * view gets exactly the rows it had. Files deleted since are skipped with a warning.
 */
static tb_rc rebuild_view(tb_stream *st, cq *q, const tb_ckpt_offsets *off, tb_err *err)
{
    tb_strlist full = {0};
    tb_buf p = {0};
    tb_rc rc = TB_OK;
    for (size_t i = 0; i < off->files.n && rc == TB_OK; i++) {
        p.len = 0;
        if (tb_buf_printf(&p, "%s/%s", q->src->dir, off->files.items[i]) != TB_OK ||
            tb_strlist_push(&full, p.data) != TB_OK)
            rc = tb_err_nomem(err);
    }
    tb_buf_free(&p);
    if (rc == TB_OK) {
        int64_t wm = q->watermark; /* from the state: the one to keep */
        q->watermark = off->watermark_us;
        q->src->rebuilding = true;
        rc = run_batch(st, q, off->batch, &full, true, err);
        q->src->rebuilding = false;
        q->watermark = wm;
    }
    tb_strlist_free(&full);
    return rc;
}

/* What cq_start gathers from the checkpoint's batches. */
typedef struct start_scan {
    tb_stream *st;
    cq *q;
    int64_t commit; /* last committed batch */
    tb_strlist replay; /* files of the uncommitted batch (full paths) */
} start_scan;

static tb_rc start_batch(void *ud, const tb_ckpt_offsets *off, tb_err *err)
{
    start_scan *ss = ud;
    cq *q = ss->q;
    tb_rc rc = TB_OK;
    /* Every file named by an offsets entry was (or is being) read. */
    for (size_t i = 0; i < off->files.n && rc == TB_OK; i++) {
        rc = tb_filewatch_mark_seen(q->fw, off->files.items[i], err);
        if (rc == TB_OK && off->batch > ss->commit) {
            tb_buf full = {0};
            if (tb_buf_printf(&full, "%s/%s", q->src->dir, off->files.items[i]) != TB_OK ||
                tb_strlist_push(&ss->replay, full.data) != TB_OK)
                rc = tb_err_nomem(err);
            tb_buf_free(&full);
        }
    }
    if (off->batch <= ss->commit && rc == TB_OK && q->mv != NULL && !q->is_agg &&
        off->files.n > 0)
        rc = rebuild_view(ss->st, q, off, err);
    return rc;
}

/* Restore q from its checkpoint and re-run an uncommitted batch. */
static tb_rc cq_start(tb_stream *st, cq *q, tb_err *err)
{
    tb_rc rc;
    tb_filewatch_opts fo;
    tb_filewatch_opts_default(&fo);
    rc = tb_filewatch_open(q->src->dir, &fo, &q->fw, err);
    if (rc != TB_OK)
        return rc;
    /* Nothing of this query leaves the process: its records need not be durable before
     * its batches run (see tb_ckpt_set_deferred_sync). */
    tb_ckpt_set_deferred_sync(q->ckpt, !st->opts.sync_every_batch && q->n_sinks == 0 &&
                                           q->src->bad_dir == NULL);
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
    start_scan ss = {st, q, c, {0}};
    rc = tb_ckpt_scan(q->ckpt, start_batch, &ss, err);
    if (rc != TB_OK) {
        tb_strlist_free(&ss.replay);
        return rc;
    }
    q->next_batch = c + 1;
    if (c >= 0) {
        rc = run_batch(st, q, c, NULL, false, err); /* rebuild the view from the state */
        if (rc != TB_OK) {
            tb_strlist_free(&ss.replay);
            return rc;
        }
    }
    if (last_off > c) {
        tb_log(TB_LOG_INFO, "%s: re-running uncommitted batch %" PRId64 " (%zu files)", q->name,
               c + 1, ss.replay.n);
        rc = run_batch(st, q, c + 1, &ss.replay, true, err);
        q->next_batch = c + 2;
        q->failed = rc != TB_OK;
    }
    tb_strlist_free(&ss.replay);
    q->started = true;
    return rc;
}

static tb_rc cq_step(tb_stream *st, cq *q, int timeout_ms, uint32_t max_files, bool *out_ran,
                     tb_err *err)
{
    tb_strlist files = {0};
    *out_ran = false;
    if (q->failed)
        return TB_ERRF(err, TB_E_MISUSE,
                       "%s: batch %" PRId64 " failed; restart the job to resume from the "
                       "checkpoint",
                       q->name, q->next_batch);
    tb_rc rc = tb_filewatch_take(q->fw, timeout_ms, max_files, q->src->latest_first, &files,
                                 err);
    if (rc == TB_OK && files.n == 0 && q->pending_commit >= 0 &&
        tb_now_ns() - q->pending_since_ns >= (int64_t)IDLE_COMMIT_MS * 1000000)
        rc = cq_flush(q, err);
    /* deferred sync: when nothing is waiting, or when the oldest unsynced record is old */
    int64_t dirty = tb_ckpt_dirty_since(q->ckpt);
    if (rc == TB_OK && dirty != 0 &&
        (files.n == 0 || tb_now_ns() - dirty >= (int64_t)SYNC_DEFER_MS * 1000000))
        rc = tb_ckpt_sync(q->ckpt, err);
    if (rc == TB_OK && files.n > 0) {
        rc = run_batch(st, q, q->next_batch, &files, false, err);
        if (rc == TB_OK) {
            q->next_batch++;
            *out_ran = true;
        } else {
            q->failed = true; /* its files are taken, the state may hold part of it */
        }
    }
    tb_strlist_free(&files);
    if (rc != TB_OK)
        tb_err_prefix(err, "%s", q->name);
    return rc;
}

static tb_rc start_all(tb_stream *st, tb_err *err)
{
    for (size_t i = 0; i < st->n_cqs; i++) {
        if (st->cqs[i]->started)
            continue;
        tb_rc rc = cq_start(st, st->cqs[i], err);
        if (rc != TB_OK)
            return tb_err_prefix(err, "%s", st->cqs[i]->name);
    }
    return TB_OK;
}

tb_rc tb_stream_step(tb_stream *st, int timeout_ms, uint32_t *out_ran, tb_err *err)
{
    *out_ran = 0;
    tb_rc rc = start_all(st, err);
    for (size_t i = 0; rc == TB_OK && i < st->n_cqs; i++) {
        bool ran = false;
        cq *q = st->cqs[i];
        rc = cq_step(st, q, i == 0 ? timeout_ms : 0, q->src->max_files, &ran, err);
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
                rc = cq_step(st, st->cqs[i], 0, 0, &r, err);
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
        tb_rc r = cq_flush(st->cqs[i], err);
        if (r == TB_OK && st->cqs[i]->ckpt != NULL)
            r = tb_ckpt_sync(st->cqs[i]->ckpt, err);
        if (r != TB_OK && rc == TB_OK) {
            rc = r;
            tb_err_prefix(err, "%s", st->cqs[i]->name);
        }
    }
    return rc;
}
