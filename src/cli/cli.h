/*
 * cli.h - pieces of the `tributary` command shared between its subcommands.
 */
#ifndef TB_CLI_H
#define TB_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "tributary.h"

typedef enum tb_cli_format { TB_FMT_TABLE, TB_FMT_CSV, TB_FMT_JSON } tb_cli_format;

/* "table" | "csv" | "json" -> *out; returns 0, or -1 if unknown. */
int tb_cli_parse_format(const char *s, tb_cli_format *out);
/*
 * Execute `sql` on db and print the last statement's result to fp in fmt. Errors go to
 * stderr, psql-style, with the offending line and a caret under the position.
 * Returns 0 on success, 1 on error.
 */
int tb_cli_exec_print(tb_db *db, const char *sql, tb_cli_format fmt, FILE *fp);
/* Print every row of res in fmt. Returns TB_OK or the error met while stepping. */
tb_rc tb_cli_print_result(tb_result *res, tb_cli_format fmt, FILE *fp);
/* Print a psql-style error for the last failure on db (sql may be NULL). */
void tb_cli_print_error(tb_db *db, const char *sql, FILE *fp);
/* `tributary generate`: see gen.c. */
int tb_cli_generate(int argc, char **argv);
/* Category of a generated product id (the products table's rule). */
const char *tb_cli_category_of(int64_t product_id);
/* `tributary run`: see run.c. */
int tb_cli_run(int argc, char **argv);

/* Serving (serve.c): the options shared by `serve` and `run`. */
struct tb_server;
typedef struct tb_cli_serve_opts {
    const char *pg, *http, *token;
    int64_t timeout_ms, mem_limit;
} tb_cli_serve_opts;
/* 1: a serving option consumed (a, v); 0: not one; -1: bad value (message printed). */
int tb_cli_serve_option(const char *a, const char *v, tb_cli_serve_opts *so);
/* Start the servers when --pg or --http was given (prints their addresses); 0 or -1. */
int tb_cli_serve_start(tb_db *db, const tb_cli_serve_opts *so, const char *show_sql,
                       struct tb_server **out);
/* `tributary serve`. */
int tb_cli_serve(int argc, char **argv);

#endif /* TB_CLI_H */
