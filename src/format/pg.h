/*
 * pg.h - PostgreSQL through libpq (issue 12): what the postgres sink (sink/postgres.c)
 * and the postgres reader (sql/tf_postgres.c: read_postgres, connector = 'postgres'
 * tables) share.
 *
 *   - connecting with retries and a bounded exponential backoff, telling errors worth
 *     a retry (server down, starting up, connection lost, terminated by an admin) from
 *     the others (authentication, permission, bad data), and messages that name the
 *     sink or relation, the table, and PostgreSQL's column / value / detail fields;
 *   - the type mapping between Tributary and PostgreSQL (README "PostgreSQL");
 *   - COPY text format: encoding rows for COPY FROM STDIN, decoding the rows of COPY
 *     TO STDOUT (fuzzed: fuzz/fuzz_pgcopy.c);
 *   - identifiers: 'schema.name' options split and quoted.
 *
 * Sessions are set to client_encoding UTF8, DateStyle ISO, TimeZone UTC and
 * IntervalStyle postgres so that the text forms are the ones decoded here.
 */
#ifndef TB_FORMAT_PG_H
#define TB_FORMAT_PG_H

#include <libpq-fe.h>

#include "format/format.h"

/* Retry policy of connections and of a sink batch's transaction. */
typedef struct tb_pg_retry {
    int retries;         /* attempts after the first (default 5) */
    int64_t backoff_ms;  /* first wait (default 200), doubled each time ... */
    int64_t max_wait_ms; /* ... up to this (default 5000) */
} tb_pg_retry;

#define TB_PG_RETRY_DEFAULT {5, 200, 5000}

/* Parse the retry options: retries = 'N' (0..100), retry_backoff = '<interval>'. */
tb_rc tb_pg_retry_parse(const char *retries, const char *backoff, tb_pg_retry *out,
                        tb_err *err);
/* Sleep before attempt `attempt` (1-based) of policy r. */
void tb_pg_backoff(const tb_pg_retry *r, int attempt);

/*
 * Connect to dsn ('host=... port=...' or 'postgresql://...'), retrying retriable
 * failures (server not reachable, starting up, too many clients) per r; `what` names
 * the user of the connection in messages ("postgres sink \"out\""). On success *out is
 * the caller's (PQfinish). A DSN libpq cannot parse, authentication failures and
 * unknown databases fail at once.
 */
tb_rc tb_pg_connect(const char *dsn, const char *what, const tb_pg_retry *r, PGconn **out,
                    tb_err *err);

/*
 * Fill err from a failed result (res may be NULL: the connection's message) as
 * "<what>: <message> (SQLSTATE x)[; detail][; column c][; constraint k][; where]",
 * and set err->retriable when the failure is one a new connection may not have
 * (connection lost, admin shutdown, serialization failure, deadlock). Returns code.
 */
tb_rc tb_pg_error(PGconn *conn, const PGresult *res, const char *what, tb_rc code, tb_err *err);

/* Run one statement without parameters; tuples are discarded. */
tb_rc tb_pg_exec(PGconn *conn, const char *sql, const char *what, tb_err *err);

/* ---------------------------------------------------------------- types */

/* The PostgreSQL type a Tributary type is written as ("numeric(10,2)", "text"). */
const char *tb_pg_type_sql(tb_type t, char *buf, size_t cap);
/* The Tributary type of a PostgreSQL column (type oid and typmod, as PQftype/PQfmod or
 * pg_attribute give them). Types without a mapping are read as text. */
tb_type tb_pg_type_from_oid(uint32_t oid, int32_t typmod);
/* Can a column of PostgreSQL type (oid, typmod) store values of type t without loss?
 * (integers into wider integers or numeric, text into varchar, ...) */
bool tb_pg_type_accepts(uint32_t oid, int32_t typmod, tb_type t);

/* ---------------------------------------------------------------- COPY text format */

/* Append row i of batch (columns cols[0..n_cols-1] of it) as one COPY text line. */
tb_rc tb_pg_copy_encode_row(const tb_batch *batch, uint32_t i, tb_buf *buf);

/*
 * COPY binary format (faster for the server to read: no text parsing of numbers and
 * times). Only for columns whose PostgreSQL type is exactly the one a Tributary type
 * is written as (tb_pg_binary_ok), and not numeric. The stream is: header, rows, trailer.
 */
bool tb_pg_binary_ok(uint32_t oid, int32_t typmod, tb_type t);
tb_rc tb_pg_copy_binary_header(tb_buf *buf);
tb_rc tb_pg_copy_binary_trailer(tb_buf *buf);
tb_rc tb_pg_copy_encode_row_binary(const tb_batch *batch, uint32_t i, tb_buf *buf);

/*
 * Decode one COPY text line (without its newline) into row `row` of batch (whose
 * vectors have the types of the n_cols columns, capacity cap, in arena). Strings are
 * copied into arena. Errors (wrong column count, bad escape, a value that does not
 * parse as its column's type) name the column by names[j] and quote the value; the
 * caller prefixes the relation and row number.
 */
tb_rc tb_pg_copy_decode_row(const char *line, size_t len, tb_batch *batch, uint32_t row,
                            const char *const *names, tb_arena *arena, tb_err *err);

/* ---------------------------------------------------------------- identifiers */

/* Append a quoted identifier ("a""b"). */
tb_rc tb_pg_quote_ident(const char *name, size_t len, tb_buf *buf);
/*
 * Append 'schema.name' / 'name' quoted: each part is folded to lower case as PostgreSQL
 * folds unquoted names, unless written in double quotes ('"Sales".out'). TB_E_SQL for a
 * malformed name (empty part, unterminated quote, more than two parts).
 */
tb_rc tb_pg_quote_qualified(const char *name, tb_buf *buf, tb_err *err);
/* Append a string literal ('it''s'; E'' never needed: standard_conforming_strings). */
tb_rc tb_pg_quote_literal(const char *s, tb_buf *buf);
/* Split 'a, b ,c' into names (lower-cased unless quoted), appended to out. */
tb_rc tb_pg_split_names(const char *list, tb_strlist *out, tb_err *err);

#endif /* TB_FORMAT_PG_H */
