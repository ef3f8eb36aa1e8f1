/* experiments.c: what `ptrain compare` and `ptrain sweep` compute (pt_experiments.h):
 * run folders read back from disk, statistics over seeds, the sweep grid and
 * its folder names, and the compare / leaderboard files. Training itself is
 * pt_run_train's job and pictures are plot.c's; nothing here prints or exits. */
#include "pt_experiments.h"

#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pt_rng.h"

/* ---------------------------------------------------------------- statistics */

void pt_stats_of(const double *x, int n, pt_stats *out)
{
    /* Two passes (mean, then squared deviations): exact enough for a handful
     * of seeds and immune to the cancellation of sum(x^2) - n*mean^2. */
    out->n = 0;
    out->mean = out->std = out->min = out->max = NAN;
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            continue;
        if (out->n == 0 || x[i] < out->min)
            out->min = x[i];
        if (out->n == 0 || x[i] > out->max)
            out->max = x[i];
        sum += x[i];
        out->n++;
    }
    if (out->n == 0)
        return;
    out->mean = sum / out->n;
    double ss = 0.0;
    for (int i = 0; i < n; i++)
        if (isfinite(x[i]))
            ss += (x[i] - out->mean) * (x[i] - out->mean);
    out->std = out->n > 1 ? sqrt(ss / (out->n - 1)) : 0.0;
}

/* ---------------------------------------------------------------- metrics.csv */

const char *const pt_exp_metric_names[PT_EXP_N_COLS] = {
    "epoch",    "train_loss", "train_acc", "val_loss", "val_acc",
    "test_loss", "test_acc",  "lr",        "seconds",  "samples_per_sec"};

/* Columns a metrics.csv must have for compare and sweep to use it. */
static const int pt_required_cols[] = {0, 1, 2, 5, 6};

static double *pt_metric_field(pt_epoch_metrics *m, int col)
{
    switch (col) {
    case 1: return &m->train_loss;
    case 2: return &m->train_acc;
    case 3: return &m->val_loss;
    case 4: return &m->val_acc;
    case 5: return &m->test_loss;
    case 6: return &m->test_acc;
    case 7: return &m->lr;
    case 8: return &m->seconds;
    case 9: return &m->samples_per_sec;
    default: return NULL;
    }
}

int pt_exp_metric(const pt_epoch_metrics *m, const char *column, double *value)
{
    for (int i = 1; i < PT_EXP_N_COLS; i++)
        if (strcmp(column, pt_exp_metric_names[i]) == 0) {
            *value = *pt_metric_field((pt_epoch_metrics *)m, i);
            return 0;
        }
    if (strcmp(column, "epoch") == 0) {
        *value = m->epoch;
        return 0;
    }
    return -1;
}

int pt_exp_higher_is_better(const char *column)
{
    return strstr(column, "_acc") != NULL || strcmp(column, "samples_per_sec") == 0;
}

/* Length of the field at p (up to ',' or the end). */
static size_t pt_field_len(const char *p)
{
    size_t n = strcspn(p, ",\r\n");
    return n;
}

int pt_exp_parse_header(const char *line, int col[PT_EXP_N_COLS])
{
    for (int i = 0; i < PT_EXP_N_COLS; i++)
        col[i] = -1;
    const char *p = line;
    for (int pos = 0;; pos++) {
        size_t len = pt_field_len(p);
        for (int i = 0; i < PT_EXP_N_COLS; i++)
            if (strlen(pt_exp_metric_names[i]) == len && strncmp(p, pt_exp_metric_names[i], len) == 0 &&
                col[i] < 0)
                col[i] = pos;
        if (p[len] != ',')
            break;
        p += len + 1;
    }
    for (size_t r = 0; r < PT_ARRAY_LEN(pt_required_cols); r++)
        if (col[pt_required_cols[r]] < 0)
            return -1;
    return 0;
}

int pt_exp_parse_row(const char *line, const int col[PT_EXP_N_COLS], pt_epoch_metrics *m)
{
    double v[64];
    int n = 0;
    const char *p = line;
    for (;;) {
        size_t len = pt_field_len(p);
        if (n == (int)PT_ARRAY_LEN(v))
            return -1;
        char buf[64];
        if (len == 0 || len >= sizeof buf)
            return -1;
        memcpy(buf, p, len);
        buf[len] = '\0';
        char *end;
        v[n] = strtod(buf, &end);
        if (*end != '\0')
            return -1;
        n++;
        if (p[len] != ',')
            break;
        p += len + 1;
    }
    memset(m, 0, sizeof *m);
    for (int i = 0; i < PT_EXP_N_COLS; i++) {
        double x = NAN;
        if (col[i] >= 0) {
            if (col[i] >= n)
                return -1;
            x = v[col[i]];
        }
        if (i == 0) {
            if (!(x >= 1 && x <= 1e9 && x == floor(x)))
                return -1;
            m->epoch = (int)x;
        } else {
            *pt_metric_field(m, i) = x;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- summary.json */

static char *pt_slurp(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            size_t ncap = cap ? 2 * cap : 8192;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

/* The text after `"key": ` in a summary.json written by results.c (one key per
 * line, fixed spacing), or NULL. */
static const char *pt_json_value(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(json, pat);
    return p ? p + strlen(pat) : NULL;
}

static int pt_status_of(const char *json)
{
    static const char *const names[] = {"\"running\"", "\"complete\"", "\"failed\""};
    const char *v = pt_json_value(json, "status");
    if (!v)
        return -1;
    for (int s = 0; s < 3; s++)
        if (strncmp(v, names[s], strlen(names[s])) == 0)
            return s;
    return -1;
}

int pt_exp_read_status(const char *dir)
{
    char path[PT_PATH_MAX + PT_NAME_MAX + 32];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    char *json = pt_slurp(path);
    if (!json)
        return -1;
    int st = pt_status_of(json);
    free(json);
    return st;
}

static long pt_json_long(const char *json, const char *key)
{
    const char *v = pt_json_value(json, key);
    return v ? strtol(v, NULL, 10) : 0;
}

/* ---------------------------------------------------------------- a run folder */

void pt_exp_run_free(pt_exp_run *run)
{
    free(run->epochs);
    memset(run, 0, sizeof *run);
    run->status = -1;
}

int pt_exp_read_run(const char *dir, pt_exp_run *run, pt_err *err)
{
    memset(run, 0, sizeof *run);
    run->status = -1;
    char path[PT_PATH_MAX + PT_NAME_MAX + 32];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    char *json = pt_slurp(path);
    if (json) {
        run->status = pt_status_of(json);
        run->n_train = pt_json_long(json, "n_train");
        run->n_val = pt_json_long(json, "n_val");
        run->n_test = pt_json_long(json, "n_test");
        free(json);
    }

    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return pt_fail(err, "cannot open '%s': %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    int rc = 0, col[PT_EXP_N_COLS], lineno = 1, room = 0;
    if (getline(&line, &cap, f) < 0 || pt_exp_parse_header(line, col) != 0) {
        rc = pt_fail(err, "'%s' does not start with a metrics.csv header (epoch, train_loss, "
                     "train_acc, test_loss and test_acc are needed)", path);
        goto out;
    }
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        if (line[0] == '\n' || line[0] == '\0')
            continue;
        if (run->n_epochs == room) {
            room = room ? 2 * room : 64;
            pt_epoch_metrics *grown = realloc(run->epochs, (size_t)room * sizeof *grown);
            if (!grown) {
                rc = pt_fail(err, "out of memory reading '%s'", path);
                goto out;
            }
            run->epochs = grown;
        }
        if (pt_exp_parse_row(line, col, &run->epochs[run->n_epochs]) != 0) {
            rc = pt_fail(err, "'%s' line %d: expected a number in every column", path, lineno);
            goto out;
        }
        run->n_epochs++;
    }
    if (ferror(f))
        rc = pt_fail(err, "cannot read '%s': %s", path, strerror(errno));
out:
    free(line);
    fclose(f);
    if (rc != 0)
        pt_exp_run_free(run);
    return rc;
}

/* ---------------------------------------------------------------- compare */

static double pt_first_epoch_at(const pt_exp_run *r, double target)
{
    for (int e = 0; e < r->n_epochs; e++)
        if (r->epochs[e].test_acc >= target)
            return r->epochs[e].epoch;
    return NAN;
}

void pt_compare_summarize(const pt_exp_run *runs, int n, double target, pt_compare_row *row)
{
    enum { FTA, BTA, FTL, BTL, FTRL, FTRA, TRE, TEE, TRS, TES, E95, SPE, NQ };
    double *q = malloc((size_t)(n > 0 ? n : 1) * NQ * sizeof *q);
    row->n_runs = n;
    row->n_complete = 0;
    int k = 0;
    for (int i = 0; q && i < n; i++) {
        const pt_exp_run *r = &runs[i];
        if (r->status != PT_STATUS_COMPLETE || r->n_epochs == 0)
            continue;
        const pt_epoch_metrics *fin = &r->epochs[r->n_epochs - 1];
        double best_acc = NAN, best_loss = NAN, secs = 0.0;
        for (int e = 0; e < r->n_epochs; e++) {
            const pt_epoch_metrics *m = &r->epochs[e];
            if (isfinite(m->test_acc) && !(m->test_acc <= best_acc))
                best_acc = m->test_acc;
            if (isfinite(m->test_loss) && !(m->test_loss >= best_loss))
                best_loss = m->test_loss;
            secs += m->seconds;
        }
        double *v = q + (size_t)k * NQ;
        v[FTA] = fin->test_acc;
        v[BTA] = best_acc;
        v[FTL] = fin->test_loss;
        v[BTL] = best_loss;
        v[FTRL] = fin->train_loss;
        v[FTRA] = fin->train_acc;
        /* Counts are whole numbers: acc is correct/n written with 9 digits. */
        v[TRE] = r->n_train > 0 ? (double)llround((1.0 - fin->train_acc) * r->n_train) : NAN;
        v[TEE] = r->n_test > 0 ? (double)llround((1.0 - fin->test_acc) * r->n_test) : NAN;
        v[TRS] = r->n_train > 0 ? fin->train_loss * r->n_train : NAN;
        v[TES] = r->n_test > 0 ? fin->test_loss * r->n_test : NAN;
        v[E95] = pt_first_epoch_at(r, target);
        v[SPE] = secs / r->n_epochs;
        row->n_train = r->n_train;
        row->n_test = r->n_test;
        k++;
    }
    row->n_complete = k;
    pt_stats *out[NQ] = {&row->final_test_acc,   &row->best_test_acc,   &row->final_test_loss,
                         &row->best_test_loss,   &row->final_train_loss, &row->final_train_acc,
                         &row->train_errors,     &row->test_errors,     &row->train_loss_sum,
                         &row->test_loss_sum,    &row->epochs_to_target, &row->seconds_per_epoch};
    double col[1024];
    for (int j = 0; j < NQ; j++) {
        int m = 0;
        for (int i = 0; q && i < k && m < (int)PT_ARRAY_LEN(col); i++)
            col[m++] = q[(size_t)i * NQ + j];
        pt_stats_of(col, m, out[j]);
    }
    free(q);
}

static void pt_csv_num(FILE *f, double v)
{
    if (isnan(v))
        fputs(",nan", f);
    else
        fprintf(f, ",%.9g", v);
}

static void pt_csv_stats(FILE *f, const pt_stats *s)
{
    pt_csv_num(f, s->mean);
    pt_csv_num(f, s->std);
}

/* Write a whole file atomically from a callback. */
typedef void (*pt_writer)(FILE *f, const void *ctx);

static int pt_write_file(const char *path, pt_writer write, const void *ctx, pt_err *err)
{
    char tmp[PT_PATH_MAX + PT_NAME_MAX + 96];
    FILE *f = pt_atomic_open(path, tmp, sizeof tmp, err);
    if (!f)
        return -1;
    write(f, ctx);
    return pt_atomic_commit(f, tmp, path, err);
}

typedef struct compare_ctx {
    const pt_compare_row *rows;
    int n, seeds, threads;
    double target;
    const char *command;
} compare_ctx;

static const char *const pt_compare_stat_names[] = {
    "final_test_acc", "best_test_acc", "final_test_loss", "best_test_loss",
    "final_train_loss", "final_train_acc", "train_errors", "test_errors",
    "train_loss_sum", "test_loss_sum"};

static const pt_stats *pt_compare_stat(const pt_compare_row *r, int i)
{
    const pt_stats *s[] = {&r->final_test_acc,   &r->best_test_acc,   &r->final_test_loss,
                           &r->best_test_loss,   &r->final_train_loss, &r->final_train_acc,
                           &r->train_errors,     &r->test_errors,     &r->train_loss_sum,
                           &r->test_loss_sum};
    return s[i];
}

static void pt_compare_csv_body(FILE *f, const void *vctx)
{
    const compare_ctx *c = vctx;
    int pct = (int)lround(c->target * 100);
    fputs("config,activation,runs,complete,n_train,n_test", f);
    for (size_t i = 0; i < PT_ARRAY_LEN(pt_compare_stat_names); i++)
        fprintf(f, ",%s_mean,%s_std", pt_compare_stat_names[i], pt_compare_stat_names[i]);
    fprintf(f, ",epochs_to_%d_mean,epochs_to_%d_std,reached_%d,seconds_per_epoch_mean,"
               "seconds_per_epoch_std\n", pct, pct, pct);
    for (int r = 0; r < c->n; r++) {
        const pt_compare_row *row = &c->rows[r];
        fprintf(f, "%s,%s,%d,%d,%ld,%ld", row->label, row->activation, row->n_runs, row->n_complete,
                row->n_train, row->n_test);
        for (size_t i = 0; i < PT_ARRAY_LEN(pt_compare_stat_names); i++)
            pt_csv_stats(f, pt_compare_stat(row, (int)i));
        pt_csv_stats(f, &row->epochs_to_target);
        fprintf(f, ",%d", row->epochs_to_target.n);
        pt_csv_stats(f, &row->seconds_per_epoch);
        fputc('\n', f);
    }
}

int pt_compare_write_csv(const char *path, const pt_compare_row *rows, int n, double target,
                         pt_err *err)
{
    compare_ctx c = {.rows = rows, .n = n, .target = target};
    return pt_write_file(path, pt_compare_csv_body, &c, err);
}

/* "mean ± std" with the given precision and scale; "-" without values. */
static void pt_md_pm(FILE *f, const pt_stats *s, double scale, int prec)
{
    if (s->n == 0)
        fputs(" - |", f);
    else
        fprintf(f, " %.*f ± %.*f |", prec, s->mean * scale, prec, s->std * scale);
}

static void pt_compare_md_body(FILE *f, const void *vctx)
{
    const compare_ctx *c = vctx;
    int pct = (int)lround(c->target * 100);
    fputs("# Activation comparison\n\n", f);
    if (c->command && c->command[0])
        fprintf(f, "Command: `%s`\n\n", c->command);
    fprintf(f, "Each config was trained with seeds 1..%d (`train.seed`), %d thread%s per run; every "
               "figure is the mean ± sample standard deviation over the seeds that completed. The runs "
               "are in `runs/<config>-seed<k>/`.\n\n",
            c->seeds, c->threads, c->threads == 1 ? "" : "s");
    fprintf(f, "| config | activation | seeds | final test acc (%%) | best test acc (%%) | final test "
               "loss | best test loss | final train loss | train errors | test errors | epochs to "
               "%d %% | s/epoch |\n", pct);
    fputs("|---|---|---|---|---|---|---|---|---|---|---|---|\n", f);
    for (int r = 0; r < c->n; r++) {
        const pt_compare_row *row = &c->rows[r];
        fprintf(f, "| %s | %s |", row->label, row->activation);
        if (row->n_complete == row->n_runs)
            fprintf(f, " %d |", row->n_runs);
        else
            fprintf(f, " %d of %d |", row->n_complete, row->n_runs);
        pt_md_pm(f, &row->final_test_acc, 100, 2);
        pt_md_pm(f, &row->best_test_acc, 100, 2);
        pt_md_pm(f, &row->final_test_loss, 1, 4);
        pt_md_pm(f, &row->best_test_loss, 1, 4);
        pt_md_pm(f, &row->final_train_loss, 1, 4);
        pt_md_pm(f, &row->train_errors, 1, 1);
        pt_md_pm(f, &row->test_errors, 1, 1);
        const pt_stats *e = &row->epochs_to_target;
        if (e->n == 0)
            fputs(" - |", f);
        else if (e->n == row->n_complete)
            fprintf(f, " %.1f ± %.1f |", e->mean, e->std);
        else
            fprintf(f, " %.1f ± %.1f (%d of %d seeds) |", e->mean, e->std, e->n, row->n_complete);
        pt_md_pm(f, &row->seconds_per_epoch, 1, 3);
        fputc('\n', f);
    }
    long n_train = c->n > 0 ? c->rows[0].n_train : 0, n_test = c->n > 0 ? c->rows[0].n_test : 0;
    fprintf(f,
            "\nHow each column is defined:\n\n"
            "- **final**: the last epoch. **best**: the best epoch of each run by that figure itself "
            "(highest test accuracy, lowest test loss). It is picked on the test set, so it is an "
            "optimistic figure; the final one is the honest one.\n"
            "- **loss**: mean cross-entropy per sample over the split (`metrics.csv`).\n"
            "- **train errors**, **test errors**: the summed error as the original project reported "
            "it, here the *number of misclassified samples* at the last epoch, (1 - accuracy) × n, "
            "out of n = %ld training and %ld test samples. The summed loss (mean loss × n) is in "
            "`compare.csv` as `train_loss_sum` and `test_loss_sum`.\n"
            "- **epochs to %d %%**: the first epoch whose test accuracy is at least %d %%, over the "
            "seeds that got there (the count is given when not all did); `-` when none did.\n"
            "- **s/epoch**: wall-clock seconds of an epoch's training pass (evaluation excluded), "
            "averaged over the epochs of each run.\n"
            "- `loss.png` and `accuracy.png` show the mean over the seeds of each epoch as a line "
            "and the spread as a band from the minimum to the maximum over the seeds (not ± std).\n",
            n_train, n_test, pct, pct);
}

int pt_compare_write_md(const char *path, const pt_compare_row *rows, int n, int seeds,
                        double target, const char *command, int threads, pt_err *err)
{
    compare_ctx c = {rows, n, seeds, threads, target, command};
    return pt_write_file(path, pt_compare_md_body, &c, err);
}

typedef struct curves_ctx {
    const pt_exp_run *runs;
    int n;
} curves_ctx;

static void pt_curves_body(FILE *f, const void *vctx)
{
    const curves_ctx *c = vctx;
    static const char *const cols[] = {"train_loss", "test_loss", "train_acc", "test_acc"};
    fputs("epoch", f);
    for (size_t j = 0; j < PT_ARRAY_LEN(cols); j++)
        fprintf(f, ",%s_mean,%s_std,%s_min,%s_max", cols[j], cols[j], cols[j], cols[j]);
    fputc('\n', f);
    int epochs = -1;
    for (int i = 0; i < c->n; i++)
        if (c->runs[i].status == PT_STATUS_COMPLETE && (epochs < 0 || c->runs[i].n_epochs < epochs))
            epochs = c->runs[i].n_epochs;
    double x[1024];
    for (int e = 0; e < epochs; e++) {
        fprintf(f, "%d", e + 1);
        for (size_t j = 0; j < PT_ARRAY_LEN(cols); j++) {
            int m = 0;
            for (int i = 0; i < c->n && m < (int)PT_ARRAY_LEN(x); i++)
                if (c->runs[i].status == PT_STATUS_COMPLETE)
                    pt_exp_metric(&c->runs[i].epochs[e], cols[j], &x[m++]);
            pt_stats s;
            pt_stats_of(x, m, &s);
            pt_csv_num(f, s.mean);
            pt_csv_num(f, s.std);
            pt_csv_num(f, s.min);
            pt_csv_num(f, s.max);
        }
        fputc('\n', f);
    }
}

int pt_compare_write_curves(const char *path, const pt_exp_run *runs, int n, pt_err *err)
{
    curves_ctx c = {runs, n};
    return pt_write_file(path, pt_curves_body, &c, err);
}

/* ---------------------------------------------------------------- sweep grid */

long pt_grid_size(const pt_config *c)
{
    long total = 1;
    for (int a = 0; a < c->sweep.n_axes; a++) {
        total *= c->sweep.axes[a].n_values;
        if (total > PT_GRID_MAX)
            return -1;
    }
    return c->sweep.n_axes > 0 ? total : 0;
}

void pt_grid_point(const pt_config *c, long index, int value_idx[PT_MAX_SWEEP_AXES])
{
    for (int a = c->sweep.n_axes - 1; a >= 0; a--) {
        int nv = c->sweep.axes[a].n_values;
        value_idx[a] = (int)(index % nv);
        index /= nv;
    }
}

static int pt_cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

long pt_grid_select(const pt_config *c, long *out, pt_err *err)
{
    long total = pt_grid_size(c);
    if (total < 0)
        return pt_fail(err, "the [sweep] grid has more than %ld points; sweep fewer values", PT_GRID_MAX);
    for (long i = 0; i < total; i++)
        out[i] = i;
    long k = c->sweep.samples;
    if (k <= 0 || k >= total)
        return total;
    /* The first k steps of a Fisher-Yates shuffle: k distinct points, each
     * subset equally likely; sorted so they run (and are named) in grid order. */
    pt_rng rng;
    pt_rng_seed(&rng, c->sweep.seed, PT_STREAM_SWEEP);
    for (long i = 0; i < k; i++) {
        long j = i + (long)pt_rng_below(&rng, (uint64_t)(total - i));
        long t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
    qsort(out, (size_t)k, sizeof *out, pt_cmp_long);
    return k;
}

static const char *pt_short_key(const char *dotted)
{
    const char *dot = strrchr(dotted, '.');
    return dot ? dot + 1 : dotted;
}

static void pt_append_safe(char *out, size_t size, size_t *len, const char *s)
{
    for (; *s && *len + 1 < size; s++) {
        unsigned char ch = (unsigned char)*s;
        out[(*len)++] = (isalnum(ch) && ch < 0x80) || ch == '.' || ch == '-' || ch == '_' ? (char)ch : '_';
    }
    out[*len] = '\0';
}

void pt_grid_point_name(const pt_config *c, long index, char *out, size_t size)
{
    int vi[PT_MAX_SWEEP_AXES];
    pt_grid_point(c, index, vi);
    int n = snprintf(out, size, "p%03ld", index + 1);
    size_t len = n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
    for (int a = 0; a < c->sweep.n_axes; a++) {
        const char *key = c->sweep.axes[a].key, *shrt = pt_short_key(key);
        int clash = 0;
        for (int b = 0; b < c->sweep.n_axes; b++)
            if (b != a && strcmp(pt_short_key(c->sweep.axes[b].key), shrt) == 0)
                clash = 1;
        pt_append_safe(out, size, &len, "-");
        pt_append_safe(out, size, &len, clash ? key : shrt);
        pt_append_safe(out, size, &len, c->sweep.axes[a].values[vi[a]]);
    }
}

int pt_grid_apply(pt_config *dst, const pt_config *base, long index, pt_err *err)
{
    int vi[PT_MAX_SWEEP_AXES];
    pt_grid_point(base, index, vi);
    *dst = *base;
    char where[64];
    snprintf(where, sizeof where, "sweep point p%03ld", index + 1);
    for (int a = 0; a < base->sweep.n_axes; a++) {
        char section[64];
        const char *key = base->sweep.axes[a].key, *dot = strchr(key, '.');
        if (!dot || (size_t)(dot - key) >= sizeof section)
            return pt_fail(err, "%s: sweep axis '%s' is not section.key", where, key);
        memcpy(section, key, (size_t)(dot - key));
        section[dot - key] = '\0';
        if (pt_config_set(dst, section, dot + 1, base->sweep.axes[a].values[vi[a]], where, err) != 0)
            return -1;
    }
    pt_config *defaults = malloc(sizeof *defaults);
    if (!defaults)
        return pt_fail(err, "out of memory");
    pt_config_defaults(defaults);
    dst->sweep = defaults->sweep;
    free(defaults);
    if (pt_config_validate(dst, err) != 0) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        return pt_fail(err, "%s: %s", where, msg);
    }
    return 0;
}

/* The config as pt_config_write writes it, cut before [run]. */
static char *pt_training_text(const pt_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    int bad = pt_config_write(c, f);
    if (fclose(f) != 0 || bad) {
        free(buf);
        return NULL;
    }
    char *run = strstr(buf, "\n[run]\n");
    if (run)
        *run = '\0';
    return buf;
}

int pt_config_same_training(const pt_config *a, const pt_config *b)
{
    char *ta = pt_training_text(a), *tb = pt_training_text(b);
    int same = ta && tb && strcmp(ta, tb) == 0;
    free(ta);
    free(tb);
    return same;
}

/* ---------------------------------------------------------------- sweep leaderboard */

void pt_sweep_entry_read(pt_sweep_entry *e, const pt_config *c, long index, const char *dir)
{
    memset(e, 0, sizeof *e);
    e->index = index;
    pt_grid_point_name(c, index, e->name, sizeof e->name);
    pt_grid_point(c, index, e->value_idx);
    e->state = PT_POINT_MISSING;
    e->metric = e->best_test_acc = e->seconds_per_epoch = NAN;
    e->final.train_loss = e->final.train_acc = e->final.val_loss = e->final.val_acc = NAN;
    e->final.test_loss = e->final.test_acc = NAN;
    pt_exp_run run;
    pt_err ignored;
    int status = pt_exp_read_status(dir);
    if (status < 0 || pt_exp_read_run(dir, &run, &ignored) != 0) {
        if (status >= 0)
            e->state = PT_POINT_FAILED;        /* started, but its metrics are unreadable */
        return;
    }
    e->state = status == PT_STATUS_COMPLETE && run.n_epochs > 0 ? PT_POINT_COMPLETE : PT_POINT_FAILED;
    e->epochs = run.n_epochs;
    if (run.n_epochs > 0) {
        e->final = run.epochs[run.n_epochs - 1];
        double secs = 0.0;
        for (int i = 0; i < run.n_epochs; i++) {
            double a = run.epochs[i].test_acc;
            if (isfinite(a) && !(a <= e->best_test_acc))
                e->best_test_acc = a;
            secs += run.epochs[i].seconds;
        }
        e->seconds_per_epoch = secs / run.n_epochs;
    }
    if (e->state == PT_POINT_COMPLETE && pt_exp_metric(&e->final, c->sweep.metric, &e->metric) != 0)
        e->metric = NAN;
    pt_exp_run_free(&run);
}

static int pt_cmp_entry(const void *pa, const void *pb, void *arg)
{
    const pt_sweep_entry *a = pa, *b = pb;
    int higher = *(const int *)arg;
    int fa = isfinite(a->metric), fb = isfinite(b->metric);
    if (fa != fb)
        return fb - fa;                          /* points with a value first */
    if (fa && a->metric != b->metric)
        return (a->metric > b->metric) == higher ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

void pt_sweep_sort(pt_sweep_entry *e, long n, const char *metric)
{
    int higher = pt_exp_higher_is_better(metric);
    qsort_r(e, (size_t)n, sizeof *e, pt_cmp_entry, &higher);
}

static const char *const pt_state_names[] = {"complete", "failed", "missing"};

typedef struct sweep_ctx {
    const pt_config *c;
    const pt_sweep_entry *e;
    long n, grid_size;
    const char *command;
} sweep_ctx;

/* One CSV field: quoted when it holds a comma or a quote. */
static void pt_csv_text(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void pt_sweep_csv_body(FILE *f, const void *vctx)
{
    const sweep_ctx *x = vctx;
    const pt_config *c = x->c;
    fputs("rank,point,name", f);
    for (int a = 0; a < c->sweep.n_axes; a++) {
        fputc(',', f);
        pt_csv_text(f, c->sweep.axes[a].key);
    }
    fputs(",status,metric,epochs,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,"
          "best_test_acc,seconds_per_epoch\n", f);
    for (long i = 0; i < x->n; i++) {
        const pt_sweep_entry *e = &x->e[i];
        fprintf(f, "%ld,%ld,%s", i + 1, e->index + 1, e->name);
        for (int a = 0; a < c->sweep.n_axes; a++) {
            fputc(',', f);
            pt_csv_text(f, c->sweep.axes[a].values[e->value_idx[a]]);
        }
        fprintf(f, ",%s", pt_state_names[e->state]);
        pt_csv_num(f, e->metric);
        fprintf(f, ",%d", e->epochs);
        pt_csv_num(f, e->final.train_loss);
        pt_csv_num(f, e->final.train_acc);
        pt_csv_num(f, e->final.val_loss);
        pt_csv_num(f, e->final.val_acc);
        pt_csv_num(f, e->final.test_loss);
        pt_csv_num(f, e->final.test_acc);
        pt_csv_num(f, e->best_test_acc);
        pt_csv_num(f, e->seconds_per_epoch);
        fputc('\n', f);
    }
}

int pt_sweep_write_csv(const char *path, const pt_config *c, const pt_sweep_entry *e, long n,
                       pt_err *err)
{
    sweep_ctx x = {c, e, n, 0, NULL};
    return pt_write_file(path, pt_sweep_csv_body, &x, err);
}

/* Accuracies in percent, losses and the rest as they are; "-" for no value. */
static void pt_md_value(FILE *f, const char *column, double v)
{
    if (!isfinite(v))
        fputs(" - |", f);
    else if (strstr(column, "_acc"))
        fprintf(f, " %.2f %% |", 100 * v);
    else
        fprintf(f, " %.4f |", v);
}

static void pt_sweep_md_body(FILE *f, const void *vctx)
{
    const sweep_ctx *x = vctx;
    const pt_config *c = x->c;
    const char *metric = c->sweep.metric;
    long done = 0, failed = 0;
    for (long i = 0; i < x->n; i++) {
        done += x->e[i].state == PT_POINT_COMPLETE;
        failed += x->e[i].state == PT_POINT_FAILED;
    }
    fprintf(f, "# Sweep of %s\n\n", c->source[0] ? c->source : "(defaults)");
    if (x->command && x->command[0])
        fprintf(f, "Command: `%s`\n\n", x->command);
    fprintf(f, "%ld point%s of a grid of %ld", x->n, x->n == 1 ? "" : "s", x->grid_size);
    if (x->n < x->grid_size)
        fprintf(f, " (a random subset: sweep.samples = %d, sweep.seed = %llu)", c->sweep.samples,
                (unsigned long long)c->sweep.seed);
    fprintf(f, "; %ld complete, %ld failed, %ld not run. Ranked by the last epoch's `%s` (%s is "
               "better). Each point's run folder is `runs/<name>/`.\n\n",
            done, failed, x->n - done - failed, metric,
            pt_exp_higher_is_better(metric) ? "higher" : "lower");
    fputs("| rank | point |", f);
    for (int a = 0; a < c->sweep.n_axes; a++)
        fprintf(f, " %s |", c->sweep.axes[a].key);
    /* The ranking column first, then the usual ones it is not already. */
    static const char *const shown[] = {"test_acc", "test_loss", "train_loss"};
    fprintf(f, " **%s** |", metric);
    for (size_t j = 0; j < PT_ARRAY_LEN(shown); j++)
        if (strcmp(shown[j], metric) != 0)
            fprintf(f, " %s |", shown[j]);
    fputs(" best test_acc | s/epoch | status |\n|---|---|", f);
    for (int a = 0; a < c->sweep.n_axes; a++)
        fputs("---|", f);
    fputs("---|", f);
    for (size_t j = 0; j < PT_ARRAY_LEN(shown); j++)
        if (strcmp(shown[j], metric) != 0)
            fputs("---|", f);
    fputs("---|---|---|\n", f);
    for (long i = 0; i < x->n; i++) {
        const pt_sweep_entry *e = &x->e[i];
        fprintf(f, "| %ld | %s |", i + 1, e->name);
        for (int a = 0; a < c->sweep.n_axes; a++)
            fprintf(f, " %s |", c->sweep.axes[a].values[e->value_idx[a]]);
        pt_md_value(f, metric, e->metric);
        for (size_t j = 0; j < PT_ARRAY_LEN(shown); j++) {
            double v;
            if (strcmp(shown[j], metric) != 0 && pt_exp_metric(&e->final, shown[j], &v) == 0)
                pt_md_value(f, shown[j], v);
        }
        pt_md_value(f, "test_acc", e->best_test_acc);
        if (isfinite(e->seconds_per_epoch))
            fprintf(f, " %.3f |", e->seconds_per_epoch);
        else
            fputs(" - |", f);
        fprintf(f, " %s |\n", pt_state_names[e->state]);
    }
    if (x->n > 0 && x->e[0].state == PT_POINT_COMPLETE && isfinite(x->e[0].metric))
        fprintf(f, "\nBest point: `%s`. `best.ini` is its config (the [sweep] section removed); "
                   "`ptrain best.ini` trains it again in a new folder.\n", x->e[0].name);
    fputs("\nAll figures are the last epoch's unless named best; accuracies are in percent. \"best "
          "test_acc\" is the best epoch's test accuracy; it is "
          "picked on the test set and so optimistic. s/epoch is the mean training-pass time per "
          "epoch. `sweep.png` shows the metric against the first swept key, one line per "
          "combination of the other keys.\n", f);
}

int pt_sweep_write_md(const char *path, const pt_config *c, const pt_sweep_entry *e, long n,
                      long grid_size, const char *command, pt_err *err)
{
    sweep_ctx x = {c, e, n, grid_size, command};
    return pt_write_file(path, pt_sweep_md_body, &x, err);
}

typedef struct best_ctx {
    const pt_config *cfg;
    const char *name;
    int rc;
} best_ctx;

static void pt_best_body(FILE *f, const void *vctx)
{
    best_ctx *b = (best_ctx *)vctx;
    fprintf(f, "; best.ini: the best point of a sweep (%s), written by `ptrain sweep`.\n"
               "; Train it again with `ptrain best.ini`; the results go to a new folder.\n\n",
            b->name);
    b->rc = pt_config_write(b->cfg, f);
}

int pt_sweep_write_best(const char *path, const pt_config *base, long index, pt_err *err)
{
    pt_config *cfg = malloc(sizeof *cfg);
    if (!cfg)
        return pt_fail(err, "out of memory");
    int rc = pt_grid_apply(cfg, base, index, err);
    if (rc == 0) {
        char name[PT_NAME_MAX];
        pt_grid_point_name(base, index, name, sizeof name);
        cfg->run.name[0] = '\0';
        best_ctx b = {cfg, name, 0};
        rc = pt_write_file(path, pt_best_body, &b, err);
        if (rc == 0 && b.rc != 0)
            rc = pt_fail(err, "cannot write the config to '%s'", path);
    }
    free(cfg);
    return rc;
}

/* ---------------------------------------------------------------- files */

static _Thread_local int pt_rm_errno;
static _Thread_local char pt_rm_path[PT_PATH_MAX];

static int pt_rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    if (remove(path) != 0) {
        pt_rm_errno = errno;
        snprintf(pt_rm_path, sizeof pt_rm_path, "%s", path);
        return 1;
    }
    return 0;
}

int pt_exp_remove_tree(const char *dir, pt_err *err)
{
    pt_rm_errno = 0;
    int rc = nftw(dir, pt_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    if (rc == 0)
        return 0;
    if (rc > 0 || pt_rm_errno)
        return pt_fail(err, "cannot remove '%s': %s", pt_rm_path, strerror(pt_rm_errno));
    if (errno == ENOENT)
        return 0;
    return pt_fail(err, "cannot remove '%s': %s", dir, strerror(errno));
}

void pt_exp_stem(const char *path, char *out, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && len + 1 < size; i++) {
        char ch[2] = {base[i], '\0'};
        pt_append_safe(out, size, &len, ch);
    }
    if (out[0] == '\0' || out[0] == '.')
        snprintf(out, size, "run");
}
