/*
 * source_files.c - the files source of a stream: new files of a directory (csv, json
 * lines, parquet) read per batch, the feed operator (watermark filter, late rows, row
 * counts) and the bad-records files of the batch.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "format/parquet.h"
#include "stream/stream_int.h"

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
void tb_fsrc_bad_discard(stream_src *src)
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
tb_rc tb_fsrc_bad_publish(stream_src *src, tb_err *err)
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
    tb_fsrc_bad_discard(src);
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
    tb_fsrc_bad_discard(src);
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

/* A batch failed: if one of its files is gone (deleted between discovery and read),
 * say so and how to go on; the batch stays uncommitted either way. */
void tb_fsrc_missing_hint(const stream_src *src, const tb_strlist *files, tb_err *err)
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
tb_rc tb_fsrc_create(tb_stream *st, const PgQuery__Node *node, const char *name,
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
    const char *path = tb_stream_kv_get(kv, "path");
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
    if (tb_stream_kv_get(kv, "format") != NULL && tb_str_ieq(tb_stream_kv_get(kv, "format"), "json") &&
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

