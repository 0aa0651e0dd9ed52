/*
 * textrec.h - record decoding for message-based sources (Kafka): each in-memory record
 * is one CSV record (no header), one JSON object, or (format 'text') one text value,
 * decoded into vector batches with the read options of the file readers (csv.h,
 * jsonl.h): schema, mode (permissive | dropmalformed | failfast), corrupt_column,
 * timestamp_format, null, delimiter ... and the same conversions and messages.
 *
 * A record carries a location string (e.g. "topic sales partition 0 offset 42") that
 * stands where the file readers put "FILE:LINE": failfast fails with
 * "csv: LOCATION: reason" / "json: LOCATION: reason", and the bad-record callback gets
 * the location as its `file` argument with line 0.
 *
 * Records of formats csv and json:
 *   - csv: one record; a line break at its end is ignored; a quoted field may hold line
 *     breaks; a second record in the same message is malformed ("more than one
 *     record"); fields are matched to the columns by position (header = false is the
 *     decoder's default; header = true is refused: there is no header record).
 *   - json: one JSON object, which may span lines (pretty-printed); keys are matched to
 *     columns by name, as for files.
 *   - an empty or NULL record is malformed ("empty record") for csv and json.
 * Format 'text': the schema is one text column (any name; default "value"); the record
 * is its value byte for byte (NULL record: NULL); invalid UTF-8 or a NUL byte is
 * malformed. Options: mode, corrupt_column.
 *
 * Typical use (one decoder per source, reused across batches):
 *   tb_textdec_opts_new("json", &opts, err); tb_textdec_opts_set(opts, k, v, err) ...
 *   tb_textdec_schema(opts, NULL, &schema, err);    // the schema option (+ corrupt col)
 *   tb_textdec_new(opts, schema, proj, n_proj, &dec, err);
 *   for each message: tb_textdec_add(dec, value, len, "topic t partition 0 offset 42", err);
 *   while (tb_textdec_flush(dec, arena, &batch, err) == TB_OK && batch != NULL) ...
 *
 * Memory: added records are copied into the decoder (the caller's buffers may go away
 * at once) until flushed; a record longer than max_line_bytes is a TB_E_LIMIT error
 * naming its location (every mode), so pending memory is bounded by what the caller
 * adds between flushes.
 *
 * @thread a decoder is used by one thread at a time; options are immutable once shared.
 */
#ifndef TB_FORMAT_TEXTREC_H
#define TB_FORMAT_TEXTREC_H

#include "format/format.h"

typedef struct tb_textdec_opts tb_textdec_opts; /* opaque */
typedef struct tb_textdec tb_textdec;           /* opaque */

/*
 * Options for `format` ("csv", "json" or "text", case-insensitive; anything else is
 * TB_E_SQL listing them). On success *out is the caller's (tb_textdec_opts_free).
 */
tb_rc tb_textdec_opts_new(const char *format, tb_textdec_opts **out, tb_err *err);
void tb_textdec_opts_free(tb_textdec_opts *opts); /* NULL is a no-op */
/* "csv", "json" or "text". */
const char *tb_textdec_opts_format(const tb_textdec_opts *opts);
/*
 * Set a read option by (case-insensitive) name from its SQL text value: the options of
 * read_csv (csv.h) or read_json (jsonl.h) for that format, except those about files
 * (header must stay false; skip and sample_rows are refused); text: mode and
 * corrupt_column. Returns TB_E_NOTFOUND for an unknown key (err lists the known ones),
 * TB_E_SQL for a bad value.
 */
tb_rc tb_textdec_opts_set(tb_textdec_opts *opts, const char *key, const char *value,
                          tb_err *err);
/* The known option names of the format, for "unknown option" messages ("mode, ..."). */
const char *tb_textdec_opts_known(const tb_textdec_opts *opts);

/*
 * The table schema of the records: `declared` if not NULL (e.g. a stream table's value
 * columns), else the 'schema' option; plus the corrupt column (text) if configured and
 * absent. Format text without either: one column "value" text. csv/json without either:
 * TB_E_SQL ("format 'json' needs a schema"). *out is the caller's.
 */
tb_rc tb_textdec_schema(const tb_textdec_opts *opts, const tb_schema *declared,
                        tb_schema **out, tb_err *err);

/*
 * A decoder yielding the columns proj (indices into schema, which is copied and may hold
 * the corrupt column, found by name) of each record, in the order added. opts is copied.
 * n_proj may be 0 (batches of 0 columns with correct n_rows). On success *out is the
 * caller's (tb_textdec_free).
 */
tb_rc tb_textdec_new(const tb_textdec_opts *opts, const tb_schema *schema, const int *proj,
                     uint32_t n_proj, tb_textdec **out, tb_err *err);
void tb_textdec_free(tb_textdec *dec); /* NULL is a no-op */

/*
 * Optional sink for malformed records, the file readers' callback type
 * (tb_csv_bad_record_fn): called once per malformed record (every mode, before the
 * batch holding it is returned or before failfast fails) with file = the record's
 * location, line = 0, the raw record and the reason. Pointers valid during the call.
 */
typedef void (*tb_textdec_bad_record_fn)(void *ud, const char *file, uint64_t line,
                                         const char *raw, size_t raw_len, const char *reason);
void tb_textdec_on_bad_record(tb_textdec *dec, tb_textdec_bad_record_fn fn, void *ud);

/*
 * Queue one record (data, len: copied; data NULL is a NULL record) with its location
 * (copied; NULL: "record N", N counted from 1 over the decoder's life). A record longer
 * than max_line_bytes is TB_E_LIMIT naming the location.
 */
tb_rc tb_textdec_add(tb_textdec *dec, const char *data, size_t len, const char *location,
                     tb_err *err);
/* Records queued and not yet flushed. */
size_t tb_textdec_pending(const tb_textdec *dec);

/*
 * Decode queued records into a batch in arena (valid until the caller resets it): up to
 * TB_BATCH_CAP records per call, in the order added; call again while *out != NULL.
 * *out is NULL when nothing is queued. With dropmalformed a batch may have 0 rows.
 * failfast: TB_E_PARSE "FMT: LOCATION: reason" for the first malformed record; the
 * records after it stay queued (tb_textdec_reset drops them).
 */
tb_rc tb_textdec_flush(tb_textdec *dec, tb_arena *arena, tb_batch **out, tb_err *err);
/* Drop the queued records. */
void tb_textdec_reset(tb_textdec *dec);
/* Counters since the decoder was made: rows_read (rows yielded), rows_malformed,
 * bytes_read (record bytes decoded). */
const tb_source_stats *tb_textdec_stats(const tb_textdec *dec);

#endif /* TB_FORMAT_TEXTREC_H */
