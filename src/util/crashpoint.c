/*
 * crashpoint.c - named crash points for crash-recovery tests (TB_FAULTS builds).
 *
 * TB_CRASH_AT="NAME:N" in the environment makes the N-th call of tb_crash_point("NAME")
 * (N >= 1, default 1) print "crash point NAME:N" on stderr and kill the process with
 * SIGKILL, exactly as a kill -9 from outside at that moment would. The variable is read
 * once; calls with other names are no-ops. Without TB_FAULTS the function does nothing
 * (release builds pay one call).
 *
 * Points (see their call sites): "atomic-rename" (tb_file_write_atomic: temp file
 * written and synced, not yet renamed: every checkpoint file), "delta-commit" (a Delta
 * commit written under its temp name, data files in place, not yet linked into the
 * log), "delta-committed" (a Delta commit in the log, the writer not yet returned:
 * between the sink's commit and the checkpoint's commits/N).
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"

#ifdef TB_FAULTS
static char crash_name[64];
static long crash_n;
static atomic_long crash_hits;
static atomic_int crash_state; /* 0 unread, 1 armed, 2 off */

static void crash_read(void)
{
    const char *v = getenv("TB_CRASH_AT");
    const char *colon;
    size_t len;

    crash_n = 1;
    if (v == NULL || v[0] == '\0') {
        atomic_store(&crash_state, 2);
        return;
    }
    colon = strchr(v, ':');
    len = colon != NULL ? (size_t)(colon - v) : strlen(v);
    if (len == 0 || len >= sizeof(crash_name)) {
        atomic_store(&crash_state, 2);
        return;
    }
    memcpy(crash_name, v, len);
    crash_name[len] = '\0';
    if (colon != NULL)
        crash_n = strtol(colon + 1, NULL, 10);
    atomic_store(&crash_state, crash_n >= 1 ? 1 : 2);
}
#endif

void tb_crash_point(const char *name)
{
#ifdef TB_FAULTS
    if (atomic_load_explicit(&crash_state, memory_order_relaxed) == 0)
        crash_read();
    if (atomic_load_explicit(&crash_state, memory_order_relaxed) != 1 ||
        strcmp(name, crash_name) != 0)
        return;
    if (atomic_fetch_add(&crash_hits, 1) + 1 == crash_n) {
        char msg[128];
        int n = snprintf(msg, sizeof(msg), "crash point %s:%ld\n", crash_name, crash_n);
        if (n > 0)
            (void)!write(2, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
        (void)kill(getpid(), SIGKILL);
        _exit(137); /* not reached */
    }
#else
    TB_UNUSED(name);
#endif
}
