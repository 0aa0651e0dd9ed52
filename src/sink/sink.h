/*
 * sink.h - where a continuous query's output goes. One interface for every sink
 * (DESIGN.md): begin batch N, write its rows, commit batch N, abort, free.
 *
 * Exactly-once contract: the stream runtime writes commits/N only after every sink has
 * committed batch N, and re-runs batch N after a crash. So commit(N) must be idempotent:
 * a sink that already holds batch N makes the second commit a no-op (Delta: txn
 * {appId, version}; files: the part file's name is derived from N; memory: rebuilt from
 * the state checkpoint on restart).
 *
 * Modes: `replace` (complete output mode) makes batch N's rows the sink's whole
 * contents; otherwise they are appended.
 */
#ifndef TB_SINK_H
#define TB_SINK_H

#include "exec/exec.h"

typedef struct tb_sink tb_sink;

typedef struct tb_sink_vt {
    const char *name;
    tb_rc (*begin)(tb_sink *sink, int64_t batch, bool replace, tb_err *err);
    tb_rc (*write)(tb_sink *sink, const tb_batch *batch, tb_err *err);
    tb_rc (*commit)(tb_sink *sink, int64_t batch, tb_err *err);
    void (*abort)(tb_sink *sink);
    void (*free)(tb_sink *sink);
} tb_sink_vt;

struct tb_sink {
    const tb_sink_vt *vt;
    tb_schema *schema; /* rows the sink takes, owned */
    uint64_t rows_committed;
    /* The stream source's offsets of the batch being written (JSON, borrowed), set by
     * the runtime before begin(); NULL when none (a one-off write). The Delta sink
     * records Kafka's per topic-partition ends as txn actions (issue 10). */
    const struct json_t *src_offsets;
};

static inline tb_rc tb_sink_begin(tb_sink *s, int64_t batch, bool replace, tb_err *err)
{
    return s->vt->begin(s, batch, replace, err);
}
static inline tb_rc tb_sink_write(tb_sink *s, const tb_batch *batch, tb_err *err)
{
    return s->vt->write(s, batch, err);
}
static inline tb_rc tb_sink_commit(tb_sink *s, int64_t batch, tb_err *err)
{
    return s->vt->commit(s, batch, err);
}
void tb_sink_free(tb_sink *sink); /* NULL is a no-op */

/* Memory sink over `table` (borrowed: the catalog owns it; must outlive the sink). */
tb_rc tb_sink_memory_new(tb_table *table, tb_sink **out, tb_err *err);
/* Console sink: prints each batch to fp as a table headed "Batch: N". */
tb_rc tb_sink_console_new(const tb_schema *schema, FILE *fp, tb_sink **out, tb_err *err);
/*
 * Delta sink: appends (or overwrites, in replace mode) the table at path, creating it
 * with `schema` if absent. Each batch is committed with txn {app_id, batch}, so a
 * re-run batch is skipped by the table itself.
 */
tb_rc tb_sink_delta_new(const char *path, const tb_schema *schema, const char *app_id,
                        const char **partition_cols, uint32_t n_part, tb_sink **out,
                        tb_err *err);
/* Files sink: one file per batch, DIR/part-<batch>.<csv|parquet>, written atomically
 * (a re-run batch rewrites the same name). format: "csv" or "parquet". Append only. */
tb_rc tb_sink_files_new(const char *dir, const char *format, const tb_schema *schema,
                        tb_sink **out, tb_err *err);

/* ================================================================ connector registry */

/* Output modes of a continuous query into a sink (Spark's). */
typedef enum tb_out_mode {
    TB_OUT_COMPLETE = 1, /* every batch replaces the sink's contents with the whole result */
    TB_OUT_APPEND,       /* new rows only (aggregates: windows closed by the watermark) */
    TB_OUT_UPDATE        /* the rows this batch changed (upsert by key) */
} tb_out_mode;

/*
 * What a sink connector is opened with: the sink table's declaration and the query that
 * feeds it. Every pointer is borrowed for the duration of the open call (copy what is
 * kept). Each connector reads its own WITH options from kv and rejects unknown ones with
 * an error listing the known options.
 */
typedef struct tb_sink_args {
    const char *table;       /* the sink table's name (for messages) */
    const tb_strlist *kv;    /* WITH options: key, value, key, value ... (keys as written) */
    const tb_schema *schema; /* the rows the sink takes */
    const char *query_id;    /* stable id of the continuous query (idempotence key) */
    tb_out_mode mode;        /* already checked against the query (complete needs an agg) */
    /* The query's group-key output columns (the default upsert key): names into schema,
     * n_keys may be 0 (no aggregation). */
    const char *const *keys;
    uint32_t n_keys;
    /* An aggregation one of whose group keys is not an output column (so n_keys = 0):
     * that key for the error of a sink that needs a key ("\"name\"" or "number 2 of the
     * GROUP BY"). */
    const char *key_missing;
} tb_sink_args;

typedef tb_rc (*tb_sink_open_fn)(const tb_sink_args *args, tb_sink **out, tb_err *err);

/*
 * The sink connectors, by `connector` name (case-insensitive): the built-in ones and
 * those listed in sink.c's table. NULL when none has that name. tb_sink_connectors
 * writes the names, comma-separated, for error messages.
 */
tb_sink_open_fn tb_sink_lookup(const char *connector);
/* The connectors in files of their own (sink/<name>.c). */
tb_rc tb_sink_postgres_open(const tb_sink_args *args, tb_sink **out, tb_err *err);
tb_rc tb_sink_kafka_open(const tb_sink_args *args, tb_sink **out, tb_err *err);
void tb_sink_connectors(char *buf, size_t cap);

#endif /* TB_SINK_H */
