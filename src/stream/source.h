/*
 * source.h - the one interface of stream sources (DESIGN.md "Streaming runtime"):
 * files, datagen, kafka. A new source is a new file implementing tb_ssrc_vt and one line
 * in the registry (source.c), never a flag in the runtime.
 *
 * Life of a source in a continuous query (the runtime drives it, one thread):
 *
 *   create(args)            parse the source's own WITH options (unknown ones are an
 *                           error listing the known), check the declared schema;
 *   restore(offsets)*       on start, once per batch found in the checkpoint, in batch
 *                           order (compacted ones too): the source's position moves past
 *                           that batch's input so plan() never returns it again;
 *   loop:
 *     plan(timeout, &offs)  wait up to timeout_ms for new input; return the next batch's
 *                           offsets, bounded by the source's limits (max_files_per_trigger,
 *                           max_offsets_per_trigger, rows_per_second ...), or NULL when
 *                           there is nothing new. The position moves past them (they are
 *                           written to the checkpoint before anything reads them);
 *     open(offs, proj)      an operator yielding exactly that input, projected;
 *                           called once per batch (also for a batch re-run after a crash,
 *                           with offsets read back from the checkpoint), possibly after a
 *                           restart, so open() depends on offs only, never on the
 *                           source's position;
 *     ack(offs)             the batch with these offsets is committed (every sink has
 *                           it): Kafka commits them to the consumer group for lag tools;
 *                           files may clean up. Never needed for correctness.
 *
 * Offsets are a JSON value (jansson) of the source's own shape, stored verbatim in the
 * checkpoint record of the batch: files {"files": ["a.csv", ...]}, datagen {"from": N,
 * "to": M} (row numbers), kafka {"topic": {"0": [start, end], ...}} (as Spark's
 * startOffset / endOffset). Ownership: plan() returns a new reference (the caller
 * decrefs); every other function borrows.
 *
 * The operator from open() yields rows in the declared schema's projected columns; the
 * runtime wraps it (watermark, late rows, row counts). Per-batch counters the source
 * knows (rows malformed, bad records written, bytes read) are reported through
 * tb_ssrc_stats, reset by the runtime before each open().
 *
 * Bad input: records that do not parse follow the read options of the text formats
 * (mode = permissive | dropmalformed | failfast, corrupt_column, bad_records_path); an
 * error or bad record names where the record came from (file and line; topic, partition
 * and offset).
 */
#ifndef TB_STREAM_SOURCE_H
#define TB_STREAM_SOURCE_H

#include <jansson.h>

#include "exec/exec.h"

typedef struct tb_ssrc tb_ssrc;
typedef struct tb_ssrc_vt tb_ssrc_vt;

/* Counters of the batch being read; the runtime zeroes them before open(). */
typedef struct tb_ssrc_stats {
    uint64_t rows_read;      /* rows yielded (before the watermark filter) */
    uint64_t rows_malformed; /* records that did not parse (every mode) */
    uint64_t bytes_read;
} tb_ssrc_stats;

/* Every source starts with this header (the runtime reads it; the source fills it). */
struct tb_ssrc {
    const tb_ssrc_vt *vt;
    char *name;        /* the stream table's name */
    tb_schema *schema; /* declared columns (owned) */
    tb_ssrc_stats stats;
    /* Set by the runtime before each open() (added for the bad-records files, which
     * name the batch and, when several queries read one stream table, the query): */
    int64_t batch;     /* the batch being read; -1 when the input is not a batch being
                          checkpointed (a batch query over the stream table, or a committed
                          batch re-read to rebuild a view at restart): no side effects
                          (no bad-records file), and input gone since may be skipped with
                          a warning */
    const char *query; /* the continuous query, when several read this stream; or NULL */
    /* Set by the runtime before plan(): the once trigger's single batch takes all the
     * input available, ignoring the per-trigger limits (as Spark's Trigger.Once). */
    bool plan_all;
    /* Set by the source in create(): reading a batch writes files (bad records), which
     * must not appear before the batch's offsets are durable: the runtime then never
     * defers the checkpoint's sync. The source makes them durable before its operator
     * returns its end (before anything of the batch commits). */
    bool writes_files;
};

typedef struct tb_ssrc_args {
    const char *name;        /* the stream table's name (messages) */
    const tb_strlist *kv;    /* WITH options, key, value, ... (the runtime consumed
                                connector and watermark; every other key is the source's) */
    const tb_schema *schema; /* declared columns; never NULL or empty */
    const char *query_id;    /* the stable id of the checkpoint (consumer group default) */
    int64_t batch;           /* checkpoint's next batch (informative) */
} tb_ssrc_args;

struct tb_ssrc_vt {
    const char *name; /* connector name: "files", "datagen", "kafka" */
    tb_rc (*create)(const tb_ssrc_args *args, tb_ssrc **out, tb_err *err);
    tb_rc (*restore)(tb_ssrc *src, const json_t *offsets, tb_err *err);
    /* *out NULL: nothing new within timeout_ms. *out_more: more input is already waiting
     * (available-now triggers run again without waiting). */
    tb_rc (*plan)(tb_ssrc *src, int timeout_ms, json_t **out, bool *out_more, tb_err *err);
    tb_rc (*open)(tb_ssrc *src, const json_t *offsets, const int *proj, uint32_t n_proj,
                  tb_op **out, tb_err *err);
    tb_rc (*ack)(tb_ssrc *src, const json_t *offsets, tb_err *err); /* may be NULL */
    /* Spark's progress sources[] entry for a batch: description, startOffset, endOffset,
     * latestOffset, numInputRows ... added to `entry`. May be NULL. */
    void (*describe)(tb_ssrc *src, const json_t *offsets, json_t *entry);
    void (*free)(tb_ssrc *src);
};

/* The source connector named `connector` (case-insensitive), NULL if none. */
const tb_ssrc_vt *tb_ssrc_lookup(const char *connector);
/* The registered names, comma-separated (messages). */
void tb_ssrc_connectors(char *buf, size_t cap);

#endif /* TB_STREAM_SOURCE_H */
