/*
 * server.h - serving a db to other processes (issue 11): the PostgreSQL wire protocol
 * v3 (pgwire.c), an HTTP JSON API with server-sent events, Prometheus metrics and the
 * live dashboard (http.c).
 *
 * The servers run on their own threads next to the stream runtime (which drives the
 * db on the main thread). Every query takes the db's read lock (sql.h) for the time it
 * is planned and its rows produced, so it sees the views as of one committed batch;
 * statement_timeout and a per-query memory bound keep it from stalling batches. Writes
 * are refused: the servers are read-only.
 *
 * Addresses bind loopback unless an address is given; a non-loopback address needs a
 * token (PostgreSQL: password, cleartext or SCRAM-SHA-256; HTTP: Authorization: Bearer).
 */
#ifndef TB_SERVER_H
#define TB_SERVER_H

#include "sql/sql.h"

typedef struct tb_server tb_server;

typedef struct tb_server_opts {
    const char *pg_listen;   /* "[ADDR:]PORT" (PORT 0: any free port) or NULL */
    const char *http_listen; /* same, or NULL */
    const char *token;       /* password / bearer token; NULL: none (loopback only) */
    const char *show_sql;    /* the dashboard's chart query (run's --show), or NULL */
    int64_t statement_timeout_ms; /* default per query; 0: the default 30 s */
    int64_t query_mem_limit;      /* bytes per query; 0: the default 256 MiB */
    int max_clients;              /* PostgreSQL connections; 0: the default 256 */
} tb_server_opts;

/*
 * Start the servers on db (which must outlive them). Errors: a bad address, a port in
 * use, a non-loopback address without a token. @thread the caller's; the servers then
 * run on their own threads until tb_server_stop.
 */
tb_rc tb_server_start(tb_db *db, const tb_server_opts *opts, tb_server **out, tb_err *err);
/* Stop the servers, close every connection, join the threads, free. NULL is a no-op. */
void tb_server_stop(tb_server *srv);
/* The bound "ADDR:PORT" of each server (the real port when 0 was asked), or NULL. */
const char *tb_server_pg_address(const tb_server *srv);
const char *tb_server_http_address(const tb_server *srv);

/*
 * A batch committed (tb_stream_opts.on_batch): the progress record and the views it
 * changed. Called on the runtime's thread between batches: the views are read under
 * the read lock (as of this batch: the next one has not started), their changed rows
 * queued for /api/events subscribers and the metrics updated. @thread the runtime's.
 */
void tb_server_on_batch(void *srv, const char *progress_json, const char *const *views,
                        size_t n_views);

#endif /* TB_SERVER_H */
