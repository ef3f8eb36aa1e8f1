/* test_kernels.c: the building blocks, each against numbers worked out by
 * hand (in the comments) or against libm: dense forward and both backward
 * kernels, the output layer with its two losses, pt_expf and the
 * activations, the optimisers and learning-rate schedules, the random
 * streams, and the model.bin round trip with its error paths.
 * Small integer and dyadic values are used wherever possible, so that float
 * results are exact and compared bit for bit whatever the summation order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pt_config.h"
#include "pt_experiments.h"
#include "pt_kernels.h"
#include "pt_model.h"
#include "pt_optim.h"
#include "pt_rng.h"

#define GARBAGE 777.0f /* prefilled into outputs: every element must be written */

static float *falloc(size_t n)
{
    float *p = pt_alloc(n * sizeof *p);
    assert_non_null(p);
    return p;
}

static void fill(float *p, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        p[i] = v;
}

/* |got - want| <= atol + rtol * |want|, with a readable failure. */
static void near(double got, double want, double atol, double rtol, const char *what)
{
    if (!(fabs(got - want) <= atol + rtol * fabs(want)))
        fail_msg("%s: got %.10g, want %.10g (|diff| %.3g > %.3g)", what, got, want, fabs(got - want),
                 atol + rtol * fabs(want));
}

/* ---- dense layers ------------------------------------------------------------- */

/* The 2-sample, 3-input, 2-output layer used by the three hand cases:
 *   a  = [[1, 2, 3], [4, 5, 6]]        rows of stride lda = 4; column 3 is junk (1000)
 *   W  = [[1, 0, -1], [0.5, 0.25, 2]]  (out x in), stored transposed: wt[k][o]
 *   b  = [0.5, -1]
 * outp = 16: lanes 2..15 of wt and b are padding (zero). */
enum { HN = 2, HIN = 3, HLDA = 4, HOUT = 2, HOUTP = 16 };
static const float HA[HN][HLDA] = {{1, 2, 3, 1000}, {4, 5, 6, 1000}};
static const float HW[HOUT][HIN] = {{1, 0, -1}, {0.5f, 0.25f, 2}};
static const float HB[HOUT] = {0.5f, -1};

static void hand_layer(float **a, float **wt, float **b)
{
    *a = falloc(HN * HLDA);
    *wt = falloc(HIN * HOUTP);
    *b = falloc(HOUTP);
    memcpy(*a, HA, sizeof HA);
    for (int o = 0; o < HOUT; o++) {
        (*b)[o] = HB[o];
        for (int k = 0; k < HIN; k++)
            (*wt)[k * HOUTP + o] = HW[o][k];
    }
}

static void test_dense_forward_hand(void **state)
{
    (void)state;
    float *a, *wt, *b, *z = falloc(HN * HOUTP);
    hand_layer(&a, &wt, &b);
    fill(z, HN * HOUTP, GARBAGE);
    pt_dense_forward(HN, HIN, HLDA, HOUTP, a, wt, b, z);
    /* z[0][0] = 1*1 + 2*0 + 3*(-1) + 0.5          = -1.5
     * z[0][1] = 1*0.5 + 2*0.25 + 3*2 - 1         =  6
     * z[1][0] = 4*1 + 5*0 + 6*(-1) + 0.5        = -1.5
     * z[1][1] = 4*0.5 + 5*0.25 + 6*2 - 1        = 14.25
     * padding lanes: zero weights, zero bias     =  0 (the junk column 3 is never read) */
    const float want[HN][2] = {{-1.5f, 6.0f}, {-1.5f, 14.25f}};
    for (int i = 0; i < HN; i++)
        for (int o = 0; o < HOUTP; o++)
            assert_true(z[i * HOUTP + o] == (o < HOUT ? want[i][o] : 0.0f));
    pt_free(a);
    pt_free(wt);
    pt_free(b);
    pt_free(z);
}

/* 19 samples: two blocks of 8 rows and a remainder of 3. Row i is (i+1)
 * times row 0 = [1, 2, 3], so z[i] = (i+1) * W.[1,2,3] + b
 *   = (i+1) * [-2, 7] + [0.5, -1]  (W.[1,2,3] = [1 - 3, 0.5 + 0.5 + 6]). */
static void test_dense_forward_blocks(void **state)
{
    (void)state;
    enum { N = 19 };
    float *a0, *wt, *b, *a = falloc(N * HLDA), *z = falloc(N * HOUTP);
    hand_layer(&a0, &wt, &b);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < HLDA; k++)
            a[i * HLDA + k] = k < HIN ? (float)(i + 1) * (float)(k + 1) : -1e30f;
    fill(z, N * HOUTP, GARBAGE);
    pt_dense_forward(N, HIN, HLDA, HOUTP, a, wt, b, z);
    for (int i = 0; i < N; i++) {
        assert_true(z[i * HOUTP + 0] == (float)(i + 1) * -2.0f + 0.5f);
        assert_true(z[i * HOUTP + 1] == (float)(i + 1) * 7.0f - 1.0f);
        for (int o = HOUT; o < HOUTP; o++)
            assert_true(z[i * HOUTP + o] == 0.0f);
    }
    pt_free(a0);
    pt_free(wt);
    pt_free(b);
    pt_free(a);
    pt_free(z);
}

static void test_dense_backward_w_hand(void **state)
{
    (void)state;
    float *a, *wt, *b, *dz = falloc(HN * HOUTP), *dwt = falloc(HIN * HOUTP), *db = falloc(HOUTP);
    hand_layer(&a, &wt, &b);
    /* dz = [[1, -1], [0.5, 2]] (padding lanes zero, as the output layer writes them). */
    dz[0] = 1;
    dz[1] = -1;
    dz[HOUTP + 0] = 0.5f;
    dz[HOUTP + 1] = 2;
    fill(dwt, HIN * HOUTP, GARBAGE);
    fill(db, HOUTP, GARBAGE);
    pt_dense_backward_w(HN, HIN, HLDA, HOUTP, a, dz, dwt, 0);
    pt_dense_backward_b(HN, HOUTP, dz, db);
    /* dwt[k][o] = sum_i a[i][k] * dz[i][o]:
     *   k=0: [1*1 + 4*0.5, 1*(-1) + 4*2] = [3, 7]
     *   k=1: [2*1 + 5*0.5, 2*(-1) + 5*2] = [4.5, 8]
     *   k=2: [3*1 + 6*0.5, 3*(-1) + 6*2] = [6, 9]
     * db = column sums of dz = [1.5, 1]. */
    const float want[HIN][2] = {{3, 7}, {4.5f, 8}, {6, 9}};
    for (int k = 0; k < HIN; k++)
        for (int o = 0; o < HOUTP; o++)
            assert_true(dwt[k * HOUTP + o] == (o < HOUT ? want[k][o] : 0.0f));
    assert_true(db[0] == 1.5f);
    assert_true(db[1] == 1.0f);
    for (int o = HOUT; o < HOUTP; o++)
        assert_true(db[o] == 0.0f);
    /* accumulate: the same sums again on top of the first ones. */
    pt_dense_backward_w(HN, HIN, HLDA, HOUTP, a, dz, dwt, 1);
    for (int k = 0; k < HIN; k++)
        for (int o = 0; o < HOUTP; o++)
            assert_true(dwt[k * HOUTP + o] == (o < HOUT ? 2 * want[k][o] : 0.0f));
    pt_free(a);
    pt_free(wt);
    pt_free(b);
    pt_free(dz);
    pt_free(dwt);
    pt_free(db);
}

static void test_dense_backward_x_hand(void **state)
{
    (void)state;
    enum { LDDA = 16 };
    float *a, *wt, *b, *dz = falloc(HN * HOUTP), *da = falloc(HN * LDDA), *w = falloc(HOUT * LDDA);
    hand_layer(&a, &wt, &b);
    /* The transposed copy, in two ranges of rows; garbage must not survive
     * in its padding columns. */
    fill(w, HOUT * LDDA, GARBAGE);
    pt_transpose_weights(HIN, HOUT, HOUTP, LDDA, wt, 0, 1, w);
    pt_transpose_weights(HIN, HOUT, HOUTP, LDDA, wt, 1, HIN, w);
    const float want_w[HOUT][3] = {{1, 0, -1}, {0.5f, 0.25f, 2}};
    for (int o = 0; o < HOUT; o++)
        for (int k = 0; k < LDDA; k++)
            assert_true(w[o * LDDA + k] == (k < HIN ? want_w[o][k] : 0.0f));
    dz[0] = 1;
    dz[1] = -1;
    dz[HOUTP + 0] = 0.5f;
    dz[HOUTP + 1] = 2;
    fill(da, HN * LDDA, GARBAGE);
    pt_dense_backward_x(HN, HOUT, HOUTP, LDDA, dz, w, da);
    /* da[i][k] = sum_o dz[i][o] * W[o][k]:
     *   i=0: 1*[1, 0, -1] - 1*[0.5, 0.25, 2]   = [0.5, -0.25, -3]
     *   i=1: 0.5*[1, 0, -1] + 2*[0.5, 0.25, 2] = [1.5, 0.5, 3.5]
     * lanes 3..15 (padding of the layer below): exactly 0. */
    const float want[HN][HIN] = {{0.5f, -0.25f, -3}, {1.5f, 0.5f, 3.5f}};
    for (int i = 0; i < HN; i++)
        for (int k = 0; k < LDDA; k++)
            assert_true(da[i * LDDA + k] == (k < HIN ? want[i][k] : 0.0f));
    pt_free(a);
    pt_free(wt);
    pt_free(b);
    pt_free(dz);
    pt_free(da);
    pt_free(w);
}

/* Integer data of many shapes (every block/remainder combination of both
 * kernels, outputs over 1-3 vectors): all products and sums are exact in
 * float, so the kernels must equal the naive triple loops bit for bit. */
static void test_dense_exact_vs_naive(void **state)
{
    (void)state;
    pt_rng r;
    pt_rng_seed(&r, 7, PT_STREAM_SWEEP);
    const int ns[] = {1, 3, 4, 5, 8, 9, 12, 13, 17}, ins[] = {1, 2, 5, 7, 8, 15, 16, 19}, outs[] = {1, 5, 16, 17, 40};
    for (size_t ni = 0; ni < PT_ARRAY_LEN(ns); ni++)
        for (size_t ii = 0; ii < PT_ARRAY_LEN(ins); ii++)
            for (size_t oi = 0; oi < PT_ARRAY_LEN(outs); oi++) {
                int n = ns[ni], in = ins[ii], out = outs[oi], outp = (out + 15) / 16 * 16;
                int lda = in + 3, ldda = (in + 15) / 16 * 16;
                float *a = falloc((size_t)n * lda), *wt = falloc((size_t)in * outp), *b = falloc(outp);
                float *z = falloc((size_t)n * outp), *dz = falloc((size_t)n * outp);
                float *dwt = falloc((size_t)in * outp), *db = falloc(outp);
                float *da = falloc((size_t)n * ldda), *w = falloc((size_t)out * ldda);
                for (int i = 0; i < n; i++)
                    for (int k = 0; k < lda; k++)
                        a[i * lda + k] = k < in ? (float)((int)pt_rng_below(&r, 9) - 4) : NAN;
                for (int k = 0; k < in; k++)
                    for (int o = 0; o < out; o++)
                        wt[k * outp + o] = (float)((int)pt_rng_below(&r, 9) - 4) * 0.25f;
                for (int o = 0; o < out; o++)
                    b[o] = (float)((int)pt_rng_below(&r, 9) - 4);
                for (int i = 0; i < n; i++)
                    for (int o = 0; o < out; o++)
                        dz[i * outp + o] = (float)((int)pt_rng_below(&r, 9) - 4) * 0.5f;
                fill(z, (size_t)n * outp, GARBAGE);
                fill(dwt, (size_t)in * outp, GARBAGE);
                fill(db, (size_t)outp, GARBAGE);
                fill(da, (size_t)n * ldda, GARBAGE);
                pt_dense_forward(n, in, lda, outp, a, wt, b, z);
                pt_dense_backward_w(n, in, lda, outp, a, dz, dwt, 0);
                pt_dense_backward_b(n, outp, dz, db);
                fill(w, (size_t)out * ldda, GARBAGE);
                pt_transpose_weights(in, out, outp, ldda, wt, 0, in, w);
                pt_dense_backward_x(n, out, outp, ldda, dz, w, da);
                for (int i = 0; i < n; i++)
                    for (int o = 0; o < outp; o++) {
                        float s = b[o];
                        for (int k = 0; k < in; k++)
                            s += a[i * lda + k] * wt[k * outp + o];
                        if (z[i * outp + o] != s)
                            fail_msg("forward n=%d in=%d out=%d: z[%d][%d] = %g, want %g", n, in, out,
                                     i, o, (double)z[i * outp + o], (double)s);
                    }
                for (int o = 0; o < outp; o++) {
                    float sb = 0;
                    for (int i = 0; i < n; i++)
                        sb += dz[i * outp + o];
                    assert_true(db[o] == sb);
                    for (int k = 0; k < in; k++) {
                        float s = 0;
                        for (int i = 0; i < n; i++)
                            s += a[i * lda + k] * dz[i * outp + o];
                        if (dwt[k * outp + o] != s)
                            fail_msg("backward_w n=%d in=%d out=%d: dwt[%d][%d] = %g, want %g", n, in,
                                     out, k, o, (double)dwt[k * outp + o], (double)s);
                    }
                }
                for (int i = 0; i < n; i++)
                    for (int k = 0; k < ldda; k++) {
                        float s = 0;
                        for (int o = 0; o < out && k < in; o++)
                            s += dz[i * outp + o] * wt[k * outp + o];
                        if (da[i * ldda + k] != s)
                            fail_msg("backward_x n=%d in=%d out=%d: da[%d][%d] = %g, want %g", n, in,
                                     out, i, k, (double)da[i * ldda + k], (double)s);
                    }
                pt_free(a);
                pt_free(wt);
                pt_free(b);
                pt_free(z);
                pt_free(dz);
                pt_free(dwt);
                pt_free(db);
                pt_free(da);
                pt_free(w);
            }
}

/* What the training step relies on: the weight gradient computed in ranges
 * of rows, and over consecutive parts of the samples with accumulate set,
 * has the same bits as one call. Random non-integer data, so a changed
 * order of summation would show. */
static void test_backward_w_split_is_bitwise(void **state)
{
    (void)state;
    pt_rng r;
    pt_rng_seed(&r, 11, PT_STREAM_SWEEP);
    enum { N = 37, IN = 29, OUTP = 32 };
    float *a = falloc(N * IN), *dz = falloc(N * OUTP), *whole = falloc(IN * OUTP), *split = falloc(IN * OUTP);
    for (int i = 0; i < N * IN; i++)
        a[i] = (float)pt_rng_uniform(&r) - 0.3f;
    for (int i = 0; i < N * OUTP; i++)
        dz[i] = (float)pt_rng_uniform(&r) * 0.7f - 0.35f;
    pt_dense_backward_w(N, IN, IN, OUTP, a, dz, whole, 0);
    const int rows[] = {0, 8, 11, 24, IN}, parts[] = {0, 5, 21, N};
    fill(split, IN * OUTP, GARBAGE);
    for (size_t ri = 0; ri + 1 < PT_ARRAY_LEN(rows); ri++)
        for (size_t pi = 0; pi + 1 < PT_ARRAY_LEN(parts); pi++) {
            int k0 = rows[ri], i0 = parts[pi];
            pt_dense_backward_w(parts[pi + 1] - i0, rows[ri + 1] - k0, IN, OUTP, a + (size_t)i0 * IN + k0,
                                dz + (size_t)i0 * OUTP, split + (size_t)k0 * OUTP, pi > 0);
        }
    assert_memory_equal(split, whole, IN * OUTP * sizeof(float));
    /* The order does matter for these data: summing the parts the other way
     * round gives different bits somewhere, so the comparison above can fail. */
    pt_dense_backward_w(N - 21, IN, IN, OUTP, a + 21 * IN, dz + 21 * OUTP, split, 0);
    pt_dense_backward_w(21, IN, IN, OUTP, a, dz, split, 1);
    assert_true(memcmp(split, whole, IN * OUTP * sizeof(float)) != 0);
    pt_free(a);
    pt_free(dz);
    pt_free(whole);
    pt_free(split);
}

/* ---- the first layer's summation tree --------------------------------------------- */

/* Covers worked out by hand for 49 leaves (the 784 MNIST inputs): 64
 * positions, leaf j at position j + 8 (offset ceil((64 - 49) / 2)); node
 * (lo, h) spans positions [lo, lo + 2^h), lo a multiple of 2^h. */
static void test_tree_cover_hand(void **state)
{
    (void)state;
    static const struct {
        int lp, rp, n, lo[4], level[4], first[4], end[4];
    } cases[] = {
        {0, 49, 1, {0}, {6}, {0}, {49}},                       /* the root */
        {0, 24, 1, {0}, {5}, {0}, {24}},                       /* the root's left child: positions 8..31 */
        {24, 49, 1, {32}, {5}, {24}, {49}},                    /* and its right: positions 32..56 */
        {0, 8, 1, {0}, {4}, {0}, {8}},                         /* positions 0..15, the first 8 empty */
        {3, 9, 3, {11, 12, 16}, {0, 2, 0}, {3, 4, 8}, {4, 8, 9}}, /* position 12 is aligned to 4, not 8 */
        {5, 5, 0, {0}, {0}, {0}, {0}},                         /* nothing to cover */
    };
    assert_int_equal(pt_tree_levels(49), 6);
    assert_int_equal(pt_tree_offset(49), 8);
    assert_int_equal(pt_tree_levels(1), 0);
    assert_int_equal(pt_tree_offset(1), 0);
    assert_int_equal(pt_tree_levels(64), 6);
    assert_int_equal(pt_tree_offset(64), 0);
    assert_int_equal(pt_tree_levels(65), 7);
    assert_int_equal(pt_tree_offset(65), 32);
    for (size_t c = 0; c < PT_ARRAY_LEN(cases); c++) {
        pt_tree_part parts[2 * PT_TREE_MAX_LEVELS];
        int n = pt_tree_cover(49, cases[c].lp, cases[c].rp, parts);
        assert_int_equal(n, cases[c].n);
        for (int i = 0; i < n; i++) {
            assert_int_equal(parts[i].lo, cases[c].lo[i]);
            assert_int_equal(parts[i].level, cases[c].level[i]);
            assert_int_equal(parts[i].first, cases[c].first[i]);
            assert_int_equal(parts[i].end, cases[c].end[i]);
        }
    }
    /* The last leaf alone, at position 56, is node (56, h) for h <= 3 (the
     * positions after it are empty): the cover takes 3, the largest, as a
     * top-down walk from the root meets it. */
    pt_tree_part last[2 * PT_TREE_MAX_LEVELS];
    assert_int_equal(pt_tree_cover(49, 48, 49, last), 1);
    assert_int_equal(last[0].lo, 56);
    assert_int_equal(last[0].level, 3);
}

/* The shape of the sum, by hand. Leaf j's first weight row holds L_j in
 * every lane, its other rows zero, inputs all one: each leaf sums exactly
 * to L_j. Five leaves sit at positions 2..6 of 8 (offset ceil(3 / 2)), so
 * the root is (L0 + L1) + ((L2 + L3) + L4). With L = {1e8, 1, -1e8, 1, 2}
 * (floats are 8 apart near 1e8, so adding 1 or 2 to +-1e8 changes nothing)
 * and b = 0.5:
 *   tree:          (1e8 + 1) + ((-1e8 + 1) + 2) + b = 1e8 - 1e8 + 0.5 = 0.5
 *   left to right, from b as pt_dense_forward sums:
 *                  0.5 + 1e8 rounds to 1e8, + 1 rounds to 1e8, - 1e8 = 0, + 1 + 2 = 3
 *   a tree of leaves at positions 0..4, the shape without the offset:
 *                  ((L0 + L1) + (L2 + L3)) + L4 + b = 0 + 2 + 0.5 = 2.5
 * The fifth leaf has a single input (in = 65). Every split of the leaves
 * into two ranges, combined, must give 0.5 too. */
static void test_tree_order_hand(void **state)
{
    (void)state;
    enum { N = 9, IN = 65, OUTP = 16 };
    static const float leaf[5] = {1e8f, 1.0f, -1e8f, 1.0f, 2.0f};
    float *a = falloc(N * IN), *wt = falloc(IN * OUTP), *b = falloc(OUTP), *z = falloc(N * OUTP);
    float *nodes = falloc(2 * PT_TREE_MAX_LEVELS * N * OUTP), *scratch = falloc(8 * N * OUTP);
    fill(a, N * IN, 1.0f);
    fill(b, OUTP, 0.5f);
    for (int j = 0; j < 5; j++)
        fill(wt + (size_t)j * PT_LEAF_ROWS * OUTP, OUTP, leaf[j]);
    fill(z, N * OUTP, GARBAGE);
    pt_dense_forward_tree(N, IN, 0, pt_tree_levels(5), IN, OUTP, a, wt, b, z);
    for (int i = 0; i < N * OUTP; i++)
        assert_true(z[i] == 0.5f);
    pt_dense_forward(N, IN, IN, OUTP, a, wt, b, z); /* left to right: the order shows */
    assert_true(z[0] == 3.0f);
    for (int cut = 0; cut <= 5; cut++) {
        pt_tree_part parts[4 * PT_TREE_MAX_LEVELS];
        int n = pt_tree_cover(5, 0, cut, parts);
        n += pt_tree_cover(5, cut, 5, parts + n);
        for (int p = 0; p < n; p++) {
            float *node = nodes + (size_t)p * N * OUTP;
            const int k0 = parts[p].first * PT_LEAF_ROWS;
            pt_dense_forward_tree(N, IN, parts[p].lo, parts[p].level, IN, OUTP, a + k0,
                                  wt + (size_t)k0 * OUTP, NULL, node);
            parts[p].z = node;
        }
        fill(z, N * OUTP, GARBAGE);
        pt_tree_combine(IN, parts, n, 0, N, OUTP, b, z, scratch);
        for (int i = 0; i < N * OUTP; i++)
            if (z[i] != 0.5f)
                fail_msg("cut at leaf %d: z[%d] = %g, want 0.5", cut, i, (double)z[i]);
    }
    pt_free(a);
    pt_free(wt);
    pt_free(b);
    pt_free(z);
    pt_free(nodes);
    pt_free(scratch);
}

/* What the training step relies on: workers that each hold only their own
 * columns compute the nodes covering their leaves, shards combine any rows
 * of them, and the bits equal the whole tree in one call, for any cut of
 * the leaves (empty ranges too). Random data, so the order matters (shown
 * against the left-to-right kernel), and the whole tree is checked against
 * a double-precision sum. */
static void test_tree_split_is_bitwise(void **state)
{
    (void)state;
    pt_rng r;
    pt_rng_seed(&r, 13, PT_STREAM_SWEEP);
    const int ins[] = {100, 784}, ns[] = {4, 13, 64};
    for (size_t ii = 0; ii < PT_ARRAY_LEN(ins); ii++)
        for (size_t ni = 0; ni < PT_ARRAY_LEN(ns); ni++) {
            const int in = ins[ii], n = ns[ni], outp = 32, leaves = pt_leaf_count(in);
            const int top = pt_tree_levels(leaves);
            float *a = falloc((size_t)n * in), *wt = falloc((size_t)in * outp), *b = falloc(outp);
            float *whole = falloc((size_t)n * outp), *z = falloc((size_t)n * outp);
            float *cols = falloc((size_t)n * in), *scratch = falloc((size_t)(top + 1) * n * outp);
            float *nodes = falloc((size_t)4 * 2 * PT_TREE_MAX_LEVELS * n * outp);
            for (int i = 0; i < n * in; i++)
                a[i] = (float)pt_rng_uniform(&r);
            for (int i = 0; i < in * outp; i++)
                wt[i] = (float)pt_rng_uniform(&r) - 0.5f;
            for (int o = 0; o < outp; o++)
                b[o] = (float)pt_rng_uniform(&r) - 0.5f;
            pt_dense_forward_tree(n, in, 0, top, in, outp, a, wt, b, whole);
            for (int i = 0; i < n; i++)
                for (int o = 0; o < outp; o++) {
                    double s = b[o];
                    for (int k = 0; k < in; k++)
                        s += (double)a[i * in + k] * wt[k * outp + o];
                    near(whole[i * outp + o], s, 1e-5 * in, 1e-6, "tree sum vs double");
                }
            pt_dense_forward(n, in, in, outp, a, wt, b, z);
            assert_true(memcmp(z, whole, (size_t)n * outp * sizeof(float)) != 0);

            /* cut lists: whole, halves, uneven thirds, an empty range, single leaves */
            const int cuts[][5] = {{0, leaves, leaves, leaves, leaves},
                                   {0, leaves / 2, leaves, leaves, leaves},
                                   {0, 1, leaves / 3, leaves - 1, leaves},
                                   {0, 3, 3, leaves, leaves},
                                   {0, leaves - 2, leaves - 1, leaves, leaves}};
            for (size_t c = 0; c < PT_ARRAY_LEN(cuts); c++) {
                pt_tree_part parts[4 * 2 * PT_TREE_MAX_LEVELS];
                int n_parts = 0;
                for (int w = 0; w < 4; w++) {
                    const int lp = cuts[c][w], rp = cuts[c][w + 1];
                    const int kb = lp * PT_LEAF_ROWS, ke = rp * PT_LEAF_ROWS < in ? rp * PT_LEAF_ROWS : in;
                    if (lp >= rp)
                        continue;
                    /* this worker's columns only, packed: it never sees the others */
                    for (int i = 0; i < n; i++)
                        memcpy(cols + (size_t)i * (ke - kb), a + (size_t)i * in + kb,
                               (size_t)(ke - kb) * sizeof(float));
                    int got = pt_tree_cover(leaves, lp, rp, parts + n_parts);
                    for (int p = n_parts; p < n_parts + got; p++) {
                        float *node = nodes + (size_t)p * n * outp;
                        const int k0 = parts[p].first * PT_LEAF_ROWS;
                        fill(node, (size_t)n * outp, GARBAGE);
                        pt_dense_forward_tree(n, in, parts[p].lo, parts[p].level, ke - kb, outp,
                                              cols + (k0 - kb), wt + (size_t)k0 * outp, NULL, node);
                        parts[p].z = node;
                    }
                    n_parts += got;
                }
                fill(z, (size_t)n * outp, GARBAGE);
                const int rows1 = n / 3; /* two shards of rows */
                pt_tree_combine(in, parts, n_parts, 0, rows1, outp, b, z, scratch);
                pt_tree_combine(in, parts, n_parts, (size_t)rows1, n - rows1, outp, b,
                                z + (size_t)rows1 * outp, scratch);
                if (memcmp(z, whole, (size_t)n * outp * sizeof(float)) != 0)
                    fail_msg("in=%d n=%d cut list %zu: combined nodes differ from the whole tree", in, n, c);
            }
            pt_free(a);
            pt_free(wt);
            pt_free(b);
            pt_free(whole);
            pt_free(z);
            pt_free(cols);
            pt_free(scratch);
            pt_free(nodes);
        }
}

static void test_gather(void **state)
{
    (void)state;
    /* 3 samples of 5 features; gather samples 2, 0, 2 with x * 0.5 - 1. */
    const uint8_t x[3 * 5] = {0, 1, 2, 3, 4, 10, 11, 12, 13, 14, 255, 254, 128, 127, 2};
    const int idx[3] = {2, 0, 2};
    float out[3 * 5];
    fill(out, 15, GARBAGE);
    pt_gather_u8(3, 5, x, idx, 0.5f, -1.0f, out);
    const float want[3 * 5] = {126.5f, 126, 63, 62.5f, 0, -1, -0.5f, 0, 0.5f, 1, 126.5f, 126, 63, 62.5f, 0};
    for (int i = 0; i < 15; i++)
        assert_true(out[i] == want[i]);
    /* Columns 1..3 of the same rows, by row pointer: the same values. */
    const uint8_t *rows[3] = {x + 10, x, x + 10};
    float cols[3 * 3];
    fill(cols, 9, GARBAGE);
    pt_gather_u8_cols(3, rows, 1, 3, 0.5f, -1.0f, cols);
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++)
            assert_true(cols[i * 3 + k] == want[i * 5 + 1 + k]);
}

/* ---- output layer ---------------------------------------------------------------- */

static void test_output_softmax_hand(void **state)
{
    (void)state;
    enum { K = 3, OUTP = 16 };
    float *z = falloc(2 * OUTP), *dz = falloc(2 * OUTP);
    /* sample 0: z = [1, 1, 1], label 0: loss = ln 3 = 1.0986123; p = 1/3 each;
     *   dz = [1/3 - 1, 1/3, 1/3]; argmax of a tie is the first: 0 (correct).
     * sample 1: z = [2, 0, 0], label 1: loss = ln(e^2 + 2) - 0 = 2.2395448;
     *   p = [e^2, 1, 1] / (e^2 + 2) = [0.7869860, 0.1065070, 0.1065070];
     *   dz = [0.7869860, -0.8934930, 0.1065070]; argmax 0 (wrong).
     * Padding lanes of z hold junk that must be ignored. */
    fill(z, 2 * OUTP, 50.0f);
    z[0] = z[1] = z[2] = 1;
    z[OUTP + 0] = 2;
    z[OUTP + 1] = z[OUTP + 2] = 0;
    const uint8_t y[2] = {0, 1};
    uint8_t pred[2] = {99, 99};
    fill(dz, 2 * OUTP, GARBAGE);
    double loss = 10.0; /* added to, not overwritten */
    long correct = 5;
    pt_output_loss(PT_OUT_SOFTMAX, 2, K, OUTP, z, y, dz, &loss, &correct, pred);
    near(loss, 10.0 + 1.0986122887 + 2.2395447662, 0, 1e-6, "softmax loss");
    assert_int_equal(correct, 6);
    assert_int_equal(pred[0], 0);
    assert_int_equal(pred[1], 0);
    const double want[2][K] = {{1.0 / 3 - 1, 1.0 / 3, 1.0 / 3}, {0.7869860422, -0.8934930211, 0.1065069789}};
    for (int i = 0; i < 2; i++) {
        for (int o = 0; o < K; o++)
            near(dz[i * OUTP + o], want[i][o], 1e-7, 1e-6, "softmax dz");
        for (int o = K; o < OUTP; o++)
            assert_true(dz[i * OUTP + o] == 0.0f);
    }
    pt_free(z);
    pt_free(dz);
}

static void test_output_softmax_extreme(void **state)
{
    (void)state;
    enum { K = 3, OUTP = 16 };
    float *z = falloc(OUTP), *dz = falloc(OUTP);
    /* z = [1000, 0, -1000], label 2: the max shift keeps it finite:
     * loss = 1000 + ln(1 + e^-1000 + e^-2000) - (-1000) = 2000; dz = [1, 0, -1]. */
    z[0] = 1000;
    z[1] = 0;
    z[2] = -1000;
    const uint8_t y[1] = {2};
    double loss = 0;
    long correct = 0;
    pt_output_loss(PT_OUT_SOFTMAX, 1, K, OUTP, z, y, dz, &loss, &correct, NULL);
    near(loss, 2000.0, 0, 1e-7, "softmax loss at extreme logits");
    near(dz[0], 1.0, 1e-7, 0, "dz[0]");
    near(dz[1], 0.0, 1e-7, 0, "dz[1]");
    near(dz[2], -1.0, 1e-7, 0, "dz[2]");
    assert_int_equal(correct, 0);
    /* A NaN logit must give a non-finite loss: the trainer's divergence guard. */
    z[1] = NAN;
    loss = 0;
    pt_output_loss(PT_OUT_SOFTMAX, 1, K, OUTP, z, y, NULL, &loss, &correct, NULL);
    assert_false(isfinite(loss));
    loss = 0;
    pt_output_loss(PT_OUT_SIGMOID, 1, K, OUTP, z, y, NULL, &loss, &correct, NULL);
    assert_false(isfinite(loss));
    pt_free(z);
    pt_free(dz);
}

static void test_output_sigmoid_hand(void **state)
{
    (void)state;
    enum { K = 3, OUTP = 16 };
    float *z = falloc(OUTP), *dz = falloc(OUTP);
    /* z = [0, 2, -1], label 1; BCE summed over outputs, one-hot targets [0, 1, 0]:
     *   o=0: ln(1 + e^0)          = 0.6931472
     *   o=1: -ln(sigmoid(2))      = ln(1 + e^-2) = 0.1269280
     *   o=2: -ln(1 - sigmoid(-1)) = ln(1 + e^-1) = 0.3132617
     *   loss = 1.1333369; dz = sigmoid(z) - t = [0.5, -0.1192029, 0.2689414]; pred 1. */
    fill(z, OUTP, -3.0f);
    z[0] = 0;
    z[1] = 2;
    z[2] = -1;
    const uint8_t y[1] = {1};
    uint8_t pred[1] = {99};
    fill(dz, OUTP, GARBAGE);
    double loss = 0;
    long correct = 0;
    pt_output_loss(PT_OUT_SIGMOID, 1, K, OUTP, z, y, dz, &loss, &correct, pred);
    near(loss, 1.1333368791, 0, 1e-6, "bce loss");
    assert_int_equal(correct, 1);
    assert_int_equal(pred[0], 1);
    near(dz[0], 0.5, 1e-7, 1e-6, "bce dz[0]");
    near(dz[1], -0.1192029220, 1e-7, 1e-6, "bce dz[1]");
    near(dz[2], 0.2689414214, 1e-7, 1e-6, "bce dz[2]");
    for (int o = K; o < OUTP; o++)
        assert_true(dz[o] == 0.0f);
    /* Large logits stay finite both ways: z = [30, -30, 100], label 0:
     *   o=0: ln(1 + e^-30) ~ 9.4e-14;  o=1: ln(1 + e^-30);  o=2: 100 + ln(1 + e^-100) = 100. */
    z[0] = 30;
    z[1] = -30;
    z[2] = 100;
    const uint8_t y0[1] = {0};
    loss = 0;
    pt_output_loss(PT_OUT_SIGMOID, 1, K, OUTP, z, y0, dz, &loss, &correct, pred);
    near(loss, 100.0, 1e-6, 1e-7, "bce loss at large logits");
    assert_int_equal(pred[0], 2);
    pt_free(z);
    pt_free(dz);
}

/* Two vectors of outputs (k = 17, outp = 32): the argmax and the loss see
 * lane 16, the padding lanes 17..31 are zeroed in dz. */
static void test_output_wide(void **state)
{
    (void)state;
    enum { K = 17, OUTP = 32 };
    for (int kind = 0; kind < PT_OUT_COUNT; kind++) {
        float *z = falloc(OUTP), *dz = falloc(OUTP);
        fill(z, OUTP, 99.0f); /* junk in the padding lanes, bigger than any real logit */
        for (int o = 0; o < K; o++)
            z[o] = 0;
        z[16] = 3; /* the argmax is the last real output */
        const uint8_t y[1] = {16};
        uint8_t pred[1] = {0};
        fill(dz, OUTP, GARBAGE);
        double loss = 0;
        long correct = 0;
        pt_output_loss((pt_out_kind)kind, 1, K, OUTP, z, y, dz, &loss, &correct, pred);
        assert_int_equal(pred[0], 16);
        assert_int_equal(correct, 1);
        /* softmax: ln(16 + e^3) - 3 = 0.5858921; bce: 16 ln 2 + ln(1 + e^-3) = 11.1389422 */
        near(loss, kind == PT_OUT_SOFTMAX ? 0.5858921458 : 11.1389422405, 0, 1e-6, "wide loss");
        for (int o = K; o < OUTP; o++)
            assert_true(dz[o] == 0.0f);
        pt_free(z);
        pt_free(dz);
    }
}

/* Many samples and many classes against a plain double-precision softmax:
 * n = 37 fills two vectors of samples and part of a third (lanes past the
 * end must neither count nor be written), and k = 40 (outp 48) takes the
 * outputs three vectors at a time. */
static void test_output_softmax_blocks(void **state)
{
    (void)state;
    const int ks[2] = {10, 40};
    for (int t = 0; t < 2; t++) {
        const int n = 37, k = ks[t], outp = (k + 15) / 16 * 16;
        float *z = falloc((size_t)n * outp), *dz = falloc((size_t)(n + 1) * outp);
        uint8_t y[37], pred[38];
        pt_rng r;
        pt_rng_seed(&r, 7u + (uint64_t)t, PT_STREAM_INIT);
        fill(z, (size_t)n * outp, 1e30f); /* padding lanes: ignored however large */
        for (int i = 0; i < n; i++) {
            for (int o = 0; o < k; o++)
                z[i * outp + o] = (float)(8.0 * pt_rng_uniform(&r) - 4.0);
            y[i] = (uint8_t)pt_rng_below(&r, (uint64_t)k);
        }
        fill(dz, (size_t)(n + 1) * outp, GARBAGE);
        memset(pred, 99, sizeof pred);
        double loss = 0.0, want_loss = 0.0;
        long correct = 0, want_correct = 0;
        pt_output_loss(PT_OUT_SOFTMAX, n, k, outp, z, y, dz, &loss, &correct, pred);
        for (int i = 0; i < n; i++) {
            const float *zi = z + i * outp;
            int best = 0;
            for (int o = 1; o < k; o++)
                if (zi[o] > zi[best])
                    best = o;
            double sum = 0.0;
            for (int o = 0; o < k; o++)
                sum += exp((double)zi[o]);
            want_loss += log(sum) - (double)zi[y[i]];
            want_correct += best == y[i];
            assert_int_equal(pred[i], best);
            for (int o = 0; o < k; o++)
                near(dz[i * outp + o], exp((double)zi[o]) / sum - (o == y[i]), 1e-6, 1e-5, "softmax dz");
            for (int o = k; o < outp; o++)
                assert_true(dz[i * outp + o] == 0.0f);
        }
        near(loss, want_loss, 0, 1e-6, "softmax loss over blocks");
        assert_int_equal(correct, want_correct);
        for (int o = 0; o < outp; o++)
            assert_true(dz[n * outp + o] == GARBAGE); /* nothing past the last sample */
        assert_int_equal(pred[n], 99);
        pt_free(z);
        pt_free(dz);
    }
}

/* ---- pt_expf and the activations ----------------------------------------------------- */

/* Error of f against the exact value e, in units of the float ulp at e. */
static double ulps(float f, double e)
{
    int ex;
    frexp(e, &ex);
    double ulp = ldexp(1.0, ex - 24);
    return fabs((double)f - e) / ulp;
}

static void check_expf(float x, double *worst, float *worst_x)
{
    double u = ulps(pt_expf(x), exp((double)x));
    if (!(u <= *worst)) {
        *worst = u;
        *worst_x = x;
    }
}

static void test_expf_accuracy(void **state)
{
    (void)state;
    double worst = 0;
    float worst_x = 0, prev = 0;
    long points = 0;
    /* Every 61st float of [-87, 88], in increasing order, checked for error and monotonicity. */
    uint32_t lo_bits, hi_bits;
    float lo = -87.0f, hi = 88.0f;
    memcpy(&lo_bits, &lo, 4);
    memcpy(&hi_bits, &hi, 4);
    for (int64_t b = lo_bits; b >= (int64_t)0x80000000u; b -= 61) { /* negative: bits decrease toward -0 */
        uint32_t u = (uint32_t)b;
        float x;
        memcpy(&x, &u, 4);
        check_expf(x, &worst, &worst_x);
        float f = pt_expf(x);
        if (points++ && !(f >= prev))
            fail_msg("pt_expf not monotone at %a: %a < %a", (double)x, (double)f, (double)prev);
        prev = f;
    }
    for (int64_t b = 0; b <= (int64_t)hi_bits; b += 61) {
        uint32_t u = (uint32_t)b;
        float x;
        memcpy(&x, &u, 4);
        check_expf(x, &worst, &worst_x);
        float f = pt_expf(x);
        if (!(f >= prev))
            fail_msg("pt_expf not monotone at %a: %a < %a", (double)x, (double)f, (double)prev);
        prev = f;
        points++;
    }
    assert_true(points > 30000000);
    /* Every float around each range-reduction boundary (m + 1/2) ln 2, where
     * the integer part changes and monotonicity is most at risk. */
    for (int m = -126; m <= 126; m++) {
        float c = (float)((m + 0.5) * M_LN2);
        float x = c;
        for (int s = 0; s < 2000; s++)
            x = nextafterf(x, -INFINITY);
        float p = pt_expf(x);
        for (int s = 0; s < 4000; s++) {
            x = nextafterf(x, INFINITY);
            if (x < -87.0f || x > 88.0f)
                continue;
            float f = pt_expf(x);
            check_expf(x, &worst, &worst_x);
            if (!(f >= p))
                fail_msg("pt_expf not monotone at %a (boundary m=%d): %a < %a", (double)x, m, (double)f,
                         (double)p);
            p = f;
        }
    }
    print_message("pt_expf: worst error %.2f ulp at x = %.9g over %ld grid points\n", worst,
                  (double)worst_x, points);
    if (!(worst <= 5.0))
        fail_msg("pt_expf: %.2f ulp at x = %.9g (limit 5)", worst, (double)worst_x);
    /* Exact at 0, clamped (finite, positive) far outside the range, NaN stays NaN. */
    assert_true(pt_expf(0.0f) == 1.0f);
    assert_true(pt_expf(-1000.0f) > 0.0f && pt_expf(-1000.0f) <= pt_expf(-87.0f));
    assert_true(isfinite(pt_expf(1000.0f)) && pt_expf(1000.0f) >= pt_expf(88.0f));
    assert_true(isnan(pt_expf(NAN)));
}

/* z on [-20, 20] in steps of 1/1024 (exact), plus values near 0 and the tanh
 * series switch at |x| = 0.125. */
static size_t act_grid(float **zp)
{
    size_t n = 40 * 1024 + 1 + 2000;
    float *z = falloc(n);
    size_t c = 0;
    for (int i = -20 * 1024; i <= 20 * 1024; i++)
        z[c++] = (float)i / 1024.0f;
    float x = 0.125f;
    for (int s = 0; s < 500; s++)
        x = nextafterf(x, 0.0f);
    for (int s = 0; s < 1000; s++) {
        z[c++] = x;
        z[c++] = -x;
        x = nextafterf(x, 1.0f);
    }
    assert_int_equal(c, n);
    *zp = z;
    return n;
}

static void test_activation_forward(void **state)
{
    (void)state;
    float *z;
    size_t n = act_grid(&z);
    float *a = falloc(n);
    double worst[PT_ACT_COUNT] = {0};
    for (int k = 0; k < PT_ACT_COUNT; k++) {
        assert_int_equal(pt_activations[k].kind, k);
        assert_non_null(pt_activations[k].forward);
        assert_non_null(pt_activations[k].backward);
        fill(a, n, GARBAGE);
        pt_activations[k].forward(n, z, a);
        for (size_t i = 0; i < n; i++) {
            double x = z[i], ref = k == PT_ACT_SIGMOID ? 1.0 / (1.0 + exp(-x))
                                   : k == PT_ACT_TANH  ? tanh(x)
                                                       : (x > 0 ? x : 0);
            double err = fabs((double)a[i] - ref);
            worst[k] = err > worst[k] ? err : worst[k];
            if (k == PT_ACT_RELU && a[i] != (float)ref)
                fail_msg("relu(%g) = %g", x, (double)a[i]);
            if (k == PT_ACT_TANH && !(err < 2e-7))
                fail_msg("tanh(%.9g) = %.9g, libm %.9g: abs error %.3g >= 2e-7", x, (double)a[i], ref, err);
            /* sigmoid: 1/(1 + e) with e within 4 ulp: within 2e-7 absolute and 1e-6 relative. */
            if (k == PT_ACT_SIGMOID && !(err < 2e-7 && err <= 1e-6 * ref))
                fail_msg("sigmoid(%.9g) = %.9g, libm %.9g: error %.3g", x, (double)a[i], ref, err);
        }
    }
    print_message("worst abs error: sigmoid %.3g, tanh %.3g, relu %.3g\n", worst[0], worst[1], worst[2]);
    /* tanh is odd, exactly; saturates to +-1 exactly. */
    float t[4], zz[4] = {0.3f, -0.3f, 50.0f, -50.0f};
    pt_activations[PT_ACT_TANH].forward(4, zz, t);
    assert_true(t[0] == -t[1]);
    assert_true(t[2] == 1.0f && t[3] == -1.0f);
    /* Far tails of the sigmoid: finite, in [0, 1]. */
    float s[2], zs[2] = {-200.0f, 200.0f};
    pt_activations[PT_ACT_SIGMOID].forward(2, zs, s);
    assert_true(s[0] >= 0.0f && s[0] < 1e-30f);
    assert_true(s[1] == 1.0f);
    pt_free(z);
    pt_free(a);
}

static void test_activation_backward_hand(void **state)
{
    (void)state;
    /* Odd count (7): the vector loops' tails are used. da = 2 everywhere.
     * sigmoid: dz = da * a * (1 - a): a = 0.25 -> 2 * 0.25 * 0.75 = 0.375; a = 0.5 -> 0.5.
     * tanh:    dz = da * (1 - a^2):   a = 0.5  -> 2 * 0.75 = 1.5;          a = -0.5 -> 1.5.
     * relu:    dz = da if z > 0 else 0 (0 at z = 0 exactly). */
    const float da[7] = {2, 2, 2, 2, 2, 2, 2};
    float dz[7];
    {
        const float a[7] = {0.25f, 0.5f, 0, 1, 0.75f, 0.25f, 0.5f};
        const float want[7] = {0.375f, 0.5f, 0, 0, 0.375f, 0.375f, 0.5f};
        pt_activations[PT_ACT_SIGMOID].backward(7, a /* z unused */, a, da, dz);
        for (int i = 0; i < 7; i++)
            assert_true(dz[i] == want[i]);
    }
    {
        const float a[7] = {0.5f, -0.5f, 0, 1, -1, 0.25f, 0.75f};
        const float want[7] = {1.5f, 1.5f, 2, 0, 0, 1.875f, 0.875f};
        pt_activations[PT_ACT_TANH].backward(7, a, a, da, dz);
        for (int i = 0; i < 7; i++)
            assert_true(dz[i] == want[i]);
    }
    {
        const float z[7] = {-1, 0, 2, 1e-30f, -1e-30f, 5, -0.0f};
        float a[7];
        pt_activations[PT_ACT_RELU].forward(7, z, a);
        const float want[7] = {0, 0, 2, 2, 0, 2, 0};
        pt_activations[PT_ACT_RELU].backward(7, z, a, da, dz);
        for (int i = 0; i < 7; i++)
            assert_true(dz[i] == want[i]);
        /* dz may alias da. */
        float d[7] = {3, 3, 3, 3, 3, 3, 3};
        pt_activations[PT_ACT_RELU].backward(7, z, a, d, d);
        for (int i = 0; i < 7; i++)
            assert_true(d[i] == want[i] * 1.5f);
    }
}

/* backward with da = 1 is g'(z): compare with the exact derivative in double. */
static void test_activation_backward_vs_derivative(void **state)
{
    (void)state;
    float *z;
    size_t n = act_grid(&z);
    float *a = falloc(n), *da = falloc(n), *dz = falloc(n);
    fill(da, n, 1.0f);
    for (int k = 0; k < PT_ACT_COUNT; k++) {
        pt_activations[k].forward(n, z, a);
        pt_activations[k].backward(n, z, a, da, dz);
        for (size_t i = 0; i < n; i++) {
            double x = z[i], d;
            if (k == PT_ACT_SIGMOID) {
                double s = 1.0 / (1.0 + exp(-x));
                d = s * (1.0 - s);
            } else if (k == PT_ACT_TANH) {
                double t = tanh(x);
                d = 1.0 - t * t;
            } else {
                d = x > 0 ? 1.0 : 0.0;
            }
            if (!(fabs((double)dz[i] - d) <= 1e-6 + 1e-5 * d))
                fail_msg("%s'(%.9g) = %.9g, want %.9g", pt_act_names[k], x, (double)dz[i], d);
        }
    }
    pt_free(z);
    pt_free(a);
    pt_free(da);
    pt_free(dz);
}

/* ---- optimisers ---------------------------------------------------------------------- */

static pt_optim make_optim(pt_opt_kind kind, double lr, double wd, size_t n)
{
    pt_config c;
    pt_config_defaults(&c);
    c.train.optimizer = kind;
    c.train.lr = lr;
    c.train.weight_decay = wd;
    c.train.momentum = 0.9;
    c.train.beta1 = 0.9;
    c.train.beta2 = 0.999;
    c.train.eps = 1e-8;
    c.train.schedule = PT_SCHED_CONSTANT;
    pt_optim o;
    pt_err err = {{0}};
    if (pt_optim_create(&o, &c, n, 10, &err))
        fail_msg("pt_optim_create: %s", err.msg);
    return o;
}

static void test_sgd_step(void **state)
{
    (void)state;
    pt_optim o = make_optim(PT_OPT_SGD, 0.5, 0.0, 4);
    assert_null(o.m);
    assert_null(o.v);
    /* w - 0.5 g: [1 - 0.25, 2 + 0.5, -1 - 0, 0.5 - 1] = [0.75, 2.5, -1, -0.5] (exact). */
    float w[4] = {1, 2, -1, 0.5f};
    const float g[4] = {0.5f, -1, 0, 2};
    pt_optim_update(&o, w, 0, 4, g, o.lr, 1);
    assert_true(w[0] == 0.75f && w[1] == 2.5f && w[2] == -1.0f && w[3] == -0.5f);
    /* A sub-range: g is indexed from lo; the elements outside are untouched.
     * w[1..3) -= 0.5 * [1, 2] -> [2, -2]. */
    const float g2[2] = {1, 2};
    pt_optim_update(&o, w, 1, 3, g2, 0.5, 2);
    assert_true(w[0] == 0.75f && w[1] == 2.0f && w[2] == -2.0f && w[3] == -0.5f);
    pt_optim_free(&o);
    /* Weight decay 0.25: w -= lr * (g + 0.25 w): w = 2, g = 1, lr 0.5 -> 2 - 0.5 * 1.5 = 1.25. */
    o = make_optim(PT_OPT_SGD, 0.5, 0.25, 1);
    float w1[1] = {2};
    const float g1[1] = {1};
    pt_optim_update(&o, w1, 0, 1, g1, 0.5, 1);
    assert_true(w1[0] == 1.25f);
    pt_optim_free(&o);
}

static void test_momentum_steps(void **state)
{
    (void)state;
    pt_optim o = make_optim(PT_OPT_MOMENTUM, 0.1, 0.0, 2);
    assert_non_null(o.m);
    assert_true(o.m[0] == 0.0f && o.m[1] == 0.0f);
    /* mu = 0.9, lr = 0.1, w = [1, -2], g1 = g2 = [0.5, 1]:
     *   step 1: m = g1 = [0.5, 1];                 w = [1 - 0.05, -2 - 0.1]   = [0.95, -2.1]
     *   step 2: m = 0.9 m + g2 = [0.95, 1.9];      w = [0.95 - 0.095, -2.1 - 0.19] = [0.855, -2.29] */
    float w[2] = {1, -2};
    const float g[2] = {0.5f, 1};
    pt_optim_update(&o, w, 0, 2, g, 0.1, 1);
    near(o.m[0], 0.5, 0, 1e-7, "m[0] after 1");
    near(w[0], 0.95, 0, 1e-6, "w[0] after 1");
    near(w[1], -2.1, 0, 1e-6, "w[1] after 1");
    pt_optim_update(&o, w, 0, 2, g, 0.1, 2);
    near(o.m[0], 0.95, 0, 1e-6, "m[0] after 2");
    near(o.m[1], 1.9, 0, 1e-6, "m[1] after 2");
    near(w[0], 0.855, 0, 1e-6, "w[0] after 2");
    near(w[1], -2.29, 0, 1e-6, "w[1] after 2");
    pt_optim_reset(&o);
    assert_true(o.m[0] == 0.0f && o.m[1] == 0.0f);
    pt_optim_free(&o);
}

static void test_adam_steps(void **state)
{
    (void)state;
    pt_optim o = make_optim(PT_OPT_ADAM, 0.001, 0.0, 3);
    assert_non_null(o.m);
    assert_non_null(o.v);
    /* b1 0.9, b2 0.999, eps 1e-8, lr 0.001; w = [1, 1, 1].
     * step 1, g = [0.5, 0, -1e-3]: m = 0.1 g, v = 0.001 g^2; bias-corrected m^ = g, v^ = g^2,
     *   so w -= lr * g / (|g| + eps):
     *   w[0] = 1 - 0.001 * 0.5/(0.5 + 1e-8) = 0.99900000002;  w[1] = 1 (g = 0: 0 / eps = 0);
     *   w[2] = 1 + 0.001 * 1e-3/(1e-3 + 1e-8) = 1.00099999.
     * step 2, g[0] = -0.25: m = 0.9 * 0.05 - 0.025 = 0.02; v = 0.999 * 0.00025 + 0.001 * 0.0625
     *   = 0.00031225; m^ = 0.02 / 0.19 = 0.1052632; v^ = 0.00031225 / 0.001999 = 0.1562031;
     *   w[0] = 0.99900000002 - 0.001 * 0.1052632 / (0.3952254 + 1e-8) = 0.998733663. */
    float w[3] = {1, 1, 1};
    const float g1[3] = {0.5f, 0, -1e-3f};
    pt_optim_update(&o, w, 0, 3, g1, 0.001, 1);
    /* m and v carry the float rounding of 1 - beta1 and 1 - beta2 (0.999f is
     * 0.99899999797, so 1 - beta2 is 1.3e-5 relative away from 0.001). */
    near(o.m[0], 0.05, 0, 1e-6, "m after 1");
    near(o.v[0], 0.00025, 0, 2e-5, "v after 1");
    near(w[0], 0.99900000002, 0, 2e-7, "adam w[0] after 1");
    assert_true(w[1] == 1.0f);
    near(w[2], 1.00099999, 0, 2e-7, "adam w[2] after 1");
    const float g2[3] = {-0.25f, 0, 0};
    pt_optim_update(&o, w, 0, 3, g2, 0.001, 2);
    near(o.m[0], 0.02, 0, 1e-5, "m after 2");
    near(o.v[0], 0.00031225, 0, 2e-5, "v after 2");
    near(w[0], 0.998733663, 0, 2e-7, "adam w[0] after 2");
    pt_optim_reset(&o);
    for (int i = 0; i < 3; i++)
        assert_true(o.m[i] == 0.0f && o.v[i] == 0.0f);
    pt_optim_free(&o);
}

static void test_lr_schedules(void **state)
{
    (void)state;
    pt_config c;
    pt_config_defaults(&c);
    c.train.optimizer = PT_OPT_SGD;
    c.train.lr = 0.1;
    c.train.epochs = 5;
    pt_optim o;
    pt_err err = {{0}};

    c.train.schedule = PT_SCHED_CONSTANT;
    assert_int_equal(pt_optim_create(&o, &c, 1, 10, &err), 0);
    assert_true(pt_optim_lr(&o, 0) == 0.1 && pt_optim_lr(&o, 37) == 0.1 && pt_optim_lr(&o, 10000) == 0.1);
    pt_optim_free(&o);

    /* step: 10 steps per epoch, x0.5 every 2 epochs: steps 0-19 -> 0.1, 20-39 -> 0.05, 40-59 -> 0.025. */
    c.train.schedule = PT_SCHED_STEP;
    c.train.step_epochs = 2;
    c.train.step_gamma = 0.5;
    assert_int_equal(pt_optim_create(&o, &c, 1, 10, &err), 0);
    near(pt_optim_lr(&o, 0), 0.1, 0, 1e-15, "step lr at 0");
    near(pt_optim_lr(&o, 19), 0.1, 0, 1e-15, "step lr at 19");
    near(pt_optim_lr(&o, 20), 0.05, 0, 1e-15, "step lr at 20");
    near(pt_optim_lr(&o, 39), 0.05, 0, 1e-15, "step lr at 39");
    near(pt_optim_lr(&o, 40), 0.025, 0, 1e-15, "step lr at 40");
    pt_optim_free(&o);

    /* cosine from 0.1 to 0.01 over 5 epochs x 5 steps = 25 steps (step 24 is the last):
     *   step 0: 0.1; step 6 (1/4): 0.01 + 0.045 (1 + cos(pi/4)) = 0.0868198;
     *   step 12 (1/2): 0.055; step 24: 0.01; past the end: stays 0.01. */
    c.train.schedule = PT_SCHED_COSINE;
    c.train.lr_min = 0.01;
    assert_int_equal(pt_optim_create(&o, &c, 1, 5, &err), 0);
    near(pt_optim_lr(&o, 0), 0.1, 0, 1e-12, "cosine lr at 0");
    near(pt_optim_lr(&o, 6), 0.0868198052, 0, 1e-9, "cosine lr at 6");
    near(pt_optim_lr(&o, 12), 0.055, 0, 1e-12, "cosine lr at 12");
    near(pt_optim_lr(&o, 24), 0.01, 0, 1e-12, "cosine lr at 24");
    near(pt_optim_lr(&o, 30), 0.01, 0, 1e-12, "cosine lr past the end");
    for (long s = 1; s < 25; s++)
        assert_true(pt_optim_lr(&o, s) <= pt_optim_lr(&o, s - 1));
    pt_optim_free(&o);
}

/* ---- random streams ----------------------------------------------------------------- */

static void test_rng_reference_vectors(void **state)
{
    (void)state;
    /* xoshiro256** from state {1, 2, 3, 4}: the reference implementation's outputs. */
    pt_rng r = {{1, 2, 3, 4}};
    const uint64_t want[5] = {11520u, 0u, 1509978240u, 1215971899390074240u, 1216172134540287360u};
    for (int i = 0; i < 5; i++)
        assert_true(pt_rng_u64(&r) == want[i]);
    /* Seeding (splitmix64 of seed ^ stream constant), computed independently in
     * Python. If these change, every run's numbers change: that must be a
     * deliberate decision, not a side effect. */
    pt_rng_seed(&r, 1, PT_STREAM_INIT);
    const uint64_t s1[4] = {0xbaa24e21d05c2935u, 0x19ac350577648864u, 0x7ef054b7f95a306au,
                            0x1d26476ef9005c9bu};
    for (int i = 0; i < 4; i++)
        assert_true(pt_rng_u64(&r) == s1[i]);
    pt_rng_seed(&r, 42, PT_STREAM_SHUFFLE);
    const uint64_t s42[4] = {0x3cf860af930cc916u, 0x1ce8fd0513794c95u, 0x16641e2975890f41u,
                             0x986c60b039bb8606u};
    for (int i = 0; i < 4; i++)
        assert_true(pt_rng_u64(&r) == s42[i]);
}

static void test_rng_streams(void **state)
{
    (void)state;
    enum { N = 1000 };
    uint64_t a[N], b[N];
    pt_rng r1, r2;
    pt_rng_seed(&r1, 12345, PT_STREAM_SHUFFLE);
    pt_rng_seed(&r2, 12345, PT_STREAM_SHUFFLE);
    for (int i = 0; i < N; i++) {
        a[i] = pt_rng_u64(&r1);
        b[i] = pt_rng_u64(&r2);
    }
    assert_memory_equal(a, b, sizeof a);
    /* Another stream, or another seed: no value in common at the same position. */
    const struct { uint64_t seed; pt_stream stream; } other[] = {
        {12345, PT_STREAM_INIT}, {12345, PT_STREAM_SPLIT}, {12345, PT_STREAM_SWEEP}, {12346, PT_STREAM_SHUFFLE}, {0, PT_STREAM_SHUFFLE}};
    for (size_t k = 0; k < PT_ARRAY_LEN(other); k++) {
        pt_rng_seed(&r2, other[k].seed, other[k].stream);
        int same = 0;
        for (int i = 0; i < N; i++)
            same += pt_rng_u64(&r2) == a[i];
        assert_int_equal(same, 0);
    }
}

static void test_rng_below_uniform_normal(void **state)
{
    (void)state;
    pt_rng r;
    pt_rng_seed(&r, 3, PT_STREAM_SWEEP);
    const uint64_t ns[] = {1, 2, 3, 7, 1000, (UINT64_C(1) << 63) + 1, UINT64_MAX};
    for (size_t k = 0; k < PT_ARRAY_LEN(ns); k++)
        for (int i = 0; i < 10000; i++) {
            uint64_t v = pt_rng_below(&r, ns[k]);
            if (v >= ns[k])
                fail_msg("pt_rng_below(%llu) = %llu", (unsigned long long)ns[k], (unsigned long long)v);
        }
    /* 60000 draws below 6: each count 10000 +- 5 sigma (sigma = 91). */
    long count[6] = {0};
    for (int i = 0; i < 60000; i++)
        count[pt_rng_below(&r, 6)]++;
    for (int v = 0; v < 6; v++)
        if (labs(count[v] - 10000) > 456)
            fail_msg("pt_rng_below(6): value %d drawn %ld times of 60000", v, count[v]);
    /* n = 2/3 of 2^64: a plain x % n would draw the lower half of [0, n)
     * twice as often as the upper (2/3 of the draws); rejection gives 1/2.
     * 10000 draws: 5000 +- 5 sigma (sigma = 50). */
    const uint64_t big = UINT64_C(0xAAAAAAAAAAAAAAAA);
    long lower = 0;
    for (int i = 0; i < 10000; i++)
        lower += pt_rng_below(&r, big) < big / 2;
    if (labs(lower - 5000) > 250)
        fail_msg("pt_rng_below(2/3 * 2^64): %ld of 10000 draws in the lower half", lower);
    double sum = 0, sum2 = 0;
    for (int i = 0; i < 100000; i++) {
        double u = pt_rng_uniform(&r);
        assert_true(u >= 0.0 && u < 1.0);
        double z = pt_rng_normal(&r);
        assert_true(isfinite(z));
        sum += z;
        sum2 += z * z;
    }
    near(sum / 100000, 0.0, 0.02, 0, "normal mean");      /* sigma of the mean: 0.0032 */
    near(sum2 / 100000, 1.0, 0.03, 0, "normal variance"); /* sigma: 0.0045 */
}

static void test_shuffle_is_permutation(void **state)
{
    (void)state;
    enum { N = 1000 };
    int a[N];
    /* Each value encodes its index: 7 i + 3. */
    for (int i = 0; i < N; i++)
        a[i] = 7 * i + 3;
    pt_rng r;
    pt_rng_seed(&r, 9, PT_STREAM_SHUFFLE);
    pt_rng_shuffle(&r, a, N);
    char seen[N] = {0};
    int moved = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal((a[i] - 3) % 7, 0);
        int j = (a[i] - 3) / 7;
        assert_true(j >= 0 && j < N);
        assert_int_equal(seen[j], 0);
        seen[j] = 1;
        moved += j != i;
    }
    assert_true(moved > N * 9 / 10);
    /* n = 0 and 1 are no-ops (and draw nothing out of range). */
    int one[1] = {42};
    pt_rng_shuffle(&r, one, 1);
    pt_rng_shuffle(&r, one, 0);
    assert_int_equal(one[0], 42);
    /* All 6 orders of 3 elements appear equally often (Sattolo's off-by-one
     * would give only the 2 cyclic ones); chi-square, 5 degrees of freedom,
     * 30 is p ~ 1e-5. */
    long count[6] = {0};
    for (int t = 0; t < 60000; t++) {
        int p[3] = {0, 1, 2};
        pt_rng_shuffle(&r, p, 3);
        int code = p[0] * 2 + (p[1] > p[2]); /* first element and the order of the other two */
        count[code]++;
    }
    double chi2 = 0;
    for (int c = 0; c < 6; c++)
        chi2 += (count[c] - 10000.0) * (count[c] - 10000.0) / 10000.0;
    if (!(chi2 < 30))
        fail_msg("shuffle of 3: counts %ld %ld %ld %ld %ld %ld, chi2 %.1f", count[0], count[1], count[2],
                 count[3], count[4], count[5], chi2);
    /* Same seed, same permutation. */
    int b1[N], b2[N];
    for (int i = 0; i < N; i++)
        b1[i] = b2[i] = i;
    pt_rng r1, r2;
    pt_rng_seed(&r1, 5, PT_STREAM_SHUFFLE);
    pt_rng_seed(&r2, 5, PT_STREAM_SHUFFLE);
    pt_rng_shuffle(&r1, b1, N);
    pt_rng_shuffle(&r2, b2, N);
    assert_memory_equal(b1, b2, sizeof b1);
}

/* ---- model.bin ------------------------------------------------------------------------ */

static char tmpdir[256];

static int setup_tmp(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/pt-kernels-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    (void)state;
    pt_err err;
    return pt_exp_remove_tree(tmpdir, &err);
}

static void tmp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *b = malloc(1 << 16);
    assert_non_null(b);
    *len = fread(b, 1, 1 << 16, f);
    assert_true(*len < (1 << 16));
    fclose(f);
    return b;
}

static void spit(const char *path, const unsigned char *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void make_model(pt_model *m)
{
    /* 20 -> 17 -> 3 -> 5, relu, sigmoid outputs: padding in every layer. */
    const int sizes[4] = {20, 17, 3, 5};
    pt_err err = {{0}};
    assert_int_equal(pt_model_create(m, 3, sizes, PT_ACT_RELU, PT_OUT_SIGMOID, &err), 0);
    pt_rng r;
    pt_rng_seed(&r, 11, PT_STREAM_INIT);
    pt_model_init(m, PT_INIT_HE, 0.0, &r);
    for (int l = 0; l < m->n_layers; l++)
        for (int o = 0; o < m->layer[l].out; o++)
            *pt_model_b(m, l, o) = (float)pt_rng_normal(&r);
}

static void test_model_layout(void **state)
{
    (void)state;
    pt_model m;
    make_model(&m);
    /* 20*32 + 32 + 17*16 + 16 + 3*16 + 16: outp = 32, 16, 16. */
    assert_int_equal(m.n_params, 20 * 32 + 32 + 17 * 16 + 16 + 3 * 16 + 16);
    assert_int_equal(m.n_real, 20 * 17 + 17 + 17 * 3 + 3 + 3 * 5 + 5);
    assert_int_equal(((uintptr_t)m.params) % PT_ALIGN, 0);
    /* Init leaves padding zero. */
    for (int l = 0; l < m.n_layers; l++) {
        const pt_layer *L = &m.layer[l];
        assert_int_equal(L->outp % PT_LANES, 0);
        for (int k = 0; k < L->in; k++)
            for (int o = L->out; o < L->outp; o++)
                assert_true(m.params[L->off_w + (size_t)k * L->outp + (size_t)o] == 0.0f);
    }
    pt_model_free(&m);
}

static void test_model_roundtrip(void **state)
{
    (void)state;
    pt_model m, back;
    make_model(&m);
    char path[300];
    tmp_path(path, sizeof path, "m.bin");
    pt_err err = {{0}};
    assert_int_equal(pt_model_save(&m, path, &err), 0);
    assert_int_equal(pt_model_load(&back, path, &err), 0);
    assert_int_equal(back.n_layers, m.n_layers);
    assert_int_equal(back.act, m.act);
    assert_int_equal(back.out, m.out);
    assert_int_equal(back.n_params, m.n_params);
    for (int l = 0; l < m.n_layers; l++) {
        assert_int_equal(back.layer[l].in, m.layer[l].in);
        assert_int_equal(back.layer[l].out, m.layer[l].out);
    }
    assert_memory_equal(back.params, m.params, m.n_params * sizeof(float));
    /* The documented format: length, header fields, W[0][0], W[0][1] row-major, crc last. */
    size_t len;
    unsigned char *b = slurp(path, &len);
    size_t head = 8 + 4 + 4 + 4 * 4 + 4 + 4;
    assert_int_equal(len, head + 4 * m.n_real + 4);
    assert_memory_equal(b, "PTRMODEL", 8);
    assert_int_equal(b[8], 1);
    assert_int_equal(b[12], 3);
    assert_int_equal(b[16], 20);
    assert_int_equal(b[20], 17);
    assert_int_equal(b[24], 3);
    assert_int_equal(b[28], 5);
    assert_int_equal(b[32], PT_ACT_RELU);
    assert_int_equal(b[36], PT_OUT_SIGMOID);
    float w00, w01;
    memcpy(&w00, b + head, 4); /* little-endian host (x86-64, arm64) */
    memcpy(&w01, b + head + 4, 4);
    assert_true(w00 == *pt_model_w(&m, 0, 0, 0));
    assert_true(w01 == *pt_model_w(&m, 0, 0, 1));
    free(b);
    /* Saving the loaded model gives the same bytes. */
    char path2[300];
    tmp_path(path2, sizeof path2, "bad.bin");
    assert_int_equal(pt_model_save(&back, path2, &err), 0);
    size_t len2;
    unsigned char *b1 = slurp(path, &len), *b2 = slurp(path2, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(b1, b2, len);
    free(b1);
    free(b2);
    pt_model_free(&m);
    pt_model_free(&back);
}

/* Save a good model, damage the bytes (cut to cut_to bytes, xor one byte,
 * overwrite the version), load it, and expect a failure whose message names
 * the file and contains fragment. */
static void expect_load_error(size_t cut_to, size_t flip_at, unsigned char flip_xor, uint32_t version,
                              const char *fragment)
{
    pt_model m;
    make_model(&m);
    char path[300], bad[300];
    tmp_path(path, sizeof path, "m.bin");
    tmp_path(bad, sizeof bad, "bad.bin");
    pt_err err = {{0}};
    assert_int_equal(pt_model_save(&m, path, &err), 0);
    size_t len;
    unsigned char *b = slurp(path, &len);
    if (cut_to)
        len = cut_to;
    if (flip_xor)
        b[flip_at] ^= flip_xor;
    if (version) {
        b[8] = (unsigned char)version;
        b[9] = (unsigned char)(version >> 8);
        b[10] = (unsigned char)(version >> 16);
        b[11] = (unsigned char)(version >> 24);
    }
    spit(bad, b, len);
    free(b);
    pt_model back;
    err.msg[0] = 0;
    assert_int_not_equal(pt_model_load(&back, bad, &err), 0);
    assert_null(back.params);
    pt_model_free(&back); /* safe after a failed load */
    if (!strstr(err.msg, bad) || !strstr(err.msg, fragment))
        fail_msg("load error '%s' should name '%s' and say '%s'", err.msg, bad, fragment);
    pt_model_free(&m);
}

static void test_model_load_errors(void **state)
{
    (void)state;
    size_t head = 8 + 4 + 4 + 4 * 4 + 4 + 4;
    expect_load_error(0, 0, 'X' ^ 'P', 0, "not a ptrain model");           /* bad magic */
    expect_load_error(0, 0, 0, 2, "version 2");                              /* wrong version */
    expect_load_error(0, head + 100, 0x10, 0, "checksum mismatch");         /* a flipped weight bit */
    expect_load_error(0, 16, 0x01, 0, "the header describes");              /* input size 20 -> 21 */
    expect_load_error(head + 40, 0, 0, 0, "the header describes");          /* truncated weights */
    expect_load_error(20, 0, 0, 0, "truncated header");                      /* cut inside the sizes */
    expect_load_error(6, 0, 0, 0, "not a ptrain model");                     /* shorter than the magic */
    expect_load_error(0, 12, 0x03, 0, "layers");                             /* 3 layers -> 0 */
    /* A missing file. */
    pt_model m;
    pt_err err = {{0}};
    char path[300];
    tmp_path(path, sizeof path, "absent.bin");
    assert_int_not_equal(pt_model_load(&m, path, &err), 0);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "No such file"));
    /* Saving into a folder that does not exist fails with the path. */
    pt_model good;
    make_model(&good);
    tmp_path(path, sizeof path, "no/such/dir/m.bin");
    assert_int_not_equal(pt_model_save(&good, path, &err), 0);
    assert_non_null(strstr(err.msg, "no/such/dir"));
    pt_model_free(&good);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_forward_hand),
        cmocka_unit_test(test_dense_forward_blocks),
        cmocka_unit_test(test_dense_backward_w_hand),
        cmocka_unit_test(test_dense_backward_x_hand),
        cmocka_unit_test(test_backward_w_split_is_bitwise),
        cmocka_unit_test(test_dense_exact_vs_naive),
        cmocka_unit_test(test_tree_cover_hand),
        cmocka_unit_test(test_tree_order_hand),
        cmocka_unit_test(test_tree_split_is_bitwise),
        cmocka_unit_test(test_gather),
        cmocka_unit_test(test_output_softmax_hand),
        cmocka_unit_test(test_output_softmax_extreme),
        cmocka_unit_test(test_output_softmax_blocks),
        cmocka_unit_test(test_output_sigmoid_hand),
        cmocka_unit_test(test_output_wide),
        cmocka_unit_test(test_expf_accuracy),
        cmocka_unit_test(test_activation_forward),
        cmocka_unit_test(test_activation_backward_hand),
        cmocka_unit_test(test_activation_backward_vs_derivative),
        cmocka_unit_test(test_sgd_step),
        cmocka_unit_test(test_momentum_steps),
        cmocka_unit_test(test_adam_steps),
        cmocka_unit_test(test_lr_schedules),
        cmocka_unit_test(test_rng_reference_vectors),
        cmocka_unit_test(test_rng_streams),
        cmocka_unit_test(test_rng_below_uniform_normal),
        cmocka_unit_test(test_shuffle_is_permutation),
        cmocka_unit_test(test_model_layout),
        cmocka_unit_test(test_model_roundtrip),
        cmocka_unit_test(test_model_load_errors),
    };
    return cmocka_run_group_tests_name("kernels", tests, setup_tmp, teardown_tmp);
}
