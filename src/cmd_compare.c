/* cmd_compare.c: `ptrain compare CONFIG... [--seeds N] [--name NAME] [section.key=value ...]`:
 * trains every config with seeds 1..N, one run after another with all the config's threads,
 * into <results_dir>/<name>/runs/, then writes compare.csv, compare.md, the curves and
 * loss.png / accuracy.png from the run folders (experiments.c computes, plot.c draws). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pt_cli.h"
#include "pt_experiments.h"

enum { MAX_CONFIGS = 32, MAX_SEEDS = 1000, MAX_OVERRIDES = 256 };

#define TARGET_ACC 0.95   /* "epochs to 95 %" */

static const char COMPARE_USAGE[] =
    "usage: ptrain compare CONFIG... [--seeds N] [--name NAME] [section.key=value ...]";

/* The command line as typed, for compare.md. */
static void join_command(char *out, size_t size, int argc, char **argv)
{
    size_t len = (size_t)snprintf(out, size, "ptrain compare");
    for (int i = 0; i < argc && len < size; i++)
        len += (size_t)snprintf(out + len, size - len, " %s", argv[i]);
}

static void print_row(const pt_compare_row *r)
{
    printf("  %-12s %-8s test accuracy %6.2f%% ± %.2f (best %.2f%%), test loss %.4f, train loss "
           "%.4f, %.1f test errors, %.3f s/epoch",
           r->label, r->activation, 100 * r->final_test_acc.mean, 100 * r->final_test_acc.std,
           100 * r->best_test_acc.mean, r->final_test_loss.mean, r->final_train_loss.mean,
           r->test_errors.mean, r->seconds_per_epoch.mean);
    if (r->n_complete < r->n_runs)
        printf(" (%d of %d seeds completed)", r->n_complete, r->n_runs);
    putchar('\n');
}

int pt_cmd_compare(const pt_cli *cli, int argc, char **argv)
{
    const char *paths[MAX_CONFIGS], *name = NULL;
    char *overrides[MAX_OVERRIDES];
    int n_configs = 0, n_overrides = 0, seeds = 3;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--seeds") && i + 1 < argc) {
            long v;
            if (pt_cli_parse_long(a, argv[++i], 1, MAX_SEEDS, &v))
                return PT_EXIT_USAGE;
            seeds = (int)v;
        } else if (!strcmp(a, "--name") && i + 1 < argc) {
            name = argv[++i];
        } else if (a[0] == '-' && a[1] == '-') {
            pt_cli_error("compare: unknown or incomplete option '%s' (options: --seeds N, --name "
                         "NAME)\n%s", a, COMPARE_USAGE);
            return PT_EXIT_USAGE;
        } else if (strchr(a, '=')) {
            if (n_overrides == MAX_OVERRIDES) {
                pt_cli_error("compare: more than %d overrides", MAX_OVERRIDES);
                return PT_EXIT_USAGE;
            }
            overrides[n_overrides++] = argv[i];
        } else {
            if (n_configs == MAX_CONFIGS) {
                pt_cli_error("compare: more than %d configs", MAX_CONFIGS);
                return PT_EXIT_USAGE;
            }
            paths[n_configs++] = a;
        }
    }
    if (n_configs == 0) {
        pt_cli_error("compare needs at least one config\n%s", COMPARE_USAGE);
        return PT_EXIT_USAGE;
    }

    /* Every config is loaded and checked before anything trains. */
    int rc = PT_EXIT_USAGE;
    pt_config *cfgs = calloc((size_t)n_configs + 1, sizeof *cfgs);
    pt_exp_run *runs = calloc((size_t)n_configs * (size_t)seeds, sizeof *runs);
    pt_compare_row *rows = calloc((size_t)n_configs, sizeof *rows);
    if (!cfgs || !runs || !rows) {
        pt_cli_error("out of memory");
        goto out;
    }
    pt_config *cfg = &cfgs[n_configs];   /* scratch: the run being trained */
    for (int c = 0; c < n_configs; c++) {
        if (pt_cli_load_config(&cfgs[c], paths[c], n_overrides, overrides))
            goto out;
        /* Labels: the file stem, made unique ("tanh", "tanh-2"). */
        char stem[48];
        pt_exp_stem(paths[c], stem, sizeof stem);
        snprintf(rows[c].label, sizeof rows[c].label, "%s", stem);
        for (int k = 2, clash = 1; clash; k++) {
            clash = 0;
            for (int d = 0; d < c; d++)
                if (!strcmp(rows[d].label, rows[c].label))
                    clash = 1;
            if (clash)
                snprintf(rows[c].label, sizeof rows[c].label, "%s-%d", stem, k);
        }
        snprintf(rows[c].activation, sizeof rows[c].activation, "%s",
                 pt_act_names[cfgs[c].model.activation]);
    }

    /* The folder: --name or compare-<time>, under the first config's results_dir. */
    pt_err err = {{0}};
    char dir[PT_PATH_MAX + PT_NAME_MAX + 8], runs_dir[sizeof dir + 8];
    *cfg = cfgs[0];
    if (name) {
        snprintf(cfg->run.name, sizeof cfg->run.name, "%s", name);
    } else {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(cfg->run.name, sizeof cfg->run.name, "compare-%Y%m%d-%H%M%S", &tm);
    }
    if (pt_results_new_folder(cfg, "compare", dir, sizeof dir, &err)) {
        pt_cli_error("%s", err.msg);
        rc = PT_EXIT_INPUT;
        goto out;
    }
    snprintf(runs_dir, sizeof runs_dir, "%s/runs", dir);
    if (strlen(runs_dir) >= sizeof cfg->run.results_dir) {
        pt_cli_error("folder path '%s' is too long", runs_dir);
        rc = PT_EXIT_INPUT;
        goto out;
    }
    if (!cli->quiet) {
        printf("compare: %d config%s x %d seed%s -> %s/\n", n_configs, n_configs == 1 ? "" : "s",
               seeds, seeds == 1 ? "" : "s", dir);
        fflush(stdout);
    }

    /* Epoch lines only with -v; warnings always. */
    pt_cli sub = *cli;
    sub.quiet = !cli->verbose;
    pt_run_hooks hooks = pt_cli_run_hooks(&sub);
    int threads = pt_run_threads(&cfgs[0]);
    for (int c = 0; c < n_configs; c++) {
        for (int s = 1; s <= seeds; s++) {
            *cfg = cfgs[c];
            cfg->train.seed = (uint64_t)s;
            memcpy(cfg->run.results_dir, runs_dir, strlen(runs_dir) + 1);   /* length checked */
            snprintf(cfg->run.name, sizeof cfg->run.name, "%s-seed%d", rows[c].label, s);
            pt_run_result res;
            int r = pt_run_train(cfg, &hooks, &res, &err);
            if (r < 0) {
                pt_cli_error("%s (config %s, seed %d)", err.msg, paths[c], s);
                fprintf(stderr, "ptrain: the finished runs are in %s/\n", runs_dir);
                rc = PT_EXIT_INPUT;
                goto out;
            }
            threads = res.threads;
            if (!cli->quiet) {
                printf("[%d/%d] %s seed %d: ", c * seeds + s, n_configs * seeds, rows[c].label, s);
                if (r > 0)
                    printf("failed: %s\n", res.message);
                else
                    printf("test accuracy %.2f%%, train loss %.4f, %.2fs\n", 100 * res.final.test_acc,
                           res.final.train_loss, res.total_seconds);
                fflush(stdout);
            }
            /* What the tables say comes from the folder, as any later reader sees it. */
            if (pt_exp_read_run(res.dir, &runs[c * seeds + s - 1], &err)) {
                pt_cli_error("%s", err.msg);
                rc = PT_EXIT_INPUT;
                goto out;
            }
        }
    }

    char path[sizeof dir + PT_NAME_MAX + 32], command[2048];
    const char *labels[MAX_CONFIGS];
    for (int c = 0; c < n_configs; c++) {
        pt_compare_summarize(&runs[c * seeds], seeds, TARGET_ACC, &rows[c]);
        labels[c] = rows[c].label;
        snprintf(path, sizeof path, "%s/curves-%s.csv", dir, rows[c].label);
        if (pt_compare_write_curves(path, &runs[c * seeds], seeds, &err))
            goto write_failed;
    }
    join_command(command, sizeof command, argc, argv);
    snprintf(path, sizeof path, "%s/compare.csv", dir);
    if (pt_compare_write_csv(path, rows, n_configs, TARGET_ACC, &err))
        goto write_failed;
    snprintf(path, sizeof path, "%s/compare.md", dir);
    if (pt_compare_write_md(path, rows, n_configs, seeds, TARGET_ACC, command, threads, &err))
        goto write_failed;
    int drawn = pt_plot_compare(dir, n_configs, labels, seeds, &err);
    if (drawn == 1)
        fprintf(stderr, "ptrain: warning: gnuplot is not installed: the curves are in %s/curves-*.csv; "
                        "draw loss.png and accuracy.png later with `ptrain plot %s`\n", dir, dir);
    else if (drawn < 0)
        fprintf(stderr, "ptrain: warning: comparison plots not drawn: %s\n", err.msg);

    rc = PT_EXIT_OK;
    for (int c = 0; c < n_configs; c++)
        if (rows[c].n_complete == 0)
            rc = PT_EXIT_FAILED;   /* a config none of whose seeds finished */
    if (!cli->quiet) {
        printf("mean ± std over %d seed%s (final epoch):\n", seeds, seeds == 1 ? "" : "s");
        for (int c = 0; c < n_configs; c++)
            print_row(&rows[c]);
    }
    printf("results: %s/ (compare.md, compare.csv%s)\n", dir, drawn == 0 ? ", loss.png, accuracy.png" : "");
    goto out;
write_failed:
    pt_cli_error("%s", err.msg);
    rc = PT_EXIT_INPUT;
out:
    for (int i = 0; runs && i < n_configs * seeds; i++)
        pt_exp_run_free(&runs[i]);
    free(runs);
    free(rows);
    free(cfgs);
    return rc;
}
