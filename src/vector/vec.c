/*
 * vec.c - column vectors, validity bitmaps, batches and single-value access.
 *
 * Invariants: a vector's data holds tb_type_width(type) bytes per row for `cap` rows;
 * valid == NULL means every row is valid, otherwise bit i (word i/64, bit i%64) set
 * means row i is not NULL and the bitmap covers tb_valid_words(cap) words. Data of a
 * NULL row is unspecified but always readable (vectors are zero-filled on init, and
 * tb_vec_copy_rows writes an empty string for NULL strings it copies).
 */
#include <string.h>

#include "vector/vector.h"

tb_rc tb_vec_init(tb_vec *v, tb_type t, uint32_t cap, tb_arena *arena)
{
    size_t w = tb_type_width(t);

    v->type = t;
    v->valid = NULL;
    v->data = NULL;
    if (w == 0 || cap == 0)
        return TB_OK;
    v->data = tb_arena_zalloc(arena, w * cap);
    return v->data == NULL ? TB_E_NOMEM : TB_OK;
}

tb_rc tb_vec_ensure_valid(tb_vec *v, uint32_t cap, tb_arena *arena)
{
    size_t words;

    if (v->valid != NULL)
        return TB_OK;
    words = tb_valid_words(cap);
    if (words == 0)
        words = 1;
    v->valid = tb_arena_alloc(arena, words * sizeof(uint64_t));
    if (v->valid == NULL)
        return TB_E_NOMEM;
    memset(v->valid, 0xff, words * sizeof(uint64_t));
    return TB_OK;
}

tb_rc tb_vec_set_null(tb_vec *v, uint32_t i, uint32_t cap, tb_arena *arena)
{
    if (v->valid == NULL) {
        tb_rc rc = tb_vec_ensure_valid(v, cap, arena);
        if (rc != TB_OK)
            return rc;
    }
    v->valid[i >> 6] &= ~((uint64_t)1 << (i & 63));
    return TB_OK;
}

uint32_t tb_vec_null_count(const tb_vec *v, uint32_t n)
{
    size_t full = n / 64, w;
    uint32_t valid = 0;

    if (v->valid == NULL)
        return 0;
    for (w = 0; w < full; w++)
        valid += (uint32_t)__builtin_popcountll(v->valid[w]);
    if (n & 63)
        valid += (uint32_t)__builtin_popcountll(v->valid[full] &
                                                (((uint64_t)1 << (n & 63)) - 1));
    return n - valid;
}

/* Copy fixed-width rows, specialised by width so the compiler emits plain loads. */
#define GATHER(ctype)                                                                      \
    do {                                                                                   \
        ctype *d = (ctype *)dst->data + dst_off;                                           \
        const ctype *s = (const ctype *)src->data;                                         \
        if (sel == NULL) {                                                                 \
            memcpy(d, s, (size_t)n * sizeof(ctype));                                       \
        } else {                                                                           \
            for (k = 0; k < n; k++)                                                        \
                d[k] = s[sel[k]];                                                          \
        }                                                                                  \
    } while (0)

static tb_rc copy_validity(tb_vec *dst, uint32_t dst_off, uint32_t dst_cap, const tb_vec *src,
                           const uint32_t *sel, uint32_t n, tb_arena *arena)
{
    uint32_t k;

    if (src->valid == NULL) {
        if (dst->valid == NULL)
            return TB_OK;
        for (k = 0; k < n; k++)
            tb_vec_set_valid(dst, dst_off + k);
        return TB_OK;
    }
    for (k = 0; k < n; k++) {
        uint32_t r = sel ? sel[k] : k;
        uint32_t di = dst_off + k;
        if ((src->valid[r >> 6] >> (r & 63)) & 1) {
            if (dst->valid != NULL)
                dst->valid[di >> 6] |= (uint64_t)1 << (di & 63);
        } else {
            if (dst->valid == NULL) {
                tb_rc rc = tb_vec_ensure_valid(dst, dst_cap, arena);
                if (rc != TB_OK)
                    return rc;
            }
            dst->valid[di >> 6] &= ~((uint64_t)1 << (di & 63));
        }
    }
    return TB_OK;
}

tb_rc tb_vec_copy_rows(tb_vec *dst, uint32_t dst_off, uint32_t dst_cap, const tb_vec *src,
                       const uint32_t *sel, uint32_t n, bool copy_strings, tb_arena *arena)
{
    uint32_t k;
    tb_rc rc;

    if (n == 0)
        return TB_OK;
    rc = copy_validity(dst, dst_off, dst_cap, src, sel, n, arena);
    if (rc != TB_OK)
        return rc;
    switch (tb_type_width(src->type)) {
    case 0:
        break;
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
        if (src->type.id == TB_T_STRING)
            GATHER(tb_str);
        else if (src->type.id == TB_T_INTERVAL)
            GATHER(tb_interval);
        else
            GATHER(tb_i128);
        break;
    default:
        /* Only reached if tb_str/tb_interval are not 16 bytes on this ABI. */
        if (src->type.id == TB_T_STRING)
            GATHER(tb_str);
        else
            GATHER(tb_interval);
        break;
    }
    if (src->type.id == TB_T_STRING && copy_strings) {
        tb_str *d = (tb_str *)dst->data + dst_off;
        size_t total = 0;
        char *bytes;
        for (k = 0; k < n; k++) {
            if (tb_vec_is_null(dst, dst_off + k))
                d[k].len = 0;
            total += d[k].len;
        }
        bytes = total ? tb_arena_alloc(arena, total) : NULL;
        if (total && bytes == NULL)
            return TB_E_NOMEM;
        for (k = 0; k < n; k++) {
            if (d[k].len == 0) {
                d[k].ptr = "";
                continue;
            }
            memcpy(bytes, d[k].ptr, d[k].len);
            d[k].ptr = bytes;
            bytes += d[k].len;
        }
    }
    return TB_OK;
}

/* ---------------------------------------------------------------- batches */

tb_rc tb_batch_new(const tb_schema *schema, uint32_t cap, tb_arena *arena, tb_batch **out)
{
    tb_batch *batch;
    uint32_t c;

    *out = NULL;
    batch = tb_arena_zalloc(arena, sizeof(*batch));
    if (batch == NULL)
        return TB_E_NOMEM;
    batch->n_cols = schema->n;
    batch->cap = cap;
    if (schema->n > 0) {
        batch->cols = tb_arena_zalloc(arena, sizeof(tb_vec) * schema->n);
        if (batch->cols == NULL)
            return TB_E_NOMEM;
    }
    for (c = 0; c < schema->n; c++) {
        tb_rc rc = tb_vec_init(&batch->cols[c], schema->fields[c].type, cap, arena);
        if (rc != TB_OK)
            return rc;
    }
    *out = batch;
    return TB_OK;
}

tb_rc tb_batch_shell(uint32_t n_cols, tb_arena *arena, tb_batch **out)
{
    tb_batch *batch;

    *out = NULL;
    batch = tb_arena_zalloc(arena, sizeof(*batch));
    if (batch == NULL)
        return TB_E_NOMEM;
    batch->n_cols = n_cols;
    if (n_cols > 0) {
        batch->cols = tb_arena_zalloc(arena, sizeof(tb_vec) * n_cols);
        if (batch->cols == NULL)
            return TB_E_NOMEM;
    }
    *out = batch;
    return TB_OK;
}

/* ---------------------------------------------------------------- values */

void tb_vec_get(const tb_vec *v, uint32_t i, tb_value *out)
{
    memset(&out->u, 0, sizeof(out->u));
    out->type = v->type;
    out->is_null = v->type.id == TB_T_NULL || tb_vec_is_null(v, i);
    if (out->is_null)
        return;
    switch ((tb_type_id)v->type.id) {
    case TB_T_NULL:
    case TB_T__COUNT:
        out->is_null = true;
        break;
    case TB_T_BOOL:
        out->u.i = ((const uint8_t *)v->data)[i] != 0;
        break;
    case TB_T_INT16:
        out->u.i = ((const int16_t *)v->data)[i];
        break;
    case TB_T_INT32:
    case TB_T_DATE:
        out->u.i = ((const int32_t *)v->data)[i];
        break;
    case TB_T_INT64:
    case TB_T_TIMESTAMP:
        out->u.i = ((const int64_t *)v->data)[i];
        break;
    case TB_T_FLOAT:
        out->u.d = ((const float *)v->data)[i];
        break;
    case TB_T_DOUBLE:
        out->u.d = ((const double *)v->data)[i];
        break;
    case TB_T_DECIMAL:
        memcpy(&out->u.dec, (const char *)v->data + (size_t)i * 16, 16);
        break;
    case TB_T_STRING:
        out->u.s = ((const tb_str *)v->data)[i];
        break;
    case TB_T_INTERVAL:
        out->u.iv = ((const tb_interval *)v->data)[i];
        break;
    }
}

tb_rc tb_vec_put(tb_vec *v, uint32_t i, uint32_t cap, const tb_value *val, tb_arena *arena)
{
    if (val->is_null || val->type.id == TB_T_NULL)
        return tb_vec_set_null(v, i, cap, arena);
    if (val->type.id != v->type.id)
        return TB_E_TYPE;
    switch ((tb_type_id)v->type.id) {
    case TB_T_NULL:
    case TB_T__COUNT:
        return TB_E_TYPE;
    case TB_T_BOOL:
        ((uint8_t *)v->data)[i] = val->u.b ? 1 : 0;
        break;
    case TB_T_INT16:
        ((int16_t *)v->data)[i] = (int16_t)val->u.i;
        break;
    case TB_T_INT32:
    case TB_T_DATE:
        ((int32_t *)v->data)[i] = (int32_t)val->u.i;
        break;
    case TB_T_INT64:
    case TB_T_TIMESTAMP:
        ((int64_t *)v->data)[i] = val->u.i;
        break;
    case TB_T_FLOAT:
        ((float *)v->data)[i] = (float)val->u.d;
        break;
    case TB_T_DOUBLE:
        ((double *)v->data)[i] = val->u.d;
        break;
    case TB_T_DECIMAL:
        memcpy((char *)v->data + (size_t)i * 16, &val->u.dec, 16);
        break;
    case TB_T_STRING:
        ((tb_str *)v->data)[i] = val->u.s;
        break;
    case TB_T_INTERVAL:
        ((tb_interval *)v->data)[i] = val->u.iv;
        break;
    }
    tb_vec_set_valid(v, i);
    return TB_OK;
}

uint32_t tb_batch_drop_rows(tb_batch *batch, uint32_t n, const uint8_t *drop)
{
    uint32_t c, r, k = 0;

    for (c = 0; c < batch->n_cols; c++) {
        tb_vec *v = &batch->cols[c];
        size_t w = tb_type_width(v->type);
        char *data = (char *)v->data;
        k = 0;
        for (r = 0; r < n; r++) {
            if (drop[r])
                continue;
            if (k != r) {
                if (w > 0)
                    memcpy(data + (size_t)k * w, data + (size_t)r * w, w);
                if (v->valid != NULL) {
                    bool ok = (v->valid[r >> 6] >> (r & 63)) & 1;
                    if (ok)
                        v->valid[k >> 6] |= (uint64_t)1 << (k & 63);
                    else
                        v->valid[k >> 6] &= ~((uint64_t)1 << (k & 63));
                }
            }
            k++;
        }
    }
    k = 0;
    for (r = 0; r < n; r++)
        k += !drop[r];
    return k;
}
