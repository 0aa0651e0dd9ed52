/*
 * func_regex.c - regular expressions: the operators ~ ~* !~ !~*, regexp_like,
 * regexp_replace and substring(text from pattern).
 *
 * Engine: POSIX extended regular expressions from libc (regcomp/regexec with
 * REG_STARTEND, so column values need no NUL-terminated copies). PostgreSQL's
 * class escapes \d \D \s \S \w \W are translated to bracket classes; other
 * PostgreSQL ARE extensions (lookahead, non-greedy quantifiers, \m \M) are not
 * supported and fail to compile with "invalid regular expression". Case-insensitive
 * matching is libc's (REG_ICASE, ASCII in the C locale).
 *
 * Lifetime: a regex_t owns heap memory that only regfree releases, and expression
 * nodes have no destructor; so patterns are compiled per kernel call (once per batch
 * for a constant pattern, or when the pattern changes from row to row) and freed
 * before the kernel returns. Constant patterns are also test-compiled at construction
 * so a bad pattern is a construction error.
 */
#include "exec/expr_int.h"

#include <regex.h>
#include <string.h>

#define MAX_PATTERN 65536

#define STR(k, i) (((const tb_str *)args[k].v.data)[TB_IX(&args[k], i)])
#define VALID(i)  (!tb_vec_is_null(&out->v, (i)))

/* Translate PostgreSQL class escapes; returns a NUL-terminated heap string. */
static char *translate(const char *p, uint32_t n)
{
    tb_buf b = {0};
    uint32_t i;
    bool in_br = false;
    tb_rc rc = TB_OK;
    for (i = 0; i < n && rc == TB_OK; i++) {
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            char d = p[i + 1];
            const char *rep = NULL;
            switch (d) {
            case 'd':
                rep = in_br ? "0-9" : "[0-9]";
                break;
            case 'D':
                rep = in_br ? NULL : "[^0-9]";
                break;
            case 's':
                rep = in_br ? "[:space:]" : "[[:space:]]";
                break;
            case 'S':
                rep = in_br ? NULL : "[^[:space:]]";
                break;
            case 'w':
                rep = in_br ? "[:alnum:]_" : "[[:alnum:]_]";
                break;
            case 'W':
                rep = in_br ? NULL : "[^[:alnum:]_]";
                break;
            default:
                break;
            }
            if (rep != NULL) {
                rc = tb_buf_puts(&b, rep);
                i++;
                continue;
            }
            if (in_br) {
                /* POSIX brackets take backslash literally: keep only the escaped char */
                rc = tb_buf_putc(&b, d);
                i++;
                continue;
            }
            rc = tb_buf_putc(&b, c);
            if (rc == TB_OK)
                rc = tb_buf_putc(&b, d);
            i++;
            continue;
        }
        if (!in_br && c == '[') {
            in_br = true;
            rc = tb_buf_putc(&b, c);
            /* a leading ^ and/or ] belong to the set */
            if (rc == TB_OK && i + 1 < n && p[i + 1] == '^')
                rc = tb_buf_putc(&b, p[++i]);
            if (rc == TB_OK && i + 1 < n && p[i + 1] == ']')
                rc = tb_buf_putc(&b, p[++i]);
            continue;
        }
        if (in_br && c == '[' && i + 1 < n &&
            (p[i + 1] == ':' || p[i + 1] == '.' || p[i + 1] == '=')) {
            /* [:class:] inside a bracket: copy through the closing ":]" */
            char kind = p[i + 1];
            uint32_t j = i + 2;
            while (j + 1 < n && !(p[j] == kind && p[j + 1] == ']'))
                j++;
            if (j + 1 < n) {
                rc = tb_buf_append(&b, p + i, j + 2 - i);
                i = j + 1;
                continue;
            }
        }
        if (in_br && c == ']')
            in_br = false;
        rc = tb_buf_putc(&b, c);
    }
    if (rc != TB_OK || tb_buf_cstr(&b) == NULL) {
        tb_buf_free(&b);
        return NULL;
    }
    return b.data; /* caller frees */
}

static tb_rc rx_compile(const char *p, uint32_t n, bool icase, regex_t *re, int pos, tb_err *err)
{
    char *pat;
    int r;
    char msg[256];
    if (n > MAX_PATTERN)
        return TB_ERRPOS(err, TB_E_LIMIT, pos, "regular expression longer than %d bytes",
                         MAX_PATTERN);
    pat = translate(p, n);
    if (pat == NULL)
        return tb_expr_nomem(err);
    if (memchr(p, '\0', n) != NULL) {
        tb_free(pat);
        return TB_ERRPOS(err, TB_E_SQL, pos, "invalid regular expression: NUL byte");
    }
    r = regcomp(re, pat, REG_EXTENDED | (icase ? REG_ICASE : 0));
    tb_free(pat);
    if (r != 0) {
        regerror(r, re, msg, sizeof(msg));
        return TB_ERRPOS(err, TB_E_SQL, pos, "invalid regular expression: %s", msg);
    }
    return TB_OK;
}

/* Per-kernel pattern cache: recompiles only when the pattern (or flags) change. */
typedef struct rx_cache {
    regex_t re;
    bool have;
    const char *p;
    uint32_t n;
    int flags;
} rx_cache;

static tb_rc rx_get(rx_cache *c, tb_str p, bool icase, int pos, tb_err *err)
{
    tb_rc rc;
    int flags = icase ? 1 : 0;
    if (c->have && c->n == p.len && c->flags == flags &&
        (p.len == 0 || (c->p != NULL && memcmp(c->p, p.ptr, p.len) == 0)))
        return TB_OK;
    if (c->have)
        regfree(&c->re);
    c->have = false;
    rc = rx_compile(p.ptr, p.len, icase, &c->re, pos, err);
    if (rc != TB_OK)
        return rc;
    c->have = true;
    c->p = p.ptr;
    c->n = p.len;
    c->flags = flags;
    return TB_OK;
}

static void rx_done(rx_cache *c)
{
    if (c->have)
        regfree(&c->re);
    c->have = false;
}

static bool rx_exec(const regex_t *re, const char *s, uint32_t start, uint32_t len, size_t nm,
                    regmatch_t *m)
{
    regmatch_t one[1];
    if (nm == 0) {
        m = one;
        nm = 1;
    }
    m[0].rm_so = (regoff_t)start;
    m[0].rm_eo = (regoff_t)len;
    return regexec(re, s ? s : "", nm, m, REG_STARTEND | (start > 0 ? REG_NOTBOL : 0)) == 0;
}

/* flags text ('g', 'i', 'c', 'n' ignored as PostgreSQL's defaults otherwise) */
static tb_rc parse_flags(tb_str f, bool *global, bool *icase, int pos, tb_err *err)
{
    uint32_t k;
    for (k = 0; k < f.len; k++) {
        switch (f.ptr[k]) {
        case 'g':
            *global = true;
            break;
        case 'i':
            *icase = true;
            break;
        case 'c':
            *icase = false;
            break;
        default:
            return TB_ERRPOS(err, TB_E_SQL, pos, "invalid regular expression option: \"%c\"",
                             f.ptr[k]);
        }
    }
    return TB_OK;
}

/* ~ / regexp_like. op bit 0 = negate, bit 1 = case-insensitive */
static tb_rc k_match(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                     tb_err *err)
{
    uint8_t *o = out->v.data;
    bool neg = (e->fn->op & 1) != 0;
    rx_cache c;
    uint32_t i;
    tb_rc rc = TB_OK;
    TB_UNUSED(arena);
    memset(&c, 0, sizeof(c));
    for (i = 0; i < n; i++) {
        tb_str s;
        bool icase = (e->fn->op & 2) != 0, global = false;
        if (!VALID(i)) {
            o[i] = 0;
            continue;
        }
        if (e->n_args > 2) {
            rc = parse_flags(STR(2, i), &global, &icase, e->pos, err);
            if (rc != TB_OK)
                break;
        }
        rc = rx_get(&c, STR(1, i), icase, e->pos, err);
        if (rc != TB_OK)
            break;
        s = STR(0, i);
        o[i] = rx_exec(&c.re, s.ptr, 0, s.len, 0, NULL) != neg;
    }
    rx_done(&c);
    return rc;
}

/* regexp_replace(s, pattern, replacement [, flags]) */
static tb_rc k_replace(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                       tb_err *err)
{
    tb_buf b = {0};
    uint32_t *offs = tb_malloc(sizeof(uint32_t) * ((size_t)n + 1));
    tb_str *o = out->v.data;
    rx_cache c;
    uint32_t i;
    tb_rc rc = TB_OK;
    char *bytes;

    memset(&c, 0, sizeof(c));
    if (offs == NULL)
        return tb_expr_nomem(err);
    for (i = 0; i < n && rc == TB_OK; i++) {
        tb_str s, r;
        bool global = false, icase = false;
        uint32_t start = 0;
        regmatch_t m[10];
        offs[i] = (uint32_t)b.len;
        if (!VALID(i))
            continue;
        if (e->n_args > 3 && (rc = parse_flags(STR(3, i), &global, &icase, e->pos, err)) != TB_OK)
            break;
        if ((rc = rx_get(&c, STR(1, i), icase, e->pos, err)) != TB_OK)
            break;
        s = STR(0, i);
        r = STR(2, i);
        while (rc == TB_OK && start <= s.len && rx_exec(&c.re, s.ptr, start, s.len, 10, m)) {
            uint32_t so = (uint32_t)m[0].rm_so, eo = (uint32_t)m[0].rm_eo, k;
            rc = tb_buf_append(&b, s.ptr + start, so - start);
            for (k = 0; rc == TB_OK && k < r.len; k++) {
                char ch = r.ptr[k];
                if (ch == '\\' && k + 1 < r.len) {
                    char d = r.ptr[k + 1];
                    if ((d >= '1' && d <= '9') || d == '&') {
                        int g = d == '&' ? 0 : d - '0';
                        if (m[g].rm_so >= 0)
                            rc = tb_buf_append(&b, s.ptr + m[g].rm_so,
                                               (size_t)(m[g].rm_eo - m[g].rm_so));
                        k++;
                        continue;
                    }
                    if (d == '\\') {
                        rc = tb_buf_putc(&b, '\\');
                        k++;
                        continue;
                    }
                }
                rc = tb_buf_putc(&b, ch);
            }
            if (eo == so) {
                /* empty match: copy one character and move on */
                if (eo >= s.len) {
                    start = s.len + 1;
                    break;
                }
                if (rc == TB_OK)
                    rc = tb_buf_putc(&b, s.ptr[eo]);
                start = eo + 1;
            } else {
                start = eo;
            }
            if (!global)
                break;
            if (b.len > ((size_t)1 << 30))
                rc = TB_ERRF(err, TB_E_LIMIT, "string results exceed 1 GiB in one batch");
        }
        if (rc == TB_OK && start < s.len)
            rc = tb_buf_append(&b, s.ptr + start, s.len - start);
    }
    rx_done(&c);
    if (rc == TB_OK) {
        offs[n] = (uint32_t)b.len;
        bytes = tb_arena_alloc(arena, b.len + 1);
        if (bytes == NULL) {
            rc = tb_expr_nomem(err);
        } else {
            if (b.len)
                memcpy(bytes, b.data, b.len);
            for (i = 0; i < n; i++) {
                o[i].ptr = bytes + offs[i];
                o[i].len = offs[i + 1] - offs[i];
            }
        }
    } else if (rc == TB_E_NOMEM) {
        (void)tb_expr_nomem(err);
    }
    tb_buf_free(&b);
    tb_free(offs);
    return rc;
}

/* substring(s from pattern): the first match, or its first parenthesized group */
static tb_rc k_substring(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                         tb_err *err)
{
    tb_str *o = out->v.data;
    rx_cache c;
    uint32_t i;
    tb_rc rc = TB_OK;
    TB_UNUSED(arena);
    memset(&c, 0, sizeof(c));
    for (i = 0; i < n; i++) {
        tb_str s;
        regmatch_t m[2];
        o[i].ptr = "";
        o[i].len = 0;
        if (!VALID(i))
            continue;
        if ((rc = rx_get(&c, STR(1, i), false, e->pos, err)) != TB_OK)
            break;
        s = STR(0, i);
        if (!rx_exec(&c.re, s.ptr, 0, s.len, 2, m)) {
            rc = tb_vec_set_null(&out->v, i, n, arena);
            if (rc != TB_OK) {
                rc = tb_expr_nomem(err);
                break;
            }
            continue;
        }
        {
            int g = c.re.re_nsub > 0 ? 1 : 0;
            if (m[g].rm_so < 0) {
                rc = tb_vec_set_null(&out->v, i, n, arena);
                if (rc != TB_OK) {
                    rc = tb_expr_nomem(err);
                    break;
                }
                continue;
            }
            o[i].ptr = s.ptr + m[g].rm_so;
            o[i].len = (uint32_t)(m[g].rm_eo - m[g].rm_so);
        }
    }
    rx_done(&c);
    return rc;
}

/* ================================================================ resolvers */

static tb_rc text_args(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                       bool op, tb_err *err)
{
    uint32_t i;
    tb_rc rc;
    for (i = 0; i < n; i++) {
        tb_type_id t = (tb_type_id)args[i]->type.id;
        if (t != TB_T_STRING && t != TB_T_NULL)
            return op ? tb_op_no_overload(name, args, n, pos, err)
                      : tb_func_no_overload(name, args, n, pos, err);
        rc = tb_cast_build(arena, args[i], tb_type_make(TB_T_STRING), TB_CAST_IMPLICIT, pos,
                           &args[i], err);
        if (rc != TB_OK)
            return rc;
    }
    return TB_OK;
}

static tb_rc check_const_pattern(tb_expr **args, uint32_t k, bool icase, int pos, tb_err *err)
{
    regex_t re;
    tb_rc rc;
    if (args[k]->kind != TB_EX_CONST || args[k]->value.is_null)
        return TB_OK;
    rc = rx_compile(args[k]->value.u.s.ptr, args[k]->value.u.s.len, icase, &re, pos, err);
    if (rc == TB_OK)
        regfree(&re);
    return rc;
}

static tb_rc mk(tb_arena *arena, const char *name, tb_kernel k, int op, tb_type t, tb_expr **args,
                uint32_t n, int pos, tb_expr **out, tb_err *err)
{
    tb_func *fn = tb_expr_func_new(arena, name, k, TB_FN_STRICT, op);
    if (fn == NULL || (*out = tb_expr_new_call(arena, name, fn, t, args, n, pos)) == NULL)
        return tb_expr_nomem(err);
    return TB_OK;
}

static tb_rc r_match_op(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                        tb_expr **out, tb_err *err)
{
    int op = (name[0] == '!') | ((strchr(name, '*') != NULL) << 1);
    tb_rc rc;
    if (n != 2)
        return tb_op_no_overload(name, args, n, pos, err);
    if ((rc = text_args(arena, name, args, n, pos, true, err)) != TB_OK ||
        (rc = check_const_pattern(args, 1, (op & 2) != 0, pos, err)) != TB_OK)
        return rc;
    return mk(arena, name, k_match, op, tb_type_make(TB_T_BOOL), args, n, pos, out, err);
}

static tb_rc r_regexp_like(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                           tb_expr **out, tb_err *err)
{
    tb_rc rc;
    if (n != 2 && n != 3)
        return tb_func_no_overload(name, args, n, pos, err);
    if ((rc = text_args(arena, name, args, n, pos, false, err)) != TB_OK ||
        (n == 2 && (rc = check_const_pattern(args, 1, false, pos, err)) != TB_OK))
        return rc;
    return mk(arena, name, k_match, 0, tb_type_make(TB_T_BOOL), args, n, pos, out, err);
}

static tb_rc r_regexp_replace(tb_arena *arena, const char *name, tb_expr **args, uint32_t n,
                              int pos, tb_expr **out, tb_err *err)
{
    tb_rc rc;
    if (n != 3 && n != 4)
        return tb_func_no_overload(name, args, n, pos, err);
    if ((rc = text_args(arena, name, args, n, pos, false, err)) != TB_OK ||
        (n == 3 && (rc = check_const_pattern(args, 1, false, pos, err)) != TB_OK))
        return rc;
    return mk(arena, name, k_replace, 0, tb_type_make(TB_T_STRING), args, n, pos, out, err);
}

/* substring(text, text): called by func_string.c's substring resolver */
tb_rc tb_regex_substring_resolve(tb_arena *arena, const char *name, tb_expr **args, uint32_t n,
                                 int pos, tb_expr **out, tb_err *err)
{
    tb_rc rc;
    if ((rc = text_args(arena, name, args, n, pos, false, err)) != TB_OK ||
        (rc = check_const_pattern(args, 1, false, pos, err)) != TB_OK)
        return rc;
    return mk(arena, name, k_substring, 0, tb_type_make(TB_T_STRING), args, n, pos, out, err);
}

const tb_fn_entry tb_func_regex_table[] = {
    {"~", r_match_op},
    {"~*", r_match_op},
    {"!~", r_match_op},
    {"!~*", r_match_op},
    {"regexp_like", r_regexp_like},
    {"regexp_replace", r_regexp_replace},
    {NULL, NULL},
};
