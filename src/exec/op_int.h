/*
 * op_int.h - private to the operators (op_*.c, table.c, hash*.c, sort*.c): operator
 * allocation, the column store that materializing operators copy rows into, and the
 * typed vector kernels they share (hashing key columns, comparing keys between a batch
 * and a store, gathering rows, ordering values).
 *
 * Conventions: row lists are uint32_t; TB_ROW_NONE in a gather list produces a NULL.
 * The data of NULL rows in a vector is unspecified (expression results may hold
 * garbage there), so every kernel checks validity before reading a value.
 */
#ifndef TB_OP_INT_H
#define TB_OP_INT_H

#include "exec/exec.h"

#define TB_ROW_NONE UINT32_MAX
/* Largest row count a column store holds (row ids are uint32_t, NONE reserved). */
#define TB_STORE_MAX_ROWS (UINT32_MAX - 1u)
/* Hash of a NULL key value. */
#define TB_NULL_HASH 0x7a3d9b1c5e2f4081ULL

/* ---------------------------------------------------------------- operators */

/*
 * Allocate an operator struct of `size` bytes (base first) with vt and children
 * (copied; the array is owned by the operator). NULL on OOM (children untouched).
 */
void *tb_op_alloc(size_t size, const tb_op_vt *vt, uint32_t n_children, tb_op **children);
/* Free children given to a constructor that failed before taking them. */
void tb_op_free_all(tb_op **ops, uint32_t n);

/* Evaluate e over batch; a column reference is a struct copy of the batch's vector. */
static inline tb_rc tb_op_eval(tb_expr *e, const tb_batch *batch, tb_arena *arena, tb_vec *out,
                               tb_err *err)
{
    if (e->kind == TB_EX_COL) {
        *out = batch->cols[e->col];
        return TB_OK;
    }
    return tb_expr_eval(e, batch, arena, out, err);
}

static inline bool tb_op_row_null(const tb_vec *v, uint32_t i)
{
    return v->type.id == TB_T_NULL || tb_vec_is_null(v, i);
}

/* A vector of n NULLs of type t in arena. */
tb_rc tb_op_null_vec(tb_vec *out, tb_type t, uint32_t n, tb_arena *arena);

/* ---------------------------------------------------------------- kernels */

/* Interval as one comparable span (30-day months, as PostgreSQL compares them). */
static inline tb_i128 tb_op_interval_span(tb_interval iv)
{
    return ((tb_i128)iv.months * 30 + iv.days) * (tb_i128)TB_USEC_PER_DAY + iv.micros;
}

/*
 * Hash rows 0..n-1 of v into h (combine: mix into the existing h[i], for the 2nd and
 * later key columns). Equal values (in the sense of tb_op_match) hash equal: -0.0 and
 * 0.0, all NaNs, intervals of equal span. NULL hashes to TB_NULL_HASH.
 */
void tb_op_hash(const tb_vec *v, uint32_t n, uint64_t *h, bool combine);

/*
 * Key comparison between probe rows and stored rows: for k < n, r = sel[k], keep r in
 * sel when a[r] equals b[brow[r]]; the others are appended to fail[*n_fail]. NULLs are
 * equal to each other when nulls_eq (grouping), never otherwise (joins). a and b have
 * the same type. Returns the number kept (sel compacted in place).
 */
uint32_t tb_op_match(const tb_vec *a, const tb_vec *b, const uint32_t *brow, uint32_t *sel,
                     uint32_t n, uint32_t *fail, uint32_t *n_fail, bool nulls_eq);

/*
 * Gather: dst[dst_off + k] = src[rows ? rows[k] : k] for k < n; TB_ROW_NONE gives NULL.
 * dst->data has room for dst_cap rows; a validity bitmap (dst_cap rows) is allocated in
 * arena when a NULL lands. String bytes are shared (views), not copied.
 */
tb_rc tb_op_gather(tb_vec *dst, uint32_t dst_off, uint32_t dst_cap, const tb_vec *src,
                   const uint32_t *rows, uint32_t n, tb_arena *arena);
/* Gather n rows into a new vector of src's type allocated in arena. */
tb_rc tb_op_gather_new(tb_vec *dst, const tb_vec *src, const uint32_t *rows, uint32_t n,
                       tb_arena *arena);

/* Rows from `off` (a multiple of 64) of v as a vector sharing v's buffers. */
tb_vec tb_op_vec_slice(const tb_vec *v, uint32_t off);

/* Order of two non-NULL values of the same type: <0, 0, >0 (NaN above all numbers). */
int tb_op_cmp(const tb_vec *a, uint32_t ia, const tb_vec *b, uint32_t ib);

/* ---------------------------------------------------------------- column store */

/*
 * An append-only set of columns in heap arrays (grown by doubling), each a tb_vec so
 * the kernels above read it like a batch. String bytes are copied into the store's
 * arena. Validity bitmaps are created on the first NULL. Row ids are dense 0..n_rows-1.
 */
typedef struct tb_colstore {
    uint32_t n_cols;
    tb_vec *cols;
    uint32_t n_rows;
    uint32_t cap;
    tb_arena *arena; /* string bytes */
    size_t str_bytes;
    /* Optional string interning (tb_colstore_intern): equal strings share one copy, so
     * a dimension column repeated over many rows stores each value once, and consumers
     * of the rows see few distinct pointers (tb_op_hash caches hashes by pointer). */
    tb_str *intern;
    size_t intern_cap; /* power of two, 0 = off */
    size_t intern_n;
    uint64_t intern_tries, intern_hits;
} tb_colstore;

tb_rc tb_colstore_init(tb_colstore *cs, uint32_t n_cols, const tb_type *types, tb_err *err);
void tb_colstore_free(tb_colstore *cs); /* zeroed store is a no-op */
tb_rc tb_colstore_reserve(tb_colstore *cs, uint64_t need, tb_err *err);
/* Append rows sel[k] (sel NULL: 0..n-1) of src[c] for every column c (src[c] has the
 * column's type). */
tb_rc tb_colstore_append(tb_colstore *cs, const tb_vec *src, const uint32_t *sel, uint32_t n,
                         tb_err *err);
/* Append n rows of zeroes (valid) in every column. */
tb_rc tb_colstore_append_zero(tb_colstore *cs, uint32_t n, tb_err *err);
/* Copy string row i of column c into the store's arena (after an in-place update). */
tb_rc tb_colstore_own_str(tb_colstore *cs, uint32_t c, uint32_t i, tb_err *err);
/* Turn string interning on (before the first append). */
tb_rc tb_colstore_intern(tb_colstore *cs, tb_err *err);
/* Drop every row (keeps capacity; frees string bytes). */
void tb_colstore_clear(tb_colstore *cs);
size_t tb_colstore_bytes(const tb_colstore *cs);

/* ---------------------------------------------------------------- serialization */

/* Little helpers for checkpoint images (native byte order). */
typedef struct tb_op_rd {
    const uint8_t *p;
    size_t len;
    size_t off;
    bool bad;
} tb_op_rd;
const void *tb_op_rd_take(tb_op_rd *rd, size_t n); /* NULL (and rd->bad) past the end */
uint64_t tb_op_rd_u64(tb_op_rd *rd);
uint32_t tb_op_rd_u32(tb_op_rd *rd);
uint8_t tb_op_rd_u8(tb_op_rd *rd);
tb_rc tb_op_wr_u64(tb_buf *buf, uint64_t v);
tb_rc tb_op_wr_u32(tb_buf *buf, uint32_t v);
tb_rc tb_op_wr_u8(tb_buf *buf, uint8_t v);
/* The whole store (row count, then each column: validity, data, string bytes). */
tb_rc tb_colstore_write(const tb_colstore *cs, tb_buf *buf);
/* Read rows written by tb_colstore_write into an empty store of the same column types;
 * TB_E_CORRUPT on malformed input. */
tb_rc tb_colstore_read(tb_colstore *cs, tb_op_rd *rd, tb_err *err);
tb_rc tb_op_type_write(tb_buf *buf, tb_type t);
tb_type tb_op_type_read(tb_op_rd *rd);

/* ---------------------------------------------------------------- aggregate state */

/* Off: groups are not marked changed (one-shot batch aggregation: nobody asks). */
void tb_hashagg_track_changes(tb_hashagg *agg, bool on);
/* The output schema of a hash aggregate (group columns, nullable, then aggregates,
 * nullable except counts; "?column?" where a name is missing) set in schema, and the
 * group key types in types[0..n_groups). */
tb_rc tb_agg_output_schema(tb_schema *schema, uint32_t n_groups, tb_expr **group_exprs,
                           const char **group_names, uint32_t n_aggs, const tb_aggspec *aggs,
                           const char **agg_names, tb_type *types, tb_err *err);

#endif /* TB_OP_INT_H */
