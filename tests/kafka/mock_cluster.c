/*
 * mock_cluster.c - hosts librdkafka's mock cluster (the only Kafka-protocol broker
 * installable here, see INFRA.md) for tests, examples and the benchmark.
 *
 *   tb_mock_kafka [--brokers N] [--topic NAME:PARTITIONS]... [--control FIFO]
 *
 * Prints "bootstrap HOST:PORT,..." then "ready" on stdout (ports are random: 2.0.2
 * cannot pin them, so callers read them from here), then serves real TCP clients in
 * other processes until "stop" is read or SIGTERM/SIGINT (the end of stdin does not
 * stop it: a background job's stdin is
 * /dev/null). Commands, one a line, from stdin and from the FIFO (created
 * if missing; opened read-write so writers may come and go); each is answered on stdout
 * with "ok <command>" or "error <reason>":
 *
 *   topic NAME PARTITIONS            create a topic (replication 3, or the brokers)
 *   down ID | up ID                  a broker stops / starts accepting connections
 *                                    (-1: all); no leader change, as the mock does it
 *   leader TOPIC PARTITION ID        move a partition's leadership
 *   rtt ID MS                        a broker's round-trip delay
 *   errors API ERR...                the next requests of API fail with ERR, in order
 *                                    (API: produce, fetch, listoffsets, metadata,
 *                                    offsetcommit, offsetfetch, findcoordinator,
 *                                    initproducerid or a number; ERR: a name as
 *                                    rd_kafka_err2name gives it without the prefix, e.g.
 *                                    NOT_LEADER_FOR_PARTITION, or a number)
 *   clear API                        forget the errors pushed for API
 *   coordinator group|transaction KEY ID   move a group's (transactional id's) coordinator
 *   topic_error TOPIC ERR            metadata answers ERR for TOPIC (the mock creates
 *                                    any topic asked for: UNKNOWN_TOPIC_OR_PART makes it
 *                                    missing, as on a broker without auto-creation)
 *   produce TOPIC PARTITION COUNT TEXT     COUNT messages, value TEXT with "%d"
 *                                    replaced by the message number (fills a log, e.g.
 *                                    past the mock's 5 MiB retention per partition)
 *   stop
 *
 * Exit status: 0 after stop, 1 on a setup error (message on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int api_key(const char *s)
{
    static const struct {
        const char *name;
        int key;
    } apis[] = {{"produce", 0},         {"fetch", 1},          {"listoffsets", 2},
                {"metadata", 3},        {"offsetcommit", 8},   {"offsetfetch", 9},
                {"findcoordinator", 10}, {"joingroup", 11},    {"heartbeat", 12},
                {"leavegroup", 13},     {"syncgroup", 14},     {"apiversion", 18},
                {"initproducerid", 22}, {"addpartitionstotxn", 24}, {"endtxn", 26}};
    for (size_t i = 0; i < sizeof(apis) / sizeof(apis[0]); i++)
        if (strcasecmp(s, apis[i].name) == 0)
            return apis[i].key;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    return end != s && *end == '\0' && v >= 0 && v < 100 ? (int)v : -1;
}

static int err_code(const char *s, rd_kafka_resp_err_t *out)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end != s && *end == '\0') {
        *out = (rd_kafka_resp_err_t)v;
        return 0;
    }
    for (int c = -200; c < 200; c++) {
        const char *name = rd_kafka_err2name((rd_kafka_resp_err_t)c);
        if (name == NULL)
            continue;
        if (strcasecmp(name, s) == 0 || (name[0] == '_' && strcasecmp(name + 1, s) == 0)) {
            *out = (rd_kafka_resp_err_t)c;
            return 0;
        }
    }
    return -1;
}

static int produce(rd_kafka_t *rk, const char *topic, int part, long count, const char *text)
{
    char buf[4096];
    for (long i = 0; i < count; i++) {
        const char *p = strstr(text, "%d");
        int n;
        if (p != NULL)
            n = snprintf(buf, sizeof(buf), "%.*s%ld%s", (int)(p - text), text, i, p + 2);
        else
            n = snprintf(buf, sizeof(buf), "%s", text);
        if (n < 0 || (size_t)n >= sizeof(buf))
            return -1;
        for (;;) {
            rd_kafka_resp_err_t e =
                rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
                                  RD_KAFKA_V_VALUE(buf, (size_t)n),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 10);
                continue;
            }
            if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
                return -1;
            break;
        }
        rd_kafka_poll(rk, 0);
    }
    return rd_kafka_flush(rk, 60000) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
}

/* Run one command line; returns 1 on "stop". */
static int command(rd_kafka_mock_cluster_t *mc, rd_kafka_t *prod, int n_brokers, char *line)
{
    char *argv[64];
    int argc = 0;
    char *save = NULL;
    for (char *t = strtok_r(line, " \t\r\n", &save); t != NULL && argc < 64;
         t = strtok_r(NULL, " \t\r\n", &save))
        argv[argc++] = t;
    if (argc == 0)
        return 0;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    const char *cmd = argv[0];
    if (strcmp(cmd, "stop") == 0) {
        printf("ok stop\n");
        return 1;
    } else if (strcmp(cmd, "topic") == 0 && argc == 3) {
        e = rd_kafka_mock_topic_create(mc, argv[1], atoi(argv[2]), n_brokers < 3 ? n_brokers : 3);
    } else if (strcmp(cmd, "down") == 0 && argc == 2) {
        e = rd_kafka_mock_broker_set_down(mc, atoi(argv[1]));
    } else if (strcmp(cmd, "up") == 0 && argc == 2) {
        e = rd_kafka_mock_broker_set_up(mc, atoi(argv[1]));
    } else if (strcmp(cmd, "leader") == 0 && argc == 4) {
        e = rd_kafka_mock_partition_set_leader(mc, argv[1], atoi(argv[2]), atoi(argv[3]));
    } else if (strcmp(cmd, "rtt") == 0 && argc == 3) {
        e = rd_kafka_mock_broker_set_rtt(mc, atoi(argv[1]), atoi(argv[2]));
    } else if (strcmp(cmd, "errors") == 0 && argc >= 3) {
        int key = api_key(argv[1]);
        rd_kafka_resp_err_t errs[60];
        if (key < 0) {
            printf("error unknown api '%s'\n", argv[1]);
            return 0;
        }
        for (int i = 2; i < argc; i++) {
            if (err_code(argv[i], &errs[i - 2]) != 0) {
                printf("error unknown error code '%s'\n", argv[i]);
                return 0;
            }
        }
        rd_kafka_mock_push_request_errors_array(mc, (int16_t)key, (size_t)(argc - 2), errs);
    } else if (strcmp(cmd, "clear") == 0 && argc == 2) {
        int key = api_key(argv[1]);
        if (key < 0) {
            printf("error unknown api '%s'\n", argv[1]);
            return 0;
        }
        rd_kafka_mock_clear_request_errors(mc, (int16_t)key);
    } else if (strcmp(cmd, "topic_error") == 0 && argc == 3) {
        rd_kafka_resp_err_t te;
        if (err_code(argv[2], &te) != 0) {
            printf("error unknown error code '%s'\n", argv[2]);
            return 0;
        }
        rd_kafka_mock_topic_set_error(mc, argv[1], te);
    } else if (strcmp(cmd, "coordinator") == 0 && argc == 4) {
        e = rd_kafka_mock_coordinator_set(mc, argv[1], argv[2], atoi(argv[3]));
    } else if (strcmp(cmd, "produce") == 0 && argc >= 5) {
        /* the text may hold blanks: rejoin the words after COUNT */
        char text[2048] = "";
        for (int i = 4; i < argc; i++) {
            if (i > 4)
                strncat(text, " ", sizeof(text) - strlen(text) - 1);
            strncat(text, argv[i], sizeof(text) - strlen(text) - 1);
        }
        if (produce(prod, argv[1], atoi(argv[2]), atol(argv[3]), text) != 0) {
            printf("error produce failed\n");
            return 0;
        }
    } else {
        printf("error unknown command or wrong arguments: %s\n", cmd);
        return 0;
    }
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        printf("error %s: %s\n", cmd, rd_kafka_err2str(e));
    else
        printf("ok %s\n", cmd);
    return 0;
}

/* Feed complete lines of fd's input to command(); returns 1 on stop, -1 on EOF. */
static int read_commands(int fd, char *buf, size_t cap, size_t *len, rd_kafka_mock_cluster_t *mc,
                         rd_kafka_t *prod, int n_brokers)
{
    ssize_t n = read(fd, buf + *len, cap - 1 - *len);
    if (n == 0)
        return -1;
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : -1;
    *len += (size_t)n;
    buf[*len] = '\0';
    char *nl;
    while ((nl = memchr(buf, '\n', *len)) != NULL) {
        *nl = '\0';
        int r = command(mc, prod, n_brokers, buf);
        fflush(stdout);
        size_t used = (size_t)(nl + 1 - buf);
        memmove(buf, nl + 1, *len - used);
        *len -= used;
        if (r == 1)
            return 1;
    }
    if (*len == cap - 1)
        *len = 0; /* an overlong line: dropped */
    return 0;
}

int main(int argc, char **argv)
{
    int n_brokers = 3;
    const char *fifo = NULL;
    char errstr[512];

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* The host's own producer (for "produce"): batches large, so filling a log is fast. */
    if (rd_kafka_conf_set(conf, "linger.ms", "5", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "mock_cluster: %s\n", errstr);
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc) {
            n_brokers = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--control") == 0 && i + 1 < argc) {
            fifo = argv[++i];
        } else if (strcmp(argv[i], "--topic") == 0 && i + 1 < argc) {
            i++; /* created below, once the cluster exists */
        } else {
            fprintf(stderr,
                    "usage: %s [--brokers N] [--topic NAME:PARTITIONS]... [--control FIFO]\n",
                    argv[0]);
            return 2;
        }
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "mock_cluster: %s\n", errstr);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, n_brokers);
    if (mc == NULL) {
        fprintf(stderr, "mock_cluster: cannot create the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--topic") != 0)
            continue;
        char *spec = argv[++i];
        char *colon = strrchr(spec, ':');
        int parts = colon != NULL ? atoi(colon + 1) : 1;
        if (colon != NULL)
            *colon = '\0';
        rd_kafka_resp_err_t e =
            rd_kafka_mock_topic_create(mc, spec, parts > 0 ? parts : 1, n_brokers < 3 ? n_brokers : 3);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "mock_cluster: topic %s: %s\n", spec, rd_kafka_err2str(e));
            return 1;
        }
    }
    /* The host produces to its own cluster. */
    rd_kafka_brokers_add(rk, rd_kafka_mock_cluster_bootstraps(mc));

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int ffd = -1;
    if (fifo != NULL) {
        if (mkfifo(fifo, 0600) != 0 && errno != EEXIST) {
            fprintf(stderr, "mock_cluster: mkfifo %s: %s\n", fifo, strerror(errno));
            return 1;
        }
        ffd = open(fifo, O_RDWR | O_NONBLOCK); /* read-write: no EOF when a writer leaves */
        if (ffd < 0) {
            fprintf(stderr, "mock_cluster: open %s: %s\n", fifo, strerror(errno));
            return 1;
        }
    }
    printf("bootstrap %s\nready\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);

    char in_buf[8192], f_buf[8192];
    size_t in_len = 0, f_len = 0;
    int stdin_open = 1;
    while (!stop_flag) {
        struct pollfd p[2];
        int np = 0;
        int in_i = -1, f_i = -1;
        if (stdin_open) {
            p[np].fd = 0;
            p[np].events = POLLIN;
            in_i = np++;
        }
        if (ffd >= 0) {
            p[np].fd = ffd;
            p[np].events = POLLIN;
            f_i = np++;
        }
        /* never an unbounded wait: a SIGTERM landing between the stop_flag check and
         * a blocking poll() or pause() left the host running, orphaned, after its
         * test had gone */
        int r = poll(p, (nfds_t)np, 200);
        if (r <= 0) {
            rd_kafka_poll(rk, 0);
            continue;
        }
        if (in_i >= 0 && (p[in_i].revents & (POLLIN | POLLHUP))) {
            int s = read_commands(0, in_buf, sizeof(in_buf), &in_len, mc, rk, n_brokers);
            if (s == 1)
                break;
            if (s < 0)
                stdin_open = 0; /* serve on: a background job's stdin is /dev/null */
        }
        if (f_i >= 0 && (p[f_i].revents & POLLIN)) {
            if (read_commands(ffd, f_buf, sizeof(f_buf), &f_len, mc, rk, n_brokers) == 1)
                break;
        }
        rd_kafka_poll(rk, 0);
    }
    if (ffd >= 0)
        close(ffd);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
