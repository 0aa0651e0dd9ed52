/*
 * parallel.c - morsel-driven parallel execution of the pipeline below an aggregate.
 *
 * Shape: the planner builds one copy of the pipeline (scan -> filter/project -> hash
 * join probes) per worker. Each copy's leaf is a morsel scan over a shared morsel queue:
 * a splittable source (format.h: CSV files, Parquet row groups) whose morsels are handed
 * out in increasing order, one at a time, to whichever worker asks. Hash join build
 * sides are built once and shared read-only (tb_hashjoin_once). Each worker folds its
 * copy's output into its own partial tb_hashagg; at the end the partials are merged
 * into worker 0's and emitted.
 *
 * Determinism: every row is stamped with (morsel index, row position in the morsel's
 * output), which is its position in the serial run; the aggregate keeps each group's
 * smallest stamp and emits groups in that order, so the output is exactly the serial
 * output (same rows, same order), whatever the thread count and timing. (The operators
 * of a copy never mix rows of two morsels in one output batch: filter, project and
 * hash join probes emit rows of the batch they last pulled.)
 *
 * Errors: a worker's error is attributed to the morsel it was working on. The queue
 * then stops handing out later morsels, and workers on later morsels drop them at the
 * next batch; workers on earlier morsels finish theirs, since an error there must win.
 * The error reported is that of the smallest morsel index, which is the error the
 * serial run stops at (errors before the first morsel, such as a failing build side,
 * rank first). Memory: a worker holds one batch of its copy at a time; nothing is
 * queued between threads.
 *
 * @thread the operators are created and freed on one thread; during next() the copies
 * run on tb_par_run's workers, one copy per worker, sharing only the queue (atomics)
 * and the once-built hash tables (mutex, then read-only).
 */
#include <stdatomic.h>
#include <string.h>

#include "exec/op_int.h"

/* A row's stamp: morsel (+1, 0 = before any morsel) in the high bits, then its index
 * among the rows that morsel's copy produced. */
#define STAMP_SHIFT 40

/* ---------------------------------------------------------------- morsel queue */

struct tb_morsel_queue {
    atomic_uint refs;
    tb_source *src;
    uint64_t n;
    atomic_uint_fast64_t next; /* next morsel to hand out */
    atomic_uint_fast64_t stop; /* no morsel above this one is needed (an error) */
    uint32_t n_slots;
    atomic_uint_fast64_t cur[TB_PAR_MAX]; /* per worker: current morsel + 1, 0 = none */
};

tb_rc tb_morsel_queue_new(tb_source *src, tb_morsel_queue **out, tb_err *err)
{
    tb_morsel_queue *q;
    uint64_t n = 0;
    tb_rc rc;

    *out = NULL;
    rc = tb_source_morsels(src, &n, err);
    if (rc != TB_OK) {
        tb_source_free(src);
        return rc;
    }
    q = tb_calloc(1, sizeof(*q));
    if (q == NULL) {
        tb_source_free(src);
        return tb_err_nomem(err);
    }
    atomic_init(&q->refs, 1);
    q->src = src;
    q->n = n;
    atomic_init(&q->next, 0);
    atomic_init(&q->stop, UINT64_MAX);
    for (uint32_t w = 0; w < TB_PAR_MAX; w++)
        atomic_init(&q->cur[w], 0);
    *out = q;
    return TB_OK;
}

uint64_t tb_morsel_queue_count(const tb_morsel_queue *q) { return q->n; }

tb_morsel_queue *tb_morsel_queue_ref(tb_morsel_queue *q)
{
    atomic_fetch_add(&q->refs, 1);
    return q;
}

void tb_morsel_queue_free(tb_morsel_queue *q)
{
    if (q == NULL || atomic_fetch_sub(&q->refs, 1) != 1)
        return;
    tb_source_free(q->src);
    tb_free(q);
}

/* Start over (a plan run again): every morsel is to be read. */
static void queue_reset(tb_morsel_queue *q)
{
    atomic_store(&q->next, 0);
    atomic_store(&q->stop, UINT64_MAX);
    for (uint32_t w = 0; w < TB_PAR_MAX; w++)
        atomic_store(&q->cur[w], 0);
}

/* The next morsel for a worker, or false when none is left (or needed). */
static bool queue_take(tb_morsel_queue *q, uint64_t *out)
{
    uint64_t i = atomic_fetch_add(&q->next, 1);
    if (i >= q->n || i > atomic_load(&q->stop))
        return false;
    *out = i;
    return true;
}

/* An error at morsel m: later morsels are not needed. */
static void queue_stop_at(tb_morsel_queue *q, uint64_t m)
{
    uint64_t cur = atomic_load(&q->stop);
    while (m < cur && !atomic_compare_exchange_weak(&q->stop, &cur, m))
        ;
}

/* ---------------------------------------------------------------- morsel scan */

typedef struct mscan_op {
    tb_op base;
    tb_morsel_queue *q;
    uint32_t worker;
    tb_source *reader;
    bool have;    /* positioned at a morsel */
    uint64_t cur; /* that morsel */
    tb_arena *arena;
} mscan_op;

static tb_rc mscan_next(tb_op *op, tb_batch **out, tb_err *err)
{
    mscan_op *s = (mscan_op *)op;
    tb_rc rc;

    *out = NULL;
    for (;;) {
        if (!s->have) {
            uint64_t i;
            if (!queue_take(s->q, &i))
                return TB_OK;
            s->cur = i;
            s->have = true;
            atomic_store(&s->q->cur[s->worker], i + 1);
            rc = tb_source_seek_morsel(s->reader, i, err);
            if (rc != TB_OK)
                return rc;
        }
        if (s->cur > atomic_load(&s->q->stop))
            return TB_OK; /* an earlier morsel failed: this one is not needed */
        tb_batch *batch = NULL;
        tb_arena_reset(s->arena);
        rc = tb_source_next(s->reader, s->arena, &batch, err);
        if (rc != TB_OK)
            return rc;
        if (batch == NULL) {
            s->have = false;
            continue;
        }
        if (batch->n_rows > 0) {
            *out = batch;
            return TB_OK;
        }
    }
}

static void mscan_free(tb_op *op)
{
    mscan_op *s = (mscan_op *)op;
    tb_source_free(s->reader);
    tb_arena_free(s->arena);
    tb_morsel_queue_free(s->q);
}

static tb_rc mscan_explain(tb_op *op, tb_buf *buf)
{
    mscan_op *s = (mscan_op *)op;
    tb_rc rc = tb_buf_printf(buf, "%s, %llu morsels (", s->reader->vt->name,
                             (unsigned long long)s->q->n);
    for (uint32_t i = 0; i < op->schema->n && rc == TB_OK; i++) {
        if (i > 0)
            rc = tb_buf_puts(buf, ", ");
        if (rc == TB_OK)
            rc = tb_buf_puts(buf, op->schema->fields[i].name ? op->schema->fields[i].name : "?");
    }
    return rc == TB_OK ? tb_buf_putc(buf, ')') : rc;
}

/*
 * Read every morsel again (a prepared plan run again, issue 9). The queue is shared by
 * the copies: worker 0's scan resets it, before any copy runs (the copies are rescanned
 * together, by their parallel aggregate or, for a lone scan, by its parent).
 */
static tb_rc mscan_rescan(tb_op *op, tb_err *err)
{
    mscan_op *s = (mscan_op *)op;
    TB_UNUSED(err);
    s->have = false;
    if (s->worker == 0)
        queue_reset(s->q);
    return TB_OK;
}

static const tb_op_vt mscan_vt = {"parallel scan", mscan_next, mscan_free, mscan_explain,
                                  mscan_rescan};

tb_rc tb_op_morsel_scan_new(tb_morsel_queue *q, uint32_t worker, tb_op **out, tb_err *err)
{
    mscan_op *s;
    tb_rc rc;

    *out = NULL;
    if (worker >= TB_PAR_MAX)
        return TB_ERRF(err, TB_E_MISUSE, "parallel scan: worker %u of at most %u", worker,
                       TB_PAR_MAX);
    s = tb_op_alloc(sizeof(*s), &mscan_vt, 0, NULL);
    if (s == NULL)
        return tb_err_nomem(err);
    s->q = tb_morsel_queue_ref(q);
    s->worker = worker;
    s->arena = tb_arena_new(256 * 1024);
    s->base.schema = tb_schema_copy(q->src->schema);
    if (s->arena == NULL || s->base.schema == NULL) {
        tb_op_free(&s->base);
        return tb_err_nomem(err);
    }
    rc = tb_source_morsel_reader(q->src, &s->reader, err);
    if (rc != TB_OK) {
        tb_op_free(&s->base);
        return rc;
    }
    if (worker + 1 > q->n_slots)
        q->n_slots = worker + 1;
    *out = &s->base;
    return TB_OK;
}

/* ---------------------------------------------------------------- parallel aggregate */

typedef struct pworker {
    tb_op *pipe;
    tb_hashagg *agg;
    tb_arena *scratch;
    tb_rc rc;
    uint64_t err_at; /* stamp-order rank of the failing morsel (0 = before any) */
    tb_err err;
} pworker;

typedef struct pagg_op {
    tb_op base; /* children[0] = worker 0's copy (EXPLAIN shows it) */
    tb_morsel_queue *q;
    uint32_t n_workers;
    pworker *w;
    uint32_t n_groups;
    tb_expr **group_exprs;
    tb_aggspec *aggs;
    uint32_t n_aggs;
    bool consumed;
    tb_hashagg_iter it;
    tb_arena *arena;
} pagg_op;

static void pagg_work(void *arg, uint32_t wi)
{
    pagg_op *p = arg;
    pworker *w = &p->w[wi];
    uint64_t morsel = 0, rows = 0; /* morsel + 1 of the rows being consumed */

    for (;;) {
        tb_batch *batch = NULL;
        tb_arena_reset(w->scratch);
        w->rc = tb_op_next(w->pipe, &batch, &w->err);
        uint64_t m = atomic_load(&p->q->cur[wi]);
        if (w->rc != TB_OK) {
            w->err_at = m;
            if (m > 0)
                queue_stop_at(p->q, m - 1);
            else
                queue_stop_at(p->q, 0);
            return;
        }
        if (batch == NULL)
            return;
        if (m != morsel) {
            morsel = m;
            rows = 0;
        }
        tb_hashagg_set_stamp(w->agg, (morsel << STAMP_SHIFT) + rows);
        rows += batch->n_rows;
        w->rc = tb_hashagg_consume_batch(w->agg, batch, p->group_exprs, w->scratch, &w->err);
        if (w->rc != TB_OK) {
            w->err_at = m;
            queue_stop_at(p->q, m > 0 ? m - 1 : 0);
            return;
        }
    }
}

/* Run every worker to the end; merge; the first error in serial order if any. */
static tb_rc pagg_consume(pagg_op *p, tb_err *err)
{
    pworker *first = NULL;
    tb_rc rc;

    queue_reset(p->q);
    for (uint32_t i = 0; i < p->n_workers; i++)
        p->w[i].rc = TB_OK;
    (void)tb_par_run(p->n_workers, pagg_work, p);
    for (uint32_t i = 0; i < p->n_workers; i++) {
        pworker *w = &p->w[i];
        if (w->rc != TB_OK && (first == NULL || w->err_at < first->err_at))
            first = w;
    }
    if (first != NULL) {
        if (err != NULL)
            *err = first->err;
        return first->rc;
    }
    for (uint32_t i = 1; i < p->n_workers; i++) {
        rc = tb_hashagg_merge(p->w[0].agg, p->w[i].agg, err);
        if (rc != TB_OK)
            return rc;
        tb_hashagg_free(p->w[i].agg); /* merged: release its memory now */
        p->w[i].agg = NULL;
    }
    return tb_hashagg_order_by_stamp(p->w[0].agg, err);
}

static tb_rc pagg_next(tb_op *op, tb_batch **out, tb_err *err)
{
    pagg_op *p = (pagg_op *)op;
    tb_rc rc;

    *out = NULL;
    tb_arena_reset(p->arena);
    if (!p->consumed) {
        rc = pagg_consume(p, err);
        if (rc != TB_OK)
            return rc;
        p->consumed = true;
        tb_hashagg_iter_init(&p->it, TB_HASHAGG_ALL, 0, NULL);
    }
    return tb_hashagg_next(p->w[0].agg, &p->it, p->arena, out, err);
}

static void pagg_free(tb_op *op)
{
    pagg_op *p = (pagg_op *)op;
    for (uint32_t i = 0; p->w != NULL && i < p->n_workers; i++) {
        if (i > 0)
            tb_op_free(p->w[i].pipe); /* copy 0 is children[0] */
        tb_hashagg_free(p->w[i].agg);
        tb_arena_free(p->w[i].scratch);
    }
    tb_free(p->w);
    tb_free(p->group_exprs);
    tb_free(p->aggs);
    tb_arena_free(p->arena);
    tb_morsel_queue_free(p->q);
}

static tb_rc pagg_explain(tb_op *op, tb_buf *buf)
{
    pagg_op *p = (pagg_op *)op;
    const tb_schema *in = op->children[0]->schema;
    tb_rc rc = tb_buf_printf(buf, "%u workers", p->n_workers);

    if (rc == TB_OK && p->n_groups > 0)
        rc = tb_buf_puts(buf, ", group by ");
    for (uint32_t k = 0; k < p->n_groups && rc == TB_OK; k++) {
        if (k > 0)
            rc = tb_buf_puts(buf, ", ");
        if (rc == TB_OK)
            rc = tb_expr_format(p->group_exprs[k], in, buf);
    }
    for (uint32_t i = 0; i < p->n_aggs && rc == TB_OK; i++) {
        const tb_aggspec *s = &p->aggs[i];
        rc = tb_buf_printf(buf, ", %s(%s", tb_agg_kind_name(s->kind), s->distinct ? "DISTINCT " : "");
        if (rc == TB_OK && s->arg != NULL)
            rc = tb_expr_format(s->arg, in, buf);
        else if (rc == TB_OK)
            rc = tb_buf_putc(buf, '*');
        if (rc == TB_OK)
            rc = tb_buf_putc(buf, ')');
    }
    return rc;
}

/*
 * Yield the result again (a prepared plan run again, issue 9). Everything under a
 * parallel aggregate reads files through its morsel queue (and build sides shared once):
 * never the stream, whose scan is no splittable source. So its input cannot have
 * changed without the runtime planning again (a static table's version moved), and the
 * merged result is kept: the next pass only walks it again.
 */
static tb_rc pagg_rescan(tb_op *op, tb_err *err)
{
    pagg_op *p = (pagg_op *)op;
    TB_UNUSED(err);
    if (p->consumed)
        tb_hashagg_iter_init(&p->it, TB_HASHAGG_ALL, 0, NULL);
    return TB_OK;
}

static const tb_op_vt pagg_vt = {"parallel hash aggregate", pagg_next, pagg_free, pagg_explain,
                                 pagg_rescan};

tb_rc tb_op_parallel_agg_new(tb_morsel_queue *q, uint32_t n_workers, tb_op **pipes,
                             uint32_t n_groups, tb_expr **group_exprs, const char **group_names,
                             uint32_t n_aggs, const tb_aggspec *aggs, const char **agg_names,
                             tb_op **out, tb_err *err)
{
    pagg_op *p = NULL;
    tb_type *types = NULL;
    tb_rc rc;

    *out = NULL;
    if (n_workers == 0 || n_workers > TB_PAR_MAX) {
        tb_op_free_all(pipes, n_workers);
        return TB_ERRF(err, TB_E_MISUSE, "parallel aggregate: %u workers", n_workers);
    }
    p = tb_op_alloc(sizeof(*p), &pagg_vt, 1, &pipes[0]);
    if (p == NULL) {
        tb_op_free_all(pipes, n_workers);
        return tb_err_nomem(err);
    }
    p->w = tb_calloc(n_workers, sizeof(pworker));
    if (p->w == NULL) {
        tb_op_free_all(pipes + 1, n_workers - 1);
        tb_op_free(&p->base);
        return tb_err_nomem(err);
    }
    p->n_workers = n_workers;
    for (uint32_t i = 0; i < n_workers; i++)
        p->w[i].pipe = pipes[i];
    p->q = tb_morsel_queue_ref(q);
    p->n_groups = n_groups;
    p->n_aggs = n_aggs;
    p->group_exprs = tb_malloc((n_groups ? n_groups : 1) * sizeof(tb_expr *));
    p->aggs = tb_malloc((n_aggs ? n_aggs : 1) * sizeof(tb_aggspec));
    types = tb_malloc((n_groups ? n_groups : 1) * sizeof(tb_type));
    p->arena = tb_arena_new(256 * 1024);
    p->base.schema = tb_schema_new(n_groups + n_aggs);
    if (p->group_exprs == NULL || p->aggs == NULL || types == NULL || p->arena == NULL ||
        p->base.schema == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    if (n_groups > 0)
        memcpy(p->group_exprs, group_exprs, n_groups * sizeof(tb_expr *));
    if (n_aggs > 0)
        memcpy(p->aggs, aggs, n_aggs * sizeof(tb_aggspec));
    rc = tb_agg_output_schema(p->base.schema, n_groups, group_exprs, group_names, n_aggs, aggs,
                              agg_names, types, err);
    if (rc != TB_OK)
        goto fail;
    for (uint32_t i = 0; i < n_workers; i++) {
        rc = tb_hashagg_new(n_groups, types, n_aggs, aggs, &p->w[i].agg, err);
        if (rc != TB_OK)
            goto fail;
        tb_hashagg_track_changes(p->w[i].agg, false);
        tb_hashagg_set_stamp(p->w[i].agg, 0); /* stamped even if it gets no rows */
        p->w[i].scratch = tb_arena_new(256 * 1024);
        if (p->w[i].scratch == NULL) {
            rc = tb_err_nomem(err);
            goto fail;
        }
    }
    tb_free(types);
    *out = &p->base;
    return TB_OK;
fail:
    tb_free(types);
    tb_op_free(&p->base);
    return rc;
}
