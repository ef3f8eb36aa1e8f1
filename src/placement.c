/* placement.c: orders the allowed PUs of an hwloc topology for a policy
 * (compact: cores in order; scatter: packages, NUMA nodes, caches, then cores;
 * SMT siblings last in both), gives thread t order[t % n] and binds a thread to
 * it, and times a cache line's round trip between two threads' PUs. Does not
 * pick the thread count or warn on oversubscription. */
#include "pt_placement.h"

#include <errno.h>
#include <hwloc.h>
#include <math.h>
#include <omp.h>
#include <string.h>
#include <sys/stat.h>

struct pt_placement {
    hwloc_topology_t topo;
    int this_system;        /* topology is the machine we run on: binding is possible */
    pt_bind_kind policy;
    int n_threads;
    int n_pus;
    hwloc_bitmap_t allowed; /* PUs the process may use, fixed at create */
    pt_binding *map;        /* n_threads entries */
    hwloc_obj_t *pu_obj;    /* n_threads entries (NULL for policy none); read-only after create */
};

/* Policy names as the user writes them. config.c owns pt_bind_names; this copy
 * keeps the module linkable on its own (tests link only common.c). */
static const char *pt_policy_name(pt_bind_kind k)
{
    switch (k) {
    case PT_BIND_COMPACT: return "compact";
    case PT_BIND_SCATTER: return "scatter";
    case PT_BIND_NONE: return "none";
    default: return "?";
    }
}

/* The objects that stand for "a core": Core objects, or PUs that have no Core
 * above them (some VMs and synthetic descriptions have no Core level). */
static int pt_is_core_unit(hwloc_obj_t o)
{
    return o->type == HWLOC_OBJ_CORE || o->type == HWLOC_OBJ_PU;
}

/* Appends to out the core units below obj that own at least one allowed PU,
 * in compact order (concatenate the children's lists: logical order) or in
 * scatter order (interleave them, so consecutive entries sit under different
 * children at the highest level where they can). Returns the count, or -1 on
 * allocation failure. cap bounds out. */
static int pt_order_units(hwloc_obj_t obj, hwloc_const_bitmap_t allowed, int interleave,
                          hwloc_obj_t *out, int cap)
{
    if (!obj->cpuset || !hwloc_bitmap_intersects(obj->cpuset, allowed))
        return 0;
    if (pt_is_core_unit(obj)) {
        if (cap < 1)
            return -1;
        out[0] = obj;
        return 1;
    }
    unsigned k = obj->arity;
    if (k == 0)
        return 0;
    if (!interleave) {
        int n = 0;
        for (unsigned c = 0; c < k; c++) {
            int m = pt_order_units(obj->children[c], allowed, 0, out + n, cap - n);
            if (m < 0)
                return -1;
            n += m;
        }
        return n;
    }

    /* Each child's own scatter order goes into scratch; then take one entry
     * from each child in turn until all are exhausted. */
    hwloc_obj_t *scratch = pt_alloc((size_t)cap * sizeof *scratch);
    int *start = pt_alloc((size_t)k * sizeof *start);
    int *len = pt_alloc((size_t)k * sizeof *len);
    int n = 0, rc = 0;
    if (!scratch || !start || !len) {
        rc = -1;
        goto done;
    }
    for (unsigned c = 0; c < k; c++) {
        int m = pt_order_units(obj->children[c], allowed, 1, scratch + n, cap - n);
        if (m < 0) {
            rc = -1;
            goto done;
        }
        start[c] = n;
        len[c] = m;
        n += m;
    }
    int placed = 0;
    for (int round = 0; placed < n; round++)
        for (unsigned c = 0; c < k; c++)
            if (round < len[c])
                out[placed++] = scratch[start[c] + round];
    rc = n;
done:
    pt_free(scratch);
    pt_free(start);
    pt_free(len);
    return rc;
}

/* Policy order of the allowed PUs: units in unit order, first allowed PU of
 * every unit, then the second of every unit, and so on, so no SMT sibling is
 * used while a unit still has none. Fills order (cap entries), returns count. */
static int pt_order_pus(hwloc_topology_t topo, hwloc_const_bitmap_t allowed, int interleave,
                        hwloc_obj_t *order, int cap, pt_err *err)
{
    hwloc_obj_t *units = pt_alloc((size_t)cap * sizeof *units);
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    int n = -1;
    if (!units || !set) {
        pt_fail(err, "placement: out of memory ordering %d PUs", cap);
        goto done;
    }
    int n_units = pt_order_units(hwloc_get_root_obj(topo), allowed, interleave, units, cap);
    if (n_units < 0) {
        pt_fail(err, "placement: out of memory ordering %d PUs", cap);
        goto done;
    }
    n = 0;
    for (int round = 0;; round++) {
        int took = 0;
        for (int u = 0; u < n_units; u++) {
            hwloc_bitmap_and(set, units[u]->cpuset, allowed);
            hwloc_obj_t pu = NULL;
            for (int i = 0; i <= round; i++) {
                pu = hwloc_get_next_obj_inside_cpuset_by_type(topo, set, HWLOC_OBJ_PU, pu);
                if (!pu)
                    break;
            }
            if (pu && n < cap) {
                order[n++] = pu;
                took = 1;
            }
        }
        if (!took)
            break;
    }
done:
    pt_free(units);
    hwloc_bitmap_free(set);
    return n;
}

/* The NUMA node a PU allocates from by default: the first NUMA node attached
 * to its nearest ancestor that has memory (memory-side caches sit between). */
static int pt_numa_of(hwloc_topology_t topo, hwloc_obj_t pu)
{
    for (hwloc_obj_t a = pu->parent; a; a = a->parent) {
        for (hwloc_obj_t m = a->memory_first_child; m; m = m->memory_first_child)
            if (m->type == HWLOC_OBJ_NUMANODE)
                return (int)m->logical_index;
    }
    int os = pu->nodeset ? hwloc_bitmap_first(pu->nodeset) : -1;
    hwloc_obj_t node = os >= 0 ? hwloc_get_numanode_obj_by_os_index(topo, (unsigned)os) : NULL;
    return node ? (int)node->logical_index : 0;
}

static int pt_load_topology(hwloc_topology_t *out, const char *topology, pt_err *err)
{
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0)
        return pt_fail(err, "placement: cannot initialise hwloc: %s", strerror(errno));

    struct stat st;
    if (topology && stat(topology, &st) == 0 && S_ISREG(st.st_mode)) {
        if (hwloc_topology_set_xml(topo, topology) != 0) {
            hwloc_topology_destroy(topo);
            return pt_fail(err, "placement: cannot read topology XML '%s': %s", topology,
                           strerror(errno));
        }
    } else if (topology) {
        if (hwloc_topology_set_synthetic(topo, topology) != 0) {
            hwloc_topology_destroy(topo);
            return pt_fail(err,
                           "placement: topology \"%s\" is neither an existing hwloc XML file nor "
                           "a valid hwloc synthetic description (expected levels of type:count "
                           "from the widest down, e.g. \"package:2 core:32 pu:2\")",
                           topology);
        }
    }
    if (hwloc_topology_load(topo) != 0) {
        int e = errno;
        hwloc_topology_destroy(topo);
        if (topology)
            return pt_fail(err, "placement: cannot load topology '%s' (is it an hwloc XML "
                           "export, as written by `lstopo file.xml`?): %s", topology, strerror(e));
        return pt_fail(err, "placement: hwloc cannot discover this machine's topology: %s",
                       strerror(e));
    }
    *out = topo;
    return 0;
}

/* PUs this process may run on. The topology's allowed set covers cgroups; the
 * process binding covers taskset and MPI launchers. An OpenMP runtime with
 * OMP_PROC_BIND set has already pinned the initial thread to its first place
 * before main, which would shrink the process binding to one place, so the
 * union of the runtime's places (which it cut from the launcher's mask) is
 * added back. */
static int pt_allowed_pus(hwloc_topology_t topo, int this_system, hwloc_bitmap_t allowed,
                          pt_err *err)
{
    hwloc_bitmap_copy(allowed, hwloc_topology_get_allowed_cpuset(topo));
    hwloc_bitmap_and(allowed, allowed, hwloc_topology_get_topology_cpuset(topo));
    if (!this_system)
        return 0;

    hwloc_bitmap_t bound = hwloc_bitmap_alloc();
    if (!bound)
        return pt_fail(err, "placement: out of memory");
    if (hwloc_get_cpubind(topo, bound, HWLOC_CPUBIND_PROCESS) != 0 &&
        hwloc_get_cpubind(topo, bound, HWLOC_CPUBIND_THREAD) != 0) {
        int e = errno;
        hwloc_bitmap_free(bound);
        return pt_fail(err, "placement: cannot read the process CPU binding: %s", strerror(e));
    }
    int n_places = omp_get_num_places();
    for (int p = 0; p < n_places; p++) {
        int n_ids = omp_get_place_num_procs(p);
        if (n_ids <= 0)
            continue;
        int *ids = pt_alloc((size_t)n_ids * sizeof *ids);
        if (!ids) {
            hwloc_bitmap_free(bound);
            return pt_fail(err, "placement: out of memory");
        }
        omp_get_place_proc_ids(p, ids);
        for (int i = 0; i < n_ids; i++)
            if (ids[i] >= 0)
                hwloc_bitmap_set(bound, (unsigned)ids[i]);
        pt_free(ids);
    }
    hwloc_bitmap_and(allowed, allowed, bound);
    hwloc_bitmap_free(bound);
    return 0;
}

int pt_placement_create(pt_placement **out, pt_bind_kind policy, int n_threads,
                        const char *topology, pt_err *err)
{
    if (!out)
        return pt_fail(err, "placement: no output pointer");
    *out = NULL;
    if ((int)policy < 0 || policy >= PT_BIND_COUNT)
        return pt_fail(err, "placement: unknown binding policy %d (expected compact, scatter "
                       "or none)", (int)policy);
    if (n_threads < 1)
        return pt_fail(err, "placement: %d threads requested; need at least 1", n_threads);

    pt_placement *p = pt_alloc(sizeof *p);
    if (!p)
        return pt_fail(err, "placement: out of memory");
    p->policy = policy;
    p->n_threads = n_threads;
    if (pt_load_topology(&p->topo, topology, err) != 0) {
        pt_free(p);
        return -1;
    }
    /* An explicit description is never this machine, whatever hwloc's
     * HWLOC_THISSYSTEM says; NULL may still be an XML via HWLOC_XMLFILE. */
    p->this_system = topology == NULL && hwloc_topology_is_thissystem(p->topo);

    int n_all = hwloc_get_nbobjs_by_type(p->topo, HWLOC_OBJ_PU);
    hwloc_obj_t *order = NULL;
    p->allowed = hwloc_bitmap_alloc();
    p->map = pt_alloc((size_t)n_threads * sizeof *p->map);
    p->pu_obj = pt_alloc((size_t)n_threads * sizeof *p->pu_obj);
    order = pt_alloc((size_t)(n_all > 0 ? n_all : 1) * sizeof *order);
    if (!p->allowed || !p->map || !p->pu_obj || !order) {
        pt_fail(err, "placement: out of memory for %d threads", n_threads);
        goto fail;
    }
    if (pt_allowed_pus(p->topo, p->this_system, p->allowed, err) != 0)
        goto fail;
    p->n_pus = hwloc_bitmap_weight(p->allowed);
    if (p->n_pus <= 0) {
        char buf[256];
        hwloc_bitmap_list_snprintf(buf, sizeof buf, hwloc_topology_get_topology_cpuset(p->topo));
        pt_fail(err, "placement: no usable PU: the process binding does not intersect the "
                "topology's PUs (%s)", buf);
        goto fail;
    }

    if (policy == PT_BIND_NONE) {
        for (int t = 0; t < n_threads; t++)
            p->map[t] = (pt_binding){ .thread = t, .pu = -1, .core = -1, .numa = -1,
                                      .package = -1 };
        pt_free(order);
        *out = p;
        return 0;
    }

    int n = pt_order_pus(p->topo, p->allowed, policy == PT_BIND_SCATTER, order, n_all, err);
    if (n < 0)
        goto fail;
    if (n != p->n_pus) {
        /* Allowed bits outside every PU object cannot happen after the AND
         * with the topology cpuset; if it does, the map would be wrong. */
        pt_fail(err, "placement: ordered %d PUs but %d are allowed", n, p->n_pus);
        goto fail;
    }
    for (int t = 0; t < n_threads; t++) {
        hwloc_obj_t pu = order[t % n];
        hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(p->topo, HWLOC_OBJ_CORE, pu);
        hwloc_obj_t pkg = hwloc_get_ancestor_obj_by_type(p->topo, HWLOC_OBJ_PACKAGE, pu);
        p->pu_obj[t] = pu;
        p->map[t] = (pt_binding){
            .thread = t,
            .pu = (int)pu->os_index,
            .core = (int)(core ? core->logical_index : pu->logical_index),
            .numa = pt_numa_of(p->topo, pu),
            .package = pkg ? (int)pkg->logical_index : 0,
        };
    }
    pt_free(order);
    *out = p;
    return 0;

fail:
    pt_free(order);
    pt_placement_free(p);
    return -1;
}

void pt_placement_free(pt_placement *p)
{
    if (!p)
        return;
    if (p->allowed)
        hwloc_bitmap_free(p->allowed);
    if (p->topo)
        hwloc_topology_destroy(p->topo);
    pt_free(p->map);
    pt_free(p->pu_obj);
    pt_free(p);
}

int pt_placement_n_threads(const pt_placement *p)
{
    return p->n_threads;
}

int pt_placement_n_pus(const pt_placement *p)
{
    return p->n_pus;
}

pt_bind_kind pt_placement_policy(const pt_placement *p)
{
    return p->policy;
}

const pt_binding *pt_placement_get(const pt_placement *p, int thread)
{
    if (!p || thread < 0 || thread >= p->n_threads)
        return NULL;
    return &p->map[thread];
}

/* Reads p only, so several threads may call it at once: hwloc binding calls
 * on a loaded topology do not modify it. */
int pt_placement_bind_self(pt_placement *p, int thread, pt_err *err)
{
    if (!p)
        return pt_fail(err, "placement: bind_self on a NULL placement");
    if (thread < 0 || thread >= p->n_threads)
        return pt_fail(err, "placement: thread %d has no place (map has %d threads)", thread,
                       p->n_threads);
    if (p->policy == PT_BIND_NONE)
        return 0;
    if (!p->this_system)
        return pt_fail(err, "placement: cannot bind thread %d to PU %d: binding needs the real "
                       "topology of this machine, not a synthetic or XML one", thread,
                       p->map[thread].pu);
    if (hwloc_set_cpubind(p->topo, p->pu_obj[thread]->cpuset, HWLOC_CPUBIND_THREAD) != 0)
        return pt_fail(err, "placement: cannot bind thread %d to PU %d: %s", thread,
                       p->map[thread].pu, strerror(errno));
    return 0;
}

int pt_placement_unbind_self(pt_placement *p, pt_err *err)
{
    if (!p || p->policy == PT_BIND_NONE || !p->this_system)
        return 0;
    if (hwloc_set_cpubind(p->topo, p->allowed, HWLOC_CPUBIND_THREAD) != 0)
        return pt_fail(err, "placement: cannot restore the calling thread's CPU set: %s",
                       strerror(errno));
    return 0;
}

double pt_placement_round_trip_ns(pt_placement *p, int a, int b, int rounds)
{
    /* One counter on a line of its own: thread a makes it odd, thread b
     * even again, each spinning until it sees the other's move. */
    struct {
        _Alignas(64) unsigned value;
        char pad[64 - sizeof(unsigned)];
    } ball = {0};
    const unsigned warm = (unsigned)rounds / 10, trips = warm + (unsigned)rounds;
    double start = 0.0, seconds = NAN;
#pragma omp parallel num_threads(2)
    if (omp_get_num_threads() == 2) {
        const int me = omp_get_thread_num(); /* 0 plays thread a, 1 thread b */
        pt_err ignored;
        (void)pt_placement_bind_self(p, me == 0 ? a : b, &ignored);
#pragma omp barrier
        for (unsigned k = 0; k < trips; k++) {
            if (me == 0 && k == warm)
                start = omp_get_wtime();
            while (__atomic_load_n(&ball.value, __ATOMIC_ACQUIRE) != 2 * k + (unsigned)me)
                pt_cpu_relax();
            __atomic_store_n(&ball.value, 2 * k + (unsigned)me + 1, __ATOMIC_RELEASE);
        }
        if (me == 0) {
            while (__atomic_load_n(&ball.value, __ATOMIC_ACQUIRE) != 2 * trips)
                pt_cpu_relax();
            seconds = omp_get_wtime() - start;
        }
    }
    return seconds * 1e9 / rounds;
}

void pt_placement_print(const pt_placement *p, FILE *f)
{
    char allowed[256];
    hwloc_bitmap_list_snprintf(allowed, sizeof allowed, p->allowed);
    fprintf(f, "placement: policy %s, %d thread%s, %d allowed PU%s (%s)\n",
            pt_policy_name(p->policy), p->n_threads, p->n_threads == 1 ? "" : "s", p->n_pus,
            p->n_pus == 1 ? "" : "s", allowed);
    for (int t = 0; t < p->n_threads; t++) {
        const pt_binding *b = &p->map[t];
        if (b->pu < 0)
            fprintf(f, "thread %d -> unbound (the OpenMP runtime decides)\n", t);
        else
            fprintf(f, "thread %d -> PU %d (core %d, NUMA %d, package %d)\n", t, b->pu,
                    b->core, b->numa, b->package);
    }
}

void pt_placement_write_json(const pt_placement *p, FILE *f)
{
    fputc('[', f);
    for (int t = 0; t < p->n_threads; t++) {
        const pt_binding *b = &p->map[t];
        fprintf(f, "%s{\"thread\":%d,\"pu\":%d,\"core\":%d,\"numa\":%d,\"package\":%d}",
                t ? "," : "", b->thread, b->pu, b->core, b->numa, b->package);
    }
    fputc(']', f);
}
