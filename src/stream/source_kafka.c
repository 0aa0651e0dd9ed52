/*
 * source_kafka.c - the Kafka stream source (issue 10), a tb_ssrc (source.h) over
 * librdkafka.
 *
 * Offsets are Spark's: per topic-partition ranges {"topic": {"0": [start, end], ...}},
 * end exclusive, every known partition in every batch (empty ranges too, so that a
 * restart knows where each partition stood even if it had nothing new). The checkpoint
 * is the source of truth; the consumer group only hears of progress (ack() commits the
 * ends) so that lag tools see it. The group is never joined: partitions are assigned
 * by this process (rd_kafka_assign, as Spark's KafkaSource), so there is no rebalance
 * and a later step can split partitions between processes by assignment.
 *
 * One consumer handle reads every assigned partition through its own partition queue
 * (forwarding to the consumer queue disabled), so open() reads exactly one range at a
 * time. Per partition:
 *   next      where the next plan() starts (moves at plan and restore);
 *   read_pos  the offset the partition queue delivers next (moves as open() reads; a
 *             range starting elsewhere seeks first: a re-run after a crash);
 *   held      a message read past a range's end (gaps), kept for the next range.
 * plan() takes the latest offsets from the high watermarks that fetch responses bring
 * (rd_kafka_get_watermark_offsets), asking the leader only when none is cached, and
 * wakes from the partition queues' I/O events, so continuous triggers see a message
 * within a fetch round trip.
 *
 * Decoding: messages of one partition are gathered into a chunk (one value a line) and
 * decoded by the CSV or JSON-lines reader over that buffer, so one message value is one
 * row, with the read options of file streams (mode, corrupt_column...). Line k of a
 * chunk is its k-th message; bad records and errors are renamed from "chunk:line" to
 * "topic T partition P offset O". A value holding a line break outside JSON strings is
 * turned into blanks (JSON white space); one holding it inside a CSV quoted field, or
 * inside a JSON string, is decoded alone, and is malformed if it holds more than one
 * record. Empty values (tombstones) give no row in csv and json.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "format/csv.h"
#include "format/jsonl.h"
#include "stream/source.h"

enum { FMT_CSV, FMT_JSON, FMT_TEXT };
enum { MODE_PERMISSIVE, MODE_DROP, MODE_FAILFAST };
enum { START_EARLIEST, START_LATEST, START_JSON };
/* Metadata columns (declared by name): kafka_key text, kafka_topic text,
 * kafka_partition integer, kafka_offset bigint, kafka_timestamp timestamp,
 * kafka_headers text (a JSON object). */
enum { META_NONE = -1, META_KEY, META_TOPIC, META_PARTITION, META_OFFSET, META_TS, META_HEADERS };
static const char *const meta_names[] = {"kafka_key",    "kafka_topic",     "kafka_partition",
                                         "kafka_offset", "kafka_timestamp", "kafka_headers"};
static const tb_type_id meta_types[] = {TB_T_STRING, TB_T_STRING,    TB_T_INT32,
                                        TB_T_INT64,  TB_T_TIMESTAMP, TB_T_STRING};

/* The connector (the registry in source.c lists it). */
extern const tb_ssrc_vt tb_ssrc_kafka_vt;

#define CHUNK_MSGS 4096
#define CHUNK_BYTES (4u << 20)

typedef struct kpart {
    char *topic;
    int32_t part;
    int64_t next;     /* next plan starts here; -1: not resolved yet */
    int64_t read_pos; /* the queue delivers this offset next; -1: unknown */
    int64_t hi;       /* latest high watermark seen */
    rd_kafka_queue_t *q;
    /* messages taken from q but not used yet (they come before q's): a message to
     * decode alone and those after it */
    rd_kafka_message_t *held[256];
    size_t n_held;
} kpart;

typedef struct ksrc {
    tb_ssrc base;
    char *brokers;
    char *topic;    /* or */
    char *pattern;  /* topic_pattern (POSIX ERE, whole name) */
    regex_t re;
    bool re_ok;
    char *group_id;
    int fmt;
    int mode;
    tb_csv_opts *csv;
    tb_jsonl_opts *json;
    char *corrupt;
    char *bad_dir;
    int64_t max_offsets; /* 0: no limit */
    bool fail_on_data_loss;
    int start_mode;
    json_t *start_json; /* starting_offsets JSON form */
    int64_t startup_timeout_ms;
    int64_t read_timeout_ms;
    int64_t discovery_ms;
    tb_strlist props; /* kafka.<prop>, value, ... */
    /* declared columns: meta kind per column; data schema = the others */
    int *meta;
    tb_schema *dschema;
    int *dcol; /* declared column -> data schema column, -1 for metadata */

    rd_kafka_t *rk;
    int pipe_fd[2];
    kpart **parts;
    size_t n_parts, cap_parts;
    bool assigned_dirty; /* partitions added since the last assign */
    bool discovered;     /* first metadata seen: later partitions start at earliest */
    bool restored;       /* started from a checkpoint: starting_offsets do not apply */
    int64_t last_meta_ns;
    uint64_t offsets_lost;
    char last_error[512];
} ksrc;

/* ---------------------------------------------------------------- partitions */

static kpart *find_part(ksrc *ks, const char *topic, int32_t part)
{
    for (size_t i = 0; i < ks->n_parts; i++)
        if (ks->parts[i]->part == part && strcmp(ks->parts[i]->topic, topic) == 0)
            return ks->parts[i];
    return NULL;
}

static int part_cmp(const void *a, const void *b)
{
    const kpart *x = *(kpart *const *)a, *y = *(kpart *const *)b;
    int c = strcmp(x->topic, y->topic);
    return c != 0 ? c : (x->part > y->part) - (x->part < y->part);
}

static tb_rc add_part(ksrc *ks, const char *topic, int32_t part, kpart **out, tb_err *err)
{
    kpart *p = tb_calloc(1, sizeof(*p));
    if (p == NULL || (p->topic = tb_strdup(topic)) == NULL ||
        tb_grow((void **)&ks->parts, &ks->cap_parts, ks->n_parts + 1, sizeof(kpart *)) !=
            TB_OK) {
        if (p != NULL)
            tb_free(p->topic);
        tb_free(p);
        return tb_err_nomem(err);
    }
    p->part = part;
    p->next = -1;
    p->read_pos = -1;
    p->hi = -1;
    ks->parts[ks->n_parts++] = p;
    qsort(ks->parts, ks->n_parts, sizeof(kpart *), part_cmp);
    ks->assigned_dirty = true;
    *out = p;
    return TB_OK;
}

static void drop_held(kpart *p)
{
    for (size_t i = 0; i < p->n_held; i++)
        rd_kafka_message_destroy(p->held[i]);
    p->n_held = 0;
}

static void part_free(kpart *p)
{
    if (p == NULL)
        return;
    drop_held(p);
    if (p->q != NULL)
        rd_kafka_queue_destroy(p->q);
    tb_free(p->topic);
    tb_free(p);
}

/* ---------------------------------------------------------------- client */

static void on_error(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    ksrc *ks = opaque;
    TB_UNUSED(rk);
    snprintf(ks->last_error, sizeof(ks->last_error), "%s: %s",
             rd_kafka_err2name((rd_kafka_resp_err_t)code), reason);
    tb_log(TB_LOG_DEBUG, "kafka source %s: %s", ks->base.name, ks->last_error);
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    TB_UNUSED(rk);
    /* connection failures repeat every backoff: the caller reports them once, clearly */
    tb_log(level <= 3 ? TB_LOG_INFO : TB_LOG_DEBUG, "librdkafka %s: %s", fac, buf);
}

static tb_rc conf_set(ksrc *ks, rd_kafka_conf_t *conf, const char *k, const char *v,
                      tb_err *err)
{
    char errstr[256];
    if (rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        return TB_ERRF(err, TB_E_SQL, "stream \"%s\": kafka.%s: %s", ks->base.name, k, errstr);
    return TB_OK;
}

static tb_rc client_new(ksrc *ks, tb_err *err)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    tb_rc rc = TB_OK;
    if (conf == NULL)
        return tb_err_nomem(err);
    rd_kafka_conf_set_opaque(conf, ks);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    /* Offsets live in the checkpoint: no automatic commit or store, no reset that would
     * silently jump (a range out of range is data loss, reported). Prefetch is bounded
     * per partition (memory stays bounded whatever the backlog). */
    const char *defaults[][2] = {{"bootstrap.servers", ks->brokers},
                                 {"group.id", ks->group_id},
                                 {"client.id", "tributary"},
                                 {"enable.auto.commit", "false"},
                                 {"enable.auto.offset.store", "false"},
                                 {"auto.offset.reset", "error"},
                                 {"enable.partition.eof", "true"},
                                 {"queued.max.messages.kbytes", "16384"},
                                 {"fetch.wait.max.ms", "100"},
                                 {"reconnect.backoff.max.ms", "1000"},
                                 {"topic.metadata.refresh.interval.ms", "10000"}};
    for (size_t i = 0; rc == TB_OK && i < sizeof(defaults) / sizeof(defaults[0]); i++)
        rc = conf_set(ks, conf, defaults[i][0], defaults[i][1], err);
    for (size_t i = 0; rc == TB_OK && i + 1 < ks->props.n; i += 2)
        rc = conf_set(ks, conf, ks->props.items[i], ks->props.items[i + 1], err);
    if (rc != TB_OK) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    ks->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (ks->rk == NULL) {
        rd_kafka_conf_destroy(conf);
        return TB_ERRF(err, TB_E_SQL, "stream \"%s\": kafka client: %s", ks->base.name, errstr);
    }
    if (pipe(ks->pipe_fd) != 0)
        return TB_ERRF(err, TB_E_IO, "stream \"%s\": pipe: %s", ks->base.name, strerror(errno));
    (void)fcntl(ks->pipe_fd[0], F_SETFL, O_NONBLOCK);
    (void)fcntl(ks->pipe_fd[1], F_SETFL, O_NONBLOCK);
    return TB_OK;
}

/* Give every known partition to the consumer, each at its read position. */
static tb_rc assign_all(ksrc *ks, tb_err *err)
{
    /* Partition queues first, forwarding off: once assigned, fetched messages would
     * otherwise go to the consumer queue, where open() never looks. */
    for (size_t i = 0; i < ks->n_parts; i++) {
        kpart *p = ks->parts[i];
        if (p->next < 0 || p->q != NULL)
            continue;
        p->q = rd_kafka_queue_get_partition(ks->rk, p->topic, p->part);
        if (p->q == NULL)
            return TB_ERRF(err, TB_E_IO, "stream \"%s\": no queue for %s [%d]", ks->base.name,
                           p->topic, (int)p->part);
        rd_kafka_queue_forward(p->q, NULL);
        rd_kafka_queue_io_event_enable(p->q, ks->pipe_fd[1], "k", 1);
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)ks->n_parts);
    if (l == NULL)
        return tb_err_nomem(err);
    for (size_t i = 0; i < ks->n_parts; i++) {
        kpart *p = ks->parts[i];
        if (p->next < 0)
            continue; /* not resolved: assigned once it is */
        if (p->read_pos < 0)
            p->read_pos = p->next;
        drop_held(p);
        rd_kafka_topic_partition_list_add(l, p->topic, p->part)->offset = p->read_pos;
    }
    rd_kafka_resp_err_t e = rd_kafka_assign(ks->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        return TB_ERRF(err, TB_E_IO, "stream \"%s\": kafka assign: %s", ks->base.name,
                       rd_kafka_err2str(e));
    ks->assigned_dirty = false;
    return TB_OK;
}

static int64_t resolve_start(ksrc *ks, const char *topic, int32_t part, bool initial,
                             int64_t lo, int64_t hi)
{
    if (!initial)
        return lo; /* a partition (or topic) that appeared later: from its beginning */
    if (ks->start_mode == START_LATEST)
        return hi;
    if (ks->start_mode == START_JSON) {
        char key[16];
        snprintf(key, sizeof(key), "%d", (int)part);
        json_t *v = json_object_get(json_object_get(ks->start_json, topic), key);
        if (json_is_integer(v)) {
            int64_t o = json_integer_value(v);
            if (o == -1)
                return hi;
            if (o == -2)
                return lo;
            return o; /* below lo: data loss, reported when read */
        }
    }
    return lo;
}

/*
 * Metadata: the partitions of the topic (or of every topic matching the pattern). New
 * ones get their start offsets and are assigned. The first call waits for the brokers
 * (retrying with backoff) up to startup_timeout_ms, then fails clearly; a missing
 * topic is an error.
 */
static tb_rc discover(ksrc *ks, tb_err *err)
{
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *rkt = NULL;
    rd_kafka_resp_err_t e;
    int64_t start = tb_now_ns();
    int64_t backoff = 100;
    tb_rc rc = TB_OK;

    if (ks->topic != NULL && (rkt = rd_kafka_topic_new(ks->rk, ks->topic, NULL)) == NULL)
        return tb_err_nomem(err);
    for (;;) {
        e = rd_kafka_metadata(ks->rk, rkt == NULL, rkt, &md, 2000);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        int64_t waited = (tb_now_ns() - start) / 1000000;
        if (ks->discovered) {
            /* running already: keep what is known, retry at the next plan */
            tb_log(TB_LOG_WARN, "kafka source %s: metadata: %s", ks->base.name,
                   rd_kafka_err2str(e));
            if (rkt != NULL)
                rd_kafka_topic_destroy(rkt);
            ks->last_meta_ns = tb_now_ns();
            return TB_OK;
        }
        if (waited >= ks->startup_timeout_ms) {
            rc = TB_ERRF(err, TB_E_IO,
                         "stream \"%s\": no Kafka broker reachable at '%s' after %" PRId64
                         " ms (%s%s%s); check brokers, or raise startup_timeout_ms",
                         ks->base.name, ks->brokers, waited, rd_kafka_err2str(e),
                         ks->last_error[0] ? "; last: " : "", ks->last_error);
            err->fatal = true;
            goto done;
        }
        tb_log(TB_LOG_WARN, "kafka source %s: brokers '%s' not reachable yet (%s), retrying",
               ks->base.name, ks->brokers, rd_kafka_err2str(e));
        usleep((useconds_t)(backoff * 1000));
        backoff = TB_MIN(backoff * 2, 2000);
    }
    bool initial = !ks->discovered && !ks->restored;
    bool any = false;
    for (int t = 0; t < md->topic_cnt && rc == TB_OK; t++) {
        const rd_kafka_metadata_topic_t *mt = &md->topics[t];
        if (ks->topic != NULL ? strcmp(mt->topic, ks->topic) != 0
                              : regexec(&ks->re, mt->topic, 0, NULL, 0) != 0)
            continue;
        if (mt->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
            (ks->topic != NULL && mt->partition_cnt == 0 &&
             mt->err != RD_KAFKA_RESP_ERR_NO_ERROR)) {
            rc = TB_ERRF(err, TB_E_NOTFOUND,
                         "stream \"%s\": Kafka topic '%s' does not exist at '%s' (%s)",
                         ks->base.name, mt->topic, ks->brokers, rd_kafka_err2str(mt->err));
            err->fatal = true;
            goto done;
        }
        any = true;
        for (int i = 0; i < mt->partition_cnt; i++) {
            int32_t pid = mt->partitions[i].id;
            kpart *p = find_part(ks, mt->topic, pid);
            if (p != NULL && p->next >= 0)
                continue;
            int64_t lo = 0, hi = 0;
            e = rd_kafka_query_watermark_offsets(ks->rk, mt->topic, pid, &lo, &hi, 5000);
            if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
                tb_log(TB_LOG_WARN, "kafka source %s: %s [%d]: offsets: %s (retrying later)",
                       ks->base.name, mt->topic, (int)pid, rd_kafka_err2str(e));
                continue;
            }
            if (p == NULL && (rc = add_part(ks, mt->topic, pid, &p, err)) != TB_OK)
                goto done;
            p->next = resolve_start(ks, mt->topic, pid, initial, lo, hi);
            p->hi = hi;
            ks->assigned_dirty = true;
            if (!initial)
                tb_log(TB_LOG_INFO, "kafka source %s: new partition %s [%d] from offset %" PRId64,
                       ks->base.name, mt->topic, (int)pid, p->next);
        }
    }
    if (ks->topic != NULL && !any) {
        rc = TB_ERRF(err, TB_E_NOTFOUND, "stream \"%s\": Kafka topic '%s' does not exist at '%s'",
                     ks->base.name, ks->topic, ks->brokers);
        err->fatal = true;
        goto done;
    }
    ks->discovered = true;
    ks->last_meta_ns = tb_now_ns();
    if (ks->assigned_dirty)
        rc = assign_all(ks, err);
done:
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    if (rkt != NULL)
        rd_kafka_topic_destroy(rkt);
    return rc;
}

static tb_rc ensure_started(ksrc *ks, tb_err *err)
{
    tb_rc rc;
    if (ks->rk == NULL && (rc = client_new(ks, err)) != TB_OK)
        return rc;
    if (!ks->discovered)
        return discover(ks, err);
    if (ks->assigned_dirty)
        return assign_all(ks, err);
    return TB_OK;
}

/* ---------------------------------------------------------------- options */

static bool parse_bool(const char *v, bool *out)
{
    if (tb_str_ieq(v, "true") || strcmp(v, "1") == 0 || tb_str_ieq(v, "yes")) {
        *out = true;
        return true;
    }
    if (tb_str_ieq(v, "false") || strcmp(v, "0") == 0 || tb_str_ieq(v, "no")) {
        *out = false;
        return true;
    }
    return false;
}

static bool parse_i64(const char *v, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end != '\0' || errno != 0 || x < 0)
        return false;
    *out = x;
    return true;
}

/*
 * starting_offsets JSON (Spark's form): {"topic": {"0": 42, "1": -2}}, -2 earliest,
 * -1 latest. Exposed for the fuzz target.
 */
tb_rc tb_kafka_parse_starting_offsets(const char *text, json_t **out, tb_err *err);
tb_rc tb_kafka_parse_starting_offsets(const char *text, json_t **out, tb_err *err)
{
    json_error_t je;
    *out = NULL;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL)
        return TB_ERRF(err, TB_E_SQL, "starting_offsets: invalid JSON at position %d: %s",
                       je.position, je.text);
    const char *topic;
    json_t *parts;
    if (!json_is_object(j) || json_object_size(j) == 0)
        goto bad;
    json_object_foreach(j, topic, parts) {
        const char *pk;
        json_t *v;
        if (!json_is_object(parts) || topic[0] == '\0')
            goto bad;
        json_object_foreach(parts, pk, v) {
            char *end = NULL;
            long pn = strtol(pk, &end, 10);
            if (end == pk || *end != '\0' || pn < 0 || pn > INT32_MAX || !json_is_integer(v) ||
                json_integer_value(v) < -2) {
                tb_rc rc = TB_ERRF(err, TB_E_SQL,
                                   "starting_offsets: topic '%s' partition '%s': expected a "
                                   "partition number and an offset (>= 0, -1 latest, -2 "
                                   "earliest)",
                                   topic, pk);
                json_decref(j);
                return rc;
            }
        }
    }
    *out = j;
    return TB_OK;
bad:
    json_decref(j);
    return TB_ERRF(err, TB_E_SQL,
                   "starting_offsets: expected 'earliest', 'latest' or {\"topic\": "
                   "{\"partition\": offset, ...}, ...}");
}

/*
 * Offsets JSON of a batch: {"topic": {"0": [start, end], ...}}. Calls fn for each range,
 * topics and partitions in order. Exposed for the fuzz target (checkpoint records are
 * read back from disk).
 */
typedef tb_rc (*range_fn)(void *ud, const char *topic, int32_t part, int64_t start,
                          int64_t end, tb_err *err);
tb_rc tb_kafka_offsets_each(const json_t *offsets, range_fn fn, void *ud, tb_err *err);
tb_rc tb_kafka_offsets_each(const json_t *offsets, range_fn fn, void *ud, tb_err *err)
{
    if (!json_is_object(offsets))
        return TB_ERRF(err, TB_E_CORRUPT, "kafka offsets: expected an object of topics");
    const char *topic;
    json_t *parts;
    json_object_foreach((json_t *)offsets, topic, parts) {
        if (!json_is_object(parts))
            return TB_ERRF(err, TB_E_CORRUPT, "kafka offsets: topic '%s': expected an object",
                           topic);
        const char *pk;
        json_t *v;
        json_object_foreach(parts, pk, v) {
            char *end = NULL;
            long pn = strtol(pk, &end, 10);
            if (end == pk || *end != '\0' || pn < 0 || pn > INT32_MAX || !json_is_array(v) ||
                json_array_size(v) != 2 || !json_is_integer(json_array_get(v, 0)) ||
                !json_is_integer(json_array_get(v, 1)) ||
                json_integer_value(json_array_get(v, 0)) < 0 ||
                json_integer_value(json_array_get(v, 1)) <
                    json_integer_value(json_array_get(v, 0)))
                return TB_ERRF(err, TB_E_CORRUPT,
                               "kafka offsets: topic '%s' partition '%s': expected [start, end] "
                               "with 0 <= start <= end",
                               topic, pk);
            tb_rc rc = fn(ud, topic, (int32_t)pn, json_integer_value(json_array_get(v, 0)),
                          json_integer_value(json_array_get(v, 1)), err);
            if (rc != TB_OK)
                return rc;
        }
    }
    return TB_OK;
}

static const char *known_options =
    "brokers, topic, topic_pattern, format, group_id, starting_offsets, "
    "max_offsets_per_trigger, fail_on_data_loss, startup_timeout_ms, read_timeout_ms, "
    "partition_discovery_ms, mode, corrupt_column, bad_records_path, kafka.<librdkafka "
    "property>, and the csv or json read options";

static void ks_free(tb_ssrc *src);

static tb_rc ks_create(const tb_ssrc_args *args, tb_ssrc **out, tb_err *err)
{
    tb_rc rc = TB_OK;
    const char *name = args->name;
    *out = NULL;
    ksrc *ks = tb_calloc(1, sizeof(*ks));
    if (ks == NULL)
        return tb_err_nomem(err);
    ks->pipe_fd[0] = ks->pipe_fd[1] = -1;
    ks->base.vt = NULL; /* set below, once complete */
    ks->fail_on_data_loss = true;
    ks->startup_timeout_ms = 30000;
    ks->read_timeout_ms = 60000;
    ks->discovery_ms = 1000;
    ks->base.name = tb_strdup(name);
    ks->base.schema = tb_schema_copy(args->schema);
    if (ks->base.name == NULL || ks->base.schema == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    /* format first: the other options go to its reader */
    const char *fmt = NULL;
    for (size_t i = 0; i + 1 < args->kv->n; i += 2)
        if (tb_str_ieq(args->kv->items[i], "format"))
            fmt = args->kv->items[i + 1];
    if (fmt == NULL || tb_str_ieq(fmt, "csv")) {
        ks->fmt = FMT_CSV;
        if ((ks->csv = tb_csv_opts_new()) == NULL) {
            rc = tb_err_nomem(err);
            goto fail;
        }
        rc = tb_csv_opts_set(ks->csv, "header", "false", err);
    } else if (tb_str_ieq(fmt, "json")) {
        ks->fmt = FMT_JSON;
        if ((ks->json = tb_jsonl_opts_new()) == NULL) {
            rc = tb_err_nomem(err);
            goto fail;
        }
    } else if (tb_str_ieq(fmt, "text")) {
        ks->fmt = FMT_TEXT;
    } else {
        rc = TB_ERRF(err, TB_E_SQL, "stream \"%s\": format '%s' is not supported (csv, json, text)",
                     name, fmt);
        goto fail;
    }
    if (rc != TB_OK)
        goto fail;
    for (size_t i = 0; i + 1 < args->kv->n; i += 2) {
        const char *k = args->kv->items[i], *v = args->kv->items[i + 1];
        char **dst = NULL;
        if (tb_str_ieq(k, "format") || tb_str_ieq(k, "connector") || tb_str_ieq(k, "watermark"))
            continue;
        if (tb_str_ieq(k, "brokers") || tb_str_ieq(k, "kafka.bootstrap.servers"))
            dst = &ks->brokers;
        else if (tb_str_ieq(k, "topic"))
            dst = &ks->topic;
        else if (tb_str_ieq(k, "topic_pattern"))
            dst = &ks->pattern;
        else if (tb_str_ieq(k, "group_id") || tb_str_ieq(k, "kafka.group.id"))
            dst = &ks->group_id;
        else if (tb_str_ieq(k, "bad_records_path"))
            dst = &ks->bad_dir;
        if (dst != NULL) {
            tb_free(*dst);
            if ((*dst = tb_strdup(v)) == NULL) {
                rc = tb_err_nomem(err);
                goto fail;
            }
            continue;
        }
        if (tb_str_ieq(k, "starting_offsets")) {
            json_decref(ks->start_json);
            ks->start_json = NULL;
            if (tb_str_ieq(v, "earliest")) {
                ks->start_mode = START_EARLIEST;
            } else if (tb_str_ieq(v, "latest")) {
                ks->start_mode = START_LATEST;
            } else {
                ks->start_mode = START_JSON;
                if ((rc = tb_kafka_parse_starting_offsets(v, &ks->start_json, err)) != TB_OK) {
                    tb_err_prefix(err, "stream \"%s\"", name);
                    goto fail;
                }
            }
        } else if (tb_str_ieq(k, "max_offsets_per_trigger") ||
                   tb_str_ieq(k, "startup_timeout_ms") || tb_str_ieq(k, "read_timeout_ms") ||
                   tb_str_ieq(k, "partition_discovery_ms")) {
            int64_t n;
            if (!parse_i64(v, &n)) {
                rc = TB_ERRF(err, TB_E_SQL, "stream \"%s\": %s takes a non-negative integer, not '%s'",
                             name, k, v);
                goto fail;
            }
            if (tb_str_ieq(k, "max_offsets_per_trigger"))
                ks->max_offsets = n;
            else if (tb_str_ieq(k, "startup_timeout_ms"))
                ks->startup_timeout_ms = n;
            else if (tb_str_ieq(k, "read_timeout_ms"))
                ks->read_timeout_ms = n;
            else
                ks->discovery_ms = n;
        } else if (tb_str_ieq(k, "fail_on_data_loss")) {
            if (!parse_bool(v, &ks->fail_on_data_loss)) {
                rc = TB_ERRF(err, TB_E_SQL, "stream \"%s\": fail_on_data_loss takes true or false, not '%s'",
                             name, v);
                goto fail;
            }
        } else if (strncasecmp(k, "kafka.", 6) == 0 && k[6] != '\0') {
            if (tb_strlist_push(&ks->props, k + 6) != TB_OK ||
                tb_strlist_push(&ks->props, v) != TB_OK) {
                rc = tb_err_nomem(err);
                goto fail;
            }
        } else {
            if (tb_str_ieq(k, "mode")) {
                if (tb_str_ieq(v, "permissive"))
                    ks->mode = MODE_PERMISSIVE;
                else if (tb_str_ieq(v, "dropmalformed"))
                    ks->mode = MODE_DROP;
                else if (tb_str_ieq(v, "failfast"))
                    ks->mode = MODE_FAILFAST;
            }
            if (tb_str_ieq(k, "corrupt_column")) {
                tb_free(ks->corrupt);
                if ((ks->corrupt = tb_strdup(v)) == NULL) {
                    rc = tb_err_nomem(err);
                    goto fail;
                }
            }
            if (tb_str_ieq(k, "header") || tb_str_ieq(k, "schema") || tb_str_ieq(k, "skip")) {
                rc = TB_ERRF(err, TB_E_SQL,
                             "stream \"%s\": option '%s' does not apply to Kafka messages (one "
                             "message value is one record; declare the columns)",
                             name, k);
                goto fail;
            }
            if (ks->fmt == FMT_TEXT) {
                if (!tb_str_ieq(k, "mode") && !tb_str_ieq(k, "corrupt_column")) {
                    rc = TB_ERRF(err, TB_E_SQL, "stream \"%s\": unknown option '%s' (known: %s)",
                                 name, k, known_options);
                    goto fail;
                }
                if (tb_str_ieq(k, "mode") && ks->mode == MODE_PERMISSIVE &&
                    !tb_str_ieq(v, "permissive")) {
                    rc = TB_ERRF(err, TB_E_SQL,
                                 "stream \"%s\": mode must be permissive, dropmalformed or "
                                 "failfast, not '%s'",
                                 name, v);
                    goto fail;
                }
                continue;
            }
            rc = ks->json != NULL ? tb_jsonl_opts_set(ks->json, k, v, err)
                                  : tb_csv_opts_set(ks->csv, k, v, err);
            if (rc == TB_E_NOTFOUND) {
                rc = TB_ERRF(err, TB_E_SQL, "stream \"%s\": unknown option '%s' (known: %s)",
                             name, k, known_options);
                goto fail;
            }
            if (rc != TB_OK) {
                tb_err_prefix(err, "stream \"%s\"", name);
                goto fail;
            }
        }
    }
    if (ks->brokers == NULL) {
        rc = TB_ERRF(err, TB_E_SQL, "stream \"%s\": the 'brokers' option ('host:port,...') is required",
                     name);
        goto fail;
    }
    if ((ks->topic == NULL) == (ks->pattern == NULL)) {
        rc = TB_ERRF(err, TB_E_SQL, "stream \"%s\": give either 'topic' or 'topic_pattern'", name);
        goto fail;
    }
    if (ks->pattern != NULL) {
        tb_buf b = {0};
        if (tb_buf_printf(&b, "^(%s)$", ks->pattern) != TB_OK) {
            rc = tb_err_nomem(err);
            goto fail;
        }
        int r = regcomp(&ks->re, b.data, REG_EXTENDED | REG_NOSUB);
        tb_buf_free(&b);
        if (r != 0) {
            rc = TB_ERRF(err, TB_E_SQL, "stream \"%s\": topic_pattern '%s' is not a valid regular "
                         "expression", name, ks->pattern);
            goto fail;
        }
        ks->re_ok = true;
    }
    if (ks->group_id == NULL) {
        tb_buf b = {0};
        if (tb_buf_printf(&b, "tributary-%s", args->query_id ? args->query_id : name) != TB_OK) {
            rc = tb_err_nomem(err);
            goto fail;
        }
        ks->group_id = b.data;
    }
    ks->base.writes_files = ks->bad_dir != NULL;
    if (ks->bad_dir != NULL && (rc = tb_mkdirs(ks->bad_dir, err)) != TB_OK) {
        tb_err_prefix(err, "stream \"%s\": bad_records_path", name);
        goto fail;
    }
    /* Columns: metadata by name, the rest decoded from the value. */
    const tb_schema *s = args->schema;
    ks->meta = tb_calloc(s->n, sizeof(int));
    ks->dcol = tb_calloc(s->n, sizeof(int));
    if (ks->meta == NULL || ks->dcol == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    uint32_t n_data = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        ks->meta[i] = META_NONE;
        for (int m = 0; m < (int)(sizeof(meta_names) / sizeof(meta_names[0])); m++) {
            if (!tb_str_ieq(s->fields[i].name, meta_names[m]))
                continue;
            if (s->fields[i].type.id != meta_types[m]) {
                char tn[64];
                rc = TB_ERRF(err, TB_E_TYPE, "stream \"%s\": metadata column %s must be %s, not %s",
                             name, meta_names[m], tb_type_id_name(meta_types[m]),
                             tb_type_name(s->fields[i].type, tn, sizeof(tn)));
                goto fail;
            }
            ks->meta[i] = m;
        }
        ks->dcol[i] = ks->meta[i] == META_NONE ? (int)n_data++ : -1;
    }
    if (n_data == 0) {
        rc = TB_ERRF(err, TB_E_SQL, "stream \"%s\": declare at least one column for the message "
                     "value (besides kafka_* metadata columns)", name);
        goto fail;
    }
    ks->dschema = tb_schema_new(n_data);
    if (ks->dschema == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    for (uint32_t i = 0; i < s->n; i++)
        if (ks->dcol[i] >= 0 &&
            tb_schema_set(ks->dschema, (uint32_t)ks->dcol[i], s->fields[i].name, s->fields[i].type,
                          true) != TB_OK) {
            rc = tb_err_nomem(err);
            goto fail;
        }
    if (ks->fmt == FMT_TEXT && (n_data != 1 || ks->dschema->fields[0].type.id != TB_T_STRING)) {
        rc = TB_ERRF(err, TB_E_SQL, "stream \"%s\": format 'text' gives one text column (the "
                     "value), besides kafka_* metadata columns", name);
        goto fail;
    }
    ks->base.vt = &tb_ssrc_kafka_vt;
    *out = &ks->base;
    return TB_OK;
fail:
    ks_free(&ks->base);
    return rc;
}

/* ---------------------------------------------------------------- restore, plan */

static tb_rc restore_range(void *ud, const char *topic, int32_t part, int64_t start,
                           int64_t end, tb_err *err)
{
    ksrc *ks = ud;
    kpart *p = find_part(ks, topic, part);
    TB_UNUSED(start);
    if (p == NULL) {
        tb_rc rc = add_part(ks, topic, part, &p, err);
        if (rc != TB_OK)
            return rc;
    }
    if (end > p->next) {
        p->next = end;
        ks->assigned_dirty = true;
    }
    return TB_OK;
}

static tb_rc ks_restore(tb_ssrc *src, const json_t *offsets, tb_err *err)
{
    ksrc *ks = (ksrc *)src;
    tb_rc rc = tb_kafka_offsets_each(offsets, restore_range, ks, err);
    if (rc != TB_OK)
        tb_err_prefix(err, "stream \"%s\": checkpoint", src->name);
    /* the checkpoint is the start: partitions it lacks are new (from earliest, as Spark) */
    ks->restored = true;
    return rc;
}

static void drain_pipe(ksrc *ks)
{
    char b[64];
    while (read(ks->pipe_fd[0], b, sizeof(b)) > 0) {
    }
}

static int64_t backlog_of(ksrc *ks, kpart *p)
{
    int64_t lo = -1, hi = -1;
    if (p->next < 0)
        return 0;
    if (rd_kafka_get_watermark_offsets(ks->rk, p->topic, p->part, &lo, &hi) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        hi >= 0 && hi > p->hi)
        p->hi = hi;
    return p->hi > p->next ? p->hi - p->next : 0;
}

static tb_rc ks_plan(tb_ssrc *src, int timeout_ms, json_t **out, bool *out_more, tb_err *err)
{
    ksrc *ks = (ksrc *)src;
    tb_rc rc;
    *out = NULL;
    *out_more = false;
    if ((rc = ensure_started(ks, err)) != TB_OK)
        return rc;
    if ((tb_now_ns() - ks->last_meta_ns) / 1000000 >= ks->discovery_ms &&
        (rc = discover(ks, err)) != TB_OK)
        return rc;
    int64_t deadline = tb_now_ns() + (int64_t)timeout_ms * 1000000;
    int64_t total = 0;
    bool asked = false;
    for (;;) {
        rd_kafka_poll(ks->rk, 0); /* error and commit callbacks */
        total = 0;
        for (size_t i = 0; i < ks->n_parts; i++)
            total += backlog_of(ks, ks->parts[i]);
        if (total > 0)
            break;
        if (!asked) {
            /* nothing cached: ask the leaders once (a fetch may not have answered yet) */
            asked = true;
            for (size_t i = 0; i < ks->n_parts; i++) {
                kpart *p = ks->parts[i];
                int64_t lo, hi;
                if (p->next >= 0 && p->hi <= p->next &&
                    rd_kafka_query_watermark_offsets(ks->rk, p->topic, p->part, &lo, &hi, 1000) ==
                        RD_KAFKA_RESP_ERR_NO_ERROR &&
                    hi > p->hi)
                    p->hi = hi;
            }
            continue;
        }
        int64_t left = (deadline - tb_now_ns()) / 1000000;
        if (left <= 0)
            return TB_OK;
        struct pollfd pf = {.fd = ks->pipe_fd[0], .events = POLLIN};
        (void)poll(&pf, 1, (int)TB_MIN(left, 2)); /* queues holding an EOF event do not signal */
        drain_pipe(ks);
    }
    json_t *offs = json_object();
    if (offs == NULL)
        return tb_err_nomem(err);
    /* the once trigger's single batch takes everything (plan_all, as Spark's Once) */
    int64_t budget = ks->max_offsets > 0 && total > ks->max_offsets && !src->plan_all
                         ? ks->max_offsets
                         : total;
    int64_t given = 0;
    int64_t *take = tb_calloc(ks->n_parts ? ks->n_parts : 1, sizeof(int64_t));
    if (take == NULL) {
        json_decref(offs);
        return tb_err_nomem(err);
    }
    /* Spark's split of a bounded batch: each partition in proportion to its backlog,
     * the remainder one offset each in partition order. */
    for (size_t i = 0; i < ks->n_parts; i++) {
        int64_t b = ks->parts[i]->hi > ks->parts[i]->next && ks->parts[i]->next >= 0
                        ? ks->parts[i]->hi - ks->parts[i]->next
                        : 0;
        take[i] = budget == total ? b : (int64_t)((__int128)b * budget / total);
        given += take[i];
    }
    for (size_t i = 0; given < budget && i < ks->n_parts; i++) {
        kpart *p = ks->parts[i];
        if (p->next >= 0 && p->hi - p->next > take[i]) {
            take[i]++;
            given++;
        }
    }
    for (size_t i = 0; i < ks->n_parts; i++) {
        kpart *p = ks->parts[i];
        if (p->next < 0)
            continue;
        json_t *t = json_object_get(offs, p->topic);
        char key[16];
        snprintf(key, sizeof(key), "%d", (int)p->part);
        if (t == NULL && json_object_set_new(offs, p->topic, t = json_object()) != 0)
            t = NULL;
        if (t == NULL ||
            json_object_set_new(t, key, json_pack("[II]", (json_int_t)p->next,
                                                  (json_int_t)(p->next + take[i]))) != 0) {
            tb_free(take);
            json_decref(offs);
            return tb_err_nomem(err);
        }
        p->next += take[i];
        if (p->hi > p->next)
            *out_more = true;
    }
    tb_free(take);
    *out = offs;
    return TB_OK;
}

/* ---------------------------------------------------------------- reading a batch */

typedef struct krange {
    kpart *p;
    int64_t start, end;
} krange;

typedef struct kop {
    tb_op base;
    ksrc *ks;
    krange *ranges;
    size_t n_ranges, cap_ranges, cur;
    bool started; /* the current range was positioned */
    int64_t pos;  /* next offset wanted in the current range */
    int64_t last_progress_ns;
    int *out_meta; /* per output column: metadata kind, or META_NONE */
    int *out_d;    /* per output column: column of the decoder's output */
    int *dproj;
    uint32_t n_dproj;
    tb_arena *arena;
    /* the chunk: message values, one a line, of one partition */
    kpart *cpart;
    char name[300];
    tb_buf buf;
    tb_buf mbuf; /* keys and headers */
    size_t n_msgs, cap_msgs;
    int64_t *m_off, *m_ts;
    int64_t *m_key, *m_hdr; /* offset into mbuf, -1 NULL */
    uint32_t *m_key_len, *m_hdr_len;
    uint32_t *m_val; /* text format: value offset into buf */
    uint32_t *m_val_len;
    uint8_t *m_bad;
    bool single; /* the chunk is one message decoded alone */
    size_t row_msg;
    tb_source *dec;
    rd_kafka_message_t *mb[256];
    tb_buf bad_out; /* bad records of the current range (JSON lines) */
} kop;

static void put_json_str(tb_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    (void)tb_buf_putc(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            (void)tb_buf_putc(b, '\\');
            (void)tb_buf_putc(b, (char)c);
            i++;
        } else if (c < 0x20) {
            char e[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
            (void)tb_buf_puts(b, e);
            i++;
        } else if (c < 0x80) {
            (void)tb_buf_putc(b, (char)c);
            i++;
        } else {
            size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
            if (len > 1 && i + len <= n && tb_utf8_valid(s + i, len)) {
                (void)tb_buf_append(b, s + i, len);
                i += len;
            } else {
                (void)tb_buf_puts(b, "\\ufffd");
                i++;
            }
        }
    }
    (void)tb_buf_putc(b, '"');
}

/* The partition of the chunk being decoded (the current range may be the next one). */
static kpart *cur_part(kop *k)
{
    return k->cpart;
}

/* Rename "NAME:LINE" in a decoder's message to "topic T partition P offset O". */
static void rewrite_loc(kop *k, tb_err *err)
{
    size_t nl = strlen(k->name);
    char *at = strstr(err->msg, k->name);
    if (at == NULL || at[nl] != ':')
        return;
    char *end = NULL;
    unsigned long line = strtoul(at + nl + 1, &end, 10);
    if (end == at + nl + 1 || line == 0)
        return;
    size_t idx = k->single ? 0 : line - 1;
    if (idx >= k->n_msgs)
        return;
    char msg[TB_ERR_MSG_CAP];
    snprintf(msg, sizeof(msg), "stream \"%s\": %.*s%s offset %" PRId64 "%s", k->ks->base.name,
             (int)(at - err->msg), err->msg, k->name, k->m_off[idx], end);
    snprintf(err->msg, sizeof(err->msg), "%s", msg);
}

static void bad_note(kop *k, size_t idx, const char *raw, size_t raw_len, const char *reason)
{
    kpart *p = cur_part(k);
    if (idx < k->n_msgs) {
        if (k->m_bad[idx])
            return; /* one message, several bad lines (decoded alone): counted once */
        k->m_bad[idx] = 1;
    }
    k->ks->base.stats.rows_malformed++;
    if (k->ks->bad_dir == NULL)
        return;
    tb_buf *b = &k->bad_out;
    (void)tb_buf_puts(b, "{\"topic\":");
    put_json_str(b, p->topic, strlen(p->topic));
    (void)tb_buf_printf(b, ",\"partition\":%d,\"offset\":%" PRId64 ",\"reason\":", (int)p->part,
                        idx < k->n_msgs ? k->m_off[idx] : -1);
    put_json_str(b, reason, strlen(reason));
    (void)tb_buf_puts(b, ",\"record\":");
    put_json_str(b, raw, raw_len);
    (void)tb_buf_puts(b, "}\n");
}

static void on_bad(void *ud, const char *file, uint64_t line, const char *raw, size_t raw_len,
                   const char *reason)
{
    kop *k = ud;
    TB_UNUSED(file);
    bad_note(k, k->single ? 0 : (size_t)line - 1, raw, raw_len, reason);
}

static tb_rc finish_range(kop *k, tb_err *err)
{
    TB_UNUSED(err);
    k->cur++;
    k->started = false;
    return TB_OK;
}

/*
 * The batch's bad records, written (durably, atomically) before the operator returns
 * its end: bad_records-[<query>-]<batch>.jsonl, as the file source names them, so a
 * re-run batch rewrites the same file. Nothing for a read outside a checkpointed batch.
 */
static tb_rc write_bad_records(kop *k, tb_err *err)
{
    ksrc *ks = k->ks;
    if (k->bad_out.len == 0 || ks->base.batch < 0 || ks->bad_dir == NULL)
        return TB_OK;
    tb_buf path = {0};
    tb_rc rc;
    if ((ks->base.query != NULL
             ? tb_buf_printf(&path, "%s/bad_records-%s-%" PRId64 ".jsonl", ks->bad_dir,
                             ks->base.query, ks->base.batch)
             : tb_buf_printf(&path, "%s/bad_records-%" PRId64 ".jsonl", ks->bad_dir,
                             ks->base.batch)) != TB_OK)
        return tb_err_nomem(err);
    rc = tb_file_write_atomic(path.data, k->bad_out.data, k->bad_out.len, err);
    tb_buf_free(&path);
    k->bad_out.len = 0;
    return rc;
}

static tb_rc seek_part(ksrc *ks, kpart *p, int64_t off, tb_err *err)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    if (l == NULL)
        return tb_err_nomem(err);
    rd_kafka_topic_partition_list_add(l, p->topic, p->part)->offset = off;
    /* asynchronous: a loaded broker must not fail the batch; messages of the old
     * position are dropped by librdkafka's version barrier, and any before pos here */
    rd_kafka_error_t *e = rd_kafka_seek_partitions(ks->rk, l, 0);
    tb_rc rc = TB_OK;
    if (e != NULL) {
        rc = TB_ERRF(err, TB_E_IO, "stream \"%s\": topic %s partition %d: seek to offset %" PRId64
                     ": %s", ks->base.name, p->topic, (int)p->part, off,
                     rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    } else if (l->elems[0].err != RD_KAFKA_RESP_ERR_NO_ERROR &&
               l->elems[0].err != RD_KAFKA_RESP_ERR__IN_PROGRESS) {
        rc = TB_ERRF(err, TB_E_IO, "stream \"%s\": topic %s partition %d: seek to offset %" PRId64
                     ": %s", ks->base.name, p->topic, (int)p->part, off,
                     rd_kafka_err2str(l->elems[0].err));
    }
    rd_kafka_topic_partition_list_destroy(l);
    drop_held(p);
    p->read_pos = off;
    return rc;
}

/* Offsets [from, to) of the current range are gone from the log (retention). */
static tb_rc data_loss(kop *k, int64_t from, int64_t to, tb_err *err)
{
    ksrc *ks = k->ks;
    krange *r = &k->ranges[k->cur];
    kpart *p = r->p;
    if (to > r->end)
        to = r->end;
    if (ks->fail_on_data_loss && ks->base.batch >= 0) {
        tb_rc rc = TB_ERRF(err, TB_E_IO,
                           "stream \"%s\": data loss: topic %s partition %d offsets %" PRId64
                           "..%" PRId64 " are no longer in the log (removed by retention?); "
                           "set fail_on_data_loss = false to skip them",
                           ks->base.name, p->topic, (int)p->part, from, to - 1);
        err->fatal = true;
        return rc;
    }
    tb_log(TB_LOG_WARN,
           "stream %s: data loss: topic %s partition %d offsets %" PRId64 "..%" PRId64
           " are no longer in the log; skipped (fail_on_data_loss = false)",
           ks->base.name, p->topic, (int)p->part, from, to - 1);
    ks->offsets_lost += (uint64_t)(to - from);
    k->pos = to;
    return to < r->end ? seek_part(ks, p, to, err) : TB_OK;
}

static tb_rc start_range(kop *k, tb_err *err)
{
    ksrc *ks = k->ks;
    krange *r = &k->ranges[k->cur];
    kpart *p = r->p;
    tb_rc rc;
    k->pos = r->start;
    k->started = true;
    k->last_progress_ns = tb_now_ns();
    snprintf(k->name, sizeof(k->name), "topic %s partition %d", p->topic, (int)p->part);
    if (r->start >= r->end)
        return TB_OK;
    int64_t lo = -1, hi = -1;
    if (rd_kafka_query_watermark_offsets(ks->rk, p->topic, p->part, &lo, &hi, 5000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        lo > r->start) {
        if ((rc = data_loss(k, r->start, lo, err)) != TB_OK)
            return rc;
        if (k->pos >= r->end)
            return TB_OK;
    }
    if (p->read_pos != k->pos)
        return seek_part(ks, p, k->pos, err);
    return TB_OK;
}

static void chunk_reset(kop *k)
{
    k->buf.len = 0;
    k->mbuf.len = 0;
    k->n_msgs = 0;
    k->row_msg = 0;
    k->single = false;
}

static bool is_text_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

/*
 * Add a message to the chunk. Returns 1 when the chunk must end before it (a message
 * to decode alone while the chunk holds others), 0 when added (or skipped: empty).
 */
static int chunk_add(kop *k, const rd_kafka_message_t *m, tb_err *err, tb_rc *rc)
{
    ksrc *ks = k->ks;
    const char *v = m->payload ? (const char *)m->payload : "";
    size_t n = m->payload ? m->len : 0;
    bool single = false;
    *rc = TB_OK;
    if (ks->fmt != FMT_TEXT && (n == 0 || (ks->fmt == FMT_JSON && is_text_blank(v, n))))
        return 0; /* a tombstone: no row */
    if (ks->fmt == FMT_CSV) {
        single = memchr(v, '\n', n) != NULL || memchr(v, '\r', n) != NULL;
    } else if (ks->fmt == FMT_JSON) {
        bool in_str = false, esc = false;
        for (size_t i = 0; i < n; i++) {
            char c = v[i];
            if (in_str) {
                if (esc)
                    esc = false;
                else if (c == '\\')
                    esc = true;
                else if (c == '"')
                    in_str = false;
                else if (c == '\n' || c == '\r')
                    single = true;
            } else if (c == '"') {
                in_str = true;
            }
        }
    }
    if (single && k->n_msgs > 0)
        return 1;
    if (k->n_msgs + 1 > k->cap_msgs) {
        size_t cap = TB_MAX(k->cap_msgs * 2, 256);
        void *a[9] = {tb_realloc(k->m_off, cap * 8),     tb_realloc(k->m_ts, cap * 8),
                      tb_realloc(k->m_key, cap * 8),     tb_realloc(k->m_hdr, cap * 8),
                      tb_realloc(k->m_key_len, cap * 4), tb_realloc(k->m_hdr_len, cap * 4),
                      tb_realloc(k->m_val, cap * 4),     tb_realloc(k->m_val_len, cap * 4),
                      tb_realloc(k->m_bad, cap)};
        if (a[0])
            k->m_off = a[0];
        if (a[1])
            k->m_ts = a[1];
        if (a[2])
            k->m_key = a[2];
        if (a[3])
            k->m_hdr = a[3];
        if (a[4])
            k->m_key_len = a[4];
        if (a[5])
            k->m_hdr_len = a[5];
        if (a[6])
            k->m_val = a[6];
        if (a[7])
            k->m_val_len = a[7];
        if (a[8])
            k->m_bad = a[8];
        for (int i = 0; i < 9; i++)
            if (a[i] == NULL) {
                *rc = tb_err_nomem(err);
                return 0;
            }
        k->cap_msgs = cap;
    }
    size_t i = k->n_msgs;
    if (i == 0)
        k->cpart = k->ranges[k->cur].p;
    k->m_off[i] = m->offset;
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(m, &tt);
    k->m_ts[i] = ts >= 0 ? ts * 1000 : INT64_MIN;
    k->m_key[i] = k->m_hdr[i] = -1;
    k->m_key_len[i] = k->m_hdr_len[i] = 0;
    k->m_bad[i] = 0;
    if (m->key != NULL) {
        k->m_key[i] = (int64_t)k->mbuf.len;
        if (tb_utf8_valid(m->key, m->key_len)) {
            *rc = tb_buf_append(&k->mbuf, m->key, m->key_len);
            k->m_key_len[i] = (uint32_t)m->key_len;
        } else {
            k->m_key[i] = -1; /* not text: NULL (kafka_key is text) */
        }
    }
    rd_kafka_headers_t *hdrs = NULL;
    if (*rc == TB_OK && rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        hdrs != NULL) {
        size_t start = k->mbuf.len;
        const char *hn;
        const void *hv;
        size_t hl;
        (void)tb_buf_putc(&k->mbuf, '{');
        for (size_t h = 0; rd_kafka_header_get_all(hdrs, h, &hn, &hv, &hl) ==
                           RD_KAFKA_RESP_ERR_NO_ERROR;
             h++) {
            if (h > 0)
                (void)tb_buf_putc(&k->mbuf, ',');
            put_json_str(&k->mbuf, hn, strlen(hn));
            (void)tb_buf_putc(&k->mbuf, ':');
            if (hv == NULL)
                (void)tb_buf_puts(&k->mbuf, "null");
            else
                put_json_str(&k->mbuf, hv, hl);
        }
        (void)tb_buf_putc(&k->mbuf, '}');
        k->m_hdr[i] = (int64_t)start;
        k->m_hdr_len[i] = (uint32_t)(k->mbuf.len - start);
    }
    k->m_val[i] = (uint32_t)k->buf.len;
    k->m_val_len[i] = (uint32_t)n;
    if (*rc == TB_OK && tb_buf_reserve(&k->buf, n + 1) != TB_OK)
        *rc = tb_err_nomem(err);
    if (*rc != TB_OK)
        return 0;
    char *d = k->buf.data + k->buf.len;
    memcpy(d, v, n);
    if (ks->fmt == FMT_JSON && !single)
        for (size_t j = 0; j < n; j++)
            if (d[j] == '\n' || d[j] == '\r')
                d[j] = ' '; /* outside strings (checked above): JSON white space */
    k->buf.len += n;
    if (ks->fmt != FMT_TEXT)
        k->buf.data[k->buf.len++] = '\n';
    k->ks->base.stats.bytes_read += n;
    k->n_msgs++;
    k->single = single;
    return 0;
}

/* Fill the chunk from the current range(s). *out_any: messages were added. */
static tb_rc fill_chunk(kop *k, tb_err *err)
{
    ksrc *ks = k->ks;
    tb_rc rc = TB_OK;
    chunk_reset(k);
    while (k->cur < k->n_ranges) {
        krange *r = &k->ranges[k->cur];
        kpart *p = r->p;
        if (!k->started && (rc = start_range(k, err)) != TB_OK)
            return rc;
        if (k->pos >= r->end) {
            if ((rc = finish_range(k, err)) != TB_OK)
                return rc;
            if (k->n_msgs > 0)
                return TB_OK; /* a chunk holds one partition */
            continue;
        }
        if (k->n_msgs >= CHUNK_MSGS || k->buf.len >= CHUNK_BYTES || k->single)
            return TB_OK;
        rd_kafka_message_t *m = NULL;
        ssize_t got;
        bool full = false;
        if (p->n_held > 0) {
            memcpy(k->mb, p->held, p->n_held * sizeof(p->held[0]));
            got = (ssize_t)p->n_held;
            p->n_held = 0;
        } else {
            size_t want = (size_t)TB_MIN((int64_t)256, r->end - k->pos);
            want = TB_MIN(want, CHUNK_MSGS - k->n_msgs);
            /* what is there now; else wait for the first (a batch call waits until it
             * has `want` messages or times out, which costs latency) */
            got = rd_kafka_consume_batch_queue(p->q, 0, k->mb, want);
            if (got == 0)
                got = rd_kafka_consume_batch_queue(p->q, 100, k->mb, 1);
            if (got < 0)
                return TB_ERRF(err, TB_E_IO, "stream \"%s\": %s: %s", ks->base.name, k->name,
                               rd_kafka_err2str(rd_kafka_last_error()));
        }
        if (got == 0) {
            rd_kafka_poll(ks->rk, 0);
            int64_t idle = (tb_now_ns() - k->last_progress_ns) / 1000000;
            if (ks->read_timeout_ms > 0 && idle >= ks->read_timeout_ms)
                return TB_ERRF(err, TB_E_IO,
                               "stream \"%s\": %s: no message for %" PRId64
                               " ms while reading offsets %" PRId64 "..%" PRId64
                               " (at %" PRId64 ")%s%s; raise read_timeout_ms if the brokers "
                               "are slow",
                               ks->base.name, k->name, idle, r->start, r->end - 1, k->pos,
                               ks->last_error[0] ? ": " : "", ks->last_error);
            continue;
        }
        for (ssize_t i = 0; i < got; i++) {
            m = k->mb[i];
            k->mb[i] = NULL;
            if (rc != TB_OK) {
                rd_kafka_message_destroy(m);
                continue;
            }
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                p->read_pos = m->offset;
                if (m->offset >= r->end && k->pos < r->end)
                    k->pos = r->end; /* the range ends in a gap (control records) */
            } else if (m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE ||
                       m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
                int64_t lo = -1, hi = -1;
                rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
                    ks->rk, p->topic, p->part, &lo, &hi, 5000);
                if (e == RD_KAFKA_RESP_ERR_NO_ERROR && lo > k->pos)
                    rc = data_loss(k, k->pos, lo, err);
                else if (e == RD_KAFKA_RESP_ERR_NO_ERROR && k->pos >= hi)
                    rc = TB_ERRF(err, TB_E_IO,
                                 "stream \"%s\": %s: offset %" PRId64 " is past the end of the "
                                 "log (%" PRId64 "): was the topic recreated?",
                                 ks->base.name, k->name, k->pos, hi);
                else
                    rc = seek_part(ks, p, k->pos, err);
                /* the seek dropped what was held; the rest of mb is stale */
                for (ssize_t j = i + 1; j < got; j++) {
                    rd_kafka_message_destroy(k->mb[j]);
                    k->mb[j] = NULL;
                }
                got = i + 1;
            } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                tb_log(TB_LOG_WARN, "stream %s: %s: %s (retrying)", ks->base.name, k->name,
                       rd_kafka_message_errstr(m));
            } else if (m->offset < k->pos) {
                /* before the range (a seek's leftover) */
            } else if (m->offset >= r->end) {
                /* past the range (a gap): read again after the seek of the next range */
                p->read_pos = -2;
            } else if (k->single || k->n_msgs >= CHUNK_MSGS ||
                       chunk_add(k, m, err, &rc) == 1) {
                /* the chunk is complete: this message and the rest come first next time */
                for (ssize_t j = i; j < got; j++) {
                    p->held[p->n_held++] = j == i ? m : k->mb[j];
                    k->mb[j] = NULL;
                }
                m = NULL;
                got = i;
                full = true;
            } else {
                k->pos = m->offset + 1;
                if (p->read_pos != -2)
                    p->read_pos = k->pos;
                k->last_progress_ns = tb_now_ns();
            }
            if (m != NULL)
                rd_kafka_message_destroy(m);
        }
        if (rc != TB_OK || full)
            return rc;
    }
    return TB_OK;
}

/* Output column j of rows whose messages are idx[0..n) (metadata). */
static tb_rc meta_vec(kop *k, int kind, const uint32_t *idx, uint32_t n, tb_vec *v, tb_err *err)
{
    kpart *p = cur_part(k);
    tb_type t = tb_type_make(meta_types[kind]);
    uint32_t cap = n ? n : 1;
    if (tb_vec_init(v, t, cap, k->arena) != TB_OK)
        return tb_err_nomem(err);
    for (uint32_t r = 0; r < n; r++) {
        size_t m = idx[r];
        switch (kind) {
        case META_KEY:
        case META_HEADERS: {
            int64_t o = kind == META_KEY ? k->m_key[m] : k->m_hdr[m];
            uint32_t l = kind == META_KEY ? k->m_key_len[m] : k->m_hdr_len[m];
            tb_str *s = &TB_VEC_PTR(v, tb_str)[r];
            if (o < 0) {
                s->ptr = "";
                s->len = 0;
                if (tb_vec_set_null(v, r, cap, k->arena) != TB_OK)
                    return tb_err_nomem(err);
            } else {
                s->ptr = k->mbuf.data + o;
                s->len = l;
            }
            break;
        }
        case META_TOPIC:
            TB_VEC_PTR(v, tb_str)[r] = (tb_str){p->topic, (uint32_t)strlen(p->topic)};
            break;
        case META_PARTITION:
            TB_VEC_PTR(v, int32_t)[r] = p->part;
            break;
        case META_OFFSET:
            TB_VEC_PTR(v, int64_t)[r] = k->m_off[m];
            break;
        default:
            TB_VEC_PTR(v, int64_t)[r] = k->m_ts[m] == INT64_MIN ? 0 : k->m_ts[m];
            if (k->m_ts[m] == INT64_MIN && tb_vec_set_null(v, r, cap, k->arena) != TB_OK)
                return tb_err_nomem(err);
            break;
        }
    }
    return TB_OK;
}

/* The chunk of a text-format source as the decoder's output (one text column). */
static tb_rc text_batch(kop *k, tb_batch **out, uint32_t **out_idx, tb_err *err)
{
    uint32_t n = 0;
    tb_batch *b = NULL;
    uint32_t *idx = tb_arena_alloc(k->arena, sizeof(uint32_t) * (k->n_msgs ? k->n_msgs : 1));
    if (idx == NULL || tb_batch_shell(k->n_dproj, k->arena, &b) != TB_OK)
        return tb_err_nomem(err);
    tb_vec v;
    if (tb_vec_init(&v, tb_type_make(TB_T_STRING), (uint32_t)k->n_msgs + 1, k->arena) != TB_OK)
        return tb_err_nomem(err);
    for (size_t i = 0; i < k->n_msgs; i++) {
        const char *val = k->buf.data + k->m_val[i];
        uint32_t len = k->m_val_len[i];
        bool ok = tb_utf8_valid(val, len) && memchr(val, '\0', len) == NULL;
        if (!ok) {
            bad_note(k, i, val, len, "the value is not UTF-8 text");
            if (k->ks->mode == MODE_FAILFAST)
                return TB_ERRF(err, TB_E_PARSE,
                               "stream \"%s\": %s offset %" PRId64
                               ": the value is not UTF-8 text (mode failfast)",
                               k->ks->base.name, k->name, k->m_off[i]);
            if (k->ks->mode == MODE_DROP)
                continue;
        }
        TB_VEC_PTR(&v, tb_str)[n] = (tb_str){ok ? val : "", ok ? len : 0};
        if (!ok && tb_vec_set_null(&v, n, (uint32_t)k->n_msgs + 1, k->arena) != TB_OK)
            return tb_err_nomem(err);
        idx[n++] = (uint32_t)i;
    }
    for (uint32_t j = 0; j < k->n_dproj; j++)
        b->cols[j] = v;
    b->n_rows = b->cap = n;
    *out = b;
    *out_idx = idx;
    return TB_OK;
}

static tb_rc kop_next(tb_op *op, tb_batch **out, tb_err *err)
{
    kop *k = (kop *)op;
    ksrc *ks = k->ks;
    tb_rc rc;
    *out = NULL;
    tb_arena_reset(k->arena);
    for (;;) {
        tb_batch *b = NULL;
        uint32_t *idx = NULL;
        if (k->dec != NULL) {
            rc = tb_source_next(k->dec, k->arena, &b, err);
            if (rc != TB_OK) {
                rewrite_loc(k, err);
                return rc;
            }
            if (b == NULL) {
                tb_source_free(k->dec);
                k->dec = NULL;
                chunk_reset(k);
                continue;
            }
            if (k->single && b->n_rows > 1) {
                /* one message value holding several records (a line break) */
                const char *val = k->buf.data;
                size_t len = k->buf.len ? k->buf.len - 1 : 0;
                if (ks->mode == MODE_FAILFAST)
                    return TB_ERRF(err, TB_E_PARSE,
                                   "stream \"%s\": %s offset %" PRId64
                                   ": the value holds %u records (line breaks), not one",
                                   ks->base.name, k->name, k->m_off[0], b->n_rows);
                if (!k->m_bad[0])
                    bad_note(k, 0, val, len, "the value holds several records (line breaks)");
                tb_log(TB_LOG_WARN, "stream %s: %s offset %" PRId64 ": the value holds several "
                       "records (line breaks): dropped", ks->base.name, k->name, k->m_off[0]);
                tb_source_free(k->dec);
                k->dec = NULL;
                chunk_reset(k);
                continue;
            }
            idx = tb_arena_alloc(k->arena, sizeof(uint32_t) * (b->n_rows ? b->n_rows : 1));
            if (idx == NULL)
                return tb_err_nomem(err);
            for (uint32_t r = 0; r < b->n_rows; r++) {
                if (ks->mode == MODE_DROP)
                    while (k->row_msg < k->n_msgs && k->m_bad[k->row_msg])
                        k->row_msg++;
                if (k->row_msg >= k->n_msgs)
                    return TB_ERRF(err, TB_E_ERROR, "stream \"%s\": %s: more rows than messages",
                                   ks->base.name, k->name);
                idx[r] = (uint32_t)k->row_msg++;
            }
        } else {
            if ((rc = fill_chunk(k, err)) != TB_OK)
                return rc;
            if (k->n_msgs == 0) {
                if (k->cur >= k->n_ranges)
                    return write_bad_records(k, err); /* the end */
                continue;
            }
            if (ks->fmt == FMT_TEXT) {
                rc = text_batch(k, &b, &idx, err);
                if (rc != TB_OK)
                    return rc;
                /* the values stay in buf until the next fill (the next call) */
            } else {
                rc = ks->fmt == FMT_CSV
                         ? tb_csv_source_from_buffer(k->name, k->buf.data, k->buf.len, ks->csv,
                                                     ks->dschema, k->dproj, k->n_dproj, &k->dec,
                                                     err)
                         : tb_jsonl_source_from_buffer(k->name, k->buf.data, k->buf.len, ks->json,
                                                       ks->dschema, k->dproj, k->n_dproj,
                                                       &k->dec, err);
                if (rc != TB_OK)
                    return rc;
                if (ks->fmt == FMT_CSV)
                    tb_csv_source_on_bad_record(k->dec, on_bad, k);
                else
                    tb_jsonl_source_on_bad_record(k->dec, on_bad, k);
                continue;
            }
        }
        if (b->n_rows == 0)
            continue;
        tb_batch *ob = NULL;
        if (tb_batch_shell(op->schema->n, k->arena, &ob) != TB_OK)
            return tb_err_nomem(err);
        ob->n_rows = ob->cap = b->n_rows;
        for (uint32_t j = 0; j < op->schema->n; j++) {
            if (k->out_meta[j] != META_NONE) {
                rc = meta_vec(k, k->out_meta[j], idx, b->n_rows, &ob->cols[j], err);
                if (rc != TB_OK)
                    return rc;
            } else {
                ob->cols[j] = b->cols[k->out_d[j]];
            }
        }
        ks->base.stats.rows_read += b->n_rows;
        *out = ob;
        return TB_OK;
    }
}

static void kop_free(tb_op *op)
{
    kop *k = (kop *)op;
    tb_source_free(k->dec);
    tb_arena_free(k->arena);
    tb_buf_free(&k->buf);
    tb_buf_free(&k->mbuf);
    tb_buf_free(&k->bad_out);
    tb_free(k->ranges);
    tb_free(k->out_meta);
    tb_free(k->out_d);
    tb_free(k->dproj);
    tb_free(k->m_off);
    tb_free(k->m_ts);
    tb_free(k->m_key);
    tb_free(k->m_hdr);
    tb_free(k->m_key_len);
    tb_free(k->m_hdr_len);
    tb_free(k->m_val);
    tb_free(k->m_val_len);
    tb_free(k->m_bad);
}

static tb_rc kop_explain(tb_op *op, tb_buf *buf)
{
    kop *k = (kop *)op;
    return tb_buf_printf(buf, "kafka %s (%s, %zu partitions)", k->ks->base.name,
                         k->ks->topic ? k->ks->topic : k->ks->pattern, k->n_ranges);
}

static const tb_op_vt kop_vt = {"kafka", kop_next, kop_free, kop_explain, NULL};

static tb_rc add_range(void *ud, const char *topic, int32_t part, int64_t start, int64_t end,
                       tb_err *err)
{
    kop *k = ud;
    kpart *p = find_part(k->ks, topic, part);
    if (p == NULL) {
        /* a partition the checkpoint names but discovery has not seen yet */
        tb_rc rc = add_part(k->ks, topic, part, &p, err);
        if (rc != TB_OK)
            return rc;
        p->next = end;
    }
    if (tb_grow((void **)&k->ranges, &k->cap_ranges, k->n_ranges + 1, sizeof(krange)) != TB_OK)
        return tb_err_nomem(err);
    k->ranges[k->n_ranges++] = (krange){p, start, end};
    return TB_OK;
}

static int range_cmp(const void *a, const void *b)
{
    const krange *x = a, *y = b;
    return part_cmp(&x->p, &y->p);
}

static tb_rc ks_open(tb_ssrc *src, const json_t *offsets, const int *proj, uint32_t n_proj,
                     tb_op **out, tb_err *err)
{
    ksrc *ks = (ksrc *)src;
    tb_rc rc;
    *out = NULL;
    kop *k = tb_calloc(1, sizeof(*k));
    if (k == NULL)
        return tb_err_nomem(err);
    k->base.vt = &kop_vt;
    k->ks = ks;
    k->arena = tb_arena_new(0);
    k->base.schema = tb_schema_new(n_proj);
    k->out_meta = tb_calloc(n_proj ? n_proj : 1, sizeof(int));
    k->out_d = tb_calloc(n_proj ? n_proj : 1, sizeof(int));
    k->dproj = tb_calloc(n_proj ? n_proj : 1, sizeof(int));
    if (k->arena == NULL || k->base.schema == NULL || k->out_meta == NULL || k->out_d == NULL ||
        k->dproj == NULL) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    for (uint32_t j = 0; j < n_proj; j++) {
        const tb_field *f = &src->schema->fields[proj[j]];
        if (tb_schema_set(k->base.schema, j, f->name, f->type, true) != TB_OK) {
            rc = tb_err_nomem(err);
            goto fail;
        }
        k->out_meta[j] = ks->meta[proj[j]];
        k->out_d[j] = -1;
        if (k->out_meta[j] == META_NONE) {
            k->out_d[j] = (int)k->n_dproj;
            k->dproj[k->n_dproj++] = ks->dcol[proj[j]];
        }
    }
    if (ks->fmt == FMT_TEXT && k->n_dproj == 0)
        k->n_dproj = 0;
    if ((rc = ensure_started(ks, err)) != TB_OK)
        goto fail;
    if ((rc = tb_kafka_offsets_each(offsets, add_range, k, err)) != TB_OK) {
        tb_err_prefix(err, "stream \"%s\"", src->name);
        goto fail;
    }
    qsort(k->ranges, k->n_ranges, sizeof(krange), range_cmp);
    if (ks->assigned_dirty && (rc = assign_all(ks, err)) != TB_OK)
        goto fail;
    *out = &k->base;
    return TB_OK;
fail:
    tb_op_free(&k->base);
    return rc;
}

static tb_rc ack_range(void *ud, const char *topic, int32_t part, int64_t start, int64_t end,
                       tb_err *err)
{
    TB_UNUSED(start);
    TB_UNUSED(err);
    rd_kafka_topic_partition_list_add(ud, topic, part)->offset = end;
    return TB_OK;
}

static tb_rc ks_ack(tb_ssrc *src, const json_t *offsets, tb_err *err)
{
    ksrc *ks = (ksrc *)src;
    if (ks->rk == NULL)
        return TB_OK;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    if (l == NULL)
        return tb_err_nomem(err);
    tb_rc rc = tb_kafka_offsets_each(offsets, ack_range, l, err);
    if (rc == TB_OK && l->cnt > 0) {
        /* asynchronous: only lag tools read it; a failure (rebalance, coordinator
         * moving) is logged and the next batch's commit carries the newer offsets */
        rd_kafka_resp_err_t e = rd_kafka_commit(ks->rk, l, 1);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
            tb_log(TB_LOG_INFO, "stream %s: offset commit to group %s: %s", src->name,
                   ks->group_id, rd_kafka_err2str(e));
    }
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_poll(ks->rk, 0);
    return rc;
}

typedef struct describe_ud {
    ksrc *ks;
    json_t *start, *end, *latest;
} describe_ud;

static tb_rc describe_range(void *ud, const char *topic, int32_t part, int64_t start,
                            int64_t end, tb_err *err)
{
    describe_ud *d = ud;
    char key[16];
    TB_UNUSED(err);
    snprintf(key, sizeof(key), "%d", (int)part);
    json_t *objs[3] = {d->start, d->end, d->latest};
    kpart *p = find_part(d->ks, topic, part);
    int64_t vals[3] = {start, end, p != NULL && p->hi >= end ? p->hi : end};
    for (int i = 0; i < 3; i++) {
        json_t *t = json_object_get(objs[i], topic);
        if (t == NULL) {
            t = json_object();
            json_object_set_new(objs[i], topic, t);
        }
        json_object_set_new(t, key, json_integer(vals[i]));
    }
    return TB_OK;
}

static void ks_describe(tb_ssrc *src, const json_t *offsets, json_t *entry)
{
    ksrc *ks = (ksrc *)src;
    tb_err e;
    tb_err_clear(&e);
    char desc[600];
    snprintf(desc, sizeof(desc), "KafkaV2[%s[%s]]", ks->topic ? "Subscribe" : "SubscribePattern",
             ks->topic ? ks->topic : ks->pattern);
    describe_ud d = {ks, json_object(), json_object(), json_object()};
    (void)tb_kafka_offsets_each(offsets, describe_range, &d, &e);
    json_object_set_new(entry, "description", json_string(desc));
    json_object_set_new(entry, "startOffset", d.start);
    json_object_set_new(entry, "endOffset", d.end);
    json_object_set_new(entry, "latestOffset", d.latest);
    json_object_set_new(entry, "numOffsetsLost", json_integer((json_int_t)ks->offsets_lost));
}

static void ks_free(tb_ssrc *src)
{
    ksrc *ks = (ksrc *)src;
    if (ks == NULL)
        return;
    if (ks->rk != NULL) {
        for (size_t i = 0; i < ks->n_parts; i++) {
            drop_held(ks->parts[i]);
            if (ks->parts[i]->q != NULL) {
                rd_kafka_queue_io_event_enable(ks->parts[i]->q, -1, NULL, 0);
                rd_kafka_queue_destroy(ks->parts[i]->q);
                ks->parts[i]->q = NULL;
            }
        }
        /* no group was joined: closing only leaves the assignment */
        (void)rd_kafka_assign(ks->rk, NULL);
        rd_kafka_flush(ks->rk, 2000); /* the last asynchronous offset commit */
        (void)rd_kafka_consumer_close(ks->rk);
        rd_kafka_destroy(ks->rk);
    }
    for (size_t i = 0; i < ks->n_parts; i++)
        part_free(ks->parts[i]);
    tb_free(ks->parts);
    if (ks->pipe_fd[0] >= 0)
        close(ks->pipe_fd[0]);
    if (ks->pipe_fd[1] >= 0)
        close(ks->pipe_fd[1]);
    if (ks->re_ok)
        regfree(&ks->re);
    tb_free(ks->brokers);
    tb_free(ks->topic);
    tb_free(ks->pattern);
    tb_free(ks->group_id);
    tb_free(ks->corrupt);
    tb_free(ks->bad_dir);
    tb_csv_opts_free(ks->csv);
    tb_jsonl_opts_free(ks->json);
    json_decref(ks->start_json);
    tb_strlist_free(&ks->props);
    tb_free(ks->meta);
    tb_free(ks->dcol);
    tb_schema_free(ks->dschema);
    tb_schema_free(ks->base.schema);
    tb_free(ks->base.name);
    tb_free(ks);
}

const tb_ssrc_vt tb_ssrc_kafka_vt = {"kafka",     ks_create, ks_restore,  ks_plan,
                                  ks_open,     ks_ack,    ks_describe, ks_free};
