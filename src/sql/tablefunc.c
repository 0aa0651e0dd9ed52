/*
 * tablefunc.c - the table-function registry and the built-in read_csv / read_parquet
 * (read_delta and read_json live in tf_delta.c and tf_json.c), plus the catalog
 * connector behind file-backed tables (CREATE TABLE ... WITH (connector = 'csv' |
 * 'parquet' | 'json' | X with a registered read_X)).
 *
 * The registry is process-wide: built-ins are added on first use, other layers add
 * theirs with tb_sql_register_tablefunc at start-up (single-threaded, before queries).
 *
 * read_csv(path [, option => value ...]): path is a file, a directory or a glob
 * (tb_path_expand), options are csv.h's (header, delimiter, quote, escape, null,
 * timestamp_format, date_format, mode, corrupt_column, schema, sample_rows, ...). The
 * schema is inferred at bind time unless given (schema option or CREATE TABLE columns).
 * read_parquet(path): schema from the first file. Both re-expand the path when a query
 * opens the source, so a file-backed table sees files added after its creation.
 */
#include <string.h>
#include <sys/stat.h>

#include "format/csv.h"
#include "format/parquet.h"
#include "sql/sql_int.h"

#define TF_MAX 64

static const tb_tablefunc *registry[TF_MAX];
static uint32_t n_registry;
static bool builtins_done;

static void add_builtins(void);

tb_rc tb_sql_register_tablefunc(const tb_tablefunc *tf)
{
    if (tf == NULL || tf->name == NULL || tf->bind == NULL || tf->open == NULL)
        return TB_E_MISUSE;
    add_builtins();
    for (uint32_t i = 0; i < n_registry; i++) {
        if (tb_str_ieq(registry[i]->name, tf->name)) {
            registry[i] = tf;
            return TB_OK;
        }
    }
    if (n_registry >= TF_MAX)
        return TB_E_LIMIT;
    registry[n_registry++] = tf;
    return TB_OK;
}

const tb_tablefunc *tb_sql_find_tablefunc(const char *name)
{
    add_builtins();
    for (uint32_t i = 0; i < n_registry; i++) {
        if (tb_str_ieq(registry[i]->name, name))
            return registry[i];
    }
    return NULL;
}

/* ---------------------------------------------------------------- binding */

static void schema_free_cb(void *p) { tb_schema_free(p); }

typedef struct tf_cleanup {
    const tb_tablefunc *tf;
    void *state;
} tf_cleanup;

static void state_free_cb(void *p)
{
    tf_cleanup *c = p;
    if (c->tf->free != NULL)
        c->tf->free(c->state);
}

tb_rc tb_sql_tf_bind(qctx *q, const tb_tablefunc *tf, const tb_tf_arg *args, uint32_t n_args,
                     const tb_schema *declared, lsource **out, tb_err *err)
{
    void *state = NULL;
    tb_schema *schema = NULL;
    tb_rc rc = tf->bind(args, n_args, declared, &state, &schema, err);
    if (rc != TB_OK)
        return rc;
    tf_cleanup *c = tb_arena_zalloc(q->arena, sizeof(*c));
    lsource *src = tb_arena_zalloc(q->arena, sizeof(*src));
    if (c == NULL || src == NULL) {
        if (tf->free != NULL)
            tf->free(state);
        tb_schema_free(schema);
        return tb_err_nomem(err);
    }
    c->tf = tf;
    c->state = state;
    if (tb_sql_add_cleanup(q, state_free_cb, c) != TB_OK) {
        if (tf->free != NULL)
            tf->free(state);
        tb_schema_free(schema);
        return tb_err_nomem(err);
    }
    if (tb_sql_add_cleanup(q, schema_free_cb, schema) != TB_OK) {
        tb_schema_free(schema);
        return tb_err_nomem(err);
    }
    src->kind = SRC_TF;
    src->name = tf->name;
    src->tf = tf;
    src->tf_state = state;
    src->schema = schema;
    *out = src;
    return TB_OK;
}

/* ---------------------------------------------------------------- helpers */

/* Text form of an argument value (options arrive as text). Heap string. */
char *tb_tf_arg_text(const tb_value *v)
{
    if (v->is_null)
        return NULL;
    if (v->type.id == TB_T_STRING)
        return tb_strndup(v->u.s.ptr, v->u.s.len);
    if (v->type.id == TB_T_BOOL)
        return tb_strdup(v->u.b ? "true" : "false");
    tb_buf buf = {0};
    if (tb_value_format(v, &buf) != TB_OK || tb_buf_cstr(&buf) == NULL) {
        tb_buf_free(&buf);
        return NULL;
    }
    return buf.data; /* NUL terminated by tb_buf_cstr */
}

tb_rc tb_tf_arg_error(const tb_tf_arg *a, tb_err *err)
{
    if (err != NULL && a != NULL)
        err->pos = a->pos;
    return err != NULL ? err->code : TB_E_SQL;
}

/* The path argument: first positional, or path => '...'. */
const tb_tf_arg *tb_tf_path_arg(const char *fn, const tb_tf_arg *args, uint32_t n,
                                 tb_err *err)
{
    for (uint32_t i = 0; i < n; i++) {
        if (args[i].name == NULL || tb_str_ieq(args[i].name, "path")) {
            if (args[i].value.is_null || args[i].value.type.id != TB_T_STRING) {
                TB_ERRF(err, TB_E_SQL, "%s: the path must be a string", fn);
                err->pos = args[i].pos;
                return NULL;
            }
            return &args[i];
        }
    }
    TB_ERRF(err, TB_E_SQL, "%s: missing path argument", fn);
    return NULL;
}

int64_t tb_tf_total_bytes(const tb_strlist *paths)
{
    int64_t total = 0;
    for (size_t i = 0; i < paths->n; i++) {
        struct stat st;
        if (stat(paths->items[i], &st) == 0)
            total += st.st_size;
    }
    return total;
}

/* ---------------------------------------------------------------- read_csv */

typedef struct csv_state {
    char *pattern;
    tb_csv_opts *opts;
    tb_schema *schema;
    int64_t bytes;
} csv_state;

static void csv_free(void *p)
{
    csv_state *s = p;
    if (s == NULL)
        return;
    tb_free(s->pattern);
    tb_csv_opts_free(s->opts);
    tb_schema_free(s->schema);
    tb_free(s);
}

static tb_rc csv_bind(const tb_tf_arg *args, uint32_t n_args, const tb_schema *declared,
                      void **out_state, tb_schema **out_schema, tb_err *err)
{
    tb_rc rc;
    tb_strlist paths = {0};
    const tb_tf_arg *pa = tb_tf_path_arg("read_csv", args, n_args, err);
    if (pa == NULL)
        return TB_E_SQL;
    csv_state *s = tb_calloc(1, sizeof(*s));
    if (s == NULL)
        return tb_err_nomem(err);
    s->pattern = tb_strndup(pa->value.u.s.ptr, pa->value.u.s.len);
    s->opts = tb_csv_opts_new();
    if (s->pattern == NULL || s->opts == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    for (uint32_t i = 0; i < n_args; i++) {
        const tb_tf_arg *a = &args[i];
        if (a == pa)
            continue;
        if (a->name == NULL) {
            rc = TB_ERRF(err, TB_E_SQL,
                         "read_csv: options are named: read_csv(path, "
                         "header => true, delimiter => ';', ...)");
            tb_tf_arg_error(a, err);
            goto fail;
        }
        if (tb_str_ieq(a->name, "connector") || tb_str_ieq(a->name, "format"))
            continue;
        char *text = tb_tf_arg_text(&a->value);
        if (text == NULL) {
            rc = TB_ERRF(err, TB_E_SQL, "read_csv: option %s needs a value", a->name);
            tb_tf_arg_error(a, err);
            goto fail;
        }
        rc = tb_csv_opts_set(s->opts, a->name, text, err);
        tb_free(text);
        if (rc != TB_OK) {
            tb_tf_arg_error(a, err);
            goto fail;
        }
    }
    rc = tb_path_expand(s->pattern, NULL, &paths, err);
    if (rc != TB_OK) {
        tb_tf_arg_error(pa, err);
        goto fail;
    }
    s->bytes = tb_tf_total_bytes(&paths);
    if (declared != NULL && declared->n > 0) {
        s->schema = tb_schema_copy(declared);
        if (s->schema == NULL) {
            rc = tb_err_nomem(err);
            goto fail;
        }
    } else {
        rc = tb_csv_infer_schema(&paths, s->opts, &s->schema, err);
        if (rc != TB_OK) {
            tb_tf_arg_error(pa, err);
            goto fail;
        }
    }
    *out_schema = tb_schema_copy(s->schema);
    if (*out_schema == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    tb_strlist_free(&paths);
    *out_state = s;
    return TB_OK;
fail:
    tb_strlist_free(&paths);
    csv_free(s);
    return rc;
}

static tb_rc csv_open(void *state, const int *proj, uint32_t n_proj, tb_source **out_src,
                      tb_err *err)
{
    csv_state *s = state;
    tb_strlist paths = {0};
    tb_rc rc = tb_path_expand(s->pattern, NULL, &paths, err);
    if (rc == TB_OK)
        rc = tb_csv_source_new(&paths, s->opts, s->schema, proj, n_proj, out_src, err);
    tb_strlist_free(&paths);
    return rc;
}

static int64_t csv_estimate(void *state)
{
    csv_state *s = state;
    return s->bytes / 40 + 1;
}

static const tb_tablefunc read_csv_tf = {"read_csv", csv_bind, csv_open, csv_free, csv_estimate};

/* ---------------------------------------------------------------- read_parquet */

typedef struct pq_state {
    char *pattern;
    int *map; /* declared column i -> file column (NULL: identity) */
    uint32_t n_map;
    int64_t bytes;
} pq_state;

static void pq_free(void *p)
{
    pq_state *s = p;
    if (s == NULL)
        return;
    tb_free(s->pattern);
    tb_free(s->map);
    tb_free(s);
}

static tb_rc pq_bind(const tb_tf_arg *args, uint32_t n_args, const tb_schema *declared,
                     void **out_state, tb_schema **out_schema, tb_err *err)
{
    tb_rc rc;
    tb_strlist paths = {0};
    tb_schema *fs = NULL;
    const tb_tf_arg *pa = tb_tf_path_arg("read_parquet", args, n_args, err);
    if (pa == NULL)
        return TB_E_SQL;
    for (uint32_t i = 0; i < n_args; i++) {
        const tb_tf_arg *a = &args[i];
        if (a == pa || (a->name != NULL &&
                        (tb_str_ieq(a->name, "connector") || tb_str_ieq(a->name, "format"))))
            continue;
        TB_ERRF(err, TB_E_SQL, "read_parquet: unknown option %s (read_parquet takes a path)",
                a->name ? a->name : "(positional)");
        return tb_tf_arg_error(a, err);
    }
    pq_state *s = tb_calloc(1, sizeof(*s));
    if (s == NULL)
        return tb_err_nomem(err);
    s->pattern = tb_strndup(pa->value.u.s.ptr, pa->value.u.s.len);
    if (s->pattern == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    rc = tb_path_expand(s->pattern, ".parquet", &paths, err);
    if (rc != TB_OK) {
        tb_tf_arg_error(pa, err);
        goto fail;
    }
    s->bytes = tb_tf_total_bytes(&paths);
    rc = tb_parquet_read_schema(paths.items[0], &fs, err);
    if (rc != TB_OK) {
        tb_tf_arg_error(pa, err);
        goto fail;
    }
    if (declared != NULL && declared->n > 0) {
        /* declared columns are found by name in the file; the file's types are kept */
        s->map = tb_calloc(declared->n, sizeof(int));
        tb_schema *out = tb_schema_new(declared->n);
        if (s->map == NULL || out == NULL) {
            tb_schema_free(out);
            rc = tb_err_nomem(err);
            goto fail;
        }
        s->n_map = declared->n;
        for (uint32_t i = 0; i < declared->n; i++) {
            int k = tb_schema_find(fs, declared->fields[i].name);
            if (k < 0) {
                tb_schema_free(out);
                rc = TB_ERRF(err, TB_E_NOTFOUND, "parquet file %s has no column \"%s\"",
                             paths.items[0], declared->fields[i].name);
                goto fail;
            }
            s->map[i] = k;
            if (tb_schema_set(out, i, declared->fields[i].name, fs->fields[k].type,
                              fs->fields[k].nullable) != TB_OK) {
                tb_schema_free(out);
                rc = tb_err_nomem(err);
                goto fail;
            }
        }
        tb_schema_free(fs);
        fs = out;
    }
    tb_strlist_free(&paths);
    *out_schema = fs;
    *out_state = s;
    return TB_OK;
fail:
    tb_schema_free(fs);
    tb_strlist_free(&paths);
    pq_free(s);
    return rc;
}

static tb_rc pq_open(void *state, const int *proj, uint32_t n_proj, tb_source **out_src,
                     tb_err *err)
{
    pq_state *s = state;
    tb_strlist paths = {0};
    int *mapped = NULL;
    tb_rc rc = tb_path_expand(s->pattern, ".parquet", &paths, err);
    if (rc != TB_OK)
        return rc;
    if (s->map != NULL) {
        mapped = tb_calloc(n_proj ? n_proj : 1, sizeof(int));
        if (mapped == NULL) {
            tb_strlist_free(&paths);
            return tb_err_nomem(err);
        }
        for (uint32_t i = 0; i < n_proj; i++)
            mapped[i] = s->map[proj[i]];
        proj = mapped;
    }
    rc = tb_parquet_source_new(&paths, proj, n_proj, out_src, err);
    tb_free(mapped);
    tb_strlist_free(&paths);
    return rc;
}

static int64_t pq_estimate(void *state)
{
    pq_state *s = state;
    return s->bytes / 8 + 1;
}

static const tb_tablefunc read_parquet_tf = {"read_parquet", pq_bind, pq_open, pq_free,
                                             pq_estimate};

static void add_builtins(void)
{
    if (builtins_done)
        return;
    builtins_done = true;
    registry[n_registry++] = &read_csv_tf;
    registry[n_registry++] = &read_parquet_tf;
    registry[n_registry++] = &tb_sql_read_delta_tf;
    registry[n_registry++] = &tb_sql_read_json_tf;
    registry[n_registry++] = &tb_sql_read_postgres_tf;
    registry[n_registry++] = &tb_sql_generate_series_tf;
}

/* ---------------------------------------------------------------- file-backed tables */

typedef struct file_conn {
    const tb_tablefunc *tf;
    void *state;
    /* For version(): the path pattern, the declared columns; a Delta table's snapshot
     * is taken again (the states of older snapshots stay until the table is dropped:
     * a plan being freed may still hold them). */
    char *pattern;
    tb_schema *declared;
    bool fixed; /* read_delta with a version: never changes */
    void **retired;
    size_t n_retired;
    uint64_t delta_version;
} file_conn;

static tb_rc fc_open(void *ud, const int *proj, uint32_t n_proj, tb_op **out, tb_err *err)
{
    file_conn *fc = ud;
    tb_source *src = NULL;
    tb_rc rc = fc->tf->open(fc->state, proj, n_proj, &src, err);
    if (rc != TB_OK)
        return rc;
    return tb_op_scan_new(src, out, err);
}

static void fc_free(void *ud)
{
    file_conn *fc = ud;
    if (fc == NULL)
        return;
    if (fc->tf->free != NULL) {
        fc->tf->free(fc->state);
        for (size_t i = 0; i < fc->n_retired; i++)
            fc->tf->free(fc->retired[i]);
    }
    tb_free(fc->retired);
    tb_free(fc->pattern);
    tb_schema_free(fc->declared);
    tb_free(fc);
}

static int64_t fc_estimate(void *ud)
{
    file_conn *fc = ud;
    return fc->tf->estimate_rows != NULL ? fc->tf->estimate_rows(fc->state) : 1000000;
}

/*
 * Version token of a file-backed table: for files (csv, json, parquet) a hash of the
 * names, sizes and modification times of the files the pattern matches now (each open()
 * expands the pattern again, so a replaced or added file is read by the next plan); for
 * a Delta table its latest version, the snapshot being taken again when it moved.
 */
static tb_rc fc_version(void *ud, uint64_t *out_version, tb_err *err)
{
    file_conn *fc = ud;
    *out_version = 0;
    if (fc->pattern == NULL || fc->fixed)
        return TB_OK;
    if (strcmp(fc->tf->name, "read_delta") == 0) {
        int64_t v = -1;
        tb_rc rc = tb_sql_delta_latest(fc->pattern, &v, err);
        if (rc != TB_OK)
            return rc;
        if (v >= 0 && (uint64_t)v != fc->delta_version) {
            /* the table moved: bind again (the old state is retired, not freed) */
            tb_tf_arg arg = {.name = NULL, .pos = -1};
            arg.value.type = tb_type_make(TB_T_STRING);
            arg.value.u.s.ptr = fc->pattern;
            arg.value.u.s.len = (uint32_t)strlen(fc->pattern);
            void *state = NULL;
            tb_schema *schema = NULL;
            if (tb_grow((void **)&fc->retired, &(size_t){fc->n_retired}, fc->n_retired + 1,
                        sizeof(void *)) != TB_OK)
                return tb_err_nomem(err);
            rc = fc->tf->bind(&arg, 1, fc->declared, &state, &schema, err);
            if (rc != TB_OK)
                return rc;
            tb_schema_free(schema);
            fc->retired[fc->n_retired++] = fc->state;
            fc->state = state;
            fc->delta_version = (uint64_t)v;
        }
        *out_version = (uint64_t)v;
        return TB_OK;
    }
    tb_strlist paths = {0};
    tb_rc rc = tb_path_expand(fc->pattern, NULL, &paths, err);
    if (rc == TB_E_NOTFOUND || rc == TB_E_IO) {
        tb_err_clear(err);
        rc = TB_OK; /* no file: a version of its own */
    }
    uint64_t h = 0x7461626c65ULL;
    for (size_t i = 0; rc == TB_OK && i < paths.n; i++) {
        struct stat st;
        h = tb_hash_combine(h, tb_hash_bytes(paths.items[i], strlen(paths.items[i]), 3));
        if (stat(paths.items[i], &st) == 0) {
            h = tb_hash_combine(h, (uint64_t)st.st_size);
            h = tb_hash_combine(h, (uint64_t)st.st_mtim.tv_sec * 1000000000ULL +
                                       (uint64_t)st.st_mtim.tv_nsec);
            h = tb_hash_combine(h, (uint64_t)st.st_ino);
        }
    }
    tb_strlist_free(&paths);
    *out_version = h;
    return rc;
}

static const tb_connector_vt file_vt = {"file", fc_open, fc_free, fc_estimate, fc_version};

bool tb_sql_is_file_connector(const tb_connector_vt *vt, const void *ud, const char **tf_name)
{
    if (vt != &file_vt)
        return false;
    *tf_name = ((const file_conn *)ud)->tf->name;
    return true;
}

/*
 * Create a catalog entry `name` backed by table function tf with the given options
 * (text key/values) and optional declared schema.
 */
tb_rc tb_sql_create_file_table(tb_db *db, const char *name, const tb_tablefunc *tf,
                               const tb_tf_arg *args, uint32_t n_args, const tb_schema *declared,
                               tb_err *err)
{
    void *state = NULL;
    tb_schema *schema = NULL;
    tb_rc rc = tf->bind(args, n_args, declared, &state, &schema, err);
    if (rc != TB_OK)
        return rc;
    file_conn *fc = tb_calloc(1, sizeof(*fc));
    if (fc == NULL) {
        if (tf->free != NULL)
            tf->free(state);
        tb_schema_free(schema);
        return tb_err_nomem(err);
    }
    fc->tf = tf;
    fc->state = state;
    const tb_tf_arg *pa = NULL;
    for (uint32_t i = 0; i < n_args && pa == NULL; i++)
        if ((args[i].name == NULL || tb_str_ieq(args[i].name, "path")) && !args[i].value.is_null &&
            args[i].value.type.id == TB_T_STRING)
            pa = &args[i];
    for (uint32_t i = 0; i < n_args; i++)
        fc->fixed |= args[i].name != NULL && tb_str_ieq(args[i].name, "version");
    if (pa != NULL)
        fc->pattern = tb_strndup(pa->value.u.s.ptr, pa->value.u.s.len);
    if (declared != NULL)
        fc->declared = tb_schema_copy(declared);
    if ((pa != NULL && fc->pattern == NULL) || (declared != NULL && fc->declared == NULL)) {
        fc_free(fc);
        tb_schema_free(schema);
        return tb_err_nomem(err);
    }
    if (strcmp(tf->name, "read_delta") == 0)
        fc->delta_version = (uint64_t)tb_sql_delta_snapshot_version(state);
    rc = tb_catalog_add_connector(db, name, schema, &file_vt, fc, err);
    tb_schema_free(schema);
    if (rc != TB_OK)
        fc_free(fc);
    return rc;
}
