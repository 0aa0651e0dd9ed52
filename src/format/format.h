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

#endif /* TB_FORMAT_H */
