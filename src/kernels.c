/* kernels.c: per-shard compute. The hot loops vectorise over a layer's
 * (padded) outputs, 16 floats at a time, with inputs broadcast: the forward
 * pass and the weight gradient both become register-blocked sequences of
 * fused multiply-adds with no horizontal sums and no transposes. GCC/clang
 * vector extensions keep this portable: with -march=native they become
 * AVX-512 (or AVX2) instructions, on other targets whatever the target has.
 * Summation order inside a kernel is fixed by the code, never by threads. */
#include "pt_kernels.h"

#include <math.h>
#include <string.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "pt_model.h"

/* v16: PT_LANES floats, one row block of a layer's outputs. With AVX-512 it
 * is one 64-byte register. Below that it is two 32-byte halves: GCC lowers a
 * 64-byte vector type on AVX2 through the stack, which measured 10x slower.
 * Every operation is lane by lane, so both give the same bits. The kernels
 * use only these six operations; vfma(acc, s, w) is acc + s * w, one fused
 * multiply-add per lane under -ffp-contract=fast. */
#ifdef __AVX512F__
typedef float v16 __attribute__((vector_size(PT_LANES * sizeof(float))));

static inline v16 splat(float s)
{
    return (v16){s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s};
}
static inline v16 load(const float *p) /* p is 64-byte aligned: rows of stride outp */
{
    return *(const v16 *)(const void *)p;
}
static inline void store(float *p, v16 v)
{
    *(v16 *)(void *)p = v;
}
static inline v16 vadd(v16 a, v16 b)
{
    return a + b;
}
static inline v16 vfma(v16 acc, float s, v16 w)
{
    return acc + splat(s) * w;
}
/* Register blocks: independent accumulator chains hide the FMA latency;
 * 8 of them + 1 fit the 32 vector registers with room to spare. */
enum { VEC_ROWS = 8 };
#else
typedef float v8 __attribute__((vector_size(PT_LANES / 2 * sizeof(float))));
typedef struct {
    v8 lo, hi;
} v16;

static inline v8 splat8(float s)
{
    return (v8){s, s, s, s, s, s, s, s};
}
static inline v16 splat(float s)
{
    return (v16){splat8(s), splat8(s)};
}
static inline v16 load(const float *p)
{
    return (v16){*(const v8 *)(const void *)p, *(const v8 *)(const void *)(p + PT_LANES / 2)};
}
static inline void store(float *p, v16 v)
{
    *(v8 *)(void *)p = v.lo;
    *(v8 *)(void *)(p + PT_LANES / 2) = v.hi;
}
static inline v16 vadd(v16 a, v16 b)
{
    return (v16){a.lo + b.lo, a.hi + b.hi};
}
static inline v16 vfma(v16 acc, float s, v16 w)
{
    const v8 x = splat8(s);
    return (v16){acc.lo + x * w.lo, acc.hi + x * w.hi};
}
/* Two registers a vector: 4 blocks (8 + 3 registers) fit 16. */
enum { VEC_ROWS = 4 };
#endif

/* Rows are drawn at random from a data set larger than the last-level
 * cache, so each row is a fresh trip to memory: ask for rows this far ahead. */
enum { GATHER_PREFETCH_ROWS = 2 };

static void prefetch_row(const uint8_t *row, int dim)
{
    for (int k = 0; k < dim; k += PT_ALIGN)
        __builtin_prefetch(row + k, 0, 0);
}

/* u8 -> float. Left to itself GCC widens 64 bytes at a time through 16-bit
 * steps (AVX-512) or element by element (AVX2); one widening load of 16 (or
 * 8) bytes straight to 32-bit lanes, one conversion and one FMA is half the
 * work. Same bits as pt_feature: both contract to one FMA. */
static inline void convert_row(const uint8_t *restrict src, int cols, float scale, float shift,
                               float *restrict dst)
{
    int k = 0;
#if defined(__AVX512F__)
    const __m512 s16 = _mm512_set1_ps(scale), h16 = _mm512_set1_ps(shift);
    for (; k + 16 <= cols; k += 16) {
        const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(src + k)));
        _mm512_storeu_ps(dst + k, _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), s16, h16));
    }
#elif defined(__AVX2__) && defined(__FMA__)
    const __m256 s8 = _mm256_set1_ps(scale), h8 = _mm256_set1_ps(shift);
    for (; k + 8 <= cols; k += 8) {
        const __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(src + k)));
        _mm256_storeu_ps(dst + k, _mm256_fmadd_ps(_mm256_cvtepi32_ps(v), s8, h8));
    }
#endif
    for (; k < cols; k++)
        dst[k] = pt_feature(src[k], scale, shift);
}

void pt_gather_u8(int n, int dim, const uint8_t *x, const int *idx, float scale, float shift,
                  float *out)
{
    for (int i = 0; i < n && i < GATHER_PREFETCH_ROWS; i++)
        prefetch_row(x + (size_t)idx[i] * (size_t)dim, dim);
    for (int i = 0; i < n; i++) {
        if (i + GATHER_PREFETCH_ROWS < n)
            prefetch_row(x + (size_t)idx[i + GATHER_PREFETCH_ROWS] * (size_t)dim, dim);
        convert_row(x + (size_t)idx[i] * (size_t)dim, dim, scale, shift, out + (size_t)i * (size_t)dim);
    }
}

void pt_gather_u8_cols(int n, const uint8_t *const *rows, int k0, int cols, float scale, float shift,
                       float *out)
{
    for (int i = 0; i < n && i < GATHER_PREFETCH_ROWS; i++)
        prefetch_row(rows[i] + k0, cols);
    for (int i = 0; i < n; i++) {
        if (i + GATHER_PREFETCH_ROWS < n)
            prefetch_row(rows[i + GATHER_PREFETCH_ROWS] + k0, cols);
        convert_row(rows[i] + k0, cols, scale, shift, out + (size_t)i * (size_t)cols);
    }
}

void pt_prefetch_u8_cols(int n, const uint8_t *x, const int *idx, int dim, int k0, int cols)
{
    for (int i = 0; i < n; i++) {
        const uint8_t *row = x + (size_t)idx[i] * (size_t)dim + k0;
        for (int k = 0; k < cols; k += PT_ALIGN)
            __builtin_prefetch(row + k, 0, 2);
        __builtin_prefetch(row + cols - 1, 0, 2); /* a row need not start on a line */
    }
}

/* Samples per register block of the forward pass. */
enum { FWD_ROWS = VEC_ROWS };

/* Rows [0, R) of a (stride lda) through the layer into z, for a
 * compile-time R: R accumulator chains run side by side. Every row's sum is
 * the same chain (bias or zero when b is NULL, then inputs in order)
 * whatever R is, so the bits do not depend on how the rows are blocked. */
static inline __attribute__((always_inline)) void fwd_block(const int R, int in, int lda, int outp,
                                                            const float *a, const float *wt,
                                                            const float *b, float *z)
{
    for (int o = 0; o < outp; o += PT_LANES) {
        v16 acc[FWD_ROWS];
        for (int r = 0; r < R; r++)
            acc[r] = b ? load(b + o) : splat(0.0f);
        for (int k = 0; k < in; k++) {
            v16 w = load(wt + (size_t)k * (size_t)outp + o);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++)
                acc[r] = vfma(acc[r], a[(size_t)r * (size_t)lda + k], w);
        }
        for (int r = 0; r < R; r++)
            store(z + (size_t)r * (size_t)outp + o, acc[r]);
    }
}

/* Blocks of FWD_ROWS rows, then of 4 (a shard of 4 or 12 samples keeps four
 * chains going), then single rows. */
void pt_dense_forward(int n, int in, int lda, int outp, const float *a, const float *wt,
                      const float *b, float *z)
{
    int i = 0;
    for (; i + FWD_ROWS <= n; i += FWD_ROWS)
        fwd_block(FWD_ROWS, in, lda, outp, a + (size_t)i * (size_t)lda, wt, b, z + (size_t)i * (size_t)outp);
    for (; i + 4 <= n; i += 4)
        fwd_block(4, in, lda, outp, a + (size_t)i * (size_t)lda, wt, b, z + (size_t)i * (size_t)outp);
    for (; i < n; i++)
        fwd_block(1, in, lda, outp, a + (size_t)i * (size_t)lda, wt, b, z + (size_t)i * (size_t)outp);
}

/* ---- the first layer's summation tree ------------------------------------ */

int pt_tree_levels(int leaves)
{
    int h = 0;
    while ((1 << h) < leaves)
        h++;
    return h;
}

int pt_tree_offset(int leaves)
{
    return ((1 << pt_tree_levels(leaves)) - leaves + 1) / 2;
}

/* The leaves [*first, *end) under node (lo, level) of a tree whose leaf 0
 * sits at position off; empty when first >= end. */
static void node_leaves(int leaves, int off, int lo, int level, int *first, int *end)
{
    const int f = lo - off, e = lo + (1 << level) - off;
    *first = f > 0 ? f : 0;
    *end = e < leaves ? e : leaves;
}

/* Leaves [first, end) of the node at position lo for R samples (rows of a,
 * stride lda, starting at leaf first's first input) and output lanes
 * o..o+15, into out. The leaves are visited in order and merged like a
 * binary counter on their position in the node: a leaf at a position with
 * bit h set completes a right child at level h, added to its left sibling
 * (left + right) when that holds any leaf. So each internal node is the sum
 * of its two children, or the one that holds leaves, as pt_tree_combine
 * forms it. R is a compile-time constant at each call. */
static inline __attribute__((always_inline)) void tree_rows(const int R, int in, int lo, int first, int end,
                                                            int off, int lda, int outp, int o,
                                                            const float *a, const float *wt, v16 *out)
{
    v16 stack[PT_TREE_MAX_LEVELS + 1][FWD_ROWS];
    unsigned held = 0; /* bit h: stack[h] holds a node */
    for (int j = first; j < end; j++) {
        const int c = j + off - lo, k0 = (j - first) * PT_LEAF_ROWS, left = in - j * PT_LEAF_ROWS;
        const int kn = left < PT_LEAF_ROWS ? left : PT_LEAF_ROWS; /* the last leaf may be short */
        v16 acc[FWD_ROWS];
        for (int r = 0; r < R; r++)
            acc[r] = splat(0.0f);
        for (int k = k0; k < k0 + kn; k++) {
            v16 w = load(wt + (size_t)k * (size_t)outp + o);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++)
                acc[r] = vfma(acc[r], a[(size_t)r * (size_t)lda + k], w);
        }
        int h = 0;
        for (; (c >> h) & 1; h++)
            if ((held >> h) & 1) {
                for (int r = 0; r < R; r++)
                    acc[r] = vadd(stack[h][r], acc[r]);
                held &= ~(1u << h);
            }
        for (int r = 0; r < R; r++)
            stack[h][r] = acc[r];
        held |= 1u << h;
    }
    /* A node cut short by the last leaf: its complete left parts, right-nested. */
    int have = 0;
    for (int r = 0; r < R; r++)
        out[r] = splat(0.0f); /* a node with no leaf sums to zero */
    for (int h = 0; (held >> h) != 0; h++) {
        if (!((held >> h) & 1))
            continue;
        for (int r = 0; r < R; r++)
            out[r] = have ? vadd(stack[h][r], out[r]) : stack[h][r];
        have = 1;
    }
}

/* Rows [0, R) of the node into z, every output vector, plus b unless NULL. */
static inline __attribute__((always_inline)) void tree_block(const int R, int in, int lo, int first, int end,
                                                             int off, int lda, int outp, const float *a,
                                                             const float *wt, const float *b, float *z)
{
    v16 out[FWD_ROWS];
    for (int o = 0; o < outp; o += PT_LANES) {
        tree_rows(R, in, lo, first, end, off, lda, outp, o, a, wt, out);
        for (int r = 0; r < R; r++)
            store(z + (size_t)r * (size_t)outp + o, b ? vadd(out[r], load(b + o)) : out[r]);
    }
}

void pt_dense_forward_tree(int n, int in, int lo, int level, int lda, int outp, const float *a,
                           const float *wt, const float *b, float *z)
{
    const int leaves = pt_leaf_count(in), off = pt_tree_offset(leaves);
    int first, end;
    node_leaves(leaves, off, lo, level, &first, &end);
    /* Blocks of rows as in pt_dense_forward. */
    int i = 0;
    for (; i + FWD_ROWS <= n; i += FWD_ROWS)
        tree_block(FWD_ROWS, in, lo, first, end, off, lda, outp, a + (size_t)i * (size_t)lda, wt, b,
                   z + (size_t)i * (size_t)outp);
    for (; i + 4 <= n; i += 4)
        tree_block(4, in, lo, first, end, off, lda, outp, a + (size_t)i * (size_t)lda, wt, b,
                   z + (size_t)i * (size_t)outp);
    for (; i < n; i++)
        tree_block(1, in, lo, first, end, off, lda, outp, a + (size_t)i * (size_t)lda, wt, b,
                   z + (size_t)i * (size_t)outp);
}

int pt_tree_cover(int leaves, int lp, int rp, pt_tree_part *parts)
{
    const int top = pt_tree_levels(leaves), off = pt_tree_offset(leaves);
    int n = 0;
    for (int j = lp; j < rp;) {
        /* The largest node that starts at leaf j and ends by rp. */
        int h = 0, first, end;
        for (; h < top; h++) {
            const int up = ((j + off) >> (h + 1)) << (h + 1);
            node_leaves(leaves, off, up, h + 1, &first, &end);
            if (first != j || end > rp)
                break;
        }
        const int lo = ((j + off) >> h) << h;
        node_leaves(leaves, off, lo, h, &first, &end);
        parts[n++] = (pt_tree_part){.lo = lo, .level = h, .first = first, .end = end, .z = NULL};
        j = end;
    }
    return n;
}

/* Node (lo, level) of rows [row0, row0 + n) into z, from the first part
 * found top-down; scratch holds one more (n, outp) block per level below.
 * The node holds at least one leaf; leaf 0 sits at position off. */
static void combine_node(int leaves, int off, int lo, int level, const pt_tree_part *parts, int n_parts,
                         size_t row0, int n, int outp, float *z, float *scratch)
{
    const size_t count = (size_t)n * (size_t)outp;
    for (int p = 0; p < n_parts; p++)
        if (parts[p].lo == lo && parts[p].level == level) {
            memcpy(z, parts[p].z + row0 * (size_t)outp, count * sizeof(float));
            return;
        }
    if (level == 0) { /* no part holds this leaf: a caller's bug, made loud */
        for (size_t j = 0; j < count; j++)
            z[j] = NAN;
        return;
    }
    const int mid = lo + (1 << (level - 1));
    int lf, le, rf, re;
    node_leaves(leaves, off, lo, level - 1, &lf, &le);
    node_leaves(leaves, off, mid, level - 1, &rf, &re);
    if (lf >= le) { /* only the right child holds leaves */
        combine_node(leaves, off, mid, level - 1, parts, n_parts, row0, n, outp, z, scratch);
        return;
    }
    combine_node(leaves, off, lo, level - 1, parts, n_parts, row0, n, outp, z, scratch);
    if (rf >= re) /* only the left */
        return;
    combine_node(leaves, off, mid, level - 1, parts, n_parts, row0, n, outp, scratch, scratch + count);
    for (size_t j = 0; j < count; j += PT_LANES)
        store(z + j, vadd(load(z + j), load(scratch + j)));
}

void pt_tree_combine(int in, const pt_tree_part *parts, int n_parts, size_t row0, int n, int outp,
                     const float *b, float *z, float *scratch)
{
    const int leaves = pt_leaf_count(in);
    combine_node(leaves, pt_tree_offset(leaves), 0, pt_tree_levels(leaves), parts, n_parts, row0, n, outp, z,
                 scratch);
    for (int i = 0; i < n; i++)
        for (int o = 0; o < outp; o += PT_LANES) {
            float *zi = z + (size_t)i * (size_t)outp + o;
            store(zi, vadd(load(zi), load(b + o)));
        }
}

/* Inputs per register block of the weight gradient; the tail of a layer
 * (fewer than BWD_COLS inputs left, at most 7) is one block too. */
enum { BWD_COLS = VEC_ROWS, BWD_MAX = 8 };

/* Rows k .. k+cols-1 of the gradient for output lanes o .. o+15: one chain
 * per row over the samples in order. Inlined with a constant cols, so the
 * chains stay in registers and run side by side. */
static inline __attribute__((always_inline)) void bwd_block(int n, int lda, int outp, const float *a,
                                                            const float *dz, float *dwt, int k, int o,
                                                            int accumulate, const int cols)
{
    v16 acc[BWD_MAX];
    for (int c = 0; c < cols; c++)
        acc[c] = accumulate ? load(dwt + (size_t)(k + c) * (size_t)outp + o) : splat(0.0f);
    for (int i = 0; i < n; i++) {
        v16 d = load(dz + (size_t)i * (size_t)outp + o);
        const float *ai = a + (size_t)i * (size_t)lda + k;
#pragma GCC unroll 8
        for (int c = 0; c < cols; c++)
            acc[c] = vfma(acc[c], ai[c], d);
    }
    for (int c = 0; c < cols; c++)
        store(dwt + (size_t)(k + c) * (size_t)outp + o, acc[c]);
}

void pt_dense_backward_w(int n, int in, int lda, int outp, const float *a, const float *dz, float *dwt,
                         int accumulate)
{
    for (int o = 0; o < outp; o += PT_LANES) {
        int k = 0;
        for (; k + BWD_COLS <= in; k += BWD_COLS)
            bwd_block(n, lda, outp, a, dz, dwt, k, o, accumulate, BWD_COLS);
        /* The last rows as one block too (a layer of 15 inputs has 7): one
         * row at a time would wait on every FMA. */
        switch (in - k) {
        case 7: bwd_block(n, lda, outp, a, dz, dwt, k, o, accumulate, 7); break;
        case 6: bwd_block(n, lda, outp, a, dz, dwt, k, o, accumulate, 6); break;
        case 5: bwd_block(n, lda, outp, a, dz, dwt, k, o, accumulate, 5); break;
        case 4: bwd_block(n, lda, outp, a, dz, dwt, k, o, accumulate, 4); break;
        case 3: bwd_block(n, lda, outp, a, dz, dwt, k, o, accumulate, 3); break;
        case 2: bwd_block(n, lda, outp, a, dz, dwt, k, o, accumulate, 2); break;
        case 1: bwd_block(n, lda, outp, a, dz, dwt, k, o, accumulate, 1); break;
        default: break;
        }
    }
}

void pt_dense_backward_b(int n, int outp, const float *dz, float *db)
{
    for (int o = 0; o < outp; o += PT_LANES) {
        v16 sum = splat(0.0f);
        for (int i = 0; i < n; i++)
            sum = vadd(sum, load(dz + (size_t)i * (size_t)outp + o));
        store(db + o, sum);
    }
}

void pt_transpose_weights(int in, int out, int outp, int ldw, const float *wt, int k0, int k1, float *w)
{
    for (int o = 0; o < out; o++)
        for (int k = k0; k < k1; k++)
            w[(size_t)o * (size_t)ldw + (size_t)k] = wt[(size_t)k * (size_t)outp + (size_t)o];
    if (k1 == in) /* the last range also owns the padding columns */
        for (int o = 0; o < out; o++)
            for (int k = in; k < ldw; k++)
                w[(size_t)o * (size_t)ldw + (size_t)k] = 0.0f;
}

/* da = dz . W is a forward pass without bias: dz's outputs are its inputs
 * and W's rows (out, ldda) its transposed weights. One kernel, the same
 * blocks of rows, the same chain per row. */
void pt_dense_backward_x(int n, int out, int outp, int ldda, const float *dz, const float *w, float *da)
{
    pt_dense_forward(n, out, outp, ldda, dz, w, NULL, da);
}

float pt_expf(float x)
{
    /* exp(x) = 2^m * exp(r), m = round(x / ln2), |r| <= ln2/2. Adding
     * 1.5 * 2^23 rounds x / ln2 to an integer held in the low mantissa bits,
     * which gives both m and the exponent bits of 2^m without a float-to-int
     * conversion (that conversion stops GCC from vectorising the callers).
     * ln2 is split in two parts (Cody-Waite) so r is exact; a degree-6 Taylor
     * polynomial gives exp(r). Measured max error 4 ulp on [-87, 88]. */
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float t = x * 1.44269504088896341f + 12582912.0f;
    float m = t - 12582912.0f;
    /* Unsigned bit arithmetic: a NaN argument gives garbage bits (and a NaN
     * result through p), never undefined behaviour. */
    uint32_t t_bits;
    memcpy(&t_bits, &t, sizeof t_bits);
    float r = x - m * 0.693359375f;
    r = r - m * -2.12194440e-4f;
    float p = 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    uint32_t scale_bits = (t_bits - 0x4B400000u + 127u) << 23; /* 0x4B400000 = bits of 1.5 * 2^23 */
    float scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    return p * scale;
}

static void sigmoid_forward(size_t count, const float *z, float *a)
{
#pragma omp simd
    for (size_t i = 0; i < count; i++)
        a[i] = 1.0f / (1.0f + pt_expf(-z[i]));
}

static void sigmoid_backward(size_t count, const float *z, const float *a, const float *da, float *dz)
{
    (void)z;
#pragma omp simd
    for (size_t i = 0; i < count; i++)
        dz[i] = da[i] * a[i] * (1.0f - a[i]);
}

static void tanh_forward(size_t count, const float *z, float *a)
{
#pragma omp simd
    for (size_t i = 0; i < count; i++) {
        /* tanh|x| = (1 - e)/(1 + e), e = exp(-2|x|); near 0 that difference
         * cancels, so small |x| uses the odd Taylor series instead. */
        float x = z[i], ax = fabsf(x);
        float e = pt_expf(-2.0f * ax);
        float big = (1.0f - e) / (1.0f + e);
        float x2 = ax * ax;
        float small = ax * (1.0f + x2 * (-1.0f / 3 + x2 * (2.0f / 15 + x2 * (-17.0f / 315))));
        float t = ax < 0.125f ? small : big;
        a[i] = copysignf(t, x);
    }
}

static void tanh_backward(size_t count, const float *z, const float *a, const float *da, float *dz)
{
    (void)z;
#pragma omp simd
    for (size_t i = 0; i < count; i++)
        dz[i] = da[i] * (1.0f - a[i] * a[i]);
}

static void relu_forward(size_t count, const float *z, float *a)
{
#pragma omp simd
    for (size_t i = 0; i < count; i++)
        a[i] = z[i] > 0.0f ? z[i] : 0.0f;
}

static void relu_backward(size_t count, const float *z, const float *a, const float *da, float *dz)
{
    (void)a;
#pragma omp simd
    for (size_t i = 0; i < count; i++)
        dz[i] = z[i] > 0.0f ? da[i] : 0.0f;
}

const pt_activation pt_activations[PT_ACT_COUNT] = {
    [PT_ACT_SIGMOID] = {PT_ACT_SIGMOID, sigmoid_forward, sigmoid_backward},
    [PT_ACT_TANH] = {PT_ACT_TANH, tanh_forward, tanh_backward},
    [PT_ACT_RELU] = {PT_ACT_RELU, relu_forward, relu_backward},
};

/* Outputs [c, c + PT_LANES) of cnt <= PT_LANES samples, transposed: zt[o][i]
 * is output c + o of sample i, so one vector holds an output of every
 * sample. Lanes past cnt repeat sample 0; their results are never stored. */
static void load_outputs_t(const float *z, int outp, int cnt, int c, float zt[PT_LANES][PT_LANES])
{
    for (int i = 0; i < PT_LANES; i++) {
        const float *row = z + (size_t)(i < cnt ? i : 0) * (size_t)outp + c;
        for (int o = 0; o < PT_LANES; o++)
            zt[o][i] = row[o];
    }
}

/* Softmax cross-entropy of cnt <= PT_LANES samples, vectorised over the
 * samples (a sample's k logits are too few for a vector of their own). The
 * exps are computed twice, for the sum and for dz, rather than kept: k is not
 * bounded. The sums run over the outputs in order, as a scalar loop would. */
static void softmax_block(int cnt, int k, int outp, const float *z, const uint8_t *labels, float *dz,
                          double *loss_sum, long *correct, uint8_t *pred)
{
    float zt[PT_LANES][PT_LANES], top[PT_LANES], sum[PT_LANES];
    int best[PT_LANES], label[PT_LANES];
    for (int i = 0; i < PT_LANES; i++)
        label[i] = labels[i < cnt ? i : 0];
    /* The first largest logit of each sample: the prediction, and the shift
     * that keeps every exp at most 1 (log-sum-exp, stable for any logit
     * range). One chunk of outputs (k <= PT_LANES, the usual case) is loaded
     * once for all three passes. */
    const int reload = outp > PT_LANES;
    load_outputs_t(z, outp, cnt, 0, zt);
    for (int i = 0; i < PT_LANES; i++) {
        top[i] = zt[0][i];
        best[i] = 0;
    }
    for (int c = 0; c < k; c += PT_LANES) {
        if (c > 0)
            load_outputs_t(z, outp, cnt, c, zt);
        for (int o = c == 0; o < PT_LANES && c + o < k; o++) {
#pragma omp simd
            for (int i = 0; i < PT_LANES; i++) {
                const int above = zt[o][i] > top[i];
                best[i] = above ? c + o : best[i];
                top[i] = above ? zt[o][i] : top[i];
            }
        }
    }
    for (int i = 0; i < PT_LANES; i++)
        sum[i] = 0.0f;
    for (int c = 0; c < k; c += PT_LANES) {
        if (reload)
            load_outputs_t(z, outp, cnt, c, zt);
        for (int o = 0; o < PT_LANES && c + o < k; o++) {
#pragma omp simd
            for (int i = 0; i < PT_LANES; i++)
                sum[i] += pt_expf(zt[o][i] - top[i]);
        }
    }
    /* loss_i = ln(sum_i) + top_i - z_i[label_i]. One log of the product of
     * the sums, in double: each sum lies in [1, k], so PT_LANES of them
     * cannot overflow, and the product loses less than the logs' rounding. */
    double prod = 1.0, shift = 0.0;
    long right = 0;
    for (int i = 0; i < cnt; i++) {
        prod *= (double)sum[i];
        shift += (double)top[i] - (double)z[(size_t)i * (size_t)outp + (size_t)label[i]];
        right += best[i] == label[i];
        if (pred)
            pred[i] = (uint8_t)best[i];
    }
    *loss_sum += log(prod) + shift;
    *correct += right;
    if (!dz)
        return;
    for (int c = 0; c < outp; c += PT_LANES) {
        if (reload)
            load_outputs_t(z, outp, cnt, c, zt);
        for (int o = 0; o < PT_LANES; o++) {
#pragma omp simd
            for (int i = 0; i < PT_LANES; i++)
                zt[o][i] = c + o < k ? pt_expf(zt[o][i] - top[i]) / sum[i] - (c + o == label[i] ? 1.0f : 0.0f)
                                     : 0.0f;
        }
        for (int i = 0; i < cnt; i++)
            for (int o = 0; o < PT_LANES; o++)
                dz[(size_t)i * (size_t)outp + (size_t)(c + o)] = zt[o][i];
    }
}

void pt_output_loss(pt_out_kind kind, int n, int k, int outp, const float *z, const uint8_t *labels,
                    float *dz, double *loss_sum, long *correct, uint8_t *pred)
{
    if (kind == PT_OUT_SOFTMAX) {
        for (int i = 0; i < n; i += PT_LANES)
            softmax_block(n - i < PT_LANES ? n - i : PT_LANES, k, outp, z + (size_t)i * (size_t)outp,
                          labels + i, dz ? dz + (size_t)i * (size_t)outp : NULL, loss_sum, correct,
                          pred ? pred + i : NULL);
        return;
    }
    double loss = 0.0;
    long right = 0;
    for (int i = 0; i < n; i++) {
        const float *zi = z + (size_t)i * (size_t)outp;
        int y = labels[i], best = 0;
        for (int o = 1; o < k; o++)
            if (zi[o] > zi[best])
                best = o;
        right += best == y;
        if (pred)
            pred[i] = (uint8_t)best;
        float *dzi = dz ? dz + (size_t)i * (size_t)outp : NULL;
        for (int o = 0; o < k; o++) {
            /* BCE with logits: max(z,0) - z*t + log(1 + exp(-|z|)), stable both ways. */
            float t = o == y ? 1.0f : 0.0f, zo = zi[o];
            loss += (double)((zo > 0.0f ? zo : 0.0f) - zo * t + log1pf(pt_expf(-fabsf(zo))));
            if (dzi)
                dzi[o] = 1.0f / (1.0f + pt_expf(-zo)) - t;
        }
        if (dzi)
            for (int o = k; o < outp; o++)
                dzi[o] = 0.0f;
    }
    *loss_sum += loss;
    *correct += right;
}
