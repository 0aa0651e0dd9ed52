/*
 * postgres.c - the PostgreSQL sink (issue 12): CREATE TABLE out (...) WITH (connector =
 * 'postgres', dsn = '...', table = 'schema.name', mode = 'append' | 'upsert', key =
 * 'a,b', create = true, progress_table = '...', retries = '5', retry_backoff = '200 ms').
 *
 * Exactly once: batch N is written by ONE transaction that also moves this sink's row of
 * the progress table (query_id, sink) to batch_id = N. The transaction first locks that
 * row (SELECT ... FOR UPDATE): if it already says >= N, batch N is in the table (a
 * re-run after a crash, or a COMMIT whose reply was lost) and nothing is written. So
 * commit(N) is idempotent, which is what sink.h asks of every sink.
 *
 * Writes, by output mode of the query:
 *   complete  DELETE FROM target, then COPY the whole result (one transaction: readers
 *             see the old or the new result, never a mix);
 *   update    upsert the changed rows: COPY into a temporary stage table, then
 *             INSERT INTO target SELECT ... FROM stage ON CONFLICT (key) DO UPDATE;
 *   append    COPY FROM STDIN (mode = 'upsert' upserts them as update mode does).
 * An upsert's key is `key`, by default the query's group keys (tb_sink_args.keys: the
 * output columns that carry them); append and complete take only an explicit `key`.
 *
 * Rows of a batch are encoded to COPY text as write() receives them and kept until the
 * commit, so that a batch whose connection is lost (server restart, a terminated
 * backend) is sent again on a new connection: up to `retries` times, waiting
 * retry_backoff, doubled each time, at most 5 s. Errors that a new connection would
 * not cure (a constraint violation, a value that does not fit, permission denied) fail
 * the batch at once, uncommitted, with PostgreSQL's column, value and detail.
 *
 * State: conn is NULL between a lost connection and the next attempt. The stage table
 * is per session (temporary), made on first use after each connect.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/pg.h"
#include "sink/sink.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

#define COPY_CHUNK ((size_t)1 << 20)
/* A batch's rows are kept in chunks of KEEP_CHUNK bytes, aligned on HUGE_PAGE so that
 * the kernel may back them with transparent huge pages: kept rows are written once
 * and read once (or twice on a retry), and with 4 KiB pages a 1,000,000-row batch
 * (40 MB) took 10,000 page faults and, grown by realloc, twice that plus copies; under
 * this VM's hypervisor faults and the TLB flushes of freeing were a third of the sink's
 * time. Up to KEEP_POOL chunks stay allocated between batches. */
#define HUGE_PAGE ((size_t)2 << 20)
#define KEEP_CHUNK ((size_t)2 << 20)
#define KEEP_POOL 8
/* Kept rows waiting before the batch's transaction opens and they are streamed. */
#define STREAM_AT ((size_t)256 << 10)

typedef struct pg_sink {
    tb_sink base;
    char *what;    /* "postgres sink \"out\" (table public.out)" */
    char *dsn;
    char *target;  /* quoted qualified name */
    char *name;    /* the table option as written: progress row's sink column */
    char *query_id;
    char *progress; /* quoted progress table name */
    bool upsert;
    bool binary; /* COPY in binary format: every column's type is exactly ours */
    tb_strlist keys;
    tb_pg_retry retry;
    PGconn *conn;
    bool stage_ready;
    char *copy_sql;    /* COPY target (cols) FROM STDIN */
    char *stage_sql;   /* CREATE TEMP TABLE IF NOT EXISTS ... */
    char *stage_copy;  /* COPY stage (cols) FROM STDIN */
    char *upsert_sql;  /* INSERT INTO target ... ON CONFLICT ... */
    char *delete_sql;  /* DELETE FROM target */
    /* the batch being written */
    int64_t batch;
    bool replace;
    tb_buf enc;        /* the rows of one write() call, encoded, before they are kept */
    struct kept {      /* the batch's rows as COPY data, kept until the commit (retries) */
        char **raw;    /* chunk allocations (the data starts at the next HUGE_PAGE) */
        size_t n_raw;  /* allocated chunks (some may be free for the next bytes) */
        size_t len;    /* bytes kept */
    } rows;
    size_t sent;       /* bytes of rows given to the open COPY */
    uint64_t pending;  /* rows in rows */
    bool streaming;    /* the batch's transaction is open, its COPY running */
    bool skip;         /* the progress row has this batch: write nothing */
    bool stream_failed; /* the streamed attempt failed: commit sends everything again */
} pg_sink;

static char *chunk_data(char *raw)
{
    return (char *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
}

/* Append n bytes to the kept rows, allocating chunks as needed. */
static tb_rc keep_append(struct kept *k, const char *src, size_t n)
{
    while (n > 0) {
        size_t c = k->len / KEEP_CHUNK, off = k->len % KEEP_CHUNK;
        if (c == k->n_raw) {
            char **grown = tb_realloc(k->raw, (k->n_raw + 1) * sizeof(char *));
            if (grown == NULL)
                return TB_E_NOMEM;
            k->raw = grown;
            char *raw = tb_malloc(KEEP_CHUNK + HUGE_PAGE);
            if (raw == NULL)
                return TB_E_NOMEM;
            k->raw[k->n_raw++] = raw;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
            (void)madvise(chunk_data(raw), KEEP_CHUNK, MADV_HUGEPAGE); /* a hint only */
#endif
        }
        size_t m = TB_MIN(n, KEEP_CHUNK - off);
        memcpy(chunk_data(k->raw[c]) + off, src, m);
        k->len += m;
        src += m;
        n -= m;
    }
    return TB_OK;
}

/* Forget the kept bytes; keep at most `pool` chunks allocated. */
static void keep_reset(struct kept *k, size_t pool)
{
    k->len = 0;
    while (k->n_raw > pool)
        tb_free(k->raw[--k->n_raw]);
    if (k->n_raw == 0) {
        tb_free(k->raw);
        k->raw = NULL;
    }
}

static const char *const known_opts[] = {
    "connector", "output_mode", "dsn",     "table",         "mode",  "key",     "create",
    "progress_table", "retries", "retry_backoff", "refresh", "query", NULL};

static const char *opt(const tb_sink_args *args, const char *key)
{
    for (size_t i = 0; i + 1 < args->kv->n; i += 2)
        if (tb_str_ieq(args->kv->items[i], key))
            return args->kv->items[i + 1];
    return NULL;
}

static char *buf_take(tb_buf *b)
{
    if (tb_buf_cstr(b) == NULL) {
        tb_buf_free(b);
        return NULL;
    }
    char *s = b->data;
    *b = (tb_buf){0};
    return s;
}

static void disconnect(pg_sink *p)
{
    PQfinish(p->conn);
    p->conn = NULL;
    p->stage_ready = false;
}

static tb_rc ensure_conn(pg_sink *p, tb_err *err)
{
    if (p->conn != NULL && PQstatus(p->conn) == CONNECTION_OK)
        return TB_OK;
    disconnect(p);
    return tb_pg_connect(p->dsn, p->what, &p->retry, &p->conn, err);
}

/* PQexecParams with text parameters; *out_res kept for the caller if non-NULL. */
static tb_rc exec_params(pg_sink *p, const char *sql, int n, const char *const *vals,
                         PGresult **out_res, tb_err *err)
{
    PGresult *res = PQexecParams(p->conn, sql, n, NULL, vals, NULL, NULL, 0);
    ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        tb_rc rc = tb_pg_error(p->conn, res, p->what, TB_E_IO, err);
        PQclear(res);
        return rc;
    }
    if (out_res != NULL)
        *out_res = res;
    else
        PQclear(res);
    return TB_OK;
}

/* Send rows [p->sent, p->rows.len) into the open COPY. */
static tb_rc copy_send(pg_sink *p, tb_err *err)
{
    while (p->sent < p->rows.len) {
        size_t c = p->sent / KEEP_CHUNK, off = p->sent % KEEP_CHUNK;
        size_t n = TB_MIN(TB_MIN(COPY_CHUNK, p->rows.len - p->sent), KEEP_CHUNK - off);
        if (PQputCopyData(p->conn, chunk_data(p->rows.raw[c]) + off, (int)n) != 1)
            return tb_pg_error(p->conn, NULL, p->what, TB_E_IO, err);
        p->sent += n;
    }
    return TB_OK;
}

/* Start COPY sql (FROM STDIN). */
static tb_rc copy_start(pg_sink *p, const char *sql, tb_err *err)
{
    PGresult *res = PQexec(p->conn, sql);
    tb_rc rc = TB_OK;
    if (res == NULL || PQresultStatus(res) != PGRES_COPY_IN)
        rc = tb_pg_error(p->conn, res, p->what, TB_E_IO, err);
    PQclear(res);
    p->sent = 0;
    return rc;
}

/* End the open COPY; its result. */
static tb_rc copy_end(pg_sink *p, tb_err *err)
{
    PGresult *res;
    tb_rc rc = TB_OK;
    if (p->binary && PQputCopyData(p->conn, "\377\377", 2) != 1) /* the trailer */
        rc = tb_pg_error(p->conn, NULL, p->what, TB_E_IO, err);
    if (PQputCopyEnd(p->conn, NULL) != 1 && rc == TB_OK)
        rc = tb_pg_error(p->conn, NULL, p->what, TB_E_IO, err);
    while ((res = PQgetResult(p->conn)) != NULL) {
        if (rc == TB_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = tb_pg_error(p->conn, res, p->what, TB_E_IO, err);
        PQclear(res);
    }
    if (rc == TB_OK && PQstatus(p->conn) == CONNECTION_BAD)
        rc = tb_pg_error(p->conn, NULL, p->what, TB_E_IO, err);
    return rc;
}

static void rollback_quietly(pg_sink *p)
{
    if (p->conn != NULL && PQstatus(p->conn) == CONNECTION_OK &&
        PQtransactionStatus(p->conn) != PQTRANS_IDLE) {
        tb_err e2;
        tb_err_clear(&e2);
        (void)tb_pg_exec(p->conn, "ROLLBACK", p->what, &e2); /* already failing */
    }
}

/*
 * Open batch N's transaction: BEGIN, lock this sink's progress row; if it has N already,
 * ROLLBACK and *skipped; else (complete mode) delete the old rows and start the COPY of
 * the batch's rows (into the stage table for upserts).
 */
static tb_rc open_txn(pg_sink *p, int64_t batch, bool *skipped, tb_err *err)
{
    char bid[24];
    tb_rc rc;
    PGresult *res = NULL;
    snprintf(bid, sizeof(bid), "%" PRId64, batch);
    const char *vals[2] = {p->query_id, p->name};
    tb_buf q = {0};

    *skipped = false;
    rc = ensure_conn(p, err);
    if (rc != TB_OK)
        return rc;
    if (p->upsert && !p->stage_ready) {
        rc = tb_pg_exec(p->conn, p->stage_sql, p->what, err);
        if (rc != TB_OK)
            return rc;
        p->stage_ready = true;
    }
    rc = tb_pg_exec(p->conn, "BEGIN", p->what, err);
    if (rc != TB_OK)
        return rc;
    if (tb_buf_printf(&q, "SELECT batch_id FROM %s WHERE query_id = $1 AND sink = $2 FOR UPDATE",
                      p->progress) != TB_OK ||
        tb_buf_cstr(&q) == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    rc = exec_params(p, q.data, 2, vals, &res, err);
    tb_buf_free(&q);
    if (rc != TB_OK)
        goto fail;
    if (PQntuples(res) > 0 && strtoll(PQgetvalue(res, 0, 0), NULL, 10) >= batch) {
        PQclear(res);
        *skipped = true;
        return tb_pg_exec(p->conn, "ROLLBACK", p->what, err);
    }
    PQclear(res);
    if (p->replace) {
        rc = tb_pg_exec(p->conn, p->delete_sql, p->what, err);
        if (rc != TB_OK)
            goto fail;
    }
    rc = copy_start(p, p->upsert && !p->replace ? p->stage_copy : p->copy_sql, err);
    if (rc != TB_OK)
        goto fail;
    return TB_OK;
fail:
    rollback_quietly(p);
    return rc;
}

/* Every row sent: end the COPY, upsert from the stage, move the progress row, COMMIT. */
static tb_rc finish_txn(pg_sink *p, int64_t batch, tb_err *err)
{
    char bid[24];
    tb_buf q = {0};
    snprintf(bid, sizeof(bid), "%" PRId64, batch);
    const char *vals[3] = {p->query_id, p->name, bid};
    tb_rc rc = copy_end(p, err);
    if (rc == TB_OK && p->upsert && !p->replace)
        rc = tb_pg_exec(p->conn, p->upsert_sql, p->what, err);
    if (rc != TB_OK)
        goto fail;
    if (tb_buf_printf(&q,
                      "INSERT INTO %s (query_id, sink, batch_id) VALUES ($1, $2, $3) "
                      "ON CONFLICT (query_id, sink) DO UPDATE SET batch_id = EXCLUDED.batch_id, "
                      "committed_at = now()",
                      p->progress) != TB_OK ||
        tb_buf_cstr(&q) == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    rc = exec_params(p, q.data, 3, vals, NULL, err);
    tb_buf_free(&q);
    if (rc != TB_OK)
        goto fail;
    tb_crash_point("pg-copied"); /* rows sent, COMMIT not: the server rolls back */
    rc = tb_pg_exec(p->conn, "COMMIT", p->what, err);
    if (rc == TB_OK)
        tb_crash_point("pg-committed"); /* in PostgreSQL, not in the checkpoint yet */
    return rc;
fail:
    tb_buf_free(&q);
    rollback_quietly(p);
    return rc;
}

/* One whole attempt at batch N from the kept rows. *skipped: it was there already. */
static tb_rc try_commit(pg_sink *p, int64_t batch, bool *skipped, tb_err *err)
{
    tb_rc rc = open_txn(p, batch, skipped, err);
    if (rc != TB_OK || *skipped)
        return rc;
    rc = copy_send(p, err);
    if (rc != TB_OK) {
        rollback_quietly(p);
        return rc;
    }
    return finish_txn(p, batch, err);
}

/* A failure of the streamed attempt: drop the connection (the server rolls the
 * transaction back); commit() sends the kept rows again. */
static void stream_failed(pg_sink *p, const tb_err *e)
{
    tb_log(TB_LOG_INFO, "%s: batch %" PRId64 " will be sent again at its commit: %s", p->what,
           p->batch, e->msg);
    p->streaming = false;
    p->stream_failed = true;
    disconnect(p);
}

static tb_rc pg_begin(tb_sink *sink, int64_t batch, bool replace, tb_err *err)
{
    pg_sink *p = (pg_sink *)sink;
    if (p->streaming) /* a previous batch aborted while its COPY was open */
        disconnect(p);
    p->batch = batch;
    p->replace = replace;
    p->rows.len = 0;
    p->pending = 0;
    p->sent = 0;
    p->streaming = p->skip = p->stream_failed = false;
    p->enc.len = 0;
    if (p->binary && (tb_pg_copy_binary_header(&p->enc) != TB_OK ||
                      keep_append(&p->rows, p->enc.data, p->enc.len) != TB_OK))
        return tb_err_nomem(err);
    return TB_OK;
}

/* Rows are kept (for a retry) and, once STREAM_AT bytes wait, streamed into the open
 * transaction, so that the server stores them while the next ones are encoded. */
static tb_rc pg_write(tb_sink *sink, const tb_batch *batch, tb_err *err)
{
    pg_sink *p = (pg_sink *)sink;
    if (p->skip)
        return TB_OK; /* the table has this batch: nothing to keep */
    p->enc.len = 0;
    for (uint32_t i = 0; i < batch->n_rows; i++)
        if ((p->binary ? tb_pg_copy_encode_row_binary(batch, i, &p->enc)
                       : tb_pg_copy_encode_row(batch, i, &p->enc)) != TB_OK)
            return tb_err_nomem(err);
    if (keep_append(&p->rows, p->enc.data, p->enc.len) != TB_OK)
        return tb_err_nomem(err);
    p->pending += batch->n_rows;
    if (p->stream_failed || p->rows.len - p->sent < STREAM_AT)
        return TB_OK;
    tb_err e;
    tb_err_clear(&e);
    if (!p->streaming) {
        bool skipped = false;
        if (open_txn(p, p->batch, &skipped, &e) != TB_OK) {
            stream_failed(p, &e);
            return TB_OK;
        }
        if (skipped) {
            p->skip = true;
            p->rows.len = 0;
            return TB_OK;
        }
        p->streaming = true;
    }
    if (copy_send(p, &e) != TB_OK)
        stream_failed(p, &e);
    return TB_OK;
}

static tb_rc pg_commit(tb_sink *sink, int64_t batch, tb_err *err)
{
    pg_sink *p = (pg_sink *)sink;
    tb_rc rc = TB_OK;
    bool skipped = p->skip;
    int attempt = 0;
    tb_err_clear(err);
    if (skipped)
        goto done;
    if (!p->replace && p->pending == 0)
        return TB_OK; /* nothing to write: a re-run of batch N writes nothing either */
    if (p->streaming) {
        p->streaming = false;
        rc = copy_send(p, err);
        if (rc == TB_OK)
            rc = finish_txn(p, batch, err);
        if (rc == TB_OK)
            goto done;
        if (!err->retriable)
            goto failed;
        attempt = 1; /* the streamed attempt was the first */
        tb_log(TB_LOG_WARN, "%s: batch %" PRId64 " (attempt 1 of %d) failed, retrying: %s",
               p->what, batch, p->retry.retries + 1, err->msg);
        disconnect(p);
        if (p->retry.retries == 0) {
            tb_err_prefix(err, "batch %" PRId64 " not committed after 1 attempt", batch);
            return rc;
        }
        tb_pg_backoff(&p->retry, 1);
    }
    for (;; attempt++) {
        tb_err_clear(err);
        rc = try_commit(p, batch, &skipped, err);
        if (rc == TB_OK)
            break;
        if (!err->retriable)
            goto failed;
        if (attempt >= p->retry.retries) {
            tb_err_prefix(err, "batch %" PRId64 " not committed after %d attempts", batch,
                          attempt + 1);
            return rc;
        }
        tb_log(TB_LOG_WARN, "%s: batch %" PRId64 " (attempt %d of %d) failed, retrying: %s",
               p->what, batch, attempt + 1, p->retry.retries + 1, err->msg);
        disconnect(p);
        tb_pg_backoff(&p->retry, attempt + 1);
    }
done:
    if (skipped)
        tb_log(TB_LOG_INFO, "%s: batch %" PRId64 " already in the table (progress row)", p->what,
               batch);
    else
        sink->rows_committed += p->pending;
    keep_reset(&p->rows, KEEP_POOL); /* a large batch's rows are not kept for the job */
    p->pending = 0;
    p->sent = 0;
    if (p->enc.cap > ((size_t)16 << 20))
        tb_buf_free(&p->enc);
    return TB_OK;
failed:
    tb_err_prefix(err, "batch %" PRId64 " not committed", batch);
    return rc;
}

static void pg_abort(tb_sink *sink)
{
    pg_sink *p = (pg_sink *)sink;
    if (p->streaming) /* the server rolls the open transaction back */
        disconnect(p);
    p->streaming = false;
    keep_reset(&p->rows, KEEP_POOL);
    p->pending = 0;
    p->sent = 0;
}

static void pg_free(tb_sink *sink)
{
    pg_sink *p = (pg_sink *)sink;
    disconnect(p);
    tb_free(p->what);
    tb_free(p->dsn);
    tb_free(p->target);
    tb_free(p->name);
    tb_free(p->query_id);
    tb_free(p->progress);
    tb_strlist_free(&p->keys);
    tb_free(p->copy_sql);
    tb_free(p->stage_sql);
    tb_free(p->stage_copy);
    tb_free(p->upsert_sql);
    tb_free(p->delete_sql);
    keep_reset(&p->rows, 0);
    tb_buf_free(&p->enc);
    tb_schema_free(sink->schema);
    tb_free(p);
}

static const tb_sink_vt pg_vt = {"postgres", pg_begin, pg_write, pg_commit, pg_abort, pg_free};

/* ---------------------------------------------------------------- opening */

static tb_rc cols_list(const tb_schema *s, tb_buf *b)
{
    for (uint32_t j = 0; j < s->n; j++) {
        if ((j && tb_buf_puts(b, ", ") != TB_OK) ||
            tb_pg_quote_ident(s->fields[j].name, strlen(s->fields[j].name), b) != TB_OK)
            return TB_E_NOMEM;
    }
    return TB_OK;
}

/* The target's columns (name, type oid, typmod); 0 rows if it does not exist. */
static tb_rc target_columns(pg_sink *p, PGresult **out, tb_err *err)
{
    const char *vals[1] = {p->target};
    return exec_params(p,
                       "SELECT a.attname, a.atttypid, a.atttypmod FROM pg_attribute a "
                       "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT "
                       "a.attisdropped ORDER BY a.attnum",
                       1, vals, out, err);
}

/* The existing target must take the sink's rows: every column there, types that fit,
 * and (upsert) a unique index on exactly the key columns. */
static tb_rc check_target(pg_sink *p, PGresult *cols, tb_err *err)
{
    const tb_schema *s = p->base.schema;
    tb_rc rc = TB_OK;
    tb_buf have = {0};
    for (int r = 0; r < PQntuples(cols); r++)
        if (tb_buf_printf(&have, "%s%s", r ? ", " : "", PQgetvalue(cols, r, 0)) != TB_OK)
            return tb_err_nomem(err);
    for (uint32_t j = 0; j < s->n && rc == TB_OK; j++) {
        int r = 0;
        while (r < PQntuples(cols) && strcmp(PQgetvalue(cols, r, 0), s->fields[j].name) != 0)
            r++;
        if (r == PQntuples(cols)) {
            rc = TB_ERRF(err, TB_E_SQL, "%s: the table has no column \"%s\" (its columns: %s)",
                         p->what, s->fields[j].name, tb_buf_cstr(&have) ? have.data : "");
            break;
        }
        uint32_t oid = (uint32_t)strtoul(PQgetvalue(cols, r, 1), NULL, 10);
        int32_t mod = (int32_t)strtol(PQgetvalue(cols, r, 2), NULL, 10);
        p->binary = p->binary && tb_pg_binary_ok(oid, mod, s->fields[j].type);
        if (!tb_pg_type_accepts(oid, mod, s->fields[j].type)) {
            char a[64], b2[64];
            rc = TB_ERRF(err, TB_E_TYPE,
                         "%s: column \"%s\" is %s in PostgreSQL (oid %u), the query gives %s "
                         "(written as %s)",
                         p->what, s->fields[j].name, tb_type_name(tb_pg_type_from_oid(oid, mod), a, sizeof(a)),
                         oid, tb_type_name(s->fields[j].type, b2, sizeof(b2)),
                         tb_pg_type_sql(s->fields[j].type, a, sizeof(a)));
        }
    }
    tb_buf_free(&have);
    if (rc != TB_OK || !p->upsert)
        return rc;
    /* a unique index on the key columns, or ON CONFLICT fails at the first batch */
    tb_buf arr = {0};
    bool ok = tb_buf_putc(&arr, '{') == TB_OK;
    for (size_t k = 0; ok && k < p->keys.n; k++) {
        ok = (k == 0 || tb_buf_putc(&arr, ',') == TB_OK) && tb_buf_putc(&arr, '"') == TB_OK;
        for (const char *c = p->keys.items[k]; ok && *c; c++)
            ok = ((*c == '"' || *c == '\\') ? tb_buf_putc(&arr, '\\') == TB_OK : true) &&
                 tb_buf_putc(&arr, *c) == TB_OK;
        ok = ok && tb_buf_putc(&arr, '"') == TB_OK;
    }
    ok = ok && tb_buf_putc(&arr, '}') == TB_OK && tb_buf_cstr(&arr) != NULL;
    if (!ok) {
        tb_buf_free(&arr);
        return tb_err_nomem(err);
    }
    const char *vals[2] = {p->target, arr.data};
    PGresult *res = NULL;
    rc = exec_params(p,
                     "SELECT 1 FROM pg_index i WHERE i.indrelid = to_regclass($1) AND "
                     "i.indisunique AND i.indpred IS NULL AND (SELECT array_agg(a.attname::text "
                     "ORDER BY a.attname::text) FROM pg_attribute a WHERE a.attrelid = i.indrelid "
                     "AND a.attnum = ANY(i.indkey)) = (SELECT array_agg(x ORDER BY x) FROM "
                     "unnest($2::text[]) x)",
                     2, vals, &res, err);
    tb_buf_free(&arr);
    if (rc == TB_OK && PQntuples(res) == 0)
        rc = TB_ERRF(err, TB_E_SQL,
                     "%s: upsert needs a primary key or unique index on exactly the key "
                     "columns (%s) of the existing table; add one or drop the table (create = "
                     "true makes it with the key)",
                     p->what, p->keys.n ? p->keys.items[0] : "");
    PQclear(res);
    return rc;
}

static tb_rc create_target(pg_sink *p, tb_err *err)
{
    const tb_schema *s = p->base.schema;
    tb_buf q = {0};
    char tb[64];
    bool ok = tb_buf_printf(&q, "CREATE TABLE IF NOT EXISTS %s (", p->target) == TB_OK;
    for (uint32_t j = 0; ok && j < s->n; j++)
        ok = (j == 0 || tb_buf_puts(&q, ", ") == TB_OK) &&
             tb_pg_quote_ident(s->fields[j].name, strlen(s->fields[j].name), &q) == TB_OK &&
             tb_buf_printf(&q, " %s", tb_pg_type_sql(s->fields[j].type, tb, sizeof(tb))) ==
                 TB_OK;
    if (ok && p->keys.n > 0) {
        ok = tb_buf_puts(&q, ", PRIMARY KEY (") == TB_OK;
        for (size_t k = 0; ok && k < p->keys.n; k++)
            ok = (k == 0 || tb_buf_puts(&q, ", ") == TB_OK) &&
                 tb_pg_quote_ident(p->keys.items[k], strlen(p->keys.items[k]), &q) == TB_OK;
        ok = ok && tb_buf_putc(&q, ')') == TB_OK;
    }
    ok = ok && tb_buf_putc(&q, ')') == TB_OK && tb_buf_cstr(&q) != NULL;
    tb_rc rc = ok ? tb_pg_exec(p->conn, q.data, p->what, err) : tb_err_nomem(err);
    tb_buf_free(&q);
    return rc;
}

static tb_rc build_sql(pg_sink *p, tb_err *err)
{
    const tb_schema *s = p->base.schema;
    tb_buf cols = {0}, b = {0};
    bool ok = cols_list(s, &cols) == TB_OK && tb_buf_cstr(&cols) != NULL;
    const char *fmt = p->binary ? " (FORMAT binary)" : "";
    ok = ok && tb_buf_printf(&b, "COPY %s (%s) FROM STDIN%s", p->target, cols.data, fmt) == TB_OK;
    ok = ok && (p->copy_sql = buf_take(&b)) != NULL;
    ok = ok && tb_buf_printf(&b, "DELETE FROM %s", p->target) == TB_OK;
    ok = ok && (p->delete_sql = buf_take(&b)) != NULL;
    /* the stage has the target's column types: a value that does not fit fails in its
     * COPY, with PostgreSQL naming the column and the value */
    ok = ok && tb_buf_printf(&b,
                             "CREATE TEMP TABLE IF NOT EXISTS tributary_stage ON COMMIT DELETE "
                             "ROWS AS SELECT %s FROM %s WITH NO DATA",
                             cols.data, p->target) == TB_OK;
    ok = ok && (p->stage_sql = buf_take(&b)) != NULL;
    ok = ok && tb_buf_printf(&b, "COPY tributary_stage (%s) FROM STDIN%s", cols.data, fmt) == TB_OK;
    ok = ok && (p->stage_copy = buf_take(&b)) != NULL;
    ok = ok && tb_buf_printf(&b, "INSERT INTO %s AS t (%s) SELECT %s FROM tributary_stage ON "
                                 "CONFLICT (",
                             p->target, cols.data, cols.data) == TB_OK;
    for (size_t k = 0; ok && k < p->keys.n; k++)
        ok = (k == 0 || tb_buf_puts(&b, ", ") == TB_OK) &&
             tb_pg_quote_ident(p->keys.items[k], strlen(p->keys.items[k]), &b) == TB_OK;
    ok = ok && tb_buf_puts(&b, ") DO ") == TB_OK;
    uint32_t n_set = 0;
    for (uint32_t j = 0; ok && j < s->n; j++) {
        bool is_key = false;
        for (size_t k = 0; k < p->keys.n; k++)
            is_key = is_key || strcmp(p->keys.items[k], s->fields[j].name) == 0;
        if (is_key)
            continue;
        const char *n = s->fields[j].name;
        ok = tb_buf_puts(&b, n_set++ ? ", " : "UPDATE SET ") == TB_OK &&
             tb_pg_quote_ident(n, strlen(n), &b) == TB_OK && tb_buf_puts(&b, " = EXCLUDED.") == TB_OK &&
             tb_pg_quote_ident(n, strlen(n), &b) == TB_OK;
    }
    if (ok && n_set == 0)
        ok = tb_buf_puts(&b, "NOTHING") == TB_OK;
    ok = ok && (p->upsert_sql = buf_take(&b)) != NULL;
    tb_buf_free(&cols);
    tb_buf_free(&b);
    return ok ? TB_OK : tb_err_nomem(err);
}

static tb_rc parse_bool(const char *v, const char *what, const char *key, bool *out, tb_err *err)
{
    if (tb_str_ieq(v, "true") || tb_str_ieq(v, "on") || strcmp(v, "1") == 0)
        *out = true;
    else if (tb_str_ieq(v, "false") || tb_str_ieq(v, "off") || strcmp(v, "0") == 0)
        *out = false;
    else
        return TB_ERRF(err, TB_E_SQL, "%s: %s must be true or false, not '%s'", what, key, v);
    return TB_OK;
}

tb_rc tb_sink_postgres_open(const tb_sink_args *args, tb_sink **out, tb_err *err)
{
    tb_rc rc;
    tb_buf b = {0};
    PGresult *cols = NULL;
    *out = NULL;

    for (size_t i = 0; i + 1 < args->kv->n; i += 2) {
        size_t k = 0;
        while (known_opts[k] != NULL && !tb_str_ieq(known_opts[k], args->kv->items[i]))
            k++;
        if (known_opts[k] == NULL)
            return TB_ERRF(err, TB_E_SQL,
                           "postgres sink \"%s\": unknown option '%s' (known: dsn, table, "
                           "mode, key, create, progress_table, retries, retry_backoff, "
                           "output_mode)",
                           args->table, args->kv->items[i]);
    }
    const char *dsn = opt(args, "dsn"), *table = opt(args, "table"), *mode = opt(args, "mode");
    const char *key = opt(args, "key"), *create_s = opt(args, "create");
    const char *prog = opt(args, "progress_table");
    if (dsn == NULL)
        return TB_ERRF(err, TB_E_SQL,
                       "postgres sink \"%s\": 'dsn' is required ('host=... port=... dbname=... "
                       "user=...' or 'postgresql://...')",
                       args->table);
    if (table == NULL)
        table = args->table;
    if (opt(args, "query") != NULL)
        return TB_ERRF(err, TB_E_SQL,
                       "postgres sink \"%s\": a table declared with query = '...' is read only; "
                       "give table = '...' to write",
                       args->table);

    pg_sink *p = tb_calloc(1, sizeof(*p));
    if (p == NULL)
        return tb_err_nomem(err);
    p->base.vt = &pg_vt;
    p->base.schema = tb_schema_copy(args->schema);
    if (p->base.schema == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    bool create = true;
    if (create_s != NULL && (rc = parse_bool(create_s, "postgres sink", "create", &create, err)) != TB_OK)
        goto fail;
    if (mode == NULL)
        p->upsert = args->mode == TB_OUT_UPDATE;
    else if (tb_str_ieq(mode, "upsert"))
        p->upsert = true;
    else if (tb_str_ieq(mode, "append"))
        p->upsert = false;
    else {
        rc = TB_ERRF(err, TB_E_SQL, "postgres sink \"%s\": mode must be 'append' or 'upsert', not '%s'",
                     args->table, mode);
        goto fail;
    }
    if (args->mode == TB_OUT_UPDATE && !p->upsert) {
        rc = TB_ERRF(err, TB_E_SQL,
                     "postgres sink \"%s\": update output mode changes rows already written: "
                     "use mode = 'upsert' (the default for update)",
                     args->table);
        goto fail;
    }
    if (args->mode == TB_OUT_COMPLETE)
        p->upsert = false; /* complete: the whole result replaces the table's rows */
    if (key != NULL) {
        rc = tb_pg_split_names(key, &p->keys, err);
        if (rc != TB_OK) {
            tb_err_prefix(err, "postgres sink \"%s\": key", args->table);
            goto fail;
        }
    } else if (p->upsert) {
        /* only an upsert takes the group keys by default: append and complete tables
         * keep no primary key unless one is asked for (a NULL group is a valid row) */
        for (uint32_t k = 0; k < args->n_keys; k++)
            if (tb_strlist_push(&p->keys, args->keys[k]) != TB_OK) {
                rc = tb_err_nomem(err);
                goto fail;
            }
    }
    for (size_t k = 0; k < p->keys.n; k++) {
        if (tb_schema_find(args->schema, p->keys.items[k]) < 0) {
            rc = TB_ERRF(err, TB_E_SQL, "postgres sink \"%s\": key column \"%s\" is not a column "
                         "of the sink",
                         args->table, p->keys.items[k]);
            goto fail;
        }
    }
    if (p->upsert && p->keys.n == 0 && args->key_missing != NULL) {
        rc = TB_ERRF(err, TB_E_SQL,
                     "postgres sink \"%s\": upsert needs a key and the query's group key "
                     "%s is not a column of its output (the default key is the group "
                     "keys): name the key columns with key = 'col1, col2' or output the group "
                     "keys",
                     args->table, args->key_missing);
        goto fail;
    }
    if (p->upsert && p->keys.n == 0) {
        rc = TB_ERRF(err, TB_E_SQL,
                     "postgres sink \"%s\": upsert needs a key: key = 'col1, col2' (the query's "
                     "group keys when it has some)",
                     args->table);
        goto fail;
    }
    rc = tb_pg_retry_parse(opt(args, "retries"), opt(args, "retry_backoff"), &p->retry, err);
    if (rc != TB_OK) {
        tb_err_prefix(err, "postgres sink \"%s\"", args->table);
        goto fail;
    }
    if (tb_pg_quote_qualified(table, &b, err) != TB_OK || tb_buf_cstr(&b) == NULL) {
        if (err->code == TB_OK)
            tb_err_nomem(err);
        rc = err->code;
        tb_err_prefix(err, "postgres sink \"%s\": table", args->table);
        goto fail;
    }
    p->target = buf_take(&b);
    if (tb_pg_quote_qualified(prog ? prog : "tributary_progress", &b, err) != TB_OK ||
        tb_buf_cstr(&b) == NULL) {
        if (err->code == TB_OK)
            tb_err_nomem(err);
        rc = err->code;
        tb_err_prefix(err, "postgres sink \"%s\": progress_table", args->table);
        goto fail;
    }
    p->progress = buf_take(&b);
    if (tb_buf_printf(&b, "postgres sink \"%s\" (table %s)", args->table, table) != TB_OK ||
        (p->what = buf_take(&b)) == NULL || (p->dsn = tb_strdup(dsn)) == NULL ||
        (p->name = tb_strdup(table)) == NULL ||
        (p->query_id = tb_strdup(args->query_id ? args->query_id : "")) == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }

    /* The job starts only if the target can take the rows: connect (with retries),
     * make the progress table, check or create the target. */
    rc = tb_pg_connect(p->dsn, p->what, &p->retry, &p->conn, err);
    if (rc != TB_OK)
        goto fail;
    if (tb_buf_printf(&b,
                      "CREATE TABLE IF NOT EXISTS %s (query_id text NOT NULL, sink text NOT "
                      "NULL, batch_id bigint NOT NULL, committed_at timestamptz NOT NULL DEFAULT "
                      "now(), PRIMARY KEY (query_id, sink))",
                      p->progress) != TB_OK ||
        tb_buf_cstr(&b) == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    {
        /* CREATE TABLE IF NOT EXISTS needs CREATE on the schema even when the table
         * exists: a role that may only write rows would be refused */
        const char *vals[1] = {p->progress};
        PGresult *ex = NULL;
        rc = exec_params(p, "SELECT to_regclass($1) IS NOT NULL", 1, vals, &ex, err);
        bool exists = rc == TB_OK && PQntuples(ex) == 1 && PQgetvalue(ex, 0, 0)[0] == 't';
        PQclear(ex);
        if (rc == TB_OK && !exists)
            rc = tb_pg_exec(p->conn, b.data, p->what, err);
    }
    tb_buf_free(&b);
    if (rc != TB_OK)
        goto fail;
    rc = target_columns(p, &cols, err);
    if (rc != TB_OK)
        goto fail;
    /* binary COPY when every column has exactly the type ours is written as (a wider
     * column, varchar(n), numeric: text, which the server converts and checks, and whose
     * errors quote the value) */
    p->binary = true;
    for (uint32_t j = 0; j < p->base.schema->n; j++)
        p->binary = p->binary && p->base.schema->fields[j].type.id != TB_T_DECIMAL;
    if (PQntuples(cols) == 0) {
        if (!create) {
            rc = TB_ERRF(err, TB_E_NOTFOUND,
                         "%s: the table does not exist (create = false)", p->what);
            goto fail;
        }
        rc = create_target(p, err);
    } else {
        rc = check_target(p, cols, err);
    }
    if (rc == TB_OK)
        rc = build_sql(p, err);
    if (rc != TB_OK)
        goto fail;
    PQclear(cols);
    *out = &p->base;
    return TB_OK;
fail:
    PQclear(cols);
    tb_buf_free(&b);
    pg_free(&p->base);
    return rc;
}
