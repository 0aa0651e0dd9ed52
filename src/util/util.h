/*
 * util.h - the bottom layer: errors, allocation (with fault injection), arenas,
 * growable buffers, hashing, time parsing/formatting, path expansion.
 *
 * Every other module includes this header only (never util's .c internals).
 */
#ifndef TB_UTIL_H
#define TB_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tributary.h"

#define TB_INTERNAL __attribute__((visibility("hidden")))
#define TB_UNUSED(x) ((void)(x))
#define TB_MIN(a, b) ((a) < (b) ? (a) : (b))
#define TB_MAX(a, b) ((a) > (b) ? (a) : (b))
#define TB_LIKELY(x) __builtin_expect(!!(x), 1)
#define TB_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TB_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---------------------------------------------------------------- errors */

#define TB_ERR_MSG_CAP 2048

/*
 * Error detail, kept by the caller's context and filled by the callee that fails.
 * `pos` is a 0-based byte offset into the SQL text when the error is about SQL
 * (-1 otherwise); the CLI draws a caret under it.
 */
typedef struct tb_err {
    tb_rc code;
    bool retriable; /* a sink may retry the same operation */
    bool fatal;     /* the query cannot continue */
    int pos;        /* SQL position, -1 if none */
    const char *src_file; /* __FILE__ of the TB_ERRF that set it */
    int src_line;
    char msg[TB_ERR_MSG_CAP];
} tb_err;

void tb_err_clear(tb_err *err);
/* Store a formatted message and return code. Prefer the TB_ERRF macro. */
tb_rc tb_err_set(tb_err *err, tb_rc code, const char *file, int line, const char *fmt, ...)
    TB_PRINTF(5, 6);
/* Prepend context: "ctx: old message". Returns err->code. */
tb_rc tb_err_prefix(tb_err *err, const char *fmt, ...) TB_PRINTF(2, 3);
/* Set err to "out of memory" and return TB_E_NOMEM. */
tb_rc tb_err_nomem(tb_err *err);

/* Set *err and return code; one breakpoint spot (tb_err_set). err may be NULL. */
#define TB_ERRF(err, code, ...) tb_err_set((err), (code), __FILE__, __LINE__, __VA_ARGS__)
/* Same, with an SQL position. */
#define TB_ERRPOS(err, code, p, ...)                                                         \
    (tb_err_set((err), (code), __FILE__, __LINE__, __VA_ARGS__), (err)->pos = (p), (code))

/* ---------------------------------------------------------------- memory */

/*
 * All allocation goes through these so tests can inject failures (TB_FAULTS builds:
 * tb_fault_arm(n) makes the n-th following allocation fail). They never abort.
 */
void *tb_malloc(size_t n);
void *tb_calloc(size_t count, size_t n);
void *tb_realloc(void *p, size_t n);
void tb_free(void *p);
char *tb_strdup(const char *s);
char *tb_strndup(const char *s, size_t n);
/* Fault injection: fail the n-th allocation from now (0 disables). */
void tb_fault_arm(long n);
bool tb_fault_fired(void);
/* Crash point for recovery tests (TB_FAULTS builds): the process kills itself with
 * SIGKILL at the N-th call with this name when TB_CRASH_AT="name:N" (crashpoint.c). */
void tb_crash_point(const char *name);

/*
 * Per-query memory budget and stop flag (issue 11: queries served to clients are bound
 * in memory and time). While a budget is entered on a thread, the bytes that thread
 * (and the workers of its tb_par_run regions) obtain from tb_malloc/tb_calloc/
 * tb_realloc and give back through tb_free are counted; an allocation that would pass
 * `limit` (0: none), or any allocation after `stop` was set by another thread
 * (statement_timeout, a cancel request), fails as out of memory, so the query unwinds
 * through its ordinary error path. `exceeded` tells the two failures from a real OOM.
 * Memory allocated before entering and freed inside counts negative: the bound is on
 * what the query adds. @thread the budget is shared by the query's threads (atomics).
 */
typedef struct tb_mem_budget {
    _Atomic long long used;
    long long limit;
    _Atomic int stop;
    _Atomic int exceeded;
} tb_mem_budget;
/* Enter (b != NULL) or leave (NULL) a budget on the calling thread; returns the
 * previous one. */
tb_mem_budget *tb_mem_budget_enter(tb_mem_budget *b);
tb_mem_budget *tb_mem_budget_current(void);
/* Has the calling thread's budget been told to stop? (false without a budget) */
bool tb_mem_budget_stopped(void);

/* Grow *p (an array of elem-sized items with *cap slots) to hold at least need items. */
tb_rc tb_grow(void **p, size_t *cap, size_t need, size_t elem);

/*
 * Arena (PostgreSQL memory context, simplified): bump allocation in blocks, freed all at
 * once by reset/free. Allocations are 16-byte aligned. Not thread safe.
 */
typedef struct tb_arena tb_arena;
tb_arena *tb_arena_new(size_t block_size); /* 0: default (64 KiB) */
void tb_arena_free(tb_arena *arena);       /* NULL is a no-op */
/* Free all allocations but keep the first block for reuse. */
void tb_arena_reset(tb_arena *arena);
void *tb_arena_alloc(tb_arena *arena, size_t n);  /* NULL on OOM */
void *tb_arena_zalloc(tb_arena *arena, size_t n); /* zeroed */
void *tb_arena_memdup(tb_arena *arena, const void *p, size_t n);
char *tb_arena_strdup(tb_arena *arena, const char *s);
char *tb_arena_strndup(tb_arena *arena, const char *s, size_t n);
char *tb_arena_sprintf(tb_arena *arena, const char *fmt, ...) TB_PRINTF(2, 3);
size_t tb_arena_bytes(const tb_arena *arena); /* bytes reserved from the heap */

/* ---------------------------------------------------------------- buffers */

/* Growable byte buffer. Zero-initialise to start; tb_buf_free to release. */
typedef struct tb_buf {
    char *data;
    size_t len;
    size_t cap;
} tb_buf;

tb_rc tb_buf_reserve(tb_buf *buf, size_t extra);
tb_rc tb_buf_append(tb_buf *buf, const void *p, size_t n);
tb_rc tb_buf_putc(tb_buf *buf, char c);
tb_rc tb_buf_puts(tb_buf *buf, const char *s);
tb_rc tb_buf_printf(tb_buf *buf, const char *fmt, ...) TB_PRINTF(2, 3);
/* Ensure data is NUL terminated (not counted in len); returns data or NULL on OOM. */
const char *tb_buf_cstr(tb_buf *buf);
void tb_buf_free(tb_buf *buf);

/* ---------------------------------------------------------------- strings */

bool tb_str_ieq(const char *a, const char *b);
bool tb_str_nieq(const char *a, size_t a_len, const char *b);
bool tb_str_ends_with(const char *s, const char *suffix);
/* Levenshtein distance, for "did you mean" candidates. */
int tb_edit_distance(const char *a, const char *b);
/* Valid UTF-8? */
bool tb_utf8_valid(const char *s, size_t n);

/* ---------------------------------------------------------------- hashing */

uint64_t tb_hash_bytes(const void *p, size_t n, uint64_t seed);
static inline uint64_t tb_hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}
static inline uint64_t tb_hash_combine(uint64_t h, uint64_t v)
{
    return tb_hash_u64(h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2)));
}

/* ---------------------------------------------------------------- time */

#define TB_USEC_PER_SEC 1000000LL
#define TB_USEC_PER_DAY 86400000000LL

/* Days since 1970-01-01 of a proleptic Gregorian civil date, and back. */
int64_t tb_days_from_civil(int64_t y, unsigned m, unsigned d);
void tb_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
/*
 * Parse "YYYY-MM-DD", "YYYY-MM-DD[ T]HH:MM[:SS[.ffffff]][Z|+HH[:MM]]" into microseconds
 * since the epoch (UTC). Returns false on malformed input.
 */
bool tb_parse_timestamp(const char *s, size_t n, int64_t *out_us);
bool tb_parse_date(const char *s, size_t n, int32_t *out_days);
/* Format as "YYYY-MM-DD HH:MM:SS[.ffffff]" (trailing zeros of the fraction trimmed
 * as PostgreSQL does). buf must hold 40 bytes. Returns the length. */
int tb_format_timestamp(int64_t us, char *buf);
int tb_format_date(int32_t days, char *buf);

/* An interval as PostgreSQL keeps it: months, days and microseconds separately. */
typedef struct tb_interval {
    int32_t months;
    int32_t days;
    int64_t micros;
} tb_interval;
/* Parse "10 seconds", "1 day 02:00:00", "5 min", "2 hours 3 minutes", "00:00:10",
 * "1.5 s", ISO "PT10S". Returns false on malformed input. */
bool tb_parse_interval(const char *s, size_t n, tb_interval *out);
/* Format as PostgreSQL does ("1 day 02:00:00", "00:00:10"). buf >= 80 bytes. */
int tb_format_interval(tb_interval iv, char *buf);
/* Total length in microseconds assuming 30-day months (for window widths). */
int64_t tb_interval_micros(tb_interval iv);

/* Monotonic clock in nanoseconds, and wall clock in microseconds since the epoch. */
int64_t tb_now_ns(void);
int64_t tb_wall_us(void);

/* ---------------------------------------------------------------- paths */

/* A list of strings (heap-allocated, owned by the list). */
typedef struct tb_strlist {
    char **items;
    size_t n;
    size_t cap;
} tb_strlist;
tb_rc tb_strlist_push(tb_strlist *list, const char *s);
void tb_strlist_free(tb_strlist *list);

/*
 * Expand a path the way read_csv/read_parquet take it: a file; a directory (its regular
 * files, sorted by name, skipping names that start with '.' or '_'); or a glob pattern
 * (glob(3), sorted). `suffix` (may be NULL) filters directory entries by extension.
 * No match is an error naming the pattern.
 */
tb_rc tb_path_expand(const char *pattern, const char *suffix, tb_strlist *out, tb_err *err);

/* Read a whole file into a heap buffer (NUL-terminated; *out_len excludes the NUL).
 * Files larger than max_len are refused with TB_E_LIMIT. */
tb_rc tb_file_read_all(const char *path, size_t max_len, char **out_data, size_t *out_len,
                       tb_err *err);
/* Write a file atomically: write "<dir>/.<name>.tmp-<pid>", fsync, rename. */
tb_rc tb_file_write_atomic(const char *path, const void *data, size_t len, tb_err *err);
/* mkdir -p */
tb_rc tb_mkdirs(const char *path, tb_err *err);

/* ---------------------------------------------------------------- logging */

typedef enum tb_log_level {
    TB_LOG_ERROR = 0,
    TB_LOG_WARN = 1,
    TB_LOG_INFO = 2,
    TB_LOG_DEBUG = 3
} tb_log_level;
void tb_log_set_level(tb_log_level level);
tb_log_level tb_log_get_level(void);
void tb_log(tb_log_level level, const char *fmt, ...) TB_PRINTF(2, 3);

/* ---------------------------------------------------------------- threads */

/* Most workers of one parallel region (and the largest useful `threads` setting). */
#define TB_PAR_MAX 64u

/*
 * Run fn(arg, w) for w = 0..n-1 concurrently: worker 0 on the calling thread, the
 * others on new threads, all joined before returning. n is clamped to 1..TB_PAR_MAX.
 * Returns how many workers ran: fewer than n when threads could not be created (the
 * workers that ran must then share out all the work, e.g. from a queue).
 * @thread any; fn runs on n threads at once.
 */
uint32_t tb_par_run(uint32_t n, void (*fn)(void *arg, uint32_t worker), void *arg);
/* Online CPUs (sysconf), clamped to 1..TB_PAR_MAX: the default of `threads`. */
uint32_t tb_online_cpus(void);

#endif /* TB_UTIL_H */
