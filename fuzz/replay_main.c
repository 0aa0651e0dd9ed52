/*
 * replay_main.c - a stand-in for libFuzzer's driver in normal builds: runs a fuzz
 * target's LLVMFuzzerTestOneInput over every file of its corpus, so CTest catches a
 * regression on any input that once crashed (SQLite's fuzzcheck idea).
 *
 * Arguments are files or directories (walked recursively, entries sorted by name so runs
 * are reproducible; dot files skipped). A missing corpus is not a failure: it prints
 * "no corpus at PATH" and counts nothing. Inputs larger than 64 MiB are skipped.
 * Prints "replayed N inputs" and exits 0; a crash in the target is the failure signal.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/util.h"

#define REPLAY_MAX_INPUT ((size_t)64 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void replay_path(const char *path, unsigned long *count, int depth)
{
    struct stat st;

    if (stat(path, &st) != 0) {
        printf("no corpus at %s\n", path);
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        tb_strlist names = {0};
        DIR *d;
        struct dirent *de;
        size_t i;

        if (depth > 32)
            return;
        d = opendir(path);
        if (d == NULL) {
            printf("cannot open corpus directory %s\n", path);
            return;
        }
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            if (tb_strlist_push(&names, de->d_name) != TB_OK) {
                fprintf(stderr, "replay: out of memory\n");
                break;
            }
        }
        closedir(d);
        if (names.n > 1)
            qsort(names.items, names.n, sizeof(char *), cmp_names);
        for (i = 0; i < names.n; i++) {
            size_t len = strlen(path) + strlen(names.items[i]) + 2;
            char *child = tb_malloc(len);
            if (child == NULL)
                break;
            (void)snprintf(child, len, "%s/%s", path, names.items[i]);
            replay_path(child, count, depth + 1);
            tb_free(child);
        }
        tb_strlist_free(&names);
        return;
    }
    if (S_ISREG(st.st_mode)) {
        char *data = NULL;
        size_t len = 0;
        tb_err err;
        tb_err_clear(&err);
        if (tb_file_read_all(path, REPLAY_MAX_INPUT, &data, &len, &err) != TB_OK) {
            printf("skipping %s: %s\n", path, err.msg);
            return;
        }
        (void)LLVMFuzzerTestOneInput((const uint8_t *)data, len);
        tb_free(data);
        (*count)++;
    }
}

int main(int argc, char **argv)
{
    unsigned long count = 0;
    int i;

    for (i = 1; i < argc; i++)
        replay_path(argv[i], &count, 0);
    printf("replayed %lu inputs\n", count);
    return 0;
}
