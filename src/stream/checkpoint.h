/*
 * checkpoint.h - the streaming query's write-ahead log of batches (Spark's layout):
 *
 *   DIR/metadata      {"id": "...", "query": "...", "fingerprint": "..."}
 *   DIR/offsets/N     batch N's input, written BEFORE it runs: the files it reads
 *                     (names relative to the source directory) and the watermark
 *   DIR/state/N       the operator state after batch N (binary, checksummed)
 *   DIR/commits/N     written AFTER every sink has batch N
 *
 * Every file is written atomically (temp file, fsync, rename) and carries a CRC-32, so a
 * kill never leaves a torn file under its real name, and a damaged one is detected
 * (TB_E_CORRUPT naming it) rather than misread.
 *
 * Recovery: with C = the last commits/N, state/C is loaded; if offsets/C+1 exists the
 * batch is re-run with exactly those files (sinks are idempotent per batch id). The
 * set of files already read is the union of every offsets/N, each holding only its own
 * batch's files: a batch writes O(its files), never the whole history.
 */
#ifndef TB_STREAM_CHECKPOINT_H
#define TB_STREAM_CHECKPOINT_H

#include "util/util.h"

typedef struct tb_ckpt tb_ckpt;

#define TB_WATERMARK_NONE INT64_MIN

typedef struct tb_ckpt_offsets {
    int64_t batch;
    int64_t watermark_us; /* event-time watermark at the start of the batch */
    tb_strlist files;     /* relative names */
} tb_ckpt_offsets;

/*
 * Open (creating if absent) a checkpoint directory for a query. `query` is the
 * normalised text of the continuous query: a checkpoint made by a different query is
 * refused (TB_E_MISUSE) with both texts in the message.
 */
tb_rc tb_ckpt_open(const char *dir, const char *query, tb_ckpt **out, tb_err *err);
void tb_ckpt_free(tb_ckpt *ckpt);
const char *tb_ckpt_id(const tb_ckpt *ckpt); /* stable query id (Delta txn appId) */
/* Highest committed batch, or -1. */
int64_t tb_ckpt_last_commit(const tb_ckpt *ckpt);
/* Highest batch with offsets, or -1. */
int64_t tb_ckpt_last_offsets(const tb_ckpt *ckpt);

tb_rc tb_ckpt_write_offsets(tb_ckpt *ckpt, const tb_ckpt_offsets *off, tb_err *err);
/* TB_E_NOTFOUND when absent; TB_E_CORRUPT when damaged. off->files must start empty. */
tb_rc tb_ckpt_read_offsets(tb_ckpt *ckpt, int64_t batch, tb_ckpt_offsets *off, tb_err *err);
void tb_ckpt_offsets_clear(tb_ckpt_offsets *off);
tb_rc tb_ckpt_write_commit(tb_ckpt *ckpt, int64_t batch, tb_err *err);
tb_rc tb_ckpt_write_state(tb_ckpt *ckpt, int64_t batch, const void *data, size_t len,
                          tb_err *err);
/* *out_data is tb_malloc'ed (caller frees). */
tb_rc tb_ckpt_read_state(tb_ckpt *ckpt, int64_t batch, char **out_data, size_t *out_len,
                         tb_err *err);
/* Delete state and offsets/commits older than `keep_from` batches (retention). Offsets
 * are kept (they hold the seen-file set) unless compacted. */
void tb_ckpt_purge_state(tb_ckpt *ckpt, int64_t keep_from);

/* Parse a checkpoint file image (for fuzzing and tests): verifies the CRC trailer and
 * the JSON. */
tb_rc tb_ckpt_parse_offsets(const char *name, const char *data, size_t len,
                            tb_ckpt_offsets *off, tb_err *err);

#endif /* TB_STREAM_CHECKPOINT_H */
