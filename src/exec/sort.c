/*
 * sort.c - ORDER BY: full sort, and top-N when a limit is given.
 *
 * Rows are copied into a column store (child columns, then the evaluated sort keys that
 * are not plain column references). Sorting orders an array of (normalized first key,
 * row id) entries:
 *   - rows whose first key is NULL are partitioned out first (placed before or after,
 *     NULLS FIRST/LAST) and only ordered by the remaining keys;
 *   - the first key is normalized to a uint64 whose unsigned order is the SQL order
 *     (sign bit flipped for integers, IEEE bit trick for floats with -0 = 0 and NaN
 *     above all numbers, bits inverted for DESC); strings take 7 bytes per round plus
 *     a length byte, so equal keys either mean equal strings or "look at the next 7
 *     bytes" (see str_key);
 *   - a stable LSD radix sort orders the entries by that key (bytes equal in every
 *     entry are skipped), then runs of equal keys are refined: next string bytes
 *     (radix again), or a typed comparison of the rows (wide numerics, strings with
 *     more than STR_ROUNDS * 7 common bytes, further sort keys) by a merge sort;
 *   - entries start in input order and every step is stable, so the sort is stable.
 * Top-N keeps at most N candidate rows in a max-heap (worst on top); rows of a batch
 * that do not beat the current worst are never copied, and the store is compacted when
 * discarded rows pile up, so memory stays O(N + batch).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exec/op_int.h"

/* Limits above this use the full sort (then stop after `limit` rows). */
#define TOPN_MAX 1000000

typedef struct ent {
    uint64_t k;
    uint32_t row;
} ent;

typedef struct sort_op {
    tb_op base;
    uint32_t n_keys;
    tb_sortkey *keys;
    uint32_t *key_col; /* store column of key k */
    uint32_t n_child_cols;
    int64_t limit; /* < 0: none */
    tb_colstore store;
    bool done_input;
    /* result */
    uint32_t *order;
    uint32_t n_order;
    uint32_t emit_pos;
    /* top-N */
    bool topn;
    uint32_t *heap;
    uint32_t n_heap;
    size_t heap_cap;
    tb_arena *arena;
    tb_arena *scratch;
    /* sort context */
    bool tie;          /* equal k needs the typed comparison */
    uint32_t tie_from; /* first key compared by the typed comparison */
} sort_op;

/* ---------------------------------------------------------------- comparison */

/* Typed comparison of store rows a and b on keys from..n_keys-1, then row id. */
static int cmp_rows(const sort_op *s, uint32_t a, uint32_t b, uint32_t from)
{
    for (uint32_t k = from; k < s->n_keys; k++) {
        const tb_vec *v = &s->store.cols[s->key_col[k]];
        bool na = tb_op_row_null(v, a), nb = tb_op_row_null(v, b);
        int c;
        if (na || nb) {
            if (na && nb)
                continue;
            c = na ? -1 : 1; /* NULL first ... */
            return s->keys[k].nulls_first ? c : -c;
        }
        c = tb_op_cmp(v, a, v, b);
        if (c != 0)
            return s->keys[k].desc ? -c : c;
    }
    return (a > b) - (a < b);
}

/* Comparison of an incoming row (key vectors kv, row i) with store row b; an incoming
 * row comes after every stored row, so ties favour the stored one. */
static int cmp_in(const sort_op *s, const tb_vec *kv, uint32_t i, uint32_t b)
{
    for (uint32_t k = 0; k < s->n_keys; k++) {
        const tb_vec *v = &s->store.cols[s->key_col[k]];
        bool na = tb_op_row_null(&kv[k], i), nb = tb_op_row_null(v, b);
        int c;
        if (na || nb) {
            if (na && nb)
                continue;
            c = na ? -1 : 1;
            return s->keys[k].nulls_first ? c : -c;
        }
        c = tb_op_cmp(&kv[k], i, v, b);
        if (c != 0)
            return s->keys[k].desc ? -c : c;
    }
    return 1;
}

static inline int ent_cmp(const sort_op *s, const ent *a, const ent *b)
{
    if (a->k != b->k)
        return a->k < b->k ? -1 : 1;
    if (s->tie)
        return cmp_rows(s, a->row, b->row, s->tie_from);
    return (a->row > b->row) - (a->row < b->row);
}

/* Stable merge sort: insertion-sorted runs of 16, then bottom-up merges. */
static void ent_sort(const sort_op *s, ent *a, ent *tmp, size_t n)
{
    const size_t run = 16;

    for (size_t lo = 0; lo < n; lo += run) {
        size_t hi = TB_MIN(lo + run, n);
        for (size_t i = lo + 1; i < hi; i++) {
            ent x = a[i];
            size_t j = i;
            while (j > lo && ent_cmp(s, &x, &a[j - 1]) < 0) {
                a[j] = a[j - 1];
                j--;
            }
            a[j] = x;
        }
    }
    for (size_t width = run; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = TB_MIN(lo + width, n), hi = TB_MIN(lo + 2 * width, n);
            size_t i = lo, j = mid, o = lo;
            if (mid >= hi || ent_cmp(s, &a[mid - 1], &a[mid]) <= 0) {
                memcpy(tmp + lo, a + lo, (hi - lo) * sizeof(ent));
                continue;
            }
            while (i < mid && j < hi)
                tmp[o++] = ent_cmp(s, &a[j], &a[i]) < 0 ? a[j++] : a[i++];
            while (i < mid)
                tmp[o++] = a[i++];
            while (j < hi)
                tmp[o++] = a[j++];
        }
        memcpy(a, tmp, n * sizeof(ent));
    }
}

static inline uint64_t norm_i64(int64_t x) { return (uint64_t)x ^ 0x8000000000000000ULL; }

static inline uint64_t norm_dbl(double x)
{
    uint64_t u;
    if (x == 0.0)
        x = 0.0;
    if (isnan(x))
        u = 0x7ff8000000000000ULL;
    else
        memcpy(&u, &x, sizeof(u));
    return (u >> 63) ? ~u : (u | 0x8000000000000000ULL);
}

static inline uint64_t norm_i128_hi(tb_i128 x)
{
    return (uint64_t)((unsigned __int128)x >> 64) ^ 0x8000000000000000ULL;
}

static bool fits_i64(tb_i128 x) { return x >= INT64_MIN && x <= INT64_MAX; }

/* String key at byte offset off: the next 7 bytes big-endian, then min(remaining, 7) in
 * the low byte. Unsigned order of keys = string order given equal bytes before off; equal
 * keys with a low byte of 7 need the next 7 bytes (refine), others are equal strings. */
static inline uint64_t str_key(tb_str x, uint32_t off)
{
    uint32_t rem = x.len > off ? x.len - off : 0, m = TB_MIN(rem, 7u);
    const uint8_t *p = (const uint8_t *)x.ptr + off;
    uint64_t k = m;

    for (uint32_t b = 0; b < m; b++)
        k |= (uint64_t)p[b] << (56 - 8 * b);
    return k;
}

/* Normalized first key of the non-NULL rows e[0..n); returns whether it is exact
 * (strings: exact per 7-byte round, see str_key). */
static bool normalize(const sort_op *s, ent *e, size_t n)
{
    const tb_vec *v = &s->store.cols[s->key_col[0]];
    bool exact = true;

    switch ((tb_type_id)v->type.id) {
    case TB_T_BOOL:
        for (size_t i = 0; i < n; i++)
            e[i].k = ((const uint8_t *)v->data)[e[i].row] != 0;
        break;
    case TB_T_INT16:
        for (size_t i = 0; i < n; i++)
            e[i].k = norm_i64(((const int16_t *)v->data)[e[i].row]);
        break;
    case TB_T_INT32:
    case TB_T_DATE:
        for (size_t i = 0; i < n; i++)
            e[i].k = norm_i64(((const int32_t *)v->data)[e[i].row]);
        break;
    case TB_T_INT64:
    case TB_T_TIMESTAMP:
        for (size_t i = 0; i < n; i++)
            e[i].k = norm_i64(((const int64_t *)v->data)[e[i].row]);
        break;
    case TB_T_FLOAT:
        for (size_t i = 0; i < n; i++)
            e[i].k = norm_dbl(((const float *)v->data)[e[i].row]);
        break;
    case TB_T_DOUBLE:
        for (size_t i = 0; i < n; i++)
            e[i].k = norm_dbl(((const double *)v->data)[e[i].row]);
        break;
    case TB_T_DECIMAL:
    case TB_T_INTERVAL: {
        bool small = true;
        for (size_t i = 0; i < n && small; i++) {
            uint32_t r = e[i].row;
            tb_i128 x = v->type.id == TB_T_DECIMAL
                            ? ((const tb_i128 *)v->data)[r]
                            : tb_op_interval_span(((const tb_interval *)v->data)[r]);
            small = fits_i64(x);
        }
        for (size_t i = 0; i < n; i++) {
            uint32_t r = e[i].row;
            tb_i128 x = v->type.id == TB_T_DECIMAL
                            ? ((const tb_i128 *)v->data)[r]
                            : tb_op_interval_span(((const tb_interval *)v->data)[r]);
            e[i].k = small ? norm_i64((int64_t)x) : norm_i128_hi(x);
        }
        exact = small;
        break;
    }
    case TB_T_STRING:
        for (size_t i = 0; i < n; i++)
            e[i].k = str_key(((const tb_str *)v->data)[e[i].row], 0);
        break;
    default:
        for (size_t i = 0; i < n; i++)
            e[i].k = 0;
        break;
    }
    if (s->keys[0].desc) {
        for (size_t i = 0; i < n; i++)
            e[i].k = ~e[i].k;
    }
    return exact;
}

/* Stable LSD radix sort on k (8-bit digits; digits equal in every entry are skipped). */
static void radix_sort(ent *a, ent *tmp, size_t n)
{
    static const size_t small = 64;
    size_t(*cnt)[256];
    ent *src = a, *dst = tmp;

    if (n < small) {
        for (size_t i = 1; i < n; i++) { /* stable insertion sort */
            ent x = a[i];
            size_t j = i;
            while (j > 0 && a[j - 1].k > x.k) {
                a[j] = a[j - 1];
                j--;
            }
            a[j] = x;
        }
        return;
    }
    cnt = tb_calloc(8, sizeof(*cnt));
    if (cnt == NULL) { /* no memory for the histograms: merge sort needs none */
        sort_op s0;
        memset(&s0, 0, sizeof(s0));
        ent_sort(&s0, a, tmp, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t k = a[i].k;
        for (int d = 0; d < 8; d++)
            cnt[d][(k >> (8 * d)) & 255]++;
    }
    for (int d = 0; d < 8; d++) {
        size_t off = 0, *c = cnt[d];
        if (c[(src[0].k >> (8 * d)) & 255] == n)
            continue;
        for (int b = 0; b < 256; b++) {
            size_t x = c[b];
            c[b] = off;
            off += x;
        }
        for (size_t i = 0; i < n; i++)
            dst[c[(src[i].k >> (8 * d)) & 255]++] = src[i];
        ent *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof(ent));
    tb_free(cnt);
}

/* Rounds of 7 string bytes before falling back to comparing whole strings. */
#define STR_ROUNDS 8

/*
 * Entries e[0..n) are sorted by k; order each run of equal k by what k did not decide:
 * the next string bytes, the exact value (wide numerics), then the other keys.
 */
static void refine(sort_op *s, ent *e, ent *tmp, size_t n, uint32_t round, bool exact)
{
    const tb_vec *v = &s->store.cols[s->key_col[0]];
    bool is_str = v->type.id == TB_T_STRING, desc = s->keys[0].desc;

    for (size_t lo = 0, hi; lo < n; lo = hi) {
        uint64_t k = e[lo].k, orig = desc ? ~k : k;
        for (hi = lo + 1; hi < n && e[hi].k == k; hi++)
            ;
        if (hi - lo < 2)
            continue;
        if (is_str && (orig & 255) == 7) {
            if (round + 1 < STR_ROUNDS) {
                uint32_t off = 7 * (round + 1);
                for (size_t i = lo; i < hi; i++) {
                    uint64_t nk = str_key(((const tb_str *)v->data)[e[i].row], off);
                    e[i].k = desc ? ~nk : nk;
                }
                radix_sort(e + lo, tmp, hi - lo);
                refine(s, e + lo, tmp, hi - lo, round + 1, exact);
                for (size_t i = lo; i < hi; i++)
                    e[i].k = k; /* restore: the caller's runs are delimited by k */
                continue;
            }
            s->tie = true; /* long common prefix: compare whole strings */
            s->tie_from = 0;
        } else if (!exact) {
            s->tie = true;
            s->tie_from = 0;
        } else if (s->n_keys > 1) {
            s->tie = true;
            s->tie_from = 1;
        } else {
            continue; /* equal keys: radix sort kept input order */
        }
        ent_sort(s, e + lo, tmp, hi - lo);
    }
}

/* Sort store rows rows[0..n) (ascending ids: ties keep this order) into s->order. */
static tb_rc sort_rows(sort_op *s, const uint32_t *rows, uint32_t n, tb_err *err)
{
    const tb_vec *k0 = &s->store.cols[s->key_col[0]];
    ent *e = tb_malloc(((size_t)n + 1) * sizeof(ent));
    ent *tmp = tb_malloc(((size_t)n + 1) * sizeof(ent));
    uint32_t n_null = 0, n_val = 0, *order;
    bool exact;

    order = tb_malloc(((size_t)n + 1) * sizeof(uint32_t));
    if (e == NULL || tmp == NULL || order == NULL) {
        tb_free(e);
        tb_free(tmp);
        tb_free(order);
        return tb_err_nomem(err);
    }
    /* Non-NULL first keys at the front, NULLs from the back (reversed, fixed below);
     * rows are in input order within each part. */
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = rows ? rows[i] : i;
        if (tb_op_row_null(k0, r))
            e[n - 1 - n_null++].row = r;
        else
            e[n_val++].row = r;
    }
    for (uint32_t i = 0; i < n_null / 2; i++) {
        ent t = e[n_val + i];
        e[n_val + i] = e[n - 1 - i];
        e[n - 1 - i] = t;
    }
    exact = normalize(s, e, n_val);
    radix_sort(e, tmp, n_val);
    refine(s, e, tmp, n_val, 0, exact);
    if (n_null > 1 && s->n_keys > 1) {
        for (uint32_t i = n_val; i < n; i++)
            e[i].k = 0;
        s->tie = true;
        s->tie_from = 1;
        ent_sort(s, e + n_val, tmp, n_null);
    }
    if (s->keys[0].nulls_first) {
        for (uint32_t i = 0; i < n_null; i++)
            order[i] = e[n_val + i].row;
        for (uint32_t i = 0; i < n_val; i++)
            order[n_null + i] = e[i].row;
    } else {
        for (uint32_t i = 0; i < n; i++)
            order[i] = e[i].row;
    }
    tb_free(e);
    tb_free(tmp);
    tb_free(s->order);
    s->order = order;
    s->n_order = n;
    return TB_OK;
}

/* ---------------------------------------------------------------- top-N heap */

static void sift_down(sort_op *s, uint32_t i)
{
    uint32_t n = s->n_heap, *h = s->heap;
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && cmp_rows(s, h[l], h[m], 0) > 0)
            m = l;
        if (r < n && cmp_rows(s, h[r], h[m], 0) > 0)
            m = r;
        if (m == i)
            return;
        uint32_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void sift_up(sort_op *s, uint32_t i)
{
    uint32_t *h = s->heap;
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (cmp_rows(s, h[i], h[p], 0) <= 0)
            return;
        uint32_t t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Drop store rows that are not in the heap (row order preserved, ids renumbered). */
static tb_rc compact(sort_op *s, tb_err *err)
{
    uint32_t n = s->n_heap, *keep = tb_malloc(((size_t)n + 1) * sizeof(uint32_t));
    uint32_t *map = tb_malloc(((size_t)s->store.n_rows + 1) * sizeof(uint32_t));
    tb_colstore st;
    tb_type *types = tb_malloc((s->store.n_cols + 1) * sizeof(tb_type));
    tb_rc rc = TB_OK;

    if (keep == NULL || map == NULL || types == NULL) {
        rc = tb_err_nomem(err);
        goto done;
    }
    memcpy(keep, s->heap, n * sizeof(uint32_t));
    qsort(keep, n, sizeof(uint32_t), cmp_u32);
    for (uint32_t i = 0; i < n; i++)
        map[keep[i]] = i;
    for (uint32_t c = 0; c < s->store.n_cols; c++)
        types[c] = s->store.cols[c].type;
    rc = tb_colstore_init(&st, s->store.n_cols, types, err);
    if (rc != TB_OK)
        goto done;
    rc = tb_colstore_append(&st, s->store.cols, keep, n, err);
    if (rc != TB_OK) {
        tb_colstore_free(&st);
        goto done;
    }
    tb_colstore_free(&s->store);
    s->store = st;
    /* Relative order of rows is unchanged, so the heap stays a heap. */
    for (uint32_t i = 0; i < n; i++)
        s->heap[i] = map[s->heap[i]];
done:
    tb_free(keep);
    tb_free(map);
    tb_free(types);
    return rc;
}

static tb_rc topn_consume(sort_op *s, const tb_vec *src, const tb_vec *kv, uint32_t n, tb_err *err)
{
    uint32_t lim = (uint32_t)s->limit, n_sel = 0, first;
    uint32_t *sel = tb_arena_alloc(s->scratch, (n ? n : 1) * sizeof(uint32_t));
    tb_rc rc;

    if (sel == NULL)
        return tb_err_nomem(err);
    for (uint32_t i = 0; i < n; i++) {
        /* Only rows that beat the current worst can enter (the worst only improves). */
        if (s->n_heap < lim || cmp_in(s, kv, i, s->heap[0]) < 0)
            sel[n_sel++] = i;
    }
    if (n_sel == 0)
        return TB_OK;
    first = s->store.n_rows;
    rc = tb_colstore_append(&s->store, src, sel, n_sel, err);
    if (rc != TB_OK)
        return rc;
    if (s->n_heap < lim &&
        tb_grow((void **)&s->heap, &s->heap_cap, TB_MIN((size_t)lim, (size_t)s->n_heap + n_sel),
                sizeof(uint32_t)) != TB_OK)
        return tb_err_nomem(err);
    for (uint32_t r = first; r < first + n_sel; r++) {
        if (s->n_heap < lim) {
            s->heap[s->n_heap++] = r;
            sift_up(s, s->n_heap - 1);
        } else if (cmp_rows(s, r, s->heap[0], 0) < 0) {
            s->heap[0] = r;
            sift_down(s, 0);
        }
    }
    if (s->store.n_rows > 2 * (uint64_t)lim + TB_BATCH_CAP)
        return compact(s, err);
    return TB_OK;
}

/* ---------------------------------------------------------------- operator */

static tb_rc consume(sort_op *s, tb_err *err)
{
    tb_op *child = s->base.children[0];
    uint32_t nc = s->n_child_cols;
    tb_rc rc;

    for (;;) {
        tb_batch *batch = NULL;
        tb_vec *src, *kv;

        tb_arena_reset(s->scratch);
        rc = tb_op_next(child, &batch, err);
        if (rc != TB_OK)
            return rc;
        if (batch == NULL)
            break;
        if (batch->n_rows == 0)
            continue;
        src = tb_arena_alloc(s->scratch, (s->store.n_cols + 1) * sizeof(tb_vec));
        kv = tb_arena_alloc(s->scratch, (s->n_keys + 1) * sizeof(tb_vec));
        if (src == NULL || kv == NULL)
            return tb_err_nomem(err);
        memcpy(src, batch->cols, nc * sizeof(tb_vec));
        for (uint32_t k = 0; k < s->n_keys; k++) {
            rc = tb_op_eval(s->keys[k].expr, batch, s->scratch, &kv[k], err);
            if (rc != TB_OK)
                return rc;
            if (s->key_col[k] >= nc)
                src[s->key_col[k]] = kv[k];
        }
        if (s->topn)
            rc = topn_consume(s, src, kv, batch->n_rows, err);
        else
            rc = tb_colstore_append(&s->store, src, NULL, batch->n_rows, err);
        if (rc != TB_OK)
            return rc;
    }
    if (s->topn) {
        /* sort_rows is stable in the order of the rows given: restore input order */
        if (s->n_heap > 1)
            qsort(s->heap, s->n_heap, sizeof(uint32_t), cmp_u32);
        rc = sort_rows(s, s->heap, s->n_heap, err);
    } else
        rc = sort_rows(s, NULL, s->store.n_rows, err);
    if (rc != TB_OK)
        return rc;
    if (s->limit >= 0 && (uint64_t)s->n_order > (uint64_t)s->limit)
        s->n_order = (uint32_t)s->limit;
    return TB_OK;
}

static tb_rc sort_next(tb_op *op, tb_batch **out, tb_err *err)
{
    sort_op *s = (sort_op *)op;
    tb_batch *batch = NULL;
    uint32_t n;
    tb_rc rc;

    *out = NULL;
    tb_arena_reset(s->arena);
    if (!s->done_input) {
        if (s->limit == 0) {
            s->done_input = true; /* LIMIT 0: nothing to read */
            return TB_OK;
        }
        rc = consume(s, err);
        if (rc != TB_OK)
            return rc;
        s->done_input = true;
    }
    if (s->emit_pos >= s->n_order)
        return TB_OK;
    n = TB_MIN(s->n_order - s->emit_pos, (uint32_t)TB_BATCH_CAP);
    if (tb_batch_shell(s->n_child_cols, s->arena, &batch) != TB_OK)
        return tb_err_nomem(err);
    for (uint32_t c = 0; c < s->n_child_cols; c++) {
        if (tb_op_gather_new(&batch->cols[c], &s->store.cols[c], s->order + s->emit_pos, n,
                             s->arena) != TB_OK)
            return tb_err_nomem(err);
    }
    batch->n_rows = n;
    batch->cap = n;
    s->emit_pos += n;
    *out = batch;
    return TB_OK;
}

static void sort_free(tb_op *op)
{
    sort_op *s = (sort_op *)op;
    tb_colstore_free(&s->store);
    tb_free(s->keys);
    tb_free(s->key_col);
    tb_free(s->order);
    tb_free(s->heap);
    tb_arena_free(s->arena);
    tb_arena_free(s->scratch);
}

static tb_rc sort_explain(tb_op *op, tb_buf *buf)
{
    sort_op *s = (sort_op *)op;
    tb_rc rc = TB_OK;

    for (uint32_t k = 0; k < s->n_keys && rc == TB_OK; k++) {
        if (k > 0)
            rc = tb_buf_puts(buf, ", ");
        if (rc == TB_OK)
            rc = tb_expr_format(s->keys[k].expr, op->children[0]->schema, buf);
        if (rc == TB_OK && s->keys[k].desc)
            rc = tb_buf_puts(buf, " DESC");
        if (rc == TB_OK && s->keys[k].nulls_first != s->keys[k].desc)
            rc = tb_buf_puts(buf, s->keys[k].nulls_first ? " NULLS FIRST" : " NULLS LAST");
    }
    if (rc == TB_OK && s->limit >= 0)
        rc = tb_buf_printf(buf, " (top %lld)", (long long)s->limit);
    return rc;
}

static tb_rc sort_rescan(tb_op *op, tb_err *err)
{
    sort_op *s = (sort_op *)op;
    tb_colstore_clear(&s->store);
    s->done_input = false;
    s->n_order = 0;
    s->emit_pos = 0;
    s->n_heap = 0;
    tb_arena_reset(s->arena);
    tb_arena_reset(s->scratch);
    return tb_op_rescan_children(op, err);
}

static const tb_op_vt sort_vt = {"sort", sort_next, sort_free, sort_explain, sort_rescan};

tb_rc tb_op_sort_new(tb_op *child, uint32_t n_keys, const tb_sortkey *keys, int64_t limit,
                     tb_op **out, tb_err *err)
{
    sort_op *s = tb_op_alloc(sizeof(*s), &sort_vt, 1, &child);
    const tb_schema *cs = child->schema;
    tb_type *types = NULL;
    uint32_t n_cols = cs->n;
    tb_rc rc;

    *out = NULL;
    if (s == NULL) {
        tb_op_free(child);
        return tb_err_nomem(err);
    }
    if (n_keys == 0) {
        rc = TB_ERRF(err, TB_E_MISUSE, "sort: no keys");
        goto fail;
    }
    s->n_keys = n_keys;
    s->n_child_cols = cs->n;
    s->limit = limit < 0 ? -1 : limit;
    s->topn = limit > 0 && limit <= TOPN_MAX;
    s->keys = tb_malloc(n_keys * sizeof(tb_sortkey));
    s->key_col = tb_malloc(n_keys * sizeof(uint32_t));
    types = tb_malloc((cs->n + n_keys) * sizeof(tb_type));
    s->arena = tb_arena_new(256 * 1024);
    s->scratch = tb_arena_new(256 * 1024);
    s->base.schema = tb_schema_copy(cs);
    if (s->keys == NULL || s->key_col == NULL || types == NULL || s->arena == NULL ||
        s->scratch == NULL || s->base.schema == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    memcpy(s->keys, keys, n_keys * sizeof(tb_sortkey));
    for (uint32_t c = 0; c < cs->n; c++)
        types[c] = cs->fields[c].type;
    for (uint32_t k = 0; k < n_keys; k++) {
        tb_expr *e = keys[k].expr;
        if (e->kind == TB_EX_COL && e->col >= 0 && (uint32_t)e->col < cs->n &&
            tb_type_eq(types[e->col], e->type)) {
            s->key_col[k] = (uint32_t)e->col;
        } else {
            s->key_col[k] = n_cols;
            types[n_cols++] = e->type;
        }
    }
    rc = tb_colstore_init(&s->store, n_cols, types, err);
    if (rc != TB_OK)
        goto fail;
    tb_free(types);
    *out = &s->base;
    return TB_OK;
fail:
    tb_free(types);
    tb_op_free(&s->base);
    return rc;
}
