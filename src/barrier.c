/* barrier.c: a counting barrier that spins, then sleeps on a futex.
 * `generation` counts completed crossings (modulo 2^32). The last thread to arrive resets
 * `arrived` and advances `generation`; the others wait for it to change.
 * The futex wake is made only when `sleepers` says someone sleeps: both
 * sides use sequentially consistent order for "publish, then look at the
 * other", so either the waker sees the sleeper or the sleeper sees the new
 * generation before it sleeps (and the kernel re-checks it again). */
#include "pt_barrier.h"

#include <limits.h>
#include <sched.h>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

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

void pt_barrier_init(pt_barrier *b, int n, int spin)
{
    b->n = n;
    b->spin = spin;
    b->arrived = 0;
    b->generation = 0;
    b->sleepers = 0;
}

void pt_barrier_wait(pt_barrier *b)
{
    if (b->n <= 1)
        return;
    const unsigned gen = __atomic_load_n(&b->generation, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&b->arrived, 1, __ATOMIC_ACQ_REL) == b->n) {
        __atomic_store_n(&b->arrived, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&b->generation, gen + 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&b->sleepers, __ATOMIC_SEQ_CST) > 0)
            wake_all(&b->generation);
        return;
    }
    for (int i = 0; i < b->spin; i++) {
        if (__atomic_load_n(&b->generation, __ATOMIC_ACQUIRE) != gen)
            return;
        cpu_relax();
    }
    __atomic_add_fetch(&b->sleepers, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&b->generation, __ATOMIC_SEQ_CST) == gen)
        sleep_while(&b->generation, gen);
    __atomic_sub_fetch(&b->sleepers, 1, __ATOMIC_RELEASE);
}
