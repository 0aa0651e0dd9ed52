/*
 * thrift.c - Thrift compact protocol reader and writer (see thrift.h).
 *
 * Invariants (reader): r->p never moves past r->end; every multi-byte read checks the
 * remaining length first; recursion (skip) and struct nesting are bounded by
 * TB_THRIFT_MAX_DEPTH. Once failed, a reader stays failed and returns zeros.
 * Invariants (writer): the first failure is kept in w->rc and later calls are no-ops.
 */
#include "format/thrift.h"

#include <string.h>

/* ---------------------------------------------------------------- reader */

void tb_thrift_reader_init(tb_thrift_reader *r, const void *data, size_t len)
{
    memset(r, 0, sizeof(*r));
    r->start = data;
    r->p = data;
    r->end = r->start + len;
}

bool tb_thrift_fail(tb_thrift_reader *r, const char *why)
{
    if (!r->failed) {
        r->failed = true;
        r->why = why;
    }
    return false;
}

static bool need(tb_thrift_reader *r, size_t n)
{
    if (r->failed)
        return false;
    if ((size_t)(r->end - r->p) < n) {
        r->truncated = true;
        return tb_thrift_fail(r, "truncated thrift data");
    }
    return true;
}

uint64_t tb_thrift_read_varint(tb_thrift_reader *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (!need(r, 1))
            return 0;
        uint8_t b = *r->p++;
        if (shift == 63 && (b & 0x7e) != 0) {
            tb_thrift_fail(r, "varint overflow");
            return 0;
        }
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0)
            return v;
    }
    tb_thrift_fail(r, "varint too long");
    return 0;
}

int8_t tb_thrift_read_byte(tb_thrift_reader *r)
{
    if (!need(r, 1))
        return 0;
    return (int8_t)*r->p++;
}

int16_t tb_thrift_read_i16(tb_thrift_reader *r)
{
    int64_t v = tb_zigzag_dec(tb_thrift_read_varint(r));
    if (v < INT16_MIN || v > INT16_MAX) {
        tb_thrift_fail(r, "i16 out of range");
        return 0;
    }
    return (int16_t)v;
}

int32_t tb_thrift_read_i32(tb_thrift_reader *r)
{
    int64_t v = tb_zigzag_dec(tb_thrift_read_varint(r));
    if (v < INT32_MIN || v > INT32_MAX) {
        tb_thrift_fail(r, "i32 out of range");
        return 0;
    }
    return (int32_t)v;
}

int64_t tb_thrift_read_i64(tb_thrift_reader *r) { return tb_zigzag_dec(tb_thrift_read_varint(r)); }

double tb_thrift_read_double(tb_thrift_reader *r)
{
    uint64_t u = 0;
    double d;
    if (!need(r, 8))
        return 0;
    for (int i = 7; i >= 0; i--)
        u = (u << 8) | r->p[i];
    r->p += 8;
    memcpy(&d, &u, sizeof(d));
    return d;
}

bool tb_thrift_read_bool(tb_thrift_reader *r, uint8_t type)
{
    if (type == TB_CT_BOOL_TRUE)
        return true;
    if (type == TB_CT_BOOL_FALSE)
        return false;
    return tb_thrift_read_byte(r) == 1;
}

bool tb_thrift_read_binary(tb_thrift_reader *r, const uint8_t **out_p, uint32_t *out_len)
{
    uint64_t n = tb_thrift_read_varint(r);
    *out_p = NULL;
    *out_len = 0;
    if (r->failed)
        return false;
    if (n > UINT32_MAX)
        return tb_thrift_fail(r, "binary length too large");
    if (!need(r, (size_t)n))
        return false;
    *out_p = r->p;
    *out_len = (uint32_t)n;
    r->p += n;
    return true;
}

bool tb_thrift_struct_begin(tb_thrift_reader *r)
{
    if (r->failed)
        return false;
    if (r->depth >= TB_THRIFT_MAX_DEPTH)
        return tb_thrift_fail(r, "thrift nesting too deep");
    r->last_id[r->depth++] = 0;
    return true;
}

void tb_thrift_struct_end(tb_thrift_reader *r)
{
    if (r->depth > 0)
        r->depth--;
}

bool tb_thrift_field(tb_thrift_reader *r, int16_t *out_id, uint8_t *out_type)
{
    *out_id = 0;
    *out_type = TB_CT_STOP;
    if (!need(r, 1))
        return false;
    if (r->depth <= 0)
        return tb_thrift_fail(r, "thrift field outside a struct");
    uint8_t b = *r->p++;
    uint8_t type = b & 0x0f;
    if (type == TB_CT_STOP)
        return false;
    if (type > TB_CT_STRUCT)
        return tb_thrift_fail(r, "bad thrift field type");
    int16_t id;
    uint8_t delta = b >> 4;
    if (delta != 0) {
        int32_t v = (int32_t)r->last_id[r->depth - 1] + delta;
        if (v > INT16_MAX)
            return tb_thrift_fail(r, "thrift field id overflow");
        id = (int16_t)v;
    } else {
        id = tb_thrift_read_i16(r);
        if (r->failed)
            return false;
    }
    r->last_id[r->depth - 1] = id;
    *out_id = id;
    *out_type = type;
    return true;
}

bool tb_thrift_list_begin(tb_thrift_reader *r, uint8_t *out_elem_type, uint32_t *out_n)
{
    *out_elem_type = 0;
    *out_n = 0;
    if (!need(r, 1))
        return false;
    uint8_t b = *r->p++;
    uint64_t n = b >> 4;
    if (n == 15) {
        n = tb_thrift_read_varint(r);
        if (r->failed)
            return false;
    }
    uint8_t et = b & 0x0f;
    if (et == TB_CT_BOOL_FALSE)
        et = TB_CT_BOOL_TRUE; /* a bool element type, whichever id the writer used */
    if (et > TB_CT_STRUCT || (et == TB_CT_STOP && n > 0))
        return tb_thrift_fail(r, "bad thrift list element type");
    if (n > (uint64_t)(r->end - r->p)) {
        r->truncated = true;
        return tb_thrift_fail(r, "thrift list longer than its data");
    }
    *out_elem_type = et;
    *out_n = (uint32_t)n;
    return true;
}

bool tb_thrift_map_begin(tb_thrift_reader *r, uint8_t *out_key_type, uint8_t *out_val_type,
                         uint32_t *out_n)
{
    *out_key_type = 0;
    *out_val_type = 0;
    *out_n = 0;
    uint64_t n = tb_thrift_read_varint(r);
    if (r->failed)
        return false;
    if (n == 0)
        return true;
    if (n > (uint64_t)(r->end - r->p) / 2 + 1) {
        r->truncated = true;
        return tb_thrift_fail(r, "thrift map longer than its data");
    }
    if (!need(r, 1))
        return false;
    uint8_t b = *r->p++;
    uint8_t kt = b >> 4, vt = b & 0x0f;
    if (kt == TB_CT_BOOL_FALSE)
        kt = TB_CT_BOOL_TRUE;
    if (vt == TB_CT_BOOL_FALSE)
        vt = TB_CT_BOOL_TRUE;
    if (kt == TB_CT_STOP || kt > TB_CT_STRUCT || vt == TB_CT_STOP || vt > TB_CT_STRUCT)
        return tb_thrift_fail(r, "bad thrift map element type");
    *out_key_type = kt;
    *out_val_type = vt;
    *out_n = (uint32_t)n;
    return true;
}

/* Skip a value; `elem` is true for collection elements, where a bool takes a byte. */
static bool skip_value(tb_thrift_reader *r, uint8_t type, bool elem)
{
    const uint8_t *p;
    uint32_t n;
    uint8_t et, kt, vt;
    int16_t id;

    if (r->failed)
        return false;
    switch (type) {
    case TB_CT_BOOL_TRUE:
    case TB_CT_BOOL_FALSE:
        if (elem)
            (void)tb_thrift_read_byte(r);
        break;
    case TB_CT_BYTE:
        (void)tb_thrift_read_byte(r);
        break;
    case TB_CT_I16:
    case TB_CT_I32:
    case TB_CT_I64:
        (void)tb_thrift_read_varint(r);
        break;
    case TB_CT_DOUBLE:
        if (need(r, 8))
            r->p += 8;
        break;
    case TB_CT_BINARY:
        (void)tb_thrift_read_binary(r, &p, &n);
        break;
    case TB_CT_LIST:
    case TB_CT_SET:
        if (r->depth >= TB_THRIFT_MAX_DEPTH)
            return tb_thrift_fail(r, "thrift nesting too deep");
        if (!tb_thrift_list_begin(r, &et, &n))
            return false;
        r->depth++; /* count the collection toward the depth bound */
        r->last_id[r->depth - 1] = 0;
        for (uint32_t i = 0; i < n && !r->failed; i++)
            skip_value(r, et, true);
        r->depth--;
        break;
    case TB_CT_MAP:
        if (r->depth >= TB_THRIFT_MAX_DEPTH)
            return tb_thrift_fail(r, "thrift nesting too deep");
        if (!tb_thrift_map_begin(r, &kt, &vt, &n))
            return false;
        r->depth++;
        r->last_id[r->depth - 1] = 0;
        for (uint32_t i = 0; i < n && !r->failed; i++) {
            skip_value(r, kt, true);
            skip_value(r, vt, true);
        }
        r->depth--;
        break;
    case TB_CT_STRUCT:
        if (!tb_thrift_struct_begin(r))
            return false;
        while (tb_thrift_field(r, &id, &et))
            if (!skip_value(r, et, false))
                break;
        tb_thrift_struct_end(r);
        break;
    default:
        return tb_thrift_fail(r, "bad thrift type");
    }
    return !r->failed;
}

bool tb_thrift_skip(tb_thrift_reader *r, uint8_t type) { return skip_value(r, type, false); }

/* ---------------------------------------------------------------- writer */

void tb_thrift_writer_init(tb_thrift_writer *w, tb_buf *buf)
{
    memset(w, 0, sizeof(*w));
    w->buf = buf;
}

static void put(tb_thrift_writer *w, const void *p, size_t n)
{
    if (w->rc != TB_OK)
        return;
    if (tb_buf_append(w->buf, p, n) != TB_OK)
        w->rc = TB_E_NOMEM;
}

static void put1(tb_thrift_writer *w, uint8_t b) { put(w, &b, 1); }

void tb_thrift_write_varint(tb_thrift_writer *w, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    put(w, tmp, n);
}

void tb_thrift_write_byte(tb_thrift_writer *w, int8_t v) { put1(w, (uint8_t)v); }

void tb_thrift_write_i16(tb_thrift_writer *w, int16_t v)
{
    tb_thrift_write_varint(w, tb_zigzag_enc(v));
}

void tb_thrift_write_i32(tb_thrift_writer *w, int32_t v)
{
    tb_thrift_write_varint(w, tb_zigzag_enc(v));
}

void tb_thrift_write_i64(tb_thrift_writer *w, int64_t v)
{
    tb_thrift_write_varint(w, tb_zigzag_enc(v));
}

void tb_thrift_write_double(tb_thrift_writer *w, double v)
{
    uint64_t u;
    uint8_t tmp[8];
    memcpy(&u, &v, sizeof(u));
    for (int i = 0; i < 8; i++)
        tmp[i] = (uint8_t)(u >> (8 * i));
    put(w, tmp, 8);
}

void tb_thrift_write_binary(tb_thrift_writer *w, const void *p, size_t n)
{
    tb_thrift_write_varint(w, n);
    if (n > 0)
        put(w, p, n);
}

void tb_thrift_write_bool_elem(tb_thrift_writer *w, bool v)
{
    put1(w, v ? TB_CT_BOOL_TRUE : TB_CT_BOOL_FALSE);
}

void tb_thrift_write_struct_begin(tb_thrift_writer *w)
{
    if (w->rc != TB_OK)
        return;
    if (w->depth >= TB_THRIFT_MAX_DEPTH) {
        w->rc = TB_E_MISUSE;
        return;
    }
    w->last_id[w->depth++] = 0;
}

void tb_thrift_write_struct_end(tb_thrift_writer *w)
{
    if (w->rc != TB_OK)
        return;
    if (w->depth <= 0) {
        w->rc = TB_E_MISUSE;
        return;
    }
    put1(w, TB_CT_STOP);
    w->depth--;
}

static void field_header(tb_thrift_writer *w, uint8_t type, int16_t id)
{
    if (w->rc != TB_OK)
        return;
    if (w->depth <= 0) {
        w->rc = TB_E_MISUSE;
        return;
    }
    int16_t last = w->last_id[w->depth - 1];
    int32_t delta = (int32_t)id - last;
    if (delta > 0 && delta <= 15) {
        put1(w, (uint8_t)((delta << 4) | type));
    } else {
        put1(w, type);
        tb_thrift_write_i16(w, id);
    }
    w->last_id[w->depth - 1] = id;
}

void tb_thrift_write_field_begin(tb_thrift_writer *w, uint8_t type, int16_t id)
{
    field_header(w, type, id);
}

void tb_thrift_write_field_bool(tb_thrift_writer *w, int16_t id, bool v)
{
    field_header(w, v ? TB_CT_BOOL_TRUE : TB_CT_BOOL_FALSE, id);
}

void tb_thrift_write_field_i32(tb_thrift_writer *w, int16_t id, int32_t v)
{
    field_header(w, TB_CT_I32, id);
    tb_thrift_write_i32(w, v);
}

void tb_thrift_write_field_i64(tb_thrift_writer *w, int16_t id, int64_t v)
{
    field_header(w, TB_CT_I64, id);
    tb_thrift_write_i64(w, v);
}

void tb_thrift_write_field_binary(tb_thrift_writer *w, int16_t id, const void *p, size_t n)
{
    field_header(w, TB_CT_BINARY, id);
    tb_thrift_write_binary(w, p, n);
}

void tb_thrift_write_field_string(tb_thrift_writer *w, int16_t id, const char *s)
{
    tb_thrift_write_field_binary(w, id, s, strlen(s));
}

void tb_thrift_write_field_double(tb_thrift_writer *w, int16_t id, double v)
{
    field_header(w, TB_CT_DOUBLE, id);
    tb_thrift_write_double(w, v);
}

void tb_thrift_write_list_begin(tb_thrift_writer *w, uint8_t elem_type, uint32_t n)
{
    if (n < 15) {
        put1(w, (uint8_t)((n << 4) | elem_type));
    } else {
        put1(w, (uint8_t)(0xf0 | elem_type));
        tb_thrift_write_varint(w, n);
    }
}

void tb_thrift_write_map_begin(tb_thrift_writer *w, uint8_t key_type, uint8_t val_type, uint32_t n)
{
    tb_thrift_write_varint(w, n);
    if (n > 0)
        put1(w, (uint8_t)((key_type << 4) | val_type));
}
