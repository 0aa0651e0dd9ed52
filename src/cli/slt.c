/*
 * slt.c - a sqllogictest runner (`tributary slt [-v] FILE...`), the format of SQLite's
 * sqllogictest (https://sqlite.org/sqllogictest): records separated by blank lines.
 *
 *   statement ok | statement error       SQL until a blank line (statement error may be
 *                                        followed by "----" and text the message contains)
 *   query <types> [nosort|rowsort|valuesort] [label]
 *   SQL
 *   ----
 *   expected results: one value per line, or one row per line (values separated by
 *   spaces or tabs), or "N values hashing to <md5>"
 *   hash-threshold N   results with more than N values are compared by hash
 *   skipif ENGINE / onlyif ENGINE   (we are "tributary"; every other name is another
 *                                    engine, postgresql included)
 *   halt                           stop the file here
 *   loop ... endloop               not supported: the block is skipped
 *   ${NAME} in SQL                 replaced by the environment variable (records using an
 *                                  unset variable are skipped), e.g. ${TB_TESTDATA}
 *
 * Values are rendered as sqllogictest does: NULL as "NULL"; I as an integer (other
 * numbers truncated, text converted by its leading digits); R with "%.3f"; T as text,
 * "(empty)" for the empty string and '@' for control and non-ASCII bytes. The hash is
 * MD5 (RFC 1321, implemented below) over every value followed by "\n", after sorting.
 *
 * Each file runs on a fresh engine. Invariant: a failing record never stops the file
 * (only `halt` does), so one run reports every failure.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/slt.h"
#include "sql/sql.h"

/* ================================================================ MD5 (RFC 1321) */

typedef struct md5_ctx {
    uint32_t a, b, c, d;
    uint64_t len; /* bytes */
    uint8_t buf[64];
    uint32_t n; /* bytes in buf */
} md5_ctx;

static const uint32_t md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};
static const uint8_t md5_r[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                  5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                                  4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                  6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

static void md5_init(md5_ctx *m)
{
    m->a = 0x67452301;
    m->b = 0xefcdab89;
    m->c = 0x98badcfe;
    m->d = 0x10325476;
    m->len = 0;
    m->n = 0;
}

static uint32_t rotl(uint32_t x, uint32_t c) { return (x << c) | (x >> (32 - c)); }

static void md5_block(md5_ctx *m, const uint8_t *p)
{
    uint32_t w[16];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[i * 4] | (uint32_t)p[i * 4 + 1] << 8 | (uint32_t)p[i * 4 + 2] << 16 |
               (uint32_t)p[i * 4 + 3] << 24;
    uint32_t a = m->a, b = m->b, c = m->c, d = m->d;
    for (uint32_t i = 0; i < 64; i++) {
        uint32_t f, g;
        if (i < 16) {
            f = (b & c) | (~b & d);
            g = i;
        } else if (i < 32) {
            f = (d & b) | (~d & c);
            g = (5 * i + 1) & 15;
        } else if (i < 48) {
            f = b ^ c ^ d;
            g = (3 * i + 5) & 15;
        } else {
            f = c ^ (b | ~d);
            g = (7 * i) & 15;
        }
        uint32_t t = d;
        d = c;
        c = b;
        b = b + rotl(a + f + md5_k[i] + w[g], md5_r[i]);
        a = t;
    }
    m->a += a;
    m->b += b;
    m->c += c;
    m->d += d;
}

static void md5_update(md5_ctx *m, const void *data, size_t len)
{
    const uint8_t *p = data;
    m->len += len;
    while (len > 0) {
        uint32_t take = 64 - m->n;
        if (take > len)
            take = (uint32_t)len;
        memcpy(m->buf + m->n, p, take);
        m->n += take;
        p += take;
        len -= take;
        if (m->n == 64) {
            md5_block(m, m->buf);
            m->n = 0;
        }
    }
}

static void md5_final(md5_ctx *m, char hex[33])
{
    uint64_t bits = m->len * 8;
    uint8_t pad = 0x80;
    md5_update(m, &pad, 1);
    pad = 0;
    while (m->n != 56)
        md5_update(m, &pad, 1);
    uint8_t lenb[8];
    for (int i = 0; i < 8; i++)
        lenb[i] = (uint8_t)(bits >> (8 * i));
    md5_update(m, lenb, 8);
    uint32_t words[4] = {m->a, m->b, m->c, m->d};
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", (words[i / 4] >> (8 * (i % 4))) & 0xff);
    hex[32] = '\0';
}

/* ================================================================ file reading */

typedef struct lines {
    char **v;
    size_t n;
} lines;

static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return NULL;
    tb_buf buf = {0};
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
        if (tb_buf_append(&buf, chunk, got) != TB_OK) {
            fclose(fp);
            tb_buf_free(&buf);
            return NULL;
        }
    }
    fclose(fp);
    if (tb_buf_cstr(&buf) == NULL) {
        tb_buf_free(&buf);
        return NULL;
    }
    return buf.data;
}

static bool split_lines(char *text, lines *out)
{
    size_t cap = 1024;
    out->v = tb_malloc(cap * sizeof(char *));
    out->n = 0;
    if (out->v == NULL)
        return false;
    char *p = text;
    while (*p != '\0') {
        char *e = p;
        while (*e != '\0' && *e != '\n')
            e++;
        bool last = *e == '\0';
        *e = '\0';
        if (e > p && e[-1] == '\r')
            e[-1] = '\0';
        if (out->n == cap) {
            char **nv = tb_realloc(out->v, cap * 2 * sizeof(char *));
            if (nv == NULL)
                return false;
            out->v = nv;
            cap *= 2;
        }
        out->v[out->n++] = p;
        if (last)
            break;
        p = e + 1;
    }
    return true;
}

static bool blank(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return *s == '\0';
}

/* ================================================================ running */

typedef struct runner {
    bool verbose;
    bool complete; /* print the file with actual results (writing tests) */
    int max_fail;
    int hash_threshold;
    long passed, failed, skipped;
    const char *file;
    tb_db *db;
    /* labels: label -> hash */
    char **labels;
    char **label_hashes;
    size_t n_labels;
} runner;

static void report_fail(runner *r, size_t line, const char *sql, const char *what,
                        const char *expected, const char *actual)
{
    FILE *fp = r->complete ? stderr : stdout;
    r->failed++;
    if (r->complete && expected == NULL)
        printf("ERROR: %s\n", what);
    if (!r->verbose || r->failed > r->max_fail)
        return;
    fprintf(fp, "%s:%zu: FAIL: %s\n  SQL: %s\n", r->file, line, what, sql);
    if (expected != NULL)
        fprintf(fp, "  expected:\n%s\n", expected);
    if (actual != NULL)
        fprintf(fp, "  actual:\n%s\n", actual);
}

/* Render one value as sqllogictest does for type letter t; appends to buf. */
static tb_rc render(tb_result *res, int col, char t, tb_buf *buf)
{
    if (tb_result_is_null(res, col))
        return tb_buf_puts(buf, "NULL");
    const char *ctype = tb_result_column_type(res, col);
    bool is_text = ctype != NULL && strcmp(ctype, "text") == 0;
    if (t == 'I') {
        int64_t v;
        if (is_text) {
            const char *s = tb_result_text(res, col);
            v = strtoll(s != NULL ? s : "", NULL, 10);
        } else {
            v = tb_result_int(res, col);
        }
        return tb_buf_printf(buf, "%lld", (long long)v);
    }
    if (t == 'R') {
        double d;
        if (is_text) {
            const char *s = tb_result_text(res, col);
            d = strtod(s != NULL ? s : "", NULL);
        } else {
            d = tb_result_double(res, col);
        }
        return tb_buf_printf(buf, "%.3f", d);
    }
    const char *s = tb_result_text(res, col);
    if (s == NULL)
        return tb_buf_puts(buf, "NULL");
    if (*s == '\0')
        return tb_buf_puts(buf, "(empty)");
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        tb_rc rc = tb_buf_putc(buf, (c < ' ' || c > '~') ? '@' : (char)c);
        if (rc != TB_OK)
            return rc;
    }
    return TB_OK;
}

typedef struct strvec {
    char **v;
    size_t n, cap;
} strvec;

static bool sv_push(strvec *s, char *x)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        char **nv = tb_realloc(s->v, nc * sizeof(char *));
        if (nv == NULL)
            return false;
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n++] = x;
    return true;
}

static void sv_free(strvec *s)
{
    for (size_t i = 0; i < s->n; i++)
        tb_free(s->v[i]);
    tb_free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t g_ncols; /* for row sorting (qsort has no context argument) */
static int cmp_row(const void *a, const void *b)
{
    char *const *ra = *(char *const *const *)a;
    char *const *rb = *(char *const *const *)b;
    for (size_t i = 0; i < g_ncols; i++) {
        int c = strcmp(ra[i], rb[i]);
        if (c != 0)
            return c;
    }
    return 0;
}

static char *join_lines(char **v, size_t n, size_t max)
{
    tb_buf b = {0};
    for (size_t i = 0; i < n && i < max; i++) {
        if (tb_buf_puts(&b, v[i]) != TB_OK || tb_buf_putc(&b, '\n') != TB_OK)
            break;
    }
    if (n > max)
        (void)tb_buf_printf(&b, "... (%zu lines)\n", n);
    if (tb_buf_cstr(&b) == NULL) {
        tb_buf_free(&b);
        return NULL;
    }
    return b.data;
}

static bool parse_hash_line(const char *s, long *n, char hash[33])
{
    char h[64];
    if (sscanf(s, "%ld values hashing to %63s", n, h) != 2 || strlen(h) != 32)
        return false;
    memcpy(hash, h, 33);
    return true;
}

/* Normalise an expected row line: tabs -> spaces. */
static char *norm_row(const char *s)
{
    char *d = tb_strdup(s);
    if (d == NULL)
        return NULL;
    for (char *p = d; *p; p++)
        if (*p == '\t')
            *p = ' ';
    return d;
}

static void run_query(runner *r, size_t line, const char *sql, const char *types,
                      const char *sortmode, const char *label, char **expected, size_t n_exp)
{
    tb_result *res = NULL;
    tb_rc rc = tb_db_exec(r->db, sql, &res);
    if (rc != TB_OK) {
        report_fail(r, line, sql, tb_db_errmsg(r->db), NULL, NULL);
        return;
    }
    size_t ncols = (size_t)tb_result_column_count(res);
    size_t ntypes = strlen(types);
    strvec vals = {0};
    bool oom = false;
    for (;;) {
        int has = 0;
        rc = tb_result_step(res, &has);
        if (rc != TB_OK || !has)
            break;
        for (size_t c = 0; c < ncols; c++) {
            tb_buf b = {0};
            char t = c < ntypes ? types[c] : 'T';
            if (render(res, (int)c, t, &b) != TB_OK || tb_buf_cstr(&b) == NULL ||
                !sv_push(&vals, b.data)) {
                tb_buf_free(&b);
                oom = true;
                break;
            }
        }
        if (oom)
            break;
    }
    if (rc != TB_OK || oom) {
        report_fail(r, line, sql, oom ? "out of memory" : tb_db_errmsg(r->db), NULL, NULL);
        tb_result_free(&res);
        sv_free(&vals);
        return;
    }
    tb_result_free(&res);
    if (ncols != ntypes) {
        char msg[128];
        snprintf(msg, sizeof(msg), "wrong number of columns: %zu, types say %zu", ncols, ntypes);
        report_fail(r, line, sql, msg, NULL, NULL);
        sv_free(&vals);
        return;
    }
    size_t nrows = ncols ? vals.n / ncols : 0;
    if (strcmp(sortmode, "rowsort") == 0 && nrows > 1) {
        char ***rows = tb_malloc(nrows * sizeof(char **));
        char **sorted = tb_malloc(vals.n * sizeof(char *));
        if (rows != NULL && sorted != NULL) {
            for (size_t i = 0; i < nrows; i++)
                rows[i] = &vals.v[i * ncols];
            g_ncols = ncols;
            qsort(rows, nrows, sizeof(char **), cmp_row);
            for (size_t i = 0; i < nrows; i++)
                memcpy(&sorted[i * ncols], rows[i], ncols * sizeof(char *));
            memcpy(vals.v, sorted, vals.n * sizeof(char *));
        }
        tb_free(rows);
        tb_free(sorted);
    } else if (strcmp(sortmode, "valuesort") == 0 && vals.n > 1) {
        qsort(vals.v, vals.n, sizeof(char *), cmp_str);
    }
    /* hash of the actual values */
    md5_ctx m;
    md5_init(&m);
    for (size_t i = 0; i < vals.n; i++) {
        md5_update(&m, vals.v[i], strlen(vals.v[i]));
        md5_update(&m, "\n", 1);
    }
    char hash[33];
    md5_final(&m, hash);
    if (r->complete) {
        if (r->hash_threshold > 0 && vals.n > (size_t)r->hash_threshold) {
            printf("%zu values hashing to %s\n", vals.n, hash);
        } else {
            for (size_t i = 0; ncols > 0 && i < nrows; i++) {
                for (size_t c = 0; c < ncols; c++)
                    printf("%s%s", c ? " " : "", vals.v[i * ncols + c]);
                printf("\n");
            }
        }
    }

    long exp_n;
    char exp_hash[33];
    bool ok;
    char *exp_text = NULL, *act_text = NULL;
    if (n_exp == 1 && parse_hash_line(expected[0], &exp_n, exp_hash)) {
        ok = (size_t)exp_n == vals.n && strcmp(exp_hash, hash) == 0;
        if (!ok) {
            char buf[128];
            snprintf(buf, sizeof(buf), "%zu values hashing to %s", vals.n, hash);
            act_text = join_lines(vals.v, vals.n, 40);
            exp_text = tb_strdup(expected[0]);
            char *full = NULL;
            if (act_text != NULL) {
                size_t l = strlen(buf) + strlen(act_text) + 2;
                full = tb_malloc(l);
                if (full != NULL)
                    snprintf(full, l, "%s\n%s", buf, act_text);
            }
            tb_free(act_text);
            act_text = full;
        }
    } else if (n_exp == vals.n) {
        ok = true;
        for (size_t i = 0; i < n_exp && ok; i++) {
            char *e = norm_row(expected[i]);
            ok = e != NULL && strcmp(e, vals.v[i]) == 0;
            tb_free(e);
        }
    } else if (ncols > 0 && n_exp == nrows) {
        ok = true;
        for (size_t i = 0; i < nrows && ok; i++) {
            tb_buf b = {0};
            for (size_t c = 0; c < ncols; c++) {
                if (c > 0)
                    (void)tb_buf_putc(&b, ' ');
                (void)tb_buf_puts(&b, vals.v[i * ncols + c]);
            }
            char *e = norm_row(expected[i]);
            ok = e != NULL && tb_buf_cstr(&b) != NULL && strcmp(e, b.data) == 0;
            tb_free(e);
            tb_buf_free(&b);
        }
    } else {
        ok = false;
    }
    if (ok && label != NULL && label[0] != '\0') {
        for (size_t i = 0; i < r->n_labels; i++) {
            if (strcmp(r->labels[i], label) == 0) {
                if (strcmp(r->label_hashes[i], hash) != 0) {
                    ok = false;
                    exp_text = tb_strdup("(same results as the other queries of this label)");
                }
                label = NULL;
                break;
            }
        }
        if (label != NULL) {
            char **nl = tb_realloc(r->labels, (r->n_labels + 1) * sizeof(char *));
            if (nl != NULL) {
                r->labels = nl;
                char **nh = tb_realloc(r->label_hashes, (r->n_labels + 1) * sizeof(char *));
                if (nh != NULL) {
                    r->label_hashes = nh;
                    r->labels[r->n_labels] = tb_strdup(label);
                    r->label_hashes[r->n_labels] = tb_strdup(hash);
                    if (r->labels[r->n_labels] != NULL && r->label_hashes[r->n_labels] != NULL)
                        r->n_labels++;
                    else {
                        tb_free(r->labels[r->n_labels]);
                        tb_free(r->label_hashes[r->n_labels]);
                    }
                }
            }
        }
    }
    if (ok) {
        r->passed++;
    } else {
        if (exp_text == NULL)
            exp_text = join_lines(expected, n_exp, 40);
        if (act_text == NULL) {
            /* rows, one per line */
            strvec rows = {0};
            for (size_t i = 0; ncols > 0 && i < nrows; i++) {
                tb_buf b = {0};
                for (size_t c = 0; c < ncols; c++) {
                    if (c > 0)
                        (void)tb_buf_putc(&b, ' ');
                    (void)tb_buf_puts(&b, vals.v[i * ncols + c]);
                }
                if (tb_buf_cstr(&b) == NULL || !sv_push(&rows, b.data))
                    tb_buf_free(&b);
            }
            act_text = join_lines(rows.v, rows.n, 40);
            sv_free(&rows);
        }
        report_fail(r, line, sql, "wrong result", exp_text, act_text);
    }
    tb_free(exp_text);
    tb_free(act_text);
    sv_free(&vals);
}

static const char *word(const char *s, char *out, size_t cap)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = 0;
    while (*s != '\0' && *s != ' ' && *s != '\t') {
        if (n + 1 < cap)
            out[n++] = *s;
        s++;
    }
    out[n] = '\0';
    return s;
}

/* Expand ${NAME} from the environment (tests reference $TB_TESTDATA files). Returns a
 * heap string, or NULL when a variable is unset (the record is then skipped). */
static char *expand_env(const char *sql, bool *unset)
{
    tb_buf out = {0};
    *unset = false;
    for (const char *p = sql; *p != '\0'; p++) {
        if (p[0] == '$' && p[1] == '{') {
            const char *e = strchr(p + 2, '}');
            if (e != NULL && e - p - 2 < 64) {
                char name[64];
                memcpy(name, p + 2, (size_t)(e - p - 2));
                name[e - p - 2] = '\0';
                const char *v = getenv(name);
                if (v == NULL || v[0] == '\0') {
                    *unset = true;
                    tb_buf_free(&out);
                    return NULL;
                }
                (void)tb_buf_puts(&out, v);
                p = e;
                continue;
            }
        }
        (void)tb_buf_putc(&out, *p);
    }
    if (tb_buf_cstr(&out) == NULL) {
        tb_buf_free(&out);
        return NULL;
    }
    return out.data;
}

static int run_file(runner *r, const char *path)
{
    char *text = read_file(path);
    if (text == NULL) {
        fprintf(stderr, "error: cannot read %s\n", path);
        return -1;
    }
    lines L = {0};
    if (!split_lines(text, &L)) {
        tb_free(L.v);
        tb_free(text);
        fprintf(stderr, "error: out of memory reading %s\n", path);
        return -1;
    }
    if (tb_db_open(NULL, &r->db) != TB_OK) {
        tb_free(L.v);
        tb_free(text);
        fprintf(stderr, "error: cannot open an engine\n");
        return -1;
    }
    r->file = path;
    r->passed = r->failed = r->skipped = 0;
    r->hash_threshold = 0;
    size_t i = 0;
    bool skip = false;
    while (i < L.n) {
        const char *ln = L.v[i];
        if (blank(ln) || ln[0] == '#') {
            i++;
            continue;
        }
        char w1[64], w2[256], w3[64], w4[256];
        const char *rest = word(ln, w1, sizeof(w1));
        rest = word(rest, w2, sizeof(w2));
        rest = word(rest, w3, sizeof(w3));
        word(rest, w4, sizeof(w4));
        size_t rec_line = i + 1;
        if (strcmp(w1, "skipif") == 0) {
            if (strcmp(w2, "tributary") == 0)
                skip = true;
            i++;
            continue;
        }
        if (strcmp(w1, "onlyif") == 0) {
            if (strcmp(w2, "tributary") != 0)
                skip = true;
            i++;
            continue;
        }
        if (strcmp(w1, "hash-threshold") == 0) {
            r->hash_threshold = atoi(w2);
            i++;
            continue;
        }
        if (strcmp(w1, "halt") == 0) {
            i++;
            if (skip) {
                skip = false;
                continue;
            }
            break;
        }
        if (strcmp(w1, "loop") == 0) {
            while (i < L.n && strncmp(L.v[i], "endloop", 7) != 0)
                i++;
            i++;
            r->skipped++;
            skip = false;
            continue;
        }
        if (strcmp(w1, "statement") != 0 && strcmp(w1, "query") != 0) {
            /* unknown record: skip it */
            while (i < L.n && !blank(L.v[i]))
                i++;
            r->skipped++;
            skip = false;
            continue;
        }
        i++;
        /* SQL lines */
        tb_buf sql = {0};
        while (i < L.n && !blank(L.v[i]) && strcmp(L.v[i], "----") != 0) {
            if (sql.len > 0)
                (void)tb_buf_putc(&sql, '\n');
            (void)tb_buf_puts(&sql, L.v[i]);
            i++;
        }
        char **expected = NULL;
        size_t n_exp = 0;
        if (i < L.n && strcmp(L.v[i], "----") == 0) {
            i++;
            expected = &L.v[i];
            while (i < L.n && !blank(L.v[i])) {
                n_exp++;
                i++;
            }
        }
        const char *q = tb_buf_cstr(&sql);
        if (q == NULL) {
            tb_buf_free(&sql);
            break;
        }
        bool unset = false;
        char *expanded = skip ? NULL : expand_env(q, &unset);
        if (skip || expanded == NULL) {
            r->skipped++;
            skip = false;
            tb_buf_free(&sql);
            continue;
        }
        q = expanded;
        if (r->complete) {
            printf("%s\n%s\n", ln, tb_buf_cstr(&sql));
            if (strcmp(w1, "query") == 0)
                printf("----\n");
            else if (n_exp > 0) {
                printf("----\n");
                for (size_t k = 0; k < n_exp; k++)
                    printf("%s\n", expected[k]);
            }
        }
        if (strcmp(w1, "statement") == 0) {
            tb_rc rc = tb_db_exec(r->db, q, NULL);
            bool want_ok = strcmp(w2, "ok") == 0;
            if (!want_ok && rc != TB_OK && n_exp > 0) {
                /* statement error + "----" + text the message must contain */
                char *want = join_lines(expected, n_exp, n_exp);
                if (want != NULL && want[0] != '\0')
                    want[strlen(want) - 1] = '\0'; /* the last newline */
                if (want != NULL && strstr(tb_db_errmsg(r->db), want) != NULL)
                    r->passed++;
                else
                    report_fail(r, rec_line, q, "wrong error message", want, tb_db_errmsg(r->db));
                tb_free(want);
            } else if ((rc == TB_OK) == want_ok)
                r->passed++;
            else
                report_fail(r, rec_line, q,
                            want_ok ? tb_db_errmsg(r->db)
                                    : "statement succeeded, expected an error",
                            NULL, NULL);
        } else {
            const char *sortmode = w3[0] ? w3 : "nosort";
            run_query(r, rec_line, q, w2, sortmode, w4, expected, n_exp);
        }
        if (r->complete)
            printf("\n");
        tb_free(expanded);
        tb_buf_free(&sql);
    }
    fprintf(r->complete ? stderr : stdout, "%s: %ld passed, %ld failed, %ld skipped\n", path,
            r->passed, r->failed, r->skipped);
    fflush(stdout);
    tb_db_close(&r->db);
    for (size_t k = 0; k < r->n_labels; k++) {
        tb_free(r->labels[k]);
        tb_free(r->label_hashes[k]);
    }
    tb_free(r->labels);
    tb_free(r->label_hashes);
    r->labels = r->label_hashes = NULL;
    r->n_labels = 0;
    tb_free(L.v);
    tb_free(text);
    return r->failed > 0 ? 1 : 0;
}

int tb_cli_slt(int argc, char **argv)
{
    runner r;
    memset(&r, 0, sizeof(r));
    r.max_fail = 10;
    int n_files = 0, status = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) {
            r.verbose = true;
        } else if (strcmp(argv[i], "--complete") == 0) {
            r.complete = true;
        } else if (strcmp(argv[i], "--max-fail") == 0 && i + 1 < argc) {
            r.max_fail = atoi(argv[++i]);
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: tributary slt [-v] [--max-fail N] FILE...\n");
            return 2;
        }
    }
    long tp = 0, tf = 0, ts = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--complete") == 0)
            continue;
        if (strcmp(argv[i], "--max-fail") == 0) {
            i++;
            continue;
        }
        n_files++;
        int rc = run_file(&r, argv[i]);
        if (rc != 0)
            status = 1;
        tp += r.passed;
        tf += r.failed;
        ts += r.skipped;
    }
    if (n_files == 0) {
        fprintf(stderr, "usage: tributary slt [-v] [--max-fail N] FILE...\n");
        return 2;
    }
    if (n_files > 1)
        printf("total: %ld passed, %ld failed, %ld skipped\n", tp, tf, ts);
    return status;
}
