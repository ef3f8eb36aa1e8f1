/* cmd_scale.c: `ptrain scale`, the core-scaling experiment. The same fixed
 * amount of training (same initial weights, same samples, same steps) runs
 * at every thread count, after a warm-up, several times, with the thread
 * counts interleaved so that drift of a shared machine spreads over all of
 * them. It reports throughput, speedup, efficiency, where each step's time
 * goes, checks that every run ended with bit-identical weights and loss,
 * and fits a labelled model of the speedup beyond the cores measured.
 * Beside each run it measures the machine's own ceiling: the same training
 * as independent single-worker copies, one per PU, all at once; and how
 * long a cache line takes to go between the run's PUs and back, which the
 * copies cannot see and every step pays (its barriers, its tree nodes and
 * deltas). */
#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pt_cli.h"
#include "pt_experiments.h"
#include "pt_kernels.h"
#include "pt_optim.h"
#include "pt_placement.h"
#include "pt_results.h"
#include "pt_rng.h"
#include "pt_train.h"

enum { MAX_COUNTS = 64, MAX_REPEAT = 100 };

typedef struct scale_opts {
    int counts[MAX_COUNTS], n_counts;
    int repeat;
    long steps, warmup;
    int ceiling; /* measure the machine's ceiling beside each run (--no-ceiling: not) */
} scale_opts;

/* One timed run at one thread count. */
typedef struct sample {
    double samples_per_sec, step_us, partials_us, shards_us, grads_us, update_us, wait_us;
    double ceiling_sps; /* summed rate of independent copies on the same PUs (measure_copies) */
    double round_trip_ns; /* a cache line between the run's PUs and back, slowest pair (measure_round_trip) */
    double loss_sum;
    int workers;    /* threads that ran: the count asked for, capped at the PUs (pt_run_workers) */
    int identical;  /* weights and loss equal, bit for bit, to the first run's */
} sample;

static int parse_counts(const char *list, scale_opts *o)
{
    const char *p = list;
    o->n_counts = 0;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 4096 || (*end && *end != ',') || o->n_counts == MAX_COUNTS) {
            pt_cli_error("--threads '%s': expected a comma-separated list of 1..4096, at most %d "
                         "entries, e.g. --threads 1,2,4,8,16",
                         list, MAX_COUNTS);
            return -1;
        }
        o->counts[o->n_counts++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return o->n_counts > 0 ? 0 : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    if (n < 1) /* --repeat is at least 1; kept total for any caller */
        return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Median over the repeats of one double field of the samples at count c. */
static double field_median(sample (*runs)[MAX_COUNTS], int repeat, int c, size_t offset)
{
    double v[MAX_REPEAT];
    for (int r = 0; r < repeat; r++)
        memcpy(&v[r], (const char *)&runs[r][c] + offset, sizeof v[r]);
    return median(v, repeat);
}

/* Train `steps` steps at `threads` threads from the config's initial
 * weights, after `warmup` untimed steps from the same start. */
static int measure(pt_setup *su, const pt_config *cfg, pt_optim *opt, const int *order,
                   const scale_opts *o, int threads, sample *out, float *params_out, pt_err *err)
{
    pt_placement *place = NULL;
    if (pt_placement_create(&place, cfg->run.bind, threads, NULL, err))
        return -1;
    int workers = pt_run_workers(cfg, threads, pt_placement_n_pus(place));
    if (workers != threads) {
        pt_placement_free(place);
        place = NULL;
        if (pt_placement_create(&place, cfg->run.bind, workers, NULL, err))
            return -1;
    }
    pt_setup_reinit(su, cfg);
    pt_optim_reset(opt);
    pt_trainer *tr = pt_trainer_create(&su->model, opt, &su->train_set, &su->input, cfg->train.batch,
                                       cfg->train.shard, workers, place, err);
    if (!tr) {
        pt_placement_free(place);
        return -1;
    }
    const long batch = cfg->train.batch;
    pt_pass_stats st;
    pt_trainer_pass(tr, order, o->warmup * batch, &st);
    /* The warm-up brought caches, pages and threads up; the timed run
     * starts again from the same weights so every run does identical work. */
    pt_setup_reinit(su, cfg);
    pt_optim_reset(opt);
    int diverged = pt_trainer_pass(tr, order + o->warmup * batch, o->steps * batch, &st);
    pt_trainer_free(tr);
    pt_placement_free(place);
    if (diverged)
        return pt_fail(err, "training diverged during the timed steps; lower train.lr");
    double steps = (double)st.steps;
    *out = (sample){
        .samples_per_sec = (double)st.samples / st.seconds,
        .step_us = 1e6 * st.seconds / steps,
        .partials_us = 1e6 * st.partials / steps,
        .shards_us = 1e6 * st.shards / steps,
        .grads_us = 1e6 * st.grads / steps,
        .update_us = 1e6 * st.update / steps,
        .wait_us = 1e6 * st.wait / steps,
        .loss_sum = st.loss_sum,
        .workers = workers,
    };
    memcpy(params_out, su->model.params, su->model.n_params * sizeof(float));
    return 0;
}

/* The machine's ceiling at `workers` workers: as many independent copies of
 * the timed run, each a one-worker trainer with its own model and optimiser,
 * each bound to the PU that worker would use, started together. They share
 * nothing but the read-only data set, so their summed rate against workers
 * times the one-worker rate is what the machine itself gives to parallel
 * work: core clocks that drop as more cores are busy, shared cache and
 * memory, neighbours on a shared host. What ptrain loses beyond that is its
 * own (barriers, cache lines crossing cores, imbalance).
 * Returns 0 with *ceiling_sps set, 1 when the runtime gives too few threads
 * to run the copies at once (nothing measured), -1 on failure (err). */
static int measure_copies(pt_setup *su, const pt_config *cfg, const int *order, const scale_opts *o,
                          int workers, double *ceiling_sps, pt_err *err)
{
    pt_placement *place = NULL;
    if (pt_placement_create(&place, cfg->run.bind, workers, NULL, err))
        return -1;
    pt_setup_reinit(su, cfg);
    const pt_model *init = &su->model;
    int sizes[PT_MAX_LAYERS + 1];
    sizes[0] = init->layer[0].in;
    for (int l = 0; l < init->n_layers; l++)
        sizes[l + 1] = init->layer[l].out;
    const long batch = cfg->train.batch;
    double sum = 0.0;
    int failed = 0, short_team = 0;
#pragma omp parallel num_threads(workers) reduction(+ : sum, failed) reduction(| : short_team)
    {
        pt_err my = {{0}};
        pt_model m = {0};
        pt_optim opt = {0};
        pt_trainer *tr = NULL;
        /* Binding can fail only where it fails for the real run too; the
         * copy then runs where the OS puts it, as that run's thread would. */
        if (place)
            (void)pt_placement_bind_self(place, omp_get_thread_num(), &my);
        /* Fewer threads than copies (OMP_THREAD_LIMIT, OMP_DYNAMIC): they
         * would not run side by side, so there is no ceiling to measure. */
        const int team_short = omp_get_num_threads() < workers;
        short_team |= team_short;
        int ok = !team_short && pt_model_create(&m, init->n_layers, sizes, init->act, init->out, &my) == 0;
        if (ok) {
            memcpy(m.params, init->params, init->n_params * sizeof *m.params);
            ok = pt_optim_create(&opt, cfg, m.n_params, o->steps, &my) == 0;
        }
        if (ok)
            ok = (tr = pt_trainer_create(&m, &opt, &su->train_set, &su->input, cfg->train.batch,
                                         cfg->train.shard, 1, NULL, &my)) != NULL;
        pt_pass_stats st = {0};
        if (ok)
            pt_trainer_pass(tr, order, o->warmup * batch, &st);
        /* Every copy (and every thread, even one whose copy failed) meets
         * here, so the timed passes start together. */
#pragma omp barrier
        if (ok && pt_trainer_pass(tr, order + o->warmup * batch, o->steps * batch, &st) == 0)
            sum += (double)st.samples / st.seconds;
        else
            failed++;
        if (!ok && !team_short) {
#pragma omp critical(pt_scale_copies)
            if (!err->msg[0])
                *err = my;
        }
        pt_trainer_free(tr);
        pt_optim_free(&opt);
        pt_model_free(&m);
    }
    pt_placement_free(place);
    if (short_team) /* OMP_THREAD_LIMIT or OMP_DYNAMIC gave fewer threads */
        return 1;
    if (failed) {
        if (!err->msg[0])
            pt_fail(err, "a copy for the machine's ceiling diverged; lower train.lr");
        return -1;
    }
    *ceiling_sps = sum;
    return 0;
}

/* Timed round trips of a cache line per pair of PUs. */
enum { ROUND_TRIPS = 18000 };

/* The round trip of a cache line between thread 0's PU and each other
 * thread's, for a `workers` team bound as the run's (pt_placement.h):
 * every step pays such trips at its barriers and for every tree node and
 * delta row read from another core, and a host that places two vCPUs far
 * apart slows the run, not the copies of measure_copies. Sets *slowest_ns
 * to the slowest pair's (NAN if the runtime gave too few threads). Returns
 * -1 on failure (err). */
static int measure_round_trip(const pt_config *cfg, int workers, double *slowest_ns, pt_err *err)
{
    pt_placement *place = NULL;
    if (pt_placement_create(&place, cfg->run.bind, workers, NULL, err))
        return -1;
    double slowest = 0.0;
    for (int i = 1; i < workers; i++) {
        const double trip = pt_placement_round_trip_ns(place, 0, i, ROUND_TRIPS);
        if (isnan(trip)) {
            slowest = NAN;
            break;
        }
        slowest = fmax(slowest, trip);
    }
    pt_placement_free(place);
    *slowest_ns = slowest;
    return 0;
}

/* The largest share of `total` split into `pieces` equal pieces dealt whole
 * to `cores` cores. */
static double largest_share(double total, int pieces, int cores)
{
    return total * (double)((pieces + cores - 1) / cores) / (double)pieces;
}

static int write_outputs(const char *dir, const pt_config *cfg, const scale_opts *o,
                         sample (*runs)[MAX_COUNTS], int shards, int leaves, int n_pus,
                         int all_identical, pt_err *err)
{
    char path[PT_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/config.ini", dir);
    char tmp[PT_PATH_MAX + 64];
    FILE *f = pt_atomic_open(path, tmp, sizeof tmp, err);
    if (!f)
        return -1;
    pt_config_write(cfg, f);
    if (pt_atomic_commit(f, tmp, path, err))
        return -1;

    /* Every timed run, for anyone who wants other statistics. */
    snprintf(path, sizeof path, "%s/scaling_runs.csv", dir);
    if (!(f = pt_atomic_open(path, tmp, sizeof tmp, err)))
        return -1;
    fprintf(f, "repeat,threads,workers,samples_per_sec,step_us,partials_us,shards_us,grads_us,update_us,wait_us,loss_sum,"
               "ceiling_samples_per_sec,round_trip_ns,identical\n");
    for (int r = 0; r < o->repeat; r++)
        for (int c = 0; c < o->n_counts; c++) {
            const sample *s = &runs[r][c];
            fprintf(f, "%d,%d,%d,%.1f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.17g,%.1f,%.1f,%d\n", r + 1, o->counts[c],
                    s->workers, s->samples_per_sec, s->step_us, s->partials_us, s->shards_us, s->grads_us,
                    s->update_us, s->wait_us, s->loss_sum, s->ceiling_sps, s->round_trip_ns, s->identical);
        }
    if (pt_atomic_commit(f, tmp, path, err))
        return -1;

    /* Medians per thread count; speedup against the first count in the list. */
    double med_sps[MAX_COUNTS], med_ceiling[MAX_COUNTS], med_trip[MAX_COUNTS], v[MAX_REPEAT];
    snprintf(path, sizeof path, "%s/scaling.csv", dir);
    if (!(f = pt_atomic_open(path, tmp, sizeof tmp, err)))
        return -1;
    fprintf(f, "threads,workers,runs,samples_per_sec,samples_per_sec_min,samples_per_sec_max,step_us,"
               "step_us_min,step_us_max,speedup,efficiency,partials_us,shards_us,grads_us,update_us,wait_us,"
               "ceiling_samples_per_sec,ceiling_efficiency,share_of_ceiling,round_trip_ns,identical\n");
    for (int c = 0; c < o->n_counts; c++) {
        double sps_min = INFINITY, sps_max = 0, st_min = INFINITY, st_max = 0;
        int identical = 1;
        for (int r = 0; r < o->repeat; r++) {
            const sample *s = &runs[r][c];
            v[r] = s->samples_per_sec;
            sps_min = fmin(sps_min, s->samples_per_sec);
            sps_max = fmax(sps_max, s->samples_per_sec);
            st_min = fmin(st_min, s->step_us);
            st_max = fmax(st_max, s->step_us);
            identical &= s->identical;
        }
        med_sps[c] = median(v, o->repeat);
        double step = field_median(runs, o->repeat, c, offsetof(sample, step_us));
        double partials_us = field_median(runs, o->repeat, c, offsetof(sample, partials_us));
        double shards_us = field_median(runs, o->repeat, c, offsetof(sample, shards_us));
        double grads_us = field_median(runs, o->repeat, c, offsetof(sample, grads_us));
        double update_us = field_median(runs, o->repeat, c, offsetof(sample, update_us));
        double wait_us = field_median(runs, o->repeat, c, offsetof(sample, wait_us));
        med_ceiling[c] = field_median(runs, o->repeat, c, offsetof(sample, ceiling_sps));
        med_trip[c] = field_median(runs, o->repeat, c, offsetof(sample, round_trip_ns));
        double speedup = med_sps[c] / med_sps[0];
        double eff = speedup * o->counts[0] / o->counts[c];
        double ceiling_eff = med_ceiling[c] / med_sps[0] * o->counts[0] / o->counts[c];
        fprintf(f, "%d,%d,%d,%.1f,%.1f,%.1f,%.3f,%.3f,%.3f,%.4f,%.4f,%.3f,%.3f,%.3f,%.3f,%.3f,%.1f,%.4f,%.4f,%.1f,%s\n",
                o->counts[c], runs[0][c].workers, o->repeat, med_sps[c], sps_min, sps_max, step, st_min,
                st_max, speedup, eff, partials_us, shards_us, grads_us, update_us, wait_us, med_ceiling[c],
                ceiling_eff, med_sps[c] / med_ceiling[c], med_trip[c], identical ? "yes" : "no");
    }
    if (pt_atomic_commit(f, tmp, path, err))
        return -1;

    /* The model: the step's parallel phases, as measured at 1 thread,
     * divided among the cores each can use (the shard phase at most one
     * core per shard; the per-worker phases, first-layer partials,
     * gradients and update, at most one core per first-layer leaf), plus a
     * per-step overhead (barriers, cache lines crossing cores) taken from
     * the largest measured count that still has a core per thread and held
     * constant. */
    int best = -1;
    for (int c = 0; c < o->n_counts; c++)
        if (o->counts[c] <= n_pus && o->counts[c] > o->counts[0] &&
            (best < 0 || o->counts[c] > o->counts[best]))
            best = c;
    snprintf(path, sizeof path, "%s/scaling.md", dir);
    if (!(f = pt_atomic_open(path, tmp, sizeof tmp, err)))
        return -1;
    fprintf(f, "# Core scaling: %s\n\nbatch %d in %d shards of %d; %ld timed steps after %ld warm-up "
               "steps; %d repeats, thread counts interleaved; bind %s; %d allowed PUs.\n"
               "Weights and loss bit-identical across every run: **%s**.\n\n",
            cfg->source, cfg->train.batch, shards, cfg->train.shard, o->steps, o->warmup, o->repeat,
            pt_bind_names[cfg->run.bind], n_pus, all_identical ? "yes" : "NO");
    fprintf(f, "| threads | workers | samples/s (median) | speedup | efficiency | machine ceiling | share of "
               "ceiling | round trip |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int c = 0; c < o->n_counts; c++) {
        char ceiling[32] = "-", share[32] = "-", trip[32] = "-"; /* not measured (--no-ceiling, 1 thread) */
        if (!isnan(med_trip[c]))
            snprintf(trip, sizeof trip, "%.0f ns", med_trip[c]);
        if (!isnan(med_ceiling[c])) {
            snprintf(ceiling, sizeof ceiling, "%.0f %%", 100 * med_ceiling[c] / med_sps[0] * o->counts[0] / o->counts[c]);
            snprintf(share, sizeof share, "%.0f %%", 100 * med_sps[c] / med_ceiling[c]);
        }
        fprintf(f, "| %d | %d | %.0f | %.2f | %.0f %% | %s | %s | %s |\n", o->counts[c], runs[0][c].workers,
                med_sps[c], med_sps[c] / med_sps[0], 100 * med_sps[c] / med_sps[0] * o->counts[0] / o->counts[c],
                ceiling, share, trip);
    }
    fprintf(f, "\nMachine ceiling: the same training as independent one-worker copies, one per PU of the "
               "run, started together; their summed rate as an efficiency. It is what the machine gives "
               "parallel work (clocks that drop with more busy cores, shared caches and memory, neighbours "
               "on a shared host) before any cost of ptrain's own; share of ceiling is the run's rate over "
               "the copies' rate.%s\n\nRound trip: a cache line from thread 0's PU to another thread's and "
               "back, the slowest pair, measured after each run. The copies share nothing and do not see it; "
               "every step pays it at its barriers and for each partial sum and delta read from another core. "
               "A host that moves vCPUs apart raises it (on the 2-core VM: about 55 ns at times, 350 ns at "
               "others), and the run's efficiency falls with it.\n",
            o->ceiling ? "" : " Not measured in this run (--no-ceiling).");
    if (best >= 0 && o->counts[0] == 1) {
        const double step1 = field_median(runs, o->repeat, 0, offsetof(sample, step_us));
        const double shards1 = field_median(runs, o->repeat, 0, offsetof(sample, shards_us));
        const double rest1 = field_median(runs, o->repeat, 0, offsetof(sample, partials_us)) +
                             field_median(runs, o->repeat, 0, offsetof(sample, grads_us)) +
                             field_median(runs, o->repeat, 0, offsetof(sample, update_us));
        const int p = o->counts[best];
        const double stepp = field_median(runs, o->repeat, best, offsetof(sample, step_us));
        double over = stepp - (largest_share(shards1, shards, p) + largest_share(rest1, leaves, p));
        over = over > 0 ? over : 0;
        fprintf(f, "\n## Model (not a measurement)\n\nstep(p) = shards x ceil(%d / p) / %d + (partials + "
                   "gradients + update) x ceil(%d / p) / %d + overhead: the shard phase comes in %d equal "
                   "shards and the per-worker parts in %d equal first-layer leaves, each dealt whole to a core, "
                   "and the most loaded core sets the pace. shards = %.1f us and partials + gradients + update = "
                   "%.1f us measured at 1 thread; overhead = %.1f us per step, what the measured step at %d "
                   "threads (%.1f us) has beyond its share of that work, held constant (optimistic: barriers "
                   "cost more with more cores, and the small layers and tree nodes are not counted).\n\n"
                   "| cores | modelled step (us) | modelled speedup |\n|---:|---:|---:|\n",
                shards, shards, leaves, leaves, shards, leaves, shards1, rest1, over, p, stepp);
        for (int cores = 16; cores <= 64; cores *= 2) {
            double t = largest_share(shards1, shards, cores) + largest_share(rest1, leaves, cores) + over;
            fprintf(f, "| %d | %.1f | %.1f |\n", cores, t, step1 / t);
        }
    }
    if (pt_atomic_commit(f, tmp, path, err))
        return -1;

    /* The ceiling's lines, when it was measured. */
    char speedup_ceiling[160] = "", eff_ceiling[160] = "";
    if (o->ceiling) {
        snprintf(speedup_ceiling, sizeof speedup_ceiling,
                 "'' using 1:($18*$1/%d) with linespoints dt 3 title 'machine ceiling (independent copies)', ",
                 o->counts[0]);
        snprintf(eff_ceiling, sizeof eff_ceiling,
                 "'' using 1:($18*100) with linespoints dt 3 title 'machine ceiling (independent copies)', ");
    }
    snprintf(path, sizeof path, "%s/scaling.gp", dir);
    if (!(f = pt_atomic_open(path, tmp, sizeof tmp, err)))
        return -1;
    fprintf(f, "# Draws scaling.png from scaling.csv: run `gnuplot scaling.gp` in this folder.\n"
               "set datafile separator ','\nset key autotitle columnhead\n"
               "set terminal pngcairo size 1000,480 font ',10'\nset output 'scaling.png.tmp'\n"
               "set multiplot layout 1,2 title 'Core scaling (batch %d, %d shards)'\n"
               "set grid\nset xlabel 'threads'\nset key top left\n"
               "set ylabel 'speedup'\n"
               "plot 'scaling.csv' using 1:10 with linespoints lw 2 title 'measured', %s"
               "x/%d with lines dt 2 title 'ideal'\n"
               "set ylabel 'parallel efficiency (%%)'\nset yrange [0:*]\n"
               "plot 'scaling.csv' using 1:($11*100) with linespoints lw 2 title 'measured', %s"
               "100 with lines dt 2 title 'ideal'\n"
               "unset multiplot\nset output\nsystem('mv scaling.png.tmp scaling.png')\n",
            cfg->train.batch, shards, speedup_ceiling, o->counts[0], eff_ceiling);
    if (pt_atomic_commit(f, tmp, path, err))
        return -1;
    return 0;
}

int pt_cmd_scale(const pt_cli *cli, int argc, char **argv)
{
    scale_opts o = {.repeat = 5, .steps = 2000, .warmup = 200, .ceiling = 1};
    o.counts[0] = 1;
    o.counts[1] = 2;
    o.n_counts = 2;
    const char *config = NULL, *name = NULL;
    char *overrides[256];
    int n_overrides = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        long v;
        int has_value = i + 1 < argc;
        if (!strcmp(a, "--threads") && has_value) {
            if (parse_counts(argv[++i], &o))
                return PT_EXIT_USAGE;
        } else if (!strcmp(a, "--repeat") && has_value) {
            if (pt_cli_parse_long(a, argv[++i], 1, MAX_REPEAT, &v))
                return PT_EXIT_USAGE;
            o.repeat = (int)v;
        } else if (!strcmp(a, "--steps") && has_value) {
            if (pt_cli_parse_long(a, argv[++i], 1, 10000000, &o.steps))
                return PT_EXIT_USAGE;
        } else if (!strcmp(a, "--warmup") && has_value) {
            if (pt_cli_parse_long(a, argv[++i], 0, 10000000, &o.warmup))
                return PT_EXIT_USAGE;
        } else if (!strcmp(a, "--name") && has_value) {
            name = argv[++i];
        } else if (!strcmp(a, "--no-ceiling")) {
            o.ceiling = 0;
        } else if (a[0] == '-') {
            pt_cli_error("scale: unknown or incomplete option '%s' (options: --threads LIST, "
                         "--repeat N, --steps N, --warmup N, --name NAME, --no-ceiling)", a);
            return PT_EXIT_USAGE;
        } else if (!config) {
            config = a;
        } else if (n_overrides < (int)PT_ARRAY_LEN(overrides)) {
            overrides[n_overrides++] = argv[i];
        }
    }
    if (!config) {
        pt_cli_error("scale needs a config: ptrain scale CONFIG --threads 1,2,4 [--repeat N] "
                     "[section.key=value ...]");
        return PT_EXIT_USAGE;
    }
    pt_config cfg;
    if (pt_cli_load_config(&cfg, config, n_overrides, overrides))
        return PT_EXIT_USAGE;
    pt_err err = {{0}};
    if (name && pt_config_set(&cfg, "run", "name", name, "--name", &err)) {
        pt_cli_error("%s", err.msg);
        return PT_EXIT_USAGE;
    }
    pt_setup su;
    if (pt_setup_load(&su, &cfg, &err)) {
        pt_cli_error("%s", err.msg);
        return PT_EXIT_INPUT;
    }
    const long batch = cfg.train.batch, need = (o.warmup + o.steps) * batch;
    int *order = malloc((size_t)need * sizeof *order);
    float *first = malloc(su.model.n_params * sizeof *first);
    float *params = malloc(su.model.n_params * sizeof *params);
    sample(*runs)[MAX_COUNTS] = calloc((size_t)o.repeat, sizeof *runs);
    pt_optim opt = {0};
    int rc = PT_EXIT_INPUT, written = 0;
    char dir[PT_PATH_MAX] = ""; /* set once the folder is claimed */
    if (!order || !first || !params || !runs) {
        pt_cli_error("out of memory");
        goto out;
    }
    /* The samples: seeded shuffles of the training split, back to back. */
    pt_rng rng;
    pt_rng_seed(&rng, cfg.train.seed, PT_STREAM_SHUFFLE);
    for (long done = 0; done < need; done += su.n_train) {
        long take = need - done < su.n_train ? need - done : su.n_train;
        int *perm = malloc((size_t)su.n_train * sizeof *perm);
        if (!perm) {
            pt_cli_error("out of memory");
            goto out;
        }
        memcpy(perm, su.train_idx, (size_t)su.n_train * sizeof *perm);
        pt_rng_shuffle(&rng, perm, (int)su.n_train);
        memcpy(order + done, perm, (size_t)take * sizeof *order);
        free(perm);
    }
    if (pt_optim_create(&opt, &cfg, su.model.n_params, o.steps, &err)) {
        pt_cli_error("%s", err.msg);
        goto out;
    }
    int shard = cfg.train.shard < cfg.train.batch ? cfg.train.shard : cfg.train.batch;
    int shards = (cfg.train.batch + shard - 1) / shard;
    pt_placement *probe = NULL;
    if (pt_placement_create(&probe, cfg.run.bind, 1, NULL, &err)) {
        pt_cli_error("%s", err.msg);
        goto out;
    }
    int n_pus = pt_placement_n_pus(probe);
    pt_placement_free(probe);
    if (!cli->quiet)
        printf("scale: %s, batch %d (%d shards), %ld steps after %ld warm-up, %d repeats, "
               "bind %s, %d allowed PUs\n",
               config, cfg.train.batch, shards, o.steps, o.warmup, o.repeat,
               pt_bind_names[cfg.run.bind], n_pus);

    /* The folder is claimed before minutes of measurement, so that a taken
     * or unwritable place fails now; a run that fails leaves no folder. */
    if (pt_results_new_folder(&cfg, "scale", dir, sizeof dir, &err)) {
        pt_cli_error("%s", err.msg);
        goto out;
    }
    int all_identical = 1, warned_short = 0;
    for (int r = 0; r < o.repeat; r++) {
        for (int c = 0; c < o.n_counts; c++) {
            sample *s = &runs[r][c];
            if (measure(&su, &cfg, &opt, order, &o, o.counts[c], s, params, &err)) {
                pt_cli_error("%s", err.msg);
                rc = PT_EXIT_FAILED;
                goto out;
            }
            /* One worker is its own ceiling; without the copies it is unknown. */
            s->ceiling_sps = s->workers == 1 ? s->samples_per_sec : NAN;
            int got = s->workers > 1 && o.ceiling
                             ? measure_copies(&su, &cfg, order, &o, s->workers, &s->ceiling_sps, &err)
                             : 0;
            if (got < 0) {
                pt_cli_error("%s", err.msg);
                rc = PT_EXIT_FAILED;
                goto out;
            }
            /* Threads that share a PU would measure context switches. */
            s->round_trip_ns = NAN;
            if (s->workers > 1 && s->workers <= n_pus &&
                measure_round_trip(&cfg, s->workers, &s->round_trip_ns, &err)) {
                pt_cli_error("%s", err.msg);
                rc = PT_EXIT_FAILED;
                goto out;
            }
            if (got > 0 && !warned_short) {
                pt_cli_error("warning: the OpenMP runtime gave fewer threads than the %d copies of the "
                             "machine's ceiling need (OMP_THREAD_LIMIT or OMP_DYNAMIC?); the ceiling is not "
                             "measured", s->workers);
                warned_short = 1;
            }
            if (r == 0 && c == 0)
                memcpy(first, params, su.model.n_params * sizeof *first);
            s->identical = memcmp(first, params, su.model.n_params * sizeof *first) == 0 &&
                           memcmp(&s->loss_sum, &runs[0][0].loss_sum, sizeof s->loss_sum) == 0;
            all_identical &= s->identical;
            if (!cli->quiet) {
                char copies[48] = "";
                if (s->workers > 1 && !isnan(s->ceiling_sps))
                    snprintf(copies, sizeof copies, "  copies %9.0f samples/s", s->ceiling_sps);
                char trip[40] = "";
                if (!isnan(s->round_trip_ns))
                    snprintf(trip, sizeof trip, "  round trip %.0f ns", s->round_trip_ns);
                printf("  repeat %d/%d  threads %3d (%d workers)  %9.0f samples/s  step %6.1f us (partials %.1f, "
                       "shards %.1f, gradients %.1f, update %.1f, wait %.1f)%s%s%s\n",
                       r + 1, o.repeat, o.counts[c], s->workers, s->samples_per_sec, s->step_us, s->partials_us,
                       s->shards_us, s->grads_us, s->update_us, s->wait_us, copies, trip,
                       s->identical ? "" : "  RESULT DIFFERS");
                fflush(stdout);
            }
        }
    }

    if (write_outputs(dir, &cfg, &o, runs, shards, pt_leaf_count(su.model.layer[0].in), n_pus, all_identical, &err)) {
        pt_cli_error("%s", err.msg);
        goto out;
    }
    written = 1;
    int drawn = cfg.run.plots ? pt_gnuplot_run(dir, "scaling.gp", &err) : 0;
    if (drawn < 0)
        pt_cli_error("warning: scaling.png not drawn: %s", err.msg);
    else if (drawn == 1)
        pt_cli_error("warning: gnuplot is not installed; run `gnuplot scaling.gp` in %s later", dir);
    if (!cli->quiet) {
        char md[PT_PATH_MAX + 16];
        snprintf(md, sizeof md, "%s/scaling.md", dir);
        FILE *f = fopen(md, "r");
        char line[512];
        while (f && fgets(line, sizeof line, f))
            fputs(line, stdout);
        if (f)
            fclose(f);
        printf("\nresults: %s/ (scaling.csv, scaling_runs.csv, scaling.md, scaling.png)\n", dir);
    }
    if (!all_identical) {
        pt_cli_error("results differ between thread counts: the reduction is not deterministic");
        rc = PT_EXIT_FAILED;
        goto out;
    }
    rc = PT_EXIT_OK;
out:
    if (dir[0] && !written && pt_exp_remove_tree(dir, &err))
        pt_cli_error("warning: %s", err.msg);
    pt_optim_free(&opt);
    free(order);
    free(first);
    free(params);
    free(runs);
    pt_setup_free(&su);
    return rc;
}
