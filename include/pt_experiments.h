/* pt_experiments.h: the bookkeeping behind `ptrain compare` and `ptrain sweep`:
 * reading a run folder back, statistics over seeds, the sweep grid (size,
 * points, random subset, folder names) and the comparison / leaderboard files.
 * Everything is computed from what the run folders hold on disk, so a sweep
 * resumed in a new process ranks old and new points the same way. Never
 * prints; the CLI (cmd_compare.c, cmd_sweep.c) decides what the console shows. */
#ifndef PT_EXPERIMENTS_H
#define PT_EXPERIMENTS_H

#include <stdio.h>

#include "pt_common.h"
#include "pt_config.h"
#include "pt_results.h"

/* Largest sweep grid accepted (product of the axes' value counts). */
#define PT_GRID_MAX 100000L

/* ---------------------------------------------------------------- statistics */

typedef struct pt_stats {
    int n;                       /* finite values used; NaN and infinities are left out */
    double mean, std;            /* std: sample standard deviation (n - 1); 0 when n == 1 */
    double min, max;             /* all NaN when n == 0 */
} pt_stats;

void pt_stats_of(const double *x, int n, pt_stats *out);

/* ---------------------------------------------------------------- a run folder, read back */

typedef struct pt_exp_run {
    int status;                  /* pt_run_status, or -1 when summary.json is missing or unreadable */
    long n_train, n_val, n_test; /* from summary.json; 0 when unknown */
    int n_epochs;
    pt_epoch_metrics *epochs;    /* n_epochs rows of metrics.csv, in file order */
} pt_exp_run;

/* "status" of dir/summary.json: a pt_run_status, or -1 when the file is
 * missing or has no status (a run killed before its first write). */
int pt_exp_read_status(const char *dir);

/* Read dir/summary.json (status, split sizes) and every row of
 * dir/metrics.csv. Columns are found by their header name; a row with a
 * missing or non-numeric field is an error naming the file and the line. */
int pt_exp_read_run(const char *dir, pt_exp_run *run, pt_err *err);
void pt_exp_run_free(pt_exp_run *run);

/* Parse metrics.csv text: the header gives each known column's position
 * (col[] indexed like pt_exp_metric_names, -1 when absent; epoch, the losses
 * and accuracies must be there); a row is then read through it. */
#define PT_EXP_N_COLS 10
extern const char *const pt_exp_metric_names[PT_EXP_N_COLS];   /* metrics.csv header order */
int pt_exp_parse_header(const char *line, int col[PT_EXP_N_COLS]);
int pt_exp_parse_row(const char *line, const int col[PT_EXP_N_COLS], pt_epoch_metrics *m);

/* Value of a metrics.csv column by name (train_loss ... samples_per_sec);
 * -1 when there is no such column. */
int pt_exp_metric(const pt_epoch_metrics *m, const char *column, double *value);
/* 1 when a larger value of the column is better (accuracies), 0 for losses. */
int pt_exp_higher_is_better(const char *column);

/* ---------------------------------------------------------------- compare */

typedef struct pt_compare_row {
    char label[64];              /* the config's file stem, made unique */
    char activation[16];
    int n_runs, n_complete;      /* seeds run; those that finished (the rest diverged) */
    long n_train, n_test;
    /* Over the completed seeds. best_* is the best epoch of each run by that
     * figure itself (highest accuracy, lowest loss). errors are the summed
     * error as the original project counted it: misclassified samples,
     * (1 - acc) * n, at the last epoch; *_loss_sum is mean loss * n. */
    pt_stats final_test_acc, best_test_acc, final_test_loss, best_test_loss;
    pt_stats final_train_loss, final_train_acc;
    pt_stats train_errors, test_errors, train_loss_sum, test_loss_sum;
    pt_stats epochs_to_target;   /* first epoch with test_acc >= target, over the seeds that got there */
    pt_stats seconds_per_epoch;  /* mean training-pass seconds of each run */
} pt_compare_row;

/* Summarise the runs of one config (complete ones count; others only in n_runs). */
void pt_compare_summarize(const pt_exp_run *runs, int n, double target, pt_compare_row *row);

/* compare.csv: header + one row per config (documented in results/README.md). */
int pt_compare_write_csv(const char *path, const pt_compare_row *rows, int n, double target,
                         pt_err *err);
/* compare.md: the table and how every column is defined. command: the
 * command line to show; threads: per run. */
int pt_compare_write_md(const char *path, const pt_compare_row *rows, int n, int seeds,
                        double target, const char *command, int threads, pt_err *err);
/* curves-<label>.csv: per epoch, mean/min/max over the complete runs of the
 * train and test loss and accuracy (epochs that every such run has). */
int pt_compare_write_curves(const char *path, const pt_exp_run *runs, int n, pt_err *err);

/* ---------------------------------------------------------------- sweep grid */

/* Points in the full grid, or -1 when it has more than PT_GRID_MAX. */
long pt_grid_size(const pt_config *c);

/* Value index of each axis at grid point `index` (0-based): the last axis
 * varies fastest, as in nested loops written in the order of the axes. */
void pt_grid_point(const pt_config *c, long index, int value_idx[PT_MAX_SWEEP_AXES]);

/* The points a sweep runs, ascending: the whole grid when sweep.samples is 0
 * or at least the grid size, else sweep.samples distinct points drawn with
 * pt_rng stream PT_STREAM_SWEEP seeded by sweep.seed. out has room for the
 * grid size; returns the count, or -1 (err) when the grid is too large. */
long pt_grid_select(const pt_config *c, long *out, pt_err *err);

/* Folder name of a point: "p<index+1, 3 digits>-<key><value>..." with each
 * key's last component ("lr", "hidden") and characters other than letters,
 * digits, '.', '-' and '_' replaced by '_', e.g. p003-lr0.05-hidden15. */
void pt_grid_point_name(const pt_config *c, long index, char *out, size_t size);

/* dst = base with the point's values set (validated like any assignment),
 * the [sweep] section cleared, and cross-key validation. */
int pt_grid_apply(pt_config *dst, const pt_config *base, long index, pt_err *err);

/* 1 when a and b train the same thing: their [data], [model] and [train]
 * sections write identically ([run] is where and how fast, not what). */
int pt_config_same_training(const pt_config *a, const pt_config *b);

/* ---------------------------------------------------------------- sweep leaderboard */

typedef enum { PT_POINT_COMPLETE, PT_POINT_FAILED, PT_POINT_MISSING } pt_point_state;

typedef struct pt_sweep_entry {
    long index;                           /* grid index */
    char name[PT_NAME_MAX];               /* its folder under runs/ */
    int value_idx[PT_MAX_SWEEP_AXES];
    pt_point_state state;
    int epochs;
    pt_epoch_metrics final;
    double best_test_acc;                 /* over epochs */
    double seconds_per_epoch;
    double metric;                        /* final value of sweep.metric; NaN unless complete */
} pt_sweep_entry;

/* Fill e from the run folder dir (any state; a missing folder gives MISSING). */
void pt_sweep_entry_read(pt_sweep_entry *e, const pt_config *c, long index, const char *dir);

/* Best first by metric (higher or lower is better as the column says),
 * points without a value last, ties in grid order. */
void pt_sweep_sort(pt_sweep_entry *e, long n, const char *metric);

int pt_sweep_write_csv(const char *path, const pt_config *c, const pt_sweep_entry *e, long n,
                       pt_err *err);
int pt_sweep_write_md(const char *path, const pt_config *c, const pt_sweep_entry *e, long n,
                      long grid_size, const char *command, pt_err *err);

/* best.ini: base with the point's values, the [sweep] section cleared and
 * run.name emptied (a rerun gets a fresh folder), via pt_config_write. */
int pt_sweep_write_best(const char *path, const pt_config *base, long index, pt_err *err);

/* ---------------------------------------------------------------- pictures (plot.c) */

/* Write dir/plot.gp and draw with gnuplot; 1 when gnuplot is not installed
 * (plot.gp is written anyway), 0 when drawn, -1 on error. `ptrain plot DIR`
 * redraws either folder from its plot.gp.
 * compare: loss.png and accuracy.png from dir/curves-<label>.csv. */
int pt_plot_compare(const char *dir, int n, const char *const *labels, int seeds, pt_err *err);
/* sweep: sweep.png (sweep.metric against the first swept key, one line per
 * combination of the other keys) from dir/sweep_plot.dat, written here. */
int pt_plot_sweep(const char *dir, const pt_config *c, const pt_sweep_entry *e, long n, pt_err *err);

/* ---------------------------------------------------------------- files */

/* File name of path without its folder and last extension, with characters
 * other than letters, digits, '-', '_' and '.' replaced by '_' ("run" when
 * nothing is left): configs/tanh.ini -> "tanh". */
void pt_exp_stem(const char *path, char *out, size_t size);

/* Remove dir and everything below it (no symlinks followed). */
int pt_exp_remove_tree(const char *dir, pt_err *err);

#endif
