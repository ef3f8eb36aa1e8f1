/* test_barrier.c: the step barrier holds every thread until all have
 * arrived, and makes what each wrote before it visible to all after it:
 * spinning, sleeping (spin 0, as for an oversubscribed team), with more
 * threads than this machine has cores, team sizes that are not powers of
 * two (the dissemination rounds wrap around), a team smaller than the
 * barrier was made for, and one thread far behind. A barrier that lets no
 * one through hangs: the alarm in main turns that into a failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <omp.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "pt_barrier.h"
#include "pt_common.h"

enum { MAX_THREADS = 16, PHASES = 3000 };

/* Every thread writes its slot with the phase number, crosses the barrier,
 * then reads every slot: a thread let through early would read a slot
 * still holding the phase before. Slots alternate between two rows, so a
 * thread may start the next phase while others still read this one; one
 * that ran two phases ahead would overwrite a row still being read, and
 * that too shows as a wrong value. Returns the wrong reads. */
static long run_phases(pt_barrier *b, int n, int spin, int phases)
{
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
                pt_barrier_wait(b, tid);
                for (int i = 0; i < n; i++)
                    wrong += __atomic_load_n(&slot[p & 1][i], __ATOMIC_RELAXED) != p;
            }
        else
            wrong = 1000000; /* the runtime gave fewer threads: the test saw nothing */
    }
    return wrong;
}

static void test_spinning(void **state)
{
    (void)state;
    pt_barrier *b = pt_barrier_create(MAX_THREADS);
    assert_non_null(b);
    const int counts[] = {2, 3, 4, 5, 7};
    for (size_t c = 0; c < PT_ARRAY_LEN(counts); c++)
        assert_int_equal(run_phases(b, counts[c], PT_BARRIER_SPIN, PHASES), 0);
    pt_barrier_free(b);
}

/* spin 0: every waiter sleeps on the futex and must be woken, 16 threads
 * (and 11, not a power of two) on however few cores this machine has. */
static void test_sleeping_oversubscribed(void **state)
{
    (void)state;
    pt_barrier *b = pt_barrier_create(MAX_THREADS);
    assert_non_null(b);
    assert_int_equal(run_phases(b, MAX_THREADS, 0, PHASES / 3), 0);
    assert_int_equal(run_phases(b, 11, 0, PHASES / 3), 0);
    assert_int_equal(run_phases(b, 2, 0, PHASES), 0);
    pt_barrier_free(b);
}

/* Made for 16, used by teams of 2, then 16, then 3 (a runtime may grant
 * fewer threads than asked): each init readies it for the new team, with
 * no count left over from the last. */
static void test_team_sizes_change(void **state)
{
    (void)state;
    pt_barrier *b = pt_barrier_create(MAX_THREADS);
    assert_non_null(b);
    assert_int_equal(run_phases(b, 2, PT_BARRIER_SPIN, 101), 0);
    assert_int_equal(run_phases(b, MAX_THREADS, 0, 57), 0);
    assert_int_equal(run_phases(b, 3, PT_BARRIER_SPIN, 33), 0);
    pt_barrier_free(b);
}

/* Waiting longer than the spin budget: one thread sleeps 2 ms before
 * arriving, so the others go past spinning (to yielding, or with spin 0 to
 * sleeping), and none may leave before its write is seen. */
static void test_late_thread(void **state)
{
    (void)state;
    pt_barrier *b = pt_barrier_create(3);
    assert_non_null(b);
    for (int round = 0; round < 6; round++) {
        pt_barrier_init(b, 3, round < 3 ? 100 : 0);
        int late = -1, seen[3] = {0, 0, 0};
#pragma omp parallel num_threads(3)
        {
            const int tid = omp_get_thread_num();
            if (tid == round % 3) {
                nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
                __atomic_store_n(&late, round, __ATOMIC_RELAXED);
            }
            pt_barrier_wait(b, tid);
            seen[tid] = __atomic_load_n(&late, __ATOMIC_RELAXED);
        }
        for (int i = 0; i < 3; i++)
            assert_int_equal(seen[i], round);
    }
    pt_barrier_free(b);
}

/* A barrier of one thread returns at once, without a partner to wait for
 * (were it to wait, the alarm would end the test). */
static void test_one_thread(void **state)
{
    (void)state;
    pt_barrier *b = pt_barrier_create(1);
    assert_non_null(b);
    pt_barrier_init(b, 1, 0);
    for (int i = 0; i < 10; i++)
        pt_barrier_wait(b, 0);
    pt_barrier_free(b);
    assert_null(pt_barrier_create(0));
}

int main(void)
{
    alarm(120);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spinning),
        cmocka_unit_test(test_sleeping_oversubscribed),
        cmocka_unit_test(test_team_sizes_change),
        cmocka_unit_test(test_late_thread),
        cmocka_unit_test(test_one_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
