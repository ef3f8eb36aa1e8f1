/* pt_optim.h: optimisers (sgd, momentum, adam) over ranges of the flat
 * parameter buffer, and the learning-rate schedule. The trainer calls the
 * update on disjoint ranges from several threads; each element's update
 * depends only on that element, so the result never depends on the split. */
#ifndef PT_OPTIM_H
#define PT_OPTIM_H

#include <stddef.h>

#include "pt_common.h"
#include "pt_config.h"

typedef struct pt_optim {
    pt_opt_kind kind;
    float momentum, beta1, beta2, eps, weight_decay;
    pt_sched_kind schedule;
    double lr, lr_min, step_gamma;
    long step_epochs, steps_per_epoch, total_steps;
    size_t n;
    float *m, *v; /* momentum / first moment, second moment (adam); NULL when unused */
} pt_optim;

int pt_optim_create(pt_optim *o, const pt_config *cfg, size_t n_params, long steps_per_epoch,
                    pt_err *err);
void pt_optim_free(pt_optim *o);
void pt_optim_reset(pt_optim *o); /* zero the state, as at creation */

/* Learning rate at global step `step` (0-based): constant; step (times
 * step_gamma every step_epochs epochs); cosine (from lr to lr_min over all
 * steps of the run, evaluated per step). */
double pt_optim_lr(const pt_optim *o, long step);

/* Apply one update to params[lo, hi) given the averaged gradient g[0, hi-lo).
 * t is the 1-based update count (adam's bias correction). Weight decay adds
 * weight_decay * w to the gradient (L2 on every parameter). */
void pt_optim_update(const pt_optim *o, float *params, size_t lo, size_t hi, const float *g,
                     double lr, long t);

#endif
