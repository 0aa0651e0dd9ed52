/*
 * op_window.c - window functions (issue 13): one operator per window specification
 * (PARTITION BY + ORDER BY); its functions may each have their own frame.
 *
 * The input is materialized once into a column store: the child's columns, then the
 * evaluated partition keys, order keys and function arguments (evaluated a batch at a
 * time). Row ids are sorted once by (partition keys, order keys) with a stable merge
 * sort over the store's typed vectors (tb_op_cmp). Then each partition is a run of the
 * sorted ids; peer groups (equal order keys) are runs inside it. Each function is
 * computed per partition into a result vector indexed by sorted position, and the
 * output is the sorted rows (child columns gathered by row id, the results appended),
 * TB_BATCH_CAP rows at a time. PostgreSQL also emits a window's rows in its sort order.
 *
 * Frames: ROWS / RANGE / GROUPS with UNBOUNDED / offset PRECEDING / CURRENT ROW /
 * offset FOLLOWING bounds and EXCLUDE CURRENT ROW / GROUP / TIES. An aggregate over a
 * frame that starts at the partition's start without exclusion is computed
 * incrementally (the frame end never moves back), so the default frame and the whole
 * partition cost O(n); other frames are summed per row over the frame (O(n * width)).
 * RANGE with an offset needs one numeric ORDER BY key (as PostgreSQL, which also takes
 * dates and timestamps with intervals; those are not supported here).
 *
 * Memory: the whole input (PostgreSQL spills to disk; we do not: the arena grows).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exec/op_int.h"

typedef struct win_op {
    tb_op base;
    uint32_t n_child;
    uint32_t n_part, n_order;
    tb_expr **part;
    tb_sortkey *order;
    uint32_t n_funcs;
    tb_winfunc *funcs;
    uint32_t n_extra; /* evaluated expressions stored after the child's columns */
    tb_expr **extra;
    uint32_t *arg_col; /* store column of function f's argument a: arg_col[f * 3 + a] */
    tb_colstore store;
    tb_arena *arena;  /* results, row order */
    tb_arena *batch_arena;
    bool done;
    uint32_t *perm;  /* sorted position -> store row */
    tb_vec *res;     /* n_funcs result vectors, by sorted position */
    uint32_t emit;
    uint32_t *sel;
} win_op;

/* ---------------------------------------------------------------- sorting */

typedef struct sortctx {
    const win_op *w;
} sortctx;

static int cmp_col(const tb_vec *v, uint32_t a, uint32_t b, bool desc, bool nulls_first)
{
    bool na = tb_op_row_null(v, a), nb = tb_op_row_null(v, b);
    if (na || nb) {
        if (na && nb)
            return 0;
        return (na ? 1 : -1) * (nulls_first ? -1 : 1);
    }
    int c = tb_op_cmp(v, a, v, b);
    return desc ? -c : c;
}

static int cmp_part(const win_op *w, uint32_t a, uint32_t b)
{
    for (uint32_t k = 0; k < w->n_part; k++) {
        int c = cmp_col(&w->store.cols[w->n_child + k], a, b, false, false);
        if (c != 0)
            return c;
    }
    return 0;
}

static int cmp_order(const win_op *w, uint32_t a, uint32_t b)
{
    for (uint32_t k = 0; k < w->n_order; k++) {
        int c = cmp_col(&w->store.cols[w->n_child + w->n_part + k], a, b, w->order[k].desc,
                        w->order[k].nulls_first);
        if (c != 0)
            return c;
    }
    return 0;
}

static int cmp_rows(const win_op *w, uint32_t a, uint32_t b)
{
    int c = cmp_part(w, a, b);
    return c != 0 ? c : cmp_order(w, a, b);
}

/* Stable bottom-up merge sort of ids[0..n) with tmp as scratch. */
static void merge_sort(const win_op *w, uint32_t *ids, uint32_t *tmp, uint32_t n)
{
    uint32_t *src = ids, *dst = tmp;
    for (uint32_t width = 1; width < n; width *= 2) {
        for (uint32_t lo = 0; lo < n; lo += 2 * width) {
            uint32_t mid = lo + width < n ? lo + width : n;
            uint32_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            uint32_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                dst[k++] = cmp_rows(w, src[j], src[i]) < 0 ? src[j++] : src[i++];
            while (i < mid)
                dst[k++] = src[i++];
            while (j < hi)
                dst[k++] = src[j++];
        }
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != ids)
        memcpy(ids, src, (size_t)n * sizeof(*ids));
}

/* ---------------------------------------------------------------- aggregates */

typedef struct acc {
    int64_t cnt;
    tb_i128 isum;
    double dsum;
    tb_value mm;
    bool has_mm;
} acc;

static void acc_add(const tb_winfunc *f, const tb_vec *arg, uint32_t row, acc *a)
{
    if (f->agg.kind == TB_AGG_COUNT_STAR) {
        a->cnt++;
        return;
    }
    if (tb_op_row_null(arg, row))
        return;
    a->cnt++;
    tb_value v;
    switch (f->agg.kind) {
    case TB_AGG_SUM:
    case TB_AGG_AVG:
        tb_vec_get(arg, row, &v);
        switch ((tb_type_id)arg->type.id) {
        case TB_T_INT16:
        case TB_T_INT32:
        case TB_T_INT64:
            a->isum += v.u.i;
            break;
        case TB_T_DECIMAL:
            a->isum += v.u.dec;
            break;
        case TB_T_FLOAT:
        case TB_T_DOUBLE:
            a->dsum += v.u.d;
            break;
        default:
            break;
        }
        break;
    case TB_AGG_MIN:
    case TB_AGG_MAX:
        if (!a->has_mm) {
            tb_vec_get(arg, row, &a->mm);
            a->has_mm = true;
        } else {
            tb_vec_get(arg, row, &v);
            int c = tb_value_cmp(&v, &a->mm);
            if ((f->agg.kind == TB_AGG_MIN && c < 0) || (f->agg.kind == TB_AGG_MAX && c > 0))
                a->mm = v;
        }
        break;
    default:
        break;
    }
}

/* s / d rounded half away from zero. */
static tb_i128 div_round(tb_i128 s, int64_t d)
{
    tb_i128 q = s / d, r = s % d;
    tb_i128 ar = r < 0 ? -r : r;
    if (2 * ar >= d)
        q += s < 0 ? -1 : 1;
    return q;
}

static tb_rc acc_value(const tb_winfunc *f, const tb_vec *arg, const acc *a, tb_value *out,
                       tb_err *err)
{
    memset(out, 0, sizeof(*out));
    out->type = f->type;
    if (f->agg.kind == TB_AGG_COUNT_STAR || f->agg.kind == TB_AGG_COUNT) {
        out->u.i = a->cnt;
        return TB_OK;
    }
    if (a->cnt == 0) {
        out->is_null = true;
        return TB_OK;
    }
    if (f->agg.kind == TB_AGG_MIN || f->agg.kind == TB_AGG_MAX) {
        *out = a->mm;
        out->type = f->type;
        return TB_OK;
    }
    bool avg = f->agg.kind == TB_AGG_AVG;
    tb_type at = arg->type;
    if (at.id == TB_T_FLOAT || at.id == TB_T_DOUBLE) {
        out->u.d = avg ? a->dsum / (double)a->cnt : a->dsum;
        return TB_OK;
    }
    int in_scale = at.id == TB_T_DECIMAL ? at.scale : 0;
    if (f->type.id == TB_T_INT64) {
        if (a->isum > INT64_MAX || a->isum < INT64_MIN)
            return TB_ERRF(err, TB_E_RANGE, "bigint out of range");
        out->u.i = (int64_t)a->isum;
        return TB_OK;
    }
    if (f->type.id == TB_T_DOUBLE) {
        double x = (double)a->isum / pow(10, in_scale);
        out->u.d = avg ? x / (double)a->cnt : x;
        return TB_OK;
    }
    /* numeric: scale up to the result's scale, then divide by the count for avg */
    int up = f->type.scale - in_scale;
    tb_i128 s = a->isum;
    if (up > 0) {
        tb_i128 p = tb_i128_pow10(up);
        tb_i128 lim = tb_i128_pow10(38) / p;
        if (s >= lim || s <= -lim)
            return TB_ERRF(err, TB_E_RANGE, "numeric field overflow in %s", avg ? "avg" : "sum");
        s *= p;
    }
    out->u.dec = avg ? div_round(s, a->cnt) : s;
    return TB_OK;
}

/* ---------------------------------------------------------------- frames */

typedef struct wpart {
    uint32_t ps, pe;   /* sorted positions of the partition */
    uint32_t *gstart;  /* per position: start of its peer group */
    uint32_t *gend;    /* per position: end of its peer group */
    uint32_t *gidx;    /* per position: peer group number in the partition */
    uint32_t *gfirst;  /* per group number: its first position */
    uint32_t n_groups;
} wpart;

static double key_num(const tb_vec *v, uint32_t row)
{
    tb_value x;
    tb_vec_get(v, row, &x);
    switch ((tb_type_id)v->type.id) {
    case TB_T_FLOAT:
    case TB_T_DOUBLE:
        return x.u.d;
    case TB_T_DECIMAL:
        return (double)x.u.dec / pow(10, v->type.scale);
    default:
        return (double)x.u.i;
    }
}

/* Frame [*fs, *fe) of position i (sorted positions). */
static void frame_of(const win_op *w, const tb_winframe *fr, const wpart *p, uint32_t i,
                     uint32_t *fs, uint32_t *fe)
{
    int64_t ps = p->ps, pe = p->pe, s = ps, e = pe;
    int64_t g = p->gidx[i];
    switch (fr->start) {
    case TB_BOUND_UNBOUNDED:
        s = ps;
        break;
    case TB_BOUND_CURRENT:
        s = fr->mode == TB_FRAME_ROWS ? (int64_t)i : (int64_t)p->gstart[i];
        break;
    case TB_BOUND_PRECEDING:
    case TB_BOUND_FOLLOWING: {
        int64_t off = fr->start == TB_BOUND_PRECEDING ? -fr->start_off : fr->start_off;
        if (fr->mode == TB_FRAME_ROWS) {
            s = (int64_t)i + off;
        } else if (fr->mode == TB_FRAME_GROUPS) {
            int64_t tg = g + off;
            s = tg < 0 ? ps : tg >= (int64_t)p->n_groups ? pe : (int64_t)p->gfirst[tg];
        } else {
            const tb_vec *k = &w->store.cols[w->n_child + w->n_part];
            uint32_t r = w->perm[i];
            if (tb_op_row_null(k, r)) {
                s = p->gstart[i];
            } else {
                double lim = key_num(k, r) + (w->order[0].desc ? -fr->start_dnum : fr->start_dnum) *
                                                 (fr->start == TB_BOUND_PRECEDING ? -1 : 1);
                s = ps;
                while (s < pe) {
                    uint32_t rr = w->perm[s];
                    if (!tb_op_row_null(k, rr)) {
                        double x = key_num(k, rr);
                        if (w->order[0].desc ? x <= lim : x >= lim)
                            break;
                    } else if (!w->order[0].nulls_first) {
                        break;
                    }
                    s++;
                }
            }
        }
        break;
    }
    }
    switch (fr->end) {
    case TB_BOUND_UNBOUNDED:
        e = pe;
        break;
    case TB_BOUND_CURRENT:
        e = fr->mode == TB_FRAME_ROWS ? (int64_t)i + 1 : (int64_t)p->gend[i];
        break;
    case TB_BOUND_PRECEDING:
    case TB_BOUND_FOLLOWING: {
        int64_t off = fr->end == TB_BOUND_PRECEDING ? -fr->end_off : fr->end_off;
        if (fr->mode == TB_FRAME_ROWS) {
            e = (int64_t)i + off + 1;
        } else if (fr->mode == TB_FRAME_GROUPS) {
            int64_t tg = g + off;
            e = tg < 0 ? ps : tg >= (int64_t)p->n_groups ? pe : (int64_t)p->gend[p->gfirst[tg]];
        } else {
            const tb_vec *k = &w->store.cols[w->n_child + w->n_part];
            uint32_t r = w->perm[i];
            if (tb_op_row_null(k, r)) {
                e = p->gend[i];
            } else {
                double lim = key_num(k, r) + (w->order[0].desc ? -fr->end_dnum : fr->end_dnum) *
                                                 (fr->end == TB_BOUND_PRECEDING ? -1 : 1);
                e = pe;
                while (e > ps) {
                    uint32_t rr = w->perm[e - 1];
                    if (!tb_op_row_null(k, rr)) {
                        double x = key_num(k, rr);
                        if (w->order[0].desc ? x >= lim : x <= lim)
                            break;
                    } else if (w->order[0].nulls_first) {
                        break;
                    }
                    e--;
                }
            }
        }
        break;
    }
    }
    if (s < ps)
        s = ps;
    if (e > pe)
        e = pe;
    if (e < s)
        e = s;
    *fs = (uint32_t)s;
    *fe = (uint32_t)e;
}

static bool excluded(const tb_winframe *fr, const wpart *p, uint32_t i, uint32_t j)
{
    switch (fr->exclude) {
    case TB_EXCLUDE_CURRENT:
        return j == i;
    case TB_EXCLUDE_GROUP:
        return j >= p->gstart[i] && j < p->gend[i];
    case TB_EXCLUDE_TIES:
        return j != i && j >= p->gstart[i] && j < p->gend[i];
    default:
        return false;
    }
}

/* ---------------------------------------------------------------- computing */

static tb_rc put(win_op *w, uint32_t f, uint32_t pos, const tb_value *v, tb_err *err)
{
    tb_vec *out = &w->res[f];
    uint32_t cap = w->store.n_rows ? w->store.n_rows : 1;
    if (v->is_null)
        return tb_vec_set_null(out, pos, cap, w->arena) == TB_OK ? TB_OK : tb_err_nomem(err);
    tb_value x = *v;
    x.type = out->type;
    if (tb_vec_put(out, pos, cap, &x, w->arena) != TB_OK)
        return tb_err_nomem(err);
    return TB_OK;
}

static tb_rc put_row(win_op *w, uint32_t f, uint32_t pos, const tb_vec *src, int64_t srcpos,
                     const tb_value *dflt, tb_err *err)
{
    tb_value v;
    if (srcpos < 0) {
        if (dflt != NULL) {
            v = *dflt;
        } else {
            memset(&v, 0, sizeof(v));
            v.is_null = true;
        }
    } else if (tb_op_row_null(src, w->perm[srcpos])) {
        memset(&v, 0, sizeof(v));
        v.is_null = true;
    } else {
        tb_vec_get(src, w->perm[srcpos], &v);
    }
    return put(w, f, pos, &v, err);
}

static tb_rc int_arg(win_op *w, uint32_t f, uint32_t a, uint32_t row, int64_t dflt, int64_t *out,
                     bool *is_null)
{
    const tb_winfunc *fn = &w->funcs[f];
    *is_null = false;
    if (a >= fn->n_args) {
        *out = dflt;
        return TB_OK;
    }
    const tb_vec *v = &w->store.cols[w->arg_col[f * 3 + a]];
    if (tb_op_row_null(v, row)) {
        *is_null = true;
        return TB_OK;
    }
    tb_value x;
    tb_vec_get(v, row, &x);
    *out = x.u.i;
    return TB_OK;
}

static tb_rc compute_func(win_op *w, uint32_t f, const wpart *p, tb_err *err)
{
    const tb_winfunc *fn = &w->funcs[f];
    const tb_winframe *fr = &fn->frame;
    uint32_t n = p->pe - p->ps;
    const tb_vec *arg = fn->n_args > 0 ? &w->store.cols[w->arg_col[f * 3]] : NULL;
    tb_rc rc = TB_OK;
    tb_value v;
    memset(&v, 0, sizeof(v));
    v.type = fn->type;
    switch (fn->kind) {
    case TB_WIN_ROW_NUMBER:
    case TB_WIN_RANK:
    case TB_WIN_DENSE_RANK:
    case TB_WIN_PERCENT_RANK:
    case TB_WIN_CUME_DIST:
        for (uint32_t i = p->ps; i < p->pe && rc == TB_OK; i++) {
            if (fn->kind == TB_WIN_ROW_NUMBER)
                v.u.i = i - p->ps + 1;
            else if (fn->kind == TB_WIN_RANK)
                v.u.i = p->gstart[i] - p->ps + 1;
            else if (fn->kind == TB_WIN_DENSE_RANK)
                v.u.i = p->gidx[i] + 1;
            else if (fn->kind == TB_WIN_PERCENT_RANK)
                v.u.d = n > 1 ? (double)(p->gstart[i] - p->ps) / (double)(n - 1) : 0.0;
            else
                v.u.d = (double)(p->gend[i] - p->ps) / (double)n;
            rc = put(w, f, i, &v, err);
        }
        return rc;
    case TB_WIN_NTILE: {
        for (uint32_t i = p->ps; i < p->pe && rc == TB_OK; i++) {
            int64_t k;
            bool isnull;
            int_arg(w, f, 0, w->perm[i], 1, &k, &isnull);
            if (isnull) {
                v.is_null = true;
                rc = put(w, f, i, &v, err);
                v.is_null = false;
                continue;
            }
            if (k <= 0)
                return TB_ERRPOS(err, TB_E_RANGE, fn->pos, "argument of ntile must be greater than zero");
            int64_t j = i - p->ps, q = (int64_t)n / k, r = (int64_t)n % k;
            int64_t big = r * (q + 1);
            v.u.i = j < big ? j / (q + 1) + 1 : (q > 0 ? (j - big) / q + r + 1 : r + 1);
            rc = put(w, f, i, &v, err);
        }
        return rc;
    }
    case TB_WIN_LAG:
    case TB_WIN_LEAD:
        for (uint32_t i = p->ps; i < p->pe && rc == TB_OK; i++) {
            int64_t off;
            bool isnull;
            int_arg(w, f, 1, w->perm[i], 1, &off, &isnull);
            if (isnull) {
                v.is_null = true;
                rc = put(w, f, i, &v, err);
                v.is_null = false;
                continue;
            }
            int64_t t = fn->kind == TB_WIN_LAG ? (int64_t)i - off : (int64_t)i + off;
            tb_value d, *dp = NULL;
            if (fn->n_args > 2) {
                const tb_vec *dv = &w->store.cols[w->arg_col[f * 3 + 2]];
                memset(&d, 0, sizeof(d));
                d.type = fn->type;
                if (tb_op_row_null(dv, w->perm[i]))
                    d.is_null = true;
                else
                    tb_vec_get(dv, w->perm[i], &d);
                dp = &d;
            }
            rc = put_row(w, f, i, arg, (t < (int64_t)p->ps || t >= (int64_t)p->pe) ? -1 : t, dp,
                         err);
        }
        return rc;
    case TB_WIN_FIRST_VALUE:
    case TB_WIN_LAST_VALUE:
    case TB_WIN_NTH_VALUE:
        for (uint32_t i = p->ps; i < p->pe && rc == TB_OK; i++) {
            uint32_t fs, fe;
            frame_of(w, fr, p, i, &fs, &fe);
            int64_t nth = 1;
            bool isnull = false;
            if (fn->kind == TB_WIN_NTH_VALUE) {
                int_arg(w, f, 1, w->perm[i], 1, &nth, &isnull);
                if (!isnull && nth <= 0)
                    return TB_ERRPOS(err, TB_E_RANGE, fn->pos,
                                     "argument of nth_value must be greater than zero");
            }
            int64_t found = -1;
            if (!isnull) {
                if (fn->kind == TB_WIN_LAST_VALUE) {
                    for (int64_t j = (int64_t)fe - 1; j >= (int64_t)fs && found < 0; j--)
                        if (!excluded(fr, p, i, (uint32_t)j))
                            found = j;
                } else {
                    int64_t seen = 0;
                    for (uint32_t j = fs; j < fe && found < 0; j++)
                        if (!excluded(fr, p, i, j) && ++seen == nth)
                            found = j;
                }
            }
            rc = put_row(w, f, i, arg, found, NULL, err);
        }
        return rc;
    case TB_WIN_AGG: {
        bool running = fr->start == TB_BOUND_UNBOUNDED && fr->exclude == TB_EXCLUDE_NONE;
        acc a;
        memset(&a, 0, sizeof(a));
        uint32_t upto = p->ps;
        for (uint32_t i = p->ps; i < p->pe && rc == TB_OK; i++) {
            uint32_t fs, fe;
            frame_of(w, fr, p, i, &fs, &fe);
            if (running) {
                while (upto < fe)
                    acc_add(fn, arg, w->perm[upto++], &a);
            } else {
                memset(&a, 0, sizeof(a));
                for (uint32_t j = fs; j < fe; j++)
                    if (!excluded(fr, p, i, j))
                        acc_add(fn, arg, w->perm[j], &a);
            }
            tb_value r;
            rc = acc_value(fn, arg, &a, &r, err);
            if (rc == TB_OK)
                rc = put(w, f, i, &r, err);
        }
        return rc;
    }
    }
    return TB_OK;
}

static tb_rc compute(win_op *w, tb_err *err)
{
    uint32_t n = w->store.n_rows;
    uint32_t cap = n ? n : 1;
    w->perm = tb_arena_alloc(w->arena, cap * sizeof(uint32_t));
    uint32_t *tmp = tb_malloc(cap * sizeof(uint32_t));
    wpart p;
    memset(&p, 0, sizeof(p));
    p.gstart = tb_arena_alloc(w->arena, cap * sizeof(uint32_t));
    p.gend = tb_arena_alloc(w->arena, cap * sizeof(uint32_t));
    p.gidx = tb_arena_alloc(w->arena, cap * sizeof(uint32_t));
    p.gfirst = tb_arena_alloc(w->arena, cap * sizeof(uint32_t));
    w->res = tb_arena_zalloc(w->arena, (w->n_funcs ? w->n_funcs : 1) * sizeof(tb_vec));
    w->sel = tb_arena_alloc(w->arena, TB_BATCH_CAP * sizeof(uint32_t));
    if (w->perm == NULL || tmp == NULL || p.gstart == NULL || p.gend == NULL || p.gidx == NULL ||
        p.gfirst == NULL || w->res == NULL || w->sel == NULL) {
        tb_free(tmp);
        return tb_err_nomem(err);
    }
    for (uint32_t f = 0; f < w->n_funcs; f++) {
        if (tb_vec_init(&w->res[f], w->funcs[f].type, cap, w->arena) != TB_OK) {
            tb_free(tmp);
            return tb_err_nomem(err);
        }
    }
    for (uint32_t i = 0; i < n; i++)
        w->perm[i] = i;
    merge_sort(w, w->perm, tmp, n);
    tb_free(tmp);
    tb_rc rc = TB_OK;
    for (uint32_t ps = 0; ps < n && rc == TB_OK;) {
        uint32_t pe = ps + 1;
        while (pe < n && cmp_part(w, w->perm[ps], w->perm[pe]) == 0)
            pe++;
        p.ps = ps;
        p.pe = pe;
        p.n_groups = 0;
        for (uint32_t gs = ps; gs < pe;) {
            uint32_t ge = gs + 1;
            while (ge < pe && cmp_order(w, w->perm[gs], w->perm[ge]) == 0)
                ge++;
            p.gfirst[p.n_groups] = gs;
            for (uint32_t i = gs; i < ge; i++) {
                p.gstart[i] = gs;
                p.gend[i] = ge;
                p.gidx[i] = p.n_groups;
            }
            p.n_groups++;
            gs = ge;
        }
        for (uint32_t f = 0; f < w->n_funcs && rc == TB_OK; f++)
            rc = compute_func(w, f, &p, err);
        ps = pe;
    }
    return rc;
}

/* ---------------------------------------------------------------- operator */

static tb_rc win_next(tb_op *op, tb_batch **out, tb_err *err)
{
    win_op *w = (win_op *)op;
    tb_rc rc;
    *out = NULL;
    if (!w->done) {
        tb_op *child = op->children[0];
        tb_vec *cols = tb_malloc((w->n_child + w->n_extra + 1) * sizeof(tb_vec));
        if (cols == NULL)
            return tb_err_nomem(err);
        for (;;) {
            tb_batch *in;
            tb_arena_reset(w->batch_arena);
            rc = tb_op_next(child, &in, err);
            if (rc != TB_OK || in == NULL)
                break;
            if (in->n_rows == 0)
                continue;
            for (uint32_t c = 0; c < w->n_child; c++)
                cols[c] = in->cols[c];
            for (uint32_t x = 0; x < w->n_extra && rc == TB_OK; x++)
                rc = tb_op_eval(w->extra[x], in, w->batch_arena, &cols[w->n_child + x], err);
            if (rc == TB_OK)
                rc = tb_colstore_append(&w->store, cols, NULL, in->n_rows, err);
            if (rc != TB_OK)
                break;
        }
        tb_free(cols);
        if (rc != TB_OK)
            return rc;
        w->done = true;
        rc = compute(w, err);
        if (rc != TB_OK)
            return rc;
    }
    uint32_t n = w->store.n_rows;
    if (w->emit >= n)
        return TB_OK;
    uint32_t k = n - w->emit < TB_BATCH_CAP ? n - w->emit : TB_BATCH_CAP;
    tb_arena_reset(w->batch_arena);
    tb_batch *b;
    if (tb_batch_shell(op->schema->n, w->batch_arena, &b) != TB_OK)
        return tb_err_nomem(err);
    for (uint32_t c = 0; c < w->n_child; c++) {
        rc = tb_op_gather_new(&b->cols[c], &w->store.cols[c], w->perm + w->emit, k,
                              w->batch_arena);
        if (rc != TB_OK)
            return tb_err_nomem(err);
    }
    for (uint32_t i = 0; i < k; i++)
        w->sel[i] = w->emit + i;
    for (uint32_t f = 0; f < w->n_funcs; f++) {
        rc = tb_op_gather_new(&b->cols[w->n_child + f], &w->res[f], w->sel, k, w->batch_arena);
        if (rc != TB_OK)
            return tb_err_nomem(err);
    }
    b->n_rows = k;
    b->cap = k;
    w->emit += k;
    *out = b;
    return TB_OK;
}

static void win_free(tb_op *op)
{
    win_op *w = (win_op *)op;
    tb_colstore_free(&w->store);
    tb_arena_free(w->arena);
    tb_arena_free(w->batch_arena);
    tb_free(w->arg_col);
}

static tb_rc win_explain(tb_op *op, tb_buf *buf)
{
    win_op *w = (win_op *)op;
    return tb_buf_printf(buf, "%u function%s, %u partition key%s, %u order key%s", w->n_funcs,
                         w->n_funcs == 1 ? "" : "s", w->n_part, w->n_part == 1 ? "" : "s",
                         w->n_order, w->n_order == 1 ? "" : "s");
}

/* Re-execution of a prepared plan (a continuous query's next batch): forget the rows
 * and results of the last run. */
static tb_rc win_rescan(tb_op *op, tb_err *err)
{
    win_op *w = (win_op *)op;
    tb_colstore_clear(&w->store);
    tb_arena_reset(w->arena);
    tb_arena_reset(w->batch_arena);
    w->done = false;
    w->perm = NULL;
    w->res = NULL;
    w->sel = NULL;
    w->emit = 0;
    return tb_op_rescan_children(op, err);
}

static const tb_op_vt win_vt = {"window", win_next, win_free, win_explain, win_rescan};

tb_rc tb_op_window_new(tb_op *child, uint32_t n_part, tb_expr **part, uint32_t n_order,
                       const tb_sortkey *order, uint32_t n_funcs, const tb_winfunc *funcs,
                       const char **names, tb_op **out, tb_err *err)
{
    tb_rc rc;
    tb_type *types = NULL;
    *out = NULL;
    win_op *w = tb_op_alloc(sizeof(*w), &win_vt, 1, &child);
    if (w == NULL) {
        tb_op_free(child);
        return tb_err_nomem(err);
    }
    const tb_schema *cs = child->schema;
    w->n_child = cs->n;
    w->n_part = n_part;
    w->n_order = n_order;
    w->n_funcs = n_funcs;
    w->arena = tb_arena_new(0);
    w->batch_arena = tb_arena_new(0);
    uint32_t n_args = 0;
    for (uint32_t f = 0; f < n_funcs; f++)
        n_args += funcs[f].n_args;
    w->n_extra = n_part + n_order + n_args;
    w->arg_col = tb_calloc((size_t)(n_funcs ? n_funcs : 1) * 3, sizeof(uint32_t));
    w->base.schema = tb_schema_new(cs->n + n_funcs);
    types = tb_malloc((cs->n + w->n_extra + 1) * sizeof(tb_type));
    if (w->arena == NULL || w->batch_arena == NULL || w->arg_col == NULL ||
        w->base.schema == NULL || types == NULL)
        goto nomem;
    w->part = tb_arena_alloc(w->arena, (n_part + 1) * sizeof(tb_expr *));
    w->order = tb_arena_alloc(w->arena, (n_order + 1) * sizeof(tb_sortkey));
    w->funcs = tb_arena_alloc(w->arena, (n_funcs + 1) * sizeof(tb_winfunc));
    w->extra = tb_arena_alloc(w->arena, (w->n_extra + 1) * sizeof(tb_expr *));
    if (w->part == NULL || w->order == NULL || w->funcs == NULL || w->extra == NULL)
        goto nomem;
    if (n_part)
        memcpy(w->part, part, n_part * sizeof(tb_expr *));
    if (n_order)
        memcpy(w->order, order, n_order * sizeof(tb_sortkey));
    if (n_funcs)
        memcpy(w->funcs, funcs, n_funcs * sizeof(tb_winfunc));
    uint32_t x = 0;
    for (uint32_t i = 0; i < n_part; i++)
        w->extra[x++] = part[i];
    for (uint32_t i = 0; i < n_order; i++)
        w->extra[x++] = order[i].expr;
    for (uint32_t f = 0; f < n_funcs; f++) {
        for (uint32_t a = 0; a < funcs[f].n_args; a++) {
            w->arg_col[f * 3 + a] = cs->n + x;
            w->extra[x++] = funcs[f].args[a];
        }
    }
    for (uint32_t c = 0; c < cs->n; c++) {
        types[c] = cs->fields[c].type;
        if (tb_schema_set(w->base.schema, c, cs->fields[c].name, cs->fields[c].type, true) != TB_OK)
            goto nomem;
    }
    for (uint32_t i = 0; i < w->n_extra; i++)
        types[cs->n + i] = w->extra[i]->type;
    for (uint32_t f = 0; f < n_funcs; f++) {
        const char *nm = names != NULL && names[f] != NULL ? names[f] : "?column?";
        if (tb_schema_set(w->base.schema, cs->n + f, nm, funcs[f].type, true) != TB_OK)
            goto nomem;
    }
    rc = tb_colstore_init(&w->store, cs->n + w->n_extra, types, err);
    tb_free(types);
    types = NULL;
    if (rc != TB_OK) {
        tb_op_free(&w->base);
        return rc;
    }
    *out = &w->base;
    return TB_OK;
nomem:
    tb_free(types);
    tb_op_free(&w->base);
    return tb_err_nomem(err);
}
