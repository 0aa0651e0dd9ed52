/*
 * path.c - string lists, path expansion (file / directory / glob), whole-file reads,
 * atomic file writes and mkdir -p.
 *
 * tb_path_expand appends to `out` only on success: on failure `out` is left as it was.
 * Directory listings skip names starting with '.' or '_' (writers rename files into
 * place from such temporary names, as Spark's file source expects) and non-regular
 * files; the result is sorted by name (strcmp order) so reads are deterministic.
 *
 * tb_file_write_atomic: data goes to "<dir>/.<name>.tmp-<pid>", is fsync'ed and renamed
 * over the target, then the directory is fsync'ed so the rename itself is durable. A
 * reader therefore sees the old file or the new one, never a partial one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

tb_rc tb_strlist_push(tb_strlist *list, const char *s)
{
    char *d;

    if (tb_grow((void **)&list->items, &list->cap, list->n + 1, sizeof(char *)) != TB_OK)
        return TB_E_NOMEM;
    d = tb_strdup(s);
    if (d == NULL)
        return TB_E_NOMEM;
    list->items[list->n++] = d;
    return TB_OK;
}

void tb_strlist_free(tb_strlist *list)
{
    size_t i;

    if (list == NULL)
        return;
    for (i = 0; i < list->n; i++)
        tb_free(list->items[i]);
    tb_free(list->items);
    list->items = NULL;
    list->n = 0;
    list->cap = 0;
}

/* Drop items appended after `keep` (undo on failure). */
static void strlist_truncate(tb_strlist *list, size_t keep)
{
    while (list->n > keep)
        tb_free(list->items[--list->n]);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_glob_meta(const char *s)
{
    return strpbrk(s, "*?[{") != NULL;
}

static tb_rc expand_dir(const char *dir, const char *suffix, tb_strlist *out, tb_err *err)
{
    DIR *d;
    struct dirent *de;
    tb_buf path = {0};
    size_t dir_len = strlen(dir), first = out->n;
    tb_rc rc = TB_OK;

    d = opendir(dir);
    if (d == NULL)
        return TB_ERRF(err, errno == ENOENT ? TB_E_NOTFOUND : TB_E_IO, "cannot open '%s': %s",
                       dir, strerror(errno));
    while (dir_len > 1 && dir[dir_len - 1] == '/')
        dir_len--;
    for (;;) {
        struct stat st;
        errno = 0;
        de = readdir(d);
        if (de == NULL) {
            if (errno != 0)
                rc = TB_ERRF(err, TB_E_IO, "cannot read directory '%s': %s", dir,
                             strerror(errno));
            break;
        }
        if (de->d_name[0] == '.' || de->d_name[0] == '_')
            continue;
        if (suffix != NULL && *suffix != '\0' && !tb_str_ends_with(de->d_name, suffix))
            continue;
        path.len = 0;
        if (tb_buf_append(&path, dir, dir_len) != TB_OK ||
            (dir[dir_len - 1] != '/' && tb_buf_putc(&path, '/') != TB_OK) ||
            tb_buf_puts(&path, de->d_name) != TB_OK || tb_buf_cstr(&path) == NULL) {
            rc = tb_err_nomem(err);
            break;
        }
        if (de->d_type != DT_REG) {
            /* DT_UNKNOWN on some file systems, and symlinks: ask stat. */
            if (de->d_type != DT_UNKNOWN && de->d_type != DT_LNK)
                continue;
            if (stat(path.data, &st) != 0 || !S_ISREG(st.st_mode))
                continue;
        }
        if (tb_strlist_push(out, path.data) != TB_OK) {
            rc = tb_err_nomem(err);
            break;
        }
    }
    closedir(d);
    tb_buf_free(&path);
    if (rc != TB_OK) {
        strlist_truncate(out, first);
        return rc;
    }
    if (out->n - first > 1)
        qsort(out->items + first, out->n - first, sizeof(char *), cmp_str);
    return TB_OK;
}

tb_rc tb_path_expand(const char *pattern, const char *suffix, tb_strlist *out, tb_err *err)
{
    struct stat st;
    size_t first = out->n;
    tb_rc rc;

    if (pattern == NULL || *pattern == '\0')
        return TB_ERRF(err, TB_E_NOTFOUND, "no files match ''");
    if (stat(pattern, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            rc = expand_dir(pattern, suffix, out, err);
            if (rc != TB_OK)
                return rc;
            if (out->n == first)
                return TB_ERRF(err, TB_E_NOTFOUND, "no files match '%s'", pattern);
            return TB_OK;
        }
        if (tb_strlist_push(out, pattern) != TB_OK)
            return tb_err_nomem(err);
        return TB_OK;
    }
    if (has_glob_meta(pattern)) {
        glob_t g;
        size_t i;
        int grc;

        memset(&g, 0, sizeof(g));
        grc = glob(pattern, GLOB_BRACE | GLOB_ERR, NULL, &g);
        if (grc == GLOB_NOSPACE) {
            globfree(&g);
            return tb_err_nomem(err);
        }
        if (grc == GLOB_ABORTED) {
            globfree(&g);
            return TB_ERRF(err, TB_E_IO, "cannot read a directory matching '%s'", pattern);
        }
        for (i = 0; grc == 0 && i < g.gl_pathc; i++) {
            if (stat(g.gl_pathv[i], &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            if (tb_strlist_push(out, g.gl_pathv[i]) != TB_OK) {
                globfree(&g);
                strlist_truncate(out, first);
                return tb_err_nomem(err);
            }
        }
        globfree(&g);
        if (out->n == first)
            return TB_ERRF(err, TB_E_NOTFOUND, "no files match '%s'", pattern);
        /* glob(3) already sorts, but by locale collation; keep strcmp order. */
        if (out->n - first > 1)
            qsort(out->items + first, out->n - first, sizeof(char *), cmp_str);
        return TB_OK;
    }
    return TB_ERRF(err, errno == ENOENT ? TB_E_NOTFOUND : TB_E_IO, "cannot open '%s': %s",
                   pattern, strerror(errno));
}

tb_rc tb_file_read_all(const char *path, size_t max_len, char **out_data, size_t *out_len,
                       tb_err *err)
{
    int fd;
    struct stat st;
    char *data = NULL;
    size_t len = 0, cap = 0;
    tb_rc rc;

    *out_data = NULL;
    if (out_len != NULL)
        *out_len = 0;
    if (max_len > SIZE_MAX / 4)
        max_len = SIZE_MAX / 4; /* keeps max_len + 2 and doubling free of overflow */
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return TB_ERRF(err, errno == ENOENT ? TB_E_NOTFOUND : TB_E_IO, "cannot open '%s': %s",
                       path, strerror(errno));
    if (fstat(fd, &st) != 0) {
        rc = TB_ERRF(err, TB_E_IO, "cannot stat '%s': %s", path, strerror(errno));
        goto fail;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = TB_ERRF(err, TB_E_IO, "cannot read '%s': is a directory", path);
        goto fail;
    }
    if (S_ISREG(st.st_mode)) {
        if ((uint64_t)st.st_size > max_len) {
            rc = TB_ERRF(err, TB_E_LIMIT, "'%s' is larger than the limit of %zu bytes", path,
                         max_len);
            goto fail;
        }
        cap = (size_t)st.st_size + 1;
    } else {
        cap = 4096;
    }
    data = tb_malloc(cap);
    if (data == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    for (;;) {
        ssize_t r;
        if (len + 1 >= cap) {
            /* Full (file grew, or not a regular file): grow, to at most max_len + 2 so
             * one byte past the limit can be read to detect an oversized file. */
            size_t want = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
            if (want > max_len + 2)
                want = max_len + 2;
            if (tb_grow((void **)&data, &cap, want, 1) != TB_OK) {
                rc = tb_err_nomem(err);
                goto fail;
            }
        }
        r = read(fd, data + len, cap - 1 - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = TB_ERRF(err, TB_E_IO, "cannot read '%s': %s", path, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > max_len) {
            rc = TB_ERRF(err, TB_E_LIMIT, "'%s' is larger than the limit of %zu bytes", path,
                         max_len);
            goto fail;
        }
    }
    close(fd);
    data[len] = '\0';
    *out_data = data;
    if (out_len != NULL)
        *out_len = len;
    return TB_OK;
fail:
    close(fd);
    tb_free(data);
    return rc;
}

static tb_rc write_full(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return TB_E_IO;
        }
        p += w;
        len -= (size_t)w;
    }
    return TB_OK;
}

tb_rc tb_file_write_atomic(const char *path, const void *data, size_t len, tb_err *err)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    char *dir = NULL, *tmp = NULL;
    int fd = -1, dfd;
    tb_rc rc;

    if (*name == '\0')
        return TB_ERRF(err, TB_E_MISUSE, "cannot write '%s': not a file name", path);
    dir = slash ? tb_strndup(path, slash == path ? 1 : (size_t)(slash - path)) : tb_strdup(".");
    if (dir == NULL)
        return tb_err_nomem(err);
    {
        size_t cap = strlen(dir) + strlen(name) + 40;
        tmp = tb_malloc(cap);
        if (tmp == NULL) {
            rc = tb_err_nomem(err);
            goto fail;
        }
        (void)snprintf(tmp, cap, "%s/.%s.tmp-%ld", dir, name, (long)getpid());
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = TB_ERRF(err, TB_E_IO, "cannot create '%s': %s", tmp, strerror(errno));
        goto fail;
    }
    if (write_full(fd, data, len) != TB_OK) {
        rc = TB_ERRF(err, TB_E_IO, "cannot write '%s': %s", tmp, strerror(errno));
        goto fail_unlink;
    }
    if (fsync(fd) != 0) {
        rc = TB_ERRF(err, TB_E_IO, "cannot fsync '%s': %s", tmp, strerror(errno));
        goto fail_unlink;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = TB_ERRF(err, TB_E_IO, "cannot close '%s': %s", tmp, strerror(errno));
        goto fail_unlink;
    }
    fd = -1;
    tb_crash_point("atomic-rename"); /* recovery tests: killed with the temp file left */
    if (rename(tmp, path) != 0) {
        rc = TB_ERRF(err, TB_E_IO, "cannot rename '%s' to '%s': %s", tmp, path,
                     strerror(errno));
        goto fail_unlink;
    }
    /* Point of no return: the new content is in place; make the rename durable. */
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd); /* best effort: some file systems refuse fsync on directories */
        close(dfd);
    }
    tb_free(dir);
    tb_free(tmp);
    return TB_OK;
fail_unlink:
    if (fd >= 0)
        close(fd);
    fd = -1;
    (void)unlink(tmp);
fail:
    if (fd >= 0)
        close(fd);
    tb_free(dir);
    tb_free(tmp);
    return rc;
}

tb_rc tb_mkdirs(const char *path, tb_err *err)
{
    char *p = NULL, *q;
    struct stat st;
    tb_rc rc = TB_OK;

    if (path == NULL || *path == '\0')
        return TB_ERRF(err, TB_E_MISUSE, "mkdir: empty path");
    p = tb_strdup(path);
    if (p == NULL)
        return tb_err_nomem(err);
    q = p;
    while (*q == '/')
        q++;
    for (;;) {
        char saved;
        while (*q != '\0' && *q != '/')
            q++;
        saved = *q;
        *q = '\0';
        if (mkdir(p, 0755) != 0) {
            int e = errno;
            if (e != EEXIST || stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
                rc = TB_ERRF(err, e == EEXIST ? TB_E_EXISTS : TB_E_IO,
                             "cannot create directory '%s': %s", p,
                             e == EEXIST ? "exists and is not a directory" : strerror(e));
                break;
            }
        }
        *q = saved;
        while (*q == '/')
            q++;
        if (*q == '\0')
            break;
    }
    tb_free(p);
    return rc;
}
