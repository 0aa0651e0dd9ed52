/*
 * exec.h - vectorized execution: typed expressions evaluated a batch at a time, and
 * pull-based operators (scan, values, filter, project, hash join, nested-loop join,
 * hash aggregate, sort, limit, union all) that pass tb_batch between them.
 *
 * Expressions are built by the SQL binder through the constructors below; the
 * constructors own typing (overload resolution, implicit casts, result types), so the
 * binder never duplicates PostgreSQL's type rules. Expression nodes live in an arena
 * owned by the plan (the query); operators reference them and never free them.
 *
 * Operators own their children: a constructor takes ownership of its child operators
 * whatever its outcome (on failure it frees them), so a planner's failure path only
 * frees what it still holds. An operator's output batch is valid until its next
 * tb_op_next() call (or tb_op_free).
 */
#ifndef TB_EXEC_H
#define TB_EXEC_H

#include "format/format.h"

/* ================================================================ expressions */

typedef enum tb_expr_kind {
    TB_EX_COL,     /* input column `col` of the batch */
    TB_EX_CONST,   /* `value` */
    TB_EX_CALL,    /* scalar function or operator `fn_name` over args */
    TB_EX_CAST,    /* args[0] cast to `type` */
    TB_EX_AND,     /* args[0] AND args[1] ... (SQL three-valued logic) */
    TB_EX_OR,
    TB_EX_NOT,
    TB_EX_IS_NULL, /* `negate`: IS NOT NULL */
    TB_EX_CASE,    /* args = when1, then1, when2, then2, ..., [else] (`has_else`);
                      CASE x WHEN ... is rewritten by the constructor to x = when_i */
    TB_EX_IN,      /* args[0] IN (args[1..]); `negate`: NOT IN */
    TB_EX_PARAM    /* placeholder $n (reserved) */
} tb_expr_kind;

typedef struct tb_func tb_func; /* a resolved scalar function implementation (private) */

typedef struct tb_expr {
    tb_expr_kind kind;
    tb_type type; /* result type */
    int col;      /* TB_EX_COL */
    tb_value value; /* TB_EX_CONST (string bytes owned by the plan arena) */
    const char *fn_name;  /* TB_EX_CALL: canonical lower-case name, for EXPLAIN/errors */
    const tb_func *fn;    /* TB_EX_CALL: resolved implementation */
    uint32_t n_args;
    struct tb_expr **args;
    bool negate;
    bool has_else;
    int pos; /* byte offset in the SQL text, -1 if unknown (errors point there) */
    void *state; /* per-expression cache (compiled LIKE pattern, IN hash set), arena */
} tb_expr;

tb_expr *tb_expr_col(tb_arena *arena, int col, tb_type type);
/* Constant: strings in value are copied into arena. */
tb_expr *tb_expr_const(tb_arena *arena, const tb_value *value);
tb_expr *tb_expr_null(tb_arena *arena); /* NULL literal of type TB_T_NULL */

/*
 * Scalar function or operator call, with PostgreSQL's resolution: exact match, then
 * implicit casts (int -> bigint -> numeric -> double; unknown literals to the other
 * side's type; NULL literal to anything). Names: operators "+", "-", "*", "/", "%",
 * "=", "<>", "<", "<=", ">", ">=", "||", "~~" (LIKE), "!~~", "~~*" (ILIKE), "!~~*",
 * unary "-" (one arg); functions by lower-case name: abs, round, ceil, floor, sqrt,
 * power, ln, log, exp, mod, sign, trunc, greatest, least, coalesce, nullif, length,
 * lower, upper, substr/substring, trim/btrim/ltrim/rtrim, replace, concat, left, right,
 * position/strpos, starts_with, split_part, lpad, rpad, reverse, repeat, now,
 * current_date, date_trunc, date_part/extract, date_bin, tumble, make_date, to_timestamp,
 * epoch... (the full list: the tables at the end of expr_arith.c and func_*.c; also
 * "~" "~*" "!~" "!~*", like_escape, is_distinct_from). Calls over constants are folded
 * (not random/clock_timestamp; now/current_date are read once here, at construction).
 * On failure returns TB_E_NOTFOUND (no such function; message lists close
 * names) or TB_E_TYPE (no overload; message names the argument types), with err->pos =
 * pos.
 */
tb_rc tb_expr_call(tb_arena *arena, const char *name, tb_expr **args, uint32_t n_args,
                   int pos, tb_expr **out, tb_err *err);
/* Explicit CAST(e AS type) / e::type. Impossible casts are TB_E_TYPE naming both types. */
tb_rc tb_expr_cast(tb_arena *arena, tb_expr *e, tb_type type, int pos, tb_expr **out,
                   tb_err *err);
/* Implicit coercion to `type` (no-op when already of that type). */
tb_rc tb_expr_coerce(tb_arena *arena, tb_expr *e, tb_type type, int pos, tb_expr **out,
                     tb_err *err);
/* kind in AND/OR/NOT/IS_NULL/IN/CASE; operands coerced as SQL requires. For CASE, args
 * are when/then pairs then the optional else (has_else). */
tb_rc tb_expr_make(tb_arena *arena, tb_expr_kind kind, tb_expr **args, uint32_t n_args,
                   bool negate, bool has_else, int pos, tb_expr **out, tb_err *err);
/* Common supertype of a set of types (UNION, CASE, IN, COALESCE); TB_E_TYPE if none. */
tb_rc tb_type_common(const tb_type *types, uint32_t n, tb_type *out, int pos, tb_err *err);

/*
 * Evaluate e over the batch's rows into out (batch->n_rows rows, allocated in arena).
 * Runtime errors (division by zero, overflow, bad cast of a string) are returned with a
 * message naming the value and, where known, the SQL position.
 */
tb_rc tb_expr_eval(tb_expr *e, const tb_batch *batch, tb_arena *arena, tb_vec *out,
                   tb_err *err);
/* Evaluate an expression that references no column (constant folding, VALUES). */
tb_rc tb_expr_eval_const(tb_expr *e, tb_arena *arena, tb_value *out, tb_err *err);
bool tb_expr_is_const(const tb_expr *e);
/* Render an expression for EXPLAIN and error messages. */
tb_rc tb_expr_format(const tb_expr *e, const tb_schema *input, tb_buf *buf);
/*
 * Common type of expressions (UNION branches, VALUES rows) with PostgreSQL's
 * unknown-literal rule that tb_type_common cannot apply: an untyped string literal or
 * NULL adopts the other expressions' type ('1' UNION 1 -> integer); all untyped -> text.
 * ctx names the construct in the error ("UNION types integer and text cannot be
 * matched"); NULL gives "types ... cannot be matched". Coerce each with tb_expr_coerce.
 */
tb_rc tb_expr_common_type(tb_expr **args, uint32_t n, const char *ctx, int pos, tb_type *out,
                          tb_err *err);

/* ================================================================ aggregates */

typedef enum tb_agg_kind {
    TB_AGG_COUNT_STAR,
    TB_AGG_COUNT,
    TB_AGG_SUM,
    TB_AGG_AVG,
    TB_AGG_MIN,
    TB_AGG_MAX,
    /* over every value of the group (agg_list.c); arg is the binder's pack call */
    TB_AGG_STRING_AGG,
    TB_AGG_PCT_CONT,
    TB_AGG_PCT_DISC,
    TB_AGG_MODE,
    TB_AGG_APPROX_DISTINCT /* HyperLogLog over arg's values */
} tb_agg_kind;

typedef struct tb_aggspec {
    tb_agg_kind kind;
    bool distinct;
    tb_expr *arg;  /* NULL for count(*) */
    tb_type type;  /* result type */
    double frac;   /* percentile_cont / percentile_disc: the fraction (constant) */
    bool frac_null; /* ... a NULL fraction: the result is NULL */
} tb_aggspec;

/*
 * Resolve an aggregate by name ("count", "sum", "avg", "min", "max"; star for count(*))
 * and set its result type with PostgreSQL's rules: count -> bigint; sum(smallint|int) ->
 * bigint; sum(bigint|numeric) -> numeric(38,s); sum(real|double) -> double; avg(integer
 * types|numeric) -> numeric; avg(double) -> double; min/max -> argument type.
 * Scales (fixed-point, see agg_resolve.c): sum(bigint) numeric(38,0), sum(numeric(p,s))
 * numeric(38,s), avg(integer types) numeric(38,6), avg(numeric(p,s)) numeric(38,max(s,6)).
 * A NULL-literal argument is retyped in place (integer for sum/avg, text for min/max).
 */
tb_rc tb_agg_resolve(const char *name, bool star, bool distinct, tb_expr *arg, int pos,
                     tb_aggspec *out, tb_err *err);
/* SQL name of an aggregate kind ("count", "string_agg", ...) for EXPLAIN. */
const char *tb_agg_kind_name(tb_agg_kind kind);
/* Is name (any case) an aggregate tb_agg_resolve knows (count, sum, avg, min, max)? */
bool tb_agg_is_name(const char *name);

/* ================================================================ operators */

typedef struct tb_op tb_op;

typedef struct tb_op_vt {
    const char *name; /* "scan", "filter", ... for EXPLAIN */
    /* Next batch into *out; *out == NULL at the end. */
    tb_rc (*next)(tb_op *op, tb_batch **out, tb_err *err);
    void (*free)(tb_op *op);
    /* Optional: EXPLAIN detail line for this operator (not its children). */
    tb_rc (*explain)(tb_op *op, tb_buf *buf);
    /* Optional: make the operator yield its output again from the start, re-reading
     * its input (a prepared continuous query runs its plan once per micro-batch, with
     * the stream scan bound to the batch's input). What the operator built from a
     * child that does not read the stream may be kept (a hash join's build side).
     * NULL: the operator cannot be re-executed (the plan is then made again). */
    tb_rc (*rescan)(tb_op *op, tb_err *err);
} tb_op_vt;

struct tb_op {
    const tb_op_vt *vt;
    tb_schema *schema; /* output schema, owned by the operator */
    tb_op **children;  /* owned */
    uint32_t n_children;
    /* The operator's input is bound anew for each run (the stream scan sets it): what an
     * operator built from a subtree holding one cannot be kept across a rescan
     * (tb_op_binds_input). False unless set. */
    bool binds_input;
};

static inline tb_rc tb_op_next(tb_op *op, tb_batch **out, tb_err *err)
{
    /* serve (issue 11): a served query past its statement_timeout, or canceled, stops
     * at the next batch any of its operators pulls (util.h, tb_mem_budget) */
    if (TB_UNLIKELY(tb_mem_budget_stopped())) {
        *out = NULL;
        return TB_ERRF(err, TB_E_INTERRUPT, "query stopped (statement_timeout or cancel)");
    }
    return op->vt->next(op, out, err);
}
void tb_op_free(tb_op *op); /* frees children too; NULL is a no-op */
/* vt->rescan of op; TB_E_UNSUPPORTED when op (or an operator under it that must be
 * re-read) cannot be re-executed. */
tb_rc tb_op_rescan(tb_op *op, tb_err *err);
/* tb_op_rescan of every child in turn (for operators without state of their own). */
tb_rc tb_op_rescan_children(tb_op *op, tb_err *err);
/* Does op's subtree hold an operator whose input is bound per run (vt->binds_input)? */
bool tb_op_binds_input(const tb_op *op);
/*
 * Operators defined outside exec/ (stream, sink) follow the same contract: the struct
 * is allocated with tb_malloc/tb_calloc, vt->free (may be NULL) releases only the
 * operator's private state, then tb_op_free frees the children, the children array,
 * the schema and the struct itself.
 */
/* Indented plan tree for EXPLAIN. */
tb_rc tb_op_explain(tb_op *op, tb_buf *buf);

/* Scan a format source (takes ownership of src). */
tb_rc tb_op_scan_new(tb_source *src, tb_op **out, tb_err *err);
/* n_rows rows of constant expressions (row-major, n_rows * schema->n); schema copied. */
tb_rc tb_op_values_new(const tb_schema *schema, uint32_t n_rows, tb_expr **exprs,
                       tb_op **out, tb_err *err);
tb_rc tb_op_filter_new(tb_op *child, tb_expr *pred, tb_op **out, tb_err *err);
/* Output column i = exprs[i] named names[i] (names copied). */
tb_rc tb_op_project_new(tb_op *child, uint32_t n, tb_expr **exprs, const char **names,
                        tb_op **out, tb_err *err);

typedef enum tb_join_type {
    TB_JOIN_INNER,
    TB_JOIN_LEFT,
    TB_JOIN_RIGHT,
    TB_JOIN_FULL,
    TB_JOIN_SEMI, /* left rows with a match (EXISTS / IN subquery) */
    TB_JOIN_ANTI  /* left rows without a match */
} tb_join_type;

/*
 * Hash join: build a hash table over `right` (the build side), probe with `left`.
 * Keys: left_keys[i] (over left's schema) = right_keys[i] (over right's schema), with
 * matching types (the planner coerces). NULL keys never match. `residual` (may be NULL)
 * is evaluated over the output row layout (left columns then right columns) and must be
 * true for a match. Output: left columns then right columns (SEMI/ANTI: left only).
 */
tb_rc tb_op_hash_join_new(tb_op *left, tb_op *right, tb_join_type type, uint32_t n_keys,
                          tb_expr **left_keys, tb_expr **right_keys, tb_expr *residual,
                          tb_op **out, tb_err *err);
/*
 * Reusable build side of a hash join (stream-static joins: build once over the static
 * table, probe it with every micro-batch). Rows are copied (strings included) into the
 * table; `keys` are evaluated over build_schema (borrowed until finish). After finish
 * the table is immutable and may be probed by several operators, even concurrently;
 * it is reference counted (tb_hashjoin_table_free drops one reference).
 * @thread building: one thread; probing a finished table: any number of threads.
 */
typedef struct tb_hashjoin_table tb_hashjoin_table;
tb_rc tb_hashjoin_table_new(const tb_schema *build_schema, uint32_t n_keys, tb_expr **keys,
                            tb_hashjoin_table **out, tb_err *err);
/* Add the rows of a batch over build_schema (copied). */
tb_rc tb_hashjoin_table_add(tb_hashjoin_table *table, const tb_batch *batch, tb_err *err);
/* Index the rows; no rows can be added afterwards. */
tb_rc tb_hashjoin_table_finish(tb_hashjoin_table *table, tb_err *err);
/* new + add every batch of `build` (run to its end; the caller still owns it) + finish. */
tb_rc tb_hashjoin_table_build(tb_op *build, uint32_t n_keys, tb_expr **keys,
                              tb_hashjoin_table **out, tb_err *err);
tb_hashjoin_table *tb_hashjoin_table_ref(tb_hashjoin_table *table); /* +1 reference */
void tb_hashjoin_table_free(tb_hashjoin_table *table); /* -1 reference; NULL is a no-op */
uint64_t tb_hashjoin_table_rows(const tb_hashjoin_table *table);
const tb_schema *tb_hashjoin_table_schema(const tb_hashjoin_table *table);
size_t tb_hashjoin_table_bytes(const tb_hashjoin_table *table);
/*
 * Hash join probing a prebuilt, finished table (takes its own reference: the caller may
 * free its reference at once). Same semantics and output as tb_op_hash_join_new with
 * the table's rows as the right side; left_keys[i] must have the type of the table's
 * key i. For RIGHT/FULL, "unmatched" is per operator (each probe operator emits the
 * build rows it did not match). Takes ownership of left whatever the outcome.
 */
tb_rc tb_op_hash_join_new_shared(tb_op *left, tb_hashjoin_table *table, tb_join_type type,
                                 uint32_t n_keys, tb_expr **left_keys, tb_expr *residual,
                                 tb_op **out, tb_err *err);

/* Nested-loop join for joins without equality keys (pred may be NULL: cross join). */
tb_rc tb_op_nl_join_new(tb_op *left, tb_op *right, tb_join_type type, tb_expr *pred,
                        tb_op **out, tb_err *err);

/*
 * Hash aggregate: output = group columns (group_exprs, named group_names) then one
 * column per aggregate (named agg_names). With n_groups == 0 it outputs exactly one row
 * (even over empty input), as SQL requires.
 */
tb_rc tb_op_hash_agg_new(tb_op *child, uint32_t n_groups, tb_expr **group_exprs,
                         const char **group_names, uint32_t n_aggs, const tb_aggspec *aggs,
                         const char **agg_names, tb_op **out, tb_err *err);

/*
 * Aggregate state (tb_hashagg): what tb_op_hash_agg runs on, exposed for the streaming
 * layer's stateful aggregation. Groups are keyed by n_keys values (NULLs form one
 * group; strings copied); per group one state per aggregate (aggs[i].arg is used for
 * its type only, and by tb_hashagg_consume_batch to evaluate it). With n_keys == 0
 * there is always exactly one group. Output rows: key columns then aggregate columns
 * with the types aggs[i].type. Not thread safe (one owner).
 */
typedef struct tb_hashagg tb_hashagg;
tb_rc tb_hashagg_new(uint32_t n_keys, const tb_type *key_types, uint32_t n_aggs,
                     const tb_aggspec *aggs, tb_hashagg **out, tb_err *err);
void tb_hashagg_free(tb_hashagg *agg); /* NULL is a no-op */
/* Fold n_rows rows in: keys[k] has key type k; args[i] is aggregate i's evaluated
 * argument (ignored for count(*)). Errors: TB_E_RANGE on numeric overflow. */
tb_rc tb_hashagg_consume(tb_hashagg *agg, uint32_t n_rows, const tb_vec *keys,
                         const tb_vec *args, tb_err *err);
/* Evaluate group_exprs and the aggregates' args over batch (in arena), then consume. */
tb_rc tb_hashagg_consume_batch(tb_hashagg *agg, const tb_batch *batch, tb_expr **group_exprs,
                               tb_arena *arena, tb_err *err);
uint64_t tb_hashagg_groups(const tb_hashagg *agg);
/* Make room for `groups` groups at once (restore: the count a snapshot recorded), so
 * loading them does not grow the tables step by step. A hint: any count is valid. */
tb_rc tb_hashagg_reserve(tb_hashagg *agg, uint64_t groups, tb_err *err);
size_t tb_hashagg_bytes(const tb_hashagg *agg); /* approximate memory held */

typedef enum tb_hashagg_emit {
    TB_HASHAGG_ALL,     /* every group (complete mode), in first-seen order */
    TB_HASHAGG_CHANGED, /* the dirty list: groups updated since the last
                           tb_hashagg_changes_clear (update mode), in the order they
                           first changed; O(changed groups), the pass does not clear it */
    TB_HASHAGG_BELOW    /* groups whose key column key_col < bound (append mode: the
                           windows the watermark closed); NULL keys never qualify */
} tb_hashagg_emit;
typedef struct tb_hashagg_iter {
    tb_hashagg_emit mode;
    uint32_t key_col;
    tb_value bound; /* strings: the caller keeps the bytes alive during the pass */
    uint64_t pos;
} tb_hashagg_iter;
/* Start an emission pass (key_col/bound only for BELOW; bound may be NULL otherwise).
 * bound has key column key_col's type (a NULL bound selects nothing). */
void tb_hashagg_iter_init(tb_hashagg_iter *it, tb_hashagg_emit mode, uint32_t key_col,
                          const tb_value *bound);
/*
 * Next batch (<= TB_BATCH_CAP groups) of the pass into arena; *out NULL at the end.
 * Strings in it point into the state: valid until the next consume, evict,
 * deserialize or free. Do not consume or evict during a pass.
 */
tb_rc tb_hashagg_next(tb_hashagg *agg, tb_hashagg_iter *it, tb_arena *arena, tb_batch **out,
                      tb_err *err);
/*
 * Fold src's groups into dst (same key types and aggregates, else TB_E_MISUSE), as if
 * dst had consumed src's rows: parallel partial aggregation (one tb_hashagg per thread
 * or partition, merged at the end). src is unchanged. Merged groups count as changed.
 */
tb_rc tb_hashagg_merge(tb_hashagg *dst, const tb_hashagg *src, tb_err *err);
/*
 * Changes (incremental checkpoints, issue 9). Since the last tb_hashagg_changes_clear
 * the aggregate keeps: the dirty list (groups a row or a merge landed in), the keys of
 * the groups evicted (deletes), and the DISTINCT entries added. Costs O(changed) to
 * keep, iterate, serialize and clear; nothing scans every group.
 *
 * The streaming runtime's order per batch: consume; emit update-mode rows with a
 * TB_HASHAGG_CHANGED pass; evict; tb_hashagg_serialize_changes into the batch's
 * changelog; tb_hashagg_changes_clear once the changelog is written.
 */
void tb_hashagg_changes_clear(tb_hashagg *agg);
/* The older name of tb_hashagg_changes_clear. */
void tb_hashagg_clear_changed(tb_hashagg *agg);
uint64_t tb_hashagg_changed_groups(const tb_hashagg *agg); /* dirty list length */
uint64_t tb_hashagg_deleted_groups(const tb_hashagg *agg); /* evicted since the clear */
/*
 * Append to buf a binary change set (native byte order; shape header checked on apply):
 * the deletes (evicted keys), the upserts (every dirty group: its key and its whole
 * aggregate state, so applying it overwrites) and the new DISTINCT entries. Does not
 * clear. Apply order is deletes, upserts, DISTINCT entries, so a group evicted and
 * re-created within one change set comes out right.
 */
tb_rc tb_hashagg_serialize_changes(const tb_hashagg *agg, tb_buf *buf, tb_err *err);
/*
 * Apply a change set (from tb_hashagg_serialize_changes or a snapshot block) to agg,
 * created with the same key types and aggregates (else TB_E_CORRUPT). Malformed input
 * is TB_E_CORRUPT with a message (never a crash); the state may then hold part of the
 * change set: the caller drops it (a restore failed). Applied groups are not marked
 * changed (the dirty list is left as it was). Deletes cost O(groups) when they hit
 * (the stores are compacted, as for an eviction).
 */
tb_rc tb_hashagg_apply_changes(tb_hashagg *agg, const void *data, size_t len, tb_err *err);
/*
 * Snapshot: the whole state as a sequence of change-set blocks, each passed to fn as
 * soon as it is encoded (at most TB_HASHAGG_SNAPSHOT_GROUPS groups or DISTINCT entries
 * a block), so memory beyond the state stays O(one block) whatever the state's size.
 * Read it back with tb_hashagg_reset then tb_hashagg_apply_changes on every block, in
 * order. An empty state still yields one block (it carries the shape).
 */
#define TB_HASHAGG_SNAPSHOT_GROUPS 65536u
typedef tb_rc (*tb_hashagg_write_fn)(void *ud, const void *data, size_t len, tb_err *err);
tb_rc tb_hashagg_snapshot(const tb_hashagg *agg, tb_hashagg_write_fn fn, void *ud,
                          tb_err *err);
/* Drop every group (n_keys == 0: back to the one empty group) and the changes. */
void tb_hashagg_reset(tb_hashagg *agg);
/*
 * Remove the groups whose key column key_col < bound (a value of that column's type):
 * window eviction, typically after a BELOW pass emitted them. Memory is compacted. The
 * evicted keys are recorded as deletes of the change set. O(1) when no group is below
 * the bound (the minimum of key_col is kept as groups are added), O(groups) when some
 * are. On TB_E_NOMEM the state may be inconsistent: the caller must free it (restore
 * from the checkpoint).
 */
tb_rc tb_hashagg_evict_below(tb_hashagg *agg, uint32_t key_col, const tb_value *bound,
                             uint64_t *out_removed, tb_err *err);
/* Checkpoint image of the whole state (appended to buf; native byte order). */
tb_rc tb_hashagg_serialize(const tb_hashagg *agg, tb_buf *buf, tb_err *err);
/* Replace agg's state by an image; agg must be created with the same key types and
 * aggregates (else TB_E_CORRUPT). Malformed images give TB_E_CORRUPT and leave agg
 * empty (never crash). Changed flags are restored. */
tb_rc tb_hashagg_deserialize(tb_hashagg *agg, const void *data, size_t len, tb_err *err);

typedef struct tb_sortkey {
    tb_expr *expr;
    bool desc;
    bool nulls_first; /* PostgreSQL default: nulls_first == desc */
} tb_sortkey;
/* Sort; limit >= 0 turns it into a top-N (keeps limit+offset rows). */
tb_rc tb_op_sort_new(tb_op *child, uint32_t n_keys, const tb_sortkey *keys, int64_t limit,
                     tb_op **out, tb_err *err);
/* limit < 0: no limit. */
tb_rc tb_op_limit_new(tb_op *child, int64_t limit, int64_t offset, tb_op **out,
                      tb_err *err);

/* ---------------------------------------------------------------- window functions */

/* Window functions (op_window.c, issue 13). */
typedef enum tb_win_kind {
    TB_WIN_ROW_NUMBER,
    TB_WIN_RANK,
    TB_WIN_DENSE_RANK,
    TB_WIN_PERCENT_RANK,
    TB_WIN_CUME_DIST,
    TB_WIN_NTILE,
    TB_WIN_LAG,
    TB_WIN_LEAD,
    TB_WIN_FIRST_VALUE,
    TB_WIN_LAST_VALUE,
    TB_WIN_NTH_VALUE,
    TB_WIN_AGG /* `agg` over the frame */
} tb_win_kind;
typedef enum tb_frame_mode { TB_FRAME_ROWS, TB_FRAME_RANGE, TB_FRAME_GROUPS } tb_frame_mode;
typedef enum tb_bound_kind {
    TB_BOUND_UNBOUNDED, /* UNBOUNDED PRECEDING (start) / FOLLOWING (end) */
    TB_BOUND_PRECEDING, /* offset PRECEDING */
    TB_BOUND_CURRENT,
    TB_BOUND_FOLLOWING /* offset FOLLOWING */
} tb_bound_kind;
typedef enum tb_exclude {
    TB_EXCLUDE_NONE,
    TB_EXCLUDE_CURRENT,
    TB_EXCLUDE_GROUP,
    TB_EXCLUDE_TIES
} tb_exclude;
typedef struct tb_winframe {
    tb_frame_mode mode;
    tb_bound_kind start, end;
    int64_t start_off, end_off;   /* ROWS / GROUPS offsets (>= 0) */
    double start_dnum, end_dnum;  /* RANGE offsets (>= 0), in the order key's units */
    tb_exclude exclude;
} tb_winframe;
typedef struct tb_winfunc {
    tb_win_kind kind;
    tb_aggspec agg;     /* TB_WIN_AGG */
    uint32_t n_args;    /* <= 3: value, offset / n, default */
    tb_expr *args[3];   /* over the child's columns */
    tb_type type;       /* result type */
    tb_winframe frame;
    int pos;            /* SQL position for runtime errors */
} tb_winfunc;
/*
 * Window operator: materializes the child, sorts by (partition keys ascending, order
 * keys), and outputs the child's columns then one column per function (names[f]), in
 * that order. Takes ownership of child whatever the outcome.
 */
tb_rc tb_op_window_new(tb_op *child, uint32_t n_part, tb_expr **part, uint32_t n_order,
                       const tb_sortkey *order, uint32_t n_funcs, const tb_winfunc *funcs,
                       const char **names, tb_op **out, tb_err *err);

/* Concatenate children with identical column types (the planner coerces). Output
 * names are the first child's. */
tb_rc tb_op_union_all_new(uint32_t n, tb_op **children, tb_op **out, tb_err *err);

/* Most windows one row may fall in (ceil(size / slide)) for tb_op_hop_new: bounds the
 * output of a hop window to 1000 times its input. */
#define TB_HOP_MAX_WINDOWS 1000
/*
 * Sliding (hopping) windows, op_hop.c: every child row is repeated once per window
 * [start, start + size) holding time(row), start = k * slide + offset (microseconds),
 * with the start appended as a timestamp column named start_name (NULL:
 * "window_start"). Rows whose time is NULL, or which fall in a gap (size < slide), are
 * in no window and dropped. slide == size is a tumbling window. `time` is evaluated over
 * the child's columns and must be a timestamp. end_name (may be NULL) names the column
 * a projection above computes as start + size, for tb_op_hop_column. Errors:
 * TB_E_RANGE for slide or size <= 0, TB_E_LIMIT for more than TB_HOP_MAX_WINDOWS
 * windows per row (at time->pos). Takes ownership of child whatever the outcome.
 */
tb_rc tb_op_hop_new(tb_op *child, tb_expr *time, int64_t slide_us, int64_t size_us,
                    int64_t offset_us, const char *start_name, const char *end_name, tb_op **out,
                    tb_err *err);
/*
 * Is `name` the start_name or end_name of a hop operator in op's tree? Then
 * *out_to_end_us is the distance from that column's value to the window's end (size
 * for the start, 0 for the end). The streaming layer finalises windows with it.
 */
bool tb_op_hop_column(const tb_op *op, const char *name, int64_t *out_to_end_us);

/* ================================================================ memory tables */

/*
 * A columnar in-memory table: an append-only list of owned batches (CREATE TABLE in
 * memory, the memory sink, materialized views). Readers take a snapshot
 * (tb_table_scan_new) and see the rows present when they started.
 */
typedef struct tb_table tb_table;
tb_table *tb_table_new(const tb_schema *schema); /* schema copied; NULL on OOM */
void tb_table_free(tb_table *table);
const tb_schema *tb_table_schema(const tb_table *table);
uint64_t tb_table_rows(const tb_table *table);
/* A counter of the table's changes (appends, truncations, swaps): a continuous query
 * joining the table builds again when it moved. */
uint64_t tb_table_version(const tb_table *table);
/* Append a batch (copied; types must match the schema). */
tb_rc tb_table_append(tb_table *table, const tb_batch *batch, tb_err *err);
/* Append every row of src (as present now) to dst; schemas must match. */
tb_rc tb_table_append_all(tb_table *dst, tb_table *src, tb_err *err);
/* Remove all rows. */
void tb_table_truncate(tb_table *table);
/* Replace the contents with another table's (swaps; `other` is left empty). */
void tb_table_swap(tb_table *table, tb_table *other);
/* Scan the rows present now; proj (may be NULL: all) selects columns. */
tb_rc tb_table_scan_new(tb_table *table, const int *proj, uint32_t n_proj, tb_op **out,
                        tb_err *err);
/* Approximate bytes held. */
size_t tb_table_bytes(const tb_table *table);

/* ================================================================ parallel execution */

/*
 * Morsel-driven parallelism for the pipeline below an aggregate (parallel.c). The
 * planner builds one copy of the pipeline per worker: its leaf is a morsel scan over a
 * queue shared by all copies, its hash joins probe a build side built once
 * (tb_hashjoin_once), and a parallel aggregate runs the copies on worker threads, each
 * into a partial aggregate, merged at the end. Results equal the serial plan's, in the
 * same order; a failure reports the error the serial plan would (the first in input
 * order).
 */

/* The morsels of a splittable source (format.h), handed out in order. Takes src
 * (also on failure). Reference counted: each morsel scan holds a reference. */
typedef struct tb_morsel_queue tb_morsel_queue;
tb_rc tb_morsel_queue_new(tb_source *src, tb_morsel_queue **out, tb_err *err);
uint64_t tb_morsel_queue_count(const tb_morsel_queue *q); /* 0: src is not splittable */
tb_morsel_queue *tb_morsel_queue_ref(tb_morsel_queue *q);
void tb_morsel_queue_free(tb_morsel_queue *q); /* -1 reference; NULL is a no-op */
/* If op is a plain scan (tb_op_scan_new, not yet read): free it and return its source;
 * otherwise NULL (op untouched). */
tb_source *tb_op_scan_detach(tb_op *op);
/* The leaf of worker `worker`'s copy (< TB_PAR_MAX): scans the morsels it takes from q. */
tb_rc tb_op_morsel_scan_new(tb_morsel_queue *q, uint32_t worker, tb_op **out, tb_err *err);

/*
 * A hash join build side shared by the copies: built from `build` (run to its end) by
 * the first copy that needs it while the others wait; every copy gets the same table or
 * the same error. Takes ownership of build whatever the outcome; keys are evaluated
 * over build's schema (borrowed: the plan's arena). Reference counted.
 * @thread any number of probe operators, on any threads.
 */
typedef struct tb_hashjoin_once tb_hashjoin_once;
tb_rc tb_hashjoin_once_new(tb_op *build, uint32_t n_keys, tb_expr **keys, tb_hashjoin_once **out,
                           tb_err *err);
tb_hashjoin_once *tb_hashjoin_once_ref(tb_hashjoin_once *once);
void tb_hashjoin_once_free(tb_hashjoin_once *once); /* -1 reference; NULL is a no-op */
/* Probe operator over a shared build (INNER, LEFT, SEMI, ANTI: RIGHT and FULL need the
 * build rows' matched flags of all copies). Takes ownership of left whatever the outcome. */
tb_rc tb_op_hash_join_new_once(tb_op *left, tb_hashjoin_once *once, tb_join_type type,
                               uint32_t n_keys, tb_expr **left_keys, tb_expr *residual,
                               tb_op **out, tb_err *err);

/*
 * Parallel hash aggregate over n_workers copies pipes[0..n) of one pipeline whose
 * leaves are morsel scans of q (copy w's with worker w). Output and arguments as
 * tb_op_hash_agg_new: group_exprs and aggs are evaluated over the copies' (identical)
 * output layout by every worker (expressions are immutable, so sharing them is safe).
 * Takes ownership of the copies whatever the outcome; EXPLAIN shows copy 0.
 */
tb_rc tb_op_parallel_agg_new(tb_morsel_queue *q, uint32_t n_workers, tb_op **pipes,
                             uint32_t n_groups, tb_expr **group_exprs, const char **group_names,
                             uint32_t n_aggs, const tb_aggspec *aggs, const char **agg_names,
                             tb_op **out, tb_err *err);

/*
 * Serial order of a parallel aggregation: after tb_hashagg_set_stamp(agg, base), the row
 * at index i of the following consume calls has stamp base + i (the caller moves base
 * along); each group keeps the smallest stamp of its rows (merge keeps the smaller of
 * both sides'). tb_hashagg_order_by_stamp then makes TB_HASHAGG_ALL passes emit groups by
 * ascending stamp, i.e. in the first-seen order of the serial run. A later consume or
 * merge drops that order; eviction and deserialization drop the stamps.
 */
void tb_hashagg_set_stamp(tb_hashagg *agg, uint64_t base);
tb_rc tb_hashagg_order_by_stamp(tb_hashagg *agg, tb_err *err);

#endif /* TB_EXEC_H */
