/*
 * checkpoint.h - the streaming query's write-ahead log of batches (Spark's layout, with
 * the commit of a batch carried by the next batch's offsets):
 *
 *   DIR/metadata      {"id": "...", "query": "...", "fingerprint": "..."}
 *   DIR/offsets/N     batch N's input, written BEFORE it runs: the files it reads
 *                     (names relative to the source directory) and the watermark; when
 *                     batch N-1 finished in the same run, also its commit: "commit": N-1
 *                     and the query state after N-1 (format 2)
 *   DIR/commits/N     a commit written on its own, with the state after batch N, when no
 *                     batch follows soon (the job idles or stops)
 *   DIR/offsets/T.compact  the batches <= T in one file (files and watermarks, no state):
 *                     older offsets and commits are deleted once it is durable
 *   DIR/state/N       format 1 only (read for checkpoints of older releases)
 *
 * So a batch costs ONE durable write (offsets/N: fsync of the file, rename, fsync of the
 * directory), which is both the intent of batch N and the commit of batch N-1.
 *
 * Every file is written atomically (temp file, fsync, rename, fsync of the directory) and
 * carries a CRC-32, so a kill never leaves a torn file under its real name, and a damaged
 * one is detected (TB_E_CORRUPT naming it) rather than misread.
 *
 * Recovery: the last commit C is the highest of commits/K and (offsets/L carrying
 * commit L-1); its state comes from that file. If offsets/C+1 exists the batch is re-run
 * with exactly those files (sinks are idempotent per batch id). The set of files already
 * read is the union of the compacted batches and every offsets/N after them, each holding
 * only its own batch's files: a batch writes O(its files), never the whole history.
 *
 * Text file format: one JSON line, then (when the JSON has "state_bytes": L) L bytes of
 * state and a newline, then a trailer line "crc32 XXXXXXXX" covering every byte before
 * it. A compact file is several JSON lines (a header, then one per batch) and the trailer.
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
    /* Format 2: this record also commits batch - 1, whose query state is `state`
     * (state_len bytes). Owned by the struct when read (tb_ckpt_offsets_clear frees it);
     * borrowed when written. */
    bool has_commit;
    char *state;
    size_t state_len;
} tb_ckpt_offsets;

/*
 * Open (creating if absent) a checkpoint directory for a query. `query` is the
 * normalised text of the continuous query: a checkpoint made by a different query is
 * refused (TB_E_MISUSE) with both texts in the message. The file holding the last commit
 * is read and checked (a damaged one is TB_E_CORRUPT naming it).
 */
tb_rc tb_ckpt_open(const char *dir, const char *query, tb_ckpt **out, tb_err *err);
void tb_ckpt_free(tb_ckpt *ckpt);
const char *tb_ckpt_id(const tb_ckpt *ckpt); /* stable query id (Delta txn appId) */
/* Highest committed batch, or -1. */
int64_t tb_ckpt_last_commit(const tb_ckpt *ckpt);
/* Highest batch with offsets (compacted or not), or -1. */
int64_t tb_ckpt_last_offsets(const tb_ckpt *ckpt);

/* Write offsets/N (durable when it returns). With off->has_commit it also commits batch
 * N-1 with off->state. */
tb_rc tb_ckpt_write_offsets(tb_ckpt *ckpt, const tb_ckpt_offsets *off, tb_err *err);
/* TB_E_NOTFOUND when absent; TB_E_CORRUPT when damaged. off must start zeroed. */
tb_rc tb_ckpt_read_offsets(tb_ckpt *ckpt, int64_t batch, tb_ckpt_offsets *off, tb_err *err);
void tb_ckpt_offsets_clear(tb_ckpt_offsets *off);
/* commits/N with the state after batch N (format 2; durable when it returns). */
tb_rc tb_ckpt_write_commit_state(tb_ckpt *ckpt, int64_t batch, const void *state, size_t len,
                                 tb_err *err);
/* Format 1 writers (commits/N without a state, state/N), kept for tests of old
 * checkpoints. */
tb_rc tb_ckpt_write_commit(tb_ckpt *ckpt, int64_t batch, tb_err *err);
tb_rc tb_ckpt_write_state(tb_ckpt *ckpt, int64_t batch, const void *data, size_t len,
                          tb_err *err);
/*
 * The query state after committed batch `batch`, from commits/N (format 2), offsets/N+1
 * carrying the commit, or state/N (format 1), whichever exists. *out_data is
 * tb_malloc'ed (caller frees). TB_E_NOTFOUND when none has it.
 */
tb_rc tb_ckpt_read_state(tb_ckpt *ckpt, int64_t batch, char **out_data, size_t *out_len,
                         tb_err *err);

/*
 * Call fn for every batch with offsets, in batch order: the compacted ones, then each
 * offsets/N after them (off->state is not loaded). fn's off is valid during the call.
 * Stops at the first error of fn or of a read (a damaged file is TB_E_CORRUPT).
 */
typedef tb_rc (*tb_ckpt_scan_fn)(void *ud, const tb_ckpt_offsets *off, tb_err *err);
tb_rc tb_ckpt_scan(tb_ckpt *ckpt, tb_ckpt_scan_fn fn, void *ud, tb_err *err);

/*
 * Compaction, called after a durable write: when enough offsets files accumulated since
 * the last compaction (TB_CKPT_COMPACT_MIN_BATCHES and half the compacted batches, or
 * TB_CKPT_COMPACT_BYTES of them), the committed batches go into offsets/T.compact and
 * their offsets, commits and states are deleted, bounding the directory. Amortised O(1)
 * per batch. *out_done tells whether it compacted (may be NULL).
 */
#define TB_CKPT_COMPACT_MIN_BATCHES 512
#define TB_CKPT_COMPACT_BYTES ((uint64_t)64 << 20)
tb_rc tb_ckpt_maybe_compact(tb_ckpt *ckpt, bool *out_done, tb_err *err);
/* Same, whether due or not (tests). */
tb_rc tb_ckpt_compact(tb_ckpt *ckpt, tb_err *err);

/* Parse a checkpoint file image (for fuzzing and tests): verifies the CRC trailer and
 * the JSON; off must start zeroed. */
tb_rc tb_ckpt_parse_offsets(const char *name, const char *data, size_t len,
                            tb_ckpt_offsets *off, tb_err *err);
/* Parse a compact file image, calling fn per batch (fuzzing and tests). */
tb_rc tb_ckpt_parse_compact(const char *name, const char *data, size_t len,
                            tb_ckpt_scan_fn fn, void *ud, tb_err *err);

#endif /* TB_STREAM_CHECKPOINT_H */
