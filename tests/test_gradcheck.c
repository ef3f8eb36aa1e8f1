/* test_gradcheck.c: backpropagation (pt_shard_gradient, float) against
 * central finite differences of an independent double-precision reference
 * written here: plain loops over W[o][k] and b[o] read through the model's
 * accessors, libm exp/tanh/log1p, no code shared with the kernels except the
 * uint8 -> float input conversion (the same pt_input_map affine map).
 *
 * Every real parameter is checked (the synthetic data has 20 features, so
 * there is no need to sample). Cases: every activation x every output, 1, 2
 * and 3 hidden layers of odd widths (7, 5, 17: below, within and across one
 * 16-lane vector), shards of 1, 5, 8 and 13 samples (the forward kernel
 * blocks 8 rows, so 5 and 13 hit its remainder loop), plus a wide case whose
 * layers span two and three vectors.
 *
 * Tolerance, per element: |g - ref| <= atol + rtol * |ref| with
 *   rtol = 1e-3: float backprop carries ~1e-6 relative error per operation
 *     (pt_expf is within 4 ulp); through 4 layers and a 13-sample sum that
 *     stays below ~1e-5 of the terms summed, so 1e-3 leaves a wide margin
 *     while a wrong derivative (factor, sign, missing term) is off by O(1).
 *   atol = 1e-5 * max_j |ref_j| over the layer: where the terms of a
 *     gradient cancel, float error is relative to the terms, not the result;
 *     the layer's largest gradient bounds the size of those terms.
 * The reference itself is accurate to ~1e-9: h = 1e-5 in double gives a
 * truncation error ~h^2 * f''' and a rounding error ~1e-16 * |f| / h.
 * A negative control corrupts one element by 5 x the tolerance and expects
 * exactly that element to be flagged, so the tolerance cannot be vacuous.
 *
 * relu: the reference is not differentiable at a pre-activation of 0. The
 * weights are re-drawn (seeded) until every hidden pre-activation of the
 * shard is at least 1e-3 from 0, far beyond what a step of h = 1e-5 moves
 * one (h times an input or activation of a few units at most); a step that
 * flips any pre-activation's sign anyway is skipped and counted, and the
 * test demands that none was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pt_data.h"
#include "pt_kernels.h"
#include "pt_model.h"
#include "pt_rng.h"
#include "pt_train.h"

#define DIM 20
#define N_SAMPLES 32
#define FD_STEP 1e-5
#define RTOL 1e-3
#define ATOL_REL 1e-5
#define RELU_MARGIN 1e-3
#define MAX_UNITS 64 /* widest layer of any case */
#define SENTINEL 12345.0f

typedef struct gc_case {
    pt_act_kind act;
    pt_out_kind out;
    int n_hidden;
    int hidden[3];
    int n_classes;
} gc_case;

/* ---- the synthetic data --------------------------------------------------- */

static uint8_t data_x[N_SAMPLES * DIM];
static uint8_t data_y[N_SAMPLES];

static pt_dataset make_data(int n_classes, uint64_t seed)
{
    pt_rng r;
    pt_rng_seed(&r, seed, PT_STREAM_SWEEP);
    for (int i = 0; i < N_SAMPLES * DIM; i++)
        data_x[i] = (uint8_t)pt_rng_below(&r, 256);
    for (int i = 0; i < N_SAMPLES; i++)
        data_y[i] = (uint8_t)pt_rng_below(&r, (uint64_t)n_classes);
    data_y[0] = (uint8_t)(n_classes - 1); /* the last class always appears */
    pt_dataset d = {.n = N_SAMPLES, .dim = DIM, .rows = 1, .cols = DIM, .n_classes = n_classes,
                    .x = data_x, .y = data_y};
    return d;
}

/* Not the plain x/255: a shift exercises the affine map's second term and
 * puts inputs on both sides of 0 (-1.5 .. 2.48). */
static const pt_input_map MAP = {.scale = 1.0f / 64.0f, .shift = -1.5f, .mean = 96.0, .std = 64.0};

/* ---- the reference: double precision, plain loops -------------------------- */

static size_t off_w(const pt_model *m, int l, int o, int k)
{
    return (size_t)(pt_model_w(m, l, o, k) - m->params);
}
static size_t off_b(const pt_model *m, int l, int o)
{
    return (size_t)(pt_model_b(m, l, o) - m->params);
}

static double act_ref(pt_act_kind act, double z)
{
    switch (act) {
    case PT_ACT_SIGMOID:
        return 1.0 / (1.0 + exp(-z));
    case PT_ACT_TANH:
        return tanh(z);
    case PT_ACT_RELU:
        return z > 0.0 ? z : 0.0;
    default:
        fail_msg("unknown activation %d", (int)act);
        return 0.0;
    }
}

/* Summed loss over samples idx[0..n) for parameters p (n_params doubles,
 * the model's flat layout). If signs is not NULL, it receives the sign of
 * every hidden pre-activation (sample-major) and *min_abs the smallest
 * |pre-activation|, both for the relu kink handling. */
static double ref_loss(const pt_model *m, const double *p, const pt_dataset *d, const int *idx, int n,
                       signed char *signs, double *min_abs)
{
    double loss = 0.0, lo = INFINITY;
    size_t ns = 0;
    for (int i = 0; i < n; i++) {
        double a[MAX_UNITS], z[MAX_UNITS];
        int width = d->dim;
        assert_true(width <= MAX_UNITS);
        for (int k = 0; k < width; k++) {
            float v = (float)d->x[(size_t)idx[i] * (size_t)d->dim + (size_t)k] * MAP.scale + MAP.shift;
            a[k] = v;
        }
        for (int l = 0; l < m->n_layers; l++) {
            const pt_layer *L = &m->layer[l];
            assert_int_equal(L->in, width);
            assert_true(L->out <= MAX_UNITS);
            for (int o = 0; o < L->out; o++) {
                double s = p[off_b(m, l, o)];
                for (int k = 0; k < L->in; k++)
                    s += p[off_w(m, l, o, k)] * a[k];
                z[o] = s;
            }
            width = L->out;
            if (l + 1 < m->n_layers) {
                for (int o = 0; o < width; o++) {
                    if (signs)
                        signs[ns++] = (signed char)(z[o] > 0.0 ? 1 : z[o] < 0.0 ? -1 : 0);
                    if (fabs(z[o]) < lo)
                        lo = fabs(z[o]);
                    a[o] = act_ref(m->act, z[o]);
                }
            }
        }
        int y = d->y[idx[i]];
        if (m->out == PT_OUT_SOFTMAX) {
            double mx = z[0], s = 0.0;
            for (int o = 1; o < width; o++)
                mx = z[o] > mx ? z[o] : mx;
            for (int o = 0; o < width; o++)
                s += exp(z[o] - mx);
            loss += mx + log(s) - z[y];
        } else {
            for (int o = 0; o < width; o++) {
                double t = o == y ? 1.0 : 0.0;
                loss += (z[o] > 0.0 ? z[o] : 0.0) - z[o] * t + log1p(exp(-fabs(z[o])));
            }
        }
    }
    if (min_abs)
        *min_abs = lo;
    return loss;
}

static size_t n_hidden_units(const pt_model *m)
{
    size_t u = 0;
    for (int l = 0; l + 1 < m->n_layers; l++)
        u += (size_t)m->layer[l].out;
    return u;
}

/* ---- model set-up ----------------------------------------------------------- */

static void build_model(pt_model *m, const gc_case *c)
{
    int sizes[5];
    sizes[0] = DIM;
    for (int l = 0; l < c->n_hidden; l++)
        sizes[l + 1] = c->hidden[l];
    sizes[c->n_hidden + 1] = c->n_classes;
    pt_err err = {{0}};
    int rc = pt_model_create(m, c->n_hidden + 1, sizes, c->act, c->out, &err);
    if (rc != 0)
        fail_msg("pt_model_create: %s", err.msg);
}

/* Xavier weights and small non-zero biases (init leaves them 0, which would
 * hide a bias that is never added), real lanes only. */
static void draw_params(pt_model *m, uint64_t seed)
{
    pt_rng r;
    pt_rng_seed(&r, seed, PT_STREAM_INIT);
    pt_model_init(m, PT_INIT_XAVIER, 0.0, &r);
    for (int l = 0; l < m->n_layers; l++)
        for (int o = 0; o < m->layer[l].out; o++)
            *pt_model_b(m, l, o) = (float)(0.2 * pt_rng_normal(&r));
}

static double *params_as_double(const pt_model *m)
{
    double *p = malloc(m->n_params * sizeof *p);
    assert_non_null(p);
    for (size_t j = 0; j < m->n_params; j++)
        p[j] = m->params[j];
    return p;
}

/* ---- the comparison ---------------------------------------------------------- */

/* Elements of layer l's real parameters (weights, then biases) outside
 * atol + rtol * |ref|; the first few are reported. */
static int count_bad(const pt_model *m, int l, const float *g, const double *ref, const char *what,
                     int report)
{
    const pt_layer *L = &m->layer[l];
    double amax = 0.0;
    for (int o = 0; o < L->out; o++) {
        amax = fmax(amax, fabs(ref[off_b(m, l, o)]));
        for (int k = 0; k < L->in; k++)
            amax = fmax(amax, fabs(ref[off_w(m, l, o, k)]));
    }
    const double atol = ATOL_REL * amax;
    int bad = 0;
    for (int o = 0; o < L->out; o++)
        for (int k = -1; k < L->in; k++) {
            size_t j = k < 0 ? off_b(m, l, o) : off_w(m, l, o, k);
            double err = fabs((double)g[j] - ref[j]), tol = atol + RTOL * fabs(ref[j]);
            if (!(err <= tol)) {
                if (report && bad < 5)
                    print_message("%s: layer %d %s[%d][%d]: backprop %.9g, finite difference %.9g, "
                                  "|diff| %.3g > tol %.3g\n",
                                  what, l, k < 0 ? "b" : "W", o, k < 0 ? 0 : k, (double)g[j], ref[j],
                                  err, tol);
                bad++;
            }
        }
    return bad;
}

/* ---- one check ------------------------------------------------------------------ */

static void check_case(const gc_case *c, int shard, uint64_t seed)
{
    char what[128];
    snprintf(what, sizeof what, "%s/%s hidden %d [%d,%d,%d] classes %d shard %d",
             pt_act_names[c->act], pt_out_names[c->out], c->n_hidden, c->hidden[0], c->hidden[1],
             c->hidden[2], c->n_classes, shard);
    pt_dataset d = make_data(c->n_classes, seed);
    int order[N_SAMPLES];
    for (int i = 0; i < N_SAMPLES; i++)
        order[i] = i;
    pt_rng r;
    pt_rng_seed(&r, seed, PT_STREAM_SHUFFLE);
    pt_rng_shuffle(&r, order, N_SAMPLES); /* non-contiguous samples: the gather is exercised */
    const int *idx = order;

    pt_model m;
    build_model(&m, c);
    size_t units = n_hidden_units(&m) * (size_t)shard;
    signed char *base_signs = malloc(units + 1), *signs = malloc(units + 1);
    assert_non_null(base_signs);
    assert_non_null(signs);

    /* relu: re-draw until the shard is clear of the kink. */
    double *p = NULL;
    double min_abs = 0.0;
    for (int attempt = 0;; attempt++) {
        assert_true(attempt < 200);
        draw_params(&m, seed * 1000 + (uint64_t)attempt);
        free(p);
        p = params_as_double(&m);
        ref_loss(&m, p, &d, idx, shard, base_signs, &min_abs);
        if (c->act != PT_ACT_RELU || min_abs >= RELU_MARGIN)
            break;
    }

    /* Backprop, into a buffer prefilled with a sentinel: every element must be written. */
    float *g = pt_alloc(m.n_params * sizeof *g);
    assert_non_null(g);
    for (size_t j = 0; j < m.n_params; j++)
        g[j] = SENTINEL;
    double loss = pt_shard_gradient(&m, &d, &MAP, idx, shard, g);

    /* Written, not accumulated: a second call gives the same bits. */
    float *g2 = pt_alloc(m.n_params * sizeof *g2);
    assert_non_null(g2);
    for (size_t j = 0; j < m.n_params; j++)
        g2[j] = -SENTINEL;
    double loss2 = pt_shard_gradient(&m, &d, &MAP, idx, shard, g2);
    assert_memory_equal(g, g2, m.n_params * sizeof *g);
    assert_true(loss == loss2);

    /* Loss against the reference: float forward, double sum. */
    double ref = ref_loss(&m, p, &d, idx, shard, NULL, NULL);
    assert_true(ref > 0.0);
    if (!(fabs(loss - ref) <= 1e-6 * shard + 1e-5 * fabs(ref)))
        fail_msg("%s: loss %.9g, reference %.9g", what, loss, ref);

    /* Padding lanes receive exactly zero gradient. */
    for (int l = 0; l < m.n_layers; l++) {
        const pt_layer *L = &m.layer[l];
        for (int o = L->out; o < L->outp; o++) {
            if (g[L->off_b + (size_t)o] != 0.0f)
                fail_msg("%s: layer %d padding bias lane %d has gradient %g", what, l, o,
                         (double)g[L->off_b + (size_t)o]);
            for (int k = 0; k < L->in; k++)
                if (g[L->off_w + (size_t)k * (size_t)L->outp + (size_t)o] != 0.0f)
                    fail_msg("%s: layer %d padding weight lane (k %d, o %d) has gradient %g", what, l,
                             k, o, (double)g[L->off_w + (size_t)k * (size_t)L->outp + (size_t)o]);
        }
    }

    /* Central differences of the reference for every real parameter. */
    double *fd = calloc(m.n_params, sizeof *fd);
    assert_non_null(fd);
    int skipped = 0;
    size_t checked = 0;
    for (int l = 0; l < m.n_layers; l++) {
        const pt_layer *L = &m.layer[l];
        for (int o = 0; o < L->out; o++)
            for (int k = -1; k < L->in; k++) {
                size_t j = k < 0 ? off_b(&m, l, o) : off_w(&m, l, o, k);
                double keep = p[j];
                p[j] = keep + FD_STEP;
                double lp = ref_loss(&m, p, &d, idx, shard, signs, NULL);
                int flipped = memcmp(signs, base_signs, units) != 0;
                p[j] = keep - FD_STEP;
                double lm = ref_loss(&m, p, &d, idx, shard, signs, NULL);
                flipped |= memcmp(signs, base_signs, units) != 0;
                p[j] = keep;
                if (c->act == PT_ACT_RELU && flipped) {
                    fd[j] = NAN;
                    skipped++;
                    continue;
                }
                fd[j] = (lp - lm) / (2.0 * FD_STEP);
                checked++;
            }
    }
    assert_int_equal(checked + (size_t)skipped, m.n_real);
    if (skipped)
        fail_msg("%s: %d finite differences straddled a relu kink despite the margin", what, skipped);

    /* Every layer's gradient is non-zero (a check that passes on all zeros proves nothing). */
    for (int l = 0; l < m.n_layers; l++) {
        const pt_layer *L = &m.layer[l];
        double ng = 0.0, nr = 0.0;
        for (int o = 0; o < L->out; o++)
            for (int k = -1; k < L->in; k++) {
                size_t j = k < 0 ? off_b(&m, l, o) : off_w(&m, l, o, k);
                ng += (double)g[j] * g[j];
                nr += fd[j] * fd[j];
            }
        if (!(ng > 1e-12 && nr > 1e-12))
            fail_msg("%s: layer %d gradient norm %g (reference %g): nothing to check", what, l,
                     sqrt(ng), sqrt(nr));
    }

    int bad = 0;
    for (int l = 0; l < m.n_layers; l++)
        bad += count_bad(&m, l, g, fd, what, 1);
    if (bad)
        fail_msg("%s: %d of %zu gradients outside tolerance", what, bad, checked);

    /* Negative control: one element off by 5x its tolerance must be caught. */
    int l_bad = m.n_layers - 1;
    size_t j_bad = off_w(&m, l_bad, m.layer[l_bad].out - 1, m.layer[l_bad].in / 2);
    double amax = 0.0;
    for (int o = 0; o < m.layer[l_bad].out; o++) {
        amax = fmax(amax, fabs(fd[off_b(&m, l_bad, o)]));
        for (int k = 0; k < m.layer[l_bad].in; k++)
            amax = fmax(amax, fabs(fd[off_w(&m, l_bad, o, k)]));
    }
    float keep = g[j_bad];
    g[j_bad] = (float)(fd[j_bad] + 5.0 * (ATOL_REL * amax + RTOL * fabs(fd[j_bad])));
    assert_int_equal(count_bad(&m, l_bad, g, fd, what, 0), 1);
    g[j_bad] = keep;

    free(fd);
    free(p);
    free(base_signs);
    free(signs);
    pt_free(g);
    pt_free(g2);
    pt_model_free(&m);
}

static const int SHARDS[] = {1, 5, 8, 13};

static void test_case(void **state)
{
    const gc_case *c = *state;
    for (size_t s = 0; s < PT_ARRAY_LEN(SHARDS); s++)
        check_case(c, SHARDS[s], 17 + 31 * (uint64_t)s + 7 * (uint64_t)c->act + 3 * (uint64_t)c->out);
}

/* The loss alone, over many random models (10 seeds x every activation and
 * output, all 32 samples in one shard): the kernels' float forward pass and
 * the double reference agree to float accuracy. */
static void test_loss_many_models(void **state)
{
    (void)state;
    for (int act = 0; act < PT_ACT_COUNT; act++)
        for (int out = 0; out < PT_OUT_COUNT; out++)
            for (uint64_t seed = 1; seed <= 10; seed++) {
                gc_case c = {(pt_act_kind)act, (pt_out_kind)out, 2, {17, 7, 0}, 3};
                pt_dataset d = make_data(c.n_classes, seed);
                int idx[N_SAMPLES];
                for (int i = 0; i < N_SAMPLES; i++)
                    idx[i] = N_SAMPLES - 1 - i;
                pt_model m;
                build_model(&m, &c);
                draw_params(&m, seed);
                double *p = params_as_double(&m);
                float *g = pt_alloc(m.n_params * sizeof *g);
                assert_non_null(g);
                double loss = pt_shard_gradient(&m, &d, &MAP, idx, N_SAMPLES, g);
                double ref = ref_loss(&m, p, &d, idx, N_SAMPLES, NULL, NULL);
                if (!(fabs(loss - ref) <= 1e-6 * N_SAMPLES + 1e-5 * fabs(ref)))
                    fail_msg("%s/%s seed %d: loss %.9g, reference %.9g", pt_act_names[act],
                             pt_out_names[out], (int)seed, loss, ref);
                pt_free(g);
                free(p);
                pt_model_free(&m);
            }
}

#define CASE(a, o, nh, h0, h1, h2, k) \
    {(a), (o), (nh), {(h0), (h1), (h2)}, (k)}

static gc_case cases[] = {
#define DEPTHS(a, o)                                                                         \
    CASE(a, o, 1, 7, 0, 0, 5), CASE(a, o, 2, 7, 5, 0, 5), CASE(a, o, 3, 7, 5, 17, 5)
    DEPTHS(PT_ACT_SIGMOID, PT_OUT_SOFTMAX), DEPTHS(PT_ACT_SIGMOID, PT_OUT_SIGMOID),
    DEPTHS(PT_ACT_TANH, PT_OUT_SOFTMAX),    DEPTHS(PT_ACT_TANH, PT_OUT_SIGMOID),
    DEPTHS(PT_ACT_RELU, PT_OUT_SOFTMAX),    DEPTHS(PT_ACT_RELU, PT_OUT_SIGMOID),
#undef DEPTHS
    /* Wide: hidden 33 (three vectors), 17; 19 outputs (two vectors, 13 padding lanes). */
    CASE(PT_ACT_TANH, PT_OUT_SOFTMAX, 2, 33, 17, 0, 19),
    CASE(PT_ACT_RELU, PT_OUT_SIGMOID, 2, 33, 17, 0, 19),
    CASE(PT_ACT_SIGMOID, PT_OUT_SOFTMAX, 2, 33, 17, 0, 19),
    /* Binary problem with 2 outputs and a 1-unit bottleneck. */
    CASE(PT_ACT_TANH, PT_OUT_SIGMOID, 2, 16, 1, 0, 2),
};

int main(void)
{
    enum { N = PT_ARRAY_LEN(cases) };
    struct CMUnitTest tests[N + 1];
    static char names[N][96];
    for (size_t i = 0; i < N; i++) {
        const gc_case *c = &cases[i];
        snprintf(names[i], sizeof names[i], "gradcheck_%s_%s_h%d_%d_%d_%d_k%d", pt_act_names[c->act],
                 pt_out_names[c->out], c->n_hidden, c->hidden[0], c->hidden[1], c->hidden[2],
                 c->n_classes);
        tests[i] = (struct CMUnitTest){names[i], test_case, NULL, NULL, &cases[i]};
    }
    tests[N] = (struct CMUnitTest)cmocka_unit_test(test_loss_many_models);
    return _cmocka_run_group_tests("gradcheck", tests, N + 1, NULL, NULL);
}
