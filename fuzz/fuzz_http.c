/*
 * fuzz_http.c - fuzz target for the HTTP API's request handling (src/server/http.c):
 * the raw request target (percent-decoding, path checks, query arguments), the
 * Authorization header, the routes (queries included, over a small catalog), and the
 * progress records the runtime hands to tb_server_on_batch (events, metrics).
 *
 * Input: "METHOD\nTARGET\nAUTHORIZATION\nPROGRESS-JSON" (missing parts are empty).
 * Oracles beyond "no crash, no leak": a status among those the API sends, JSON bodies
 * that parse, a 400 for any target with a bad escape or a '..' segment.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http.h"

static tb_db *db;
static tb_server *srv;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_http: %s\n", what);
    abort();
}

static char *part(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    const uint8_t *e = nl != NULL ? nl : end;
    char *s = malloc((size_t)(e - *p) + 1);
    if (s == NULL)
        die("oom");
    memcpy(s, *p, (size_t)(e - *p));
    s[e - *p] = '\0';
    *p = nl != NULL ? nl + 1 : end;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (srv == NULL) {
        tb_server_opts opts = {0};
        tb_err err;
        tb_err_clear(&err);
        opts.token = "tok";
        opts.show_sql = "SELECT b, sum(a) FROM t GROUP BY 1";
        opts.statement_timeout_ms = 2000;
        if (tb_db_open(NULL, &db) != TB_OK ||
            tb_db_exec(db,
                       "CREATE TABLE t (a int, b text); INSERT INTO t VALUES (1,'x'),(2,'y');"
                       "CREATE VIEW v AS SELECT b, sum(a) AS s FROM t GROUP BY b",
                       NULL) != TB_OK ||
            tb_server_start(db, &opts, &srv, &err) != TB_OK)
            die("setup");
    }
    const uint8_t *p = data, *end = data + size;
    char *method = part(&p, end), *target = part(&p, end), *auth = part(&p, end);
    char *progress = malloc((size_t)(end - p) + 1);
    if (progress == NULL)
        die("oom");
    memcpy(progress, p, (size_t)(end - p));
    progress[end - p] = '\0';

    tb_http_resp resp = {0};
    tb_http_handle(srv, method, target, auth[0] ? auth : NULL, &resp);
    static const int ok[] = {200, 400, 401, 403, 404, 405, 414, 503};
    bool known = false;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        known |= resp.status == ok[i];
    if (!known)
        die("unexpected status");
    if (strcmp(resp.ctype, "application/json") == 0 && resp.body.len > 0) {
        json_t *j = json_loadb(resp.body.data, resp.body.len, 0, NULL);
        if (j == NULL)
            die("JSON body does not parse");
        json_decref(j);
    }
    if (strstr(target, "/../") != NULL && resp.status == 200 && strchr(target, '?') == NULL)
        die("a '..' segment was served");
    tb_buf_free(&resp.body);
    /* the runtime's per-batch record */
    const char *views[2] = {"v", "nope"};
    tb_server_on_batch(srv, progress, views, 2);
    free(method);
    free(target);
    free(auth);
    free(progress);
    return 0;
}
