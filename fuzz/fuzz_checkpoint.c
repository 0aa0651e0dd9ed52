/*
 * fuzz_checkpoint.c - the checkpoint readers: records (JSON + optional state payload +
 * CRC trailer), log segments (framed records, torn tails), compact files (JSON lines +
 * CRC trailer) and aggregate state images. Any input must give TB_OK or a clear error, never a
 * crash, leak or unbounded allocation.
 */
#include <stdint.h>
#include <string.h>

#include "stream/checkpoint.h"
#include "exec/exec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tb_err err;
    tb_err_clear(&err);
    tb_ckpt_offsets off = {0};
    (void)tb_ckpt_parse_offsets("fuzz", (const char *)data, size, &off, &err);
    tb_ckpt_offsets_clear(&off);
    (void)tb_ckpt_parse_compact("fuzz", (const char *)data, size, NULL, NULL, &err);
    int64_t torn = -1;
    (void)tb_ckpt_parse_segment("fuzz", (const char *)data, size, &torn, &err);

    /* The same bytes as an aggregate state image (key: timestamp, text; sum, count). */
    tb_arena *arena = tb_arena_new(0);
    if (arena == NULL)
        return 0;
    tb_type keys[2] = {tb_type_make(TB_T_TIMESTAMP), tb_type_make(TB_T_STRING)};
    tb_aggspec aggs[2];
    memset(aggs, 0, sizeof(aggs));
    aggs[0].kind = TB_AGG_SUM;
    aggs[0].arg = tb_expr_col(arena, 0, tb_type_make(TB_T_INT32));
    aggs[0].type = tb_type_make(TB_T_INT64);
    aggs[1].kind = TB_AGG_COUNT_STAR;
    aggs[1].type = tb_type_make(TB_T_INT64);
    tb_hashagg *agg = NULL;
    if (aggs[0].arg != NULL && tb_hashagg_new(2, keys, 2, aggs, &agg, &err) == TB_OK) {
        if (tb_hashagg_deserialize(agg, data, size, &err) == TB_OK) {
            tb_hashagg_iter it;
            tb_hashagg_iter_init(&it, TB_HASHAGG_ALL, 0, NULL);
            tb_batch *b = NULL;
            while (tb_hashagg_next(agg, &it, arena, &b, &err) == TB_OK && b != NULL)
                ;
        }
        tb_hashagg_free(agg);
    }
    tb_arena_free(arena);
    return 0;
}
