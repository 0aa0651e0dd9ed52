/*
 * parquet.h - Parquet files: the reader (a tb_source over one or more files), plus the
 * parquet.thrift metadata structs with their compact-protocol decoders and encoders
 * (parquet_meta.c), shared with the Parquet writer.
 *
 * What the reader supports (see parquet_reader.c for details and limits):
 *  - flat columns (top-level, non-repeated primitives) of every physical type, mapped to
 *    SQL types as below; nested top-level columns (groups, repeated fields) appear in the
 *    schema as TB_T_NULL with tb_parquet_column_nested() true, and selecting one is an
 *    error ("column 'x' is nested (LIST/MAP/STRUCT), not supported");
 *  - encodings PLAIN, PLAIN_DICTIONARY, RLE_DICTIONARY, RLE, BIT_PACKED (levels),
 *    DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY, BYTE_STREAM_SPLIT;
 *    data pages v1 and v2; codecs of codec.h (all but LZO);
 *  - encrypted files are refused ("encrypted file not supported");
 *  - limits: footer <= TB_PQ_META_MAX, page <= TB_DECOMPRESS_MAX (1 GiB, codec.h) after
 *    decompression, page header <= 16 MiB, dictionary <= 2^24 entries, 512 MiB of string
 *    bytes per column per batch; page CRCs are not checked.
 *
 * Type mapping (Parquet -> SQL):
 *   BOOLEAN -> boolean; INT32 -> integer; INT64 -> bigint; FLOAT -> real; DOUBLE -> double;
 *   INT96 -> timestamp (Impala/Spark nanosecond timestamps, floored to microseconds;
 *   computed with wrapping 64-bit arithmetic as Spark does, so Spark's far-future values
 *   past the nanosecond range read back as written);
 *   BYTE_ARRAY / FIXED_LEN_BYTE_ARRAY without annotation -> text (the bytes as they are,
 *   not checked for UTF-8); STRING/UTF8/ENUM/JSON/BSON -> text; UUID -> text
 *   (8-4-4-4-12 hex); DATE -> date; TIMESTAMP(MILLIS|MICROS|NANOS, either UTC flag),
 *   TIMESTAMP_MILLIS/MICROS -> timestamp (microseconds; nanoseconds floored);
 *   TIME(any unit), TIME_MILLIS/MICROS -> bigint microseconds since midnight;
 *   DECIMAL(p,s) on INT32/INT64/FIXED/BYTE_ARRAY -> numeric(p,s), or double precision when
 *   p > 38 (numeric holds at most 38 digits); INT(8|16,signed) -> smallint,
 *   INT(32,signed) -> integer, INT(64,signed) -> bigint, UINT8 -> smallint,
 *   UINT16 -> integer, UINT32 -> bigint, UINT64 -> numeric(20,0); FLOAT16 -> real;
 *   INTERVAL (converted type) -> interval. An unknown logical type falls back to the
 *   converted type, then to the physical type.
 */
#ifndef TB_PARQUET_H
#define TB_PARQUET_H

#include "format/format.h"

/* ---------------------------------------------------------------- reader API */

typedef struct tb_parquet_file tb_parquet_file; /* opened file + parsed metadata */

/*
 * Open a file and parse its footer (the file stays open for reading column chunks).
 * Errors name the file: TB_E_IO, TB_E_CORRUPT (bad magic, footer, schema),
 * TB_E_UNSUPPORTED (encrypted), TB_E_LIMIT (metadata larger than TB_PQ_META_MAX).
 */
tb_rc tb_parquet_open(const char *path, tb_parquet_file **out, tb_err *err);
void tb_parquet_close(tb_parquet_file *pf); /* NULL is a no-op */
/* Top-level columns; nested (and unsupported) ones have type TB_T_NULL. Owned by pf. */
const tb_schema *tb_parquet_schema(const tb_parquet_file *pf);
bool tb_parquet_column_nested(const tb_parquet_file *pf, int col);
int64_t tb_parquet_num_rows(const tb_parquet_file *pf);
/* Read just the schema of a file; *out_schema belongs to the caller (tb_schema_free). */
tb_rc tb_parquet_read_schema(const char *path, tb_schema **out_schema, tb_err *err);
/*
 * A source over several files with the same schema (the first file's; a later file whose
 * schema differs is an error naming it), yielding the projected columns proj[0..n_proj)
 * (indexes into the top-level schema) in that order. n_proj may be 0: batches then carry
 * only n_rows. paths is copied. Files after the first are opened when reached.
 * Batches never span row groups; strings are views into the batch arena or into
 * dictionary pages the source keeps until its next next() call.
 */
tb_rc tb_parquet_source_new(const tb_strlist *paths, const int *proj, uint32_t n_proj,
                            tb_source **out_src, tb_err *err);
/*
 * Parallel reading (see tb_source_morsels in format.h): one morsel per non-empty row
 * group of every file, in order (each file's footer is read by tb_parquet_source_morsels;
 * a file that cannot be opened or does not match is one morsel whose reader fails as the
 * serial source would). A morsel reader reads one morsel at a time.
 */
tb_rc tb_parquet_source_morsels(tb_source *src, uint64_t *out_n, tb_err *err);
tb_rc tb_parquet_morsel_reader(tb_source *src, tb_source **out, tb_err *err);
tb_rc tb_parquet_seek_morsel(tb_source *reader, uint64_t i, tb_err *err);

/* ---------------------------------------------------------------- parquet.thrift */

/* Type */
enum {
    TB_PQ_BOOLEAN = 0,
    TB_PQ_INT32 = 1,
    TB_PQ_INT64 = 2,
    TB_PQ_INT96 = 3,
    TB_PQ_FLOAT = 4,
    TB_PQ_DOUBLE = 5,
    TB_PQ_BYTE_ARRAY = 6,
    TB_PQ_FIXED_LEN_BYTE_ARRAY = 7
};

/* ConvertedType */
enum {
    TB_PQ_CT_UTF8 = 0,
    TB_PQ_CT_MAP = 1,
    TB_PQ_CT_MAP_KEY_VALUE = 2,
    TB_PQ_CT_LIST = 3,
    TB_PQ_CT_ENUM = 4,
    TB_PQ_CT_DECIMAL = 5,
    TB_PQ_CT_DATE = 6,
    TB_PQ_CT_TIME_MILLIS = 7,
    TB_PQ_CT_TIME_MICROS = 8,
    TB_PQ_CT_TIMESTAMP_MILLIS = 9,
    TB_PQ_CT_TIMESTAMP_MICROS = 10,
    TB_PQ_CT_UINT_8 = 11,
    TB_PQ_CT_UINT_16 = 12,
    TB_PQ_CT_UINT_32 = 13,
    TB_PQ_CT_UINT_64 = 14,
    TB_PQ_CT_INT_8 = 15,
    TB_PQ_CT_INT_16 = 16,
    TB_PQ_CT_INT_32 = 17,
    TB_PQ_CT_INT_64 = 18,
    TB_PQ_CT_JSON = 19,
    TB_PQ_CT_BSON = 20,
    TB_PQ_CT_INTERVAL = 21
};

/* FieldRepetitionType */
enum { TB_PQ_REQUIRED = 0, TB_PQ_OPTIONAL = 1, TB_PQ_REPEATED = 2 };

/* Encoding */
enum {
    TB_PQ_ENC_PLAIN = 0,
    TB_PQ_ENC_PLAIN_DICTIONARY = 2,
    TB_PQ_ENC_RLE = 3,
    TB_PQ_ENC_BIT_PACKED = 4,
    TB_PQ_ENC_DELTA_BINARY_PACKED = 5,
    TB_PQ_ENC_DELTA_LENGTH_BYTE_ARRAY = 6,
    TB_PQ_ENC_DELTA_BYTE_ARRAY = 7,
    TB_PQ_ENC_RLE_DICTIONARY = 8,
    TB_PQ_ENC_BYTE_STREAM_SPLIT = 9
};

/* PageType */
enum {
    TB_PQ_PAGE_DATA = 0,
    TB_PQ_PAGE_INDEX = 1,
    TB_PQ_PAGE_DICTIONARY = 2,
    TB_PQ_PAGE_DATA_V2 = 3
};

/* LogicalType union member ids (0 = none) */
enum {
    TB_PQ_LT_NONE = 0,
    TB_PQ_LT_STRING = 1,
    TB_PQ_LT_MAP = 2,
    TB_PQ_LT_LIST = 3,
    TB_PQ_LT_ENUM = 4,
    TB_PQ_LT_DECIMAL = 5,
    TB_PQ_LT_DATE = 6,
    TB_PQ_LT_TIME = 7,
    TB_PQ_LT_TIMESTAMP = 8,
    TB_PQ_LT_INTEGER = 10,
    TB_PQ_LT_UNKNOWN = 11, /* "NullType": always null */
    TB_PQ_LT_JSON = 12,
    TB_PQ_LT_BSON = 13,
    TB_PQ_LT_UUID = 14,
    TB_PQ_LT_FLOAT16 = 15,
    TB_PQ_LT_VARIANT = 16,
    TB_PQ_LT_GEOMETRY = 17,
    TB_PQ_LT_GEOGRAPHY = 18
};

/* TimeUnit union member ids */
enum { TB_PQ_UNIT_MILLIS = 1, TB_PQ_UNIT_MICROS = 2, TB_PQ_UNIT_NANOS = 3 };

/* Byte strings in decoded metadata point into the metadata arena (file metadata) or into
 * the decoded buffer (page headers); when encoding they are only read. */
typedef struct tb_pq_bytes {
    const uint8_t *p;
    uint32_t len;
    bool set;
} tb_pq_bytes;

typedef struct tb_pq_logical_type {
    int16_t kind;      /* TB_PQ_LT_*; an unknown id is kept as is (readers ignore it) */
    int32_t scale;     /* DECIMAL */
    int32_t precision; /* DECIMAL */
    bool utc;          /* TIME/TIMESTAMP isAdjustedToUTC */
    uint8_t unit;      /* TIME/TIMESTAMP: TB_PQ_UNIT_* */
    int8_t bit_width;  /* INTEGER */
    bool is_signed;    /* INTEGER */
} tb_pq_logical_type;

typedef struct tb_pq_schema_element {
    int32_t type;           /* TB_PQ_*, -1 if absent (groups) */
    int32_t type_length;    /* FIXED_LEN_BYTE_ARRAY */
    int32_t repetition;     /* TB_PQ_REQUIRED.., -1 if absent (root) */
    const char *name;       /* NUL-terminated */
    int32_t num_children;   /* -1 if absent */
    int32_t converted_type; /* TB_PQ_CT_*, -1 if absent */
    int32_t scale;          /* -1 if absent */
    int32_t precision;      /* -1 if absent */
    int32_t field_id;       /* -1 if absent */
    bool has_logical;
    tb_pq_logical_type logical;
} tb_pq_schema_element;

typedef struct tb_pq_kv {
    const char *key;
    const char *value; /* NULL if absent */
} tb_pq_kv;

typedef struct tb_pq_statistics {
    tb_pq_bytes max; /* deprecated signed-order min/max */
    tb_pq_bytes min;
    int64_t null_count;     /* -1 if absent */
    int64_t distinct_count; /* -1 if absent */
    tb_pq_bytes max_value;
    tb_pq_bytes min_value;
    int8_t is_max_value_exact; /* -1 absent, 0, 1 */
    int8_t is_min_value_exact;
} tb_pq_statistics;

typedef struct tb_pq_page_encoding_stats {
    int32_t page_type;
    int32_t encoding;
    int32_t count;
} tb_pq_page_encoding_stats;

typedef struct tb_pq_column_meta {
    int32_t type;
    uint32_t n_encodings;
    int32_t *encodings;
    uint32_t n_path;
    const char **path; /* path_in_schema */
    int32_t codec;
    int64_t num_values;
    int64_t total_uncompressed_size;
    int64_t total_compressed_size;
    uint32_t n_kv;
    tb_pq_kv *kv;
    int64_t data_page_offset;
    int64_t index_page_offset;      /* -1 if absent */
    int64_t dictionary_page_offset; /* -1 if absent */
    bool has_statistics;
    tb_pq_statistics statistics;
    uint32_t n_encoding_stats;
    tb_pq_page_encoding_stats *encoding_stats;
    int64_t bloom_filter_offset; /* -1 if absent */
    int32_t bloom_filter_length; /* -1 if absent */
} tb_pq_column_meta;

typedef struct tb_pq_column_chunk {
    const char *file_path; /* NULL if absent */
    int64_t file_offset;
    bool has_meta;
    tb_pq_column_meta meta;
    int64_t offset_index_offset; /* -1 if absent */
    int32_t offset_index_length; /* -1 if absent */
    int64_t column_index_offset; /* -1 if absent */
    int32_t column_index_length; /* -1 if absent */
    bool encrypted; /* crypto_metadata or encrypted_column_metadata present (decode only) */
} tb_pq_column_chunk;

typedef struct tb_pq_sorting_column {
    int32_t column_idx;
    bool descending;
    bool nulls_first;
} tb_pq_sorting_column;

typedef struct tb_pq_row_group {
    uint32_t n_columns;
    tb_pq_column_chunk *columns;
    int64_t total_byte_size;
    int64_t num_rows;
    uint32_t n_sorting;
    tb_pq_sorting_column *sorting;
    int64_t file_offset;           /* -1 if absent */
    int64_t total_compressed_size; /* -1 if absent */
    int32_t ordinal;               /* -1 if absent (i16 on the wire) */
} tb_pq_row_group;

typedef struct tb_pq_file_meta {
    int32_t version;
    uint32_t n_schema;
    tb_pq_schema_element *schema;
    int64_t num_rows;
    uint32_t n_row_groups;
    tb_pq_row_group *row_groups;
    uint32_t n_kv;
    tb_pq_kv *kv;
    const char *created_by; /* NULL if absent */
    /* column_orders: encoded as n_column_orders TypeDefinedOrder entries */
    uint32_t n_column_orders;
    bool encrypted; /* encryption_algorithm present (decode only; never encoded) */
} tb_pq_file_meta;

typedef struct tb_pq_data_page_header {
    int32_t num_values;
    int32_t encoding;
    int32_t definition_level_encoding;
    int32_t repetition_level_encoding;
    bool has_statistics;
    tb_pq_statistics statistics;
} tb_pq_data_page_header;

typedef struct tb_pq_dictionary_page_header {
    int32_t num_values;
    int32_t encoding;
    int8_t is_sorted; /* -1 if absent */
} tb_pq_dictionary_page_header;

typedef struct tb_pq_data_page_header_v2 {
    int32_t num_values;
    int32_t num_nulls;
    int32_t num_rows;
    int32_t encoding;
    int32_t definition_levels_byte_length;
    int32_t repetition_levels_byte_length;
    bool is_compressed; /* default true */
    bool has_statistics;
    tb_pq_statistics statistics;
} tb_pq_data_page_header_v2;

typedef struct tb_pq_page_header {
    int32_t type; /* TB_PQ_PAGE_* */
    int32_t uncompressed_page_size;
    int32_t compressed_page_size;
    bool has_crc;
    int32_t crc;
    bool has_data; /* exactly one of these is set for a known page type */
    tb_pq_data_page_header data;
    bool has_dict;
    tb_pq_dictionary_page_header dict;
    bool has_data_v2;
    tb_pq_data_page_header_v2 data_v2;
} tb_pq_page_header;

/* Upper bound on the memory a decoded footer may take (structs + strings), and on the
 * footer's byte length: a footer claiming more is refused with TB_E_LIMIT. */
#define TB_PQ_META_MAX ((size_t)256 << 20)

/* Fill defaults (-1 for absent optionals, is_compressed = true...). Call before filling a
 * struct to encode. */
void tb_pq_schema_element_init(tb_pq_schema_element *se);
void tb_pq_column_chunk_init(tb_pq_column_chunk *cc);
void tb_pq_row_group_init(tb_pq_row_group *rg);
void tb_pq_statistics_init(tb_pq_statistics *st);
void tb_pq_page_header_init(tb_pq_page_header *ph);

/*
 * Decode a FileMetaData (the footer, without length and magic). Everything is allocated
 * in arena (strings copied, NUL-terminated); total size bounded by TB_PQ_META_MAX.
 * Errors (TB_E_CORRUPT / TB_E_LIMIT / TB_E_NOMEM) carry no file name.
 */
tb_rc tb_pq_decode_file_meta(const uint8_t *p, size_t len, tb_arena *arena, tb_pq_file_meta *out,
                             tb_err *err);
/*
 * Decode a PageHeader from p[0..len). On success *out_hdr_len is its encoded length.
 * Statistics bytes point into p. If the data ends before the header does,
 * *out_truncated is set (the caller may retry with more bytes) and TB_E_CORRUPT returned.
 */
tb_rc tb_pq_decode_page_header(const uint8_t *p, size_t len, tb_pq_page_header *out,
                               size_t *out_hdr_len, bool *out_truncated, tb_err *err);
/* Encode (append to out). Optional fields marked absent are not written. */
tb_rc tb_pq_encode_file_meta(const tb_pq_file_meta *meta, tb_buf *out, tb_err *err);
tb_rc tb_pq_encode_page_header(const tb_pq_page_header *ph, tb_buf *out, tb_err *err);

/* The parsed footer of an opened file (owned by pf). */
const tb_pq_file_meta *tb_parquet_meta(const tb_parquet_file *pf);

#endif /* TB_PARQUET_H */
