/*
 * func_string.c - string functions and LIKE / ILIKE.
 *
 * Strings are UTF-8; positions and lengths count characters (code points) as in
 * PostgreSQL with a UTF-8 database. Case mapping (lower, upper, initcap, ILIKE) is
 * ASCII only: other characters pass through unchanged (documented gap).
 *
 * Results that are a piece of an argument (substr, trim, left, right, split_part) are
 * views into the argument's bytes: they live as long as the input batch, which is the
 * lifetime of the output as well (vector.h). New strings are built per batch in one
 * heap buffer and copied once into the arena (sbuild). A batch's string output is
 * capped at 1 GiB and repeat/lpad/rpad at 256 MiB per value (TB_E_LIMIT).
 *
 * LIKE: a constant pattern is analysed once at construction into exact / prefix /
 * suffix / contains / match-all / general; the general matcher is iterative with
 * single-star backtracking (O(n*m) worst case, never exponential). '_' matches one
 * character, '\' escapes the next pattern character.
 */
#include "exec/expr_int.h"

#include <string.h>

#define MAX_VALUE_BYTES ((size_t)256 << 20)
#define MAX_BATCH_BYTES ((size_t)1 << 30)

/* ================================================================ helpers */

static inline uint32_t u8len(unsigned char c)
{
    return c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

static uint32_t nchars(const char *s, uint32_t n)
{
    uint32_t i, c = 0;
    for (i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* byte offset of the k-th character (0-based), clamped to n */
static uint32_t char_off(const char *s, uint32_t n, int64_t k)
{
    uint32_t i = 0;
    while (k > 0 && i < n) {
        i += u8len((unsigned char)s[i]);
        k--;
    }
    return i > n ? n : i;
}

static inline char lc(char c)
{
    if (c >= 'A' && c <= 'Z')
        c = (char)(c | 0x20);
    return c;
}

static inline char uc(char c)
{
    if (c >= 'a' && c <= 'z')
        c = (char)(c & ~0x20);
    return c;
}

typedef struct sbuild {
    tb_buf buf;
    uint32_t *offs;
    uint32_t n;
} sbuild;

static tb_rc sb_init(sbuild *sb, uint32_t n, tb_err *err)
{
    memset(sb, 0, sizeof(*sb));
    sb->n = n;
    sb->offs = tb_malloc(sizeof(uint32_t) * ((size_t)n + 1));
    return sb->offs == NULL ? tb_expr_nomem(err) : TB_OK;
}

static void sb_free(sbuild *sb)
{
    tb_buf_free(&sb->buf);
    tb_free(sb->offs);
    sb->offs = NULL;
}

static inline void sb_mark(sbuild *sb, uint32_t i) { sb->offs[i] = (uint32_t)sb->buf.len; }

static tb_rc sb_put(sbuild *sb, const void *p, size_t n, tb_err *err)
{
    if (sb->buf.len + n > MAX_BATCH_BYTES)
        return TB_ERRF(err, TB_E_LIMIT, "string results exceed 1 GiB in one batch");
    if (n == 0)
        return TB_OK;
    if (tb_buf_append(&sb->buf, p, n) != TB_OK)
        return tb_expr_nomem(err);
    return TB_OK;
}

/* Finish: out rows point into one arena copy. Frees the builder. */
static tb_rc sb_finish(sbuild *sb, tb_arena *arena, tb_ev *out, tb_err *err)
{
    tb_str *o = out->v.data;
    char *bytes;
    uint32_t i;
    sb->offs[sb->n] = (uint32_t)sb->buf.len;
    bytes = tb_arena_alloc(arena, sb->buf.len + 1);
    if (bytes == NULL) {
        sb_free(sb);
        return tb_expr_nomem(err);
    }
    if (sb->buf.len)
        memcpy(bytes, sb->buf.data, sb->buf.len);
    for (i = 0; i < sb->n; i++) {
        o[i].ptr = bytes + sb->offs[i];
        o[i].len = sb->offs[i + 1] - sb->offs[i];
    }
    sb_free(sb);
    return TB_OK;
}

tb_rc tb_str_ev_alloc_bytes(tb_arena *arena, size_t n, char **out, tb_err *err)
{
    *out = tb_arena_alloc(arena, n + 1);
    return *out == NULL ? tb_expr_nomem(err) : TB_OK;
}

#define STR(k, i) (((const tb_str *)args[k].v.data)[TB_IX(&args[k], i)])
#define I32(k, i) (((const int32_t *)args[k].v.data)[TB_IX(&args[k], i)])
#define VALID(i)  (!tb_vec_is_null(&out->v, (i)))
#define EMPTY_STR(i)                                                                               \
    do {                                                                                           \
        o[i].ptr = "";                                                                             \
        o[i].len = 0;                                                                              \
    } while (0)

static tb_rc mk(tb_arena *arena, const char *name, tb_kernel k, uint32_t flags, int op, tb_type t,
                tb_expr **args, uint32_t n, int pos, tb_expr **out, tb_err *err)
{
    tb_func *fn = tb_expr_func_new(arena, name, k, flags, op);
    if (fn == NULL || (*out = tb_expr_new_call(arena, name, fn, t, args, n, pos)) == NULL)
        return tb_expr_nomem(err);
    return TB_OK;
}

/* Coerce argument i to text (text, unknown literal or NULL only) */
static tb_rc arg_text(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, uint32_t i,
                      int pos, tb_err *err)
{
    return tb_func_coerce_arg(arena, name, args, n, i, tb_type_make(TB_T_STRING), pos, err);
}

/* Coerce argument i to integer (any integer type; bigint narrowed with a range check) */
static tb_rc arg_int(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, uint32_t i,
                     int pos, tb_err *err)
{
    tb_type t = args[i]->type;
    if (tb_type_is_integer(t))
        return tb_cast_build(arena, args[i], tb_type_make(TB_T_INT32), TB_CAST_ASSIGNMENT, pos,
                             &args[i], err);
    return tb_func_coerce_arg(arena, name, args, n, i, tb_type_make(TB_T_INT32), pos, err);
}

/* Signature check + coercion: sig chars 's' text, 'i' integer; n must be in
 * [min_args, strlen(sig)]. */
static tb_rc sig(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                 const char *s, uint32_t min_args, tb_err *err)
{
    uint32_t i;
    tb_rc rc;
    if (n < min_args || n > strlen(s))
        return tb_func_no_overload(name, args, n, pos, err);
    for (i = 0; i < n; i++) {
        rc = s[i] == 'i' ? arg_int(arena, name, args, n, i, pos, err)
                         : arg_text(arena, name, args, n, i, pos, err);
        if (rc != TB_OK)
            return rc;
    }
    return TB_OK;
}

/* ================================================================ length / case */

static tb_rc k_length(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                      tb_err *err)
{
    int32_t *o = out->v.data;
    uint32_t i;
    int op = e->fn->op;
    TB_UNUSED(arena);
    TB_UNUSED(err);
    for (i = 0; i < n; i++) {
        tb_str s;
        if (!VALID(i)) {
            o[i] = 0;
            continue;
        }
        s = STR(0, i);
        o[i] = op == 0   ? (int32_t)nchars(s.ptr, s.len)
               : op == 1 ? (int32_t)s.len
                         : (int32_t)(s.len * 8u);
    }
    return TB_OK;
}

enum { C_LOWER, C_UPPER, C_INITCAP, C_REVERSE };

static tb_rc k_case(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                    tb_err *err)
{
    tb_str *o = out->v.data;
    size_t total = 0;
    uint32_t i, k;
    char *p;
    int op = e->fn->op;
    tb_rc rc;

    for (i = 0; i < n; i++)
        if (VALID(i))
            total += STR(0, i).len;
    if (total > MAX_BATCH_BYTES)
        return TB_ERRF(err, TB_E_LIMIT, "string results exceed 1 GiB in one batch");
    rc = tb_str_ev_alloc_bytes(arena, total, &p, err);
    if (rc != TB_OK)
        return rc;
    for (i = 0; i < n; i++) {
        tb_str s;
        if (!VALID(i)) {
            EMPTY_STR(i);
            continue;
        }
        s = STR(0, i);
        o[i].ptr = p;
        o[i].len = s.len;
        switch (op) {
        case C_LOWER:
            for (k = 0; k < s.len; k++)
                p[k] = lc(s.ptr[k]);
            break;
        case C_UPPER:
            for (k = 0; k < s.len; k++)
                p[k] = uc(s.ptr[k]);
            break;
        case C_INITCAP: {
            bool in_word = false;
            for (k = 0; k < s.len; k++) {
                char c = s.ptr[k];
                bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                             (c >= '0' && c <= '9') || ((unsigned char)c >= 0x80);
                if (alnum && in_word)
                    c = lc(c);
                else if (alnum)
                    c = uc(c);
                p[k] = c;
                in_word = alnum;
            }
            break;
        }
        default: { /* reverse by characters */
            uint32_t j = 0;
            while (j < s.len) {
                uint32_t l = u8len((unsigned char)s.ptr[j]);
                if (j + l > s.len)
                    l = s.len - j;
                memcpy(p + s.len - j - l, s.ptr + j, l);
                j += l;
            }
            break;
        }
        }
        p += s.len;
    }
    return TB_OK;
}

/* ================================================================ substrings (views) */

static tb_rc k_substr(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                      tb_err *err)
{
    tb_str *o = out->v.data;
    uint32_t i;
    TB_UNUSED(arena);
    for (i = 0; i < n; i++) {
        tb_str s;
        int64_t from, end, b0, b1;
        if (!VALID(i)) {
            EMPTY_STR(i);
            continue;
        }
        s = STR(0, i);
        from = I32(1, i);
        if (e->n_args > 2) {
            int64_t len = I32(2, i);
            if (len < 0)
                return TB_ERRPOS(err, TB_E_RANGE, e->pos, "negative substring length not allowed");
            end = from + len; /* exclusive, 1-based */
        } else {
            end = INT64_MAX;
        }
        if (from < 1)
            from = 1;
        if (end <= from) {
            o[i].ptr = s.ptr;
            o[i].len = 0;
            continue;
        }
        b0 = char_off(s.ptr, s.len, from - 1);
        b1 = end == INT64_MAX ? s.len : b0 + char_off(s.ptr + b0, s.len - (uint32_t)b0, end - from);
        o[i].ptr = s.ptr + b0;
        o[i].len = (uint32_t)(b1 - b0);
    }
    return TB_OK;
}

static tb_rc k_leftright(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                         tb_err *err)
{
    tb_str *o = out->v.data;
    uint32_t i;
    bool right = e->fn->op == 1;
    TB_UNUSED(arena);
    TB_UNUSED(err);
    for (i = 0; i < n; i++) {
        tb_str s;
        int64_t k, total;
        uint32_t b;
        if (!VALID(i)) {
            EMPTY_STR(i);
            continue;
        }
        s = STR(0, i);
        k = I32(1, i);
        total = nchars(s.ptr, s.len);
        if (k < 0)
            k = total + k < 0 ? 0 : total + k;
        if (k > total)
            k = total;
        if (!right) {
            b = char_off(s.ptr, s.len, k);
            o[i].ptr = s.ptr;
            o[i].len = b;
        } else {
            b = char_off(s.ptr, s.len, total - k);
            o[i].ptr = s.ptr + b;
            o[i].len = s.len - b;
        }
    }
    return TB_OK;
}

/* trim: op bit 1 = leading, bit 2 = trailing */
static bool in_set(const char *c, uint32_t cl, tb_str set)
{
    uint32_t j = 0;
    while (j < set.len) {
        uint32_t l = u8len((unsigned char)set.ptr[j]);
        if (l == cl && j + l <= set.len && memcmp(set.ptr + j, c, l) == 0)
            return true;
        j += l;
    }
    return false;
}

static tb_rc k_trim(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                    tb_err *err)
{
    tb_str *o = out->v.data;
    uint32_t i;
    int op = e->fn->op;
    TB_UNUSED(arena);
    TB_UNUSED(err);
    for (i = 0; i < n; i++) {
        tb_str s, set = {" ", 1};
        uint32_t b = 0, end;
        if (!VALID(i)) {
            EMPTY_STR(i);
            continue;
        }
        s = STR(0, i);
        if (e->n_args > 1)
            set = STR(1, i);
        end = s.len;
        if (op & 1) {
            while (b < end) {
                uint32_t l = u8len((unsigned char)s.ptr[b]);
                if (b + l > end || !in_set(s.ptr + b, l, set))
                    break;
                b += l;
            }
        }
        if (op & 2) {
            while (end > b) {
                uint32_t st = end - 1;
                while (st > b && ((unsigned char)s.ptr[st] & 0xC0) == 0x80)
                    st--;
                if (!in_set(s.ptr + st, end - st, set))
                    break;
                end = st;
            }
        }
        o[i].ptr = s.ptr + b;
        o[i].len = end - b;
    }
    return TB_OK;
}

/* Substring search. Short needles: memchr on the first byte then memcmp, which beats
 * memmem's setup cost on the short strings typical of columns; long needles: memmem. */
static const char *find(const char *h, uint32_t hn, const char *nd, uint32_t nn)
{
    const char *p, *end;
    if (nn == 0)
        return h;
    if (nn > hn)
        return NULL;
    if (nn > 16)
        return memmem(h, hn, nd, nn);
    end = h + hn - nn + 1; /* last possible start + 1 */
    for (p = h; p < end; p++) {
        p = memchr(p, nd[0], (size_t)(end - p));
        if (p == NULL)
            return NULL;
        if (memcmp(p + 1, nd + 1, nn - 1) == 0)
            return p;
    }
    return NULL;
}

static tb_rc k_split_part(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                          tb_err *err)
{
    tb_str *o = out->v.data;
    uint32_t i;
    TB_UNUSED(arena);
    for (i = 0; i < n; i++) {
        tb_str s, d;
        int64_t field;
        if (!VALID(i)) {
            EMPTY_STR(i);
            continue;
        }
        s = STR(0, i);
        d = STR(1, i);
        field = I32(2, i);
        if (field == 0)
            return TB_ERRPOS(err, TB_E_RANGE, e->pos, "field position must not be zero");
        o[i].ptr = s.ptr;
        o[i].len = 0;
        if (d.len == 0) {
            /* the whole string is the only field */
            if (field == 1 || field == -1)
                o[i] = s;
            continue;
        }
        if (field > 0) {
            const char *p = s.ptr, *end = s.ptr + s.len;
            int64_t f = 1;
            while (f < field) {
                const char *q = find(p, (uint32_t)(end - p), d.ptr, d.len);
                if (q == NULL) {
                    p = NULL;
                    break;
                }
                p = q + d.len;
                f++;
            }
            if (p != NULL) {
                const char *q = find(p, (uint32_t)(end - p), d.ptr, d.len);
                o[i].ptr = p;
                o[i].len = (uint32_t)((q ? q : end) - p);
            }
        } else {
            /* count fields, then pick from the end */
            int64_t count = 1, want;
            const char *p = s.ptr, *end = s.ptr + s.len, *q;
            while ((q = find(p, (uint32_t)(end - p), d.ptr, d.len)) != NULL) {
                count++;
                p = q + d.len;
            }
            want = count + field + 1;
            if (want >= 1) {
                int64_t f = 1;
                p = s.ptr;
                while (f < want) {
                    q = find(p, (uint32_t)(end - p), d.ptr, d.len);
                    p = q + d.len;
                    f++;
                }
                q = find(p, (uint32_t)(end - p), d.ptr, d.len);
                o[i].ptr = p;
                o[i].len = (uint32_t)((q ? q : end) - p);
            }
        }
    }
    return TB_OK;
}

/* ================================================================ search */

static tb_rc k_strpos(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                      tb_err *err)
{
    uint32_t i;
    bool starts = e->fn->op == 1;
    TB_UNUSED(arena);
    TB_UNUSED(err);
    for (i = 0; i < n; i++) {
        tb_str s, sub;
        if (!VALID(i)) {
            if (starts)
                ((uint8_t *)out->v.data)[i] = 0;
            else
                ((int32_t *)out->v.data)[i] = 0;
            continue;
        }
        s = STR(0, i);
        sub = STR(1, i);
        if (starts) {
            ((uint8_t *)out->v.data)[i] =
                sub.len <= s.len && (sub.len == 0 || memcmp(s.ptr, sub.ptr, sub.len) == 0);
        } else {
            const char *q = find(s.ptr, s.len, sub.ptr, sub.len);
            ((int32_t *)out->v.data)[i] =
                q == NULL ? 0 : (int32_t)nchars(s.ptr, (uint32_t)(q - s.ptr)) + 1;
        }
    }
    return TB_OK;
}

/* ================================================================ builders */

static tb_rc k_replace(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                       tb_err *err)
{
    sbuild sb;
    uint32_t i;
    tb_rc rc = sb_init(&sb, n, err);
    TB_UNUSED(e);
    if (rc != TB_OK)
        return rc;
    for (i = 0; i < n && rc == TB_OK; i++) {
        tb_str s, from, to;
        const char *p, *end, *q;
        sb_mark(&sb, i);
        if (!VALID(i))
            continue;
        s = STR(0, i);
        from = STR(1, i);
        to = STR(2, i);
        if (from.len == 0) {
            rc = sb_put(&sb, s.ptr, s.len, err);
            continue;
        }
        p = s.ptr;
        end = s.ptr + s.len;
        while (rc == TB_OK && (q = find(p, (uint32_t)(end - p), from.ptr, from.len)) != NULL) {
            rc = sb_put(&sb, p, (size_t)(q - p), err);
            if (rc == TB_OK)
                rc = sb_put(&sb, to.ptr, to.len, err);
            p = q + from.len;
        }
        if (rc == TB_OK)
            rc = sb_put(&sb, p, (size_t)(end - p), err);
    }
    if (rc != TB_OK) {
        sb_free(&sb);
        return rc;
    }
    return sb_finish(&sb, arena, out, err);
}

static tb_rc k_translate(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                         tb_err *err)
{
    sbuild sb;
    uint32_t i;
    tb_rc rc = sb_init(&sb, n, err);
    TB_UNUSED(e);
    if (rc != TB_OK)
        return rc;
    for (i = 0; i < n && rc == TB_OK; i++) {
        tb_str s, from, to;
        uint32_t j = 0;
        sb_mark(&sb, i);
        if (!VALID(i))
            continue;
        s = STR(0, i);
        from = STR(1, i);
        to = STR(2, i);
        while (j < s.len && rc == TB_OK) {
            uint32_t l = u8len((unsigned char)s.ptr[j]), f = 0, idx = 0;
            bool hit = false;
            if (j + l > s.len)
                l = s.len - j;
            while (f < from.len) {
                uint32_t fl = u8len((unsigned char)from.ptr[f]);
                if (fl == l && f + fl <= from.len && memcmp(from.ptr + f, s.ptr + j, l) == 0) {
                    hit = true;
                    break;
                }
                f += fl;
                idx++;
            }
            if (!hit) {
                rc = sb_put(&sb, s.ptr + j, l, err);
            } else {
                uint32_t t = char_off(to.ptr, to.len, idx);
                if (t < to.len) {
                    uint32_t tl = u8len((unsigned char)to.ptr[t]);
                    if (t + tl > to.len)
                        tl = to.len - t;
                    rc = sb_put(&sb, to.ptr + t, tl, err);
                }
            }
            j += l;
        }
    }
    if (rc != TB_OK) {
        sb_free(&sb);
        return rc;
    }
    return sb_finish(&sb, arena, out, err);
}

/* lpad (op 0) / rpad (op 1) */
static tb_rc k_pad(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                   tb_err *err)
{
    sbuild sb;
    uint32_t i;
    bool right = e->fn->op == 1;
    tb_rc rc = sb_init(&sb, n, err);
    if (rc != TB_OK)
        return rc;
    for (i = 0; i < n && rc == TB_OK; i++) {
        tb_str s, fill = {" ", 1};
        int64_t len, have;
        sb_mark(&sb, i);
        if (!VALID(i))
            continue;
        s = STR(0, i);
        len = I32(1, i);
        if (e->n_args > 2)
            fill = STR(2, i);
        if (len < 0)
            len = 0;
        if ((size_t)len * 4 > MAX_VALUE_BYTES) {
            rc = TB_ERRPOS(err, TB_E_LIMIT, e->pos, "requested length too large");
            break;
        }
        have = nchars(s.ptr, s.len);
        if (have >= len || fill.len == 0) {
            uint32_t b = char_off(s.ptr, s.len, have >= len ? len : have);
            rc = sb_put(&sb, s.ptr, b, err);
            continue;
        }
        if (right)
            rc = sb_put(&sb, s.ptr, s.len, err);
        {
            int64_t need = len - have;
            uint32_t f = 0;
            while (need > 0 && rc == TB_OK) {
                uint32_t l = u8len((unsigned char)fill.ptr[f]);
                if (f + l > fill.len)
                    l = fill.len - f;
                rc = sb_put(&sb, fill.ptr + f, l, err);
                f += l;
                if (f >= fill.len)
                    f = 0;
                need--;
            }
        }
        if (!right && rc == TB_OK)
            rc = sb_put(&sb, s.ptr, s.len, err);
    }
    if (rc != TB_OK) {
        sb_free(&sb);
        return rc;
    }
    return sb_finish(&sb, arena, out, err);
}

static tb_rc k_repeat(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                      tb_err *err)
{
    sbuild sb;
    uint32_t i;
    tb_rc rc = sb_init(&sb, n, err);
    if (rc != TB_OK)
        return rc;
    for (i = 0; i < n && rc == TB_OK; i++) {
        tb_str s;
        int64_t k, j;
        sb_mark(&sb, i);
        if (!VALID(i))
            continue;
        s = STR(0, i);
        k = I32(1, i);
        if (k <= 0 || s.len == 0)
            continue;
        if ((uint64_t)k * s.len > MAX_VALUE_BYTES) {
            rc = TB_ERRPOS(err, TB_E_LIMIT, e->pos, "requested length too large");
            break;
        }
        for (j = 0; j < k && rc == TB_OK; j++)
            rc = sb_put(&sb, s.ptr, s.len, err);
    }
    if (rc != TB_OK) {
        sb_free(&sb);
        return rc;
    }
    return sb_finish(&sb, arena, out, err);
}

/* concat (op 0) and concat_ws (op 1): non-strict, NULL arguments are skipped */
static tb_rc k_concat(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                      tb_err *err)
{
    sbuild sb;
    uint32_t i, a;
    bool ws = e->fn->op == 1;
    tb_rc rc = sb_init(&sb, n, err);
    if (rc != TB_OK)
        return rc;
    for (i = 0; i < n && rc == TB_OK; i++) {
        bool first = true;
        tb_str sep = {"", 0};
        sb_mark(&sb, i);
        if (ws) {
            if (args[0].v.type.id == TB_T_NULL || tb_vec_is_null(&args[0].v, TB_IX(&args[0], i))) {
                if (out->v.valid == NULL) {
                    out->v.valid = tb_arena_alloc(arena, tb_valid_words(n ? n : 1) * 8);
                    if (out->v.valid == NULL) {
                        rc = tb_expr_nomem(err);
                        break;
                    }
                    memset(out->v.valid, 0xff, tb_valid_words(n ? n : 1) * 8);
                }
                out->v.valid[i >> 6] &= ~((uint64_t)1 << (i & 63));
                continue;
            }
            sep = STR(0, i);
        }
        for (a = ws ? 1 : 0; a < e->n_args && rc == TB_OK; a++) {
            tb_str s;
            if (args[a].v.type.id == TB_T_NULL || tb_vec_is_null(&args[a].v, TB_IX(&args[a], i)))
                continue;
            s = STR(a, i);
            if (ws && !first)
                rc = sb_put(&sb, sep.ptr, sep.len, err);
            if (rc == TB_OK)
                rc = sb_put(&sb, s.ptr, s.len, err);
            first = false;
        }
    }
    if (rc != TB_OK) {
        sb_free(&sb);
        return rc;
    }
    return sb_finish(&sb, arena, out, err);
}

/* ================================================================ md5, ascii, chr */

typedef struct md5_ctx {
    uint32_t a, b, c, d;
} md5_ctx;

static uint32_t rol(uint32_t x, int c) { return (x << c) | (x >> (32 - c)); }

static void md5_block(md5_ctx *ctx, const unsigned char *blk)
{
    static const uint32_t K[64] = {
        0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
        0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
        0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
        0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
        0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
        0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
        0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
        0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
        0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
        0xeb86d391};
    static const int R[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                              5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                              4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                              6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};
    uint32_t m[16], a = ctx->a, b = ctx->b, c = ctx->c, d = ctx->d;
    int i;
    for (i = 0; i < 16; i++)
        m[i] = (uint32_t)blk[(size_t)i * 4] | ((uint32_t)blk[(size_t)i * 4 + 1] << 8) |
               ((uint32_t)blk[i * 4 + 2] << 16) | ((uint32_t)blk[i * 4 + 3] << 24);
    for (i = 0; i < 64; i++) {
        uint32_t f;
        int g;
        if (i < 16) {
            f = (b & c) | (~b & d);
            g = i;
        } else if (i < 32) {
            f = (d & b) | (~d & c);
            g = (5 * i + 1) % 16;
        } else if (i < 48) {
            f = b ^ c ^ d;
            g = (3 * i + 5) % 16;
        } else {
            f = c ^ (b | ~d);
            g = (7 * i) % 16;
        }
        f = f + a + K[i] + m[g];
        a = d;
        d = c;
        c = b;
        b = b + rol(f, R[i]);
    }
    ctx->a += a;
    ctx->b += b;
    ctx->c += c;
    ctx->d += d;
}

static void md5_hex(const char *p, size_t n, char *hex)
{
    md5_ctx ctx = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    unsigned char tail[128];
    size_t full = n / 64 * 64, rest = n - full, tl;
    uint64_t bits = (uint64_t)n * 8;
    size_t i;
    static const char hx[] = "0123456789abcdef";
    uint32_t w[4];

    for (i = 0; i < full; i += 64)
        md5_block(&ctx, (const unsigned char *)p + i);
    memset(tail, 0, sizeof(tail));
    if (rest)
        memcpy(tail, p + full, rest);
    tail[rest] = 0x80;
    tl = rest + 1 + 8 <= 64 ? 64 : 128;
    for (i = 0; i < 8; i++)
        tail[tl - 8 + i] = (unsigned char)(bits >> (8 * i));
    md5_block(&ctx, tail);
    if (tl == 128)
        md5_block(&ctx, tail + 64);
    w[0] = ctx.a;
    w[1] = ctx.b;
    w[2] = ctx.c;
    w[3] = ctx.d;
    for (i = 0; i < 16; i++) {
        unsigned char byte = (unsigned char)(w[i / 4] >> (8 * (i % 4)));
        hex[2 * i] = hx[byte >> 4];
        hex[2 * i + 1] = hx[byte & 15];
    }
}

static tb_rc k_md5(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                   tb_err *err)
{
    tb_str *o = out->v.data;
    char *p;
    uint32_t i;
    tb_rc rc = tb_str_ev_alloc_bytes(arena, (size_t)n * 32, &p, err);
    TB_UNUSED(e);
    if (rc != TB_OK)
        return rc;
    for (i = 0; i < n; i++) {
        tb_str s;
        if (!VALID(i)) {
            EMPTY_STR(i);
            continue;
        }
        s = STR(0, i);
        md5_hex(s.ptr, s.len, p + (size_t)i * 32);
        o[i].ptr = p + (size_t)i * 32;
        o[i].len = 32;
    }
    return TB_OK;
}

static tb_rc k_ascii(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                     tb_err *err)
{
    int32_t *o = out->v.data;
    uint32_t i;
    TB_UNUSED(e);
    TB_UNUSED(arena);
    TB_UNUSED(err);
    for (i = 0; i < n; i++) {
        tb_str s;
        const unsigned char *u;
        uint32_t l, cp;
        o[i] = 0;
        if (!VALID(i))
            continue;
        s = STR(0, i);
        if (s.len == 0)
            continue;
        u = (const unsigned char *)s.ptr;
        l = u8len(u[0]);
        if (l > s.len)
            l = 1;
        cp = l == 1 ? u[0] : l == 2 ? (u[0] & 0x1Fu) : l == 3 ? (u[0] & 0x0Fu) : (u[0] & 0x07u);
        for (uint32_t k = 1; k < l; k++)
            cp = (cp << 6) | (u[k] & 0x3Fu);
        o[i] = (int32_t)cp;
    }
    return TB_OK;
}

static tb_rc k_chr(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                   tb_err *err)
{
    tb_str *o = out->v.data;
    char *p;
    uint32_t i;
    tb_rc rc = tb_str_ev_alloc_bytes(arena, (size_t)n * 4, &p, err);
    if (rc != TB_OK)
        return rc;
    for (i = 0; i < n; i++) {
        int64_t c;
        char *q = p + (size_t)i * 4;
        if (!VALID(i)) {
            EMPTY_STR(i);
            continue;
        }
        c = I32(0, i);
        if (c == 0)
            return TB_ERRPOS(err, TB_E_RANGE, e->pos, "null character not permitted");
        if (c < 0 || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return TB_ERRPOS(err, TB_E_RANGE, e->pos,
                             "requested character too large for encoding: %lld", (long long)c);
        o[i].ptr = q;
        if (c < 0x80) {
            q[0] = (char)c;
            o[i].len = 1;
        } else if (c < 0x800) {
            q[0] = (char)(0xC0 | (c >> 6));
            q[1] = (char)(0x80 | (c & 0x3F));
            o[i].len = 2;
        } else if (c < 0x10000) {
            q[0] = (char)(0xE0 | (c >> 12));
            q[1] = (char)(0x80 | ((c >> 6) & 0x3F));
            q[2] = (char)(0x80 | (c & 0x3F));
            o[i].len = 3;
        } else {
            q[0] = (char)(0xF0 | (c >> 18));
            q[1] = (char)(0x80 | ((c >> 12) & 0x3F));
            q[2] = (char)(0x80 | ((c >> 6) & 0x3F));
            q[3] = (char)(0x80 | (c & 0x3F));
            o[i].len = 4;
        }
    }
    return TB_OK;
}

/* ================================================================ LIKE */

bool tb_like_match(const char *s, size_t n, const char *p, size_t m, bool icase)
{
    size_t si = 0, pi = 0, star_p = (size_t)-1, star_s = 0;
    while (si < n) {
        if (pi < m) {
            char c = p[pi];
            if (c == '%') {
                while (pi < m && p[pi] == '%')
                    pi++;
                if (pi == m)
                    return true;
                star_p = pi;
                star_s = si;
                continue;
            }
            if (c == '_') {
                si += u8len((unsigned char)s[si]);
                if (si > n)
                    si = n;
                pi++;
                continue;
            }
            {
                size_t plen = 1;
                char lit = c;
                if (c == '\\' && pi + 1 < m) {
                    lit = p[pi + 1];
                    plen = 2;
                }
                if (icase ? lc(s[si]) == lc(lit) : s[si] == lit) {
                    si++;
                    pi += plen;
                    continue;
                }
            }
        }
        if (star_p != (size_t)-1) {
            star_s += u8len((unsigned char)s[star_s]);
            if (star_s > n)
                return false;
            si = star_s;
            pi = star_p;
            continue;
        }
        return false;
    }
    while (pi < m && p[pi] == '%')
        pi++;
    return pi == m;
}

enum { L_GENERAL, L_EXACT, L_PREFIX, L_SUFFIX, L_CONTAINS, L_ALL };

typedef struct like_pat {
    int kind;
    const char *lit; /* unescaped literal for the fast kinds */
    uint32_t lit_len;
} like_pat;

/* Analyse a constant pattern. Returns false if it ends with the escape character. */
static bool like_compile(tb_arena *arena, const char *p, uint32_t m, bool icase, like_pat *out)
{
    char *lit = tb_arena_alloc(arena, m + 1);
    uint32_t i, k = 0, runs = 0;
    bool in_lit = false, lead = false, trail = false, any_pct = false, under = false;
    if (lit == NULL)
        return false;
    out->kind = L_GENERAL;
    for (i = 0; i < m; i++) {
        char c = p[i];
        if (c == '%') {
            if (runs == 0)
                lead = true;
            any_pct = true;
            in_lit = false;
            trail = true;
            continue;
        }
        if (c == '_') {
            under = true;
            in_lit = false;
            trail = false;
            continue;
        }
        if (c == '\\') {
            if (i + 1 >= m)
                return false;
            c = p[++i];
        }
        if (!in_lit)
            runs++;
        in_lit = true;
        trail = false;
        lit[k++] = c;
    }
    out->lit = lit;
    out->lit_len = k;
    if (under || icase || runs > 1)
        return true;
    if (!any_pct)
        out->kind = L_EXACT;
    else if (runs == 0)
        out->kind = L_ALL;
    else if (lead && trail)
        out->kind = L_CONTAINS;
    else if (lead)
        out->kind = L_SUFFIX;
    else if (trail)
        out->kind = L_PREFIX;
    return true;
}

/* op: bit 0 = negate, bit 1 = case-insensitive */
static tb_rc k_like(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                    tb_err *err)
{
    const like_pat *lp = e->state;
    uint8_t *o = out->v.data;
    bool neg = (e->fn->op & 1) != 0, icase = (e->fn->op & 2) != 0;
    const tb_str *sv = args[0].v.data;
    uint32_t i;
    TB_UNUSED(arena);
    TB_UNUSED(err);

    if (lp != NULL && lp->kind != L_GENERAL && !args[0].konst) {
        const char *L = lp->lit;
        uint32_t ll = lp->lit_len;
        for (i = 0; i < n; i++) {
            tb_str s = sv[i];
            bool r;
            if (!VALID(i)) {
                o[i] = 0;
                continue;
            }
            switch (lp->kind) {
            case L_EXACT:
                r = s.len == ll && (ll == 0 || memcmp(s.ptr, L, ll) == 0);
                break;
            case L_PREFIX:
                r = s.len >= ll && memcmp(s.ptr, L, ll) == 0;
                break;
            case L_SUFFIX:
                r = s.len >= ll && memcmp(s.ptr + s.len - ll, L, ll) == 0;
                break;
            case L_CONTAINS:
                r = find(s.ptr, s.len, L, ll) != NULL;
                break;
            default:
                r = true;
                break;
            }
            o[i] = r != neg;
        }
        return TB_OK;
    }
    for (i = 0; i < n; i++) {
        tb_str s, p;
        if (!VALID(i)) {
            o[i] = 0;
            continue;
        }
        s = STR(0, i);
        p = STR(1, i);
        o[i] = tb_like_match(s.ptr, s.len, p.ptr, p.len, icase) != neg;
    }
    return TB_OK;
}

static tb_rc r_like(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                    tb_expr **out, tb_err *err)
{
    int op = (name[0] == '!') | ((strchr(name, '*') != NULL) << 1);
    tb_rc rc;
    if (n != 2)
        return tb_op_no_overload(name, args, n, pos, err);
    if ((args[0]->type.id != TB_T_STRING && args[0]->type.id != TB_T_NULL) ||
        (args[1]->type.id != TB_T_STRING && args[1]->type.id != TB_T_NULL))
        return tb_op_no_overload(name, args, n, pos, err);
    if ((rc = arg_text(arena, name, args, n, 0, pos, err)) != TB_OK ||
        (rc = arg_text(arena, name, args, n, 1, pos, err)) != TB_OK)
        return rc;
    rc = mk(arena, name, k_like, TB_FN_STRICT | TB_FN_SAFE, op, tb_type_make(TB_T_BOOL), args, n,
            pos, out, err);
    if (rc != TB_OK)
        return rc;
    if (args[1]->kind == TB_EX_CONST && !args[1]->value.is_null) {
        like_pat *lp = tb_arena_zalloc(arena, sizeof(*lp));
        if (lp == NULL)
            return tb_expr_nomem(err);
        if (!like_compile(arena, args[1]->value.u.s.ptr, args[1]->value.u.s.len, (op & 2) != 0, lp))
            return TB_ERRPOS(err, TB_E_SQL, pos, "LIKE pattern must not end with escape character");
        (*out)->state = lp;
    }
    return TB_OK;
}

/* like_escape(pattern, escape): rewrite a pattern with a custom escape character into
 * one using '\' (LIKE ... ESCAPE 'x'). An empty escape disables escaping. */
static tb_rc k_like_escape(const tb_expr *e, tb_ev *args, uint32_t n, tb_arena *arena, tb_ev *out,
                           tb_err *err)
{
    sbuild sb;
    uint32_t i, k;
    tb_rc rc = sb_init(&sb, n, err);
    if (rc != TB_OK)
        return rc;
    for (i = 0; i < n && rc == TB_OK; i++) {
        tb_str p, esc;
        sb_mark(&sb, i);
        if (!VALID(i))
            continue;
        p = STR(0, i);
        esc = STR(1, i);
        if (esc.len > 1 || (esc.len == 1 && (unsigned char)esc.ptr[0] >= 0x80)) {
            rc = TB_ERRPOS(err, TB_E_SQL, e->pos,
                           "invalid escape string (must be empty or one character)");
            break;
        }
        for (k = 0; k < p.len && rc == TB_OK; k++) {
            char c = p.ptr[k];
            if (esc.len == 1 && c == esc.ptr[0]) {
                if (k + 1 >= p.len) {
                    rc = TB_ERRPOS(err, TB_E_SQL, e->pos,
                                   "LIKE pattern must not end with escape character");
                    break;
                }
                rc = sb_put(&sb, "\\", 1, err);
                if (rc == TB_OK)
                    rc = sb_put(&sb, &p.ptr[++k], 1, err);
            } else if (c == '\\') {
                rc = sb_put(&sb, "\\\\", 2, err);
            } else {
                rc = sb_put(&sb, &c, 1, err);
            }
        }
    }
    if (rc != TB_OK) {
        sb_free(&sb);
        return rc;
    }
    return sb_finish(&sb, arena, out, err);
}

/* ================================================================ resolvers */

static const tb_type T_TEXT = {TB_T_STRING, 0, 0};
static const tb_type T_INT = {TB_T_INT32, 0, 0};
static const tb_type T_BOOL = {TB_T_BOOL, 0, 0};

#define STRICT_SAFE (TB_FN_STRICT | TB_FN_SAFE)

static tb_rc r_length(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                      tb_expr **out, tb_err *err)
{
    int op = strcmp(name, "octet_length") == 0 ? 1 : strcmp(name, "bit_length") == 0 ? 2 : 0;
    tb_rc rc = sig(arena, name, args, n, pos, "s", 1, err);
    if (rc != TB_OK)
        return rc;
    return mk(arena, name, k_length, STRICT_SAFE, op, T_INT, args, n, pos, out, err);
}

static tb_rc r_case(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                    tb_expr **out, tb_err *err)
{
    int op = strcmp(name, "lower") == 0     ? C_LOWER
             : strcmp(name, "upper") == 0   ? C_UPPER
             : strcmp(name, "initcap") == 0 ? C_INITCAP
                                            : C_REVERSE;
    tb_rc rc = sig(arena, name, args, n, pos, "s", 1, err);
    if (rc != TB_OK)
        return rc;
    return mk(arena, name, k_case, STRICT_SAFE, op, T_TEXT, args, n, pos, out, err);
}

static tb_rc r_substr(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                      tb_expr **out, tb_err *err)
{
    tb_rc rc;
    if (n == 2 && args[1]->type.id == TB_T_STRING && strcmp(name, "substring") == 0)
        return tb_regex_substring_resolve(arena, name, args, n, pos, out, err);
    rc = sig(arena, name, args, n, pos, "sii", 2, err);
    if (rc != TB_OK)
        return rc;
    return mk(arena, name, k_substr, TB_FN_STRICT, 0, T_TEXT, args, n, pos, out, err);
}

static tb_rc r_leftright(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                         tb_expr **out, tb_err *err)
{
    tb_rc rc = sig(arena, name, args, n, pos, "si", 2, err);
    if (rc != TB_OK)
        return rc;
    return mk(arena, name, k_leftright, STRICT_SAFE, strcmp(name, "right") == 0, T_TEXT, args, n,
              pos, out, err);
}

static tb_rc r_trim(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                    tb_expr **out, tb_err *err)
{
    int op = strcmp(name, "ltrim") == 0 ? 1 : strcmp(name, "rtrim") == 0 ? 2 : 3;
    tb_rc rc = sig(arena, name, args, n, pos, "ss", 1, err);
    if (rc != TB_OK)
        return rc;
    return mk(arena, name, k_trim, STRICT_SAFE, op, T_TEXT, args, n, pos, out, err);
}

static tb_rc r_replace(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                       tb_expr **out, tb_err *err)
{
    tb_rc rc = sig(arena, name, args, n, pos, "sss", 3, err);
    if (rc != TB_OK)
        return rc;
    return mk(arena, name, strcmp(name, "translate") == 0 ? k_translate : k_replace, TB_FN_STRICT,
              0, T_TEXT, args, n, pos, out, err);
}

static tb_rc r_strpos(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                      tb_expr **out, tb_err *err)
{
    bool starts = strcmp(name, "starts_with") == 0;
    tb_rc rc = sig(arena, name, args, n, pos, "ss", 2, err);
    if (rc != TB_OK)
        return rc;
    return mk(arena, name, k_strpos, STRICT_SAFE, starts, starts ? T_BOOL : T_INT, args, n, pos,
              out, err);
}

static tb_rc r_split_part(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                          tb_expr **out, tb_err *err)
{
    tb_rc rc = sig(arena, name, args, n, pos, "ssi", 3, err);
    if (rc != TB_OK)
        return rc;
    return mk(arena, name, k_split_part, TB_FN_STRICT, 0, T_TEXT, args, n, pos, out, err);
}

static tb_rc r_pad(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                   tb_expr **out, tb_err *err)
{
    tb_rc rc = sig(arena, name, args, n, pos, "sis", 2, err);
    if (rc != TB_OK)
        return rc;
    return mk(arena, name, k_pad, TB_FN_STRICT, strcmp(name, "rpad") == 0, T_TEXT, args, n, pos,
              out, err);
}

static tb_rc r_repeat(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                      tb_expr **out, tb_err *err)
{
    tb_rc rc = sig(arena, name, args, n, pos, "si", 2, err);
    if (rc != TB_OK)
        return rc;
    return mk(arena, name, k_repeat, TB_FN_STRICT, 0, T_TEXT, args, n, pos, out, err);
}

static tb_rc r_md5(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                   tb_expr **out, tb_err *err)
{
    tb_rc rc = sig(arena, name, args, n, pos, "s", 1, err);
    if (rc != TB_OK)
        return rc;
    return mk(arena, name, k_md5, STRICT_SAFE, 0, T_TEXT, args, n, pos, out, err);
}

static tb_rc r_ascii(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                     tb_expr **out, tb_err *err)
{
    tb_rc rc = sig(arena, name, args, n, pos, "s", 1, err);
    if (rc != TB_OK)
        return rc;
    return mk(arena, name, k_ascii, STRICT_SAFE, 0, T_INT, args, n, pos, out, err);
}

static tb_rc r_chr(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                   tb_expr **out, tb_err *err)
{
    tb_rc rc = sig(arena, name, args, n, pos, "i", 1, err);
    if (rc != TB_OK)
        return rc;
    return mk(arena, name, k_chr, TB_FN_STRICT, 0, T_TEXT, args, n, pos, out, err);
}

static tb_rc r_concat(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                      tb_expr **out, tb_err *err)
{
    bool ws = strcmp(name, "concat_ws") == 0;
    uint32_t i;
    tb_rc rc;
    if (n < (ws ? 2u : 1u))
        return tb_func_no_overload(name, args, n, pos, err);
    for (i = 0; i < n; i++) {
        rc = tb_cast_build(arena, args[i], T_TEXT, TB_CAST_ASSIGNMENT, pos, &args[i], err);
        if (rc != TB_OK)
            return rc;
    }
    return mk(arena, name, k_concat, TB_FN_SAFE, ws, T_TEXT, args, n, pos, out, err);
}

static tb_rc r_like_escape(tb_arena *arena, const char *name, tb_expr **args, uint32_t n, int pos,
                           tb_expr **out, tb_err *err)
{
    tb_rc rc = sig(arena, name, args, n, pos, "ss", 2, err);
    if (rc != TB_OK)
        return rc;
    return mk(arena, name, k_like_escape, TB_FN_STRICT, 0, T_TEXT, args, n, pos, out, err);
}

const tb_fn_entry tb_func_string_table[] = {
    {"length", r_length},
    {"char_length", r_length},
    {"character_length", r_length},
    {"octet_length", r_length},
    {"bit_length", r_length},
    {"lower", r_case},
    {"upper", r_case},
    {"initcap", r_case},
    {"reverse", r_case},
    {"substr", r_substr},
    {"substring", r_substr},
    {"left", r_leftright},
    {"right", r_leftright},
    {"trim", r_trim},
    {"btrim", r_trim},
    {"ltrim", r_trim},
    {"rtrim", r_trim},
    {"replace", r_replace},
    {"translate", r_replace},
    {"strpos", r_strpos},
    {"position", r_strpos},
    {"starts_with", r_strpos},
    {"split_part", r_split_part},
    {"lpad", r_pad},
    {"rpad", r_pad},
    {"repeat", r_repeat},
    {"md5", r_md5},
    {"ascii", r_ascii},
    {"chr", r_chr},
    {"concat", r_concat},
    {"concat_ws", r_concat},
    {"like_escape", r_like_escape},
    {"~~", r_like},
    {"!~~", r_like},
    {"~~*", r_like},
    {"!~~*", r_like},
    {NULL, NULL},
};
