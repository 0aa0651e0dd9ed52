/*
 * tf_delta.c - read_delta(path [, version => N]): a Delta Lake table as a relation, and
 * tables declared WITH (connector = 'delta', path = '...').
 *
 * The snapshot is read at bind time (so a view over read_delta sees the table as of
 * each query that uses it) and kept by the state; every open() reads its live files.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/delta.h"
#include "sql/sql_int.h"

typedef struct delta_state {
    tb_delta_snapshot *snap;
    int *map; /* declared column i -> table column (NULL: identity) */
} delta_state;

static void delta_free(void *p)
{
    delta_state *s = p;
    if (s == NULL)
        return;
    tb_delta_snapshot_free(s->snap);
    tb_free(s->map);
    tb_free(s);
}

static tb_rc delta_bind(const tb_tf_arg *args, uint32_t n_args, const tb_schema *declared,
                        void **out_state, tb_schema **out_schema, tb_err *err)
{
    const tb_tf_arg *path = NULL;
    int64_t version = -1;
    tb_schema *out = NULL;
    tb_rc rc;
    for (uint32_t i = 0; i < n_args; i++) {
        const tb_tf_arg *a = &args[i];
        if ((a->name == NULL || tb_str_ieq(a->name, "path")) && path == NULL) {
            if (a->value.is_null || a->value.type.id != TB_T_STRING) {
                TB_ERRF(err, TB_E_SQL, "read_delta: the path must be a string");
                return tb_tf_arg_error(a, err);
            }
            path = a;
        } else if (a->name != NULL && tb_str_ieq(a->name, "version")) {
            char buf[32];
            if (a->value.is_null) {
                TB_ERRF(err, TB_E_SQL, "read_delta: version must be a number");
                return tb_tf_arg_error(a, err);
            }
            if (a->value.type.id == TB_T_STRING) {
                snprintf(buf, sizeof(buf), "%.*s", (int)a->value.u.s.len, a->value.u.s.ptr);
                char *end = NULL;
                version = strtoll(buf, &end, 10);
                if (end == buf || *end != '\0' || version < 0) {
                    TB_ERRF(err, TB_E_SQL, "read_delta: version must be a number >= 0");
                    return tb_tf_arg_error(a, err);
                }
            } else if (tb_type_is_integer(a->value.type) && a->value.u.i >= 0) {
                version = a->value.u.i;
            } else {
                TB_ERRF(err, TB_E_SQL, "read_delta: version must be a number >= 0");
                return tb_tf_arg_error(a, err);
            }
        } else if (a->name != NULL &&
                   (tb_str_ieq(a->name, "connector") || tb_str_ieq(a->name, "output_mode") ||
                    tb_str_ieq(a->name, "mode") || tb_str_ieq(a->name, "partition_by"))) {
            continue; /* sink options of a declared Delta table: not read options */
        } else {
            TB_ERRF(err, TB_E_SQL, "read_delta: unknown option %s (read_delta takes a path and "
                    "version => N)", a->name != NULL ? a->name : "(positional)");
            return tb_tf_arg_error(a, err);
        }
    }
    if (path == NULL)
        return TB_ERRF(err, TB_E_SQL, "read_delta: a path is required");
    delta_state *s = tb_calloc(1, sizeof(*s));
    char *p = tb_strndup(path->value.u.s.ptr, path->value.u.s.len);
    if (s == NULL || p == NULL) {
        tb_free(p);
        tb_free(s);
        return tb_err_nomem(err);
    }
    rc = tb_delta_open(p, version, &s->snap, err);
    tb_free(p);
    if (rc != TB_OK) {
        tb_tf_arg_error(path, err);
        goto fail;
    }
    const tb_schema *ts = tb_delta_schema(s->snap);
    if (declared != NULL && declared->n > 0) {
        out = tb_schema_new(declared->n);
        s->map = tb_calloc(declared->n, sizeof(int));
        if (out == NULL || s->map == NULL) {
            rc = tb_err_nomem(err);
            goto fail;
        }
        for (uint32_t i = 0; i < declared->n; i++) {
            int k = tb_schema_find(ts, declared->fields[i].name);
            if (k < 0) {
                rc = TB_ERRF(err, TB_E_NOTFOUND, "delta table has no column \"%s\"",
                             declared->fields[i].name);
                goto fail;
            }
            s->map[i] = k;
            if (tb_schema_set(out, i, ts->fields[k].name, ts->fields[k].type, true) != TB_OK) {
                rc = tb_err_nomem(err);
                goto fail;
            }
        }
    } else if ((out = tb_schema_copy(ts)) == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    *out_state = s;
    *out_schema = out;
    return TB_OK;
fail:
    tb_schema_free(out);
    delta_free(s);
    return rc;
}

static tb_rc delta_open(void *state, const int *proj, uint32_t n_proj, tb_source **out_src,
                        tb_err *err)
{
    delta_state *s = state;
    int *mapped = NULL;
    if (s->map != NULL) {
        mapped = tb_calloc(n_proj ? n_proj : 1, sizeof(int));
        if (mapped == NULL)
            return tb_err_nomem(err);
        for (uint32_t i = 0; i < n_proj; i++)
            mapped[i] = s->map[proj[i]];
        proj = mapped;
    }
    tb_rc rc = tb_delta_source_new(s->snap, proj, n_proj, out_src, err);
    tb_free(mapped);
    return rc;
}

static int64_t delta_estimate(void *state)
{
    delta_state *s = state;
    int64_t bytes = 0;
    tb_delta_file_info fi;
    for (uint64_t i = 0; i < tb_delta_file_count(s->snap); i++) {
        tb_delta_file_get(s->snap, i, &fi);
        bytes += fi.size;
    }
    return bytes / 8 + 1;
}

int64_t tb_sql_delta_snapshot_version(const void *state)
{
    return tb_delta_version(((const delta_state *)state)->snap);
}

/* The newest commit in DIR/_delta_log (a listing, no read): -1 when there is none. */
tb_rc tb_sql_delta_latest(const char *path, int64_t *out, tb_err *err)
{
    tb_buf dir = {0};
    *out = -1;
    if (tb_buf_printf(&dir, "%s/_delta_log", path) != TB_OK)
        return tb_err_nomem(err);
    DIR *d = opendir(dir.data);
    tb_buf_free(&dir);
    if (d == NULL)
        return TB_OK; /* gone or not yet a table: the open() says so */
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        size_t len = strlen(n);
        if (len != 25 || strcmp(n + 20, ".json") != 0)
            continue;
        bool digits = true;
        for (size_t i = 0; i < 20 && digits; i++)
            digits = n[i] >= '0' && n[i] <= '9';
        int64_t v = digits ? strtoll(n, NULL, 10) : -1;
        if (v > *out)
            *out = v;
    }
    closedir(d);
    return TB_OK;
}

const tb_tablefunc tb_sql_read_delta_tf = {"read_delta", delta_bind, delta_open, delta_free,
                                           delta_estimate};
