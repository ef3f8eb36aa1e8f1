/* config.c: the run configuration. One table of keys (pt_keys) drives
 * defaults, parsing of INI files (inih) and `section.key=value` overrides,
 * [sweep] axes, the resolved config.ini and the documented reference.
 * It knows types, ranges and spellings of keys, never what training does
 * with them; cross-key rules stay few and live in pt_config_validate. */
#include "pt_config.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

const char *const pt_act_names[PT_ACT_COUNT] = {
    [PT_ACT_SIGMOID] = "sigmoid", [PT_ACT_TANH] = "tanh", [PT_ACT_RELU] = "relu"};
const char *const pt_out_names[PT_OUT_COUNT] = {
    [PT_OUT_SOFTMAX] = "softmax", [PT_OUT_SIGMOID] = "sigmoid"};
const char *const pt_init_names[PT_INIT_COUNT] = {
    [PT_INIT_NORMAL] = "normal", [PT_INIT_XAVIER] = "xavier", [PT_INIT_HE] = "he"};
const char *const pt_opt_names[PT_OPT_COUNT] = {
    [PT_OPT_SGD] = "sgd", [PT_OPT_MOMENTUM] = "momentum", [PT_OPT_ADAM] = "adam"};
const char *const pt_sched_names[PT_SCHED_COUNT] = {
    [PT_SCHED_CONSTANT] = "constant", [PT_SCHED_STEP] = "step", [PT_SCHED_COSINE] = "cosine"};
const char *const pt_prep_names[PT_PREP_COUNT] = {
    [PT_PREP_SCALE] = "scale", [PT_PREP_STANDARDIZE] = "standardize"};
const char *const pt_bind_names[PT_BIND_COUNT] = {
    [PT_BIND_COMPACT] = "compact", [PT_BIND_SCATTER] = "scatter", [PT_BIND_NONE] = "none"};

/* Columns of metrics.csv a sweep may rank by (kept in step with results.c). */
static const char *const pt_metric_names[] = {"train_loss", "train_acc", "val_loss",
                                              "val_acc",    "test_loss", "test_acc"};

static const char *const pt_sections[] = {"data", "model", "train", "run", "sweep"};

/* Enum fields are read and written through int pointers by the table. */
_Static_assert(sizeof(pt_act_kind) == sizeof(int) && sizeof(pt_bind_kind) == sizeof(int),
               "enum fields must be int-sized");

typedef enum {
    PT_T_INT,    /* int within [min, max] */
    PT_T_U64,    /* uint64_t, any value */
    PT_T_DOUBLE, /* finite double within the bounds */
    PT_T_BOOL,   /* int 0/1 */
    PT_T_ENUM,   /* int index into names */
    PT_T_STR,    /* char[size]; one of names when names is set */
    PT_T_LIST,   /* int widths at off, their count at aux */
} pt_type;

enum {
    PT_F_MIN_OPEN = 1 << 0, /* min itself is excluded */
    PT_F_MAX_OPEN = 1 << 1, /* max itself is excluded */
    PT_F_NO_MAX = 1 << 2,   /* no upper bound beyond the type's */
    PT_F_NONEMPTY = 1 << 3, /* string must not be empty */
    PT_F_DIRNAME = 1 << 4,  /* string becomes one folder name: no '/', not . or .. */
    PT_F_COUNT = 1 << 5,    /* double that is a fraction in (0,1) or a whole count */
};

typedef struct pt_key {
    const char *section, *name;
    pt_type type;
    size_t off;  /* offsetof the field in pt_config */
    size_t size; /* sizeof the field (strings: the bound, with the NUL) */
    size_t aux;  /* PT_T_LIST: offsetof the count */
    double min, max;
    unsigned flags;
    const char *const *names;
    int n_names;
    const char *def; /* default as text, applied through the same parser */
    const char *doc; /* one line for the reference */
} pt_key;

#define PT_FIELD(sec, nm, ty, m)                                                          \
    .section = sec, .name = nm, .type = ty, .off = offsetof(pt_config, m),                \
    .size = sizeof(((pt_config *)0)->m)
#define PT_NAMES(a) .names = a, .n_names = (int)PT_ARRAY_LEN(a)

static const pt_key pt_keys[] = {
    {PT_FIELD("data", "train_images", PT_T_STR, data.train_images), .flags = PT_F_NONEMPTY,
     .def = "data/mnist/train-images-idx3-ubyte",
     .doc = "Training images: IDX file, plain or gzip (recognised by its content)."},
    {PT_FIELD("data", "train_labels", PT_T_STR, data.train_labels), .flags = PT_F_NONEMPTY,
     .def = "data/mnist/train-labels-idx1-ubyte",
     .doc = "Training labels: IDX file, plain or gzip."},
    {PT_FIELD("data", "test_images", PT_T_STR, data.test_images), .flags = PT_F_NONEMPTY,
     .def = "data/mnist/t10k-images-idx3-ubyte", .doc = "Test images: IDX file, plain or gzip."},
    {PT_FIELD("data", "test_labels", PT_T_STR, data.test_labels), .flags = PT_F_NONEMPTY,
     .def = "data/mnist/t10k-labels-idx1-ubyte", .doc = "Test labels: IDX file, plain or gzip."},
    {PT_FIELD("data", "preprocess", PT_T_ENUM, data.preprocess), PT_NAMES(pt_prep_names),
     .def = "scale",
     .doc = "Pixels: scale = x/255; standardize = (x - mean)/std over the training pixels."},
    {PT_FIELD("data", "validation", PT_T_DOUBLE, data.validation), .min = 0, .max = INT_MAX,
     .flags = PT_F_COUNT, .def = "5000",
     .doc = "Held out of the training file for validation: >= 1 a count, in (0, 1) a "
            "fraction, 0 none."},
    {PT_FIELD("data", "train_limit", PT_T_INT, data.train_limit), .min = 0, .flags = PT_F_NO_MAX,
     .def = "0",
     .doc = "Train on at most this many samples left after validation (0 = all): smoke runs."},
    {PT_FIELD("data", "test_limit", PT_T_INT, data.test_limit), .min = 0, .flags = PT_F_NO_MAX,
     .def = "0", .doc = "Use at most this many test samples (0 = all)."},

    {PT_FIELD("model", "hidden", PT_T_LIST, model.hidden),
     .aux = offsetof(pt_config, model.n_hidden), .min = 1, .max = PT_MAX_WIDTH, .def = "15",
     .doc = "Hidden layer widths from input to output: 15 is one layer, 128,64 two."},
    {PT_FIELD("model", "activation", PT_T_ENUM, model.activation), PT_NAMES(pt_act_names),
     .def = "tanh", .doc = "Activation of the hidden layers."},
    {PT_FIELD("model", "output", PT_T_ENUM, model.output), PT_NAMES(pt_out_names), .def = "softmax",
     .doc = "Output and loss: softmax + cross-entropy, or sigmoid outputs + binary cross-entropy."},
    {PT_FIELD("model", "init", PT_T_ENUM, model.init), PT_NAMES(pt_init_names), .def = "xavier",
     .doc = "Weight init: normal (std init_scale), xavier (fan in + out), he (fan in, for relu)."},
    {PT_FIELD("model", "init_scale", PT_T_DOUBLE, model.init_scale), .min = 0, .max = 10,
     .flags = PT_F_MIN_OPEN, .def = "0.01", .doc = "Standard deviation of the normal init."},

    {PT_FIELD("train", "optimizer", PT_T_ENUM, train.optimizer), PT_NAMES(pt_opt_names),
     .def = "momentum", .doc = "Update rule."},
    {PT_FIELD("train", "lr", PT_T_DOUBLE, train.lr), .min = 0, .max = 100, .flags = PT_F_MIN_OPEN,
     .def = "0.1", .doc = "Learning rate (the starting rate when a schedule changes it)."},
    {PT_FIELD("train", "momentum", PT_T_DOUBLE, train.momentum), .min = 0, .max = 1,
     .flags = PT_F_MAX_OPEN, .def = "0.9", .doc = "Momentum coefficient (optimizer = momentum)."},
    {PT_FIELD("train", "beta1", PT_T_DOUBLE, train.beta1), .min = 0, .max = 1,
     .flags = PT_F_MAX_OPEN, .def = "0.9", .doc = "Adam: decay of the first-moment average."},
    {PT_FIELD("train", "beta2", PT_T_DOUBLE, train.beta2), .min = 0, .max = 1,
     .flags = PT_F_MAX_OPEN, .def = "0.999", .doc = "Adam: decay of the second-moment average."},
    {PT_FIELD("train", "eps", PT_T_DOUBLE, train.eps), .min = 0, .max = 1, .flags = PT_F_MIN_OPEN,
     .def = "1e-8", .doc = "Adam: added to the denominator so it never divides by zero."},
    {PT_FIELD("train", "weight_decay", PT_T_DOUBLE, train.weight_decay), .min = 0, .max = 1,
     .def = "0", .doc = "L2 weight decay: weight_decay * w is added to each gradient (0 = off)."},
    {PT_FIELD("train", "batch", PT_T_INT, train.batch), .min = 1, .max = 1048576, .def = "64",
     .doc = "Mini-batch size: samples per update."},
    {PT_FIELD("train", "epochs", PT_T_INT, train.epochs), .min = 1, .max = 1000000, .def = "20",
     .doc = "Passes over the training set."},
    {PT_FIELD("train", "schedule", PT_T_ENUM, train.schedule), PT_NAMES(pt_sched_names),
     .def = "constant",
     .doc = "Learning rate over time: constant, step (see step_*) or cosine (down to lr_min)."},
    {PT_FIELD("train", "step_epochs", PT_T_INT, train.step_epochs), .min = 1, .flags = PT_F_NO_MAX,
     .def = "5", .doc = "Step schedule: epochs between two drops of the learning rate."},
    {PT_FIELD("train", "step_gamma", PT_T_DOUBLE, train.step_gamma), .min = 0, .max = 1,
     .flags = PT_F_MIN_OPEN, .def = "0.5", .doc = "Step schedule: factor applied at each drop."},
    {PT_FIELD("train", "lr_min", PT_T_DOUBLE, train.lr_min), .min = 0, .flags = PT_F_NO_MAX,
     .def = "0", .doc = "Cosine schedule: the final learning rate (at most lr)."},
    {PT_FIELD("train", "shard", PT_T_INT, train.shard), .min = 1, .max = 65536, .def = "16",
     .doc = "Samples per shard, the unit of the shard phase (forward after the first layer, loss, deltas): at most batch/shard threads are busy there. Results do not depend on it."},
    {PT_FIELD("train", "seed", PT_T_U64, train.seed), .def = "1",
     .doc = "Seed of the run's random streams (weights, shuffling, validation split)."},

    {PT_FIELD("run", "name", PT_T_STR, run.name), .flags = PT_F_DIRNAME, .def = "",
     .doc = "Run folder name under results_dir; empty = from the config file name and the time."},
    {PT_FIELD("run", "results_dir", PT_T_STR, run.results_dir), .flags = PT_F_NONEMPTY,
     .def = "results", .doc = "Folder that holds one folder per run."},
    {PT_FIELD("run", "threads", PT_T_INT, run.threads), .min = 0, .max = 4096, .def = "0",
     .doc = "Worker threads; 0 = OMP_NUM_THREADS when set, else every core this process may use."},
    {PT_FIELD("run", "bind", PT_T_ENUM, run.bind), PT_NAMES(pt_bind_names), .def = "compact",
     .doc = "Thread placement: compact (neighbouring cores), scatter (spread out), none (the OS "
            "decides)."},
    {PT_FIELD("run", "plots", PT_T_BOOL, run.plots), .def = "true",
     .doc = "Draw PNG plots with gnuplot when it is installed."},
    {PT_FIELD("run", "save_model", PT_T_BOOL, run.save_model), .def = "true",
     .doc = "Save the trained parameters in the run folder."},
    {PT_FIELD("run", "oversubscribe", PT_T_BOOL, run.oversubscribe), .def = "false",
     .doc = "Run every requested thread even beyond the allowed PUs (off: one worker per PU)."},

    {PT_FIELD("sweep", "samples", PT_T_INT, sweep.samples), .min = 0, .flags = PT_F_NO_MAX,
     .def = "0", .doc = "Points to run: 0 = the whole grid, else that many drawn at random."},
    {PT_FIELD("sweep", "seed", PT_T_U64, sweep.seed), .def = "1",
     .doc = "Seed for drawing the random points."},
    {PT_FIELD("sweep", "metric", PT_T_STR, sweep.metric), PT_NAMES(pt_metric_names),
     .def = "test_acc", .doc = "Column of metrics.csv the runs are ranked by."},
};

#define PT_N_KEYS ((int)PT_ARRAY_LEN(pt_keys))

/* inih reads lines into a buffer of INI_MAX_LINE bytes (fgets style, so the
 * newline and the NUL take two); longer lines would be split in two. Values
 * are limited so that every written key = value line reads back whole. */
#define PT_INI_LINE_MAX (INI_MAX_LINE - 2)

/* Room for "file:line" or "origin: 'assignment'" in front of a message. */
#define PT_WHERE_MAX (PT_PATH_MAX + 160)

/* ---- small text helpers ---- */

/* Copy user text for a message: control characters become '?', long text
 * ends in "...", so a message stays one readable line. */
static const char *pt_quote(char *buf, size_t size, const char *s)
{
    size_t n = 0, len = strlen(s);
    size_t room = len < size ? len : size - 4;
    for (; n < room; n++)
        buf[n] = iscntrl((unsigned char)s[n]) ? '?' : s[n];
    if (room < len)
        memcpy(buf + n, "...", 4);
    else
        buf[n] = '\0';
    return buf;
}

/* "where: " or nothing, so messages read the same with or without origin. */
static const char *pt_prefix(char *buf, size_t size, const char *where)
{
    if (!where || !*where)
        return "";
    snprintf(buf, size, "%s: ", where);
    return buf;
}

/* Trim leading and trailing whitespace in place. */
static char *pt_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* ---- finding keys ---- */

int pt_enum_lookup(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (names[i] && strcmp(names[i], name) == 0)
            return i;
    return -1;
}

static int pt_section_index(const char *section)
{
    return pt_enum_lookup(pt_sections, (int)PT_ARRAY_LEN(pt_sections), section);
}

static const pt_key *pt_find_key(const char *section, const char *name)
{
    for (int i = 0; i < PT_N_KEYS; i++)
        if (strcmp(pt_keys[i].section, section) == 0 && strcmp(pt_keys[i].name, name) == 0)
            return &pt_keys[i];
    return NULL;
}

/* First key of that name in any section (to say where a misplaced key belongs). */
static const pt_key *pt_find_key_anywhere(const char *name)
{
    for (int i = 0; i < PT_N_KEYS; i++)
        if (strcmp(pt_keys[i].name, name) == 0)
            return &pt_keys[i];
    return NULL;
}

/* Split "section.key" at its first dot and find it; NULL when absent. */
static const pt_key *pt_find_dotted(const char *dotted)
{
    const char *dot = strchr(dotted, '.');
    char section[16];
    if (!dot || (size_t)(dot - dotted) >= sizeof section)
        return NULL;
    memcpy(section, dotted, (size_t)(dot - dotted));
    section[dot - dotted] = '\0';
    return pt_find_key(section, dot + 1);
}

/* The field a key describes. */
static void *pt_field(pt_config *c, const pt_key *k)
{
    return (char *)c + k->off;
}

static const void *pt_cfield(const pt_config *c, const pt_key *k)
{
    return (const char *)c + k->off;
}

/* ---- typo suggestions ---- */

/* Optimal string alignment distance (Levenshtein plus swapped neighbours),
 * ignoring case: "trian" is one step from "train". */
static int pt_edit_distance(const char *a, const char *b)
{
    enum { N = 64 };
    size_t n = strlen(a), m = strlen(b);
    if (n >= N || m >= N)
        return INT_MAX;
    int d[N][N];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            int best = d[i - 1][j - 1] + (ca != cb);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[n][m];
}

/* How far typed is from cand, or INT_MAX when too far to suggest: a few
 * edits (not a whole different word), an abbreviation ("mom" for momentum)
 * or a candidate plus a suffix ("lr_rate" for lr, "test_accuracy" for test_acc). */
static int pt_typo_score(const char *typed, const char *cand)
{
    int n = (int)strlen(typed), m = (int)strlen(cand);
    int d = pt_edit_distance(typed, cand);
    int limit = n / 3 > 2 ? n / 3 : 2;
    if (d <= limit && d < n && d < m)
        return d;
    if (n >= 3 && strncasecmp(cand, typed, (size_t)n) == 0)
        return d;
    if (m >= 2 && n > m && strncasecmp(typed, cand, (size_t)m) == 0 &&
        (m >= 4 || strchr("_-.", typed[m])))
        return d;
    return INT_MAX;
}

/* Closest of cands[0..n) to typed, or NULL when none is close. */
static const char *pt_closest(const char *typed, const char *const *cands, int n)
{
    const char *best = NULL;
    int best_score = INT_MAX;
    for (int i = 0; i < n; i++) {
        int s = pt_typo_score(typed, cands[i]);
        if (s < best_score) {
            best_score = s;
            best = cands[i];
        }
    }
    return best;
}

/* Closest key name within one section, or NULL. */
static const char *pt_closest_in_section(const char *section, const char *name)
{
    const char *cands[PT_ARRAY_LEN(pt_keys)];
    int n = 0;
    for (int i = 0; i < PT_N_KEYS; i++)
        if (strcmp(pt_keys[i].section, section) == 0)
            cands[n++] = pt_keys[i].name;
    return pt_closest(name, cands, n);
}

/* Closest "section.key" to a dotted name, written into buf; NULL when none.
 * A known section is searched first ("train.lr_rate" -> train.lr), then the
 * same key name in another section ("model.lr" -> train.lr), then all keys. */
static const char *pt_closest_dotted(const char *dotted, char *buf, size_t size)
{
    const char *dot = strchr(dotted, '.');
    if (dot) {
        char section[16];
        size_t n = (size_t)(dot - dotted);
        const char *near = NULL;
        const pt_key *k = pt_find_key_anywhere(dot + 1);
        if (n < sizeof section) {
            memcpy(section, dotted, n);
            section[n] = '\0';
            near = pt_closest_in_section(section, dot + 1);
        }
        if (near && (!k || strcmp(near, dot + 1) != 0)) {
            snprintf(buf, size, "%.*s.%s", (int)n, dotted, near);
            return buf;
        }
        if (k) {
            snprintf(buf, size, "%s.%s", k->section, k->name);
            return buf;
        }
    }
    char names[PT_ARRAY_LEN(pt_keys)][48];
    const char *cands[PT_ARRAY_LEN(pt_keys)];
    for (int i = 0; i < PT_N_KEYS; i++) {
        snprintf(names[i], sizeof names[i], "%s.%s", pt_keys[i].section, pt_keys[i].name);
        cands[i] = names[i];
    }
    const char *best = pt_closest(dotted, cands, PT_N_KEYS);
    if (!best)
        return NULL;
    snprintf(buf, size, "%s", best);
    return buf;
}

/* ---- numbers and their text ---- */

/* Shortest of %.15g..%.17g that reads back as the same double. */
static void pt_format_double(char *buf, size_t size, double v)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

/* Whole text is one finite number; no blanks, no junk, no inf/nan. */
static int pt_parse_double(const char *s, double *out)
{
    if (!*s || isspace((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    /* ERANGE also flags subnormal results; refuse only overflow and a
     * nonzero number that underflowed to zero, so every double written reads back. */
    if (*end || v != v || v > DBL_MAX || v < -DBL_MAX || (errno == ERANGE && v == 0))
        return -1;
    *out = v;
    return 0;
}

static int pt_parse_ll(const char *s, long long *out)
{
    if (!*s || isspace((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno == ERANGE)
        return -1;
    *out = v;
    return 0;
}

/* strtoull accepts "-1" and wraps it; a seed of 2^64-1 by accident is worse
 * than an error, so a sign other than '+' is refused first. */
static int pt_parse_u64(const char *s, uint64_t *out)
{
    if (!*s || isspace((unsigned char)*s) || *s == '-')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno == ERANGE || v > UINT64_MAX)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* The range of a numeric key as text: "in (0, 100]", ">= 0". */
static void pt_describe_range(const pt_key *k, char *buf, size_t size)
{
    char lo[32], hi[32];
    pt_format_double(lo, sizeof lo, k->min);
    pt_format_double(hi, sizeof hi, k->max);
    if (k->flags & PT_F_NO_MAX)
        snprintf(buf, size, "%s %s", k->flags & PT_F_MIN_OPEN ? ">" : ">=", lo);
    else
        snprintf(buf, size, "in %c%s, %s%c", k->flags & PT_F_MIN_OPEN ? '(' : '[', lo, hi,
                 k->flags & PT_F_MAX_OPEN ? ')' : ']');
}

static void pt_join_names(const char *const *names, int n, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? "|" : "", names[i]);
}

/* What a key accepts, as the object of "expected ...". */
static void pt_describe(const pt_key *k, char *buf, size_t size)
{
    char range[96], names[160];
    switch (k->type) {
    case PT_T_INT:
        pt_describe_range(k, range, sizeof range);
        snprintf(buf, size, "an integer %s", range);
        break;
    case PT_T_U64:
        snprintf(buf, size, "an integer in [0, %" PRIu64 "]", UINT64_MAX);
        break;
    case PT_T_DOUBLE:
        pt_describe_range(k, range, sizeof range);
        if (k->flags & PT_F_COUNT)
            snprintf(buf, size, "0 (none), a fraction in (0, 1) or a whole count in [1, %d]",
                     INT_MAX);
        else
            snprintf(buf, size, "a number %s", range);
        break;
    case PT_T_BOOL:
        snprintf(buf, size, "true or false (or yes/no, on/off, 1/0)");
        break;
    case PT_T_ENUM:
        pt_join_names(k->names, k->n_names, names, sizeof names);
        snprintf(buf, size, "one of %s", names);
        break;
    case PT_T_STR:
        if (k->names) {
            pt_join_names(k->names, k->n_names, names, sizeof names);
            snprintf(buf, size, "one of %s", names);
        } else if (k->flags & PT_F_DIRNAME) {
            snprintf(buf, size, "a folder name without '/' (empty = automatic)");
        } else {
            snprintf(buf, size, "a non-empty path");
        }
        break;
    case PT_T_LIST:
        snprintf(buf, size, "1 to %d comma-separated widths, each in [1, %d]", PT_MAX_HIDDEN,
                 PT_MAX_WIDTH);
        break;
    }
}

/* "<where>: sec.key: expected <what>, got '<value>'<hint>" and -1. */
static int pt_expected(const pt_key *k, const char *value, const char *where, const char *hint,
                       pt_err *err)
{
    char pre[PT_WHERE_MAX + 2], what[192], q[96];
    pt_describe(k, what, sizeof what);
    return pt_fail(err, "%s%s.%s: expected %s, got '%s'%s", pt_prefix(pre, sizeof pre, where),
                   k->section, k->name, what, pt_quote(q, sizeof q, value), hint ? hint : "");
}

/* ---- setters: parse completely, then write; on error the field is untouched ---- */

static int pt_in_range(const pt_key *k, double v)
{
    if (v < k->min || (v == k->min && (k->flags & PT_F_MIN_OPEN)))
        return 0;
    if (k->flags & PT_F_NO_MAX)
        return 1;
    return v < k->max || (v == k->max && !(k->flags & PT_F_MAX_OPEN));
}

static int pt_set_int(pt_config *c, const pt_key *k, const char *v, const char *where, pt_err *err)
{
    long long x;
    if (pt_parse_ll(v, &x) < 0 || x < INT_MIN || x > INT_MAX || !pt_in_range(k, (double)x))
        return pt_expected(k, v, where, NULL, err);
    *(int *)pt_field(c, k) = (int)x;
    return 0;
}

static int pt_set_u64(pt_config *c, const pt_key *k, const char *v, const char *where, pt_err *err)
{
    uint64_t x;
    if (pt_parse_u64(v, &x) < 0)
        return pt_expected(k, v, where, NULL, err);
    *(uint64_t *)pt_field(c, k) = x;
    return 0;
}

static int pt_set_double(pt_config *c, const pt_key *k, const char *v, const char *where,
                         pt_err *err)
{
    double x;
    if (pt_parse_double(v, &x) < 0 || !pt_in_range(k, x))
        return pt_expected(k, v, where, NULL, err);
    /* A count must be whole: 1.5 samples is a typo for a fraction or a count. */
    if ((k->flags & PT_F_COUNT) && x >= 1 && (double)(long long)x != x)
        return pt_expected(k, v, where, NULL, err);
    *(double *)pt_field(c, k) = x;
    return 0;
}

static int pt_set_bool(pt_config *c, const pt_key *k, const char *v, const char *where, pt_err *err)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < PT_ARRAY_LEN(yes); i++) {
        if (strcasecmp(v, yes[i]) == 0 || strcasecmp(v, no[i]) == 0) {
            *(int *)pt_field(c, k) = strcasecmp(v, yes[i]) == 0;
            return 0;
        }
    }
    return pt_expected(k, v, where, NULL, err);
}

/* "; did you mean 'x'?" for a near miss among names, else "". */
static const char *pt_mean_hint(char *buf, size_t size, const char *typed, const char *const *names,
                                int n)
{
    const char *best = pt_closest(typed, names, n);
    if (!best)
        return "";
    snprintf(buf, size, "; did you mean '%s'?", best);
    return buf;
}

static int pt_set_enum(pt_config *c, const pt_key *k, const char *v, const char *where, pt_err *err)
{
    int i = pt_enum_lookup(k->names, k->n_names, v);
    if (i < 0) {
        char hint[96];
        return pt_expected(k, v, where, pt_mean_hint(hint, sizeof hint, v, k->names, k->n_names),
                           err);
    }
    *(int *)pt_field(c, k) = i;
    return 0;
}

/* Text inih would not give back as written: blanks at the ends are
 * trimmed, " ;" starts a comment, control characters break the line. */
static const char *pt_ini_unsafe(const char *v)
{
    size_t n = strlen(v);
    if (n && (isspace((unsigned char)v[0]) || isspace((unsigned char)v[n - 1])))
        return "leading or trailing blanks would be lost in an INI file";
    if (v[0] == ';')
        return "a leading ';' would start a comment in an INI file";
    for (size_t i = 0; i < n; i++) {
        if (iscntrl((unsigned char)v[i]))
            return "control characters cannot be written to an INI file";
        if (v[i] == ';' && i > 0 && isspace((unsigned char)v[i - 1]))
            return "a ';' after a blank would start a comment in an INI file";
    }
    return NULL;
}

static int pt_set_str(pt_config *c, const pt_key *k, const char *v, const char *where, pt_err *err)
{
    char pre[PT_WHERE_MAX + 2], hint[96];
    const char *p = pt_prefix(pre, sizeof pre, where);
    size_t n = strlen(v);
    size_t fit = PT_INI_LINE_MAX - strlen(k->name) - 3; /* "name = " on one INI line */
    size_t limit = k->size - 1 < fit ? k->size - 1 : fit;
    if (k->names && pt_enum_lookup(k->names, k->n_names, v) < 0)
        return pt_expected(k, v, where, pt_mean_hint(hint, sizeof hint, v, k->names, k->n_names),
                           err);
    if (n > limit)
        return pt_fail(err, "%s%s.%s: too long (%zu characters, at most %zu%s)", p, k->section,
                       k->name, n, limit, limit == fit ? " so that it fits on one INI line" : "");
    if ((k->flags & PT_F_NONEMPTY) && n == 0)
        return pt_fail(err, "%s%s.%s: must not be empty", p, k->section, k->name);
    if ((k->flags & PT_F_DIRNAME) &&
        (strchr(v, '/') || strcmp(v, ".") == 0 || strcmp(v, "..") == 0))
        return pt_expected(k, v, where, NULL, err);
    const char *why = pt_ini_unsafe(v);
    if (why) {
        char q[96];
        return pt_fail(err, "%s%s.%s: '%s': %s", p, k->section, k->name, pt_quote(q, sizeof q, v),
                       why);
    }
    char *dst = pt_field(c, k);
    memset(dst, 0, k->size); /* zero tail: whole configs compare with memcmp */
    memcpy(dst, v, n);
    return 0;
}

/* "128,64": 1..PT_MAX_HIDDEN widths; blanks around commas are allowed. */
static int pt_set_list(pt_config *c, const pt_key *k, const char *v, const char *where, pt_err *err)
{
    int w[PT_MAX_HIDDEN] = {0}, n = 0;
    const char *s = v;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        char item[32];
        long long x;
        if (n == PT_MAX_HIDDEN || len >= sizeof item)
            return pt_expected(k, v, where, NULL, err);
        memcpy(item, s, len);
        item[len] = '\0';
        if (pt_parse_ll(pt_trim(item), &x) < 0 || x < k->min || x > k->max)
            return pt_expected(k, v, where, NULL, err);
        w[n++] = (int)x;
        if (!comma)
            break;
        s = comma + 1;
    }
    memcpy(pt_field(c, k), w, sizeof w);
    *(int *)((char *)c + k->aux) = n;
    return 0;
}

static int pt_set_key(pt_config *c, const pt_key *k, const char *v, const char *where, pt_err *err)
{
    switch (k->type) {
    case PT_T_INT:
        return pt_set_int(c, k, v, where, err);
    case PT_T_U64:
        return pt_set_u64(c, k, v, where, err);
    case PT_T_DOUBLE:
        return pt_set_double(c, k, v, where, err);
    case PT_T_BOOL:
        return pt_set_bool(c, k, v, where, err);
    case PT_T_ENUM:
        return pt_set_enum(c, k, v, where, err);
    case PT_T_STR:
        return pt_set_str(c, k, v, where, err);
    case PT_T_LIST:
        return pt_set_list(c, k, v, where, err);
    }
    return pt_fail(err, "%s.%s: unknown key type", k->section, k->name);
}

/* Value of a key as text: the form pt_config_write writes and reads back. */
static int pt_format_key(const pt_config *c, const pt_key *k, char *buf, size_t size)
{
    const void *f = pt_cfield(c, k);
    int n = -1;
    switch (k->type) {
    case PT_T_INT:
        n = snprintf(buf, size, "%d", *(const int *)f);
        break;
    case PT_T_U64:
        n = snprintf(buf, size, "%" PRIu64, *(const uint64_t *)f);
        break;
    case PT_T_DOUBLE: {
        char tmp[32];
        pt_format_double(tmp, sizeof tmp, *(const double *)f);
        n = snprintf(buf, size, "%s", tmp);
        break;
    }
    case PT_T_BOOL:
        n = snprintf(buf, size, "%s", *(const int *)f ? "true" : "false");
        break;
    case PT_T_ENUM: {
        int i = *(const int *)f;
        if (i < 0 || i >= k->n_names)
            return -1;
        n = snprintf(buf, size, "%s", k->names[i]);
        break;
    }
    case PT_T_STR:
        n = snprintf(buf, size, "%.*s", (int)k->size, (const char *)f);
        break;
    case PT_T_LIST: {
        const int *w = f;
        int count = *(const int *)((const char *)c + k->aux);
        size_t used = 0;
        if (count < 1 || count > PT_MAX_HIDDEN || size == 0)
            return -1;
        buf[0] = '\0';
        for (int i = 0; i < count; i++) {
            n = snprintf(buf + used, size - used, "%s%d", i ? "," : "", w[i]);
            if (n < 0 || (size_t)n >= size - used)
                return -1;
            used += (size_t)n;
        }
        return 0;
    }
    }
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* ---- sweep axes ---- */

static pt_sweep_axis *pt_find_axis(pt_config *c, const char *dotted)
{
    for (int i = 0; i < c->sweep.n_axes; i++)
        if (strcmp(c->sweep.axes[i].key, dotted) == 0)
            return &c->sweep.axes[i];
    return NULL;
}

/* The key an axis sweeps: it must exist and not be a [sweep] key. */
static const pt_key *pt_axis_key(const char *dotted, const char *pre, pt_err *err)
{
    const pt_key *k = pt_find_dotted(dotted);
    char q[96], near[64];
    if (!k) {
        const char *best = pt_closest_dotted(dotted, near, sizeof near);
        pt_fail(err, "%ssweep axis '%s': unknown key%s%s%s", pre, pt_quote(q, sizeof q, dotted),
                best ? "; did you mean '" : "", best ? best : "", best ? "'?" : "");
        return NULL;
    }
    if (strcmp(k->section, "sweep") == 0) {
        pt_fail(err, "%ssweep axis '%s': [sweep] keys cannot be swept", pre, dotted);
        return NULL;
    }
    return k;
}

/* Split blank-separated values into ax and check each one on a scratch copy
 * of the config, so a bad value is reported now rather than mid-sweep. */
static int pt_axis_values(const pt_config *c, const pt_key *k, pt_sweep_axis *ax,
                          const char *values, const char *pre, pt_err *err)
{
    pt_config *scratch = pt_alloc(sizeof *scratch);
    if (!scratch)
        return pt_fail(err, "%sout of memory", pre);
    int rc = 0;
    for (const char *s = values + strspn(values, " \t"); rc == 0 && *s;
         s += strspn(s, " \t")) {
        size_t len = strcspn(s, " \t");
        pt_err e;
        if (ax->n_values == PT_MAX_SWEEP_VALUES) {
            rc = pt_fail(err, "%ssweep axis %s: more than %d values", pre, ax->key,
                         PT_MAX_SWEEP_VALUES);
            break;
        }
        if (len >= sizeof ax->values[0]) {
            rc = pt_fail(err, "%ssweep axis %s: value %d is too long (%zu characters, at most %zu)",
                         pre, ax->key, ax->n_values + 1, len, sizeof ax->values[0] - 1);
            break;
        }
        char *v = ax->values[ax->n_values];
        memcpy(v, s, len);
        v[len] = '\0';
        for (int i = 0; i < ax->n_values && rc == 0; i++)
            if (strcmp(ax->values[i], v) == 0)
                rc = pt_fail(err, "%ssweep axis %s: value '%s' is listed twice", pre, ax->key, v);
        memcpy(scratch, c, sizeof *scratch);
        if (rc == 0 && pt_set_key(scratch, k, v, NULL, &e) < 0)
            rc = pt_fail(err, "%ssweep axis %s, value %d: %s", pre, ax->key, ax->n_values + 1,
                         e.msg);
        ax->n_values++;
        s += len;
    }
    pt_free(scratch);
    if (rc == 0 && ax->n_values == 0)
        rc = pt_fail(err, "%ssweep axis %s: expected one or more values separated by blanks, "
                          "e.g. %s = 0.01 0.1", pre, ax->key, ax->key);
    return rc;
}

/* `section.key = v1 v2 ...` in [sweep]: add the axis, or replace it when
 * an override names it again (duplicates in one file are caught by the loader). */
static int pt_set_axis(pt_config *c, const char *dotted, const char *values, const char *where,
                       pt_err *err)
{
    char pre[PT_WHERE_MAX + 2];
    const char *p = pt_prefix(pre, sizeof pre, where);
    const pt_key *k = pt_axis_key(dotted, p, err);
    if (!k)
        return -1;
    pt_sweep_axis ax;
    memset(&ax, 0, sizeof ax);
    snprintf(ax.key, sizeof ax.key, "%s.%s", k->section, k->name);
    if (pt_axis_values(c, k, &ax, values, p, err) < 0)
        return -1;
    size_t line = strlen(ax.key) + 3;
    for (int i = 0; i < ax.n_values; i++)
        line += strlen(ax.values[i]) + 1;
    if (line > PT_INI_LINE_MAX)
        return pt_fail(err, "%ssweep axis %s: values too long for one INI line (%zu characters, "
                            "at most %d)", p, ax.key, line, PT_INI_LINE_MAX);
    pt_sweep_axis *slot = pt_find_axis(c, ax.key);
    if (!slot) {
        if (c->sweep.n_axes == PT_MAX_SWEEP_AXES)
            return pt_fail(err, "%ssweep axis %s: more than %d axes", p, ax.key,
                           PT_MAX_SWEEP_AXES);
        slot = &c->sweep.axes[c->sweep.n_axes++];
    }
    *slot = ax;
    return 0;
}

/* ---- public: defaults, set, override, get ---- */

void pt_config_defaults(pt_config *c)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < PT_N_KEYS; i++)
        pt_set_key(c, &pt_keys[i], pt_keys[i].def, NULL, NULL); /* tests check every default */
}

int pt_config_set(pt_config *c, const char *section, const char *key, const char *value,
                  const char *where, pt_err *err)
{
    char pre[PT_WHERE_MAX + 2];
    const char *p = pt_prefix(pre, sizeof pre, where);
    if (!c || !section || !key || !value)
        return pt_fail(err, "%spt_config_set: missing argument", p);
    if (strcmp(section, "sweep") == 0 && strchr(key, '.'))
        return pt_set_axis(c, key, value, where, err);
    const pt_key *k = pt_find_key(section, key);
    if (!k) {
        char dotted[160], near[64], q[128];
        snprintf(dotted, sizeof dotted, "%s.%s", section, key);
        const char *best = pt_closest_dotted(dotted, near, sizeof near);
        return pt_fail(err, "%sunknown key '%s'%s%s%s", p, pt_quote(q, sizeof q, dotted),
                       best ? "; did you mean '" : " (`ptrain keys` lists every key)",
                       best ? best : "", best ? "'?" : "");
    }
    return pt_set_key(c, k, value, where, err);
}

/* Suggest section.key=value for an assignment written without a section. */
static int pt_override_no_dot(const char *lhs, const char *value, const char *where, pt_err *err)
{
    char near[64];
    const pt_key *k = pt_find_key_anywhere(lhs);
    const char *names[PT_ARRAY_LEN(pt_keys)], *best = NULL;
    for (int i = 0; !k && i < PT_N_KEYS; i++)
        names[i] = pt_keys[i].name;
    if (!k && (best = pt_closest(lhs, names, PT_N_KEYS)))
        k = pt_find_key_anywhere(best);
    if (k) {
        snprintf(near, sizeof near, "%s.%s", k->section, k->name);
        best = near;
    }
    char q[96];
    if (best)
        return pt_fail(err, "%s: expected section.key=value; did you mean '%s=%s'?", where, best,
                       pt_quote(q, sizeof q, value));
    return pt_fail(err, "%s: expected section.key=value, e.g. train.lr=0.05", where);
}

int pt_config_override(pt_config *c, const char *assignment, const char *origin, pt_err *err)
{
    char where[PT_WHERE_MAX], q[160];
    if (!assignment)
        return pt_fail(err, "%s: missing assignment", origin ? origin : "override");
    snprintf(where, sizeof where, "%s: '%s'", origin && *origin ? origin : "override",
             pt_quote(q, sizeof q, assignment));
    if (!strchr(assignment, '='))
        return pt_fail(err, "%s: expected section.key=value, e.g. train.lr=0.05", where);
    char *copy = strdup(assignment);
    if (!copy)
        return pt_fail(err, "%s: out of memory", where);
    char *eq = strchr(copy, '=');
    *eq = '\0';
    char *lhs = pt_trim(copy), *value = pt_trim(eq + 1);
    char *dot = strchr(lhs, '.');
    int rc;
    if (!dot) {
        rc = pt_override_no_dot(lhs, value, where, err);
    } else {
        *dot = '\0';
        rc = pt_config_set(c, lhs, dot + 1, value, where, err);
    }
    free(copy);
    return rc;
}

int pt_config_get(const pt_config *c, const char *dotted_key, char *buf, size_t size)
{
    if (!c || !dotted_key || !buf || size == 0)
        return -1;
    if (strncmp(dotted_key, "sweep.", 6) == 0 && strchr(dotted_key + 6, '.')) {
        for (int i = 0; i < c->sweep.n_axes; i++) {
            const pt_sweep_axis *a = &c->sweep.axes[i];
            if (strcmp(a->key, dotted_key + 6) != 0)
                continue;
            size_t used = 0;
            buf[0] = '\0';
            for (int j = 0; j < a->n_values; j++) {
                int n = snprintf(buf + used, size - used, "%s%s", j ? " " : "", a->values[j]);
                if (n < 0 || (size_t)n >= size - used)
                    return -1;
                used += (size_t)n;
            }
            return 0;
        }
        return -1;
    }
    const pt_key *k = pt_find_dotted(dotted_key);
    return k ? pt_format_key(c, k, buf, size) : -1;
}

/* ---- validation across keys ---- */

int pt_config_validate(const pt_config *c, pt_err *err)
{
    char a[32], b[32];
    if (c->train.schedule == PT_SCHED_COSINE && c->train.lr_min > c->train.lr) {
        pt_format_double(a, sizeof a, c->train.lr_min);
        pt_format_double(b, sizeof b, c->train.lr);
        return pt_fail(err, "train.lr_min (%s) is above train.lr (%s): the cosine schedule "
                            "decays from lr down to lr_min", a, b);
    }
    double v = c->data.validation;
    if (!(v >= 0 && v <= INT_MAX) || (v >= 1 && (double)(long long)v != v)) {
        pt_format_double(a, sizeof a, v);
        return pt_fail(err, "data.validation (%s): expected 0, a fraction in (0, 1) or a whole "
                            "count", a);
    }
    return 0;
}

/* ---- loading a file ---- */

/* State of one pt_config_load: the line inih is on (counted by our reader,
 * since this inih calls handlers without line numbers), the first error,
 * and where each key was set, to name both lines of a duplicate. */
typedef struct pt_load {
    pt_config *c; /* scratch copy, committed only when the whole file is good */
    const char *path;
    FILE *f;
    char *line; /* the current physical line */
    size_t cap;
    int lineno;
    int read_errno;
    int after_key; /* mirrors inih: an indented line after a key continues its value */
    int err_line;  /* 0 = no error yet */
    pt_err err;
    int key_line[PT_ARRAY_LEN(pt_keys)];
    int n_axes;
    char axis[PT_MAX_SWEEP_AXES * 2][64];
    int axis_line[PT_MAX_SWEEP_AXES * 2];
} pt_load;

/* Record "path:line: ..." unless an earlier error is already kept. */
static int pt_load_fail(pt_load *x, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int pt_load_fail(pt_load *x, int line, const char *fmt, ...)
{
    if (x->err_line)
        return 0;
    char msg[sizeof x->err.msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    x->err_line = line;
    pt_fail(&x->err, "%s:%d: %s", x->path, line, msg);
    return 0;
}

/* Start of a line's text as inih sees it: after a UTF-8 BOM on line 1 and blanks. */
static const char *pt_line_start(const pt_load *x)
{
    const char *s = x->line;
    if (x->lineno == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3;
    while (isspace((unsigned char)*s))
        s++;
    return s;
}

/* A "[name]" line: check the name here, so an unknown section is reported on
 * its own line (and even when it holds no keys). Mirrors inih's rules. */
static void pt_note_section(pt_load *x)
{
    const char *s = pt_line_start(x);
    if (*s != '[' || (x->after_key && s > x->line))
        return; /* not a section line, or a continuation line */
    const char *e = s + 1;
    int was_space = 0;
    while (*e && *e != ']' && !(was_space && *e == ';')) {
        was_space = isspace((unsigned char)*e);
        e++;
    }
    if (*e != ']')
        return; /* inih reports the line as malformed */
    x->after_key = 0;
    char name[64], q[80];
    size_t n = (size_t)(e - s - 1) < sizeof name - 1 ? (size_t)(e - s - 1) : sizeof name - 1;
    memcpy(name, s + 1, n);
    name[n] = '\0';
    if (pt_section_index(name) >= 0)
        return;
    const char *best = pt_closest(name, pt_sections, (int)PT_ARRAY_LEN(pt_sections));
    if (best)
        pt_load_fail(x, x->lineno, "unknown section [%s]; did you mean [%s]?",
                     pt_quote(q, sizeof q, name), best);
    else
        pt_load_fail(x, x->lineno, "unknown section [%s]; sections are [data] [model] [train] "
                                   "[run] [sweep]", pt_quote(q, sizeof q, name));
}

/* inih's line reader: one whole physical line per call, so our count is
 * inih's line number; a line too long for inih's buffer is refused whole
 * instead of being split into two lines. */
static char *pt_ini_reader(char *str, int num, void *stream)
{
    pt_load *x = stream;
    errno = 0;
    ssize_t n = getline(&x->line, &x->cap, x->f);
    if (n < 0) {
        x->read_errno = ferror(x->f) ? (errno ? errno : EIO) : 0;
        return NULL;
    }
    x->lineno++;
    if (n > num - 1) {
        size_t len = (size_t)n - (x->line[n - 1] == '\n');
        pt_load_fail(x, x->lineno, "line is too long (%zu characters, at most %d)", len, num - 2);
        snprintf(str, (size_t)num, "\n");
        return str;
    }
    memcpy(str, x->line, (size_t)n + 1);
    pt_note_section(x);
    return str;
}

/* A section.key line in [sweep]: an axis may appear once per file; later
 * files and overrides replace it (see pt_set_axis). */
static int pt_ini_dotted_axis(pt_load *x, const char *name, const char *value, const char *where)
{
    for (int i = 0; i < x->n_axes; i++)
        if (strcmp(x->axis[i], name) == 0)
            return pt_load_fail(x, x->lineno, "duplicate sweep axis '%s' (first on line %d)", name,
                                x->axis_line[i]);
    if (x->n_axes < (int)PT_ARRAY_LEN(x->axis) && strlen(name) < sizeof x->axis[0]) {
        strcpy(x->axis[x->n_axes], name);
        x->axis_line[x->n_axes++] = x->lineno;
    }
    if (pt_config_set(x->c, "sweep", name, value, where, &x->err) < 0)
        x->err_line = x->lineno;
    return x->err_line == 0;
}

/* A key the table does not have in this section: say the closest one. */
static int pt_ini_unknown_key(pt_load *x, const char *section, const char *name)
{
    char q[80];
    const char *near = pt_closest_in_section(section, name);
    const pt_key *elsewhere = pt_find_key_anywhere(name);
    pt_quote(q, sizeof q, name);
    if (near)
        return pt_load_fail(x, x->lineno, "unknown key '%s' in [%s]; did you mean '%s'?", q,
                            section, near);
    if (elsewhere)
        return pt_load_fail(x, x->lineno, "unknown key '%s' in [%s]; it belongs in [%s]", q,
                            section, elsewhere->section);
    if (strchr(name, '.'))
        return pt_load_fail(x, x->lineno, "unknown key '%s' in [%s]; section.key names are "
                            "sweep axes and go in [sweep]", q, section);
    return pt_load_fail(x, x->lineno, "unknown key '%s' in [%s] (`ptrain keys` lists them all)",
                        q, section);
}

/* Every name = value line: checks the file's own rules (sections,
 * duplicates, continuation lines), then hands the value to pt_config_set. */
static int pt_ini_handler(void *user, const char *section, const char *name, const char *value)
{
    pt_load *x = user;
    int continued = x->after_key && x->line[0] != '\0' && isspace((unsigned char)x->line[0]);
    x->after_key = 1;
    if (x->err_line)
        return 0;
    if (continued)
        return pt_load_fail(x, x->lineno, "indented line continues the value of '%s' above "
                            "(multi-line values are not supported); remove the indentation", name);
    char where[PT_WHERE_MAX];
    snprintf(where, sizeof where, "%s:%d", x->path, x->lineno);
    char q[80];
    pt_quote(q, sizeof q, name);
    if (!*section) {
        const pt_key *k = pt_find_key_anywhere(name);
        const pt_key *d = k ? NULL : pt_find_dotted(name); /* "train.lr = 1" on top */
        if (d)
            return pt_load_fail(x, x->lineno, "key '%s' is outside any section; write it as "
                                "'%s = ...' under [%s]", q, d->name, d->section);
        return pt_load_fail(x, x->lineno, "key '%s' is outside any section; put it under a "
                            "[section] header%s%s%s", q, k ? " (it belongs in [" : "",
                            k ? k->section : "", k ? "])" : "");
    }
    if (pt_section_index(section) < 0) /* only when the header slipped past pt_note_section */
        return pt_load_fail(x, x->lineno, "key '%s' is in an unknown section", q);
    if (strcmp(section, "sweep") == 0 && strchr(name, '.'))
        return pt_ini_dotted_axis(x, name, value, where);
    const pt_key *k = pt_find_key(section, name);
    if (!k)
        return pt_ini_unknown_key(x, section, name);
    int i = (int)(k - pt_keys);
    if (x->key_line[i])
        return pt_load_fail(x, x->lineno, "duplicate key '%s' in [%s] (first set on line %d)",
                            name, section, x->key_line[i]);
    x->key_line[i] = x->lineno;
    if (pt_set_key(x->c, k, value, where, &x->err) < 0) {
        x->err_line = x->lineno;
        /* Only ';' starts an inline comment; '#' after a value is part of it. */
        if (strstr(value, " #") || strstr(value, "\t#")) {
            size_t n = strlen(x->err.msg);
            snprintf(x->err.msg + n, sizeof x->err.msg - n,
                     " (inline comments start with ';', not '#')");
        }
    }
    return x->err_line == 0;
}

/* inih's own error: a line that is neither a comment, a [section] nor a key. */
static void pt_malformed(pt_load *x, int line, pt_err *err)
{
    char q[96];
    const char *text = "";
    rewind(x->f);
    for (int i = 0; i < line; i++)
        if (getline(&x->line, &x->cap, x->f) < 0)
            break;
    if (x->line) {
        x->line[strcspn(x->line, "\r\n")] = '\0';
        text = pt_trim(x->line + (line == 1 && strncmp(x->line, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0));
    }
    pt_quote(q, sizeof q, text);
    if (text[0] == '[')
        pt_fail(err, "%s:%d: section header '%s' has no closing ']'", x->path, line, q);
    else
        pt_fail(err, "%s:%d: cannot parse '%s': expected 'key = value', '[section]' or a "
                     "comment", x->path, line, q);
}

/* Run inih over the open file into x->c and settle which error came first. */
static int pt_load_parse(pt_load *x, pt_err *err)
{
    int rc = ini_parse_stream(pt_ini_reader, x, pt_ini_handler, x);
    if (rc == -2)
        return pt_fail(err, "%s: out of memory", x->path);
    if (x->read_errno)
        return pt_fail(err, "cannot read '%s': %s", x->path, strerror(x->read_errno));
    /* inih returns the line of the first failure it saw: a malformed line
     * our handler never heard of, when that comes before our own error. */
    if (rc > 0 && (!x->err_line || rc < x->err_line)) {
        pt_malformed(x, rc, err);
        return -1;
    }
    if (x->err_line) {
        *err = x->err;
        return -1;
    }
    return 0;
}

int pt_config_load(pt_config *c, const char *path, pt_err *err)
{
    pt_err dummy;
    if (!err)
        err = &dummy;
    if (!c || !path)
        return pt_fail(err, "pt_config_load: missing config or path");
    if (strlen(path) >= sizeof c->source)
        return pt_fail(err, "config path too long (%zu characters)", strlen(path));
    pt_load *x = pt_alloc(sizeof *x);
    pt_config *scratch = pt_alloc(sizeof *scratch);
    if (!x || !scratch) {
        pt_free(x);
        pt_free(scratch);
        return pt_fail(err, "%s: out of memory", path);
    }
    memcpy(scratch, c, sizeof *scratch);
    x->c = scratch;
    x->path = path;
    int rc = -1;
    x->f = fopen(path, "r");
    if (!x->f) {
        pt_fail(err, "cannot open '%s': %s", path, strerror(errno));
    } else {
        rc = pt_load_parse(x, err);
        fclose(x->f);
    }
    if (rc == 0) {
        memset(scratch->source, 0, sizeof scratch->source);
        memcpy(scratch->source, path, strlen(path));
        memcpy(c, scratch, sizeof *c);
    }
    free(x->line);
    pt_free(x);
    pt_free(scratch);
    return rc;
}

/* ---- writing ---- */

int pt_config_write(const pt_config *c, FILE *f)
{
    char buf[PT_PATH_MAX + 16];
    for (size_t s = 0; s < PT_ARRAY_LEN(pt_sections); s++) {
        const char *sec = pt_sections[s];
        int is_sweep = strcmp(sec, "sweep") == 0;
        if (is_sweep && c->sweep.n_axes == 0)
            continue;
        fprintf(f, "%s[%s]\n", s ? "\n" : "", sec);
        for (int i = 0; i < PT_N_KEYS; i++) {
            if (strcmp(pt_keys[i].section, sec) != 0)
                continue;
            if (pt_format_key(c, &pt_keys[i], buf, sizeof buf) < 0)
                return -1;
            fprintf(f, "%s =%s%s\n", pt_keys[i].name, buf[0] ? " " : "", buf);
        }
        for (int a = 0; is_sweep && a < c->sweep.n_axes; a++) {
            fprintf(f, "%s =", c->sweep.axes[a].key);
            for (int v = 0; v < c->sweep.axes[a].n_values; v++)
                fprintf(f, " %s", c->sweep.axes[a].values[v]);
            fprintf(f, "\n");
        }
    }
    return ferror(f) ? -1 : 0;
}

static const char pt_reference_head[] =
    "; ptrain configuration reference: every key, its default and what it means.\n"
    "; Generated by `ptrain keys` from the key table in src/config.c (the same table\n"
    "; the parser uses); tests/test_config.c fails when this file falls behind it.\n"
    ";\n"
    "; A config file sets only the keys it changes; the others keep these defaults.\n"
    "; Any key can be overridden on the command line as section.key=value, e.g.\n"
    "; train.lr=0.05. Comments start a line with ';' or '#', or follow a value\n"
    "; after ' ;'. Loading this file gives exactly the defaults.\n";

/* A format: the limits come from pt_config.h. */
#define PT_REFERENCE_SWEEP                                                             \
    "\n"                                                                                \
    "; Sweep axes: any key of another section, written section.key, followed by\n"      \
    "; values separated by blanks; each value is checked like a normal assignment.\n"   \
    "; The sweep runs every combination of the values (or `samples` of them).\n"        \
    "; At most %d axes of %d values each. For example:\n"                               \
    ";   train.lr = 0.01 0.05 0.1\n"                                                    \
    ";   model.hidden = 15 32 15,15\n"

void pt_config_write_reference(FILE *f)
{
    pt_config d;
    char buf[PT_PATH_MAX + 16], what[192];
    pt_config_defaults(&d);
    fputs(pt_reference_head, f);
    for (size_t s = 0; s < PT_ARRAY_LEN(pt_sections); s++) {
        fprintf(f, "\n[%s]\n", pt_sections[s]);
        for (int i = 0; i < PT_N_KEYS; i++) {
            const pt_key *k = &pt_keys[i];
            if (strcmp(k->section, pt_sections[s]) != 0)
                continue;
            pt_describe(k, what, sizeof what);
            pt_format_key(&d, k, buf, sizeof buf);
            fprintf(f, "\n; %s\n; Value: %s.\n%s =%s%s\n", k->doc, what, k->name,
                    buf[0] ? " " : "", buf);
        }
        if (strcmp(pt_sections[s], "sweep") == 0)
            fprintf(f, PT_REFERENCE_SWEEP, PT_MAX_SWEEP_AXES, PT_MAX_SWEEP_VALUES);
    }
}
