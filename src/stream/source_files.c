/*
 * source_files.c - the files source (connector = 'files'): new files of a directory
 * (csv, json lines, parquet), as Spark's file source. Implements source.h.
 *
 * Offsets of a batch: {"files": ["a.csv", ...]}, names relative to the directory (a
 * checkpoint of an older release holds the same list as the record's "files"; the
 * runtime hands it over in this shape). Discovery is tb_filewatch (inotify, listing as
 * the fallback); restore() marks a batch's files as seen so plan() never returns them
 * again.
 *
 * Bad records (bad_records_path): the records of batch N that do not parse go to a
 * hidden temp file, made durable and renamed to bad_records-N.jsonl (or
 * bad_records-<query>-N.jsonl when several queries read the stream) when the batch's
 * operator returns its end, before anything of the batch commits; a batch that fails
 * leaves none (a re-run writes the same file again).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "format/csv.h"
#include "format/jsonl.h"
#include "format/parquet.h"
#include "stream/filesource.h"
#include "stream/source.h"

extern const tb_ssrc_vt tb_ssrc_files_vt;

typedef struct files_src {
    tb_ssrc base;
    char *dir;
    bool parquet;        /* else csv, or json lines when json != NULL */
    tb_csv_opts *csv;
    tb_jsonl_opts *json; /* format = 'json' */
    uint32_t max_files;
    bool latest_first;
    bool ignore_missing; /* ignore_missing_files: a file gone before its batch is skipped */
    char *bad_dir;       /* bad_records_path, or NULL */
    tb_filewatch *fw;    /* opened on first restore() or plan() */
} files_src;

/* The operator of one batch: the format scan, its malformed-row count, the batch's
 * bad records and, on a read error, a hint when a file of the batch is gone. */
typedef struct files_op {
    tb_op base;
    files_src *src;
    tb_source *fsrc; /* borrowed from the child scan (csv, json), for its counters */
    uint64_t malformed_seen, bytes_seen, rows_seen;
    tb_strlist files; /* full paths */
    int64_t batch;
    char *query;
    FILE *bad_fp;
    char *bad_tmp;
    int bad_errno; /* first write error (the record callback cannot return one) */
    bool done;
} files_op;

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
    files_op *f = ud;
    if (f->bad_errno != 0)
        return;
    if (f->bad_fp == NULL) {
        tb_buf p = {0};
        if (tb_buf_printf(&p, "%s/.bad_records-%" PRId64 ".jsonl.tmp-%ld", f->src->bad_dir,
                          f->batch, (long)getpid()) != TB_OK) {
            f->bad_errno = ENOMEM;
            return;
        }
        f->bad_fp = fopen(p.data, "w");
        if (f->bad_fp == NULL) {
            f->bad_errno = errno ? errno : EIO;
            tb_buf_free(&p);
            return;
        }
        f->bad_tmp = p.data;
    }
    FILE *fp = f->bad_fp;
    fputs("{\"file\":", fp);
    json_put_str(fp, file, strlen(file));
    fprintf(fp, ",\"line\":%" PRIu64 ",\"batch\":%" PRId64 ",\"reason\":", line, f->batch);
    json_put_str(fp, reason, strlen(reason));
    fputs(",\"record\":", fp);
    json_put_str(fp, raw, raw_len);
    fputs("}\n", fp);
    if (ferror(fp))
        f->bad_errno = errno ? errno : EIO;
}

/* Drop the batch's bad-records temp file (failure, or the operator freed early). */
static void bad_discard(files_op *f)
{
    if (f->bad_fp != NULL)
        fclose(f->bad_fp);
    if (f->bad_tmp != NULL)
        (void)unlink(f->bad_tmp);
    f->bad_fp = NULL;
    tb_free(f->bad_tmp);
    f->bad_tmp = NULL;
    f->bad_errno = 0;
}

/* Make the batch's bad records durable under their real name (before the commit). */
static tb_rc bad_publish(files_op *f, tb_err *err)
{
    tb_rc rc = TB_OK;
    tb_buf p = {0};
    const char *name = f->src->base.name;
    if (f->bad_errno != 0) {
        rc = TB_ERRF(err, TB_E_IO, "stream %s: bad_records_path '%s': cannot write: %s", name,
                     f->src->bad_dir, strerror(f->bad_errno));
        goto done;
    }
    if (f->bad_fp == NULL)
        return TB_OK;
    int fd = fileno(f->bad_fp);
    if (fflush(f->bad_fp) != 0 || fsync(fd) != 0) {
        rc = TB_ERRF(err, TB_E_IO, "stream %s: writing '%s': %s", name, f->bad_tmp,
                     strerror(errno));
        goto done;
    }
    if ((f->query != NULL ? tb_buf_printf(&p, "%s/bad_records-%s-%" PRId64 ".jsonl",
                                          f->src->bad_dir, f->query, f->batch)
                          : tb_buf_printf(&p, "%s/bad_records-%" PRId64 ".jsonl",
                                          f->src->bad_dir, f->batch)) != TB_OK) {
        rc = tb_err_nomem(err);
        goto done;
    }
    if (rename(f->bad_tmp, p.data) != 0) {
        rc = TB_ERRF(err, TB_E_IO, "stream %s: rename '%s' to '%s': %s", name, f->bad_tmp,
                     p.data, strerror(errno));
        goto done;
    }
    tb_free(f->bad_tmp);
    f->bad_tmp = NULL;
done:
    tb_buf_free(&p);
    bad_discard(f);
    return rc;
}

/* A read failed: if one of the batch's files is gone (deleted between discovery and
 * read), say so and how to go on; the batch stays uncommitted either way. */
static void missing_hint(const files_op *f, tb_err *err)
{
    for (size_t i = 0; i < f->files.n; i++) {
        if (access(f->files.items[i], F_OK) == 0)
            continue;
        char msg[TB_ERR_MSG_CAP];
        snprintf(msg, sizeof(msg), "%s", err->msg);
        TB_ERRF(err, err->code,
                "%s (file '%s' of this batch was deleted after it was discovered; files must "
                "stay until read: restore it, or set ignore_missing_files = 'true' on stream "
                "%s to skip it)",
                msg, f->files.items[i], f->src->base.name);
        return;
    }
}

/* ---------------------------------------------------------------- the batch operator */

static void fop_count(files_op *f)
{
    if (f->fsrc == NULL)
        return;
    tb_ssrc_stats *st = &f->src->base.stats;
    st->rows_malformed += f->fsrc->stats.rows_malformed - f->malformed_seen;
    st->bytes_read += f->fsrc->stats.bytes_read - f->bytes_seen;
    f->malformed_seen = f->fsrc->stats.rows_malformed;
    f->bytes_seen = f->fsrc->stats.bytes_read;
}

static tb_rc fop_next(tb_op *op, tb_batch **out, tb_err *err)
{
    files_op *f = (files_op *)op;
    *out = NULL;
    if (f->done)
        return TB_OK;
    tb_rc rc = op->n_children > 0 ? tb_op_next(op->children[0], out, err) : TB_OK;
    fop_count(f);
    if (rc != TB_OK) {
        missing_hint(f, err);
        bad_discard(f);
        return rc;
    }
    if (*out != NULL) {
        f->src->base.stats.rows_read += (*out)->n_rows;
        return TB_OK;
    }
    f->done = true;
    return f->src->bad_dir != NULL && f->batch >= 0 ? bad_publish(f, err) : TB_OK;
}

static void fop_free(tb_op *op)
{
    files_op *f = (files_op *)op;
    bad_discard(f);
    tb_strlist_free(&f->files);
    tb_free(f->query);
}

static tb_rc fop_explain(tb_op *op, tb_buf *buf)
{
    files_op *f = (files_op *)op;
    return tb_buf_printf(buf, "files %s (%zu files)", f->src->dir, f->files.n);
}

static const tb_op_vt fop_vt = {"files", fop_next, fop_free, fop_explain, NULL};

/* ---------------------------------------------------------------- parquet */

/*
 * Map the stream's columns proj[0..n) to the columns of a Parquet file BY NAME (as
 * Spark does), checking their types: a file that lacks a column or holds it with
 * another type is an error naming the file and the column, never a misread.
 */
static tb_rc parquet_map(files_src *src, const char *path, const int *proj, uint32_t n,
                         int *out_fproj, tb_err *err)
{
    tb_schema *fs = NULL;
    tb_rc rc = tb_parquet_read_schema(path, &fs, err);
    if (rc != TB_OK)
        return tb_err_prefix(err, "stream %s", src->base.name);
    for (uint32_t i = 0; i < n && rc == TB_OK; i++) {
        const tb_field *want = &src->base.schema->fields[proj[i]];
        int c = tb_schema_find(fs, want->name);
        char a[64], b[64];
        if (c < 0)
            rc = TB_ERRF(err, TB_E_TYPE,
                         "stream %s: parquet file '%s' has no column \"%s\" (the stream "
                         "declares it; the file has %u other columns)",
                         src->base.name, path, want->name, fs->n);
        else if (!tb_type_eq(fs->fields[c].type, want->type))
            rc = TB_ERRF(err, TB_E_TYPE,
                         "stream %s: parquet file '%s': column \"%s\" is %s in the file, the "
                         "stream declares %s",
                         src->base.name, path, want->name,
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
static tb_rc parquet_scan(files_src *src, const tb_strlist *files, const int *proj,
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

/* ---------------------------------------------------------------- the source */

static bool truthy(const char *v)
{
    return tb_str_ieq(v, "true") || strcmp(v, "1") == 0;
}

static void files_free(tb_ssrc *s)
{
    files_src *src = (files_src *)s;
    if (src == NULL)
        return;
    tb_filewatch_free(src->fw);
    tb_free(src->dir);
    tb_free(src->bad_dir);
    tb_csv_opts_free(src->csv);
    tb_jsonl_opts_free(src->json);
    tb_free(src->base.name);
    tb_schema_free(src->base.schema);
    tb_free(src);
}

static tb_rc files_create(const tb_ssrc_args *args, tb_ssrc **out, tb_err *err)
{
    tb_rc rc;
    const tb_strlist *kv = args->kv;
    const char *name = args->name;
    files_src *src = tb_calloc(1, sizeof(*src));
    *out = NULL;
    if (src == NULL)
        return tb_err_nomem(err);
    src->base.vt = &tb_ssrc_files_vt;
    src->base.batch = -1;
    src->base.name = tb_strdup(name);
    src->base.schema = tb_schema_copy(args->schema);
    src->csv = tb_csv_opts_new();
    if (src->base.name == NULL || src->base.schema == NULL || src->csv == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    const char *path = NULL, *format = NULL;
    for (size_t i = 0; i + 1 < kv->n; i += 2) {
        if (tb_str_ieq(kv->items[i], "path"))
            path = kv->items[i + 1];
        else if (tb_str_ieq(kv->items[i], "format"))
            format = kv->items[i + 1];
    }
    if (path == NULL) {
        rc = TB_ERRF(err, TB_E_SQL, "stream \"%s\": the 'path' option (a directory) is required",
                     name);
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
    if (format != NULL && tb_str_ieq(format, "json") &&
        (src->json = tb_jsonl_opts_new()) == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    for (size_t i = 0; i + 1 < kv->n; i += 2) {
        const char *k = kv->items[i], *v = kv->items[i + 1];
        if (tb_str_ieq(k, "path"))
            continue;
        if (tb_str_ieq(k, "format")) {
            if (tb_str_ieq(v, "parquet")) {
                src->parquet = true;
            } else if (!tb_str_ieq(v, "csv") && !tb_str_ieq(v, "json")) {
                rc = TB_ERRF(err, TB_E_UNSUPPORTED,
                             "stream \"%s\": format '%s' is not supported (csv, parquet, json)",
                             name, v);
                goto fail;
            }
        } else if (tb_str_ieq(k, "max_files_per_trigger")) {
            char *end = NULL;
            long m = strtol(v, &end, 10);
            if (end == v || *end != '\0' || m < 0) {
                rc = TB_ERRF(err, TB_E_SQL,
                             "max_files_per_trigger takes a non-negative integer, not '%s'", v);
                goto fail;
            }
            src->max_files = (uint32_t)m;
        } else if (tb_str_ieq(k, "latest_first")) {
            src->latest_first = truthy(v);
        } else if (tb_str_ieq(k, "ignore_missing_files")) {
            src->ignore_missing = truthy(v);
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
                goto fail;
            }
            src->base.writes_files = true;
        } else if (!src->parquet) {
            rc = src->json != NULL ? tb_jsonl_opts_set(src->json, k, v, err)
                                   : tb_csv_opts_set(src->csv, k, v, err);
            if (rc != TB_OK)
                goto fail;
        }
    }
    *out = &src->base;
    return TB_OK;
fail:
    files_free(&src->base);
    return rc;
}

static tb_rc ensure_watch(files_src *src, tb_err *err)
{
    if (src->fw != NULL)
        return TB_OK;
    tb_filewatch_opts fo;
    tb_filewatch_opts_default(&fo);
    return tb_filewatch_open(src->dir, &fo, &src->fw, err);
}

/* The "files" array of offsets, checked. */
static tb_rc offsets_files(const files_src *src, const json_t *offsets, const json_t **out,
                           tb_err *err)
{
    const json_t *files = json_object_get(offsets, "files");
    if (!json_is_array(files))
        return TB_ERRF(err, TB_E_CORRUPT, "stream %s: offsets have no \"files\" list",
                       src->base.name);
    for (size_t i = 0; i < json_array_size(files); i++)
        if (!json_is_string(json_array_get(files, i)))
            return TB_ERRF(err, TB_E_CORRUPT, "stream %s: offsets: file %zu is not a name",
                           src->base.name, i);
    *out = files;
    return TB_OK;
}

static tb_rc files_restore(tb_ssrc *s, const json_t *offsets, tb_err *err)
{
    files_src *src = (files_src *)s;
    const json_t *files = NULL;
    tb_rc rc = offsets_files(src, offsets, &files, err);
    if (rc == TB_OK)
        rc = ensure_watch(src, err);
    for (size_t i = 0; rc == TB_OK && i < json_array_size(files); i++)
        rc = tb_filewatch_mark_seen(src->fw, json_string_value(json_array_get(files, i)), err);
    return rc;
}

static tb_rc files_plan(tb_ssrc *s, int timeout_ms, json_t **out, bool *out_more, tb_err *err)
{
    files_src *src = (files_src *)s;
    tb_strlist taken = {0};
    json_t *arr = NULL;
    *out = NULL;
    *out_more = false;
    tb_rc rc = ensure_watch(src, err);
    if (rc == TB_OK)
        rc = tb_filewatch_take(src->fw, timeout_ms, s->plan_all ? 0 : src->max_files,
                               src->latest_first, &taken, err);
    if (rc != TB_OK || taken.n == 0)
        goto done;
    size_t dl = strlen(src->dir);
    arr = json_array();
    if (arr == NULL) {
        rc = tb_err_nomem(err);
        goto done;
    }
    for (size_t i = 0; i < taken.n; i++) {
        const char *rel = taken.items[i];
        if (strncmp(rel, src->dir, dl) == 0 && rel[dl] == '/')
            rel += dl + 1;
        if (json_array_append_new(arr, json_string(rel)) != 0) {
            rc = tb_err_nomem(err);
            goto done;
        }
    }
    *out = json_pack("{s:o}", "files", arr);
    arr = NULL;
    if (*out == NULL)
        rc = tb_err_nomem(err);
    *out_more = tb_filewatch_pending(src->fw) > 0;
done:
    json_decref(arr);
    tb_strlist_free(&taken);
    return rc;
}

static tb_rc files_open(tb_ssrc *s, const json_t *offsets, const int *proj, uint32_t n_proj,
                        tb_op **out, tb_err *err)
{
    files_src *src = (files_src *)s;
    const json_t *list = NULL;
    tb_schema *pschema = NULL;
    tb_source *fsrc = NULL;
    tb_op *scan = NULL;
    files_op *f = NULL;
    tb_buf p = {0};
    *out = NULL;
    tb_rc rc = offsets_files(src, offsets, &list, err);
    if (rc != TB_OK)
        return rc;
    f = tb_calloc(1, sizeof(*f));
    pschema = tb_schema_new(n_proj);
    if (f == NULL || pschema == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    for (uint32_t i = 0; i < n_proj; i++) {
        const tb_field *fd = &src->base.schema->fields[proj[i]];
        if (tb_schema_set(pschema, i, fd->name, fd->type, fd->nullable) != TB_OK) {
            rc = tb_err_nomem(err);
            goto fail;
        }
    }
    f->src = src;
    f->batch = s->batch;
    if (s->query != NULL && (f->query = tb_strdup(s->query)) == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    bool skip_missing = src->ignore_missing || s->batch < 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        p.len = 0;
        if (tb_buf_printf(&p, "%s/%s", src->dir, json_string_value(json_array_get(list, i))) !=
            TB_OK) {
            rc = tb_err_nomem(err);
            goto fail;
        }
        /* A file deleted between discovery and this read is skipped (and said so); the
         * batch's offsets still name it, so a re-run skips it the same way. */
        if (skip_missing && access(p.data, F_OK) != 0) {
            tb_log(TB_LOG_WARN, "stream %s: file '%s' vanished before it was read: skipped (%s)",
                   src->base.name, p.data,
                   s->batch < 0 ? "rebuilding the view after a restart" : "ignore_missing_files");
            continue;
        }
        if (tb_strlist_push(&f->files, p.data) != TB_OK) {
            rc = tb_err_nomem(err);
            goto fail;
        }
    }
    if (f->files.n == 0) {
        rc = tb_op_values_new(pschema, 0, NULL, &scan, err);
    } else if (src->parquet) {
        rc = parquet_scan(src, &f->files, proj, n_proj, &scan, err);
    } else {
        rc = src->json != NULL ? tb_jsonl_source_new(&f->files, src->json, src->base.schema,
                                                     proj, n_proj, &fsrc, err)
                               : tb_csv_source_new(&f->files, src->csv, src->base.schema, proj,
                                                   n_proj, &fsrc, err);
        if (rc == TB_OK && src->bad_dir != NULL && s->batch >= 0) {
            tb_csv_source_on_bad_record(fsrc, bad_record, f);   /* each a no-op on the */
            tb_jsonl_source_on_bad_record(fsrc, bad_record, f); /* other format */
        }
        f->fsrc = fsrc;
        if (rc == TB_OK)
            rc = tb_op_scan_new(fsrc, &scan, err);
        fsrc = NULL; /* the scan owns it whatever the outcome */
    }
    if (rc != TB_OK)
        goto fail;
    if ((f->base.children = tb_calloc(1, sizeof(tb_op *))) == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    f->base.vt = &fop_vt;
    f->base.schema = pschema;
    f->base.children[0] = scan;
    f->base.n_children = 1;
    *out = &f->base;
    tb_buf_free(&p);
    return TB_OK;
fail:
    tb_buf_free(&p);
    tb_op_free(scan);
    tb_source_free(fsrc);
    tb_schema_free(pschema);
    if (f != NULL) {
        tb_strlist_free(&f->files);
        tb_free(f->query);
        tb_free(f);
    }
    return rc;
}

static void files_describe(tb_ssrc *s, const json_t *offsets, json_t *entry)
{
    files_src *src = (files_src *)s;
    char desc[512];
    snprintf(desc, sizeof(desc), "FileStreamSource[%s]", src->dir);
    json_object_set_new(entry, "description", json_string(desc));
    json_object_set(entry, "endOffset", (json_t *)offsets);
}

const tb_ssrc_vt tb_ssrc_files_vt = {"files",   files_create, files_restore,  files_plan,
                                     files_open, NULL,         files_describe, files_free};
