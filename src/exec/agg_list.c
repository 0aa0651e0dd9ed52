/*
 * agg_list.c - aggregates that need every value of a group (issue 13): string_agg (with
 * ORDER BY inside the call), percentile_cont / percentile_disc / mode (WITHIN GROUP),
 * and the HyperLogLog sketch of approx_count_distinct.
 *
 * The hash aggregate feeds one argument vector per aggregate, so the binder folds every
 * input of a "list" aggregate into one value with a pack call (tb_agg_pack_call): a byte
 * string holding the sort key then the payload. The hash aggregate only appends packed
 * entries to a per-group blob (a string state column, so checkpoint images, change sets,
 * compaction and parallel merges carry it like any other state) and the final step here
 * decodes the blob, sorts the entries by key and computes the result.
 *
 *   entry  = u16 key length, key bytes, payload
 *   key    = per ORDER BY key: one NULL-flag byte (0 sorts first: 0 for values under NULLS
 *            LAST, 0 for NULL under NULLS FIRST), then the value encoded so that memcmp
 *            orders as the type does (big-endian with the sign bit flipped; doubles by
 *            their bits, -0 as 0, every NaN as one NaN above +Infinity as PostgreSQL;
 *            intervals by their 30-day-month span as PostgreSQL compares them; strings
 *            byte-wise with 0x00 escaped as 00 FF and a 00 00 terminator); DESC inverts
 *            the value bytes.
 *   payload  string_agg: u32 value length, value bytes, separator bytes (to the end);
 *            others: the value (fixed width bytes, or the string's bytes).
 *   blob   = a series of (u32 entry length, entry).
 * Entries with equal keys keep their arrival order (a stable sort), as any order is
 * correct for PostgreSQL there.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/agg_list.h"
#include "exec/expr_int.h"

/* ---------------------------------------------------------------- key encoding */

static void put_be(uint8_t *p, uint64_t v, int nbytes)
{
    for (int k = nbytes - 1; k >= 0; k--) {
        p[k] = (uint8_t)v;
        v >>= 8;
    }
}

/* Order-preserving bytes of row i of v into p (room for 17 bytes); strings are handled
 * by the caller. Returns the byte count. */
static size_t enc_fixed(const tb_vec *v, uint32_t i, uint8_t *p)
{
    switch ((tb_type_id)v->type.id) {
    case TB_T_BOOL:
        p[0] = ((const uint8_t *)v->data)[i] != 0;
        return 1;
    case TB_T_INT16:
        put_be(p, (uint16_t)((const int16_t *)v->data)[i] ^ 0x8000u, 2);
        return 2;
    case TB_T_INT32:
    case TB_T_DATE:
        put_be(p, (uint32_t)((const int32_t *)v->data)[i] ^ 0x80000000u, 4);
        return 4;
    case TB_T_INT64:
    case TB_T_TIMESTAMP:
        put_be(p, (uint64_t)((const int64_t *)v->data)[i] ^ 0x8000000000000000ULL, 8);
        return 8;
    case TB_T_FLOAT:
    case TB_T_DOUBLE: {
        double d = v->type.id == TB_T_FLOAT ? (double)((const float *)v->data)[i]
                                            : ((const double *)v->data)[i];
        uint64_t u;
        if (isnan(d))
            d = NAN;
        if (d == 0.0)
            d = 0.0; /* -0 = 0 */
        memcpy(&u, &d, sizeof(u));
        if (isnan(d))
            u = 0x7ff8000000000000ULL;
        u = (u & 0x8000000000000000ULL) ? ~u : (u | 0x8000000000000000ULL);
        put_be(p, u, 8);
        return 8;
    }
    case TB_T_DECIMAL:
    case TB_T_INTERVAL: {
        tb_i128 x = v->type.id == TB_T_DECIMAL ? ((const tb_i128 *)v->data)[i]
                                               : tb_iv_span(((const tb_interval *)v->data)[i]);
        unsigned __int128 u = (unsigned __int128)x ^ ((unsigned __int128)1 << 127);
        put_be(p, (uint64_t)(u >> 64), 8);
        put_be(p + 8, (uint64_t)u, 8);
        return 16;
    }
    default:
        return 0;
    }
}

/* Upper bound of the key bytes of row i of v. */
static size_t key_size(const tb_vec *v, uint32_t i)
{
    if (v->type.id == TB_T_STRING && !tb_vec_is_null(v, i))
        return 1 + 2 * (size_t)((const tb_str *)v->data)[i].len + 2;
    return 1 + 16;
}

static size_t enc_key(const tb_vec *v, uint32_t i, bool desc, bool nulls_first, uint8_t *p)
{
    size_t n = 0;
    if (tb_vec_is_null(v, i) || v->type.id == TB_T_NULL) {
        p[0] = nulls_first ? 0 : 1;
        return 1;
    }
    p[0] = nulls_first ? 1 : 0;
    uint8_t *q = p + 1;
    if (v->type.id == TB_T_STRING) {
        tb_str s = ((const tb_str *)v->data)[i];
        for (uint32_t k = 0; k < s.len; k++) {
            q[n++] = (uint8_t)s.ptr[k];
            if (s.ptr[k] == 0)
                q[n++] = 0xff;
        }
        q[n++] = 0;
        q[n++] = 0;
    } else {
        n = enc_fixed(v, i, q);
    }
    if (desc) {
        for (size_t k = 0; k < n; k++)
            q[k] = (uint8_t)~q[k];
    }
    return 1 + n;
}

size_t tb_agg_key_size(const tb_vec *v, uint32_t i) { return key_size(v, i); }

size_t tb_agg_key_enc(const tb_vec *v, uint32_t i, uint8_t *p)
{
    return enc_key(v, i, false, false, p);
}

/* ---------------------------------------------------------------- pack call */

/* fn->op: 1 when args[1] is string_agg's separator; k0 / k1: DESC / NULLS FIRST bits of
 * the keys (args after the value and separator). */
static tb_rc pack_kernel(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                         tb_err *err)
{
    const tb_func *fn = e->fn;
    bool has_sep = fn->op == 1;
    uint32_t k0 = has_sep ? 2 : 1;
    const tb_ev *val = &args[0];
    tb_str *dst = out->v.data;

    for (uint32_t i = 0; i < n; i++) {
        uint32_t vi = TB_IX(val, i);
        if (!tb_ev_valid(val, i) || val->v.type.id == TB_T_NULL) {
            if (tb_vec_set_null(&out->v, i, n, arena) != TB_OK)
                return tb_expr_nomem(err);
            dst[i].ptr = "";
            dst[i].len = 0;
            continue;
        }
        size_t need = 2, vlen = 0;
        for (uint32_t a = k0; a < e->n_args; a++)
            need += key_size(&args[a].v, TB_IX(&args[a], i));
        if (val->v.type.id == TB_T_STRING)
            vlen = ((const tb_str *)val->v.data)[vi].len;
        else
            vlen = tb_type_width(val->v.type);
        need += vlen + 4;
        tb_str sep = {"", 0};
        if (has_sep && tb_ev_valid(&args[1], i))
            sep = ((const tb_str *)args[1].v.data)[TB_IX(&args[1], i)];
        need += sep.len;
        if (need > UINT32_MAX / 2)
            return TB_ERRF(err, TB_E_RANGE, "aggregate argument too large");
        uint8_t *p = tb_arena_alloc(arena, need);
        if (p == NULL)
            return tb_expr_nomem(err);
        size_t off = 2;
        for (uint32_t a = k0; a < e->n_args; a++) {
            uint32_t bit = a - k0;
            off += enc_key(&args[a].v, TB_IX(&args[a], i), (fn->k0 >> bit) & 1,
                           (fn->k1 >> bit) & 1, p + off);
        }
        if (off - 2 > UINT16_MAX)
            return TB_ERRF(err, TB_E_RANGE, "ORDER BY key of an aggregate too long (%zu bytes)",
                           off - 2);
        p[0] = (uint8_t)((off - 2) >> 8);
        p[1] = (uint8_t)(off - 2);
        if (has_sep) {
            uint32_t l = (uint32_t)vlen;
            memcpy(p + off, &l, 4);
            off += 4;
        }
        if (val->v.type.id == TB_T_STRING && vlen > 0)
            memcpy(p + off, ((const tb_str *)val->v.data)[vi].ptr, vlen);
        else if (val->v.type.id != TB_T_STRING)
            memcpy(p + off, (const uint8_t *)val->v.data + (size_t)vi * vlen, vlen);
        off += vlen;
        if (has_sep && sep.len > 0) {
            memcpy(p + off, sep.ptr, sep.len);
            off += sep.len;
        }
        dst[i].ptr = (const char *)p;
        dst[i].len = (uint32_t)off;
    }
    return TB_OK;
}

tb_rc tb_agg_pack_call(tb_arena *arena, tb_expr *val, tb_expr *sep, tb_expr **keys,
                       const bool *desc, const bool *nulls_first, uint32_t n_keys, int pos,
                       tb_expr **out, tb_err *err)
{
    uint32_t n = 1 + (sep != NULL) + n_keys;
    tb_expr **args = tb_arena_alloc(arena, n * sizeof(*args));
    /* the directions are part of the name: equal calls (one aggregate) compare equal */
    char *name = tb_arena_alloc(arena, 16 + 2 * (size_t)n_keys);
    if (n_keys > 30)
        return TB_ERRPOS(err, TB_E_UNSUPPORTED, pos, "at most 30 ORDER BY keys in an aggregate");
    if (args == NULL || name == NULL)
        return tb_expr_nomem(err);
    size_t nl = (size_t)sprintf(name, "__aggpack%s", sep ? "s" : "");
    args[0] = val;
    if (sep != NULL)
        args[1] = sep;
    tb_func *fn = tb_expr_func_new(arena, name, pack_kernel, 0, sep != NULL);
    if (fn == NULL)
        return tb_expr_nomem(err);
    for (uint32_t k = 0; k < n_keys; k++) {
        args[1 + (sep != NULL) + k] = keys[k];
        fn->k0 |= (int64_t)desc[k] << k;
        fn->k1 |= (int64_t)nulls_first[k] << k;
        name[nl++] = desc[k] ? 'D' : 'A';
        name[nl++] = nulls_first[k] ? 'F' : 'L';
    }
    name[nl] = 0;
    *out = tb_expr_new_call(arena, name, fn, tb_type_make(TB_T_STRING), args, n, pos);
    return *out ? TB_OK : tb_expr_nomem(err);
}

/* ---------------------------------------------------------------- final step */

typedef struct lentry {
    const uint8_t *key;
    uint32_t klen;
    const uint8_t *pay;
    uint32_t plen;
    uint32_t seq;
} lentry;

static int lentry_cmp(const void *a, const void *b)
{
    const lentry *x = a, *y = b;
    uint32_t m = TB_MIN(x->klen, y->klen);
    int c = memcmp(x->key, y->key, m);
    if (c == 0)
        c = x->klen < y->klen ? -1 : x->klen > y->klen;
    if (c == 0)
        c = x->seq < y->seq ? -1 : x->seq > y->seq;
    return c;
}

/* Parse a blob into entries (malloc'd array, sorted); TB_E_CORRUPT on a bad blob. */
static tb_rc parse_blob(const uint8_t *p, size_t len, lentry **out, uint32_t *n_out, tb_err *err)
{
    size_t off = 0, n = 0, cap = 0;
    lentry *v = NULL;

    *out = NULL;
    *n_out = 0;
    while (off < len) {
        uint32_t el;
        if (len - off < 6)
            goto bad;
        memcpy(&el, p + off, 4);
        off += 4;
        if (el < 2 || el > len - off)
            goto bad;
        uint32_t kl = ((uint32_t)p[off] << 8) | p[off + 1];
        if (kl > el - 2)
            goto bad;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            lentry *nv = tb_realloc(v, nc * sizeof(*nv));
            if (nv == NULL) {
                tb_free(v);
                return tb_err_nomem(err);
            }
            v = nv;
            cap = nc;
        }
        v[n].key = p + off + 2;
        v[n].klen = kl;
        v[n].pay = p + off + 2 + kl;
        v[n].plen = el - 2 - kl;
        v[n].seq = (uint32_t)n;
        n++;
        off += el;
    }
    if (n > 1)
        qsort(v, n, sizeof(*v), lentry_cmp);
    *out = v;
    *n_out = (uint32_t)n;
    return TB_OK;
bad:
    tb_free(v);
    return TB_ERRF(err, TB_E_CORRUPT, "aggregate state: malformed value list");
}

/* Row k of dst = the value in payload e (type dst->type). */
static tb_rc put_value(tb_vec *dst, uint32_t k, const lentry *e, tb_arena *arena, tb_err *err)
{
    if (dst->type.id == TB_T_STRING) {
        char *s = tb_arena_alloc(arena, e->plen ? e->plen : 1);
        if (s == NULL)
            return tb_err_nomem(err);
        if (e->plen > 0)
            memcpy(s, e->pay, e->plen);
        ((tb_str *)dst->data)[k].ptr = s;
        ((tb_str *)dst->data)[k].len = e->plen;
        return TB_OK;
    }
    size_t w = tb_type_width(dst->type);
    if (e->plen != w)
        return TB_ERRF(err, TB_E_CORRUPT, "aggregate state: value of %u bytes, want %zu",
                       e->plen, w);
    memcpy((uint8_t *)dst->data + (size_t)k * w, e->pay, w);
    return TB_OK;
}

static double pay_double(const lentry *e)
{
    double d = 0;
    if (e->plen == sizeof(double))
        memcpy(&d, e->pay, sizeof(d));
    return d;
}

tb_rc tb_agg_list_final(const tb_aggspec *spec, const void *blob, size_t len, tb_arena *arena,
                        tb_vec *dst, uint32_t k, uint32_t cap, tb_err *err)
{
    lentry *v = NULL;
    uint32_t n = 0;
    tb_rc rc = parse_blob(blob, len, &v, &n, err);

    if (rc != TB_OK)
        return rc;
    if (n == 0 || (spec->kind != TB_AGG_STRING_AGG && spec->frac_null)) {
        tb_free(v);
        return tb_vec_set_null(dst, k, cap, arena) == TB_OK ? TB_OK : tb_err_nomem(err);
    }
    switch (spec->kind) {
    case TB_AGG_STRING_AGG: {
        size_t total = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t vl;
            if (v[i].plen < 4)
                goto bad;
            memcpy(&vl, v[i].pay, 4);
            if (vl > v[i].plen - 4)
                goto bad;
            total += v[i].plen - 4; /* value and separator */
        }
        char *s = tb_arena_alloc(arena, total ? total : 1);
        size_t off = 0;
        if (s == NULL) {
            rc = tb_err_nomem(err);
            break;
        }
        for (uint32_t i = 0; i < n; i++) {
            uint32_t vl;
            memcpy(&vl, v[i].pay, 4);
            if (i > 0) { /* each value after the first is preceded by its own separator */
                uint32_t sl = v[i].plen - 4 - vl;
                memcpy(s + off, v[i].pay + 4 + vl, sl);
                off += sl;
            }
            memcpy(s + off, v[i].pay + 4, vl);
            off += vl;
        }
        if (off > UINT32_MAX) {
            rc = TB_ERRF(err, TB_E_RANGE, "string_agg result too large");
            break;
        }
        ((tb_str *)dst->data)[k].ptr = s;
        ((tb_str *)dst->data)[k].len = (uint32_t)off;
        break;
    }
    case TB_AGG_PCT_CONT: {
        /* PostgreSQL's: the rows around frac * (n - 1), interpolated linearly */
        double pos = spec->frac * (double)(n - 1);
        double lo_row = floor(pos), hi_row = ceil(pos);
        double lo = pay_double(&v[(uint32_t)lo_row]), hi = pay_double(&v[(uint32_t)hi_row]);
        ((double *)dst->data)[k] = lo_row == hi_row ? lo : lo + (hi - lo) * (pos - lo_row);
        break;
    }
    case TB_AGG_PCT_DISC: {
        /* the first value whose position in the order is >= frac */
        double row = ceil(spec->frac * (double)n);
        uint32_t r = row > 0 ? (uint32_t)row - 1 : 0;
        rc = put_value(dst, k, &v[TB_MIN(r, n - 1)], arena, err);
        break;
    }
    case TB_AGG_MODE: {
        /* the most frequent value; among equally frequent ones the first in the order */
        uint32_t best = 0, best_n = 0;
        for (uint32_t i = 0; i < n;) {
            uint32_t j = i + 1;
            while (j < n && v[j].klen == v[i].klen && memcmp(v[j].key, v[i].key, v[i].klen) == 0)
                j++;
            if (j - i > best_n) {
                best_n = j - i;
                best = i;
            }
            i = j;
        }
        rc = put_value(dst, k, &v[best], arena, err);
        break;
    }
    default:
        rc = TB_ERRF(err, TB_E_MISUSE, "aggregate kind %d is not a list aggregate",
                     (int)spec->kind);
        break;
    }
    tb_free(v);
    return rc;
bad:
    tb_free(v);
    return TB_ERRF(err, TB_E_CORRUPT, "aggregate state: malformed string_agg entry");
}

/* ---------------------------------------------------------------- HyperLogLog */

void tb_hll_add(uint8_t *reg, uint64_t h)
{
    /* the hash tables' hash is not avalanche-mixed for small integers: mix again
     * (splitmix64's finalizer) so the register index and the rank are independent */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    uint32_t idx = (uint32_t)(h >> (64 - TB_HLL_P));
    uint64_t rest = h << TB_HLL_P;
    uint8_t rank = rest == 0 ? (uint8_t)(64 - TB_HLL_P + 1) : (uint8_t)(__builtin_clzll(rest) + 1);
    if (rank > reg[idx])
        reg[idx] = rank;
}

void tb_hll_merge(uint8_t *dst, const uint8_t *src)
{
    for (uint32_t i = 0; i < TB_HLL_REGS; i++)
        if (src[i] > dst[i])
            dst[i] = src[i];
}

/* Ertl's sigma and tau ("New cardinality estimation algorithms for HyperLogLog
 * sketches", 2017): the corrections for empty and saturated registers. */
static double hll_sigma(double x)
{
    if (x == 1.0)
        return INFINITY;
    double y = 1, z = x, zp;
    do {
        x *= x;
        zp = z;
        z += x * y;
        y += y;
    } while (z != zp);
    return z;
}

static double hll_tau(double x)
{
    if (x == 0.0 || x == 1.0)
        return 0;
    double y = 1, z = 1 - x, zp;
    do {
        x = sqrt(x);
        zp = z;
        y *= 0.5;
        z -= (1 - x) * (1 - x) * y;
    } while (z != zp);
    return z / 3;
}

/*
 * Ertl's improved estimator: unbiased over the whole range without the empirical bias
 * tables of HyperLogLog++ (the classic estimator switches to linear counting below 2.5m
 * and overestimates by a few percent just above: 41,238 for 40,000 values here).
 */
int64_t tb_hll_estimate(const uint8_t *reg)
{
    enum { Q = 64 - TB_HLL_P };
    double m = TB_HLL_REGS, c[Q + 2];
    memset(c, 0, sizeof(c));
    for (uint32_t i = 0; i < TB_HLL_REGS; i++)
        c[reg[i] <= Q + 1 ? reg[i] : Q + 1] += 1;
    double z = m * hll_tau(1 - c[Q + 1] / m);
    for (int k = Q; k >= 1; k--)
        z = 0.5 * (z + c[k]);
    z += m * hll_sigma(c[0] / m);
    if (isinf(z))
        return 0; /* every register empty */
    return (int64_t)llround(m * m / (2 * log(2)) / z);
}
