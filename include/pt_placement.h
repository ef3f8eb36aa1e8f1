/* pt_placement.h: where each OpenMP thread runs. Builds a thread -> PU map
 * from the hwloc topology for a policy (compact, scatter, none), staying
 * inside the cpuset the process is allowed to use, and binds the calling
 * thread to its PU. Knows nothing of training; never assumes core == thread id. */
#ifndef PT_PLACEMENT_H
#define PT_PLACEMENT_H

#include <stdio.h>

#include "pt_common.h"
#include "pt_config.h"

typedef struct pt_placement pt_placement;

typedef struct pt_binding {
    int thread;
    int pu;        /* OS index of the processing unit (what taskset and /proc call a CPU); -1 = unbound */
    int core;      /* logical index of its core in the topology */
    int numa;      /* logical index of its NUMA node, 0 when the machine has one */
    int package;   /* logical index of its package (socket) */
} pt_binding;

/* Plan the map for n_threads threads. topology: NULL for this machine, else a
 * hwloc synthetic description ("package:2 core:32 pu:2") or the path of a
 * hwloc XML file, for tests that must not depend on the machine they run on.
 * More threads than allowed PUs wraps around the PUs in policy order. */
int pt_placement_create(pt_placement **out, pt_bind_kind policy, int n_threads,
                        const char *topology, pt_err *err);
void pt_placement_free(pt_placement *p);

int pt_placement_n_threads(const pt_placement *p);
int pt_placement_n_pus(const pt_placement *p);       /* PUs the process may use */
pt_bind_kind pt_placement_policy(const pt_placement *p);
const pt_binding *pt_placement_get(const pt_placement *p, int thread);

/* Bind the calling thread to thread's PU (no-op for policy none). Called by
 * each thread inside the parallel region. Thread-safe. */
int pt_placement_bind_self(pt_placement *p, int thread, pt_err *err);

/* Give the calling thread back the whole allowed set again. The OpenMP
 * main thread is thread 0 of every team, so after a bound region it stays
 * pinned to one PU; without this, a later placement in the same process
 * (scale, sweep) would see only that PU as allowed. */
int pt_placement_unbind_self(pt_placement *p, pt_err *err);

/* The mean time, in ns, for one cache line to go from the PU of thread a
 * of p to that of thread b and back, over `rounds` trips after rounds / 10
 * untimed ones: what each barrier crossing and each line that one thread
 * writes and another reads pay. A host that places two vCPUs far apart
 * raises it (on the 2-core VM: about 55 ns at times, 350 ns at others).
 * NAN when the OpenMP runtime gives fewer than two threads. A thread that
 * cannot be bound runs where the OS puts it; the calling thread stays
 * bound to a's PU, as after any bound region. */
double pt_placement_round_trip_ns(pt_placement *p, int a, int b, int rounds);

/* Human-readable map, one line per thread (`ptrain -v`). */
void pt_placement_print(const pt_placement *p, FILE *f);
/* JSON array of {"thread","pu","core","numa","package"} objects, for summary.json. */
void pt_placement_write_json(const pt_placement *p, FILE *f);

#endif
