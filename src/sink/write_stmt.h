/*
 * write_stmt.h - SQL statements that write: COPY ... TO a Parquet or CSV file, and Delta
 * tables created, appended, overwritten and read through SQL.
 *
 * The SQL layer hands the statements it does not handle to a statement hook (sql.h);
 * tb_write_stmt_hook is that hook for `tributary query`, the shell and `tributary run`.
 * It handles:
 *
 *   COPY (query) | table [(cols)] TO 'file' [WITH] (FORMAT parquet|csv, ...)
 *       the file appears atomically (hidden temp name, then rename); changes = rows;
 *   CREATE TABLE t [(cols)] WITH (connector = 'delta', path = 'P', [partition_by = 'a,b'],
 *                                 [mode = 'overwrite'])
 *       a relation over the Delta table at P, re-read at each query (a missing table is
 *       created empty from the columns given);
 *   CREATE TABLE t [(names)] WITH (connector = 'delta', path = 'P', [partition_by = ...],
 *                                  [mode = 'error'|'append'|'overwrite'|'ignore'],
 *                                  [txn_app_id = 'A', txn_version = N]) AS SELECT ...
 *       writes the query's rows as one commit (creating the table), then declares t;
 *   INSERT INTO t [(cols)] SELECT ... | VALUES ...   (t a Delta relation as above)
 *       one append commit (one overwrite commit when t was declared mode = 'overwrite');
 *   TRUNCATE t   one commit removing every file.
 * Every other statement is declined (TB_E_UNSUPPORTED).
 *
 * @thread as the db the hook is installed on.
 */
#ifndef TB_WRITE_STMT_H
#define TB_WRITE_STMT_H

#include "sql/sql.h"

/* The statement hook (sql.h contract); ud is unused (NULL). Install with
 * tb_sql_set_stmt_hook(db, tb_write_stmt_hook, NULL). */
tb_rc tb_write_stmt_hook(void *ud, tb_db *db, const char *sql, int offset, int len,
                         const struct PgQuery__Node *stmt, int64_t *out_changes, tb_err *err);

/*
 * A batch INSERT (stmt: an InsertStmt of text sql) into a table that the caller declared
 * itself, with the WITH (...) options `opts` (key, value, ... as tb_sql_stmt_options
 * gives them) and declared columns `declared` (may be NULL or empty: the table's). The
 * stream layer uses it for an INSERT INTO a sink declaration whose query reads no stream.
 * Only connector = 'delta' is supported (TB_E_UNSUPPORTED otherwise, with a message).
 * In this form every INSERT carries txn {appId: "tributary-insert-<hash of the statement
 * text and path>", version: 0}: a job restarted with the same statement does not append
 * the rows a second time. *out_changes (may be NULL) receives the rows committed.
 */
tb_rc tb_write_insert_declared(tb_db *db, const char *sql, int offset, int len,
                               const struct PgQuery__Node *stmt, const tb_strlist *opts,
                               const tb_schema *declared, int64_t *out_changes, tb_err *err);

#endif /* TB_WRITE_STMT_H */
