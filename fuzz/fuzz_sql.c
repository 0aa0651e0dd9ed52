/*
 * fuzz_sql.c - SQL text through libpg_query into our binder, planner and executor,
 * against a small catalog (a memory table t(a int, b text, c timestamp, d numeric)).
 * Any input must give a result or a clear error, never a crash or a leak. Results are
 * stepped to the end, with a row cap so generated cross joins stay small.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tributary.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *setup =
    "CREATE TABLE t (a int, b text, c timestamp, d numeric(10,2));"
    "INSERT INTO t VALUES (1, 'x', '2024-01-01 00:00:00', 1.5), (2, NULL, NULL, -3.25),"
    " (NULL, 'yy', '2024-01-01 00:00:15', NULL)";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0; /* keep runs short: long inputs add no new parser paths */
    char *sql = malloc(size + 1);
    if (sql == NULL)
        return 0;
    memcpy(sql, data, size);
    sql[size] = '\0';
    tb_db *db = NULL;
    if (tb_db_open(NULL, &db) == TB_OK && tb_db_exec(db, setup, NULL) == TB_OK) {
        tb_result *res = NULL;
        if (tb_db_exec(db, sql, &res) == TB_OK && res != NULL) {
            int has = 1;
            for (int rows = 0; rows < 10000 && has; rows++) {
                if (tb_result_step(res, &has) != TB_OK)
                    break;
                for (int j = 0; has && j < tb_result_column_count(res); j++)
                    (void)tb_result_text(res, j);
            }
        }
        tb_result_free(&res);
    }
    tb_db_close(&db);
    free(sql);
    return 0;
}
