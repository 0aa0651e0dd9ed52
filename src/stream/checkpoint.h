/*
 * checkpoint.h - the streaming query's write-ahead log of batches.
 *
 *   DIR/metadata        {"id": "...", "query": "...", "created_us": ...}
 *   DIR/log/<seq>       append-only segments of records, one record per durable write:
 *     - batch N's offsets, appended BEFORE the batch runs: the files it reads (names
 *       relative to the source directory) and the watermark; when batch N-1 finished in
 *       the same run, the record also carries its commit ("commit": N-1) and the query
 *       state after it;
 *     - a commit on its own ({"commit": N} and the state after N), appended when no batch
 *       follows soon (the job idles or stops).
 *   DIR/offsets/T.compact  the batches <= T in one file (files and watermarks, no state);
 *                       written when a segment is full, after which older segments go
 *   DIR/offsets/N, DIR/commits/N, DIR/state/N  checkpoints of older releases (read only)
 *
 * So a batch costs ONE append and one fdatasync: the record is both the intent of batch N
 * and the commit of batch N-1. A new segment costs one more fsync (of the log directory)
 * when it is created. With deferred sync (below) the fdatasync waits for output leaving
 * the process, a quiet moment or a bound on the time.
 *
 * Record: a 20-byte frame ("TBL2", u32 payload length, u64 durable mark: every byte of
 * the segment before it had been made durable when the record was written, u32 CRC-32 of
 * those 16 bytes) and the payload: one JSON line, then (when the JSON has
 * "state_bytes": L) L bytes of state and a newline, then a trailer line "crc32 XXXXXXXX"
 * covering the payload before it. Compact and metadata files are JSON lines and the same
 * trailer.
 *
 * Torn writes: a record is acted on (outside the process) only after its fdatasync
 * returns, so a record cut short by a crash lies past every durable mark; open() finds
 * the first bad record that no durable mark (of the records before it, or of a
 * well-formed record after it) covers, drops it and what follows with a warning, and
 * truncates the segment there. A bad record that a durable mark covers, or a damaged
 * metadata or compact file, is TB_E_CORRUPT naming the file (and the offset).
 *
 * Recovery: the last commit C is the newest commit record (or, for an old checkpoint, the
 * highest commits/K); its state comes from that record. If batch C+1 has offsets it is
 * re-run with exactly those files (sinks are idempotent per batch id). The set of files
 * already read is the union of the compacted batches and the offsets after them, each
 * record holding only its own batch's files: a batch writes O(its files), never the
 * whole history.
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
    /* The record also commits batch - 1, whose query state is `state` (state_len
     * bytes). Owned by the struct when read (tb_ckpt_offsets_clear frees it); borrowed
     * when written. */
    bool has_commit;
    char *state;
    size_t state_len;
} tb_ckpt_offsets;

/*
 * Open (creating if absent) a checkpoint directory for a query. `query` is the
 * normalised text of the continuous query: a checkpoint made by a different query is
 * refused (TB_E_MISUSE) with both texts in the message. The whole log is read and
 * checked (TB_E_CORRUPT naming the damaged file); a torn last record is dropped.
 */
tb_rc tb_ckpt_open(const char *dir, const char *query, tb_ckpt **out, tb_err *err);
void tb_ckpt_free(tb_ckpt *ckpt);
const char *tb_ckpt_id(const tb_ckpt *ckpt); /* stable query id (Delta txn appId) */
/* Highest committed batch, or -1. */
int64_t tb_ckpt_last_commit(const tb_ckpt *ckpt);
/* Highest batch with offsets (compacted or not), or -1. */
int64_t tb_ckpt_last_offsets(const tb_ckpt *ckpt);
/* Records dropped as torn when the checkpoint was opened (0 or 1). */
int tb_ckpt_torn_dropped(const tb_ckpt *ckpt);

/* Append batch N's offsets (durable when it returns). With off->has_commit it also
 * commits batch N-1 with off->state. After a failed write the checkpoint refuses further
 * writes (TB_E_IO): reopen it. */
tb_rc tb_ckpt_write_offsets(tb_ckpt *ckpt, const tb_ckpt_offsets *off, tb_err *err);
/* TB_E_NOTFOUND when absent; TB_E_CORRUPT when damaged. off must start zeroed. */
tb_rc tb_ckpt_read_offsets(tb_ckpt *ckpt, int64_t batch, tb_ckpt_offsets *off, tb_err *err);
void tb_ckpt_offsets_clear(tb_ckpt_offsets *off);
/* Append a commit of batch N with the state after it (durable when it returns). */
tb_rc tb_ckpt_write_commit_state(tb_ckpt *ckpt, int64_t batch, const void *state, size_t len,
                                 tb_err *err);
/* Writers of the older file layout (commits/N without a state, state/N), kept for tests
 * of old checkpoints. */
tb_rc tb_ckpt_write_commit(tb_ckpt *ckpt, int64_t batch, tb_err *err);
tb_rc tb_ckpt_write_state(tb_ckpt *ckpt, int64_t batch, const void *data, size_t len,
                          tb_err *err);
/*
 * The query state after committed batch `batch` (a commit record of the log, or the old
 * layout's state/N). *out_data is tb_malloc'ed (caller frees). TB_E_NOTFOUND when no
 * commit of that batch is kept (only the last commit's is, after a compaction).
 */
tb_rc tb_ckpt_read_state(tb_ckpt *ckpt, int64_t batch, char **out_data, size_t *out_len,
                         tb_err *err);

/*
 * Call fn for every batch with offsets, in batch order: the compacted ones, then the
 * others (off->state is not loaded). fn's off is valid during the call. Stops at the
 * first error of fn or of a read (a damaged file is TB_E_CORRUPT).
 */
typedef tb_rc (*tb_ckpt_scan_fn)(void *ud, const tb_ckpt_offsets *off, tb_err *err);
tb_rc tb_ckpt_scan(tb_ckpt *ckpt, tb_ckpt_scan_fn fn, void *ud, tb_err *err);

/*
 * Compaction, called after a durable write: once the log has moved to a new segment
 * (a segment is full at max(TB_CKPT_SEGMENT_BYTES, the compact file's size)) and holds
 * the last commit, the committed batches go into offsets/T.compact and the older
 * segments (and old-layout files) are deleted, bounding the directory. Amortised O(1)
 * per batch. *out_done tells whether it compacted (may be NULL).
 */
#define TB_CKPT_SEGMENT_BYTES ((uint64_t)8 << 20)
tb_rc tb_ckpt_maybe_compact(tb_ckpt *ckpt, bool *out_done, tb_err *err);
/*
 * Deferred sync: appends return before they are durable; tb_ckpt_sync makes them so.
 * For a query whose output never leaves the process (no sink, no bad-records file), a
 * record need not be durable before the batch runs: a killed process loses nothing (the
 * page cache keeps the appends), and a power cut loses only appends never synced, whose
 * batches' files are then read again, once (the view is rebuilt from the last durable
 * commit). A compaction and a new segment sync first. Off by default.
 */
void tb_ckpt_set_deferred_sync(tb_ckpt *ckpt, bool deferred);
tb_rc tb_ckpt_sync(tb_ckpt *ckpt, tb_err *err);
/* tb_now_ns() of the oldest append not yet durable, or 0. */
int64_t tb_ckpt_dirty_since(const tb_ckpt *ckpt);

/* Compact whatever is committed now (tests). */
tb_rc tb_ckpt_compact(tb_ckpt *ckpt, tb_err *err);
/* The next write starts a new segment (tests). */
void tb_ckpt_rotate(tb_ckpt *ckpt);

/* Parse one record payload (for fuzzing and tests): verifies the CRC trailer and the
 * JSON of an offsets record; off must start zeroed. */
tb_rc tb_ckpt_parse_offsets(const char *name, const char *data, size_t len,
                            tb_ckpt_offsets *off, tb_err *err);
/* Parse a compact file image, calling fn per batch (fuzzing and tests). */
tb_rc tb_ckpt_parse_compact(const char *name, const char *data, size_t len,
                            tb_ckpt_scan_fn fn, void *ud, tb_err *err);
/* Parse a log segment image (fuzzing): TB_OK when every record is valid or only the
 * last is torn (*out_torn_at = its offset, else -1). */
tb_rc tb_ckpt_parse_segment(const char *name, const char *data, size_t len,
                            int64_t *out_torn_at, tb_err *err);

#endif /* TB_STREAM_CHECKPOINT_H */
