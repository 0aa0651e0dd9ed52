/*
 * csv.c - CSV reader: options, a chunked record tokenizer, schema inference, and the
 * tb_source that parses records straight into typed column vectors.
 *
 * Reading is two-phase per batch, so that the per-byte and per-value loops stay tight:
 *   1. tokenize: records are split into fields, recording for each (row, field) the
 *      [start, end) offsets of its content (inside the quotes) and a flag byte, plus per
 *      row the raw record range, its first physical line and any structural fault.
 *      Scanning uses SWAR (8 bytes at a time) for the characters that end a run.
 *   2. convert: for each projected column, one loop over the rows parses the fields
 *      into the vector (integers, doubles, dates, ... with their own inlined parsers),
 *      marking NULLs and value faults. Then malformed rows are handled by mode.
 * A batch is built from one or more "segments": maximal runs of records that are in the
 * read buffer at the same time. A segment is converted before the buffer is refilled
 * (which moves its bytes) or the next file is opened, so field offsets (uint32, relative
 * to the segment start) never dangle. Text values are views into one arena copy of the
 * segment's bytes; only fields with escaped quotes are materialised separately.
 *
 * Reader buffer invariants (file mode): data[pos, len) is unread input; pos is always
 * at a record boundary between calls; an incomplete record is moved to the front before
 * reading more; buffer size <= max_line + 2 + 2 * chunk, so memory is bounded by the
 * line limit, never by the file size. Memory mode reads the caller's buffer in place.
 *
 * Line numbers are physical (LF, CRLF and lone CR each end one line, including inside
 * quoted fields); a record is reported at the line where it starts.
 *
 * A batch never spans two files, so a file's batches are the same whether the source
 * reads all the files or a morsel reader reads that file alone (parallel reading): the
 * operators above then see the same batches, and (e.g. the order of a many-to-many
 * join's output within a batch) produce the same rows in the same order.
 */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "format/csv.h"
#include "format/textrec_int.h"

#define CSV_MAX_COLUMNS 65536u /* inference: more fields in the first record is an error */

struct tb_csv_opts {
    tb_tr_opts tr; /* mode, corrupt_column, schema, sample_rows, max_line_bytes, chunk */
    bool header;
    uint8_t delim;
    int quote;  /* -1: no quoting */
    int escape; /* -1: no escape char */
    bool escape_set;
    char *null_str;
    size_t null_len;
    char *ts_fmt;   /* NULL: ISO (tb_parse_timestamp) */
    char *date_fmt; /* NULL: ISO (tb_parse_date) */
    uint64_t skip;
    bool careful_only; /* test hook: no fast tokenizer */
};

/* ================================================================ options */

static const char KNOWN_OPTS[] = "header, delimiter, quote, escape, null, timestamp_format, "
                                 "date_format, mode, corrupt_column, schema, sample_rows, "
                                 "max_line_bytes, skip";

tb_csv_opts *tb_csv_opts_new(void)
{
    tb_csv_opts *opts = tb_calloc(1, sizeof(*opts));

    if (opts == NULL)
        return NULL;
    opts->null_str = tb_strdup("");
    if (opts->null_str == NULL) {
        tb_free(opts);
        return NULL;
    }
    opts->header = true;
    opts->delim = ',';
    opts->quote = '"';
    opts->escape = '"';
    tb_tr_opts_init(&opts->tr);
    return opts;
}

void tb_csv_opts_free(tb_csv_opts *opts)
{
    if (opts == NULL)
        return;
    tb_free(opts->null_str);
    tb_free(opts->ts_fmt);
    tb_free(opts->date_fmt);
    tb_tr_opts_clear(&opts->tr);
    tb_free(opts);
}

static bool dup_opt(char **dst, const char *src)
{
    if (src == NULL) {
        *dst = NULL;
        return true;
    }
    *dst = tb_strdup(src);
    return *dst != NULL;
}

tb_csv_opts *tb_csv_opts_copy(const tb_csv_opts *opts)
{
    tb_csv_opts *c = tb_calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    *c = *opts;
    c->null_str = c->ts_fmt = c->date_fmt = NULL;
    if (!tb_tr_opts_copy(&c->tr, &opts->tr) || !dup_opt(&c->null_str, opts->null_str) ||
        !dup_opt(&c->ts_fmt, opts->ts_fmt) || !dup_opt(&c->date_fmt, opts->date_fmt))
        goto fail;
    return c;
fail:
    tb_csv_opts_free(c);
    return NULL;
}

const tb_schema *tb_csv_opts_schema(const tb_csv_opts *opts)
{
    return opts->tr.schema;
}

const char *tb_csv_opts_corrupt_column(const tb_csv_opts *opts)
{
    return opts->tr.corrupt;
}

const tb_tr_opts *tb_csv_opts_common(const tb_csv_opts *opts)
{
    return &opts->tr;
}

bool tb_csv_opts_has_header(const tb_csv_opts *opts)
{
    return opts->header;
}

void tb_csv_opts_set_chunk_size(tb_csv_opts *opts, size_t chunk_size)
{
    opts->tr.chunk = chunk_size == 0 ? TB_TR_DEFAULT_CHUNK : chunk_size;
}

void tb_csv_opts_set_fast_path(tb_csv_opts *opts, bool on)
{
    opts->careful_only = !on;
}

static bool opt_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"true", "t", "on", "yes", "1"};
    static const char *const no[] = {"false", "f", "off", "no", "0"};
    size_t i;

    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (tb_str_ieq(v, yes[i])) {
            *out = true;
            return true;
        }
        if (tb_str_ieq(v, no[i])) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* One character, "\t" spelled out, or (allow_none) "" for none (-1). */
static bool opt_char(const char *v, bool allow_none, int *out)
{
    if (v[0] == '\0') {
        *out = -1;
        return allow_none;
    }
    if (v[1] == '\0') {
        *out = (uint8_t)v[0];
        return true;
    }
    if (strcmp(v, "\\t") == 0) {
        *out = '\t';
        return true;
    }
    return false;
}

/* Validate a timestamp/date format: %Y %m %d %H %M %S %f %% and literals; %Y, %m and
 * %d must appear. */
static bool fmt_valid(const char *fmt)
{
    bool y = false, m = false, d = false;

    for (; *fmt != '\0'; fmt++) {
        if (*fmt != '%')
            continue;
        fmt++;
        switch (*fmt) {
        case 'Y':
            y = true;
            break;
        case 'm':
            m = true;
            break;
        case 'd':
            d = true;
            break;
        case 'H':
        case 'M':
        case 'S':
        case 'f':
        case '%':
            break;
        default:
            return false;
        }
    }
    return y && m && d;
}

static tb_rc bad_value(tb_err *err, const char *key, const char *value, const char *hint)
{
    return tb_tr_bad_option(err, "read_csv", key, value, hint);
}

static tb_rc set_str(char **dst, const char *value, tb_err *err)
{
    char *c = tb_strdup(value);

    if (c == NULL)
        return tb_err_nomem(err);
    tb_free(*dst);
    *dst = c;
    return TB_OK;
}

tb_rc tb_csv_opts_set(tb_csv_opts *opts, const char *key, const char *value, tb_err *err)
{
    uint64_t n;
    int c;

    if (opts == NULL || key == NULL || value == NULL)
        return TB_ERRF(err, TB_E_MISUSE, "read_csv: NULL option argument");
    if (tb_str_ieq(key, "header")) {
        if (!opt_bool(value, &opts->header))
            return bad_value(err, key, value, "expected true or false");
    } else if (tb_str_ieq(key, "delimiter")) {
        if (!opt_char(value, false, &c) || c == '\n' || c == '\r')
            return bad_value(err, key, value, "expected one character other than CR/LF");
        opts->delim = (uint8_t)c;
    } else if (tb_str_ieq(key, "quote")) {
        if (!opt_char(value, true, &c) || c == '\n' || c == '\r')
            return bad_value(err, key, value, "expected one character, or '' for none");
        opts->quote = c;
        if (!opts->escape_set)
            opts->escape = c;
    } else if (tb_str_ieq(key, "escape")) {
        if (!opt_char(value, true, &c) || c == '\n' || c == '\r')
            return bad_value(err, key, value, "expected one character, or '' for none");
        opts->escape = c;
        opts->escape_set = true;
    } else if (tb_str_ieq(key, "null")) {
        tb_rc rc = set_str(&opts->null_str, value, err);
        if (rc != TB_OK)
            return rc;
        opts->null_len = strlen(value);
    } else if (tb_str_ieq(key, "timestamp_format") || tb_str_ieq(key, "date_format")) {
        bool ts = tb_str_ieq(key, "timestamp_format");
        if (!fmt_valid(value))
            return bad_value(err, key, value,
                             "expected %Y, %m, %d and optionally %H %M %S %f, %% and "
                             "literal characters");
        return set_str(ts ? &opts->ts_fmt : &opts->date_fmt, value, err);
    } else if (tb_str_ieq(key, "skip")) {
        if (!tb_tr_opt_u64(value, &n))
            return bad_value(err, key, value, "expected a non-negative integer");
        opts->skip = n;
    } else {
        tb_rc rc = tb_tr_opts_set(&opts->tr, "read_csv", key, value, err);
        if (rc != TB_E_NOTFOUND)
            return rc;
        return TB_ERRF(err, TB_E_NOTFOUND, "read_csv: unknown option '%s' (known: %s)", key,
                       KNOWN_OPTS);
    }
    return TB_OK;
}

/* Checks that involve several options (they may be set in any order). */
static tb_rc opts_check(const tb_csv_opts *opts, tb_err *err)
{
    if (opts->quote >= 0 && opts->quote == opts->delim)
        return TB_ERRF(err, TB_E_SQL, "read_csv: options 'delimiter' and 'quote' are both '%c'",
                       opts->delim);
    if (opts->escape >= 0 && opts->escape != opts->quote && opts->escape == opts->delim)
        return TB_ERRF(err, TB_E_SQL,
                       "read_csv: options 'delimiter' and 'escape' are both '%c'", opts->delim);
    return TB_OK;
}

/* ================================================================ lexer */

#define C_U 1 /* ends an unquoted run: delimiter, CR, LF, NUL */
#define C_Q 2 /* stops a quoted run: quote, escape, CR, LF, NUL */

#define F_QUOTED 1  /* content was inside quotes */
#define F_ESC 2     /* content holds doubled quotes / escape chars to remove */
#define F_MISSING 4 /* field absent from the record (or unterminated): NULL */

#define BAD_UNTERM 1 /* unterminated quoted field at EOF */
#define BAD_NUL 2    /* NUL byte */
#define BAD_AFTERQ 4 /* character after a closing quote */
#define BAD_COUNT 8  /* wrong number of fields */
#define BAD_VALUE 16 /* a projected field failed to parse */

typedef struct csv_lex {
    uint8_t delim;
    int quote, escape;
    bool esc_distinct; /* escape char other than the quote */
    bool dbl;          /* "" doubling */
    uint64_t bd, bq, be;
    uint8_t fq; /* the quote for the fast tokenizer's "odd byte" test (CR when none) */
    uint8_t cls[256];
} csv_lex;

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
#define HASZERO(v) (((v)-ONES) & ~(v)&HIGHS)

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define CSV_SWAR 1
#else
#define CSV_SWAR 0
#endif

static void lex_init(csv_lex *lx, const tb_csv_opts *opts)
{
    memset(lx, 0, sizeof(*lx));
    lx->delim = opts->delim;
    lx->quote = opts->quote;
    lx->escape = opts->quote >= 0 ? opts->escape : -1;
    lx->dbl = lx->quote >= 0 && lx->escape == lx->quote;
    lx->esc_distinct = lx->escape >= 0 && lx->escape != lx->quote;
    lx->bd = ONES * lx->delim;
    lx->bq = ONES * (uint8_t)(lx->quote >= 0 ? lx->quote : '\n');
    lx->be = ONES * (uint8_t)(lx->esc_distinct ? lx->escape : '\n');
    lx->fq = (uint8_t)(lx->quote >= 0 ? lx->quote : '\r');
    lx->cls[lx->delim] |= C_U;
    lx->cls['\n'] |= C_U | C_Q;
    lx->cls['\r'] |= C_U | C_Q;
    lx->cls[0] |= C_U | C_Q;
    if (lx->quote >= 0)
        lx->cls[lx->quote] |= C_Q;
    if (lx->esc_distinct)
        lx->cls[lx->escape] |= C_Q;
}

/* First byte of [p, end) that ends an unquoted run, or end. */
static inline const uint8_t *scan_u(const csv_lex *lx, const uint8_t *p, const uint8_t *end)
{
#if CSV_SWAR
    while (end - p >= 8) {
        uint64_t v, m;
        memcpy(&v, p, 8);
        m = HASZERO(v ^ lx->bd) | HASZERO(v ^ (ONES * '\n')) | HASZERO(v ^ (ONES * '\r')) |
            HASZERO(v);
        if (m != 0)
            return p + (__builtin_ctzll(m) >> 3);
        p += 8;
    }
#endif
    while (p < end && !(lx->cls[*p] & C_U))
        p++;
    return p;
}

/* First byte of [p, end) that stops a quoted run, or end. */
static inline const uint8_t *scan_q(const csv_lex *lx, const uint8_t *p, const uint8_t *end)
{
#if CSV_SWAR
    while (end - p >= 8) {
        uint64_t v, m;
        memcpy(&v, p, 8);
        m = HASZERO(v ^ lx->bq) | HASZERO(v ^ lx->be) | HASZERO(v ^ (ONES * '\n')) |
            HASZERO(v ^ (ONES * '\r')) | HASZERO(v);
        if (m != 0)
            return p + (__builtin_ctzll(m) >> 3);
        p += 8;
    }
#endif
    while (p < end && !(lx->cls[*p] & C_Q))
        p++;
    return p;
}

enum { TOK_OK, TOK_MORE, TOK_EOF };

/* One tokenized record. Offsets are into the data the tokenizer was given. */
typedef struct csv_rec {
    size_t skip_to;      /* after the blank lines before the record (valid on any status) */
    uint32_t skip_lines; /* line breaks among those blank lines */
    size_t start, end;   /* the record, without its line break */
    size_t next;         /* after the line break */
    uint32_t lines;      /* line breaks inside the record and its terminator */
    uint32_t n_fields;   /* fields found (may exceed fcap) */
    uint8_t bad;         /* BAD_* structural faults */
    uint8_t bad_char;    /* the character after a closing quote (BAD_AFTERQ) */
} csv_rec;

/*
 * Tokenize the record at d[pos] (after skipping blank lines). Fields j < fcap are stored
 * as offsets relative to d + fbase in fs/fe with flags in ff; missing ones (up to fcap)
 * get F_MISSING. Returns TOK_MORE when the record may continue past len and !eof (the
 * caller reads more and calls again from rec->skip_to), TOK_EOF when no record is left.
 */
static int tokenize(const csv_lex *lx, const uint8_t *d, size_t pos, size_t len, bool eof,
                    size_t fbase, uint32_t *fs, uint32_t *fe, uint8_t *ff, uint32_t fcap,
                    csv_rec *rec)
{
    const uint8_t *p = d + pos, *end = d + len;
    uint32_t lines = 0, nf = 0, j;
    uint8_t bad = 0;
    const int quote = lx->quote;

    for (;;) {
        if (p == end) {
            rec->skip_to = (size_t)(p - d);
            rec->skip_lines = lines;
            return eof ? TOK_EOF : TOK_MORE;
        }
        if (*p == '\n') {
            p++;
            lines++;
        } else if (*p == '\r') {
            if (p + 1 == end && !eof) {
                rec->skip_to = (size_t)(p - d);
                rec->skip_lines = lines;
                return TOK_MORE;
            }
            p += (p + 1 < end && p[1] == '\n') ? 2 : 1;
            lines++;
        } else {
            break;
        }
    }
    rec->skip_to = (size_t)(p - d);
    rec->skip_lines = lines;
    rec->start = (size_t)(p - d);
    rec->bad_char = 0;
    lines = 0;
    for (;;) {
        const uint8_t *cs, *ce;
        uint8_t fl = 0;

        if (quote >= 0 && p < end && *p == (uint8_t)quote) {
            p++;
            cs = p;
            fl = F_QUOTED;
            for (;;) {
                uint8_t c;
                p = scan_q(lx, p, end);
                if (p == end) {
                    if (!eof)
                        return TOK_MORE;
                    bad |= BAD_UNTERM;
                    fl |= F_MISSING;
                    break;
                }
                c = *p;
                if (c == (uint8_t)quote) {
                    if (lx->dbl) {
                        if (p + 1 == end && !eof)
                            return TOK_MORE;
                        if (p + 1 < end && p[1] == c) {
                            fl |= F_ESC;
                            p += 2;
                            continue;
                        }
                    }
                    break;
                }
                if (c == '\n') {
                    lines++;
                    p++;
                    continue;
                }
                if (c == '\r') {
                    if (p + 1 == end && !eof)
                        return TOK_MORE;
                    if (p + 1 == end || p[1] != '\n')
                        lines++;
                    p++;
                    continue;
                }
                if (c == 0) {
                    bad |= BAD_NUL;
                    p++;
                    continue;
                }
                /* the escape char: the next byte is literal */
                if (p + 1 == end) {
                    if (!eof)
                        return TOK_MORE;
                    p++;
                    continue; /* -> unterminated */
                }
                fl |= F_ESC;
                p++;
                if (*p == '\n') {
                    lines++;
                } else if (*p == '\r') {
                    if (p + 1 == end && !eof)
                        return TOK_MORE;
                    if (p + 1 == end || p[1] != '\n')
                        lines++;
                } else if (*p == 0) {
                    bad |= BAD_NUL;
                }
                p++;
            }
            ce = p;
            if (p < end)
                p++; /* the closing quote */
            if (p < end && *p != lx->delim && *p != '\n' && *p != '\r') {
                /* Garbage after the closing quote: the record is malformed; skip to the
                 * end of the field. */
                if (!(bad & BAD_AFTERQ))
                    rec->bad_char = *p;
                bad |= BAD_AFTERQ;
                for (;;) {
                    p = scan_u(lx, p, end);
                    if (p < end && *p == 0) {
                        bad |= BAD_NUL;
                        p++;
                        continue;
                    }
                    break;
                }
            }
        } else {
            cs = p;
            for (;;) {
                p = scan_u(lx, p, end);
                if (p < end && *p == 0) {
                    bad |= BAD_NUL;
                    p++;
                    continue;
                }
                break;
            }
            ce = p;
        }
        if (p == end && !eof)
            return TOK_MORE;
        if (nf < fcap) {
            fs[nf] = (uint32_t)(cs - (d + fbase));
            fe[nf] = (uint32_t)(ce - (d + fbase));
            ff[nf] = fl;
        }
        nf++;
        if (p == end) { /* last record without a line break */
            rec->end = rec->next = (size_t)(p - d);
            break;
        }
        if (*p == lx->delim) {
            p++;
            continue;
        }
        rec->end = (size_t)(p - d);
        if (*p == '\r') {
            if (p + 1 == end && !eof)
                return TOK_MORE;
            p += (p + 1 < end && p[1] == '\n') ? 2 : 1;
        } else {
            p++;
        }
        lines++;
        rec->next = (size_t)(p - d);
        break;
    }
    for (j = nf; j < fcap; j++) {
        fs[j] = fe[j] = 0;
        ff[j] = F_MISSING;
    }
    if (nf != fcap)
        bad |= BAD_COUNT;
    rec->n_fields = nf;
    rec->lines = lines;
    rec->bad = bad;
    return TOK_OK;
}

/* ================================================================ fast tokenizer */

/*
 * The common record needs none of tokenize()'s cases: no quote, CR or NUL, exactly the
 * expected number of fields, not blank, ended by LF. tok_fast() splits such records a
 * 64-byte block at a time: it classifies the block into bitmasks (separators, LF, "odd"
 * bytes: quote, CR, NUL; SSE2, or a table loop elsewhere) and walks the separator bits,
 * storing field offsets. At the first record that is not plain (an odd byte, a blank
 * line, a wrong field count, a record longer than max_line_bytes, or the end of the
 * buffer) it stops before that record, which tokenize() then handles; so both paths
 * produce the same fields, rows, line numbers and faults (tests/unit/test_csv_fast.c
 * compares them over random input). A plain record is also one tokenize() would accept
 * as is (F flags 0, no fault), so nothing else is stored for it.
 */
typedef struct blockmask {
    uint64_t sep; /* delimiter or LF */
    uint64_t lf;
    uint64_t odd; /* quote, CR, NUL */
} blockmask;

static inline void classify64(const csv_lex *lx, const uint8_t *p, blockmask *bm)
{
#if defined(__SSE2__)
    const __m128i vd = _mm_set1_epi8((char)lx->delim), vl = _mm_set1_epi8('\n');
    const __m128i vc = _mm_set1_epi8('\r'), vq = _mm_set1_epi8((char)lx->fq);
    const __m128i vz = _mm_setzero_si128();
    uint64_t sep = 0, lf = 0, odd = 0;
    for (int k = 0; k < 4; k++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
        uint64_t d = (uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, vd));
        uint64_t l = (uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, vl));
        __m128i o = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, vc), _mm_cmpeq_epi8(x, vq)),
                                 _mm_cmpeq_epi8(x, vz));
        sep |= (d | l) << (16 * k);
        lf |= l << (16 * k);
        odd |= (uint64_t)(uint16_t)_mm_movemask_epi8(o) << (16 * k);
    }
    bm->sep = sep;
    bm->lf = lf;
    bm->odd = odd;
#else
    uint64_t sep = 0, lf = 0, odd = 0;
    for (int i = 0; i < 64; i++) {
        uint8_t c = p[i];
        uint64_t bit = (uint64_t)1 << i;
        if (c == lx->delim || c == '\n')
            sep |= bit;
        if (c == '\n')
            lf |= bit;
        if (c == '\r' || c == 0 || c == lx->fq)
            odd |= bit;
    }
    bm->sep = sep;
    bm->lf = lf;
    bm->odd = odd;
#endif
}

/* Where tok_fast stores records: row-major field arrays and per-row record data, rows
 * [n, max_n); offsets relative to data + fbase. */
typedef struct tokout {
    uint32_t nf;
    uint32_t *fs, *fe;
    uint8_t *ff;
    uint32_t *rs, *re;
    uint64_t *rline;
} tokout;

/*
 * Plain records from data[*pos] (a record boundary) while rows < max_n and the records
 * end before byte_lim (relative to fbase); *pos and *line move past them. Returns the
 * number of rows stored. Needs 64 readable bytes per block: it stops at the last whole
 * block before len.
 */
static uint32_t tok_fast(const csv_lex *lx, const uint8_t *d, size_t *pos, size_t len,
                         size_t fbase, size_t max_line, size_t byte_lim, uint64_t *line,
                         const tokout *o, uint32_t n, uint32_t max_n)
{
    const uint32_t nf = o->nf;
    const uint32_t n0 = n;
    size_t rstart = *pos, cs = rstart, b = rstart;
    uint32_t j = 0;
    uint32_t *fs = o->fs + (size_t)n * nf, *fe = o->fe + (size_t)n * nf;
    uint8_t *ff = o->ff + (size_t)n * nf;
    uint64_t ln = *line;

    if (nf == 0 || n >= max_n)
        return 0;
    /* Invariant at a block start: cs <= b, and no odd byte lies in [cs, b). */
    while (b + 64 <= len) {
        blockmask bm;
        classify64(lx, d + b, &bm);
        uint64_t sep = bm.sep, odd = bm.odd;
        while (sep != 0) {
            unsigned i = (unsigned)__builtin_ctzll(sep);
            size_t p = b + i;
            /* odd bytes of earlier fields of this block stopped us already: any left at
             * or below i lie in this field */
            if (odd & (((uint64_t)2 << i) - 1))
                goto stop;
            if (j == nf)
                goto stop; /* too many fields */
            fs[j] = (uint32_t)(cs - fbase);
            fe[j] = (uint32_t)(p - fbase);
            ff[j] = 0;
            j++;
            if ((bm.lf >> i) & 1) {
                if (j != nf || p == rstart || p - rstart > max_line)
                    goto stop; /* too few fields, blank line, too long */
                o->rs[n] = (uint32_t)(rstart - fbase);
                o->re[n] = (uint32_t)(p - fbase);
                o->rline[n] = ln++;
                n++;
                rstart = p + 1;
                j = 0;
                fs += nf;
                fe += nf;
                ff += nf;
                if (n >= max_n || rstart - fbase >= byte_lim)
                    goto stop;
            }
            cs = p + 1;
            sep &= sep - 1;
        }
        if (odd != 0)
            goto stop; /* in the field that continues past this block */
        b += 64;
    }
stop:
    *pos = rstart;
    *line = ln;
    return n - n0;
}

/* ================================================================ reader */

typedef tb_bufrd csv_rd;

/* Skip the BOM and the `skip` leading lines of a freshly opened input. */
static tb_rc rd_prologue(csv_rd *rd, const tb_csv_opts *opts, tb_err *err)
{
    uint64_t k = opts->skip;
    tb_rc rc = tb_bufrd_ensure(rd, 3, err);

    if (rc != TB_OK)
        return rc;
    if (rd->len - rd->pos >= 3 && memcmp(rd->data + rd->pos, "\xEF\xBB\xBF", 3) == 0)
        rd->pos += 3;
    while (k > 0) {
        const uint8_t *p = rd->data + rd->pos, *end = rd->data + rd->len;
        while (p < end && *p != '\n' && *p != '\r')
            p++;
        if (p == end) {
            rd->pos = rd->len;
            if (rd->eof)
                break;
        } else if (*p == '\n' || p + 1 < end || rd->eof) {
            p += (*p == '\r' && p + 1 < end && p[1] == '\n') ? 2 : 1;
            rd->pos = (size_t)(p - rd->data);
            rd->line++;
            k--;
            continue;
        } else {
            rd->pos = (size_t)(p - rd->data); /* CR at the end: LF may follow */
        }
        rc = tb_bufrd_fill(rd, err);
        if (rc != TB_OK)
            return rc;
    }
    return TB_OK;
}

/*
 * Next whole record (fields stored relative to data + rec->start, i.e. fbase = start),
 * reading more as needed. *out_st is TOK_OK or TOK_EOF. Used for headers and
 * inference, where nothing refers to the buffer across records.
 */
static tb_rc rd_record(const csv_lex *lx, csv_rd *rd, uint32_t *fs, uint32_t *fe, uint8_t *ff,
                       uint32_t fcap, csv_rec *rec, int *out_st, tb_err *err)
{
    for (;;) {
        int st;
        tb_rc rc;
        /* fbase is unknown before blank lines are skipped: tokenize once to find the
         * start, then (rarely) again with the right base. */
        st = tokenize(lx, rd->data, rd->pos, rd->len, rd->eof, rd->pos, fs, fe, ff, fcap,
                      rec);
        rd->pos = rec->skip_to;
        rd->line += rec->skip_lines;
        if (st == TOK_OK && rec->skip_lines > 0)
            st = tokenize(lx, rd->data, rd->pos, rd->len, rd->eof, rd->pos, fs, fe, ff, fcap,
                          rec);
        *out_st = st;
        if (st == TOK_EOF)
            return TB_OK;
        if (st == TOK_OK)
            return rec->end - rec->start > rd->max_line ? tb_bufrd_too_long(rd, rd->line, err)
                                                        : TB_OK;
        rc = tb_bufrd_fill(rd, err);
        if (rc != TB_OK)
            return rc;
    }
}

/* ================================================================ value parsers */

typedef enum pv { PV_OK = 0, PV_INVALID, PV_RANGE, PV_NOMEM } pv;

static inline bool is_blank(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static inline void trim_blank(const char **p, const char **e)
{
    while (*p < *e && is_blank((uint8_t)**p))
        (*p)++;
    while (*e > *p && is_blank((uint8_t)(*e)[-1]))
        (*e)--;
}

static inline pv parse_int(const char *p, const char *e, int64_t lo, int64_t hi, int64_t *out)
{
    bool neg = false, over = false;
    uint64_t acc = 0, limit;

    if (p < e && (*p == '-' || *p == '+')) {
        neg = *p == '-';
        p++;
    }
    if (p == e)
        return PV_INVALID;
    for (; p < e; p++) {
        unsigned dg = (unsigned)(uint8_t)*p - '0';
        if (dg > 9)
            return PV_INVALID;
        if (acc > (UINT64_MAX - 9) / 10)
            over = true;
        else
            acc = acc * 10 + dg;
    }
    limit = neg ? (uint64_t)(-(lo + 1)) + 1 : (uint64_t)hi;
    if (over || acc > limit)
        return PV_RANGE;
    *out = neg ? (acc == 0 ? 0 : -(int64_t)(acc - 1) - 1) : (int64_t)acc;
    return PV_OK;
}

#if CSV_SWAR
/* n (1..8) ASCII digits at q, 8 bytes readable at q: their value, false if a non-digit.
 * The digits are moved to the top bytes and the bottom padded with '0', then converted
 * 8 at a time with multiplications (no loop, no data-dependent branch). */
static inline bool swar_digits(const char *q, size_t n, uint64_t *out)
{
    uint64_t v;

    memcpy(&v, q, 8);
    v <<= 8 * (8 - n);
    v |= 0x3030303030303030ULL & (n == 8 ? 0 : ~0ULL >> (8 * n));
    if (((v & 0xF0F0F0F0F0F0F0F0ULL) |
         (((v + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) >> 4)) != 0x3333333333333333ULL)
        return false;
    v -= 0x3030303030303030ULL;
    v = (v * 10) + (v >> 8);
    *out = (uint32_t)((((v & 0x000000FF000000FFULL) * (100 + (1000000ULL << 32))) +
                       (((v >> 16) & 0x000000FF000000FFULL) * (1 + (10000ULL << 32)))) >>
                      32);
    return true;
}
#endif

/*
 * parse_int for the common field of 1..16 digits (after an optional sign), converted by
 * swar_digits instead of a loop whose exit the branch predictor misses. Needs 8
 * readable bytes from the digits' start when there are fewer than 8 digits (lim is the
 * end of readable memory); same results as parse_int, which handles the rest.
 */
static inline pv parse_int_fast(const char *p, const char *e, const char *lim, int64_t lo,
                                int64_t hi, int64_t *out)
{
#if CSV_SWAR
    const char *q = p;
    bool neg = false;
    size_t n;
    uint64_t acc, low;

    if (q < e && (*q == '-' || *q == '+')) {
        neg = *q == '-';
        q++;
    }
    n = (size_t)(e - q);
    if (TB_LIKELY(n >= 1 && n <= 8 && lim - q >= 8)) {
        if (!swar_digits(q, n, &acc))
            return PV_INVALID;
    } else if (n > 8 && n <= 16) {
        if (!swar_digits(q, n - 8, &acc) || !swar_digits(e - 8, 8, &low))
            return PV_INVALID;
        acc = acc * 100000000ULL + low;
    } else {
        return parse_int(p, e, lo, hi, out);
    }
    if (neg) {
        if (acc > (uint64_t)(-(lo + 1)) + 1)
            return PV_RANGE;
        *out = -(int64_t)acc;
    } else {
        if (acc > (uint64_t)hi)
            return PV_RANGE;
        *out = (int64_t)acc;
    }
    return PV_OK;
#else
    (void)lim;
    return parse_int(p, e, lo, hi, out);
#endif
}

static const double P10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                             1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                             1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
static const float P10F[] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f,
                             1e6f, 1e7f, 1e8f, 1e9f, 1e10f};

/*
 * Plain decimal syntax [+-]digits[.digits][(e|E)[+-]digits]: mantissa (if at most 19
 * digits, else *ok_m false) and power of ten. Returns false if the text is not of that
 * form (then strtod decides: inf, nan, hex, or invalid).
 */
static inline bool dec_split(const char *p, const char *e, bool *neg, uint64_t *m, int *exp10,
                             bool *ok_m)
{
    unsigned nd = 0, any = 0;
    int ex = 0;

    *neg = false;
    *m = 0;
    *ok_m = true;
    if (p < e && (*p == '-' || *p == '+')) {
        *neg = *p == '-';
        p++;
    }
    for (; p < e; p++) {
        unsigned dg = (unsigned)(uint8_t)*p - '0';
        if (dg > 9)
            break;
        any = 1;
        if (*m == 0 && dg == 0)
            continue; /* leading zeros */
        if (nd < 19)
            *m = *m * 10 + dg;
        else
            ex++;
        nd++;
    }
    if (p < e && *p == '.') {
        for (p++; p < e; p++) {
            unsigned dg = (unsigned)(uint8_t)*p - '0';
            if (dg > 9)
                break;
            any = 1;
            if (*m == 0 && dg == 0) {
                ex--;
                continue;
            }
            if (nd < 19) {
                *m = *m * 10 + dg;
                ex--;
            }
            nd++;
        }
    }
    if (!any)
        return false;
    if (nd > 19)
        *ok_m = false; /* digits were dropped: not exact */
    if (p < e && (*p == 'e' || *p == 'E')) {
        bool eneg = false;
        int ev = 0;
        p++;
        if (p < e && (*p == '-' || *p == '+')) {
            eneg = *p == '-';
            p++;
        }
        if (p == e)
            return false;
        for (; p < e; p++) {
            unsigned dg = (unsigned)(uint8_t)*p - '0';
            if (dg > 9)
                return false;
            if (ev < 100000)
                ev = ev * 10 + (int)dg;
        }
        ex += eneg ? -ev : ev;
    }
    if (p != e)
        return false;
    *exp10 = ex;
    return true;
}

/* NUL-terminated copy of [p, e) for strtod/strtof. */
static const char *cstr_of(tb_buf *tmp, const char *p, const char *e)
{
    tmp->len = 0;
    if (tb_buf_append(tmp, p, (size_t)(e - p)) != TB_OK)
        return NULL;
    return tb_buf_cstr(tmp);
}

/* strtod/strtof skip leading white space; a field must not start with any. */
static bool strto_start_ok(const char *s)
{
    return s[0] != '\0' && s[0] != ' ' && !(s[0] >= '\t' && s[0] <= '\r');
}

static pv parse_f64_slow(tb_buf *tmp, const char *p, const char *e, double *out)
{
    const char *s = cstr_of(tmp, p, e);
    char *endp;
    double v;

    if (s == NULL)
        return PV_NOMEM;
    if (!strto_start_ok(s))
        return PV_INVALID;
    errno = 0;
    v = strtod(s, &endp);
    if (endp == s || *endp != '\0')
        return PV_INVALID;
    if (errno == ERANGE && isinf(v))
        return PV_RANGE;
    *out = v;
    return PV_OK;
}

/* Exactly strtod's result: Clinger's fast path when the mantissa and the power of ten
 * are both exact doubles (one correctly rounded IEEE operation), strtod otherwise. */
static inline pv parse_f64(tb_buf *tmp, const char *p, const char *e, double *out)
{
#if FLT_EVAL_METHOD == 0
    bool neg, ok_m;
    uint64_t m;
    int ex;

    if (TB_LIKELY(dec_split(p, e, &neg, &m, &ex, &ok_m)) && ok_m &&
        m <= ((uint64_t)1 << 53) && ex >= -22 && ex <= 22) {
        double d = (double)m;
        d = ex < 0 ? d / P10[-ex] : d * P10[ex];
        *out = neg ? -d : d;
        return PV_OK;
    }
#endif
    return parse_f64_slow(tmp, p, e, out);
}

static pv parse_f32(tb_buf *tmp, const char *p, const char *e, float *out)
{
    const char *s;
    char *endp;
    float v;
#if FLT_EVAL_METHOD == 0
    bool neg, ok_m;
    uint64_t m;
    int ex;

    if (dec_split(p, e, &neg, &m, &ex, &ok_m) && ok_m && m <= ((uint64_t)1 << 24) &&
        ex >= -10 && ex <= 10) {
        float f = (float)m;
        f = ex < 0 ? f / P10F[-ex] : f * P10F[ex];
        *out = neg ? -f : f;
        return PV_OK;
    }
#endif
    s = cstr_of(tmp, p, e);
    if (s == NULL)
        return PV_NOMEM;
    if (!strto_start_ok(s))
        return PV_INVALID;
    errno = 0;
    v = strtof(s, &endp);
    if (endp == s || *endp != '\0')
        return PV_INVALID;
    if (errno == ERANGE && isinf(v))
        return PV_RANGE;
    *out = v;
    return PV_OK;
}

static inline pv parse_bool(const char *p, const char *e, uint8_t *out)
{
    size_t n = (size_t)(e - p);
    char b[6];
    size_t i;

    if (n == 0 || n > 5)
        return PV_INVALID;
    for (i = 0; i < n; i++)
        b[i] = (char)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i]);
    b[n] = '\0';
    if (!strcmp(b, "true") || !strcmp(b, "t") || !strcmp(b, "1") || !strcmp(b, "yes") ||
        !strcmp(b, "y") || !strcmp(b, "on")) {
        *out = 1;
        return PV_OK;
    }
    if (!strcmp(b, "false") || !strcmp(b, "f") || !strcmp(b, "0") || !strcmp(b, "no") ||
        !strcmp(b, "n") || !strcmp(b, "off")) {
        *out = 0;
        return PV_OK;
    }
    return PV_INVALID;
}

static pv parse_decimal(const char *p, const char *e, tb_type t, tb_i128 *out)
{
    tb_i128 v, lim;

    if (!tb_i128_parse(p, (size_t)(e - p), t.scale, &v))
        return PV_INVALID;
    if (t.precision > 0 && t.precision <= 38) {
        lim = tb_i128_pow10(t.precision);
        if (v >= lim || v <= -lim)
            return PV_RANGE;
    }
    *out = v;
    return PV_OK;
}

/* Read 1..maxd digits (exactly 4 for the year). */
static bool fmt_num(const char *s, size_t n, size_t *i, unsigned mind, unsigned maxd,
                    unsigned *out, unsigned *nd)
{
    unsigned v = 0, k = 0;

    while (*i < n && k < maxd && (unsigned)(uint8_t)s[*i] - '0' <= 9) {
        v = v * 10 + ((unsigned)(uint8_t)s[*i] - '0');
        (*i)++;
        k++;
    }
    *out = v;
    if (nd != NULL)
        *nd = k;
    return k >= mind;
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Parse s with a validated format (fmt_valid) into microseconds since the epoch. */
static bool fmt_parse(const char *fmt, const char *s, size_t n, int64_t *out_us)
{
    static const unsigned char dim[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y = 1970, mo = 1, d = 1, hh = 0, mi = 0, ss = 0, frac = 0, nd, md;
    size_t i = 0;

    for (; *fmt != '\0'; fmt++) {
        if (*fmt != '%' || fmt[1] == '%') {
            if (i >= n || s[i] != *fmt)
                return false;
            i++;
            fmt += *fmt == '%';
            continue;
        }
        fmt++;
        switch (*fmt) {
        case 'Y':
            if (!fmt_num(s, n, &i, 4, 4, &y, NULL))
                return false;
            break;
        case 'm':
            if (!fmt_num(s, n, &i, 1, 2, &mo, NULL))
                return false;
            break;
        case 'd':
            if (!fmt_num(s, n, &i, 1, 2, &d, NULL))
                return false;
            break;
        case 'H':
            if (!fmt_num(s, n, &i, 1, 2, &hh, NULL))
                return false;
            break;
        case 'M':
            if (!fmt_num(s, n, &i, 1, 2, &mi, NULL))
                return false;
            break;
        case 'S':
            if (!fmt_num(s, n, &i, 1, 2, &ss, NULL))
                return false;
            break;
        default: /* 'f': 1..9 digits, truncated to microseconds */
            if (!fmt_num(s, n, &i, 1, 9, &frac, &nd))
                return false;
            for (; nd < 6; nd++)
                frac *= 10;
            for (; nd > 6; nd--)
                frac /= 10;
            break;
        }
    }
    if (i != n || y == 0 || mo < 1 || mo > 12 || hh > 23 || mi > 59 || ss > 59)
        return false;
    md = mo == 2 ? 28u + is_leap(y) : dim[mo];
    if (d < 1 || d > md)
        return false;
    *out_us = tb_days_from_civil(y, mo, d) * TB_USEC_PER_DAY +
              ((int64_t)hh * 3600 + (int64_t)mi * 60 + ss) * TB_USEC_PER_SEC + frac;
    return true;
}

static inline bool parse_ts(const tb_csv_opts *opts, const char *p, const char *e,
                            int64_t *out)
{
    if (opts->ts_fmt != NULL)
        return fmt_parse(opts->ts_fmt, p, (size_t)(e - p), out);
    return tb_parse_timestamp(p, (size_t)(e - p), out);
}

static inline bool parse_date(const tb_csv_opts *opts, const char *p, const char *e,
                              int32_t *out)
{
    if (opts->date_fmt != NULL) {
        int64_t us, days;
        if (!fmt_parse(opts->date_fmt, p, (size_t)(e - p), &us))
            return false;
        days = us / TB_USEC_PER_DAY - (us % TB_USEC_PER_DAY < 0);
        *out = (int32_t)days;
        return true;
    }
    return tb_parse_date(p, (size_t)(e - p), out);
}

/* Remove quote doubling / escape chars from quoted content into dst (>= e - p bytes). */
static size_t unescape(const csv_lex *lx, const char *p, const char *e, char *dst)
{
    char *o = dst;

    while (p < e) {
        char c = *p++;
        if (lx->dbl && c == (char)lx->quote && p < e && *p == c)
            p++;
        else if (lx->esc_distinct && c == (char)lx->escape && p < e)
            c = *p++;
        *o++ = c;
    }
    return (size_t)(o - dst);
}

/* Parse one non-text field (already unescaped, trimmed, non-empty) of type t into the
 * slot `dst` of a vector. */
static pv parse_value(const tb_csv_opts *opts, tb_buf *tmp, tb_type t, const char *p,
                      const char *e, void *dst)
{
    int64_t i64 = 0;
    pv r;

    switch ((tb_type_id)t.id) {
    case TB_T_BOOL:
        return parse_bool(p, e, (uint8_t *)dst);
    case TB_T_INT16:
        r = parse_int(p, e, INT16_MIN, INT16_MAX, &i64);
        if (r == PV_OK)
            *(int16_t *)dst = (int16_t)i64;
        return r;
    case TB_T_INT32:
        r = parse_int(p, e, INT32_MIN, INT32_MAX, &i64);
        if (r == PV_OK)
            *(int32_t *)dst = (int32_t)i64;
        return r;
    case TB_T_INT64:
        return parse_int(p, e, INT64_MIN, INT64_MAX, (int64_t *)dst);
    case TB_T_FLOAT:
        return parse_f32(tmp, p, e, (float *)dst);
    case TB_T_DOUBLE:
        return parse_f64(tmp, p, e, (double *)dst);
    case TB_T_DECIMAL:
        return parse_decimal(p, e, t, (tb_i128 *)dst);
    case TB_T_DATE:
        return parse_date(opts, p, e, (int32_t *)dst) ? PV_OK : PV_INVALID;
    case TB_T_TIMESTAMP:
        return parse_ts(opts, p, e, (int64_t *)dst) ? PV_OK : PV_INVALID;
    case TB_T_INTERVAL:
        return tb_parse_interval(p, (size_t)(e - p), (tb_interval *)dst) ? PV_OK : PV_INVALID;
    default:
        return PV_INVALID;
    }
}

/* ================================================================ source */

/* csv.c's rbad bits (TB_TR_BAD_EMPTY is the core's) */
#define BAD_MULTI 32 /* decoder: a second record in the message */

typedef struct csv_src {
    tb_trd t; /* the text-record core: inputs, rows, modes (textrec_int.h) */
    tb_csv_opts *opts;
    csv_lex lx;
    tb_schema *tschema; /* table schema */
    int *proj;
    uint32_t nf;   /* data fields per record (table columns minus the corrupt one) */
    int *fidx;     /* per table column: its field index, -1 for the corrupt column */
    int corrupt;   /* table index of the corrupt column, or -1 */
    /* per-batch scratch: rows_cap rows, nf fields each (row-major) */
    uint32_t *fs, *fe;
    uint8_t *ff;
    uint8_t *rbadch;
    uint32_t *rnf;
    int32_t *rbadcol; /* table column of the first value fault */
    /* Data columns the query does not read, checked all the same (issue 13: whether a
     * record is malformed must not depend on which columns a query reads), their values
     * parsed into `scratch` and dropped. */
    int *chk;
    uint32_t n_chk;
    void *scratch; /* rows_cap values of the widest type */
    tb_buf tmp;
} csv_src;

/* Append a value to a message: quoted, truncated, non-printables as \xNN. */
static void show_value(tb_buf *b, const char *p, size_t n)
{
    (void)tb_buf_putc(b, '\'');
    tb_tr_show(b, (const uint8_t *)p, n);
    (void)tb_buf_putc(b, '\'');
}

/* Field j of row r (segment-relative offsets) as [p, e) after unescaping into tmp;
 * false on OOM. */
static bool field_text(csv_src *s, const char *base, uint32_t r, uint32_t j, const char **p,
                       const char **e, tb_buf *tmp)
{
    size_t k = (size_t)r * s->nf + j;
    size_t n;

    *p = base + s->fs[k];
    *e = base + s->fe[k];
    if (!(s->ff[k] & F_ESC))
        return true;
    if (tb_buf_reserve(tmp, (size_t)(*e - *p) + 1) != TB_OK)
        return false;
    n = unescape(&s->lx, *p, *e, tmp->data);
    tmp->len = n;
    *p = tmp->data;
    *e = tmp->data + n;
    return true;
}

/* The reason a row is malformed, into s->t.msg (NUL-terminated). */
static const char *row_reason(tb_trd *t, const uint8_t *ubase, uint32_t r)
{
    csv_src *s = (csv_src *)t;
    const char *base = (const char *)ubase;
    tb_buf *b = &s->t.msg;
    uint8_t bad = s->t.rbad[r];

    b->len = 0;
    if (bad & BAD_MULTI) {
        (void)tb_buf_puts(b, "more than one record");
    } else if (bad & BAD_UNTERM) {
        (void)tb_buf_puts(b, "unterminated quoted field");
    } else if (bad & BAD_NUL) {
        (void)tb_buf_puts(b, "NUL byte in record");
    } else if (bad & BAD_AFTERQ) {
        (void)tb_buf_puts(b, "unexpected character ");
        show_value(b, (const char *)&s->rbadch[r], 1);
        (void)tb_buf_puts(b, " after closing quote");
    } else if (bad & BAD_COUNT) {
        (void)tb_buf_printf(b, "expected %u fields, found %u", s->nf, s->rnf[r]);
    } else {
        int col = s->rbadcol[r];
        const tb_field *f = &s->tschema->fields[col];
        const char *p, *e;
        char tbuf[64];
        const char *tname;
        pv why = PV_INVALID;
        tb_buf tmp2 = {0};
        union {
            tb_i128 dec;
            tb_interval iv;
            int64_t i;
            double d;
        } slot;

        (void)field_text(s, base, r, (uint32_t)s->fidx[col], &p, &e, &tmp2);
        tname = tb_type_name(f->type, tbuf, sizeof(tbuf));
        if (f->type.id == TB_T_STRING) {
            (void)tb_buf_printf(b, "column '%s': invalid UTF-8", f->name);
        } else {
            trim_blank(&p, &e);
            why = parse_value(s->opts, &s->tmp, f->type, p, e, &slot);
            if (why == PV_RANGE) {
                (void)tb_buf_printf(b, "column '%s': value ", f->name);
                show_value(b, p, (size_t)(e - p));
                (void)tb_buf_printf(b, " out of range for type %s", tname);
            } else {
                (void)tb_buf_printf(b, "column '%s': invalid %s ", f->name, tname);
                show_value(b, p, (size_t)(e - p));
            }
        }
        tb_buf_free(&tmp2);
    }
    return tb_buf_cstr(b) != NULL ? b->data : "out of memory";
}

static inline void mark_bad(csv_src *s, uint32_t r, int col)
{
    if (!(s->t.rbad[r] & BAD_VALUE) || col < s->rbadcol[r])
        s->rbadcol[r] = col;
    s->t.rbad[r] |= BAD_VALUE;
}

static inline bool is_null_text(const csv_src *s, const char *p, const char *e, uint8_t fl)
{
    return !(fl & F_QUOTED) && (size_t)(e - p) == s->opts->null_len &&
           memcmp(p, s->opts->null_str, s->opts->null_len) == 0;
}

static inline unsigned dig(char c)
{
    return (unsigned)(uint8_t)c - '0'; /* > 9 when not a digit */
}

/* The last date seen by ts_fast: timestamps of a file mostly share a few dates. */
typedef struct ts_cache {
    bool valid;
    uint64_t k8; /* the first 10 bytes "YYYY-MM-DD" */
    uint16_t k2;
    int64_t day_us;
} ts_cache;

/*
 * "YYYY-MM-DD HH:MM:SS" (or 'T'), optionally ".f" with 1..6 digits, all fields in range:
 * the value, exactly as tb_parse_timestamp gives it. Anything else returns false and
 * the general parser decides (other forms, out-of-range fields, errors).
 */
static inline bool ts_fast(const char *p, size_t n, ts_cache *c, int64_t *out)
{
    static const uint8_t dim[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    uint64_t k8;
    uint16_t k2;
    unsigned frac = 0;

    if (n != 19 && !(n >= 21 && n <= 26 && p[19] == '.'))
        return false;
    memcpy(&k8, p, 8);
    memcpy(&k2, p + 8, 2);
    if (TB_UNLIKELY(!c->valid || k8 != c->k8 || k2 != c->k2)) {
        unsigned y0 = dig(p[0]), y1 = dig(p[1]), y2 = dig(p[2]), y3 = dig(p[3]);
        unsigned m0 = dig(p[5]), m1 = dig(p[6]), d0 = dig(p[8]), d1 = dig(p[9]);
        if (p[4] != '-' || p[7] != '-' ||
            ((y0 > 9) | (y1 > 9) | (y2 > 9) | (y3 > 9) | (m0 > 9) | (m1 > 9) | (d0 > 9) |
             (d1 > 9)))
            return false;
        unsigned y = y0 * 1000 + y1 * 100 + y2 * 10 + y3, m = m0 * 10 + m1, d = d0 * 10 + d1;
        if (y == 0 || m - 1 > 11 || d == 0)
            return false;
        unsigned md = dim[m] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
        if (d > md)
            return false;
        c->day_us = tb_days_from_civil(y, m, d) * TB_USEC_PER_DAY;
        c->k8 = k8;
        c->k2 = k2;
        c->valid = true;
    }
    unsigned h0 = dig(p[11]), h1 = dig(p[12]), i0 = dig(p[14]), i1 = dig(p[15]);
    unsigned s0 = dig(p[17]), s1 = dig(p[18]);
    if ((p[10] != ' ' && p[10] != 'T') || p[13] != ':' || p[16] != ':' ||
        ((h0 > 9) | (h1 > 9) | (i0 > 9) | (i1 > 9) | (s0 > 9) | (s1 > 9)))
        return false;
    unsigned hh = h0 * 10 + h1, mi = i0 * 10 + i1, ss = s0 * 10 + s1;
    if (hh > 23 || mi > 59 || ss > 59)
        return false;
    if (n > 19) {
        size_t k;
        for (k = 20; k < n; k++) {
            unsigned v = dig(p[k]);
            if (v > 9)
                return false;
            frac = frac * 10 + v;
        }
        for (; k < 26; k++)
            frac *= 10;
    }
    *out = c->day_us + ((int64_t)hh * 3600 + mi * 60 + ss) * TB_USEC_PER_SEC + frac;
    return true;
}

/*
 * Convert field `j` of rows [r0, r1) into non-text vector v (table column col).
 * Integer, timestamp and double columns have dedicated paths; the rest go through
 * parse_value. With the default null string (""), a plain field (no quotes) is tried
 * first with the fast parsers: a value they accept is one the general path accepts
 * with the same result (no blanks, not the null string); the others take the general
 * path.
 */
static tb_rc conv_fixed(csv_src *s, tb_vec *v, uint32_t cap, int col, uint32_t j,
                        uint32_t r0, uint32_t r1, const char *base, const char *lim,
                        tb_arena *arena)
{
    const uint32_t nf = s->nf;
    const tb_type t = v->type;
    const size_t w = tb_type_width(t);
    char *data = (char *)v->data;
    uint32_t r;
    int64_t lo = 0, hi = 0;

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
    const bool easy = s->opts->null_len == 0 && !s->opts->careful_only;
    const bool is_ts = t.id == TB_T_TIMESTAMP && s->opts->ts_fmt == NULL;
    ts_cache tc = {false, 0, 0, 0};
    for (r = r0; r < r1; r++) {
        size_t k = (size_t)r * nf + j;
        const char *p = base + s->fs[k], *e = base + s->fe[k];
        const char *l = lim; /* end of readable memory after p */
        uint8_t fl = s->ff[k];
        pv res;

        if (TB_LIKELY(easy && fl == 0 && p != e)) {
            if (hi != 0) {
                int64_t x;
                if (TB_LIKELY(parse_int_fast(p, e, l, lo, hi, &x) == PV_OK)) {
                    if (w == 4)
                        TB_VEC_PTR(v, int32_t)[r] = (int32_t)x;
                    else if (w == 8)
                        TB_VEC_PTR(v, int64_t)[r] = x;
                    else
                        TB_VEC_PTR(v, int16_t)[r] = (int16_t)x;
                    continue;
                }
            } else if (is_ts) {
                if (TB_LIKELY(ts_fast(p, (size_t)(e - p), &tc, &TB_VEC_PTR(v, int64_t)[r])))
                    continue;
            }
        }
        if (TB_UNLIKELY(fl & (F_MISSING | F_ESC))) {
            if (fl & F_MISSING)
                goto null;
            if (!field_text(s, base, r, j, &p, &e, &s->t.msg))
                return TB_E_NOMEM;
            l = e;
        }
        if (TB_UNLIKELY(is_null_text(s, p, e, fl & F_QUOTED)))
            goto null;
        if (TB_UNLIKELY(p == e || is_blank((uint8_t)*p) || is_blank((uint8_t)e[-1]))) {
            trim_blank(&p, &e);
            if (p == e)
                goto null;
        }
        if (hi != 0) {
            int64_t x;
            res = parse_int_fast(p, e, l, lo, hi, &x);
            if (TB_LIKELY(res == PV_OK)) {
                if (w == 4)
                    TB_VEC_PTR(v, int32_t)[r] = (int32_t)x;
                else if (w == 8)
                    TB_VEC_PTR(v, int64_t)[r] = x;
                else
                    TB_VEC_PTR(v, int16_t)[r] = (int16_t)x;
                continue;
            }
        } else if (t.id == TB_T_DOUBLE) {
            res = parse_f64(&s->tmp, p, e, &TB_VEC_PTR(v, double)[r]);
        } else {
            res = parse_value(s->opts, &s->tmp, t, p, e, data + (size_t)r * w);
        }
        if (TB_LIKELY(res == PV_OK))
            continue;
        if (res == PV_NOMEM)
            return TB_E_NOMEM;
        mark_bad(s, r, col);
    null:
        if (w > 0)
            memset(data + (size_t)r * w, 0, w);
        if (tb_vec_set_null(v, r, cap, arena) != TB_OK)
            return TB_E_NOMEM;
    }
    return TB_OK;
}

/*
 * Check field j of rows [r0, r1) of an integer column the query does not read: a plain
 * field of 1 .. maxd digits (maxd: digits that always fit the type) is valid, checked 8
 * bytes at a time without converting it; any other field goes through conv_fixed into
 * scratch vector v, which marks the row bad as reading it would.
 */
static tb_rc check_int(csv_src *s, tb_vec *v, uint32_t cap, int col, uint32_t j, uint32_t r0,
                       uint32_t r1, const char *base, const char *lim, tb_arena *arena)
{
#if CSV_SWAR
    const uint32_t nf = s->nf;
    const size_t maxd = v->type.id == TB_T_INT16 ? 4 : 8;
    const bool easy = s->opts->null_len == 0 && !s->opts->careful_only;
    uint32_t r;

    for (r = r0; r < r1; r++) {
        size_t k = (size_t)r * nf + j;
        const char *p = base + s->fs[k];
        size_t n = s->fe[k] - s->fs[k];
        if (TB_LIKELY(easy && s->ff[k] == 0 && n >= 1 && n <= maxd && lim - p >= 8)) {
            uint64_t x;
            memcpy(&x, p, 8);
            x <<= 8 * (8 - n);
            x |= 0x3030303030303030ULL & (n == 8 ? 0 : ~0ULL >> (8 * n));
            if (TB_LIKELY(((x & 0xF0F0F0F0F0F0F0F0ULL) |
                           (((x + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) >> 4)) ==
                          0x3333333333333333ULL))
                continue;
        }
        tb_rc rc = conv_fixed(s, v, cap, col, j, r, r + 1, base, lim, arena);
        if (rc != TB_OK)
            return rc;
    }
    return TB_OK;
#else
    return conv_fixed(s, v, cap, col, j, r0, r1, base, lim, arena);
#endif
}

/* Convert field j of rows [r0, r1) into text vector v: views into `copy` (the arena copy
 * of the segment), unescaped fields materialised in arena. */
static tb_rc conv_text(csv_src *s, tb_vec *v, uint32_t cap, int col, uint32_t j, uint32_t r0,
                       uint32_t r1, const char *copy, bool ascii, tb_arena *arena)
{
    const uint32_t nf = s->nf;
    tb_str *out = (tb_str *)v->data;
    uint32_t r;

    for (r = r0; r < r1; r++) {
        size_t k = (size_t)r * nf + j;
        const char *p = copy + s->fs[k], *e = copy + s->fe[k];
        uint8_t fl = s->ff[k];

        if (TB_UNLIKELY(fl & (F_MISSING | F_ESC))) {
            if (fl & F_MISSING)
                goto null;
            {
                char *dst = tb_arena_alloc(arena, (size_t)(e - p) + 1);
                if (dst == NULL)
                    return TB_E_NOMEM;
                e = dst + unescape(&s->lx, p, e, dst);
                p = dst;
            }
        }
        if (is_null_text(s, p, e, fl))
            goto null;
        if (TB_UNLIKELY(!ascii)) {
            if (!tb_utf8_valid(p, (size_t)(e - p)))
                goto bad;
        }
        if (TB_UNLIKELY(s->t.rbad[r] & BAD_NUL) && memchr(p, 0, (size_t)(e - p)) != NULL)
            goto null; /* reported as the NUL byte */
        out[r].ptr = p;
        out[r].len = (uint32_t)(e - p);
        continue;
    bad:
        mark_bad(s, r, col);
    null:
        out[r].ptr = NULL;
        out[r].len = 0;
        if (tb_vec_set_null(v, r, cap, arena) != TB_OK)
            return TB_E_NOMEM;
    }
    return TB_OK;
}


/*
 * Convert rows [r0, r1) of the batch, tokenized from the segment starting at `base`
 * (lim: the end of readable memory, for the integer parser's 8-byte loads).
 */
static tb_rc csv_convert(tb_trd *t, tb_batch *batch, uint32_t r0, uint32_t r1,
                         const uint8_t *ubase, const uint8_t *lim, tb_arena *arena, tb_err *err)
{
    csv_src *s = (csv_src *)t;
    const char *base = (const char *)ubase;
    const char *copy = NULL;
    bool ascii = true;
    uint32_t c, r;
    tb_rc rc;

    for (c = 0; c < t->n_proj; c++) {
        int col = s->proj[c];
        tb_vec *v = &batch->cols[c];
        if (col == s->corrupt)
            continue;
        if (v->type.id == TB_T_STRING) {
            if (copy == NULL) {
                size_t n = t->re[r1 - 1];
                copy = tb_arena_memdup(arena, base, n > 0 ? n : 1);
                if (copy == NULL)
                    return tb_err_nomem(err);
                ascii = tb_tr_all_ascii((const uint8_t *)base, n);
            }
            rc = conv_text(s, v, batch->cap, col, (uint32_t)s->fidx[col], r0, r1, copy, ascii,
                           arena);
        } else if (v->type.id == TB_T_NULL) {
            rc = TB_OK;
            for (r = r0; r < r1 && rc == TB_OK; r++)
                rc = tb_vec_set_null(v, r, batch->cap, arena);
        } else {
            rc = conv_fixed(s, v, batch->cap, col, (uint32_t)s->fidx[col], r0, r1, base,
                            (const char *)lim, arena);
        }
        if (rc != TB_OK)
            return tb_err_nomem(err);
    }
    for (c = 0; c < s->n_chk; c++) {
        int col = s->chk[c];
        tb_vec v = {s->tschema->fields[col].type, NULL, s->scratch};
        if (v.type.id == TB_T_STRING) {
            /* only invalid UTF-8 makes a text value bad (NULs are record faults) */
            if (copy == NULL) {
                copy = base; /* not kept: only whether it is ASCII */
                ascii = tb_tr_all_ascii(ubase, t->re[r1 - 1]);
            }
            if (ascii)
                continue;
            rc = conv_text(s, &v, batch->cap, col, (uint32_t)s->fidx[col], r0, r1, base, false,
                           arena);
        } else if (v.type.id == TB_T_INT16 || v.type.id == TB_T_INT32 ||
                   v.type.id == TB_T_INT64) {
            rc = check_int(s, &v, batch->cap, col, (uint32_t)s->fidx[col], r0, r1, base,
                           (const char *)lim, arena);
        } else {
            rc = conv_fixed(s, &v, batch->cap, col, (uint32_t)s->fidx[col], r0, r1, base,
                            (const char *)lim, arena);
        }
        if (rc != TB_OK)
            return tb_err_nomem(err);
    }
    return TB_OK;
}

/* A freshly opened input: BOM, `skip` lines, the header. */
static tb_rc csv_prologue(tb_trd *t, tb_err *err)
{
    csv_src *s = (csv_src *)t;
    tb_rc rc = rd_prologue(&t->rd, s->opts, err);

    if (rc == TB_OK && s->opts->header) {
        csv_rec rec;
        int st = TOK_EOF;
        rc = rd_record(&s->lx, &t->rd, NULL, NULL, NULL, 0, &rec, &st, err);
        if (rc == TB_OK && st == TOK_OK) {
            t->rd.pos = rec.next;
            t->rd.line += rec.lines;
        }
    }
    return rc;
}

/* Records of the read buffer into rows (tb_trd_fmt.scan): plain ones by tok_fast, the
 * rest (and the one that stopped it) by tokenize. */
static tb_rc csv_scan(tb_trd *t, size_t seg, size_t budget, uint32_t *io_n, int *out_st,
                      tb_err *err)
{
    csv_src *s = (csv_src *)t;
    tb_bufrd *rd = &t->rd;
    const bool fast = !s->opts->careful_only && s->nf > 0;
    const tokout tout = {s->nf, s->fs, s->fe, s->ff, t->rs, t->re, t->rline};
    uint32_t n = *io_n;
    int st = TOK_OK;
    (void)err;

    *out_st = TB_TR_FULL;
    while (n < t->rows_cap && rd->pos - seg < budget) {
        csv_rec rec;
        if (fast) {
            uint32_t k = tok_fast(&s->lx, rd->data, &rd->pos, rd->len, seg, rd->max_line,
                                  budget, &rd->line, &tout, n, t->rows_cap);
            n += k;
            if (k > 0)
                continue; /* then tokenize() takes the record that stopped it */
        }
        uint32_t *fs = s->fs + (size_t)n * s->nf, *fe = s->fe + (size_t)n * s->nf;
        st = tokenize(&s->lx, rd->data, rd->pos, rd->len, rd->eof, seg, fs, fe,
                      s->ff + (size_t)n * s->nf, s->nf, &rec);
        rd->pos = rec.skip_to;
        rd->line += rec.skip_lines;
        if (st != TOK_OK) {
            *out_st = st == TOK_EOF ? TB_TR_EOF : TB_TR_MORE;
            break;
        }
        if (TB_UNLIKELY(rec.end - rec.start > rd->max_line)) {
            *out_st = TB_TR_LONG;
            break;
        }
        t->rs[n] = (uint32_t)(rec.start - seg);
        t->re[n] = (uint32_t)(rec.end - seg);
        t->rline[n] = rd->line;
        t->rbad[n] = rec.bad;
        s->rbadch[n] = rec.bad_char;
        s->rnf[n] = rec.n_fields;
        rd->line += rec.lines;
        rd->pos = rec.next;
        n++;
    }
    *io_n = n;
    return TB_OK;
}

/* One message as one record (the decoder): a record, then only line breaks. */
static tb_rc csv_scan_record(tb_trd *t, const uint8_t *base, size_t start, size_t end,
                             uint32_t n, bool *empty, tb_err *err)
{
    csv_src *s = (csv_src *)t;
    csv_rec rec;
    uint32_t *fs = s->fs + (size_t)n * s->nf, *fe = s->fe + (size_t)n * s->nf;
    uint8_t *ff = s->ff + (size_t)n * s->nf;
    int st = tokenize(&s->lx, base, start, end, true, 0, fs, fe, ff, s->nf, &rec);
    (void)err;

    *empty = st != TOK_OK;
    s->rnf[n] = 0;
    s->rbadch[n] = 0;
    if (st != TOK_OK) {
        for (uint32_t j = 0; j < s->nf; j++) {
            fs[j] = fe[j] = 0;
            ff[j] = F_MISSING;
        }
        return TB_OK;
    }
    t->rbad[n] = rec.bad;
    s->rbadch[n] = rec.bad_char;
    s->rnf[n] = rec.n_fields;
    for (size_t p = rec.next; p < end; p++) {
        if (base[p] != '\n' && base[p] != '\r') {
            t->rbad[n] |= BAD_MULTI;
            break;
        }
    }
    return TB_OK;
}

static void csv_free_parts(tb_trd *t)
{
    csv_src *s = (csv_src *)t;

    tb_csv_opts_free(s->opts);
    tb_schema_free(s->tschema);
    tb_free(s->proj);
    tb_free(s->fidx);
    tb_free(s->fs);
    tb_free(s->fe);
    tb_free(s->ff);
    tb_free(s->rbadch);
    tb_free(s->rnf);
    tb_free(s->rbadcol);
    tb_free(s->chk);
    tb_free(s->scratch);
    tb_buf_free(&s->tmp);
}

static void csv_free(tb_source *src)
{
    tb_trd_free((tb_trd *)src);
}

static const tb_trd_fmt CSV_FMT = {"csv",       "record",        true,        false,
                                   csv_prologue, csv_scan,       csv_scan_record, csv_convert,
                                   row_reason,  csv_free_parts};
static const tb_source_vt CSV_VT = {"csv", tb_trd_next, csv_free};

void tb_csv_source_on_bad_record(tb_source *src, tb_csv_bad_record_fn fn, void *ud)
{
    csv_src *s = (csv_src *)src;

    if (src == NULL || src->vt != &CSV_VT)
        return;
    s->t.bad_fn = fn;
    s->t.bad_ud = ud;
}

/* Everything but the inputs. */
static tb_rc src_new(const tb_csv_opts *opts, const tb_schema *schema, const int *proj,
                     uint32_t n_proj, csv_src **out, tb_err *err)
{
    csv_src *s = NULL;
    uint32_t i, k;
    size_t cells;
    tb_rc rc;

    *out = NULL;
    if (opts == NULL || schema == NULL || (n_proj > 0 && proj == NULL))
        return TB_ERRF(err, TB_E_MISUSE, "csv: NULL argument");
    rc = opts_check(opts, err);
    if (rc != TB_OK)
        return rc;
    for (i = 0; i < n_proj; i++) {
        if (proj[i] < 0 || (uint32_t)proj[i] >= schema->n)
            return TB_ERRF(err, TB_E_MISUSE, "csv: projection index %d out of range (%u columns)",
                           proj[i], schema->n);
    }
    s = tb_calloc(1, sizeof(*s));
    if (s == NULL)
        return tb_err_nomem(err);
    s->t.base.vt = &CSV_VT;
    s->t.fmt = &CSV_FMT;
    s->t.corrupt_out = -1;
    s->t.rd.fd = -1;
    s->corrupt = -1;
    s->opts = tb_csv_opts_copy(opts);
    s->tschema = tb_schema_copy(schema);
    s->t.base.schema = tb_schema_new(n_proj);
    s->proj = tb_tr_alloc_n(n_proj, sizeof(int));
    s->fidx = tb_tr_alloc_n(schema->n, sizeof(int));
    if (s->opts == NULL || s->tschema == NULL || s->t.base.schema == NULL || s->proj == NULL ||
        s->fidx == NULL)
        goto nomem;
    s->t.o = &s->opts->tr;
    lex_init(&s->lx, s->opts);
    if (opts->tr.corrupt != NULL) {
        s->corrupt = tb_schema_find(schema, opts->tr.corrupt);
        if (s->corrupt >= 0 && schema->fields[s->corrupt].type.id != TB_T_STRING) {
            rc = TB_ERRF(err, TB_E_TYPE, "read_csv: corrupt column '%s' must be of type text",
                         opts->tr.corrupt);
            goto fail;
        }
    }
    for (i = 0, k = 0; i < schema->n; i++)
        s->fidx[i] = (int)i == s->corrupt ? -1 : (int)k++;
    s->nf = k;
    for (i = 0; i < n_proj; i++) {
        const tb_field *f = &schema->fields[proj[i]];
        s->proj[i] = proj[i];
        if (proj[i] == s->corrupt)
            s->t.corrupt_out = (int)i;
        rc = tb_schema_set(s->t.base.schema, i, f->name, f->type, true);
        if (rc != TB_OK)
            goto nomem;
    }
    s->t.n_proj = n_proj;
    rc = tb_trd_init(&s->t, s->nf, err);
    if (rc != TB_OK)
        goto fail;
    s->chk = tb_tr_alloc_n(schema->n, sizeof(int));
    s->scratch = tb_tr_alloc_n(s->t.rows_cap, 16); /* tb_i128, tb_interval */
    if (s->chk == NULL || s->scratch == NULL)
        goto nomem;
    for (i = 0; i < schema->n; i++) {
        bool read = false;
        for (k = 0; k < n_proj && !read; k++)
            read = proj[k] == (int)i;
        if (!read && (int)i != s->corrupt && schema->fields[i].type.id != TB_T_NULL)
            s->chk[s->n_chk++] = (int)i;
    }
    cells = (size_t)s->t.rows_cap * s->nf;
    s->fs = tb_tr_alloc_n(cells, sizeof(uint32_t));
    s->fe = tb_tr_alloc_n(cells, sizeof(uint32_t));
    s->ff = tb_tr_alloc_n(cells, 1);
    s->rbadch = tb_tr_alloc_n(s->t.rows_cap, 1);
    s->rnf = tb_tr_alloc_n(s->t.rows_cap, sizeof(uint32_t));
    s->rbadcol = tb_tr_alloc_n(s->t.rows_cap, sizeof(int32_t));
    if (s->fs == NULL || s->fe == NULL || s->ff == NULL || s->rbadch == NULL || s->rnf == NULL ||
        s->rbadcol == NULL)
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

tb_rc tb_csv_trd_new(const tb_csv_opts *opts, const tb_schema *schema, const int *proj,
                     uint32_t n_proj, tb_trd **out, tb_err *err)
{
    csv_src *s = NULL;
    tb_rc rc = src_new(opts, schema, proj, n_proj, &s, err);

    *out = rc == TB_OK ? &s->t : NULL;
    return rc;
}

static tb_rc ctor(const void *opts, const tb_schema *schema, const int *proj, uint32_t n_proj,
                  tb_trd **out, tb_err *err)
{
    return tb_csv_trd_new(opts, schema, proj, n_proj, out, err);
}

tb_rc tb_csv_source_new(const tb_strlist *paths, const tb_csv_opts *opts,
                        const tb_schema *schema, const int *proj, uint32_t n_proj,
                        tb_source **out_src, tb_err *err)
{
    return tb_trd_source_files(ctor, "csv", paths, opts, schema, proj, n_proj, out_src, err);
}

tb_rc tb_csv_source_from_buffer(const char *name, const char *data, size_t len,
                                const tb_csv_opts *opts, const tb_schema *schema,
                                const int *proj, uint32_t n_proj, tb_source **out_src,
                                tb_err *err)
{
    return tb_trd_source_buffer(ctor, "csv", name, data, len, opts, schema, proj, n_proj,
                                out_src, err);
}

/* ================================================================ morsels */

/*
 * Parallel reading: a file-mode source is split into one morsel per file. A morsel
 * reader is a source of the same configuration limited to one file at a time, so its
 * rows, line numbers and messages are those of the serial source for that file.
 * Sources with a bad-record callback are not split (the callback is not thread safe),
 * nor are in-memory ones (one input).
 */
tb_rc tb_csv_source_morsels(tb_source *src, uint64_t *out_n, tb_err *err)
{
    csv_src *s = (csv_src *)src;

    *out_n = 0;
    if (src == NULL || src->vt != &CSV_VT)
        return TB_ERRF(err, TB_E_MISUSE, "csv: not a CSV source");
    if (s->t.mem_name != NULL || s->t.bad_fn != NULL)
        return TB_OK;
    *out_n = s->t.paths.n;
    return TB_OK;
}

tb_rc tb_csv_morsel_reader(tb_source *src, tb_source **out, tb_err *err)
{
    csv_src *s = (csv_src *)src, *r = NULL;
    tb_rc rc;

    *out = NULL;
    if (src == NULL || src->vt != &CSV_VT)
        return TB_ERRF(err, TB_E_MISUSE, "csv: not a CSV source");
    rc = src_new(s->opts, s->tschema, s->proj, s->t.n_proj, &r, err);
    if (rc != TB_OK)
        return rc;
    rc = tb_trd_set_files(&r->t, &s->t.paths, err);
    if (rc != TB_OK) {
        tb_trd_free(&r->t);
        return rc;
    }
    r->t.done = true; /* nothing to read until a morsel is chosen */
    *out = &r->t.base;
    return TB_OK;
}

tb_rc tb_csv_seek_morsel(tb_source *reader, uint64_t i, tb_err *err)
{
    csv_src *s = (csv_src *)reader;

    if (reader == NULL || reader->vt != &CSV_VT || i >= s->t.paths.n)
        return TB_ERRF(err, TB_E_MISUSE, "csv: no morsel %llu", (unsigned long long)i);
    if (s->t.open)
        tb_trd_close_input(&s->t);
    s->t.next_file = (size_t)i;
    s->t.file_end = (size_t)i + 1;
    s->t.done = false;
    return TB_OK;
}

/* ================================================================ inference */

enum { K_NONE, K_BOOL, K_INT32, K_INT64, K_DOUBLE, K_DATE, K_TS, K_TEXT };

static int kind_join(int a, int b)
{
    if (a == b || b == K_NONE)
        return a;
    if (a == K_NONE)
        return b;
    if (a == K_TEXT || b == K_TEXT)
        return K_TEXT;
    if ((a == K_INT32 || a == K_INT64 || a == K_DOUBLE) &&
        (b == K_INT32 || b == K_INT64 || b == K_DOUBLE))
        return TB_MAX(a, b);
    if ((a == K_DATE || a == K_TS) && (b == K_DATE || b == K_TS))
        return K_TS;
    return K_TEXT;
}

static int classify(const tb_csv_opts *opts, tb_buf *tmp, const char *p, const char *e)
{
    size_t n = (size_t)(e - p);
    int64_t i64, us;
    int32_t days;
    double d;
    bool neg, ok_m;
    uint64_t m;
    int ex;

    if (tb_str_nieq(p, n, "true") || tb_str_nieq(p, n, "false"))
        return K_BOOL;
    switch (parse_int(p, e, INT64_MIN, INT64_MAX, &i64)) {
    case PV_OK:
        return (i64 >= INT32_MIN && i64 <= INT32_MAX) ? K_INT32 : K_INT64;
    case PV_RANGE:
        return K_DOUBLE;
    default:
        break;
    }
    if (dec_split(p, e, &neg, &m, &ex, &ok_m) && parse_f64(tmp, p, e, &d) == PV_OK)
        return K_DOUBLE;
    if ((n == 3 && memcmp(p, "NaN", 3) == 0) || (n == 8 && memcmp(p, "Infinity", 8) == 0) ||
        (n == 9 && (memcmp(p, "-Infinity", 9) == 0 || memcmp(p, "+Infinity", 9) == 0)))
        return K_DOUBLE;
    if (opts->date_fmt != NULL ? parse_date(opts, p, e, &days)
                               : (memchr(p, ':', n) == NULL && parse_date(opts, p, e, &days)))
        return K_DATE;
    if (parse_ts(opts, p, e, &us))
        return K_TS;
    return K_TEXT;
}

static tb_type kind_type(int k)
{
    switch (k) {
    case K_BOOL:
        return tb_type_make(TB_T_BOOL);
    case K_INT32:
        return tb_type_make(TB_T_INT32);
    case K_INT64:
        return tb_type_make(TB_T_INT64);
    case K_DOUBLE:
        return tb_type_make(TB_T_DOUBLE);
    case K_DATE:
        return tb_type_make(TB_T_DATE);
    case K_TS:
        return tb_type_make(TB_T_TIMESTAMP);
    default:
        return tb_type_make(TB_T_STRING);
    }
}

typedef struct infer_st {
    uint32_t fcap;
    uint32_t *fs, *fe;
    uint8_t *ff;
    uint32_t ncols; /* 0 until the first record */
    char **names;
    int *kinds;
    uint64_t rows;
} infer_st;

static tb_rc infer_grow(infer_st *st, uint32_t n, tb_err *err)
{
    uint32_t *fs, *fe;
    uint8_t *ff;

    if (n <= st->fcap)
        return TB_OK;
    fs = tb_realloc(st->fs, (size_t)n * sizeof(uint32_t));
    if (fs != NULL)
        st->fs = fs;
    fe = tb_realloc(st->fe, (size_t)n * sizeof(uint32_t));
    if (fe != NULL)
        st->fe = fe;
    ff = tb_realloc(st->ff, n);
    if (ff != NULL)
        st->ff = ff;
    if (fs == NULL || fe == NULL || ff == NULL)
        return tb_err_nomem(err);
    st->fcap = n;
    return TB_OK;
}

/* Inference over one file; stops when sample_rows rows were seen. */
static tb_rc infer_file(const char *path, const tb_csv_opts *opts, const csv_lex *lx,
                        infer_st *st, tb_buf *tmp, tb_err *err)
{
    csv_rd rd;
    csv_rec rec;
    bool first = true;
    tb_rc rc;
    uint32_t j;

    rc = tb_bufrd_open_file(&rd, "csv", "record", path, opts->tr.chunk, opts->tr.max_line, err);
    if (rc == TB_OK)
        rc = rd_prologue(&rd, opts, err);
    while (rc == TB_OK && st->rows < opts->tr.sample_rows) {
        int t = TOK_EOF;
        const char *base;

        rc = rd_record(lx, &rd, st->fs, st->fe, st->ff, st->fcap, &rec, &t, err);
        if (rc != TB_OK || t == TOK_EOF)
            break;
        if (st->ncols == 0) {
            /* The first record fixes the column count: re-tokenize it (rd.pos is still
             * at its start) if it has more fields than we have room for. */
            if (rec.n_fields > CSV_MAX_COLUMNS) {
                rc = TB_ERRF(err, TB_E_LIMIT, "csv: %s:%llu: too many columns (%u, at most %u)",
                             path, (unsigned long long)rd.line, rec.n_fields, CSV_MAX_COLUMNS);
                break;
            }
            if (rec.n_fields > st->fcap) {
                rc = infer_grow(st, rec.n_fields, err);
                if (rc != TB_OK)
                    break;
                continue;
            }
            st->ncols = rec.n_fields;
            st->names = tb_calloc(st->ncols, sizeof(char *));
            st->kinds = tb_calloc(st->ncols, sizeof(int));
            if (st->names == NULL || st->kinds == NULL) {
                rc = tb_err_nomem(err);
                break;
            }
        }
        base = (const char *)rd.data + rec.start;
        if (first && opts->header) {
            first = false;
            if (st->names[0] == NULL && st->ncols > 0) {
                for (j = 0; j < st->ncols; j++) {
                    const char *p = base + st->fs[j], *e = base + st->fe[j];
                    char *name = tb_malloc((size_t)(e - p) + 1);
                    size_t n;
                    if (name == NULL) {
                        rc = tb_err_nomem(err);
                        break;
                    }
                    n = (st->ff[j] & F_ESC) ? unescape(lx, p, e, name)
                                            : (memcpy(name, p, (size_t)(e - p)),
                                               (size_t)(e - p));
                    name[n] = '\0';
                    st->names[j] = name;
                }
            }
            rd.pos = rec.next;
            rd.line += rec.lines;
            continue;
        }
        first = false;
        for (j = 0; j < st->ncols && j < rec.n_fields && j < st->fcap; j++) {
            const char *p = base + st->fs[j], *e = base + st->fe[j];
            uint8_t fl = st->ff[j];
            if (st->kinds[j] == K_TEXT)
                continue;
            if (fl & (F_MISSING | F_ESC)) {
                if (fl & F_ESC)
                    st->kinds[j] = K_TEXT;
                continue;
            }
            if (!(fl & F_QUOTED) && (size_t)(e - p) == opts->null_len &&
                memcmp(p, opts->null_str, opts->null_len) == 0)
                continue;
            trim_blank(&p, &e);
            if (p == e)
                continue;
            st->kinds[j] = kind_join(st->kinds[j], classify(opts, tmp, p, e));
        }
        st->rows++;
        rd.pos = rec.next;
        rd.line += rec.lines;
    }
    tb_bufrd_close(&rd);
    return rc;
}

tb_rc tb_csv_infer_schema(const tb_strlist *paths, const tb_csv_opts *opts,
                          tb_schema **out_schema, tb_err *err)
{
    infer_st st;
    csv_lex lx;
    tb_buf tmp = {0};
    tb_schema *schema = NULL, *full = NULL;
    tb_rc rc = TB_OK;
    size_t i;
    uint32_t j;

    if (out_schema == NULL)
        return TB_ERRF(err, TB_E_MISUSE, "csv: NULL argument");
    *out_schema = NULL;
    if (paths == NULL || opts == NULL)
        return TB_ERRF(err, TB_E_MISUSE, "csv: NULL argument");
    if (opts->tr.schema != NULL)
        return tb_tr_with_corrupt(opts->tr.schema, opts->tr.corrupt, out_schema, err);
    rc = opts_check(opts, err);
    if (rc != TB_OK)
        return rc;
    memset(&st, 0, sizeof(st));
    lex_init(&lx, opts);
    rc = infer_grow(&st, 64, err);
    for (i = 0; rc == TB_OK && i < paths->n && st.rows < opts->tr.sample_rows; i++)
        rc = infer_file(paths->items[i], opts, &lx, &st, &tmp, err);
    if (rc != TB_OK)
        goto done;
    if (st.ncols == 0) {
        rc = TB_ERRF(err, TB_E_PARSE, "csv: cannot infer a schema: no records in '%s'%s",
                     paths->n > 0 ? paths->items[0] : "", paths->n > 1 ? " and the others" : "");
        goto done;
    }
    schema = tb_schema_new(st.ncols);
    if (schema == NULL) {
        rc = tb_err_nomem(err);
        goto done;
    }
    for (j = 0; j < st.ncols; j++) {
        char buf[64];
        const char *name = st.names[j];
        uint32_t k;
        bool dup = false;
        if (name == NULL || name[0] == '\0') {
            (void)snprintf(buf, sizeof(buf), "column%u", j);
            name = buf;
        } else {
            for (k = 0; k < st.ncols && !dup; k++)
                dup = k != j && st.names[k] != NULL && tb_str_ieq(st.names[k], name);
        }
        if (dup) {
            char *nn = tb_malloc(strlen(name) + 16);
            if (nn == NULL) {
                rc = tb_err_nomem(err);
                goto done;
            }
            (void)snprintf(nn, strlen(name) + 16, "%s%u", name, j);
            rc = tb_schema_set(schema, j, nn, kind_type(st.kinds[j]), true);
            tb_free(nn);
        } else {
            rc = tb_schema_set(schema, j, name, kind_type(st.kinds[j]), true);
        }
        if (rc != TB_OK) {
            rc = tb_err_nomem(err);
            goto done;
        }
    }
    if (opts->tr.corrupt != NULL && tb_schema_find(schema, opts->tr.corrupt) >= 0) {
        rc = TB_ERRF(err, TB_E_SQL, "read_csv: corrupt_column '%s' is also a column of '%s'",
                     opts->tr.corrupt, paths->items[0]);
        goto done;
    }
    rc = tb_tr_with_corrupt(schema, opts->tr.corrupt, &full, err);
    if (rc == TB_OK)
        *out_schema = full;
done:
    if (st.names != NULL) {
        for (j = 0; j < st.ncols; j++)
            tb_free(st.names[j]);
    }
    tb_free(st.names);
    tb_free(st.kinds);
    tb_free(st.fs);
    tb_free(st.fe);
    tb_free(st.ff);
    tb_buf_free(&tmp);
    tb_schema_free(schema);
    return rc;
}
