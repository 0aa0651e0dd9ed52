/*
 * hashjoin.c - the hash join: a reusable build table (tb_hashjoin_table) and the probe
 * operator.
 *
 * Build table: every build row is copied into a column store (payload columns, then the
 * evaluated key columns that are not plain column references). finish() indexes the
 * rows whose keys are all non-NULL: head[bucket] is the first row of a chain and
 * next[row] the following one (chains keep insertion order). Three index modes:
 *   DENSE   one integer key whose values span a small range: bucket = key - min, so a
 *           chain holds only equal keys and probing needs no hash and no comparison;
 *   INT     one integer key: bucket from the key's hash, compare the int64 keys;
 *   GENERIC any keys: bucket from the combined hash, compare the stored hash and then
 *           each key column with the typed kernels (tb_op_match).
 * Once finished the table is immutable: several probe operators (one per micro-batch,
 * or concurrent ones) may share it; it is reference counted.
 *
 * Probe state machine (per probe batch): every row starts at the head of its chain
 * (cand[r], TB_ROW_NONE if none). A step takes a prefix of the active rows, compares
 * their keys with their current candidate, applies the residual predicate to the pairs
 * that match, records matches (output pair, probe matched flag, build matched bit) and
 * moves each row to the next row of its chain; a row whose chain ends is finished
 * (LEFT/FULL: NULL-extended if it never matched; ANTI: emitted if it never matched;
 * SEMI and ANTI also finish at their first match). Each processed row yields at most
 * one output row per step, so a step never overflows the output batch; when the batch
 * fills up, next() returns it and the following call resumes with the same active rows
 * (many-to-many joins span several batches). After the probe input ends, RIGHT/FULL
 * emit the build rows whose matched bit is clear (NULL keys included).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "exec/op_int.h"

enum { MODE_DENSE, MODE_INT, MODE_GENERIC };

/* DENSE when the key range is at most this many slots and at most 2x the rows (+1024). */
#define DENSE_MAX_RANGE (1u << 24)

struct tb_hashjoin_table {
    atomic_uint refs;
    tb_schema *schema; /* build (payload) columns */
    uint32_t n_keys;
    tb_expr **keys;    /* borrowed; used while adding rows */
    uint32_t *key_col; /* store column of key k */
    tb_colstore store;
    tb_arena *scratch; /* key evaluation while adding */
    bool finished;
    int mode;
    uint32_t *head;
    uint32_t *next;
    uint64_t *hashes; /* GENERIC: per row */
    int64_t *ikeys;   /* INT: per row */
    uint64_t mask;    /* INT/GENERIC: buckets - 1 */
    int64_t min_key;  /* DENSE */
    uint64_t range;   /* DENSE: number of slots */
    uint64_t n_indexed;
    bool unique; /* no two indexed rows have equal keys (DENSE and INT modes) */
};

static bool int_key_type(tb_type t)
{
    switch ((tb_type_id)t.id) {
    case TB_T_INT16:
    case TB_T_INT32:
    case TB_T_INT64:
    case TB_T_DATE:
    case TB_T_TIMESTAMP:
        return true;
    default:
        return false;
    }
}

/* Normalize n rows of an integer-like vector into int64. NULL rows: unspecified. */
static void int_keys(const tb_vec *v, uint32_t n, int64_t *out)
{
    switch ((tb_type_id)v->type.id) {
    case TB_T_INT16: {
        const int16_t *d = v->data;
        for (uint32_t i = 0; i < n; i++)
            out[i] = d[i];
        break;
    }
    case TB_T_INT32:
    case TB_T_DATE: {
        const int32_t *d = v->data;
        for (uint32_t i = 0; i < n; i++)
            out[i] = d[i];
        break;
    }
    default: {
        const int64_t *d = v->data;
        memcpy(out, d, (size_t)n * sizeof(int64_t));
        break;
    }
    }
}

/* ---------------------------------------------------------------- build table */

static bool same_key_type(tb_type a, tb_type b)
{
    return a.id == b.id && (a.id != TB_T_DECIMAL || a.scale == b.scale);
}

tb_rc tb_hashjoin_table_new(const tb_schema *build_schema, uint32_t n_keys, tb_expr **keys,
                            tb_hashjoin_table **out, tb_err *err)
{
    tb_hashjoin_table *t;
    tb_type *types = NULL;
    uint32_t n_cols = build_schema->n;
    tb_rc rc;

    *out = NULL;
    if (n_keys == 0)
        return TB_ERRF(err, TB_E_MISUSE, "hash join: no keys");
    t = tb_calloc(1, sizeof(*t));
    if (t == NULL)
        return tb_err_nomem(err);
    atomic_init(&t->refs, 1);
    t->n_keys = n_keys;
    t->schema = tb_schema_copy(build_schema);
    t->keys = tb_malloc(n_keys * sizeof(tb_expr *));
    t->key_col = tb_malloc(n_keys * sizeof(uint32_t));
    types = tb_malloc((n_cols + n_keys) * sizeof(tb_type));
    t->scratch = tb_arena_new(64 * 1024);
    if (t->schema == NULL || t->keys == NULL || t->key_col == NULL || types == NULL ||
        t->scratch == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    memcpy(t->keys, keys, n_keys * sizeof(tb_expr *));
    for (uint32_t c = 0; c < n_cols; c++)
        types[c] = build_schema->fields[c].type;
    for (uint32_t k = 0; k < n_keys; k++) {
        tb_expr *e = keys[k];
        if (e->kind == TB_EX_COL && e->col >= 0 && (uint32_t)e->col < n_cols &&
            same_key_type(types[e->col], e->type)) {
            t->key_col[k] = (uint32_t)e->col;
        } else {
            t->key_col[k] = n_cols;
            types[n_cols++] = e->type;
        }
    }
    rc = tb_colstore_init(&t->store, n_cols, types, err);
    if (rc == TB_OK)
        rc = tb_colstore_intern(&t->store, err); /* dimension columns repeat values */
    if (rc != TB_OK)
        goto fail;
    tb_free(types);
    *out = t;
    return TB_OK;
fail:
    tb_free(types);
    tb_hashjoin_table_free(t);
    return rc;
}

void tb_hashjoin_table_free(tb_hashjoin_table *t)
{
    if (t == NULL || atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    tb_schema_free(t->schema);
    tb_free(t->keys);
    tb_free(t->key_col);
    tb_colstore_free(&t->store);
    tb_arena_free(t->scratch);
    tb_free(t->head);
    tb_free(t->next);
    tb_free(t->hashes);
    tb_free(t->ikeys);
    tb_free(t);
}

tb_hashjoin_table *tb_hashjoin_table_ref(tb_hashjoin_table *t)
{
    atomic_fetch_add(&t->refs, 1);
    return t;
}

tb_rc tb_hashjoin_table_add(tb_hashjoin_table *t, const tb_batch *batch, tb_err *err)
{
    tb_vec *src;
    uint32_t n_cols = t->store.n_cols, n_pay = t->schema->n;
    tb_rc rc;

    if (t->finished)
        return TB_ERRF(err, TB_E_MISUSE, "hash join: rows added to a finished build table");
    if (batch->n_rows == 0)
        return TB_OK;
    if (batch->n_cols != n_pay)
        return TB_ERRF(err, TB_E_MISUSE, "hash join: build batch has %u columns, expected %u",
                       batch->n_cols, n_pay);
    tb_arena_reset(t->scratch);
    src = tb_arena_alloc(t->scratch, n_cols * sizeof(tb_vec));
    if (src == NULL)
        return tb_err_nomem(err);
    memcpy(src, batch->cols, n_pay * sizeof(tb_vec));
    for (uint32_t k = 0; k < t->n_keys; k++) {
        if (t->key_col[k] < n_pay)
            continue;
        rc = tb_op_eval(t->keys[k], batch, t->scratch, &src[t->key_col[k]], err);
        if (rc != TB_OK)
            return rc;
    }
    return tb_colstore_append(&t->store, src, NULL, batch->n_rows, err);
}

/* Does row i have a NULL in any key column? */
static bool key_null(const tb_hashjoin_table *t, uint32_t i)
{
    for (uint32_t k = 0; k < t->n_keys; k++) {
        if (tb_op_row_null(&t->store.cols[t->key_col[k]], i))
            return true;
    }
    return false;
}

tb_rc tb_hashjoin_table_finish(tb_hashjoin_table *t, tb_err *err)
{
    uint32_t n = t->store.n_rows;
    const tb_vec *k0 = &t->store.cols[t->key_col[0]];
    uint64_t n_buckets;

    if (t->finished)
        return TB_OK;
    t->next = tb_malloc((n ? n : 1) * sizeof(uint32_t));
    if (t->next == NULL)
        return tb_err_nomem(err);
    t->mode = MODE_GENERIC;
    if (t->n_keys == 1 && int_key_type(k0->type)) {
        int64_t mn = INT64_MAX, mx = INT64_MIN;
        t->mode = MODE_INT;
        t->ikeys = tb_malloc((n ? n : 1) * sizeof(int64_t));
        if (t->ikeys == NULL)
            return tb_err_nomem(err);
        int_keys(k0, n, t->ikeys);
        for (uint32_t i = 0; i < n; i++) {
            if (tb_vec_is_null(k0, i))
                continue;
            mn = TB_MIN(mn, t->ikeys[i]);
            mx = TB_MAX(mx, t->ikeys[i]);
        }
        if (mn <= mx) {
            uint64_t range = (uint64_t)mx - (uint64_t)mn + 1; /* wraps only for the full span */
            if (range != 0 && range <= DENSE_MAX_RANGE && range <= 2 * (uint64_t)n + 1024) {
                t->mode = MODE_DENSE;
                t->min_key = mn;
                t->range = range;
            }
        }
    }
    if (t->mode == MODE_DENSE) {
        n_buckets = t->range;
    } else {
        n_buckets = 1024;
        while (n_buckets < (uint64_t)n)
            n_buckets *= 2;
        t->mask = n_buckets - 1;
    }
    t->head = tb_malloc(n_buckets * sizeof(uint32_t));
    if (t->head == NULL)
        return tb_err_nomem(err);
    memset(t->head, 0xff, n_buckets * sizeof(uint32_t));
    if (t->mode == MODE_GENERIC) {
        t->hashes = tb_malloc((n ? n : 1) * sizeof(uint64_t));
        if (t->hashes == NULL)
            return tb_err_nomem(err);
        for (uint32_t k = 0; k < t->n_keys; k++)
            tb_op_hash(&t->store.cols[t->key_col[k]], n, t->hashes, k > 0);
    }
    /* Insert in reverse so each chain lists its rows in insertion order. */
    for (uint32_t i = n; i-- > 0;) {
        uint64_t b;
        if (key_null(t, i)) {
            t->next[i] = TB_ROW_NONE;
            continue;
        }
        if (t->mode == MODE_DENSE)
            b = (uint64_t)t->ikeys[i] - (uint64_t)t->min_key;
        else if (t->mode == MODE_INT)
            b = tb_hash_u64((uint64_t)t->ikeys[i]) & t->mask;
        else
            b = t->hashes[i] & t->mask;
        t->next[i] = t->head[b];
        t->head[b] = i;
        t->n_indexed++;
    }
    /* unique: no two indexed rows have equal keys. DENSE chains hold equal keys only;
     * INT chains may mix keys that share a bucket, so compare within each chain (chains
     * are short; a duplicate ends the scan at once). GENERIC: not used. */
    t->unique = t->mode != MODE_GENERIC;
    if (t->mode == MODE_DENSE) {
        for (uint32_t i = 0; i < n && t->unique; i++)
            t->unique = t->next[i] == TB_ROW_NONE;
    } else if (t->mode == MODE_INT) {
        for (uint32_t i = 0; i < n && t->unique; i++) {
            for (uint32_t b = t->next[i]; b != TB_ROW_NONE && t->unique; b = t->next[b])
                t->unique = t->ikeys[b] != t->ikeys[i];
        }
    }
    if (t->mode == MODE_DENSE) {
        tb_free(t->ikeys); /* the bucket is the key */
        t->ikeys = NULL;
    }
    tb_arena_free(t->scratch);
    t->scratch = NULL;
    t->finished = true;
    return TB_OK;
}

tb_rc tb_hashjoin_table_build(tb_op *build, uint32_t n_keys, tb_expr **keys,
                              tb_hashjoin_table **out, tb_err *err)
{
    tb_hashjoin_table *t = NULL;
    tb_rc rc;

    *out = NULL;
    rc = tb_hashjoin_table_new(build->schema, n_keys, keys, &t, err);
    if (rc != TB_OK)
        return rc;
    for (;;) {
        tb_batch *batch = NULL;
        rc = tb_op_next(build, &batch, err);
        if (rc != TB_OK)
            goto fail;
        if (batch == NULL)
            break;
        rc = tb_hashjoin_table_add(t, batch, err);
        if (rc != TB_OK)
            goto fail;
    }
    rc = tb_hashjoin_table_finish(t, err);
    if (rc != TB_OK)
        goto fail;
    *out = t;
    return TB_OK;
fail:
    tb_hashjoin_table_free(t);
    return rc;
}

uint64_t tb_hashjoin_table_rows(const tb_hashjoin_table *t) { return t->store.n_rows; }

const tb_schema *tb_hashjoin_table_schema(const tb_hashjoin_table *t) { return t->schema; }

size_t tb_hashjoin_table_bytes(const tb_hashjoin_table *t)
{
    size_t n = t->store.n_rows, bytes = sizeof(*t) + tb_colstore_bytes(&t->store);

    if (t->head != NULL)
        bytes += (t->mode == MODE_DENSE ? t->range : t->mask + 1) * sizeof(uint32_t);
    if (t->next != NULL)
        bytes += n * sizeof(uint32_t);
    if (t->hashes != NULL)
        bytes += n * sizeof(uint64_t);
    if (t->ikeys != NULL)
        bytes += n * sizeof(int64_t);
    return bytes;
}

/* ---------------------------------------------------------------- shared build once */

/*
 * The build side of the parallel copies of one probe pipeline: built by the first probe
 * operator that needs it, under the mutex, while the others wait; the outcome (table or
 * error) is kept, so every copy sees the same table or the same error. The build plan
 * is freed as soon as the table exists.
 */
struct tb_hashjoin_once {
    atomic_uint refs;
    pthread_mutex_t mu;
    bool done;
    tb_rc rc;
    tb_err err;
    tb_op *build;
    tb_schema *schema; /* the build side's (copy: the plan is freed once built) */
    uint32_t n_keys;
    tb_expr **keys;
    tb_hashjoin_table *table;
};

tb_rc tb_hashjoin_once_new(tb_op *build, uint32_t n_keys, tb_expr **keys, tb_hashjoin_once **out,
                           tb_err *err)
{
    tb_hashjoin_once *o = tb_calloc(1, sizeof(*o));

    *out = NULL;
    if (o == NULL || n_keys == 0) {
        tb_free(o);
        tb_op_free(build);
        return n_keys == 0 ? TB_ERRF(err, TB_E_MISUSE, "hash join: no keys") : tb_err_nomem(err);
    }
    o->keys = tb_malloc(n_keys * sizeof(tb_expr *));
    o->schema = tb_schema_copy(build->schema);
    if (o->keys == NULL || o->schema == NULL || pthread_mutex_init(&o->mu, NULL) != 0) {
        tb_free(o->keys);
        tb_schema_free(o->schema);
        tb_free(o);
        tb_op_free(build);
        return tb_err_nomem(err);
    }
    atomic_init(&o->refs, 1);
    memcpy(o->keys, keys, n_keys * sizeof(tb_expr *));
    o->n_keys = n_keys;
    o->build = build;
    *out = o;
    return TB_OK;
}

tb_hashjoin_once *tb_hashjoin_once_ref(tb_hashjoin_once *o)
{
    atomic_fetch_add(&o->refs, 1);
    return o;
}

void tb_hashjoin_once_free(tb_hashjoin_once *o)
{
    if (o == NULL || atomic_fetch_sub(&o->refs, 1) != 1)
        return;
    (void)pthread_mutex_destroy(&o->mu); /* unlocked: no other reference is left */
    tb_op_free(o->build);
    tb_hashjoin_table_free(o->table);
    tb_schema_free(o->schema);
    tb_free(o->keys);
    tb_free(o);
}

/* The table (a new reference), building it if nobody did; or the build's error. */
static tb_rc once_get(tb_hashjoin_once *o, tb_hashjoin_table **out, tb_err *err)
{
    tb_rc rc;

    *out = NULL;
    (void)pthread_mutex_lock(&o->mu); /* a default mutex: only EINVAL/EDEADLK, not here */
    if (!o->done) {
        tb_err_clear(&o->err);
        o->rc = tb_hashjoin_table_build(o->build, o->n_keys, o->keys, &o->table, &o->err);
        tb_op_free(o->build);
        o->build = NULL;
        o->done = true;
    }
    rc = o->rc;
    if (rc == TB_OK)
        *out = tb_hashjoin_table_ref(o->table);
    else if (err != NULL)
        *err = o->err;
    (void)pthread_mutex_unlock(&o->mu);
    return rc;
}

/* ---------------------------------------------------------------- probe operator */

enum { PH_BUILD, PH_PROBE, PH_TAIL, PH_DONE };

typedef struct hj_op {
    tb_op base;
    tb_hashjoin_table *table;
    tb_hashjoin_once *once; /* parallel copies: the shared build (table NULL until built) */
    tb_join_type type;
    uint32_t n_keys;
    tb_expr **left_keys;
    tb_expr **right_keys; /* non-shared: used to build */
    tb_expr *residual;
    tb_schema *pair_schema; /* left + right columns (the residual's input) */
    int phase;
    uint8_t *bmatched; /* RIGHT/FULL: per build row */
    uint32_t tail_row;
    /* current probe batch */
    tb_batch *pb;
    tb_vec *pkeys;
    uint32_t n_active;
    tb_arena *parena;  /* probe keys: reset per probe batch */
    tb_arena *arena;   /* output: reset per next() */
    tb_arena *scratch; /* residual evaluation: reset per step */
    /* output under construction */
    uint32_t n_out;
    uint32_t out_l[TB_BATCH_CAP];
    uint32_t out_r[TB_BATCH_CAP];
    uint32_t active[TB_BATCH_CAP];
    uint32_t cand[TB_BATCH_CAP];
    uint8_t pmatched[TB_BATCH_CAP];
    uint64_t h[TB_BATCH_CAP];
    int64_t ik[TB_BATCH_CAP];
    uint32_t s_a[TB_BATCH_CAP], s_b[TB_BATCH_CAP], s_c[TB_BATCH_CAP];
} hj_op;

static bool emits_pairs(tb_join_type type) { return type != TB_JOIN_SEMI && type != TB_JOIN_ANTI; }

/*
 * Fast path: unique build keys and no residual, so each probe row has at most one
 * match: one pass, no active list (the reference job's dimension join). The output of
 * the whole probe batch fits one output batch.
 */
static void probe_unique(hj_op *j, uint32_t n)
{
    const int64_t *ikeys = j->table->ikeys;
    uint32_t k = 0;

    if (j->table->mode == MODE_INT) {
        /* walk the bucket's chain to the one row with this key, if any */
        const uint32_t *next = j->table->next;
        for (uint32_t r = 0; r < n; r++) {
            uint32_t b = j->cand[r];
            int64_t key = j->ik[r];
            while (b != TB_ROW_NONE && ikeys[b] != key)
                b = next[b];
            j->cand[r] = b;
        }
    }
    if (j->bmatched != NULL) {
        for (uint32_t r = 0; r < n; r++) {
            if (j->cand[r] != TB_ROW_NONE)
                j->bmatched[j->cand[r]] = 1;
        }
    }
    switch (j->type) {
    case TB_JOIN_LEFT:
    case TB_JOIN_FULL:
        for (uint32_t r = 0; r < n; r++) {
            j->out_l[r] = r;
            j->out_r[r] = j->cand[r];
        }
        k = n;
        break;
    case TB_JOIN_SEMI:
        for (uint32_t r = 0; r < n; r++) {
            j->out_l[k] = r;
            k += j->cand[r] != TB_ROW_NONE;
        }
        break;
    case TB_JOIN_ANTI:
        for (uint32_t r = 0; r < n; r++) {
            j->out_l[k] = r;
            k += j->cand[r] == TB_ROW_NONE;
        }
        break;
    default: /* INNER, RIGHT */
        for (uint32_t r = 0; r < n; r++) {
            j->out_l[k] = r;
            j->out_r[k] = j->cand[r];
            k += j->cand[r] != TB_ROW_NONE;
        }
        break;
    }
    j->n_out = k;
    j->n_active = 0;
}

/* Set up a new probe batch: evaluate keys, find each row's first candidate. */
static tb_rc probe_start(hj_op *j, tb_batch *pb, tb_err *err)
{
    const tb_hashjoin_table *t = j->table;
    uint32_t n = pb->n_rows;
    tb_rc rc;

    if (n > TB_BATCH_CAP)
        return TB_ERRF(err, TB_E_LIMIT, "hash join: probe batch of %u rows (max %u)", n,
                       TB_BATCH_CAP);
    tb_arena_reset(j->parena);
    for (uint32_t k = 0; k < j->n_keys; k++) {
        rc = tb_op_eval(j->left_keys[k], pb, j->parena, &j->pkeys[k], err);
        if (rc != TB_OK)
            return rc;
    }
    if (t->mode == MODE_GENERIC) {
        for (uint32_t k = 0; k < j->n_keys; k++)
            tb_op_hash(&j->pkeys[k], n, j->h, k > 0);
        for (uint32_t i = 0; i < n; i++)
            j->cand[i] = t->head[j->h[i] & t->mask];
    } else {
        int_keys(&j->pkeys[0], n, j->ik);
        if (t->mode == MODE_DENSE) {
            for (uint32_t i = 0; i < n; i++) {
                uint64_t off = (uint64_t)j->ik[i] - (uint64_t)t->min_key;
                j->cand[i] = off < t->range ? t->head[off] : TB_ROW_NONE;
            }
        } else {
            for (uint32_t i = 0; i < n; i++)
                j->cand[i] = t->head[tb_hash_u64((uint64_t)j->ik[i]) & t->mask];
        }
    }
    /* NULL keys never match. */
    for (uint32_t k = 0; k < j->n_keys; k++) {
        const tb_vec *v = &j->pkeys[k];
        if (v->type.id == TB_T_NULL) {
            for (uint32_t i = 0; i < n; i++)
                j->cand[i] = TB_ROW_NONE;
        } else if (v->valid != NULL) {
            for (uint32_t i = 0; i < n; i++) {
                if (tb_vec_is_null(v, i))
                    j->cand[i] = TB_ROW_NONE;
            }
        }
    }
    j->pb = pb;
    if (t->unique && t->mode != MODE_GENERIC && j->residual == NULL) {
        probe_unique(j, n);
        return TB_OK;
    }
    for (uint32_t i = 0; i < n; i++)
        j->active[i] = i;
    memset(j->pmatched, 0, n);
    j->n_active = n;
    return TB_OK;
}

/* Residual over the matching pairs sel[0..n): keeps those where it is true. */
static tb_rc residual_filter(hj_op *j, uint32_t *sel, uint32_t *n_sel, tb_err *err)
{
    const tb_batch *pb = j->pb;
    uint32_t n = *n_sel, nl = pb->n_cols, nr = j->table->schema->n, kept = 0;
    tb_batch *pair = NULL;
    tb_vec pv;
    tb_rc rc;

    tb_arena_reset(j->scratch);
    for (uint32_t k = 0; k < n; k++)
        j->s_c[k] = j->cand[sel[k]];
    if (tb_batch_shell(nl + nr, j->scratch, &pair) != TB_OK)
        return tb_err_nomem(err);
    for (uint32_t c = 0; c < nl; c++) {
        if (tb_op_gather_new(&pair->cols[c], &pb->cols[c], sel, n, j->scratch) != TB_OK)
            return tb_err_nomem(err);
    }
    for (uint32_t c = 0; c < nr; c++) {
        if (tb_op_gather_new(&pair->cols[nl + c], &j->table->store.cols[c], j->s_c, n,
                             j->scratch) != TB_OK)
            return tb_err_nomem(err);
    }
    pair->n_rows = n;
    pair->cap = n;
    rc = tb_op_eval(j->residual, pair, j->scratch, &pv, err);
    if (rc != TB_OK)
        return rc;
    if (pv.type.id != TB_T_BOOL) {
        *n_sel = 0;
        return TB_OK;
    }
    for (uint32_t k = 0; k < n; k++) {
        if (!tb_vec_is_null(&pv, k) && ((const uint8_t *)pv.data)[k])
            sel[kept++] = sel[k];
    }
    *n_sel = kept;
    return TB_OK;
}

static inline void emit(hj_op *j, uint32_t l, uint32_t r)
{
    j->out_l[j->n_out] = l;
    j->out_r[j->n_out] = r;
    j->n_out++;
}

/* Row r's chain is over: emit it if the join type wants unmatched probe rows. */
static inline void finish_row(hj_op *j, uint32_t r)
{
    if (j->pmatched[r])
        return;
    if (j->type == TB_JOIN_LEFT || j->type == TB_JOIN_FULL)
        emit(j, r, TB_ROW_NONE);
    else if (j->type == TB_JOIN_ANTI)
        emit(j, r, TB_ROW_NONE);
}

/* One step over a prefix of the active rows that fits in the output. */
static tb_rc probe_step(hj_op *j, tb_err *err)
{
    const tb_hashjoin_table *t = j->table;
    uint32_t room = TB_BATCH_CAP - j->n_out;
    uint32_t k = TB_MIN(j->n_active, room), n_m = 0, n_keep = 0, n_fail = 0;
    uint32_t *m = j->s_a, *fail = j->s_b;
    tb_rc rc;

    /* 1. rows with a candidate whose key matches */
    for (uint32_t i = 0; i < k; i++) {
        uint32_t r = j->active[i];
        if (j->cand[r] != TB_ROW_NONE)
            m[n_m++] = r;
    }
    if (t->mode == MODE_INT) {
        uint32_t w = 0;
        for (uint32_t i = 0; i < n_m; i++) {
            uint32_t r = m[i];
            m[w] = r;
            w += t->ikeys[j->cand[r]] == j->ik[r];
        }
        n_m = w;
    } else if (t->mode == MODE_GENERIC) {
        uint32_t w = 0;
        for (uint32_t i = 0; i < n_m; i++) {
            uint32_t r = m[i];
            m[w] = r;
            w += t->hashes[j->cand[r]] == j->h[r];
        }
        n_m = w;
        for (uint32_t c = 0; c < j->n_keys && n_m > 0; c++)
            n_m = tb_op_match(&j->pkeys[c], &t->store.cols[t->key_col[c]], j->cand, m, n_m, fail,
                              &n_fail, false);
    }
    /* 2. residual */
    if (j->residual != NULL && n_m > 0) {
        rc = residual_filter(j, m, &n_m, err);
        if (rc != TB_OK)
            return rc;
    }
    /* 3. record matches */
    for (uint32_t i = 0; i < n_m; i++) {
        uint32_t r = m[i], b = j->cand[r];
        j->pmatched[r] = 1;
        if (j->bmatched != NULL)
            j->bmatched[b] = 1;
        if (j->type == TB_JOIN_SEMI) {
            emit(j, r, TB_ROW_NONE);
            j->cand[r] = TB_ROW_NONE; /* finished: one output row at most */
        } else if (j->type == TB_JOIN_ANTI) {
            j->cand[r] = TB_ROW_NONE;
        } else {
            emit(j, r, b);
        }
    }
    /* 4. advance along the chains; finish rows whose chain ends */
    for (uint32_t i = 0; i < k; i++) {
        uint32_t r = j->active[i], c = j->cand[r];
        if (c != TB_ROW_NONE)
            c = j->cand[r] = t->next[c];
        if (c == TB_ROW_NONE)
            finish_row(j, r);
        else
            j->active[n_keep++] = r;
    }
    memmove(&j->active[n_keep], &j->active[k], (j->n_active - k) * sizeof(uint32_t));
    j->n_active = n_keep + (j->n_active - k);
    return TB_OK;
}

/* Build the output batch from out_l/out_r (pb NULL: left side all NULL). */
static tb_rc make_output(hj_op *j, tb_batch **out, tb_err *err)
{
    const tb_batch *pb = j->pb;
    const tb_schema *ls = j->base.children[0]->schema;
    uint32_t n = j->n_out, nl = ls->n, nr = emits_pairs(j->type) ? j->table->schema->n : 0;
    tb_batch *batch = NULL;
    bool ident = pb != NULL && n == pb->n_rows;

    for (uint32_t k = 0; k < n && ident; k++)
        ident = j->out_l[k] == k;
    if (tb_batch_shell(nl + nr, j->arena, &batch) != TB_OK)
        return tb_err_nomem(err);
    for (uint32_t c = 0; c < nl; c++) {
        tb_rc rc = TB_OK;
        if (ident)
            batch->cols[c] = pb->cols[c]; /* every probe row once, in order: share */
        else if (pb == NULL)
            rc = tb_op_null_vec(&batch->cols[c], ls->fields[c].type, n, j->arena);
        else
            rc = tb_op_gather_new(&batch->cols[c], &pb->cols[c], j->out_l, n, j->arena);
        if (rc != TB_OK)
            return tb_err_nomem(err);
    }
    for (uint32_t c = 0; c < nr; c++) {
        if (tb_op_gather_new(&batch->cols[nl + c], &j->table->store.cols[c], j->out_r, n,
                             j->arena) != TB_OK)
            return tb_err_nomem(err);
    }
    batch->n_rows = n;
    batch->cap = n;
    *out = batch;
    return TB_OK;
}

static tb_rc hj_build(hj_op *j, tb_err *err)
{
    if (j->once != NULL)
        return once_get(j->once, &j->table, err);
    tb_rc rc =
        tb_hashjoin_table_build(j->base.children[1], j->n_keys, j->right_keys, &j->table, err);
    if (rc != TB_OK)
        return rc;
    return TB_OK;
}

static tb_rc hj_next(tb_op *op, tb_batch **out, tb_err *err)
{
    hj_op *j = (hj_op *)op;
    tb_rc rc;

    *out = NULL;
    tb_arena_reset(j->arena);
    j->n_out = 0;
    if (j->phase == PH_BUILD) {
        rc = hj_build(j, err);
        if (rc != TB_OK)
            return rc;
        j->phase = PH_PROBE;
    }
    if (j->phase == PH_PROBE && j->bmatched == NULL &&
        (j->type == TB_JOIN_RIGHT || j->type == TB_JOIN_FULL)) {
        uint64_t n = j->table->store.n_rows;
        j->bmatched = tb_calloc(n ? n : 1, 1);
        if (j->bmatched == NULL)
            return tb_err_nomem(err);
    }
    while (j->phase == PH_PROBE) {
        if (j->pb == NULL) {
            tb_batch *pb = NULL;
            rc = tb_op_next(op->children[0], &pb, err);
            if (rc != TB_OK)
                return rc;
            if (pb == NULL) {
                j->phase = j->bmatched != NULL ? PH_TAIL : PH_DONE;
                break;
            }
            if (pb->n_rows == 0)
                continue;
            rc = probe_start(j, pb, err);
            if (rc != TB_OK)
                return rc;
        }
        while (j->n_active > 0 && j->n_out < TB_BATCH_CAP) {
            rc = probe_step(j, err);
            if (rc != TB_OK)
                return rc;
        }
        if (j->n_out > 0) {
            rc = make_output(j, out, err);
            if (j->n_active == 0)
                j->pb = NULL; /* the output still points into it until our next call */
            return rc;
        }
        j->pb = NULL;
    }
    if (j->phase == PH_TAIL) {
        uint32_t n = j->table->store.n_rows;
        j->pb = NULL;
        while (j->tail_row < n && j->n_out < TB_BATCH_CAP) {
            uint32_t b = j->tail_row++;
            if (!j->bmatched[b])
                emit(j, TB_ROW_NONE, b);
        }
        if (j->n_out > 0)
            return make_output(j, out, err);
        j->phase = PH_DONE;
    }
    return TB_OK;
}

static void hj_free(tb_op *op)
{
    hj_op *j = (hj_op *)op;
    tb_hashjoin_table_free(j->table);
    tb_hashjoin_once_free(j->once);
    tb_free(j->left_keys);
    tb_free(j->right_keys);
    tb_free(j->pkeys);
    tb_free(j->bmatched);
    tb_schema_free(j->pair_schema);
    tb_arena_free(j->parena);
    tb_arena_free(j->arena);
    tb_arena_free(j->scratch);
}

/*
 * Again from the start over a new probe input (a continuous query's next micro-batch):
 * the build side's table is kept (the stream-static join builds it once; the stream
 * runtime makes a new plan when the static table changes), the probe child rescanned.
 * A parallel copy (shared build) cannot.
 */
static tb_rc hj_rescan(tb_op *op, tb_err *err)
{
    hj_op *j = (hj_op *)op;
    if (j->once != NULL)
        return TB_ERRF(err, TB_E_UNSUPPORTED, "a parallel hash join cannot be re-executed");
    /* the build side is kept: not when it reads the stream (a static table semi-joined
     * with a subquery over the stream: not swappable, so the stream is on the right) */
    if (op->n_children > 1 && tb_op_binds_input(op->children[1]))
        return TB_ERRF(err, TB_E_UNSUPPORTED,
                       "a hash join whose build side reads the stream cannot be re-executed");
    if (j->table != NULL) {
        j->phase = PH_PROBE;
        if (j->bmatched != NULL)
            memset(j->bmatched, 0, j->table->store.n_rows ? j->table->store.n_rows : 1);
    }
    j->pb = NULL;
    j->n_active = 0;
    j->n_out = 0;
    j->tail_row = 0;
    return tb_op_rescan(op->children[0], err);
}

static const char *join_name(tb_join_type type)
{
    static const char *const names[] = {"inner", "left", "right", "full", "semi", "anti"};
    return (unsigned)type < 6 ? names[type] : "?";
}

static tb_rc hj_explain(tb_op *op, tb_buf *buf)
{
    hj_op *j = (hj_op *)op;
    const tb_schema *ls = op->children[0]->schema;
    const tb_schema *rs = j->pair_schema; /* right keys: over the right columns */
    tb_rc rc = tb_buf_printf(buf, "%s on ", join_name(j->type));

    for (uint32_t k = 0; k < j->n_keys && rc == TB_OK; k++) {
        if (k > 0)
            rc = tb_buf_puts(buf, " AND ");
        if (rc == TB_OK)
            rc = tb_expr_format(j->left_keys[k], ls, buf);
        if (rc == TB_OK)
            rc = tb_buf_puts(buf, " = ");
        if (rc == TB_OK && j->right_keys != NULL) {
            rc = tb_expr_format(j->right_keys[k], op->n_children > 1 ? op->children[1]->schema : rs,
                                buf);
        } else if (rc == TB_OK) {
            rc = tb_buf_printf(buf, "build.key%u", k + 1);
        }
    }
    if (rc == TB_OK && j->residual != NULL) {
        rc = tb_buf_puts(buf, " filter ");
        if (rc == TB_OK)
            rc = tb_expr_format(j->residual, j->pair_schema, buf);
    }
    if (rc == TB_OK && j->once != NULL)
        rc = tb_buf_puts(buf, " (build side shared by the workers)");
    else if (rc == TB_OK && op->n_children == 1 && j->table != NULL)
        rc = tb_buf_printf(buf, " (shared build: %llu rows)",
                           (unsigned long long)tb_hashjoin_table_rows(j->table));
    return rc;
}

static const tb_op_vt hj_vt = {"hash join", hj_next, hj_free, hj_explain, hj_rescan};

/* Schema of left + right columns with the nullability the join type implies. */
static tb_schema *join_schema(const tb_schema *ls, const tb_schema *rs, tb_join_type type,
                              bool pairs)
{
    uint32_t nl = ls->n, nr = pairs ? rs->n : 0;
    tb_schema *s = tb_schema_new(nl + nr);
    bool lnull = type == TB_JOIN_RIGHT || type == TB_JOIN_FULL;
    bool rnull = type == TB_JOIN_LEFT || type == TB_JOIN_FULL;

    if (s == NULL)
        return NULL;
    for (uint32_t c = 0; c < nl; c++) {
        if (tb_schema_set(s, c, ls->fields[c].name, ls->fields[c].type,
                          ls->fields[c].nullable || lnull) != TB_OK)
            goto fail;
    }
    for (uint32_t c = 0; c < nr; c++) {
        if (tb_schema_set(s, nl + c, rs->fields[c].name, rs->fields[c].type,
                          rs->fields[c].nullable || rnull) != TB_OK)
            goto fail;
    }
    return s;
fail:
    tb_schema_free(s);
    return NULL;
}

/* Common part of both constructors; on failure frees j (and so its children). */
static tb_rc hj_init(hj_op *j, const tb_schema *rs, tb_join_type type, uint32_t n_keys,
                     tb_expr **left_keys, tb_expr *residual, tb_err *err)
{
    const tb_schema *ls = j->base.children[0]->schema;
    tb_rc rc;

    j->type = type;
    j->n_keys = n_keys;
    j->residual = residual;
    if ((unsigned)type > TB_JOIN_ANTI || n_keys == 0) {
        rc = TB_ERRF(err, TB_E_MISUSE, "hash join: bad join type or no keys");
        goto fail;
    }
    j->left_keys = tb_malloc(n_keys * sizeof(tb_expr *));
    j->pkeys = tb_calloc(n_keys, sizeof(tb_vec));
    j->parena = tb_arena_new(64 * 1024);
    j->arena = tb_arena_new(256 * 1024);
    j->scratch = tb_arena_new(256 * 1024);
    j->base.schema = join_schema(ls, rs, type, emits_pairs(type));
    j->pair_schema = join_schema(ls, rs, type, true);
    if (j->left_keys == NULL || j->pkeys == NULL || j->parena == NULL || j->arena == NULL ||
        j->scratch == NULL || j->base.schema == NULL || j->pair_schema == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    memcpy(j->left_keys, left_keys, n_keys * sizeof(tb_expr *));
    if (residual != NULL && residual->type.id != TB_T_BOOL && residual->type.id != TB_T_NULL) {
        rc = TB_ERRPOS(err, TB_E_TYPE, residual->pos,
                       "hash join: join condition is not "
                       "boolean");
        goto fail;
    }
    return TB_OK;
fail:
    tb_op_free(&j->base);
    return rc;
}

tb_rc tb_op_hash_join_new(tb_op *left, tb_op *right, tb_join_type type, uint32_t n_keys,
                          tb_expr **left_keys, tb_expr **right_keys, tb_expr *residual, tb_op **out,
                          tb_err *err)
{
    tb_op *kids[2] = {left, right};
    hj_op *j = tb_op_alloc(sizeof(*j), &hj_vt, 2, kids);
    tb_rc rc;

    *out = NULL;
    if (j == NULL) {
        tb_op_free_all(kids, 2);
        return tb_err_nomem(err);
    }
    rc = hj_init(j, right->schema, type, n_keys, left_keys, residual, err);
    if (rc != TB_OK)
        return rc;
    j->right_keys = tb_malloc(n_keys * sizeof(tb_expr *));
    if (j->right_keys == NULL) {
        tb_op_free(&j->base);
        return tb_err_nomem(err);
    }
    memcpy(j->right_keys, right_keys, n_keys * sizeof(tb_expr *));
    for (uint32_t k = 0; k < n_keys; k++) {
        if (!same_key_type(left_keys[k]->type, right_keys[k]->type)) {
            char b1[64], b2[64];
            rc = TB_ERRPOS(err, TB_E_TYPE, left_keys[k]->pos,
                           "hash join: key %u types differ "
                           "(%s = %s)",
                           k + 1, tb_type_name(left_keys[k]->type, b1, sizeof(b1)),
                           tb_type_name(right_keys[k]->type, b2, sizeof(b2)));
            tb_op_free(&j->base);
            return rc;
        }
    }
    j->phase = PH_BUILD;
    *out = &j->base;
    return TB_OK;
}

tb_rc tb_op_hash_join_new_shared(tb_op *left, tb_hashjoin_table *table, tb_join_type type,
                                 uint32_t n_keys, tb_expr **left_keys, tb_expr *residual,
                                 tb_op **out, tb_err *err)
{
    hj_op *j = tb_op_alloc(sizeof(*j), &hj_vt, 1, &left);
    tb_rc rc;

    *out = NULL;
    if (j == NULL) {
        tb_op_free(left);
        return tb_err_nomem(err);
    }
    if (!table->finished || n_keys != table->n_keys) {
        tb_op_free(&j->base);
        return TB_ERRF(err, TB_E_MISUSE,
                       "hash join: shared build table not finished or "
                       "key count differs");
    }
    j->table = tb_hashjoin_table_ref(table);
    rc = hj_init(j, table->schema, type, n_keys, left_keys, residual, err);
    if (rc != TB_OK)
        return rc;
    for (uint32_t k = 0; k < n_keys; k++) {
        tb_type bt = table->store.cols[table->key_col[k]].type;
        if (!same_key_type(left_keys[k]->type, bt)) {
            char b1[64], b2[64];
            rc = TB_ERRPOS(err, TB_E_TYPE, left_keys[k]->pos,
                           "hash join: key %u types differ "
                           "(%s = %s)",
                           k + 1, tb_type_name(left_keys[k]->type, b1, sizeof(b1)),
                           tb_type_name(bt, b2, sizeof(b2)));
            tb_op_free(&j->base);
            return rc;
        }
    }
    j->phase = PH_PROBE;
    *out = &j->base;
    return TB_OK;
}

tb_rc tb_op_hash_join_new_once(tb_op *left, tb_hashjoin_once *once, tb_join_type type,
                               uint32_t n_keys, tb_expr **left_keys, tb_expr *residual,
                               tb_op **out, tb_err *err)
{
    hj_op *j = tb_op_alloc(sizeof(*j), &hj_vt, 1, &left);
    tb_rc rc;

    *out = NULL;
    if (j == NULL) {
        tb_op_free(left);
        return tb_err_nomem(err);
    }
    if (n_keys != once->n_keys || type == TB_JOIN_RIGHT || type == TB_JOIN_FULL) {
        tb_op_free(&j->base);
        return TB_ERRF(err, TB_E_MISUSE,
                       "hash join: shared build with another key count, or a RIGHT/FULL join");
    }
    j->once = tb_hashjoin_once_ref(once);
    rc = hj_init(j, once->schema, type, n_keys, left_keys, residual, err);
    if (rc != TB_OK)
        return rc;
    for (uint32_t k = 0; k < n_keys; k++) {
        if (!same_key_type(left_keys[k]->type, once->keys[k]->type)) {
            char b1[64], b2[64];
            rc = TB_ERRPOS(err, TB_E_TYPE, left_keys[k]->pos,
                           "hash join: key %u types differ "
                           "(%s = %s)",
                           k + 1, tb_type_name(left_keys[k]->type, b1, sizeof(b1)),
                           tb_type_name(once->keys[k]->type, b2, sizeof(b2)));
            tb_op_free(&j->base);
            return rc;
        }
    }
    j->phase = PH_BUILD;
    *out = &j->base;
    return TB_OK;
}
