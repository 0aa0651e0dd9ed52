/*
 * op_util.c - kernels and the column store shared by the operators (see op_int.h).
 *
 * Every kernel switches on the column type once and then runs a tight typed loop over
 * the rows (no per-row indirect calls). NULL rows are tested before a value is read:
 * expression results may hold garbage (even wild string pointers) in NULL rows.
 *
 * Column store invariants: cols[c].data holds cap rows of the column's width (heap);
 * cols[c].valid is NULL until the first NULL is appended, then holds cap bits (heap);
 * strings point into `arena` (or are empty); rows >= n_rows are unspecified.
 */
#include <math.h>
#include <string.h>

#include "exec/op_int.h"

typedef struct w16 {
    uint64_t a, b;
} w16;

/* ---------------------------------------------------------------- operators */

void *tb_op_alloc(size_t size, const tb_op_vt *vt, uint32_t n_children, tb_op **children)
{
    tb_op *op = tb_calloc(1, size);

    if (op == NULL)
        return NULL;
    op->vt = vt;
    if (n_children > 0) {
        op->children = tb_calloc(n_children, sizeof(tb_op *));
        if (op->children == NULL) {
            tb_free(op);
            return NULL;
        }
        memcpy(op->children, children, n_children * sizeof(tb_op *));
        op->n_children = n_children;
    }
    return op;
}

void tb_op_free_all(tb_op **ops, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        tb_op_free(ops[i]);
}

tb_rc tb_op_null_vec(tb_vec *out, tb_type t, uint32_t n, tb_arena *arena)
{
    uint32_t cap = n ? n : 1;
    size_t words = tb_valid_words(cap);

    memset(out, 0, sizeof(*out));
    out->type = t;
    if (tb_type_width(t) > 0) {
        out->data = tb_arena_zalloc(arena, tb_type_width(t) * cap);
        if (out->data == NULL)
            return TB_E_NOMEM;
    }
    out->valid = tb_arena_zalloc(arena, words * sizeof(uint64_t));
    return out->valid == NULL ? TB_E_NOMEM : TB_OK;
}

/* ---------------------------------------------------------------- hashing */

static inline uint64_t hash_dbl(double x)
{
    uint64_t bits;

    if (x == 0.0)
        x = 0.0; /* -0.0 == 0.0 */
    if (isnan(x))
        bits = 0x7ff8000000000000ULL;
    else
        memcpy(&bits, &x, sizeof(bits));
    return tb_hash_u64(bits);
}

static inline uint64_t hash_i128(tb_i128 x)
{
    uint64_t lo = (uint64_t)x, hi = (uint64_t)((unsigned __int128)x >> 64);
    return tb_hash_u64(lo ^ tb_hash_u64(hi + 0x51ed2701ULL));
}

typedef struct strh_ent {
    const char *ptr;
    uint32_t len;
    uint64_t h;
} strh_ent;

static inline uint64_t str_hash_cached(strh_ent *cache, tb_str s)
{
    strh_ent *e = &cache[((uintptr_t)s.ptr >> 3) & 63];
    uint64_t h;

    if (e->ptr == s.ptr && e->len == s.len && s.ptr != NULL)
        return e->h;
    h = tb_hash_bytes(s.ptr, s.len, 0x9ae16a3b2f90404fULL);
    e->ptr = s.ptr;
    e->len = s.len;
    e->h = h;
    return h;
}

/*
 * HASH_COL(FIRST, MIX): FIRST is the hash of value i for the first key column; MIX(hv)
 * folds value i into hv for later columns (cheaper than hashing it then combining).
 * The no-NULL case has its own loops (no validity test per row).
 */
#define HASH_COL(FIRST, MIX)                                                                       \
    do {                                                                                           \
        if (v->valid == NULL) {                                                                    \
            if (combine) {                                                                         \
                for (uint32_t i = 0; i < n; i++)                                                   \
                    h[i] = MIX(h[i]);                                                              \
            } else {                                                                               \
                for (uint32_t i = 0; i < n; i++)                                                   \
                    h[i] = (FIRST);                                                                \
            }                                                                                      \
        } else if (combine) {                                                                      \
            for (uint32_t i = 0; i < n; i++)                                                       \
                h[i] = tb_vec_is_null(v, i) ? tb_hash_combine(h[i], TB_NULL_HASH) : MIX(h[i]);     \
        } else {                                                                                   \
            for (uint32_t i = 0; i < n; i++)                                                       \
                h[i] = tb_vec_is_null(v, i) ? TB_NULL_HASH : (FIRST);                              \
        }                                                                                          \
    } while (0)

void tb_op_hash(const tb_vec *v, uint32_t n, uint64_t *h, bool combine)
{
    switch ((tb_type_id)v->type.id) {
    case TB_T_BOOL: {
        const uint8_t *d = v->data;
#define MIX(hv) tb_hash_combine((hv), (uint64_t)(d[i] != 0))
        HASH_COL(tb_hash_u64((uint64_t)(d[i] != 0)), MIX);
#undef MIX
        break;
    }
    case TB_T_INT16: {
        const int16_t *d = v->data;
#define MIX(hv) tb_hash_combine((hv), (uint64_t)(int64_t)d[i])
        HASH_COL(tb_hash_u64((uint64_t)(int64_t)d[i]), MIX);
#undef MIX
        break;
    }
    case TB_T_INT32:
    case TB_T_DATE: {
        const int32_t *d = v->data;
#define MIX(hv) tb_hash_combine((hv), (uint64_t)(int64_t)d[i])
        HASH_COL(tb_hash_u64((uint64_t)(int64_t)d[i]), MIX);
#undef MIX
        break;
    }
    case TB_T_INT64:
    case TB_T_TIMESTAMP: {
        const int64_t *d = v->data;
#define MIX(hv) tb_hash_combine((hv), (uint64_t)d[i])
        HASH_COL(tb_hash_u64((uint64_t)d[i]), MIX);
#undef MIX
        break;
    }
    case TB_T_FLOAT: {
        const float *d = v->data;
#define MIX(hv) tb_hash_combine((hv), hash_dbl((double)d[i]))
        HASH_COL(hash_dbl((double)d[i]), MIX);
#undef MIX
        break;
    }
    case TB_T_DOUBLE: {
        const double *d = v->data;
#define MIX(hv) tb_hash_combine((hv), hash_dbl(d[i]))
        HASH_COL(hash_dbl(d[i]), MIX);
#undef MIX
        break;
    }
    case TB_T_DECIMAL: {
        const tb_i128 *d = v->data;
#define MIX(hv) tb_hash_combine((hv), hash_i128(d[i]))
        HASH_COL(hash_i128(d[i]), MIX);
#undef MIX
        break;
    }
    case TB_T_STRING: {
        /* Strings from a join's build side or a dictionary page repeat the same few
         * pointers: a small direct-mapped cache keyed by pointer skips rehashing. */
        const tb_str *d = v->data;
        strh_ent cache[64];
        memset(cache, 0, sizeof(cache));
#define STRH(i) str_hash_cached(cache, d[i])
#define MIX(hv) tb_hash_combine((hv), STRH(i))
        HASH_COL(STRH(i), MIX);
#undef MIX
#undef STRH
        break;
    }
    case TB_T_INTERVAL: {
        const tb_interval *d = v->data;
#define MIX(hv) tb_hash_combine((hv), hash_i128(tb_op_interval_span(d[i])))
        HASH_COL(hash_i128(tb_op_interval_span(d[i])), MIX);
#undef MIX
        break;
    }
    default: /* TB_T_NULL: every row NULL */
        for (uint32_t i = 0; i < n; i++)
            h[i] = combine ? tb_hash_combine(h[i], TB_NULL_HASH) : TB_NULL_HASH;
        break;
    }
}

/* ---------------------------------------------------------------- matching */

static inline bool dbl_eq(double x, double y) { return x == y || (isnan(x) && isnan(y)); }

static inline uint64_t rd64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint32_t rd32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Inline equality: short keys (categories, codes) are the common case, and a library
 * memcmp call per row costs more than the comparison. Loads stay within both strings. */
static inline bool str_eq(tb_str x, tb_str y)
{
    const char *a = x.ptr, *b = y.ptr;
    uint32_t n = x.len;

    if (n != y.len)
        return false;
    if (a == b || n == 0)
        return true;
    if (n >= 8) {
        uint32_t i = 0;
        for (; i + 8 <= n; i += 8) {
            if (rd64(a + i) != rd64(b + i))
                return false;
        }
        return rd64(a + n - 8) == rd64(b + n - 8);
    }
    if (n >= 4)
        return rd32(a) == rd32(b) && rd32(a + n - 4) == rd32(b + n - 4);
    for (uint32_t i = 0; i < n; i++) {
        if (a[i] != b[i])
            return false;
    }
    return true;
}

#define MATCH_LOOP(T, EQ)                                                                          \
    do {                                                                                           \
        const T *ad = a->data;                                                                     \
        const T *bd = b->data;                                                                     \
        if (a->valid == NULL && b->valid == NULL) {                                                \
            for (uint32_t k = 0; k < n; k++) {                                                     \
                uint32_t r = sel[k];                                                               \
                T x = ad[r], y = bd[brow[r]];                                                      \
                if (EQ)                                                                            \
                    sel[kept++] = r;                                                               \
                else                                                                               \
                    fail[nf++] = r;                                                                \
            }                                                                                      \
        } else {                                                                                   \
            for (uint32_t k = 0; k < n; k++) {                                                     \
                uint32_t r = sel[k], j = brow[r];                                                  \
                bool na = tb_vec_is_null(a, r), nb = tb_vec_is_null(b, j);                         \
                bool eq;                                                                           \
                if (na || nb) {                                                                    \
                    eq = nulls_eq && na && nb;                                                     \
                } else {                                                                           \
                    T x = ad[r], y = bd[j];                                                        \
                    eq = (EQ);                                                                     \
                }                                                                                  \
                if (eq)                                                                            \
                    sel[kept++] = r;                                                               \
                else                                                                               \
                    fail[nf++] = r;                                                                \
            }                                                                                      \
        }                                                                                          \
    } while (0)

uint32_t tb_op_match(const tb_vec *a, const tb_vec *b, const uint32_t *brow, uint32_t *sel,
                     uint32_t n, uint32_t *fail, uint32_t *n_fail, bool nulls_eq)
{
    uint32_t kept = 0, nf = *n_fail;

    switch ((tb_type_id)a->type.id) {
    case TB_T_BOOL:
        MATCH_LOOP(uint8_t, (x != 0) == (y != 0));
        break;
    case TB_T_INT16:
        MATCH_LOOP(int16_t, x == y);
        break;
    case TB_T_INT32:
    case TB_T_DATE:
        MATCH_LOOP(int32_t, x == y);
        break;
    case TB_T_INT64:
    case TB_T_TIMESTAMP:
        MATCH_LOOP(int64_t, x == y);
        break;
    case TB_T_FLOAT:
        MATCH_LOOP(float, dbl_eq(x, y));
        break;
    case TB_T_DOUBLE:
        MATCH_LOOP(double, dbl_eq(x, y));
        break;
    case TB_T_DECIMAL:
        MATCH_LOOP(tb_i128, x == y);
        break;
    case TB_T_STRING:
        MATCH_LOOP(tb_str, str_eq(x, y));
        break;
    case TB_T_INTERVAL:
        MATCH_LOOP(tb_interval, tb_op_interval_span(x) == tb_op_interval_span(y));
        break;
    default: /* TB_T_NULL: both sides always NULL */
        for (uint32_t k = 0; k < n; k++) {
            if (nulls_eq)
                sel[kept++] = sel[k];
            else
                fail[nf++] = sel[k];
        }
        break;
    }
    *n_fail = nf;
    return kept;
}

/* ---------------------------------------------------------------- gather */

#define GATHER(T)                                                                                  \
    do {                                                                                           \
        T *d_ = (T *)dst->data + dst_off;                                                          \
        const T *s_ = (const T *)src->data;                                                        \
        if (rows == NULL) {                                                                        \
            if (n > 0)                                                                             \
                memcpy(d_, s_, (size_t)n * sizeof(T));                                             \
        } else {                                                                                   \
            for (uint32_t k = 0; k < n; k++) {                                                     \
                uint32_t r_ = rows[k];                                                             \
                if (TB_LIKELY(r_ != TB_ROW_NONE))                                                  \
                    d_[k] = s_[r_];                                                                \
                else                                                                               \
                    memset(&d_[k], 0, sizeof(T));                                                  \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static void set_bits(uint64_t *valid, uint32_t from, uint32_t n)
{
    for (uint32_t i = from; i < from + n; i++)
        valid[i >> 6] |= (uint64_t)1 << (i & 63);
}

tb_rc tb_op_gather(tb_vec *dst, uint32_t dst_off, uint32_t dst_cap, const tb_vec *src,
                   const uint32_t *rows, uint32_t n, tb_arena *arena)
{
    bool need = src->type.id == TB_T_NULL || src->valid != NULL;

    if (src->type.id != TB_T_NULL) {
        switch (tb_type_width(src->type)) {
        case 1:
            GATHER(uint8_t);
            break;
        case 2:
            GATHER(uint16_t);
            break;
        case 4:
            GATHER(uint32_t);
            break;
        case 8:
            GATHER(uint64_t);
            break;
        case 16:
            GATHER(w16);
            break;
        default:
            break;
        }
    }
    if (!need && rows != NULL) {
        for (uint32_t k = 0; k < n; k++) {
            if (rows[k] == TB_ROW_NONE) {
                need = true;
                break;
            }
        }
    }
    if (need) {
        if (dst->valid == NULL) {
            size_t words = tb_valid_words(dst_cap);
            dst->valid = tb_arena_alloc(arena, words * sizeof(uint64_t));
            if (dst->valid == NULL)
                return TB_E_NOMEM;
            memset(dst->valid, 0xff, words * sizeof(uint64_t));
        }
        for (uint32_t k = 0; k < n; k++) {
            uint32_t r = rows ? rows[k] : k, i = dst_off + k;
            bool ok = r != TB_ROW_NONE && !tb_op_row_null(src, r);
            if (ok)
                dst->valid[i >> 6] |= (uint64_t)1 << (i & 63);
            else
                dst->valid[i >> 6] &= ~((uint64_t)1 << (i & 63));
        }
    } else if (dst->valid != NULL) {
        set_bits(dst->valid, dst_off, n);
    }
    return TB_OK;
}

tb_rc tb_op_gather_new(tb_vec *dst, const tb_vec *src, const uint32_t *rows, uint32_t n,
                       tb_arena *arena)
{
    uint32_t cap = n ? n : 1;

    memset(dst, 0, sizeof(*dst));
    dst->type = src->type;
    if (tb_type_width(src->type) > 0) {
        dst->data = tb_arena_alloc(arena, tb_type_width(src->type) * cap);
        if (dst->data == NULL)
            return TB_E_NOMEM;
    }
    return tb_op_gather(dst, 0, cap, src, rows, n, arena);
}

tb_vec tb_op_vec_slice(const tb_vec *v, uint32_t off)
{
    tb_vec s = *v;
    if (v->data != NULL)
        s.data = (char *)v->data + tb_type_width(v->type) * off;
    if (v->valid != NULL)
        s.valid = v->valid + off / 64;
    return s;
}

/* ---------------------------------------------------------------- ordering */

static inline int cmp_dbl(double x, double y)
{
    if (isnan(x))
        return isnan(y) ? 0 : 1;
    if (isnan(y))
        return -1;
    return (x > y) - (x < y);
}

#define CMP3(x, y) (((x) > (y)) - ((x) < (y)))

int tb_op_cmp(const tb_vec *a, uint32_t ia, const tb_vec *b, uint32_t ib)
{
    switch ((tb_type_id)a->type.id) {
    case TB_T_BOOL: {
        int x = ((const uint8_t *)a->data)[ia] != 0, y = ((const uint8_t *)b->data)[ib] != 0;
        return CMP3(x, y);
    }
    case TB_T_INT16: {
        int16_t x = ((const int16_t *)a->data)[ia], y = ((const int16_t *)b->data)[ib];
        return CMP3(x, y);
    }
    case TB_T_INT32:
    case TB_T_DATE: {
        int32_t x = ((const int32_t *)a->data)[ia], y = ((const int32_t *)b->data)[ib];
        return CMP3(x, y);
    }
    case TB_T_INT64:
    case TB_T_TIMESTAMP: {
        int64_t x = ((const int64_t *)a->data)[ia], y = ((const int64_t *)b->data)[ib];
        return CMP3(x, y);
    }
    case TB_T_FLOAT:
        return cmp_dbl(((const float *)a->data)[ia], ((const float *)b->data)[ib]);
    case TB_T_DOUBLE:
        return cmp_dbl(((const double *)a->data)[ia], ((const double *)b->data)[ib]);
    case TB_T_DECIMAL: {
        tb_i128 x = ((const tb_i128 *)a->data)[ia], y = ((const tb_i128 *)b->data)[ib];
        return CMP3(x, y);
    }
    case TB_T_STRING: {
        tb_str x = ((const tb_str *)a->data)[ia], y = ((const tb_str *)b->data)[ib];
        uint32_t m = TB_MIN(x.len, y.len);
        int c = m ? memcmp(x.ptr, y.ptr, m) : 0;
        if (c != 0)
            return c < 0 ? -1 : 1;
        return CMP3(x.len, y.len);
    }
    case TB_T_INTERVAL: {
        tb_i128 x = tb_op_interval_span(((const tb_interval *)a->data)[ia]);
        tb_i128 y = tb_op_interval_span(((const tb_interval *)b->data)[ib]);
        return CMP3(x, y);
    }
    default:
        return 0;
    }
}

/* ---------------------------------------------------------------- column store */

tb_rc tb_colstore_init(tb_colstore *cs, uint32_t n_cols, const tb_type *types, tb_err *err)
{
    memset(cs, 0, sizeof(*cs));
    cs->cols = tb_calloc(n_cols ? n_cols : 1, sizeof(tb_vec));
    cs->arena = tb_arena_new(0);
    if (cs->cols == NULL || cs->arena == NULL) {
        tb_free(cs->cols);
        tb_arena_free(cs->arena);
        memset(cs, 0, sizeof(*cs));
        return tb_err_nomem(err);
    }
    cs->n_cols = n_cols;
    for (uint32_t c = 0; c < n_cols; c++)
        cs->cols[c].type = types[c];
    return TB_OK;
}

void tb_colstore_free(tb_colstore *cs)
{
    if (cs->cols != NULL) {
        for (uint32_t c = 0; c < cs->n_cols; c++) {
            tb_free(cs->cols[c].data);
            tb_free(cs->cols[c].valid);
        }
        tb_free(cs->cols);
    }
    tb_arena_free(cs->arena);
    tb_free(cs->intern);
    memset(cs, 0, sizeof(*cs));
}

void tb_colstore_clear(tb_colstore *cs)
{
    cs->n_rows = 0;
    cs->str_bytes = 0;
    for (uint32_t c = 0; c < cs->n_cols; c++) {
        tb_free(cs->cols[c].valid);
        cs->cols[c].valid = NULL;
    }
    tb_arena_reset(cs->arena);
    if (cs->intern != NULL) {
        memset(cs->intern, 0, cs->intern_cap * sizeof(tb_str));
        cs->intern_n = 0;
    }
}

tb_rc tb_colstore_reserve(tb_colstore *cs, uint64_t need, tb_err *err)
{
    uint64_t cap;

    if (need <= cs->cap)
        return TB_OK;
    if (need > TB_STORE_MAX_ROWS)
        return TB_ERRF(err, TB_E_LIMIT, "exec: more than %u rows in one operator's memory",
                       TB_STORE_MAX_ROWS);
    cap = cs->cap ? cs->cap : 1024;
    while (cap < need)
        cap *= 2;
    if (cap > TB_STORE_MAX_ROWS)
        cap = TB_STORE_MAX_ROWS;
    for (uint32_t c = 0; c < cs->n_cols; c++) {
        tb_vec *v = &cs->cols[c];
        size_t w = tb_type_width(v->type);
        if (w > 0) {
            void *p = tb_realloc(v->data, w * cap);
            if (p == NULL)
                return tb_err_nomem(err);
            v->data = p;
        }
        if (v->valid != NULL) {
            size_t old_words = tb_valid_words(cs->cap), words = tb_valid_words((uint32_t)cap);
            uint64_t *p = tb_realloc(v->valid, words * sizeof(uint64_t));
            if (p == NULL)
                return tb_err_nomem(err);
            memset(p + old_words, 0xff, (words - old_words) * sizeof(uint64_t));
            v->valid = p;
        }
    }
    cs->cap = (uint32_t)cap;
    return TB_OK;
}

static tb_rc make_valid(tb_colstore *cs, tb_vec *v, tb_err *err)
{
    size_t words = tb_valid_words(cs->cap);

    v->valid = tb_malloc(words * sizeof(uint64_t));
    if (v->valid == NULL)
        return tb_err_nomem(err);
    memset(v->valid, 0xff, words * sizeof(uint64_t));
    return TB_OK;
}

#define INTERN_SEED 0x3c6ef372fe94f82bULL
/* Interning gives up when fewer than 1 in 4 strings repeat after this many tries. */
#define INTERN_PROBE 65536

tb_rc tb_colstore_intern(tb_colstore *cs, tb_err *err)
{
    cs->intern_cap = 1024;
    cs->intern = tb_calloc(cs->intern_cap, sizeof(tb_str));
    if (cs->intern == NULL) {
        cs->intern_cap = 0;
        return tb_err_nomem(err);
    }
    return TB_OK;
}

static void intern_off(tb_colstore *cs)
{
    tb_free(cs->intern);
    cs->intern = NULL;
    cs->intern_cap = cs->intern_n = 0;
}

/* Slot of s in the intern set: its existing copy, or the empty slot to fill. */
static size_t intern_slot(const tb_colstore *cs, tb_str s, uint64_t h)
{
    size_t mask = cs->intern_cap - 1, p = h & mask;
    for (;;) {
        tb_str e = cs->intern[p];
        if (e.ptr == NULL || (e.len == s.len && memcmp(e.ptr, s.ptr, s.len) == 0))
            return p;
        p = (p + 1) & mask;
    }
}

static tb_rc intern_grow(tb_colstore *cs)
{
    size_t old_cap = cs->intern_cap;
    tb_str *old = cs->intern;

    cs->intern = tb_calloc(old_cap * 2, sizeof(tb_str));
    if (cs->intern == NULL) {
        cs->intern = old;
        return TB_E_NOMEM;
    }
    cs->intern_cap = old_cap * 2;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].ptr != NULL)
            cs->intern[intern_slot(cs, old[i],
                                   tb_hash_bytes(old[i].ptr, old[i].len, INTERN_SEED))] = old[i];
    }
    tb_free(old);
    return TB_OK;
}

/* Interning copy of the non-empty strings rows [0, n) of d. */
static tb_rc intern_strings(tb_colstore *cs, tb_str *d, uint32_t n, tb_err *err)
{
    for (uint32_t k = 0; k < n; k++) {
        uint64_t h;
        size_t p;
        char *copy;
        if (d[k].len == 0) {
            d[k].ptr = NULL;
            continue;
        }
        h = tb_hash_bytes(d[k].ptr, d[k].len, INTERN_SEED);
        p = intern_slot(cs, d[k], h);
        cs->intern_tries++;
        if (cs->intern[p].ptr != NULL) {
            d[k].ptr = cs->intern[p].ptr;
            cs->intern_hits++;
            continue;
        }
        copy = tb_arena_memdup(cs->arena, d[k].ptr, d[k].len);
        if (copy == NULL)
            return tb_err_nomem(err);
        cs->str_bytes += d[k].len;
        d[k].ptr = copy;
        cs->intern[p] = d[k];
        if (++cs->intern_n * 2 > cs->intern_cap && intern_grow(cs) != TB_OK)
            return tb_err_nomem(err);
    }
    if (cs->intern_tries >= INTERN_PROBE && cs->intern_hits * 4 < cs->intern_tries)
        intern_off(cs); /* mostly distinct values: not worth a hash per string */
    return TB_OK;
}

/* Copy the bytes of the string rows [from, from+n) of v into the arena. */
static tb_rc own_strings(tb_colstore *cs, tb_vec *v, uint32_t from, uint32_t n, tb_err *err)
{
    tb_str *d = (tb_str *)v->data + from;
    size_t total = 0;
    char *p;

    for (uint32_t k = 0; k < n; k++) {
        if (tb_vec_is_null(v, from + k))
            d[k].len = 0;
        total += d[k].len;
    }
    if (cs->intern != NULL)
        return intern_strings(cs, d, n, err);
    if (total == 0) {
        for (uint32_t k = 0; k < n; k++)
            d[k].ptr = NULL;
        return TB_OK;
    }
    p = tb_arena_alloc(cs->arena, total);
    if (p == NULL)
        return tb_err_nomem(err);
    for (uint32_t k = 0; k < n; k++) {
        if (d[k].len > 0) {
            memcpy(p, d[k].ptr, d[k].len);
            d[k].ptr = p;
            p += d[k].len;
        } else {
            d[k].ptr = NULL;
        }
    }
    cs->str_bytes += total;
    return TB_OK;
}

tb_rc tb_colstore_append(tb_colstore *cs, const tb_vec *src, const uint32_t *sel, uint32_t n,
                         tb_err *err)
{
    tb_rc rc;
    uint32_t from = cs->n_rows;

    if (n == 0)
        return TB_OK;
    rc = tb_colstore_reserve(cs, (uint64_t)from + n, err);
    if (rc != TB_OK)
        return rc;
    for (uint32_t c = 0; c < cs->n_cols; c++) {
        tb_vec *v = &cs->cols[c];
        const tb_vec *s = &src[c];
        tb_vec s2;
        bool nulls = false;

        if (s->type.id == TB_T_NULL || v->type.id == TB_T_NULL) {
            nulls = true;
        } else if (s->valid != NULL) {
            for (uint32_t k = 0; k < n && !nulls; k++)
                nulls = tb_vec_is_null(s, sel ? sel[k] : k);
        }
        if (nulls && v->valid == NULL) {
            rc = make_valid(cs, v, err);
            if (rc != TB_OK)
                return rc;
        }
        if (v->type.id == TB_T_NULL) {
            for (uint32_t k = 0; k < n; k++)
                v->valid[(from + k) >> 6] &= ~((uint64_t)1 << ((from + k) & 63));
            continue;
        }
        s2 = *s;
        if (!nulls)
            s2.valid = NULL; /* no NULL among the rows copied: keep the store bitmap-free */
        /* No arena needed: v->valid exists whenever a NULL lands. */
        rc = tb_op_gather(v, from, cs->cap, &s2, sel, n, NULL);
        if (rc != TB_OK)
            return tb_err_nomem(err);
        if (v->type.id == TB_T_STRING) {
            rc = own_strings(cs, v, from, n, err);
            if (rc != TB_OK)
                return rc;
        }
    }
    cs->n_rows = from + n;
    return TB_OK;
}

tb_rc tb_colstore_append_zero(tb_colstore *cs, uint32_t n, tb_err *err)
{
    tb_rc rc;
    uint32_t from = cs->n_rows;

    if (n == 0)
        return TB_OK;
    rc = tb_colstore_reserve(cs, (uint64_t)from + n, err);
    if (rc != TB_OK)
        return rc;
    for (uint32_t c = 0; c < cs->n_cols; c++) {
        tb_vec *v = &cs->cols[c];
        size_t w = tb_type_width(v->type);
        if (w > 0)
            memset((char *)v->data + w * from, 0, w * n);
        if (v->valid != NULL)
            set_bits(v->valid, from, n);
    }
    cs->n_rows = from + n;
    return TB_OK;
}

tb_rc tb_colstore_own_str(tb_colstore *cs, uint32_t c, uint32_t i, tb_err *err)
{
    return own_strings(cs, &cs->cols[c], i, 1, err);
}

size_t tb_colstore_bytes(const tb_colstore *cs)
{
    size_t bytes = sizeof(*cs) + cs->n_cols * sizeof(tb_vec);

    for (uint32_t c = 0; c < cs->n_cols; c++) {
        bytes += tb_type_width(cs->cols[c].type) * cs->cap;
        if (cs->cols[c].valid != NULL)
            bytes += tb_valid_words(cs->cap) * sizeof(uint64_t);
    }
    return bytes + tb_arena_bytes(cs->arena) + cs->intern_cap * sizeof(tb_str);
}

/* ---------------------------------------------------------------- serialization */

const void *tb_op_rd_take(tb_op_rd *rd, size_t n)
{
    const void *p;

    if (rd->bad || n > rd->len - rd->off) {
        rd->bad = true;
        return NULL;
    }
    p = rd->p + rd->off;
    rd->off += n;
    return p;
}

uint64_t tb_op_rd_u64(tb_op_rd *rd)
{
    uint64_t v = 0;
    const void *p = tb_op_rd_take(rd, sizeof(v));
    if (p != NULL)
        memcpy(&v, p, sizeof(v));
    return v;
}

uint32_t tb_op_rd_u32(tb_op_rd *rd)
{
    uint32_t v = 0;
    const void *p = tb_op_rd_take(rd, sizeof(v));
    if (p != NULL)
        memcpy(&v, p, sizeof(v));
    return v;
}

uint8_t tb_op_rd_u8(tb_op_rd *rd)
{
    const uint8_t *p = tb_op_rd_take(rd, 1);
    return p ? *p : 0;
}

tb_rc tb_op_wr_u64(tb_buf *buf, uint64_t v) { return tb_buf_append(buf, &v, sizeof(v)); }

tb_rc tb_op_wr_u32(tb_buf *buf, uint32_t v) { return tb_buf_append(buf, &v, sizeof(v)); }

tb_rc tb_op_wr_u8(tb_buf *buf, uint8_t v) { return tb_buf_append(buf, &v, 1); }

tb_rc tb_op_type_write(tb_buf *buf, tb_type t)
{
    uint8_t b[3] = {t.id, t.precision, t.scale};
    return tb_buf_append(buf, b, 3);
}

tb_type tb_op_type_read(tb_op_rd *rd)
{
    tb_type t = {0, 0, 0};
    const uint8_t *p = tb_op_rd_take(rd, 3);
    if (p != NULL) {
        t.id = p[0];
        t.precision = p[1];
        t.scale = p[2];
    }
    return t;
}

tb_rc tb_colstore_write(const tb_colstore *cs, tb_buf *buf)
{
    tb_rc rc = tb_op_wr_u32(buf, cs->n_rows);
    uint32_t n = cs->n_rows;

    for (uint32_t c = 0; c < cs->n_cols && rc == TB_OK; c++) {
        const tb_vec *v = &cs->cols[c];
        size_t w = tb_type_width(v->type);
        rc = tb_op_wr_u8(buf, v->valid != NULL);
        if (rc == TB_OK && v->valid != NULL)
            rc = tb_buf_append(buf, v->valid, tb_valid_words(n) * sizeof(uint64_t));
        if (rc != TB_OK || v->type.id == TB_T_NULL)
            continue;
        if (v->type.id == TB_T_STRING) {
            const tb_str *d = v->data;
            for (uint32_t i = 0; i < n && rc == TB_OK; i++) {
                uint32_t len = tb_vec_is_null(v, i) ? 0 : d[i].len;
                rc = tb_op_wr_u32(buf, len);
                if (rc == TB_OK && len > 0)
                    rc = tb_buf_append(buf, d[i].ptr, len);
            }
        } else if (n > 0) {
            rc = tb_buf_append(buf, v->data, w * n);
        }
    }
    return rc;
}

tb_rc tb_colstore_read(tb_colstore *cs, tb_op_rd *rd, tb_err *err)
{
    tb_rc rc;
    uint32_t n = tb_op_rd_u32(rd);

    if (rd->bad || cs->n_rows != 0 || n > TB_STORE_MAX_ROWS)
        return TB_ERRF(err, TB_E_CORRUPT, "state image: bad row count");
    /* Every column costs at least one byte per row (or its bitmap), so a count larger than
     * the remaining input is corrupt; this bounds the allocation below. */
    if (n > 0 && cs->n_cols > 0 && (size_t)n / 8 > rd->len - rd->off)
        return TB_ERRF(err, TB_E_CORRUPT, "state image: row count %u exceeds the image", n);
    rc = tb_colstore_reserve(cs, n, err);
    if (rc != TB_OK)
        return rc;
    for (uint32_t c = 0; c < cs->n_cols; c++) {
        tb_vec *v = &cs->cols[c];
        size_t w = tb_type_width(v->type);
        uint8_t has_valid = tb_op_rd_u8(rd);
        const void *p;

        if (has_valid > 1)
            rd->bad = true;
        if (has_valid == 1 && n > 0) {
            size_t words = tb_valid_words(n);
            p = tb_op_rd_take(rd, words * sizeof(uint64_t));
            if (p == NULL)
                break;
            if (v->valid == NULL && (rc = make_valid(cs, v, err)) != TB_OK)
                return rc;
            memcpy(v->valid, p, words * sizeof(uint64_t));
            if (n % 64 != 0) /* bits past n stay set, as the store expects */
                v->valid[words - 1] |= ~(((uint64_t)1 << (n % 64)) - 1);
        }
        if (v->type.id == TB_T_NULL || n == 0)
            continue;
        if (v->type.id == TB_T_STRING) {
            tb_str *d = v->data;
            for (uint32_t i = 0; i < n; i++) {
                uint32_t len = tb_op_rd_u32(rd);
                const char *s = len ? tb_op_rd_take(rd, len) : NULL;
                if (rd->bad)
                    break;
                d[i].len = len;
                d[i].ptr = s;
            }
            if (rd->bad)
                break;
            /* Point into the input, then copy into the store's arena. */
            rc = own_strings(cs, v, 0, n, err);
            if (rc != TB_OK)
                return rc;
        } else {
            p = tb_op_rd_take(rd, w * n);
            if (p == NULL)
                break;
            memcpy(v->data, p, w * n);
        }
    }
    if (rd->bad) {
        tb_colstore_clear(cs);
        return TB_ERRF(err, TB_E_CORRUPT, "state image: truncated or malformed column");
    }
    cs->n_rows = n;
    return TB_OK;
}
