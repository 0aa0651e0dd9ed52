/*
 * bufrd.h - the buffered input of the line-oriented readers (CSV, JSON lines): a file
 * read in chunks into a growing buffer, or the caller's memory, with the position,
 * physical line number and input offset the parsers keep up to date. Format-internal.
 *
 * Compressed files (gzip, zstd) are decompressed on the fly, transparently: a file is
 * compressed when its first bytes are gzip's (1f 8b) or zstd's (28 b5 2f fd) magic; a
 * name ending in .gz / .zst (any case) whose first bytes are not that magic is an error
 * ("not gzip data"). Offsets and line numbers count decompressed bytes and lines.
 * Several gzip members or zstd frames one after the other read as one stream (COPY
 * writes them so). A truncated or corrupt stream is a TB_E_CORRUPT error naming the file.
 *
 * Decompression bomb bound: memory is that of a plain file (max_line + 2 chunks, plus
 * zlib's 32 KiB window or a zstd window of at most 128 MiB, zstd's default limit); the
 * decompressed size of a file may be at most TB_BUFRD_MAX_RATIO times its compressed
 * size plus 1 MiB (deflate itself cannot exceed ~1032:1, so no gzip file reaches it);
 * past it, TB_E_LIMIT "... decompresses to more than 1032 times its size".
 */
#ifndef TB_FORMAT_BUFRD_H
#define TB_FORMAT_BUFRD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

/* Decompressed bytes per compressed byte accepted (see above). */
#define TB_BUFRD_MAX_RATIO 1032u

typedef struct tb_bufrd_z tb_bufrd_z; /* decompression state (bufrd.c) */

typedef struct tb_bufrd {
    const char *fmt;  /* message prefix: "csv", "json" */
    const char *unit; /* what max_line bounds, in messages: "record", "line" */
    const char *name; /* for messages (not owned) */
    int fd;           /* -1: memory mode */
    char *buf;        /* file mode buffer (owned) */
    size_t cap;
    const uint8_t *data; /* buf, or the caller's memory */
    size_t pos, len;
    bool eof;
    uint64_t line; /* physical line number of data[pos] */
    uint64_t off;  /* input offset of data[0] (decompressed) */
    size_t chunk, max_line;
    tb_bufrd_z *z; /* NULL: the file is read as is */
    uint8_t peek[4]; /* the first bytes of a file, read to detect compression */
    uint8_t peek_pos, peek_len;
} tb_bufrd;

/* Read the caller's memory (not copied; eof from the start). */
void tb_bufrd_open_mem(tb_bufrd *rd, const char *fmt, const char *unit, const char *name,
                       const char *data, size_t len, size_t chunk, size_t max_line);
/* Open a file (reads its first bytes to detect compression): "FMT: open 'PATH':
 * reason" on failure, or the compression errors above. */
tb_rc tb_bufrd_open_file(tb_bufrd *rd, const char *fmt, const char *unit, const char *path,
                         size_t chunk, size_t max_line, tb_err *err);
void tb_bufrd_close(tb_bufrd *rd);
/* "FMT: NAME:LINE: UNIT longer than max_line_bytes (N bytes)". */
tb_rc tb_bufrd_too_long(const tb_bufrd *rd, uint64_t line, tb_err *err);
/*
 * Move data[pos, len) to the front and read more (file mode, !eof). data[pos] starts
 * the incomplete record; one longer than max_line (+ a CR) is an error naming its line.
 * Each read is at least a chunk and grows with the pending record, so a long record is
 * rescanned O(log n) times, not O(n / chunk).
 */
tb_rc tb_bufrd_fill(tb_bufrd *rd, tb_err *err);
/* Make at least n bytes available at pos (or reach EOF). */
tb_rc tb_bufrd_ensure(tb_bufrd *rd, size_t n, tb_err *err);

#endif
