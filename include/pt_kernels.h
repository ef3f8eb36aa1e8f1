/* pt_kernels.h: the numerical kernels of one shard: input conversion, dense
 * layers forward and backward, activations, output layer with its loss.
 * Plain functions over float buffers with explicit sizes; no threads, no
 * allocation. Dimension names used throughout:
 *   n     samples in the shard
 *   in    inputs of a layer;  lda: row stride of the layer's input buffer
 *   out   real outputs of a layer;  outp: out padded to PT_LANES (row stride)
 * Weights are transposed and padded as pt_model.h describes: wt is (in, outp). */
#ifndef PT_KERNELS_H
#define PT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "pt_config.h"

/* The float value of a uint8 feature. One definition for every kernel that
 * converts, so the weight gradient sees the very inputs the forward pass saw. */
static inline float pt_feature(uint8_t v, float scale, float shift)
{
    return (float)v * scale + shift;
}

/* x is (N, dim) uint8; out is (n, dim): out[i][k] = pt_feature(x[idx[i]][k]). */
void pt_gather_u8(int n, int dim, const uint8_t *x, const int *idx, float scale, float shift,
                  float *out);

/* Columns k0 .. k0+cols-1 of n uint8 rows, converted: out (n, cols). */
void pt_gather_u8_cols(int n, const uint8_t *const *rows, int k0, int cols, float scale, float shift,
                       float *out);

/* z (n, outp) = a (n, in; stride lda) . wt (in, outp) + b (outp); b NULL adds nothing. */
void pt_dense_forward(int n, int in, int lda, int outp, const float *a, const float *wt,
                      const float *b, float *z);

/* The first layer has many inputs, and threads that own different input
 * ranges each sum their own part of its pre-activation, so its sum has a
 * fixed shape that any split reproduces bit for bit. The inputs are cut
 * into leaves of PT_LEAF_ROWS consecutive inputs; a leaf's partial sum is
 * one FMA chain over its inputs in order, from zero. Leaves are combined
 * by a fixed binary tree of 2^top positions, top = pt_tree_levels(leaves):
 * leaf j sits at position j + pt_tree_offset(leaves), which centres the
 * leaves, so the root's two children hold halves of them (24 and 25 of
 * 49) and a split into two halves needs one node a side. Node (lo, h)
 * spans positions [lo, lo + 2^h), lo a multiple of 2^h, and is node
 * (lo, h-1) + node (lo + 2^(h-1), h-1), or just the one of the two that
 * holds any leaf. z = node (0, top) + b. */
enum { PT_LEAF_ROWS = 16, PT_TREE_MAX_LEVELS = 24 };

static inline int pt_leaf_count(int in)
{
    return (in + PT_LEAF_ROWS - 1) / PT_LEAF_ROWS;
}
int pt_tree_levels(int leaves); /* the root's level: the least h with 2^h >= leaves */
int pt_tree_offset(int leaves); /* the position of leaf 0: ceil((2^top - leaves) / 2) */

/* z (n, outp) = node (lo, level) of a layer with `in` inputs, plus b unless
 * b is NULL. a (n rows, stride lda) and wt start at the input of the node's
 * first leaf (pt_tree_part.first; 0 for the root): the caller may hold only
 * the node's own columns. */
void pt_dense_forward_tree(int n, int in, int lo, int level, int lda, int outp, const float *a,
                           const float *wt, const float *b, float *z);

/* A computed node: z (rows, outp) holds node (lo, level), whose leaves are
 * [first, end), for every row. */
typedef struct pt_tree_part {
    int lo, level;
    int first, end;
    const float *z;
} pt_tree_part;

/* The fewest nodes that cover leaves [lp, rp) exactly, each the largest
 * that fits (so any cover of [0, leaves) by ranges yields, together, the
 * nodes pt_tree_combine looks for); written to parts (room for
 * 2 * PT_TREE_MAX_LEVELS), their number returned. */
int pt_tree_cover(int leaves, int lp, int rp, pt_tree_part *parts);

/* z (n, outp) = rows row0 .. row0+n-1 of the whole tree plus b, formed from
 * parts that together cover every leaf. scratch: pt_tree_levels(leaves) *
 * n * outp floats. Bit-identical to pt_dense_forward_tree over all leaves. */
void pt_tree_combine(int in, const pt_tree_part *parts, int n_parts, size_t row0, int n, int outp,
                     const float *b, float *z, float *scratch);

/* Ask for columns k0 .. k0+cols-1 of rows idx[0..n) of x (N, dim) to be
 * brought towards the core, without waiting: called a step ahead, it hides
 * the memory latency of a random mini-batch behind other work. */
void pt_prefetch_u8_cols(int n, const uint8_t *x, const int *idx, int dim, int k0, int cols);

/* Weight gradient: dwt (in, outp) = a^T . dz, a (n, in; stride lda), dz
 * (n, outp); with accumulate set, dwt's values are the starting sums. Each
 * element is one chain of FMAs over the samples in order, whatever `in`
 * is: a caller may compute any range of rows (pass a + k0 and dwt + k0 *
 * outp), or split the samples into consecutive parts, the later ones with
 * accumulate set, and get the same bits as one call over everything. */
void pt_dense_backward_w(int n, int in, int lda, int outp, const float *a, const float *dz, float *dwt,
                         int accumulate);

/* Bias gradient: db (outp) = column sums of dz (n, outp), in sample order. */
void pt_dense_backward_b(int n, int outp, const float *dz, float *db);

/* Rows k0..k1-1 of the transposed weights wt (in, outp) written as columns
 * of w (out, ldw), the layout pt_dense_backward_x reads; ldw >= in is the
 * padded width of the layer's input. The call with k1 == in also zeroes
 * columns in..ldw-1, so a full copy may be built in several ranges. */
void pt_transpose_weights(int in, int out, int outp, int ldw, const float *wt, int k0, int k1, float *w);

/* Input gradient: da (n, ldda)[i][k] = sum_{o < out} dz[i][o] * w[o][k],
 * with w (out, ldda) from pt_transpose_weights; its zero padding columns
 * make da's padding lanes zero, so padding never carries gradient. */
void pt_dense_backward_x(int n, int out, int outp, int ldda, const float *dz, const float *w, float *da);

/* An activation and its derivative, applied to `count` contiguous floats.
 * backward computes dz = da * g'(z), given z and a = g(z); dz may alias da. */
typedef struct pt_activation {
    pt_act_kind kind;
    void (*forward)(size_t count, const float *z, float *a);
    void (*backward)(size_t count, const float *z, const float *a, const float *da, float *dz);
} pt_activation;
extern const pt_activation pt_activations[PT_ACT_COUNT];

/* Output layer and loss for n samples with k real classes in rows of stride
 * outp: adds the summed loss to *loss_sum, the number of correct argmax
 * predictions to *correct; if dz is not NULL writes dLoss/dz (p - y; padding
 * lanes zero); if pred is not NULL writes each sample's predicted class.
 * softmax: cross-entropy of softmax(z). sigmoid: binary cross-entropy of
 * each sigmoid(z_o) against the one-hot label, summed over the k outputs. */
void pt_output_loss(pt_out_kind kind, int n, int k, int outp, const float *z, const uint8_t *labels,
                    float *dz, double *loss_sum, long *correct, uint8_t *pred);

/* exp(x) for float, branch-free so loops over it vectorise (libm's expf does
 * not without -ffast-math, which we refuse). Max error ~4 ulp on [-87, 88];
 * arguments outside are clamped. Exposed for tests. */
float pt_expf(float x);

#endif
