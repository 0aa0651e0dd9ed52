/*
 * fuzz_delta_log.c - the Delta log commit parser: one commit file's bytes are parsed
 * (tb_delta_commit_parse: JSON lines, every action validated), summarized and applied to
 * an empty snapshot (metaData schemaString -> schema, protocol, txn, add/remove). The
 * same bytes are also tried as a schemaString and as partition values of every type.
 * Any input must give TB_OK or a clear error, never a crash, leak or unbounded memory.
 */
#include <stdint.h>
#include <string.h>

#include "format/delta_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const tb_type_id types[] = {TB_T_BOOL,   TB_T_INT16, TB_T_INT32,
                                       TB_T_INT64,  TB_T_FLOAT, TB_T_DOUBLE,
                                       TB_T_STRING, TB_T_DATE,  TB_T_TIMESTAMP};
    tb_delta_commit *commit = NULL;
    tb_delta_snapshot *snap = NULL;
    tb_err err;
    char *text;
    size_t i;

    tb_err_clear(&err);
    if (tb_delta_commit_parse("fuzz.json", (const char *)data, size, &commit, &err) == TB_OK) {
        tb_delta_commit_summary sum;
        tb_delta_commit_summarize(commit, &sum);
        if (tb_delta_snapshot_empty("/nonexistent/fuzz", &snap, &err) == TB_OK) {
            if (tb_delta_apply(snap, commit, 0, &err) == TB_OK)
                (void)tb_delta_check_protocol(snap, true, &err);
            tb_delta_snapshot_free(snap);
        }
        tb_delta_commit_free(commit);
    }

    /* the bytes as a schemaString and as partition values */
    text = tb_strndup((const char *)data, size);
    if (text == NULL)
        return 0;
    {
        tb_schema *schema = NULL;
        char *skipped = NULL;
        if (tb_delta_schema_parse(text, &schema, &skipped, &err) == TB_OK) {
            char *back = NULL;
            if (tb_delta_schema_string(schema, &back, &err) == TB_OK)
                tb_free(back);
            tb_schema_free(schema);
            tb_free(skipped);
        }
    }
    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        tb_value v;
        (void)tb_delta_part_value(text, tb_type_make(types[i]), &v);
    }
    {
        tb_value v;
        (void)tb_delta_part_value(text, tb_type_decimal(38, 10), &v);
    }
    {
        char *dec = NULL;
        if (tb_delta_path_decode(text, &dec) == TB_OK)
            tb_free(dec);
    }
    tb_free(text);
    return 0;
}
