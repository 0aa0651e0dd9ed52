/*
 * stream.h - continuous queries: the micro-batch runtime of DESIGN.md.
 *
 * A tb_stream wraps a tb_db and executes a job's SQL. It handles the statements that
 * make a pipeline and passes every other statement to tb_db_exec:
 *
 *   CREATE TABLE s (cols) WITH (connector = 'files', path = 'dir', format = 'csv', ...)
 *       a stream source: new files of a directory (csv, parquet, jsonl);
 *   CREATE MATERIALIZED VIEW v AS SELECT ... FROM s ...
 *       a continuous query over one stream source (joined with static tables),
 *       maintained incrementally; v is a memory table queryable at any time;
 *   CREATE TABLE t (cols) WITH (connector = 'delta' | 'files' | 'console', ...)
 *   INSERT INTO t SELECT * FROM v
 *       a sink receiving v's output (or any streaming SELECT) on every batch.
 *
 * Each continuous query keeps a checkpoint (offsets carrying the previous batch's commit
 * and state, see checkpoint.h) so a restart neither loses nor repeats input.
 *
 * @thread one thread drives a tb_stream (tb_stream_run); queries of the db from that
 * thread between batches (the dashboard) see committed batches only.
 */
#ifndef TB_STREAM_H
#define TB_STREAM_H

#include <signal.h>
#include <stdio.h>

#include "sink/sink.h"
#include "sql/sql.h"

typedef enum tb_trigger_kind {
    TB_TRIGGER_INTERVAL = 0, /* a batch every interval (if there is new input) */
    TB_TRIGGER_ONCE,          /* one batch over everything present, then stop */
    TB_TRIGGER_AVAILABLE_NOW, /* batches until everything present is read, then stop */
    TB_TRIGGER_CONTINUOUS     /* a batch as soon as a file lands */
} tb_trigger_kind;

typedef struct tb_stream_opts {
    tb_trigger_kind trigger;
    int64_t interval_ms;        /* TB_TRIGGER_INTERVAL; default 1000 */
    const char *checkpoint_dir; /* NULL: a fresh temporary directory (no resume) */
    FILE *progress_fp;          /* one JSON record per batch, or NULL */
    bool summary;               /* one human line per batch on stderr */
    int64_t stop_after_ms;      /* stop after this long (0: never) */
    int64_t idle_stop_ms;       /* stop after this long without new input (0: never) */
    /* Called every tick_every_ms between batches and once at the end (the CLI's
     * dashboard: it runs the --show query on the db). */
    void (*tick)(void *ud, tb_db *db);
    void *tick_ud;
    int64_t tick_every_ms; /* default 5000 */
    /* Bound on the streaming state (aggregate groups + views + kept final rows of every
     * query), checked after each batch: exceeding it fails the run with TB_E_LIMIT
     * before the batch commits (0: no limit). */
    uint64_t memory_limit;
    /* Make each batch's checkpoint record durable before the batch runs, also for a
     * query whose output never leaves the process (no sink, no bad_records_path): for
     * those the fdatasync otherwise waits for a quiet moment (at most SYNC_DEFER_MS),
     * which loses nothing when the process is killed and, at a power cut, only progress
     * (the files of batches never synced are read again, once). */
    bool sync_every_batch;
    /* serve hook (issue 11; the integrator may move it): called on the runtime's thread
     * after each batch of a query has changed its views and committed to its sinks
     * (not holding the db's lock: it may take the read lock), with the batch's progress
     * record (the JSON line of progress_fp, without newline) and the
     * names of the views the batch changed (n_views may be 0: a sink-only query).
     * Strings are valid during the call only. */
    void (*on_batch)(void *ud, const char *progress_json, const char *const *views,
                     size_t n_views);
    void *on_batch_ud;
} tb_stream_opts;

typedef struct tb_stream tb_stream;

void tb_stream_opts_default(tb_stream_opts *opts);
/* db stays the caller's and must outlive the stream. */
tb_rc tb_stream_new(tb_db *db, const tb_stream_opts *opts, tb_stream **out, tb_err *err);
void tb_stream_free(tb_stream *st);
/* Execute job SQL (several statements). Errors carry positions into `sql`. */
tb_rc tb_stream_exec(tb_stream *st, const char *sql, tb_err *err);
/* Number of continuous queries declared. */
uint32_t tb_stream_query_count(const tb_stream *st);
/*
 * Run the job until the trigger says stop, *stop becomes non-zero (signal handler), or
 * an error. Restores from the checkpoint first. The current batch always completes.
 */
tb_rc tb_stream_run(tb_stream *st, volatile sig_atomic_t *stop, tb_err *err);
/* Run at most one micro-batch per query now (tests): *out_ran counts batches run. */
tb_rc tb_stream_step(tb_stream *st, int timeout_ms, uint32_t *out_ran, tb_err *err);
/*
 * Write the commit of each query's last batch now. A batch's commit normally rides on
 * the next batch's offsets (one durable write per batch); it is written on its own after
 * a short idle time, and by tb_stream_run when it stops. A caller driving the stream with
 * tb_stream_step calls this before tb_stream_free, else a restart re-runs the last batch
 * (harmless: the sinks are idempotent per batch).
 */
tb_rc tb_stream_flush(tb_stream *st, tb_err *err);

/* Parse "10 seconds", "2s", "500ms", "1 minute" into milliseconds. */
bool tb_stream_parse_duration(const char *s, int64_t *out_ms);

#endif /* TB_STREAM_H */
