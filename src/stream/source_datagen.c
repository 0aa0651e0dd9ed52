/*
 * source_datagen.c - the datagen source (connector = 'datagen'): a deterministic
 * generated stream, as Flink's and RisingWave's datagen, for demos and benchmarks.
 * Implements source.h.
 *
 * Row i (0, 1, 2, ...) is a pure function of (seed, i): a batch re-run after a crash, or
 * read again to rebuild a view, yields the same rows. Offsets of a batch are row numbers
 * {"from": F, "to": T} (rows F .. T-1); restore() moves the position to T.
 *
 * Columns: the reference job's sales columns (sale_id, product_id, quantity, ts) when the
 * table declares them by those names, or any declared columns of the supported types:
 *   sale_id or id (integer)  i + 1 (unique: a key new in every row)
 *   product_id (integer)     1 + r mod products
 *   quantity (integer)       1 + r mod 10
 *   a timestamp column       event time: start + i / rows_per_second, minus up to
 *                            max_out_of_orderness (uniform, per row), whole microseconds
 *   other integers           r mod 1000;  double/real: r / 2^64 * 1000;  boolean: r & 1
 *   text                     'v' followed by r mod 1000;  date: the event time's day
 * where r is a hash of (seed, i, column index).
 *
 * Pacing: rows become available at rows_per_second from the moment the query is
 * declared (after a restart, from the restored position on); `rows` bounds the total
 * (absent: unbounded, and rows_per_second defaults to 1000). A bounded stream without
 * rows_per_second has all its rows available at once. max_rows_per_trigger bounds a
 * batch.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "stream/source.h"
#include "stream/stream.h"

extern const tb_ssrc_vt tb_ssrc_datagen_vt;

#define DG_BATCH_ROWS 2048

typedef enum dg_kind {
    DG_ID,      /* i + 1 */
    DG_PRODUCT, /* 1 + r % products */
    DG_QTY,     /* 1 + r % 10 */
    DG_TIME,    /* event time */
    DG_RANDOM   /* by type */
} dg_kind;

typedef struct dg_src {
    tb_ssrc base;
    double rows_per_second; /* 0: no pacing (bounded streams only) */
    uint64_t seed;
    int64_t rows;      /* total, -1 unbounded */
    int64_t products;
    int64_t start_us;  /* event time of row 0 */
    int64_t ooo_us;    /* max out-of-orderness */
    int64_t max_rows;  /* per batch, 0 none */
    dg_kind *kinds;    /* per declared column */
    int64_t pos;       /* next row to plan */
    int64_t pace_pos;  /* position when pacing started */
    int64_t pace_t0;   /* tb_now_ns() when pacing started, 0 not yet */
} dg_src;

typedef struct dg_op {
    tb_op base;
    dg_src *src;
    int *proj;
    uint32_t n_proj;
    int64_t next, to;
    tb_arena *arena;
} dg_op;

static uint64_t dg_hash(uint64_t seed, int64_t row, uint32_t col)
{
    return tb_hash_combine(tb_hash_combine(tb_hash_u64(seed + 0x5eed), (uint64_t)row), col);
}

static int64_t dg_time(const dg_src *src, int64_t row)
{
    /* unpaced: one row a millisecond of event time */
    double rps = src->rows_per_second > 0 ? src->rows_per_second : 1000;
    int64_t t = src->start_us + (int64_t)((double)row * 1e6 / rps);
    if (src->ooo_us > 0)
        t -= (int64_t)(dg_hash(src->seed, row, 0xffff) % (uint64_t)(src->ooo_us + 1));
    return t;
}

static tb_rc dg_fill(dg_op *g, tb_vec *v, int col, int64_t from, uint32_t n, tb_err *err)
{
    dg_src *src = g->src;
    tb_type t = src->base.schema->fields[col].type;
    if (tb_vec_init(v, t, n, g->arena) != TB_OK)
        return tb_err_nomem(err);
    dg_kind kind = src->kinds[col];
    for (uint32_t k = 0; k < n; k++) {
        int64_t row = from + k;
        uint64_t r = dg_hash(src->seed, row, (uint32_t)col);
        int64_t iv = 0;
        double dv = 0;
        switch (kind) {
        case DG_ID:
            iv = row + 1;
            break;
        case DG_PRODUCT:
            iv = 1 + (int64_t)(r % (uint64_t)src->products);
            break;
        case DG_QTY:
            iv = 1 + (int64_t)(r % 10);
            break;
        case DG_TIME:
            iv = dg_time(src, row);
            break;
        case DG_RANDOM:
            iv = (int64_t)(r % 1000);
            dv = (double)(r >> 11) / (double)(1ULL << 53) * 1000.0;
            break;
        }
        switch (t.id) {
        case TB_T_BOOL:
            TB_VEC_PTR(v, uint8_t)[k] = (uint8_t)(r & 1);
            break;
        case TB_T_INT16:
            TB_VEC_PTR(v, int16_t)[k] = (int16_t)iv;
            break;
        case TB_T_INT32:
            TB_VEC_PTR(v, int32_t)[k] = (int32_t)iv;
            break;
        case TB_T_INT64:
        case TB_T_TIMESTAMP:
            TB_VEC_PTR(v, int64_t)[k] = iv;
            break;
        case TB_T_DATE:
            TB_VEC_PTR(v, int32_t)[k] = (int32_t)(dg_time(src, row) / TB_USEC_PER_DAY);
            break;
        case TB_T_FLOAT:
            TB_VEC_PTR(v, float)[k] = (float)dv;
            break;
        case TB_T_DOUBLE:
            TB_VEC_PTR(v, double)[k] = dv;
            break;
        case TB_T_STRING: {
            char buf[24];
            int len = snprintf(buf, sizeof(buf), "v%" PRId64, iv);
            char *p = tb_arena_memdup(g->arena, buf, (size_t)len);
            if (p == NULL)
                return tb_err_nomem(err);
            TB_VEC_PTR(v, tb_str)[k] = (tb_str){p, (uint32_t)len};
            break;
        }
        default:
            return TB_ERRF(err, TB_E_ERROR, "datagen: internal: type");
        }
    }
    return TB_OK;
}

static tb_rc dg_next(tb_op *op, tb_batch **out, tb_err *err)
{
    dg_op *g = (dg_op *)op;
    *out = NULL;
    if (g->next >= g->to)
        return TB_OK;
    tb_arena_reset(g->arena);
    uint32_t n = (uint32_t)TB_MIN(g->to - g->next, (int64_t)DG_BATCH_ROWS);
    tb_batch *b = NULL;
    if (tb_batch_shell(g->n_proj, g->arena, &b) != TB_OK)
        return tb_err_nomem(err);
    for (uint32_t j = 0; j < g->n_proj; j++) {
        tb_rc rc = dg_fill(g, &b->cols[j], g->proj[j], g->next, n, err);
        if (rc != TB_OK)
            return rc;
    }
    b->n_rows = b->cap = n;
    g->next += n;
    g->src->base.stats.rows_read += n;
    *out = b;
    return TB_OK;
}

static void dg_op_free(tb_op *op)
{
    dg_op *g = (dg_op *)op;
    tb_arena_free(g->arena);
    tb_free(g->proj);
}

static tb_rc dg_explain(tb_op *op, tb_buf *buf)
{
    dg_op *g = (dg_op *)op;
    return tb_buf_printf(buf, "datagen rows %" PRId64 "..%" PRId64, g->next, g->to);
}

static const tb_op_vt dg_op_vt = {"datagen", dg_next, dg_op_free, dg_explain, NULL};

/* ---------------------------------------------------------------- the source */

static void dg_free(tb_ssrc *s)
{
    dg_src *src = (dg_src *)s;
    if (src == NULL)
        return;
    tb_free(src->kinds);
    tb_free(src->base.name);
    tb_schema_free(src->base.schema);
    tb_free(src);
}

static bool parse_i64(const char *v, int64_t min, int64_t *out)
{
    char *end = NULL;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end != '\0' || x < min)
        return false;
    *out = x;
    return true;
}

static tb_rc dg_create(const tb_ssrc_args *args, tb_ssrc **out, tb_err *err)
{
    tb_rc rc = TB_OK;
    const char *name = args->name;
    const tb_schema *schema = args->schema;
    dg_src *src = tb_calloc(1, sizeof(*src));
    *out = NULL;
    if (src == NULL)
        return tb_err_nomem(err);
    src->base.vt = &tb_ssrc_datagen_vt;
    src->base.batch = -1;
    src->base.name = tb_strdup(name);
    src->base.schema = tb_schema_copy(schema);
    src->kinds = tb_calloc(schema->n ? schema->n : 1, sizeof(dg_kind));
    if (src->base.name == NULL || src->base.schema == NULL || src->kinds == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    src->rows_per_second = -1;
    src->rows = -1;
    src->products = 100;
    (void)tb_parse_timestamp("2024-01-01 00:00:00", 19, &src->start_us);
    for (size_t i = 0; i + 1 < args->kv->n; i += 2) {
        const char *k = args->kv->items[i], *v = args->kv->items[i + 1];
        int64_t x = 0;
        if (tb_str_ieq(k, "rows_per_second")) {
            char *end = NULL;
            double d = strtod(v, &end);
            if (end == v || *end != '\0' || !(d > 0)) {
                rc = TB_ERRF(err, TB_E_SQL, "datagen %s: rows_per_second takes a number > 0, "
                             "not '%s'", name, v);
                goto fail;
            }
            src->rows_per_second = d;
        } else if (tb_str_ieq(k, "seed")) {
            if (!parse_i64(v, INT64_MIN, &x)) {
                rc = TB_ERRF(err, TB_E_SQL, "datagen %s: seed takes an integer, not '%s'", name,
                             v);
                goto fail;
            }
            src->seed = (uint64_t)x;
        } else if (tb_str_ieq(k, "rows") || tb_str_ieq(k, "max_rows_per_trigger") ||
                   tb_str_ieq(k, "products")) {
            if (!parse_i64(v, tb_str_ieq(k, "rows") ? 0 : 1, &x)) {
                rc = TB_ERRF(err, TB_E_SQL, "datagen %s: %s takes an integer >= %d, not '%s'",
                             name, k, tb_str_ieq(k, "rows") ? 0 : 1, v);
                goto fail;
            }
            if (tb_str_ieq(k, "rows"))
                src->rows = x;
            else if (tb_str_ieq(k, "products"))
                src->products = x;
            else
                src->max_rows = x;
        } else if (tb_str_ieq(k, "start")) {
            if (!tb_parse_timestamp(v, strlen(v), &src->start_us)) {
                rc = TB_ERRF(err, TB_E_SQL, "datagen %s: start takes a timestamp "
                             "('2024-01-01 00:00:00'), not '%s'", name, v);
                goto fail;
            }
        } else if (tb_str_ieq(k, "max_out_of_orderness")) {
            int64_t ms = 0;
            if (!tb_stream_parse_duration(v, &ms)) {
                rc = TB_ERRF(err, TB_E_SQL, "datagen %s: max_out_of_orderness takes a duration "
                             "('2 seconds'), not '%s'", name, v);
                goto fail;
            }
            src->ooo_us = ms * 1000;
        } else {
            rc = TB_ERRF(err, TB_E_SQL,
                         "datagen %s: unknown option '%s' (rows_per_second, rows, seed, "
                         "products, start, max_out_of_orderness, max_rows_per_trigger)",
                         name, k);
            goto fail;
        }
    }
    if (src->rows_per_second < 0)
        src->rows_per_second = src->rows >= 0 ? 0 : 1000;
    src->pace_t0 = tb_now_ns();
    for (uint32_t c = 0; c < schema->n; c++) {
        const tb_field *f = &schema->fields[c];
        tb_type t = f->type;
        bool integer = t.id == TB_T_INT16 || t.id == TB_T_INT32 || t.id == TB_T_INT64;
        dg_kind kind = DG_RANDOM;
        if (integer && (tb_str_ieq(f->name, "sale_id") || tb_str_ieq(f->name, "id")))
            kind = DG_ID;
        else if (integer && tb_str_ieq(f->name, "product_id"))
            kind = DG_PRODUCT;
        else if (integer && tb_str_ieq(f->name, "quantity"))
            kind = DG_QTY;
        else if (t.id == TB_T_TIMESTAMP)
            kind = DG_TIME;
        else if (!integer && t.id != TB_T_BOOL && t.id != TB_T_FLOAT && t.id != TB_T_DOUBLE &&
                 t.id != TB_T_STRING && t.id != TB_T_DATE) {
            char tn[64];
            rc = TB_ERRF(err, TB_E_UNSUPPORTED,
                         "datagen %s: column \"%s\" is %s: datagen makes integers, real and "
                         "double, boolean, text, date and timestamp columns",
                         name, f->name, tb_type_name(t, tn, sizeof(tn)));
            goto fail;
        }
        src->kinds[c] = kind;
    }
    *out = &src->base;
    return TB_OK;
fail:
    dg_free(&src->base);
    return rc;
}

/* {"from": F, "to": T}, checked. */
static tb_rc dg_range(const dg_src *src, const json_t *offsets, int64_t *from, int64_t *to,
                      tb_err *err)
{
    json_t *f = json_object_get(offsets, "from"), *t = json_object_get(offsets, "to");
    if (!json_is_integer(f) || !json_is_integer(t) || json_integer_value(f) < 0 ||
        json_integer_value(t) < json_integer_value(f))
        return TB_ERRF(err, TB_E_CORRUPT, "datagen %s: bad offsets (expected {\"from\": F, "
                       "\"to\": T} row numbers)", src->base.name);
    *from = json_integer_value(f);
    *to = json_integer_value(t);
    return TB_OK;
}

static tb_rc dg_restore(tb_ssrc *s, const json_t *offsets, tb_err *err)
{
    dg_src *src = (dg_src *)s;
    int64_t from = 0, to = 0; /* set by dg_range on success (gcc -O3 cannot tell) */
    tb_rc rc = dg_range(src, offsets, &from, &to, err);
    if (rc == TB_OK && to > src->pos) {
        /* the pace goes on from here (rows before were generated in an earlier run) */
        src->pace_pos += to - src->pos;
        src->pos = to;
    }
    return rc;
}

static tb_rc dg_plan(tb_ssrc *s, int timeout_ms, json_t **out, bool *out_more, tb_err *err)
{
    dg_src *src = (dg_src *)s;
    *out = NULL;
    *out_more = false;
    int64_t now = tb_now_ns();
    for (;;) {
        double elapsed = (double)(now - src->pace_t0) / 1e9;
        double avail_d = src->rows_per_second > 0
                             ? (double)src->pace_pos + elapsed * src->rows_per_second
                             : 9.1e18;
        int64_t avail = avail_d > 9e18 ? INT64_MAX : (int64_t)avail_d;
        if (src->rows >= 0 && avail > src->rows)
            avail = src->rows;
        if (avail > src->pos) {
            int64_t to = avail;
            if (!s->plan_all && src->max_rows > 0 && to - src->pos > src->max_rows)
                to = src->pos + src->max_rows;
            *out = json_pack("{s:I, s:I}", "from", (json_int_t)src->pos, "to", (json_int_t)to);
            if (*out == NULL)
                return tb_err_nomem(err);
            src->pos = to;
            *out_more = avail > to;
            return TB_OK;
        }
        if (timeout_ms <= 0 || (src->rows >= 0 && src->pos >= src->rows))
            return TB_OK;
        /* wait for the next row, within the timeout */
        double wait_ms = ((double)(src->pos + 1 - src->pace_pos) / src->rows_per_second -
                          elapsed) * 1e3;
        int ms = wait_ms < 1 ? 1 : wait_ms > timeout_ms ? timeout_ms : (int)wait_ms;
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        timeout_ms -= ms;
        now = tb_now_ns();
    }
}

static tb_rc dg_open(tb_ssrc *s, const json_t *offsets, const int *proj, uint32_t n_proj,
                     tb_op **out, tb_err *err)
{
    dg_src *src = (dg_src *)s;
    int64_t from = 0, to = 0; /* set by dg_range on success (gcc -O3 cannot tell) */
    *out = NULL;
    tb_rc rc = dg_range(src, offsets, &from, &to, err);
    if (rc != TB_OK)
        return rc;
    dg_op *g = tb_calloc(1, sizeof(*g));
    tb_schema *schema = tb_schema_new(n_proj);
    if (g == NULL || schema == NULL)
        goto nomem;
    g->proj = tb_malloc(sizeof(int) * (n_proj + 1));
    g->arena = tb_arena_new(0);
    if (g->proj == NULL || g->arena == NULL)
        goto nomem;
    for (uint32_t i = 0; i < n_proj; i++) {
        const tb_field *f = &s->schema->fields[proj[i]];
        if (tb_schema_set(schema, i, f->name, f->type, f->nullable) != TB_OK)
            goto nomem;
        g->proj[i] = proj[i];
    }
    g->base.vt = &dg_op_vt;
    g->base.schema = schema;
    g->src = src;
    g->n_proj = n_proj;
    g->next = from;
    g->to = to;
    *out = &g->base;
    return TB_OK;
nomem:
    tb_schema_free(schema);
    if (g != NULL) {
        tb_free(g->proj);
        tb_arena_free(g->arena);
        tb_free(g);
    }
    return tb_err_nomem(err);
}

static void dg_describe(tb_ssrc *s, const json_t *offsets, json_t *entry)
{
    dg_src *src = (dg_src *)s;
    json_object_set_new(entry, "description", json_string("DatagenSource"));
    json_object_set(entry, "endOffset", (json_t *)offsets);
    json_object_set_new(entry, "latestOffset", json_integer((json_int_t)src->pos));
}

const tb_ssrc_vt tb_ssrc_datagen_vt = {"datagen", dg_create, dg_restore,  dg_plan,
                                       dg_open,   NULL,      dg_describe, dg_free};
