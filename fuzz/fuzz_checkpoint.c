/*
 * fuzz_checkpoint.c - the streaming checkpoint readers: records (JSON + optional state +
 * CRC-32 trailer), log segments (framed records, durable marks, torn tails), compact
 * files (JSON lines + trailer), old-layout state files (TBSTATE1 header + CRC) and the
 * aggregate state image they carry (tb_hashagg_deserialize). Any input must give TB_OK
 * or a clear error, never a crash, leak or unbounded allocation.
 *
 * Each input is tried as:
 *   - a log segment and a compact file (tb_ckpt_parse_segment, tb_ckpt_parse_compact);
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
 *     and serialized: that image must load again and serialize to the same bytes;
 *     snapshotted (tb_hashagg_snapshot): the blocks applied to an empty state must give
 *     the same image; its change set applied to an empty state must load;
 *   - an aggregate change set ("TBHC", issue 9): its header gives the query as for an
 *     image; applied to an empty state (tb_hashagg_apply_changes) it gives TB_OK or
 *     TB_E_CORRUPT; a state that took it is emitted and snapshotted;
 *   - a snapshot file (tb_ckpt_parse_snapshot: header "TBSNAP02" with the group count, or
 *     an older "TBSNAP01", CRC-checked records, end record);
 *     an error names the file;
 *   - a query's changelog ("TBCC", tb_cq_changelog_parse) and an aggregate record of a
 *     query snapshot ('A' + change set): their aggregate change set is tried as above.
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
#include "stream/stream_int.h"

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
    int64_t torn = -1;
    tb_err_clear(&err);
    if (tb_ckpt_parse_segment("fuzz", (const char *)data, size, &torn, &err) == TB_OK &&
        torn > (int64_t)size)
        die("segment: torn offset past the end");
    tb_err_clear(&err);
    (void)tb_ckpt_parse_compact("fuzz", (const char *)data, size, NULL, NULL, &err);

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
    uint32_t magic = tb_op_rd_u32(&rd);

    /* a whole image ("TBHA") or a change set ("TBHC"): the same header */
    if ((magic != 0x41484254u && magic != 0x43484254u) || tb_op_rd_u32(&rd) != 1)
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

static tb_rc put_block(void *ud, const void *data, size_t len, tb_err *err)
{
    tb_hashagg *into = ud;
    tb_rc rc = tb_hashagg_apply_changes(into, data, len, err);
    if (rc != TB_OK && rc != TB_E_NOMEM) {
        (void)fprintf(stderr, "%s\n", err->msg);
        die("a snapshot block does not apply");
    }
    return rc;
}

static int cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every group as a text line, sorted, into out (groups may be numbered differently). */
static tb_rc render_all(tb_hashagg *agg, tb_buf *out)
{
    tb_arena *arena = tb_arena_new(0);
    tb_hashagg_iter it;
    tb_buf text = {0};
    char **lines = NULL;
    size_t n = 0, cap = 0;
    tb_err err;
    tb_rc rc = TB_OK;

    if (arena == NULL)
        return TB_E_NOMEM;
    tb_hashagg_iter_init(&it, TB_HASHAGG_ALL, 0, NULL);
    for (;;) {
        tb_batch *b = NULL;
        tb_arena_reset(arena);
        rc = tb_hashagg_next(agg, &it, arena, &b, &err);
        if (rc != TB_OK || b == NULL)
            break;
        for (uint32_t r = 0; r < b->n_rows && rc == TB_OK; r++) {
            text.len = 0;
            for (uint32_t c = 0; c < b->n_cols; c++) {
                tb_value v;
                tb_vec_get(&b->cols[c], r, &v);
                (void)tb_buf_putc(&text, '|');
                if (v.is_null)
                    (void)tb_buf_puts(&text, "NULL");
                else
                    (void)tb_value_format(&v, &text);
            }
            if (n == cap) {
                char **p = realloc(lines, (cap = cap ? cap * 2 : 64) * sizeof(char *));
                if (p == NULL) {
                    rc = TB_E_NOMEM;
                    break;
                }
                lines = p;
            }
            lines[n++] = strdup(tb_buf_cstr(&text) ? tb_buf_cstr(&text) : "");
        }
    }
    if (n > 0)
        qsort(lines, n, sizeof(char *), cmp_line);
    for (size_t i = 0; i < n; i++) {
        if (lines[i] != NULL)
            (void)tb_buf_printf(out, "%s\n", lines[i]);
        free(lines[i]);
    }
    free(lines);
    tb_buf_free(&text);
    tb_arena_free(arena);
    return rc;
}

/* agg -> snapshot blocks -> an empty state: the same groups and aggregates. */
static void snapshot_roundtrip(tb_hashagg *agg, const spec *s)
{
    tb_hashagg *copy = NULL;
    tb_buf a = {0}, b = {0};
    tb_err err;

    if (tb_hashagg_new(s->n_keys, s->keys, s->n_aggs, s->aggs, &copy, &err) != TB_OK)
        goto out;
    if (tb_hashagg_snapshot(agg, put_block, copy, &err) != TB_OK)
        goto out;
    if (tb_hashagg_groups(agg) != tb_hashagg_groups(copy))
        die("a state rebuilt from its snapshot has another group count");
    tb_rc ra = render_all(agg, &a), rb = render_all(copy, &b);
    if (ra == TB_E_NOMEM || rb == TB_E_NOMEM)
        goto out;
    if (ra != rb || a.len != b.len || (a.len > 0 && memcmp(a.data, b.data, a.len) != 0))
        die("a state rebuilt from its snapshot differs");
out:
    tb_hashagg_free(copy);
    tb_buf_free(&a);
    tb_buf_free(&b);
}

/* A change set applied to an empty state of the query its header gives. */
static void try_changes(const uint8_t *data, size_t size, const spec *s, bool may_apply)
{
    tb_hashagg *agg = NULL;
    tb_err err;
    uint64_t all = 0;

    if (tb_hashagg_new(s->n_keys, s->keys, s->n_aggs, s->aggs, &agg, &err) != TB_OK)
        goto out;
    tb_err_clear(&err);
    tb_rc rc = tb_hashagg_apply_changes(agg, data, size, &err);
    if (getenv("TB_FUZZ_VERBOSE") != NULL)
        (void)fprintf(stderr, "changes (%s query): %s\n", may_apply ? "its" : "another",
                      rc == TB_OK ? "applied" : err.msg);
    if (rc != TB_OK) {
        if (err.code != TB_E_CORRUPT && err.code != TB_E_NOMEM)
            die("a bad change set gave another error than TB_E_CORRUPT");
        if (err.msg[0] == '\0')
            die("a bad change set without a message");
        goto out;
    }
    if (!may_apply)
        die("a change set with another query's header was applied");
    if (tb_hashagg_changed_groups(agg) != 0)
        die("applying a change set marked groups changed");
    if (drain(agg, TB_HASHAGG_ALL, NULL, NULL, NULL, &all) == TB_OK &&
        all != tb_hashagg_groups(agg))
        die("emitted rows differ from the group count");
    snapshot_roundtrip(agg, s);
out:
    tb_hashagg_free(agg);
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
    /* a CHANGED pass lists the dirty groups and keeps them; a clear empties the list */
    drain(again, TB_HASHAGG_CHANGED, NULL, NULL, NULL, &n);
    if (n != tb_hashagg_changed_groups(again))
        die("a CHANGED pass and the dirty list differ");
    tb_hashagg_changes_clear(again);
    drain(again, TB_HASHAGG_CHANGED, NULL, NULL, NULL, &n);
    if (n != 0)
        die("a CHANGED pass after a clear found changed groups");
    snapshot_roundtrip(again, s);
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
    /* a query's changelog (cq_state.c): unwrap its aggregate change set */
    if (size >= 4 && memcmp(data, "TBCC", 4) == 0) {
        tb_cq_changelog cl;
        const char *why = NULL;
        if (tb_cq_changelog_parse((const char *)data, size, &cl, &why) != TB_OK) {
            if (why == NULL)
                die("a bad changelog without a reason");
        } else {
            if (cl.agg_len > size || cl.emitted_len > size)
                die("changelog parts past the end");
            data = (const uint8_t *)cl.agg;
            size = cl.agg_len;
        }
    }
    /* a snapshot record of the aggregate ('A' + block, cq_state.c) */
    if (size >= 5 && data[0] == 'A' && memcmp(data + 1, "TBHC", 4) == 0) {
        data++;
        size--;
    }
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
    bool changes = size >= 4 && memcmp(data, "TBHC", 4) == 0;
    if (header_ok)
        (changes ? try_changes : try_image)(data, size, &s, true);
    memset(&f, 0, sizeof(f));
    if (fixed_spec(arena, &f))
        (changes ? try_changes : try_image)(data, size, &f, header_ok && spec_eq(&s, &f));
    tb_arena_free(arena);
}

static tb_rc count_record(void *ud, const char *data, size_t len, tb_err *err)
{
    (void)data;
    (void)len;
    (void)err;
    (*(uint64_t *)ud)++;
    return TB_OK;
}

static void try_snapshot(const uint8_t *data, size_t size)
{
    int64_t batch = -1;
    uint64_t n = 0;
    tb_err err;
    tb_err_clear(&err);
    if (tb_ckpt_parse_snapshot("fuzz", (const char *)data, size, &batch, count_record, &n,
                               &err) != TB_OK &&
        strstr(err.msg, "fuzz") == NULL && err.code != TB_E_NOMEM)
        die("snapshot error not naming the file");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    try_offsets(data, size);
    try_snapshot(data, size);
    try_state_file(data, size);
    try_images(data, size);
    return 0;
}
