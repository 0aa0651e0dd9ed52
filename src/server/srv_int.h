/*
 * srv_int.h - private pieces of the server layer shared by the PostgreSQL protocol
 * (pgwire.c), the pg_catalog answers (pgcatalog.c), the HTTP API (http.c) and the
 * query runner (query.c).
 *
 * A served query never streams rows straight from the operators to a socket: it runs
 * under the db's read lock (sql.h) into a tb_srv_rows (text cells, the layout of a
 * PostgreSQL DataRow), bounded by the query's memory budget, then the lock is released
 * and the rows are sent. So a slow or vanished client holds no lock and never delays a
 * batch; what a query may hold is bounded by statement_timeout and the memory bound.
 */
#ifndef TB_SRV_INT_H
#define TB_SRV_INT_H

#include <netinet/in.h>
#include <stdatomic.h>

#include "server/server.h"

#include <pthread.h>

/* ---------------------------------------------------------------- the server */

#define TB_SRV_EVENTS 64       /* server-sent events kept for slow subscribers */
#define TB_SRV_MAX_QUERIES 16  /* continuous queries tracked by /metrics */
#define TB_SRV_HIST_BUCKETS 12 /* batch-duration histogram buckets */

typedef struct tb_srv_conn {
    int fd;
    pthread_t thread;
    bool used, done;
    struct tb_pgw *pgw;
    struct tb_server *srv;
} tb_srv_conn;

typedef struct tb_srv_qstats {
    char name[64];
    long long batches, input_rows, malformed, dropped, state_rows, state_bytes;
    double watermark_delay_s; /* -1: no watermark */
    double dur_sum_s;
    long long dur_buckets[TB_SRV_HIST_BUCKETS];
    char *last_progress; /* JSON text */
} tb_srv_qstats;

struct tb_server {
    tb_db *db;
    tb_server_opts opts;
    char *token, *show_sql;
    /* PostgreSQL */
    int pg_fd;
    int wake[2]; /* pipe: wakes the accept loop at stop */
    pthread_t pg_thread;
    bool pg_started;
    char pg_addr[64], http_addr[64];
    pthread_mutex_t conns_mu;
    tb_srv_conn *conns;
    int max_clients;
    int32_t next_pid;
    _Atomic int stopping;
    /* watchdog */
    pthread_t wd_thread;
    bool wd_started;
    pthread_mutex_t wd_mu;
    pthread_cond_t wd_cv;
    struct {
        tb_mem_budget *budget;
        int64_t deadline_ns;
    } *watched;
    size_t n_watched, cap_watched;
    /* HTTP */
    void *mhd;
    /* events and metrics (written by the runtime's on_batch, read by HTTP threads) */
    pthread_mutex_t ev_mu;
    pthread_cond_t ev_cv;
    char *events[TB_SRV_EVENTS];
    uint64_t ev_seq; /* sequence number of the newest event (0: none yet) */
    tb_srv_qstats qstats[TB_SRV_MAX_QUERIES];
    size_t n_qstats;
    char **view_names; /* previous rows of each view (for changed rows) */
    tb_strlist *view_prev;
    size_t n_views;
    _Atomic long long pg_connections, pg_queries, http_requests;
};

/* Nice value of the threads that serve queries: below the job's thread, which keeps
 * the CPU when both want it. */
#define TB_SRV_NICE 10
void tb_srv_thread_nice(void);

/* http.c */
tb_rc tb_http_start(tb_server *srv, const char *listen, tb_err *err);
void tb_http_stop(tb_server *srv);
/* Parse "[ADDR:]PORT" into an IPv4 socket address; loopback default. */
tb_rc tb_srv_parse_listen(const char *listen, struct sockaddr_in *out, bool *out_loopback,
                          tb_err *err);

/* PostgreSQL type OIDs (pg_type.dat) of the types we produce. */
#define TB_OID_BOOL        16
#define TB_OID_BYTEA       17
#define TB_OID_INT8        20
#define TB_OID_INT2        21
#define TB_OID_INT4        23
#define TB_OID_TEXT        25
#define TB_OID_OID         26
#define TB_OID_FLOAT4      700
#define TB_OID_FLOAT8      701
#define TB_OID_UNKNOWN     705
#define TB_OID_VARCHAR     1043
#define TB_OID_DATE        1082
#define TB_OID_TIMESTAMP   1114
#define TB_OID_TIMESTAMPTZ 1184
#define TB_OID_INTERVAL    1186
#define TB_OID_NUMERIC     1700

uint32_t tb_srv_type_oid(tb_type t);
int16_t tb_srv_oid_len(uint32_t oid); /* typlen: -1 variable */
/* format_type() text of a type ("integer", "timestamp without time zone"). */
const char *tb_srv_format_type(tb_type t, char *buf, size_t cap);

typedef struct tb_srv_col {
    char *name;
    tb_type type;
    uint32_t oid;
} tb_srv_col;

/*
 * A materialised result: column descriptions and rows. Each row is stored as a
 * PostgreSQL DataRow payload in text format (int16 n_cols, then per cell int32 length
 * (-1 for NULL) and the bytes); row_off[i] is row i's offset in data. A statement
 * without rows (SET, BEGIN) has n_cols == 0 and a command tag.
 */
typedef struct tb_srv_rows {
    uint32_t n_cols;
    tb_srv_col *cols;
    tb_buf data;
    size_t *row_off;
    size_t n_rows, cap_rows;
    char tag[64]; /* CommandComplete tag: "SELECT 3", "SET" */
    bool has_rows; /* a row-returning statement (RowDescription is sent) */
} tb_srv_rows;

void tb_srv_rows_free(tb_srv_rows *rows);
tb_rc tb_srv_rows_add_col(tb_srv_rows *rows, const char *name, tb_type type);
/* Append one row of text cells (vals[i] NULL = SQL NULL). */
tb_rc tb_srv_rows_add(tb_srv_rows *rows, const char *const *vals);
/* Cell i of row r: *out (not NUL-terminated) and *out_len; false for NULL. */
bool tb_srv_rows_cell(const tb_srv_rows *rows, size_t r, uint32_t col, const char **out,
                      int32_t *out_len);

/* Limits of one query: see server.h. stop/cancel are set by other threads. */
typedef struct tb_srv_limits {
    int64_t timeout_ms;   /* statement_timeout, 0 none */
    int64_t mem_limit;    /* bytes, 0 none */
    tb_mem_budget *budget; /* where the query's allocations count (its stop flag) */
    _Atomic int *cancelled; /* set by a cancel request, or NULL */
    bool no_lock;           /* the caller holds the db's write lock (on_batch) */
} tb_srv_limits;

/*
 * Run one read-only SELECT / VALUES / EXPLAIN text under the db's read lock into rows.
 * Errors: err with code, message and position (into sql); the SQLSTATE is chosen by
 * tb_srv_sqlstate. A timeout gives TB_E_INTERRUPT "canceling statement due to statement
 * timeout"; the memory bound TB_E_LIMIT.
 */
tb_rc tb_srv_run_select(tb_db *db, const char *sql, bool explain, const tb_srv_limits *lim,
                        tb_srv_rows *rows, tb_err *err);
/* Plan only (under the read lock): the output columns of a SELECT, for Describe. */
tb_rc tb_srv_describe_select(tb_db *db, const char *sql, int64_t timeout_ms, tb_srv_rows *rows,
                             tb_err *err);
/* SQLSTATE for an error code, and for an error (finer: undefined column, function). */
const char *tb_srv_sqlstate(tb_rc code);
const char *tb_srv_err_sqlstate(const tb_err *err);

/* The server-wide watchdog: stop a query whose deadline passed. */
void tb_srv_watch(tb_server *srv, tb_mem_budget *budget, int64_t deadline_ns);
void tb_srv_unwatch(tb_server *srv, tb_mem_budget *budget);

/* ---------------------------------------------------------------- statements */

typedef enum tb_srv_kind {
    TB_SK_EMPTY = 0,
    TB_SK_SELECT, /* SELECT, WITH, VALUES, TABLE, ( */
    TB_SK_EXPLAIN,
    TB_SK_SET,
    TB_SK_RESET,
    TB_SK_SHOW,
    TB_SK_BEGIN,
    TB_SK_COMMIT,
    TB_SK_ROLLBACK,
    TB_SK_DISCARD,
    TB_SK_DEALLOCATE,
    TB_SK_WRITE, /* INSERT, UPDATE, CREATE, ... : refused (read-only) */
    TB_SK_OTHER
} tb_srv_kind;

/* Classify a statement by its first keyword; *out_word gets it upper-cased. */
tb_srv_kind tb_srv_classify(const char *sql, char *out_word, size_t cap);

/* Session settings (SET / SHOW), kept per connection. */
typedef struct tb_srv_guc {
    char *name;
    char *value;
} tb_srv_guc;
typedef struct tb_srv_session {
    tb_srv_guc *gucs;
    size_t n_gucs, cap_gucs;
    char *user;
    char *database;
    int32_t pid;
    int64_t default_timeout_ms;
    int64_t default_mem_limit;
} tb_srv_session;
void tb_srv_session_free(tb_srv_session *s);
const char *tb_srv_guc_get(const tb_srv_session *s, const char *name); /* NULL unknown */
tb_rc tb_srv_guc_set(tb_srv_session *s, const char *name, const char *value);
int64_t tb_srv_session_timeout_ms(const tb_srv_session *s);
int64_t tb_srv_session_mem_limit(const tb_srv_session *s);

/*
 * Execute one statement of a session: SET/SHOW/BEGIN... answered here, pg_catalog and
 * information_schema queries by pgcatalog.c, SELECTs by the engine, writes refused.
 * rows receives the result (tag set). Used by the PostgreSQL protocol and HTTP.
 */
tb_rc tb_srv_execute(tb_server *srv, tb_db *db, tb_srv_session *s, const char *sql,
                     const tb_srv_limits *lim, bool describe_only, tb_srv_rows *rows,
                     tb_err *err);

/* pgcatalog.c: answer a catalog query psql, JDBC or a driver sends; false if not one. */
bool tb_pgcat_answer(tb_db *db, tb_srv_session *s, const char *sql, int64_t timeout_ms,
                     tb_srv_rows *rows, tb_rc *out_rc, tb_err *err);
/* Rewrite version(), current_setting('x'), current_schema(), ... into literals.
 * Returns a heap string (tb_free) or NULL on OOM. */
char *tb_pgcat_rewrite(const tb_srv_session *s, const char *sql);

#endif /* TB_SRV_INT_H */
