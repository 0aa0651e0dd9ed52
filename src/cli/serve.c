/*
 * serve.c - `tributary serve`: serve a catalog (static tables, Delta, files, views) over
 * the PostgreSQL protocol and HTTP without a stream, and the serving options shared
 * with `tributary run` (--pg, --http, --token, --statement-timeout, --query-memory).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "server/server.h"
#include "sink/write_stmt.h"
#include "stream/stream.h"

static volatile sig_atomic_t serve_stop = 0;

static void on_signal(int sig)
{
    serve_stop = 1;
    signal(sig, SIG_DFL);
}

int tb_cli_serve_option(const char *a, const char *v, tb_cli_serve_opts *so)
{
    if (strcmp(a, "--pg") == 0) {
        so->pg = v;
    } else if (strcmp(a, "--http") == 0) {
        so->http = v;
    } else if (strcmp(a, "--token") == 0) {
        so->token = v;
    } else if (strcmp(a, "--statement-timeout") == 0) {
        int64_t ms = 0;
        if (!tb_stream_parse_duration(v, &ms) || ms <= 0) {
            fprintf(stderr, "error: --statement-timeout takes a duration such as '30 seconds'\n");
            return -1;
        }
        so->timeout_ms = ms;
    } else if (strcmp(a, "--query-memory") == 0) {
        char *end = NULL;
        double x = strtod(v, &end);
        double mul = 1;
        if (end != NULL && (*end == 'k' || *end == 'K'))
            mul = 1024;
        else if (end != NULL && (*end == 'm' || *end == 'M'))
            mul = 1024.0 * 1024;
        else if (end != NULL && (*end == 'g' || *end == 'G'))
            mul = 1024.0 * 1024 * 1024;
        if (end == v || x <= 0) {
            fprintf(stderr, "error: --query-memory takes a size such as 256MB\n");
            return -1;
        }
        so->mem_limit = (int64_t)(x * mul);
    } else {
        return 0;
    }
    return 1;
}

int tb_cli_serve_start(tb_db *db, const tb_cli_serve_opts *so, const char *show_sql,
                       tb_server **out)
{
    *out = NULL;
    if (so->pg == NULL && so->http == NULL)
        return 0;
    tb_server_opts opts = {0};
    opts.pg_listen = so->pg;
    opts.http_listen = so->http;
    opts.token = so->token != NULL ? so->token : getenv("TRIBUTARY_TOKEN");
    opts.show_sql = show_sql;
    opts.statement_timeout_ms = so->timeout_ms;
    opts.query_mem_limit = so->mem_limit;
    tb_err err;
    tb_err_clear(&err);
    if (tb_server_start(db, &opts, out, &err) != TB_OK) {
        fprintf(stderr, "error: %s\n", err.msg);
        return -1;
    }
    const char *pg = tb_server_pg_address(*out), *http = tb_server_http_address(*out);
    if (pg != NULL)
        fprintf(stderr, "serving PostgreSQL protocol on %s (psql -h %.*s -p %s)\n", pg,
                (int)(strrchr(pg, ':') - pg), pg, strrchr(pg, ':') + 1);
    if (http != NULL)
        fprintf(stderr, "serving HTTP on http://%s/ (dashboard at /, API at /api, /metrics)\n",
                http);
    fflush(stderr);
    return 0;
}

static const char *serve_usage =
    "usage: tributary serve [options] [FILE.sql]\n"
    "\n"
    "Runs FILE.sql (tables, views, Delta, files) and serves the catalog read-only until\n"
    "stopped (Ctrl-C). Without --pg and --http: --pg 5433 --http 8080 (loopback).\n"
    "\n"
    "options:\n"
    "  --pg [ADDR:]PORT          PostgreSQL wire protocol (psql, JDBC, BI tools)\n"
    "  --http [ADDR:]PORT        HTTP API, dashboard and /metrics\n"
    "  --token TOKEN             password (pg) / bearer token (HTTP); required for an address\n"
    "                            other than loopback (or env TRIBUTARY_TOKEN)\n"
    "  --statement-timeout D     default statement_timeout (default '30 seconds')\n"
    "  --query-memory SIZE       memory bound per query (default 256MB)\n"
    "  --set KEY=VALUE           replace ${KEY} in FILE.sql\n";

int tb_cli_serve(int argc, char **argv)
{
    tb_cli_serve_opts so = {0};
    const char *file = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0) {
            fputs(serve_usage, stdout);
            return 0;
        }
        if (a[0] == '-' && a[1] == '-') {
            if (i + 1 >= argc) {
                fprintf(stderr, "error: %s needs a value\n%s", a, serve_usage);
                return 2;
            }
            int r = tb_cli_serve_option(a, argv[i + 1], &so);
            if (r < 0)
                return 2;
            if (r == 0) {
                fprintf(stderr, "error: unknown option '%s'\n%s", a, serve_usage);
                return 2;
            }
            i++;
        } else if (file == NULL) {
            file = a;
        } else {
            fprintf(stderr, "error: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (so.pg == NULL && so.http == NULL) {
        so.pg = "5433";
        so.http = "8080";
    }
    tb_db *db = NULL;
    tb_server *srv = NULL;
    int status = 1;
    if (tb_db_open(NULL, &db) != TB_OK) {
        fprintf(stderr, "error: cannot open engine\n");
        return 1;
    }
    tb_sql_set_stmt_hook(db, tb_write_stmt_hook, NULL);
    if (file != NULL) {
        char *text = NULL;
        size_t len = 0;
        tb_err err;
        tb_err_clear(&err);
        if (tb_file_read_all(file, 64u << 20, &text, &len, &err) != TB_OK) {
            fprintf(stderr, "error: %s\n", err.msg);
            goto done;
        }
        int r = tb_cli_exec_print(db, text, TB_FMT_TABLE, stderr);
        tb_free(text);
        if (r != 0)
            goto done;
    }
    if (tb_cli_serve_start(db, &so, NULL, &srv) != 0)
        goto done;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    while (!serve_stop)
        pause();
    status = 0;
done:
    tb_server_stop(srv);
    tb_db_close(&db);
    return status;
}
