/*
 * bind.c - the binder: libpg_query parse trees -> logical plans (sql_int.h).
 *
 * Name resolution follows PostgreSQL: a scope is the list of FROM relations (each with
 * an alias and columns); unqualified names must match exactly one visible column
 * (USING merges the join columns into one, hiding the originals from unqualified
 * lookups and from `*`); lookups that fail locally continue in the enclosing query
 * (correlation). GROUP BY names prefer input columns, ORDER BY names prefer output
 * columns, both accept ordinals; select-list aliases work in GROUP BY as PG allows.
 *
 * Aggregation: aggregate calls are bound with their arguments in the FROM scope and
 * replaced by references to fresh aggregate output columns; the surrounding expression
 * is then rewritten so that sub-expressions equal to a GROUP BY expression reference
 * the group output column; a FROM column left over is PostgreSQL's "must appear in the
 * GROUP BY clause" error.
 *
 * Subqueries: uncorrelated scalar / EXISTS / IN subqueries are evaluated while binding
 * (a constant, or a constant IN list), except `x IN (subquery)` as a WHERE conjunct,
 * which becomes a semi join. Correlated ones become an L_APPLY over the clause's input
 * (apply.c re-plans the subquery per outer row with the outer values as constants).
 *
 * Positions: every error carries the byte offset of the offending node in the text
 * given to tb_db_exec; bodies of views (whose text is stored) report the position of
 * the view reference instead.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/agg_list.h"
#include "exec/op_int.h"
#include "sql/sql_int.h"

#define NC(K)    PG_QUERY__NODE__NODE_##K
#define IS(n, K) ((n) != NULL && (n)->node_case == NC(K))

typedef struct scol {
    const char *name;
    int id;
    bool hidden; /* merged by USING: invisible to unqualified names and `*` */
} scol;

typedef struct srel {
    const char *alias; /* NULL: unnamed (USING merge columns, unaliased subquery) */
    scol *cols;
    uint32_t n;
} srel;

typedef struct scope {
    srel *rels;
    uint32_t n_rels;
    struct scope *parent;
    int level;
} scope;

typedef struct selctx {
    int level;
    int outer_min; /* lowest scope level referenced from inside */
    struct selctx *parent;
} selctx;

typedef struct cte {
    tb_table *mat; /* WITH RECURSIVE: the materialized result (freed with the plan) */
    const char *name;
    const PgQuery__CommonTableExpr *def;
    struct cte *prev;
    struct cte *visible; /* CTEs visible from its own body */
} cte;

typedef struct binder {
    qctx *q;
    tb_arena *arena;
    const char *sql;
    tb_err *err;
    int pos_override; /* >= 0: report every position here (view bodies) */
    cte *ctes;
    selctx *sel;
    int view_depth;
    int setop_depth;
} binder;

typedef struct aggctx {
    uint32_t n, cap;
    tb_aggspec *specs;
    int *ids;
    /* correlated subqueries of the SELECT list / HAVING / ORDER BY of an aggregate query:
     * applies attached above the aggregate once it exists (left == NULL until then) */
    lnode **pend;
    uint32_t n_pend, cap_pend;
    /* grouping(args) calls (issue 13): arguments over the FROM scope, result ids */
    uint32_t n_gc, cap_gc;
    tb_expr ***gc_args;
    uint32_t *gc_nargs;
    int *gc_ids;
} aggctx;

typedef struct winctx winctx; /* window functions of a SELECT (issue 13) */

typedef struct ectx {
    binder *b;
    scope *sc;
    const char *clause; /* for "aggregate functions are not allowed in %s" */
    aggctx *agg;        /* NULL: aggregates not allowed here */
    bool in_agg;
    lnode **input; /* where correlated subqueries attach; NULL: not allowed */
    winctx *win;   /* NULL: window functions not allowed here */
} ectx;

typedef struct fromres {
    lnode *node;
    srel *rels;
    uint32_t n_rels;
} fromres;

static tb_rc bind_expr(ectx *c, const pgnode *n, tb_expr **out);
static tb_rc bind_select_stmt(binder *b, const PgQuery__SelectStmt *s, scope *parent, lnode **out);
static tb_rc bind_from(binder *b, const pgnode *item, scope *outer, fromres *out);
static tb_rc add_project(binder *b, lnode **plan, uint32_t n, tb_expr **exprs, int *ids);
static tb_rc add_filter(binder *b, lnode **plan, tb_expr **conds, uint32_t n);

/* ================================================================ small helpers */

static int P(binder *b, int loc)
{
    if (b->pos_override >= 0)
        return b->pos_override;
    return loc;
}

static tb_rc berr(binder *b, tb_rc code, int loc, const char *fmt, ...) TB_PRINTF(4, 5);
static tb_rc berr(binder *b, tb_rc code, int loc, const char *fmt, ...)
{
    char msg[TB_ERR_MSG_CAP];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    TB_ERRF(b->err, code, "%s", msg);
    if (b->err != NULL)
        b->err->pos = P(b, loc);
    return code;
}

static tb_rc nomem(binder *b) { return tb_err_nomem(b->err); }

static const char *str_of(const pgnode *n)
{
    if (IS(n, STRING))
        return n->string->sval;
    return NULL;
}

static char *lower_dup(tb_arena *arena, const char *s)
{
    char *d = tb_arena_strdup(arena, s);
    if (d == NULL)
        return NULL;
    for (char *p = d; *p; p++) {
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    }
    return d;
}

static int newcol(binder *b, const char *name, const char *rel, tb_type t)
{
    return tb_sql_new_col(b->q, name, rel, t);
}

static tb_expr *colref(binder *b, int id, int pos)
{
    tb_expr *e = tb_expr_col(b->arena, id, b->q->cols[id].type);
    if (e != NULL)
        e->pos = pos;
    return e;
}

static lnode *mknode(binder *b, lkind k) { return tb_sql_lnode(b->q, k); }

static tb_rc push_expr(binder *b, tb_expr ***arr, uint32_t *n, uint32_t *cap, tb_expr *e)
{
    if (*n == *cap) {
        uint32_t nc = *cap ? *cap * 2 : 8;
        tb_expr **na = tb_arena_alloc(b->arena, nc * sizeof(*na));
        if (na == NULL)
            return nomem(b);
        if (*n)
            memcpy(na, *arr, *n * sizeof(*na));
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*n)++] = e;
    return TB_OK;
}

/* Split a bound predicate into AND-ed conjuncts appended to arr. */
static tb_rc split_and(binder *b, tb_expr *e, tb_expr ***arr, uint32_t *n, uint32_t *cap)
{
    if (e->kind == TB_EX_AND) {
        for (uint32_t i = 0; i < e->n_args; i++) {
            tb_rc rc = split_and(b, e->args[i], arr, n, cap);
            if (rc != TB_OK)
                return rc;
        }
        return TB_OK;
    }
    return push_expr(b, arr, n, cap, e);
}

/* Output ids array of a node from a list. */
static int *ids_dup(binder *b, const int *ids, uint32_t n)
{
    int *d = tb_arena_alloc(b->arena, (n ? n : 1) * sizeof(int));
    if (d != NULL && n)
        memcpy(d, ids, n * sizeof(int));
    return d;
}

/* ================================================================ types, literals */

tb_rc tb_sql_bind_typename(const PgQuery__TypeName *tn, const char *sql, tb_type *out, tb_err *err)
{
    (void)sql;
    if (tn == NULL || tn->n_names == 0)
        return TB_ERRF(err, TB_E_TYPE, "missing type name");
    const char *name = str_of(tn->names[tn->n_names - 1]);
    if (name == NULL)
        return TB_ERRF(err, TB_E_TYPE, "bad type name");
    if (tn->n_array_bounds > 0 || tn->setof) {
        TB_ERRF(err, TB_E_UNSUPPORTED, "array types are not supported (%s[])", name);
        err->pos = tn->location;
        return TB_E_UNSUPPORTED;
    }
    long mods[2] = {0, 0};
    size_t n_mods = 0;
    for (size_t i = 0; i < tn->n_typmods && i < 2; i++) {
        const pgnode *m = tn->typmods[i];
        if (IS(m, A_CONST) && m->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL) {
            mods[n_mods++] = m->a_const->ival->ival;
        }
    }
    char text[96];
    if (strcmp(name, "bpchar") == 0 || strcmp(name, "varchar") == 0 || strcmp(name, "char") == 0) {
        snprintf(text, sizeof(text), "text");
    } else if (strcmp(name, "interval") == 0) {
        snprintf(text, sizeof(text), "interval");
    } else if (strcmp(name, "float") == 0 && n_mods == 1) {
        snprintf(text, sizeof(text), "%s", mods[0] <= 24 ? "float4" : "float8");
    } else if ((strcmp(name, "numeric") == 0 || strcmp(name, "decimal") == 0) && n_mods) {
        if (n_mods == 1)
            snprintf(text, sizeof(text), "numeric(%ld)", mods[0]);
        else
            snprintf(text, sizeof(text), "numeric(%ld,%ld)", mods[0], mods[1]);
    } else if (strcmp(name, "timestamp") == 0 || strcmp(name, "timestamptz") == 0) {
        snprintf(text, sizeof(text), "timestamp");
    } else {
        snprintf(text, sizeof(text), "%s", name);
    }
    tb_rc rc = tb_type_parse(text, out, err);
    if (rc != TB_OK) {
        if (strchr(text, '(') == NULL) {
            rc = TB_ERRF(err, TB_E_TYPE, "type \"%s\" does not exist", name);
        }
        err->pos = tn->location;
    }
    return rc;
}

/* Numeric literal text (PostgreSQL: integers -> int4/int8/numeric; others numeric). */
static bool parse_numeric_lit(const char *s, tb_value *v)
{
    memset(v, 0, sizeof(*v));
    if (strpbrk(s, ".eE") == NULL) {
        char *end;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (errno == 0 && *end == '\0') {
            if (x >= INT32_MIN && x <= INT32_MAX)
                v->type = tb_type_make(TB_T_INT32);
            else
                v->type = tb_type_make(TB_T_INT64);
            v->u.i = x;
            return true;
        }
    }
    /* digits, point, exponent */
    char digits[80];
    int nd = 0, frac = 0, exp = 0;
    bool point = false, neg = false;
    const char *p = s;
    if (*p == '-' || *p == '+') {
        neg = *p == '-';
        p++;
    }
    for (; *p; p++) {
        if (*p >= '0' && *p <= '9') {
            if (nd == 0 && *p == '0') { /* skip leading zeros */
                if (point)
                    frac++;
                continue;
            }
            if (nd >= 60)
                return false;
            digits[nd++] = *p;
            if (point)
                frac++;
        } else if (*p == '.' && !point) {
            point = true;
        } else if (*p == 'e' || *p == 'E') {
            char *end;
            errno = 0;
            long e = strtol(p + 1, &end, 10);
            if (errno != 0 || *end != '\0' || e > 1000 || e < -1000)
                return false;
            exp = (int)e;
            break;
        } else {
            return false;
        }
    }
    int scale = frac - exp;
    while (scale < 0 && nd < 60) {
        digits[nd++] = '0';
        scale++;
    }
    if (scale < 0)
        return false;
    if (nd == 0)
        digits[nd++] = '0';
    digits[nd] = '\0';
    int prec = nd > scale ? nd : scale;
    if (prec < 1)
        prec = 1;
    if (prec > 38 || scale > 38) {
        v->type = tb_type_make(TB_T_DOUBLE);
        v->u.d = strtod(s, NULL);
        return true;
    }
    tb_i128 u = 0;
    for (int i = 0; i < nd; i++)
        u = u * 10 + (digits[i] - '0');
    v->type = tb_type_decimal(prec, scale);
    v->u.dec = neg ? -u : u;
    return true;
}

static tb_rc bind_const(binder *b, const PgQuery__AConst *ac, tb_expr **out)
{
    tb_value v;
    memset(&v, 0, sizeof(v));
    if (ac->isnull) {
        *out = tb_expr_null(b->arena);
        if (*out == NULL)
            return nomem(b);
        (*out)->pos = P(b, ac->location);
        return TB_OK;
    }
    switch (ac->val_case) {
    case PG_QUERY__A__CONST__VAL_IVAL:
        v.type = tb_type_make(TB_T_INT32);
        v.u.i = ac->ival != NULL ? ac->ival->ival : 0;
        break;
    case PG_QUERY__A__CONST__VAL_FVAL:
        if (!parse_numeric_lit(ac->fval->fval, &v))
            return berr(b, TB_E_SQL, ac->location, "invalid numeric literal \"%s\"",
                        ac->fval->fval);
        break;
    case PG_QUERY__A__CONST__VAL_BOOLVAL:
        v.type = tb_type_make(TB_T_BOOL);
        v.u.b = ac->boolval != NULL && ac->boolval->boolval;
        break;
    case PG_QUERY__A__CONST__VAL_SVAL:
        v.type = tb_type_make(TB_T_STRING);
        v.u.s.ptr = ac->sval->sval;
        v.u.s.len = (uint32_t)strlen(ac->sval->sval);
        break;
    case PG_QUERY__A__CONST__VAL_BSVAL:
        return berr(b, TB_E_UNSUPPORTED, ac->location, "bit string literals are not supported");
    default:
        v.type = tb_type_make(TB_T_INT32);
        v.u.i = 0;
        break;
    }
    *out = tb_expr_const(b->arena, &v);
    if (*out == NULL)
        return nomem(b);
    (*out)->pos = P(b, ac->location);
    return TB_OK;
}

/* A constant string as a typed text value (not PostgreSQL's "unknown"). */
static tb_rc typed_const(binder *b, const tb_value *v, tb_type t, tb_expr **out)
{
    tb_expr *e;
    if (v->is_null || v->type.id == TB_T_NULL) {
        e = tb_expr_null(b->arena);
        if (e == NULL)
            return nomem(b);
        if (t.id == TB_T_NULL) {
            *out = e;
            return TB_OK;
        }
        return tb_expr_cast(b->arena, e, t, -1, out, b->err);
    }
    e = tb_expr_const(b->arena, v);
    if (e == NULL)
        return nomem(b);
    if (v->type.id == TB_T_STRING)
        return tb_expr_cast(b->arena, e, v->type, -1, out, b->err);
    *out = e;
    return TB_OK;
}

/* ================================================================ scopes */

static int cur_level(binder *b) { return b->sel != NULL ? b->sel->level : 0; }

static void note_outer(binder *b, int level)
{
    if (b->sel != NULL && level < b->sel->outer_min)
        b->sel->outer_min = level;
}

/* Collect visible column names of a scope chain for candidates. */
static uint32_t scope_names(scope *sc, const char **names, uint32_t cap)
{
    uint32_t n = 0;
    for (scope *s = sc; s != NULL; s = s->parent) {
        for (uint32_t r = 0; r < s->n_rels; r++) {
            for (uint32_t i = 0; i < s->rels[r].n; i++) {
                if (n < cap && !s->rels[r].cols[i].hidden)
                    names[n++] = s->rels[r].cols[i].name;
            }
        }
    }
    return n;
}

/*
 * Find column `name` (qualified by `rel` if not NULL). Returns TB_OK with *out_id, or
 * an error (does not exist / ambiguous). If quiet, "not found" returns TB_E_NOTFOUND
 * without setting err.
 */
static tb_rc lookup(ectx *c, const char *rel, const char *name, int loc, bool quiet, int *out_id)
{
    binder *b = c->b;
    bool rel_seen = false;
    for (scope *s = c->sc; s != NULL; s = s->parent) {
        for (int pass = 0; pass < 2; pass++) {
            int found = -1, n_found = 0;
            for (uint32_t r = 0; r < s->n_rels; r++) {
                const srel *sr = &s->rels[r];
                if (rel != NULL) {
                    if (sr->alias == NULL ||
                        (pass == 0 ? strcmp(sr->alias, rel) != 0 : !tb_str_ieq(sr->alias, rel)))
                        continue;
                    rel_seen = true;
                }
                for (uint32_t i = 0; i < sr->n; i++) {
                    const scol *sc = &sr->cols[i];
                    if (rel == NULL && sc->hidden)
                        continue;
                    bool m = pass == 0 ? strcmp(sc->name, name) == 0 : tb_str_ieq(sc->name, name);
                    if (m && sc->id != found) {
                        n_found++;
                        found = sc->id;
                    }
                }
            }
            if (n_found > 1) {
                if (rel != NULL)
                    return berr(b, TB_E_SQL, loc, "column reference \"%s.%s\" is ambiguous", rel,
                                name);
                return berr(b, TB_E_SQL, loc, "column reference \"%s\" is ambiguous", name);
            }
            if (n_found == 1) {
                if (s->level < cur_level(b))
                    note_outer(b, s->level);
                *out_id = found;
                return TB_OK;
            }
        }
    }
    if (quiet)
        return TB_E_NOTFOUND;
    if (rel != NULL && !rel_seen)
        return berr(b, TB_E_NOTFOUND, loc, "missing FROM-clause entry for table \"%s\"", rel);
    const char *names[256];
    uint32_t n = scope_names(c->sc, names, 256);
    char cand[400];
    tb_sql_candidates(name, names, n, cand, sizeof(cand));
    if (rel != NULL) {
        if (cand[0])
            return berr(b, TB_E_NOTFOUND, loc, "column %s.%s does not exist (candidates: %s)", rel,
                        name, cand);
        return berr(b, TB_E_NOTFOUND, loc, "column %s.%s does not exist", rel, name);
    }
    if (cand[0])
        return berr(b, TB_E_NOTFOUND, loc, "column \"%s\" does not exist (candidates: %s)", name,
                    cand);
    return berr(b, TB_E_NOTFOUND, loc, "column \"%s\" does not exist", name);
}

static tb_rc make_rel(binder *b, const char *alias, const int *ids, uint32_t n,
                      const PgQuery__Alias *al, int loc, srel *out)
{
    out->alias = alias != NULL ? tb_arena_strdup(b->arena, alias) : NULL;
    out->n = n;
    out->cols = tb_arena_zalloc(b->arena, (n ? n : 1) * sizeof(scol));
    if (out->cols == NULL || (alias != NULL && out->alias == NULL))
        return nomem(b);
    if (al != NULL && al->n_colnames > n)
        return berr(b, TB_E_SQL, loc,
                    "table \"%s\" has %u columns available but %zu columns "
                    "specified",
                    alias ? alias : "?", n, al->n_colnames);
    for (uint32_t i = 0; i < n; i++) {
        out->cols[i].id = ids[i];
        out->cols[i].name = b->q->cols[ids[i]].name;
        if (al != NULL && i < al->n_colnames && str_of(al->colnames[i]) != NULL) {
            out->cols[i].name = tb_arena_strdup(b->arena, str_of(al->colnames[i]));
            if (out->cols[i].name == NULL)
                return nomem(b);
        }
    }
    return TB_OK;
}

static tb_rc one_rel(binder *b, fromres *fr, const srel *r)
{
    fr->rels = tb_arena_alloc(b->arena, sizeof(srel));
    if (fr->rels == NULL)
        return nomem(b);
    fr->rels[0] = *r;
    fr->n_rels = 1;
    return TB_OK;
}

/* ================================================================ subqueries */

/* Bind a subquery at a new nesting level; *correlated tells whether it references an
 * enclosing query's columns. */
static tb_rc bind_subquery(binder *b, const pgnode *n, scope *parent, lnode **out, bool *correlated)
{
    if (!IS(n, SELECT_STMT))
        return berr(b, TB_E_UNSUPPORTED, -1, "unsupported subquery");
    selctx sel = {cur_level(b) + 1, INT_MAX, b->sel};
    b->sel = &sel;
    int saved_setop = b->setop_depth;
    b->setop_depth = 0;
    tb_rc rc = bind_select_stmt(b, n->select_stmt, parent, out);
    b->setop_depth = saved_setop;
    b->sel = sel.parent;
    if (rc != TB_OK)
        return rc;
    if (b->sel != NULL && sel.outer_min < b->sel->outer_min)
        b->sel->outer_min = sel.outer_min;
    if (correlated != NULL)
        *correlated = sel.outer_min < sel.level;
    return TB_OK;
}

static tb_rc attach_apply(ectx *c, lnode *sub, applykind ap, tb_expr *test, bool negate, tb_type t,
                          int loc, tb_expr **out)
{
    binder *b = c->b;
    bool deferred = c->input == NULL && c->agg != NULL && !c->in_agg;
    if (c->input == NULL && !deferred)
        return berr(b, TB_E_UNSUPPORTED, loc, "correlated subqueries are not supported in %s",
                    c->clause);
    if (deferred) {
        aggctx *ag = c->agg;
        lnode *a = mknode(b, L_APPLY);
        int id = newcol(b, ap == AP_EXISTS ? "exists" : "?column?", NULL, t);
        if (a == NULL || id < 0)
            return nomem(b);
        a->right = sub;
        a->ap = ap;
        a->test = test;
        a->negate = negate;
        a->out = tb_arena_alloc(b->arena, sizeof(int));
        if (a->out == NULL)
            return nomem(b);
        a->out[0] = id; /* the result column; the input's columns come later */
        a->n_out = 1;
        if (ag->n_pend == ag->cap_pend) {
            uint32_t nc = ag->cap_pend ? ag->cap_pend * 2 : 4;
            lnode **np = tb_arena_alloc(b->arena, nc * sizeof(*np));
            if (np == NULL)
                return nomem(b);
            if (ag->n_pend)
                memcpy(np, ag->pend, ag->n_pend * sizeof(*np));
            ag->pend = np;
            ag->cap_pend = nc;
        }
        ag->pend[ag->n_pend++] = a;
        *out = colref(b, id, P(b, loc));
        return *out ? TB_OK : nomem(b);
    }
    lnode *in = *c->input;
    lnode *a = mknode(b, L_APPLY);
    if (a == NULL)
        return nomem(b);
    int id = newcol(b, ap == AP_EXISTS ? "exists" : "?column?", NULL, t);
    if (id < 0)
        return nomem(b);
    a->left = in;
    a->right = sub;
    a->ap = ap;
    a->test = test;
    a->negate = negate;
    a->n_out = in->n_out + 1;
    a->out = tb_arena_alloc(b->arena, a->n_out * sizeof(int));
    if (a->out == NULL)
        return nomem(b);
    memcpy(a->out, in->out, in->n_out * sizeof(int));
    a->out[in->n_out] = id;
    a->est = in->est;
    *c->input = a;
    *out = colref(b, id, P(b, loc));
    return *out ? TB_OK : nomem(b);
}

/* Wrap sub so that its single column has type t. */
static tb_rc coerce_sub(binder *b, lnode **sub, tb_type t, int loc)
{
    lnode *s = *sub;
    tb_type st = b->q->cols[s->out[0]].type;
    if (tb_type_eq(st, t))
        return TB_OK;
    tb_expr *e = colref(b, s->out[0], P(b, loc));
    if (e == NULL)
        return nomem(b);
    tb_rc rc = tb_expr_coerce(b->arena, e, t, P(b, loc), &e, b->err);
    if (rc != TB_OK)
        return rc;
    lnode *p = mknode(b, L_PROJECT);
    if (p == NULL)
        return nomem(b);
    int id = newcol(b, b->q->cols[s->out[0]].name, NULL, t);
    if (id < 0)
        return nomem(b);
    p->left = s;
    p->n_out = 1;
    p->out = ids_dup(b, &id, 1);
    p->exprs = tb_arena_alloc(b->arena, sizeof(tb_expr *));
    if (p->out == NULL || p->exprs == NULL)
        return nomem(b);
    p->exprs[0] = e;
    p->est = s->est;
    *sub = p;
    return TB_OK;
}

static tb_rc bind_sublink(ectx *c, const PgQuery__SubLink *sl, tb_expr **out)
{
    binder *b = c->b;
    lnode *sub = NULL;
    bool corr = false;
    tb_rc rc;
    int loc = sl->location;

    rc = bind_subquery(b, sl->subselect, c->sc, &sub, &corr);
    if (rc != TB_OK)
        return rc;
    switch (sl->sub_link_type) {
    case PG_QUERY__SUB_LINK_TYPE__EXPR_SUBLINK: {
        if (sub->n_out != 1)
            return berr(b, TB_E_SQL, loc, "subquery must return only one column");
        tb_type t = b->q->cols[sub->out[0]].type;
        if (corr)
            return attach_apply(c, sub, AP_SCALAR, NULL, false, t, loc, out);
        tb_value *vals = NULL;
        uint32_t n = 0;
        rc = tb_sql_eval_subquery(b->q, sub, 2, &vals, &n, b->err);
        if (rc != TB_OK)
            return rc;
        if (n > 1)
            return berr(b, TB_E_SQL, loc,
                        "more than one row returned by a subquery used as an expression");
        tb_value nullv;
        memset(&nullv, 0, sizeof(nullv));
        nullv.type = t;
        nullv.is_null = true;
        rc = typed_const(b, n == 1 ? &vals[0] : &nullv, t, out);
        if (rc == TB_OK)
            (*out)->pos = P(b, loc);
        return rc;
    }
    case PG_QUERY__SUB_LINK_TYPE__EXISTS_SUBLINK: {
        if (corr)
            return attach_apply(c, sub, AP_EXISTS, NULL, false, tb_type_make(TB_T_BOOL), loc, out);
        tb_value *vals = NULL;
        uint32_t n = 0;
        /* only existence matters: the first column's value is read and ignored */
        rc = tb_sql_eval_subquery(b->q, sub, 1, &vals, &n, b->err);
        if (rc != TB_OK)
            return rc;
        tb_value v;
        memset(&v, 0, sizeof(v));
        v.type = tb_type_make(TB_T_BOOL);
        v.u.b = n > 0;
        *out = tb_expr_const(b->arena, &v);
        return *out ? TB_OK : nomem(b);
    }
    case PG_QUERY__SUB_LINK_TYPE__ANY_SUBLINK:
    case PG_QUERY__SUB_LINK_TYPE__ALL_SUBLINK: {
        const char *op = sl->n_oper_name ? str_of(sl->oper_name[sl->n_oper_name - 1]) : "=";
        bool any = sl->sub_link_type == PG_QUERY__SUB_LINK_TYPE__ANY_SUBLINK;
        if (op == NULL || (any && strcmp(op, "=") != 0) || (!any && strcmp(op, "<>") != 0))
            return berr(b, TB_E_UNSUPPORTED, loc,
                        "only IN / = ANY and NOT IN / <> ALL subqueries are supported");
        if (IS(sl->testexpr, ROW_EXPR))
            return berr(b, TB_E_UNSUPPORTED, loc, "row IN (subquery) is not supported");
        if (sub->n_out != 1)
            return berr(b, TB_E_SQL, loc, "subquery has too many columns");
        tb_expr *test;
        rc = bind_expr(c, sl->testexpr, &test);
        if (rc != TB_OK)
            return rc;
        tb_type types[2] = {test->type, b->q->cols[sub->out[0]].type};
        tb_type t;
        rc = tb_type_common(types, 2, &t, P(b, loc), b->err);
        if (rc != TB_OK)
            return rc;
        if (corr) {
            rc = tb_expr_coerce(b->arena, test, t, P(b, loc), &test, b->err);
            if (rc == TB_OK)
                rc = coerce_sub(b, &sub, t, loc);
            if (rc != TB_OK)
                return rc;
            return attach_apply(c, sub, AP_IN, test, !any, tb_type_make(TB_T_BOOL), loc, out);
        }
        tb_value *vals = NULL;
        uint32_t n = 0;
        rc = tb_sql_eval_subquery(b->q, sub, UINT32_MAX, &vals, &n, b->err);
        if (rc != TB_OK)
            return rc;
        if (n == 0) {
            /* x IN (empty) is false, x NOT IN (empty) true, even for NULL x */
            tb_value v;
            memset(&v, 0, sizeof(v));
            v.type = tb_type_make(TB_T_BOOL);
            v.u.b = !any;
            *out = tb_expr_const(b->arena, &v);
            return *out ? TB_OK : nomem(b);
        }
        tb_expr **args = tb_arena_alloc(b->arena, (n + 1) * sizeof(*args));
        if (args == NULL)
            return nomem(b);
        args[0] = test;
        for (uint32_t i = 0; i < n; i++) {
            rc = typed_const(b, &vals[i], types[1], &args[i + 1]);
            if (rc != TB_OK)
                return rc;
        }
        return tb_expr_make(b->arena, TB_EX_IN, args, n + 1, !any, false, P(b, loc), out, b->err);
    }
    default:
        return berr(b, TB_E_UNSUPPORTED, loc, "this kind of subquery is not supported");
    }
}

/* ================================================================ expressions */

static bool is_agg_name(const char *name)
{
    return strcmp(name, "count") == 0 || strcmp(name, "sum") == 0 || strcmp(name, "avg") == 0 ||
           strcmp(name, "min") == 0 || strcmp(name, "max") == 0;
}

static const char *func_name(const PgQuery__FuncCall *fc)
{
    if (fc->n_funcname == 0)
        return NULL;
    return str_of(fc->funcname[fc->n_funcname - 1]);
}

static tb_rc call(ectx *c, const char *name, tb_expr **args, uint32_t n, int loc, tb_expr **out)
{
    char *nm = lower_dup(c->b->arena, name);
    if (nm == NULL)
        return nomem(c->b);
    return tb_expr_call(c->b->arena, nm, args, n, P(c->b, loc), out, c->b->err);
}

static tb_rc make(ectx *c, tb_expr_kind k, tb_expr **args, uint32_t n, bool negate, bool has_else,
                  int loc, tb_expr **out)
{
    return tb_expr_make(c->b->arena, k, args, n, negate, has_else, P(c->b, loc), out, c->b->err);
}

static tb_rc agg_ref(ectx *c, const char *name, bool star, bool distinct, tb_expr *arg, int loc,
                     tb_expr **out);
static tb_rc agg_add(ectx *c, const char *name, tb_aggspec spec, int loc, tb_expr **out);

static tb_rc bind_agg(ectx *c, const PgQuery__FuncCall *fc, const char *name, tb_expr **out)
{
    binder *b = c->b;
    int loc = fc->location;
    if (c->agg == NULL)
        return berr(b, TB_E_SQL, loc, "aggregate functions are not allowed in %s", c->clause);
    if (c->in_agg)
        return berr(b, TB_E_SQL, loc, "aggregate function calls cannot be nested");
    if (fc->n_agg_order > 0 || fc->agg_within_group)
        return berr(b, TB_E_UNSUPPORTED, loc,
                    "ORDER BY / WITHIN GROUP in aggregates are not supported");
    tb_expr *arg = NULL;
    bool star = fc->agg_star;
    if (!star) {
        if (fc->n_args != 1)
            return berr(b, TB_E_NOTFOUND, loc, "function %s with %zu arguments does not exist",
                        name, fc->n_args);
        ectx ic = *c;
        ic.in_agg = true;
        ic.input = NULL;
        ic.clause = "aggregate arguments";
        tb_rc rc = bind_expr(&ic, fc->args[0], &arg);
        if (rc != TB_OK)
            return rc;
    } else if (strcmp(name, "count") != 0) {
        return berr(b, TB_E_SQL, loc, "%s(*) is not an aggregate; only count(*) is", name);
    }
    if (fc->agg_filter != NULL) {
        /* agg(x) FILTER (WHERE p) = agg(CASE WHEN p THEN x END): NULLs are skipped */
        ectx fcx = *c;
        fcx.in_agg = true;
        fcx.input = NULL;
        fcx.clause = "FILTER";
        tb_expr *p;
        tb_rc rc = bind_expr(&fcx, fc->agg_filter, &p);
        if (rc == TB_OK)
            rc = tb_expr_coerce(b->arena, p, tb_type_make(TB_T_BOOL), p->pos, &p, b->err);
        if (rc != TB_OK)
            return rc;
        if (star) {
            tb_value one;
            memset(&one, 0, sizeof(one));
            one.type = tb_type_make(TB_T_INT32);
            one.u.i = 1;
            arg = tb_expr_const(b->arena, &one);
            if (arg == NULL)
                return nomem(b);
            star = false;
        }
        tb_expr *pair[2] = {p, arg};
        rc = make(c, TB_EX_CASE, pair, 2, false, false, loc, &arg);
        if (rc != TB_OK)
            return rc;
    }
    return agg_ref(c, name, star, fc->agg_distinct, arg, loc, out);
}

/* The output column of aggregate name(arg) in the query's aggregate (added once). */
static tb_rc agg_ref(ectx *c, const char *name, bool star, bool distinct, tb_expr *arg, int loc,
                     tb_expr **out)
{
    binder *b = c->b;
    tb_aggspec spec;
    tb_rc rc = tb_agg_resolve(name, star, distinct, arg, P(b, loc), &spec, b->err);
    if (rc != TB_OK)
        return rc;
    return agg_add(c, name, spec, loc, out);
}

/* The output column of aggregate spec in the query's aggregate (added once). */
static tb_rc agg_add(ectx *c, const char *name, tb_aggspec spec, int loc, tb_expr **out)
{
    binder *b = c->b;
    aggctx *a = c->agg;
    for (uint32_t i = 0; i < a->n; i++) {
        if (a->specs[i].kind == spec.kind && a->specs[i].distinct == spec.distinct &&
            a->specs[i].frac_null == spec.frac_null && a->specs[i].frac == spec.frac &&
            tb_type_eq(a->specs[i].type, spec.type) &&
            tb_sql_expr_equal(a->specs[i].arg, spec.arg)) {
            *out = colref(b, a->ids[i], P(b, loc));
            return *out ? TB_OK : nomem(b);
        }
    }
    if (a->n == a->cap) {
        uint32_t nc = a->cap ? a->cap * 2 : 8;
        tb_aggspec *ns = tb_arena_alloc(b->arena, nc * sizeof(*ns));
        int *ni = tb_arena_alloc(b->arena, nc * sizeof(*ni));
        if (ns == NULL || ni == NULL)
            return nomem(b);
        if (a->n) {
            memcpy(ns, a->specs, a->n * sizeof(*ns));
            memcpy(ni, a->ids, a->n * sizeof(*ni));
        }
        a->specs = ns;
        a->ids = ni;
        a->cap = nc;
    }
    int id = newcol(b, name, NULL, spec.type);
    if (id < 0)
        return nomem(b);
    a->specs[a->n] = spec;
    a->ids[a->n] = id;
    a->n++;
    *out = colref(b, id, P(b, loc));
    return *out ? TB_OK : nomem(b);
}

static tb_rc bind_window_call(ectx *c, const PgQuery__FuncCall *fc, const char *name,
                              tb_expr **out);

/* ================================================================ derived aggregates */

/*
 * bool_and / bool_or / every, the variance family, covariance, correlation and the
 * regr_* aggregates (issue 13) are expressions over count / sum / min / max of their
 * arguments, so they run wherever those do (serial, parallel, eager aggregation).
 * Integer and numeric arguments of the variance family are summed exactly (numeric), so
 * a zero variance is exactly zero (bigint in double precision: its squares overflow
 * numeric(38)); the two-argument ones work in double precision as PostgreSQL's
 * (float8 arguments); the results are double precision (PostgreSQL: numeric for the variance
 * family over integer and numeric arguments; the values agree to ~15 digits).
 */
static const char *const stat_names[] = {
    "bool_and",    "bool_or",        "every",      "stddev",     "stddev_samp", "stddev_pop",
    "variance",    "var_samp",       "var_pop",    "covar_pop",  "covar_samp",  "corr",
    "regr_count",  "regr_sxx",       "regr_syy",   "regr_sxy",   "regr_avgx",   "regr_avgy",
    "regr_slope",  "regr_intercept", "regr_r2"};

static bool is_stat_agg(const char *name)
{
    for (size_t i = 0; i < sizeof(stat_names) / sizeof(stat_names[0]); i++)
        if (strcmp(stat_names[i], name) == 0)
            return true;
    return false;
}

typedef struct sbuild {
    ectx *c;
    int loc;
    tb_rc rc;
} sbuild;

static tb_expr *s_call(sbuild *x, const char *op, tb_expr *l, tb_expr *r)
{
    if (x->rc != TB_OK || l == NULL || (r == NULL && strcmp(op, "sqrt") != 0)) {
        if (x->rc == TB_OK)
            x->rc = nomem(x->c->b);
        return NULL;
    }
    tb_expr *args[2] = {l, r}, *out = NULL;
    x->rc = tb_expr_call(x->c->b->arena, op, args, r != NULL ? 2 : 1, P(x->c->b, x->loc), &out,
                         x->c->b->err);
    return x->rc == TB_OK ? out : NULL;
}

static tb_expr *s_agg(sbuild *x, const char *name, tb_expr *arg)
{
    if (x->rc != TB_OK || arg == NULL)
        return NULL;
    tb_expr *out = NULL;
    x->rc = agg_ref(x->c, name, false, false, arg, x->loc, &out);
    return x->rc == TB_OK ? out : NULL;
}

static tb_expr *s_int(sbuild *x, int64_t v)
{
    tb_value k;
    memset(&k, 0, sizeof(k));
    k.type = tb_type_make(TB_T_INT64);
    k.u.i = v;
    tb_expr *e = tb_expr_const(x->c->b->arena, &k);
    if (e == NULL && x->rc == TB_OK)
        x->rc = nomem(x->c->b);
    return e;
}

static tb_expr *s_cast(sbuild *x, tb_expr *e, tb_type t)
{
    if (x->rc != TB_OK || e == NULL)
        return NULL;
    tb_expr *out = NULL;
    x->rc = tb_expr_cast(x->c->b->arena, e, t, -1, &out, x->c->b->err);
    return x->rc == TB_OK ? out : NULL;
}

/* CASE WHEN cond THEN then END (else NULL). */
static tb_expr *s_when(sbuild *x, tb_expr *cond, tb_expr *then)
{
    if (x->rc != TB_OK || cond == NULL || then == NULL)
        return NULL;
    tb_expr *args[2] = {cond, then}, *out = NULL;
    x->rc = make(x->c, TB_EX_CASE, args, 2, false, false, x->loc, &out);
    return x->rc == TB_OK ? out : NULL;
}

static tb_expr *s_notnull(sbuild *x, tb_expr *e)
{
    if (x->rc != TB_OK || e == NULL)
        return NULL;
    tb_expr *out = NULL;
    x->rc = make(x->c, TB_EX_IS_NULL, &e, 1, true, false, x->loc, &out);
    return x->rc == TB_OK ? out : NULL;
}

/* The argument as summed: double for floating point, else numeric of its scale. */
static tb_expr *s_num(sbuild *x, tb_expr *e)
{
    if (x->rc != TB_OK || e == NULL)
        return NULL;
    if (!tb_type_is_numeric(e->type) && e->type.id != TB_T_NULL) {
        char tn[64];
        x->rc = berr(x->c->b, TB_E_TYPE, x->loc, "function argument must be numeric, not %s",
                     tb_type_name(e->type, tn, sizeof(tn)));
        return NULL;
    }
    /* bigint: squares need 38 digits and the sums overflow numeric(38) */
    if (e->type.id == TB_T_FLOAT || e->type.id == TB_T_DOUBLE || e->type.id == TB_T_NULL ||
        e->type.id == TB_T_INT64)
        return s_cast(x, e, tb_type_make(TB_T_DOUBLE));
    return s_cast(x, e, tb_type_decimal(38, e->type.id == TB_T_DECIMAL ? e->type.scale : 0));
}

static tb_expr *s_dbl(sbuild *x, tb_expr *e) { return s_cast(x, e, tb_type_make(TB_T_DOUBLE)); }

static tb_rc bind_stat_agg(ectx *c, const PgQuery__FuncCall *fc, const char *name, tb_expr **out)
{
    binder *b = c->b;
    int loc = fc->location;
    if (c->agg == NULL)
        return berr(b, TB_E_SQL, loc, "aggregate functions are not allowed in %s", c->clause);
    if (c->in_agg)
        return berr(b, TB_E_SQL, loc, "aggregate function calls cannot be nested");
    if (fc->agg_distinct || fc->n_agg_order > 0 || fc->agg_within_group || fc->agg_star)
        return berr(b, TB_E_UNSUPPORTED, loc, "%s: DISTINCT, ORDER BY and * are not supported",
                    name);
    bool two = strncmp(name, "co", 2) == 0 || strncmp(name, "regr_", 5) == 0;
    if (fc->n_args != (two ? 2u : 1u))
        return berr(b, TB_E_NOTFOUND, loc, "function %s with %zu arguments does not exist", name,
                    fc->n_args);
    ectx ic = *c;
    ic.in_agg = true;
    ic.input = NULL;
    ic.win = NULL;
    ic.clause = "aggregate arguments";
    tb_expr *a[2] = {NULL, NULL};
    for (size_t i = 0; i < fc->n_args; i++) {
        tb_rc rc = bind_expr(&ic, fc->args[i], &a[i]);
        if (rc != TB_OK)
            return rc;
    }
    sbuild x = {c, loc, TB_OK};
    if (fc->agg_filter != NULL) {
        ectx fcx = ic;
        fcx.clause = "FILTER";
        tb_expr *p;
        tb_rc rc = bind_expr(&fcx, fc->agg_filter, &p);
        if (rc == TB_OK)
            rc = tb_expr_coerce(b->arena, p, tb_type_make(TB_T_BOOL), p->pos, &p, b->err);
        if (rc != TB_OK)
            return rc;
        for (size_t i = 0; i < fc->n_args; i++)
            a[i] = s_when(&x, p, a[i]);
    }
    tb_expr *r = NULL;
    if (strcmp(name, "bool_and") == 0 || strcmp(name, "every") == 0 ||
        strcmp(name, "bool_or") == 0) {
        tb_expr *v = a[0];
        tb_rc rc = tb_expr_coerce(b->arena, v, tb_type_make(TB_T_BOOL), v->pos, &v, b->err);
        if (rc != TB_OK) {
            char tn[64];
            return berr(b, TB_E_TYPE, loc, "function %s(%s) does not exist", name,
                        tb_type_name(a[0]->type, tn, sizeof(tn)));
        }
        /* CASE WHEN v THEN 1 WHEN NOT v THEN 0 END: NULL stays NULL */
        tb_expr *nv = NULL;
        rc = make(c, TB_EX_NOT, &v, 1, false, false, loc, &nv);
        if (rc != TB_OK)
            return rc;
        tb_expr *args[4] = {v, s_int(&x, 1), nv, s_int(&x, 0)}, *cs = NULL;
        if (x.rc == TB_OK)
            x.rc = make(c, TB_EX_CASE, args, 4, false, false, loc, &cs);
        r = s_call(&x, "=", s_agg(&x, name[5] == 'o' ? "max" : "min", cs), s_int(&x, 1));
    } else if (!two) {
        tb_expr *v = s_num(&x, a[0]);
        tb_expr *n = s_agg(&x, "count", v), *sx = s_agg(&x, "sum", v);
        tb_expr *sxx = s_agg(&x, "sum", s_call(&x, "*", v, v));
        tb_expr *num = s_dbl(&x, s_call(&x, "-", s_call(&x, "*", n, sxx), s_call(&x, "*", sx, sx)));
        bool pop = strstr(name, "_pop") != NULL;
        tb_expr *den = s_dbl(&x, pop ? s_call(&x, "*", n, n)
                                     : s_call(&x, "*", n, s_call(&x, "-", n, s_int(&x, 1))));
        tb_expr *var = s_when(&x, s_call(&x, ">", n, s_int(&x, pop ? 0 : 1)),
                              s_call(&x, "/", num, den));
        r = strncmp(name, "stddev", 6) == 0 ? s_call(&x, "sqrt", var, NULL) : var;
    } else {
        /* (Y, X): rows where both are non-NULL */
        tb_expr *both = NULL;
        if (x.rc == TB_OK) {
            tb_expr *conj[2] = {s_notnull(&x, a[0]), s_notnull(&x, a[1])};
            if (x.rc == TB_OK)
                x.rc = make(c, TB_EX_AND, conj, 2, false, false, loc, &both);
        }
        /* sums of integer and numeric arguments exact (numeric), then double precision
         * (PostgreSQL's take float8 arguments): a constant X gives Sxx exactly 0, so
         * regr_slope / regr_intercept are NULL there as PostgreSQL's (the difftest found
         * 1e-17 here); floating point and bigint arguments are summed as doubles */
        tb_expr *Y = s_when(&x, both, s_num(&x, a[0]));
        tb_expr *X = s_when(&x, both, s_num(&x, a[1]));
        tb_expr *n = s_agg(&x, "count", X);
        tb_expr *sx = s_agg(&x, "sum", X), *sy = s_agg(&x, "sum", Y);
        tb_expr *nxx = s_dbl(&x, s_call(&x, "-", s_call(&x, "*", n, s_agg(&x, "sum", s_call(&x, "*", X, X))),
                                          s_call(&x, "*", sx, sx)));
        tb_expr *nyy = s_dbl(&x, s_call(&x, "-", s_call(&x, "*", n, s_agg(&x, "sum", s_call(&x, "*", Y, Y))),
                                          s_call(&x, "*", sy, sy)));
        tb_expr *nxy = s_dbl(&x, s_call(&x, "-", s_call(&x, "*", n, s_agg(&x, "sum", s_call(&x, "*", X, Y))),
                                          s_call(&x, "*", sx, sy)));
        tb_expr *dn = s_dbl(&x, n), *zero = s_int(&x, 0);
        tb_expr *pos = s_call(&x, ">", n, zero);
        if (strcmp(name, "regr_count") == 0)
            r = n;
        else if (strcmp(name, "covar_pop") == 0)
            r = s_when(&x, pos, s_call(&x, "/", nxy, s_call(&x, "*", dn, dn)));
        else if (strcmp(name, "covar_samp") == 0)
            r = s_when(&x, s_call(&x, ">", n, s_int(&x, 1)),
                       s_call(&x, "/", nxy, s_dbl(&x, s_call(&x, "*", n, s_call(&x, "-", n, s_int(&x, 1))))));
        else if (strcmp(name, "regr_sxx") == 0)
            r = s_when(&x, pos, s_call(&x, "/", nxx, dn));
        else if (strcmp(name, "regr_syy") == 0)
            r = s_when(&x, pos, s_call(&x, "/", nyy, dn));
        else if (strcmp(name, "regr_sxy") == 0)
            r = s_when(&x, pos, s_call(&x, "/", nxy, dn));
        else if (strcmp(name, "regr_avgx") == 0)
            r = s_when(&x, pos, s_call(&x, "/", s_dbl(&x, sx), dn));
        else if (strcmp(name, "regr_avgy") == 0)
            r = s_when(&x, pos, s_call(&x, "/", s_dbl(&x, sy), dn));
        else if (strcmp(name, "regr_slope") == 0)
            r = s_when(&x, s_call(&x, "<>", nxx, s_dbl(&x, zero)), s_call(&x, "/", nxy, nxx));
        else if (strcmp(name, "regr_intercept") == 0)
            r = s_when(&x, s_call(&x, "<>", nxx, s_dbl(&x, zero)),
                       s_call(&x, "/",
                              s_call(&x, "-", s_call(&x, "*", s_dbl(&x, sy), nxx),
                                     s_call(&x, "*", s_dbl(&x, sx), nxy)),
                              s_call(&x, "*", dn, nxx)));
        else if (strcmp(name, "corr") == 0)
            r = s_when(&x, s_call(&x, ">", s_call(&x, "*", nxx, nyy), s_dbl(&x, zero)),
                       s_call(&x, "/", nxy, s_call(&x, "sqrt", s_call(&x, "*", nxx, nyy), NULL)));
        else { /* regr_r2: 1 when Y is constant, as PostgreSQL */
            tb_expr *args[4] = {s_call(&x, "=", nyy, s_dbl(&x, zero)), s_dbl(&x, s_int(&x, 1)),
                                s_call(&x, "/", s_call(&x, "*", nxy, nxy), s_call(&x, "*", nxx, nyy)),
                                NULL};
            tb_expr *inner = NULL;
            if (x.rc == TB_OK) {
                args[3] = args[2];
                args[2] = s_call(&x, "<>", nyy, s_dbl(&x, zero));
                x.rc = make(c, TB_EX_CASE, args, 4, false, false, loc, &inner);
            }
            r = s_when(&x, s_call(&x, "<>", nxx, s_dbl(&x, zero)), inner);
        }
    }
    if (x.rc != TB_OK)
        return x.rc;
    *out = r;
    return r != NULL ? TB_OK : nomem(b);
}

/* ================================================================ list aggregates */

/*
 * string_agg(x, sep [ORDER BY ...]), percentile_cont(f) / percentile_disc(f) / mode()
 * WITHIN GROUP (ORDER BY x) and approx_count_distinct(x) (issue 13): the hash aggregate
 * collects each group's values packed with their sort keys (exec/agg_list.c).
 */
static bool is_list_agg(const char *name)
{
    return strcmp(name, "string_agg") == 0 || strcmp(name, "percentile_cont") == 0 ||
           strcmp(name, "percentile_disc") == 0 || strcmp(name, "mode") == 0 ||
           strcmp(name, "approx_count_distinct") == 0;
}

/* An untyped literal (string or NULL) as text, as PostgreSQL resolves "unknown". */
static tb_rc settle_text(binder *b, tb_expr **e)
{
    if ((*e)->type.id == TB_T_NULL) /* a string literal is already text */
        return tb_expr_coerce(b->arena, *e, tb_type_make(TB_T_STRING), (*e)->pos, e, b->err);
    return TB_OK;
}

static tb_rc bind_list_agg(ectx *c, const PgQuery__FuncCall *fc, const char *name, tb_expr **out)
{
    binder *b = c->b;
    int loc = fc->location;
    char t1[64], t2[64];
    bool sagg = strcmp(name, "string_agg") == 0, approx = name[0] == 'a';
    bool ordered = !sagg && !approx; /* WITHIN GROUP aggregates */
    if (c->agg == NULL)
        return berr(b, TB_E_SQL, loc, "aggregate functions are not allowed in %s", c->clause);
    if (c->in_agg)
        return berr(b, TB_E_SQL, loc, "aggregate function calls cannot be nested");
    if (fc->agg_star)
        return berr(b, TB_E_SQL, loc, "%s(*) is not an aggregate; only count(*) is", name);
    size_t want = sagg ? 2 : strcmp(name, "mode") == 0 ? 0 : 1;
    if (ordered && !fc->agg_within_group)
        return berr(b, TB_E_SQL, loc, "WITHIN GROUP is required for ordered-set aggregate %s",
                    name);
    if (!ordered && fc->agg_within_group)
        return berr(b, TB_E_SQL, loc, "%s is not an ordered-set aggregate, so it cannot have "
                    "WITHIN GROUP", name);
    if (ordered && fc->n_agg_order != 1)
        return berr(b, TB_E_NOTFOUND, loc, "function %s with %zu ordering arguments does not "
                    "exist", name, fc->n_agg_order);
    if (approx && fc->n_agg_order > 0)
        return berr(b, TB_E_SQL, loc, "ORDER BY in approx_count_distinct has no effect; "
                    "remove it");
    if (ordered && fc->agg_distinct)
        return berr(b, TB_E_SQL, loc, "cannot use DISTINCT with WITHIN GROUP");
    if (fc->n_args != want)
        return berr(b, TB_E_NOTFOUND, loc, "function %s with %zu arguments does not exist", name,
                    fc->n_args);
    ectx ic = *c;
    ic.in_agg = true;
    ic.input = NULL;
    ic.win = NULL;
    ic.clause = "aggregate arguments";
    tb_expr *a[2] = {NULL, NULL};
    for (size_t i = 0; i < fc->n_args; i++) {
        if (IS(fc->args[i], NAMED_ARG_EXPR))
            return berr(b, TB_E_SQL, fc->args[i]->named_arg_expr->location,
                        "aggregate %s does not take named arguments", name);
        tb_rc rc = bind_expr(&ic, fc->args[i], &a[i]);
        if (rc != TB_OK)
            return rc;
    }
    size_t nk = fc->n_agg_order;
    tb_expr **keys = nk ? tb_arena_alloc(b->arena, nk * sizeof(*keys)) : NULL;
    bool *desc = nk ? tb_arena_alloc(b->arena, nk * sizeof(bool)) : NULL;
    bool *nf = nk ? tb_arena_alloc(b->arena, nk * sizeof(bool)) : NULL;
    if (nk && (keys == NULL || desc == NULL || nf == NULL))
        return nomem(b);
    for (size_t i = 0; i < nk; i++) {
        if (!IS(fc->agg_order[i], SORT_BY))
            return berr(b, TB_E_SQL, loc, "bad ORDER BY in %s", name);
        const PgQuery__SortBy *sb = fc->agg_order[i]->sort_by;
        if (sb->sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_USING)
            return berr(b, TB_E_UNSUPPORTED, sb->location, "ORDER BY ... USING is not supported");
        tb_rc rc = bind_expr(&ic, sb->node, &keys[i]);
        if (rc == TB_OK)
            rc = settle_text(b, &keys[i]);
        if (rc != TB_OK)
            return rc;
        desc[i] = sb->sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_DESC;
        nf[i] = sb->sortby_nulls == PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_FIRST ||
                (sb->sortby_nulls != PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_LAST && desc[i]);
        if (fc->agg_distinct && !tb_sql_expr_equal(keys[i], a[0]))
            return berr(b, TB_E_SQL, sb->location, "in an aggregate with DISTINCT, ORDER BY "
                        "expressions must appear in argument list");
    }
    tb_aggspec spec;
    memset(&spec, 0, sizeof(spec));
    spec.distinct = fc->agg_distinct && !approx;
    tb_expr *val = NULL, *sep = NULL;
    tb_rc rc = TB_OK;
    if (sagg) {
        spec.kind = TB_AGG_STRING_AGG;
        spec.type = tb_type_make(TB_T_STRING);
        rc = settle_text(b, &a[0]);
        if (rc == TB_OK)
            rc = settle_text(b, &a[1]);
        if (rc != TB_OK)
            return rc;
        if (a[0]->type.id != TB_T_STRING || a[1]->type.id != TB_T_STRING)
            return berr(b, TB_E_TYPE, loc, "function string_agg(%s, %s) does not exist",
                        tb_type_name(a[0]->type, t1, sizeof(t1)),
                        tb_type_name(a[1]->type, t2, sizeof(t2)));
        val = a[0];
        sep = a[1];
    } else if (approx) {
        spec.kind = TB_AGG_APPROX_DISTINCT;
        spec.type = tb_type_make(TB_T_INT64);
        rc = settle_text(b, &a[0]);
        if (rc != TB_OK)
            return rc;
        val = a[0];
    } else {
        bool cont = strcmp(name, "percentile_cont") == 0;
        spec.kind = cont                                  ? TB_AGG_PCT_CONT
                    : strcmp(name, "percentile_disc") == 0 ? TB_AGG_PCT_DISC
                                                          : TB_AGG_MODE;
        if (a[0] != NULL) { /* the fraction: a constant, as PostgreSQL's direct argument */
            tb_value fv;
            tb_expr *f = a[0];
            if (!tb_expr_is_const(f))
                return berr(b, TB_E_UNSUPPORTED, f->pos >= 0 ? f->pos : loc,
                            "the fraction of %s must be a constant", name);
            rc = tb_expr_coerce(b->arena, f, tb_type_make(TB_T_DOUBLE), f->pos, &f, b->err);
            if (rc == TB_OK)
                rc = tb_expr_eval_const(f, b->arena, &fv, b->err);
            if (rc != TB_OK)
                return rc;
            spec.frac_null = fv.is_null;
            spec.frac = fv.is_null ? 0 : fv.u.d;
            if (!fv.is_null && (isnan(spec.frac) || spec.frac < 0 || spec.frac > 1))
                return berr(b, TB_E_RANGE, f->pos >= 0 ? f->pos : loc,
                            "percentile value %g is not between 0 and 1", spec.frac);
        }
        val = keys[0];
        if (cont) {
            if (!tb_type_is_numeric(val->type))
                return berr(b, TB_E_TYPE, loc, "function %s(double precision, %s) does not "
                            "exist", name, tb_type_name(val->type, t1, sizeof(t1)));
            rc = tb_expr_cast(b->arena, val, tb_type_make(TB_T_DOUBLE), -1, &val, b->err);
            if (rc != TB_OK)
                return rc;
            keys[0] = val;
            spec.type = tb_type_make(TB_T_DOUBLE);
        } else {
            spec.type = val->type;
        }
    }
    if (fc->agg_filter != NULL) {
        ectx fcx = ic;
        fcx.clause = "FILTER";
        tb_expr *p;
        rc = bind_expr(&fcx, fc->agg_filter, &p);
        if (rc == TB_OK)
            rc = tb_expr_coerce(b->arena, p, tb_type_make(TB_T_BOOL), p->pos, &p, b->err);
        if (rc != TB_OK)
            return rc;
        tb_expr *pair[2] = {p, val};
        rc = make(c, TB_EX_CASE, pair, 2, false, false, loc, &val);
        if (rc != TB_OK)
            return rc;
    }
    if (approx)
        spec.arg = val;
    else
        rc = tb_agg_pack_call(b->arena, val, sep, keys, desc, nf, (uint32_t)nk, P(b, loc),
                              &spec.arg, b->err);
    if (rc != TB_OK)
        return rc;
    return agg_add(c, name, spec, loc, out);
}

/* grouping(a, b, ...) (issue 13): a bit per argument, set when the row's grouping set
 * does not group by it; resolved per set in expand_gsets. */
static tb_rc bind_grouping(ectx *c, pgnode *const *fargs, size_t n_args, int loc,
                           tb_expr **out)
{
    binder *b = c->b;
    if (c->agg == NULL || c->in_agg)
        return berr(b, TB_E_SQL, loc, "grouping operations are not allowed in %s", c->clause);
    if (n_args == 0 || n_args > 31)
        return berr(b, TB_E_SQL, loc, "GROUPING must have between 1 and 31 arguments");
    aggctx *a = c->agg;
    tb_expr **args = tb_arena_alloc(b->arena, n_args * sizeof(*args));
    if (args == NULL)
        return nomem(b);
    ectx ic = *c;
    ic.in_agg = true;
    ic.input = NULL;
    ic.win = NULL;
    ic.clause = "arguments to GROUPING";
    for (size_t i = 0; i < n_args; i++) {
        tb_rc rc = bind_expr(&ic, fargs[i], &args[i]);
        if (rc != TB_OK)
            return rc;
    }
    if (a->n_gc == a->cap_gc) {
        uint32_t nc = a->cap_gc ? a->cap_gc * 2 : 4;
        tb_expr ***na = tb_arena_alloc(b->arena, nc * sizeof(*na));
        uint32_t *nn = tb_arena_alloc(b->arena, nc * sizeof(*nn));
        int *ni = tb_arena_alloc(b->arena, nc * sizeof(*ni));
        if (na == NULL || nn == NULL || ni == NULL)
            return nomem(b);
        if (a->n_gc) {
            memcpy(na, a->gc_args, a->n_gc * sizeof(*na));
            memcpy(nn, a->gc_nargs, a->n_gc * sizeof(*nn));
            memcpy(ni, a->gc_ids, a->n_gc * sizeof(*ni));
        }
        a->gc_args = na;
        a->gc_nargs = nn;
        a->gc_ids = ni;
        a->cap_gc = nc;
    }
    int id = newcol(b, "grouping", NULL, tb_type_make(TB_T_INT32));
    if (id < 0)
        return nomem(b);
    a->gc_args[a->n_gc] = args;
    a->gc_nargs[a->n_gc] = (uint32_t)n_args;
    a->gc_ids[a->n_gc] = id;
    a->n_gc++;
    *out = colref(b, id, P(b, loc));
    return *out ? TB_OK : nomem(b);
}

/*
 * Named arguments of scalar functions (issue 13): PostgreSQL's parameter names, in
 * order. A call's positional arguments come first, then `name => value` ones in any
 * order; they are put in place and the call resolves as a positional one. Parameters
 * with a default (make_interval's, all 0) may be left out; `with_defaults` counts the
 * leading parameters that have none.
 */
typedef struct named_fn {
    const char *name;
    uint32_t required;
    const char *params[8];
} named_fn;

static const named_fn named_fns[] = {
    {"make_interval", 0, {"years", "months", "weeks", "days", "hours", "mins", "secs", NULL}},
    {"make_date", 3, {"year", "month", "day", NULL}},
    {"make_timestamp", 6, {"year", "month", "day", "hour", "min", "sec", NULL}},
};

static tb_rc bind_named_call(ectx *c, const PgQuery__FuncCall *fc, const char *name,
                             tb_expr **out)
{
    binder *b = c->b;
    const named_fn *nf = NULL;
    for (size_t k = 0; k < sizeof(named_fns) / sizeof(named_fns[0]); k++)
        if (strcmp(named_fns[k].name, name) == 0)
            nf = &named_fns[k];
    const pgnode *first = NULL;
    for (size_t i = 0; i < fc->n_args && first == NULL; i++)
        if (IS(fc->args[i], NAMED_ARG_EXPR))
            first = fc->args[i];
    if (nf == NULL)
        return berr(b, TB_E_SQL, first->named_arg_expr->location,
                    "function %s does not take named arguments", name);
    uint32_t np = 0;
    while (np < 8 && nf->params[np] != NULL)
        np++;
    if (fc->n_args > np)
        return berr(b, TB_E_NOTFOUND, fc->location, "function %s with %zu arguments does not "
                    "exist", name, fc->n_args);
    tb_expr *slot[8] = {NULL};
    bool named = false;
    for (size_t i = 0; i < fc->n_args; i++) {
        const pgnode *a = fc->args[i];
        uint32_t at = (uint32_t)i;
        int aloc = -1;
        if (IS(a, NAMED_ARG_EXPR)) {
            const char *an = a->named_arg_expr->name;
            aloc = a->named_arg_expr->location;
            named = true;
            for (at = 0; at < np; at++)
                if (an != NULL && strcmp(nf->params[at], an) == 0)
                    break;
            if (at == np) {
                char list[128];
                size_t ll = 0;
                list[0] = 0;
                for (uint32_t k = 0; k < np && ll < sizeof(list); k++)
                    ll += (size_t)snprintf(list + ll, sizeof(list) - ll, "%s%s", k ? ", " : "",
                                           nf->params[k]);
                return berr(b, TB_E_NOTFOUND, aloc, "function %s has no parameter \"%s\" "
                            "(parameters: %s)", name, an ? an : "", list);
            }
            if (slot[at] != NULL)
                return berr(b, TB_E_SQL, aloc, "argument name \"%s\" used more than once", an);
            a = a->named_arg_expr->arg;
        } else if (named) {
            return berr(b, TB_E_SQL, fc->location, "positional argument cannot follow named "
                        "argument");
        }
        tb_rc rc = bind_expr(c, a, &slot[at]);
        if (rc != TB_OK)
            return rc;
    }
    /* the parameters up to the last one given; the rest take their defaults */
    uint32_t n = 0;
    for (uint32_t k = 0; k < np; k++)
        if (slot[k] != NULL)
            n = k + 1;
    for (uint32_t k = 0; k < TB_MAX(n, nf->required); k++) {
        if (slot[k] != NULL)
            continue;
        if (k < nf->required)
            return berr(b, TB_E_NOTFOUND, fc->location, "function %s: argument %s is missing",
                        name, nf->params[k]);
        tb_value z;
        memset(&z, 0, sizeof(z));
        z.type = tb_type_make(TB_T_INT32); /* every default is 0 */
        slot[k] = tb_expr_const(b->arena, &z);
        if (slot[k] == NULL)
            return nomem(b);
    }
    tb_expr **args = tb_arena_alloc(b->arena, (n ? n : 1) * sizeof(*args));
    if (args == NULL)
        return nomem(b);
    memcpy(args, slot, n * sizeof(*args));
    return tb_expr_call(b->arena, name, args, n, P(b, fc->location), out, b->err);
}

static tb_rc bind_func(ectx *c, const PgQuery__FuncCall *fc, tb_expr **out)
{
    binder *b = c->b;
    const char *name = func_name(fc);
    int loc = fc->location;
    if (name == NULL)
        return berr(b, TB_E_SQL, loc, "bad function name");
    char *lname = lower_dup(b->arena, name);
    if (lname == NULL)
        return nomem(b);
    if (fc->over != NULL)
        return bind_window_call(c, fc, lname, out);
    if (is_agg_name(lname) && (fc->agg_star || fc->n_args == 1))
        return bind_agg(c, fc, lname, out);
    if (is_stat_agg(lname))
        return bind_stat_agg(c, fc, lname, out);
    if (is_list_agg(lname))
        return bind_list_agg(c, fc, lname, out);
    if (fc->agg_star || fc->agg_distinct)
        return berr(b, TB_E_SQL, loc, "%s is not an aggregate function", lname);
    if (tb_sql_find_tablefunc(lname) != NULL)
        return berr(b, TB_E_SQL, loc, "table function %s can only be used in FROM", lname);
    for (size_t i = 0; i < fc->n_args; i++)
        if (IS(fc->args[i], NAMED_ARG_EXPR))
            return bind_named_call(c, fc, lname, out);
    tb_expr **args = NULL;
    if (fc->n_args > 0) {
        args = tb_arena_alloc(b->arena, fc->n_args * sizeof(*args));
        if (args == NULL)
            return nomem(b);
    }
    for (size_t i = 0; i < fc->n_args; i++) {
        tb_rc rc = bind_expr(c, fc->args[i], &args[i]);
        if (rc != TB_OK)
            return rc;
    }
    return tb_expr_call(b->arena, lname, args, (uint32_t)fc->n_args, P(b, loc), out, b->err);
}

static tb_rc bind_colref(ectx *c, const PgQuery__ColumnRef *cr, tb_expr **out)
{
    binder *b = c->b;
    const char *rel = NULL, *name = NULL;
    size_t n = cr->n_fields;
    if (n == 0)
        return berr(b, TB_E_SQL, cr->location, "bad column reference");
    if (IS(cr->fields[n - 1], A_STAR))
        return berr(b, TB_E_SQL, cr->location, "\"*\" is not allowed here");
    name = str_of(cr->fields[n - 1]);
    if (n >= 2)
        rel = str_of(cr->fields[n - 2]);
    if (name == NULL || (n >= 2 && rel == NULL))
        return berr(b, TB_E_SQL, cr->location, "bad column reference");
    int id;
    tb_rc rc = lookup(c, rel, name, cr->location, false, &id);
    if (rc != TB_OK)
        return rc;
    *out = colref(b, id, P(b, cr->location));
    return *out ? TB_OK : nomem(b);
}

/* INTERVAL '10' SECOND: the typmod names the unit of a bare number. */
static const char *interval_unit(const PgQuery__TypeName *tn)
{
    if (tn->n_typmods == 0)
        return NULL;
    const pgnode *m = tn->typmods[0];
    if (!IS(m, A_CONST) || m->a_const->val_case != PG_QUERY__A__CONST__VAL_IVAL)
        return NULL;
    int mask = m->a_const->ival->ival;
    if (mask & (1 << 12))
        return "seconds";
    if (mask & (1 << 11))
        return "minutes";
    if (mask & (1 << 10))
        return "hours";
    if (mask & (1 << 3))
        return "days";
    if (mask & (1 << 1))
        return "months";
    if (mask & (1 << 2))
        return "years";
    return NULL;
}

static tb_rc bind_typecast(ectx *c, const PgQuery__TypeCast *tc, tb_expr **out)
{
    binder *b = c->b;
    tb_type t;
    int loc =
        tc->location >= 0 ? tc->location : (tc->type_name != NULL ? tc->type_name->location : -1);
    tb_rc rc = tb_sql_bind_typename(tc->type_name, b->sql, &t, b->err);
    if (rc != TB_OK) {
        if (b->err != NULL)
            b->err->pos = P(b, b->err->pos);
        return rc;
    }
    tb_expr *arg;
    const pgnode *a = tc->arg;
    if (t.id == TB_T_INTERVAL && IS(a, A_CONST) &&
        a->a_const->val_case == PG_QUERY__A__CONST__VAL_SVAL) {
        const char *unit = interval_unit(tc->type_name);
        const char *s = a->a_const->sval->sval;
        char *endp;
        if (unit != NULL && *s != '\0' && (strtod(s, &endp), *endp == '\0')) {
            tb_value v;
            memset(&v, 0, sizeof(v));
            char *txt = tb_arena_sprintf(b->arena, "%s %s", s, unit);
            if (txt == NULL)
                return nomem(b);
            v.type = tb_type_make(TB_T_STRING);
            v.u.s.ptr = txt;
            v.u.s.len = (uint32_t)strlen(txt);
            arg = tb_expr_const(b->arena, &v);
            if (arg == NULL)
                return nomem(b);
            arg->pos = P(b, a->a_const->location);
            return tb_expr_cast(b->arena, arg, t, P(b, loc), out, b->err);
        }
    }
    rc = bind_expr(c, a, &arg);
    if (rc != TB_OK)
        return rc;
    return tb_expr_cast(b->arena, arg, t, P(b, loc), out, b->err);
}

static tb_rc bind_aexpr(ectx *c, const PgQuery__AExpr *ae, tb_expr **out)
{
    binder *b = c->b;
    const char *op = ae->n_name ? str_of(ae->name[ae->n_name - 1]) : NULL;
    int loc = ae->location;
    tb_expr *l = NULL, *r = NULL;
    tb_rc rc;

    switch (ae->kind) {
    case PG_QUERY__A__EXPR__KIND__AEXPR_OP:
        if (op == NULL)
            return berr(b, TB_E_SQL, loc, "bad operator");
        if (ae->lexpr != NULL) {
            rc = bind_expr(c, ae->lexpr, &l);
            if (rc != TB_OK)
                return rc;
        }
        rc = bind_expr(c, ae->rexpr, &r);
        if (rc != TB_OK)
            return rc;
        if (l == NULL) {
            if (strcmp(op, "+") == 0) {
                *out = r;
                return TB_OK;
            }
            return call(c, op, &r, 1, loc, out);
        } else {
            tb_expr *args[2] = {l, r};
            return call(c, op, args, 2, loc, out);
        }
    case PG_QUERY__A__EXPR__KIND__AEXPR_LIKE:
    case PG_QUERY__A__EXPR__KIND__AEXPR_ILIKE: {
        if (op == NULL)
            return berr(b, TB_E_SQL, loc, "bad operator");
        rc = bind_expr(c, ae->lexpr, &l);
        if (rc == TB_OK)
            rc = bind_expr(c, ae->rexpr, &r);
        if (rc != TB_OK)
            return rc;
        tb_expr *args[2] = {l, r};
        return call(c, op, args, 2, loc, out);
    }
    case PG_QUERY__A__EXPR__KIND__AEXPR_NULLIF: {
        rc = bind_expr(c, ae->lexpr, &l);
        if (rc == TB_OK)
            rc = bind_expr(c, ae->rexpr, &r);
        if (rc != TB_OK)
            return rc;
        tb_expr *args[2] = {l, r};
        return call(c, "nullif", args, 2, loc, out);
    }
    case PG_QUERY__A__EXPR__KIND__AEXPR_IN: {
        if (!IS(ae->rexpr, LIST))
            return berr(b, TB_E_SQL, loc, "bad IN list");
        const PgQuery__List *lst = ae->rexpr->list;
        rc = bind_expr(c, ae->lexpr, &l);
        if (rc != TB_OK)
            return rc;
        tb_expr **args = tb_arena_alloc(b->arena, (lst->n_items + 1) * sizeof(*args));
        if (args == NULL)
            return nomem(b);
        args[0] = l;
        for (size_t i = 0; i < lst->n_items; i++) {
            rc = bind_expr(c, lst->items[i], &args[i + 1]);
            if (rc != TB_OK)
                return rc;
        }
        bool negate = op != NULL && strcmp(op, "<>") == 0;
        return make(c, TB_EX_IN, args, (uint32_t)lst->n_items + 1, negate, false, loc, out);
    }
    case PG_QUERY__A__EXPR__KIND__AEXPR_BETWEEN:
    case PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN:
    case PG_QUERY__A__EXPR__KIND__AEXPR_BETWEEN_SYM:
    case PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN_SYM: {
        if (!IS(ae->rexpr, LIST) || ae->rexpr->list->n_items != 2)
            return berr(b, TB_E_SQL, loc, "bad BETWEEN");
        bool neg = ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN ||
                   ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN_SYM;
        bool sym = ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_BETWEEN_SYM ||
                   ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN_SYM;
        tb_expr *lo, *hi, *x;
        rc = bind_expr(c, ae->lexpr, &x);
        if (rc == TB_OK)
            rc = bind_expr(c, ae->rexpr->list->items[0], &lo);
        if (rc == TB_OK)
            rc = bind_expr(c, ae->rexpr->list->items[1], &hi);
        if (rc != TB_OK)
            return rc;
        tb_expr *parts[2];
        for (int k = 0; k < (sym ? 2 : 1); k++) {
            tb_expr *a1[2] = {x, k ? hi : lo}, *a2[2] = {x, k ? lo : hi}, *c1, *c2;
            rc = call(c, neg ? "<" : ">=", a1, 2, loc, &c1);
            if (rc == TB_OK)
                rc = call(c, neg ? ">" : "<=", a2, 2, loc, &c2);
            if (rc != TB_OK)
                return rc;
            tb_expr *pair[2] = {c1, c2};
            rc = make(c, neg ? TB_EX_OR : TB_EX_AND, pair, 2, false, false, loc, &parts[k]);
            if (rc != TB_OK)
                return rc;
        }
        if (!sym) {
            *out = parts[0];
            return TB_OK;
        }
        return make(c, neg ? TB_EX_AND : TB_EX_OR, parts, 2, false, false, loc, out);
    }
    case PG_QUERY__A__EXPR__KIND__AEXPR_DISTINCT:
    case PG_QUERY__A__EXPR__KIND__AEXPR_NOT_DISTINCT: {
        bool distinct = ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_DISTINCT;
        rc = bind_expr(c, ae->lexpr, &l);
        if (rc == TB_OK)
            rc = bind_expr(c, ae->rexpr, &r);
        if (rc != TB_OK)
            return rc;
        /* CASE WHEN l IS NULL THEN r IS [NOT] NULL WHEN r IS NULL THEN d ELSE l <op> r */
        tb_expr *lnull, *rnull, *rnull2, *cmp, *dconst;
        rc = make(c, TB_EX_IS_NULL, &l, 1, false, false, loc, &lnull);
        if (rc == TB_OK)
            rc = make(c, TB_EX_IS_NULL, &r, 1, distinct, false, loc, &rnull);
        if (rc == TB_OK)
            rc = make(c, TB_EX_IS_NULL, &r, 1, false, false, loc, &rnull2);
        if (rc != TB_OK)
            return rc;
        tb_expr *args2[2] = {l, r};
        rc = call(c, distinct ? "<>" : "=", args2, 2, loc, &cmp);
        if (rc != TB_OK)
            return rc;
        tb_value v;
        memset(&v, 0, sizeof(v));
        v.type = tb_type_make(TB_T_BOOL);
        v.u.b = distinct;
        dconst = tb_expr_const(b->arena, &v);
        if (dconst == NULL)
            return nomem(b);
        tb_expr *cargs[5] = {lnull, rnull, rnull2, dconst, cmp};
        return make(c, TB_EX_CASE, cargs, 5, false, true, loc, out);
    }
    case PG_QUERY__A__EXPR__KIND__AEXPR_OP_ANY:
    case PG_QUERY__A__EXPR__KIND__AEXPR_OP_ALL:
        return berr(b, TB_E_UNSUPPORTED, loc, "ANY/ALL over arrays is not supported");
    case PG_QUERY__A__EXPR__KIND__AEXPR_SIMILAR:
        return berr(b, TB_E_UNSUPPORTED, loc, "SIMILAR TO is not supported");
    default:
        return berr(b, TB_E_UNSUPPORTED, loc, "unsupported operator expression");
    }
}

static tb_rc bind_case(ectx *c, const PgQuery__CaseExpr *ce, tb_expr **out)
{
    binder *b = c->b;
    tb_expr *arg = NULL;
    tb_rc rc;
    if (ce->arg != NULL) {
        rc = bind_expr(c, ce->arg, &arg);
        if (rc != TB_OK)
            return rc;
    }
    uint32_t n = (uint32_t)ce->n_args * 2 + (ce->defresult != NULL ? 1 : 0);
    tb_expr **args = tb_arena_alloc(b->arena, (n ? n : 1) * sizeof(*args));
    if (args == NULL)
        return nomem(b);
    for (size_t i = 0; i < ce->n_args; i++) {
        if (!IS(ce->args[i], CASE_WHEN))
            return berr(b, TB_E_SQL, ce->location, "bad CASE");
        const PgQuery__CaseWhen *w = ce->args[i]->case_when;
        tb_expr *cond, *res;
        rc = bind_expr(c, w->expr, &cond);
        if (rc != TB_OK)
            return rc;
        if (arg != NULL) {
            tb_expr *pair[2] = {arg, cond};
            rc = call(c, "=", pair, 2, w->location, &cond);
            if (rc != TB_OK)
                return rc;
        }
        rc = bind_expr(c, w->result, &res);
        if (rc != TB_OK)
            return rc;
        args[2 * i] = cond;
        args[2 * i + 1] = res;
    }
    if (ce->defresult != NULL) {
        rc = bind_expr(c, ce->defresult, &args[n - 1]);
        if (rc != TB_OK)
            return rc;
    }
    return make(c, TB_EX_CASE, args, n, false, ce->defresult != NULL, ce->location, out);
}

static tb_rc bind_list_call(ectx *c, const char *name, pgnode **items, size_t n, int loc,
                            tb_expr **out)
{
    tb_expr **args = tb_arena_alloc(c->b->arena, (n ? n : 1) * sizeof(*args));
    if (args == NULL)
        return nomem(c->b);
    for (size_t i = 0; i < n; i++) {
        tb_rc rc = bind_expr(c, items[i], &args[i]);
        if (rc != TB_OK)
            return rc;
    }
    return call(c, name, args, (uint32_t)n, loc, out);
}

static tb_rc bind_booltest(ectx *c, const PgQuery__BooleanTest *bt, tb_expr **out)
{
    binder *b = c->b;
    tb_expr *x;
    int loc = bt->location;
    tb_rc rc = bind_expr(c, bt->arg, &x);
    if (rc != TB_OK)
        return rc;
    rc = tb_expr_coerce(b->arena, x, tb_type_make(TB_T_BOOL), P(b, loc), &x, b->err);
    if (rc != TB_OK)
        return rc;
    switch (bt->booltesttype) {
    case PG_QUERY__BOOL_TEST_TYPE__IS_UNKNOWN:
    case PG_QUERY__BOOL_TEST_TYPE__IS_NOT_UNKNOWN:
        return make(c, TB_EX_IS_NULL, &x, 1,
                    bt->booltesttype == PG_QUERY__BOOL_TEST_TYPE__IS_NOT_UNKNOWN, false, loc, out);
    default:
        break;
    }
    bool want_false = bt->booltesttype == PG_QUERY__BOOL_TEST_TYPE__IS_FALSE ||
                      bt->booltesttype == PG_QUERY__BOOL_TEST_TYPE__IS_NOT_FALSE;
    bool negate = bt->booltesttype == PG_QUERY__BOOL_TEST_TYPE__IS_NOT_TRUE ||
                  bt->booltesttype == PG_QUERY__BOOL_TEST_TYPE__IS_NOT_FALSE;
    if (want_false) {
        tb_expr *nx;
        rc = make(c, TB_EX_NOT, &x, 1, false, false, loc, &nx);
        if (rc != TB_OK)
            return rc;
        x = nx;
    }
    tb_value v;
    memset(&v, 0, sizeof(v));
    v.type = tb_type_make(TB_T_BOOL);
    tb_expr *f = tb_expr_const(b->arena, &v);
    if (f == NULL)
        return nomem(b);
    tb_expr *args[2] = {x, f}, *co;
    rc = call(c, "coalesce", args, 2, loc, &co);
    if (rc != TB_OK)
        return rc;
    if (negate)
        return make(c, TB_EX_NOT, &co, 1, false, false, loc, out);
    *out = co;
    return TB_OK;
}

static tb_rc bind_expr(ectx *c, const pgnode *n, tb_expr **out)
{
    binder *b = c->b;
    tb_rc rc;
    if (n == NULL)
        return berr(b, TB_E_SQL, -1, "missing expression");
    switch (n->node_case) {
    case NC(A_CONST):
        return bind_const(b, n->a_const, out);
    case NC(COLUMN_REF):
        return bind_colref(c, n->column_ref, out);
    case NC(A_EXPR):
        return bind_aexpr(c, n->a_expr, out);
    case NC(FUNC_CALL):
        return bind_func(c, n->func_call, out);
    case NC(GROUPING_FUNC):
        return bind_grouping(c, n->grouping_func->args, n->grouping_func->n_args,
                             n->grouping_func->location, out);
    case NC(TYPE_CAST):
        return bind_typecast(c, n->type_cast, out);
    case NC(BOOL_EXPR): {
        const PgQuery__BoolExpr *be = n->bool_expr;
        tb_expr **args = tb_arena_alloc(b->arena, (be->n_args ? be->n_args : 1) * sizeof(*args));
        if (args == NULL)
            return nomem(b);
        for (size_t i = 0; i < be->n_args; i++) {
            rc = bind_expr(c, be->args[i], &args[i]);
            if (rc != TB_OK)
                return rc;
        }
        tb_expr_kind k = be->boolop == PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR  ? TB_EX_AND
                         : be->boolop == PG_QUERY__BOOL_EXPR_TYPE__OR_EXPR ? TB_EX_OR
                                                                           : TB_EX_NOT;
        return make(c, k, args, (uint32_t)be->n_args, false, false, be->location, out);
    }
    case NC(NULL_TEST): {
        tb_expr *x;
        rc = bind_expr(c, n->null_test->arg, &x);
        if (rc != TB_OK)
            return rc;
        return make(c, TB_EX_IS_NULL, &x, 1,
                    n->null_test->nulltesttype == PG_QUERY__NULL_TEST_TYPE__IS_NOT_NULL, false,
                    n->null_test->location, out);
    }
    case NC(BOOLEAN_TEST):
        return bind_booltest(c, n->boolean_test, out);
    case NC(CASE_EXPR):
        return bind_case(c, n->case_expr, out);
    case NC(COALESCE_EXPR):
        return bind_list_call(c, "coalesce", n->coalesce_expr->args, n->coalesce_expr->n_args,
                              n->coalesce_expr->location, out);
    case NC(MIN_MAX_EXPR):
        return bind_list_call(
            c, n->min_max_expr->op == PG_QUERY__MIN_MAX_OP__IS_GREATEST ? "greatest" : "least",
            n->min_max_expr->args, n->min_max_expr->n_args, n->min_max_expr->location, out);
    case NC(SQLVALUE_FUNCTION): {
        const PgQuery__SQLValueFunction *f = n->sqlvalue_function;
        const char *name = NULL;
        switch (f->op) {
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_DATE:
            name = "current_date";
            break;
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP:
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP_N:
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIMESTAMP:
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIMESTAMP_N:
            name = "now";
            break;
        default:
            return berr(b, TB_E_UNSUPPORTED, f->location,
                        "this SQL value function is not supported");
        }
        return call(c, name, NULL, 0, f->location, out);
    }
    case NC(SUB_LINK):
        return bind_sublink(c, n->sub_link, out);
    case NC(COLLATE_CLAUSE):
        return bind_expr(c, n->collate_clause->arg, out);
    case NC(PARAM_REF):
        return berr(b, TB_E_UNSUPPORTED, n->param_ref->location,
                    "parameters ($n) are not supported");
    case NC(ROW_EXPR):
        return berr(b, TB_E_UNSUPPORTED, n->row_expr->location,
                    "row constructors are not supported");
    case NC(A_INDIRECTION):
        return berr(b, TB_E_UNSUPPORTED, -1, "subscripts and field selection are not supported");
    case NC(A_ARRAY_EXPR):
        return berr(b, TB_E_UNSUPPORTED, n->a_array_expr->location, "arrays are not supported");
    default:
        return berr(b, TB_E_UNSUPPORTED, -1, "unsupported expression (node %d)", (int)n->node_case);
    }
}

/* ================================================================ column names */

/* PostgreSQL's FigureColname: the name a select-list item gets without AS. */
static const char *fig_colname(const pgnode *n)
{
    if (n == NULL)
        return NULL;
    switch (n->node_case) {
    case NC(GROUPING_FUNC):
        return "grouping";
    case NC(COLUMN_REF): {
        const PgQuery__ColumnRef *cr = n->column_ref;
        for (size_t i = cr->n_fields; i > 0; i--) {
            const char *s = str_of(cr->fields[i - 1]);
            if (s != NULL)
                return s;
        }
        return NULL;
    }
    case NC(FUNC_CALL):
        return func_name(n->func_call);
    case NC(TYPE_CAST): {
        const char *s = fig_colname(n->type_cast->arg);
        if (s != NULL)
            return s;
        const PgQuery__TypeName *tn = n->type_cast->type_name;
        if (tn != NULL && tn->n_names > 0) {
            const char *t = str_of(tn->names[tn->n_names - 1]);
            if (t != NULL && strcmp(t, "bpchar") == 0)
                return "bpchar";
            return t;
        }
        return NULL;
    }
    case NC(CASE_EXPR):
        return fig_colname(n->case_expr->defresult) ? fig_colname(n->case_expr->defresult) : "case";
    case NC(COALESCE_EXPR):
        return "coalesce";
    case NC(MIN_MAX_EXPR):
        return n->min_max_expr->op == PG_QUERY__MIN_MAX_OP__IS_GREATEST ? "greatest" : "least";
    case NC(A_EXPR):
        if (n->a_expr->kind == PG_QUERY__A__EXPR__KIND__AEXPR_NULLIF)
            return "nullif";
        return NULL;
    case NC(SQLVALUE_FUNCTION):
        switch (n->sqlvalue_function->op) {
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_DATE:
            return "current_date";
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP:
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP_N:
            return "current_timestamp";
        default:
            return NULL;
        }
    case NC(SUB_LINK): {
        const PgQuery__SubLink *sl = n->sub_link;
        if (sl->sub_link_type == PG_QUERY__SUB_LINK_TYPE__EXISTS_SUBLINK)
            return "exists";
        if (sl->sub_link_type == PG_QUERY__SUB_LINK_TYPE__EXPR_SUBLINK &&
            IS(sl->subselect, SELECT_STMT)) {
            const PgQuery__SelectStmt *s = sl->subselect->select_stmt;
            if (s->n_target_list > 0 && IS(s->target_list[0], RES_TARGET)) {
                const PgQuery__ResTarget *rt = s->target_list[0]->res_target;
                if (rt->name != NULL && rt->name[0])
                    return rt->name;
                return fig_colname(rt->val);
            }
        }
        return NULL;
    }
    default:
        return NULL;
    }
}

/* ================================================================ FROM */

static tb_rc get_node(binder *b, lsource *src, const char *alias, const PgQuery__Alias *al, int loc,
                      fromres *out)
{
    const tb_schema *sch = src->schema;
    lnode *g = mknode(b, L_GET);
    if (g == NULL)
        return nomem(b);
    g->src = src;
    g->n_out = sch->n;
    g->out = tb_arena_alloc(b->arena, (sch->n ? sch->n : 1) * sizeof(int));
    if (g->out == NULL)
        return nomem(b);
    for (uint32_t i = 0; i < sch->n; i++) {
        const char *nm = sch->fields[i].name;
        if (al != NULL && i < al->n_colnames && str_of(al->colnames[i]) != NULL)
            nm = str_of(al->colnames[i]);
        else if (al != NULL && al->n_colnames == 0 && src->kind == SRC_TF && sch->n == 1 &&
                 strcmp(src->tf->name, "generate_series") == 0)
            nm = al->aliasname; /* a scalar function's alias names its column (PostgreSQL) */
        g->out[i] = newcol(b, nm, alias, sch->fields[i].type);
        if (g->out[i] < 0)
            return nomem(b);
    }
    switch (src->kind) {
    case SRC_TABLE:
        g->est = (double)tb_table_rows(src->table);
        break;
    case SRC_CONNECTOR: {
        int64_t e = src->vt->estimate_rows != NULL ? src->vt->estimate_rows(src->ud) : -1;
        g->est = e >= 0 ? (double)e : EST_UNBOUNDED;
        break;
    }
    case SRC_TF: {
        int64_t e = src->tf->estimate_rows != NULL ? src->tf->estimate_rows(src->tf_state) : -1;
        g->est = e >= 0 ? (double)e : 1e6;
        break;
    }
    }
    srel r;
    tb_rc rc = make_rel(b, alias, g->out, g->n_out, NULL, loc, &r);
    if (rc != TB_OK)
        return rc;
    if (al != NULL && al->n_colnames > sch->n)
        return berr(b, TB_E_SQL, loc,
                    "table \"%s\" has %u columns available but %zu columns "
                    "specified",
                    alias, sch->n, al->n_colnames);
    out->node = g;
    return one_rel(b, out, &r);
}

static tb_rc subquery_rel(binder *b, lnode *sub, const char *alias, const PgQuery__Alias *al,
                          int loc, fromres *out)
{
    srel r;
    tb_rc rc = make_rel(b, alias, sub->out, sub->n_out, al, loc, &r);
    if (rc != TB_OK)
        return rc;
    out->node = sub;
    return one_rel(b, out, &r);
}

static tb_rc bind_view(binder *b, catentry *e, const PgQuery__RangeVar *rv, fromres *out)
{
    tb_rc rc;
    PgQuery__ParseResult *pr = NULL;
    tb_err perr;
    if (b->view_depth >= 16)
        return berr(b, TB_E_LIMIT, rv->location, "views nested too deeply (at \"%s\")", e->name);
    tb_err_clear(&perr);
    rc = tb_sql_parse(e->view_sql, &pr, &perr);
    if (rc != TB_OK)
        return berr(b, rc, rv->location, "view \"%s\": %s", e->name, perr.msg);
    if (pr->n_stmts != 1 || !IS(pr->stmts[0]->stmt, VIEW_STMT)) {
        tb_sql_parse_free(pr);
        return berr(b, TB_E_CORRUPT, rv->location, "view \"%s\": bad stored definition", e->name);
    }
    const PgQuery__ViewStmt *vs = pr->stmts[0]->stmt->view_stmt;
    const char *saved_sql = b->sql;
    int saved_pos = b->pos_override;
    cte *saved_ctes = b->ctes;
    b->sql = e->view_sql;
    if (b->pos_override < 0)
        b->pos_override = rv->location;
    b->ctes = NULL;
    b->view_depth++;
    lnode *sub = NULL;
    rc = bind_subquery(b, vs->query, NULL, &sub, NULL);
    b->view_depth--;
    b->sql = saved_sql;
    b->pos_override = saved_pos;
    b->ctes = saved_ctes;
    if (rc != TB_OK) {
        tb_sql_parse_free(pr);
        if (b->err != NULL && strncmp(b->err->msg, "view ", 5) != 0) {
            tb_err_prefix(b->err, "view \"%s\"", e->name);
        }
        return rc;
    }
    tb_sql_parse_free(pr);
    /* the view's column alias list (the reference's alias list applies after) */
    if (e->n_view_cols > 0) {
        lnode *p = mknode(b, L_PROJECT);
        if (p == NULL)
            return nomem(b);
        p->left = sub;
        p->n_out = sub->n_out;
        p->out = tb_arena_alloc(b->arena, sub->n_out * sizeof(int));
        p->exprs = tb_arena_alloc(b->arena, sub->n_out * sizeof(tb_expr *));
        if (p->out == NULL || p->exprs == NULL)
            return nomem(b);
        for (uint32_t i = 0; i < sub->n_out; i++) {
            const char *nm = i < e->n_view_cols ? e->view_cols[i] : b->q->cols[sub->out[i]].name;
            p->out[i] = newcol(b, nm, NULL, b->q->cols[sub->out[i]].type);
            p->exprs[i] = colref(b, sub->out[i], -1);
            if (p->out[i] < 0 || p->exprs[i] == NULL)
                return nomem(b);
        }
        p->est = sub->est;
        sub = p;
    }
    const char *alias = rv->alias != NULL ? rv->alias->aliasname : rv->relname;
    return subquery_rel(b, sub, alias, rv->alias, rv->location, out);
}

/* A scan of a table the plan holds (WITH RECURSIVE's result or working table). */
static tb_rc table_rel(binder *b, const char *name, tb_table *t, const PgQuery__RangeVar *rv,
                       fromres *out)
{
    lsource *src = tb_arena_zalloc(b->arena, sizeof(*src));
    if (src == NULL)
        return nomem(b);
    src->name = tb_arena_strdup(b->arena, name);
    src->schema = tb_table_schema(t);
    src->kind = SRC_TABLE;
    src->table = t;
    const char *alias = rv->alias != NULL ? rv->alias->aliasname : name;
    return get_node(b, src, alias, rv->alias, rv->location, out);
}

static tb_rc bind_rangevar(binder *b, const PgQuery__RangeVar *rv, scope *outer, fromres *out)
{
    const char *name = rv->relname;
    const char *alias = rv->alias != NULL ? rv->alias->aliasname : name;
    tb_rc rc;
    (void)outer;
    /* CTEs first (unqualified names only) */
    if (rv->schemaname == NULL || rv->schemaname[0] == '\0') {
        for (cte *ct = b->ctes; ct != NULL; ct = ct->prev) {
            if (strcmp(ct->name, name) != 0)
                continue;
            if (ct->mat != NULL)
                return table_rel(b, name, ct->mat, rv, out);
            cte *saved = b->ctes;
            b->ctes = ct->visible;
            lnode *sub = NULL;
            rc = bind_subquery(b, ct->def->ctequery, outer, &sub, NULL);
            b->ctes = saved;
            if (rc != TB_OK)
                return rc;
            /* CTE column alias list, then the reference's */
            if (ct->def->n_aliascolnames > 0) {
                PgQuery__Alias al = PG_QUERY__ALIAS__INIT;
                al.aliasname = (char *)name;
                al.n_colnames = ct->def->n_aliascolnames;
                al.colnames = ct->def->aliascolnames;
                fromres tmp;
                rc = subquery_rel(b, sub, alias, &al, rv->location, &tmp);
                if (rc != TB_OK)
                    return rc;
                if (rv->alias != NULL && rv->alias->n_colnames > 0) {
                    for (size_t i = 0; i < rv->alias->n_colnames && i < tmp.rels[0].n; i++) {
                        const char *s = str_of(rv->alias->colnames[i]);
                        if (s != NULL)
                            tmp.rels[0].cols[i].name = tb_arena_strdup(b->arena, s);
                    }
                }
                *out = tmp;
                return TB_OK;
            }
            return subquery_rel(b, sub, alias, rv->alias, rv->location, out);
        }
    }
    const tb_plan_opts *po = b->q->opts;
    for (uint32_t i = 0; po != NULL && i < po->n_temps &&
                         (rv->schemaname == NULL || rv->schemaname[0] == '\0');
         i++) {
        if (strcmp(po->temps[i].name, name) == 0) {
            po->temps[i].used = true;
            return table_rel(b, name, po->temps[i].table, rv, out);
        }
    }
    catentry *e = tb_sql_cat_find(b->q->db, name);
    if (e == NULL) {
        tb_sql_cat_notfound(b->q->db, name, P(b, rv->location), b->err);
        return TB_E_NOTFOUND;
    }
    if (e->kind == TB_CAT_VIEW)
        return bind_view(b, e, rv, out);
    lsource *src = tb_arena_zalloc(b->arena, sizeof(*src));
    if (src == NULL)
        return nomem(b);
    src->name = tb_arena_strdup(b->arena, e->name);
    src->schema = e->schema;
    if (e->kind == TB_CAT_TABLE) {
        src->kind = SRC_TABLE;
        src->table = e->table;
    } else {
        src->kind = SRC_CONNECTOR;
        src->vt = e->vt;
        src->ud = e->ud;
    }
    return get_node(b, src, alias, rv->alias, rv->location, out);
}

/*
 * hop(relation, time_column, slide, size[, offset]) and tumble(relation, time_column,
 * size[, offset]) in FROM (the window table functions of RisingWave and Flink): the
 * relation's rows, each once per window [start, start + size) holding its time, where
 * start = k * slide + offset (tumble: slide = size), plus window_start and window_end.
 *
 * Logical form: an L_APPLY of kind AP_HOP over the relation appending window_start
 * (apply.c builds the exec hop operator from it: `test` is the time expression, `right`
 * a one-row VALUES of the constant slide, size and offset), then a projection adding
 * window_end = window_start + size. The window parameters are constant intervals
 * without months (days count as 24 hours); the offset may be negative.
 */
static tb_rc window_interval(binder *b, ectx *c, const pgnode *arg, const char *fname,
                             const char *what, bool positive, int64_t *out_us, tb_expr **out)
{
    tb_expr *e = NULL;
    tb_rc rc = bind_expr(c, arg, &e);
    if (rc != TB_OK)
        return rc;
    int loc = e->pos;
    char tn[64];
    if (tb_sql_expr_has_cols(e))
        return berr(b, TB_E_SQL, loc, "%s: %s must be a constant interval, e.g. INTERVAL "
                    "'10 seconds'", fname, what);
    if (e->type.id == TB_T_STRING || e->type.id == TB_T_NULL) {
        /* an untyped literal: '10 seconds' */
        rc = tb_expr_coerce(b->arena, e, tb_type_make(TB_T_INTERVAL), P(b, loc), &e, b->err);
        if (rc != TB_OK)
            return rc;
    }
    if (e->type.id != TB_T_INTERVAL)
        return berr(b, TB_E_TYPE, loc, "%s: %s must be an interval, not %s", fname, what,
                    tb_type_name(e->type, tn, sizeof(tn)));
    tb_value v;
    rc = tb_expr_eval_const(e, b->arena, &v, b->err);
    if (rc != TB_OK)
        return rc;
    if (v.is_null)
        return berr(b, TB_E_SQL, loc, "%s: %s must not be NULL", fname, what);
    int64_t d, us;
    if (v.u.iv.months != 0)
        return berr(b, TB_E_RANGE, loc,
                    "%s: %s must not contain months or years (they have no fixed length)",
                    fname, what);
    if (__builtin_mul_overflow((int64_t)v.u.iv.days, TB_USEC_PER_DAY, &d) ||
        __builtin_add_overflow(d, v.u.iv.micros, &us))
        return berr(b, TB_E_RANGE, loc, "%s: %s out of range", fname, what);
    if (positive && us <= 0)
        return berr(b, TB_E_RANGE, loc, "%s: %s must be greater than zero", fname, what);
    tb_expr *k = tb_expr_const(b->arena, &v);
    if (k == NULL)
        return nomem(b);
    k->pos = P(b, loc);
    *out_us = us;
    *out = k;
    return TB_OK;
}

static tb_rc bind_rangefunc(binder *b, const PgQuery__RangeFunction *rf, scope *outer,
                            fromres *out);

static tb_rc bind_window(binder *b, const PgQuery__RangeFunction *rf, const PgQuery__FuncCall *fc,
                         bool hop, scope *outer, fromres *out)
{
    int loc = fc->location;
    const char *fname = hop ? "hop" : "tumble";
    size_t min_args = hop ? 4 : 3;
    if (fc->n_args < min_args || fc->n_args > min_args + 1)
        return berr(b, TB_E_SQL, loc,
                    hop ? "hop in FROM takes (relation, time_column, slide, size[, offset]), "
                          "e.g. hop(sales, ts, INTERVAL '5 seconds', INTERVAL '10 seconds')"
                        : "tumble in FROM takes (relation, time_column, size[, offset]), e.g. "
                          "tumble(sales, ts, INTERVAL '10 seconds')");
    /* the relation: a name (table, view, CTE, stream), a table function call or a
     * parenthesised SELECT */
    const pgnode *r = fc->args[0];
    fromres rel;
    tb_rc rc;
    if (IS(r, COLUMN_REF) && r->column_ref->n_fields == 1 &&
        str_of(r->column_ref->fields[0]) != NULL) {
        PgQuery__RangeVar rv = PG_QUERY__RANGE_VAR__INIT;
        rv.relname = (char *)str_of(r->column_ref->fields[0]);
        rv.location = r->column_ref->location;
        rv.alias = rf->alias;
        rc = bind_rangevar(b, &rv, outer, &rel);
    } else if (IS(r, FUNC_CALL)) {
        PgQuery__RangeFunction inner = PG_QUERY__RANGE_FUNCTION__INIT;
        pgnode *fn = (pgnode *)r;
        inner.n_functions = 1;
        inner.functions = &fn;
        inner.alias = rf->alias;
        rc = bind_rangefunc(b, &inner, outer, &rel);
    } else if (IS(r, SUB_LINK) &&
               r->sub_link->sub_link_type == PG_QUERY__SUB_LINK_TYPE__EXPR_SUBLINK) {
        lnode *sub = NULL;
        rc = bind_subquery(b, r->sub_link->subselect, outer, &sub, NULL);
        if (rc == TB_OK)
            rc = subquery_rel(b, sub, rf->alias ? rf->alias->aliasname : NULL, rf->alias,
                              r->sub_link->location, &rel);
    } else {
        return berr(b, TB_E_SQL, loc,
                    "%s: the first argument must be a relation: a table, view or stream name, "
                    "a table function call or a (SELECT ...)",
                    fname);
    }
    if (rc != TB_OK)
        return rc;
    scope sc = {rel.rels, rel.n_rels, NULL, cur_level(b)};
    ectx c = {b, &sc, hop ? "hop arguments" : "tumble arguments", NULL, false, NULL, NULL};

    /* the time column */
    tb_expr *time = NULL;
    rc = bind_expr(&c, fc->args[1], &time);
    if (rc != TB_OK)
        return rc;
    if (time->type.id == TB_T_DATE || time->type.id == TB_T_NULL) {
        rc = tb_expr_coerce(b->arena, time, tb_type_make(TB_T_TIMESTAMP), time->pos, &time,
                            b->err);
        if (rc != TB_OK)
            return rc;
    }
    if (time->type.id != TB_T_TIMESTAMP) {
        char tn[64];
        return berr(b, TB_E_TYPE, time->pos, "%s: the time column must be a timestamp, not %s",
                    fname, tb_type_name(time->type, tn, sizeof(tn)));
    }

    /* slide, size, offset */
    int64_t slide = 0, size = 0, offset = 0;
    tb_expr *pe[3] = {NULL, NULL, NULL};
    uint32_t a = 2;
    if (hop) {
        rc = window_interval(b, &c, fc->args[a++], fname, "slide", true, &slide, &pe[0]);
        if (rc != TB_OK)
            return rc;
    }
    rc = window_interval(b, &c, fc->args[a++], fname, "size", true, &size, &pe[1]);
    if (rc != TB_OK)
        return rc;
    if (!hop) {
        slide = size;
        pe[0] = pe[1];
    }
    if (fc->n_args > a) {
        rc = window_interval(b, &c, fc->args[a], fname, "offset", false, &offset, &pe[2]);
        if (rc != TB_OK)
            return rc;
    } else {
        tb_value z = {.type = tb_type_make(TB_T_INTERVAL), .is_null = false};
        pe[2] = tb_expr_const(b->arena, &z);
        if (pe[2] == NULL)
            return nomem(b);
    }
    uint64_t n_win = (uint64_t)(size - 1) / (uint64_t)slide + 1;
    if (n_win > TB_HOP_MAX_WINDOWS)
        return berr(b, TB_E_LIMIT, pe[1]->pos >= 0 ? pe[1]->pos : P(b, loc),
                    "%s: size / slide puts each row in %llu windows, more than %d (use a "
                    "larger slide)",
                    fname, (unsigned long long)n_win, TB_HOP_MAX_WINDOWS);

    /* VALUES (slide, size, offset): the apply's parameters */
    lnode *in = rel.node;
    lnode *params = mknode(b, L_VALUES);
    lnode *ap = mknode(b, L_APPLY);
    if (params == NULL || ap == NULL)
        return nomem(b);
    params->n_rows = 1;
    params->n_out = 3;
    params->vals = tb_arena_alloc(b->arena, 3 * sizeof(tb_expr *));
    params->out = tb_arena_alloc(b->arena, 3 * sizeof(int));
    if (params->vals == NULL || params->out == NULL)
        return nomem(b);
    static const char *const pnames[3] = {"slide", "size", "offset"};
    for (int i = 0; i < 3; i++) {
        params->vals[i] = pe[i];
        params->out[i] = newcol(b, pnames[i], NULL, tb_type_make(TB_T_INTERVAL));
        if (params->out[i] < 0)
            return nomem(b);
    }
    params->est = 1;
    const char *alias = rel.n_rels == 1 ? rel.rels[0].alias : NULL;
    int ws_id = newcol(b, "window_start", alias, tb_type_make(TB_T_TIMESTAMP));
    if (ws_id < 0)
        return nomem(b);
    ap->ap = AP_HOP;
    ap->left = in;
    ap->right = params;
    ap->test = time;
    ap->n_out = in->n_out + 1;
    ap->out = tb_arena_alloc(b->arena, ap->n_out * sizeof(int));
    if (ap->out == NULL)
        return nomem(b);
    memcpy(ap->out, in->out, in->n_out * sizeof(int));
    ap->out[in->n_out] = ws_id;
    ap->est = in->est >= EST_UNBOUNDED ? in->est : in->est * (double)n_win;

    /* window_end = window_start + size */
    uint32_t k = ap->n_out + 1;
    tb_expr **ex = tb_arena_alloc(b->arena, k * sizeof(*ex));
    int *ids = tb_arena_alloc(b->arena, k * sizeof(int));
    if (ex == NULL || ids == NULL)
        return nomem(b);
    for (uint32_t i = 0; i < ap->n_out; i++) {
        ex[i] = colref(b, ap->out[i], -1);
        ids[i] = ap->out[i];
        if (ex[i] == NULL)
            return nomem(b);
    }
    tb_expr *sum_args[2] = {colref(b, ws_id, P(b, loc)), pe[1]};
    if (sum_args[0] == NULL)
        return nomem(b);
    rc = tb_expr_call(b->arena, "+", sum_args, 2, P(b, loc), &ex[k - 1], b->err);
    if (rc != TB_OK)
        return rc;
    ids[k - 1] = newcol(b, "window_end", alias, ex[k - 1]->type);
    if (ids[k - 1] < 0)
        return nomem(b);
    lnode *p = ap;
    rc = add_project(b, &p, k, ex, ids);
    if (rc != TB_OK)
        return rc;
    /* the relation's scope entries, with the two window columns appended to the last */
    srel *last = &rel.rels[rel.n_rels - 1];
    scol *cols = tb_arena_zalloc(b->arena, (last->n + 2) * sizeof(scol));
    if (cols == NULL)
        return nomem(b);
    memcpy(cols, last->cols, last->n * sizeof(scol));
    cols[last->n].name = "window_start";
    cols[last->n].id = ws_id;
    cols[last->n + 1].name = "window_end";
    cols[last->n + 1].id = ids[k - 1];
    last->cols = cols;
    last->n += 2;
    out->node = p;
    out->rels = rel.rels;
    out->n_rels = rel.n_rels;
    return TB_OK;
}

static tb_rc bind_rangefunc(binder *b, const PgQuery__RangeFunction *rf, scope *outer, fromres *out)
{
    if (rf->lateral || rf->ordinality || rf->is_rowsfrom || rf->n_functions != 1)
        return berr(b, TB_E_UNSUPPORTED, -1,
                    "LATERAL, WITH ORDINALITY and ROWS FROM are not supported");
    const pgnode *item = rf->functions[0];
    const pgnode *fn = item;
    if (IS(item, LIST) && item->list->n_items > 0)
        fn = item->list->items[0];
    if (!IS(fn, FUNC_CALL))
        return berr(b, TB_E_UNSUPPORTED, -1, "unsupported function in FROM");
    const PgQuery__FuncCall *fc = fn->func_call;
    const char *name = func_name(fc);
    if (name == NULL)
        return berr(b, TB_E_SQL, fc->location, "bad function name");
    const tb_tablefunc *tf = tb_sql_find_tablefunc(name);
    if (tf == NULL && (tb_str_ieq(name, "tumble") || tb_str_ieq(name, "hop")))
        return bind_window(b, rf, fc, tb_str_ieq(name, "hop"), outer, out);
    if (tf == NULL)
        return berr(b, TB_E_NOTFOUND, fc->location,
                    "table function %s does not exist (known: read_csv, read_parquet, "
                    "read_json%s)", name,
                    tb_sql_find_tablefunc("read_delta") ? ", read_delta" : "");
    tb_tf_arg *args = tb_arena_zalloc(b->arena, (fc->n_args ? fc->n_args : 1) * sizeof(*args));
    if (args == NULL)
        return nomem(b);
    scope empty = {NULL, 0, NULL, cur_level(b)};
    ectx c = {b, &empty, "table function arguments", NULL, false, NULL, NULL};
    for (size_t i = 0; i < fc->n_args; i++) {
        const pgnode *a = fc->args[i];
        int loc = -1;
        if (IS(a, NAMED_ARG_EXPR)) {
            args[i].name = tb_arena_strdup(b->arena, a->named_arg_expr->name);
            loc = a->named_arg_expr->location;
            a = a->named_arg_expr->arg;
        }
        tb_expr *e;
        tb_rc rc = bind_expr(&c, a, &e);
        if (rc != TB_OK)
            return rc;
        if (loc < 0)
            loc = e->pos;
        if (tb_sql_expr_has_cols(e))
            return berr(b, TB_E_SQL, loc, "table function arguments must be constants");
        rc = tb_expr_eval_const(e, b->arena, &args[i].value, b->err);
        if (rc != TB_OK)
            return rc;
        args[i].pos = P(b, loc);
    }
    lsource *src = NULL;
    tb_rc rc = tb_sql_tf_bind(b->q, tf, args, (uint32_t)fc->n_args, NULL, &src, b->err);
    if (rc != TB_OK) {
        if (b->err != NULL && b->err->pos < 0)
            b->err->pos = P(b, fc->location);
        return rc;
    }
    const char *alias = rf->alias != NULL ? rf->alias->aliasname : name;
    return get_node(b, src, alias, rf->alias, fc->location, out);
}

static tb_rc concat_rels(binder *b, const fromres *l, const fromres *r, fromres *out,
                         uint32_t extra_front)
{
    uint32_t n = extra_front + l->n_rels + r->n_rels;
    out->rels = tb_arena_zalloc(b->arena, (n ? n : 1) * sizeof(srel));
    if (out->rels == NULL)
        return nomem(b);
    uint32_t k = extra_front;
    for (uint32_t i = 0; i < l->n_rels; i++) {
        out->rels[k] = l->rels[i];
        /* copy the columns: USING may hide some in this join's view only */
        out->rels[k].cols = tb_arena_memdup(b->arena, l->rels[i].cols,
                                            (l->rels[i].n ? l->rels[i].n : 1) * sizeof(scol));
        if (out->rels[k].cols == NULL)
            return nomem(b);
        k++;
    }
    for (uint32_t i = 0; i < r->n_rels; i++) {
        out->rels[k] = r->rels[i];
        out->rels[k].cols = tb_arena_memdup(b->arena, r->rels[i].cols,
                                            (r->rels[i].n ? r->rels[i].n : 1) * sizeof(scol));
        if (out->rels[k].cols == NULL)
            return nomem(b);
        k++;
    }
    out->n_rels = n;
    return TB_OK;
}

static lnode *join_node(binder *b, lnode *l, lnode *r, tb_join_type jt)
{
    lnode *j = mknode(b, L_JOIN);
    if (j == NULL)
        return NULL;
    j->left = l;
    j->right = r;
    j->jt = jt;
    j->n_out = l->n_out + r->n_out;
    j->out = tb_arena_alloc(b->arena, (j->n_out ? j->n_out : 1) * sizeof(int));
    if (j->out == NULL)
        return NULL;
    memcpy(j->out, l->out, l->n_out * sizeof(int));
    memcpy(j->out + l->n_out, r->out, r->n_out * sizeof(int));
    double le = l->est, re = r->est;
    j->est = le > re ? le : re;
    return j;
}

/* Find an unqualified visible column among a fromres's relations (for USING). */
static int find_visible(const fromres *fr, const char *name, int *count)
{
    int id = -1;
    *count = 0;
    for (uint32_t r = 0; r < fr->n_rels; r++) {
        for (uint32_t i = 0; i < fr->rels[r].n; i++) {
            const scol *c = &fr->rels[r].cols[i];
            if (!c->hidden && strcmp(c->name, name) == 0 && c->id != id) {
                id = c->id;
                (*count)++;
            }
        }
    }
    return id;
}

static void hide_id(srel *rels, uint32_t from, uint32_t to, int id)
{
    for (uint32_t r = from; r < to; r++) {
        for (uint32_t i = 0; i < rels[r].n; i++) {
            if (rels[r].cols[i].id == id)
                rels[r].cols[i].hidden = true;
        }
    }
}

static tb_rc bind_join(binder *b, const PgQuery__JoinExpr *j, scope *outer, fromres *out)
{
    fromres L, R;
    tb_rc rc;
    rc = bind_from(b, j->larg, outer, &L);
    if (rc != TB_OK)
        return rc;
    rc = bind_from(b, j->rarg, outer, &R);
    if (rc != TB_OK)
        return rc;
    tb_join_type jt;
    switch (j->jointype) {
    case PG_QUERY__JOIN_TYPE__JOIN_INNER:
        jt = TB_JOIN_INNER;
        break;
    case PG_QUERY__JOIN_TYPE__JOIN_LEFT:
        jt = TB_JOIN_LEFT;
        break;
    case PG_QUERY__JOIN_TYPE__JOIN_RIGHT:
        jt = TB_JOIN_RIGHT;
        break;
    case PG_QUERY__JOIN_TYPE__JOIN_FULL:
        jt = TB_JOIN_FULL;
        break;
    default:
        return berr(b, TB_E_UNSUPPORTED, -1, "unsupported join type");
    }
    lnode *jn = join_node(b, L.node, R.node, jt);
    if (jn == NULL)
        return nomem(b);
    uint32_t n_conds = 0, cap_conds = 0;
    tb_expr **conds = NULL;

    /* USING / NATURAL */
    const char **using_names = NULL;
    uint32_t n_using = 0;
    int using_loc = -1;
    if (j->is_natural) {
        using_names = tb_arena_alloc(b->arena, 256 * sizeof(char *));
        if (using_names == NULL)
            return nomem(b);
        for (uint32_t r = 0; r < L.n_rels; r++) {
            for (uint32_t i = 0; i < L.rels[r].n && n_using < 256; i++) {
                const scol *c = &L.rels[r].cols[i];
                int cnt;
                if (!c->hidden && find_visible(&R, c->name, &cnt) >= 0) {
                    bool dup = false;
                    for (uint32_t k = 0; k < n_using; k++)
                        dup = dup || strcmp(using_names[k], c->name) == 0;
                    if (!dup)
                        using_names[n_using++] = c->name;
                }
            }
        }
    } else if (j->n_using_clause > 0) {
        using_names = tb_arena_alloc(b->arena, j->n_using_clause * sizeof(char *));
        if (using_names == NULL)
            return nomem(b);
        for (size_t i = 0; i < j->n_using_clause; i++) {
            using_names[n_using] = str_of(j->using_clause[i]);
            if (using_names[n_using] == NULL)
                return berr(b, TB_E_SQL, -1, "bad USING clause");
            n_using++;
        }
    }
    fromres J;
    rc = concat_rels(b, &L, &R, &J, n_using > 0 ? 1 : 0);
    if (rc != TB_OK)
        return rc;
    lnode *top = jn;
    if (n_using > 0) {
        srel *m = &J.rels[0];
        m->alias = j->join_using_alias != NULL ? j->join_using_alias->aliasname : NULL;
        m->n = n_using;
        m->cols = tb_arena_zalloc(b->arena, n_using * sizeof(scol));
        if (m->cols == NULL)
            return nomem(b);
        lnode *proj = NULL;
        if (jt == TB_JOIN_FULL) {
            proj = mknode(b, L_PROJECT);
            if (proj == NULL)
                return nomem(b);
            proj->left = jn;
            proj->n_out = jn->n_out + n_using;
            proj->out = tb_arena_alloc(b->arena, proj->n_out * sizeof(int));
            proj->exprs = tb_arena_alloc(b->arena, proj->n_out * sizeof(tb_expr *));
            if (proj->out == NULL || proj->exprs == NULL)
                return nomem(b);
            for (uint32_t i = 0; i < jn->n_out; i++) {
                proj->out[i] = jn->out[i];
                proj->exprs[i] = colref(b, jn->out[i], -1);
                if (proj->exprs[i] == NULL)
                    return nomem(b);
            }
            proj->est = jn->est;
        }
        for (uint32_t k = 0; k < n_using; k++) {
            const char *nm = using_names[k];
            int cl, cr;
            int lid = find_visible(&L, nm, &cl);
            int rid = find_visible(&R, nm, &cr);
            if (cl == 0)
                return berr(b, TB_E_NOTFOUND, using_loc,
                            "column \"%s\" specified in USING clause does not exist in left table",
                            nm);
            if (cr == 0)
                return berr(b, TB_E_NOTFOUND, using_loc,
                            "column \"%s\" specified in USING clause does not exist in right table",
                            nm);
            if (cl > 1 || cr > 1)
                return berr(b, TB_E_SQL, using_loc,
                            "common column name \"%s\" appears more than once in %s table", nm,
                            cl > 1 ? "left" : "right");
            tb_expr *le = colref(b, lid, -1), *re = colref(b, rid, -1), *eq;
            if (le == NULL || re == NULL)
                return nomem(b);
            tb_expr *pair[2] = {le, re};
            rc = tb_expr_call(b->arena, "=", pair, 2, -1, &eq, b->err);
            if (rc != TB_OK)
                return rc;
            rc = push_expr(b, &conds, &n_conds, &cap_conds, eq);
            if (rc != TB_OK)
                return rc;
            int mid;
            if (jt == TB_JOIN_FULL) {
                tb_expr *co;
                rc = tb_expr_call(b->arena, "coalesce", pair, 2, -1, &co, b->err);
                if (rc != TB_OK)
                    return rc;
                mid = newcol(b, nm, NULL, co->type);
                if (mid < 0)
                    return nomem(b);
                proj->out[jn->n_out + k] = mid;
                proj->exprs[jn->n_out + k] = co;
            } else {
                mid = jt == TB_JOIN_RIGHT ? rid : lid;
            }
            m->cols[k].name = nm;
            m->cols[k].id = mid;
            hide_id(J.rels, 1, 1 + L.n_rels, lid);
            hide_id(J.rels, 1 + L.n_rels, J.n_rels, rid);
        }
        if (proj != NULL)
            top = proj;
    }
    if (j->quals != NULL) {
        scope sc = {J.rels, J.n_rels, outer, cur_level(b)};
        /* INNER: ON is a filter over the join, so correlated subqueries can apply over it */
        lnode *jin = jn;
        ectx c = {b, &sc, "outer JOIN conditions", NULL, false,
                  jt == TB_JOIN_INNER && top == jn ? &jin : NULL, NULL};
        tb_expr *q;
        rc = bind_expr(&c, j->quals, &q);
        if (rc != TB_OK)
            return rc;
        rc = tb_expr_coerce(b->arena, q, tb_type_make(TB_T_BOOL), q->pos, &q, b->err);
        if (rc != TB_OK)
            return rc;
        if (jin != jn) {
            tb_expr **fc = NULL;
            uint32_t n_fc = 0, cap_fc = 0;
            rc = split_and(b, q, &fc, &n_fc, &cap_fc);
            if (rc == TB_OK)
                rc = add_filter(b, &jin, fc, n_fc);
            if (rc != TB_OK)
                return rc;
            top = jin;
        } else {
            rc = split_and(b, q, &conds, &n_conds, &cap_conds);
            if (rc != TB_OK)
                return rc;
        }
    }
    jn->conds = conds;
    jn->n_conds = n_conds;
    J.node = top;
    if (j->alias != NULL) {
        /* (a JOIN b) AS j: one relation j with the visible columns */
        uint32_t n = 0;
        for (uint32_t r = 0; r < J.n_rels; r++)
            for (uint32_t i = 0; i < J.rels[r].n; i++)
                n += !J.rels[r].cols[i].hidden;
        int *ids = tb_arena_alloc(b->arena, (n ? n : 1) * sizeof(int));
        const char **names = tb_arena_alloc(b->arena, (n ? n : 1) * sizeof(char *));
        if (ids == NULL || names == NULL)
            return nomem(b);
        n = 0;
        for (uint32_t r = 0; r < J.n_rels; r++)
            for (uint32_t i = 0; i < J.rels[r].n; i++)
                if (!J.rels[r].cols[i].hidden) {
                    names[n] = J.rels[r].cols[i].name;
                    ids[n++] = J.rels[r].cols[i].id;
                }
        srel r;
        rc = make_rel(b, j->alias->aliasname, ids, n, j->alias, -1, &r);
        if (rc != TB_OK)
            return rc;
        for (uint32_t i = 0; i < n; i++) {
            if (i >= j->alias->n_colnames)
                r.cols[i].name = names[i];
        }
        out->node = top;
        return one_rel(b, out, &r);
    }
    *out = J;
    return TB_OK;
}

static tb_rc bind_from(binder *b, const pgnode *item, scope *outer, fromres *out)
{
    memset(out, 0, sizeof(*out));
    switch (item->node_case) {
    case NC(RANGE_VAR):
        return bind_rangevar(b, item->range_var, outer, out);
    case NC(RANGE_SUBSELECT): {
        const PgQuery__RangeSubselect *rs = item->range_subselect;
        if (rs->lateral)
            return berr(b, TB_E_UNSUPPORTED, -1, "LATERAL subqueries are not supported");
        lnode *sub;
        tb_rc rc = bind_subquery(b, rs->subquery, outer, &sub, NULL);
        if (rc != TB_OK)
            return rc;
        return subquery_rel(b, sub, rs->alias ? rs->alias->aliasname : NULL, rs->alias, -1, out);
    }
    case NC(RANGE_FUNCTION):
        return bind_rangefunc(b, item->range_function, outer, out);
    case NC(JOIN_EXPR):
        return bind_join(b, item->join_expr, outer, out);
    default:
        return berr(b, TB_E_UNSUPPORTED, -1, "unsupported FROM item");
    }
}

/* ---------------------------------------------------------------- decorrelation */

static void tree_ids(const lnode *n, uint64_t *produced, uint64_t *refs)
{
    if (n == NULL)
        return;
    for (uint32_t i = 0; i < n->n_out; i++)
        produced[(uint32_t)n->out[i] >> 6] |= (uint64_t)1 << ((uint32_t)n->out[i] & 63);
    for (uint32_t i = 0; i < n->n_conds; i++)
        tb_sql_expr_cols(n->conds[i], refs);
    if (n->kind == L_PROJECT)
        for (uint32_t i = 0; i < n->n_out; i++)
            tb_sql_expr_cols(n->exprs[i], refs);
    if (n->kind == L_VALUES)
        for (uint32_t i = 0; i < n->n_rows * n->n_out; i++)
            tb_sql_expr_cols(n->vals[i], refs);
    for (uint32_t i = 0; i < n->n_groups; i++)
        tb_sql_expr_cols(n->groups[i], refs);
    for (uint32_t i = 0; i < n->n_aggs; i++)
        tb_sql_expr_cols(n->aggs[i].arg, refs);
    for (uint32_t i = 0; i < n->n_keys; i++)
        tb_sql_expr_cols(n->keys[i].expr, refs);
    if (n->test != NULL)
        tb_sql_expr_cols(n->test, refs);
    tree_ids(n->left, produced, refs);
    tree_ids(n->right, produced, refs);
    for (uint32_t i = 0; i < n->n_kids; i++)
        tree_ids(n->kids[i], produced, refs);
}

/* Replace column ids in every expression of a (freshly bound) logical tree. */
static tb_rc lnode_subst(binder *b, lnode *n, const int *from, tb_expr **to, uint32_t k)
{
    if (n == NULL)
        return TB_OK;
#define SUBST(e)                                                                              \
    do {                                                                                      \
        if ((e) != NULL) {                                                                    \
            (e) = tb_sql_expr_subst(b->arena, (e), from, to, k);                              \
            if ((e) == NULL)                                                                  \
                return nomem(b);                                                              \
        }                                                                                     \
    } while (0)
    for (uint32_t i = 0; i < n->n_conds; i++)
        SUBST(n->conds[i]);
    if (n->kind == L_PROJECT)
        for (uint32_t i = 0; i < n->n_out; i++)
            SUBST(n->exprs[i]);
    if (n->kind == L_VALUES)
        for (uint32_t i = 0; i < n->n_rows * n->n_out; i++)
            SUBST(n->vals[i]);
    for (uint32_t i = 0; i < n->n_groups; i++)
        SUBST(n->groups[i]);
    for (uint32_t i = 0; i < n->n_aggs; i++)
        SUBST(n->aggs[i].arg);
    for (uint32_t i = 0; i < n->n_keys; i++)
        SUBST(n->keys[i].expr);
    SUBST(n->test);
#undef SUBST
    tb_rc rc = lnode_subst(b, n->left, from, to, k);
    if (rc == TB_OK)
        rc = lnode_subst(b, n->right, from, to, k);
    for (uint32_t i = 0; rc == TB_OK && i < n->n_kids; i++)
        rc = lnode_subst(b, n->kids[i], from, to, k);
    return rc;
}

static bool sets_meet(const uint64_t *a, const uint64_t *b, uint32_t words)
{
    for (uint32_t w = 0; w < words; w++)
        if (a[w] & b[w])
            return true;
    return false;
}

/*
 * A correlated EXISTS / NOT EXISTS / IN conjunct of WHERE as a semi / anti join: the
 * subquery must be projections (plus sorts, and for EXISTS limits) over a filter whose
 * conjuncts hold every reference to the outer query, which must be the current level.
 * Those conjuncts become the join condition (equalities there are hash keys). *done
 * stays false when the shape does not fit (the caller then uses the apply fallback).
 */
static tb_rc decorrelate(binder *b, lnode **plan, lnode *sub, bool is_in, bool neg, tb_expr *test,
                         int loc, bool *done)
{
    *done = false;
    uint32_t words = (b->q->n_cols + 64) / 64;
    uint64_t *produced = tb_arena_zalloc(b->arena, words * sizeof(uint64_t));
    uint64_t *refs = tb_arena_zalloc(b->arena, words * sizeof(uint64_t));
    uint64_t *outer = tb_arena_zalloc(b->arena, words * sizeof(uint64_t));
    uint64_t *cur = tb_arena_zalloc(b->arena, words * sizeof(uint64_t));
    if (produced == NULL || refs == NULL || outer == NULL || cur == NULL)
        return nomem(b);
    tree_ids(sub, produced, refs);
    for (uint32_t i = 0; i < (*plan)->n_out; i++)
        cur[(uint32_t)(*plan)->out[i] >> 6] |= (uint64_t)1 << ((uint32_t)(*plan)->out[i] & 63);
    for (uint32_t w = 0; w < words; w++) {
        outer[w] = refs[w] & ~produced[w];
        if (outer[w] & ~cur[w])
            return TB_OK; /* references a level further out */
    }
    lnode *chain[16];
    int depth = 0;
    lnode *n = sub;
    while (n->kind == L_PROJECT || (n->kind == L_SORT && n->limit < 0) ||
           (!is_in && n->kind == L_LIMIT && n->limit != 0 && n->offset == 0)) {
        if (depth == 16)
            return TB_OK;
        chain[depth++] = n;
        n = n->left;
    }
    if (n->kind != L_FILTER)
        return TB_OK;
    /* nothing but the filter's conjuncts may reference the outer query */
    uint64_t *rest_refs = tb_arena_zalloc(b->arena, words * sizeof(uint64_t));
    uint64_t *dummy = tb_arena_zalloc(b->arena, words * sizeof(uint64_t));
    if (rest_refs == NULL || dummy == NULL)
        return nomem(b);
    tree_ids(n->left, dummy, rest_refs);
    for (int i = 0; i < depth; i++) {
        lnode *c = chain[i];
        if (c->kind == L_PROJECT)
            for (uint32_t k = 0; k < c->n_out; k++)
                tb_sql_expr_cols(c->exprs[k], rest_refs);
        for (uint32_t k = 0; k < c->n_keys; k++)
            tb_sql_expr_cols(c->keys[k].expr, rest_refs);
    }
    if (sets_meet(rest_refs, outer, words))
        return TB_OK;
    tb_expr **corr = tb_arena_alloc(b->arena, (n->n_conds + 1) * sizeof(tb_expr *));
    tb_expr **rest = tb_arena_alloc(b->arena, (n->n_conds + 1) * sizeof(tb_expr *));
    uint64_t *need = tb_arena_zalloc(b->arena, words * sizeof(uint64_t));
    if (corr == NULL || rest == NULL || need == NULL)
        return nomem(b);
    uint32_t n_corr = 0, n_rest = 0;
    for (uint32_t i = 0; i < n->n_conds; i++) {
        uint64_t *cr = tb_arena_zalloc(b->arena, words * sizeof(uint64_t));
        if (cr == NULL)
            return nomem(b);
        tb_sql_expr_cols(n->conds[i], cr);
        if (sets_meet(cr, outer, words)) {
            corr[n_corr++] = n->conds[i];
            for (uint32_t w = 0; w < words; w++)
                need[w] |= cr[w] & produced[w];
        } else {
            rest[n_rest++] = n->conds[i];
        }
    }
    if (n_corr == 0)
        return TB_OK;
    /* cut the correlated conjuncts out of the filter */
    lnode *below = n;
    if (n_rest == 0) {
        below = n->left;
    } else {
        n->conds = rest;
        n->n_conds = n_rest;
    }
    if (depth == 0)
        sub = below;
    else
        chain[depth - 1]->left = below;
    /* projections above pass the inner columns the join condition needs */
    for (int i = depth - 1; i >= 0; i--) {
        lnode *c = chain[i];
        if (c->kind != L_PROJECT) {
            c->out = c->left->out;
            c->n_out = c->left->n_out;
            continue;
        }
        uint32_t extra = 0;
        for (uint32_t w = 0; w < words; w++)
            extra += (uint32_t)__builtin_popcountll(need[w]);
        int *out = tb_arena_alloc(b->arena, (c->n_out + extra + 1) * sizeof(int));
        tb_expr **ex = tb_arena_alloc(b->arena, (c->n_out + extra + 1) * sizeof(tb_expr *));
        if (out == NULL || ex == NULL)
            return nomem(b);
        memcpy(out, c->out, c->n_out * sizeof(int));
        memcpy(ex, c->exprs, c->n_out * sizeof(tb_expr *));
        uint32_t k = c->n_out;
        for (uint32_t w = 0; w < words; w++) {
            uint64_t bits = need[w];
            while (bits) {
                int id = (int)(w * 64 + (uint32_t)__builtin_ctzll(bits));
                bits &= bits - 1;
                bool have = false;
                for (uint32_t j = 0; j < c->n_out && !have; j++)
                    have = c->out[j] == id;
                if (have)
                    continue;
                out[k] = id;
                ex[k] = colref(b, id, -1);
                if (ex[k] == NULL)
                    return nomem(b);
                k++;
            }
        }
        c->out = out;
        c->exprs = ex;
        c->n_out = k;
    }
    if (is_in) {
        tb_expr *subcol = colref(b, sub->out[0], -1), *eq;
        if (subcol == NULL)
            return nomem(b);
        tb_expr *pair[2] = {test, subcol};
        tb_rc rc = tb_expr_call(b->arena, "=", pair, 2, P(b, loc), &eq, b->err);
        if (rc != TB_OK)
            return rc;
        corr[n_corr++] = eq;
    }
    lnode *j = join_node(b, *plan, sub, neg ? TB_JOIN_ANTI : TB_JOIN_SEMI);
    if (j == NULL)
        return nomem(b);
    j->n_out = (*plan)->n_out;
    j->est = (*plan)->est * 0.5;
    j->conds = corr;
    j->n_conds = n_corr;
    *plan = j;
    *done = true;
    return TB_OK;
}

/* ================================================================ SELECT */

typedef struct target {
    const pgnode *node; /* NULL for star-expanded columns */
    int star_id;        /* id for star-expanded columns */
    const char *name;
    int loc;
    tb_expr *e;
    int id; /* output id */
} target;

static tb_rc expand_targets(binder *b, const PgQuery__SelectStmt *s, scope *sc, target **out,
                            uint32_t *n_out)
{
    uint32_t cap = 16, n = 0;
    target *t = tb_arena_zalloc(b->arena, cap * sizeof(*t));
    if (t == NULL)
        return nomem(b);
    for (size_t i = 0; i < s->n_target_list; i++) {
        const pgnode *tn = s->target_list[i];
        if (!IS(tn, RES_TARGET))
            return berr(b, TB_E_SQL, -1, "bad select list");
        const PgQuery__ResTarget *rt = tn->res_target;
        const pgnode *v = rt->val;
        if (IS(v, COLUMN_REF) && v->column_ref->n_fields > 0 &&
            IS(v->column_ref->fields[v->column_ref->n_fields - 1], A_STAR)) {
            const PgQuery__ColumnRef *cr = v->column_ref;
            const char *rel = cr->n_fields >= 2 ? str_of(cr->fields[cr->n_fields - 2]) : NULL;
            bool any = false, rel_found = false;
            for (uint32_t r = 0; r < sc->n_rels; r++) {
                const srel *sr = &sc->rels[r];
                if (rel != NULL && (sr->alias == NULL || strcmp(sr->alias, rel) != 0))
                    continue;
                rel_found = true;
                for (uint32_t k = 0; k < sr->n; k++) {
                    if (rel == NULL && sr->cols[k].hidden)
                        continue;
                    if (n == cap) {
                        target *nt = tb_arena_zalloc(b->arena, cap * 2 * sizeof(*nt));
                        if (nt == NULL)
                            return nomem(b);
                        memcpy(nt, t, n * sizeof(*t));
                        t = nt;
                        cap *= 2;
                    }
                    t[n].node = NULL;
                    t[n].star_id = sr->cols[k].id;
                    t[n].name = sr->cols[k].name;
                    t[n].loc = cr->location;
                    n++;
                    any = true;
                }
            }
            if (rel != NULL && !rel_found)
                return berr(b, TB_E_NOTFOUND, cr->location,
                            "missing FROM-clause entry for table \"%s\"", rel);
            if (rel == NULL && sc->n_rels == 0)
                return berr(b, TB_E_SQL, cr->location,
                            "SELECT * with no tables specified is not valid");
            (void)any;
            continue;
        }
        if (n == cap) {
            target *nt = tb_arena_zalloc(b->arena, cap * 2 * sizeof(*nt));
            if (nt == NULL)
                return nomem(b);
            memcpy(nt, t, n * sizeof(*t));
            t = nt;
            cap *= 2;
        }
        t[n].node = v;
        t[n].star_id = -1;
        t[n].name = (rt->name != NULL && rt->name[0]) ? rt->name : fig_colname(v);
        if (t[n].name == NULL)
            t[n].name = "?column?";
        t[n].loc = rt->location;
        n++;
    }
    *out = t;
    *n_out = n;
    return TB_OK;
}

typedef struct aggstate {
    uint32_t n_groups;
    tb_expr **groups;
    int *gids;
    bool gsets;     /* GROUPING SETS / ROLLUP / CUBE: one aggregate per set (issue 13) */
    uint64_t *sets; /* masks over groups[] */
    uint32_t n_sets;
    uint64_t *from_set; /* ids produced below the aggregate */
    uint32_t set_words;
} aggstate;

static bool in_set(const uint64_t *set, uint32_t words, int id)
{
    uint32_t w = (uint32_t)id >> 6;
    return w < words && ((set[w] >> ((uint32_t)id & 63)) & 1);
}

/* Rewrite a bound expression over the FROM scope to reference group outputs. */
static tb_rc post_agg(binder *b, aggstate *as, tb_expr *e, tb_expr **out)
{
    for (uint32_t i = 0; i < as->n_groups; i++) {
        if (tb_sql_expr_equal(e, as->groups[i])) {
            *out = colref(b, as->gids[i], e->pos);
            return *out ? TB_OK : nomem(b);
        }
    }
    if (e->kind == TB_EX_COL) {
        if (in_set(as->from_set, as->set_words, e->col)) {
            const colinfo *ci = &b->q->cols[e->col];
            if (ci->rel != NULL)
                return berr(b, TB_E_SQL, e->pos,
                            "column \"%s.%s\" must appear in the GROUP BY clause or be used in "
                            "an aggregate function",
                            ci->rel, ci->name);
            return berr(b, TB_E_SQL, e->pos,
                        "column \"%s\" must appear in the GROUP BY clause or be used in an "
                        "aggregate function",
                        ci->name);
        }
        *out = e;
        return TB_OK;
    }
    if (e->n_args == 0) {
        *out = e;
        return TB_OK;
    }
    tb_expr **args = NULL;
    for (uint32_t i = 0; i < e->n_args; i++) {
        tb_expr *a;
        tb_rc rc = post_agg(b, as, e->args[i], &a);
        if (rc != TB_OK)
            return rc;
        if (a != e->args[i] && args == NULL) {
            args = tb_arena_alloc(b->arena, e->n_args * sizeof(*args));
            if (args == NULL)
                return nomem(b);
            memcpy(args, e->args, e->n_args * sizeof(*args));
        }
        if (args != NULL)
            args[i] = a;
    }
    if (args == NULL) {
        *out = e;
        return TB_OK;
    }
    tb_expr *c = tb_arena_memdup(b->arena, e, sizeof(*e));
    if (c == NULL)
        return nomem(b);
    c->args = args;
    *out = c;
    return TB_OK;
}

/* Does the raw tree contain an aggregate call (not looking into subqueries)? */
static bool has_agg(const pgnode *n);
static bool has_agg_list(pgnode *const *l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (has_agg(l[i]))
            return true;
    return false;
}
static bool has_agg(const pgnode *n)
{
    if (n == NULL)
        return false;
    switch (n->node_case) {
    case NC(FUNC_CALL): {
        const PgQuery__FuncCall *fc = n->func_call;
        const char *name = func_name(fc);
        if (name != NULL && fc->over == NULL &&
            ((is_agg_name(name) && (fc->agg_star || fc->n_args == 1)) || is_stat_agg(name) ||
             is_list_agg(name)))
            return true;
        if (has_agg(fc->agg_filter))
            return true;
        return has_agg_list(fc->args, fc->n_args);
    }
    case NC(GROUPING_FUNC):
        return true;
    case NC(A_EXPR):
        return has_agg(n->a_expr->lexpr) || has_agg(n->a_expr->rexpr);
    case NC(BOOL_EXPR):
        return has_agg_list(n->bool_expr->args, n->bool_expr->n_args);
    case NC(TYPE_CAST):
        return has_agg(n->type_cast->arg);
    case NC(NULL_TEST):
        return has_agg(n->null_test->arg);
    case NC(BOOLEAN_TEST):
        return has_agg(n->boolean_test->arg);
    case NC(CASE_EXPR): {
        const PgQuery__CaseExpr *ce = n->case_expr;
        if (has_agg(ce->arg) || has_agg(ce->defresult))
            return true;
        for (size_t i = 0; i < ce->n_args; i++) {
            if (IS(ce->args[i], CASE_WHEN) &&
                (has_agg(ce->args[i]->case_when->expr) || has_agg(ce->args[i]->case_when->result)))
                return true;
        }
        return false;
    }
    case NC(COALESCE_EXPR):
        return has_agg_list(n->coalesce_expr->args, n->coalesce_expr->n_args);
    case NC(MIN_MAX_EXPR):
        return has_agg_list(n->min_max_expr->args, n->min_max_expr->n_args);
    case NC(LIST):
        return has_agg_list(n->list->items, n->list->n_items);
    case NC(RES_TARGET):
        return has_agg(n->res_target->val);
    case NC(SORT_BY):
        return has_agg(n->sort_by->node);
    case NC(SUB_LINK):
        return has_agg(n->sub_link->testexpr);
    case NC(COLLATE_CLAUSE):
        return has_agg(n->collate_clause->arg);
    default:
        return false;
    }
}

static tb_rc const_int(binder *b, const pgnode *n, const char *what, int64_t *out)
{
    scope empty = {NULL, 0, NULL, cur_level(b)};
    ectx c = {b, &empty, what, NULL, false, NULL, NULL};
    tb_expr *e;
    *out = -1;
    if (n == NULL)
        return TB_OK;
    if (IS(n, A_CONST) && n->a_const->isnull)
        return TB_OK; /* LIMIT NULL / LIMIT ALL */
    tb_rc rc = bind_expr(&c, n, &e);
    if (rc != TB_OK)
        return rc;
    rc = tb_expr_coerce(b->arena, e, tb_type_make(TB_T_INT64), e->pos, &e, b->err);
    if (rc != TB_OK)
        return rc;
    tb_value v;
    rc = tb_expr_eval_const(e, b->arena, &v, b->err);
    if (rc != TB_OK)
        return rc;
    if (v.is_null)
        return TB_OK;
    if (v.u.i < 0)
        return berr(b, TB_E_SQL, e->pos, "%s must not be negative", what);
    *out = v.u.i;
    return TB_OK;
}

static tb_rc add_project(binder *b, lnode **plan, uint32_t n, tb_expr **exprs, int *ids)
{
    lnode *p = mknode(b, L_PROJECT);
    if (p == NULL)
        return nomem(b);
    p->left = *plan;
    p->n_out = n;
    p->out = ids;
    p->exprs = exprs;
    p->est = (*plan)->est;
    *plan = p;
    return TB_OK;
}

static tb_rc add_filter(binder *b, lnode **plan, tb_expr **conds, uint32_t n)
{
    if (n == 0)
        return TB_OK;
    lnode *f = mknode(b, L_FILTER);
    if (f == NULL)
        return nomem(b);
    f->left = *plan;
    f->conds = conds;
    f->n_conds = n;
    f->n_out = (*plan)->n_out;
    f->out = (*plan)->out;
    f->est = (*plan)->est * 0.5;
    *plan = f;
    return TB_OK;
}

/* Sort + limit over the output columns of plan (used by set operations and VALUES):
 * ORDER BY items are ordinals, output names or expressions over the output columns. */
static tb_rc sort_limit_output(binder *b, const PgQuery__SelectStmt *s, lnode **plan, scope *parent)
{
    lnode *p = *plan;
    tb_rc rc;
    int64_t limit = -1, offset = -1;
    rc = const_int(b, s->limit_count, "LIMIT", &limit);
    if (rc == TB_OK)
        rc = const_int(b, s->limit_offset, "OFFSET", &offset);
    if (rc != TB_OK)
        return rc;
    if (offset < 0)
        offset = 0;
    if (s->n_sort_clause > 0) {
        srel r;
        rc = make_rel(b, NULL, p->out, p->n_out, NULL, -1, &r);
        if (rc != TB_OK)
            return rc;
        scope sc = {&r, 1, parent, cur_level(b)};
        ectx c = {b, &sc, "ORDER BY", NULL, false, NULL, NULL};
        tb_sortkey *keys = tb_arena_zalloc(b->arena, s->n_sort_clause * sizeof(*keys));
        if (keys == NULL)
            return nomem(b);
        uint32_t n_extra = 0;
        tb_expr **extra = tb_arena_alloc(b->arena, s->n_sort_clause * sizeof(tb_expr *));
        int *extra_ids = tb_arena_alloc(b->arena, s->n_sort_clause * sizeof(int));
        if (extra == NULL || extra_ids == NULL)
            return nomem(b);
        for (size_t i = 0; i < s->n_sort_clause; i++) {
            const PgQuery__SortBy *sb = s->sort_clause[i]->sort_by;
            const pgnode *x = sb->node;
            tb_expr *e = NULL;
            if (IS(x, A_CONST) && x->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL) {
                int k = x->a_const->ival->ival;
                if (k < 1 || (uint32_t)k > p->n_out)
                    return berr(b, TB_E_SQL, x->a_const->location,
                                "ORDER BY position %d is not in select list", k);
                e = colref(b, p->out[k - 1], -1);
            } else {
                rc = bind_expr(&c, x, &e);
                if (rc != TB_OK)
                    return rc;
                if (e->kind != TB_EX_COL) {
                    int id = newcol(b, "?sort?", NULL, e->type);
                    if (id < 0)
                        return nomem(b);
                    extra[n_extra] = e;
                    extra_ids[n_extra++] = id;
                    e = colref(b, id, e->pos);
                }
            }
            if (e == NULL)
                return nomem(b);
            keys[i].expr = e;
            keys[i].desc = sb->sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_DESC;
            keys[i].nulls_first =
                sb->sortby_nulls == PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_FIRST ||
                (sb->sortby_nulls != PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_LAST && keys[i].desc);
        }
        int *vis = p->out;
        uint32_t n_vis = p->n_out;
        if (n_extra > 0) {
            uint32_t n = p->n_out + n_extra;
            tb_expr **ex = tb_arena_alloc(b->arena, n * sizeof(*ex));
            int *ids = tb_arena_alloc(b->arena, n * sizeof(int));
            if (ex == NULL || ids == NULL)
                return nomem(b);
            for (uint32_t i = 0; i < p->n_out; i++) {
                ex[i] = colref(b, p->out[i], -1);
                if (ex[i] == NULL)
                    return nomem(b);
                ids[i] = p->out[i];
            }
            for (uint32_t i = 0; i < n_extra; i++) {
                ex[p->n_out + i] = extra[i];
                ids[p->n_out + i] = extra_ids[i];
            }
            rc = add_project(b, &p, n, ex, ids);
            if (rc != TB_OK)
                return rc;
        }
        lnode *so = mknode(b, L_SORT);
        if (so == NULL)
            return nomem(b);
        so->left = p;
        so->n_keys = (uint32_t)s->n_sort_clause;
        so->keys = keys;
        so->n_out = p->n_out;
        so->out = p->out;
        so->est = p->est;
        so->limit = limit >= 0 ? limit + offset : -1;
        p = so;
        if (n_extra > 0) {
            tb_expr **ex = tb_arena_alloc(b->arena, n_vis * sizeof(*ex));
            if (ex == NULL)
                return nomem(b);
            for (uint32_t i = 0; i < n_vis; i++) {
                ex[i] = colref(b, vis[i], -1);
                if (ex[i] == NULL)
                    return nomem(b);
            }
            rc = add_project(b, &p, n_vis, ex, vis);
            if (rc != TB_OK)
                return rc;
        }
    }
    if (limit >= 0 || offset > 0) {
        lnode *l = mknode(b, L_LIMIT);
        if (l == NULL)
            return nomem(b);
        l->left = p;
        l->limit = limit;
        l->offset = offset;
        l->n_out = p->n_out;
        l->out = p->out;
        l->est = limit >= 0 && limit < p->est ? (double)limit : p->est;
        p = l;
    }
    *plan = p;
    return TB_OK;
}

static tb_rc bind_values(binder *b, const PgQuery__SelectStmt *s, lnode **out)
{
    size_t n_rows = s->n_values_lists;
    if (n_rows == 0 || !IS(s->values_lists[0], LIST))
        return berr(b, TB_E_SQL, -1, "bad VALUES");
    size_t n_cols = s->values_lists[0]->list->n_items;
    scope empty = {NULL, 0, NULL, cur_level(b)};
    ectx c = {b, &empty, "VALUES", NULL, false, NULL, NULL};
    tb_expr **vals =
        tb_arena_alloc(b->arena, (n_rows * n_cols > 0 ? n_rows * n_cols : 1) * sizeof(tb_expr *));
    if (vals == NULL)
        return nomem(b);
    for (size_t r = 0; r < n_rows; r++) {
        const pgnode *row = s->values_lists[r];
        if (!IS(row, LIST) || row->list->n_items != n_cols)
            return berr(b, TB_E_SQL, -1, "VALUES lists must all be the same length");
        for (size_t k = 0; k < n_cols; k++) {
            tb_rc rc = bind_expr(&c, row->list->items[k], &vals[r * n_cols + k]);
            if (rc != TB_OK)
                return rc;
        }
    }
    lnode *v = mknode(b, L_VALUES);
    if (v == NULL)
        return nomem(b);
    v->n_rows = (uint32_t)n_rows;
    v->n_out = (uint32_t)n_cols;
    v->vals = vals;
    v->out = tb_arena_alloc(b->arena, (n_cols ? n_cols : 1) * sizeof(int));
    tb_type *types = tb_arena_alloc(b->arena, n_rows * sizeof(tb_type));
    if (v->out == NULL || types == NULL)
        return nomem(b);
    for (size_t k = 0; k < n_cols; k++) {
        for (size_t r = 0; r < n_rows; r++)
            types[r] = vals[r * n_cols + k]->type;
        tb_type t;
        tb_rc rc = tb_type_common(types, (uint32_t)n_rows, &t, vals[k]->pos, b->err);
        if (rc != TB_OK)
            return rc;
        if (t.id == TB_T_NULL)
            t = tb_type_make(TB_T_STRING);
        for (size_t r = 0; r < n_rows; r++) {
            rc = tb_expr_coerce(b->arena, vals[r * n_cols + k], t, vals[r * n_cols + k]->pos,
                                &vals[r * n_cols + k], b->err);
            if (rc != TB_OK)
                return rc;
        }
        char nm[32];
        snprintf(nm, sizeof(nm), "column%zu", k + 1);
        v->out[k] = newcol(b, nm, NULL, t);
        if (v->out[k] < 0)
            return nomem(b);
    }
    v->est = (double)n_rows;
    *out = v;
    return sort_limit_output(b, s, out, NULL);
}

/* Coerce the columns of a set-operation arm to types[]; returns the (maybe new) node. */
static tb_rc coerce_arm(binder *b, lnode **arm, const tb_type *types)
{
    lnode *a = *arm;
    bool need = false;
    for (uint32_t i = 0; i < a->n_out; i++)
        need = need || !tb_type_eq(b->q->cols[a->out[i]].type, types[i]);
    if (!need)
        return TB_OK;
    tb_expr **ex = tb_arena_alloc(b->arena, a->n_out * sizeof(*ex));
    int *ids = tb_arena_alloc(b->arena, a->n_out * sizeof(int));
    if (ex == NULL || ids == NULL)
        return nomem(b);
    for (uint32_t i = 0; i < a->n_out; i++) {
        tb_expr *e = colref(b, a->out[i], -1);
        if (e == NULL)
            return nomem(b);
        tb_rc rc = tb_expr_coerce(b->arena, e, types[i], -1, &ex[i], b->err);
        if (rc != TB_OK)
            return rc;
        ids[i] = newcol(b, b->q->cols[a->out[i]].name, NULL, types[i]);
        if (ids[i] < 0)
            return nomem(b);
    }
    return add_project(b, arm, a->n_out, ex, ids);
}

/* Append a constant int column `v` to an arm (INTERSECT/EXCEPT side tags). */
static tb_rc tag_arm(binder *b, lnode **arm, int v1, int v2)
{
    lnode *a = *arm;
    uint32_t n = a->n_out + 2;
    tb_expr **ex = tb_arena_alloc(b->arena, n * sizeof(*ex));
    int *ids = tb_arena_alloc(b->arena, n * sizeof(int));
    if (ex == NULL || ids == NULL)
        return nomem(b);
    for (uint32_t i = 0; i < a->n_out; i++) {
        ex[i] = colref(b, a->out[i], -1);
        ids[i] = a->out[i];
        if (ex[i] == NULL)
            return nomem(b);
    }
    int vs[2] = {v1, v2};
    for (int k = 0; k < 2; k++) {
        tb_value v;
        memset(&v, 0, sizeof(v));
        v.type = tb_type_make(TB_T_INT32);
        v.u.i = vs[k];
        ex[a->n_out + k] = tb_expr_const(b->arena, &v);
        ids[a->n_out + k] = newcol(b, k ? "?r?" : "?l?", NULL, v.type);
        if (ex[a->n_out + k] == NULL || ids[a->n_out + k] < 0)
            return nomem(b);
    }
    return add_project(b, arm, n, ex, ids);
}

static tb_rc distinct_node(binder *b, lnode **plan, uint32_t n_cols)
{
    lnode *p = *plan;
    lnode *a = mknode(b, L_AGG);
    if (a == NULL)
        return nomem(b);
    a->left = p;
    a->n_groups = n_cols;
    a->groups = tb_arena_alloc(b->arena, (n_cols ? n_cols : 1) * sizeof(tb_expr *));
    a->out = tb_arena_alloc(b->arena, (n_cols ? n_cols : 1) * sizeof(int));
    if (a->groups == NULL || a->out == NULL)
        return nomem(b);
    for (uint32_t i = 0; i < n_cols; i++) {
        a->groups[i] = colref(b, p->out[i], -1);
        a->out[i] = newcol(b, b->q->cols[p->out[i]].name, NULL, b->q->cols[p->out[i]].type);
        if (a->groups[i] == NULL || a->out[i] < 0)
            return nomem(b);
    }
    a->n_out = n_cols;
    a->est = p->est;
    *plan = a;
    return TB_OK;
}

/* Append row_number() OVER (PARTITION BY every column) to an arm (INTERSECT/EXCEPT ALL). */
static tb_rc number_arm(binder *b, lnode **arm)
{
    lnode *a = *arm;
    tb_expr **part = tb_arena_alloc(b->arena, (a->n_out + 1) * sizeof(tb_expr *));
    tb_winfunc *fn = tb_arena_zalloc(b->arena, sizeof(*fn));
    lnode *wn = mknode(b, L_WINDOW);
    int rn = newcol(b, "?occurrence?", NULL, tb_type_make(TB_T_INT64));
    if (part == NULL || fn == NULL || wn == NULL || rn < 0)
        return nomem(b);
    for (uint32_t i = 0; i < a->n_out; i++) {
        part[i] = colref(b, a->out[i], -1);
        if (part[i] == NULL)
            return nomem(b);
    }
    fn->kind = TB_WIN_ROW_NUMBER;
    fn->type = tb_type_make(TB_T_INT64);
    fn->frame.mode = TB_FRAME_ROWS;
    fn->frame.start = TB_BOUND_UNBOUNDED;
    fn->frame.end = TB_BOUND_CURRENT;
    wn->left = a;
    wn->n_groups = a->n_out;
    wn->groups = part;
    wn->limit = -1;
    wn->n_wfuncs = 1;
    wn->wfuncs = fn;
    wn->n_out = a->n_out + 1;
    wn->out = tb_arena_alloc(b->arena, wn->n_out * sizeof(int));
    if (wn->out == NULL)
        return nomem(b);
    memcpy(wn->out, a->out, a->n_out * sizeof(int));
    wn->out[a->n_out] = rn;
    wn->est = a->est;
    *arm = wn;
    return TB_OK;
}

static tb_rc bind_setop(binder *b, const PgQuery__SelectStmt *s, scope *parent, lnode **out)
{
    lnode *l = NULL, *r = NULL;
    tb_rc rc;
    b->setop_depth++;
    rc = bind_select_stmt(b, s->larg, parent, &l);
    if (rc == TB_OK)
        rc = bind_select_stmt(b, s->rarg, parent, &r);
    b->setop_depth--;
    if (rc != TB_OK)
        return rc;
    const char *opname = s->op == PG_QUERY__SET_OPERATION__SETOP_UNION       ? "UNION"
                         : s->op == PG_QUERY__SET_OPERATION__SETOP_INTERSECT ? "INTERSECT"
                                                                             : "EXCEPT";
    if (l->n_out != r->n_out)
        return berr(b, TB_E_SQL, -1, "each %s query must have the same number of columns", opname);
    uint32_t n = l->n_out;
    tb_type *types = tb_arena_alloc(b->arena, (n ? n : 1) * sizeof(tb_type));
    if (types == NULL)
        return nomem(b);
    for (uint32_t i = 0; i < n; i++) {
        tb_type two[2] = {b->q->cols[l->out[i]].type, b->q->cols[r->out[i]].type};
        rc = tb_type_common(two, 2, &types[i], -1, b->err);
        if (rc != TB_OK) {
            tb_err_prefix(b->err, "%s types", opname);
            return rc;
        }
        if (types[i].id == TB_T_NULL)
            types[i] = tb_type_make(TB_T_STRING);
    }
    rc = coerce_arm(b, &l, types);
    if (rc == TB_OK)
        rc = coerce_arm(b, &r, types);
    if (rc != TB_OK)
        return rc;
    bool setop_tags = s->op != PG_QUERY__SET_OPERATION__SETOP_UNION;
    uint32_t ng = n; /* the columns compared: n, plus the occurrence number for ALL */
    if (setop_tags) {
        if (s->all) {
            /* INTERSECT / EXCEPT ALL (issue 13): number the equal rows of each arm
             * (row_number() OVER (PARTITION BY every column)); the k-th copy of a row
             * then matches the other arm's k-th copy, which gives min(m, n) / max(m - n, 0)
             * copies. */
            rc = number_arm(b, &l);
            if (rc == TB_OK)
                rc = number_arm(b, &r);
            if (rc != TB_OK)
                return rc;
            ng = n + 1;
            tb_type *t2 = tb_arena_alloc(b->arena, (ng + 1) * sizeof(tb_type));
            if (t2 == NULL)
                return nomem(b);
            memcpy(t2, types, n * sizeof(tb_type));
            t2[n] = tb_type_make(TB_T_INT64);
            types = t2;
        }
        rc = tag_arm(b, &l, 1, 0);
        if (rc == TB_OK)
            rc = tag_arm(b, &r, 0, 1);
        if (rc != TB_OK)
            return rc;
    }
    lnode *u = mknode(b, L_UNION);
    if (u == NULL)
        return nomem(b);
    /* flatten UNION ALL chains */
    lnode *kids[2] = {l, r};
    uint32_t n_kids = 0;
    for (int k = 0; k < 2; k++)
        n_kids += (kids[k]->kind == L_UNION && s->all && !setop_tags) ? kids[k]->n_kids : 1;
    u->kids = tb_arena_alloc(b->arena, n_kids * sizeof(lnode *));
    if (u->kids == NULL)
        return nomem(b);
    for (int k = 0; k < 2; k++) {
        if (kids[k]->kind == L_UNION && s->all && !setop_tags) {
            for (uint32_t i = 0; i < kids[k]->n_kids; i++)
                u->kids[u->n_kids++] = kids[k]->kids[i];
        } else {
            u->kids[u->n_kids++] = kids[k];
        }
    }
    u->n_out = l->n_out;
    u->out = tb_arena_alloc(b->arena, u->n_out * sizeof(int));
    if (u->out == NULL)
        return nomem(b);
    u->est = 0;
    for (uint32_t i = 0; i < u->n_kids; i++)
        u->est += u->kids[i]->est;
    for (uint32_t i = 0; i < u->n_out; i++) {
        u->out[i] = newcol(b, b->q->cols[l->out[i]].name, NULL, b->q->cols[l->out[i]].type);
        if (u->out[i] < 0)
            return nomem(b);
    }
    lnode *p = u;
    if (setop_tags) {
        /* the union carries the two tags too */
        u->n_out = ng + 2;
        int *uo = tb_arena_alloc(b->arena, (ng + 2) * sizeof(int));
        if (uo == NULL)
            return nomem(b);
        memcpy(uo, u->out, ng * sizeof(int));
        for (int k = 0; k < 2; k++) {
            uo[ng + k] = newcol(b, k ? "?r?" : "?l?", NULL, tb_type_make(TB_T_INT32));
            if (uo[ng + k] < 0)
                return nomem(b);
        }
        u->out = uo;
        /* group by the columns, max(left tag), max(right tag), keep by the operation */
        lnode *a = mknode(b, L_AGG);
        if (a == NULL)
            return nomem(b);
        a->left = u;
        a->n_groups = ng;
        a->groups = tb_arena_alloc(b->arena, (ng ? ng : 1) * sizeof(tb_expr *));
        a->n_aggs = 2;
        a->aggs = tb_arena_zalloc(b->arena, 2 * sizeof(tb_aggspec));
        a->n_out = ng + 2;
        a->out = tb_arena_alloc(b->arena, (ng + 2) * sizeof(int));
        if (a->groups == NULL || a->aggs == NULL || a->out == NULL)
            return nomem(b);
        for (uint32_t i = 0; i < ng; i++) {
            a->groups[i] = colref(b, u->out[i], -1);
            a->out[i] = newcol(b, b->q->cols[u->out[i]].name, NULL, types[i]);
            if (a->groups[i] == NULL || a->out[i] < 0)
                return nomem(b);
        }
        for (int k = 0; k < 2; k++) {
            tb_expr *tag = colref(b, u->out[ng + k], -1);
            if (tag == NULL)
                return nomem(b);
            rc = tb_agg_resolve("max", false, false, tag, -1, &a->aggs[k], b->err);
            if (rc != TB_OK)
                return rc;
            a->out[ng + k] = newcol(b, k ? "?r?" : "?l?", NULL, a->aggs[k].type);
            if (a->out[ng + k] < 0)
                return nomem(b);
        }
        a->est = u->est;
        p = a;
        tb_expr *conds[2];
        tb_value one;
        memset(&one, 0, sizeof(one));
        one.type = tb_type_make(TB_T_INT32);
        one.u.i = 1;
        for (int k = 0; k < 2; k++) {
            tb_value v = one;
            v.u.i = (k == 1 && s->op == PG_QUERY__SET_OPERATION__SETOP_EXCEPT) ? 0 : 1;
            tb_expr *pair[2] = {colref(b, a->out[ng + k], -1), tb_expr_const(b->arena, &v)};
            if (pair[0] == NULL || pair[1] == NULL)
                return nomem(b);
            rc = tb_expr_call(b->arena, "=", pair, 2, -1, &conds[k], b->err);
            if (rc != TB_OK)
                return rc;
        }
        tb_expr **cv = tb_arena_memdup(b->arena, conds, sizeof(conds));
        if (cv == NULL)
            return nomem(b);
        rc = add_filter(b, &p, cv, 2);
        if (rc != TB_OK)
            return rc;
        tb_expr **ex = tb_arena_alloc(b->arena, (n ? n : 1) * sizeof(*ex));
        if (ex == NULL)
            return nomem(b);
        for (uint32_t i = 0; i < n; i++) {
            ex[i] = colref(b, a->out[i], -1);
            if (ex[i] == NULL)
                return nomem(b);
        }
        rc = add_project(b, &p, n, ex, ids_dup(b, a->out, n));
        if (rc != TB_OK)
            return rc;
    } else if (!s->all) {
        rc = distinct_node(b, &p, n);
        if (rc != TB_OK)
            return rc;
    }
    *out = p;
    return sort_limit_output(b, s, out, parent);
}

/* ================================================================ window functions */

/*
 * Window functions (issue 13). A call with OVER binds its arguments, PARTITION BY and
 * ORDER BY over the FROM scope (aggregates allowed inside when the query groups: they
 * are rewritten to the aggregate's outputs by add_windows), gets a fresh column id and
 * is recorded in the SELECT's winctx; add_windows then puts one L_WINDOW node per
 * distinct (PARTITION BY, ORDER BY) above the aggregate / HAVING and below the
 * projection, as PostgreSQL evaluates them. Named windows (WINDOW w AS (...)) and
 * OVER (w ...) refinements follow PostgreSQL's rules.
 */

/* PostgreSQL's FRAMEOPTION_* bits (nodes/parsenodes.h), as libpg_query passes them. */
#define FO_NONDEFAULT    0x00001
#define FO_RANGE         0x00002
#define FO_ROWS          0x00004
#define FO_GROUPS        0x00008
#define FO_START_UNB_P   0x00020
#define FO_END_UNB_F     0x00100
#define FO_START_CUR     0x00200
#define FO_END_CUR       0x00400
#define FO_START_OFF_P   0x00800
#define FO_END_OFF_P     0x01000
#define FO_START_OFF_F   0x02000
#define FO_END_OFF_F     0x04000
#define FO_EXCL_CUR      0x08000
#define FO_EXCL_GROUP    0x10000
#define FO_EXCL_TIES     0x20000

typedef struct winent {
    uint32_t n_part, n_keys;
    tb_expr **part;
    tb_sortkey *keys;
    tb_winfunc fn;
    int id;
} winent;

struct winctx {
    const PgQuery__SelectStmt *s; /* its WINDOW clause */
    winent *v;
    uint32_t n, cap;
};

static const PgQuery__WindowDef *named_window(ectx *c, const char *name, int loc, tb_rc *rc)
{
    const PgQuery__SelectStmt *s = c->win->s;
    for (size_t i = 0; i < s->n_window_clause; i++) {
        const pgnode *x = s->window_clause[i];
        if (IS(x, WINDOW_DEF) && x->window_def->name != NULL &&
            strcmp(x->window_def->name, name) == 0)
            return x->window_def;
    }
    *rc = berr(c->b, TB_E_SQL, loc, "window \"%s\" does not exist", name);
    return NULL;
}

static tb_rc frame_offset(ectx *c, const pgnode *n, bool range, int64_t *out_i, double *out_d)
{
    binder *b = c->b;
    scope empty = {NULL, 0, NULL, cur_level(b)};
    ectx oc = {b, &empty, "window frame offsets", NULL, false, NULL, NULL};
    tb_expr *e;
    tb_rc rc = bind_expr(&oc, n, &e);
    if (rc != TB_OK)
        return rc;
    tb_value v;
    if (!tb_expr_is_const(e) || !tb_type_is_numeric(e->type))
        return berr(b, TB_E_UNSUPPORTED, -1,
                    "window frame offsets must be numeric constants here (intervals are not "
                    "supported)");
    if (!range) {
        rc = tb_expr_coerce(b->arena, e, tb_type_make(TB_T_INT64), e->pos, &e, b->err);
        if (rc != TB_OK)
            return rc;
    } else {
        rc = tb_expr_cast(b->arena, e, tb_type_make(TB_T_DOUBLE), e->pos, &e, b->err);
        if (rc != TB_OK)
            return rc;
    }
    rc = tb_expr_eval_const(e, b->arena, &v, b->err);
    if (rc != TB_OK)
        return rc;
    if (v.is_null)
        return berr(b, TB_E_SQL, -1, "frame %s offset must not be null", range ? "RANGE" : "ROWS");
    if (range ? v.u.d < 0 : v.u.i < 0)
        return berr(b, TB_E_SQL, -1, "frame starting offset must not be negative");
    *out_i = range ? 0 : v.u.i;
    *out_d = range ? v.u.d : 0;
    return TB_OK;
}

static tb_rc bind_frame(ectx *c, int fo, const pgnode *so, const pgnode *eo, tb_winframe *fr)
{
    tb_rc rc;
    memset(fr, 0, sizeof(*fr));
    if (!(fo & FO_NONDEFAULT)) {
        fr->mode = TB_FRAME_RANGE;
        fr->start = TB_BOUND_UNBOUNDED;
        fr->end = TB_BOUND_CURRENT;
        return TB_OK;
    }
    fr->mode = (fo & FO_ROWS) ? TB_FRAME_ROWS : (fo & FO_GROUPS) ? TB_FRAME_GROUPS : TB_FRAME_RANGE;
    bool range = fr->mode == TB_FRAME_RANGE;
    fr->start = (fo & FO_START_UNB_P)   ? TB_BOUND_UNBOUNDED
                : (fo & FO_START_CUR)   ? TB_BOUND_CURRENT
                : (fo & FO_START_OFF_P) ? TB_BOUND_PRECEDING
                                        : TB_BOUND_FOLLOWING;
    fr->end = (fo & FO_END_UNB_F)   ? TB_BOUND_UNBOUNDED
              : (fo & FO_END_OFF_P) ? TB_BOUND_PRECEDING
              : (fo & FO_END_OFF_F) ? TB_BOUND_FOLLOWING
                                    : TB_BOUND_CURRENT;
    if (fr->start == TB_BOUND_PRECEDING || fr->start == TB_BOUND_FOLLOWING) {
        rc = frame_offset(c, so, range, &fr->start_off, &fr->start_dnum);
        if (rc != TB_OK)
            return rc;
    }
    if (fr->end == TB_BOUND_PRECEDING || fr->end == TB_BOUND_FOLLOWING) {
        rc = frame_offset(c, eo, range, &fr->end_off, &fr->end_dnum);
        if (rc != TB_OK)
            return rc;
    }
    fr->exclude = (fo & FO_EXCL_CUR)     ? TB_EXCLUDE_CURRENT
                  : (fo & FO_EXCL_GROUP) ? TB_EXCLUDE_GROUP
                  : (fo & FO_EXCL_TIES)  ? TB_EXCLUDE_TIES
                                         : TB_EXCLUDE_NONE;
    return TB_OK;
}

static tb_rc bind_window_call(ectx *c, const PgQuery__FuncCall *fc, const char *name,
                              tb_expr **out)
{
    binder *b = c->b;
    int loc = fc->location;
    tb_rc rc = TB_OK;
    if (c->win == NULL)
        return berr(b, TB_E_SQL, loc, "window functions are not allowed in %s", c->clause);
    if (fc->agg_distinct)
        return berr(b, TB_E_UNSUPPORTED, loc, "DISTINCT is not implemented for window functions");
    if (fc->agg_filter != NULL || fc->n_agg_order > 0 || fc->agg_within_group)
        return berr(b, TB_E_UNSUPPORTED, loc,
                    "FILTER / ORDER BY / WITHIN GROUP in window functions are not supported");
    /* the effective window definition */
    const PgQuery__WindowDef *wd = fc->over, *base = NULL;
    if (wd->name != NULL && wd->name[0] != '\0') {
        base = named_window(c, wd->name, loc, &rc);
        if (base == NULL)
            return rc;
        wd = base;
        base = NULL;
    }
    if (wd->refname != NULL && wd->refname[0] != '\0') {
        base = named_window(c, wd->refname, loc, &rc);
        if (base == NULL)
            return rc;
        if (wd->n_partition_clause > 0)
            return berr(b, TB_E_SQL, loc, "cannot override PARTITION BY clause of window \"%s\"",
                        wd->refname);
        if (wd->n_order_clause > 0 && base->n_order_clause > 0)
            return berr(b, TB_E_SQL, loc, "cannot override ORDER BY clause of window \"%s\"",
                        wd->refname);
        if (base->frame_options & FO_NONDEFAULT)
            return berr(b, TB_E_SQL, loc, "cannot copy window \"%s\" because it has a frame clause",
                        wd->refname);
    }
    const PgQuery__WindowDef *pdef = base != NULL ? base : wd;
    const PgQuery__WindowDef *odef = (base != NULL && wd->n_order_clause == 0) ? base : wd;
    ectx ic = *c;
    ic.win = NULL;
    ic.input = NULL;
    ic.clause = "window functions";
    winent e;
    memset(&e, 0, sizeof(e));
    e.n_part = (uint32_t)pdef->n_partition_clause;
    e.n_keys = (uint32_t)odef->n_order_clause;
    e.part = tb_arena_alloc(b->arena, (e.n_part + 1) * sizeof(tb_expr *));
    e.keys = tb_arena_zalloc(b->arena, (e.n_keys + 1) * sizeof(tb_sortkey));
    if (e.part == NULL || e.keys == NULL)
        return nomem(b);
    for (uint32_t i = 0; i < e.n_part; i++) {
        rc = bind_expr(&ic, pdef->partition_clause[i], &e.part[i]);
        if (rc != TB_OK)
            return rc;
    }
    for (uint32_t i = 0; i < e.n_keys; i++) {
        const pgnode *x = odef->order_clause[i];
        if (!IS(x, SORT_BY))
            return berr(b, TB_E_SQL, loc, "bad window ORDER BY");
        const PgQuery__SortBy *sb = x->sort_by;
        rc = bind_expr(&ic, sb->node, &e.keys[i].expr);
        if (rc != TB_OK)
            return rc;
        e.keys[i].desc = sb->sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_DESC;
        e.keys[i].nulls_first =
            sb->sortby_nulls == PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_FIRST ||
            (sb->sortby_nulls != PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_LAST && e.keys[i].desc);
    }
    rc = bind_frame(c, wd->frame_options, wd->start_offset, wd->end_offset, &e.fn.frame);
    if (rc != TB_OK)
        return rc;
    if (e.fn.frame.mode == TB_FRAME_RANGE &&
        (e.fn.frame.start == TB_BOUND_PRECEDING || e.fn.frame.start == TB_BOUND_FOLLOWING ||
         e.fn.frame.end == TB_BOUND_PRECEDING || e.fn.frame.end == TB_BOUND_FOLLOWING)) {
        if (e.n_keys != 1)
            return berr(b, TB_E_SQL, loc,
                        "RANGE with offset PRECEDING/FOLLOWING requires exactly one ORDER BY "
                        "column");
        if (!tb_type_is_numeric(e.keys[0].expr->type))
            return berr(b, TB_E_UNSUPPORTED, loc,
                        "RANGE with offset PRECEDING/FOLLOWING is supported for numeric ORDER BY "
                        "columns only");
    }
    if (e.fn.frame.mode == TB_FRAME_GROUPS && e.n_keys == 0 &&
        (e.fn.frame.start == TB_BOUND_PRECEDING || e.fn.frame.start == TB_BOUND_FOLLOWING ||
         e.fn.frame.end == TB_BOUND_PRECEDING || e.fn.frame.end == TB_BOUND_FOLLOWING))
        return berr(b, TB_E_SQL, loc, "GROUPS mode requires an ORDER BY clause");
    /* the function */
    static const struct {
        const char *name;
        tb_win_kind kind;
        uint32_t min_args, max_args;
    } fns[] = {{"row_number", TB_WIN_ROW_NUMBER, 0, 0}, {"rank", TB_WIN_RANK, 0, 0},
               {"dense_rank", TB_WIN_DENSE_RANK, 0, 0}, {"percent_rank", TB_WIN_PERCENT_RANK, 0, 0},
               {"cume_dist", TB_WIN_CUME_DIST, 0, 0},   {"ntile", TB_WIN_NTILE, 1, 1},
               {"lag", TB_WIN_LAG, 1, 3},               {"lead", TB_WIN_LEAD, 1, 3},
               {"first_value", TB_WIN_FIRST_VALUE, 1, 1}, {"last_value", TB_WIN_LAST_VALUE, 1, 1},
               {"nth_value", TB_WIN_NTH_VALUE, 2, 2}};
    int k = -1;
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
        if (strcmp(fns[i].name, name) == 0)
            k = (int)i;
    e.fn.pos = P(b, loc);
    if (k < 0 && !is_agg_name(name))
        return berr(b, TB_E_NOTFOUND, loc,
                    "OVER specified, but %s is not a window function nor an aggregate function",
                    name);
    if (fc->agg_star && (k >= 0 || strcmp(name, "count") != 0))
        return berr(b, TB_E_SQL, loc, "%s(*) is not allowed here; only count(*) is", name);
    uint32_t na = (uint32_t)fc->n_args;
    if (k >= 0 ? (na < fns[k].min_args || na > fns[k].max_args) : (!fc->agg_star && na != 1))
        return berr(b, TB_E_NOTFOUND, loc, "function %s with %u arguments does not exist", name,
                    na);
    for (uint32_t i = 0; i < na; i++) {
        if (IS(fc->args[i], NAMED_ARG_EXPR))
            return berr(b, TB_E_SQL, loc, "named arguments are not allowed in window functions");
        rc = bind_expr(&ic, fc->args[i], &e.fn.args[i]);
        if (rc != TB_OK)
            return rc;
    }
    e.fn.n_args = na;
    if (k < 0) {
        e.fn.kind = TB_WIN_AGG;
        rc = tb_agg_resolve(name, fc->agg_star, false, na ? e.fn.args[0] : NULL, P(b, loc),
                            &e.fn.agg, b->err);
        if (rc != TB_OK)
            return rc;
        e.fn.type = e.fn.agg.type;
    } else {
        e.fn.kind = fns[k].kind;
        switch (e.fn.kind) {
        case TB_WIN_ROW_NUMBER:
        case TB_WIN_RANK:
        case TB_WIN_DENSE_RANK:
            e.fn.type = tb_type_make(TB_T_INT64);
            break;
        case TB_WIN_PERCENT_RANK:
        case TB_WIN_CUME_DIST:
            e.fn.type = tb_type_make(TB_T_DOUBLE);
            break;
        case TB_WIN_NTILE:
            e.fn.type = tb_type_make(TB_T_INT32);
            rc = tb_expr_coerce(b->arena, e.fn.args[0], tb_type_make(TB_T_INT64),
                                e.fn.args[0]->pos, &e.fn.args[0], b->err);
            break;
        default:
            if (e.fn.args[0]->type.id == TB_T_NULL)
                rc = tb_expr_coerce(b->arena, e.fn.args[0], tb_type_make(TB_T_STRING),
                                    e.fn.args[0]->pos, &e.fn.args[0], b->err);
            e.fn.type = e.fn.args[0]->type;
            if (rc == TB_OK && na > 1)
                rc = tb_expr_coerce(b->arena, e.fn.args[1], tb_type_make(TB_T_INT64),
                                    e.fn.args[1]->pos, &e.fn.args[1], b->err);
            if (rc == TB_OK && na > 2)
                rc = tb_expr_coerce(b->arena, e.fn.args[2], e.fn.type, e.fn.args[2]->pos,
                                    &e.fn.args[2], b->err);
            break;
        }
        if (rc != TB_OK)
            return rc;
    }
    e.id = newcol(b, name, NULL, e.fn.type);
    if (e.id < 0)
        return nomem(b);
    winctx *w = c->win;
    if (w->n == w->cap) {
        uint32_t nc = w->cap ? w->cap * 2 : 4;
        winent *nv = tb_arena_alloc(b->arena, nc * sizeof(*nv));
        if (nv == NULL)
            return nomem(b);
        if (w->n)
            memcpy(nv, w->v, w->n * sizeof(*nv));
        w->v = nv;
        w->cap = nc;
    }
    w->v[w->n++] = e;
    *out = colref(b, e.id, P(b, loc));
    return *out ? TB_OK : nomem(b);
}

static bool same_window(const winent *a, const winent *b)
{
    if (a->n_part != b->n_part || a->n_keys != b->n_keys)
        return false;
    for (uint32_t i = 0; i < a->n_part; i++)
        if (!tb_sql_expr_equal(a->part[i], b->part[i]))
            return false;
    for (uint32_t i = 0; i < a->n_keys; i++)
        if (a->keys[i].desc != b->keys[i].desc || a->keys[i].nulls_first != b->keys[i].nulls_first ||
            !tb_sql_expr_equal(a->keys[i].expr, b->keys[i].expr))
            return false;
    return true;
}

/* One L_WINDOW per distinct (PARTITION BY, ORDER BY) above *plan; as: the aggregate the
 * expressions are rewritten to (NULL: no grouping). */
static tb_rc add_windows(binder *b, winctx *w, aggstate *as, lnode **plan)
{
    tb_rc rc;
    if (as != NULL) {
        for (uint32_t i = 0; i < w->n; i++) {
            winent *e = &w->v[i];
            for (uint32_t k = 0; k < e->n_part; k++)
                if ((rc = post_agg(b, as, e->part[k], &e->part[k])) != TB_OK)
                    return rc;
            for (uint32_t k = 0; k < e->n_keys; k++)
                if ((rc = post_agg(b, as, e->keys[k].expr, &e->keys[k].expr)) != TB_OK)
                    return rc;
            for (uint32_t k = 0; k < e->fn.n_args; k++)
                if ((rc = post_agg(b, as, e->fn.args[k], &e->fn.args[k])) != TB_OK)
                    return rc;
        }
    }
    bool *done = tb_arena_zalloc(b->arena, w->n * sizeof(bool));
    if (done == NULL)
        return nomem(b);
    for (uint32_t i = 0; i < w->n; i++) {
        if (done[i])
            continue;
        uint32_t k = 0;
        for (uint32_t j = i; j < w->n; j++)
            k += !done[j] && same_window(&w->v[i], &w->v[j]);
        lnode *wn = mknode(b, L_WINDOW);
        if (wn == NULL)
            return nomem(b);
        wn->left = *plan;
        wn->n_groups = w->v[i].n_part;
        wn->groups = w->v[i].part;
        wn->n_keys = w->v[i].n_keys;
        wn->keys = w->v[i].keys;
        wn->limit = -1;
        wn->n_wfuncs = k;
        wn->wfuncs = tb_arena_alloc(b->arena, k * sizeof(tb_winfunc));
        wn->n_out = (*plan)->n_out + k;
        wn->out = tb_arena_alloc(b->arena, wn->n_out * sizeof(int));
        if (wn->wfuncs == NULL || wn->out == NULL)
            return nomem(b);
        memcpy(wn->out, (*plan)->out, (*plan)->n_out * sizeof(int));
        uint32_t f = 0;
        for (uint32_t j = i; j < w->n; j++) {
            if (done[j] || !same_window(&w->v[i], &w->v[j]))
                continue;
            done[j] = true;
            wn->wfuncs[f] = w->v[j].fn;
            wn->out[(*plan)->n_out + f] = w->v[j].id;
            f++;
        }
        wn->est = (*plan)->est;
        *plan = wn;
    }
    return TB_OK;
}

/* Bind one GROUP BY expression (an ordinal, a name that may be a select-list alias, an
 * expression) into as->groups once; *out_idx: its index there. */
static tb_rc group_item(binder *b, ectx *gc, const pgnode *g, target *tg, uint32_t n_tg, scope *sc,
                        aggstate *as, uint32_t *cap, uint32_t *out_idx)
{
    tb_rc rc;
    tb_expr *e = NULL;
    if (IS(g, A_CONST) && g->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL) {
        int k = g->a_const->ival->ival;
        if (k < 1 || (uint32_t)k > n_tg)
            return berr(b, TB_E_SQL, g->a_const->location,
                        "GROUP BY position %d is not in select list", k);
        target *t = &tg[k - 1];
        if (t->node == NULL) {
            e = colref(b, t->star_id, -1);
        } else {
            if (has_agg(t->node))
                return berr(b, TB_E_SQL, t->loc,
                            "aggregate functions are not allowed in GROUP BY");
            rc = bind_expr(gc, t->node, &e);
            if (rc != TB_OK)
                return rc;
        }
    } else if (IS(g, COLUMN_REF) && g->column_ref->n_fields == 1 &&
               str_of(g->column_ref->fields[0]) != NULL) {
        const char *nm = str_of(g->column_ref->fields[0]);
        int id;
        scope local = *sc;
        local.parent = NULL;
        ectx lc = *gc;
        lc.sc = &local;
        rc = lookup(&lc, NULL, nm, g->column_ref->location, true, &id);
        if (rc == TB_OK) {
            e = colref(b, id, P(b, g->column_ref->location));
        } else if (rc == TB_E_NOTFOUND) {
            /* a select-list alias */
            int found = -1;
            for (uint32_t k = 0; k < n_tg; k++) {
                if (tg[k].node != NULL && strcmp(tg[k].name, nm) == 0) {
                    found = (int)k;
                    break;
                }
            }
            if (found < 0) {
                rc = bind_expr(gc, g, &e); /* reports the error (or outer ref) */
                if (rc != TB_OK)
                    return rc;
            } else {
                if (has_agg(tg[found].node))
                    return berr(b, TB_E_SQL, g->column_ref->location,
                                "aggregate functions are not allowed in GROUP BY");
                rc = bind_expr(gc, tg[found].node, &e);
                if (rc != TB_OK)
                    return rc;
            }
        } else {
            return rc;
        }
    } else {
        rc = bind_expr(gc, g, &e);
        if (rc != TB_OK)
            return rc;
    }
    if (e == NULL)
        return nomem(b);
    for (uint32_t k = 0; k < as->n_groups; k++) {
        if (tb_sql_expr_equal(as->groups[k], e)) {
            *out_idx = k;
            return TB_OK;
        }
    }
    if (as->n_groups >= 64)
        return berr(b, TB_E_LIMIT, -1, "more than 64 GROUP BY expressions");
    *out_idx = as->n_groups;
    return push_expr(b, &as->groups, &as->n_groups, cap, e);
}

#define MAX_GROUPING_SETS 4096

/* Append mask m to the set list l (grouping sets keep duplicates, as PostgreSQL). */
static tb_rc set_push(binder *b, uint64_t **l, uint32_t *n, uint32_t *cap, uint64_t m)
{
    if (*n >= MAX_GROUPING_SETS)
        return berr(b, TB_E_LIMIT, -1, "more than %d grouping sets", MAX_GROUPING_SETS);
    if (*n == *cap) {
        uint32_t nc = *cap ? *cap * 2 : 8;
        uint64_t *nl = tb_arena_alloc(b->arena, nc * sizeof(*nl));
        if (nl == NULL)
            return nomem(b);
        if (*n)
            memcpy(nl, *l, *n * sizeof(*nl));
        *l = nl;
        *cap = nc;
    }
    (*l)[(*n)++] = m;
    return TB_OK;
}

typedef struct gsbind {
    binder *b;
    ectx *gc;
    target *tg;
    uint32_t n_tg;
    scope *sc;
    aggstate *as;
    uint32_t *cap;
} gsbind;

/* The mask of one element: an expression or a parenthesized list (ROW). */
static tb_rc gs_elem(gsbind *g, const pgnode *n, uint64_t *out)
{
    uint32_t idx;
    tb_rc rc;
    *out = 0;
    if (IS(n, ROW_EXPR)) {
        for (size_t i = 0; i < n->row_expr->n_args; i++) {
            if ((rc = group_item(g->b, g->gc, n->row_expr->args[i], g->tg, g->n_tg, g->sc, g->as,
                                 g->cap, &idx)) != TB_OK)
                return rc;
            *out |= (uint64_t)1 << idx;
        }
        return TB_OK;
    }
    if (IS(n, GROUPING_SET) && n->grouping_set->kind == PG_QUERY__GROUPING_SET_KIND__GROUPING_SET_SIMPLE) {
        for (size_t i = 0; i < n->grouping_set->n_content; i++) {
            uint64_t m;
            if ((rc = gs_elem(g, n->grouping_set->content[i], &m)) != TB_OK)
                return rc;
            *out |= m;
        }
        return TB_OK;
    }
    rc = group_item(g->b, g->gc, n, g->tg, g->n_tg, g->sc, g->as, g->cap, &idx);
    if (rc == TB_OK)
        *out = (uint64_t)1 << idx;
    return rc;
}

/* The sets one GROUP BY item stands for (PostgreSQL's expansion). */
static tb_rc gs_item(gsbind *g, const pgnode *n, uint64_t **l, uint32_t *nl, uint32_t *cl)
{
    tb_rc rc;
    binder *b = g->b;
    if (!IS(n, GROUPING_SET)) {
        uint64_t m;
        if ((rc = gs_elem(g, n, &m)) != TB_OK)
            return rc;
        return set_push(b, l, nl, cl, m);
    }
    const PgQuery__GroupingSet *gs = n->grouping_set;
    uint32_t ne = (uint32_t)gs->n_content;
    switch (gs->kind) {
    case PG_QUERY__GROUPING_SET_KIND__GROUPING_SET_EMPTY:
        return set_push(b, l, nl, cl, 0);
    case PG_QUERY__GROUPING_SET_KIND__GROUPING_SET_SIMPLE: {
        uint64_t m;
        if ((rc = gs_elem(g, n, &m)) != TB_OK)
            return rc;
        return set_push(b, l, nl, cl, m);
    }
    case PG_QUERY__GROUPING_SET_KIND__GROUPING_SET_ROLLUP:
    case PG_QUERY__GROUPING_SET_KIND__GROUPING_SET_CUBE: {
        if (ne > 12)
            return berr(b, TB_E_LIMIT, gs->location, "ROLLUP / CUBE of more than 12 elements");
        uint64_t el[12];
        for (uint32_t i = 0; i < ne; i++)
            if ((rc = gs_elem(g, gs->content[i], &el[i])) != TB_OK)
                return rc;
        if (gs->kind == PG_QUERY__GROUPING_SET_KIND__GROUPING_SET_ROLLUP) {
            for (uint32_t k = ne + 1; k > 0; k--) { /* (a,b,c), (a,b), (a), () */
                uint64_t m = 0;
                for (uint32_t i = 0; i + 1 < k; i++)
                    m |= el[i];
                if ((rc = set_push(b, l, nl, cl, m)) != TB_OK)
                    return rc;
            }
        } else {
            for (uint32_t bits = (1u << ne); bits > 0; bits--) { /* all subsets, full first */
                uint64_t m = 0;
                for (uint32_t i = 0; i < ne; i++)
                    if (((bits - 1) >> (ne - 1 - i)) & 1)
                        m |= el[i];
                if ((rc = set_push(b, l, nl, cl, m)) != TB_OK)
                    return rc;
            }
        }
        return TB_OK;
    }
    case PG_QUERY__GROUPING_SET_KIND__GROUPING_SET_SETS:
        for (uint32_t i = 0; i < ne; i++)
            if ((rc = gs_item(g, gs->content[i], l, nl, cl)) != TB_OK)
                return rc;
        return TB_OK;
    default:
        return berr(b, TB_E_SQL, gs->location, "bad grouping set");
    }
}

/* GROUP BY: the group expressions into as->groups; with grouping sets, the sets (the
 * cross product of the items' sets) into as->sets. */
static tb_rc group_sets(binder *b, ectx *gc, const PgQuery__SelectStmt *s, target *tg,
                        uint32_t n_tg, scope *sc, aggstate *as, uint32_t *cap)
{
    gsbind g = {b, gc, tg, n_tg, sc, as, cap};
    uint64_t *cur = NULL;
    uint32_t n_cur = 0, cap_cur = 0;
    tb_rc rc = set_push(b, &cur, &n_cur, &cap_cur, 0);
    if (rc != TB_OK)
        return rc;
    for (size_t i = 0; i < s->n_group_clause; i++) {
        const pgnode *item = s->group_clause[i];
        if (IS(item, GROUPING_SET))
            as->gsets = true;
        uint64_t *l = NULL;
        uint32_t nl = 0, cl = 0;
        if ((rc = gs_item(&g, item, &l, &nl, &cl)) != TB_OK)
            return rc;
        uint64_t *next = NULL;
        uint32_t n_next = 0, cap_next = 0;
        for (uint32_t x = 0; x < n_cur; x++)
            for (uint32_t y = 0; y < nl; y++)
                if ((rc = set_push(b, &next, &n_next, &cap_next, cur[x] | l[y])) != TB_OK)
                    return rc;
        cur = next;
        n_cur = n_next;
        cap_cur = cap_next;
    }
    as->sets = cur;
    as->n_sets = n_cur;
    return TB_OK;
}

/*
 * Grouping sets (issue 13): the aggregate node `a` (groups = every GROUP BY expression)
 * becomes a UNION ALL of one aggregate per set over the same input, each projected to
 * a's output layout (NULL for the expressions the set does not group by) plus the
 * grouping() results, constants per set. *out's ids are a's then the grouping() ids,
 * so everything bound above the aggregate stays valid.
 */
static tb_rc expand_gsets(binder *b, aggstate *as, aggctx *ac, lnode *a, lnode **out)
{
    tb_rc rc;
    uint64_t all = as->n_groups >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << as->n_groups) - 1);
    uint32_t n_sets = as->gsets ? as->n_sets : 1;
    uint32_t *gidx = NULL;
    uint32_t total = 0;
    for (uint32_t g = 0; g < ac->n_gc; g++)
        total += ac->gc_nargs[g];
    gidx = tb_arena_alloc(b->arena, (total + 1) * sizeof(uint32_t));
    if (gidx == NULL)
        return nomem(b);
    for (uint32_t g = 0, t = 0; g < ac->n_gc; g++) {
        for (uint32_t k = 0; k < ac->gc_nargs[g]; k++, t++) {
            int found = -1;
            for (uint32_t i = 0; i < as->n_groups && found < 0; i++)
                if (tb_sql_expr_equal(as->groups[i], ac->gc_args[g][k]))
                    found = (int)i;
            if (found < 0)
                return berr(b, TB_E_SQL, ac->gc_args[g][k]->pos,
                            "arguments to GROUPING must be grouping expressions of the "
                            "associated query level");
            gidx[t] = (uint32_t)found;
        }
    }
    lnode *u = mknode(b, L_UNION);
    if (u == NULL)
        return nomem(b);
    u->n_out = a->n_out + ac->n_gc;
    u->out = tb_arena_alloc(b->arena, u->n_out * sizeof(int));
    u->kids = tb_arena_alloc(b->arena, n_sets * sizeof(lnode *));
    if (u->out == NULL || u->kids == NULL)
        return nomem(b);
    memcpy(u->out, a->out, a->n_out * sizeof(int));
    for (uint32_t g = 0; g < ac->n_gc; g++)
        u->out[a->n_out + g] = ac->gc_ids[g];
    u->est = 0;
    for (uint32_t si = 0; si < n_sets; si++) {
        uint64_t m = as->gsets ? as->sets[si] : all;
        lnode *ag = mknode(b, L_AGG);
        lnode *pj = mknode(b, L_PROJECT);
        if (ag == NULL || pj == NULL)
            return nomem(b);
        ag->left = a->left;
        ag->n_aggs = a->n_aggs;
        ag->aggs = a->aggs;
        ag->groups = tb_arena_alloc(b->arena, (as->n_groups + 1) * sizeof(tb_expr *));
        ag->out = tb_arena_alloc(b->arena, (as->n_groups + a->n_aggs + 1) * sizeof(int));
        pj->exprs = tb_arena_alloc(b->arena, (u->n_out + 1) * sizeof(tb_expr *));
        pj->out = tb_arena_alloc(b->arena, (u->n_out + 1) * sizeof(int));
        if (ag->groups == NULL || ag->out == NULL || pj->exprs == NULL || pj->out == NULL)
            return nomem(b);
        int *where = tb_arena_alloc(b->arena, (as->n_groups + 1) * sizeof(int));
        if (where == NULL)
            return nomem(b);
        for (uint32_t k = 0; k < as->n_groups; k++) {
            where[k] = -1;
            if ((m >> k) & 1) {
                const tb_expr *e = as->groups[k];
                where[k] = (int)ag->n_groups;
                ag->groups[ag->n_groups] = as->groups[k];
                ag->out[ag->n_groups] = newcol(b, b->q->cols[as->gids[k]].name, NULL, e->type);
                if (ag->out[ag->n_groups] < 0)
                    return nomem(b);
                ag->n_groups++;
            }
        }
        for (uint32_t k = 0; k < a->n_aggs; k++) {
            ag->out[ag->n_groups + k] =
                newcol(b, b->q->cols[a->out[as->n_groups + k]].name, NULL, a->aggs[k].type);
            if (ag->out[ag->n_groups + k] < 0)
                return nomem(b);
        }
        ag->n_out = ag->n_groups + a->n_aggs;
        ag->est = ag->n_groups ? a->left->est / 10 + 1 : 1;
        pj->left = ag;
        pj->n_out = u->n_out;
        for (uint32_t k = 0; k < as->n_groups; k++) {
            tb_type t = as->groups[k]->type;
            if (where[k] >= 0) {
                pj->exprs[k] = colref(b, ag->out[where[k]], -1);
                if (pj->exprs[k] == NULL)
                    return nomem(b);
            } else {
                tb_expr *nul = tb_expr_null(b->arena);
                if (nul == NULL)
                    return nomem(b);
                rc = t.id == TB_T_NULL ? TB_OK
                                       : tb_expr_cast(b->arena, nul, t, -1, &nul, b->err);
                if (rc != TB_OK)
                    return rc;
                pj->exprs[k] = nul;
            }
        }
        for (uint32_t k = 0; k < a->n_aggs; k++) {
            pj->exprs[as->n_groups + k] = colref(b, ag->out[ag->n_groups + k], -1);
            if (pj->exprs[as->n_groups + k] == NULL)
                return nomem(b);
        }
        for (uint32_t g = 0, t = 0; g < ac->n_gc; g++) {
            int64_t v = 0;
            for (uint32_t k = 0; k < ac->gc_nargs[g]; k++, t++)
                if (!((m >> gidx[t]) & 1))
                    v |= (int64_t)1 << (ac->gc_nargs[g] - 1 - k);
            tb_value val;
            memset(&val, 0, sizeof(val));
            val.type = tb_type_make(TB_T_INT32);
            val.u.i = v;
            pj->exprs[a->n_out + g] = tb_expr_const(b->arena, &val);
            if (pj->exprs[a->n_out + g] == NULL)
                return nomem(b);
        }
        for (uint32_t k = 0; k < u->n_out; k++) {
            pj->out[k] = newcol(b, b->q->cols[u->out[k]].name, NULL, pj->exprs[k]->type);
            if (pj->out[k] < 0)
                return nomem(b);
        }
        pj->est = ag->est;
        u->est += ag->est;
        u->kids[u->n_kids++] = pj;
    }
    *out = u;
    return TB_OK;
}

/* DISTINCT ON (issue 13): row_number() OVER (PARTITION BY the items ORDER BY the query's
 * ORDER BY) = 1 above *plan. The leading ORDER BY items must be the DISTINCT ON items
 * (PostgreSQL's rule: otherwise "first" would not be defined by the ORDER BY). */
static tb_rc distinct_on_node(binder *b, const PgQuery__SelectStmt *s, lnode **plan,
                              uint32_t n_don, const int *don_ids, uint32_t n_sort,
                              const target *tg, const int *sort_target, const int *hidden_ids)
{
    tb_rc rc;
    tb_sortkey *keys = tb_arena_zalloc(b->arena, (n_sort + 1) * sizeof(*keys));
    tb_expr **part = tb_arena_alloc(b->arena, (n_don + 1) * sizeof(tb_expr *));
    if (keys == NULL || part == NULL)
        return nomem(b);
    for (uint32_t i = 0; i < n_sort; i++) {
        const PgQuery__SortBy *sb = s->sort_clause[i]->sort_by;
        int id = sort_target[i] >= 0 ? tg[sort_target[i]].id : hidden_ids[i];
        if (i < n_don && sort_target[i] >= 0) {
            /* (hidden expressions have their own ids: not checked) */
            bool found = false;
            for (uint32_t k = 0; k < n_don; k++)
                found = found || don_ids[k] == id;
            if (!found)
                return berr(b, TB_E_SQL, sb->location,
                            "SELECT DISTINCT ON expressions must match initial ORDER BY "
                            "expressions");
        }
        keys[i].expr = colref(b, id, -1);
        if (keys[i].expr == NULL)
            return nomem(b);
        keys[i].desc = sb->sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_DESC;
        keys[i].nulls_first =
            sb->sortby_nulls == PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_FIRST ||
            (sb->sortby_nulls != PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_LAST && keys[i].desc);
    }
    for (uint32_t k = 0; k < n_don; k++) {
        part[k] = colref(b, don_ids[k], -1);
        if (part[k] == NULL)
            return nomem(b);
    }
    lnode *wn = mknode(b, L_WINDOW);
    if (wn == NULL)
        return nomem(b);
    tb_winfunc *fn = tb_arena_zalloc(b->arena, sizeof(*fn));
    int rn = newcol(b, "?row_number?", NULL, tb_type_make(TB_T_INT64));
    if (fn == NULL || rn < 0)
        return nomem(b);
    fn->kind = TB_WIN_ROW_NUMBER;
    fn->type = tb_type_make(TB_T_INT64);
    fn->frame.mode = TB_FRAME_ROWS;
    fn->frame.start = TB_BOUND_UNBOUNDED;
    fn->frame.end = TB_BOUND_CURRENT;
    wn->left = *plan;
    wn->n_groups = n_don;
    wn->groups = part;
    wn->n_keys = n_sort;
    wn->keys = keys;
    wn->limit = -1;
    wn->n_wfuncs = 1;
    wn->wfuncs = fn;
    wn->n_out = (*plan)->n_out + 1;
    wn->out = tb_arena_alloc(b->arena, wn->n_out * sizeof(int));
    if (wn->out == NULL)
        return nomem(b);
    memcpy(wn->out, (*plan)->out, (*plan)->n_out * sizeof(int));
    wn->out[(*plan)->n_out] = rn;
    wn->est = (*plan)->est;
    *plan = wn;
    tb_value one;
    memset(&one, 0, sizeof(one));
    one.type = tb_type_make(TB_T_INT64);
    one.u.i = 1;
    tb_expr *pair[2] = {colref(b, rn, -1), tb_expr_const(b->arena, &one)};
    if (pair[0] == NULL || pair[1] == NULL)
        return nomem(b);
    tb_expr **eq = tb_arena_alloc(b->arena, sizeof(*eq)); /* the filter keeps the array */
    if (eq == NULL)
        return nomem(b);
    rc = tb_expr_call(b->arena, "=", pair, 2, -1, eq, b->err);
    if (rc != TB_OK)
        return rc;
    return add_filter(b, plan, eq, 1);
}

static tb_rc bind_select_core(binder *b, const PgQuery__SelectStmt *s, scope *parent, lnode **out)
{
    tb_rc rc;
    fromres fr;
    memset(&fr, 0, sizeof(fr));
    lnode *plan = NULL;

    if (s->into_clause != NULL)
        return berr(b, TB_E_UNSUPPORTED, -1, "SELECT INTO is not supported; use CREATE TABLE AS");
    if (s->n_locking_clause > 0)
        return berr(b, TB_E_UNSUPPORTED, -1, "FOR UPDATE/SHARE is not supported");
    /* FROM */
    if (s->n_from_clause == 0) {
        lnode *v = mknode(b, L_VALUES);
        if (v == NULL)
            return nomem(b);
        v->n_rows = 1;
        v->out = tb_arena_alloc(b->arena, sizeof(int));
        if (v->out == NULL)
            return nomem(b);
        v->est = 1;
        plan = v;
    } else {
        for (size_t i = 0; i < s->n_from_clause; i++) {
            fromres item;
            rc = bind_from(b, s->from_clause[i], parent, &item);
            if (rc != TB_OK)
                return rc;
            if (i == 0) {
                fr = item;
                continue;
            }
            /* check duplicate aliases across comma items */
            for (uint32_t x = 0; x < fr.n_rels; x++)
                for (uint32_t y = 0; y < item.n_rels; y++)
                    if (fr.rels[x].alias != NULL && item.rels[y].alias != NULL &&
                        strcmp(fr.rels[x].alias, item.rels[y].alias) == 0)
                        return berr(b, TB_E_SQL, -1, "table name \"%s\" specified more than once",
                                    item.rels[y].alias);
            fromres j;
            rc = concat_rels(b, &fr, &item, &j, 0);
            if (rc != TB_OK)
                return rc;
            j.node = join_node(b, fr.node, item.node, TB_JOIN_INNER);
            if (j.node == NULL)
                return nomem(b);
            j.node->est = fr.node->est * item.node->est;
            fr = j;
        }
        plan = fr.node;
    }
    scope sc = {fr.rels, fr.n_rels, parent, cur_level(b)};

    /* WHERE */
    if (s->where_clause != NULL) {
        uint32_t n_conds = 0, cap_conds = 0;
        tb_expr **conds = NULL;
        /* raw conjuncts */
        const pgnode *stack[256];
        int sp = 0;
        stack[sp++] = s->where_clause;
        const pgnode *items[256];
        int n_items = 0;
        while (sp > 0) {
            const pgnode *x = stack[--sp];
            if (IS(x, BOOL_EXPR) && x->bool_expr->boolop == PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR &&
                sp + (int)x->bool_expr->n_args < 256) {
                for (size_t k = x->bool_expr->n_args; k > 0; k--)
                    stack[sp++] = x->bool_expr->args[k - 1];
            } else if (n_items < 256) {
                items[n_items++] = x;
            } else {
                return berr(b, TB_E_LIMIT, -1, "too many AND terms in WHERE (256 max)");
            }
        }
        for (int k = 0; k < n_items; k++) {
            const pgnode *x = items[k];
            /* x IN (subquery), EXISTS, NOT EXISTS -> semi / anti joins when possible */
            const PgQuery__SubLink *sl = NULL;
            bool is_in = false, neg = false;
            if (IS(x, SUB_LINK) &&
                x->sub_link->sub_link_type == PG_QUERY__SUB_LINK_TYPE__ANY_SUBLINK &&
                !IS(x->sub_link->testexpr, ROW_EXPR) &&
                (x->sub_link->n_oper_name == 0 ||
                 (str_of(x->sub_link->oper_name[x->sub_link->n_oper_name - 1]) != NULL &&
                  strcmp(str_of(x->sub_link->oper_name[x->sub_link->n_oper_name - 1]), "=") ==
                      0))) {
                sl = x->sub_link;
                is_in = true;
            } else if (IS(x, SUB_LINK) &&
                       x->sub_link->sub_link_type == PG_QUERY__SUB_LINK_TYPE__EXISTS_SUBLINK) {
                sl = x->sub_link;
            } else if (IS(x, BOOL_EXPR) &&
                       x->bool_expr->boolop == PG_QUERY__BOOL_EXPR_TYPE__NOT_EXPR &&
                       x->bool_expr->n_args == 1 && IS(x->bool_expr->args[0], SUB_LINK) &&
                       x->bool_expr->args[0]->sub_link->sub_link_type ==
                           PG_QUERY__SUB_LINK_TYPE__EXISTS_SUBLINK) {
                sl = x->bool_expr->args[0]->sub_link;
                neg = true;
            }
            if (sl != NULL) {
                lnode *sub = NULL;
                bool corr = false;
                selctx *saved = b->sel;
                int saved_min = b->sel ? b->sel->outer_min : INT_MAX;
                rc = bind_subquery(b, sl->subselect, &sc, &sub, &corr);
                if (rc != TB_OK)
                    return rc;
                tb_expr *test = NULL;
                if (is_in && sub->n_out == 1) {
                    ectx c = {b, &sc, "WHERE", NULL, false, &plan, NULL};
                    rc = bind_expr(&c, sl->testexpr, &test);
                    if (rc != TB_OK)
                        return rc;
                }
                if (is_in && !corr && sub->n_out == 1) {
                    tb_expr *subcol = colref(b, sub->out[0], -1), *eq;
                    if (subcol == NULL)
                        return nomem(b);
                    tb_expr *pair[2] = {test, subcol};
                    rc = tb_expr_call(b->arena, "=", pair, 2, P(b, sl->location), &eq, b->err);
                    if (rc != TB_OK)
                        return rc;
                    lnode *j = join_node(b, plan, sub, TB_JOIN_SEMI);
                    if (j == NULL)
                        return nomem(b);
                    j->n_out = plan->n_out;
                    j->est = plan->est * 0.5;
                    j->conds = tb_arena_alloc(b->arena, sizeof(tb_expr *));
                    if (j->conds == NULL)
                        return nomem(b);
                    j->conds[0] = eq;
                    j->n_conds = 1;
                    plan = j;
                    continue;
                }
                if (corr && (!is_in || sub->n_out == 1)) {
                    bool done = false;
                    rc = decorrelate(b, &plan, sub, is_in, neg, test, sl->location, &done);
                    if (rc != TB_OK)
                        return rc;
                    if (done)
                        continue;
                }
                /* the general path binds it again (constant or apply) */
                if (saved != NULL)
                    saved->outer_min = saved_min;
            }
            ectx c = {b, &sc, "WHERE", NULL, false, &plan, NULL};
            tb_expr *e;
            rc = bind_expr(&c, x, &e);
            if (rc != TB_OK)
                return rc;
            rc = tb_expr_coerce(b->arena, e, tb_type_make(TB_T_BOOL), e->pos, &e, b->err);
            if (rc != TB_OK) {
                if (b->err != NULL && b->err->code == TB_E_TYPE) {
                    char tn[64];
                    return berr(b, TB_E_TYPE, e->pos,
                                "argument of WHERE must be type boolean, not type %s",
                                tb_type_name(e->type, tn, sizeof(tn)));
                }
                return rc;
            }
            rc = split_and(b, e, &conds, &n_conds, &cap_conds);
            if (rc != TB_OK)
                return rc;
        }
        rc = add_filter(b, &plan, conds, n_conds);
        if (rc != TB_OK)
            return rc;
    }

    /* select list */
    target *tg = NULL;
    uint32_t n_tg = 0;
    rc = expand_targets(b, s, &sc, &tg, &n_tg);
    if (rc != TB_OK)
        return rc;

    bool distinct = s->n_distinct_clause > 0;
    /* DISTINCT ON (issue 13): the first row of each group in ORDER BY order, as
     * row_number() OVER (PARTITION BY the items ORDER BY the ORDER BY) = 1 */
    bool distinct_on = distinct && !(s->n_distinct_clause == 1 &&
                                     (s->distinct_clause[0] == NULL ||
                                      s->distinct_clause[0]->node_case ==
                                          PG_QUERY__NODE__NODE__NOT_SET));
    if (distinct_on)
        distinct = false;
    bool is_agg = s->n_group_clause > 0 || s->having_clause != NULL ||
                  has_agg_list(s->target_list, s->n_target_list) ||
                  has_agg_list(s->sort_clause, s->n_sort_clause);

    aggctx aggs;
    memset(&aggs, 0, sizeof(aggs));
    aggstate as;
    memset(&as, 0, sizeof(as));
    lnode *from_plan = plan;

    if (is_agg) {
        /* GROUP BY (issue 13: grouping sets as masks over the group expressions) */
        ectx gc = {b, &sc, "GROUP BY", NULL, false, NULL, NULL};
        uint32_t cap = 0;
        rc = group_sets(b, &gc, s, tg, n_tg, &sc, &as, &cap);
        if (rc != TB_OK)
            return rc;
        as.gids = tb_arena_alloc(b->arena, (as.n_groups ? as.n_groups : 1) * sizeof(int));
        if (as.gids == NULL)
            return nomem(b);
        for (uint32_t k = 0; k < as.n_groups; k++) {
            const tb_expr *e = as.groups[k];
            const char *nm = e->kind == TB_EX_COL ? b->q->cols[e->col].name : "?column?";
            const char *rel = e->kind == TB_EX_COL ? b->q->cols[e->col].rel : NULL;
            as.gids[k] = newcol(b, nm, rel, e->type);
            if (as.gids[k] < 0)
                return nomem(b);
        }
        as.set_words = (b->q->n_cols + 64) / 64;
        as.from_set = tb_arena_zalloc(b->arena, as.set_words * sizeof(uint64_t));
        if (as.from_set == NULL)
            return nomem(b);
        for (uint32_t k = 0; k < from_plan->n_out; k++)
            as.from_set[(uint32_t)from_plan->out[k] >> 6] |= (uint64_t)1
                                                             << ((uint32_t)from_plan->out[k] & 63);
    }

    winctx win;
    memset(&win, 0, sizeof(win));
    win.s = s;

    /* bind targets */
    ectx tc = {b, &sc, "SELECT", is_agg ? &aggs : NULL, false, is_agg ? NULL : &plan, &win};
    for (uint32_t i = 0; i < n_tg; i++) {
        target *t = &tg[i];
        if (t->node == NULL) {
            t->e = colref(b, t->star_id, P(b, t->loc));
            if (t->e == NULL)
                return nomem(b);
        } else {
            rc = bind_expr(&tc, t->node, &t->e);
            if (rc != TB_OK)
                return rc;
        }
        if (is_agg) {
            rc = post_agg(b, &as, t->e, &t->e);
            if (rc != TB_OK)
                return rc;
        }
    }

    /* HAVING */
    uint32_t n_having = 0, cap_having = 0;
    tb_expr **having = NULL;
    if (s->having_clause != NULL) {
        ectx hc = {b, &sc, "HAVING", &aggs, false, NULL, NULL};
        tb_expr *e;
        rc = bind_expr(&hc, s->having_clause, &e);
        if (rc != TB_OK)
            return rc;
        rc = tb_expr_coerce(b->arena, e, tb_type_make(TB_T_BOOL), e->pos, &e, b->err);
        if (rc != TB_OK)
            return rc;
        rc = post_agg(b, &as, e, &e);
        if (rc != TB_OK)
            return rc;
        rc = split_and(b, e, &having, &n_having, &cap_having);
        if (rc != TB_OK)
            return rc;
    }

    /* ORDER BY: resolve to a target index or a hidden expression */
    uint32_t n_sort = (uint32_t)s->n_sort_clause;
    int *sort_target = tb_arena_alloc(b->arena, (n_sort ? n_sort : 1) * sizeof(int));
    tb_expr **sort_expr = tb_arena_zalloc(b->arena, (n_sort ? n_sort : 1) * sizeof(tb_expr *));
    if (sort_target == NULL || sort_expr == NULL)
        return nomem(b);
    for (uint32_t i = 0; i < n_sort; i++) {
        if (!IS(s->sort_clause[i], SORT_BY))
            return berr(b, TB_E_SQL, -1, "bad ORDER BY");
        const PgQuery__SortBy *sb = s->sort_clause[i]->sort_by;
        const pgnode *x = sb->node;
        sort_target[i] = -1;
        if (sb->sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_USING)
            return berr(b, TB_E_UNSUPPORTED, sb->location, "ORDER BY USING is not supported");
        if (IS(x, A_CONST) && x->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL) {
            int k = x->a_const->ival->ival;
            if (k < 1 || (uint32_t)k > n_tg)
                return berr(b, TB_E_SQL, x->a_const->location,
                            "ORDER BY position %d is not in select list", k);
            sort_target[i] = k - 1;
            continue;
        }
        if (IS(x, COLUMN_REF) && x->column_ref->n_fields == 1 &&
            str_of(x->column_ref->fields[0]) != NULL) {
            const char *nm = str_of(x->column_ref->fields[0]);
            int found = -1, n_found = 0;
            for (uint32_t k = 0; k < n_tg; k++) {
                if (strcmp(tg[k].name, nm) == 0) {
                    if (found >= 0 && tb_sql_expr_equal(tg[found].e, tg[k].e))
                        continue;
                    if (found < 0)
                        found = (int)k;
                    n_found++;
                }
            }
            if (n_found > 1)
                return berr(b, TB_E_SQL, x->column_ref->location, "ORDER BY \"%s\" is ambiguous",
                            nm);
            if (found >= 0) {
                sort_target[i] = found;
                continue;
            }
        }
        ectx oc = {b, &sc, "ORDER BY", is_agg ? &aggs : NULL, false, is_agg ? NULL : &plan,
                   &win};
        tb_expr *e;
        rc = bind_expr(&oc, x, &e);
        if (rc != TB_OK)
            return rc;
        if (is_agg) {
            rc = post_agg(b, &as, e, &e);
            if (rc != TB_OK)
                return rc;
        }
        for (uint32_t k = 0; k < n_tg; k++) {
            if (tb_sql_expr_equal(tg[k].e, e)) {
                sort_target[i] = (int)k;
                break;
            }
        }
        if (sort_target[i] < 0) {
            if (distinct)
                return berr(b, TB_E_SQL, sb->location,
                            "for SELECT DISTINCT, ORDER BY expressions must appear in select "
                            "list");
            sort_expr[i] = e;
        }
    }

    /* DISTINCT ON items: a select-list entry (ordinal, name, equal expression) or a
     * hidden expression */
    uint32_t n_don = distinct_on ? (uint32_t)s->n_distinct_clause : 0;
    int *don_target = tb_arena_alloc(b->arena, (n_don + 1) * sizeof(int));
    tb_expr **don_expr = tb_arena_zalloc(b->arena, (n_don + 1) * sizeof(tb_expr *));
    if (don_target == NULL || don_expr == NULL)
        return nomem(b);
    for (uint32_t i = 0; i < n_don; i++) {
        const pgnode *x = s->distinct_clause[i];
        don_target[i] = -1;
        if (IS(x, A_CONST) && x->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL) {
            int k = x->a_const->ival->ival;
            if (k < 1 || (uint32_t)k > n_tg)
                return berr(b, TB_E_SQL, x->a_const->location,
                            "SELECT DISTINCT ON position %d is not in select list", k);
            don_target[i] = k - 1;
            continue;
        }
        if (IS(x, COLUMN_REF) && x->column_ref->n_fields == 1 &&
            str_of(x->column_ref->fields[0]) != NULL) {
            const char *nm = str_of(x->column_ref->fields[0]);
            for (uint32_t k = 0; k < n_tg && don_target[i] < 0; k++)
                if (strcmp(tg[k].name, nm) == 0)
                    don_target[i] = (int)k;
            if (don_target[i] >= 0)
                continue;
        }
        ectx dc = {b, &sc, "DISTINCT ON", is_agg ? &aggs : NULL, false, is_agg ? NULL : &plan,
                   NULL};
        tb_expr *e;
        rc = bind_expr(&dc, x, &e);
        if (rc == TB_OK && is_agg)
            rc = post_agg(b, &as, e, &e);
        if (rc != TB_OK)
            return rc;
        for (uint32_t k = 0; k < n_tg && don_target[i] < 0; k++)
            if (tb_sql_expr_equal(tg[k].e, e))
                don_target[i] = (int)k;
        if (don_target[i] < 0)
            don_expr[i] = e;
    }

    /* assemble: aggregate, having */
    if (is_agg) {
        lnode *a = mknode(b, L_AGG);
        if (a == NULL)
            return nomem(b);
        a->left = plan;
        a->n_groups = as.n_groups;
        a->groups = as.groups;
        a->n_aggs = aggs.n;
        a->aggs = aggs.specs;
        a->n_out = as.n_groups + aggs.n;
        a->out = tb_arena_alloc(b->arena, (a->n_out ? a->n_out : 1) * sizeof(int));
        if (a->out == NULL)
            return nomem(b);
        if (as.n_groups)
            memcpy(a->out, as.gids, as.n_groups * sizeof(int));
        if (aggs.n)
            memcpy(a->out + as.n_groups, aggs.ids, aggs.n * sizeof(int));
        a->est = as.n_groups ? plan->est / 10 + 1 : 1;
        if (as.gsets || aggs.n_gc > 0) {
            rc = expand_gsets(b, &as, &aggs, a, &a);
            if (rc != TB_OK)
                return rc;
        }
        plan = a;
        /* correlated subqueries: their references to the FROM columns must be group keys */
        for (uint32_t k = 0; k < aggs.n_pend; k++) {
            lnode *ap = aggs.pend[k];
            uint32_t words = (b->q->n_cols + 64) / 64;
            uint64_t *produced = tb_arena_zalloc(b->arena, words * sizeof(uint64_t));
            uint64_t *refs = tb_arena_zalloc(b->arena, words * sizeof(uint64_t));
            int *from = tb_arena_alloc(b->arena, (as.n_groups + 1) * sizeof(int));
            tb_expr **to = tb_arena_alloc(b->arena, (as.n_groups + 1) * sizeof(tb_expr *));
            if (produced == NULL || refs == NULL || from == NULL || to == NULL)
                return nomem(b);
            tree_ids(ap->right, produced, refs);
            uint32_t n_map = 0;
            for (uint32_t w = 0; w < words; w++) {
                uint64_t bits = refs[w] & ~produced[w];
                while (bits) {
                    int id = (int)(w * 64 + (uint32_t)__builtin_ctzll(bits));
                    bits &= bits - 1;
                    if (!in_set(as.from_set, as.set_words, id))
                        continue; /* a level further out */
                    int g = -1;
                    for (uint32_t i = 0; i < as.n_groups && g < 0; i++)
                        if (as.groups[i]->kind == TB_EX_COL && as.groups[i]->col == id)
                            g = (int)i;
                    if (g < 0) {
                        const colinfo *ci = &b->q->cols[id];
                        return berr(b, TB_E_SQL, -1,
                                    "subquery uses ungrouped column \"%s%s%s\" from outer query",
                                    ci->rel ? ci->rel : "", ci->rel ? "." : "", ci->name);
                    }
                    from[n_map] = id;
                    to[n_map] = colref(b, as.gids[g], -1);
                    if (to[n_map] == NULL)
                        return nomem(b);
                    n_map++;
                }
            }
            rc = lnode_subst(b, ap->right, from, to, n_map);
            if (rc == TB_OK && ap->test != NULL)
                rc = post_agg(b, &as, ap->test, &ap->test);
            if (rc != TB_OK)
                return rc;
            int rid = ap->out[0];
            ap->left = plan;
            ap->n_out = plan->n_out + 1;
            ap->out = tb_arena_alloc(b->arena, ap->n_out * sizeof(int));
            if (ap->out == NULL)
                return nomem(b);
            memcpy(ap->out, plan->out, plan->n_out * sizeof(int));
            ap->out[plan->n_out] = rid;
            ap->est = plan->est;
            plan = ap;
        }
        rc = add_filter(b, &plan, having, n_having);
        if (rc != TB_OK)
            return rc;
    }

    if (win.n > 0) {
        rc = add_windows(b, &win, is_agg ? &as : NULL, &plan);
        if (rc != TB_OK)
            return rc;
    }

    /* projection: targets then hidden sort expressions */
    uint32_t n_hidden = 0;
    for (uint32_t i = 0; i < n_sort; i++)
        n_hidden += sort_expr[i] != NULL;
    uint32_t n_don_hidden = 0;
    for (uint32_t i = 0; i < n_don; i++)
        n_don_hidden += don_expr[i] != NULL;
    uint32_t n_proj = n_tg + n_hidden + n_don_hidden;
    tb_expr **pex = tb_arena_alloc(b->arena, (n_proj ? n_proj : 1) * sizeof(*pex));
    int *pids = tb_arena_alloc(b->arena, (n_proj ? n_proj : 1) * sizeof(int));
    int *hidden_ids = tb_arena_alloc(b->arena, (n_sort ? n_sort : 1) * sizeof(int));
    if (pex == NULL || pids == NULL || hidden_ids == NULL)
        return nomem(b);
    for (uint32_t i = 0; i < n_tg; i++) {
        pex[i] = tg[i].e;
        pids[i] = newcol(b, tg[i].name, NULL, tg[i].e->type);
        if (pids[i] < 0)
            return nomem(b);
        tg[i].id = pids[i];
    }
    uint32_t h = n_tg;
    for (uint32_t i = 0; i < n_sort; i++) {
        if (sort_expr[i] == NULL)
            continue;
        pex[h] = sort_expr[i];
        pids[h] = newcol(b, "?sort?", NULL, sort_expr[i]->type);
        if (pids[h] < 0)
            return nomem(b);
        hidden_ids[i] = pids[h];
        h++;
    }
    int *don_ids = tb_arena_alloc(b->arena, (n_don + 1) * sizeof(int));
    if (don_ids == NULL)
        return nomem(b);
    for (uint32_t i = 0; i < n_don; i++) {
        if (don_expr[i] == NULL) {
            don_ids[i] = tg[don_target[i]].id;
            continue;
        }
        pex[h] = don_expr[i];
        pids[h] = newcol(b, "?distinct?", NULL, don_expr[i]->type);
        if (pids[h] < 0)
            return nomem(b);
        don_ids[i] = pids[h];
        h++;
    }
    rc = add_project(b, &plan, n_proj, pex, pids);
    if (rc != TB_OK)
        return rc;
    int *vis_ids = pids;
    if (distinct_on) {
        rc = distinct_on_node(b, s, &plan, n_don, don_ids, n_sort, tg, sort_target, hidden_ids);
        if (rc != TB_OK)
            return rc;
    }
    if (distinct) {
        rc = distinct_node(b, &plan, n_tg);
        if (rc != TB_OK)
            return rc;
        vis_ids = plan->out;
        for (uint32_t i = 0; i < n_tg; i++)
            tg[i].id = plan->out[i];
    }

    int64_t limit = -1, offset = -1;
    rc = const_int(b, s->limit_count, "LIMIT", &limit);
    if (rc == TB_OK)
        rc = const_int(b, s->limit_offset, "OFFSET", &offset);
    if (rc != TB_OK)
        return rc;
    if (offset < 0)
        offset = 0;
    if (s->limit_option == PG_QUERY__LIMIT_OPTION__LIMIT_OPTION_WITH_TIES)
        return berr(b, TB_E_UNSUPPORTED, -1, "FETCH ... WITH TIES is not supported");

    if (n_sort > 0) {
        tb_sortkey *keys = tb_arena_zalloc(b->arena, n_sort * sizeof(*keys));
        if (keys == NULL)
            return nomem(b);
        for (uint32_t i = 0; i < n_sort; i++) {
            const PgQuery__SortBy *sb = s->sort_clause[i]->sort_by;
            int id = sort_target[i] >= 0 ? tg[sort_target[i]].id : hidden_ids[i];
            keys[i].expr = colref(b, id, -1);
            if (keys[i].expr == NULL)
                return nomem(b);
            keys[i].desc = sb->sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_DESC;
            keys[i].nulls_first =
                sb->sortby_nulls == PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_FIRST ||
                (sb->sortby_nulls != PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_LAST && keys[i].desc);
        }
        lnode *so = mknode(b, L_SORT);
        if (so == NULL)
            return nomem(b);
        so->left = plan;
        so->n_keys = n_sort;
        so->keys = keys;
        so->n_out = plan->n_out;
        so->out = plan->out;
        so->est = plan->est;
        so->limit = limit >= 0 ? limit + offset : -1;
        plan = so;
    }
    if (limit >= 0 || offset > 0) {
        lnode *l = mknode(b, L_LIMIT);
        if (l == NULL)
            return nomem(b);
        l->left = plan;
        l->limit = limit;
        l->offset = offset;
        l->n_out = plan->n_out;
        l->out = plan->out;
        l->est = limit >= 0 && limit < plan->est ? (double)limit : plan->est;
        plan = l;
    }
    if ((n_hidden > 0 || distinct_on) && !distinct) {
        tb_expr **ex = tb_arena_alloc(b->arena, (n_tg ? n_tg : 1) * sizeof(*ex));
        if (ex == NULL)
            return nomem(b);
        for (uint32_t i = 0; i < n_tg; i++) {
            ex[i] = colref(b, vis_ids[i], -1);
            if (ex[i] == NULL)
                return nomem(b);
        }
        rc = add_project(b, &plan, n_tg, ex, ids_dup(b, vis_ids, n_tg));
        if (rc != TB_OK)
            return rc;
    }
    *out = plan;
    return TB_OK;
}

/* ================================================================ WITH RECURSIVE */

/*
 * A recursive CTE (`WITH RECURSIVE t AS (base UNION [ALL] step)`) is computed while the
 * query is bound: base runs once; then step runs with `t` naming the rows the previous
 * round added (the working table), until a round adds none; UNION drops rows already
 * found (NULLs equal), UNION ALL keeps them. The result is a table the plan owns. Each
 * term is planned on its own: it reads tables, views and the CTE itself, not the other
 * CTEs of its WITH. Bounded: past TB_RECURSIVE_MAX_ROWS rows in all or
 * TB_RECURSIVE_MAX_ROUNDS rounds, an error (a query that does not stop, such as one that
 * counts without a WHERE; each round plans the recursive term anew).
 */
#define TB_RECURSIVE_MAX_ROWS 1000000
#define TB_RECURSIVE_MAX_ROUNDS 10000

static void table_free_cb(void *p) { tb_table_free(p); }

/* Rows of the plan of `sel` (with temps visible) appended to *into (created with the
 * first plan's schema, column names from `names`). */
static tb_rc run_term(binder *b, const PgQuery__SelectStmt *sel, tb_temprel *temps,
                      uint32_t n_temps, const PgQuery__CommonTableExpr *d, tb_table **into,
                      tb_err *err)
{
    PgQuery__Node node = PG_QUERY__NODE__INIT;
    node.node_case = PG_QUERY__NODE__NODE_SELECT_STMT;
    node.select_stmt = (PgQuery__SelectStmt *)sel;
    tb_plan_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.temps = temps;
    opts.n_temps = n_temps;
    tb_plan *plan = NULL;
    tb_rc rc = tb_sql_plan_node(b->q->db, b->sql, &node, &opts, &plan, err);
    if (rc != TB_OK)
        return rc;
    const tb_schema *ps = plan->root->schema;
    if (*into == NULL) {
        tb_schema *sc = tb_schema_copy(ps);
        if (sc == NULL)
            rc = tb_err_nomem(err);
        if (rc == TB_OK && d->n_aliascolnames > ps->n)
            rc = TB_ERRF(err, TB_E_SQL, "WITH query \"%s\" has %u columns available but %zu "
                         "columns specified", d->ctename, ps->n, d->n_aliascolnames);
        for (size_t i = 0; rc == TB_OK && i < d->n_aliascolnames; i++) {
            const char *nm = str_of(d->aliascolnames[i]);
            if (nm != NULL) {
                char *dup = tb_strdup(nm);
                if (dup == NULL) {
                    rc = tb_err_nomem(err);
                    break;
                }
                tb_free(sc->fields[i].name);
                sc->fields[i].name = dup;
            }
        }
        for (uint32_t i = 0; rc == TB_OK && i < sc->n; i++)
            sc->fields[i].nullable = true;
        if (rc == TB_OK && (*into = tb_table_new(sc)) == NULL)
            rc = tb_err_nomem(err);
        tb_schema_free(sc);
    } else {
        const tb_schema *ts = tb_table_schema(*into);
        if (ps->n != ts->n)
            rc = TB_ERRF(err, TB_E_SQL, "each UNION query must have the same number of columns");
        for (uint32_t i = 0; rc == TB_OK && i < ts->n; i++) {
            if (!tb_type_eq(ps->fields[i].type, ts->fields[i].type)) {
                char t1[64], t2[64];
                rc = TB_ERRF(err, TB_E_TYPE, "recursive query \"%s\" column %u has type %s in "
                             "non-recursive term but type %s overall (cast the "
                             "non-recursive term)", d->ctename, i + 1,
                             tb_type_name(ts->fields[i].type, t1, sizeof(t1)),
                             tb_type_name(ps->fields[i].type, t2, sizeof(t2)));
            }
        }
    }
    while (rc == TB_OK) {
        tb_batch *batch = NULL;
        rc = tb_op_next(plan->root, &batch, err);
        if (rc != TB_OK || batch == NULL)
            break;
        if (batch->n_rows > 0)
            rc = tb_table_append(*into, batch, err);
    }
    tb_plan_free(plan);
    return rc;
}

/* Rows of `add` not in the key set (and not repeated), appended to `keep` and `next`;
 * for UNION. Keys: the row's bytes as agg_list.c encodes sort keys (NULLs equal). */
typedef struct rowset {
    char **keys;
    size_t *lens;
    size_t n, cap; /* cap a power of two */
} rowset;

static void rowset_free(rowset *rs)
{
    for (size_t i = 0; i < rs->cap; i++)
        tb_free(rs->keys[i]);
    tb_free(rs->keys);
    tb_free(rs->lens);
}

/* true when the key was new (inserted) */
static tb_rc rowset_add(rowset *rs, const char *k, size_t len, bool *fresh, tb_err *err)
{
    if ((rs->n + 1) * 2 > rs->cap) {
        size_t nc = rs->cap ? rs->cap * 2 : 1024;
        rowset n2 = {tb_calloc(nc, sizeof(char *)), tb_calloc(nc, sizeof(size_t)), 0, nc};
        if (n2.keys == NULL || n2.lens == NULL) {
            tb_free(n2.keys);
            tb_free(n2.lens);
            return tb_err_nomem(err);
        }
        for (size_t i = 0; i < rs->cap; i++) {
            if (rs->keys[i] == NULL)
                continue;
            size_t h = (size_t)tb_hash_bytes(rs->keys[i], rs->lens[i], 0) & (nc - 1);
            while (n2.keys[h] != NULL)
                h = (h + 1) & (nc - 1);
            n2.keys[h] = rs->keys[i];
            n2.lens[h] = rs->lens[i];
        }
        n2.n = rs->n;
        tb_free(rs->keys);
        tb_free(rs->lens);
        *rs = n2;
    }
    size_t h = (size_t)tb_hash_bytes(k, len, 0) & (rs->cap - 1);
    while (rs->keys[h] != NULL) {
        if (rs->lens[h] == len && memcmp(rs->keys[h], k, len) == 0) {
            *fresh = false;
            return TB_OK;
        }
        h = (h + 1) & (rs->cap - 1);
    }
    rs->keys[h] = tb_malloc(len ? len : 1);
    if (rs->keys[h] == NULL)
        return tb_err_nomem(err);
    memcpy(rs->keys[h], k, len);
    rs->lens[h] = len;
    rs->n++;
    *fresh = true;
    return TB_OK;
}

/* Keep the rows of `round` whose key is new (UNION); the kept rows go to *out. */
static tb_rc dedup_round(rowset *rs, tb_table *round, tb_table **out, tb_err *err)
{
    tb_op *scan = NULL;
    tb_arena *arena = tb_arena_new(0);
    tb_rc rc = arena ? tb_table_scan_new(round, NULL, 0, &scan, err) : tb_err_nomem(err);
    *out = NULL;
    if (rc == TB_OK && (*out = tb_table_new(tb_table_schema(round))) == NULL)
        rc = tb_err_nomem(err);
    while (rc == TB_OK) {
        tb_batch *batch = NULL;
        rc = tb_op_next(scan, &batch, err);
        if (rc != TB_OK || batch == NULL)
            break;
        tb_arena_reset(arena);
        uint32_t *sel = tb_arena_alloc(arena, (batch->n_rows + 1) * sizeof(uint32_t)), ns = 0;
        if (sel == NULL) {
            rc = tb_err_nomem(err);
            break;
        }
        for (uint32_t r = 0; r < batch->n_rows && rc == TB_OK; r++) {
            size_t need = 0;
            for (uint32_t c = 0; c < batch->n_cols; c++)
                need += tb_agg_key_size(&batch->cols[c], r);
            uint8_t *k = tb_arena_alloc(arena, need + 1);
            size_t len = 0;
            bool fresh = false;
            if (k == NULL) {
                rc = tb_err_nomem(err);
                break;
            }
            for (uint32_t c = 0; c < batch->n_cols; c++)
                len += tb_agg_key_enc(&batch->cols[c], r, k + len);
            rc = rowset_add(rs, (const char *)k, len, &fresh, err);
            if (fresh)
                sel[ns++] = r;
        }
        if (rc == TB_OK && ns > 0) {
            tb_batch *kept = NULL;
            if (tb_batch_shell(batch->n_cols, arena, &kept) != TB_OK)
                rc = tb_err_nomem(err);
            for (uint32_t c = 0; rc == TB_OK && c < batch->n_cols; c++)
                if (tb_op_gather_new(&kept->cols[c], &batch->cols[c], sel, ns, arena) != TB_OK)
                    rc = tb_err_nomem(err);
            if (rc == TB_OK) {
                kept->n_rows = ns;
                kept->cap = ns;
                rc = tb_table_append(*out, kept, err);
            }
        }
    }
    tb_op_free(scan);
    tb_arena_free(arena);
    if (rc != TB_OK) {
        tb_table_free(*out);
        *out = NULL;
    }
    return rc;
}

static tb_rc materialize_recursive(binder *b, const PgQuery__CommonTableExpr *d, cte *ct)
{
    const PgQuery__Node *q = d->ctequery;
    tb_err *err = b->err;
    if (!IS(q, SELECT_STMT) || q->select_stmt->op != PG_QUERY__SET_OPERATION__SETOP_UNION ||
        q->select_stmt->larg == NULL || q->select_stmt->rarg == NULL)
        return TB_E_NOTFOUND; /* not of the recursive form: an ordinary CTE */
    const PgQuery__SelectStmt *u = q->select_stmt;
    bool all = u->all;
    const tb_plan_opts *po = b->q->opts;
    uint32_t nt = (po ? po->n_temps : 0) + 1;
    tb_temprel *temps = tb_arena_zalloc(b->arena, nt * sizeof(*temps));
    if (temps == NULL)
        return nomem(b);
    if (nt > 1)
        memcpy(temps + 1, po->temps, (nt - 1) * sizeof(*temps));
    temps[0].name = d->ctename;
    tb_table *result = NULL, *work = NULL, *round = NULL;
    rowset rs = {NULL, NULL, 0, 0};
    tb_rc rc = run_term(b, u->larg, temps + 1, nt - 1, d, &result, err);
    if (rc == TB_OK && !all) { /* UNION: the base's own duplicates go too */
        rc = dedup_round(&rs, result, &work, err);
        if (rc == TB_OK) {
            tb_table_free(result);
            result = NULL;
            if ((result = tb_table_new(tb_table_schema(work))) == NULL)
                rc = tb_err_nomem(err);
        }
        if (rc == TB_OK)
            tb_table_swap(result, work); /* result = the deduplicated base */
        if (rc == TB_OK) {
            tb_table_free(work);
            work = NULL;
        }
    }
    /* the working table starts as a copy of the base */
    if (rc == TB_OK && (work = tb_table_new(tb_table_schema(result))) == NULL)
        rc = tb_err_nomem(err);
    if (rc == TB_OK)
        rc = tb_table_append_all(work, result, err);
    uint64_t rounds = 0;
    while (rc == TB_OK && tb_table_rows(work) > 0) {
        temps[0].table = work;
        temps[0].used = false;
        round = tb_table_new(tb_table_schema(result));
        if (round == NULL) {
            rc = tb_err_nomem(err);
            break;
        }
        rc = run_term(b, u->rarg, temps, nt, d, &round, err);
        if (rc != TB_OK)
            break;
        if (!temps[0].used && rounds == 0) {
            /* the second term does not read the CTE: an ordinary UNION, once */
            rounds = UINT64_MAX;
        }
        tb_table *fresh = round;
        round = NULL;
        if (!all) {
            rc = dedup_round(&rs, fresh, &round, err);
            tb_table_free(fresh);
            if (rc != TB_OK)
                break;
            fresh = round;
            round = NULL;
        }
        rc = tb_table_append_all(result, fresh, err);
        tb_table_free(work);
        work = fresh;
        if (rc == TB_OK && tb_table_rows(result) > TB_RECURSIVE_MAX_ROWS)
            rc = TB_ERRPOS(err, TB_E_RANGE, P(b, d->location),
                           "WITH RECURSIVE \"%s\": more than %d rows (the bound of a recursive "
                           "query; does its recursive term stop?)",
                           d->ctename, TB_RECURSIVE_MAX_ROWS);
        if (rounds == UINT64_MAX)
            break;
        if (rc == TB_OK && ++rounds >= TB_RECURSIVE_MAX_ROUNDS && tb_table_rows(work) > 0)
            rc = TB_ERRPOS(err, TB_E_RANGE, P(b, d->location),
                           "WITH RECURSIVE \"%s\": more than %d rounds (the bound of a "
                           "recursive query; does its recursive term stop?)",
                           d->ctename, TB_RECURSIVE_MAX_ROUNDS);
    }
    tb_table_free(work);
    tb_table_free(round);
    rowset_free(&rs);
    if (rc == TB_OK)
        rc = tb_sql_add_cleanup(b->q, table_free_cb, result);
    if (rc != TB_OK) {
        tb_table_free(result);
        if (rc != TB_E_NOMEM && err != NULL && err->pos < 0)
            err->pos = P(b, d->location);
        return rc;
    }
    ct->mat = result;
    return TB_OK;
}

static tb_rc bind_select_stmt(binder *b, const PgQuery__SelectStmt *s, scope *parent, lnode **out)
{
    tb_rc rc;
    cte *saved = b->ctes;
    if (s->with_clause != NULL) {
        const PgQuery__WithClause *w = s->with_clause;
        for (size_t i = 0; i < w->n_ctes; i++) {
            if (!IS(w->ctes[i], COMMON_TABLE_EXPR))
                continue;
            const PgQuery__CommonTableExpr *d = w->ctes[i]->common_table_expr;
            for (cte *x = b->ctes; x != saved && x != NULL; x = x->prev) {
                if (strcmp(x->name, d->ctename) == 0) {
                    b->ctes = saved;
                    return berr(b, TB_E_SQL, d->location,
                                "WITH query name \"%s\" specified more than once", d->ctename);
                }
            }
            cte *ct = tb_arena_zalloc(b->arena, sizeof(*ct));
            if (ct == NULL) {
                b->ctes = saved;
                return nomem(b);
            }
            ct->name = d->ctename;
            ct->def = d;
            ct->prev = b->ctes;
            ct->visible = b->ctes;
            if (w->recursive) {
                rc = materialize_recursive(b, d, ct);
                if (rc != TB_OK && rc != TB_E_NOTFOUND) {
                    b->ctes = saved;
                    return rc;
                }
            }
            b->ctes = ct;
        }
    }
    if (s->op != PG_QUERY__SET_OPERATION__SETOP_NONE &&
        s->op != PG_QUERY__SET_OPERATION__SET_OPERATION_UNDEFINED)
        rc = bind_setop(b, s, parent, out);
    else if (s->n_values_lists > 0)
        rc = bind_values(b, s, out);
    else
        rc = bind_select_core(b, s, parent, out);
    b->ctes = saved;
    return rc;
}

/* Index of column id `id` in n->out, -1 when n does not output it. */
static int out_index(const lnode *n, int id)
{
    for (uint32_t i = 0; i < n->n_out; i++)
        if (n->out[i] == id)
            return (int)i;
    return -1;
}

/*
 * For each group key of the query's own aggregate `agg`, the output column of `root`
 * that carries it unchanged (lnode.group_out, then tb_plan_agg.group_out): the default
 * key of the sinks that upsert. The output's names are the user's (`tumble(ts, ...) AS
 * window_start` grouped by position is named window_start only above the aggregate), so
 * each output column is followed down the spine: through projections and stacked
 * aggregates while it is a plain column reference, unchanged through filters, sorts,
 * limits and subquery applies (their out keeps the input's ids). A key computed upon
 * (`upper(category)`) or left out of the output has no output column (-1).
 */
static tb_rc map_group_out(binder *b, const lnode *root, lnode *agg)
{
    int *go = tb_arena_alloc(b->arena, (agg->n_groups ? agg->n_groups : 1) * sizeof(int));
    if (go == NULL)
        return TB_E_NOMEM;
    for (uint32_t g = 0; g < agg->n_groups; g++)
        go[g] = -1;
    for (uint32_t i = 0; i < root->n_out; i++) {
        int id = root->out[i];
        for (const lnode *n = root; n != NULL && id >= 0; n = n->left) {
            int k = out_index(n, id);
            if (k < 0)
                break;
            if (n == agg) {
                if ((uint32_t)k < agg->n_groups && go[k] < 0)
                    go[k] = (int)i;
                break;
            }
            const tb_expr *e = NULL;
            if (n->kind == L_PROJECT)
                e = n->exprs[k];
            else if (n->kind == L_AGG)
                e = (uint32_t)k < n->n_groups ? n->groups[k] : NULL;
            else if (n->kind == L_FILTER || n->kind == L_SORT || n->kind == L_LIMIT ||
                     (n->kind == L_APPLY && n->ap != AP_HOP))
                continue; /* the same id below */
            else
                break;
            id = e != NULL && e->kind == TB_EX_COL ? e->col : -1;
        }
    }
    agg->group_out = go;
    return TB_OK;
}

tb_rc tb_sql_bind_select(qctx *q, const char *sql, const pgnode *select, lnode **out, tb_err *err)
{
    binder b;
    memset(&b, 0, sizeof(b));
    b.q = q;
    b.arena = q->arena;
    b.sql = sql;
    b.err = err;
    b.pos_override = -1;
    if (!IS(select, SELECT_STMT))
        return TB_ERRF(err, TB_E_SQL, "not a SELECT statement");
    selctx sel = {0, INT_MAX, NULL};
    b.sel = &sel;
    tb_rc rc = bind_select_stmt(&b, select->select_stmt, NULL, out);
    if (rc != TB_OK)
        return rc;
    /* the query's own aggregate: the deepest one on the spine from the root (through
     * projections, filters, sorts, limits and stacked aggregates such as DISTINCT over
     * GROUP BY, into views and subqueries in FROM), not those under joins, set operations
     * or in subquery expressions (tb_plan_opts.stream: tb_plan.top_agg) */
    lnode *deepest = NULL;
    for (lnode *n = *out; n != NULL;) {
        if (n->kind == L_AGG)
            deepest = n;
        if (n->kind == L_PROJECT || n->kind == L_FILTER || n->kind == L_SORT ||
            n->kind == L_LIMIT || n->kind == L_AGG || (n->kind == L_APPLY && n->ap != AP_HOP))
            n = n->left;
        else
            break;
    }
    if (deepest != NULL) {
        deepest->top_agg = true;
        if (map_group_out(&b, *out, deepest) != TB_OK)
            return tb_err_nomem(err);
    }
    return TB_OK;
}

char *tb_sql_node_text(tb_arena *arena, const pgnode *a)
{
    if (a == NULL)
        return tb_arena_strdup(arena, "true");
    switch (a->node_case) {
    case NC(STRING):
        return tb_arena_strdup(arena, a->string->sval);
    case NC(INTEGER):
        return tb_arena_sprintf(arena, "%d", a->integer->ival);
    case NC(FLOAT):
        return tb_arena_strdup(arena, a->float_->fval);
    case NC(BOOLEAN):
        return tb_arena_strdup(arena, a->boolean->boolval ? "true" : "false");
    case NC(A_CONST): {
        const PgQuery__AConst *c = a->a_const;
        switch (c->val_case) {
        case PG_QUERY__A__CONST__VAL_SVAL:
            return tb_arena_strdup(arena, c->sval->sval);
        case PG_QUERY__A__CONST__VAL_IVAL:
            return tb_arena_sprintf(arena, "%d", c->ival ? c->ival->ival : 0);
        case PG_QUERY__A__CONST__VAL_FVAL:
            return tb_arena_strdup(arena, c->fval->fval);
        case PG_QUERY__A__CONST__VAL_BOOLVAL:
            return tb_arena_strdup(arena, c->boolval && c->boolval->boolval ? "true" : "false");
        default:
            return NULL;
        }
    }
    case NC(TYPE_NAME): {
        const PgQuery__TypeName *tn = a->type_name;
        if (tn->n_names > 0 && str_of(tn->names[tn->n_names - 1]) != NULL)
            return tb_arena_strdup(arena, str_of(tn->names[tn->n_names - 1]));
        return NULL;
    }
    default:
        return NULL;
    }
}

/* ================================================================ INSERT helpers */

tb_rc tb_sql_assign(tb_arena *arena, tb_expr *e, tb_type t, const char *name, int pos,
                    tb_expr **out, tb_err *err)
{
    if (tb_type_eq(e->type, t)) {
        *out = e;
        return TB_OK;
    }
    tb_rc rc = tb_expr_coerce(arena, e, t, pos, out, err);
    bool literal = e->kind == TB_EX_CONST && e->type.id == TB_T_STRING;
    if (rc == TB_E_TYPE && !literal) { /* a literal's own message says what is wrong */
        char a[64], b[64];
        rc = TB_ERRF(err, TB_E_TYPE, "column \"%s\" is of type %s but expression is of type %s",
                     name, tb_type_name(t, a, sizeof(a)), tb_type_name(e->type, b, sizeof(b)));
        if (err != NULL)
            err->pos = pos;
    }
    return rc;
}

tb_rc tb_sql_bind_insert_values(qctx *q, const char *sql, const PgQuery__SelectStmt *s,
                                const tb_type *types, const char **names, uint32_t n, lnode **out,
                                tb_err *err)
{
    binder b;
    memset(&b, 0, sizeof(b));
    b.q = q;
    b.arena = q->arena;
    b.sql = sql;
    b.err = err;
    b.pos_override = -1;
    selctx sel = {0, INT_MAX, NULL};
    b.sel = &sel;
    size_t n_rows = s->n_values_lists;
    scope empty = {NULL, 0, NULL, 0};
    ectx c = {&b, &empty, "VALUES", NULL, false, NULL, NULL};
    tb_expr **vals = tb_arena_alloc(b.arena, (n_rows * n > 0 ? n_rows * n : 1) * sizeof(tb_expr *));
    if (vals == NULL)
        return tb_err_nomem(err);
    for (size_t r = 0; r < n_rows; r++) {
        const pgnode *row = s->values_lists[r];
        if (!IS(row, LIST))
            return berr(&b, TB_E_SQL, -1, "bad VALUES");
        if (row->list->n_items > n)
            return berr(&b, TB_E_SQL, -1, "INSERT has more expressions than target columns");
        if (row->list->n_items < n)
            return berr(&b, TB_E_SQL, -1, "INSERT has more target columns than expressions");
        for (uint32_t k = 0; k < n; k++) {
            const pgnode *item = row->list->items[k];
            tb_expr *e;
            tb_rc rc = bind_expr(&c, item, &e);
            if (rc != TB_OK)
                return rc;
            rc = tb_sql_assign(b.arena, e, types[k], names[k], e->pos, &vals[r * n + k], err);
            if (rc != TB_OK)
                return rc;
        }
    }
    lnode *v = mknode(&b, L_VALUES);
    if (v == NULL)
        return tb_err_nomem(err);
    v->n_rows = (uint32_t)n_rows;
    v->n_out = n;
    v->vals = vals;
    v->out = tb_arena_alloc(b.arena, (n ? n : 1) * sizeof(int));
    if (v->out == NULL)
        return tb_err_nomem(err);
    for (uint32_t k = 0; k < n; k++) {
        v->out[k] = newcol(&b, names[k], NULL, types[k]);
        if (v->out[k] < 0)
            return tb_err_nomem(err);
    }
    v->est = (double)n_rows;
    *out = v;
    return TB_OK;
}
