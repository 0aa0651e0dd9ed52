/*
 * checkpoint.c - streaming checkpoint directory (see checkpoint.h for the layout and the
 * recovery protocol).
 *
 * Text files (metadata, offsets/N, commits/N) are one JSON document followed by a
 * trailer line "crc32 XXXXXXXX" covering the bytes before it. state/N is binary:
 * "TBSTATE1", u64 payload length, u32 CRC-32 of the payload, payload. Both forms are
 * written with tb_file_write_atomic, so a kill leaves either the old state or the new.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <zlib.h>

#include "stream/checkpoint.h"

/* A checkpoint file is small; a larger one is damage, not data. */
#define MAX_TEXT_FILE (256u << 20)
#define MAX_STATE_FILE (4ull << 30)

struct tb_ckpt {
    char *dir;
    char *id;
    int64_t last_commit;
    int64_t last_offsets;
};

static uint32_t crc(const void *p, size_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    const unsigned char *b = p;
    while (n > 0) {
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, b, chunk);
        b += chunk;
        n -= chunk;
    }
    return (uint32_t)c;
}

static tb_rc path_of(const tb_ckpt *ckpt, const char *kind, int64_t batch, tb_buf *buf)
{
    buf->len = 0;
    if (batch < 0)
        return tb_buf_printf(buf, "%s/%s", ckpt->dir, kind);
    return tb_buf_printf(buf, "%s/%s/%" PRId64, ckpt->dir, kind, batch);
}

/* Write JSON + crc trailer atomically. Steals nothing; json stays the caller's. */
static tb_rc write_json(const char *path, json_t *json, tb_err *err)
{
    char *text = json_dumps(json, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (text == NULL)
        return tb_err_nomem(err);
    tb_buf buf = {0};
    size_t n = strlen(text);
    tb_rc rc = tb_buf_append(&buf, text, n);
    free(text);
    if (rc == TB_OK)
        rc = tb_buf_putc(&buf, '\n');
    if (rc == TB_OK)
        rc = tb_buf_printf(&buf, "crc32 %08x\n", crc(buf.data, n + 1));
    if (rc != TB_OK) {
        tb_buf_free(&buf);
        return tb_err_nomem(err);
    }
    rc = tb_file_write_atomic(path, buf.data, buf.len, err);
    tb_buf_free(&buf);
    return rc;
}

/* Verify the trailer and parse the JSON of a text checkpoint file image. */
static tb_rc parse_json(const char *name, const char *data, size_t len, json_t **out,
                        tb_err *err)
{
    *out = NULL;
    /* Trailer: "\ncrc32 XXXXXXXX\n" = 16 bytes at the end (after the JSON's newline). */
    if (len < 16 || memcmp(data + len - 16, "\ncrc32 ", 7) != 0 || data[len - 1] != '\n')
        return TB_ERRF(err, TB_E_CORRUPT,
                       "checkpoint: %s is damaged (no checksum trailer; torn write?)", name);
    char hex[9];
    memcpy(hex, data + len - 9, 8);
    hex[8] = '\0';
    char *end = NULL;
    unsigned long want = strtoul(hex, &end, 16);
    size_t body = len - 15; /* JSON plus its newline */
    if (end != hex + 8 || (uint32_t)want != crc(data, body))
        return TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s is damaged (checksum mismatch)",
                       name);
    json_error_t jerr;
    json_t *json = json_loadb(data, body, 0, &jerr);
    if (json == NULL || !json_is_object(json)) {
        json_decref(json);
        return TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s: invalid JSON: %s", name,
                       jerr.text);
    }
    *out = json;
    return TB_OK;
}

static tb_rc read_json(const char *path, json_t **out, tb_err *err)
{
    char *data = NULL;
    size_t len = 0;
    tb_rc rc = tb_file_read_all(path, MAX_TEXT_FILE, &data, &len, err);
    if (rc != TB_OK)
        return rc;
    rc = parse_json(path, data, len, out, err);
    tb_free(data);
    return rc;
}

/* Highest numeric file name in DIR/kind, or -1. */
static int64_t scan_max(const char *dir, const char *kind)
{
    tb_buf p = {0};
    int64_t best = -1;
    if (tb_buf_printf(&p, "%s/%s", dir, kind) != TB_OK)
        return -1;
    DIR *d = opendir(p.data);
    tb_buf_free(&p);
    if (d == NULL)
        return -1;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char *end = NULL;
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        long long v = strtoll(de->d_name, &end, 10);
        if (*end == '\0' && v > best)
            best = v;
    }
    closedir(d);
    return best;
}

static void make_id(char *out, size_t cap)
{
    uint64_t a = tb_hash_u64((uint64_t)tb_wall_us() ^ ((uint64_t)getpid() << 32));
    uint64_t b = tb_hash_u64(a ^ (uint64_t)tb_now_ns());
    snprintf(out, cap, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
             (unsigned)((b >> 48) & 0x3fff) | 0x8000,
             (unsigned long long)(b & 0xffffffffffffULL));
}

tb_rc tb_ckpt_open(const char *dir, const char *query, tb_ckpt **out, tb_err *err)
{
    tb_rc rc;
    tb_buf p = {0};
    json_t *meta = NULL;
    tb_ckpt *ckpt = tb_calloc(1, sizeof(*ckpt));
    *out = NULL;
    if (ckpt == NULL || (ckpt->dir = tb_strdup(dir)) == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    static const char *const subdirs[] = {"", "/offsets", "/commits", "/state"};
    for (size_t i = 0; i < 4; i++) {
        p.len = 0;
        if (tb_buf_printf(&p, "%s%s", dir, subdirs[i]) != TB_OK) {
            rc = tb_err_nomem(err);
            goto fail;
        }
        rc = tb_mkdirs(p.data, err);
        if (rc != TB_OK) {
            tb_err_prefix(err, "checkpoint");
            goto fail;
        }
    }
    if (path_of(ckpt, "metadata", -1, &p) != TB_OK) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    if (access(p.data, F_OK) == 0) {
        rc = read_json(p.data, &meta, err);
        if (rc != TB_OK)
            goto fail;
        const char *old_q = json_string_value(json_object_get(meta, "query"));
        const char *id = json_string_value(json_object_get(meta, "id"));
        if (old_q == NULL || id == NULL) {
            rc = TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s lacks query or id", p.data);
            goto fail;
        }
        if (strcmp(old_q, query) != 0) {
            rc = TB_ERRF(err, TB_E_MISUSE,
                         "checkpoint '%s' belongs to a different query; refusing to resume "
                         "(state would not match).\n  checkpoint query: %s\n  this query:       "
                         "%s\nUse a new --checkpoint directory for the changed query.",
                         dir, old_q, query);
            goto fail;
        }
        ckpt->id = tb_strdup(id);
    } else {
        char id[64];
        make_id(id, sizeof(id));
        meta = json_pack("{s:s, s:s, s:I}", "id", id, "query", query, "created_us",
                         (json_int_t)tb_wall_us());
        if (meta == NULL) {
            rc = tb_err_nomem(err);
            goto fail;
        }
        rc = write_json(p.data, meta, err);
        if (rc != TB_OK)
            goto fail;
        ckpt->id = tb_strdup(id);
    }
    if (ckpt->id == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    ckpt->last_commit = scan_max(dir, "commits");
    ckpt->last_offsets = scan_max(dir, "offsets");
    json_decref(meta);
    meta = NULL;
    if (ckpt->last_commit >= 0) {
        /* The commit marker decides what is done: a damaged one is an error, not a
         * silently trusted (or ignored) batch. */
        if (path_of(ckpt, "commits", ckpt->last_commit, &p) != TB_OK) {
            rc = tb_err_nomem(err);
            goto fail;
        }
        rc = read_json(p.data, &meta, err);
        if (rc != TB_OK)
            goto fail;
        json_decref(meta);
    }
    tb_buf_free(&p);
    *out = ckpt;
    return TB_OK;
fail:
    json_decref(meta);
    tb_buf_free(&p);
    tb_ckpt_free(ckpt);
    return rc;
}

void tb_ckpt_free(tb_ckpt *ckpt)
{
    if (ckpt == NULL)
        return;
    tb_free(ckpt->dir);
    tb_free(ckpt->id);
    tb_free(ckpt);
}

const char *tb_ckpt_id(const tb_ckpt *ckpt)
{
    return ckpt->id;
}

int64_t tb_ckpt_last_commit(const tb_ckpt *ckpt)
{
    return ckpt->last_commit;
}

int64_t tb_ckpt_last_offsets(const tb_ckpt *ckpt)
{
    return ckpt->last_offsets;
}

tb_rc tb_ckpt_write_offsets(tb_ckpt *ckpt, const tb_ckpt_offsets *off, tb_err *err)
{
    tb_rc rc = TB_OK;
    tb_buf p = {0};
    json_t *files = json_array();
    json_t *doc = NULL;
    if (files == NULL)
        return tb_err_nomem(err);
    for (size_t i = 0; i < off->files.n; i++) {
        if (json_array_append_new(files, json_string(off->files.items[i])) != 0) {
            json_decref(files);
            return tb_err_nomem(err);
        }
    }
    doc = json_pack("{s:I, s:I, s:o}", "batch", (json_int_t)off->batch, "watermark_us",
                    (json_int_t)off->watermark_us, "files", files);
    if (doc == NULL || path_of(ckpt, "offsets", off->batch, &p) != TB_OK) {
        rc = tb_err_nomem(err);
        goto done;
    }
    rc = write_json(p.data, doc, err);
    if (rc == TB_OK && off->batch > ckpt->last_offsets)
        ckpt->last_offsets = off->batch;
done:
    json_decref(doc);
    tb_buf_free(&p);
    return rc;
}

tb_rc tb_ckpt_parse_offsets(const char *name, const char *data, size_t len,
                            tb_ckpt_offsets *off, tb_err *err)
{
    json_t *doc = NULL;
    tb_rc rc = parse_json(name, data, len, &doc, err);
    if (rc != TB_OK)
        return rc;
    json_t *batch = json_object_get(doc, "batch");
    json_t *wm = json_object_get(doc, "watermark_us");
    json_t *files = json_object_get(doc, "files");
    if (!json_is_integer(batch) || !json_is_integer(wm) || !json_is_array(files)) {
        rc = TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s: missing batch/watermark/files",
                     name);
        goto done;
    }
    off->batch = json_integer_value(batch);
    off->watermark_us = json_integer_value(wm);
    for (size_t i = 0; i < json_array_size(files); i++) {
        const char *f = json_string_value(json_array_get(files, i));
        if (f == NULL) {
            rc = TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s: file %zu is not a string", name,
                         i);
            goto done;
        }
        if (tb_strlist_push(&off->files, f) != TB_OK) {
            rc = tb_err_nomem(err);
            goto done;
        }
    }
done:
    json_decref(doc);
    return rc;
}

tb_rc tb_ckpt_read_offsets(tb_ckpt *ckpt, int64_t batch, tb_ckpt_offsets *off, tb_err *err)
{
    tb_buf p = {0};
    char *data = NULL;
    size_t len = 0;
    if (path_of(ckpt, "offsets", batch, &p) != TB_OK)
        return tb_err_nomem(err);
    if (access(p.data, F_OK) != 0) {
        tb_rc rc = TB_ERRF(err, TB_E_NOTFOUND, "checkpoint: no %s", p.data);
        tb_buf_free(&p);
        return rc;
    }
    tb_rc rc = tb_file_read_all(p.data, MAX_TEXT_FILE, &data, &len, err);
    if (rc == TB_OK)
        rc = tb_ckpt_parse_offsets(p.data, data, len, off, err);
    if (rc == TB_OK && off->batch != batch)
        rc = TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s holds batch %" PRId64, p.data,
                     off->batch);
    tb_free(data);
    tb_buf_free(&p);
    return rc;
}

void tb_ckpt_offsets_clear(tb_ckpt_offsets *off)
{
    tb_strlist_free(&off->files);
    memset(off, 0, sizeof(*off));
}

tb_rc tb_ckpt_write_commit(tb_ckpt *ckpt, int64_t batch, tb_err *err)
{
    tb_buf p = {0};
    json_t *doc = json_pack("{s:I, s:I}", "batch", (json_int_t)batch, "committed_us",
                            (json_int_t)tb_wall_us());
    tb_rc rc;
    if (doc == NULL || path_of(ckpt, "commits", batch, &p) != TB_OK)
        rc = tb_err_nomem(err);
    else
        rc = write_json(p.data, doc, err);
    if (rc == TB_OK && batch > ckpt->last_commit)
        ckpt->last_commit = batch;
    json_decref(doc);
    tb_buf_free(&p);
    return rc;
}

tb_rc tb_ckpt_write_state(tb_ckpt *ckpt, int64_t batch, const void *data, size_t len,
                          tb_err *err)
{
    tb_buf p = {0}, img = {0};
    tb_rc rc = TB_OK;
    uint64_t n = len;
    uint32_t c = crc(data, len);
    if (path_of(ckpt, "state", batch, &p) != TB_OK || tb_buf_append(&img, "TBSTATE1", 8) ||
        tb_buf_append(&img, &n, 8) || tb_buf_append(&img, &c, 4) ||
        tb_buf_append(&img, data, len)) {
        rc = tb_err_nomem(err);
        goto done;
    }
    rc = tb_file_write_atomic(p.data, img.data, img.len, err);
done:
    tb_buf_free(&p);
    tb_buf_free(&img);
    return rc;
}

tb_rc tb_ckpt_read_state(tb_ckpt *ckpt, int64_t batch, char **out_data, size_t *out_len,
                         tb_err *err)
{
    tb_buf p = {0};
    char *img = NULL;
    size_t len = 0;
    *out_data = NULL;
    *out_len = 0;
    if (path_of(ckpt, "state", batch, &p) != TB_OK)
        return tb_err_nomem(err);
    tb_rc rc = tb_file_read_all(p.data, MAX_STATE_FILE, &img, &len, err);
    if (rc != TB_OK)
        goto done;
    uint64_t n;
    uint32_t c;
    if (len < 20 || memcmp(img, "TBSTATE1", 8) != 0) {
        rc = TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s is not a state file", p.data);
        goto done;
    }
    memcpy(&n, img + 8, 8);
    memcpy(&c, img + 16, 4);
    if (n != len - 20 || crc(img + 20, len - 20) != c) {
        rc = TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s is damaged (length or checksum)",
                     p.data);
        goto done;
    }
    *out_data = tb_malloc(len - 20 + 1);
    if (*out_data == NULL) {
        rc = tb_err_nomem(err);
        goto done;
    }
    memcpy(*out_data, img + 20, len - 20);
    *out_len = len - 20;
done:
    tb_free(img);
    tb_buf_free(&p);
    return rc;
}

void tb_ckpt_purge_state(tb_ckpt *ckpt, int64_t keep_from)
{
    tb_buf p = {0};
    /* Walk down from keep_from-1 until a missing file: older ones were purged before. */
    for (int64_t b = keep_from - 1; b >= 0; b--) {
        if (path_of(ckpt, "state", b, &p) != TB_OK)
            break;
        if (unlink(p.data) != 0)
            break;
    }
    tb_buf_free(&p);
}
