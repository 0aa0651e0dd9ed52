/*
 * api.c - the public C API (include/tributary.h): engines and results.
 *
 * A result owns its plan and pulls batches from the plan's root operator lazily, one
 * batch at a time (rows stream: nothing is materialised beyond what the operators
 * themselves keep, e.g. a sort). Row access reads the current batch's vectors;
 * tb_result_text renders into one buffer per column, so texts of different columns of
 * the same row stay valid together until the next step.
 *
 * Errors: every failing call stores its tb_err in the db (tb_db_errmsg/errpos). A
 * result must be freed before its db is closed.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sql/sql_int.h"

struct tb_result {
    tb_db *db;
    plan_int *plan; /* NULL: no rows (DDL) */
    tb_batch *batch;
    uint32_t row;
    bool done;
    bool on_row;
    int64_t changes;
    bool read_locked; /* tb_result_free releases the db's read lock (tb_job_query) */
    uint32_t n_cols;
    tb_buf *texts;
    tb_value *vals; /* current row's values, filled lazily */
    bool *have;
};

static void set_db_err(tb_db *db, const tb_err *err)
{
    if (db != NULL && err != &db->err)
        db->err = *err;
}

/* The public tb_db_open is the top layer's (src/server/capi.c): it adds the handlers
 * of the layers above this one (COPY and Delta writes). */
tb_rc tb_sql_db_open(const char *path, tb_db **out_db)
{
    if (out_db == NULL)
        return TB_E_MISUSE;
    *out_db = NULL;
    if (path != NULL && path[0] != '\0' && strcmp(path, ":memory:") != 0)
        return TB_E_UNSUPPORTED; /* persistent catalogs are reserved */
    tb_db *db = tb_calloc(1, sizeof(*db));
    if (db == NULL)
        return TB_E_NOMEM;
    tb_err_clear(&db->err);
    pthread_rwlockattr_t attr;
    if (pthread_rwlockattr_init(&attr) != 0) {
        tb_free(db);
        return TB_E_NOMEM;
    }
    /* writer-preferring: a batch waiting for the lock is not starved by queries */
    (void)pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int e = pthread_rwlock_init(&db->lock, &attr);
    (void)pthread_rwlockattr_destroy(&attr);
    if (e != 0) {
        tb_free(db);
        return TB_E_NOMEM;
    }
    *out_db = db;
    return TB_OK;
}

tb_rc tb_db_read_begin(tb_db *db, int64_t timeout_ms)
{
    if (timeout_ms <= 0)
        return pthread_rwlock_rdlock(&db->lock) == 0 ? TB_OK : TB_E_ERROR;
    struct timespec ts;
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(timeout_ms / 1000);
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    int e = pthread_rwlock_timedrdlock(&db->lock, &ts);
    if (e == ETIMEDOUT)
        return TB_E_INTERRUPT;
    return e == 0 ? TB_OK : TB_E_ERROR;
}

void tb_db_read_end(tb_db *db) { (void)pthread_rwlock_unlock(&db->lock); }

void tb_db_write_begin(tb_db *db) { (void)pthread_rwlock_wrlock(&db->lock); }

void tb_db_write_end(tb_db *db) { (void)pthread_rwlock_unlock(&db->lock); }

TB_API void tb_db_close(tb_db **pdb)
{
    if (pdb == NULL || *pdb == NULL)
        return;
    tb_db *db = *pdb;
    tb_sql_catalog_free(db);
    (void)pthread_rwlock_destroy(&db->lock);
    tb_free(db);
    *pdb = NULL;
}

TB_API const char *tb_db_errmsg(tb_db *db)
{
    if (db == NULL)
        return "no engine";
    return db->err.code == TB_OK ? "" : db->err.msg;
}

TB_API int tb_db_errpos(tb_db *db)
{
    if (db == NULL || db->err.code == TB_OK)
        return -1;
    return db->err.pos;
}

const tb_err *tb_db_last_error(tb_db *db) { return db != NULL ? &db->err : NULL; }

TB_API tb_rc tb_db_set(tb_db *db, const char *key, const char *value)
{
    if (db == NULL || key == NULL || value == NULL)
        return TB_E_MISUSE;
    tb_err err;
    tb_err_clear(&err);
    tb_rc rc = tb_sql_set_setting(db, key, value, &err);
    set_db_err(db, &err);
    return rc;
}

TB_API tb_rc tb_db_exec(tb_db *db, const char *sql, tb_result **out_result)
{
    if (out_result != NULL)
        *out_result = NULL;
    if (db == NULL || sql == NULL)
        return TB_E_MISUSE;
    tb_err err;
    tb_err_clear(&err);
    db->depth++;
    tb_rc rc = tb_sql_exec(db, sql, out_result, &err);
    db->depth--;
    if (rc != TB_OK && err.code == TB_OK)
        TB_ERRF(&err, rc, "%s", tb_errstr(rc));
    set_db_err(db, &err);
    return rc;
}

tb_rc tb_sql_result_new(tb_db *db, plan_int *plan, int64_t changes, tb_result **out)
{
    tb_result *res = tb_calloc(1, sizeof(*res));
    if (res == NULL)
        return TB_E_NOMEM;
    res->db = db;
    res->plan = plan;
    res->changes = changes;
    res->n_cols = plan != NULL ? plan->pub.root->schema->n : 0;
    if (res->n_cols > 0) {
        res->texts = tb_calloc(res->n_cols, sizeof(tb_buf));
        res->vals = tb_calloc(res->n_cols, sizeof(tb_value));
        res->have = tb_calloc(res->n_cols, sizeof(bool));
        if (res->texts == NULL || res->vals == NULL || res->have == NULL) {
            tb_free(res->texts);
            tb_free(res->vals);
            tb_free(res->have);
            tb_free(res);
            return TB_E_NOMEM;
        }
    }
    res->done = plan == NULL;
    *out = res;
    return TB_OK;
}

TB_API int tb_result_column_count(tb_result *res) { return res != NULL ? (int)res->n_cols : 0; }

static const tb_field *field(tb_result *res, int col)
{
    if (res == NULL || res->plan == NULL || col < 0 || (uint32_t)col >= res->n_cols)
        return NULL;
    return &res->plan->pub.root->schema->fields[col];
}

TB_API const char *tb_result_column_name(tb_result *res, int col)
{
    const tb_field *f = field(res, col);
    return f != NULL ? f->name : NULL;
}

TB_API const char *tb_result_column_type(tb_result *res, int col)
{
    const tb_field *f = field(res, col);
    return f != NULL ? tb_type_id_name((tb_type_id)f->type.id) : NULL;
}

TB_API tb_rc tb_result_step(tb_result *res, int *out_has_row)
{
    if (out_has_row != NULL)
        *out_has_row = 0;
    if (res == NULL || out_has_row == NULL)
        return TB_E_MISUSE;
    for (uint32_t i = 0; i < res->n_cols; i++)
        res->have[i] = false;
    res->on_row = false;
    if (res->done)
        return TB_OK;
    if (res->batch != NULL && res->row + 1 < res->batch->n_rows) {
        res->row++;
        res->on_row = true;
        *out_has_row = 1;
        return TB_OK;
    }
    for (;;) {
        tb_err err;
        tb_err_clear(&err);
        tb_batch *batch = NULL;
        tb_rc rc = tb_op_next(res->plan->pub.root, &batch, &err);
        if (rc != TB_OK) {
            if (err.code == TB_OK)
                TB_ERRF(&err, rc, "%s", tb_errstr(rc));
            set_db_err(res->db, &err);
            res->done = true;
            res->batch = NULL;
            return rc;
        }
        if (batch == NULL) {
            res->done = true;
            res->batch = NULL;
            return TB_OK;
        }
        if (batch->n_rows == 0)
            continue;
        res->batch = batch;
        res->row = 0;
        res->on_row = true;
        *out_has_row = 1;
        return TB_OK;
    }
}

static const tb_value *value(tb_result *res, int col)
{
    if (res == NULL || !res->on_row || col < 0 || (uint32_t)col >= res->n_cols)
        return NULL;
    if (!res->have[col]) {
        tb_vec_get(&res->batch->cols[col], res->row, &res->vals[col]);
        res->vals[col].type = res->plan->pub.root->schema->fields[col].type;
        res->have[col] = true;
    }
    return &res->vals[col];
}

TB_API tb_value_type tb_result_type(tb_result *res, int col)
{
    const tb_value *v = value(res, col);
    if (v == NULL || v->is_null)
        return TB_VT_NULL;
    switch (v->type.id) {
    case TB_T_NULL:
        return TB_VT_NULL;
    case TB_T_BOOL:
        return TB_VT_BOOL;
    case TB_T_INT16:
    case TB_T_INT32:
    case TB_T_INT64:
        return TB_VT_INT;
    case TB_T_FLOAT:
    case TB_T_DOUBLE:
        return TB_VT_DOUBLE;
    default:
        return TB_VT_TEXT;
    }
}

TB_API int tb_result_is_null(tb_result *res, int col)
{
    const tb_value *v = value(res, col);
    return v == NULL || v->is_null;
}

static double dec_to_double(tb_i128 v, int scale)
{
    double d = (double)v;
    for (int i = 0; i < scale; i++)
        d /= 10.0;
    return d;
}

TB_API int64_t tb_result_int(tb_result *res, int col)
{
    const tb_value *v = value(res, col);
    if (v == NULL || v->is_null)
        return 0;
    switch (v->type.id) {
    case TB_T_BOOL:
        return v->u.b ? 1 : 0;
    case TB_T_INT16:
    case TB_T_INT32:
    case TB_T_INT64:
    case TB_T_DATE:
    case TB_T_TIMESTAMP:
        return v->u.i;
    case TB_T_FLOAT:
    case TB_T_DOUBLE: {
        double d = v->u.d;
        if (isnan(d))
            return 0;
        if (d >= 9.2e18)
            return INT64_MAX;
        if (d <= -9.2e18)
            return INT64_MIN;
        return (int64_t)d;
    }
    case TB_T_DECIMAL: {
        tb_i128 x = v->u.dec / tb_i128_pow10(v->type.scale);
        if (x > (tb_i128)INT64_MAX)
            return INT64_MAX;
        if (x < (tb_i128)INT64_MIN)
            return INT64_MIN;
        return (int64_t)x;
    }
    case TB_T_STRING: {
        char buf[64];
        uint32_t n = v->u.s.len < sizeof(buf) - 1 ? v->u.s.len : (uint32_t)sizeof(buf) - 1;
        memcpy(buf, v->u.s.ptr, n);
        buf[n] = '\0';
        return strtoll(buf, NULL, 10);
    }
    default:
        return 0;
    }
}

TB_API double tb_result_double(tb_result *res, int col)
{
    const tb_value *v = value(res, col);
    if (v == NULL || v->is_null)
        return 0.0;
    switch (v->type.id) {
    case TB_T_FLOAT:
    case TB_T_DOUBLE:
        return v->u.d;
    case TB_T_DECIMAL:
        return dec_to_double(v->u.dec, v->type.scale);
    case TB_T_STRING: {
        char buf[128];
        uint32_t n = v->u.s.len < sizeof(buf) - 1 ? v->u.s.len : (uint32_t)sizeof(buf) - 1;
        memcpy(buf, v->u.s.ptr, n);
        buf[n] = '\0';
        return strtod(buf, NULL);
    }
    default:
        return (double)tb_result_int(res, col);
    }
}

TB_API const char *tb_result_text(tb_result *res, int col)
{
    const tb_value *v = value(res, col);
    if (v == NULL || v->is_null)
        return NULL;
    tb_buf *b = &res->texts[col];
    b->len = 0;
    if (tb_value_format(v, b) != TB_OK)
        return NULL;
    return tb_buf_cstr(b);
}

TB_API int64_t tb_result_changes(tb_result *res) { return res != NULL ? res->changes : -1; }

const tb_schema *tb_sql_result_schema(tb_result *res)
{
    return res != NULL && res->plan != NULL ? res->plan->pub.root->schema : NULL;
}

tb_rc tb_sql_result_next_batch(tb_result *res, tb_batch **out, tb_err *err)
{
    *out = NULL;
    res->on_row = false;
    res->batch = NULL;
    while (!res->done) {
        tb_batch *batch = NULL;
        tb_rc rc = tb_op_next(res->plan->pub.root, &batch, err);
        if (rc != TB_OK) {
            if (err->code == TB_OK)
                TB_ERRF(err, rc, "%s", tb_errstr(rc));
            set_db_err(res->db, err);
            res->done = true;
            return rc;
        }
        if (batch == NULL) {
            res->done = true;
            break;
        }
        if (batch->n_rows > 0) {
            *out = batch;
            break;
        }
    }
    return TB_OK;
}

void tb_sql_result_hold_read_lock(tb_result *res) { res->read_locked = true; }

TB_API void tb_result_free(tb_result **pres)
{
    if (pres == NULL || *pres == NULL)
        return;
    tb_result *res = *pres;
    if (res->plan != NULL)
        tb_plan_free(&res->plan->pub);
    if (res->read_locked)
        tb_db_read_end(res->db);
    for (uint32_t i = 0; i < res->n_cols; i++)
        tb_buf_free(&res->texts[i]);
    tb_free(res->texts);
    tb_free(res->vals);
    tb_free(res->have);
    tb_free(res);
    *pres = NULL;
}
