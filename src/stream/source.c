/*
 * source.c - the registry of stream sources (source.h): connector name -> tb_ssrc_vt.
 * A new source is one line in `sources` below and its own file; the runtime knows no
 * source by name.
 */
#include <stdio.h>
#include <string.h>

#include "stream/source.h"

extern const tb_ssrc_vt tb_ssrc_files_vt;   /* source_files.c */
extern const tb_ssrc_vt tb_ssrc_datagen_vt; /* source_datagen.c */
extern const tb_ssrc_vt tb_ssrc_kafka_vt;   /* source_kafka.c */

static const tb_ssrc_vt *const sources[] = {
    &tb_ssrc_files_vt,
    &tb_ssrc_datagen_vt,
    &tb_ssrc_kafka_vt,
};

const tb_ssrc_vt *tb_ssrc_lookup(const char *connector)
{
    if (connector == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++)
        if (tb_str_ieq(sources[i]->name, connector))
            return sources[i];
    return NULL;
}

void tb_ssrc_connectors(char *buf, size_t cap)
{
    size_t len = 0;
    if (cap == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
        int n = snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", sources[i]->name);
        if (n < 0 || (size_t)n >= cap - len)
            break;
        len += (size_t)n;
    }
}
