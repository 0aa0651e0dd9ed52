/*
 * fuzz_fmt.c - the template parsers of to_char / to_date / to_timestamp (func_fmt.c).
 * Input: one mode byte, then the template, a NUL byte, and the text to parse (to_date /
 * to_timestamp) or ignored (to_char). Modes (byte % 6): to_char of a timestamp, a date,
 * a numeric(12,3), a double, a bigint (each value picked from the input's length), and
 * to_date / to_timestamp of the text. Any input must give a value or an error with a
 * message and the call's position, never a crash, a leak or an unbounded result.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/exec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what)
{
    (void)fprintf(stderr, "fuzz_fmt: oracle failed: %s\n", what);
    abort();
}

static tb_expr *str_const(tb_arena *arena, const char *p, size_t n)
{
    tb_value v;
    memset(&v, 0, sizeof(v));
    v.type = tb_type_make(TB_T_STRING);
    v.u.s.ptr = p;
    v.u.s.len = (uint32_t)n;
    return tb_expr_const(arena, &v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    int mode = data[0] % 7;
    const char *tmpl = (const char *)data + 1;
    const char *nul = memchr(tmpl, 0, size - 1);
    size_t tl = nul ? (size_t)(nul - tmpl) : size - 1;
    const char *text = nul ? nul + 1 : "";
    size_t xl = nul ? size - 1 - tl - 1 : 0;
    tb_arena *arena = tb_arena_new(0);
    tb_expr *args[2], *call = NULL;
    tb_value v, out;
    tb_err err;
    static const int64_t picks[] = {0, -1, 1, 12345678, -987654321, INT64_MAX / 4,
                                    -62135596800000000LL, 253402300799999999LL};
    int64_t pick = picks[size % (sizeof(picks) / sizeof(picks[0]))];
    const char *fn = mode <= 4 ? "to_char" : mode == 5 ? "to_date" : "to_timestamp";

    memset(&err, 0, sizeof(err));
    memset(&v, 0, sizeof(v));
    switch (mode) {
    case 0:
        v.type = tb_type_make(TB_T_TIMESTAMP);
        v.u.i = pick;
        break;
    case 1:
        v.type = tb_type_make(TB_T_DATE);
        v.u.i = pick % 2000000;
        break;
    case 2:
        v.type = tb_type_decimal(12, 3);
        v.u.dec = (tb_i128)(pick % 1000000000000LL);
        break;
    case 3:
        v.type = tb_type_make(TB_T_DOUBLE);
        v.u.d = (double)pick / 7.0;
        break;
    case 4:
        v.type = tb_type_make(TB_T_INT64);
        v.u.i = pick;
        break;
    default:
        break;
    }
    args[0] = mode <= 4 ? tb_expr_const(arena, &v) : str_const(arena, text, xl);
    args[1] = str_const(arena, tmpl, tl);
    if (args[0] == NULL || args[1] == NULL)
        die("out of memory");
    tb_rc rc = tb_expr_call(arena, fn, args, 2, 7, &call, &err);
    if (rc == TB_OK)
        rc = tb_expr_eval_const(call, arena, &out, &err);
    if (rc != TB_OK) {
        if (err.msg[0] == 0)
            die("an error without a message");
        if (err.pos != 7)
            die("an error without the call's position");
    } else if (mode <= 4 && !out.is_null && out.u.s.len > 64 * tl + 64) {
        die("a result out of proportion to the template");
    }
    tb_arena_free(arena);
    return 0;
}
