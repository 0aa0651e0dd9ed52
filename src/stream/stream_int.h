/*
 * stream_int.h - private pieces of the stream module shared between its files:
 *   job.c           job statements (sources, views, sinks, INSERT routing), lifecycle;
 *   source_files.c  the files source (directory of csv, json lines, parquet files);
 *   runner.c        the micro-batch loop: running a batch, triggers, progress;
 *   cq_state.c      the query state image and the checkpoint writes, restore at start;
 *   stream_agg.c    the incremental aggregate (tb_sagg).
 */
#ifndef TB_STREAM_INT_H
#define TB_STREAM_INT_H

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include <jansson.h>

#include "stream/checkpoint.h"
#include "stream/source.h"
#include "stream/stream.h"

/*
 * The incremental aggregate of one continuous query: a hash aggregate whose groups
 * persist across micro-batches. Each batch's plan gets a fresh operator (tb_sagg_op_new)
 * over the same state: its first next() folds the batch's input into the state, then it
 * emits every group (the complete result; operators above it, e.g. HAVING or ORDER BY,
 * then see the whole result as a batch query would).
 */
typedef struct tb_sagg tb_sagg;

/*
 * Build the per-batch operator. *state is created on first use from the expressions'
 * types (and loaded from restore/restore_len when given, then those are consumed).
 * Takes ownership of child whatever the outcome.
 */
tb_rc tb_sagg_op_new(tb_sagg **state, tb_op *child, uint32_t n_groups, tb_expr **group_exprs,
                     const char **group_names, uint32_t n_aggs, const tb_aggspec *aggs,
                     const char **agg_names, const char *restore, size_t restore_len,
                     tb_op **out, tb_err *err);
void tb_sagg_free(tb_sagg *state);
uint64_t tb_sagg_groups(const tb_sagg *state);
size_t tb_sagg_bytes(const tb_sagg *state);
tb_rc tb_sagg_serialize(const tb_sagg *state, tb_buf *out, tb_err *err);
/* The hash aggregate holding the state (change sets, snapshots: cq_state.c). */
tb_hashagg *tb_sagg_hashagg(tb_sagg *state);
/* What the next execution of an operator over the state emits: every group
 * (TB_HASHAGG_ALL, the default: the view and complete-mode sinks), the groups changed
 * since tb_sagg_changes_clear (TB_HASHAGG_CHANGED, the aggregate's dirty list: what a
 * batch emits, O(changed groups)), or the groups whose key column key_col is below
 * *bound (TB_HASHAGG_BELOW: the windows the watermark closed). bound is copied. */
void tb_sagg_set_emit(tb_sagg *state, tb_hashagg_emit mode, uint32_t key_col,
                      const tb_value *bound);
/* The state's changes are in the checkpoint (called once a commit is written). */
void tb_sagg_changes_clear(tb_sagg *state);
/* Remove the groups whose timestamp key `group_col` is < before_us (closed windows). */
tb_rc tb_sagg_evict_before(tb_sagg *state, uint32_t group_col, int64_t before_us,
                           tb_err *err);


/* ---------------------------------------------------------------- runtime types */

typedef enum out_mode { MODE_DEFAULT, MODE_COMPLETE, MODE_APPEND, MODE_UPDATE } out_mode;

typedef struct rel_ver rel_ver;

/* ---------------------------------------------------------------- stream tables */

/* A stream table of the catalog (stream_scan.c): CREATE TABLE s (cols) WITH (connector
 * = X, ...) for a registered source X. Owned by the catalog. */
typedef struct stream_tab {
    tb_stream *st;
    char *name;
    const tb_ssrc_vt *vt;
    tb_connector_vt cvt; /* the catalog's vt (named as the source) */
    tb_strlist kv;       /* the source's own options (connector and watermark removed) */
    tb_schema *schema;
    int wm_col;          /* watermark column in schema, -1 none */
    int64_t wm_delay_us;
    uint32_t n_readers;  /* continuous queries reading it */
} stream_tab;

/* The input of one execution of a query's plan, bound to its stream scans. */
typedef struct batch_in {
    tb_ssrc *src;          /* the query's instance of the source */
    const json_t *offsets; /* the batch's offsets; NULL: no input */
    int64_t watermark;     /* rows older are dropped (TB_WATERMARK_NONE: none) */
    int64_t max_ts;        /* out: max event time seen, INT64_MIN none */
    uint64_t rows, late;   /* out: rows passed on, rows dropped as late */
} batch_in;

tb_rc tb_stream_tab_create(tb_stream *st, const PgQuery__Node *node, const char *name,
                           const tb_ssrc_vt *vt, const tb_strlist *kv, int pos,
                           stream_tab **out, tb_err *err);
/* The stream table behind a catalog connector, or NULL. */
stream_tab *tb_stream_tab_of(const tb_connector_vt *vt, void *ud);
/* Bind every stream scan of `tab` in the tree under root to bi (until the next bind);
 * returns how many. */
uint32_t tb_sscan_bind(tb_op *root, stream_tab *tab, batch_in *bi);
/* The distinct stream tables read by the stream scans under root (up to cap in out);
 * returns how many there are. */
uint32_t tb_sscan_tables(const tb_op *root, stream_tab **out, uint32_t cap);

/* ---------------------------------------------------------------- sinks and queries */

typedef struct sink_ref {
    char *table;
    tb_sink *sink;
    out_mode mode;
} sink_ref;

struct tb_sview;
/* The catalog's connector of an aggregating materialized view (runner.c): its queries
 * read the aggregate's state, so a batch copies nothing into it. */
extern const tb_connector_vt tb_sview_vt;
typedef struct cq {
    tb_stream *st;
    char *name;        /* the materialized view, or "insert into <t>" */
    char *query_text;  /* normalised statement text (checkpoint fingerprint) */
    const PgQuery__Node *select; /* in st->parses, valid for the job's life */
    const char *text;            /* the job text `select` locations point into */
    stream_tab *tab;   /* the stream it reads (the catalog's) */
    tb_ssrc *src;      /* its own instance of the source (its position) */
    tb_table *mv;      /* a non-aggregating view's rows (the catalog's); else NULL */
    struct tb_sview *view; /* an aggregating view: read from the state (runner.c) */
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
    /* cq_state.c: aggregate change sets read at start (a snapshot's blocks, then the
     * changelogs' parts), applied once the aggregate exists (tb_cq_restore_agg): a list
     * of u64 length + bytes; and how much of emitted_csv some changelog already holds */
    tb_buf restore_chg;
    uint64_t restore_groups; /* the snapshot's group count (cq_state.c): presizes */
    size_t emitted_logged;
    int win_group;     /* group column holding the window start (or end), -1 */
    int64_t win_size_us; /* from that column's value to the window's end */
    int win_out_col;   /* output column holding the window start, -1 */
    char *win_name;    /* name of the window group column */
    /* The output columns carrying the group keys (the default upsert key of sinks),
     * n_key_out = 0 when some group key is not an output column: key_missing then
     * names it (tb_sink_args.key_missing). */
    int *key_out;
    uint32_t n_key_out;
    char *key_missing;
    int64_t watermark;
    sink_ref *sinks;
    size_t n_sinks;
    tb_ckpt *ckpt;
    int64_t next_batch;
    /* The last batch that ran but whose commit is not written yet (-1: none): it goes
     * with the next batch's offsets, or on its own after IDLE_COMMIT_MS or at stop. */
    int64_t pending_commit;
    json_t *pending_offsets; /* the offsets of that batch (for the source's ack) */
    int64_t pending_since_ns;
    /* A batch failed: its effects on the state and the view are not undone, so the cq
     * runs no further batch and writes no commit (a restart resumes from the checkpoint). */
    bool failed;
    bool started;
    uint64_t total_rows;
    tb_plan *plan;     /* prepared once, re-executed per batch (NULL until the first) */
    bool plan_fresh;   /* not executed yet: no rescan needed */
    bool replan_noted;
    uint64_t n_plans;  /* plans made */
    struct rel_ver {
        uint32_t rel; /* in plan->rels */
        uint64_t v;
    } *vers;           /* versions of the static relations the plan reads */
    size_t n_vers;
    batch_in bi;       /* bound to the plan's stream scans */
} cq;

struct tb_stream {
    tb_db *db;
    tb_stream_opts opts;
    char *ckpt_root;
    bool ckpt_tmp;
    tb_strlist texts; /* job texts: parse trees point into them */
    PgQuery__ParseResult **parses;
    size_t n_parses;
    stream_tab **tabs; /* borrowed: owned by the catalog */
    size_t n_tabs;
    /* Views over streaming views (cascades), recomputed after every batch. */
    struct derived {
        char *name;
        const char *text;
        const PgQuery__Node *select;
        tb_table *mv; /* owned by the catalog */
        /* row by row (scans, filters, projections) over one non-aggregating streaming
         * view, that query's: maintained from the rows each of its batches appends */
        const struct cq *inc_src;
    } *derived;
    size_t n_derived;
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


/* A query whose output stays in the process defers the fdatasync of its checkpoint
 * records (tb_ckpt_set_deferred_sync) to a quiet moment, or to this long after the
 * oldest unsynced record while batches keep coming. */
#define SYNC_DEFER_MS 200

/* A batch's commit waits this long for the next batch's offsets to carry it, then is
 * appended on its own: a job that idles has its last batch committed soon.
 * One second: with the default 1-second trigger and steady input every commit rides
 * along; waiting costs nothing but the re-run of one batch after a crash. */
#define IDLE_COMMIT_MS 1000

/* ---------------------------------------------------------------- job.c */

const char *tb_stream_kv_get(const tb_strlist *kv, const char *key);
/* The prepared plan of q (job.c's comment); the caller frees it. */
tb_rc tb_cq_prepare(tb_stream *st, cq *q, tb_plan **out, tb_err *err);

/* Recompute the views over streaming views (after a batch, and at start). */
/* Maintain the cascades after a batch of `q` appended `rows` to its non-aggregating
 * view (q NULL: compute every cascade from its views; rows NULL: none appended). */
tb_rc tb_stream_refresh_derived(tb_stream *st, const struct cq *q, tb_table *rows,
                                tb_err *err);

/* ---------------------------------------------------------------- runner.c */

void tb_cq_kill_point(const char *point, int64_t batch);
/* The pending commit was written: the state's changes are in the checkpoint, and the
 * source is told (ack) that the batch is committed. Called by cq_state.c. */
void tb_cq_committed(cq *q);
/* Run batch `batch` of q over `offsets` (the source's; NULL: no input, a refresh after
 * a restart). replay: the offsets are in the checkpoint already (a re-run). rebuild: a
 * committed batch read again into a non-aggregating view at restart (no output). */
/* Make q's aggregating view `name` in the catalog (runner.c). */
tb_rc tb_sview_register(tb_stream *st, cq *q, const char *name, tb_err *err);
/* q is freed: its view keeps the rows of its last batch (runner.c). */
void tb_sview_detach(cq *q);
tb_rc tb_cq_run_batch(tb_stream *st, cq *q, int64_t batch, const json_t *offsets, bool replay,
                      bool rebuild, tb_err *err);

/* ---------------------------------------------------------------- cq_state.c */

tb_rc tb_cq_flush(cq *q, tb_err *err);
tb_rc tb_cq_write_offsets(cq *q, int64_t batch, const json_t *offsets, tb_err *err);
tb_rc tb_cq_start(tb_stream *st, cq *q, tb_err *err);
/* A query's changelog (cq_state.c), split into its parts (pointers into data);
 * TB_E_CORRUPT with *out_why when malformed. For fuzz_checkpoint too. */
typedef struct tb_cq_changelog {
    int64_t watermark;
    const char *agg; /* aggregate change set (tb_hashagg_apply_changes) */
    size_t agg_len;
    uint8_t reset;   /* the emitted rows replace every earlier one */
    const char *emitted; /* CSV text */
    size_t emitted_len;
} tb_cq_changelog;
tb_rc tb_cq_changelog_parse(const char *data, size_t len, tb_cq_changelog *out,
                            const char **out_why);
/* Apply the change sets tb_cq_start read (q->restore_chg) to the aggregate, just
 * created (with q->restore, an older release's image, already loaded). */
tb_rc tb_cq_restore_agg(cq *q, tb_err *err);

#endif /* TB_STREAM_INT_H */
