/*
 * run.c - `tributary run JOB.sql`: run a streaming job (see stream/stream.h) with a live
 * dashboard (--show ... --every ...), progress records and a checkpoint.
 *
 * SIGINT / SIGTERM set a flag: the current batch completes and commits, then the job
 * stops cleanly (exit 0). A second signal while stopping kills at once (default action).
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "server/server.h"
#include "stream/stream.h"

static volatile sig_atomic_t stop_flag = 0;

static void on_signal(int sig)
{
    stop_flag = 1;
    signal(sig, SIG_DFL); /* a second signal stops at once */
}

static const char *run_usage =
    "usage: tributary run JOB.sql [options]\n"
    "\n"
    "Runs the job's statements; its continuous queries (CREATE MATERIALIZED VIEW over a\n"
    "stream, INSERT INTO a sink) then run until stopped (Ctrl-C finishes the current batch).\n"
    "\n"
    "options:\n"
    "  --trigger T          'N seconds' (default '1 second'), once, available-now, continuous\n"
    "  --checkpoint DIR     checkpoint directory (resume after a stop or crash); default: a\n"
    "                       temporary directory (no resume)\n"
    "  --show SQL           query printed as a table every --every interval (dashboard)\n"
    "  --every INTERVAL     dashboard interval (default '5 seconds')\n"
    "  --progress FILE|-    one JSON record per batch (- = stdout)\n"
    "  --quiet              no per-batch summary line on stderr\n"
    "  --log-level L        error, warn (default), info, debug\n"
    "  --stop-after D       stop after D (e.g. '30 seconds')\n"
    "  --idle-stop D        stop after D without new input\n"
    "  --set KEY=VALUE      replace ${KEY} in the job text (repeatable)\n"
    "  --format F           dashboard format: table (default), csv, json\n"
    "  --memory-limit SIZE  bound on the streaming state (e.g. 512MB, 2GiB; default none)\n"
    "  --pg [ADDR:]PORT     serve the running job's views over the PostgreSQL protocol\n"
    "  --http [ADDR:]PORT   HTTP API, live dashboard (the --show query as a chart), /metrics\n"
    "  --token TOKEN        password / bearer token; needed for a non-loopback address\n"
    "  --statement-timeout D  served queries' default statement_timeout (default 30 s)\n"
    "  --query-memory SIZE  memory bound per served query (default 256MB)\n"
    "  --sync-every-batch   fdatasync each batch's checkpoint record before the batch runs,\n"
    "                       also for queries without sinks (default: those sync when idle,\n"
    "                       at most 200 ms later; a kill loses nothing either way)\n";

/* "1048576", "64k", "512MB", "2GiB" (k/M/G/T, powers of 1024) -> bytes; false if bad. */
static bool parse_size(const char *s, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || v <= 0)
        return false;
    while (*end == ' ')
        end++;
    double mul = 1;
    const char *units = "kmgt";
    const char *u = *end != '\0' ? strchr(units, tolower((unsigned char)*end)) : NULL;
    if (u != NULL) {
        for (const char *k = units; k <= u; k++)
            mul *= 1024;
        end++;
        if (*end == 'i' || *end == 'I')
            end++;
    }
    if (*end == 'b' || *end == 'B')
        end++;
    if (*end != '\0' || v * mul >= 18e18)
        return false;
    *out = (uint64_t)(v * mul);
    return *out > 0;
}

typedef struct show_ctx {
    const char *sql;
    tb_cli_format fmt;
} show_ctx;

static void show_tick(void *ud, tb_db *db)
{
    show_ctx *s = ud;
    char ts[48];
    tb_format_timestamp(tb_wall_us(), ts);
    ts[19] = '\0';
    printf("\n== %s  %s\n", ts, s->sql);
    tb_cli_exec_print(db, s->sql, s->fmt, stdout);
    fflush(stdout);
}

/* Replace ${KEY} by values given with --set. Returns a malloc'ed string or NULL. */
static char *substitute(const char *text, char **sets, int n_sets)
{
    tb_buf out = {0};
    for (const char *p = text; *p != '\0';) {
        if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p, '}');
            if (end != NULL) {
                size_t klen = (size_t)(end - p - 2);
                const char *val = NULL;
                for (int i = 0; i < n_sets; i++) {
                    const char *eq = strchr(sets[i], '=');
                    if (eq != NULL && (size_t)(eq - sets[i]) == klen &&
                        strncmp(sets[i], p + 2, klen) == 0)
                        val = eq + 1;
                }
                if (val == NULL && klen < 256) {
                    char key[256];
                    memcpy(key, p + 2, klen);
                    key[klen] = '\0';
                    val = getenv(key); /* ${HOME}-style environment fallback */
                }
                if (val != NULL) {
                    if (tb_buf_puts(&out, val) != TB_OK)
                        goto oom;
                    p = end + 1;
                    continue;
                }
            }
        }
        if (tb_buf_putc(&out, *p++) != TB_OK)
            goto oom;
    }
    if (tb_buf_cstr(&out) == NULL)
        goto oom;
    return out.data;
oom:
    tb_buf_free(&out);
    return NULL;
}

int tb_cli_run(int argc, char **argv)
{
    tb_stream_opts opts;
    tb_stream_opts_default(&opts);
    opts.summary = true;
    const char *job = NULL, *progress = NULL;
    show_ctx show = {NULL, TB_FMT_TABLE};
    char **sets = calloc((size_t)argc + 1, sizeof(char *));
    int n_sets = 0;
    int status = 1;
    FILE *progress_fp = NULL;
    char *text = NULL, *sql = NULL;
    tb_db *db = NULL;
    tb_stream *st = NULL;
    tb_server *srv = NULL;
    tb_cli_serve_opts so = {0};
    tb_err err;
    tb_err_clear(&err);
    if (sets == NULL)
        return 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) {
            fputs(run_usage, stdout);
            status = 0;
            goto done;
        }
        if (strcmp(a, "--quiet") == 0) {
            opts.summary = false;
            continue;
        }
        if (strcmp(a, "--sync-every-batch") == 0) {
            opts.sync_every_batch = true;
            continue;
        }
        if (a[0] != '-' || a[1] != '-') {
            if (job != NULL) {
                fprintf(stderr, "error: unexpected argument '%s'\n", a);
                status = 2;
                goto done;
            }
            job = a;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "error: %s needs a value\n%s", a, run_usage);
            status = 2;
            goto done;
        }
        i++;
        int64_t ms = 0;
        int sr = tb_cli_serve_option(a, v, &so);
        if (sr < 0) {
            status = 2;
            goto done;
        }
        if (sr > 0)
            continue;
        if (strcmp(a, "--trigger") == 0) {
            if (strcmp(v, "once") == 0)
                opts.trigger = TB_TRIGGER_ONCE;
            else if (strcmp(v, "available-now") == 0 || strcmp(v, "available_now") == 0)
                opts.trigger = TB_TRIGGER_AVAILABLE_NOW;
            else if (strcmp(v, "continuous") == 0)
                opts.trigger = TB_TRIGGER_CONTINUOUS;
            else if (tb_stream_parse_duration(v, &ms) && ms > 0) {
                opts.trigger = TB_TRIGGER_INTERVAL;
                opts.interval_ms = ms;
            } else {
                fprintf(stderr, "error: --trigger takes 'N seconds', once, available-now or "
                                "continuous, not '%s'\n", v);
                status = 2;
                goto done;
            }
        } else if (strcmp(a, "--checkpoint") == 0) {
            opts.checkpoint_dir = v;
        } else if (strcmp(a, "--show") == 0) {
            show.sql = v;
        } else if (strcmp(a, "--every") == 0 || strcmp(a, "--stop-after") == 0 ||
                   strcmp(a, "--idle-stop") == 0) {
            if (!tb_stream_parse_duration(v, &ms) || ms <= 0) {
                fprintf(stderr, "error: %s takes a duration such as '5 seconds', not '%s'\n", a,
                        v);
                status = 2;
                goto done;
            }
            if (strcmp(a, "--every") == 0)
                opts.tick_every_ms = ms;
            else if (strcmp(a, "--stop-after") == 0)
                opts.stop_after_ms = ms;
            else
                opts.idle_stop_ms = ms;
        } else if (strcmp(a, "--memory-limit") == 0) {
            if (!parse_size(v, &opts.memory_limit)) {
                fprintf(stderr, "error: --memory-limit takes a size such as 512MB, not '%s'\n",
                        v);
                status = 2;
                goto done;
            }
        } else if (strcmp(a, "--progress") == 0) {
            progress = v;
        } else if (strcmp(a, "--set") == 0) {
            if (strchr(v, '=') == NULL) {
                fprintf(stderr, "error: --set takes KEY=VALUE\n");
                status = 2;
                goto done;
            }
            sets[n_sets++] = (char *)v;
        } else if (strcmp(a, "--format") == 0) {
            if (tb_cli_parse_format(v, &show.fmt) != 0) {
                fprintf(stderr, "error: --format takes table, csv or json\n");
                status = 2;
                goto done;
            }
        } else if (strcmp(a, "--log-level") == 0) {
            static const char *const levels[] = {"error", "warn", "info", "debug"};
            int lv = -1;
            for (int k = 0; k < 4; k++)
                if (strcmp(v, levels[k]) == 0)
                    lv = k;
            if (lv < 0) {
                fprintf(stderr, "error: --log-level takes error, warn, info or debug\n");
                status = 2;
                goto done;
            }
            tb_log_set_level((tb_log_level)lv);
        } else {
            fprintf(stderr, "error: unknown option '%s'\n%s", a, run_usage);
            status = 2;
            goto done;
        }
    }
    if (job == NULL) {
        fputs(run_usage, stderr);
        status = 2;
        goto done;
    }
    size_t len = 0;
    if (tb_file_read_all(job, 64u << 20, &text, &len, &err) != TB_OK) {
        fprintf(stderr, "error: %s\n", err.msg);
        goto done;
    }
    sql = substitute(text, sets, n_sets);
    if (sql == NULL) {
        fprintf(stderr, "error: out of memory\n");
        goto done;
    }
    if (progress != NULL) {
        progress_fp = strcmp(progress, "-") == 0 ? stdout : fopen(progress, "a");
        if (progress_fp == NULL) {
            fprintf(stderr, "error: --progress: cannot open '%s': %s\n", progress,
                    strerror(errno));
            goto done;
        }
        opts.progress_fp = progress_fp;
    }
    if (show.sql != NULL) {
        opts.tick = show_tick;
        opts.tick_ud = &show;
    }
    tb_rc rc = tb_db_open(NULL, &db);
    if (rc != TB_OK) {
        fprintf(stderr, "error: cannot open engine: %s\n", tb_errstr(rc));
        goto done;
    }
    /* the servers start before the job's statements run (so run prints where it serves
     * before the first batch); the statements change the catalog under the write lock */
    if (tb_cli_serve_start(db, &so, show.sql, &srv) != 0)
        goto done;
    if (srv != NULL) {
        opts.on_batch = tb_server_on_batch;
        opts.on_batch_ud = srv;
    }
    rc = tb_stream_new(db, &opts, &st, &err);
    if (rc == TB_OK) {
        tb_db_write_begin(db);
        rc = tb_stream_exec(st, sql, &err);
        tb_db_write_end(db);
    }
    if (rc != TB_OK) {
        tb_buf msg = {0};
        tb_sql_format_error(sql, &err, &msg);
        const char *m = tb_buf_cstr(&msg);
        fprintf(stderr, "%s: %s", job, m != NULL ? m : err.msg);
        tb_buf_free(&msg);
        goto done;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    rc = tb_stream_run(st, &stop_flag, &err);
    if (rc != TB_OK) {
        fprintf(stderr, "error: %s\n", err.msg);
        goto done;
    }
    status = 0;
done:
    tb_server_stop(srv); /* before the stream: queries read its views */
    tb_stream_free(st);
    tb_db_close(&db);
    if (progress_fp != NULL && progress_fp != stdout)
        fclose(progress_fp);
    free(sets);
    tb_free(text);
    tb_free(sql);
    return status;
}
