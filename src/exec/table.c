/*
 * table.c - columnar in-memory tables (tb_table) and their scans.
 *
 * A table is a list of immutable, reference-counted chunks; each chunk is one batch
 * copied into its own arena (strings included), so a chunk never changes once it is
 * published and can outlive the table.
 *
 * Thread safety (the rule): a table may be appended to, truncated or swapped by one
 * thread (a streaming query's sink) while other threads scan it (queries, the server).
 *   - Every access to the chunk list (append, truncate, swap, snapshot, counters) holds
 *     the table's mutex; nothing else in the table is mutable.
 *   - A scan takes a snapshot under the mutex: it copies the chunk pointers and adds one
 *     reference to each. It then reads the chunks without any lock: they are immutable.
 *   - Appending never modifies a published chunk: small appends are merged by building
 *     a new chunk (old rows + new rows) that replaces the last one in the list; a scan
 *     holding the old chunk keeps reading it.
 *   - The last reference (table or scan) frees a chunk; reference counts are atomic.
 * So a scan sees exactly the rows present when it started, whatever happens after, and
 * a table may be freed while scans of it are still running.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "exec/op_int.h"

typedef struct chunk {
    atomic_uint refs;
    tb_arena *arena;
    tb_batch *batch;
    size_t bytes;
} chunk;

struct tb_table {
    tb_schema *schema;
    pthread_mutex_t mu;
    chunk **chunks;
    size_t n_chunks;
    size_t cap;
    uint64_t n_rows;
    size_t bytes;
    uint64_t version; /* bumped by every change (tb_table_version) */
};

static void chunk_release(chunk *ch)
{
    if (ch != NULL && atomic_fetch_sub(&ch->refs, 1) == 1) {
        tb_arena_free(ch->arena);
        tb_free(ch);
    }
}

static void chunks_release(chunk **chunks, size_t n)
{
    for (size_t i = 0; i < n; i++)
        chunk_release(chunks[i]);
    tb_free(chunks);
}

/* Bytes of string data among rows [0, n) of v (NULL rows excluded). */
static size_t str_bytes(const tb_vec *v, uint32_t n)
{
    const tb_str *d = v->data;
    size_t total = 0;

    for (uint32_t i = 0; i < n; i++) {
        if (!tb_vec_is_null(v, i))
            total += d[i].len;
    }
    return total;
}

/* Copy the string bytes of rows [from, from+n) of v into arena. */
static tb_rc own_strs(tb_vec *v, uint32_t from, uint32_t n, tb_arena *arena)
{
    tb_str *d = (tb_str *)v->data + from;
    size_t total = 0;
    char *p;

    for (uint32_t k = 0; k < n; k++) {
        if (tb_vec_is_null(v, from + k))
            d[k].len = 0;
        total += d[k].len;
    }
    p = total ? tb_arena_alloc(arena, total) : NULL;
    if (total && p == NULL)
        return TB_E_NOMEM;
    for (uint32_t k = 0; k < n; k++) {
        if (d[k].len > 0) {
            memcpy(p, d[k].ptr, d[k].len);
            d[k].ptr = p;
            p += d[k].len;
        } else {
            d[k].ptr = NULL;
        }
    }
    return TB_OK;
}

/*
 * A new chunk holding the rows of `a` (may be NULL) followed by the rows of `b`, both
 * over `schema`'s columns (a column of type NULL in `b` stands for NULLs).
 */
static tb_rc chunk_make(const tb_schema *schema, const tb_batch *a, const tb_batch *b, chunk **out)
{
    uint32_t na = a ? a->n_rows : 0, n = na + b->n_rows;
    size_t need = 1024 + schema->n * (sizeof(tb_vec) + 64);
    chunk *ch;
    tb_batch *batch = NULL;

    for (uint32_t c = 0; c < schema->n; c++) {
        tb_type t = schema->fields[c].type;
        need += tb_type_width(t) * n + tb_valid_words(n) * 8 + 32;
        if (t.id == TB_T_STRING) {
            need += a ? str_bytes(&a->cols[c], na) : 0;
            need += b->cols[c].type.id == TB_T_STRING ? str_bytes(&b->cols[c], b->n_rows) : 0;
        }
    }
    ch = tb_calloc(1, sizeof(*ch));
    if (ch == NULL)
        return TB_E_NOMEM;
    atomic_init(&ch->refs, 1);
    /* Block size 4x the need so every allocation of the chunk is bumped from one block. */
    ch->arena = tb_arena_new(need * 4 + 4096);
    if (ch->arena == NULL || tb_batch_new(schema, n ? n : 1, ch->arena, &batch) != TB_OK)
        goto nomem;
    for (uint32_t c = 0; c < schema->n; c++) {
        tb_vec *v = &batch->cols[c];
        if (v->type.id == TB_T_NULL) {
            if (tb_op_null_vec(v, v->type, n, ch->arena) != TB_OK)
                goto nomem;
            continue;
        }
        if (a != NULL && tb_op_gather(v, 0, n, &a->cols[c], NULL, na, ch->arena) != TB_OK)
            goto nomem;
        if (b->cols[c].type.id == TB_T_NULL) {
            tb_vec nulls;
            if (tb_op_null_vec(&nulls, v->type, b->n_rows, ch->arena) != TB_OK ||
                tb_op_gather(v, na, n, &nulls, NULL, b->n_rows, ch->arena) != TB_OK)
                goto nomem;
        } else if (tb_op_gather(v, na, n, &b->cols[c], NULL, b->n_rows, ch->arena) != TB_OK) {
            goto nomem;
        }
        if (v->type.id == TB_T_STRING && own_strs(v, 0, n, ch->arena) != TB_OK)
            goto nomem;
    }
    batch->n_rows = n;
    ch->batch = batch;
    ch->bytes = tb_arena_bytes(ch->arena) + sizeof(*ch);
    *out = ch;
    return TB_OK;
nomem:
    tb_arena_free(ch->arena);
    tb_free(ch);
    return TB_E_NOMEM;
}

tb_table *tb_table_new(const tb_schema *schema)
{
    tb_table *table = tb_calloc(1, sizeof(*table));

    if (table == NULL)
        return NULL;
    table->schema = tb_schema_copy(schema);
    if (table->schema == NULL || pthread_mutex_init(&table->mu, NULL) != 0) {
        tb_schema_free(table->schema);
        tb_free(table);
        return NULL;
    }
    return table;
}

void tb_table_free(tb_table *table)
{
    if (table == NULL)
        return;
    chunks_release(table->chunks, table->n_chunks);
    pthread_mutex_destroy(&table->mu);
    tb_schema_free(table->schema);
    tb_free(table);
}

const tb_schema *tb_table_schema(const tb_table *table) { return table->schema; }

uint64_t tb_table_rows(const tb_table *table)
{
    tb_table *t = (tb_table *)table; /* the mutex is the only mutable part */
    uint64_t n;

    pthread_mutex_lock(&t->mu);
    n = t->n_rows;
    pthread_mutex_unlock(&t->mu);
    return n;
}

uint64_t tb_table_version(const tb_table *table)
{
    tb_table *t = (tb_table *)table;
    uint64_t v;

    pthread_mutex_lock(&t->mu);
    v = t->version;
    pthread_mutex_unlock(&t->mu);
    return v;
}

size_t tb_table_bytes(const tb_table *table)
{
    tb_table *t = (tb_table *)table;
    size_t n;

    pthread_mutex_lock(&t->mu);
    n = t->bytes + sizeof(*t) + t->cap * sizeof(chunk *);
    pthread_mutex_unlock(&t->mu);
    return n;
}

tb_rc tb_table_append(tb_table *table, const tb_batch *batch, tb_err *err)
{
    const tb_schema *schema = table->schema;
    chunk *ch = NULL, *old = NULL;
    tb_rc rc;

    if (batch->n_cols != schema->n)
        return TB_ERRF(err, TB_E_TYPE, "table: appending %u columns to a table of %u",
                       batch->n_cols, schema->n);
    for (uint32_t c = 0; c < schema->n; c++) {
        tb_type a = batch->cols[c].type, t = schema->fields[c].type;
        if (a.id != TB_T_NULL && (a.id != t.id || (t.id == TB_T_DECIMAL && a.scale != t.scale))) {
            char b1[64], b2[64];
            return TB_ERRF(err, TB_E_TYPE, "table: column \"%s\" is %s, cannot append %s",
                           schema->fields[c].name, tb_type_name(t, b1, sizeof(b1)),
                           tb_type_name(a, b2, sizeof(b2)));
        }
    }
    if (batch->n_rows == 0)
        return TB_OK;
    if (batch->n_rows > TB_BATCH_CAP) {
        /* Chunks are batches for scans: keep them within TB_BATCH_CAP rows. */
        tb_batch part = *batch;
        tb_vec cols[256], *pc = cols;
        tb_rc rc2 = TB_OK;
        if (batch->n_cols > 256 && (pc = tb_malloc(batch->n_cols * sizeof(tb_vec))) == NULL)
            return tb_err_nomem(err);
        part.cols = pc;
        for (uint32_t off = 0; off < batch->n_rows && rc2 == TB_OK; off += TB_BATCH_CAP) {
            for (uint32_t c = 0; c < batch->n_cols; c++)
                pc[c] = batch->cols[c].type.id == TB_T_NULL ? batch->cols[c]
                                                            : tb_op_vec_slice(&batch->cols[c], off);
            part.n_rows = TB_MIN(batch->n_rows - off, (uint32_t)TB_BATCH_CAP);
            rc2 = tb_table_append(table, &part, err);
        }
        if (pc != cols)
            tb_free(pc);
        return rc2;
    }
    pthread_mutex_lock(&table->mu);
    if (table->n_chunks > 0) {
        chunk *last = table->chunks[table->n_chunks - 1];
        uint32_t m = last->batch->n_rows;
        /* Merge small appends (INSERT of a few rows) into the last chunk's copy, so a
         * table filled row by row does not become a list of one-row chunks. */
        if (m < TB_BATCH_CAP / 2 && m + batch->n_rows <= TB_BATCH_CAP)
            old = last;
    }
    rc = chunk_make(schema, old ? old->batch : NULL, batch, &ch);
    if (rc != TB_OK) {
        pthread_mutex_unlock(&table->mu);
        return tb_err_nomem(err);
    }
    if (old != NULL) {
        table->chunks[table->n_chunks - 1] = ch;
        table->bytes -= old->bytes;
    } else {
        if (tb_grow((void **)&table->chunks, &table->cap, table->n_chunks + 1, sizeof(chunk *)) !=
            TB_OK) {
            pthread_mutex_unlock(&table->mu);
            chunk_release(ch);
            return tb_err_nomem(err);
        }
        table->chunks[table->n_chunks++] = ch;
    }
    table->bytes += ch->bytes;
    table->n_rows += batch->n_rows;
    table->version++;
    pthread_mutex_unlock(&table->mu);
    chunk_release(old); /* a scan may still hold it */
    return TB_OK;
}

void tb_table_truncate(tb_table *table)
{
    chunk **chunks;
    size_t n;

    pthread_mutex_lock(&table->mu);
    chunks = table->chunks;
    n = table->n_chunks;
    table->chunks = NULL;
    table->n_chunks = table->cap = 0;
    table->n_rows = 0;
    table->bytes = 0;
    table->version++;
    pthread_mutex_unlock(&table->mu);
    chunks_release(chunks, n);
}

tb_rc tb_table_append_all(tb_table *dst, tb_table *src, tb_err *err)
{
    tb_op *scan = NULL;
    tb_rc rc = tb_table_scan_new(src, NULL, 0, &scan, err);
    while (rc == TB_OK) {
        tb_batch *b = NULL;
        rc = tb_op_next(scan, &b, err);
        if (rc != TB_OK || b == NULL)
            break;
        if (b->n_rows > 0)
            rc = tb_table_append(dst, b, err);
    }
    tb_op_free(scan);
    return rc;
}

void tb_table_swap(tb_table *table, tb_table *other)
{
    tb_table *first = table < other ? table : other, *second = table < other ? other : table;
    chunk **chunks;
    size_t n;

    if (table == other)
        return;
    /* Lock order by address: two swaps in opposite directions cannot deadlock. */
    pthread_mutex_lock(&first->mu);
    pthread_mutex_lock(&second->mu);
    chunks = table->chunks;
    n = table->n_chunks;
    table->chunks = other->chunks;
    table->n_chunks = other->n_chunks;
    table->cap = other->cap;
    table->n_rows = other->n_rows;
    table->bytes = other->bytes;
    other->chunks = NULL;
    other->n_chunks = other->cap = 0;
    other->n_rows = 0;
    other->bytes = 0;
    table->version++;
    other->version++;
    pthread_mutex_unlock(&second->mu);
    pthread_mutex_unlock(&first->mu);
    chunks_release(chunks, n);
}

/* ---------------------------------------------------------------- scan */

typedef struct tscan_op {
    tb_op base;
    chunk **chunks; /* snapshot: one reference each */
    size_t n_chunks;
    size_t next;
    uint32_t *proj; /* output column i = chunk column proj[i] */
    tb_arena *arena;
    uint64_t n_rows;
} tscan_op;

static tb_rc tscan_next(tb_op *op, tb_batch **out, tb_err *err)
{
    tscan_op *s = (tscan_op *)op;
    tb_batch *batch = NULL;
    const tb_batch *src;

    *out = NULL;
    tb_arena_reset(s->arena);
    if (s->next >= s->n_chunks)
        return TB_OK;
    src = s->chunks[s->next++]->batch;
    if (tb_batch_shell(op->schema->n, s->arena, &batch) != TB_OK)
        return tb_err_nomem(err);
    for (uint32_t i = 0; i < op->schema->n; i++)
        batch->cols[i] = src->cols[s->proj[i]];
    batch->n_rows = src->n_rows;
    batch->cap = src->n_rows;
    *out = batch;
    return TB_OK;
}

static void tscan_free(tb_op *op)
{
    tscan_op *s = (tscan_op *)op;
    chunks_release(s->chunks, s->n_chunks);
    tb_free(s->proj);
    tb_arena_free(s->arena);
}

static tb_rc tscan_explain(tb_op *op, tb_buf *buf)
{
    tscan_op *s = (tscan_op *)op;
    tb_rc rc = tb_buf_printf(buf, "memory (%llu rows) (", (unsigned long long)s->n_rows);
    for (uint32_t i = 0; i < op->schema->n && rc == TB_OK; i++)
        rc = tb_buf_printf(buf, "%s%s", i ? ", " : "", op->schema->fields[i].name);
    return rc == TB_OK ? tb_buf_putc(buf, ')') : rc;
}

/* The same snapshot again (the stream runtime plans anew when the table changed). */
static tb_rc tscan_rescan(tb_op *op, tb_err *err)
{
    TB_UNUSED(err);
    ((tscan_op *)op)->next = 0;
    return TB_OK;
}

static const tb_op_vt tscan_vt = {"scan", tscan_next, tscan_free, tscan_explain, tscan_rescan};

tb_rc tb_table_scan_new(tb_table *table, const int *proj, uint32_t n_proj, tb_op **out, tb_err *err)
{
    const tb_schema *schema = table->schema;
    uint32_t n = proj ? n_proj : schema->n;
    tscan_op *s = tb_op_alloc(sizeof(*s), &tscan_vt, 0, NULL);

    *out = NULL;
    if (s == NULL)
        return tb_err_nomem(err);
    s->arena = tb_arena_new(4096);
    s->proj = tb_malloc((n ? n : 1) * sizeof(uint32_t));
    s->base.schema = tb_schema_new(n);
    if (s->arena == NULL || s->proj == NULL || s->base.schema == NULL)
        goto nomem;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t c = i;
        if (proj != NULL) {
            if (proj[i] < 0 || (uint32_t)proj[i] >= schema->n) {
                tb_rc rc = TB_ERRF(err, TB_E_MISUSE, "table scan: column %d out of range", proj[i]);
                tb_op_free(&s->base);
                return rc;
            }
            c = (uint32_t)proj[i];
        }
        s->proj[i] = c;
        if (tb_schema_set(s->base.schema, i, schema->fields[c].name, schema->fields[c].type,
                          schema->fields[c].nullable) != TB_OK)
            goto nomem;
    }
    pthread_mutex_lock(&table->mu);
    s->chunks = tb_malloc((table->n_chunks ? table->n_chunks : 1) * sizeof(chunk *));
    if (s->chunks == NULL) {
        pthread_mutex_unlock(&table->mu);
        goto nomem;
    }
    for (size_t i = 0; i < table->n_chunks; i++) {
        s->chunks[i] = table->chunks[i];
        atomic_fetch_add(&s->chunks[i]->refs, 1);
    }
    s->n_chunks = table->n_chunks;
    s->n_rows = table->n_rows;
    pthread_mutex_unlock(&table->mu);
    *out = &s->base;
    return TB_OK;
nomem:
    tb_op_free(&s->base);
    return tb_err_nomem(err);
}
