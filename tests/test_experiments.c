/* test_experiments.c: the pure parts of compare and sweep (pt_experiments.h):
 * mean/std, metrics.csv parsing, reading a run folder back, the summary over
 * seeds, grid enumeration, random subsets and point names, applying a point,
 * the ranking, the CSV writers, the sweep picture and the folder removal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pt_experiments.h"

static char root[256];   /* mkdtemp folder for the tests that write files */

/* |got - want| <= atol + rtol * |want| */
static void assert_close(double got, double want, double atol, double rtol)
{
    if (!(fabs(got - want) <= atol + rtol * fabs(want)))
        fail_msg("got %.17g, want %.17g", got, want);
}

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* A config with a [sweep] section set through the parser's own path. */
static pt_config *sweep_config(const char *const *assignments, int n)
{
    pt_config *c = malloc(sizeof *c);
    assert_non_null(c);
    pt_config_defaults(c);
    pt_err err = {""};
    for (int i = 0; i < n; i++) {
        int rc = pt_config_override(c, assignments[i], "test", &err);
        if (rc != 0)
            fail_msg("override '%s': %s", assignments[i], err.msg);
    }
    return c;
}

/* ---------------------------------------------------------------- statistics */

static void test_stats(void **state)
{
    (void)state;
    pt_stats s;
    const double x[] = {1, 2, 3, 4};
    pt_stats_of(x, 4, &s);
    assert_int_equal(s.n, 4);
    assert_close(s.mean, 2.5, 0, 1e-15);
    assert_close(s.std, sqrt(5.0 / 3.0), 0, 1e-15);   /* sample std, n - 1 */
    assert_close(s.min, 1, 0, 0);
    assert_close(s.max, 4, 0, 0);

    const double one[] = {0.93};
    pt_stats_of(one, 1, &s);
    assert_int_equal(s.n, 1);
    assert_close(s.std, 0, 0, 0);

    const double gaps[] = {NAN, 2, INFINITY, 4};   /* non-finite values are left out */
    pt_stats_of(gaps, 4, &s);
    assert_int_equal(s.n, 2);
    assert_close(s.mean, 3, 0, 1e-15);
    assert_close(s.std, sqrt(2.0), 0, 1e-15);

    pt_stats_of(gaps, 1, &s);
    assert_int_equal(s.n, 0);
    assert_true(isnan(s.mean) && isnan(s.std) && isnan(s.min));

    /* No cancellation for large, close values. */
    const double big[] = {1e9 + 1, 1e9 + 2, 1e9 + 3};
    pt_stats_of(big, 3, &s);
    assert_close(s.std, 1, 0, 1e-12);
}

/* ---------------------------------------------------------------- metrics.csv */

static const char HEADER[] =
    "epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,lr,seconds,samples_per_sec\n";

static void test_parse_metrics(void **state)
{
    (void)state;
    int col[PT_EXP_N_COLS];
    assert_int_equal(pt_exp_parse_header(HEADER, col), 0);
    for (int i = 0; i < PT_EXP_N_COLS; i++)
        assert_int_equal(col[i], i);
    pt_epoch_metrics m;
    assert_int_equal(pt_exp_parse_row("3,0.5,0.8,nan,nan,0.6,0.75,0.1,1.5,4000\n", col, &m), 0);
    assert_int_equal(m.epoch, 3);
    assert_close(m.train_loss, 0.5, 0, 0);
    assert_true(isnan(m.val_acc));
    assert_close(m.test_acc, 0.75, 0, 0);
    assert_close(m.samples_per_sec, 4000, 0, 0);

    /* Columns are found by name, in any order; optional ones may be missing. */
    assert_int_equal(pt_exp_parse_header("test_acc,epoch,test_loss,train_acc,train_loss\r\n", col), 0);
    assert_int_equal(col[0], 1);
    assert_int_equal(col[6], 0);
    assert_int_equal(col[3], -1);
    assert_int_equal(pt_exp_parse_row("0.9,2,0.3,0.95,0.2", col, &m), 0);
    assert_int_equal(m.epoch, 2);
    assert_close(m.test_acc, 0.9, 0, 0);
    assert_true(isnan(m.lr));

    /* Required columns and well-formed rows. */
    assert_int_equal(pt_exp_parse_header("epoch,train_loss,train_acc,test_loss\n", col), -1);
    assert_int_equal(pt_exp_parse_header("", col), -1);
    assert_int_equal(pt_exp_parse_header(HEADER, col), 0);
    assert_int_equal(pt_exp_parse_row("1,0.5,0.8,nan,nan,0.6,0.75,0.1,1.5\n", col, &m), -1);  /* short */
    assert_int_equal(pt_exp_parse_row("1,0.5,,nan,nan,0.6,0.75,0.1,1.5,9\n", col, &m), -1);   /* empty */
    assert_int_equal(pt_exp_parse_row("1,0.5,x,nan,nan,0.6,0.75,0.1,1.5,9\n", col, &m), -1);  /* text */
    assert_int_equal(pt_exp_parse_row("1.5,0.5,0.8,nan,nan,0.6,0.75,0.1,1.5,9\n", col, &m), -1);
    assert_int_equal(pt_exp_parse_row("0,0.5,0.8,nan,nan,0.6,0.75,0.1,1.5,9\n", col, &m), -1);

    double v;
    assert_int_equal(pt_exp_metric(&m, "test_acc", &v), 0);
    assert_int_equal(pt_exp_metric(&m, "accuracy", &v), -1);
    assert_true(pt_exp_higher_is_better("val_acc"));
    assert_false(pt_exp_higher_is_better("test_loss"));
}

/* A run folder with a summary.json in results.c's layout and a metrics.csv. */
static void make_run(const char *dir, const char *status, const char *rows)
{
    char path[512], json[512];
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/summary.json", dir);
    snprintf(json, sizeof json,
             "{\n  \"status\": \"%s\",\n  \"message\": \"\",\n  \"data\": {\n    \"n_train\": 2000,\n"
             "    \"n_val\": 0,\n    \"n_test\": 500,\n    \"crc32\": {}\n  }\n}\n", status);
    spit(path, json);
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    char *text = malloc(strlen(HEADER) + strlen(rows) + 1);
    assert_non_null(text);
    strcpy(text, HEADER);
    strcat(text, rows);
    spit(path, text);
    free(text);
}

static void test_read_run(void **state)
{
    (void)state;
    char dir[300], path[400];
    snprintf(dir, sizeof dir, "%s/run-a", root);
    make_run(dir, "complete",
             "1,0.9,0.7,nan,nan,1.0,0.68,0.1,0.2,10000\n2,0.5,0.85,nan,nan,0.6,0.84,0.1,0.3,10000\n");
    pt_exp_run r;
    pt_err err = {""};
    assert_int_equal(pt_exp_read_run(dir, &r, &err), 0);
    assert_int_equal(r.status, PT_STATUS_COMPLETE);
    assert_int_equal(r.n_train, 2000);
    assert_int_equal(r.n_test, 500);
    assert_int_equal(r.n_epochs, 2);
    assert_close(r.epochs[1].test_acc, 0.84, 0, 0);
    pt_exp_run_free(&r);
    assert_int_equal(pt_exp_read_status(dir), PT_STATUS_COMPLETE);

    /* A bad row names the file and the line. */
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    spit(path, "epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,lr,seconds,samples_per_sec\n"
               "1,0.9,0.7,nan,nan,1.0,0.68,0.1,0.2,10000\n1,broken\n");
    assert_int_equal(pt_exp_read_run(dir, &r, &err), -1);
    assert_non_null(strstr(err.msg, "metrics.csv' line 3"));
    assert_null(r.epochs);

    /* No metrics.csv, no summary.json. */
    snprintf(dir, sizeof dir, "%s/run-empty", root);
    mkdir(dir, 0777);
    assert_int_equal(pt_exp_read_status(dir), -1);
    assert_int_equal(pt_exp_read_run(dir, &r, &err), -1);
    assert_non_null(strstr(err.msg, "run-empty/metrics.csv"));

    snprintf(dir, sizeof dir, "%s/run-f", root);
    make_run(dir, "failed", "");
    assert_int_equal(pt_exp_read_status(dir), PT_STATUS_FAILED);
    snprintf(dir, sizeof dir, "%s/run-r", root);
    make_run(dir, "running", "");
    assert_int_equal(pt_exp_read_status(dir), PT_STATUS_RUNNING);
}

/* ---------------------------------------------------------------- compare */

static pt_epoch_metrics row(int epoch, double train_loss, double train_acc, double test_loss,
                            double test_acc, double seconds)
{
    return (pt_epoch_metrics){.epoch = epoch, .train_loss = train_loss, .train_acc = train_acc,
                              .val_loss = NAN, .val_acc = NAN, .test_loss = test_loss,
                              .test_acc = test_acc, .lr = 0.1, .seconds = seconds};
}

static void test_compare_summary(void **state)
{
    (void)state;
    pt_epoch_metrics a[] = {row(1, 0.5, 0.9, 0.40, 0.92, 1.0), row(2, 0.3, 0.95, 0.30, 0.96, 3.0),
                            row(3, 0.2, 0.97, 0.35, 0.95, 2.0)};
    pt_epoch_metrics b[] = {row(1, 0.6, 0.8, 0.50, 0.90, 1.0), row(2, 0.4, 0.9, 0.45, 0.93, 1.0),
                            row(3, 0.3, 0.92, 0.44, 0.94, 1.0)};
    pt_epoch_metrics c[] = {row(1, NAN, NAN, NAN, NAN, 1.0)};
    pt_exp_run runs[] = {
        {.status = PT_STATUS_COMPLETE, .n_train = 1000, .n_test = 200, .n_epochs = 3, .epochs = a},
        {.status = PT_STATUS_COMPLETE, .n_train = 1000, .n_test = 200, .n_epochs = 3, .epochs = b},
        {.status = PT_STATUS_FAILED, .n_train = 1000, .n_test = 200, .n_epochs = 1, .epochs = c},
    };
    pt_compare_row r;
    memset(&r, 0, sizeof r);
    pt_compare_summarize(runs, 3, 0.95, &r);
    assert_int_equal(r.n_runs, 3);
    assert_int_equal(r.n_complete, 2);                 /* the diverged seed is left out */
    assert_close(r.final_test_acc.mean, 0.945, 1e-15, 0);
    assert_close(r.final_test_acc.std, sqrt(0.00005), 1e-15, 1e-12);
    assert_close(r.best_test_acc.mean, (0.96 + 0.94) / 2, 1e-15, 0);
    assert_close(r.best_test_loss.mean, (0.30 + 0.44) / 2, 1e-15, 0);
    assert_close(r.final_train_loss.mean, 0.25, 1e-15, 0);
    /* Misclassified counts: (1 - 0.97) * 1000 = 30 and 80; test 10 and 12. */
    assert_close(r.train_errors.mean, 55, 0, 0);
    assert_close(r.test_errors.mean, 11, 0, 0);
    assert_close(r.test_loss_sum.mean, (0.35 + 0.44) / 2 * 200, 1e-9, 0);
    /* Only run a reaches 95 %, at epoch 2. */
    assert_int_equal(r.epochs_to_target.n, 1);
    assert_close(r.epochs_to_target.mean, 2, 0, 0);
    assert_close(r.seconds_per_epoch.mean, (2.0 + 1.0) / 2, 1e-15, 0);

    /* The files: one CSV row per config, every row as wide as the header. */
    snprintf(r.label, sizeof r.label, "tanh");
    snprintf(r.activation, sizeof r.activation, "tanh");
    char path[300];
    pt_err err = {""};
    snprintf(path, sizeof path, "%s/compare.csv", root);
    pt_compare_row rows[2] = {r, r};
    snprintf(rows[1].label, sizeof rows[1].label, "relu");
    assert_int_equal(pt_compare_write_csv(path, rows, 2, 0.95, &err), 0);
    char *csv = slurp(path);
    assert_non_null(csv);
    assert_int_equal(count_lines(csv), 3);
    assert_non_null(strstr(csv, "epochs_to_95_mean"));
    assert_non_null(strstr(csv, "\ntanh,tanh,3,2,1000,200,0.945,"));
    int commas[3] = {0}, line = 0;
    for (const char *p = csv; *p; p++) {
        if (*p == ',')
            commas[line]++;
        if (*p == '\n')
            line++;
    }
    assert_int_equal(commas[1], commas[0]);
    assert_int_equal(commas[2], commas[0]);
    free(csv);

    snprintf(path, sizeof path, "%s/curves.csv", root);
    assert_int_equal(pt_compare_write_curves(path, runs, 3, &err), 0);
    csv = slurp(path);
    assert_non_null(csv);
    assert_int_equal(count_lines(csv), 4);             /* header + the 3 epochs both complete runs have */
    assert_non_null(strstr(csv, "\n3,0.25,"));         /* epoch 3 mean train loss of a and b */
    free(csv);

    snprintf(path, sizeof path, "%s/compare.md", root);
    assert_int_equal(pt_compare_write_md(path, rows, 2, 3, 0.95, "ptrain compare x", 2, &err), 0);
    char *md = slurp(path);
    assert_non_null(md);
    assert_non_null(strstr(md, "| tanh | tanh | 2 of 3 | 94.50 ± 0.71 |"));
    assert_non_null(strstr(md, "(1 of 2 seeds)"));
    assert_non_null(strstr(md, "misclassified samples"));
    free(md);
}

/* ---------------------------------------------------------------- the sweep grid */

static void test_grid_enumeration(void **state)
{
    (void)state;
    const char *const a[] = {"sweep.train.lr=0.01 0.05 0.1", "sweep.model.hidden=15 32"};
    pt_config *c = sweep_config(a, 2);
    assert_int_equal(pt_grid_size(c), 6);
    int vi[PT_MAX_SWEEP_AXES];
    /* Last axis fastest: (lr, hidden) = (0,0) (0,1) (1,0) ... */
    pt_grid_point(c, 0, vi);
    assert_int_equal(vi[0], 0);
    assert_int_equal(vi[1], 0);
    pt_grid_point(c, 1, vi);
    assert_int_equal(vi[0], 0);
    assert_int_equal(vi[1], 1);
    pt_grid_point(c, 4, vi);
    assert_int_equal(vi[0], 2);
    assert_int_equal(vi[1], 0);
    char name[PT_NAME_MAX];
    pt_grid_point_name(c, 2, name, sizeof name);
    assert_string_equal(name, "p003-lr0.05-hidden15");
    pt_grid_point_name(c, 5, name, sizeof name);
    assert_string_equal(name, "p006-lr0.1-hidden32");

    /* Every point exactly once over the grid. */
    int seen[3][2] = {{0}};
    for (long i = 0; i < 6; i++) {
        pt_grid_point(c, i, vi);
        seen[vi[0]][vi[1]]++;
    }
    for (int x = 0; x < 3; x++)
        for (int y = 0; y < 2; y++)
            assert_int_equal(seen[x][y], 1);

    /* Values that are not folder-safe, and two axes with the same last name. */
    strcpy(c->sweep.axes[1].values[1], "15,15");
    pt_grid_point_name(c, 1, name, sizeof name);
    assert_string_equal(name, "p002-lr0.01-hidden15_15");
    strcpy(c->sweep.axes[1].key, "data.lr");
    pt_grid_point_name(c, 0, name, sizeof name);
    assert_string_equal(name, "p001-train.lr0.01-data.lr15");
    free(c);

    const char *const none[] = {"train.lr=0.1"};
    c = sweep_config(none, 1);
    assert_int_equal(pt_grid_size(c), 0);
    free(c);

    /* 32^4 points is more than PT_GRID_MAX. */
    c = sweep_config(none, 1);
    c->sweep.n_axes = 4;
    for (int i = 0; i < 4; i++) {
        snprintf(c->sweep.axes[i].key, sizeof c->sweep.axes[i].key, "train.lr");
        c->sweep.axes[i].n_values = 32;
    }
    assert_int_equal(pt_grid_size(c), -1);
    long out[1];
    pt_err err = {""};
    assert_int_equal(pt_grid_select(c, out, &err), -1);
    assert_non_null(strstr(err.msg, "more than"));
    free(c);
}

static void test_grid_random_subset(void **state)
{
    (void)state;
    const char *const a[] = {"sweep.train.lr=0.01 0.02 0.05 0.1 0.2", "sweep.model.hidden=8 15 32 64",
                             "sweep.samples=6", "sweep.seed=7"};
    pt_config *c = sweep_config(a, 4);
    long total = pt_grid_size(c), p1[20], p2[20];
    assert_int_equal(total, 20);
    pt_err err = {""};
    assert_int_equal(pt_grid_select(c, p1, &err), 6);
    assert_int_equal(pt_grid_select(c, p2, &err), 6);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(p1[i], p2[i]);                /* same seed, same points */
        assert_true(p1[i] >= 0 && p1[i] < total);
        if (i > 0)
            assert_true(p1[i] > p1[i - 1]);            /* ascending and distinct */
    }
    /* Another seed draws another subset (these two differ). */
    c->sweep.seed = 8;
    assert_int_equal(pt_grid_select(c, p2, &err), 6);
    assert_memory_not_equal(p1, p2, 6 * sizeof *p1);

    /* Every point can be drawn: over many seeds each turns up. */
    int hits[20] = {0};
    c->sweep.samples = 3;
    for (uint64_t s = 1; s <= 200; s++) {
        c->sweep.seed = s;
        assert_int_equal(pt_grid_select(c, p2, &err), 3);
        for (int i = 0; i < 3; i++)
            hits[p2[i]]++;
    }
    for (int i = 0; i < 20; i++)
        assert_true(hits[i] > 0);

    /* samples 0 or >= the grid: the whole grid, in order. */
    c->sweep.samples = 0;
    assert_int_equal(pt_grid_select(c, p1, &err), 20);
    c->sweep.samples = 50;
    assert_int_equal(pt_grid_select(c, p1, &err), 20);
    for (int i = 0; i < 20; i++)
        assert_int_equal(p1[i], i);
    free(c);
}

static void test_grid_apply(void **state)
{
    (void)state;
    const char *const a[] = {"sweep.train.lr=0.01 0.05", "sweep.model.hidden=15 32,16",
                             "sweep.samples=1", "train.epochs=4"};
    pt_config *c = sweep_config(a, 4);
    pt_config *p = malloc(sizeof *p), *q = malloc(sizeof *q);
    assert_non_null(p);
    assert_non_null(q);
    pt_err err = {""};
    assert_int_equal(pt_grid_apply(p, c, 3, &err), 0);
    assert_close(p->train.lr, 0.05, 0, 0);
    assert_int_equal(p->model.n_hidden, 2);
    assert_int_equal(p->model.hidden[0], 32);
    assert_int_equal(p->model.hidden[1], 16);
    assert_int_equal(p->train.epochs, 4);               /* the rest of the base is kept */
    assert_int_equal(p->sweep.n_axes, 0);               /* the [sweep] section is cleared */
    assert_int_equal(p->sweep.samples, 0);

    /* Same training whatever [run] says; a different value is not. */
    assert_int_equal(pt_grid_apply(q, c, 3, &err), 0);
    q->run.threads = 7;
    snprintf(q->run.name, sizeof q->run.name, "elsewhere");
    assert_true(pt_config_same_training(p, q));
    assert_int_equal(pt_grid_apply(q, c, 2, &err), 0);
    assert_false(pt_config_same_training(p, q));

    /* best.ini: that point, no [sweep], run.name empty; it loads back the same. */
    char path[300];
    snprintf(path, sizeof path, "%s/best.ini", root);
    assert_int_equal(pt_sweep_write_best(path, c, 3, &err), 0);
    char *ini = slurp(path);
    assert_non_null(ini);
    assert_null(strstr(ini, "[sweep]"));
    assert_non_null(strstr(ini, "p004-lr0.05-hidden32_16"));
    free(ini);
    pt_config_defaults(q);
    assert_int_equal(pt_config_load(q, path, &err), 0);
    assert_true(pt_config_same_training(p, q));
    assert_string_equal(q->run.name, "");

    /* A value the key refuses names the point. */
    strcpy(c->sweep.axes[0].values[1], "-1");
    assert_int_equal(pt_grid_apply(p, c, 2, &err), -1);
    assert_non_null(strstr(err.msg, "sweep point p003"));
    free(p);
    free(q);
    free(c);
}

/* ---------------------------------------------------------------- the leaderboard */

static pt_sweep_entry entry(long index, double metric)
{
    pt_sweep_entry e;
    memset(&e, 0, sizeof e);
    e.index = index;
    e.metric = metric;
    e.state = isnan(metric) ? PT_POINT_FAILED : PT_POINT_COMPLETE;
    snprintf(e.name, sizeof e.name, "p%03ld", index + 1);
    return e;
}

static void test_sweep_sort(void **state)
{
    (void)state;
    pt_sweep_entry e[] = {entry(0, 0.90), entry(1, NAN), entry(2, 0.95), entry(3, 0.90), entry(4, 0.85)};
    pt_sweep_sort(e, 5, "test_acc");                    /* higher first, NaN last, ties in grid order */
    const long acc_order[] = {2, 0, 3, 4, 1};
    for (int i = 0; i < 5; i++)
        assert_int_equal(e[i].index, acc_order[i]);
    pt_sweep_sort(e, 5, "test_loss");                   /* lower first */
    const long loss_order[] = {4, 0, 3, 2, 1};
    for (int i = 0; i < 5; i++)
        assert_int_equal(e[i].index, loss_order[i]);

    /* sweep.csv: values with a comma are quoted, one row per point. */
    const char *const a[] = {"sweep.model.hidden=15 32,16 8 4 2"};
    pt_config *c = sweep_config(a, 1);
    for (int i = 0; i < 5; i++)
        e[i].value_idx[0] = (int)e[i].index;
    char path[300];
    pt_err err = {""};
    snprintf(path, sizeof path, "%s/sweep.csv", root);
    assert_int_equal(pt_sweep_write_csv(path, c, e, 5, &err), 0);
    char *csv = slurp(path);
    assert_non_null(csv);
    assert_int_equal(count_lines(csv), 6);
    assert_true(strncmp(csv, "rank,point,name,model.hidden,status,metric,", 43) == 0);
    assert_non_null(strstr(csv, "\n5,2,p002,\"32,16\",failed,nan,"));
    free(csv);
    snprintf(path, sizeof path, "%s/sweep.md", root);
    assert_int_equal(pt_sweep_write_md(path, c, e, 5, 5, "ptrain sweep x", &err), 0);
    char *md = slurp(path);
    assert_non_null(md);
    assert_non_null(strstr(md, "Ranked by the last epoch's `test_acc` (higher is better)"));
    assert_non_null(strstr(md, "4 complete, 1 failed"));
    free(md);
    free(c);
}

/* ---------------------------------------------------------------- pictures */

static void test_sweep_plot(void **state)
{
    (void)state;
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        print_message("gnuplot is not installed: skipping the drawing check\n");
        skip();
    }
    const char *const a[] = {"sweep.train.lr=0.001 0.01 0.1", "sweep.model.activation=tanh relu"};
    pt_config *c = sweep_config(a, 2);
    pt_sweep_entry e[] = {entry(0, 0.8), entry(1, 0.85), entry(2, 0.9), entry(5, NAN)};
    char dir[300], path[340];
    snprintf(dir, sizeof dir, "%s/sweep-plot", root);
    assert_int_equal(mkdir(dir, 0777), 0);
    pt_err err = {""};
    int rc = pt_plot_sweep(dir, c, e, 4, &err);
    if (rc != 0)
        print_error("pt_plot_sweep: %s\n", err.msg);
    assert_int_equal(rc, 0);
    snprintf(path, sizeof path, "%s/sweep_plot.dat", dir);
    char *dat = slurp(path);
    assert_non_null(dat);
    /* One row per lr; a column per activation: point 5 (lr 0.1, relu) has no value. */
    assert_non_null(strstr(dat, "\n0.001 \"0.001\" 80 85\n"));
    assert_non_null(strstr(dat, "\n0.1 \"0.1\" NaN NaN\n"));
    free(dat);
    snprintf(path, sizeof path, "%s/plot.gp", dir);
    char *gp = slurp(path);
    assert_non_null(gp);
    assert_non_null(strstr(gp, "set logscale x"));           /* 0.001 .. 0.1 */
    assert_non_null(strstr(gp, "title 'model.activation=relu'"));
    free(gp);

    /* No value at all (every point failed): a picture that says so, not an error. */
    for (int i = 0; i < 4; i++)
        e[i].metric = NAN;
    assert_int_equal(pt_plot_sweep(dir, c, e, 4, &err), 0);
    snprintf(path, sizeof path, "%s/sweep.png", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 0);
    free(c);
}

/* ---------------------------------------------------------------- files */

static void test_stem_and_remove(void **state)
{
    (void)state;
    char s[64];
    pt_exp_stem("configs/tanh.ini", s, sizeof s);
    assert_string_equal(s, "tanh");
    pt_exp_stem("a/b.c.ini", s, sizeof s);
    assert_string_equal(s, "b.c");
    pt_exp_stem("my config!.ini", s, sizeof s);
    assert_string_equal(s, "my_config_");
    pt_exp_stem("dir/.ini", s, sizeof s);
    assert_string_equal(s, "run");
    pt_exp_stem("noext", s, sizeof s);
    assert_string_equal(s, "noext");

    char dir[300], sub[320], file[340];
    snprintf(dir, sizeof dir, "%s/tree", root);
    snprintf(sub, sizeof sub, "%s/deep", dir);
    snprintf(file, sizeof file, "%s/file", sub);
    assert_int_equal(mkdir(dir, 0777), 0);
    assert_int_equal(mkdir(sub, 0777), 0);
    spit(file, "x");
    pt_err err = {""};
    assert_int_equal(pt_exp_remove_tree(dir, &err), 0);
    assert_int_not_equal(access(dir, F_OK), 0);
    assert_int_equal(pt_exp_remove_tree(dir, &err), 0);   /* already gone: nothing to do */
}

/* ---------------------------------------------------------------- fixture */

static int group_setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "%s/pt-experiments-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(root) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    pt_err err;
    return pt_exp_remove_tree(root, &err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_parse_metrics),
        cmocka_unit_test(test_read_run),
        cmocka_unit_test(test_compare_summary),
        cmocka_unit_test(test_grid_enumeration),
        cmocka_unit_test(test_grid_random_subset),
        cmocka_unit_test(test_grid_apply),
        cmocka_unit_test(test_sweep_sort),
        cmocka_unit_test(test_sweep_plot),
        cmocka_unit_test(test_stem_and_remove),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
