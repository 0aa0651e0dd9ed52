/*
 * pgwire.h - the PostgreSQL frontend/backend protocol v3, as a byte-stream engine with
 * no I/O: the connection thread (server.c) feeds what it reads and sends what comes
 * out; the fuzz target (fuzz/fuzz_pgwire.c) feeds arbitrary bytes the same way.
 */
#ifndef TB_PGWIRE_H
#define TB_PGWIRE_H

#include "server/srv_int.h"

/* The largest message a client may send (a query text, a Bind): longer claims are
 * refused before any byte of them is buffered. */
#define TB_PGW_MAX_MSG (16u << 20)
/* Startup packets are small in every client (PostgreSQL allows 10000 bytes). */
#define TB_PGW_MAX_STARTUP 10000u
/* Prepared statements and portals one connection may keep. */
#define TB_PGW_MAX_NAMED 1024u

typedef struct tb_pgw tb_pgw;

typedef struct tb_pgw_env {
    tb_server *srv; /* may be NULL (fuzzing): no watchdog, no cancel registry */
    tb_db *db;
    const char *token; /* password required when not NULL */
    int64_t timeout_ms;
    int64_t mem_limit;
    int32_t pid, key; /* BackendKeyData */
    /* A CancelRequest arrived on this connection: cancel (pid, key) elsewhere. */
    void (*cancel)(void *ud, int32_t pid, int32_t key);
    void *cancel_ud;
} tb_pgw_env;

tb_pgw *tb_pgw_new(const tb_pgw_env *env);
void tb_pgw_free(tb_pgw *c);
/*
 * Consume len bytes from the client; replies are appended to out. *out_close is set
 * when the connection must be closed once out is sent (Terminate, a fatal error).
 * Returns TB_E_NOMEM only when a reply cannot be built.
 * @thread the connection's; tb_pgw_cancel from any thread.
 */
tb_rc tb_pgw_feed(tb_pgw *c, const uint8_t *data, size_t len, tb_buf *out, bool *out_close);
/* Stop the connection's running query (a cancel request with its key). */
void tb_pgw_cancel(tb_pgw *c);
int32_t tb_pgw_pid(const tb_pgw *c);
int32_t tb_pgw_key(const tb_pgw *c);

#endif /* TB_PGWIRE_H */
