/* pt_run.h: one whole training run from a resolved config: load and split
 * the data, build the model, train epoch by epoch, evaluate, and keep the
 * results folder current. It reports through hooks and never prints, so the
 * CLI decides what the console shows and tests can drive a run directly. */
#ifndef PT_RUN_H
#define PT_RUN_H

#include "pt_common.h"
#include "pt_data.h"
#include "pt_model.h"
#include "pt_config.h"
#include "pt_results.h"
#include "pt_train.h"

typedef struct pt_run_info {
    const char *dir;               /* results folder ("" when results are off) */
    long n_train, n_val, n_test;
    int dim, n_classes;
    double prep_mean, prep_std;    /* standardisation, when used */
    size_t n_params;
    int threads, threads_requested, n_pus;
    const pt_placement *placement;
} pt_run_info;

typedef struct pt_run_hooks {
    void *ctx;
    void (*on_start)(void *ctx, const pt_config *cfg, const pt_run_info *info);
    void (*on_epoch)(void *ctx, const pt_config *cfg, const pt_epoch_metrics *m,
                     const pt_pass_stats *pass);
    void (*on_progress)(void *ctx, int epoch, long samples_done, long samples_total);
    void (*on_warning)(void *ctx, const char *msg);
} pt_run_hooks;

typedef struct pt_run_result {
    char dir[PT_PATH_MAX];
    pt_run_status status;
    char message[512];
    int epochs_done;
    pt_epoch_metrics final, best;
    double train_seconds, total_seconds;
    int threads;
    long peak_rss_kb;
} pt_run_result;

/* What every command that trains needs in memory: both data sets, the
 * seeded train/validation split, the input conversion table, and the model
 * initialised from the config's seed. Shared by train, scale and bench. */
typedef struct pt_setup {
    pt_dataset train_set, test_set;
    int *train_idx, *val_idx, *test_idx;   /* indices into train_set / test_set */
    long n_train, n_val, n_test;
    pt_input_map input;   /* uint8 -> float conversion fitted on the training split */
    pt_model model;
} pt_setup;

int pt_setup_load(pt_setup *s, const pt_config *cfg, pt_err *err);
/* Re-draw the model's initial weights from the config's seed (as after load). */
void pt_setup_reinit(pt_setup *s, const pt_config *cfg);
void pt_setup_free(pt_setup *s);

/* Returns 0 when the run completed, 1 when it ran but failed (divergence;
 * the results folder says status failed), -1 when it could not start or
 * could not write its results (err says why). hooks may be NULL. */
int pt_run_train(const pt_config *cfg, const pt_run_hooks *hooks, pt_run_result *res, pt_err *err);

/* Threads a config asks for: run.threads, else OMP_NUM_THREADS, else every
 * processing unit the process may use. */
int pt_run_threads(const pt_config *cfg);

/* Worker threads for `requested` threads on n_pus allowed PUs: requested,
 * capped at n_pus unless run.oversubscribe. Results do not depend on it. */
int pt_run_workers(const pt_config *cfg, int requested, int n_pus);

/* Peak resident memory of this process so far, in KiB. */
long pt_peak_rss_kb(void);

#endif
