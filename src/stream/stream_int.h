/*
 * stream_int.h - private pieces of the stream module shared between its files.
 */
#ifndef TB_STREAM_INT_H
#define TB_STREAM_INT_H

#include "stream/stream.h"

/*
 * The incremental aggregate of one continuous query: a hash aggregate whose groups
 * persist across micro-batches. Each batch's plan gets a fresh operator (tb_sagg_op_new)
 * over the same state: its first next() folds the batch's input into the state, then it
 * emits every group (the complete result; operators above it, e.g. HAVING or ORDER BY,
 * then see the whole result as a batch query would).
 */
typedef struct tb_sagg tb_sagg;

/*
 * Build the per-batch operator. *state is created on first use from the expressions'
 * types (and loaded from restore/restore_len when given, then those are consumed).
 * Takes ownership of child whatever the outcome.
 */
tb_rc tb_sagg_op_new(tb_sagg **state, tb_op *child, uint32_t n_groups, tb_expr **group_exprs,
                     const char **group_names, uint32_t n_aggs, const tb_aggspec *aggs,
                     const char **agg_names, const char *restore, size_t restore_len,
                     tb_op **out, tb_err *err);
void tb_sagg_free(tb_sagg *state);
uint64_t tb_sagg_groups(const tb_sagg *state);
size_t tb_sagg_bytes(const tb_sagg *state);
tb_rc tb_sagg_serialize(const tb_sagg *state, tb_buf *out, tb_err *err);
/* Remove the groups whose timestamp key `group_col` is < before_us (closed windows). */
tb_rc tb_sagg_evict_before(tb_sagg *state, uint32_t group_col, int64_t before_us,
                           tb_err *err);

#endif /* TB_STREAM_INT_H */
