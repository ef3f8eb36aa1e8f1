/* barrier.c: the step barrier (pt_barrier.h), in two forms.
 *
 * Spinning teams: a dissemination barrier. Every thread counts its
 * crossings; crossing e, round r, thread i stores e in the flag of thread
 * i + 2^r and spins until its own flag of round r holds e or later. A flag
 * has one writer, so a signal is a plain store, not a read-modify-write.
 * No thread can be two crossings ahead of another (it would need that
 * thread's arrival at the crossing in between), so "e or later" is exact,
 * compared modulo 2^32.
 *
 * Sleeping teams (spin 0): a counter. The last thread to arrive resets
 * `arrived` and advances `generation`, and wakes the sleepers with one
 * system call; the others sleep on `generation` until it changes. Here a
 * crossing costs context switches, not cache lines: log2(n) rounds of
 * sleeping and waking would cost 16 threads on 2 cores half their speed.
 * The wake is made only when `sleepers` says someone sleeps: both sides
 * use sequentially consistent order for "publish, then look at the other",
 * so either the waker sees the sleeper or the sleeper sees the new
 * generation before it sleeps (and the kernel checks it again). */
#include "pt_barrier.h"

#include <limits.h>
#include <sched.h>

#include "pt_common.h"

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

/* One thread's flag of one round: written by its partner of that round,
 * read by its owner, on a cache line of its own. */
typedef struct pt_barrier_flag {
    unsigned epoch;              /* the last crossing the partner has reached */
    char pad[64 - sizeof(unsigned)];
} pt_barrier_flag;

/* One thread's crossings, on a line only that thread touches. */
typedef struct pt_barrier_count {
    unsigned crossed;
    char pad[64 - sizeof(unsigned)];
} pt_barrier_count;

struct pt_barrier {
    int n, spin, rounds;
    int max_threads, max_rounds;
    pt_barrier_flag *flag;       /* (max_threads x max_rounds): thread i's round r at i * max_rounds + r */
    pt_barrier_count *count;     /* (max_threads) */
    /* The counter of sleeping teams, each on a line of its own: arrivals
     * change `arrived` while the waiters watch `generation`. */
    int arrived __attribute__((aligned(64)));
    unsigned generation __attribute__((aligned(64)));
    int sleepers __attribute__((aligned(64)));
};

static void sleep_while(unsigned *addr, unsigned value)
{
#ifdef __linux__
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
#else
    (void)addr;
    (void)value;
    sched_yield();
#endif
}

static void wake_all(unsigned *addr)
{
#ifdef __linux__
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    (void)addr;
#endif
}

/* The least r with 2^r >= n. */
static int rounds_for(int n)
{
    int r = 0;
    while (r < 30 && (1 << r) < n)
        r++;
    return r;
}

pt_barrier *pt_barrier_create(int max_threads)
{
    if (max_threads < 1)
        return NULL;
    pt_barrier *b = pt_alloc(sizeof *b);
    if (!b)
        return NULL;
    *b = (pt_barrier){0};
    b->max_threads = max_threads;
    b->max_rounds = rounds_for(max_threads) > 0 ? rounds_for(max_threads) : 1;
    b->flag = pt_alloc((size_t)max_threads * (size_t)b->max_rounds * sizeof *b->flag);
    b->count = pt_alloc((size_t)max_threads * sizeof *b->count);
    if (!b->flag || !b->count) {
        pt_barrier_free(b);
        return NULL;
    }
    pt_barrier_init(b, 1, 0);
    return b;
}

void pt_barrier_free(pt_barrier *b)
{
    if (!b)
        return;
    pt_free(b->flag);
    pt_free(b->count);
    pt_free(b);
}

void pt_barrier_init(pt_barrier *b, int n, int spin)
{
    b->n = n < 1 ? 1 : n > b->max_threads ? b->max_threads : n;
    b->spin = spin;
    b->rounds = rounds_for(b->n);
    for (int i = 0; i < b->max_threads * b->max_rounds; i++)
        b->flag[i] = (pt_barrier_flag){0};
    for (int i = 0; i < b->max_threads; i++)
        b->count[i].crossed = 0;
    b->arrived = 0;
    b->generation = 0;
    b->sleepers = 0;
}

/* Whether a flag holding `epoch` has reached crossing e. */
static int reached(unsigned epoch, unsigned e)
{
    return (int)(epoch - e) >= 0;
}

static void wait_disseminated(pt_barrier *b, int tid)
{
    const unsigned e = ++b->count[tid].crossed;
    for (int r = 0; r < b->rounds; r++) {
        const int partner = (int)(((long)tid + (1L << r)) % b->n);
        __atomic_store_n(&b->flag[partner * b->max_rounds + r].epoch, e, __ATOMIC_RELEASE);
        const unsigned *mine = &b->flag[tid * b->max_rounds + r].epoch;
        for (int i = 0; !reached(__atomic_load_n(mine, __ATOMIC_ACQUIRE), e); i++) {
            if (i < b->spin)
                pt_cpu_relax();
            else
                sched_yield();
        }
    }
}

static void wait_counted(pt_barrier *b)
{
    const unsigned gen = __atomic_load_n(&b->generation, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&b->arrived, 1, __ATOMIC_ACQ_REL) == b->n) {
        __atomic_store_n(&b->arrived, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&b->generation, gen + 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&b->sleepers, __ATOMIC_SEQ_CST) > 0)
            wake_all(&b->generation);
        return;
    }
    __atomic_add_fetch(&b->sleepers, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&b->generation, __ATOMIC_SEQ_CST) == gen)
        sleep_while(&b->generation, gen);
    __atomic_sub_fetch(&b->sleepers, 1, __ATOMIC_RELEASE);
}

void pt_barrier_wait(pt_barrier *b, int tid)
{
    if (b->n <= 1)
        return;
    if (b->spin > 0)
        wait_disseminated(b, tid);
    else
        wait_counted(b);
}
