/* main.c: the ptrain command line. Parses global options, dispatches to a
 * subcommand, and owns the console: every message a user sees is printed
 * here or in the cmd_*.c files, never in the library. */
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pt_cli.h"
#include "pt_placement.h"

#ifndef PT_GIT_REV
#define PT_GIT_REV "unknown"
#endif

static const char USAGE[] =
    "usage: ptrain [options] [train] CONFIG [section.key=value ...]\n"
    "       ptrain [options] plot RUN_DIR...\n"
    "       ptrain [options] scale CONFIG [--threads 1,2,4] [--repeat N] [--steps N] [--warmup N]\n"
    "                      [--name NAME] [--no-ceiling] [section.key=value ...]\n"
    "       ptrain [options] compare CONFIG... [--seeds N] [--name NAME] [section.key=value ...]\n"
    "       ptrain [options] sweep CONFIG [--name NAME] [--jobs N] [section.key=value ...]\n"
    "       ptrain keys\n"
    "\n"
    "commands:\n"
    "  train    train a network from an INI config (the default command)\n"
    "  plot     redraw a run's pictures from its metrics.csv\n"
    "  scale    core-scaling experiment: throughput, speedup, time per phase, bit-identity check\n"
    "  compare  train each config with seeds 1..N (default 3): mean ± std table and curves\n"
    "  sweep    run the grid of a config's [sweep] section: leaderboard, best.ini, plot;\n"
    "           rerunning skips finished points; --jobs N runs N processes at once\n"
    "  keys     print every config key with its default and meaning\n"
    "\n"
    "options:\n"
    "  -v, --verbose   more detail (thread placement map)\n"
    "  -q, --quiet     only errors and the final line\n"
    "  -h, --help      this text\n"
    "      --version   version, commit and compiler\n"
    "\n"
    "Overrides: any `section.key=value` after the config, e.g. train.lr=0.05 train.epochs=3.\n"
    "Environment: OMP_NUM_THREADS (threads when run.threads=0), PTRAIN_BIND (overrides run.bind).\n"
    "Exit status: 0 done, 1 the run failed (e.g. diverged), 2 bad usage or config, 3 bad input data\n"
    "or an unwritable results folder.\n";

void pt_cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ptrain: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int pt_cli_parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        pt_cli_error("%s '%s': expected an integer in [%ld, %ld]", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int pt_cli_load_config(pt_config *cfg, const char *path, int n_overrides, char **overrides)
{
    pt_err err = {{0}};
    pt_config_defaults(cfg);
    if (pt_config_load(cfg, path, &err)) {
        pt_cli_error("%s", err.msg);
        return -1;
    }
    for (int i = 0; i < n_overrides; i++) {
        char origin[48];
        snprintf(origin, sizeof origin, "command line argument %d", i + 1);
        if (pt_config_override(cfg, overrides[i], origin, &err)) {
            pt_cli_error("%s", err.msg);
            return -1;
        }
    }
    const char *bind = getenv("PTRAIN_BIND");
    if (bind && *bind && pt_config_set(cfg, "run", "bind", bind, "environment PTRAIN_BIND", &err)) {
        pt_cli_error("%s", err.msg);
        return -1;
    }
    if (pt_config_validate(cfg, &err)) {
        pt_cli_error("%s", err.msg);
        return -1;
    }
    return 0;
}

/* ---- console hooks ------------------------------------------------------ */

typedef struct console {
    const pt_cli *cli;
    int tty;           /* stderr is a terminal: draw an in-epoch progress line */
    int progress_shown;
} console;

static void fmt_rate(char *buf, size_t size, double per_sec)
{
    if (per_sec >= 1e6)
        snprintf(buf, size, "%.2fM", per_sec / 1e6);
    else
        snprintf(buf, size, "%.0fk", per_sec / 1e3);
}

static void on_start(void *ctx, const pt_config *cfg, const pt_run_info *info)
{
    console *c = ctx;
    if (c->cli->quiet)
        return;
    char arch[256] = "";
    size_t len = 0;
    len += (size_t)snprintf(arch + len, sizeof arch - len, "%d", info->dim);
    for (int l = 0; l < cfg->model.n_hidden && len < sizeof arch; l++)
        len += (size_t)snprintf(arch + len, sizeof arch - len, "-%d", cfg->model.hidden[l]);
    if (len < sizeof arch)
        snprintf(arch + len, sizeof arch - len, "-%d", info->n_classes);
    printf("ptrain %s: %s -> %s/\n", PT_VERSION, cfg->source[0] ? cfg->source : "(defaults)",
           info->dir);
    printf("data:    %ld train, %ld validation, %ld test; %d features, %d classes; preprocess %s",
           info->n_train, info->n_val, info->n_test, info->dim, info->n_classes,
           pt_prep_names[cfg->data.preprocess]);
    if (cfg->data.preprocess == PT_PREP_STANDARDIZE)
        printf(" (mean %.4f, std %.4f)", info->prep_mean, info->prep_std);
    printf("\nmodel:   %s %s, %s output, init %s, %zu parameters\n", arch,
           pt_act_names[cfg->model.activation], pt_out_names[cfg->model.output],
           pt_init_names[cfg->model.init], info->n_params);
    printf("train:   %s lr %g (%s), batch %d in shards of %d, %d epochs, seed %llu\n",
           pt_opt_names[cfg->train.optimizer], cfg->train.lr, pt_sched_names[cfg->train.schedule],
           cfg->train.batch, cfg->train.shard < cfg->train.batch ? cfg->train.shard : cfg->train.batch,
           cfg->train.epochs, (unsigned long long)cfg->train.seed);
    printf("threads: %d", info->threads);
    if (info->threads_requested != info->threads)
        printf(" (of %d requested)", info->threads_requested);
    printf(", bind %s, %d allowed PU%s\n", pt_bind_names[cfg->run.bind], info->n_pus,
           info->n_pus == 1 ? "" : "s");
    if (c->cli->verbose && info->placement)
        pt_placement_print(info->placement, stdout);
    fflush(stdout);
}

static void clear_progress(console *c)
{
    if (c->progress_shown) {
        fputs("\r\033[K", stderr);
        c->progress_shown = 0;
    }
}

static void on_epoch(void *ctx, const pt_config *cfg, const pt_epoch_metrics *m,
                     const pt_pass_stats *pass)
{
    console *c = ctx;
    (void)pass;
    clear_progress(c);
    if (c->cli->quiet)
        return;
    char rate[32];
    fmt_rate(rate, sizeof rate, m->samples_per_sec);
    printf("epoch %3d/%d  train %.4f %6.2f%%", m->epoch, cfg->train.epochs, m->train_loss,
           100 * m->train_acc);
    if (m->val_loss == m->val_loss)
        printf("  val %.4f %6.2f%%", m->val_loss, 100 * m->val_acc);
    printf("  test %.4f %6.2f%%  lr %.3g  %.3fs  %s samples/s\n", m->test_loss, 100 * m->test_acc,
           m->lr, m->seconds, rate);
    fflush(stdout);
}

static void on_progress(void *ctx, int epoch, long done, long total)
{
    console *c = ctx;
    if (!c->tty || c->cli->quiet)
        return;
    fprintf(stderr, "\r  epoch %d: %3ld%%", epoch, total > 0 ? 100 * done / total : 0);
    c->progress_shown = 1;
}

static void on_warning(void *ctx, const char *msg)
{
    console *c = ctx;
    clear_progress(c);
    fprintf(stderr, "ptrain: warning: %s\n", msg);
}

pt_run_hooks pt_cli_run_hooks(const pt_cli *cli)
{
    static console c; /* one run at a time per process */
    c = (console){.cli = cli, .tty = isatty(STDERR_FILENO)};
    return (pt_run_hooks){&c, on_start, on_epoch, on_progress, on_warning};
}

/* ---- commands ------------------------------------------------------------ */

int pt_cmd_train(const pt_cli *cli, int argc, char **argv)
{
    if (argc < 1) {
        fputs(USAGE, stderr);
        return PT_EXIT_USAGE;
    }
    pt_config cfg;
    if (pt_cli_load_config(&cfg, argv[0], argc - 1, argv + 1))
        return PT_EXIT_USAGE;
    pt_run_hooks hooks = pt_cli_run_hooks(cli);
    pt_run_result res;
    pt_err err = {{0}};
    int rc = pt_run_train(&cfg, &hooks, &res, &err);
    if (rc < 0) {
        pt_cli_error("%s", err.msg);
        if (res.dir[0])
            fprintf(stderr, "ptrain: the run folder %s/ is marked failed\n", res.dir);
        return PT_EXIT_INPUT;
    }
    if (rc > 0) {
        pt_cli_error("%s", res.message);
        fprintf(stderr, "ptrain: results so far are in %s/ (summary.json says status failed)\n",
                res.dir);
        return PT_EXIT_FAILED;
    }
    const pt_epoch_metrics *f = &res.final, *b = &res.best;
    printf("done in %.2fs (training %.2fs, %d thread%s, peak memory %.1f MB): test accuracy %.2f%%",
           res.total_seconds, res.train_seconds, res.threads, res.threads == 1 ? "" : "s",
           res.peak_rss_kb / 1024.0, 100 * f->test_acc);
    if (b->val_acc == b->val_acc)
        printf(", best validation %.2f%% at epoch %d", 100 * b->val_acc, b->epoch);
    printf("\nresults: %s/\n", res.dir);
    return PT_EXIT_OK;
}

int pt_cmd_plot(const pt_cli *cli, int argc, char **argv)
{
    (void)cli;
    if (argc < 1) {
        pt_cli_error("plot needs at least one run folder, e.g. `ptrain plot results/tanh`");
        return PT_EXIT_USAGE;
    }
    int rc = PT_EXIT_OK;
    for (int i = 0; i < argc; i++) {
        pt_err err = {{0}};
        int drawn = pt_results_plot(argv[i], &err);
        if (drawn == 1) {
            pt_cli_error("gnuplot is not installed (make deps installs it): nothing drawn; the data "
                         "files in %s/ are unchanged", argv[i]);
            return PT_EXIT_FAILED;
        }
        if (drawn < 0) {
            pt_cli_error("%s", err.msg);
            rc = PT_EXIT_INPUT;
        } else if (!cli->quiet) {
            printf("drew the pictures of %s/ (plot.gp lists them)\n", argv[i]);
        }
    }
    return rc;
}

static int cmd_keys(const pt_cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    pt_config_write_reference(stdout);
    return PT_EXIT_OK;
}

typedef struct command {
    const char *name;
    int (*run)(const pt_cli *cli, int argc, char **argv);
} command;

static const command COMMANDS[] = {
    {"train", pt_cmd_train},
    {"plot", pt_cmd_plot},
    {"scale", pt_cmd_scale},
    {"compare", pt_cmd_compare},
    {"sweep", pt_cmd_sweep},
    {"keys", cmd_keys},
};

int main(int argc, char **argv)
{
    pt_cli cli = {0};
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-v") || !strcmp(a, "--verbose"))
            cli.verbose = 1;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet"))
            cli.quiet = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return PT_EXIT_OK;
        } else if (!strcmp(a, "--version")) {
            printf("ptrain %s (commit %s, %s, OpenMP %d)\n", PT_VERSION, PT_GIT_REV, __VERSION__,
                   _OPENMP);
            return PT_EXIT_OK;
        } else {
            pt_cli_error("unknown option '%s'\n%s", a, USAGE);
            return PT_EXIT_USAGE;
        }
    }
    if (i >= argc) {
        fputs(USAGE, stderr);
        return PT_EXIT_USAGE;
    }
    /* Fixed team sizes: the runtime must not shrink a team behind our back. */
    omp_set_dynamic(0);
    for (size_t c = 0; c < PT_ARRAY_LEN(COMMANDS); c++)
        if (!strcmp(argv[i], COMMANDS[c].name))
            return COMMANDS[c].run(&cli, argc - i - 1, argv + i + 1);
    /* No command word: `ptrain CONFIG ...` trains, if it looks like a file. */
    if (access(argv[i], F_OK) == 0 || strchr(argv[i], '.') || strchr(argv[i], '/'))
        return pt_cmd_train(&cli, argc - i, argv + i);
    pt_cli_error("unknown command '%s' (commands: train, plot, scale, compare, sweep, keys; "
                 "see ptrain --help)", argv[i]);
    return PT_EXIT_USAGE;
}
