/*
 * agg_list.h - aggregates over every value of a group (string_agg, percentile_cont /
 * percentile_disc / mode) and approx_count_distinct's HyperLogLog (agg_list.c).
 */
#ifndef TB_AGG_LIST_H
#define TB_AGG_LIST_H

#include "exec/exec.h"

/* HyperLogLog with 2^14 one-byte registers: standard error 1.04 / sqrt(2^14) ~ 0.81%,
 * 16 KiB of state per group. */
#define TB_HLL_P 14
#define TB_HLL_REGS (1u << TB_HLL_P)

/*
 * The argument of a list aggregate: one string per row packing the sort key (keys[i],
 * DESC / NULLS FIRST as given) and the value (and, for string_agg, the separator sep);
 * NULL when val is NULL (the aggregate skips it). Layout in agg_list.c.
 */
tb_rc tb_agg_pack_call(tb_arena *arena, tb_expr *val, tb_expr *sep, tb_expr **keys,
                       const bool *desc, const bool *nulls_first, uint32_t n_keys, int pos,
                       tb_expr **out, tb_err *err);
/* Row k of dst (spec->type, capacity cap) = the aggregate over the packed entries of a
 * group's blob (NULL when it has none). */
tb_rc tb_agg_list_final(const tb_aggspec *spec, const void *blob, size_t len, tb_arena *arena,
                        tb_vec *dst, uint32_t k, uint32_t cap, tb_err *err);

/* Order-preserving bytes of row i of v (ascending, NULLs last; equal values give equal
 * bytes, NULLs equal): at most tb_agg_key_size bytes. For row keys (WITH RECURSIVE's
 * UNION). */
size_t tb_agg_key_size(const tb_vec *v, uint32_t i);
size_t tb_agg_key_enc(const tb_vec *v, uint32_t i, uint8_t *p);

void tb_hll_add(uint8_t *reg, uint64_t hash);
void tb_hll_merge(uint8_t *dst, const uint8_t *src);
int64_t tb_hll_estimate(const uint8_t *reg);

#endif /* TB_AGG_LIST_H */
