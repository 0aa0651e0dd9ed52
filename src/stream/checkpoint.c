/*
 * checkpoint.c - streaming checkpoint directory (see checkpoint.h for the layout, the
 * record format and the recovery protocol).
 *
 * In memory: the live log segments (sequence, size, highest batch), an index of the log's
 * records (batch, the batch it commits, segment, offset) and, for the offsets records
 * above the compaction, their compact lines (batch, watermark, files), so that a
 * compaction writes the compact file without re-reading records whose states can be
 * large. The log is read whole by open(); afterwards only appended to.
 *
 * Invariants kept for recovery:
 *   - a record is appended with one pwrite and made durable (fdatasync) before the
 *     caller acts on it; a new segment's name is made durable (fsync of log/) with its
 *     first record. A failed write leaves the checkpoint refusing writes (the segment may
 *     end in a partial record, which the next open drops);
 *   - the state of the last commit C lives in the record that committed it (the anchor);
 *     compaction covers T <= C, T < the last offsets, and never deletes the anchor's
 *     segment or a segment holding a batch above T; what a crash leaves behind of a
 *     compaction (an older compact file, files it covers) is ignored by the readers.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <zlib.h>

#include "stream/checkpoint.h"

/* A file holds at most a state image and its log; larger is damage, not data. */
#define MAX_FILE (4ull << 30)
/* Record frame: "TBL2", u32 payload length, u64 durable mark (every byte of the segment
 * before it was durable when the record was written), u32 CRC-32 of those 16 bytes. */
#define FRAME 20
static const char frame_magic[4] = {'T', 'B', 'L', '2'};

typedef enum anchor_kind { ANCHOR_NONE, ANCHOR_LOG, ANCHOR_OLD } anchor_kind;

typedef struct seg_info {
    int64_t seq;
    uint64_t size;
    int64_t max_batch; /* highest offsets batch in it, -1 */
} seg_info;

typedef struct rec_ix {
    int64_t batch;  /* offsets record: its batch; commit record: -1 */
    int64_t commit; /* the batch it commits, -1 none */
    int64_t seq;    /* segment */
    uint64_t off;   /* frame offset in the segment */
    size_t line_start, line_end; /* its compact line in `lines` (offsets records) */
    bool image;          /* the commit carries a whole state image (older releases) */
    uint64_t chg_len;    /* the commit's changelog bytes */
    int64_t snapshot;    /* the snapshot it references, -1 none */
} rec_ix;

struct tb_ckpt {
    char *dir;
    char *id;
    int64_t last_commit;
    anchor_kind anchor; /* where the state of last_commit is */
    int64_t anchor_seq;
    uint64_t anchor_off;
    int64_t compact; /* batches <= compact are in offsets/<compact>.compact; -1 none */
    uint64_t compact_entries, compact_bytes;
    int64_t old_last; /* highest old-layout offsets/N above compact, -1 */
    seg_info *segs;   /* live segments, in order */
    size_t n_segs, cap_segs;
    int fd;      /* the last segment, open for appends; -1 */
    bool rotate; /* the next write starts a segment */
    /* Deferred sync (tb_ckpt_set_deferred_sync): appends are not fdatasync'ed at once. */
    bool deferred;
    uint64_t synced;        /* bytes of the last segment known durable */
    bool seg_name_dirty;    /* the last segment's name not yet made durable */
    int64_t dirty_since_ns; /* oldest write not yet durable; 0 when everything is */
    bool broken; /* a write failed */
    bool dir_synced; /* the checkpoint directory was fsynced by this process */
    int torn;
    rec_ix *ix;
    size_t n_ix, cap_ix;
    tb_buf lines;
    /* State files (issue 9): the restore base is the newest of the snapshot the log
     * references (snap_ref), a whole image in a commit record (image_batch) or the old
     * layout's state/N (old_image); changelogs of the commits after it follow. */
    int64_t snap_ref;      /* newest snapshot referenced by a log record, -1 */
    int64_t snap_ref_seq;  /* the segment of that record */
    uint64_t snap_size;    /* its file size (0 unknown) */
    int64_t snap_pending;  /* written, to be referenced by the next record, -1 */
    uint64_t snap_pending_size;
    int64_t image_batch;   /* newest commit record carrying a whole image, -1 */
    int64_t image_seq;
    int64_t old_image;     /* old layout: the last commit with its state/N, -1 */
    uint64_t chg_bytes;    /* changelog bytes logged after the base */
    uint64_t snap_min;     /* snapshot floor (TB_CKPT_SNAPSHOT_MIN_BYTES) */
    int64_t first_chg_seq; /* segment of the first changelog after the base, -1 */
    bool snap_purge;       /* snapshots older than the base may be left on disk */
    /* The snapshot writer (tb_ckpt_snapshot_submit): at most one snapshot in flight, so
     * its memory (one image of the state) is bounded. wr_snap belongs to the thread from
     * the submit until the join; wr_done is its only shared word. */
    struct tb_ckpt_snapshot *wr_snap; /* in flight, NULL none */
    pthread_t wr_thread;
    atomic_bool wr_done;
    bool wr_failed; /* the last writer failed: wr_err waits for tb_ckpt_snapshot_wait */
    tb_err wr_err;
    /* The image buffer, kept from one snapshot to the next and pre-faulted by the writer
     * (see tb_ckpt_snapshot_begin_async); lent to the snapshot in flight. */
    tb_buf img;
};

static void writer_reap(tb_ckpt *ckpt, bool block);

/* CRC-32 of p[0..n) continuing from c (crc32(0L, Z_NULL, 0) to start). */
static uint32_t crc_more(uLong c, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n > 0) {
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, b, chunk);
        b += chunk;
        n -= chunk;
    }
    return (uint32_t)c;
}

static uint32_t crc(const void *p, size_t n)
{
    return crc_more(crc32(0L, Z_NULL, 0), p, n);
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

static tb_rc seg_path(const tb_ckpt *ckpt, int64_t seq, tb_buf *buf)
{
    buf->len = 0;
    return tb_buf_printf(buf, "%s/log/%016" PRId64, ckpt->dir, seq);
}

/* DIR/state/snapshot-<batch>, or its temp name (a dot name: listings skip it). */
static tb_rc snapshot_path(const tb_ckpt *ckpt, int64_t batch, bool tmp, tb_buf *buf)
{
    buf->len = 0;
    return tb_buf_printf(buf, "%s/state/%ssnapshot-%" PRId64 "%s", ckpt->dir, tmp ? "." : "",
                         batch, tmp ? ".tmp" : "");
}

static seg_info *seg_find(tb_ckpt *ckpt, int64_t seq)
{
    for (size_t i = 0; i < ckpt->n_segs; i++)
        if (ckpt->segs[i].seq == seq)
            return &ckpt->segs[i];
    return NULL;
}

/* ---------------------------------------------------------------- record images */

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

/* Append the trailer covering buf's bytes from `from` on. */
static tb_rc put_trailer(tb_buf *buf, size_t from)
{
    return tb_buf_printf(buf, "crc32 %08x\n", crc(buf->data + from, buf->len - from));
}

/* What follows a record's JSON line. */
enum { BODY_NONE, BODY_IMAGE, BODY_CHANGELOG };

/* A record payload (JSON line, optional state or changelog, trailer) appended to out.
 * With a body, "state_bytes" (an image) or "changelog_bytes" is added to json (the
 * caller's). */
static tb_rc put_record(tb_buf *out, json_t *json, const void *state, size_t len, int body)
{
    size_t from = out->len;
    bool has_state = body != BODY_NONE;
    if (has_state &&
        json_object_set_new(json, body == BODY_IMAGE ? "state_bytes" : "changelog_bytes",
                            json_integer((json_int_t)len)) != 0)
        return TB_E_NOMEM;
    if (put_json_line(out, json) != TB_OK ||
        (has_state && ((len > 0 && tb_buf_append(out, state, len) != TB_OK) ||
                       tb_buf_putc(out, '\n') != TB_OK)) ||
        put_trailer(out, from) != TB_OK)
        return TB_E_NOMEM;
    return TB_OK;
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
 * Verify and parse a record payload: the JSON object of its first line, and the body
 * when the JSON has "state_bytes" or "changelog_bytes" (*out_state points into data;
 * NULL when there is none; *out_body says which, may be NULL).
 */
static tb_rc parse_record_body(const char *name, const char *data, size_t len, json_t **out,
                               const char **out_state, size_t *out_slen, int *out_body,
                               tb_err *err)
{
    size_t body = 0;
    *out = NULL;
    *out_state = NULL;
    *out_slen = 0;
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
    json_t *cb = json_object_get(json, "changelog_bytes");
    if (out_body != NULL)
        *out_body = sb != NULL ? BODY_IMAGE : cb != NULL ? BODY_CHANGELOG : BODY_NONE;
    if (sb != NULL && cb != NULL) {
        json_decref(json);
        return TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s: both a state and a changelog", name);
    }
    if (sb == NULL)
        sb = cb;
    if (sb == NULL) {
        if (hlen + 1 != body) {
            json_decref(json);
            return TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s: bytes after the record", name);
        }
    } else {
        json_int_t slen = json_is_integer(sb) ? json_integer_value(sb) : -1;
        /* JSON line, state, '\n' make the body */
        if (slen < 0 || (uint64_t)slen > body || hlen + 2 + (size_t)slen != body) {
            json_decref(json);
            return TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s: bad state length", name);
        }
        *out_state = data + hlen + 1;
        *out_slen = (size_t)slen;
    }
    *out = json;
    return TB_OK;
}

static tb_rc parse_record(const char *name, const char *data, size_t len, json_t **out,
                          const char **out_state, size_t *out_slen, tb_err *err)
{
    return parse_record_body(name, data, len, out, out_state, out_slen, NULL, err);
}

/* A whole-file record (metadata, old layout) written atomically. */
static tb_rc write_file_record(const char *path, json_t *json, tb_err *err)
{
    tb_buf buf = {0};
    tb_rc rc = put_record(&buf, json, NULL, 0, BODY_NONE);
    if (rc != TB_OK) {
        tb_buf_free(&buf);
        return tb_err_nomem(err);
    }
    rc = tb_file_write_atomic(path, buf.data, buf.len, err);
    tb_buf_free(&buf);
    return rc;
}

static tb_rc read_file_record(const char *path, json_t **out, char **out_data,
                              const char **out_state, size_t *out_slen, tb_err *err)
{
    char *data = NULL;
    size_t len = 0;
    *out_data = NULL;
    tb_rc rc = tb_file_read_all(path, MAX_FILE, &data, &len, err);
    if (rc != TB_OK)
        return rc;
    rc = parse_record(path, data, len, out, out_state, out_slen, err);
    if (rc != TB_OK) {
        tb_free(data);
        return rc;
    }
    *out_data = data;
    return TB_OK;
}

/* {"batch", "watermark_us", "sources" and/or "files"} of an offsets record (a new
 * reference). "files" is written when there are some or no "sources" (older readers
 * require it). */
static json_t *offsets_json(const tb_ckpt_offsets *off)
{
    json_t *doc = json_pack("{s:I, s:I}", "batch", (json_int_t)off->batch, "watermark_us",
                            (json_int_t)off->watermark_us);
    if (doc == NULL)
        return NULL;
    if (off->sources != NULL && json_object_set(doc, "sources", off->sources) != 0)
        goto fail;
    if (off->sources == NULL || off->files.n > 0) {
        json_t *files = json_array();
        if (files == NULL || json_object_set_new(doc, "files", files) != 0)
            goto fail;
        for (size_t i = 0; i < off->files.n; i++)
            if (json_array_append_new(files, json_string(off->files.items[i])) != 0)
                goto fail;
    }
    return doc;
fail:
    json_decref(doc);
    return NULL;
}

/* Fill off from a parsed offsets record. keep_state: copy the state or changelog into
 * off. */
static tb_rc offsets_from(const char *name, json_t *doc, const char *state, size_t slen,
                          bool keep_state, tb_ckpt_offsets *off, tb_err *err)
{
    int body = json_object_get(doc, "changelog_bytes") != NULL ? BODY_CHANGELOG : BODY_IMAGE;
    json_t *batch = json_object_get(doc, "batch");
    json_t *wm = json_object_get(doc, "watermark_us");
    json_t *files = json_object_get(doc, "files");
    json_t *sources = json_object_get(doc, "sources");
    json_t *commit = json_object_get(doc, "commit");
    if (!json_is_integer(batch) || !json_is_integer(wm) ||
        (files != NULL && !json_is_array(files)) ||
        (sources != NULL && !json_is_object(sources)) || (files == NULL && sources == NULL))
        return TB_ERRF(err, TB_E_CORRUPT,
                       "checkpoint: %s: missing batch/watermark/sources (or files)", name);
    if (sources != NULL)
        off->sources = json_incref(sources);
    off->batch = json_integer_value(batch);
    off->watermark_us = json_integer_value(wm);
    if (commit != NULL) {
        if (!json_is_integer(commit) || json_integer_value(commit) != off->batch - 1 ||
            state == NULL)
            return TB_ERRF(err, TB_E_CORRUPT,
                           "checkpoint: %s: the commit it carries is not of the batch before "
                           "it, or has no state",
                           name);
        off->has_commit = true;
        if (keep_state) {
            char *copy = tb_malloc(slen + 1);
            if (copy == NULL)
                return tb_err_nomem(err);
            memcpy(copy, state, slen);
            if (body == BODY_CHANGELOG) {
                off->changelog = copy;
                off->changelog_len = slen;
            } else {
                off->state = copy;
                off->state_len = slen;
            }
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
    const char *state = NULL;
    size_t slen = 0;
    tb_rc rc = parse_record(name, data, len, &doc, &state, &slen, err);
    if (rc != TB_OK)
        return rc;
    rc = offsets_from(name, doc, state, slen, true, off, err);
    json_decref(doc);
    return rc;
}

void tb_ckpt_offsets_clear(tb_ckpt_offsets *off)
{
    tb_strlist_free(&off->files);
    json_decref(off->sources);
    tb_free(off->state);
    tb_free(off->changelog);
    memset(off, 0, sizeof(*off));
}

/* ---------------------------------------------------------------- log segments */

typedef tb_rc (*rec_fn)(void *ud, json_t *doc, const char *state, size_t slen, uint64_t off,
                        tb_err *err);

/* A frame at f (left bytes available) that is well formed: *out_len, *out_durable. */
static bool frame_ok(const char *f, size_t left, uint32_t *out_len, uint64_t *out_durable)
{
    uint32_t plen, hcrc;
    uint64_t durable;
    if (left < FRAME || memcmp(f, frame_magic, 4) != 0)
        return false;
    memcpy(&plen, f + 4, 4);
    memcpy(&durable, f + 8, 8);
    memcpy(&hcrc, f + 16, 4);
    if (crc(f, 16) != hcrc)
        return false;
    *out_len = plen;
    *out_durable = durable;
    return true;
}

/* Was the byte at `at` vouched durable by a well-formed record after it (a frame whose
 * durable mark passes `at`)? */
static bool vouched_after(const char *data, size_t len, size_t from, uint64_t at)
{
    for (size_t o = from; o + FRAME <= len; o++) {
        uint32_t plen;
        uint64_t durable;
        if (data[o] == 'T' && frame_ok(data + o, len - o, &plen, &durable) && durable > at &&
            durable <= len)
            return true;
    }
    return false;
}

/*
 * Walk the records of a segment image. A bad record (a frame or payload that does not
 * check out, or a frame running past the end) is torn when no record vouches for it:
 * the durable marks of the records before it stop short of it and no well-formed record
 * after it has a mark past it. Those bytes were never made durable (a crash in the middle
 * of a write, or a power cut before a deferred sync), so nothing outside the process
 * acted on them: *out_torn_at gets the offset (else -1) and the rest of the segment is
 * to be dropped. A bad record that was vouched for is TB_E_CORRUPT.
 */
static tb_rc walk_segment(const char *name, const char *data, size_t len, rec_fn fn, void *ud,
                          int64_t *out_torn_at, tb_err *err)
{
    uint64_t off = 0, durable = 0;
    *out_torn_at = -1;
    while (off < len) {
        const char *f = data + off;
        size_t left = len - off;
        uint32_t plen = 0;
        uint64_t mark = 0;
        json_t *doc = NULL;
        const char *state = NULL;
        size_t slen = 0;
        tb_rc rc = TB_OK;
        bool ok = frame_ok(f, left, &plen, &mark) && (uint64_t)plen <= left - FRAME;
        if (ok) {
            rc = parse_record(name, f + FRAME, plen, &doc, &state, &slen, err);
            ok = rc == TB_OK;
        }
        if (!ok) {
            bool vouched = off < durable ||
                           vouched_after(data, len, off + 1, off);
            if (!vouched) {
                tb_err_clear(err);
                *out_torn_at = (int64_t)off;
                return TB_OK;
            }
            if (rc != TB_OK)
                return tb_err_prefix(err, "record at offset %" PRIu64, off);
            return TB_ERRF(err, TB_E_CORRUPT,
                           "checkpoint: %s is damaged (bad record frame at offset %" PRIu64 ")",
                           name, off);
        }
        if (mark > durable)
            durable = mark;
        if (fn != NULL)
            rc = fn(ud, doc, state, slen, off, err);
        json_decref(doc);
        if (rc != TB_OK)
            return rc;
        off += FRAME + plen;
    }
    return TB_OK;
}

tb_rc tb_ckpt_parse_segment(const char *name, const char *data, size_t len,
                            int64_t *out_torn_at, tb_err *err)
{
    return walk_segment(name, data, len, NULL, NULL, out_torn_at, err);
}

/* Read one log record (frame at off of segment seq): its JSON and body (kind in
 * *out_body, may be NULL). */
static tb_rc read_log_record_body(tb_ckpt *ckpt, int64_t seq, uint64_t off, json_t **out,
                                  char **out_buf, const char **out_state, size_t *out_slen,
                                  int *out_body, tb_err *err)
{
    tb_buf p = {0};
    char frame[FRAME];
    char *buf = NULL;
    tb_rc rc = TB_OK;
    *out = NULL;
    *out_buf = NULL;
    if (seg_path(ckpt, seq, &p) != TB_OK)
        return tb_err_nomem(err);
    int fd = open(p.data, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = TB_ERRF(err, TB_E_IO, "checkpoint: cannot open '%s': %s", p.data, strerror(errno));
        goto done;
    }
    uint32_t plen = 0;
    if (pread(fd, frame, FRAME, (off_t)off) != FRAME) {
        rc = TB_ERRF(err, TB_E_CORRUPT,
                     "checkpoint: %s: record at offset %" PRIu64 " cannot be read back", p.data,
                     off);
        goto done;
    }
    memcpy(&plen, frame + 4, 4);
    buf = tb_malloc((size_t)plen + 1);
    if (buf == NULL) {
        rc = tb_err_nomem(err);
        goto done;
    }
    if (pread(fd, buf, plen, (off_t)(off + FRAME)) != (ssize_t)plen) {
        rc = TB_ERRF(err, TB_E_CORRUPT,
                     "checkpoint: %s: record at offset %" PRIu64 " cannot be read back", p.data,
                     off);
        goto done;
    }
    rc = parse_record_body(p.data, buf, plen, out, out_state, out_slen, out_body, err);
    if (rc != TB_OK)
        tb_err_prefix(err, "record at offset %" PRIu64, off);
done:
    if (fd >= 0)
        close(fd);
    if (rc != TB_OK)
        tb_free(buf);
    else
        *out_buf = buf;
    tb_buf_free(&p);
    return rc;
}

static tb_rc read_log_record(tb_ckpt *ckpt, int64_t seq, uint64_t off, json_t **out,
                             char **out_buf, const char **out_state, size_t *out_slen,
                             tb_err *err)
{
    return read_log_record_body(ckpt, seq, off, out, out_buf, out_state, out_slen, NULL, err);
}

/* ---------------------------------------------------------------- open */

static void make_id(char *out, size_t cap)
{
    uint64_t a = tb_hash_u64((uint64_t)tb_wall_us() ^ ((uint64_t)getpid() << 32));
    uint64_t b = tb_hash_u64(a ^ (uint64_t)tb_now_ns());
    snprintf(out, cap, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
             (unsigned)((b >> 48) & 0x3fff) | 0x8000,
             (unsigned long long)(b & 0xffffffffffffULL));
}

/* Sorted numeric names of DIR/kind (and, for offsets, the newest compact). */
static tb_rc list_numeric(const tb_ckpt *ckpt, const char *kind, int64_t **out, size_t *out_n,
                          int64_t *out_compact, tb_err *err)
{
    tb_buf p = {0};
    int64_t *v = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    *out_n = 0;
    if (out_compact != NULL)
        *out_compact = -1;
    if (tb_buf_printf(&p, "%s/%s", ckpt->dir, kind) != TB_OK)
        return tb_err_nomem(err);
    DIR *d = opendir(p.data);
    tb_buf_free(&p);
    if (d == NULL)
        return TB_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char *end = NULL;
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        long long x = strtoll(de->d_name, &end, 10);
        if (*end == '\0') {
            if (tb_grow((void **)&v, &cap, n + 1, sizeof(int64_t)) != TB_OK) {
                closedir(d);
                tb_free(v);
                return tb_err_nomem(err);
            }
            v[n++] = x;
        } else if (out_compact != NULL && strcmp(end, ".compact") == 0 && x > *out_compact) {
            *out_compact = x;
        }
    }
    closedir(d);
    for (size_t i = 1; i < n; i++) /* insertion sort: directories are small or sorted */
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            int64_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    *out = v;
    *out_n = n;
    return TB_OK;
}

/* ---------------------------------------------------------------- restore base */

static int64_t base_batch(const tb_ckpt *ckpt)
{
    int64_t b = ckpt->snap_ref;
    if (ckpt->image_batch > b)
        b = ckpt->image_batch;
    if (ckpt->old_image > b)
        b = ckpt->old_image;
    return b;
}

static tb_ckpt_base base_kind(const tb_ckpt *ckpt)
{
    int64_t b = base_batch(ckpt);
    if (b < 0)
        return TB_CKPT_BASE_NONE;
    return b == ckpt->snap_ref ? TB_CKPT_BASE_SNAPSHOT : TB_CKPT_BASE_IMAGE;
}

/* The base changed: recount the changelogs after it and where the first one is. */
static void rebase(tb_ckpt *ckpt)
{
    int64_t b = base_batch(ckpt);
    ckpt->chg_bytes = 0;
    ckpt->first_chg_seq = -1;
    for (size_t i = 0; i < ckpt->n_ix; i++) {
        const rec_ix *e = &ckpt->ix[i];
        if (e->commit > b && !e->image) {
            ckpt->chg_bytes += e->chg_len;
            if (ckpt->first_chg_seq < 0)
                ckpt->first_chg_seq = e->seq;
        }
    }
}

/* Bookkeeping of the base for a record just indexed (read by open, or appended). */
static void note_record(tb_ckpt *ckpt, const rec_ix *r)
{
    int64_t before = base_batch(ckpt);
    if (r->snapshot > ckpt->snap_ref) {
        ckpt->snap_ref = r->snapshot;
        ckpt->snap_ref_seq = r->seq;
        ckpt->snap_size = 0;
        ckpt->snap_purge = true;
    }
    if (r->commit >= 0 && r->image && r->commit >= ckpt->image_batch) {
        ckpt->image_batch = r->commit;
        ckpt->image_seq = r->seq;
    }
    if (base_batch(ckpt) != before) {
        rebase(ckpt);
    } else if (r->commit > before && !r->image) {
        ckpt->chg_bytes += r->chg_len;
        if (ckpt->first_chg_seq < 0)
            ckpt->first_chg_seq = r->seq;
    }
}

/* Segments from this one on hold the base's reference (or image) or a changelog after
 * it: the compaction keeps them (INT64_MAX: none needed). */
static int64_t keep_seq(const tb_ckpt *ckpt)
{
    int64_t k = INT64_MAX;
    switch (base_kind(ckpt)) {
    case TB_CKPT_BASE_SNAPSHOT:
        k = ckpt->snap_ref_seq;
        break;
    case TB_CKPT_BASE_IMAGE:
        if (ckpt->image_batch > ckpt->old_image)
            k = ckpt->image_seq;
        break;
    default:
        break;
    }
    if (ckpt->first_chg_seq >= 0 && ckpt->first_chg_seq < k)
        k = ckpt->first_chg_seq;
    return k;
}

/* Add a record to the index (and its compact line for an offsets record). */
static tb_rc ix_add(tb_ckpt *ckpt, int64_t batch, int64_t commit, int64_t seq, uint64_t off,
                    json_t *line)
{
    if (tb_grow((void **)&ckpt->ix, &ckpt->cap_ix, ckpt->n_ix + 1, sizeof(rec_ix)) != TB_OK)
        return TB_E_NOMEM;
    rec_ix *r = &ckpt->ix[ckpt->n_ix];
    memset(r, 0, sizeof(*r));
    r->batch = batch;
    r->commit = commit;
    r->seq = seq;
    r->off = off;
    r->snapshot = -1;
    r->line_start = r->line_end = ckpt->lines.len;
    if (line != NULL) {
        if (put_json_line(&ckpt->lines, line) != TB_OK)
            return TB_E_NOMEM;
        r->line_end = ckpt->lines.len;
    }
    ckpt->n_ix++;
    return TB_OK;
}

/* The last index entry's body (image or changelog) and snapshot reference, from its
 * record's JSON; then the base bookkeeping. */
static tb_rc index_body(tb_ckpt *ckpt, const char *name, json_t *doc, size_t slen,
                        uint64_t off, tb_err *err)
{
    rec_ix *r = &ckpt->ix[ckpt->n_ix - 1];
    json_t *snap = json_object_get(doc, "snapshot");
    r->image = json_object_get(doc, "state_bytes") != NULL;
    r->chg_len = json_object_get(doc, "changelog_bytes") != NULL ? slen : 0;
    if (snap != NULL) {
        if (!json_is_integer(snap) || json_integer_value(snap) < 0)
            return TB_ERRF(err, TB_E_CORRUPT,
                           "checkpoint: %s: record at offset %" PRIu64 ": bad snapshot", name,
                           off);
        r->snapshot = json_integer_value(snap);
    }
    note_record(ckpt, r);
    return TB_OK;
}

typedef struct load_ctx {
    tb_ckpt *ckpt;
    int64_t seq;
    const char *name;
    int64_t last_batch; /* highest offsets batch so far (the old layout's included) */
} load_ctx;

static tb_rc load_record(void *ud, json_t *doc, const char *state, size_t slen, uint64_t off,
                         tb_err *err)
{
    load_ctx *lc = ud;
    tb_ckpt *ckpt = lc->ckpt;
    TB_UNUSED(slen);
    json_t *commit = json_object_get(doc, "commit");
    if (json_object_get(doc, "batch") != NULL) {
        tb_ckpt_offsets off_ = {0};
        tb_rc rc = offsets_from(lc->name, doc, state, slen, false, &off_, err);
        int64_t b = off_.batch, wm = off_.watermark_us;
        tb_ckpt_offsets_clear(&off_);
        if (rc != TB_OK)
            return rc;
        if (b <= lc->last_batch)
            return TB_ERRF(err, TB_E_CORRUPT,
                           "checkpoint: %s: batch %" PRId64 " at offset %" PRIu64
                           " comes after batch %" PRId64,
                           lc->name, b, off, lc->last_batch);
        lc->last_batch = b;
        seg_info *s = seg_find(ckpt, lc->seq);
        if (s != NULL)
            s->max_batch = b;
        json_t *line = NULL; /* (records a crashed compaction left behind: no line) */
        if (b > ckpt->compact) {
            tb_ckpt_offsets lo = {.batch = b, .watermark_us = wm,
                                  .sources = json_object_get(doc, "sources")};
            json_t *files = json_object_get(doc, "files");
            line = offsets_json(&lo);
            if (line != NULL && files != NULL && json_object_set(line, "files", files) != 0) {
                json_decref(line);
                line = NULL;
            }
            if (line == NULL)
                return tb_err_nomem(err);
        }
        rc = ix_add(ckpt, b, commit != NULL ? b - 1 : -1, lc->seq, off, line);
        json_decref(line);
        if (rc != TB_OK)
            return tb_err_nomem(err);
        rc = index_body(ckpt, lc->name, doc, slen, off, err);
        if (rc != TB_OK)
            return rc;
        if (commit != NULL) {
            ckpt->last_commit = b - 1;
            ckpt->anchor = ANCHOR_LOG;
            ckpt->anchor_seq = lc->seq;
            ckpt->anchor_off = off;
        }
        return TB_OK;
    }
    if (!json_is_integer(commit) || state == NULL)
        return TB_ERRF(err, TB_E_CORRUPT,
                       "checkpoint: %s: record at offset %" PRIu64 " is neither offsets nor a "
                       "commit with a state",
                       lc->name, off);
    int64_t c = json_integer_value(commit);
    if (c > lc->last_batch || c < ckpt->last_commit)
        return TB_ERRF(err, TB_E_CORRUPT,
                       "checkpoint: %s: commit of batch %" PRId64 " at offset %" PRIu64
                       " out of order",
                       lc->name, c, off);
    if (ix_add(ckpt, -1, c, lc->seq, off, NULL) != TB_OK)
        return tb_err_nomem(err);
    tb_rc rc = index_body(ckpt, lc->name, doc, slen, off, err);
    if (rc != TB_OK)
        return rc;
    ckpt->last_commit = c;
    ckpt->anchor = ANCHOR_LOG;
    ckpt->anchor_seq = lc->seq;
    ckpt->anchor_off = off;
    return TB_OK;
}

/* Drop a torn last record: truncate the segment there (made durable). */
static tb_rc drop_torn(tb_ckpt *ckpt, const char *path, uint64_t at, tb_err *err)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)at) != 0 || fsync(fd) != 0) {
        tb_rc rc = TB_ERRF(err, TB_E_IO, "checkpoint: cannot truncate the torn end of '%s': %s",
                           path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return rc;
    }
    close(fd);
    tb_log(TB_LOG_WARN,
           "checkpoint: %s: dropped a torn record at offset %" PRIu64
           " and what follows (cut short by a crash, or not yet synced at a power cut; "
           "nothing outside the process acted on it: its batch is taken again)",
           path, at);
    ckpt->torn++;
    return TB_OK;
}

/* Read the old-layout files and the log: last commit, anchor, index. */
static tb_rc load(tb_ckpt *ckpt, tb_err *err)
{
    int64_t *offs = NULL, *commits = NULL, *seqs = NULL;
    size_t n_offs = 0, n_commits = 0, n_seqs = 0;
    tb_buf p = {0};
    char *data = NULL;
    tb_rc rc = list_numeric(ckpt, "offsets", &offs, &n_offs, &ckpt->compact, err);
    if (rc == TB_OK)
        rc = list_numeric(ckpt, "commits", &commits, &n_commits, NULL, err);
    if (rc == TB_OK)
        rc = list_numeric(ckpt, "log", &seqs, &n_seqs, NULL, err);
    if (rc != TB_OK)
        goto done;
    ckpt->old_last = -1;
    for (size_t i = 0; i < n_offs; i++)
        if (offs[i] > ckpt->compact)
            ckpt->old_last = offs[i];
    /* The old layout's last commit: its marker is read and checked. */
    if (n_commits > 0 && commits[n_commits - 1] > ckpt->compact) {
        json_t *doc = NULL;
        const char *state = NULL;
        size_t slen = 0;
        char *buf = NULL;
        if (path_of(ckpt, "commits", commits[n_commits - 1], &p) != TB_OK) {
            rc = tb_err_nomem(err);
            goto done;
        }
        rc = read_file_record(p.data, &doc, &buf, &state, &slen, err);
        json_decref(doc);
        tb_free(buf);
        if (rc != TB_OK)
            goto done;
        ckpt->last_commit = commits[n_commits - 1];
        ckpt->anchor = ANCHOR_OLD;
        ckpt->old_image = ckpt->last_commit;
    }
    /* The log, oldest segment first. */
    /* log records come after the old layout's (a compaction's leftovers may be older) */
    load_ctx lc = {ckpt, -1, NULL, ckpt->old_last};
    for (size_t i = 0; i < n_seqs; i++) {
        size_t len = 0;
        int64_t torn = -1;
        if (seg_path(ckpt, seqs[i], &p) != TB_OK ||
            tb_grow((void **)&ckpt->segs, &ckpt->cap_segs, ckpt->n_segs + 1, sizeof(seg_info)) !=
                TB_OK) {
            rc = tb_err_nomem(err);
            goto done;
        }
        rc = tb_file_read_all(p.data, MAX_FILE, &data, &len, err);
        if (rc != TB_OK)
            goto done;
        ckpt->segs[ckpt->n_segs++] = (seg_info){seqs[i], len, -1};
        lc.seq = seqs[i];
        lc.name = p.data;
        rc = walk_segment(p.data, data, len, load_record, &lc, &torn, err);
        if (rc == TB_OK && torn >= 0) {
            if (i + 1 < n_seqs)
                rc = TB_ERRF(err, TB_E_CORRUPT,
                             "checkpoint: %s is damaged (a record at offset %" PRId64
                             " is cut short, and newer segments follow)",
                             p.data, torn);
            else
                rc = drop_torn(ckpt, p.data, (uint64_t)torn, err);
            ckpt->segs[ckpt->n_segs - 1].size = (uint64_t)torn;
        }
        tb_free(data);
        data = NULL;
        if (rc != TB_OK)
            goto done;
    }
    rebase(ckpt);
    if (ckpt->snap_ref >= 0) {
        struct stat stt;
        if (snapshot_path(ckpt, ckpt->snap_ref, false, &p) != TB_OK) {
            rc = tb_err_nomem(err);
            goto done;
        }
        ckpt->snap_size = stat(p.data, &stt) == 0 ? (uint64_t)stt.st_size : 0;
    }
    if (ckpt->compact > ckpt->last_commit)
        /* compaction only covers committed batches and keeps the last commit's record */
        rc = TB_ERRF(err, TB_E_CORRUPT,
                     "checkpoint: %s: the commit of batch %" PRId64 " or later is missing "
                     "(offsets/%" PRId64 ".compact covers it)",
                     ckpt->dir, ckpt->compact, ckpt->compact);
done:
    tb_free(data);
    tb_free(offs);
    tb_free(commits);
    tb_free(seqs);
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
    ckpt->fd = -1;
    ckpt->last_commit = -1;
    ckpt->compact = -1;
    ckpt->old_last = -1;
    ckpt->snap_ref = ckpt->snap_pending = ckpt->image_batch = ckpt->old_image = -1;
    ckpt->first_chg_seq = -1;
    ckpt->snap_min = TB_CKPT_SNAPSHOT_MIN_BYTES;
    {
        /* test hook: snapshots every few batches (tests/run_crash.sh) */
        const char *v = getenv("TB_CKPT_SNAPSHOT_MIN_BYTES");
        if (v != NULL && *v != '\0')
            ckpt->snap_min = strtoull(v, NULL, 10);
    }
    /* (commits/ and state/ hold only an older layout's files; made for tools and tests
     * that expect them) */
    static const char *const subdirs[] = {"", "/log", "/offsets", "/commits", "/state"};
    for (size_t i = 0; i < 5; i++) {
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
        const char *state = NULL;
        size_t slen = 0;
        rc = read_file_record(p.data, &meta, &data, &state, &slen, err);
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
        /* (fsyncs the directory: the subdirectories made above are durable too) */
        rc = write_file_record(p.data, meta, err);
        if (rc != TB_OK)
            goto fail;
        ckpt->id = tb_strdup(id);
        ckpt->dir_synced = true;
    }
    if (ckpt->id == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    rc = load(ckpt, err);
    if (rc != TB_OK)
        goto fail;
    json_decref(meta);
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
    /* a snapshot in flight is finished (durable, named by no record yet: the next run
     * ignores it and deletes it once a newer one is named) */
    writer_reap(ckpt, true);
    tb_buf_free(&ckpt->img);
    if (ckpt->fd >= 0)
        close(ckpt->fd);
    tb_free(ckpt->segs);
    tb_free(ckpt->ix);
    tb_buf_free(&ckpt->lines);
    tb_free(ckpt->dir);
    tb_free(ckpt->id);
    tb_free(ckpt);
}

const char *tb_ckpt_id(const tb_ckpt *ckpt)
{
    return ckpt->id;
}

const char *tb_ckpt_dir(const tb_ckpt *ckpt)
{
    return ckpt->dir;
}

int64_t tb_ckpt_last_commit(const tb_ckpt *ckpt)
{
    return ckpt->last_commit;
}

static int64_t log_last(const tb_ckpt *ckpt)
{
    for (size_t i = ckpt->n_ix; i > 0; i--)
        if (ckpt->ix[i - 1].batch >= 0)
            return ckpt->ix[i - 1].batch;
    return -1;
}

int64_t tb_ckpt_last_offsets(const tb_ckpt *ckpt)
{
    int64_t m = ckpt->compact;
    if (ckpt->old_last > m)
        m = ckpt->old_last;
    int64_t l = log_last(ckpt);
    return l > m ? l : m;
}

int tb_ckpt_torn_dropped(const tb_ckpt *ckpt)
{
    return ckpt->torn;
}

/* ---------------------------------------------------------------- appends */

static tb_rc fsync_dir(const char *path, tb_err *err)
{
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return TB_ERRF(err, TB_E_IO, "checkpoint: cannot open '%s': %s", path, strerror(errno));
    int r = fsync(dfd);
    int e = errno;
    close(dfd);
    /* some file systems refuse fsync on directories: that is not a failed write */
    if (r != 0 && e != EINVAL && e != EROFS)
        return TB_ERRF(err, TB_E_IO, "checkpoint: fsync '%s': %s", path, strerror(e));
    return TB_OK;
}

/* Start a new segment: created empty; its name is made durable after the first record. */
static tb_rc new_segment(tb_ckpt *ckpt, tb_err *err)
{
    tb_buf p = {0};
    int64_t seq = ckpt->n_segs > 0 ? ckpt->segs[ckpt->n_segs - 1].seq + 1 : 1;
    if (seg_path(ckpt, seq, &p) != TB_OK ||
        tb_grow((void **)&ckpt->segs, &ckpt->cap_segs, ckpt->n_segs + 1, sizeof(seg_info)) !=
            TB_OK) {
        tb_buf_free(&p);
        return tb_err_nomem(err);
    }
    int fd = open(p.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        tb_rc rc = TB_ERRF(err, TB_E_IO, "checkpoint: cannot create '%s': %s", p.data,
                           strerror(errno));
        tb_buf_free(&p);
        return rc;
    }
    tb_buf_free(&p);
    if (ckpt->fd >= 0)
        close(ckpt->fd);
    ckpt->fd = fd;
    ckpt->segs[ckpt->n_segs++] = (seg_info){seq, 0, -1};
    return TB_OK;
}

/* Make every append so far durable: the last segment's data, and its name when new (the
 * first time, the checkpoint directory too: its log/ may have been made by this process). */
tb_rc tb_ckpt_sync(tb_ckpt *ckpt, tb_err *err)
{
    tb_rc rc = TB_OK;
    if (ckpt->dirty_since_ns == 0 && !ckpt->seg_name_dirty)
        return TB_OK;
    if (ckpt->broken)
        return TB_ERRF(err, TB_E_IO,
                       "checkpoint: %s: an earlier write failed; restart to resume from the "
                       "log",
                       ckpt->dir);
    if (ckpt->fd >= 0 && ckpt->dirty_since_ns != 0 && fdatasync(ckpt->fd) != 0)
        rc = TB_ERRF(err, TB_E_IO, "checkpoint: fdatasync of %s/log: %s", ckpt->dir,
                     strerror(errno));
    if (rc == TB_OK && ckpt->seg_name_dirty) {
        tb_buf p = {0};
        if (tb_buf_printf(&p, "%s/log", ckpt->dir) != TB_OK)
            rc = tb_err_nomem(err);
        else
            rc = fsync_dir(p.data, err);
        if (rc == TB_OK && !ckpt->dir_synced) {
            rc = fsync_dir(ckpt->dir, err);
            ckpt->dir_synced = rc == TB_OK;
        }
        tb_buf_free(&p);
    }
    if (rc != TB_OK) {
        ckpt->broken = true; /* what is durable is unknown: a reopen sorts it out */
        return rc;
    }
    ckpt->seg_name_dirty = false;
    ckpt->dirty_since_ns = 0;
    if (ckpt->n_segs > 0)
        ckpt->synced = ckpt->segs[ckpt->n_segs - 1].size;
    return TB_OK;
}

void tb_ckpt_set_deferred_sync(tb_ckpt *ckpt, bool deferred)
{
    ckpt->deferred = deferred;
}

int64_t tb_ckpt_dirty_since(const tb_ckpt *ckpt)
{
    return ckpt->dirty_since_ns;
}

/*
 * Append a record (payload built by the caller) to the log, durable when it returns
 * unless syncs are deferred. On success *out_seq and *out_off locate it.
 */
static tb_rc append(tb_ckpt *ckpt, const tb_buf *payload, int64_t *out_seq, uint64_t *out_off,
                    tb_err *err)
{
    tb_rc rc = TB_OK;
    if (ckpt->broken)
        return TB_ERRF(err, TB_E_IO,
                       "checkpoint: %s: an earlier write failed; restart to resume from the "
                       "log",
                       ckpt->dir);
    if (payload->len > UINT32_MAX - FRAME)
        return TB_ERRF(err, TB_E_LIMIT, "checkpoint: a record of %zu bytes is too large",
                       payload->len);
    uint64_t seg_max = TB_CKPT_SEGMENT_BYTES;
    if (ckpt->compact_bytes > seg_max)
        seg_max = ckpt->compact_bytes; /* so a compaction costs at most what was logged */
    if (ckpt->fd < 0 || ckpt->rotate || ckpt->segs[ckpt->n_segs - 1].size >= seg_max) {
        if (ckpt->fd < 0 && !ckpt->rotate && ckpt->n_segs > 0 &&
            ckpt->segs[ckpt->n_segs - 1].size < seg_max) {
            /* reopen the last segment (after open: what it holds is durable) */
            tb_buf p = {0};
            if (seg_path(ckpt, ckpt->segs[ckpt->n_segs - 1].seq, &p) != TB_OK)
                return tb_err_nomem(err);
            ckpt->fd = open(p.data, O_WRONLY | O_CLOEXEC);
            if (ckpt->fd < 0)
                rc = TB_ERRF(err, TB_E_IO, "checkpoint: cannot open '%s': %s", p.data,
                             strerror(errno));
            tb_buf_free(&p);
            ckpt->synced = ckpt->segs[ckpt->n_segs - 1].size;
        } else {
            /* a sealed segment is wholly durable before the next one starts */
            rc = tb_ckpt_sync(ckpt, err);
            if (rc == TB_OK)
                rc = new_segment(ckpt, err);
            if (rc == TB_OK) {
                ckpt->seg_name_dirty = true;
                ckpt->synced = 0;
            }
            ckpt->rotate = false;
        }
        if (rc != TB_OK)
            return rc;
    }
    seg_info *s = &ckpt->segs[ckpt->n_segs - 1];
    char frame[FRAME];
    uint32_t plen = (uint32_t)payload->len;
    uint64_t durable = ckpt->dirty_since_ns == 0 ? s->size : ckpt->synced;
    memcpy(frame, frame_magic, 4);
    memcpy(frame + 4, &plen, 4);
    memcpy(frame + 8, &durable, 8);
    uint32_t hcrc = crc(frame, 16);
    memcpy(frame + 16, &hcrc, 4);
    /* one pwrite for frame and payload: a kill leaves the record whole or cut short */
    tb_buf img = {0};
    if (tb_buf_append(&img, frame, FRAME) != TB_OK ||
        tb_buf_append(&img, payload->data, payload->len) != TB_OK) {
        tb_buf_free(&img);
        return tb_err_nomem(err);
    }
    size_t done = 0;
#ifdef TB_FAULTS
    /* recovery tests: "ckpt-append" kills with half the record written (a torn record) */
    size_t half = img.len / 2;
    while (done < half) {
        ssize_t w = pwrite(ckpt->fd, img.data + done, half - done, (off_t)(s->size + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* the loop below reports it */
        done += (size_t)w;
    }
    tb_crash_point("ckpt-append");
#endif
    while (done < img.len) {
        ssize_t w = pwrite(ckpt->fd, img.data + done, img.len - done, (off_t)(s->size + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = TB_ERRF(err, TB_E_IO, "checkpoint: write to %s/log: %s", ckpt->dir,
                         w < 0 ? strerror(errno) : "no progress");
            break;
        }
        done += (size_t)w;
    }
    tb_buf_free(&img);
    if (rc != TB_OK) {
        ckpt->broken = true; /* the segment may end in a partial record: reopen drops it */
        return rc;
    }
    *out_seq = s->seq;
    *out_off = s->size;
    s->size += done;
    if (ckpt->dirty_since_ns == 0)
        ckpt->dirty_since_ns = tb_now_ns();
    if (!ckpt->deferred)
        rc = tb_ckpt_sync(ckpt, err);
    return rc;
}

/*
 * Append a record: doc (offsets or a lone commit; the caller's, completed here with the
 * body's length and the pending snapshot's reference), body (BODY_*), then index it.
 * batch: the offsets batch or -1; commit: the batch it commits or -1.
 */
static tb_rc append_record(tb_ckpt *ckpt, json_t *doc, json_t *line, int64_t batch,
                           int64_t commit, const void *data, size_t len, int body, tb_err *err)
{
    tb_buf payload = {0};
    int64_t seq = 0, snap;
    uint64_t at = 0;
    tb_rc rc;
    writer_reap(ckpt, false); /* a snapshot written since: this record names it */
    snap = ckpt->snap_pending;
    if ((commit >= 0 &&
         json_object_set_new(doc, "committed_us", json_integer((json_int_t)tb_wall_us())) != 0) ||
        (snap >= 0 && json_object_set_new(doc, "snapshot", json_integer((json_int_t)snap)) != 0) ||
        put_record(&payload, doc, data, len, body) != TB_OK) {
        tb_buf_free(&payload);
        return tb_err_nomem(err);
    }
    rc = append(ckpt, &payload, &seq, &at, err);
    tb_buf_free(&payload);
    if (rc != TB_OK)
        return rc;
    if (batch >= 0)
        ckpt->segs[ckpt->n_segs - 1].max_batch = batch;
    if (ix_add(ckpt, batch, commit, seq, at, line) != TB_OK)
        return tb_err_nomem(err);
    rec_ix *r = &ckpt->ix[ckpt->n_ix - 1];
    r->image = body == BODY_IMAGE;
    r->chg_len = body == BODY_CHANGELOG ? len : 0;
    r->snapshot = snap;
    if (snap >= 0) {
        ckpt->snap_pending = -1;
        note_record(ckpt, r);
        ckpt->snap_size = ckpt->snap_pending_size;
    } else {
        note_record(ckpt, r);
    }
    if (commit >= 0) {
        ckpt->last_commit = commit;
        ckpt->anchor = ANCHOR_LOG;
        ckpt->anchor_seq = seq;
        ckpt->anchor_off = at;
    }
    return TB_OK;
}

tb_rc tb_ckpt_write_offsets(tb_ckpt *ckpt, const tb_ckpt_offsets *off, tb_err *err)
{
    tb_rc rc = TB_OK;
    json_t *doc = offsets_json(off);
    json_t *line = offsets_json(off);
    bool image = off->has_commit && off->state != NULL;
    if (doc == NULL || line == NULL ||
        (off->has_commit &&
         json_object_set_new(doc, "commit", json_integer((json_int_t)(off->batch - 1))) != 0)) {
        rc = tb_err_nomem(err);
        goto done;
    }
    if (off->batch <= tb_ckpt_last_offsets(ckpt)) {
        rc = TB_ERRF(err, TB_E_MISUSE,
                     "checkpoint: offsets of batch %" PRId64 " after batch %" PRId64, off->batch,
                     tb_ckpt_last_offsets(ckpt));
        goto done;
    }
    rc = append_record(ckpt, doc, line, off->batch, off->has_commit ? off->batch - 1 : -1,
                       image ? off->state : off->changelog,
                       image ? off->state_len : off->changelog_len,
                       !off->has_commit ? BODY_NONE : image ? BODY_IMAGE : BODY_CHANGELOG, err);
done:
    json_decref(doc);
    json_decref(line);
    return rc;
}

static tb_rc write_commit(tb_ckpt *ckpt, int64_t batch, const void *data, size_t len, int body,
                          tb_err *err)
{
    tb_rc rc;
    json_t *doc = json_pack("{s:I}", "commit", (json_int_t)batch);
    if (doc == NULL)
        return tb_err_nomem(err);
    if (batch > tb_ckpt_last_offsets(ckpt) || batch < ckpt->last_commit)
        rc = TB_ERRF(err, TB_E_MISUSE, "checkpoint: commit of batch %" PRId64 " out of order",
                     batch);
    else
        rc = append_record(ckpt, doc, NULL, -1, batch, data, len, body, err);
    json_decref(doc);
    return rc;
}

tb_rc tb_ckpt_write_commit_state(tb_ckpt *ckpt, int64_t batch, const void *state, size_t len,
                                 tb_err *err)
{
    return write_commit(ckpt, batch, state, len, BODY_IMAGE, err);
}

tb_rc tb_ckpt_write_commit_changelog(tb_ckpt *ckpt, int64_t batch, const void *changelog,
                                     size_t len, tb_err *err)
{
    return write_commit(ckpt, batch, changelog, len, BODY_CHANGELOG, err);
}

tb_rc tb_ckpt_write_commit(tb_ckpt *ckpt, int64_t batch, tb_err *err)
{
    tb_buf p = {0};
    json_t *doc = json_pack("{s:I, s:I}", "batch", (json_int_t)batch, "committed_us",
                            (json_int_t)tb_wall_us());
    tb_rc rc;
    if (doc == NULL || path_of(ckpt, "commits", -1, &p) != TB_OK)
        rc = tb_err_nomem(err);
    else if ((rc = tb_mkdirs(p.data, err)) == TB_OK) {
        if (path_of(ckpt, "commits", batch, &p) != TB_OK)
            rc = tb_err_nomem(err);
        else
            rc = write_file_record(p.data, doc, err);
    }
    if (rc == TB_OK && batch >= ckpt->last_commit) {
        ckpt->last_commit = batch;
        ckpt->anchor = ANCHOR_OLD;
        ckpt->old_image = batch;
        rebase(ckpt);
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
    if (path_of(ckpt, "state", -1, &p) != TB_OK) {
        rc = tb_err_nomem(err);
        goto done;
    }
    rc = tb_mkdirs(p.data, err);
    if (rc != TB_OK)
        goto done;
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

/* ---------------------------------------------------------------- reads */

static const rec_ix *ix_offsets(const tb_ckpt *ckpt, int64_t batch)
{
    for (size_t i = 0; i < ckpt->n_ix; i++)
        if (ckpt->ix[i].batch == batch)
            return &ckpt->ix[i];
    return NULL;
}

tb_rc tb_ckpt_read_offsets(tb_ckpt *ckpt, int64_t batch, tb_ckpt_offsets *off, tb_err *err)
{
    tb_buf p = {0};
    json_t *doc = NULL;
    char *buf = NULL;
    const char *state = NULL;
    size_t slen = 0;
    tb_rc rc;
    const rec_ix *r = ix_offsets(ckpt, batch);
    if (r != NULL) {
        rc = read_log_record(ckpt, r->seq, r->off, &doc, &buf, &state, &slen, err);
        if (rc == TB_OK && seg_path(ckpt, r->seq, &p) != TB_OK)
            rc = tb_err_nomem(err);
    } else {
        if (path_of(ckpt, "offsets", batch, &p) != TB_OK)
            return tb_err_nomem(err);
        rc = read_file_record(p.data, &doc, &buf, &state, &slen, err);
        if (rc == TB_E_NOTFOUND)
            rc = TB_ERRF(err, TB_E_NOTFOUND, "checkpoint: no offsets of batch %" PRId64 " in %s",
                         batch, ckpt->dir);
    }
    if (rc == TB_OK)
        rc = offsets_from(p.data, doc, state, slen, true, off, err);
    if (rc == TB_OK && off->batch != batch)
        rc = TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s holds batch %" PRId64, p.data,
                     off->batch);
    json_decref(doc);
    tb_free(buf);
    tb_buf_free(&p);
    return rc;
}

/* Old layout state/N. */
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
    *out_data = NULL;
    *out_len = 0;
    const rec_ix *r = NULL;
    for (size_t i = ckpt->n_ix; i > 0 && r == NULL; i--)
        if (ckpt->ix[i - 1].commit == batch && ckpt->ix[i - 1].image)
            r = &ckpt->ix[i - 1];
    if (r == NULL) {
        tb_rc rc = read_state_file(ckpt, batch, out_data, out_len, err);
        if (rc == TB_E_NOTFOUND)
            rc = TB_ERRF(err, TB_E_NOTFOUND,
                         "checkpoint: %s: no state kept for batch %" PRId64, ckpt->dir, batch);
        return rc;
    }
    json_t *doc = NULL;
    char *buf = NULL;
    const char *state = NULL;
    size_t slen = 0;
    tb_rc rc = read_log_record(ckpt, r->seq, r->off, &doc, &buf, &state, &slen, err);
    json_decref(doc);
    if (rc == TB_OK && state == NULL)
        rc = TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s: the commit of batch %" PRId64
                     " has no state", ckpt->dir, batch);
    if (rc == TB_OK && (*out_data = tb_malloc(slen + 1)) == NULL)
        rc = tb_err_nomem(err);
    if (rc == TB_OK) {
        memcpy(*out_data, state, slen);
        *out_len = slen;
    }
    tb_free(buf);
    return rc;
}

/* ---------------------------------------------------------------- scan, compaction */

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

/* Call fn for each batch of offsets/<compact>.compact. */
static tb_rc scan_compact(tb_ckpt *ckpt, tb_ckpt_scan_fn fn, void *ud, tb_err *err)
{
    tb_buf p = {0};
    char *data = NULL;
    size_t len = 0;
    if (compact_path(ckpt, ckpt->compact, &p) != TB_OK)
        return tb_err_nomem(err);
    tb_rc rc = tb_file_read_all(p.data, MAX_FILE, &data, &len, err);
    if (rc == TB_OK)
        rc = tb_ckpt_parse_compact(p.data, data, len, fn, ud, err);
    if (rc == TB_OK) {
        /* the header's count (the parse checked it against the lines) */
        const char *nl = memchr(data, '\n', len);
        json_t *h = nl != NULL ? json_loadb(data, (size_t)(nl - data), 0, NULL) : NULL;
        ckpt->compact_entries = (uint64_t)json_integer_value(json_object_get(h, "batches"));
        ckpt->compact_bytes = len;
        json_decref(h);
    }
    tb_free(data);
    tb_buf_free(&p);
    return rc;
}

/* Old-layout offsets/b for from < b <= upto (missing ones skipped), without states. */
static tb_rc scan_old_files(tb_ckpt *ckpt, int64_t from, int64_t upto, tb_ckpt_scan_fn fn,
                            void *ud, tb_err *err)
{
    tb_rc rc = TB_OK;
    tb_buf p = {0};
    for (int64_t b = from + 1; b <= upto && rc == TB_OK; b++) {
        tb_ckpt_offsets off = {0};
        json_t *doc = NULL;
        char *buf = NULL;
        const char *state = NULL;
        size_t slen = 0;
        if (path_of(ckpt, "offsets", b, &p) != TB_OK)
            return tb_err_nomem(err);
        rc = read_file_record(p.data, &doc, &buf, &state, &slen, err);
        if (rc == TB_E_NOTFOUND) {
            tb_err_clear(err);
            rc = TB_OK;
        } else if (rc == TB_OK) {
            rc = offsets_from(p.data, doc, state, slen, false, &off, err);
            if (rc == TB_OK && off.batch != b)
                rc = TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s holds batch %" PRId64, p.data,
                             off.batch);
            if (rc == TB_OK)
                rc = fn(ud, &off, err);
        }
        json_decref(doc);
        tb_free(buf);
        tb_ckpt_offsets_clear(&off);
    }
    tb_buf_free(&p);
    return rc;
}

/* The log's offsets records with from < batch <= upto, from their compact lines. */
static tb_rc scan_log(tb_ckpt *ckpt, int64_t from, int64_t upto, tb_ckpt_scan_fn fn, void *ud,
                      tb_err *err)
{
    tb_rc rc = TB_OK;
    for (size_t i = 0; i < ckpt->n_ix && rc == TB_OK; i++) {
        const rec_ix *r = &ckpt->ix[i];
        if (r->batch <= from || r->batch > upto || r->line_end == r->line_start)
            continue;
        json_t *doc = json_loadb(ckpt->lines.data + r->line_start,
                                 r->line_end - r->line_start - 1, 0, NULL);
        tb_ckpt_offsets off = {0};
        rc = doc == NULL ? tb_err_nomem(err)
                         : offsets_from(ckpt->dir, doc, NULL, 0, false, &off, err);
        if (rc == TB_OK)
            rc = fn(ud, &off, err);
        json_decref(doc);
        tb_ckpt_offsets_clear(&off);
    }
    return rc;
}

tb_rc tb_ckpt_scan(tb_ckpt *ckpt, tb_ckpt_scan_fn fn, void *ud, tb_err *err)
{
    tb_rc rc = TB_OK;
    if (ckpt->compact >= 0)
        rc = scan_compact(ckpt, fn, ud, err);
    if (rc == TB_OK && ckpt->old_last > ckpt->compact)
        rc = scan_old_files(ckpt, ckpt->compact, ckpt->old_last, fn, ud, err);
    if (rc == TB_OK) {
        int64_t from = ckpt->old_last > ckpt->compact ? ckpt->old_last : ckpt->compact;
        rc = scan_log(ckpt, from, INT64_MAX, fn, ud, err);
    }
    return rc;
}

/* Delete numeric files <= upto of DIR/kind, except `keep`, and compacts < upto. */
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
    /* the last commit's record must be durable before what it supersedes goes */
    tb_rc src = tb_ckpt_sync(ckpt, err);
    if (src != TB_OK)
        return src;
    int64_t through = ckpt->last_commit;
    if (tb_ckpt_last_offsets(ckpt) - 1 < through)
        through = tb_ckpt_last_offsets(ckpt) - 1;
    if (through <= ckpt->compact)
        return TB_OK;
    tb_buf out = {0}, lines = {0}, p = {0};
    compact_ctx c = {&lines, 0};
    tb_rc rc = TB_OK;
    if (ckpt->compact >= 0)
        rc = scan_compact(ckpt, compact_put, &c, err);
    if (rc == TB_OK && ckpt->old_last > ckpt->compact)
        rc = scan_old_files(ckpt, ckpt->compact, through < ckpt->old_last ? through : ckpt->old_last,
                            compact_put, &c, err);
    int64_t from = ckpt->old_last > ckpt->compact ? ckpt->old_last : ckpt->compact;
    for (size_t i = 0; rc == TB_OK && i < ckpt->n_ix; i++) {
        const rec_ix *r = &ckpt->ix[i];
        if (r->batch <= from || r->batch > through || r->line_end == r->line_start)
            continue;
        if (tb_buf_append(&lines, ckpt->lines.data + r->line_start, r->line_end - r->line_start) !=
            TB_OK)
            rc = tb_err_nomem(err);
        c.n++;
    }
    if (rc != TB_OK)
        goto done;
    json_t *h = json_pack("{s:I, s:I}", "compact_through", (json_int_t)through, "batches",
                          (json_int_t)c.n);
    if (h == NULL || put_json_line(&out, h) != TB_OK ||
        tb_buf_append(&out, lines.data, lines.len) != TB_OK || put_trailer(&out, 0) != TB_OK ||
        compact_path(ckpt, through, &p) != TB_OK) {
        json_decref(h);
        rc = tb_err_nomem(err);
        goto done;
    }
    json_decref(h);
    rc = tb_file_write_atomic(p.data, out.data, out.len, err);
    if (rc != TB_OK)
        goto done;
    /* Point of no return: the compact is durable; what it covers can go, except the
     * record of the last commit and anything above `through`. */
    int64_t keep = ckpt->anchor == ANCHOR_OLD ? ckpt->last_commit : -1;
    purge(ckpt, "offsets", through, -1);
    purge(ckpt, "commits", through, keep);
    purge(ckpt, "state", through, keep);
    size_t w = 0;
    int64_t keep_from = keep_seq(ckpt); /* the base and the changelogs after it */
    for (size_t i = 0; i < ckpt->n_segs; i++) {
        seg_info *s = &ckpt->segs[i];
        bool last = i + 1 == ckpt->n_segs;
        bool holds_anchor = ckpt->anchor == ANCHOR_LOG && s->seq >= ckpt->anchor_seq;
        if (!last && !holds_anchor && ckpt->anchor == ANCHOR_LOG && s->max_batch <= through &&
            s->seq < keep_from) {
            if (seg_path(ckpt, s->seq, &p) == TB_OK)
                (void)unlink(p.data);
            continue;
        }
        ckpt->segs[w++] = *s;
    }
    ckpt->n_segs = w;
    /* keep the index of the live segments; lines only above `through` */
    tb_buf kept = {0};
    size_t wi = 0;
    for (size_t i = 0; i < ckpt->n_ix; i++) {
        rec_ix r = ckpt->ix[i];
        if (seg_find(ckpt, r.seq) == NULL)
            continue;
        size_t ls = kept.len;
        if (r.batch > through && r.line_end > r.line_start &&
            tb_buf_append(&kept, ckpt->lines.data + r.line_start, r.line_end - r.line_start) !=
                TB_OK)
            ls = kept.len; /* out of memory: the line is lost; scans re-read nothing */
        size_t le = kept.len;
        r.line_start = ls;
        r.line_end = le;
        ckpt->ix[wi++] = r;
    }
    ckpt->n_ix = wi;
    tb_buf_free(&ckpt->lines);
    ckpt->lines = kept;
    ckpt->compact = through;
    ckpt->compact_entries = c.n;
    ckpt->compact_bytes = out.len;
    if (ckpt->old_last <= through)
        ckpt->old_last = -1;
done:
    tb_buf_free(&out);
    tb_buf_free(&lines);
    tb_buf_free(&p);
    return rc;
}

/* Delete the snapshots older than the base (its reference is durable). */
static void purge_snapshots(tb_ckpt *ckpt)
{
    tb_buf p = {0};
    ckpt->snap_purge = false;
    if (ckpt->snap_ref < 0 || tb_buf_printf(&p, "%s/state", ckpt->dir) != TB_OK) {
        tb_buf_free(&p);
        return;
    }
    DIR *d = opendir(p.data);
    size_t base = p.len;
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
        char *end = NULL;
        if (strncmp(de->d_name, "snapshot-", 9) != 0)
            continue;
        long long v = strtoll(de->d_name + 9, &end, 10);
        if (*end != '\0' || v >= ckpt->snap_ref)
            continue;
        p.len = base;
        if (tb_buf_printf(&p, "/%s", de->d_name) == TB_OK)
            (void)unlink(p.data); /* readers never use an unreferenced snapshot */
    }
    if (d != NULL)
        closedir(d);
    tb_buf_free(&p);
}

tb_rc tb_ckpt_maybe_compact(tb_ckpt *ckpt, bool *out_done, tb_err *err)
{
    if (out_done != NULL)
        *out_done = false;
    /* Due when the log moved to a new segment that holds the last commit (so the older
     * ones can go), or when an old-layout checkpoint left files behind. */
    if (ckpt->anchor != ANCHOR_LOG)
        return TB_OK;
    int64_t through = ckpt->last_commit;
    if (tb_ckpt_last_offsets(ckpt) - 1 < through)
        through = tb_ckpt_last_offsets(ckpt) - 1;
    if (ckpt->snap_purge && ckpt->dirty_since_ns == 0)
        purge_snapshots(ckpt); /* the reference to the base is durable */
    bool due = ckpt->old_last > ckpt->compact && ckpt->old_last <= through;
    int64_t keep_from = keep_seq(ckpt);
    for (size_t i = 0; !due && i + 1 < ckpt->n_segs; i++)
        due = ckpt->segs[i].seq < ckpt->anchor_seq && ckpt->segs[i].seq < keep_from &&
              ckpt->segs[i].max_batch <= through;
    if (!due)
        return TB_OK;
    int64_t before = ckpt->compact;
    tb_rc rc = tb_ckpt_compact(ckpt, err);
    if (out_done != NULL)
        *out_done = rc == TB_OK && ckpt->compact != before;
    return rc;
}

void tb_ckpt_rotate(tb_ckpt *ckpt)
{
    ckpt->rotate = true;
}

/* ---------------------------------------------------------------- snapshots */

/* Header "TBSNAP02", u64 batch, u64 groups (the aggregate's group count, a sizing hint
 * for the restore; 0 unknown), u32 CRC-32 of those 24 bytes ("TBSNAP01": no groups, a
 * 20-byte header, still read); records u32 length, u32 CRC-32, data; end: u32 SNAP_END,
 * u32 CRC-32 of (u64 records, u64 data bytes), those. */
#define SNAP_HEAD    28
#define SNAP_HEAD_V1 20
#define SNAP_END     0xffffffffu
/* A record larger than this is damage (snapshot blocks are a few MB). */
#define SNAP_MAX_RECORD ((uint64_t)1 << 30)
static const char snap_magic[8] = {'T', 'B', 'S', 'N', 'A', 'P', '0', '2'};
static const char snap_magic_v1[8] = {'T', 'B', 'S', 'N', 'A', 'P', '0', '1'};

struct tb_ckpt_snapshot {
    tb_ckpt *ckpt;
    int64_t batch;
    int fd;
    tb_buf path;  /* the temp name */
    tb_buf final; /* the final name and the directory: made by the caller's thread, so */
    tb_buf dir;   /* the writer thread allocates nothing */
    tb_buf buf;   /* bytes not yet written (the header first) */
    uint64_t written, n_records, data_bytes;
    /* In memory (begin_async): the records back to back, each its frame (length, and a
     * CRC-32 the writer fills in: computed off the batch path) then its data. */
    bool mem;
    tb_buf img;
    tb_err err; /* the writer thread's outcome */
    tb_rc rc;
};

bool tb_ckpt_snapshot_due(const tb_ckpt *ckpt)
{
    uint64_t floor = ckpt->snap_min;
    if (ckpt->last_commit < 0 || ckpt->snap_pending >= 0 || ckpt->wr_snap != NULL ||
        base_batch(ckpt) >= ckpt->last_commit)
        return false;
    if (base_kind(ckpt) == TB_CKPT_BASE_IMAGE)
        return true; /* an older release's image: move to snapshot + changelogs */
    if (ckpt->snap_min == 0)
        return ckpt->chg_bytes > 0; /* tests: a snapshot at every commit */
    if (base_kind(ckpt) == TB_CKPT_BASE_SNAPSHOT && ckpt->snap_size > floor)
        floor = ckpt->snap_size;
    return ckpt->chg_bytes > floor;
}

void tb_ckpt_set_snapshot_min_bytes(tb_ckpt *ckpt, uint64_t bytes)
{
    ckpt->snap_min = bytes;
}

int64_t tb_ckpt_snapshot_batch(const tb_ckpt *ckpt)
{
    return ckpt->snap_pending >= 0 ? ckpt->snap_pending : ckpt->snap_ref;
}

uint64_t tb_ckpt_changelog_bytes(const tb_ckpt *ckpt)
{
    return ckpt->chg_bytes;
}

static tb_rc write_all(tb_ckpt_snapshot *snap, const char *data, size_t len, tb_err *err)
{
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(snap->fd, data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return TB_ERRF(err, TB_E_IO, "checkpoint: write to %s: %s", snap->path.data,
                           w < 0 ? strerror(errno) : "no progress");
        done += (size_t)w;
    }
    snap->written += done;
    return TB_OK;
}

static tb_rc snap_flush(tb_ckpt_snapshot *snap, tb_err *err)
{
    tb_rc rc = write_all(snap, snap->buf.data, snap->buf.len, err);
    if (rc == TB_OK)
        snap->buf.len = 0;
    return rc;
}

void tb_ckpt_snapshot_abort(tb_ckpt_snapshot *snap)
{
    if (snap == NULL)
        return;
    if (snap->fd >= 0) {
        close(snap->fd);
        (void)unlink(snap->path.data);
    }
    tb_buf_free(&snap->img);
    tb_buf_free(&snap->path);
    tb_buf_free(&snap->final);
    tb_buf_free(&snap->dir);
    tb_buf_free(&snap->buf);
    tb_free(snap);
}

static void put_header(tb_ckpt_snapshot *snap, uint64_t groups)
{
    char *head = snap->buf.data;
    uint32_t c;
    memcpy(head, snap_magic, 8);
    memcpy(head + 8, &snap->batch, 8);
    memcpy(head + 16, &groups, 8);
    c = crc(head, 24);
    memcpy(head + 24, &c, 4);
}

/* The temp file (created by the caller: a clear error at once) and the names. */
static tb_rc snap_new(tb_ckpt *ckpt, int64_t batch, bool mem, tb_ckpt_snapshot **out,
                      tb_err *err)
{
    tb_ckpt_snapshot *snap = tb_calloc(1, sizeof(*snap));
    tb_rc rc;
    *out = NULL;
    if (snap == NULL)
        return tb_err_nomem(err);
    snap->fd = -1;
    snap->ckpt = ckpt;
    snap->batch = batch;
    snap->mem = mem;
    if (batch < 0 || batch > ckpt->last_commit) {
        rc = TB_ERRF(err, TB_E_MISUSE,
                     "checkpoint: snapshot of batch %" PRId64 " (last commit %" PRId64 ")",
                     batch, ckpt->last_commit);
        goto fail;
    }
    if (snapshot_path(ckpt, batch, true, &snap->path) != TB_OK ||
        snapshot_path(ckpt, batch, false, &snap->final) != TB_OK ||
        tb_buf_printf(&snap->dir, "%s/state", ckpt->dir) != TB_OK ||
        tb_buf_reserve(&snap->buf, SNAP_HEAD) != TB_OK) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    snap->fd = open(snap->path.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (snap->fd < 0) {
        rc = TB_ERRF(err, TB_E_IO, "checkpoint: cannot create '%s': %s", snap->path.data,
                     strerror(errno));
        goto fail;
    }
    snap->buf.len = SNAP_HEAD;
    put_header(snap, 0);
    *out = snap;
    return TB_OK;
fail:
    tb_ckpt_snapshot_abort(snap);
    return rc;
}

tb_rc tb_ckpt_snapshot_begin(tb_ckpt *ckpt, int64_t batch, tb_ckpt_snapshot **out, tb_err *err)
{
    return snap_new(ckpt, batch, false, out, err);
}

tb_rc tb_ckpt_snapshot_begin_async(tb_ckpt *ckpt, int64_t batch, tb_ckpt_snapshot **out,
                                   tb_err *err)
{
    tb_rc rc;
    *out = NULL;
    if (ckpt->wr_snap != NULL)
        return TB_ERRF(err, TB_E_MISUSE, "checkpoint: a snapshot is already being written");
    rc = snap_new(ckpt, batch, true, out, err);
    if (rc == TB_OK) { /* the kept buffer: its pages are already there */
        (*out)->img = ckpt->img;
        (*out)->img.len = 0;
        memset(&ckpt->img, 0, sizeof(ckpt->img));
    }
    return rc;
}

void tb_ckpt_snapshot_set_groups(tb_ckpt_snapshot *snap, uint64_t groups)
{
    if (snap->written == 0) /* the header is still in buf */
        put_header(snap, groups);
}

tb_rc tb_ckpt_snapshot_put_tagged(tb_ckpt_snapshot *snap, char tag, const void *data, size_t len,
                                  tb_err *err)
{
    uint32_t hdr[2];
    size_t n = len + 1;
    if ((uint64_t)n >= SNAP_MAX_RECORD)
        return TB_ERRF(err, TB_E_LIMIT, "checkpoint: a snapshot record of %zu bytes is too large",
                       n);
    hdr[0] = (uint32_t)n;
    /* in memory: one copy, no checksum (the batch pays a memcpy, the writer the rest) */
    hdr[1] = snap->mem ? 0 : crc_more(crc_more(crc32(0L, Z_NULL, 0), &tag, 1), data, len);
    tb_buf *b = snap->mem ? &snap->img : &snap->buf;
    if (tb_buf_append(b, hdr, 8) != TB_OK || tb_buf_putc(b, tag) != TB_OK ||
        (len > 0 && tb_buf_append(b, data, len) != TB_OK))
        return tb_err_nomem(err);
    snap->n_records++;
    snap->data_bytes += n;
    return !snap->mem && snap->buf.len >= ((size_t)4 << 20) ? snap_flush(snap, err) : TB_OK;
}

tb_rc tb_ckpt_snapshot_put(tb_ckpt_snapshot *snap, const void *data, size_t len, tb_err *err)
{
    uint32_t hdr[2];
    if ((uint64_t)len >= SNAP_MAX_RECORD)
        return TB_ERRF(err, TB_E_LIMIT, "checkpoint: a snapshot record of %zu bytes is too large",
                       len);
    if (snap->mem) {
        /* one copy, no checksum: the batch pays a memcpy, the writer the rest */
        hdr[0] = (uint32_t)len;
        hdr[1] = 0;
        if (tb_buf_append(&snap->img, hdr, 8) != TB_OK ||
            (len > 0 && tb_buf_append(&snap->img, data, len) != TB_OK))
            return tb_err_nomem(err);
        snap->n_records++;
        snap->data_bytes += len;
        return TB_OK;
    }
    hdr[0] = (uint32_t)len;
    hdr[1] = crc(data, len);
    if (tb_buf_append(&snap->buf, hdr, 8) != TB_OK ||
        (len > 0 && tb_buf_append(&snap->buf, data, len) != TB_OK))
        return tb_err_nomem(err);
    snap->n_records++;
    snap->data_bytes += len;
#ifdef TB_FAULTS
    /* recovery tests: killed with part of the snapshot written (no end record, temp name) */
    if (snap->n_records == 1) {
        tb_rc rc = snap_flush(snap, err);
        if (rc != TB_OK)
            return rc;
        tb_crash_point("ckpt-snapshot");
    }
#endif
    /* buffered up to ~4 MB: the blocks come in a few MB each, written as they come */
    return snap->buf.len >= ((size_t)4 << 20) ? snap_flush(snap, err) : TB_OK;
}

tb_rc tb_ckpt_snapshot_put_fn(void *ud, const void *data, size_t len, tb_err *err)
{
    return tb_ckpt_snapshot_put(ud, data, len, err);
}

/*
 * Everything not yet written (the records kept in memory: their checksums computed
 * here), the end record, fsync, rename, fsync of state/. Touches nothing of snap->ckpt:
 * the writer thread runs it while the batches go on.
 */
static tb_rc snap_complete(tb_ckpt_snapshot *snap, tb_err *err)
{
    uint32_t end[2];
    uint64_t counts[2] = {snap->n_records, snap->data_bytes};
    tb_rc rc = snap_flush(snap, err); /* the header (in memory mode) */
    size_t first = 0;
    for (size_t at = 0; at + 8 <= snap->img.len;) { /* the checksums (built by put) */
        uint32_t len, c;
        memcpy(&len, snap->img.data + at, 4);
        c = crc(snap->img.data + at + 8, len);
        memcpy(snap->img.data + at + 4, &c, 4);
        at += 8 + (size_t)len;
        if (first == 0)
            first = at;
    }
    if (rc == TB_OK && first > 0) {
        rc = write_all(snap, snap->img.data, first, err);
        /* recovery tests: killed inside the writer, part of the snapshot written */
        tb_crash_point("ckpt-snapshot");
        if (rc == TB_OK)
            rc = write_all(snap, snap->img.data + first, snap->img.len - first, err);
    }
    end[0] = SNAP_END;
    end[1] = crc(counts, 16);
    if (rc == TB_OK) {
        memcpy(snap->buf.data, end, 8); /* buf has room: it held the 28-byte header */
        memcpy(snap->buf.data + 8, counts, 16);
        snap->buf.len = 24;
        rc = snap_flush(snap, err);
    }
    if (rc == TB_OK && fsync(snap->fd) != 0)
        rc = TB_ERRF(err, TB_E_IO, "checkpoint: fsync '%s': %s", snap->path.data,
                     strerror(errno));
    if (rc != TB_OK)
        return rc;
    /* recovery tests: the whole snapshot written and synced, under its temp name */
    tb_crash_point("ckpt-snapshot-rename");
    if (rename(snap->path.data, snap->final.data) != 0)
        return TB_ERRF(err, TB_E_IO, "checkpoint: rename '%s': %s", snap->path.data,
                       strerror(errno));
    close(snap->fd);
    snap->fd = -1; /* renamed: abort must not unlink */
    rc = fsync_dir(snap->dir.data, err);
    if (rc != TB_OK)
        return rc;
    /* recovery tests: the snapshot in place, not yet referenced by the log */
    tb_crash_point("ckpt-snapshot-done");
    return TB_OK;
}

tb_rc tb_ckpt_snapshot_finish(tb_ckpt_snapshot *snap, tb_err *err)
{
    tb_ckpt *ckpt = snap->ckpt;
    tb_rc rc = tb_buf_reserve(&snap->buf, 24) == TB_OK ? snap_complete(snap, err)
                                                          : tb_err_nomem(err);
    if (rc == TB_OK) {
        /* The next record references it; until then it is not the base. */
        ckpt->snap_pending = snap->batch;
        ckpt->snap_pending_size = snap->written;
    }
    tb_ckpt_snapshot_abort(snap);
    return rc;
}

/*
 * Fresh memory is what the batch would pay for (a page fault per 4 kB page: 145 MB of
 * new pages cost ~450 ms on the test machine, copying into touched ones ~20 ms). So
 * the image buffer is kept for the next snapshot and, here off the batch path, grown to
 * twice this image (the next one is due once the changelogs outweigh this one: the
 * state is at most about twice as large then) with every page touched. Memory: at most
 * that one buffer, about twice the largest snapshot; it shrinks when the state did.
 */
static void img_prepare(tb_buf *img)
{
    size_t want = img->len * 2 + ((size_t)1 << 20), at = img->len;
    if (img->cap > want * 2 && img->cap > ((size_t)64 << 20)) {
        tb_buf_free(img); /* the state shrank: do not hold four times what it needs */
        at = 0;
    }
    img->len = 0;
    if (want > img->cap) { /* exactly that (tb_buf_reserve would double past it) */
        char *p = tb_realloc(img->data, want);
        if (p == NULL)
            return; /* the next copy grows it as it goes */
        img->data = p;
        img->cap = want;
    }
    if (img->cap > at)
        memset(img->data + at, 0, img->cap - at);
}

static void *writer_main(void *arg)
{
    tb_ckpt_snapshot *snap = arg;
    tb_err_clear(&snap->err);
    snap->rc = snap_complete(snap, &snap->err);
    img_prepare(&snap->img);
    atomic_store(&snap->ckpt->wr_done, true);
    return NULL;
}

tb_rc tb_ckpt_snapshot_submit(tb_ckpt_snapshot *snap, tb_err *err)
{
    tb_ckpt *ckpt = snap->ckpt;
    if (!snap->mem || ckpt->wr_snap != NULL) {
        tb_ckpt_snapshot_abort(snap);
        return TB_ERRF(err, TB_E_MISUSE, "checkpoint: snapshot submitted twice or not in memory");
    }
    if (tb_buf_reserve(&snap->buf, 24) != TB_OK) {
        tb_ckpt_snapshot_abort(snap);
        return tb_err_nomem(err);
    }
    atomic_store(&ckpt->wr_done, false);
    ckpt->wr_snap = snap;
    if (pthread_create(&ckpt->wr_thread, NULL, writer_main, snap) != 0) {
        /* no thread to be had: write it here (the batch waits, as before issue 9's fix) */
        ckpt->wr_snap = NULL;
        return tb_ckpt_snapshot_finish(snap, err);
    }
    return TB_OK;
}

/* Join a finished (or, when block, any) writer: its snapshot becomes the pending one,
 * or its error waits in wr_err for tb_ckpt_snapshot_wait. */
static void writer_reap(tb_ckpt *ckpt, bool block)
{
    tb_ckpt_snapshot *snap = ckpt->wr_snap;
    if (snap == NULL || (!block && !atomic_load(&ckpt->wr_done)))
        return;
    (void)pthread_join(ckpt->wr_thread, NULL);
    ckpt->wr_snap = NULL;
    tb_buf_free(&ckpt->img);
    ckpt->img = snap->img; /* kept for the next snapshot (img_prepare) */
    memset(&snap->img, 0, sizeof(snap->img));
    if (snap->rc == TB_OK) {
        if (snap->batch > ckpt->snap_ref && snap->batch > ckpt->snap_pending) {
            ckpt->snap_pending = snap->batch;
            ckpt->snap_pending_size = snap->written;
        }
    } else {
        ckpt->wr_failed = true;
        ckpt->wr_err = snap->err;
    }
    tb_ckpt_snapshot_abort(snap); /* after a failure: removes the temp file */
}

tb_rc tb_ckpt_snapshot_wait(tb_ckpt *ckpt, bool block, tb_err *err)
{
    writer_reap(ckpt, block);
    if (!ckpt->wr_failed)
        return TB_OK;
    ckpt->wr_failed = false;
    *err = ckpt->wr_err;
    return err->code != TB_OK ? err->code : TB_E_IO;
}

bool tb_ckpt_snapshot_in_flight(const tb_ckpt *ckpt)
{
    return ckpt->wr_snap != NULL;
}

/* ---------------------------------------------------------------- restore */

struct tb_ckpt_restore {
    tb_ckpt *ckpt;
    tb_ckpt_base kind;
    int64_t base;
    /* snapshot reading */
    FILE *fp;
    tb_buf path;
    uint64_t pos, n_records, data_bytes;
    uint64_t groups; /* the snapshot header's group count, 0 unknown */
    bool snap_done;
    char *rec;
    size_t rec_cap;
    /* changelogs */
    size_t next_ix;
    int64_t next_batch;
    char *buf; /* the record read last (changelog or image) */
    char *image;
};

tb_ckpt_base tb_ckpt_restore_base(const tb_ckpt_restore *r, int64_t *out_batch)
{
    if (out_batch != NULL)
        *out_batch = r->base;
    return r->kind;
}

uint64_t tb_ckpt_restore_groups(const tb_ckpt_restore *r)
{
    return r->groups;
}

void tb_ckpt_restore_end(tb_ckpt_restore *r)
{
    if (r == NULL)
        return;
    if (r->fp != NULL)
        fclose(r->fp);
    tb_buf_free(&r->path);
    tb_free(r->rec);
    tb_free(r->buf);
    tb_free(r->image);
    tb_free(r);
}

static tb_rc snap_damaged(const tb_ckpt_restore *r, const char *what, tb_err *err)
{
    return TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s is damaged (%s at offset %" PRIu64 ")",
                   r->path.data, what, r->pos);
}

tb_rc tb_ckpt_restore_begin(tb_ckpt *ckpt, tb_ckpt_restore **out, tb_err *err)
{
    tb_ckpt_restore *r = tb_calloc(1, sizeof(*r));
    char head[SNAP_HEAD];
    *out = NULL;
    if (r == NULL)
        return tb_err_nomem(err);
    r->ckpt = ckpt;
    r->base = base_batch(ckpt);
    r->kind = base_kind(ckpt);
    r->next_batch = r->base + 1;
    if (r->base > ckpt->last_commit) {
        tb_rc rc = TB_ERRF(err, TB_E_CORRUPT,
                           "checkpoint: %s: the state base (batch %" PRId64
                           ") is past the last commit (%" PRId64 ")",
                           ckpt->dir, r->base, ckpt->last_commit);
        tb_ckpt_restore_end(r);
        return rc;
    }
    if (r->kind == TB_CKPT_BASE_SNAPSHOT) {
        int64_t batch;
        uint32_t c;
        if (snapshot_path(ckpt, r->base, false, &r->path) != TB_OK) {
            tb_ckpt_restore_end(r);
            return tb_err_nomem(err);
        }
        r->fp = fopen(r->path.data, "rb");
        if (r->fp == NULL) {
            tb_rc rc = TB_ERRF(err, TB_E_CORRUPT,
                               "checkpoint: %s, referenced by the log, cannot be read: %s",
                               r->path.data, strerror(errno));
            tb_ckpt_restore_end(r);
            return rc;
        }
        size_t hl = 0;
        if (fread(head, 1, 8, r->fp) == 8)
            hl = memcmp(head, snap_magic, 8) == 0      ? SNAP_HEAD
                 : memcmp(head, snap_magic_v1, 8) == 0 ? SNAP_HEAD_V1
                                                       : 0;
        if (hl == 0 || fread(head + 8, 1, hl - 8, r->fp) != hl - 8) {
            tb_rc rc = snap_damaged(r, "no snapshot header", err);
            tb_ckpt_restore_end(r);
            return rc;
        }
        memcpy(&batch, head + 8, 8);
        memcpy(&c, head + hl - 4, 4);
        if (c != crc(head, hl - 4) || batch != r->base) {
            tb_rc rc = snap_damaged(r, "bad header: checksum or batch", err);
            tb_ckpt_restore_end(r);
            return rc;
        }
        if (hl == SNAP_HEAD)
            memcpy(&r->groups, head + 16, 8);
        r->pos = hl;
    }
    *out = r;
    return TB_OK;
}

/* The next snapshot record from a reader (fp, or an image in memory). */
typedef struct snap_src {
    FILE *fp;
    const char *data;
    size_t len, at;
} snap_src;

static bool src_read(snap_src *s, void *dst, size_t n)
{
    if (s->fp != NULL)
        return fread(dst, 1, n, s->fp) == n;
    if (n > s->len - s->at)
        return false;
    memcpy(dst, s->data + s->at, n);
    s->at += n;
    return true;
}

/* One record: *out_rec (in *rec, grown) or NULL at a verified end. *pos advances. */
static tb_rc snap_record(snap_src *s, const char *name, uint64_t *pos, uint64_t *n_records,
                         uint64_t *data_bytes, char **rec, size_t *rec_cap, const char **out,
                         size_t *out_len, tb_err *err)
{
    uint32_t hdr[2];
    *out = NULL;
    *out_len = 0;
    if (!src_read(s, hdr, 8))
        return TB_ERRF(err, TB_E_CORRUPT,
                       "checkpoint: %s is damaged (cut short at offset %" PRIu64
                       ": no end record)",
                       name, *pos);
    if (hdr[0] == SNAP_END) {
        uint64_t counts[2];
        char extra;
        if (!src_read(s, counts, 16) || crc(counts, 16) != hdr[1] || counts[0] != *n_records ||
            counts[1] != *data_bytes)
            return TB_ERRF(err, TB_E_CORRUPT,
                           "checkpoint: %s is damaged (bad end record at offset %" PRIu64 ")",
                           name, *pos);
        if (src_read(s, &extra, 1))
            return TB_ERRF(err, TB_E_CORRUPT,
                           "checkpoint: %s is damaged (bytes after the end record at offset "
                           "%" PRIu64 ")",
                           name, *pos + 24);
        return TB_OK;
    }
    if (hdr[0] >= SNAP_MAX_RECORD || (s->fp == NULL && hdr[0] > s->len - s->at))
        return TB_ERRF(err, TB_E_CORRUPT,
                       "checkpoint: %s is damaged (bad record length at offset %" PRIu64 ")",
                       name, *pos);
    if ((size_t)hdr[0] + 1 > *rec_cap) {
        char *p = tb_realloc(*rec, (size_t)hdr[0] + 1);
        if (p == NULL)
            return tb_err_nomem(err);
        *rec = p;
        *rec_cap = (size_t)hdr[0] + 1;
    }
    if (!src_read(s, *rec, hdr[0]))
        return TB_ERRF(err, TB_E_CORRUPT,
                       "checkpoint: %s is damaged (cut short in the record at offset %" PRIu64
                       ")",
                       name, *pos);
    if (crc(*rec, hdr[0]) != hdr[1])
        return TB_ERRF(err, TB_E_CORRUPT,
                       "checkpoint: %s is damaged (checksum mismatch in the record at offset "
                       "%" PRIu64 ")",
                       name, *pos);
    *pos += 8 + (uint64_t)hdr[0];
    (*n_records)++;
    *data_bytes += hdr[0];
    *out = *rec;
    *out_len = hdr[0];
    return TB_OK;
}

tb_rc tb_ckpt_restore_snapshot_next(tb_ckpt_restore *r, const char **out_data, size_t *out_len,
                                    tb_err *err)
{
    snap_src src = {r->fp, NULL, 0, 0};
    *out_data = NULL;
    *out_len = 0;
    if (r->kind != TB_CKPT_BASE_SNAPSHOT || r->snap_done)
        return TB_OK;
    tb_rc rc = snap_record(&src, r->path.data, &r->pos, &r->n_records, &r->data_bytes, &r->rec,
                           &r->rec_cap, out_data, out_len, err);
    if (rc == TB_OK && *out_data == NULL)
        r->snap_done = true;
    return rc;
}

tb_rc tb_ckpt_parse_snapshot(const char *name, const char *data, size_t len, int64_t *out_batch,
                             tb_ckpt_record_fn fn, void *ud, tb_err *err)
{
    snap_src src = {NULL, data, len, 0};
    char head[SNAP_HEAD];
    uint64_t pos = 0, n_records = 0, data_bytes = 0;
    char *rec = NULL;
    size_t rec_cap = 0;
    uint32_t c;
    tb_rc rc = TB_OK;
    *out_batch = -1;
    if (src_read(&src, head, 8))
        pos = memcmp(head, snap_magic, 8) == 0      ? SNAP_HEAD
              : memcmp(head, snap_magic_v1, 8) == 0 ? SNAP_HEAD_V1
                                                    : 0;
    if (pos == 0 || !src_read(&src, head + 8, pos - 8))
        return TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s is damaged (no snapshot header)",
                       name);
    memcpy(&c, head + pos - 4, 4);
    if (c != crc(head, pos - 4))
        return TB_ERRF(err, TB_E_CORRUPT, "checkpoint: %s is damaged (header checksum)", name);
    memcpy(out_batch, head + 8, 8);
    for (;;) {
        const char *d = NULL;
        size_t n = 0;
        rc = snap_record(&src, name, &pos, &n_records, &data_bytes, &rec, &rec_cap, &d, &n, err);
        if (rc != TB_OK || d == NULL)
            break;
        if (fn != NULL && (rc = fn(ud, d, n, err)) != TB_OK)
            break;
    }
    tb_free(rec);
    return rc;
}

tb_rc tb_ckpt_restore_image(tb_ckpt_restore *r, const char **out_data, size_t *out_len,
                            tb_err *err)
{
    *out_data = NULL;
    *out_len = 0;
    if (r->kind != TB_CKPT_BASE_IMAGE)
        return TB_OK;
    tb_free(r->image);
    r->image = NULL;
    tb_rc rc = tb_ckpt_read_state(r->ckpt, r->base, &r->image, out_len, err);
    if (rc == TB_OK)
        *out_data = r->image;
    return rc;
}

tb_rc tb_ckpt_restore_changelog_next(tb_ckpt_restore *r, int64_t *out_batch,
                                     const char **out_data, size_t *out_len, tb_err *err)
{
    tb_ckpt *ckpt = r->ckpt;
    *out_data = NULL;
    *out_len = 0;
    *out_batch = -1;
    if (r->next_batch > ckpt->last_commit)
        return TB_OK;
    /* the index is in log order: commits ascend; a re-run batch's commit comes once */
    for (; r->next_ix < ckpt->n_ix; r->next_ix++) {
        const rec_ix *e = &ckpt->ix[r->next_ix];
        if (e->commit < r->next_batch)
            continue;
        if (e->commit > r->next_batch || e->image)
            break;
        json_t *doc = NULL;
        const char *body = NULL;
        size_t blen = 0;
        int kind = BODY_NONE;
        tb_buf p = {0};
        tb_free(r->buf);
        r->buf = NULL;
        tb_rc rc = read_log_record_body(ckpt, e->seq, e->off, &doc, &r->buf, &body, &blen, &kind,
                                        err);
        json_decref(doc);
        if (rc == TB_OK && (kind != BODY_CHANGELOG || body == NULL)) {
            (void)seg_path(ckpt, e->seq, &p);
            rc = TB_ERRF(err, TB_E_CORRUPT,
                         "checkpoint: %s: the commit of batch %" PRId64 " at offset %" PRIu64
                         " has no changelog",
                         p.data ? p.data : ckpt->dir, e->commit, e->off);
            tb_buf_free(&p);
        }
        if (rc != TB_OK)
            return rc;
        r->next_ix++;
        *out_batch = r->next_batch++;
        *out_data = body;
        *out_len = blen;
        return TB_OK;
    }
    return TB_ERRF(err, TB_E_CORRUPT,
                   "checkpoint: %s/log: the changelog of batch %" PRId64
                   " is missing (the state is restored from batch %" PRId64
                   " on, the last commit is %" PRId64 ")",
                   ckpt->dir, r->next_batch, r->base, ckpt->last_commit);
}
