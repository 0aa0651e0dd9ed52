/*
 * job.c - the statements of a streaming job: stream sources, continuous queries
 * (materialized views, INSERT INTO a sink), sink declarations; everything else goes to
 * tb_db_exec. Also the stream's lifecycle (new, free).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "format/delta.h"
#include "sink/write_stmt.h"
#include "stream/stream_int.h"

/* ---------------------------------------------------------------- helpers */

const char *tb_stream_kv_get(const tb_strlist *kv, const char *key)
{
    for (size_t i = 0; i + 1 < kv->n; i += 2)
        if (tb_str_ieq(kv->items[i], key))
            return kv->items[i + 1];
    return NULL;
}

bool tb_stream_parse_duration(const char *s, int64_t *out_ms)
{
    tb_interval iv;
    if (s == NULL)
        return false;
    size_t n = strlen(s);
    if (n > 2 && strcmp(s + n - 2, "ms") == 0 && s[n - 3] >= '0' && s[n - 3] <= '9') {
        char *end = NULL;
        double v = strtod(s, &end);
        if (end != s + n - 2 || v < 0)
            return false;
        *out_ms = (int64_t)v;
        return true;
    }
    if (!tb_parse_interval(s, n, &iv))
        return false;
    int64_t us = tb_interval_micros(iv);
    if (us < 0)
        return false;
    *out_ms = us / 1000;
    return true;
}

/*
 * The stream a query reads, found after binding (views and CTEs expanded): the stream
 * tables of the stream scans in its plan. *out_tab NULL: none (a static query). Two
 * different streams: an error at pos naming both.
 */
static tb_rc stream_of(tb_stream *st, const char *text, const PgQuery__Node *select,
                       const char *what, int pos, stream_tab **out_tab, const char **out_view,
                       tb_err *err)
{
    tb_plan *plan = NULL;
    stream_tab *tabs[2] = {NULL, NULL};
    *out_tab = NULL;
    *out_view = NULL;
    tb_rc rc = tb_sql_plan_node(st->db, text, select, NULL, &plan, err);
    if (rc != TB_OK)
        return rc;
    uint32_t n = tb_sscan_tables(plan->root, tabs, 2);
    /* a streaming view read (a cascade): the view of a continuous query or a view
     * derived from one, found by its table in the catalog after binding */
    for (uint32_t i = 0; i < plan->n_rels && *out_view == NULL; i++) {
        const tb_table *t = plan->rels[i].table;
        const void *v = plan->rels[i].vt == &tb_sview_vt ? plan->rels[i].ud : NULL;
        for (size_t k = 0; (t != NULL || v != NULL) && k < st->n_cqs && *out_view == NULL; k++)
            if ((t != NULL && st->cqs[k]->mv == t) || (v != NULL && st->cqs[k]->view == v))
                *out_view = st->cqs[k]->name;
        for (size_t k = 0; t != NULL && k < st->n_derived && *out_view == NULL; k++)
            if (st->derived[k].mv == t)
                *out_view = st->derived[k].name;
    }
    tb_plan_free(plan);
    if (n > 0 && *out_view != NULL)
        return TB_ERRPOS(err, TB_E_UNSUPPORTED, pos,
                         "%s reads the stream %s and the streaming view %s: not supported; "
                         "join the stream with static tables only",
                         what, tabs[0]->name, *out_view);
    if (n > 1)
        return TB_ERRPOS(err, TB_E_UNSUPPORTED, pos,
                         "%s reads two streams (%s, %s): joins of two streams are not "
                         "supported; join a stream with static tables",
                         what, tabs[0]->name, tabs[1]->name);
    *out_tab = tabs[0];
    return TB_OK;
}

static cq *find_cq(tb_stream *st, const char *name)
{
    for (size_t i = 0; i < st->n_cqs; i++)
        if ((st->cqs[i]->mv != NULL || st->cqs[i]->view != NULL) &&
            strcmp(st->cqs[i]->name, name) == 0)
            return st->cqs[i];
    return NULL;
}

static struct decl *find_decl(tb_stream *st, const char *name)
{
    for (size_t i = 0; i < st->n_decls; i++)
        if (strcmp(st->decls[i].name, name) == 0)
            return &st->decls[i];
    return NULL;
}

/* Statement text with runs of white space folded (the checkpoint's query identity). */
static char *normalise(const char *sql, int off, int len)
{
    if (len <= 0)
        len = (int)strlen(sql + off);
    char *out = tb_malloc((size_t)len + 1);
    if (out == NULL)
        return NULL;
    size_t j = 0;
    bool space = false;
    for (int i = 0; i < len; i++) {
        char c = sql[off + i];
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
            space = j > 0;
            continue;
        }
        if (space)
            out[j++] = ' ';
        space = false;
        out[j++] = c;
    }
    while (j > 0 && out[j - 1] == ';')
        j--;
    out[j] = '\0';
    return out;
}

static out_mode parse_mode(const char *s, bool *ok)
{
    *ok = true;
    if (s == NULL)
        return MODE_DEFAULT;
    if (tb_str_ieq(s, "complete"))
        return MODE_COMPLETE;
    if (tb_str_ieq(s, "append"))
        return MODE_APPEND;
    if (tb_str_ieq(s, "update"))
        return MODE_UPDATE;
    *ok = false;
    return MODE_DEFAULT;
}

/* ---------------------------------------------------------------- prepared plans */

/*
 * A group key that is a window column of hop() or tumble() in FROM (window_start or
 * window_end, passed up from the hop operator under the aggregate by name): *to_end is
 * the distance from its value to the window's end (the size for the start, 0 for the
 * end). Renamed on the way (a subquery's alias), it is not recognised.
 */
static bool window_column(const tb_op *child, const tb_expr *e, int64_t *to_end)
{
    if (e->kind != TB_EX_COL || e->type.id != TB_T_TIMESTAMP || e->col < 0 ||
        (uint32_t)e->col >= child->schema->n)
        return false;
    return tb_op_hop_column(child, child->schema->fields[e->col].name, to_end);
}

/* Put `with` in place of `old` in the tree under *slot (old is not freed). */
static bool replace_op(tb_op **slot, tb_op *old, tb_op *with)
{
    if (*slot == old) {
        *slot = with;
        return true;
    }
    for (uint32_t i = 0; *slot != NULL && i < (*slot)->n_children; i++)
        if (replace_op(&(*slot)->children[i], old, with))
            return true;
    return false;
}

/* Which output columns are the query's group keys (the sinks' default upsert key):
 * the binder follows each group key up to the output (tb_plan_agg.group_out). */
static tb_rc note_key_out(cq *q, const tb_plan_agg *ta, tb_err *err)
{
    tb_free(q->key_out);
    tb_free(q->key_missing);
    q->key_out = NULL;
    q->key_missing = NULL;
    q->n_key_out = 0;
    if (ta == NULL || ta->n_groups == 0)
        return TB_OK;
    q->key_out = tb_calloc(ta->n_groups, sizeof(int));
    if (q->key_out == NULL)
        return tb_err_nomem(err);
    for (uint32_t g = 0; g < ta->n_groups; g++) {
        int o = ta->group_out != NULL ? ta->group_out[g] : -1;
        if (o < 0 || (uint32_t)o >= q->out_schema->n) {
            const char *gn = ta->group_names != NULL ? ta->group_names[g] : NULL;
            char what[128];
            if (gn != NULL && gn[0] != '?' && gn[0] != '\0')
                snprintf(what, sizeof(what), "\"%s\"", gn);
            else /* an expression ("?column?"): its place in the GROUP BY */
                snprintf(what, sizeof(what), "number %u of the GROUP BY", g + 1);
            q->key_missing = tb_strdup(what);
            q->n_key_out = 0;
            return q->key_missing != NULL ? TB_OK : tb_err_nomem(err);
        }
        q->key_out[q->n_key_out++] = o;
    }
    return TB_OK;
}

/*
 * The prepared plan of q: planned once (when the query starts, and again only when a
 * static relation it reads changed or an operator cannot be re-executed), its own
 * aggregate turned into the query's incremental aggregate over q->agg (the state lives
 * as long as the query; a restored state is loaded into it here). Also tells whether
 * the query aggregates and which group is the event-time window.
 */
tb_rc tb_cq_prepare(tb_stream *st, cq *q, tb_plan **out, tb_err *err)
{
    tb_plan *plan = NULL;
    tb_plan_opts popts = {.stream = true};
    *out = NULL;
    tb_rc rc = tb_sql_plan_node(st->db, q->text, q->select, &popts, &plan, err);
    if (rc != TB_OK)
        return rc;
    const tb_plan_agg *ta = plan->top_agg;
    if (ta == NULL) {
        *out = plan;
        return TB_OK;
    }
    tb_op *hagg = ta->op, *child = hagg->children[0];
    q->is_agg = true;
    q->win_group = -1;
    for (uint32_t g = 0; g < ta->n_groups; g++) {
        const tb_expr *e = ta->groups[g];
        const char *gname = ta->group_names != NULL ? ta->group_names[g] : NULL;
        int64_t to_end = 0;
        if (window_column(child, e, &to_end)) {
            q->win_group = (int)g;
            q->win_size_us = to_end;
            if (q->win_name == NULL && gname != NULL)
                q->win_name = tb_strdup(gname);
            break;
        }
        if (e->kind != TB_EX_CALL || e->fn_name == NULL || e->type.id != TB_T_TIMESTAMP)
            continue;
        const tb_expr *iv = NULL;
        bool end = false;
        if ((strcmp(e->fn_name, "tumble") == 0 || strcmp(e->fn_name, "tumble_start") == 0 ||
             (end = strcmp(e->fn_name, "tumble_end") == 0)) &&
            e->n_args >= 2)
            iv = e->args[1];
        else if (strcmp(e->fn_name, "date_bin") == 0 && e->n_args >= 2)
            iv = e->args[0];
        if (iv != NULL && iv->kind == TB_EX_CONST && !iv->value.is_null &&
            iv->type.id == TB_T_INTERVAL) {
            q->win_group = (int)g;
            q->win_size_us = end ? 0 : tb_interval_micros(iv->value.u.iv);
            if (q->win_name == NULL && gname != NULL)
                q->win_name = tb_strdup(gname);
            break;
        }
    }
    /* The hash aggregate's child goes to the incremental one, which takes its place. */
    tb_op *sagg = NULL;
    hagg->children[0] = NULL;
    rc = tb_sagg_op_new(&q->agg, child, ta->n_groups, ta->groups, ta->group_names, ta->n_aggs,
                        ta->aggs, ta->agg_names, q->restore, q->restore_len, &sagg, err);
    if (rc != TB_OK) {
        tb_plan_free(plan);
        return rc;
    }
    if (q->restore != NULL) {
        tb_free(q->restore);
        q->restore = NULL;
        q->restore_len = 0;
    }
    if (q->restore_chg.len > 0) {
        rc = tb_cq_restore_agg(q, err); /* snapshot + changelogs (cq_state.c) */
        if (rc != TB_OK) {
            tb_op_free(sagg);
            tb_plan_free(plan);
            return rc;
        }
    }
    if (!replace_op(&plan->root, hagg, sagg)) {
        tb_op_free(sagg);
        tb_plan_free(plan);
        return TB_ERRF(err, TB_E_ERROR, "internal: the query's aggregate is not in its plan");
    }
    tb_op_free(hagg);
    *out = plan;
    return TB_OK;
}

/* ---------------------------------------------------------------- job statements */

static tb_rc exec_plain(tb_stream *st, const char *sql, int off, int len, tb_err *err)
{
    char *text = tb_strndup(sql + off, len > 0 ? (size_t)len : strlen(sql + off));
    if (text == NULL)
        return tb_err_nomem(err);
    tb_rc rc = tb_db_exec(st->db, text, NULL);
    if (rc != TB_OK) {
        const tb_err *e = tb_db_last_error(st->db);
        *err = *e;
        if (err->pos >= 0)
            err->pos += off;
        if (err->code == TB_OK)
            err->code = rc;
    }
    tb_free(text);
    return rc;
}

static tb_rc cq_open_checkpoint(tb_stream *st, cq *q, tb_err *err)
{
    tb_buf dir = {0};
    if (tb_buf_printf(&dir, "%s/%s", st->ckpt_root, q->name) != TB_OK)
        return tb_err_nomem(err);
    for (char *p = dir.data + strlen(st->ckpt_root) + 1; *p; p++)
        if (*p == ' ' || *p == '/')
            *p = '_';
    tb_rc rc = tb_ckpt_open(dir.data, q->query_text, &q->ckpt, err);
    tb_buf_free(&dir);
    return rc;
}

static void cq_free(cq *q)
{
    if (q == NULL)
        return;
    for (size_t i = 0; i < q->n_sinks; i++) {
        tb_sink_free(q->sinks[i].sink);
        tb_free(q->sinks[i].table);
    }
    tb_free(q->sinks);
    tb_sview_detach(q); /* its last rows, while the plan and state exist */
    tb_plan_free(q->plan); /* before the state its aggregate uses */
    json_decref(q->pending_offsets);
    tb_free(q->vers);
    tb_sagg_free(q->agg);
    tb_free(q->restore);
    tb_table_free(q->emitted);
    tb_buf_free(&q->emitted_csv);
    tb_buf_free(&q->restore_chg);
    tb_schema_free(q->out_schema);
    tb_ckpt_free(q->ckpt);
    if (q->src != NULL)
        q->src->vt->free(q->src);
    tb_free(q->win_name);
    tb_free(q->key_out);
    tb_free(q->key_missing);
    tb_free(q->query_text);
    tb_free(q->name);
    tb_free(q);
}

/* A continuous query over `src`: name is the view (or NULL for an INSERT pipeline). */
static tb_rc create_cq(tb_stream *st, const char *name, const char *text,
                       const PgQuery__Node *select, stream_tab *tab, const char *stmt_text,
                       int pos, cq **out, tb_err *err)
{
    tb_rc rc;
    tb_plan *plan = NULL;
    cq *q = tb_calloc(1, sizeof(*q));
    *out = NULL;
    if (q == NULL)
        return tb_err_nomem(err);
    q->st = st;
    q->tab = tab;
    tab->n_readers++;
    q->select = select;
    q->text = text;
    q->win_group = -1;
    q->win_out_col = -1;
    q->watermark = TB_WATERMARK_NONE;
    q->pending_commit = -1;
    q->name = tb_strdup(name);
    q->query_text = tb_strdup(stmt_text);
    if (q->name == NULL || q->query_text == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    /* Its own instance of the source: its position is the query's. */
    tb_ssrc_args args = {.name = tab->name, .kv = &tab->kv, .schema = tab->schema,
                         .query_id = q->name, .batch = 0};
    rc = tab->vt->create(&args, &q->src, err);
    if (rc != TB_OK)
        goto fail;
    q->src->batch = -1;
    /* Plan with no input: output schema, aggregate or not, window column. */
    rc = tb_cq_prepare(st, q, &plan, err);
    if (rc != TB_OK)
        goto fail;
    q->out_schema = tb_schema_copy(plan->root->schema);
    if (q->out_schema == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    rc = note_key_out(q, plan->top_agg, err);
    if (rc != TB_OK)
        goto fail;
    tb_plan_free(plan);
    plan = NULL;
    /* A fresh state per run: the planning pass above made one without input. */
    tb_sagg_free(q->agg);
    q->agg = NULL;
    q->mode = q->is_agg ? MODE_COMPLETE : MODE_APPEND;
    if (q->is_agg && tab->wm_col >= 0 && q->win_group >= 0) {
        /* The output column carrying the window start: the group's own name, else
         * "window_start", else the only timestamp column of the output. */
        if (q->win_name != NULL)
            q->win_out_col = tb_schema_find(q->out_schema, q->win_name);
        if (q->win_out_col < 0)
            q->win_out_col = tb_schema_find(q->out_schema, "window_start");
        for (uint32_t i = 0; q->win_out_col < 0 && i < q->out_schema->n; i++) {
            if (q->out_schema->fields[i].type.id != TB_T_TIMESTAMP)
                continue;
            bool only = true;
            for (uint32_t k = i + 1; k < q->out_schema->n; k++)
                only &= q->out_schema->fields[k].type.id != TB_T_TIMESTAMP;
            if (only)
                q->win_out_col = (int)i;
            break;
        }
        if (q->win_out_col < 0 || q->out_schema->fields[q->win_out_col].type.id != TB_T_TIMESTAMP)
            tb_log(TB_LOG_WARN,
                   "%s: the window start is not an output column; windows are kept, not "
                   "finalised (state grows with time)",
                   name);
        else
            q->mode = MODE_APPEND; /* windows are finalised and evicted by the watermark */
    }
    if (q->mode == MODE_APPEND && q->is_agg &&
        (q->emitted = tb_table_new(q->out_schema)) == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    rc = cq_open_checkpoint(st, q, err);
    if (rc != TB_OK)
        goto fail;
    if (tb_grow((void **)&st->cqs, &(size_t){st->n_cqs}, st->n_cqs + 1, sizeof(void *)) !=
        TB_OK) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    st->cqs[st->n_cqs++] = q;
    *out = q;
    return TB_OK;
fail:
    if (rc != TB_OK && err->pos < 0)
        err->pos = pos;
    tb_plan_free(plan);
    tab->n_readers--;
    cq_free(q);
    return rc;
}

static tb_rc create_mv(tb_stream *st, const char *name, const char *text,
                       const PgQuery__Node *select, stream_tab *tab, const char *stmt_text,
                       int pos, tb_err *err)
{
    cq *q = NULL;
    tb_rc rc = create_cq(st, name, text, select, tab, stmt_text, pos, &q, err);
    if (rc != TB_OK)
        return rc;
    if (q->is_agg) {
        rc = tb_sview_register(st, q, name, err);
        if (rc != TB_OK)
            err->pos = pos;
        return rc;
    }
    tb_table *mv = tb_table_new(q->out_schema);
    if (mv == NULL)
        return tb_err_nomem(err);
    rc = tb_catalog_add_table(st->db, name, mv, err);
    if (rc != TB_OK) {
        tb_table_free(mv);
        err->pos = pos;
        return rc;
    }
    q->mv = mv;
    return TB_OK;
}

/* Run the query of a view into a new table. */
static tb_rc compute_view(tb_stream *st, const char *text, const PgQuery__Node *select,
                          tb_table **out, tb_err *err)
{
    tb_plan *plan = NULL;
    *out = NULL;
    tb_rc rc = tb_sql_plan_node(st->db, text, select, NULL, &plan, err);
    if (rc != TB_OK)
        return rc;
    tb_table *t = tb_table_new(plan->root->schema);
    if (t == NULL)
        rc = tb_err_nomem(err);
    while (rc == TB_OK) {
        tb_batch *b = NULL;
        rc = tb_op_next(plan->root, &b, err);
        if (rc != TB_OK || b == NULL)
            break;
        rc = tb_table_append(t, b, err);
    }
    tb_plan_free(plan);
    if (rc != TB_OK)
        tb_table_free(t);
    else
        *out = t;
    return rc;
}

/* Whether every operator of the tree maps rows one by one (so the view of new input
 * rows is the new rows of the view). */
static bool row_by_row(const tb_op *op)
{
    static const char *const ok[] = {"scan", "filter", "project"};
    bool found = false;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]) && !found; i++)
        found = strcmp(op->vt->name, ok[i]) == 0;
    for (uint32_t i = 0; found && i < op->n_children; i++)
        found = op->children[i] != NULL && row_by_row(op->children[i]);
    return found;
}

/* The continuous query whose non-aggregating view alone the cascade's query reads, row
 * by row; else NULL (computed again from its views after each batch). */
static const cq *incremental_source(tb_stream *st, const char *text,
                                    const PgQuery__Node *select)
{
    tb_plan *plan = NULL;
    tb_err e;
    tb_err_clear(&e);
    if (tb_sql_plan_node(st->db, text, select, NULL, &plan, &e) != TB_OK)
        return NULL;
    const cq *src = NULL;
    if (plan->n_rels == 1 && plan->rels[0].table != NULL && plan->top_agg == NULL &&
        row_by_row(plan->root))
        for (size_t k = 0; k < st->n_cqs && src == NULL; k++)
            if (st->cqs[k]->mv == plan->rels[0].table && !st->cqs[k]->is_agg)
                src = st->cqs[k];
    tb_plan_free(plan);
    return src;
}

/*
 * A materialized view over streaming views (a cascade): maintained after every batch of
 * the job's continuous queries, so both are queryable and agree with each other. One
 * that reads a single non-aggregating (append-only) streaming view row by row (scans,
 * filters, projections) consumes that view's changes: each batch, its query runs over
 * the rows the batch appended, and the result is appended. Any other is computed again
 * from the views as they are then (O(those views) per batch: an aggregating cascade
 * over an aggregating view would need retractions, not done). It holds no state of its
 * own: after a restart the views it reads are restored (their state, or their committed
 * batches read again) and it is computed from them, so it is exactly once as they are.
 */
static tb_rc create_derived(tb_stream *st, const char *name, const char *text,
                            const PgQuery__Node *select, tb_err *err)
{
    tb_table *t = NULL;
    tb_rc rc = compute_view(st, text, select, &t, err);
    if (rc != TB_OK)
        return rc;
    if (tb_grow((void **)&st->derived, &(size_t){st->n_derived}, st->n_derived + 1,
                sizeof(*st->derived)) != TB_OK) {
        tb_table_free(t);
        return tb_err_nomem(err);
    }
    char *n = tb_strdup(name);
    rc = n == NULL ? tb_err_nomem(err) : tb_catalog_add_table(st->db, name, t, err);
    if (rc != TB_OK) {
        tb_free(n);
        tb_table_free(t);
        return rc;
    }
    st->derived[st->n_derived++] =
        (struct derived){n, text, select, t, incremental_source(st, text, select)};
    return TB_OK;
}

tb_rc tb_stream_refresh_derived(tb_stream *st, const cq *q, tb_table *rows, tb_err *err)
{
    for (size_t i = 0; i < st->n_derived; i++) {
        struct derived *d = &st->derived[i];
        tb_table *fresh = NULL;
        tb_rc rc;
        if (q != NULL && d->inc_src != NULL) {
            if (d->inc_src != q || rows == NULL || tb_table_rows(rows) == 0)
                continue; /* nothing new in the view it reads */
            /* Its query over the batch's rows alone: they stand in for the view while
             * it runs (the db's write lock is held: no reader sees the swap). */
            tb_table *keep = tb_table_new(tb_table_schema(q->mv));
            if (keep == NULL)
                return tb_err_nomem(err);
            tb_table_swap(keep, q->mv); /* (swap moves: `other` is left empty) */
            tb_table_swap(q->mv, rows);
            rc = compute_view(st, d->text, d->select, &fresh, err);
            tb_table_swap(rows, q->mv);
            tb_table_swap(q->mv, keep);
            tb_table_free(keep);
            if (rc == TB_OK)
                rc = tb_table_append_all(d->mv, fresh, err);
            tb_table_free(fresh);
            if (rc != TB_OK)
                return tb_err_prefix(err, "%s", d->name);
            continue;
        }
        rc = compute_view(st, d->text, d->select, &fresh, err);
        if (rc != TB_OK)
            return tb_err_prefix(err, "%s", d->name);
        tb_table_swap(d->mv, fresh); /* readers see the old rows or the new, whole */
        tb_table_free(fresh);
    }
    return TB_OK;
}

/* A static materialized view (no stream): computed once, kept as a memory table. */
static tb_rc create_static_mv(tb_stream *st, const char *name, const char *text,
                              const PgQuery__Node *select, tb_err *err)
{
    tb_plan *plan = NULL;
    tb_rc rc = tb_sql_plan_node(st->db, text, select, NULL, &plan, err);
    if (rc != TB_OK)
        return rc;
    tb_table *t = tb_table_new(plan->root->schema);
    if (t == NULL)
        rc = tb_err_nomem(err);
    while (rc == TB_OK) {
        tb_batch *b = NULL;
        rc = tb_op_next(plan->root, &b, err);
        if (rc != TB_OK || b == NULL)
            break;
        rc = tb_table_append(t, b, err);
    }
    tb_plan_free(plan);
    if (rc == TB_OK)
        rc = tb_catalog_add_table(st->db, name, t, err);
    if (rc != TB_OK)
        tb_table_free(t);
    return rc;
}

static bool is_select_star(const PgQuery__Node *sel)
{
    if (sel == NULL || sel->node_case != PG_QUERY__NODE__NODE_SELECT_STMT)
        return false;
    const PgQuery__SelectStmt *s = sel->select_stmt;
    if (s->n_target_list != 1 || s->n_from_clause != 1 || s->where_clause != NULL ||
        s->n_group_clause != 0)
        return false;
    const PgQuery__Node *t = s->target_list[0];
    if (t->node_case != PG_QUERY__NODE__NODE_RES_TARGET || t->res_target->val == NULL ||
        t->res_target->val->node_case != PG_QUERY__NODE__NODE_COLUMN_REF)
        return false;
    const PgQuery__ColumnRef *cr = t->res_target->val->column_ref;
    return cr->n_fields == 1 && cr->fields[0]->node_case == PG_QUERY__NODE__NODE_A_STAR;
}

static tb_rc attach_sink(cq *q, struct decl *d, int pos, tb_err *err)
{
    const char *connector = tb_stream_kv_get(&d->kv, "connector");
    bool ok;
    out_mode mode = parse_mode(tb_stream_kv_get(&d->kv, "output_mode"), &ok);
    if (!ok)
        return TB_ERRPOS(err, TB_E_SQL, pos,
                         "sink \"%s\": output_mode must be complete, append or update", d->name);
    if (mode == MODE_DEFAULT)
        mode = q->is_agg && q->mode != MODE_APPEND ? MODE_COMPLETE : MODE_APPEND;
    if (mode == MODE_COMPLETE && !q->is_agg)
        return TB_ERRPOS(err, TB_E_SQL, pos,
                         "sink \"%s\": complete output mode needs an aggregation (the query "
                         "has none); use append",
                         d->name);
    if (mode == MODE_APPEND && q->is_agg && q->mode != MODE_APPEND)
        return TB_ERRPOS(err, TB_E_SQL, pos,
                         "sink \"%s\": append output mode on an aggregation needs a watermark on "
                         "the source (WITH (watermark = 'ts - 10 seconds')) and the window start "
                         "in the output; use complete or update",
                         d->name);
    const tb_schema *schema = q->out_schema;
    if (d->schema != NULL && d->schema->n > 0) {
        if (d->schema->n != schema->n)
            return TB_ERRPOS(err, TB_E_SQL, pos,
                             "sink \"%s\" has %u columns, the query gives %u", d->name,
                             d->schema->n, schema->n);
        for (uint32_t i = 0; i < schema->n; i++) {
            if (!tb_type_eq(d->schema->fields[i].type, schema->fields[i].type)) {
                char a[64], b[64];
                return TB_ERRPOS(err, TB_E_TYPE, pos,
                                 "sink \"%s\": column \"%s\" is %s, the query gives %s",
                                 d->name, d->schema->fields[i].name,
                                 tb_type_name(d->schema->fields[i].type, a, sizeof(a)),
                                 tb_type_name(schema->fields[i].type, b, sizeof(b)));
            }
        }
        schema = d->schema;
    }
    tb_sink *sink = NULL;
    tb_sink_open_fn open = tb_sink_lookup(connector);
    if (open == NULL) {
        char names[256];
        tb_sink_connectors(names, sizeof(names));
        return TB_ERRPOS(err, TB_E_UNSUPPORTED, pos,
                         "sink \"%s\": connector '%s' cannot receive a stream (%s)", d->name,
                         connector ? connector : "", names);
    }
    /* the default key: the group keys' output columns, named as the sink names them */
    const char *keys[64];
    uint32_t n_keys = 0;
    for (uint32_t k = 0; k < q->n_key_out && k < 64; k++)
        keys[n_keys++] = schema->fields[q->key_out[k]].name;
    tb_sink_args args = {.table = d->name,
                         .kv = &d->kv,
                         .schema = schema,
                         .query_id = tb_ckpt_id(q->ckpt),
                         .mode = mode == MODE_COMPLETE ? TB_OUT_COMPLETE
                                 : mode == MODE_UPDATE ? TB_OUT_UPDATE
                                                       : TB_OUT_APPEND,
                         .keys = keys,
                         .n_keys = q->n_key_out <= 64 ? n_keys : 0,
                         .key_missing = q->key_missing};
    tb_rc rc = open(&args, &sink, err);
    if (rc != TB_OK) {
        err->pos = pos;
        return rc;
    }
    if (tb_grow((void **)&q->sinks, &(size_t){q->n_sinks}, q->n_sinks + 1, sizeof(sink_ref)) !=
        TB_OK) {
        tb_sink_free(sink);
        return tb_err_nomem(err);
    }
    q->sinks[q->n_sinks].sink = sink;
    q->sinks[q->n_sinks].mode = mode;
    q->sinks[q->n_sinks].table = tb_strdup(d->name);
    q->n_sinks++;
    return TB_OK;
}

static tb_rc exec_one(tb_stream *st, const char *text, const PgQuery__RawStmt *raw,
                      tb_err *err)
{
    const PgQuery__Node *node = raw->stmt;
    int off = raw->stmt_location;
    int len = raw->stmt_len;
    tb_rc rc = TB_OK;
    tb_strlist kv = {0};
    char *norm = NULL;

    /* A statement's location includes the blanks and comments after the previous one:
     * skip them, so errors point at the statement and the checkpoint's query identity
     * does not change with a comment above it. */
    for (;;) {
        int skip = 0;
        while (text[off + skip] == ' ' || text[off + skip] == '\t' ||
               text[off + skip] == '\n' || text[off + skip] == '\r')
            skip++;
        if (text[off + skip] == '-' && text[off + skip + 1] == '-')
            while (text[off + skip] != '\0' && text[off + skip] != '\n')
                skip++;
        if (skip == 0 || (len > 0 && skip >= len))
            break;
        off += skip;
        if (len > 0)
            len -= skip;
    }

    if (node->node_case == PG_QUERY__NODE__NODE_CREATE_STMT) {
        const char *name = node->create_stmt->relation->relname;
        rc = tb_sql_stmt_options(node, &kv, err);
        if (rc != TB_OK)
            goto done;
        const char *connector = tb_stream_kv_get(&kv, "connector");
        /* A files table is a stream source, unless it names an output mode: then it is
         * a sink (files written per batch), as `INSERT INTO` it will use it. `mode` is
         * the CSV parse mode of a source (permissive, dropmalformed, failfast). */
        bool files_sink = connector != NULL && tb_str_ieq(connector, "files") &&
                          tb_stream_kv_get(&kv, "output_mode") != NULL;
        /* A stream source, unless the table names an output mode and the connector can
         * be a sink too (files, kafka): then it is a sink. */
        bool sink_decl = files_sink || (tb_stream_kv_get(&kv, "output_mode") != NULL &&
                                        tb_sink_lookup(connector) != NULL);
        const tb_ssrc_vt *svt = sink_decl ? NULL : tb_ssrc_lookup(connector);
        if (svt != NULL) {
            stream_tab *tab = NULL;
            rc = tb_stream_tab_create(st, node, name, svt, &kv, off, &tab, err);
            if (rc == TB_OK && tb_grow((void **)&st->tabs, &(size_t){st->n_tabs}, st->n_tabs + 1,
                                       sizeof(void *)) != TB_OK)
                rc = tb_err_nomem(err);
            if (rc == TB_OK)
                st->tabs[st->n_tabs++] = tab;
            goto done;
        }
        if (connector != NULL && (sink_decl || tb_sink_lookup(connector) != NULL)) {
            if (find_decl(st, name) != NULL) {
                rc = TB_ERRPOS(err, TB_E_EXISTS, off, "relation \"%s\" already exists", name);
                goto done;
            }
            if (tb_grow((void **)&st->decls, &(size_t){st->n_decls}, st->n_decls + 1,
                        sizeof(*st->decls)) != TB_OK) {
                rc = tb_err_nomem(err);
                goto done;
            }
            struct decl *d = &st->decls[st->n_decls];
            memset(d, 0, sizeof(*d));
            d->name = tb_strdup(name);
            d->kv = kv;
            kv = (tb_strlist){0};
            if (d->name == NULL) {
                rc = tb_err_nomem(err);
                goto done;
            }
            st->n_decls++;
            rc = tb_sql_create_schema(node, &d->schema, err);
            /* A Delta table that exists already is also queryable by name. */
            const char *path = tb_stream_kv_get(&d->kv, "path");
            if (rc == TB_OK && tb_str_ieq(connector, "delta") && path != NULL &&
                tb_sql_find_tablefunc("read_delta") != NULL) {
                tb_delta_snapshot *snap = NULL;
                tb_err e2;
                tb_err_clear(&e2);
                if (tb_delta_open(path, -1, &snap, &e2) == TB_OK) {
                    tb_delta_snapshot_free(snap);
                    if (exec_plain(st, text, off, len, &e2) != TB_OK)
                        tb_log(TB_LOG_WARN, "delta table %s: %s", name, e2.msg);
                }
            }
            /* A postgres table is also a static relation (read_postgres; issue 12). */
            if (rc == TB_OK && tb_str_ieq(connector, "postgres")) {
                tb_err e2;
                tb_err_clear(&e2);
                if (exec_plain(st, text, off, len, &e2) != TB_OK)
                    tb_log(TB_LOG_INFO, "postgres table %s is not readable: %s", name, e2.msg);
            }
            goto done;
        }
        rc = exec_plain(st, text, off, len, err);
        goto done;
    }
    if (node->node_case == PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT &&
        node->create_table_as_stmt->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW) {
        const PgQuery__CreateTableAsStmt *c = node->create_table_as_stmt;
        const char *name = c->into->rel->relname;
        char what[300];
        snprintf(what, sizeof(what), "materialized view \"%s\"", name);
        stream_tab *src = NULL;
        const char *up = NULL;
        rc = stream_of(st, text, c->query, what, off, &src, &up, err);
        if (rc != TB_OK)
            goto done;
        if (up != NULL) {
            rc = create_derived(st, name, text, c->query, err);
            goto done;
        }
        if (src == NULL) {
            rc = create_static_mv(st, name, text, c->query, err);
            goto done;
        }
        norm = normalise(text, off, len);
        if (norm == NULL) {
            rc = tb_err_nomem(err);
            goto done;
        }
        rc = create_mv(st, name, text, c->query, src, norm, off, err);
        goto done;
    }
    if (node->node_case == PG_QUERY__NODE__NODE_INSERT_STMT) {
        const PgQuery__InsertStmt *ins = node->insert_stmt;
        struct decl *d = find_decl(st, ins->relation->relname);
        if (d == NULL || ins->select_stmt == NULL) {
            rc = exec_plain(st, text, off, len, err);
            goto done;
        }
        /* what it reads, found through the catalog after binding */
        cq *q = NULL;
        stream_tab *src = NULL;
        const char *up = NULL;
        char what[300];
        snprintf(what, sizeof(what), "INSERT INTO %s", d->name);
        rc = stream_of(st, text, ins->select_stmt, what, off, &src, &up, err);
        if (rc != TB_OK)
            goto done;
        if (up != NULL && (q = find_cq(st, up)) == NULL) {
            rc = TB_ERRPOS(err, TB_E_UNSUPPORTED, off,
                           "%s reads the view %s, derived from a streaming view: a sink takes "
                           "a continuous query's view (INSERT INTO %s SELECT * FROM <view over "
                           "the stream>)",
                           what, up, d->name);
            goto done;
        }
        if (q != NULL) {
            if (!is_select_star(ins->select_stmt)) {
                rc = TB_ERRPOS(err, TB_E_UNSUPPORTED, off,
                               "a sink takes a streaming view's rows as they are: write "
                               "INSERT INTO %s SELECT * FROM %s (shape the rows in the view)",
                               d->name, q->name);
                goto done;
            }
        } else if (src != NULL) {
            norm = normalise(text, off, len);
            if (norm == NULL) {
                rc = tb_err_nomem(err);
                goto done;
            }
            char qname[300];
            snprintf(qname, sizeof(qname), "insert_into_%s", d->name);
            rc = create_cq(st, qname, text, ins->select_stmt, src, norm, off, &q, err);
            if (rc != TB_OK)
                goto done;
        } else { /* no stream read: a batch write (Delta), once per job and table */
            rc = tb_write_insert_declared(st->db, text, off, len, node, &d->kv, d->schema, NULL,
                                          err);
            goto done;
        }
        rc = attach_sink(q, d, off, err);
        goto done;
    }
    rc = exec_plain(st, text, off, len, err);
done:
    tb_free(norm);
    tb_strlist_free(&kv);
    return rc;
}

tb_rc tb_stream_exec(tb_stream *st, const char *sql, tb_err *err)
{
    if (tb_strlist_push(&st->texts, sql) != TB_OK)
        return tb_err_nomem(err);
    const char *text = st->texts.items[st->texts.n - 1];
    PgQueryProtobufParseResult r = pg_query_parse_protobuf(text);
    if (r.error != NULL) {
        tb_rc rc = TB_ERRPOS(err, TB_E_SQL, r.error->cursorpos > 0 ? r.error->cursorpos - 1 : -1,
                             "syntax error: %s", r.error->message);
        pg_query_free_protobuf_parse_result(r);
        return rc;
    }
    PgQuery__ParseResult *pr =
        pg_query__parse_result__unpack(NULL, r.parse_tree.len, (const uint8_t *)r.parse_tree.data);
    pg_query_free_protobuf_parse_result(r);
    if (pr == NULL)
        return tb_err_nomem(err);
    if (tb_grow((void **)&st->parses, &(size_t){st->n_parses}, st->n_parses + 1,
                sizeof(void *)) != TB_OK) {
        pg_query__parse_result__free_unpacked(pr, NULL);
        return tb_err_nomem(err);
    }
    st->parses[st->n_parses++] = pr;
    for (size_t i = 0; i < pr->n_stmts; i++) {
        tb_rc rc = exec_one(st, text, pr->stmts[i], err);
        if (rc != TB_OK)
            return rc;
    }
    return TB_OK;
}

uint32_t tb_stream_query_count(const tb_stream *st)
{
    return (uint32_t)st->n_cqs;
}

/* ---------------------------------------------------------------- lifecycle */

void tb_stream_opts_default(tb_stream_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->trigger = TB_TRIGGER_INTERVAL;
    opts->interval_ms = 1000;
    opts->tick_every_ms = 5000;
}

tb_rc tb_stream_new(tb_db *db, const tb_stream_opts *opts, tb_stream **out, tb_err *err)
{
    tb_stream *st = tb_calloc(1, sizeof(*st));
    *out = NULL;
    if (st == NULL)
        return tb_err_nomem(err);
    st->db = db;
    tb_sql_set_stmt_hook(db, tb_write_stmt_hook, NULL); /* COPY, Delta writes (batch) */
    if (opts != NULL)
        st->opts = *opts;
    else
        tb_stream_opts_default(&st->opts);
    if (st->opts.checkpoint_dir != NULL) {
        st->ckpt_root = tb_strdup(st->opts.checkpoint_dir);
    } else {
        char tmpl[] = "/tmp/tributary-checkpoint-XXXXXX";
        if (mkdtemp(tmpl) == NULL) {
            tb_free(st);
            return TB_ERRF(err, TB_E_IO, "cannot create a temporary checkpoint directory: %s",
                           strerror(errno));
        }
        st->ckpt_root = tb_strdup(tmpl);
        st->ckpt_tmp = true;
        tb_log(TB_LOG_INFO, "no --checkpoint given: using %s (a restart will not resume)",
               tmpl);
    }
    if (st->ckpt_root == NULL) {
        tb_free(st);
        return tb_err_nomem(err);
    }
    *out = st;
    return TB_OK;
}

void tb_stream_free(tb_stream *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->n_cqs; i++)
        cq_free(st->cqs[i]);
    tb_free(st->cqs);
    for (size_t i = 0; i < st->n_decls; i++) {
        tb_free(st->decls[i].name);
        tb_strlist_free(&st->decls[i].kv);
        tb_schema_free(st->decls[i].schema);
    }
    tb_free(st->decls);
    for (size_t i = 0; i < st->n_parses; i++)
        pg_query__parse_result__free_unpacked(st->parses[i], NULL);
    tb_free(st->parses);
    tb_free(st->tabs);
    for (size_t i = 0; i < st->n_derived; i++)
        tb_free(st->derived[i].name);
    tb_free(st->derived);
    tb_strlist_free(&st->texts);
    tb_free(st->ckpt_root);
    tb_free(st);
}

