/*
 * filesource.c - new-file discovery for the streaming file source (see filesource.h).
 *
 * State: one open-addressing hash set of names, each PENDING (discovered, not yet
 * taken) or SEEN (taken by a batch, or restored from the checkpoint). A name never goes
 * back from SEEN, so each file is handed out once. Pending names also sit in an array
 * with their modification time, kept in (mtime, name) order as they are discovered:
 * files land in time order, so an insertion is nearly always an append, and take() pops
 * from one end (the array is a window [head, head + n_pend) of its buffer) without
 * sorting anything.
 */
#include <dirent.h>
#include <errno.h>
#include <time.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stream/filesource.h"

enum { SLOT_EMPTY = 0, SLOT_PENDING = 1, SLOT_SEEN = 2 };

typedef struct slot {
    char *name;
    uint64_t hash;
    int state;
} slot;

typedef struct pending {
    char *name; /* shared with the slot */
    int64_t mtime_ns;
} pending;

struct tb_filewatch {
    char *dir;
    tb_filewatch_opts opts;
    int ino_fd; /* -1 when inotify is not in use */
    bool need_relist;
    int64_t last_list_ns;
    slot *slots;
    size_t n_slots; /* power of two */
    size_t n_used;
    size_t n_seen;
    pending *pend;
    size_t head, n_pend, cap_pend; /* pending: pend[head .. head + n_pend), ordered */
};

void tb_filewatch_opts_default(tb_filewatch_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->relist_ms = 10000;
    opts->use_inotify = true;
}

static bool hidden(const char *name)
{
    return name[0] == '.' || name[0] == '_';
}

static slot *find_slot(tb_filewatch *fw, const char *name, uint64_t h)
{
    size_t mask = fw->n_slots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        slot *s = &fw->slots[i];
        if (s->state == SLOT_EMPTY || (s->hash == h && strcmp(s->name, name) == 0))
            return s;
    }
}

static tb_rc grow_slots(tb_filewatch *fw)
{
    size_t n = fw->n_slots ? fw->n_slots * 2 : 1024;
    slot *old = fw->slots;
    size_t old_n = fw->n_slots;
    fw->slots = tb_calloc(n, sizeof(slot));
    if (fw->slots == NULL) {
        fw->slots = old;
        return TB_E_NOMEM;
    }
    fw->n_slots = n;
    for (size_t i = 0; i < old_n; i++)
        if (old[i].state != SLOT_EMPTY)
            *find_slot(fw, old[i].name, old[i].hash) = old[i];
    tb_free(old);
    return TB_OK;
}

/* Insert name with state if absent; *out_slot gets its slot either way. */
static tb_rc insert(tb_filewatch *fw, const char *name, int state, slot **out_slot,
                    bool *out_new)
{
    if ((fw->n_used + 1) * 2 > fw->n_slots && grow_slots(fw) != TB_OK)
        return TB_E_NOMEM;
    uint64_t h = tb_hash_bytes(name, strlen(name), 0);
    slot *s = find_slot(fw, name, h);
    *out_new = s->state == SLOT_EMPTY;
    if (*out_new) {
        s->name = tb_strdup(name);
        if (s->name == NULL)
            return TB_E_NOMEM;
        s->hash = h;
        s->state = state;
        fw->n_used++;
    }
    *out_slot = s;
    return TB_OK;
}

static bool suffix_ok(const tb_filewatch *fw, const char *name)
{
    return fw->opts.suffix == NULL || tb_str_ends_with(name, fw->opts.suffix);
}

static int cmp_oldest(const void *a, const void *b)
{
    const pending *x = a, *y = b;
    if (x->mtime_ns != y->mtime_ns)
        return x->mtime_ns < y->mtime_ns ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Insert p into the ordered pending window: an append when it is the newest (the usual
 * case), else a binary search and a shift. */
static tb_rc pend_insert(tb_filewatch *fw, pending p)
{
    if (fw->head + fw->n_pend == fw->cap_pend && fw->head > 0) {
        memmove(fw->pend, fw->pend + fw->head, fw->n_pend * sizeof(pending));
        fw->head = 0;
    }
    if (tb_grow((void **)&fw->pend, &fw->cap_pend, fw->head + fw->n_pend + 1,
                sizeof(pending)) != TB_OK)
        return TB_E_NOMEM;
    pending *w = fw->pend + fw->head;
    size_t lo = fw->n_pend;
    if (lo > 0 && cmp_oldest(&p, &w[lo - 1]) < 0) {
        size_t a = 0, b = lo; /* first element greater than p */
        while (a < b) {
            size_t mid = a + (b - a) / 2;
            if (cmp_oldest(&w[mid], &p) <= 0)
                a = mid + 1;
            else
                b = mid;
        }
        lo = a;
        memmove(w + lo + 1, w + lo, (fw->n_pend - lo) * sizeof(pending));
    }
    w[lo] = p;
    fw->n_pend++;
    return TB_OK;
}

/* A candidate file appeared: add it to pending unless known. */
static tb_rc discovered(tb_filewatch *fw, const char *name, tb_err *err)
{
    if (hidden(name) || !suffix_ok(fw, name))
        return TB_OK;
    if (fw->n_slots > 0 &&
        find_slot(fw, name, tb_hash_bytes(name, strlen(name), 0))->state != SLOT_EMPTY)
        return TB_OK; /* known: no stat, so a relist of a big directory stays cheap */
    tb_buf full = {0};
    if (tb_buf_printf(&full, "%s/%s", fw->dir, name) != TB_OK)
        return tb_err_nomem(err);
    struct stat st;
    int r = stat(full.data, &st);
    tb_buf_free(&full);
    if (r != 0 || !S_ISREG(st.st_mode))
        return TB_OK; /* vanished or not a file: nothing to read */
    slot *s;
    bool is_new;
    if (insert(fw, name, SLOT_PENDING, &s, &is_new) != TB_OK)
        return tb_err_nomem(err);
    if (!is_new)
        return TB_OK;
    pending p = {s->name,
                 (int64_t)st.st_mtim.tv_sec * 1000000000LL + (int64_t)st.st_mtim.tv_nsec};
    return pend_insert(fw, p) == TB_OK ? TB_OK : tb_err_nomem(err);
}

static tb_rc relist(tb_filewatch *fw, tb_err *err)
{
    DIR *d = opendir(fw->dir);
    if (d == NULL)
        return TB_ERRF(err, TB_E_IO, "file source: cannot list '%s': %s", fw->dir,
                       strerror(errno));
    tb_rc rc = TB_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN && de->d_type != DT_LNK)
            continue;
        rc = discovered(fw, de->d_name, err);
        if (rc != TB_OK)
            break;
    }
    closedir(d);
    fw->need_relist = false;
    fw->last_list_ns = tb_now_ns();
    return rc;
}

tb_rc tb_filewatch_open(const char *dir, const tb_filewatch_opts *opts, tb_filewatch **out,
                        tb_err *err)
{
    tb_filewatch *fw = tb_calloc(1, sizeof(*fw));
    *out = NULL;
    if (fw == NULL)
        return tb_err_nomem(err);
    fw->ino_fd = -1;
    fw->need_relist = true;
    if (opts != NULL)
        fw->opts = *opts;
    else
        tb_filewatch_opts_default(&fw->opts);
    fw->dir = tb_strdup(dir);
    if (fw->dir == NULL || (fw->opts.suffix != NULL &&
                            (fw->opts.suffix = tb_strdup(fw->opts.suffix)) == NULL)) {
        tb_filewatch_free(fw);
        return tb_err_nomem(err);
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        tb_rc rc = TB_ERRF(err, TB_E_IO, "file source: '%s' is not a readable directory%s%s",
                           dir, errno ? ": " : "", errno ? strerror(errno) : "");
        tb_filewatch_free(fw);
        return rc;
    }
    if (fw->opts.use_inotify) {
        fw->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fw->ino_fd >= 0 &&
            inotify_add_watch(fw->ino_fd, dir, IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
            tb_log(TB_LOG_WARN, "file source: inotify on '%s' failed (%s); listing instead",
                   dir, strerror(errno));
            close(fw->ino_fd);
            fw->ino_fd = -1;
        }
    }
    *out = fw;
    return TB_OK;
}

void tb_filewatch_free(tb_filewatch *fw)
{
    if (fw == NULL)
        return;
    if (fw->ino_fd >= 0)
        close(fw->ino_fd);
    for (size_t i = 0; i < fw->n_slots; i++)
        tb_free(fw->slots[i].name);
    tb_free(fw->slots);
    tb_free(fw->pend);
    tb_free((char *)fw->opts.suffix);
    tb_free(fw->dir);
    tb_free(fw);
}

tb_rc tb_filewatch_mark_seen(tb_filewatch *fw, const char *name, tb_err *err)
{
    slot *s;
    bool is_new;
    if (insert(fw, name, SLOT_SEEN, &s, &is_new) != TB_OK)
        return tb_err_nomem(err);
    if (!is_new && s->state == SLOT_PENDING) {
        pending *w = fw->pend + fw->head;
        for (size_t i = 0; i < fw->n_pend; i++) {
            if (w[i].name == s->name) {
                memmove(w + i, w + i + 1, (fw->n_pend - i - 1) * sizeof(pending));
                fw->n_pend--;
                break;
            }
        }
    }
    if (is_new || s->state != SLOT_SEEN)
        fw->n_seen++;
    s->state = SLOT_SEEN;
    return TB_OK;
}

/* Drain inotify events, waiting up to timeout_ms for the first. */
static tb_rc drain_inotify(tb_filewatch *fw, int timeout_ms, tb_err *err)
{
    struct pollfd pfd = {.fd = fw->ino_fd, .events = POLLIN};
    if (timeout_ms > 0 && poll(&pfd, 1, timeout_ms) <= 0)
        return TB_OK;
    _Alignas(struct inotify_event) char buf[16384];
    for (;;) {
        ssize_t n = read(fw->ino_fd, buf, sizeof(buf));
        if (n <= 0)
            return TB_OK; /* EAGAIN: drained */
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)(void *)p;
            if (ev->mask & IN_Q_OVERFLOW) {
                fw->need_relist = true;
            } else if (ev->len > 0 && !(ev->mask & IN_ISDIR)) {
                tb_rc rc = discovered(fw, ev->name, err);
                if (rc != TB_OK)
                    return rc;
            }
            p += sizeof(struct inotify_event) + ev->len;
        }
    }
}

tb_rc tb_filewatch_take(tb_filewatch *fw, int timeout_ms, uint32_t max_files,
                        bool latest_first, tb_strlist *out, tb_err *err)
{
    tb_rc rc;
    int64_t now = tb_now_ns();
    if (fw->ino_fd < 0 || fw->need_relist ||
        (fw->opts.relist_ms > 0 && now - fw->last_list_ns >= fw->opts.relist_ms * 1000000LL)) {
        rc = relist(fw, err);
        if (rc != TB_OK)
            return rc;
    }
    if (fw->ino_fd >= 0) {
        rc = drain_inotify(fw, fw->n_pend == 0 ? timeout_ms : 0, err);
        if (rc != TB_OK)
            return rc;
    } else if (fw->n_pend == 0 && timeout_ms > 0) {
        struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        rc = relist(fw, err);
        if (rc != TB_OK)
            return rc;
    }
    if (fw->n_pend == 0)
        return TB_OK;
    size_t take = fw->n_pend;
    if (max_files > 0 && take > max_files)
        take = max_files;
    /* Oldest first: the front of the window; latest first: its back, newest first. */
    pending *w = fw->pend + fw->head;
    tb_buf full = {0};
    for (size_t i = 0; i < take; i++) {
        const pending *p = latest_first ? &w[fw->n_pend - 1 - i] : &w[i];
        full.len = 0;
        if (tb_buf_printf(&full, "%s/%s", fw->dir, p->name) != TB_OK ||
            tb_strlist_push(out, full.data) != TB_OK) {
            tb_buf_free(&full);
            return tb_err_nomem(err); /* nothing was marked seen past i: retried next time */
        }
    }
    tb_buf_free(&full);
    for (size_t i = 0; i < take; i++) {
        const pending *p = latest_first ? &w[fw->n_pend - 1 - i] : &w[i];
        slot *s = find_slot(fw, p->name, tb_hash_bytes(p->name, strlen(p->name), 0));
        s->state = SLOT_SEEN;
        fw->n_seen++;
    }
    if (!latest_first)
        fw->head += take;
    fw->n_pend -= take;
    if (fw->n_pend == 0)
        fw->head = 0;
    return TB_OK;
}

size_t tb_filewatch_pending(const tb_filewatch *fw)
{
    return fw->n_pend;
}

size_t tb_filewatch_seen_count(const tb_filewatch *fw)
{
    return fw->n_seen;
}

const char *tb_filewatch_dir(const tb_filewatch *fw)
{
    return fw->dir;
}
