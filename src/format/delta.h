/*
 * delta.h - Delta Lake tables: log reader (snapshots, time travel), a tb_source over a
 * snapshot, and a writer (create / append / overwrite, idempotent txn, put-if-absent
 * commits, checkpoints).
 *
 * Protocol: reader version 1 and writer version 2 of Delta's PROTOCOL.md. A table is a
 * directory holding Parquet data files and `_delta_log/`: commits `%020d.json` (one JSON
 * action per line), checkpoints `%020d.checkpoint.parquet` or multi-part
 * `%020d.checkpoint.%010d.%010d.parquet`, and the `_last_checkpoint` hint.
 *
 * Types: Delta integer/long/short/byte/float/double/boolean/string/date/timestamp/
 * timestamp_ntz/decimal(p,s)/binary map to TB_T_INT32/INT64/INT16/INT16/FLOAT/DOUBLE/
 * BOOL/STRING/DATE/TIMESTAMP/TIMESTAMP/DECIMAL/STRING. Columns of nested types (struct,
 * array, map) are left out of the snapshot's schema (a warning is logged): the engine
 * has no nested types.
 *
 * Errors name the table and the log file (and line) at fault: a torn or invalid JSON
 * line or a gap in the version sequence is TB_E_CORRUPT; an unknown reader feature is
 * TB_E_UNSUPPORTED; a lost commit race that cannot be retried is TB_E_CONFLICT.
 *
 * @thread a snapshot, source or writer is used by one thread at a time. Several
 * processes may write one table concurrently (commits are put-if-absent).
 */
#ifndef TB_FORMAT_DELTA_H
#define TB_FORMAT_DELTA_H

#include "format/format.h"

/* Largest commit file the reader accepts (a bound on memory per commit). */
#define TB_DELTA_MAX_COMMIT_BYTES ((size_t)256 << 20)
/* Engine name written in commitInfo. */
#define TB_DELTA_ENGINE_INFO "Tributary/" TB_VERSION

/* ---------------------------------------------------------------- snapshots */

typedef struct tb_delta_snapshot tb_delta_snapshot;

/*
 * Open the snapshot of the table at `table_path` as of `version` (-1: the latest).
 * Reads the newest complete checkpoint at or before the version (falling back to the
 * JSON commits when they are all present and the checkpoint cannot be read), then
 * replays the JSON commits after it.
 * Returns TB_E_NOTFOUND when the directory is not a Delta table or the version does not
 * exist. On success *out belongs to the caller (tb_delta_snapshot_free).
 */
tb_rc tb_delta_open(const char *table_path, int64_t version, tb_delta_snapshot **out, tb_err *err);
void tb_delta_snapshot_free(tb_delta_snapshot *snap); /* NULL is a no-op */

/* Version of the snapshot. */
int64_t tb_delta_version(const tb_delta_snapshot *snap);
/* The table's schema (supported columns, in table order, partition columns included).
 * Owned by the snapshot. */
const tb_schema *tb_delta_schema(const tb_delta_snapshot *snap);
/* Partition columns, in metaData.partitionColumns order. Owned by the snapshot. */
uint32_t tb_delta_partition_count(const tb_delta_snapshot *snap);
const char *tb_delta_partition_column(const tb_delta_snapshot *snap, uint32_t i);
/* Table configuration value (metaData.configuration[key]) or NULL. */
const char *tb_delta_config(const tb_delta_snapshot *snap, const char *key);
/* Table id (metaData.id). */
const char *tb_delta_table_id(const tb_delta_snapshot *snap);

/* One live data file of a snapshot. Strings are owned by the snapshot. */
typedef struct tb_delta_file_info {
    const char *path; /* URI-decoded, relative to the table root (or absolute) */
    int64_t size;
    int64_t modification_time; /* ms since the epoch */
    const char *stats;         /* stats JSON or NULL */
    uint32_t n_part_values;
    const char *const *part_keys; /* partition column names */
    const char *const *part_vals; /* raw values; NULL = null */
} tb_delta_file_info;

/* Live files, in the order the log added them. i < tb_delta_file_count(snap). */
uint64_t tb_delta_file_count(const tb_delta_snapshot *snap);
void tb_delta_file_get(const tb_delta_snapshot *snap, uint64_t i, tb_delta_file_info *out);

/*
 * Parse a partition value (as the log writes them) into a value of type t: NULL,
 * "__HIVE_DEFAULT_PARTITION__" (and "" for non-string types) give a NULL value; string
 * values point into s. Returns false on a malformed value.
 */
bool tb_delta_part_value(const char *s, tb_type t, tb_value *out);

/* Version of the last txn action of app_id; false if the table has none. */
bool tb_delta_txn_version(const tb_delta_snapshot *snap, const char *app_id, int64_t *out);

/*
 * A source reading the projected columns of the snapshot (`proj` holds indexes into
 * tb_delta_schema(snap); NULL = all columns). Each live file is read in log order;
 * partition columns are filled with the file's typed partition value
 * (null and `__HIVE_DEFAULT_PARTITION__` read as NULL). A column absent from a data file
 * (added by a later schema change) reads as NULL. The source copies what it needs: the
 * snapshot may be freed while the source lives.
 */
tb_rc tb_delta_source_new(tb_delta_snapshot *snap, const int *proj, uint32_t n_proj,
                          tb_source **out, tb_err *err);

/*
 * Write a checkpoint of the snapshot (`%020d.checkpoint.parquet` and `_last_checkpoint`)
 * in its table's log. Files are written to a hidden temp name and renamed into place.
 */
tb_rc tb_delta_checkpoint(const tb_delta_snapshot *snap, tb_err *err);

/* ---------------------------------------------------------------- single commits */

/*
 * One commit file parsed and validated, without applying it (used by the replay and
 * the fuzz target). `name` is used in error messages ("<name>:<line>: ...").
 */
typedef struct tb_delta_commit tb_delta_commit;

typedef struct tb_delta_commit_summary {
    uint32_t n_add;
    uint32_t n_remove;
    uint32_t n_txn;
    uint32_t n_other; /* commitInfo, cdc, domainMetadata, unknown actions */
    bool has_metadata;
    bool has_protocol;
    bool is_blind_append; /* only adds (with dataChange), txn and commitInfo */
} tb_delta_commit_summary;

tb_rc tb_delta_commit_parse(const char *name, const char *data, size_t len, tb_delta_commit **out,
                            tb_err *err);
void tb_delta_commit_summarize(const tb_delta_commit *commit, tb_delta_commit_summary *out);
void tb_delta_commit_free(tb_delta_commit *commit); /* NULL is a no-op */

/*
 * Convert a Spark StructType JSON (metaData.schemaString) to a schema. Nested columns
 * are skipped (their names are appended, comma separated, to *out_skipped when it is not
 * NULL; the caller frees it with tb_free). Returns TB_E_CORRUPT on malformed JSON.
 */
tb_rc tb_delta_schema_parse(const char *schema_string, tb_schema **out_schema, char **out_skipped,
                            tb_err *err);
/* The schemaString of a schema. TB_E_UNSUPPORTED for types Delta lacks (interval).
 * *out is heap allocated (tb_free). */
tb_rc tb_delta_schema_string(const tb_schema *schema, char **out, tb_err *err);

/* ---------------------------------------------------------------- writer */

typedef enum tb_delta_mode {
    TB_DELTA_APPEND = 0,    /* add the new files */
    TB_DELTA_OVERWRITE = 1, /* remove every live file and add the new ones, one commit */
} tb_delta_mode;

typedef struct tb_delta_writer tb_delta_writer;

typedef struct tb_delta_write_opts {
    int codec;                   /* Parquet codec (codec.h numbering); default SNAPPY */
    uint64_t target_file_bytes;  /* roll to a new data file past this; default 128 MiB */
    uint32_t max_open_files;     /* partition files open at once; default 32 */
    int64_t checkpoint_interval; /* 0: table's delta.checkpointInterval or 10 */
    bool sync;                   /* fsync data files and commits; default true */
} tb_delta_write_opts;

void tb_delta_write_opts_default(tb_delta_write_opts *opts);

/*
 * Open a writer on the table at `path`. If the table exists its schema and partition
 * columns are used; `schema` (may be NULL then) must match its names and types, and
 * partition_cols, when given, must match too. If it does not exist, `schema` is required
 * and the table is created by the first commit (version 0 with protocol and metaData).
 * opts may be NULL (defaults). On success *out belongs to the caller.
 */
tb_rc tb_delta_writer_open(const char *path, const tb_schema *schema, const char **partition_cols,
                           uint32_t n_part, tb_delta_writer **out, tb_err *err);
tb_rc tb_delta_writer_open_opts(const char *path, const tb_schema *schema,
                                const char **partition_cols, uint32_t n_part,
                                const tb_delta_write_opts *opts, tb_delta_writer **out,
                                tb_err *err);
/* The table schema the writer expects batches in (all columns, table order). */
const tb_schema *tb_delta_writer_schema(const tb_delta_writer *w);

/* Write a batch (columns in table schema order) into data files (not yet visible). */
tb_rc tb_delta_writer_add_batch(tb_delta_writer *w, const tb_batch *batch, tb_err *err);

/*
 * Commit everything added since the last commit as one new table version.
 * txn_app_id (may be NULL): the commit carries txn {appId, txn_version}; if the table
 * already has a txn version >= txn_version for that appId the commit is skipped, the
 * data files written are deleted and *out_skipped is true (idempotent re-run).
 * A lost race is retried at the next version when our commit is a blind append and the
 * commits that won did not change the protocol or metadata (as Delta's conflict checker:
 * a blind append read nothing, so concurrent adds and removes cannot invalidate it); an
 * overwrite, or a metadata/protocol change by the winner, gives TB_E_CONFLICT. After
 * TB_E_CONFLICT the data files stay pending: commit again (the overwrite is then
 * recomputed against the new snapshot) or abort.
 * *out_version receives the committed version (or the current one when skipped).
 * Every `checkpoint_interval` versions a checkpoint is written (a failure there is
 * logged, not returned: the commit has already happened).
 * The writer stays usable for further batches and commits.
 */
tb_rc tb_delta_writer_commit(tb_delta_writer *w, tb_delta_mode mode, const char *txn_app_id,
                             int64_t txn_version, bool *out_skipped, int64_t *out_version,
                             tb_err *err);
/*
 * One more txn action {app_id, version} for the next commit only (issue 10: a stream
 * sink's per topic-partition offsets, appId "<query>/<topic>/<partition>", version the
 * next offset to read). The skip decision stays with the commit's own txn_app_id; these
 * only record progress, so that another process can take over a partition. `start` is
 * where this commit's input begins (-1: unknown): a table already holding that appId at
 * a version above it disagrees with the caller (another writer, a reset checkpoint); the
 * caller is the source of truth, so this is logged as a warning and the commit goes on
 * (the version then moves back to `version`). Forgotten by commit and abort.
 */
tb_rc tb_delta_writer_add_txn(tb_delta_writer *w, const char *app_id, int64_t version,
                              int64_t start, tb_err *err);
/* Drop the uncommitted data files (deleting them). The writer stays usable. */
void tb_delta_writer_abort(tb_delta_writer *w);
/* Abort and free. NULL is a no-op. */
void tb_delta_writer_free(tb_delta_writer *w);

#endif /* TB_FORMAT_DELTA_H */
