/*
 * parquet_reader.c - reading flat Parquet columns into batches (tb_source).
 *
 * Structure:
 *   file   (tb_parquet_file): fd, footer (parquet_meta.c), schema tree -> top-level
 *          fields; each flat field maps to one leaf column and a conversion (cv) from its
 *          physical representation to the SQL type (table in parquet.h).
 *   column (pq_col): the state of one projected column inside the current column chunk:
 *          a read-ahead window over the chunk's byte range (pread), the current page
 *          (levels + value decoder of its encoding), the dictionary (converted once to the
 *          output type), scratch buffers of TB_BATCH_CAP entries.
 *   source (pq_source): files -> row groups -> batches of <= TB_BATCH_CAP rows; a batch
 *          never spans two row groups, so dictionary views stay valid for the batch.
 *
 * Decoding a batch slice of k rows of a page: definition levels give the validity bits
 * and m non-null values; the m values are decoded densely (straight into the output
 * vector when no conversion is needed, e.g. PLAIN INT64 is one memcpy), converted, then
 * spread backwards in place to their row positions.
 *
 * Memory and robustness invariants:
 *   - every offset/length/count read from the file is checked against the file size, the
 *     column chunk range or the page size before use; no allocation is sized by an
 *     unchecked number: a page costs at most its uncompressed_page_size, which must be <=
 *     TB_DECOMPRESS_MAX (1 GiB) and is a hard cap on the decompressor's output; the page
 *     header read grows up to TB_PQ_HEADER_MAX;
 *   - the read-ahead window holds at most max(1 MiB, one compressed page); pages are
 *     read up to the footer (not just total_compressed_size, which old writers got
 *     wrong), and only as many as the row group's rows need;
 *   - a dictionary holds at most TB_PQ_DICT_MAX entries, and one column copies or builds
 *     at most TB_PQ_BATCH_BYTES_MAX string bytes per batch (DELTA_BYTE_ARRAY prefixes
 *     could otherwise multiply a small page into gigabytes);
 *   - strings decoded from data pages (PLAIN, DELTA_*) are copied into the batch arena;
 *     strings from a dictionary point into the dictionary buffer, which lives until the
 *     column moves to another chunk (i.e. in a later next() call);
 *   - page CRCs are not verified (most readers don't; the corrupt-checksum test files
 *     decode to valid values).
 */
#include "format/parquet.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/codec.h"
#include "format/rle.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the Parquet reader assumes a little-endian host"
#endif

#define TB_PQ_HEADER_MAX ((size_t)16 << 20) /* page header (with statistics) */
#define TB_PQ_READ_AHEAD ((size_t)1 << 20)
#define TB_PQ_MAX_DEPTH  64                 /* schema tree depth */
#define TB_PQ_MAX_FLBA   ((int32_t)1 << 20) /* FIXED_LEN_BYTE_ARRAY type_length */
/* Dictionary entries: writers cap dictionary pages at about 1 MiB, so this is far above
 * real files, and it bounds the converted dictionary (16 bytes an entry) at 256 MiB even
 * when a small compressed page expands to many empty strings. */
#define TB_PQ_DICT_MAX ((int32_t)1 << 24)
/* String bytes one column may copy or build for one batch (dictionary views excluded):
 * DELTA_BYTE_ARRAY values reuse the previous value's prefix, so a small page can describe
 * 2048 copies of a huge value; and a batch may span many pages. */
#define TB_PQ_BATCH_BYTES_MAX ((size_t)512 << 20)

/* Conversions from the physical representation to the output vector type. */
enum {
    CV_COPY = 0, /* same representation */
    CV_I32_I16,  /* INT(8|16, signed) */
    CV_U8_I16,
    CV_U16_I32,
    CV_U32_I64,
    CV_U64_DEC, /* numeric(20,0) */
    CV_MS32_US, /* TIME_MILLIS (int32 ms) -> bigint us */
    CV_MS_US,   /* int64 ms -> us */
    CV_NS_US,   /* int64 ns -> us (floor) */
    CV_INT96,   /* Impala timestamp -> us */
    CV_DEC32,
    CV_DEC64,
    CV_DECBIN,    /* big-endian two's complement bytes */
    CV_DEC32_DBL, /* precision > 38 -> double */
    CV_DEC64_DBL,
    CV_DECBIN_DBL,
    CV_F16,
    CV_UUID,
    CV_INTERVAL
};

typedef struct pq_field {
    uint32_t elem; /* schema element index */
    int leaf;      /* leaf column index, -1 for nested */
    bool nested;
    const char *unsupported; /* why the column can't be read (NULL: it can) */
    int phys;                /* TB_PQ_* */
    int32_t type_length;     /* FLBA */
    int max_def;             /* 0 required, 1 optional */
    int cv;
    int scale;     /* decimals */
    size_t phys_w; /* bytes per decoded physical value */
} pq_field;

struct tb_parquet_file {
    char *path;
    int fd;
    uint64_t file_size;
    uint64_t meta_start; /* column data must end before the footer */
    tb_arena *arena;     /* footer structs, field table */
    tb_pq_file_meta meta;
    uint32_t n_leaves;
    pq_field *fields;
    tb_schema *schema;
    uint64_t bytes_read;
};

/* ---------------------------------------------------------------- helpers */

static uint32_t le32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static tb_rc pread_full(int fd, void *buf, size_t n, uint64_t off, size_t *out_got)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            *out_got = got;
            return TB_E_IO;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    *out_got = got;
    return TB_OK;
}

static size_t phys_width(int phys)
{
    switch (phys) {
    case TB_PQ_BOOLEAN:
        return 1;
    case TB_PQ_INT32:
    case TB_PQ_FLOAT:
        return 4;
    case TB_PQ_INT64:
    case TB_PQ_DOUBLE:
        return 8;
    case TB_PQ_INT96:
        return 12;
    default:
        return sizeof(tb_str); /* BYTE_ARRAY, FLBA: views */
    }
}

static const char *phys_name(int phys)
{
    static const char *names[] = {"BOOLEAN", "INT32",  "INT64",      "INT96",
                                  "FLOAT",   "DOUBLE", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"};
    return phys >= 0 && phys <= 7 ? names[phys] : "UNKNOWN";
}

static const char *enc_name(int enc)
{
    switch (enc) {
    case TB_PQ_ENC_PLAIN:
        return "PLAIN";
    case TB_PQ_ENC_PLAIN_DICTIONARY:
        return "PLAIN_DICTIONARY";
    case TB_PQ_ENC_RLE:
        return "RLE";
    case TB_PQ_ENC_BIT_PACKED:
        return "BIT_PACKED";
    case TB_PQ_ENC_DELTA_BINARY_PACKED:
        return "DELTA_BINARY_PACKED";
    case TB_PQ_ENC_DELTA_LENGTH_BYTE_ARRAY:
        return "DELTA_LENGTH_BYTE_ARRAY";
    case TB_PQ_ENC_DELTA_BYTE_ARRAY:
        return "DELTA_BYTE_ARRAY";
    case TB_PQ_ENC_RLE_DICTIONARY:
        return "RLE_DICTIONARY";
    case TB_PQ_ENC_BYTE_STREAM_SPLIT:
        return "BYTE_STREAM_SPLIT";
    default:
        return "UNKNOWN";
    }
}

/* ---------------------------------------------------------------- type mapping */

/*
 * Decide the SQL type and conversion of a flat leaf. Returns NULL, or a static reason
 * the column cannot be read.
 */
static const char *map_type(const tb_pq_schema_element *se, pq_field *f, tb_type *out)
{
    int phys = se->type;
    int lt = se->has_logical ? se->logical.kind : 0;
    int ct = se->converted_type;
    bool is_int32 = phys == TB_PQ_INT32, is_int64 = phys == TB_PQ_INT64;
    bool is_bin = phys == TB_PQ_BYTE_ARRAY || phys == TB_PQ_FIXED_LEN_BYTE_ARRAY;
    int precision = -1, scale = -1;

    f->cv = CV_COPY;
    if (phys < 0 || phys > TB_PQ_FIXED_LEN_BYTE_ARRAY)
        return "has an unknown physical type";
    if (phys == TB_PQ_FIXED_LEN_BYTE_ARRAY &&
        (se->type_length < 1 || se->type_length > TB_PQ_MAX_FLBA))
        return "has an invalid FIXED_LEN_BYTE_ARRAY length";
    f->type_length = se->type_length;
    f->phys_w = phys_width(phys);

    /* the logical type first; an unknown one (or one not applicable to the physical
     * type) falls back to the converted type, then to the physical type */
    switch (lt) {
    case TB_PQ_LT_STRING:
    case TB_PQ_LT_ENUM:
    case TB_PQ_LT_JSON:
    case TB_PQ_LT_BSON:
    case TB_PQ_LT_GEOMETRY:
    case TB_PQ_LT_GEOGRAPHY:
        if (is_bin) {
            *out = tb_type_make(TB_T_STRING);
            return NULL;
        }
        break;
    case TB_PQ_LT_UUID:
        if (phys == TB_PQ_FIXED_LEN_BYTE_ARRAY && se->type_length == 16) {
            *out = tb_type_make(TB_T_STRING);
            f->cv = CV_UUID;
            return NULL;
        }
        break;
    case TB_PQ_LT_DECIMAL:
        precision = se->logical.precision;
        scale = se->logical.scale;
        goto decimal;
    case TB_PQ_LT_DATE:
        if (is_int32) {
            *out = tb_type_make(TB_T_DATE);
            return NULL;
        }
        break;
    case TB_PQ_LT_TIME:
        if (is_int32 && se->logical.unit == TB_PQ_UNIT_MILLIS) {
            *out = tb_type_make(TB_T_INT64);
            f->cv = CV_MS32_US;
            return NULL;
        }
        if (is_int64 &&
            (se->logical.unit == TB_PQ_UNIT_MICROS || se->logical.unit == TB_PQ_UNIT_NANOS)) {
            *out = tb_type_make(TB_T_INT64);
            f->cv = se->logical.unit == TB_PQ_UNIT_NANOS ? CV_NS_US : CV_COPY;
            return NULL;
        }
        break;
    case TB_PQ_LT_TIMESTAMP:
        if (is_int64 && se->logical.unit >= TB_PQ_UNIT_MILLIS &&
            se->logical.unit <= TB_PQ_UNIT_NANOS) {
            *out = tb_type_make(TB_T_TIMESTAMP);
            f->cv = se->logical.unit == TB_PQ_UNIT_MILLIS  ? CV_MS_US
                    : se->logical.unit == TB_PQ_UNIT_NANOS ? CV_NS_US
                                                           : CV_COPY;
            return NULL;
        }
        break;
    case TB_PQ_LT_INTEGER: {
        int bw = se->logical.bit_width;
        bool sg = se->logical.is_signed;
        if (is_int32 && bw == 8 && sg)
            f->cv = CV_I32_I16, *out = tb_type_make(TB_T_INT16);
        else if (is_int32 && bw == 16 && sg)
            f->cv = CV_I32_I16, *out = tb_type_make(TB_T_INT16);
        else if (is_int32 && bw == 32 && sg)
            *out = tb_type_make(TB_T_INT32);
        else if (is_int32 && bw == 8)
            f->cv = CV_U8_I16, *out = tb_type_make(TB_T_INT16);
        else if (is_int32 && bw == 16)
            f->cv = CV_U16_I32, *out = tb_type_make(TB_T_INT32);
        else if (is_int32 && bw == 32)
            f->cv = CV_U32_I64, *out = tb_type_make(TB_T_INT64);
        else if (is_int64 && bw == 64 && sg)
            *out = tb_type_make(TB_T_INT64);
        else if (is_int64 && bw == 64)
            f->cv = CV_U64_DEC, *out = tb_type_decimal(20, 0);
        else
            break;
        return NULL;
    }
    case TB_PQ_LT_FLOAT16:
        if (phys == TB_PQ_FIXED_LEN_BYTE_ARRAY && se->type_length == 2) {
            *out = tb_type_make(TB_T_FLOAT);
            f->cv = CV_F16;
            return NULL;
        }
        break;
    default:
        break;
    }

    switch (ct) {
    case TB_PQ_CT_UTF8:
    case TB_PQ_CT_ENUM:
    case TB_PQ_CT_JSON:
    case TB_PQ_CT_BSON:
        if (is_bin) {
            *out = tb_type_make(TB_T_STRING);
            return NULL;
        }
        break;
    case TB_PQ_CT_DECIMAL:
        precision = se->precision;
        scale = se->scale;
        goto decimal;
    case TB_PQ_CT_DATE:
        if (is_int32) {
            *out = tb_type_make(TB_T_DATE);
            return NULL;
        }
        break;
    case TB_PQ_CT_TIME_MILLIS:
        if (is_int32) {
            *out = tb_type_make(TB_T_INT64);
            f->cv = CV_MS32_US;
            return NULL;
        }
        break;
    case TB_PQ_CT_TIME_MICROS:
        if (is_int64) {
            *out = tb_type_make(TB_T_INT64);
            return NULL;
        }
        break;
    case TB_PQ_CT_TIMESTAMP_MILLIS:
    case TB_PQ_CT_TIMESTAMP_MICROS:
        if (is_int64) {
            *out = tb_type_make(TB_T_TIMESTAMP);
            f->cv = ct == TB_PQ_CT_TIMESTAMP_MILLIS ? CV_MS_US : CV_COPY;
            return NULL;
        }
        break;
    case TB_PQ_CT_INT_8:
    case TB_PQ_CT_INT_16:
        if (is_int32) {
            *out = tb_type_make(TB_T_INT16);
            f->cv = CV_I32_I16;
            return NULL;
        }
        break;
    case TB_PQ_CT_UINT_8:
        if (is_int32) {
            *out = tb_type_make(TB_T_INT16);
            f->cv = CV_U8_I16;
            return NULL;
        }
        break;
    case TB_PQ_CT_UINT_16:
        if (is_int32) {
            *out = tb_type_make(TB_T_INT32);
            f->cv = CV_U16_I32;
            return NULL;
        }
        break;
    case TB_PQ_CT_UINT_32:
        if (is_int32) {
            *out = tb_type_make(TB_T_INT64);
            f->cv = CV_U32_I64;
            return NULL;
        }
        break;
    case TB_PQ_CT_UINT_64:
        if (is_int64) {
            *out = tb_type_decimal(20, 0);
            f->cv = CV_U64_DEC;
            return NULL;
        }
        break;
    case TB_PQ_CT_INTERVAL:
        if (phys == TB_PQ_FIXED_LEN_BYTE_ARRAY && se->type_length == 12) {
            *out = tb_type_make(TB_T_INTERVAL);
            f->cv = CV_INTERVAL;
            return NULL;
        }
        break;
    default:
        break;
    }
    goto physical;

decimal:
    if (!(is_int32 || is_int64 || is_bin))
        goto physical;
    if (precision < 1 || scale < 0 || scale > precision)
        return "has an invalid DECIMAL precision/scale";
    if (phys == TB_PQ_FIXED_LEN_BYTE_ARRAY && precision <= 38 && se->type_length > 64)
        return "has a DECIMAL wider than 64 bytes";
    f->scale = scale;
    if (precision > 38) {
        *out = tb_type_make(TB_T_DOUBLE);
        f->cv = is_int32 ? CV_DEC32_DBL : is_int64 ? CV_DEC64_DBL : CV_DECBIN_DBL;
    } else {
        *out = tb_type_decimal(precision, scale);
        f->cv = is_int32 ? CV_DEC32 : is_int64 ? CV_DEC64 : CV_DECBIN;
    }
    return NULL;

physical:
    switch (phys) {
    case TB_PQ_BOOLEAN:
        *out = tb_type_make(TB_T_BOOL);
        break;
    case TB_PQ_INT32:
        *out = tb_type_make(TB_T_INT32);
        break;
    case TB_PQ_INT64:
        *out = tb_type_make(TB_T_INT64);
        break;
    case TB_PQ_INT96:
        *out = tb_type_make(TB_T_TIMESTAMP);
        f->cv = CV_INT96;
        break;
    case TB_PQ_FLOAT:
        *out = tb_type_make(TB_T_FLOAT);
        break;
    case TB_PQ_DOUBLE:
        *out = tb_type_make(TB_T_DOUBLE);
        break;
    default: /* BYTE_ARRAY, FLBA: the bytes as text */
        *out = tb_type_make(TB_T_STRING);
        break;
    }
    return NULL;
}

/* ---------------------------------------------------------------- schema tree */

typedef struct walk_ctx {
    tb_parquet_file *pf;
    uint32_t idx;
    const char *why;
} walk_ctx;

static bool walk(walk_ctx *w, int depth)
{
    const tb_pq_file_meta *m = &w->pf->meta;
    if (w->idx >= m->n_schema) {
        w->why = "schema tree has more children than elements";
        return false;
    }
    if (depth > TB_PQ_MAX_DEPTH) {
        w->why = "schema tree too deep";
        return false;
    }
    const tb_pq_schema_element *se = &m->schema[w->idx++];
    if (se->num_children > 0) {
        for (int32_t i = 0; i < se->num_children; i++)
            if (!walk(w, depth + 1))
                return false;
    } else if (se->type >= 0) {
        w->pf->n_leaves++;
    }
    return true;
}

static tb_rc build_schema(tb_parquet_file *pf, tb_err *err)
{
    const tb_pq_file_meta *m = &pf->meta;
    walk_ctx w = {pf, 1, NULL};

    if (m->n_schema < 1)
        return TB_ERRF(err, TB_E_CORRUPT, "parquet: %s: empty schema", pf->path);
    int32_t n_top = m->schema[0].num_children;
    if (n_top < 0)
        n_top = 0;
    if ((uint32_t)n_top > m->n_schema - 1)
        return TB_ERRF(err, TB_E_CORRUPT, "parquet: %s: schema root claims %d columns of %u",
                       pf->path, n_top, m->n_schema - 1);
    pf->fields = tb_arena_zalloc(pf->arena, sizeof(pq_field) * (size_t)(n_top + 1));
    pf->schema = tb_schema_new((uint32_t)n_top);
    if (pf->fields == NULL || pf->schema == NULL)
        return tb_err_nomem(err);
    for (int32_t i = 0; i < n_top; i++) {
        pq_field *f = &pf->fields[i];
        uint32_t elem = w.idx;
        uint32_t leaf0 = pf->n_leaves;
        if (!walk(&w, 1))
            return TB_ERRF(err, TB_E_CORRUPT, "parquet: %s: %s", pf->path, w.why);
        const tb_pq_schema_element *se = &m->schema[elem];
        f->elem = elem;
        f->leaf = -1;
        f->phys = se->type;
        tb_type type = tb_type_make(TB_T_NULL);
        if (se->num_children > 0 || se->type < 0 || se->repetition == TB_PQ_REPEATED) {
            f->nested = true;
            f->unsupported =
                tb_arena_sprintf(pf->arena, "is nested (LIST/MAP/STRUCT), not supported");
        } else {
            f->leaf = (int)leaf0;
            f->max_def = se->repetition == TB_PQ_REQUIRED ? 0 : 1;
            f->unsupported = map_type(se, f, &type);
            if (f->unsupported != NULL)
                type = tb_type_make(TB_T_NULL);
        }
        if (f->nested && f->unsupported == NULL)
            return tb_err_nomem(err);
        if (tb_schema_set(pf->schema, (uint32_t)i, se->name, type,
                          se->repetition != TB_PQ_REQUIRED) != TB_OK)
            return tb_err_nomem(err);
    }
    if (w.idx != m->n_schema)
        return TB_ERRF(err, TB_E_CORRUPT, "parquet: %s: schema tree uses %u of its %u elements",
                       pf->path, w.idx, m->n_schema);
    for (uint32_t g = 0; g < m->n_row_groups; g++) {
        const tb_pq_row_group *rg = &m->row_groups[g];
        if (rg->n_columns != pf->n_leaves)
            return TB_ERRF(err, TB_E_CORRUPT,
                           "parquet: %s: row group %u has %u column chunks, schema has %u "
                           "columns",
                           pf->path, g, rg->n_columns, pf->n_leaves);
        if (rg->num_rows < 0)
            return TB_ERRF(err, TB_E_CORRUPT, "parquet: %s: row group %u has %lld rows", pf->path,
                           g, (long long)rg->num_rows);
    }
    return TB_OK;
}

/* ---------------------------------------------------------------- open / close */

void tb_parquet_close(tb_parquet_file *pf)
{
    if (pf == NULL)
        return;
    if (pf->fd >= 0)
        close(pf->fd);
    tb_schema_free(pf->schema);
    tb_arena_free(pf->arena);
    tb_free(pf->path);
    tb_free(pf);
}

tb_rc tb_parquet_open(const char *path, tb_parquet_file **out, tb_err *err)
{
    tb_rc rc;
    tb_parquet_file *pf = NULL;
    uint8_t *footer = NULL;
    uint8_t tail[8], head[4];
    struct stat st;
    size_t got;

    *out = NULL;
    if (path == NULL)
        return TB_ERRF(err, TB_E_MISUSE, "parquet: no path");
    pf = tb_calloc(1, sizeof(*pf));
    if (pf == NULL)
        return tb_err_nomem(err);
    pf->fd = -1;
    pf->path = tb_strdup(path);
    pf->arena = tb_arena_new(0);
    if (pf->path == NULL || pf->arena == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    pf->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (pf->fd < 0) {
        rc = TB_ERRF(err, errno == ENOENT ? TB_E_NOTFOUND : TB_E_IO, "parquet: %s: %s", path,
                     strerror(errno));
        goto fail;
    }
    if (fstat(pf->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = TB_ERRF(err, TB_E_IO, "parquet: %s: not a regular file", path);
        goto fail;
    }
    pf->file_size = (uint64_t)st.st_size;
    if (pf->file_size < 12) {
        rc = TB_ERRF(err, TB_E_CORRUPT,
                     "parquet: %s: file of %llu bytes is too small to be a Parquet file", path,
                     (unsigned long long)pf->file_size);
        goto fail;
    }
    if (pread_full(pf->fd, head, 4, 0, &got) != TB_OK || got != 4 ||
        pread_full(pf->fd, tail, 8, pf->file_size - 8, &got) != TB_OK || got != 8) {
        rc = TB_ERRF(err, TB_E_IO, "parquet: %s: read error: %s", path, strerror(errno));
        goto fail;
    }
    if (memcmp(tail + 4, "PARE", 4) == 0 || memcmp(head, "PARE", 4) == 0) {
        rc = TB_ERRF(err, TB_E_UNSUPPORTED,
                     "parquet: %s: encrypted file not supported (encrypted footer)", path);
        goto fail;
    }
    if (memcmp(tail + 4, "PAR1", 4) != 0 || memcmp(head, "PAR1", 4) != 0) {
        rc = TB_ERRF(err, TB_E_CORRUPT, "parquet: %s: not a Parquet file (bad magic)", path);
        goto fail;
    }
    uint32_t flen = le32(tail);
    if ((uint64_t)flen > pf->file_size - 12) {
        rc = TB_ERRF(err, TB_E_CORRUPT, "parquet: %s: footer length %u exceeds the file size %llu",
                     path, flen, (unsigned long long)pf->file_size);
        goto fail;
    }
    if ((size_t)flen > TB_PQ_META_MAX) {
        rc = TB_ERRF(err, TB_E_LIMIT, "parquet: %s: footer of %u bytes exceeds the %zu-byte limit",
                     path, flen, TB_PQ_META_MAX);
        goto fail;
    }
    pf->meta_start = pf->file_size - 8 - flen;
    footer = tb_malloc(flen > 0 ? flen : 1);
    if (footer == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    if (pread_full(pf->fd, footer, flen, pf->meta_start, &got) != TB_OK || got != flen) {
        rc = TB_ERRF(err, TB_E_IO, "parquet: %s: cannot read the footer", path);
        goto fail;
    }
    pf->bytes_read = 12 + flen;
    rc = tb_pq_decode_file_meta(footer, flen, pf->arena, &pf->meta, err);
    if (rc != TB_OK) {
        tb_err_prefix(err, "parquet: %s", path);
        goto fail;
    }
    tb_free(footer);
    footer = NULL;
    if (pf->meta.encrypted) {
        rc = TB_ERRF(err, TB_E_UNSUPPORTED,
                     "parquet: %s: encrypted file not supported (plaintext footer, encrypted "
                     "columns)",
                     path);
        goto fail;
    }
    rc = build_schema(pf, err);
    if (rc != TB_OK)
        goto fail;
    *out = pf;
    return TB_OK;
fail:
    tb_free(footer);
    tb_parquet_close(pf);
    return rc;
}

const tb_schema *tb_parquet_schema(const tb_parquet_file *pf) { return pf->schema; }

bool tb_parquet_column_nested(const tb_parquet_file *pf, int col)
{
    if (col < 0 || (uint32_t)col >= pf->schema->n)
        return false;
    return pf->fields[col].nested;
}

int64_t tb_parquet_num_rows(const tb_parquet_file *pf)
{
    int64_t n = 0;
    for (uint32_t g = 0; g < pf->meta.n_row_groups; g++)
        n += pf->meta.row_groups[g].num_rows;
    return n;
}

const tb_pq_file_meta *tb_parquet_meta(const tb_parquet_file *pf) { return &pf->meta; }

tb_rc tb_parquet_read_schema(const char *path, tb_schema **out_schema, tb_err *err)
{
    tb_parquet_file *pf = NULL;
    tb_rc rc = tb_parquet_open(path, &pf, err);
    *out_schema = NULL;
    if (rc != TB_OK || pf == NULL)
        return rc;
    *out_schema = pf->schema;
    pf->schema = NULL;
    pf->fields = NULL;
    tb_parquet_close(pf);
    return TB_OK;
}

/* ---------------------------------------------------------------- column state */

typedef struct pq_col {
    tb_parquet_file *pf;
    const pq_field *f;
    int field_idx;
    tb_type out_type;
    size_t out_w;
    uint32_t rg;
    /* chunk */
    int codec;
    uint64_t pos, end; /* next page header; hard end (the footer) */
    uint64_t hint_end; /* end of the chunk by total_compressed_size */
    uint64_t chunk_start;
    /* read-ahead window */
    uint8_t *io_buf;
    size_t io_cap;
    uint64_t io_off;
    size_t io_len;
    /* decompressed page */
    uint8_t *page_buf;
    size_t page_cap;
    /* dictionary: values converted to the output type */
    uint8_t *dict_buf;
    size_t dict_cap;
    uint8_t *dict_vals;
    size_t dict_vals_cap;
    uint32_t dict_n;
    bool has_dict;
    bool seen_data;
    tb_arena *dict_arena; /* converted dictionary strings (UUIDs) */
    /* current page */
    uint32_t page_left; /* rows left */
    int enc;
    int def_mode; /* 0 none, 1 RLE, 2 BIT_PACKED */
    tb_rle_dec def;
    const uint8_t *def_bp;
    size_t def_bp_len;
    uint64_t def_bp_pos;
    const uint8_t *vals;
    size_t vals_len;
    uint64_t vpos; /* PLAIN: byte offset (bit offset for BOOLEAN); BSS: value index */
    bool vals_ready;
    tb_rle_dec idx;
    tb_delta_dec d1, d2;
    const uint8_t *bytes;
    size_t bytes_left;
    uint32_t bss_n;
    uint8_t *prev; /* DELTA_BYTE_ARRAY: previous value */
    size_t prev_len, prev_cap;
    size_t batch_bytes; /* string bytes copied/built for the current batch */
    /* scratch, TB_BATCH_CAP entries each */
    uint32_t *u32;
    uint64_t *u64a;
    uint64_t *u64b;
    uint8_t *phys;
} pq_col;

static tb_rc col_errv(pq_col *c, tb_err *err, tb_rc code, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    return TB_ERRF(err, code, "parquet: %s: column '%s', row group %u: %s", c->pf->path,
                   c->pf->schema->fields[c->field_idx].name, c->rg, msg);
}

static tb_rc col_err(pq_col *c, tb_err *err, tb_rc code, const char *fmt, ...) TB_PRINTF(4, 5);
static tb_rc col_err(pq_col *c, tb_err *err, tb_rc code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tb_rc rc = col_errv(c, err, code, fmt, ap);
    va_end(ap);
    return rc;
}

static void col_release(pq_col *c)
{
    tb_free(c->io_buf);
    tb_free(c->page_buf);
    tb_free(c->dict_buf);
    tb_free(c->dict_vals);
    tb_free(c->prev);
    tb_free(c->u32);
    tb_free(c->u64a);
    tb_free(c->u64b);
    tb_free(c->phys);
    tb_arena_free(c->dict_arena);
    memset(c, 0, sizeof(*c));
}

static tb_rc col_init(pq_col *c, int field_idx, tb_err *err)
{
    memset(c, 0, sizeof(*c));
    c->field_idx = field_idx;
    c->u32 = tb_malloc(sizeof(uint32_t) * TB_BATCH_CAP);
    c->u64a = tb_malloc(sizeof(uint64_t) * TB_BATCH_CAP);
    c->u64b = tb_malloc(sizeof(uint64_t) * TB_BATCH_CAP);
    c->phys = tb_malloc(16 * TB_BATCH_CAP);
    c->dict_arena = tb_arena_new(0);
    if (c->u32 == NULL || c->u64a == NULL || c->u64b == NULL || c->phys == NULL ||
        c->dict_arena == NULL)
        return tb_err_nomem(err);
    return TB_OK;
}

/* Grow a heap buffer to at least n bytes (contents not kept). */
static tb_rc ensure_cap(uint8_t **buf, size_t *cap, size_t n)
{
    if (*cap >= n && *buf != NULL)
        return TB_OK;
    size_t nc = n > 0 ? n : 1;
    uint8_t *nb = tb_malloc(nc);
    if (nb == NULL)
        return TB_E_NOMEM;
    tb_free(*buf);
    *buf = nb;
    *cap = nc;
    return TB_OK;
}

/* Make file bytes [off, off + n) available; n <= c->end - off (checked by callers). */
static tb_rc io_get(pq_col *c, uint64_t off, size_t n, const uint8_t **out, tb_err *err)
{
    if (off >= c->io_off && off + n <= c->io_off + c->io_len && c->io_buf != NULL) {
        *out = c->io_buf + (off - c->io_off);
        return TB_OK;
    }
    uint64_t ahead = c->hint_end > off ? c->hint_end - off : 0;
    size_t len = (size_t)TB_MIN(ahead, (uint64_t)TB_PQ_READ_AHEAD);
    if (len < n)
        len = n;
    if (ensure_cap(&c->io_buf, &c->io_cap, len) != TB_OK)
        return tb_err_nomem(err);
    c->io_len = 0;
    size_t got;
    if (pread_full(c->pf->fd, c->io_buf, len, off, &got) != TB_OK)
        return col_err(c, err, TB_E_IO, "read error at offset %llu: %s", (unsigned long long)off,
                       strerror(errno));
    c->pf->bytes_read += got;
    if (got < n)
        return col_err(c, err, TB_E_CORRUPT, "file truncated at offset %llu",
                       (unsigned long long)(off + got));
    c->io_off = off;
    c->io_len = got;
    *out = c->io_buf;
    return TB_OK;
}

/* Position the column at the start of chunk `leaf` of row group rg. */
static tb_rc col_start_chunk(pq_col *c, tb_parquet_file *pf, uint32_t rg, tb_err *err)
{
    c->pf = pf;
    c->f = &pf->fields[c->field_idx];
    c->rg = rg;
    c->out_type = pf->schema->fields[c->field_idx].type;
    c->out_w = tb_type_width(c->out_type);
    c->has_dict = false;
    c->seen_data = false;
    c->dict_n = 0;
    c->page_left = 0;
    c->io_len = 0;
    c->io_off = 0;
    tb_arena_reset(c->dict_arena);

    const tb_pq_column_chunk *cc = &pf->meta.row_groups[rg].columns[c->f->leaf];
    if (cc->encrypted)
        return col_err(c, err, TB_E_UNSUPPORTED, "encrypted file not supported");
    if (cc->file_path != NULL)
        return col_err(c, err, TB_E_UNSUPPORTED, "column data in another file ('%s')",
                       cc->file_path);
    if (!cc->has_meta)
        return col_err(c, err, TB_E_CORRUPT, "column chunk has no metadata");
    const tb_pq_column_meta *cm = &cc->meta;
    if (cm->type != c->f->phys)
        return col_err(c, err, TB_E_CORRUPT, "column chunk type %s differs from schema type %s",
                       phys_name(cm->type), phys_name(c->f->phys));
    if (!tb_codec_supported(cm->codec))
        return col_err(c, err, TB_E_UNSUPPORTED, "compression codec %s (%d) not supported",
                       tb_codec_name(cm->codec), cm->codec);
    c->codec = cm->codec;
    int64_t start = cm->data_page_offset;
    if (cm->dictionary_page_offset >= 4 && cm->dictionary_page_offset < start)
        start = cm->dictionary_page_offset;
    int64_t size = cm->total_compressed_size;
    if (start < 4 || size < 0 || (uint64_t)start > pf->meta_start ||
        (uint64_t)size > pf->meta_start - (uint64_t)start)
        return col_err(c, err, TB_E_CORRUPT,
                       "column chunk [%lld, +%lld) lies outside the file's data (%llu bytes)",
                       (long long)start, (long long)size, (unsigned long long)pf->meta_start);
    c->chunk_start = (uint64_t)start;
    c->pos = (uint64_t)start;
    /* total_compressed_size is only a hint: some writers leave the dictionary page out of
     * it (parquet-mr before 1.2.9, nation.dict-malformed.parquet), so pages may run past
     * it, up to the footer. It still sizes the read-ahead. */
    c->hint_end = (uint64_t)start + (uint64_t)size;
    c->end = pf->meta_start;
    return TB_OK;
}

/* ---------------------------------------------------------------- conversions */

static inline int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static double pow10d(int k)
{
    double r = 1;
    for (int i = 0; i < k; i++)
        r *= 10;
    return r;
}

/* Big-endian two's complement bytes -> i128; false if it does not fit. */
static bool be_to_i128(const uint8_t *p, uint32_t n, tb_i128 *out)
{
    if (n == 0) {
        *out = 0;
        return true;
    }
    uint8_t sign = (p[0] & 0x80) ? 0xff : 0x00;
    if (n > 16) {
        for (uint32_t i = 0; i < n - 16; i++)
            if (p[i] != sign)
                return false;
        if (((p[n - 16] & 0x80) ? 0xff : 0x00) != sign)
            return false;
        p += n - 16;
        n = 16;
    }
    unsigned __int128 u = sign ? ~(unsigned __int128)0 : 0;
    for (uint32_t i = 0; i < n; i++)
        u = (u << 8) | p[i];
    *out = (tb_i128)u;
    return true;
}

static double be_to_double(const uint8_t *p, uint32_t n)
{
    double v = 0;
    for (uint32_t i = 0; i < n; i++)
        v = v * 256 + (i == 0 ? (double)(int8_t)p[0] : (double)p[i]);
    return v;
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                mant <<= 1;
            } while ((mant & 0x400) == 0);
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Convert m physical values at src into output values at dst. Strings made by the
 * conversion (UUIDs) go to str_arena. */
static tb_rc convert(pq_col *c, const uint8_t *src, uint32_t m, uint8_t *dst, tb_arena *str_arena,
                     tb_err *err)
{
    const pq_field *f = c->f;
    switch (f->cv) {
    case CV_COPY:
        if (dst != src)
            memcpy(dst, src, (size_t)m * c->out_w);
        return TB_OK;
    case CV_I32_I16: {
        const int32_t *s = (const int32_t *)src;
        int16_t *d = (int16_t *)dst;
        for (uint32_t i = 0; i < m; i++)
            d[i] = (int16_t)s[i];
        return TB_OK;
    }
    case CV_U8_I16: {
        const int32_t *s = (const int32_t *)src;
        int16_t *d = (int16_t *)dst;
        for (uint32_t i = 0; i < m; i++)
            d[i] = (int16_t)(uint8_t)s[i];
        return TB_OK;
    }
    case CV_U16_I32: {
        const int32_t *s = (const int32_t *)src;
        int32_t *d = (int32_t *)dst;
        for (uint32_t i = 0; i < m; i++)
            d[i] = (int32_t)(uint16_t)s[i];
        return TB_OK;
    }
    case CV_U32_I64: {
        const int32_t *s = (const int32_t *)src;
        int64_t *d = (int64_t *)dst;
        for (uint32_t i = 0; i < m; i++)
            d[i] = (int64_t)(uint32_t)s[i];
        return TB_OK;
    }
    case CV_U64_DEC: {
        const int64_t *s = (const int64_t *)src;
        tb_i128 *d = (tb_i128 *)dst;
        for (uint32_t i = 0; i < m; i++)
            d[i] = (tb_i128)(uint64_t)s[i];
        return TB_OK;
    }
    case CV_MS32_US: {
        const int32_t *s = (const int32_t *)src;
        int64_t *d = (int64_t *)dst;
        for (uint32_t i = 0; i < m; i++)
            d[i] = (int64_t)s[i] * 1000;
        return TB_OK;
    }
    case CV_MS_US: {
        const int64_t *s = (const int64_t *)src;
        int64_t *d = (int64_t *)dst;
        for (uint32_t i = 0; i < m; i++)
            if (__builtin_mul_overflow(s[i], (int64_t)1000, &d[i]))
                return col_err(c, err, TB_E_RANGE, "timestamp %lld ms out of range",
                               (long long)s[i]);
        return TB_OK;
    }
    case CV_NS_US: {
        const int64_t *s = (const int64_t *)src;
        int64_t *d = (int64_t *)dst;
        for (uint32_t i = 0; i < m; i++)
            d[i] = floor_div(s[i], 1000);
        return TB_OK;
    }
    case CV_INT96: {
        int64_t *d = (int64_t *)dst;
        for (uint32_t i = 0; i < m; i++) {
            const uint8_t *p = src + 12 * (size_t)i;
            int64_t nanos;
            int32_t jd;
            memcpy(&nanos, p, 8);
            memcpy(&jd, p + 8, 4);
            /* wrapping arithmetic, as Spark's writer and reader do: Spark stores
             * timestamps past year ~290000 with an overflowed julian day */
            uint64_t us = (uint64_t)((int64_t)jd - 2440588) * (uint64_t)TB_USEC_PER_DAY +
                          (uint64_t)floor_div(nanos, 1000);
            d[i] = (int64_t)us;
        }
        return TB_OK;
    }
    case CV_DEC32:
    case CV_DEC64: {
        tb_i128 *d = (tb_i128 *)dst;
        for (uint32_t i = 0; i < m; i++)
            d[i] = f->cv == CV_DEC32 ? (tb_i128)((const int32_t *)src)[i]
                                     : (tb_i128)((const int64_t *)src)[i];
        return TB_OK;
    }
    case CV_DECBIN: {
        const tb_str *s = (const tb_str *)src;
        tb_i128 *d = (tb_i128 *)dst;
        for (uint32_t i = 0; i < m; i++)
            if (!be_to_i128((const uint8_t *)s[i].ptr, s[i].len, &d[i]))
                return col_err(c, err, TB_E_RANGE,
                               "DECIMAL value of %u bytes does not fit 38 digits", s[i].len);
        return TB_OK;
    }
    case CV_DEC32_DBL:
    case CV_DEC64_DBL:
    case CV_DECBIN_DBL: {
        double div = pow10d(f->scale);
        for (uint32_t i = 0; i < m; i++) {
            double v;
            if (f->cv == CV_DEC32_DBL)
                v = ((const int32_t *)src)[i];
            else if (f->cv == CV_DEC64_DBL)
                v = (double)((const int64_t *)src)[i];
            else
                v = be_to_double((const uint8_t *)((const tb_str *)src)[i].ptr,
                                 ((const tb_str *)src)[i].len);
            v /= div;
            memcpy(dst + (size_t)i * sizeof(double), &v, sizeof(double));
        }
        return TB_OK;
    }
    case CV_F16: {
        const tb_str *s = (const tb_str *)src;
        for (uint32_t i = 0; i < m; i++) {
            const uint8_t *p = (const uint8_t *)s[i].ptr;
            float v = half_to_float((uint16_t)(p[0] | (p[1] << 8)));
            memcpy(dst + (size_t)i * sizeof(float), &v, sizeof(float));
        }
        return TB_OK;
    }
    case CV_UUID: {
        const tb_str *s = (const tb_str *)src;
        tb_str *d = (tb_str *)dst;
        static const char hex[] = "0123456789abcdef";
        char *buf = tb_arena_alloc(str_arena, (size_t)m * 36 + 1);
        if (buf == NULL)
            return tb_err_nomem(err);
        for (uint32_t i = 0; i < m; i++) {
            const uint8_t *p = (const uint8_t *)s[i].ptr;
            char *o = buf + (size_t)i * 36, *q = o;
            for (int b = 0; b < 16; b++) {
                if (b == 4 || b == 6 || b == 8 || b == 10)
                    *q++ = '-';
                *q++ = hex[p[b] >> 4];
                *q++ = hex[p[b] & 15];
            }
            d[i].ptr = o;
            d[i].len = 36;
        }
        return TB_OK;
    }
    case CV_INTERVAL: {
        const tb_str *s = (const tb_str *)src;
        tb_interval *d = (tb_interval *)dst;
        for (uint32_t i = 0; i < m; i++) {
            const uint8_t *p = (const uint8_t *)s[i].ptr;
            d[i].months = (int32_t)le32(p);
            d[i].days = (int32_t)le32(p + 4);
            d[i].micros = (int64_t)le32(p + 8) * 1000;
        }
        return TB_OK;
    }
    default:
        return col_err(c, err, TB_E_ERROR, "internal: unknown conversion %d", f->cv);
    }
}

/* ---------------------------------------------------------------- PLAIN */

/* Decode m PLAIN values of the column's physical type from vals at *pos into dst
 * (physical representation; strings are views into vals). */
static tb_rc plain_decode(pq_col *c, const uint8_t *vals, size_t len, uint64_t *pos, uint8_t *dst,
                          uint32_t m, tb_err *err)
{
    const pq_field *f = c->f;
    uint64_t p = *pos;
    switch (f->phys) {
    case TB_PQ_BOOLEAN: {
        if (p + m > (uint64_t)len * 8)
            goto short_data;
        for (uint32_t i = 0; i < m; i++, p++)
            dst[i] = (vals[p >> 3] >> (p & 7)) & 1;
        break;
    }
    case TB_PQ_INT32:
    case TB_PQ_INT64:
    case TB_PQ_INT96:
    case TB_PQ_FLOAT:
    case TB_PQ_DOUBLE: {
        size_t n = (size_t)m * f->phys_w;
        if (p > len || n > len - p)
            goto short_data;
        memcpy(dst, vals + p, n);
        p += n;
        break;
    }
    case TB_PQ_BYTE_ARRAY: {
        tb_str *d = (tb_str *)dst;
        for (uint32_t i = 0; i < m; i++) {
            if (p > len || len - p < 4)
                goto short_data;
            uint32_t n = le32(vals + p);
            p += 4;
            if (n > len - p)
                goto short_data;
            d[i].ptr = (const char *)vals + p;
            d[i].len = n;
            p += n;
        }
        break;
    }
    default: { /* FLBA */
        tb_str *d = (tb_str *)dst;
        uint32_t w = (uint32_t)f->type_length;
        if (p > len || (uint64_t)m * w > len - p)
            goto short_data;
        for (uint32_t i = 0; i < m; i++) {
            d[i].ptr = (const char *)vals + p;
            d[i].len = w;
            p += w;
        }
        break;
    }
    }
    *pos = p;
    return TB_OK;
short_data:
    return col_err(c, err, TB_E_CORRUPT, "PLAIN data ends before the page's values do");
}

/* ---------------------------------------------------------------- dictionary */

static tb_rc load_dict(pq_col *c, const tb_pq_page_header *ph, const uint8_t *raw, tb_err *err)
{
    tb_rc rc;
    size_t usize = (size_t)ph->uncompressed_page_size;
    size_t csize = (size_t)ph->compressed_page_size;
    int32_t n = ph->dict.num_values;

    if (c->has_dict || c->seen_data)
        return col_err(c, err, TB_E_CORRUPT, "unexpected dictionary page");
    if (ph->dict.encoding != TB_PQ_ENC_PLAIN && ph->dict.encoding != TB_PQ_ENC_PLAIN_DICTIONARY)
        return col_err(c, err, TB_E_UNSUPPORTED, "dictionary page encoding %s not supported",
                       enc_name(ph->dict.encoding));
    if (n < 0)
        return col_err(c, err, TB_E_CORRUPT, "dictionary page with %d values", n);
    if (n > TB_PQ_DICT_MAX)
        return col_err(c, err, TB_E_LIMIT, "dictionary of %d values exceeds the limit of %d", n,
                       TB_PQ_DICT_MAX);
    if (c->codec == TB_CODEC_UNCOMPRESSED)
        usize = csize;
    if (ensure_cap(&c->dict_buf, &c->dict_cap, usize) != TB_OK)
        return tb_err_nomem(err);
    rc = tb_decompress(c->codec, raw, csize, c->dict_buf, usize, err);
    if (rc != TB_OK) {
        char ctx[64];
        snprintf(ctx, sizeof(ctx), "dictionary page at offset %llu",
                 (unsigned long long)(c->pos - csize));
        tb_err_prefix(err, "%s", ctx);
        return col_err(c, err, rc, "%s", err->msg);
    }
    /* bound the count by the bytes present before allocating */
    size_t min_w = c->f->phys == TB_PQ_BOOLEAN                ? 0
                   : c->f->phys == TB_PQ_BYTE_ARRAY           ? 4
                   : c->f->phys == TB_PQ_FIXED_LEN_BYTE_ARRAY ? (size_t)c->f->type_length
                                                              : c->f->phys_w;
    if ((min_w > 0 && (size_t)n > usize / min_w) ||
        (min_w == 0 && (uint64_t)n > (uint64_t)usize * 8))
        return col_err(c, err, TB_E_CORRUPT, "dictionary of %d values does not fit its %zu bytes",
                       n, usize);
    size_t need = (size_t)n * c->out_w;
    if (ensure_cap(&c->dict_vals, &c->dict_vals_cap, need) != TB_OK)
        return tb_err_nomem(err);
    uint64_t pos = 0;
    if (c->f->cv == CV_COPY) {
        rc = plain_decode(c, c->dict_buf, usize, &pos, c->dict_vals, (uint32_t)n, err);
    } else {
        uint8_t *tmp = tb_malloc((size_t)n * c->f->phys_w + 1);
        if (tmp == NULL)
            return tb_err_nomem(err);
        rc = plain_decode(c, c->dict_buf, usize, &pos, tmp, (uint32_t)n, err);
        if (rc == TB_OK)
            rc = convert(c, tmp, (uint32_t)n, c->dict_vals, c->dict_arena, err);
        tb_free(tmp);
    }
    if (rc != TB_OK)
        return rc;
    c->dict_n = (uint32_t)n;
    c->has_dict = true;
    return TB_OK;
}

/* ---------------------------------------------------------------- pages */

static bool enc_supported(int enc, int phys)
{
    switch (enc) {
    case TB_PQ_ENC_PLAIN:
    case TB_PQ_ENC_PLAIN_DICTIONARY:
    case TB_PQ_ENC_RLE_DICTIONARY:
        return true;
    case TB_PQ_ENC_RLE:
        return phys == TB_PQ_BOOLEAN;
    case TB_PQ_ENC_DELTA_BINARY_PACKED:
        return phys == TB_PQ_INT32 || phys == TB_PQ_INT64;
    case TB_PQ_ENC_DELTA_LENGTH_BYTE_ARRAY:
        return phys == TB_PQ_BYTE_ARRAY;
    case TB_PQ_ENC_DELTA_BYTE_ARRAY:
        return phys == TB_PQ_BYTE_ARRAY || phys == TB_PQ_FIXED_LEN_BYTE_ARRAY;
    case TB_PQ_ENC_BYTE_STREAM_SPLIT:
        return phys == TB_PQ_FLOAT || phys == TB_PQ_DOUBLE || phys == TB_PQ_INT32 ||
               phys == TB_PQ_INT64 || phys == TB_PQ_FIXED_LEN_BYTE_ARRAY;
    default:
        return false;
    }
}

/* Decompress a page body (or use it in place when uncompressed). */
static tb_rc page_body(pq_col *c, const uint8_t *raw, size_t csize, size_t usize, bool compressed,
                       const uint8_t **out, size_t *out_len, tb_err *err)
{
    if (!compressed || c->codec == TB_CODEC_UNCOMPRESSED) {
        *out = raw;
        *out_len = csize;
        return TB_OK;
    }
    if (csize == 0) { /* nothing to decompress (e.g. v2 page of only nulls) */
        *out = raw;
        *out_len = 0;
        return TB_OK;
    }
    if (ensure_cap(&c->page_buf, &c->page_cap, usize) != TB_OK)
        return tb_err_nomem(err);
    tb_rc rc = tb_decompress(c->codec, raw, csize, c->page_buf, usize, err);
    if (rc != TB_OK) {
        char msg[TB_ERR_MSG_CAP];
        snprintf(msg, sizeof(msg), "%s", err->msg);
        return col_err(c, err, rc, "data page: %s", msg);
    }
    *out = c->page_buf;
    *out_len = usize;
    return TB_OK;
}

static tb_rc setup_levels_v1(pq_col *c, int enc, int32_t num_values, const uint8_t **pp,
                             const uint8_t *end, tb_err *err)
{
    const uint8_t *p = *pp;
    int bw = tb_bit_width((uint64_t)c->f->max_def);
    if (enc == TB_PQ_ENC_RLE) {
        if (end - p < 4)
            return col_err(c, err, TB_E_CORRUPT, "definition levels truncated");
        uint32_t n = le32(p);
        if (n > (size_t)(end - p) - 4)
            return col_err(c, err, TB_E_CORRUPT, "definition levels length %u exceeds the page", n);
        tb_rle_dec_init(&c->def, p + 4, n, bw);
        c->def_mode = 1;
        *pp = p + 4 + n;
        return TB_OK;
    }
    if (enc == TB_PQ_ENC_BIT_PACKED) {
        uint64_t n = ((uint64_t)num_values * (uint64_t)bw + 7) / 8;
        if (n > (uint64_t)(end - p))
            return col_err(c, err, TB_E_CORRUPT, "definition levels exceed the page");
        c->def_bp = p;
        c->def_bp_len = (size_t)n;
        c->def_bp_pos = 0;
        c->def_mode = 2;
        *pp = p + n;
        return TB_OK;
    }
    return col_err(c, err, TB_E_UNSUPPORTED, "definition level encoding %s not supported",
                   enc_name(enc));
}

static tb_rc setup_data_page(pq_col *c, const tb_pq_page_header *ph, const uint8_t *raw,
                             tb_err *err)
{
    tb_rc rc;
    size_t csize = (size_t)ph->compressed_page_size;
    size_t usize = (size_t)ph->uncompressed_page_size;
    const uint8_t *body = NULL;
    size_t body_len = 0;
    int32_t num_values;

    c->def_mode = 0;
    c->vals_ready = false;
    c->vpos = 0;
    if (ph->type == TB_PQ_PAGE_DATA) {
        if (!ph->has_data)
            return col_err(c, err, TB_E_CORRUPT, "data page without its header");
        num_values = ph->data.num_values;
        c->enc = ph->data.encoding;
        if (num_values < 0)
            return col_err(c, err, TB_E_CORRUPT, "data page with %d values", num_values);
        rc = page_body(c, raw, csize, usize, true, &body, &body_len, err);
        if (rc != TB_OK)
            return rc;
        const uint8_t *p = body, *end = body + body_len;
        if (c->f->max_def > 0) {
            rc = setup_levels_v1(c, ph->data.definition_level_encoding, num_values, &p, end, err);
            if (rc != TB_OK)
                return rc;
        }
        c->vals = p;
        c->vals_len = (size_t)(end - p);
    } else {
        const tb_pq_data_page_header_v2 *h = &ph->data_v2;
        if (!ph->has_data_v2)
            return col_err(c, err, TB_E_CORRUPT, "data page v2 without its header");
        num_values = h->num_values;
        c->enc = h->encoding;
        int32_t dl = h->definition_levels_byte_length, rl = h->repetition_levels_byte_length;
        if (num_values < 0 || dl < 0 || rl < 0 || (uint64_t)dl + (uint64_t)rl > csize ||
            (uint64_t)dl + (uint64_t)rl > usize)
            return col_err(c, err, TB_E_CORRUPT, "data page v2 with inconsistent sizes");
        if (c->f->max_def > 0) {
            tb_rle_dec_init(&c->def, raw + rl, (size_t)dl, tb_bit_width((uint64_t)c->f->max_def));
            c->def_mode = 1;
        }
        size_t lv = (size_t)dl + (size_t)rl;
        rc =
            page_body(c, raw + lv, csize - lv, usize - lv, h->is_compressed, &body, &body_len, err);
        if (rc != TB_OK)
            return rc;
        c->vals = body;
        c->vals_len = body_len;
    }
    if (!enc_supported(c->enc, c->f->phys))
        return col_err(c, err, TB_E_UNSUPPORTED, "encoding %s not supported for %s",
                       enc_name(c->enc), phys_name(c->f->phys));
    if ((c->enc == TB_PQ_ENC_PLAIN_DICTIONARY || c->enc == TB_PQ_ENC_RLE_DICTIONARY) &&
        !c->has_dict)
        return col_err(c, err, TB_E_CORRUPT, "dictionary-encoded page without a dictionary page");
    c->page_left = (uint32_t)num_values;
    return TB_OK;
}

/* Advance to the next data page with at least one value. */
static tb_rc next_page(pq_col *c, tb_err *err)
{
    tb_rc rc;
    for (;;) {
        tb_pq_page_header ph;
        const uint8_t *p = NULL;
        size_t hlen = 0;
        bool trunc = false;

        if (c->pos >= c->end)
            return col_err(c, err, TB_E_CORRUPT,
                           "column chunk ends before the row group's rows do");
        size_t want = (size_t)TB_MIN((uint64_t)256, c->end - c->pos);
        for (;;) {
            rc = io_get(c, c->pos, want, &p, err);
            if (rc != TB_OK)
                return rc;
            rc = tb_pq_decode_page_header(p, want, &ph, &hlen, &trunc, err);
            if (rc == TB_OK)
                break;
            if (trunc && want < c->end - c->pos && want < TB_PQ_HEADER_MAX) {
                want =
                    (size_t)TB_MIN((uint64_t)TB_MIN(want * 8, TB_PQ_HEADER_MAX), c->end - c->pos);
                continue;
            }
            char msg[TB_ERR_MSG_CAP];
            snprintf(msg, sizeof(msg), "%s", err->msg);
            return col_err(c, err, TB_E_CORRUPT, "bad page header at offset %llu: %s",
                           (unsigned long long)c->pos, msg);
        }
        uint64_t data_off = c->pos + hlen;
        if (ph.compressed_page_size < 0 || (uint64_t)ph.compressed_page_size > c->end - data_off)
            return col_err(c, err, TB_E_CORRUPT,
                           "page at offset %llu: compressed size %d overruns the column chunk",
                           (unsigned long long)c->pos, ph.compressed_page_size);
        if (ph.uncompressed_page_size < 0)
            return col_err(c, err, TB_E_CORRUPT, "page at offset %llu: uncompressed size %d",
                           (unsigned long long)c->pos, ph.uncompressed_page_size);
        if ((size_t)ph.uncompressed_page_size > TB_DECOMPRESS_MAX)
            return col_err(c, err, TB_E_LIMIT,
                           "page at offset %llu: uncompressed size %d exceeds the %zu-byte "
                           "limit",
                           (unsigned long long)c->pos, ph.uncompressed_page_size,
                           TB_DECOMPRESS_MAX);
        c->pos = data_off + (uint64_t)ph.compressed_page_size;
        if (ph.type != TB_PQ_PAGE_DICTIONARY && ph.type != TB_PQ_PAGE_DATA &&
            ph.type != TB_PQ_PAGE_DATA_V2)
            continue; /* index pages and unknown kinds: skip */
        const uint8_t *raw = NULL;
        rc = io_get(c, data_off, (size_t)ph.compressed_page_size, &raw, err);
        if (rc != TB_OK)
            return rc;
        if (ph.type == TB_PQ_PAGE_DICTIONARY) {
            if (!ph.has_dict)
                return col_err(c, err, TB_E_CORRUPT, "dictionary page without its header");
            rc = load_dict(c, &ph, raw, err);
            if (rc != TB_OK)
                return rc;
            continue;
        }
        c->seen_data = true;
        rc = setup_data_page(c, &ph, raw, err);
        if (rc != TB_OK)
            return rc;
        if (c->page_left > 0)
            return TB_OK;
    }
}

/* ---------------------------------------------------------------- value decoders */

static tb_rc short_values(pq_col *c, tb_err *err)
{
    return col_err(c, err, TB_E_CORRUPT, "%s data ends before the page's values do",
                   enc_name(c->enc));
}

static tb_rc init_values(pq_col *c, tb_err *err)
{
    const uint8_t *v = c->vals, *end = c->vals + c->vals_len;
    switch (c->enc) {
    case TB_PQ_ENC_PLAIN_DICTIONARY:
    case TB_PQ_ENC_RLE_DICTIONARY:
        if (c->vals_len < 1 || v[0] > 32)
            return col_err(c, err, TB_E_CORRUPT, "bad dictionary index bit width");
        tb_rle_dec_init(&c->idx, v + 1, c->vals_len - 1, v[0]);
        break;
    case TB_PQ_ENC_RLE: /* booleans: 4-byte length, then the hybrid with width 1 */
        if (c->vals_len < 4 || le32(v) > c->vals_len - 4)
            return col_err(c, err, TB_E_CORRUPT, "bad RLE boolean data length");
        tb_rle_dec_init(&c->idx, v + 4, le32(v), 1);
        break;
    case TB_PQ_ENC_DELTA_BINARY_PACKED:
        if (!tb_delta_dec_init(&c->d1, v, c->vals_len))
            return col_err(c, err, TB_E_CORRUPT, "bad DELTA_BINARY_PACKED header");
        break;
    case TB_PQ_ENC_DELTA_LENGTH_BYTE_ARRAY: {
        const uint8_t *data;
        uint64_t total;
        if (!tb_delta_skip(v, c->vals_len, &data, &total) ||
            !tb_delta_dec_init(&c->d1, v, c->vals_len))
            return col_err(c, err, TB_E_CORRUPT, "bad DELTA_LENGTH_BYTE_ARRAY lengths");
        c->bytes = data;
        c->bytes_left = (size_t)(end - data);
        break;
    }
    case TB_PQ_ENC_DELTA_BYTE_ARRAY: {
        const uint8_t *s, *data;
        uint64_t n1, n2;
        if (!tb_delta_skip(v, c->vals_len, &s, &n1) ||
            !tb_delta_skip(s, (size_t)(end - s), &data, &n2) ||
            !tb_delta_dec_init(&c->d1, v, c->vals_len) ||
            !tb_delta_dec_init(&c->d2, s, (size_t)(end - s)))
            return col_err(c, err, TB_E_CORRUPT, "bad DELTA_BYTE_ARRAY lengths");
        if (n1 != n2)
            return col_err(c, err, TB_E_CORRUPT,
                           "DELTA_BYTE_ARRAY with %llu prefixes and %llu suffixes",
                           (unsigned long long)n1, (unsigned long long)n2);
        c->bytes = data;
        c->bytes_left = (size_t)(end - data);
        c->prev_len = 0;
        break;
    }
    case TB_PQ_ENC_BYTE_STREAM_SPLIT: {
        size_t w =
            c->f->phys == TB_PQ_FIXED_LEN_BYTE_ARRAY ? (size_t)c->f->type_length : c->f->phys_w;
        if (c->vals_len % w != 0)
            return col_err(c, err, TB_E_CORRUPT,
                           "BYTE_STREAM_SPLIT data of %zu bytes is not a multiple of %zu",
                           c->vals_len, w);
        c->bss_n = (uint32_t)TB_MIN(c->vals_len / w, (size_t)UINT32_MAX);
        break;
    }
    default:
        break;
    }
    c->vals_ready = true;
    return TB_OK;
}

/* Copy transient string views (into a page) into the batch arena. */
static tb_rc own_strings(pq_col *c, tb_str *s, uint32_t m, tb_arena *arena, tb_err *err)
{
    size_t total = 0;
    for (uint32_t i = 0; i < m; i++)
        total += s[i].len;
    if (total == 0)
        return TB_OK;
    c->batch_bytes += total;
    if (c->batch_bytes > TB_PQ_BATCH_BYTES_MAX)
        return col_err(c, err, TB_E_LIMIT, "string values exceed %zu bytes in one batch",
                       TB_PQ_BATCH_BYTES_MAX);
    char *buf = tb_arena_alloc(arena, total);
    if (buf == NULL)
        return tb_err_nomem(err);
    for (uint32_t i = 0; i < m; i++) {
        memcpy(buf, s[i].ptr, s[i].len);
        s[i].ptr = buf;
        buf += s[i].len;
    }
    return TB_OK;
}

static tb_rc gather_dict(pq_col *c, uint8_t *out, uint32_t m, tb_err *err)
{
    uint32_t *ix = c->u32;
    if (tb_rle_dec_get(&c->idx, ix, m) != m)
        return short_values(c, err);
    uint32_t mx = 0;
    for (uint32_t i = 0; i < m; i++)
        mx = ix[i] > mx ? ix[i] : mx;
    if (mx >= c->dict_n)
        return col_err(c, err, TB_E_CORRUPT, "dictionary index %u out of range (%u entries)", mx,
                       c->dict_n);
    switch (c->out_w) {
    case 1:
        for (uint32_t i = 0; i < m; i++)
            out[i] = c->dict_vals[ix[i]];
        break;
    case 2: {
        const int16_t *d = (const int16_t *)c->dict_vals;
        for (uint32_t i = 0; i < m; i++)
            ((int16_t *)out)[i] = d[ix[i]];
        break;
    }
    case 4: {
        const uint32_t *d = (const uint32_t *)c->dict_vals;
        for (uint32_t i = 0; i < m; i++)
            ((uint32_t *)out)[i] = d[ix[i]];
        break;
    }
    case 8: {
        const uint64_t *d = (const uint64_t *)c->dict_vals;
        for (uint32_t i = 0; i < m; i++)
            ((uint64_t *)out)[i] = d[ix[i]];
        break;
    }
    default:
        for (uint32_t i = 0; i < m; i++)
            memcpy(out + (size_t)i * c->out_w, c->dict_vals + (size_t)ix[i] * c->out_w, c->out_w);
    }
    return TB_OK;
}

/* Decode m values (physical) into dst. *transient: strings are views into the page. */
static tb_rc decode_phys(pq_col *c, uint8_t *dst, uint32_t m, tb_arena *arena, bool *transient,
                         tb_err *err)
{
    const pq_field *f = c->f;
    *transient = false;
    switch (c->enc) {
    case TB_PQ_ENC_PLAIN:
        *transient = true;
        return plain_decode(c, c->vals, c->vals_len, &c->vpos, dst, m, err);
    case TB_PQ_ENC_RLE: {
        if (tb_rle_dec_get(&c->idx, c->u32, m) != m)
            return short_values(c, err);
        for (uint32_t i = 0; i < m; i++)
            dst[i] = (uint8_t)(c->u32[i] != 0);
        return TB_OK;
    }
    case TB_PQ_ENC_DELTA_BINARY_PACKED: {
        uint64_t *v = c->u64a;
        if (tb_delta_dec_get(&c->d1, v, m) != m)
            return short_values(c, err);
        if (f->phys == TB_PQ_INT32)
            for (uint32_t i = 0; i < m; i++)
                ((int32_t *)dst)[i] = (int32_t)(uint32_t)v[i];
        else
            memcpy(dst, v, (size_t)m * 8);
        return TB_OK;
    }
    case TB_PQ_ENC_DELTA_LENGTH_BYTE_ARRAY: {
        uint64_t *lens = c->u64a;
        tb_str *d = (tb_str *)dst;
        if (tb_delta_dec_get(&c->d1, lens, m) != m)
            return short_values(c, err);
        for (uint32_t i = 0; i < m; i++) {
            if (lens[i] > c->bytes_left)
                return short_values(c, err);
            d[i].ptr = (const char *)c->bytes;
            d[i].len = (uint32_t)lens[i];
            c->bytes += lens[i];
            c->bytes_left -= (size_t)lens[i];
        }
        *transient = true;
        return TB_OK;
    }
    case TB_PQ_ENC_DELTA_BYTE_ARRAY: {
        uint64_t *pre = c->u64a, *suf = c->u64b;
        tb_str *d = (tb_str *)dst;
        if (tb_delta_dec_get(&c->d1, pre, m) != m || tb_delta_dec_get(&c->d2, suf, m) != m)
            return short_values(c, err);
        const uint8_t *prev = c->prev;
        size_t prev_len = c->prev_len;
        for (uint32_t i = 0; i < m; i++) {
            if (pre[i] > prev_len || suf[i] > c->bytes_left)
                return col_err(c, err, TB_E_CORRUPT,
                               "DELTA_BYTE_ARRAY prefix or suffix out of range");
            size_t n = (size_t)pre[i] + (size_t)suf[i];
            c->batch_bytes += n;
            if (c->batch_bytes > TB_PQ_BATCH_BYTES_MAX)
                return col_err(c, err, TB_E_LIMIT,
                               "DELTA_BYTE_ARRAY values exceed %zu bytes in one batch",
                               TB_PQ_BATCH_BYTES_MAX);
            if (n > UINT32_MAX ||
                (f->phys == TB_PQ_FIXED_LEN_BYTE_ARRAY && n != (size_t)f->type_length))
                return col_err(c, err, TB_E_CORRUPT, "DELTA_BYTE_ARRAY value of bad length");
            char *s = tb_arena_alloc(arena, n > 0 ? n : 1);
            if (s == NULL)
                return tb_err_nomem(err);
            if (pre[i] > 0)
                memcpy(s, prev, (size_t)pre[i]);
            if (suf[i] > 0)
                memcpy(s + pre[i], c->bytes, (size_t)suf[i]);
            c->bytes += suf[i];
            c->bytes_left -= (size_t)suf[i];
            d[i].ptr = s;
            d[i].len = (uint32_t)n;
            prev = (const uint8_t *)s;
            prev_len = n;
        }
        /* keep the last value for the next call (the arena is reset in between) */
        if (prev != c->prev) {
            if (ensure_cap(&c->prev, &c->prev_cap, prev_len) != TB_OK)
                return tb_err_nomem(err);
            memcpy(c->prev, prev, prev_len);
            c->prev_len = prev_len;
        }
        return TB_OK;
    }
    case TB_PQ_ENC_BYTE_STREAM_SPLIT: {
        size_t w = f->phys == TB_PQ_FIXED_LEN_BYTE_ARRAY ? (size_t)f->type_length : f->phys_w;
        uint64_t j0 = c->vpos;
        if (j0 + m > c->bss_n)
            return short_values(c, err);
        uint8_t *bytes = dst;
        if (f->phys == TB_PQ_FIXED_LEN_BYTE_ARRAY) {
            bytes = tb_arena_alloc(arena, (size_t)m * w + 1);
            if (bytes == NULL)
                return tb_err_nomem(err);
        }
        for (size_t b = 0; b < w; b++) {
            const uint8_t *s = c->vals + b * c->bss_n + j0;
            for (uint32_t i = 0; i < m; i++)
                bytes[(size_t)i * w + b] = s[i];
        }
        if (f->phys == TB_PQ_FIXED_LEN_BYTE_ARRAY) {
            tb_str *d = (tb_str *)dst;
            for (uint32_t i = 0; i < m; i++) {
                d[i].ptr = (const char *)bytes + (size_t)i * w;
                d[i].len = (uint32_t)w;
            }
        }
        c->vpos += m;
        return TB_OK;
    }
    default:
        return col_err(c, err, TB_E_UNSUPPORTED, "encoding %s not supported", enc_name(c->enc));
    }
}

/* Decode m non-null values into out (output representation). */
static tb_rc decode_values(pq_col *c, uint8_t *out, uint32_t m, tb_arena *arena, tb_err *err)
{
    tb_rc rc;
    bool transient;
    if (!c->vals_ready) {
        rc = init_values(c, err);
        if (rc != TB_OK)
            return rc;
    }
    if (c->enc == TB_PQ_ENC_PLAIN_DICTIONARY || c->enc == TB_PQ_ENC_RLE_DICTIONARY)
        return gather_dict(c, out, m, err);
    bool direct = c->f->cv == CV_COPY;
    uint8_t *dst = direct ? out : c->phys;
    rc = decode_phys(c, dst, m, arena, &transient, err);
    if (rc != TB_OK)
        return rc;
    if (!direct)
        return convert(c, c->phys, m, out, arena, err);
    if (transient && c->out_type.id == TB_T_STRING)
        return own_strings(c, (tb_str *)out, m, arena, err);
    return TB_OK;
}

/* Read n rows of the column into v (capacity cap) from row offset off. */
static tb_rc col_read(pq_col *c, tb_vec *v, uint32_t off, uint32_t n, uint32_t cap, tb_arena *arena,
                      tb_err *err)
{
    tb_rc rc;
    uint32_t done = 0;
    size_t w = c->out_w;
    c->batch_bytes = 0;
    while (done < n) {
        if (c->page_left == 0) {
            rc = next_page(c, err);
            if (rc != TB_OK)
                return rc;
        }
        uint32_t k = TB_MIN(n - done, c->page_left);
        uint32_t m = k;
        uint32_t *lv = c->u32;
        uint8_t *out = (uint8_t *)v->data + (size_t)(off + done) * w;
        if (c->def_mode == 1 && c->def.rle_left >= k &&
            c->def.rle_value == (uint32_t)c->f->max_def) {
            /* the k levels lie in one RLE run of "present": no NULLs, nothing to decode
             * (writers mark columns optional even when they hold no NULL) */
            c->def.rle_left -= k;
        } else if (c->def_mode != 0) {
            if (c->def_mode == 1) {
                if (tb_rle_dec_get(&c->def, lv, k) != k)
                    return col_err(c, err, TB_E_CORRUPT,
                                   "definition levels end before the page's values do");
            } else {
                tb_unpack_msb32(c->def_bp, c->def_bp_len, c->def_bp_pos, 1, k, lv);
                c->def_bp_pos += k;
            }
            m = 0;
            for (uint32_t i = 0; i < k; i++) {
                if (lv[i] > (uint32_t)c->f->max_def)
                    return col_err(c, err, TB_E_CORRUPT, "definition level %u above maximum %d",
                                   lv[i], c->f->max_def);
                m += lv[i] == (uint32_t)c->f->max_def;
            }
            if (m < k) {
                rc = tb_vec_ensure_valid(v, cap, arena);
                if (rc != TB_OK)
                    return tb_err_nomem(err);
                for (uint32_t i = 0; i < k; i++)
                    if (lv[i] != (uint32_t)c->f->max_def) {
                        uint32_t r = off + done + i;
                        v->valid[r >> 6] &= ~((uint64_t)1 << (r & 63));
                    }
            }
        }
        if (m > 0) {
            /* (the levels in c->u32 may be overwritten now: the validity bits hold them) */
            rc = decode_values(c, out, m, arena, err);
            if (rc != TB_OK)
                return rc;
        }
        if (m < k) {
            /* spread the m dense values to their rows, backwards, in place; the validity
             * bits (just written) tell which rows hold values */
            uint32_t di = m;
            for (uint32_t j = k; j-- > 0;) {
                uint32_t r = off + done + j;
                bool valid = (v->valid[r >> 6] >> (r & 63)) & 1;
                uint8_t *slot = out + (size_t)j * w;
                if (valid) {
                    di--;
                    if (di != j)
                        memcpy(slot, out + (size_t)di * w, w);
                } else {
                    memset(slot, 0, w);
                }
            }
        }
        c->page_left -= k;
        done += k;
    }
    return TB_OK;
}

/* ---------------------------------------------------------------- source */

typedef struct pq_morsel {
    uint32_t file;
    int64_t rg; /* -1: the whole file */
} pq_morsel;

typedef struct pq_source {
    tb_source base;
    tb_strlist paths;
    size_t file_idx;
    tb_parquet_file *pf;
    tb_schema *first_schema; /* full schema of the first file */
    int *proj;
    uint32_t n_proj;
    pq_col *cols;
    uint32_t rg; /* next row group */
    bool in_rg;
    int64_t rg_rows_left;
    uint64_t bytes_done; /* bytes read from files already closed */
    /* morsels (parallel reading): row groups, or a whole file that failed to open */
    pq_morsel *morsels;
    uint64_t n_morsels;
    bool reader;   /* a morsel reader: reads [rg, rg_end) of file_idx, then ends */
    bool m_done;   /* the reader's current morsel is finished (or none chosen) */
    uint32_t rg_end;
} pq_source;

static void pq_source_free(tb_source *src)
{
    pq_source *s = (pq_source *)src;
    if (s == NULL)
        return;
    for (uint32_t i = 0; i < s->n_proj && s->cols != NULL; i++)
        col_release(&s->cols[i]);
    tb_free(s->cols);
    tb_free(s->proj);
    tb_free(s->morsels);
    tb_parquet_close(s->pf);
    tb_schema_free(s->first_schema);
    tb_schema_free(s->base.schema);
    tb_strlist_free(&s->paths);
    tb_free(s);
}

static bool schema_equal(const tb_schema *a, const tb_schema *b)
{
    if (a->n != b->n)
        return false;
    for (uint32_t i = 0; i < a->n; i++)
        if (strcmp(a->fields[i].name, b->fields[i].name) != 0 ||
            !tb_type_eq(a->fields[i].type, b->fields[i].type))
            return false;
    return true;
}

static tb_rc check_proj(tb_parquet_file *pf, const int *proj, uint32_t n_proj, tb_err *err)
{
    for (uint32_t i = 0; i < n_proj; i++) {
        const pq_field *f = &pf->fields[proj[i]];
        if (f->unsupported != NULL)
            return TB_ERRF(err, TB_E_UNSUPPORTED, "parquet: %s: column '%s' %s", pf->path,
                           pf->schema->fields[proj[i]].name, f->unsupported);
    }
    return TB_OK;
}

/* Open file s->file_idx (not the first) and check it against the first one. */
static tb_rc open_next_file(pq_source *s, tb_err *err)
{
    tb_parquet_file *pf = NULL;
    tb_rc rc = tb_parquet_open(s->paths.items[s->file_idx], &pf, err);
    if (rc != TB_OK || pf == NULL)
        return rc;
    if (!schema_equal(pf->schema, s->first_schema)) {
        rc = TB_ERRF(err, TB_E_TYPE, "parquet: %s: schema differs from the first file's (%s)",
                     pf->path, s->paths.items[0]);
        tb_parquet_close(pf);
        return rc;
    }
    rc = check_proj(pf, s->proj, s->n_proj, err);
    if (rc != TB_OK) {
        tb_parquet_close(pf);
        return rc;
    }
    s->pf = pf;
    s->rg = 0;
    s->in_rg = false;
    return TB_OK;
}

static tb_rc read_batch(pq_source *s, tb_arena *arena, tb_batch **out, tb_err *err);
static tb_rc morsel_next(pq_source *s, tb_arena *arena, tb_batch **out, tb_err *err);

static tb_rc pq_source_next(tb_source *src, tb_arena *arena, tb_batch **out, tb_err *err)
{
    pq_source *s = (pq_source *)src;
    tb_rc rc;

    *out = NULL;
    if (s->reader)
        return morsel_next(s, arena, out, err);
    for (;;) {
        if (s->pf == NULL) {
            if (s->file_idx >= s->paths.n)
                return TB_OK; /* end of input */
            rc = open_next_file(s, err);
            if (rc != TB_OK)
                return rc;
        }
        if (s->in_rg && s->rg_rows_left > 0)
            break;
        s->in_rg = false;
        if (s->rg >= s->pf->meta.n_row_groups) {
            s->bytes_done += s->pf->bytes_read;
            s->base.stats.bytes_read = s->bytes_done;
            tb_parquet_close(s->pf);
            s->pf = NULL;
            s->base.stats.files_done++;
            s->file_idx++;
            continue;
        }
        uint32_t g = s->rg++;
        s->rg_rows_left = s->pf->meta.row_groups[g].num_rows;
        if (s->rg_rows_left == 0)
            continue; /* nothing to read (chunks of empty row groups may be bogus) */
        for (uint32_t i = 0; i < s->n_proj; i++) {
            rc = col_start_chunk(&s->cols[i], s->pf, g, err);
            if (rc != TB_OK)
                return rc;
        }
        s->in_rg = true;
    }
    return read_batch(s, arena, out, err);
}

/* The next batch (<= TB_BATCH_CAP rows) of the current row group. */
static tb_rc read_batch(pq_source *s, tb_arena *arena, tb_batch **out, tb_err *err)
{
    tb_rc rc;
    uint32_t n = (uint32_t)TB_MIN(s->rg_rows_left, (int64_t)TB_BATCH_CAP);
    tb_batch *batch = tb_arena_zalloc(arena, sizeof(*batch));
    if (batch == NULL)
        return tb_err_nomem(err);
    batch->n_cols = s->n_proj;
    batch->cap = TB_BATCH_CAP;
    if (s->n_proj > 0) {
        batch->cols = tb_arena_zalloc(arena, sizeof(tb_vec) * s->n_proj);
        if (batch->cols == NULL)
            return tb_err_nomem(err);
    }
    for (uint32_t i = 0; i < s->n_proj; i++) {
        pq_col *c = &s->cols[i];
        /* not zeroed: col_read writes each of the n rows (NULL slots zeroed) */
        tb_vec *v = &batch->cols[i];
        v->type = c->out_type;
        v->valid = NULL;
        v->data = NULL;
        if (c->out_w > 0 && (v->data = tb_arena_alloc(arena, c->out_w * TB_BATCH_CAP)) == NULL)
            return tb_err_nomem(err);
        rc = col_read(c, &batch->cols[i], 0, n, TB_BATCH_CAP, arena, err);
        if (rc != TB_OK)
            return rc;
    }
    batch->n_rows = n;
    s->rg_rows_left -= n;
    s->base.stats.rows_read += n;
    s->base.stats.bytes_read = s->bytes_done + s->pf->bytes_read;
    *out = batch;
    return TB_OK;
}

/* Morsel reader: row groups [rg, rg_end) of file file_idx, opened when first needed
 * (so an unreadable file fails in next(), where the serial source fails on it). */
static tb_rc morsel_next(pq_source *s, tb_arena *arena, tb_batch **out, tb_err *err)
{
    tb_rc rc;

    for (;;) {
        if (s->m_done)
            return TB_OK;
        if (s->pf == NULL) {
            uint32_t rg = s->rg;
            rc = open_next_file(s, err);
            if (rc != TB_OK)
                return rc;
            s->rg = rg;
        }
        if (s->in_rg && s->rg_rows_left > 0)
            break;
        s->in_rg = false;
        if (s->rg >= s->rg_end || s->rg >= s->pf->meta.n_row_groups) {
            s->m_done = true;
            return TB_OK;
        }
        uint32_t g = s->rg++;
        s->rg_rows_left = s->pf->meta.row_groups[g].num_rows;
        if (s->rg_rows_left == 0)
            continue;
        for (uint32_t i = 0; i < s->n_proj; i++) {
            rc = col_start_chunk(&s->cols[i], s->pf, g, err);
            if (rc != TB_OK)
                return rc;
        }
        s->in_rg = true;
    }
    return read_batch(s, arena, out, err);
}

static const tb_source_vt pq_source_vt = {"parquet", pq_source_next, pq_source_free};

tb_rc tb_parquet_source_new(const tb_strlist *paths, const int *proj, uint32_t n_proj,
                            tb_source **out_src, tb_err *err)
{
    tb_rc rc;
    pq_source *s = NULL;

    *out_src = NULL;
    if (paths == NULL || paths->n == 0 || (n_proj > 0 && proj == NULL))
        return TB_ERRF(err, TB_E_MISUSE, "parquet: no files to read");
    s = tb_calloc(1, sizeof(*s));
    if (s == NULL)
        return tb_err_nomem(err);
    s->base.vt = &pq_source_vt;
    for (size_t i = 0; i < paths->n; i++)
        if (tb_strlist_push(&s->paths, paths->items[i]) != TB_OK) {
            rc = tb_err_nomem(err);
            goto fail;
        }
    rc = tb_parquet_open(s->paths.items[0], &s->pf, err);
    if (rc != TB_OK)
        goto fail;
    const tb_schema *fs = s->pf->schema;
    for (uint32_t i = 0; i < n_proj; i++)
        if (proj[i] < 0 || (uint32_t)proj[i] >= fs->n) {
            rc = TB_ERRF(err, TB_E_MISUSE, "parquet: %s: column index %d out of range (%u columns)",
                         s->pf->path, proj[i], fs->n);
            goto fail;
        }
    rc = check_proj(s->pf, proj, n_proj, err);
    if (rc != TB_OK)
        goto fail;
    s->first_schema = tb_schema_copy(fs);
    s->base.schema = tb_schema_new(n_proj);
    s->proj = tb_malloc(sizeof(int) * (n_proj > 0 ? n_proj : 1));
    s->cols = tb_calloc(n_proj > 0 ? n_proj : 1, sizeof(pq_col));
    if (s->first_schema == NULL || s->base.schema == NULL || s->proj == NULL || s->cols == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    s->n_proj = n_proj;
    for (uint32_t i = 0; i < n_proj; i++) {
        const tb_field *fd = &fs->fields[proj[i]];
        s->proj[i] = proj[i];
        if (tb_schema_set(s->base.schema, i, fd->name, fd->type, fd->nullable) != TB_OK) {
            rc = tb_err_nomem(err);
            goto fail;
        }
        rc = col_init(&s->cols[i], proj[i], err);
        if (rc != TB_OK)
            goto fail;
    }
    *out_src = &s->base;
    return TB_OK;
fail:
    pq_source_free(&s->base);
    return rc;
}

/* ---------------------------------------------------------------- morsels */

/*
 * Parallel reading: one morsel per non-empty row group, in file order. Every file's
 * footer is read here (a file that cannot be opened, or whose schema differs, becomes one
 * whole-file morsel whose reader reports the error exactly where the serial source would).
 * Call before the first next().
 */
tb_rc tb_parquet_source_morsels(tb_source *src, uint64_t *out_n, tb_err *err)
{
    pq_source *s = (pq_source *)src;
    pq_morsel *m = NULL;
    size_t n = 0, cap = 0;

    *out_n = 0;
    if (src == NULL || src->vt != &pq_source_vt || s->reader)
        return TB_ERRF(err, TB_E_MISUSE, "parquet: not a Parquet source");
    if (s->morsels != NULL) {
        *out_n = s->n_morsels;
        return TB_OK;
    }
    if (s->file_idx != 0 || s->rg != 0 || s->in_rg)
        return TB_OK; /* already reading: not split */
    for (size_t f = 0; f < s->paths.n; f++) {
        tb_parquet_file *pf = f == 0 ? s->pf : NULL;
        tb_err e2;
        bool ok = true;
        if (pf == NULL) {
            ok = tb_parquet_open(s->paths.items[f], &pf, &e2) == TB_OK && pf != NULL;
            ok = ok && schema_equal(pf->schema, s->first_schema) &&
                 check_proj(pf, s->proj, s->n_proj, &e2) == TB_OK;
        }
        uint32_t n_rg = ok ? pf->meta.n_row_groups : 1;
        if (tb_grow((void **)&m, &cap, n + n_rg + 1, sizeof(*m)) != TB_OK) {
            if (pf != s->pf)
                tb_parquet_close(pf);
            tb_free(m);
            return tb_err_nomem(err);
        }
        if (!ok) {
            m[n].file = (uint32_t)f;
            m[n++].rg = -1;
        } else {
            for (uint32_t g = 0; g < n_rg; g++) {
                if (pf->meta.row_groups[g].num_rows == 0)
                    continue;
                m[n].file = (uint32_t)f;
                m[n++].rg = g;
            }
        }
        if (pf != s->pf)
            tb_parquet_close(pf);
    }
    s->morsels = m;
    s->n_morsels = n;
    *out_n = n;
    return TB_OK;
}

tb_rc tb_parquet_morsel_reader(tb_source *src, tb_source **out, tb_err *err)
{
    pq_source *p = (pq_source *)src, *s = NULL;
    tb_rc rc;

    *out = NULL;
    if (src == NULL || src->vt != &pq_source_vt || p->morsels == NULL)
        return TB_ERRF(err, TB_E_MISUSE, "parquet: source not split into morsels");
    s = tb_calloc(1, sizeof(*s));
    if (s == NULL)
        return tb_err_nomem(err);
    s->base.vt = &pq_source_vt;
    s->reader = true;
    s->m_done = true;
    for (size_t i = 0; i < p->paths.n; i++)
        if (tb_strlist_push(&s->paths, p->paths.items[i]) != TB_OK)
            goto nomem;
    s->first_schema = tb_schema_copy(p->first_schema);
    s->base.schema = tb_schema_copy(p->base.schema);
    s->proj = tb_malloc(sizeof(int) * (p->n_proj > 0 ? p->n_proj : 1));
    s->cols = tb_calloc(p->n_proj > 0 ? p->n_proj : 1, sizeof(pq_col));
    s->morsels = tb_malloc(sizeof(pq_morsel) * (p->n_morsels > 0 ? p->n_morsels : 1));
    if (s->first_schema == NULL || s->base.schema == NULL || s->proj == NULL ||
        s->cols == NULL || s->morsels == NULL)
        goto nomem;
    memcpy(s->morsels, p->morsels, sizeof(pq_morsel) * p->n_morsels);
    s->n_morsels = p->n_morsels;
    s->n_proj = p->n_proj;
    for (uint32_t i = 0; i < p->n_proj; i++) {
        s->proj[i] = p->proj[i];
        rc = col_init(&s->cols[i], p->proj[i], err);
        if (rc != TB_OK) {
            pq_source_free(&s->base);
            return rc;
        }
    }
    *out = &s->base;
    return TB_OK;
nomem:
    pq_source_free(&s->base);
    return tb_err_nomem(err);
}

tb_rc tb_parquet_seek_morsel(tb_source *reader, uint64_t i, tb_err *err)
{
    pq_source *s = (pq_source *)reader;

    if (reader == NULL || reader->vt != &pq_source_vt || !s->reader || i >= s->n_morsels)
        return TB_ERRF(err, TB_E_MISUSE, "parquet: no morsel %llu", (unsigned long long)i);
    const pq_morsel *m = &s->morsels[i];
    if (s->pf != NULL && s->file_idx != m->file) {
        s->bytes_done += s->pf->bytes_read;
        tb_parquet_close(s->pf);
        s->pf = NULL;
        s->base.stats.files_done++;
    }
    s->file_idx = m->file;
    s->rg = m->rg < 0 ? 0 : (uint32_t)m->rg;
    s->rg_end = m->rg < 0 ? UINT32_MAX : (uint32_t)m->rg + 1;
    s->in_rg = false;
    s->rg_rows_left = 0;
    s->m_done = false;
    return TB_OK;
}
