/* pt_results.h: the run folder, a contract that scripts and later tools rely on.
 *   <results_dir>/<name>/config.ini    resolved config (rerunning it reproduces the run)
 *                        metrics.csv   header + one flushed row per epoch
 *                        summary.json  "status": running | complete | failed, final/best metrics, ...
 *                        model.bin     trained weights (pt_model.h documents the format)
 *                        loss.png      curves drawn by gnuplot from metrics.csv (plot.gp kept beside)
 *                        accuracy.png
 *                        confusion.csv/.png, mistakes.csv/.pgm/.png, class_counts.csv, data.png
 * Whole files are written to a temporary name and renamed, so a crash never
 * leaves a file that looks complete; metrics.csv grows row by row and is only
 * complete when summary.json says so. This module never prints to the console. */
#ifndef PT_RESULTS_H
#define PT_RESULTS_H

#include <stdio.h>

#include "pt_common.h"
#include "pt_config.h"

#define PT_MAX_CLASSES 256

typedef struct pt_epoch_metrics {
    int epoch;                                   /* 1-based */
    double train_loss, train_acc;                /* full pass over the training split, model at epoch end */
    double val_loss, val_acc;                    /* NaN when there is no validation split */
    double test_loss, test_acc;
    double lr;                                   /* learning rate at the epoch's last step */
    double seconds;                              /* training pass only */
    double samples_per_sec;                      /* training pass only */
} pt_epoch_metrics;

typedef enum { PT_STATUS_RUNNING, PT_STATUS_COMPLETE, PT_STATUS_FAILED } pt_run_status;

typedef struct pt_summary {
    pt_run_status status;
    char message[512];                           /* why it failed; "" otherwise */
    int epochs_done;
    pt_epoch_metrics final, best;                /* best: epoch with the highest val_acc (test_acc without a validation split) */
    int n_classes;
    const long *confusion;                       /* n_classes x n_classes, [true][predicted], test set; may be NULL */
    int threads;                                 /* worker threads that ran */
    int threads_requested;                       /* what the config or OMP_NUM_THREADS asked for */
    const char *placement_json;                  /* JSON array from pt_placement_write_json, or NULL */
    double train_seconds, total_seconds;
    long n_train, n_val, n_test, n_params;
    unsigned crc_train_images, crc_train_labels, crc_test_images, crc_test_labels;
    long peak_rss_kb;
} pt_summary;

typedef struct pt_results pt_results;

/* Create a new run folder (never reusing an existing one: a taken name gets a
 * -2, -3... suffix), write config.ini and summary.json with status running,
 * and start metrics.csv with its header. cfg->run.name may be "" (a unique
 * name from the config's file stem and the local time is chosen). */
int pt_results_create(pt_results **out, const pt_config *cfg, pt_err *err);
const char *pt_results_dir(const pt_results *r);   /* e.g. "results/tanh-20261124-101500" */
const char *pt_results_name(const pt_results *r);

/* Create a new, unique folder for an experiment that is not a single run
 * (scale, compare, sweep): <results_dir>/<name>, where name is cfg->run.name
 * or, when that is empty, "<prefix>-<config stem>-<time>"; same -2, -3
 * suffix rule as runs. dir receives the folder's path. */
int pt_results_new_folder(const pt_config *cfg, const char *prefix, char *dir, size_t size,
                          pt_err *err);

int pt_results_append(pt_results *r, const pt_epoch_metrics *m, pt_err *err);
/* Rewrite summary.json (atomically) with s; call with status running to record progress. */
int pt_results_summary(pt_results *r, const pt_summary *s, pt_err *err);
/* Close files; frees r. */
void pt_results_close(pt_results *r);

/* Write <dir>/plot.gp and draw <dir>/loss.png from <dir>/metrics.csv with
 * gnuplot. Returns 1 when gnuplot is not installed (nothing drawn, not an
 * error), 0 when drawn, -1 on error. */
int pt_results_plot(const char *dir, pt_err *err);

/* Run `gnuplot SCRIPT` inside dir (for experiment folders that write their
 * own scripts). Returns 1 when gnuplot is not installed, 0 when it ran
 * cleanly, -1 with gnuplot's last output in err otherwise. */
int pt_gnuplot_run(const char *dir, const char *script, pt_err *err);

/* mkdir -p path (each missing component created; an existing non-folder named). */
int pt_results_mkdirs(const char *path, pt_err *err);

/* Data files the end of a run writes beside metrics.csv, for the pictures and
 * for scripts (results/README.md documents them). Each is written atomically.
 *   confusion.csv     k x k test-set counts, rows = true class, columns = predicted,
 *                     with a header row and a label column
 *   class_counts.csv  class,train,val,test: samples of each class in each split
 *   mistakes.csv      index,true,predicted: the first n misclassified test samples
 *   mistakes.pgm      their images (rows x cols each) stacked top to bottom, binary PGM */
int pt_results_write_confusion(const char *dir, int k, const long *confusion, pt_err *err);
int pt_results_write_class_counts(const char *dir, int k, const long *train, const long *val,
                                  const long *test, pt_err *err);
int pt_results_write_mistakes(const char *dir, int n, const long *index, const int *truth,
                              const int *pred, const uint8_t *const *images, int rows, int cols,
                              pt_err *err);

/* Atomic whole-file write helpers: open a temporary file beside path, then
 * commit (fflush, fsync, rename) or abort (remove). */
FILE *pt_atomic_open(const char *path, char *tmp_path, size_t tmp_size, pt_err *err);
int pt_atomic_commit(FILE *f, const char *tmp_path, const char *path, pt_err *err);
void pt_atomic_abort(FILE *f, const char *tmp_path);

#endif
