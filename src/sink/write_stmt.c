/*
 * write_stmt.c - the statements that write (see write_stmt.h): COPY TO Parquet / CSV
 * files, and Delta tables declared, created, appended, overwritten and truncated.
 *
 * Invariants:
 *   - a file written by COPY appears whole or not at all: rows go to a hidden temp file
 *     in the target's directory ("<dir>/.<name>.tmp-<pid>"), which is fsynced and then
 *     renamed over the target; on any error the temp file is removed;
 *   - a Delta write is one commit: the data files written before it are invisible until
 *     the commit names them, and removed when the statement fails;
 *   - a Delta relation declared here (its catalog entry, vt `delta_rel_vt`) reads the
 *     table's latest version at every query that scans it, so rows committed by INSERT,
 *     another statement or another process are seen by the next query;
 *   - statements this module does not know are declined with TB_E_UNSUPPORTED, leaving
 *     them to the SQL layer's "not supported" error.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pg_query/pg_query.pb-c.h>

#include "format/codec.h"
#include "format/delta.h"
#include "format/parquet_write.h"
#include "sink/write_stmt.h"

#define NC(x)    PG_QUERY__NODE__NODE_##x
#define IS(n, x) ((n) != NULL && (n)->node_case == NC(x))
typedef PgQuery__Node pgnode;

/* Bytes of CSV text buffered before a write(2) (and, compressed, per gzip member / zstd
 * frame: both formats allow a file of concatenated members). */
#define CSV_FLUSH_BYTES ((size_t)1 << 20)

/* ================================================================ options */

/* One WITH (...) / COPY option: key lower case, value as text ("true" for a bare key). */
typedef struct wopt {
    char *key;
    char *val;
    const pgnode *arg; /* the value node (lists, '*'), may be NULL */
    int pos;
    bool used;
} wopt;

typedef struct wopts {
    wopt *items;
    uint32_t n;
} wopts;

static const char *str_of(const pgnode *n) { return IS(n, STRING) ? n->string->sval : NULL; }

/* An option's value as text: tb_sql_node_text, and `*` and lists (COPY's column lists). */
static char *node_text(tb_arena *arena, const pgnode *a)
{
    if (IS(a, A_STAR))
        return tb_arena_strdup(arena, "*");
    if (IS(a, LIST))
        return tb_arena_strdup(arena, "(list)");
    return tb_sql_node_text(arena, a);
}

static tb_rc collect_opts(tb_arena *arena, pgnode *const *opts, size_t n, wopts *out, tb_err *err)
{
    out->n = 0;
    out->items = tb_arena_zalloc(arena, (n ? n : 1) * sizeof(wopt));
    if (out->items == NULL)
        return tb_err_nomem(err);
    for (size_t i = 0; i < n; i++) {
        if (!IS(opts[i], DEF_ELEM))
            continue;
        const PgQuery__DefElem *de = opts[i]->def_elem;
        wopt *o = &out->items[out->n];
        o->key = tb_arena_strdup(arena, de->defname);
        o->val = node_text(arena, de->arg);
        o->arg = de->arg;
        o->pos = de->location;
        if (o->key == NULL)
            return tb_err_nomem(err);
        if (o->val == NULL)
            return TB_ERRPOS(err, TB_E_SQL, o->pos, "bad value for option %s", o->key);
        for (char *p = o->key; *p != '\0'; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        for (uint32_t k = 0; k < out->n; k++)
            if (strcmp(out->items[k].key, o->key) == 0)
                return TB_ERRPOS(err, TB_E_SQL, o->pos, "option \"%s\" specified more than once",
                                 o->key);
        out->n++;
    }
    return TB_OK;
}

/* The option named key (or its alias), marked used; NULL if absent. */
static wopt *opt_get(wopts *o, const char *key, const char *alias)
{
    for (uint32_t i = 0; i < o->n; i++) {
        if (strcmp(o->items[i].key, key) == 0 ||
            (alias != NULL && strcmp(o->items[i].key, alias) == 0)) {
            o->items[i].used = true;
            return &o->items[i];
        }
    }
    return NULL;
}

static tb_rc opts_unused(const wopts *o, const char *what, const char *known, tb_err *err)
{
    for (uint32_t i = 0; i < o->n; i++)
        if (!o->items[i].used)
            return TB_ERRPOS(err, TB_E_SQL, o->items[i].pos,
                             "%s: unknown option \"%s\" (known: %s)", what, o->items[i].key, known);
    return TB_OK;
}

static tb_rc opt_bool(const wopt *o, bool *out, tb_err *err)
{
    const char *v = o->val;
    if (tb_str_ieq(v, "true") || tb_str_ieq(v, "on") || tb_str_ieq(v, "1") ||
        tb_str_ieq(v, "yes") || tb_str_ieq(v, "t")) {
        *out = true;
    } else if (tb_str_ieq(v, "false") || tb_str_ieq(v, "off") || tb_str_ieq(v, "0") ||
               tb_str_ieq(v, "no") || tb_str_ieq(v, "f")) {
        *out = false;
    } else {
        return TB_ERRPOS(err, TB_E_SQL, o->pos, "%s requires a Boolean value, not '%s'", o->key, v);
    }
    return TB_OK;
}

/* A non-negative count or byte size: "1000", "64KB", "128MiB", "1GB" (1024-based). */
static tb_rc opt_size(const wopt *o, uint64_t min, uint64_t max, uint64_t *out, tb_err *err)
{
    const char *p = o->val;
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(p, &end, 10);
    uint64_t mult = 1;
    if (end == p || errno != 0 || *p == '-')
        goto bad;
    while (*end == ' ')
        end++;
    if (*end != '\0') {
        char u = (char)(*end >= 'a' ? *end - 'a' + 'A' : *end);
        mult = u == 'K'   ? (uint64_t)1 << 10
               : u == 'M' ? (uint64_t)1 << 20
               : u == 'G' ? (uint64_t)1 << 30
               : u == 'B' ? 1
                          : 0;
        if (mult == 0)
            goto bad;
        if (u != 'B')
            end++;
        if (tb_str_ieq(end, "ib") || tb_str_ieq(end, "b") || *end == '\0')
            end += strlen(end);
        if (*end != '\0')
            goto bad;
    }
    if (n > max / mult || n * mult < min || n * mult > max)
        return TB_ERRPOS(err, TB_E_SQL, o->pos,
                         "%s must be between %" PRIu64 " and %" PRIu64 ", not %s", o->key, min, max,
                         o->val);
    *out = (uint64_t)n * mult;
    return TB_OK;
bad:
    return TB_ERRPOS(err, TB_E_SQL, o->pos,
                     "%s must be a number (bytes may end in KB, MB, GB), "
                     "not '%s'",
                     o->key, o->val);
}

/* A one-byte character option (delimiter, quote, escape). */
static tb_rc opt_char(const wopt *o, char *out, tb_err *err)
{
    if (strlen(o->val) != 1 || (unsigned char)o->val[0] >= 0x80)
        return TB_ERRPOS(err, TB_E_SQL, o->pos, "COPY %s must be a single one-byte character",
                         o->key);
    *out = o->val[0];
    return TB_OK;
}

/* Split "a, b" into trimmed names (arena). */
static tb_rc split_names(tb_arena *arena, const char *s, char ***out, uint32_t *n_out, tb_err *err)
{
    uint32_t n = 0, cap = 1;
    for (const char *p = s; *p != '\0'; p++)
        cap += *p == ',';
    char **names = tb_arena_zalloc(arena, cap * sizeof(char *));
    if (names == NULL)
        return tb_err_nomem(err);
    const char *p = s;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e != NULL ? (size_t)(e - p) : strlen(p);
        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len > 0) {
            names[n] = tb_arena_strndup(arena, p, len);
            if (names[n] == NULL)
                return tb_err_nomem(err);
            n++;
        }
        if (e == NULL)
            break;
        p = e + 1;
    }
    *out = names;
    *n_out = n;
    return TB_OK;
}

/* ================================================================ plans */

/* Plan `SELECT * | cols FROM rel` for COPY rel [(cols)] TO, from nodes built here so
 * errors point into the user's statement. */
static tb_rc plan_relation(tb_db *db, const char *sql, PgQuery__RangeVar *rel, size_t n_cols,
                           pgnode *const *cols, tb_plan **out, tb_err *err)
{
    size_t n_t = n_cols ? n_cols : 1;
    tb_rc rc = TB_OK;
    pgnode *targets = tb_calloc(n_t, sizeof(pgnode));
    pgnode **target_ptrs = tb_calloc(n_t, sizeof(pgnode *));
    PgQuery__ResTarget *rts = tb_calloc(n_t, sizeof(PgQuery__ResTarget));
    pgnode *vals = tb_calloc(n_t, sizeof(pgnode));
    PgQuery__ColumnRef *crefs = tb_calloc(n_t, sizeof(PgQuery__ColumnRef));
    pgnode *fields = tb_calloc(n_t, sizeof(pgnode));
    pgnode **field_ptrs = tb_calloc(n_t, sizeof(pgnode *));
    PgQuery__AStar star = PG_QUERY__A__STAR__INIT;
    PgQuery__SelectStmt sel = PG_QUERY__SELECT_STMT__INIT;
    pgnode from = PG_QUERY__NODE__INIT, selnode = PG_QUERY__NODE__INIT;
    pgnode *from_ptr = &from;
    if (targets == NULL || target_ptrs == NULL || rts == NULL || vals == NULL || crefs == NULL ||
        fields == NULL || field_ptrs == NULL) {
        rc = tb_err_nomem(err);
        goto done;
    }
    for (size_t i = 0; i < n_t; i++) {
        PgQuery__ResTarget rt0 = PG_QUERY__RES_TARGET__INIT;
        PgQuery__ColumnRef cr0 = PG_QUERY__COLUMN_REF__INIT;
        pgnode n0 = PG_QUERY__NODE__INIT;
        rts[i] = rt0;
        crefs[i] = cr0;
        targets[i] = n0;
        vals[i] = n0;
        fields[i] = n0;
        if (n_cols == 0) {
            fields[i].node_case = NC(A_STAR);
            fields[i].a_star = &star;
            crefs[i].location = rel->location;
        } else {
            const pgnode *c = cols[i];
            if (!IS(c, STRING)) {
                rc = TB_ERRPOS(err, TB_E_SQL, rel->location, "COPY: bad column list");
                goto done;
            }
            fields[i] = *c;
            crefs[i].location = rel->location;
        }
        field_ptrs[i] = &fields[i];
        crefs[i].n_fields = 1;
        crefs[i].fields = &field_ptrs[i];
        vals[i].node_case = NC(COLUMN_REF);
        vals[i].column_ref = &crefs[i];
        rts[i].val = &vals[i];
        rts[i].location = rel->location;
        targets[i].node_case = NC(RES_TARGET);
        targets[i].res_target = &rts[i];
        target_ptrs[i] = &targets[i];
    }
    from.node_case = NC(RANGE_VAR);
    from.range_var = rel;
    sel.n_target_list = n_t;
    sel.target_list = target_ptrs;
    sel.n_from_clause = 1;
    sel.from_clause = &from_ptr;
    sel.op = PG_QUERY__SET_OPERATION__SETOP_NONE;
    sel.limit_option = PG_QUERY__LIMIT_OPTION__LIMIT_OPTION_DEFAULT;
    selnode.node_case = NC(SELECT_STMT);
    selnode.select_stmt = &sel;
    rc = tb_sql_plan_node(db, sql, &selnode, NULL, out, err);
done:
    tb_free(targets);
    tb_free(target_ptrs);
    tb_free(rts);
    tb_free(vals);
    tb_free(crefs);
    tb_free(fields);
    tb_free(field_ptrs);
    return rc;
}

/* ================================================================ files */

/* "<dir>/.<base>.tmp-<pid>" next to path (heap). */
static char *temp_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t dlen = slash != NULL ? (size_t)(slash - path) + 1 : 0;
    const char *base = path + dlen;
    size_t cap = strlen(path) + 40;
    char *t = tb_malloc(cap);
    if (t != NULL)
        snprintf(t, cap, "%.*s.%s.tmp-%ld", (int)dlen, path, base, (long)getpid());
    return t;
}

static void fsync_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd); /* best effort: the rename is done */
        close(fd);
    }
}

/* ---------------------------------------------------------------- CSV */

typedef struct csv_out {
    const char *path;
    char *tmp;
    int fd;
    int codec; /* TB_CODEC_UNCOMPRESSED, GZIP or ZSTD */
    char delim, quote, escape;
    const char *null_str;
    size_t null_len;
    bool header;
    bool *force; /* per column: quote every non-NULL value */
    tb_buf buf, zbuf, tmpf;
} csv_out;

static tb_rc csv_write_all(csv_out *c, const char *p, size_t n, tb_err *err)
{
    while (n > 0) {
        ssize_t w = write(c->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return TB_ERRF(err, TB_E_IO, "COPY: write '%s': %s", c->tmp, strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return TB_OK;
}

static tb_rc csv_flush(csv_out *c, tb_err *err)
{
    tb_rc rc;
    if (c->buf.len == 0)
        return TB_OK;
    if (c->codec == TB_CODEC_UNCOMPRESSED) {
        rc = csv_write_all(c, c->buf.data, c->buf.len, err);
    } else {
        c->zbuf.len = 0;
        rc = tb_compress(c->codec, (const uint8_t *)c->buf.data, c->buf.len, &c->zbuf, err);
        if (rc == TB_OK)
            rc = csv_write_all(c, c->zbuf.data, c->zbuf.len, err);
    }
    c->buf.len = 0;
    return rc;
}

static bool csv_needs_quotes(const csv_out *c, const char *p, size_t n)
{
    if (n == 0)
        return true; /* the empty string, told apart from NULL */
    if (c->null_len == n && memcmp(p, c->null_str, n) == 0)
        return true;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == c->delim || ch == c->quote || ch == c->escape || ch == '\n' || ch == '\r')
            return true;
    }
    return false;
}

static tb_rc csv_field(csv_out *c, const char *p, size_t n, bool force)
{
    tb_buf *b = &c->buf;
    if (!force && !csv_needs_quotes(c, p, n))
        return tb_buf_append(b, p, n);
    tb_rc rc = tb_buf_reserve(b, n + 2);
    if (rc != TB_OK)
        return rc;
    b->data[b->len++] = c->quote;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == c->quote || (ch == c->escape && c->escape != c->quote)) {
            if ((rc = tb_buf_putc(b, c->escape)) != TB_OK)
                return rc;
        }
        if ((rc = tb_buf_putc(b, ch)) != TB_OK)
            return rc;
    }
    return tb_buf_putc(b, c->quote);
}

static tb_rc csv_put_int(tb_buf *b, int64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--p = '-';
    return tb_buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

static tb_rc csv_batch(csv_out *c, const tb_batch *batch, tb_err *err)
{
    tb_rc rc = TB_OK;
    for (uint32_t r = 0; r < batch->n_rows && rc == TB_OK; r++) {
        for (uint32_t k = 0; k < batch->n_cols && rc == TB_OK; k++) {
            const tb_vec *v = &batch->cols[k];
            bool force = c->force != NULL && c->force[k];
            if (k > 0 && (rc = tb_buf_putc(&c->buf, c->delim)) != TB_OK)
                break;
            if (v->type.id == TB_T_NULL || tb_vec_is_null(v, r)) {
                rc = tb_buf_append(&c->buf, c->null_str, c->null_len);
                continue;
            }
            switch ((tb_type_id)v->type.id) {
            case TB_T_INT16:
            case TB_T_INT32:
            case TB_T_INT64:
                if (!force) {
                    int64_t x = v->type.id == TB_T_INT16   ? TB_VEC_PTR(v, int16_t)[r]
                                : v->type.id == TB_T_INT32 ? TB_VEC_PTR(v, int32_t)[r]
                                                           : TB_VEC_PTR(v, int64_t)[r];
                    /* digits never need quotes unless a delimiter or the null string is
                     * a digit or '-' */
                    if (!(c->delim >= '0' && c->delim <= '9') && c->delim != '-' &&
                        c->null_len == 0) {
                        rc = csv_put_int(&c->buf, x);
                        break;
                    }
                }
                /* fall through */
            default: {
                tb_value val;
                const char *p;
                size_t n;
                if (v->type.id == TB_T_STRING) {
                    const tb_str *s = &TB_VEC_PTR(v, tb_str)[r];
                    p = s->ptr != NULL ? s->ptr : "";
                    n = s->len;
                } else {
                    tb_vec_get(v, r, &val);
                    c->tmpf.len = 0;
                    if ((rc = tb_value_format(&val, &c->tmpf)) != TB_OK)
                        break;
                    p = c->tmpf.data != NULL ? c->tmpf.data : "";
                    n = c->tmpf.len;
                }
                rc = csv_field(c, p, n, force);
                break;
            }
            }
        }
        if (rc == TB_OK)
            rc = tb_buf_putc(&c->buf, '\n');
        if (rc == TB_OK && c->buf.len >= CSV_FLUSH_BYTES)
            rc = csv_flush(c, err);
    }
    if (rc == TB_E_NOMEM)
        return tb_err_nomem(err);
    return rc;
}

/* Write every row of root to c->path as CSV. */
static tb_rc csv_copy(csv_out *c, tb_op *root, int64_t *out_rows, tb_err *err)
{
    tb_rc rc = TB_OK;
    const tb_schema *s = root->schema;
    int64_t rows = 0;
    c->fd = -1;
    c->tmp = temp_name(c->path);
    if (c->tmp == NULL)
        return tb_err_nomem(err);
    c->fd = open(c->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (c->fd < 0) {
        rc = TB_ERRF(err, TB_E_IO, "COPY: could not open file \"%s\" for writing: %s", c->path,
                     strerror(errno));
        goto fail;
    }
    if (c->header) {
        for (uint32_t k = 0; k < s->n && rc == TB_OK; k++) {
            if (k > 0)
                rc = tb_buf_putc(&c->buf, c->delim);
            if (rc == TB_OK)
                rc = csv_field(c, s->fields[k].name, strlen(s->fields[k].name), false);
        }
        if (rc == TB_OK)
            rc = tb_buf_putc(&c->buf, '\n');
        if (rc != TB_OK) {
            rc = tb_err_nomem(err);
            goto fail;
        }
    }
    for (;;) {
        tb_batch *batch = NULL;
        rc = tb_op_next(root, &batch, err);
        if (rc != TB_OK)
            goto fail;
        if (batch == NULL)
            break;
        rc = csv_batch(c, batch, err);
        if (rc != TB_OK)
            goto fail;
        rows += batch->n_rows;
    }
    rc = csv_flush(c, err);
    if (rc != TB_OK)
        goto fail;
    if (fsync(c->fd) != 0) {
        rc = TB_ERRF(err, TB_E_IO, "COPY: fsync '%s': %s", c->tmp, strerror(errno));
        goto fail;
    }
    if (close(c->fd) != 0) {
        c->fd = -1;
        rc = TB_ERRF(err, TB_E_IO, "COPY: close '%s': %s", c->tmp, strerror(errno));
        goto fail;
    }
    c->fd = -1;
    if (rename(c->tmp, c->path) != 0) {
        rc = TB_ERRF(err, TB_E_IO, "COPY: rename '%s' to '%s': %s", c->tmp, c->path,
                     strerror(errno));
        goto fail;
    }
    fsync_dir_of(c->path);
    *out_rows = rows;
    rc = TB_OK;
    goto done;
fail:
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->tmp != NULL)
        (void)unlink(c->tmp); /* already failing */
done:
    tb_free(c->tmp);
    c->tmp = NULL;
    tb_buf_free(&c->buf);
    tb_buf_free(&c->zbuf);
    tb_buf_free(&c->tmpf);
    return rc;
}

/* ---------------------------------------------------------------- Parquet */

static tb_rc parquet_copy(const char *path, tb_op *root, const tb_parquet_write_opts *opts,
                          int64_t *out_rows, tb_err *err)
{
    tb_parquet_writer *w = NULL;
    tb_schema *schema = tb_schema_copy(root->schema);
    int64_t rows = 0;
    tb_rc rc;
    if (schema == NULL)
        return tb_err_nomem(err);
    for (uint32_t i = 0; i < schema->n; i++) {
        schema->fields[i].nullable = true; /* the plan's nullability is not a promise */
        if (schema->fields[i].type.id == TB_T_NULL)
            schema->fields[i].type = tb_type_make(TB_T_STRING);
    }
    rc = tb_parquet_writer_open(path, schema, opts, &w, err);
    if (rc != TB_OK)
        goto done;
    for (;;) {
        tb_batch *batch = NULL;
        rc = tb_op_next(root, &batch, err);
        if (rc != TB_OK)
            goto done;
        if (batch == NULL)
            break;
        if (batch->n_rows == 0)
            continue;
        rc = tb_parquet_writer_write_batch(w, batch, err);
        if (rc != TB_OK)
            goto done;
        rows += batch->n_rows;
    }
    rc = tb_parquet_writer_close(w, NULL, err);
    w = NULL;
    if (rc == TB_OK)
        *out_rows = rows;
done:
    tb_parquet_writer_abort(w);
    tb_schema_free(schema);
    return rc;
}

/* ---------------------------------------------------------------- COPY */

static const char copy_known[] =
    "format, compression, row_group_size, row_group_size_bytes, page_size, dictionary, "
    "dictionary_size_limit (parquet); header, delimiter, quote, escape, null, force_quote, "
    "compression (csv)";

static tb_rc codec_by_name(const wopt *o, bool csv, int *out, tb_err *err)
{
    static const struct {
        const char *name;
        int codec;
        bool csv;
    } codecs[] = {
        {"uncompressed", TB_CODEC_UNCOMPRESSED, true},
        {"none", TB_CODEC_UNCOMPRESSED, true},
        {"snappy", TB_CODEC_SNAPPY, false},
        {"gzip", TB_CODEC_GZIP, true},
        {"zstd", TB_CODEC_ZSTD, true},
        {"lz4_raw", TB_CODEC_LZ4_RAW, false},
        {"lz4", TB_CODEC_LZ4_RAW, false}, /* DuckDB's LZ4 is LZ4_RAW */
        {"brotli", TB_CODEC_BROTLI, false},
    };
    for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
        if (tb_str_ieq(o->val, codecs[i].name) && (!csv || codecs[i].csv)) {
            *out = codecs[i].codec;
            return TB_OK;
        }
    }
    return TB_ERRPOS(err, TB_E_SQL, o->pos,
                     csv ? "COPY: compression '%s' is not supported for csv (gzip, zstd, none)"
                         : "COPY: compression '%s' is not supported for parquet (snappy, zstd, "
                           "gzip, lz4_raw, brotli, uncompressed)",
                     o->val);
}

static tb_rc copy_stmt(tb_db *db, const char *sql, int offset, const PgQuery__CopyStmt *cs,
                       int64_t *out_changes, tb_err *err)
{
    tb_arena *arena = tb_arena_new(0);
    tb_plan *plan = NULL;
    wopts o = {0};
    wopt *w;
    int64_t rows = 0;
    bool parquet;
    tb_rc rc;
    const char *path = cs->filename;

    if (arena == NULL)
        return tb_err_nomem(err);
    if (cs->is_from) {
        rc = TB_ERRPOS(err, TB_E_UNSUPPORTED, offset,
                       "COPY FROM is not supported: use INSERT INTO t SELECT * FROM "
                       "read_csv('file') or read_parquet('file')");
        goto done;
    }
    if (cs->is_program) {
        rc = TB_ERRPOS(err, TB_E_UNSUPPORTED, offset, "COPY TO PROGRAM is not supported");
        goto done;
    }
    if (path == NULL || path[0] == '\0') {
        rc = TB_ERRPOS(err, TB_E_UNSUPPORTED, offset,
                       "COPY TO STDOUT is not supported: give a file name, or run the query "
                       "with tributary query --format csv");
        goto done;
    }
    rc = collect_opts(arena, cs->options, cs->n_options, &o, err);
    if (rc != TB_OK)
        goto done;
    w = opt_get(&o, "format", NULL);
    if (w != NULL) {
        if (tb_str_ieq(w->val, "parquet")) {
            parquet = true;
        } else if (tb_str_ieq(w->val, "csv")) {
            parquet = false;
        } else {
            rc = TB_ERRPOS(err, TB_E_UNSUPPORTED, w->pos,
                           "COPY format \"%s\" is not supported (parquet, csv)", w->val);
            goto done;
        }
    } else {
        parquet = tb_str_ends_with(path, ".parquet") || tb_str_ends_with(path, ".PARQUET") ||
                  tb_str_ends_with(path, ".pq");
    }
    /* the query */
    if (cs->query != NULL) {
        if (!IS(cs->query, SELECT_STMT)) {
            rc = TB_ERRPOS(err, TB_E_UNSUPPORTED, offset,
                           "COPY (statement) TO takes a SELECT or VALUES query");
            goto done;
        }
        rc = tb_sql_plan_node(db, sql, cs->query, NULL, &plan, err);
    } else if (cs->relation != NULL) {
        rc = plan_relation(db, sql, cs->relation, cs->n_attlist, cs->attlist, &plan, err);
    } else {
        rc = TB_ERRPOS(err, TB_E_SQL, offset, "COPY needs a table or a query");
    }
    if (rc != TB_OK)
        goto done;

    if (parquet) {
        tb_parquet_write_opts po;
        uint64_t v;
        bool b;
        tb_parquet_write_opts_default(&po);
        if ((w = opt_get(&o, "compression", "codec")) != NULL &&
            (rc = codec_by_name(w, false, &po.codec, err)) != TB_OK)
            goto done;
        if ((w = opt_get(&o, "row_group_size", NULL)) != NULL) {
            if ((rc = opt_size(w, 1, (uint64_t)1 << 40, &v, err)) != TB_OK)
                goto done;
            po.row_group_rows = v;
        }
        if ((w = opt_get(&o, "row_group_size_bytes", NULL)) != NULL) {
            if ((rc = opt_size(w, 1024, (uint64_t)1 << 40, &v, err)) != TB_OK)
                goto done;
            po.row_group_size_bytes = v;
        }
        if ((w = opt_get(&o, "page_size", "page_size_bytes")) != NULL) {
            if ((rc = opt_size(w, 512, (uint64_t)1 << 30, &v, err)) != TB_OK)
                goto done;
            po.page_size_bytes = (uint32_t)v;
        }
        if ((w = opt_get(&o, "dictionary", NULL)) != NULL) {
            if ((rc = opt_bool(w, &b, err)) != TB_OK)
                goto done;
            po.dictionary = b;
        }
        if ((w = opt_get(&o, "dictionary_size_limit", NULL)) != NULL) {
            if ((rc = opt_size(w, 0, (uint64_t)1 << 30, &v, err)) != TB_OK)
                goto done;
            po.dict_size_limit = (uint32_t)v;
        }
        rc = opts_unused(&o, "COPY ... (FORMAT parquet)", copy_known, err);
        if (rc != TB_OK)
            goto done;
        rc = parquet_copy(path, plan->root, &po, &rows, err);
    } else {
        csv_out c;
        memset(&c, 0, sizeof(c));
        c.path = path;
        c.delim = ',';
        c.quote = '"';
        c.escape = 0;
        c.null_str = "";
        c.header = true;
        c.codec = tb_str_ends_with(path, ".gz")    ? TB_CODEC_GZIP
                  : tb_str_ends_with(path, ".zst") ? TB_CODEC_ZSTD
                                                   : TB_CODEC_UNCOMPRESSED;
        if ((w = opt_get(&o, "compression", NULL)) != NULL &&
            (rc = codec_by_name(w, true, &c.codec, err)) != TB_OK)
            goto done;
        if ((w = opt_get(&o, "header", NULL)) != NULL &&
            (rc = opt_bool(w, &c.header, err)) != TB_OK)
            goto done;
        if ((w = opt_get(&o, "delimiter", "sep")) != NULL &&
            (rc = opt_char(w, &c.delim, err)) != TB_OK)
            goto done;
        if ((w = opt_get(&o, "quote", NULL)) != NULL && (rc = opt_char(w, &c.quote, err)) != TB_OK)
            goto done;
        if ((w = opt_get(&o, "escape", NULL)) != NULL &&
            (rc = opt_char(w, &c.escape, err)) != TB_OK)
            goto done;
        if (c.escape == 0)
            c.escape = c.quote;
        if ((w = opt_get(&o, "null", "nullstr")) != NULL)
            c.null_str = w->val;
        c.null_len = strlen(c.null_str);
        if (c.delim == c.quote || c.delim == '\n' || c.delim == '\r') {
            rc = TB_ERRPOS(err, TB_E_SQL, offset,
                           "COPY delimiter must differ from the quote and from line breaks");
            goto done;
        }
        if (memchr(c.null_str, c.delim, c.null_len) != NULL) {
            rc = TB_ERRPOS(err, TB_E_SQL, offset,
                           "COPY delimiter must not appear in the NULL "
                           "specification");
            goto done;
        }
        if ((w = opt_get(&o, "force_quote", NULL)) != NULL) {
            const tb_schema *s = plan->root->schema;
            c.force = tb_arena_zalloc(arena, (s->n ? s->n : 1) * sizeof(bool));
            if (c.force == NULL) {
                rc = tb_err_nomem(err);
                goto done;
            }
            if (IS(w->arg, LIST)) {
                const PgQuery__List *l = w->arg->list;
                for (size_t i = 0; i < l->n_items; i++) {
                    const char *nm = str_of(l->items[i]);
                    int k = nm != NULL ? tb_schema_find(s, nm) : -1;
                    if (k < 0) {
                        rc = TB_ERRPOS(err, TB_E_NOTFOUND, w->pos,
                                       "FORCE_QUOTE column \"%s\" is not in the output",
                                       nm != NULL ? nm : "?");
                        goto done;
                    }
                    c.force[k] = true;
                }
            } else if (strcmp(w->val, "*") == 0 || tb_str_ieq(w->val, "true")) {
                for (uint32_t k = 0; k < s->n; k++)
                    c.force[k] = true;
            } else if (!tb_str_ieq(w->val, "false")) {
                int k = tb_schema_find(s, w->val);
                if (k < 0) {
                    rc = TB_ERRPOS(err, TB_E_NOTFOUND, w->pos,
                                   "FORCE_QUOTE column \"%s\" is not in the output", w->val);
                    goto done;
                }
                c.force[k] = true;
            }
        }
        rc = opts_unused(&o, "COPY ... (FORMAT csv)", copy_known, err);
        if (rc != TB_OK)
            goto done;
        rc = csv_copy(&c, plan->root, &rows, err);
    }
    if (rc == TB_OK)
        *out_changes = rows;
done:
    tb_plan_free(plan);
    tb_arena_free(arena);
    return rc;
}

/* ================================================================ Delta relations */

/* A catalog entry over the Delta table at `path`. */
typedef struct delta_rel {
    char *path;
    tb_schema *declared; /* the declared columns (names), or NULL: all of the table's */
    tb_schema *schema;   /* the entry's schema as bound at declaration */
    int64_t version;     /* pinned (read only), or -1: the latest at each query */
    bool overwrite;      /* INSERT replaces the contents (mode = 'overwrite') */
    int64_t est_rows;
} delta_rel;

static void drel_free(void *ud)
{
    delta_rel *d = ud;
    if (d == NULL)
        return;
    tb_free(d->path);
    tb_schema_free(d->declared);
    tb_schema_free(d->schema);
    tb_free(d);
}

/* Bind read_delta over the table as of now (or its pinned version). */
static tb_rc drel_bind(const char *path, int64_t version, const tb_schema *declared,
                       void **out_state, tb_schema **out_schema, tb_err *err)
{
    const tb_tablefunc *tf = tb_sql_find_tablefunc("read_delta");
    tb_tf_arg args[2];
    uint32_t n = 1;
    if (tf == NULL)
        return TB_ERRF(err, TB_E_UNSUPPORTED, "read_delta is not available");
    memset(args, 0, sizeof(args));
    args[0].name = "path";
    args[0].value.type = tb_type_make(TB_T_STRING);
    args[0].value.u.s.ptr = path;
    args[0].value.u.s.len = (uint32_t)strlen(path);
    args[0].pos = -1;
    if (version >= 0) {
        args[1].name = "version";
        args[1].value.type = tb_type_make(TB_T_INT64);
        args[1].value.u.i = version;
        args[1].pos = -1;
        n = 2;
    }
    return tf->bind(args, n, declared != NULL && declared->n > 0 ? declared : NULL, out_state,
                    out_schema, err);
}

static bool schemas_equal(const tb_schema *a, const tb_schema *b)
{
    if (a->n != b->n)
        return false;
    for (uint32_t i = 0; i < a->n; i++)
        if (strcmp(a->fields[i].name, b->fields[i].name) != 0 ||
            !tb_type_eq(a->fields[i].type, b->fields[i].type))
            return false;
    return true;
}

static tb_rc drel_open(void *ud, const int *proj, uint32_t n_proj, tb_op **out, tb_err *err)
{
    delta_rel *d = ud;
    const tb_tablefunc *tf = tb_sql_find_tablefunc("read_delta");
    void *state = NULL;
    tb_schema *schema = NULL;
    tb_source *src = NULL;
    tb_rc rc = drel_bind(d->path, d->version, d->declared, &state, &schema, err);
    if (rc != TB_OK)
        return rc;
    if (!schemas_equal(schema, d->schema)) {
        rc = TB_ERRF(err, TB_E_TYPE,
                     "delta table '%s' changed its columns since it was declared: drop and "
                     "declare it again",
                     d->path);
    } else {
        rc = tf->open(state, proj, n_proj, &src, err);
    }
    tf->free(state); /* the source keeps what it needs */
    tb_schema_free(schema);
    if (rc != TB_OK)
        return rc;
    return tb_op_scan_new(src, out, err);
}

static int64_t drel_estimate(void *ud) { return ((delta_rel *)ud)->est_rows; }

/* The table's newest version (a listing of its log): each open() reads the latest. */
static tb_rc drel_version(void *ud, uint64_t *out_version, tb_err *err)
{
    delta_rel *d = ud;
    int64_t v = d->version;
    tb_rc rc = v >= 0 ? TB_OK : tb_sql_delta_latest(d->path, &v, err);
    *out_version = (uint64_t)v;
    return rc;
}

static const tb_connector_vt delta_rel_vt = {"delta", drel_open, drel_free, drel_estimate,
                                             drel_version};

/* The delta_rel behind a catalog name, or NULL when it is something else. */
static delta_rel *find_drel(tb_db *db, const char *name)
{
    tb_catalog_info info;
    tb_err e;
    tb_err_clear(&e);
    if (tb_catalog_lookup(db, name, &info, &e) != TB_OK || info.kind != TB_CAT_CONNECTOR ||
        info.vt != &delta_rel_vt)
        return NULL;
    return info.ud;
}

static bool name_taken(tb_db *db, const char *name)
{
    tb_catalog_info info;
    tb_err e;
    tb_err_clear(&e);
    return tb_catalog_lookup(db, name, &info, &e) == TB_OK && strcmp(info.name, name) == 0;
}

/* Register `name` over the table at path. */
static tb_rc drel_register(tb_db *db, const char *name, const char *path, const tb_schema *declared,
                           int64_t version, bool overwrite, tb_err *err)
{
    const tb_tablefunc *tf = tb_sql_find_tablefunc("read_delta");
    void *state = NULL;
    tb_schema *schema = NULL;
    delta_rel *d = NULL;
    tb_rc rc = drel_bind(path, version, declared, &state, &schema, err);
    if (rc != TB_OK)
        return rc;
    d = tb_calloc(1, sizeof(*d));
    if (d == NULL)
        goto nomem;
    d->path = tb_strdup(path);
    d->schema = schema;
    schema = NULL;
    d->version = version;
    d->overwrite = overwrite;
    d->est_rows = tf->estimate_rows != NULL ? tf->estimate_rows(state) : -1;
    if (d->est_rows < 0)
        d->est_rows = 1000000;
    if (declared != NULL && declared->n > 0 && (d->declared = tb_schema_copy(declared)) == NULL)
        goto nomem;
    if (d->path == NULL)
        goto nomem;
    tf->free(state);
    state = NULL;
    rc = tb_catalog_add_connector(db, name, d->schema, &delta_rel_vt, d, err);
    if (rc != TB_OK)
        drel_free(d);
    return rc;
nomem:
    if (state != NULL)
        tf->free(state);
    tb_schema_free(schema);
    drel_free(d);
    return tb_err_nomem(err);
}

/* ---------------------------------------------------------------- table options */

typedef struct delta_opts {
    const char *path;
    char **parts;
    uint32_t n_part;
    int mode; /* MODE_* */
    int64_t version;
    const char *txn_app;
    int64_t txn_version;
} delta_opts;

enum { MODE_DEFAULT, MODE_ERROR, MODE_APPEND, MODE_OVERWRITE, MODE_IGNORE };

static const char delta_known[] =
    "connector, path, partition_by, mode, version, txn_app_id, txn_version, output_mode";

/* Read the options of a Delta table statement. ctas: CREATE TABLE AS (modes error,
 * append, overwrite, ignore; txn); else a declaration (mode append or overwrite). */
static tb_rc delta_options(tb_arena *arena, wopts *o, bool ctas, int stmt_pos, delta_opts *out,
                           tb_err *err)
{
    wopt *w;
    tb_rc rc;
    static const char *const known[] = {"connector", "path",       "partition_by", "mode",
                                        "version",   "txn_app_id", "txn_version",  "output_mode"};
    memset(out, 0, sizeof(*out));
    out->version = -1;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        wopt *k = opt_get(o, known[i], NULL);
        if (k != NULL && !ctas && strncmp(known[i], "txn_", 4) == 0)
            k->used = false; /* only CREATE TABLE AS writes with a txn */
        if (k != NULL && ctas && strcmp(known[i], "version") == 0)
            k->used = false;
    }
    rc = opts_unused(o, "delta table", delta_known, err);
    if (rc != TB_OK)
        return rc;
    w = opt_get(o, "path", NULL);
    if (w == NULL || w->val[0] == '\0')
        return TB_ERRPOS(err, TB_E_SQL, stmt_pos, "a delta table needs path = '...'");
    out->path = w->val;
    if ((w = opt_get(o, "partition_by", NULL)) != NULL) {
        rc = split_names(arena, w->val, &out->parts, &out->n_part, err);
        if (rc != TB_OK)
            return rc;
    }
    if ((w = opt_get(o, "mode", NULL)) != NULL) {
        const char *m = w->val;
        out->mode = tb_str_ieq(m, "append")      ? MODE_APPEND
                    : tb_str_ieq(m, "overwrite") ? MODE_OVERWRITE
                    : ctas && (tb_str_ieq(m, "error") || tb_str_ieq(m, "errorifexists"))
                        ? MODE_ERROR
                    : ctas && tb_str_ieq(m, "ignore") ? MODE_IGNORE
                                                      : -1;
        if (out->mode < 0)
            return TB_ERRPOS(err, TB_E_SQL, w->pos, "delta: unknown mode '%s' (%s)", m,
                             ctas ? "error, append, overwrite, ignore" : "append, overwrite");
    }
    if ((w = opt_get(o, "output_mode", NULL)) != NULL && out->mode == MODE_DEFAULT &&
        tb_str_ieq(w->val, "complete"))
        out->mode = MODE_OVERWRITE; /* a sink declaration's complete mode: replace */
    if (!ctas && (w = opt_get(o, "version", NULL)) != NULL) {
        char *end = NULL;
        out->version = strtoll(w->val, &end, 10);
        if (end == w->val || *end != '\0' || out->version < 0)
            return TB_ERRPOS(err, TB_E_SQL, w->pos, "delta: version must be a number >= 0");
    }
    if (ctas) {
        wopt *a = opt_get(o, "txn_app_id", NULL), *v = opt_get(o, "txn_version", NULL);
        if ((a == NULL) != (v == NULL))
            return TB_ERRPOS(err, TB_E_SQL, (a != NULL ? a : v)->pos,
                             "delta: txn_app_id and txn_version go together");
        if (a != NULL) {
            char *end = NULL;
            out->txn_app = a->val;
            out->txn_version = strtoll(v->val, &end, 10);
            if (end == v->val || *end != '\0' || out->txn_version < 0)
                return TB_ERRPOS(err, TB_E_SQL, v->pos, "delta: txn_version must be a number >= 0");
        }
    }
    return TB_OK;
}

/* ---------------------------------------------------------------- writing rows */

/*
 * Wrap plan->root in a projection producing the writer's columns: target i (a column of
 * wschema) takes the query's column i cast to its type, the others NULL.
 */
static tb_rc project_to(tb_plan *plan, const tb_schema *wschema, const int *tgt, uint32_t n_tgt,
                        int pos, tb_err *err)
{
    tb_op *root = plan->root;
    tb_expr **exprs = tb_arena_zalloc(plan->arena, (wschema->n ? wschema->n : 1) * sizeof(*exprs));
    const char **names =
        tb_arena_zalloc(plan->arena, (wschema->n ? wschema->n : 1) * sizeof(char *));
    tb_rc rc;
    if (exprs == NULL || names == NULL)
        return tb_err_nomem(err);
    for (uint32_t c = 0; c < wschema->n; c++) {
        tb_type t = wschema->fields[c].type;
        tb_expr *ex = NULL;
        names[c] = wschema->fields[c].name;
        for (uint32_t i = 0; i < n_tgt; i++) {
            if (tgt[i] != (int)c)
                continue;
            tb_type st = root->schema->fields[i].type;
            ex = tb_expr_col(plan->arena, (int)i, st);
            if (ex == NULL)
                return tb_err_nomem(err);
            if (!tb_type_eq(st, t)) {
                rc = tb_expr_cast(plan->arena, ex, t, pos, &ex, err);
                if (rc != TB_OK) {
                    char b1[64], b2[64];
                    return TB_ERRPOS(err, TB_E_TYPE, pos,
                                     "column \"%s\" is of type %s but expression is of type %s",
                                     wschema->fields[c].name, tb_type_name(t, b1, sizeof(b1)),
                                     tb_type_name(st, b2, sizeof(b2)));
                }
            }
        }
        if (ex == NULL) {
            if (!wschema->fields[c].nullable)
                return TB_ERRPOS(err, TB_E_SQL, pos,
                                 "null value in column \"%s\" violates not-null constraint",
                                 wschema->fields[c].name);
            ex = tb_expr_null(plan->arena);
            if (ex == NULL)
                return tb_err_nomem(err);
            rc = tb_expr_cast(plan->arena, ex, t, pos, &ex, err);
            if (rc != TB_OK)
                return rc;
        }
        exprs[c] = ex;
    }
    plan->root = NULL;
    return tb_op_project_new(root, wschema->n, exprs, names, &plan->root, err);
}

/* Drain root into the writer; *rows gets the count. */
static tb_rc drain_delta(tb_op *root, tb_delta_writer *w, int64_t *rows, tb_err *err)
{
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
        rc = tb_delta_writer_add_batch(w, batch, err);
        if (rc != TB_OK)
            return rc;
        *rows += batch->n_rows;
    }
}

static tb_rc commit_delta(tb_delta_writer *w, bool overwrite, const char *app, int64_t txn_version,
                          bool *skipped, tb_err *err)
{
    int64_t version = -1;
    tb_rc rc = tb_delta_writer_commit(w, overwrite ? TB_DELTA_OVERWRITE : TB_DELTA_APPEND, app,
                                      txn_version, skipped, &version, err);
    if (rc == TB_OK && *skipped)
        tb_log(TB_LOG_INFO, "delta: txn %s version %" PRId64 " already committed: skipped",
               app != NULL ? app : "-", txn_version);
    return rc;
}

/*
 * The core of INSERT: plan ins's query, map it onto the table's columns (targets named
 * in ins->cols among `visible`, else visible in order), write and commit. When the table
 * does not exist it is created from `create` (or, if NULL, the query's columns).
 */
static tb_rc insert_rows(tb_db *db, const char *sql, int offset, const PgQuery__InsertStmt *ins,
                         const char *path, const tb_schema *visible, const tb_schema *create,
                         char **parts, uint32_t n_part, bool overwrite, const char *app,
                         int64_t *out_rows, tb_err *err)
{
    tb_plan *plan = NULL;
    tb_delta_writer *w = NULL;
    tb_schema *qschema = NULL;
    int *tgt = NULL;
    int64_t rows = 0;
    bool skipped = false;
    int pos = ins->relation->location;
    tb_rc rc;

    if (ins->on_conflict_clause != NULL || ins->n_returning_list > 0 || ins->with_clause != NULL)
        return TB_ERRPOS(err, TB_E_UNSUPPORTED, pos,
                         "INSERT into a delta table: ON CONFLICT, RETURNING and WITH are not "
                         "supported (put WITH in the SELECT)");
    if (ins->select_stmt == NULL)
        return TB_ERRPOS(err, TB_E_UNSUPPORTED, pos, "INSERT ... DEFAULT VALUES is not supported");
    rc = tb_sql_plan_node(db, sql, ins->select_stmt, NULL, &plan, err);
    if (rc != TB_OK)
        return rc;
    /* the writer: the table's schema, or a new table */
    {
        tb_err e2;
        tb_err_clear(&e2);
        tb_delta_snapshot *snap = NULL;
        rc = tb_delta_open(path, -1, &snap, &e2);
        tb_delta_snapshot_free(snap);
        if (rc == TB_E_NOTFOUND) {
            if (create == NULL || create->n == 0) {
                qschema = tb_schema_copy(plan->root->schema);
                if (qschema == NULL) {
                    rc = tb_err_nomem(err);
                    goto done;
                }
                for (uint32_t i = 0; i < qschema->n; i++) {
                    qschema->fields[i].nullable = true;
                    if (i < ins->n_cols && IS(ins->cols[i], RES_TARGET) &&
                        tb_schema_set(qschema, i, ins->cols[i]->res_target->name,
                                      qschema->fields[i].type, true) != TB_OK) {
                        rc = tb_err_nomem(err);
                        goto done;
                    }
                }
                create = qschema;
            }
            rc = tb_delta_writer_open(path, create, (const char **)parts, n_part, &w, err);
        } else if (rc == TB_OK) {
            rc = tb_delta_writer_open(path, NULL, (const char **)parts, n_part, &w, err);
        } else {
            *err = e2;
        }
        if (rc != TB_OK) {
            if (err->pos < 0)
                err->pos = pos;
            goto done;
        }
    }
    const tb_schema *ws = tb_delta_writer_schema(w);
    if (visible == NULL || visible->n == 0)
        visible = ws;
    uint32_t n_tgt = ins->n_cols ? (uint32_t)ins->n_cols : visible->n;
    tgt = tb_calloc(n_tgt ? n_tgt : 1, sizeof(int));
    if (tgt == NULL) {
        rc = tb_err_nomem(err);
        goto done;
    }
    for (uint32_t i = 0; i < n_tgt; i++) {
        const char *cn = visible->fields[i < visible->n ? i : 0].name;
        int loc = pos;
        if (ins->n_cols > 0) {
            const pgnode *c = ins->cols[i];
            cn = IS(c, RES_TARGET) ? c->res_target->name : NULL;
            loc = IS(c, RES_TARGET) ? c->res_target->location : pos;
            if (cn == NULL || tb_schema_find(visible, cn) < 0) {
                rc = TB_ERRPOS(err, TB_E_NOTFOUND, loc,
                               "column \"%s\" of relation \"%s\" does not exist",
                               cn != NULL ? cn : "?", ins->relation->relname);
                goto done;
            }
        }
        tgt[i] = tb_schema_find(ws, cn);
        if (tgt[i] < 0) {
            rc = TB_ERRPOS(err, TB_E_NOTFOUND, loc, "delta table '%s' has no column \"%s\"", path,
                           cn);
            goto done;
        }
        for (uint32_t j = 0; j < i; j++) {
            if (tgt[j] == tgt[i]) {
                rc = TB_ERRPOS(err, TB_E_SQL, loc, "column \"%s\" specified more than once", cn);
                goto done;
            }
        }
    }
    if (plan->root->schema->n != n_tgt) {
        rc = TB_ERRPOS(err, TB_E_SQL, pos,
                       plan->root->schema->n > n_tgt
                           ? "INSERT has more expressions than target columns"
                           : "INSERT has more target columns than expressions");
        goto done;
    }
    rc = project_to(plan, ws, tgt, n_tgt, pos, err);
    if (rc != TB_OK)
        goto done;
    rc = drain_delta(plan->root, w, &rows, err);
    if (rc != TB_OK)
        goto done;
    rc = commit_delta(w, overwrite, app, 0, &skipped, err);
    if (rc != TB_OK) {
        if (err->pos < 0)
            err->pos = offset;
        goto done;
    }
    *out_rows = skipped ? 0 : rows;
done:
    tb_delta_writer_free(w); /* aborts uncommitted files */
    tb_plan_free(plan);
    tb_schema_free(qschema);
    tb_free(tgt);
    return rc;
}

/* ---------------------------------------------------------------- statements */

/* CREATE TABLE t [(cols)] WITH (connector = 'delta', path = ...) */
static tb_rc create_delta(tb_db *db, int offset, const PgQuery__CreateStmt *cs, const pgnode *node,
                          tb_arena *arena, wopts *o, tb_err *err)
{
    const char *name = cs->relation->relname;
    tb_schema *cols = NULL;
    delta_opts d;
    tb_rc rc;
    if (name_taken(db, name)) {
        if (cs->if_not_exists)
            return TB_OK;
        return TB_ERRPOS(err, TB_E_EXISTS, cs->relation->location, "relation \"%s\" already exists",
                         name);
    }
    rc = delta_options(arena, o, false, offset, &d, err);
    if (rc != TB_OK)
        return rc;
    rc = tb_sql_create_schema(node, &cols, err);
    if (rc != TB_OK)
        return rc;
    tb_delta_snapshot *snap = NULL;
    tb_err e2;
    tb_err_clear(&e2);
    rc = tb_delta_open(d.path, -1, &snap, &e2);
    if (rc == TB_E_NOTFOUND && d.version < 0) {
        /* create the table, empty (version 0: protocol and metaData) */
        tb_delta_writer *w = NULL;
        bool skipped = false;
        if (cols->n == 0) {
            rc =
                TB_ERRPOS(err, TB_E_NOTFOUND, cs->relation->location,
                          "delta table '%s' does not exist: give its columns to create it", d.path);
            goto done;
        }
        for (uint32_t i = 0; i < cols->n; i++)
            cols->fields[i].nullable = true;
        rc = tb_delta_writer_open(d.path, cols, (const char **)d.parts, d.n_part, &w, err);
        if (rc == TB_OK)
            rc = commit_delta(w, false, NULL, 0, &skipped, err);
        tb_delta_writer_free(w);
        if (rc != TB_OK) {
            if (err->pos < 0)
                err->pos = cs->relation->location;
            goto done;
        }
    } else if (rc != TB_OK) {
        *err = e2;
        if (err->pos < 0)
            err->pos = cs->relation->location;
        goto done;
    } else if (d.n_part > 0) {
        bool same = d.n_part == tb_delta_partition_count(snap);
        for (uint32_t k = 0; same && k < d.n_part; k++)
            same = tb_str_ieq(d.parts[k], tb_delta_partition_column(snap, k));
        if (!same) {
            rc = TB_ERRPOS(err, TB_E_TYPE, cs->relation->location,
                           "delta table '%s' is partitioned by other columns than partition_by "
                           "says",
                           d.path);
            goto done;
        }
    }
    rc = drel_register(db, name, d.path, cols, d.version, d.mode == MODE_OVERWRITE, err);
    if (rc != TB_OK && err->pos < 0)
        err->pos = cs->relation->location;
done:
    tb_delta_snapshot_free(snap);
    tb_schema_free(cols);
    return rc;
}

/* CREATE TABLE t [(names)] WITH (connector = 'delta', ...) AS SELECT ... */
static tb_rc ctas_delta(tb_db *db, const char *sql, int offset,
                        const PgQuery__CreateTableAsStmt *ct, tb_arena *arena, wopts *o,
                        int64_t *out_changes, tb_err *err)
{
    const PgQuery__IntoClause *into = ct->into;
    const char *name = into->rel->relname;
    int pos = into->rel->location;
    tb_plan *plan = NULL;
    tb_schema *schema = NULL;
    tb_delta_writer *w = NULL;
    tb_delta_snapshot *snap = NULL;
    int64_t rows = 0;
    bool skipped = false, exists;
    delta_opts d;
    tb_rc rc;

    rc = delta_options(arena, o, true, offset, &d, err);
    if (rc != TB_OK)
        return rc;
    delta_rel *prev = find_drel(db, name);
    if (name_taken(db, name) && !(prev != NULL && strcmp(prev->path, d.path) == 0)) {
        if (ct->if_not_exists)
            return TB_OK;
        return TB_ERRPOS(err, TB_E_EXISTS, pos, "relation \"%s\" already exists", name);
    }
    {
        tb_err e2;
        tb_err_clear(&e2);
        rc = tb_delta_open(d.path, -1, &snap, &e2);
        if (rc != TB_OK && rc != TB_E_NOTFOUND) {
            *err = e2;
            err->pos = pos;
            return rc;
        }
        exists = rc == TB_OK;
        rc = TB_OK;
    }
    if (exists && (d.mode == MODE_DEFAULT || d.mode == MODE_ERROR)) {
        rc = TB_ERRPOS(err, TB_E_EXISTS, pos,
                       "delta table '%s' already exists (version %" PRId64 "): use mode = "
                       "'append' or 'overwrite' to write to it, or 'ignore'",
                       d.path, tb_delta_version(snap));
        goto done;
    }
    if (!(exists && d.mode == MODE_IGNORE)) {
        rc = tb_sql_plan_node(db, sql, ct->query, NULL, &plan, err);
        if (rc != TB_OK)
            goto done;
        schema = tb_schema_copy(plan->root->schema);
        if (schema == NULL) {
            rc = tb_err_nomem(err);
            goto done;
        }
        if (into->n_col_names > schema->n) {
            rc = TB_ERRPOS(err, TB_E_SQL, pos, "CREATE TABLE AS specifies too many column names");
            goto done;
        }
        for (uint32_t i = 0; i < schema->n; i++) {
            const char *nm = i < into->n_col_names ? str_of(into->col_names[i]) : NULL;
            if (tb_schema_set(schema, i, nm != NULL ? nm : schema->fields[i].name,
                              schema->fields[i].type.id == TB_T_NULL ? tb_type_make(TB_T_STRING)
                                                                     : schema->fields[i].type,
                              true) != TB_OK) {
                rc = tb_err_nomem(err);
                goto done;
            }
            for (uint32_t j = 0; j < i; j++) {
                if (tb_str_ieq(schema->fields[i].name, schema->fields[j].name)) {
                    rc = TB_ERRPOS(err, TB_E_SQL, pos, "column \"%s\" specified more than once",
                                   schema->fields[i].name);
                    goto done;
                }
            }
        }
        rc = tb_delta_writer_open(d.path, exists ? NULL : schema, (const char **)d.parts, d.n_part,
                                  &w, err);
        if (rc != TB_OK) {
            err->pos = pos;
            goto done;
        }
        /* the query's columns onto the table's, by position (as INSERT) */
        const tb_schema *ws = tb_delta_writer_schema(w);
        int *tgt = tb_arena_zalloc(arena, (schema->n ? schema->n : 1) * sizeof(int));
        if (tgt == NULL) {
            rc = tb_err_nomem(err);
            goto done;
        }
        if (schema->n != ws->n) {
            rc = TB_ERRPOS(err, TB_E_TYPE, pos, "the query has %u columns, delta table '%s' has %u",
                           schema->n, d.path, ws->n);
            goto done;
        }
        for (uint32_t i = 0; i < schema->n; i++)
            tgt[i] = (int)i;
        rc = project_to(plan, ws, tgt, schema->n, pos, err);
        if (rc != TB_OK)
            goto done;
        if (!into->skip_data) {
            rc = drain_delta(plan->root, w, &rows, err);
            if (rc != TB_OK)
                goto done;
        }
        rc = commit_delta(w, d.mode == MODE_OVERWRITE, d.txn_app, d.txn_version, &skipped, err);
        if (rc != TB_OK) {
            if (err->pos < 0)
                err->pos = pos;
            goto done;
        }
    }
    if (prev == NULL) {
        rc = drel_register(db, name, d.path, NULL, -1, false, err);
        if (rc != TB_OK) {
            if (err->pos < 0)
                err->pos = pos;
            goto done;
        }
    }
    *out_changes = skipped ? 0 : rows;
done:
    tb_delta_writer_free(w);
    tb_delta_snapshot_free(snap);
    tb_schema_free(schema);
    tb_plan_free(plan);
    return rc;
}

/* INSERT INTO t ... with t a Delta relation of this module. */
static tb_rc insert_delta(tb_db *db, const char *sql, int offset, const PgQuery__InsertStmt *ins,
                          delta_rel *d, int64_t *out_changes, tb_err *err)
{
    if (d->version >= 0)
        return TB_ERRPOS(err, TB_E_UNSUPPORTED, ins->relation->location,
                         "relation \"%s\" reads version %" PRId64 " of its delta table: it is "
                         "read only",
                         ins->relation->relname, d->version);
    int64_t rows = 0;
    tb_rc rc = insert_rows(db, sql, offset, ins, d->path, d->schema, NULL, NULL, 0, d->overwrite,
                           NULL, &rows, err);
    if (rc == TB_OK)
        *out_changes = rows;
    return rc;
}

/* TRUNCATE of memory tables and Delta relations (one commit removing every file each). */
static tb_rc truncate_stmt(tb_db *db, const PgQuery__TruncateStmt *ts, tb_err *err)
{
    /* decline unless every relation is ours or a memory table: nothing half done */
    for (size_t i = 0; i < ts->n_relations; i++) {
        const pgnode *r = ts->relations[i];
        tb_catalog_info info;
        tb_err e;
        tb_err_clear(&e);
        if (!IS(r, RANGE_VAR) || tb_catalog_lookup(db, r->range_var->relname, &info, &e) != TB_OK)
            return TB_E_UNSUPPORTED;
        if (info.kind == TB_CAT_CONNECTOR && info.vt == &delta_rel_vt) {
            if (((delta_rel *)info.ud)->version >= 0)
                return TB_ERRPOS(err, TB_E_UNSUPPORTED, r->range_var->location,
                                 "relation \"%s\" reads a fixed version of its delta table: it "
                                 "is read only",
                                 r->range_var->relname);
        } else if (info.kind != TB_CAT_TABLE) {
            return TB_E_UNSUPPORTED;
        }
    }
    for (size_t i = 0; i < ts->n_relations; i++) {
        const PgQuery__RangeVar *rv = ts->relations[i]->range_var;
        tb_catalog_info info;
        tb_rc rc = tb_catalog_lookup(db, rv->relname, &info, err);
        if (rc != TB_OK)
            return rc;
        if (info.kind == TB_CAT_TABLE) {
            tb_table_truncate(info.table);
            continue;
        }
        delta_rel *d = info.ud;
        tb_delta_writer *w = NULL;
        bool skipped = false;
        rc = tb_delta_writer_open(d->path, NULL, NULL, 0, &w, err);
        if (rc == TB_OK)
            rc = commit_delta(w, true, NULL, 0, &skipped, err);
        tb_delta_writer_free(w);
        if (rc != TB_OK) {
            if (err->pos < 0)
                err->pos = rv->location;
            return rc;
        }
    }
    return TB_OK;
}

static const char *connector_of(wopts *o)
{
    for (uint32_t i = 0; i < o->n; i++)
        if (strcmp(o->items[i].key, "connector") == 0)
            return o->items[i].val;
    return NULL;
}

static tb_rc dispatch(tb_db *db, const char *sql, int offset, const struct PgQuery__Node *stmt,
                      int64_t *out_changes, tb_err *err)
{
    tb_arena *arena = NULL;
    wopts o = {0};
    tb_rc rc = TB_E_UNSUPPORTED;
    if (stmt == NULL)
        return TB_E_UNSUPPORTED;
    switch (stmt->node_case) {
    case NC(COPY_STMT):
        return copy_stmt(db, sql, offset, stmt->copy_stmt, out_changes, err);
    case NC(INSERT_STMT): {
        const PgQuery__InsertStmt *ins = stmt->insert_stmt;
        delta_rel *d = ins->relation != NULL ? find_drel(db, ins->relation->relname) : NULL;
        if (d == NULL)
            return TB_E_UNSUPPORTED;
        return insert_delta(db, sql, offset, ins, d, out_changes, err);
    }
    case NC(TRUNCATE_STMT):
        return truncate_stmt(db, stmt->truncate_stmt, err);
    case NC(CREATE_STMT): {
        const PgQuery__CreateStmt *cs = stmt->create_stmt;
        if ((arena = tb_arena_new(0)) == NULL)
            return tb_err_nomem(err);
        rc = collect_opts(arena, cs->options, cs->n_options, &o, err);
        if (rc == TB_OK) {
            const char *conn = connector_of(&o);
            rc = conn != NULL && tb_str_ieq(conn, "delta")
                     ? create_delta(db, offset, cs, stmt, arena, &o, err)
                     : TB_E_UNSUPPORTED;
        }
        break;
    }
    case NC(CREATE_TABLE_AS_STMT): {
        const PgQuery__CreateTableAsStmt *ct = stmt->create_table_as_stmt;
        if (ct->objtype != PG_QUERY__OBJECT_TYPE__OBJECT_TABLE || ct->into == NULL)
            return TB_E_UNSUPPORTED;
        if ((arena = tb_arena_new(0)) == NULL)
            return tb_err_nomem(err);
        rc = collect_opts(arena, ct->into->options, ct->into->n_options, &o, err);
        if (rc == TB_OK) {
            const char *conn = connector_of(&o);
            rc = conn != NULL && tb_str_ieq(conn, "delta")
                     ? ctas_delta(db, sql, offset, ct, arena, &o, out_changes, err)
                     : TB_E_UNSUPPORTED;
        }
        break;
    }
    default:
        return TB_E_UNSUPPORTED;
    }
    tb_arena_free(arena);
    return rc;
}

tb_rc tb_write_stmt_hook(void *ud, tb_db *db, const char *sql, int offset, int len,
                         const struct PgQuery__Node *stmt, int64_t *out_changes, tb_err *err)
{
    (void)ud;
    (void)len;
    tb_err_clear(err);
    tb_rc rc = dispatch(db, sql, offset, stmt, out_changes, err);
    if (rc == TB_E_UNSUPPORTED && err->msg[0] != '\0') {
        /* a statement of ours that failed as "not supported": TB_E_UNSUPPORTED would
         * tell the SQL layer we declined it, and the message would be lost */
        err->code = TB_E_SQL;
        rc = TB_E_SQL;
    }
    return rc;
}

tb_rc tb_write_insert_declared(tb_db *db, const char *sql, int offset, int len,
                               const struct PgQuery__Node *stmt, const tb_strlist *opts,
                               const tb_schema *declared, int64_t *out_changes, tb_err *err)
{
    const char *connector = NULL, *path = NULL, *pby = NULL, *mode = NULL, *omode = NULL;
    char **parts = NULL;
    uint32_t n_part = 0;
    int64_t rows = 0;
    char app[64];
    tb_rc rc;
    if (!IS(stmt, INSERT_STMT))
        return TB_ERRF(err, TB_E_MISUSE, "tb_write_insert_declared: not an INSERT");
    const PgQuery__InsertStmt *ins = stmt->insert_stmt;
    for (size_t i = 0; i + 1 < opts->n; i += 2) {
        const char *k = opts->items[i], *v = opts->items[i + 1];
        if (tb_str_ieq(k, "connector"))
            connector = v;
        else if (tb_str_ieq(k, "path"))
            path = v;
        else if (tb_str_ieq(k, "partition_by"))
            pby = v;
        else if (tb_str_ieq(k, "mode"))
            mode = v;
        else if (tb_str_ieq(k, "output_mode"))
            omode = v;
    }
    if (connector == NULL || !tb_str_ieq(connector, "delta"))
        return TB_ERRPOS(err, TB_E_UNSUPPORTED, offset,
                         "INSERT INTO %s: the query reads no stream; a %s table receives "
                         "continuous queries only",
                         ins->relation->relname, connector != NULL ? connector : "(no connector)");
    if (path == NULL || path[0] == '\0')
        return TB_ERRPOS(err, TB_E_SQL, offset, "a delta table needs path = '...'");
    tb_arena *arena = tb_arena_new(0);
    if (arena == NULL)
        return tb_err_nomem(err);
    if (pby != NULL && (rc = split_names(arena, pby, &parts, &n_part, err)) != TB_OK)
        goto done;
    /* committed once per table: a restarted job does not append the rows again */
    {
        size_t n = len > 0 ? (size_t)len : strlen(sql + offset);
        uint64_t h = tb_hash_bytes(sql + offset, n, 0x7472696275746172ULL);
        h = tb_hash_combine(h, tb_hash_bytes(path, strlen(path), 0));
        snprintf(app, sizeof(app), "tributary-insert-%016" PRIx64, h);
    }
    bool overwrite = (mode != NULL && tb_str_ieq(mode, "overwrite")) ||
                     (mode == NULL && omode != NULL && tb_str_ieq(omode, "complete"));
    rc = insert_rows(db, sql, offset, ins, path, declared, declared, parts, n_part, overwrite, app,
                     &rows, err);
    if (rc != TB_OK)
        goto done;
    if (out_changes != NULL)
        *out_changes = rows;
    /* queryable by name from now on, if the job has not declared it already */
    if (!name_taken(db, ins->relation->relname)) {
        tb_err e2;
        tb_err_clear(&e2);
        if (drel_register(db, ins->relation->relname, path, declared, -1, overwrite, &e2) != TB_OK)
            tb_log(TB_LOG_WARN, "delta table %s: %s", ins->relation->relname, e2.msg);
    }
done:
    tb_arena_free(arena);
    return rc;
}
