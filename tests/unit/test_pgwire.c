/*
 * test_pgwire.c - the PostgreSQL protocol server (src/server) in-process, driven by
 * libpq (the real client library) and by raw sockets for what libpq never sends:
 *   - simple and extended query (PQexecParams text and binary parameters, prepared
 *     statements, Describe, binary results), types and OIDs, SQLSTATE and position;
 *   - read-only refusal, SET/SHOW statement_timeout, a timeout and a cancel request
 *     stopping a long query, the per-query memory bound;
 *   - 64 concurrent clients, each checking its answers;
 *   - consistent reads: a writer changing two tables under the write lock while 16
 *     readers check that they always see both tables of the same "batch";
 *   - malformed input: bad lengths, a length of 1 GB, unknown message types, a startup
 *     packet without a user, invalid UTF-8, a client that sends half a message and
 *     vanishes, one that never reads its results: each gets its error (or is dropped)
 *     while a libpq client on the side keeps working;
 *   - password authentication (cleartext) with the token.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/server.h"

static tb_db *g_db;
static tb_server *g_srv;
static char g_conninfo[256];
static int g_port;

static char g_csv[128];

static int setup(void **state)
{
    (void)state;
    /* big: 20000 rows, for queries that run long (a cross join) or hold much memory */
    snprintf(g_csv, sizeof(g_csv), "/tmp/tb_pgwire_%d.csv", (int)getpid());
    FILE *fp = fopen(g_csv, "w");
    assert_non_null(fp);
    fprintf(fp, "x,s\n");
    for (int i = 0; i < 20000; i++)
        fprintf(fp, "%d,%0100d\n", i, i);
    fclose(fp);
    assert_int_equal(tb_db_open(NULL, &g_db), TB_OK);
    char sql[256];
    snprintf(sql, sizeof(sql), "CREATE TABLE big AS SELECT * FROM read_csv('%s')", g_csv);
    assert_int_equal(tb_db_exec(g_db, sql, NULL), TB_OK);
    assert_int_equal(
        tb_db_exec(g_db,
                   "CREATE TABLE sales (sale_id int, category text, quantity bigint, price "
                   "double precision, ok boolean, day date, ts timestamp, amount numeric(10,2));"
                   "INSERT INTO sales VALUES (1,'books',3,1.5,true,'2024-01-02','2024-01-02 "
                   "10:00:00',12.50),(2,'toys',5,2.25,false,'2024-01-03','2024-01-03 "
                   "11:30:00.5',-3.07),(3,'books',2,NULL,NULL,NULL,NULL,NULL);"
                   "CREATE TABLE a (n bigint); CREATE TABLE b (n bigint);"
                   "INSERT INTO a VALUES (0); INSERT INTO b VALUES (0);",
                   NULL),
        TB_OK);
    tb_server_opts opts = {0};
    opts.pg_listen = "127.0.0.1:0";
    opts.statement_timeout_ms = 20000;
    tb_err err;
    tb_err_clear(&err);
    assert_int_equal(tb_server_start(g_db, &opts, &g_srv, &err), TB_OK);
    const char *addr = tb_server_pg_address(g_srv);
    g_port = atoi(strrchr(addr, ':') + 1);
    snprintf(g_conninfo, sizeof(g_conninfo),
             "host=127.0.0.1 port=%d user=tester dbname=tributary connect_timeout=10", g_port);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tb_server_stop(g_srv);
    tb_db_close(&g_db);
    unlink(g_csv);
    return 0;
}

static PGconn *connect_ok(void)
{
    PGconn *c = PQconnectdb(g_conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(c));
    return c;
}

static void test_simple(void **state)
{
    (void)state;
    PGconn *c = connect_ok();
    PGresult *r = PQexec(c, "SELECT sale_id, category, quantity, price, ok, day, ts, amount "
                            "FROM sales ORDER BY sale_id");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 3);
    assert_int_equal(PQnfields(r), 8);
    /* PostgreSQL's type OIDs */
    const Oid oids[8] = {23, 25, 20, 701, 16, 1082, 1114, 1700};
    for (int i = 0; i < 8; i++)
        assert_int_equal(PQftype(r, i), oids[i]);
    assert_string_equal(PQfname(r, 1), "category");
    assert_string_equal(PQgetvalue(r, 0, 1), "books");
    assert_string_equal(PQgetvalue(r, 0, 3), "1.5");
    assert_string_equal(PQgetvalue(r, 0, 4), "t");
    assert_string_equal(PQgetvalue(r, 1, 4), "f");
    assert_string_equal(PQgetvalue(r, 0, 5), "2024-01-02");
    assert_string_equal(PQgetvalue(r, 1, 6), "2024-01-03 11:30:00.5");
    assert_string_equal(PQgetvalue(r, 1, 7), "-3.07");
    assert_true(PQgetisnull(r, 2, 3));
    PQclear(r);
    /* several statements in one Query: the last result */
    r = PQexec(c, "SET statement_timeout = '5s'; SHOW statement_timeout");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "5000ms");
    PQclear(r);
    r = PQexec(c, "SELECT current_setting('statement_timeout'), current_schema(), version()");
    assert_string_equal(PQgetvalue(r, 0, 0), "5000ms");
    assert_string_equal(PQgetvalue(r, 0, 1), "public");
    assert_non_null(strstr(PQgetvalue(r, 0, 2), "PostgreSQL 15"));
    PQclear(r);
    r = PQexec(c, "");
    assert_int_equal(PQresultStatus(r), PGRES_EMPTY_QUERY);
    PQclear(r);
    r = PQexec(c, "BEGIN; SELECT 1; COMMIT");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    assert_string_equal(PQparameterStatus(c, "server_encoding"), "UTF8");
    assert_true(PQserverVersion(c) >= 150000);
    PQfinish(c);
}

static void test_errors(void **state)
{
    (void)state;
    PGconn *c = connect_ok();
    PGresult *r = PQexec(c, "SELECT qty FROM sales");
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42703");
    assert_string_equal(PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION), "8");
    PQclear(r);
    r = PQexec(c, "SELECT 1; SELEC 2");
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42601");
    assert_string_equal(PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION), "11");
    PQclear(r);
    r = PQexec(c, "INSERT INTO sales VALUES (9)");
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "25006");
    assert_non_null(strstr(PQresultErrorMessage(r), "read-only"));
    PQclear(r);
    r = PQexec(c, "DROP TABLE sales");
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "25006");
    PQclear(r);
    /* a failed transaction block refuses statements until ROLLBACK */
    PQclear(PQexec(c, "BEGIN"));
    PQclear(PQexec(c, "SELECT nope"));
    r = PQexec(c, "SELECT 1");
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "25P02");
    PQclear(r);
    PQclear(PQexec(c, "ROLLBACK"));
    r = PQexec(c, "SELECT count(*) FROM sales");
    assert_string_equal(PQgetvalue(r, 0, 0), "3");
    PQclear(r);
    PQfinish(c);
}

static void test_extended(void **state)
{
    (void)state;
    PGconn *c = connect_ok();
    /* text parameters, types left to the server */
    const char *vals[2] = {"books", "2"};
    PGresult *r = PQexecParams(c,
                               "SELECT sale_id, quantity FROM sales WHERE category = $1 AND "
                               "quantity >= $2 ORDER BY 1",
                               2, NULL, vals, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 2);
    PQclear(r);
    /* a quote in a parameter stays data */
    const char *inj[1] = {"x' OR '1'='1"};
    r = PQexecParams(c, "SELECT count(*) FROM sales WHERE category = $1", 1, NULL, inj, NULL,
                     NULL, 0);
    assert_string_equal(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    /* prepared statement, typed binary int4 parameter, binary results */
    Oid types[1] = {23};
    r = PQprepare(c, "byid", "SELECT category, quantity, price, amount, ts FROM sales WHERE "
                             "sale_id = $1",
                  1, types);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    r = PQdescribePrepared(c, "byid");
    assert_int_equal(PQnparams(r), 1);
    assert_int_equal(PQparamtype(r, 0), 23);
    assert_int_equal(PQnfields(r), 5);
    assert_int_equal(PQftype(r, 1), 20);
    PQclear(r);
    uint32_t be = htonl(2);
    const char *bv[1] = {(const char *)&be};
    int lens[1] = {4}, fmts[1] = {1};
    r = PQexecPrepared(c, "byid", 1, bv, lens, fmts, 1);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    assert_int_equal(PQfformat(r, 1), 1);
    assert_memory_equal(PQgetvalue(r, 0, 0), "toys", 4);
    const unsigned char *q = (const unsigned char *)PQgetvalue(r, 0, 1);
    assert_int_equal(PQgetlength(r, 0, 1), 8);
    assert_int_equal(q[7], 5);
    /* numeric -3.07 in binary: 2 digits (3, 700), weight 0, sign 0x4000, dscale 2 */
    const unsigned char *nb = (const unsigned char *)PQgetvalue(r, 0, 3);
    assert_int_equal(PQgetlength(r, 0, 3), 12);
    assert_int_equal(nb[1], 2);
    assert_int_equal(nb[4], 0x40);
    assert_int_equal(nb[7], 2);
    assert_int_equal(nb[9], 3);
    assert_int_equal((nb[10] << 8) | nb[11], 700);
    PQclear(r);
    /* wrong parameter count */
    r = PQexecPrepared(c, "byid", 0, NULL, NULL, NULL, 0);
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "08P01");
    PQclear(r);
    /* an error in the extended protocol, then the connection still works */
    r = PQexecParams(c, "SELECT nope FROM sales", 0, NULL, NULL, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    PQclear(r);
    r = PQexecParams(c, "SELECT $1::int + 1", 1, NULL, (const char *const[]){"41"}, NULL, NULL,
                     0);
    assert_string_equal(PQgetvalue(r, 0, 0), "42");
    PQclear(r);
    /* single-row mode streams the rows */
    assert_int_equal(PQsendQueryParams(c, "SELECT sale_id FROM sales ORDER BY 1", 0, NULL, NULL,
                                       NULL, NULL, 0),
                     1);
    assert_int_equal(PQsetSingleRowMode(c), 1);
    int n = 0;
    while ((r = PQgetResult(c)) != NULL) {
        if (PQresultStatus(r) == PGRES_SINGLE_TUPLE)
            n++;
        PQclear(r);
    }
    assert_int_equal(n, 3);
    PQfinish(c);
}

static void test_timeout_cancel_memory(void **state)
{
    (void)state;
    PGconn *c = connect_ok();
    /* a cross join big enough to run for minutes */
    const char *slow = "SELECT count(*) FROM big a, big b WHERE a.x + b.x = 7";
    PQclear(PQexec(c, "SET statement_timeout = 300"));
    int64_t t0 = tb_now_ns();
    PGresult *r = PQexec(c, slow);
    int64_t ms = (tb_now_ns() - t0) / 1000000;
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "57014");
    assert_non_null(strstr(PQresultErrorMessage(r), "statement timeout"));
    if (ms >= 10000)
        fail_msg("a 300 ms statement_timeout took %lld ms", (long long)ms);
    PQclear(r);
    /* cancel request from another connection (libpq's PQcancel) */
    PQclear(PQexec(c, "SET statement_timeout = 0"));
    assert_int_equal(PQsendQuery(c, slow), 1);
    /* a cancel that arrives before the query started is ignored (as by PostgreSQL):
     * send one every 200 ms until the query ends */
    PGcancel *cn = PQgetCancel(c);
    char eb[256];
    for (int i = 0; i < 100; i++) {
        usleep(200 * 1000);
        assert_int_equal(PQcancel(cn, eb, sizeof(eb)), 1);
        assert_int_equal(PQconsumeInput(c), 1);
        if (!PQisBusy(c))
            break;
    }
    PQfreeCancel(cn);
    r = PQgetResult(c);
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "57014");
    assert_non_null(strstr(PQresultErrorMessage(r), "user request"));
    PQclear(r);
    while ((r = PQgetResult(c)) != NULL)
        PQclear(r);
    /* the per-query memory bound */
    PQclear(PQexec(c, "SET query_memory_limit = '4MB'"));
    r = PQexec(c, "SELECT a.x, b.s FROM big a, big b ORDER BY 2, 1");
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    assert_non_null(strstr(PQresultErrorMessage(r), "memory bound"));
    PQclear(r);
    r = PQexec(c, "SELECT count(*) FROM sales");
    assert_string_equal(PQgetvalue(r, 0, 0), "3");
    PQclear(r);
    PQfinish(c);
}

/* ---------------------------------------------------------------- concurrency */

static void *client_main(void *arg)
{
    long id = (long)arg;
    PGconn *c = PQconnectdb(g_conninfo);
    long bad = PQstatus(c) != CONNECTION_OK;
    for (int i = 0; i < 20 && !bad; i++) {
        char v[16];
        snprintf(v, sizeof(v), "%ld", (id + i) % 3 + 1);
        const char *vals[1] = {v};
        PGresult *r = PQexecParams(c, "SELECT sale_id FROM sales WHERE sale_id = $1", 1, NULL,
                                   vals, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 ||
            strcmp(PQgetvalue(r, 0, 0), v) != 0)
            bad = 1;
        PQclear(r);
    }
    PQfinish(c);
    return (void *)bad;
}

static void test_64_clients(void **state)
{
    (void)state;
    pthread_t t[64];
    for (long i = 0; i < 64; i++)
        assert_int_equal(pthread_create(&t[i], NULL, client_main, (void *)i), 0);
    long failures = 0;
    for (int i = 0; i < 64; i++) {
        void *ret = NULL;
        pthread_join(t[i], &ret);
        failures += (long)ret;
    }
    assert_int_equal(failures, 0);
}

static _Atomic int g_stop_writer;

/* The "batch": tables a and b both become {k} under the write lock, in two steps. */
static void *writer_main(void *arg)
{
    (void)arg;
    for (int k = 1; !g_stop_writer; k++) {
        char sql[128];
        tb_db_write_begin(g_db);
        snprintf(sql, sizeof(sql), "TRUNCATE a; INSERT INTO a VALUES (%d)", k);
        assert_int_equal(tb_db_exec(g_db, sql, NULL), TB_OK);
        usleep(2000); /* half a batch: a changed, b not yet */
        snprintf(sql, sizeof(sql), "TRUNCATE b; INSERT INTO b VALUES (%d)", k);
        assert_int_equal(tb_db_exec(g_db, sql, NULL), TB_OK);
        tb_db_write_end(g_db);
        usleep(1000);
    }
    return NULL;
}

static void *reader_main(void *arg)
{
    (void)arg;
    PGconn *c = PQconnectdb(g_conninfo);
    long bad = PQstatus(c) != CONNECTION_OK;
    for (int i = 0; i < 40 && !bad; i++) {
        PGresult *r = PQexec(c, "SELECT a.n, b.n FROM a, b");
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 ||
            strcmp(PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1)) != 0)
            bad = 1;
        PQclear(r);
    }
    PQfinish(c);
    return (void *)bad;
}

static void test_consistent_reads(void **state)
{
    (void)state;
    pthread_t w, t[16];
    g_stop_writer = 0;
    assert_int_equal(pthread_create(&w, NULL, writer_main, NULL), 0);
    for (long i = 0; i < 16; i++)
        assert_int_equal(pthread_create(&t[i], NULL, reader_main, NULL), 0);
    long failures = 0;
    for (int i = 0; i < 16; i++) {
        void *ret = NULL;
        pthread_join(t[i], &ret);
        failures += (long)ret;
    }
    g_stop_writer = 1;
    pthread_join(w, NULL);
    assert_int_equal(failures, 0);
}

/* ---------------------------------------------------------------- bad input */

static int raw_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)g_port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Everything the server answers until it closes (or 64 KiB). */
static size_t read_all(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t k = recv(fd, buf + n, cap - 1 - n, 0);
        if (k <= 0)
            break;
        n += (size_t)k;
        if (n + 1 >= cap)
            break;
    }
    buf[n] = '\0';
    return n;
}

static size_t startup_packet(uint8_t *p, const char *user)
{
    size_t n = 8;
    if (user != NULL) {
        memcpy(p + n, "user", 5);
        n += 5;
        memcpy(p + n, user, strlen(user) + 1);
        n += strlen(user) + 1;
    }
    p[n++] = 0;
    uint32_t len = htonl((uint32_t)n), ver = htonl(196608);
    memcpy(p, &len, 4);
    memcpy(p + 4, &ver, 4);
    return n;
}

static bool has_sqlstate(const char *buf, size_t n, const char *state)
{
    for (size_t i = 0; i + 6 < n; i++)
        if (buf[i] == 'C' && memcmp(buf + i + 1, state, 5) == 0)
            return true;
    return false;
}

/* After a startup: skip to ReadyForQuery. */
static void read_ready(int fd)
{
    char buf[4096];
    size_t n = 0;
    while (n < sizeof(buf)) {
        ssize_t k = recv(fd, buf + n, sizeof(buf) - n, 0);
        assert_true(k > 0);
        n += (size_t)k;
        if (n >= 6 && buf[n - 6] == 'Z')
            return;
    }
    fail();
}

static void expect_fatal(const uint8_t *msg, size_t len, bool after_startup, const char *state)
{
    int fd = raw_connect();
    if (after_startup) {
        uint8_t sp[64];
        size_t n = startup_packet(sp, "bad");
        assert_int_equal(send(fd, sp, n, 0), (ssize_t)n);
        read_ready(fd);
    }
    assert_int_equal(send(fd, msg, len, MSG_NOSIGNAL), (ssize_t)len);
    char buf[65536];
    size_t n = read_all(fd, buf, sizeof(buf));
    if (!has_sqlstate(buf, n, state))
        fail_msg("expected SQLSTATE %s, got %zu bytes (message 0x%02x, %zu bytes)", state, n,
                 msg[0], len);
    close(fd);
}

static void check_alive(void)
{
    PGconn *c = connect_ok();
    PGresult *r = PQexec(c, "SELECT count(*) FROM sales");
    assert_string_equal(PQgetvalue(r, 0, 0), "3");
    PQclear(r);
    PQfinish(c);
}

static void test_bad_input(void **state)
{
    (void)state;
    uint8_t m[128];
    /* SSL request answered 'N', then a startup without a user */
    int fd = raw_connect();
    uint8_t ssl[8] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
    assert_int_equal(send(fd, ssl, 8, 0), 8);
    char c = 0;
    assert_int_equal(recv(fd, &c, 1, 0), 1);
    assert_int_equal(c, 'N');
    size_t n = startup_packet(m, NULL);
    assert_int_equal(send(fd, m, n, 0), (ssize_t)n);
    char buf[4096];
    n = read_all(fd, buf, sizeof(buf));
    assert_true(has_sqlstate(buf, n, "28000"));
    assert_non_null(memmem(buf, n, "no PostgreSQL user name", 23));
    close(fd);
    /* a startup packet claiming 1 GB */
    uint8_t big[8] = {0x40, 0, 0, 0, 0, 3, 0, 0};
    expect_fatal(big, 8, false, "08P01");
    /* an unknown protocol version */
    uint8_t v9[8] = {0, 0, 0, 8, 0, 9, 0, 0};
    expect_fatal(v9, 8, false, "0A000");
    /* invalid UTF-8 in the user name */
    n = startup_packet(m, "\xff\xfe");
    expect_fatal(m, n, false, "22021");
    /* after startup: a query message claiming 1 GB */
    uint8_t q1g[5] = {'Q', 0x40, 0, 0, 0};
    expect_fatal(q1g, 5, true, "08P01");
    /* a length shorter than the header */
    uint8_t q2[5] = {'Q', 0, 0, 0, 2};
    expect_fatal(q2, 5, true, "08P01");
    /* an unknown message type */
    uint8_t unk[5] = {'!', 0, 0, 0, 4};
    expect_fatal(unk, 5, true, "08P01");
    /* a Bind whose counts run past the message */
    uint8_t bind[] = {'P', 0, 0, 0, 16, 0, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '$', '1', 0,
                      0,   0, /* Parse "SELECT $1" */
                      'B', 0, 0, 0, 14, 0, 0, 0, 0, 0, 1, 0, 0, 0, 5}; /* value past the end */
    expect_fatal(bind, sizeof(bind), true, "08P01");
    /* a query without its terminating NUL */
    uint8_t qnz[] = {'Q', 0, 0, 0, 8, 'S', 'E', 'L', 'x'};
    expect_fatal(qnz, sizeof(qnz), true, "08P01");
    /* invalid UTF-8 in a query: an ordinary error, the connection stays */
    fd = raw_connect();
    n = startup_packet(m, "u");
    assert_int_equal(send(fd, m, n, 0), (ssize_t)n);
    read_ready(fd);
    uint8_t qbad[] = {'Q', 0, 0, 0, 14, 'S', 'E', 'L', 'E', 'C', 'T', ' ', 0xC3, 0x28, 0};
    assert_int_equal(send(fd, qbad, sizeof(qbad), 0), (ssize_t)sizeof(qbad));
    n = 0;
    while (n < 6 || buf[n - 6] != 'Z') {
        ssize_t k = recv(fd, buf + n, sizeof(buf) - n, 0);
        assert_true(k > 0);
        n += (size_t)k;
    }
    assert_true(has_sqlstate(buf, n, "22021"));
    close(fd);
    /* half a message, then gone */
    fd = raw_connect();
    n = startup_packet(m, "u");
    assert_int_equal(send(fd, m, n, 0), (ssize_t)n);
    read_ready(fd);
    uint8_t half[] = {'Q', 0, 0, 0, 100, 'S', 'E'};
    assert_int_equal(send(fd, half, sizeof(half), 0), (ssize_t)sizeof(half));
    close(fd);
    /* a client that sends queries and never reads: the others are unaffected */
    int slow = raw_connect();
    n = startup_packet(m, "slow");
    assert_int_equal(send(slow, m, n, 0), (ssize_t)n);
    const char *q = "SELECT * FROM big";
    uint8_t qm[256];
    uint32_t ql = htonl((uint32_t)(strlen(q) + 5));
    qm[0] = 'Q';
    memcpy(qm + 1, &ql, 4);
    memcpy(qm + 5, q, strlen(q) + 1);
    for (int i = 0; i < 5; i++)
        (void)send(slow, qm, strlen(q) + 6, MSG_NOSIGNAL | MSG_DONTWAIT);
    check_alive();
    close(slow);
    check_alive();
}

static void test_password(void **state)
{
    (void)state;
    tb_server *srv = NULL;
    tb_server_opts opts = {0};
    opts.pg_listen = "127.0.0.1:0";
    opts.token = "s3cret";
    tb_err err;
    tb_err_clear(&err);
    assert_int_equal(tb_server_start(g_db, &opts, &srv, &err), TB_OK);
    int port = atoi(strrchr(tb_server_pg_address(srv), ':') + 1);
    char ci[256];
    snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d user=u password=wrong", port);
    PGconn *c = PQconnectdb(ci);
    assert_int_not_equal(PQstatus(c), CONNECTION_OK);
    assert_non_null(strstr(PQerrorMessage(c), "password authentication failed"));
    PQfinish(c);
    snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d user=u password=s3cret", port);
    c = PQconnectdb(ci);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PQfinish(c);
    tb_server_stop(srv);
    /* a non-loopback address without a token is refused */
    opts.token = NULL;
    opts.pg_listen = "0.0.0.0:0";
    assert_int_equal(tb_server_start(g_db, &opts, &srv, &err), TB_E_MISUSE);
    assert_non_null(strstr(err.msg, "--token"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple),        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_extended),      cmocka_unit_test(test_timeout_cancel_memory),
        cmocka_unit_test(test_64_clients),    cmocka_unit_test(test_consistent_reads),
        cmocka_unit_test(test_bad_input),     cmocka_unit_test(test_password),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
