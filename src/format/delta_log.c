/*
 * delta_log.c - Delta Lake transaction log reader: list `_delta_log/`, pick the newest
 * complete checkpoint at or before the wanted version, replay the JSON commits after it
 * and expose the resulting snapshot (live files, schema, partition columns, txn versions).
 *
 * Invariants:
 * - A snapshot at version V reflects exactly the actions of versions 0..V (through a
 *   checkpoint of version C <= V plus the commits C+1..V). Commits must be contiguous: a
 *   gap is TB_E_CORRUPT naming the missing file.
 * - Every commit is parsed and validated entirely (tb_delta_commit_parse) before any of
 *   it is applied, so a torn line never leaves a half-applied commit behind.
 * - The live file table is keyed by the URI-decoded path; a later add replaces an earlier
 *   one, a remove deletes it and becomes a tombstone (kept for checkpoints).
 * - Memory: one commit file at a time, at most TB_DELTA_MAX_COMMIT_BYTES.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "format/delta_int.h"

/* ---------------------------------------------------------------- file entries */

tb_delta_fentry *tb_delta_fentry_new(const char *raw_path, const char *path, const char *stats,
                                     uint32_t n_pv, const char *const *pkeys,
                                     const char *const *pvals)
{
    size_t total = sizeof(tb_delta_fentry), raw_len = strlen(raw_path) + 1,
           path_len = strlen(path) + 1, stats_len = stats != NULL ? strlen(stats) + 1 : 0;
    tb_delta_fentry *e;
    char *p;
    uint32_t i;

    total += 2 * (size_t)n_pv * sizeof(char *);
    total += raw_len + path_len + stats_len;
    for (i = 0; i < n_pv; i++) {
        total += strlen(pkeys[i]) + 1;
        if (pvals[i] != NULL)
            total += strlen(pvals[i]) + 1;
    }
    e = tb_calloc(1, total);
    if (e == NULL)
        return NULL;
    p = (char *)(e + 1);
    e->pkeys = (char **)(void *)p;
    p += (size_t)n_pv * sizeof(char *);
    e->pvals = (char **)(void *)p;
    p += (size_t)n_pv * sizeof(char *);
    e->n_pv = n_pv;
    e->raw_path = memcpy(p, raw_path, raw_len);
    p += raw_len;
    e->path = memcpy(p, path, path_len);
    p += path_len;
    if (stats != NULL) {
        e->stats = memcpy(p, stats, stats_len);
        p += stats_len;
    }
    for (i = 0; i < n_pv; i++) {
        size_t kl = strlen(pkeys[i]) + 1;
        e->pkeys[i] = memcpy(p, pkeys[i], kl);
        p += kl;
        if (pvals[i] != NULL) {
            size_t vl = strlen(pvals[i]) + 1;
            e->pvals[i] = memcpy(p, pvals[i], vl);
            p += vl;
        }
    }
    return e;
}

/* ---------------------------------------------------------------- file table */

#define SLOT_DELETED UINT32_MAX

static uint64_t path_hash(const char *path) { return tb_hash_bytes(path, strlen(path), 0x5eed); }

static tb_rc ftab_rehash(tb_delta_ftab *tab, size_t n_slots)
{
    uint32_t *slots = tb_calloc(n_slots, sizeof(uint32_t));
    size_t i;

    if (slots == NULL)
        return TB_E_NOMEM;
    for (i = 0; i < tab->n; i++) {
        size_t h;
        if (tab->items[i] == NULL)
            continue;
        h = (size_t)path_hash(tab->items[i]->path) & (n_slots - 1);
        while (slots[h] != 0)
            h = (h + 1) & (n_slots - 1);
        slots[h] = (uint32_t)(i + 1);
    }
    tb_free(tab->slots);
    tab->slots = slots;
    tab->n_slots = n_slots;
    tab->used = tab->live;
    return TB_OK;
}

/* Slot holding path, or the slot count if absent. */
static size_t ftab_find(const tb_delta_ftab *tab, const char *path)
{
    size_t h, probes;

    if (tab->n_slots == 0)
        return 0;
    h = (size_t)path_hash(path) & (tab->n_slots - 1);
    for (probes = 0; probes < tab->n_slots; probes++) {
        uint32_t s = tab->slots[h];
        if (s == 0)
            break;
        if (s != SLOT_DELETED && strcmp(tab->items[s - 1]->path, path) == 0)
            return h;
        h = (h + 1) & (tab->n_slots - 1);
    }
    return tab->n_slots;
}

tb_delta_fentry *tb_delta_ftab_get(const tb_delta_ftab *tab, const char *path)
{
    size_t s = ftab_find(tab, path);
    if (s >= tab->n_slots)
        return NULL;
    return tab->items[tab->slots[s] - 1];
}

tb_delta_fentry *tb_delta_ftab_take(tb_delta_ftab *tab, const char *path)
{
    size_t s = ftab_find(tab, path);
    tb_delta_fentry *e;
    uint32_t idx;

    if (s >= tab->n_slots)
        return NULL;
    idx = tab->slots[s] - 1;
    e = tab->items[idx];
    tab->items[idx] = NULL;
    tab->slots[s] = SLOT_DELETED;
    tab->live--;
    return e;
}

tb_rc tb_delta_ftab_put(tb_delta_ftab *tab, tb_delta_fentry *e)
{
    size_t s, h;

    s = ftab_find(tab, e->path);
    if (s < tab->n_slots) {
        uint32_t idx = tab->slots[s] - 1;
        tb_free(tab->items[idx]);
        tab->items[idx] = e;
        return TB_OK;
    }
    if (tab->n >= UINT32_MAX - 2) {
        tb_free(e);
        return TB_E_LIMIT;
    }
    if (tab->n == tab->cap) {
        /* Reclaim the holes before growing when they are many. */
        if (tab->n > 64 && tab->live < tab->n / 2) {
            if (tb_delta_ftab_compact(tab) != TB_OK) {
                tb_free(e);
                return TB_E_NOMEM;
            }
        }
        if (tab->n == tab->cap &&
            tb_grow((void **)&tab->items, &tab->cap, tab->n + 1, sizeof(*tab->items)) != TB_OK) {
            tb_free(e);
            return TB_E_NOMEM;
        }
    }
    if ((tab->used + 1) * 4 >= tab->n_slots * 3) {
        size_t want = 16;
        while (want * 3 <= (tab->live + 1) * 8)
            want *= 2;
        if (ftab_rehash(tab, want) != TB_OK) {
            tb_free(e);
            return TB_E_NOMEM;
        }
    }
    tab->items[tab->n] = e;
    h = (size_t)path_hash(e->path) & (tab->n_slots - 1);
    while (tab->slots[h] != 0 && tab->slots[h] != SLOT_DELETED)
        h = (h + 1) & (tab->n_slots - 1);
    if (tab->slots[h] == 0)
        tab->used++;
    tab->slots[h] = (uint32_t)(tab->n + 1);
    tab->n++;
    tab->live++;
    return TB_OK;
}

tb_rc tb_delta_ftab_compact(tb_delta_ftab *tab)
{
    size_t i, j = 0, want = 16;

    if (tab->live == tab->n)
        return TB_OK;
    for (i = 0; i < tab->n; i++)
        if (tab->items[i] != NULL)
            tab->items[j++] = tab->items[i];
    tab->n = j;
    while (want * 3 <= (tab->live + 1) * 8)
        want *= 2;
    return ftab_rehash(tab, want);
}

void tb_delta_ftab_clear(tb_delta_ftab *tab)
{
    size_t i;

    for (i = 0; i < tab->n; i++)
        tb_free(tab->items[i]);
    tb_free(tab->items);
    tb_free(tab->slots);
    memset(tab, 0, sizeof(*tab));
}

/* ---------------------------------------------------------------- small helpers */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

tb_rc tb_delta_path_decode(const char *raw, char **out)
{
    size_t n = strlen(raw), i, j = 0;
    char *dec;

    *out = NULL;
    dec = tb_malloc(n + 1);
    if (dec == NULL)
        return TB_E_NOMEM;
    for (i = 0; i < n; i++) {
        if (raw[i] == '%') {
            int hi, lo;
            if (i + 2 >= n) {
                tb_free(dec);
                return TB_E_CORRUPT;
            }
            hi = hexval((unsigned char)raw[i + 1]);
            lo = hexval((unsigned char)raw[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                tb_free(dec);
                return TB_E_CORRUPT;
            }
            dec[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            dec[j++] = raw[i];
        }
    }
    dec[j] = '\0';
    *out = dec;
    return TB_OK;
}

bool tb_delta_part_value(const char *s, tb_type t, tb_value *out)
{
    size_t n;
    char *end;

    memset(out, 0, sizeof(*out));
    out->type = t;
    if (s == NULL || strcmp(s, "__HIVE_DEFAULT_PARTITION__") == 0 ||
        (s[0] == '\0' && t.id != TB_T_STRING)) {
        out->is_null = true;
        return true;
    }
    n = strlen(s);
    switch ((tb_type_id)t.id) {
    case TB_T_STRING:
        if (n > UINT32_MAX)
            return false;
        out->u.s.ptr = s;
        out->u.s.len = (uint32_t)n;
        return true;
    case TB_T_BOOL:
        if (tb_str_ieq(s, "true"))
            out->u.b = true;
        else if (tb_str_ieq(s, "false"))
            out->u.b = false;
        else
            return false;
        return true;
    case TB_T_INT16:
    case TB_T_INT32:
    case TB_T_INT64: {
        long long v;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0')
            return false;
        if (t.id == TB_T_INT16 && (v < INT16_MIN || v > INT16_MAX))
            return false;
        if (t.id == TB_T_INT32 && (v < INT32_MIN || v > INT32_MAX))
            return false;
        out->u.i = v;
        return true;
    }
    case TB_T_FLOAT:
    case TB_T_DOUBLE: {
        double d;
        errno = 0;
        d = strtod(s, &end);
        if (end == s || *end != '\0')
            return false;
        out->u.d = d;
        return true;
    }
    case TB_T_DATE: {
        int32_t days;
        if (!tb_parse_date(s, n, &days))
            return false;
        out->u.i = days;
        return true;
    }
    case TB_T_TIMESTAMP: {
        int64_t us;
        if (!tb_parse_timestamp(s, n, &us))
            return false;
        out->u.i = us;
        return true;
    }
    case TB_T_DECIMAL:
        return tb_i128_parse(s, n, t.scale, &out->u.dec);
    default:
        return false;
    }
}

void tb_delta_uuid(char out[37])
{
    unsigned char b[16];
    size_t got = 0;
    int i, k = 0;
    static const char hex[] = "0123456789abcdef";

    while (got < sizeof(b)) {
        ssize_t r = getrandom(b + got, sizeof(b) - got, 0);
        if (r <= 0) {
            /* getrandom cannot fail for 16 bytes once the pool is seeded; fall back to a
             * time/pid mix rather than abort. */
            uint64_t x = tb_hash_u64((uint64_t)tb_now_ns() ^ ((uint64_t)getpid() << 32));
            for (; got < sizeof(b); got++) {
                b[got] = (unsigned char)(x >> ((got % 8) * 8));
                if (got % 8 == 7)
                    x = tb_hash_u64(x + got);
            }
            break;
        }
        got += (size_t)r;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[k++] = '-';
        out[k++] = hex[b[i] >> 4];
        out[k++] = hex[b[i] & 15];
    }
    out[k] = '\0';
}

/* ---------------------------------------------------------------- schemas */

/* Map a primitive Delta type name; false if not supported. */
static bool delta_prim_type(const char *name, tb_type *out)
{
    static const struct {
        const char *name;
        tb_type_id id;
    } map[] = {
        {"integer", TB_T_INT32}, {"long", TB_T_INT64},          {"short", TB_T_INT16},
        {"byte", TB_T_INT16},    {"float", TB_T_FLOAT},         {"double", TB_T_DOUBLE},
        {"boolean", TB_T_BOOL},  {"string", TB_T_STRING},       {"binary", TB_T_STRING},
        {"date", TB_T_DATE},     {"timestamp", TB_T_TIMESTAMP}, {"timestamp_ntz", TB_T_TIMESTAMP},
    };
    size_t i;
    int p = 10, s = 0, used = 0;

    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(name, map[i].name) == 0) {
            *out = tb_type_make(map[i].id);
            return true;
        }
    }
    if (strcmp(name, "decimal") == 0) {
        *out = tb_type_decimal(10, 0);
        return true;
    }
    if (sscanf(name, "decimal(%d,%d)%n", &p, &s, &used) == 2 && name[used] == '\0') {
        if (p < 1 || p > 38 || s < 0 || s > p)
            return false;
        *out = tb_type_decimal(p, s);
        return true;
    }
    return false;
}

static tb_rc skipped_add(tb_buf *skipped, const char *name)
{
    if (skipped->len > 0 && tb_buf_puts(skipped, ", ") != TB_OK)
        return TB_E_NOMEM;
    return tb_buf_puts(skipped, name);
}

tb_rc tb_delta_schema_parse(const char *schema_string, tb_schema **out_schema, char **out_skipped,
                            tb_err *err)
{
    json_error_t jerr;
    json_t *root = NULL, *fields, *f;
    tb_schema *schema = NULL;
    tb_buf skipped = {0};
    size_t i, n_ok = 0;
    tb_rc rc;

    *out_schema = NULL;
    if (out_skipped != NULL)
        *out_skipped = NULL;
    root = json_loads(schema_string, 0, &jerr);
    if (root == NULL) {
        rc = TB_ERRF(err, TB_E_CORRUPT, "schemaString: invalid JSON (%s at column %d)", jerr.text,
                     jerr.column);
        goto fail;
    }
    fields = json_object_get(root, "fields");
    if (!json_is_object(root) || !json_is_string(json_object_get(root, "type")) ||
        strcmp(json_string_value(json_object_get(root, "type")), "struct") != 0 ||
        !json_is_array(fields)) {
        rc = TB_ERRF(err, TB_E_CORRUPT, "schemaString: not a struct type with fields");
        goto fail;
    }
    if (json_array_size(fields) > 100000) {
        rc = TB_ERRF(err, TB_E_LIMIT, "schemaString: too many fields");
        goto fail;
    }
    schema = tb_schema_new((uint32_t)json_array_size(fields));
    if (schema == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    json_array_foreach(fields, i, f)
    {
        json_t *name = json_object_get(f, "name"), *type = json_object_get(f, "type"),
               *nullable = json_object_get(f, "nullable");
        tb_type t;
        uint32_t k;

        if (!json_is_object(f) || !json_is_string(name) || type == NULL ||
            (nullable != NULL && !json_is_boolean(nullable))) {
            rc = TB_ERRF(err, TB_E_CORRUPT, "schemaString: field %zu: needs a name and a type", i);
            goto fail;
        }
        for (k = 0; k < n_ok; k++) {
            if (tb_str_ieq(schema->fields[k].name, json_string_value(name))) {
                rc = TB_ERRF(err, TB_E_CORRUPT, "schemaString: duplicate column '%s'",
                             json_string_value(name));
                goto fail;
            }
        }
        if (!json_is_string(type) || !delta_prim_type(json_string_value(type), &t)) {
            if (skipped_add(&skipped, json_string_value(name)) != TB_OK) {
                rc = tb_err_nomem(err);
                goto fail;
            }
            continue;
        }
        if (tb_schema_set(schema, (uint32_t)n_ok, json_string_value(name), t,
                          nullable == NULL || json_is_true(nullable)) != TB_OK) {
            rc = tb_err_nomem(err);
            goto fail;
        }
        n_ok++;
    }
    schema->n = (uint32_t)n_ok; /* fields past n are zeroed (no name): freed the same way */
    json_decref(root);
    if (out_skipped != NULL && skipped.len > 0) {
        *out_skipped = tb_strndup(skipped.data, skipped.len);
        if (*out_skipped == NULL) {
            tb_buf_free(&skipped);
            tb_schema_free(schema);
            return tb_err_nomem(err);
        }
    }
    tb_buf_free(&skipped);
    *out_schema = schema;
    return TB_OK;
fail:
    json_decref(root);
    tb_buf_free(&skipped);
    tb_schema_free(schema);
    return rc;
}

tb_rc tb_delta_schema_string(const tb_schema *schema, char **out, tb_err *err)
{
    json_t *root = NULL, *fields;
    char *s = NULL;
    uint32_t i;
    tb_rc rc;

    *out = NULL;
    root = json_object();
    fields = json_array();
    if (root == NULL || fields == NULL ||
        json_object_set_new(root, "type", json_string("struct")) ||
        json_object_set_new(root, "fields", fields)) {
        if (root == NULL)
            json_decref(fields);
        rc = tb_err_nomem(err);
        goto fail;
    }
    for (i = 0; i < schema->n; i++) {
        const tb_field *f = &schema->fields[i];
        char tbuf[32];
        const char *tn;
        json_t *jf;

        switch ((tb_type_id)f->type.id) {
        case TB_T_BOOL:
            tn = "boolean";
            break;
        case TB_T_INT16:
            tn = "short";
            break;
        case TB_T_INT32:
            tn = "integer";
            break;
        case TB_T_INT64:
            tn = "long";
            break;
        case TB_T_FLOAT:
            tn = "float";
            break;
        case TB_T_DOUBLE:
            tn = "double";
            break;
        case TB_T_STRING:
            tn = "string";
            break;
        case TB_T_DATE:
            tn = "date";
            break;
        case TB_T_TIMESTAMP:
            tn = "timestamp";
            break;
        case TB_T_DECIMAL:
            snprintf(tbuf, sizeof(tbuf), "decimal(%d,%d)", f->type.precision, f->type.scale);
            tn = tbuf;
            break;
        default:
            rc = TB_ERRF(err, TB_E_UNSUPPORTED,
                         "delta: column '%s': type %s has no Delta equivalent", f->name,
                         tb_type_id_name((tb_type_id)f->type.id));
            goto fail;
        }
        jf = json_pack("{s:s, s:s, s:b, s:{}}", "name", f->name, "type", tn, "nullable",
                       (int)f->nullable, "metadata");
        if (jf == NULL || json_array_append_new(fields, jf) != 0) {
            rc = tb_err_nomem(err);
            goto fail;
        }
    }
    s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    *out = tb_strdup(s);
    free(s); /* json_dumps allocates with jansson's allocator (malloc) */
    json_decref(root);
    if (*out == NULL)
        return tb_err_nomem(err);
    return TB_OK;
fail:
    json_decref(root);
    return rc;
}

/* ---------------------------------------------------------------- commit parsing */

/* Error helper: "<name>:<line>: <action>.<field>: <what>". */
#define CERR(c, line, err, code, ...)                                                              \
    (TB_ERRF((err), (code), __VA_ARGS__), tb_err_prefix((err), "delta: %s:%u", (c)->name, (line)))

static bool get_i64(json_t *obj, const char *key, bool required, int64_t *out, bool *ok)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        *ok = !required;
        return false;
    }
    if (!json_is_integer(v)) {
        *ok = false;
        return false;
    }
    *out = (int64_t)json_integer_value(v);
    *ok = true;
    return true;
}

/* String field: NULL if absent or null; *ok false if required and missing or mistyped. */
static const char *get_str(json_t *obj, const char *key, bool required, bool *ok)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        *ok = !required;
        return NULL;
    }
    if (!json_is_string(v)) {
        *ok = false;
        return NULL;
    }
    *ok = true;
    return json_string_value(v);
}

static tb_rc push_act(tb_delta_commit *c, tb_delta_action **out)
{
    if (c->n_acts == UINT32_MAX - 1)
        return TB_E_LIMIT;
    if (c->n_acts == c->cap_acts) {
        size_t cap = c->cap_acts;
        if (tb_grow((void **)&c->acts, &cap, (size_t)c->n_acts + 1, sizeof(*c->acts)) != TB_OK)
            return TB_E_NOMEM;
        c->cap_acts = (uint32_t)TB_MIN(cap, UINT32_MAX);
    }
    *out = &c->acts[c->n_acts++];
    memset(*out, 0, sizeof(**out));
    return TB_OK;
}

/* add / remove body -> file entry. */
static tb_rc parse_file_action(tb_delta_commit *c, uint32_t line, const char *kind, json_t *body,
                               bool is_add, tb_delta_fentry **out, tb_err *err)
{
    const char *raw_path, *stats;
    char *path = NULL;
    json_t *pv, *dv, *dc, *val;
    const char **keys = NULL, **vals = NULL;
    const char *k;
    uint32_t n_pv = 0;
    int64_t size = -1, mod_time = 0, del_ts = 0;
    bool ok;
    tb_delta_fentry *e = NULL;
    tb_rc rc;

    *out = NULL;
    raw_path = get_str(body, "path", true, &ok);
    if (!ok || raw_path[0] == '\0')
        return CERR(c, line, err, TB_E_CORRUPT, "%s.path: expected a non-empty string", kind);
    rc = tb_delta_path_decode(raw_path, &path);
    if (rc == TB_E_NOMEM)
        return tb_err_nomem(err);
    if (rc != TB_OK)
        return CERR(c, line, err, TB_E_CORRUPT, "%s.path: bad %%-escape in '%s'", kind, raw_path);
    pv = json_object_get(body, "partitionValues");
    if ((pv == NULL || json_is_null(pv)) && is_add) {
        rc = CERR(c, line, err, TB_E_CORRUPT, "add.partitionValues: missing");
        goto fail;
    }
    if (pv != NULL && !json_is_null(pv) && !json_is_object(pv)) {
        rc = CERR(c, line, err, TB_E_CORRUPT, "%s.partitionValues: expected an object", kind);
        goto fail;
    }
    get_i64(body, "size", is_add, &size, &ok);
    if (!ok || (is_add && size < 0)) {
        rc = CERR(c, line, err, TB_E_CORRUPT, "%s.size: expected a non-negative integer", kind);
        goto fail;
    }
    get_i64(body, "modificationTime", is_add, &mod_time, &ok);
    if (!ok) {
        rc = CERR(c, line, err, TB_E_CORRUPT, "%s.modificationTime: expected an integer", kind);
        goto fail;
    }
    get_i64(body, "deletionTimestamp", false, &del_ts, &ok);
    if (!ok) {
        rc = CERR(c, line, err, TB_E_CORRUPT, "%s.deletionTimestamp: expected an integer", kind);
        goto fail;
    }
    dc = json_object_get(body, "dataChange");
    if ((dc == NULL && is_add) || (dc != NULL && !json_is_boolean(dc))) {
        rc = CERR(c, line, err, TB_E_CORRUPT, "%s.dataChange: expected a boolean", kind);
        goto fail;
    }
    stats = get_str(body, "stats", false, &ok);
    if (!ok) {
        rc = CERR(c, line, err, TB_E_CORRUPT, "%s.stats: expected a string", kind);
        goto fail;
    }
    dv = json_object_get(body, "deletionVector");
    if (dv != NULL && !json_is_null(dv)) {
        rc = CERR(c, line, err, TB_E_UNSUPPORTED, "%s: deletion vectors are not supported", kind);
        goto fail;
    }
    if (pv != NULL && json_is_object(pv) && json_object_size(pv) > 0) {
        size_t npv = json_object_size(pv);
        if (npv > 10000) {
            rc = CERR(c, line, err, TB_E_LIMIT, "%s.partitionValues: too many entries", kind);
            goto fail;
        }
        keys = tb_calloc(npv, sizeof(*keys));
        vals = tb_calloc(npv, sizeof(*vals));
        if (keys == NULL || vals == NULL) {
            rc = tb_err_nomem(err);
            goto fail;
        }
        json_object_foreach(pv, k, val)
        {
            if (!json_is_null(val) && !json_is_string(val)) {
                rc = CERR(c, line, err, TB_E_CORRUPT,
                          "%s.partitionValues.%s: expected a string or null", kind, k);
                goto fail;
            }
            keys[n_pv] = k;
            vals[n_pv] = json_is_null(val) ? NULL : json_string_value(val);
            n_pv++;
        }
    }
    e = tb_delta_fentry_new(raw_path, path, stats, n_pv, keys, vals);
    if (e == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    e->size = size;
    e->mod_time = mod_time;
    e->del_ts = del_ts;
    e->data_change = dc == NULL || json_is_true(dc);
    e->has_pv = pv != NULL && json_is_object(pv);
    tb_free(keys);
    tb_free(vals);
    tb_free(path);
    *out = e;
    return TB_OK;
fail:
    tb_free(keys);
    tb_free(vals);
    tb_free(path);
    return rc;
}

static tb_rc check_metadata_body(tb_delta_commit *c, uint32_t line, json_t *body, tb_err *err)
{
    json_t *pc, *cfg, *v;
    const char *k;
    size_t i;
    bool ok;
    const char *ss;
    tb_schema *schema = NULL;
    tb_rc rc;

    (void)get_str(body, "id", false, &ok);
    if (!ok)
        return CERR(c, line, err, TB_E_CORRUPT, "metaData.id: expected a string");
    ss = get_str(body, "schemaString", true, &ok);
    if (!ok)
        return CERR(c, line, err, TB_E_CORRUPT, "metaData.schemaString: expected a string");
    pc = json_object_get(body, "partitionColumns");
    if (!json_is_array(pc))
        return CERR(c, line, err, TB_E_CORRUPT, "metaData.partitionColumns: expected an array");
    json_array_foreach(pc, i, v)
    {
        if (!json_is_string(v))
            return CERR(c, line, err, TB_E_CORRUPT,
                        "metaData.partitionColumns[%zu]: expected a string", i);
    }
    cfg = json_object_get(body, "configuration");
    if (cfg != NULL && !json_is_null(cfg)) {
        if (!json_is_object(cfg))
            return CERR(c, line, err, TB_E_CORRUPT, "metaData.configuration: expected an object");
        json_object_foreach(cfg, k, v)
        {
            if (!json_is_string(v) && !json_is_null(v))
                return CERR(c, line, err, TB_E_CORRUPT,
                            "metaData.configuration.%s: expected a string", k);
        }
    }
    rc = tb_delta_schema_parse(ss, &schema, NULL, err);
    if (rc != TB_OK) {
        tb_err_prefix(err, "delta: %s:%u: metaData", c->name, line);
        return rc;
    }
    json_array_foreach(pc, i, v)
    {
        if (tb_schema_find(schema, json_string_value(v)) < 0) {
            rc = CERR(c, line, err, TB_E_CORRUPT,
                      "metaData.partitionColumns: '%s' is not a (supported) column of the schema",
                      json_string_value(v));
            tb_schema_free(schema);
            return rc;
        }
    }
    tb_schema_free(schema);
    return TB_OK;
}

static tb_rc parse_action(tb_delta_commit *c, uint32_t line, const char *key, json_t *body,
                          tb_err *err)
{
    tb_delta_action *a;
    bool ok;
    int64_t v;

    if (push_act(c, &a) != TB_OK)
        return tb_err_nomem(err);
    a->line = line;
    a->body = body;
    if (strcmp(key, "commitInfo") == 0) {
        a->kind = TB_DA_COMMITINFO;
        return TB_OK;
    }
    if (strcmp(key, "add") != 0 && strcmp(key, "remove") != 0 && strcmp(key, "metaData") != 0 &&
        strcmp(key, "protocol") != 0 && strcmp(key, "txn") != 0) {
        a->kind = TB_DA_OTHER; /* cdc, domainMetadata, ...: no effect on the snapshot */
        return TB_OK;
    }
    if (!json_is_object(body))
        return CERR(c, line, err, TB_E_CORRUPT, "%s: expected an object", key);
    if (strcmp(key, "add") == 0 || strcmp(key, "remove") == 0) {
        bool is_add = key[0] == 'a';
        a->kind = is_add ? TB_DA_ADD : TB_DA_REMOVE;
        return parse_file_action(c, line, key, body, is_add, &a->file, err);
    }
    if (strcmp(key, "metaData") == 0) {
        a->kind = TB_DA_METADATA;
        return check_metadata_body(c, line, body, err);
    }
    if (strcmp(key, "protocol") == 0) {
        json_t *f;
        a->kind = TB_DA_PROTOCOL;
        get_i64(body, "minReaderVersion", true, &v, &ok);
        if (!ok || v < 1)
            return CERR(c, line, err, TB_E_CORRUPT,
                        "protocol.minReaderVersion: expected a positive integer");
        get_i64(body, "minWriterVersion", true, &v, &ok);
        if (!ok || v < 1)
            return CERR(c, line, err, TB_E_CORRUPT,
                        "protocol.minWriterVersion: expected a positive integer");
        f = json_object_get(body, "readerFeatures");
        if (f != NULL && !json_is_null(f) && !json_is_array(f))
            return CERR(c, line, err, TB_E_CORRUPT, "protocol.readerFeatures: expected an array");
        f = json_object_get(body, "writerFeatures");
        if (f != NULL && !json_is_null(f) && !json_is_array(f))
            return CERR(c, line, err, TB_E_CORRUPT, "protocol.writerFeatures: expected an array");
        return TB_OK;
    }
    /* txn */
    a->kind = TB_DA_TXN;
    a->app_id = get_str(body, "appId", true, &ok);
    if (!ok)
        return CERR(c, line, err, TB_E_CORRUPT, "txn.appId: expected a string");
    get_i64(body, "version", true, &a->txn_version, &ok);
    if (!ok)
        return CERR(c, line, err, TB_E_CORRUPT, "txn.version: expected an integer");
    a->last_updated = -1;
    get_i64(body, "lastUpdated", false, &a->last_updated, &ok);
    if (!ok)
        return CERR(c, line, err, TB_E_CORRUPT, "txn.lastUpdated: expected an integer");
    return TB_OK;
}

tb_rc tb_delta_commit_parse(const char *name, const char *data, size_t len, tb_delta_commit **out,
                            tb_err *err)
{
    tb_delta_commit *c;
    const char *p = data, *end = data + len;
    uint32_t line = 0;
    tb_rc rc;

    *out = NULL;
    c = tb_calloc(1, sizeof(*c));
    if (c == NULL)
        return tb_err_nomem(err);
    c->name = tb_strdup(name);
    if (c->name == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl != NULL ? nl : end, *s = p, *t = e;
        json_error_t jerr;
        json_t *root, *body;
        const char *key;

        line++;
        p = e + 1;
        while (t > s && isspace((unsigned char)t[-1]))
            t--;
        while (s < t && isspace((unsigned char)*s))
            s++;
        if (s == t)
            continue;
        root = json_loadb(s, (size_t)(t - s), 0, &jerr);
        if (root == NULL) {
            rc = TB_ERRF(err, TB_E_CORRUPT, "delta: %s:%u: invalid JSON (%s at column %d)", c->name,
                         line, jerr.text, jerr.column);
            goto fail;
        }
        if (c->n_roots == c->cap_roots) {
            size_t cap = c->cap_roots;
            if (c->n_roots >= UINT32_MAX / 2 ||
                tb_grow((void **)&c->roots, &cap, (size_t)c->n_roots + 1, sizeof(*c->roots)) !=
                    TB_OK) {
                json_decref(root);
                rc = tb_err_nomem(err);
                goto fail;
            }
            c->cap_roots = (uint32_t)cap;
        }
        c->roots[c->n_roots++] = root;
        if (!json_is_object(root)) {
            rc = TB_ERRF(err, TB_E_CORRUPT, "delta: %s:%u: an action must be a JSON object",
                         c->name, line);
            goto fail;
        }
        json_object_foreach(root, key, body)
        {
            rc = parse_action(c, line, key, body, err);
            if (rc != TB_OK)
                goto fail;
        }
    }
    *out = c;
    return TB_OK;
fail:
    tb_delta_commit_free(c);
    return rc;
}

void tb_delta_commit_summarize(const tb_delta_commit *commit, tb_delta_commit_summary *out)
{
    uint32_t i;

    memset(out, 0, sizeof(*out));
    out->is_blind_append = true;
    for (i = 0; i < commit->n_acts; i++) {
        const tb_delta_action *a = &commit->acts[i];
        switch (a->kind) {
        case TB_DA_ADD:
            out->n_add++;
            break;
        case TB_DA_REMOVE:
            out->n_remove++;
            out->is_blind_append = false;
            break;
        case TB_DA_METADATA:
            out->has_metadata = true;
            out->is_blind_append = false;
            break;
        case TB_DA_PROTOCOL:
            out->has_protocol = true;
            out->is_blind_append = false;
            break;
        case TB_DA_TXN:
            out->n_txn++;
            break;
        default:
            out->n_other++;
            break;
        }
    }
}

void tb_delta_commit_free(tb_delta_commit *commit)
{
    uint32_t i;

    if (commit == NULL)
        return;
    for (i = 0; i < commit->n_acts; i++)
        tb_free(commit->acts[i].file);
    for (i = 0; i < commit->n_roots; i++)
        json_decref(commit->roots[i]);
    tb_free(commit->acts);
    tb_free(commit->roots);
    tb_free(commit->name);
    tb_free(commit);
}

/* ---------------------------------------------------------------- applying */

tb_rc tb_delta_set_txn(tb_delta_snapshot *snap, const char *app_id, int64_t version,
                       int64_t last_updated)
{
    size_t i;
    char *id;

    for (i = 0; i < snap->n_txn; i++) {
        if (strcmp(snap->txns[i].app_id, app_id) == 0) {
            snap->txns[i].version = version;
            snap->txns[i].last_updated = last_updated;
            return TB_OK;
        }
    }
    id = tb_strdup(app_id);
    if (id == NULL || tb_grow((void **)&snap->txns, &snap->cap_txn, snap->n_txn + 1,
                              sizeof(*snap->txns)) != TB_OK) {
        tb_free(id);
        return TB_E_NOMEM;
    }
    snap->txns[snap->n_txn].app_id = id;
    snap->txns[snap->n_txn].version = version;
    snap->txns[snap->n_txn].last_updated = last_updated;
    snap->n_txn++;
    return TB_OK;
}

tb_rc tb_delta_set_metadata(tb_delta_snapshot *snap, json_t *body, const char *where, tb_err *err)
{
    json_t *pc = json_object_get(body, "partitionColumns"), *v;
    const char *ss = json_string_value(json_object_get(body, "schemaString"));
    tb_schema *schema = NULL;
    char **part_cols = NULL, *skipped = NULL;
    size_t i, n_part;
    tb_rc rc;

    if (ss == NULL || !json_is_array(pc))
        return TB_ERRF(err, TB_E_CORRUPT,
                       "delta: %s: metaData lacks schemaString or partitionColumns", where);
    rc = tb_delta_schema_parse(ss, &schema, &skipped, err);
    if (rc != TB_OK)
        return tb_err_prefix(err, "delta: %s: metaData", where);
    if (skipped != NULL) {
        tb_log(TB_LOG_WARN, "delta: %s: nested columns not supported, left out: %s",
               snap->table_path, skipped);
        tb_free(skipped);
    }
    n_part = json_array_size(pc);
    if (n_part > 0) {
        part_cols = tb_calloc(n_part, sizeof(char *));
        if (part_cols == NULL) {
            rc = tb_err_nomem(err);
            goto fail;
        }
    }
    json_array_foreach(pc, i, v)
    {
        int idx = json_is_string(v) ? tb_schema_find(schema, json_string_value(v)) : -1;
        if (idx < 0) {
            rc =
                TB_ERRF(err, TB_E_CORRUPT,
                        "delta: %s: partition column %zu is not a (supported) column of the schema",
                        where, i);
            goto fail;
        }
        /* Use the schema's spelling (partition values are keyed by it). */
        part_cols[i] = tb_strdup(json_string_value(v));
        if (part_cols[i] == NULL) {
            rc = tb_err_nomem(err);
            goto fail;
        }
    }
    /* point of no return: replace the snapshot's metadata */
    for (i = 0; i < snap->n_part; i++)
        tb_free(snap->part_cols[i]);
    tb_free(snap->part_cols);
    tb_schema_free(snap->schema);
    json_decref(snap->metadata);
    snap->schema = schema;
    snap->part_cols = part_cols;
    snap->n_part = (uint32_t)n_part;
    snap->metadata = json_incref(body);
    return TB_OK;
fail:
    if (part_cols != NULL)
        for (i = 0; i < n_part; i++)
            tb_free(part_cols[i]);
    tb_free(part_cols);
    tb_schema_free(schema);
    return rc;
}

tb_rc tb_delta_set_protocol(tb_delta_snapshot *snap, json_t *body, const char *where, tb_err *err)
{
    json_t *r = json_object_get(body, "minReaderVersion"),
           *w = json_object_get(body, "minWriterVersion");

    if (!json_is_integer(r) || !json_is_integer(w))
        return TB_ERRF(err, TB_E_CORRUPT,
                       "delta: %s: protocol lacks minReaderVersion/minWriterVersion", where);
    json_decref(snap->protocol);
    snap->protocol = json_incref(body);
    snap->min_reader = (int64_t)json_integer_value(r);
    snap->min_writer = (int64_t)json_integer_value(w);
    return TB_OK;
}

tb_rc tb_delta_apply(tb_delta_snapshot *snap, tb_delta_commit *commit, int64_t version, tb_err *err)
{
    uint32_t i;
    char where[64];
    tb_rc rc;

    for (i = 0; i < commit->n_acts; i++) {
        tb_delta_action *a = &commit->acts[i];
        tb_delta_fentry *e;

        switch (a->kind) {
        case TB_DA_ADD:
            tb_free(tb_delta_ftab_take(&snap->tombs, a->file->path));
            e = a->file;
            a->file = NULL;
            if (tb_delta_ftab_put(&snap->live, e) != TB_OK)
                return tb_err_nomem(err);
            break;
        case TB_DA_REMOVE:
            tb_free(tb_delta_ftab_take(&snap->live, a->file->path));
            e = a->file;
            a->file = NULL;
            if (tb_delta_ftab_put(&snap->tombs, e) != TB_OK)
                return tb_err_nomem(err);
            break;
        case TB_DA_METADATA:
        case TB_DA_PROTOCOL:
            snprintf(where, sizeof(where), "%020" PRId64 ".json:%u", version, a->line);
            rc = a->kind == TB_DA_METADATA ? tb_delta_set_metadata(snap, a->body, where, err)
                                           : tb_delta_set_protocol(snap, a->body, where, err);
            if (rc != TB_OK)
                return rc;
            break;
        case TB_DA_TXN:
            if (tb_delta_set_txn(snap, a->app_id, a->txn_version, a->last_updated) != TB_OK)
                return tb_err_nomem(err);
            break;
        default:
            break;
        }
    }
    snap->version = version;
    return TB_OK;
}

/* ---------------------------------------------------------------- protocol checks */

static bool features_subset(json_t *features, const char *const *known, size_t n_known,
                            const char **out_bad)
{
    size_t i, k;
    json_t *f;

    if (features == NULL || json_is_null(features))
        return true;
    json_array_foreach(features, i, f)
    {
        bool found = false;
        if (!json_is_string(f)) {
            *out_bad = "?";
            return false;
        }
        for (k = 0; k < n_known; k++)
            if (strcmp(json_string_value(f), known[k]) == 0)
                found = true;
        if (!found) {
            *out_bad = json_string_value(f);
            return false;
        }
    }
    return true;
}

tb_rc tb_delta_check_protocol(const tb_delta_snapshot *snap, bool for_write, tb_err *err)
{
    static const char *const rfeat[] = {"timestampNtz", "vacuumProtocolCheck"};
    static const char *const wfeat[] = {"appendOnly", "timestampNtz"};
    const char *cm = tb_delta_config(snap, "delta.columnMapping.mode");
    const char *bad = NULL;

    if (cm != NULL && strcmp(cm, "none") != 0)
        return TB_ERRF(err, TB_E_UNSUPPORTED,
                       "delta: %s: column mapping mode '%s' is not supported", snap->table_path,
                       cm);
    if (snap->min_reader > 3 ||
        (snap->min_reader == 3 &&
         !features_subset(json_object_get(snap->protocol, "readerFeatures"), rfeat, 2, &bad)))
        return TB_ERRF(err, TB_E_UNSUPPORTED,
                       "delta: %s: reader protocol %" PRId64
                       "%s%s is not supported (reader version 1)",
                       snap->table_path, snap->min_reader, bad != NULL ? " with feature " : "",
                       bad != NULL ? bad : "");
    if (!for_write)
        return TB_OK;
    if (snap->min_writer > 7 || (snap->min_writer > 2 && snap->min_writer < 7) ||
        (snap->min_writer == 7 &&
         !features_subset(json_object_get(snap->protocol, "writerFeatures"), wfeat, 2, &bad)))
        return TB_ERRF(err, TB_E_UNSUPPORTED,
                       "delta: %s: writer protocol %" PRId64
                       "%s%s is not supported (writer version 2)",
                       snap->table_path, snap->min_writer, bad != NULL ? " with feature " : "",
                       bad != NULL ? bad : "");
    return TB_OK;
}

/* ---------------------------------------------------------------- listing */

typedef struct ck_entry {
    int64_t version;
    uint32_t part;  /* 0 for a single-file checkpoint */
    uint32_t parts; /* 0 for a single-file checkpoint */
} ck_entry;

typedef struct log_list {
    int64_t *commits;
    size_t n_commits, cap_commits;
    ck_entry *cks;
    size_t n_cks, cap_cks;
} log_list;

static void log_list_free(log_list *l)
{
    tb_free(l->commits);
    tb_free(l->cks);
    memset(l, 0, sizeof(*l));
}

static bool all_digits(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int64_t parse_digits(const char *s, size_t n)
{
    int64_t v = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_ck(const void *a, const void *b)
{
    const ck_entry *x = a, *y = b;
    if (x->version != y->version)
        return x->version < y->version ? -1 : 1;
    if (x->parts != y->parts)
        return x->parts < y->parts ? -1 : 1;
    return x->part < y->part ? -1 : x->part > y->part;
}

static tb_rc list_log(const char *table_path, const char *log_path, log_list *l, tb_err *err)
{
    DIR *dir;
    struct dirent *de;

    memset(l, 0, sizeof(*l));
    dir = opendir(log_path);
    if (dir == NULL) {
        if (errno == ENOENT || errno == ENOTDIR)
            return TB_ERRF(err, TB_E_NOTFOUND, "delta: %s: not a Delta table (no _delta_log)",
                           table_path);
        return TB_ERRF(err, TB_E_IO, "delta: %s: %s", log_path, strerror(errno));
    }
    while ((de = readdir(dir)) != NULL) {
        const char *n = de->d_name;
        size_t len = strlen(n);
        int64_t v;

        if (len < 25 || !all_digits(n, 20) || n[20] != '.')
            continue;
        v = parse_digits(n, 20);
        if (v < 0)
            continue;
        if (strcmp(n + 20, ".json") == 0) {
            if (tb_grow((void **)&l->commits, &l->cap_commits, l->n_commits + 1, sizeof(int64_t)) !=
                TB_OK)
                goto nomem;
            l->commits[l->n_commits++] = v;
        } else if (strcmp(n + 20, ".checkpoint.parquet") == 0 ||
                   (len == 20 + 12 + 21 + 8 && strncmp(n + 20, ".checkpoint.", 12) == 0 &&
                    all_digits(n + 32, 10) && n[42] == '.' && all_digits(n + 43, 10) &&
                    strcmp(n + 53, ".parquet") == 0)) {
            ck_entry ce = {v, 0, 0};
            if (n[31] == '.' && n[32] != 'p') {
                int64_t part = parse_digits(n + 32, 10), parts = parse_digits(n + 43, 10);
                if (parts < 1 || parts > TB_DELTA_MAX_CKPT_PARTS || part < 1 || part > parts)
                    continue;
                ce.part = (uint32_t)part;
                ce.parts = (uint32_t)parts;
            }
            if (tb_grow((void **)&l->cks, &l->cap_cks, l->n_cks + 1, sizeof(ck_entry)) != TB_OK)
                goto nomem;
            l->cks[l->n_cks++] = ce;
        }
    }
    closedir(dir);
    if (l->n_commits > 1)
        qsort(l->commits, l->n_commits, sizeof(int64_t), cmp_i64);
    if (l->n_cks > 1)
        qsort(l->cks, l->n_cks, sizeof(ck_entry), cmp_ck);
    return TB_OK;
nomem:
    closedir(dir);
    log_list_free(l);
    return tb_err_nomem(err);
}

static bool has_commit(const log_list *l, int64_t v)
{
    if (l->n_commits == 0)
        return false;
    return bsearch(&v, l->commits, l->n_commits, sizeof(int64_t), cmp_i64) != NULL;
}

/* Complete checkpoints, newest first, each as (version, parts) into out (caller frees). */
static tb_rc complete_checkpoints(const log_list *l, ck_entry **out, size_t *n_out)
{
    size_t i = 0, n = 0;
    ck_entry *res = NULL;

    *out = NULL;
    *n_out = 0;
    if (l->n_cks == 0)
        return TB_OK;
    res = tb_calloc(l->n_cks, sizeof(ck_entry));
    if (res == NULL)
        return TB_E_NOMEM;
    while (i < l->n_cks) {
        size_t j = i;
        uint32_t expect = 1;
        bool ok = true;
        while (j < l->n_cks && l->cks[j].version == l->cks[i].version &&
               l->cks[j].parts == l->cks[i].parts) {
            if (l->cks[i].parts > 0 && l->cks[j].part != expect)
                ok = false;
            expect++;
            j++;
        }
        if (l->cks[i].parts > 0 && expect - 1 != l->cks[i].parts)
            ok = false;
        if (ok)
            res[n++] = l->cks[i];
        i = j;
    }
    /* newest first */
    for (i = 0; i < n / 2; i++) {
        ck_entry t = res[i];
        res[i] = res[n - 1 - i];
        res[n - 1 - i] = t;
    }
    *out = res;
    *n_out = n;
    return TB_OK;
}

/* ---------------------------------------------------------------- snapshots */

tb_rc tb_delta_snapshot_empty(const char *table_path, tb_delta_snapshot **out, tb_err *err)
{
    tb_delta_snapshot *snap;
    size_t n = strlen(table_path);

    *out = NULL;
    while (n > 1 && table_path[n - 1] == '/')
        n--;
    snap = tb_calloc(1, sizeof(*snap));
    if (snap == NULL)
        return tb_err_nomem(err);
    snap->version = -1;
    snap->ckpt_version = -1;
    snap->table_path = tb_strndup(table_path, n);
    if (snap->table_path != NULL) {
        snap->log_path = tb_malloc(n + sizeof("/_delta_log"));
        if (snap->log_path != NULL)
            snprintf(snap->log_path, n + sizeof("/_delta_log"), "%s/_delta_log", snap->table_path);
    }
    if (snap->table_path == NULL || snap->log_path == NULL) {
        tb_delta_snapshot_free(snap);
        return tb_err_nomem(err);
    }
    *out = snap;
    return TB_OK;
}

/* Forget everything but the paths (after a failed checkpoint read). */
static void snapshot_reset(tb_delta_snapshot *snap)
{
    size_t i;

    tb_delta_ftab_clear(&snap->live);
    tb_delta_ftab_clear(&snap->tombs);
    for (i = 0; i < snap->n_txn; i++)
        tb_free(snap->txns[i].app_id);
    tb_free(snap->txns);
    snap->txns = NULL;
    snap->n_txn = snap->cap_txn = 0;
    for (i = 0; i < snap->n_part; i++)
        tb_free(snap->part_cols[i]);
    tb_free(snap->part_cols);
    snap->part_cols = NULL;
    snap->n_part = 0;
    tb_schema_free(snap->schema);
    snap->schema = NULL;
    json_decref(snap->metadata);
    json_decref(snap->protocol);
    snap->metadata = snap->protocol = NULL;
    snap->min_reader = snap->min_writer = 0;
    snap->version = -1;
    snap->ckpt_version = -1;
}

void tb_delta_snapshot_free(tb_delta_snapshot *snap)
{
    if (snap == NULL)
        return;
    snapshot_reset(snap);
    tb_free(snap->table_path);
    tb_free(snap->log_path);
    tb_free(snap);
}

/* Read, parse and apply commit `v`, adding its summary to agg (may be NULL). */
static tb_rc apply_commit_file(tb_delta_snapshot *snap, int64_t v, tb_delta_commit_summary *agg,
                               tb_err *err)
{
    char path[4096];
    char *data = NULL;
    size_t len = 0;
    tb_delta_commit *commit = NULL;
    tb_rc rc;

    if ((size_t)snprintf(path, sizeof(path), "%s/%020" PRId64 ".json", snap->log_path, v) >=
        sizeof(path))
        return TB_ERRF(err, TB_E_LIMIT, "delta: %s: path too long", snap->log_path);
    rc = tb_file_read_all(path, TB_DELTA_MAX_COMMIT_BYTES, &data, &len, err);
    if (rc != TB_OK)
        return tb_err_prefix(err, "delta: commit %" PRId64, v);
    rc = tb_delta_commit_parse(path, data, len, &commit, err);
    tb_free(data);
    if (rc != TB_OK)
        return rc;
    if (agg != NULL) {
        tb_delta_commit_summary s;
        tb_delta_commit_summarize(commit, &s);
        agg->n_add += s.n_add;
        agg->n_remove += s.n_remove;
        agg->n_txn += s.n_txn;
        agg->n_other += s.n_other;
        agg->has_metadata |= s.has_metadata;
        agg->has_protocol |= s.has_protocol;
        agg->is_blind_append &= s.is_blind_append;
    }
    rc = tb_delta_apply(snap, commit, v, err);
    tb_delta_commit_free(commit);
    return rc;
}

static tb_rc finish_snapshot(tb_delta_snapshot *snap, tb_err *err)
{
    if (snap->metadata == NULL || snap->protocol == NULL)
        return TB_ERRF(err, TB_E_CORRUPT, "delta: %s: no %s action up to version %" PRId64,
                       snap->table_path, snap->metadata == NULL ? "metaData" : "protocol",
                       snap->version);
    if (tb_delta_ftab_compact(&snap->live) != TB_OK || tb_delta_ftab_compact(&snap->tombs) != TB_OK)
        return tb_err_nomem(err);
    return TB_OK;
}

/* Check the _last_checkpoint hint; a malformed one is only worth a warning (it is a
 * hint: the listing is authoritative on a local file system). */
static void check_last_checkpoint(const tb_delta_snapshot *snap, const ck_entry *cks, size_t n_cks)
{
    char path[4096];
    char *data = NULL;
    size_t len = 0, i;
    json_t *root, *v, *parts;
    json_error_t jerr;
    tb_err err;

    tb_err_clear(&err);
    snprintf(path, sizeof(path), "%s/_last_checkpoint", snap->log_path);
    if (access(path, F_OK) != 0)
        return;
    if (tb_file_read_all(path, 1 << 20, &data, &len, &err) != TB_OK) {
        tb_log(TB_LOG_WARN, "delta: %s", err.msg);
        return;
    }
    root = json_loadb(data, len, 0, &jerr);
    tb_free(data);
    v = json_object_get(root, "version");
    parts = json_object_get(root, "parts");
    if (root == NULL || !json_is_integer(v) || (parts != NULL && !json_is_integer(parts))) {
        tb_log(TB_LOG_WARN, "delta: %s: malformed, ignored", path);
        json_decref(root);
        return;
    }
    for (i = 0; i < n_cks; i++)
        if (cks[i].version == (int64_t)json_integer_value(v))
            break;
    if (i == n_cks)
        tb_log(TB_LOG_WARN, "delta: %s: names version %" PRId64 " which has no complete checkpoint",
               path, (int64_t)json_integer_value(v));
    json_decref(root);
}

tb_rc tb_delta_open(const char *table_path, int64_t version, tb_delta_snapshot **out, tb_err *err)
{
    tb_delta_snapshot *snap = NULL;
    log_list l = {0};
    ck_entry *cks = NULL;
    size_t n_cks = 0, i;
    int64_t latest = -1, target, start = 0, v;
    tb_err ck_err;
    bool ck_failed = false;
    tb_rc rc;

    *out = NULL;
    tb_err_clear(&ck_err);
    if (table_path == NULL || table_path[0] == '\0')
        return TB_ERRF(err, TB_E_MISUSE, "delta: empty table path");
    rc = tb_delta_snapshot_empty(table_path, &snap, err);
    if (rc != TB_OK)
        return rc;
    rc = list_log(snap->table_path, snap->log_path, &l, err);
    if (rc != TB_OK)
        goto fail;
    if (complete_checkpoints(&l, &cks, &n_cks) != TB_OK) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    if (l.n_commits > 0)
        latest = l.commits[l.n_commits - 1];
    if (n_cks > 0 && cks[0].version > latest)
        latest = cks[0].version;
    if (latest < 0) {
        rc = TB_ERRF(err, TB_E_NOTFOUND, "delta: %s: not a Delta table (empty _delta_log)",
                     snap->table_path);
        goto fail;
    }
    if (version > latest) {
        rc = TB_ERRF(err, TB_E_NOTFOUND,
                     "delta: %s: version %" PRId64 " does not exist (latest is %" PRId64 ")",
                     snap->table_path, version, latest);
        goto fail;
    }
    target = version < 0 ? latest : version;
    check_last_checkpoint(snap, cks, n_cks);
    for (i = 0; i < n_cks; i++) {
        if (cks[i].version > target)
            continue;
        rc = tb_delta_read_checkpoint(snap, cks[i].version, cks[i].parts, &ck_err);
        if (rc == TB_OK) {
            snap->ckpt_version = cks[i].version;
            snap->version = cks[i].version;
            start = cks[i].version + 1;
            break;
        }
        if (rc == TB_E_NOMEM) {
            rc = tb_err_nomem(err);
            goto fail;
        }
        ck_failed = true;
        tb_log(TB_LOG_DEBUG, "delta: checkpoint %" PRId64 " not used: %s", cks[i].version,
               ck_err.msg);
        snapshot_reset(snap);
    }
    for (v = start; v <= target; v++) {
        if (!has_commit(&l, v)) {
            if (ck_failed && start == 0)
                rc = TB_ERRF(err, TB_E_CORRUPT,
                             "delta: %s: commit %020" PRId64 ".json is missing and the checkpoint "
                             "cannot be read (%s)",
                             snap->table_path, v, ck_err.msg);
            else
                rc = TB_ERRF(err, TB_E_CORRUPT,
                             "delta: %s: missing commit %s/%020" PRId64
                             ".json (needed for version %" PRId64 ")",
                             snap->table_path, snap->log_path, v, target);
            goto fail;
        }
    }
    for (v = start; v <= target; v++) {
        rc = apply_commit_file(snap, v, NULL, err);
        if (rc != TB_OK)
            goto fail;
    }
    rc = finish_snapshot(snap, err);
    if (rc != TB_OK)
        goto fail;
    rc = tb_delta_check_protocol(snap, false, err);
    if (rc != TB_OK)
        goto fail;
    tb_free(cks);
    log_list_free(&l);
    *out = snap;
    return TB_OK;
fail:
    tb_free(cks);
    log_list_free(&l);
    tb_delta_snapshot_free(snap);
    return rc;
}

tb_rc tb_delta_refresh(tb_delta_snapshot *snap, tb_delta_commit_summary *out_agg, tb_err *err)
{
    log_list l = {0};
    int64_t v;
    tb_rc rc;

    if (out_agg != NULL) {
        memset(out_agg, 0, sizeof(*out_agg));
        out_agg->is_blind_append = true;
    }
    rc = list_log(snap->table_path, snap->log_path, &l, err);
    if (rc != TB_OK)
        return rc;
    for (v = snap->version + 1; has_commit(&l, v); v++) {
        rc = apply_commit_file(snap, v, out_agg, err);
        if (rc != TB_OK)
            goto out;
    }
    if (l.n_commits > 0 && l.commits[l.n_commits - 1] > snap->version) {
        rc = TB_ERRF(err, TB_E_CORRUPT, "delta: %s: missing commit %020" PRId64 ".json",
                     snap->log_path, v);
        goto out;
    }
    rc = finish_snapshot(snap, err);
out:
    log_list_free(&l);
    return rc;
}

/* ---------------------------------------------------------------- accessors */

int64_t tb_delta_version(const tb_delta_snapshot *snap) { return snap->version; }

const tb_schema *tb_delta_schema(const tb_delta_snapshot *snap) { return snap->schema; }

uint32_t tb_delta_partition_count(const tb_delta_snapshot *snap) { return snap->n_part; }

const char *tb_delta_partition_column(const tb_delta_snapshot *snap, uint32_t i)
{
    return i < snap->n_part ? snap->part_cols[i] : NULL;
}

const char *tb_delta_config(const tb_delta_snapshot *snap, const char *key)
{
    json_t *cfg = json_object_get(snap->metadata, "configuration");
    return json_string_value(json_object_get(cfg, key));
}

const char *tb_delta_table_id(const tb_delta_snapshot *snap)
{
    return json_string_value(json_object_get(snap->metadata, "id"));
}

uint64_t tb_delta_file_count(const tb_delta_snapshot *snap) { return snap->live.n; }

void tb_delta_file_get(const tb_delta_snapshot *snap, uint64_t i, tb_delta_file_info *out)
{
    const tb_delta_fentry *e = snap->live.items[i];

    out->path = e->path;
    out->size = e->size;
    out->modification_time = e->mod_time;
    out->stats = e->stats;
    out->n_part_values = e->n_pv;
    out->part_keys = (const char *const *)e->pkeys;
    out->part_vals = (const char *const *)e->pvals;
}

bool tb_delta_txn_version(const tb_delta_snapshot *snap, const char *app_id, int64_t *out)
{
    size_t i;

    for (i = 0; i < snap->n_txn; i++) {
        if (strcmp(snap->txns[i].app_id, app_id) == 0) {
            *out = snap->txns[i].version;
            return true;
        }
    }
    return false;
}
