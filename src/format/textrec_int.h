/*
 * textrec_int.h - the text-record reader shared by the CSV and JSON-lines sources and the
 * record decoder (textrec.h). Format-internal.
 *
 * A format (csv.c, jsonl.c, the 'text' format of textrec.c) keeps only its tokenizer
 * and its value conversion; everything about records as such lives here once: the read
 * options common to the formats (mode, corrupt_column, schema, sample_rows,
 * max_line_bytes), the inputs (files in order, or one buffer; the open / prologue /
 * close cycle; bytes accounting), the batch loop over "segments" (runs of records in the
 * read buffer at the same time, converted before the buffer moves), per-row record
 * bookkeeping (raw range, line or location, malformed flag), the malformed-row modes
 * (permissive with the corrupt column, dropmalformed, failfast), the bad-record
 * callback and its message "FMT: FILE:LINE: reason" (or "FMT: LOCATION: reason").
 *
 * A format's source struct starts with a tb_trd (which starts with the tb_source), and
 * fills in the tb_trd_fmt callbacks. Row arrays of the format (fields, cells, ...) are
 * the format's; rows_cap bounds them all.
 */
#ifndef TB_FORMAT_TEXTREC_INT_H
#define TB_FORMAT_TEXTREC_INT_H

#include "format/bufrd.h"
#include "format/format.h"

#define TB_TR_DEFAULT_CHUNK ((size_t)1 << 20)
#define TB_TR_DEFAULT_MAX_LINE ((size_t)64 << 20)
#define TB_TR_MAX_MAX_LINE ((size_t)1 << 30)
#define TB_TR_BATCH_BYTES ((size_t)4 << 20)      /* a batch stops growing past this */
#define TB_TR_MAX_CELLS ((size_t)256 * 1024)     /* bound on rows * cells per batch */
#define TB_TR_EMPTY_ARENA_MAX ((size_t)64 << 20) /* see tb_trd_next */
#define TB_TR_SHOW_MAX 64                        /* bytes of a bad value in a message */

/* rbad bit the core sets for an empty decoder record (formats use the others). */
#define TB_TR_BAD_EMPTY 0x80

typedef enum tb_tr_mode { TB_TR_PERMISSIVE = 0, TB_TR_DROP, TB_TR_FAILFAST } tb_tr_mode;

/* The read options every text format has. */
typedef struct tb_tr_opts {
    tb_tr_mode mode;
    char *corrupt;
    tb_schema *schema;
    uint64_t sample_rows;
    size_t max_line;
    size_t chunk;
} tb_tr_opts;

void tb_tr_opts_init(tb_tr_opts *o);
void tb_tr_opts_clear(tb_tr_opts *o);
/* dst = a deep copy of src (dst's old content is not freed); false on OOM (dst then
 * holds what was copied: clear it). */
bool tb_tr_opts_copy(tb_tr_opts *dst, const tb_tr_opts *src);
/* One of the common keys (fn names the reader in messages: "read_csv"); TB_E_NOTFOUND
 * when key is not one of them (err untouched). */
tb_rc tb_tr_opts_set(tb_tr_opts *o, const char *fn, const char *key, const char *value,
                     tb_err *err);
tb_rc tb_tr_bad_option(tb_err *err, const char *fn, const char *key, const char *value,
                       const char *hint);
bool tb_tr_opt_u64(const char *v, uint64_t *out);
/* A copy of schema with the corrupt column (text) appended if `corrupt` is set and absent. */
tb_rc tb_tr_with_corrupt(const tb_schema *schema, const char *corrupt, tb_schema **out,
                         tb_err *err);
/* Append up to TB_TR_SHOW_MAX bytes, non-printables as \xNN, "..." when cut. */
void tb_tr_show(tb_buf *b, const uint8_t *p, size_t n);
/* A copy of raw bytes as valid UTF-8 text (invalid bytes and NULs become U+FFFD). */
tb_rc tb_tr_raw_text(const char *p, size_t n, tb_arena *arena, tb_str *out);
bool tb_tr_all_ascii(const uint8_t *p, size_t n);
void *tb_tr_alloc_n(size_t n, size_t elem); /* tb_calloc of max(n, 1) elements */

typedef struct tb_trd tb_trd;

/* What tb_trd_fmt.scan stopped at. */
enum { TB_TR_FULL, TB_TR_MORE, TB_TR_EOF, TB_TR_LONG };

typedef struct tb_trd_fmt {
    const char *fmt;     /* message prefix: "csv", "json", "text" */
    const char *unit;    /* what max_line_bytes bounds: "record", "line" */
    bool batch_per_file; /* a batch never spans two files */
    bool zero_batch;     /* vectors zeroed when a batch is made */
    /* A freshly opened input: BOM, skipped lines, header. */
    tb_rc (*prologue)(tb_trd *t, tb_err *err);
    /*
     * Records from rd.pos (a record boundary; the segment starts at data[seg]) into rows
     * [*n, rows_cap) while rd.pos - seg < budget: for each row the format's cells and
     * t->rs / re (segment-relative), rline, rbad; rd.pos and rd.line move past them.
     * *st: TB_TR_FULL (a bound was reached), MORE (read more), EOF, LONG (the record at
     * rd.pos, line rd.line, is longer than max_line).
     */
    tb_rc (*scan)(tb_trd *t, size_t seg, size_t budget, uint32_t *n, int *st, tb_err *err);
    /* One in-memory record base[start, end) into row n (the decoder); *empty when it
     * holds no record (blank): its cells must still be set (all missing). */
    tb_rc (*scan_record)(tb_trd *t, const uint8_t *base, size_t start, size_t end, uint32_t n,
                         bool *empty, tb_err *err);
    /* Convert rows [r0, r1) of a segment at base (lim: end of readable memory, at least
     * the segment's end) into the batch's columns, flagging bad values in rbad. */
    tb_rc (*convert)(tb_trd *t, tb_batch *batch, uint32_t r0, uint32_t r1, const uint8_t *base,
                     const uint8_t *lim, tb_arena *arena, tb_err *err);
    /* Why row r is malformed (rbad[r] != 0), valid until the next call. */
    const char *(*reason)(tb_trd *t, const uint8_t *base, uint32_t r);
    void (*free)(tb_trd *t); /* the format's own parts (not the struct) */
} tb_trd_fmt;

typedef void (*tb_tr_bad_record_fn)(void *ud, const char *file, uint64_t line, const char *raw,
                                    size_t raw_len, const char *reason);

struct tb_trd {
    tb_source base;
    const tb_trd_fmt *fmt;
    const tb_tr_opts *o; /* the format's copy of its options (common part) */
    uint32_t n_proj;
    int corrupt_out; /* output index of the corrupt column, or -1 */
    /* inputs */
    tb_strlist paths;
    size_t next_file;
    size_t file_end; /* files [next_file, file_end) are left (a morsel reader: one) */
    const char *mem;
    size_t mem_len;
    char *mem_name; /* set: one in-memory input */
    bool mem_done;
    tb_bufrd rd;
    bool open;
    bool done;
    uint64_t acc_mark; /* input offset already counted in stats.bytes_read */
    /* per-batch rows */
    uint32_t rows_cap;
    uint32_t *rs, *re; /* the raw record, relative to the segment start */
    uint64_t *rline;
    const char **rloc; /* decoder: each row's location (NULL for files) */
    uint8_t *rbad;     /* 0: well formed; else format bits (TB_TR_BAD_EMPTY: core) */
    uint8_t *drop;
    uint32_t fail_row; /* failfast: the row that failed */
    tb_tr_bad_record_fn bad_fn;
    void *bad_ud;
    tb_buf msg;
};

/* Set up the core of t (zeroed by the caller; fmt, o, n_proj, corrupt_out set): rows_cap
 * (TB_BATCH_CAP, fewer when cells_per_row * rows would pass TB_TR_MAX_CELLS) and the row
 * arrays. */
tb_rc tb_trd_init(tb_trd *t, uint32_t cells_per_row, tb_err *err);
/* Inputs: a copy of paths, or the caller's buffer (not copied) named name. */
tb_rc tb_trd_set_files(tb_trd *t, const tb_strlist *paths, tb_err *err);
tb_rc tb_trd_set_buffer(tb_trd *t, const char *name, const char *data, size_t len, tb_err *err);
/* The tb_source_vt next() of every text format. */
tb_rc tb_trd_next(tb_source *src, tb_arena *arena, tb_batch **out, tb_err *err);
/* Free t's core parts and t itself, calling fmt->free first (NULL is a no-op). */
void tb_trd_free(tb_trd *t);
/* Close the open input (counted as done). */
void tb_trd_close_input(tb_trd *t);
/* A batch for rows_cap rows of the projected schema (corrupt column zeroed, valid
 * bitmap zeroed). */
tb_rc tb_trd_new_batch(tb_trd *t, tb_arena *arena, tb_batch **out);
/*
 * After convert: rows [r0, r1) with rbad set are counted, passed to the bad-record
 * callback, then by mode: failfast fails (TB_E_PARSE "FMT: FILE:LINE: reason", or
 * "FMT: LOCATION: reason"; t->fail_row names the row), dropmalformed marks drop[r],
 * permissive puts the raw record in the corrupt column.
 */
tb_rc tb_trd_settle(tb_trd *t, tb_batch *batch, uint32_t r0, uint32_t r1, const uint8_t *base,
                    tb_arena *arena, tb_err *err);

/* A format's constructor of a tb_trd without input (opts: its own options type). */
typedef tb_rc (*tb_trd_ctor)(const void *opts, const tb_schema *schema, const int *proj,
                             uint32_t n_proj, tb_trd **out, tb_err *err);
/* The public source constructors of the formats over ctor: files (paths copied) or the
 * caller's buffer (not copied; name copied). "FMT: NULL argument" on misuse. */
tb_rc tb_trd_source_files(tb_trd_ctor ctor, const char *fmt, const tb_strlist *paths,
                          const void *opts, const tb_schema *schema, const int *proj,
                          uint32_t n_proj, tb_source **out_src, tb_err *err);
tb_rc tb_trd_source_buffer(tb_trd_ctor ctor, const char *fmt, const char *name, const char *data,
                           size_t len, const void *opts, const tb_schema *schema,
                           const int *proj, uint32_t n_proj, tb_source **out_src,
                           tb_err *err);

/* Decoder constructors of the formats (textrec.c calls them): a tb_trd with no input. */
typedef struct tb_csv_opts tb_csv_opts;
typedef struct tb_jsonl_opts tb_jsonl_opts;
tb_rc tb_csv_trd_new(const tb_csv_opts *opts, const tb_schema *schema, const int *proj,
                     uint32_t n_proj, tb_trd **out, tb_err *err);
tb_rc tb_jsonl_trd_new(const tb_jsonl_opts *opts, const tb_schema *schema, const int *proj,
                       uint32_t n_proj, tb_trd **out, tb_err *err);
/* Their common options (for the decoder's checks). */
const tb_tr_opts *tb_csv_opts_common(const tb_csv_opts *opts);
const tb_tr_opts *tb_jsonl_opts_common(const tb_jsonl_opts *opts);
bool tb_csv_opts_has_header(const tb_csv_opts *opts);

#endif /* TB_FORMAT_TEXTREC_INT_H */
