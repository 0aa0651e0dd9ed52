/*
 * error.c - parsing with libpg_query (errors mapped to byte positions) and psql-style
 * rendering of SQL errors (tb_sql_format_error), status code names (tb_errstr).
 *
 * libpg_query reports the cursor position of a syntax error as a 1-based character
 * index; tb_err.pos is a 0-based byte offset, so the index is walked over UTF-8.
 */
#include <stdio.h>
#include <string.h>

#include "sql/sql_int.h"

/* Byte offset of the (1-based) character index cursorpos in s. */
static int char_to_byte(const char *s, int cursorpos)
{
    int chars = 0;
    size_t i = 0, n = strlen(s);
    if (cursorpos <= 1)
        return 0;
    while (i < n && chars < cursorpos - 1) {
        unsigned char c = (unsigned char)s[i];
        size_t w = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
        i += w;
        chars++;
    }
    return (int)(i > n ? n : i);
}

tb_rc tb_sql_parse(const char *sql, PgQuery__ParseResult **out, tb_err *err)
{
    *out = NULL;
    PgQueryProtobufParseResult r = pg_query_parse_protobuf(sql);
    if (r.error != NULL) {
        TB_ERRF(err, TB_E_SQL, "%s", r.error->message ? r.error->message : "syntax error");
        if (err != NULL)
            err->pos = r.error->cursorpos > 0 ? char_to_byte(sql, r.error->cursorpos) : -1;
        pg_query_free_protobuf_parse_result(r);
        return TB_E_SQL;
    }
    PgQuery__ParseResult *pr =
        pg_query__parse_result__unpack(NULL, r.parse_tree.len, (const uint8_t *)r.parse_tree.data);
    pg_query_free_protobuf_parse_result(r);
    if (pr == NULL)
        return TB_ERRF(err, TB_E_NOMEM, "out of memory unpacking the parse tree");
    *out = pr;
    return TB_OK;
}

void tb_sql_parse_free(PgQuery__ParseResult *pr)
{
    if (pr != NULL)
        pg_query__parse_result__free_unpacked(pr, NULL);
}

tb_rc tb_sql_format_error(const char *sql, const tb_err *err, tb_buf *out)
{
    tb_rc rc = tb_buf_printf(out, "ERROR:  %s\n", err->msg[0] ? err->msg : tb_errstr(err->code));
    if (rc != TB_OK || sql == NULL || err->pos < 0)
        return rc;
    size_t n = strlen(sql);
    size_t pos = (size_t)err->pos;
    if (pos > n)
        return TB_OK;
    /* line number and line bounds */
    int line = 1;
    size_t start = 0;
    for (size_t i = 0; i < pos; i++) {
        if (sql[i] == '\n') {
            line++;
            start = i + 1;
        }
    }
    size_t end = pos;
    while (end < n && sql[end] != '\n' && sql[end] != '\r')
        end++;
    /* cut long lines around the position, as psql does ("..." markers) */
    size_t from = start, to = end;
    bool pre = false, post = false;
    if (pos - from > 60) {
        from = pos - 40;
        while (from > start && ((unsigned char)sql[from] & 0xC0) == 0x80)
            from--;
        pre = true;
    }
    if (to - from > 100) {
        to = from + 100 > pos + 20 ? from + 100 : pos + 20;
        if (to > end)
            to = end;
        while (to < end && ((unsigned char)sql[to] & 0xC0) == 0x80)
            to++;
        post = to < end;
    }
    char prefix[32];
    int plen = snprintf(prefix, sizeof(prefix), "LINE %d: ", line);
    rc = tb_buf_puts(out, prefix);
    if (rc == TB_OK && pre)
        rc = tb_buf_puts(out, "...");
    if (rc == TB_OK)
        rc = tb_buf_append(out, sql + from, to - from);
    if (rc == TB_OK && post)
        rc = tb_buf_puts(out, "...");
    if (rc == TB_OK)
        rc = tb_buf_putc(out, '\n');
    /* caret: one column per character (tabs kept so the caret lines up) */
    size_t cols = (size_t)plen + (pre ? 3 : 0);
    for (size_t i = 0; rc == TB_OK && i < cols; i++)
        rc = tb_buf_putc(out, ' ');
    for (size_t i = from; rc == TB_OK && i < pos; i++) {
        if (((unsigned char)sql[i] & 0xC0) == 0x80)
            continue;
        rc = tb_buf_putc(out, sql[i] == '\t' ? '\t' : ' ');
    }
    if (rc == TB_OK)
        rc = tb_buf_puts(out, "^\n");
    return rc;
}

const char *tb_errstr(tb_rc rc)
{
    switch (rc) {
    case TB_OK:
        return "ok";
    case TB_E_ERROR:
        return "error";
    case TB_E_NOMEM:
        return "out of memory";
    case TB_E_IO:
        return "I/O error";
    case TB_E_PARSE:
        return "malformed input";
    case TB_E_SQL:
        return "SQL error";
    case TB_E_TYPE:
        return "type mismatch";
    case TB_E_NOTFOUND:
        return "not found";
    case TB_E_MISUSE:
        return "API misuse";
    case TB_E_CORRUPT:
        return "corrupt data";
    case TB_E_UNSUPPORTED:
        return "not supported";
    case TB_E_LIMIT:
        return "limit exceeded";
    case TB_E_RANGE:
        return "value out of range";
    case TB_E_CONFLICT:
        return "conflict";
    case TB_E_INTERRUPT:
        return "interrupted";
    case TB_E_EXISTS:
        return "already exists";
    }
    return "unknown error";
}
