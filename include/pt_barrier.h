/* pt_barrier.h: the barrier between the parts of a training step.
 *
 * Why not `#pragma omp barrier`: libgomp's barrier makes a futex wake
 * system call on every crossing, even when no thread sleeps. On the 2-core
 * VM this project is measured on that call costs 250 ns, and a step at two
 * threads crosses two barriers in about 26 us: 2 % of the step, on the
 * critical path, for nothing. This barrier spins while its wait is short
 * and makes the call only when some thread has gone to sleep.
 *
 * Threads that have spun `spin` rounds sleep on a futex, so a team with more
 * threads than processing units (run.oversubscribe) passes spin = 0 and
 * never holds a core another thread of the team needs. A barrier of one
 * thread returns at once. */
#ifndef PT_BARRIER_H
#define PT_BARRIER_H

/* Each counter on a cache line of its own: arrivals change `arrived` while
 * the waiters watch `generation`. */
typedef struct pt_barrier {
    int n;                                  /* threads that must arrive */
    int spin;                               /* pause rounds before a waiter sleeps */
    int arrived __attribute__((aligned(64)));
    unsigned generation __attribute__((aligned(64)));
    int sleepers __attribute__((aligned(64)));
} pt_barrier;

/* Rounds of spinning before a waiter sleeps: 50 us at the 25 ns a pause
 * round takes on the Zen 4 VM. Far longer than a step's imbalance (about
 * 1 us), short next to a time slice. */
enum { PT_BARRIER_SPIN = 2000 };

/* For n >= 1 threads; not thread-safe, call before the team uses it.
 * b must be 64-byte aligned (pt_alloc). */
void pt_barrier_init(pt_barrier *b, int n, int spin);

/* Returns when all n threads have called it. Writes made by any thread
 * before its call are visible to every thread after the return. */
void pt_barrier_wait(pt_barrier *b);

#endif
