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

static tb_rc json_bind(const tb_tf_arg *args, uint32_t n_args, const tb_schema *declared,
                       void **out_state, tb_schema **out_schema, tb_err *err)
{
    tb_rc rc;
    tb_strlist paths = {0};
    json_state *s = NULL;
    const tb_tf_arg *pa = tb_tf_path_arg("read_json", args, n_args, err);

    if (pa == NULL)
        return TB_E_SQL;
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
            tb_tf_arg_error(a, err);
            goto fail;
        }
        if (tb_str_ieq(a->name, "connector") || tb_str_ieq(a->name, "format"))
            continue;
        char *text = tb_tf_arg_text(&a->value);
        if (text == NULL) {
            rc = TB_ERRF(err, TB_E_SQL, "read_json: option %s needs a value", a->name);
            tb_tf_arg_error(a, err);
            goto fail;
        }
        rc = tb_jsonl_opts_set(s->opts, a->name, text, err);
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
        rc = tb_jsonl_infer_schema(&paths, s->opts, &s->schema, err);
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
