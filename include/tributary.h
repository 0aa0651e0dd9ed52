/*
 * tributary.h - the public C API of Tributary, a single-binary engine for hybrid
 * batch + streaming SQL pipelines.
 *
 * Shape (SQLite-like): open an engine (tb_db), execute SQL, step through a result's
 * rows (tb_result), read values by column, close. Handles are opaque. Every fallible
 * call returns a tb_rc (TB_OK == 0); the message of the last error on a db is
 * tb_db_errmsg(db).
 *
 * Thread model: a tb_db and everything obtained from it is used by one thread at a
 * time (the caller serialises).
 */
#ifndef TRIBUTARY_H
#define TRIBUTARY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TB_API __attribute__((visibility("default")))
#else
#define TB_API
#endif

#define TB_VERSION "0.1.0"

/* Status codes. Stable numbers: they are part of the ABI. */
typedef enum tb_rc {
    TB_OK = 0,
    TB_E_ERROR = 1,        /* generic failure */
    TB_E_NOMEM = 2,        /* allocation failed or memory limit exceeded */
    TB_E_IO = 3,           /* file system or network I/O */
    TB_E_PARSE = 4,        /* malformed input data (CSV, Parquet, JSON, ...) */
    TB_E_SQL = 5,          /* SQL syntax or semantic error */
    TB_E_TYPE = 6,         /* type mismatch */
    TB_E_NOTFOUND = 7,     /* unknown table, column, function, file */
    TB_E_MISUSE = 8,       /* API used wrongly */
    TB_E_CORRUPT = 9,      /* corrupt file, checkpoint or log */
    TB_E_UNSUPPORTED = 10, /* valid but not supported (yet) */
    TB_E_LIMIT = 11,       /* a configured or safety bound was exceeded */
    TB_E_RANGE = 12,       /* value out of range (overflow, division by zero) */
    TB_E_CONFLICT = 13,    /* concurrent modification (Delta commit race) */
    TB_E_INTERRUPT = 14,   /* stopped by a signal or tb_db_interrupt */
    TB_E_EXISTS = 15       /* object already exists */
} tb_rc;

typedef struct tb_db tb_db;         /* an engine: catalog + settings */
typedef struct tb_result tb_result; /* the rows of one statement */

/* Value types as seen through the public API. */
typedef enum tb_value_type {
    TB_VT_NULL = 0,
    TB_VT_BOOL,
    TB_VT_INT,    /* smallint, int, bigint */
    TB_VT_DOUBLE, /* real, double precision */
    TB_VT_TEXT,   /* text, and every other type rendered as text */
} tb_value_type;

/* Name of a status code ("ok", "out of memory", ...). Static storage. */
TB_API const char *tb_errstr(tb_rc rc);

/*
 * Open an engine. `path` is reserved (NULL: in-memory catalog). On success *out_db
 * must be closed with tb_db_close.
 */
TB_API tb_rc tb_db_open(const char *path, tb_db **out_db);
/* Close an engine and free everything it owns; sets *db to NULL. NULL is a no-op. */
TB_API void tb_db_close(tb_db **db);
/* Message of the last failed call on db ("" if none). Owned by db, valid until next call. */
TB_API const char *tb_db_errmsg(tb_db *db);
/* Byte offset into the SQL text of the last error's position, or -1 (the CLI draws a
 * caret there, as psql does). */
TB_API int tb_db_errpos(tb_db *db);
/* Set an engine option ("threads", "memory_limit", ...). */
TB_API tb_rc tb_db_set(tb_db *db, const char *key, const char *value);

/*
 * Execute one or more `;`-separated statements. If out_result is not NULL it receives the
 * result of the last statement (free with tb_result_free); results of earlier
 * statements are discarded.
 */
TB_API tb_rc tb_db_exec(tb_db *db, const char *sql, tb_result **out_result);

/* Result columns. Names are owned by the result. */
TB_API int tb_result_column_count(tb_result *res);
TB_API const char *tb_result_column_name(tb_result *res, int col);
/* SQL type name of a column ("integer", "text", "timestamp", ...). Static storage. */
TB_API const char *tb_result_column_type(tb_result *res, int col);
/*
 * Advance to the next row. Returns TB_OK and sets *out_has_row to 1 on a row, 0 at the
 * end. Errors met while computing the rows are returned here.
 */
TB_API tb_rc tb_result_step(tb_result *res, int *out_has_row);
TB_API tb_value_type tb_result_type(tb_result *res, int col);
TB_API int tb_result_is_null(tb_result *res, int col);
TB_API int64_t tb_result_int(tb_result *res, int col);
TB_API double tb_result_double(tb_result *res, int col);
/* Value rendered as text (timestamps as YYYY-MM-DD HH:MM:SS[.ffffff]); NULL for SQL NULL.
 * Owned by the result, valid until the next step. */
TB_API const char *tb_result_text(tb_result *res, int col);
/* Number of rows affected by INSERT / COPY / CREATE TABLE AS (-1 for queries). */
TB_API int64_t tb_result_changes(tb_result *res);
TB_API void tb_result_free(tb_result **res);

#ifdef __cplusplus
}
#endif
#endif /* TRIBUTARY_H */
