/*
 * codec.c - Parquet page codecs over the Debian compression libraries.
 *
 * Decompression always writes into a caller buffer of the exact expected size and
 * fails if the stream would produce more (or less): memory use is bounded by the size
 * the caller checked, whatever the compressed stream claims. GZIP accepts several
 * concatenated members (some writers emit them). LZ4 (codec 5) is ambiguous in the
 * wild: Hadoop framing (parquet-mr), raw blocks (older parquet-cpp) or LZ4 frames;
 * we try them in that order, as Arrow does.
 */
#include "format/codec.h"

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <limits.h>
#include <lz4.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

const char *tb_codec_name(int codec)
{
    switch (codec) {
    case TB_CODEC_UNCOMPRESSED:
        return "UNCOMPRESSED";
    case TB_CODEC_SNAPPY:
        return "SNAPPY";
    case TB_CODEC_GZIP:
        return "GZIP";
    case TB_CODEC_LZO:
        return "LZO";
    case TB_CODEC_BROTLI:
        return "BROTLI";
    case TB_CODEC_LZ4:
        return "LZ4";
    case TB_CODEC_ZSTD:
        return "ZSTD";
    case TB_CODEC_LZ4_RAW:
        return "LZ4_RAW";
    default:
        return "UNKNOWN";
    }
}

bool tb_codec_supported(int codec)
{
    return codec >= TB_CODEC_UNCOMPRESSED && codec <= TB_CODEC_LZ4_RAW && codec != TB_CODEC_LZO;
}

static tb_rc size_mismatch(tb_err *err, const char *codec, size_t got, size_t want)
{
    return TB_ERRF(err, TB_E_CORRUPT, "%s: decompressed %zu bytes, page header says %zu", codec,
                   got, want);
}

static tb_rc gunzip(const uint8_t *src, size_t src_len, uint8_t *dst, size_t dst_len, tb_err *err)
{
    z_stream zs;
    uint8_t dummy = 0;
    tb_rc rc = TB_OK;

    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 15 + 32) != Z_OK) /* +32: zlib or gzip header */
        return TB_ERRF(err, TB_E_NOMEM, "GZIP: inflateInit failed");
    zs.next_in = (Bytef *)(uintptr_t)src;
    zs.avail_in = (uInt)src_len;
    zs.next_out = dst_len > 0 ? dst : &dummy;
    zs.avail_out = (uInt)dst_len;
    for (;;) {
        int zrc = inflate(&zs, Z_NO_FLUSH);
        if (zrc == Z_STREAM_END) {
            if (zs.total_out >= dst_len || zs.avail_in == 0)
                break;
            /* another gzip member follows */
            uLong done_out = zs.total_out;
            if (inflateReset(&zs) != Z_OK) {
                rc = TB_ERRF(err, TB_E_CORRUPT, "GZIP: corrupt stream");
                goto out;
            }
            zs.total_out = done_out;
            continue;
        }
        if (zrc == Z_OK)
            continue;
        if (zrc == Z_BUF_ERROR && zs.avail_out == 0) {
            rc = TB_ERRF(err, TB_E_CORRUPT,
                         "GZIP: data decompresses to more than the page size %zu", dst_len);
            goto out;
        }
        rc = TB_ERRF(err, TB_E_CORRUPT, "GZIP: corrupt stream (%s)",
                     zs.msg != NULL ? zs.msg : "truncated");
        goto out;
    }
    if ((size_t)(dst_len - zs.avail_out) != dst_len)
        rc = size_mismatch(err, "GZIP", dst_len - zs.avail_out, dst_len);
out:
    inflateEnd(&zs);
    return rc;
}

static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Hadoop's BlockCompressorStream framing: blocks of [BE32 raw size] followed by chunks
 * of [BE32 compressed size][LZ4 block] until the raw size is reached. */
static bool lz4_hadoop(const uint8_t *src, size_t src_len, uint8_t *dst, size_t dst_len)
{
    size_t in = 0, out = 0;
    if (src_len < 8)
        return false;
    while (in < src_len) {
        if (src_len - in < 4)
            return false;
        uint32_t raw = be32(src + in);
        in += 4;
        if (raw > dst_len - out)
            return false;
        size_t block_end = out + raw;
        do {
            if (src_len - in < 4)
                return false;
            uint32_t clen = be32(src + in);
            in += 4;
            if (clen > src_len - in || clen > INT_MAX)
                return false;
            size_t room = block_end - out;
            if (room == 0 && clen == 0)
                break;
            int n = LZ4_decompress_safe((const char *)src + in, (char *)dst + out, (int)clen,
                                        (int)TB_MIN(room, (size_t)INT_MAX));
            if (n < 0)
                return false;
            in += clen;
            out += (size_t)n;
            if (n == 0)
                return false; /* no progress */
        } while (out < block_end);
    }
    return out == dst_len;
}

static bool lz4_frame(const uint8_t *src, size_t src_len, uint8_t *dst, size_t dst_len)
{
    LZ4F_dctx *dctx = NULL;
    size_t in = 0, out = 0;
    bool ok = false;

    if (src_len < 4 || !(src[0] == 0x04 && src[1] == 0x22 && src[2] == 0x4d && src[3] == 0x18))
        return false;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)))
        return false;
    for (;;) {
        size_t in_n = src_len - in, out_n = dst_len - out;
        size_t r = LZ4F_decompress(dctx, dst + out, &out_n, src + in, &in_n, NULL);
        if (LZ4F_isError(r))
            break;
        in += in_n;
        out += out_n;
        if (r == 0) { /* frame complete; another may follow */
            if (in == src_len) {
                ok = out == dst_len;
                break;
            }
            continue;
        }
        if (in_n == 0 && out_n == 0)
            break; /* no progress: truncated input or output too small */
    }
    LZ4F_freeDecompressionContext(dctx);
    return ok;
}

static tb_rc brotli_dec(const uint8_t *src, size_t src_len, uint8_t *dst, size_t dst_len,
                        tb_err *err)
{
    BrotliDecoderState *st = BrotliDecoderCreateInstance(NULL, NULL, NULL);
    const uint8_t *next_in = src;
    size_t avail_in = src_len;
    uint8_t *next_out = dst;
    size_t avail_out = dst_len;
    tb_rc rc = TB_OK;

    if (st == NULL)
        return tb_err_nomem(err);
    BrotliDecoderResult r =
        BrotliDecoderDecompressStream(st, &avail_in, &next_in, &avail_out, &next_out, NULL);
    if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT)
        rc = TB_ERRF(err, TB_E_CORRUPT, "BROTLI: data decompresses to more than the page size %zu",
                     dst_len);
    else if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT)
        rc = TB_ERRF(err, TB_E_CORRUPT, "BROTLI: truncated stream");
    else if (r != BROTLI_DECODER_RESULT_SUCCESS)
        rc = TB_ERRF(err, TB_E_CORRUPT, "BROTLI: corrupt stream (%s)",
                     BrotliDecoderErrorString(BrotliDecoderGetErrorCode(st)));
    else if (avail_out != 0)
        rc = size_mismatch(err, "BROTLI", dst_len - avail_out, dst_len);
    BrotliDecoderDestroyInstance(st);
    return rc;
}

tb_rc tb_decompress(int codec, const uint8_t *src, size_t src_len, uint8_t *dst, size_t dst_len,
                    tb_err *err)
{
    uint8_t dummy = 0;

    if (dst_len > TB_DECOMPRESS_MAX)
        return TB_ERRF(err, TB_E_LIMIT, "page of %zu bytes exceeds the %zu-byte limit", dst_len,
                       TB_DECOMPRESS_MAX);
    if (src_len > INT_MAX)
        return TB_ERRF(err, TB_E_LIMIT, "compressed page of %zu bytes is too large", src_len);
    if (dst == NULL)
        dst = &dummy; /* libraries dislike NULL even with zero capacity */
    switch (codec) {
    case TB_CODEC_UNCOMPRESSED:
        if (src_len != dst_len)
            return size_mismatch(err, "UNCOMPRESSED", src_len, dst_len);
        if (dst_len > 0)
            memcpy(dst, src, dst_len);
        return TB_OK;
    case TB_CODEC_SNAPPY: {
        size_t n = 0;
        if (src_len == 0 && dst_len == 0)
            return TB_OK;
        if (snappy_uncompressed_length((const char *)src, src_len, &n) != SNAPPY_OK)
            return TB_ERRF(err, TB_E_CORRUPT, "SNAPPY: corrupt stream header");
        if (n != dst_len)
            return size_mismatch(err, "SNAPPY", n, dst_len);
        if (snappy_uncompress((const char *)src, src_len, (char *)dst, &n) != SNAPPY_OK)
            return TB_ERRF(err, TB_E_CORRUPT, "SNAPPY: corrupt stream");
        if (n != dst_len)
            return size_mismatch(err, "SNAPPY", n, dst_len);
        return TB_OK;
    }
    case TB_CODEC_GZIP:
        if (src_len == 0 && dst_len == 0)
            return TB_OK;
        return gunzip(src, src_len, dst, dst_len, err);
    case TB_CODEC_ZSTD: {
        if (src_len == 0 && dst_len == 0)
            return TB_OK;
        size_t n = ZSTD_decompress(dst, dst_len, src, src_len);
        if (ZSTD_isError(n))
            return TB_ERRF(err, TB_E_CORRUPT, "ZSTD: %s", ZSTD_getErrorName(n));
        if (n != dst_len)
            return size_mismatch(err, "ZSTD", n, dst_len);
        return TB_OK;
    }
    case TB_CODEC_LZ4_RAW: {
        if (src_len == 0 && dst_len == 0)
            return TB_OK;
        int n = LZ4_decompress_safe((const char *)src, (char *)dst, (int)src_len, (int)dst_len);
        if (n < 0)
            return TB_ERRF(err, TB_E_CORRUPT, "LZ4_RAW: corrupt block");
        if ((size_t)n != dst_len)
            return size_mismatch(err, "LZ4_RAW", (size_t)n, dst_len);
        return TB_OK;
    }
    case TB_CODEC_LZ4: {
        if (src_len == 0 && dst_len == 0)
            return TB_OK;
        if (lz4_hadoop(src, src_len, dst, dst_len) || lz4_frame(src, src_len, dst, dst_len))
            return TB_OK;
        int n = LZ4_decompress_safe((const char *)src, (char *)dst, (int)src_len, (int)dst_len);
        if (n >= 0 && (size_t)n == dst_len)
            return TB_OK;
        return TB_ERRF(err, TB_E_CORRUPT,
                       "LZ4: data is neither Hadoop-framed nor a raw LZ4 block of %zu bytes",
                       dst_len);
    }
    case TB_CODEC_BROTLI:
        if (src_len == 0 && dst_len == 0)
            return TB_OK;
        return brotli_dec(src, src_len, dst, dst_len, err);
    default:
        return TB_ERRF(err, TB_E_UNSUPPORTED, "compression codec %s (%d) not supported",
                       tb_codec_name(codec), codec);
    }
}

/* ---------------------------------------------------------------- compression */

static tb_rc compress_gzip(const uint8_t *src, size_t len, tb_buf *out, tb_err *err)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (len > UINT_MAX / 2)
        return TB_ERRF(err, TB_E_LIMIT, "GZIP: input of %zu bytes too large", len);
    if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return tb_err_nomem(err);
    size_t bound = deflateBound(&zs, (uLong)len);
    if (tb_buf_reserve(out, bound) != TB_OK) {
        deflateEnd(&zs);
        return tb_err_nomem(err);
    }
    zs.next_in = (Bytef *)(uintptr_t)src;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)out->data + out->len;
    zs.avail_out = (uInt)bound;
    int zrc = deflate(&zs, Z_FINISH);
    size_t n = bound - zs.avail_out;
    deflateEnd(&zs);
    if (zrc != Z_STREAM_END)
        return TB_ERRF(err, TB_E_ERROR, "GZIP: deflate failed (%d)", zrc);
    out->len += n;
    return TB_OK;
}

tb_rc tb_compress(int codec, const uint8_t *src, size_t len, tb_buf *out, tb_err *err)
{
    if (len > TB_DECOMPRESS_MAX)
        return TB_ERRF(err, TB_E_LIMIT, "page of %zu bytes exceeds the %zu-byte limit", len,
                       TB_DECOMPRESS_MAX);
    switch (codec) {
    case TB_CODEC_UNCOMPRESSED:
        if (tb_buf_append(out, src, len) != TB_OK)
            return tb_err_nomem(err);
        return TB_OK;
    case TB_CODEC_SNAPPY: {
        size_t n = snappy_max_compressed_length(len);
        if (tb_buf_reserve(out, n) != TB_OK)
            return tb_err_nomem(err);
        if (snappy_compress((const char *)src, len, out->data + out->len, &n) != SNAPPY_OK)
            return TB_ERRF(err, TB_E_ERROR, "SNAPPY: compression failed");
        out->len += n;
        return TB_OK;
    }
    case TB_CODEC_GZIP:
        return compress_gzip(src, len, out, err);
    case TB_CODEC_ZSTD: {
        size_t n = ZSTD_compressBound(len);
        if (tb_buf_reserve(out, n) != TB_OK)
            return tb_err_nomem(err);
        n = ZSTD_compress(out->data + out->len, n, src, len, 3);
        if (ZSTD_isError(n))
            return TB_ERRF(err, TB_E_ERROR, "ZSTD: %s", ZSTD_getErrorName(n));
        out->len += n;
        return TB_OK;
    }
    case TB_CODEC_LZ4:
    case TB_CODEC_LZ4_RAW: {
        size_t hdr = codec == TB_CODEC_LZ4 ? 8 : 0;
        int bound = LZ4_compressBound((int)len);
        if (bound <= 0)
            return TB_ERRF(err, TB_E_LIMIT, "LZ4: input of %zu bytes too large", len);
        if (tb_buf_reserve(out, hdr + (size_t)bound) != TB_OK)
            return tb_err_nomem(err);
        char *dst = out->data + out->len + hdr;
        int n = LZ4_compress_default((const char *)src, dst, (int)len, bound);
        if (n <= 0 && len > 0)
            return TB_ERRF(err, TB_E_ERROR, "LZ4: compression failed");
        if (hdr > 0) {
            uint8_t *h = (uint8_t *)out->data + out->len;
            uint32_t vals[2] = {(uint32_t)len, (uint32_t)n};
            for (int k = 0; k < 2; k++) {
                h[4 * k] = (uint8_t)(vals[k] >> 24);
                h[4 * k + 1] = (uint8_t)(vals[k] >> 16);
                h[4 * k + 2] = (uint8_t)(vals[k] >> 8);
                h[4 * k + 3] = (uint8_t)vals[k];
            }
        }
        out->len += hdr + (size_t)n;
        return TB_OK;
    }
    case TB_CODEC_BROTLI: {
        size_t n = BrotliEncoderMaxCompressedSize(len);
        if (n == 0)
            n = len + 1024;
        if (tb_buf_reserve(out, n) != TB_OK)
            return tb_err_nomem(err);
        if (!BrotliEncoderCompress(5, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, len, src, &n,
                                   (uint8_t *)out->data + out->len))
            return TB_ERRF(err, TB_E_ERROR, "BROTLI: compression failed");
        out->len += n;
        return TB_OK;
    }
    default:
        return TB_ERRF(err, TB_E_UNSUPPORTED, "compression codec %s (%d) not supported",
                       tb_codec_name(codec), codec);
    }
}
