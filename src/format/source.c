/*
 * source.c - the format-independent part of tb_source: releasing a source through its
 * vtable (each format's free releases its own state, schema included), and the morsel
 * entry points of parallel reading, dispatched to the formats that can be split (CSV,
 * Parquet; every other source reports 0 morsels).
 */
#include <string.h>

#include "format/csv.h"
#include "format/parquet.h"

void tb_source_free(tb_source *src)
{
    if (src == NULL)
        return;
    src->vt->free(src);
}

static bool is_fmt(const tb_source *src, const char *name)
{
    return src != NULL && src->vt != NULL && src->vt->name != NULL &&
           strcmp(src->vt->name, name) == 0;
}

tb_rc tb_source_morsels(tb_source *src, uint64_t *out_n, tb_err *err)
{
    *out_n = 0;
    if (is_fmt(src, "csv"))
        return tb_csv_source_morsels(src, out_n, err);
    if (is_fmt(src, "parquet"))
        return tb_parquet_source_morsels(src, out_n, err);
    return TB_OK;
}

tb_rc tb_source_morsel_reader(tb_source *src, tb_source **out, tb_err *err)
{
    *out = NULL;
    if (is_fmt(src, "csv"))
        return tb_csv_morsel_reader(src, out, err);
    if (is_fmt(src, "parquet"))
        return tb_parquet_morsel_reader(src, out, err);
    return TB_ERRF(err, TB_E_MISUSE, "source %s cannot be split",
                   src != NULL && src->vt != NULL ? src->vt->name : "?");
}

tb_rc tb_source_seek_morsel(tb_source *reader, uint64_t i, tb_err *err)
{
    if (is_fmt(reader, "csv"))
        return tb_csv_seek_morsel(reader, i, err);
    if (is_fmt(reader, "parquet"))
        return tb_parquet_seek_morsel(reader, i, err);
    return TB_ERRF(err, TB_E_MISUSE, "source %s cannot be split",
                   reader != NULL && reader->vt != NULL ? reader->vt->name : "?");
}
