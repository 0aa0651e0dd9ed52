/*
 * delta_ckpt.c - Delta checkpoints: reading `%020d.checkpoint[.part.parts].parquet` into a
 * snapshot, and writing a single-file checkpoint plus `_last_checkpoint`.
 *
 * Checkpoints are Parquet files with nested columns (one optional struct per action kind:
 * txn, add, remove, metaData, protocol; maps and lists inside). The Parquet reader reads
 * flat columns only, so this file decodes the few leaf columns it needs itself, on top of
 * the Parquet module's primitives (footer and page header decoders, codecs, RLE): data
 * pages v1 and v2, PLAIN and dictionary encodings, for BYTE_ARRAY / INT32 / INT64 /
 * BOOLEAN leaves. Anything else is TB_E_UNSUPPORTED (the caller then falls back to the
 * JSON commits when they are all present).
 *
 * Reading works a row group at a time: the needed column chunks are decoded into level
 * and value arrays (in an arena reset per row group, so memory is bounded by one row
 * group), then records are assembled: a record's action is the top-level struct whose
 * definition level shows it present.
 *
 * Writing uses the Parquet writer's nested interface with levels computed here; the file
 * appears atomically (temp + rename), then `_last_checkpoint` is replaced atomically.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "format/codec.h"
#include "format/delta_int.h"
#include "format/parquet.h"
#include "format/parquet_write.h"
#include "format/rle.h"

/* Largest column chunk decoded at once. */
#define CK_MAX_CHUNK ((size_t)1 << 30)

/* ================================================================ reading */

/* A schema tree over the footer's flattened schema. */
typedef struct ck_node {
    const tb_pq_schema_element *el;
    uint32_t first_child; /* index into nodes */
    uint32_t n_children;
    int max_def, max_rep;
    int leaf; /* leaf (column chunk) index, -1 for groups */
} ck_node;

typedef struct ck_tree {
    ck_node *nodes;
    uint32_t n;
    uint32_t n_leaves;
} ck_tree;

static bool build_tree(const tb_pq_file_meta *m, ck_tree *t, tb_arena *arena)
{
    uint32_t pos = 0, leaf = 0;
    /* explicit stack of (node, children left) */
    uint32_t stack[64], left[64];
    int sp = 0;

    t->n = m->n_schema;
    t->nodes = tb_arena_zalloc(arena, (m->n_schema + 1) * sizeof(ck_node));
    if (t->nodes == NULL || m->n_schema == 0)
        return false;
    for (pos = 0; pos < m->n_schema; pos++) {
        const tb_pq_schema_element *el = &m->schema[pos];
        ck_node *nd = &t->nodes[pos];
        int nc = el->num_children > 0 ? el->num_children : 0;

        nd->el = el;
        nd->leaf = -1;
        if (sp > 0) {
            ck_node *parent = &t->nodes[stack[sp - 1]];
            nd->max_def = parent->max_def;
            nd->max_rep = parent->max_rep;
            if (el->repetition != TB_PQ_REQUIRED)
                nd->max_def++;
            if (el->repetition == TB_PQ_REPEATED)
                nd->max_rep++;
            left[sp - 1]--;
        }
        nd->n_children = (uint32_t)nc;
        nd->first_child = pos + 1;
        if (nc == 0 && pos > 0)
            nd->leaf = (int)leaf++;
        if (nc > 0) {
            if (sp >= 64)
                return false;
            stack[sp] = pos;
            left[sp] = (uint32_t)nc;
            sp++;
        }
        while (sp > 0 && left[sp - 1] == 0)
            sp--;
    }
    t->n_leaves = leaf;
    return sp == 0;
}

/* The i-th child of node n (children are contiguous subtrees). */
static int child_at(const ck_tree *t, int n, uint32_t i)
{
    uint32_t c = t->nodes[n].first_child, k;
    for (k = 0; k < i; k++) {
        /* skip the subtree of c */
        uint32_t pending = 1;
        while (pending > 0 && c < t->n) {
            pending += t->nodes[c].n_children;
            pending--;
            c++;
        }
    }
    return c < t->n ? (int)c : -1;
}

static int child_named(const ck_tree *t, int n, const char *name)
{
    uint32_t i;
    if (n < 0)
        return -1;
    for (i = 0; i < t->nodes[n].n_children; i++) {
        int c = child_at(t, n, i);
        if (c >= 0 && strcmp(t->nodes[c].el->name, name) == 0)
            return c;
    }
    return -1;
}

/* Leaf node of a MAP's key (which = 0) or value (1), or of a LIST's element (which = 0). */
static int map_or_list_leaf(const ck_tree *t, int n, int which)
{
    int rep;
    if (n < 0 || t->nodes[n].n_children != 1)
        return -1;
    rep = child_at(t, n, 0);
    if (rep < 0 || t->nodes[rep].el->repetition != TB_PQ_REPEATED)
        return -1;
    if (t->nodes[rep].n_children == 0)
        return which == 0 ? rep : -1; /* 2-level list: the repeated field is the element */
    if ((uint32_t)which >= t->nodes[rep].n_children)
        return -1;
    return child_at(t, rep, (uint32_t)which);
}

/* One decoded column chunk. */
typedef struct ck_col {
    int node; /* -1: the file has no such column */
    int max_def, max_rep;
    int ptype;
    uint32_t n;      /* entries (levels) */
    uint8_t *def;    /* NULL when max_def == 0 */
    uint8_t *rep;    /* NULL when max_rep == 0 */
    uint32_t n_vals; /* values of entries with def == max_def */
    int64_t *ivals;  /* INT32/INT64/BOOLEAN */
    tb_str *svals;   /* BYTE_ARRAY */
    uint32_t cap;
} ck_col;

typedef struct ck_reader {
    const char *path;
    int fd;
    int codec;
    tb_arena *arena;
    tb_err *err;
} ck_reader;

static tb_rc ck_corrupt(ck_reader *r, const char *what)
{
    return TB_ERRF(r->err, TB_E_CORRUPT, "delta: checkpoint %s: %s", r->path, what);
}

static tb_rc col_reserve(ck_reader *r, ck_col *c, uint32_t extra)
{
    uint32_t need = c->n + extra, cap;
    if (need <= c->cap)
        return TB_OK;
    cap = TB_MAX(need, c->cap * 2);
    cap = TB_MAX(cap, 256u);
    {
        uint8_t *d = c->max_def > 0 ? tb_arena_alloc(r->arena, cap) : NULL;
        uint8_t *p = c->max_rep > 0 ? tb_arena_alloc(r->arena, cap) : NULL;
        int64_t *iv =
            c->ptype != TB_PQ_BYTE_ARRAY ? tb_arena_alloc(r->arena, (size_t)cap * 8) : NULL;
        tb_str *sv = c->ptype == TB_PQ_BYTE_ARRAY
                         ? tb_arena_alloc(r->arena, (size_t)cap * sizeof(tb_str))
                         : NULL;
        if ((c->max_def > 0 && d == NULL) || (c->max_rep > 0 && p == NULL) ||
            (c->ptype != TB_PQ_BYTE_ARRAY && iv == NULL) ||
            (c->ptype == TB_PQ_BYTE_ARRAY && sv == NULL))
            return tb_err_nomem(r->err);
        if (d != NULL && c->def != NULL)
            memcpy(d, c->def, c->n);
        if (p != NULL && c->rep != NULL)
            memcpy(p, c->rep, c->n);
        if (iv != NULL && c->ivals != NULL)
            memcpy(iv, c->ivals, (size_t)c->n_vals * 8);
        if (sv != NULL && c->svals != NULL)
            memcpy(sv, c->svals, (size_t)c->n_vals * sizeof(tb_str));
        c->def = d;
        c->rep = p;
        c->ivals = iv;
        c->svals = sv;
        c->cap = cap;
    }
    return TB_OK;
}

/* Decode n PLAIN values of c's type from [p, end) into c's value arrays. */
static tb_rc plain_values(ck_reader *r, ck_col *c, const uint8_t *p, const uint8_t *end, uint32_t n)
{
    uint32_t i;
    for (i = 0; i < n; i++) {
        switch (c->ptype) {
        case TB_PQ_BOOLEAN:
            if (p + i / 8 >= end)
                return ck_corrupt(r, "truncated BOOLEAN values");
            c->ivals[c->n_vals++] = (p[i / 8] >> (i % 8)) & 1;
            break;
        case TB_PQ_INT32: {
            int32_t v;
            if (end - p < 4)
                return ck_corrupt(r, "truncated INT32 values");
            memcpy(&v, p, 4);
            p += 4;
            c->ivals[c->n_vals++] = v;
            break;
        }
        case TB_PQ_INT64: {
            int64_t v;
            if (end - p < 8)
                return ck_corrupt(r, "truncated INT64 values");
            memcpy(&v, p, 8);
            p += 8;
            c->ivals[c->n_vals++] = v;
            break;
        }
        case TB_PQ_BYTE_ARRAY: {
            uint32_t len;
            if (end - p < 4)
                return ck_corrupt(r, "truncated BYTE_ARRAY values");
            memcpy(&len, p, 4);
            p += 4;
            if ((uint64_t)(end - p) < len)
                return ck_corrupt(r, "truncated BYTE_ARRAY value");
            c->svals[c->n_vals].ptr = (const char *)p;
            c->svals[c->n_vals].len = len;
            c->n_vals++;
            p += len;
            break;
        }
        default:
            return TB_ERRF(r->err, TB_E_UNSUPPORTED, "delta: checkpoint %s: physical type %d",
                           r->path, c->ptype);
        }
    }
    return TB_OK;
}

typedef struct ck_dict {
    int64_t *ivals;
    tb_str *svals;
    uint32_t n;
} ck_dict;

static tb_rc read_levels(ck_reader *r, const uint8_t *p, size_t len, int max_level, uint32_t n,
                         uint8_t *out)
{
    tb_rle_dec d;
    uint32_t *tmp, got, i;

    tmp = tb_arena_alloc(r->arena, (size_t)(n > 0 ? n : 1) * 4);
    if (tmp == NULL)
        return tb_err_nomem(r->err);
    tb_rle_dec_init(&d, p, len, tb_bit_width((uint64_t)max_level));
    got = tb_rle_dec_get(&d, tmp, n);
    if (got != n)
        return ck_corrupt(r, "bad levels");
    for (i = 0; i < n; i++) {
        if (tmp[i] > (uint32_t)max_level)
            return ck_corrupt(r, "level out of range");
        out[i] = (uint8_t)tmp[i];
    }
    return TB_OK;
}

/* Values of a data page (nn non-null values) in the given encoding. */
static tb_rc page_values(ck_reader *r, ck_col *c, const ck_dict *dict, int encoding,
                         const uint8_t *vp, const uint8_t *ve, uint32_t nn)
{
    tb_rle_dec d;
    uint32_t *idx, k;

    if (encoding == TB_PQ_ENC_PLAIN)
        return plain_values(r, c, vp, ve, nn);
    if (encoding != TB_PQ_ENC_RLE_DICTIONARY && encoding != TB_PQ_ENC_PLAIN_DICTIONARY)
        return TB_ERRF(r->err, TB_E_UNSUPPORTED, "delta: checkpoint %s: encoding %d", r->path,
                       encoding);
    if (nn == 0)
        return TB_OK;
    if (vp >= ve || vp[0] > 32)
        return ck_corrupt(r, "bad dictionary indices");
    idx = tb_arena_alloc(r->arena, (size_t)nn * 4);
    if (idx == NULL)
        return tb_err_nomem(r->err);
    tb_rle_dec_init(&d, vp + 1, (size_t)(ve - vp - 1), vp[0]);
    if (tb_rle_dec_get(&d, idx, nn) != nn)
        return ck_corrupt(r, "bad dictionary indices");
    for (k = 0; k < nn; k++) {
        if (idx[k] >= dict->n)
            return ck_corrupt(r, "dictionary index out of range");
        if (c->ptype == TB_PQ_BYTE_ARRAY)
            c->svals[c->n_vals++] = dict->svals[idx[k]];
        else
            c->ivals[c->n_vals++] = dict->ivals[idx[k]];
    }
    return TB_OK;
}

/* Decode the column chunk cc into c. */
static tb_rc decode_chunk(ck_reader *r, const tb_pq_column_chunk *cc, ck_col *c)
{
    const tb_pq_column_meta *m = &cc->meta;
    int64_t start = m->data_page_offset;
    uint8_t *chunk;
    const uint8_t *p, *end;
    ck_dict dict = {0};
    size_t len;
    ssize_t got;
    tb_rc rc;

    if (!cc->has_meta)
        return ck_corrupt(r, "column chunk without metadata");
    if (m->dictionary_page_offset > 0 && m->dictionary_page_offset < start)
        start = m->dictionary_page_offset;
    if (start < 4 || m->total_compressed_size <= 0 ||
        (size_t)m->total_compressed_size > CK_MAX_CHUNK)
        return ck_corrupt(r, "bad column chunk offsets");
    len = (size_t)m->total_compressed_size;
    chunk = tb_arena_alloc(r->arena, len);
    if (chunk == NULL)
        return tb_err_nomem(r->err);
    got = pread(r->fd, chunk, len, (off_t)start);
    if (got < 0 || (size_t)got != len)
        return ck_corrupt(r, "column chunk past the end of the file");
    r->codec = m->codec;
    p = chunk;
    end = chunk + len;
    while (p < end && c->n < (uint64_t)m->num_values) {
        tb_pq_page_header ph;
        size_t hlen = 0;
        bool trunc = false;
        const uint8_t *body;
        uint8_t *data;
        size_t data_len;

        rc = tb_pq_decode_page_header(p, (size_t)(end - p), &ph, &hlen, &trunc, r->err);
        if (rc != TB_OK)
            return tb_err_prefix(r->err, "delta: checkpoint %s", r->path);
        p += hlen;
        if (ph.compressed_page_size < 0 || ph.uncompressed_page_size < 0 ||
            (size_t)(end - p) < (size_t)ph.compressed_page_size)
            return ck_corrupt(r, "page past the end of its column chunk");
        body = p;
        p += ph.compressed_page_size;
        if (ph.type == TB_PQ_PAGE_DATA_V2 && ph.has_data_v2) {
            /* levels are not compressed in v2 pages */
            const tb_pq_data_page_header_v2 *h = &ph.data_v2;
            size_t lv =
                (size_t)h->repetition_levels_byte_length + (size_t)h->definition_levels_byte_length;
            uint32_t n = (uint32_t)h->num_values, i, nn = 0;
            if (h->num_values < 0 || h->repetition_levels_byte_length < 0 ||
                h->definition_levels_byte_length < 0 || lv > (size_t)ph.compressed_page_size ||
                lv > (size_t)ph.uncompressed_page_size)
                return ck_corrupt(r, "bad v2 page header");
            rc = col_reserve(r, c, n);
            if (rc != TB_OK)
                return rc;
            if (c->max_rep > 0) {
                rc = read_levels(r, body, (size_t)h->repetition_levels_byte_length, c->max_rep, n,
                                 c->rep + c->n);
                if (rc != TB_OK)
                    return rc;
            }
            if (c->max_def > 0) {
                rc = read_levels(r, body + h->repetition_levels_byte_length,
                                 (size_t)h->definition_levels_byte_length, c->max_def, n,
                                 c->def + c->n);
                if (rc != TB_OK)
                    return rc;
            }
            data_len = (size_t)ph.uncompressed_page_size - lv;
            if (h->is_compressed && r->codec != TB_CODEC_UNCOMPRESSED) {
                data = tb_arena_alloc(r->arena, data_len > 0 ? data_len : 1);
                if (data == NULL)
                    return tb_err_nomem(r->err);
                rc = tb_decompress(r->codec, body + lv, (size_t)ph.compressed_page_size - lv, data,
                                   data_len, r->err);
                if (rc != TB_OK)
                    return tb_err_prefix(r->err, "delta: checkpoint %s", r->path);
            } else {
                data = (uint8_t *)(uintptr_t)(body + lv);
                data_len = (size_t)ph.compressed_page_size - lv;
            }
            for (i = 0; i < n; i++)
                if (c->max_def == 0 || c->def[c->n + i] == c->max_def)
                    nn++;
            c->n += n;
            rc = page_values(r, c, &dict, h->encoding, data, data + data_len, nn);
            if (rc != TB_OK)
                return rc;
            continue;
        }
        if (ph.type != TB_PQ_PAGE_DATA && ph.type != TB_PQ_PAGE_DICTIONARY)
            continue; /* index pages etc. */
        data_len = (size_t)ph.uncompressed_page_size;
        if (r->codec != TB_CODEC_UNCOMPRESSED) {
            data = tb_arena_alloc(r->arena, data_len > 0 ? data_len : 1);
            if (data == NULL)
                return tb_err_nomem(r->err);
            rc = tb_decompress(r->codec, body, (size_t)ph.compressed_page_size, data, data_len,
                               r->err);
            if (rc != TB_OK)
                return tb_err_prefix(r->err, "delta: checkpoint %s", r->path);
        } else {
            data = (uint8_t *)(uintptr_t)body;
            data_len = (size_t)ph.compressed_page_size;
        }
        if (ph.type == TB_PQ_PAGE_DICTIONARY) {
            ck_col tmp;
            if (!ph.has_dict || ph.dict.num_values < 0)
                return ck_corrupt(r, "bad dictionary page");
            memset(&tmp, 0, sizeof(tmp));
            tmp.ptype = c->ptype;
            tmp.max_def = 0;
            rc = col_reserve(r, &tmp, (uint32_t)ph.dict.num_values);
            if (rc != TB_OK)
                return rc;
            rc = plain_values(r, &tmp, data, data + data_len, (uint32_t)ph.dict.num_values);
            if (rc != TB_OK)
                return rc;
            dict.ivals = tmp.ivals;
            dict.svals = tmp.svals;
            dict.n = tmp.n_vals;
            continue;
        }
        /* data page v1 */
        {
            const uint8_t *dp = data, *de = data + data_len;
            uint32_t n = (uint32_t)ph.data.num_values, i, nn = 0;
            if (!ph.has_data || ph.data.num_values < 0)
                return ck_corrupt(r, "bad data page header");
            rc = col_reserve(r, c, n);
            if (rc != TB_OK)
                return rc;
            if (c->max_rep > 0) {
                uint32_t l;
                if (de - dp < 4)
                    return ck_corrupt(r, "truncated levels");
                memcpy(&l, dp, 4);
                dp += 4;
                if ((uint64_t)(de - dp) < l)
                    return ck_corrupt(r, "truncated levels");
                rc = read_levels(r, dp, l, c->max_rep, n, c->rep + c->n);
                if (rc != TB_OK)
                    return rc;
                dp += l;
            }
            if (c->max_def > 0) {
                uint32_t l;
                if (de - dp < 4)
                    return ck_corrupt(r, "truncated levels");
                memcpy(&l, dp, 4);
                dp += 4;
                if ((uint64_t)(de - dp) < l)
                    return ck_corrupt(r, "truncated levels");
                rc = read_levels(r, dp, l, c->max_def, n, c->def + c->n);
                if (rc != TB_OK)
                    return rc;
                dp += l;
            }
            for (i = 0; i < n; i++)
                if (c->max_def == 0 || c->def[c->n + i] == c->max_def)
                    nn++;
            c->n += n;
            rc = page_values(r, c, &dict, ph.data.encoding, dp, de, nn);
            if (rc != TB_OK)
                return rc;
        }
    }
    if (c->n != (uint64_t)m->num_values)
        return ck_corrupt(r, "column chunk has fewer values than its metadata says");
    return TB_OK;
}

/* Per-column cursor for record assembly. */
typedef struct ck_cur {
    ck_col *c;
    uint32_t e; /* next entry */
    uint32_t v; /* next value */
} ck_cur;

/* The next entry of a non-repeated column: true when its value is present. */
static bool cur_next(ck_cur *k, int *out_def)
{
    ck_col *c = k->c;
    int d;
    if (c->node < 0 || k->e >= c->n) {
        *out_def = 0;
        return false;
    }
    d = c->max_def > 0 ? c->def[k->e] : 0;
    k->e++;
    *out_def = d;
    if (d == c->max_def) {
        k->v++;
        return true;
    }
    return false;
}

static const tb_str *cur_str(const ck_cur *k) { return &k->c->svals[k->v - 1]; }

static int64_t cur_int(const ck_cur *k) { return k->c->ivals[k->v - 1]; }

/* Entries of a repeated column for the current record: [*first, *end) entry indices. */
static void cur_record(ck_cur *k, uint32_t *first, uint32_t *end)
{
    ck_col *c = k->c;
    *first = k->e;
    if (c->node < 0 || k->e >= c->n) {
        *end = *first;
        return;
    }
    k->e++;
    while (k->e < c->n && c->rep[k->e] > 0)
        k->e++;
    *end = k->e;
}

enum {
    K_TXN_APP,
    K_TXN_VER,
    K_TXN_UPD,
    K_ADD_PATH,
    K_ADD_PVK,
    K_ADD_PVV,
    K_ADD_SIZE,
    K_ADD_MTIME,
    K_ADD_DC,
    K_ADD_STATS,
    K_ADD_DV,
    K_RM_PATH,
    K_RM_TS,
    K_RM_DC,
    K_RM_SIZE,
    K_MD_ID,
    K_MD_SCHEMA,
    K_MD_PC,
    K_MD_CFGK,
    K_MD_CFGV,
    K_MD_CREATED,
    K_MD_PROVIDER,
    K_PR_READER,
    K_PR_WRITER,
    K_PR_RFEAT,
    K_PR_WFEAT,
    K_COUNT
};

static int resolve(const ck_tree *t, int k)
{
    int top;
    static const char *const tops[] = {"txn", "add", "remove", "metaData", "protocol"};
    int ti = k <= K_TXN_UPD       ? 0
             : k <= K_ADD_DV      ? 1
             : k <= K_RM_SIZE     ? 2
             : k <= K_MD_PROVIDER ? 3
                                  : 4;

    top = child_named(t, 0, tops[ti]);
    if (top < 0)
        return -1;
    switch (k) {
    case K_TXN_APP:
        return child_named(t, top, "appId");
    case K_TXN_VER:
        return child_named(t, top, "version");
    case K_TXN_UPD:
        return child_named(t, top, "lastUpdated");
    case K_ADD_PATH:
        return child_named(t, top, "path");
    case K_ADD_PVK:
        return map_or_list_leaf(t, child_named(t, top, "partitionValues"), 0);
    case K_ADD_PVV:
        return map_or_list_leaf(t, child_named(t, top, "partitionValues"), 1);
    case K_ADD_SIZE:
        return child_named(t, top, "size");
    case K_ADD_MTIME:
        return child_named(t, top, "modificationTime");
    case K_ADD_DC:
        return child_named(t, top, "dataChange");
    case K_ADD_STATS:
        return child_named(t, top, "stats");
    case K_ADD_DV:
        return child_named(t, child_named(t, top, "deletionVector"), "storageType");
    case K_RM_PATH:
        return child_named(t, top, "path");
    case K_RM_TS:
        return child_named(t, top, "deletionTimestamp");
    case K_RM_DC:
        return child_named(t, top, "dataChange");
    case K_RM_SIZE:
        return child_named(t, top, "size");
    case K_MD_ID:
        return child_named(t, top, "id");
    case K_MD_SCHEMA:
        return child_named(t, top, "schemaString");
    case K_MD_PC:
        return map_or_list_leaf(t, child_named(t, top, "partitionColumns"), 0);
    case K_MD_CFGK:
        return map_or_list_leaf(t, child_named(t, top, "configuration"), 0);
    case K_MD_CFGV:
        return map_or_list_leaf(t, child_named(t, top, "configuration"), 1);
    case K_MD_CREATED:
        return child_named(t, top, "createdTime");
    case K_MD_PROVIDER:
        return child_named(t, child_named(t, top, "format"), "provider");
    case K_PR_READER:
        return child_named(t, top, "minReaderVersion");
    case K_PR_WRITER:
        return child_named(t, top, "minWriterVersion");
    case K_PR_RFEAT:
        return map_or_list_leaf(t, child_named(t, top, "readerFeatures"), 0);
    case K_PR_WFEAT:
        return map_or_list_leaf(t, child_named(t, top, "writerFeatures"), 0);
    default:
        return -1;
    }
}

static char *dup_str(tb_arena *arena, const tb_str *s)
{
    return tb_arena_strndup(arena, s->ptr, s->len);
}

/* Strings of a repeated string leaf for the current record (NULL entries kept as NULL). */
static tb_rc rep_strings(ck_reader *r, ck_cur *k, const char ***out, uint32_t *n_out)
{
    uint32_t first, end, i, n = 0;
    const char **arr;

    cur_record(k, &first, &end);
    *out = NULL;
    *n_out = 0;
    if (k->c->node < 0)
        return TB_OK;
    arr = tb_arena_zalloc(r->arena, (size_t)(end - first + 1) * sizeof(char *));
    if (arr == NULL)
        return tb_err_nomem(r->err);
    for (i = first; i < end; i++) {
        int d = k->c->def[i];
        if (d == k->c->max_def) {
            arr[n] = dup_str(r->arena, &k->c->svals[k->v++]);
            if (arr[n] == NULL)
                return tb_err_nomem(r->err);
            n++;
        } else if (d == k->c->max_def - 1 && k->c->max_def >= 1) {
            /* element present but null (list), or map entry with a null value: the key
             * column has max_def one lower, so this only happens on value/element leaves */
            arr[n++] = NULL;
        }
    }
    *out = arr;
    *n_out = n;
    return TB_OK;
}

/* Map entries: keys from kc and values from vc, entry-aligned. */
static tb_rc map_entries(ck_reader *r, ck_cur *kc, ck_cur *vc, const char ***keys,
                         const char ***vals, uint32_t *n_out)
{
    uint32_t kf, ke, vf, ve, i, n = 0;

    cur_record(kc, &kf, &ke);
    cur_record(vc, &vf, &ve);
    *n_out = 0;
    *keys = *vals = NULL;
    if (kc->c->node < 0 || vc->c->node < 0)
        return TB_OK;
    if (ke - kf != ve - vf)
        return ck_corrupt(r, "map keys and values out of step");
    *keys = tb_arena_zalloc(r->arena, (size_t)(ke - kf + 1) * sizeof(char *));
    *vals = tb_arena_zalloc(r->arena, (size_t)(ke - kf + 1) * sizeof(char *));
    if (*keys == NULL || *vals == NULL)
        return tb_err_nomem(r->err);
    for (i = 0; i < ke - kf; i++) {
        int dk = kc->c->def[kf + i], dv = vc->c->def[vf + i];
        if (dk != kc->c->max_def)
            continue; /* empty or null map */
        (*keys)[n] = dup_str(r->arena, &kc->c->svals[kc->v++]);
        if (dv == vc->c->max_def) {
            (*vals)[n] = dup_str(r->arena, &vc->c->svals[vc->v++]);
            if ((*vals)[n] == NULL)
                return tb_err_nomem(r->err);
        }
        if ((*keys)[n] == NULL)
            return tb_err_nomem(r->err);
        n++;
    }
    *n_out = n;
    return TB_OK;
}

static json_t *string_array(const char *const *items, uint32_t n)
{
    json_t *a = json_array();
    uint32_t i;
    if (a == NULL)
        return NULL;
    for (i = 0; i < n; i++)
        json_array_append_new(a, items[i] != NULL ? json_string(items[i]) : json_null());
    return a;
}

static tb_rc read_row_group(ck_reader *r, tb_delta_snapshot *snap, const ck_tree *t,
                            const tb_pq_row_group *rg, const int *nodes)
{
    ck_col cols[K_COUNT];
    ck_cur cur[K_COUNT];
    int64_t row;
    int k;
    tb_rc rc;

    memset(cols, 0, sizeof(cols));
    memset(cur, 0, sizeof(cur));
    for (k = 0; k < K_COUNT; k++) {
        ck_col *c = &cols[k];
        cur[k].c = c;
        c->node = nodes[k];
        if (c->node < 0)
            continue;
        c->max_def = t->nodes[c->node].max_def;
        c->max_rep = t->nodes[c->node].max_rep;
        c->ptype = t->nodes[c->node].el->type;
        if (c->max_def > 255 || c->max_rep > 1 || t->nodes[c->node].leaf < 0 ||
            (uint32_t)t->nodes[c->node].leaf >= rg->n_columns)
            return ck_corrupt(r, "unexpected column layout");
        if (c->ptype != TB_PQ_BYTE_ARRAY && c->ptype != TB_PQ_INT32 && c->ptype != TB_PQ_INT64 &&
            c->ptype != TB_PQ_BOOLEAN)
            return TB_ERRF(r->err, TB_E_UNSUPPORTED, "delta: checkpoint %s: column type %d",
                           r->path, c->ptype);
        rc = decode_chunk(r, &rg->columns[t->nodes[c->node].leaf], c);
        if (rc != TB_OK)
            return rc;
    }
    for (row = 0; row < rg->num_rows; row++) {
        int d;
        const char **keys = NULL, **vals = NULL, **list = NULL;
        uint32_t n_kv = 0, n_list = 0;
        /* txn */
        if (cur_next(&cur[K_TXN_APP], &d)) {
            char *app = dup_str(r->arena, cur_str(&cur[K_TXN_APP]));
            int64_t ver = 0, upd = -1;
            if (cur_next(&cur[K_TXN_VER], &d))
                ver = cur_int(&cur[K_TXN_VER]);
            if (cur_next(&cur[K_TXN_UPD], &d))
                upd = cur_int(&cur[K_TXN_UPD]);
            if (app == NULL || tb_delta_set_txn(snap, app, ver, upd) != TB_OK)
                return tb_err_nomem(r->err);
        } else {
            cur_next(&cur[K_TXN_VER], &d);
            cur_next(&cur[K_TXN_UPD], &d);
        }
        /* add */
        {
            bool has = cur_next(&cur[K_ADD_PATH], &d);
            const tb_str *path = has ? cur_str(&cur[K_ADD_PATH]) : NULL;
            int64_t size = 0, mtime = 0, dc = 1;
            const tb_str *stats = NULL;
            if (cur_next(&cur[K_ADD_SIZE], &d))
                size = cur_int(&cur[K_ADD_SIZE]);
            if (cur_next(&cur[K_ADD_MTIME], &d))
                mtime = cur_int(&cur[K_ADD_MTIME]);
            if (cur_next(&cur[K_ADD_DC], &d))
                dc = cur_int(&cur[K_ADD_DC]);
            if (cur_next(&cur[K_ADD_STATS], &d))
                stats = cur_str(&cur[K_ADD_STATS]);
            if (cur_next(&cur[K_ADD_DV], &d))
                return TB_ERRF(r->err, TB_E_UNSUPPORTED,
                               "delta: checkpoint %s: deletion vectors are not supported", r->path);
            rc = map_entries(r, &cur[K_ADD_PVK], &cur[K_ADD_PVV], &keys, &vals, &n_kv);
            if (rc != TB_OK)
                return rc;
            if (has) {
                char *raw = dup_str(r->arena, path), *dec,
                     *st = stats ? dup_str(r->arena, stats) : NULL;
                tb_delta_fentry *e;
                if (raw == NULL || (stats != NULL && st == NULL))
                    return tb_err_nomem(r->err);
                rc = tb_delta_path_decode(raw, &dec);
                if (rc == TB_E_NOMEM)
                    return tb_err_nomem(r->err);
                if (rc != TB_OK)
                    return ck_corrupt(r, "add.path: bad %-escape");
                e = tb_delta_fentry_new(raw, dec, st, n_kv, keys, vals);
                tb_free(dec);
                if (e == NULL)
                    return tb_err_nomem(r->err);
                e->size = size;
                e->mod_time = mtime;
                e->data_change = dc != 0;
                e->has_pv = true;
                if (tb_delta_ftab_put(&snap->live, e) != TB_OK)
                    return tb_err_nomem(r->err);
            }
        }
        /* remove */
        {
            bool has = cur_next(&cur[K_RM_PATH], &d);
            int64_t ts = 0, size = -1, dc = 1;
            if (cur_next(&cur[K_RM_TS], &d))
                ts = cur_int(&cur[K_RM_TS]);
            if (cur_next(&cur[K_RM_SIZE], &d))
                size = cur_int(&cur[K_RM_SIZE]);
            if (cur_next(&cur[K_RM_DC], &d))
                dc = cur_int(&cur[K_RM_DC]);
            if (has) {
                char *raw = dup_str(r->arena, cur_str(&cur[K_RM_PATH])), *dec;
                tb_delta_fentry *e;
                if (raw == NULL)
                    return tb_err_nomem(r->err);
                rc = tb_delta_path_decode(raw, &dec);
                if (rc == TB_E_NOMEM)
                    return tb_err_nomem(r->err);
                if (rc != TB_OK)
                    return ck_corrupt(r, "remove.path: bad %-escape");
                e = tb_delta_fentry_new(raw, dec, NULL, 0, NULL, NULL);
                tb_free(dec);
                if (e == NULL)
                    return tb_err_nomem(r->err);
                e->del_ts = ts;
                e->size = size;
                e->data_change = dc != 0;
                if (tb_delta_ftab_put(&snap->tombs, e) != TB_OK)
                    return tb_err_nomem(r->err);
            }
        }
        /* metaData */
        {
            bool has = cur_next(&cur[K_MD_SCHEMA], &d);
            const tb_str *schema = has ? cur_str(&cur[K_MD_SCHEMA]) : NULL;
            const tb_str *id = cur_next(&cur[K_MD_ID], &d) ? cur_str(&cur[K_MD_ID]) : NULL;
            const tb_str *prov =
                cur_next(&cur[K_MD_PROVIDER], &d) ? cur_str(&cur[K_MD_PROVIDER]) : NULL;
            int64_t created = -1;
            if (cur_next(&cur[K_MD_CREATED], &d))
                created = cur_int(&cur[K_MD_CREATED]);
            rc = rep_strings(r, &cur[K_MD_PC], &list, &n_list);
            if (rc == TB_OK)
                rc = map_entries(r, &cur[K_MD_CFGK], &cur[K_MD_CFGV], &keys, &vals, &n_kv);
            if (rc != TB_OK)
                return rc;
            if (has) {
                json_t *md = json_object(), *cfg = json_object();
                char where[64];
                uint32_t i;
                if (md == NULL || cfg == NULL) {
                    json_decref(md);
                    json_decref(cfg);
                    return tb_err_nomem(r->err);
                }
                for (i = 0; i < n_kv; i++)
                    json_object_set_new(cfg, keys[i], vals[i] ? json_string(vals[i]) : json_null());
                json_object_set_new(md, "id", id ? json_stringn(id->ptr, id->len) : json_null());
                json_object_set_new(
                    md, "format",
                    json_pack("{s:s?}", "provider", prov ? dup_str(r->arena, prov) : NULL));
                json_object_set_new(md, "schemaString", json_stringn(schema->ptr, schema->len));
                json_object_set_new(md, "partitionColumns", string_array(list, n_list));
                json_object_set_new(md, "configuration", cfg);
                if (created >= 0)
                    json_object_set_new(md, "createdTime", json_integer(created));
                snprintf(where, sizeof(where), "checkpoint row %" PRId64, row);
                rc = tb_delta_set_metadata(snap, md, where, r->err);
                json_decref(md);
                if (rc != TB_OK)
                    return rc;
            }
        }
        /* protocol */
        {
            bool has = cur_next(&cur[K_PR_READER], &d);
            int64_t rv = has ? cur_int(&cur[K_PR_READER]) : 0, wv = 0;
            const char **rf = NULL, **wf = NULL;
            uint32_t n_rf = 0, n_wf = 0;
            if (cur_next(&cur[K_PR_WRITER], &d))
                wv = cur_int(&cur[K_PR_WRITER]);
            rc = rep_strings(r, &cur[K_PR_RFEAT], &rf, &n_rf);
            if (rc == TB_OK)
                rc = rep_strings(r, &cur[K_PR_WFEAT], &wf, &n_wf);
            if (rc != TB_OK)
                return rc;
            if (has) {
                json_t *pr = json_pack("{s:I, s:I}", "minReaderVersion", (json_int_t)rv,
                                       "minWriterVersion", (json_int_t)wv);
                if (pr == NULL)
                    return tb_err_nomem(r->err);
                if (cols[K_PR_RFEAT].node >= 0 && rv >= 3)
                    json_object_set_new(pr, "readerFeatures", string_array(rf, n_rf));
                if (cols[K_PR_WFEAT].node >= 0 && wv >= 7)
                    json_object_set_new(pr, "writerFeatures", string_array(wf, n_wf));
                rc = tb_delta_set_protocol(snap, pr, "checkpoint", r->err);
                json_decref(pr);
                if (rc != TB_OK)
                    return rc;
            }
        }
    }
    return TB_OK;
}

static tb_rc read_one(tb_delta_snapshot *snap, const char *path, tb_err *err)
{
    tb_parquet_file *pf = NULL;
    const tb_pq_file_meta *m;
    ck_tree tree;
    ck_reader r;
    int nodes[K_COUNT], k;
    uint32_t g;
    tb_arena *tarena = NULL;
    tb_rc rc;

    memset(&r, 0, sizeof(r));
    r.fd = -1;
    r.path = path;
    r.err = err;
    rc = tb_parquet_open(path, &pf, err);
    if (rc != TB_OK)
        return rc;
    m = tb_parquet_meta(pf);
    tarena = tb_arena_new(0);
    r.arena = tb_arena_new(1 << 20);
    if (tarena == NULL || r.arena == NULL) {
        rc = tb_err_nomem(err);
        goto out;
    }
    if (!build_tree(m, &tree, tarena)) {
        rc = ck_corrupt(&r, "malformed schema");
        goto out;
    }
    for (k = 0; k < K_COUNT; k++) {
        nodes[k] = resolve(&tree, k);
        if (nodes[k] >= 0 && tree.nodes[nodes[k]].leaf < 0)
            nodes[k] = -1; /* not a leaf: treat as absent */
    }
    if (nodes[K_ADD_PATH] < 0 && nodes[K_MD_SCHEMA] < 0 && nodes[K_PR_READER] < 0) {
        rc = ck_corrupt(&r, "not a checkpoint (no add, metaData or protocol columns)");
        goto out;
    }
    r.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r.fd < 0) {
        rc = TB_ERRF(err, TB_E_IO, "delta: open '%s': %s", path, strerror(errno));
        goto out;
    }
    for (g = 0; g < m->n_row_groups; g++) {
        tb_arena_reset(r.arena);
        rc = read_row_group(&r, snap, &tree, &m->row_groups[g], nodes);
        if (rc != TB_OK)
            goto out;
    }
    rc = TB_OK;
out:
    if (r.fd >= 0)
        close(r.fd);
    tb_arena_free(r.arena);
    tb_arena_free(tarena);
    tb_parquet_close(pf);
    return rc;
}

tb_rc tb_delta_read_checkpoint(tb_delta_snapshot *snap, int64_t version, uint32_t parts,
                               tb_err *err)
{
    char path[4200];
    uint32_t p;
    tb_rc rc;

    if (parts == 0) {
        snprintf(path, sizeof(path), "%s/%020" PRId64 ".checkpoint.parquet", snap->log_path,
                 version);
        rc = read_one(snap, path, err);
    } else {
        rc = TB_OK;
        for (p = 1; p <= parts && rc == TB_OK; p++) {
            snprintf(path, sizeof(path), "%s/%020" PRId64 ".checkpoint.%010u.%010u.parquet",
                     snap->log_path, version, p, parts);
            rc = read_one(snap, path, err);
        }
    }
    if (rc != TB_OK)
        return rc;
    if (snap->metadata == NULL || snap->protocol == NULL)
        return TB_ERRF(err, TB_E_CORRUPT, "delta: checkpoint %" PRId64 " of %s lacks %s", version,
                       snap->table_path, snap->metadata == NULL ? "metaData" : "protocol");
    return TB_OK;
}

/* ================================================================ writing */

/* The checkpoint schema written (a subset of Delta's: the fields readers need). */
static const tb_pq_node ck_nodes[] = {
    {"txn", TB_PQ_OPTIONAL, 3, -1, {0, 0, 0}},
    {"appId", TB_PQ_OPTIONAL, 0, -1, {TB_T_STRING, 0, 0}},
    {"version", TB_PQ_OPTIONAL, 0, -1, {TB_T_INT64, 0, 0}},
    {"lastUpdated", TB_PQ_OPTIONAL, 0, -1, {TB_T_INT64, 0, 0}},
    {"add", TB_PQ_OPTIONAL, 6, -1, {0, 0, 0}},
    {"path", TB_PQ_OPTIONAL, 0, -1, {TB_T_STRING, 0, 0}},
    {"partitionValues", TB_PQ_OPTIONAL, 1, TB_PQ_CT_MAP, {0, 0, 0}},
    {"key_value", TB_PQ_REPEATED, 2, -1, {0, 0, 0}},
    {"key", TB_PQ_REQUIRED, 0, -1, {TB_T_STRING, 0, 0}},
    {"value", TB_PQ_OPTIONAL, 0, -1, {TB_T_STRING, 0, 0}},
    {"size", TB_PQ_OPTIONAL, 0, -1, {TB_T_INT64, 0, 0}},
    {"modificationTime", TB_PQ_OPTIONAL, 0, -1, {TB_T_INT64, 0, 0}},
    {"dataChange", TB_PQ_OPTIONAL, 0, -1, {TB_T_BOOL, 0, 0}},
    {"stats", TB_PQ_OPTIONAL, 0, -1, {TB_T_STRING, 0, 0}},
    {"remove", TB_PQ_OPTIONAL, 5, -1, {0, 0, 0}},
    {"path", TB_PQ_OPTIONAL, 0, -1, {TB_T_STRING, 0, 0}},
    {"deletionTimestamp", TB_PQ_OPTIONAL, 0, -1, {TB_T_INT64, 0, 0}},
    {"dataChange", TB_PQ_OPTIONAL, 0, -1, {TB_T_BOOL, 0, 0}},
    {"extendedFileMetadata", TB_PQ_OPTIONAL, 0, -1, {TB_T_BOOL, 0, 0}},
    {"size", TB_PQ_OPTIONAL, 0, -1, {TB_T_INT64, 0, 0}},
    {"metaData", TB_PQ_OPTIONAL, 8, -1, {0, 0, 0}},
    {"id", TB_PQ_OPTIONAL, 0, -1, {TB_T_STRING, 0, 0}},
    {"name", TB_PQ_OPTIONAL, 0, -1, {TB_T_STRING, 0, 0}},
    {"description", TB_PQ_OPTIONAL, 0, -1, {TB_T_STRING, 0, 0}},
    {"format", TB_PQ_OPTIONAL, 2, -1, {0, 0, 0}},
    {"provider", TB_PQ_OPTIONAL, 0, -1, {TB_T_STRING, 0, 0}},
    {"options", TB_PQ_OPTIONAL, 1, TB_PQ_CT_MAP, {0, 0, 0}},
    {"key_value", TB_PQ_REPEATED, 2, -1, {0, 0, 0}},
    {"key", TB_PQ_REQUIRED, 0, -1, {TB_T_STRING, 0, 0}},
    {"value", TB_PQ_OPTIONAL, 0, -1, {TB_T_STRING, 0, 0}},
    {"schemaString", TB_PQ_OPTIONAL, 0, -1, {TB_T_STRING, 0, 0}},
    {"partitionColumns", TB_PQ_OPTIONAL, 1, TB_PQ_CT_LIST, {0, 0, 0}},
    {"list", TB_PQ_REPEATED, 1, -1, {0, 0, 0}},
    {"element", TB_PQ_OPTIONAL, 0, -1, {TB_T_STRING, 0, 0}},
    {"configuration", TB_PQ_OPTIONAL, 1, TB_PQ_CT_MAP, {0, 0, 0}},
    {"key_value", TB_PQ_REPEATED, 2, -1, {0, 0, 0}},
    {"key", TB_PQ_REQUIRED, 0, -1, {TB_T_STRING, 0, 0}},
    {"value", TB_PQ_OPTIONAL, 0, -1, {TB_T_STRING, 0, 0}},
    {"createdTime", TB_PQ_OPTIONAL, 0, -1, {TB_T_INT64, 0, 0}},
    {"protocol", TB_PQ_OPTIONAL, 2, -1, {0, 0, 0}},
    {"minReaderVersion", TB_PQ_OPTIONAL, 0, -1, {TB_T_INT32, 0, 0}},
    {"minWriterVersion", TB_PQ_OPTIONAL, 0, -1, {TB_T_INT32, 0, 0}},
};

/* Leaf numbers of ck_nodes, and the leaf ranges of the top-level structs. */
enum {
    L_TXN = 0,
    L_TXN_END = 3,
    L_ADD = 3,
    L_ADD_PVK = 4,
    L_ADD_PVV = 5,
    L_ADD_END = 10,
    L_RM = 10,
    L_RM_END = 15,
    L_MD = 15,
    L_MD_OPTK = 19,
    L_MD_OPTV = 20,
    L_MD_SCHEMA = 21,
    L_MD_PC = 22,
    L_MD_CFGK = 23,
    L_MD_CFGV = 24,
    L_MD_CREATED = 25,
    L_MD_END = 26,
    L_PR = 26,
    L_PR_END = 28
};

typedef struct ck_w {
    tb_parquet_writer *pw;
    tb_err *err;
} ck_w;

static tb_rc put(ck_w *w, int leaf, int def, int rep, const tb_value *v)
{
    return tb_parquet_writer_leaf_put(w->pw, (uint32_t)leaf, def, rep, v, w->err);
}

/* (0,0) for every leaf outside [lo, hi), then end the record. */
static tb_rc others_null_end(ck_w *w, int lo, int hi)
{
    int l;
    tb_rc rc;
    for (l = 0; l < L_PR_END; l++) {
        if (l >= lo && l < hi)
            continue;
        rc = put(w, l, 0, 0, NULL);
        if (rc != TB_OK)
            return rc;
    }
    return tb_parquet_writer_end_record(w->pw, w->err);
}

static tb_rc put_str(ck_w *w, int leaf, int def, const char *s)
{
    tb_value v;
    if (s == NULL)
        return put(w, leaf, def - 1, 0, NULL);
    memset(&v, 0, sizeof(v));
    v.type = tb_type_make(TB_T_STRING);
    v.u.s.ptr = s;
    v.u.s.len = (uint32_t)strlen(s);
    return put(w, leaf, def, 0, &v);
}

static tb_rc put_int(ck_w *w, int leaf, int def, tb_type_id t, int64_t x, bool present)
{
    tb_value v;
    if (!present)
        return put(w, leaf, def - 1, 0, NULL);
    memset(&v, 0, sizeof(v));
    v.type = tb_type_make(t);
    if (t == TB_T_BOOL)
        v.u.b = x != 0;
    else
        v.u.i = x;
    return put(w, leaf, def, 0, &v);
}

/* Same with explicit key/value arrays (partition values of an entry). */
static tb_rc put_map_kv(ck_w *w, int kleaf, int vleaf, int def, char **keys, char **vals,
                        uint32_t n, bool present)
{
    uint32_t i;
    tb_rc rc;
    tb_value kv, vv;

    if (!present) {
        rc = put(w, kleaf, def - 1, 0, NULL);
        return rc != TB_OK ? rc : put(w, vleaf, def - 1, 0, NULL);
    }
    if (n == 0) {
        rc = put(w, kleaf, def, 0, NULL);
        return rc != TB_OK ? rc : put(w, vleaf, def, 0, NULL);
    }
    memset(&kv, 0, sizeof(kv));
    kv.type = tb_type_make(TB_T_STRING);
    vv = kv;
    for (i = 0; i < n; i++) {
        int rep = i > 0;
        kv.u.s.ptr = keys[i];
        kv.u.s.len = (uint32_t)strlen(keys[i]);
        rc = put(w, kleaf, def + 1, rep, &kv);
        if (rc != TB_OK)
            return rc;
        if (vals[i] == NULL) {
            rc = put(w, vleaf, def + 1, rep, NULL);
        } else {
            vv.u.s.ptr = vals[i];
            vv.u.s.len = (uint32_t)strlen(vals[i]);
            rc = put(w, vleaf, def + 2, rep, &vv);
        }
        if (rc != TB_OK)
            return rc;
    }
    return TB_OK;
}

static tb_rc put_json_map(ck_w *w, int kleaf, int vleaf, int def, json_t *obj)
{
    const char *k;
    json_t *v;
    char **keys, **vals;
    uint32_t n = 0;
    tb_rc rc;

    if (obj == NULL || !json_is_object(obj))
        return put_map_kv(w, kleaf, vleaf, def, NULL, NULL, 0, false);
    keys = tb_calloc(json_object_size(obj) + 1, sizeof(char *));
    vals = tb_calloc(json_object_size(obj) + 1, sizeof(char *));
    if (keys == NULL || vals == NULL) {
        tb_free(keys);
        tb_free(vals);
        return tb_err_nomem(w->err);
    }
    json_object_foreach(obj, k, v)
    {
        keys[n] = (char *)k;
        vals[n] = json_is_string(v) ? (char *)json_string_value(v) : NULL;
        n++;
    }
    rc = put_map_kv(w, kleaf, vleaf, def, keys, vals, n, true);
    tb_free(keys);
    tb_free(vals);
    return rc;
}

/* Replace path with data: temp file + rename (fsync'ed when sync). */
static tb_rc write_replace(const char *path, const char *data, size_t len, bool sync, tb_err *err)
{
    char tmp[4300];
    int fd;
    ssize_t wr;

    if (sync)
        return tb_file_write_atomic(path, data, len, err);
    snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return TB_ERRF(err, TB_E_IO, "delta: create '%s': %s", tmp, strerror(errno));
    wr = write(fd, data, len);
    close(fd);
    if (wr < 0 || (size_t)wr != len || rename(tmp, path) != 0) {
        (void)unlink(tmp);
        return TB_ERRF(err, TB_E_IO, "delta: write '%s': %s", path, strerror(errno));
    }
    return TB_OK;
}

tb_rc tb_delta_checkpoint(const tb_delta_snapshot *snap, tb_err *err)
{
    return tb_delta_checkpoint_sync(snap, true, err);
}

tb_rc tb_delta_checkpoint_sync(const tb_delta_snapshot *snap, bool sync, tb_err *err)
{
    char path[4200], lc_path[4200], lc[128];
    tb_parquet_writer *pw = NULL;
    tb_parquet_write_opts opts;
    ck_w w;
    size_t i;
    uint64_t n_actions = 0;
    int64_t now_ms = tb_wall_us() / 1000;
    json_t *md, *pc, *v;
    tb_rc rc;

    if (snap == NULL || snap->metadata == NULL || snap->protocol == NULL || snap->version < 0)
        return TB_ERRF(err, TB_E_MISUSE, "delta: checkpoint of an empty snapshot");
    if (snap->min_reader > 1 || snap->min_writer > 2)
        return TB_ERRF(err, TB_E_UNSUPPORTED,
                       "delta: %s: checkpoints of protocol %" PRId64 "/%" PRId64
                       " tables are not written",
                       snap->table_path, snap->min_reader, snap->min_writer);
    snprintf(path, sizeof(path), "%s/%020" PRId64 ".checkpoint.parquet", snap->log_path,
             snap->version);
    tb_parquet_write_opts_default(&opts);
    opts.sync = sync;
    rc = tb_parquet_writer_open_nested(path, ck_nodes, sizeof(ck_nodes) / sizeof(ck_nodes[0]),
                                       &opts, &pw, err);
    if (rc != TB_OK)
        return rc;
    w.pw = pw;
    w.err = err;
    /* protocol */
    rc = put_int(&w, L_PR, 2, TB_T_INT32, snap->min_reader, true);
    if (rc == TB_OK)
        rc = put_int(&w, L_PR + 1, 2, TB_T_INT32, snap->min_writer, true);
    if (rc == TB_OK)
        rc = others_null_end(&w, L_PR, L_PR_END);
    n_actions++;
    /* metaData */
    md = snap->metadata;
    if (rc == TB_OK)
        rc = put_str(&w, L_MD, 2, json_string_value(json_object_get(md, "id")));
    if (rc == TB_OK)
        rc = put_str(&w, L_MD + 1, 2, json_string_value(json_object_get(md, "name")));
    if (rc == TB_OK)
        rc = put_str(&w, L_MD + 2, 2, json_string_value(json_object_get(md, "description")));
    if (rc == TB_OK) {
        json_t *fmt = json_object_get(md, "format");
        const char *prov = json_string_value(json_object_get(fmt, "provider"));
        if (!json_is_object(fmt)) { /* format null: its leaves are all at level 1 */
            rc = put(&w, L_MD + 3, 1, 0, NULL);
            if (rc == TB_OK)
                rc = put(&w, L_MD_OPTK, 1, 0, NULL);
            if (rc == TB_OK)
                rc = put(&w, L_MD_OPTV, 1, 0, NULL);
        } else {
            rc = put_str(&w, L_MD + 3, 3, prov);
            if (rc == TB_OK)
                rc = put_json_map(&w, L_MD_OPTK, L_MD_OPTV, 3, json_object_get(fmt, "options"));
        }
    }
    if (rc == TB_OK)
        rc = put_str(&w, L_MD_SCHEMA, 2, json_string_value(json_object_get(md, "schemaString")));
    pc = json_object_get(md, "partitionColumns");
    if (rc == TB_OK) {
        if (json_array_size(pc) == 0) {
            rc = put(&w, L_MD_PC, json_is_array(pc) ? 2 : 1, 0, NULL);
        } else {
            json_array_foreach(pc, i, v)
            {
                tb_value sv;
                memset(&sv, 0, sizeof(sv));
                sv.type = tb_type_make(TB_T_STRING);
                sv.u.s.ptr = json_string_value(v);
                sv.u.s.len = (uint32_t)strlen(sv.u.s.ptr);
                rc = put(&w, L_MD_PC, 4, i > 0, &sv); /* repetition level 1 after the first */
                if (rc != TB_OK)
                    break;
            }
        }
    }
    if (rc == TB_OK)
        rc = put_json_map(&w, L_MD_CFGK, L_MD_CFGV, 2, json_object_get(md, "configuration"));
    if (rc == TB_OK) {
        json_t *ct = json_object_get(md, "createdTime");
        rc = put_int(&w, L_MD_CREATED, 2, TB_T_INT64, json_integer_value(ct), json_is_integer(ct));
    }
    if (rc == TB_OK)
        rc = others_null_end(&w, L_MD, L_MD_END);
    n_actions++;
    /* txn */
    for (i = 0; rc == TB_OK && i < snap->n_txn; i++) {
        rc = put_str(&w, L_TXN, 2, snap->txns[i].app_id);
        if (rc == TB_OK)
            rc = put_int(&w, L_TXN + 1, 2, TB_T_INT64, snap->txns[i].version, true);
        if (rc == TB_OK)
            rc = put_int(&w, L_TXN + 2, 2, TB_T_INT64, snap->txns[i].last_updated,
                         snap->txns[i].last_updated >= 0);
        if (rc == TB_OK)
            rc = others_null_end(&w, L_TXN, L_TXN_END);
        n_actions++;
    }
    /* add */
    for (i = 0; rc == TB_OK && i < snap->live.n; i++) {
        const tb_delta_fentry *e = snap->live.items[i];
        if (e == NULL)
            continue;
        rc = put_str(&w, L_ADD, 2, e->raw_path);
        if (rc == TB_OK)
            rc = put_map_kv(&w, L_ADD_PVK, L_ADD_PVV, 2, e->pkeys, e->pvals, e->n_pv, true);
        if (rc == TB_OK)
            rc = put_int(&w, L_ADD + 3, 2, TB_T_INT64, e->size, true);
        if (rc == TB_OK)
            rc = put_int(&w, L_ADD + 4, 2, TB_T_INT64, e->mod_time, true);
        if (rc == TB_OK)
            rc =
                put_int(&w, L_ADD + 5, 2, TB_T_BOOL, 0, true); /* dataChange false in checkpoints */
        if (rc == TB_OK)
            rc = put_str(&w, L_ADD + 6, 2, e->stats);
        if (rc == TB_OK)
            rc = others_null_end(&w, L_ADD, L_ADD_END);
        n_actions++;
    }
    /* remove (tombstones still within the retention period) */
    for (i = 0; rc == TB_OK && i < snap->tombs.n; i++) {
        const tb_delta_fentry *e = snap->tombs.items[i];
        if (e == NULL || e->del_ts < now_ms - TB_DELTA_TOMBSTONE_RETENTION_MS)
            continue;
        rc = put_str(&w, L_RM, 2, e->raw_path);
        if (rc == TB_OK)
            rc = put_int(&w, L_RM + 1, 2, TB_T_INT64, e->del_ts, true);
        if (rc == TB_OK)
            rc = put_int(&w, L_RM + 2, 2, TB_T_BOOL, 0, true);
        if (rc == TB_OK)
            rc = put_int(&w, L_RM + 3, 2, TB_T_BOOL, 0, false);
        if (rc == TB_OK)
            rc = put_int(&w, L_RM + 4, 2, TB_T_INT64, e->size, e->size >= 0);
        if (rc == TB_OK)
            rc = others_null_end(&w, L_RM, L_RM_END);
        n_actions++;
    }
    if (rc != TB_OK) {
        tb_parquet_writer_abort(pw);
        return rc;
    }
    rc = tb_parquet_writer_close(pw, NULL, err);
    if (rc != TB_OK)
        return rc;
    /* _last_checkpoint: only move it forward */
    snprintf(lc_path, sizeof(lc_path), "%s/_last_checkpoint", snap->log_path);
    {
        char *old = NULL;
        size_t old_len = 0;
        tb_err e2;
        tb_err_clear(&e2);
        if (tb_file_read_all(lc_path, 1 << 20, &old, &old_len, &e2) == TB_OK) {
            json_t *root = json_loadb(old, old_len, 0, NULL);
            json_int_t ov = json_integer_value(json_object_get(root, "version"));
            json_decref(root);
            tb_free(old);
            if (ov > snap->version)
                return TB_OK;
        }
    }
    snprintf(lc, sizeof(lc), "{\"version\":%" PRId64 ",\"size\":%" PRIu64 "}\n", snap->version,
             n_actions);
    return write_replace(lc_path, lc, strlen(lc), sync, err);
}
