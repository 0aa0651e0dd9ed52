/*
 * bufrd.c - the buffered input shared by the CSV and JSON-lines readers (bufrd.h).
 * Invariants: data[0, len) is valid; pos <= len; off is the input offset of data[0];
 * the buffer never grows past max_line + 2 + 2 * chunk.
 *
 * Input bytes come from raw_read(): the file's first bytes (peek, read at open to
 * detect the magic), then read(2); or, for a compressed file, the decompressor fed from
 * its own input buffer (one chunk of compressed bytes at a time).
 */
#include "format/bufrd.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define Z_IN_CHUNK ((size_t)64 << 10)

enum { Z_GZIP = 1, Z_ZSTD };

struct tb_bufrd_z {
    int kind;
    z_stream zs;
    ZSTD_DStream *zd;
    uint8_t *in;
    size_t in_pos, in_len;
    bool in_eof;      /* the file has no more compressed bytes */
    bool frame_open;  /* inside a gzip member / zstd frame (EOF now = truncated) */
    uint64_t in_total, out_total;
    uint64_t file_size; /* st_size at open (0 for a pipe: then in_total bounds) */
};

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

/* read(2) of up to n bytes, retrying EINTR; 0 at EOF. */
static tb_rc fd_read(tb_bufrd *rd, uint8_t *dst, size_t n, size_t *out_n, tb_err *err)
{
    for (;;) {
        ssize_t k = read(rd->fd, dst, n);
        if (k >= 0) {
            *out_n = (size_t)k;
            return TB_OK;
        }
        if (errno != EINTR)
            return TB_ERRF(err, TB_E_IO, "%s: read '%s': %s", rd->fmt, rd->name, strerror(errno));
    }
}

static bool name_ends(const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);
    return n >= k && tb_str_ieq(name + n - k, suffix);
}

static void z_free(tb_bufrd_z *z)
{
    if (z == NULL)
        return;
    if (z->kind == Z_GZIP)
        (void)inflateEnd(&z->zs);
    ZSTD_freeDStream(z->zd); /* NULL is a no-op */
    tb_free(z->in);
    tb_free(z);
}

static tb_rc z_corrupt(const tb_bufrd *rd, const char *what, tb_err *err)
{
    return TB_ERRF(err, TB_E_CORRUPT, "%s: %s: corrupt %s data (%s)", rd->fmt, rd->name,
                   rd->z->kind == Z_GZIP ? "gzip" : "zstd", what);
}

/* Set up decompression of kind; the peeked bytes become its first input. */
static tb_rc z_open(tb_bufrd *rd, int kind, tb_err *err)
{
    tb_bufrd_z *z = tb_calloc(1, sizeof(*z));

    if (z == NULL)
        return tb_err_nomem(err);
    rd->z = z;
    z->in = tb_malloc(Z_IN_CHUNK);
    if (z->in == NULL)
        return tb_err_nomem(err);
    memcpy(z->in, rd->peek, rd->peek_len);
    z->in_len = rd->peek_len;
    z->in_total = rd->peek_len;
    rd->peek_pos = rd->peek_len = 0;
    {
        struct stat st;
        if (fstat(rd->fd, &st) == 0 && S_ISREG(st.st_mode))
            z->file_size = (uint64_t)st.st_size;
    }
    if (kind == Z_GZIP) {
        if (inflateInit2(&z->zs, 16 + MAX_WBITS) != Z_OK) /* +16: gzip wrapper only */
            return tb_err_nomem(err);
        z->kind = Z_GZIP;
    } else {
        z->zd = ZSTD_createDStream();
        if (z->zd == NULL)
            return tb_err_nomem(err);
        z->kind = Z_ZSTD;
    }
    return TB_OK;
}

tb_rc tb_bufrd_open_file(tb_bufrd *rd, const char *fmt, const char *unit, const char *path,
                         size_t chunk, size_t max_line, tb_err *err)
{
    static const uint8_t GZ[2] = {0x1f, 0x8b}, ZS[4] = {0x28, 0xb5, 0x2f, 0xfd};
    bool ext_gz, ext_zst;
    tb_rc rc;

    init(rd, fmt, unit, path, chunk, max_line);
    rd->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (rd->fd < 0)
        return TB_ERRF(err, TB_E_IO, "%s: open '%s': %s", fmt, path, strerror(errno));
    while (rd->peek_len < sizeof(rd->peek)) {
        size_t got = 0;
        rc = fd_read(rd, rd->peek + rd->peek_len, sizeof(rd->peek) - rd->peek_len, &got, err);
        if (rc != TB_OK)
            return rc;
        if (got == 0)
            break;
        rd->peek_len = (uint8_t)(rd->peek_len + got);
    }
    ext_gz = name_ends(path, ".gz") || name_ends(path, ".gzip");
    ext_zst = name_ends(path, ".zst") || name_ends(path, ".zstd");
    if (rd->peek_len >= 2 && memcmp(rd->peek, GZ, 2) == 0)
        return z_open(rd, Z_GZIP, err);
    if (rd->peek_len >= 4 && memcmp(rd->peek, ZS, 4) == 0)
        return z_open(rd, Z_ZSTD, err);
    if ((ext_gz || ext_zst) && rd->peek_len > 0)
        return TB_ERRF(err, TB_E_CORRUPT,
                       "%s: %s: not %s data (the name ends in %s, but the file does not "
                       "start with its magic bytes %s)",
                       fmt, path, ext_gz ? "gzip" : "zstd", ext_gz ? ".gz" : ".zst",
                       ext_gz ? "1f 8b" : "28 b5 2f fd");
    return TB_OK;
}

/*
 * Up to n decompressed bytes into dst; *out_n 0 only at the end of the stream. The
 * decompressor is called even when its input is used up: it may still hold output.
 * frame_open follows whether the bytes fed so far stop inside a member / frame.
 */
static tb_rc z_read(tb_bufrd *rd, uint8_t *dst, size_t n, size_t *out_n, tb_err *err)
{
    tb_bufrd_z *z = rd->z;
    size_t out = 0;

    for (;;) {
        size_t in0;
        if (z->in_pos == z->in_len && !z->in_eof) {
            size_t got = 0;
            tb_rc rc = fd_read(rd, z->in, Z_IN_CHUNK, &got, err);
            if (rc != TB_OK)
                return rc;
            z->in_pos = 0;
            z->in_len = got;
            z->in_total += got;
            z->in_eof = got == 0;
        }
        in0 = z->in_pos;
        if (z->kind == Z_GZIP) {
            int zrc;
            z->zs.next_in = z->in + z->in_pos;
            z->zs.avail_in = (uInt)(z->in_len - z->in_pos);
            z->zs.next_out = dst;
            z->zs.avail_out = (uInt)TB_MIN(n, (size_t)UINT32_MAX);
            if (z->zs.avail_in > 0)
                z->frame_open = true;
            zrc = inflate(&z->zs, Z_NO_FLUSH);
            out = (size_t)(z->zs.next_out - dst);
            z->in_pos = (size_t)(z->zs.next_in - z->in);
            if (zrc == Z_STREAM_END) {
                /* another member may follow (COPY writes one per block) */
                z->frame_open = false;
                if (inflateReset(&z->zs) != Z_OK)
                    return z_corrupt(rd, "reset failed", err);
            } else if (zrc == Z_MEM_ERROR) {
                return tb_err_nomem(err);
            } else if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
                return z_corrupt(rd, z->zs.msg != NULL ? z->zs.msg : "inflate failed", err);
            }
        } else {
            ZSTD_inBuffer ib = {z->in, z->in_len, z->in_pos};
            ZSTD_outBuffer ob = {dst, n, 0};
            size_t zr = ZSTD_decompressStream(z->zd, &ob, &ib);
            if (ZSTD_isError(zr))
                return z_corrupt(rd, ZSTD_getErrorName(zr), err);
            if (ib.pos > in0 || ob.pos > 0)
                z->frame_open = zr != 0; /* 0: a frame ended exactly here */
            out = ob.pos;
            z->in_pos = ib.pos;
        }
        if (out > 0)
            break;
        if (z->in_pos == z->in_len && z->in_eof) {
            if (z->frame_open)
                return z_corrupt(rd, "truncated: the file ends inside the compressed stream",
                                 err);
            break; /* the end */
        }
    }
    z->out_total += out;
    if (z->out_total > TB_MAX(z->file_size, z->in_total) * TB_BUFRD_MAX_RATIO +
                           ((uint64_t)1 << 20))
        return TB_ERRF(err, TB_E_LIMIT,
                       "%s: %s: decompresses to more than %u times its compressed size plus "
                       "1 MiB (a decompression bomb?)",
                       rd->fmt, rd->name, TB_BUFRD_MAX_RATIO);
    *out_n = out;
    return TB_OK;
}

/* Up to n input bytes into dst; *out_n 0 only at the end of the input. */
static tb_rc raw_read(tb_bufrd *rd, uint8_t *dst, size_t n, size_t *out_n, tb_err *err)
{
    if (rd->z != NULL)
        return z_read(rd, dst, n, out_n, err);
    if (rd->peek_pos < rd->peek_len) {
        size_t k = TB_MIN(n, (size_t)(rd->peek_len - rd->peek_pos));
        memcpy(dst, rd->peek + rd->peek_pos, k);
        rd->peek_pos = (uint8_t)(rd->peek_pos + k);
        *out_n = k;
        return TB_OK;
    }
    return fd_read(rd, dst, n, out_n, err);
}

void tb_bufrd_close(tb_bufrd *rd)
{
    if (rd->fd >= 0)
        (void)close(rd->fd); /* read-only: nothing to flush */
    z_free(rd->z);
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
        size_t n = 0;
        tb_rc rc = raw_read(rd, (uint8_t *)rd->buf + rd->len, want - got, &n, err);
        if (rc != TB_OK)
            return rc;
        if (n == 0) {
            rd->eof = true;
            break;
        }
        rd->len += n;
        got += n;
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
