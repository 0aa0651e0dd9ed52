/*
 * log.c - leveled diagnostics on stderr.
 *
 * The level defaults to WARN; the environment variable TB_LOG_LEVEL (error, warn,
 * info, debug) is read once, on first use; tb_log_set_level overrides both. Each line
 * is formatted into one buffer and written with a single fputs so lines from different
 * threads do not interleave mid-line.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define LEVEL_UNSET (-1)

static atomic_int log_level = LEVEL_UNSET;

static int level_from_env(void)
{
    const char *v = getenv("TB_LOG_LEVEL");
    if (v == NULL)
        return TB_LOG_WARN;
    if (tb_str_ieq(v, "error"))
        return TB_LOG_ERROR;
    if (tb_str_ieq(v, "warn") || tb_str_ieq(v, "warning"))
        return TB_LOG_WARN;
    if (tb_str_ieq(v, "info"))
        return TB_LOG_INFO;
    if (tb_str_ieq(v, "debug"))
        return TB_LOG_DEBUG;
    return TB_LOG_WARN;
}

void tb_log_set_level(tb_log_level level)
{
    atomic_store(&log_level, (int)level);
}

tb_log_level tb_log_get_level(void)
{
    int v = atomic_load_explicit(&log_level, memory_order_relaxed);
    if (TB_UNLIKELY(v == LEVEL_UNSET)) {
        int expected = LEVEL_UNSET;
        v = level_from_env();
        /* A concurrent tb_log_set_level wins over the environment. */
        if (!atomic_compare_exchange_strong(&log_level, &expected, v))
            v = expected;
    }
    return (tb_log_level)v;
}

void tb_log(tb_log_level level, const char *fmt, ...)
{
    static const char *const prefix[] = {"error: ", "warning: ", "info: ", "debug: "};
    char line[4096];
    va_list ap;
    size_t plen, len;
    int r;

    if ((int)level > (int)tb_log_get_level())
        return;
    if ((int)level < 0 || (int)level > TB_LOG_DEBUG)
        level = TB_LOG_ERROR;
    plen = strlen(prefix[level]);
    memcpy(line, "tributary: ", 11);
    memcpy(line + 11, prefix[level], plen);
    plen += 11;
    va_start(ap, fmt);
    r = vsnprintf(line + plen, sizeof(line) - plen - 1, fmt, ap);
    va_end(ap);
    if (r < 0)
        return;
    len = plen + TB_MIN((size_t)r, sizeof(line) - plen - 2);
    if (len == 0 || line[len - 1] != '\n')
        line[len++] = '\n';
    line[len] = '\0';
    (void)fputs(line, stderr);
}
