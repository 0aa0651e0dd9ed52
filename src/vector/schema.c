/*
 * schema.c - schemas (ordered, named, typed fields) and the "a int, b text" parser used
 * by read_csv's schema option.
 *
 * A schema owns its fields array and every field name (heap, tb_malloc). Field names
 * are matched case-insensitively (unquoted SQL identifiers); the parser folds unquoted
 * names to lower case as PostgreSQL does and keeps "quoted" names verbatim.
 */
#include <string.h>

#include "vector/vector.h"

tb_schema *tb_schema_new(uint32_t n)
{
    tb_schema *schema = tb_calloc(1, sizeof(*schema));
    if (schema == NULL)
        return NULL;
    schema->n = n;
    if (n > 0) {
        schema->fields = tb_calloc(n, sizeof(tb_field));
        if (schema->fields == NULL) {
            tb_free(schema);
            return NULL;
        }
    }
    return schema;
}

void tb_schema_free(tb_schema *schema)
{
    uint32_t i;

    if (schema == NULL)
        return;
    for (i = 0; i < schema->n && schema->fields != NULL; i++)
        tb_free(schema->fields[i].name);
    tb_free(schema->fields);
    tb_free(schema);
}

tb_schema *tb_schema_copy(const tb_schema *schema)
{
    tb_schema *copy;
    uint32_t i;

    if (schema == NULL)
        return NULL;
    copy = tb_schema_new(schema->n);
    if (copy == NULL)
        return NULL;
    for (i = 0; i < schema->n; i++) {
        const tb_field *f = &schema->fields[i];
        if (tb_schema_set(copy, i, f->name ? f->name : "", f->type, f->nullable) != TB_OK) {
            tb_schema_free(copy);
            return NULL;
        }
    }
    return copy;
}

tb_rc tb_schema_set(tb_schema *schema, uint32_t i, const char *name, tb_type type,
                    bool nullable)
{
    char *d;

    if (i >= schema->n)
        return TB_E_MISUSE;
    d = tb_strdup(name);
    if (d == NULL)
        return TB_E_NOMEM;
    tb_free(schema->fields[i].name);
    schema->fields[i].name = d;
    schema->fields[i].type = type;
    schema->fields[i].nullable = nullable;
    return TB_OK;
}

int tb_schema_find(const tb_schema *schema, const char *name)
{
    uint32_t i;

    for (i = 0; i < schema->n; i++) {
        if (schema->fields[i].name != NULL && tb_str_ieq(schema->fields[i].name, name))
            return (int)i;
    }
    return -1;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Split text at top-level commas (not inside parentheses or double quotes). */
static tb_rc split_items(const char *text, tb_strlist *items, tb_err *err)
{
    const char *start = text, *p;
    int depth = 0;
    bool quoted = false;

    for (p = text;; p++) {
        char c = *p;
        if (c == '"') {
            quoted = !quoted;
        } else if (!quoted && c == '(') {
            depth++;
        } else if (!quoted && c == ')') {
            if (--depth < 0)
                return TB_ERRF(err, TB_E_PARSE, "schema: unbalanced ')' in '%s'", text);
        } else if (c == '\0' || (!quoted && depth == 0 && c == ',')) {
            char *item;
            tb_rc rc;
            if (c == '\0' && (quoted || depth != 0))
                return TB_ERRF(err, TB_E_PARSE, "schema: unterminated %s in '%s'",
                               quoted ? "quoted name" : "'('", text);
            item = tb_strndup(start, (size_t)(p - start));
            if (item == NULL)
                return tb_err_nomem(err);
            rc = tb_strlist_push(items, item);
            tb_free(item);
            if (rc != TB_OK)
                return tb_err_nomem(err);
            if (c == '\0')
                return TB_OK;
            start = p + 1;
        }
    }
}

/* Parse one "name type [not null]" item: name into *out_name (heap), the rest typed. */
static tb_rc parse_item(const char *item, char **out_name, tb_type *out_type,
                        bool *out_nullable, tb_err *err)
{
    const char *p = item, *name_start, *name_end, *type_start;
    char *name = NULL, *type_text = NULL;
    size_t type_len, k;
    bool quoted = false;
    tb_rc rc;

    *out_name = NULL;
    *out_nullable = true;
    while (blank(*p))
        p++;
    if (*p == '\0')
        return TB_ERRF(err, TB_E_PARSE, "schema: empty column definition");
    if (*p == '"') {
        quoted = true;
        name_start = ++p;
        while (*p != '\0' && *p != '"')
            p++;
        if (*p != '"')
            return TB_ERRF(err, TB_E_PARSE, "schema: unterminated quoted name in '%s'", item);
        name_end = p++;
        if (name_end == name_start)
            return TB_ERRF(err, TB_E_PARSE, "schema: empty column name in '%s'", item);
    } else {
        name_start = p;
        while (*p != '\0' && !blank(*p) && *p != '(')
            p++;
        name_end = p;
    }
    name = tb_strndup(name_start, (size_t)(name_end - name_start));
    if (name == NULL)
        return tb_err_nomem(err);
    if (!quoted) {
        for (k = 0; name[k] != '\0'; k++) {
            if (name[k] >= 'A' && name[k] <= 'Z')
                name[k] = (char)(name[k] + 32);
        }
    }
    while (blank(*p))
        p++;
    type_start = p;
    type_len = strlen(type_start);
    while (type_len > 0 && blank(type_start[type_len - 1]))
        type_len--;
    if (type_len == 0) {
        rc = TB_ERRF(err, TB_E_PARSE, "schema: column '%s' has no type", name);
        goto fail;
    }
    type_text = tb_strndup(type_start, type_len);
    if (type_text == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    /* Optional trailing NOT NULL / NULL. */
    if (type_len > 9 && tb_str_ieq(type_text + type_len - 8, "not null") &&
        blank(type_text[type_len - 9])) {
        *out_nullable = false;
        type_len -= 9;
        while (type_len > 0 && blank(type_text[type_len - 1]))
            type_len--;
        type_text[type_len] = '\0';
    } else if (type_len > 5 && tb_str_ieq(type_text + type_len - 4, "null") &&
               blank(type_text[type_len - 5])) {
        type_len -= 5;
        while (type_len > 0 && blank(type_text[type_len - 1]))
            type_len--;
        type_text[type_len] = '\0';
    }
    rc = tb_type_parse(type_text, out_type, err);
    if (rc != TB_OK) {
        tb_err_prefix(err, "schema: column '%s'", name);
        goto fail;
    }
    tb_free(type_text);
    *out_name = name;
    return TB_OK;
fail:
    tb_free(type_text);
    tb_free(name);
    return rc;
}

tb_rc tb_schema_parse(const char *text, tb_schema **out_schema, tb_err *err)
{
    tb_strlist items = {0};
    tb_schema *schema = NULL;
    uint32_t i;
    tb_rc rc;

    *out_schema = NULL;
    if (text == NULL)
        return TB_ERRF(err, TB_E_PARSE, "schema: empty schema");
    rc = split_items(text, &items, err);
    if (rc != TB_OK)
        goto fail;
    if (items.n == 1) {
        const char *p = items.items[0];
        while (blank(*p))
            p++;
        if (*p == '\0') {
            rc = TB_ERRF(err, TB_E_PARSE, "schema: empty schema");
            goto fail;
        }
    }
    if (items.n > 100000) {
        rc = TB_ERRF(err, TB_E_LIMIT, "schema: too many columns (%zu)", items.n);
        goto fail;
    }
    schema = tb_schema_new((uint32_t)items.n);
    if (schema == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    for (i = 0; i < schema->n; i++) {
        char *name;
        tb_type type;
        bool nullable;
        rc = parse_item(items.items[i], &name, &type, &nullable, err);
        if (rc != TB_OK)
            goto fail;
        if (tb_schema_find(schema, name) >= 0) {
            rc = TB_ERRF(err, TB_E_PARSE, "schema: duplicate column '%s'", name);
            tb_free(name);
            goto fail;
        }
        schema->fields[i].name = name; /* the schema owns it now */
        schema->fields[i].type = type;
        schema->fields[i].nullable = nullable;
    }
    tb_strlist_free(&items);
    *out_schema = schema;
    return TB_OK;
fail:
    tb_strlist_free(&items);
    tb_schema_free(schema);
    return rc;
}
