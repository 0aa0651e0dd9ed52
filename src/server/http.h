/*
 * http.h - the HTTP API's request handling, separated from libmicrohttpd so that the
 * fuzz target (fuzz/fuzz_http.c) drives exactly what a request reaches.
 *
 *   GET /                   the live dashboard (embedded HTML, no build step)
 *   GET /api/query?sql=Q[&format=csv]   rows as JSON (or CSV)
 *   GET /api/views          relations and their columns
 *   GET /api/progress       the last progress record of each continuous query
 *   GET /api/config         what the dashboard needs (its --show query)
 *   GET /api/events         server-sent events, one per committed batch
 *   GET /metrics            Prometheus text format
 *
 * The raw request target (before any decoding) is parsed here: strict percent-decoding
 * (a bad escape is a 400 naming its offset), no path may contain a '..' segment or a
 * NUL, and only the routes above exist (no file is ever opened from a URL).
 */
#ifndef TB_HTTP_H
#define TB_HTTP_H

#include "server/srv_int.h"

#define TB_HTTP_MAX_URL (64u << 10)

typedef struct tb_http_resp {
    int status;
    const char *ctype; /* static */
    tb_buf body;
    bool sse;          /* start an event stream (body unused) */
    bool auth_challenge; /* add WWW-Authenticate: Bearer */
} tb_http_resp;

/*
 * Handle one request. raw_url is the request target as received; authorization the
 * Authorization header or NULL. resp->body is the caller's to free (tb_buf_free).
 * @thread any (a libmicrohttpd connection thread).
 */
void tb_http_handle(tb_server *srv, const char *method, const char *raw_url,
                    const char *authorization, tb_http_resp *resp);

/* Strict percent-decoding of n bytes ('+' is a space in a query): false with
 * *bad_off at the first bad escape or an encoded NUL. out gets a NUL-terminated copy. */
bool tb_http_decode(const char *s, size_t n, bool plus_space, tb_buf *out, size_t *bad_off);

/* The embedded dashboard page. */
extern const char tb_dashboard_html[];
extern const unsigned int tb_dashboard_html_len;

#endif /* TB_HTTP_H */
