/* train.c: the training step, top to bottom. A mini-batch of B samples goes
 *   1. per worker (a contiguous range of first-layer inputs, its "leaves"):
 *        uint8 columns of the B rows -> float tile (pt_gather_u8_cols)
 *        -> partial pre-activations of the first layer over those inputs,
 *           as whole nodes of the fixed summation tree (pt_kernels.h)
 *   -> barrier ->
 *   2. per shard (threads take whole shards of samples):
 *        tree nodes of its rows -> first-layer z -> forward through the rest
 *        -> output loss and dLoss/dz -> backward: the deltas dZ of every
 *           layer, no weight gradients
 *   -> barrier ->
 *   3. per worker (the same first-layer rows, and a share of the rest):
 *        gradient = sum over all B samples, in sample order, of input x delta
 *        -> / B -> optimiser update of the same range
 *        -> step 1 of the next batch, at once: it reads only this worker's
 *           own rows, so no barrier is needed between.
 * The first layer's weights never leave the core that owns them: the
 * forward pass sends partial sums between cores (B x 16 floats per node)
 * instead of the weights (in x 16 floats), and that is what lets two cores
 * scale. pt_train.h explains why the result does not depend on the thread
 * count. Nothing here parses, prints or writes files. */
#include "pt_train.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "pt_barrier.h"
#include "pt_kernels.h"

/* Samples per evaluation chunk: a fixed split, so evaluation sums too are
 * independent of the thread count. */
enum { EVAL_ROWS = 64 };
/* Weight rows per update unit: a first-layer unit is one leaf of the
 * summation tree, so a worker's units are also its leaves. A worker's share
 * of the update is a contiguous run of units, and each unit starts on a
 * cache line of the gradient (rows are outp floats, a multiple of 16). */
enum { UNIT_ROWS = PT_LEAF_ROWS };
/* Samples per tile of converted first-layer inputs: a worker converts its
 * columns of TILE_ROWS samples at a time, and keeps them from step 1 to
 * step 3 when the batch fits in one tile. */
enum { TILE_ROWS = 64 };

/* Activations and deltas of a set of samples, one row per sample. The
 * trainer keeps one set for the whole batch (shards write their rows, the
 * gradients read every row), without x; each thread keeps one with x for
 * evaluation and a scratch for combining tree nodes. */
typedef struct pt_work {
    int rows;
    float *x;                      /* (rows, dim) converted inputs; NULL in the batch set */
    const uint8_t **src;           /* (rows) the data set row of each sample; NULL in the batch set */
    uint8_t *y;                    /* (rows) labels */
    float *z[PT_MAX_LAYERS];       /* (rows, outp) pre-activations per layer */
    float *a[PT_MAX_LAYERS];       /* (rows, outp) activations (hidden layers) */
    float *dz[PT_MAX_LAYERS];      /* (rows, outp) dLoss/dz per layer */
    float *scratch;                /* (levels, rows, outp) for pt_tree_combine */
} pt_work;

/* A range of one layer's parameters that one worker updates: weight rows
 * [k0, k1), or the biases when k0 < 0. */
typedef struct pt_unit {
    int layer, k0, k1;
} pt_unit;

/* One worker's share of the parameters, fixed when the trainer is made;
 * the OpenMP team runs the workers (one each when the team is complete). */
typedef struct pt_worker {
    int first, end;                /* its units */
    size_t lo[2], hi[2];           /* their flat parameter ranges, [lo, hi) */
    int n_ranges;                  /* 0..2: units are ordered so that no worker needs more */
    int lp, rp;                    /* its first-layer leaves */
    pt_tree_part parts[2 * PT_TREE_MAX_LEVELS];
    int n_parts;                   /* the tree nodes covering [lp, rp) */
    float *nodes;                  /* (n_parts, batch, outp) their values for the batch */
    float *tile;                   /* (TILE_ROWS, its columns) converted inputs */
    const uint8_t **src;           /* (batch) data set rows of the batch it works on */
    int tile_rows;                 /* rows of the current batch still in tile (0 if none) */
} pt_worker;

/* A shard's loss and correct count, on a cache line of its own: shards of
 * different threads write theirs at the same time. */
typedef struct pt_shard_result {
    double loss;
    long correct;
    char pad[64 - sizeof(double) - sizeof(long)];
} pt_shard_result;

/* Per-thread time in each part of the step, in ticks of step_ticks, each
 * thread's on a cache line of its own. */
typedef struct pt_clock {
    uint64_t partials, shards, grads, update, wait;
    char pad[64 - 5 * sizeof(uint64_t)];
} pt_clock;

/* The step reads the clock six times per thread. The time stamp counter
 * takes 10 ns to read on the Zen 4 VM, omp_get_wtime 31 ns: 0.13 us saved
 * on a 26 us step. Ticks become seconds by the ratio of the two over the
 * whole pass (the counter runs at a constant rate: constant_tsc). */
static inline uint64_t step_ticks(void)
{
#if defined(__x86_64__) || defined(__i386__)
    return __rdtsc();
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

struct pt_trainer {
    pt_model *model;
    pt_optim *optim;
    const pt_dataset *data;
    pt_input_map map;
    int batch, shard, max_shards, n_threads;
    pt_placement *placement;
    pt_work *rows;                 /* (batch) activations and deltas of the current batch */
    float *grad;                   /* (n_params) averaged gradient, each range written by its updater */
    float *wback[PT_MAX_LAYERS];   /* (out, in padded) weights of layers >= 1 as pt_dense_backward_x reads them */
    pt_unit *units;                /* in parameter order: layer 0 rows, layer 0 biases, layer 1 rows, ... */
    int n_units;
    pt_worker *workers;            /* (n_threads) */
    pt_tree_part *parts;           /* every worker's nodes: together, the whole first-layer tree */
    int n_parts;
    pt_shard_result *result;       /* (max_shards) */
    pt_work **own;                 /* (n_threads) per-thread buffers: evaluation, combining */
    pt_clock *clock;               /* (n_threads) */
    pt_barrier *barrier;           /* between the parts of a step (pt_barrier.h) */
    int n_pus;                     /* processing units the process may use */
    long step;                     /* updates applied */
    long chunk_cap;
    double *chunk_loss;            /* (chunk_cap) evaluation partial sums */
    long *chunk_correct;
    pt_progress_fn progress;
    void *progress_ctx;
    char warning[sizeof(((pt_err *)0)->msg)];
};

static void work_free(pt_work *w)
{
    if (!w)
        return;
    pt_free(w->x);
    free(w->src);
    pt_free(w->y);
    pt_free(w->scratch);
    for (int l = 0; l < PT_MAX_LAYERS; l++) {
        pt_free(w->z[l]);
        pt_free(w->a[l]);
        pt_free(w->dz[l]);
    }
    free(w);
}

/* The tree's levels for the first layer of m. */
static int tree_levels(const pt_model *m)
{
    return pt_tree_levels(pt_leaf_count(m->layer[0].in));
}

/* dim == 0: the batch set (no inputs, row pointers or scratch: the workers hold those). */
static pt_work *work_create(const pt_model *m, int dim, int rows)
{
    pt_work *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->rows = rows;
    int ok = 1;
    if (dim > 0) {
        size_t levels = (size_t)tree_levels(m) + 1;
        ok &= (w->x = pt_alloc((size_t)rows * (size_t)dim * sizeof(float))) != NULL;
        ok &= (w->scratch = pt_alloc(levels * (size_t)rows * (size_t)m->layer[0].outp *
                                     sizeof(float))) != NULL;
        ok &= (w->src = malloc((size_t)rows * sizeof *w->src)) != NULL;
    }
    ok &= (w->y = pt_alloc((size_t)rows)) != NULL;
    for (int l = 0; l < m->n_layers; l++) {
        size_t bytes = (size_t)rows * (size_t)m->layer[l].outp * sizeof(float);
        ok &= (w->z[l] = pt_alloc(bytes)) != NULL;
        ok &= (w->a[l] = pt_alloc(bytes)) != NULL;
        ok &= (w->dz[l] = pt_alloc(bytes)) != NULL;
    }
    if (!ok) {
        work_free(w);
        return NULL;
    }
    return w;
}

/* Rows [lo, lo + n) of w, as a set of their own. */
static pt_work work_view(const pt_model *m, const pt_work *w, int lo, int n)
{
    pt_work v = {.rows = n, .y = w->y + lo};
    for (int l = 0; l < m->n_layers; l++) {
        size_t off = (size_t)lo * (size_t)m->layer[l].outp;
        v.z[l] = w->z[l] + off;
        v.a[l] = w->a[l] + off;
        v.dz[l] = w->dz[l] + off;
    }
    return v;
}

/* ---- forward, loss, deltas ----------------------------------------------- */

/* The forward pass from the first layer's pre-activations in w->z[0] on. */
static void forward_rest(const pt_model *m, int n, pt_work *w)
{
    for (int l = 0; l + 1 < m->n_layers; l++) {
        const pt_layer *L = &m->layer[l], *N = &m->layer[l + 1];
        pt_activations[m->act].forward((size_t)n * (size_t)L->outp, w->z[l], w->a[l]);
        pt_dense_forward(n, N->in, L->outp, N->outp, w->a[l], m->params + N->off_w,
                         m->params + N->off_b, w->z[l + 1]);
    }
}

/* The whole forward pass of samples idx[0..n) in one thread: inputs
 * converted into w->x, the first layer summed by the full tree. */
static void forward_all(const pt_model *m, const pt_dataset *d, const pt_input_map *map,
                        const int *idx, int n, pt_work *w)
{
    const pt_layer *L = &m->layer[0];
    pt_gather_u8(n, d->dim, d->x, idx, map->scale, map->shift, w->x);
    for (int i = 0; i < n; i++) {
        w->src[i] = d->x + (size_t)idx[i] * (size_t)d->dim;
        w->y[i] = d->y[idx[i]];
    }
    pt_dense_forward_tree(n, L->in, 0, tree_levels(m), d->dim, L->outp, w->x, m->params + L->off_w,
                          m->params + L->off_b, w->z[0]);
    forward_rest(m, n, w);
}

/* Loss of the forward pass in w and dLoss/dz of every layer, into w->dz.
 * wback[l] holds layer l's weights in pt_dense_backward_x's layout (l >= 1). */
static double shard_deltas(const pt_model *m, float *const *wback, int n, pt_work *w, long *correct)
{
    int last = m->n_layers - 1;
    double loss = 0.0;
    pt_output_loss(m->out, n, m->layer[last].out, m->layer[last].outp, w->z[last], w->y,
                   w->dz[last], &loss, correct, NULL);
    for (int l = last; l > 0; l--) {
        const pt_layer *L = &m->layer[l], *P = &m->layer[l - 1];
        /* dA of the layer below, then dZ = dA * g'(Z) in place. */
        pt_dense_backward_x(n, L->out, L->outp, P->outp, w->dz[l], wback[l], w->dz[l - 1]);
        pt_activations[m->act].backward((size_t)n * (size_t)P->outp, w->z[l - 1], w->a[l - 1],
                                        w->dz[l - 1], w->dz[l - 1]);
    }
    return loss;
}

/* ---- gradients ----------------------------------------------------------- */

/* A first-layer weight unit: its rows are inputs of the data, and one
 * leaf of the summation tree. */
static int is_leaf(const pt_unit *u)
{
    return u->layer == 0 && u->k0 >= 0;
}

/* The data a worker converts in step 1 of the next batch: columns
 * [k0, k0 + cols) of rows idx[0..n) of x (n = 0: none). */
typedef struct pt_next_rows {
    const uint8_t *x;
    const int *idx;
    int n, dim, k0, cols;
} pt_next_rows;

/* The gradient of units[first..end), summed over the n samples of w and
 * written to grad at their places in the flat parameter layout. Its run of
 * first-layer weight rows (the leaves, last in the unit order) reads its
 * inputs from the uint8 rows src, which it converts TILE_ROWS samples at a
 * time and only in the columns it owns, into tile (TILE_ROWS x its columns,
 * private to the worker), unless tile_rows == n says the tile already holds
 * them all. The tiles continue each sum (accumulate), so the bits are those
 * of one pass.
 *
 * Meanwhile it asks for the next batch's rows (next), a leaf's share of
 * them before each leaf. Asked for all at once, 64 rows x 7 lines overflow
 * the core's queue of misses and many are dropped: step 1 then met them in
 * memory, 2.0 us of conversion a step per worker at two threads where a
 * spread request leaves 1.4 (3.3 -> 2.8 us on one thread). */
static void units_gradient(const pt_model *m, const pt_input_map *map, const pt_work *w, int n,
                           const uint8_t *const *src, const pt_unit *units, int first, int end,
                           float *tile, int tile_rows, const pt_next_rows *next, float *grad)
{
    int leaf0 = first;
    while (leaf0 < end && !is_leaf(&units[leaf0]))
        leaf0++;
    for (int i = first; i < leaf0; i++) {
        const pt_unit *u = &units[i];
        const pt_layer *L = &m->layer[u->layer];
        if (u->k0 < 0)
            pt_dense_backward_b(n, L->outp, w->dz[u->layer], grad + L->off_b);
        else /* layers >= 1: their inputs, the activations below, are small */
            pt_dense_backward_w(n, u->k1 - u->k0, m->layer[u->layer - 1].outp, L->outp,
                                w->a[u->layer - 1] + u->k0, w->dz[u->layer],
                                grad + L->off_w + (size_t)u->k0 * (size_t)L->outp, 0);
    }
    if (leaf0 < end) {
        const pt_layer *L = &m->layer[0];
        const int kb = units[leaf0].k0, cols = units[end - 1].k1 - kb;
        for (int i0 = 0; i0 < n; i0 += TILE_ROWS) {
            const int cnt = n - i0 < TILE_ROWS ? n - i0 : TILE_ROWS;
            if (tile_rows != n)
                pt_gather_u8_cols(cnt, src + i0, kb, cols, map->scale, map->shift, tile);
            for (int i = leaf0; i < end; i++) {
                if (i0 == 0 && next->n > 0) {
                    const int r0 = (int)((long)(i - leaf0) * next->n / (end - leaf0));
                    const int r1 = (int)((long)(i + 1 - leaf0) * next->n / (end - leaf0));
                    pt_prefetch_u8_cols(r1 - r0, next->x, next->idx + r0, next->dim, next->k0, next->cols);
                }
                pt_dense_backward_w(cnt, units[i].k1 - units[i].k0, cols, L->outp,
                                    tile + (units[i].k0 - kb), w->dz[0] + (size_t)i0 * (size_t)L->outp,
                                    grad + L->off_w + (size_t)units[i].k0 * (size_t)L->outp, i0 > 0);
            }
        }
    }
}

/* Flat-buffer range [lo, hi) of the parameters of unit u. */
static void unit_range(const pt_model *m, const pt_unit *u, size_t *lo, size_t *hi)
{
    const pt_layer *L = &m->layer[u->layer];
    if (u->k0 < 0) {
        *lo = L->off_b;
        *hi = L->off_b + (size_t)L->outp;
    } else {
        *lo = L->off_w + (size_t)u->k0 * (size_t)L->outp;
        *hi = L->off_w + (size_t)u->k1 * (size_t)L->outp;
    }
}

/* The update units of a model: every layer's weight rows in runs of
 * UNIT_ROWS, and its biases. The order is the order of worker shares: the
 * first layer's biases and all later layers first (together one flat range,
 * the end of the parameters), then the first layer's rows (the start). A
 * worker's contiguous run of units is then at most two flat ranges, and its
 * leaves are contiguous. */
static int make_units(const pt_model *m, pt_unit **out)
{
    int n = 0;
    for (int l = 0; l < m->n_layers; l++)
        n += (m->layer[l].in + UNIT_ROWS - 1) / UNIT_ROWS + 1;
    pt_unit *u = malloc((size_t)n * sizeof *u);
    if (!u)
        return -1;
    int i = 0;
    u[i++] = (pt_unit){0, -1, -1};
    for (int l = 1; l < m->n_layers; l++) {
        const int in = m->layer[l].in;
        for (int k = 0; k < in; k += UNIT_ROWS)
            u[i++] = (pt_unit){l, k, k + UNIT_ROWS < in ? k + UNIT_ROWS : in};
        u[i++] = (pt_unit){l, -1, -1};
    }
    for (int k = 0, in = m->layer[0].in; k < in; k += UNIT_ROWS)
        u[i++] = (pt_unit){0, k, k + UNIT_ROWS < in ? k + UNIT_ROWS : in};
    *out = u;
    return n;
}

/* The work of unit u per sample, in multiply-adds: rows (one for biases)
 * x outp per pass. A leaf makes two passes: its worker also sums it forward
 * (step 1). Every other unit makes one and is charged a second for its
 * update: its parameters are read by every shard, so the update writes
 * cache lines other cores hold (10-20 ns a line on the 2-core VM, as much
 * as the unit's arithmetic). */
static double unit_cost(const pt_model *m, const pt_unit *u)
{
    return 2.0 * (u->k0 < 0 ? 1 : u->k1 - u->k0) * m->layer[u->layer].outp;
}

/* What a tree node costs its worker per sample, in the same measure: B rows
 * of outp floats written, and then read by the shards of other cores.
 * Measured on the 2-core VM at about half a leaf, one pass of a leaf. */
static double node_cost(const pt_model *m)
{
    return (double)PT_LEAF_ROWS * m->layer[0].outp;
}

/* The cost of units [a, b) as one worker's share: their work, and the
 * tree nodes that cover its leaves (units from `leaf0` on are leaves
 * 0, 1, ...). pre[i] is the work of units [0, i). */
static double share_cost(const pt_model *m, const double *pre, int leaf0, int a, int b)
{
    double cost = pre[b] - pre[a];
    const int lp = a > leaf0 ? a - leaf0 : 0, rp = b > leaf0 ? b - leaf0 : 0;
    if (lp < rp) {
        pt_tree_part parts[2 * PT_TREE_MAX_LEVELS];
        cost += node_cost(m) * pt_tree_cover(pt_leaf_count(m->layer[0].in), lp, rp, parts);
    }
    return cost;
}

/* Split the units among n workers, contiguous runs in unit order, so that
 * the largest share costs least (dynamic programming over the boundaries,
 * O(n x units^2)): worker k gets units [bound[k], bound[k + 1]). Counting
 * the nodes is what moves a boundary to where the tree has few nodes: for
 * 784 inputs at 2 workers, leaves 0-23 with the small layers against leaves
 * 24-48, the root's two children, one node each. Only who computes changes
 * with the thread count, never how. Returns -1 when out of memory. */
static int plan_shares(const pt_model *m, const pt_unit *units, int n_units, int n, int *bound)
{
    const size_t cols = (size_t)n_units + 1;
    double *pre = malloc(cols * sizeof *pre), *best = malloc((size_t)n * cols * sizeof *best);
    int *from = malloc((size_t)n * cols * sizeof *from);
    if (!pre || !best || !from) {
        free(pre);
        free(best);
        free(from);
        return -1;
    }
    int leaf0 = 0;
    while (leaf0 < n_units && !is_leaf(&units[leaf0]))
        leaf0++;
    pre[0] = 0.0;
    for (int i = 0; i < n_units; i++)
        pre[i + 1] = pre[i] + unit_cost(m, &units[i]);
    /* best[k][b]: the least largest share when workers 0..k take units [0, b). */
    for (int b = 0; b <= n_units; b++) {
        best[b] = share_cost(m, pre, leaf0, 0, b);
        from[b] = 0;
    }
    for (int k = 1; k < n; k++)
        for (int b = 0; b <= n_units; b++) {
            double *row = best + (size_t)k * cols;
            row[b] = INFINITY;
            for (int a = b; a >= 0; a--) {
                double c = fmax(best[(size_t)(k - 1) * cols + (size_t)a], share_cost(m, pre, leaf0, a, b));
                if (c < row[b]) {
                    row[b] = c;
                    from[(size_t)k * cols + (size_t)b] = a;
                }
            }
        }
    bound[n] = n_units;
    for (int k = n - 1; k >= 0; k--)
        bound[k] = k > 0 ? from[(size_t)k * cols + (size_t)bound[k + 1]] : 0;
    free(pre);
    free(best);
    free(from);
    return 0;
}

/* The weight rows of units[first..end) in layers >= 1 copied into wback,
 * the layout pt_dense_backward_x reads. */
static void refresh_wback(const pt_model *m, float *const *wback, const pt_unit *units, int first,
                          int end)
{
    for (int i = first; i < end; i++) {
        const int l = units[i].layer;
        if (l == 0 || units[i].k0 < 0)
            continue;
        const pt_layer *L = &m->layer[l];
        pt_transpose_weights(L->in, L->out, L->outp, m->layer[l - 1].outp, m->params + L->off_w,
                             units[i].k0, units[i].k1, wback[l]);
    }
}

static int wback_alloc(const pt_model *m, float **wback)
{
    for (int l = 1; l < m->n_layers; l++)
        if (!(wback[l] = pt_alloc((size_t)m->layer[l].out * (size_t)m->layer[l - 1].outp *
                                  sizeof(float))))
            return -1;
    return 0;
}

static void wback_free(float **wback)
{
    for (int l = 0; l < PT_MAX_LAYERS; l++) {
        pt_free(wback[l]);
        wback[l] = NULL;
    }
}

double pt_shard_gradient(const pt_model *model, const pt_dataset *data, const pt_input_map *map,
                         const int *idx, int n, float *grad)
{
    pt_work *w = work_create(model, data->dim, n);
    float *wback[PT_MAX_LAYERS] = {0};
    pt_unit *units = NULL;
    int n_units = make_units(model, &units);
    double loss = NAN;
    float *tile = pt_alloc((size_t)TILE_ROWS * (size_t)data->dim * sizeof(float));
    if (w && tile && n_units > 0 && wback_alloc(model, wback) == 0) {
        refresh_wback(model, wback, units, 0, n_units);
        long correct = 0;
        forward_all(model, data, map, idx, n, w);
        loss = shard_deltas(model, wback, n, w, &correct);
        const pt_next_rows none = {0};
        units_gradient(model, map, w, n, w->src, units, 0, n_units, tile, 0, &none, grad);
    }
    pt_free(tile);
    free(units);
    wback_free(wback);
    work_free(w);
    return loss;
}

/* ---- the trainer -------------------------------------------------------- */

static void bind_thread(pt_trainer *t, int tid)
{
    pt_err err;
    if (t->placement && pt_placement_bind_self(t->placement, tid, &err) != 0) {
#pragma omp critical(pt_trainer_warning)
        if (!t->warning[0])
            snprintf(t->warning, sizeof t->warning, "%s", err.msg);
    }
}

/* A worker's share: units [first, end), their flat ranges (consecutive
 * units whose ranges meet merge into one), its leaves and the tree nodes
 * that cover them. Needs t->units. */
static void worker_plan(const pt_trainer *t, int first, int end, pt_worker *wk)
{
    const pt_model *m = t->model;
    wk->first = first;
    wk->end = end;
    wk->n_ranges = 0;
    int leaf0 = end;
    for (int i = first; i < end; i++) {
        size_t lo, hi;
        unit_range(m, &t->units[i], &lo, &hi);
        if (wk->n_ranges > 0 && wk->hi[wk->n_ranges - 1] == lo) {
            wk->hi[wk->n_ranges - 1] = hi;
        } else {
            wk->lo[wk->n_ranges] = lo;
            wk->hi[wk->n_ranges++] = hi;
        }
        if (is_leaf(&t->units[i]) && leaf0 == end)
            leaf0 = i;
    }
    wk->lp = wk->rp = 0;
    if (leaf0 < end) {
        wk->lp = t->units[leaf0].k0 / PT_LEAF_ROWS;
        wk->rp = (t->units[end - 1].k1 + PT_LEAF_ROWS - 1) / PT_LEAF_ROWS;
    }
    wk->n_parts = pt_tree_cover(pt_leaf_count(m->layer[0].in), wk->lp, wk->rp, wk->parts);
}

/* The first-layer inputs (columns of the data) of the worker's leaves. */
static int worker_cols(const pt_model *m, const pt_worker *wk)
{
    const int in = m->layer[0].in, end = wk->rp * PT_LEAF_ROWS < in ? wk->rp * PT_LEAF_ROWS : in;
    return wk->lp < wk->rp ? end - wk->lp * PT_LEAF_ROWS : 0;
}

/* Worker buffers, allocated (and first touched) by the thread that runs it. */
static int worker_alloc(pt_trainer *t, pt_worker *wk)
{
    const pt_layer *L = &t->model->layer[0];
    const int cols = worker_cols(t->model, wk);
    size_t node = (size_t)t->batch * (size_t)L->outp;
    wk->nodes = pt_alloc((size_t)wk->n_parts * node * sizeof(float));
    wk->tile = pt_alloc((size_t)TILE_ROWS * (size_t)(cols > 0 ? cols : 1) * sizeof(float));
    wk->src = calloc((size_t)t->batch, sizeof *wk->src);
    for (int p = 0; p < wk->n_parts && wk->nodes; p++)
        wk->parts[p].z = wk->nodes + (size_t)p * node;
    return wk->nodes && wk->tile && wk->src ? 0 : -1;
}

static void worker_free(pt_worker *wk)
{
    pt_free(wk->nodes);
    pt_free(wk->tile);
    free(wk->src);
}

/* Step 1 for worker wk: the tree nodes of its leaves for samples idx[0..n). */
static void worker_partials(const pt_trainer *t, pt_worker *wk, const int *idx, int n)
{
    const pt_model *m = t->model;
    const pt_layer *L = &m->layer[0];
    const pt_dataset *d = t->data;
    for (int i = 0; i < n; i++)
        wk->src[i] = d->x + (size_t)idx[i] * (size_t)d->dim;
    wk->tile_rows = 0;
    if (wk->lp == wk->rp)
        return;
    const int kb = wk->lp * PT_LEAF_ROWS, cols = worker_cols(m, wk);
    const size_t node = (size_t)t->batch * (size_t)L->outp; /* as worker_alloc laid them out */
    for (int i0 = 0; i0 < n; i0 += TILE_ROWS) {
        const int cnt = n - i0 < TILE_ROWS ? n - i0 : TILE_ROWS;
        pt_gather_u8_cols(cnt, wk->src + i0, kb, cols, t->map.scale, t->map.shift, wk->tile);
        for (int p = 0; p < wk->n_parts; p++) {
            const int k0 = wk->parts[p].first * PT_LEAF_ROWS;
            pt_dense_forward_tree(cnt, L->in, wk->parts[p].lo, wk->parts[p].level, cols, L->outp,
                                  wk->tile + (k0 - kb), m->params + L->off_w + (size_t)k0 * (size_t)L->outp,
                                  NULL, wk->nodes + (size_t)p * node + (size_t)i0 * (size_t)L->outp);
        }
    }
    wk->tile_rows = n <= TILE_ROWS ? n : 0;
}

/* Step 2 for one shard: rows [lo, lo + n) of the batch, samples idx[0..n). */
static double shard_step(const pt_trainer *t, int lo, int n, const int *idx, pt_work *own, long *right)
{
    const pt_model *m = t->model;
    const pt_layer *L = &m->layer[0];
    pt_work v = work_view(m, t->rows, lo, n);
    /* The nodes of other workers were just written on other cores: ask for
     * all their rows at once rather than meet each stream's first miss. */
    for (int p = 0; p < t->n_parts; p++)
        for (int i = 0; i < n * L->outp; i += PT_LANES)
            __builtin_prefetch(t->parts[p].z + (size_t)lo * (size_t)L->outp + i, 0, 3);
    for (int i = 0; i < n; i++)
        v.y[i] = t->data->y[idx[i]];
    pt_tree_combine(L->in, t->parts, t->n_parts, (size_t)lo, n, L->outp, m->params + L->off_b, v.z[0],
                    own->scratch);
    forward_rest(m, n, &v);
    return shard_deltas(m, t->wback, n, &v, right);
}

pt_trainer *pt_trainer_create(pt_model *model, pt_optim *optim, const pt_dataset *data,
                              const pt_input_map *map, int batch, int shard, int n_threads,
                              pt_placement *placement, pt_err *err)
{
    const pt_layer *last = &model->layer[model->n_layers - 1];
    if (model->layer[0].in != data->dim) {
        pt_fail(err, "model takes %d inputs but the data has %d features", model->layer[0].in,
                data->dim);
        return NULL;
    }
    if (last->out < data->n_classes) {
        pt_fail(err, "model has %d outputs but the labels go up to %d", last->out,
                data->n_classes - 1);
        return NULL;
    }
    if (batch < 1 || shard < 1 || n_threads < 1) {
        pt_fail(err, "batch, shard and threads must be >= 1 (got %d, %d, %d)", batch, shard,
                n_threads);
        return NULL;
    }
    if (tree_levels(model) > PT_TREE_MAX_LEVELS) {
        pt_fail(err, "%d inputs are more than the summation tree holds", model->layer[0].in);
        return NULL;
    }
    pt_trainer *t = calloc(1, sizeof *t);
    if (!t) {
        pt_fail(err, "out of memory");
        return NULL;
    }
    t->model = model;
    t->optim = optim;
    t->data = data;
    t->map = *map;
    t->batch = batch;
    t->shard = shard < batch ? shard : batch;
    t->max_shards = (batch + t->shard - 1) / t->shard;
    t->n_threads = n_threads;
    t->placement = placement;
    /* Counted now: inside a region a bound thread's own mask has one PU. */
    t->n_pus = placement ? pt_placement_n_pus(placement) : omp_get_num_procs();
    t->n_units = make_units(model, &t->units);
    t->rows = work_create(model, 0, batch);
    t->grad = pt_alloc(model->n_params * sizeof(float));
    t->workers = calloc((size_t)n_threads, sizeof *t->workers);
    t->parts = calloc((size_t)n_threads * 2 * PT_TREE_MAX_LEVELS, sizeof *t->parts);
    t->result = pt_alloc((size_t)t->max_shards * sizeof *t->result);
    t->own = calloc((size_t)n_threads, sizeof *t->own);
    t->clock = pt_alloc((size_t)n_threads * sizeof *t->clock);
    t->barrier = pt_barrier_create(n_threads);
    if (t->n_units < 0 || !t->rows || !t->grad || wback_alloc(model, t->wback) || !t->workers ||
        !t->parts || !t->result || !t->own || !t->clock || !t->barrier) {
        pt_trainer_free(t);
        pt_fail(err, "out of memory allocating the batch buffers (%d samples)", batch);
        return NULL;
    }
    int *bound = malloc(((size_t)n_threads + 1) * sizeof *bound);
    if (!bound || plan_shares(model, t->units, t->n_units, n_threads, bound)) {
        free(bound);
        pt_trainer_free(t);
        pt_fail(err, "out of memory planning the workers' shares");
        return NULL;
    }
    for (int k = 0; k < n_threads; k++)
        worker_plan(t, bound[k], bound[k + 1], &t->workers[k]);
    free(bound);
    /* First touch by the thread that will use each part under the schedules
     * of the step: batch rows by shard, worker buffers and gradient ranges
     * by the worker's thread. */
    int failed = 0;
#pragma omp parallel num_threads(n_threads) reduction(| : failed)
    {
        const int tid = omp_get_thread_num(), team = omp_get_num_threads();
        bind_thread(t, tid);
        /* A team smaller than asked (OMP_THREAD_LIMIT, OMP_DYNAMIC) still
         * runs every worker; its threads use only their own buffers. */
        for (int i = tid; i < n_threads; i += team)
            if (!(t->own[i] = work_create(model, data->dim, t->shard > EVAL_ROWS ? t->shard : EVAL_ROWS)))
                failed = 1;
#pragma omp for schedule(static)
        for (int k = 0; k < t->max_shards; k++) {
            int lo = k * t->shard, cnt = batch - lo < t->shard ? batch - lo : t->shard;
            pt_work v = work_view(model, t->rows, lo, cnt);
            for (int l = 0; l < model->n_layers; l++) {
                size_t bytes = (size_t)cnt * (size_t)model->layer[l].outp * sizeof(float);
                memset(v.z[l], 0, bytes);
                memset(v.a[l], 0, bytes);
                memset(v.dz[l], 0, bytes);
            }
        }
        for (int k = tid; k < n_threads; k += team) {
            pt_worker *wk = &t->workers[k];
            if (worker_alloc(t, wk))
                failed = 1;
            for (int r = 0; r < wk->n_ranges; r++)
                memset(t->grad + wk->lo[r], 0, (wk->hi[r] - wk->lo[r]) * sizeof(float));
        }
    }
    for (int i = 0; i < n_threads; i++)
        if (!t->own[i])
            failed = 1;
    if (failed) {
        pt_trainer_free(t);
        pt_fail(err, "out of memory allocating per-thread buffers");
        return NULL;
    }
    for (int k = 0; k < n_threads; k++)
        for (int p = 0; p < t->workers[k].n_parts; p++)
            t->parts[t->n_parts++] = t->workers[k].parts[p];
    return t;
}

void pt_trainer_free(pt_trainer *t)
{
    if (!t)
        return;
    if (t->placement) {
        pt_err ignored; /* best effort: the worst case is a main thread left on one PU */
        pt_placement_unbind_self(t->placement, &ignored);
    }
    if (t->own)
        for (int i = 0; i < t->n_threads; i++)
            work_free(t->own[i]);
    if (t->workers)
        for (int i = 0; i < t->n_threads; i++)
            worker_free(&t->workers[i]);
    free(t->workers);
    free(t->parts);
    free(t->own);
    work_free(t->rows);
    pt_free(t->grad);
    wback_free(t->wback);
    free(t->units);
    pt_free(t->clock);
    pt_barrier_free(t->barrier);
    pt_free(t->result);
    free(t->chunk_loss);
    free(t->chunk_correct);
    free(t);
}

void pt_trainer_set_progress(pt_trainer *t, pt_progress_fn fn, void *ctx)
{
    t->progress = fn;
    t->progress_ctx = ctx;
}

int pt_trainer_threads(const pt_trainer *t)
{
    return t->n_threads;
}

const char *pt_trainer_warning(const pt_trainer *t)
{
    return t->warning;
}

long pt_trainer_step_count(const pt_trainer *t)
{
    return t->step;
}

/* Samples in the batch that starts at sample `first` of a pass over n. */
static int batch_at(const pt_trainer *t, long n, long first)
{
    return (int)(n - first < t->batch ? n - first : t->batch);
}

int pt_trainer_pass(pt_trainer *t, const int *order, long n, pt_pass_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    const pt_model *m = t->model;
    const long n_steps = (n + t->batch - 1) / t->batch;
    long steps_done = 0, correct = 0;
    double loss_sum = 0.0;
    int diverged = 0, team = 1;
    const double start = omp_get_wtime();
    const uint64_t start_ticks = step_ticks();

#pragma omp parallel num_threads(t->n_threads)
    {
        const int tid = omp_get_thread_num(), n_team = omp_get_num_threads();
        bind_thread(t, tid);
        pt_clock *c = &t->clock[tid];
        *c = (pt_clock){0};
        uint64_t t0 = step_ticks();
        /* My workers; one when the team is complete. The weights may have
         * changed since the last pass (a reload, a reinit): refresh wback,
         * then step 1 of the first batch. */
        for (int k = tid; k < t->n_threads; k += n_team) {
            pt_worker *wk = &t->workers[k];
            refresh_wback(m, t->wback, t->units, wk->first, wk->end);
            if (n_steps > 0)
                worker_partials(t, wk, order, batch_at(t, n, 0));
        }
        uint64_t t1 = step_ticks(); /* the end of this thread's step 1 */
        /* Kept private until the end: the shared totals sit on the main
         * thread's stack, maybe on a line other threads read every step. */
        double my_loss = 0.0;
        long my_correct = 0, my_steps = 0;
        c->partials += t1 - t0;
#pragma omp single
        {
            team = n_team;
            /* Spinning pays only while every thread has a PU of its own. */
            pt_barrier_init(t->barrier, n_team, n_team <= t->n_pus ? PT_BARRIER_SPIN : 0);
        }

        for (long s = 0; s < n_steps; s++) {
            const long first_sample = s * t->batch;
            const int batch_n = batch_at(t, n, first_sample);
            const int n_shards = (batch_n + t->shard - 1) / t->shard;
            pt_barrier_wait(t->barrier, tid);
            const uint64_t t2 = step_ticks();

            /* 2. Each shard: first-layer z from the tree nodes, the rest of
             * the forward pass, loss and deltas into its rows of the batch. */
#pragma omp for schedule(static) nowait
            for (int k = 0; k < n_shards; k++) {
                int lo = k * t->shard, cnt = batch_n - lo < t->shard ? batch_n - lo : t->shard;
                long right = 0;
                t->result[k].loss = shard_step(t, lo, cnt, order + first_sample + lo, t->own[tid], &right);
                t->result[k].correct = right;
            }
            const uint64_t t3 = step_ticks();
            pt_barrier_wait(t->barrier, tid);
            uint64_t mark = step_ticks();
            c->wait += (t2 - t1) + (mark - t3);
            c->shards += t3 - t2;

            /* Every thread reads the same shard losses in the same order, so
             * all agree on divergence and leave the loop together. */
            double step_loss = 0.0;
            long step_correct = 0;
            for (int k = 0; k < n_shards; k++) {
                step_loss += t->result[k].loss;
                step_correct += t->result[k].correct;
            }
            if (!isfinite(step_loss)) {
                if (tid == 0)
                    diverged = 1;
                break;
            }
            my_loss += step_loss;
            my_correct += step_correct;
            my_steps = s + 1;
            if (tid == 0 && t->progress && (s & 63) == 63)
                t->progress(t->progress_ctx, first_sample + batch_n, n);

            /* 3. My parameters: their gradient over the whole batch, the update;
             * then step 1 of the next batch. */
            const long update = t->step + s + 1;
            const double lr = pt_optim_lr(t->optim, update - 1);
            const float inv = (float)(1.0 / batch_n);
            const long next = first_sample + batch_n;
            const int next_n = batch_at(t, n, next);
            for (int k = tid; k < t->n_threads; k += n_team) {
                pt_worker *wk = &t->workers[k];
                const pt_next_rows next_rows = {t->data->x, order + next, next_n, t->data->dim,
                                                wk->lp * PT_LEAF_ROWS, worker_cols(m, wk)};
                units_gradient(m, &t->map, t->rows, batch_n, wk->src, t->units, wk->first, wk->end,
                               wk->tile, wk->tile_rows, &next_rows, t->grad);
                for (int r = 0; r < wk->n_ranges; r++) {
#pragma omp simd
                    for (size_t j = wk->lo[r]; j < wk->hi[r]; j++)
                        t->grad[j] *= inv;
                }
                const uint64_t u1 = step_ticks();
                for (int r = 0; r < wk->n_ranges; r++)
                    pt_optim_update(t->optim, m->params, wk->lo[r], wk->hi[r], t->grad + wk->lo[r], lr,
                                    update);
                refresh_wback(m, t->wback, t->units, wk->first, wk->end);
                const uint64_t u2 = step_ticks();
                if (next_n > 0)
                    worker_partials(t, wk, order + next, next_n);
                c->grads += u1 - mark;
                c->update += u2 - u1;
                mark = step_ticks();
                c->partials += mark - u2;
            }
            t1 = mark;
        }
        if (tid == 0) {
            loss_sum = my_loss;
            correct = my_correct;
            steps_done = my_steps;
        }
    }

    t->step += steps_done;
    stats->steps = steps_done;
    stats->samples = steps_done * t->batch < n ? steps_done * t->batch : n;
    stats->loss_sum = loss_sum;
    stats->correct = correct;
    stats->diverged = diverged;
    stats->seconds = omp_get_wtime() - start;
    const uint64_t ticks = step_ticks() - start_ticks;
    const double per_tick = ticks > 0 ? stats->seconds / (double)ticks : 0.0;
    for (int i = 0; i < team; i++) {
        stats->partials += per_tick * (double)t->clock[i].partials / team;
        stats->shards += per_tick * (double)t->clock[i].shards / team;
        stats->grads += per_tick * (double)t->clock[i].grads / team;
        stats->update += per_tick * (double)t->clock[i].update / team;
        stats->wait += per_tick * (double)t->clock[i].wait / team;
    }
    return diverged;
}

void pt_trainer_evaluate(pt_trainer *t, const pt_dataset *data, const int *idx, long n, double *loss,
                         double *acc, uint8_t *pred)
{
    const pt_model *m = t->model;
    const pt_layer *last = &m->layer[m->n_layers - 1];
    const long n_chunks = (n + EVAL_ROWS - 1) / EVAL_ROWS;
    if (n_chunks > t->chunk_cap) {
        double *cl = realloc(t->chunk_loss, (size_t)n_chunks * sizeof *cl);
        if (cl)
            t->chunk_loss = cl;
        long *cc = realloc(t->chunk_correct, (size_t)n_chunks * sizeof *cc);
        if (cc)
            t->chunk_correct = cc;
        if (!cl || !cc) {
            *loss = *acc = NAN;
            return;
        }
        t->chunk_cap = n_chunks;
    }
#pragma omp parallel num_threads(t->n_threads)
    {
        const int tid = omp_get_thread_num();
        bind_thread(t, tid);
        pt_work *w = t->own[tid];
#pragma omp for schedule(static)
        for (long c = 0; c < n_chunks; c++) {
            long lo = c * EVAL_ROWS;
            int cnt = (int)(n - lo < EVAL_ROWS ? n - lo : EVAL_ROWS);
            double l = 0.0;
            long right = 0;
            forward_all(m, data, &t->map, idx + lo, cnt, w);
            pt_output_loss(m->out, cnt, last->out, last->outp, w->z[m->n_layers - 1], w->y, NULL, &l,
                           &right, pred ? pred + lo : NULL);
            t->chunk_loss[c] = l;
            t->chunk_correct[c] = right;
        }
    }
    double sum = 0.0;
    long right = 0;
    for (long c = 0; c < n_chunks; c++) {
        sum += t->chunk_loss[c];
        right += t->chunk_correct[c];
    }
    *loss = n > 0 ? sum / (double)n : NAN;
    *acc = n > 0 ? (double)right / (double)n : NAN;
}
