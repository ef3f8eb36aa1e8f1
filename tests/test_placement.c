/* test_placement.c: the thread -> PU maps of every policy on synthetic
 * topologies (independent of the machine running the tests), the error
 * paths, and binding on the real machine: threads land on their PU, a
 * restricted cpuset is respected, and an OpenMP runtime that pinned the
 * initial thread does not shrink the set of usable PUs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <hwloc.h>
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pt_placement.h"

extern char **environ;

/* 2 sockets x 2 NUMA nodes x 2 L3 x 8 cores x 2 SMT = 64 cores, 128 PUs. */
#define BIG "package:2 numa:2 l3:2 core:8 pu:2"
#define BIG_CORES 64
#define CORES_PER_L3 8

static pt_placement *make(pt_bind_kind policy, int n_threads, const char *topo)
{
    pt_placement *p = NULL;
    pt_err err = { { 0 } };
    int rc = pt_placement_create(&p, policy, n_threads, topo, &err);
    if (rc != 0)
        fail_msg("create(%s, %d threads): %s", topo ? topo : "this machine", n_threads, err.msg);
    assert_non_null(p);
    return p;
}

static void test_compact_big(void **state)
{
    (void)state;
    int n = 2 * BIG_CORES + 1;
    pt_placement *p = make(PT_BIND_COMPACT, n, BIG);
    assert_int_equal(pt_placement_n_pus(p), 2 * BIG_CORES);
    assert_int_equal(pt_placement_n_threads(p), n);
    assert_int_equal(pt_placement_policy(p), PT_BIND_COMPACT);
    /* One thread per core, in core order, before any SMT sibling. */
    for (int t = 0; t < BIG_CORES; t++) {
        const pt_binding *b = pt_placement_get(p, t);
        assert_int_equal(b->thread, t);
        assert_int_equal(b->core, t);
        assert_int_equal(b->pu, 2 * t);
        assert_int_equal(b->numa, t / 16);
        assert_int_equal(b->package, t / 32);
    }
    /* Thread n_cores is the SMT sibling of core 0, and so on. */
    for (int t = BIG_CORES; t < 2 * BIG_CORES; t++) {
        const pt_binding *b = pt_placement_get(p, t);
        assert_int_equal(b->core, t - BIG_CORES);
        assert_int_equal(b->pu, 2 * (t - BIG_CORES) + 1);
    }
    /* Oversubscription wraps around the policy order. */
    assert_int_equal(pt_placement_get(p, 2 * BIG_CORES)->pu, pt_placement_get(p, 0)->pu);
    assert_null(pt_placement_get(p, n));
    assert_null(pt_placement_get(p, -1));
    pt_placement_free(p);
}

static void test_scatter_big(void **state)
{
    (void)state;
    int n = 2 * BIG_CORES;
    pt_placement *p = make(PT_BIND_SCATTER, n, BIG);
    assert_int_equal(pt_placement_n_pus(p), n);

    int core_seen[BIG_CORES] = { 0 }, pu_seen[2 * BIG_CORES] = { 0 };
    int l3_seen[8] = { 0 }, numa_seen[4] = { 0 };
    for (int t = 0; t < n; t++) {
        const pt_binding *b = pt_placement_get(p, t);
        assert_in_range(b->pu, 0, n - 1);
        assert_int_equal(pu_seen[b->pu]++, 0);   /* every PU exactly once */
        if (t < BIG_CORES) {
            /* Consecutive threads alternate packages; no SMT sibling while a core is idle. */
            assert_int_equal(b->package, t % 2);
            assert_int_equal(b->pu % 2, 0);
            assert_int_equal(core_seen[b->core]++, 0);
        } else {
            /* Siblings come in the same core order as the first round. */
            assert_int_equal(b->pu % 2, 1);
            assert_int_equal(b->core, pt_placement_get(p, t - BIG_CORES)->core);
        }
        if (t < 4)
            assert_int_equal(numa_seen[b->numa]++, 0);   /* 4 NUMA nodes for 4 threads */
        if (t < 8)
            assert_int_equal(l3_seen[b->core / CORES_PER_L3]++, 0);   /* 8 distinct L3s */
    }
    pt_placement_free(p);
}

static void test_numa_only(void **state)
{
    (void)state;
    pt_placement *c = make(PT_BIND_COMPACT, 16, "numa:4 core:4 pu:1");
    pt_placement *s = make(PT_BIND_SCATTER, 16, "numa:4 core:4 pu:1");
    assert_int_equal(pt_placement_n_pus(c), 16);
    int seen[16] = { 0 };
    for (int t = 0; t < 16; t++) {
        const pt_binding *bc = pt_placement_get(c, t), *bs = pt_placement_get(s, t);
        assert_int_equal(bc->pu, t);
        assert_int_equal(bc->core, t);
        assert_int_equal(bc->numa, t / 4);
        assert_int_equal(bc->package, 0);   /* no package level: one socket */
        assert_int_equal(bs->numa, t % 4);   /* scatter cycles through the nodes */
        assert_int_equal(seen[bs->pu]++, 0);
    }
    pt_placement_free(c);
    pt_placement_free(s);
}

static void test_flat_smt(void **state)
{
    (void)state;
    const int want[8] = { 0, 2, 4, 6, 1, 3, 5, 7 };
    for (int pol = PT_BIND_COMPACT; pol <= PT_BIND_SCATTER; pol++) {
        pt_placement *p = make((pt_bind_kind)pol, 20, "core:4 pu:2");
        assert_int_equal(pt_placement_n_pus(p), 8);
        for (int t = 0; t < 20; t++) {
            const pt_binding *b = pt_placement_get(p, t);
            assert_int_equal(b->pu, want[t % 8]);   /* wraps past 8 PUs */
            assert_int_equal(b->core, want[t % 8] / 2);
            assert_int_equal(b->numa, 0);
            assert_int_equal(b->package, 0);
        }
        pt_placement_free(p);
    }
}

/* Without a Core level each PU counts as a core; scatter still spreads packages. */
static void test_no_core_level(void **state)
{
    (void)state;
    const int want_c[4] = { 0, 1, 2, 3 }, want_s[4] = { 0, 2, 1, 3 };
    pt_placement *c = make(PT_BIND_COMPACT, 4, "package:2 pu:2");
    pt_placement *s = make(PT_BIND_SCATTER, 4, "package:2 pu:2");
    for (int t = 0; t < 4; t++) {
        assert_int_equal(pt_placement_get(c, t)->pu, want_c[t]);
        assert_int_equal(pt_placement_get(c, t)->core, want_c[t]);
        assert_int_equal(pt_placement_get(s, t)->pu, want_s[t]);
        assert_int_equal(pt_placement_get(s, t)->package, want_s[t] / 2);
    }
    pt_placement_free(c);
    pt_placement_free(s);
}

static void test_none(void **state)
{
    (void)state;
    pt_err err = { { 0 } };
    pt_placement *p = make(PT_BIND_NONE, 3, "core:4 pu:2");
    assert_int_equal(pt_placement_n_pus(p), 8);
    assert_int_equal(pt_placement_policy(p), PT_BIND_NONE);
    for (int t = 0; t < 3; t++) {
        const pt_binding *b = pt_placement_get(p, t);
        assert_int_equal(b->thread, t);
        assert_int_equal(b->pu, -1);
        assert_int_equal(b->core, -1);
        assert_int_equal(b->numa, -1);
        assert_int_equal(b->package, -1);
        assert_int_equal(pt_placement_bind_self(p, t, &err), 0);
    }
    pt_placement_free(p);
}

static void test_xml_matches_synthetic(void **state)
{
    (void)state;
    hwloc_topology_t t;
    assert_int_equal(hwloc_topology_init(&t), 0);
    assert_int_equal(hwloc_topology_set_synthetic(t, BIG), 0);
    assert_int_equal(hwloc_topology_load(t), 0);
    char path[] = "/tmp/pt_topo_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(hwloc_topology_export_xml(t, path, 0), 0);
    hwloc_topology_destroy(t);

    pt_placement *x = make(PT_BIND_SCATTER, 128, path);
    pt_placement *s = make(PT_BIND_SCATTER, 128, BIG);
    for (int i = 0; i < 128; i++)
        assert_memory_equal(pt_placement_get(x, i), pt_placement_get(s, i), sizeof(pt_binding));
    pt_placement_free(x);
    pt_placement_free(s);
    unlink(path);
}

static void test_errors(void **state)
{
    (void)state;
    pt_placement *p = (pt_placement *)&p;   /* must be reset to NULL on failure */
    pt_err err = { { 0 } };

    assert_int_equal(pt_placement_create(&p, PT_BIND_COMPACT, 4, "package:2 cores:banana", &err),
                     -1);
    assert_null(p);
    assert_non_null(strstr(err.msg, "\"package:2 cores:banana\""));
    assert_non_null(strstr(err.msg, "package:2 core:32 pu:2"));

    err.msg[0] = 0;
    assert_int_equal(pt_placement_create(&p, PT_BIND_COMPACT, 0, "core:2 pu:1", &err), -1);
    assert_non_null(strstr(err.msg, "0 threads"));

    err.msg[0] = 0;
    assert_int_equal(pt_placement_create(&p, PT_BIND_COUNT, 2, "core:2 pu:1", &err), -1);
    assert_non_null(strstr(err.msg, "policy"));

    /* A directory is not an XML file, and not a synthetic description either. */
    err.msg[0] = 0;
    assert_int_equal(pt_placement_create(&p, PT_BIND_COMPACT, 2, "/tmp", &err), -1);
    assert_non_null(strstr(err.msg, "/tmp"));

    /* An XML file that is not hwloc XML. */
    char path[] = "/tmp/pt_badxml_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not xml\n", 8), 8);
    close(fd);
    err.msg[0] = 0;
    assert_int_equal(pt_placement_create(&p, PT_BIND_COMPACT, 2, path, &err), -1);
    assert_non_null(strstr(err.msg, path));
    unlink(path);

    /* Synthetic topologies describe some other machine: binding must refuse. */
    p = make(PT_BIND_COMPACT, 2, "core:2 pu:1");
    err.msg[0] = 0;
    assert_int_equal(pt_placement_bind_self(p, 1, &err), -1);
    assert_non_null(strstr(err.msg, "real topology"));
    assert_non_null(strstr(err.msg, "thread 1"));
    err.msg[0] = 0;
    assert_int_equal(pt_placement_bind_self(p, 2, &err), -1);
    assert_non_null(strstr(err.msg, "thread 2"));
    pt_placement_free(p);
}

static char *capture(void (*fn)(const pt_placement *, FILE *), const pt_placement *p)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    fn(p, f);
    fclose(f);
    return buf;
}

static void test_print_json(void **state)
{
    (void)state;
    pt_placement *p = make(PT_BIND_COMPACT, 3, "package:2 core:1 pu:2");
    char *json = capture(pt_placement_write_json, p);
    assert_string_equal(json, "[{\"thread\":0,\"pu\":0,\"core\":0,\"numa\":0,\"package\":0},"
                              "{\"thread\":1,\"pu\":2,\"core\":1,\"numa\":0,\"package\":1},"
                              "{\"thread\":2,\"pu\":1,\"core\":0,\"numa\":0,\"package\":0}]");
    free(json);
    char *text = capture(pt_placement_print, p);
    assert_non_null(strstr(text, "policy compact, 3 threads, 4 allowed PUs"));
    assert_non_null(strstr(text, "\nthread 1 -> PU 2 (core 1, NUMA 0, package 1)\n"));
    assert_non_null(strstr(text, "\nthread 2 -> PU 1 (core 0, NUMA 0, package 0)\n"));
    free(text);
    pt_placement_free(p);

    p = make(PT_BIND_NONE, 1, "core:2 pu:1");
    json = capture(pt_placement_write_json, p);
    assert_string_equal(json, "[{\"thread\":0,\"pu\":-1,\"core\":-1,\"numa\":-1,\"package\":-1}]");
    free(json);
    pt_placement_free(p);
}

/* Real machine: each OpenMP thread binds itself, concurrently, and the kernel
 * then reports exactly its PU as its mask and as the CPU it runs on. */
static void test_bind_real(void **state)
{
    (void)state;
    cpu_set_t saved;
    assert_int_equal(sched_getaffinity(0, sizeof saved, &saved), 0);
    pt_placement *p = make(PT_BIND_COMPACT, 2, NULL);

    int rc[2] = { -1, -1 }, cpu[2] = { -1, -1 }, n_in_mask[2] = { 0, 0 }, pu_in_mask[2] = { 0, 0 };
    int team = 0;
    pt_err errs[2] = { { { 0 } }, { { 0 } } };
#pragma omp parallel num_threads(2)
    {
        int t = omp_get_thread_num();
#pragma omp single
        team = omp_get_num_threads();
        rc[t] = pt_placement_bind_self(p, t, &errs[t]);
        cpu_set_t m;
        if (sched_getaffinity(0, sizeof m, &m) == 0) {
            n_in_mask[t] = CPU_COUNT(&m);
            pu_in_mask[t] = CPU_ISSET(pt_placement_get(p, t)->pu, &m);
        }
        cpu[t] = sched_getcpu();
    }
    /* Give the main thread back its inherited mask before asserting. */
    assert_int_equal(sched_setaffinity(0, sizeof saved, &saved), 0);

    assert_int_equal(team, 2);
    for (int t = 0; t < 2; t++) {
        if (rc[t] != 0)
            fail_msg("bind_self(%d): %s", t, errs[t].msg);
        assert_int_equal(n_in_mask[t], 1);
        assert_true(pu_in_mask[t]);
        assert_int_equal(cpu[t], pt_placement_get(p, t)->pu);
    }
    if (pt_placement_n_pus(p) >= 2)
        assert_int_not_equal(pt_placement_get(p, 0)->pu, pt_placement_get(p, 1)->pu);
    pt_placement_free(p);
}

static int first_cpu(const cpu_set_t *m)
{
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, m))
            return c;
    return -1;
}

/* Real machine, process restricted to one CPU (as `taskset -c 0` would):
 * every thread maps to that CPU. Run in a forked child, which has a single
 * thread, so that the restriction covers the whole process; in this process
 * the OpenMP pool threads of earlier tests keep their own masks. */
static void test_restricted_cpuset(void **state)
{
    (void)state;
    pt_placement *full = make(PT_BIND_COMPACT, 1, NULL);
    int n_full = pt_placement_n_pus(full);
    pt_placement_free(full);
    if (n_full < 2)
        skip();   /* one usable CPU: the restriction would change nothing */

    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* result: chosen cpu, then per policy: rc, n_pus, 4 PUs */
        int out[1 + 2 * 6];
        for (size_t i = 0; i < PT_ARRAY_LEN(out); i++)
            out[i] = -2;
        cpu_set_t saved, one;
        if (sched_getaffinity(0, sizeof saved, &saved) == 0) {
            out[0] = first_cpu(&saved);
            CPU_ZERO(&one);
            CPU_SET(out[0], &one);
            if (sched_setaffinity(0, sizeof one, &one) == 0) {
                for (int pol = 0; pol < 2; pol++) {
                    pt_placement *p = NULL;
                    pt_err err;
                    int *o = out + 1 + 6 * pol;
                    o[0] = pt_placement_create(&p, (pt_bind_kind)pol, 4, NULL, &err);
                    if (o[0] == 0) {
                        o[1] = pt_placement_n_pus(p);
                        for (int t = 0; t < 4; t++)
                            o[2 + t] = pt_placement_get(p, t)->pu;
                    }
                    pt_placement_free(p);
                }
                sched_setaffinity(0, sizeof saved, &saved);
            }
        }
        ssize_t w = write(fds[1], out, sizeof out);
        _exit(w == (ssize_t)sizeof out ? 0 : 1);
    }
    close(fds[1]);
    int out[1 + 2 * 6];
    ssize_t got = read(fds[0], out, sizeof out);
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(got, (ssize_t)sizeof out);
    assert_true(out[0] >= 0);
    for (int pol = 0; pol < 2; pol++) {
        int *o = out + 1 + 6 * pol;
        assert_int_equal(o[0], 0);
        assert_int_equal(o[1], 1);
        for (int t = 0; t < 4; t++)
            assert_int_equal(o[2 + t], out[0]);
    }
}

/* With OMP_PROC_BIND set, the OpenMP runtime pins the initial thread to its
 * first place (libgomp before main, LLVM libomp at the first parallel region);
 * the placement must still see every PU the launcher gave. Re-runs this binary
 * with the variables set, in child mode; its one-thread region leaves no other
 * thread whose mask could hide the shrinking. */
#define CHILD_FLAG "--child-omp-places"

static int child_omp_places(void)
{
    cpu_set_t m;
    pt_placement *p = NULL;
    pt_err err;
    int team = 0;
#pragma omp parallel num_threads(1)
    team = omp_get_num_threads();
    if (team != 1 || sched_getaffinity(0, sizeof m, &m) != 0 ||
        pt_placement_create(&p, PT_BIND_COMPACT, 1, NULL, &err) != 0)
        return 1;
    printf("%d %d\n", CPU_COUNT(&m), pt_placement_n_pus(p));
    pt_placement_free(p);
    return 0;
}

static void test_omp_proc_bind_keeps_pus(void **state)
{
    (void)state;
    pt_placement *full = make(PT_BIND_COMPACT, 1, NULL);
    int n_full = pt_placement_n_pus(full);
    pt_placement_free(full);
    if (n_full < 2)
        skip();

    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    assert_true(len > 0);
    exe[len] = 0;

    /* Environment: ours minus any OMP_PROC_BIND/OMP_PLACES, plus the two under test. */
    size_t n_env = 0;
    while (environ[n_env])
        n_env++;
    char **envp = calloc(n_env + 3, sizeof *envp);
    assert_non_null(envp);
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++)
        if (strncmp(environ[i], "OMP_PROC_BIND=", 14) && strncmp(environ[i], "OMP_PLACES=", 11))
            envp[k++] = environ[i];
    envp[k++] = "OMP_PROC_BIND=close";
    envp[k++] = "OMP_PLACES=cores";
    envp[k] = NULL;

    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        char *argv[] = { exe, CHILD_FLAG, NULL };
        execve(exe, argv, envp);
        _exit(127);
    }
    free(envp);
    close(fds[1]);
    char buf[64] = { 0 };
    ssize_t got = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(got > 0);
    int child_mask = -1, child_pus = -1;
    assert_int_equal(sscanf(buf, "%d %d", &child_mask, &child_pus), 2);
    /* The runtime did pin the initial thread (else this test proves nothing)... */
    assert_true(child_mask < n_full);
    /* ...and the placement still sees every PU. */
    assert_int_equal(child_pus, n_full);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], CHILD_FLAG) == 0)
        return child_omp_places();

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compact_big),
        cmocka_unit_test(test_scatter_big),
        cmocka_unit_test(test_numa_only),
        cmocka_unit_test(test_flat_smt),
        cmocka_unit_test(test_no_core_level),
        cmocka_unit_test(test_none),
        cmocka_unit_test(test_xml_matches_synthetic),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_print_json),
        cmocka_unit_test(test_bind_real),
        cmocka_unit_test(test_restricted_cpuset),
        cmocka_unit_test(test_omp_proc_bind_keeps_pus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
