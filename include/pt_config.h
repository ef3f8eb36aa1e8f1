/* pt_config.h: the run configuration. One table of keys (config.c) drives
 * parsing (inih), defaults, validation, `section.key=value` overrides, the
 * resolved config.ini written beside each run, and `ptrain keys`, so the
 * documentation cannot drift from the parser. No knowledge of training here. */
#ifndef PT_CONFIG_H
#define PT_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "pt_common.h"

#define PT_MAX_HIDDEN 8     /* hidden layers */
#define PT_MAX_WIDTH 4096   /* units in one hidden layer */
#define PT_PATH_MAX 1024
#define PT_NAME_MAX 128
#define PT_MAX_SWEEP_AXES 8
#define PT_MAX_SWEEP_VALUES 32

typedef enum { PT_ACT_SIGMOID, PT_ACT_TANH, PT_ACT_RELU, PT_ACT_COUNT } pt_act_kind;
typedef enum { PT_OUT_SOFTMAX, PT_OUT_SIGMOID, PT_OUT_COUNT } pt_out_kind;   /* + its loss */
typedef enum { PT_INIT_NORMAL, PT_INIT_XAVIER, PT_INIT_HE, PT_INIT_COUNT } pt_init_kind;
typedef enum { PT_OPT_SGD, PT_OPT_MOMENTUM, PT_OPT_ADAM, PT_OPT_COUNT } pt_opt_kind;
typedef enum { PT_SCHED_CONSTANT, PT_SCHED_STEP, PT_SCHED_COSINE, PT_SCHED_COUNT } pt_sched_kind;
typedef enum { PT_PREP_SCALE, PT_PREP_STANDARDIZE, PT_PREP_COUNT } pt_prep_kind;
typedef enum { PT_BIND_COMPACT, PT_BIND_SCATTER, PT_BIND_NONE, PT_BIND_COUNT } pt_bind_kind;

/* Names of each enum's values as written in INI files, indexed by the enum. */
extern const char *const pt_act_names[PT_ACT_COUNT];
extern const char *const pt_out_names[PT_OUT_COUNT];
extern const char *const pt_init_names[PT_INIT_COUNT];
extern const char *const pt_opt_names[PT_OPT_COUNT];
extern const char *const pt_sched_names[PT_SCHED_COUNT];
extern const char *const pt_prep_names[PT_PREP_COUNT];
extern const char *const pt_bind_names[PT_BIND_COUNT];

/* One swept key of a [sweep] section: `train.lr = 0.01 0.05 0.1`. Values are
 * kept as text and applied with pt_config_set, so they are validated exactly
 * like any other assignment. */
typedef struct pt_sweep_axis {
    char key[64];                                 /* "train.lr" */
    int n_values;
    char values[PT_MAX_SWEEP_VALUES][64];
} pt_sweep_axis;

typedef struct pt_config {
    struct {
        char train_images[PT_PATH_MAX], train_labels[PT_PATH_MAX];
        char test_images[PT_PATH_MAX], test_labels[PT_PATH_MAX];
        pt_prep_kind preprocess;     /* scale to [0,1], or standardise with train mean/std */
        double validation;           /* >= 1: that many samples; in (0,1): that fraction; 0: none */
        int train_limit, test_limit; /* use at most this many samples (0 = all): smoke runs */
    } data;
    struct {
        int n_hidden;
        int hidden[PT_MAX_HIDDEN];
        pt_act_kind activation;
        pt_out_kind output;
        pt_init_kind init;
        double init_scale;           /* std of `normal` init */
    } model;
    struct {
        pt_opt_kind optimizer;
        double lr, momentum, beta1, beta2, eps, weight_decay;
        int batch, epochs;
        pt_sched_kind schedule;
        int step_epochs;             /* step schedule: multiply lr by step_gamma every step_epochs */
        double step_gamma;
        double lr_min;               /* cosine schedule floor */
        int shard;                   /* samples per shard: fixes the batch decomposition */
        uint64_t seed;
    } train;
    struct {
        char name[PT_NAME_MAX];      /* "" = unique name from the config's file name and time */
        char results_dir[PT_PATH_MAX];
        int threads;                 /* 0 = OMP_NUM_THREADS, else every allowed PU */
        pt_bind_kind bind;
        int plots;                   /* draw PNGs with gnuplot when it is installed */
        int save_model;
        int oversubscribe;           /* more workers than allowed PUs (they only time-slice) */
    } run;
    struct {
        int n_axes;
        pt_sweep_axis axes[PT_MAX_SWEEP_AXES];
        int samples;                 /* 0 = whole grid, else that many points drawn at random */
        uint64_t seed;
        char metric[32];             /* column of metrics.csv ranked by: best test_acc by default */
    } sweep;
    char source[PT_PATH_MAX];        /* file the config was read from ("" when none) */
} pt_config;

/* Fill every key with its documented default. */
void pt_config_defaults(pt_config *c);

/* Parse an INI file over the current values. Errors name the file, the line,
 * the key, what was expected and, for a typo, the closest valid name. */
int pt_config_load(pt_config *c, const char *path, pt_err *err);

/* Apply one `section.key=value` (command-line override, sweep point). `origin`
 * names where it came from for the message, e.g. "command line argument 3". */
int pt_config_override(pt_config *c, const char *assignment, const char *origin, pt_err *err);

/* Set one key from text; the common path of load and override. */
int pt_config_set(pt_config *c, const char *section, const char *key, const char *value,
                  const char *where, pt_err *err);

/* Checks that involve several keys (e.g. lr_min <= lr for cosine). A shard
 * larger than the batch is not an error: the batch is then one shard. */
int pt_config_validate(const pt_config *c, pt_err *err);

/* Write every key with its resolved value as INI (sweep section included when
 * non-empty). Reading it back gives the same config. */
int pt_config_write(const pt_config *c, FILE *f);

/* Write the documented reference: every key, default and meaning (`ptrain keys`). */
void pt_config_write_reference(FILE *f);

/* Format the value of "section.key" into buf; -1 when the key does not exist. */
int pt_config_get(const pt_config *c, const char *dotted_key, char *buf, size_t size);

/* Index of name in names[0..n), or -1. */
int pt_enum_lookup(const char *const *names, int n, const char *name);

#endif
