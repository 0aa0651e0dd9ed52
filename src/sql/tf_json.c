/*
 * tf_json.c - read_json(path [, option => value ...]): JSON lines files as a relation,
 * and tables declared WITH (connector = 'json', path = '...').
 *
 * path is a file, a directory or a glob (tb_path_expand); options are jsonl.h's (mode,
 * corrupt_column, schema, sample_rows, max_line_bytes). The schema is the declared one
 * (CREATE TABLE columns), else the schema option, else inferred at bind time from a
 * sample. The path is re-expanded when a query opens the source, so a file-backed table
 * sees files added after its creation.
 */
#include <string.h>
#include <sys/stat.h>

#include "format/jsonl.h"
#include "sql/sql_int.h"

typedef struct json_state {
    char *pattern;
    tb_jsonl_opts *opts;
    tb_schema *schema;
    int64_t bytes;
} json_state;

static void json_free(void *p)
{
    json_state *s = p;
    if (s == NULL)
        return;
    tb_free(s->pattern);
    tb_jsonl_opts_free(s->opts);
    tb_schema_free(s->schema);
    tb_free(s);
}

static tb_rc at_arg(const tb_tf_arg *a, tb_err *err)
{
    if (err != NULL && a != NULL)
        err->pos = a->pos;
    return err != NULL ? err->code : TB_E_SQL;
}

/* Text form of an option value (heap string), NULL for SQL NULL or OOM. */
static char *opt_text(const tb_value *v)
{
    tb_buf buf = {0};
    if (v->is_null)
        return NULL;
    if (v->type.id == TB_T_STRING)
        return tb_strndup(v->u.s.ptr, v->u.s.len);
    if (v->type.id == TB_T_BOOL)
        return tb_strdup(v->u.b ? "true" : "false");
    if (tb_value_format(v, &buf) != TB_OK || tb_buf_cstr(&buf) == NULL) {
        tb_buf_free(&buf);
        return NULL;
    }
    return buf.data;
}

static tb_rc json_bind(const tb_tf_arg *args, uint32_t n_args, const tb_schema *declared,
                       void **out_state, tb_schema **out_schema, tb_err *err)
{
    tb_rc rc;
    tb_strlist paths = {0};
    const tb_tf_arg *pa = NULL;
    json_state *s = NULL;

    for (uint32_t i = 0; i < n_args && pa == NULL; i++) {
        if (args[i].name == NULL || tb_str_ieq(args[i].name, "path")) {
            if (args[i].value.is_null || args[i].value.type.id != TB_T_STRING) {
                TB_ERRF(err, TB_E_SQL, "read_json: the path must be a string");
                return at_arg(&args[i], err);
            }
            pa = &args[i];
        }
    }
    if (pa == NULL)
        return TB_ERRF(err, TB_E_SQL, "read_json: missing path argument");
    s = tb_calloc(1, sizeof(*s));
    if (s == NULL)
        return tb_err_nomem(err);
    s->pattern = tb_strndup(pa->value.u.s.ptr, pa->value.u.s.len);
    s->opts = tb_jsonl_opts_new();
    if (s->pattern == NULL || s->opts == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    for (uint32_t i = 0; i < n_args; i++) {
        const tb_tf_arg *a = &args[i];
        if (a == pa)
            continue;
        if (a->name == NULL) {
            rc = TB_ERRF(err, TB_E_SQL, "read_json: options are named: read_json(path, "
                                        "mode => 'failfast', schema => 'a int, b text', ...)");
            at_arg(a, err);
            goto fail;
        }
        if (tb_str_ieq(a->name, "connector") || tb_str_ieq(a->name, "format"))
            continue;
        char *text = opt_text(&a->value);
        if (text == NULL) {
            rc = TB_ERRF(err, TB_E_SQL, "read_json: option %s needs a value", a->name);
            at_arg(a, err);
            goto fail;
        }
        rc = tb_jsonl_opts_set(s->opts, a->name, text, err);
        tb_free(text);
        if (rc != TB_OK) {
            at_arg(a, err);
            goto fail;
        }
    }
    rc = tb_path_expand(s->pattern, NULL, &paths, err);
    if (rc != TB_OK) {
        at_arg(pa, err);
        goto fail;
    }
    for (size_t i = 0; i < paths.n; i++) {
        struct stat st;
        if (stat(paths.items[i], &st) == 0)
            s->bytes += st.st_size;
    }
    if (declared != NULL && declared->n > 0) {
        s->schema = tb_schema_copy(declared);
        if (s->schema == NULL) {
            rc = tb_err_nomem(err);
            goto fail;
        }
    } else {
        rc = tb_jsonl_infer_schema(&paths, s->opts, &s->schema, err);
        if (rc != TB_OK) {
            at_arg(pa, err);
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
    json_free(s);
    return rc;
}

static tb_rc json_open(void *state, const int *proj, uint32_t n_proj, tb_source **out_src,
                       tb_err *err)
{
    json_state *s = state;
    tb_strlist paths = {0};
    tb_rc rc = tb_path_expand(s->pattern, NULL, &paths, err);
    if (rc == TB_OK)
        rc = tb_jsonl_source_new(&paths, s->opts, s->schema, proj, n_proj, out_src, err);
    tb_strlist_free(&paths);
    return rc;
}

static int64_t json_estimate(void *state)
{
    json_state *s = state;
    return s->bytes / 60 + 1; /* ~60 bytes per line, a guess for join planning */
}

const tb_tablefunc tb_sql_read_json_tf = {"read_json", json_bind, json_open, json_free,
                                          json_estimate};
