/*
 * err.c - the tb_err error record: formatted message, code, and where it was set.
 *
 * Invariants: msg is always NUL terminated and never overflows (vsnprintf truncates);
 * every setter accepts err == NULL and then only returns the code, so callees can be
 * used by callers that do not care for the detail.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/util.h"

void tb_err_clear(tb_err *err)
{
    if (err == NULL)
        return;
    err->code = TB_OK;
    err->retriable = false;
    err->fatal = false;
    err->pos = -1;
    err->src_file = NULL;
    err->src_line = 0;
    err->msg[0] = '\0';
}

tb_rc tb_err_set(tb_err *err, tb_rc code, const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    err->code = code;
    err->retriable = false;
    err->fatal = false;
    err->pos = -1;
    err->src_file = file;
    err->src_line = line;
    va_start(ap, fmt);
    /* Truncation is fine: the message is for humans and stays NUL terminated. */
    (void)vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}

tb_rc tb_err_prefix(tb_err *err, const char *fmt, ...)
{
    char pre[TB_ERR_MSG_CAP];
    va_list ap;
    int plen;
    size_t old_len, room;

    if (err == NULL)
        return TB_E_ERROR;
    va_start(ap, fmt);
    plen = vsnprintf(pre, sizeof(pre), fmt, ap);
    va_end(ap);
    if (plen < 0)
        return err->code;
    if ((size_t)plen >= sizeof(pre) - 3)
        plen = (int)(sizeof(pre) - 3);
    pre[plen++] = ':';
    pre[plen++] = ' ';
    pre[plen] = '\0';
    old_len = strnlen(err->msg, sizeof(err->msg) - 1);
    room = sizeof(err->msg) - 1 - (size_t)plen;
    if (old_len > room)
        old_len = room;
    memmove(err->msg + plen, err->msg, old_len);
    memcpy(err->msg, pre, (size_t)plen);
    err->msg[(size_t)plen + old_len] = '\0';
    return err->code;
}

tb_rc tb_err_nomem(tb_err *err)
{
    return TB_ERRF(err, TB_E_NOMEM, "out of memory");
}
