/*
 * checkpoint.c - streaming checkpoint directory (see checkpoint.h for the layout and the
 * recovery protocol).
 *
 * Text files (metadata, offsets/N, commits/N, offsets/T.compact) are JSON lines, an
 * optional binary state payload, and a trailer line "crc32 XXXXXXXX" covering the bytes
 * before it. state/N (format 1, read only for old checkpoints and tests) is binary:
 * "TBSTATE1", u64 payload length, u32 CRC-32 of the payload, payload. Every file is
 * written with tb_file_write_atomic (temp file, fsync, rename, fsync of the directory),
 * so a kill leaves either the old file or the new one.
 *
 * Invariants kept for recovery:
 *   - the state of the last commit C lives in exactly the file that committed it
 *     (commits/C, or offsets/C+1 with "commit": C, or format 1 state/C): `anchor`;
 *   - compaction T <= C and T < the last offsets: the anchor (> T, or commits/C) and the
 *     batch that may need a re-run are never deleted; files <= T that a crash left behind
 *     (unlinks are not made durable) are ignored by the readers.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <zlib.h>

#include "stream/checkpoint.h"

/* A checkpoint file holds at most a state image; larger is damage, not data. */
#define MAX_FILE (4ull << 30)

typedef enum anchor_kind { ANCHOR_NONE, ANCHOR_COMMITS, ANCHOR_OFFSETS } anchor_kind;

struct tb_ckpt {
    char *dir;
    char *id;
    int64_t last_commit;
    int64_t last_offsets; /* highest numeric offsets/N above `compact`, or -1 */
    anchor_kind anchor;   /* where the state of last_commit is */
    int64_t compact;      /* batches <= compact are in offsets/<compact>.compact; -1 none */
    uint64_t compact_entries;
    uint64_t n_since;     /* offsets files above `compact` */
    uint64_t bytes_since; /* their bytes */
    /* The batches above `compact` as compact lines (batch, watermark, files), in batch
     * order, so a compaction need not re-read their offsets files (whose states can be
     * large). Valid when mem_ok: filled by tb_ckpt_scan, kept by tb_ckpt_write_offsets. */
    tb_buf mem_lines;
    int64_t *mem_batch; /* per line: batch, and its end offset in mem_lines */
    size_t *mem_end;
    size_t mem_n, mem_cap;
    bool mem_ok;
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

static tb_rc compact_path(const tb_ckpt *ckpt, int64_t through, tb_buf *buf)
{
    buf->len = 0;
    return tb_buf_printf(buf, "%s/offsets/%" PRId64 ".compact", ckpt->dir, through);
}

/* Append one JSON value as a line. */
static tb_rc put_json_line(tb_buf *buf, json_t *json)
{
    char *text = json_dumps(json, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (text == NULL)
        return TB_E_NOMEM;
    tb_rc rc = tb_buf_append(buf, text, strlen(text));
    free(text);
    if (rc == TB_OK)
        rc = tb_buf_putc(buf, '\n');
    return rc;
}

/* Append the trailer covering buf's bytes so far. */
static tb_rc put_trailer(tb_buf *buf)
{
    return tb_buf_printf(buf, "crc32 %08x\n", crc(buf->data, buf->len));
}

/*
 * Write JSON (+ state payload) + trailer atomically. With a payload, "state_bytes" is
 * added to json (the caller's).
 */
static tb_rc write_record(const char *path, json_t *json, const void *payload, size_t plen,
                          bool has_payload, tb_err *err)
{
    tb_buf buf = {0};
    tb_rc rc = TB_OK;
    if (has_payload &&
        json_object_set_new(json, "state_bytes", json_integer((json_int_t)plen)) != 0)
        return tb_err_nomem(err);
    if (put_json_line(&buf, json) != TB_OK ||
        (has_payload && (tb_buf_append(&buf, payload, plen) != TB_OK ||
                         tb_buf_putc(&buf, '\n') != TB_OK)) ||
        put_trailer(&buf) != TB_OK) {
        tb_buf_free(&buf);
        return tb_err_nomem(err);
    }
    rc = tb_file_write_atomic(path, buf.data, buf.len, err);
    tb_buf_free(&buf);
    return rc;
}

/* Verify the trailer; *out_body gets the bytes it covers. */
static tb_rc check_trailer(const char *name, const char *data, size_t len, size_t *out_body,
                           tb_err *err)
{
    /* Trailer: "\ncrc32 XXXXXXXX\n" = 16 bytes at the end (after the last line's newline). */
    if (len < 16 || memcmp(data + len - 16, "\ncrc32 ", 7) != 0 || data[len - 1] != '\n')
        return TB_ERRF(err, TB_E_CORRUPT,
                       "checkpoint: %s is damaged (no checksum trailer; torn write?)", name);
    char hex[9];
    memcpy(hex, data + len - 9, 8);
    hex[8] = '\0';
    char *end = NULL;
    unsigned long want = strtoul(hex, &end, 16);
    size_t body = len - 15; /* up to and including the last line's newline */
    if (end != hex + 8 || (uint32_t)want != crc(data, body))
        return TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s is damaged (checksum mismatch)",
                       name);
    *out_body = body;
    return TB_OK;
}

/*
 * Verify and parse a record image: the JSON object of its first line, and the state
 * payload when the JSON has "state_bytes" (*out_payload points into data; NULL when
 * there is none).
 */
static tb_rc parse_record(const char *name, const char *data, size_t len, json_t **out,
                          const char **out_payload, size_t *out_plen, tb_err *err)
{
    size_t body = 0;
    *out = NULL;
    *out_payload = NULL;
    *out_plen = 0;
    tb_rc rc = check_trailer(name, data, len, &body, err);
    if (rc != TB_OK)
        return rc;
    const char *nl = memchr(data, '\n', body);
    size_t hlen = nl != NULL ? (size_t)(nl - data) : body;
    json_error_t jerr;
    json_t *json = json_loadb(data, hlen, 0, &jerr);
    if (json == NULL || !json_is_object(json)) {
        json_decref(json);
        return TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s: invalid JSON: %s", name,
                       json == NULL ? jerr.text : "not an object");
    }
    json_t *sb = json_object_get(json, "state_bytes");
    if (sb == NULL) {
        if (hlen + 1 != body) {
            json_decref(json);
            return TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s: bytes after the record", name);
        }
    } else {
        json_int_t plen = json_is_integer(sb) ? json_integer_value(sb) : -1;
        /* header, '\n', payload, '\n' make the body */
        if (plen < 0 || (uint64_t)plen > body || hlen + 2 + (size_t)plen != body) {
            json_decref(json);
            return TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s: bad state length", name);
        }
        *out_payload = data + hlen + 1;
        *out_plen = (size_t)plen;
    }
    *out = json;
    return TB_OK;
}

static tb_rc read_record(const char *path, json_t **out, char **out_data,
                         const char **out_payload, size_t *out_plen, tb_err *err)
{
    char *data = NULL;
    size_t len = 0;
    *out_data = NULL;
    tb_rc rc = tb_file_read_all(path, MAX_FILE, &data, &len, err);
    if (rc != TB_OK)
        return rc;
    rc = parse_record(path, data, len, out, out_payload, out_plen, err);
    if (rc != TB_OK) {
        tb_free(data);
        return rc;
    }
    *out_data = data;
    return TB_OK;
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

/*
 * The offsets directory: the newest compact file, then the numeric files above it (the
 * highest, their count and bytes).
 */
static void scan_offsets(tb_ckpt *ckpt)
{
    tb_buf p = {0};
    ckpt->compact = -1;
    ckpt->last_offsets = -1;
    ckpt->n_since = 0;
    ckpt->bytes_since = 0;
    if (tb_buf_printf(&p, "%s/offsets", ckpt->dir) != TB_OK)
        return;
    DIR *d = opendir(p.data);
    if (d == NULL) {
        tb_buf_free(&p);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char *end = NULL;
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        long long v = strtoll(de->d_name, &end, 10);
        if (strcmp(end, ".compact") == 0 && v > ckpt->compact)
            ckpt->compact = v;
    }
    rewinddir(d);
    while ((de = readdir(d)) != NULL) {
        char *end = NULL;
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        long long v = strtoll(de->d_name, &end, 10);
        if (*end != '\0' || v <= ckpt->compact)
            continue;
        if (v > ckpt->last_offsets)
            ckpt->last_offsets = v;
        ckpt->n_since++;
        struct stat sb;
        size_t keep = p.len;
        if (tb_buf_printf(&p, "/%s", de->d_name) == TB_OK && stat(p.data, &sb) == 0)
            ckpt->bytes_since += (uint64_t)sb.st_size;
        p.len = keep;
        p.data[keep] = '\0';
    }
    closedir(d);
    tb_buf_free(&p);
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

static void mem_reset(tb_ckpt *ckpt, bool ok)
{
    ckpt->mem_lines.len = 0;
    ckpt->mem_n = 0;
    ckpt->mem_ok = ok;
}

/* Find the last commit and the file holding its state; check that file. */
static tb_rc find_last_commit(tb_ckpt *ckpt, tb_err *err)
{
    tb_buf p = {0};
    tb_rc rc = TB_OK;
    int64_t k = scan_max(ckpt->dir, "commits");
    bool off_commit = false;
    ckpt->last_commit = -1;
    ckpt->anchor = ANCHOR_NONE;
    if (ckpt->last_offsets >= 0) {
        /* The newest offsets file is read whole: it may commit the batch before it, and
         * it is the batch a restart re-runs, so damage is reported now. */
        tb_ckpt_offsets off = {0};
        rc = tb_ckpt_read_offsets(ckpt, ckpt->last_offsets, &off, err);
        off_commit = rc == TB_OK && off.has_commit;
        tb_ckpt_offsets_clear(&off);
        if (rc != TB_OK)
            return rc;
    }
    if (off_commit && ckpt->last_offsets - 1 > k) {
        ckpt->last_commit = ckpt->last_offsets - 1;
        ckpt->anchor = ANCHOR_OFFSETS;
    } else if (k >= 0) {
        /* The commit marker decides what is done: a damaged one is an error, not a
         * silently trusted (or ignored) batch. */
        json_t *doc = NULL;
        char *data = NULL;
        const char *payload = NULL;
        size_t plen = 0;
        if (path_of(ckpt, "commits", k, &p) != TB_OK) {
            rc = tb_err_nomem(err);
            goto done;
        }
        rc = read_record(p.data, &doc, &data, &payload, &plen, err);
        json_decref(doc);
        tb_free(data);
        if (rc != TB_OK)
            goto done;
        ckpt->last_commit = k;
        ckpt->anchor = ANCHOR_COMMITS;
    }
    if (ckpt->compact > ckpt->last_commit)
        /* compaction only covers committed batches and keeps the file of the last commit */
        rc = TB_ERRF(err, TB_E_CORRUPT,
                     "checkpoint: %s: the commit of batch %" PRId64 " or later is missing "
                     "(offsets/%" PRId64 ".compact covers it)",
                     ckpt->dir, ckpt->compact, ckpt->compact);
done:
    tb_buf_free(&p);
    return rc;
}

tb_rc tb_ckpt_open(const char *dir, const char *query, tb_ckpt **out, tb_err *err)
{
    tb_rc rc;
    tb_buf p = {0};
    json_t *meta = NULL;
    char *data = NULL;
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
        const char *payload = NULL;
        size_t plen = 0;
        rc = read_record(p.data, &meta, &data, &payload, &plen, err);
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
        rc = write_record(p.data, meta, NULL, 0, false, err);
        if (rc != TB_OK)
            goto fail;
        ckpt->id = tb_strdup(id);
    }
    if (ckpt->id == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    json_decref(meta);
    meta = NULL;
    scan_offsets(ckpt);
    mem_reset(ckpt, ckpt->n_since == 0); /* else tb_ckpt_scan fills it */
    rc = find_last_commit(ckpt, err);
    if (rc != TB_OK)
        goto fail;
    tb_free(data);
    tb_buf_free(&p);
    *out = ckpt;
    return TB_OK;
fail:
    json_decref(meta);
    tb_free(data);
    tb_buf_free(&p);
    tb_ckpt_free(ckpt);
    return rc;
}

void tb_ckpt_free(tb_ckpt *ckpt)
{
    if (ckpt == NULL)
        return;
    tb_buf_free(&ckpt->mem_lines);
    tb_free(ckpt->mem_batch);
    tb_free(ckpt->mem_end);
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
    return ckpt->last_offsets > ckpt->compact ? ckpt->last_offsets : ckpt->compact;
}

/* {"batch", "watermark_us", "files"} of an offsets record (a new reference). */
static json_t *offsets_json(const tb_ckpt_offsets *off)
{
    json_t *files = json_array();
    if (files == NULL)
        return NULL;
    for (size_t i = 0; i < off->files.n; i++) {
        if (json_array_append_new(files, json_string(off->files.items[i])) != 0) {
            json_decref(files);
            return NULL;
        }
    }
    return json_pack("{s:I, s:I, s:o}", "batch", (json_int_t)off->batch, "watermark_us",
                     (json_int_t)off->watermark_us, "files", files);
}

/* Keep off's compact line in memory (or give up keeping them: compaction re-reads). */
static void mem_add(tb_ckpt *ckpt, const tb_ckpt_offsets *off)
{
    if (!ckpt->mem_ok)
        return;
    if (ckpt->mem_n > 0 && ckpt->mem_batch[ckpt->mem_n - 1] >= off->batch) {
        ckpt->mem_ok = false; /* not in batch order: never in practice */
        return;
    }
    size_t cap = ckpt->mem_cap;
    json_t *doc = offsets_json(off);
    if (doc == NULL || tb_grow((void **)&ckpt->mem_batch, &cap, ckpt->mem_n + 1,
                               sizeof(int64_t)) != TB_OK ||
        tb_grow((void **)&ckpt->mem_end, &ckpt->mem_cap, ckpt->mem_n + 1, sizeof(size_t)) !=
            TB_OK ||
        put_json_line(&ckpt->mem_lines, doc) != TB_OK) {
        json_decref(doc);
        ckpt->mem_ok = false;
        return;
    }
    json_decref(doc);
    ckpt->mem_batch[ckpt->mem_n] = off->batch;
    ckpt->mem_end[ckpt->mem_n] = ckpt->mem_lines.len;
    ckpt->mem_n++;
}

tb_rc tb_ckpt_write_offsets(tb_ckpt *ckpt, const tb_ckpt_offsets *off, tb_err *err)
{
    tb_rc rc = TB_OK;
    tb_buf p = {0};
    json_t *doc = offsets_json(off);
    if (doc == NULL || path_of(ckpt, "offsets", off->batch, &p) != TB_OK ||
        (off->has_commit &&
         (json_object_set_new(doc, "commit", json_integer((json_int_t)(off->batch - 1))) != 0 ||
          json_object_set_new(doc, "committed_us", json_integer((json_int_t)tb_wall_us())) !=
              0))) {
        rc = tb_err_nomem(err);
        goto done;
    }
    rc = write_record(p.data, doc, off->state, off->state_len, off->has_commit, err);
    if (rc != TB_OK)
        goto done;
    mem_add(ckpt, off);
    if (off->batch > ckpt->last_offsets) {
        ckpt->n_since++;
        ckpt->last_offsets = off->batch;
    }
    ckpt->bytes_since += off->state_len + 64 * (off->files.n + 1);
    if (off->has_commit && off->batch - 1 >= ckpt->last_commit) {
        ckpt->last_commit = off->batch - 1;
        ckpt->anchor = ANCHOR_OFFSETS;
    }
done:
    json_decref(doc);
    tb_buf_free(&p);
    return rc;
}

/* Fill off from a parsed offsets record. keep_state: copy the payload into off->state. */
static tb_rc offsets_from(const char *name, json_t *doc, const char *payload, size_t plen,
                          bool keep_state, tb_ckpt_offsets *off, tb_err *err)
{
    json_t *batch = json_object_get(doc, "batch");
    json_t *wm = json_object_get(doc, "watermark_us");
    json_t *files = json_object_get(doc, "files");
    json_t *commit = json_object_get(doc, "commit");
    if (!json_is_integer(batch) || !json_is_integer(wm) || !json_is_array(files))
        return TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s: missing batch/watermark/files",
                       name);
    off->batch = json_integer_value(batch);
    off->watermark_us = json_integer_value(wm);
    if (commit != NULL) {
        if (!json_is_integer(commit) || json_integer_value(commit) != off->batch - 1 ||
            payload == NULL)
            return TB_ERRF(err, TB_E_CORRUPT,
                           "checkpoint: %s: the commit it carries is not of the batch before "
                           "it, or has no state",
                           name);
        off->has_commit = true;
        if (keep_state) {
            off->state = tb_malloc(plen + 1);
            if (off->state == NULL)
                return tb_err_nomem(err);
            memcpy(off->state, payload, plen);
            off->state_len = plen;
        }
    }
    for (size_t i = 0; i < json_array_size(files); i++) {
        const char *f = json_string_value(json_array_get(files, i));
        if (f == NULL)
            return TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s: file %zu is not a string", name,
                           i);
        if (tb_strlist_push(&off->files, f) != TB_OK)
            return tb_err_nomem(err);
    }
    return TB_OK;
}

tb_rc tb_ckpt_parse_offsets(const char *name, const char *data, size_t len,
                            tb_ckpt_offsets *off, tb_err *err)
{
    json_t *doc = NULL;
    const char *payload = NULL;
    size_t plen = 0;
    tb_rc rc = parse_record(name, data, len, &doc, &payload, &plen, err);
    if (rc != TB_OK)
        return rc;
    rc = offsets_from(name, doc, payload, plen, true, off, err);
    json_decref(doc);
    return rc;
}

static tb_rc read_offsets(tb_ckpt *ckpt, int64_t batch, bool keep_state, tb_ckpt_offsets *off,
                          tb_err *err)
{
    tb_buf p = {0};
    json_t *doc = NULL;
    char *data = NULL;
    const char *payload = NULL;
    size_t plen = 0;
    if (path_of(ckpt, "offsets", batch, &p) != TB_OK)
        return tb_err_nomem(err);
    tb_rc rc = read_record(p.data, &doc, &data, &payload, &plen, err);
    if (rc == TB_E_NOTFOUND) {
        rc = TB_ERRF(err, TB_E_NOTFOUND, "checkpoint: no %s", p.data);
        goto done;
    }
    if (rc == TB_OK)
        rc = offsets_from(p.data, doc, payload, plen, keep_state, off, err);
    if (rc == TB_OK && off->batch != batch)
        rc = TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s holds batch %" PRId64, p.data,
                     off->batch);
done:
    json_decref(doc);
    tb_free(data);
    tb_buf_free(&p);
    return rc;
}

tb_rc tb_ckpt_read_offsets(tb_ckpt *ckpt, int64_t batch, tb_ckpt_offsets *off, tb_err *err)
{
    return read_offsets(ckpt, batch, true, off, err);
}

void tb_ckpt_offsets_clear(tb_ckpt_offsets *off)
{
    tb_strlist_free(&off->files);
    tb_free(off->state);
    memset(off, 0, sizeof(*off));
}

tb_rc tb_ckpt_write_commit_state(tb_ckpt *ckpt, int64_t batch, const void *state, size_t len,
                                 tb_err *err)
{
    tb_buf p = {0};
    json_t *doc = json_pack("{s:I, s:I}", "batch", (json_int_t)batch, "committed_us",
                            (json_int_t)tb_wall_us());
    tb_rc rc;
    if (doc == NULL || path_of(ckpt, "commits", batch, &p) != TB_OK)
        rc = tb_err_nomem(err);
    else
        rc = write_record(p.data, doc, state, len, true, err);
    if (rc == TB_OK && batch >= ckpt->last_commit) {
        ckpt->last_commit = batch;
        ckpt->anchor = ANCHOR_COMMITS;
    }
    json_decref(doc);
    tb_buf_free(&p);
    return rc;
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
        rc = write_record(p.data, doc, NULL, 0, false, err);
    if (rc == TB_OK && batch >= ckpt->last_commit) {
        ckpt->last_commit = batch;
        ckpt->anchor = ANCHOR_COMMITS;
    }
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

/* Format 1 state/N. */
static tb_rc read_state_file(tb_ckpt *ckpt, int64_t batch, char **out_data, size_t *out_len,
                             tb_err *err)
{
    tb_buf p = {0};
    char *img = NULL;
    size_t len = 0;
    if (path_of(ckpt, "state", batch, &p) != TB_OK)
        return tb_err_nomem(err);
    tb_rc rc = tb_file_read_all(p.data, MAX_FILE, &img, &len, err);
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

tb_rc tb_ckpt_read_state(tb_ckpt *ckpt, int64_t batch, char **out_data, size_t *out_len,
                         tb_err *err)
{
    tb_buf p = {0};
    json_t *doc = NULL;
    char *data = NULL;
    const char *payload = NULL;
    size_t plen = 0;
    tb_rc rc;
    *out_data = NULL;
    *out_len = 0;
    /* 1. commits/N with a state (format 2) */
    if (path_of(ckpt, "commits", batch, &p) != TB_OK)
        return tb_err_nomem(err);
    rc = read_record(p.data, &doc, &data, &payload, &plen, err);
    if (rc == TB_OK && payload == NULL) {
        /* format 1 commit: the state is in state/N */
        json_decref(doc);
        tb_free(data);
        tb_buf_free(&p);
        return read_state_file(ckpt, batch, out_data, out_len, err);
    }
    if (rc == TB_E_NOTFOUND) {
        /* 2. offsets/N+1 carrying the commit of N */
        tb_err_clear(err);
        if (path_of(ckpt, "offsets", batch + 1, &p) != TB_OK) {
            rc = tb_err_nomem(err);
            goto done;
        }
        rc = read_record(p.data, &doc, &data, &payload, &plen, err);
        if (rc == TB_OK) {
            json_t *c = json_object_get(doc, "commit");
            if (!json_is_integer(c) || json_integer_value(c) != batch || payload == NULL)
                rc = TB_E_NOTFOUND;
        }
        if (rc == TB_E_NOTFOUND) {
            /* 3. format 1 state/N alone */
            tb_err_clear(err);
            rc = read_state_file(ckpt, batch, out_data, out_len, err);
            if (rc == TB_E_NOTFOUND)
                rc = TB_ERRF(err, TB_E_NOTFOUND,
                             "checkpoint: %s: no state for committed batch %" PRId64
                             " (commits/%" PRId64 ", offsets/%" PRId64 " and state/%" PRId64
                             " are missing)",
                             ckpt->dir, batch, batch, batch + 1, batch);
            goto done;
        }
    }
    if (rc != TB_OK)
        goto done;
    *out_data = tb_malloc(plen + 1);
    if (*out_data == NULL) {
        rc = tb_err_nomem(err);
        goto done;
    }
    memcpy(*out_data, payload, plen);
    *out_len = plen;
done:
    json_decref(doc);
    tb_free(data);
    tb_buf_free(&p);
    return rc;
}

/* ---------------------------------------------------------------- compaction */

tb_rc tb_ckpt_parse_compact(const char *name, const char *data, size_t len,
                            tb_ckpt_scan_fn fn, void *ud, tb_err *err)
{
    size_t body = 0;
    tb_rc rc = check_trailer(name, data, len, &body, err);
    if (rc != TB_OK)
        return rc;
    size_t pos = 0;
    uint64_t n_lines = 0;
    int64_t expect = -1, through = -1, prev = -1;
    while (pos < body && rc == TB_OK) {
        const char *nl = memchr(data + pos, '\n', body - pos);
        size_t ll = nl != NULL ? (size_t)(nl - (data + pos)) : body - pos;
        json_error_t jerr;
        json_t *doc = json_loadb(data + pos, ll, 0, &jerr);
        if (doc == NULL || !json_is_object(doc)) {
            rc = TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s: line %" PRIu64 ": invalid JSON",
                         name, n_lines + 1);
        } else if (n_lines == 0) {
            json_t *t = json_object_get(doc, "compact_through");
            json_t *n = json_object_get(doc, "batches");
            if (!json_is_integer(t) || !json_is_integer(n) || json_integer_value(n) < 0)
                rc = TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s: bad header", name);
            else {
                through = json_integer_value(t);
                expect = json_integer_value(n);
            }
        } else {
            tb_ckpt_offsets off = {0};
            rc = offsets_from(name, doc, NULL, 0, false, &off, err);
            if (rc == TB_OK && (off.batch <= prev || off.batch > through || off.has_commit))
                rc = TB_ERRF(err, TB_E_CORRUPT,
                             "checkpoint: %s: line %" PRIu64 ": batch %" PRId64 " out of order",
                             name, n_lines + 1, off.batch);
            prev = off.batch;
            if (rc == TB_OK && fn != NULL)
                rc = fn(ud, &off, err);
            tb_ckpt_offsets_clear(&off);
        }
        json_decref(doc);
        n_lines++;
        pos += ll + 1;
    }
    if (rc == TB_OK && (n_lines == 0 || (int64_t)(n_lines - 1) != expect))
        rc = TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s: %" PRIu64 " batches, header says %" PRId64,
                     name, n_lines ? n_lines - 1 : 0, expect);
    return rc;
}

typedef struct compact_ctx {
    tb_buf *out;
    uint64_t n;
} compact_ctx;

static tb_rc compact_put(void *ud, const tb_ckpt_offsets *off, tb_err *err)
{
    compact_ctx *c = ud;
    json_t *doc = offsets_json(off);
    if (doc == NULL || put_json_line(c->out, doc) != TB_OK) {
        json_decref(doc);
        return tb_err_nomem(err);
    }
    json_decref(doc);
    c->n++;
    return TB_OK;
}

/* Call fn for each batch of offsets/<compact>.compact; *out_n (may be NULL) gets their
 * count. */
static tb_rc scan_compact(tb_ckpt *ckpt, tb_ckpt_scan_fn fn, void *ud, uint64_t *out_n,
                          tb_err *err)
{
    tb_buf p = {0};
    char *data = NULL;
    size_t len = 0;
    if (compact_path(ckpt, ckpt->compact, &p) != TB_OK)
        return tb_err_nomem(err);
    tb_rc rc = tb_file_read_all(p.data, MAX_FILE, &data, &len, err);
    if (rc == TB_OK)
        rc = tb_ckpt_parse_compact(p.data, data, len, fn, ud, err);
    if (rc == TB_OK && out_n != NULL) {
        /* the header's count (the parse checked it against the lines) */
        const char *nl = memchr(data, '\n', len);
        json_t *h = nl != NULL ? json_loadb(data, (size_t)(nl - data), 0, NULL) : NULL;
        *out_n = (uint64_t)json_integer_value(json_object_get(h, "batches"));
        json_decref(h);
    }
    tb_free(data);
    tb_buf_free(&p);
    return rc;
}

/* offsets/b for compact < b <= upto (missing ones skipped), without their states. */
static tb_rc scan_files(tb_ckpt *ckpt, int64_t upto, tb_ckpt_scan_fn fn, void *ud, tb_err *err)
{
    tb_rc rc = TB_OK;
    for (int64_t b = ckpt->compact + 1; b <= upto && rc == TB_OK; b++) {
        tb_ckpt_offsets off = {0};
        rc = read_offsets(ckpt, b, false, &off, err);
        if (rc == TB_E_NOTFOUND) {
            tb_err_clear(err);
            rc = TB_OK;
        } else if (rc == TB_OK) {
            rc = fn(ud, &off, err);
        }
        tb_ckpt_offsets_clear(&off);
    }
    return rc;
}

typedef struct scan_mem {
    tb_ckpt *ckpt;
    tb_ckpt_scan_fn fn;
    void *ud;
} scan_mem;

static tb_rc scan_mem_fn(void *ud, const tb_ckpt_offsets *off, tb_err *err)
{
    scan_mem *m = ud;
    mem_add(m->ckpt, off);
    return m->fn(m->ud, off, err);
}

tb_rc tb_ckpt_scan(tb_ckpt *ckpt, tb_ckpt_scan_fn fn, void *ud, tb_err *err)
{
    tb_rc rc = TB_OK;
    if (ckpt->compact >= 0)
        rc = scan_compact(ckpt, fn, ud, &ckpt->compact_entries, err);
    mem_reset(ckpt, true);
    scan_mem m = {ckpt, fn, ud};
    if (rc == TB_OK)
        rc = scan_files(ckpt, ckpt->last_offsets, scan_mem_fn, &m, err);
    if (rc != TB_OK)
        mem_reset(ckpt, false);
    return rc;
}

/* Delete numeric files <= upto of DIR/kind, except `keep`, and (offsets) compacts < upto. */
static void purge(tb_ckpt *ckpt, const char *kind, int64_t upto, int64_t keep)
{
    tb_buf p = {0};
    if (tb_buf_printf(&p, "%s/%s", ckpt->dir, kind) != TB_OK)
        return;
    DIR *d = opendir(p.data);
    if (d == NULL) {
        tb_buf_free(&p);
        return;
    }
    size_t base = p.len;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char *end = NULL;
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        long long v = strtoll(de->d_name, &end, 10);
        bool numeric = *end == '\0';
        bool old_compact = strcmp(end, ".compact") == 0 && v < upto;
        if (!(numeric && v <= upto && v != keep) && !old_compact)
            continue;
        p.len = base;
        if (tb_buf_printf(&p, "/%s", de->d_name) == TB_OK)
            (void)unlink(p.data); /* a leftover is ignored by readers; no fsync needed */
    }
    closedir(d);
    tb_buf_free(&p);
}

tb_rc tb_ckpt_compact(tb_ckpt *ckpt, tb_err *err)
{
    int64_t through = ckpt->last_commit;
    if (ckpt->last_offsets - 1 < through)
        through = ckpt->last_offsets - 1;
    if (through <= ckpt->compact)
        return TB_OK;
    tb_buf out = {0}, lines = {0}, p = {0};
    compact_ctx c = {&lines, 0};
    tb_rc rc = TB_OK;
    size_t n_mem = 0; /* lines of mem_lines that go into the compact */
    if (ckpt->compact >= 0)
        rc = scan_compact(ckpt, compact_put, &c, NULL, err);
    if (rc == TB_OK && ckpt->mem_ok) {
        while (n_mem < ckpt->mem_n && ckpt->mem_batch[n_mem] <= through)
            n_mem++;
        size_t bytes = n_mem > 0 ? ckpt->mem_end[n_mem - 1] : 0;
        if (tb_buf_append(&lines, ckpt->mem_lines.data, bytes) != TB_OK)
            rc = tb_err_nomem(err);
        c.n += n_mem;
    } else if (rc == TB_OK) {
        rc = scan_files(ckpt, through, compact_put, &c, err);
    }
    if (rc != TB_OK)
        goto done;
    json_t *h = json_pack("{s:I, s:I}", "compact_through", (json_int_t)through, "batches",
                          (json_int_t)c.n);
    if (h == NULL || put_json_line(&out, h) != TB_OK ||
        tb_buf_append(&out, lines.data, lines.len) != TB_OK || put_trailer(&out) != TB_OK ||
        compact_path(ckpt, through, &p) != TB_OK) {
        json_decref(h);
        rc = tb_err_nomem(err);
        goto done;
    }
    json_decref(h);
    rc = tb_file_write_atomic(p.data, out.data, out.len, err);
    if (rc != TB_OK)
        goto done;
    /* Point of no return: the compact is durable; what it covers can go. The anchor is
     * kept: offsets/C+1 is above `through`, commits/C and state/C are spared. */
    int64_t keep = ckpt->anchor == ANCHOR_COMMITS ? ckpt->last_commit : -1;
    purge(ckpt, "offsets", through, -1);
    purge(ckpt, "commits", through, keep);
    purge(ckpt, "state", through, keep);
    ckpt->compact = through;
    ckpt->compact_entries = c.n;
    if (ckpt->mem_ok && n_mem > 0) { /* drop the compacted lines */
        size_t cut = ckpt->mem_end[n_mem - 1];
        memmove(ckpt->mem_lines.data, ckpt->mem_lines.data + cut, ckpt->mem_lines.len - cut);
        ckpt->mem_lines.len -= cut;
        for (size_t i = n_mem; i < ckpt->mem_n; i++) {
            ckpt->mem_batch[i - n_mem] = ckpt->mem_batch[i];
            ckpt->mem_end[i - n_mem] = ckpt->mem_end[i] - cut;
        }
        ckpt->mem_n -= n_mem;
    }
    scan_offsets(ckpt); /* the files above it: count and bytes */
done:
    tb_buf_free(&out);
    tb_buf_free(&lines);
    tb_buf_free(&p);
    return rc;
}

tb_rc tb_ckpt_maybe_compact(tb_ckpt *ckpt, bool *out_done, tb_err *err)
{
    uint64_t min = TB_CKPT_COMPACT_MIN_BATCHES;
    if (ckpt->compact_entries / 2 > min)
        min = ckpt->compact_entries / 2;
    if (out_done != NULL)
        *out_done = false;
    if (ckpt->n_since < min && ckpt->bytes_since < TB_CKPT_COMPACT_BYTES)
        return TB_OK;
    int64_t before = ckpt->compact;
    tb_rc rc = tb_ckpt_compact(ckpt, err);
    if (out_done != NULL)
        *out_done = rc == TB_OK && ckpt->compact != before;
    return rc;
}
