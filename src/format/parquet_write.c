/*
 * parquet_write.c - the Parquet writer (see parquet_write.h for the format choices).
 *
 * Structure: a file has leaves (one per primitive column of the flattened schema). Each
 * leaf accumulates the current data page (levels + values: dictionary indices or PLAIN
 * bytes) and the encoded pages of the current column chunk. A page is closed when its
 * estimated size reaches page_size_bytes; a row group is flushed (dictionary page then
 * data pages, leaf after leaf) when the buffered bytes reach row_group_size_bytes or
 * the row count reaches row_group_rows. The footer is built from the per-chunk metadata
 * recorded at each flush and encoded with parquet_meta.c's encoders.
 *
 * Invariants:
 * - Pages and row groups end on record boundaries (checks run between records/batches).
 * - Every value reaches a leaf in its PLAIN byte form (little-endian fixed width,
 *   BYTE_ARRAY payload without the length prefix, big-endian FIXED decimals); the
 *   dictionary, PLAIN pages and statistics all work on those bytes.
 * - Once a chunk's dictionary passes dict_size_limit, its later pages are PLAIN (the
 *   dictionary page is still written first: earlier pages refer to it).
 * - Nothing is visible at `path` until close renames the finished temp file.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/parquet_write.h"
#include "format/rle.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "parquet_write.c assumes a little-endian host (PLAIN encoding is little-endian)"
#endif

#define PW_CREATED_BY "tributary version " TB_VERSION

/* ---------------------------------------------------------------- structures */

typedef struct pw_stats {
    uint64_t nulls;
    bool has; /* min/max set */
    bool off; /* min/max not kept for this range */
    int64_t imin, imax;
    double dmin, dmax;
    tb_buf bmin, bmax;
} pw_stats;

typedef struct pw_chunk_meta {
    int64_t data_page_offset;
    int64_t dict_page_offset; /* -1 if none */
    int64_t total_compressed;
    int64_t total_uncompressed;
    int64_t num_values;
    int32_t encodings[3];
    uint32_t n_enc;
    bool has_stats;
    int64_t null_count;
    uint8_t *min, *max; /* heap copies, NULL if none */
    uint32_t min_len, max_len;
} pw_chunk_meta;

typedef struct pw_rg {
    int64_t num_rows;
    int64_t total_byte_size;
    int64_t total_compressed;
    int64_t file_offset;
    pw_chunk_meta *cols;
} pw_rg;

typedef struct pw_leaf {
    const char **path; /* path_in_schema (names owned by the writer) */
    uint32_t n_path;
    tb_type type;
    int ptype;
    int32_t flba_len;
    int max_def, max_rep;
    bool dict_allowed;
    bool use_dict;  /* current pages are dictionary-encoded */
    bool dict_full; /* switch to PLAIN at the next page boundary */
    /* dictionary of the current chunk */
    tb_buf dict;
    uint32_t *dict_off; /* start of each entry's payload in dict */
    uint32_t *dict_len;
    size_t n_dict, cap_dict;
    uint32_t *slots; /* index + 1 */
    size_t n_slots;
    /* current page */
    tb_buf vals; /* PLAIN values (BOOLEAN: one byte per value, packed at flush) */
    uint32_t *idx;
    size_t n_idx, cap_idx;
    uint32_t *defs, *reps;
    size_t n_lv, cap_lv;
    uint32_t page_values;
    pw_stats pstats;
    /* current chunk */
    tb_buf pages;
    int64_t chunk_values;
    int64_t chunk_uncompressed;
    bool had_dict_pages, had_plain_pages;
    pw_stats cstats;
    pw_stats fstats; /* whole file */
} pw_leaf;

struct tb_parquet_writer {
    tb_parquet_write_opts opts;
    char *path;
    char *tmp_path;
    int fd;
    uint64_t offset;
    char **names; /* schema element names */
    tb_pq_schema_element *els;
    uint32_t n_els;
    pw_leaf *leaves;
    uint32_t n_leaves;
    bool flat;
    uint64_t rows_total;
    uint64_t rg_rows;
    pw_rg *rgs;
    size_t n_rg, cap_rg;
    tb_buf body;  /* page body being assembled */
    tb_buf cbuf;  /* compressed body */
    tb_buf hdr;   /* page header */
    pw_stats tmp; /* col_stats result */
};

/* ---------------------------------------------------------------- options */

void tb_parquet_write_opts_default(tb_parquet_write_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->codec = TB_CODEC_SNAPPY;
    opts->row_group_size_bytes = (uint64_t)128 << 20;
    opts->row_group_rows = 0;
    opts->page_size_bytes = 1u << 20;
    opts->dict_size_limit = 1u << 20;
    opts->dictionary = true;
    opts->timestamp_utc = false;
    opts->statistics = true;
    opts->max_stat_bytes = 4096;
    opts->sync = true;
}

/* ---------------------------------------------------------------- statistics */

static void stats_reset(pw_stats *s)
{
    s->nulls = 0;
    s->has = false;
    s->off = false;
    s->bmin.len = 0;
    s->bmax.len = 0;
}

static void stats_free(pw_stats *s)
{
    tb_buf_free(&s->bmin);
    tb_buf_free(&s->bmax);
}

/* Big-endian two's complement compare (FIXED decimals). */
static int cmp_be_signed(const uint8_t *a, const uint8_t *b, uint32_t n)
{
    if (n == 0)
        return 0;
    if (a[0] != b[0])
        return (int8_t)a[0] < (int8_t)b[0] ? -1 : 1;
    return memcmp(a + 1, b + 1, n - 1);
}

static int cmp_bytes(const uint8_t *a, uint32_t an, const uint8_t *b, uint32_t bn)
{
    int c = memcmp(a, b, TB_MIN(an, bn));
    if (c != 0)
        return c;
    return an < bn ? -1 : an > bn;
}

static tb_rc buf_set(tb_buf *b, const void *p, size_t n)
{
    b->len = 0;
    return tb_buf_append(b, p, n);
}

/* Update page stats with one non-null PLAIN value. */
static tb_rc stats_add(const pw_leaf *leaf, pw_stats *s, const uint8_t *v, uint32_t n,
                       uint32_t max_bytes)
{
    if (s->off)
        return TB_OK;
    switch (leaf->ptype) {
    case TB_PQ_BOOLEAN:
    case TB_PQ_INT32:
    case TB_PQ_INT64: {
        int64_t x;
        if (leaf->ptype == TB_PQ_BOOLEAN)
            x = v[0];
        else if (leaf->ptype == TB_PQ_INT32) {
            int32_t t;
            memcpy(&t, v, 4);
            x = t;
        } else
            memcpy(&x, v, 8);
        if (!s->has) {
            s->imin = s->imax = x;
            s->has = true;
        } else if (x < s->imin)
            s->imin = x;
        else if (x > s->imax)
            s->imax = x;
        return TB_OK;
    }
    case TB_PQ_FLOAT:
    case TB_PQ_DOUBLE: {
        double x;
        if (leaf->ptype == TB_PQ_FLOAT) {
            float f;
            memcpy(&f, v, 4);
            x = f;
        } else
            memcpy(&x, v, 8);
        if (isnan(x))
            return TB_OK;
        if (!s->has) {
            s->dmin = s->dmax = x;
            s->has = true;
        } else if (x < s->dmin)
            s->dmin = x;
        else if (x > s->dmax)
            s->dmax = x;
        return TB_OK;
    }
    case TB_PQ_BYTE_ARRAY:
    case TB_PQ_FIXED_LEN_BYTE_ARRAY: {
        bool be = leaf->ptype == TB_PQ_FIXED_LEN_BYTE_ARRAY;
        if (leaf->type.id == TB_T_INTERVAL || n > max_bytes) {
            s->off = true;
            s->has = false;
            return TB_OK;
        }
        if (!s->has) {
            s->has = true;
            if (buf_set(&s->bmin, v, n) != TB_OK || buf_set(&s->bmax, v, n) != TB_OK)
                return TB_E_NOMEM;
            return TB_OK;
        }
        if (be ? cmp_be_signed(v, (const uint8_t *)s->bmin.data, n) < 0
               : cmp_bytes(v, n, (const uint8_t *)s->bmin.data, (uint32_t)s->bmin.len) < 0) {
            if (buf_set(&s->bmin, v, n) != TB_OK)
                return TB_E_NOMEM;
        } else if (be ? cmp_be_signed(v, (const uint8_t *)s->bmax.data, n) > 0
                      : cmp_bytes(v, n, (const uint8_t *)s->bmax.data, (uint32_t)s->bmax.len) > 0) {
            if (buf_set(&s->bmax, v, n) != TB_OK)
                return TB_E_NOMEM;
        }
        return TB_OK;
    }
    default:
        return TB_OK;
    }
}

/* dst += src */
static tb_rc stats_merge(const pw_leaf *leaf, pw_stats *dst, const pw_stats *src)
{
    dst->nulls += src->nulls;
    if (src->off) {
        dst->off = true;
        dst->has = false;
    }
    if (dst->off || !src->has)
        return TB_OK;
    switch (leaf->ptype) {
    case TB_PQ_BOOLEAN:
    case TB_PQ_INT32:
    case TB_PQ_INT64:
        if (!dst->has || src->imin < dst->imin)
            dst->imin = src->imin;
        if (!dst->has || src->imax > dst->imax)
            dst->imax = src->imax;
        break;
    case TB_PQ_FLOAT:
    case TB_PQ_DOUBLE:
        if (!dst->has || src->dmin < dst->dmin)
            dst->dmin = src->dmin;
        if (!dst->has || src->dmax > dst->dmax)
            dst->dmax = src->dmax;
        break;
    default: {
        bool be = leaf->ptype == TB_PQ_FIXED_LEN_BYTE_ARRAY;
        const uint8_t *smin = (const uint8_t *)src->bmin.data,
                      *smax = (const uint8_t *)src->bmax.data;
        if (!dst->has ||
            (be ? cmp_be_signed(smin, (const uint8_t *)dst->bmin.data, (uint32_t)src->bmin.len) < 0
                : cmp_bytes(smin, (uint32_t)src->bmin.len, (const uint8_t *)dst->bmin.data,
                            (uint32_t)dst->bmin.len) < 0))
            if (buf_set(&dst->bmin, smin, src->bmin.len) != TB_OK)
                return TB_E_NOMEM;
        if (!dst->has ||
            (be ? cmp_be_signed(smax, (const uint8_t *)dst->bmax.data, (uint32_t)src->bmax.len) > 0
                : cmp_bytes(smax, (uint32_t)src->bmax.len, (const uint8_t *)dst->bmax.data,
                            (uint32_t)dst->bmax.len) > 0))
            if (buf_set(&dst->bmax, smax, src->bmax.len) != TB_OK)
                return TB_E_NOMEM;
        break;
    }
    }
    dst->has = true;
    return TB_OK;
}

/* PLAIN bytes of the min (or max) into out[16] (fixed types) or a pointer to the buffer. */
static const uint8_t *stats_bytes(const pw_leaf *leaf, const pw_stats *s, bool max, uint8_t *tmp,
                                  uint32_t *out_len)
{
    switch (leaf->ptype) {
    case TB_PQ_BOOLEAN:
        tmp[0] = (uint8_t)(max ? s->imax : s->imin);
        *out_len = 1;
        return tmp;
    case TB_PQ_INT32: {
        int32_t v = (int32_t)(max ? s->imax : s->imin);
        memcpy(tmp, &v, 4);
        *out_len = 4;
        return tmp;
    }
    case TB_PQ_INT64: {
        int64_t v = max ? s->imax : s->imin;
        memcpy(tmp, &v, 8);
        *out_len = 8;
        return tmp;
    }
    case TB_PQ_FLOAT:
    case TB_PQ_DOUBLE: {
        double d = max ? s->dmax : s->dmin;
        /* Parquet's rule for zeros: min -0.0, max +0.0 */
        if (d == 0.0)
            d = max ? 0.0 : -0.0;
        if (leaf->ptype == TB_PQ_FLOAT) {
            float f = (float)d;
            memcpy(tmp, &f, 4);
            *out_len = 4;
        } else {
            memcpy(tmp, &d, 8);
            *out_len = 8;
        }
        return tmp;
    }
    default:
        *out_len = (uint32_t)(max ? s->bmax.len : s->bmin.len);
        return (const uint8_t *)(max ? s->bmax.data : s->bmin.data);
    }
}

/* Fill a thrift Statistics from s. Pointers refer to tmp buffers or s. */
static void stats_to_pq(const pw_leaf *leaf, const pw_stats *s, tb_pq_statistics *st, uint8_t *tmin,
                        uint8_t *tmax)
{
    uint32_t n;
    const uint8_t *p;

    tb_pq_statistics_init(st);
    st->null_count = (int64_t)s->nulls;
    if (s->has && !s->off) {
        p = stats_bytes(leaf, s, false, tmin, &n);
        st->min_value.p = p;
        st->min_value.len = n;
        st->min_value.set = true;
        p = stats_bytes(leaf, s, true, tmax, &n);
        st->max_value.p = p;
        st->max_value.len = n;
        st->max_value.set = true;
    }
}

/* ---------------------------------------------------------------- schema setup */

static int decimal_flba_len(int precision)
{
    int len = 1;
    /* smallest n with 2^(8n-1) > 10^p - 1 */
    while (len < 16 && (double)precision > log10(2.0) * (8.0 * len - 1))
        len++;
    return len;
}

static tb_rc leaf_init(tb_parquet_writer *w, pw_leaf *leaf, tb_pq_schema_element *se, tb_type t,
                       tb_err *err)
{
    leaf->type = t;
    leaf->flba_len = 0;
    switch ((tb_type_id)t.id) {
    case TB_T_BOOL:
        leaf->ptype = TB_PQ_BOOLEAN;
        break;
    case TB_T_INT16:
        leaf->ptype = TB_PQ_INT32;
        se->converted_type = TB_PQ_CT_INT_16;
        se->has_logical = true;
        se->logical.kind = TB_PQ_LT_INTEGER;
        se->logical.bit_width = 16;
        se->logical.is_signed = true;
        break;
    case TB_T_INT32:
        leaf->ptype = TB_PQ_INT32;
        break;
    case TB_T_INT64:
        leaf->ptype = TB_PQ_INT64;
        break;
    case TB_T_FLOAT:
        leaf->ptype = TB_PQ_FLOAT;
        break;
    case TB_T_DOUBLE:
        leaf->ptype = TB_PQ_DOUBLE;
        break;
    case TB_T_DECIMAL:
        if (t.precision < 1 || t.precision > 38 || t.scale > t.precision)
            return TB_ERRF(err, TB_E_TYPE, "parquet: %s: bad numeric(%d,%d)", w->path, t.precision,
                           t.scale);
        if (t.precision <= 9)
            leaf->ptype = TB_PQ_INT32;
        else if (t.precision <= 18)
            leaf->ptype = TB_PQ_INT64;
        else {
            leaf->ptype = TB_PQ_FIXED_LEN_BYTE_ARRAY;
            leaf->flba_len = decimal_flba_len(t.precision);
            se->type_length = leaf->flba_len;
        }
        se->converted_type = TB_PQ_CT_DECIMAL;
        se->scale = t.scale;
        se->precision = t.precision;
        se->has_logical = true;
        se->logical.kind = TB_PQ_LT_DECIMAL;
        se->logical.scale = t.scale;
        se->logical.precision = t.precision;
        break;
    case TB_T_STRING:
        leaf->ptype = TB_PQ_BYTE_ARRAY;
        se->converted_type = TB_PQ_CT_UTF8;
        se->has_logical = true;
        se->logical.kind = TB_PQ_LT_STRING;
        break;
    case TB_T_DATE:
        leaf->ptype = TB_PQ_INT32;
        se->converted_type = TB_PQ_CT_DATE;
        se->has_logical = true;
        se->logical.kind = TB_PQ_LT_DATE;
        break;
    case TB_T_TIMESTAMP:
        leaf->ptype = TB_PQ_INT64;
        /* The converted type implies UTC-adjusted: only set with timestamp_utc. */
        if (w->opts.timestamp_utc)
            se->converted_type = TB_PQ_CT_TIMESTAMP_MICROS;
        se->has_logical = true;
        se->logical.kind = TB_PQ_LT_TIMESTAMP;
        se->logical.utc = w->opts.timestamp_utc;
        se->logical.unit = TB_PQ_UNIT_MICROS;
        break;
    case TB_T_INTERVAL:
        leaf->ptype = TB_PQ_FIXED_LEN_BYTE_ARRAY;
        leaf->flba_len = 12;
        se->type_length = 12;
        se->converted_type = TB_PQ_CT_INTERVAL;
        break;
    default:
        return TB_ERRF(err, TB_E_UNSUPPORTED, "parquet: %s: column '%s': type %s cannot be written",
                       w->path, se->name, tb_type_id_name((tb_type_id)t.id));
    }
    se->type = leaf->ptype;
    leaf->dict_allowed = w->opts.dictionary && leaf->ptype != TB_PQ_BOOLEAN;
    leaf->use_dict = leaf->dict_allowed;
    return TB_OK;
}

/* Walk the node list depth-first from *pos; fills elements and leaves. */
static tb_rc build_schema(tb_parquet_writer *w, const tb_pq_node *nodes, uint32_t n_nodes,
                          uint32_t *pos, uint32_t n_siblings, int def, int rep, const char **path,
                          uint32_t depth, tb_err *err)
{
    uint32_t k;
    tb_rc rc;

    for (k = 0; k < n_siblings; k++) {
        const tb_pq_node *nd;
        tb_pq_schema_element *se;
        uint32_t el;
        int d = def, r = rep;

        if (*pos >= n_nodes || depth >= 32)
            return TB_ERRF(err, TB_E_MISUSE, "parquet: %s: malformed nested schema", w->path);
        nd = &nodes[*pos];
        el = *pos + 1; /* element 0 is the root */
        (*pos)++;
        se = &w->els[el];
        tb_pq_schema_element_init(se);
        w->names[el] = tb_strdup(nd->name);
        if (w->names[el] == NULL)
            return tb_err_nomem(err);
        se->name = w->names[el];
        se->repetition = nd->repetition;
        if (nd->repetition != TB_PQ_REQUIRED)
            d++;
        if (nd->repetition == TB_PQ_REPEATED)
            r++;
        path[depth] = se->name;
        if (nd->n_children > 0) {
            se->num_children = (int32_t)nd->n_children;
            if (nd->converted_type >= 0) {
                se->converted_type = nd->converted_type;
                if (nd->converted_type == TB_PQ_CT_MAP || nd->converted_type == TB_PQ_CT_LIST) {
                    se->has_logical = true;
                    se->logical.kind =
                        nd->converted_type == TB_PQ_CT_MAP ? TB_PQ_LT_MAP : TB_PQ_LT_LIST;
                }
            }
            rc = build_schema(w, nodes, n_nodes, pos, nd->n_children, d, r, path, depth + 1, err);
            if (rc != TB_OK)
                return rc;
        } else {
            pw_leaf *leaf = &w->leaves[w->n_leaves];
            uint32_t i;
            leaf->path = tb_calloc(depth + 1, sizeof(char *));
            if (leaf->path == NULL)
                return tb_err_nomem(err);
            for (i = 0; i <= depth; i++)
                leaf->path[i] = path[i];
            leaf->n_path = depth + 1;
            leaf->max_def = d;
            leaf->max_rep = r;
            w->n_leaves++;
            rc = leaf_init(w, leaf, se, nd->type, err);
            if (rc != TB_OK)
                return rc;
        }
    }
    return TB_OK;
}

static tb_rc writer_new(const char *path, const tb_pq_node *nodes, uint32_t n_nodes, uint32_t n_top,
                        const tb_parquet_write_opts *opts, bool flat, tb_parquet_writer **out,
                        tb_err *err)
{
    tb_parquet_writer *w;
    const char *slash, *name;
    const char *pathbuf[32];
    uint32_t pos = 0, i, n_leaves = 0;
    size_t cap;
    tb_rc rc;

    *out = NULL;
    /* the entry points checked the path; nodes are theirs */
    assert(path != NULL && nodes != NULL);
    w = tb_calloc(1, sizeof(*w));
    if (w == NULL)
        return tb_err_nomem(err);
    w->fd = -1;
    w->flat = flat;
    if (opts != NULL)
        w->opts = *opts;
    else
        tb_parquet_write_opts_default(&w->opts);
    if (w->opts.page_size_bytes == 0)
        w->opts.page_size_bytes = 1u << 20;
    if (w->opts.row_group_size_bytes == 0)
        w->opts.row_group_size_bytes = (uint64_t)128 << 20;
    if (!tb_codec_supported(w->opts.codec)) {
        rc = TB_ERRF(err, TB_E_UNSUPPORTED, "parquet: codec %s not supported for writing",
                     tb_codec_name(w->opts.codec));
        goto fail;
    }
    w->path = tb_strdup(path);
    if (w->path == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    for (i = 0; i < n_nodes; i++)
        if (nodes[i].n_children == 0)
            n_leaves++;
    w->n_els = n_nodes + 1;
    w->els = tb_calloc(w->n_els, sizeof(*w->els));
    w->names = tb_calloc(w->n_els, sizeof(char *));
    w->leaves = tb_calloc(n_leaves > 0 ? n_leaves : 1, sizeof(*w->leaves));
    if (w->els == NULL || w->names == NULL || w->leaves == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    tb_pq_schema_element_init(&w->els[0]);
    w->names[0] = tb_strdup("schema");
    if (w->names[0] == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    w->els[0].name = w->names[0];
    w->els[0].num_children = (int32_t)n_top;
    rc = build_schema(w, nodes, n_nodes, &pos, n_top, 0, 0, pathbuf, 0, err);
    if (rc != TB_OK)
        goto fail;
    if (pos != n_nodes) {
        rc = TB_ERRF(err, TB_E_MISUSE, "parquet: %s: malformed nested schema", path);
        goto fail;
    }
    /* temp file "<dir>/.<name>.tmp-<pid>" */
    slash = strrchr(path, '/');
    name = slash != NULL ? slash + 1 : path;
    if (*name == '\0') {
        rc = TB_ERRF(err, TB_E_MISUSE, "parquet: '%s' is not a file name", path);
        goto fail;
    }
    cap = strlen(path) + 32;
    w->tmp_path = tb_malloc(cap);
    if (w->tmp_path == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    snprintf(w->tmp_path, cap, "%.*s.%s.tmp-%d", (int)(name - path), path, name, (int)getpid());
    w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        rc = TB_ERRF(err, TB_E_IO, "parquet: create '%s': %s", w->tmp_path, strerror(errno));
        goto fail;
    }
    if (write(w->fd, "PAR1", 4) != 4) {
        rc = TB_ERRF(err, TB_E_IO, "parquet: write '%s': %s", w->tmp_path, strerror(errno));
        goto fail;
    }
    w->offset = 4;
    *out = w;
    return TB_OK;
fail:
    tb_parquet_writer_abort(w);
    return rc;
}

tb_rc tb_parquet_writer_open(const char *path, const tb_schema *schema,
                             const tb_parquet_write_opts *opts, tb_parquet_writer **out,
                             tb_err *err)
{
    tb_pq_node *nodes;
    uint32_t i;
    tb_rc rc;

    *out = NULL;
    if (path == NULL || schema == NULL)
        return TB_ERRF(err, TB_E_MISUSE, "parquet: writer needs a path and a schema");
    nodes = tb_calloc(schema->n > 0 ? schema->n : 1, sizeof(*nodes));
    if (nodes == NULL)
        return tb_err_nomem(err);
    for (i = 0; i < schema->n; i++) {
        nodes[i].name = schema->fields[i].name;
        nodes[i].repetition = schema->fields[i].nullable ? TB_PQ_OPTIONAL : TB_PQ_REQUIRED;
        nodes[i].n_children = 0;
        nodes[i].converted_type = -1;
        nodes[i].type = schema->fields[i].type;
    }
    rc = writer_new(path, nodes, schema->n, schema->n, opts, true, out, err);
    tb_free(nodes);
    return rc;
}

tb_rc tb_parquet_writer_open_nested(const char *path, const tb_pq_node *nodes, uint32_t n_nodes,
                                    const tb_parquet_write_opts *opts, tb_parquet_writer **out,
                                    tb_err *err)
{
    uint32_t n_top = 0, i = 0;

    *out = NULL;
    if (path == NULL || nodes == NULL)
        return TB_ERRF(err, TB_E_MISUSE, "parquet: writer needs a path and a schema");
    /* count top-level nodes by skipping subtrees */
    while (i < n_nodes) {
        uint32_t pending = 1;
        n_top++;
        while (pending > 0 && i < n_nodes) {
            pending += nodes[i].n_children;
            pending--;
            i++;
        }
    }
    return writer_new(path, nodes, n_nodes, n_top, opts, false, out, err);
}

/* ---------------------------------------------------------------- value intake */

static tb_rc dict_rehash(pw_leaf *leaf, size_t n_slots)
{
    uint32_t *slots = tb_calloc(n_slots, sizeof(uint32_t));
    size_t i;

    if (slots == NULL)
        return TB_E_NOMEM;
    for (i = 0; i < leaf->n_dict; i++) {
        size_t h =
            (size_t)tb_hash_bytes(leaf->dict.data + leaf->dict_off[i], leaf->dict_len[i], 7) &
            (n_slots - 1);
        while (slots[h] != 0)
            h = (h + 1) & (n_slots - 1);
        slots[h] = (uint32_t)(i + 1);
    }
    tb_free(leaf->slots);
    leaf->slots = slots;
    leaf->n_slots = n_slots;
    return TB_OK;
}

/* Dictionary index of v (inserting it). */
static tb_rc dict_index(tb_parquet_writer *w, pw_leaf *leaf, const uint8_t *v, uint32_t n,
                        uint32_t *out)
{
    size_t h;
    uint64_t hv;

    if ((leaf->n_dict + 1) * 4 >= leaf->n_slots * 3) {
        size_t want = leaf->n_slots == 0 ? 1024 : leaf->n_slots * 2;
        if (dict_rehash(leaf, want) != TB_OK)
            return TB_E_NOMEM;
    }
    hv = tb_hash_bytes(v, n, 7);
    h = (size_t)hv & (leaf->n_slots - 1);
    while (leaf->slots[h] != 0) {
        uint32_t k = leaf->slots[h] - 1;
        if (leaf->dict_len[k] == n && memcmp(leaf->dict.data + leaf->dict_off[k], v, n) == 0) {
            *out = k;
            return TB_OK;
        }
        h = (h + 1) & (leaf->n_slots - 1);
    }
    if (leaf->n_dict == leaf->cap_dict) {
        size_t cap = leaf->cap_dict, cap2 = leaf->cap_dict;
        if (tb_grow((void **)&leaf->dict_off, &cap, leaf->n_dict + 1, sizeof(uint32_t)) != TB_OK ||
            tb_grow((void **)&leaf->dict_len, &cap2, leaf->n_dict + 1, sizeof(uint32_t)) != TB_OK)
            return TB_E_NOMEM;
        leaf->cap_dict = TB_MIN(cap, cap2);
    }
    if (leaf->ptype == TB_PQ_BYTE_ARRAY) {
        uint32_t len32 = n;
        if (tb_buf_append(&leaf->dict, &len32, 4) != TB_OK)
            return TB_E_NOMEM;
    }
    if (leaf->dict.len + n > UINT32_MAX)
        return TB_E_LIMIT;
    leaf->dict_off[leaf->n_dict] = (uint32_t)leaf->dict.len;
    leaf->dict_len[leaf->n_dict] = n;
    if (tb_buf_append(&leaf->dict, v, n) != TB_OK)
        return TB_E_NOMEM;
    leaf->slots[h] = (uint32_t)(leaf->n_dict + 1);
    *out = (uint32_t)leaf->n_dict++;
    if (leaf->dict.len > w->opts.dict_size_limit)
        leaf->dict_full = true;
    return TB_OK;
}

/* Append one non-null value (PLAIN bytes) to the current page. */
static inline tb_rc put_plain(tb_parquet_writer *w, pw_leaf *leaf, const uint8_t *v, uint32_t n)
{
    if (w->opts.statistics && stats_add(leaf, &leaf->pstats, v, n, w->opts.max_stat_bytes) != TB_OK)
        return TB_E_NOMEM;
    if (leaf->use_dict) {
        uint32_t k;
        tb_rc rc;
        if (leaf->n_idx == leaf->cap_idx && tb_grow((void **)&leaf->idx, &leaf->cap_idx,
                                                    leaf->n_idx + 1, sizeof(uint32_t)) != TB_OK)
            return TB_E_NOMEM;
        rc = dict_index(w, leaf, v, n, &k);
        if (rc != TB_OK)
            return rc;
        leaf->idx[leaf->n_idx++] = k;
        return TB_OK;
    }
    if (leaf->ptype == TB_PQ_BYTE_ARRAY && tb_buf_append(&leaf->vals, &n, 4) != TB_OK)
        return TB_E_NOMEM;
    return tb_buf_append(&leaf->vals, v, n);
}

static tb_rc levels_reserve(pw_leaf *leaf, size_t extra)
{
    size_t need = leaf->n_lv + extra, cap;
    uint32_t *p;

    if (need <= leaf->cap_lv)
        return TB_OK;
    cap = TB_MAX(need, TB_MAX(leaf->cap_lv * 2, (size_t)1024));
    if (leaf->max_def > 0) {
        p = tb_realloc(leaf->defs, cap * sizeof(uint32_t));
        if (p == NULL)
            return TB_E_NOMEM;
        leaf->defs = p;
    }
    if (leaf->max_rep > 0) {
        p = tb_realloc(leaf->reps, cap * sizeof(uint32_t));
        if (p == NULL)
            return TB_E_NOMEM;
        leaf->reps = p;
    }
    leaf->cap_lv = cap;
    return TB_OK;
}

static void i128_to_be(tb_i128 v, uint8_t *out, int len)
{
    int i;
    for (i = len - 1; i >= 0; i--) {
        out[i] = (uint8_t)(v & 0xff);
        v >>= 8; /* arithmetic shift keeps the sign */
    }
}

/* PLAIN bytes of value row i of vector vec (non-null). Returns the length; *out_p points
 * to scratch or into the vector. */
static inline uint32_t value_bytes(const pw_leaf *leaf, const tb_vec *vec, uint32_t i,
                                   uint8_t *scratch, const uint8_t **out_p)
{
    switch ((tb_type_id)leaf->type.id) {
    case TB_T_BOOL:
        scratch[0] = TB_VEC_PTR(vec, uint8_t)[i] != 0;
        *out_p = scratch;
        return 1;
    case TB_T_INT16: {
        int32_t x = TB_VEC_PTR(vec, int16_t)[i];
        memcpy(scratch, &x, 4);
        *out_p = scratch;
        return 4;
    }
    case TB_T_INT32:
    case TB_T_DATE:
    case TB_T_FLOAT:
        *out_p = (const uint8_t *)vec->data + (size_t)i * 4;
        return 4;
    case TB_T_INT64:
    case TB_T_TIMESTAMP:
    case TB_T_DOUBLE:
        *out_p = (const uint8_t *)vec->data + (size_t)i * 8;
        return 8;
    case TB_T_DECIMAL: {
        tb_i128 d = TB_VEC_PTR(vec, tb_i128)[i];
        *out_p = scratch;
        if (leaf->ptype == TB_PQ_INT32) {
            int32_t x = (int32_t)d;
            memcpy(scratch, &x, 4);
            return 4;
        }
        if (leaf->ptype == TB_PQ_INT64) {
            int64_t x = (int64_t)d;
            memcpy(scratch, &x, 8);
            return 8;
        }
        i128_to_be(d, scratch, leaf->flba_len);
        return (uint32_t)leaf->flba_len;
    }
    case TB_T_STRING: {
        const tb_str *s = &TB_VEC_PTR(vec, tb_str)[i];
        *out_p = (const uint8_t *)s->ptr;
        return s->len;
    }
    case TB_T_INTERVAL: {
        const tb_interval *iv = &TB_VEC_PTR(vec, tb_interval)[i];
        uint32_t m = (uint32_t)iv->months, d = (uint32_t)iv->days,
                 ms = (uint32_t)(int32_t)(iv->micros / 1000);
        memcpy(scratch, &m, 4);
        memcpy(scratch + 4, &d, 4);
        memcpy(scratch + 8, &ms, 4);
        *out_p = scratch;
        return 12;
    }
    default:
        *out_p = scratch;
        return 0;
    }
}

/* Append rows [off, off + n) of a flat column. */
static tb_rc leaf_append_vec(tb_parquet_writer *w, pw_leaf *leaf, const tb_vec *vec, uint32_t off,
                             uint32_t n)
{
    uint32_t i;
    uint8_t scratch[16];
    tb_rc rc;

    if (leaf->max_def > 0) {
        if (levels_reserve(leaf, n) != TB_OK)
            return TB_E_NOMEM;
        if (vec->valid == NULL) {
            for (i = 0; i < n; i++)
                leaf->defs[leaf->n_lv + i] = 1;
        } else {
            for (i = 0; i < n; i++)
                leaf->defs[leaf->n_lv + i] = !tb_vec_is_null(vec, off + i);
        }
        leaf->n_lv += n;
    }
    if (!leaf->use_dict && leaf->ptype != TB_PQ_BYTE_ARRAY && vec->valid == NULL &&
        (leaf->type.id == TB_T_INT32 || leaf->type.id == TB_T_INT64 ||
         leaf->type.id == TB_T_DOUBLE || leaf->type.id == TB_T_DATE ||
         leaf->type.id == TB_T_TIMESTAMP || leaf->type.id == TB_T_FLOAT)) {
        /* fast path: PLAIN fixed width without NULLs is the vector's memory */
        size_t width = tb_type_width(leaf->type);
        if (tb_buf_append(&leaf->vals, (const char *)vec->data + (size_t)off * width,
                          (size_t)n * width) != TB_OK)
            return TB_E_NOMEM;
        if (w->opts.statistics) {
            for (i = 0; i < n; i++) {
                const uint8_t *p = (const uint8_t *)vec->data + (size_t)(off + i) * width;
                if (stats_add(leaf, &leaf->pstats, p, (uint32_t)width, w->opts.max_stat_bytes) !=
                    TB_OK)
                    return TB_E_NOMEM;
            }
        }
        leaf->page_values += n;
        return TB_OK;
    }
    for (i = 0; i < n; i++) {
        const uint8_t *p;
        uint32_t len;
        if (tb_vec_is_null(vec, off + i)) {
            leaf->pstats.nulls++;
            continue;
        }
        len = value_bytes(leaf, vec, off + i, scratch, &p);
        rc = put_plain(w, leaf, p, len);
        if (rc != TB_OK)
            return rc;
    }
    leaf->page_values += n;
    return TB_OK;
}

/* ---------------------------------------------------------------- pages */

static tb_rc write_all(tb_parquet_writer *w, const void *p, size_t n, tb_err *err)
{
    const char *c = p;
    while (n > 0) {
        ssize_t r = write(w->fd, c, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return TB_ERRF(err, TB_E_IO, "parquet: write '%s': %s", w->tmp_path, strerror(errno));
        }
        c += r;
        n -= (size_t)r;
        w->offset += (uint64_t)r;
    }
    return TB_OK;
}

static tb_rc put_levels(tb_buf *body, const uint32_t *lv, size_t n, int max_level)
{
    size_t at = body->len;
    uint32_t len32;

    if (tb_buf_append(body, "\0\0\0\0", 4) != TB_OK)
        return TB_E_NOMEM;
    if (tb_rle_encode(lv, n, tb_bit_width((uint64_t)max_level), body) != TB_OK)
        return TB_E_NOMEM;
    len32 = (uint32_t)(body->len - at - 4);
    memcpy(body->data + at, &len32, 4);
    return TB_OK;
}

/* Compress w->body and append header + data to dst. */
static tb_rc emit_page(tb_parquet_writer *w, tb_pq_page_header *ph, tb_buf *dst,
                       int64_t *out_uncompressed, tb_err *err)
{
    const tb_buf *data = &w->body;
    tb_rc rc;

    if (w->body.len > INT32_MAX)
        return TB_ERRF(err, TB_E_LIMIT, "parquet: %s: page larger than 2 GiB", w->path);
    if (w->opts.codec != TB_CODEC_UNCOMPRESSED) {
        w->cbuf.len = 0;
        rc = tb_compress(w->opts.codec, (const uint8_t *)w->body.data, w->body.len, &w->cbuf, err);
        if (rc != TB_OK)
            return tb_err_prefix(err, "parquet: %s", w->path);
        data = &w->cbuf;
        if (w->cbuf.len > INT32_MAX)
            return TB_ERRF(err, TB_E_LIMIT, "parquet: %s: page larger than 2 GiB", w->path);
    }
    ph->uncompressed_page_size = (int32_t)w->body.len;
    ph->compressed_page_size = (int32_t)data->len;
    w->hdr.len = 0;
    rc = tb_pq_encode_page_header(ph, &w->hdr, err);
    if (rc != TB_OK)
        return rc;
    if (tb_buf_append(dst, w->hdr.data, w->hdr.len) != TB_OK ||
        tb_buf_append(dst, data->data, data->len) != TB_OK)
        return tb_err_nomem(err);
    *out_uncompressed = (int64_t)(w->hdr.len + w->body.len);
    return TB_OK;
}

static tb_rc flush_page(tb_parquet_writer *w, pw_leaf *leaf, tb_err *err)
{
    tb_pq_page_header ph;
    uint8_t tmin[16], tmax[16];
    int64_t unc = 0;
    bool dict_page;
    tb_rc rc;

    if (leaf->page_values == 0)
        goto switch_check;
    w->body.len = 0;
    if (leaf->max_rep > 0 && put_levels(&w->body, leaf->reps, leaf->n_lv, leaf->max_rep) != TB_OK)
        return tb_err_nomem(err);
    if (leaf->max_def > 0 && put_levels(&w->body, leaf->defs, leaf->n_lv, leaf->max_def) != TB_OK)
        return tb_err_nomem(err);
    dict_page = leaf->use_dict && leaf->n_idx > 0;
    if (dict_page) {
        int bw = tb_bit_width(leaf->n_dict > 0 ? leaf->n_dict - 1 : 0);
        uint8_t b;
        if (bw == 0)
            bw = 1;
        b = (uint8_t)bw;
        if (tb_buf_append(&w->body, &b, 1) != TB_OK ||
            tb_rle_encode(leaf->idx, leaf->n_idx, bw, &w->body) != TB_OK)
            return tb_err_nomem(err);
    } else if (leaf->ptype == TB_PQ_BOOLEAN) {
        size_t i, nb = (leaf->vals.len + 7) / 8;
        if (tb_buf_reserve(&w->body, nb) != TB_OK)
            return tb_err_nomem(err);
        memset(w->body.data + w->body.len, 0, nb);
        for (i = 0; i < leaf->vals.len; i++)
            if (leaf->vals.data[i])
                w->body.data[w->body.len + i / 8] |= (char)(1 << (i % 8));
        w->body.len += nb;
    } else if (tb_buf_append(&w->body, leaf->vals.data, leaf->vals.len) != TB_OK) {
        return tb_err_nomem(err);
    }
    tb_pq_page_header_init(&ph);
    ph.type = TB_PQ_PAGE_DATA;
    ph.has_data = true;
    ph.data.num_values = (int32_t)leaf->page_values;
    ph.data.encoding = dict_page ? TB_PQ_ENC_RLE_DICTIONARY : TB_PQ_ENC_PLAIN;
    ph.data.definition_level_encoding = TB_PQ_ENC_RLE;
    ph.data.repetition_level_encoding = TB_PQ_ENC_RLE;
    if (w->opts.statistics) {
        ph.data.has_statistics = true;
        stats_to_pq(leaf, &leaf->pstats, &ph.data.statistics, tmin, tmax);
    }
    rc = emit_page(w, &ph, &leaf->pages, &unc, err);
    if (rc != TB_OK)
        return rc;
    leaf->chunk_uncompressed += unc;
    leaf->chunk_values += leaf->page_values;
    if (dict_page)
        leaf->had_dict_pages = true;
    else
        leaf->had_plain_pages = true;
    if (stats_merge(leaf, &leaf->cstats, &leaf->pstats) != TB_OK)
        return tb_err_nomem(err);
    stats_reset(&leaf->pstats);
    leaf->vals.len = 0;
    leaf->n_idx = 0;
    leaf->n_lv = 0;
    leaf->page_values = 0;
switch_check:
    if (leaf->dict_full && leaf->use_dict) {
        leaf->use_dict = false; /* dictionary too large: PLAIN from here to the chunk's end */
        leaf->dict_full = false;
    }
    return TB_OK;
}

static uint64_t page_estimate(const pw_leaf *leaf)
{
    uint64_t est = leaf->vals.len + (uint64_t)leaf->n_lv / 4;
    if (leaf->use_dict)
        est += (uint64_t)leaf->n_idx * (uint64_t)(tb_bit_width(leaf->n_dict) + 1) / 8;
    return est;
}

static uint64_t rg_estimate(const tb_parquet_writer *w)
{
    uint64_t total = 0;
    uint32_t i;
    for (i = 0; i < w->n_leaves; i++)
        total += w->leaves[i].pages.len + page_estimate(&w->leaves[i]) + w->leaves[i].dict.len;
    return total;
}

static tb_rc flush_row_group(tb_parquet_writer *w, tb_err *err)
{
    pw_rg *rg;
    uint32_t i;
    int64_t rg_start = (int64_t)w->offset, total_unc = 0;
    tb_rc rc;

    for (i = 0; i < w->n_leaves; i++) {
        rc = flush_page(w, &w->leaves[i], err);
        if (rc != TB_OK)
            return rc;
    }
    if (w->rg_rows == 0)
        return TB_OK;
    if (tb_grow((void **)&w->rgs, &w->cap_rg, w->n_rg + 1, sizeof(*w->rgs)) != TB_OK)
        return tb_err_nomem(err);
    rg = &w->rgs[w->n_rg];
    memset(rg, 0, sizeof(*rg));
    rg->cols = tb_calloc(w->n_leaves > 0 ? w->n_leaves : 1, sizeof(pw_chunk_meta));
    if (rg->cols == NULL)
        return tb_err_nomem(err);
    w->n_rg++;
    rg->file_offset = rg_start;
    rg->num_rows = (int64_t)w->rg_rows;
    for (i = 0; i < w->n_leaves; i++) {
        pw_leaf *leaf = &w->leaves[i];
        pw_chunk_meta *cm = &rg->cols[i];
        int64_t chunk_start = (int64_t)w->offset, dict_unc = 0;

        cm->dict_page_offset = -1;
        if (leaf->had_dict_pages) {
            tb_pq_page_header ph;
            w->body.len = 0;
            if (tb_buf_append(&w->body, leaf->dict.data, leaf->dict.len) != TB_OK)
                return tb_err_nomem(err);
            tb_pq_page_header_init(&ph);
            ph.type = TB_PQ_PAGE_DICTIONARY;
            ph.has_dict = true;
            ph.dict.num_values = (int32_t)leaf->n_dict;
            ph.dict.encoding = TB_PQ_ENC_PLAIN;
            w->hdr.len = 0;
            {
                tb_buf page = {0};
                rc = emit_page(w, &ph, &page, &dict_unc, err);
                if (rc == TB_OK)
                    rc = write_all(w, page.data, page.len, err);
                tb_buf_free(&page);
                if (rc != TB_OK)
                    return rc;
            }
            cm->dict_page_offset = chunk_start;
        }
        cm->data_page_offset = (int64_t)w->offset;
        rc = write_all(w, leaf->pages.data, leaf->pages.len, err);
        if (rc != TB_OK)
            return rc;
        cm->total_compressed = (int64_t)w->offset - chunk_start;
        cm->total_uncompressed = dict_unc + leaf->chunk_uncompressed;
        cm->num_values = leaf->chunk_values;
        if (leaf->had_dict_pages || leaf->had_plain_pages)
            cm->encodings[cm->n_enc++] = TB_PQ_ENC_PLAIN;
        if (leaf->max_def > 0 || leaf->max_rep > 0)
            cm->encodings[cm->n_enc++] = TB_PQ_ENC_RLE;
        if (leaf->had_dict_pages)
            cm->encodings[cm->n_enc++] = TB_PQ_ENC_RLE_DICTIONARY;
        if (w->opts.statistics) {
            cm->has_stats = true;
            cm->null_count = (int64_t)leaf->cstats.nulls;
            if (leaf->cstats.has && !leaf->cstats.off) {
                uint8_t tmp[16];
                uint32_t n;
                const uint8_t *p = stats_bytes(leaf, &leaf->cstats, false, tmp, &n);
                cm->min = tb_malloc(n > 0 ? n : 1);
                if (cm->min == NULL)
                    return tb_err_nomem(err);
                memcpy(cm->min, p, n);
                cm->min_len = n;
                p = stats_bytes(leaf, &leaf->cstats, true, tmp, &n);
                cm->max = tb_malloc(n > 0 ? n : 1);
                if (cm->max == NULL)
                    return tb_err_nomem(err);
                memcpy(cm->max, p, n);
                cm->max_len = n;
            }
        }
        total_unc += cm->total_uncompressed;
        if (stats_merge(leaf, &leaf->fstats, &leaf->cstats) != TB_OK)
            return tb_err_nomem(err);
        /* reset the chunk */
        stats_reset(&leaf->cstats);
        leaf->pages.len = 0;
        leaf->chunk_values = 0;
        leaf->chunk_uncompressed = 0;
        leaf->had_dict_pages = leaf->had_plain_pages = false;
        leaf->dict.len = 0;
        leaf->n_dict = 0;
        if (leaf->slots != NULL)
            memset(leaf->slots, 0, leaf->n_slots * sizeof(uint32_t));
        leaf->use_dict = leaf->dict_allowed;
        leaf->dict_full = false;
        /* release oversized buffers between row groups */
        if (leaf->pages.cap > ((size_t)64 << 20)) {
            tb_buf_free(&leaf->pages);
        }
    }
    rg->total_byte_size = total_unc;
    rg->total_compressed = (int64_t)w->offset - rg_start;
    w->rg_rows = 0;
    return TB_OK;
}

/* Page and row group boundaries, checked between records. */
static tb_rc boundaries(tb_parquet_writer *w, tb_err *err)
{
    uint32_t i;
    tb_rc rc;

    for (i = 0; i < w->n_leaves; i++) {
        pw_leaf *leaf = &w->leaves[i];
        if (page_estimate(leaf) >= w->opts.page_size_bytes || leaf->dict_full) {
            rc = flush_page(w, leaf, err);
            if (rc != TB_OK)
                return rc;
        }
    }
    if ((w->opts.row_group_rows > 0 && w->rg_rows >= w->opts.row_group_rows) ||
        rg_estimate(w) >= w->opts.row_group_size_bytes)
        return flush_row_group(w, err);
    return TB_OK;
}

/* ---------------------------------------------------------------- public: writing */

tb_rc tb_parquet_writer_write_batch(tb_parquet_writer *w, const tb_batch *batch, tb_err *err)
{
    uint32_t c, off = 0;
    tb_rc rc;

    if (w == NULL || batch == NULL || !w->flat)
        return TB_ERRF(err, TB_E_MISUSE, "parquet: write_batch needs a flat writer and a batch");
    if (batch->n_cols != w->n_leaves)
        return TB_ERRF(err, TB_E_TYPE, "parquet: %s: batch has %u columns, schema %u", w->path,
                       batch->n_cols, w->n_leaves);
    for (c = 0; c < w->n_leaves; c++) {
        const tb_vec *vec = &batch->cols[c];
        if (!tb_type_eq(vec->type, w->leaves[c].type)) {
            char a[64], b[64];
            return TB_ERRF(err, TB_E_TYPE, "parquet: %s: column '%s' is %s, batch has %s", w->path,
                           w->leaves[c].path[0], tb_type_name(w->leaves[c].type, a, sizeof(a)),
                           tb_type_name(vec->type, b, sizeof(b)));
        }
        if (w->leaves[c].max_def == 0 && vec->valid != NULL &&
            tb_vec_null_count(vec, batch->n_rows) > 0)
            return TB_ERRF(err, TB_E_TYPE, "parquet: %s: NULL in non-nullable column '%s'", w->path,
                           w->leaves[c].path[0]);
    }
    while (off < batch->n_rows) {
        uint32_t n = batch->n_rows - off;
        if (w->opts.row_group_rows > 0 && w->opts.row_group_rows - w->rg_rows < n)
            n = (uint32_t)(w->opts.row_group_rows - w->rg_rows);
        for (c = 0; c < w->n_leaves; c++) {
            rc = leaf_append_vec(w, &w->leaves[c], &batch->cols[c], off, n);
            if (rc != TB_OK)
                return rc == TB_E_NOMEM
                           ? tb_err_nomem(err)
                           : TB_ERRF(err, rc, "parquet: %s: dictionary too large", w->path);
        }
        w->rg_rows += n;
        w->rows_total += n;
        off += n;
        rc = boundaries(w, err);
        if (rc != TB_OK)
            return rc;
    }
    return TB_OK;
}

uint32_t tb_parquet_writer_leaf_count(const tb_parquet_writer *w) { return w->n_leaves; }

void tb_parquet_writer_leaf_levels(const tb_parquet_writer *w, uint32_t leaf, int *out_max_def,
                                   int *out_max_rep)
{
    *out_max_def = w->leaves[leaf].max_def;
    *out_max_rep = w->leaves[leaf].max_rep;
}

tb_rc tb_parquet_writer_leaf_put(tb_parquet_writer *w, uint32_t leaf_i, int def, int rep,
                                 const tb_value *val, tb_err *err)
{
    pw_leaf *leaf;
    tb_rc rc;

    if (leaf_i >= w->n_leaves)
        return TB_ERRF(err, TB_E_MISUSE, "parquet: leaf %u out of range", leaf_i);
    leaf = &w->leaves[leaf_i];
    if (def < 0 || def > leaf->max_def || rep < 0 || rep > leaf->max_rep ||
        (def == leaf->max_def && (val == NULL || val->is_null)))
        return TB_ERRF(err, TB_E_MISUSE, "parquet: leaf %u: bad levels %d/%d", leaf_i, def, rep);
    if (levels_reserve(leaf, 1) != TB_OK)
        return tb_err_nomem(err);
    if (leaf->max_def > 0)
        leaf->defs[leaf->n_lv] = (uint32_t)def;
    if (leaf->max_rep > 0)
        leaf->reps[leaf->n_lv] = (uint32_t)rep;
    if (leaf->max_def > 0 || leaf->max_rep > 0)
        leaf->n_lv++;
    leaf->page_values++;
    if (def < leaf->max_def) {
        leaf->pstats.nulls++;
        return TB_OK;
    }
    {
        /* a one-row vector view of the value */
        tb_vec vec;
        union {
            uint8_t b;
            int16_t i16;
            int32_t i32;
            int64_t i64;
            float f;
            double d;
            tb_i128 dec;
            tb_str s;
            tb_interval iv;
        } cell;
        const uint8_t *p;
        uint8_t scratch[16];
        uint32_t len;

        memset(&vec, 0, sizeof(vec));
        vec.type = leaf->type;
        vec.data = &cell;
        switch ((tb_type_id)leaf->type.id) {
        case TB_T_BOOL:
            cell.b = val->u.b;
            break;
        case TB_T_INT16:
            cell.i16 = (int16_t)val->u.i;
            break;
        case TB_T_INT32:
        case TB_T_DATE:
            cell.i32 = (int32_t)val->u.i;
            break;
        case TB_T_INT64:
        case TB_T_TIMESTAMP:
            cell.i64 = val->u.i;
            break;
        case TB_T_FLOAT:
            cell.f = (float)val->u.d;
            break;
        case TB_T_DOUBLE:
            cell.d = val->u.d;
            break;
        case TB_T_DECIMAL:
            cell.dec = val->u.dec;
            break;
        case TB_T_STRING:
            cell.s = val->u.s;
            break;
        case TB_T_INTERVAL:
            cell.iv = val->u.iv;
            break;
        default:
            break;
        }
        len = value_bytes(leaf, &vec, 0, scratch, &p);
        rc = put_plain(w, leaf, p, len);
        if (rc != TB_OK)
            return rc == TB_E_NOMEM ? tb_err_nomem(err)
                                    : TB_ERRF(err, rc, "parquet: dictionary too large");
    }
    return TB_OK;
}

tb_rc tb_parquet_writer_end_record(tb_parquet_writer *w, tb_err *err)
{
    w->rg_rows++;
    w->rows_total++;
    /* checking every record would cost a scan of the leaves: every 64 records is enough */
    if ((w->rg_rows & 63) != 0 && w->opts.row_group_rows == 0)
        return TB_OK;
    return boundaries(w, err);
}

uint64_t tb_parquet_writer_rows(const tb_parquet_writer *w) { return w->rows_total; }

uint64_t tb_parquet_writer_bytes(const tb_parquet_writer *w) { return w->offset + rg_estimate(w); }

void tb_parquet_writer_col_stats(tb_parquet_writer *w, uint32_t col, uint64_t *out_nulls,
                                 bool *out_has_minmax, tb_value *out_min, tb_value *out_max)
{
    pw_leaf *leaf = &w->leaves[col];
    pw_stats *s = &w->tmp;
    tb_value *vals[2] = {out_min, out_max};
    int k;

    stats_reset(s);
    *out_has_minmax = false;
    if (stats_merge(leaf, s, &leaf->fstats) != TB_OK ||
        stats_merge(leaf, s, &leaf->cstats) != TB_OK ||
        stats_merge(leaf, s, &leaf->pstats) != TB_OK) {
        *out_nulls = 0;
        return;
    }
    *out_nulls = s->nulls;
    if (!s->has || s->off || !w->opts.statistics)
        return;
    for (k = 0; k < 2; k++) {
        tb_value *v = vals[k];
        bool mx = k == 1;
        memset(v, 0, sizeof(*v));
        v->type = leaf->type;
        switch ((tb_type_id)leaf->type.id) {
        case TB_T_BOOL:
            v->u.b = (mx ? s->imax : s->imin) != 0;
            break;
        case TB_T_INT16:
        case TB_T_INT32:
        case TB_T_INT64:
        case TB_T_DATE:
        case TB_T_TIMESTAMP:
            v->u.i = mx ? s->imax : s->imin;
            break;
        case TB_T_FLOAT:
        case TB_T_DOUBLE:
            v->u.d = mx ? s->dmax : s->dmin;
            break;
        case TB_T_DECIMAL:
            if (leaf->ptype != TB_PQ_FIXED_LEN_BYTE_ARRAY) {
                v->u.dec = mx ? s->imax : s->imin;
            } else {
                const tb_buf *b = mx ? &s->bmax : &s->bmin;
                tb_i128 x = (int8_t)b->data[0] < 0 ? -1 : 0;
                size_t i;
                for (i = 0; i < b->len; i++)
                    x = (tb_i128)(((unsigned __int128)x << 8) | (uint8_t)b->data[i]);
                v->u.dec = x;
            }
            break;
        case TB_T_STRING: {
            const tb_buf *b = mx ? &s->bmax : &s->bmin;
            v->u.s.ptr = b->data != NULL ? b->data : "";
            v->u.s.len = (uint32_t)b->len;
            break;
        }
        default:
            return;
        }
    }
    *out_has_minmax = true;
}

/* ---------------------------------------------------------------- footer and close */

static tb_rc write_footer(tb_parquet_writer *w, tb_err *err)
{
    tb_pq_file_meta meta;
    tb_pq_row_group *rgs = NULL;
    tb_pq_column_chunk *ccs = NULL;
    tb_buf out = {0};
    size_t r, total_cc = w->n_rg * (size_t)w->n_leaves;
    uint32_t i, len32;
    tb_rc rc;

    memset(&meta, 0, sizeof(meta));
    if (w->n_rg > 0) {
        rgs = tb_calloc(w->n_rg, sizeof(*rgs));
        ccs = tb_calloc(total_cc > 0 ? total_cc : 1, sizeof(*ccs));
        if (rgs == NULL || ccs == NULL) {
            rc = tb_err_nomem(err);
            goto out;
        }
    }
    for (r = 0; r < w->n_rg; r++) {
        tb_pq_row_group *rg = &rgs[r];
        tb_pq_row_group_init(rg);
        rg->n_columns = w->n_leaves;
        rg->columns = &ccs[r * w->n_leaves];
        rg->total_byte_size = w->rgs[r].total_byte_size;
        rg->num_rows = w->rgs[r].num_rows;
        rg->file_offset = w->rgs[r].file_offset;
        rg->total_compressed_size = w->rgs[r].total_compressed;
        rg->ordinal = (int32_t)r;
        for (i = 0; i < w->n_leaves; i++) {
            tb_pq_column_chunk *cc = &rg->columns[i];
            const pw_chunk_meta *cm = &w->rgs[r].cols[i];
            const pw_leaf *leaf = &w->leaves[i];
            tb_pq_column_meta *m = &cc->meta;

            tb_pq_column_chunk_init(cc);
            cc->file_offset =
                cm->dict_page_offset >= 0 ? cm->dict_page_offset : cm->data_page_offset;
            cc->has_meta = true;
            m->type = leaf->ptype;
            m->n_encodings = cm->n_enc;
            m->encodings = (int32_t *)cm->encodings;
            m->n_path = leaf->n_path;
            m->path = leaf->path;
            m->codec = w->opts.codec;
            m->num_values = cm->num_values;
            m->total_uncompressed_size = cm->total_uncompressed;
            m->total_compressed_size = cm->total_compressed;
            m->data_page_offset = cm->data_page_offset;
            m->dictionary_page_offset = cm->dict_page_offset;
            m->has_statistics = cm->has_stats;
            if (cm->has_stats) {
                tb_pq_statistics_init(&m->statistics);
                m->statistics.null_count = cm->null_count;
                if (cm->min != NULL) {
                    m->statistics.min_value.p = cm->min;
                    m->statistics.min_value.len = cm->min_len;
                    m->statistics.min_value.set = true;
                    m->statistics.max_value.p = cm->max;
                    m->statistics.max_value.len = cm->max_len;
                    m->statistics.max_value.set = true;
                }
            }
        }
    }
    meta.version = 1;
    meta.n_schema = w->n_els;
    meta.schema = w->els;
    meta.num_rows = (int64_t)w->rows_total;
    meta.n_row_groups = (uint32_t)w->n_rg;
    meta.row_groups = rgs;
    meta.created_by = PW_CREATED_BY;
    meta.n_column_orders = w->n_leaves;
    rc = tb_pq_encode_file_meta(&meta, &out, err);
    if (rc != TB_OK)
        goto out;
    if (out.len > UINT32_MAX) {
        rc = TB_ERRF(err, TB_E_LIMIT, "parquet: %s: footer too large", w->path);
        goto out;
    }
    len32 = (uint32_t)out.len;
    if (tb_buf_append(&out, &len32, 4) != TB_OK || tb_buf_append(&out, "PAR1", 4) != TB_OK) {
        rc = tb_err_nomem(err);
        goto out;
    }
    rc = write_all(w, out.data, out.len, err);
out:
    tb_buf_free(&out);
    tb_free(rgs);
    tb_free(ccs);
    return rc;
}

static void writer_free(tb_parquet_writer *w)
{
    uint32_t i;
    size_t r;

    if (w->fd >= 0)
        close(w->fd);
    for (i = 0; i < w->n_leaves; i++) {
        pw_leaf *leaf = &w->leaves[i];
        tb_free(leaf->path);
        tb_buf_free(&leaf->dict);
        tb_free(leaf->dict_off);
        tb_free(leaf->dict_len);
        tb_free(leaf->slots);
        tb_buf_free(&leaf->vals);
        tb_free(leaf->idx);
        tb_free(leaf->defs);
        tb_free(leaf->reps);
        tb_buf_free(&leaf->pages);
        stats_free(&leaf->pstats);
        stats_free(&leaf->cstats);
        stats_free(&leaf->fstats);
    }
    for (r = 0; r < w->n_rg; r++) {
        for (i = 0; i < w->n_leaves; i++) {
            tb_free(w->rgs[r].cols[i].min);
            tb_free(w->rgs[r].cols[i].max);
        }
        tb_free(w->rgs[r].cols);
    }
    tb_free(w->rgs);
    if (w->names != NULL)
        for (i = 0; i < w->n_els; i++)
            tb_free(w->names[i]);
    tb_free(w->names);
    tb_free(w->els);
    tb_free(w->leaves);
    tb_buf_free(&w->body);
    tb_buf_free(&w->cbuf);
    tb_buf_free(&w->hdr);
    stats_free(&w->tmp);
    tb_free(w->path);
    tb_free(w->tmp_path);
    tb_free(w);
}

void tb_parquet_writer_abort(tb_parquet_writer *w)
{
    if (w == NULL)
        return;
    if (w->fd >= 0 && w->tmp_path != NULL)
        (void)unlink(w->tmp_path);
    writer_free(w);
}

tb_rc tb_parquet_writer_close(tb_parquet_writer *w, uint64_t *out_size, tb_err *err)
{
    tb_rc rc;
    const char *slash;

    if (w == NULL)
        return TB_ERRF(err, TB_E_MISUSE, "parquet: close of a NULL writer");
    rc = flush_row_group(w, err);
    if (rc == TB_OK)
        rc = write_footer(w, err);
    if (rc == TB_OK && w->opts.sync && fsync(w->fd) != 0)
        rc = TB_ERRF(err, TB_E_IO, "parquet: fsync '%s': %s", w->tmp_path, strerror(errno));
    if (rc == TB_OK && close(w->fd) != 0) {
        w->fd = -1;
        rc = TB_ERRF(err, TB_E_IO, "parquet: close '%s': %s", w->tmp_path, strerror(errno));
        (void)unlink(w->tmp_path);
    } else if (rc == TB_OK) {
        w->fd = -1;
    }
    if (rc == TB_OK && rename(w->tmp_path, w->path) != 0) {
        rc = TB_ERRF(err, TB_E_IO, "parquet: rename '%s' to '%s': %s", w->tmp_path, w->path,
                     strerror(errno));
        (void)unlink(w->tmp_path);
    }
    if (rc == TB_OK) {
        /* make the rename durable */
        slash = strrchr(w->path, '/');
        if (slash != NULL && w->opts.sync) {
            char *dir = tb_strndup(w->path, slash == w->path ? 1 : (size_t)(slash - w->path));
            if (dir != NULL) {
                int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd >= 0) {
                    (void)fsync(dfd);
                    close(dfd);
                }
                tb_free(dir);
            }
        }
        if (out_size != NULL)
            *out_size = w->offset;
        writer_free(w);
        return TB_OK;
    }
    if (w->fd >= 0) {
        (void)unlink(w->tmp_path);
    }
    writer_free(w);
    return rc;
}
