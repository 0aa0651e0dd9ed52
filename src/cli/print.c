/*
 * print.c - result rendering for the CLI: psql-like aligned tables, RFC 4180 CSV
 * (header line, NULL as an empty field), and JSON lines (one object per row).
 *
 * Table output needs every row to size the columns, so it buffers the rendered text of
 * the result; csv and json stream row by row.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"

int tb_cli_parse_format(const char *s, tb_cli_format *out)
{
    if (strcmp(s, "table") == 0)
        *out = TB_FMT_TABLE;
    else if (strcmp(s, "csv") == 0)
        *out = TB_FMT_CSV;
    else if (strcmp(s, "json") == 0)
        *out = TB_FMT_JSON;
    else
        return -1;
    return 0;
}

static void csv_field(FILE *fp, const char *s)
{
    if (s == NULL)
        return;
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, fp);
        return;
    }
    fputc('"', fp);
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '"')
            fputc('"', fp);
        fputc(*p, fp);
    }
    fputc('"', fp);
}

static void json_string(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", fp);
            break;
        case '\\':
            fputs("\\\\", fp);
            break;
        case '\n':
            fputs("\\n", fp);
            break;
        case '\r':
            fputs("\\r", fp);
            break;
        case '\t':
            fputs("\\t", fp);
            break;
        default:
            if (*p < 0x20)
                fprintf(fp, "\\u%04x", *p);
            else
                fputc(*p, fp);
        }
    }
    fputc('"', fp);
}

static int is_json_number_type(const char *type)
{
    return strcmp(type, "smallint") == 0 || strcmp(type, "integer") == 0 ||
           strcmp(type, "bigint") == 0 || strncmp(type, "numeric", 7) == 0;
}

static int is_right_aligned(const char *type)
{
    return is_json_number_type(type) || strcmp(type, "real") == 0 ||
           strcmp(type, "double precision") == 0;
}

/* UTF-8 aware display width (code points; good enough for aligned output). */
static size_t display_width(const char *s)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if ((*p & 0xC0) != 0x80)
            w++;
    return w;
}

static void pad(FILE *fp, size_t n)
{
    while (n-- > 0)
        fputc(' ', fp);
}

typedef struct cells {
    char **v;
    size_t n, cap;
} cells;

static int cells_push(cells *c, const char *s)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        char **v = realloc(c->v, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n] = strdup(s != NULL ? s : "");
    if (c->v[c->n] == NULL)
        return -1;
    c->n++;
    return 0;
}

static void cells_free(cells *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i]);
    free(c->v);
}

static tb_rc print_table(tb_result *res, FILE *fp)
{
    int nc = tb_result_column_count(res);
    cells c = {0};
    tb_rc rc = TB_OK;
    size_t *width = calloc((size_t)(nc > 0 ? nc : 1), sizeof(size_t));
    if (width == NULL)
        return TB_E_NOMEM;
    for (int j = 0; j < nc; j++)
        width[j] = display_width(tb_result_column_name(res, j));
    size_t rows = 0;
    for (;;) {
        int has = 0;
        rc = tb_result_step(res, &has);
        if (rc != TB_OK || !has)
            break;
        for (int j = 0; j < nc; j++) {
            const char *t = tb_result_text(res, j);
            if (cells_push(&c, t) != 0) {
                rc = TB_E_NOMEM;
                goto done;
            }
            size_t w = display_width(c.v[c.n - 1]);
            if (w > width[j])
                width[j] = w;
        }
        rows++;
    }
    if (rc != TB_OK)
        goto done;
    /* Header: names centred, as psql does. */
    for (int j = 0; j < nc; j++) {
        const char *name = tb_result_column_name(res, j);
        size_t w = display_width(name), left = (width[j] - w) / 2;
        fputs(j == 0 ? " " : " | ", fp);
        pad(fp, left);
        fputs(name, fp);
        pad(fp, width[j] - w - left);
    }
    fputs(" \n", fp);
    for (int j = 0; j < nc; j++) {
        fputs(j == 0 ? "-" : "-+-", fp);
        for (size_t k = 0; k < width[j]; k++)
            fputc('-', fp);
    }
    fputs("-\n", fp);
    for (size_t r = 0; r < rows; r++) {
        for (int j = 0; j < nc; j++) {
            const char *s = c.v[r * (size_t)nc + (size_t)j];
            size_t w = display_width(s);
            fputs(j == 0 ? " " : " | ", fp);
            if (is_right_aligned(tb_result_column_type(res, j))) {
                pad(fp, width[j] - w);
                fputs(s, fp);
            } else {
                fputs(s, fp);
                if (j + 1 < nc)
                    pad(fp, width[j] - w);
            }
        }
        fputs("\n", fp);
    }
    fprintf(fp, "(%zu row%s)\n", rows, rows == 1 ? "" : "s");
done:
    cells_free(&c);
    free(width);
    return rc;
}

tb_rc tb_cli_print_result(tb_result *res, tb_cli_format fmt, FILE *fp)
{
    if (fmt == TB_FMT_TABLE)
        return print_table(res, fp);
    int nc = tb_result_column_count(res);
    if (fmt == TB_FMT_CSV) {
        for (int j = 0; j < nc; j++) {
            if (j > 0)
                fputc(',', fp);
            csv_field(fp, tb_result_column_name(res, j));
        }
        fputc('\n', fp);
    }
    for (;;) {
        int has = 0;
        tb_rc rc = tb_result_step(res, &has);
        if (rc != TB_OK)
            return rc;
        if (!has)
            return TB_OK;
        if (fmt == TB_FMT_JSON)
            fputc('{', fp);
        for (int j = 0; j < nc; j++) {
            const char *t = tb_result_text(res, j);
            if (fmt == TB_FMT_CSV) {
                if (j > 0)
                    fputc(',', fp);
                csv_field(fp, t);
                continue;
            }
            if (j > 0)
                fputc(',', fp);
            json_string(fp, tb_result_column_name(res, j));
            fputc(':', fp);
            tb_value_type vt = tb_result_type(res, j);
            const char *type = tb_result_column_type(res, j);
            if (t == NULL)
                fputs("null", fp);
            else if (vt == TB_VT_BOOL)
                fputs(t, fp);
            else if ((vt == TB_VT_INT || is_json_number_type(type)) && t[0] != '\0')
                fputs(t, fp);
            else if (vt == TB_VT_DOUBLE && strpbrk(t, "IN") == NULL) /* not Infinity/NaN */
                fputs(t, fp);
            else
                json_string(fp, t);
        }
        fputs(fmt == TB_FMT_JSON ? "}\n" : "\n", fp);
    }
}

void tb_cli_print_error(tb_db *db, const char *sql, FILE *fp)
{
    fprintf(fp, "ERROR:  %s\n", tb_db_errmsg(db));
    int pos = tb_db_errpos(db);
    if (sql == NULL || pos < 0 || (size_t)pos > strlen(sql))
        return;
    /* Find the line holding pos and draw a caret under it (psql's LINE n: form). */
    int line_no = 1;
    const char *line = sql;
    for (const char *p = sql; p < sql + pos; p++) {
        if (*p == '\n') {
            line_no++;
            line = p + 1;
        }
    }
    const char *end = strchr(line, '\n');
    int len = end != NULL ? (int)(end - line) : (int)strlen(line);
    char prefix[32];
    int plen = snprintf(prefix, sizeof(prefix), "LINE %d: ", line_no);
    fprintf(fp, "%s%.*s\n", prefix, len, line);
    int col = (int)display_width("") + plen;
    for (const char *p = line; p < sql + pos; p++)
        if ((*p & 0xC0) != 0x80)
            col++;
    fprintf(fp, "%*s^\n", col, "");
}

/* Does the last statement of sql start with COPY? (psql then prints "COPY n".) Quotes
 * and comments are skipped; a ';' inside them does not end a statement. */
static bool last_is_copy(const char *sql)
{
    const char *start = sql, *p = sql;
    while (*p != '\0') {
        if (*p == '\'' || *p == '"') {
            char q = *p++;
            while (*p != '\0' && *p != q)
                p++;
            if (*p != '\0')
                p++;
        } else if (p[0] == '-' && p[1] == '-') {
            while (*p != '\0' && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            p = e != NULL ? e + 2 : p + strlen(p);
        } else if (*p == ';') {
            const char *q = ++p;
            while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
                q++;
            if (*q != '\0')
                start = p; /* a statement follows */
        } else {
            p++;
        }
    }
    for (;;) {
        while (*start == ' ' || *start == '\t' || *start == '\n' || *start == '\r')
            start++;
        if (start[0] == '-' && start[1] == '-') {
            while (*start != '\0' && *start != '\n')
                start++;
        } else if (start[0] == '/' && start[1] == '*') {
            const char *e = strstr(start + 2, "*/");
            start = e != NULL ? e + 2 : start + strlen(start);
        } else {
            break;
        }
    }
    return strncasecmp(start, "copy", 4) == 0 &&
           (start[4] == ' ' || start[4] == '\t' || start[4] == '\n' || start[4] == '\r' ||
            start[4] == '(');
}

int tb_cli_exec_print(tb_db *db, const char *sql, tb_cli_format fmt, FILE *fp)
{
    tb_result *res = NULL;
    tb_rc rc = tb_db_exec(db, sql, &res);
    if (rc != TB_OK) {
        tb_cli_print_error(db, sql, stderr);
        return 1;
    }
    if (res == NULL)
        return 0;
    if (tb_result_column_count(res) == 0) {
        int64_t n = tb_result_changes(res);
        if (n >= 0 && fmt == TB_FMT_TABLE && last_is_copy(sql))
            fprintf(fp, "COPY %lld\n", (long long)n);
        else if (n >= 0 && fmt == TB_FMT_TABLE)
            fprintf(fp, "%lld row%s\n", (long long)n, n == 1 ? "" : "s");
        tb_result_free(&res);
        return 0;
    }
    rc = tb_cli_print_result(res, fmt, fp);
    tb_result_free(&res);
    if (rc != TB_OK) {
        tb_cli_print_error(db, sql, stderr);
        return 1;
    }
    return 0;
}
