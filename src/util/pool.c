/*
 * pool.c - running one function on several threads (the workers of a parallel
 * operator), and the number of CPUs the engine may use.
 *
 * tb_par_run starts n-1 POSIX threads and runs worker 0 on the calling thread, then
 * joins them all: a parallel region has the lifetime of one call, so nothing outlives
 * a query (no global pool to shut down, nothing to fork around). Starting a thread
 * costs tens of microseconds, far below the work of a parallel query (morsels are
 * whole files or row groups). When a thread cannot be created (EAGAIN, a container's
 * pid limit) the region runs with the workers that did start: callers hand out work
 * dynamically (morsel queues), so fewer workers means slower, never wrong.
 *
 * Invariant: every started thread is joined before tb_par_run returns.
 */
#include <pthread.h>
#include <unistd.h>

#include "util/util.h"

typedef struct par_arg {
    void (*fn)(void *arg, uint32_t worker);
    void *arg;
    uint32_t worker;
    tb_mem_budget *budget; /* the caller's query budget, shared by its workers */
} par_arg;

static void *par_main(void *p)
{
    par_arg *a = p;
    (void)tb_mem_budget_enter(a->budget);
    a->fn(a->arg, a->worker);
    (void)tb_mem_budget_enter(NULL);
    return NULL;
}

uint32_t tb_par_run(uint32_t n, void (*fn)(void *arg, uint32_t worker), void *arg)
{
    pthread_t tids[TB_PAR_MAX];
    par_arg args[TB_PAR_MAX];
    uint32_t started = 0;

    if (n == 0)
        n = 1;
    if (n > TB_PAR_MAX)
        n = TB_PAR_MAX;
    for (uint32_t w = 1; w < n; w++) {
        args[started].fn = fn;
        args[started].arg = arg;
        args[started].worker = w;
        args[started].budget = tb_mem_budget_current();
        if (pthread_create(&tids[started], NULL, par_main, &args[started]) != 0)
            break; /* run with the workers we have */
        started++;
    }
    fn(arg, 0);
    for (uint32_t i = 0; i < started; i++)
        (void)pthread_join(tids[i], NULL); /* par_main returns NULL; nothing to check */
    return started + 1;
}

uint32_t tb_online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > TB_PAR_MAX ? TB_PAR_MAX : (uint32_t)n;
}
