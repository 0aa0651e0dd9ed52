/*
 * stmt.c - statement execution: the dispatcher behind tb_db_exec.
 *
 * Handled here: SELECT / VALUES / set operations (a streaming result), CREATE TABLE
 * (in memory, or file-backed WITH (connector = 'csv' | 'parquet' | X with read_X)),
 * CREATE TABLE AS, INSERT (VALUES or SELECT), CREATE [OR REPLACE] VIEW, DROP TABLE /
 * VIEW [IF EXISTS], EXPLAIN, SET / RESET / SHOW, SHOW TABLES, TRUNCATE, CREATE / DROP
 * INDEX (accepted, no index is built). Everything else goes to
 * the statement hook (sql.h), which may decline.
 *
 * Only the last statement's result is returned; other SELECTs are run to completion
 * with their rows discarded (so that their errors surface, as in PostgreSQL).
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "sql/sql_int.h"

#define NC(K)    PG_QUERY__NODE__NODE_##K
#define IS(n, K) ((n) != NULL && (n)->node_case == NC(K))

static const char *str_of(const pgnode *n) { return IS(n, STRING) ? n->string->sval : NULL; }

/* ---------------------------------------------------------------- planning */

/* PostgreSQL (10+) gives output columns of unknown type (a bare NULL) the type text. */
static tb_rc unknown_to_text(qctx *q, lnode **root, tb_err *err)
{
    lnode *r = *root;
    bool any = false;
    for (uint32_t i = 0; i < r->n_out; i++)
        any = any || q->cols[r->out[i]].type.id == TB_T_NULL;
    if (!any)
        return TB_OK;
    lnode *p = tb_sql_lnode(q, L_PROJECT);
    int *out = tb_arena_alloc(q->arena, r->n_out * sizeof(int));
    tb_expr **ex = tb_arena_alloc(q->arena, r->n_out * sizeof(tb_expr *));
    if (p == NULL || out == NULL || ex == NULL)
        return tb_err_nomem(err);
    for (uint32_t i = 0; i < r->n_out; i++) {
        const colinfo *ci = &q->cols[r->out[i]];
        ex[i] = tb_expr_col(q->arena, r->out[i], ci->type);
        if (ex[i] == NULL)
            return tb_err_nomem(err);
        out[i] = r->out[i];
        if (ci->type.id != TB_T_NULL)
            continue;
        tb_rc rc = tb_expr_cast(q->arena, ex[i], tb_type_make(TB_T_STRING), -1, &ex[i], err);
        if (rc != TB_OK)
            return rc;
        out[i] = tb_sql_new_col(q, ci->name, NULL, tb_type_make(TB_T_STRING));
        if (out[i] < 0)
            return tb_err_nomem(err);
    }
    p->left = r;
    p->n_out = r->n_out;
    p->out = out;
    p->exprs = ex;
    p->est = r->est;
    *root = p;
    return TB_OK;
}

tb_rc tb_sql_plan_stmt(tb_db *db, const char *sql, const pgnode *select, const tb_plan_opts *opts,
                       plan_int **out, tb_err *err)
{
    plan_int *p = NULL;
    lnode *root = NULL;
    tb_rc rc = tb_sql_plan_new(db, opts, &p);
    if (rc != TB_OK)
        return tb_err_nomem(err);
    rc = tb_sql_bind_select(p->q, sql, select, &root, err);
    if (rc == TB_OK)
        rc = unknown_to_text(p->q, &root, err);
    if (rc == TB_OK)
        rc = tb_sql_optimize(p->q, &root, err);
    if (rc == TB_OK)
        rc = tb_sql_physical(p->q, p->q->arena, root, NULL, 0, NULL, NULL, &p->pub.root, err);
    if (rc != TB_OK) {
        tb_plan_free(&p->pub);
        return rc;
    }
    p->pub.top_agg = p->q->top_agg;
    p->pub.rels = p->q->rels;
    p->pub.n_rels = p->q->n_rels;
    *out = p;
    return TB_OK;
}

tb_rc tb_sql_plan_node(tb_db *db, const char *sql, const struct PgQuery__Node *select,
                       const tb_plan_opts *opts, tb_plan **out, tb_err *err)
{
    /* internal (sql.h): callers pass their database, a parsed node and a result slot */
    assert(db != NULL && select != NULL && out != NULL);
    if (!IS(select, SELECT_STMT))
        return TB_ERRF(err, TB_E_SQL, "not a SELECT statement");
    plan_int *p = NULL;
    tb_rc rc = tb_sql_plan_stmt(db, sql, select, opts, &p, err);
    if (rc != TB_OK)
        return rc;
    *out = &p->pub;
    return TB_OK;
}

tb_rc tb_sql_plan_select(tb_db *db, const char *sql, const tb_plan_opts *opts, tb_plan **out,
                         tb_err *err)
{
    assert(db != NULL && sql != NULL && out != NULL);
    PgQuery__ParseResult *pr = NULL;
    tb_rc rc = tb_sql_parse(sql, &pr, err);
    if (rc != TB_OK)
        return rc;
    if (pr->n_stmts != 1 || !IS(pr->stmts[0]->stmt, SELECT_STMT)) {
        tb_sql_parse_free(pr);
        return TB_ERRF(err, TB_E_SQL, "expected exactly one SELECT statement");
    }
    rc = tb_sql_plan_node(db, sql, pr->stmts[0]->stmt, opts, out, err);
    tb_sql_parse_free(pr);
    return rc;
}

/* ---------------------------------------------------------------- small results */

static void table_free_cb(void *p) { tb_table_free(p); }

/* A result of text columns (EXPLAIN, SHOW): rows given as n_rows * n_cols strings. */
static tb_rc text_result(tb_db *db, const char **cols, uint32_t n_cols, char **cells,
                         uint32_t n_rows, plan_int **out, tb_err *err)
{
    tb_schema *schema = tb_schema_new(n_cols);
    tb_table *table = NULL;
    plan_int *p = NULL;
    tb_arena *arena = NULL;
    tb_rc rc;
    if (schema == NULL)
        return tb_err_nomem(err);
    for (uint32_t i = 0; i < n_cols; i++) {
        if (tb_schema_set(schema, i, cols[i], tb_type_make(TB_T_STRING), true) != TB_OK) {
            rc = tb_err_nomem(err);
            goto fail;
        }
    }
    table = tb_table_new(schema);
    arena = tb_arena_new(0);
    if (table == NULL || arena == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    for (uint32_t r0 = 0; r0 < n_rows; r0 += TB_BATCH_CAP) {
        uint32_t nr = n_rows - r0 < TB_BATCH_CAP ? n_rows - r0 : TB_BATCH_CAP;
        tb_batch *batch;
        tb_arena_reset(arena);
        if (tb_batch_new(schema, nr, arena, &batch) != TB_OK) {
            rc = tb_err_nomem(err);
            goto fail;
        }
        for (uint32_t r = 0; r < nr; r++) {
            for (uint32_t c = 0; c < n_cols; c++) {
                const char *s = cells[(size_t)(r0 + r) * n_cols + c];
                tb_value v;
                memset(&v, 0, sizeof(v));
                v.type = tb_type_make(TB_T_STRING);
                if (s == NULL) {
                    v.is_null = true;
                    rc = tb_vec_set_null(&batch->cols[c], r, nr, arena);
                } else {
                    v.u.s.ptr = s;
                    v.u.s.len = (uint32_t)strlen(s);
                    rc = tb_vec_put(&batch->cols[c], r, nr, &v, arena);
                }
                if (rc != TB_OK) {
                    rc = tb_err_nomem(err);
                    goto fail;
                }
            }
        }
        batch->n_rows = nr;
        rc = tb_table_append(table, batch, err);
        if (rc != TB_OK)
            goto fail;
    }
    tb_arena_free(arena);
    arena = NULL;
    rc = tb_sql_plan_new(db, NULL, &p);
    if (rc != TB_OK) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    if (tb_sql_add_cleanup(p->q, table_free_cb, table) != TB_OK) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    tb_table *t = table;
    table = NULL; /* the plan owns it now */
    rc = tb_table_scan_new(t, NULL, 0, &p->pub.root, err);
    if (rc != TB_OK)
        goto fail;
    tb_schema_free(schema);
    *out = p;
    return TB_OK;
fail:
    tb_arena_free(arena);
    tb_table_free(table);
    tb_schema_free(schema);
    if (p != NULL)
        tb_plan_free(&p->pub);
    return rc;
}

/* ---------------------------------------------------------------- CREATE TABLE */

static tb_rc column_schema(const PgQuery__CreateStmt *cs, const char *sql, tb_schema **out,
                           tb_err *err)
{
    uint32_t n = 0;
    for (size_t i = 0; i < cs->n_table_elts; i++)
        n += IS(cs->table_elts[i], COLUMN_DEF);
    tb_schema *schema = tb_schema_new(n);
    if (schema == NULL)
        return tb_err_nomem(err);
    uint32_t k = 0;
    for (size_t i = 0; i < cs->n_table_elts; i++) {
        const pgnode *el = cs->table_elts[i];
        if (IS(el, CONSTRAINT))
            continue; /* table constraints (PRIMARY KEY ...) are accepted, not enforced */
        if (!IS(el, COLUMN_DEF)) {
            tb_schema_free(schema);
            return TB_ERRF(err, TB_E_UNSUPPORTED, "unsupported element in CREATE TABLE");
        }
        const PgQuery__ColumnDef *cd = el->column_def;
        tb_type t;
        tb_rc rc = tb_sql_bind_typename(cd->type_name, sql, &t, err);
        if (rc != TB_OK) {
            tb_schema_free(schema);
            return rc;
        }
        for (uint32_t j = 0; j < k; j++) {
            if (strcmp(schema->fields[j].name, cd->colname) == 0) {
                tb_schema_free(schema);
                rc = TB_ERRF(err, TB_E_SQL, "column \"%s\" specified more than once", cd->colname);
                err->pos = cd->location;
                return rc;
            }
        }
        bool not_null = cd->is_not_null;
        for (size_t c = 0; c < cd->n_constraints; c++) {
            const pgnode *cn = cd->constraints[c];
            if (IS(cn, CONSTRAINT) &&
                (cn->constraint->contype == PG_QUERY__CONSTR_TYPE__CONSTR_NOTNULL ||
                 cn->constraint->contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY))
                not_null = true;
        }
        if (tb_schema_set(schema, k++, cd->colname, t, !not_null) != TB_OK) {
            tb_schema_free(schema);
            return tb_err_nomem(err);
        }
    }
    *out = schema;
    return TB_OK;
}

tb_rc tb_sql_create_schema(const struct PgQuery__Node *stmt, tb_schema **out_schema, tb_err *err)
{
    if (!IS(stmt, CREATE_STMT))
        return TB_ERRF(err, TB_E_MISUSE, "not a CREATE TABLE statement");
    return column_schema(stmt->create_stmt, NULL, out_schema, err);
}

static pgnode *const *stmt_opts(const pgnode *stmt, size_t *n)
{
    *n = 0;
    if (IS(stmt, CREATE_STMT)) {
        *n = stmt->create_stmt->n_options;
        return stmt->create_stmt->options;
    }
    if (IS(stmt, VIEW_STMT)) {
        *n = stmt->view_stmt->n_options;
        return stmt->view_stmt->options;
    }
    if (IS(stmt, CREATE_TABLE_AS_STMT) && stmt->create_table_as_stmt->into != NULL) {
        *n = stmt->create_table_as_stmt->into->n_options;
        return stmt->create_table_as_stmt->into->options;
    }
    return NULL;
}

tb_rc tb_sql_stmt_options(const struct PgQuery__Node *stmt, tb_strlist *out_kv, tb_err *err)
{
    size_t n;
    pgnode *const *opts = stmt_opts(stmt, &n);
    tb_arena *arena = tb_arena_new(0);
    if (arena == NULL)
        return tb_err_nomem(err);
    for (size_t i = 0; i < n; i++) {
        if (!IS(opts[i], DEF_ELEM))
            continue;
        const PgQuery__DefElem *de = opts[i]->def_elem;
        char *v = tb_sql_node_text(arena, de->arg);
        char *k = tb_arena_strdup(arena, de->defname);
        if (v == NULL || k == NULL || tb_strlist_push(out_kv, k) != TB_OK ||
            tb_strlist_push(out_kv, v) != TB_OK) {
            tb_arena_free(arena);
            return tb_err_nomem(err);
        }
    }
    tb_arena_free(arena);
    return TB_OK;
}

typedef struct stmtctx {
    tb_db *db;
    const char *sql;
    const pgnode *stmt;
    int offset, len;
    tb_err *err;
    int64_t changes;
    plan_int *plan; /* result rows, if any */
} stmtctx;

static tb_rc call_hook(stmtctx *sc, const char *what)
{
    tb_db *db = sc->db;
    if (db->hook != NULL) {
        int64_t changes = -1;
        tb_err_clear(sc->err);
        tb_rc rc =
            db->hook(db->hook_ud, db, sc->sql, sc->offset, sc->len, sc->stmt, &changes, sc->err);
        if (rc != TB_E_UNSUPPORTED) {
            sc->changes = changes;
            if (rc != TB_OK && sc->err->code == TB_OK)
                TB_ERRF(sc->err, rc, "%s failed: %s", what, tb_errstr(rc));
            return rc;
        }
    }
    tb_rc rc = TB_ERRF(sc->err, TB_E_UNSUPPORTED, "%s is not supported", what);
    sc->err->pos = sc->offset;
    return rc;
}

static tb_rc create_table(stmtctx *sc)
{
    const PgQuery__CreateStmt *cs = sc->stmt->create_stmt;
    const char *name = cs->relation->relname;
    tb_rc rc;
    tb_arena *arena = NULL;
    tb_schema *schema = NULL;

    if (cs->n_inh_relations > 0 || cs->partspec != NULL || cs->of_typename != NULL)
        return TB_ERRPOS(sc->err, TB_E_UNSUPPORTED, cs->relation->location,
                         "CREATE TABLE ... INHERITS / PARTITION BY / OF is not supported");
    if (tb_sql_cat_find(sc->db, name) != NULL &&
        strcmp(tb_sql_cat_find(sc->db, name)->name, name) == 0) {
        if (cs->if_not_exists)
            return TB_OK;
        return TB_ERRPOS(sc->err, TB_E_EXISTS, cs->relation->location,
                         "relation \"%s\" already exists", name);
    }
    /* WITH (connector = ..., ...) */
    const char *connector = NULL;
    int conn_loc = -1;
    arena = tb_arena_new(0);
    if (arena == NULL)
        return tb_err_nomem(sc->err);
    tb_tf_arg *args = tb_arena_zalloc(arena, (cs->n_options + 1) * sizeof(*args));
    uint32_t n_args = 0;
    if (args == NULL) {
        rc = tb_err_nomem(sc->err);
        goto done;
    }
    for (size_t i = 0; i < cs->n_options; i++) {
        if (!IS(cs->options[i], DEF_ELEM))
            continue;
        const PgQuery__DefElem *de = cs->options[i]->def_elem;
        char *v = tb_sql_node_text(arena, de->arg);
        if (v == NULL) {
            rc = TB_ERRPOS(sc->err, TB_E_SQL, de->location, "bad value for option %s", de->defname);
            goto done;
        }
        if (tb_str_ieq(de->defname, "connector")) {
            connector = v;
            conn_loc = de->location;
            continue;
        }
        args[n_args].name = tb_arena_strdup(arena, de->defname);
        args[n_args].value.type = tb_type_make(TB_T_STRING);
        args[n_args].value.u.s.ptr = v;
        args[n_args].value.u.s.len = (uint32_t)strlen(v);
        args[n_args].pos = de->location;
        n_args++;
    }
    rc = column_schema(cs, sc->sql, &schema, sc->err);
    if (rc != TB_OK)
        goto done;
    if (connector == NULL) {
        if (n_args > 0) {
            rc = TB_ERRPOS(sc->err, TB_E_SQL, args[0].pos,
                           "unknown table option \"%s\" (file-backed tables need connector = "
                           "'csv', 'parquet' or 'json')",
                           args[0].name);
            goto done;
        }
        tb_table *t = tb_table_new(schema);
        if (t == NULL) {
            rc = tb_err_nomem(sc->err);
            goto done;
        }
        rc = tb_catalog_add_table(sc->db, name, t, sc->err);
        if (rc != TB_OK)
            tb_table_free(t);
        goto done;
    }
    bool builtin = tb_str_ieq(connector, "csv") || tb_str_ieq(connector, "parquet") ||
                   tb_str_ieq(connector, "json");
    if (!builtin && sc->db->hook != NULL) {
        int64_t changes = -1;
        tb_err_clear(sc->err);
        rc = sc->db->hook(sc->db->hook_ud, sc->db, sc->sql, sc->offset, sc->len, sc->stmt, &changes,
                          sc->err);
        if (rc != TB_E_UNSUPPORTED)
            goto done;
    }
    if (tb_str_ieq(connector, "postgres")) { /* issue 12: its own connector (refresh) */
        rc = tb_sql_create_pg_table(sc->db, name, args, n_args, schema->n > 0 ? schema : NULL,
                                    sc->err);
        if (rc != TB_OK && sc->err->pos < 0)
            sc->err->pos = cs->relation->location;
        goto done;
    }
    char tfname[80];
    snprintf(tfname, sizeof(tfname), "read_%s", connector);
    const tb_tablefunc *tf = tb_sql_find_tablefunc(tfname);
    if (tf == NULL) {
        rc = TB_ERRPOS(sc->err, TB_E_UNSUPPORTED, conn_loc,
                       "connector '%s' is not supported (file-backed tables: csv, parquet, "
                       "json%s)",
                       connector, tb_sql_find_tablefunc("read_delta") ? ", delta" : "");
        goto done;
    }
    rc = tb_sql_create_file_table(sc->db, name, tf, args, n_args, schema->n > 0 ? schema : NULL,
                                  sc->err);
    if (rc != TB_OK && sc->err->pos < 0)
        sc->err->pos = cs->relation->location;
done:
    tb_schema_free(schema);
    tb_arena_free(arena);
    return rc;
}

/* Drain a plan into a table; *rows gets the count. */
/* Drain a plan into a table; *rows gets the count. With `rel` set, NOT NULL columns are
 * checked (PostgreSQL's message names rel). */
static tb_rc drain_into(tb_op *root, tb_table *table, int64_t *rows, const char *rel,
                        tb_err *err)
{
    const tb_schema *ts = tb_table_schema(table);
    *rows = 0;
    for (;;) {
        tb_batch *batch = NULL;
        tb_rc rc = tb_op_next(root, &batch, err);
        if (rc != TB_OK)
            return rc;
        if (batch == NULL)
            return TB_OK;
        if (batch->n_rows == 0)
            continue;
        for (uint32_t c = 0; rel != NULL && c < ts->n && c < batch->n_cols; c++) {
            if (!ts->fields[c].nullable && tb_vec_null_count(&batch->cols[c], batch->n_rows) > 0)
                return TB_ERRF(err, TB_E_SQL,
                               "null value in column \"%s\" of relation \"%s\" violates "
                               "not-null constraint",
                               ts->fields[c].name, rel);
        }
        rc = tb_table_append(table, batch, err);
        if (rc != TB_OK)
            return rc;
        *rows += batch->n_rows;
    }
}

static tb_rc create_table_as(stmtctx *sc)
{
    const PgQuery__CreateTableAsStmt *ct = sc->stmt->create_table_as_stmt;
    if (ct->objtype != PG_QUERY__OBJECT_TYPE__OBJECT_TABLE)
        return call_hook(sc, "CREATE MATERIALIZED VIEW");
    const PgQuery__IntoClause *into = ct->into;
    const char *name = into->rel->relname;
    if (into->n_options > 0)
        return call_hook(sc, "CREATE TABLE AS with options");
    catentry *e = tb_sql_cat_find(sc->db, name);
    if (e != NULL && strcmp(e->name, name) == 0) {
        if (ct->if_not_exists)
            return TB_OK;
        return TB_ERRPOS(sc->err, TB_E_EXISTS, into->rel->location,
                         "relation \"%s\" already exists", name);
    }
    plan_int *p = NULL;
    tb_rc rc = tb_sql_plan_stmt(sc->db, sc->sql, ct->query, NULL, &p, sc->err);
    if (rc != TB_OK)
        return rc;
    tb_schema *schema = tb_schema_copy(p->pub.root->schema);
    tb_table *table = NULL;
    if (schema == NULL) {
        rc = tb_err_nomem(sc->err);
        goto done;
    }
    if (into->n_col_names > schema->n) {
        rc = TB_ERRPOS(sc->err, TB_E_SQL, into->rel->location,
                       "CREATE TABLE AS specifies too many column names");
        goto done;
    }
    for (size_t i = 0; i < into->n_col_names; i++) {
        const char *nm = str_of(into->col_names[i]);
        if (nm != NULL && tb_schema_set(schema, (uint32_t)i, nm, schema->fields[i].type,
                                        schema->fields[i].nullable) != TB_OK) {
            rc = tb_err_nomem(sc->err);
            goto done;
        }
    }
    for (uint32_t i = 0; i < schema->n; i++) {
        schema->fields[i].nullable = true;
        for (uint32_t j = 0; j < i; j++) {
            if (strcmp(schema->fields[i].name, schema->fields[j].name) == 0) {
                rc = TB_ERRPOS(sc->err, TB_E_SQL, into->rel->location,
                               "column \"%s\" specified more than once", schema->fields[i].name);
                goto done;
            }
        }
    }
    table = tb_table_new(schema);
    if (table == NULL) {
        rc = tb_err_nomem(sc->err);
        goto done;
    }
    int64_t rows = 0;
    if (!into->skip_data) {
        rc = drain_into(p->pub.root, table, &rows, NULL, sc->err);
        if (rc != TB_OK)
            goto done;
    }
    rc = tb_catalog_add_table(sc->db, name, table, sc->err);
    if (rc != TB_OK)
        goto done;
    table = NULL;
    sc->changes = rows;
done:
    tb_table_free(table);
    tb_schema_free(schema);
    tb_plan_free(&p->pub);
    return rc;
}

static tb_rc insert(stmtctx *sc)
{
    const PgQuery__InsertStmt *ins = sc->stmt->insert_stmt;
    const char *name = ins->relation->relname;
    tb_rc rc;
    if (ins->on_conflict_clause != NULL || ins->n_returning_list > 0)
        return TB_ERRPOS(sc->err, TB_E_UNSUPPORTED, ins->relation->location,
                         "INSERT ... ON CONFLICT / RETURNING is not supported");
    if (ins->with_clause != NULL)
        return TB_ERRPOS(sc->err, TB_E_UNSUPPORTED, ins->relation->location,
                         "WITH before INSERT is not supported; put it in the SELECT");
    catentry *e = tb_sql_cat_find(sc->db, name);
    if (e == NULL)
        return tb_sql_cat_notfound(sc->db, name, ins->relation->location, sc->err);
    if (e->kind == TB_CAT_CONNECTOR)
        return call_hook(sc, "INSERT into a connector table");
    if (e->kind != TB_CAT_TABLE)
        return TB_ERRPOS(sc->err, TB_E_SQL, ins->relation->location,
                         "cannot insert into view \"%s\"", name);
    const tb_schema *ts = e->schema;
    tb_table *table = e->table;
    /* target columns */
    uint32_t n_tgt = ins->n_cols ? (uint32_t)ins->n_cols : ts->n;
    int *tgt = tb_calloc(n_tgt ? n_tgt : 1, sizeof(int));
    if (tgt == NULL)
        return tb_err_nomem(sc->err);
    for (uint32_t i = 0; i < n_tgt; i++) {
        if (ins->n_cols == 0) {
            tgt[i] = (int)i;
            continue;
        }
        const pgnode *c = ins->cols[i];
        const char *cn = IS(c, RES_TARGET) ? c->res_target->name : NULL;
        int loc = IS(c, RES_TARGET) ? c->res_target->location : -1;
        int k = cn != NULL ? tb_schema_find(ts, cn) : -1;
        if (k < 0) {
            tb_free(tgt);
            return TB_ERRPOS(sc->err, TB_E_NOTFOUND, loc,
                             "column \"%s\" of relation \"%s\" does not exist", cn ? cn : "?",
                             name);
        }
        for (uint32_t j = 0; j < i; j++) {
            if (tgt[j] == k) {
                tb_free(tgt);
                return TB_ERRPOS(sc->err, TB_E_SQL, loc, "column \"%s\" specified more than once",
                                 cn);
            }
        }
        tgt[i] = k;
    }
    plan_int *p = NULL;
    tb_table *stage = NULL;
    rc = tb_sql_plan_new(sc->db, NULL, &p);
    if (rc != TB_OK) {
        tb_free(tgt);
        return tb_err_nomem(sc->err);
    }
    qctx *q = p->q;
    lnode *src = NULL;
    const PgQuery__SelectStmt *sel =
        IS(ins->select_stmt, SELECT_STMT) ? ins->select_stmt->select_stmt : NULL;
    tb_type *types = tb_arena_alloc(q->arena, (n_tgt ? n_tgt : 1) * sizeof(tb_type));
    const char **names = tb_arena_alloc(q->arena, (ts->n ? ts->n : 1) * sizeof(char *));
    if (types == NULL || names == NULL) {
        rc = tb_err_nomem(sc->err);
        goto done;
    }
    for (uint32_t i = 0; i < ts->n; i++)
        names[i] = ts->fields[i].name;
    const char **tnames = tb_arena_alloc(q->arena, (n_tgt ? n_tgt : 1) * sizeof(char *));
    if (tnames == NULL) {
        rc = tb_err_nomem(sc->err);
        goto done;
    }
    for (uint32_t i = 0; i < n_tgt; i++) {
        types[i] = ts->fields[tgt[i]].type;
        tnames[i] = ts->fields[tgt[i]].name;
    }
    if (sel == NULL) {
        rc = TB_ERRPOS(sc->err, TB_E_UNSUPPORTED, ins->relation->location,
                       "INSERT ... DEFAULT VALUES is not supported");
        goto done;
    }
    if (sel->n_values_lists > 0 && sel->n_sort_clause == 0 && sel->limit_count == NULL &&
        sel->limit_offset == NULL && sel->with_clause == NULL)
        rc = tb_sql_bind_insert_values(q, sc->sql, sel, types, tnames, n_tgt, &src, sc->err);
    else
        rc = tb_sql_bind_select(q, sc->sql, ins->select_stmt, &src, sc->err);
    if (rc != TB_OK)
        goto done;
    if (src->n_out != n_tgt) {
        rc = TB_ERRPOS(sc->err, TB_E_SQL, ins->relation->location,
                       src->n_out > n_tgt ? "INSERT has more expressions than target columns"
                                          : "INSERT has more target columns than expressions");
        goto done;
    }
    /* project to the table's columns: targets coerced, the others NULL */
    lnode *pj = tb_sql_lnode(q, L_PROJECT);
    if (pj == NULL) {
        rc = tb_err_nomem(sc->err);
        goto done;
    }
    pj->left = src;
    pj->n_out = ts->n;
    pj->out = tb_arena_alloc(q->arena, (ts->n ? ts->n : 1) * sizeof(int));
    pj->exprs = tb_arena_alloc(q->arena, (ts->n ? ts->n : 1) * sizeof(tb_expr *));
    if (pj->out == NULL || pj->exprs == NULL) {
        rc = tb_err_nomem(sc->err);
        goto done;
    }
    pj->est = src->est;
    for (uint32_t c = 0; c < ts->n; c++) {
        tb_type t = ts->fields[c].type;
        tb_expr *ex = NULL;
        for (uint32_t i = 0; i < n_tgt; i++) {
            if (tgt[i] == (int)c) {
                ex = tb_expr_col(q->arena, src->out[i], q->cols[src->out[i]].type);
                if (ex == NULL) {
                    rc = tb_err_nomem(sc->err);
                    goto done;
                }
                rc = tb_sql_assign(q->arena, ex, t, ts->fields[c].name, ins->relation->location,
                                   &ex, sc->err);
                if (rc != TB_OK)
                    goto done;
            }
        }
        if (ex == NULL) {
            if (!ts->fields[c].nullable) {
                rc = TB_ERRPOS(sc->err, TB_E_SQL, ins->relation->location,
                               "null value in column \"%s\" of relation \"%s\" violates "
                               "not-null constraint",
                               ts->fields[c].name, name);
                goto done;
            }
            ex = tb_expr_null(q->arena);
            if (ex == NULL) {
                rc = tb_err_nomem(sc->err);
                goto done;
            }
            rc = tb_expr_cast(q->arena, ex, t, -1, &ex, sc->err);
            if (rc != TB_OK)
                goto done;
        }
        pj->exprs[c] = ex;
        pj->out[c] = tb_sql_new_col(q, ts->fields[c].name, NULL, t);
        if (pj->out[c] < 0) {
            rc = tb_err_nomem(sc->err);
            goto done;
        }
    }
    lnode *root = pj;
    rc = tb_sql_optimize(q, &root, sc->err);
    if (rc == TB_OK)
        rc = tb_sql_physical(q, q->arena, root, names, 0, NULL, NULL, &p->pub.root, sc->err);
    if (rc != TB_OK)
        goto done;
    /* All or nothing: rows go to a staging table first, so an error in the middle (a
     * NULL for a NOT NULL column, a division by zero) leaves the table unchanged. */
    int64_t rows = 0;
    stage = tb_table_new(ts);
    if (stage == NULL) {
        rc = tb_err_nomem(sc->err);
        goto done;
    }
    rc = drain_into(p->pub.root, stage, &rows, name, sc->err);
    if (rc != TB_OK)
        goto done;
    tb_op *scan = NULL;
    rc = tb_table_scan_new(stage, NULL, 0, &scan, sc->err);
    if (rc != TB_OK)
        goto done;
    int64_t copied = 0;
    rc = drain_into(scan, table, &copied, NULL, sc->err);
    tb_op_free(scan);
    sc->changes = rows;
done:
    tb_table_free(stage);
    tb_free(tgt);
    tb_plan_free(&p->pub);
    return rc;
}

static tb_rc create_view(stmtctx *sc)
{
    const PgQuery__ViewStmt *vs = sc->stmt->view_stmt;
    const char *name = vs->view->relname;
    tb_rc rc;
    catentry *e = tb_sql_cat_find(sc->db, name);
    if (e != NULL && strcmp(e->name, name) == 0) {
        if (!vs->replace || e->kind != TB_CAT_VIEW)
            return TB_ERRPOS(sc->err, TB_E_EXISTS, vs->view->location,
                             "relation \"%s\" already exists", name);
    }
    if (vs->n_options > 0 || vs->with_check_option != PG_QUERY__VIEW_CHECK_OPTION__NO_CHECK_OPTION)
        return call_hook(sc, "CREATE VIEW with options");
    /* validate by binding; the stored text is re-bound on every use */
    plan_int *p = NULL;
    rc = tb_sql_plan_new(sc->db, NULL, &p);
    if (rc != TB_OK)
        return tb_err_nomem(sc->err);
    lnode *root = NULL;
    char **cols = NULL;
    uint32_t n_cols = 0;
    char *text = NULL;
    rc = tb_sql_bind_select(p->q, sc->sql, vs->query, &root, sc->err);
    if (rc != TB_OK)
        goto done;
    if (vs->n_aliases > root->n_out) {
        rc = TB_ERRPOS(sc->err, TB_E_SQL, vs->view->location,
                       "CREATE VIEW specifies more column names than columns");
        goto done;
    }
    n_cols = root->n_out;
    cols = tb_arena_alloc(p->q->arena, (n_cols ? n_cols : 1) * sizeof(char *));
    if (cols == NULL) {
        rc = tb_err_nomem(sc->err);
        goto done;
    }
    for (uint32_t i = 0; i < n_cols; i++) {
        const char *al = i < vs->n_aliases ? str_of(vs->aliases[i]) : NULL;
        cols[i] = (char *)(al != NULL ? al : p->q->cols[root->out[i]].name);
        for (uint32_t j = 0; j < i; j++) {
            if (strcmp(cols[i], cols[j]) == 0) {
                rc = TB_ERRPOS(sc->err, TB_E_SQL, vs->view->location,
                               "column \"%s\" specified more than once", cols[i]);
                goto done;
            }
        }
    }
    size_t len = sc->len > 0 ? (size_t)sc->len : strlen(sc->sql + sc->offset);
    text = tb_strndup(sc->sql + sc->offset, len);
    if (text == NULL) {
        rc = tb_err_nomem(sc->err);
        goto done;
    }
    if (e != NULL && strcmp(e->name, name) == 0) {
        rc = tb_catalog_drop(sc->db, name, false, sc->err);
        if (rc != TB_OK)
            goto done;
    }
    rc = tb_sql_cat_add_view(sc->db, name, text, cols, n_cols, sc->err);
done:
    tb_free(text);
    tb_plan_free(&p->pub);
    return rc;
}

/* CREATE INDEX: checked and remembered, but no index is built (the engine scans and
 * hashes; an index changes no query result). UNIQUE indexes would, so they are refused. */
static tb_rc create_index(stmtctx *sc)
{
    const PgQuery__IndexStmt *is = sc->stmt->index_stmt;
    if (is->unique || is->primary)
        return TB_ERRPOS(sc->err, TB_E_UNSUPPORTED, sc->offset, "UNIQUE indexes are not supported");
    catentry *e = tb_sql_cat_find(sc->db, is->relation->relname);
    if (e == NULL)
        return tb_sql_cat_notfound(sc->db, is->relation->relname, is->relation->location, sc->err);
    if (e->kind == TB_CAT_VIEW)
        return TB_ERRPOS(sc->err, TB_E_SQL, is->relation->location,
                         "cannot create an index on view \"%s\"", e->name);
    for (size_t i = 0; i < is->n_index_params; i++) {
        const pgnode *p = is->index_params[i];
        if (IS(p, INDEX_ELEM) && p->index_elem->name != NULL && p->index_elem->name[0] &&
            tb_schema_find(e->schema, p->index_elem->name) < 0)
            return TB_ERRPOS(sc->err, TB_E_NOTFOUND, sc->offset, "column \"%s\" does not exist",
                             p->index_elem->name);
    }
    const char *name = is->idxname != NULL && is->idxname[0] ? is->idxname : NULL;
    if (name == NULL)
        return TB_OK;
    for (size_t i = 0; i < sc->db->indexes.n; i++) {
        if (strcmp(sc->db->indexes.items[i], name) == 0) {
            if (is->if_not_exists)
                return TB_OK;
            return TB_ERRPOS(sc->err, TB_E_EXISTS, sc->offset, "relation \"%s\" already exists",
                             name);
        }
    }
    if (tb_strlist_push(&sc->db->indexes, name) != TB_OK)
        return tb_err_nomem(sc->err);
    return TB_OK;
}

static tb_rc drop_index(stmtctx *sc)
{
    const PgQuery__DropStmt *ds = sc->stmt->drop_stmt;
    tb_strlist *ix = &sc->db->indexes;
    for (size_t i = 0; i < ds->n_objects; i++) {
        const pgnode *o = ds->objects[i];
        const char *name = IS(o, LIST) && o->list->n_items > 0
                               ? str_of(o->list->items[o->list->n_items - 1])
                               : NULL;
        size_t k = 0;
        while (name != NULL && k < ix->n && strcmp(ix->items[k], name) != 0)
            k++;
        if (name == NULL || k == ix->n) {
            if (ds->missing_ok)
                continue;
            return TB_ERRPOS(sc->err, TB_E_NOTFOUND, sc->offset, "index \"%s\" does not exist",
                             name ? name : "?");
        }
        tb_free(ix->items[k]);
        ix->items[k] = ix->items[--ix->n];
    }
    return TB_OK;
}

static tb_rc drop(stmtctx *sc)
{
    const PgQuery__DropStmt *ds = sc->stmt->drop_stmt;
    if (ds->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_INDEX)
        return drop_index(sc);
    bool is_view = ds->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_VIEW;
    bool is_table = ds->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_TABLE ||
                    ds->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_TABLE;
    if (!is_view && !is_table)
        return call_hook(sc, "this DROP statement");
    /* check all first: DROP is all or nothing */
    for (size_t i = 0; i < ds->n_objects; i++) {
        const pgnode *o = ds->objects[i];
        if (!IS(o, LIST) || o->list->n_items == 0)
            return TB_ERRF(sc->err, TB_E_SQL, "bad DROP object");
        const char *name = str_of(o->list->items[o->list->n_items - 1]);
        catentry *e = name ? tb_sql_cat_find(sc->db, name) : NULL;
        if (e == NULL || strcmp(e->name, name) != 0) {
            if (ds->missing_ok)
                continue;
            if (is_view)
                return TB_ERRPOS(sc->err, TB_E_NOTFOUND, sc->offset, "view \"%s\" does not exist",
                                 name ? name : "?");
            return TB_ERRPOS(sc->err, TB_E_NOTFOUND, sc->offset, "table \"%s\" does not exist",
                             name ? name : "?");
        }
        if (is_view && e->kind != TB_CAT_VIEW)
            return TB_ERRPOS(sc->err, TB_E_SQL, sc->offset, "\"%s\" is not a view (use DROP TABLE)",
                             name);
        if (is_table && e->kind == TB_CAT_VIEW)
            return TB_ERRPOS(sc->err, TB_E_SQL, sc->offset, "\"%s\" is not a table (use DROP VIEW)",
                             name);
    }
    for (size_t i = 0; i < ds->n_objects; i++) {
        const pgnode *o = ds->objects[i];
        const char *name = str_of(o->list->items[o->list->n_items - 1]);
        tb_rc rc = tb_catalog_drop(sc->db, name, true, sc->err);
        if (rc != TB_OK)
            return rc;
    }
    return TB_OK;
}

static tb_rc explain(stmtctx *sc)
{
    const PgQuery__ExplainStmt *ex = sc->stmt->explain_stmt;
    for (size_t i = 0; i < ex->n_options; i++) {
        if (IS(ex->options[i], DEF_ELEM) &&
            tb_str_ieq(ex->options[i]->def_elem->defname, "analyze"))
            return TB_ERRPOS(sc->err, TB_E_UNSUPPORTED, ex->options[i]->def_elem->location,
                             "EXPLAIN ANALYZE is not supported");
    }
    if (!IS(ex->query, SELECT_STMT))
        return TB_ERRPOS(sc->err, TB_E_UNSUPPORTED, sc->offset,
                         "EXPLAIN supports SELECT statements only");
    plan_int *p = NULL;
    tb_rc rc = tb_sql_plan_stmt(sc->db, sc->sql, ex->query, NULL, &p, sc->err);
    if (rc != TB_OK)
        return rc;
    tb_buf buf = {0};
    rc = tb_op_explain(p->pub.root, &buf);
    tb_plan_free(&p->pub);
    if (rc != TB_OK || tb_buf_cstr(&buf) == NULL) {
        tb_buf_free(&buf);
        return tb_err_nomem(sc->err);
    }
    /* one row per line */
    uint32_t n = 0;
    for (size_t i = 0; i < buf.len; i++)
        n += buf.data[i] == '\n';
    char **cells = tb_calloc(n + 1, sizeof(char *));
    if (cells == NULL) {
        tb_buf_free(&buf);
        return tb_err_nomem(sc->err);
    }
    uint32_t k = 0;
    char *line = buf.data;
    for (size_t i = 0; i < buf.len; i++) {
        if (buf.data[i] == '\n') {
            buf.data[i] = '\0';
            cells[k++] = line;
            line = buf.data + i + 1;
        }
    }
    const char *cols[1] = {"QUERY PLAN"};
    rc = text_result(sc->db, cols, 1, cells, k, &sc->plan, sc->err);
    tb_free(cells);
    tb_buf_free(&buf);
    return rc;
}

static tb_rc set_var(stmtctx *sc)
{
    const PgQuery__VariableSetStmt *vs = sc->stmt->variable_set_stmt;
    tb_db *db = sc->db;
    if (vs->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET ||
        vs->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_DEFAULT) {
        for (size_t i = 0; i < db->n_settings; i++) {
            if (tb_str_ieq(db->settings[i].key, vs->name)) {
                tb_free(db->settings[i].key);
                tb_free(db->settings[i].value);
                db->settings[i] = db->settings[--db->n_settings];
                return TB_OK;
            }
        }
        if (tb_db_setting(db, vs->name) == NULL)
            return TB_ERRPOS(sc->err, TB_E_NOTFOUND, sc->offset,
                             "unrecognized configuration parameter \"%s\"", vs->name);
        return TB_OK;
    }
    if (vs->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL) {
        for (size_t i = 0; i < db->n_settings; i++) {
            tb_free(db->settings[i].key);
            tb_free(db->settings[i].value);
        }
        db->n_settings = 0;
        return TB_OK;
    }
    if (vs->kind != PG_QUERY__VARIABLE_SET_KIND__VAR_SET_VALUE || vs->n_args != 1)
        return TB_ERRPOS(sc->err, TB_E_UNSUPPORTED, sc->offset, "unsupported SET statement");
    const pgnode *a = vs->args[0];
    char buf[64];
    const char *v = NULL;
    if (IS(a, A_CONST)) {
        const PgQuery__AConst *c = a->a_const;
        if (c->val_case == PG_QUERY__A__CONST__VAL_SVAL)
            v = c->sval->sval;
        else if (c->val_case == PG_QUERY__A__CONST__VAL_IVAL) {
            snprintf(buf, sizeof(buf), "%d", c->ival ? c->ival->ival : 0);
            v = buf;
        } else if (c->val_case == PG_QUERY__A__CONST__VAL_FVAL)
            v = c->fval->fval;
    }
    if (v == NULL)
        return TB_ERRPOS(sc->err, TB_E_SQL, sc->offset, "bad value for SET %s", vs->name);
    tb_rc rc = tb_sql_set_setting(db, vs->name, v, sc->err);
    if (rc != TB_OK)
        sc->err->pos = sc->offset;
    return rc;
}

static tb_rc show(stmtctx *sc)
{
    const char *name = sc->stmt->variable_show_stmt->name;
    tb_db *db = sc->db;
    if (tb_str_ieq(name, "tables")) {
        char **cells = tb_calloc(db->n_entries * 2 + 1, sizeof(char *));
        if (cells == NULL)
            return tb_err_nomem(sc->err);
        for (size_t i = 0; i < db->n_entries; i++) {
            const catentry *e = db->entries[i];
            const char *kind = "table";
            const char *tf = NULL;
            if (e->kind == TB_CAT_VIEW)
                kind = "view";
            else if (e->kind == TB_CAT_CONNECTOR)
                kind = tb_sql_is_file_connector(e->vt, e->ud, &tf) ? tf : e->vt->name;
            cells[2 * i] = e->name;
            cells[2 * i + 1] = (char *)kind;
        }
        const char *cols[2] = {"name", "kind"};
        tb_rc rc = text_result(db, cols, 2, cells, (uint32_t)db->n_entries, &sc->plan, sc->err);
        tb_free(cells);
        return rc;
    }
    const char *v = tb_db_setting(db, name);
    if (v == NULL)
        return TB_ERRPOS(sc->err, TB_E_NOTFOUND, sc->offset,
                         "unrecognized configuration parameter \"%s\"", name);
    char *cells[1] = {(char *)v};
    const char *cols[1] = {name};
    return text_result(db, cols, 1, cells, 1, &sc->plan, sc->err);
}

static const char *stmt_name(const pgnode *n)
{
    switch (n->node_case) {
    case NC(DELETE_STMT):
        return "DELETE";
    case NC(UPDATE_STMT):
        return "UPDATE";
    case NC(MERGE_STMT):
        return "MERGE";
    case NC(TRANSACTION_STMT):
        return "transaction control (BEGIN/COMMIT)";
    case NC(COPY_STMT):
        return "COPY";
    case NC(ALTER_TABLE_STMT):
        return "ALTER TABLE";
    case NC(INDEX_STMT):
        return "CREATE INDEX";
    case NC(TRUNCATE_STMT):
        return "TRUNCATE";
    case NC(REFRESH_MAT_VIEW_STMT):
        return "REFRESH MATERIALIZED VIEW";
    case NC(CREATE_SCHEMA_STMT):
        return "CREATE SCHEMA";
    case NC(CREATE_FUNCTION_STMT):
        return "CREATE FUNCTION";
    default:
        return "this statement";
    }
}

static tb_rc exec_one(stmtctx *sc, bool want_rows)
{
    const pgnode *n = sc->stmt;
    switch (n->node_case) {
    case NC(SELECT_STMT): {
        plan_int *p = NULL;
        tb_rc rc = tb_sql_plan_stmt(sc->db, sc->sql, n, NULL, &p, sc->err);
        if (rc != TB_OK)
            return rc;
        if (want_rows) {
            sc->plan = p;
            return TB_OK;
        }
        /* a result nobody reads is still computed: its errors must surface */
        for (;;) {
            tb_batch *batch = NULL;
            rc = tb_op_next(p->pub.root, &batch, sc->err);
            if (rc != TB_OK || batch == NULL)
                break;
        }
        tb_plan_free(&p->pub);
        return rc;
    }
    case NC(CREATE_STMT):
        return create_table(sc);
    case NC(CREATE_TABLE_AS_STMT):
        return create_table_as(sc);
    case NC(INSERT_STMT):
        return insert(sc);
    case NC(VIEW_STMT):
        return create_view(sc);
    case NC(DROP_STMT):
        return drop(sc);
    case NC(INDEX_STMT):
        return create_index(sc);
    case NC(EXPLAIN_STMT):
        return explain(sc);
    case NC(VARIABLE_SET_STMT):
        return set_var(sc);
    case NC(VARIABLE_SHOW_STMT):
        return show(sc);
    case NC(TRUNCATE_STMT): {
        const PgQuery__TruncateStmt *ts = n->truncate_stmt;
        for (size_t i = 0; i < ts->n_relations; i++) {
            const pgnode *r = ts->relations[i];
            if (!IS(r, RANGE_VAR))
                continue;
            catentry *e = tb_sql_cat_find(sc->db, r->range_var->relname);
            if (e == NULL)
                return tb_sql_cat_notfound(sc->db, r->range_var->relname, r->range_var->location,
                                           sc->err);
            if (e->kind != TB_CAT_TABLE)
                return call_hook(sc, "TRUNCATE of a connector table");
            tb_table_truncate(e->table);
        }
        return TB_OK;
    }
    default:
        return call_hook(sc, stmt_name(n));
    }
}

tb_rc tb_sql_exec(tb_db *db, const char *sql, tb_result **out_result, tb_err *err)
{
    PgQuery__ParseResult *pr = NULL;
    tb_rc rc = tb_sql_parse(sql, &pr, err);
    if (rc != TB_OK)
        return rc;
    plan_int *last = NULL;
    int64_t changes = -1;
    for (size_t i = 0; i < pr->n_stmts; i++) {
        stmtctx sc;
        memset(&sc, 0, sizeof(sc));
        sc.db = db;
        sc.sql = sql;
        sc.stmt = pr->stmts[i]->stmt;
        sc.offset = pr->stmts[i]->stmt_location;
        sc.len = pr->stmts[i]->stmt_len;
        sc.err = err;
        sc.changes = -1;
        bool is_last = i + 1 == pr->n_stmts;
        /* skip leading whitespace so positions of statement-level errors look right */
        while (sql[sc.offset] == ' ' || sql[sc.offset] == '\n' || sql[sc.offset] == '\t' ||
               sql[sc.offset] == '\r') {
            sc.offset++;
            if (sc.len > 0)
                sc.len--;
        }
        tb_err_clear(err);
        rc = exec_one(&sc, is_last && out_result != NULL);
        if (rc != TB_OK) {
            if (err->code == TB_OK)
                TB_ERRF(err, rc, "%s", tb_errstr(rc));
            if (sc.plan != NULL)
                tb_plan_free(&sc.plan->pub);
            tb_sql_parse_free(pr);
            return rc;
        }
        if (is_last) {
            last = sc.plan;
            changes = sc.changes;
        } else if (sc.plan != NULL) {
            tb_plan_free(&sc.plan->pub);
        }
    }
    tb_sql_parse_free(pr);
    if (out_result != NULL) {
        rc = tb_sql_result_new(db, last, changes, out_result);
        if (rc != TB_OK) {
            if (last != NULL)
                tb_plan_free(&last->pub);
            return tb_err_nomem(err);
        }
    } else if (last != NULL) {
        tb_plan_free(&last->pub);
    }
    return TB_OK;
}

void tb_sql_set_stmt_hook(tb_db *db, tb_sql_stmt_hook hook, void *ud)
{
    if (db == NULL)
        return;
    db->hook = hook;
    db->hook_ud = ud;
}
