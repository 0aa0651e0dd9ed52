/*
 * delta_source.c - a tb_source over a Delta snapshot: the live data files read one after
 * the other (a Parquet source per file), with partition columns added as constant
 * vectors and columns missing from a file (schema evolution) read as NULL.
 *
 * Invariants:
 * - The source copies the file list, partition values and schema at creation (in its
 *   own arena): the snapshot may be freed while the source lives.
 * - Columns are matched to a file by name (case-insensitively, as Delta does); a file
 *   column of another type is converted when the conversion is lossless in the common
 *   cases (integer widening, float -> double, decimal rescale), else TB_E_TYPE naming
 *   the file and the column.
 * - Only one file is open at a time.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "format/delta_int.h"
#include "format/parquet.h"

typedef struct ds_file {
    char *path;      /* absolute or relative to cwd: ready to open */
    const char **pv; /* per projected column: raw partition value (NULL = null) */
    int64_t size;
} ds_file;

typedef struct ds_source {
    tb_source base;
    tb_arena *arena; /* everything copied at creation */
    uint32_t n_proj;
    bool *is_part; /* per projected column */
    ds_file *files;
    uint64_t n_files;
    uint64_t next_file;
    /* current file */
    tb_source *cur;
    int *file_col;       /* per projected column: index into cur's output, -1 = NULL */
    tb_value *part_vals; /* per projected column: typed partition value */
    const char *cur_path;
} ds_source;

static void ds_close_file(ds_source *s)
{
    tb_source_free(s->cur);
    s->cur = NULL;
}

static void ds_free(tb_source *src)
{
    ds_source *s = (ds_source *)src;

    ds_close_file(s);
    tb_schema_free(s->base.schema);
    tb_arena_free(s->arena);
    tb_free(s);
}

/* Can a file column of type `from` be read as `to`? */
static bool castable(tb_type from, tb_type to)
{
    if (tb_type_eq(from, to))
        return true;
    if (tb_type_is_integer(from) && tb_type_is_integer(to))
        return true; /* narrowing is range-checked per value */
    if (from.id == TB_T_FLOAT && to.id == TB_T_DOUBLE)
        return true;
    if (from.id == TB_T_DECIMAL && to.id == TB_T_DECIMAL)
        return true;
    if (tb_type_is_integer(from) && to.id == TB_T_DECIMAL)
        return true;
    return false;
}

static tb_rc ds_open_next(ds_source *s, tb_err *err)
{
    ds_file *f = &s->files[s->next_file];
    tb_schema *fs = NULL;
    tb_strlist paths = {0};
    int *proj = NULL;
    uint32_t i, n = 0;
    tb_rc rc;

    rc = tb_parquet_read_schema(f->path, &fs, err);
    if (rc != TB_OK)
        return tb_err_prefix(err, "delta");
    proj = tb_calloc(s->n_proj > 0 ? s->n_proj : 1, sizeof(int));
    if (proj == NULL) {
        rc = tb_err_nomem(err);
        goto out;
    }
    for (i = 0; i < s->n_proj; i++) {
        const tb_field *want = &s->base.schema->fields[i];
        int idx;
        s->file_col[i] = -1;
        if (s->is_part[i]) {
            if (!tb_delta_part_value(f->pv[i], want->type, &s->part_vals[i])) {
                rc = TB_ERRF(err, TB_E_CORRUPT,
                             "delta: %s: partition value '%s' of column '%s' is not a valid %s",
                             f->path, f->pv[i], want->name,
                             tb_type_id_name((tb_type_id)want->type.id));
                goto out;
            }
            continue;
        }
        idx = tb_schema_find(fs, want->name);
        if (idx < 0)
            continue; /* not in this file: NULL */
        if (!castable(fs->fields[idx].type, want->type)) {
            char a[64], b[64];
            rc =
                TB_ERRF(err, TB_E_TYPE, "delta: %s: column '%s' is %s in the file, %s in the table",
                        f->path, want->name, tb_type_name(fs->fields[idx].type, a, sizeof(a)),
                        tb_type_name(want->type, b, sizeof(b)));
            goto out;
        }
        s->file_col[i] = (int)n;
        proj[n++] = idx;
    }
    if (tb_strlist_push(&paths, f->path) != TB_OK) {
        rc = tb_err_nomem(err);
        goto out;
    }
    rc = tb_parquet_source_new(&paths, proj, n, &s->cur, err);
    if (rc != TB_OK) {
        tb_err_prefix(err, "delta");
        goto out;
    }
    s->cur_path = f->path;
    s->next_file++;
out:
    tb_strlist_free(&paths);
    tb_free(proj);
    tb_schema_free(fs);
    return rc;
}

/* Convert src (type from) into dst (type to), n rows, allocating in arena. */
static tb_rc cast_vec(const tb_vec *src, tb_type to, uint32_t n, tb_arena *arena, tb_vec *dst,
                      const char *path, const char *col, tb_err *err)
{
    uint32_t i;
    tb_rc rc;

    rc = tb_vec_init(dst, to, n > 0 ? n : 1, arena);
    if (rc != TB_OK)
        return tb_err_nomem(err);
    dst->valid = src->valid; /* same NULLs (the bitmap lives in the same batch arena) */
    for (i = 0; i < n; i++) {
        tb_value v, out;
        if (tb_vec_is_null(src, i))
            continue;
        tb_vec_get(src, i, &v);
        memset(&out, 0, sizeof(out));
        out.type = to;
        if (tb_type_is_integer(to)) {
            int64_t x = v.u.i;
            if ((to.id == TB_T_INT16 && (x < INT16_MIN || x > INT16_MAX)) ||
                (to.id == TB_T_INT32 && (x < INT32_MIN || x > INT32_MAX)))
                return TB_ERRF(err, TB_E_RANGE,
                               "delta: %s: column '%s': value %" PRId64 " out of range", path, col,
                               x);
            out.u.i = x;
        } else if (to.id == TB_T_DOUBLE) {
            out.u.d = v.u.d;
        } else if (to.id == TB_T_DECIMAL) {
            tb_i128 x = v.type.id == TB_T_DECIMAL ? v.u.dec : (tb_i128)v.u.i;
            int from_scale = v.type.id == TB_T_DECIMAL ? v.type.scale : 0;
            if (to.scale >= from_scale) {
                x *= tb_i128_pow10(to.scale - from_scale);
            } else {
                tb_i128 p = tb_i128_pow10(from_scale - to.scale);
                if (x % p != 0)
                    return TB_ERRF(err, TB_E_RANGE,
                                   "delta: %s: column '%s': value loses digits at scale %d", path,
                                   col, to.scale);
                x /= p;
            }
            out.u.dec = x;
        }
        rc = tb_vec_put(dst, i, n, &out, arena);
        if (rc != TB_OK)
            return tb_err_nomem(err);
    }
    return TB_OK;
}

static tb_rc const_vec(const tb_value *v, uint32_t n, tb_arena *arena, tb_vec *dst, tb_err *err)
{
    uint32_t i, cap = n > 0 ? n : 1;

    if (tb_vec_init(dst, v->type, cap, arena) != TB_OK)
        return tb_err_nomem(err);
    if (v->is_null) {
        if (tb_vec_ensure_valid(dst, cap, arena) != TB_OK)
            return tb_err_nomem(err);
        memset(dst->valid, 0, tb_valid_words(cap) * sizeof(uint64_t));
        return TB_OK;
    }
    for (i = 0; i < n; i++)
        if (tb_vec_put(dst, i, cap, v, arena) != TB_OK)
            return tb_err_nomem(err);
    return TB_OK;
}

static tb_rc ds_next(tb_source *src, tb_arena *arena, tb_batch **out, tb_err *err)
{
    ds_source *s = (ds_source *)src;
    tb_batch *in = NULL, *b = NULL;
    uint32_t i;
    tb_rc rc;

    *out = NULL;
    for (;;) {
        if (s->cur == NULL) {
            if (s->next_file >= s->n_files)
                return TB_OK;
            rc = ds_open_next(s, err);
            if (rc != TB_OK)
                return rc;
        }
        rc = tb_source_next(s->cur, arena, &in, err);
        if (rc != TB_OK)
            return rc;
        if (in != NULL && in->n_rows > 0)
            break;
        if (in == NULL) {
            s->base.stats.files_done++;
            s->base.stats.bytes_read += s->cur->stats.bytes_read;
            ds_close_file(s);
        }
    }
    rc = tb_batch_shell(s->n_proj, arena, &b);
    if (rc != TB_OK)
        return tb_err_nomem(err);
    b->n_rows = in->n_rows;
    b->cap = in->n_rows;
    for (i = 0; i < s->n_proj; i++) {
        const tb_field *want = &s->base.schema->fields[i];
        if (s->is_part[i]) {
            rc = const_vec(&s->part_vals[i], in->n_rows, arena, &b->cols[i], err);
        } else if (s->file_col[i] < 0) {
            tb_value nv;
            memset(&nv, 0, sizeof(nv));
            nv.type = want->type;
            nv.is_null = true;
            rc = const_vec(&nv, in->n_rows, arena, &b->cols[i], err);
        } else {
            const tb_vec *v = &in->cols[s->file_col[i]];
            if (tb_type_eq(v->type, want->type))
                b->cols[i] = *v;
            else
                rc = cast_vec(v, want->type, in->n_rows, arena, &b->cols[i], s->cur_path,
                              want->name, err);
        }
        if (rc != TB_OK)
            return rc;
    }
    s->base.stats.rows_read += b->n_rows;
    *out = b;
    return TB_OK;
}

static const tb_source_vt ds_vt = {"delta", ds_next, ds_free};

static char *resolve_path(tb_arena *arena, const char *table, const char *path)
{
    if (strncmp(path, "file://", 7) == 0)
        return tb_arena_strdup(arena, path + 7);
    if (strncmp(path, "file:", 5) == 0)
        return tb_arena_strdup(arena, path + 5);
    if (path[0] == '/')
        return tb_arena_strdup(arena, path);
    return tb_arena_sprintf(arena, "%s/%s", table, path);
}

tb_rc tb_delta_source_new(tb_delta_snapshot *snap, const int *proj, uint32_t n_proj,
                          tb_source **out, tb_err *err)
{
    ds_source *s;
    const tb_schema *ts;
    uint64_t f;
    uint32_t i;
    tb_rc rc;

    *out = NULL;
    if (snap == NULL)
        return TB_ERRF(err, TB_E_MISUSE, "delta: source needs a snapshot");
    ts = snap->schema;
    if (proj == NULL)
        n_proj = ts->n;
    for (i = 0; proj != NULL && i < n_proj; i++)
        if (proj[i] < 0 || (uint32_t)proj[i] >= ts->n)
            return TB_ERRF(err, TB_E_MISUSE, "delta: %s: column index %d out of range",
                           snap->table_path, proj[i]);
    s = tb_calloc(1, sizeof(*s));
    if (s == NULL)
        return tb_err_nomem(err);
    s->base.vt = &ds_vt;
    s->arena = tb_arena_new(0);
    s->base.schema = tb_schema_new(n_proj);
    if (s->arena == NULL || s->base.schema == NULL)
        goto nomem;
    s->n_proj = n_proj;
    s->is_part = tb_arena_zalloc(s->arena, (n_proj + 1) * sizeof(bool));
    s->file_col = tb_arena_zalloc(s->arena, (n_proj + 1) * sizeof(int));
    s->part_vals = tb_arena_zalloc(s->arena, (n_proj + 1) * sizeof(tb_value));
    if (s->is_part == NULL || s->file_col == NULL || s->part_vals == NULL)
        goto nomem;
    for (i = 0; i < n_proj; i++) {
        const tb_field *fd = &ts->fields[proj != NULL ? proj[i] : (int)i];
        uint32_t k;
        if (tb_schema_set(s->base.schema, i, fd->name, fd->type, fd->nullable) != TB_OK)
            goto nomem;
        for (k = 0; k < snap->n_part; k++)
            if (tb_str_ieq(snap->part_cols[k], fd->name))
                s->is_part[i] = true;
        if (s->is_part[i])
            s->base.schema->fields[i].nullable = true;
    }
    s->n_files = snap->live.n;
    s->files = tb_arena_zalloc(s->arena, (s->n_files + 1) * sizeof(ds_file));
    if (s->files == NULL)
        goto nomem;
    for (f = 0; f < s->n_files; f++) {
        const tb_delta_fentry *e = snap->live.items[f];
        ds_file *df = &s->files[f];
        df->path = resolve_path(s->arena, snap->table_path, e->path);
        df->size = e->size;
        df->pv = tb_arena_zalloc(s->arena, (n_proj + 1) * sizeof(char *));
        if (df->path == NULL || df->pv == NULL)
            goto nomem;
        for (i = 0; i < n_proj; i++) {
            uint32_t k;
            if (!s->is_part[i])
                continue;
            for (k = 0; k < e->n_pv; k++) {
                if (tb_str_ieq(e->pkeys[k], s->base.schema->fields[i].name)) {
                    if (e->pvals[k] != NULL) {
                        df->pv[i] = tb_arena_strdup(s->arena, e->pvals[k]);
                        if (df->pv[i] == NULL)
                            goto nomem;
                    }
                    break;
                }
            }
        }
    }
    *out = &s->base;
    return TB_OK;
nomem:
    rc = tb_err_nomem(err);
    ds_free(&s->base);
    return rc;
}
