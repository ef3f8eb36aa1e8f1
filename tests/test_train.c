/* test_train.c: the data-parallel trainer as a whole, on synthetic data
 * built in memory: it learns an easy problem; its results are bit-identical
 * for any thread count and placement; a step over shards equals the step
 * computed from one whole-batch gradient; divergence stops the pass; and
 * evaluation equals a serial loop over the public kernels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pt_config.h"
#include "pt_data.h"
#include "pt_kernels.h"
#include "pt_model.h"
#include "pt_optim.h"
#include "pt_placement.h"
#include "pt_rng.h"
#include "pt_train.h"

/* ---- synthetic data ----------------------------------------------------------- */

/* n samples of dim features in k classes. Class c lights up its own block of
 * dim/k features (around 200) over a dark background (around 30), with
 * uniform noise of +-noise on every feature: well separated for small noise,
 * overlapping for large. Labels cycle 0, 1, ..., k-1 in a shuffled order. */
static pt_dataset make_blobs(int n, int dim, int k, int noise, uint64_t seed)
{
    pt_dataset d = {.n = n, .dim = dim, .rows = 1, .cols = dim, .n_classes = k};
    d.x = malloc((size_t)n * (size_t)dim);
    d.y = malloc((size_t)n);
    assert_non_null(d.x);
    assert_non_null(d.y);
    pt_rng r;
    pt_rng_seed(&r, seed, PT_STREAM_SWEEP);
    int block = dim / k;
    for (int i = 0; i < n; i++) {
        int c = (int)pt_rng_below(&r, (uint64_t)k);
        d.y[i] = (uint8_t)c;
        for (int f = 0; f < dim; f++) {
            int base = f / block == c ? 200 : 30;
            int v = base + (int)pt_rng_below(&r, 2 * (uint64_t)noise + 1) - noise;
            d.x[(size_t)i * (size_t)dim + (size_t)f] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    return d;
}

static void free_blobs(pt_dataset *d)
{
    free(d->x);
    free(d->y);
}

static const pt_input_map MAP = {.scale = 1.0f / 255.0f, .shift = 0.0f, .mean = 0.0, .std = 255.0};

static int *range(long n)
{
    int *idx = malloc((size_t)n * sizeof *idx);
    assert_non_null(idx);
    for (long i = 0; i < n; i++)
        idx[i] = (int)i;
    return idx;
}

/* ---- a model, optimiser and trainer from a config ------------------------------------ */

typedef struct rig {
    pt_config cfg;
    pt_model model;
    pt_optim optim;
    pt_trainer *trainer;
    pt_placement *placement;
} rig;

static void rig_model(rig *g, const pt_dataset *d, int n_hidden, const int *hidden, uint64_t seed)
{
    int sizes[PT_MAX_LAYERS + 1];
    sizes[0] = d->dim;
    for (int l = 0; l < n_hidden; l++)
        sizes[l + 1] = hidden[l];
    sizes[n_hidden + 1] = d->n_classes;
    pt_err err = {{0}};
    if (pt_model_create(&g->model, n_hidden + 1, sizes, g->cfg.model.activation, g->cfg.model.output,
                        &err))
        fail_msg("pt_model_create: %s", err.msg);
    pt_rng r;
    pt_rng_seed(&r, seed, PT_STREAM_INIT);
    pt_model_init(&g->model, g->cfg.model.init, g->cfg.model.init_scale, &r);
}

static void rig_trainer(rig *g, const pt_dataset *d, long n_train, int threads)
{
    pt_err err = {{0}};
    long steps = (n_train + g->cfg.train.batch - 1) / g->cfg.train.batch;
    if (pt_optim_create(&g->optim, &g->cfg, g->model.n_params, steps, &err))
        fail_msg("pt_optim_create: %s", err.msg);
    g->trainer = pt_trainer_create(&g->model, &g->optim, d, &MAP, g->cfg.train.batch, g->cfg.train.shard,
                                   threads, g->placement, &err);
    if (!g->trainer)
        fail_msg("pt_trainer_create: %s", err.msg);
}

static void rig_free(rig *g)
{
    pt_trainer_free(g->trainer);
    pt_optim_free(&g->optim);
    pt_model_free(&g->model);
    pt_placement_free(g->placement);
    memset(g, 0, sizeof *g);
}

/* ---- (a) it learns ------------------------------------------------------------------- */

static void test_learns_blobs(void **state)
{
    (void)state;
    pt_dataset d = make_blobs(512, 16, 4, 40, 1);
    rig g = {0};
    pt_config_defaults(&g.cfg); /* tanh, softmax, xavier, momentum 0.9, lr 0.1 */
    g.cfg.train.batch = 32;
    g.cfg.train.shard = 8;
    g.cfg.train.epochs = 5;
    const int hidden[1] = {15};
    rig_model(&g, &d, 1, hidden, 3);
    rig_trainer(&g, &d, d.n, 2);
    int *order = range(d.n), *all = range(d.n);
    double loss0, acc0, loss, acc;
    pt_trainer_evaluate(g.trainer, &d, all, d.n, &loss0, &acc0, NULL);
    pt_rng shuffle;
    pt_rng_seed(&shuffle, 5, PT_STREAM_SHUFFLE);
    for (int e = 0; e < g.cfg.train.epochs; e++) {
        pt_rng_shuffle(&shuffle, order, d.n);
        pt_pass_stats st;
        assert_int_equal(pt_trainer_pass(g.trainer, order, d.n, &st), 0);
        assert_int_equal(st.diverged, 0);
        assert_int_equal(st.steps, 16);
        assert_int_equal(st.samples, 512);
        assert_true(isfinite(st.loss_sum) && st.loss_sum > 0);
        assert_true(st.correct >= 0 && st.correct <= 512);
    }
    assert_int_equal(pt_trainer_step_count(g.trainer), 5 * 16);
    pt_trainer_evaluate(g.trainer, &d, all, d.n, &loss, &acc, NULL);
    print_message("blobs: loss %.4f -> %.4f, accuracy %.3f -> %.3f\n", loss0, loss, acc0, acc);
    if (!(acc > 0.95))
        fail_msg("accuracy %.3f after 5 epochs (loss %.4f, initially %.4f)", acc, loss, loss0);
    assert_true(loss < 0.5 * loss0);
    /* Fresh data from the same distribution: it generalises. */
    pt_dataset t = make_blobs(512, 16, 4, 40, 2);
    pt_trainer_evaluate(g.trainer, &t, all, t.n, &loss, &acc, NULL);
    assert_true(acc > 0.95);
    free(order);
    free(all);
    free_blobs(&t);
    free_blobs(&d);
    rig_free(&g);
}

/* ---- (b) bit-identical for every thread count and placement --------------------------- */

typedef struct outcome {
    float *params;
    size_t n;
    uint64_t loss_bits[2];
    long correct[2];
    double eval_loss, eval_acc;
    uint8_t pred[1000];
} outcome;

/* 1000 samples, 32 features, 10 classes, 32 -> 100 -> 10: 5312 parameters,
 * 11 reduction blocks of 512, so threads split the update unevenly. */
enum { DN = 1000, DDIM = 32, DK = 10 };

static void run_config(const pt_dataset *d, int batch, int shard, int threads, pt_bind_kind bind,
                       int use_placement, outcome *out)
{
    rig g = {0};
    pt_config_defaults(&g.cfg);
    g.cfg.train.batch = batch;
    g.cfg.train.shard = shard;
    g.cfg.train.epochs = 2;
    g.cfg.train.optimizer = PT_OPT_ADAM;
    g.cfg.train.lr = 0.01;
    g.cfg.train.weight_decay = 1e-4;
    g.cfg.train.schedule = PT_SCHED_COSINE;
    g.cfg.train.lr_min = 0.001;
    if (use_placement) {
        pt_err err = {{0}};
        if (pt_placement_create(&g.placement, bind, threads, NULL, &err))
            fail_msg("pt_placement_create(%s, %d): %s", pt_bind_names[bind], threads, err.msg);
    }
    const int hidden[1] = {100};
    rig_model(&g, d, 1, hidden, 17);
    rig_trainer(&g, d, d->n, threads);
    assert_int_equal(pt_trainer_threads(g.trainer), threads);
    if (pt_trainer_warning(g.trainer)[0]) /* e.g. binding refused in a container: not a failure here */
        print_message("bind %s, %d threads: %s\n", pt_bind_names[bind], threads,
                      pt_trainer_warning(g.trainer));
    float *init = malloc(g.model.n_params * sizeof *init);
    assert_non_null(init);
    memcpy(init, g.model.params, g.model.n_params * sizeof *init);
    int *order = range(d->n);
    pt_rng shuffle;
    pt_rng_seed(&shuffle, 99, PT_STREAM_SHUFFLE);
    for (int e = 0; e < 2; e++) {
        pt_rng_shuffle(&shuffle, order, d->n);
        pt_pass_stats st;
        assert_int_equal(pt_trainer_pass(g.trainer, order, d->n, &st), 0);
        assert_int_equal(st.steps, (d->n + batch - 1) / batch);
        memcpy(&out->loss_bits[e], &st.loss_sum, sizeof st.loss_sum);
        out->correct[e] = st.correct;
    }
    int *all = range(d->n);
    pt_trainer_evaluate(g.trainer, d, all, d->n, &out->eval_loss, &out->eval_acc, out->pred);
    out->n = g.model.n_params;
    out->params = malloc(out->n * sizeof(float));
    assert_non_null(out->params);
    memcpy(out->params, g.model.params, out->n * sizeof(float));
    /* Identical bits must not come from nothing having changed: most real
     * parameters moved (and padding stayed exactly zero). */
    size_t moved = 0;
    for (size_t j = 0; j < out->n; j++)
        moved += out->params[j] != init[j];
    assert_true(moved > g.model.n_real * 9 / 10);
    assert_true(moved <= g.model.n_real);
    free(init);
    free(order);
    free(all);
    rig_free(&g);
}

static void expect_same(const outcome *ref, const outcome *got, const char *what)
{
    assert_int_equal(got->n, ref->n);
    if (memcmp(got->params, ref->params, ref->n * sizeof(float)) != 0) {
        size_t first = 0, count = 0;
        for (size_t j = 0; j < ref->n; j++)
            if (memcmp(&got->params[j], &ref->params[j], sizeof(float)) != 0 && !count++)
                first = j;
        fail_msg("%s: %zu of %zu parameters differ from 1 thread (first: [%zu] %.9g vs %.9g)", what, count,
                 ref->n, first, (double)got->params[first], (double)ref->params[first]);
    }
    for (int e = 0; e < 2; e++)
        if (got->loss_bits[e] != ref->loss_bits[e] || got->correct[e] != ref->correct[e])
            fail_msg("%s: pass %d loss_sum/correct differ from 1 thread", what, e + 1);
    if (memcmp(&got->eval_loss, &ref->eval_loss, sizeof(double)) != 0 ||
        memcmp(&got->eval_acc, &ref->eval_acc, sizeof(double)) != 0)
        fail_msg("%s: evaluate gives %.17g/%.17g, 1 thread %.17g/%.17g", what, got->eval_loss,
                 got->eval_acc, ref->eval_loss, ref->eval_acc);
    assert_memory_equal(got->pred, ref->pred, sizeof ref->pred);
}

static void test_bit_identical_threads(void **state)
{
    (void)state;
    pt_dataset d = make_blobs(DN, DDIM, DK, 120, 4); /* overlapping: the model keeps learning */
    const int threads[] = {2, 3, 7, 16}, batches[] = {64, 100}, shards[] = {8, 16};
    for (size_t b = 0; b < PT_ARRAY_LEN(batches); b++)
        for (size_t s = 0; s < PT_ARRAY_LEN(shards); s++) {
            outcome ref = {0};
            run_config(&d, batches[b], shards[s], 1, PT_BIND_NONE, 0, &ref);
            for (size_t t = 0; t < PT_ARRAY_LEN(threads); t++) {
                outcome got = {0};
                char what[96];
                snprintf(what, sizeof what, "batch %d shard %d threads %d", batches[b], shards[s],
                         threads[t]);
                run_config(&d, batches[b], shards[s], threads[t], PT_BIND_NONE, 0, &got);
                expect_same(&ref, &got, what);
                free(got.params);
            }
            free(ref.params);
        }
    free_blobs(&d);
}

static void test_bit_identical_placements(void **state)
{
    (void)state;
    pt_dataset d = make_blobs(DN, DDIM, DK, 120, 4);
    outcome ref = {0};
    run_config(&d, 100, 8, 1, PT_BIND_NONE, 0, &ref);
    const int threads[] = {1, 2, 3, 7}; /* 7 > the PUs of a small machine: the map wraps around */
    for (int p = 0; p < PT_BIND_COUNT; p++)
        for (size_t t = 0; t < PT_ARRAY_LEN(threads); t++) {
            outcome got = {0};
            char what[96];
            snprintf(what, sizeof what, "bind %s threads %d", pt_bind_names[p], threads[t]);
            run_config(&d, 100, 8, threads[t], (pt_bind_kind)p, 1, &got);
            expect_same(&ref, &got, what);
            free(got.params);
        }
    free(ref.params);
    free_blobs(&d);
}

/* An epoch cut into two passes gives the same bits as one pass: the global
 * step carries over (adam's bias correction and the cosine schedule see
 * steps 6..10, not 1..5 again). */
static void test_split_pass_equals_whole(void **state)
{
    (void)state;
    pt_dataset d = make_blobs(DN, DDIM, DK, 120, 4);
    float *params[2];
    double loss[2];
    for (int split = 0; split < 2; split++) {
        rig g = {0};
        pt_config_defaults(&g.cfg);
        g.cfg.train.batch = 100;
        g.cfg.train.optimizer = PT_OPT_ADAM;
        g.cfg.train.lr = 0.01;
        g.cfg.train.schedule = PT_SCHED_COSINE;
        g.cfg.train.epochs = 1;
        const int hidden[1] = {30};
        rig_model(&g, &d, 1, hidden, 5);
        rig_trainer(&g, &d, d.n, 2);
        int *order = range(d.n);
        pt_pass_stats st, st2;
        if (split) {
            assert_int_equal(pt_trainer_pass(g.trainer, order, 500, &st), 0);
            assert_int_equal(pt_trainer_step_count(g.trainer), 5);
            assert_int_equal(pt_trainer_pass(g.trainer, order + 500, 500, &st2), 0);
            loss[split] = st.loss_sum + st2.loss_sum;
        } else {
            assert_int_equal(pt_trainer_pass(g.trainer, order, 1000, &st), 0);
            loss[split] = st.loss_sum;
        }
        assert_int_equal(pt_trainer_step_count(g.trainer), 10);
        params[split] = malloc(g.model.n_params * sizeof(float));
        assert_non_null(params[split]);
        memcpy(params[split], g.model.params, g.model.n_params * sizeof(float));
        if (split)
            assert_memory_equal(params[0], params[1], g.model.n_params * sizeof(float));
        free(order);
        rig_free(&g);
    }
    /* The loss sums differ only in the order of 10 double additions. */
    assert_true(fabs(loss[0] - loss[1]) <= 1e-12 * fabs(loss[0]));
    free(params[0]);
    free(params[1]);
    free_blobs(&d);
}

/* ---- (c) a step over shards equals a step from the whole-batch gradient ----------------- */

/* Train one step on samples order[0..n) (n <= batch) and check the result
 * against w0 - lr * G / n, G the gradient pt_shard_gradient gives for all n
 * samples in one shard. The trainer computes the same sums in the same
 * order, but its update is compiled apart from this check (contraction may
 * differ), so per element within: a few ulp of w (the update's own
 * rounding) + lr * (1e-5 of the largest |G/n| + 1e-4 |G_j/n|). The step must move the parameters by far more than
 * that, and the step of the first shard alone (G_shard / shard) must be
 * rejected for most parameters: proof the tolerance can tell them apart. */
static void check_one_step(rig *g, const pt_dataset *d, const int *order, int n, double lr,
                           const char *what)
{
    const size_t np = g->model.n_params;
    const int shard = g->cfg.train.shard;
    float *w0 = malloc(np * sizeof *w0), *grad = pt_alloc(np * sizeof *grad),
          *first = pt_alloc(np * sizeof *first);
    assert_non_null(w0);
    assert_non_null(grad);
    assert_non_null(first);
    memcpy(w0, g->model.params, np * sizeof *w0);
    double loss_full = pt_shard_gradient(&g->model, d, &MAP, order, n, grad);
    pt_shard_gradient(&g->model, d, &MAP, order, shard, first);

    pt_pass_stats st;
    long before = pt_trainer_step_count(g->trainer);
    assert_int_equal(pt_trainer_pass(g->trainer, order, n, &st), 0);
    assert_int_equal(st.steps, 1);
    assert_int_equal(st.samples, n);
    assert_int_equal(pt_trainer_step_count(g->trainer), before + 1);
    if (!(fabs(st.loss_sum - loss_full) <= 1e-5 * fabs(loss_full)))
        fail_msg("%s: pass loss %.9g, whole-batch loss %.9g", what, st.loss_sum, loss_full);

    double gmax = 0, moved = 0, tol_max = 0;
    for (size_t j = 0; j < np; j++)
        gmax = fmax(gmax, fabs((double)grad[j] / n));
    int bad = 0, wrong_caught = 0;
    for (size_t j = 0; j < np; j++) {
        double gj = (double)grad[j] / n, want = (double)w0[j] - lr * gj;
        double tol = 4 * FLT_EPSILON * fabs((double)w0[j]) + lr * (1e-5 * gmax + 1e-4 * fabs(gj));
        double got = g->model.params[j];
        tol_max = fmax(tol_max, tol);
        moved = fmax(moved, fabs(got - w0[j]));
        if (!(fabs(got - want) <= tol) && bad++ < 5)
            print_message("%s: param %zu: %.9g, want %.9g (tol %.3g)\n", what, j, got, want, tol);
        double wrong = (double)w0[j] - lr * (double)first[j] / shard;
        wrong_caught += !(fabs(got - wrong) <= tol);
    }
    if (bad)
        fail_msg("%s: %d parameters off the whole-batch step", what, bad);
    if (!(moved > 100 * tol_max))
        fail_msg("%s: the step moved parameters by %.3g at most, tolerance %.3g", what, moved, tol_max);
    if (!(wrong_caught > (int)(g->model.n_real / 2)))
        fail_msg("%s: the first shard's step passes for %zu of %zu parameters", what,
                 g->model.n_real - (size_t)wrong_caught, g->model.n_real);
    free(w0);
    pt_free(grad);
    pt_free(first);
}

static void test_step_equals_full_batch_gradient(void **state)
{
    (void)state;
    enum { B = 32, SHARD = 8 };
    pt_dataset d = make_blobs(B, DDIM, DK, 120, 6);
    const double lr = 0.5;
    /* Samples in a scrambled order, so shards are not contiguous in the data. */
    int order[B];
    for (int i = 0; i < B; i++)
        order[i] = (i * 13 + 5) % B;
    for (int act = 0; act < PT_ACT_COUNT; act++)
        for (int out = 0; out < PT_OUT_COUNT; out++) {
            rig g = {0};
            pt_config_defaults(&g.cfg);
            g.cfg.train.batch = B;
            g.cfg.train.shard = SHARD;
            g.cfg.train.optimizer = PT_OPT_SGD;
            g.cfg.train.lr = lr;
            g.cfg.model.activation = (pt_act_kind)act;
            g.cfg.model.output = (pt_out_kind)out;
            const int hidden[2] = {19, 7};
            rig_model(&g, &d, 2, hidden, 23);
            for (int l = 0; l < g.model.n_layers; l++) /* non-zero biases: every gradient term matters */
                for (int o = 0; o < g.model.layer[l].out; o++)
                    *pt_model_b(&g.model, l, o) = 0.05f * (float)((o % 5) - 2);
            rig_trainer(&g, &d, B, 2);
            char what[64];
            snprintf(what, sizeof what, "%s/%s, %d samples", pt_act_names[act], pt_out_names[out], B);
            check_one_step(&g, &d, order, B, lr, what);
            /* A partial batch (the last of an epoch): 21 samples, shards 8 + 8 + 5,
             * averaged over 21, not over the batch size. */
            snprintf(what, sizeof what, "%s/%s, 21 samples", pt_act_names[act], pt_out_names[out]);
            check_one_step(&g, &d, order + 3, 21, lr, what);
            rig_free(&g);
        }
    free_blobs(&d);
}

/* ---- (d) divergence ------------------------------------------------------------------ */

static void test_divergence_stops_pass(void **state)
{
    (void)state;
    pt_dataset d = make_blobs(640, 16, 4, 40, 8);
    const int threads[] = {1, 3};
    for (size_t t = 0; t < PT_ARRAY_LEN(threads); t++) {
        rig g = {0};
        pt_config_defaults(&g.cfg);
        g.cfg.model.activation = PT_ACT_RELU;
        g.cfg.train.optimizer = PT_OPT_SGD;
        g.cfg.train.batch = 32;
        const int hidden[1] = {15};
        rig_model(&g, &d, 1, hidden, 3);
        rig_trainer(&g, &d, d.n, threads[t]);
        g.optim.lr = 1e30; /* beyond what the config accepts: relu activations overflow within steps */
        int *order = range(d.n);
        pt_pass_stats st;
        assert_int_equal(pt_trainer_pass(g.trainer, order, d.n, &st), 1);
        assert_int_equal(st.diverged, 1);
        print_message("lr 1e30, %d threads: diverged after %ld of 20 steps\n", threads[t], st.steps);
        assert_true(st.steps >= 1 && st.steps < 20);
        assert_true(isfinite(st.loss_sum)); /* the steps that completed */
        assert_int_equal(pt_trainer_step_count(g.trainer), st.steps);
        free(order);
        rig_free(&g);
    }
    free_blobs(&d);
}

/* ---- (e) evaluation equals a serial loop --------------------------------------------------- */

/* One sample at a time through the public kernels, in one thread. */
static void serial_eval(const pt_model *m, const pt_dataset *d, const int *idx, long n, double *loss,
                        long *correct, uint8_t *pred)
{
    float *buf[2];
    size_t width = (size_t)d->dim;
    for (int l = 0; l < m->n_layers; l++)
        width = width > (size_t)m->layer[l].outp ? width : (size_t)m->layer[l].outp;
    buf[0] = pt_alloc(width * sizeof(float));
    buf[1] = pt_alloc(width * sizeof(float));
    assert_non_null(buf[0]);
    assert_non_null(buf[1]);
    *loss = 0;
    *correct = 0;
    for (long i = 0; i < n; i++) {
        float *a = buf[0], *z = buf[1];
        pt_gather_u8(1, d->dim, d->x, idx + i, MAP.scale, MAP.shift, a);
        int lda = d->dim;
        for (int l = 0; l < m->n_layers; l++) {
            const pt_layer *L = &m->layer[l];
            pt_dense_forward(1, L->in, lda, L->outp, a, m->params + L->off_w, m->params + L->off_b, z);
            if (l + 1 < m->n_layers) {
                pt_activations[m->act].forward((size_t)L->outp, z, a);
                lda = L->outp;
            }
        }
        const pt_layer *last = &m->layer[m->n_layers - 1];
        uint8_t y = d->y[idx[i]];
        pt_output_loss(m->out, 1, last->out, last->outp, z, &y, NULL, loss, correct, pred + i);
    }
    pt_free(buf[0]);
    pt_free(buf[1]);
}

static void test_evaluate_matches_serial(void **state)
{
    (void)state;
    pt_dataset d = make_blobs(1000, DDIM, DK, 120, 10);
    for (int out = 0; out < PT_OUT_COUNT; out++) {
        rig g = {0};
        pt_config_defaults(&g.cfg);
        g.cfg.model.activation = PT_ACT_SIGMOID;
        g.cfg.model.output = (pt_out_kind)out;
        const int hidden[2] = {21, 17};
        rig_model(&g, &d, 2, hidden, 31);
        rig_trainer(&g, &d, d.n, 3);
        /* A few steps first, so the model is not the initial one. */
        int *idx = range(d.n);
        int sub[1000];
        for (int i = 0; i < 1000; i++) /* a scrambled, partial index list: 997 samples */
            sub[i] = (i * 389 + 7) % 1000;
        pt_pass_stats st;
        assert_int_equal(pt_trainer_pass(g.trainer, idx, 256, &st), 0);
        double loss, acc, sloss;
        long scorrect;
        uint8_t pred[1000], spred[1000];
        pt_trainer_evaluate(g.trainer, &d, sub, 997, &loss, &acc, pred);
        serial_eval(&g.model, &d, sub, 997, &sloss, &scorrect, spred);
        sloss /= 997;
        if (!(fabs(loss - sloss) <= 1e-9 * fabs(sloss)))
            fail_msg("%s: evaluate loss %.17g, serial %.17g", pt_out_names[out], loss, sloss);
        assert_true(acc == (double)scorrect / 997);
        assert_memory_equal(pred, spred, 997);
        assert_true(acc > 0.0 && acc < 1.0); /* a non-trivial comparison */
        /* Empty list: NaN, not a division by zero that crashes. */
        pt_trainer_evaluate(g.trainer, &d, sub, 0, &loss, &acc, NULL);
        assert_true(isnan(loss) && isnan(acc));
        free(idx);
        rig_free(&g);
    }
    free_blobs(&d);
}

/* ---- trainer set-up errors --------------------------------------------------------------- */

static void test_trainer_create_errors(void **state)
{
    (void)state;
    pt_dataset d = make_blobs(64, 16, 4, 40, 12);
    rig g = {0};
    pt_config_defaults(&g.cfg);
    const int hidden[1] = {5};
    rig_model(&g, &d, 1, hidden, 1);
    pt_err err = {{0}};
    assert_int_equal(pt_optim_create(&g.optim, &g.cfg, g.model.n_params, 2, &err), 0);
    pt_dataset wrong_dim = d;
    wrong_dim.dim = 15;
    assert_null(pt_trainer_create(&g.model, &g.optim, &wrong_dim, &MAP, 32, 8, 1, NULL, &err));
    assert_non_null(strstr(err.msg, "16 inputs"));
    assert_non_null(strstr(err.msg, "15 features"));
    pt_dataset more_classes = d;
    more_classes.n_classes = 7;
    assert_null(pt_trainer_create(&g.model, &g.optim, &more_classes, &MAP, 32, 8, 1, NULL, &err));
    assert_non_null(strstr(err.msg, "4 outputs"));
    assert_null(pt_trainer_create(&g.model, &g.optim, &d, &MAP, 0, 8, 1, NULL, &err));
    assert_non_null(strstr(err.msg, "batch"));
    assert_null(pt_trainer_create(&g.model, &g.optim, &d, &MAP, 32, 8, 0, NULL, &err));
    assert_non_null(strstr(err.msg, "threads"));
    /* shard > batch is clamped to the batch, not an error. */
    pt_trainer *t = pt_trainer_create(&g.model, &g.optim, &d, &MAP, 16, 64, 2, NULL, &err);
    assert_non_null(t);
    int *order = range(d.n);
    pt_pass_stats st;
    assert_int_equal(pt_trainer_pass(t, order, d.n, &st), 0);
    assert_int_equal(st.steps, 4);
    assert_string_equal(pt_trainer_warning(t), "");
    free(order);
    pt_trainer_free(t);
    rig_free(&g);
    free_blobs(&d);
}

int main(void)
{
    omp_set_dynamic(0); /* as main does: fixed team sizes */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learns_blobs),
        cmocka_unit_test(test_bit_identical_threads),
        cmocka_unit_test(test_bit_identical_placements),
        cmocka_unit_test(test_split_pass_equals_whole),
        cmocka_unit_test(test_step_equals_full_batch_gradient),
        cmocka_unit_test(test_divergence_stops_pass),
        cmocka_unit_test(test_evaluate_matches_serial),
        cmocka_unit_test(test_trainer_create_errors),
    };
    return cmocka_run_group_tests_name("train", tests, NULL, NULL);
}
