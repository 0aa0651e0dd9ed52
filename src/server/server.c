/*
 * server.c - the server's threads: the PostgreSQL listener and its connections, the
 * statement_timeout watchdog, start and stop. The protocol itself is pgwire.c; HTTP is
 * http.c.
 *
 * One thread per PostgreSQL connection, at most max_clients of them (a client beyond
 * that gets "sorry, too many clients already", SQLSTATE 53300, as from PostgreSQL).
 * A connection thread blocks only on its own socket: replies are written with a send
 * timeout (SEND_TIMEOUT_S), so a client that stops reading is dropped rather than
 * holding a thread forever, and it holds no lock while it sends (the rows are
 * materialised first, srv_int.h). A vanished client is a recv of 0 or an error.
 *
 * Stop: the accept loop is woken by a pipe; every connection socket is shut down, which
 * ends its recv; each thread is joined. A query that is running finishes or is
 * stopped by its budget first.
 */
#include <stdio.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/pgwire.h"

#define SEND_TIMEOUT_S 30
#define RECV_CHUNK     65536

tb_rc tb_srv_parse_listen(const char *listen, struct sockaddr_in *out, bool *out_loopback,
                          tb_err *err)
{
    char host[256] = "127.0.0.1";
    const char *port = listen;
    const char *colon = strrchr(listen, ':');
    if (colon != NULL) {
        size_t n = (size_t)(colon - listen);
        if (n >= sizeof(host))
            return TB_ERRF(err, TB_E_MISUSE, "bad address '%s'", listen);
        if (n > 0) {
            memcpy(host, listen, n);
            host[n] = '\0';
        }
        port = colon + 1;
    }
    char *end = NULL;
    long p = strtol(port, &end, 10);
    if (*port == '\0' || *end != '\0' || p < 0 || p > 65535)
        return TB_ERRF(err, TB_E_MISUSE, "bad port in '%s' (expected [ADDR:]PORT)", listen);
    memset(out, 0, sizeof(*out));
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)p);
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    if (inet_pton(AF_INET, host, &out->sin_addr) != 1) {
        struct addrinfo hints = {0}, *res = NULL;
        hints.ai_family = AF_INET;
        if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL)
            return TB_ERRF(err, TB_E_MISUSE, "cannot resolve address '%s'", host);
        out->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
        freeaddrinfo(res);
    }
    *out_loopback = (ntohl(out->sin_addr.s_addr) >> 24) == 127;
    return TB_OK;
}

static tb_rc listen_on(const char *what, const char *addr, bool have_token, int *out_fd,
                       char *bound, size_t cap, tb_err *err)
{
    struct sockaddr_in sa;
    bool loopback = true;
    tb_rc rc = tb_srv_parse_listen(addr, &sa, &loopback, err);
    if (rc != TB_OK)
        return tb_err_prefix(err, "%s", what);
    if (!loopback && !have_token)
        return TB_ERRF(err, TB_E_MISUSE,
                       "%s: listening on %s (not a loopback address) needs --token", what,
                       addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return TB_ERRF(err, TB_E_IO, "%s: socket: %s", what, strerror(errno));
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 128) != 0) {
        int e = errno;
        close(fd);
        return TB_ERRF(err, TB_E_IO, "%s: cannot listen on %s: %s", what, addr, strerror(e));
    }
    socklen_t len = sizeof(sa);
    (void)getsockname(fd, (struct sockaddr *)&sa, &len);
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
    snprintf(bound, cap, "%s:%u", ip, ntohs(sa.sin_port));
    *out_fd = fd;
    return TB_OK;
}

/* ---------------------------------------------------------------- watchdog */

void tb_srv_watch(tb_server *srv, tb_mem_budget *budget, int64_t deadline_ns)
{
    pthread_mutex_lock(&srv->wd_mu);
    if (tb_grow((void **)&srv->watched, &srv->cap_watched, srv->n_watched + 1,
                sizeof(*srv->watched)) == TB_OK) {
        srv->watched[srv->n_watched].budget = budget;
        srv->watched[srv->n_watched].deadline_ns = deadline_ns;
        srv->n_watched++;
    }
    pthread_mutex_unlock(&srv->wd_mu);
}

void tb_srv_unwatch(tb_server *srv, tb_mem_budget *budget)
{
    pthread_mutex_lock(&srv->wd_mu);
    for (size_t i = 0; i < srv->n_watched; i++) {
        if (srv->watched[i].budget == budget) {
            srv->watched[i] = srv->watched[--srv->n_watched];
            break;
        }
    }
    pthread_mutex_unlock(&srv->wd_mu);
}

static void *watchdog_main(void *p)
{
    tb_server *srv = p;
    pthread_mutex_lock(&srv->wd_mu);
    while (!atomic_load(&srv->stopping)) {
        int64_t now = tb_now_ns();
        for (size_t i = 0; i < srv->n_watched; i++)
            if (now >= srv->watched[i].deadline_ns)
                atomic_store(&srv->watched[i].budget->stop, 1);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10 * 1000000L; /* 10 ms: the timeout's resolution */
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&srv->wd_cv, &srv->wd_mu, &ts);
    }
    pthread_mutex_unlock(&srv->wd_mu);
    return NULL;
}

/* ---------------------------------------------------------------- connections */

static bool send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false; /* gone, or too slow (SO_SNDTIMEO) */
        p += k;
        n -= (size_t)k;
    }
    return true;
}

static void cancel_cb(void *ud, int32_t pid, int32_t key)
{
    tb_server *srv = ud;
    pthread_mutex_lock(&srv->conns_mu);
    for (int i = 0; i < srv->max_clients; i++) {
        tb_srv_conn *cn = &srv->conns[i];
        if (cn->used && cn->pgw != NULL && tb_pgw_pid(cn->pgw) == pid &&
            tb_pgw_key(cn->pgw) == key)
            tb_pgw_cancel(cn->pgw);
    }
    pthread_mutex_unlock(&srv->conns_mu);
}

void tb_srv_thread_nice(void)
{
    /* Serving threads yield the CPU to the job's own thread (issue 11: queries must not
     * slow ingestion much): Linux applies setpriority to a single thread id. Failure
     * (a container without the permission) only loses the preference. */
    (void)setpriority(PRIO_PROCESS, (id_t)gettid(), TB_SRV_NICE);
}

static void *conn_main(void *p)
{
    tb_srv_conn *cn = p;
    tb_server *srv = cn->srv;
    tb_srv_thread_nice();
    char *inbuf = tb_malloc(RECV_CHUNK);
    tb_buf out = {0};
    while (inbuf != NULL && !atomic_load(&srv->stopping)) {
        ssize_t n = recv(cn->fd, inbuf, RECV_CHUNK, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* the client went away */
        bool close_now = false;
        out.len = 0;
        tb_rc rc = tb_pgw_feed(cn->pgw, (const uint8_t *)inbuf, (size_t)n, &out, &close_now);
        if (out.len > 0 && !send_all(cn->fd, out.data, out.len))
            break;
        if (rc != TB_OK || close_now)
            break;
        if (out.cap > (4u << 20))
            tb_buf_free(&out); /* a large result was sent: do not keep its buffer */
    }
    tb_buf_free(&out);
    tb_free(inbuf);
    pthread_mutex_lock(&srv->conns_mu);
    tb_pgw *pgw = cn->pgw;
    cn->pgw = NULL;
    cn->done = true;
    pthread_mutex_unlock(&srv->conns_mu);
    tb_pgw_free(pgw);
    shutdown(cn->fd, SHUT_RDWR);
    atomic_fetch_sub(&srv->pg_connections, 1);
    return NULL;
}

/* Join finished connection threads and free their slots (conns_mu held). */
static void reap(tb_server *srv)
{
    for (int i = 0; i < srv->max_clients; i++) {
        tb_srv_conn *cn = &srv->conns[i];
        if (cn->used && cn->done) {
            pthread_join(cn->thread, NULL);
            close(cn->fd);
            memset(cn, 0, sizeof(*cn));
        }
    }
}

static void refuse(int fd, const char *state, const char *msg)
{
    /* one ErrorResponse, best effort, without waiting on a client that does not read */
    uint8_t buf[256];
    size_t n = 0;
    buf[n++] = 'E';
    n += 4;
    buf[n++] = 'S';
    memcpy(buf + n, "FATAL", 6);
    n += 6;
    buf[n++] = 'C';
    memcpy(buf + n, state, 6);
    n += 6;
    buf[n++] = 'M';
    size_t ml = strlen(msg) + 1;
    memcpy(buf + n, msg, ml);
    n += ml;
    buf[n++] = 0;
    uint32_t len = (uint32_t)(n - 1);
    buf[1] = (uint8_t)(len >> 24);
    buf[2] = (uint8_t)(len >> 16);
    buf[3] = (uint8_t)(len >> 8);
    buf[4] = (uint8_t)len;
    (void)send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void *accept_main(void *p)
{
    tb_server *srv = p;
    while (!atomic_load(&srv->stopping)) {
        struct pollfd pf[2] = {{srv->pg_fd, POLLIN, 0}, {srv->wake[0], POLLIN, 0}};
        int r = poll(pf, 2, 1000);
        pthread_mutex_lock(&srv->conns_mu);
        reap(srv);
        pthread_mutex_unlock(&srv->conns_mu);
        if (r <= 0 || !(pf[0].revents & POLLIN))
            continue;
        int fd = accept4(srv->pg_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        struct timeval tv = {SEND_TIMEOUT_S, 0};
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        pthread_mutex_lock(&srv->conns_mu);
        tb_srv_conn *cn = NULL;
        for (int i = 0; i < srv->max_clients && cn == NULL; i++)
            if (!srv->conns[i].used)
                cn = &srv->conns[i];
        if (cn == NULL) {
            pthread_mutex_unlock(&srv->conns_mu);
            refuse(fd, "53300", "sorry, too many clients already");
            close(fd);
            continue;
        }
        tb_pgw_env env = {0};
        env.srv = srv;
        env.db = srv->db;
        env.token = srv->token;
        env.timeout_ms = srv->opts.statement_timeout_ms;
        env.mem_limit = srv->opts.query_mem_limit;
        env.pid = ++srv->next_pid;
        if (getrandom(&env.key, sizeof(env.key), 0) != (ssize_t)sizeof(env.key))
            env.key = (int32_t)(tb_now_ns() ^ (int64_t)env.pid * 2654435761);
        env.cancel = cancel_cb;
        env.cancel_ud = srv;
        cn->fd = fd;
        cn->srv = srv;
        cn->pgw = tb_pgw_new(&env);
        cn->used = true;
        cn->done = false;
        bool ok = cn->pgw != NULL && pthread_create(&cn->thread, NULL, conn_main, cn) == 0;
        if (!ok) {
            tb_pgw_free(cn->pgw);
            memset(cn, 0, sizeof(*cn));
            pthread_mutex_unlock(&srv->conns_mu);
            refuse(fd, "53200", "out of memory");
            close(fd);
            continue;
        }
        atomic_fetch_add(&srv->pg_connections, 1);
        pthread_mutex_unlock(&srv->conns_mu);
    }
    return NULL;
}

/* ---------------------------------------------------------------- start, stop */

const char *tb_server_pg_address(const tb_server *srv)
{
    return srv != NULL && srv->pg_addr[0] ? srv->pg_addr : NULL;
}

const char *tb_server_http_address(const tb_server *srv)
{
    return srv != NULL && srv->http_addr[0] ? srv->http_addr : NULL;
}

tb_rc tb_server_start(tb_db *db, const tb_server_opts *opts, tb_server **out, tb_err *err)
{
    *out = NULL;
    tb_server *srv = tb_calloc(1, sizeof(*srv));
    if (srv == NULL)
        return tb_err_nomem(err);
    srv->db = db;
    srv->opts = *opts;
    srv->pg_fd = -1;
    srv->wake[0] = srv->wake[1] = -1;
    if (srv->opts.statement_timeout_ms <= 0)
        srv->opts.statement_timeout_ms = 30000;
    if (srv->opts.query_mem_limit <= 0)
        srv->opts.query_mem_limit = 256ll << 20;
    srv->max_clients = opts->max_clients > 0 ? opts->max_clients : 256;
    pthread_mutex_init(&srv->conns_mu, NULL);
    pthread_mutex_init(&srv->wd_mu, NULL);
    pthread_cond_init(&srv->wd_cv, NULL);
    pthread_mutex_init(&srv->ev_mu, NULL);
    pthread_cond_init(&srv->ev_cv, NULL);
    tb_rc rc = TB_OK;
    if ((opts->token != NULL && (srv->token = tb_strdup(opts->token)) == NULL) ||
        (opts->show_sql != NULL && (srv->show_sql = tb_strdup(opts->show_sql)) == NULL)) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    srv->opts.token = srv->token;
    srv->opts.show_sql = srv->show_sql;
    (void)tb_sql_find_tablefunc("read_csv"); /* registers the built-ins before threads */
    srv->conns = tb_calloc((size_t)srv->max_clients, sizeof(tb_srv_conn));
    if (srv->conns == NULL || pipe2(srv->wake, O_CLOEXEC) != 0) {
        rc = tb_err_nomem(err);
        goto fail;
    }
    if (pthread_create(&srv->wd_thread, NULL, watchdog_main, srv) != 0) {
        rc = TB_ERRF(err, TB_E_NOMEM, "cannot start the watchdog thread");
        goto fail;
    }
    srv->wd_started = true;
    if (opts->pg_listen != NULL) {
        rc = listen_on("--pg", opts->pg_listen, opts->token != NULL, &srv->pg_fd, srv->pg_addr,
                       sizeof(srv->pg_addr), err);
        if (rc != TB_OK)
            goto fail;
        if (pthread_create(&srv->pg_thread, NULL, accept_main, srv) != 0) {
            rc = TB_ERRF(err, TB_E_NOMEM, "cannot start the PostgreSQL listener thread");
            goto fail;
        }
        srv->pg_started = true;
    }
    if (opts->http_listen != NULL) {
        rc = tb_http_start(srv, opts->http_listen, err);
        if (rc != TB_OK)
            goto fail;
    }
    *out = srv;
    return TB_OK;
fail:
    tb_server_stop(srv);
    return rc;
}

void tb_server_stop(tb_server *srv)
{
    if (srv == NULL)
        return;
    atomic_store(&srv->stopping, 1);
    tb_http_stop(srv);
    if (srv->wake[1] >= 0)
        (void)!write(srv->wake[1], "x", 1);
    if (srv->pg_started)
        pthread_join(srv->pg_thread, NULL);
    if (srv->conns != NULL) {
        pthread_mutex_lock(&srv->conns_mu);
        for (int i = 0; i < srv->max_clients; i++)
            if (srv->conns[i].used)
                shutdown(srv->conns[i].fd, SHUT_RDWR);
        pthread_mutex_unlock(&srv->conns_mu);
        for (int i = 0; i < srv->max_clients; i++) {
            tb_srv_conn *cn = &srv->conns[i];
            if (cn->used) {
                pthread_join(cn->thread, NULL);
                close(cn->fd);
            }
        }
    }
    if (srv->wd_started) {
        pthread_mutex_lock(&srv->wd_mu);
        pthread_cond_broadcast(&srv->wd_cv);
        pthread_mutex_unlock(&srv->wd_mu);
        pthread_join(srv->wd_thread, NULL);
    }
    if (srv->pg_fd >= 0)
        close(srv->pg_fd);
    for (int i = 0; i < 2; i++)
        if (srv->wake[i] >= 0)
            close(srv->wake[i]);
    for (int i = 0; i < TB_SRV_EVENTS; i++)
        tb_free(srv->events[i]);
    for (size_t i = 0; i < srv->n_qstats; i++)
        tb_free(srv->qstats[i].last_progress);
    for (size_t i = 0; i < srv->n_views; i++) {
        tb_free(srv->view_names[i]);
        tb_strlist_free(&srv->view_prev[i]);
    }
    tb_free(srv->view_names);
    tb_free(srv->view_prev);
    tb_free(srv->watched);
    tb_free(srv->conns);
    tb_free(srv->token);
    tb_free(srv->show_sql);
    pthread_mutex_destroy(&srv->conns_mu);
    pthread_mutex_destroy(&srv->wd_mu);
    pthread_cond_destroy(&srv->wd_cv);
    pthread_mutex_destroy(&srv->ev_mu);
    pthread_cond_destroy(&srv->ev_cv);
    tb_free(srv);
}
