/*
 * fuzz_parquet.c - fuzz target for the Parquet reader (footer, schema, pages, encodings,
 * codecs, type conversions).
 *
 * The input is written to a memfd and opened through /proc/self/fd (the reader takes a
 * path and uses pread). Every flat column is read to the end, every value rendered with
 * tb_value_format and every string byte touched (so ASan catches a dangling view into a
 * page or dictionary); then the file is read again with no columns (row counts only).
 * Oracles beyond "no crash, no leak": batch shapes, and an error always has a message
 * naming the file. Reading stops after TB_FUZZ_MAX_BATCHES batches per pass (a footer
 * may legitimately claim billions of all-null rows).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "format/parquet.h"

#define TB_FUZZ_MAX_BATCHES 2000

static void die(const char *what)
{
    fprintf(stderr, "fuzz_parquet: oracle failed: %s\n", what);
    abort();
}

static void drain(const char *path, const int *proj, uint32_t n_proj)
{
    tb_strlist paths = {0};
    tb_source *src = NULL;
    tb_arena *arena = tb_arena_new(0);
    tb_buf text = {0};
    tb_err err;
    uint64_t sink = 0;

    tb_err_clear(&err);
    if (arena == NULL || tb_strlist_push(&paths, path) != TB_OK)
        goto out;
    if (tb_parquet_source_new(&paths, proj, n_proj, &src, &err) != TB_OK) {
        if (err.msg[0] == '\0')
            die("source error without a message");
        goto out;
    }
    if (src->schema->n != n_proj)
        die("projected schema");
    for (int nb = 0; nb < TB_FUZZ_MAX_BATCHES; nb++) {
        tb_batch *batch = NULL;
        tb_arena_reset(arena);
        tb_rc rc = tb_source_next(src, arena, &batch, &err);
        if (rc != TB_OK) {
            if (strstr(err.msg, "parquet: ") == NULL)
                die("read error not naming the file");
            break;
        }
        if (batch == NULL)
            break;
        if (batch->n_rows == 0 || batch->n_rows > batch->cap || batch->cap > TB_BATCH_CAP ||
            batch->n_cols != n_proj)
            die("batch shape");
        for (uint32_t c = 0; c < batch->n_cols; c++) {
            if (!tb_type_eq(batch->cols[c].type, src->schema->fields[c].type))
                die("column type");
            for (uint32_t r = 0; r < batch->n_rows; r++) {
                tb_value v;
                tb_vec_get(&batch->cols[c], r, &v);
                if (v.is_null)
                    continue;
                if (v.type.id == TB_T_STRING)
                    for (uint32_t i = 0; i < v.u.s.len; i++)
                        sink += (uint8_t)v.u.s.ptr[i];
                text.len = 0;
                (void)tb_value_format(&v, &text);
            }
        }
    }
out:
    if (sink == 1)
        fprintf(stderr, "%c", 0); /* keep the touched bytes alive for the compiler */
    tb_buf_free(&text);
    tb_source_free(src);
    tb_strlist_free(&paths);
    tb_arena_free(arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    tb_parquet_file *pf = NULL;
    tb_err err;
    int proj[256];
    uint32_t n_proj = 0;

    int fd = memfd_create("fuzz.parquet", 0);
    if (fd < 0)
        return 0;
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0) {
            close(fd);
            return 0;
        }
        off += (size_t)w;
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

    tb_err_clear(&err);
    if (tb_parquet_open(path, &pf, &err) != TB_OK) {
        if (strstr(err.msg, "parquet: ") == NULL && err.code != TB_E_NOMEM)
            die("open error not naming the file");
        close(fd);
        return 0;
    }
    const tb_schema *sc = tb_parquet_schema(pf);
    for (uint32_t i = 0; i < sc->n && n_proj < 256; i++) {
        if (tb_parquet_column_nested(pf, (int)i) != (sc->fields[i].type.id == TB_T_NULL) &&
            tb_parquet_column_nested(pf, (int)i))
            die("nested column with a type");
        if (sc->fields[i].type.id != TB_T_NULL)
            proj[n_proj++] = (int)i;
    }
    (void)tb_parquet_num_rows(pf);
    tb_parquet_close(pf);

    drain(path, proj, n_proj);
    drain(path, NULL, 0);
    /* each column alone (different chunk interleaving), for small schemas */
    for (uint32_t i = 0; i < n_proj && n_proj <= 8; i++)
        drain(path, &proj[i], 1);
    close(fd);
    return 0;
}
