/*
 * hashagg.c - hash aggregation: the aggregate state object (tb_hashagg) that the batch
 * operator and the streaming layer share, and the tb_op_hash_agg operator over it.
 *
 * State layout (struct of arrays, all in tb_colstore so growth, compaction on eviction
 * and checkpoint images are uniform):
 *   groups  a key table: one store row per group (gid = row), the group's hash, and an
 *           open-addressing slot array (slot = 32-bit hash tag | gid+1, 0 = empty,
 *           linear probing, load <= 1/4, or 1/2 past 256k groups). NULL keys are equal
 *           to each other, so NULLs form one group. String keys are copied into the
 *           store's arena.
 *   states  one store row per group: column 0 "changed" (bool), then per aggregate a
 *           count column (int64: non-NULL inputs, or rows for count(*)) and, except for
 *           count, a value column: int128 sum (integer and numeric inputs: exact, see
 *           below), double sum (real/double), or the current min/max in the argument's
 *           type (strings copied into the state store's arena).
 *   distinct per DISTINCT aggregate, a key table over (gid, value): a row updates the
 *           aggregate only when its (gid, value) pair is new.
 * With no group keys there is exactly one group (gid 0), created up front, so the
 * aggregate yields one row even over empty input.
 *
 * Lookup is vectorized (per batch of up to TB_BATCH_CAP rows): hash key columns one at
 * a time, probe slots for every row (inserting rows that find an empty slot, appending
 * their keys in bulk), then compare the candidates column by column with typed loops;
 * rows that fail move to the next slot and go round again.
 *
 * Exactness: sums of smallint/int/bigint and numeric accumulate in __int128 (sum(int)
 * -> bigint is range-checked on output, "bigint out of range"); numeric sums check
 * int128 overflow and the 38-digit limit (TB_E_RANGE). avg(numeric) = sum/count at the
 * result type's scale, rounded half away from zero.
 *
 * Changes (update mode, incremental checkpoints): a group's "changed" flag is set when a
 * row lands in it, and the gid is pushed on a dirty list when the flag goes from clear to
 * set; a CHANGED pass walks the dirty list; tb_hashagg_changes_clear clears the flags of
 * the listed groups only. Evicted groups' keys go to a `deleted` store; DISTINCT entries
 * added since the clear are those at or past the table's `mark` (tables are append only,
 * and compaction keeps their order). A change set is thus O(changed) to build.
 *
 * Change sets and snapshots share one encoding (a snapshot is a series of change sets
 * of upserts only, applied to an empty state):
 *   u32 "TBHC", u32 version, the shape (as in the whole image: key types, aggregates),
 *   deletes: a row image of the key columns (n_keys > 0 only),
 *   upserts: a row image of the key columns (n_keys > 0 only), then one of the state
 *            columns (whole aggregate state, so applying overwrites),
 *   per DISTINCT aggregate: a row image of (key columns..., value): the entries added.
 * Row images are tb_colstore_write's format (read back by tb_colstore_read).
 *
 * Eviction by watermark would scan every group per batch; instead the minimum of the
 * evicted key column is kept (recomputed by an evicting scan, lowered as groups are
 * added), so a batch that evicts nothing costs O(1).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exec/agg_list.h"
#include "exec/op_int.h"

/* ACC_LIST: string_agg, percentile_*, mode: the group's packed entries (agg_list.c) in a
 * string state column; ACC_HLL: approx_count_distinct's HyperLogLog registers, likewise. */
enum { ACC_COUNT, ACC_I128, ACC_F64, ACC_MINMAX, ACC_NULL, ACC_LIST, ACC_HLL };

/* Growable buffer behind a group's ACC_LIST / ACC_HLL state (see lbuf_take). */
typedef struct lbuf {
    uint8_t *p;
    size_t len, cap;
} lbuf;

typedef struct keytab {
    tb_colstore st;
    uint64_t *hashes; /* per row, hcap entries */
    uint32_t hcap;
    uint64_t *slots;
    uint64_t n_slots; /* power of two, or 0 */
    /* per-call scratch */
    uint64_t h[TB_BATCH_CAP];
    uint64_t pos[TB_BATCH_CAP];
    uint32_t cand[TB_BATCH_CAP];
    uint32_t act[TB_BATCH_CAP], nxt[TB_BATCH_CAP], cmp[TB_BATCH_CAP], fresh[TB_BATCH_CAP];
} keytab;

typedef struct aggst {
    tb_aggspec spec; /* arg borrowed (only its type is used after new) */
    tb_type in_type; /* argument type (count(*): NULL type) */
    int acc;
    uint32_t col_cnt;
    uint32_t col_val; /* 0 when none */
    keytab *distinct;
    uint32_t mark; /* distinct entries >= mark were added since the changes were cleared */
    lbuf *lb;      /* ACC_LIST / ACC_HLL: per gid, lb_n entries */
    uint32_t lb_n;
} aggst;

struct tb_hashagg {
    uint32_t n_keys;
    tb_type *key_types;
    uint32_t n_aggs;
    aggst *aggs;
    keytab *groups; /* NULL when n_keys == 0 */
    tb_colstore states;
    uint32_t *dirty;
    size_t n_dirty, dirty_cap;
    bool track_changes; /* off for one-shot batch aggregation (nobody asks) */
    tb_colstore deleted; /* keys of the groups evicted since the changes were cleared */
    /* minimum of key column min_col over the groups (min_gid, TB_ROW_NONE when no
     * non-NULL key), kept once an eviction on that column scanned every group */
    bool min_ok;
    uint32_t min_col, min_gid;
    tb_arena *scratch;
    /* serial order of a parallel aggregation (tb_hashagg_set_stamp): per group the
     * smallest stamp of a row that landed in it; `order` lists the groups by stamp for
     * TB_HASHAGG_ALL passes once tb_hashagg_order_by_stamp ran */
    bool stamping;
    uint64_t stamp_base;
    uint64_t *stamps;
    size_t stamps_cap;
    uint32_t *order;
    uint32_t gids[TB_BATCH_CAP];
    uint32_t fresh[TB_BATCH_CAP];
    int64_t gid64[TB_BATCH_CAP];
};

/* ---------------------------------------------------------------- key table */

static void keytab_free(keytab *kt)
{
    if (kt == NULL)
        return;
    tb_colstore_free(&kt->st);
    tb_free(kt->hashes);
    tb_free(kt->slots);
    tb_free(kt);
}

static tb_rc keytab_new(uint32_t n_cols, const tb_type *types, keytab **out, tb_err *err)
{
    keytab *kt = tb_calloc(1, sizeof(*kt));
    tb_rc rc;

    *out = NULL;
    if (kt == NULL)
        return tb_err_nomem(err);
    rc = tb_colstore_init(&kt->st, n_cols, types, err);
    if (rc != TB_OK) {
        tb_free(kt);
        return rc;
    }
    *out = kt;
    return TB_OK;
}

static inline uint64_t slot_tag(uint64_t h) { return h & 0xffffffff00000000ULL; }

/* Rebuild the slot array (n_slots >= 2 * rows) from the stored hashes. */
static tb_rc keytab_reindex(keytab *kt, uint64_t n_slots, tb_err *err)
{
    uint64_t *slots = tb_calloc(n_slots, sizeof(uint64_t)), mask = n_slots - 1;

    if (slots == NULL)
        return tb_err_nomem(err);
    for (uint32_t id = 0; id < kt->st.n_rows; id++) {
        uint64_t h = kt->hashes[id], p = h & mask;
        while (slots[p] != 0)
            p = (p + 1) & mask;
        slots[p] = slot_tag(h) | (id + 1);
    }
    tb_free(kt->slots);
    kt->slots = slots;
    kt->n_slots = n_slots;
    return TB_OK;
}

/* Slots per entry: load <= 1/4 up to 256k groups (shorter probe runs: the common small
 * table gets ~20% faster lookups), <= 1/2 beyond (the slot array stays 16 bytes a
 * group when there are millions). */
static inline uint64_t slot_factor(uint64_t need) { return need < 262144 ? 4 : 2; }

static tb_rc keytab_reserve(keytab *kt, uint64_t need, tb_err *err)
{
    tb_rc rc = tb_colstore_reserve(&kt->st, need, err);

    if (rc != TB_OK)
        return rc;
    if (kt->hcap < kt->st.cap) {
        uint64_t *p = tb_realloc(kt->hashes, (size_t)kt->st.cap * sizeof(uint64_t));
        if (p == NULL)
            return tb_err_nomem(err);
        kt->hashes = p;
        kt->hcap = kt->st.cap;
    }
    if (need * slot_factor(need) > kt->n_slots) {
        uint64_t n_slots = kt->n_slots ? kt->n_slots : 1024;
        while (need * slot_factor(need) > n_slots)
            n_slots *= 2;
        rc = keytab_reindex(kt, n_slots, err);
    }
    return rc;
}

/* Recompute every stored hash and the slots (after loading or compacting the store). */
static tb_rc keytab_rehash(keytab *kt, tb_err *err)
{
    uint32_t n = kt->st.n_rows;
    uint64_t n_slots = 1024;
    tb_rc rc = keytab_reserve(kt, n, err);

    if (rc != TB_OK)
        return rc;
    for (uint32_t c = 0; c < kt->st.n_cols; c++)
        tb_op_hash(&kt->st.cols[c], n, kt->hashes, c > 0);
    while ((uint64_t)n * 2 > n_slots)
        n_slots *= 2;
    return keytab_reindex(kt, n_slots, err);
}

/*
 * Find or insert rows 0..n-1 (n <= TB_BATCH_CAP) of the key vectors: ids[r] = entry of
 * row r. Rows that created an entry are listed in kt->fresh[0..*n_fresh) (in order).
 */
static tb_rc keytab_find(keytab *kt, const tb_vec *keys, uint32_t n, uint32_t *ids,
                         uint32_t *n_fresh, tb_err *err)
{
    uint32_t n_cols = kt->st.n_cols, n_act = n, total_fresh = 0;
    uint64_t mask;
    tb_rc rc;

    rc = keytab_reserve(kt, (uint64_t)kt->st.n_rows + n, err);
    if (rc != TB_OK)
        return rc;
    mask = kt->n_slots - 1;
    for (uint32_t c = 0; c < n_cols; c++)
        tb_op_hash(&keys[c], n, kt->h, c > 0);
    for (uint32_t r = 0; r < n; r++) {
        kt->pos[r] = kt->h[r] & mask;
        kt->act[r] = r;
        /* the slot array outgrows the caches with many groups: fetch the batch's slots
         * before probing them one by one */
        __builtin_prefetch(&kt->slots[kt->pos[r]]);
    }
    while (n_act > 0) {
        uint32_t n_cmp = 0, n_nxt = 0, n_new = 0, base = kt->st.n_rows;
        uint32_t *fresh = kt->fresh + total_fresh;

        for (uint32_t k = 0; k < n_act; k++) {
            uint32_t r = kt->act[k];
            uint64_t tag = slot_tag(kt->h[r]), p = kt->pos[r];
            for (;;) {
                uint64_t s = kt->slots[p];
                if (s == 0) {
                    uint32_t id = base + n_new;
                    kt->slots[p] = tag | (id + 1);
                    ids[r] = id;
                    kt->hashes[id] = kt->h[r];
                    fresh[n_new++] = r;
                    break;
                }
                if (slot_tag(s) == tag) {
                    kt->cand[r] = (uint32_t)s - 1;
                    kt->cmp[n_cmp++] = r;
                    break;
                }
                p = (p + 1) & mask;
            }
            kt->pos[r] = p;
        }
        if (n_new > 0) {
            rc = tb_colstore_append(&kt->st, keys, fresh, n_new, err);
            if (rc != TB_OK)
                return rc;
            total_fresh += n_new;
        }
        for (uint32_t c = 0; c < n_cols && n_cmp > 0; c++)
            n_cmp = tb_op_match(&keys[c], &kt->st.cols[c], kt->cand, kt->cmp, n_cmp, kt->nxt,
                                &n_nxt, true);
        for (uint32_t k = 0; k < n_cmp; k++)
            ids[kt->cmp[k]] = kt->cand[kt->cmp[k]];
        for (uint32_t k = 0; k < n_nxt; k++) {
            uint32_t r = kt->nxt[k];
            kt->pos[r] = (kt->pos[r] + 1) & mask;
            kt->act[k] = r;
        }
        n_act = n_nxt;
    }
    *n_fresh = total_fresh;
    return TB_OK;
}

static size_t keytab_bytes(const keytab *kt)
{
    return kt ? sizeof(*kt) + tb_colstore_bytes(&kt->st) + kt->hcap * sizeof(uint64_t) +
                    kt->n_slots * sizeof(uint64_t)
              : 0;
}

/* ---------------------------------------------------------------- creation */

static bool sum_int_input(tb_type t)
{
    return t.id == TB_T_INT16 || t.id == TB_T_INT32 || t.id == TB_T_INT64 || t.id == TB_T_DECIMAL;
}

/* Accumulator for an aggregate; TB_E_TYPE for combinations we cannot compute. */
static tb_rc pick_acc(aggst *a, tb_err *err)
{
    tb_type in = a->in_type, rt = a->spec.type;
    tb_agg_kind kind = a->spec.kind;
    char b1[64], b2[64];

    if (kind == TB_AGG_COUNT_STAR || kind == TB_AGG_COUNT) {
        a->acc = ACC_COUNT;
        if (rt.id == TB_T_INT64)
            return TB_OK;
    } else if (kind == TB_AGG_APPROX_DISTINCT) {
        a->acc = ACC_HLL;
        if (rt.id == TB_T_INT64)
            return TB_OK;
    } else if (kind >= TB_AGG_STRING_AGG) {
        a->acc = ACC_LIST;
        if (in.id == TB_T_STRING)
            return TB_OK;
    } else if (in.id == TB_T_NULL) {
        a->acc = ACC_NULL; /* sum(NULL), min(NULL): always NULL */
        return TB_OK;
    } else if (kind == TB_AGG_MIN || kind == TB_AGG_MAX) {
        a->acc = ACC_MINMAX;
        if (in.id == rt.id && (in.id != TB_T_DECIMAL || in.scale == rt.scale))
            return TB_OK;
    } else if (sum_int_input(in)) {
        a->acc = ACC_I128;
        /* sum(numeric(p,0)) -> bigint: the final step of an eager aggregation (opt.c),
         * summing partial sums of integers; range-checked on output as sum(int) is */
        if (rt.id == TB_T_DECIMAL || rt.id == TB_T_DOUBLE ||
            (kind == TB_AGG_SUM && rt.id == TB_T_INT64 &&
             (in.id != TB_T_DECIMAL || in.scale == 0)))
            return TB_OK;
    } else if (in.id == TB_T_FLOAT || in.id == TB_T_DOUBLE) {
        a->acc = ACC_F64;
        if (rt.id == TB_T_DOUBLE || rt.id == TB_T_FLOAT)
            return TB_OK;
    }
    return TB_ERRF(err, TB_E_TYPE, "aggregate %s(%s) returning %s is not supported",
                   kind == TB_AGG_SUM   ? "sum"
                   : kind == TB_AGG_AVG ? "avg"
                   : kind == TB_AGG_MIN ? "min"
                   : kind == TB_AGG_MAX ? "max"
                   : kind == TB_AGG_COUNT ? "count"
                   : kind == TB_AGG_COUNT_STAR ? "count"
                                        : "list aggregate",
                   tb_type_name(in, b1, sizeof(b1)), tb_type_name(rt, b2, sizeof(b2)));
}

void tb_hashagg_free(tb_hashagg *agg)
{
    if (agg == NULL)
        return;
    for (uint32_t i = 0; i < agg->n_aggs && agg->aggs != NULL; i++) {
        keytab_free(agg->aggs[i].distinct);
        for (uint32_t g = 0; g < agg->aggs[i].lb_n; g++)
            tb_free(agg->aggs[i].lb[g].p);
        tb_free(agg->aggs[i].lb);
    }
    tb_free(agg->aggs);
    tb_free(agg->key_types);
    keytab_free(agg->groups);
    tb_colstore_free(&agg->states);
    tb_colstore_free(&agg->deleted);
    tb_free(agg->dirty);
    tb_free(agg->stamps);
    tb_free(agg->order);
    tb_arena_free(agg->scratch);
    tb_free(agg);
}

tb_rc tb_hashagg_new(uint32_t n_keys, const tb_type *key_types, uint32_t n_aggs,
                     const tb_aggspec *aggs, tb_hashagg **out, tb_err *err)
{
    tb_hashagg *agg = tb_calloc(1, sizeof(*agg));
    tb_type *st_types = NULL;
    uint32_t n_st = 1;
    tb_rc rc;

    *out = NULL;
    if (agg == NULL)
        return tb_err_nomem(err);
    agg->n_keys = n_keys;
    agg->n_aggs = n_aggs;
    agg->track_changes = true;
    agg->key_types = tb_malloc((n_keys ? n_keys : 1) * sizeof(tb_type));
    agg->aggs = tb_calloc(n_aggs ? n_aggs : 1, sizeof(aggst));
    st_types = tb_malloc((1 + 2 * (size_t)n_aggs) * sizeof(tb_type));
    agg->scratch = tb_arena_new(64 * 1024);
    if (agg->key_types == NULL || agg->aggs == NULL || st_types == NULL || agg->scratch == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    if (n_keys > 0)
        memcpy(agg->key_types, key_types, n_keys * sizeof(tb_type));
    st_types[0] = tb_type_make(TB_T_BOOL);
    for (uint32_t i = 0; i < n_aggs; i++) {
        aggst *a = &agg->aggs[i];
        a->spec = aggs[i];
        a->in_type = aggs[i].arg ? aggs[i].arg->type : tb_type_make(TB_T_NULL);
        if (aggs[i].kind != TB_AGG_COUNT_STAR && aggs[i].arg == NULL) {
            rc = TB_ERRF(err, TB_E_MISUSE, "aggregate %u has no argument", i + 1);
            goto fail;
        }
        rc = pick_acc(a, err);
        if (rc != TB_OK)
            goto fail;
        a->col_cnt = n_st;
        st_types[n_st++] = tb_type_make(TB_T_INT64);
        if (a->acc == ACC_I128) {
            a->col_val = n_st;
            st_types[n_st++] =
                tb_type_decimal(38, a->in_type.id == TB_T_DECIMAL ? a->in_type.scale : 0);
        } else if (a->acc == ACC_F64) {
            a->col_val = n_st;
            st_types[n_st++] = tb_type_make(TB_T_DOUBLE);
        } else if (a->acc == ACC_MINMAX) {
            a->col_val = n_st;
            st_types[n_st++] = a->in_type;
        } else if (a->acc == ACC_LIST || a->acc == ACC_HLL) {
            a->col_val = n_st;
            st_types[n_st++] = tb_type_make(TB_T_STRING);
        }
        if (aggs[i].distinct && a->acc != ACC_NULL && aggs[i].kind != TB_AGG_COUNT_STAR) {
            tb_type dt[2] = {tb_type_make(TB_T_INT64), a->in_type};
            rc = keytab_new(2, dt, &a->distinct, err);
            if (rc != TB_OK)
                goto fail;
        }
    }
    rc = tb_colstore_init(&agg->states, n_st, st_types, err);
    if (rc != TB_OK)
        goto fail;
    if (n_keys > 0) {
        rc = keytab_new(n_keys, key_types, &agg->groups, err);
        if (rc == TB_OK)
            rc = tb_colstore_init(&agg->deleted, n_keys, key_types, err);
    } else {
        rc = tb_colstore_append_zero(&agg->states, 1, err); /* the one group */
    }
    if (rc != TB_OK)
        goto fail;
    tb_free(st_types);
    *out = agg;
    return TB_OK;
fail:
    tb_free(st_types);
    tb_hashagg_free(agg);
    return rc;
}

uint64_t tb_hashagg_groups(const tb_hashagg *agg) { return agg->states.n_rows; }

/*
 * Room for `groups` groups in one step (issue 9: a restore knows the count from the
 * snapshot header). Growing group by group doubles the key store, the hashes, the slot
 * array and the state store once per power of two, each time copying and faulting in
 * everything so far (a restart at 10 M groups spent most of its time there).
 */
tb_rc tb_hashagg_reserve(tb_hashagg *agg, uint64_t groups, tb_err *err)
{
    tb_rc rc = TB_OK;

    if (groups <= agg->states.n_rows)
        return TB_OK;
    if (groups > TB_STORE_MAX_ROWS) /* a hint past the limit is not worth failing */
        groups = TB_STORE_MAX_ROWS;
    if (agg->groups != NULL)
        rc = keytab_reserve(agg->groups, groups, err);
    if (rc == TB_OK)
        rc = tb_colstore_reserve(&agg->states, groups, err);
    return rc;
}

size_t tb_hashagg_bytes(const tb_hashagg *agg)
{
    size_t bytes = sizeof(*agg) + tb_colstore_bytes(&agg->states) + keytab_bytes(agg->groups) +
                   agg->dirty_cap * sizeof(uint32_t) + tb_colstore_bytes(&agg->deleted);
    for (uint32_t i = 0; i < agg->n_aggs; i++) {
        bytes += keytab_bytes(agg->aggs[i].distinct) + agg->aggs[i].lb_n * sizeof(lbuf);
        for (uint32_t g = 0; g < agg->aggs[i].lb_n; g++)
            bytes += agg->aggs[i].lb[g].cap;
    }
    return bytes;
}

/* ---------------------------------------------------------------- updates */

#define ROWS_LOOP(BODY)                                                                            \
    do {                                                                                           \
        if (sel == NULL) {                                                                         \
            for (uint32_t i = 0; i < n; i++) {                                                     \
                BODY;                                                                              \
            }                                                                                      \
        } else {                                                                                   \
            for (uint32_t k_ = 0; k_ < n; k_++) {                                                  \
                uint32_t i = sel[k_];                                                              \
                BODY;                                                                              \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#define SUM_I128(T)                                                                                \
    do {                                                                                           \
        const T *d = v->data;                                                                      \
        ROWS_LOOP(if (!tb_vec_is_null(v, i)) {                                                     \
            uint32_t g = gids[i];                                                                  \
            sum[g] += (tb_i128)d[i];                                                               \
            cnt[g]++;                                                                              \
        });                                                                                        \
    } while (0)

#define MINMAX(T, LESS)                                                                            \
    do {                                                                                           \
        const T *d = v->data;                                                                      \
        T *st = val->data;                                                                         \
        ROWS_LOOP(if (!tb_vec_is_null(v, i)) {                                                     \
            uint32_t g = gids[i];                                                                  \
            T x = d[i];                                                                            \
            if (cnt[g] == 0 || (is_min ? LESS(x, st[g]) : LESS(st[g], x)))                         \
                st[g] = x;                                                                         \
            cnt[g]++;                                                                              \
        });                                                                                        \
    } while (0)

#define LT(x, y) ((x) < (y))
static inline bool dbl_lt(double x, double y)
{
    /* NaN sorts above every number (PostgreSQL). */
    return isnan(y) ? !isnan(x) : (!isnan(x) && x < y);
}
static inline bool bool_lt(uint8_t x, uint8_t y) { return (x != 0) < (y != 0); }
static inline bool iv_lt(tb_interval x, tb_interval y)
{
    return tb_op_interval_span(x) < tb_op_interval_span(y);
}

static tb_rc update_minmax_str(tb_hashagg *agg, aggst *a, const tb_vec *v, const uint32_t *gids,
                               const uint32_t *sel, uint32_t n, tb_err *err)
{
    tb_vec *val = &agg->states.cols[a->col_val];
    int64_t *cnt = agg->states.cols[a->col_cnt].data;
    const tb_str *d = v->data;
    bool is_min = a->spec.kind == TB_AGG_MIN;
    tb_rc rc = TB_OK;

    ROWS_LOOP(if (!tb_vec_is_null(v, i)) {
        uint32_t g = gids[i];
        tb_str *st = val->data;
        int c = cnt[g] == 0 ? 0 : tb_op_cmp(v, i, val, g);
        if (cnt[g] == 0 || (is_min ? c < 0 : c > 0)) {
            st[g] = d[i];
            rc = tb_colstore_own_str(&agg->states, a->col_val, g, err);
            if (rc != TB_OK)
                return rc;
        }
        cnt[g]++;
    });
    return rc;
}

/*
 * Group g's ACC_LIST / ACC_HLL state (*st, a string of the state column) in a growable
 * side buffer with room for `extra` more bytes; *st points into the buffer (the caller
 * updates its length). A state not in its buffer (a group added since, or states rebuilt
 * into the store's arena by compaction or a checkpoint image: those copy string bytes,
 * so nothing else points at the old buffer) is first copied into a fresh one.
 */
static tb_rc lbuf_take(aggst *a, tb_str *st, uint32_t g, size_t extra, lbuf **out, tb_err *err)
{
    if (g >= a->lb_n) {
        uint32_t nn = TB_MAX(g + 1, a->lb_n * 2);
        lbuf *nl = tb_realloc(a->lb, (size_t)nn * sizeof(*nl));
        if (nl == NULL)
            return tb_err_nomem(err);
        memset(nl + a->lb_n, 0, (size_t)(nn - a->lb_n) * sizeof(*nl));
        a->lb = nl;
        a->lb_n = nn;
    }
    lbuf *b = &a->lb[g];
    if (b->p == NULL || (const char *)b->p != st->ptr || b->len != st->len) {
        size_t cap = TB_MAX((size_t)64, (size_t)st->len + extra);
        uint8_t *np = tb_malloc(cap);
        if (np == NULL)
            return tb_err_nomem(err);
        if (st->len > 0)
            memcpy(np, st->ptr, st->len);
        tb_free(b->p);
        b->p = np;
        b->len = st->len;
        b->cap = cap;
    } else if (b->len + extra > b->cap) {
        size_t cap = b->cap * 2;
        while (cap < b->len + extra)
            cap *= 2;
        uint8_t *np = tb_realloc(b->p, cap);
        if (np == NULL)
            return tb_err_nomem(err);
        b->p = np;
        b->cap = cap;
    }
    st->ptr = (const char *)b->p;
    *out = b;
    return TB_OK;
}

/* Append bytes to group g's list state. */
static tb_rc list_append(aggst *a, tb_str *st, uint32_t g, const void *p, size_t len, tb_err *err)
{
    lbuf *b = NULL;
    if (len == 0)
        return TB_OK;
    if ((size_t)st->len + len > UINT32_MAX)
        return TB_ERRF(err, TB_E_RANGE, "aggregate state of a group over 4 GB");
    tb_rc rc = lbuf_take(a, st, g, len, &b, err);
    if (rc != TB_OK)
        return rc;
    memcpy(b->p + b->len, p, len);
    b->len += len;
    st->len = (uint32_t)b->len;
    return TB_OK;
}

/* Group g's HyperLogLog registers (zeroed when the group has none yet). */
static tb_rc hll_regs(aggst *a, tb_str *st, uint32_t g, uint8_t **out, tb_err *err)
{
    lbuf *b = NULL;
    if (st->len != 0 && st->len != TB_HLL_REGS)
        return TB_ERRF(err, TB_E_CORRUPT, "approx_count_distinct state of %u bytes", st->len);
    tb_rc rc = lbuf_take(a, st, g, st->len == 0 ? TB_HLL_REGS : 0, &b, err);
    if (rc != TB_OK)
        return rc;
    if (b->len == 0) {
        memset(b->p, 0, TB_HLL_REGS);
        b->len = TB_HLL_REGS;
        st->len = TB_HLL_REGS;
    }
    *out = b->p;
    return TB_OK;
}

static tb_rc update_list(aggst *a, tb_vec *val, int64_t *cnt, const tb_vec *v,
                         const uint32_t *gids, const uint32_t *sel, uint32_t n, tb_err *err)
{
    if (v->type.id == TB_T_NULL)
        return TB_OK;
    if (a->acc == ACC_LIST) {
        const tb_str *d = v->data;
        ROWS_LOOP(if (!tb_vec_is_null(v, i)) {
            uint32_t g = gids[i];
            uint32_t el = d[i].len;
            tb_str *st = &((tb_str *)val->data)[g];
            tb_rc rc = list_append(a, st, g, &el, 4, err);
            if (rc == TB_OK)
                rc = list_append(a, st, g, d[i].ptr, el, err);
            if (rc != TB_OK)
                return rc;
            cnt[g]++;
        });
        return TB_OK;
    }
    /* ACC_HLL: hash rows 0..max(sel) once */
    uint64_t h[TB_BATCH_CAP];
    uint32_t m = n;
    if (sel != NULL) {
        m = 0;
        for (uint32_t k = 0; k < n; k++)
            m = TB_MAX(m, sel[k] + 1);
    }
    if (m > TB_BATCH_CAP)
        return TB_ERRF(err, TB_E_MISUSE, "hashagg: %u rows in one update", m);
    tb_op_hash(v, m, h, false);
    ROWS_LOOP(if (!tb_vec_is_null(v, i)) {
        uint32_t g = gids[i];
        uint8_t *reg;
        tb_rc rc = hll_regs(a, &((tb_str *)val->data)[g], g, &reg, err);
        if (rc != TB_OK)
            return rc;
        tb_hll_add(reg, h[i]);
        cnt[g]++;
    });
    return TB_OK;
}

/* Apply rows (sel, or 0..n-1) of argument v to aggregate a. */
static tb_rc update(tb_hashagg *agg, aggst *a, const tb_vec *v, const uint32_t *gids,
                    const uint32_t *sel, uint32_t n, tb_err *err)
{
    int64_t *cnt = agg->states.cols[a->col_cnt].data;
    tb_vec *val = a->col_val ? &agg->states.cols[a->col_val] : NULL;
    bool is_min = a->spec.kind == TB_AGG_MIN;

    switch (a->acc) {
    case ACC_COUNT:
        if (a->spec.kind == TB_AGG_COUNT_STAR || (v->valid == NULL && v->type.id != TB_T_NULL))
            ROWS_LOOP(cnt[gids[i]]++);
        else if (v->type.id != TB_T_NULL)
            ROWS_LOOP(cnt[gids[i]] += !tb_vec_is_null(v, i));
        break;
    case ACC_I128: {
        tb_i128 *sum = val->data;
        switch ((tb_type_id)v->type.id) {
        case TB_T_INT16:
            SUM_I128(int16_t);
            break;
        case TB_T_INT32:
            SUM_I128(int32_t);
            break;
        case TB_T_INT64:
            SUM_I128(int64_t);
            break;
        default: { /* numeric: values up to 10^38 can overflow int128 */
            const tb_i128 *d = v->data;
            bool ovf = false;
            ROWS_LOOP(if (!tb_vec_is_null(v, i)) {
                uint32_t g = gids[i];
                ovf |= __builtin_add_overflow(sum[g], d[i], &sum[g]);
                cnt[g]++;
            });
            if (ovf)
                return TB_ERRF(err, TB_E_RANGE, "numeric field overflow in %s",
                               a->spec.kind == TB_AGG_AVG ? "avg" : "sum");
            break;
        }
        }
        break;
    }
    case ACC_F64: {
        double *sum = val->data;
        if (v->type.id == TB_T_FLOAT) {
            const float *d = v->data;
            ROWS_LOOP(if (!tb_vec_is_null(v, i)) {
                sum[gids[i]] += d[i];
                cnt[gids[i]]++;
            });
        } else {
            const double *d = v->data;
            ROWS_LOOP(if (!tb_vec_is_null(v, i)) {
                sum[gids[i]] += d[i];
                cnt[gids[i]]++;
            });
        }
        break;
    }
    case ACC_MINMAX:
        switch ((tb_type_id)v->type.id) {
        case TB_T_BOOL:
            MINMAX(uint8_t, bool_lt);
            break;
        case TB_T_INT16:
            MINMAX(int16_t, LT);
            break;
        case TB_T_INT32:
        case TB_T_DATE:
            MINMAX(int32_t, LT);
            break;
        case TB_T_INT64:
        case TB_T_TIMESTAMP:
            MINMAX(int64_t, LT);
            break;
        case TB_T_FLOAT:
            MINMAX(float, dbl_lt);
            break;
        case TB_T_DOUBLE:
            MINMAX(double, dbl_lt);
            break;
        case TB_T_DECIMAL:
            MINMAX(tb_i128, LT);
            break;
        case TB_T_INTERVAL:
            MINMAX(tb_interval, iv_lt);
            break;
        case TB_T_STRING:
            return update_minmax_str(agg, a, v, gids, sel, n, err);
        default:
            break;
        }
        break;
    case ACC_LIST:
    case ACC_HLL:
        return update_list(a, val, cnt, v, gids, sel, n, err);
    default:
        break;
    }
    return TB_OK;
}

static tb_rc mark_changed(tb_hashagg *agg, const uint32_t *gids, uint32_t n, tb_err *err)
{
    uint8_t *changed = agg->states.cols[0].data;

    for (uint32_t i = 0; i < n; i++) {
        uint32_t g = gids[i];
        if (changed[g])
            continue;
        changed[g] = 1;
        if (agg->n_dirty == agg->dirty_cap && tb_grow((void **)&agg->dirty, &agg->dirty_cap,
                                                      agg->n_dirty + 1, sizeof(uint32_t)) != TB_OK)
            return tb_err_nomem(err);
        agg->dirty[agg->n_dirty++] = g;
    }
    return TB_OK;
}

/* Is group g's key column c strictly below group h's (NULL keys never are)? */
static bool key_lt_group(const tb_hashagg *agg, uint32_t c, uint32_t g, uint32_t h)
{
    const tb_vec *v = &agg->groups->st.cols[c];
    if (tb_op_row_null(v, g))
        return false;
    return h == TB_ROW_NONE || tb_op_cmp(v, g, v, h) < 0;
}

/* Groups base.. were just added: lower the kept minimum. */
static void min_note(tb_hashagg *agg, uint32_t base)
{
    if (!agg->min_ok)
        return;
    for (uint32_t g = base; g < agg->states.n_rows; g++)
        if (key_lt_group(agg, agg->min_col, g, agg->min_gid))
            agg->min_gid = g;
}

/* Room for a stamp per group (new slots UINT64_MAX: no row yet). */
static tb_rc stamps_reserve(tb_hashagg *agg, tb_err *err)
{
    size_t need = agg->states.n_rows, old = agg->stamps_cap;

    if (need <= old)
        return TB_OK;
    if (tb_grow((void **)&agg->stamps, &agg->stamps_cap, need, sizeof(uint64_t)) != TB_OK)
        return tb_err_nomem(err);
    for (size_t i = old; i < agg->stamps_cap; i++)
        agg->stamps[i] = UINT64_MAX;
    return TB_OK;
}

static tb_rc consume_chunk(tb_hashagg *agg, uint32_t n, const tb_vec *keys, const tb_vec *args,
                           uint64_t stamp0, tb_err *err)
{
    uint32_t *gids = agg->gids;
    tb_rc rc;

    if (agg->groups != NULL) {
        uint32_t n_fresh = 0, base = agg->states.n_rows;
        rc = keytab_find(agg->groups, keys, n, gids, &n_fresh, err);
        if (rc != TB_OK)
            return rc;
        if (n_fresh > 0) {
            rc = tb_colstore_append_zero(&agg->states, n_fresh, err);
            if (rc != TB_OK)
                return rc;
            min_note(agg, base);
            if (agg->stamping) {
                /* the fresh rows are listed in order: each is its group's first row */
                rc = stamps_reserve(agg, err);
                if (rc != TB_OK)
                    return rc;
                for (uint32_t k = 0; k < n_fresh; k++) {
                    uint32_t r = agg->groups->fresh[k];
                    agg->stamps[gids[r]] = stamp0 + r;
                }
            }
        }
    } else {
        memset(gids, 0, n * sizeof(uint32_t));
    }
    if (agg->track_changes) {
        rc = mark_changed(agg, gids, n, err);
        if (rc != TB_OK)
            return rc;
    }
    for (uint32_t i = 0; i < agg->n_aggs; i++) {
        aggst *a = &agg->aggs[i];
        const tb_vec *v = a->spec.kind == TB_AGG_COUNT_STAR ? NULL : &args[i];
        if (a->acc == ACC_NULL)
            continue;
        if (a->distinct != NULL) {
            tb_vec dk[2];
            uint32_t n_fresh = 0;
            for (uint32_t r = 0; r < n; r++)
                agg->gid64[r] = gids[r];
            memset(dk, 0, sizeof(dk));
            dk[0].type = tb_type_make(TB_T_INT64);
            dk[0].data = agg->gid64;
            dk[1] = *v;
            rc = keytab_find(a->distinct, dk, n, agg->fresh, &n_fresh, err);
            if (rc != TB_OK)
                return rc;
            rc = update(agg, a, v, gids, a->distinct->fresh, n_fresh, err);
        } else {
            rc = update(agg, a, v, gids, NULL, n, err);
        }
        if (rc != TB_OK)
            return rc;
    }
    return TB_OK;
}

tb_rc tb_hashagg_consume(tb_hashagg *agg, uint32_t n_rows, const tb_vec *keys, const tb_vec *args,
                         tb_err *err)
{
    tb_vec *k2 = NULL, *a2 = NULL;
    tb_rc rc = TB_OK;

    if (agg->order != NULL) {
        tb_free(agg->order); /* the order of a finished pass no longer holds */
        agg->order = NULL;
    }
    if (n_rows <= TB_BATCH_CAP)
        return consume_chunk(agg, n_rows, keys, args, agg->stamp_base, err);
    /* Longer inputs: chunks of TB_BATCH_CAP rows, vectors sliced by gathering. */
    for (uint32_t off = 0; off < n_rows && rc == TB_OK; off += TB_BATCH_CAP) {
        uint32_t n = TB_MIN(n_rows - off, (uint32_t)TB_BATCH_CAP);
        uint32_t *rows;
        tb_arena_reset(agg->scratch);
        rows = tb_arena_alloc(agg->scratch, n * sizeof(uint32_t));
        k2 = tb_arena_zalloc(agg->scratch, (agg->n_keys + 1) * sizeof(tb_vec));
        a2 = tb_arena_zalloc(agg->scratch, (agg->n_aggs + 1) * sizeof(tb_vec));
        if (rows == NULL || k2 == NULL || a2 == NULL)
            return tb_err_nomem(err);
        for (uint32_t k = 0; k < n; k++)
            rows[k] = off + k;
        for (uint32_t c = 0; c < agg->n_keys; c++) {
            if (tb_op_gather_new(&k2[c], &keys[c], rows, n, agg->scratch) != TB_OK)
                return tb_err_nomem(err);
        }
        for (uint32_t c = 0; c < agg->n_aggs; c++) {
            if (agg->aggs[c].spec.kind == TB_AGG_COUNT_STAR)
                continue;
            if (tb_op_gather_new(&a2[c], &args[c], rows, n, agg->scratch) != TB_OK)
                return tb_err_nomem(err);
        }
        rc = consume_chunk(agg, n, k2, a2, agg->stamp_base + off, err);
    }
    return rc;
}

void tb_hashagg_track_changes(tb_hashagg *agg, bool on) { agg->track_changes = on; }

void tb_hashagg_set_stamp(tb_hashagg *agg, uint64_t base)
{
    agg->stamping = true;
    agg->stamp_base = base;
}

typedef struct stamp_ent {
    uint64_t stamp;
    uint32_t gid;
} stamp_ent;

static int cmp_stamp(const void *a, const void *b)
{
    const stamp_ent *x = a, *y = b;
    if (x->stamp != y->stamp)
        return x->stamp < y->stamp ? -1 : 1;
    return x->gid < y->gid ? -1 : x->gid > y->gid;
}

tb_rc tb_hashagg_order_by_stamp(tb_hashagg *agg, tb_err *err)
{
    uint32_t n = agg->states.n_rows;
    bool sorted = true;
    stamp_ent *ents;

    tb_free(agg->order);
    agg->order = NULL;
    if (!agg->stamping || agg->groups == NULL || n < 2)
        return TB_OK;
    if (stamps_reserve(agg, err) != TB_OK)
        return TB_E_NOMEM;
    for (uint32_t g = 1; g < n && sorted; g++)
        sorted = agg->stamps[g - 1] <= agg->stamps[g];
    if (sorted)
        return TB_OK; /* gid order is stamp order already */
    ents = tb_malloc((size_t)n * sizeof(*ents));
    agg->order = tb_malloc((size_t)n * sizeof(uint32_t));
    if (ents == NULL || agg->order == NULL) {
        tb_free(ents);
        tb_free(agg->order);
        agg->order = NULL;
        return tb_err_nomem(err);
    }
    for (uint32_t g = 0; g < n; g++) {
        ents[g].stamp = agg->stamps[g];
        ents[g].gid = g;
    }
    qsort(ents, n, sizeof(*ents), cmp_stamp);
    for (uint32_t g = 0; g < n; g++)
        agg->order[g] = ents[g].gid;
    tb_free(ents);
    return TB_OK;
}

tb_rc tb_hashagg_consume_batch(tb_hashagg *agg, const tb_batch *batch, tb_expr **group_exprs,
                               tb_arena *arena, tb_err *err)
{
    tb_vec *keys, *args;
    tb_rc rc;

    if (batch->n_rows == 0)
        return TB_OK;
    keys = tb_arena_zalloc(arena, (agg->n_keys + 1) * sizeof(tb_vec));
    args = tb_arena_zalloc(arena, (agg->n_aggs + 1) * sizeof(tb_vec));
    if (keys == NULL || args == NULL)
        return tb_err_nomem(err);
    for (uint32_t k = 0; k < agg->n_keys; k++) {
        rc = tb_op_eval(group_exprs[k], batch, arena, &keys[k], err);
        if (rc != TB_OK)
            return rc;
    }
    for (uint32_t i = 0; i < agg->n_aggs; i++) {
        if (agg->aggs[i].spec.arg == NULL)
            continue;
        rc = tb_op_eval(agg->aggs[i].spec.arg, batch, arena, &args[i], err);
        if (rc != TB_OK)
            return rc;
    }
    return tb_hashagg_consume(agg, batch->n_rows, keys, args, err);
}

/* ---------------------------------------------------------------- output */

/* Rescale / divide: round(|sum| * 10^(rs-is) / cnt) half away from zero, with sign;
 * false when the result leaves the 38-digit range. */
static bool div_round(tb_i128 sum, int64_t cnt, int is, int rs, tb_i128 *out)
{
    typedef unsigned __int128 u128;
    bool neg = sum < 0;
    u128 a = neg ? (u128)0 - (u128)sum : (u128)sum, d = (u128)cnt, q, r;
    /* 10^38, the numeric limit (a constant: this runs once per output group) */
    const u128 limit = (u128)10000000000000000000ULL * 10000000000000000000ULL;

    if (rs < is) {
        for (int k = 0; k < is - rs; k++) {
            if (d > limit) { /* the quotient is below 0.5: rounds to 0 */
                *out = 0;
                return true;
            }
            d *= 10;
        }
    }
    q = a / d;
    r = a % d;
    for (int k = 0; k < rs - is; k++) {
        if (q > limit)
            return false;
        r *= 10; /* r < d <= 2^63: no overflow */
        q = q * 10 + r / d;
        r %= d;
    }
    if (r >= d - r)
        q++;
    if (q >= limit)
        return false;
    *out = neg ? -(tb_i128)q : (tb_i128)q;
    return true;
}

static double i128_to_double(tb_i128 v, int scale) { return (double)v / pow(10.0, scale); }

/* Output column of aggregate a for groups gids[0..n) into dst (result type, arena). */
static tb_rc agg_output(tb_hashagg *agg, aggst *a, const uint32_t *gids, uint32_t n,
                        tb_arena *arena, tb_vec *dst, tb_err *err)
{
    const int64_t *cnt = agg->states.cols[a->col_cnt].data;
    const tb_vec *val = a->col_val ? &agg->states.cols[a->col_val] : NULL;
    tb_type rt = a->spec.type;
    tb_rc rc;

    if (a->acc == ACC_MINMAX) {
        rc = tb_op_gather_new(dst, val, gids, n, arena);
    } else if (a->acc == ACC_NULL) {
        return tb_op_null_vec(dst, rt, n, arena) == TB_OK ? TB_OK : tb_err_nomem(err);
    } else {
        rc = tb_vec_init(dst, rt, n ? n : 1, arena);
    }
    if (rc != TB_OK)
        return tb_err_nomem(err);
    if (a->acc == ACC_COUNT) {
        int64_t *d = dst->data;
        for (uint32_t k = 0; k < n; k++)
            d[k] = cnt[gids[k]];
        return TB_OK;
    }
    if (a->acc == ACC_HLL) {
        int64_t *d = dst->data;
        for (uint32_t k = 0; k < n; k++) {
            tb_str s = ((const tb_str *)val->data)[gids[k]];
            if (cnt[gids[k]] == 0) {
                d[k] = 0;
                continue;
            }
            if (s.len != TB_HLL_REGS)
                return TB_ERRF(err, TB_E_CORRUPT, "approx_count_distinct state of %u bytes",
                               s.len);
            d[k] = tb_hll_estimate((const uint8_t *)s.ptr);
        }
        return TB_OK;
    }
    if (a->acc == ACC_LIST) {
        for (uint32_t k = 0; k < n; k++) {
            tb_str s = ((const tb_str *)val->data)[gids[k]];
            if (cnt[gids[k]] == 0)
                rc = tb_vec_set_null(dst, k, n ? n : 1, arena) == TB_OK ? TB_OK
                                                                        : tb_err_nomem(err);
            else
                rc = tb_agg_list_final(&a->spec, s.ptr, s.len, arena, dst, k, n ? n : 1, err);
            if (rc != TB_OK)
                return rc;
        }
        return TB_OK;
    }
    for (uint32_t k = 0; k < n; k++) {
        uint32_t g = gids[k];
        bool avg = a->spec.kind == TB_AGG_AVG;
        if (cnt[g] == 0) {
            if (tb_vec_set_null(dst, k, n ? n : 1, arena) != TB_OK)
                return tb_err_nomem(err);
            continue;
        }
        if (a->acc == ACC_I128) {
            tb_i128 s = ((const tb_i128 *)val->data)[g];
            int is = val->type.scale;
            if (rt.id == TB_T_INT64) {
                if (s > INT64_MAX || s < INT64_MIN)
                    return TB_ERRF(err, TB_E_RANGE, "bigint out of range");
                ((int64_t *)dst->data)[k] = (int64_t)s;
            } else if (rt.id == TB_T_DOUBLE) {
                double x = i128_to_double(s, is);
                ((double *)dst->data)[k] = avg ? x / (double)cnt[g] : x;
            } else { /* DECIMAL */
                tb_i128 r;
                if (!div_round(s, avg ? cnt[g] : 1, is, rt.scale, &r))
                    return TB_ERRF(err, TB_E_RANGE, "numeric field overflow in %s",
                                   avg ? "avg" : "sum");
                ((tb_i128 *)dst->data)[k] = r;
            }
        } else if (a->acc == ACC_F64) {
            double s = ((const double *)val->data)[g];
            if (avg)
                s /= (double)cnt[g];
            if (rt.id == TB_T_FLOAT)
                ((float *)dst->data)[k] = (float)s;
            else
                ((double *)dst->data)[k] = s;
        }
    }
    return TB_OK;
}

/* A one-row vector holding a value of type t (storage: 16 bytes the caller keeps). */
static void value_vec(const tb_value *val, tb_type t, void *storage, tb_vec *out)
{
    memset(out, 0, sizeof(*out));
    out->type = t;
    out->data = storage;
    memset(storage, 0, 16);
    switch ((tb_type_id)t.id) {
    case TB_T_BOOL:
        *(uint8_t *)storage = val->u.b;
        break;
    case TB_T_INT16:
        *(int16_t *)storage = (int16_t)val->u.i;
        break;
    case TB_T_INT32:
    case TB_T_DATE:
        *(int32_t *)storage = (int32_t)val->u.i;
        break;
    case TB_T_INT64:
    case TB_T_TIMESTAMP:
        *(int64_t *)storage = val->u.i;
        break;
    case TB_T_FLOAT:
        *(float *)storage = (float)val->u.d;
        break;
    case TB_T_DOUBLE:
        *(double *)storage = val->u.d;
        break;
    case TB_T_DECIMAL:
        memcpy(storage, &val->u.dec, sizeof(tb_i128));
        break;
    case TB_T_STRING:
        memcpy(storage, &val->u.s, sizeof(tb_str));
        break;
    case TB_T_INTERVAL:
        memcpy(storage, &val->u.iv, sizeof(tb_interval));
        break;
    default:
        break;
    }
}

/* Is group g's key column c strictly below the bound (NULL keys never are)? */
static bool key_below(const tb_hashagg *agg, uint32_t c, const tb_vec *bound, uint32_t g)
{
    const tb_vec *v = &agg->groups->st.cols[c];
    if (tb_op_row_null(v, g))
        return false;
    return tb_op_cmp(v, g, bound, 0) < 0;
}

void tb_hashagg_iter_init(tb_hashagg_iter *it, tb_hashagg_emit mode, uint32_t key_col,
                          const tb_value *bound)
{
    memset(it, 0, sizeof(*it));
    it->mode = mode;
    it->key_col = key_col;
    if (bound != NULL)
        it->bound = *bound;
}

tb_rc tb_hashagg_next(tb_hashagg *agg, tb_hashagg_iter *it, tb_arena *arena, tb_batch **out,
                      tb_err *err)
{
    uint32_t n_groups = agg->states.n_rows, n = 0;
    uint32_t *gids = agg->gids;
    uint8_t *changed = agg->states.cols[0].data;
    tb_batch *batch = NULL;
    tb_rc rc;

    *out = NULL;
    if (it->mode == TB_HASHAGG_ALL) {
        const uint32_t *order = agg->order;
        while (it->pos < n_groups && n < TB_BATCH_CAP) {
            uint32_t g = (uint32_t)it->pos++;
            gids[n++] = order != NULL ? order[g] : g;
        }
    } else if (it->mode == TB_HASHAGG_CHANGED) {
        while (it->pos < agg->n_dirty && n < TB_BATCH_CAP) {
            uint32_t g = agg->dirty[it->pos++];
            if (g < n_groups && changed[g])
                gids[n++] = g;
        }
    } else {
        tb_vec bound;
        uint8_t storage[16] __attribute__((aligned(16)));
        if (agg->groups == NULL || it->key_col >= agg->n_keys)
            return TB_ERRF(err, TB_E_MISUSE, "hashagg: no key column %u", it->key_col);
        if (it->bound.is_null)
            return TB_OK;
        value_vec(&it->bound, agg->key_types[it->key_col], storage, &bound);
        while (it->pos < n_groups && n < TB_BATCH_CAP) {
            uint32_t g = (uint32_t)it->pos++;
            if (key_below(agg, it->key_col, &bound, g))
                gids[n++] = g;
        }
    }
    if (n == 0)
        return TB_OK;
    if (tb_batch_shell(agg->n_keys + agg->n_aggs, arena, &batch) != TB_OK)
        return tb_err_nomem(err);
    for (uint32_t c = 0; c < agg->n_keys; c++) {
        if (tb_op_gather_new(&batch->cols[c], &agg->groups->st.cols[c], gids, n, arena) != TB_OK)
            return tb_err_nomem(err);
    }
    for (uint32_t i = 0; i < agg->n_aggs; i++) {
        rc = agg_output(agg, &agg->aggs[i], gids, n, arena, &batch->cols[agg->n_keys + i], err);
        if (rc != TB_OK)
            return rc;
    }
    batch->n_rows = n;
    batch->cap = n;
    *out = batch;
    return TB_OK;
}

void tb_hashagg_changes_clear(tb_hashagg *agg)
{
    uint8_t *changed = agg->states.cols[0].data;
    for (size_t i = 0; i < agg->n_dirty; i++) {
        if (agg->dirty[i] < agg->states.n_rows)
            changed[agg->dirty[i]] = 0;
    }
    agg->n_dirty = 0;
    if (agg->groups != NULL)
        tb_colstore_clear(&agg->deleted);
    for (uint32_t i = 0; i < agg->n_aggs; i++)
        if (agg->aggs[i].distinct != NULL)
            agg->aggs[i].mark = agg->aggs[i].distinct->st.n_rows;
}

void tb_hashagg_clear_changed(tb_hashagg *agg)
{
    tb_hashagg_changes_clear(agg);
}

uint64_t tb_hashagg_changed_groups(const tb_hashagg *agg)
{
    return agg->n_dirty;
}

uint64_t tb_hashagg_deleted_groups(const tb_hashagg *agg)
{
    return agg->groups != NULL ? agg->deleted.n_rows : 0;
}

/* ---------------------------------------------------------------- merge */

_Static_assert(TB_BATCH_CAP % 64 == 0, "store slices need word-aligned validity");

static bool same_shape(const tb_hashagg *a, const tb_hashagg *b)
{
    if (a->n_keys != b->n_keys || a->n_aggs != b->n_aggs)
        return false;
    for (uint32_t k = 0; k < a->n_keys; k++) {
        if (!tb_type_eq(a->key_types[k], b->key_types[k]))
            return false;
    }
    for (uint32_t i = 0; i < a->n_aggs; i++) {
        const aggst *x = &a->aggs[i], *y = &b->aggs[i];
        if (x->spec.kind != y->spec.kind || x->acc != y->acc ||
            (x->distinct == NULL) != (y->distinct == NULL) ||
            !tb_type_eq(x->spec.type, y->spec.type) || !tb_type_eq(x->in_type, y->in_type))
            return false;
    }
    return true;
}

/* Fold src's states of rows [off, off+m) into dst's groups gids[0..m). */
static tb_rc combine(tb_hashagg *dst, aggst *da, const tb_hashagg *src, const aggst *sa,
                     const uint32_t *gids, uint32_t off, uint32_t m, tb_err *err)
{
    int64_t *dc = dst->states.cols[da->col_cnt].data;
    const int64_t *sc = (const int64_t *)src->states.cols[sa->col_cnt].data + off;
    tb_rc rc = TB_OK;

    switch (da->acc) {
    case ACC_COUNT:
        for (uint32_t k = 0; k < m; k++)
            dc[gids[k]] += sc[k];
        break;
    case ACC_I128: {
        tb_i128 *ds = dst->states.cols[da->col_val].data;
        const tb_i128 *ss = (const tb_i128 *)src->states.cols[sa->col_val].data + off;
        bool ovf = false;
        for (uint32_t k = 0; k < m; k++) {
            ovf |= __builtin_add_overflow(ds[gids[k]], ss[k], &ds[gids[k]]);
            dc[gids[k]] += sc[k];
        }
        if (ovf)
            return TB_ERRF(err, TB_E_RANGE, "numeric field overflow in %s",
                           da->spec.kind == TB_AGG_AVG ? "avg" : "sum");
        break;
    }
    case ACC_F64: {
        double *ds = dst->states.cols[da->col_val].data;
        const double *ss = (const double *)src->states.cols[sa->col_val].data + off;
        for (uint32_t k = 0; k < m; k++) {
            ds[gids[k]] += ss[k];
            dc[gids[k]] += sc[k];
        }
        break;
    }
    case ACC_MINMAX: {
        tb_vec vals = tb_op_vec_slice(&src->states.cols[sa->col_val], off);
        uint32_t *sel = dst->fresh, n_sel = 0;
        for (uint32_t k = 0; k < m; k++) {
            if (sc[k] > 0)
                sel[n_sel++] = k;
        }
        /* update() counts one per row: add the rest of each source count after. */
        rc = update(dst, da, &vals, gids, sel, n_sel, err);
        for (uint32_t k = 0; k < n_sel && rc == TB_OK; k++)
            dc[gids[sel[k]]] += sc[sel[k]] - 1;
        break;
    }
    case ACC_LIST:
    case ACC_HLL: {
        tb_str *ds = dst->states.cols[da->col_val].data;
        const tb_str *ss = (const tb_str *)src->states.cols[sa->col_val].data + off;
        for (uint32_t k = 0; k < m && rc == TB_OK; k++) {
            uint32_t g = gids[k];
            uint8_t *reg;
            if (sc[k] == 0)
                continue;
            if (da->acc == ACC_LIST) {
                rc = list_append(da, &ds[g], g, ss[k].ptr, ss[k].len, err);
            } else if (ss[k].len != TB_HLL_REGS) {
                rc = TB_ERRF(err, TB_E_CORRUPT, "approx_count_distinct state of %u bytes",
                             ss[k].len);
            } else {
                rc = hll_regs(da, &ds[g], g, &reg, err);
                if (rc == TB_OK)
                    tb_hll_merge(reg, (const uint8_t *)ss[k].ptr);
            }
            dc[g] += sc[k];
        }
        break;
    }
    default:
        break;
    }
    return rc;
}

tb_rc tb_hashagg_merge(tb_hashagg *dst, const tb_hashagg *src, tb_err *err)
{
    uint32_t n = src->states.n_rows;
    uint32_t *gmap = NULL;
    tb_rc rc = TB_OK;

    if (dst == src || !same_shape(dst, src))
        return TB_ERRF(err, TB_E_MISUSE, "hashagg: merging states of different aggregations");
    if (dst->order != NULL) {
        tb_free(dst->order);
        dst->order = NULL;
    }
    gmap = tb_malloc(((size_t)n + 1) * sizeof(uint32_t));
    if (gmap == NULL)
        return tb_err_nomem(err);
    for (uint32_t off = 0; off < n && rc == TB_OK; off += TB_BATCH_CAP) {
        uint32_t m = TB_MIN(n - off, (uint32_t)TB_BATCH_CAP);
        uint32_t *gids = gmap + off;
        if (dst->groups != NULL) {
            tb_vec keys[64], *kv = keys;
            uint32_t n_fresh = 0;
            if (src->n_keys > 64) {
                kv = tb_malloc(src->n_keys * sizeof(tb_vec));
                if (kv == NULL) {
                    rc = tb_err_nomem(err);
                    break;
                }
            }
            for (uint32_t c = 0; c < src->n_keys; c++)
                kv[c] = tb_op_vec_slice(&src->groups->st.cols[c], off);
            rc = keytab_find(dst->groups, kv, m, gids, &n_fresh, err);
            if (kv != keys)
                tb_free(kv);
            if (rc == TB_OK && n_fresh > 0) {
                uint32_t base = dst->states.n_rows;
                rc = tb_colstore_append_zero(&dst->states, n_fresh, err);
                if (rc == TB_OK)
                    min_note(dst, base);
            }
            if (rc == TB_OK && dst->stamping && src->stamping) {
                /* a group's first row is the earlier of both sides' */
                rc = stamps_reserve(dst, err);
                for (uint32_t k = 0; k < m && rc == TB_OK; k++) {
                    uint64_t st = off + k < src->stamps_cap ? src->stamps[off + k] : UINT64_MAX;
                    if (st < dst->stamps[gids[k]])
                        dst->stamps[gids[k]] = st;
                }
            }
        } else {
            memset(gids, 0, m * sizeof(uint32_t));
        }
        if (rc == TB_OK && dst->track_changes)
            rc = mark_changed(dst, gids, m, err);
        for (uint32_t i = 0; i < dst->n_aggs && rc == TB_OK; i++) {
            if (dst->aggs[i].distinct == NULL)
                rc = combine(dst, &dst->aggs[i], src, &src->aggs[i], gids, off, m, err);
        }
    }
    /* DISTINCT aggregates: re-insert src's (group, value) pairs; new pairs update. */
    for (uint32_t i = 0; i < dst->n_aggs && rc == TB_OK; i++) {
        keytab *sd = src->aggs[i].distinct;
        uint32_t ne = sd ? sd->st.n_rows : 0;
        for (uint32_t off = 0; off < ne && rc == TB_OK; off += TB_BATCH_CAP) {
            uint32_t m = TB_MIN(ne - off, (uint32_t)TB_BATCH_CAP), n_fresh = 0;
            const int64_t *sg = (const int64_t *)sd->st.cols[0].data + off;
            tb_vec dk[2];
            for (uint32_t k = 0; k < m; k++) {
                dst->gids[k] = gmap[sg[k]];
                dst->gid64[k] = dst->gids[k];
            }
            memset(dk, 0, sizeof(dk));
            dk[0].type = tb_type_make(TB_T_INT64);
            dk[0].data = dst->gid64;
            dk[1] = tb_op_vec_slice(&sd->st.cols[1], off);
            rc = keytab_find(dst->aggs[i].distinct, dk, m, dst->fresh, &n_fresh, err);
            if (rc == TB_OK)
                rc = update(dst, &dst->aggs[i], &dk[1], dst->gids, dst->aggs[i].distinct->fresh,
                            n_fresh, err);
        }
    }
    tb_free(gmap);
    return rc;
}

/* ---------------------------------------------------------------- eviction */

/* Eviction and checkpoint images renumber or replace groups: serial-order stamps (a
 * batch-query feature) do not survive them. */
static void stamps_off(tb_hashagg *agg)
{
    agg->stamping = false;
    tb_free(agg->stamps);
    agg->stamps = NULL;
    agg->stamps_cap = 0;
    tb_free(agg->order);
    agg->order = NULL;
}

/* Keep entries keep[0..n) of a key table (ids renumbered 0..n-1 in order). */
static tb_rc keytab_compact(keytab *kt, const uint32_t *keep, uint32_t n, tb_err *err)
{
    tb_colstore st;
    tb_type *types = tb_malloc((kt->st.n_cols + 1) * sizeof(tb_type));
    tb_rc rc;

    if (types == NULL)
        return tb_err_nomem(err);
    for (uint32_t c = 0; c < kt->st.n_cols; c++)
        types[c] = kt->st.cols[c].type;
    rc = tb_colstore_init(&st, kt->st.n_cols, types, err);
    tb_free(types);
    if (rc != TB_OK)
        return rc;
    rc = tb_colstore_reserve(&st, n, err);
    if (rc == TB_OK)
        rc = tb_colstore_append(&st, kt->st.cols, keep, n, err);
    if (rc != TB_OK) {
        tb_colstore_free(&st);
        return rc;
    }
    for (uint32_t k = 0; k < n; k++)
        kt->hashes[k] = kt->hashes[keep[k]];
    tb_colstore_free(&kt->st);
    kt->st = st;
    return TB_OK;
}

/* Compact a store to rows keep[0..n) (strings re-copied into a fresh arena). */
static tb_rc store_compact(tb_colstore *cs, const uint32_t *keep, uint32_t n, tb_err *err)
{
    tb_colstore st;
    tb_type *types = tb_malloc((cs->n_cols + 1) * sizeof(tb_type));
    tb_rc rc;

    if (types == NULL)
        return tb_err_nomem(err);
    for (uint32_t c = 0; c < cs->n_cols; c++)
        types[c] = cs->cols[c].type;
    rc = tb_colstore_init(&st, cs->n_cols, types, err);
    tb_free(types);
    if (rc == TB_OK)
        rc = tb_colstore_append(&st, cs->cols, keep, n, err);
    if (rc != TB_OK) {
        tb_colstore_free(&st);
        return rc;
    }
    tb_colstore_free(cs);
    *cs = st;
    return TB_OK;
}

/*
 * Drop the groups with dead[g] set: compact every store (ids renumbered in order), the
 * dirty list, the DISTINCT tables and their marks. With `record`, the dropped keys go to
 * the deletes of the change set. O(groups).
 */
static tb_rc drop_groups(tb_hashagg *agg, const uint8_t *dead, bool record, tb_err *err)
{
    uint32_t n = agg->states.n_rows, n_keep = 0, n_dead = 0;
    uint32_t *keep = tb_malloc(((size_t)n + 1) * sizeof(uint32_t));
    uint32_t *remap = tb_malloc(((size_t)n + 1) * sizeof(uint32_t));
    tb_rc rc = TB_OK;

    if (keep == NULL || remap == NULL) {
        rc = tb_err_nomem(err);
        goto done;
    }
    for (uint32_t g = 0; g < n; g++) {
        if (dead[g]) {
            remap[g] = TB_ROW_NONE;
        } else {
            remap[g] = n_keep;
            keep[n_keep++] = g;
        }
    }
    if (n_keep == n)
        goto done;
    if (record) {
        /* the dead ids, listed in the tail of remap's twin (keep[n_keep..]) */
        for (uint32_t g = 0; g < n; g++)
            if (dead[g])
                keep[n_keep + n_dead++] = g;
        rc = tb_colstore_append(&agg->deleted, agg->groups->st.cols, keep + n_keep, n_dead, err);
        if (rc != TB_OK)
            goto done;
    }
    /* From here a failure would leave the stores inconsistent with each other: each step
     * builds its new store before releasing the old one, and the order below changes
     * the group table last, so on failure the caller must drop the state (TB_E_NOMEM). */
    for (uint32_t i = 0; i < agg->n_aggs; i++) {
        keytab *d = agg->aggs[i].distinct;
        uint32_t m = 0, mark = 0, *dk;
        if (d == NULL)
            continue;
        dk = tb_malloc((d->st.n_rows ? d->st.n_rows : 1) * sizeof(uint32_t));
        if (dk == NULL) {
            rc = tb_err_nomem(err);
            goto done;
        }
        for (uint32_t e = 0; e < d->st.n_rows; e++) {
            int64_t g = ((const int64_t *)d->st.cols[0].data)[e];
            if (remap[g] != TB_ROW_NONE) {
                mark += e < agg->aggs[i].mark;
                dk[m++] = e;
            }
        }
        rc = keytab_compact(d, dk, m, err);
        tb_free(dk);
        if (rc != TB_OK)
            goto done;
        agg->aggs[i].mark = mark;
        for (uint32_t e = 0; e < m; e++) {
            int64_t *gc = d->st.cols[0].data;
            gc[e] = remap[gc[e]];
        }
        rc = keytab_rehash(d, err);
        if (rc != TB_OK)
            goto done;
    }
    rc = store_compact(&agg->states, keep, n_keep, err);
    if (rc != TB_OK)
        goto done;
    rc = keytab_compact(agg->groups, keep, n_keep, err);
    if (rc != TB_OK)
        goto done;
    rc = keytab_reserve(agg->groups, n_keep, err);
    if (rc == TB_OK) {
        uint64_t n_slots = 1024;
        while ((uint64_t)n_keep * 2 > n_slots)
            n_slots *= 2;
        rc = keytab_reindex(agg->groups, n_slots, err);
    }
    if (rc != TB_OK)
        goto done;
    {
        size_t w = 0;
        for (size_t i = 0; i < agg->n_dirty; i++) {
            uint32_t g = agg->dirty[i];
            if (g < n && remap[g] != TB_ROW_NONE)
                agg->dirty[w++] = remap[g];
        }
        agg->n_dirty = w;
    }
    if (agg->min_ok && agg->min_gid != TB_ROW_NONE) {
        agg->min_gid = remap[agg->min_gid];
        if (agg->min_gid == TB_ROW_NONE)
            agg->min_ok = false; /* the next eviction scans again */
    }
done:
    tb_free(keep);
    tb_free(remap);
    return rc;
}

tb_rc tb_hashagg_evict_below(tb_hashagg *agg, uint32_t key_col, const tb_value *bound,
                             uint64_t *out_removed, tb_err *err)
{
    uint32_t n = agg->states.n_rows, n_dead = 0, min_gid = TB_ROW_NONE;
    uint8_t *dead = NULL;
    uint8_t storage[16] __attribute__((aligned(16)));
    tb_vec bvec;
    tb_rc rc;

    if (out_removed != NULL)
        *out_removed = 0;
    if (agg->groups == NULL || key_col >= agg->n_keys)
        return TB_ERRF(err, TB_E_MISUSE, "hashagg: no key column %u to evict on", key_col);
    if (bound->is_null || n == 0)
        return TB_OK;
    value_vec(bound, agg->key_types[key_col], storage, &bvec);
    /* Nothing below the bound when the kept minimum is not (issue 9: no scan per batch). */
    if (agg->min_ok && agg->min_col == key_col &&
        (agg->min_gid == TB_ROW_NONE || !key_below(agg, key_col, &bvec, agg->min_gid)))
        return TB_OK;
    stamps_off(agg);
    dead = tb_calloc(n, 1);
    if (dead == NULL)
        return tb_err_nomem(err);
    for (uint32_t g = 0; g < n; g++) {
        if (key_below(agg, key_col, &bvec, g)) {
            dead[g] = 1;
            n_dead++;
        } else if (key_lt_group(agg, key_col, g, min_gid)) {
            min_gid = g;
        }
    }
    agg->min_ok = true;
    agg->min_col = key_col;
    agg->min_gid = min_gid;
    rc = n_dead > 0 ? drop_groups(agg, dead, true, err) : TB_OK;
    if (rc != TB_OK)
        agg->min_ok = false;
    else if (out_removed != NULL)
        *out_removed = n_dead;
    tb_free(dead);
    return rc;
}

/* ---------------------------------------------------------------- checkpoint image */

#define IMG_MAGIC   0x41484254u /* "TBHA" */
#define IMG_VERSION 1u

/* The shape (key types, aggregates) after a magic and version. */
static tb_rc write_shape(const tb_hashagg *agg, uint32_t magic, tb_buf *buf)
{
    tb_rc rc = tb_op_wr_u32(buf, magic);

    if (rc == TB_OK)
        rc = tb_op_wr_u32(buf, IMG_VERSION);
    if (rc == TB_OK)
        rc = tb_op_wr_u32(buf, agg->n_keys);
    for (uint32_t c = 0; c < agg->n_keys && rc == TB_OK; c++)
        rc = tb_op_type_write(buf, agg->key_types[c]);
    if (rc == TB_OK)
        rc = tb_op_wr_u32(buf, agg->n_aggs);
    for (uint32_t i = 0; i < agg->n_aggs && rc == TB_OK; i++) {
        const aggst *a = &agg->aggs[i];
        rc = tb_op_wr_u8(buf, (uint8_t)a->spec.kind);
        if (rc == TB_OK)
            rc = tb_op_wr_u8(buf, a->distinct != NULL);
        if (rc == TB_OK)
            rc = tb_op_type_write(buf, a->spec.type);
        if (rc == TB_OK)
            rc = tb_op_type_write(buf, a->in_type);
    }
    return rc;
}

tb_rc tb_hashagg_serialize(const tb_hashagg *agg, tb_buf *buf, tb_err *err)
{
    tb_rc rc = write_shape(agg, IMG_MAGIC, buf);

    if (rc == TB_OK && agg->groups != NULL)
        rc = tb_colstore_write(&agg->groups->st, buf);
    if (rc == TB_OK)
        rc = tb_colstore_write(&agg->states, buf);
    for (uint32_t i = 0; i < agg->n_aggs && rc == TB_OK; i++) {
        if (agg->aggs[i].distinct != NULL)
            rc = tb_colstore_write(&agg->aggs[i].distinct->st, buf);
    }
    return rc == TB_OK ? TB_OK : tb_err_nomem(err);
}

static tb_rc corrupt(tb_err *err, const char *what)
{
    return TB_ERRF(err, TB_E_CORRUPT, "aggregate state image: %s", what);
}

/* Read and check the shape written by write_shape. */
static tb_rc check_shape(const tb_hashagg *agg, tb_op_rd *rd, uint32_t magic, tb_err *err)
{
    if (tb_op_rd_u32(rd) != magic || tb_op_rd_u32(rd) != IMG_VERSION)
        return corrupt(err, "bad magic or version");
    if (tb_op_rd_u32(rd) != agg->n_keys)
        return corrupt(err, "group key count differs from the query");
    for (uint32_t c = 0; c < agg->n_keys; c++) {
        tb_type t = tb_op_type_read(rd);
        if (!tb_type_eq(t, agg->key_types[c]))
            return corrupt(err, "group key types differ from the query");
    }
    if (tb_op_rd_u32(rd) != agg->n_aggs)
        return corrupt(err, "aggregate count differs from the query");
    for (uint32_t i = 0; i < agg->n_aggs; i++) {
        const aggst *a = &agg->aggs[i];
        uint8_t kind = tb_op_rd_u8(rd), distinct = tb_op_rd_u8(rd);
        tb_type rt = tb_op_type_read(rd), in = tb_op_type_read(rd);
        if (kind != (uint8_t)a->spec.kind || distinct != (a->distinct != NULL) ||
            !tb_type_eq(rt, a->spec.type) || !tb_type_eq(in, a->in_type))
            return corrupt(err, "aggregates differ from the query");
    }
    if (rd->bad)
        return corrupt(err, "truncated header");
    return TB_OK;
}

/*
 * After keytab_rehash of a loaded image: no two entries may have equal keys (a state we
 * wrote never has; a damaged one would emit a group twice). Entry id's probe chain runs
 * from its hash's slot to its own slot over entries inserted before it only, so each
 * entry is compared with the earlier ones of equal tag on its chain, all entries at once
 * (vectorized like keytab_find, with arrays over every entry).
 */
static tb_rc keytab_check_unique(const keytab *kt, tb_err *err)
{
    uint32_t n = kt->st.n_rows, n_act = n, n_cmp, n_fail;
    uint64_t mask = kt->n_slots - 1;
    uint32_t *cand = tb_malloc(((size_t)n + 1) * sizeof(uint32_t));
    uint32_t *act = tb_malloc(((size_t)n + 1) * sizeof(uint32_t));
    uint32_t *cmp = tb_malloc(((size_t)n + 1) * sizeof(uint32_t));
    uint64_t *pos = tb_malloc(((size_t)n + 1) * sizeof(uint64_t));
    tb_rc rc = TB_OK;

    if (cand == NULL || act == NULL || cmp == NULL || pos == NULL) {
        rc = tb_err_nomem(err);
        goto done;
    }
    for (uint32_t id = 0; id < n; id++) {
        act[id] = id;
        pos[id] = kt->hashes[id] & mask;
    }
    while (n_act > 0) {
        n_cmp = 0;
        for (uint32_t k = 0; k < n_act; k++) {
            uint32_t id = act[k];
            uint64_t tag = slot_tag(kt->hashes[id]), p = pos[id];
            for (;;) {
                uint64_t s = kt->slots[p];
                if ((uint32_t)s == id + 1)
                    break; /* reached its own slot: unique */
                if (slot_tag(s) == tag) {
                    cand[id] = (uint32_t)s - 1;
                    cmp[n_cmp++] = id;
                    break;
                }
                p = (p + 1) & mask;
            }
            pos[id] = p;
        }
        n_fail = 0;
        for (uint32_t c = 0; c < kt->st.n_cols && n_cmp > 0; c++)
            n_cmp = tb_op_match(&kt->st.cols[c], &kt->st.cols[c], cand, cmp, n_cmp, act, &n_fail,
                                true);
        if (n_cmp > 0) {
            rc = corrupt(err, "a key occurs twice");
            goto done;
        }
        for (uint32_t k = 0; k < n_fail; k++)
            pos[act[k]] = (pos[act[k]] + 1) & mask;
        n_act = n_fail;
    }
done:
    tb_free(cand);
    tb_free(act);
    tb_free(cmp);
    tb_free(pos);
    return rc;
}

tb_rc tb_hashagg_deserialize(tb_hashagg *agg, const void *data, size_t len, tb_err *err)
{
    tb_op_rd rd = {data, len, 0, false};
    uint32_t n_groups;
    uint8_t *changed;
    tb_rc rc;

    stamps_off(agg);
    agg->min_ok = false;
    rc = check_shape(agg, &rd, IMG_MAGIC, err);
    if (rc != TB_OK)
        return rc;
    /* Start from empty stores. */
    if (agg->groups != NULL) {
        tb_colstore_clear(&agg->groups->st);
        tb_colstore_clear(&agg->deleted);
    }
    tb_colstore_clear(&agg->states);
    agg->n_dirty = 0;
    for (uint32_t i = 0; i < agg->n_aggs; i++) {
        agg->aggs[i].mark = 0;
        if (agg->aggs[i].distinct != NULL)
            tb_colstore_clear(&agg->aggs[i].distinct->st);
    }
    if (agg->groups != NULL) {
        rc = tb_colstore_read(&agg->groups->st, &rd, err);
        if (rc != TB_OK)
            goto fail;
    }
    rc = tb_colstore_read(&agg->states, &rd, err);
    if (rc != TB_OK)
        goto fail;
    n_groups = agg->states.n_rows;
    if ((agg->groups != NULL && agg->groups->st.n_rows != n_groups) ||
        (agg->groups == NULL && n_groups != 1)) {
        rc = corrupt(err, "group count mismatch");
        goto fail;
    }
    for (uint32_t c = 0; c < agg->states.n_cols; c++) {
        /* we never write one; the output and snapshot code count on it */
        for (uint32_t g = 0; g < n_groups && agg->states.cols[c].valid != NULL; g++)
            if (tb_vec_is_null(&agg->states.cols[c], g)) {
                rc = corrupt(err, "NULL in an aggregate state");
                goto fail;
            }
    }
    for (uint32_t i = 0; i < agg->n_aggs; i++) {
        keytab *d = agg->aggs[i].distinct;
        if (d == NULL)
            continue;
        rc = tb_colstore_read(&d->st, &rd, err);
        if (rc != TB_OK)
            goto fail;
        for (uint32_t e = 0; e < d->st.n_rows; e++) {
            int64_t g = ((const int64_t *)d->st.cols[0].data)[e];
            if (g < 0 || g >= (int64_t)n_groups || tb_vec_is_null(&d->st.cols[0], e)) {
                rc = corrupt(err, "distinct entry of an unknown group");
                goto fail;
            }
        }
        rc = keytab_rehash(d, err);
        if (rc == TB_OK)
            rc = keytab_check_unique(d, err);
        if (rc != TB_OK)
            goto fail;
        agg->aggs[i].mark = d->st.n_rows;
    }
    if (rd.off != rd.len) {
        rc = corrupt(err, "trailing bytes");
        goto fail;
    }
    if (agg->groups != NULL) {
        rc = keytab_rehash(agg->groups, err);
        if (rc == TB_OK)
            rc = keytab_check_unique(agg->groups, err);
        if (rc != TB_OK)
            goto fail;
    }
    /* Counts must be sane for the output code (cnt >= 0), and the dirty list rebuilt. */
    changed = agg->states.cols[0].data;
    for (uint32_t g = 0; g < n_groups; g++) {
        for (uint32_t i = 0; i < agg->n_aggs; i++) {
            int64_t *cnt = agg->states.cols[agg->aggs[i].col_cnt].data;
            if (cnt[g] < 0) {
                rc = corrupt(err, "negative count");
                goto fail;
            }
        }
        if (changed[g]) {
            changed[g] = 0;
            rc = mark_changed(agg, &g, 1, err);
            if (rc != TB_OK)
                goto fail;
        }
    }
    return TB_OK;
fail:
    tb_hashagg_reset(agg); /* leave a valid empty state */
    return rc;
}

void tb_hashagg_reset(tb_hashagg *agg)
{
    stamps_off(agg);
    agg->min_ok = false;
    if (agg->groups != NULL) {
        tb_colstore_clear(&agg->groups->st);
        (void)keytab_rehash(agg->groups, NULL);
        tb_colstore_clear(&agg->deleted);
    }
    tb_colstore_clear(&agg->states);
    agg->n_dirty = 0;
    for (uint32_t i = 0; i < agg->n_aggs; i++) {
        agg->aggs[i].mark = 0;
        if (agg->aggs[i].distinct != NULL) {
            tb_colstore_clear(&agg->aggs[i].distinct->st);
            (void)keytab_rehash(agg->aggs[i].distinct, NULL);
        }
    }
    if (agg->groups == NULL)
        (void)tb_colstore_append_zero(&agg->states, 1, NULL);
}

/* ---------------------------------------------------------------- change sets */

#define CHG_MAGIC 0x43484254u /* "TBHC" */

/*
 * One column of a row image (tb_colstore_write's layout, so tb_colstore_read reads it):
 * rows sel[0..n) of v, or from..from+n-1 when sel is NULL.
 */
static tb_rc put_col(tb_buf *buf, const tb_vec *v, const uint32_t *sel, uint32_t from,
                     uint32_t n)
{
    size_t w = tb_type_width(v->type);
    bool nulls = v->type.id == TB_T_NULL && n > 0;
    tb_rc rc;

    for (uint32_t k = 0; k < n && !nulls && v->valid != NULL; k++)
        nulls = tb_vec_is_null(v, sel ? sel[k] : from + k);
    rc = tb_op_wr_u8(buf, nulls);
    if (rc == TB_OK && nulls) {
        for (uint32_t k0 = 0; k0 < n && rc == TB_OK; k0 += 64) {
            uint64_t word = 0; /* (buffer offsets are not aligned) */
            for (uint32_t k = k0; k < n && k < k0 + 64; k++)
                if (v->type.id != TB_T_NULL && !tb_vec_is_null(v, sel ? sel[k] : from + k))
                    word |= (uint64_t)1 << (k & 63);
            rc = tb_buf_append(buf, &word, sizeof(word));
        }
    }
    if (rc != TB_OK || v->type.id == TB_T_NULL || n == 0)
        return rc;
    if (v->type.id == TB_T_STRING) {
        const tb_str *d = v->data;
        for (uint32_t k = 0; k < n && rc == TB_OK; k++) {
            uint32_t r = sel ? sel[k] : from + k;
            uint32_t len = tb_vec_is_null(v, r) ? 0 : d[r].len;
            rc = tb_op_wr_u32(buf, len);
            if (rc == TB_OK && len > 0)
                rc = tb_buf_append(buf, d[r].ptr, len);
        }
    } else if (sel == NULL) {
        rc = tb_buf_append(buf, (const char *)v->data + (size_t)from * w, (size_t)n * w);
    } else {
        rc = tb_buf_reserve(buf, (size_t)n * w);
        for (uint32_t k = 0; k < n && rc == TB_OK; k++) {
            memcpy(buf->data + buf->len, (const char *)v->data + (size_t)sel[k] * w, w);
            buf->len += w;
        }
    }
    return rc;
}

/* A row image of n rows: cols[c] rows sel[c] (NULL: from..). */
static tb_rc put_rows(tb_buf *buf, uint32_t n_cols, const tb_vec *const *cols,
                      const uint32_t *const *sel, const uint32_t *from, uint32_t n)
{
    tb_rc rc = tb_op_wr_u32(buf, n);
    for (uint32_t c = 0; c < n_cols && rc == TB_OK; c++)
        rc = put_col(buf, cols[c], sel[c], from[c], n);
    return rc;
}

/*
 * One change set: the deletes (when del), n_up upserts (groups up_sel[k], or up_from..),
 * and per DISTINCT aggregate the entries [d_from[i], d_from[i] + d_n[i]) (d_n NULL: none).
 */
typedef struct chg_part {
    const tb_colstore *del;
    const uint32_t *up_sel;
    uint32_t up_from, n_up;
    const uint32_t *d_from, *d_n;
} chg_part;

static tb_rc put_changes(const tb_hashagg *agg, const chg_part *cp, tb_buf *buf, tb_err *err)
{
    uint32_t n_cols = agg->n_keys + agg->states.n_cols + 1;
    const tb_vec **cols = tb_malloc(n_cols * sizeof(tb_vec *));
    const uint32_t **sel = tb_malloc(n_cols * sizeof(uint32_t *));
    uint32_t *from = tb_malloc(n_cols * sizeof(uint32_t)), *gsel = NULL;
    tb_rc rc = write_shape(agg, CHG_MAGIC, buf);

    if (cols == NULL || sel == NULL || from == NULL) {
        rc = TB_E_NOMEM;
        goto done;
    }
    if (rc == TB_OK && agg->groups != NULL) {
        uint32_t nd = cp->del != NULL ? cp->del->n_rows : 0;
        for (uint32_t c = 0; c < agg->n_keys; c++) {
            cols[c] = &agg->deleted.cols[c];
            sel[c] = NULL;
            from[c] = 0;
        }
        rc = put_rows(buf, agg->n_keys, cols, sel, from, nd);
    }
    if (rc == TB_OK && agg->groups != NULL) {
        for (uint32_t c = 0; c < agg->n_keys; c++) {
            cols[c] = &agg->groups->st.cols[c];
            sel[c] = cp->up_sel;
            from[c] = cp->up_from;
        }
        rc = put_rows(buf, agg->n_keys, cols, sel, from, cp->n_up);
    }
    if (rc == TB_OK) {
        for (uint32_t c = 0; c < agg->states.n_cols; c++) {
            cols[c] = &agg->states.cols[c];
            sel[c] = cp->up_sel;
            from[c] = cp->up_from;
        }
        rc = put_rows(buf, agg->states.n_cols, cols, sel, from, cp->n_up);
    }
    for (uint32_t i = 0; i < agg->n_aggs && rc == TB_OK; i++) {
        const keytab *d = agg->aggs[i].distinct;
        uint32_t m = cp->d_n != NULL ? cp->d_n[i] : 0, f = cp->d_from != NULL ? cp->d_from[i] : 0;
        if (d == NULL)
            continue;
        if (m > 0) {
            const int64_t *eg = (const int64_t *)d->st.cols[0].data + f;
            gsel = tb_malloc((size_t)m * sizeof(uint32_t));
            if (gsel == NULL) {
                rc = TB_E_NOMEM;
                break;
            }
            for (uint32_t k = 0; k < m; k++)
                gsel[k] = (uint32_t)eg[k];
        }
        for (uint32_t c = 0; c < agg->n_keys; c++) {
            cols[c] = &agg->groups->st.cols[c];
            sel[c] = gsel;
            from[c] = 0;
        }
        cols[agg->n_keys] = &d->st.cols[1];
        sel[agg->n_keys] = NULL;
        from[agg->n_keys] = f;
        rc = put_rows(buf, agg->n_keys + 1, cols, sel, from, m);
        tb_free(gsel);
        gsel = NULL;
    }
done:
    tb_free(cols);
    tb_free(sel);
    tb_free(from);
    return rc == TB_OK ? TB_OK : tb_err_nomem(err);
}

tb_rc tb_hashagg_serialize_changes(const tb_hashagg *agg, tb_buf *buf, tb_err *err)
{
    uint32_t *d_from = tb_malloc((agg->n_aggs + 1) * sizeof(uint32_t));
    uint32_t *d_n = tb_malloc((agg->n_aggs + 1) * sizeof(uint32_t));
    chg_part cp = {agg->groups != NULL ? &agg->deleted : NULL, agg->dirty, 0,
                   (uint32_t)agg->n_dirty, d_from, d_n};
    tb_rc rc;

    if (d_from == NULL || d_n == NULL) {
        tb_free(d_from);
        tb_free(d_n);
        return tb_err_nomem(err);
    }
    for (uint32_t i = 0; i < agg->n_aggs; i++) {
        const keytab *d = agg->aggs[i].distinct;
        d_from[i] = agg->aggs[i].mark;
        d_n[i] = d != NULL && d->st.n_rows > agg->aggs[i].mark ? d->st.n_rows - agg->aggs[i].mark
                                                               : 0;
    }
    rc = put_changes(agg, &cp, buf, err);
    tb_free(d_from);
    tb_free(d_n);
    return rc;
}

tb_rc tb_hashagg_snapshot(const tb_hashagg *agg, tb_hashagg_write_fn fn, void *ud, tb_err *err)
{
    uint32_t n = agg->states.n_rows, B = TB_HASHAGG_SNAPSHOT_GROUPS;
    uint32_t *d_from = tb_calloc(agg->n_aggs + 1, sizeof(uint32_t));
    uint32_t *d_n = tb_calloc(agg->n_aggs + 1, sizeof(uint32_t));
    tb_buf buf = {0};
    tb_rc rc = TB_OK;

    if (d_from == NULL || d_n == NULL) {
        rc = tb_err_nomem(err);
        goto done;
    }
    /* the groups, B a block (at least one block: it carries the shape) */
    for (uint32_t off = 0; rc == TB_OK && (off < n || off == 0); off += B) {
        chg_part cp = {NULL, NULL, off, TB_MIN(n - off, B), NULL, NULL};
        buf.len = 0;
        rc = put_changes(agg, &cp, &buf, err);
        if (rc == TB_OK)
            rc = fn(ud, buf.data, buf.len, err);
        if (n == 0)
            break;
    }
    /* then the DISTINCT entries (their groups exist by then) */
    for (uint32_t i = 0; i < agg->n_aggs && rc == TB_OK; i++) {
        const keytab *d = agg->aggs[i].distinct;
        uint32_t ne = d != NULL ? d->st.n_rows : 0;
        for (uint32_t off = 0; off < ne && rc == TB_OK; off += B) {
            chg_part cp = {NULL, NULL, 0, 0, d_from, d_n};
            d_from[i] = off;
            d_n[i] = TB_MIN(ne - off, B);
            buf.len = 0;
            rc = put_changes(agg, &cp, &buf, err);
            if (rc == TB_OK)
                rc = fn(ud, buf.data, buf.len, err);
            d_n[i] = 0;
        }
    }
done:
    tb_buf_free(&buf);
    tb_free(d_from);
    tb_free(d_n);
    return rc;
}

/* Init store with the key types (+ one more type when extra is not NULL), then read a row
 * image into it. */
static tb_rc read_rows(const tb_hashagg *agg, const tb_type *extra, tb_colstore *cs,
                       tb_op_rd *rd, tb_err *err)
{
    tb_type *types = tb_malloc((agg->n_keys + 2) * sizeof(tb_type));
    tb_rc rc;

    if (types == NULL)
        return tb_err_nomem(err);
    if (agg->n_keys > 0)
        memcpy(types, agg->key_types, agg->n_keys * sizeof(tb_type));
    if (extra != NULL)
        types[agg->n_keys] = *extra;
    rc = tb_colstore_init(cs, agg->n_keys + (extra != NULL), types, err);
    tb_free(types);
    if (rc == TB_OK)
        rc = tb_colstore_read(cs, rd, err);
    return rc;
}

/*
 * Group ids of rows [off, off + n) (n <= TB_BATCH_CAP, off a multiple of 64) of the
 * key columns of cs, into agg->gids; groups not there are created (empty states), and
 * their count added to *n_new.
 */
static tb_rc find_groups(tb_hashagg *agg, const tb_colstore *cs, uint32_t off, uint32_t n,
                         uint32_t *n_new, tb_err *err)
{
    tb_vec keys[64], *kv = keys;
    uint32_t n_fresh = 0, base = agg->states.n_rows;
    tb_rc rc;

    if (agg->groups == NULL) {
        memset(agg->gids, 0, n * sizeof(uint32_t));
        return TB_OK;
    }
    if (agg->n_keys > 64 && (kv = tb_malloc(agg->n_keys * sizeof(tb_vec))) == NULL)
        return tb_err_nomem(err);
    for (uint32_t c = 0; c < agg->n_keys; c++)
        kv[c] = tb_op_vec_slice(&cs->cols[c], off);
    rc = keytab_find(agg->groups, kv, n, agg->gids, &n_fresh, err);
    if (kv != keys)
        tb_free(kv);
    if (rc == TB_OK && n_fresh > 0) {
        rc = tb_colstore_append_zero(&agg->states, n_fresh, err);
        if (rc == TB_OK)
            min_note(agg, base);
        *n_new += n_fresh;
    }
    return rc;
}

/* Overwrite group g's aggregate state by row r of src (same columns; not the changed
 * flag, column 0). */
static tb_rc put_state(tb_hashagg *agg, uint32_t g, const tb_colstore *src, uint32_t r,
                       tb_err *err)
{
    for (uint32_t c = 1; c < agg->states.n_cols; c++) {
        tb_vec *d = &agg->states.cols[c];
        const tb_vec *s = &src->cols[c];
        size_t w = tb_type_width(d->type);
        if (d->type.id == TB_T_STRING) {
            tb_str v = ((const tb_str *)s->data)[r];
            ((tb_str *)d->data)[g] = v.len > 0 ? v : (tb_str){NULL, 0};
            if (v.len > 0) {
                tb_rc rc = tb_colstore_own_str(&agg->states, c, g, err);
                if (rc != TB_OK)
                    return rc;
            }
        } else {
            memcpy((char *)d->data + (size_t)g * w, (const char *)s->data + (size_t)r * w, w);
        }
    }
    return TB_OK;
}

static tb_rc apply_deletes(tb_hashagg *agg, const tb_colstore *del, tb_err *err)
{
    uint8_t *dead = NULL;
    uint32_t n_new = 0;
    tb_rc rc = TB_OK;

    /* Keys not there are created then dropped with the others: one code path. */
    for (uint32_t off = 0; off < del->n_rows && rc == TB_OK; off += TB_BATCH_CAP) {
        uint32_t m = TB_MIN(del->n_rows - off, (uint32_t)TB_BATCH_CAP);
        rc = find_groups(agg, del, off, m, &n_new, err);
        if (rc == TB_OK && dead == NULL &&
            (dead = tb_calloc((size_t)agg->states.n_rows + del->n_rows + 1, 1)) == NULL)
            rc = tb_err_nomem(err);
        for (uint32_t k = 0; k < m && rc == TB_OK; k++)
            dead[agg->gids[k]] = 1;
    }
    if (rc == TB_OK && dead != NULL)
        rc = drop_groups(agg, dead, false, err);
    tb_free(dead);
    return rc;
}

static tb_rc apply_upserts(tb_hashagg *agg, const tb_colstore *keys, const tb_colstore *st,
                           tb_err *err)
{
    uint32_t n = st->n_rows, n_new = 0;
    tb_rc rc = TB_OK;

    if (agg->groups != NULL ? keys->n_rows != n : n > 1)
        return corrupt(err, "upsert keys and states differ in count");
    for (uint32_t c = 1; c < st->n_cols; c++) {
        for (uint32_t r = 0; r < n && st->cols[c].valid != NULL; r++)
            if (tb_vec_is_null(&st->cols[c], r))
                return corrupt(err, "NULL in an aggregate state");
    }
    for (uint32_t i = 0; i < agg->n_aggs; i++) {
        const int64_t *cnt = st->cols[agg->aggs[i].col_cnt].data;
        for (uint32_t r = 0; r < n; r++)
            if (cnt[r] < 0)
                return corrupt(err, "negative count");
    }
    for (uint32_t off = 0; off < n && rc == TB_OK; off += TB_BATCH_CAP) {
        uint32_t m = TB_MIN(n - off, (uint32_t)TB_BATCH_CAP);
        rc = find_groups(agg, keys, off, m, &n_new, err);
        for (uint32_t k = 0; k < m && rc == TB_OK; k++)
            rc = put_state(agg, agg->gids[k], st, off + k, err);
    }
    return rc;
}

static tb_rc apply_distinct(tb_hashagg *agg, aggst *a, const tb_colstore *ent, tb_err *err)
{
    uint32_t n = ent->n_rows;
    tb_rc rc = TB_OK;

    for (uint32_t off = 0; off < n && rc == TB_OK; off += TB_BATCH_CAP) {
        uint32_t m = TB_MIN(n - off, (uint32_t)TB_BATCH_CAP), n_new = 0, n_fresh = 0;
        tb_vec dk[2];
        rc = find_groups(agg, ent, off, m, &n_new, err);
        if (rc == TB_OK && n_new > 0)
            rc = corrupt(err, "distinct entry of an unknown group");
        if (rc != TB_OK)
            break;
        for (uint32_t k = 0; k < m; k++)
            agg->gid64[k] = agg->gids[k];
        memset(dk, 0, sizeof(dk));
        dk[0].type = tb_type_make(TB_T_INT64);
        dk[0].data = agg->gid64;
        dk[1] = tb_op_vec_slice(&ent->cols[agg->n_keys], off);
        rc = keytab_find(a->distinct, dk, m, agg->fresh, &n_fresh, err);
    }
    return rc;
}

tb_rc tb_hashagg_apply_changes(tb_hashagg *agg, const void *data, size_t len, tb_err *err)
{
    tb_op_rd rd = {data, len, 0, false};
    tb_colstore del = {0}, keys = {0}, st = {0}, ent = {0};
    tb_type *st_types = NULL;
    tb_rc rc;

    stamps_off(agg);
    if (agg->order != NULL) {
        tb_free(agg->order);
        agg->order = NULL;
    }
    rc = check_shape(agg, &rd, CHG_MAGIC, err);
    if (rc != TB_OK)
        return rc;
    if (agg->groups != NULL) {
        rc = read_rows(agg, NULL, &del, &rd, err);
        if (rc == TB_OK && del.n_rows > 0)
            rc = apply_deletes(agg, &del, err);
        if (rc == TB_OK)
            rc = read_rows(agg, NULL, &keys, &rd, err);
        if (rc != TB_OK)
            goto done;
    }
    st_types = tb_malloc(agg->states.n_cols * sizeof(tb_type));
    if (st_types == NULL) {
        rc = tb_err_nomem(err);
        goto done;
    }
    for (uint32_t c = 0; c < agg->states.n_cols; c++)
        st_types[c] = agg->states.cols[c].type;
    rc = tb_colstore_init(&st, agg->states.n_cols, st_types, err);
    if (rc == TB_OK)
        rc = tb_colstore_read(&st, &rd, err);
    if (rc == TB_OK)
        rc = apply_upserts(agg, &keys, &st, err);
    for (uint32_t i = 0; i < agg->n_aggs && rc == TB_OK; i++) {
        aggst *a = &agg->aggs[i];
        bool caught_up;
        if (a->distinct == NULL)
            continue;
        caught_up = a->mark == a->distinct->st.n_rows;
        tb_colstore_free(&ent);
        memset(&ent, 0, sizeof(ent));
        rc = read_rows(agg, &a->in_type, &ent, &rd, err);
        if (rc == TB_OK)
            rc = apply_distinct(agg, a, &ent, err);
        if (caught_up) /* applied entries are not changes of this state */
            a->mark = a->distinct->st.n_rows;
    }
    if (rc == TB_OK && rd.off != rd.len)
        rc = corrupt(err, "trailing bytes");
done:
    tb_free(st_types);
    tb_colstore_free(&del);
    tb_colstore_free(&keys);
    tb_colstore_free(&st);
    tb_colstore_free(&ent);
    return rc;
}

/* ---------------------------------------------------------------- operator */

typedef struct agg_op {
    tb_op base;
    tb_hashagg *agg;
    uint32_t n_groups;
    tb_expr **group_exprs;
    tb_aggspec *aggs;
    bool consumed;
    tb_hashagg_iter it;
    tb_arena *arena;   /* output batches */
    tb_arena *scratch; /* evaluation of keys and arguments per input batch */
} agg_op;

static tb_rc agg_next(tb_op *op, tb_batch **out, tb_err *err)
{
    agg_op *a = (agg_op *)op;
    tb_rc rc;

    *out = NULL;
    tb_arena_reset(a->arena);
    if (!a->consumed) {
        for (;;) {
            tb_batch *batch = NULL;
            tb_arena_reset(a->scratch);
            rc = tb_op_next(op->children[0], &batch, err);
            if (rc != TB_OK)
                return rc;
            if (batch == NULL)
                break;
            rc = tb_hashagg_consume_batch(a->agg, batch, a->group_exprs, a->scratch, err);
            if (rc != TB_OK)
                return rc;
        }
        a->consumed = true;
        tb_hashagg_iter_init(&a->it, TB_HASHAGG_ALL, 0, NULL);
    }
    return tb_hashagg_next(a->agg, &a->it, a->arena, out, err);
}

static void agg_free(tb_op *op)
{
    agg_op *a = (agg_op *)op;
    tb_hashagg_free(a->agg);
    tb_free(a->group_exprs);
    tb_free(a->aggs);
    tb_arena_free(a->arena);
    tb_arena_free(a->scratch);
}

static tb_rc agg_explain(tb_op *op, tb_buf *buf)
{
    agg_op *a = (agg_op *)op;
    const tb_schema *in = op->children[0]->schema;
    tb_rc rc = TB_OK;

    if (a->n_groups > 0)
        rc = tb_buf_puts(buf, "group by ");
    for (uint32_t k = 0; k < a->n_groups && rc == TB_OK; k++) {
        if (k > 0)
            rc = tb_buf_puts(buf, ", ");
        if (rc == TB_OK)
            rc = tb_expr_format(a->group_exprs[k], in, buf);
    }
    for (uint32_t i = 0; i < a->agg->n_aggs && rc == TB_OK; i++) {
        const tb_aggspec *s = &a->aggs[i];
        rc = tb_buf_printf(buf, "%s%s(%s", (i == 0 && a->n_groups == 0) ? "" : ", ", tb_agg_kind_name(s->kind),
                           s->distinct ? "DISTINCT " : "");
        if (rc == TB_OK && s->arg != NULL)
            rc = tb_expr_format(s->arg, in, buf);
        else if (rc == TB_OK)
            rc = tb_buf_putc(buf, '*');
        if (rc == TB_OK)
            rc = tb_buf_putc(buf, ')');
    }
    return rc;
}

static const tb_op_vt agg_vt = {"hash aggregate", agg_next, agg_free, agg_explain, NULL};

tb_rc tb_agg_output_schema(tb_schema *schema, uint32_t n_groups, tb_expr **group_exprs,
                           const char **group_names, uint32_t n_aggs, const tb_aggspec *aggs,
                           const char **agg_names, tb_type *types, tb_err *err)
{
    for (uint32_t k = 0; k < n_groups; k++) {
        types[k] = group_exprs[k]->type;
        if (tb_schema_set(schema, k, group_names && group_names[k] ? group_names[k] : "?column?",
                          types[k], true) != TB_OK)
            return tb_err_nomem(err);
    }
    for (uint32_t i = 0; i < n_aggs; i++) {
        bool nullable = aggs[i].kind != TB_AGG_COUNT_STAR && aggs[i].kind != TB_AGG_COUNT;
        if (tb_schema_set(schema, n_groups + i,
                          agg_names && agg_names[i] ? agg_names[i] : "?column?", aggs[i].type,
                          nullable) != TB_OK)
            return tb_err_nomem(err);
    }
    return TB_OK;
}

tb_rc tb_op_hash_agg_new(tb_op *child, uint32_t n_groups, tb_expr **group_exprs,
                         const char **group_names, uint32_t n_aggs, const tb_aggspec *aggs,
                         const char **agg_names, tb_op **out, tb_err *err)
{
    agg_op *a = tb_op_alloc(sizeof(*a), &agg_vt, 1, &child);
    tb_type *types = NULL;
    tb_rc rc;

    *out = NULL;
    if (a == NULL) {
        tb_op_free(child);
        return tb_err_nomem(err);
    }
    a->n_groups = n_groups;
    a->group_exprs = tb_malloc((n_groups ? n_groups : 1) * sizeof(tb_expr *));
    a->aggs = tb_malloc((n_aggs ? n_aggs : 1) * sizeof(tb_aggspec));
    types = tb_malloc((n_groups ? n_groups : 1) * sizeof(tb_type));
    a->arena = tb_arena_new(256 * 1024);
    a->scratch = tb_arena_new(256 * 1024);
    a->base.schema = tb_schema_new(n_groups + n_aggs);
    if (a->group_exprs == NULL || a->aggs == NULL || types == NULL || a->arena == NULL ||
        a->scratch == NULL || a->base.schema == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    if (n_groups > 0)
        memcpy(a->group_exprs, group_exprs, n_groups * sizeof(tb_expr *));
    if (n_aggs > 0)
        memcpy(a->aggs, aggs, n_aggs * sizeof(tb_aggspec));
    rc = tb_agg_output_schema(a->base.schema, n_groups, group_exprs, group_names, n_aggs, aggs,
                              agg_names, types, err);
    if (rc != TB_OK)
        goto fail;
    rc = tb_hashagg_new(n_groups, types, n_aggs, aggs, &a->agg, err);
    if (rc != TB_OK)
        goto fail;
    a->agg->track_changes = false;
    tb_free(types);
    *out = &a->base;
    return TB_OK;
fail:
    tb_free(types);
    tb_op_free(&a->base);
    return rc;
}
