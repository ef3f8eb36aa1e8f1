/* test_config.c: the config module against its contract: defaults, files,
 * overrides, sweep axes, the written config reading back identically, and
 * every error message naming file, line, key, what was expected and the
 * nearest valid name. Run from the repository root (reads configs/reference.ini). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pt_config.h"
#include "pt_experiments.h"

static char g_dir[64];

/* ---- helpers ---- */

#define assert_has(text, sub)                                                                  \
    do {                                                                                       \
        if (!strstr((text), (sub)))                                                            \
            fail_msg("message \"%s\"\n  lacks \"%s\"", (text), (sub));                         \
    } while (0)

#define assert_lacks(text, sub)                                                                \
    do {                                                                                       \
        if (strstr((text), (sub)))                                                             \
            fail_msg("message \"%s\"\n  should not contain \"%s\"", (text), (sub));            \
    } while (0)

/* Write text to g_dir/name; the path goes to path. */
static void write_ini(char *path, size_t size, const char *name, const char *text)
{
    snprintf(path, size, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Configs equal in every field but source (memcmp: setters zero what they do not use). */
static void assert_same_config(const pt_config *a, const pt_config *b)
{
    static pt_config x, y;
    x = *a;
    y = *b;
    memset(x.source, 0, sizeof x.source);
    memset(y.source, 0, sizeof y.source);
    if (memcmp(&x, &y, sizeof x) != 0)
        fail_msg("configs differ (train.lr %.17g vs %.17g, n_axes %d vs %d)", x.train.lr,
                 y.train.lr, x.sweep.n_axes, y.sweep.n_axes);
}

/* Load text that must fail: the message must start with "<path>:<line>: "
 * and the config must come back untouched. Returns the message. */
static const char *load_error(const char *name, const char *text, int line, pt_err *err)
{
    char path[256], head[300];
    static pt_config c, before;
    write_ini(path, sizeof path, name, text);
    pt_config_defaults(&c);
    before = c;
    memset(err, 0, sizeof *err);
    assert_int_equal(pt_config_load(&c, path, err), -1);
    snprintf(head, sizeof head, "%s:%d: ", path, line);
    if (strncmp(err->msg, head, strlen(head)) != 0)
        fail_msg("message \"%s\"\n  should start with \"%s\"", err->msg, head);
    assert_memory_equal(&c, &before, sizeof c);
    return err->msg;
}

/* Override that must fail; returns the message. */
static const char *override_error(const char *assignment)
{
    static pt_config c, before;
    static pt_err err;
    pt_config_defaults(&c);
    before = c;
    memset(&err, 0, sizeof err);
    assert_int_equal(pt_config_override(&c, assignment, "command line argument 3", &err), -1);
    assert_has(err.msg, "command line argument 3: ");
    assert_memory_equal(&c, &before, sizeof c);
    return err.msg;
}

/* pt_config_set with no origin that must fail; returns the message. */
static const char *set_error(const char *section, const char *key, const char *value)
{
    static pt_config c, before;
    static pt_err err;
    pt_config_defaults(&c);
    before = c;
    memset(&err, 0, sizeof err);
    assert_int_equal(pt_config_set(&c, section, key, value, NULL, &err), -1);
    assert_memory_equal(&c, &before, sizeof c);
    return err.msg;
}

static void set_ok(pt_config *c, const char *section, const char *key, const char *value)
{
    pt_err err = {{0}};
    if (pt_config_set(c, section, key, value, "test", &err) != 0)
        fail_msg("%s.%s=%s failed: %s", section, key, value, err.msg);
}

static void assert_get(const pt_config *c, const char *key, const char *want)
{
    char buf[PT_PATH_MAX + 16];
    assert_int_equal(pt_config_get(c, key, buf, sizeof buf), 0);
    assert_string_equal(buf, want);
}

/* ---- defaults, names, lookups ---- */

static void test_defaults(void **state)
{
    (void)state;
    pt_config c;
    memset(&c, 0xAB, sizeof c);
    pt_config_defaults(&c);
    assert_string_equal(c.data.train_images, "data/mnist/train-images-idx3-ubyte");
    assert_string_equal(c.data.train_labels, "data/mnist/train-labels-idx1-ubyte");
    assert_string_equal(c.data.test_images, "data/mnist/t10k-images-idx3-ubyte");
    assert_string_equal(c.data.test_labels, "data/mnist/t10k-labels-idx1-ubyte");
    assert_int_equal(c.data.preprocess, PT_PREP_SCALE);
    assert_true(c.data.validation == 5000);
    assert_int_equal(c.data.train_limit, 0);
    assert_int_equal(c.data.test_limit, 0);
    assert_int_equal(c.model.n_hidden, 1);
    assert_int_equal(c.model.hidden[0], 15);
    assert_int_equal(c.model.hidden[1], 0);
    assert_int_equal(c.model.activation, PT_ACT_TANH);
    assert_int_equal(c.model.output, PT_OUT_SOFTMAX);
    assert_int_equal(c.model.init, PT_INIT_XAVIER);
    assert_true(c.model.init_scale == 0.01);
    assert_int_equal(c.train.optimizer, PT_OPT_MOMENTUM);
    assert_true(c.train.lr == 0.1);
    assert_true(c.train.momentum == 0.9);
    assert_true(c.train.beta1 == 0.9);
    assert_true(c.train.beta2 == 0.999);
    assert_true(c.train.eps == 1e-8);
    assert_true(c.train.weight_decay == 0);
    assert_int_equal(c.train.batch, 64);
    assert_int_equal(c.train.epochs, 20);
    assert_int_equal(c.train.schedule, PT_SCHED_CONSTANT);
    assert_int_equal(c.train.step_epochs, 5);
    assert_true(c.train.step_gamma == 0.5);
    assert_true(c.train.lr_min == 0);
    assert_int_equal(c.train.shard, 16);
    assert_true(c.train.seed == 1);
    assert_string_equal(c.run.name, "");
    assert_string_equal(c.run.results_dir, "results");
    assert_int_equal(c.run.threads, 0);
    assert_int_equal(c.run.bind, PT_BIND_COMPACT);
    assert_int_equal(c.run.plots, 1);
    assert_int_equal(c.run.save_model, 1);
    assert_int_equal(c.run.oversubscribe, 0);
    assert_int_equal(c.sweep.n_axes, 0);
    assert_int_equal(c.sweep.samples, 0);
    assert_true(c.sweep.seed == 1);
    assert_string_equal(c.sweep.metric, "test_acc");
    assert_string_equal(c.source, "");

    pt_err err;
    assert_int_equal(pt_config_validate(&c, &err), 0);
}

static void test_enum_names(void **state)
{
    (void)state;
    assert_int_equal(pt_enum_lookup(pt_act_names, PT_ACT_COUNT, "sigmoid"), PT_ACT_SIGMOID);
    assert_int_equal(pt_enum_lookup(pt_act_names, PT_ACT_COUNT, "tanh"), PT_ACT_TANH);
    assert_int_equal(pt_enum_lookup(pt_act_names, PT_ACT_COUNT, "relu"), PT_ACT_RELU);
    assert_int_equal(pt_enum_lookup(pt_act_names, PT_ACT_COUNT, "Relu"), -1);
    assert_int_equal(pt_enum_lookup(pt_act_names, PT_ACT_COUNT, ""), -1);
    assert_int_equal(pt_enum_lookup(pt_out_names, PT_OUT_COUNT, "sigmoid"), PT_OUT_SIGMOID);
    assert_int_equal(pt_enum_lookup(pt_init_names, PT_INIT_COUNT, "he"), PT_INIT_HE);
    assert_int_equal(pt_enum_lookup(pt_opt_names, PT_OPT_COUNT, "adam"), PT_OPT_ADAM);
    assert_int_equal(pt_enum_lookup(pt_sched_names, PT_SCHED_COUNT, "cosine"), PT_SCHED_COSINE);
    assert_int_equal(pt_enum_lookup(pt_prep_names, PT_PREP_COUNT, "standardize"),
                     PT_PREP_STANDARDIZE);
    assert_int_equal(pt_enum_lookup(pt_bind_names, PT_BIND_COUNT, "none"), PT_BIND_NONE);
    /* every name present, so tables indexed by these enums have no holes */
    const char *const *all[] = {pt_act_names,   pt_out_names,  pt_init_names, pt_opt_names,
                                pt_sched_names, pt_prep_names, pt_bind_names};
    const int counts[] = {PT_ACT_COUNT,   PT_OUT_COUNT,  PT_INIT_COUNT, PT_OPT_COUNT,
                          PT_SCHED_COUNT, PT_PREP_COUNT, PT_BIND_COUNT};
    for (int t = 0; t < 7; t++)
        for (int i = 0; i < counts[t]; i++) {
            assert_non_null(all[t][i]);
            assert_int_equal(pt_enum_lookup(all[t], counts[t], all[t][i]), i);
        }
}

/* ---- loading ---- */

static const char full_ini[] =
    "\xEF\xBB\xBF; every key, none at its default\r\n"
    "[data]\n"
    "train_images = /d/train-img.gz\n"
    "train_labels = /d/train-lbl\n"
    "test_images: /d/test-img\n" /* inih also takes ':' */
    "test_labels = /d/test-lbl ; inline comment\n"
    "preprocess = standardize\n"
    "validation = 0.1\n"
    "train_limit = 1000\n"
    "test_limit = 500\n"
    "\n"
    "# another comment style\n"
    "[model]\n"
    "hidden = 128, 64,32\n"
    "activation = relu\n"
    "output = sigmoid\n"
    "init = he\n"
    "init_scale = 0.5\n"
    "[train]\n"
    "optimizer = adam\n"
    "lr = 0.001\n"
    "momentum = 0\n"
    "beta1 = 0.8\n"
    "beta2 = 0.99\n"
    "eps = 1e-7\n"
    "weight_decay = 1e-4\n"
    "batch = 256\n"
    "epochs = 3\n"
    "schedule = cosine\n"
    "step_epochs = 2\n"
    "step_gamma = 0.25\n"
    "lr_min = 1e-5\n"
    "shard = 16\n"
    "seed = 18446744073709551615\n"
    "[run]\n"
    "name = my-run_1\n"
    "results_dir = out dir\n"
    "threads = 12\n"
    "bind = scatter\n"
    "plots = off\n"
    "save_model = No\n"
    "[sweep]\n"
    "samples = 4\n"
    "seed = 7\n"
    "metric = val_loss\n"
    "train.lr = 0.01 0.05\t0.1\n"
    "model.hidden = 15 32 15,15\n";

static void test_load_full_file(void **state)
{
    (void)state;
    char path[256];
    pt_config c;
    pt_err err;
    write_ini(path, sizeof path, "full.ini", full_ini);
    pt_config_defaults(&c);
    if (pt_config_load(&c, path, &err) != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(c.source, path);
    assert_string_equal(c.data.train_images, "/d/train-img.gz");
    assert_string_equal(c.data.train_labels, "/d/train-lbl");
    assert_string_equal(c.data.test_images, "/d/test-img");
    assert_string_equal(c.data.test_labels, "/d/test-lbl");
    assert_int_equal(c.data.preprocess, PT_PREP_STANDARDIZE);
    assert_true(c.data.validation == 0.1);
    assert_int_equal(c.data.train_limit, 1000);
    assert_int_equal(c.data.test_limit, 500);
    assert_int_equal(c.model.n_hidden, 3);
    assert_int_equal(c.model.hidden[0], 128);
    assert_int_equal(c.model.hidden[1], 64);
    assert_int_equal(c.model.hidden[2], 32);
    assert_int_equal(c.model.activation, PT_ACT_RELU);
    assert_int_equal(c.model.output, PT_OUT_SIGMOID);
    assert_int_equal(c.model.init, PT_INIT_HE);
    assert_true(c.model.init_scale == 0.5);
    assert_int_equal(c.train.optimizer, PT_OPT_ADAM);
    assert_true(c.train.lr == 0.001);
    assert_true(c.train.momentum == 0);
    assert_true(c.train.beta1 == 0.8);
    assert_true(c.train.beta2 == 0.99);
    assert_true(c.train.eps == 1e-7);
    assert_true(c.train.weight_decay == 1e-4);
    assert_int_equal(c.train.batch, 256);
    assert_int_equal(c.train.epochs, 3);
    assert_int_equal(c.train.schedule, PT_SCHED_COSINE);
    assert_int_equal(c.train.step_epochs, 2);
    assert_true(c.train.step_gamma == 0.25);
    assert_true(c.train.lr_min == 1e-5);
    assert_int_equal(c.train.shard, 16);
    assert_true(c.train.seed == UINT64_MAX);
    assert_string_equal(c.run.name, "my-run_1");
    assert_string_equal(c.run.results_dir, "out dir");
    assert_int_equal(c.run.threads, 12);
    assert_int_equal(c.run.bind, PT_BIND_SCATTER);
    assert_int_equal(c.run.plots, 0);
    assert_int_equal(c.run.save_model, 0);
    assert_int_equal(c.sweep.samples, 4);
    assert_true(c.sweep.seed == 7);
    assert_string_equal(c.sweep.metric, "val_loss");
    assert_int_equal(c.sweep.n_axes, 2);
    assert_string_equal(c.sweep.axes[0].key, "train.lr");
    assert_int_equal(c.sweep.axes[0].n_values, 3);
    assert_string_equal(c.sweep.axes[0].values[0], "0.01");
    assert_string_equal(c.sweep.axes[0].values[2], "0.1");
    assert_string_equal(c.sweep.axes[1].key, "model.hidden");
    assert_int_equal(c.sweep.axes[1].n_values, 3);
    assert_string_equal(c.sweep.axes[1].values[2], "15,15");
    assert_int_equal(pt_config_validate(&c, &err), 0);
}

static void test_load_over_current_values(void **state)
{
    (void)state;
    char path[256];
    pt_config c;
    pt_err err;
    write_ini(path, sizeof path, "partial.ini", "[train]\nlr = 0.5\n");
    pt_config_defaults(&c);
    c.train.batch = 7; /* set before: a file changes only the keys it names */
    assert_int_equal(pt_config_load(&c, path, &err), 0);
    assert_true(c.train.lr == 0.5);
    assert_int_equal(c.train.batch, 7);
    assert_int_equal(c.train.epochs, 20);

    /* an empty file is a valid config */
    write_ini(path, sizeof path, "empty.ini", "");
    pt_config_defaults(&c);
    assert_int_equal(pt_config_load(&c, path, &err), 0);
    assert_string_equal(c.source, path);
}

/* ---- writing and reading back ---- */

static void round_trip(const pt_config *c)
{
    char path[256];
    pt_config back;
    pt_err err;
    snprintf(path, sizeof path, "%s/written.ini", g_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(pt_config_write(c, f), 0);
    assert_int_equal(fclose(f), 0);
    pt_config_defaults(&back);
    if (pt_config_load(&back, path, &err) != 0)
        fail_msg("written config does not load: %s", err.msg);
    assert_same_config(c, &back);
}

static void test_round_trip(void **state)
{
    (void)state;
    pt_config c;
    pt_config_defaults(&c);
    round_trip(&c);

    char path[256];
    pt_err err;
    write_ini(path, sizeof path, "full.ini", full_ini);
    assert_int_equal(pt_config_load(&c, path, &err), 0);
    round_trip(&c);

    /* doubles that need 16 or 17 digits, tiny and huge ones, all eight layers */
    pt_config_defaults(&c);
    c.train.lr = 1.0 / 3.0;
    c.train.momentum = 0.1 + 0.2;
    c.train.eps = 4.9406564584124654e-324; /* smallest subnormal */
    c.train.lr_min = 1.7976931348623157e308;
    c.data.validation = 0.7;
    set_ok(&c, "model", "hidden", "1,2,3,4,4096,6,7,8");
    set_ok(&c, "run", "name", "x=y:z#w");
    set_ok(&c, "data", "train_images", "a;b c");
    set_ok(&c, "sweep", "train.momentum", "0 0.5 0.99");
    round_trip(&c);
}

static void test_write_layout(void **state)
{
    (void)state;
    pt_config c;
    char *text = NULL;
    size_t len = 0;
    pt_config_defaults(&c);
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    assert_int_equal(pt_config_write(&c, f), 0);
    fclose(f);
    assert_has(text, "[data]\ntrain_images = data/mnist/train-images-idx3-ubyte\n");
    assert_has(text, "\n[model]\nhidden = 15\nactivation = tanh\n");
    assert_has(text, "\nlr = 0.1\n");
    assert_has(text, "\neps = 1e-08\n");
    assert_has(text, "\n[run]\nname =\n");
    assert_has(text, "\nplots = true\n");
    assert_lacks(text, "[sweep]"); /* only when there are axes */
    int lines = 0;
    for (const char *p = text; (p = strstr(p, " =")); p++)
        lines++;
    assert_int_equal(lines, 35); /* every key but [sweep]'s three */
    free(text);

    set_ok(&c, "sweep", "train.lr", "0.1 0.2");
    text = NULL;
    f = open_memstream(&text, &len);
    assert_int_equal(pt_config_write(&c, f), 0);
    fclose(f);
    assert_has(text, "\n[sweep]\nsamples = 0\nseed = 1\nmetric = test_acc\ntrain.lr = 0.1 0.2\n");
    free(text);
}

static void test_get(void **state)
{
    (void)state;
    pt_config c;
    char buf[64];
    pt_config_defaults(&c);
    assert_get(&c, "train.lr", "0.1");
    assert_get(&c, "train.eps", "1e-08");
    assert_get(&c, "train.batch", "64");
    assert_get(&c, "model.hidden", "15");
    assert_get(&c, "model.activation", "tanh");
    assert_get(&c, "run.plots", "true");
    assert_get(&c, "run.name", "");
    assert_get(&c, "data.validation", "5000");
    assert_get(&c, "sweep.metric", "test_acc");
    c.train.seed = UINT64_MAX;
    assert_get(&c, "train.seed", "18446744073709551615");
    c.train.lr = 1.0 / 3.0;
    assert_get(&c, "train.lr", "0.3333333333333333"); /* 16 digits suffice */
    c.train.lr = 0.1 + 0.2;
    assert_get(&c, "train.lr", "0.30000000000000004"); /* 17 needed */
    c.train.lr = 0.3;
    assert_get(&c, "train.lr", "0.3");
    set_ok(&c, "model", "hidden", "128, 64");
    assert_get(&c, "model.hidden", "128,64");
    set_ok(&c, "sweep", "model.hidden", "15 15,15");
    assert_get(&c, "sweep.model.hidden", "15 15,15");

    assert_int_equal(pt_config_get(&c, "train.nope", buf, sizeof buf), -1);
    assert_int_equal(pt_config_get(&c, "lr", buf, sizeof buf), -1);
    assert_int_equal(pt_config_get(&c, "nope.lr", buf, sizeof buf), -1);
    assert_int_equal(pt_config_get(&c, "sweep.train.lr", buf, sizeof buf), -1);
    assert_int_equal(pt_config_get(&c, "data.train_images", buf, 8), -1); /* too small */
    c.model.activation = (pt_act_kind)7;
    assert_int_equal(pt_config_get(&c, "model.activation", buf, sizeof buf), -1);
}

/* ---- overrides ---- */

static void test_overrides(void **state)
{
    (void)state;
    pt_config c;
    pt_err err;
    pt_config_defaults(&c);
    assert_int_equal(pt_config_override(&c, "train.lr=0.05", "arg 1", &err), 0);
    assert_true(c.train.lr == 0.05);
    assert_int_equal(pt_config_override(&c, "  model.hidden = 32,16  ", "arg 2", &err), 0);
    assert_int_equal(c.model.n_hidden, 2);
    assert_int_equal(c.model.hidden[1], 16);
    assert_int_equal(pt_config_override(&c, "run.name=", "arg 3", &err), 0);
    assert_string_equal(c.run.name, "");
    assert_int_equal(pt_config_override(&c, "data.train_images=a=b.idx", "arg 4", &err), 0);
    assert_string_equal(c.data.train_images, "a=b.idx");
    assert_int_equal(pt_config_override(&c, "run.plots=NO", NULL, &err), 0);
    assert_int_equal(c.run.plots, 0);
    /* a sweep axis: added, then replaced when named again */
    assert_int_equal(pt_config_override(&c, "sweep.train.lr=0.1 0.2", "arg 5", &err), 0);
    assert_int_equal(pt_config_override(&c, "sweep.train.batch=32 64", "arg 6", &err), 0);
    assert_int_equal(pt_config_override(&c, "sweep.train.lr=0.3", "arg 7", &err), 0);
    assert_int_equal(c.sweep.n_axes, 2);
    assert_string_equal(c.sweep.axes[0].key, "train.lr");
    assert_int_equal(c.sweep.axes[0].n_values, 1);
    assert_string_equal(c.sweep.axes[0].values[0], "0.3");
    assert_int_equal(pt_config_override(&c, "sweep.samples=3", "arg 8", &err), 0);
    assert_int_equal(c.sweep.samples, 3);
}

static void test_override_errors(void **state)
{
    (void)state;
    const char *m = override_error("train.lr=abc");
    assert_string_equal(m, "command line argument 3: 'train.lr=abc': train.lr: expected a number "
                           "in (0, 100], got 'abc'");

    m = override_error("train.lr");
    assert_has(m, "'train.lr': expected section.key=value");

    m = override_error("lr=0.05");
    assert_has(m, "'lr=0.05': expected section.key=value; did you mean 'train.lr=0.05'?");

    m = override_error("epoch=3");
    assert_has(m, "did you mean 'train.epochs=3'?");

    m = override_error("zzz=1");
    assert_has(m, "expected section.key=value, e.g. train.lr=0.05");

    m = override_error("train.lr_rate=0.1");
    assert_has(m, "unknown key 'train.lr_rate'; did you mean 'train.lr'?");

    m = override_error("model.lr=0.1");
    assert_has(m, "unknown key 'model.lr'; did you mean 'train.lr'?");

    m = override_error("trian.batch=3");
    assert_has(m, "did you mean 'train.batch'?");

    m = override_error("foo.bar=1");
    assert_has(m, "unknown key 'foo.bar'");
    assert_lacks(m, "did you mean");

    m = override_error("model.activation=Tanh");
    assert_has(m, "model.activation: expected one of sigmoid|tanh|relu, got 'Tanh'; "
                  "did you mean 'tanh'?");

    m = override_error("sweep.train.lr=0.1 x");
    assert_has(m, "sweep axis train.lr, value 2: train.lr: expected a number");

    pt_config c;
    pt_err err;
    pt_config_defaults(&c);
    assert_int_equal(pt_config_override(&c, "train.batch=0", NULL, &err), -1);
    assert_has(err.msg, "override: 'train.batch=0': train.batch: expected an integer in "
                        "[1, 1048576], got '0'");
}

/* ---- value checks of each type ---- */

static void test_value_checks(void **state)
{
    (void)state;
    const char *m;
    m = set_error("train", "batch", "64x");
    assert_string_equal(m, "train.batch: expected an integer in [1, 1048576], got '64x'");
    assert_has(set_error("train", "batch", ""), "got ''");
    assert_has(set_error("train", "batch", " 64"), "expected an integer");
    assert_has(set_error("train", "batch", "6.4e1"), "expected an integer");
    assert_has(set_error("train", "batch", "1048577"), "in [1, 1048576]");
    assert_has(set_error("data", "train_limit", "99999999999"), "expected an integer >= 0");
    assert_has(set_error("data", "train_limit", "-1"), "expected an integer >= 0");

    assert_has(set_error("train", "lr", "-1"), "train.lr: expected a number in (0, 100], got '-1'");
    assert_has(set_error("train", "lr", "0"), "in (0, 100]");
    assert_has(set_error("train", "lr", "100.0001"), "in (0, 100]");
    assert_has(set_error("train", "lr", "inf"), "got 'inf'");
    assert_has(set_error("train", "lr", "nan"), "got 'nan'");
    assert_has(set_error("train", "lr", "1e999"), "got '1e999'");
    assert_has(set_error("train", "lr", "1e-400"), "got '1e-400'");
    assert_has(set_error("train", "lr", "0.1x"), "got '0.1x'");
    assert_has(set_error("train", "momentum", "1"), "in [0, 1)");
    assert_has(set_error("train", "lr_min", "-0.1"), "train.lr_min: expected a number >= 0");

    assert_has(set_error("train", "seed", "-1"), "train.seed: expected an integer in [0, 1844");
    assert_has(set_error("train", "seed", "18446744073709551616"), "train.seed: expected");
    assert_has(set_error("train", "seed", "0x10"), "train.seed: expected");

    assert_has(set_error("run", "plots", "maybe"), "run.plots: expected true or false");
    assert_has(set_error("run", "plots", "2"), "run.plots: expected true or false");

    assert_has(set_error("data", "validation", "1.5"), "a whole count");
    assert_has(set_error("data", "validation", "-0.5"), "data.validation: expected 0 (none)");
    assert_has(set_error("data", "validation", "3e9"), "data.validation: expected");

    const char *list = "model.hidden: expected 1 to 8 comma-separated widths, each in [1, 4096]";
    assert_has(set_error("model", "hidden", "0"), list);
    assert_has(set_error("model", "hidden", "4097"), list);
    assert_has(set_error("model", "hidden", "128,"), list);
    assert_has(set_error("model", "hidden", ",128"), list);
    assert_has(set_error("model", "hidden", "1,2,3,4,5,6,7,8,9"), list);
    assert_has(set_error("model", "hidden", "128 64"), list);
    assert_has(set_error("model", "hidden", ""), list);

    char longname[PT_NAME_MAX + 8];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_has(set_error("run", "name", longname),
               "run.name: too long (135 characters, at most 127)");
    char longpath[400];
    memset(longpath, 'p', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = '\0';
    assert_has(set_error("data", "train_images", longpath), "fits on one INI line");
    assert_has(set_error("data", "train_images", ""), "data.train_images: must not be empty");
    assert_has(set_error("run", "name", "a/b"), "run.name: expected a folder name without '/'");
    assert_has(set_error("run", "name", ".."), "run.name: expected a folder name");
    assert_has(set_error("run", "name", " x"), "leading or trailing blanks");
    assert_has(set_error("run", "name", "a ;b"), "would start a comment");
    assert_has(set_error("run", "name", ";b"), "would start a comment");
    assert_has(set_error("run", "name", "a\nb"), "control characters");
    assert_has(set_error("sweep", "metric", "test_accuracy"),
               "sweep.metric: expected one of train_loss|train_acc|val_loss|val_acc|test_loss|"
               "test_acc, got 'test_accuracy'; did you mean 'test_acc'?");

    assert_has(set_error("train", "nope", "1"), "unknown key 'train.nope'");
    assert_has(set_error("train", "epoch", "1"), "did you mean 'train.epochs'?");
    assert_has(set_error("x", "lr", "1"), "did you mean 'train.lr'?");

    /* what is accepted */
    pt_config c;
    pt_config_defaults(&c);
    set_ok(&c, "train", "batch", "+7");
    assert_int_equal(c.train.batch, 7);
    set_ok(&c, "train", "lr", "1E-2");
    assert_true(c.train.lr == 0.01);
    set_ok(&c, "train", "lr", "100");
    set_ok(&c, "train", "seed", "18446744073709551615");
    assert_true(c.train.seed == UINT64_MAX);
    set_ok(&c, "data", "validation", "0");
    set_ok(&c, "data", "validation", "0.25");
    set_ok(&c, "data", "validation", "1e3");
    assert_true(c.data.validation == 1000);
    const char *truth[] = {"true", "yes", "on", "1", "TRUE", "Yes"};
    const char *lies[] = {"false", "no", "off", "0", "False", "OFF"};
    for (int i = 0; i < 6; i++) {
        set_ok(&c, "run", "plots", lies[i]);
        assert_int_equal(c.run.plots, 0);
        set_ok(&c, "run", "plots", truth[i]);
        assert_int_equal(c.run.plots, 1);
    }
    set_ok(&c, "model", "hidden", "4096,1,2,3,4,5,6,7");
    assert_int_equal(c.model.n_hidden, 8);
    set_ok(&c, "model", "hidden", "3");
    assert_int_equal(c.model.n_hidden, 1);
    assert_int_equal(c.model.hidden[1], 0); /* old widths cleared */
}

/* ---- file errors: each names the file, the line and the fix ---- */

static void test_error_unknown_key(void **state)
{
    (void)state;
    pt_err err;
    const char *m = load_error("x.ini",
                               "; a comment\n[data]\nvalidation = 0\n\n[train]\nbatch = 32\n"
                               "lr_rate = 0.1\nepochs = 3\n",
                               7, &err);
    assert_has(m, "x.ini:7: unknown key 'lr_rate' in [train]; did you mean 'lr'?");

    m = load_error("x2.ini", "[train]\nbatch_size = 3\n", 2, &err);
    assert_has(m, "did you mean 'batch'?");

    m = load_error("x3.ini", "[model]\n\nlr = 0.1\n", 3, &err);
    assert_has(m, "unknown key 'lr' in [model]; it belongs in [train]");

    m = load_error("x4.ini", "[train]\nwibble = 1\n", 2, &err);
    assert_has(m, "unknown key 'wibble' in [train]");
    assert_lacks(m, "did you mean");

    m = load_error("x5.ini", "[train]\ntrain.lr = 1\n", 2, &err);
    assert_has(m, "go in [sweep]");
}

static void test_error_bad_values_in_file(void **state)
{
    (void)state;
    pt_err err;
    const char *m = load_error("enum.ini", "[data]\n[model]\nhidden = 15\n\nactivation = tan\n", 5,
                               &err);
    assert_string_equal(strstr(m, "enum.ini:5: "),
                        "enum.ini:5: model.activation: expected one of sigmoid|tanh|relu, "
                        "got 'tan'; did you mean 'tanh'?");

    m = load_error("range.ini", "[train]\nbatch = 8\nepochs = 2\nmomentum = 0.5\nseed = 3\n\n"
                                "lr = -1\n",
                   7, &err);
    assert_has(m, "range.ini:7: train.lr: expected a number in (0, 100], got '-1'");

    m = load_error("int.ini", "[run]\n[train]\nbatch = 64x\n", 3, &err);
    assert_has(m, "int.ini:3: train.batch: expected an integer in [1, 1048576], got '64x'");

    m = load_error("hash.ini", "[train]\nlr = 0.1 # a comment\n", 2, &err);
    assert_has(m, "got '0.1 # a comment' (inline comments start with ';', not '#')");

    m = load_error("crlf.ini", "[train]\r\nlr = 0.2\r\nbatch = x\r\n", 3, &err);
    assert_has(m, "crlf.ini:3: train.batch: expected an integer");
}

static void test_error_unknown_section(void **state)
{
    (void)state;
    pt_err err;
    const char *m = load_error("sec.ini", "[train]\nlr = 0.2\n[trian]\nbatch = 3\nlr = 0.1\n", 3,
                               &err);
    assert_has(m, "sec.ini:3: unknown section [trian]; did you mean [train]?");

    m = load_error("sec2.ini", "[model]\nhidden = 3\n\n[Models]\n", 4, &err); /* no keys in it */
    assert_has(m, "unknown section [Models]; did you mean [model]?");

    m = load_error("sec3.ini", "[optimiser]\nlr = 1\n", 1, &err);
    assert_has(m, "unknown section [optimiser]; sections are [data] [model] [train] [run] [sweep]");
}

static void test_error_duplicate_key(void **state)
{
    (void)state;
    pt_err err;
    const char *m = load_error("dup.ini", "[train]\nlr = 0.1\nbatch = 3\n[model]\nhidden = 4\n"
                                          "[train]\nlr = 0.2\n",
                               7, &err);
    assert_has(m, "dup.ini:7: duplicate key 'lr' in [train] (first set on line 2)");

    /* the same key in two files is fine: the later file wins */
    char a[256], b[256];
    pt_config c;
    write_ini(a, sizeof a, "dup_a.ini", "[train]\nlr = 0.1\n");
    write_ini(b, sizeof b, "dup_b.ini", "[train]\nlr = 0.2\n");
    pt_config_defaults(&c);
    assert_int_equal(pt_config_load(&c, a, &err), 0);
    assert_int_equal(pt_config_load(&c, b, &err), 0);
    assert_true(c.train.lr == 0.2);
    assert_string_equal(c.source, b);
}

static void test_error_key_outside_section(void **state)
{
    (void)state;
    pt_err err;
    const char *m = load_error("nosec.ini", "; comment\n\nlr = 0.1\n[train]\n", 3, &err);
    assert_has(m, "nosec.ini:3: key 'lr' is outside any section; put it under a [section] header "
                  "(it belongs in [train])");
    m = load_error("nosec2.ini", "\xEF\xBB\xBFtrain.lr = 0.1\n", 1, &err);
    assert_has(m, "key 'train.lr' is outside any section; write it as 'lr = ...' under [train]");
    m = load_error("bom.ini", "\xEF\xBB\xBFlr 1\n", 1, &err);
    assert_has(m, "bom.ini:1: cannot parse 'lr 1'"); /* the byte-order mark is not quoted */
}

static void test_error_malformed(void **state)
{
    (void)state;
    pt_err err;
    const char *m = load_error("bad.ini", "[train]\nlr = 0.1\n\nbatch 32\n", 4, &err);
    assert_has(m, "bad.ini:4: cannot parse 'batch 32': expected 'key = value', '[section]' or a "
                  "comment");

    m = load_error("bad2.ini", "[train]\nlr = 0.1\n[model\nhidden = 3\n", 3, &err);
    assert_has(m, "bad2.ini:3: section header '[model' has no closing ']'");

    /* an indented line after a key would silently become part of its value */
    m = load_error("indent.ini", "[train]\nbatch = 32\n    lr = 0.1\n", 3, &err);
    assert_has(m, "indent.ini:3: indented line continues the value of 'batch' above");
    /* ...but indentation right after a section header is just indentation */
    char path[256];
    pt_config c;
    write_ini(path, sizeof path, "indent_ok.ini", "[train]\n    lr = 0.3\n");
    pt_config_defaults(&c);
    assert_int_equal(pt_config_load(&c, path, &err), 0);
    assert_true(c.train.lr == 0.3);

    /* too long for inih's line buffer: refused whole, not split into two lines */
    char text[400] = "[data]\ntrain_images = ";
    size_t n = strlen(text);
    memset(text + n, 'a', 250);
    strcpy(text + n + 250, "\n");
    m = load_error("long.ini", text, 2, &err);
    assert_has(m, "long.ini:2: line is too long (");
}

static void test_first_error_wins(void **state)
{
    (void)state;
    pt_err err;
    /* a bad value before a malformed line */
    const char *m = load_error("first1.ini", "[train]\nlr = x\nbatch 3\n", 2, &err);
    assert_has(m, "train.lr");
    /* a malformed line before a bad value */
    m = load_error("first2.ini", "[train]\nlr 1\nbatch = x\n", 2, &err);
    assert_has(m, "cannot parse 'lr 1'");
    /* an unknown section before a malformed line inside it */
    m = load_error("first3.ini", "[trian]\nlr = 1\nbatch 3\n", 1, &err);
    assert_has(m, "unknown section [trian]");
    /* a malformed line before an unknown section */
    m = load_error("first4.ini", "[train]\nbatch 3\n[trian]\n", 2, &err);
    assert_has(m, "cannot parse 'batch 3'");
    /* two bad values: the first */
    m = load_error("first5.ini", "[train]\nlr = 1\nbatch = 0\nepochs = 0\n", 3, &err);
    assert_has(m, "train.batch");
}

static void test_error_files(void **state)
{
    (void)state;
    pt_config c, before;
    pt_err err;
    char path[256];
    pt_config_defaults(&c);
    before = c;
    snprintf(path, sizeof path, "%s/missing.ini", g_dir);
    assert_int_equal(pt_config_load(&c, path, &err), -1);
    char want[300];
    snprintf(want, sizeof want, "cannot open '%s': No such file or directory", path);
    assert_string_equal(err.msg, want);
    assert_int_equal(pt_config_load(&c, g_dir, &err), -1);
    assert_has(err.msg, "cannot read '");
    assert_has(err.msg, "Is a directory");
    assert_memory_equal(&c, &before, sizeof c);
}

/* ---- sweep ---- */

static void test_sweep_errors(void **state)
{
    (void)state;
    pt_err err;
    const char *m = load_error("sw1.ini", "[sweep]\nsamples = 2\ntrain.lr = 0.01 0.05 -1\n", 3,
                               &err);
    assert_has(m, "sw1.ini:3: sweep axis train.lr, value 3: train.lr: expected a number in "
                  "(0, 100], got '-1'");

    m = load_error("sw2.ini", "[sweep]\nmodel.hidden = 15 0,3\n", 2, &err);
    assert_has(m, "sweep axis model.hidden, value 2: model.hidden: expected");

    m = load_error("sw3.ini", "[sweep]\ntrain.lrate = 0.1\n", 2, &err);
    assert_has(m, "sw3.ini:2: sweep axis 'train.lrate': unknown key; did you mean 'train.lr'?");

    m = load_error("sw4.ini", "[sweep]\nsweep.seed = 1 2\n", 2, &err);
    assert_has(m, "sweep axis 'sweep.seed': [sweep] keys cannot be swept");

    m = load_error("sw5.ini", "[sweep]\ntrain.lr = 0.1\ntrain.batch = 8\ntrain.lr = 0.2\n", 4,
                   &err);
    assert_has(m, "sw5.ini:4: duplicate sweep axis 'train.lr' (first on line 2)");

    m = load_error("sw6.ini", "[sweep]\ntrain.lr = 0.1 0.2 0.1\n", 2, &err);
    assert_has(m, "value '0.1' is listed twice");

    m = load_error("sw7.ini", "[sweep]\ntrain.lr =\n", 2, &err);
    assert_has(m, "sweep axis train.lr: expected one or more values");

    char text[256] = "[sweep]\ntrain.epochs =";
    for (int i = 1; i <= PT_MAX_SWEEP_VALUES + 1; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), " %d", i);
    strcat(text, "\n");
    m = load_error("sw8.ini", text, 2, &err);
    assert_has(m, "sweep axis train.epochs: more than 32 values");

    m = load_error("sw9.ini",
                   "[sweep]\ntrain.lr = 1\ntrain.batch = 1\ntrain.epochs = 1\ntrain.momentum = 0\n"
                   "train.beta1 = 0\ntrain.beta2 = 0\ntrain.eps = 1\ntrain.seed = 1\n"
                   "train.shard = 1\n",
                   10, &err);
    assert_has(m, "sweep axis train.shard: more than 8 axes");

    m = load_error("sw10.ini", "[sweep]\nmetric = test_accuracy\n", 2, &err);
    assert_has(m, "sw10.ini:2: sweep.metric: expected one of train_loss|");
    assert_has(m, "did you mean 'test_acc'?");

    m = load_error("sw11.ini", "[sweep]\nsamples = -1\n", 2, &err);
    assert_has(m, "sweep.samples: expected an integer >= 0, got '-1'");

    char longval[100];
    memset(longval, '1', 70);
    longval[70] = '\0';
    snprintf(text, sizeof text, "[sweep]\ntrain.seed = 1 %s\n", longval);
    m = load_error("sw12.ini", text, 2, &err);
    assert_has(m, "sweep axis train.seed: value 2 is too long (70 characters, at most 63)");
}

/* ---- validation across keys ---- */

static void test_validate(void **state)
{
    (void)state;
    pt_config c;
    pt_err err;
    pt_config_defaults(&c);
    c.train.lr_min = 0.5; /* above lr, but only the cosine schedule uses lr_min */
    assert_int_equal(pt_config_validate(&c, &err), 0);
    c.train.schedule = PT_SCHED_COSINE;
    assert_int_equal(pt_config_validate(&c, &err), -1);
    assert_has(err.msg, "train.lr_min (0.5) is above train.lr (0.1)");
    c.train.lr_min = 0.1;
    assert_int_equal(pt_config_validate(&c, &err), 0);

    pt_config_defaults(&c);
    c.data.train_limit = 1000; /* applies after the split: 5000 held out, 1000 trained on */
    assert_int_equal(pt_config_validate(&c, &err), 0);
    c.data.validation = 0.1;
    assert_int_equal(pt_config_validate(&c, &err), 0);
    c.data.validation = 2.5; /* set by code, not by the parser */
    assert_int_equal(pt_config_validate(&c, &err), -1);
    assert_has(err.msg, "data.validation (2.5)");
    c.data.validation = -1;
    assert_int_equal(pt_config_validate(&c, &err), -1);
}

/* ---- the reference file cannot drift from the table ---- */

static void test_reference_file_matches(void **state)
{
    (void)state;
    char *want = NULL, *have = NULL;
    size_t want_len = 0, have_len = 0;
    FILE *f = open_memstream(&want, &want_len);
    assert_non_null(f);
    pt_config_write_reference(f);
    fclose(f);

    f = fopen("configs/reference.ini", "rb");
    if (!f)
        fail_msg("cannot open configs/reference.ini: run the tests from the repository root");
    FILE *g = open_memstream(&have, &have_len);
    int ch;
    while ((ch = fgetc(f)) != EOF)
        fputc(ch, g);
    fclose(f);
    fclose(g);
    if (strcmp(want, have) != 0)
        fail_msg("configs/reference.ini differs from pt_config_write_reference(); regenerate it "
                 "with `ptrain keys > configs/reference.ini`");
    /* it documents every key */
    assert_has(want, "\nlr = 0.1\n");
    assert_has(want, "\n; Value: one of sigmoid|tanh|relu.\nactivation = tanh\n");
    assert_has(want, "[sweep]");
    free(want);
    free(have);
}

static void test_reference_loads_to_defaults(void **state)
{
    (void)state;
    char path[256];
    pt_config c, d;
    pt_err err;
    snprintf(path, sizeof path, "%s/reference.ini", g_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    pt_config_write_reference(f);
    fclose(f);
    pt_config_defaults(&c);
    c.train.lr = 7; /* every key is in the reference, so every key returns to its default */
    c.run.plots = 0;
    set_ok(&c, "model", "hidden", "3,3");
    set_ok(&c, "sweep", "metric", "val_acc");
    if (pt_config_load(&c, path, &err) != 0)
        fail_msg("%s", err.msg);
    pt_config_defaults(&d);
    assert_same_config(&c, &d);
}

/* ---- fixture ---- */

static int make_dir(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/pt_config_test_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    pt_err err;
    return pt_exp_remove_tree(g_dir, &err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_enum_names),
        cmocka_unit_test(test_load_full_file),
        cmocka_unit_test(test_load_over_current_values),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_write_layout),
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_override_errors),
        cmocka_unit_test(test_value_checks),
        cmocka_unit_test(test_error_unknown_key),
        cmocka_unit_test(test_error_bad_values_in_file),
        cmocka_unit_test(test_error_unknown_section),
        cmocka_unit_test(test_error_duplicate_key),
        cmocka_unit_test(test_error_key_outside_section),
        cmocka_unit_test(test_error_malformed),
        cmocka_unit_test(test_first_error_wins),
        cmocka_unit_test(test_error_files),
        cmocka_unit_test(test_sweep_errors),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_reference_file_matches),
        cmocka_unit_test(test_reference_loads_to_defaults),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
