/*
 * jsonl.h - JSON lines (NDJSON) reader, a tb_source: one JSON object per line.
 *
 * Lines end with LF; a CR before it is JSON white space, so CRLF files read the same.
 * A UTF-8 BOM at the start of a file is skipped; lines holding only white space are
 * skipped; the last line may lack its LF. JSON is RFC 8259, strictly (no comments, no
 * single quotes, no leading zeros, no trailing commas), plus the unquoted numbers NaN,
 * Infinity and -Infinity that Python's json module writes (Spark's
 * allowNonNumericNumbers). Nesting deeper than 1000 is malformed.
 *
 * Columns are matched BY KEY NAME, case-sensitively (as Spark): key "productId" fills a
 * column named productId, which SQL spells "productId" (quoted; unquoted identifiers
 * are lower-cased; a key matching no column but one in another case is reported once
 * per source with a warning). Keys not in the schema are ignored; a missing key or null
 * is NULL; when a key appears twice in an object, the last value wins. Conversions (Spark's):
 *   boolean            true / false
 *   smallint/int/bigint integer numbers (no fraction or exponent) within range
 *   real / double      numbers; NaN, Infinity, -Infinity (bare or as strings, also
 *                      "+Infinity", "Inf", "+Inf", "-Inf", "+NaN", "-NaN")
 *   numeric(p,s)       numbers and strings holding a number ("12.50", "1e3"), rounded
 *                      half away from zero to s digits, at most p digits
 *   text               strings; any other value as its JSON text (numbers and literals
 *                      as written, objects and arrays without white space outside
 *                      strings)
 *   date               strings 'YYYY-MM-DD' (a timestamp string: its date)
 *   timestamp          strings ISO 8601 'YYYY-MM-DDTHH:MM:SS[.ffffff][Z|+HH:MM]' or
 *                      'YYYY-MM-DD HH:MM:SS[.ffffff]' (an offset converts to UTC);
 *                      integer numbers are seconds since 1970-01-01 (Spark)
 *   interval           strings in PostgreSQL interval input
 * Anything else is a bad value: a string for an integer or boolean column ("12",
 * "true"), a fraction for an integer column, a number for a date column, a number out
 * of range, an unparsable timestamp string, "\u0000" in a text value (engine text never
 * holds NUL).
 *
 * Malformed lines: invalid JSON, a line that is not an object (array, number, ...),
 * invalid UTF-8 or a NUL byte anywhere in the line, a bad value in any column of the
 * schema (read by the query or not). They are counted in stats.rows_malformed and passed to the bad-record
 * callback, then by mode: permissive keeps the row (invalid JSON: every column NULL;
 * a bad value: that column NULL) with the raw line in the corrupt column if configured;
 * dropmalformed drops it; failfast fails with "json: FILE:LINE: <reason>" where the
 * reason names the byte of the line ("invalid JSON at byte 17: expected ',' or '}'")
 * or the key ("key \"qty\": expected integer, found string \"12\""; the first bad column
 * in table order). As with CSV, malformed is a property of the line: every column is
 * checked whether the query reads it or not, so count(*) and SELECT * see the same
 * malformed lines.
 *
 * Limits: a line longer than max_line_bytes (default 64 MiB, at most 1 GiB) is a
 * TB_E_LIMIT error naming file and line, in every mode (as CSV); memory held by a
 * reading source is bounded by max_line_bytes + two read chunks (1 MiB each).
 *
 * @thread a source is used by one thread at a time; options are immutable once shared.
 */
#ifndef TB_FORMAT_JSONL_H
#define TB_FORMAT_JSONL_H

#include "format/format.h"

typedef struct tb_jsonl_opts tb_jsonl_opts; /* opaque */

/* Options with their defaults; NULL on OOM. Free with tb_jsonl_opts_free. */
tb_jsonl_opts *tb_jsonl_opts_new(void);
void tb_jsonl_opts_free(tb_jsonl_opts *opts);                /* NULL is a no-op */
tb_jsonl_opts *tb_jsonl_opts_copy(const tb_jsonl_opts *opts); /* NULL on OOM */

/*
 * Set an option by (case-insensitive) name from its SQL text value:
 *   mode (permissive | dropmalformed | failfast; default permissive), corrupt_column
 *   (name of an extra text column receiving the raw malformed line in permissive mode),
 *   schema ("a int, \"camelKey\" text"), sample_rows (lines read by inference, default
 *   10000), max_line_bytes (default 67108864, at most 1 GiB).
 * Returns TB_E_NOTFOUND for an unknown key, TB_E_SQL for a bad value (err names both).
 */
tb_rc tb_jsonl_opts_set(tb_jsonl_opts *opts, const char *key, const char *value, tb_err *err);
/* The schema given by the 'schema' option (owned by opts), or NULL. */
const tb_schema *tb_jsonl_opts_schema(const tb_jsonl_opts *opts);
/* Test hook: size of each read(2) (default 1 MiB); 0 restores the default. */
void tb_jsonl_opts_set_chunk_size(tb_jsonl_opts *opts, size_t chunk_size);

/*
 * Infer the schema from up to sample_rows lines (all files in order): one column per
 * key, in order of first appearance, named exactly as the key; types: boolean; integer
 * (all values fit int32), bigint, numeric(38,0) (integers up to 38 digits), double
 * precision (any fraction or exponent, NaN, Infinity, or larger integers); date or
 * timestamp (strings that all parse as such); text (other strings, objects, arrays,
 * mixed kinds). null values are ignored; a key with only nulls is text. Malformed
 * lines are skipped. The corrupt column, if configured, is appended as text. If the
 * schema option is set, returns a copy of it (plus the corrupt column). No key at all
 * is TB_E_PARSE; two keys differing only in case, or a key equal to corrupt_column,
 * are TB_E_SQL (declare the schema); more than 65536 keys is TB_E_LIMIT.
 * *out_schema is the caller's.
 */
tb_rc tb_jsonl_infer_schema(const tb_strlist *paths, const tb_jsonl_opts *opts,
                            tb_schema **out_schema, tb_err *err);

/*
 * A source reading the files in order with the table schema `schema` (copied; it may
 * contain the corrupt column, found by name), yielding only the columns in proj
 * (indices into schema; n_proj may be 0: batches then have 0 columns and correct
 * n_rows). paths and opts are copied. On success *out_src is the caller's (free with
 * tb_source_free). Files are opened lazily: a missing file is a TB_E_IO error from
 * next() naming it. Batches may span files and hold up to TB_BATCH_CAP rows (fewer for
 * very wide schemas, or past ~4 MiB of input); a batch has 0 rows only when more than
 * 64 MiB of consecutive lines were all dropped (dropmalformed), so that the caller
 * gets to reset its arena. After an error the source yields nothing more.
 */
tb_rc tb_jsonl_source_new(const tb_strlist *paths, const tb_jsonl_opts *opts,
                          const tb_schema *schema, const int *proj, uint32_t n_proj,
                          tb_source **out_src, tb_err *err);
/* Same over an in-memory buffer, which must stay valid and unchanged until the source
 * is freed (it is not copied); `name` (copied) is used in errors. */
tb_rc tb_jsonl_source_from_buffer(const char *name, const char *data, size_t len,
                                  const tb_jsonl_opts *opts, const tb_schema *schema,
                                  const int *proj, uint32_t n_proj, tb_source **out_src,
                                  tb_err *err);

/*
 * Optional sink for malformed lines: called once per malformed line (whatever the mode,
 * before the batch holding it is returned, or before failfast fails) with the file, the
 * 1-based line number, the raw line (without its line break) and the reason. Pointers
 * are valid only during the call. The signature is tb_csv_bad_record_fn's, so one
 * callback serves both formats. `src` must be a JSON lines source (else a no-op).
 */
typedef void (*tb_jsonl_bad_record_fn)(void *ud, const char *file, uint64_t line,
                                       const char *raw, size_t raw_len, const char *reason);
void tb_jsonl_source_on_bad_record(tb_source *src, tb_jsonl_bad_record_fn fn, void *ud);

#endif /* TB_FORMAT_JSONL_H */
