/*
 * csv_write.c - CSV writer (COPY TO, the CSV file sink): RFC 4180 with LF line ends.
 *
 * What the reader (csv.c) reads back exactly: NULL is an empty unquoted field, the empty
 * string is "" (quoted), a value is quoted only when it holds the delimiter, a quote, CR
 * or LF (quotes doubled). Values are rendered as tb_value_format does (PostgreSQL text
 * forms), with direct paths for integers and strings since they dominate sink output.
 */
#include <string.h>

#include "format/csv.h"

static bool needs_quotes(const char *p, size_t n)
{
    size_t i;

    if (n == 0)
        return true;
    for (i = 0; i < n; i++) {
        char c = p[i];
        if (c == ',' || c == '"' || c == '\n' || c == '\r')
            return true;
    }
    return false;
}

static tb_rc put_field(tb_buf *buf, const char *p, size_t n)
{
    tb_rc rc;
    const char *q;

    if (!needs_quotes(p, n))
        return tb_buf_append(buf, p, n);
    rc = tb_buf_reserve(buf, n + 2);
    if (rc != TB_OK)
        return rc;
    buf->data[buf->len++] = '"';
    while ((q = memchr(p, '"', n)) != NULL) {
        size_t k = (size_t)(q - p) + 1;
        rc = tb_buf_append(buf, p, k); /* through the quote, then double it */
        if (rc == TB_OK)
            rc = tb_buf_putc(buf, '"');
        if (rc != TB_OK)
            return rc;
        p += k;
        n -= k;
    }
    rc = tb_buf_append(buf, p, n);
    if (rc == TB_OK)
        rc = tb_buf_putc(buf, '"');
    return rc;
}

tb_rc tb_csv_write_header(const tb_schema *schema, tb_buf *buf)
{
    uint32_t i;
    tb_rc rc = TB_OK;

    for (i = 0; i < schema->n && rc == TB_OK; i++) {
        if (i > 0)
            rc = tb_buf_putc(buf, ',');
        if (rc == TB_OK)
            rc = put_field(buf, schema->fields[i].name, strlen(schema->fields[i].name));
    }
    if (rc == TB_OK)
        rc = tb_buf_putc(buf, '\n');
    return rc;
}

static tb_rc put_int(tb_buf *buf, int64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--p = '-';
    return tb_buf_append(buf, p, (size_t)(tmp + sizeof(tmp) - p));
}

tb_rc tb_csv_write_batch(const tb_batch *batch, tb_buf *buf, tb_err *err)
{
    uint32_t r, c;
    tb_rc rc = TB_OK;
    tb_buf tmp = {0};

    if (batch == NULL || buf == NULL)
        return TB_ERRF(err, TB_E_MISUSE, "csv: NULL argument");
    for (r = 0; r < batch->n_rows && rc == TB_OK; r++) {
        for (c = 0; c < batch->n_cols && rc == TB_OK; c++) {
            const tb_vec *v = &batch->cols[c];
            if (c > 0 && (rc = tb_buf_putc(buf, ',')) != TB_OK)
                break;
            if (v->type.id == TB_T_NULL || tb_vec_is_null(v, r))
                continue;
            switch ((tb_type_id)v->type.id) {
            case TB_T_INT16:
                rc = put_int(buf, TB_VEC_PTR(v, int16_t)[r]);
                break;
            case TB_T_INT32:
                rc = put_int(buf, TB_VEC_PTR(v, int32_t)[r]);
                break;
            case TB_T_INT64:
                rc = put_int(buf, TB_VEC_PTR(v, int64_t)[r]);
                break;
            case TB_T_STRING: {
                const tb_str *s = &TB_VEC_PTR(v, tb_str)[r];
                rc = put_field(buf, s->ptr != NULL ? s->ptr : "", s->len);
                break;
            }
            default: {
                tb_value val;
                tb_vec_get(v, r, &val);
                tmp.len = 0;
                rc = tb_value_format(&val, &tmp);
                if (rc == TB_OK)
                    rc = put_field(buf, tmp.data != NULL ? tmp.data : "", tmp.len);
                break;
            }
            }
        }
        if (rc == TB_OK)
            rc = tb_buf_putc(buf, '\n');
    }
    tb_buf_free(&tmp);
    if (rc != TB_OK)
        return rc == TB_E_NOMEM ? tb_err_nomem(err) : TB_ERRF(err, rc, "csv: write failed");
    return TB_OK;
}
