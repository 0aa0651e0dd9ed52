/*
 * opt.c - logical optimizer: predicate pushdown and greedy join ordering.
 *
 * Pushdown moves every WHERE / ON conjunct to the lowest node whose output covers its
 * columns, as far as the join type allows (PostgreSQL's rules: a WHERE conjunct may go
 * into the preserved side of an outer join, never into the nullable side; an ON
 * conjunct may go into the nullable side only). Through projections and group keys a
 * conjunct is rewritten by substituting the computed expressions; it never crosses a
 * LIMIT or a top-N sort.
 *
 * Join ordering: a cluster of three or more relations joined by INNER / CROSS joins
 * (comma joins included) is rebuilt left-deep: start from the largest relation (the
 * probe side; streams are "infinitely" large), then repeatedly add the smallest
 * relation connected to the tree by a conjunct, or the smallest one if none is
 * connected. Each added relation becomes the right (build) child. Column ids make the
 * rewrite free: nobody depends on column positions until physical planning.
 *
 * Columns referenced by a conjunct that no node of the tree produces are outer
 * references (correlation parameters): they count as constants.
 *
 * Eager aggregation (after pushdown; Yan and Larson's "group-by before join"): an
 * aggregate over an inner equi-join of a large input P with a small one B, whose
 * aggregate arguments all come from P and whose group keys each come from one side, is
 * rewritten to aggregate P first by (its group keys, its join keys) with partial
 * aggregates, then join the (few) partial groups with B and finish: sum of partial sums
 * and counts, min of mins, max of maxes. Joining a partial group with each matching B
 * row reproduces the pairing of every row of the group, so the result is the same with
 * or without unique B keys, and with unique keys also in the same (first-seen) order.
 * Only exact aggregates qualify (count, min, max, sum of smallint/integer: partial sums
 * are numeric(38,0), so no partial overflows where the total would not); not for a
 * streaming query's top aggregate (its hook replaces it).
 */
#include <string.h>

#include "sql/sql_int.h"

typedef struct refentry {
    const tb_expr *e;
    uint64_t *refs; /* local columns e references */
} refentry;

typedef struct opt {
    qctx *q;
    tb_arena *arena;
    tb_err *err;
    uint32_t words;
    uint64_t *local; /* ids produced anywhere in the tree */
    /* expression -> referenced local columns (open addressing, pointer keys); shared by
     * the optimizer of a subquery (its `local` differs, so it gets its own cache) */
    refentry *cache;
    uint32_t cache_cap, cache_n;
    bool oom;
} opt;

typedef struct exprlist {
    tb_expr **v;
    uint32_t n, cap;
} exprlist;

static tb_rc push(opt *o, lnode *n, exprlist *conds, lnode **out);

static tb_rc el_push(opt *o, exprlist *l, tb_expr *e)
{
    if (l->n == l->cap) {
        uint32_t nc = l->cap ? l->cap * 2 : 8;
        tb_expr **nv = tb_arena_alloc(o->arena, nc * sizeof(*nv));
        if (nv == NULL)
            return tb_err_nomem(o->err);
        if (l->n)
            memcpy(nv, l->v, l->n * sizeof(*nv));
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = e;
    return TB_OK;
}

static void set_add(uint64_t *s, int id)
{
    s[(uint32_t)id >> 6] |= (uint64_t)1 << ((uint32_t)id & 63);
}

static void collect_local(opt *o, const lnode *n)
{
    if (n == NULL)
        return;
    for (uint32_t i = 0; i < n->n_out; i++)
        set_add(o->local, n->out[i]);
    collect_local(o, n->left);
    collect_local(o, n->right);
    for (uint32_t i = 0; i < n->n_kids; i++)
        collect_local(o, n->kids[i]);
}

/* Local columns referenced by e (cached). NULL on OOM (o->oom set). */
static const uint64_t *refs_of(opt *o, const tb_expr *e)
{
    if (o->cache_n * 2 >= o->cache_cap) {
        uint32_t cap = o->cache_cap ? o->cache_cap * 2 : 256;
        refentry *nc = tb_arena_zalloc(o->arena, cap * sizeof(*nc));
        if (nc == NULL) {
            o->oom = true;
            return NULL;
        }
        for (uint32_t i = 0; i < o->cache_cap; i++) {
            if (o->cache[i].e == NULL)
                continue;
            uint32_t h = (uint32_t)(tb_hash_u64((uint64_t)(uintptr_t)o->cache[i].e)) & (cap - 1);
            while (nc[h].e != NULL)
                h = (h + 1) & (cap - 1);
            nc[h] = o->cache[i];
        }
        o->cache = nc;
        o->cache_cap = cap;
    }
    uint32_t h = (uint32_t)(tb_hash_u64((uint64_t)(uintptr_t)e)) & (o->cache_cap - 1);
    while (o->cache[h].e != NULL) {
        if (o->cache[h].e == e)
            return o->cache[h].refs;
        h = (h + 1) & (o->cache_cap - 1);
    }
    uint64_t *refs = tb_arena_zalloc(o->arena, o->words * sizeof(uint64_t));
    if (refs == NULL) {
        o->oom = true;
        return NULL;
    }
    tb_sql_expr_cols(e, refs);
    for (uint32_t w = 0; w < o->words; w++)
        refs[w] &= o->local[w];
    o->cache[h].e = e;
    o->cache[h].refs = refs;
    o->cache_n++;
    return refs;
}

/* Bitset of a node's output columns. */
static uint64_t *outset(opt *o, const lnode *n)
{
    uint64_t *s = tb_arena_zalloc(o->arena, o->words * sizeof(uint64_t));
    if (s == NULL) {
        o->oom = true;
        return NULL;
    }
    for (uint32_t i = 0; i < n->n_out; i++)
        set_add(s, n->out[i]);
    return s;
}

static bool subset(const opt *o, const uint64_t *a, const uint64_t *b)
{
    for (uint32_t w = 0; w < o->words; w++)
        if (a[w] & ~b[w])
            return false;
    return true;
}

static bool meets(const opt *o, const uint64_t *a, const uint64_t *b)
{
    for (uint32_t w = 0; w < o->words; w++)
        if (a[w] & b[w])
            return true;
    return false;
}

/* Does node n produce every local column e references? */
static bool covers_set(opt *o, const uint64_t *out, const tb_expr *e)
{
    const uint64_t *r = refs_of(o, e);
    return r != NULL && out != NULL && subset(o, r, out);
}

static bool covers(opt *o, const lnode *n, const tb_expr *e)
{
    const uint64_t *r = refs_of(o, e);
    if (r == NULL)
        return false;
    for (uint32_t w = 0; w < o->words; w++) {
        uint64_t bits = r[w];
        while (bits) {
            int id = (int)(w * 64 + (uint32_t)__builtin_ctzll(bits));
            bits &= bits - 1;
            bool found = false;
            for (uint32_t i = 0; i < n->n_out && !found; i++)
                found = n->out[i] == id;
            if (!found)
                return false;
        }
    }
    return true;
}

static tb_rc wrap(opt *o, lnode *n, exprlist *above, lnode **out)
{
    if (above->n == 0) {
        *out = n;
        return TB_OK;
    }
    lnode *f = tb_sql_lnode(o->q, L_FILTER);
    if (f == NULL)
        return tb_err_nomem(o->err);
    f->left = n;
    f->n_out = n->n_out;
    f->out = n->out;
    f->conds = above->v;
    f->n_conds = above->n;
    f->est = n->est * 0.5;
    *out = f;
    return TB_OK;
}

static bool is_inner(const lnode *n) { return n->kind == L_JOIN && n->jt == TB_JOIN_INNER; }

typedef struct rellist {
    lnode **v;
    uint32_t n, cap;
} rellist;

static tb_rc flatten(opt *o, lnode *n, rellist *rels, exprlist *conds)
{
    if (is_inner(n)) {
        tb_rc rc = flatten(o, n->left, rels, conds);
        if (rc == TB_OK)
            rc = flatten(o, n->right, rels, conds);
        for (uint32_t i = 0; rc == TB_OK && i < n->n_conds; i++)
            rc = el_push(o, conds, n->conds[i]);
        return rc;
    }
    if (rels->n == rels->cap) {
        uint32_t nc = rels->cap ? rels->cap * 2 : 8;
        lnode **nv = tb_arena_alloc(o->arena, nc * sizeof(*nv));
        if (nv == NULL)
            return tb_err_nomem(o->err);
        if (rels->n)
            memcpy(nv, rels->v, rels->n * sizeof(*nv));
        rels->v = nv;
        rels->cap = nc;
    }
    rels->v[rels->n++] = n;
    return TB_OK;
}

static lnode *mkjoin(opt *o, lnode *l, lnode *r, bool connected)
{
    lnode *j = tb_sql_lnode(o->q, L_JOIN);
    if (j == NULL)
        return NULL;
    j->jt = TB_JOIN_INNER;
    j->left = l;
    j->right = r;
    j->n_out = l->n_out + r->n_out;
    j->out = tb_arena_alloc(o->arena, (j->n_out ? j->n_out : 1) * sizeof(int));
    if (j->out == NULL)
        return NULL;
    memcpy(j->out, l->out, l->n_out * sizeof(int));
    memcpy(j->out + l->n_out, r->out, r->n_out * sizeof(int));
    j->est = connected ? (l->est > r->est ? l->est : r->est) : l->est * r->est;
    if (j->est > EST_UNBOUNDED)
        j->est = EST_UNBOUNDED;
    return j;
}

static tb_rc reorder(opt *o, lnode *n, exprlist *conds, lnode **out)
{
    rellist rels = {NULL, 0, 0};
    tb_rc rc = flatten(o, n, &rels, conds);
    if (rc != TB_OK)
        return rc;
    if (rels.n < 3) {
        *out = n;
        n->n_conds = 0;
        n->conds = NULL;
        return TB_OK;
    }
    bool *used = tb_arena_zalloc(o->arena, rels.n * sizeof(bool));
    uint64_t **relset = tb_arena_alloc(o->arena, rels.n * sizeof(uint64_t *));
    const uint64_t **condset = tb_arena_alloc(o->arena, (conds->n + 1) * sizeof(uint64_t *));
    uint64_t *cur_set = tb_arena_zalloc(o->arena, o->words * sizeof(uint64_t));
    uint64_t *both = tb_arena_zalloc(o->arena, o->words * sizeof(uint64_t));
    if (used == NULL || relset == NULL || condset == NULL || cur_set == NULL || both == NULL)
        return tb_err_nomem(o->err);
    for (uint32_t i = 0; i < rels.n; i++) {
        relset[i] = outset(o, rels.v[i]);
        if (relset[i] == NULL)
            return tb_err_nomem(o->err);
    }
    for (uint32_t k = 0; k < conds->n; k++) {
        condset[k] = refs_of(o, conds->v[k]);
        if (condset[k] == NULL)
            return tb_err_nomem(o->err);
    }
    uint32_t start = 0;
    for (uint32_t i = 1; i < rels.n; i++)
        if (rels.v[i]->est > rels.v[start]->est)
            start = i;
    used[start] = true;
    lnode *cur = rels.v[start];
    memcpy(cur_set, relset[start], o->words * sizeof(uint64_t));
    for (uint32_t step = 1; step < rels.n; step++) {
        int best = -1, best_conn = -1;
        for (uint32_t i = 0; i < rels.n; i++) {
            if (used[i])
                continue;
            /* connected: a conjunct over both the tree and rel i, and only them */
            bool conn = false;
            for (uint32_t w = 0; w < o->words; w++)
                both[w] = cur_set[w] | relset[i][w];
            for (uint32_t k = 0; k < conds->n && !conn; k++)
                conn = meets(o, condset[k], cur_set) && meets(o, condset[k], relset[i]) &&
                       subset(o, condset[k], both);
            if (conn && (best_conn < 0 || rels.v[i]->est < rels.v[best_conn]->est))
                best_conn = (int)i;
            if (best < 0 || rels.v[i]->est < rels.v[best]->est)
                best = (int)i;
        }
        int pick = best_conn >= 0 ? best_conn : best;
        used[pick] = true;
        for (uint32_t w = 0; w < o->words; w++)
            cur_set[w] |= relset[pick][w];
        cur = mkjoin(o, cur, rels.v[pick], best_conn >= 0);
        if (cur == NULL)
            return tb_err_nomem(o->err);
    }
    *out = cur;
    return TB_OK;
}

static tb_rc push_join(opt *o, lnode *n, exprlist *in, lnode **out)
{
    tb_rc rc;
    exprlist all = {NULL, 0, 0};
    if (is_inner(n)) {
        /* gather the cluster's conjuncts with the incoming ones, maybe reorder */
        for (uint32_t i = 0; i < in->n; i++) {
            rc = el_push(o, &all, in->v[i]);
            if (rc != TB_OK)
                return rc;
        }
        lnode *top = NULL;
        rc = reorder(o, n, &all, &top);
        if (rc != TB_OK)
            return rc;
        n = top;
        in = &all;
    }
    exprlist lc = {NULL, 0, 0}, rcnd = {NULL, 0, 0}, keep = {NULL, 0, 0}, above = {NULL, 0, 0};
    lnode *L = n->left, *R = n->right;
    const uint64_t *Ls = outset(o, L), *Rs = outset(o, R), *Ns = outset(o, n);
    if (Ls == NULL || Rs == NULL || Ns == NULL)
        return tb_err_nomem(o->err);
    for (uint32_t i = 0; i < in->n; i++) {
        tb_expr *c = in->v[i];
        exprlist *dst = &above;
        switch (n->jt) {
        case TB_JOIN_INNER:
            dst = covers_set(o, Ls, c)   ? &lc
                  : covers_set(o, Rs, c) ? &rcnd
                  : covers_set(o, Ns, c) ? &keep
                                         : &above;
            break;
        case TB_JOIN_LEFT:
        case TB_JOIN_SEMI:
        case TB_JOIN_ANTI:
            dst = covers_set(o, Ls, c) ? &lc : &above;
            break;
        case TB_JOIN_RIGHT:
            dst = covers_set(o, Rs, c) ? &rcnd : &above;
            break;
        case TB_JOIN_FULL:
            dst = &above;
            break;
        }
        rc = el_push(o, dst, c);
        if (rc != TB_OK)
            return rc;
    }
    for (uint32_t i = 0; i < n->n_conds; i++) {
        tb_expr *c = n->conds[i];
        exprlist *dst = &keep;
        switch (n->jt) {
        case TB_JOIN_INNER:
            dst = covers_set(o, Ls, c) ? &lc : covers_set(o, Rs, c) ? &rcnd : &keep;
            break;
        case TB_JOIN_LEFT:
        case TB_JOIN_SEMI:
        case TB_JOIN_ANTI:
            dst = covers_set(o, Rs, c) ? &rcnd : &keep;
            break;
        case TB_JOIN_RIGHT:
            dst = covers_set(o, Ls, c) ? &lc : &keep;
            break;
        case TB_JOIN_FULL:
            dst = &keep;
            break;
        }
        rc = el_push(o, dst, c);
        if (rc != TB_OK)
            return rc;
    }
    if (o->oom)
        return tb_err_nomem(o->err);
    rc = push(o, L, &lc, &n->left);
    if (rc == TB_OK)
        rc = push(o, R, &rcnd, &n->right);
    if (rc != TB_OK)
        return rc;
    n->conds = keep.v;
    n->n_conds = keep.n;
    return wrap(o, n, &above, out);
}

static tb_rc push(opt *o, lnode *n, exprlist *conds, lnode **out)
{
    tb_rc rc;
    exprlist none = {NULL, 0, 0};
    switch (n->kind) {
    case L_FILTER: {
        exprlist all = {NULL, 0, 0};
        for (uint32_t i = 0; i < conds->n; i++)
            if ((rc = el_push(o, &all, conds->v[i])) != TB_OK)
                return rc;
        for (uint32_t i = 0; i < n->n_conds; i++)
            if ((rc = el_push(o, &all, n->conds[i])) != TB_OK)
                return rc;
        return push(o, n->left, &all, out);
    }
    case L_JOIN:
        return push_join(o, n, conds, out);
    case L_PROJECT: {
        exprlist below = {NULL, 0, 0};
        for (uint32_t i = 0; i < conds->n; i++) {
            tb_expr *s = tb_sql_expr_subst(o->arena, conds->v[i], n->out, n->exprs, n->n_out);
            if (s == NULL)
                return tb_err_nomem(o->err);
            if ((rc = el_push(o, &below, s)) != TB_OK)
                return rc;
        }
        rc = push(o, n->left, &below, &n->left);
        *out = n;
        return rc;
    }
    case L_AGG: {
        exprlist below = {NULL, 0, 0}, above = {NULL, 0, 0};
        lnode gk;
        memset(&gk, 0, sizeof(gk));
        gk.out = n->out;
        gk.n_out = n->n_groups;
        for (uint32_t i = 0; i < conds->n; i++) {
            if (n->n_groups > 0 && covers(o, &gk, conds->v[i])) {
                tb_expr *s =
                    tb_sql_expr_subst(o->arena, conds->v[i], n->out, n->groups, n->n_groups);
                if (s == NULL)
                    return tb_err_nomem(o->err);
                rc = el_push(o, &below, s);
            } else {
                rc = el_push(o, &above, conds->v[i]);
            }
            if (rc != TB_OK)
                return rc;
        }
        rc = push(o, n->left, &below, &n->left);
        if (rc != TB_OK)
            return rc;
        return wrap(o, n, &above, out);
    }
    case L_SORT:
        if (n->limit < 0) {
            rc = push(o, n->left, conds, &n->left);
            *out = n;
            return rc;
        }
        rc = push(o, n->left, &none, &n->left);
        if (rc != TB_OK)
            return rc;
        return wrap(o, n, conds, out);
    case L_WINDOW: /* a filter above must stay above (it would change the partitions) */
    case L_LIMIT:
        rc = push(o, n->left, &none, &n->left);
        if (rc != TB_OK)
            return rc;
        return wrap(o, n, conds, out);
    case L_UNION:
        for (uint32_t k = 0; k < n->n_kids; k++) {
            lnode *kid = n->kids[k];
            exprlist below = {NULL, 0, 0};
            if (conds->n > 0) {
                tb_expr **to = tb_arena_alloc(o->arena, n->n_out * sizeof(tb_expr *));
                if (to == NULL)
                    return tb_err_nomem(o->err);
                for (uint32_t i = 0; i < n->n_out; i++) {
                    to[i] = tb_expr_col(o->arena, kid->out[i], o->q->cols[kid->out[i]].type);
                    if (to[i] == NULL)
                        return tb_err_nomem(o->err);
                }
                for (uint32_t i = 0; i < conds->n; i++) {
                    tb_expr *s = tb_sql_expr_subst(o->arena, conds->v[i], n->out, to, n->n_out);
                    if (s == NULL)
                        return tb_err_nomem(o->err);
                    if ((rc = el_push(o, &below, s)) != TB_OK)
                        return rc;
                }
            }
            rc = push(o, kid, &below, &n->kids[k]);
            if (rc != TB_OK)
                return rc;
        }
        *out = n;
        return TB_OK;
    case L_APPLY: {
        exprlist below = {NULL, 0, 0}, above = {NULL, 0, 0};
        for (uint32_t i = 0; i < conds->n; i++) {
            rc = el_push(o, covers(o, n->left, conds->v[i]) ? &below : &above, conds->v[i]);
            if (rc != TB_OK)
                return rc;
        }
        rc = push(o, n->left, &below, &n->left);
        if (rc != TB_OK)
            return rc;
        /* the subquery on its own: columns of the outer side are parameters there */
        opt so = *o;
        so.cache = NULL;
        so.cache_cap = so.cache_n = 0;
        so.local = tb_arena_zalloc(o->arena, o->words * sizeof(uint64_t));
        if (so.local == NULL)
            return tb_err_nomem(o->err);
        collect_local(&so, n->right);
        rc = push(&so, n->right, &none, &n->right);
        if (rc != TB_OK)
            return rc;
        return wrap(o, n, &above, out);
    }
    case L_GET:
    case L_VALUES:
    default:
        return wrap(o, n, conds, out);
    }
}

/* ---------------------------------------------------------------- eager aggregation */

/* Does every column e references lie in ids[0..n) (and is there one, if need_one)? */
static bool expr_within(const tb_expr *e, const int *ids, uint32_t n, bool *any)
{
    if (e->kind == TB_EX_COL) {
        *any = true;
        for (uint32_t i = 0; i < n; i++)
            if (ids[i] == e->col)
                return true;
        return false;
    }
    for (uint32_t i = 0; i < e->n_args; i++)
        if (!expr_within(e->args[i], ids, n, any))
            return false;
    return true;
}

static bool within(const tb_expr *e, const lnode *side)
{
    bool any = false;
    return expr_within(e, side->out, side->n_out, &any);
}

static bool eq_cond(const tb_expr *e)
{
    return e->kind == TB_EX_CALL && e->n_args == 2 && e->fn_name != NULL &&
           strcmp(e->fn_name, "=") == 0;
}

/* Aggregates whose partials combine exactly (see the file comment). */
static bool eager_agg_ok(const tb_aggspec *a)
{
    if (a->distinct)
        return false;
    switch (a->kind) {
    case TB_AGG_COUNT_STAR:
    case TB_AGG_COUNT:
    case TB_AGG_MIN:
    case TB_AGG_MAX:
        return true;
    case TB_AGG_SUM:
        return a->arg != NULL &&
               (a->arg->type.id == TB_T_INT16 || a->arg->type.id == TB_T_INT32) &&
               a->type.id == TB_T_INT64;
    default:
        return false;
    }
}

/* B is small: a dimension table, at most this many rows (by the estimate), and P at
 * least this many times larger; otherwise the partial groups may not be fewer. */
#define EAGER_MAX_BUILD 200000.0
#define EAGER_MIN_RATIO 8.0

static tb_rc eager_agg(opt *o, lnode *n)
{
    lnode *j = n->left;
    qctx *q = o->q;

    if (n->kind != L_AGG || j == NULL || j->kind != L_JOIN || j->jt != TB_JOIN_INNER ||
        n->n_groups == 0 || j->n_conds == 0)
        return TB_OK;
    if (n->top_agg && q->opts != NULL && q->opts->stream)
        return TB_OK;
    for (uint32_t i = 0; i < n->n_aggs; i++)
        if (!eager_agg_ok(&n->aggs[i]))
            return TB_OK;
    /* P: the side the aggregate arguments come from (the larger one if none has any) */
    lnode *P = j->left->est >= j->right->est ? j->left : j->right;
    for (uint32_t i = 0; i < n->n_aggs; i++) {
        if (n->aggs[i].arg == NULL)
            continue;
        if (within(n->aggs[i].arg, j->left))
            P = j->left;
        else if (within(n->aggs[i].arg, j->right))
            P = j->right;
        else
            return TB_OK;
        break;
    }
    lnode *B = P == j->left ? j->right : j->left;
    if (B->est > EAGER_MAX_BUILD || P->est < EAGER_MIN_RATIO * B->est)
        return TB_OK;
    for (uint32_t i = 0; i < n->n_aggs; i++)
        if (n->aggs[i].arg != NULL && !within(n->aggs[i].arg, P))
            return TB_OK;
    /* group keys: each from one side */
    uint32_t n_gp = 0;
    for (uint32_t i = 0; i < n->n_groups; i++) {
        bool any = false, inp = expr_within(n->groups[i], P->out, P->n_out, &any);
        if (inp && any)
            n_gp++;
        else if (!within(n->groups[i], B))
            return TB_OK;
    }
    /* join conditions: equalities of a P expression and a B expression */
    uint32_t nk = j->n_conds;
    tb_expr **pk = tb_arena_alloc(o->arena, nk * sizeof(*pk));
    tb_expr **bk = tb_arena_alloc(o->arena, nk * sizeof(*bk));
    if (pk == NULL || bk == NULL)
        return tb_err_nomem(o->err);
    for (uint32_t i = 0; i < nk; i++) {
        const tb_expr *c = j->conds[i];
        bool a0 = false, a1 = false, b0 = false, b1 = false;
        if (!eq_cond(c))
            return TB_OK;
        if (expr_within(c->args[0], P->out, P->n_out, &a0) && a0 &&
            expr_within(c->args[1], B->out, B->n_out, &b1) && b1) {
            pk[i] = c->args[0];
            bk[i] = c->args[1];
        } else if (expr_within(c->args[1], P->out, P->n_out, &a1) && a1 &&
                   expr_within(c->args[0], B->out, B->n_out, &b0) && b0) {
            pk[i] = c->args[1];
            bk[i] = c->args[0];
        } else {
            return TB_OK;
        }
    }

    /* The partial aggregate over P: groups = P's group keys, then the join keys. */
    lnode *a1 = tb_sql_lnode(q, L_AGG);
    uint32_t g1 = n_gp + nk, n_out1 = g1 + n->n_aggs;
    if (a1 == NULL)
        return tb_err_nomem(o->err);
    a1->left = P;
    a1->n_groups = g1;
    a1->groups = tb_arena_alloc(o->arena, g1 * sizeof(tb_expr *));
    a1->n_aggs = n->n_aggs;
    a1->aggs = tb_arena_alloc(o->arena, (n->n_aggs ? n->n_aggs : 1) * sizeof(tb_aggspec));
    a1->n_out = n_out1;
    a1->out = tb_arena_alloc(o->arena, n_out1 * sizeof(int));
    a1->est = P->est;
    tb_expr **gsub = tb_arena_alloc(o->arena, n->n_groups * sizeof(tb_expr *));
    tb_aggspec *fin = tb_arena_alloc(o->arena, (n->n_aggs ? n->n_aggs : 1) * sizeof(tb_aggspec));
    tb_expr **conds = tb_arena_alloc(o->arena, nk * sizeof(tb_expr *));
    if (a1->groups == NULL || a1->aggs == NULL || a1->out == NULL || gsub == NULL ||
        fin == NULL || conds == NULL)
        return tb_err_nomem(o->err);
    uint32_t k = 0;
    for (uint32_t i = 0; i < n->n_groups; i++) {
        tb_expr *g = n->groups[i];
        bool any = false;
        if (!(expr_within(g, P->out, P->n_out, &any) && any)) {
            gsub[i] = g; /* a B key: unchanged */
            continue;
        }
        int id = tb_sql_new_col(q, g->kind == TB_EX_COL ? q->cols[g->col].name : NULL, NULL,
                                g->type);
        if (id < 0)
            return tb_err_nomem(o->err);
        a1->groups[k] = g;
        a1->out[k++] = id;
        gsub[i] = tb_expr_col(o->arena, id, g->type);
        if (gsub[i] == NULL)
            return tb_err_nomem(o->err);
    }
    for (uint32_t i = 0; i < nk; i++) {
        tb_expr *g = pk[i], *args[2];
        int id = tb_sql_new_col(q, g->kind == TB_EX_COL ? q->cols[g->col].name : NULL, NULL,
                                g->type);
        if (id < 0)
            return tb_err_nomem(o->err);
        a1->groups[k] = g;
        a1->out[k++] = id;
        args[0] = tb_expr_col(o->arena, id, g->type);
        args[1] = bk[i];
        if (args[0] == NULL)
            return tb_err_nomem(o->err);
        tb_rc rc = tb_expr_call(o->arena, "=", args, 2, j->conds[i]->pos, &conds[i], o->err);
        if (rc != TB_OK)
            return rc;
    }
    for (uint32_t i = 0; i < n->n_aggs; i++) {
        tb_aggspec *a = &a1->aggs[i], *f = &fin[i];
        *a = n->aggs[i];
        *f = n->aggs[i];
        if (a->kind == TB_AGG_SUM)
            a->type = tb_type_decimal(38, 0);
        int id = tb_sql_new_col(q, "partial", NULL, a->type);
        if (id < 0)
            return tb_err_nomem(o->err);
        a1->out[g1 + i] = id;
        f->arg = tb_expr_col(o->arena, id, a->type);
        if (f->arg == NULL)
            return tb_err_nomem(o->err);
        if (a->kind == TB_AGG_COUNT_STAR || a->kind == TB_AGG_COUNT)
            f->kind = TB_AGG_SUM; /* bigint partial counts summed into a bigint */
    }
    /* The join of the partial groups with B, then the final aggregate (same outputs). */
    lnode *j2 = tb_sql_lnode(q, L_JOIN);
    if (j2 == NULL)
        return tb_err_nomem(o->err);
    j2->jt = TB_JOIN_INNER;
    j2->left = P == j->left ? a1 : B;
    j2->right = P == j->left ? B : a1;
    j2->n_out = a1->n_out + B->n_out;
    j2->out = tb_arena_alloc(o->arena, j2->n_out * sizeof(int));
    if (j2->out == NULL)
        return tb_err_nomem(o->err);
    memcpy(j2->out, j2->left->out, j2->left->n_out * sizeof(int));
    memcpy(j2->out + j2->left->n_out, j2->right->out, j2->right->n_out * sizeof(int));
    j2->n_conds = nk;
    j2->conds = conds;
    j2->est = j->est;
    n->left = j2;
    n->groups = gsub;
    n->aggs = fin;
    return TB_OK;
}

/* Apply eager_agg to every aggregate of the tree (subqueries of APPLY included). */
static tb_rc eager_walk(opt *o, lnode *n)
{
    tb_rc rc = TB_OK;
    if (n == NULL)
        return TB_OK;
    if (n->left != NULL)
        rc = eager_walk(o, n->left);
    if (rc == TB_OK && n->right != NULL)
        rc = eager_walk(o, n->right);
    for (uint32_t i = 0; rc == TB_OK && i < n->n_kids; i++)
        rc = eager_walk(o, n->kids[i]);
    if (rc == TB_OK && n->kind == L_AGG)
        rc = eager_agg(o, n);
    return rc;
}

tb_rc tb_sql_optimize(qctx *q, lnode **root, tb_err *err)
{
    opt o;
    memset(&o, 0, sizeof(o));
    o.q = q;
    o.arena = q->arena;
    o.err = err;
    o.words = (q->n_cols + 64) / 64;
    o.local = tb_arena_zalloc(q->arena, o.words * sizeof(uint64_t));
    if (o.local == NULL)
        return tb_err_nomem(err);
    collect_local(&o, *root);
    exprlist none = {NULL, 0, 0};
    tb_rc rc = push(&o, *root, &none, root);
    if (rc == TB_OK && o.oom)
        rc = tb_err_nomem(err);
    if (rc == TB_OK)
        rc = eager_walk(&o, *root);
    return rc;
}
