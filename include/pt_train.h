/* pt_train.h: the data-parallel training step and evaluation.
 *
 * The parameters are split once, when the trainer is made, into one share
 * per worker (one worker per thread): a contiguous range of the first
 * layer's weight rows, and for one worker the small layers above it too,
 * planned so that the largest share, tree nodes counted, costs least. A
 * step over a mini-batch of B samples has three parts:
 *   1. each worker sums the first layer forward over its own rows (its
 *      inputs), for all B samples, as nodes of a fixed summation tree;
 *   2. threads take whole shards of `shard` consecutive samples and, from
 *      the tree nodes, finish the forward pass, the loss and the deltas
 *      dLoss/dz of every layer;
 *   3. each worker computes the gradient of its rows over all B samples (one
 *      sum per element, samples in order 0..B-1), divides by B, applies the
 *      optimiser to the same rows, and goes on with part 1 of the next batch.
 * No gradient is ever summed across threads, and the first layer's sum has
 * the same tree whoever computes which nodes, so the bits of every update
 * are the same for 1, 2, 3 or 16 threads and for any shard size: the thread
 * count only changes who computes what. The first layer's weights never
 * leave their worker's core. The loss of a step is summed per shard, then
 * in shard order. One OpenMP parallel region spans a whole pass; each step
 * has two barriers (after parts 1 and 2, pt_barrier.h). */
#ifndef PT_TRAIN_H
#define PT_TRAIN_H

#include <stdint.h>

#include "pt_common.h"
#include "pt_config.h"
#include "pt_data.h"
#include "pt_model.h"
#include "pt_optim.h"
#include "pt_placement.h"

typedef struct pt_trainer pt_trainer;

/* Where the time of a training pass went, in seconds summed over steps;
 * per-thread figures are averaged over threads. */
typedef struct pt_pass_stats {
    long steps, samples;
    double loss_sum;        /* summed training loss of the shards, as the steps saw it */
    long correct;
    int diverged;           /* a step's loss was NaN or infinite: the pass stopped there */
    double seconds;         /* wall time of the pass */
    double partials;        /* first-layer partial sums, by input range (step 1) */
    double shards;          /* rest of the forward pass, loss and deltas, by shard (step 2) */
    double grads;           /* weight gradients: the sum over the batch, by worker (step 3) */
    double update;          /* optimiser update */
    double wait;            /* waiting at the two barriers of each step */
} pt_pass_stats;

/* Progress hook, called by one thread at most every 64 steps. */
typedef void (*pt_progress_fn)(void *ctx, long samples_done, long samples_total);

/* The trainer borrows everything it is given; keep them alive until pt_trainer_free.
 * placement may be NULL (no binding). */
pt_trainer *pt_trainer_create(pt_model *model, pt_optim *optim, const pt_dataset *data,
                              const pt_input_map *map, int batch, int shard, int n_threads,
                              pt_placement *placement, pt_err *err);
void pt_trainer_free(pt_trainer *t);
void pt_trainer_set_progress(pt_trainer *t, pt_progress_fn fn, void *ctx);
int pt_trainer_threads(const pt_trainer *t);
/* Warnings collected inside parallel regions (e.g. a failed bind), "" if none. */
const char *pt_trainer_warning(const pt_trainer *t);

/* Train on order[0..n) in mini-batches of `batch` (the last one may be
 * smaller). Returns 0, or 1 when the loss diverged (stats->diverged set). */
int pt_trainer_pass(pt_trainer *t, const int *order, long n, pt_pass_stats *stats);

/* Total optimiser updates applied so far (the global step). */
long pt_trainer_step_count(const pt_trainer *t);

/* Forward pass over samples idx[0..n) of data (the training set or another
 * with the same features): mean loss and accuracy; pred (may be NULL)
 * receives each sample's predicted class. Parallel, with a fixed summation
 * order, so it too is independent of the thread count. */
void pt_trainer_evaluate(pt_trainer *t, const pt_dataset *data, const int *idx, long n, double *loss,
                         double *acc, uint8_t *pred);

/* The summed gradient of samples idx[0..n) into grad (n_params floats,
 * written), single-threaded, with the same kernels and summation order as
 * a training step over those n samples: exposed for gradient checks.
 * Returns the summed loss over the n samples. */
double pt_shard_gradient(const pt_model *model, const pt_dataset *data, const pt_input_map *map,
                         const int *idx, int n, float *grad);

#endif
