/*
 * thrift.h - Thrift compact protocol: a bounds-checked reader over a byte range and a
 * tb_buf-based writer. Parquet's metadata (FileMetaData, PageHeader, ...) is encoded
 * with it; parquet_meta.c builds the Parquet structs on top of these primitives.
 *
 * Reader: errors are sticky. Every read on a failed reader returns 0/false and leaves
 * the reader failed; callers check tb_thrift_ok() (or the bool results) once per
 * struct, which keeps decoders short without ever reading out of bounds. A reader that
 * ran past its end also sets `truncated`, so a caller reading a page header from a
 * partial buffer can tell "need more bytes" from "malformed".
 *
 * Writer: also sticky (first error kept in w->rc); structs nest with a stack of the
 * last field id (field ids are delta-encoded when the delta is 1..15).
 */
#ifndef TB_THRIFT_H
#define TB_THRIFT_H

#include "util/util.h"

/* Compact protocol type ids (field header low nibble, collection element types). */
enum {
    TB_CT_STOP = 0,
    TB_CT_BOOL_TRUE = 1,
    TB_CT_BOOL_FALSE = 2,
    TB_CT_BYTE = 3,
    TB_CT_I16 = 4,
    TB_CT_I32 = 5,
    TB_CT_I64 = 6,
    TB_CT_DOUBLE = 7,
    TB_CT_BINARY = 8,
    TB_CT_LIST = 9,
    TB_CT_SET = 10,
    TB_CT_MAP = 11,
    TB_CT_STRUCT = 12
};

/* Nesting limit of structs/collections (Parquet's deepest is ~6; schema trees are flat
 * lists). Deeper input is rejected as malformed. */
#define TB_THRIFT_MAX_DEPTH 64

/* ---------------------------------------------------------------- reader */

typedef struct tb_thrift_reader {
    const uint8_t *start;
    const uint8_t *p;
    const uint8_t *end;
    int depth;                            /* open structs */
    int16_t last_id[TB_THRIFT_MAX_DEPTH]; /* previous field id per open struct */
    bool failed;
    bool truncated;  /* failed because the input ended early */
    const char *why; /* static description of the first failure */
} tb_thrift_reader;

void tb_thrift_reader_init(tb_thrift_reader *r, const void *data, size_t len);
static inline bool tb_thrift_ok(const tb_thrift_reader *r) { return !r->failed; }
/* Bytes consumed so far. */
static inline size_t tb_thrift_pos(const tb_thrift_reader *r) { return (size_t)(r->p - r->start); }
/* Mark the reader failed with a static reason (first reason wins). Returns false. */
bool tb_thrift_fail(tb_thrift_reader *r, const char *why);

/* Enter / leave a struct (the top-level struct too). Enter fails past the depth limit. */
bool tb_thrift_struct_begin(tb_thrift_reader *r);
void tb_thrift_struct_end(tb_thrift_reader *r);
/*
 * Next field header of the current struct. Returns false at STOP or on error (check
 * tb_thrift_ok to tell them apart). *out_type is a TB_CT_* id; for booleans the value is
 * in the type (TB_CT_BOOL_TRUE/FALSE): read it with tb_thrift_read_bool(r, type).
 */
bool tb_thrift_field(tb_thrift_reader *r, int16_t *out_id, uint8_t *out_type);

uint64_t tb_thrift_read_varint(tb_thrift_reader *r);
int8_t tb_thrift_read_byte(tb_thrift_reader *r);
int16_t tb_thrift_read_i16(tb_thrift_reader *r);
int32_t tb_thrift_read_i32(tb_thrift_reader *r);
int64_t tb_thrift_read_i64(tb_thrift_reader *r);
double tb_thrift_read_double(tb_thrift_reader *r);
/* A bool: a field's value is carried by its type; a collection element (pass
 * TB_CT_BOOL_TRUE as elem type) is one byte. */
bool tb_thrift_read_bool(tb_thrift_reader *r, uint8_t type);
/* Binary/string: *out_p points into the input (not NUL-terminated). */
bool tb_thrift_read_binary(tb_thrift_reader *r, const uint8_t **out_p, uint32_t *out_len);
/* List/set header. The count is checked against the remaining bytes (every element
 * takes at least one byte), so it may be used to size an allocation. */
bool tb_thrift_list_begin(tb_thrift_reader *r, uint8_t *out_elem_type, uint32_t *out_n);
/* Map header; types are 0 when n == 0. */
bool tb_thrift_map_begin(tb_thrift_reader *r, uint8_t *out_key_type, uint8_t *out_val_type,
                         uint32_t *out_n);
/* Skip one value of the given type (structs and collections recursively, bounded by
 * TB_THRIFT_MAX_DEPTH). */
bool tb_thrift_skip(tb_thrift_reader *r, uint8_t type);

/* ---------------------------------------------------------------- writer */

typedef struct tb_thrift_writer {
    tb_buf *buf;
    int depth;
    int16_t last_id[TB_THRIFT_MAX_DEPTH];
    tb_rc rc; /* first error (TB_E_NOMEM, or TB_E_MISUSE on nesting errors) */
} tb_thrift_writer;

/* Append to buf (not reset). */
void tb_thrift_writer_init(tb_thrift_writer *w, tb_buf *buf);
/* Begin a struct: the top-level one, or a field's value after
 * tb_thrift_write_field_begin(w, TB_CT_STRUCT, id), or a list element. */
void tb_thrift_write_struct_begin(tb_thrift_writer *w);
/* Write STOP and leave the struct. */
void tb_thrift_write_struct_end(tb_thrift_writer *w);
/* Field header (type TB_CT_*, not for bools: use tb_thrift_write_field_bool). */
void tb_thrift_write_field_begin(tb_thrift_writer *w, uint8_t type, int16_t id);
void tb_thrift_write_field_bool(tb_thrift_writer *w, int16_t id, bool v);
/* Convenience: field header plus value. */
void tb_thrift_write_field_i32(tb_thrift_writer *w, int16_t id, int32_t v);
void tb_thrift_write_field_i64(tb_thrift_writer *w, int16_t id, int64_t v);
void tb_thrift_write_field_binary(tb_thrift_writer *w, int16_t id, const void *p, size_t n);
void tb_thrift_write_field_string(tb_thrift_writer *w, int16_t id, const char *s);
void tb_thrift_write_field_double(tb_thrift_writer *w, int16_t id, double v);
/* Values (after a field header or as collection elements). */
void tb_thrift_write_varint(tb_thrift_writer *w, uint64_t v);
void tb_thrift_write_byte(tb_thrift_writer *w, int8_t v);
void tb_thrift_write_i16(tb_thrift_writer *w, int16_t v);
void tb_thrift_write_i32(tb_thrift_writer *w, int32_t v);
void tb_thrift_write_i64(tb_thrift_writer *w, int64_t v);
void tb_thrift_write_double(tb_thrift_writer *w, double v);
void tb_thrift_write_binary(tb_thrift_writer *w, const void *p, size_t n);
/* A bool as a collection element (one byte: 1 true, 2 false, as Thrift's C++ writes). */
void tb_thrift_write_bool_elem(tb_thrift_writer *w, bool v);
/* List header: element type and count; then write n elements. */
void tb_thrift_write_list_begin(tb_thrift_writer *w, uint8_t elem_type, uint32_t n);
/* Map header; then n (key, value) pairs. */
void tb_thrift_write_map_begin(tb_thrift_writer *w, uint8_t key_type, uint8_t val_type, uint32_t n);

/* Zigzag helpers (also used by Parquet's DELTA encodings). */
static inline uint64_t tb_zigzag_enc(int64_t v)
{
    return ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63));
}
static inline int64_t tb_zigzag_dec(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

#endif /* TB_THRIFT_H */
