/*
 * jsonl.c - JSON lines reader: options, a hand-written validating scanner, schema
 * inference, and the tb_source that converts values straight into typed vectors.
 *
 * Reading is two-phase per batch, as in csv.c, so the per-byte and per-value loops stay
 * tight and no per-row indirect call is made:
 *   1. scan: each line is validated as a whole (RFC 8259 syntax, UTF-8 inside strings,
 *      nesting depth) and, for each key naming a projected column, the value's kind
 *      (null, true, number, string, object, ...) and [start, end) offsets are recorded
 *      in a row-major cell array; any fault is recorded per row. Keys are matched by a
 *      guess (the column the key at the same position matched in the previous line,
 *      since lines of one producer share a key order) and a hash table otherwise.
 *   2. convert: for each projected column, one loop over the rows turns the cells into
 *      the vector (integers, doubles, timestamps, ...), marking NULLs and bad values;
 *      then malformed rows are handled by mode.
 * No JSON tree is built and nothing is allocated per value: text values are views into
 * one arena copy of the segment; only strings with escapes are decoded separately.
 *
 * A batch is built from "segments": maximal runs of lines that are in the read buffer
 * at the same time. A segment is converted before the buffer is refilled (which moves
 * its bytes), so cell offsets (uint32, relative to the segment start) never dangle.
 *
 * Reader buffer invariants (file mode): data[pos, len) is unread input; pos is always
 * at a line start between calls; an incomplete line is moved to the front before
 * reading more; buffer size <= max_line + 2 + 2 * chunk, so memory is bounded by the
 * line limit, never by the file size. Memory mode reads the caller's buffer in place.
 */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "format/jsonl.h"
#include "format/textrec_int.h"

#define JL_MAX_DEPTH 1000   /* nesting limit (Jackson's default maxNestingDepth) */
#define JL_MAX_COLUMNS 65536u /* inference: more distinct keys is an error */
#define JL_GUESS 64           /* key positions remembered for the lookup guess */

struct tb_jsonl_opts {
    tb_tr_opts tr; /* every option of JSON lines is a common one */
};

/* ================================================================ options */

static const char KNOWN_OPTS[] = "mode, corrupt_column, schema, sample_rows, max_line_bytes";

tb_jsonl_opts *tb_jsonl_opts_new(void)
{
    tb_jsonl_opts *opts = tb_calloc(1, sizeof(*opts));

    if (opts == NULL)
        return NULL;
    tb_tr_opts_init(&opts->tr);
    return opts;
}

void tb_jsonl_opts_free(tb_jsonl_opts *opts)
{
    if (opts == NULL)
        return;
    tb_tr_opts_clear(&opts->tr);
    tb_free(opts);
}

tb_jsonl_opts *tb_jsonl_opts_copy(const tb_jsonl_opts *opts)
{
    tb_jsonl_opts *c = tb_calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    if (!tb_tr_opts_copy(&c->tr, &opts->tr)) {
        tb_jsonl_opts_free(c);
        return NULL;
    }
    return c;
}

const tb_schema *tb_jsonl_opts_schema(const tb_jsonl_opts *opts)
{
    return opts->tr.schema;
}

const tb_tr_opts *tb_jsonl_opts_common(const tb_jsonl_opts *opts)
{
    return &opts->tr;
}

void tb_jsonl_opts_set_chunk_size(tb_jsonl_opts *opts, size_t chunk_size)
{
    opts->tr.chunk = chunk_size == 0 ? TB_TR_DEFAULT_CHUNK : chunk_size;
}

tb_rc tb_jsonl_opts_set(tb_jsonl_opts *opts, const char *key, const char *value, tb_err *err)
{
    tb_rc rc;

    if (opts == NULL || key == NULL || value == NULL)
        return TB_ERRF(err, TB_E_MISUSE, "read_json: NULL option argument");
    rc = tb_tr_opts_set(&opts->tr, "read_json", key, value, err);
    if (rc == TB_E_NOTFOUND)
        return TB_ERRF(err, TB_E_NOTFOUND, "read_json: unknown option '%s' (known: %s)", key,
                       KNOWN_OPTS);
    return rc;
}

/* ================================================================ scanner */

/* Kinds of a recorded value (cells). */
enum {
    K_MISSING = 0, /* key absent (or the line is malformed JSON) */
    K_NULL,
    K_FALSE,
    K_TRUE,
    K_INT,     /* -?digits */
    K_FLOAT,   /* with a fraction or an exponent */
    K_NANINF,  /* NaN, Infinity, -Infinity */
    K_STR,     /* string without escapes: [s, e) is the content inside the quotes */
    K_STR_ESC, /* string with escapes to decode */
    K_OBJ,     /* [s, e) is the whole object text */
    K_ARR
};

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
#define HASZERO(v) (((v)-ONES) & ~(v)&HIGHS)
#define HASLESS(v, n) (((v)-ONES * (n)) & ~(v)&HIGHS)

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define JL_SWAR 1
#else
#define JL_SWAR 0
#endif

/* Where and why a line failed to scan. */
typedef struct jl_parse {
    const uint8_t *line; /* the line's first byte (positions are reported from it) */
    const uint8_t *at;
    const char *why;
} jl_parse;

static inline const uint8_t *fault(jl_parse *ps, const uint8_t *at, const char *why)
{
    ps->at = at;
    ps->why = why;
    return NULL;
}

static inline bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static inline const uint8_t *skip_ws(const uint8_t *p, const uint8_t *e)
{
    while (p < e && is_ws(*p))
        p++;
    return p;
}

static inline bool is_digit(uint8_t c)
{
    return (unsigned)c - '0' <= 9;
}

static inline int hexval(uint8_t c)
{
    if (is_digit(c))
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The 4 hex digits at p (p + 4 <= e checked by the caller), or -1. */
static inline int32_t hex4(const uint8_t *p)
{
    int a = hexval(p[0]), b = hexval(p[1]), c = hexval(p[2]), d = hexval(p[3]);
    if ((a | b | c | d) < 0)
        return -1;
    return (a << 12) | (b << 8) | (c << 4) | d;
}

/* Length of the valid UTF-8 sequence (RFC 3629: no overlongs, no surrogates, at most
 * U+10FFFF) starting with the non-ASCII byte at p, or 0. */
static inline size_t utf8_seq(const uint8_t *p, const uint8_t *e)
{
    uint8_t c = p[0];
    size_t n = (size_t)(e - p);

    if (c >= 0xC2 && c <= 0xDF)
        return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0))
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))
            return 0;
        return 4;
    }
    return 0;
}

/*
 * A string's content: p is just after the opening quote. Returns the closing quote, or
 * NULL (fault: unterminated, control character, NUL, bad escape, invalid UTF-8).
 * *esc is set when the content holds escapes.
 */
static const uint8_t *scan_str(jl_parse *ps, const uint8_t *p, const uint8_t *e, bool *esc)
{
    for (;;) {
        uint8_t c;
#if JL_SWAR
        while (e - p >= 8) {
            uint64_t v, m;
            memcpy(&v, p, 8);
            m = HASZERO(v ^ (ONES * '"')) | HASZERO(v ^ (ONES * '\\')) | HASLESS(v, 0x20) |
                (v & HIGHS);
            if (m != 0) {
                p += __builtin_ctzll(m) >> 3;
                break;
            }
            p += 8;
        }
#endif
        while (p < e && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        if (p == e)
            return fault(ps, p, "unterminated string");
        c = *p;
        if (c == '"')
            return p;
        if (c == '\\') {
            *esc = true;
            if (p + 1 == e)
                return fault(ps, p, "unterminated string");
            switch (p[1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                p += 2;
                continue;
            case 'u': {
                int32_t u;
                if (e - p < 6 || (u = hex4(p + 2)) < 0)
                    return fault(ps, p, "invalid \\u escape (4 hex digits expected)");
                if (u >= 0xDC00 && u <= 0xDFFF)
                    return fault(ps, p, "invalid \\u escape (a lone low surrogate)");
                if (u >= 0xD800 && u <= 0xDBFF) {
                    int32_t lo;
                    if (e - p < 12 || p[6] != '\\' || p[7] != 'u' || (lo = hex4(p + 8)) < 0 ||
                        lo < 0xDC00 || lo > 0xDFFF)
                        return fault(ps, p, "invalid \\u escape (a high surrogate without "
                                            "its low surrogate)");
                    p += 12;
                } else {
                    p += 6;
                }
                continue;
            }
            default:
                return fault(ps, p, "invalid escape in a string");
            }
        }
        if (c < 0x20)
            return fault(ps, p,
                         c == 0 ? "NUL byte" : "control character in a string (must be escaped)");
        {
            size_t n = utf8_seq(p, e);
            if (n == 0)
                return fault(ps, p, "invalid UTF-8");
            p += n;
        }
    }
}

static inline bool lit(const uint8_t *p, const uint8_t *e, const char *word, size_t n)
{
    return (size_t)(e - p) >= n && memcmp(p, word, n) == 0;
}

/* A number at p ('-' or a digit): returns its end and kind (K_INT, K_FLOAT, K_NANINF
 * for -Infinity), or NULL. What follows is checked by the caller. */
static const uint8_t *scan_num(jl_parse *ps, const uint8_t *p, const uint8_t *e, uint8_t *kind)
{
    const uint8_t *s = p;

    *kind = K_INT;
    if (*p == '-') {
        p++;
        if (lit(p, e, "Infinity", 8)) {
            *kind = K_NANINF;
            return p + 8;
        }
    }
    if (p == e || !is_digit(*p))
        return fault(ps, s, "invalid number");
    if (*p == '0') {
        p++;
        if (p < e && is_digit(*p))
            return fault(ps, s, "invalid number (leading zero)");
    } else {
        while (p < e && is_digit(*p))
            p++;
    }
    if (p < e && *p == '.') {
        p++;
        if (p == e || !is_digit(*p))
            return fault(ps, s, "invalid number (digits expected after '.')");
        while (p < e && is_digit(*p))
            p++;
        *kind = K_FLOAT;
    }
    if (p < e && (*p | 0x20) == 'e') {
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        if (p == e || !is_digit(*p))
            return fault(ps, s, "invalid number (digits expected in the exponent)");
        while (p < e && is_digit(*p))
            p++;
        *kind = K_FLOAT;
    }
    return p;
}

/* A scalar at p (p < e, not '{' or '['): its end, kind and, for strings, the content
 * range [*cs, *ce). NULL on a fault. */
static inline const uint8_t *scan_scalar(jl_parse *ps, const uint8_t *p, const uint8_t *e,
                                         uint8_t *kind, const uint8_t **cs, const uint8_t **ce)
{
    *cs = p;
    switch (*p) {
    case '"': {
        bool esc = false;
        const uint8_t *q = scan_str(ps, p + 1, e, &esc);
        if (q == NULL)
            return NULL;
        *kind = esc ? K_STR_ESC : K_STR;
        *cs = p + 1;
        *ce = q;
        return q + 1;
    }
    case 't':
        if (!lit(p, e, "true", 4))
            break;
        *kind = K_TRUE;
        *ce = p + 4;
        return p + 4;
    case 'f':
        if (!lit(p, e, "false", 5))
            break;
        *kind = K_FALSE;
        *ce = p + 5;
        return p + 5;
    case 'n':
        if (!lit(p, e, "null", 4))
            break;
        *kind = K_NULL;
        *ce = p + 4;
        return p + 4;
    case 'N':
        if (!lit(p, e, "NaN", 3))
            break;
        *kind = K_NANINF;
        *ce = p + 3;
        return p + 3;
    case 'I':
        if (!lit(p, e, "Infinity", 8))
            break;
        *kind = K_NANINF;
        *ce = p + 8;
        return p + 8;
    default:
        if (*p == '-' || is_digit(*p)) {
            const uint8_t *q = scan_num(ps, p, e, kind);
            *ce = q;
            return q;
        }
        break;
    }
    if (*p == 0)
        return fault(ps, p, "NUL byte");
    if (*p >= 0x80 && utf8_seq(p, e) == 0)
        return fault(ps, p, "invalid UTF-8");
    return fault(ps, p, "unexpected character");
}

/*
 * An object or array at p ('{' or '['), nested `depth` levels deep already: returns the
 * byte after its end, or NULL. Iterative (an explicit stack of open brackets), so deep
 * input cannot exhaust the C stack. States: S_FIRST just after an opening bracket,
 * S_NEXT after a comma, S_AFTER after a value.
 */
static const uint8_t *skip_nested(jl_parse *ps, const uint8_t *p, const uint8_t *e, int depth)
{
    enum { S_FIRST, S_NEXT, S_AFTER } state = S_FIRST;
    uint8_t stack[JL_MAX_DEPTH];
    int n = 0;

    if (depth >= JL_MAX_DEPTH)
        return fault(ps, p, "nesting deeper than 1000");
    stack[n++] = *p++;
    for (;;) {
        uint8_t top = stack[n - 1], close = top == '{' ? '}' : ']';

        p = skip_ws(p, e);
        if (p == e)
            return fault(ps, p, top == '{' ? "unterminated object" : "unterminated array");
        if (state == S_AFTER) {
            if (*p == ',') {
                p++;
                state = S_NEXT;
                continue;
            }
            if (*p == close) {
                p++;
                if (--n == 0)
                    return p;
                continue; /* after the container: a value of its parent */
            }
            return fault(ps, p, top == '{' ? "expected ',' or '}' after a value"
                                           : "expected ',' or ']' after a value");
        }
        if (state == S_FIRST && *p == close) {
            p++;
            if (--n == 0)
                return p;
            state = S_AFTER;
            continue;
        }
        if (top == '{') {
            bool esc = false;
            if (*p != '"')
                return fault(ps, p, "expected a key (a string)");
            p = scan_str(ps, p + 1, e, &esc);
            if (p == NULL)
                return NULL;
            p = skip_ws(p + 1, e);
            if (p == e || *p != ':')
                return fault(ps, p, "expected ':' after a key");
            p = skip_ws(p + 1, e);
            if (p == e)
                return fault(ps, p, "expected a value");
        }
        if (*p == '{' || *p == '[') {
            if (depth + n >= JL_MAX_DEPTH)
                return fault(ps, p, "nesting deeper than 1000");
            stack[n++] = *p++;
            state = S_FIRST;
            continue;
        }
        {
            uint8_t k;
            const uint8_t *cs, *ce;
            p = scan_scalar(ps, p, e, &k, &cs, &ce);
            if (p == NULL)
                return NULL;
        }
        state = S_AFTER;
    }
}

/* Any value at p (p < e): its end, kind and content range. */
static inline const uint8_t *scan_value(jl_parse *ps, const uint8_t *p, const uint8_t *e,
                                        int depth, uint8_t *kind, const uint8_t **cs,
                                        const uint8_t **ce)
{
    if (*p == '{' || *p == '[') {
        const uint8_t *q;
        *kind = *p == '{' ? K_OBJ : K_ARR;
        *cs = p;
        q = skip_nested(ps, p, e, depth);
        *ce = q;
        return q;
    }
    return scan_scalar(ps, p, e, kind, cs, ce);
}

/* The kind of a top-level value that is not an object, for the message. */
static const char *not_object(const uint8_t *p, const uint8_t *e)
{
    switch (*p) {
    case '[':
        return "expected a JSON object, found an array";
    case '"':
        return "expected a JSON object, found a string";
    case 't':
    case 'f':
        return lit(p, e, "true", 4) || lit(p, e, "false", 5)
                   ? "expected a JSON object, found a boolean"
                   : "unexpected character";
    case 'n':
        return lit(p, e, "null", 4) ? "expected a JSON object, found null"
                                    : "unexpected character";
    default:
        if (*p == '-' || is_digit(*p) || *p == 'N' || *p == 'I')
            return "expected a JSON object, found a number";
        if (*p == 0)
            return "NUL byte";
        if (*p >= 0x80 && utf8_seq(p, e) == 0)
            return "invalid UTF-8";
        return "unexpected character";
    }
}

/* ================================================================ key lookup */

/* The columns a source matches keys against (data columns of the table, i.e. all but
 * the corrupt column): exact byte comparison of names. */
typedef struct jl_keys {
    uint32_t n;
    const char **name; /* borrowed from the table schema */
    uint32_t *len;
    int *slot; /* cell slot of the column, -1 when the query does not read it */
    int32_t *ht;
    uint32_t mask;
    int32_t guess[JL_GUESS]; /* key position in a line -> name index (-1 none) */
    /* A key matching no column is compared case-insensitively with the names (a few
     * hundred times at most), so that a column declared unquoted (lower case) for a
     * camelCase key can be reported once: ci_col is that column, ci_key the key. */
    uint32_t ci_budget;
    int ci_col;
    char ci_key[64];
} jl_keys;

/* a[0, n) == b[0, n): a loop for the short names of columns (a libc call costs more). */
static inline bool same_bytes(const char *a, const uint8_t *b, size_t n)
{
    size_t i;

    if (n > 24)
        return memcmp(a, b, n) == 0;
    for (i = 0; i < n; i++) {
        if ((uint8_t)a[i] != b[i])
            return false;
    }
    return true;
}

static uint32_t key_hash(const uint8_t *p, size_t n)
{
    return (uint32_t)tb_hash_bytes(p, n, 0x6a736f6eULL);
}

static void keys_free(jl_keys *k)
{
    tb_free(k->name);
    tb_free(k->len);
    tb_free(k->slot);
    tb_free(k->ht);
    memset(k, 0, sizeof(*k));
}

/* Index of the name equal to [p, p + n), or -1. */
static int keys_find(const jl_keys *k, const uint8_t *p, size_t n)
{
    uint32_t h;

    if (k->n == 0)
        return -1;
    for (h = key_hash(p, n) & k->mask;; h = (h + 1) & k->mask) {
        int32_t i = k->ht[h];
        if (i < 0)
            return -1;
        if (k->len[i] == n && same_bytes(k->name[i], p, n))
            return i;
    }
}

static tb_rc keys_build(jl_keys *k, uint32_t n, tb_err *err)
{
    uint32_t size = 4, i;

    while (size < 2 * n + 2)
        size *= 2;
    k->n = n;
    k->name = tb_calloc(n + 1, sizeof(char *));
    k->len = tb_calloc(n + 1, sizeof(uint32_t));
    k->slot = tb_calloc(n + 1, sizeof(int));
    k->ht = tb_malloc(size * sizeof(int32_t));
    if (k->name == NULL || k->len == NULL || k->slot == NULL || k->ht == NULL)
        return tb_err_nomem(err);
    for (i = 0; i < size; i++)
        k->ht[i] = -1;
    k->mask = size - 1;
    for (i = 0; i < JL_GUESS; i++)
        k->guess[i] = -1;
    k->ci_budget = 256;
    k->ci_col = -1;
    return TB_OK;
}

/* Insert name i (name and len set); a duplicate name keeps the first. */
static void keys_insert(jl_keys *k, uint32_t i)
{
    uint32_t h;

    for (h = key_hash((const uint8_t *)k->name[i], k->len[i]) & k->mask;; h = (h + 1) & k->mask) {
        int32_t j = k->ht[h];
        if (j < 0) {
            k->ht[h] = (int32_t)i;
            return;
        }
        if (k->len[j] == k->len[i] && memcmp(k->name[j], k->name[i], k->len[i]) == 0)
            return;
    }
}

/* See jl_keys.ci_budget: a key [p, p + n) matching no name exactly. */
static void case_hint(jl_keys *k, const uint8_t *p, size_t n)
{
    uint32_t i;

    k->ci_budget--;
    for (i = 0; i < k->n; i++) {
        if (k->len[i] == n && strncasecmp(k->name[i], (const char *)p, n) == 0) {
            k->ci_col = (int)i;
            (void)snprintf(k->ci_key, sizeof(k->ci_key), "%.*s", (int)TB_MIN(n, (size_t)60),
                           (const char *)p);
            k->ci_budget = 0;
            return;
        }
    }
}

/* Decode a JSON string's content [p, e) (validated by scan_str) into dst (room for e - p
 * bytes). Returns the decoded length; *has_nul when a \u0000 was decoded. */
static size_t unescape(const uint8_t *p, const uint8_t *e, char *dst, bool *has_nul)
{
    char *o = dst;

    while (p < e) {
        uint8_t c = *p;
        uint32_t u;
        if (c != '\\') {
            *o++ = (char)c;
            p++;
            continue;
        }
        c = p[1];
        p += 2;
        switch (c) {
        case 'b':
            *o++ = '\b';
            continue;
        case 'f':
            *o++ = '\f';
            continue;
        case 'n':
            *o++ = '\n';
            continue;
        case 'r':
            *o++ = '\r';
            continue;
        case 't':
            *o++ = '\t';
            continue;
        case 'u':
            break;
        default: /* '"', '\\', '/' */
            *o++ = (char)c;
            continue;
        }
        u = (uint32_t)hex4(p);
        p += 4;
        if (u >= 0xD800 && u <= 0xDBFF) {
            uint32_t lo = (uint32_t)hex4(p + 2);
            p += 6;
            u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (u == 0)
            *has_nul = true;
        if (u < 0x80) {
            *o++ = (char)u;
        } else if (u < 0x800) {
            *o++ = (char)(0xC0 | (u >> 6));
            *o++ = (char)(0x80 | (u & 0x3F));
        } else if (u < 0x10000) {
            *o++ = (char)(0xE0 | (u >> 12));
            *o++ = (char)(0x80 | ((u >> 6) & 0x3F));
            *o++ = (char)(0x80 | (u & 0x3F));
        } else {
            *o++ = (char)(0xF0 | (u >> 18));
            *o++ = (char)(0x80 | ((u >> 12) & 0x3F));
            *o++ = (char)(0x80 | ((u >> 6) & 0x3F));
            *o++ = (char)(0x80 | (u & 0x3F));
        }
    }
    return (size_t)(o - dst);
}

/* ================================================================ line parser */

enum { LINE_OK, LINE_BLANK, LINE_BAD };

/* Inference hook: called per key of a line (see infer_key). */
typedef struct infer_st infer_st;
static tb_rc infer_key(infer_st *inf, const uint8_t *kp, const uint8_t *ke, bool kesc,
                       uint8_t kind, const uint8_t *cs, const uint8_t *ce, tb_err *err);

/*
 * Scan one line [p, e) (no LF). Reading (keys != NULL): the cells of the projected
 * columns are written (kind, start/end relative to base; the caller zeroed the kinds);
 * inference (inf != NULL): every key goes to infer_key. Returns LINE_OK, LINE_BLANK, or
 * LINE_BAD with ps->why/at set (cells then partly written: the caller clears them).
 * *rc is set on an inference error (OOM, limits), with LINE_BAD.
 */
static int parse_line(jl_keys *keys, const uint8_t *base, uint32_t *cs, uint32_t *ce,
                      uint8_t *ck, tb_buf *tmp, infer_st *inf, const uint8_t *p,
                      const uint8_t *e, jl_parse *ps, tb_rc *rc, tb_err *err)
{
    uint32_t pos = 0; /* key position, for the guess */

    ps->line = p;
    p = skip_ws(p, e);
    if (p == e)
        return LINE_BLANK;
    if (*p != '{') {
        fault(ps, p, not_object(p, e));
        return LINE_BAD;
    }
    p = skip_ws(p + 1, e);
    if (p < e && *p == '}') {
        p++;
        goto end;
    }
    for (;;) {
        const uint8_t *kp, *ke, *vs, *ve;
        bool kesc = false;
        uint8_t kind;
        int idx = -1;

        if (p == e) {
            fault(ps, p, "unterminated object");
            return LINE_BAD;
        }
        if (*p != '"') {
            fault(ps, p, "expected a key (a string)");
            return LINE_BAD;
        }
        kp = p + 1;
        ke = scan_str(ps, kp, e, &kesc);
        if (ke == NULL)
            return LINE_BAD;
        p = skip_ws(ke + 1, e);
        if (p == e || *p != ':') {
            fault(ps, p, "expected ':' after a key");
            return LINE_BAD;
        }
        p = skip_ws(p + 1, e);
        if (p == e) {
            fault(ps, p, "expected a value");
            return LINE_BAD;
        }
        p = scan_value(ps, p, e, 1, &kind, &vs, &ve);
        if (p == NULL)
            return LINE_BAD;
        if (inf != NULL) {
            *rc = infer_key(inf, kp, ke, kesc, kind, vs, ve, err);
            if (*rc != TB_OK)
                return LINE_BAD;
        } else if (keys != NULL) {
            size_t kn = (size_t)(ke - kp);
            const uint8_t *name = kp;
            if (TB_UNLIKELY(kesc)) {
                bool nul = false;
                tmp->len = 0;
                if (tb_buf_reserve(tmp, kn + 1) != TB_OK) {
                    *rc = tb_err_nomem(err);
                    fault(ps, kp, "out of memory");
                    return LINE_BAD;
                }
                kn = unescape(kp, ke, tmp->data, &nul);
                name = (const uint8_t *)tmp->data;
            }
            if (pos < JL_GUESS) {
                int g = keys->guess[pos];
                if (g >= 0 && keys->len[g] == kn && same_bytes(keys->name[g], name, kn)) {
                    idx = g;
                } else {
                    idx = keys_find(keys, name, kn);
                    keys->guess[pos] = idx;
                }
            } else {
                idx = keys_find(keys, name, kn);
            }
            if (TB_UNLIKELY(idx < 0 && keys->ci_budget > 0))
                case_hint(keys, name, kn);
            if (idx >= 0 && keys->slot[idx] >= 0) {
                int sl = keys->slot[idx];
                ck[sl] = kind;
                cs[sl] = (uint32_t)(vs - base);
                ce[sl] = (uint32_t)(ve - base);
            }
        }
        pos++;
        p = skip_ws(p, e);
        if (p < e && *p == ',') {
            p = skip_ws(p + 1, e);
            continue;
        }
        if (p < e && *p == '}') {
            p++;
            break;
        }
        fault(ps, p, p == e ? "unterminated object" : "expected ',' or '}' after a value");
        return LINE_BAD;
    }
end:
    p = skip_ws(p, e);
    if (p != e) {
        fault(ps, p, "unexpected data after the object");
        return LINE_BAD;
    }
    return LINE_OK;
}

/* ================================================================ reader */

typedef tb_bufrd jl_rd;

/* Skip the BOM of a freshly opened input. */
static tb_rc rd_prologue(jl_rd *rd, tb_err *err)
{
    while (!rd->eof && rd->len - rd->pos < 3) {
        tb_rc rc = tb_bufrd_fill(rd, err);
        if (rc != TB_OK)
            return rc;
    }
    if (rd->len - rd->pos >= 3 && memcmp(rd->data + rd->pos, "\xEF\xBB\xBF", 3) == 0)
        rd->pos += 3;
    return TB_OK;
}

enum { LN_OK, LN_MORE, LN_EOF, LN_LONG };

/* The line at data[pos]: [*ls, *le) without its LF and a CR before it, *next after the
 * LF. LN_MORE: read more first; LN_LONG: longer than max_line. */
static inline int rd_line(const jl_rd *rd, const uint8_t **ls, const uint8_t **le,
                          size_t *next)
{
    const uint8_t *p = rd->data + rd->pos, *end = rd->data + rd->len, *nl, *q;

    if (p == end)
        return rd->eof ? LN_EOF : LN_MORE;
    nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL) {
        if (!rd->eof)
            return LN_MORE;
        q = end;
        *next = rd->len;
    } else {
        q = nl;
        *next = (size_t)(nl + 1 - rd->data);
    }
    if (q > p && q[-1] == '\r')
        q--;
    *ls = p;
    *le = q;
    return (size_t)(q - p) > rd->max_line ? LN_LONG : LN_OK;
}

/* ================================================================ number parsing */

typedef enum pv { PV_OK = 0, PV_TYPE, PV_INVALID, PV_RANGE, PV_NOMEM } pv;

/* A validated JSON integer (-?digits) into [lo, hi]. */
static inline pv parse_int(const uint8_t *p, const uint8_t *e, int64_t lo, int64_t hi,
                           int64_t *out)
{
    bool neg = *p == '-';
    uint64_t acc = 0, limit;

    p += neg;
    if (e - p > 19)
        return PV_RANGE;
    for (; p < e; p++) {
        unsigned d = (unsigned)*p - '0';
        if (acc > (UINT64_MAX - d) / 10)
            return PV_RANGE;
        acc = acc * 10 + d;
    }
    limit = neg ? (uint64_t)(-(lo + 1)) + 1 : (uint64_t)hi;
    if (acc > limit)
        return PV_RANGE;
    *out = neg ? (acc == 0 ? 0 : -(int64_t)(acc - 1) - 1) : (int64_t)acc;
    return PV_OK;
}

static const double P10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                             1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                             1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* NUL-terminated copy of [p, e) in tmp. */
static const char *cstr_of(tb_buf *tmp, const uint8_t *p, const uint8_t *e)
{
    tmp->len = 0;
    if (tb_buf_append(tmp, p, (size_t)(e - p)) != TB_OK)
        return NULL;
    return tb_buf_cstr(tmp);
}

/*
 * A validated JSON number (K_INT or K_FLOAT) as a double, exactly strtod's result:
 * Clinger's fast path when the mantissa (<= 2^53) and the power of ten (|k| <= 22) are
 * both exact doubles, strtod otherwise. Overflow to infinity is PV_RANGE.
 */
static pv parse_f64(tb_buf *tmp, const uint8_t *p, const uint8_t *e, double *out)
{
#if FLT_EVAL_METHOD == 0
    const uint8_t *q = p;
    bool neg = *q == '-';
    uint64_t m = 0;
    unsigned nd = 0;
    int ex = 0;

    q += neg;
    for (; q < e && is_digit(*q); q++) {
        if (m == 0 && *q == '0')
            continue;
        m = m * 10 + (unsigned)(*q - '0');
        if (++nd > 19)
            goto slow;
    }
    if (q < e && *q == '.') {
        for (q++; q < e && is_digit(*q); q++) {
            ex--;
            if (m == 0 && *q == '0')
                continue;
            m = m * 10 + (unsigned)(*q - '0');
            if (++nd > 19)
                goto slow;
        }
    }
    if (q == e && m <= ((uint64_t)1 << 53) && ex >= -22) {
        double d = (double)m;
        d = d / P10[-ex];
        *out = neg ? -d : d;
        return PV_OK;
    }
slow:
#endif
    {
        const char *s = cstr_of(tmp, p, e);
        double v;
        if (s == NULL)
            return PV_NOMEM;
        errno = 0;
        v = strtod(s, NULL);
        if (errno == ERANGE && isinf(v))
            return PV_RANGE;
        *out = v;
        return PV_OK;
    }
}

/* NaN / Infinity spellings (bare tokens, or strings for a double column, as Spark). */
static bool special_f64(const uint8_t *p, size_t n, double *out)
{
    static const struct {
        const char *s;
        int v; /* 0 NaN, 1 +inf, -1 -inf */
    } words[] = {{"NaN", 0},   {"+NaN", 0},         {"-NaN", 0},       {"Infinity", 1},
                 {"+Infinity", 1}, {"Inf", 1},      {"+Inf", 1},       {"-Infinity", -1},
                 {"-Inf", -1}};
    size_t i;

    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strlen(words[i].s) == n && memcmp(words[i].s, p, n) == 0) {
            *out = words[i].v == 0 ? NAN : words[i].v > 0 ? INFINITY : -INFINITY;
            return true;
        }
    }
    return false;
}

/*
 * A decimal number [+-]digits[.digits][(e|E)[+-]digits] (at least one digit; also a
 * JSON number) as numeric(precision, scale): rounded half away from zero to `scale`
 * digits, at most `precision` digits. PV_INVALID for another syntax, PV_RANGE when too
 * large. Exact for any input length (digits beyond what the result keeps only round).
 */
static pv parse_decimal(const uint8_t *p, const uint8_t *e, tb_type t, tb_i128 *out)
{
    const uint8_t *q = p, *ip, *fp = p;
    bool neg = false;
    size_t nint, nfrac = 0, nd, i0, nsig, j;
    int64_t ex = 0, k;
    tb_i128 v = 0;
    int prec = t.precision > 0 && t.precision <= 38 ? t.precision : 38;

    if (q < e && (*q == '+' || *q == '-')) {
        neg = *q == '-';
        q++;
    }
    ip = q;
    while (q < e && is_digit(*q))
        q++;
    nint = (size_t)(q - ip);
    if (q < e && *q == '.') {
        fp = ++q;
        while (q < e && is_digit(*q))
            q++;
        nfrac = (size_t)(q - fp);
    }
    if (nint + nfrac == 0)
        return PV_INVALID;
    if (q < e && (*q | 0x20) == 'e') {
        bool eneg = false;
        q++;
        if (q < e && (*q == '+' || *q == '-')) {
            eneg = *q == '-';
            q++;
        }
        if (q == e)
            return PV_INVALID;
        for (; q < e; q++) {
            if (!is_digit(*q))
                return PV_INVALID;
            if (ex < 100000000)
                ex = ex * 10 + (*q - '0');
        }
        if (eneg)
            ex = -ex;
    }
    if (q != e)
        return PV_INVALID;
#define DIG(j) ((j) < nint ? ip[(j)] - '0' : fp[(j)-nint] - '0')
    /* The digits D (integer then fraction part) from the first non-zero one: the value
     * is D * 10^(ex - nfrac); scaled by 10^scale its integer part has k digits (the
     * first k of D, zero padded), and digit k rounds. */
    nd = nint + nfrac;
    for (i0 = 0; i0 < nd && DIG(i0) == 0; i0++)
        ;
    if (i0 == nd) {
        *out = 0;
        return PV_OK;
    }
    nsig = nd - i0;
    k = (int64_t)nsig + ex - (int64_t)nfrac + t.scale;
    if (k > prec)
        return PV_RANGE;
    for (j = 0; (int64_t)j < k; j++)
        v = v * 10 + (j < nsig ? DIG(i0 + j) : 0);
    if (k >= 0 && (size_t)k < nsig && DIG(i0 + (size_t)k) >= 5)
        v++;
#undef DIG
    if (v >= tb_i128_pow10(prec))
        return PV_RANGE;
    *out = neg ? -v : v;
    return PV_OK;
}

/* ================================================================ source */

#define BAD_SYNTAX 1 /* the line is not a valid JSON object: every column NULL */
#define BAD_VALUE 2  /* a read column's value could not be converted */

typedef struct jl_src {
    tb_trd t; /* the text-record core: inputs, rows, modes (textrec_int.h) */
    tb_jsonl_opts *opts;
    tb_schema *tschema; /* table schema */
    int *proj;
    int corrupt;      /* table index of the corrupt column, or -1 */
    jl_keys keys;     /* over the table's data columns */
    uint32_t n_slots; /* projected data columns (cells per row) */
    int *out_slot;    /* output column -> its slot, -1 for the corrupt column */
    int *slot_out;    /* slot -> output column, -1 for a column only checked (below) */
    int *slot_field;  /* slot -> table column */
    /* per-batch scratch: rows_cap rows, n_slots cells each (row-major) */
    uint32_t *cs, *ce;
    uint8_t *ck;
    uint32_t *rpos;    /* BAD_SYNTAX: 0-based byte of the line */
    const char **rwhy; /* BAD_SYNTAX: what */
    int32_t *rbadslot; /* BAD_VALUE: the first bad column's slot */
    tb_buf tmp;
} jl_src;

/* Append a value to a message: truncated, non-printables as \xNN. */
static void show_raw(tb_buf *b, const uint8_t *p, size_t n)
{
    tb_tr_show(b, p, n);
}

static const char *kind_name(uint8_t k)
{
    switch (k) {
    case K_FALSE:
    case K_TRUE:
        return "boolean";
    case K_INT:
    case K_FLOAT:
    case K_NANINF:
        return "number";
    case K_STR:
    case K_STR_ESC:
        return "string";
    case K_OBJ:
        return "object";
    case K_ARR:
        return "array";
    default:
        return "null";
    }
}

/* A string cell's decoded content (views into base or tmp), false on OOM; *nul when it
 * holds a NUL. */
static bool str_content(const uint8_t *base, uint32_t s0, uint32_t e0, uint8_t kind,
                        tb_buf *tmp, const uint8_t **p, const uint8_t **e, bool *nul)
{
    size_t n;

    *p = base + s0;
    *e = base + e0;
    *nul = false;
    if (kind != K_STR_ESC)
        return true;
    tmp->len = 0;
    if (tb_buf_reserve(tmp, (size_t)(*e - *p) + 1) != TB_OK)
        return false;
    n = unescape(*p, *e, tmp->data, nul);
    *p = (const uint8_t *)tmp->data;
    *e = *p + n;
    return true;
}

/*
 * Convert one non-NULL, non-text cell (kind k, bytes [p, e) of base: a string's
 * content, a number's text) to type t into dst. The slow, general path (the column
 * loops inline the common cases).
 */
static pv conv_cell(tb_buf *tmp, tb_type t, uint8_t k, const uint8_t *p, const uint8_t *e,
                    void *dst)
{
    int64_t i64 = 0;
    pv r;
    bool nul = false;

    if (k == K_STR_ESC) {
        size_t n;
        tmp->len = 0;
        if (tb_buf_reserve(tmp, (size_t)(e - p) + 1) != TB_OK)
            return PV_NOMEM;
        n = unescape(p, e, tmp->data, &nul);
        p = (const uint8_t *)tmp->data;
        e = p + n;
        k = K_STR;
        if (nul)
            return PV_INVALID;
    }
    switch ((tb_type_id)t.id) {
    case TB_T_BOOL:
        if (k != K_TRUE && k != K_FALSE)
            return PV_TYPE;
        *(uint8_t *)dst = k == K_TRUE;
        return PV_OK;
    case TB_T_INT16:
    case TB_T_INT32:
    case TB_T_INT64: {
        int64_t lo = t.id == TB_T_INT16 ? INT16_MIN : t.id == TB_T_INT32 ? INT32_MIN : INT64_MIN;
        int64_t hi = t.id == TB_T_INT16 ? INT16_MAX : t.id == TB_T_INT32 ? INT32_MAX : INT64_MAX;
        if (k != K_INT)
            return PV_TYPE;
        r = parse_int(p, e, lo, hi, &i64);
        if (r != PV_OK)
            return r;
        if (t.id == TB_T_INT16)
            *(int16_t *)dst = (int16_t)i64;
        else if (t.id == TB_T_INT32)
            *(int32_t *)dst = (int32_t)i64;
        else
            *(int64_t *)dst = i64;
        return PV_OK;
    }
    case TB_T_FLOAT:
    case TB_T_DOUBLE: {
        double d;
        if (k == K_INT || k == K_FLOAT) {
            if (t.id == TB_T_FLOAT) { /* strtof: no double rounding */
                const char *c = cstr_of(tmp, p, e);
                float f;
                if (c == NULL)
                    return PV_NOMEM;
                errno = 0;
                f = strtof(c, NULL);
                if (errno == ERANGE && isinf(f))
                    return PV_RANGE;
                *(float *)dst = f;
                return PV_OK;
            }
            r = parse_f64(tmp, p, e, &d);
            if (r != PV_OK)
                return r;
        } else if (k == K_NANINF || k == K_STR) {
            if (!special_f64(p, (size_t)(e - p), &d))
                return k == K_STR ? PV_INVALID : PV_TYPE;
        } else {
            return PV_TYPE;
        }
        if (t.id == TB_T_FLOAT) {
            *(float *)dst = (float)d; /* NaN or an infinity */
        } else {
            *(double *)dst = d;
        }
        return PV_OK;
    }
    case TB_T_DECIMAL:
        if (k != K_INT && k != K_FLOAT && k != K_STR)
            return PV_TYPE;
        r = parse_decimal(p, e, t, (tb_i128 *)dst);
        return r;
    case TB_T_DATE:
        if (k != K_STR)
            return PV_TYPE;
        return tb_parse_date((const char *)p, (size_t)(e - p), (int32_t *)dst) ? PV_OK
                                                                               : PV_INVALID;
    case TB_T_TIMESTAMP:
        if (k == K_INT) {
            r = parse_int(p, e, INT64_MIN / TB_USEC_PER_SEC, INT64_MAX / TB_USEC_PER_SEC, &i64);
            if (r != PV_OK)
                return r;
            *(int64_t *)dst = i64 * TB_USEC_PER_SEC;
            return PV_OK;
        }
        if (k != K_STR)
            return PV_TYPE;
        return tb_parse_timestamp((const char *)p, (size_t)(e - p), (int64_t *)dst)
                   ? PV_OK
                   : PV_INVALID;
    case TB_T_INTERVAL:
        if (k != K_STR)
            return PV_TYPE;
        return tb_parse_interval((const char *)p, (size_t)(e - p), (tb_interval *)dst)
                   ? PV_OK
                   : PV_INVALID;
    default:
        return PV_TYPE;
    }
}

/* What a column of type t takes, for messages. */
static const char *expects(tb_type t)
{
    switch ((tb_type_id)t.id) {
    case TB_T_BOOL:
        return "true or false";
    case TB_T_INT16:
    case TB_T_INT32:
    case TB_T_INT64:
        return "an integer number";
    case TB_T_FLOAT:
    case TB_T_DOUBLE:
        return "a number";
    case TB_T_DECIMAL:
        return "a number or a numeric string";
    case TB_T_DATE:
        return "a date string";
    case TB_T_TIMESTAMP:
        return "a timestamp string or a number of seconds";
    case TB_T_INTERVAL:
        return "an interval string";
    default:
        return "a string";
    }
}

/* The reason a row is malformed, into s->msg (NUL-terminated). */
static const char *row_reason(tb_trd *t, const uint8_t *base, uint32_t r)
{
    jl_src *s = (jl_src *)t;
    tb_buf *b = &t->msg;

    b->len = 0;
    if (s->t.rbad[r] & BAD_SYNTAX) {
        const char *why = s->rwhy[r];
        bool json = strncmp(why, "expected a JSON object", 22) != 0 &&
                    strcmp(why, "invalid UTF-8") != 0 && strcmp(why, "NUL byte") != 0;
        (void)tb_buf_printf(b, "%s%s at byte %u", json ? "invalid JSON: " : "", why,
                            s->rpos[r] + 1);
    } else {
        int slot = s->rbadslot[r];
        const tb_field *f = &s->tschema->fields[s->slot_field[slot]];
        size_t cell = (size_t)r * s->n_slots + (size_t)slot;
        uint8_t k = s->ck[cell];
        const uint8_t *p = base + s->cs[cell], *e = base + s->ce[cell];
        char tbuf[64];
        const char *tname = tb_type_name(f->type, tbuf, sizeof(tbuf));
        union {
            tb_i128 dec;
            tb_interval iv;
            int64_t i;
            double d;
        } slotv;
        pv why;

        if (f->type.id == TB_T_STRING) {
            why = PV_INVALID; /* only a decoded NUL makes a text value bad */
        } else {
            why = conv_cell(&s->tmp, f->type, k, p, e, &slotv);
        }
        (void)tb_buf_printf(b, "key \"%s\": ", f->name);
        if (f->type.id == TB_T_STRING) {
            (void)tb_buf_puts(b, "string holds a NUL character (\\u0000)");
        } else if (why == PV_RANGE) {
            (void)tb_buf_puts(b, "value ");
            show_raw(b, p, (size_t)(e - p));
            (void)tb_buf_printf(b, " out of range for type %s", tname);
        } else if (why == PV_INVALID && (k == K_STR || k == K_STR_ESC)) {
            (void)tb_buf_printf(b, "invalid %s \"", tname);
            show_raw(b, p, (size_t)(e - p));
            (void)tb_buf_putc(b, '"');
        } else {
            (void)tb_buf_printf(b, "expected %s for type %s, found %s ", expects(f->type), tname,
                                kind_name(k));
            if (k == K_STR || k == K_STR_ESC)
                (void)tb_buf_putc(b, '"');
            show_raw(b, p, (size_t)(e - p));
            if (k == K_STR || k == K_STR_ESC)
                (void)tb_buf_putc(b, '"');
        }
    }
    return tb_buf_cstr(b) != NULL ? b->data : "out of memory";
}

static inline void mark_bad(jl_src *s, uint32_t r, uint32_t slot)
{
    /* the first bad column in table order, whatever the order the query reads them */
    if (!(s->t.rbad[r] & BAD_VALUE) || s->slot_field[slot] < s->slot_field[s->rbadslot[r]])
        s->rbadslot[r] = (int32_t)slot;
    s->t.rbad[r] |= BAD_VALUE;
}

/* Convert slot `slot` of rows [r0, r1) into non-text vector v. Integer, double and
 * timestamp columns inline their common cell kind; the rest go through conv_cell. */
static tb_rc conv_fixed(jl_src *s, tb_vec *v, uint32_t cap, uint32_t slot, uint32_t r0,
                        uint32_t r1, const uint8_t *base, tb_arena *arena)
{
    const uint32_t ns = s->n_slots;
    const tb_type t = v->type;
    const size_t w = tb_type_width(t);
    char *data = (char *)v->data;
    int64_t lo = 0, hi = 0;
    uint32_t r;

    if (t.id == TB_T_INT16) {
        lo = INT16_MIN;
        hi = INT16_MAX;
    } else if (t.id == TB_T_INT32) {
        lo = INT32_MIN;
        hi = INT32_MAX;
    } else if (t.id == TB_T_INT64) {
        lo = INT64_MIN;
        hi = INT64_MAX;
    }
    for (r = r0; r < r1; r++) {
        size_t cell = (size_t)r * ns + slot;
        uint8_t k = s->ck[cell];
        const uint8_t *p = base + s->cs[cell], *e = base + s->ce[cell];
        pv res;

        if (k <= K_NULL)
            goto null;
        if (hi != 0 && TB_LIKELY(k == K_INT)) {
            int64_t x;
            res = parse_int(p, e, lo, hi, &x);
            if (TB_LIKELY(res == PV_OK)) {
                if (w == 4)
                    TB_VEC_PTR(v, int32_t)[r] = (int32_t)x;
                else if (w == 8)
                    TB_VEC_PTR(v, int64_t)[r] = x;
                else
                    TB_VEC_PTR(v, int16_t)[r] = (int16_t)x;
                continue;
            }
        } else if (t.id == TB_T_DOUBLE && (k == K_INT || k == K_FLOAT)) {
            res = parse_f64(&s->tmp, p, e, &TB_VEC_PTR(v, double)[r]);
        } else if (t.id == TB_T_TIMESTAMP && k == K_STR) {
            res = tb_parse_timestamp((const char *)p, (size_t)(e - p),
                                     &TB_VEC_PTR(v, int64_t)[r])
                      ? PV_OK
                      : PV_INVALID;
        } else {
            res = conv_cell(&s->tmp, t, k, p, e, data + (size_t)r * w);
        }
        if (TB_LIKELY(res == PV_OK))
            continue;
        if (res == PV_NOMEM)
            return TB_E_NOMEM;
        mark_bad(s, r, slot);
    null:
        if (w > 0)
            memset(data + (size_t)r * w, 0, w);
        if (tb_vec_set_null(v, r, cap, arena) != TB_OK)
            return TB_E_NOMEM;
    }
    return TB_OK;
}

/* [p, e) of a validated object/array without the white space outside strings, in
 * arena; or the input itself when it has none. */
static tb_rc compact_json(const uint8_t *p, const uint8_t *e, tb_arena *arena, tb_str *out)
{
    const uint8_t *q;
    char *dst, *o;
    bool in_str = false;

    for (q = p; q < e && !is_ws(*q); q++) {
        if (*q == '"') /* white space inside strings is kept: take the slow path */
            break;
    }
    if (q == e) {
        out->ptr = (const char *)p;
        out->len = (uint32_t)(e - p);
        return TB_OK;
    }
    dst = tb_arena_alloc(arena, (size_t)(e - p) + 1);
    if (dst == NULL)
        return TB_E_NOMEM;
    o = dst;
    for (q = p; q < e; q++) {
        uint8_t c = *q;
        if (in_str) {
            *o++ = (char)c;
            if (c == '\\') {
                *o++ = (char)q[1];
                q++;
            } else if (c == '"') {
                in_str = false;
            }
        } else if (!is_ws(c)) {
            *o++ = (char)c;
            in_str = c == '"';
        }
    }
    out->ptr = dst;
    out->len = (uint32_t)(o - dst);
    return TB_OK;
}

/* Convert slot `slot` of rows [r0, r1) into text vector v: views into `copy` (the arena
 * copy of the segment), decoded strings and compacted JSON in arena. */
static tb_rc conv_text(jl_src *s, tb_vec *v, uint32_t cap, uint32_t slot, uint32_t r0,
                       uint32_t r1, const uint8_t *copy, tb_arena *arena)
{
    const uint32_t ns = s->n_slots;
    tb_str *out = (tb_str *)v->data;
    uint32_t r;

    for (r = r0; r < r1; r++) {
        size_t cell = (size_t)r * ns + slot;
        uint8_t k = s->ck[cell];
        const uint8_t *p = copy + s->cs[cell], *e = copy + s->ce[cell];

        if (TB_LIKELY(k == K_STR)) {
            out[r].ptr = (const char *)p;
            out[r].len = (uint32_t)(e - p);
            continue;
        }
        if (k <= K_NULL)
            goto null;
        if (k == K_STR_ESC) {
            bool nul = false;
            char *dst = tb_arena_alloc(arena, (size_t)(e - p) + 1);
            if (dst == NULL)
                return TB_E_NOMEM;
            out[r].ptr = dst;
            out[r].len = (uint32_t)unescape(p, e, dst, &nul);
            if (TB_UNLIKELY(nul)) {
                mark_bad(s, r, slot);
                goto null;
            }
            continue;
        }
        if (k == K_OBJ || k == K_ARR) {
            if (compact_json(p, e, arena, &out[r]) != TB_OK)
                return TB_E_NOMEM;
            continue;
        }
        out[r].ptr = (const char *)p; /* numbers and literals as written */
        out[r].len = (uint32_t)(e - p);
        continue;
    null:
        out[r].ptr = NULL;
        out[r].len = 0;
        if (tb_vec_set_null(v, r, cap, arena) != TB_OK)
            return TB_E_NOMEM;
    }
    return TB_OK;
}

/* Check slot `slot` of rows [r0, r1) without storing values (a column not read but
 * checked for the corrupt column): bad values mark their rows. */
static tb_rc check_slot(jl_src *s, uint32_t slot, uint32_t r0, uint32_t r1, const uint8_t *base)
{
    const uint32_t ns = s->n_slots;
    const tb_type t = s->tschema->fields[s->slot_field[slot]].type;
    uint32_t r;

    for (r = r0; r < r1; r++) {
        size_t cell = (size_t)r * ns + slot;
        uint8_t k = s->ck[cell];
        const uint8_t *p = base + s->cs[cell], *e = base + s->ce[cell];
        union {
            tb_i128 dec;
            tb_interval iv;
            int64_t i;
            double d;
        } v;
        pv res = PV_OK;

        if (k <= K_NULL || (t.id == TB_T_STRING && k != K_STR_ESC))
            continue;
        if (t.id == TB_T_STRING) {
            const uint8_t *sp, *se;
            bool nul = false;
            if (!str_content(base, s->cs[cell], s->ce[cell], k, &s->tmp, &sp, &se, &nul))
                return TB_E_NOMEM;
            res = nul ? PV_INVALID : PV_OK;
        } else if (t.id != TB_T_NULL) {
            res = conv_cell(&s->tmp, t, k, p, e, &v);
        }
        if (res == PV_NOMEM)
            return TB_E_NOMEM;
        if (res != PV_OK)
            mark_bad(s, r, slot);
    }
    return TB_OK;
}


/* Convert rows [r0, r1) of the batch, scanned from the segment starting at `base`. */
static tb_rc jl_convert(tb_trd *t, tb_batch *batch, uint32_t r0, uint32_t r1,
                        const uint8_t *base, const uint8_t *lim, tb_arena *arena, tb_err *err)
{
    jl_src *s = (jl_src *)t;
    const uint8_t *copy = NULL;
    uint32_t c, r;
    tb_rc rc;
    (void)lim;

    for (c = 0; c < t->n_proj; c++) {
        tb_vec *v = &batch->cols[c];
        int slot = s->out_slot[c];
        if (slot < 0)
            continue; /* the corrupt column */
        if (v->type.id == TB_T_STRING) {
            if (copy == NULL) {
                size_t n = t->re[r1 - 1];
                copy = tb_arena_memdup(arena, base, n > 0 ? n : 1);
                if (copy == NULL)
                    return tb_err_nomem(err);
            }
            rc = conv_text(s, v, batch->cap, (uint32_t)slot, r0, r1, copy, arena);
        } else if (v->type.id == TB_T_NULL) {
            rc = TB_OK;
            for (r = r0; r < r1 && rc == TB_OK; r++)
                rc = tb_vec_set_null(v, r, batch->cap, arena);
        } else {
            rc = conv_fixed(s, v, batch->cap, (uint32_t)slot, r0, r1, base, arena);
        }
        if (rc != TB_OK)
            return tb_err_nomem(err);
    }
    for (c = 0; c < s->n_slots; c++) {
        if (s->slot_out[c] < 0 && check_slot(s, c, r0, r1, base) != TB_OK)
            return tb_err_nomem(err);
    }
    return TB_OK;
}

/* A freshly opened input: its BOM. */
static tb_rc jl_prologue(tb_trd *t, tb_err *err)
{
    return rd_prologue(&t->rd, err);
}

/* One line [ls, le) into row n (cells zeroed first; a syntax fault clears them). */
static int scan_into(jl_src *s, const uint8_t *base, const uint8_t *ls, const uint8_t *le,
                     uint32_t n, tb_rc *prc, tb_err *err)
{
    const uint32_t ns = s->n_slots;
    uint8_t *ck = s->ck + (size_t)n * ns;
    jl_parse ps;
    int res;

    memset(ck, K_MISSING, ns);
    res = parse_line(ns > 0 ? &s->keys : NULL, base, s->cs + (size_t)n * ns,
                     s->ce + (size_t)n * ns, ck, &s->tmp, NULL, ls, le, &ps, prc, err);
    if (TB_UNLIKELY(res == LINE_BAD)) {
        memset(ck, K_MISSING, ns);
        s->t.rbad[n] = BAD_SYNTAX;
        s->rpos[n] = (uint32_t)(ps.at - ls);
        s->rwhy[n] = ps.why;
    }
    return res;
}

/* Lines of the read buffer into rows (tb_trd_fmt.scan). */
static tb_rc jl_scan(tb_trd *t, size_t seg, size_t budget, uint32_t *io_n, int *out_st,
                     tb_err *err)
{
    jl_src *s = (jl_src *)t;
    tb_bufrd *rd = &t->rd;
    uint32_t n = *io_n;

    *out_st = TB_TR_FULL;
    while (n < t->rows_cap && rd->pos - seg < budget) {
        const uint8_t *ls = NULL, *le = NULL;
        size_t next = 0;
        int res;
        tb_rc prc = TB_OK;
        int st = rd_line(rd, &ls, &le, &next);

        if (st != LN_OK) {
            *out_st = st == LN_EOF ? TB_TR_EOF : st == LN_MORE ? TB_TR_MORE : TB_TR_LONG;
            break;
        }
        res = scan_into(s, rd->data + seg, ls, le, n, &prc, err);
        if (TB_UNLIKELY(prc != TB_OK)) {
            *io_n = n;
            return prc;
        }
        if (res == LINE_BLANK) {
            rd->pos = next;
            rd->line++;
            continue;
        }
        if (TB_UNLIKELY(s->keys.ci_col >= 0)) {
            tb_log(TB_LOG_WARN,
                   "json: %s:%llu: key \"%s\" matches no column, but column \"%s\" "
                   "differs from it only in case: keys match case-sensitively (declare "
                   "the column as \"%s\", quoted)",
                   rd->name, (unsigned long long)rd->line, s->keys.ci_key,
                   s->keys.name[s->keys.ci_col], s->keys.ci_key);
            s->keys.ci_col = -1;
        }
        t->rs[n] = (uint32_t)(ls - (rd->data + seg));
        t->re[n] = (uint32_t)(le - (rd->data + seg));
        t->rline[n] = rd->line;
        rd->line++;
        rd->pos = next;
        n++;
    }
    *io_n = n;
    return TB_OK;
}

/* One message as one JSON object (the decoder); it may span lines. */
static tb_rc jl_scan_record(tb_trd *t, const uint8_t *base, size_t start, size_t end,
                            uint32_t n, bool *empty, tb_err *err)
{
    jl_src *s = (jl_src *)t;
    tb_rc prc = TB_OK;
    int res = scan_into(s, base, base + start, base + end, n, &prc, err);

    s->keys.ci_col = -1; /* the case hint is for files */
    *empty = res == LINE_BLANK;
    return prc;
}

static void jl_free_parts(tb_trd *t)
{
    jl_src *s = (jl_src *)t;

    tb_jsonl_opts_free(s->opts);
    tb_schema_free(s->tschema);
    keys_free(&s->keys);
    tb_free(s->proj);
    tb_free(s->out_slot);
    tb_free(s->slot_out);
    tb_free(s->slot_field);
    tb_free(s->cs);
    tb_free(s->ce);
    tb_free(s->ck);
    tb_free(s->rpos);
    tb_free(s->rwhy);
    tb_free(s->rbadslot);
    tb_buf_free(&s->tmp);
}

static void jl_free(tb_source *src)
{
    tb_trd_free((tb_trd *)src);
}

static const tb_trd_fmt JSONL_FMT = {"json",     "line",         false,      true,
                                     jl_prologue, jl_scan,      jl_scan_record, jl_convert,
                                     row_reason, jl_free_parts};
static const tb_source_vt JSONL_VT = {"json", tb_trd_next, jl_free};

void tb_jsonl_source_on_bad_record(tb_source *src, tb_jsonl_bad_record_fn fn, void *ud)
{
    jl_src *s = (jl_src *)src;

    if (src == NULL || src->vt != &JSONL_VT)
        return;
    s->t.bad_fn = fn;
    s->t.bad_ud = ud;
}

/* Everything but the inputs. */
static tb_rc src_new(const tb_jsonl_opts *opts, const tb_schema *schema, const int *proj,
                     uint32_t n_proj, jl_src **out, tb_err *err)
{
    jl_src *s = NULL;
    uint32_t i, k, ndata;
    size_t cells;
    tb_rc rc;

    *out = NULL;
    if (opts == NULL || schema == NULL || (n_proj > 0 && proj == NULL))
        return TB_ERRF(err, TB_E_MISUSE, "json: NULL argument");
    for (i = 0; i < n_proj; i++) {
        if (proj[i] < 0 || (uint32_t)proj[i] >= schema->n)
            return TB_ERRF(err, TB_E_MISUSE,
                           "json: projection index %d out of range (%u columns)", proj[i],
                           schema->n);
    }
    s = tb_calloc(1, sizeof(*s));
    if (s == NULL)
        return tb_err_nomem(err);
    s->t.base.vt = &JSONL_VT;
    s->t.fmt = &JSONL_FMT;
    s->t.rd.fd = -1;
    s->corrupt = -1;
    s->t.corrupt_out = -1;
    s->opts = tb_jsonl_opts_copy(opts);
    s->tschema = tb_schema_copy(schema);
    s->t.base.schema = tb_schema_new(n_proj);
    s->proj = tb_tr_alloc_n(n_proj, sizeof(int));
    s->out_slot = tb_tr_alloc_n(n_proj, sizeof(int));
    s->slot_out = tb_tr_alloc_n((size_t)n_proj + schema->n, sizeof(int));
    s->slot_field = tb_tr_alloc_n((size_t)n_proj + schema->n, sizeof(int));
    if (s->opts == NULL || s->tschema == NULL || s->t.base.schema == NULL || s->proj == NULL ||
        s->out_slot == NULL || s->slot_out == NULL || s->slot_field == NULL)
        goto nomem;
    s->t.o = &s->opts->tr;
    if (opts->tr.corrupt != NULL) {
        s->corrupt = tb_schema_find(schema, opts->tr.corrupt);
        if (s->corrupt >= 0 && schema->fields[s->corrupt].type.id != TB_T_STRING) {
            rc = TB_ERRF(err, TB_E_TYPE, "read_json: corrupt column '%s' must be of type text",
                         opts->tr.corrupt);
            goto fail;
        }
    }
    ndata = schema->n - (s->corrupt >= 0 ? 1 : 0);
    rc = keys_build(&s->keys, ndata, err);
    if (rc != TB_OK)
        goto fail;
    for (i = 0, k = 0; i < schema->n; i++) {
        if ((int)i == s->corrupt)
            continue;
        s->keys.name[k] = s->tschema->fields[i].name;
        s->keys.len[k] = (uint32_t)strlen(s->tschema->fields[i].name);
        s->keys.slot[k] = -1;
        keys_insert(&s->keys, k);
        k++;
    }
    for (i = 0; i < n_proj; i++) {
        const tb_field *f = &schema->fields[proj[i]];
        s->proj[i] = proj[i];
        if (proj[i] == s->corrupt) {
            s->t.corrupt_out = (int)i;
            s->out_slot[i] = -1;
        } else {
            /* the key index of table column c is c minus the corrupt column before it */
            int key = proj[i] - (s->corrupt >= 0 && proj[i] > s->corrupt ? 1 : 0);
            if (s->keys.slot[key] < 0) {
                s->keys.slot[key] = (int)s->n_slots;
                s->slot_field[s->n_slots] = proj[i];
                s->slot_out[s->n_slots++] = (int)i;
            }
            s->out_slot[i] = s->keys.slot[key];
        }
        rc = tb_schema_set(s->t.base.schema, i, f->name, f->type, true);
        if (rc != TB_OK)
            goto nomem;
    }
    /* Every data column is checked, read or not: whether a line is malformed (its count,
     * the corrupt column, dropmalformed, failfast, bad records) must not depend on which
     * columns the query happens to read (issue 13). */
    {
        for (i = 0, k = 0; i < schema->n; i++) {
            if ((int)i == s->corrupt)
                continue;
            if (s->keys.slot[k] < 0) {
                s->keys.slot[k] = (int)s->n_slots;
                s->slot_field[s->n_slots] = (int)i;
                s->slot_out[s->n_slots++] = -1;
            }
            k++;
        }
    }
    s->t.n_proj = n_proj;
    rc = tb_trd_init(&s->t, s->n_slots, err);
    if (rc != TB_OK)
        goto fail;
    cells = (size_t)s->t.rows_cap * s->n_slots;
    s->cs = tb_tr_alloc_n(cells, sizeof(uint32_t));
    s->ce = tb_tr_alloc_n(cells, sizeof(uint32_t));
    s->ck = tb_tr_alloc_n(cells, 1);
    s->rpos = tb_tr_alloc_n(s->t.rows_cap, sizeof(uint32_t));
    s->rwhy = tb_tr_alloc_n(s->t.rows_cap, sizeof(char *));
    s->rbadslot = tb_tr_alloc_n(s->t.rows_cap, sizeof(int32_t));
    if (s->cs == NULL || s->ce == NULL || s->ck == NULL || s->rpos == NULL || s->rwhy == NULL ||
        s->rbadslot == NULL)
        goto nomem;
    *out = s;
    return TB_OK;
nomem:
    (void)tb_err_nomem(err);
    rc = TB_E_NOMEM;
fail:
    tb_trd_free(&s->t);
    return rc;
}

tb_rc tb_jsonl_trd_new(const tb_jsonl_opts *opts, const tb_schema *schema, const int *proj,
                       uint32_t n_proj, tb_trd **out, tb_err *err)
{
    jl_src *s = NULL;
    tb_rc rc = src_new(opts, schema, proj, n_proj, &s, err);

    *out = rc == TB_OK ? &s->t : NULL;
    return rc;
}

static tb_rc ctor(const void *opts, const tb_schema *schema, const int *proj, uint32_t n_proj,
                  tb_trd **out, tb_err *err)
{
    return tb_jsonl_trd_new(opts, schema, proj, n_proj, out, err);
}

tb_rc tb_jsonl_source_new(const tb_strlist *paths, const tb_jsonl_opts *opts,
                          const tb_schema *schema, const int *proj, uint32_t n_proj,
                          tb_source **out_src, tb_err *err)
{
    return tb_trd_source_files(ctor, "json", paths, opts, schema, proj, n_proj, out_src, err);
}

tb_rc tb_jsonl_source_from_buffer(const char *name, const char *data, size_t len,
                                  const tb_jsonl_opts *opts, const tb_schema *schema,
                                  const int *proj, uint32_t n_proj, tb_source **out_src,
                                  tb_err *err)
{
    return tb_trd_source_buffer(ctor, "json", name, data, len, opts, schema, proj, n_proj,
                                out_src, err);
}

/* ================================================================ inference */

enum { IK_NONE, IK_BOOL, IK_INT32, IK_INT64, IK_DEC, IK_DOUBLE, IK_DATE, IK_TS, IK_TEXT };

static int kind_join(int a, int b)
{
    if (a == b || b == IK_NONE)
        return a;
    if (a == IK_NONE)
        return b;
    if (a >= IK_INT32 && a <= IK_DOUBLE && b >= IK_INT32 && b <= IK_DOUBLE)
        return TB_MAX(a, b);
    if ((a == IK_DATE || a == IK_TS) && (b == IK_DATE || b == IK_TS))
        return IK_TS;
    return IK_TEXT;
}

static tb_type ikind_type(int k)
{
    switch (k) {
    case IK_BOOL:
        return tb_type_make(TB_T_BOOL);
    case IK_INT32:
        return tb_type_make(TB_T_INT32);
    case IK_INT64:
        return tb_type_make(TB_T_INT64);
    case IK_DEC:
        return tb_type_decimal(38, 0);
    case IK_DOUBLE:
        return tb_type_make(TB_T_DOUBLE);
    case IK_DATE:
        return tb_type_make(TB_T_DATE);
    case IK_TS:
        return tb_type_make(TB_T_TIMESTAMP);
    default:
        return tb_type_make(TB_T_STRING);
    }
}

struct infer_st {
    jl_keys keys; /* names owned here (char *) */
    uint32_t cap;
    int *kinds;
    tb_buf tmp;
};

static void infer_free(infer_st *st)
{
    uint32_t i;

    for (i = 0; i < st->keys.n; i++)
        tb_free((char *)st->keys.name[i]);
    tb_free(st->keys.name);
    tb_free(st->keys.len);
    tb_free(st->keys.slot);
    tb_free(st->keys.ht);
    tb_free(st->kinds);
    tb_buf_free(&st->tmp);
}

/* Add a name to the inference table (growing it); returns its index, -1 on OOM. */
static int infer_add(infer_st *st, const uint8_t *p, size_t n)
{
    jl_keys *k = &st->keys;
    uint32_t i;
    char *name;

    if (k->n == st->cap) {
        uint32_t ncap = st->cap == 0 ? 16 : st->cap * 2, size = 4;
        const char **nn = tb_realloc(k->name, ncap * sizeof(char *));
        uint32_t *nl;
        int *nk;
        int32_t *ht;
        if (nn == NULL)
            return -1;
        k->name = nn;
        nl = tb_realloc(k->len, ncap * sizeof(uint32_t));
        if (nl == NULL)
            return -1;
        k->len = nl;
        nk = tb_realloc(st->kinds, ncap * sizeof(int));
        if (nk == NULL)
            return -1;
        st->kinds = nk;
        while (size < 2 * ncap + 2)
            size *= 2;
        ht = tb_malloc(size * sizeof(int32_t));
        if (ht == NULL)
            return -1;
        tb_free(k->ht);
        k->ht = ht;
        k->mask = size - 1;
        for (i = 0; i < size; i++)
            ht[i] = -1;
        for (i = 0; i < k->n; i++)
            keys_insert(k, i);
        st->cap = ncap;
    }
    name = tb_malloc(n + 1);
    if (name == NULL)
        return -1;
    memcpy(name, p, n);
    name[n] = '\0';
    i = k->n++;
    k->name[i] = name;
    k->len[i] = (uint32_t)n;
    st->kinds[i] = IK_NONE;
    keys_insert(k, i);
    return (int)i;
}

static int classify(tb_buf *tmp, uint8_t kind, const uint8_t *p, const uint8_t *e)
{
    switch (kind) {
    case K_NULL:
        return IK_NONE;
    case K_TRUE:
    case K_FALSE:
        return IK_BOOL;
    case K_INT: {
        int64_t v;
        size_t nd = (size_t)(e - p) - (*p == '-');
        if (parse_int(p, e, INT64_MIN, INT64_MAX, &v) == PV_OK)
            return v >= INT32_MIN && v <= INT32_MAX ? IK_INT32 : IK_INT64;
        return nd <= 38 ? IK_DEC : IK_DOUBLE;
    }
    case K_FLOAT:
    case K_NANINF:
        return IK_DOUBLE;
    case K_STR:
    case K_STR_ESC: {
        const uint8_t *sp, *se;
        bool nul;
        int32_t days;
        int64_t us;
        if (!str_content(p, 0, (uint32_t)(e - p), kind, tmp, &sp, &se, &nul) || nul)
            return IK_TEXT;
        if (se - sp >= 8 && is_digit(*sp)) {
            if (memchr(sp, ':', (size_t)(se - sp)) == NULL &&
                tb_parse_date((const char *)sp, (size_t)(se - sp), &days))
                return IK_DATE;
            if (tb_parse_timestamp((const char *)sp, (size_t)(se - sp), &us))
                return IK_TS;
        }
        return IK_TEXT;
    }
    default:
        return IK_TEXT;
    }
}

static tb_rc infer_key(infer_st *inf, const uint8_t *kp, const uint8_t *ke, bool kesc,
                       uint8_t kind, const uint8_t *cs, const uint8_t *ce, tb_err *err)
{
    size_t kn = (size_t)(ke - kp);
    const uint8_t *name = kp;
    int idx;
    char *kbuf = NULL;

    if (kesc) {
        bool nul = false;
        kbuf = tb_malloc(kn + 1);
        if (kbuf == NULL)
            return tb_err_nomem(err);
        kn = unescape(kp, ke, kbuf, &nul);
        name = (const uint8_t *)kbuf;
    }
    idx = keys_find(&inf->keys, name, kn);
    if (idx < 0) {
        if (inf->keys.n >= JL_MAX_COLUMNS) {
            tb_free(kbuf);
            return TB_ERRF(err, TB_E_LIMIT, "json: more than %u distinct keys", JL_MAX_COLUMNS);
        }
        idx = infer_add(inf, name, kn);
        if (idx < 0) {
            tb_free(kbuf);
            return tb_err_nomem(err);
        }
    }
    tb_free(kbuf);
    if (inf->kinds[idx] != IK_TEXT)
        inf->kinds[idx] = kind_join(inf->kinds[idx], classify(&inf->tmp, kind, cs, ce));
    return TB_OK;
}

/* Inference over one file; stops after sample_rows lines (counted in *rows). */
static tb_rc infer_file(const char *path, const tb_jsonl_opts *opts, infer_st *st,
                        uint64_t *rows, tb_err *err)
{
    jl_rd rd;
    tb_rc rc = tb_bufrd_open_file(&rd, "json", "line", path, opts->tr.chunk, opts->tr.max_line, err);

    if (rc == TB_OK)
        rc = rd_prologue(&rd, err);
    while (rc == TB_OK && *rows < opts->tr.sample_rows) {
        const uint8_t *ls = NULL, *le = NULL;
        size_t next = 0;
        jl_parse ps;
        tb_rc prc = TB_OK;
        int res, lst = rd_line(&rd, &ls, &le, &next);

        if (lst == LN_EOF)
            break;
        if (lst == LN_LONG) {
            rc = tb_bufrd_too_long(&rd, rd.line, err);
            break;
        }
        if (lst == LN_MORE) {
            rc = tb_bufrd_fill(&rd, err);
            continue;
        }
        /* validate first: a malformed line contributes no key (as in Spark) */
        res = parse_line(NULL, NULL, NULL, NULL, NULL, NULL, NULL, ls, le, &ps, &prc, err);
        if (res == LINE_OK)
            res = parse_line(NULL, NULL, NULL, NULL, NULL, NULL, st, ls, le, &ps, &prc, err);
        if (prc != TB_OK) {
            rc = prc;
            break;
        }
        if (res != LINE_BLANK)
            (*rows)++;
        rd.pos = next;
        rd.line++;
    }
    tb_bufrd_close(&rd);
    return rc;
}

static int cmp_ci(const void *a, const void *b)
{
    return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

tb_rc tb_jsonl_infer_schema(const tb_strlist *paths, const tb_jsonl_opts *opts,
                            tb_schema **out_schema, tb_err *err)
{
    infer_st st;
    tb_schema *schema = NULL;
    tb_rc rc = TB_OK;
    uint64_t rows = 0;
    size_t i;
    uint32_t j;
    const char **sorted = NULL;

    if (out_schema == NULL)
        return TB_ERRF(err, TB_E_MISUSE, "json: NULL argument");
    *out_schema = NULL;
    if (paths == NULL || opts == NULL)
        return TB_ERRF(err, TB_E_MISUSE, "json: NULL argument");
    if (opts->tr.schema != NULL)
        return tb_tr_with_corrupt(opts->tr.schema, opts->tr.corrupt, out_schema, err);
    memset(&st, 0, sizeof(st));
    for (i = 0; rc == TB_OK && i < paths->n && rows < opts->tr.sample_rows; i++)
        rc = infer_file(paths->items[i], opts, &st, &rows, err);
    if (rc != TB_OK)
        goto done;
    if (st.keys.n == 0) {
        rc = TB_ERRF(err, TB_E_PARSE,
                     "json: cannot infer a schema: no JSON object with a key in '%s'%s",
                     paths->n > 0 ? paths->items[0] : "", paths->n > 1 ? " and the others" : "");
        goto done;
    }
    /* SQL names are case-insensitive: keys differing only in case cannot both be
     * columns (sorted case-insensitively, such keys are neighbours). */
    sorted = tb_malloc(st.keys.n * sizeof(char *));
    if (sorted == NULL) {
        rc = tb_err_nomem(err);
        goto done;
    }
    memcpy(sorted, st.keys.name, st.keys.n * sizeof(char *));
    qsort(sorted, st.keys.n, sizeof(char *), cmp_ci);
    for (j = 0; j + 1 < st.keys.n; j++) {
        if (tb_str_ieq(sorted[j], sorted[j + 1])) {
            const char *a = sorted[j], *b = sorted[j + 1];
            uint32_t m;
            for (m = 0; m < st.keys.n && st.keys.name[m] != a && st.keys.name[m] != b; m++)
                ;
            if (m < st.keys.n && st.keys.name[m] == b) { /* in order of appearance */
                b = a;
                a = st.keys.name[m];
            }
            rc = TB_ERRF(err, TB_E_SQL,
                         "json: cannot infer a schema: keys \"%s\" and \"%s\" differ only in "
                         "case (SQL names are case-insensitive): declare the schema",
                         a, b);
            goto done;
        }
    }
    for (j = 0; j < st.keys.n; j++) {
        if (opts->tr.corrupt != NULL && tb_str_ieq(st.keys.name[j], opts->tr.corrupt)) {
            rc = TB_ERRF(err, TB_E_SQL, "read_json: corrupt_column '%s' is also a key of '%s'",
                         opts->tr.corrupt, paths->items[0]);
            goto done;
        }
    }
    schema = tb_schema_new(st.keys.n);
    if (schema == NULL) {
        rc = tb_err_nomem(err);
        goto done;
    }
    for (j = 0; j < st.keys.n; j++) {
        if (tb_schema_set(schema, j, st.keys.name[j], ikind_type(st.kinds[j]), true) != TB_OK) {
            rc = tb_err_nomem(err);
            goto done;
        }
    }
    rc = tb_tr_with_corrupt(schema, opts->tr.corrupt, out_schema, err);
done:
    tb_free(sorted);
    infer_free(&st);
    tb_schema_free(schema);
    return rc;
}
