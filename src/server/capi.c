/*
 * capi.c - the parts of the public C API (include/tributary.h) that need the whole
 * engine, implemented here at the top library layer: tb_db_open with the upper layers'
 * statement handlers, continuous queries (tb_job_*) with optional serving, and results
 * as Arrow C Data Interface arrays.
 *
 * A job: tb_job_start runs the pipeline's statements on the caller's thread (under the
 * db's write lock: servers may already be reading), then one thread drives
 * tb_stream_run until tb_job_stop sets its stop flag. tb_job_query reads under the
 * read lock, which the result keeps until it is freed.
 *
 * Arrow export: every array's buffers are copies owned by the array (one allocation
 * list in private_data), so the consumer may keep them past the next batch; the
 * release callbacks follow the specification (they free children and mark released).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv_int.h"
#include "sink/write_stmt.h"
#include "stream/stream.h"

TB_API tb_rc tb_db_open(const char *path, tb_db **out_db)
{
    tb_rc rc = tb_sql_db_open(path, out_db);
    if (rc == TB_OK)
        tb_sql_set_stmt_hook(*out_db, tb_write_stmt_hook, NULL); /* COPY, Delta writes */
    return rc;
}

/* ---------------------------------------------------------------- jobs */

struct tb_job {
    tb_db *db;
    tb_stream *st;
    tb_server *srv;
    pthread_t thread;
    bool started;
    volatile sig_atomic_t stop;
    pthread_mutex_t mu;
    int64_t batches;
    char *progress;
    tb_rc rc;
    tb_err err;
    char *show;
};

static void job_on_batch(void *ud, const char *json, const char *const *views, size_t n)
{
    tb_job *job = ud;
    pthread_mutex_lock(&job->mu);
    job->batches++;
    char *copy = tb_strdup(json);
    if (copy != NULL) {
        tb_free(job->progress);
        job->progress = copy;
    }
    pthread_mutex_unlock(&job->mu);
    if (job->srv != NULL)
        tb_server_on_batch(job->srv, json, views, n);
}

static void *job_main(void *p)
{
    tb_job *job = p;
    tb_err err;
    tb_err_clear(&err);
    tb_rc rc = tb_stream_run(job->st, &job->stop, &err);
    pthread_mutex_lock(&job->mu);
    job->rc = rc;
    job->err = err;
    pthread_mutex_unlock(&job->mu);
    return NULL;
}

/* Next "key=value" of options (separated by ';'): heap copies, false at the end. */
static bool next_opt(const char **p, char **key, char **val)
{
    while (**p == ';' || **p == ' ')
        (*p)++;
    if (**p == '\0')
        return false;
    const char *end = strchr(*p, ';');
    size_t n = end != NULL ? (size_t)(end - *p) : strlen(*p);
    const char *eq = memchr(*p, '=', n);
    size_t kn = eq != NULL ? (size_t)(eq - *p) : n;
    *key = tb_strndup(*p, kn);
    *val = eq != NULL ? tb_strndup(eq + 1, n - kn - 1) : tb_strdup("");
    *p += n;
    return true;
}

static void job_free(tb_job *job)
{
    if (job == NULL)
        return;
    tb_server_stop(job->srv);
    tb_stream_free(job->st);
    tb_free(job->progress);
    tb_free(job->show);
    pthread_mutex_destroy(&job->mu);
    tb_free(job);
}

TB_API tb_rc tb_job_start(tb_db *db, const char *sql, const char *options, tb_job **out_job)
{
    if (out_job != NULL)
        *out_job = NULL;
    if (db == NULL || sql == NULL || out_job == NULL)
        return TB_E_MISUSE;
    tb_err err;
    tb_err_clear(&err);
    tb_stream_opts opts;
    tb_stream_opts_default(&opts);
    tb_server_opts sopts = {0};
    char *ckpt = NULL, *pg = NULL, *http = NULL, *token = NULL;
    tb_rc rc = TB_OK;
    tb_job *job = tb_calloc(1, sizeof(*job));
    if (job == NULL)
        return TB_E_NOMEM;
    job->db = db;
    pthread_mutex_init(&job->mu, NULL);
    for (const char *p = options != NULL ? options : ""; rc == TB_OK;) {
        char *k = NULL, *v = NULL;
        if (!next_opt(&p, &k, &v))
            break;
        int64_t ms = 0;
        if (k == NULL || v == NULL) {
            rc = TB_E_NOMEM;
        } else if (strcmp(k, "trigger") == 0) {
            if (strcmp(v, "once") == 0)
                opts.trigger = TB_TRIGGER_ONCE;
            else if (strcmp(v, "available-now") == 0)
                opts.trigger = TB_TRIGGER_AVAILABLE_NOW;
            else if (strcmp(v, "continuous") == 0)
                opts.trigger = TB_TRIGGER_CONTINUOUS;
            else if (tb_stream_parse_duration(v, &ms) && ms > 0) {
                opts.trigger = TB_TRIGGER_INTERVAL;
                opts.interval_ms = ms;
            } else
                rc = TB_ERRF(&err, TB_E_MISUSE, "tb_job_start: bad trigger '%s'", v);
        } else if (strcmp(k, "checkpoint") == 0) {
            tb_free(ckpt);
            ckpt = v, v = NULL;
        } else if (strcmp(k, "pg") == 0) {
            tb_free(pg);
            pg = v, v = NULL;
        } else if (strcmp(k, "http") == 0) {
            tb_free(http);
            http = v, v = NULL;
        } else if (strcmp(k, "token") == 0) {
            tb_free(token);
            token = v, v = NULL;
        } else if (strcmp(k, "show") == 0) {
            tb_free(job->show);
            job->show = v, v = NULL;
        } else {
            rc = TB_ERRF(&err, TB_E_MISUSE, "tb_job_start: unknown option '%s'", k);
        }
        tb_free(k);
        tb_free(v);
    }
    opts.checkpoint_dir = ckpt;
    opts.on_batch = job_on_batch;
    opts.on_batch_ud = job;
    if (rc == TB_OK && (pg != NULL || http != NULL)) {
        sopts.pg_listen = pg;
        sopts.http_listen = http;
        sopts.token = token;
        sopts.show_sql = job->show;
        rc = tb_server_start(db, &sopts, &job->srv, &err);
    }
    if (rc == TB_OK)
        rc = tb_stream_new(db, &opts, &job->st, &err);
    if (rc == TB_OK) {
        tb_db_write_begin(db);
        rc = tb_stream_exec(job->st, sql, &err);
        tb_db_write_end(db);
    }
    if (rc == TB_OK && pthread_create(&job->thread, NULL, job_main, job) != 0)
        rc = TB_ERRF(&err, TB_E_NOMEM, "tb_job_start: cannot start the job's thread");
    tb_free(ckpt); /* tb_stream_new copied what it keeps */
    tb_free(pg);
    tb_free(http);
    tb_free(token);
    if (rc != TB_OK) {
        if (err.code == TB_OK)
            TB_ERRF(&err, rc, "%s", tb_errstr(rc));
        tb_err *dberr = (tb_err *)tb_db_last_error(db);
        if (dberr != NULL)
            *dberr = err; /* tb_db_errmsg / tb_db_errpos */
        job_free(job);
        return rc;
    }
    job->started = true;
    *out_job = job;
    return TB_OK;
}

TB_API int64_t tb_job_batches(tb_job *job)
{
    if (job == NULL)
        return 0;
    pthread_mutex_lock(&job->mu);
    int64_t n = job->batches;
    pthread_mutex_unlock(&job->mu);
    return n;
}

TB_API tb_rc tb_job_progress(tb_job *job, char *buf, size_t cap)
{
    if (job == NULL || buf == NULL || cap == 0)
        return TB_E_MISUSE;
    pthread_mutex_lock(&job->mu);
    snprintf(buf, cap, "%s", job->progress != NULL ? job->progress : "");
    size_t need = job->progress != NULL ? strlen(job->progress) : 0;
    pthread_mutex_unlock(&job->mu);
    return need < cap ? TB_OK : TB_E_LIMIT;
}

TB_API tb_rc tb_job_query(tb_job *job, const char *sql, tb_result **out_result)
{
    if (out_result != NULL)
        *out_result = NULL;
    if (job == NULL || sql == NULL || out_result == NULL)
        return TB_E_MISUSE;
    tb_rc rc = tb_db_read_begin(job->db, 0);
    if (rc != TB_OK)
        return rc;
    rc = tb_db_exec(job->db, sql, out_result);
    if (rc != TB_OK || *out_result == NULL) {
        tb_db_read_end(job->db);
        return rc;
    }
    tb_sql_result_hold_read_lock(*out_result);
    return TB_OK;
}

TB_API const char *tb_job_pg_address(tb_job *job)
{
    return job != NULL ? tb_server_pg_address(job->srv) : NULL;
}

TB_API const char *tb_job_http_address(tb_job *job)
{
    return job != NULL ? tb_server_http_address(job->srv) : NULL;
}

TB_API const char *tb_job_errmsg(tb_job *job)
{
    if (job == NULL)
        return "no job";
    return job->err.code == TB_OK ? "" : job->err.msg;
}

TB_API tb_rc tb_job_stop(tb_job **pjob)
{
    if (pjob == NULL || *pjob == NULL)
        return TB_E_MISUSE;
    tb_job *job = *pjob;
    job->stop = 1;
    if (job->started)
        pthread_join(job->thread, NULL);
    tb_rc rc = job->rc;
    if (rc != TB_OK) {
        tb_err *dberr = (tb_err *)tb_db_last_error(job->db);
        if (dberr != NULL)
            *dberr = job->err;
    }
    job_free(job);
    *pjob = NULL;
    return rc;
}

/* ---------------------------------------------------------------- Arrow */

/* Allocations owned by one exported array or schema (freed by its release). */
typedef struct owned {
    void **ptrs;
    size_t n, cap;
} owned;

static void *own(owned *o, void *p)
{
    if (p == NULL || tb_grow((void **)&o->ptrs, &o->cap, o->n + 1, sizeof(void *)) != TB_OK) {
        tb_free(p);
        return NULL;
    }
    o->ptrs[o->n++] = p;
    return p;
}

static void owned_free(owned *o)
{
    for (size_t i = 0; i < o->n; i++)
        tb_free(o->ptrs[i]);
    tb_free(o->ptrs);
    tb_free(o);
}

static void schema_release(struct ArrowSchema *s)
{
    if (s == NULL || s->release == NULL)
        return;
    for (int64_t i = 0; i < s->n_children; i++)
        if (s->children[i]->release != NULL)
            s->children[i]->release(s->children[i]);
    owned_free(s->private_data);
    s->release = NULL;
}

static void array_release(struct ArrowArray *a)
{
    if (a == NULL || a->release == NULL)
        return;
    for (int64_t i = 0; i < a->n_children; i++)
        if (a->children[i]->release != NULL)
            a->children[i]->release(a->children[i]);
    owned_free(a->private_data);
    a->release = NULL;
}

/* A child's release: its memory belongs to the parent's list. */
static void child_schema_release(struct ArrowSchema *s) { s->release = NULL; }
static void child_array_release(struct ArrowArray *a) { a->release = NULL; }

static const char *arrow_format(tb_type t, owned *o)
{
    switch ((tb_type_id)t.id) {
    case TB_T_NULL:
        return "n";
    case TB_T_BOOL:
        return "b";
    case TB_T_INT16:
        return "s";
    case TB_T_INT32:
        return "i";
    case TB_T_INT64:
        return "l";
    case TB_T_FLOAT:
        return "f";
    case TB_T_DOUBLE:
        return "g";
    case TB_T_DECIMAL: {
        char *f = own(o, tb_malloc(24));
        if (f != NULL)
            snprintf(f, 24, "d:%u,%u", t.precision, t.scale);
        return f;
    }
    case TB_T_STRING:
        return "u";
    case TB_T_DATE:
        return "tdD";
    case TB_T_TIMESTAMP:
        return "tsu:";
    case TB_T_INTERVAL:
        return "tin";
    default:
        return NULL;
    }
}

TB_API tb_rc tb_result_arrow_schema(tb_result *res, struct ArrowSchema *out)
{
    if (res == NULL || out == NULL)
        return TB_E_MISUSE;
    memset(out, 0, sizeof(*out));
    const tb_schema *schema = tb_sql_result_schema(res);
    uint32_t n = schema != NULL ? schema->n : 0;
    owned *o = tb_calloc(1, sizeof(*o));
    if (o == NULL)
        return TB_E_NOMEM;
    struct ArrowSchema *kids = own(o, tb_calloc(n + 1, sizeof(struct ArrowSchema)));
    struct ArrowSchema **kp = own(o, tb_calloc(n + 1, sizeof(struct ArrowSchema *)));
    if (kids == NULL || kp == NULL) {
        owned_free(o);
        return TB_E_NOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        kids[i].format = arrow_format(schema->fields[i].type, o);
        kids[i].name = own(o, tb_strdup(schema->fields[i].name));
        kids[i].flags = ARROW_FLAG_NULLABLE;
        kids[i].release = child_schema_release;
        kp[i] = &kids[i];
        if (kids[i].format == NULL || kids[i].name == NULL) {
            owned_free(o);
            return TB_E_NOMEM;
        }
    }
    out->format = "+s";
    out->name = "";
    out->n_children = n;
    out->children = kp;
    out->release = schema_release;
    out->private_data = o;
    return TB_OK;
}

/* Arrow validity bitmap for n rows of v (NULL when no row is null); null count. */
static tb_rc export_validity(const tb_vec *v, uint32_t n, owned *o, const void **out,
                             int64_t *nulls)
{
    *out = NULL;
    *nulls = v->type.id == TB_T_NULL ? n : tb_vec_null_count(v, n);
    if (*nulls == 0 || v->type.id == TB_T_NULL)
        return TB_OK;
    uint8_t *bits = own(o, tb_calloc((n + 7) / 8 + 1, 1));
    if (bits == NULL)
        return TB_E_NOMEM;
    for (uint32_t i = 0; i < n; i++)
        if (!tb_vec_is_null(v, i))
            bits[i >> 3] |= (uint8_t)(1u << (i & 7));
    *out = bits;
    return TB_OK;
}

static tb_rc export_column(const tb_vec *v, uint32_t n, owned *o, struct ArrowArray *a)
{
    const void **bufs = own(o, tb_calloc(3, sizeof(void *)));
    if (bufs == NULL)
        return TB_E_NOMEM;
    a->length = n;
    a->buffers = bufs;
    a->release = child_array_release;
    if (export_validity(v, n, o, &bufs[0], &a->null_count) != TB_OK)
        return TB_E_NOMEM;
    switch ((tb_type_id)v->type.id) {
    case TB_T_NULL:
        a->n_buffers = 0;
        return TB_OK;
    case TB_T_BOOL: {
        uint8_t *bits = own(o, tb_calloc((n + 7) / 8 + 1, 1));
        if (bits == NULL)
            return TB_E_NOMEM;
        for (uint32_t i = 0; i < n; i++)
            if (TB_VEC_PTR(v, uint8_t)[i])
                bits[i >> 3] |= (uint8_t)(1u << (i & 7));
        bufs[1] = bits;
        a->n_buffers = 2;
        return TB_OK;
    }
    case TB_T_STRING: {
        int32_t *offs = own(o, tb_malloc(sizeof(int32_t) * (n + 1)));
        const tb_str *s = TB_VEC_PTR(v, tb_str);
        size_t total = 0;
        for (uint32_t i = 0; i < n; i++)
            total += tb_vec_is_null(v, i) ? 0 : s[i].len;
        if (total > INT32_MAX)
            return TB_E_LIMIT;
        char *data = own(o, tb_malloc(total + 1));
        if (offs == NULL || data == NULL)
            return TB_E_NOMEM;
        size_t at = 0;
        for (uint32_t i = 0; i < n; i++) {
            offs[i] = (int32_t)at;
            if (!tb_vec_is_null(v, i)) {
                memcpy(data + at, s[i].ptr, s[i].len);
                at += s[i].len;
            }
        }
        offs[n] = (int32_t)at;
        bufs[1] = offs;
        bufs[2] = data;
        a->n_buffers = 3;
        return TB_OK;
    }
    case TB_T_INTERVAL: {
        /* month_day_nano: int32 months, int32 days, int64 nanoseconds */
        uint8_t *d = own(o, tb_calloc((size_t)n + 1, 16));
        if (d == NULL)
            return TB_E_NOMEM;
        for (uint32_t i = 0; i < n; i++) {
            tb_interval iv = TB_VEC_PTR(v, tb_interval)[i];
            int64_t ns = iv.micros * 1000;
            memcpy(d + 16 * i, &iv.months, 4);
            memcpy(d + 16 * i + 4, &iv.days, 4);
            memcpy(d + 16 * i + 8, &ns, 8);
        }
        bufs[1] = d;
        a->n_buffers = 2;
        return TB_OK;
    }
    default: {
        /* fixed width: ints, floats, decimal128, date32, timestamp[us] as stored */
        size_t w = tb_type_width(v->type);
        void *d = own(o, tb_malloc(w * n + 1));
        if (d == NULL)
            return TB_E_NOMEM;
        memcpy(d, v->data, w * n);
        bufs[1] = d;
        a->n_buffers = 2;
        return TB_OK;
    }
    }
}

TB_API tb_rc tb_result_arrow_next(tb_result *res, struct ArrowArray *out, int *out_has_batch)
{
    if (out_has_batch != NULL)
        *out_has_batch = 0;
    if (res == NULL || out == NULL || out_has_batch == NULL)
        return TB_E_MISUSE;
    memset(out, 0, sizeof(*out));
    const tb_schema *schema = tb_sql_result_schema(res);
    if (schema == NULL)
        return TB_OK;
    tb_batch *batch = NULL;
    tb_err err;
    tb_err_clear(&err);
    tb_rc rc = tb_sql_result_next_batch(res, &batch, &err);
    if (rc != TB_OK || batch == NULL)
        return rc;
    owned *o = tb_calloc(1, sizeof(*o));
    if (o == NULL)
        return TB_E_NOMEM;
    uint32_t n = schema->n;
    struct ArrowArray *kids = own(o, tb_calloc(n + 1, sizeof(struct ArrowArray)));
    struct ArrowArray **kp = own(o, tb_calloc(n + 1, sizeof(struct ArrowArray *)));
    const void **bufs = own(o, tb_calloc(1, sizeof(void *)));
    if (kids == NULL || kp == NULL || bufs == NULL) {
        owned_free(o);
        return TB_E_NOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        tb_vec col = batch->cols[i];
        col.type = schema->fields[i].type;
        rc = export_column(&col, batch->n_rows, o, &kids[i]);
        if (rc != TB_OK) {
            owned_free(o);
            return rc;
        }
        kp[i] = &kids[i];
    }
    out->length = batch->n_rows;
    out->n_buffers = 1; /* the struct's validity: none (rows are never null) */
    out->buffers = bufs;
    out->n_children = n;
    out->children = kp;
    out->release = array_release;
    out->private_data = o;
    *out_has_batch = 1;
    return TB_OK;
}
