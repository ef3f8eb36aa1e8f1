/* test_barrier.c: the step barrier holds every thread until all have
 * arrived, and makes what each wrote before it visible to all after it:
 * spinning, sleeping (spin 0, as for an oversubscribed team), with more
 * threads than this machine has cores, and with one thread far behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <omp.h>
#include <stdlib.h>
#include <time.h>

#include "pt_barrier.h"
#include "pt_common.h"

enum { MAX_THREADS = 16, PHASES = 3000 };

/* Every thread writes its slot with the phase number, crosses the barrier,
 * then reads every slot: a thread let through early would read a slot
 * still holding the phase before. Slots alternate between two rows, so a
 * thread may start the next phase while others still read this one; one
 * that ran two phases ahead would overwrite a row still being read, and
 * that too shows as a wrong value. Returns the wrong reads. */
static long run_phases(int n, int spin, int phases)
{
    pt_barrier *b = pt_alloc(sizeof *b);
    assert_non_null(b);
    pt_barrier_init(b, n, spin);
    static int slot[2][MAX_THREADS];
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < MAX_THREADS; i++)
            slot[r][i] = -1;
    long wrong = 0;
#pragma omp parallel num_threads(n) reduction(+ : wrong)
    {
        const int tid = omp_get_thread_num();
        if (omp_get_num_threads() == n)
            for (int p = 0; p < phases; p++) {
                __atomic_store_n(&slot[p & 1][tid], p, __ATOMIC_RELAXED);
                pt_barrier_wait(b);
                for (int i = 0; i < n; i++)
                    wrong += __atomic_load_n(&slot[p & 1][i], __ATOMIC_RELAXED) != p;
            }
        else
            wrong = 1000000; /* the runtime gave fewer threads: the test saw nothing */
    }
    pt_free(b);
    return wrong;
}

static void test_spinning(void **state)
{
    (void)state;
    const int counts[] = {2, 3, 7};
    for (size_t c = 0; c < PT_ARRAY_LEN(counts); c++)
        assert_int_equal(run_phases(counts[c], PT_BARRIER_SPIN, PHASES), 0);
}

/* spin 0: every waiter sleeps on the futex and must be woken, 16 threads
 * on however few cores this machine has. */
static void test_sleeping_oversubscribed(void **state)
{
    (void)state;
    assert_int_equal(run_phases(MAX_THREADS, 0, PHASES / 3), 0);
    assert_int_equal(run_phases(2, 0, PHASES), 0);
}

/* Spinning too long for the spin budget: one thread sleeps 2 ms before
 * arriving, so the others go from spinning to sleeping, and none may leave
 * before its write is seen. */
static void test_late_thread(void **state)
{
    (void)state;
    pt_barrier *b = pt_alloc(sizeof *b);
    assert_non_null(b);
    pt_barrier_init(b, 3, 100);
    for (int round = 0; round < 5; round++) {
        int late = -1, seen[3] = {0, 0, 0};
#pragma omp parallel num_threads(3)
        {
            const int tid = omp_get_thread_num();
            if (tid == round % 3) {
                nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
                __atomic_store_n(&late, round, __ATOMIC_RELAXED);
            }
            pt_barrier_wait(b);
            seen[tid] = __atomic_load_n(&late, __ATOMIC_RELAXED);
        }
        for (int i = 0; i < 3; i++)
            assert_int_equal(seen[i], round);
    }
    pt_free(b);
}

/* A barrier of one thread returns at once, without a partner. */
static void test_one_thread(void **state)
{
    (void)state;
    pt_barrier *b = pt_alloc(sizeof *b);
    assert_non_null(b);
    pt_barrier_init(b, 1, 0);
    for (int i = 0; i < 10; i++)
        pt_barrier_wait(b);
    assert_int_equal(b->arrived, 0);
    pt_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spinning),
        cmocka_unit_test(test_sleeping_oversubscribed),
        cmocka_unit_test(test_late_thread),
        cmocka_unit_test(test_one_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
