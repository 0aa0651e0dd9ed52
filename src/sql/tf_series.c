/*
 * tf_series.c - generate_series(start, stop [, step]) in FROM (issue 13 point 3), as
 * PostgreSQL: integers (integer, or bigint when an argument is bigint; step 1 by
 * default) and timestamps (a date counts as its midnight; the step is an interval, months
 * added calendar-wise). One column named generate_series; no rows when start is past
 * stop in the step's direction; a NULL argument gives no rows. The rows are generated a
 * batch at a time, so a long series costs no memory.
 */
#include <string.h>

#include "sql/sql_int.h"

typedef struct series_state {
    bool ts;       /* timestamps (else integers) */
    tb_type type;  /* output type */
    bool empty;    /* a NULL argument */
    int64_t start, stop, step;
    tb_interval istep;
} series_state;

typedef struct series_src {
    tb_source base;
    series_state st;
    bool project; /* the column is read (else row counts only) */
    int64_t next;
    uint64_t k; /* rows produced (timestamps: start + k * step) */
    bool done;
} series_src;

static void series_free(void *p) { tb_free(p); }

/* ts + months (calendar: the day clamped to the month's length) + days + micros */
static bool ts_add(int64_t ts, tb_interval iv, int64_t mult, int64_t *out)
{
    int64_t days = ts >= 0 ? ts / TB_USEC_PER_DAY : -((-ts + TB_USEC_PER_DAY - 1) / TB_USEC_PER_DAY);
    int64_t tod = ts - days * TB_USEC_PER_DAY;
    if (iv.months != 0) {
        int64_t y;
        unsigned m, d;
        tb_civil_from_days(days, &y, &m, &d);
        int64_t mm = y * 12 + (m - 1) + (int64_t)iv.months * mult;
        y = mm >= 0 ? mm / 12 : -((-mm + 11) / 12);
        m = (unsigned)(mm - y * 12) + 1;
        static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        unsigned lim = mdays[m - 1];
        if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
            lim = 29;
        if (d > lim)
            d = lim;
        days = tb_days_from_civil(y, m, d);
    }
    __int128 r = (__int128)(days + (int64_t)iv.days * mult) * TB_USEC_PER_DAY + tod +
                 (__int128)iv.micros * mult;
    if (r > INT64_MAX || r < INT64_MIN)
        return false;
    *out = (int64_t)r;
    return true;
}

static tb_rc arg_int(const tb_tf_arg *a, int64_t *out, bool *is_null, tb_err *err)
{
    if (a->value.is_null || a->value.type.id == TB_T_NULL) {
        *is_null = true;
        return TB_OK;
    }
    if (!tb_type_is_integer(a->value.type)) {
        char tn[64];
        tb_rc rc = TB_ERRF(err, TB_E_TYPE,
                           "generate_series: arguments must be integers or timestamps, not %s",
                           tb_type_name(a->value.type, tn, sizeof(tn)));
        tb_tf_arg_error(a, err);
        return rc;
    }
    *out = a->value.u.i;
    return TB_OK;
}

static tb_rc arg_ts(const tb_tf_arg *a, int64_t *out, bool *is_null, tb_err *err)
{
    const tb_value *v = &a->value;
    if (v->is_null || v->type.id == TB_T_NULL) {
        *is_null = true;
        return TB_OK;
    }
    if (v->type.id == TB_T_TIMESTAMP) {
        *out = v->u.i;
        return TB_OK;
    }
    if (v->type.id == TB_T_DATE) {
        *out = v->u.i * TB_USEC_PER_DAY;
        return TB_OK;
    }
    if (v->type.id == TB_T_STRING && tb_parse_timestamp(v->u.s.ptr, v->u.s.len, out))
        return TB_OK;
    tb_rc rc = TB_ERRF(err, TB_E_TYPE, "generate_series: expected a timestamp");
    tb_tf_arg_error(a, err);
    return rc;
}

static tb_rc series_bind(const tb_tf_arg *args, uint32_t n_args, const tb_schema *declared,
                         void **out_state, tb_schema **out_schema, tb_err *err)
{
    tb_rc rc;
    series_state st;
    memset(&st, 0, sizeof(st));
    (void)declared;
    if (n_args < 2 || n_args > 3)
        return TB_ERRF(err, TB_E_SQL,
                       "generate_series takes (start, stop [, step]), not %u arguments", n_args);
    for (uint32_t i = 0; i < n_args; i++) {
        if (args[i].name != NULL) {
            rc = TB_ERRF(err, TB_E_SQL, "generate_series: arguments are positional");
            tb_tf_arg_error(&args[i], err);
            return rc;
        }
    }
    tb_type_id t0 = (tb_type_id)args[0].value.type.id, t1 = (tb_type_id)args[1].value.type.id;
    st.ts = t0 == TB_T_TIMESTAMP || t0 == TB_T_DATE || t1 == TB_T_TIMESTAMP || t1 == TB_T_DATE ||
            (n_args == 3 && args[2].value.type.id == TB_T_INTERVAL);
    bool is_null = false;
    if (st.ts) {
        if (n_args != 3)
            return TB_ERRF(err, TB_E_SQL,
                           "generate_series over timestamps needs a step (an interval)");
        rc = arg_ts(&args[0], &st.start, &is_null, err);
        if (rc == TB_OK)
            rc = arg_ts(&args[1], &st.stop, &is_null, err);
        if (rc != TB_OK)
            return rc;
        const tb_value *sv = &args[2].value;
        if (sv->is_null || sv->type.id == TB_T_NULL) {
            is_null = true;
        } else if (sv->type.id == TB_T_INTERVAL) {
            st.istep = sv->u.iv;
        } else if (!(sv->type.id == TB_T_STRING &&
                     tb_parse_interval(sv->u.s.ptr, sv->u.s.len, &st.istep))) {
            rc = TB_ERRF(err, TB_E_TYPE, "generate_series: the step must be an interval");
            tb_tf_arg_error(&args[2], err);
            return rc;
        }
        if (!is_null && st.istep.months == 0 && st.istep.days == 0 && st.istep.micros == 0) {
            rc = TB_ERRF(err, TB_E_RANGE, "step size cannot equal zero");
            tb_tf_arg_error(&args[2], err);
            return rc;
        }
        st.type = tb_type_make(TB_T_TIMESTAMP);
    } else {
        bool big = false;
        st.step = 1;
        for (uint32_t i = 0; i < n_args; i++) {
            int64_t v = 0;
            rc = arg_int(&args[i], &v, &is_null, err);
            if (rc != TB_OK)
                return rc;
            big = big || args[i].value.type.id == TB_T_INT64;
            if (i == 0)
                st.start = v;
            else if (i == 1)
                st.stop = v;
            else
                st.step = v;
        }
        if (!is_null && st.step == 0) {
            rc = TB_ERRF(err, TB_E_RANGE, "step size cannot equal zero");
            tb_tf_arg_error(&args[2], err);
            return rc;
        }
        st.type = tb_type_make(big ? TB_T_INT64 : TB_T_INT32);
    }
    st.empty = is_null;
    series_state *s = tb_malloc(sizeof(*s));
    tb_schema *schema = tb_schema_new(1);
    if (s == NULL || schema == NULL ||
        tb_schema_set(schema, 0, "generate_series", st.type, false) != TB_OK) {
        tb_free(s);
        tb_schema_free(schema);
        return tb_err_nomem(err);
    }
    *s = st;
    *out_state = s;
    *out_schema = schema;
    return TB_OK;
}

static tb_rc src_next(tb_source *src, tb_arena *arena, tb_batch **out, tb_err *err)
{
    series_src *s = (series_src *)src;
    *out = NULL;
    if (s->done || s->st.empty)
        return TB_OK;
    tb_batch *b;
    if (tb_batch_new(src->schema, TB_BATCH_CAP, arena, &b) != TB_OK)
        return tb_err_nomem(err);
    uint32_t n = 0;
    while (n < TB_BATCH_CAP) {
        int64_t v;
        if (s->st.ts) {
            if (!ts_add(s->st.start, s->st.istep, (int64_t)s->k, &v)) {
                s->done = true;
                break;
            }
            /* direction of the step: its sign at 30-day months */
            bool up = tb_interval_micros(s->st.istep) > 0;
            if (up ? v > s->st.stop : v < s->st.stop) {
                s->done = true;
                break;
            }
            s->k++;
        } else {
            v = s->next;
            if (s->st.step > 0 ? v > s->st.stop : v < s->st.stop) {
                s->done = true;
                break;
            }
            if (__builtin_add_overflow(v, s->st.step, &s->next))
                s->done = true; /* v is the last value */
        }
        if (s->project) {
            if (s->st.type.id == TB_T_INT32)
                TB_VEC_PTR(&b->cols[0], int32_t)[n] = (int32_t)v;
            else
                TB_VEC_PTR(&b->cols[0], int64_t)[n] = v;
        }
        n++;
        if (s->done)
            break;
    }
    if (n == 0)
        return TB_OK;
    b->n_rows = n;
    src->stats.rows_read += n;
    *out = b;
    return TB_OK;
}

static void src_free(tb_source *src)
{
    tb_schema_free(src->schema);
    tb_free(src);
}

static const tb_source_vt series_vt = {"generate_series", src_next, src_free};

static tb_rc series_open(void *state, const int *proj, uint32_t n_proj, tb_source **out_src,
                         tb_err *err)
{
    series_state *st = state;
    series_src *s = tb_calloc(1, sizeof(*s));
    tb_schema *schema = tb_schema_new(n_proj);
    if (s == NULL || schema == NULL ||
        (n_proj == 1 && tb_schema_set(schema, 0, "generate_series", st->type, false) != TB_OK)) {
        tb_free(s);
        tb_schema_free(schema);
        return tb_err_nomem(err);
    }
    (void)proj; /* one column: proj is {0} or empty */
    s->base.vt = &series_vt;
    s->base.schema = schema;
    s->st = *st;
    s->project = n_proj == 1;
    s->next = st->start;
    *out_src = &s->base;
    return TB_OK;
}

static int64_t series_estimate(void *state)
{
    series_state *st = state;
    if (st->empty)
        return 0;
    if (st->ts) {
        int64_t span = st->stop - st->start, step = tb_interval_micros(st->istep);
        return step != 0 && span / step >= 0 ? span / step + 1 : 0;
    }
    __int128 span = (__int128)st->stop - st->start;
    return span / st->step >= 0 ? (int64_t)(span / st->step) + 1 : 0;
}

const tb_tablefunc tb_sql_generate_series_tf = {"generate_series", series_bind, series_open,
                                                series_free, series_estimate};
