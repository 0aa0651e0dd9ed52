/*
 * catalog.c - the engine's catalog (tables, views, connectors) and settings.
 *
 * Invariants: entry names are unique (exact comparison; lookups fall back to a unique
 * case-insensitive match so that CSV headers like "Name" stay reachable without
 * quoting); an entry owns everything it points to except vt (static storage). The
 * catalog is a small array: lookups are linear, catalogs hold tens of entries.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql/sql_int.h"

static void entry_free(catentry *e)
{
    if (e == NULL)
        return;
    tb_free(e->name);
    tb_schema_free(e->schema);
    tb_table_free(e->table);
    tb_free(e->view_sql);
    for (uint32_t i = 0; i < e->n_view_cols; i++)
        tb_free(e->view_cols[i]);
    tb_free(e->view_cols);
    if (e->vt != NULL && e->vt->free != NULL)
        e->vt->free(e->ud);
    tb_free(e);
}

void tb_sql_catalog_free(tb_db *db)
{
    for (size_t i = 0; i < db->n_entries; i++)
        entry_free(db->entries[i]);
    tb_free(db->entries);
    db->entries = NULL;
    db->n_entries = db->cap_entries = 0;
    for (size_t i = 0; i < db->n_settings; i++) {
        tb_free(db->settings[i].key);
        tb_free(db->settings[i].value);
    }
    tb_free(db->settings);
    db->settings = NULL;
    tb_strlist_free(&db->indexes);
    db->n_settings = db->cap_settings = 0;
}

catentry *tb_sql_cat_find(tb_db *db, const char *name)
{
    catentry *ci = NULL;
    int n_ci = 0;
    for (size_t i = 0; i < db->n_entries; i++) {
        if (strcmp(db->entries[i]->name, name) == 0)
            return db->entries[i];
        if (tb_str_ieq(db->entries[i]->name, name)) {
            ci = db->entries[i];
            n_ci++;
        }
    }
    return n_ci == 1 ? ci : NULL;
}

tb_rc tb_sql_cat_notfound(tb_db *db, const char *name, int pos, tb_err *err)
{
    char cand[512];
    const char *names[256];
    uint32_t n = 0;
    for (size_t i = 0; i < db->n_entries && n < 256; i++)
        names[n++] = db->entries[i]->name;
    tb_sql_candidates(name, names, n, cand, sizeof(cand));
    size_t len = strlen(cand);
    tb_rc rc;
    if (len > 0)
        rc = TB_ERRF(err, TB_E_NOTFOUND, "relation \"%s\" does not exist (candidates: %s)", name,
                     cand);
    else
        rc = TB_ERRF(err, TB_E_NOTFOUND, "relation \"%s\" does not exist", name);
    if (err != NULL)
        err->pos = pos;
    return rc;
}

static tb_rc entry_push(tb_db *db, catentry *e, tb_err *err)
{
    if (tb_grow((void **)&db->entries, &db->cap_entries, db->n_entries + 1, sizeof(*db->entries)) !=
        TB_OK)
        return tb_err_nomem(err);
    db->entries[db->n_entries++] = e;
    return TB_OK;
}

static tb_rc check_free_name(tb_db *db, const char *name, tb_err *err)
{
    for (size_t i = 0; i < db->n_entries; i++) {
        if (strcmp(db->entries[i]->name, name) == 0)
            return TB_ERRF(err, TB_E_EXISTS, "relation \"%s\" already exists", name);
    }
    return TB_OK;
}

tb_rc tb_catalog_add_connector(tb_db *db, const char *name, const tb_schema *schema,
                               const tb_connector_vt *vt, void *ud, tb_err *err)
{
    tb_rc rc;
    catentry *e = NULL;
    /* internal (sql.h): every caller passes its own objects and a static vtable */
    assert(db != NULL && name != NULL && schema != NULL && vt != NULL && vt->open != NULL);
    rc = check_free_name(db, name, err);
    if (rc != TB_OK)
        return rc;
    e = tb_calloc(1, sizeof(*e));
    if (e == NULL)
        return tb_err_nomem(err);
    e->kind = TB_CAT_CONNECTOR;
    e->name = tb_strdup(name);
    e->schema = tb_schema_copy(schema);
    if (e->name == NULL || e->schema == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    rc = entry_push(db, e, err);
    if (rc != TB_OK)
        goto fail;
    /* point of no return: ud belongs to the entry */
    e->vt = vt;
    e->ud = ud;
    return TB_OK;
fail:
    entry_free(e); /* vt not set yet: ud stays the caller's */
    return rc;
}

tb_rc tb_catalog_add_table(tb_db *db, const char *name, tb_table *table, tb_err *err)
{
    tb_rc rc;
    catentry *e = NULL;
    assert(db != NULL && name != NULL && table != NULL);
    rc = check_free_name(db, name, err);
    if (rc != TB_OK)
        return rc;
    e = tb_calloc(1, sizeof(*e));
    if (e == NULL)
        return tb_err_nomem(err);
    e->kind = TB_CAT_TABLE;
    e->name = tb_strdup(name);
    e->schema = tb_schema_copy(tb_table_schema(table));
    if (e->name == NULL || e->schema == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    rc = entry_push(db, e, err);
    if (rc != TB_OK)
        goto fail;
    e->table = table; /* point of no return: the catalog owns table */
    return TB_OK;
fail:
    entry_free(e);
    return rc;
}

tb_rc tb_sql_cat_add_view(tb_db *db, const char *name, const char *sql, char **cols,
                          uint32_t n_cols, tb_err *err)
{
    tb_rc rc;
    catentry *e = NULL;
    rc = check_free_name(db, name, err);
    if (rc != TB_OK)
        return rc;
    e = tb_calloc(1, sizeof(*e));
    if (e == NULL)
        return tb_err_nomem(err);
    e->kind = TB_CAT_VIEW;
    e->name = tb_strdup(name);
    e->view_sql = tb_strdup(sql);
    e->view_cols = n_cols ? tb_calloc(n_cols, sizeof(char *)) : NULL;
    if (e->name == NULL || e->view_sql == NULL || (n_cols && e->view_cols == NULL)) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    for (uint32_t i = 0; i < n_cols; i++) {
        e->view_cols[i] = tb_strdup(cols[i]);
        e->n_view_cols = i + 1;
        if (e->view_cols[i] == NULL) {
            rc = tb_err_nomem(err);
            goto fail;
        }
    }
    rc = entry_push(db, e, err);
    if (rc != TB_OK)
        goto fail;
    return TB_OK;
fail:
    entry_free(e);
    return rc;
}

tb_rc tb_catalog_lookup(tb_db *db, const char *name, tb_catalog_info *out, tb_err *err)
{
    assert(db != NULL && name != NULL && out != NULL);
    catentry *e = tb_sql_cat_find(db, name);
    if (e == NULL)
        return tb_sql_cat_notfound(db, name, -1, err);
    memset(out, 0, sizeof(*out));
    out->kind = e->kind;
    out->name = e->name;
    out->schema = e->schema;
    out->table = e->table;
    out->view_sql = e->view_sql;
    out->vt = e->vt;
    out->ud = e->ud;
    return TB_OK;
}

tb_rc tb_catalog_drop(tb_db *db, const char *name, bool if_exists, tb_err *err)
{
    assert(db != NULL && name != NULL);
    for (size_t i = 0; i < db->n_entries; i++) {
        if (strcmp(db->entries[i]->name, name) == 0) {
            entry_free(db->entries[i]);
            memmove(&db->entries[i], &db->entries[i + 1],
                    (db->n_entries - i - 1) * sizeof(*db->entries));
            db->n_entries--;
            return TB_OK;
        }
    }
    if (if_exists)
        return TB_OK;
    return tb_sql_cat_notfound(db, name, -1, err);
}

tb_rc tb_catalog_names(tb_db *db, tb_strlist *out)
{
    for (size_t i = 0; i < db->n_entries; i++) {
        tb_rc rc = tb_strlist_push(out, db->entries[i]->name);
        if (rc != TB_OK)
            return rc;
    }
    return TB_OK;
}

/* ---------------------------------------------------------------- settings */

static setting *setting_find(tb_db *db, const char *key)
{
    for (size_t i = 0; i < db->n_settings; i++) {
        if (tb_str_ieq(db->settings[i].key, key))
            return &db->settings[i];
    }
    return NULL;
}

/* "1GB", "512 MB", "1000000", "2GiB" -> bytes. */
static bool parse_bytes(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno != 0 || v < 0)
        return false;
    while (*end == ' ')
        end++;
    double mul = 1;
    if (*end != '\0') {
        char u = (char)(*end | 0x20);
        if (u == 'b')
            mul = 1;
        else if (u == 'k')
            mul = 1024.0;
        else if (u == 'm')
            mul = 1024.0 * 1024;
        else if (u == 'g')
            mul = 1024.0 * 1024 * 1024;
        else if (u == 't')
            mul = 1024.0 * 1024 * 1024 * 1024;
        else
            return false;
        end++;
        if ((*end | 0x20) == 'i')
            end++;
        if ((*end | 0x20) == 'b')
            end++;
        if (*end != '\0')
            return false;
    }
    v *= mul;
    if (v > 9.0e18)
        return false;
    *out = (int64_t)v;
    return true;
}

tb_rc tb_sql_set_setting(tb_db *db, const char *key, const char *value, tb_err *err)
{
    char norm[64];
    if (tb_str_ieq(key, "threads")) {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (end == value || *end != '\0' || errno != 0 || v < 1 || v > 1024)
            return TB_ERRF(err, TB_E_SQL,
                           "invalid value for parameter \"threads\": \"%s\" (1..1024)", value);
        snprintf(norm, sizeof(norm), "%ld", v);
        value = norm;
        key = "threads";
    } else if (tb_str_ieq(key, "memory_limit")) {
        int64_t v;
        if (!parse_bytes(value, &v))
            return TB_ERRF(err, TB_E_SQL,
                           "invalid value for parameter \"memory_limit\": \"%s\" "
                           "(bytes, or a size such as '512MB', '2GB')",
                           value);
        snprintf(norm, sizeof(norm), "%lld", (long long)v);
        value = norm;
        key = "memory_limit";
    } else {
        return TB_ERRF(err, TB_E_NOTFOUND,
                       "unrecognized configuration parameter \"%s\" (known: threads, "
                       "memory_limit)",
                       key);
    }
    setting *s = setting_find(db, key);
    char *v = tb_strdup(value);
    if (v == NULL)
        return tb_err_nomem(err);
    if (s != NULL) {
        tb_free(s->value);
        s->value = v;
        return TB_OK;
    }
    if (tb_grow((void **)&db->settings, &db->cap_settings, db->n_settings + 1,
                sizeof(*db->settings)) != TB_OK) {
        tb_free(v);
        return tb_err_nomem(err);
    }
    char *k = tb_strdup(key);
    if (k == NULL) {
        tb_free(v);
        return tb_err_nomem(err);
    }
    db->settings[db->n_settings].key = k;
    db->settings[db->n_settings].value = v;
    db->n_settings++;
    return TB_OK;
}

/* The default of `threads`: the online CPUs, as text, computed once per process. */
static pthread_once_t cpus_once = PTHREAD_ONCE_INIT;
static char cpus_text[16];

static void cpus_init(void)
{
    snprintf(cpus_text, sizeof(cpus_text), "%u", tb_online_cpus());
}

const char *tb_db_setting(tb_db *db, const char *key)
{
    if (db == NULL || key == NULL)
        return NULL;
    setting *s = setting_find(db, key);
    if (s != NULL)
        return s->value;
    if (tb_str_ieq(key, "threads")) {
        (void)pthread_once(&cpus_once, cpus_init); /* fails only on misuse */
        return cpus_text;
    }
    if (tb_str_ieq(key, "memory_limit"))
        return "0";
    return NULL;
}

int tb_db_threads(tb_db *db)
{
    const char *v = tb_db_setting(db, "threads");
    return v != NULL ? atoi(v) : 1;
}

int64_t tb_db_memory_limit(tb_db *db)
{
    const char *v = tb_db_setting(db, "memory_limit");
    return v != NULL ? strtoll(v, NULL, 10) : 0;
}
