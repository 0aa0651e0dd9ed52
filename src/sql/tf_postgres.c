/*
 * tf_postgres.c - PostgreSQL as a relation (issue 12): the table function
 * read_postgres(dsn, 'SELECT ...') and tables declared
 *   CREATE TABLE products (...) WITH (connector = 'postgres', dsn = '...',
 *                                     table = 'schema.name' | query = 'SELECT ...',
 *                                     refresh = 'every batch' | 'never' | '<interval>')
 * usable in batch queries and as the static side of stream-static joins.
 *
 * Rows come through COPY (SELECT <projected columns> FROM (<query>) q) TO STDOUT in text
 * format, decoded by format/pg.c: only the columns a query uses travel.
 *
 * The schema is the declared column list (matched by name to the query's columns), or,
 * without one, the query's own columns (one round trip at declaration: SELECT ... LIMIT
 * 0), mapped by tb_pg_type_from_oid. Declaring the columns means no connection until
 * the first read, which is what a sink table that the job will create needs.
 *
 * refresh: when the rows are read again.
 *   'every batch' (default)  every query (every micro-batch of a stream) reads them;
 *   'never'                  read once, at the first use, and kept in memory;
 *   '<interval>'             kept, read again at the first use after the interval.
 * A kept copy is reference counted: a scan still reading the old copy keeps it alive
 * when a refresh replaces it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/pg.h"
#include "sql/sql_int.h"

enum { REFRESH_EVERY, REFRESH_NEVER, REFRESH_INTERVAL };

typedef struct pg_cache {
    int refs;
    tb_table *table; /* every column of the state's schema */
} pg_cache;

typedef struct pgr_state {
    char *dsn;
    char *base; /* the query whose rows this is: 'SELECT * FROM "s"."t"' or the user's */
    char *what; /* "read_postgres" or "postgres table (table public.products)" */
    tb_schema *schema;
    tb_pg_retry retry;
    int refresh;
    int64_t refresh_us;
    pg_cache *cache;
    int64_t fetched_ns;
    uint64_t version;  /* 'every batch': bumped at each version() call */
    int64_t created_ns; /* interval refresh: epochs counted from here */
    int64_t epoch;      /* interval refresh: the last epoch version() reported */
    bool force;         /* interval refresh: version() moved on, the next open() reads */
} pgr_state;

static void cache_unref(pg_cache *c)
{
    if (c == NULL || --c->refs > 0)
        return;
    tb_table_free(c->table);
    tb_free(c);
}

static void pgr_free(void *p)
{
    pgr_state *s = p;
    if (s == NULL)
        return;
    tb_free(s->dsn);
    tb_free(s->base);
    tb_free(s->what);
    tb_schema_free(s->schema);
    cache_unref(s->cache);
    tb_free(s);
}

/* ---------------------------------------------------------------- COPY source */

typedef struct copy_src {
    tb_source base;
    PGconn *conn;
    pgr_state *state;
    char *sql; /* the COPY statement */
    const char **names;
    uint64_t line;
    bool done;
    bool returned; /* a batch went out: a lost connection can no longer be retried */
    int attempt;
} copy_src;

/* Connect and start the COPY. */
static tb_rc copy_start(copy_src *c, tb_err *err)
{
    pgr_state *s = c->state;
    PQfinish(c->conn);
    c->conn = NULL;
    c->line = 0;
    tb_rc rc = tb_pg_connect(s->dsn, s->what, &s->retry, &c->conn, err);
    if (rc != TB_OK)
        return rc;
    PGresult *res = PQexec(c->conn, c->sql);
    if (res == NULL || PQresultStatus(res) != PGRES_COPY_OUT)
        rc = tb_pg_error(c->conn, res, s->what, TB_E_IO, err);
    PQclear(res);
    return rc;
}

static tb_rc copy_fill(copy_src *c, tb_batch *batch, tb_arena *arena, uint32_t *out_n,
                       tb_err *err);

static tb_rc copy_next(tb_source *src, tb_arena *arena, tb_batch **out, tb_err *err)
{
    copy_src *c = (copy_src *)src;
    tb_batch *batch = NULL;
    uint32_t n = 0;
    *out = NULL;
    if (c->done)
        return TB_OK;
    for (;;) {
        if (tb_batch_new(src->schema, TB_BATCH_CAP, arena, &batch) != TB_OK)
            return tb_err_nomem(err);
        tb_rc rc = copy_fill(c, batch, arena, &n, err);
        if (rc == TB_OK)
            break;
        /* The server restarted or the backend was terminated before any row left this
         * source: read again from the start on a new connection. */
        if (!err->retriable || c->returned || c->attempt >= c->state->retry.retries) {
            c->done = true;
            return rc;
        }
        c->attempt++;
        tb_log(TB_LOG_WARN, "%s: read failed (attempt %d of %d), retrying: %s", c->state->what,
               c->attempt, c->state->retry.retries + 1, err->msg);
        tb_pg_backoff(&c->state->retry, c->attempt);
        c->done = false;
        rc = copy_start(c, err);
        if (rc != TB_OK) {
            c->done = true;
            return rc;
        }
    }
    batch->n_rows = n;
    src->stats.rows_read += n;
    if (n > 0)
        c->returned = true;
    *out = n > 0 ? batch : NULL;
    return TB_OK;
}

/* Decode rows into batch until it is full or the COPY ends (then c->done). */
static tb_rc copy_fill(copy_src *c, tb_batch *batch, tb_arena *arena, uint32_t *out_n,
                       tb_err *err)
{
    uint32_t n = 0;
    *out_n = 0;
    while (n < TB_BATCH_CAP) {
        char *line = NULL;
        int len = PQgetCopyData(c->conn, &line, 0);
        if (len == -1) {
            PGresult *res;
            tb_rc rc = TB_OK;
            c->done = true;
            while ((res = PQgetResult(c->conn)) != NULL) {
                if (rc == TB_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
                    rc = tb_pg_error(c->conn, res, c->state->what, TB_E_IO, err);
                PQclear(res);
            }
            if (rc != TB_OK)
                return rc;
            break;
        }
        if (len < 0) {
            c->done = true;
            return tb_pg_error(c->conn, NULL, c->state->what, TB_E_IO, err);
        }
        c->line++;
        size_t l = (size_t)len;
        if (l > 0 && line[l - 1] == '\n')
            l--;
        tb_rc rc = tb_pg_copy_decode_row(line, l, batch, n, c->names, arena, err);
        PQfreemem(line);
        if (rc != TB_OK) {
            c->done = true;
            err->retriable = false;
            return tb_err_prefix(err, "%s: row %" PRIu64, c->state->what, c->line);
        }
        n++;
    }
    *out_n = n;
    return TB_OK;
}

static void copy_free(tb_source *src)
{
    copy_src *c = (copy_src *)src;
    PQfinish(c->conn);
    tb_free(c->sql);
    tb_free(c->names);
    tb_schema_free(src->schema);
    tb_free(c);
}

static const tb_source_vt copy_vt = {"postgres", copy_next, copy_free};

/* A COPY of columns proj (NULL: all) of s's rows. */
static tb_rc copy_open(pgr_state *s, const int *proj, uint32_t n_proj, tb_source **out,
                       tb_err *err)
{
    tb_rc rc;
    tb_buf q = {0};
    uint32_t n = proj ? n_proj : s->schema->n;
    copy_src *c = tb_calloc(1, sizeof(*c));
    *out = NULL;
    if (c == NULL)
        return tb_err_nomem(err);
    c->base.vt = &copy_vt;
    c->state = s;
    c->base.schema = tb_schema_new(n);
    c->names = tb_calloc(n ? n : 1, sizeof(char *));
    bool ok = c->base.schema != NULL && c->names != NULL &&
              tb_buf_puts(&q, "COPY (SELECT ") == TB_OK;
    for (uint32_t i = 0; ok && i < n; i++) {
        const tb_field *f = &s->schema->fields[proj ? proj[i] : (int)i];
        ok = tb_schema_set(c->base.schema, i, f->name, f->type, true) == TB_OK &&
             (i == 0 || tb_buf_puts(&q, ", ") == TB_OK) &&
             tb_pg_quote_ident(f->name, strlen(f->name), &q) == TB_OK;
        if (ok)
            c->names[i] = c->base.schema->fields[i].name;
    }
    ok = ok && tb_buf_printf(&q, " FROM (%s) AS q) TO STDOUT", s->base) == TB_OK &&
         tb_buf_cstr(&q) != NULL;
    if (!ok) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    c->sql = q.data;
    q = (tb_buf){0};
    rc = copy_start(c, err);
    /* The server restarted or the backend was terminated between the connection and the
     * COPY: start again, as copy_next does, within the same bounded retries. */
    while (rc != TB_OK && err->retriable && c->attempt < s->retry.retries) {
        c->attempt++;
        tb_log(TB_LOG_WARN, "%s: read failed (attempt %d of %d), retrying: %s", s->what,
               c->attempt, s->retry.retries + 1, err->msg);
        tb_pg_backoff(&s->retry, c->attempt);
        rc = copy_start(c, err);
    }
    if (rc != TB_OK)
        goto fail;
    *out = &c->base;
    return TB_OK;
fail:
    tb_buf_free(&q);
    copy_free(&c->base);
    return rc;
}

/* ---------------------------------------------------------------- cached rows */

typedef struct cache_src {
    tb_source base;
    pg_cache *cache;
    tb_op *scan;
} cache_src;

static tb_rc cache_next(tb_source *src, tb_arena *arena, tb_batch **out, tb_err *err)
{
    cache_src *c = (cache_src *)src;
    TB_UNUSED(arena);
    /* the scan's batch stays valid until its next call, as a source's must */
    tb_rc rc = tb_op_next(c->scan, out, err);
    if (rc == TB_OK && *out != NULL)
        src->stats.rows_read += (*out)->n_rows;
    return rc;
}

static void cache_src_free(tb_source *src)
{
    cache_src *c = (cache_src *)src;
    tb_op_free(c->scan);
    cache_unref(c->cache);
    tb_schema_free(src->schema);
    tb_free(c);
}

static const tb_source_vt cache_vt = {"postgres (kept)", cache_next, cache_src_free};

/* Read every column of s's rows into a new cache. */
static tb_rc fetch(pgr_state *s, tb_err *err)
{
    tb_source *src = NULL;
    tb_arena *arena = NULL;
    pg_cache *c = tb_calloc(1, sizeof(*c));
    tb_rc rc;
    if (c == NULL || (c->table = tb_table_new(s->schema)) == NULL ||
        (arena = tb_arena_new(0)) == NULL) {
        rc = tb_err_nomem(err);
        goto done;
    }
    c->refs = 1;
    rc = copy_open(s, NULL, 0, &src, err);
    while (rc == TB_OK) {
        tb_batch *b = NULL;
        tb_arena_reset(arena);
        rc = tb_source_next(src, arena, &b, err);
        if (rc != TB_OK || b == NULL)
            break;
        rc = tb_table_append(c->table, b, err);
    }
    if (rc == TB_OK) {
        cache_unref(s->cache);
        s->cache = c;
        c = NULL;
        s->fetched_ns = tb_now_ns();
    }
done:
    tb_source_free(src);
    tb_arena_free(arena);
    cache_unref(c);
    return rc;
}

static bool stale(const pgr_state *s)
{
    if (s->cache == NULL || s->force)
        return true;
    return s->refresh == REFRESH_INTERVAL &&
           tb_now_ns() - s->fetched_ns >= s->refresh_us * 1000;
}

static tb_rc pgr_open(void *state, const int *proj, uint32_t n_proj, tb_source **out,
                      tb_err *err)
{
    pgr_state *s = state;
    *out = NULL;
    if (s->refresh == REFRESH_EVERY)
        return copy_open(s, proj, n_proj, out, err);
    if (stale(s)) {
        tb_rc rc = fetch(s, err);
        if (rc != TB_OK)
            return rc;
        s->force = false;
    }
    cache_src *c = tb_calloc(1, sizeof(*c));
    if (c == NULL)
        return tb_err_nomem(err);
    c->base.vt = &cache_vt;
    c->cache = s->cache;
    s->cache->refs++;
    tb_rc rc = tb_table_scan_new(s->cache->table, proj, proj ? n_proj : 0, &c->scan, err);
    if (rc == TB_OK && (c->base.schema = tb_schema_copy(c->scan->schema)) == NULL)
        rc = tb_err_nomem(err);
    if (rc != TB_OK) {
        cache_src_free(&c->base);
        return rc;
    }
    *out = &c->base;
    return TB_OK;
}

static int64_t pgr_estimate(void *state)
{
    pgr_state *s = state;
    /* dimension tables are the usual case: a small guess keeps them the build side */
    return s->cache != NULL ? (int64_t)tb_table_rows(s->cache->table) : 10000;
}

/*
 * The content token of tb_connector_vt.version (a stream-static join builds its hash
 * table again when it changes), without reading rows: 'never' is constant, 'every
 * batch' changes at every call (every micro-batch reads the rows again), an interval
 * changes once per interval and makes the next open() read.
 */
static tb_rc pgr_version(void *state, uint64_t *out, tb_err *err)
{
    pgr_state *s = state;
    TB_UNUSED(err);
    switch (s->refresh) {
    case REFRESH_EVERY:
        *out = ++s->version;
        break;
    case REFRESH_NEVER:
        *out = 0;
        break;
    default: {
        int64_t epoch = (tb_now_ns() - s->created_ns) / (s->refresh_us * 1000);
        if (epoch != s->epoch) {
            s->epoch = epoch;
            s->force = true;
        }
        *out = (uint64_t)epoch;
    }
    }
    return TB_OK;
}

/* ---------------------------------------------------------------- binding */

static char *arg_text(const tb_tf_arg *a)
{
    return tb_tf_arg_text(&a->value);
}

/* The query's columns without reading its rows. */
static tb_rc discover(pgr_state *s, tb_err *err)
{
    PGconn *conn = NULL;
    PGresult *res = NULL;
    tb_buf q = {0};
    tb_rc rc = tb_pg_connect(s->dsn, s->what, &s->retry, &conn, err);
    if (rc != TB_OK)
        return rc;
    if (tb_buf_printf(&q, "SELECT * FROM (%s) AS q LIMIT 0", s->base) != TB_OK ||
        tb_buf_cstr(&q) == NULL) {
        rc = tb_err_nomem(err);
        goto done;
    }
    res = PQexec(conn, q.data);
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = tb_pg_error(conn, res, s->what, TB_E_SQL, err);
        goto done;
    }
    int n = PQnfields(res);
    s->schema = tb_schema_new((uint32_t)n);
    if (s->schema == NULL) {
        rc = tb_err_nomem(err);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        tb_type t = tb_pg_type_from_oid((uint32_t)PQftype(res, i), PQfmod(res, i));
        if (tb_schema_set(s->schema, (uint32_t)i, PQfname(res, i), t, true) != TB_OK) {
            rc = tb_err_nomem(err);
            goto done;
        }
    }
done:
    PQclear(res);
    PQfinish(conn);
    tb_buf_free(&q);
    return rc;
}

/* Options of a sink declared on the same table: not read options. */
static bool sink_option(const char *k)
{
    static const char *const sink_opts[] = {"connector", "output_mode", "mode", "key",
                                            "create", "progress_table", NULL};
    for (size_t i = 0; sink_opts[i] != NULL; i++)
        if (tb_str_ieq(k, sink_opts[i]))
            return true;
    return false;
}

static tb_rc parse_refresh(pgr_state *s, const char *v, tb_err *err)
{
    tb_interval iv;
    if (tb_str_ieq(v, "every batch") || tb_str_ieq(v, "always")) {
        s->refresh = REFRESH_EVERY;
    } else if (tb_str_ieq(v, "never")) {
        s->refresh = REFRESH_NEVER;
    } else if (tb_parse_interval(v, strlen(v), &iv) && tb_interval_micros(iv) > 0) {
        s->refresh = REFRESH_INTERVAL;
        s->refresh_us = tb_interval_micros(iv);
    } else {
        return TB_ERRF(err, TB_E_SQL,
                       "refresh must be 'every batch', 'never' or an interval ('30 seconds'), "
                       "not '%s'",
                       v);
    }
    return TB_OK;
}

static tb_rc pgr_bind(const tb_tf_arg *args, uint32_t n_args, const tb_schema *declared,
                      void **out_state, tb_schema **out_schema, tb_err *err)
{
    const tb_tf_arg *a_dsn = NULL, *a_query = NULL, *a_table = NULL, *a_refresh = NULL;
    const tb_tf_arg *a_retries = NULL, *a_backoff = NULL;
    uint32_t positional = 0;
    tb_rc rc;
    char *dsn = NULL, *query = NULL, *table = NULL, *refresh = NULL, *retries = NULL,
         *backoff = NULL;
    tb_buf b = {0};
    bool declared_table = false;

    for (uint32_t i = 0; i < n_args; i++) {
        const tb_tf_arg *a = &args[i];
        if (a->name == NULL) {
            if (positional == 0)
                a_dsn = a;
            else if (positional == 1)
                a_query = a;
            else {
                TB_ERRF(err, TB_E_SQL, "read_postgres takes (dsn, 'SELECT ...') and named "
                        "options refresh, retries, retry_backoff");
                return tb_tf_arg_error(a, err);
            }
            positional++;
        } else if (tb_str_ieq(a->name, "dsn")) {
            a_dsn = a;
        } else if (tb_str_ieq(a->name, "query")) {
            a_query = a;
        } else if (tb_str_ieq(a->name, "table")) {
            a_table = a;
        } else if (tb_str_ieq(a->name, "refresh")) {
            a_refresh = a;
        } else if (tb_str_ieq(a->name, "retries")) {
            a_retries = a;
        } else if (tb_str_ieq(a->name, "retry_backoff")) {
            a_backoff = a;
        } else if (sink_option(a->name)) {
            declared_table = true;
        } else {
            TB_ERRF(err, TB_E_SQL,
                    "read_postgres: unknown option %s (options: dsn, query, table, refresh, "
                    "retries, retry_backoff)",
                    a->name);
            return tb_tf_arg_error(a, err);
        }
    }
    const char *fn = declared_table || declared != NULL ? "postgres table" : "read_postgres";
    if (a_dsn == NULL)
        return TB_ERRF(err, TB_E_SQL, "%s: a dsn is required ('host=... port=... dbname=... "
                       "user=...' or 'postgresql://...')", fn);
    if ((a_query == NULL) == (a_table == NULL)) {
        TB_ERRF(err, TB_E_SQL, "%s: give exactly one of table = 'schema.name' and query = "
                "'SELECT ...'", fn);
        return tb_tf_arg_error(a_query ? a_query : a_dsn, err);
    }
    pgr_state *s = tb_calloc(1, sizeof(*s));
    if (s == NULL)
        return tb_err_nomem(err);
    dsn = arg_text(a_dsn);
    query = a_query ? arg_text(a_query) : NULL;
    table = a_table ? arg_text(a_table) : NULL;
    refresh = a_refresh ? arg_text(a_refresh) : NULL;
    retries = a_retries ? arg_text(a_retries) : NULL;
    backoff = a_backoff ? arg_text(a_backoff) : NULL;
    if (dsn == NULL || (a_query && query == NULL) || (a_table && table == NULL) ||
        (a_refresh && refresh == NULL) || (a_retries && retries == NULL) ||
        (a_backoff && backoff == NULL)) {
        rc = TB_ERRF(err, TB_E_SQL, "%s: dsn, query, table and options are text", fn);
        goto fail;
    }
    s->dsn = dsn;
    dsn = NULL;
    if (table != NULL) {
        if (tb_buf_puts(&b, "SELECT * FROM ") != TB_OK) {
            rc = tb_err_nomem(err);
            goto fail;
        }
        rc = tb_pg_quote_qualified(table, &b, err);
        if (rc != TB_OK) {
            tb_err_prefix(err, "%s: table", fn);
            tb_tf_arg_error(a_table, err);
            goto fail;
        }
        if (tb_buf_cstr(&b) == NULL) {
            rc = tb_err_nomem(err);
            goto fail;
        }
        s->base = b.data;
        b = (tb_buf){0};
        tb_buf w = {0};
        if (tb_buf_printf(&w, "%s (table %s)", fn, table) != TB_OK || tb_buf_cstr(&w) == NULL) {
            tb_buf_free(&w);
            rc = tb_err_nomem(err);
            goto fail;
        }
        s->what = w.data;
    } else {
        /* a trailing ';' would end the COPY's subquery early */
        size_t n = strlen(query);
        while (n > 0 && (query[n - 1] == ';' || query[n - 1] == ' ' || query[n - 1] == '\n'))
            query[--n] = '\0';
        s->base = query;
        query = NULL;
        s->what = tb_strdup(fn);
        if (s->what == NULL) {
            rc = tb_err_nomem(err);
            goto fail;
        }
    }
    s->created_ns = tb_now_ns();
    rc = tb_pg_retry_parse(retries, backoff, &s->retry, err);
    if (rc == TB_OK && refresh != NULL)
        rc = parse_refresh(s, refresh, err);
    if (rc != TB_OK) {
        tb_err_prefix(err, "%s", fn);
        tb_tf_arg_error(a_refresh ? a_refresh : a_retries ? a_retries : a_backoff, err);
        goto fail;
    }
    if (declared != NULL && declared->n > 0) {
        s->schema = tb_schema_copy(declared);
        if (s->schema == NULL) {
            rc = tb_err_nomem(err);
            goto fail;
        }
    } else {
        rc = discover(s, err);
        if (rc != TB_OK) {
            tb_tf_arg_error(a_query ? a_query : a_table, err);
            goto fail;
        }
    }
    *out_schema = tb_schema_copy(s->schema);
    if (*out_schema == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    *out_state = s;
    rc = TB_OK;
    goto done;
fail:
    pgr_free(s);
done:
    tb_free(dsn);
    tb_free(query);
    tb_free(table);
    tb_free(refresh);
    tb_free(retries);
    tb_free(backoff);
    tb_buf_free(&b);
    return rc;
}

const tb_tablefunc tb_sql_read_postgres_tf = {"read_postgres", pgr_bind, pgr_open, pgr_free,
                                              pgr_estimate};

/* ---------------------------------------------------------------- declared tables */

/* A declared table is its own catalog connector (not tablefunc.c's file connector) for
 * the version hook: when the rows are read again follows its refresh option. */
static tb_rc pgt_open(void *ud, const int *proj, uint32_t n_proj, tb_op **out, tb_err *err)
{
    tb_source *src = NULL;
    tb_rc rc = pgr_open(ud, proj, n_proj, &src, err);
    if (rc != TB_OK)
        return rc;
    return tb_op_scan_new(src, out, err);
}

static const tb_connector_vt pg_table_vt = {"postgres", pgt_open, pgr_free, pgr_estimate,
                                            pgr_version};

tb_rc tb_sql_create_pg_table(tb_db *db, const char *name, const tb_tf_arg *args,
                             uint32_t n_args, const tb_schema *declared, tb_err *err)
{
    void *state = NULL;
    tb_schema *schema = NULL;
    tb_rc rc = pgr_bind(args, n_args, declared, &state, &schema, err);
    if (rc != TB_OK)
        return rc;
    rc = tb_catalog_add_connector(db, name, schema, &pg_table_vt, state, err);
    tb_schema_free(schema);
    if (rc != TB_OK)
        pgr_free(state);
    return rc;
}
