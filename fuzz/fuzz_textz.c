/*
 * fuzz_textz.c - fuzz target for compressed text files (bufrd.c's gzip / zstd input).
 *
 * Input: one selector byte, then the file's bytes. The selector picks the format (CSV
 * or JSON lines), the file name's extension (.gz, .zst or none) and the read chunk size
 * (1..8 bytes or the default). The file is written to a temp dir and read by the real
 * file source. Oracles beyond "no crash, no leak":
 *   - a reference decompression (zlib / libzstd, whole input, members / frames one
 *     after the other) decides what must happen: when it yields text T, the file source
 *     gives exactly the rows, error and malformed count of the buffer source over T
 *     (so lines and messages are those of the decompressed text); when it fails
 *     (corrupt, truncated), the source fails with TB_E_CORRUPT naming the file; past
 *     1032 times the input plus 1 MiB, TB_E_LIMIT;
 *   - no magic: a name ending in .gz / .zst is TB_E_CORRUPT, another name reads the
 *     bytes as they are;
 *   - malformed is a property of the record (issue 13): reading no column (count(*))
 *     counts the same malformed records and rows as reading every column.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "format/bufrd.h"
#include "format/csv.h"
#include "format/jsonl.h"

static void die(const char *what)
{
    (void)fprintf(stderr, "fuzz_textz: oracle failed: %s\n", what);
    abort();
}

enum { REF_OK, REF_BAD, REF_BOMB };

/* Reference decompression of the whole input, stopping past the bomb bound. */
static int ref_gunzip(const uint8_t *d, size_t n, tb_buf *out)
{
    z_stream zs;
    uint8_t tmp[4096];
    int res = REF_OK;
    const uint64_t bound = (uint64_t)n * TB_BUFRD_MAX_RATIO + ((uint64_t)1 << 20);

    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        die("inflateInit");
    zs.next_in = (Bytef *)(uintptr_t)d;
    zs.avail_in = (uInt)n;
    for (;;) {
        int zrc;
        zs.next_out = tmp;
        zs.avail_out = sizeof(tmp);
        zrc = inflate(&zs, Z_NO_FLUSH);
        if (tb_buf_append(out, tmp, sizeof(tmp) - zs.avail_out) != TB_OK)
            die("oom");
        if (out->len > bound) {
            res = REF_BOMB;
            break;
        }
        if (zrc == Z_STREAM_END) {
            if (zs.avail_in == 0)
                break;
            if (inflateReset(&zs) != Z_OK)
                die("inflateReset");
            continue;
        }
        if (zrc == Z_OK)
            continue;
        if (zrc == Z_BUF_ERROR && zs.avail_out == 0)
            continue;
        res = REF_BAD; /* data error, or the input ended inside a member */
        break;
    }
    (void)inflateEnd(&zs);
    return res;
}

static int ref_unzstd(const uint8_t *d, size_t n, tb_buf *out)
{
    ZSTD_DStream *zd = ZSTD_createDStream();
    ZSTD_inBuffer ib = {d, n, 0};
    uint8_t tmp[4096];
    size_t zr = 0;
    int res = REF_OK;
    const uint64_t bound = (uint64_t)n * TB_BUFRD_MAX_RATIO + ((uint64_t)1 << 20);

    if (zd == NULL)
        die("ZSTD_createDStream");
    for (;;) {
        ZSTD_outBuffer ob = {tmp, sizeof(tmp), 0};
        zr = ZSTD_decompressStream(zd, &ob, &ib);
        if (ZSTD_isError(zr)) {
            res = REF_BAD;
            break;
        }
        if (tb_buf_append(out, tmp, ob.pos) != TB_OK)
            die("oom");
        if (out->len > bound) {
            res = REF_BOMB;
            break;
        }
        if (ib.pos == ib.size && ob.pos < ob.size) {
            if (zr != 0)
                res = REF_BAD; /* truncated */
            break;
        }
    }
    ZSTD_freeDStream(zd);
    return res;
}

typedef struct outcome {
    tb_rc rc;
    tb_buf rows;
    char msg[TB_ERR_MSG_CAP];
    uint64_t malformed, rows_read;
} outcome;

static void drain(tb_source *src, outcome *o, tb_err *err)
{
    tb_arena *arena = tb_arena_new(0);

    if (arena == NULL)
        die("oom");
    for (;;) {
        tb_batch *batch = NULL;
        tb_arena_reset(arena);
        o->rc = tb_source_next(src, arena, &batch, err);
        if (o->rc != TB_OK || batch == NULL)
            break;
        for (uint32_t r = 0; r < batch->n_rows; r++) {
            for (uint32_t c = 0; c < batch->n_cols; c++) {
                tb_value v;
                tb_vec_get(&batch->cols[c], r, &v);
                if (v.is_null)
                    (void)tb_buf_puts(&o->rows, "N");
                else
                    (void)tb_value_format(&v, &o->rows);
                (void)tb_buf_putc(&o->rows, '|');
            }
            (void)tb_buf_putc(&o->rows, '\n');
        }
    }
    (void)snprintf(o->msg, sizeof(o->msg), "%s", o->rc != TB_OK ? err->msg : "");
    o->malformed = src->stats.rows_malformed;
    tb_arena_free(arena);
}

/* Read `path` (file) or the buffer (path NULL) with the format's source. */
static void run(bool json, const char *path, const char *data, size_t len, size_t chunk,
                uint32_t n_proj, outcome *o)
{
    static const int proj[] = {0, 1, 2};
    tb_schema *schema = NULL;
    tb_source *src = NULL;
    tb_strlist paths = {0};
    tb_err err;
    tb_rc rc;

    memset(o, 0, sizeof(*o));
    tb_err_clear(&err);
    if (tb_schema_parse("a int, b text, _bad text", &schema, &err) != TB_OK)
        die("schema");
    if (path != NULL && tb_strlist_push(&paths, path) != TB_OK)
        die("oom");
    if (json) {
        tb_jsonl_opts *opts = tb_jsonl_opts_new();
        if (opts == NULL || tb_jsonl_opts_set(opts, "corrupt_column", "_bad", &err) != TB_OK)
            die("opts");
        tb_jsonl_opts_set_chunk_size(opts, chunk);
        rc = path != NULL
                 ? tb_jsonl_source_new(&paths, opts, schema, proj, n_proj, &src, &err)
                 : tb_jsonl_source_from_buffer("F", data, len, opts, schema, proj, n_proj, &src,
                                               &err);
        tb_jsonl_opts_free(opts);
    } else {
        tb_csv_opts *opts = tb_csv_opts_new();
        if (opts == NULL || tb_csv_opts_set(opts, "corrupt_column", "_bad", &err) != TB_OK ||
            tb_csv_opts_set(opts, "header", "false", &err) != TB_OK)
            die("opts");
        tb_csv_opts_set_chunk_size(opts, chunk);
        rc = path != NULL
                 ? tb_csv_source_new(&paths, opts, schema, proj, n_proj, &src, &err)
                 : tb_csv_source_from_buffer("F", data, len, opts, schema, proj, n_proj, &src,
                                             &err);
        tb_csv_opts_free(opts);
    }
    if (rc != TB_OK)
        die("source_new");
    drain(src, o, &err);
    o->rows_read = src->stats.rows_read;
    if (path != NULL) { /* name the file as the buffer run does */
        char *at = strstr(o->msg, path);
        if (at != NULL) {
            size_t pl = strlen(path);
            at[0] = 'F';
            memmove(at + 1, at + pl, strlen(at + pl) + 1);
        }
    }
    tb_source_free(src);
    tb_schema_free(schema);
    tb_strlist_free(&paths);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const exts[] = {".gz", ".zst", ""};
    char dir[] = "/tmp/tb_fuzz_textz_XXXXXX";
    char path[128];
    uint8_t sel;
    bool json;
    const char *ext;
    size_t chunk;
    tb_buf text = {0};
    int ref;
    outcome f, b;
    FILE *fp;

    if (size < 1 || size > (1 << 20))
        return 0;
    sel = data[0];
    data++;
    size--;
    json = sel & 1;
    ext = exts[(sel >> 1) % 3];
    chunk = (sel >> 3) & 7 ? (size_t)((sel >> 3) & 7) : 0;
    if (mkdtemp(dir) == NULL)
        die("mkdtemp");
    (void)snprintf(path, sizeof(path), "%s/in%s%s", dir, json ? ".jsonl" : ".csv", ext);
    fp = fopen(path, "wb");
    if (fp == NULL || fwrite(data, 1, size, fp) != size || fclose(fp) != 0)
        die("write");
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b)
        ref = ref_gunzip(data, size, &text);
    else if (size >= 4 && memcmp(data, "\x28\xb5\x2f\xfd", 4) == 0)
        ref = ref_unzstd(data, size, &text);
    else if (*ext != '\0' && size > 0)
        ref = REF_BAD; /* an extension without its magic */
    else
        ref = tb_buf_append(&text, data, size) == TB_OK ? REF_OK : REF_BAD;
    run(json, path, NULL, 0, chunk, 3, &f);
    if (ref == REF_OK) {
        outcome c;
        run(json, NULL, text.data != NULL ? text.data : "", text.len, 0, 3, &b);
        run(json, NULL, text.data != NULL ? text.data : "", text.len, 0, 0, &c);
        if (c.rc != b.rc || c.malformed != b.malformed || c.rows_read != b.rows_read)
            die("count(*) and SELECT * see different malformed records");
        tb_buf_free(&c.rows);
        if (f.rc != b.rc || strcmp(f.msg, b.msg) != 0 || f.malformed != b.malformed ||
            f.rows.len != b.rows.len ||
            (f.rows.len > 0 && memcmp(f.rows.data, b.rows.data, f.rows.len) != 0)) {
            (void)fprintf(stderr, "file rc=%d %s\nbuffer rc=%d %s\n", f.rc, f.msg, b.rc, b.msg);
            die("compressed file and decompressed buffer differ");
        }
        tb_buf_free(&b.rows);
    } else if (ref == REF_BAD) {
        /* the rows before the damage may fail first on a line over max_line_bytes (64 MiB:
         * not reachable from a 1 MiB input past the bomb bound) */
        if (f.rc != TB_E_CORRUPT || strncmp(f.msg, json ? "json: F: " : "csv: F: ", json ? 9 : 8))
            die("a damaged stream is not TB_E_CORRUPT naming the file");
    } else if (f.rc != TB_E_LIMIT) {
        die("a bomb is not TB_E_LIMIT");
    }
    tb_buf_free(&f.rows);
    tb_buf_free(&text);
    (void)unlink(path);
    (void)rmdir(dir);
    return 0;
}
