/*
 * codec.h - block compression codecs with Parquet's CompressionCodec numbering, for
 * page data (reader: decompress into an exact-size buffer; writer: compress).
 *
 * Libraries: snappy (C API), zlib, libzstd, liblz4, libbrotli (Debian packages).
 */
#ifndef TB_CODEC_H
#define TB_CODEC_H

#include "util/util.h"

/* parquet.thrift CompressionCodec */
enum {
    TB_CODEC_UNCOMPRESSED = 0,
    TB_CODEC_SNAPPY = 1,
    TB_CODEC_GZIP = 2,
    TB_CODEC_LZO = 3, /* not supported */
    TB_CODEC_BROTLI = 4,
    TB_CODEC_LZ4 = 5, /* deprecated: Hadoop-framed LZ4 blocks (raw block / LZ4 frame
                         accepted on read as fallbacks, as other readers do) */
    TB_CODEC_ZSTD = 6,
    TB_CODEC_LZ4_RAW = 7
};

/* Largest decompressed page accepted anywhere (a page claiming more is refused before
 * any allocation): 1 GiB. */
#define TB_DECOMPRESS_MAX ((size_t)1 << 30)

/* "SNAPPY", "GZIP", ...; "UNKNOWN(n)" is not returned: unknown codes give "UNKNOWN". */
const char *tb_codec_name(int codec);
/* Is codec supported for reading and writing? */
bool tb_codec_supported(int codec);

/*
 * Decompress src into dst, which must come out exactly dst_len bytes long (the page's
 * uncompressed size): more output than dst_len is an error, never a larger buffer, so a
 * compression bomb costs at most dst_len bytes. Errors: TB_E_CORRUPT (malformed or
 * wrong size), TB_E_UNSUPPORTED (codec), TB_E_LIMIT (dst_len > TB_DECOMPRESS_MAX).
 * The message has no file name; callers prefix it.
 */
tb_rc tb_decompress(int codec, const uint8_t *src, size_t src_len, uint8_t *dst, size_t dst_len,
                    tb_err *err);

/*
 * Compress src (len bytes) and append the result to out. GZIP writes a gzip member,
 * LZ4 the Hadoop framing, LZ4_RAW a raw block, ZSTD level 3, BROTLI quality 5.
 * UNCOMPRESSED copies.
 */
tb_rc tb_compress(int codec, const uint8_t *src, size_t len, tb_buf *out, tb_err *err);

#endif /* TB_CODEC_H */
