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
 * time (the caller serialises). A running job (tb_job_start) and the servers it starts
 * work on their own threads; the caller then reads views through tb_job_query, which
 * takes the db's read lock (consistent reads: every view as of one committed batch).
 *
 * tb_db_open gives the whole engine: SQL, COPY and Delta writes, continuous queries
 * (tb_job_*), serving over the PostgreSQL protocol and HTTP, and results as Arrow C
 * Data Interface arrays (tb_result_arrow_*).
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
/* Free a result (and, for a tb_job_query result, release the read lock it holds). */
TB_API void tb_result_free(tb_result **res);

/* ---------------------------------------------------------------- Arrow C Data Interface */

/*
 * The structures of the Arrow C Data Interface (arrow.apache.org/docs/format/
 * CDataInterface.html), declared as the specification asks so that any Arrow library
 * (or none) consumes them.
 */
#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE
#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4
struct ArrowSchema {
    const char *format;
    const char *name;
    const char *metadata;
    int64_t flags;
    int64_t n_children;
    struct ArrowSchema **children;
    struct ArrowSchema *dictionary;
    void (*release)(struct ArrowSchema *);
    void *private_data;
};
struct ArrowArray {
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};
#endif

/*
 * The result's columns as an Arrow struct schema ("+s", one child per column: "b"
 * bool, "s"/"i"/"l" ints, "f"/"g" floats, "d:P,S" decimal128, "u" utf8, "tdD" date32,
 * "tsu:" timestamp[us], "tin" month_day_nano interval, "n" null). The caller releases
 * it with out->release(out).
 */
TB_API tb_rc tb_result_arrow_schema(tb_result *res, struct ArrowSchema *out);
/*
 * The next batch of rows as an Arrow struct array matching the schema (its buffers are
 * copies the array owns: valid until the caller calls out->release(out)). At the end
 * *out_has_batch is 0 and out->release is NULL. Do not mix with tb_result_step.
 */
TB_API tb_rc tb_result_arrow_next(tb_result *res, struct ArrowArray *out, int *out_has_batch);

/* ---------------------------------------------------------------- continuous queries */

typedef struct tb_job tb_job; /* a running pipeline: its continuous queries and servers */

/*
 * Run a pipeline: `sql` declares stream sources, materialized views and sinks
 * (README "Streaming"); its continuous queries then run on a background thread until
 * tb_job_stop. options: NULL or "key=value" pairs separated by ';':
 *   trigger=100ms | once | available-now | continuous  (default 1 second)
 *   checkpoint=DIR   (default: a temporary directory)
 *   pg=[ADDR:]PORT  http=[ADDR:]PORT  token=TOKEN  show=SQL  (serve the views)
 * Errors in sql come back here (tb_db_errmsg, tb_db_errpos). db must outlive the job.
 */
TB_API tb_rc tb_job_start(tb_db *db, const char *sql, const char *options, tb_job **out_job);
/* Batches committed so far, and the last progress record (JSON, as `--progress`
 * writes) copied into buf (cap bytes, NUL-terminated; "" before the first batch). */
TB_API int64_t tb_job_batches(tb_job *job);
TB_API tb_rc tb_job_progress(tb_job *job, char *buf, size_t cap);
/* Run a query on the job's db seeing every view as of one committed batch: the result
 * holds the db's read lock until tb_result_free (batches wait meanwhile: free it soon). */
TB_API tb_rc tb_job_query(tb_job *job, const char *sql, tb_result **out_result);
/* "ADDR:PORT" the job serves on, or NULL. */
TB_API const char *tb_job_pg_address(tb_job *job);
TB_API const char *tb_job_http_address(tb_job *job);
/* Stop after the current batch, stop the servers, join; returns the job's error if it
 * failed (message: tb_job_errmsg before the stop, or tb_db_errmsg after). *job = NULL. */
TB_API tb_rc tb_job_stop(tb_job **job);
TB_API const char *tb_job_errmsg(tb_job *job);

#ifdef __cplusplus
}
#endif
#endif /* TRIBUTARY_H */
