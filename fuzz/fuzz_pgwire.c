/*
 * fuzz_pgwire.c - fuzz target for the PostgreSQL protocol engine (src/server/pgwire.c):
 * startup packets, SSL/cancel requests, password messages, simple and extended query
 * messages, framing, fed to a session over a small in-memory catalog.
 *
 * Input: byte 0 picks the chunk size (1..64, so messages straddle every boundary of
 * what a socket read may return) and whether a password is required (bit 7); the rest
 * is the client's byte stream. Oracles beyond "no crash, no leak": the replies parse as
 * a sequence of backend messages (type + length within the buffer, or the one-byte 'N'
 * answers to SSL requests before startup), and nothing is sent after a fatal error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/pgwire.h"

static tb_db *db;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_pgwire: %s\n", what);
    abort();
}

/* Walk the replies: every message framed, lengths inside the buffer. */
static void check_replies(const tb_buf *out, bool *started)
{
    size_t i = 0;
    const uint8_t *p = (const uint8_t *)out->data;
    while (i < out->len) {
        if (!*started && p[i] == 'N') {
            i++;
            continue;
        }
        if (out->len - i < 5)
            die("truncated reply");
        uint32_t len = (uint32_t)p[i + 1] << 24 | (uint32_t)p[i + 2] << 16 |
                       (uint32_t)p[i + 3] << 8 | p[i + 4];
        if (len < 4 || len > out->len - i - 1)
            die("reply length outside the buffer");
        if (p[i] == 'R' || p[i] == 'E')
            *started = true;
        i += 1 + len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (db == NULL) {
        if (tb_db_open(NULL, &db) != TB_OK ||
            tb_db_exec(db,
                       "CREATE TABLE t (a int, b text, c double precision, d timestamp);"
                       "INSERT INTO t VALUES (1,'x',1.5,'2024-01-01 00:00:00'),(2,NULL,NULL,NULL);"
                       "CREATE VIEW v AS SELECT b, sum(a) AS s FROM t GROUP BY b",
                       NULL) != TB_OK)
            die("setup");
    }
    if (size < 1)
        return 0;
    size_t chunk = (size_t)(data[0] & 63) + 1;
    tb_pgw_env env = {0};
    env.db = db;
    env.token = (data[0] & 128) ? "pw" : NULL;
    env.timeout_ms = 1000;
    env.mem_limit = 16 << 20;
    env.pid = 1;
    env.key = 2;
    tb_pgw *c = tb_pgw_new(&env);
    if (c == NULL)
        die("new");
    tb_buf out = {0};
    bool started = false, closed = false;
    for (size_t off = 1; off < size && !closed; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        out.len = 0;
        if (tb_pgw_feed(c, data + off, n, &out, &closed) != TB_OK)
            break;
        check_replies(&out, &started);
    }
    if (closed) {
        out.len = 0;
        bool again = false;
        (void)tb_pgw_feed(c, (const uint8_t *)"Q\0\0\0\x05x", 6, &out, &again);
        if (out.len != 0 || !again)
            die("replied after close");
    }
    tb_buf_free(&out);
    tb_pgw_free(c);
    return 0;
}
