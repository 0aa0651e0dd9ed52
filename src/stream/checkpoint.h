/*
 * checkpoint.h - the streaming query's write-ahead log of batches and its state files.
 *
 *   DIR/metadata        {"id": "...", "query": "...", "created_us": ...}
 *   DIR/log/<seq>       append-only segments of records, one record per durable write:
 *     - batch N's offsets, appended BEFORE the batch runs: per source its offsets JSON
 *       ("sources": {name: offsets}, written and read verbatim; records of older
 *       releases hold "files", relative names, instead) and the watermark; when batch
 *       N-1 finished in the same run, the record also carries its commit ("commit":
 *       N-1) and batch N-1's changelog (the state changes it made, opaque bytes the
 *       runtime composes);
 *     - a commit on its own ({"commit": N} and batch N's changelog), appended when no
 *       batch follows soon (the job idles or stops);
 *     - once snapshot-S is durable, the next record says so ("snapshot": S).
 *   DIR/state/snapshot-<S>  the whole query state after committed batch S, as a
 *                       sequence of CRC-checked records (copied into memory at the commit,
 *                       then written to a temp name, fsynced and renamed by a writer
 *                       thread while the batches go on); taken when the changelogs since the last snapshot
 *                       outweigh it (tb_ckpt_snapshot_due), so a batch costs O(its
 *                       changes) amortised, and a restart reads one snapshot plus at most
 *                       about as many bytes of changelogs
 *   DIR/offsets/T.compact  the batches <= T in one file (offsets and watermarks, no state,
 *                       and the snapshot then referenced); written when a segment is full,
 *                       after which older segments go, except those holding a changelog
 *                       that the referenced snapshot does not cover
 *   DIR/offsets/N, DIR/commits/N, DIR/state/N  checkpoints of older releases (read only);
 *                       so are log records whose commit carries a whole state image
 *                       ("state_bytes") instead of a changelog ("changelog_bytes")
 *
 * So a batch costs ONE append and one fdatasync: the record is both the intent of batch N
 * and the commit of batch N-1. A new segment costs one more fsync (of the log directory)
 * when it is created. With deferred sync (below) the fdatasync waits for output leaving
 * the process, a quiet moment or a bound on the time.
 *
 * Record: a 20-byte frame ("TBL2", u32 payload length, u64 durable mark: every byte of
 * the segment before it had been made durable when the record was written, u32 CRC-32 of
 * those 16 bytes) and the payload: one JSON line, then (when the JSON has
 * "changelog_bytes": L, or "state_bytes": L in older records) L bytes and a newline, then
 * a trailer line "crc32 XXXXXXXX" covering the payload before it. Compact and metadata
 * files are JSON lines and the same trailer.
 *
 * Snapshot file: "TBSNAP02", u64 batch, u64 group count (a sizing hint for the restore, 0
 * unknown), u32 CRC-32 of those 24 bytes ("TBSNAP01" files, read too, have no group
 * count: a 20-byte header); then records (u32
 * length, u32 CRC-32 of the data, data); then an end record (u32 0xffffffff, u32 CRC-32
 * of the next 16 bytes, u64 record count, u64 data bytes). A snapshot without its end
 * record, or with a bad checksum, is TB_E_CORRUPT naming the file and the offset.
 *
 * Torn writes: a record is acted on (outside the process) only after its fdatasync
 * returns, so a record cut short by a crash lies past every durable mark; open() finds
 * the first bad record that no durable mark (of the records before it, or of a
 * well-formed record after it) covers, drops it and what follows with a warning, and
 * truncates the segment there. A bad record that a durable mark covers, or a damaged
 * metadata, compact or referenced snapshot file, is TB_E_CORRUPT naming the file (and
 * the offset).
 *
 * Recovery: the last commit C is the newest commit record (or, for an old checkpoint, the
 * highest commits/K). Its state is rebuilt from a base (the newest snapshot the log
 * references, or a whole state image of an older release's record, whichever is newer)
 * plus the changelogs of the commits after the base, in batch order (tb_ckpt_restore_*).
 * If batch C+1 has offsets it is re-run with exactly those offsets (sinks are idempotent
 * per batch id). The sources' progress is rebuilt from the compacted batches and the
 * offsets after them, each record holding only its own batch's offsets: a batch writes
 * O(its offsets), never the whole history.
 */
#ifndef TB_STREAM_CHECKPOINT_H
#define TB_STREAM_CHECKPOINT_H

#include <jansson.h>

#include "util/util.h"

typedef struct tb_ckpt tb_ckpt;

#define TB_WATERMARK_NONE INT64_MIN

typedef struct tb_ckpt_offsets {
    int64_t batch;
    int64_t watermark_us; /* event-time watermark at the start of the batch */
    /* Per source name, its offsets (src/stream/source.h), written and read verbatim.
     * Owned (a reference) when read, NULL when the record has none (an older release's
     * record: `files` instead); borrowed when written. */
    json_t *sources;
    tb_strlist files; /* older records: the file source's relative names */
    /* The record also commits batch - 1. New records carry that batch's changelog
     * (changelog, changelog_len: opaque bytes); records of older releases carry the whole
     * query state after it (state, state_len). Owned by the struct when read
     * (tb_ckpt_offsets_clear frees them); borrowed when written (set one of the two). */
    bool has_commit;
    char *state;
    size_t state_len;
    char *changelog;
    size_t changelog_len;
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
const char *tb_ckpt_dir(const tb_ckpt *ckpt);
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
/* Append a commit of batch N with the state after it, a whole image (the format of the
 * releases before changelogs; durable when it returns). */
tb_rc tb_ckpt_write_commit_state(tb_ckpt *ckpt, int64_t batch, const void *state, size_t len,
                                 tb_err *err);
/* Append a commit of batch N with its changelog (durable when it returns). */
tb_rc tb_ckpt_write_commit_changelog(tb_ckpt *ckpt, int64_t batch, const void *changelog,
                                     size_t len, tb_err *err);
/* Writers of the older file layout (commits/N without a state, state/N), kept for tests
 * of old checkpoints. */
tb_rc tb_ckpt_write_commit(tb_ckpt *ckpt, int64_t batch, tb_err *err);
tb_rc tb_ckpt_write_state(tb_ckpt *ckpt, int64_t batch, const void *data, size_t len,
                          tb_err *err);
/*
 * The whole state image after committed batch `batch` (a commit record of an older
 * release, or the old layout's state/N). *out_data is tb_malloc'ed (caller frees).
 * TB_E_NOTFOUND when no image of that batch is kept. Use tb_ckpt_restore_* to restore.
 */
tb_rc tb_ckpt_read_state(tb_ckpt *ckpt, int64_t batch, char **out_data, size_t *out_len,
                         tb_err *err);

/*
 * Restore the state after the last commit C: the base, then the changelogs after it.
 *
 *   tb_ckpt_restore *r;
 *   tb_ckpt_restore_begin(ckpt, &r, err);
 *   switch (tb_ckpt_restore_base(r, &base_batch)) {
 *   case TB_CKPT_BASE_NONE: start empty
 *   case TB_CKPT_BASE_SNAPSHOT: while (tb_ckpt_restore_snapshot_next(r, &d, &n, err) == TB_OK
 *                                      && d != NULL) apply record d
 *   case TB_CKPT_BASE_IMAGE: tb_ckpt_restore_image(r, &d, &n, err): a whole image
 *   }
 *   while (tb_ckpt_restore_changelog_next(r, &batch, &d, &n, err) == TB_OK && d != NULL)
 *       apply changelog d of batch `batch` (base_batch < batch <= C, consecutive)
 *   tb_ckpt_restore_end(r);
 *
 * Data pointers are valid until the next call on r. A missing or damaged snapshot the
 * log references, or a missing or damaged changelog, is TB_E_CORRUPT naming the file.
 * Reads the snapshot in records (memory O(one record)) and each changelog once.
 */
typedef struct tb_ckpt_restore tb_ckpt_restore;
typedef enum tb_ckpt_base {
    TB_CKPT_BASE_NONE,     /* empty state before batch 0 (or nothing committed) */
    TB_CKPT_BASE_SNAPSHOT, /* DIR/state/snapshot-<base_batch> */
    TB_CKPT_BASE_IMAGE     /* an older release's whole image of batch base_batch */
} tb_ckpt_base;
tb_rc tb_ckpt_restore_begin(tb_ckpt *ckpt, tb_ckpt_restore **out, tb_err *err);
/* *out_batch: the committed batch the base is the state after (-1 for NONE). */
tb_ckpt_base tb_ckpt_restore_base(const tb_ckpt_restore *r, int64_t *out_batch);
/* The group count the base snapshot's header carries (tb_ckpt_snapshot_set_groups), so
 * the restore sizes the aggregate once; 0 unknown (no snapshot, an older file). */
uint64_t tb_ckpt_restore_groups(const tb_ckpt_restore *r);
tb_rc tb_ckpt_restore_snapshot_next(tb_ckpt_restore *r, const char **out_data,
                                    size_t *out_len, tb_err *err);
tb_rc tb_ckpt_restore_image(tb_ckpt_restore *r, const char **out_data, size_t *out_len,
                            tb_err *err);
tb_rc tb_ckpt_restore_changelog_next(tb_ckpt_restore *r, int64_t *out_batch,
                                     const char **out_data, size_t *out_len, tb_err *err);
void tb_ckpt_restore_end(tb_ckpt_restore *r); /* NULL is a no-op */

/*
 * Snapshots. tb_ckpt_snapshot_due: whether the changelog bytes logged since the base
 * exceed max(the base snapshot's size, TB_CKPT_SNAPSHOT_MIN_BYTES) (or the base is an
 * older release's image, or the log holds changelogs no snapshot covers while a
 * compaction waits for them): writing one then costs at most what the batches since the
 * last one logged, so O(changed state) per batch amortised.
 *
 * Writing (after commit `batch` is durable, with the state after it): begin, put the
 * records (each one CRC-checked frame; read back one by one, in order), finish (end
 * record, fsync, rename to snapshot-<batch>, fsync of state/). The next log record
 * references it; from then on older snapshots, and segments holding only changelogs it
 * covers, are deleted by the compaction. abort (or a failure) removes the temp file.
 *
 * Off the batch path (issue 9): begin_async keeps the records in memory (put is one
 * copy: the caller's image of the state at the commit, immutable from then on), and
 * submit hands the snapshot to a writer thread that checksums, writes, fsyncs and
 * renames it while the batches go on. At most one snapshot is in flight (due() is false
 * meanwhile; begin_async refuses a second), so memory stays bounded by one image. Until
 * the writer is done nothing names the snapshot: the changelogs since the base stay in
 * the log and a crash at any moment restores the old base plus them. The next record
 * written after the writer finished names it (the append reaps the thread);
 * tb_ckpt_snapshot_wait reports a writer's failure (then the snapshot is retried when
 * due again) and, with block, waits for it. tb_ckpt_free waits for a writer in flight.
 * @thread the caller's, except snap_complete's file work in the writer thread, which
 *         touches no field of the tb_ckpt but an atomic flag.
 */
#define TB_CKPT_SNAPSHOT_MIN_BYTES ((uint64_t)4 << 20)
bool tb_ckpt_snapshot_due(const tb_ckpt *ckpt);
/* Override the floor above (tests: snapshots every few batches; 0: at every commit).
 * The environment variable TB_CKPT_SNAPSHOT_MIN_BYTES sets it at open (tests). */
void tb_ckpt_set_snapshot_min_bytes(tb_ckpt *ckpt, uint64_t bytes);
typedef struct tb_ckpt_snapshot tb_ckpt_snapshot;
tb_rc tb_ckpt_snapshot_begin(tb_ckpt *ckpt, int64_t batch, tb_ckpt_snapshot **out,
                             tb_err *err);
tb_rc tb_ckpt_snapshot_begin_async(tb_ckpt *ckpt, int64_t batch, tb_ckpt_snapshot **out,
                                   tb_err *err);
/* Record the state's group count in the header; call before the first put. */
void tb_ckpt_snapshot_set_groups(tb_ckpt_snapshot *snap, uint64_t groups);
tb_rc tb_ckpt_snapshot_put(tb_ckpt_snapshot *snap, const void *data, size_t len, tb_err *err);
/* A record of `tag` then data (the record's bytes: len + 1), without a copy to join them. */
tb_rc tb_ckpt_snapshot_put_tagged(tb_ckpt_snapshot *snap, char tag, const void *data, size_t len,
                                  tb_err *err);
/* Matches tb_hashagg_write_fn: ud is the tb_ckpt_snapshot. */
tb_rc tb_ckpt_snapshot_put_fn(void *ud, const void *data, size_t len, tb_err *err);
/* Finishes and frees snap, whatever the outcome. */
tb_rc tb_ckpt_snapshot_finish(tb_ckpt_snapshot *snap, tb_err *err);
void tb_ckpt_snapshot_abort(tb_ckpt_snapshot *snap); /* NULL is a no-op */
/* Hand an in-memory snapshot (begin_async) to the writer thread; snap belongs to the
 * checkpoint whatever the outcome (without a thread it is written at once). */
tb_rc tb_ckpt_snapshot_submit(tb_ckpt_snapshot *snap, tb_err *err);
/* Reap the writer when it is done (block: wait for it); returns a failed writer's error
 * once (TB_OK otherwise, or while it runs). */
tb_rc tb_ckpt_snapshot_wait(tb_ckpt *ckpt, bool block, tb_err *err);
bool tb_ckpt_snapshot_in_flight(const tb_ckpt *ckpt);
/* Newest snapshot referenced by the log (or written and about to be), -1 none. */
int64_t tb_ckpt_snapshot_batch(const tb_ckpt *ckpt);
/* Changelog bytes logged since the base (for progress reports). */
uint64_t tb_ckpt_changelog_bytes(const tb_ckpt *ckpt);

/*
 * Call fn for every batch with offsets, in batch order: the compacted ones, then the
 * others (off->state and off->changelog are not loaded). fn's off is valid during the call. Stops at the
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
/* Parse a snapshot file image (fuzzing, tests): checks every frame and the end record,
 * calling fn (may be NULL) per record; *out_batch gets the batch in its header. */
typedef tb_rc (*tb_ckpt_record_fn)(void *ud, const char *data, size_t len, tb_err *err);
tb_rc tb_ckpt_parse_snapshot(const char *name, const char *data, size_t len,
                             int64_t *out_batch, tb_ckpt_record_fn fn, void *ud, tb_err *err);

#endif /* TB_STREAM_CHECKPOINT_H */
