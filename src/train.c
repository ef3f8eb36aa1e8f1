/* train.c: the training step, top to bottom. A mini-batch goes
 *   uint8 rows (one copy, in the dataset) -> per-shard float rows (pt_gather_u8)
 *   -> forward through every layer -> output loss and dLoss/dz
 *   -> backward into the shard's own gradient slot
 *   -> barrier -> fixed-order sum of the slots, per parameter range
 *   -> optimiser update of that range -> barrier -> next step.
 * pt_train.h explains why the result does not depend on the thread count.
 * Nothing here parses, prints or writes files. */
#include "pt_train.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "pt_kernels.h"

/* Samples per evaluation chunk: a fixed split, so evaluation sums too are
 * independent of the thread count. */
enum { EVAL_ROWS = 64 };
/* Parameters per reduction block: 2 KiB of gradient, a few cache lines per
 * slot; blocks are dealt to threads statically. */
enum { REDUCE_BLOCK = 512 };

/* Per-thread buffers, allocated and first touched by their own thread after
 * it is bound, so they live in its NUMA node and never share a cache line. */
typedef struct pt_work {
    int rows;
    float *x;                      /* (rows, dim) converted inputs */
    uint8_t *y;                    /* (rows) labels */
    float *z[PT_MAX_LAYERS];       /* (rows, outp) pre-activations per layer */
    float *a[PT_MAX_LAYERS];       /* (rows, outp) activations (hidden layers) */
    float *dz[PT_MAX_LAYERS];      /* (rows, outp) dLoss/dz per layer */
    double compute, wait, reduce;  /* seconds in the current pass */
} pt_work;

struct pt_trainer {
    pt_model *model;
    pt_optim *optim;
    const pt_dataset *data;
    pt_input_map map;
    int batch, shard, max_shards, n_threads;
    pt_placement *placement;
    size_t slot_stride;            /* floats per gradient slot (n_params, rounded to a cache line) */
    float *slots;                  /* (max_shards, slot_stride) */
    double *shard_loss;            /* (max_shards) */
    long *shard_correct;
    pt_work **work;                /* (n_threads) */
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
    pt_free(w->y);
    for (int l = 0; l < PT_MAX_LAYERS; l++) {
        pt_free(w->z[l]);
        pt_free(w->a[l]);
        pt_free(w->dz[l]);
    }
    free(w);
}

static pt_work *work_create(const pt_model *m, int dim, int rows)
{
    pt_work *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->rows = rows;
    int ok = (w->x = pt_alloc((size_t)rows * (size_t)dim * sizeof(float))) != NULL;
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

/* ---- one shard: forward, loss, backward --------------------------------- */

static void shard_forward(const pt_model *m, const pt_dataset *d, const pt_input_map *map,
                          const int *idx, int n, pt_work *w)
{
    pt_gather_u8(n, d->dim, d->x, idx, map->scale, map->shift, w->x);
    for (int i = 0; i < n; i++)
        w->y[i] = d->y[idx[i]];
    const float *in = w->x;
    int lda = d->dim;
    for (int l = 0; l < m->n_layers; l++) {
        const pt_layer *L = &m->layer[l];
        pt_dense_forward(n, L->in, lda, L->outp, in, m->params + L->off_w, m->params + L->off_b,
                         w->z[l]);
        if (l + 1 < m->n_layers) {
            pt_activations[m->act].forward((size_t)n * (size_t)L->outp, w->z[l], w->a[l]);
            in = w->a[l];
            lda = L->outp;
        }
    }
}

/* Loss of the forward pass in w, and its gradient written to grad. */
static double shard_backward(const pt_model *m, int n, pt_work *w, float *grad, long *correct)
{
    int last = m->n_layers - 1;
    double loss = 0.0;
    pt_output_loss(m->out, n, m->layer[last].out, m->layer[last].outp, w->z[last], w->y,
                   w->dz[last], &loss, correct, NULL);
    for (int l = last; l >= 0; l--) {
        const pt_layer *L = &m->layer[l];
        const float *in = l > 0 ? w->a[l - 1] : w->x;
        int lda = l > 0 ? m->layer[l - 1].outp : L->in;
        pt_dense_backward_w(n, L->in, lda, L->outp, in, w->dz[l], grad + L->off_w, grad + L->off_b);
        if (l > 0) {
            const pt_layer *P = &m->layer[l - 1];
            /* dA of the layer below, then dZ = dA * g'(Z) in place. */
            pt_dense_backward_x(n, L->in, P->outp, L->outp, w->dz[l], m->params + L->off_w,
                                w->dz[l - 1]);
            pt_activations[m->act].backward((size_t)n * (size_t)P->outp, w->z[l - 1], w->a[l - 1],
                                            w->dz[l - 1], w->dz[l - 1]);
        }
    }
    return loss;
}

double pt_shard_gradient(const pt_model *model, const pt_dataset *data, const pt_input_map *map,
                         const int *idx, int n, float *grad)
{
    pt_work *w = work_create(model, data->dim, n);
    if (!w)
        return NAN;
    long correct = 0;
    shard_forward(model, data, map, idx, n, w);
    double loss = shard_backward(model, n, w, grad, &correct);
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
    t->slot_stride = (model->n_params + PT_LANES - 1) / PT_LANES * PT_LANES;
    size_t slot_bytes = (size_t)t->max_shards * t->slot_stride * sizeof(float);
    /* Not zeroed here: each slot is first touched below by the thread that
     * will write it under the same static schedule as the training step. */
    t->slots = aligned_alloc(PT_ALIGN, (slot_bytes + PT_ALIGN - 1) / PT_ALIGN * PT_ALIGN);
    t->shard_loss = calloc((size_t)t->max_shards, sizeof *t->shard_loss);
    t->shard_correct = calloc((size_t)t->max_shards, sizeof *t->shard_correct);
    t->work = calloc((size_t)n_threads, sizeof *t->work);
    if (!t->slots || !t->shard_loss || !t->shard_correct || !t->work) {
        pt_trainer_free(t);
        pt_fail(err, "out of memory allocating %zu bytes of gradient slots", slot_bytes);
        return NULL;
    }
    int rows = t->shard > EVAL_ROWS ? t->shard : EVAL_ROWS, failed = 0;
#pragma omp parallel num_threads(n_threads) reduction(| : failed)
    {
        int tid = omp_get_thread_num();
        bind_thread(t, tid);
        if (tid < n_threads && !(t->work[tid] = work_create(model, data->dim, rows)))
            failed = 1;
#pragma omp for schedule(static)
        for (int s = 0; s < t->max_shards; s++)
            memset(t->slots + (size_t)s * t->slot_stride, 0, t->slot_stride * sizeof(float));
    }
    for (int i = 0; i < n_threads; i++)
        if (!t->work[i])
            failed = 1;
    if (failed) {
        pt_trainer_free(t);
        pt_fail(err, "out of memory allocating per-thread buffers");
        return NULL;
    }
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
    if (t->work)
        for (int i = 0; i < t->n_threads; i++)
            work_free(t->work[i]);
    free(t->work);
    free(t->slots);
    free(t->shard_loss);
    free(t->shard_correct);
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

/* Sum the shard slots for parameters [lo, hi) in shard order, average, update. */
static void reduce_and_update(pt_trainer *t, size_t lo, size_t hi, int n_shards, int batch_n,
                              double lr, long update)
{
    float g[REDUCE_BLOCK] __attribute__((aligned(PT_ALIGN)));
    size_t n = hi - lo;
    const float *slot = t->slots + lo;
    memcpy(g, slot, n * sizeof(float));
    for (int s = 1; s < n_shards; s++) {
        const float *src = slot + (size_t)s * t->slot_stride;
#pragma omp simd
        for (size_t i = 0; i < n; i++)
            g[i] += src[i];
    }
    const float inv = (float)(1.0 / batch_n);
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        g[i] *= inv;
    pt_optim_update(t->optim, t->model->params, lo, hi, g, lr, update);
}

int pt_trainer_pass(pt_trainer *t, const int *order, long n, pt_pass_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    const pt_model *m = t->model;
    const long n_steps = (n + t->batch - 1) / t->batch;
    const size_t n_params = m->n_params;
    const long n_blocks = (long)((n_params + REDUCE_BLOCK - 1) / REDUCE_BLOCK);
    long steps_done = 0, correct = 0;
    double loss_sum = 0.0;
    int diverged = 0;
    double start = omp_get_wtime();

#pragma omp parallel num_threads(t->n_threads)
    {
        const int tid = omp_get_thread_num();
        bind_thread(t, tid);
        pt_work *w = t->work[tid];
        w->compute = w->wait = w->reduce = 0.0;

        for (long s = 0; s < n_steps; s++) {
            const long first = s * t->batch;
            const int batch_n = (int)(n - first < t->batch ? n - first : t->batch);
            const int n_shards = (batch_n + t->shard - 1) / t->shard;
            double t0 = omp_get_wtime();

            /* 1. Each shard: forward and backward into its own slot. */
#pragma omp for schedule(static) nowait
            for (int k = 0; k < n_shards; k++) {
                int lo = k * t->shard, cnt = batch_n - lo < t->shard ? batch_n - lo : t->shard;
                long right = 0;
                shard_forward(m, t->data, &t->map, order + first + lo, cnt, w);
                t->shard_loss[k] = shard_backward(m, cnt, w, t->slots + (size_t)k * t->slot_stride,
                                                  &right);
                t->shard_correct[k] = right;
            }
            double t1 = omp_get_wtime();
#pragma omp barrier
            double t2 = omp_get_wtime();

            /* 2. Every thread reads the same shard losses in the same order,
             * so all agree on divergence and leave the loop together. */
            double step_loss = 0.0;
            long step_correct = 0;
            for (int k = 0; k < n_shards; k++) {
                step_loss += t->shard_loss[k];
                step_correct += t->shard_correct[k];
            }
            if (!isfinite(step_loss)) {
                if (tid == 0)
                    diverged = 1;
                break;
            }

            /* 3. Fixed-order reduction and update, parameters split across threads. */
            const long update = t->step + s + 1;
            const double lr = pt_optim_lr(t->optim, update - 1);
#pragma omp for schedule(static)
            for (long b = 0; b < n_blocks; b++) {
                size_t lo = (size_t)b * REDUCE_BLOCK;
                size_t hi = lo + REDUCE_BLOCK < n_params ? lo + REDUCE_BLOCK : n_params;
                reduce_and_update(t, lo, hi, n_shards, batch_n, lr, update);
            }
            double t3 = omp_get_wtime();
            w->compute += t1 - t0;
            w->wait += t2 - t1;
            w->reduce += t3 - t2;

            if (tid == 0) {
                loss_sum += step_loss;
                correct += step_correct;
                steps_done = s + 1;
                if (t->progress && (s & 63) == 63)
                    t->progress(t->progress_ctx, first + batch_n, n);
            }
        }
    }

    t->step += steps_done;
    stats->steps = steps_done;
    stats->samples = steps_done * t->batch < n ? steps_done * t->batch : n;
    stats->loss_sum = loss_sum;
    stats->correct = correct;
    stats->diverged = diverged;
    stats->seconds = omp_get_wtime() - start;
    for (int i = 0; i < t->n_threads; i++) {
        stats->compute += t->work[i]->compute / t->n_threads;
        stats->wait += t->work[i]->wait / t->n_threads;
        stats->reduce += t->work[i]->reduce / t->n_threads;
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
        pt_work *w = t->work[tid];
#pragma omp for schedule(static)
        for (long c = 0; c < n_chunks; c++) {
            long lo = c * EVAL_ROWS;
            int cnt = (int)(n - lo < EVAL_ROWS ? n - lo : EVAL_ROWS);
            double l = 0.0;
            long right = 0;
            shard_forward(m, data, &t->map, idx + lo, cnt, w);
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
