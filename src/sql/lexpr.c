/*
 * lexpr.c - helpers over bound expressions (exec tb_expr whose TB_EX_COL.col holds a
 * global column id, see sql_int.h): structural equality (GROUP BY matching), column
 * sets, substitution (filter pushdown through projections), and the query context's
 * column registry and cleanups.
 *
 * Expressions are treated as immutable once built: substitution copies the nodes on
 * the path to a replaced column and shares the rest.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "sql/sql_int.h"

int tb_sql_new_col(qctx *q, const char *name, const char *rel, tb_type type)
{
    if (q->n_cols == q->cap_cols) {
        uint32_t cap = q->cap_cols ? q->cap_cols * 2 : 64;
        colinfo *cols = tb_arena_alloc(q->arena, (size_t)cap * sizeof(*cols));
        if (cols == NULL)
            return -1;
        if (q->n_cols)
            memcpy(cols, q->cols, (size_t)q->n_cols * sizeof(*cols));
        q->cols = cols;
        q->cap_cols = cap;
    }
    colinfo *c = &q->cols[q->n_cols];
    c->name = name != NULL ? tb_arena_strdup(q->arena, name) : "?column?";
    c->rel = rel != NULL ? tb_arena_strdup(q->arena, rel) : NULL;
    if (c->name == NULL || (rel != NULL && c->rel == NULL))
        return -1;
    c->type = type;
    return (int)q->n_cols++;
}

tb_rc tb_sql_add_cleanup(qctx *q, void (*fn)(void *), void *p)
{
    if (tb_grow((void **)&q->cleanups, &q->cap_cleanups, q->n_cleanups + 1, sizeof(*q->cleanups)) !=
        TB_OK)
        return TB_E_NOMEM;
    q->cleanups[q->n_cleanups].fn = fn;
    q->cleanups[q->n_cleanups].p = p;
    q->n_cleanups++;
    return TB_OK;
}

lnode *tb_sql_lnode(qctx *q, lkind kind)
{
    lnode *n = tb_arena_zalloc(q->arena, sizeof(*n));
    if (n == NULL)
        return NULL;
    n->kind = kind;
    n->limit = -1;
    return n;
}

static bool value_equal(const tb_value *a, const tb_value *b)
{
    if (!tb_type_eq(a->type, b->type) || a->is_null != b->is_null)
        return false;
    if (a->is_null)
        return true;
    switch (a->type.id) {
    case TB_T_NULL:
        return true;
    case TB_T_BOOL:
        return a->u.b == b->u.b;
    case TB_T_STRING:
        return a->u.s.len == b->u.s.len && memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0;
    case TB_T_INTERVAL:
        return a->u.iv.months == b->u.iv.months && a->u.iv.days == b->u.iv.days &&
               a->u.iv.micros == b->u.iv.micros;
    case TB_T_FLOAT:
    case TB_T_DOUBLE:
        return a->u.d == b->u.d;
    case TB_T_DECIMAL:
        return a->u.dec == b->u.dec;
    default:
        return a->u.i == b->u.i;
    }
}

bool tb_sql_expr_equal(const tb_expr *a, const tb_expr *b)
{
    if (a == b)
        return true;
    if (a == NULL || b == NULL)
        return false;
    if (a->kind != b->kind || !tb_type_eq(a->type, b->type) || a->n_args != b->n_args ||
        a->negate != b->negate || a->has_else != b->has_else)
        return false;
    switch (a->kind) {
    case TB_EX_COL:
        return a->col == b->col;
    case TB_EX_CONST:
        return value_equal(&a->value, &b->value);
    case TB_EX_CALL:
        if (a->fn_name == NULL || b->fn_name == NULL) {
            if (a->fn_name != b->fn_name)
                return false;
        } else if (strcmp(a->fn_name, b->fn_name) != 0) {
            return false;
        }
        /* Not a->fn: exec allocates a resolved tb_func per call site, so two calls of
         * one function differ by pointer; name, argument and result types decide. */
        break;
    case TB_EX_PARAM:
        return false; /* never merged */
    default:
        break;
    }
    for (uint32_t i = 0; i < a->n_args; i++) {
        if (!tb_sql_expr_equal(a->args[i], b->args[i]))
            return false;
    }
    return true;
}

void tb_sql_expr_cols(const tb_expr *e, uint64_t *set)
{
    if (e == NULL)
        return;
    if (e->kind == TB_EX_COL && e->col >= 0)
        set[(uint32_t)e->col >> 6] |= (uint64_t)1 << ((uint32_t)e->col & 63);
    for (uint32_t i = 0; i < e->n_args; i++)
        tb_sql_expr_cols(e->args[i], set);
}

bool tb_sql_expr_has_cols(const tb_expr *e)
{
    if (e == NULL)
        return false;
    if (e->kind == TB_EX_COL)
        return true;
    for (uint32_t i = 0; i < e->n_args; i++) {
        if (tb_sql_expr_has_cols(e->args[i]))
            return true;
    }
    return false;
}

tb_expr *tb_sql_expr_subst(tb_arena *arena, const tb_expr *e, const int *from, tb_expr **to,
                           uint32_t n)
{
    if (e->kind == TB_EX_COL) {
        for (uint32_t i = 0; i < n; i++) {
            if (from[i] == e->col)
                return to[i];
        }
        return (tb_expr *)e;
    }
    if (e->n_args == 0)
        return (tb_expr *)e;
    tb_expr **args = NULL;
    for (uint32_t i = 0; i < e->n_args; i++) {
        tb_expr *a = tb_sql_expr_subst(arena, e->args[i], from, to, n);
        if (a == NULL)
            return NULL;
        if (a != e->args[i] && args == NULL) {
            args = tb_arena_alloc(arena, e->n_args * sizeof(*args));
            if (args == NULL)
                return NULL;
            memcpy(args, e->args, e->n_args * sizeof(*args));
        }
        if (args != NULL)
            args[i] = a;
    }
    if (args == NULL)
        return (tb_expr *)e;
    tb_expr *c = tb_arena_memdup(arena, e, sizeof(*e));
    if (c == NULL)
        return NULL;
    c->args = args;
    return c;
}

/* Similarity score (lower is closer): edit distance, favouring names that contain the
 * typed name as a subsequence ("qty" -> "quantity") or start with the same letter. */
static int cand_score(const char *typed, const char *name)
{
    int d = tb_edit_distance(typed, name);
    const char *p = name;
    size_t k = 0, n = strlen(typed);
    for (; *p != '\0' && k < n; p++) {
        if ((*p | 0x20) == (typed[k] | 0x20))
            k++;
    }
    if (k == n)
        d -= (int)n;
    if (typed[0] != '\0' && (typed[0] | 0x20) == (name[0] | 0x20))
        d -= 1;
    return d;
}

void tb_sql_candidates(const char *name, const char **names, uint32_t n, char *buf, size_t cap)
{
    size_t len = 0;
    bool used[256] = {false};
    uint32_t lim = n < 256 ? n : 256;
    buf[0] = '\0';
    for (int k = 0; k < 5; k++) {
        int best = INT_MAX, bi = -1;
        for (uint32_t i = 0; i < lim; i++) {
            if (used[i] || names[i] == NULL)
                continue;
            bool dup = false;
            for (uint32_t j = 0; j < i && !dup; j++)
                dup = names[j] != NULL && strcmp(names[j], names[i]) == 0;
            if (dup) {
                used[i] = true;
                continue;
            }
            int d = cand_score(name, names[i]);
            if (d < best) {
                best = d;
                bi = (int)i;
            }
        }
        if (bi < 0)
            break;
        used[bi] = true;
        int w = snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", names[bi]);
        if (w < 0 || (size_t)w >= cap - len)
            break;
        len += (size_t)w;
    }
}
