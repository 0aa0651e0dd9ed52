/*
 * mem.c - heap allocation wrappers with fault injection, array growth, arenas and
 * growable byte buffers.
 *
 * Fault injection (TB_FAULTS builds): tb_fault_arm(n) sets a countdown; each
 * allocation through tb_malloc/tb_calloc/tb_realloc (and so tb_strdup, arenas,
 * buffers) decrements it and the one that brings it to zero returns NULL. The countdown
 * is an atomic so threads may allocate concurrently; the fast path is one relaxed load.
 *
 * Arena layout: a singly linked list of blocks, newest first. Small requests are bumped
 * from the current block [ptr, end); a request larger than a quarter of the block size
 * gets a dedicated block (linked in, but the current bump block stays current, so a big
 * string does not waste the rest of a block). The first normal block is kept across
 * tb_arena_reset so a per-batch arena does not go back to malloc on every batch.
 */
#include <malloc.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* ---------------------------------------------------------------- heap */

#ifdef TB_FAULTS
static atomic_long fault_countdown;
static atomic_bool fault_did_fire;

static bool fault_hit(void)
{
    long c = atomic_load_explicit(&fault_countdown, memory_order_relaxed);
    if (TB_LIKELY(c <= 0))
        return false;
    c = atomic_fetch_sub_explicit(&fault_countdown, 1, memory_order_relaxed);
    if (c == 1) {
        atomic_store(&fault_did_fire, true);
        return true;
    }
    return false;
}
#define FAULT_HIT() fault_hit()
#else
#define FAULT_HIT() false
#endif

void tb_fault_arm(long n)
{
#ifdef TB_FAULTS
    atomic_store(&fault_did_fire, false);
    atomic_store(&fault_countdown, n > 0 ? n : 0);
#else
    TB_UNUSED(n);
#endif
}

bool tb_fault_fired(void)
{
#ifdef TB_FAULTS
    return atomic_load(&fault_did_fire);
#else
    return false;
#endif
}

/* ---------------------------------------------------------------- budgets (issue 11) */

static _Thread_local tb_mem_budget *cur_budget;

tb_mem_budget *tb_mem_budget_enter(tb_mem_budget *b)
{
    tb_mem_budget *prev = cur_budget;
    cur_budget = b;
    return prev;
}

tb_mem_budget *tb_mem_budget_current(void) { return cur_budget; }

bool tb_mem_budget_stopped(void)
{
    return cur_budget != NULL && atomic_load_explicit(&cur_budget->stop, memory_order_relaxed);
}

/* Before an allocation under a budget: false when the query must stop. */
static bool budget_admit(tb_mem_budget *b, size_t n)
{
    if (atomic_load_explicit(&b->stop, memory_order_relaxed))
        return false;
    if (b->limit > 0 &&
        atomic_load_explicit(&b->used, memory_order_relaxed) + (long long)n > b->limit) {
        atomic_store(&b->exceeded, 1);
        return false;
    }
    return true;
}

static void *budget_count(void *p)
{
    if (p != NULL && cur_budget != NULL)
        atomic_fetch_add_explicit(&cur_budget->used, (long long)malloc_usable_size(p),
                                  memory_order_relaxed);
    return p;
}

void *tb_malloc(size_t n)
{
    if (FAULT_HIT())
        return NULL;
    if (TB_UNLIKELY(cur_budget != NULL)) {
        if (!budget_admit(cur_budget, n))
            return NULL;
        return budget_count(malloc(n ? n : 1));
    }
    return malloc(n ? n : 1);
}

void *tb_calloc(size_t count, size_t n)
{
    if (FAULT_HIT())
        return NULL;
    if (TB_UNLIKELY(cur_budget != NULL)) {
        size_t bytes;
        if (__builtin_mul_overflow(count, n, &bytes) || !budget_admit(cur_budget, bytes))
            return NULL;
        return budget_count(count == 0 || n == 0 ? calloc(1, 1) : calloc(count, n));
    }
    if (count == 0 || n == 0)
        return calloc(1, 1);
    return calloc(count, n);
}

void *tb_realloc(void *p, size_t n)
{
    if (FAULT_HIT())
        return NULL;
    if (TB_UNLIKELY(cur_budget != NULL)) {
        size_t old = p != NULL ? malloc_usable_size(p) : 0;
        if (n > old && !budget_admit(cur_budget, n - old))
            return NULL;
        void *np = realloc(p, n ? n : 1);
        if (np != NULL)
            atomic_fetch_add_explicit(&cur_budget->used,
                                      (long long)malloc_usable_size(np) - (long long)old,
                                      memory_order_relaxed);
        return np;
    }
    return realloc(p, n ? n : 1);
}

void tb_free(void *p)
{
    if (TB_UNLIKELY(cur_budget != NULL) && p != NULL)
        atomic_fetch_sub_explicit(&cur_budget->used, (long long)malloc_usable_size(p),
                                  memory_order_relaxed);
    free(p);
}

char *tb_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = tb_malloc(len + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *tb_strdup(const char *s)
{
    size_t len = strlen(s);
    char *d = tb_malloc(len + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, len + 1);
    return d;
}

tb_rc tb_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    size_t new_cap, bytes;
    void *np;

    if (need <= *cap)
        return TB_OK;
    if (elem == 0)
        elem = 1;
    new_cap = *cap ? *cap : 8;
    while (new_cap < need) {
        if (new_cap > SIZE_MAX / 2) {
            new_cap = need;
            break;
        }
        new_cap *= 2;
    }
    if (__builtin_mul_overflow(new_cap, elem, &bytes))
        return TB_E_NOMEM;
    np = tb_realloc(*p, bytes);
    if (np == NULL)
        return TB_E_NOMEM;
    *p = np;
    *cap = new_cap;
    return TB_OK;
}

/* ---------------------------------------------------------------- arena */

#define ARENA_ALIGN 16
#define ARENA_DEFAULT_BLOCK (64 * 1024)

typedef struct arena_block {
    struct arena_block *next;
    size_t size; /* bytes of data after the header */
} arena_block;

/* Header size rounded up so block data starts 16-byte aligned (malloc gives 16). */
#define BLOCK_HDR (((sizeof(arena_block) + ARENA_ALIGN - 1) / ARENA_ALIGN) * ARENA_ALIGN)

struct tb_arena {
    char *ptr;           /* bump pointer into the current block */
    char *end;           /* end of the current block */
    arena_block *blocks; /* every block, newest first */
    arena_block *keep;   /* first normal block: survives reset */
    size_t block_size;
    size_t bytes; /* reserved from the heap (headers included) */
};

static inline char *block_data(arena_block *b)
{
    return (char *)b + BLOCK_HDR;
}

tb_arena *tb_arena_new(size_t block_size)
{
    tb_arena *arena = tb_calloc(1, sizeof(*arena));
    if (arena == NULL)
        return NULL;
    if (block_size == 0)
        block_size = ARENA_DEFAULT_BLOCK;
    if (block_size < 256)
        block_size = 256;
    arena->block_size = (block_size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    return arena;
}

void tb_arena_free(tb_arena *arena)
{
    arena_block *b, *next;

    if (arena == NULL)
        return;
    for (b = arena->blocks; b != NULL; b = next) {
        next = b->next;
        tb_free(b);
    }
    tb_free(arena);
}

void tb_arena_reset(tb_arena *arena)
{
    arena_block *b, *next;

    if (arena == NULL)
        return;
    for (b = arena->blocks; b != NULL; b = next) {
        next = b->next;
        if (b != arena->keep)
            tb_free(b);
    }
    arena->blocks = arena->keep;
    if (arena->keep != NULL) {
        arena->keep->next = NULL;
        arena->ptr = block_data(arena->keep);
        arena->end = arena->ptr + arena->keep->size;
        arena->bytes = BLOCK_HDR + arena->keep->size;
    } else {
        arena->ptr = arena->end = NULL;
        arena->bytes = 0;
    }
}

static void *arena_alloc_slow(tb_arena *arena, size_t n)
{
    arena_block *b;

    if (n > arena->block_size / 4) {
        /* Dedicated block; the current bump block stays current. */
        if (n > SIZE_MAX - BLOCK_HDR)
            return NULL;
        b = tb_malloc(BLOCK_HDR + n);
        if (b == NULL)
            return NULL;
        b->size = n;
        if (arena->blocks != NULL) {
            /* After the head so the head keeps being the bump block. */
            b->next = arena->blocks->next;
            arena->blocks->next = b;
        } else {
            b->next = NULL;
            arena->blocks = b;
        }
        arena->bytes += BLOCK_HDR + n;
        return block_data(b);
    }
    b = tb_malloc(BLOCK_HDR + arena->block_size);
    if (b == NULL)
        return NULL;
    b->size = arena->block_size;
    b->next = arena->blocks;
    arena->blocks = b;
    if (arena->keep == NULL)
        arena->keep = b;
    arena->bytes += BLOCK_HDR + arena->block_size;
    arena->ptr = block_data(b) + n;
    arena->end = block_data(b) + b->size;
    return block_data(b);
}

void *tb_arena_alloc(tb_arena *arena, size_t n)
{
    char *p;

    if (TB_UNLIKELY(n > SIZE_MAX - 2 * ARENA_ALIGN - BLOCK_HDR))
        return NULL;
    n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (n == 0)
        n = ARENA_ALIGN;
    p = arena->ptr;
    if (TB_LIKELY(p != NULL && (size_t)(arena->end - p) >= n)) {
        arena->ptr = p + n;
        return p;
    }
    return arena_alloc_slow(arena, n);
}

void *tb_arena_zalloc(tb_arena *arena, size_t n)
{
    void *p = tb_arena_alloc(arena, n);
    if (p != NULL)
        memset(p, 0, n);
    return p;
}

void *tb_arena_memdup(tb_arena *arena, const void *p, size_t n)
{
    void *d = tb_arena_alloc(arena, n);
    if (d != NULL && n > 0)
        memcpy(d, p, n);
    return d;
}

char *tb_arena_strndup(tb_arena *arena, const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = tb_arena_alloc(arena, len + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *tb_arena_strdup(tb_arena *arena, const char *s)
{
    return tb_arena_memdup(arena, s, strlen(s) + 1);
}

char *tb_arena_sprintf(tb_arena *arena, const char *fmt, ...)
{
    va_list ap, ap2;
    int len;
    char *d;

    va_start(ap, fmt);
    va_copy(ap2, ap);
    len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0) {
        va_end(ap2);
        return NULL;
    }
    d = tb_arena_alloc(arena, (size_t)len + 1);
    if (d != NULL)
        (void)vsnprintf(d, (size_t)len + 1, fmt, ap2);
    va_end(ap2);
    return d;
}

size_t tb_arena_bytes(const tb_arena *arena)
{
    return arena == NULL ? 0 : arena->bytes;
}

/* ---------------------------------------------------------------- buffers */

/* Invariant: when data != NULL, cap > len, so a NUL always fits (tb_buf_cstr). */
tb_rc tb_buf_reserve(tb_buf *buf, size_t extra)
{
    size_t need;

    if (__builtin_add_overflow(buf->len, extra, &need) || need == SIZE_MAX)
        return TB_E_NOMEM;
    need += 1;
    if (TB_LIKELY(need <= buf->cap))
        return TB_OK;
    if (buf->cap == 0 && need < 64)
        need = 64;
    return tb_grow((void **)&buf->data, &buf->cap, need, 1);
}

tb_rc tb_buf_append(tb_buf *buf, const void *p, size_t n)
{
    tb_rc rc = tb_buf_reserve(buf, n);
    if (rc != TB_OK)
        return rc;
    if (n > 0)
        memcpy(buf->data + buf->len, p, n);
    buf->len += n;
    return TB_OK;
}

tb_rc tb_buf_putc(tb_buf *buf, char c)
{
    if (TB_UNLIKELY(buf->len + 1 >= buf->cap)) {
        tb_rc rc = tb_buf_reserve(buf, 1);
        if (rc != TB_OK)
            return rc;
    }
    buf->data[buf->len++] = c;
    return TB_OK;
}

tb_rc tb_buf_puts(tb_buf *buf, const char *s)
{
    return tb_buf_append(buf, s, strlen(s));
}

tb_rc tb_buf_printf(tb_buf *buf, const char *fmt, ...)
{
    va_list ap;
    int len;
    size_t room;
    tb_rc rc;

    rc = tb_buf_reserve(buf, 64);
    if (rc != TB_OK)
        return rc;
    room = buf->cap - buf->len;
    va_start(ap, fmt);
    len = vsnprintf(buf->data + buf->len, room, fmt, ap);
    va_end(ap);
    if (len < 0)
        return TB_E_ERROR;
    if ((size_t)len >= room) {
        rc = tb_buf_reserve(buf, (size_t)len);
        if (rc != TB_OK)
            return rc;
        va_start(ap, fmt);
        len = vsnprintf(buf->data + buf->len, buf->cap - buf->len, fmt, ap);
        va_end(ap);
        if (len < 0)
            return TB_E_ERROR;
    }
    buf->len += (size_t)len;
    return TB_OK;
}

const char *tb_buf_cstr(tb_buf *buf)
{
    if (tb_buf_reserve(buf, 0) != TB_OK)
        return NULL;
    buf->data[buf->len] = '\0';
    return buf->data;
}

void tb_buf_free(tb_buf *buf)
{
    if (buf == NULL)
        return;
    tb_free(buf->data);
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
}
