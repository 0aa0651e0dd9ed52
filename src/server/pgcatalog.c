/*
 * pgcatalog.c - what PostgreSQL clients ask about the server beyond SQL over our
 * tables: psql's \d / \dt catalog queries, JDBC's metadata queries, version(),
 * current_setting(), current_schema() and friends.
 *
 * Tributary has no pg_catalog. Rather than emulate PostgreSQL's catalog tables and
 * the operators and functions the clients' queries use (OPERATOR(pg_catalog.~),
 * regclass casts, pg_table_is_visible...), the known client queries are recognised by
 * their distinctive text and answered from our catalog, with the columns the client
 * reads. Any other query over a pg_* relation or information_schema gets an empty
 * result (a driver probing for optional features then sees "none"), never an error
 * that would abort the client's connection set-up. The relation oids are 16384 + the
 * entry's position in the catalog, stable while the catalog does not change.
 */
#include <stdio.h>
#include <ctype.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv_int.h"

#define REL_OID_BASE 16384

/* Case-insensitive strstr. */
static const char *find_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; *p != '\0'; p++)
        if (tb_str_nieq(p, n, needle))
            return p;
    return NULL;
}

typedef struct rel {
    char *name;
    char kind; /* 'r' table, 'v' view */
} rel;

static void rels_free(rel *rels, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tb_free(rels[i].name);
    tb_free(rels);
}

/* The catalog's relations (caller holds the read lock). */
static tb_rc list_rels(tb_db *db, rel **out, size_t *out_n)
{
    tb_strlist names = {0};
    tb_rc rc = tb_catalog_names(db, &names);
    rel *rels = tb_calloc(names.n + 1, sizeof(rel));
    if (rc != TB_OK || rels == NULL) {
        tb_strlist_free(&names);
        tb_free(rels);
        return TB_E_NOMEM;
    }
    for (size_t i = 0; i < names.n; i++) {
        tb_catalog_info info;
        tb_err e;
        tb_err_clear(&e);
        rels[i].kind = 'r';
        if (tb_catalog_lookup(db, names.items[i], &info, &e) == TB_OK &&
            info.kind == TB_CAT_VIEW)
            rels[i].kind = 'v';
        rels[i].name = names.items[i];
        names.items[i] = NULL;
    }
    *out_n = names.n;
    *out = rels;
    tb_strlist_free(&names);
    return TB_OK;
}

/* The text of `'...'` after `key` in sql (heap), or NULL. */
static char *quoted_after(const char *sql, const char *key)
{
    const char *p = find_ci(sql, key);
    if (p == NULL)
        return NULL;
    p += strlen(key);
    while (*p == ' ')
        p++;
    if (*p != '\'')
        return NULL;
    p++;
    tb_buf b = {0};
    while (*p != '\0') {
        if (*p == '\'' && p[1] == '\'') {
            (void)tb_buf_putc(&b, '\'');
            p += 2;
        } else if (*p == '\'') {
            break;
        } else {
            (void)tb_buf_putc(&b, *p++);
        }
    }
    if (tb_buf_cstr(&b) == NULL)
        return NULL;
    return b.data;
}

/* Does name match the regular expression psql sent (e.g. '^(sal.*)$')? NULL matches. */
static bool name_matches(const regex_t *re, const char *name)
{
    return re == NULL || regexec(re, name, 0, NULL, 0) == 0;
}

/* SQL LIKE (JDBC patterns: % and _, backslash escapes). */
static bool like(const char *s, const char *p)
{
    for (; *p != '\0'; p++, s++) {
        if (*p == '%') {
            for (const char *t = s;; t++) {
                if (like(t, p + 1))
                    return true;
                if (*t == '\0')
                    return false;
            }
        }
        if (*p == '\\' && p[1] != '\0')
            p++;
        else if (*p == '_') {
            if (*s == '\0')
                return false;
            continue;
        }
        if (*s != *p)
            return false;
    }
    return *s == '\0';
}

static tb_rc add_cols(tb_srv_rows *rows, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (tb_srv_rows_add_col(rows, names[i], tb_type_make(TB_T_STRING)) != TB_OK)
            return TB_E_NOMEM;
    return TB_OK;
}

/* Output columns of relation `name` (a view is planned to find them). */
static tb_rc rel_columns(tb_db *db, const char *name, tb_srv_rows *cols, tb_err *err)
{
    tb_buf q = {0};
    if (tb_buf_printf(&q, "SELECT * FROM \"%s\"", name) != TB_OK)
        return tb_err_nomem(err);
    tb_plan *plan = NULL;
    tb_rc rc = tb_sql_plan_select(db, q.data, NULL, &plan, err);
    for (uint32_t i = 0; rc == TB_OK && i < plan->root->schema->n; i++)
        if (tb_srv_rows_add_col(cols, plan->root->schema->fields[i].name,
                                plan->root->schema->fields[i].type) != TB_OK)
            rc = tb_err_nomem(err);
    tb_plan_free(plan);
    tb_buf_free(&q);
    return rc;
}

/* Is there a pg_* relation (not a function call) or information_schema in sql? */
static bool mentions_catalog(const char *sql)
{
    char quote = 0;
    for (const char *p = sql; *p != '\0'; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
            continue;
        }
        if (*p == '\'' || *p == '"') {
            quote = *p;
            continue;
        }
        if (p != sql && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
            continue;
        if (tb_str_nieq(p, 19, "information_schema."))
            return true;
        if (tb_str_nieq(p, 3, "pg_") && !tb_str_nieq(p, 11, "pg_catalog.")) {
            const char *e = p;
            while (isalnum((unsigned char)*e) || *e == '_')
                e++;
            const char *f = e;
            while (isspace((unsigned char)*f))
                f++;
            if (*f != '(' && *e != '.')
                return true;
            p = e - 1;
        }
    }
    return false;
}

static tb_rc answer(tb_db *db, const tb_srv_session *s, const char *sql, tb_srv_rows *rows,
                    tb_err *err)
{
    rel *rels = NULL;
    size_t n_rels = 0;
    tb_rc rc = list_rels(db, &rels, &n_rels);
    regex_t re;
    bool have_re = false;
    char *pat = NULL;
    if (rc != TB_OK)
        return tb_err_nomem(err);
    const char *user = s->user != NULL ? s->user : "tributary";

    pat = quoted_after(sql, "OPERATOR(pg_catalog.~)");
    if (pat != NULL) {
        if (regcomp(&re, pat, REG_EXTENDED | REG_NOSUB) != 0) {
            rc = TB_ERRF(err, TB_E_SQL, "invalid regular expression: %s", pat);
            goto done;
        }
        have_re = true;
    }

    if (find_ci(sql, "as \"Name\"") != NULL && find_ci(sql, "pg_catalog.pg_class") != NULL) {
        /* psql \d, \dt, \dv: Schema | Name | Type | Owner */
        static const char *const cols[] = {"Schema", "Name", "Type", "Owner"};
        const char *kinds = find_ci(sql, "c.relkind IN (");
        char want[16] = "rv";
        if (kinds != NULL) {
            size_t k = 0;
            for (const char *p = kinds + 14; *p != '\0' && *p != ')' && k + 1 < sizeof(want);
                 p++)
                if (p[0] == '\'' && p[1] != '\'' && p[2] == '\'') {
                    want[k++] = p[1];
                    p += 2;
                }
            want[k] = '\0';
        }
        rc = add_cols(rows, cols, 4);
        for (size_t i = 0; rc == TB_OK && i < n_rels; i++) {
            if (strchr(want, rels[i].kind) == NULL || !name_matches(have_re ? &re : NULL,
                                                                     rels[i].name))
                continue;
            const char *vals[4] = {"public", rels[i].name, rels[i].kind == 'v' ? "view" : "table",
                                   user};
            rc = tb_srv_rows_add(rows, vals);
        }
    } else if (have_re && find_ci(sql, "SELECT c.oid,") != NULL) {
        /* psql \d NAME, first step: oid, schema, name */
        static const char *const cols[] = {"oid", "nspname", "relname"};
        rc = add_cols(rows, cols, 3);
        for (size_t i = 0; rc == TB_OK && i < n_rels; i++) {
            if (!name_matches(&re, rels[i].name))
                continue;
            char oid[24];
            snprintf(oid, sizeof(oid), "%zu", REL_OID_BASE + i);
            const char *vals[3] = {oid, "public", rels[i].name};
            rc = tb_srv_rows_add(rows, vals);
        }
    } else if (find_ci(sql, "SELECT c.relchecks, c.relkind") != NULL) {
        /* psql \d NAME, second step: the relation's properties (psql 15 columns) */
        static const char *const cols[] = {"relchecks",     "relkind",        "relhasindex",
                                           "relhasrules",   "relhastriggers", "relrowsecurity",
                                           "relforcerowsecurity", "relhasoids", "relispartition",
                                           "?column?",      "reltablespace",  "reloftype",
                                           "relpersistence", "relreplident",  "amname"};
        char *oid = quoted_after(sql, "WHERE c.oid =");
        size_t i = oid != NULL ? (size_t)(strtoull(oid, NULL, 10) - REL_OID_BASE) : SIZE_MAX;
        tb_free(oid);
        rc = add_cols(rows, cols, 15);
        if (rc == TB_OK && i < n_rels) {
            const char *kind = rels[i].kind == 'v' ? "v" : "r";
            const char *vals[15] = {"0", kind, "f", "f", "f", "f", "f", "f",
                                    "f", "",   "0", "",  "p", "d", rels[i].kind == 'v' ? NULL : "heap"};
            rc = tb_srv_rows_add(rows, vals);
        }
    } else if (find_ci(sql, "FROM pg_catalog.pg_attribute a") != NULL &&
               find_ci(sql, "a.attrelid =") != NULL && find_ci(sql, "format_type") != NULL) {
        /* psql \d NAME, third step: the columns (psql 15: 7 columns) */
        static const char *const cols[] = {"attname",      "format_type", "pg_get_expr",
                                           "attnotnull",   "attcollation", "attidentity",
                                           "attgenerated"};
        char *oid = quoted_after(sql, "a.attrelid =");
        size_t i = oid != NULL ? (size_t)(strtoull(oid, NULL, 10) - REL_OID_BASE) : SIZE_MAX;
        tb_free(oid);
        rc = add_cols(rows, cols, 7);
        if (rc == TB_OK && i < n_rels) {
            tb_srv_rows rc_cols = {0};
            rc = rel_columns(db, rels[i].name, &rc_cols, err);
            for (uint32_t c = 0; rc == TB_OK && c < rc_cols.n_cols; c++) {
                char tbuf[64];
                const char *vals[7] = {rc_cols.cols[c].name,
                                       tb_srv_format_type(rc_cols.cols[c].type, tbuf,
                                                          sizeof(tbuf)),
                                       NULL, "f", NULL, "", ""};
                rc = tb_srv_rows_add(rows, vals);
            }
            tb_srv_rows_free(&rc_cols);
        }
    } else if (find_ci(sql, "TABLE_SCHEM") != NULL && find_ci(sql, "TABLE_TYPE") != NULL &&
               find_ci(sql, "COLUMN_NAME") == NULL) {
        /* JDBC DatabaseMetaData.getTables */
        static const char *const cols[] = {"table_cat",  "table_schem", "table_name",
                                           "table_type", "remarks",     "type_cat",
                                           "type_schem", "type_name",   "self_referencing_col_name",
                                           "ref_generation"};
        char *lk = quoted_after(sql, "c.relname LIKE");
        rc = add_cols(rows, cols, 10);
        for (size_t i = 0; rc == TB_OK && i < n_rels; i++) {
            if (lk != NULL && !like(rels[i].name, lk))
                continue;
            const char *vals[10] = {NULL, "public", rels[i].name,
                                    rels[i].kind == 'v' ? "VIEW" : "TABLE",
                                    NULL, "", "", "", "", ""};
            rc = tb_srv_rows_add(rows, vals);
        }
        tb_free(lk);
    } else if (find_ci(sql, "a.attname") != NULL && find_ci(sql, "atttypid") != NULL &&
               find_ci(sql, "typbasetype") != NULL) {
        /* JDBC DatabaseMetaData.getColumns: the columns its Java code reads */
        static const char *const cols[] = {"nspname",     "relname",      "attname",
                                           "atttypid",    "attnotnull",   "atttypmod",
                                           "attlen",      "typtypmod",    "attnum",
                                           "attidentity", "attgenerated", "adsrc",
                                           "description", "typbasetype",  "typtype"};
        char *lk = quoted_after(sql, "c.relname LIKE");
        char *ck = quoted_after(sql, "attname LIKE");
        rc = add_cols(rows, cols, 15);
        for (size_t i = 0; rc == TB_OK && i < n_rels; i++) {
            if (lk != NULL && !like(rels[i].name, lk))
                continue;
            tb_srv_rows rc_cols = {0};
            rc = rel_columns(db, rels[i].name, &rc_cols, err);
            for (uint32_t c = 0; rc == TB_OK && c < rc_cols.n_cols; c++) {
                if (ck != NULL && !like(rc_cols.cols[c].name, ck))
                    continue;
                char oid[16], num[16], len[16];
                snprintf(oid, sizeof(oid), "%u", rc_cols.cols[c].oid);
                snprintf(num, sizeof(num), "%u", c + 1);
                snprintf(len, sizeof(len), "%d", tb_srv_oid_len(rc_cols.cols[c].oid));
                const char *vals[15] = {"public", rels[i].name, rc_cols.cols[c].name, oid, "f",
                                        "-1", len, "-1", num, NULL, NULL, NULL, NULL, "0", "b"};
                rc = tb_srv_rows_add(rows, vals);
            }
            tb_srv_rows_free(&rc_cols);
        }
        tb_free(lk);
        tb_free(ck);
    } else {
        /* any other catalog probe: no rows */
        static const char *const cols[] = {"?column?"};
        rc = add_cols(rows, cols, 1);
    }
    if (rc != TB_OK && err->code == TB_OK)
        rc = tb_err_nomem(err);
    if (rc == TB_OK)
        snprintf(rows->tag, sizeof(rows->tag), "SELECT %zu", rows->n_rows);
done:
    if (have_re)
        regfree(&re);
    tb_free(pat);
    rels_free(rels, n_rels);
    return rc;
}

/* SHOW TABLES: name and kind of every relation. */
static tb_rc show_tables(tb_db *db, tb_srv_rows *rows, tb_err *err)
{
    rel *rels = NULL;
    size_t n = 0;
    static const char *const cols[] = {"name", "type"};
    if (list_rels(db, &rels, &n) != TB_OK || add_cols(rows, cols, 2) != TB_OK) {
        rels_free(rels, n);
        return tb_err_nomem(err);
    }
    tb_rc rc = TB_OK;
    for (size_t i = 0; i < n && rc == TB_OK; i++) {
        const char *vals[2] = {rels[i].name, rels[i].kind == 'v' ? "view" : "table"};
        rc = tb_srv_rows_add(rows, vals);
    }
    rels_free(rels, n);
    snprintf(rows->tag, sizeof(rows->tag), "SHOW");
    return rc == TB_OK ? TB_OK : tb_err_nomem(err);
}

bool tb_pgcat_answer(tb_db *db, tb_srv_session *s, const char *sql, int64_t timeout_ms,
                     tb_srv_rows *rows, tb_rc *out_rc, tb_err *err)
{
    char word[16];
    bool show = tb_srv_classify(sql, word, sizeof(word)) == TB_SK_SHOW;
    if (!show && !mentions_catalog(sql))
        return false;
    if (tb_db_read_begin(db, timeout_ms) != TB_OK) {
        *out_rc = TB_ERRF(err, TB_E_INTERRUPT, "canceling statement due to statement timeout");
        return true;
    }
    *out_rc = show ? show_tables(db, rows, err) : answer(db, s, sql, rows, err);
    tb_db_read_end(db);
    return true;
}

/* ---------------------------------------------------------------- rewrite */

static bool word_at(const char *p, const char *w, const char **after)
{
    size_t n = strlen(w);
    if (!tb_str_nieq(p, n, w))
        return false;
    if (isalnum((unsigned char)p[n]) || p[n] == '_')
        return false;
    *after = p + n;
    return true;
}

/* "()" with optional spaces after p: the end, or NULL. */
static const char *empty_call(const char *p)
{
    while (*p == ' ')
        p++;
    if (*p != '(')
        return NULL;
    p++;
    while (*p == ' ')
        p++;
    return *p == ')' ? p + 1 : NULL;
}

static tb_rc put_literal(tb_buf *out, const char *v)
{
    if (v == NULL)
        return tb_buf_puts(out, "NULL");
    if (tb_buf_putc(out, '\'') != TB_OK)
        return TB_E_NOMEM;
    for (; *v != '\0'; v++)
        if ((*v == '\'' && tb_buf_putc(out, '\'') != TB_OK) || tb_buf_putc(out, *v) != TB_OK)
            return TB_E_NOMEM;
    return tb_buf_putc(out, '\'');
}

/*
 * A session function's value in place of its call, named as PostgreSQL names the call's
 * column (after the function: `SELECT version()` is a column "version"): a scalar
 * subquery `(SELECT 'value' AS "version")`, valid wherever the call was (select list,
 * WHERE, ...); the binder names a scalar subquery's column after its only column, and
 * plans it once. `num`: an unquoted number instead of the literal v.
 */
static tb_rc put_value(tb_buf *out, const char *v, const char *num, const char *name)
{
    if (tb_buf_puts(out, "(SELECT ") != TB_OK)
        return TB_E_NOMEM;
    tb_rc rc = num != NULL ? tb_buf_puts(out, num) : put_literal(out, v);
    if (rc != TB_OK)
        return rc;
    return tb_buf_printf(out, " AS \"%s\")", name);
}

char *tb_pgcat_rewrite(const tb_srv_session *s, const char *sql)
{
    tb_buf out = {0};
    char quote = 0;
    tb_rc rc = TB_OK;
    for (const char *p = sql; *p != '\0' && rc == TB_OK;) {
        if (quote) {
            if (*p == quote)
                quote = 0;
            rc = tb_buf_putc(&out, *p++);
            continue;
        }
        if (*p == '\'' || *p == '"') {
            quote = *p;
            rc = tb_buf_putc(&out, *p++);
            continue;
        }
        if (p[0] == '-' && p[1] == '-') {
            while (*p != '\0' && *p != '\n')
                rc = tb_buf_putc(&out, *p++);
            continue;
        }
        bool boundary = p == sql || !(isalnum((unsigned char)p[-1]) || p[-1] == '_' ||
                                      p[-1] == '.' || p[-1] == '$');
        if (!boundary) {
            rc = tb_buf_putc(&out, *p++);
            continue;
        }
        const char *q = p, *after = NULL, *end = NULL;
        if (tb_str_nieq(q, 11, "pg_catalog."))
            q += 11;
        char num[32];
        if (word_at(q, "version", &after) && (end = empty_call(after)) != NULL) {
            rc = put_value(&out, "PostgreSQL 15.0 (Tributary " TB_VERSION
                                 ") on x86_64-pc-linux-gnu, compiled by gcc, 64-bit",
                           NULL, "version");
            p = end;
        } else if ((word_at(q, "current_schema", &after) && (end = empty_call(after)) != NULL) ||
                   (word_at(q, "current_schema", &after) && (end = after) != NULL && *after != '(')) {
            rc = put_value(&out, "public", NULL, "current_schema");
            p = end;
        } else if (word_at(q, "current_database", &after) && (end = empty_call(after)) != NULL) {
            rc = put_value(&out, s->database != NULL ? s->database : "tributary", NULL,
                           "current_database");
            p = end;
        } else if ((word_at(q, "current_user", &after) || word_at(q, "session_user", &after)) &&
                   *after != '(') {
            rc = put_value(&out, s->user != NULL ? s->user : "tributary", NULL,
                           tb_str_nieq(q, 7, "session") ? "session_user" : "current_user");
            p = after;
        } else if (word_at(q, "pg_backend_pid", &after) && (end = empty_call(after)) != NULL) {
            snprintf(num, sizeof(num), "%d", (int)s->pid);
            rc = put_value(&out, NULL, num, "pg_backend_pid");
            p = end;
        } else if (word_at(q, "current_setting", &after)) {
            /* current_setting('name' [, missing_ok]) */
            const char *a = after;
            while (*a == ' ')
                a++;
            char name[64];
            size_t n = 0;
            if (*a == '(') {
                a++;
                while (*a == ' ')
                    a++;
                if (*a == '\'') {
                    a++;
                    while (*a != '\0' && *a != '\'' && n < sizeof(name) - 1)
                        name[n++] = *a++;
                    name[n] = '\0';
                    if (*a == '\'')
                        a++;
                    while (*a != '\0' && *a != ')' && *a != '\'')
                        a++;
                    if (*a == ')') {
                        char buf[32];
                        const char *v = tb_srv_guc_get(s, name);
                        if (tb_str_ieq(name, "statement_timeout")) {
                            snprintf(buf, sizeof(buf), "%lldms",
                                     (long long)tb_srv_session_timeout_ms(s));
                            v = buf;
                        }
                        rc = put_value(&out, v, NULL, "current_setting");
                        p = a + 1;
                        continue;
                    }
                }
            }
            rc = tb_buf_putc(&out, *p++);
        } else {
            rc = tb_buf_putc(&out, *p++);
        }
    }
    if (rc != TB_OK || tb_buf_cstr(&out) == NULL) {
        tb_buf_free(&out);
        return NULL;
    }
    return out.data;
}
