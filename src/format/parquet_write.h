/*
 * parquet_write.h - the Parquet writer: batches -> a Parquet file readable by DuckDB,
 * Arrow and Spark.
 *
 * Layout: data pages v1, each column chunk a PLAIN dictionary page followed by
 * RLE_DICTIONARY data pages (indices RLE/bit-packed), falling back to PLAIN pages once
 * the chunk's dictionary passes opts.dict_size_limit; definition levels (RLE) for
 * nullable columns; min/max/null_count statistics per page and per column chunk.
 *
 * Type mapping (engine -> Parquet):
 *   boolean -> BOOLEAN; smallint -> INT32 + INT(16,signed); integer -> INT32;
 *   bigint -> INT64; real -> FLOAT; double -> DOUBLE;
 *   numeric(p,s) -> DECIMAL(p,s) on INT32 (p <= 9), INT64 (p <= 18), else
 *   FIXED_LEN_BYTE_ARRAY(minimal bytes for p);
 *   text -> BYTE_ARRAY STRING; date -> INT32 DATE;
 *   timestamp -> INT64 TIMESTAMP(MICROS, isAdjustedToUTC = opts.timestamp_utc);
 *   interval -> FIXED_LEN_BYTE_ARRAY(12) with the INTERVAL converted type (little-endian
 *   uint32 months, days, milliseconds: sub-millisecond parts are truncated, and negative
 *   components are stored as their two's complement, which readers see as large
 *   unsigned values; no min/max statistics, the order being undefined).
 *
 * Files appear atomically: everything is written to "<dir>/.<name>.tmp-<pid>" and
 * renamed to `path` by tb_parquet_writer_close. Memory is bounded by one row group of
 * encoded pages (opts.row_group_size_bytes) plus one dictionary per column.
 *
 * A low-level interface writes nested schemas (groups, repeated fields, MAP/LIST) from
 * caller-computed definition/repetition levels; Delta checkpoints use it.
 *
 * @thread a writer is used by one thread at a time.
 */
#ifndef TB_PARQUET_WRITE_H
#define TB_PARQUET_WRITE_H

#include "format/codec.h"
#include "format/format.h"
#include "format/parquet.h"

typedef struct tb_parquet_writer tb_parquet_writer;

typedef struct tb_parquet_write_opts {
    int codec;                     /* TB_CODEC_* (codec.h); default TB_CODEC_SNAPPY */
    uint64_t row_group_size_bytes; /* encoded bytes per row group; default 128 MiB */
    uint64_t row_group_rows;       /* max rows per row group; 0 = no limit (default) */
    uint32_t page_size_bytes;      /* target data page size; default 1 MiB */
    uint32_t dict_size_limit;      /* dictionary bytes per chunk; default 1 MiB */
    bool dictionary;               /* dictionary encoding; default true */
    bool timestamp_utc;            /* isAdjustedToUTC of timestamps; default false */
    bool statistics;               /* min/max/null_count; default true */
    uint32_t max_stat_bytes;       /* longer string min/max are left out; default 4096 */
    bool sync;                     /* fsync the file and its directory at close; default true */
} tb_parquet_write_opts;

void tb_parquet_write_opts_default(tb_parquet_write_opts *opts);

/*
 * Create a writer for a flat schema (one column per field, OPTIONAL when nullable).
 * opts may be NULL (defaults). Column names are copied. On success *out belongs to the
 * caller: finish with tb_parquet_writer_close or tb_parquet_writer_abort.
 */
tb_rc tb_parquet_writer_open(const char *path, const tb_schema *schema,
                             const tb_parquet_write_opts *opts, tb_parquet_writer **out,
                             tb_err *err);
/* Append a batch whose columns match the schema (types must be equal; a NULL in a
 * non-nullable column is TB_E_TYPE). */
tb_rc tb_parquet_writer_write_batch(tb_parquet_writer *w, const tb_batch *batch, tb_err *err);
/* Rows written so far, and bytes of the file so far plus those buffered (an estimate
 * of the final size, used to roll files). */
uint64_t tb_parquet_writer_rows(const tb_parquet_writer *w);
uint64_t tb_parquet_writer_bytes(const tb_parquet_writer *w);

/*
 * Statistics of flat column `col` over every row written so far: null count, and when
 * *out_has_minmax, min and max as values of the column's type (strings are views into
 * writer-owned memory valid until the next write or close). Float NaNs are ignored.
 */
void tb_parquet_writer_col_stats(tb_parquet_writer *w, uint32_t col, uint64_t *out_nulls,
                                 bool *out_has_minmax, tb_value *out_min, tb_value *out_max);

/*
 * Flush, write the footer, fsync and rename into place. Always frees w; on failure the
 * temp file is removed. *out_size (may be NULL) receives the file size.
 */
tb_rc tb_parquet_writer_close(tb_parquet_writer *w, uint64_t *out_size, tb_err *err);
/* Discard: remove the temp file and free. NULL is a no-op. */
void tb_parquet_writer_abort(tb_parquet_writer *w);

/* ---------------------------------------------------------------- nested schemas */

/*
 * A schema node, listed depth-first as in Parquet's flattened schema (without the root).
 * A group has n_children > 0; a leaf has a type of the engine (BOOL, INT16, INT32,
 * INT64, FLOAT, DOUBLE, STRING, DATE, TIMESTAMP, DECIMAL). converted_type marks groups
 * as TB_PQ_CT_MAP / TB_PQ_CT_LIST / TB_PQ_CT_MAP_KEY_VALUE (-1: none).
 */
typedef struct tb_pq_node {
    const char *name;
    int repetition; /* TB_PQ_REQUIRED / OPTIONAL / REPEATED */
    uint32_t n_children;
    int converted_type;
    tb_type type; /* leaves */
} tb_pq_node;

tb_rc tb_parquet_writer_open_nested(const char *path, const tb_pq_node *nodes, uint32_t n_nodes,
                                    const tb_parquet_write_opts *opts, tb_parquet_writer **out,
                                    tb_err *err);
/* Leaves in schema order; max definition / repetition levels of leaf i. */
uint32_t tb_parquet_writer_leaf_count(const tb_parquet_writer *w);
void tb_parquet_writer_leaf_levels(const tb_parquet_writer *w, uint32_t leaf, int *out_max_def,
                                   int *out_max_rep);
/*
 * Append one entry to leaf: its definition and repetition level, and the value when
 * def == max_def (ignored otherwise; may be NULL then). The caller keeps every leaf in
 * step: after each record, call tb_parquet_writer_end_record.
 */
tb_rc tb_parquet_writer_leaf_put(tb_parquet_writer *w, uint32_t leaf, int def, int rep,
                                 const tb_value *val, tb_err *err);
/* One record (row) was completed on every leaf. May flush a row group. */
tb_rc tb_parquet_writer_end_record(tb_parquet_writer *w, tb_err *err);

#endif /* TB_PARQUET_WRITE_H */
