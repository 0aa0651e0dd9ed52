/*
 * kafka.c - the Kafka sink (issue 10): each batch's rows as messages of a topic, exactly
 * once, with librdkafka's idempotent producer.
 *
 *   CREATE TABLE out (...) WITH (connector = 'kafka', brokers = 'h:p,...', topic = 't',
 *       format = 'json' | 'csv', key = 'col,...', output_mode = ...,
 *       transactional = false, kafka.<librdkafka property> = '...')
 *
 * Exactly once without transactions (the only broker here, librdkafka's mock, cannot
 * show read_committed): every message carries three headers, tb.query (the query's
 * stable id), tb.batch (the batch id) and tb.seq (the row's number in the batch). The
 * partition of a row is a function of its key (murmur2, as Kafka's Java client) or of
 * its sequence number (no key), so a re-run of batch N sends every row to the same
 * partition as the first run. On start the sink reads the tail of each partition
 * (backwards, in growing windows, until it finds a message of its query or the log
 * start) and remembers the last (batch, seq) of its query there. Within a partition the
 * idempotent producer keeps order and leaves no gap, so a message (N, s) present there
 * means every earlier message of the query for that partition is present too: a row
 * (N, s) bound for partition p is skipped when (N, s) <= the tail of p. Batches after
 * the tail are sent whole. commit(N) returns once every message is acknowledged, so
 * the runtime commits batch N only after the topic holds it.
 *
 * What this does not cover: a message still in flight from a killed process that the
 * broker appends after the restarted sink read the tail (the kernel closes the killed
 * process's sockets, so this needs the broker to read a request after the restart has
 * already read the tail; not seen in tests); another writer using the same query id.
 * With transactional = true each batch is also one Kafka transaction (consumers with
 * isolation.level=read_committed then never see a partial batch); the mock broker
 * accepts transactions but cannot show read_committed (README "Kafka").
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "sink/sink.h"

typedef struct ksink {
    tb_sink base;
    char *table;
    char *brokers;
    char *topic;
    char *query_id;
    bool csv;
    bool transactional;
    int64_t startup_timeout_ms;
    int *key_cols;
    uint32_t n_keys;
    tb_strlist props;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    int32_t n_parts;
    int64_t *tail_batch; /* per partition: last batch of this query found at start, -1 */
    int64_t *tail_seq;
    bool started;
    bool in_txn;
    int64_t batch;
    int64_t seq;
    uint64_t sent, skipped, pending_rows;
    rd_kafka_resp_err_t dr_err; /* first failed delivery of the batch */
    char dr_msg[256];
    tb_buf val, key;
} ksink;

/* ---------------------------------------------------------------- markers */

/*
 * The batch and sequence headers of a message (decimal, no sign, no leading zeros,
 * at most 18 digits). Exposed for the fuzz target.
 */
bool tb_kafka_marker_parse(const void *bv, size_t bl, const void *sv, size_t sl,
                           int64_t *out_batch, int64_t *out_seq);
static bool parse_dec(const char *s, size_t n, int64_t *out)
{
    int64_t v = 0;
    if (s == NULL || n == 0 || n > 18 || (n > 1 && s[0] == '0'))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool tb_kafka_marker_parse(const void *bv, size_t bl, const void *sv, size_t sl,
                           int64_t *out_batch, int64_t *out_seq)
{
    return parse_dec(bv, bl, out_batch) && parse_dec(sv, sl, out_seq);
}

/* ---------------------------------------------------------------- producer */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    ksink *k = opaque;
    TB_UNUSED(rk);
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR && k->dr_err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        k->dr_err = m->err;
        snprintf(k->dr_msg, sizeof(k->dr_msg), "%s", rd_kafka_err2str(m->err));
    }
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    TB_UNUSED(rk);
    tb_log(level <= 3 ? TB_LOG_INFO : TB_LOG_DEBUG, "librdkafka %s: %s", fac, buf);
}

static tb_rc conf_set(ksink *k, rd_kafka_conf_t *conf, const char *key, const char *v,
                      tb_err *err)
{
    char errstr[256];
    if (rd_kafka_conf_set(conf, key, v, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        return TB_ERRF(err, TB_E_SQL, "sink \"%s\": kafka.%s: %s", k->table, key, errstr);
    return TB_OK;
}

static rd_kafka_t *client(ksink *k, rd_kafka_type_t type, bool producer_conf, tb_err *err)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    tb_rc rc = TB_OK;
    tb_buf txid = {0};
    if (conf == NULL) {
        tb_err_nomem(err);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rc = conf_set(k, conf, "bootstrap.servers", k->brokers, err);
    if (rc == TB_OK)
        rc = conf_set(k, conf, "client.id", "tributary", err);
    if (rc == TB_OK && producer_conf) {
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        /* order kept and no gap per partition: what the tail check relies on */
        rc = conf_set(k, conf, "enable.idempotence", "true", err);
        if (rc == TB_OK)
            rc = conf_set(k, conf, "linger.ms", "5", err);
        if (rc == TB_OK && k->transactional) {
            if (tb_buf_printf(&txid, "tributary-%s-%s", k->query_id, k->topic) != TB_OK)
                rc = tb_err_nomem(err);
            else
                rc = conf_set(k, conf, "transactional.id", txid.data, err);
        }
        for (size_t i = 0; rc == TB_OK && i + 1 < k->props.n; i += 2)
            rc = conf_set(k, conf, k->props.items[i], k->props.items[i + 1], err);
    } else if (rc == TB_OK) {
        rc = conf_set(k, conf, "enable.partition.eof", "true", err);
    }
    tb_buf_free(&txid);
    if (rc != TB_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        TB_ERRF(err, TB_E_SQL, "sink \"%s\": kafka client: %s", k->table, errstr);
    }
    return rk;
}

/* The partition count, waiting (with librdkafka's retries) up to startup_timeout_ms. */
static tb_rc partitions(ksink *k, rd_kafka_t *rk, int32_t *out, tb_err *err)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, k->topic, NULL);
    const rd_kafka_metadata_t *md = NULL;
    int64_t t0 = tb_now_ns();
    rd_kafka_resp_err_t e;
    if (rkt == NULL)
        return tb_err_nomem(err);
    for (;;) {
        e = rd_kafka_metadata(rk, 0, rkt, &md, 2000);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
            md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topics[0].partition_cnt > 0)
            break;
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
            md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
            rd_kafka_metadata_destroy(md);
            rd_kafka_topic_destroy(rkt);
            return TB_ERRF(err, TB_E_NOTFOUND, "sink \"%s\": Kafka topic '%s' does not exist at '%s'",
                           k->table, k->topic, k->brokers);
        }
        if (md != NULL)
            rd_kafka_metadata_destroy(md);
        md = NULL;
        int64_t waited = (tb_now_ns() - t0) / 1000000;
        if (waited >= k->startup_timeout_ms) {
            rd_kafka_topic_destroy(rkt);
            return TB_ERRF(err, TB_E_IO,
                           "sink \"%s\": no Kafka broker reachable at '%s' after %" PRId64
                           " ms (%s); check brokers, or raise startup_timeout_ms",
                           k->table, k->brokers, waited, rd_kafka_err2str(e));
        }
        tb_log(TB_LOG_WARN, "sink %s: brokers '%s' not ready (%s), retrying", k->table,
               k->brokers, rd_kafka_err2str(e));
        struct timespec ts = {0, 200 * 1000000};
        nanosleep(&ts, NULL);
    }
    *out = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return TB_OK;
}

/*
 * The last (batch, seq) of this query in partition p, reading backwards from the end
 * in windows of 256, 1024, ... offsets until one is found or the log start is passed.
 */
static tb_rc read_tail(ksink *k, rd_kafka_t *c, rd_kafka_topic_t *rkt, int32_t p, tb_err *err)
{
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(c, k->topic, p, &lo, &hi, 10000);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        return TB_ERRF(err, TB_E_IO, "sink \"%s\": topic %s partition %d: offsets: %s",
                       k->table, k->topic, (int)p, rd_kafka_err2str(e));
    int64_t end = hi, window = 256;
    size_t qlen = strlen(k->query_id);
    while (end > lo) {
        int64_t from = end - window > lo ? end - window : lo;
        int64_t best_b = -1, best_s = -1;
        if (rd_kafka_consume_start(rkt, p, from) != 0)
            return TB_ERRF(err, TB_E_IO, "sink \"%s\": topic %s partition %d: read: %s", k->table,
                           k->topic, (int)p, rd_kafka_err2str(rd_kafka_last_error()));
        int64_t pos = from;
        int64_t t_last = tb_now_ns();
        tb_rc rc = TB_OK;
        while (pos < end && rc == TB_OK) {
            rd_kafka_message_t *ms[256];
            ssize_t n = rd_kafka_consume_batch(rkt, p, 200, ms, 256);
            if (n <= 0) {
                if ((tb_now_ns() - t_last) / 1000000 > 30000)
                    rc = TB_ERRF(err, TB_E_IO,
                                 "sink \"%s\": topic %s partition %d: no answer reading the tail "
                                 "(offsets %" PRId64 "..%" PRId64 ")",
                                 k->table, k->topic, (int)p, from, end - 1);
                continue;
            }
            t_last = tb_now_ns();
            for (ssize_t i = 0; i < n; i++) {
                rd_kafka_message_t *m = ms[i];
                rd_kafka_headers_t *h = NULL;
                const void *qv, *bv, *sv;
                size_t ql, bl, sl;
                int64_t b, s;
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                    pos = end; /* nothing past the end */
                } else if (m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
                    pos = end; /* retention moved the start meanwhile */
                } else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                    pos = m->offset + 1;
                    if (m->offset < end && rd_kafka_message_headers(m, &h) == 0 &&
                        rd_kafka_header_get_last(h, "tb.query", &qv, &ql) == 0 && ql == qlen &&
                        memcmp(qv, k->query_id, ql) == 0 &&
                        rd_kafka_header_get_last(h, "tb.batch", &bv, &bl) == 0 &&
                        rd_kafka_header_get_last(h, "tb.seq", &sv, &sl) == 0 &&
                        tb_kafka_marker_parse(bv, bl, sv, sl, &b, &s) &&
                        (b > best_b || (b == best_b && s > best_s))) {
                        best_b = b;
                        best_s = s;
                    }
                }
                rd_kafka_message_destroy(m);
            }
        }
        rd_kafka_consume_stop(rkt, p);
        if (rc != TB_OK)
            return rc;
        if (best_b >= 0) {
            k->tail_batch[p] = best_b;
            k->tail_seq[p] = best_s;
            return TB_OK;
        }
        end = from;
        window *= 4;
    }
    return TB_OK;
}

static tb_rc start(ksink *k, tb_err *err)
{
    tb_rc rc;
    rd_kafka_t *c = client(k, RD_KAFKA_CONSUMER, false, err);
    if (c == NULL)
        return err->code;
    rc = partitions(k, c, &k->n_parts, err);
    if (rc == TB_OK) {
        k->tail_batch = tb_malloc(sizeof(int64_t) * (size_t)k->n_parts);
        k->tail_seq = tb_malloc(sizeof(int64_t) * (size_t)k->n_parts);
        if (k->tail_batch == NULL || k->tail_seq == NULL)
            rc = tb_err_nomem(err);
    }
    rd_kafka_topic_t *rkt = rc == TB_OK ? rd_kafka_topic_new(c, k->topic, NULL) : NULL;
    if (rc == TB_OK && rkt == NULL)
        rc = tb_err_nomem(err);
    for (int32_t p = 0; rc == TB_OK && p < k->n_parts; p++) {
        k->tail_batch[p] = k->tail_seq[p] = -1;
        rc = read_tail(k, c, rkt, p, err);
        if (rc == TB_OK && k->tail_batch[p] >= 0)
            tb_log(TB_LOG_INFO, "sink %s: topic %s partition %d holds batch %" PRId64
                   " up to row %" PRId64 " of this query", k->table, k->topic, (int)p,
                   k->tail_batch[p], k->tail_seq[p]);
    }
    if (rkt != NULL)
        rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(c);
    if (rc != TB_OK)
        return rc;
    k->rk = client(k, RD_KAFKA_PRODUCER, true, err);
    if (k->rk == NULL)
        return err->code;
    k->rkt = rd_kafka_topic_new(k->rk, k->topic, NULL);
    if (k->rkt == NULL)
        return tb_err_nomem(err);
    if (k->transactional) {
        rd_kafka_error_t *e = rd_kafka_init_transactions(k->rk, k->startup_timeout_ms);
        if (e != NULL) {
            rc = TB_ERRF(err, TB_E_IO, "sink \"%s\": init transactions: %s", k->table,
                         rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            return rc;
        }
    }
    k->started = true;
    return TB_OK;
}

/* ---------------------------------------------------------------- rows to messages */

static void put_json_str(tb_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    (void)tb_buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            (void)tb_buf_putc(b, '\\');
            (void)tb_buf_putc(b, (char)c);
        } else if (c < 0x20) {
            char e[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
            (void)tb_buf_puts(b, e);
        } else {
            (void)tb_buf_putc(b, (char)c);
        }
    }
    (void)tb_buf_putc(b, '"');
}

static tb_rc put_value(const tb_batch *b, uint32_t col, uint32_t row, tb_buf *out,
                       bool json, tb_err *err)
{
    const tb_vec *v = &b->cols[col];
    tb_value val;
    if (tb_vec_is_null(v, row)) {
        if (json)
            return tb_buf_puts(out, "null") == TB_OK ? TB_OK : tb_err_nomem(err);
        return TB_OK; /* csv: an empty field */
    }
    tb_vec_get(v, row, &val);
    switch (v->type.id) {
    case TB_T_BOOL:
        return tb_buf_puts(out, TB_VEC_PTR(v, uint8_t)[row] ? "true" : "false") == TB_OK
                   ? TB_OK
                   : tb_err_nomem(err);
    case TB_T_STRING: {
        tb_str s = TB_VEC_PTR(v, tb_str)[row];
        if (json) {
            put_json_str(out, s.ptr, s.len);
            return TB_OK;
        }
        bool quote = s.len == 0 || memchr(s.ptr, ',', s.len) || memchr(s.ptr, '"', s.len) ||
                     memchr(s.ptr, '\n', s.len) || memchr(s.ptr, '\r', s.len);
        if (!quote)
            return tb_buf_append(out, s.ptr, s.len) == TB_OK ? TB_OK : tb_err_nomem(err);
        (void)tb_buf_putc(out, '"');
        for (uint32_t i = 0; i < s.len; i++) {
            if (s.ptr[i] == '"')
                (void)tb_buf_putc(out, '"');
            (void)tb_buf_putc(out, s.ptr[i]);
        }
        return tb_buf_putc(out, '"') == TB_OK ? TB_OK : tb_err_nomem(err);
    }
    default:
        break;
    }
    size_t at = out->len;
    bool number = tb_type_is_numeric(v->type);
    if (json && !number)
        (void)tb_buf_putc(out, '"');
    if (tb_value_format(&val, out) != TB_OK)
        return tb_err_nomem(err);
    if (json && number) {
        /* NaN and infinities are no JSON numbers: as strings, as Spark writes them */
        const char *p = out->data + at;
        size_t n = out->len - at;
        bool plain = n > 0 && (p[0] == '-' || (p[0] >= '0' && p[0] <= '9'));
        for (size_t i = 0; plain && i < n; i++)
            if (!((p[i] >= '0' && p[i] <= '9') || p[i] == '-' || p[i] == '.' || p[i] == 'e' ||
                  p[i] == 'E' || p[i] == '+'))
                plain = false;
        if (!plain) {
            tb_buf tmp = {0};
            if (tb_buf_append(&tmp, p, n) != TB_OK)
                return tb_err_nomem(err);
            out->len = at;
            put_json_str(out, tmp.data, tmp.len);
            tb_buf_free(&tmp);
        }
    }
    if (json && !number)
        (void)tb_buf_putc(out, '"');
    return TB_OK;
}

static tb_rc row_value(ksink *k, const tb_batch *b, uint32_t row, tb_err *err)
{
    const tb_schema *s = k->base.schema;
    tb_rc rc = TB_OK;
    k->val.len = 0;
    if (!k->csv)
        (void)tb_buf_putc(&k->val, '{');
    for (uint32_t j = 0; j < s->n && rc == TB_OK; j++) {
        if (j > 0)
            (void)tb_buf_putc(&k->val, ',');
        if (!k->csv) {
            put_json_str(&k->val, s->fields[j].name, strlen(s->fields[j].name));
            (void)tb_buf_putc(&k->val, ':');
        }
        rc = put_value(b, j, row, &k->val, !k->csv, err);
    }
    if (!k->csv)
        (void)tb_buf_putc(&k->val, '}');
    if (rc == TB_OK && tb_buf_reserve(&k->val, 1) != TB_OK)
        rc = tb_err_nomem(err);
    return rc;
}

static tb_rc row_key(ksink *k, const tb_batch *b, uint32_t row, tb_err *err)
{
    tb_rc rc = TB_OK;
    k->key.len = 0;
    for (uint32_t i = 0; i < k->n_keys && rc == TB_OK; i++) {
        if (i > 0)
            (void)tb_buf_putc(&k->key, ',');
        rc = put_value(b, (uint32_t)k->key_cols[i], row, &k->key, false, err);
    }
    if (rc == TB_OK && tb_buf_reserve(&k->key, 1) != TB_OK)
        rc = tb_err_nomem(err);
    return rc;
}

/* ---------------------------------------------------------------- sink interface */

static tb_rc ks_begin(tb_sink *sink, int64_t batch, bool replace, tb_err *err)
{
    ksink *k = (ksink *)sink;
    TB_UNUSED(replace); /* complete mode: the whole result again, as Spark's Kafka sink */
    tb_rc rc;
    if (!k->started && (rc = start(k, err)) != TB_OK)
        return rc;
    k->batch = batch;
    k->seq = 0;
    k->pending_rows = 0;
    k->dr_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (k->transactional && !k->in_txn) {
        rd_kafka_error_t *e = rd_kafka_begin_transaction(k->rk);
        if (e != NULL) {
            rc = TB_ERRF(err, TB_E_IO, "sink \"%s\": begin transaction: %s", k->table,
                         rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            return rc;
        }
        k->in_txn = true;
    }
    return TB_OK;
}

static tb_rc ks_write(tb_sink *sink, const tb_batch *b, tb_err *err)
{
    ksink *k = (ksink *)sink;
    char bs[24], ss[24];
    int bl = snprintf(bs, sizeof(bs), "%" PRId64, k->batch);
    for (uint32_t r = 0; r < b->n_rows; r++) {
        int64_t seq = k->seq++;
        tb_rc rc;
        int32_t p;
        if (k->n_keys > 0) {
            if ((rc = row_key(k, b, r, err)) != TB_OK)
                return rc;
            p = rd_kafka_msg_partitioner_murmur2(k->rkt, k->key.data, k->key.len, k->n_parts,
                                                 NULL, NULL);
        } else {
            p = (int32_t)(seq % k->n_parts);
        }
        if (k->tail_batch[p] > k->batch ||
            (k->tail_batch[p] == k->batch && seq <= k->tail_seq[p])) {
            k->skipped++; /* the partition holds it: a re-run batch */
            continue;
        }
        if ((rc = row_value(k, b, r, err)) != TB_OK)
            return rc;
        tb_crash_point("kafka-produce"); /* TB_CRASH_AT=kafka-produce:N: a kill mid-batch */
        int sl = snprintf(ss, sizeof(ss), "%" PRId64, seq);
        const void *kp = k->n_keys > 0 ? (const void *)k->key.data : NULL;
        size_t kl = k->n_keys > 0 ? k->key.len : 0;
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                k->rk, RD_KAFKA_V_RKT(k->rkt), RD_KAFKA_V_PARTITION(p),
                RD_KAFKA_V_VALUE(k->val.data, k->val.len),
                RD_KAFKA_V_KEY(kp, kl),
                RD_KAFKA_V_HEADER("tb.query", k->query_id, (ssize_t)strlen(k->query_id)),
                RD_KAFKA_V_HEADER("tb.batch", bs, (ssize_t)bl),
                RD_KAFKA_V_HEADER("tb.seq", ss, (ssize_t)sl),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(k->rk, 10);
                continue;
            }
            if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
                return TB_ERRF(err, TB_E_IO, "sink \"%s\": produce to %s [%d]: %s", k->table,
                               k->topic, (int)p, rd_kafka_err2str(e));
            break;
        }
        k->pending_rows++;
        rd_kafka_poll(k->rk, 0);
    }
    return TB_OK;
}

static tb_rc ks_commit(tb_sink *sink, int64_t batch, tb_err *err)
{
    ksink *k = (ksink *)sink;
    TB_UNUSED(batch);
    /* every message acknowledged before the batch counts as written; librdkafka retries
     * through broker restarts and leader changes meanwhile */
    while (rd_kafka_outq_len(k->rk) > 0 && k->dr_err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_resp_err_t e = rd_kafka_flush(k->rk, 1000);
        if (e != RD_KAFKA_RESP_ERR__TIMED_OUT && e != RD_KAFKA_RESP_ERR_NO_ERROR)
            return TB_ERRF(err, TB_E_IO, "sink \"%s\": flush: %s", k->table, rd_kafka_err2str(e));
        char fe[256];
        if (rd_kafka_fatal_error(k->rk, fe, sizeof(fe)) != RD_KAFKA_RESP_ERR_NO_ERROR)
            return TB_ERRF(err, TB_E_IO, "sink \"%s\": producer: %s", k->table, fe);
    }
    if (k->dr_err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        tb_rc rc = TB_ERRF(err, TB_E_IO, "sink \"%s\": delivery to topic %s failed: %s", k->table,
                           k->topic, k->dr_msg);
        err->retriable = true;
        return rc;
    }
    if (k->in_txn) {
        rd_kafka_error_t *e = rd_kafka_commit_transaction(k->rk, 60000);
        k->in_txn = false;
        if (e != NULL) {
            tb_rc rc = TB_ERRF(err, TB_E_IO, "sink \"%s\": commit transaction: %s", k->table,
                               rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            return rc;
        }
    }
    k->sent += k->pending_rows;
    sink->rows_committed += k->pending_rows;
    k->pending_rows = 0;
    return TB_OK;
}

static void ks_abort(tb_sink *sink)
{
    ksink *k = (ksink *)sink;
    if (k->in_txn) {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(k->rk, 30000);
        if (e != NULL)
            rd_kafka_error_destroy(e);
        k->in_txn = false;
    }
    /* without transactions what was sent stays: the re-run skips it (the tail check
     * happens at start only, so the tail is read again: messages acknowledged later) */
    k->started = false;
    if (k->rkt != NULL)
        rd_kafka_topic_destroy(k->rkt);
    k->rkt = NULL;
    if (k->rk != NULL) {
        rd_kafka_flush(k->rk, 10000);
        rd_kafka_destroy(k->rk);
    }
    k->rk = NULL;
    tb_free(k->tail_batch);
    tb_free(k->tail_seq);
    k->tail_batch = k->tail_seq = NULL;
}

static void ks_free(tb_sink *sink)
{
    ksink *k = (ksink *)sink;
    if (k == NULL)
        return;
    if (k->rkt != NULL)
        rd_kafka_topic_destroy(k->rkt);
    if (k->rk != NULL) {
        rd_kafka_flush(k->rk, 10000);
        rd_kafka_destroy(k->rk);
    }
    tb_free(k->tail_batch);
    tb_free(k->tail_seq);
    tb_free(k->table);
    tb_free(k->brokers);
    tb_free(k->topic);
    tb_free(k->query_id);
    tb_free(k->key_cols);
    tb_strlist_free(&k->props);
    tb_buf_free(&k->val);
    tb_buf_free(&k->key);
    tb_schema_free(sink->schema);
    tb_free(k);
}

static const tb_sink_vt kafka_vt = {"kafka", ks_begin, ks_write, ks_commit, ks_abort, ks_free};

static tb_rc add_key(ksink *k, const tb_sink_args *args, const char *name, tb_err *err)
{
    int c = tb_schema_find(args->schema, name);
    if (c < 0)
        return TB_ERRF(err, TB_E_SQL, "sink \"%s\": key column '%s' is not an output column",
                       args->table, name);
    int *kc = tb_realloc(k->key_cols, sizeof(int) * (k->n_keys + 1));
    if (kc == NULL)
        return tb_err_nomem(err);
    k->key_cols = kc;
    k->key_cols[k->n_keys++] = c;
    return TB_OK;
}

tb_rc tb_sink_kafka_open(const tb_sink_args *args, tb_sink **out, tb_err *err)
{
    tb_rc rc = TB_OK;
    const char *key = NULL;
    *out = NULL;
    ksink *k = tb_calloc(1, sizeof(*k));
    if (k == NULL)
        return tb_err_nomem(err);
    k->base.vt = &kafka_vt;
    k->startup_timeout_ms = 30000;
    k->base.schema = tb_schema_copy(args->schema);
    k->table = tb_strdup(args->table);
    k->query_id = tb_strdup(args->query_id ? args->query_id : args->table);
    if (k->base.schema == NULL || k->table == NULL || k->query_id == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    for (size_t i = 0; i + 1 < args->kv->n; i += 2) {
        const char *n = args->kv->items[i], *v = args->kv->items[i + 1];
        if (tb_str_ieq(n, "connector") || tb_str_ieq(n, "output_mode"))
            continue;
        if (tb_str_ieq(n, "brokers") || tb_str_ieq(n, "kafka.bootstrap.servers")) {
            tb_free(k->brokers);
            k->brokers = tb_strdup(v);
        } else if (tb_str_ieq(n, "topic")) {
            tb_free(k->topic);
            k->topic = tb_strdup(v);
        } else if (tb_str_ieq(n, "format")) {
            if (!tb_str_ieq(v, "json") && !tb_str_ieq(v, "csv")) {
                rc = TB_ERRF(err, TB_E_SQL, "sink \"%s\": format must be 'json' or 'csv', not '%s'",
                             args->table, v);
                goto fail;
            }
            k->csv = tb_str_ieq(v, "csv");
        } else if (tb_str_ieq(n, "key")) {
            key = v;
        } else if (tb_str_ieq(n, "transactional")) {
            k->transactional = tb_str_ieq(v, "true") || strcmp(v, "1") == 0;
            if (!k->transactional && !tb_str_ieq(v, "false") && strcmp(v, "0") != 0) {
                rc = TB_ERRF(err, TB_E_SQL, "sink \"%s\": transactional takes true or false",
                             args->table);
                goto fail;
            }
        } else if (tb_str_ieq(n, "startup_timeout_ms")) {
            char *end = NULL;
            long long ms = strtoll(v, &end, 10);
            if (end == v || *end != '\0' || ms < 0) {
                rc = TB_ERRF(err, TB_E_SQL, "sink \"%s\": startup_timeout_ms takes milliseconds",
                             args->table);
                goto fail;
            }
            k->startup_timeout_ms = ms;
        } else if (strncasecmp(n, "kafka.", 6) == 0 && n[6] != '\0') {
            if (tb_strlist_push(&k->props, n + 6) != TB_OK || tb_strlist_push(&k->props, v) != TB_OK) {
                rc = tb_err_nomem(err);
                goto fail;
            }
        } else {
            rc = TB_ERRF(err, TB_E_SQL,
                         "sink \"%s\": unknown option '%s' (known: brokers, topic, format, key, "
                         "output_mode, transactional, startup_timeout_ms, kafka.<librdkafka "
                         "property>)",
                         args->table, n);
            goto fail;
        }
    }
    if (k->brokers == NULL || k->topic == NULL) {
        rc = TB_ERRF(err, TB_E_SQL, "sink \"%s\": 'brokers' and 'topic' are required", args->table);
        goto fail;
    }
    if (key != NULL) {
        char *copy = tb_strdup(key), *save = NULL;
        if (copy == NULL) {
            rc = tb_err_nomem(err);
            goto fail;
        }
        for (char *t = strtok_r(copy, ", ", &save); t != NULL && rc == TB_OK;
             t = strtok_r(NULL, ", ", &save))
            rc = add_key(k, args, t, err);
        tb_free(copy);
    } else {
        /* default: the query's group key (update mode then keeps one key per group) */
        for (uint32_t i = 0; i < args->n_keys && rc == TB_OK; i++)
            rc = add_key(k, args, args->keys[i], err);
    }
    if (rc != TB_OK)
        goto fail;
    *out = &k->base;
    return TB_OK;
fail:
    ks_free(&k->base);
    return rc;
}
