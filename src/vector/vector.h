/*
 * vector.h - types, column vectors with validity bitmaps, batches and schemas.
 *
 * Data moves between operators as a tb_batch: up to TB_BATCH_CAP rows held as one
 * tb_vec per column. A vector is a plain struct of pointers: copying the struct shares
 * its buffers (this is how projection and filter pass columns through without copying).
 *
 * Ownership: the memory behind a batch (vector data, validity, string bytes) lives in
 * the producer's arena. A batch is valid until the producer's next next() call;
 * consumers that keep rows copy them (tb_vec_copy_rows into their own arena).
 *
 * Strings are views (pointer + length) into bytes owned by the same arena, or by a
 * longer-lived buffer the producer guarantees (dictionary pages). This is DESIGN.md's
 * "offsets + bytes" with the base folded into each entry: it lets filters, gathers and
 * hash tables move strings without copying bytes.
 */
#ifndef TB_VECTOR_H
#define TB_VECTOR_H

#include "util/util.h"

#define TB_BATCH_CAP 2048

typedef __int128 tb_i128;

typedef enum tb_type_id {
    TB_T_NULL = 0,  /* type of a bare NULL literal; no storage */
    TB_T_BOOL,      /* uint8_t, 0 or 1 */
    TB_T_INT16,     /* int16_t  (smallint) */
    TB_T_INT32,     /* int32_t  (integer) */
    TB_T_INT64,     /* int64_t  (bigint) */
    TB_T_FLOAT,     /* float    (real) */
    TB_T_DOUBLE,    /* double   (double precision) */
    TB_T_DECIMAL,   /* tb_i128 scaled by 10^scale; precision <= 38 */
    TB_T_STRING,    /* tb_str   (text, varchar) */
    TB_T_DATE,      /* int32_t days since 1970-01-01 */
    TB_T_TIMESTAMP, /* int64_t microseconds since 1970-01-01 00:00:00 (no time zone) */
    TB_T_INTERVAL,  /* tb_interval */
    TB_T__COUNT
} tb_type_id;

typedef struct tb_type {
    uint8_t id;        /* tb_type_id */
    uint8_t precision; /* DECIMAL only */
    uint8_t scale;     /* DECIMAL only */
} tb_type;

typedef struct tb_str {
    const char *ptr;
    uint32_t len;
} tb_str;

static inline tb_type tb_type_make(tb_type_id id)
{
    tb_type t = {(uint8_t)id, 0, 0};
    return t;
}
static inline tb_type tb_type_decimal(int precision, int scale)
{
    tb_type t = {TB_T_DECIMAL, (uint8_t)precision, (uint8_t)scale};
    return t;
}
bool tb_type_eq(tb_type a, tb_type b);
/* Bytes per value in a vector's data array (0 for NULL). */
size_t tb_type_width(tb_type t);
/* SQL name as PostgreSQL prints it: "integer", "numeric(10,2)", "text", "timestamp". */
const char *tb_type_name(tb_type t, char *buf, size_t cap);
/* Short static name of the id ("integer", "numeric", ...). */
const char *tb_type_id_name(tb_type_id id);
/* Parse a SQL type name ("int", "int4", "bigint", "varchar(10)", "numeric(10,2)",
 * "double precision", "timestamp", "text", ...). */
tb_rc tb_type_parse(const char *s, tb_type *out, tb_err *err);
bool tb_type_is_integer(tb_type t);
bool tb_type_is_numeric(tb_type t); /* integer, float, double, decimal */

/* ---------------------------------------------------------------- vectors */

typedef struct tb_vec {
    tb_type type;
    uint64_t *valid; /* bit i set = row i not NULL; NULL pointer = every row valid */
    void *data;      /* tb_type_width(type) * capacity bytes */
} tb_vec;

static inline bool tb_vec_is_null(const tb_vec *v, uint32_t i)
{
    return v->valid != NULL && !((v->valid[i >> 6] >> (i & 63)) & 1);
}
/* Number of uint64 words of a validity bitmap for n rows. */
static inline size_t tb_valid_words(uint32_t n)
{
    return ((size_t)n + 63) / 64;
}
/* Allocate data (and no bitmap) for cap rows of type t in arena. */
tb_rc tb_vec_init(tb_vec *v, tb_type t, uint32_t cap, tb_arena *arena);
/* Ensure v has a validity bitmap (all bits set for cap rows). */
tb_rc tb_vec_ensure_valid(tb_vec *v, uint32_t cap, tb_arena *arena);
/* Mark row i NULL / valid; tb_vec_set_null allocates the bitmap on first use. */
tb_rc tb_vec_set_null(tb_vec *v, uint32_t i, uint32_t cap, tb_arena *arena);
static inline void tb_vec_set_valid(tb_vec *v, uint32_t i)
{
    if (v->valid != NULL)
        v->valid[i >> 6] |= (uint64_t)1 << (i & 63);
}
/* Number of NULLs among the first n rows. */
uint32_t tb_vec_null_count(const tb_vec *v, uint32_t n);

#define TB_VEC_PTR(v, ctype) ((ctype *)(v)->data)

/*
 * Copy rows: dst[dst_off + k] = src[sel ? sel[k] : k] for k < n. dst must have room.
 * String bytes are copied into arena when copy_strings is true (otherwise views are
 * shared). dst's bitmap is created in arena if a NULL is copied.
 */
tb_rc tb_vec_copy_rows(tb_vec *dst, uint32_t dst_off, uint32_t dst_cap, const tb_vec *src,
                       const uint32_t *sel, uint32_t n, bool copy_strings, tb_arena *arena);

/* ---------------------------------------------------------------- schemas */

typedef struct tb_field {
    char *name; /* owned by the schema */
    tb_type type;
    bool nullable;
} tb_field;

typedef struct tb_schema {
    uint32_t n;
    tb_field *fields; /* owned by the schema */
} tb_schema;

tb_schema *tb_schema_new(uint32_t n); /* fields zeroed; NULL on OOM */
void tb_schema_free(tb_schema *schema);
tb_schema *tb_schema_copy(const tb_schema *schema);
tb_rc tb_schema_set(tb_schema *schema, uint32_t i, const char *name, tb_type type,
                    bool nullable);
/* Index of a field by case-insensitive name, or -1. */
int tb_schema_find(const tb_schema *schema, const char *name);
/* Parse "a int, b text, c timestamp" (read_csv's schema option). */
tb_rc tb_schema_parse(const char *text, tb_schema **out_schema, tb_err *err);

/* ---------------------------------------------------------------- batches */

typedef struct tb_batch {
    uint32_t n_rows;
    uint32_t n_cols;
    uint32_t cap;  /* rows the vectors have room for */
    tb_vec *cols;  /* n_cols vectors */
} tb_batch;

/* A batch with n_cols vectors of the schema's types, capacity cap, all in arena. */
tb_rc tb_batch_new(const tb_schema *schema, uint32_t cap, tb_arena *arena, tb_batch **out);
/* A batch shell: n_cols zeroed vectors and no data, for passthrough operators. */
tb_rc tb_batch_shell(uint32_t n_cols, tb_arena *arena, tb_batch **out);
/* Remove in place the rows r < n of batch whose drop[r] is non-zero (values and
 * validity shift down, order kept); returns the number of rows kept. n_rows is not
 * changed: the caller sets it. */
uint32_t tb_batch_drop_rows(tb_batch *batch, uint32_t n, const uint8_t *drop);

/* ---------------------------------------------------------------- values */

/* One scalar value (constants, aggregate states, row access). Strings point to memory
 * owned by whoever made the value. */
typedef struct tb_value {
    tb_type type;
    bool is_null;
    union {
        bool b;
        int64_t i;  /* BOOL/INT16/INT32/INT64/DATE/TIMESTAMP */
        double d;   /* FLOAT/DOUBLE */
        tb_i128 dec;
        tb_str s;
        tb_interval iv;
    } u;
} tb_value;

/* Read row i of v as a value (strings are views into v). */
void tb_vec_get(const tb_vec *v, uint32_t i, tb_value *out);
/* Write value into row i of v (types must match; strings are views, not copied). */
tb_rc tb_vec_put(tb_vec *v, uint32_t i, uint32_t cap, const tb_value *val, tb_arena *arena);

/*
 * Render a value as text the way the CLI's csv output and tb_result_text do:
 * integers, doubles (shortest round-trip, "Infinity"/"NaN"), numeric with its scale,
 * true/false, timestamps "YYYY-MM-DD HH:MM:SS[.ffffff]", PostgreSQL intervals.
 * NULL appends nothing. Appends to buf.
 */
tb_rc tb_value_format(const tb_value *val, tb_buf *buf);
/* Decimal helpers. */
int tb_i128_format(tb_i128 v, int scale, char *buf); /* buf >= 48; returns length */
bool tb_i128_parse(const char *s, size_t n, int scale, tb_i128 *out); /* rounds half away */
tb_i128 tb_i128_pow10(int k); /* k <= 38 */
/* Compare two values of the same type: <0, 0, >0. NULLs compare equal to each other and
 * greater than everything (PostgreSQL's default: NULLS LAST for ASC). */
int tb_value_cmp(const tb_value *a, const tb_value *b);

#endif /* TB_VECTOR_H */
