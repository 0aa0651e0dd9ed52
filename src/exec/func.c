/*
 * func.c - the function registry: tb_expr_call looks a name up in the operator and
 * function tables of expr_arith.c and func_*.c, lets the family's resolver pick the
 * overload (inserting casts), then folds calls over constants.
 *
 * Errors (PostgreSQL wording): an unknown name is TB_E_NOTFOUND "function foo(integer)
 * does not exist" plus a "did you mean" hint chosen by edit distance; a known name
 * without a matching overload is TB_E_TYPE "function lower(integer) does not exist" or
 * "operator does not exist: text + integer". Both set err->pos.
 */
#include "exec/expr_int.h"

#include <stdio.h>
#include <string.h>

static const tb_fn_entry *const tables[] = {
    tb_func_arith_table,  tb_func_misc_table, tb_func_math_table,
    tb_func_string_table, tb_func_time_table, tb_func_regex_table,
    tb_func_fmt_table,
};

static const tb_fn_entry *lookup(const char *name)
{
    size_t t;
    const tb_fn_entry *e;
    for (t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
        for (e = tables[t]; e->name != NULL; e++)
            if (strcmp(e->name, name) == 0)
                return e;
    return NULL;
}

static tb_rc fmt_sig(const char *name, tb_expr **args, uint32_t n, char *buf, size_t cap)
{
    size_t len;
    uint32_t i;
    char tb[64];
    len = (size_t)snprintf(buf, cap, "%s(", name);
    for (i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? ", " : "",
                                tb_expr_type_name(args[i], tb, sizeof(tb)));
    if (len < cap)
        (void)snprintf(buf + len, cap - len, ")");
    return TB_OK;
}

tb_rc tb_func_no_overload(const char *name, tb_expr **args, uint32_t n, int pos, tb_err *err)
{
    char sig[512];
    fmt_sig(name, args, n, sig, sizeof(sig));
    return TB_ERRPOS(err, TB_E_TYPE, pos,
                     "function %s does not exist (no function matches the given name and "
                     "argument types; you might need to add explicit type casts)",
                     sig);
}

tb_rc tb_func_coerce_arg(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, uint32_t i,
                         tb_type t, int pos, tb_err *err)
{
    if (tb_type_eq(args[i]->type, t))
        return TB_OK;
    if (!tb_cast_allowed(args[i]->type, t, TB_CAST_IMPLICIT) && !tb_expr_is_unknown_lit(args[i]) &&
        args[i]->type.id != TB_T_NULL)
        return tb_func_no_overload(name, args, n, pos, err);
    return tb_cast_build(arena, args[i], t, TB_CAST_IMPLICIT, pos, &args[i], err);
}

static const char *suggest(const char *name)
{
    size_t t;
    const tb_fn_entry *e;
    const char *best = NULL;
    int best_d = 1 << 30, lim = (int)strlen(name) / 3;
    if (lim < 2)
        lim = 2;
    for (t = 1; t < sizeof(tables) / sizeof(tables[0]); t++) {
        for (e = tables[t]; e->name != NULL; e++) {
            int d = tb_edit_distance(name, e->name);
            if (d < best_d) {
                best_d = d;
                best = e->name;
            }
        }
    }
    return best_d <= lim ? best : NULL;
}

tb_rc tb_expr_call(tb_arena *arena, const char *name, tb_expr **args, uint32_t n_args, int pos,
                   tb_expr **out, tb_err *err)
{
    char low[64];
    const tb_fn_entry *ent;
    tb_expr **copy = NULL;
    tb_expr *e = NULL;
    size_t i, len;
    tb_rc rc;

    *out = NULL;
    len = strlen(name);
    if (len >= sizeof(low))
        len = sizeof(low) - 1;
    for (i = 0; i < len; i++)
        low[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
    low[len] = '\0';
    /* "pg_catalog.foo" as libpg_query spells some builtins */
    if (strncmp(low, "pg_catalog.", 11) == 0)
        memmove(low, low + 11, strlen(low + 11) + 1);

    ent = lookup(low);
    if (ent == NULL && low[0] != '\0' && !((low[0] >= 'a' && low[0] <= 'z') || low[0] == '_')) {
        /* an operator we do not have (e.g. "@>", "<<") */
        (void)tb_op_no_overload(low, args, n_args, pos, err);
        err->code = TB_E_NOTFOUND;
        return TB_E_NOTFOUND;
    }
    if (ent == NULL && n_args == 1) {
        /* function-style cast, as PostgreSQL allows: date(ts), text(1), int8('5') */
        tb_type t;
        tb_err ignore;
        if (tb_type_parse(low, &t, &ignore) == TB_OK)
            return tb_expr_cast(arena, args[0], t, pos, out, err);
    }
    if (ent == NULL) {
        char sig[512];
        const char *s = suggest(low);
        fmt_sig(low, args, n_args, sig, sizeof(sig));
        if (s != NULL)
            return TB_ERRPOS(err, TB_E_NOTFOUND, pos,
                             "function %s does not exist (did you mean: %s?)", sig, s);
        return TB_ERRPOS(err, TB_E_NOTFOUND, pos, "function %s does not exist", sig);
    }
    /* resolvers coerce in place: work on a copy of the caller's array */
    copy = tb_arena_alloc(arena, sizeof(tb_expr *) * (n_args ? n_args : 1));
    if (copy == NULL)
        return tb_expr_nomem(err);
    if (n_args)
        memcpy(copy, args, sizeof(tb_expr *) * n_args);
    rc = ent->resolve(arena, ent->name, copy, n_args, pos, &e, err);
    if (rc != TB_OK)
        return rc;
    *out = tb_expr_fold(arena, e);
    return TB_OK;
}
