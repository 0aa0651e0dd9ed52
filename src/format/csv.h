/*
 * csv.h - CSV reader (a tb_source) and writer.
 *
 * Reading follows RFC 4180 as Spark reads it: quoted fields may hold delimiters, quotes
 * ("" doubling, or the configured escape char) and line breaks; LF, CRLF and lone CR end
 * records; a UTF-8 BOM at the start of a file is skipped; blank lines are skipped; the
 * last record may lack its line break.
 *
 * Columns are matched BY POSITION to the table schema (as Spark does): when header=true
 * the header line of every file is skipped and its names are used only by schema
 * inference. Fields are parsed straight into typed vectors (no per-field allocation).
 *
 * NULLs: an unquoted field equal to the `null` option (default "") is NULL; a quoted
 * field is never NULL for a text column ("" is the empty string). For non-text columns
 * an empty field (quoted or not) is NULL too. Non-text values may be surrounded by
 * spaces/tabs, which are ignored; text values are kept byte for byte.
 *
 * Malformed records (wrong field count, unparsable value, unterminated quote at EOF,
 * character after a closing quote, NUL byte, invalid UTF-8 in a text column) are
 * counted in stats.rows_malformed and passed to the bad-record callback, then by mode:
 * permissive keeps the row (bad values NULL, missing fields NULL, extra fields dropped,
 * the raw record in the corrupt column if configured); dropmalformed drops it; failfast
 * fails with "csv: FILE:LINE: <reason>". Malformed is a property of the record: every
 * column is checked, read or not (unread ones are parsed and dropped), so count(*) and
 * SELECT * drop, fail on and count the same records, and the reason names the first bad
 * column in table order (Spark and DuckDB skip unread columns; issue 13).
 *
 * The corrupt column holds the raw record as text, invalid UTF-8 bytes and NULs replaced
 * by U+FFFD. Value forms: boolean true/false/t/f/yes/no/y/n/on/off/1/0 (any case);
 * integers with overflow checks; real/double exactly as strtof/strtod; numeric rounded
 * to its scale and checked against its precision; date/timestamp ISO 8601 (or the
 * *_format options); interval as PostgreSQL input.
 *
 * Limits: a record longer than max_line_bytes (default 64 MiB, at most 1 GiB) is a
 * TB_E_LIMIT error naming file and line (in every mode); memory held by a reading source
 * is bounded by max_line_bytes + two read chunks (1 MiB each), never the file size.
 *
 * @thread a source is used by one thread at a time; options are immutable once shared.
 */
#ifndef TB_FORMAT_CSV_H
#define TB_FORMAT_CSV_H

#include "format/format.h"

typedef struct tb_csv_opts tb_csv_opts; /* opaque */

/* Options with their defaults; NULL on OOM. Free with tb_csv_opts_free. */
tb_csv_opts *tb_csv_opts_new(void);
void tb_csv_opts_free(tb_csv_opts *opts); /* NULL is a no-op */
tb_csv_opts *tb_csv_opts_copy(const tb_csv_opts *opts); /* NULL on OOM */

/*
 * Set an option by (case-insensitive) name from its SQL text value:
 *   header (true/false, default true), delimiter (one char; "\t" accepted; default ','),
 *   quote (one char or "" for none; default '"'), escape (one char or ""; default the
 *   quote char, i.e. "" doubling), null (string meaning NULL; default ""),
 *   timestamp_format / date_format (subset of strftime: %Y %m %d %H %M %S %f %% and
 *   literal chars; default ISO 8601), mode (permissive | dropmalformed | failfast;
 *   default permissive), corrupt_column (name of an extra text column receiving the raw
 *   malformed record in permissive mode), schema ("a int, b text"), sample_rows (rows
 *   read by inference, default 10000), max_line_bytes (default 67108864, max 1 GiB),
 *   skip (number of leading physical lines of each file to skip, before the header).
 * Returns TB_E_NOTFOUND for an unknown key, TB_E_SQL for a bad value (err names both).
 */
tb_rc tb_csv_opts_set(tb_csv_opts *opts, const char *key, const char *value, tb_err *err);
/* The schema given by the 'schema' option (owned by opts), or NULL. */
const tb_schema *tb_csv_opts_schema(const tb_csv_opts *opts);
/* The corrupt_column option (owned by opts), or NULL. */
const char *tb_csv_opts_corrupt_column(const tb_csv_opts *opts);
/* Test hook: size of each read(2) (default 1 MiB; tests use tiny values to put records
 * across chunk boundaries). 0 restores the default. */
void tb_csv_opts_set_chunk_size(tb_csv_opts *opts, size_t chunk_size);
/* Test hook: off = every record through the careful tokenizer (the fast path for plain
 * records is on by default; both give the same rows and errors). */
void tb_csv_opts_set_fast_path(tb_csv_opts *opts, bool on);

/*
 * Infer the schema of the files: names from the first file's header (header=true; empty
 * names become columnN, duplicates get their index appended) or column0..N-1; types
 * from up to sample_rows data rows (all files in order): boolean (true/false), integer
 * (all values fit int32), bigint, double precision, date, timestamp, else text; empty
 * and NULL fields are ignored, a column with no values is text. The corrupt column, if
 * configured, is appended as text. If the schema option is set, returns a copy of it
 * (plus the corrupt column if configured and absent). *out_schema is the caller's.
 * No record at all is TB_E_PARSE; more than 65536 columns is TB_E_LIMIT.
 */
tb_rc tb_csv_infer_schema(const tb_strlist *paths, const tb_csv_opts *opts,
                          tb_schema **out_schema, tb_err *err);

/*
 * A source reading the files in order with the table schema `schema` (copied; it may
 * contain the corrupt column, found by name), yielding only the columns in proj
 * (indices into schema, n_proj may be 0: batches then have 0 columns and correct
 * n_rows). paths and opts are copied. On success *out_src is the caller's (free with
 * tb_source_free). Files are opened lazily: a missing file is a TB_E_IO error from
 * next() naming it. Batches never span files and hold up to TB_BATCH_CAP rows (fewer for
 * very wide schemas, or past ~4 MiB of input); a batch has 0 rows only when more than
 * 64 MiB of consecutive records were all dropped (dropmalformed), so that the caller
 * gets to reset its arena. After an error the source yields nothing more.
 */
tb_rc tb_csv_source_new(const tb_strlist *paths, const tb_csv_opts *opts,
                        const tb_schema *schema, const int *proj, uint32_t n_proj,
                        tb_source **out_src, tb_err *err);
/* Same over an in-memory buffer, which must stay valid and unchanged until the source
 * is freed (it is not copied); `name` (copied) is used in errors. */
tb_rc tb_csv_source_from_buffer(const char *name, const char *data, size_t len,
                                const tb_csv_opts *opts, const tb_schema *schema,
                                const int *proj, uint32_t n_proj, tb_source **out_src,
                                tb_err *err);

/*
 * Optional sink for malformed records: called once per malformed record (whatever the
 * mode, before the batch holding it is returned, or before failfast fails) with the
 * file, the 1-based physical line where the record starts, the raw record (without its
 * line break) and the reason ("expected 4 fields, found 5"). Pointers are valid only
 * during the call. `src` must be a CSV source.
 */
typedef void (*tb_csv_bad_record_fn)(void *ud, const char *file, uint64_t line,
                                     const char *raw, size_t raw_len, const char *reason);
void tb_csv_source_on_bad_record(tb_source *src, tb_csv_bad_record_fn fn, void *ud);

/*
 * Parallel reading (see tb_source_morsels in format.h): a source over files splits into
 * one morsel per file (*out_n = 0 for an in-memory source or one with a bad-record
 * callback). A morsel reader has src's configuration and reads the files one morsel at
 * a time (tb_csv_seek_morsel), with the serial source's rows, lines and messages.
 */
tb_rc tb_csv_source_morsels(tb_source *src, uint64_t *out_n, tb_err *err);
tb_rc tb_csv_morsel_reader(tb_source *src, tb_source **out, tb_err *err);
tb_rc tb_csv_seek_morsel(tb_source *reader, uint64_t i, tb_err *err);

/*
 * Writer (COPY TO, CSV file sink): RFC 4180 with LF line ends, a header line of the
 * names, NULL as an empty field, the empty string as "", quotes only when needed (a
 * delimiter, quote, CR or LF inside), values as tb_value_format renders them
 * (timestamps YYYY-MM-DD HH:MM:SS[.ffffff]). Appends to buf.
 * Known limit: in a 1-column table a NULL gives an empty line, which readers skip.
 */
tb_rc tb_csv_write_header(const tb_schema *schema, tb_buf *buf);
tb_rc tb_csv_write_batch(const tb_batch *batch, tb_buf *buf, tb_err *err);

#endif /* TB_FORMAT_CSV_H */
