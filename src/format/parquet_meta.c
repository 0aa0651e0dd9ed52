/*
 * parquet_meta.c - parquet.thrift metadata: decode FileMetaData / PageHeader from the
 * Thrift compact protocol into the structs of parquet.h, and encode them back.
 *
 * Decoding is lenient about what it does not need (unknown fields, and known fields of an
 * unexpected wire type, are skipped) and strict about bounds: every list count is
 * checked against the remaining bytes by the thrift reader, and every allocation is
 * charged to a budget (TB_PQ_META_MAX) before it is made, so a small hostile footer can
 * not make us allocate a lot. Required fields that are missing are left at their
 * defaults; the reader validates what it uses.
 */
#include "format/parquet.h"

#include <string.h>

#include "format/thrift.h"

typedef struct dec {
    tb_thrift_reader r;
    tb_arena *arena; /* NULL: page header decoding (no allocation) */
    size_t budget;   /* bytes still allowed */
    bool over_budget;
    bool nomem;
} dec;

#define IS_BOOL(t) ((t) == TB_CT_BOOL_TRUE || (t) == TB_CT_BOOL_FALSE)

static void *dalloc(dec *d, size_t count, size_t size)
{
    void *p;
    if (d->r.failed)
        return NULL;
    if (d->arena == NULL) {
        tb_thrift_fail(&d->r, "unexpected list in page header");
        return NULL;
    }
    if (size != 0 && count > d->budget / size) {
        d->over_budget = true;
        tb_thrift_fail(&d->r, "metadata too large");
        return NULL;
    }
    d->budget -= count * size;
    p = tb_arena_zalloc(d->arena, count * size + 1);
    if (p == NULL) {
        d->nomem = true;
        tb_thrift_fail(&d->r, "out of memory");
    }
    return p;
}

static const char *dstr(dec *d)
{
    const uint8_t *p;
    uint32_t n;
    if (!tb_thrift_read_binary(&d->r, &p, &n))
        return NULL;
    char *s = dalloc(d, (size_t)n + 1, 1);
    if (s == NULL)
        return NULL;
    if (n > 0)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static void dbytes(dec *d, tb_pq_bytes *b)
{
    const uint8_t *p;
    uint32_t n;
    if (!tb_thrift_read_binary(&d->r, &p, &n))
        return;
    b->set = true;
    b->len = n;
    if (d->arena == NULL) {
        b->p = p; /* page header: points into the input */
        return;
    }
    uint8_t *c = dalloc(d, n, 1);
    if (c != NULL && n > 0)
        memcpy(c, p, n);
    b->p = c;
}

/* Read a list header; if its element type is not `want`, skip it and report 0 items. */
static bool list_of(dec *d, uint8_t want, uint32_t *n)
{
    uint8_t et;
    *n = 0;
    if (!tb_thrift_list_begin(&d->r, &et, n))
        return false;
    if (*n > 0 && et != want) {
        for (uint32_t i = 0; i < *n; i++)
            if (!tb_thrift_skip(&d->r, et))
                return false;
        *n = 0;
    }
    return true;
}

#define SKIP()                                                                                     \
    do {                                                                                           \
        tb_thrift_skip(r, t);                                                                      \
    } while (0)
#define WANT(tt)                                                                                   \
    if (t != (tt)) {                                                                               \
        SKIP();                                                                                    \
        break;                                                                                     \
    }
#define WANT_BOOL()                                                                                \
    if (!IS_BOOL(t)) {                                                                             \
        SKIP();                                                                                    \
        break;                                                                                     \
    }

/* ---------------------------------------------------------------- defaults */

void tb_pq_statistics_init(tb_pq_statistics *st)
{
    memset(st, 0, sizeof(*st));
    st->null_count = -1;
    st->distinct_count = -1;
    st->is_max_value_exact = -1;
    st->is_min_value_exact = -1;
}

void tb_pq_schema_element_init(tb_pq_schema_element *se)
{
    memset(se, 0, sizeof(*se));
    se->type = -1;
    se->repetition = -1;
    se->num_children = -1;
    se->converted_type = -1;
    se->scale = -1;
    se->precision = -1;
    se->field_id = -1;
    se->name = "";
}

void tb_pq_column_chunk_init(tb_pq_column_chunk *cc)
{
    memset(cc, 0, sizeof(*cc));
    cc->meta.index_page_offset = -1;
    cc->meta.dictionary_page_offset = -1;
    cc->meta.bloom_filter_offset = -1;
    cc->meta.bloom_filter_length = -1;
    cc->meta.type = -1;
    tb_pq_statistics_init(&cc->meta.statistics);
    cc->offset_index_offset = -1;
    cc->offset_index_length = -1;
    cc->column_index_offset = -1;
    cc->column_index_length = -1;
}

void tb_pq_row_group_init(tb_pq_row_group *rg)
{
    memset(rg, 0, sizeof(*rg));
    rg->file_offset = -1;
    rg->total_compressed_size = -1;
    rg->ordinal = -1;
}

void tb_pq_page_header_init(tb_pq_page_header *ph)
{
    memset(ph, 0, sizeof(*ph));
    ph->type = -1;
    ph->dict.is_sorted = -1;
    ph->data_v2.is_compressed = true;
    tb_pq_statistics_init(&ph->data.statistics);
    tb_pq_statistics_init(&ph->data_v2.statistics);
}

/* ---------------------------------------------------------------- decoders */

static bool dec_statistics(dec *d, tb_pq_statistics *st)
{
    tb_thrift_reader *r = &d->r;
    int16_t id;
    uint8_t t;
    tb_pq_statistics_init(st);
    if (!tb_thrift_struct_begin(r))
        return false;
    while (tb_thrift_field(r, &id, &t)) {
        switch (id) {
        case 1:
            WANT(TB_CT_BINARY);
            dbytes(d, &st->max);
            break;
        case 2:
            WANT(TB_CT_BINARY);
            dbytes(d, &st->min);
            break;
        case 3:
            WANT(TB_CT_I64);
            st->null_count = tb_thrift_read_i64(r);
            break;
        case 4:
            WANT(TB_CT_I64);
            st->distinct_count = tb_thrift_read_i64(r);
            break;
        case 5:
            WANT(TB_CT_BINARY);
            dbytes(d, &st->max_value);
            break;
        case 6:
            WANT(TB_CT_BINARY);
            dbytes(d, &st->min_value);
            break;
        case 7:
            WANT_BOOL();
            st->is_max_value_exact = tb_thrift_read_bool(r, t);
            break;
        case 8:
            WANT_BOOL();
            st->is_min_value_exact = tb_thrift_read_bool(r, t);
            break;
        default:
            SKIP();
        }
    }
    tb_thrift_struct_end(r);
    return tb_thrift_ok(r);
}

/* A union whose members are empty structs (or whose content we skip): the member id. */
static int16_t dec_union_id(dec *d)
{
    tb_thrift_reader *r = &d->r;
    int16_t id, member = 0;
    uint8_t t;
    if (!tb_thrift_struct_begin(r))
        return 0;
    while (tb_thrift_field(r, &id, &t)) {
        if (member == 0)
            member = id;
        SKIP();
    }
    tb_thrift_struct_end(r);
    return member;
}

/* TimeType / TimestampType: {1: bool isAdjustedToUTC, 2: TimeUnit unit} */
static void dec_time_type(dec *d, tb_pq_logical_type *lt)
{
    tb_thrift_reader *r = &d->r;
    int16_t id;
    uint8_t t;
    if (!tb_thrift_struct_begin(r))
        return;
    while (tb_thrift_field(r, &id, &t)) {
        switch (id) {
        case 1:
            WANT_BOOL();
            lt->utc = tb_thrift_read_bool(r, t);
            break;
        case 2: {
            WANT(TB_CT_STRUCT);
            int16_t u = dec_union_id(d);
            lt->unit = (uint8_t)(u >= 1 && u <= 3 ? u : 0);
            break;
        }
        default:
            SKIP();
        }
    }
    tb_thrift_struct_end(r);
}

static void dec_logical(dec *d, tb_pq_logical_type *lt)
{
    tb_thrift_reader *r = &d->r;
    int16_t id, sid;
    uint8_t t, st;
    memset(lt, 0, sizeof(*lt));
    if (!tb_thrift_struct_begin(r))
        return;
    while (tb_thrift_field(r, &id, &t)) {
        if (lt->kind != 0 || t != TB_CT_STRUCT) {
            SKIP();
            continue;
        }
        lt->kind = id;
        switch (id) {
        case TB_PQ_LT_DECIMAL:
            if (!tb_thrift_struct_begin(r))
                break;
            while (tb_thrift_field(r, &sid, &st)) {
                if (sid == 1 && st == TB_CT_I32)
                    lt->scale = tb_thrift_read_i32(r);
                else if (sid == 2 && st == TB_CT_I32)
                    lt->precision = tb_thrift_read_i32(r);
                else
                    tb_thrift_skip(r, st);
            }
            tb_thrift_struct_end(r);
            break;
        case TB_PQ_LT_TIME:
        case TB_PQ_LT_TIMESTAMP:
            dec_time_type(d, lt);
            break;
        case TB_PQ_LT_INTEGER:
            if (!tb_thrift_struct_begin(r))
                break;
            while (tb_thrift_field(r, &sid, &st)) {
                if (sid == 1 && st == TB_CT_BYTE)
                    lt->bit_width = tb_thrift_read_byte(r);
                else if (sid == 2 && IS_BOOL(st))
                    lt->is_signed = tb_thrift_read_bool(r, st);
                else
                    tb_thrift_skip(r, st);
            }
            tb_thrift_struct_end(r);
            break;
        default:
            SKIP(); /* empty structs, or members we only need the id of */
        }
    }
    tb_thrift_struct_end(r);
}

static bool dec_schema_element(dec *d, tb_pq_schema_element *se)
{
    tb_thrift_reader *r = &d->r;
    int16_t id;
    uint8_t t;
    tb_pq_schema_element_init(se);
    if (!tb_thrift_struct_begin(r))
        return false;
    while (tb_thrift_field(r, &id, &t)) {
        switch (id) {
        case 1:
            WANT(TB_CT_I32);
            se->type = tb_thrift_read_i32(r);
            break;
        case 2:
            WANT(TB_CT_I32);
            se->type_length = tb_thrift_read_i32(r);
            break;
        case 3:
            WANT(TB_CT_I32);
            se->repetition = tb_thrift_read_i32(r);
            break;
        case 4: {
            WANT(TB_CT_BINARY);
            const char *s = dstr(d);
            if (s != NULL)
                se->name = s;
            break;
        }
        case 5:
            WANT(TB_CT_I32);
            se->num_children = tb_thrift_read_i32(r);
            break;
        case 6:
            WANT(TB_CT_I32);
            se->converted_type = tb_thrift_read_i32(r);
            break;
        case 7:
            WANT(TB_CT_I32);
            se->scale = tb_thrift_read_i32(r);
            break;
        case 8:
            WANT(TB_CT_I32);
            se->precision = tb_thrift_read_i32(r);
            break;
        case 9:
            WANT(TB_CT_I32);
            se->field_id = tb_thrift_read_i32(r);
            break;
        case 10:
            WANT(TB_CT_STRUCT);
            se->has_logical = true;
            dec_logical(d, &se->logical);
            break;
        default:
            SKIP();
        }
    }
    tb_thrift_struct_end(r);
    return tb_thrift_ok(r);
}

static bool dec_kv_list(dec *d, uint32_t *out_n, tb_pq_kv **out)
{
    tb_thrift_reader *r = &d->r;
    uint32_t n;
    int16_t id;
    uint8_t t;
    if (!list_of(d, TB_CT_STRUCT, &n))
        return false;
    tb_pq_kv *kv = dalloc(d, n, sizeof(*kv));
    if (n > 0 && kv == NULL)
        return false;
    for (uint32_t i = 0; i < n && tb_thrift_ok(r); i++) {
        kv[i].key = "";
        if (!tb_thrift_struct_begin(r))
            break;
        while (tb_thrift_field(r, &id, &t)) {
            if (id == 1 && t == TB_CT_BINARY) {
                const char *s = dstr(d);
                if (s != NULL)
                    kv[i].key = s;
            } else if (id == 2 && t == TB_CT_BINARY) {
                kv[i].value = dstr(d);
            } else {
                SKIP();
            }
        }
        tb_thrift_struct_end(r);
    }
    *out_n = n;
    *out = kv;
    return tb_thrift_ok(r);
}

static bool dec_column_meta(dec *d, tb_pq_column_meta *m)
{
    tb_thrift_reader *r = &d->r;
    int16_t id;
    uint8_t t;
    uint32_t n;
    if (!tb_thrift_struct_begin(r))
        return false;
    while (tb_thrift_field(r, &id, &t)) {
        switch (id) {
        case 1:
            WANT(TB_CT_I32);
            m->type = tb_thrift_read_i32(r);
            break;
        case 2:
            WANT(TB_CT_LIST);
            if (!list_of(d, TB_CT_I32, &n))
                break;
            m->encodings = dalloc(d, n, sizeof(int32_t));
            if (n > 0 && m->encodings == NULL)
                break;
            for (uint32_t i = 0; i < n; i++)
                m->encodings[i] = tb_thrift_read_i32(r);
            m->n_encodings = n;
            break;
        case 3:
            WANT(TB_CT_LIST);
            if (!list_of(d, TB_CT_BINARY, &n))
                break;
            m->path = dalloc(d, n, sizeof(char *));
            if (n > 0 && m->path == NULL)
                break;
            for (uint32_t i = 0; i < n; i++) {
                const char *s = dstr(d);
                m->path[i] = s != NULL ? s : "";
            }
            m->n_path = n;
            break;
        case 4:
            WANT(TB_CT_I32);
            m->codec = tb_thrift_read_i32(r);
            break;
        case 5:
            WANT(TB_CT_I64);
            m->num_values = tb_thrift_read_i64(r);
            break;
        case 6:
            WANT(TB_CT_I64);
            m->total_uncompressed_size = tb_thrift_read_i64(r);
            break;
        case 7:
            WANT(TB_CT_I64);
            m->total_compressed_size = tb_thrift_read_i64(r);
            break;
        case 8:
            WANT(TB_CT_LIST);
            dec_kv_list(d, &m->n_kv, &m->kv);
            break;
        case 9:
            WANT(TB_CT_I64);
            m->data_page_offset = tb_thrift_read_i64(r);
            break;
        case 10:
            WANT(TB_CT_I64);
            m->index_page_offset = tb_thrift_read_i64(r);
            break;
        case 11:
            WANT(TB_CT_I64);
            m->dictionary_page_offset = tb_thrift_read_i64(r);
            break;
        case 12:
            WANT(TB_CT_STRUCT);
            m->has_statistics = dec_statistics(d, &m->statistics);
            break;
        case 13: {
            WANT(TB_CT_LIST);
            if (!list_of(d, TB_CT_STRUCT, &n))
                break;
            m->encoding_stats = dalloc(d, n, sizeof(*m->encoding_stats));
            if (n > 0 && m->encoding_stats == NULL)
                break;
            for (uint32_t i = 0; i < n && tb_thrift_ok(r); i++) {
                int16_t sid;
                uint8_t st;
                if (!tb_thrift_struct_begin(r))
                    break;
                while (tb_thrift_field(r, &sid, &st)) {
                    if (st != TB_CT_I32)
                        tb_thrift_skip(r, st);
                    else if (sid == 1)
                        m->encoding_stats[i].page_type = tb_thrift_read_i32(r);
                    else if (sid == 2)
                        m->encoding_stats[i].encoding = tb_thrift_read_i32(r);
                    else if (sid == 3)
                        m->encoding_stats[i].count = tb_thrift_read_i32(r);
                    else
                        tb_thrift_skip(r, st);
                }
                tb_thrift_struct_end(r);
            }
            m->n_encoding_stats = n;
            break;
        }
        case 14:
            WANT(TB_CT_I64);
            m->bloom_filter_offset = tb_thrift_read_i64(r);
            break;
        case 15:
            WANT(TB_CT_I32);
            m->bloom_filter_length = tb_thrift_read_i32(r);
            break;
        default:
            SKIP();
        }
    }
    tb_thrift_struct_end(r);
    return tb_thrift_ok(r);
}

static bool dec_column_chunk(dec *d, tb_pq_column_chunk *cc)
{
    tb_thrift_reader *r = &d->r;
    int16_t id;
    uint8_t t;
    tb_pq_column_chunk_init(cc);
    if (!tb_thrift_struct_begin(r))
        return false;
    while (tb_thrift_field(r, &id, &t)) {
        switch (id) {
        case 1:
            WANT(TB_CT_BINARY);
            cc->file_path = dstr(d);
            break;
        case 2:
            WANT(TB_CT_I64);
            cc->file_offset = tb_thrift_read_i64(r);
            break;
        case 3:
            WANT(TB_CT_STRUCT);
            cc->has_meta = dec_column_meta(d, &cc->meta);
            break;
        case 4:
            WANT(TB_CT_I64);
            cc->offset_index_offset = tb_thrift_read_i64(r);
            break;
        case 5:
            WANT(TB_CT_I32);
            cc->offset_index_length = tb_thrift_read_i32(r);
            break;
        case 6:
            WANT(TB_CT_I64);
            cc->column_index_offset = tb_thrift_read_i64(r);
            break;
        case 7:
            WANT(TB_CT_I32);
            cc->column_index_length = tb_thrift_read_i32(r);
            break;
        case 8:
        case 9:
            cc->encrypted = true;
            SKIP();
            break;
        default:
            SKIP();
        }
    }
    tb_thrift_struct_end(r);
    return tb_thrift_ok(r);
}

static bool dec_row_group(dec *d, tb_pq_row_group *rg)
{
    tb_thrift_reader *r = &d->r;
    int16_t id;
    uint8_t t;
    uint32_t n;
    tb_pq_row_group_init(rg);
    if (!tb_thrift_struct_begin(r))
        return false;
    while (tb_thrift_field(r, &id, &t)) {
        switch (id) {
        case 1:
            WANT(TB_CT_LIST);
            if (!list_of(d, TB_CT_STRUCT, &n))
                break;
            rg->columns = dalloc(d, n, sizeof(*rg->columns));
            if (n > 0 && rg->columns == NULL)
                break;
            for (uint32_t i = 0; i < n && tb_thrift_ok(r); i++)
                dec_column_chunk(d, &rg->columns[i]);
            rg->n_columns = n;
            break;
        case 2:
            WANT(TB_CT_I64);
            rg->total_byte_size = tb_thrift_read_i64(r);
            break;
        case 3:
            WANT(TB_CT_I64);
            rg->num_rows = tb_thrift_read_i64(r);
            break;
        case 4:
            WANT(TB_CT_LIST);
            if (!list_of(d, TB_CT_STRUCT, &n))
                break;
            rg->sorting = dalloc(d, n, sizeof(*rg->sorting));
            if (n > 0 && rg->sorting == NULL)
                break;
            for (uint32_t i = 0; i < n && tb_thrift_ok(r); i++) {
                int16_t sid;
                uint8_t st;
                if (!tb_thrift_struct_begin(r))
                    break;
                while (tb_thrift_field(r, &sid, &st)) {
                    if (sid == 1 && st == TB_CT_I32)
                        rg->sorting[i].column_idx = tb_thrift_read_i32(r);
                    else if (sid == 2 && IS_BOOL(st))
                        rg->sorting[i].descending = tb_thrift_read_bool(r, st);
                    else if (sid == 3 && IS_BOOL(st))
                        rg->sorting[i].nulls_first = tb_thrift_read_bool(r, st);
                    else
                        tb_thrift_skip(r, st);
                }
                tb_thrift_struct_end(r);
            }
            rg->n_sorting = n;
            break;
        case 5:
            WANT(TB_CT_I64);
            rg->file_offset = tb_thrift_read_i64(r);
            break;
        case 6:
            WANT(TB_CT_I64);
            rg->total_compressed_size = tb_thrift_read_i64(r);
            break;
        case 7:
            WANT(TB_CT_I16);
            rg->ordinal = tb_thrift_read_i16(r);
            break;
        default:
            SKIP();
        }
    }
    tb_thrift_struct_end(r);
    return tb_thrift_ok(r);
}

static tb_rc dec_result(dec *d, const char *what, tb_err *err)
{
    if (d->nomem)
        return tb_err_nomem(err);
    if (d->over_budget)
        return TB_ERRF(err, TB_E_LIMIT, "%s: metadata larger than %zu bytes", what, TB_PQ_META_MAX);
    return TB_ERRF(err, TB_E_CORRUPT, "%s: %s at byte %zu", what,
                   d->r.why != NULL ? d->r.why : "malformed", tb_thrift_pos(&d->r));
}

tb_rc tb_pq_decode_file_meta(const uint8_t *p, size_t len, tb_arena *arena, tb_pq_file_meta *out,
                             tb_err *err)
{
    dec d;
    int16_t id;
    uint8_t t;
    uint32_t n;
    tb_thrift_reader *r = &d.r;

    memset(&d, 0, sizeof(d));
    memset(out, 0, sizeof(*out));
    if (len > TB_PQ_META_MAX)
        return TB_ERRF(err, TB_E_LIMIT, "footer of %zu bytes exceeds the %zu-byte limit", len,
                       TB_PQ_META_MAX);
    tb_thrift_reader_init(r, p, len);
    d.arena = arena;
    d.budget = TB_PQ_META_MAX;
    if (!tb_thrift_struct_begin(r))
        return dec_result(&d, "footer", err);
    while (tb_thrift_field(r, &id, &t)) {
        switch (id) {
        case 1:
            WANT(TB_CT_I32);
            out->version = tb_thrift_read_i32(r);
            break;
        case 2:
            WANT(TB_CT_LIST);
            if (!list_of(&d, TB_CT_STRUCT, &n))
                break;
            out->schema = dalloc(&d, n, sizeof(*out->schema));
            if (n > 0 && out->schema == NULL)
                break;
            for (uint32_t i = 0; i < n && tb_thrift_ok(r); i++)
                dec_schema_element(&d, &out->schema[i]);
            out->n_schema = n;
            break;
        case 3:
            WANT(TB_CT_I64);
            out->num_rows = tb_thrift_read_i64(r);
            break;
        case 4:
            WANT(TB_CT_LIST);
            if (!list_of(&d, TB_CT_STRUCT, &n))
                break;
            out->row_groups = dalloc(&d, n, sizeof(*out->row_groups));
            if (n > 0 && out->row_groups == NULL)
                break;
            for (uint32_t i = 0; i < n && tb_thrift_ok(r); i++)
                dec_row_group(&d, &out->row_groups[i]);
            out->n_row_groups = n;
            break;
        case 5:
            WANT(TB_CT_LIST);
            dec_kv_list(&d, &out->n_kv, &out->kv);
            break;
        case 6:
            WANT(TB_CT_BINARY);
            out->created_by = dstr(&d);
            break;
        case 7:
            WANT(TB_CT_LIST);
            if (!list_of(&d, TB_CT_STRUCT, &n))
                break;
            for (uint32_t i = 0; i < n && tb_thrift_ok(r); i++)
                (void)dec_union_id(&d);
            out->n_column_orders = n;
            break;
        case 8:
            out->encrypted = true;
            SKIP();
            break;
        default:
            SKIP();
        }
    }
    tb_thrift_struct_end(r);
    if (!tb_thrift_ok(r))
        return dec_result(&d, "footer", err);
    return TB_OK;
}

static void dec_data_page(dec *d, tb_pq_data_page_header *h)
{
    tb_thrift_reader *r = &d->r;
    int16_t id;
    uint8_t t;
    if (!tb_thrift_struct_begin(r))
        return;
    while (tb_thrift_field(r, &id, &t)) {
        if (id == 5 && t == TB_CT_STRUCT) {
            h->has_statistics = dec_statistics(d, &h->statistics);
            continue;
        }
        if (t != TB_CT_I32 || id < 1 || id > 4) {
            SKIP();
            continue;
        }
        int32_t v = tb_thrift_read_i32(r);
        if (id == 1)
            h->num_values = v;
        else if (id == 2)
            h->encoding = v;
        else if (id == 3)
            h->definition_level_encoding = v;
        else
            h->repetition_level_encoding = v;
    }
    tb_thrift_struct_end(r);
}

static void dec_data_page_v2(dec *d, tb_pq_data_page_header_v2 *h)
{
    tb_thrift_reader *r = &d->r;
    int16_t id;
    uint8_t t;
    if (!tb_thrift_struct_begin(r))
        return;
    while (tb_thrift_field(r, &id, &t)) {
        if (id == 7 && IS_BOOL(t)) {
            h->is_compressed = tb_thrift_read_bool(r, t);
            continue;
        }
        if (id == 8 && t == TB_CT_STRUCT) {
            h->has_statistics = dec_statistics(d, &h->statistics);
            continue;
        }
        if (t != TB_CT_I32 || id < 1 || id > 6) {
            SKIP();
            continue;
        }
        int32_t v = tb_thrift_read_i32(r);
        switch (id) {
        case 1:
            h->num_values = v;
            break;
        case 2:
            h->num_nulls = v;
            break;
        case 3:
            h->num_rows = v;
            break;
        case 4:
            h->encoding = v;
            break;
        case 5:
            h->definition_levels_byte_length = v;
            break;
        default:
            h->repetition_levels_byte_length = v;
        }
    }
    tb_thrift_struct_end(r);
}

static void dec_dict_page(dec *d, tb_pq_dictionary_page_header *h)
{
    tb_thrift_reader *r = &d->r;
    int16_t id;
    uint8_t t;
    if (!tb_thrift_struct_begin(r))
        return;
    while (tb_thrift_field(r, &id, &t)) {
        if (id == 1 && t == TB_CT_I32)
            h->num_values = tb_thrift_read_i32(r);
        else if (id == 2 && t == TB_CT_I32)
            h->encoding = tb_thrift_read_i32(r);
        else if (id == 3 && IS_BOOL(t))
            h->is_sorted = tb_thrift_read_bool(r, t);
        else
            SKIP();
    }
    tb_thrift_struct_end(r);
}

tb_rc tb_pq_decode_page_header(const uint8_t *p, size_t len, tb_pq_page_header *out,
                               size_t *out_hdr_len, bool *out_truncated, tb_err *err)
{
    dec d;
    int16_t id;
    uint8_t t;
    tb_thrift_reader *r = &d.r;

    memset(&d, 0, sizeof(d));
    tb_pq_page_header_init(out);
    *out_hdr_len = 0;
    *out_truncated = false;
    tb_thrift_reader_init(r, p, len);
    if (tb_thrift_struct_begin(r)) {
        while (tb_thrift_field(r, &id, &t)) {
            switch (id) {
            case 1:
                WANT(TB_CT_I32);
                out->type = tb_thrift_read_i32(r);
                break;
            case 2:
                WANT(TB_CT_I32);
                out->uncompressed_page_size = tb_thrift_read_i32(r);
                break;
            case 3:
                WANT(TB_CT_I32);
                out->compressed_page_size = tb_thrift_read_i32(r);
                break;
            case 4:
                WANT(TB_CT_I32);
                out->has_crc = true;
                out->crc = tb_thrift_read_i32(r);
                break;
            case 5:
                WANT(TB_CT_STRUCT);
                out->has_data = true;
                dec_data_page(&d, &out->data);
                break;
            case 7:
                WANT(TB_CT_STRUCT);
                out->has_dict = true;
                dec_dict_page(&d, &out->dict);
                break;
            case 8:
                WANT(TB_CT_STRUCT);
                out->has_data_v2 = true;
                dec_data_page_v2(&d, &out->data_v2);
                break;
            default:
                SKIP();
            }
        }
        tb_thrift_struct_end(r);
    }
    if (!tb_thrift_ok(r)) {
        *out_truncated = r->truncated;
        return dec_result(&d, "page header", err);
    }
    *out_hdr_len = tb_thrift_pos(r);
    return TB_OK;
}

/* ---------------------------------------------------------------- encoders */

static void enc_bytes(tb_thrift_writer *w, int16_t id, const tb_pq_bytes *b)
{
    if (b->set)
        tb_thrift_write_field_binary(w, id, b->p, b->len);
}

static void enc_statistics(tb_thrift_writer *w, int16_t id, const tb_pq_statistics *st)
{
    tb_thrift_write_field_begin(w, TB_CT_STRUCT, id);
    tb_thrift_write_struct_begin(w);
    enc_bytes(w, 1, &st->max);
    enc_bytes(w, 2, &st->min);
    if (st->null_count >= 0)
        tb_thrift_write_field_i64(w, 3, st->null_count);
    if (st->distinct_count >= 0)
        tb_thrift_write_field_i64(w, 4, st->distinct_count);
    enc_bytes(w, 5, &st->max_value);
    enc_bytes(w, 6, &st->min_value);
    if (st->is_max_value_exact >= 0)
        tb_thrift_write_field_bool(w, 7, st->is_max_value_exact != 0);
    if (st->is_min_value_exact >= 0)
        tb_thrift_write_field_bool(w, 8, st->is_min_value_exact != 0);
    tb_thrift_write_struct_end(w);
}

static void enc_empty_struct_field(tb_thrift_writer *w, int16_t id)
{
    tb_thrift_write_field_begin(w, TB_CT_STRUCT, id);
    tb_thrift_write_struct_begin(w);
    tb_thrift_write_struct_end(w);
}

static void enc_logical(tb_thrift_writer *w, const tb_pq_logical_type *lt)
{
    tb_thrift_write_field_begin(w, TB_CT_STRUCT, 10);
    tb_thrift_write_struct_begin(w);
    switch (lt->kind) {
    case TB_PQ_LT_DECIMAL:
        tb_thrift_write_field_begin(w, TB_CT_STRUCT, lt->kind);
        tb_thrift_write_struct_begin(w);
        tb_thrift_write_field_i32(w, 1, lt->scale);
        tb_thrift_write_field_i32(w, 2, lt->precision);
        tb_thrift_write_struct_end(w);
        break;
    case TB_PQ_LT_TIME:
    case TB_PQ_LT_TIMESTAMP:
        tb_thrift_write_field_begin(w, TB_CT_STRUCT, lt->kind);
        tb_thrift_write_struct_begin(w);
        tb_thrift_write_field_bool(w, 1, lt->utc);
        tb_thrift_write_field_begin(w, TB_CT_STRUCT, 2);
        tb_thrift_write_struct_begin(w);
        enc_empty_struct_field(w, (int16_t)(lt->unit >= 1 && lt->unit <= 3 ? lt->unit : 2));
        tb_thrift_write_struct_end(w);
        tb_thrift_write_struct_end(w);
        break;
    case TB_PQ_LT_INTEGER:
        tb_thrift_write_field_begin(w, TB_CT_STRUCT, lt->kind);
        tb_thrift_write_struct_begin(w);
        tb_thrift_write_field_begin(w, TB_CT_BYTE, 1);
        tb_thrift_write_byte(w, lt->bit_width);
        tb_thrift_write_field_bool(w, 2, lt->is_signed);
        tb_thrift_write_struct_end(w);
        break;
    default:
        if (lt->kind > 0)
            enc_empty_struct_field(w, lt->kind);
    }
    tb_thrift_write_struct_end(w);
}

static void enc_schema_element(tb_thrift_writer *w, const tb_pq_schema_element *se)
{
    tb_thrift_write_struct_begin(w);
    if (se->type >= 0)
        tb_thrift_write_field_i32(w, 1, se->type);
    if (se->type == TB_PQ_FIXED_LEN_BYTE_ARRAY)
        tb_thrift_write_field_i32(w, 2, se->type_length);
    if (se->repetition >= 0)
        tb_thrift_write_field_i32(w, 3, se->repetition);
    tb_thrift_write_field_string(w, 4, se->name != NULL ? se->name : "");
    if (se->num_children >= 0)
        tb_thrift_write_field_i32(w, 5, se->num_children);
    if (se->converted_type >= 0)
        tb_thrift_write_field_i32(w, 6, se->converted_type);
    if (se->scale >= 0)
        tb_thrift_write_field_i32(w, 7, se->scale);
    if (se->precision >= 0)
        tb_thrift_write_field_i32(w, 8, se->precision);
    if (se->field_id >= 0)
        tb_thrift_write_field_i32(w, 9, se->field_id);
    if (se->has_logical)
        enc_logical(w, &se->logical);
    tb_thrift_write_struct_end(w);
}

static void enc_kv_list(tb_thrift_writer *w, int16_t id, uint32_t n, const tb_pq_kv *kv)
{
    tb_thrift_write_field_begin(w, TB_CT_LIST, id);
    tb_thrift_write_list_begin(w, TB_CT_STRUCT, n);
    for (uint32_t i = 0; i < n; i++) {
        tb_thrift_write_struct_begin(w);
        tb_thrift_write_field_string(w, 1, kv[i].key != NULL ? kv[i].key : "");
        if (kv[i].value != NULL)
            tb_thrift_write_field_string(w, 2, kv[i].value);
        tb_thrift_write_struct_end(w);
    }
}

static void enc_column_meta(tb_thrift_writer *w, const tb_pq_column_meta *m)
{
    tb_thrift_write_field_begin(w, TB_CT_STRUCT, 3);
    tb_thrift_write_struct_begin(w);
    tb_thrift_write_field_i32(w, 1, m->type);
    tb_thrift_write_field_begin(w, TB_CT_LIST, 2);
    tb_thrift_write_list_begin(w, TB_CT_I32, m->n_encodings);
    for (uint32_t i = 0; i < m->n_encodings; i++)
        tb_thrift_write_i32(w, m->encodings[i]);
    tb_thrift_write_field_begin(w, TB_CT_LIST, 3);
    tb_thrift_write_list_begin(w, TB_CT_BINARY, m->n_path);
    for (uint32_t i = 0; i < m->n_path; i++)
        tb_thrift_write_binary(w, m->path[i], strlen(m->path[i]));
    tb_thrift_write_field_i32(w, 4, m->codec);
    tb_thrift_write_field_i64(w, 5, m->num_values);
    tb_thrift_write_field_i64(w, 6, m->total_uncompressed_size);
    tb_thrift_write_field_i64(w, 7, m->total_compressed_size);
    if (m->n_kv > 0)
        enc_kv_list(w, 8, m->n_kv, m->kv);
    tb_thrift_write_field_i64(w, 9, m->data_page_offset);
    if (m->index_page_offset >= 0)
        tb_thrift_write_field_i64(w, 10, m->index_page_offset);
    if (m->dictionary_page_offset >= 0)
        tb_thrift_write_field_i64(w, 11, m->dictionary_page_offset);
    if (m->has_statistics)
        enc_statistics(w, 12, &m->statistics);
    if (m->n_encoding_stats > 0) {
        tb_thrift_write_field_begin(w, TB_CT_LIST, 13);
        tb_thrift_write_list_begin(w, TB_CT_STRUCT, m->n_encoding_stats);
        for (uint32_t i = 0; i < m->n_encoding_stats; i++) {
            tb_thrift_write_struct_begin(w);
            tb_thrift_write_field_i32(w, 1, m->encoding_stats[i].page_type);
            tb_thrift_write_field_i32(w, 2, m->encoding_stats[i].encoding);
            tb_thrift_write_field_i32(w, 3, m->encoding_stats[i].count);
            tb_thrift_write_struct_end(w);
        }
    }
    if (m->bloom_filter_offset >= 0)
        tb_thrift_write_field_i64(w, 14, m->bloom_filter_offset);
    if (m->bloom_filter_length >= 0)
        tb_thrift_write_field_i32(w, 15, m->bloom_filter_length);
    tb_thrift_write_struct_end(w);
}

static void enc_row_group(tb_thrift_writer *w, const tb_pq_row_group *rg)
{
    tb_thrift_write_struct_begin(w);
    tb_thrift_write_field_begin(w, TB_CT_LIST, 1);
    tb_thrift_write_list_begin(w, TB_CT_STRUCT, rg->n_columns);
    for (uint32_t i = 0; i < rg->n_columns; i++) {
        const tb_pq_column_chunk *cc = &rg->columns[i];
        tb_thrift_write_struct_begin(w);
        if (cc->file_path != NULL)
            tb_thrift_write_field_string(w, 1, cc->file_path);
        tb_thrift_write_field_i64(w, 2, cc->file_offset);
        if (cc->has_meta)
            enc_column_meta(w, &cc->meta);
        if (cc->offset_index_offset >= 0)
            tb_thrift_write_field_i64(w, 4, cc->offset_index_offset);
        if (cc->offset_index_length >= 0)
            tb_thrift_write_field_i32(w, 5, cc->offset_index_length);
        if (cc->column_index_offset >= 0)
            tb_thrift_write_field_i64(w, 6, cc->column_index_offset);
        if (cc->column_index_length >= 0)
            tb_thrift_write_field_i32(w, 7, cc->column_index_length);
        tb_thrift_write_struct_end(w);
    }
    tb_thrift_write_field_i64(w, 2, rg->total_byte_size);
    tb_thrift_write_field_i64(w, 3, rg->num_rows);
    if (rg->n_sorting > 0) {
        tb_thrift_write_field_begin(w, TB_CT_LIST, 4);
        tb_thrift_write_list_begin(w, TB_CT_STRUCT, rg->n_sorting);
        for (uint32_t i = 0; i < rg->n_sorting; i++) {
            tb_thrift_write_struct_begin(w);
            tb_thrift_write_field_i32(w, 1, rg->sorting[i].column_idx);
            tb_thrift_write_field_bool(w, 2, rg->sorting[i].descending);
            tb_thrift_write_field_bool(w, 3, rg->sorting[i].nulls_first);
            tb_thrift_write_struct_end(w);
        }
    }
    if (rg->file_offset >= 0)
        tb_thrift_write_field_i64(w, 5, rg->file_offset);
    if (rg->total_compressed_size >= 0)
        tb_thrift_write_field_i64(w, 6, rg->total_compressed_size);
    if (rg->ordinal >= 0 && rg->ordinal <= INT16_MAX) {
        tb_thrift_write_field_begin(w, TB_CT_I16, 7);
        tb_thrift_write_i16(w, (int16_t)rg->ordinal);
    }
    tb_thrift_write_struct_end(w);
}

static tb_rc enc_result(tb_thrift_writer *w, tb_err *err)
{
    if (w->rc == TB_E_NOMEM)
        return tb_err_nomem(err);
    if (w->rc != TB_OK)
        return TB_ERRF(err, w->rc, "thrift encoding: unbalanced structs");
    return TB_OK;
}

tb_rc tb_pq_encode_file_meta(const tb_pq_file_meta *meta, tb_buf *out, tb_err *err)
{
    tb_thrift_writer w;
    tb_thrift_writer_init(&w, out);
    tb_thrift_write_struct_begin(&w);
    tb_thrift_write_field_i32(&w, 1, meta->version);
    tb_thrift_write_field_begin(&w, TB_CT_LIST, 2);
    tb_thrift_write_list_begin(&w, TB_CT_STRUCT, meta->n_schema);
    for (uint32_t i = 0; i < meta->n_schema; i++)
        enc_schema_element(&w, &meta->schema[i]);
    tb_thrift_write_field_i64(&w, 3, meta->num_rows);
    tb_thrift_write_field_begin(&w, TB_CT_LIST, 4);
    tb_thrift_write_list_begin(&w, TB_CT_STRUCT, meta->n_row_groups);
    for (uint32_t i = 0; i < meta->n_row_groups; i++)
        enc_row_group(&w, &meta->row_groups[i]);
    if (meta->n_kv > 0)
        enc_kv_list(&w, 5, meta->n_kv, meta->kv);
    if (meta->created_by != NULL)
        tb_thrift_write_field_string(&w, 6, meta->created_by);
    if (meta->n_column_orders > 0) {
        tb_thrift_write_field_begin(&w, TB_CT_LIST, 7);
        tb_thrift_write_list_begin(&w, TB_CT_STRUCT, meta->n_column_orders);
        for (uint32_t i = 0; i < meta->n_column_orders; i++) {
            tb_thrift_write_struct_begin(&w);
            enc_empty_struct_field(&w, 1); /* TYPE_ORDER */
            tb_thrift_write_struct_end(&w);
        }
    }
    tb_thrift_write_struct_end(&w);
    return enc_result(&w, err);
}

tb_rc tb_pq_encode_page_header(const tb_pq_page_header *ph, tb_buf *out, tb_err *err)
{
    tb_thrift_writer w;
    tb_thrift_writer_init(&w, out);
    tb_thrift_write_struct_begin(&w);
    tb_thrift_write_field_i32(&w, 1, ph->type);
    tb_thrift_write_field_i32(&w, 2, ph->uncompressed_page_size);
    tb_thrift_write_field_i32(&w, 3, ph->compressed_page_size);
    if (ph->has_crc)
        tb_thrift_write_field_i32(&w, 4, ph->crc);
    if (ph->has_data) {
        const tb_pq_data_page_header *h = &ph->data;
        tb_thrift_write_field_begin(&w, TB_CT_STRUCT, 5);
        tb_thrift_write_struct_begin(&w);
        tb_thrift_write_field_i32(&w, 1, h->num_values);
        tb_thrift_write_field_i32(&w, 2, h->encoding);
        tb_thrift_write_field_i32(&w, 3, h->definition_level_encoding);
        tb_thrift_write_field_i32(&w, 4, h->repetition_level_encoding);
        if (h->has_statistics)
            enc_statistics(&w, 5, &h->statistics);
        tb_thrift_write_struct_end(&w);
    }
    if (ph->has_dict) {
        const tb_pq_dictionary_page_header *h = &ph->dict;
        tb_thrift_write_field_begin(&w, TB_CT_STRUCT, 7);
        tb_thrift_write_struct_begin(&w);
        tb_thrift_write_field_i32(&w, 1, h->num_values);
        tb_thrift_write_field_i32(&w, 2, h->encoding);
        if (h->is_sorted >= 0)
            tb_thrift_write_field_bool(&w, 3, h->is_sorted != 0);
        tb_thrift_write_struct_end(&w);
    }
    if (ph->has_data_v2) {
        const tb_pq_data_page_header_v2 *h = &ph->data_v2;
        tb_thrift_write_field_begin(&w, TB_CT_STRUCT, 8);
        tb_thrift_write_struct_begin(&w);
        tb_thrift_write_field_i32(&w, 1, h->num_values);
        tb_thrift_write_field_i32(&w, 2, h->num_nulls);
        tb_thrift_write_field_i32(&w, 3, h->num_rows);
        tb_thrift_write_field_i32(&w, 4, h->encoding);
        tb_thrift_write_field_i32(&w, 5, h->definition_levels_byte_length);
        tb_thrift_write_field_i32(&w, 6, h->repetition_levels_byte_length);
        tb_thrift_write_field_bool(&w, 7, h->is_compressed);
        if (h->has_statistics)
            enc_statistics(&w, 8, &h->statistics);
        tb_thrift_write_struct_end(&w);
    }
    tb_thrift_write_struct_end(&w);
    return enc_result(&w, err);
}
