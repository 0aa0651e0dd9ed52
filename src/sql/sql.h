/*
 * sql.h - the SQL layer's API for the layers above it (sink, stream, server, cli).
 *
 * The SQL layer parses PostgreSQL-dialect text with libpg_query, binds it against the
 * catalog of a tb_db, plans it into exec/ operators and implements the public API of
 * include/tributary.h (tb_db_*, tb_result_*). This header adds what upper layers need
 * beyond the public API:
 *
 *   - catalog entries: in-memory tables, and CONNECTOR entries whose rows come from an
 *     operator the upper layer builds (stream sources, sinks read back);
 *   - a statement hook receiving the statements this layer does not handle itself
 *     (CREATE MATERIALIZED VIEW, CREATE TABLE ... WITH (connector = 'kafka'), ...);
 *   - a planning entry (tb_sql_plan_select / tb_sql_plan_node) whose top-level hash
 *     aggregate may be replaced by the caller's operator (the stream layer substitutes
 *     a stateful incremental aggregate);
 *   - the table-function registry (read_csv, read_parquet, read_delta, ...);
 *   - psql-style rendering of SQL errors.
 *
 * @thread a tb_db and everything obtained from it is used by one thread at a time;
 * tb_sql_register_tablefunc is called at start-up, before any tb_db is used.
 */
#ifndef TB_SQL_H
#define TB_SQL_H

#include "exec/exec.h"

struct PgQuery__Node; /* libpg_query's protobuf-c node (pg_query/pg_query.pb-c.h) */

/* ================================================================ settings */

/*
 * Current value of an engine setting as text ("threads", "memory_limit"), set by
 * tb_db_set or SQL `SET key = value`; NULL if unknown. Owned by db, valid until the
 * setting changes. Defaults: threads = the number of online CPUs (tb_online_cpus),
 * memory_limit = "0" (no limit).
 */
const char *tb_db_setting(tb_db *db, const char *key);
/* Parsed forms of the two known settings. memory_limit is in bytes, 0 = no limit. */
int tb_db_threads(tb_db *db);
int64_t tb_db_memory_limit(tb_db *db);

/* ================================================================ catalog */

typedef enum tb_catalog_kind {
    TB_CAT_TABLE = 1, /* in-memory tb_table (CREATE TABLE, CREATE TABLE AS, sinks) */
    TB_CAT_VIEW,      /* stored SQL, re-bound on every use */
    TB_CAT_CONNECTOR  /* rows produced by an operator from vt->open (files, streams) */
} tb_catalog_kind;

/*
 * A connector-backed relation. open() builds an operator yielding the projected columns
 * (proj: indices into the entry's schema, in output order; n_proj may be 0 when a query
 * needs no column, e.g. count(*): batches then carry only n_rows). The operator's
 * schema must be the projected schema. open() is called once per query that reads the
 * relation (a query may read it several times).
 */
typedef struct tb_connector_vt {
    const char *name; /* connector name shown by SHOW TABLES / EXPLAIN ("files", "kafka") */
    tb_rc (*open)(void *ud, const int *proj, uint32_t n_proj, tb_op **out, tb_err *err);
    /* Release ud (called on DROP and when the db closes). May be NULL. */
    void (*free)(void *ud);
    /* Optional: estimated row count for join planning; NULL or < 0 means unbounded
     * (a stream): the planner then never makes it the build side of a hash join. */
    int64_t (*estimate_rows)(void *ud);
    /* Optional: a token that changes when the relation's content changes (files
     * replaced, a new Delta version, rows written), so that a continuous query keeping
     * what it built from the relation (a join's hash table) knows when to build again.
     * Checked once per micro-batch: cheap (stat calls, a directory listing, a counter),
     * never a read of the data. A connector that binds its content at declaration (a
     * Delta snapshot, a list of files) takes the new content when the token changed, so
     * that the next open() reads it. NULL: the content never changes. */
    tb_rc (*version)(void *ud, uint64_t *out_version, tb_err *err);
} tb_connector_vt;

/* What tb_catalog_lookup reports. Pointers are owned by the catalog and valid until
 * the entry is dropped. */
typedef struct tb_catalog_info {
    tb_catalog_kind kind;
    const char *name;
    const tb_schema *schema;   /* TABLE, CONNECTOR; views: NULL (bound on use) */
    tb_table *table;           /* TABLE */
    const char *view_sql;      /* VIEW: the full CREATE VIEW statement text */
    const tb_connector_vt *vt; /* CONNECTOR */
    void *ud;                  /* CONNECTOR */
} tb_catalog_info;

/*
 * Register a connector relation named `name` (names are case-sensitive as PostgreSQL
 * folds them: pass lower case unless the user quoted the name). `schema` is copied.
 * On success ud belongs to the catalog (vt->free releases it); on failure the caller
 * keeps it. vt must outlive the entry (static storage). TB_E_EXISTS if the name is
 * taken.
 */
tb_rc tb_catalog_add_connector(tb_db *db, const char *name, const tb_schema *schema,
                               const tb_connector_vt *vt, void *ud, tb_err *err);
/* Register an in-memory table. On success `table` belongs to the catalog; on failure
 * the caller keeps it. TB_E_EXISTS if the name is taken. */
tb_rc tb_catalog_add_table(tb_db *db, const char *name, tb_table *table, tb_err *err);
/* Find an entry (exact name first, then a unique case-insensitive match). TB_OK and
 * *out filled, or TB_E_NOTFOUND ("relation "x" does not exist" + candidates). */
tb_rc tb_catalog_lookup(tb_db *db, const char *name, tb_catalog_info *out, tb_err *err);
/* Drop an entry of any kind, freeing what it owns. if_exists: a missing name is OK. */
tb_rc tb_catalog_drop(tb_db *db, const char *name, bool if_exists, tb_err *err);
/* Names of all entries, in creation order (appended to out). */
tb_rc tb_catalog_names(tb_db *db, tb_strlist *out);

/* ================================================================ statement hook */

/*
 * Called by tb_db_exec for each statement the SQL layer does not handle itself:
 *   - CREATE MATERIALIZED VIEW (a CreateTableAsStmt with objtype OBJECT_MATVIEW);
 *   - CREATE TABLE ... WITH (connector = X) for X other than 'csv' and 'parquet' (when
 *     the hook declines and a table function read_X exists, the table becomes a static
 *     file-backed table read by it: that is how connector = 'delta' reads a Delta table);
 *   - INSERT into and TRUNCATE of a CONNECTOR entry (sinks), CREATE TABLE AS / CREATE
 *     VIEW with WITH (...) options;
 *   - DROP of objects other than tables, views and indexes (DROP MATERIALIZED VIEW);
 *   - every other statement kind (DELETE, UPDATE, COPY, ALTER, BEGIN...). CREATE SINK
 *     does not parse in PostgreSQL's grammar: sinks are CREATE TABLE ... WITH (...).
 * Handled here without the hook: SELECT/VALUES/set operations, CREATE TABLE [AS],
 * INSERT, CREATE [OR REPLACE] VIEW, DROP TABLE/VIEW/INDEX, CREATE INDEX, TRUNCATE,
 * EXPLAIN, SET/RESET/SHOW, SHOW TABLES. DROP TABLE of a CONNECTOR entry drops it
 * (vt->free), without the hook.
 *
 *   sql      the whole text given to tb_db_exec (node locations are offsets into it);
 *   offset, len  the statement's byte range in sql;
 *   stmt     the statement node (RawStmt.stmt), valid during the call only;
 *   out_changes  may be set to a row count reported by tb_result_changes (default -1).
 *
 * Return TB_OK when done, TB_E_UNSUPPORTED to decline (tb_db_exec then fails with
 * "<statement> is not supported"), any other code with err set (err->pos an offset into
 * sql, or -1) to fail the statement. The hook may call tb_db_exec and the functions of
 * this header on the same db (re-entrantly), but must not close it.
 */
typedef tb_rc (*tb_sql_stmt_hook)(void *ud, tb_db *db, const char *sql, int offset, int len,
                                  const struct PgQuery__Node *stmt, int64_t *out_changes,
                                  tb_err *err);
/* Install the hook (NULL removes it). One hook per db. */
void tb_sql_set_stmt_hook(tb_db *db, tb_sql_stmt_hook hook, void *ud);

/* Helpers for hooks: the column list of a CreateStmt as a schema (caller frees), and
 * the WITH (...) options of a CreateStmt/ViewStmt/CreateTableAsStmt flattened into
 * key, value, key, value... (keys lower case, values as text). */
tb_rc tb_sql_create_schema(const struct PgQuery__Node *stmt, tb_schema **out_schema, tb_err *err);
tb_rc tb_sql_stmt_options(const struct PgQuery__Node *stmt, tb_strlist *out_kv, tb_err *err);
/* The text of an option's value node (a DefElem's arg): "true" for a bare option (NULL
 * arg), a string, number, boolean or type name as text; NULL for anything else. */
char *tb_sql_node_text(tb_arena *arena, const struct PgQuery__Node *arg);

/* ================================================================ planning */

typedef struct tb_plan_opts {
    /* Plan a continuous query: the query's own aggregate (the deepest aggregate on the
     * spine from the result down through projections, filters, sorts, limits and
     * stacked aggregates, i.e. the GROUP BY / aggregates of the outermost SELECT, also
     * when it reads a view or a FROM subquery that aggregates, or its SELECT DISTINCT
     * when it has no GROUP BY; never one under a join, a set operation or inside a
     * subquery expression; with DISTINCT over GROUP BY, the GROUP BY one) is a serial
     * hash aggregate of the whole input (neither parallel nor split by eager
     * aggregation), described by tb_plan.top_agg so that the stream runtime can make it
     * the query's incremental state. */
    bool stream;
    /* Extra relations by name, looked up after the query's CTEs and before the catalog
     * (WITH RECURSIVE's working table while its recursive term is planned); `used` is set
     * when the query reads one. */
    struct tb_temprel *temps;
    uint32_t n_temps;
} tb_plan_opts;

typedef struct tb_temprel {
    const char *name;
    tb_table *table;
    bool used;
} tb_temprel;

/* The query's own aggregate of a plan made with tb_plan_opts.stream (see there). The
 * expressions are over op's child's output and live in the plan's arena. */
typedef struct tb_plan_agg {
    tb_op *op; /* the hash aggregate, somewhere in the plan's tree */
    uint32_t n_groups;
    tb_expr **groups;
    const char **group_names;
    uint32_t n_aggs;
    const tb_aggspec *aggs;
    const char **agg_names;
    /* Per group key, the result column (index into root's schema) that carries it
     * unchanged, or -1 when the key is computed upon or not in the output. The names in
     * group_names are the plan's own (a `GROUP BY 1` over `tumble(...) AS w` is not
     * named w there): this is how the output's key columns are known. */
    const int *group_out;
} tb_plan_agg;

/*
 * A planned query. `root` yields the result rows (its schema gives the output names and
 * types). Expressions referenced by the operators live in `arena`. Free with
 * tb_plan_free, which frees root (and its children) first, then the arena: the
 * operators may use expressions until they are freed.
 */
/* A catalog relation a plan reads (after binding: views and CTEs expanded). */
typedef struct tb_plan_rel {
    const char *name;
    tb_table *table;           /* a memory table, or NULL */
    const tb_connector_vt *vt; /* a connector (file-backed tables, streams), or NULL */
    void *ud;
} tb_plan_rel;

typedef struct tb_plan {
    tb_op *root;
    tb_arena *arena;
    const tb_plan_agg *top_agg; /* with tb_plan_opts.stream and an aggregate, else NULL */
    const tb_plan_rel *rels;    /* the tables and connectors it scans, each once */
    uint32_t n_rels;
} tb_plan;
void tb_plan_free(tb_plan *plan); /* NULL is a no-op */

/*
 * Plan one SELECT (or VALUES / set operation) statement text. opts may be NULL.
 * Uncorrelated scalar and EXISTS subqueries are evaluated while planning. On success
 * *out is the caller's.
 */
tb_rc tb_sql_plan_select(tb_db *db, const char *sql, const tb_plan_opts *opts, tb_plan **out,
                         tb_err *err);
/* Same from a SelectStmt node of text `sql` (e.g. the query of a CREATE MATERIALIZED
 * VIEW received by the statement hook); node locations are offsets into sql. */
tb_rc tb_sql_plan_node(tb_db *db, const char *sql, const struct PgQuery__Node *select,
                       const tb_plan_opts *opts, tb_plan **out, tb_err *err);

/* ================================================================ table functions */

/* One argument of a table-function call: a constant (evaluated by the binder). */
typedef struct tb_tf_arg {
    const char *name; /* `name => value` / `name := value`; NULL for positional */
    tb_value value;   /* strings valid during bind only: copy what you keep */
    int pos;          /* byte offset in the SQL text (for err->pos), -1 if unknown */
} tb_tf_arg;

/*
 * A table function (read_csv, read_parquet, read_delta, ...). A relation declared by
 * CREATE TABLE t [(cols)] WITH (connector = 'X', k = v, ...) uses the table function
 * read_X: the options arrive as named text arguments (path included) and the column
 * list, if any, as `declared`.
 */
typedef struct tb_tablefunc {
    const char *name; /* lower case, e.g. "read_delta" */
    /*
     * Check the arguments and find the output schema (the declared one if given and
     * the format allows). On success *out_state (freed by free) and *out_schema (the
     * caller's) are set. Errors set err->pos to the offending argument's pos.
     */
    tb_rc (*bind)(const tb_tf_arg *args, uint32_t n_args, const tb_schema *declared,
                  void **out_state, tb_schema **out_schema, tb_err *err);
    /* Open a source yielding the columns proj (indices into the bound schema; n_proj may
     * be 0: batches with n_rows only). May be called several times per state. */
    tb_rc (*open)(void *state, const int *proj, uint32_t n_proj, tb_source **out_src, tb_err *err);
    void (*free)(void *state);
    /* Optional row estimate for join planning (< 0 unknown). */
    int64_t (*estimate_rows)(void *state);
} tb_tablefunc;

/*
 * Add a table function to the process-wide registry (tf must have static storage).
 * A later registration of the same name replaces the earlier one. read_csv and
 * read_parquet are built in. TB_E_LIMIT if the registry (64 entries) is full.
 */
tb_rc tb_sql_register_tablefunc(const tb_tablefunc *tf);
/* Look up a table function by name (case-insensitive); NULL if unknown. */
const tb_tablefunc *tb_sql_find_tablefunc(const char *name);

/* The newest version of the Delta table at path, from a listing of its _delta_log (no
 * read): a cheap change token for connectors over Delta tables. -1: no commit. */
tb_rc tb_sql_delta_latest(const char *path, int64_t *out, tb_err *err);
/* ================================================================ consistent reads */

/*
 * The db's reader/writer lock (issue 11: a query served while a job runs sees every
 * view as of one committed batch, never half of one). The stream runtime holds it for
 * writing while a batch changes views and operator state (tb_db_write_begin/end);
 * servers hold it for reading while a query is planned and its rows are produced
 * (tb_db_read_begin/end). Writer-preferring: a waiting batch blocks new readers, so a
 * stream of queries cannot starve the job; readers are bounded in time by their
 * statement_timeout, so a batch waits at most that long.
 *
 * Readers may run concurrently: planning and executing a SELECT reads the catalog and
 * the tables (whose chunks are immutable, table.c) and writes only the plan's own
 * memory. What must not run under a read lock: tb_db_exec (it records the last error
 * in the db), tb_db_set and any statement that changes the catalog.
 *
 * tb_db_read_begin waits at most timeout_ms (<= 0: no bound) and returns
 * TB_E_INTERRUPT when that passes. @thread any.
 */
tb_rc tb_db_read_begin(tb_db *db, int64_t timeout_ms);
void tb_db_read_end(tb_db *db);
void tb_db_write_begin(tb_db *db);
void tb_db_write_end(tb_db *db);

/* The engine without the upper layers' statement handlers (tb_db_open, the public
 * one, is the top layer's: src/server/capi.c). */
tb_rc tb_sql_db_open(const char *path, tb_db **out_db);
/* Results as column batches (the Arrow export of capi.c): the output schema, and the
 * next non-empty batch (NULL at the end), valid until the next call; row stepping and
 * batch pulling must not be mixed on one result. */
const tb_schema *tb_sql_result_schema(tb_result *res);
tb_rc tb_sql_result_next_batch(tb_result *res, tb_batch **out, tb_err *err);
/* The caller took the db's read lock for this result: tb_result_free releases it. */
void tb_sql_result_hold_read_lock(tb_result *res);

/* ================================================================ errors */

/*
 * Render an error psql-style into out (appended):
 *   ERROR:  column "qty" does not exist (candidates: quantity)
 *   LINE 2: SELECT qty FROM sales
 *                  ^
 * The LINE part appears when err->pos >= 0 and lies within sql (sql may be NULL).
 * Long lines are cut around the position as psql does. Ends with a newline.
 */
tb_rc tb_sql_format_error(const char *sql, const tb_err *err, tb_buf *out);

/* The db's last error record (code, message, pos); valid until the next call. */
const tb_err *tb_db_last_error(tb_db *db);

#endif /* TB_SQL_H */
