/*
 * rle.h - Parquet's bit-level encodings: bit unpacking, the RLE / bit-packing hybrid
 * (definition levels, dictionary indices, RLE booleans), the deprecated BIT_PACKED level
 * encoding, and DELTA_BINARY_PACKED. Decoders (reader) and encoders (writer).
 *
 * Decoders never read outside [p, p + len) and report malformed or short input by
 * returning fewer values than asked (and setting `bad`); the caller turns that into an
 * error naming the file and column.
 */
#ifndef TB_RLE_H
#define TB_RLE_H

#include "util/util.h"

/* Bits needed to represent v (0 for 0). */
static inline int tb_bit_width(uint64_t v) { return v == 0 ? 0 : 64 - __builtin_clzll(v); }

/* Read an unsigned LEB128 varint from [*p, end); false on truncation/overflow. */
bool tb_uvarint(const uint8_t **p, const uint8_t *end, uint64_t *out);

/*
 * Unpack n values of w bits (LSB-first, as Parquet packs) starting at bit `bitpos` of
 * data[0..len). The caller guarantees bitpos + n * w <= len * 8. w <= 32 for the u32
 * variant, w <= 64 for the u64 one.
 */
void tb_unpack32(const uint8_t *data, size_t len, uint64_t bitpos, int w, uint32_t n,
                 uint32_t *out);
void tb_unpack64(const uint8_t *data, size_t len, uint64_t bitpos, int w, uint32_t n,
                 uint64_t *out);

/* ---------------------------------------------------------------- RLE hybrid */

typedef struct tb_rle_dec {
    const uint8_t *p;
    const uint8_t *end;
    int bit_width;     /* 0..32 */
    uint32_t rle_left; /* values left in the current RLE run */
    uint32_t rle_value;
    uint32_t bp_left; /* values left in the current bit-packed run */
    const uint8_t *bp_data;
    size_t bp_len;      /* bytes of the run present in the input */
    uint64_t bp_bitpos; /* bit offset of the next value in bp_data */
    bool bad;
} tb_rle_dec;

void tb_rle_dec_init(tb_rle_dec *d, const uint8_t *p, size_t len, int bit_width);
/* Decode up to n values; returns how many were decoded (< n: data ended or malformed). */
uint32_t tb_rle_dec_get(tb_rle_dec *d, uint32_t *out, uint32_t n);

/*
 * Encode n values (each < 2^bit_width) as an RLE/bit-packing hybrid and append to out
 * (no length prefix; Parquet v1 levels prefix the length themselves). Runs of >= 8
 * equal values become RLE runs, the rest bit-packed groups of 8.
 */
tb_rc tb_rle_encode(const uint32_t *vals, size_t n, int bit_width, tb_buf *out);

/* ---------------------------------------------------------------- BIT_PACKED (levels) */

/* Deprecated BIT_PACKED levels: n values of w bits packed MSB-first from bit `bitpos`.
 * Caller guarantees bitpos + n * w <= len * 8. */
void tb_unpack_msb32(const uint8_t *data, size_t len, uint64_t bitpos, int w, uint32_t n,
                     uint32_t *out);

/* ---------------------------------------------------------------- DELTA_BINARY_PACKED */

/* Limits on header fields (the format has none; these keep state small and bounded). */
#define TB_DELTA_MAX_MINIBLOCKS 1024
#define TB_DELTA_MAX_BLOCK      (1u << 20)

typedef struct tb_delta_dec {
    const uint8_t *p;
    const uint8_t *end;
    uint32_t block_size;
    uint32_t n_mini;
    uint32_t per_mini;
    uint64_t total;    /* values in the stream (header) */
    uint64_t produced; /* values returned so far */
    uint64_t last;     /* last value (two's complement) */
    uint64_t min_delta;
    uint32_t mini_idx;  /* next miniblock of the current block; n_mini = block done */
    uint32_t mini_left; /* values left in the current miniblock */
    int mini_w;
    const uint8_t *mini_data;
    size_t mini_len;
    uint64_t mini_bitpos;
    uint8_t widths[TB_DELTA_MAX_MINIBLOCKS];
    bool bad;
} tb_delta_dec;

/* Parse the header. False if malformed. */
bool tb_delta_dec_init(tb_delta_dec *d, const uint8_t *p, size_t len);
/* Decode up to n values (int64 two's complement; INT32 columns truncate). Returns how
 * many were decoded (< n: stream exhausted, or bad set if malformed). */
uint32_t tb_delta_dec_get(tb_delta_dec *d, uint64_t *out, uint32_t n);
/* Walk a whole stream without decoding values: *out_end is where it ends (the start of
 * what follows, for DELTA_LENGTH_BYTE_ARRAY / DELTA_BYTE_ARRAY), *out_total its count. */
bool tb_delta_skip(const uint8_t *p, size_t len, const uint8_t **out_end, uint64_t *out_total);

/*
 * Encode n values as DELTA_BINARY_PACKED (block 128, 4 miniblocks of 32) and append to
 * out. is32: values are INT32 (deltas wrap at 32 bits, as INT32 readers expect).
 */
tb_rc tb_delta_encode(const int64_t *vals, size_t n, bool is32, tb_buf *out);

#endif /* TB_RLE_H */
