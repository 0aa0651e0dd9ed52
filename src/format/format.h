/*
 * format.h - the format layer's common interface: a tb_source yields batches decoded
 * from files (CSV, Parquet, JSON lines, Delta). Each format has its own header
 * (csv.h, parquet.h, delta.h, json.h) for opening sources and format-specific calls.
 *
 * A source reads a projection of a file's (or table's) columns: its schema is the
 * projected schema, in projection order.
 */
#ifndef TB_FORMAT_H
#define TB_FORMAT_H

#include "vector/vector.h"

typedef struct tb_source tb_source;

typedef struct tb_source_vt {
    const char *name; /* "csv", "parquet", ... */
    /*
     * Produce the next batch, allocated in arena (the caller resets arena between
     * calls). *out is NULL at the end of the input. Errors name the file (and line or
     * row group) in err.
     */
    tb_rc (*next)(tb_source *src, tb_arena *arena, tb_batch **out, tb_err *err);
    void (*free)(tb_source *src);
} tb_source_vt;

/* Counters every source keeps (read by progress reporting). */
typedef struct tb_source_stats {
    uint64_t rows_read;      /* rows produced */
    uint64_t rows_malformed; /* rows dropped or nulled by permissive/dropmalformed */
    uint64_t bytes_read;     /* file bytes consumed */
    uint64_t files_done;
} tb_source_stats;

struct tb_source {
    const tb_source_vt *vt;
    tb_schema *schema; /* projected output schema, owned by the source */
    tb_source_stats stats;
};

static inline tb_rc tb_source_next(tb_source *src, tb_arena *arena, tb_batch **out,
                                   tb_err *err)
{
    return src->vt->next(src, arena, out, err);
}
/* Free a source (NULL is a no-op). */
void tb_source_free(tb_source *src);

/* ---------------------------------------------------------------- morsels */

/*
 * Parallel reading. A splittable source (CSV over files: a morsel per file; Parquet: a
 * morsel per row group) is read by several threads, each through its own morsel reader:
 * reading morsels 0..n-1 in order yields exactly the source's rows, in order, with the
 * same errors (files, lines, messages).
 *   tb_source_morsels   number of morsels (*out_n = 0: not splittable). Call it before
 *                       the first next(); it may read file metadata.
 *   tb_source_morsel_reader  a new source with src's schema that yields nothing until
 *                       positioned; src must outlive it and must not be read meanwhile.
 *   tb_source_seek_morsel    position a reader: its next() yields morsel i, then NULL.
 * @thread readers of one source may be used concurrently (one thread each); src itself
 * is only read by them at creation.
 */
tb_rc tb_source_morsels(tb_source *src, uint64_t *out_n, tb_err *err);
tb_rc tb_source_morsel_reader(tb_source *src, tb_source **out, tb_err *err);
tb_rc tb_source_seek_morsel(tb_source *reader, uint64_t i, tb_err *err);

#endif /* TB_FORMAT_H */
