/*
 * source.c - the format-independent part of tb_source: releasing a source through its
 * vtable (each format's free releases its own state, schema included).
 */
#include "format/format.h"

void tb_source_free(tb_source *src)
{
    if (src == NULL)
        return;
    src->vt->free(src);
}
