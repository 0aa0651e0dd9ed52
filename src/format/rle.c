/*
 * rle.c - bit unpacking, RLE/bit-packing hybrid, BIT_PACKED levels and
 * DELTA_BINARY_PACKED, decoders and encoders (see rle.h).
 *
 * Invariants: decoders only read inside the byte range given at init; bit-packed runs
 * cut short by the end of the data (allowed for the last run of a page) yield only the
 * values actually present. A decoder that returns fewer values than asked leaves the
 * caller to report the error.
 */
#include "format/rle.h"

#include <string.h>

bool tb_uvarint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (p >= end)
            return false;
        uint8_t b = *p++;
        if (shift == 63 && (b & 0x7e) != 0)
            return false;
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *pp = p;
            *out = v;
            return true;
        }
    }
    return false;
}

/* Read w (<= 64) bits at bitpos; bytes past len read as zero. */
static inline uint64_t load_bits(const uint8_t *data, size_t len, uint64_t bitpos, int w)
{
    size_t byte = (size_t)(bitpos >> 3);
    int sh = (int)(bitpos & 7);
    uint64_t lo;
    if (w == 0)
        return 0;
    if (byte + 9 <= len) {
        memcpy(&lo, data + byte, 8);
        lo >>= sh;
        if (sh + w > 64)
            lo |= (uint64_t)data[byte + 8] << (64 - sh);
    } else {
        uint8_t tmp[9] = {0};
        size_t avail = len > byte ? len - byte : 0;
        memcpy(tmp, data + byte, TB_MIN(avail, sizeof(tmp)));
        memcpy(&lo, tmp, 8);
        lo >>= sh;
        if (sh + w > 64)
            lo |= (uint64_t)tmp[8] << (64 - sh);
    }
    return w == 64 ? lo : lo & (((uint64_t)1 << w) - 1);
}

void tb_unpack32(const uint8_t *data, size_t len, uint64_t bitpos, int w, uint32_t n, uint32_t *out)
{
    if (w == 0) {
        memset(out, 0, (size_t)n * sizeof(*out));
        return;
    }
    if (w == 8 && (bitpos & 7) == 0) {
        const uint8_t *s = data + (bitpos >> 3);
        for (uint32_t i = 0; i < n; i++)
            out[i] = s[i];
        return;
    }
    uint64_t mask = ((uint64_t)1 << w) - 1;
    uint32_t i = 0;
    /* fast path: whole 8-byte loads stay inside the buffer */
    for (; i < n; i++, bitpos += (uint64_t)w) {
        size_t byte = (size_t)(bitpos >> 3);
        if (byte + 8 > len)
            break;
        uint64_t v;
        memcpy(&v, data + byte, 8);
        out[i] = (uint32_t)((v >> (bitpos & 7)) & mask);
    }
    for (; i < n; i++, bitpos += (uint64_t)w)
        out[i] = (uint32_t)load_bits(data, len, bitpos, w);
}

void tb_unpack64(const uint8_t *data, size_t len, uint64_t bitpos, int w, uint32_t n, uint64_t *out)
{
    if (w == 0) {
        memset(out, 0, (size_t)n * sizeof(*out));
        return;
    }
    for (uint32_t i = 0; i < n; i++, bitpos += (uint64_t)w)
        out[i] = load_bits(data, len, bitpos, w);
}

void tb_unpack_msb32(const uint8_t *data, size_t len, uint64_t bitpos, int w, uint32_t n,
                     uint32_t *out)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t v = 0;
        for (int b = 0; b < w; b++, bitpos++) {
            size_t byte = (size_t)(bitpos >> 3);
            uint32_t bit = byte < len ? (data[byte] >> (7 - (bitpos & 7))) & 1 : 0;
            v = (v << 1) | bit;
        }
        out[i] = v;
    }
}

/* ---------------------------------------------------------------- RLE hybrid */

void tb_rle_dec_init(tb_rle_dec *d, const uint8_t *p, size_t len, int bit_width)
{
    memset(d, 0, sizeof(*d));
    d->p = p;
    d->end = p + len;
    d->bit_width = bit_width;
    if (bit_width < 0 || bit_width > 32)
        d->bad = true;
}

/* Start the next run; false at the end of the data or if malformed. */
static bool next_run(tb_rle_dec *d)
{
    uint64_t h;
    for (;;) {
        if (d->bad || d->p >= d->end)
            return false;
        if (!tb_uvarint(&d->p, d->end, &h)) {
            d->bad = true;
            return false;
        }
        if (h & 1) {
            uint64_t groups = h >> 1;
            uint64_t bytes = groups * (uint64_t)d->bit_width;
            size_t avail = (size_t)(d->end - d->p);
            uint64_t vals = groups * 8;
            if (bytes > avail) {
                /* a last run cut short: keep the values actually present */
                if (d->bit_width > 0)
                    vals = (uint64_t)avail * 8 / (uint64_t)d->bit_width;
                bytes = avail;
            }
            if (vals > UINT32_MAX)
                vals = UINT32_MAX;
            d->bp_data = d->p;
            d->bp_len = (size_t)bytes;
            d->bp_bitpos = 0;
            d->bp_left = (uint32_t)vals;
            d->p += bytes;
            if (d->bp_left > 0)
                return true;
        } else {
            uint64_t count = h >> 1;
            int nbytes = (d->bit_width + 7) / 8;
            if ((size_t)(d->end - d->p) < (size_t)nbytes) {
                d->bad = true;
                return false;
            }
            uint32_t v = 0;
            for (int i = 0; i < nbytes; i++)
                v |= (uint32_t)d->p[i] << (8 * i);
            d->p += nbytes;
            if (d->bit_width < 32 && (v >> d->bit_width) != 0) {
                d->bad = true; /* value wider than the bit width */
                return false;
            }
            if (count > UINT32_MAX)
                count = UINT32_MAX;
            d->rle_left = (uint32_t)count;
            d->rle_value = v;
            if (count > 0)
                return true;
        }
    }
}

uint32_t tb_rle_dec_get(tb_rle_dec *d, uint32_t *out, uint32_t n)
{
    uint32_t got = 0;
    while (got < n) {
        if (d->rle_left > 0) {
            uint32_t k = TB_MIN(d->rle_left, n - got);
            uint32_t v = d->rle_value;
            for (uint32_t i = 0; i < k; i++)
                out[got + i] = v;
            d->rle_left -= k;
            got += k;
        } else if (d->bp_left > 0) {
            uint32_t k = TB_MIN(d->bp_left, n - got);
            tb_unpack32(d->bp_data, d->bp_len, d->bp_bitpos, d->bit_width, k, out + got);
            d->bp_bitpos += (uint64_t)k * (uint64_t)d->bit_width;
            d->bp_left -= k;
            got += k;
        } else if (!next_run(d)) {
            break;
        }
    }
    return got;
}

static tb_rc put_varint(tb_buf *out, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    return tb_buf_append(out, tmp, n);
}

static size_t run_len(const uint32_t *vals, size_t n, size_t i)
{
    size_t j = i + 1;
    while (j < n && vals[j] == vals[i])
        j++;
    return j - i;
}

/* Pack vals[0..n) (n a multiple of 8 after padding with zeros) LSB-first. */
static tb_rc pack_lsb(const uint32_t *vals, size_t n, size_t padded, int w, tb_buf *out)
{
    size_t nbytes = padded * (size_t)w / 8;
    if (tb_buf_reserve(out, nbytes) != TB_OK)
        return TB_E_NOMEM;
    uint8_t *dst = (uint8_t *)out->data + out->len;
    memset(dst, 0, nbytes);
    uint64_t bitpos = 0;
    for (size_t i = 0; i < n; i++, bitpos += (uint64_t)w) {
        uint64_t v = vals[i];
        for (int b = 0; b < w;) {
            size_t byte = (size_t)((bitpos + (uint64_t)b) >> 3);
            int off = (int)((bitpos + (uint64_t)b) & 7);
            int take = TB_MIN(8 - off, w - b);
            dst[byte] |= (uint8_t)(((v >> b) & ((1u << take) - 1)) << off);
            b += take;
        }
    }
    out->len += nbytes;
    return TB_OK;
}

tb_rc tb_rle_encode(const uint32_t *vals, size_t n, int bit_width, tb_buf *out)
{
    size_t i = 0;
    int nbytes = (bit_width + 7) / 8;
    while (i < n) {
        size_t run = run_len(vals, n, i);
        if (run >= 8) {
            uint8_t tmp[4];
            if (put_varint(out, (uint64_t)run << 1) != TB_OK)
                return TB_E_NOMEM;
            for (int b = 0; b < nbytes; b++)
                tmp[b] = (uint8_t)(vals[i] >> (8 * b));
            if (tb_buf_append(out, tmp, (size_t)nbytes) != TB_OK)
                return TB_E_NOMEM;
            i += run;
            continue;
        }
        size_t start = i;
        do {
            i += 8;
        } while (i < n && run_len(vals, n, i) < 8);
        size_t end = TB_MIN(i, n);
        size_t groups = (end - start + 7) / 8;
        if (put_varint(out, ((uint64_t)groups << 1) | 1) != TB_OK)
            return TB_E_NOMEM;
        if (pack_lsb(vals + start, end - start, groups * 8, bit_width, out) != TB_OK)
            return TB_E_NOMEM;
        i = end;
    }
    return TB_OK;
}

/* ---------------------------------------------------------------- DELTA_BINARY_PACKED */

static uint64_t zz(int64_t v) { return ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63)); }

static bool delta_header(const uint8_t **p, const uint8_t *end, uint32_t *block_size,
                         uint32_t *n_mini, uint64_t *total, uint64_t *first)
{
    uint64_t bs, nm, tot, fv;
    if (!tb_uvarint(p, end, &bs) || !tb_uvarint(p, end, &nm) || !tb_uvarint(p, end, &tot) ||
        !tb_uvarint(p, end, &fv))
        return false;
    if (bs == 0 || bs > TB_DELTA_MAX_BLOCK || nm == 0 || nm > TB_DELTA_MAX_MINIBLOCKS ||
        bs % nm != 0 || (bs / nm) % 8 != 0)
        return false;
    if (tot > UINT32_MAX)
        return false;
    *block_size = (uint32_t)bs;
    *n_mini = (uint32_t)nm;
    *total = tot;
    *first = (uint64_t)((int64_t)(fv >> 1) ^ -(int64_t)(fv & 1));
    return true;
}

bool tb_delta_dec_init(tb_delta_dec *d, const uint8_t *p, size_t len)
{
    uint64_t first;
    memset(d, 0, sizeof(*d));
    d->end = p + len;
    if (!delta_header(&p, d->end, &d->block_size, &d->n_mini, &d->total, &first)) {
        d->bad = true;
        return false;
    }
    d->p = p;
    d->per_mini = d->block_size / d->n_mini;
    d->last = first;
    d->mini_idx = d->n_mini; /* no block read yet */
    return true;
}

/* Move to the next miniblock (reading a block header when needed). */
static bool delta_next_mini(tb_delta_dec *d)
{
    uint64_t md;
    if (d->mini_idx >= d->n_mini) {
        if (!tb_uvarint(&d->p, d->end, &md) || (size_t)(d->end - d->p) < d->n_mini) {
            d->bad = true;
            return false;
        }
        d->min_delta = (uint64_t)((int64_t)(md >> 1) ^ -(int64_t)(md & 1));
        memcpy(d->widths, d->p, d->n_mini);
        d->p += d->n_mini;
        d->mini_idx = 0;
    }
    int w = d->widths[d->mini_idx++];
    if (w > 64) {
        d->bad = true;
        return false;
    }
    uint64_t remaining = d->total - d->produced; /* values still to come */
    uint64_t need_vals = TB_MIN(remaining, (uint64_t)d->per_mini);
    size_t full = (size_t)d->per_mini * (size_t)w / 8;
    size_t need = (size_t)((need_vals * (uint64_t)w + 7) / 8);
    size_t avail = (size_t)(d->end - d->p);
    if (need > avail) {
        d->bad = true;
        return false;
    }
    d->mini_w = w;
    d->mini_data = d->p;
    d->mini_len = TB_MIN(full, avail);
    d->mini_bitpos = 0;
    d->mini_left = (uint32_t)need_vals;
    d->p += d->mini_len;
    return true;
}

uint32_t tb_delta_dec_get(tb_delta_dec *d, uint64_t *out, uint32_t n)
{
    uint32_t got = 0;
    if (d->bad)
        return 0;
    if (n > 0 && d->produced == 0 && d->total > 0) {
        out[got++] = d->last;
        d->produced = 1;
    }
    while (got < n && d->produced < d->total) {
        if (d->mini_left == 0 && !delta_next_mini(d))
            break;
        uint32_t k = TB_MIN(d->mini_left, n - got);
        tb_unpack64(d->mini_data, d->mini_len, d->mini_bitpos, d->mini_w, k, out + got);
        d->mini_bitpos += (uint64_t)k * (uint64_t)d->mini_w;
        uint64_t last = d->last, md = d->min_delta;
        for (uint32_t i = 0; i < k; i++) {
            last += out[got + i] + md;
            out[got + i] = last;
        }
        d->last = last;
        d->mini_left -= k;
        d->produced += k;
        got += k;
    }
    return got;
}

bool tb_delta_skip(const uint8_t *p, size_t len, const uint8_t **out_end, uint64_t *out_total)
{
    const uint8_t *end = p + len;
    uint32_t bs, nm;
    uint64_t total, first, md;
    if (!delta_header(&p, end, &bs, &nm, &total, &first))
        return false;
    uint32_t per = bs / nm;
    uint64_t left = total > 0 ? total - 1 : 0;
    while (left > 0) {
        if (!tb_uvarint(&p, end, &md) || (size_t)(end - p) < nm)
            return false;
        const uint8_t *widths = p;
        p += nm;
        for (uint32_t m = 0; m < nm && left > 0; m++) {
            if (widths[m] > 64)
                return false;
            uint64_t k = TB_MIN(left, (uint64_t)per);
            size_t full = (size_t)per * widths[m] / 8;
            size_t need = (size_t)((k * widths[m] + 7) / 8);
            size_t avail = (size_t)(end - p);
            if (need > avail)
                return false;
            p += TB_MIN(full, avail);
            left -= k;
        }
    }
    *out_end = p;
    *out_total = total;
    return true;
}

tb_rc tb_delta_encode(const int64_t *vals, size_t n, bool is32, tb_buf *out)
{
    enum { BLOCK = 128, NMINI = 4, PER = 32 };
    uint64_t deltas[BLOCK];

    if (put_varint(out, BLOCK) || put_varint(out, NMINI) || put_varint(out, n) ||
        put_varint(out, zz(n > 0 ? vals[0] : 0)))
        return TB_E_NOMEM;
    size_t i = 1;
    while (i < n) {
        size_t k = TB_MIN((size_t)BLOCK, n - i);
        int64_t min_d = INT64_MAX;
        for (size_t j = 0; j < k; j++) {
            int64_t dlt;
            if (is32)
                dlt = (int32_t)((uint32_t)vals[i + j] - (uint32_t)vals[i + j - 1]);
            else
                dlt = (int64_t)((uint64_t)vals[i + j] - (uint64_t)vals[i + j - 1]);
            deltas[j] = (uint64_t)dlt;
            if (dlt < min_d)
                min_d = dlt;
        }
        if (put_varint(out, zz(min_d)))
            return TB_E_NOMEM;
        uint8_t widths[NMINI] = {0};
        for (size_t j = 0; j < k; j++) {
            deltas[j] -= (uint64_t)min_d;
            if (is32)
                deltas[j] &= 0xffffffffu;
        }
        size_t n_used = (k + PER - 1) / PER;
        for (size_t m = 0; m < n_used; m++) {
            uint64_t mx = 0;
            for (size_t j = m * PER; j < TB_MIN(k, (m + 1) * PER); j++)
                mx |= deltas[j];
            widths[m] = (uint8_t)tb_bit_width(mx);
        }
        if (tb_buf_append(out, widths, NMINI))
            return TB_E_NOMEM;
        for (size_t m = 0; m < n_used; m++) {
            int w = widths[m];
            size_t nbytes = (size_t)PER * (size_t)w / 8;
            if (tb_buf_reserve(out, nbytes))
                return TB_E_NOMEM;
            uint8_t *dst = (uint8_t *)out->data + out->len;
            memset(dst, 0, nbytes);
            uint64_t bitpos = 0;
            for (size_t j = 0; j < PER; j++, bitpos += (uint64_t)w) {
                uint64_t v = m * PER + j < k ? deltas[m * PER + j] : 0;
                for (int b = 0; b < w;) {
                    size_t byte = (size_t)((bitpos + (uint64_t)b) >> 3);
                    int off = (int)((bitpos + (uint64_t)b) & 7);
                    int take = TB_MIN(8 - off, w - b);
                    dst[byte] |= (uint8_t)(((v >> b) & ((1u << take) - 1)) << off);
                    b += take;
                }
            }
            out->len += nbytes;
        }
        i += k;
    }
    return TB_OK;
}
