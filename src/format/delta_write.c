/*
 * delta_write.c - the Delta table writer: data files through the Parquet writer, then
 * one commit per tb_delta_writer_commit (create / append / overwrite, txn for
 * idempotence), put-if-absent, conflict retry, periodic checkpoints.
 *
 * Commit protocol (PROTOCOL.md, writer version 2):
 *   1. close the pending data files (they are invisible until a commit names them);
 *   2. bring the snapshot up to date; if txn (appId, v) is given and the table already
 *      has a txn version >= v for appId, delete the files and report "skipped";
 *   3. write the commit to a hidden temp file in _delta_log and link(2) it to
 *      %020d.json for readVersion + 1: link fails with EEXIST if another writer took the
 *      version (the log is append-only and each version is written at most once);
 *   4. on EEXIST re-read the commits that won. A blind append is retried at the next
 *      version unless they changed the protocol or metadata (as Delta's conflict checker:
 *      a blind append read nothing, so concurrent adds and removes cannot invalidate it);
 *      an overwrite (which read every live file) or a create fails with TB_E_CONFLICT;
 *   5. point of no return: the version is committed. Then the snapshot is refreshed and,
 *      every checkpoint_interval versions, a checkpoint is written (best effort).
 *
 * Invariants: files pending commit are owned by the writer until a commit takes them
 * (success), or abort/skip deletes them. Data files never contain partition columns
 * (Spark's layout); their directory is col=value/ with Hive escaping, and the log path is
 * that path %-encoded (readers decode it once).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/delta_int.h"
#include "format/parquet_write.h"

#define DW_MAX_ATTEMPTS 10000
/* Strings in stats longer than this are truncated (min) or left out (max), as Delta's
 * dataSkippingStringPrefixLength default. */
#define DW_STATS_STRING_PREFIX 32

typedef struct dw_file {
    tb_parquet_writer *pw; /* NULL once closed */
    char *key;             /* partition key (NULL for unpartitioned) */
    char *rel_path;        /* file system path relative to the table */
    char *abs_path;
    char **pvals; /* per partition column, NULL = null */
    uint64_t rows;
    uint64_t size;
    int64_t mtime_ms;
    char *stats; /* JSON, set at close */
    uint64_t last_use;
} dw_file;

struct tb_delta_writer {
    char *path;
    tb_delta_write_opts opts;
    tb_delta_snapshot *snap; /* NULL while the table does not exist (or after a failed
                                re-read: then `exists` says to open it again) */
    bool exists;
    tb_schema *schema;      /* table schema (all columns) */
    tb_schema *data_schema; /* columns stored in files */
    char **part_cols;
    uint32_t n_part;
    int *part_idx; /* schema index of partition column k */
    int *data_idx; /* schema index of data column k */
    dw_file **open;
    size_t n_open, cap_open;
    dw_file **done;
    size_t n_done, cap_done;
    uint32_t file_seq;
    uint64_t tick;
    tb_arena *arena;
    json_t *extra_txns; /* [{"appId", "version", "start"}] for the next commit, or NULL */
};

void (*tb_delta_before_commit_hook)(const char *table_path, int64_t version) = NULL;

void tb_delta_write_opts_default(tb_delta_write_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->codec = TB_CODEC_SNAPPY;
    opts->target_file_bytes = (uint64_t)128 << 20;
    opts->max_open_files = 32;
    opts->checkpoint_interval = 0;
    opts->sync = true;
}

/* ---------------------------------------------------------------- files */

static void file_free(dw_file *f, bool delete_file)
{
    uint32_t i;

    if (f == NULL)
        return;
    if (f->pw != NULL)
        tb_parquet_writer_abort(f->pw);
    else if (delete_file && f->abs_path != NULL)
        (void)unlink(f->abs_path);
    if (f->pvals != NULL) {
        for (i = 0; f->pvals[i] != (char *)f; i++) /* sentinel-terminated */
            tb_free(f->pvals[i]);
        tb_free(f->pvals);
    }
    tb_free(f->key);
    tb_free(f->rel_path);
    tb_free(f->abs_path);
    tb_free(f->stats);
    tb_free(f);
}

static const char *codec_ext(int codec)
{
    switch (codec) {
    case TB_CODEC_SNAPPY:
        return ".snappy";
    case TB_CODEC_GZIP:
        return ".gz";
    case TB_CODEC_ZSTD:
        return ".zstd";
    case TB_CODEC_LZ4_RAW:
        return ".lz4raw";
    case TB_CODEC_BROTLI:
        return ".br";
    default:
        return "";
    }
}

/* Hive's escaping of a partition value in a directory name. */
static tb_rc hive_escape(tb_buf *out, const char *s)
{
    static const char special[] = "\"#%'*/:=?\\{[]^";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f || strchr(special, c) != NULL) {
            if (tb_buf_printf(out, "%%%02X", c) != TB_OK)
                return TB_E_NOMEM;
        } else if (tb_buf_putc(out, (char)c) != TB_OK) {
            return TB_E_NOMEM;
        }
    }
    return TB_OK;
}

/* %-encode a relative path for the log (everything but unreserved, '/' and '='). */
static char *uri_encode(const char *s)
{
    tb_buf b = {0};
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~' || c == '/' || c == '=';
        if ((keep ? tb_buf_putc(&b, (char)c) : tb_buf_printf(&b, "%%%02X", c)) != TB_OK) {
            tb_buf_free(&b);
            return NULL;
        }
    }
    if (tb_buf_cstr(&b) == NULL) {
        tb_buf_free(&b);
        return NULL;
    }
    if (b.data == NULL)
        return tb_strdup("");
    return b.data;
}

static tb_rc file_open(tb_delta_writer *w, const char *key, char **pvals_src, dw_file **out,
                       tb_err *err)
{
    dw_file *f = NULL;
    tb_buf rel = {0};
    char uuid[37];
    tb_parquet_write_opts po;
    uint32_t i;
    tb_rc rc;

    *out = NULL;
    f = tb_calloc(1, sizeof(*f));
    if (f == NULL)
        return tb_err_nomem(err);
    f->pvals = tb_calloc(w->n_part + 1, sizeof(char *));
    if (f->pvals == NULL) {
        tb_free(f);
        return tb_err_nomem(err);
    }
    f->pvals[w->n_part] = (char *)f; /* sentinel for file_free */
    for (i = 0; i < w->n_part; i++) {
        if (pvals_src[i] != NULL && (f->pvals[i] = tb_strdup(pvals_src[i])) == NULL)
            goto nomem;
        if (tb_buf_printf(&rel, "%s=", w->part_cols[i]) != TB_OK ||
            hive_escape(&rel, pvals_src[i] != NULL ? pvals_src[i] : "__HIVE_DEFAULT_PARTITION__") !=
                TB_OK ||
            tb_buf_putc(&rel, '/') != TB_OK)
            goto nomem;
    }
    if (key != NULL && (f->key = tb_strdup(key)) == NULL)
        goto nomem;
    tb_delta_uuid(uuid);
    if (tb_buf_printf(&rel, "part-%05u-%s-c000%s.parquet", w->file_seq++ % 100000, uuid,
                      codec_ext(w->opts.codec)) != TB_OK)
        goto nomem;
    f->rel_path = tb_strndup(rel.data, rel.len);
    if (f->rel_path == NULL)
        goto nomem;
    f->abs_path = tb_malloc(strlen(w->path) + rel.len + 2);
    if (f->abs_path == NULL)
        goto nomem;
    sprintf(f->abs_path, "%s/%s", w->path, f->rel_path);
    {
        char *slash = strrchr(f->abs_path, '/');
        *slash = '\0';
        rc = tb_mkdirs(f->abs_path, err);
        *slash = '/';
        if (rc != TB_OK)
            goto fail;
    }
    tb_parquet_write_opts_default(&po);
    po.codec = w->opts.codec;
    po.timestamp_utc = true; /* Delta's timestamp is an instant */
    po.sync = w->opts.sync;
    po.row_group_size_bytes =
        TB_MIN(w->opts.target_file_bytes, (uint64_t)(w->n_part > 0 ? 32 : 128) << 20);
    rc = tb_parquet_writer_open(f->abs_path, w->data_schema, &po, &f->pw, err);
    if (rc != TB_OK)
        goto fail;
    tb_buf_free(&rel);
    *out = f;
    return TB_OK;
nomem:
    rc = tb_err_nomem(err);
fail:
    tb_buf_free(&rel);
    file_free(f, false);
    return rc;
}

static tb_rc json_escape(tb_buf *b, const char *s, size_t n)
{
    size_t i;
    if (tb_buf_putc(b, '"') != TB_OK)
        return TB_E_NOMEM;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        tb_rc rc;
        if (c == '"' || c == '\\')
            rc = tb_buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            rc = tb_buf_printf(b, "\\u%04x", c);
        else
            rc = tb_buf_putc(b, (char)c);
        if (rc != TB_OK)
            return TB_E_NOMEM;
    }
    return tb_buf_putc(b, '"');
}

/* Length of the longest prefix of s (n bytes) with at most max_chars UTF-8 characters. */
static size_t utf8_prefix(const char *s, size_t n, size_t max_chars)
{
    size_t i = 0, chars = 0;
    while (i < n && chars < max_chars) {
        unsigned char c = (unsigned char)s[i];
        size_t l = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
        if (i + l > n)
            break;
        i += l;
        chars++;
    }
    return i;
}

/* Append one stats value as JSON; false if it cannot be represented (left out). */
static bool stat_json(tb_buf *b, const tb_value *v, bool is_max)
{
    char tmp[64];
    switch ((tb_type_id)v->type.id) {
    case TB_T_INT16:
    case TB_T_INT32:
    case TB_T_INT64:
        return tb_buf_printf(b, "%" PRId64, v->u.i) == TB_OK;
    case TB_T_FLOAT:
        if (v->u.d != v->u.d || v->u.d > 3.5e38 || v->u.d < -3.5e38)
            return false;
        return tb_buf_printf(b, "%.9g", v->u.d) == TB_OK;
    case TB_T_DOUBLE:
        if (v->u.d != v->u.d || v->u.d > 1.7e308 || v->u.d < -1.7e308)
            return false;
        return tb_buf_printf(b, "%.17g", v->u.d) == TB_OK;
    case TB_T_DECIMAL: {
        char d[64];
        tb_i128_format(v->u.dec, v->type.scale, d);
        return tb_buf_puts(b, d) == TB_OK;
    }
    case TB_T_DATE:
        tb_format_date((int32_t)v->u.i, tmp);
        return tb_buf_printf(b, "\"%s\"", tmp) == TB_OK;
    case TB_T_TIMESTAMP: {
        /* milliseconds, as Delta's stats: min rounded down, max rounded up */
        int64_t ms = v->u.i / 1000, rem = v->u.i % 1000, us;
        int64_t y;
        unsigned mo, d;
        int64_t days, sod;
        if (rem < 0) {
            ms--;
            rem += 1000;
        }
        if (is_max && rem != 0)
            ms++;
        us = ms * 1000;
        days = us / TB_USEC_PER_DAY;
        sod = us % TB_USEC_PER_DAY;
        if (sod < 0) {
            sod += TB_USEC_PER_DAY;
            days--;
        }
        tb_civil_from_days(days, &y, &mo, &d);
        if (y < 0 || y > 9999)
            return false;
        return tb_buf_printf(b, "\"%04" PRId64 "-%02u-%02uT%02d:%02d:%02d.%03dZ\"", y, mo, d,
                             (int)(sod / 3600000000LL), (int)(sod / 60000000LL % 60),
                             (int)(sod / 1000000LL % 60), (int)(sod / 1000 % 1000)) == TB_OK;
    }
    case TB_T_STRING: {
        size_t n = v->u.s.len, keep;
        if (!tb_utf8_valid(v->u.s.ptr, n))
            return false;
        keep = utf8_prefix(v->u.s.ptr, n, DW_STATS_STRING_PREFIX);
        if (keep < n && is_max)
            return false; /* a truncated max would not be an upper bound */
        return json_escape(b, v->u.s.ptr, keep) == TB_OK;
    }
    default:
        return false; /* boolean, interval: no min/max */
    }
}

/* Close a file's Parquet writer, compute its stats JSON and move it to done. */
static tb_rc file_finish(tb_delta_writer *w, dw_file *f, tb_err *err)
{
    tb_buf st = {0}, mins = {0}, maxs = {0}, nulls = {0};
    uint32_t c;
    struct stat sb;
    tb_rc rc;

    f->rows = tb_parquet_writer_rows(f->pw);
    for (c = 0; c < w->data_schema->n; c++) {
        uint64_t nn;
        bool has;
        tb_value mn, mx;
        const char *name = w->data_schema->fields[c].name;
        size_t mark_min = mins.len, mark_max = maxs.len;

        tb_parquet_writer_col_stats(f->pw, c, &nn, &has, &mn, &mx);
        if (nulls.len > 0 && tb_buf_putc(&nulls, ',') != TB_OK)
            goto nomem;
        if (json_escape(&nulls, name, strlen(name)) != TB_OK ||
            tb_buf_printf(&nulls, ":%" PRIu64, nn) != TB_OK)
            goto nomem;
        if (!has)
            continue;
        if ((mins.len > 0 && tb_buf_putc(&mins, ',') != TB_OK) ||
            json_escape(&mins, name, strlen(name)) != TB_OK || tb_buf_putc(&mins, ':') != TB_OK)
            goto nomem;
        if (!stat_json(&mins, &mn, false))
            mins.len = mark_min;
        if ((maxs.len > 0 && tb_buf_putc(&maxs, ',') != TB_OK) ||
            json_escape(&maxs, name, strlen(name)) != TB_OK || tb_buf_putc(&maxs, ':') != TB_OK)
            goto nomem;
        if (!stat_json(&maxs, &mx, true))
            maxs.len = mark_max;
    }
    if (tb_buf_printf(&st,
                      "{\"numRecords\":%" PRIu64 ",\"minValues\":{%.*s},\"maxValues\":{%.*s},"
                      "\"nullCount\":{%.*s}}",
                      f->rows, (int)mins.len, mins.data ? mins.data : "", (int)maxs.len,
                      maxs.data ? maxs.data : "", (int)nulls.len,
                      nulls.data ? nulls.data : "") != TB_OK)
        goto nomem;
    f->stats = tb_strndup(st.data, st.len);
    if (f->stats == NULL)
        goto nomem;
    tb_buf_free(&st);
    tb_buf_free(&mins);
    tb_buf_free(&maxs);
    tb_buf_free(&nulls);
    rc = tb_parquet_writer_close(f->pw, &f->size, err);
    f->pw = NULL;
    if (rc != TB_OK)
        return rc;
    f->mtime_ms = stat(f->abs_path, &sb) == 0
                      ? (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000
                      : tb_wall_us() / 1000;
    if (tb_grow((void **)&w->done, &w->cap_done, w->n_done + 1, sizeof(*w->done)) != TB_OK)
        return tb_err_nomem(err);
    w->done[w->n_done++] = f;
    return TB_OK;
nomem:
    tb_buf_free(&st);
    tb_buf_free(&mins);
    tb_buf_free(&maxs);
    tb_buf_free(&nulls);
    return tb_err_nomem(err);
}

/* Close open file i (moving it to done). On failure the file is dropped. */
static tb_rc close_open(tb_delta_writer *w, size_t i, tb_err *err)
{
    dw_file *f = w->open[i];
    tb_rc rc;

    w->open[i] = w->open[--w->n_open];
    rc = file_finish(w, f, err);
    if (rc != TB_OK)
        file_free(f, true);
    return rc;
}

/* ---------------------------------------------------------------- open */

static tb_rc setup_columns(tb_delta_writer *w, tb_err *err)
{
    uint32_t i, k, n_data = 0;

    w->part_idx = tb_calloc(w->n_part + 1, sizeof(int));
    w->data_idx = tb_calloc(w->schema->n + 1, sizeof(int));
    if (w->part_idx == NULL || w->data_idx == NULL)
        return tb_err_nomem(err);
    for (k = 0; k < w->n_part; k++) {
        int idx = tb_schema_find(w->schema, w->part_cols[k]);
        if (idx < 0)
            return TB_ERRF(err, TB_E_NOTFOUND,
                           "delta: %s: partition column '%s' is not in the schema", w->path,
                           w->part_cols[k]);
        if (w->schema->fields[idx].type.id == TB_T_INTERVAL)
            return TB_ERRF(err, TB_E_UNSUPPORTED,
                           "delta: partition column '%s' cannot be an interval", w->part_cols[k]);
        w->part_idx[k] = idx;
    }
    for (i = 0; i < w->schema->n; i++) {
        bool part = false;
        for (k = 0; k < w->n_part; k++)
            if (w->part_idx[k] == (int)i)
                part = true;
        if (!part)
            w->data_idx[n_data++] = (int)i;
    }
    w->data_schema = tb_schema_new(n_data);
    if (w->data_schema == NULL)
        return tb_err_nomem(err);
    for (i = 0; i < n_data; i++) {
        const tb_field *fd = &w->schema->fields[w->data_idx[i]];
        if (tb_schema_set(w->data_schema, i, fd->name, fd->type, fd->nullable) != TB_OK)
            return tb_err_nomem(err);
    }
    return TB_OK;
}

static bool schemas_match(const tb_schema *a, const tb_schema *b)
{
    uint32_t i;
    if (a->n != b->n)
        return false;
    for (i = 0; i < a->n; i++)
        if (!tb_str_ieq(a->fields[i].name, b->fields[i].name) ||
            !tb_type_eq(a->fields[i].type, b->fields[i].type))
            return false;
    return true;
}

static bool parts_match(char **a, uint32_t na, char **b, uint32_t nb)
{
    uint32_t i;
    if (na != nb)
        return false;
    for (i = 0; i < na; i++)
        if (!tb_str_ieq(a[i], b[i]))
            return false;
    return true;
}

const tb_schema *tb_delta_writer_schema(const tb_delta_writer *w) { return w->schema; }

tb_rc tb_delta_writer_open(const char *path, const tb_schema *schema, const char **partition_cols,
                           uint32_t n_part, tb_delta_writer **out, tb_err *err)
{
    return tb_delta_writer_open_opts(path, schema, partition_cols, n_part, NULL, out, err);
}

tb_rc tb_delta_writer_open_opts(const char *path, const tb_schema *schema,
                                const char **partition_cols, uint32_t n_part,
                                const tb_delta_write_opts *opts, tb_delta_writer **out, tb_err *err)
{
    tb_delta_writer *w;
    tb_err e2;
    uint32_t k;
    tb_rc rc;

    *out = NULL;
    if (path == NULL || path[0] == '\0' || (n_part > 0 && partition_cols == NULL))
        return TB_ERRF(err, TB_E_MISUSE, "delta: writer needs a table path");
    w = tb_calloc(1, sizeof(*w));
    if (w == NULL)
        return tb_err_nomem(err);
    if (opts != NULL)
        w->opts = *opts;
    else
        tb_delta_write_opts_default(&w->opts);
    if (w->opts.target_file_bytes == 0)
        w->opts.target_file_bytes = (uint64_t)128 << 20;
    if (w->opts.max_open_files == 0)
        w->opts.max_open_files = 32;
    w->path = tb_strdup(path);
    w->arena = tb_arena_new(0);
    if (w->path == NULL || w->arena == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    while (strlen(w->path) > 1 && w->path[strlen(w->path) - 1] == '/')
        w->path[strlen(w->path) - 1] = '\0';
    tb_err_clear(&e2);
    rc = tb_delta_open(w->path, -1, &w->snap, &e2);
    if (rc == TB_OK) {
        rc = tb_delta_check_protocol(w->snap, true, err);
        if (rc != TB_OK)
            goto fail;
        if (schema != NULL && !schemas_match(schema, w->snap->schema)) {
            rc = TB_ERRF(err, TB_E_TYPE, "delta: %s: the schema given does not match the table's",
                         w->path);
            goto fail;
        }
        if (n_part > 0 &&
            !parts_match((char **)partition_cols, n_part, w->snap->part_cols, w->snap->n_part)) {
            rc = TB_ERRF(err, TB_E_TYPE, "delta: %s: partition columns do not match the table's",
                         w->path);
            goto fail;
        }
        w->schema = tb_schema_copy(w->snap->schema);
        w->exists = true;
        n_part = w->snap->n_part;
        partition_cols = (const char **)w->snap->part_cols;
    } else if (rc == TB_E_NOTFOUND) {
        char *ss = NULL;
        if (schema == NULL) {
            rc = TB_ERRF(err, TB_E_NOTFOUND,
                         "delta: %s: table does not exist and no schema was given", w->path);
            goto fail;
        }
        rc = tb_delta_schema_string(schema, &ss, err); /* refuse types Delta lacks now */
        tb_free(ss);
        if (rc != TB_OK)
            goto fail;
        w->schema = tb_schema_copy(schema);
    } else {
        *err = e2;
        goto fail;
    }
    if (w->schema == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    w->n_part = n_part;
    if (n_part > 0) {
        w->part_cols = tb_calloc(n_part, sizeof(char *));
        if (w->part_cols == NULL) {
            rc = tb_err_nomem(err);
            goto fail;
        }
        for (k = 0; k < n_part; k++) {
            int idx = tb_schema_find(w->schema, partition_cols[k]);
            /* the schema's spelling */
            w->part_cols[k] = tb_strdup(idx >= 0 ? w->schema->fields[idx].name : partition_cols[k]);
            if (w->part_cols[k] == NULL) {
                rc = tb_err_nomem(err);
                goto fail;
            }
        }
    }
    rc = setup_columns(w, err);
    if (rc != TB_OK)
        goto fail;
    *out = w;
    return TB_OK;
fail:
    tb_delta_writer_free(w);
    return rc;
}

/* ---------------------------------------------------------------- batches */

/* The partition values of row i as strings (NULL = null) into vals, key into key. */
static tb_rc row_partition(tb_delta_writer *w, const tb_batch *batch, uint32_t i, tb_buf *key,
                           tb_buf *scratch, char **vals)
{
    uint32_t k;

    key->len = 0;
    for (k = 0; k < w->n_part; k++) {
        tb_value v;
        tb_vec_get(&batch->cols[w->part_idx[k]], i, &v);
        vals[k] = NULL;
        if (tb_buf_putc(key, k ? '\x01' : '\x03') != TB_OK)
            return TB_E_NOMEM;
        if (v.is_null || (v.type.id == TB_T_STRING && v.u.s.len == 0)) {
            if (tb_buf_putc(key, '\x02') != TB_OK)
                return TB_E_NOMEM;
            continue;
        }
        scratch->len = 0;
        if (tb_value_format(&v, scratch) != TB_OK || tb_buf_cstr(scratch) == NULL)
            return TB_E_NOMEM;
        if (tb_buf_append(key, scratch->data, scratch->len) != TB_OK)
            return TB_E_NOMEM;
        vals[k] = tb_strndup(scratch->data, scratch->len);
        if (vals[k] == NULL)
            return TB_E_NOMEM;
    }
    return tb_buf_cstr(key) == NULL ? TB_E_NOMEM : TB_OK;
}

/* Write rows sel[0..n) (or all when sel is NULL) of batch's data columns to f. */
static tb_rc write_rows(tb_delta_writer *w, dw_file *f, const tb_batch *batch, const uint32_t *sel,
                        uint32_t n, tb_err *err)
{
    tb_batch *b = NULL;
    uint32_t c;
    tb_rc rc;

    if (tb_batch_shell(w->data_schema->n, w->arena, &b) != TB_OK)
        return tb_err_nomem(err);
    b->n_rows = n;
    b->cap = n;
    for (c = 0; c < w->data_schema->n; c++) {
        const tb_vec *src = &batch->cols[w->data_idx[c]];
        if (sel == NULL) {
            b->cols[c] = *src;
            continue;
        }
        if (tb_vec_init(&b->cols[c], src->type, n > 0 ? n : 1, w->arena) != TB_OK ||
            tb_vec_copy_rows(&b->cols[c], 0, n, src, sel, n, false, w->arena) != TB_OK)
            return tb_err_nomem(err);
    }
    rc = tb_parquet_writer_write_batch(f->pw, b, err);
    if (rc != TB_OK)
        return rc;
    f->last_use = ++w->tick;
    if (tb_parquet_writer_bytes(f->pw) >= w->opts.target_file_bytes) {
        size_t i;
        for (i = 0; i < w->n_open; i++)
            if (w->open[i] == f)
                return close_open(w, i, err);
    }
    return TB_OK;
}

/* The open file for a partition key, opening one (and closing the least recently used
 * when too many are open). */
static tb_rc file_for(tb_delta_writer *w, const char *key, char **vals, dw_file **out, tb_err *err)
{
    size_t i;
    tb_rc rc;

    for (i = 0; i < w->n_open; i++) {
        if ((key == NULL && w->open[i]->key == NULL) ||
            (key != NULL && w->open[i]->key != NULL && strcmp(key, w->open[i]->key) == 0)) {
            *out = w->open[i];
            return TB_OK;
        }
    }
    if (w->n_open >= w->opts.max_open_files) {
        size_t lru = 0;
        for (i = 1; i < w->n_open; i++)
            if (w->open[i]->last_use < w->open[lru]->last_use)
                lru = i;
        rc = close_open(w, lru, err);
        if (rc != TB_OK)
            return rc;
    }
    if (tb_grow((void **)&w->open, &w->cap_open, w->n_open + 1, sizeof(*w->open)) != TB_OK)
        return tb_err_nomem(err);
    rc = file_open(w, key, vals, out, err);
    if (rc != TB_OK)
        return rc;
    w->open[w->n_open++] = *out;
    return TB_OK;
}

tb_rc tb_delta_writer_add_batch(tb_delta_writer *w, const tb_batch *batch, tb_err *err)
{
    uint32_t c, i, g, n_groups = 0;
    uint32_t *group_of = NULL, *counts = NULL, *starts = NULL, *sel = NULL;
    char **keys = NULL, ***gvals = NULL, **rowvals = NULL;
    tb_buf key = {0}, scratch = {0};
    tb_rc rc = TB_OK;

    if (w == NULL || batch == NULL)
        return TB_ERRF(err, TB_E_MISUSE, "delta: add_batch needs a writer and a batch");
    if (batch->n_cols != w->schema->n)
        return TB_ERRF(err, TB_E_TYPE, "delta: %s: batch has %u columns, the table %u", w->path,
                       batch->n_cols, w->schema->n);
    for (c = 0; c < w->schema->n; c++)
        if (!tb_type_eq(batch->cols[c].type, w->schema->fields[c].type))
            return TB_ERRF(err, TB_E_TYPE, "delta: %s: column '%s' has the wrong type", w->path,
                           w->schema->fields[c].name);
    if (batch->n_rows == 0)
        return TB_OK;
    tb_arena_reset(w->arena);
    if (w->n_part == 0) {
        dw_file *f = NULL;
        rc = file_for(w, NULL, NULL, &f, err);
        if (rc == TB_OK)
            rc = write_rows(w, f, batch, NULL, batch->n_rows, err);
        return rc;
    }
    /* group rows by partition (linear in rows; groups found by a small hash on the key) */
    group_of = tb_calloc(batch->n_rows, sizeof(uint32_t));
    keys = tb_calloc(batch->n_rows, sizeof(char *));
    gvals = tb_calloc(batch->n_rows, sizeof(char **));
    rowvals = tb_calloc(w->n_part, sizeof(char *));
    if (group_of == NULL || keys == NULL || gvals == NULL || rowvals == NULL)
        goto nomem;
    {
        size_t n_slots = 16, h;
        uint32_t *slots;
        while (n_slots < (size_t)batch->n_rows * 2)
            n_slots *= 2;
        slots = tb_calloc(n_slots, sizeof(uint32_t));
        if (slots == NULL)
            goto nomem;
        for (i = 0; i < batch->n_rows; i++) {
            uint32_t k;
            if (row_partition(w, batch, i, &key, &scratch, rowvals) != TB_OK) {
                tb_free(slots);
                goto nomem; /* rowvals are freed at out */
            }
            h = (size_t)tb_hash_bytes(key.data, key.len, 3) & (n_slots - 1);
            while (slots[h] != 0 && strcmp(keys[slots[h] - 1], key.data) != 0)
                h = (h + 1) & (n_slots - 1);
            if (slots[h] == 0) {
                keys[n_groups] = tb_strndup(key.data, key.len);
                if (keys[n_groups] == NULL) {
                    tb_free(slots);
                    goto nomem;
                }
                gvals[n_groups] = rowvals; /* the group keeps the first row's strings */
                rowvals = tb_calloc(w->n_part, sizeof(char *));
                slots[h] = ++n_groups;
                if (rowvals == NULL) {
                    tb_free(slots);
                    goto nomem;
                }
            } else {
                for (k = 0; k < w->n_part; k++) {
                    tb_free(rowvals[k]);
                    rowvals[k] = NULL;
                }
            }
            group_of[i] = slots[h] - 1;
        }
        tb_free(slots);
    }
    counts = tb_calloc(n_groups + 1, sizeof(uint32_t));
    starts = tb_calloc(n_groups + 1, sizeof(uint32_t));
    sel = tb_calloc(batch->n_rows, sizeof(uint32_t));
    if (counts == NULL || starts == NULL || sel == NULL)
        goto nomem;
    for (i = 0; i < batch->n_rows; i++)
        counts[group_of[i]]++;
    for (g = 1; g <= n_groups; g++)
        starts[g] = starts[g - 1] + counts[g - 1];
    for (i = 0; i < batch->n_rows; i++)
        sel[starts[group_of[i]]++] = i;
    for (g = 0; g < n_groups; g++) {
        dw_file *f = NULL;
        uint32_t begin = starts[g] - counts[g];
        rc = file_for(w, keys[g], gvals[g], &f, err);
        if (rc != TB_OK)
            goto out;
        rc = write_rows(w, f, batch, sel + begin, counts[g], err);
        if (rc != TB_OK)
            goto out;
    }
    goto out;
nomem:
    rc = tb_err_nomem(err);
out:
    for (g = 0; g < n_groups; g++) {
        uint32_t k;
        tb_free(keys[g]);
        for (k = 0; k < w->n_part; k++)
            tb_free(gvals[g][k]);
        tb_free(gvals[g]);
    }
    if (rowvals != NULL)
        for (c = 0; c < w->n_part; c++)
            tb_free(rowvals[c]);
    tb_free(rowvals);
    tb_free(keys);
    tb_free(gvals);
    tb_free(group_of);
    tb_free(counts);
    tb_free(starts);
    tb_free(sel);
    tb_buf_free(&key);
    tb_buf_free(&scratch);
    return rc;
}

/* ---------------------------------------------------------------- commits */

static tb_rc jadd(json_t *arr, json_t *action)
{
    if (action == NULL || json_array_append_new(arr, action) != 0)
        return TB_E_NOMEM;
    return TB_OK;
}

/* Build the commit's lines. */
static tb_rc build_commit(tb_delta_writer *w, bool create, tb_delta_mode mode, const char *app_id,
                          int64_t txn_version, int64_t read_version, tb_buf *out, tb_err *err)
{
    json_t *acts = json_array(), *op = NULL, *metrics = NULL, *ci = NULL;
    int64_t now_ms = tb_wall_us() / 1000;
    uint64_t rows = 0, bytes = 0;
    size_t i;
    char uuid[37], num[32];
    tb_rc rc = TB_OK;

    if (acts == NULL)
        return tb_err_nomem(err);
    for (i = 0; i < w->n_done; i++) {
        rows += w->done[i]->rows;
        bytes += w->done[i]->size;
    }
    /* commitInfo */
    op = json_object();
    metrics = json_object();
    ci = json_object();
    if (op == NULL || metrics == NULL || ci == NULL)
        goto nomem;
    if (app_id != NULL) {
        snprintf(num, sizeof(num), "%" PRId64, txn_version);
        if (json_object_set_new(op, "outputMode",
                                json_string(mode == TB_DELTA_OVERWRITE ? "Complete" : "Append")) ||
            json_object_set_new(op, "queryId", json_string(app_id)) ||
            json_object_set_new(op, "epochId", json_string(num)))
            goto nomem;
    } else {
        json_t *pb = json_array();
        char *pbs;
        uint32_t k;
        if (pb == NULL)
            goto nomem;
        for (k = 0; k < w->n_part; k++)
            json_array_append_new(pb, json_string(w->part_cols[k]));
        pbs = json_dumps(pb, JSON_COMPACT);
        json_decref(pb);
        if (pbs == NULL)
            goto nomem;
        if (json_object_set_new(op, "mode",
                                json_string(mode == TB_DELTA_OVERWRITE ? "Overwrite"
                                            : create                   ? "ErrorIfExists"
                                                                       : "Append")) ||
            json_object_set_new(op, "partitionBy", json_string(pbs))) {
            free(pbs);
            goto nomem;
        }
        free(pbs); /* json_dumps uses jansson's allocator */
    }
    snprintf(num, sizeof(num), "%zu", w->n_done);
    json_object_set_new(metrics, "numFiles", json_string(num));
    snprintf(num, sizeof(num), "%" PRIu64, rows);
    json_object_set_new(metrics, "numOutputRows", json_string(num));
    snprintf(num, sizeof(num), "%" PRIu64, bytes);
    json_object_set_new(metrics, "numOutputBytes", json_string(num));
    tb_delta_uuid(uuid);
    if (json_object_set_new(ci, "timestamp", json_integer(now_ms)) ||
        json_object_set_new(ci, "operation",
                            json_string(app_id != NULL ? "STREAMING UPDATE" : "WRITE")) ||
        json_object_set(ci, "operationParameters", op) ||
        (read_version >= 0 && json_object_set_new(ci, "readVersion", json_integer(read_version))) ||
        json_object_set_new(ci, "isolationLevel", json_string("Serializable")) ||
        json_object_set_new(ci, "isBlindAppend",
                            json_boolean(mode == TB_DELTA_APPEND && !create)) ||
        json_object_set(ci, "operationMetrics", metrics) ||
        json_object_set_new(ci, "engineInfo", json_string(TB_DELTA_ENGINE_INFO)) ||
        json_object_set_new(ci, "txnId", json_string(uuid)))
        goto nomem;
    if (jadd(acts, json_pack("{s:O}", "commitInfo", ci)) != TB_OK)
        goto nomem;
    if (create) {
        char *ss = NULL;
        json_t *pc = json_array(), *md;
        uint32_t k;
        rc = tb_delta_schema_string(w->schema, &ss, err);
        if (rc != TB_OK || pc == NULL) {
            json_decref(pc);
            tb_free(ss);
            if (rc == TB_OK)
                goto nomem;
            goto out;
        }
        for (k = 0; k < w->n_part; k++)
            json_array_append_new(pc, json_string(w->part_cols[k]));
        tb_delta_uuid(uuid);
        md = json_pack("{s:s, s:{s:s, s:{}}, s:s, s:o, s:{}, s:I}", "id", uuid, "format",
                       "provider", "parquet", "options", "schemaString", ss, "partitionColumns", pc,
                       "configuration", "createdTime", (json_int_t)now_ms);
        tb_free(ss);
        if (jadd(acts, json_pack("{s:{s:i, s:i}}", "protocol", "minReaderVersion", 1,
                                 "minWriterVersion", 2)) != TB_OK ||
            md == NULL || jadd(acts, json_pack("{s:o}", "metaData", md)) != TB_OK)
            goto nomem;
    }
    if (app_id != NULL &&
        jadd(acts, json_pack("{s:{s:s, s:I, s:I}}", "txn", "appId", app_id, "version",
                             (json_int_t)txn_version, "lastUpdated", (json_int_t)now_ms)) != TB_OK)
        goto nomem;
    if (w->extra_txns != NULL) {
        json_t *t;
        json_array_foreach(w->extra_txns, i, t)
        {
            if (jadd(acts, json_pack("{s:{s:O, s:O, s:I}}", "txn", "appId",
                                     json_object_get(t, "appId"), "version",
                                     json_object_get(t, "version"),
                                     "lastUpdated", (json_int_t)now_ms)) != TB_OK)
                goto nomem;
        }
    }
    if (mode == TB_DELTA_OVERWRITE && w->snap != NULL) {
        for (i = 0; i < w->snap->live.n; i++) {
            const tb_delta_fentry *e = w->snap->live.items[i];
            json_t *pv = json_object(), *rm;
            uint32_t k;
            if (e == NULL)
                continue;
            if (pv == NULL)
                goto nomem;
            for (k = 0; k < e->n_pv; k++)
                json_object_set_new(pv, e->pkeys[k],
                                    e->pvals[k] ? json_string(e->pvals[k]) : json_null());
            rm = json_pack("{s:{s:s, s:I, s:b, s:b, s:o, s:I}}", "remove", "path", e->raw_path,
                           "deletionTimestamp", (json_int_t)now_ms, "dataChange", 1,
                           "extendedFileMetadata", 1, "partitionValues", pv, "size",
                           (json_int_t)e->size);
            if (jadd(acts, rm) != TB_OK)
                goto nomem;
        }
    }
    for (i = 0; i < w->n_done; i++) {
        const dw_file *f = w->done[i];
        json_t *pv = json_object(), *ad;
        char *raw = uri_encode(f->rel_path);
        uint32_t k;
        if (pv == NULL || raw == NULL) {
            json_decref(pv);
            tb_free(raw);
            goto nomem;
        }
        for (k = 0; k < w->n_part; k++)
            json_object_set_new(pv, w->part_cols[k],
                                f->pvals[k] ? json_string(f->pvals[k]) : json_null());
        ad = json_pack("{s:{s:s, s:o, s:I, s:I, s:b, s:s}}", "add", "path", raw, "partitionValues",
                       pv, "size", (json_int_t)f->size, "modificationTime", (json_int_t)f->mtime_ms,
                       "dataChange", 1, "stats", f->stats);
        tb_free(raw);
        if (jadd(acts, ad) != TB_OK)
            goto nomem;
    }
    {
        json_t *a;
        json_array_foreach(acts, i, a)
        {
            char *line = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER);
            if (line == NULL)
                goto nomem;
            rc = tb_buf_puts(out, line);
            free(line);
            if (rc != TB_OK || tb_buf_putc(out, '\n') != TB_OK)
                goto nomem;
        }
    }
    goto out;
nomem:
    rc = tb_err_nomem(err);
out:
    json_decref(op);
    json_decref(metrics);
    json_decref(ci);
    json_decref(acts);
    return rc;
}

/* Write data as version v if nobody did. *out_taken is true on EEXIST. */
static tb_rc put_if_absent(const char *log_path, int64_t v, const tb_buf *data, bool sync,
                           bool *out_taken, tb_err *err)
{
    char tmp[4200], final[4200], uuid[37];
    int fd, dfd;
    size_t off = 0;
    tb_rc rc = TB_OK;

    *out_taken = false;
    tb_delta_uuid(uuid);
    int tl = snprintf(tmp, sizeof(tmp), "%s/.%020" PRId64 ".json.%s.tmp", log_path, v, uuid);
    int fl = snprintf(final, sizeof(final), "%s/%020" PRId64 ".json", log_path, v);
    if (tl < 0 || (size_t)tl >= sizeof(tmp) || fl < 0 || (size_t)fl >= sizeof(final))
        return TB_ERRF(err, TB_E_LIMIT, "delta: log path too long: '%s'", log_path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return TB_ERRF(err, TB_E_IO, "delta: create '%s': %s", tmp, strerror(errno));
    while (off < data->len) {
        ssize_t r = write(fd, data->data + off, data->len - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = TB_ERRF(err, TB_E_IO, "delta: write '%s': %s", tmp, strerror(errno));
            break;
        }
        off += (size_t)r;
    }
    if (rc == TB_OK && sync && fsync(fd) != 0)
        rc = TB_ERRF(err, TB_E_IO, "delta: fsync '%s': %s", tmp, strerror(errno));
    if (close(fd) != 0 && rc == TB_OK)
        rc = TB_ERRF(err, TB_E_IO, "delta: close '%s': %s", tmp, strerror(errno));
    if (rc == TB_OK)
        tb_crash_point("delta-commit"); /* recovery tests: killed inside the commit */
    if (rc == TB_OK && link(tmp, final) != 0) {
        if (errno == EEXIST)
            *out_taken = true;
        else
            rc = TB_ERRF(err, TB_E_IO, "delta: link '%s' to '%s': %s", tmp, final, strerror(errno));
    }
    (void)unlink(tmp);
    if (rc == TB_OK && !*out_taken && sync) {
        dfd = open(log_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
    }
    return rc;
}

static void drop_done(tb_delta_writer *w, bool delete_files)
{
    size_t i;
    for (i = 0; i < w->n_done; i++)
        file_free(w->done[i], delete_files);
    w->n_done = 0;
}

static void clear_txns(tb_delta_writer *w)
{
    json_decref(w->extra_txns);
    w->extra_txns = NULL;
}

/* The table ahead of the caller on an extra txn (tb_delta_writer_add_txn): logged. */
static void warn_txns(const tb_delta_writer *w)
{
    size_t i;
    json_t *t;
    if (w->extra_txns == NULL)
        return;
    json_array_foreach(w->extra_txns, i, t)
    {
        const char *id = json_string_value(json_object_get(t, "appId"));
        int64_t start = json_integer_value(json_object_get(t, "start")), have;
        if (start >= 0 && tb_delta_txn_version(w->snap, id, &have) && have > start)
            tb_log(TB_LOG_WARN,
                   "delta: %s: the table has txn %s at %" PRId64 " but this commit's input "
                   "starts at %" PRId64 " (another writer, or a checkpoint reset?): the "
                   "caller's offsets win, the txn moves back to %" PRId64,
                   w->path, id, have, start,
                   (int64_t)json_integer_value(json_object_get(t, "version")));
    }
}

tb_rc tb_delta_writer_add_txn(tb_delta_writer *w, const char *app_id, int64_t version,
                              int64_t start, tb_err *err)
{
    json_t *t;
    if (w->extra_txns == NULL && (w->extra_txns = json_array()) == NULL)
        return tb_err_nomem(err);
    t = json_pack("{s:s, s:I, s:I}", "appId", app_id, "version", (json_int_t)version, "start",
                  (json_int_t)start);
    if (t == NULL || json_array_append_new(w->extra_txns, t) != 0)
        return tb_err_nomem(err);
    return TB_OK;
}

static int64_t ckpt_interval(const tb_delta_writer *w)
{
    const char *cfg;
    if (w->opts.checkpoint_interval > 0)
        return w->opts.checkpoint_interval;
    cfg = w->snap != NULL ? tb_delta_config(w->snap, "delta.checkpointInterval") : NULL;
    if (cfg != NULL) {
        char *end = NULL;
        long long v = strtoll(cfg, &end, 10);
        if (end != cfg && *end == '\0' && v > 0)
            return v;
    }
    return TB_DELTA_DEFAULT_CKPT_INTERVAL;
}

tb_rc tb_delta_writer_commit(tb_delta_writer *w, tb_delta_mode mode, const char *txn_app_id,
                             int64_t txn_version, bool *out_skipped, int64_t *out_version,
                             tb_err *err)
{
    tb_buf data = {0};
    char log_path[4200];
    int attempt;
    int64_t version = -1;
    tb_rc rc;

    if (out_skipped != NULL)
        *out_skipped = false;
    if (out_version != NULL)
        *out_version = -1;
    if (w == NULL || (mode != TB_DELTA_APPEND && mode != TB_DELTA_OVERWRITE))
        return TB_ERRF(err, TB_E_MISUSE, "delta: bad commit call");
    if (mode == TB_DELTA_OVERWRITE && w->snap != NULL) {
        const char *ao = tb_delta_config(w->snap, "delta.appendOnly");
        if (ao != NULL && tb_str_ieq(ao, "true"))
            return TB_ERRF(err, TB_E_UNSUPPORTED,
                           "delta: %s: table is append-only (delta.appendOnly)", w->path);
    }
    while (w->n_open > 0) {
        rc = close_open(w, w->n_open - 1, err);
        if (rc != TB_OK)
            return rc;
    }
    snprintf(log_path, sizeof(log_path), "%s/_delta_log", w->path);
    if (w->snap == NULL && w->exists) {
        rc = tb_delta_open(w->path, -1, &w->snap, err);
        if (rc != TB_OK)
            return rc;
    }
    for (attempt = 0;; attempt++) {
        bool create = w->snap == NULL, taken = false;
        int64_t have;

        if (attempt >= DW_MAX_ATTEMPTS) {
            rc = TB_ERRF(err, TB_E_CONFLICT, "delta: %s: gave up after %d lost commit races",
                         w->path, attempt);
            goto out;
        }
        if (!create) {
            tb_delta_commit_summary agg;
            int64_t before = w->snap->version;
            rc = tb_delta_refresh(w->snap, &agg, err);
            if (rc != TB_OK)
                goto out;
            if (attempt > 0 && w->snap->version > before) {
                /* we lost the race for before + 1: can our commit go on top of theirs? */
                if (agg.has_metadata || agg.has_protocol) {
                    rc = TB_ERRF(
                        err, TB_E_CONFLICT,
                        "delta: %s: concurrent commit changed the table's metadata or protocol "
                        "(versions %" PRId64 "..%" PRId64 ")",
                        w->path, before + 1, w->snap->version);
                    goto out;
                }
                if (mode == TB_DELTA_OVERWRITE) {
                    rc = TB_ERRF(err, TB_E_CONFLICT,
                                 "delta: %s: concurrent commit %" PRId64
                                 " while overwriting from version %" PRId64 "; retry the overwrite",
                                 w->path, w->snap->version, before);
                    goto out;
                }
            }
            rc = tb_delta_check_protocol(w->snap, true, err);
            if (rc != TB_OK)
                goto out;
        }
        if (txn_app_id != NULL && !create && tb_delta_txn_version(w->snap, txn_app_id, &have) &&
            have >= txn_version) {
            /* idempotent re-run: already committed */
            drop_done(w, true);
            clear_txns(w);
            if (out_skipped != NULL)
                *out_skipped = true;
            if (out_version != NULL)
                *out_version = w->snap->version;
            rc = TB_OK;
            goto out;
        }
        if (attempt == 0 && !create)
            warn_txns(w);
        if (create) {
            rc = tb_mkdirs(log_path, err);
            if (rc != TB_OK)
                goto out;
        }
        version = create ? 0 : w->snap->version + 1;
        data.len = 0;
        rc = build_commit(w, create, mode, txn_app_id, txn_version, create ? -1 : w->snap->version,
                          &data, err);
        if (rc != TB_OK)
            goto out;
        if (tb_delta_before_commit_hook != NULL)
            tb_delta_before_commit_hook(w->path, version);
        rc = put_if_absent(log_path, version, &data, w->opts.sync, &taken, err);
        if (rc != TB_OK)
            goto out;
        if (!taken)
            break;
        if (create) {
            /* someone created the table first: fine if it is the same table */
            tb_delta_snapshot *snap = NULL;
            rc = tb_delta_open(w->path, -1, &snap, err);
            if (rc != TB_OK)
                goto out;
            if (!schemas_match(snap->schema, w->schema) ||
                !parts_match(snap->part_cols, snap->n_part, w->part_cols, w->n_part) ||
                mode == TB_DELTA_OVERWRITE) {
                tb_delta_snapshot_free(snap);
                rc = TB_ERRF(err, TB_E_CONFLICT,
                             "delta: %s: another writer created the table concurrently%s", w->path,
                             mode == TB_DELTA_OVERWRITE ? "" : " with another schema");
                goto out;
            }
            w->snap = snap;
        }
    }
    /* point of no return: version is committed */
    tb_crash_point("delta-committed"); /* recovery tests: killed right after the commit */
    w->exists = true;
    drop_done(w, false);
    clear_txns(w);
    if (out_version != NULL)
        *out_version = version;
    rc = TB_OK;
    {
        tb_err e2;
        tb_err_clear(&e2);
        if (w->snap == NULL) {
            if (tb_delta_open(w->path, -1, &w->snap, &e2) != TB_OK)
                tb_log(TB_LOG_WARN, "delta: %s: re-reading after commit %" PRId64 ": %s", w->path,
                       version, e2.msg);
        } else if (tb_delta_refresh(w->snap, NULL, &e2) != TB_OK) {
            tb_log(TB_LOG_WARN, "delta: %s: re-reading after commit %" PRId64 ": %s", w->path,
                   version, e2.msg);
            tb_delta_snapshot_free(w->snap);
            w->snap = NULL;
            if (tb_delta_open(w->path, -1, &w->snap, &e2) != TB_OK)
                w->snap = NULL;
        }
        if (w->snap != NULL && version > 0 && version % ckpt_interval(w) == 0) {
            /* checkpoint exactly our version: others may have committed after it */
            tb_delta_snapshot *at = w->snap;
            bool own = false;
            if (at->version != version) {
                at = NULL;
                if (tb_delta_open(w->path, version, &at, &e2) == TB_OK)
                    own = true;
            }
            if (at != NULL && tb_delta_checkpoint_sync(at, w->opts.sync, &e2) != TB_OK)
                tb_log(TB_LOG_WARN, "delta: %s: checkpoint %" PRId64 " not written: %s", w->path,
                       version, e2.msg);
            if (own)
                tb_delta_snapshot_free(at);
        }
    }
out:
    tb_buf_free(&data);
    return rc;
}

void tb_delta_writer_abort(tb_delta_writer *w)
{
    size_t i;

    if (w == NULL)
        return;
    for (i = 0; i < w->n_open; i++)
        file_free(w->open[i], true);
    w->n_open = 0;
    drop_done(w, true);
    clear_txns(w);
}

void tb_delta_writer_free(tb_delta_writer *w)
{
    uint32_t k;

    if (w == NULL)
        return;
    tb_delta_writer_abort(w);
    tb_free(w->open);
    tb_free(w->done);
    tb_delta_snapshot_free(w->snap);
    tb_schema_free(w->schema);
    tb_schema_free(w->data_schema);
    if (w->part_cols != NULL)
        for (k = 0; k < w->n_part; k++)
            tb_free(w->part_cols[k]);
    tb_free(w->part_cols);
    tb_free(w->part_idx);
    tb_free(w->data_idx);
    tb_arena_free(w->arena);
    tb_free(w->path);
    tb_free(w);
}
