/*
 * filesource.h - discovery of new files in a directory for the streaming file source.
 *
 * Contract (as Spark's file source): each file is read once; names starting with '.'
 * or '_' are ignored, so writers write under a hidden name and rename(2) into place
 * (an atomic move makes the whole file appear at once). Discovery uses inotify
 * (IN_MOVED_TO, IN_CLOSE_WRITE) and falls back to listing the directory: at start,
 * when inotify is unavailable or its queue overflowed, and every `relist_ms`.
 *
 * Per-batch cost is O(new files): the seen set is a hash set of names (kept in the
 * checkpoint as the per-batch file lists, see checkpoint.h), and inotify reports only
 * changes, so a directory of 100,000 files costs a batch no more than one of 100 (the
 * periodic relist is the exception, and is bounded by relist_ms).
 */
#ifndef TB_STREAM_FILESOURCE_H
#define TB_STREAM_FILESOURCE_H

#include "util/util.h"

typedef struct tb_filewatch tb_filewatch;

typedef struct tb_filewatch_opts {
    const char *suffix;     /* only names ending so (NULL: any) */
    int64_t relist_ms;      /* periodic full listing; 0 = never (inotify only), default 10 s */
    bool use_inotify;       /* default true */
} tb_filewatch_opts;

void tb_filewatch_opts_default(tb_filewatch_opts *opts);
tb_rc tb_filewatch_open(const char *dir, const tb_filewatch_opts *opts, tb_filewatch **out,
                        tb_err *err);
void tb_filewatch_free(tb_filewatch *fw);
/* Mark a file (name relative to the directory) as already read: restored from the
 * checkpoint. */
tb_rc tb_filewatch_mark_seen(tb_filewatch *fw, const char *name, tb_err *err);
/*
 * Wait up to timeout_ms (0: do not wait) for discovery, then move up to max_files
 * (0: no limit) pending files into *out (full paths), marking them seen. Files are taken
 * oldest first (modification time, then name), or newest first with latest_first.
 */
tb_rc tb_filewatch_take(tb_filewatch *fw, int timeout_ms, uint32_t max_files,
                        bool latest_first, tb_strlist *out, tb_err *err);
/* Files discovered but not taken yet. */
size_t tb_filewatch_pending(const tb_filewatch *fw);
size_t tb_filewatch_seen_count(const tb_filewatch *fw);
/* The watched directory. */
const char *tb_filewatch_dir(const tb_filewatch *fw);

#endif /* TB_STREAM_FILESOURCE_H */
