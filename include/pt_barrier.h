/* pt_barrier.h: the barrier between the parts of a training step.
 *
 * Why not `#pragma omp barrier`: libgomp's barrier makes a futex wake
 * system call on every crossing, even when no thread sleeps. On the 2-core
 * VM this project is measured on that call costs 250 ns, and a step at two
 * threads crosses two barriers in about 22 us: 2 % of the step, on the
 * critical path, for nothing.
 *
 * Why not a counter that every thread increments (what a team with more
 * threads than processing units still uses, below): the last thread to
 * arrive must first take the counter's cache line from the core that
 * incremented it before, then the line the others watch, and they must
 * fetch it back: three trips between cores, serialised, and with n threads
 * n increments queue on one line. A spinning team uses a dissemination
 * barrier: in round r thread i tells thread i + 2^r (mod n) that it has
 * arrived, on a flag only that thread reads, and waits for its own flag;
 * after ceil(log2 n) rounds every thread knows, through a chain of flags,
 * that all have arrived. At two threads that is one plain store and one
 * read a side. Measured on the 2-core VM, back to back: 70 -> 46 ns a
 * crossing while the two vCPUs share a cache, 320 -> 200 ns when the host
 * places them apart.
 *
 * Waiting: with spin > 0 (each thread has a processing unit of its own) a
 * waiter spins `spin` pause rounds and then keeps polling, yielding its PU
 * between polls to anything else that wants it; it never sleeps, so a
 * signal is one plain store. With spin = 0 (more threads than processing
 * units: run.oversubscribe) every waiter sleeps on a futex at once, so it
 * never holds a core another thread of the team needs, and the last to
 * arrive wakes them all with one system call: there a crossing costs
 * context switches, and the counter needs fewest. A barrier of one thread
 * returns at once. */
#ifndef PT_BARRIER_H
#define PT_BARRIER_H

typedef struct pt_barrier pt_barrier;

/* Rounds of spinning before a waiter starts yielding: 50 us at the 25 ns a
 * pause round takes on the Zen 4 VM. Far longer than a step's imbalance
 * (about 1 us), short next to a time slice. */
enum { PT_BARRIER_SPIN = 2000 };

/* A barrier for teams of up to max_threads; NULL when out of memory. */
pt_barrier *pt_barrier_create(int max_threads);
void pt_barrier_free(pt_barrier *b);

/* Readies b for a team of n threads (1 <= n <= max_threads), ids 0..n-1.
 * Not thread-safe: call before the team uses it, with no thread waiting. */
void pt_barrier_init(pt_barrier *b, int n, int spin);

/* Thread tid returns when all n threads have called it. Writes made by any
 * thread before its call are visible to every thread after the return. */
void pt_barrier_wait(pt_barrier *b, int tid);

#endif
