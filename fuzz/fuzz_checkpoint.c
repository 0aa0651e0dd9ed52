/*
 * fuzz_checkpoint.c - the streaming checkpoint readers: offsets/commits files (JSON +
 * CRC-32 trailer), state files (TBSTATE1 header + CRC) and the aggregate state image
 * they carry (tb_hashagg_deserialize). Any input must give TB_OK or a clear error, never
 * a crash, leak or unbounded allocation.
 *
 * Each input is tried as:
 *   - an offsets file as is (the trailer check), and with a correct trailer appended
 *     (so the JSON and field checks are reached: a CRC only guards against damage, a
 *     file can still be written by something else);
 *   - a state file: written under DIR/state/0 as is, and wrapped in a correct TBSTATE1
 *     header, then read with tb_ckpt_read_state;
 *   - an aggregate state image: a query state ("TBCQ", version, watermark, image length,
 *     image, as stream.c writes it) is unwrapped; a "TBHA" image's header gives the key
 *     types and aggregates, checked the way the binder would make them (tb_agg_resolve;
 *     a header no query could have is tried against a fixed query instead, which must
 *     reject it). A state that loads is emitted in every mode (all, changed, below a
 *     bound from its first group), evicted below the bound, merged into a fresh state,
 *     and serialized: that image must load again and serialize to the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "exec/exec.h"
#include "exec/op_int.h"
#include "stream/checkpoint.h"

#define MAX_KEYS 16
#define MAX_AGGS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what)
{
    (void)fprintf(stderr, "fuzz_checkpoint: oracle failed: %s\n", what);
    abort();
}

static void try_offsets(const uint8_t *data, size_t size)
{
    tb_err err;
    tb_ckpt_offsets off = {0};
    tb_buf buf = {0};

    tb_err_clear(&err);
    if (tb_ckpt_parse_offsets("fuzz", (const char *)data, size, &off, &err) != TB_OK &&
        strstr(err.msg, "fuzz") == NULL && err.code != TB_E_NOMEM)
        die("offsets error not naming the file");
    tb_ckpt_offsets_clear(&off);

    /* the bytes as the JSON body of a file with a correct trailer */
    if ((size > 0 && tb_buf_append(&buf, data, size) != TB_OK) || tb_buf_putc(&buf, '\n') ||
        tb_buf_printf(&buf, "crc32 %08lx\n", crc32(0L, (const Bytef *)buf.data, (uInt)(size + 1))) != TB_OK)
        goto out;
    tb_err_clear(&err);
    if (tb_ckpt_parse_offsets("fuzz", buf.data, buf.len, &off, &err) != TB_OK &&
        strstr(err.msg, "fuzz") == NULL && err.code != TB_E_NOMEM)
        die("offsets error not naming the file");
    for (size_t i = 0; i < off.files.n; i++)
        if (off.files.items[i] == NULL)
            die("offsets: NULL file name");
    tb_ckpt_offsets_clear(&off);
out:
    tb_buf_free(&buf);
}

/* ---------------------------------------------------------------- state files */

static char *ckpt_dir; /* a checkpoint directory for the whole run */

static void rm_dir(void)
{
    char cmd[256];
    if (ckpt_dir != NULL && snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ckpt_dir) < 200)
        (void)system(cmd);
}

static tb_ckpt *open_ckpt(void)
{
    static tb_ckpt *ckpt;
    static bool tried;
    tb_err err;

    if (tried)
        return ckpt;
    tried = true;
    static char tmpl[64];
    (void)snprintf(tmpl, sizeof(tmpl), "%s/tb-fuzz-ckpt-XXXXXX",
                   access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (mkdtemp(tmpl) == NULL)
        return NULL;
    ckpt_dir = tmpl;
    atexit(rm_dir);
    if (tb_ckpt_open(ckpt_dir, "SELECT fuzz", &ckpt, &err) != TB_OK)
        ckpt = NULL;
    return ckpt; /* kept for the whole run (one per process) */
}

static void try_state_file(const uint8_t *data, size_t size)
{
    tb_ckpt *ckpt = open_ckpt();
    tb_buf path = {0}, img = {0};
    tb_err err;

    if (ckpt == NULL || tb_buf_printf(&path, "%s/state/0", ckpt_dir) != TB_OK)
        goto out;
    uint64_t n = size;
    uint32_t c = (uint32_t)crc32(0L, data, (uInt)size);
    for (int wrap = 0; wrap < 2; wrap++) {
        char *out = NULL;
        size_t len = 0;
        img.len = 0;
        if ((wrap && (tb_buf_append(&img, "TBSTATE1", 8) || tb_buf_append(&img, &n, 8) ||
                      tb_buf_append(&img, &c, 4))) ||
            (size > 0 && tb_buf_append(&img, data, size)))
            goto out;
        tb_err_clear(&err);
        if (tb_file_write_atomic(path.data, img.data != NULL ? img.data : "", img.len, &err) !=
            TB_OK)
            goto out;
        tb_rc rc = tb_ckpt_read_state(ckpt, 0, &out, &len, &err);
        if (rc == TB_OK && (len != size || (size > 0 && memcmp(out, data, size) != 0)))
            die("state file: payload differs");
        if (rc == TB_OK && !wrap && (size < 20 || memcmp(data, "TBSTATE1", 8) != 0))
            die("state file without a header read");
        if (rc != TB_OK && wrap && err.code != TB_E_NOMEM)
            die("a well-formed state file was refused");
        if (rc != TB_OK && strstr(err.msg, "state/0") == NULL && err.code != TB_E_NOMEM)
            die("state error not naming the file");
        tb_free(out);
    }
out:
    tb_buf_free(&path);
    tb_buf_free(&img);
}

/* ---------------------------------------------------------------- aggregate images */

typedef struct spec {
    uint32_t n_keys, n_aggs;
    tb_type keys[MAX_KEYS];
    tb_aggspec aggs[MAX_AGGS];
} spec;

static bool type_ok(tb_type t)
{
    if (t.id == TB_T_DECIMAL)
        return t.precision >= 1 && t.precision <= 38 && t.scale <= t.precision;
    return t.id > TB_T_NULL && t.id < TB_T__COUNT && t.precision == 0 && t.scale == 0;
}

/* The query an image's header describes, if a query could have it. */
static bool spec_from_header(const uint8_t *data, size_t size, tb_arena *arena, spec *s)
{
    static const char *const names[] = {"count", "count", "sum", "avg", "min", "max"};
    tb_op_rd rd = {data, size, 0, false};
    tb_err err;

    if (tb_op_rd_u32(&rd) != 0x41484254u || tb_op_rd_u32(&rd) != 1)
        return false;
    s->n_keys = tb_op_rd_u32(&rd);
    if (s->n_keys > MAX_KEYS)
        return false;
    for (uint32_t k = 0; k < s->n_keys; k++) {
        s->keys[k] = tb_op_type_read(&rd);
        if (!type_ok(s->keys[k]))
            return false;
    }
    s->n_aggs = tb_op_rd_u32(&rd);
    if (s->n_aggs > MAX_AGGS)
        return false;
    for (uint32_t i = 0; i < s->n_aggs; i++) {
        uint8_t kind = tb_op_rd_u8(&rd), distinct = tb_op_rd_u8(&rd);
        tb_type rt = tb_op_type_read(&rd), in = tb_op_type_read(&rd);
        bool star = kind == TB_AGG_COUNT_STAR;
        tb_expr *arg = NULL;
        if (kind > TB_AGG_MAX || distinct > 1 || (star && (distinct || in.id != TB_T_NULL)) ||
            (!star && !type_ok(in)))
            return false;
        if (!star && (arg = tb_expr_col(arena, (int)i, in)) == NULL)
            return false;
        if (tb_agg_resolve(names[kind], star, distinct != 0, arg, 0, &s->aggs[i], &err) !=
                TB_OK ||
            !tb_type_eq(s->aggs[i].type, rt) || s->aggs[i].kind != (tb_agg_kind)kind)
            return false;
    }
    return !rd.bad;
}

/* A fixed query: GROUP BY timestamp, text; sum(int), count(*), min(DISTINCT text). */
static bool fixed_spec(tb_arena *arena, spec *s)
{
    tb_err err;
    tb_expr *a = tb_expr_col(arena, 0, tb_type_make(TB_T_INT32));
    tb_expr *b = tb_expr_col(arena, 1, tb_type_make(TB_T_STRING));
    s->n_keys = 2;
    s->keys[0] = tb_type_make(TB_T_TIMESTAMP);
    s->keys[1] = tb_type_make(TB_T_STRING);
    s->n_aggs = 3;
    return a != NULL && b != NULL &&
           tb_agg_resolve("sum", false, false, a, 0, &s->aggs[0], &err) == TB_OK &&
           tb_agg_resolve("count", true, false, NULL, 0, &s->aggs[1], &err) == TB_OK &&
           tb_agg_resolve("min", false, true, b, 0, &s->aggs[2], &err) == TB_OK;
}

static bool spec_eq(const spec *a, const spec *b)
{
    if (a->n_keys != b->n_keys || a->n_aggs != b->n_aggs)
        return false;
    for (uint32_t k = 0; k < a->n_keys; k++)
        if (!tb_type_eq(a->keys[k], b->keys[k]))
            return false;
    for (uint32_t i = 0; i < a->n_aggs; i++) {
        const tb_aggspec *x = &a->aggs[i], *y = &b->aggs[i];
        if (x->kind != y->kind || x->distinct != y->distinct || !tb_type_eq(x->type, y->type) ||
            (x->arg == NULL) != (y->arg == NULL) ||
            (x->arg != NULL && !tb_type_eq(x->arg->type, y->arg->type)))
            return false;
    }
    return true;
}

/* Drain one emission pass; the first group's key 0 is copied to *bound (if asked). */
static tb_rc drain(tb_hashagg *agg, tb_hashagg_emit mode, const tb_value *bound,
                   tb_value *first, tb_buf *first_str, uint64_t *rows)
{
    tb_arena *arena = tb_arena_new(0);
    tb_hashagg_iter it;
    tb_buf text = {0};
    tb_err err;

    tb_rc rc = TB_OK;
    *rows = 0;
    if (arena == NULL)
        return TB_E_NOMEM;
    tb_err_clear(&err);
    tb_hashagg_iter_init(&it, mode, 0, bound);
    for (;;) {
        tb_batch *b = NULL;
        tb_arena_reset(arena);
        rc = tb_hashagg_next(agg, &it, arena, &b, &err);
        if (rc != TB_OK) {
            /* a value the output type cannot hold (a sum past bigint): a clear error */
            if (err.msg[0] == '\0')
                die("an emission error without a message");
            if (getenv("TB_FUZZ_VERBOSE") != NULL)
                (void)fprintf(stderr, "emit: %s\n", err.msg);
            break;
        }
        if (b == NULL)
            break;
        if (b->n_rows == 0 || b->n_rows > TB_BATCH_CAP)
            die("batch shape");
        for (uint32_t c = 0; c < b->n_cols; c++)
            for (uint32_t r = 0; r < b->n_rows; r++) {
                tb_value v;
                tb_vec_get(&b->cols[c], r, &v);
                text.len = 0;
                if (!v.is_null)
                    (void)tb_value_format(&v, &text);
                if (first != NULL && c == 0 && *rows == 0 && r == 0) {
                    *first = v;
                    if (!v.is_null && v.type.id == TB_T_STRING) {
                        first_str->len = 0;
                        if (tb_buf_append(first_str, v.u.s.ptr, v.u.s.len) != TB_OK)
                            first->is_null = true;
                        first->u.s.ptr = first_str->data;
                    }
                }
            }
        *rows += b->n_rows;
    }
    tb_buf_free(&text);
    tb_arena_free(arena);
    return rc;
}

/* may_load: the image's header is this query's (else loading it must fail) */
static void try_image(const uint8_t *data, size_t size, const spec *s, bool may_load)
{
    tb_hashagg *agg = NULL, *again = NULL, *merged = NULL;
    tb_buf img1 = {0}, img2 = {0}, first_str = {0};
    tb_err err;
    uint64_t all = 0, n = 0;
    tb_value first = {.is_null = true};

    if (tb_hashagg_new(s->n_keys, s->keys, s->n_aggs, s->aggs, &agg, &err) != TB_OK)
        goto out;
    tb_err_clear(&err);
    tb_rc rc = tb_hashagg_deserialize(agg, data, size, &err);
    if (getenv("TB_FUZZ_VERBOSE") != NULL)
        (void)fprintf(stderr, "image (%s query): %s\n", may_load ? "its" : "another",
                      rc == TB_OK ? "loaded" : err.msg);
    if (rc != TB_OK) {
        if (err.code != TB_E_CORRUPT && err.code != TB_E_NOMEM)
            die("a bad image gave another error than TB_E_CORRUPT");
        /* left empty and usable */
        drain(agg, TB_HASHAGG_ALL, NULL, NULL, NULL, &all);
        if (all != (s->n_keys == 0 ? 1u : 0u))
            die("a refused image left groups behind");
        goto out;
    }
    if (!may_load)
        die("an image with another query's header was accepted");
    if (drain(agg, TB_HASHAGG_ALL, NULL, s->n_keys > 0 ? &first : NULL, &first_str, &all) !=
        TB_OK)
        goto out; /* the state does not fit its output types: the query fails cleanly */
    if (all != tb_hashagg_groups(agg))
        die("emitted rows differ from the group count");
    if (tb_hashagg_new(s->n_keys, s->keys, s->n_aggs, s->aggs, &merged, &err) == TB_OK &&
        tb_hashagg_merge(merged, agg, &err) == TB_OK) {
        if (drain(merged, TB_HASHAGG_ALL, NULL, NULL, NULL, &n) == TB_OK && n != all)
            die("a merge into an empty state lost or added groups");
    }
    /* serialize -> deserialize -> serialize: the same bytes */
    if (tb_hashagg_serialize(agg, &img1, &err) != TB_OK ||
        tb_hashagg_new(s->n_keys, s->keys, s->n_aggs, s->aggs, &again, &err) != TB_OK)
        goto out;
    if (tb_hashagg_deserialize(again, img1.data, img1.len, &err) != TB_OK) {
        if (err.code == TB_E_NOMEM)
            goto out;
        (void)fprintf(stderr, "%s\n", err.msg);
        die("a serialized state does not load");
    }
    if (tb_hashagg_serialize(again, &img2, &err) != TB_OK)
        goto out;
    if (img1.len != img2.len || memcmp(img1.data, img2.data, img1.len) != 0)
        die("serialize(deserialize(image)) changed the image");
    drain(again, TB_HASHAGG_CHANGED, NULL, NULL, NULL, &n);
    drain(again, TB_HASHAGG_CHANGED, NULL, NULL, NULL, &n);
    if (n != 0)
        die("a CHANGED pass left changed groups");
    if (s->n_keys > 0) {
        uint64_t below = 0, removed = 0;
        drain(agg, TB_HASHAGG_BELOW, &first, NULL, NULL, &below);
        if (tb_hashagg_evict_below(agg, 0, &first, &removed, &err) == TB_OK) {
            if (removed != below)
                die("evicted groups differ from the BELOW pass");
            if (drain(agg, TB_HASHAGG_ALL, NULL, NULL, NULL, &n) == TB_OK && n != all - removed)
                die("groups after eviction");
        }
    }
out:
    tb_hashagg_free(agg);
    tb_hashagg_free(again);
    tb_hashagg_free(merged);
    tb_buf_free(&img1);
    tb_buf_free(&img2);
    tb_buf_free(&first_str);
}

static void try_images(const uint8_t *data, size_t size)
{
    tb_arena *arena = tb_arena_new(0);
    spec s, f;

    if (arena == NULL)
        return;
    /* a query state (stream.c's cq_state_image): unwrap its aggregate image */
    if (size >= 24 && memcmp(data, "TBCQ", 4) == 0) {
        uint64_t la;
        memcpy(&la, data + 16, 8);
        if (la <= size - 24) {
            data += 24;
            size = (size_t)la;
        }
    }
    memset(&s, 0, sizeof(s));
    bool header_ok = spec_from_header(data, size, arena, &s);
    if (header_ok)
        try_image(data, size, &s, true);
    memset(&f, 0, sizeof(f));
    if (fixed_spec(arena, &f))
        try_image(data, size, &f, header_ok && spec_eq(&s, &f));
    tb_arena_free(arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    try_offsets(data, size);
    try_state_file(data, size);
    try_images(data, size);
    return 0;
}
