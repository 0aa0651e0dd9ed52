/*
 * sql_int.h - private structures of the SQL layer: the engine (tb_db), the catalog, the
 * query context shared by binder and planner, the logical plan.
 *
 * Pipeline: text -> libpg_query protobuf tree -> binder (bind.c) -> logical plan (lnode
 * trees whose expressions are exec tb_expr with TB_EX_COL.col holding a *global column
 * id*, not a position) -> optimizer (opt.c: filter pushdown, join ordering) ->
 * physical planner (plan.c: exec operators; expressions cloned with ids remapped to
 * input positions; only referenced columns are produced, down to the sources).
 *
 * Global column ids are indices into qctx.cols; every relation column, projection
 * output, aggregate output, ... gets a fresh id, so expressions stay valid when the
 * optimizer moves them between nodes or swaps join sides.
 */
#ifndef TB_SQL_INT_H
#define TB_SQL_INT_H

#include <pthread.h>

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include "sql/sql.h"

typedef PgQuery__Node pgnode;

/* ================================================================ catalog, db */

typedef struct catentry {
    tb_catalog_kind kind;
    char *name;
    tb_schema *schema; /* TABLE (copy of the table's), CONNECTOR */
    tb_table *table;   /* TABLE */
    char *view_sql;    /* VIEW: whole CREATE VIEW statement */
    char **view_cols;  /* VIEW: output column names (n_view_cols) */
    uint32_t n_view_cols;
    const tb_connector_vt *vt; /* CONNECTOR */
    void *ud;
} catentry;

typedef struct setting {
    char *key;
    char *value;
} setting;

struct tb_db {
    catentry **entries;
    size_t n_entries, cap_entries;
    setting *settings;
    size_t n_settings, cap_settings;
    tb_sql_stmt_hook hook;
    void *hook_ud;
    tb_strlist indexes; /* CREATE INDEX names: accepted, no physical index (scans only) */
    tb_err err;         /* last error */
    int depth;          /* tb_db_exec re-entrancy depth (hooks) */
    pthread_rwlock_t lock; /* consistent reads (sql.h, tb_db_read_begin) */
};

catentry *tb_sql_cat_find(tb_db *db, const char *name);
/* Message "relation "x" does not exist" + candidates, pos set. */
tb_rc tb_sql_cat_notfound(tb_db *db, const char *name, int pos, tb_err *err);
/* Add a view entry (takes nothing; copies). */
tb_rc tb_sql_cat_add_view(tb_db *db, const char *name, const char *sql, char **cols,
                          uint32_t n_cols, tb_err *err);
tb_rc tb_sql_set_setting(tb_db *db, const char *key, const char *value, tb_err *err);
/* Free every catalog entry and setting (tb_db_close). */
void tb_sql_catalog_free(tb_db *db);
/* Catalog entry `name` backed by table function tf (CREATE TABLE ... WITH (connector)). */
tb_rc tb_sql_create_file_table(tb_db *db, const char *name, const tb_tablefunc *tf,
                               const tb_tf_arg *args, uint32_t n_args, const tb_schema *declared,
                               tb_err *err);
/* Is this connector a file-backed table? *tf_name: its table function. */
bool tb_sql_is_file_connector(const tb_connector_vt *vt, const void *ud, const char **tf_name);
/* tf_delta.c: the version of a read_delta state's snapshot; the newest version of the
 * Delta table at path (a listing of its log; -1 none). */
int64_t tb_sql_delta_snapshot_version(const void *state);

/* ================================================================ query context */

typedef struct colinfo {
    const char *name; /* column name (arena) */
    const char *rel;  /* relation alias it belongs to, or NULL */
    tb_type type;
} colinfo;

typedef struct cleanup {
    void (*fn)(void *);
    void *p;
} cleanup;

/* Lives as long as the plan: everything in arena, cleanups run by tb_plan_free. */
typedef struct qctx {
    tb_db *db;
    tb_arena *arena;
    colinfo *cols;
    uint32_t n_cols, cap_cols;
    cleanup *cleanups; /* heap array */
    size_t n_cleanups, cap_cleanups;
    const tb_plan_opts *opts;
    const tb_plan_agg *top_agg; /* opts->stream: the query's own aggregate */
    tb_plan_rel *rels;          /* relations scanned (arena) */
    uint32_t n_rels, cap_rels;
} qctx;

int tb_sql_new_col(qctx *q, const char *name, const char *rel, tb_type type); /* -1 OOM */
tb_rc tb_sql_add_cleanup(qctx *q, void (*fn)(void *), void *p);

/* The real allocation behind a tb_plan. */
typedef struct plan_int {
    tb_plan pub;
    qctx *q;
} plan_int;
tb_rc tb_sql_plan_new(tb_db *db, const tb_plan_opts *opts, plan_int **out);

/* ================================================================ logical plan */

typedef enum srckind { SRC_TABLE, SRC_CONNECTOR, SRC_TF } srckind;

typedef struct lsource {
    srckind kind;
    const char *name;
    const tb_schema *schema;
    tb_table *table;
    const tb_connector_vt *vt;
    void *ud;
    const tb_tablefunc *tf;
    void *tf_state;
} lsource;

typedef enum lkind {
    L_GET,
    L_VALUES,
    L_FILTER,
    L_PROJECT,
    L_JOIN,
    L_AGG,
    L_SORT,
    L_LIMIT,
    L_UNION,
    L_APPLY,
    L_WINDOW /* window functions (issue 13): out = left's out + one column per function */
} lkind;

/* AP_HOP is not a subquery: the window of hop()/tumble() in FROM (bind.c, apply.c) */
typedef enum applykind { AP_SCALAR, AP_EXISTS, AP_IN, AP_HOP } applykind;

#define EST_UNBOUNDED 1e18

typedef struct lnode lnode;
struct lnode {
    lkind kind;
    uint32_t n_out;
    int *out; /* output column ids, in order */
    lnode *left, *right;
    double est; /* estimated rows */
    /* L_GET: out[i] = source column i */
    lsource *src;
    /* L_VALUES: n_rows * n_out expressions, row-major */
    uint32_t n_rows;
    tb_expr **vals;
    /* L_FILTER (predicate conjuncts), L_JOIN (join condition conjuncts) */
    uint32_t n_conds;
    tb_expr **conds;
    /* L_PROJECT: exprs[i] computes out[i] */
    tb_expr **exprs;
    /* L_JOIN */
    tb_join_type jt;
    /* L_AGG: out = group ids then aggregate ids */
    uint32_t n_groups;
    tb_expr **groups;
    uint32_t n_aggs;
    tb_aggspec *aggs;
    bool top_agg;
    int *group_out; /* top_agg: per group key, the query's output column carrying it, or -1 */
    /* L_SORT (limit: top-N when >= 0) */
    uint32_t n_keys;
    tb_sortkey *keys;
    /* L_LIMIT, L_SORT */
    int64_t limit, offset;
    /* L_UNION: kids' outputs match out by position */
    uint32_t n_kids;
    lnode **kids;
    /* L_APPLY: out = left's out + one result column (out[n_out-1]); right = subquery
     * (its expressions may reference left's columns: correlation); AP_IN tests
     * `test` (over left) IN right's single column. */
    applykind ap;
    tb_expr *test;
    bool negate;
    /* L_WINDOW: partition keys in groups/n_groups, ORDER BY in keys/n_keys, functions
     * (arguments over left's columns) computing out[left->n_out + i] */
    uint32_t n_wfuncs;
    tb_winfunc *wfuncs;
};

lnode *tb_sql_lnode(qctx *q, lkind kind);

/* ================================================================ expressions helpers */

bool tb_sql_expr_equal(const tb_expr *a, const tb_expr *b);
/* Collect the column ids referenced by e into set (bitset of q->n_cols bits). */
void tb_sql_expr_cols(const tb_expr *e, uint64_t *set);
/* Deep copy of e replacing COL ids found in from[] by clones of to[] (n pairs). */
tb_expr *tb_sql_expr_subst(tb_arena *arena, const tb_expr *e, const int *from, tb_expr **to,
                           uint32_t n);
bool tb_sql_expr_has_cols(const tb_expr *e);
/* "a, b, c": up to 5 of names closest to `name` (for "did you mean" lists). */
void tb_sql_candidates(const char *name, const char **names, uint32_t n, char *buf, size_t cap);

/* ================================================================ binder */

/*
 * Bind a SELECT-like node (SelectStmt) of text sql into a logical plan. names[i] of
 * the output columns are in q->cols[out[i]].name.
 */
tb_rc tb_sql_bind_select(qctx *q, const char *sql, const pgnode *select, lnode **out, tb_err *err);
/* Bind an INSERT ... VALUES list with each value coerced to types[i] (PostgreSQL's
 * assignment rules; names[] for messages). */
tb_rc tb_sql_bind_insert_values(qctx *q, const char *sql, const PgQuery__SelectStmt *s,
                                const tb_type *types, const char **names, uint32_t n, lnode **out,
                                tb_err *err);
/* Assignment coercion of e to type t for column `name` (INSERT). */
tb_rc tb_sql_assign(tb_arena *arena, tb_expr *e, tb_type t, const char *name, int pos,
                    tb_expr **out, tb_err *err);
/* Bind a type name. */
tb_rc tb_sql_bind_typename(const PgQuery__TypeName *tn, const char *sql, tb_type *out, tb_err *err);

/* ================================================================ optimizer, planner */

tb_rc tb_sql_optimize(qctx *q, lnode **root, tb_err *err);

/* Physical planning of a logical tree. The root's output is exactly root->out in order,
 * named by q->cols (or by names[] when given). Expressions are allocated in arena. */
tb_rc tb_sql_physical(qctx *q, tb_arena *arena, lnode *root, const char **names, uint32_t n_params,
                      const int *param_ids, const tb_value *params, tb_op **out, tb_err *err);

/* Run a plan to completion collecting at most max_rows rows of its single column (for
 * uncorrelated subqueries evaluated while planning). */
tb_rc tb_sql_eval_subquery(qctx *q, lnode *root, uint32_t max_rows, tb_value **out_vals,
                           uint32_t *out_n, tb_err *err);

/* Apply operator (correlated subqueries): see apply.c. */
tb_rc tb_sql_apply_new(qctx *q, tb_op *child, const int *child_layout, uint32_t n_child, lnode *sub,
                       applykind ap, tb_expr *test, bool negate, const char *name, tb_type type,
                       uint32_t n_params, const int *param_ids, const tb_value *params, tb_op **out,
                       tb_err *err);

/* ================================================================ statements */

/* Plan a select node fully (bind, optimize, physical) into a new plan. */
tb_rc tb_sql_plan_stmt(tb_db *db, const char *sql, const pgnode *select, const tb_plan_opts *opts,
                       plan_int **out, tb_err *err);

/* Results */
tb_rc tb_sql_result_new(tb_db *db, plan_int *plan, int64_t changes, tb_result **out);

/* Table functions: bind a call's args into a source descriptor. */
tb_rc tb_sql_tf_bind(qctx *q, const tb_tablefunc *tf, const tb_tf_arg *args, uint32_t n_args,
                     const tb_schema *declared, lsource **out, tb_err *err);

/* Execute every statement of sql; result of the last one. */
tb_rc tb_sql_exec(tb_db *db, const char *sql, tb_result **out_result, tb_err *err);

/* Parse with libpg_query; on error err set with pos (byte offset). */
tb_rc tb_sql_parse(const char *sql, PgQuery__ParseResult **out, tb_err *err);
void tb_sql_parse_free(PgQuery__ParseResult *pr);

/* read_delta (tf_delta.c), a built-in of the table-function registry. */
extern const tb_tablefunc tb_sql_read_delta_tf;
/* read_json (tf_json.c), a built-in of the table-function registry. */
extern const tb_tablefunc tb_sql_read_json_tf;
extern const tb_tablefunc tb_sql_read_postgres_tf; /* tf_postgres.c */
/* CREATE TABLE ... WITH (connector = 'postgres', ...): options as for read_postgres. */
tb_rc tb_sql_create_pg_table(tb_db *db, const char *name, const tb_tf_arg *args,
                             uint32_t n_args, const tb_schema *declared, tb_err *err);
/* generate_series (tf_series.c, issue 13), a built-in of the table-function registry. */
extern const tb_tablefunc tb_sql_generate_series_tf;
/* Helpers of the file table functions (tablefunc.c): the text form of an option value
 * (heap string; NULL for SQL NULL or OOM), err->pos set to an argument (returns
 * err->code), the path argument (first positional or path => '...'; NULL after an
 * error naming fn), the total size of the files. */
char *tb_tf_arg_text(const tb_value *v);
tb_rc tb_tf_arg_error(const tb_tf_arg *a, tb_err *err);
const tb_tf_arg *tb_tf_path_arg(const char *fn, const tb_tf_arg *args, uint32_t n,
                                tb_err *err);
int64_t tb_tf_total_bytes(const tb_strlist *paths);

#endif /* TB_SQL_INT_H */
