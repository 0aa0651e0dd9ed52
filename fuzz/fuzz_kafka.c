/*
 * fuzz_kafka.c - fuzz target for what the Kafka connectors parse (issue 10):
 *   first byte % 3 == 0: the rest is starting_offsets (Spark's JSON form), as a source's
 *                        WITH option gives it;
 *                   == 1: the rest is a batch's offsets JSON as read back from the
 *                        checkpoint ({"topic": {"0": [start, end], ...}});
 *                   == 2: the rest is the exactly-once sink's batch and sequence headers,
 *                        "BATCH|SEQ", as read from a topic's tail.
 * Oracles beyond "no crash, no leak": accepted starting offsets are an object of topics
 * of partitions >= 0 with offsets >= -2; every accepted range has 0 <= start <= end; an
 * accepted marker prints back to exactly its bytes (decimal, no sign, no leading zero).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/util.h"

tb_rc tb_kafka_parse_starting_offsets(const char *text, json_t **out, tb_err *err);
typedef tb_rc (*range_fn)(void *ud, const char *topic, int32_t part, int64_t start,
                          int64_t end, tb_err *err);
tb_rc tb_kafka_offsets_each(const json_t *offsets, range_fn fn, void *ud, tb_err *err);
bool tb_kafka_marker_parse(const void *bv, size_t bl, const void *sv, size_t sl,
                           int64_t *out_batch, int64_t *out_seq);

static tb_rc check_range(void *ud, const char *topic, int32_t part, int64_t start, int64_t end,
                         tb_err *err)
{
    (void)err;
    (*(size_t *)ud)++;
    if (topic == NULL || part < 0 || start < 0 || end < start)
        abort();
    return TB_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int mode = data[0] % 3;
    char *text = malloc(size);
    if (text == NULL)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    tb_err err;
    tb_err_clear(&err);
    if (mode == 0) {
        json_t *j = NULL;
        if (tb_kafka_parse_starting_offsets(text, &j, &err) == TB_OK) {
            const char *topic;
            json_t *parts;
            if (!json_is_object(j))
                abort();
            json_object_foreach(j, topic, parts) {
                const char *pk;
                json_t *v;
                json_object_foreach(parts, pk, v) {
                    if (!json_is_integer(v) || json_integer_value(v) < -2 || pk[0] == '-')
                        abort();
                }
            }
            json_decref(j);
        } else if (err.msg[0] == '\0') {
            abort(); /* an error always says why */
        }
    } else if (mode == 1) {
        json_t *j = json_loads(text, 0, NULL);
        if (j != NULL) {
            size_t n = 0;
            if (tb_kafka_offsets_each(j, check_range, &n, &err) != TB_OK && err.msg[0] == '\0')
                abort();
            json_decref(j);
        }
    } else {
        char *bar = strchr(text, '|');
        if (bar != NULL) {
            int64_t b, s;
            size_t bl = (size_t)(bar - text), sl = strlen(bar + 1);
            if (tb_kafka_marker_parse(text, bl, bar + 1, sl, &b, &s)) {
                char buf[64];
                int n = snprintf(buf, sizeof(buf), "%" PRId64 "|%" PRId64, b, s);
                if (n != (int)(bl + 1 + sl) || memcmp(buf, text, (size_t)n) != 0)
                    abort();
            }
        }
    }
    free(text);
    return 0;
}
