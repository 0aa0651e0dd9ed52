/*
 * sink.c - the sinks of continuous queries: memory table, console, Delta table, files.
 * See sink.h for the exactly-once contract every sink keeps.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "format/csv.h"
#include "format/delta.h"
#include "format/parquet_write.h"
#include "sink/sink.h"

void tb_sink_free(tb_sink *sink)
{
    if (sink == NULL)
        return;
    sink->vt->free(sink);
}

static tb_rc sink_base_init(tb_sink *sink, const tb_sink_vt *vt, const tb_schema *schema,
                            tb_err *err)
{
    sink->vt = vt;
    sink->schema = tb_schema_copy(schema);
    return sink->schema == NULL ? tb_err_nomem(err) : TB_OK;
}

/* ================================================================ memory */

/*
 * Rows of batch N are staged in a private table and published at commit: readers of the
 * catalog table never see a half-written batch. Complete mode swaps the staged table in.
 */
typedef struct mem_sink {
    tb_sink base;
    tb_table *table;   /* borrowed */
    tb_table *staging; /* owned */
    bool replace;
} mem_sink;

static tb_rc mem_begin(tb_sink *sink, int64_t batch, bool replace, tb_err *err)
{
    mem_sink *m = (mem_sink *)sink;
    TB_UNUSED(batch);
    TB_UNUSED(err);
    tb_table_truncate(m->staging);
    m->replace = replace;
    return TB_OK;
}

static tb_rc mem_write(tb_sink *sink, const tb_batch *batch, tb_err *err)
{
    return tb_table_append(((mem_sink *)sink)->staging, batch, err);
}

static tb_rc mem_commit(tb_sink *sink, int64_t batch, tb_err *err)
{
    mem_sink *m = (mem_sink *)sink;
    TB_UNUSED(batch);
    if (m->replace) {
        tb_table_swap(m->table, m->staging);
        tb_table_truncate(m->staging);
        sink->rows_committed = tb_table_rows(m->table);
        return TB_OK;
    }
    tb_op *scan = NULL;
    tb_rc rc = tb_table_scan_new(m->staging, NULL, 0, &scan, err);
    while (rc == TB_OK) {
        tb_batch *b = NULL;
        rc = tb_op_next(scan, &b, err);
        if (rc != TB_OK || b == NULL)
            break;
        rc = tb_table_append(m->table, b, err);
        sink->rows_committed += b->n_rows;
    }
    tb_op_free(scan);
    tb_table_truncate(m->staging);
    return rc;
}

static void mem_abort(tb_sink *sink)
{
    tb_table_truncate(((mem_sink *)sink)->staging);
}

static void mem_free(tb_sink *sink)
{
    mem_sink *m = (mem_sink *)sink;
    tb_table_free(m->staging);
    tb_schema_free(sink->schema);
    tb_free(m);
}

static const tb_sink_vt mem_vt = {"memory", mem_begin, mem_write, mem_commit, mem_abort,
                                  mem_free};

tb_rc tb_sink_memory_new(tb_table *table, tb_sink **out, tb_err *err)
{
    *out = NULL;
    mem_sink *m = tb_calloc(1, sizeof(*m));
    if (m == NULL)
        return tb_err_nomem(err);
    m->table = table;
    tb_rc rc = sink_base_init(&m->base, &mem_vt, tb_table_schema(table), err);
    if (rc == TB_OK && (m->staging = tb_table_new(tb_table_schema(table))) == NULL)
        rc = tb_err_nomem(err);
    if (rc != TB_OK) {
        tb_table_free(m->staging);
        tb_schema_free(m->base.schema);
        tb_free(m);
        return rc;
    }
    *out = &m->base;
    return TB_OK;
}

/* ================================================================ console */

typedef struct console_sink {
    tb_sink base;
    FILE *fp;
    tb_buf buf;
} console_sink;

static tb_rc con_begin(tb_sink *sink, int64_t batch, bool replace, tb_err *err)
{
    console_sink *c = (console_sink *)sink;
    TB_UNUSED(err);
    c->buf.len = 0;
    if (tb_buf_printf(&c->buf, "-------------------------------------------\nBatch: %" PRId64
                               "%s\n-------------------------------------------\n",
                      batch, replace ? " (complete)" : "") != TB_OK)
        return tb_err_nomem(err);
    for (uint32_t j = 0; j < sink->schema->n; j++) {
        if (tb_buf_puts(&c->buf, j ? " | " : "") != TB_OK ||
            tb_buf_puts(&c->buf, sink->schema->fields[j].name) != TB_OK)
            return tb_err_nomem(err);
    }
    return tb_buf_putc(&c->buf, '\n') == TB_OK ? TB_OK : tb_err_nomem(err);
}

static tb_rc con_write(tb_sink *sink, const tb_batch *batch, tb_err *err)
{
    console_sink *c = (console_sink *)sink;
    for (uint32_t i = 0; i < batch->n_rows; i++) {
        for (uint32_t j = 0; j < batch->n_cols; j++) {
            tb_value v;
            tb_vec_get(&batch->cols[j], i, &v);
            if ((j && tb_buf_puts(&c->buf, " | ") != TB_OK) ||
                (v.is_null ? tb_buf_puts(&c->buf, "NULL") : tb_value_format(&v, &c->buf)) !=
                    TB_OK)
                return tb_err_nomem(err);
        }
        if (tb_buf_putc(&c->buf, '\n') != TB_OK)
            return tb_err_nomem(err);
    }
    sink->rows_committed += batch->n_rows;
    return TB_OK;
}

static tb_rc con_commit(tb_sink *sink, int64_t batch, tb_err *err)
{
    console_sink *c = (console_sink *)sink;
    TB_UNUSED(batch);
    if (fwrite(c->buf.data, 1, c->buf.len, c->fp) != c->buf.len || fflush(c->fp) != 0)
        return TB_ERRF(err, TB_E_IO, "console sink: write failed: %s", strerror(errno));
    c->buf.len = 0;
    return TB_OK;
}

static void con_abort(tb_sink *sink)
{
    ((console_sink *)sink)->buf.len = 0;
}

static void con_free(tb_sink *sink)
{
    console_sink *c = (console_sink *)sink;
    tb_buf_free(&c->buf);
    tb_schema_free(sink->schema);
    tb_free(c);
}

static const tb_sink_vt console_vt = {"console", con_begin, con_write, con_commit, con_abort,
                                      con_free};

tb_rc tb_sink_console_new(const tb_schema *schema, FILE *fp, tb_sink **out, tb_err *err)
{
    *out = NULL;
    console_sink *c = tb_calloc(1, sizeof(*c));
    if (c == NULL)
        return tb_err_nomem(err);
    c->fp = fp;
    tb_rc rc = sink_base_init(&c->base, &console_vt, schema, err);
    if (rc != TB_OK) {
        tb_free(c);
        return rc;
    }
    *out = &c->base;
    return TB_OK;
}

/* ================================================================ delta */

typedef struct delta_sink {
    tb_sink base;
    tb_delta_writer *w;
    char *app_id;
    bool replace;
    uint64_t pending_rows;
} delta_sink;

static tb_rc delta_begin(tb_sink *sink, int64_t batch, bool replace, tb_err *err)
{
    delta_sink *d = (delta_sink *)sink;
    TB_UNUSED(batch);
    TB_UNUSED(err);
    tb_delta_writer_abort(d->w);
    d->replace = replace;
    d->pending_rows = 0;
    return TB_OK;
}

static tb_rc delta_write(tb_sink *sink, const tb_batch *batch, tb_err *err)
{
    delta_sink *d = (delta_sink *)sink;
    d->pending_rows += batch->n_rows;
    return tb_delta_writer_add_batch(d->w, batch, err);
}

/*
 * Offsets keyed by topic-partition ({"topic": {"0": [start, end], ...}}, Kafka's) go into
 * the commit as one txn per query and partition, appId "<query>/<topic>/<partition>" and
 * version the partition's next offset (end), as kafka-delta-ingest keeps a txn per
 * partition: a later step can split a topic's partitions between processes, each
 * resuming from the table. The skip decision stays with the batch txn {query, batch}
 * and the checkpoint stays the source of truth (a table ahead of it is a warning).
 * Other sources' offsets (files, datagen) have no such shape and add nothing.
 */
static tb_rc delta_partition_txns(delta_sink *d, tb_err *err)
{
    const json_t *offs = (const json_t *)d->base.src_offsets;
    const char *topic, *part;
    json_t *parts, *range;
    if (!json_is_object(offs))
        return TB_OK;
    json_object_foreach((json_t *)offs, topic, parts)
    {
        if (!json_is_object(parts))
            continue;
        json_object_foreach(parts, part, range)
        {
            json_t *s = json_array_get(range, 0), *e = json_array_get(range, 1);
            char id[1024];
            if (json_array_size(range) != 2 || !json_is_integer(s) || !json_is_integer(e))
                continue;
            snprintf(id, sizeof(id), "%s/%s/%s", d->app_id, topic, part);
            tb_rc rc = tb_delta_writer_add_txn(d->w, id, json_integer_value(e),
                                               json_integer_value(s), err);
            if (rc != TB_OK)
                return rc;
        }
    }
    return TB_OK;
}

static tb_rc delta_commit(tb_sink *sink, int64_t batch, tb_err *err)
{
    delta_sink *d = (delta_sink *)sink;
    bool skipped = false;
    int64_t version = -1;
    if (!d->replace && d->pending_rows == 0) {
        /* Nothing to append (e.g. no window closed in this batch): no table version, no
         * fsync. Exactly-once holds without a txn for it: a re-run of batch N reads the
         * same files from the same state, so it again appends nothing. */
        tb_delta_writer_abort(d->w);
        return TB_OK;
    }
    tb_rc rc = delta_partition_txns(d, err);
    if (rc == TB_OK)
        rc = tb_delta_writer_commit(d->w, d->replace ? TB_DELTA_OVERWRITE : TB_DELTA_APPEND,
                                    d->app_id, batch, &skipped, &version, err);
    if (rc != TB_OK)
        return tb_err_prefix(err, "delta sink");
    if (skipped)
        tb_log(TB_LOG_INFO, "delta sink: batch %" PRId64 " already in the table (txn %s)",
               batch, d->app_id);
    else
        sink->rows_committed += d->pending_rows;
    d->pending_rows = 0;
    return TB_OK;
}

static void delta_abort(tb_sink *sink)
{
    tb_delta_writer_abort(((delta_sink *)sink)->w);
}

static void delta_free(tb_sink *sink)
{
    delta_sink *d = (delta_sink *)sink;
    tb_delta_writer_free(d->w);
    tb_free(d->app_id);
    tb_schema_free(sink->schema);
    tb_free(d);
}

static const tb_sink_vt delta_vt = {"delta", delta_begin, delta_write, delta_commit,
                                    delta_abort, delta_free};

tb_rc tb_sink_delta_new(const char *path, const tb_schema *schema, const char *app_id,
                        const char **partition_cols, uint32_t n_part, tb_sink **out,
                        tb_err *err)
{
    *out = NULL;
    delta_sink *d = tb_calloc(1, sizeof(*d));
    if (d == NULL)
        return tb_err_nomem(err);
    tb_rc rc = sink_base_init(&d->base, &delta_vt, schema, err);
    if (rc == TB_OK && (d->app_id = tb_strdup(app_id)) == NULL)
        rc = tb_err_nomem(err);
    if (rc == TB_OK)
        rc = tb_delta_writer_open(path, schema, partition_cols, n_part, &d->w, err);
    if (rc == TB_OK) {
        /* Create the table now (version 0: protocol + metaData, no data) so that it can
         * be queried, e.g. by a view over read_delta, before the first batch commits. */
        tb_delta_snapshot *snap = NULL;
        tb_err probe;
        tb_err_clear(&probe);
        if (tb_delta_open(path, -1, &snap, &probe) == TB_E_NOTFOUND) {
            bool skipped = false;
            int64_t version = -1;
            rc = tb_delta_writer_commit(d->w, TB_DELTA_APPEND, NULL, 0, &skipped, &version,
                                        err);
        }
        tb_delta_snapshot_free(snap);
    }
    if (rc != TB_OK) {
        delta_free(&d->base);
        return rc;
    }
    *out = &d->base;
    return TB_OK;
}

/* ================================================================ files */

typedef struct files_sink {
    tb_sink base;
    char *dir;
    bool parquet;
    tb_buf csv;
    tb_parquet_writer *pw;
    char *path;
    uint64_t rows;
} files_sink;

static tb_rc files_begin(tb_sink *sink, int64_t batch, bool replace, tb_err *err)
{
    files_sink *f = (files_sink *)sink;
    if (replace)
        return TB_ERRF(err, TB_E_UNSUPPORTED,
                       "files sink: complete output mode is not supported (append only); use "
                       "a delta or memory sink for complete mode");
    tb_free(f->path);
    f->path = NULL;
    tb_buf p = {0};
    if (tb_buf_printf(&p, "%s/part-%06" PRId64 ".%s", f->dir, batch,
                      f->parquet ? "parquet" : "csv") != TB_OK)
        return tb_err_nomem(err);
    f->path = p.data;
    f->rows = 0;
    if (f->parquet) {
        tb_parquet_writer_abort(f->pw);
        f->pw = NULL;
        return tb_parquet_writer_open(f->path, sink->schema, NULL, &f->pw, err);
    }
    f->csv.len = 0;
    return tb_csv_write_header(sink->schema, &f->csv) == TB_OK ? TB_OK : tb_err_nomem(err);
}

static tb_rc files_write(tb_sink *sink, const tb_batch *batch, tb_err *err)
{
    files_sink *f = (files_sink *)sink;
    f->rows += batch->n_rows;
    if (f->parquet)
        return tb_parquet_writer_write_batch(f->pw, batch, err);
    return tb_csv_write_batch(batch, &f->csv, err);
}

static tb_rc files_commit(tb_sink *sink, int64_t batch, tb_err *err)
{
    files_sink *f = (files_sink *)sink;
    tb_rc rc;
    TB_UNUSED(batch);
    if (f->parquet) {
        rc = tb_parquet_writer_close(f->pw, NULL, err);
        f->pw = NULL;
    } else {
        rc = tb_file_write_atomic(f->path, f->csv.data, f->csv.len, err);
    }
    if (rc == TB_OK)
        sink->rows_committed += f->rows;
    return rc;
}

static void files_abort(tb_sink *sink)
{
    files_sink *f = (files_sink *)sink;
    tb_parquet_writer_abort(f->pw);
    f->pw = NULL;
    f->csv.len = 0;
}

static void files_free(tb_sink *sink)
{
    files_sink *f = (files_sink *)sink;
    files_abort(sink);
    tb_buf_free(&f->csv);
    tb_free(f->dir);
    tb_free(f->path);
    tb_schema_free(sink->schema);
    tb_free(f);
}

static const tb_sink_vt files_vt = {"files", files_begin, files_write, files_commit,
                                    files_abort, files_free};

tb_rc tb_sink_files_new(const char *dir, const char *format, const tb_schema *schema,
                        tb_sink **out, tb_err *err)
{
    *out = NULL;
    bool parquet = tb_str_ieq(format, "parquet");
    if (!parquet && !tb_str_ieq(format, "csv"))
        return TB_ERRF(err, TB_E_SQL, "files sink: format must be 'csv' or 'parquet', not '%s'",
                       format);
    tb_rc rc = tb_mkdirs(dir, err);
    if (rc != TB_OK)
        return rc;
    files_sink *f = tb_calloc(1, sizeof(*f));
    if (f == NULL)
        return tb_err_nomem(err);
    f->parquet = parquet;
    rc = sink_base_init(&f->base, &files_vt, schema, err);
    if (rc == TB_OK && (f->dir = tb_strdup(dir)) == NULL)
        rc = tb_err_nomem(err);
    if (rc != TB_OK) {
        files_free(&f->base);
        return rc;
    }
    *out = &f->base;
    return TB_OK;
}

/* ================================================================ connector registry */

static const char *opt(const tb_sink_args *args, const char *key)
{
    for (size_t i = 0; i + 1 < args->kv->n; i += 2)
        if (tb_str_ieq(args->kv->items[i], key))
            return args->kv->items[i + 1];
    return NULL;
}

static tb_rc delta_open(const tb_sink_args *args, tb_sink **out, tb_err *err)
{
    const char *path = opt(args, "path");
    if (path == NULL)
        return TB_ERRF(err, TB_E_SQL, "sink \"%s\": 'path' is required", args->table);
    if (args->mode == TB_OUT_UPDATE)
        return TB_ERRF(err, TB_E_SQL,
                       "sink \"%s\": a Delta table takes complete or append output, not update",
                       args->table);
    tb_strlist parts = {0};
    tb_rc rc = TB_OK;
    const char *pb = opt(args, "partition_by");
    if (pb != NULL) {
        char *copy = tb_strdup(pb), *save = NULL;
        if (copy == NULL)
            return tb_err_nomem(err);
        for (char *tok = strtok_r(copy, ", ", &save); tok != NULL && rc == TB_OK;
             tok = strtok_r(NULL, ", ", &save))
            if (tb_strlist_push(&parts, tok) != TB_OK)
                rc = tb_err_nomem(err);
        tb_free(copy);
    }
    if (rc == TB_OK)
        rc = tb_sink_delta_new(path, args->schema, args->query_id, (const char **)parts.items,
                               (uint32_t)parts.n, out, err);
    tb_strlist_free(&parts);
    return rc;
}

static tb_rc console_open(const tb_sink_args *args, tb_sink **out, tb_err *err)
{
    return tb_sink_console_new(args->schema, stdout, out, err);
}

static tb_rc files_open(const tb_sink_args *args, tb_sink **out, tb_err *err)
{
    const char *path = opt(args, "path");
    if (path == NULL)
        return TB_ERRF(err, TB_E_SQL, "sink \"%s\": 'path' is required", args->table);
    const char *fmt = opt(args, "format");
    return tb_sink_files_new(path, fmt ? fmt : "csv", args->schema, out, err);
}

/* Every sink connector. A new connector is a new file in sink/ and one line here. */
static const struct {
    const char *name;
    tb_sink_open_fn open;
} connectors[] = {
    {"delta", delta_open},
    {"files", files_open},
    {"console", console_open},
    {"postgres", tb_sink_postgres_open},
    {"kafka", tb_sink_kafka_open},
};

tb_sink_open_fn tb_sink_lookup(const char *connector)
{
    if (connector == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(connectors) / sizeof(connectors[0]); i++)
        if (tb_str_ieq(connectors[i].name, connector))
            return connectors[i].open;
    return NULL;
}

void tb_sink_connectors(char *buf, size_t cap)
{
    size_t len = 0;
    if (cap == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(connectors) / sizeof(connectors[0]); i++) {
        int n = snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", connectors[i].name);
        if (n < 0 || (size_t)n >= cap - len)
            return;
        len += (size_t)n;
    }
}
