/*
 * bufrd.c - the buffered input shared by the CSV and JSON-lines readers (bufrd.h).
 * Invariants: data[0, len) is valid; pos <= len; off is the input offset of data[0];
 * the buffer never grows past max_line + 2 + 2 * chunk.
 */
#include "format/bufrd.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static void init(tb_bufrd *rd, const char *fmt, const char *unit, const char *name, size_t chunk,
                 size_t max_line)
{
    memset(rd, 0, sizeof(*rd));
    rd->fd = -1;
    rd->fmt = fmt;
    rd->unit = unit;
    rd->name = name;
    rd->line = 1;
    rd->chunk = chunk;
    rd->max_line = max_line;
}

void tb_bufrd_open_mem(tb_bufrd *rd, const char *fmt, const char *unit, const char *name,
                       const char *data, size_t len, size_t chunk, size_t max_line)
{
    init(rd, fmt, unit, name, chunk, max_line);
    rd->data = (const uint8_t *)data;
    rd->len = len;
    rd->eof = true;
}

tb_rc tb_bufrd_open_file(tb_bufrd *rd, const char *fmt, const char *unit, const char *path,
                         size_t chunk, size_t max_line, tb_err *err)
{
    init(rd, fmt, unit, path, chunk, max_line);
    rd->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (rd->fd < 0)
        return TB_ERRF(err, TB_E_IO, "%s: open '%s': %s", fmt, path, strerror(errno));
    return TB_OK;
}

void tb_bufrd_close(tb_bufrd *rd)
{
    if (rd->fd >= 0)
        (void)close(rd->fd); /* read-only: nothing to flush */
    tb_free(rd->buf);
    memset(rd, 0, sizeof(*rd));
    rd->fd = -1;
}

tb_rc tb_bufrd_too_long(const tb_bufrd *rd, uint64_t line, tb_err *err)
{
    return TB_ERRF(err, TB_E_LIMIT, "%s: %s:%llu: %s longer than max_line_bytes (%zu bytes)",
                   rd->fmt, rd->name, (unsigned long long)line, rd->unit, rd->max_line);
}

tb_rc tb_bufrd_fill(tb_bufrd *rd, tb_err *err)
{
    size_t keep = rd->len - rd->pos, want, got = 0;

    if (keep > rd->max_line + 1)
        return tb_bufrd_too_long(rd, rd->line, err);
    if (rd->pos > 0) {
        if (keep > 0)
            memmove(rd->buf, rd->buf + rd->pos, keep);
        rd->off += rd->pos;
        rd->pos = 0;
        rd->len = keep;
    }
    want = TB_MAX(rd->chunk, keep);
    want = TB_MIN(want, rd->max_line + 2 + rd->chunk - keep);
    if (rd->cap < keep + want) {
        size_t ncap = TB_MAX(keep + want, rd->cap * 2);
        char *nb;
        ncap = TB_MIN(ncap, rd->max_line + 2 + 2 * rd->chunk);
        ncap = TB_MAX(ncap, keep + want);
        nb = tb_realloc(rd->buf, ncap);
        if (nb == NULL)
            return tb_err_nomem(err);
        rd->buf = nb;
        rd->cap = ncap;
    }
    rd->data = (const uint8_t *)rd->buf;
    while (got < want) {
        ssize_t n = read(rd->fd, rd->buf + rd->len, want - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return TB_ERRF(err, TB_E_IO, "%s: read '%s': %s", rd->fmt, rd->name, strerror(errno));
        }
        if (n == 0) {
            rd->eof = true;
            break;
        }
        rd->len += (size_t)n;
        got += (size_t)n;
    }
    return TB_OK;
}

tb_rc tb_bufrd_ensure(tb_bufrd *rd, size_t n, tb_err *err)
{
    while (!rd->eof && rd->len - rd->pos < n) {
        tb_rc rc = tb_bufrd_fill(rd, err);
        if (rc != TB_OK)
            return rc;
    }
    return TB_OK;
}
