/* bench.c: `make bench`, ptrain's performance report. One run measures, on
 * this machine and under its current load:
 *   - training throughput of the real step (pt_trainer_pass over shuffled
 *     MNIST rows) per batch size and thread count, alternating with the
 *     PyTorch peer (../shared/peers/torch_mlp.py --bench-steps): A B A B;
 *   - the step's GFLOP/s as a share of an FP32 FMA peak, and its uint8 row
 *     gather as a share of a read bandwidth, both measured here on the same
 *     pinned cores, interleaved in time with the training measurements;
 *   - inference throughput, the time of a full 60 000-image epoch, and whole
 *     `ptrain` runs (peak resident memory, time to 94.5 % test accuracy).
 * Every figure is a median over repeats with its min and max. It prints a
 * table, writes bench.csv (one row per measurement), bench.txt (the console
 * report), bench.gp and bench.png. It drives ptrain only through the public
 * library API and the ptrain binary; it changes nothing in how ptrain trains. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__AVX512F__) || defined(__FMA__)
#include <immintrin.h>
#endif

#include "pt_common.h"
#include "pt_config.h"
#include "pt_model.h"
#include "pt_optim.h"
#include "pt_placement.h"
#include "pt_rng.h"
#include "pt_run.h"
#include "pt_train.h"

extern char **environ;

#ifndef PT_GIT_REV
#define PT_GIT_REV "unknown"
#endif

#define MAX_LIST 64           /* entries of --threads and --batches */
#define MAX_REPEATS 64
#define MAX_SAMPLES 256       /* values one series holds (the FMA peak gets one per batch size per repeat) */
#define MAX_SETS 32
#define MAX_ROWS 2048
#define MAX_EPOCHS 4096       /* metrics.csv rows read back from a whole run */
#define TARGET_ACC 0.945      /* test accuracy of the time-to-accuracy figure */
#define BW_BYTES ((size_t)256 << 20)   /* read-bandwidth buffer: 8x a 32 MiB last-level cache */
#define CAPTURE_MAX 16384     /* bytes of a child's output kept (its tail) */
#define PING_ROUNDS 20000     /* cache-line round trips per measurement */
#define MAX_TEAM 1024         /* threads whose CPU clocks are read (larger teams: no CPU figure) */

/* ---- small helpers ------------------------------------------------------- */

static double now(void)
{
    return omp_get_wtime();
}

static double clock_seconds(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return NAN;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The CPU clocks of the threads of an OpenMP team of `threads`: libgomp
 * hands the same pool threads to every team of that size, so these are the
 * threads a trainer's next region runs on. Idle pool threads (still spinning
 * after a larger team) are left out, as process CPU time would not. */
static int team_clocks(int threads, clockid_t *ids)
{
    int failed = 0;
#pragma omp parallel num_threads(threads) reduction(| : failed)
    failed |= pthread_getcpuclockid(pthread_self(), &ids[omp_get_thread_num()]) != 0;
    return failed ? -1 : 0;
}

static double team_cpu(const clockid_t *ids, int threads)
{
    double sum = 0.0;
    for (int i = 0; i < threads; i++)
        sum += clock_seconds(ids[i]);
    return sum;
}

static void sleep_ms(double ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(fmod(ms, 1000.0) * 1e6)};
    nanosleep(&ts, NULL);
}

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

static int cmp_int(const void *pa, const void *pb)
{
    int a = *(const int *)pa, b = *(const int *)pb;
    return (a > b) - (a < b);
}

/* The values of one figure over the repeats. */
typedef struct series {
    int n;
    double v[MAX_SAMPLES];
} series;

static void series_add(series *s, double x)
{
    if (s->n < MAX_SAMPLES && isfinite(x))
        s->v[s->n++] = x;
}

static double series_median(const series *s)
{
    if (s->n == 0)
        return NAN;
    double v[MAX_SAMPLES];
    memcpy(v, s->v, (size_t)s->n * sizeof *v);
    qsort(v, (size_t)s->n, sizeof *v, cmp_double);
    return s->n % 2 ? v[s->n / 2] : 0.5 * (v[s->n / 2 - 1] + v[s->n / 2]);
}

static double series_min(const series *s)
{
    double m = s->n ? s->v[0] : NAN;
    for (int i = 1; i < s->n; i++)
        m = s->v[i] < m ? s->v[i] : m;
    return m;
}

static double series_max(const series *s)
{
    double m = s->n ? s->v[0] : NAN;
    for (int i = 1; i < s->n; i++)
        m = s->v[i] > m ? s->v[i] : m;
    return m;
}

/* mkdir -p */
static int mkdir_p(const char *path, pt_err *err)
{
    char buf[PT_PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return pt_fail(err, "path too long: %s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return pt_fail(err, "cannot create folder '%s': %s", buf, strerror(errno));
            *p = c;
            if (!c)
                break;
        }
    }
    return 0;
}

static char *read_text(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* ---- options ------------------------------------------------------------- */

static const char USAGE[] =
    "usage: ptrain-bench [options]\n"
    "\n"
    "Measures ptrain on this machine in one run: training throughput per batch size and\n"
    "thread count next to PyTorch (alternating), the share of a measured FP32 FMA peak and\n"
    "of a measured read bandwidth, inference throughput, a full epoch, and whole ptrain runs\n"
    "(peak memory, time to 94.5%% test accuracy). Writes bench.csv, bench.txt, bench.png.\n"
    "\n"
    "options:\n"
    "  --threads LIST      thread counts, e.g. 1,2 or 1-4 (default 1..allowed PUs)\n"
    "  --batches LIST      batch sizes (default 32,64,256)\n"
    "  --repeats N         measurements per figure, medians reported (default 5; --quick 3)\n"
    "  --min-time S        seconds of training per ptrain measurement (default 0.3; --quick 0.05)\n"
    "  --torch-steps N     optimizer steps per PyTorch measurement (default 1500; --quick 300)\n"
    "  --quick             fewer and shorter repeats; whole runs capped at 5 epochs (tests)\n"
    "  --no-torch          skip the PyTorch baseline\n"
    "  --no-runs           skip the whole ptrain runs (peak memory, time to accuracy)\n"
    "  --out DIR           output folder (default results/bench-YYYYmmdd-HHMMSS)\n"
    "  --config PATH       the tanh config (default configs/tanh.ini)\n"
    "  --set KEY=VALUE     config override for every measurement, e.g. train.shard=16\n"
    "  --ptrain PATH       ptrain binary for the whole runs (default ./ptrain)\n"
    "  --torch-script PATH PyTorch peer script (default ../shared/peers/torch_mlp.py)\n"
    "  --python PATH       Python with torch (default /usr/bin/python3)\n"
    "  --blas-dir DIR      prepended to LD_LIBRARY_PATH for PyTorch\n"
    "                      (default /usr/lib/x86_64-linux-gnu/openblas-openmp)\n"
    "  -h, --help          this text\n";

typedef struct opts {
    int quick, no_torch, no_runs;
    int repeats, torch_steps;            /* -1 = not given */
    double min_time;                     /* < 0 = not given */
    int threads[MAX_LIST], n_threads;    /* 0 entries = 1..allowed PUs */
    int batches[MAX_LIST], n_batches;
    const char *out, *config, *ptrain, *torch_script, *python, *blas_dir;
    const char *sets[MAX_SETS];
    int n_sets;
} opts;

/* "1,2,4" or "1-4" or a mix; sorted, without duplicates. */
static int parse_list(const char *s, int *out, int max, const char *what)
{
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long a = strtol(p, &end, 10), z = a;
        if (end == p)
            goto bad;
        if (*end == '-') {
            const char *q = end + 1;
            z = strtol(q, &end, 10);
            if (end == q)
                goto bad;
        }
        if (a < 1 || z < a || z > 1048576)
            goto bad;
        for (long v = a; v <= z; v++) {
            if (n == max) {
                fprintf(stderr, "ptrain-bench: %s: at most %d values\n", what, max);
                return -1;
            }
            out[n++] = (int)v;
        }
        if (*end == ',')
            end++;
        else if (*end)
            goto bad;
        p = end;
    }
    if (n == 0)
        goto bad;
    qsort(out, (size_t)n, sizeof *out, cmp_int);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (m == 0 || out[m - 1] != out[i])
            out[m++] = out[i];
    return m;
bad:
    fprintf(stderr, "ptrain-bench: %s: expected a list of positive integers like 1,2,4 or 1-4, got '%s'\n",
            what, s);
    return -1;
}

/* 0: go on; 1: help printed; -1: bad usage (message printed). */
static int parse_args(int argc, char **argv, opts *o)
{
    *o = (opts){.repeats = -1, .torch_steps = -1, .min_time = -1.0, .config = "configs/tanh.ini",
                .ptrain = "./ptrain", .torch_script = "../shared/peers/torch_mlp.py",
                .python = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3",
                .blas_dir = "/usr/lib/x86_64-linux-gnu/openblas-openmp"};
    o->n_batches = parse_list("32,64,256", o->batches, MAX_LIST, "--batches");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return 1;
        } else if (!strcmp(a, "--quick")) {
            o->quick = 1;
            takes = 0;
        } else if (!strcmp(a, "--no-torch")) {
            o->no_torch = 1;
            takes = 0;
        } else if (!strcmp(a, "--no-runs")) {
            o->no_runs = 1;
            takes = 0;
        } else if (!v) {
            fprintf(stderr, "ptrain-bench: unknown option or missing value: '%s'\n%s", a, USAGE);
            return -1;
        } else if (!strcmp(a, "--threads")) {
            if ((o->n_threads = parse_list(v, o->threads, MAX_LIST, a)) < 0)
                return -1;
        } else if (!strcmp(a, "--batches")) {
            if ((o->n_batches = parse_list(v, o->batches, MAX_LIST, a)) < 0)
                return -1;
        } else if (!strcmp(a, "--repeats") || !strcmp(a, "--torch-steps")) {
            char *end;
            long n = strtol(v, &end, 10);
            long hi = !strcmp(a, "--repeats") ? MAX_REPEATS : 10000000;
            if (*end || n < 1 || n > hi) {
                fprintf(stderr, "ptrain-bench: %s: expected an integer in [1, %ld], got '%s'\n", a, hi, v);
                return -1;
            }
            *(!strcmp(a, "--repeats") ? &o->repeats : &o->torch_steps) = (int)n;
        } else if (!strcmp(a, "--min-time")) {
            char *end;
            o->min_time = strtod(v, &end);
            if (*end || !(o->min_time > 0.0 && o->min_time <= 60.0)) {
                fprintf(stderr, "ptrain-bench: --min-time: expected seconds in (0, 60], got '%s'\n", v);
                return -1;
            }
        } else if (!strcmp(a, "--out")) {
            o->out = v;
        } else if (!strcmp(a, "--config")) {
            o->config = v;
        } else if (!strcmp(a, "--ptrain")) {
            o->ptrain = v;
        } else if (!strcmp(a, "--torch-script")) {
            o->torch_script = v;
        } else if (!strcmp(a, "--python")) {
            o->python = v;
        } else if (!strcmp(a, "--blas-dir")) {
            o->blas_dir = v;
        } else if (!strcmp(a, "--set")) {
            if (o->n_sets == MAX_SETS || !strchr(v, '=')) {
                fprintf(stderr, "ptrain-bench: --set: expected section.key=value (at most %d), got '%s'\n",
                        MAX_SETS, v);
                return -1;
            }
            o->sets[o->n_sets++] = v;
        } else {
            fprintf(stderr, "ptrain-bench: unknown option '%s'\n%s", a, USAGE);
            return -1;
        }
        i += takes;
    }
    if (o->repeats < 0)
        o->repeats = o->quick ? 3 : 5;
    if (o->torch_steps < 0)
        o->torch_steps = o->quick ? 300 : 1500;
    if (o->min_time < 0)
        o->min_time = o->quick ? 0.05 : 0.3;
    return 0;
}

/* ---- the report: console, bench.txt and bench.csv ------------------------- */

typedef struct row {                 /* one line of bench.csv */
    char what[40], unit[16], ratio_of[40], target[24], met[16], note[240];
    int batch, threads, n;           /* batch 0: not applicable */
    double med, lo, hi;
    double r_med, r_lo, r_hi;        /* NaN: no ratio */
} row;

/* One (batch, threads) point of the training grid. */
typedef struct cell {
    int batch, threads, ti;          /* ti: index of threads in the thread list */
    pt_model model;
    pt_optim opt;
    pt_trainer *tr;
    series rate, torch, ratio, wait, update;
    series share;                    /* GFLOP/s over the FMA peak measured just before (wall clock) */
    series share_cpu;                /* the same per CPU-second: immune to time-slicing */
    series share_bw;                 /* gather GB/s over this round's read bandwidth */
    int resets;                      /* divergences (model reset to its initial weights) */
} cell;

/* One whole `ptrain` run on the tanh config. */
typedef struct run_stats {
    int ok;
    char msg[512];
    double wall;                     /* spawn to exit */
    double wall_to_target;           /* spawn to the metrics.csv row reaching TARGET_ACC; NaN: never */
    int epoch_hit, epochs;
    double train_to_target;          /* training seconds of the epochs up to that row */
    double epoch_median;             /* median training seconds of one epoch */
    double total_seconds, train_seconds;   /* summary.json timing */
    double final_acc, best_acc;
    long maxrss_kb;                  /* wait4 ru_maxrss */
    long hwm_kb;                     /* VmHWM of /proc/PID/status, polled while it runs */
    long parent_kb;                  /* this process's RSS when it spawned the run (a floor of maxrss) */
} run_stats;

typedef struct bench {
    opts o;
    char out[PT_PATH_MAX];
    FILE *txt;
    double t_start;
    int n_pus;
    int threads[MAX_LIST], n_threads, n_max;
    pt_placement *place[MAX_LIST];   /* one per thread count, shared by everything at that count */
    char pin_warning[1024];
    series peak[MAX_LIST], bw[MAX_LIST], infer[MAX_LIST], epoch[MAX_LIST];
    series infer_share[MAX_LIST];    /* inference GFLOP/s over the FMA peak measured just before */
    cell *cells;
    int n_cells;
    pt_config cfg;                   /* the measured step: tanh config + momentum, as the peer */
    pt_config run_cfg;               /* the tanh config as users run it */
    int have_config;
    char run_config[PT_PATH_MAX + 64]; /* config file the whole runs use */
    double macs_step, macs_fwd;      /* multiply-adds per sample, from the real layer sizes */
    int dim;
    char cpu[128];
    /* PyTorch */
    int torch_ok;
    char torch_why[600], torch_version[64], torch_blas[300];
    char **torch_env;
    /* whole runs */
    run_stats runs[MAX_REPEATS];
    int n_runs, run_epochs_cap;
    long fma_iters;                  /* FMA peak iterations for one measurement window */
    series run_peak;                 /* FMA peak on the runs' threads, before and after each run */
    int ping_ti;                     /* placement whose threads 0 and 1 the round trip uses; -1: none */
    series ping, ping_epoch, ping_runs;  /* core-to-core round trips, ns, per phase */
    char runs_why[600];
    double other_cpu;                /* share of the machine's CPU time used by other processes */
    row rows[MAX_ROWS];
    int n_rows;
} bench;

static void say(bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(bench *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (b->txt) {
        va_start(ap, fmt);
        vfprintf(b->txt, fmt, ap);
        va_end(ap);
    }
}

/* Progress on stderr: not part of the report. */
static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void copy_note(char *dst, size_t size, const char *src)
{
    /* Notes go into a CSV field: no commas, quotes or line breaks. */
    size_t i = 0;
    for (; src[i] && i + 1 < size; i++)
        dst[i] = src[i] == ',' ? ';' : src[i] == '"' ? '\'' : src[i] == '\n' ? ' ' : src[i];
    dst[i] = '\0';
}

/* A CSV row from a series (values times scale); NULL when nothing was measured. */
static row *add_row(bench *b, const char *what, int batch, int threads, const series *s,
                    double scale, const char *unit)
{
    if (s->n == 0 || b->n_rows == MAX_ROWS)
        return NULL;
    row *r = &b->rows[b->n_rows++];
    memset(r, 0, sizeof *r);
    snprintf(r->what, sizeof r->what, "%s", what);
    snprintf(r->unit, sizeof r->unit, "%s", unit);
    r->batch = batch;
    r->threads = threads;
    r->n = s->n;
    r->med = scale * series_median(s);
    r->lo = scale * series_min(s);
    r->hi = scale * series_max(s);
    r->r_med = r->r_lo = r->r_hi = NAN;
    return r;
}

static void set_ratio(row *r, const char *of, double med, double lo, double hi)
{
    if (!r)
        return;
    snprintf(r->ratio_of, sizeof r->ratio_of, "%s", of);
    r->r_med = med;
    r->r_lo = lo;
    r->r_hi = hi;
}

static void set_target(row *r, const char *target, int met)
{
    if (!r)
        return;
    snprintf(r->target, sizeof r->target, "%s", target);
    snprintf(r->met, sizeof r->met, "%s", met ? "yes" : "no");
}

static void csv_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, ",%.6g", v);
    else
        fputs(",", f);
}

static int write_csv(const bench *b, pt_err *err)
{
    char path[PT_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/bench.csv", b->out);
    FILE *f = fopen(path, "w");
    if (!f)
        return pt_fail(err, "cannot write '%s': %s", path, strerror(errno));
    fputs("what,batch,threads,median,min,max,unit,repeats,ratio_median,ratio_min,ratio_max,ratio_of,"
          "target,met,note\n", f);
    for (int i = 0; i < b->n_rows; i++) {
        const row *r = &b->rows[i];
        fprintf(f, "%s,%d,%d", r->what, r->batch, r->threads);
        csv_num(f, r->med);
        csv_num(f, r->lo);
        csv_num(f, r->hi);
        fprintf(f, ",%s,%d", r->unit, r->n);
        csv_num(f, r->r_med);
        csv_num(f, r->r_lo);
        csv_num(f, r->r_hi);
        fprintf(f, ",%s,%s,%s,%s\n", r->ratio_of, r->target, r->met, r->note);
    }
    if (fclose(f) != 0)
        return pt_fail(err, "cannot write '%s': %s", path, strerror(errno));
    return 0;
}

/* "1.18M", "412k", "950" */
static const char *fmt_rate(char *buf, size_t size, double v)
{
    if (!isfinite(v))
        snprintf(buf, size, "-");
    else if (v >= 1e6)
        snprintf(buf, size, "%.2fM", v / 1e6);
    else if (v >= 1e3)
        snprintf(buf, size, "%.0fk", v / 1e3);
    else
        snprintf(buf, size, "%.0f", v);
    return buf;
}

/* "MEDIAN [MIN..MAX]" of a series of rates. */
static const char *fmt_rates(char *buf, size_t size, const series *s)
{
    if (s->n == 0)
        return snprintf(buf, size, "-"), buf;
    char m[16], lo[16], hi[16];
    snprintf(buf, size, "%s [%s..%s]", fmt_rate(m, sizeof m, series_median(s)),
             fmt_rate(lo, sizeof lo, series_min(s)), fmt_rate(hi, sizeof hi, series_max(s)));
    return buf;
}

/* "MEDIAN [MIN..MAX]" with a printf format for each number, values times scale. */
static const char *fmt_range(char *buf, size_t size, const series *s, double scale, const char *nf)
{
    if (s->n == 0)
        return snprintf(buf, size, "-"), buf;
    char m[24], lo[24], hi[24];
    snprintf(m, sizeof m, nf, scale * series_median(s));
    snprintf(lo, sizeof lo, nf, scale * series_min(s));
    snprintf(hi, sizeof hi, nf, scale * series_max(s));
    snprintf(buf, size, "%.18s [%.18s..%.18s]", m, lo, hi);
    return buf;
}

/* ---- pinning -------------------------------------------------------------- */

/* Bind the calling OpenMP thread exactly as the trainer binds its threads. */
static void pin_self(bench *b, pt_placement *p, int tid)
{
    pt_err err;
    if (pt_placement_bind_self(p, tid, &err) != 0) {
#pragma omp critical(bench_pin_warning)
        if (!b->pin_warning[0])
            snprintf(b->pin_warning, sizeof b->pin_warning, "%s", err.msg);
    }
}

/* Give the main thread the whole allowed set back: children inherit the
 * calling thread's affinity, and a region leaves it on thread 0's PU. */
static void unpin_main(bench *b)
{
    pt_err err;
    if (b->n_threads > 0 && pt_placement_unbind_self(b->place[b->n_threads - 1], &err) != 0 &&
        !b->pin_warning[0])
        snprintf(b->pin_warning, sizeof b->pin_warning, "%s", err.msg);
}

/* ---- machine peaks -------------------------------------------------------- */

/* FP32 FMA peak: FMA_CHAINS independent accumulator chains per thread, each
 * one vector FMA per iteration, no loads, no dependencies between chains.
 * Enough chains to cover latency x throughput (4 cycles x 2 pipes = 8 on
 * current x86 cores) with registers to spare, so no spills. Intrinsics, so
 * the FMA does not depend on the compiler contracting a*b+c. */
#if defined(__AVX512F__)
typedef __m512 fvec;
enum { FVEC_LANES = 16, FMA_CHAINS = 16 };
#define FVEC_SET1(x) _mm512_set1_ps(x)
#define FVEC_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define FVEC_ADD(a, b) _mm512_add_ps(a, b)
#define FMA_KIND "AVX-512 FMA, 16 chains of 16 floats"
#elif defined(__FMA__)
typedef __m256 fvec;
enum { FVEC_LANES = 8, FMA_CHAINS = 12 };
#define FVEC_SET1(x) _mm256_set1_ps(x)
#define FVEC_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define FVEC_ADD(a, b) _mm256_add_ps(a, b)
#define FMA_KIND "AVX2 FMA, 12 chains of 8 floats"
#else
typedef float fvec __attribute__((vector_size(16 * sizeof(float))));
enum { FVEC_LANES = 16, FMA_CHAINS = 4 };
#define FVEC_SET1(x) ((fvec){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x})
#define FVEC_FMA(a, b, c) ((a) * (b) + (c))
#define FVEC_ADD(a, b) ((a) + (b))
#define FMA_KIND "no FMA instructions in this build: multiply + add"
#endif

static __attribute__((noinline)) float fma_chains(long iters)
{
    /* A side effect: the compiler may not treat the call as a pure function. */
    __asm__ volatile("" ::: "memory");
    fvec acc[FMA_CHAINS];
    for (int c = 0; c < FMA_CHAINS; c++)
        acc[c] = FVEC_SET1(1.0f + 0.01f * (float)c);
    /* acc = acc * 0.999 + 0.001 converges to 1: no overflow, no denormals. */
    const fvec a = FVEC_SET1(0.999f), k = FVEC_SET1(0.001f);
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 16
        for (int c = 0; c < FMA_CHAINS; c++)
            acc[c] = FVEC_FMA(acc[c], a, k);
    }
    fvec s = acc[0];
    for (int c = 1; c < FMA_CHAINS; c++)
        s = FVEC_ADD(s, acc[c]);
    float lanes[FVEC_LANES];
    memcpy(lanes, &s, sizeof lanes);
    float r = 0.0f;
    for (int l = 0; l < FVEC_LANES; l++)
        r += lanes[l];
    return r;
}

static volatile float bench_sink;

/* GFLOP/s of `threads` pinned threads each running fma_chains(iters);
 * *per_cpu: GFLOP per CPU-second of those threads (one core's peak). */
static double fma_peak(bench *b, pt_placement *p, int threads, long iters, double *per_cpu)
{
    double t0 = 0.0, t1 = 0.0, cpu = 0.0;
    float sink = 0.0f;
#pragma omp parallel num_threads(threads) reduction(+ : sink, cpu)
    {
        pin_self(b, p, omp_get_thread_num());
#pragma omp barrier
#pragma omp single
        t0 = now();
        double c0 = clock_seconds(CLOCK_THREAD_CPUTIME_ID);
        sink += fma_chains(iters);
        cpu += clock_seconds(CLOCK_THREAD_CPUTIME_ID) - c0;
#pragma omp barrier
#pragma omp single
        t1 = now();
    }
    bench_sink = sink;
    double gflop = (double)threads * (double)iters * FMA_CHAINS * FVEC_LANES * 2.0 / 1e9;
    if (per_cpu)
        *per_cpu = gflop / cpu;
    return gflop / (t1 - t0);
}

/* 32-byte vectors: a register on AVX2 and AVX-512 alike (GCC lowers a
 * 64-byte vector through the stack on AVX2, which would time that, not the
 * memory). Eight chains keep enough loads in flight. */
typedef float v8 __attribute__((vector_size(8 * sizeof(float))));

static __attribute__((noinline)) float read_sum(const float *p, size_t n)
{
    /* Without this the compiler proves the function pure and sums the
     * buffer once for all passes (a 16-pass run then "reads" 370 GB/s). */
    __asm__ volatile("" : : "r"(p) : "memory");
    v8 s[8] = {{0}};
    for (size_t i = 0; i + 64 <= n; i += 64)
        for (int c = 0; c < 8; c++)
            s[c] += *(const v8 *)(const void *)(p + i + 8 * (size_t)c);
    v8 t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    float r = 0.0f;
    for (int l = 0; l < 8; l++)
        r += t[l];
    return r;
}

/* Each thread's slice of the buffer: whole 64-float blocks. */
static void slice(size_t n, int threads, int tid, size_t *lo, size_t *hi)
{
    size_t blocks = n / 64;
    *lo = blocks * (size_t)tid / (size_t)threads * 64;
    *hi = blocks * (size_t)(tid + 1) / (size_t)threads * 64;
}

/* GB/s read by `threads` pinned threads, each summing its slice `passes` times. */
static double read_bw(bench *b, pt_placement *p, int threads, const float *buf, size_t n, int passes)
{
    double t0 = 0.0, t1 = 0.0;
    float sink = 0.0f;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    {
        int tid = omp_get_thread_num();
        pin_self(b, p, tid);
        size_t lo, hi;
        slice(n, threads, tid, &lo, &hi);
#pragma omp barrier
#pragma omp single
        t0 = now();
        for (int k = 0; k < passes; k++)
            sink += read_sum(buf + lo, hi - lo);
#pragma omp barrier
#pragma omp single
        t1 = now();
    }
    bench_sink = sink;
    return (double)(n / 64 * 64) * sizeof(float) * passes / (t1 - t0) / 1e9;
}

/* ---- CPU time used by other processes during the bench -------------------- */

typedef struct cpu_sample {
    double busy, total;   /* seconds of all CPUs, from /proc/stat (steal counts as busy) */
    double ours;          /* this process and its waited-for children */
} cpu_sample;

static int cpu_sample_take(cpu_sample *s)
{
    memset(s, 0, sizeof *s);
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    unsigned long long v[8] = {0};
    int got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                     &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (got < 8)
        return -1;
    double hz = (double)sysconf(_SC_CLK_TCK);
    s->busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / hz;
    s->total = s->busy + (double)(v[3] + v[4]) / hz;
    struct rusage self, kids;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    s->ours = (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec +
                       kids.ru_stime.tv_sec) +
              1e-6 * (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec +
                              kids.ru_stime.tv_usec);
    return 0;
}

/* ---- child processes ------------------------------------------------------ */

/* Start argv (PATH searched) with stdin from /dev/null and stdout and stderr
 * on out_fd, working in dir when not NULL. posix_spawn: safe with threads. */
static pid_t spawn(char *const argv[], char *const envp[], int out_fd, const char *dir, pt_err *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
    if (dir)
        posix_spawn_file_actions_addchdir_np(&fa, dir);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, envp ? envp : environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        pt_fail(err, "cannot start %s: %s", argv[0], strerror(rc));
        return -1;
    }
    return pid;
}

/* Run argv to completion; out receives the tail of its stdout + stderr.
 * Returns the wait status, or -1 (err says why). */
static int capture(char *const argv[], char *const envp[], const char *dir, char *out, size_t size,
                   pt_err *err)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return pt_fail(err, "cannot create a pipe: %s", strerror(errno));
    pid_t pid = spawn(argv, envp, fds[1], dir, err);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return -1;
    }
    pt_read_tail(fds[0], out, size);
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return pt_fail(err, "cannot wait for %s: %s", argv[0], strerror(errno));
    return status;
}

/* The last non-empty line of a child's output, for messages. */
static const char *last_line(char *text)
{
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
        text[--n] = '\0';
    char *nl = strrchr(text, '\n');
    return n == 0 ? "it exited with an error and printed nothing" : nl ? nl + 1 : text;
}

/* ---- PyTorch peer --------------------------------------------------------- */

/* environ with `dir` prepended to LD_LIBRARY_PATH. */
static char **env_with_library_path(const char *dir)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 2, sizeof *env);
    if (!env)
        return NULL;
    const char *old = getenv("LD_LIBRARY_PATH");
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "LD_LIBRARY_PATH=", 16) != 0)
            env[m++] = environ[i];
    size_t len = strlen(dir) + (old ? strlen(old) : 0) + 32;
    char *v = malloc(len);
    if (!v) {
        free(env);
        return NULL;
    }
    snprintf(v, len, "LD_LIBRARY_PATH=%s%s%s", dir, old && *old ? ":" : "", old && *old ? old : "");
    env[m++] = v;
    env[m] = NULL;
    return env;
}

static void torch_probe(bench *b)
{
    const opts *o = &b->o;
    b->torch_ok = 0;
    if (o->no_torch) {
        snprintf(b->torch_why, sizeof b->torch_why, "skipped (--no-torch)");
        return;
    }
    if (access(o->torch_script, R_OK) != 0) {
        snprintf(b->torch_why, sizeof b->torch_why,
                 "PyTorch peer script not found at %s (%s; pass --torch-script PATH)", o->torch_script,
                 strerror(errno));
        return;
    }
    struct stat st;
    if (stat(o->blas_dir, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(b->torch_blas, sizeof b->torch_blas, "OpenBLAS from %s", o->blas_dir);
    else
        snprintf(b->torch_blas, sizeof b->torch_blas,
                 "WARNING: %s not found (libopenblas0-openmp): PyTorch uses its default BLAS, "
                 "3-6x slower, so the ratios flatter ptrain", o->blas_dir);
    b->torch_env = env_with_library_path(o->blas_dir);
    char *argv[] = {(char *)o->python, "-c",
                    "import torch, numpy; print('torch-version', torch.__version__)", NULL};
    char out[CAPTURE_MAX];
    pt_err err = {{0}};
    int status = capture(argv, b->torch_env, NULL, out, sizeof out, &err);
    const char *v = strstr(out, "torch-version ");
    if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || !v) {
        snprintf(b->torch_why, sizeof b->torch_why, "PyTorch is not available from %.100s: %.400s", o->python,
                 status < 0 ? err.msg : last_line(out));
        return;
    }
    sscanf(v + 14, "%63s", b->torch_version);
    b->torch_ok = 1;
}

/* One --bench-steps measurement of the peer with the measured step's settings. */
static int torch_run(bench *b, int batch, int threads, double *rate, char *why, size_t why_size)
{
    const pt_config *c = &b->cfg;
    char data[PT_PATH_MAX], hidden[256] = "", sb[16], st[16], ss[16], lr[32], mom[32];
    snprintf(data, sizeof data, "%s", c->data.train_images);
    char *slash = strrchr(data, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(data, sizeof data, ".");
    for (int l = 0; l < c->model.n_hidden; l++)
        snprintf(hidden + strlen(hidden), sizeof hidden - strlen(hidden), "%s%d", l ? "," : "",
                 c->model.hidden[l]);
    snprintf(sb, sizeof sb, "%d", batch);
    snprintf(st, sizeof st, "%d", threads);
    snprintf(ss, sizeof ss, "%d", b->o.torch_steps);
    snprintf(lr, sizeof lr, "%.17g", c->train.lr);
    snprintf(mom, sizeof mom, "%.17g", c->train.momentum);
    char *argv[] = {(char *)b->o.python, (char *)b->o.torch_script, "--data", data, "--hidden", hidden,
                    "--act", (char *)pt_act_names[c->model.activation], "--opt",
                    (char *)pt_opt_names[c->train.optimizer], "--momentum", mom, "--lr", lr, "--batch",
                    sb, "--threads", st, "--bench-steps", ss, NULL};
    char out[CAPTURE_MAX];
    pt_err err = {{0}};
    unpin_main(b);
    int status = capture(argv, b->torch_env, NULL, out, sizeof out, &err);
    const char *v = strstr(out, "\"samples_per_sec\":");
    if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || !v) {
        snprintf(why, why_size, "PyTorch run failed (batch %d, %d threads): %.400s", batch, threads,
                 status < 0 ? err.msg : last_line(out));
        return -1;
    }
    *rate = strtod(v + 18, NULL);
    if (!(*rate > 0.0)) {
        snprintf(why, why_size, "PyTorch printed no samples_per_sec: %s", last_line(out));
        return -1;
    }
    return 0;
}

/* ---- ptrain in process ---------------------------------------------------- */

static int model_clone(pt_model *dst, const pt_model *src, pt_err *err)
{
    int sizes[PT_MAX_LAYERS + 1];
    sizes[0] = src->layer[0].in;
    for (int l = 0; l < src->n_layers; l++)
        sizes[l + 1] = src->layer[l].out;
    if (pt_model_create(dst, src->n_layers, sizes, src->act, src->out, err))
        return -1;
    memcpy(dst->params, src->params, src->n_params * sizeof(float));
    return 0;
}

/* A model, optimiser and trainer for one (batch, threads) point. */
static int cell_create(cell *x, const pt_config *cfg, const pt_setup *su, pt_placement *p, pt_err *err)
{
    if (model_clone(&x->model, &su->model, err))
        return -1;
    long steps = (su->n_train + x->batch - 1) / x->batch;
    if (pt_optim_create(&x->opt, cfg, x->model.n_params, steps, err))
        return -1;
    x->tr = pt_trainer_create(&x->model, &x->opt, &su->train_set, &su->input, x->batch, cfg->train.shard,
                              x->threads, p, err);
    return x->tr ? 0 : -1;
}

static void cell_free(cell *x)
{
    pt_trainer_free(x->tr);
    x->tr = NULL;
    pt_optim_free(&x->opt);
    pt_model_free(&x->model);
}

/* Training throughput: whole passes over a freshly shuffled order until
 * min_time has passed. Returns samples/s (wall clock; *per_cpu: samples per
 * CPU-second of the trainer's threads), or NaN when a pass diverged (the model and
 * optimiser are then reset to where they started). */
static double measure_train(cell *x, const pt_model *init, int *order, long n, pt_rng *rng,
                            double min_time, double *wait, double *update, double *per_cpu)
{
    pt_rng_shuffle(rng, order, (int)n);
    double samples = 0.0, pass_s = 0.0, wait_s = 0.0, update_s = 0.0;
    clockid_t ids[MAX_TEAM];
    int threads = x->threads < MAX_TEAM ? x->threads : MAX_TEAM;
    int have_ids = x->threads <= MAX_TEAM && team_clocks(threads, ids) == 0;
    double c0 = have_ids ? team_cpu(ids, threads) : NAN, t0 = now(), dt;
    do {
        pt_pass_stats st;
        if (pt_trainer_pass(x->tr, order, n, &st) != 0) {
            memcpy(x->model.params, init->params, init->n_params * sizeof(float));
            pt_optim_reset(&x->opt);
            x->resets++;
            return NAN;
        }
        samples += (double)st.samples;
        pass_s += st.seconds;
        wait_s += st.wait;
        update_s += st.update;
    } while ((dt = now() - t0) < min_time);
    *per_cpu = samples / (have_ids ? team_cpu(ids, threads) - c0 : NAN);
    *wait = wait_s / pass_s;
    *update = update_s / pass_s;
    return samples / dt;
}

/* Multiply-adds per sample of the step, from the real layer sizes (padding
 * excluded): forward in*out and weight gradient in*out for every layer, input
 * gradient in*out for every layer but the first. Biases and activations are
 * not multiply-adds and are not counted. */
static void count_macs(const pt_model *m, double *step, double *fwd)
{
    *step = *fwd = 0.0;
    for (int l = 0; l < m->n_layers; l++) {
        double io = (double)m->layer[l].in * (double)m->layer[l].out;
        *fwd += io;
        *step += (l > 0 ? 3.0 : 2.0) * io;
    }
}

/* ---- whole ptrain runs ---------------------------------------------------- */

/* A spawned child's ru_maxrss starts from its parent's peak RSS: exec records
 * the high-water mark of the address space it leaves, which for vfork (and
 * posix_spawn) is the parent's. So before spawning, big buffers are freed and
 * this process's mark is reset to its current RSS (Linux >= 4.0). */
static int reset_peak_rss(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, "5", 1);
    close(fd);
    return n == 1 ? 0 : -1;
}

/* A "Key:   123 kB" line of a /proc status file, in KiB; -1 when absent. */
static long proc_status_kb(const char *path, const char *key)
{
    char buf[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    const char *p = strstr(buf, key);
    return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

typedef struct metrics {
    int n;
    double acc[MAX_EPOCHS], secs[MAX_EPOCHS];
} metrics;

static int csv_column(const char *header, const char *name)
{
    int col = 0;
    size_t len = strlen(name);
    for (const char *p = header;; col++) {
        if (!strncmp(p, name, len) && (p[len] == ',' || p[len] == '\n' || p[len] == '\0'))
            return col;
        p = strchr(p, ',');
        if (!p)
            return -1;
        p++;
    }
}

static double csv_field(const char *line, int col)
{
    for (int i = 0; i < col && line; i++) {
        line = strchr(line, ',');
        if (line)
            line++;
    }
    return line ? strtod(line, NULL) : NAN;
}

/* Complete rows of metrics.csv: test accuracy and training seconds per epoch. */
static int metrics_read(const char *path, metrics *m)
{
    m->n = 0;
    char *text = read_text(path, 1 << 20, NULL);
    if (!text)
        return -1;
    char *nl = strchr(text, '\n');
    int c_acc = nl ? csv_column(text, "test_acc") : -1, c_sec = nl ? csv_column(text, "seconds") : -1;
    if (c_acc < 0 || c_sec < 0) {
        free(text);
        return -1;
    }
    for (char *line = nl + 1; m->n < MAX_EPOCHS; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl)
            break; /* a row still being written */
        *nl = '\0';
        m->acc[m->n] = csv_field(line, c_acc);
        m->secs[m->n] = csv_field(line, c_sec);
        m->n++;
    }
    free(text);
    return 0;
}

static double json_number(const char *text, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(text, pat);
    return p ? strtod(p + strlen(pat), NULL) : NAN;
}

/* Write the config the whole runs use when configs/tanh.ini is missing. */
static int write_default_config(bench *b, pt_err *err)
{
    snprintf(b->run_config, sizeof b->run_config, "%s/runs/tanh-defaults.ini", b->out);
    FILE *f = fopen(b->run_config, "w");
    if (!f)
        return pt_fail(err, "cannot write '%s': %s", b->run_config, strerror(errno));
    fprintf(f, "; written by ptrain-bench: %s was not found, so the whole runs use the\n"
               "; defaults with a tanh hidden layer.\n[model]\nactivation = tanh\n",
            b->o.config);
    return fclose(f) == 0 ? 0 : pt_fail(err, "cannot write '%s'", b->run_config);
}

/* One `ptrain -q CONFIG run.results_dir=OUT/runs run.name=... run.threads=N
 * run.plots=false`, watching metrics.csv for the first row at TARGET_ACC. */
static void run_ptrain(bench *b, int k, run_stats *rs, metrics *m)
{
    memset(rs, 0, sizeof *rs);
    rs->wall_to_target = rs->train_to_target = NAN;
    char runs[PT_PATH_MAX + 8], name[64], dir[PT_PATH_MAX + 80], path[PT_PATH_MAX + 128];
    snprintf(runs, sizeof runs, "%s/runs", b->out);
    struct stat st;
    for (int s = 0;; s++) {   /* a fresh name, so the results module does not rename it */
        snprintf(name, sizeof name, s ? "run-%d-%d" : "run-%d", k + 1, s);
        snprintf(dir, sizeof dir, "%s/%s", runs, name);
        if (stat(dir, &st) != 0)
            break;
    }
    char a_dir[PT_PATH_MAX + 32], a_name[96], a_thr[48], a_ep[48];
    snprintf(a_dir, sizeof a_dir, "run.results_dir=%s", runs);
    snprintf(a_name, sizeof a_name, "run.name=%s", name);
    snprintf(a_thr, sizeof a_thr, "run.threads=%d", b->n_max);
    snprintf(a_ep, sizeof a_ep, "train.epochs=%d", b->run_epochs_cap);
    char *argv[16 + MAX_SETS];
    int n = 0;
    argv[n++] = (char *)b->o.ptrain;
    argv[n++] = "-q";
    argv[n++] = b->run_config;
    argv[n++] = a_dir;
    argv[n++] = a_name;
    argv[n++] = a_thr;
    argv[n++] = "run.plots=false";
    if (b->run_epochs_cap > 0)
        argv[n++] = a_ep;
    for (int i = 0; i < b->o.n_sets; i++)
        argv[n++] = (char *)b->o.sets[i];
    argv[n] = NULL;

    snprintf(path, sizeof path, "%s/%s.log", runs, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(rs->msg, sizeof rs->msg, "cannot write '%.300s': %s", path, strerror(errno));
        return;
    }
    pt_err err = {{0}};
    unpin_main(b);
    int reset = reset_peak_rss();
    rs->parent_kb = proc_status_kb("/proc/self/status", "VmRSS:");
    if (reset != 0)   /* the mark could not be reset: ru_maxrss includes our own peak */
        rs->parent_kb = proc_status_kb("/proc/self/status", "VmHWM:");
    double t0 = now();
    pid_t pid = spawn(argv, NULL, fd, NULL, &err);
    close(fd);
    if (pid < 0) {
        snprintf(rs->msg, sizeof rs->msg, "%.500s", err.msg);
        return;
    }
    char mpath[PT_PATH_MAX + 128], spath[64];
    snprintf(mpath, sizeof mpath, "%s/metrics.csv", dir);
    snprintf(spath, sizeof spath, "/proc/%ld/status", (long)pid);
    off_t seen = -1;
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    for (;;) {
        pid_t r = wait4(pid, &status, WNOHANG, &ru);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            snprintf(rs->msg, sizeof rs->msg, "cannot wait for ptrain: %s", strerror(errno));
            return;
        }
        long hwm = proc_status_kb(spath, "VmHWM:");
        rs->hwm_kb = hwm > rs->hwm_kb ? hwm : rs->hwm_kb;
        /* A stat per millisecond costs the child nothing measurable. */
        if (isnan(rs->wall_to_target) && stat(mpath, &st) == 0 && st.st_size != seen) {
            seen = st.st_size;
            if (metrics_read(mpath, m) == 0)
                for (int i = 0; i < m->n; i++)
                    if (m->acc[i] >= TARGET_ACC) {
                        rs->wall_to_target = now() - t0;
                        break;
                    }
        }
        sleep_ms(1.0);
    }
    rs->wall = now() - t0;
    rs->maxrss_kb = ru.ru_maxrss;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char *log = read_text(path, 1 << 16, NULL);
        snprintf(rs->msg, sizeof rs->msg, "ptrain exited with status %d: %s",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1, log ? last_line(log) : "(no log)");
        free(log);
        return;
    }
    if (metrics_read(mpath, m) != 0 || m->n == 0) {
        snprintf(rs->msg, sizeof rs->msg, "no epochs in %.400s", mpath);
        return;
    }
    rs->epochs = m->n;
    rs->final_acc = m->acc[m->n - 1];
    rs->best_acc = 0.0;
    series es = {0};
    double train = 0.0;
    rs->epoch_hit = 0;
    for (int i = 0; i < m->n; i++) {
        train += m->secs[i];
        series_add(&es, m->secs[i]);
        rs->best_acc = m->acc[i] > rs->best_acc ? m->acc[i] : rs->best_acc;
        if (!rs->epoch_hit && m->acc[i] >= TARGET_ACC) {
            rs->epoch_hit = i + 1;
            rs->train_to_target = train;
        }
    }
    rs->epoch_median = series_median(&es);
    /* The poll can miss a row only if the child exits within a millisecond of writing it. */
    if (rs->epoch_hit && isnan(rs->wall_to_target))
        rs->wall_to_target = rs->wall;
    snprintf(path, sizeof path, "%s/summary.json", dir);
    char *js = read_text(path, 1 << 20, NULL);
    rs->total_seconds = js ? json_number(js, "total_seconds") : NAN;
    rs->train_seconds = js ? json_number(js, "train_seconds") : NAN;
    free(js);
    rs->ok = 1;
}

/* ---- the plot ------------------------------------------------------------- */

static int write_plot(bench *b, char *msg, size_t msg_size)
{
    char path[PT_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/bench.gp", b->out);
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(msg, msg_size, "cannot write %.300s: %s", path, strerror(errno));
        return -1;
    }
    fputs("# bench.gp: training throughput vs threads, drawn from the medians of bench.csv\n"
          "# (bars: min..max over the repeats). Redraw with `gnuplot bench.gp` in this folder.\n"
          "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
          "    set terminal pngcairo size 900,560 noenhanced font 'Sans,11'\n"
          "} else {\n"
          "    set terminal png size 900,560 noenhanced\n"
          "}\n"
          "set output 'bench.png'\n"
          "set datafile separator ','\n",
          f);
    fprintf(f, "set title 'Training throughput, %d-15-10 step (median of %d; ptrain solid, PyTorch dashed)'\n",
            b->dim, b->o.repeats);
    fprintf(f, "set xlabel 'threads'\nset ylabel 'samples/s'\nset format y '%%.1s%%c'\nset xtics 1\nset xrange [0.5:%g]\n"
               "set yrange [0:*]\nset grid\nset key outside right top\n",
            b->n_max + 0.5);
    for (int i = 0; i < b->n_cells; i++) {
        const cell *x = &b->cells[i];
        if (x->ti == 0)
            fprintf(f, "$p%d << EOD\n", x->batch);
        if (x->rate.n)
            fprintf(f, "%d,%.6g,%.6g,%.6g\n", x->threads, series_median(&x->rate), series_min(&x->rate),
                    series_max(&x->rate));
        if (x->ti == b->n_threads - 1) {
            fputs("EOD\n", f);
            fprintf(f, "$t%d << EOD\n", x->batch);
            for (int j = i - x->ti; j <= i; j++)
                if (b->cells[j].torch.n)
                    fprintf(f, "%d,%.6g,%.6g,%.6g\n", b->cells[j].threads,
                            series_median(&b->cells[j].torch), series_min(&b->cells[j].torch),
                            series_max(&b->cells[j].torch));
            fputs("EOD\n", f);
        }
    }
    fputs("plot \\\n", f);
    for (int i = 0, c = 1; i < b->n_cells; i += b->n_threads, c++) {
        const cell *x = &b->cells[i];
        int has_torch = 0;
        for (int j = 0; j < b->n_threads; j++)
            has_torch |= b->cells[i + j].torch.n > 0;
        fprintf(f, "%s    $p%d using 1:2:3:4 with yerrorlines lc %d lw 2 pt 7 dt 1 title 'ptrain, batch %d'",
                i ? ", \\\n" : "", x->batch, c, x->batch);
        if (has_torch)
            fprintf(f, ", \\\n    $t%d using 1:2:3:4 with yerrorlines lc %d lw 2 pt 5 dt 2 "
                       "title 'PyTorch, batch %d'", x->batch, c, x->batch);
    }
    fputs("\n", f);
    if (fclose(f) != 0) {
        snprintf(msg, msg_size, "cannot write %.300s", path);
        return -1;
    }
    pt_err err = {{0}};
    int drawn = pt_gnuplot_run(b->out, "bench.gp", &err);
    if (drawn == 1)
        snprintf(msg, msg_size, "gnuplot is not installed: bench.gp is written; draw it later with "
                                "`gnuplot bench.gp` inside %.300s", b->out);
    else if (drawn < 0)
        snprintf(msg, msg_size, "%.500s", err.msg);
    return drawn;
}

/* ---- set-up --------------------------------------------------------------- */

static int apply(pt_config *c, const char *assignment, const char *origin, pt_err *err)
{
    return pt_config_override(c, assignment, origin, err);
}

/* cfg: the tanh config with the step the peer runs (momentum 0.9, lr 0.05,
 * constant rate), on all 60 000 training images. run_cfg: the tanh config as
 * users run it, with validation 0 for the epoch figure. --set applies to both. */
static int load_configs(bench *b, pt_err *err)
{
    pt_config *c = &b->cfg;
    pt_config_defaults(c);
    b->have_config = access(b->o.config, R_OK) == 0;
    if (b->have_config && pt_config_load(c, b->o.config, err))
        return -1;
    if (!b->have_config && apply(c, "model.activation=tanh", "ptrain-bench", err))
        return -1;
    const char *bind = getenv("PTRAIN_BIND");
    if (bind && *bind && pt_config_set(c, "run", "bind", bind, "environment PTRAIN_BIND", err))
        return -1;
    b->run_cfg = *c;
    static const char *const step[] = {
        "model.hidden=15",     "model.activation=tanh", "train.optimizer=momentum",
        "train.momentum=0.9",  "train.lr=0.05",         "train.schedule=constant",
        "train.weight_decay=0", "data.validation=0",    "data.train_limit=0",
        "data.test_limit=0",
    };
    for (size_t i = 0; i < PT_ARRAY_LEN(step); i++)
        if (apply(c, step[i], "ptrain-bench", err))
            return -1;
    if (apply(&b->run_cfg, "data.validation=0", "ptrain-bench", err))
        return -1;
    for (int i = 0; i < b->o.n_sets; i++) {
        char origin[48];
        snprintf(origin, sizeof origin, "--set %d", i + 1);
        if (apply(c, b->o.sets[i], origin, err) || apply(&b->run_cfg, b->o.sets[i], origin, err))
            return -1;
    }
    if (pt_config_validate(c, err) || pt_config_validate(&b->run_cfg, err))
        return -1;
    return 0;
}

static int open_output(bench *b, pt_err *err)
{
    if (b->o.out) {
        snprintf(b->out, sizeof b->out, "%s", b->o.out);
        if (mkdir_p(b->out, err))
            return -1;
    } else {
        char stamp[32];
        time_t t = time(NULL);
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&t));
        if (mkdir_p("results", err))
            return -1;
        for (int s = 1;; s++) {
            if (s == 1)
                snprintf(b->out, sizeof b->out, "results/bench-%s", stamp);
            else
                snprintf(b->out, sizeof b->out, "results/bench-%s-%d", stamp, s);
            if (mkdir(b->out, 0777) == 0)
                break;
            if (errno != EEXIST)
                return pt_fail(err, "cannot create '%s': %s", b->out, strerror(errno));
        }
    }
    char path[PT_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/runs", b->out);
    if (mkdir_p(path, err))
        return -1;
    snprintf(path, sizeof path, "%s/bench.txt", b->out);
    if (!(b->txt = fopen(path, "w")))
        return pt_fail(err, "cannot write '%s': %s", path, strerror(errno));
    return 0;
}

static void cpu_model(char *buf, size_t size)
{
    snprintf(buf, size, "unknown CPU");
    char *text = read_text("/proc/cpuinfo", 1 << 16, NULL);
    const char *p = text ? strstr(text, "model name") : NULL;
    if (p && (p = strchr(p, ':'))) {
        p += 1 + strspn(p + 1, " \t");
        size_t n = strcspn(p, "\n");
        snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), p);
    }
    free(text);
}

/* ---- the report ----------------------------------------------------------- */

static cell *find_cell(bench *b, int batch, int threads)
{
    for (int i = 0; i < b->n_cells; i++)
        if (b->cells[i].batch == batch && b->cells[i].threads == threads)
            return &b->cells[i];
    return NULL;
}

static int thread_index(const bench *b, int threads)
{
    for (int i = 0; i < b->n_threads; i++)
        if (b->threads[i] == threads)
            return i;
    return -1;
}

/* A target line: met / not met / n/a, the value and what it is compared with. */
static void say_target(bench *b, int state, const char *what, const char *value, const char *target)
{
    static const char *const label[] = {"NOT MET", "met", "n/a"};
    say(b, "  %-8s %-52s %-26s %s\n", label[state], what, value, target);
}

static void report(bench *b)
{
    char s1[64], s2[64], s3[64], s4[64], s5[64];
    const double fs = 2.0 * b->macs_step, ff = 2.0 * b->macs_fwd;

    /* Rows: machine peaks. */
    for (int i = 0; i < b->n_threads; i++) {
        add_row(b, "fma_peak", 0, b->threads[i], &b->peak[i], 1.0, "GFLOP/s");
        add_row(b, "read_bandwidth", 0, b->threads[i], &b->bw[i], 1.0, "GB/s");
    }
    say(b, "\nMachine peaks on the pinned cores, median [min..max]: the FMA peak is measured right before "
           "every training\n  and inference measurement, the bandwidth once per round; each share below "
           "pairs a measurement with those.\n");
    say(b, "  FMA peak: %s; read bandwidth: %.0f MiB buffer, sequential\n", FMA_KIND,
        (double)BW_BYTES / 1048576.0);
    say(b, "  threads  FP32 FMA peak GFLOP/s      read bandwidth GB/s\n");
    for (int i = 0; i < b->n_threads; i++)
        say(b, "  %7d  %-26s %s\n", b->threads[i], fmt_range(s1, sizeof s1, &b->peak[i], 1.0, "%.1f"),
            fmt_range(s2, sizeof s2, &b->bw[i], 1.0, "%.1f"));
    if (b->ping.n) {
        const pt_placement *pp = b->place[b->ping_ti];
        add_row(b, "core_round_trip", 0, 2, &b->ping, 1.0, "ns");
        add_row(b, "core_round_trip_epochs", 0, 2, &b->ping_epoch, 1.0, "ns");
        add_row(b, "core_round_trip_runs", 0, 2, &b->ping_runs, 1.0, "ns");
        say(b, "  cache-line round trip PU %d <-> PU %d (what barriers and shared cache lines pay): %s ns "
               "during the grid, %s ns during the epochs, %s ns around the whole runs\n",
            pt_placement_get(pp, 0)->pu, pt_placement_get(pp, 1)->pu,
            fmt_range(s1, sizeof s1, &b->ping, 1.0, "%.0f"), fmt_range(s2, sizeof s2, &b->ping_epoch, 1.0, "%.0f"),
            fmt_range(s3, sizeof s3, &b->ping_runs, 1.0, "%.0f"));
    }

    /* Rows and table: training grid. */
    say(b, "\nTraining throughput, samples/s (median [min..max] of %d; ptrain and PyTorch alternate A B A B)\n",
        b->o.repeats);
    say(b, "  GFLOP/s counts %.0f FLOP per sample (2 x %.0f multiply-adds of the real layer sizes); gather "
           "= %d bytes of uint8 pixels per sample\n", fs, b->macs_step, b->dim);
    say(b, "  %%peak: GFLOP/s over the FMA peak measured just before (wall clock); %%cpu: the same per "
           "CPU-second, which\n  time-slicing by other processes cannot change; %%bw: gather over the read "
           "bandwidth of the round\n");
    say(b, "  %5s %3s  %-24s %-24s %-20s %7s %6s %5s %8s %5s %5s %6s\n", "batch", "thr", "ptrain", "PyTorch",
        "ptrain/PyTorch", "GFLOP/s", "%peak", "%cpu", "gatherGB", "%bw", "wait", "update");
    for (int i = 0; i < b->n_cells; i++) {
        cell *x = &b->cells[i];
        series gf = {0}, gb = {0};
        for (int k = 0; k < x->rate.n; k++) {
            series_add(&gf, x->rate.v[k] * fs / 1e9);
            series_add(&gb, x->rate.v[k] * b->dim / 1e9);
        }
        row *r = add_row(b, "train_throughput", x->batch, x->threads, &x->rate, 1.0, "samples/s");
        if (r && x->ratio.n)
            set_ratio(r, "ptrain/pytorch", series_median(&x->ratio), series_min(&x->ratio),
                      series_max(&x->ratio));
        if (r && x->resets)
            snprintf(r->note, sizeof r->note, "diverged %d times: model reset", x->resets);
        char tgt[64] = "";
        if (r && x->batch == 64 && (x->threads == 1 || x->threads == 2) && x->ratio.n) {
            double want = x->threads == 1 ? 4.0 : 6.0;
            set_target(r, x->threads == 1 ? ">=4x pytorch" : ">=6x pytorch", r->r_med >= want);
            snprintf(tgt, sizeof tgt, "  target >=%gx: %s", want, r->r_med >= want ? "met" : "NOT MET");
        }
        add_row(b, "pytorch_throughput", x->batch, x->threads, &x->torch, 1.0, "samples/s");
        row *g = add_row(b, "train_gflops", x->batch, x->threads, &gf, 1.0, "GFLOP/s");
        set_ratio(g, "share_of_fma_peak", series_median(&x->share), series_min(&x->share),
                  series_max(&x->share));
        if (g)
            snprintf(g->note, sizeof g->note, "share: per repeat over the FMA peak measured just before");
        if (g && x->batch == 256 && x->threads == 1) {
            set_target(g, ">=0.40 of peak", g->r_med >= 0.40);
            snprintf(tgt, sizeof tgt, "  target >=40%% of peak: %s", g->r_med >= 0.40 ? "met" : "NOT MET");
        }
        row *c = add_row(b, "train_peak_share_per_cpu_second", x->batch, x->threads, &x->share_cpu, 1.0,
                         "share");
        if (c)
            snprintf(c->note, sizeof c->note, "GFLOP per CPU-second over the FMA peak per CPU-second");
        row *m = add_row(b, "gather_bandwidth", x->batch, x->threads, &gb, 1.0, "GB/s");
        set_ratio(m, "share_of_read_bandwidth", series_median(&x->share_bw), series_min(&x->share_bw),
                  series_max(&x->share_bw));
        add_row(b, "step_wait_share", x->batch, x->threads, &x->wait, 1.0, "share");
        add_row(b, "step_update_share", x->batch, x->threads, &x->update, 1.0, "share");

        char ratio[48] = "-";
        if (x->ratio.n)
            snprintf(ratio, sizeof ratio, "%.2fx [%.2f..%.2f]", series_median(&x->ratio),
                     series_min(&x->ratio), series_max(&x->ratio));
        say(b, "  %5d %3d  %-24s %-24s %-20s %7.1f %5.1f%% %4.0f%% %8.2f %4.1f%% %4.0f%% %5.0f%%%s\n",
            x->batch, x->threads, fmt_rates(s1, sizeof s1, &x->rate), fmt_rates(s2, sizeof s2, &x->torch),
            ratio, series_median(&gf), 100.0 * series_median(&x->share), 100.0 * series_median(&x->share_cpu),
            series_median(&gb), 100.0 * series_median(&x->share_bw), 100.0 * series_median(&x->wait),
            100.0 * series_median(&x->update), tgt);
    }
    if (!b->torch_ok || b->torch_why[0])
        say(b, "  PyTorch: %s\n", b->torch_why[0] ? b->torch_why : "not measured");
    say(b, "  wait/update: share of the pass waiting at the step's barriers / in the optimiser update.\n");
    {
        /* Which bound applies: compare the two shares at the largest batch, 1 thread. */
        cell *x = b->n_cells ? &b->cells[(b->n_cells / b->n_threads - 1) * b->n_threads] : NULL;
        if (x && x->rate.n) {
            double f = series_median(&x->share), m = series_median(&x->share_bw);
            say(b, "  Bound: %s (batch %d, %d thread%s: %.0f%% of the FMA peak, %.1f%% of the read bandwidth).\n",
                f > m ? "compute, not memory" : "memory bandwidth", x->batch, x->threads,
                x->threads == 1 ? "" : "s", 100 * f, 100 * m);
        }
    }

    /* Inference. */
    say(b, "\nInference: evaluation of the %s test images (samples/s, median [min..max] of %d)\n", "10 000",
        b->o.repeats);
    say(b, "  threads  samples/s                  GFLOP/s (%.0f FLOP per sample)  %%peak\n", ff);
    for (int i = 0; i < b->n_threads; i++) {
        series gf = {0};
        for (int k = 0; k < b->infer[i].n; k++)
            series_add(&gf, b->infer[i].v[k] * ff / 1e9);
        row *r = add_row(b, "inference_throughput", 0, b->threads[i], &b->infer[i], 1.0, "samples/s");
        if (r)
            set_ratio(r, "share_of_fma_peak", series_median(&b->infer_share[i]),
                      series_min(&b->infer_share[i]), series_max(&b->infer_share[i]));
        say(b, "  %7d  %-26s %-34.1f %.1f%%\n", b->threads[i], fmt_rates(s1, sizeof s1, &b->infer[i]),
            series_median(&gf), 100.0 * series_median(&b->infer_share[i]));
    }

    /* Epoch. */
    const pt_config *rc = &b->run_cfg;
    say(b, "\nFull epoch: one training pass over all 60 000 images, %s config (%s, batch %d, shard %d), "
           "validation 0\n", b->have_config ? b->o.config : "default tanh", pt_opt_names[rc->train.optimizer],
        rc->train.batch, rc->train.shard);
    say(b, "  threads  ms (median [min..max] of %d)   samples/s\n", b->o.repeats);
    for (int i = 0; i < b->n_threads; i++) {
        row *r = add_row(b, "epoch_seconds", rc->train.batch, b->threads[i], &b->epoch[i], 1.0, "s");
        char tgt[48] = "";
        if (r && b->threads[i] == 2) {
            set_target(r, "<0.035 s (aim)", r->med < 0.035);
            snprintf(tgt, sizeof tgt, "  aim < 35 ms: %s", r->med < 0.035 ? "met" : "NOT MET");
        }
        double med = series_median(&b->epoch[i]);
        say(b, "  %7d  %-30s %s%s\n", b->threads[i], fmt_range(s1, sizeof s1, &b->epoch[i], 1e3, "%.1f"),
            fmt_rate(s2, sizeof s2, 60000.0 / med), tgt);
    }

    /* Whole runs. */
    say(b, "\nWhole runs of the ptrain binary on the tanh config as users run it%s%s\n",
        b->runs_why[0] ? ": " : "", b->runs_why);
    series wall_t = {0}, train_t = {0}, ep_hit = {0}, rss = {0}, hwm = {0}, wall = {0}, total = {0},
           ep_s = {0}, facc = {0};
    long floor_kb = 0;
    int ok = 0, missed = 0;
    for (int i = 0; i < b->n_runs; i++) {
        const run_stats *r = &b->runs[i];
        if (!r->ok) {
            say(b, "  run %d failed: %s\n", i + 1, r->msg);
            continue;
        }
        ok++;
        series_add(&wall_t, r->wall_to_target);
        series_add(&train_t, r->train_to_target);
        if (r->epoch_hit)
            series_add(&ep_hit, r->epoch_hit);
        else
            missed++;
        series_add(&rss, (double)r->maxrss_kb * 1024.0 / 1e6);
        if (r->hwm_kb > 0)
            series_add(&hwm, (double)r->hwm_kb * 1024.0 / 1e6);
        floor_kb = r->parent_kb > floor_kb ? r->parent_kb : floor_kb;
        series_add(&wall, r->wall);
        series_add(&total, r->total_seconds);
        series_add(&ep_s, r->epoch_median);
        series_add(&facc, r->final_acc);
    }
    if (ok) {
        const run_stats *r0 = &b->runs[0];
        char note[200];
        snprintf(note, sizeof note, "%d runs; %d epochs each; spawn to the metrics.csv row", ok, r0->epochs);
        row *r = add_row(b, "time_to_94.5", 0, b->n_max, &wall_t, 1.0, "s");
        if (r) {
            set_target(r, "<0.5 s (aim)", r->med < 0.5);
            copy_note(r->note, sizeof r->note, note);
        }
        add_row(b, "train_time_to_94.5", 0, b->n_max, &train_t, 1.0, "s");
        add_row(b, "epochs_to_94.5", 0, b->n_max, &ep_hit, 1.0, "epochs");
        r = add_row(b, "peak_rss", 0, b->n_max, &rss, 1.0, "MB");
        if (r) {
            set_target(r, "<120 MB", r->hi < 120.0);
            snprintf(note, sizeof note, "wait4 ru_maxrss; the bench's own RSS at spawn (a floor) was %.1f MB",
                     (double)floor_kb * 1024.0 / 1e6);
            copy_note(r->note, sizeof r->note, note);
        }
        add_row(b, "peak_rss_vmhwm", 0, b->n_max, &hwm, 1.0, "MB");
        add_row(b, "run_wall_seconds", 0, b->n_max, &wall, 1.0, "s");
        add_row(b, "run_total_seconds", 0, b->n_max, &total, 1.0, "s");
        add_row(b, "run_epoch_seconds", 0, b->n_max, &ep_s, 1.0, "s");
        add_row(b, "run_final_test_acc", 0, b->n_max, &facc, 1.0, "fraction");
        say(b, "  %d runs of `%s -q %s run.threads=%d ...`, %d epochs each, final test accuracy %s %%\n", ok,
            b->o.ptrain, b->run_config, b->n_max, r0->epochs, fmt_range(s1, sizeof s1, &facc, 100.0, "%.2f"));
        if (wall_t.n)
            say(b, "  time to %.1f%% test accuracy, from spawn (data load included): %s ms, at epoch %s;"
                   " training time alone %s ms\n", 100 * TARGET_ACC,
                fmt_range(s2, sizeof s2, &wall_t, 1e3, "%.0f"), fmt_range(s3, sizeof s3, &ep_hit, 1.0, "%.0f"),
                fmt_range(s4, sizeof s4, &train_t, 1e3, "%.0f"));
        if (missed)
            say(b, "  %d of %d runs never reached %.1f%% (best test accuracy is in metrics.csv)\n", missed, ok,
                100 * TARGET_ACC);
        say(b, "  whole run: %s s wall (summary.json total_seconds %s s); epoch %s ms\n",
            fmt_range(s1, sizeof s1, &wall, 1.0, "%.2f"), fmt_range(s5, sizeof s5, &total, 1.0, "%.2f"),
            fmt_range(s3, sizeof s3, &ep_s, 1e3, "%.1f"));
        say(b, "  peak RSS %s MB (wait4 ru_maxrss; VmHWM polled %s MB; the bench itself held %.1f MB when "
               "it spawned the run, a floor of ru_maxrss)\n", fmt_range(s2, sizeof s2, &rss, 1.0, "%.1f"),
            fmt_range(s4, sizeof s4, &hwm, 1.0, "%.1f"), (double)floor_kb * 1024.0 / 1e6);
        int ti = b->n_threads - 1;
        if (b->run_peak.n && b->peak[ti].n) {
            double best = series_max(&b->peak[ti]), lo = series_min(&b->run_peak) / best;
            add_row(b, "run_fma_peak", 0, b->n_max, &b->run_peak, 1.0, "GFLOP/s");
            say(b, "  FMA peak on %d thread%s before and after each run: %.0f%%..%.0f%% of its best in the grid%s\n",
                b->n_max, b->n_max == 1 ? "" : "s", 100.0 * lo, 100.0 * series_max(&b->run_peak) / best,
                lo < 0.9 ? ": the cores were not always ours, the run figures are slower than this machine" : "");
        }
    }

    /* Targets. */
    say(b, "\nTargets\n");
    char v[64], t[64];
    for (int th = 1; th <= 2; th++) {
        cell *x = find_cell(b, 64, th);
        double want = th == 1 ? 4.0 : 6.0;
        char what[96];
        snprintf(what, sizeof what, "training throughput, batch 64, %d thread%s, vs PyTorch", th,
                 th == 1 ? "" : "s");
        snprintf(t, sizeof t, ">= %.0fx", want);
        if (!x || !x->ratio.n) {
            say_target(b, 2, what, !x ? "batch/threads not measured" : "PyTorch not measured", t);
            continue;
        }
        snprintf(v, sizeof v, "%.2fx (median of %d pairs)", series_median(&x->ratio), x->ratio.n);
        say_target(b, series_median(&x->ratio) >= want, what, v, t);
    }
    {
        cell *x = find_cell(b, 256, 1);
        int ti = thread_index(b, 1);
        if (!x || !x->share.n || ti < 0) {
            say_target(b, 2, "one core, batch 256: share of the measured FP32 FMA peak", "not measured", ">= 40%");
        } else {
            double sh = series_median(&x->share);
            snprintf(v, sizeof v, "%.1f%% (per CPU-second %.1f%%)", 100 * sh, 100 * series_median(&x->share_cpu));
            say_target(b, sh >= 0.40, "one core, batch 256: share of the measured FP32 FMA peak", v, ">= 40%");
        }
    }
    {
        int ti = thread_index(b, 2);
        if (ti < 0 || !b->epoch[ti].n) {
            say_target(b, 2, "full 60 000-image epoch, 2 threads", "not measured", "< 35 ms (aim)");
        } else {
            double e = series_median(&b->epoch[ti]);
            snprintf(v, sizeof v, "%.1f ms", 1e3 * e);
            say_target(b, e < 0.035, "full 60 000-image epoch, 2 threads", v, "< 35 ms (aim)");
        }
    }
    if (wall_t.n) {
        snprintf(v, sizeof v, "%.0f ms", 1e3 * series_median(&wall_t));
        say_target(b, series_median(&wall_t) < 0.5, "time to 94.5% test accuracy, data load included", v,
                   "< 0.5 s (aim)");
    } else {
        say_target(b, 2, "time to 94.5% test accuracy, data load included",
                   ok ? "not reached" : "not measured", "< 0.5 s (aim)");
    }
    if (rss.n) {
        snprintf(v, sizeof v, "%.1f MB (max of %d runs)", series_max(&rss), rss.n);
        say_target(b, series_max(&rss) < 120.0, "peak resident memory of a full training run", v, "< 120 MB");
    } else {
        say_target(b, 2, "peak resident memory of a full training run", "not measured", "< 120 MB");
    }
}

/* ---- the measurements, in the order main runs them ----------------------- */

/* The training grid (with the machine peaks interleaved) and inference. */
static int measure_grid(bench *b, const pt_setup *su, pt_err *err)
{
    const opts *o = &b->o;
    int rc = -1;
    float *bwbuf = NULL;
    int *order = malloc((size_t)su->n_train * sizeof *order);
    b->n_cells = o->n_batches * b->n_threads;
    b->cells = calloc((size_t)b->n_cells, sizeof *b->cells);
    if (!b->cells || !order) {
        pt_fail(err, "out of memory");
        goto done;
    }
    memcpy(order, su->train_idx, (size_t)su->n_train * sizeof *order);
    pt_rng shuffle;
    pt_rng_seed(&shuffle, b->cfg.train.seed, PT_STREAM_SHUFFLE);

    /* A trainer per (batch, threads), each warmed up by one pass. */
    progress("warming up %d trainers", b->n_cells);
    for (int i = 0; i < b->n_cells; i++) {
        cell *x = &b->cells[i];
        x->batch = o->batches[i / b->n_threads];
        x->ti = i % b->n_threads;
        x->threads = b->threads[x->ti];
        if (cell_create(x, &b->cfg, su, b->place[x->ti], err))
            goto done;
        double w, r, c;
        measure_train(x, &su->model, order, su->n_train, &shuffle, 0.0, &w, &r, &c);
        if (pt_trainer_warning(x->tr)[0] && !b->pin_warning[0])
            snprintf(b->pin_warning, sizeof b->pin_warning, "%s", pt_trainer_warning(x->tr));
    }

    /* The bandwidth buffer, first touched by the pinned threads; then
     * iterations and passes for about a third of min_time each. */
    const size_t bw_n = BW_BYTES / sizeof(float);
    bwbuf = aligned_alloc(PT_ALIGN, BW_BYTES);
    if (!bwbuf) {
        pt_fail(err, "out of memory for the %zu-byte bandwidth buffer", BW_BYTES);
        goto done;
    }
    pt_placement *widest = b->place[b->n_threads - 1];
    const int nt = b->n_max;
#pragma omp parallel num_threads(nt)
    {
        int tid = omp_get_thread_num();
        pin_self(b, widest, tid);
        size_t lo, hi;
        slice(bw_n, nt, tid, &lo, &hi);
        for (size_t i = lo; i < hi; i++)
            bwbuf[i] = 1.0f;
    }
    const double window = o->min_time / 3.0 > 0.03 ? o->min_time / 3.0 : 0.03;
    double g = fma_peak(b, b->place[0], 1, 1L << 18, NULL); /* GFLOP/s of one thread */
    long fma_iters = (long)(window * g * 1e9 / (FMA_CHAINS * FVEC_LANES * 2.0));
    fma_iters = fma_iters < 1000 ? 1000 : fma_iters;
    b->fma_iters = fma_iters;
    double gbs = read_bw(b, b->place[0], 1, bwbuf, bw_n, 1);
    int bw_passes = (int)ceil(window * gbs * 1e9 / (double)BW_BYTES);
    bw_passes = bw_passes < 1 ? 1 : bw_passes;

    /* Rounds: the read bandwidth per thread count, then every cell as the
     * FMA peak on its threads, A (ptrain), B (PyTorch). The shares pair a
     * training measurement with the peak taken just before it, under the same
     * load; per CPU-second they do not depend on time-slicing at all. */
    const double flop = 2.0 * b->macs_step;
    for (int r = 0; r < o->repeats; r++) {
        double bw_now[MAX_LIST];
        for (int i = 0; i < b->n_threads; i++) {
            bw_now[i] = read_bw(b, b->place[i], b->threads[i], bwbuf, bw_n, bw_passes);
            series_add(&b->bw[i], bw_now[i]);
        }
        if (b->ping_ti >= 0)
            series_add(&b->ping, pt_placement_round_trip_ns(b->place[b->ping_ti], 0, 1, PING_ROUNDS));
        for (int i = 0; i < b->n_cells; i++) {
            cell *x = &b->cells[i];
            double w = 0, red = 0, peak_cpu = 0, rate_cpu = 0;
            double peak = fma_peak(b, b->place[x->ti], x->threads, fma_iters, &peak_cpu);
            series_add(&b->peak[x->ti], peak);
            double rate = measure_train(x, &su->model, order, su->n_train, &shuffle, o->min_time, &w, &red,
                                        &rate_cpu);
            series_add(&x->rate, rate);
            series_add(&x->share, rate * flop / 1e9 / peak);
            series_add(&x->share_cpu, rate_cpu * flop / 1e9 / peak_cpu);
            series_add(&x->share_bw, rate * b->dim / 1e9 / bw_now[x->ti]);
            series_add(&x->wait, w);
            series_add(&x->update, red);
            char r1[16], r2[16] = "-";
            double tr = NAN;
            if (b->torch_ok) {
                char why[600];
                if (torch_run(b, x->batch, x->threads, &tr, why, sizeof why) == 0) {
                    series_add(&x->torch, tr);
                    if (isfinite(rate))
                        series_add(&x->ratio, rate / tr);
                } else {
                    b->torch_ok = 0;
                    snprintf(b->torch_why, sizeof b->torch_why, "%.500s; PyTorch skipped from then on", why);
                    progress("%s", b->torch_why);
                }
            }
            progress("round %d/%d  batch %3d  %d thread%s  ptrain %s/s  PyTorch %s/s", r + 1, o->repeats,
                     x->batch, x->threads, x->threads == 1 ? " " : "s", fmt_rate(r1, sizeof r1, rate),
                     fmt_rate(r2, sizeof r2, tr));
        }
    }

    /* Inference on the test set with the batch-64 (or first) cell's model,
     * also paired with an FMA peak measured just before. */
    progress("inference");
    for (int r = 0; r < o->repeats; r++)
        for (int i = 0; i < b->n_threads; i++) {
            cell *x = find_cell(b, 64, b->threads[i]);
            x = x ? x : &b->cells[i];
            double peak = fma_peak(b, b->place[i], b->threads[i], fma_iters, NULL);
            double loss, acc, t0 = now(), dt;
            long k = 0;
            do {
                pt_trainer_evaluate(x->tr, &su->test_set, su->test_idx, su->n_test, &loss, &acc, NULL);
                k++;
            } while ((dt = now() - t0) < o->min_time);
            double rate = (double)k * (double)su->n_test / dt;
            series_add(&b->infer[i], rate);
            series_add(&b->infer_share[i], rate * 2.0 * b->macs_fwd / 1e9 / peak);
        }
    rc = 0;
done:
    for (int i = 0; b->cells && i < b->n_cells; i++)
        cell_free(&b->cells[i]);
    free(bwbuf);
    free(order);
    return rc;
}

/* Full epochs with the tanh config as users run it (validation 0): one
 * training pass over all 60 000 images per repeat, thread counts alternating. */
static int measure_epochs(bench *b, pt_err *err)
{
    progress("full epochs");
    pt_setup su;
    if (pt_setup_load(&su, &b->run_cfg, err))
        return -1;
    int rc = -1, made = 0;
    cell *ep = calloc((size_t)b->n_threads, sizeof *ep);
    int *order = malloc((size_t)su.n_train * sizeof *order);
    if (!ep || !order) {
        pt_fail(err, "out of memory");
        goto done;
    }
    memcpy(order, su.train_idx, (size_t)su.n_train * sizeof *order);
    pt_rng shuffle;
    pt_rng_seed(&shuffle, b->run_cfg.train.seed, PT_STREAM_SHUFFLE);
    for (; made < b->n_threads; made++) {
        ep[made].batch = b->run_cfg.train.batch;
        ep[made].threads = b->threads[made];
        if (cell_create(&ep[made], &b->run_cfg, &su, b->place[made], err)) {
            made++; /* partly created: freed below */
            goto done;
        }
        pt_pass_stats st;
        pt_rng_shuffle(&shuffle, order, (int)su.n_train);
        pt_trainer_pass(ep[made].tr, order, su.n_train, &st); /* warm-up */
    }
    for (int r = 0; r < b->o.repeats; r++)
        for (int i = 0; i < b->n_threads; i++) {
            if (i == 0 && b->ping_ti >= 0)
                series_add(&b->ping_epoch, pt_placement_round_trip_ns(b->place[b->ping_ti], 0, 1, PING_ROUNDS));
            pt_pass_stats st;
            pt_rng_shuffle(&shuffle, order, (int)su.n_train);
            if (pt_trainer_pass(ep[i].tr, order, su.n_train, &st) == 0) {
                series_add(&b->epoch[i], st.seconds);
            } else { /* diverged: start again from the initial weights */
                memcpy(ep[i].model.params, su.model.params, su.model.n_params * sizeof(float));
                pt_optim_reset(&ep[i].opt);
                ep[i].resets++;
            }
        }
    rc = 0;
done:
    for (int i = 0; ep && i < made; i++)
        cell_free(&ep[i]);
    free(ep);
    free(order);
    pt_setup_free(&su);
    return rc;
}

/* Whole `ptrain` runs: peak memory and time to accuracy. */
static int measure_runs(bench *b, metrics *mbuf, pt_err *err)
{
    const opts *o = &b->o;
    if (o->no_runs) {
        snprintf(b->runs_why, sizeof b->runs_why, "skipped (--no-runs)");
        return 0;
    }
    if (access(o->ptrain, X_OK) != 0) {
        snprintf(b->runs_why, sizeof b->runs_why, "skipped: %.300s is not an executable (%s; run `make` first)",
                 o->ptrain, strerror(errno));
        return 0;
    }
    if (b->have_config)
        snprintf(b->run_config, sizeof b->run_config, "%s", o->config);
    else if (write_default_config(b, err))
        return -1;
    b->run_epochs_cap = o->quick && b->run_cfg.train.epochs > 5 ? 5 : 0;
    b->n_runs = o->quick ? 2 : o->repeats;
    if (b->run_epochs_cap)
        snprintf(b->runs_why, sizeof b->runs_why, "--quick: epochs capped at %d", b->run_epochs_cap);
    /* The FMA peak on the runs' threads before and after each run tells
     * whether the cores were ours while the runs went. */
    pt_placement *p = b->place[b->n_threads - 1];
    for (int i = 0; i < b->n_runs; i++) {
        progress("whole run %d/%d", i + 1, b->n_runs);
        if (b->fma_iters)
            series_add(&b->run_peak, fma_peak(b, p, b->n_max, b->fma_iters, NULL));
        if (b->ping_ti >= 0)
            series_add(&b->ping_runs, pt_placement_round_trip_ns(b->place[b->ping_ti], 0, 1, PING_ROUNDS));
        run_ptrain(b, i, &b->runs[i], mbuf);
    }
    if (b->fma_iters)
        series_add(&b->run_peak, fma_peak(b, p, b->n_max, b->fma_iters, NULL));
    if (b->ping_ti >= 0)
        series_add(&b->ping_runs, pt_placement_round_trip_ns(b->place[b->ping_ti], 0, 1, PING_ROUNDS));
    return 0;
}

/* ---- main ----------------------------------------------------------------- */

static void warn_if(bench *b, const char *msg)
{
    if (msg && msg[0])
        say(b, "warning: %s\n", msg);
}

int main(int argc, char **argv)
{
    omp_set_dynamic(0);
    bench *b = calloc(1, sizeof *b);
    metrics *mbuf = calloc(1, sizeof *mbuf);
    if (!b || !mbuf) {
        fputs("ptrain-bench: out of memory\n", stderr);
        return 1;
    }
    int rc = parse_args(argc, argv, &b->o);
    if (rc)
        return rc > 0 ? 0 : 2;
    const opts *o = &b->o;
    b->t_start = now();
    cpu_sample cpu0, cpu1;
    int have_cpu = cpu_sample_take(&cpu0) == 0;
    pt_err err = {{0}};
    pt_setup su;
    memset(&su, 0, sizeof su);
    rc = 1;

    if (load_configs(b, &err) || open_output(b, &err))
        goto fail;

    /* Thread counts: the list given, else 1..allowed PUs (powers of two past 8). */
    pt_placement *probe = NULL;
    if (pt_placement_create(&probe, b->cfg.run.bind, 1, NULL, &err))
        goto fail;
    b->n_pus = pt_placement_n_pus(probe);
    pt_placement_free(probe);
    if (o->n_threads) {
        /* As ptrain: no more workers than allowed PUs unless run.oversubscribe. */
        for (int i = 0; i < o->n_threads; i++)
            if (o->threads[i] <= b->n_pus || b->cfg.run.oversubscribe)
                b->threads[b->n_threads++] = o->threads[i];
        if (b->n_threads < o->n_threads)
            progress("thread counts above the %d allowed PUs left out, as ptrain would run them on %d "
                     "workers (--set run.oversubscribe=true measures them)", b->n_pus, b->n_pus);
        if (b->n_threads == 0) {
            pt_fail(&err, "--threads: every count is above the %d allowed PUs", b->n_pus);
            goto fail;
        }
    } else {
        for (int t = 1; t <= b->n_pus && b->n_threads < MAX_LIST; t = t < 8 ? t + 1 : 2 * t)
            b->threads[b->n_threads++] = t;
        if (b->threads[b->n_threads - 1] != b->n_pus && b->n_threads < MAX_LIST)
            b->threads[b->n_threads++] = b->n_pus;
    }
    b->n_max = b->threads[b->n_threads - 1];
    for (int i = 0; i < b->n_threads; i++)
        if (pt_placement_create(&b->place[i], b->cfg.run.bind, b->threads[i], NULL, &err))
            goto fail;
    /* The round trip needs two threads on two different PUs. */
    b->ping_ti = -1;
    for (int i = 0; i < b->n_threads && b->ping_ti < 0; i++)
        if (b->threads[i] >= 2 && pt_placement_get(b->place[i], 0)->pu >= 0 &&
            pt_placement_get(b->place[i], 0)->pu != pt_placement_get(b->place[i], 1)->pu)
            b->ping_ti = i;

    /* Header. */
    cpu_model(b->cpu, sizeof b->cpu);
    char stamp[32], load[64] = "?";
    time_t tnow = time(NULL);
    strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", localtime(&tnow));
    char *la = read_text("/proc/loadavg", 256, NULL);
    if (la)
        sscanf(la, "%63s", load);
    free(la);
    say(b, "ptrain-bench %s (commit %s, gcc %s)  %s\n", PT_VERSION, PT_GIT_REV, __VERSION__, stamp);
    say(b, "command:  ");
    for (int i = 0; i < argc; i++)
        say(b, "%s%s", i ? " " : "", argv[i]);
    say(b, "\nmachine:  %s; %d allowed PUs; bind %s; load average %s at start\n", b->cpu, b->n_pus,
        pt_bind_names[b->cfg.run.bind], load);
    {
        const pt_placement *p = b->place[b->n_threads - 1];
        say(b, "pinning:  ");
        for (int t = 0; t < pt_placement_n_threads(p); t++) {
            const pt_binding *bd = pt_placement_get(p, t);
            say(b, "%sthread %d -> PU %d (core %d)", t ? ", " : "", t, bd->pu, bd->core);
        }
        say(b, "\n");
    }
    if (b->n_max > b->n_pus)
        say(b, "warning: %d threads on %d PUs: threads share cores\n", b->n_max, b->n_pus);
    if (!b->have_config)
        say(b, "NOTE: %s does not exist: the tanh figures use the defaults with model.activation = tanh\n",
            o->config);
    const pt_config *c = &b->cfg;
    say(b, "config:   %s, with the PyTorch peer's step: %s (momentum %g) lr %g %s; shard %d; preprocess %s\n",
        b->have_config ? o->config : "defaults", pt_opt_names[c->train.optimizer], c->train.momentum,
        c->train.lr, pt_sched_names[c->train.schedule], c->train.shard, pt_prep_names[c->data.preprocess]);
    for (int i = 0; i < o->n_sets; i++)
        say(b, "          --set %s\n", o->sets[i]);
    say(b, "repeats:  %d per figure (median [min..max]); ptrain >= %.2f s of training per measurement; "
           "PyTorch %d steps per measurement%s\n", o->repeats, o->min_time, o->torch_steps,
        o->quick ? "; --quick" : "");
    say(b, "output:   %s/\n", b->out);
    if (o->repeats < 2)
        say(b, "warning: --repeats 1: single measurements, no medians\n");

    /* Data and the step's model. */
    progress("loading data");
    if (pt_setup_load(&su, &b->cfg, &err))
        goto fail;
    b->dim = su.train_set.dim;
    count_macs(&su.model, &b->macs_step, &b->macs_fwd);
    say(b, "step:     %d", su.model.layer[0].in);
    for (int l = 0; l < su.model.n_layers; l++)
        say(b, "-%d", su.model.layer[l].out);
    say(b, " %s, %ld training images in memory (uint8), %ld test images\n",
        pt_act_names[b->cfg.model.activation], su.n_train, su.n_test);

    torch_probe(b);
    if (b->torch_ok)
        say(b, "PyTorch:  %s via %s %s; %s\n", b->torch_version, o->python, o->torch_script, b->torch_blas);
    else
        say(b, "PyTorch:  %s\n", b->torch_why);
    fflush(stdout);

    if (measure_grid(b, &su, &err) || measure_epochs(b, &err))
        goto fail;
    pt_setup_free(&su);
    if (measure_runs(b, mbuf, &err))
        goto fail;

    if (have_cpu && cpu_sample_take(&cpu1) == 0 && cpu1.total > cpu0.total) {
        double other = (cpu1.busy - cpu0.busy) - (cpu1.ours - cpu0.ours);
        b->other_cpu = other > 0 ? other / (cpu1.total - cpu0.total) : 0.0;
    }
    warn_if(b, b->pin_warning);
    report(b);
    say(b, "\nNoise: other processes in this machine (and the steal the hypervisor reports) used %.0f%% of "
           "its CPU time during the bench.\n", 100.0 * b->other_cpu);
    for (int i = 0; i < b->n_threads; i++)
        if (b->peak[i].n)
            say(b, "  The FMA peak, a pure compute loop, ran at %.0f%%..100%% of its best on %d thread%s%s\n",
                100.0 * series_min(&b->peak[i]) / series_max(&b->peak[i]), b->threads[i],
                b->threads[i] == 1 ? "" : "s",
                series_min(&b->peak[i]) < 0.9 * series_max(&b->peak[i])
                    ? ": the cores were not always ours (interference from outside this machine is not "
                      "in the figure above)" : "");
    {
        series all = b->ping;
        for (int i = 0; i < b->ping_epoch.n; i++)
            series_add(&all, b->ping_epoch.v[i]);
        for (int i = 0; i < b->ping_runs.n; i++)
            series_add(&all, b->ping_runs.v[i]);
        if (all.n && series_max(&all) > 2.0 * series_min(&all))
            say(b, "  The cache-line round trip between the two PUs went from %.0f to %.0f ns: the hypervisor "
                   "moved our vCPUs\n  onto cores that share no cache for a while, and every multi-thread "
                   "figure measured then is slower\n  (see core_round_trip* in bench.csv; 1-thread figures are "
                   "not affected).\n", series_min(&all), series_max(&all));
    }
    if (write_csv(b, &err))
        goto fail;
    char pmsg[700] = "";
    int drawn = write_plot(b, pmsg, sizeof pmsg);
    say(b, "\nfiles:    %s/bench.csv (%d rows), %s/bench.txt, %s/bench.gp%s%s, runs in %s/runs/\n", b->out,
        b->n_rows, b->out, b->out, drawn == 0 ? ", " : "", drawn == 0 ? "bench.png" : "", b->out);
    if (drawn != 0)
        say(b, "plot:     %s\n", pmsg);
    say(b, "took %.1f s\n", now() - b->t_start);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "ptrain-bench: %s\n", err.msg);
    if (b->txt)
        fprintf(b->txt, "error: %s\n", err.msg);
done:
    pt_setup_free(&su);
    for (int i = 0; i < b->n_threads; i++)
        pt_placement_free(b->place[i]);
    if (b->torch_env) {
        for (char **e = b->torch_env; *e; e++)
            if (!strncmp(*e, "LD_LIBRARY_PATH=", 16))
                free(*e);
        free(b->torch_env);
    }
    if (b->txt)
        fclose(b->txt);
    free(b->cells);
    free(mbuf);
    free(b);
    return rc;
}
