/*
 * main.c - the `tributary` command: a thin user of the public API (include/tributary.h).
 *
 *   tributary                         interactive shell (libedit)
 *   tributary query [--format F] [--threads N] SQL  run statements, print the last result
 *   tributary run JOB.sql [options]   run a streaming job (see run.c)
 *   tributary serve [FILE.sql]        serve a catalog over pg / HTTP (serve.c)
 *   tributary slt FILE...             sqllogictest runner
 *
 * Exit status: 0 ok, 1 error (message on stderr), 2 usage.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>

#include "cli/cli.h"
#include "cli/slt.h"
#include "sink/write_stmt.h"
#include "util/util.h"

static const char *usage_text =
    "usage: tributary [command] [options]\n"
    "\n"
    "commands:\n"
    "  (none) | shell                 interactive SQL shell\n"
    "  query [--format F] [--threads N] SQL|-\n"
    "                                 run ;-separated statements, print the last result\n"
    "                                 (F: table (default), csv, json; '-' reads stdin;\n"
    "                                 N: worker threads, default all cores; SET threads)\n"
    "  run JOB.sql [options]          run a streaming job (tributary run --help)\n"
    "  serve [--pg P] [--http P] [FILE.sql]  serve a catalog (tributary serve --help)\n"
    "  slt [-v] FILE...               run sqllogictest files\n"
    "  generate products|sales ...    deterministic data for the reference job\n"
    "\n"
    "options:\n"
    "  --help                         this text\n"
    "  --version                      print the version\n";

static int usage(FILE *fp, int status)
{
    fputs(usage_text, fp);
    return status;
}

/* ---------------------------------------------------------------- shell */

static int is_complete_statement(const char *sql)
{
    /* A statement is complete when its last non-space character outside quotes and
     * comments is ';'. */
    int in_s = 0, in_d = 0, last = 0;
    for (const char *p = sql; *p != '\0'; p++) {
        char c = *p;
        if (in_s) {
            if (c == '\'')
                in_s = 0;
            continue;
        }
        if (in_d) {
            if (c == '"')
                in_d = 0;
            continue;
        }
        if (c == '-' && p[1] == '-') {
            while (*p != '\0' && *p != '\n')
                p++;
            if (*p == '\0')
                break;
            continue;
        }
        if (c == '\'') {
            in_s = 1;
        } else if (c == '"') {
            in_d = 1;
        } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            last = c;
        }
    }
    return !in_s && !in_d && last == ';';
}

static const char shell_help[] =
    "Statements end with ';' and may span lines. Commands (psql \\x or sqlite .x form):\n"
    "  \\q  .quit .exit quit        quit\n"
    "  \\?  .help  \\h               this text\n"
    "  \\d  .tables                 list tables, views and streams\n"
    "  \\mode table|csv|json  .mode  output format\n"
    "  \\timing [on|off]  .timer    print each statement's time\n";

/* A shell meta-command (a line starting with '\\' or '.', or quit/exit): 0 when the line
 * is SQL, 1 when handled, -1 to quit. */
static int meta_command(tb_db *db, const char *line, tb_cli_format *fmt, bool *timing)
{
    while (*line == ' ' || *line == '\t')
        line++;
    if (strcmp(line, "quit") == 0 || strcmp(line, "exit") == 0)
        return -1;
    if (line[0] != '\\' && line[0] != '.')
        return 0;
    char cmd[32];
    size_t k = 0;
    const char *p = line + 1;
    while (*p != '\0' && *p != ' ' && *p != '\t' && k + 1 < sizeof(cmd))
        cmd[k++] = *p++;
    cmd[k] = '\0';
    while (*p == ' ' || *p == '\t')
        p++;
    char arg[64];
    k = 0;
    while (*p != '\0' && *p != ' ' && *p != ';' && k + 1 < sizeof(arg))
        arg[k++] = *p++;
    arg[k] = '\0';
    if (strcmp(cmd, "q") == 0 || strcmp(cmd, "quit") == 0 || strcmp(cmd, "exit") == 0)
        return -1;
    if (strcmp(cmd, "?") == 0 || strcmp(cmd, "h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(shell_help, stdout);
    } else if (strcmp(cmd, "d") == 0 || strcmp(cmd, "dt") == 0 || strcmp(cmd, "tables") == 0) {
        (void)tb_cli_exec_print(db, "SHOW TABLES", *fmt, stdout);
    } else if (strcmp(cmd, "mode") == 0 || strcmp(cmd, "pset") == 0) {
        if (tb_cli_parse_format(arg, fmt) != 0)
            fprintf(stderr, "error: unknown mode '%s' (table, csv, json)\n", arg);
    } else if (strcmp(cmd, "timing") == 0 || strcmp(cmd, "timer") == 0) {
        *timing = arg[0] == '\0' ? !*timing : (strcmp(arg, "on") == 0);
        printf("Timing is %s.\n", *timing ? "on" : "off");
    } else {
        fprintf(stderr, "error: unknown command '%s' (\\? lists them)\n", line);
    }
    return 1;
}

/* A line of piped input without its newline (malloc'ed; NULL at the end). libedit is
 * for terminals only: reading a pipe it dropped every non-ASCII byte ('é' became '')
 * because no locale is set; found by the differential test (issue 13). */
static char *piped_line(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    if (n > 0 && line[n - 1] == '\n')
        line[n - 1] = '\0';
    return line;
}

static int shell(tb_cli_format fmt)
{
    tb_db *db = NULL;
    tb_rc rc = tb_db_open(NULL, &db);
    if (rc != TB_OK) {
        fprintf(stderr, "error: cannot open engine: %s\n", tb_errstr(rc));
        return 1;
    }
    tb_sql_set_stmt_hook(db, tb_write_stmt_hook, NULL); /* COPY, Delta writes */
    int tty = isatty(STDIN_FILENO);
    if (tty)
        printf("tributary %s — type SQL ending with ';', \\q to quit, \\? for help\n",
               TB_VERSION);
    char *acc = NULL;
    size_t acc_len = 0;
    int status = 0;
    bool timing = false;
    for (;;) {
        char *line = tty ? readline(acc == NULL ? "tributary> " : "        -> ") : piped_line();
        if (line == NULL)
            break;
        if (acc == NULL) {
            int m = meta_command(db, line, &fmt, &timing);
            if (m != 0) {
                free(line);
                if (m < 0)
                    break;
                continue;
            }
        }
        size_t n = strlen(line);
        char *grown = realloc(acc, acc_len + n + 2);
        if (grown == NULL) {
            free(line);
            status = 1;
            break;
        }
        acc = grown;
        memcpy(acc + acc_len, line, n);
        acc_len += n;
        acc[acc_len++] = '\n';
        acc[acc_len] = '\0';
        free(line);
        if (!is_complete_statement(acc))
            continue;
        if (tty)
            add_history(acc);
        int64_t t0 = tb_now_ns();
        if (tb_cli_exec_print(db, acc, fmt, stdout) != 0)
            status = 1;
        if (timing)
            printf("Time: %.3f ms\n", (double)(tb_now_ns() - t0) / 1e6);
        fflush(stdout);
        free(acc);
        acc = NULL;
        acc_len = 0;
    }
    if (acc != NULL) {
        /* Trailing statement without ';' (piped input). */
        if (tb_cli_exec_print(db, acc, fmt, stdout) != 0)
            status = 1;
        free(acc);
    }
    tb_db_close(&db);
    return tty ? 0 : status;
}

/* ---------------------------------------------------------------- query */

static char *read_stream(FILE *fp)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        return NULL;
    for (;;) {
        if (cap - len < 4096) {
            char *grown = realloc(buf, cap * 2);
            if (grown == NULL) {
                free(buf);
                return NULL;
            }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, fp);
        len += got;
        if (got == 0)
            break;
    }
    buf[len] = '\0';
    return buf;
}

static int cmd_query(int argc, char **argv)
{
    tb_cli_format fmt = TB_FMT_TABLE;
    const char *sql_arg = NULL, *threads = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--threads") == 0 || strncmp(a, "--threads=", 10) == 0) {
            if (a[9] == '=') {
                threads = a + 10;
            } else if (i + 1 < argc) {
                threads = argv[++i];
            } else {
                fprintf(stderr, "error: --threads takes a number of threads\n");
                return 2;
            }
        } else if (strcmp(a, "--format") == 0 || strcmp(a, "-f") == 0) {
            if (i + 1 >= argc || tb_cli_parse_format(argv[i + 1], &fmt) != 0) {
                fprintf(stderr, "error: --format takes table, csv or json\n");
                return 2;
            }
            i++;
        } else if (strncmp(a, "--format=", 9) == 0) {
            if (tb_cli_parse_format(a + 9, &fmt) != 0) {
                fprintf(stderr, "error: --format takes table, csv or json\n");
                return 2;
            }
        } else if (strcmp(a, "--help") == 0) {
            return usage(stdout, 0);
        } else if (sql_arg == NULL) {
            sql_arg = a;
        } else {
            fprintf(stderr, "error: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (sql_arg == NULL) {
        fprintf(stderr, "error: query needs SQL text (or '-' to read it from stdin)\n");
        return 2;
    }
    char *sql = strcmp(sql_arg, "-") == 0 ? read_stream(stdin) : strdup(sql_arg);
    if (sql == NULL) {
        fprintf(stderr, "error: out of memory\n");
        return 1;
    }
    tb_db *db = NULL;
    tb_rc rc = tb_db_open(NULL, &db);
    if (rc != TB_OK) {
        fprintf(stderr, "error: cannot open engine: %s\n", tb_errstr(rc));
        free(sql);
        return 1;
    }
    if (threads != NULL && tb_db_set(db, "threads", threads) != TB_OK) {
        fprintf(stderr, "error: --threads: %s\n", tb_db_errmsg(db));
        tb_db_close(&db);
        free(sql);
        return 2;
    }
    tb_sql_set_stmt_hook(db, tb_write_stmt_hook, NULL); /* COPY, Delta writes */
    int status = tb_cli_exec_print(db, sql, fmt, stdout) == 0 ? 0 : 1;
    tb_db_close(&db);
    free(sql);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return shell(TB_FMT_TABLE);
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0)
        return usage(stdout, 0);
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("tributary %s\n", TB_VERSION);
        return 0;
    }
    if (strcmp(cmd, "query") == 0)
        return cmd_query(argc - 2, argv + 2);
    if (strcmp(cmd, "shell") == 0)
        return shell(TB_FMT_TABLE);
    if (strcmp(cmd, "slt") == 0)
        return tb_cli_slt(argc - 2, argv + 2);
    if (strcmp(cmd, "generate") == 0)
        return tb_cli_generate(argc - 2, argv + 2);
    if (strcmp(cmd, "run") == 0)
        return tb_cli_run(argc - 2, argv + 2);
    if (strcmp(cmd, "serve") == 0)
        return tb_cli_serve(argc - 2, argv + 2);
    fprintf(stderr, "error: unknown command '%s'\n\n", cmd);
    return usage(stderr, 2);
}
