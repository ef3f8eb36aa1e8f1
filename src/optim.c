/* optim.c: per-element update rules and the learning-rate schedule. */
#include "pt_optim.h"

#include <math.h>

int pt_optim_create(pt_optim *o, const pt_config *cfg, size_t n_params, long steps_per_epoch,
                    pt_err *err)
{
    *o = (pt_optim){
        .kind = cfg->train.optimizer,
        .momentum = (float)cfg->train.momentum,
        .beta1 = (float)cfg->train.beta1,
        .beta2 = (float)cfg->train.beta2,
        .eps = (float)cfg->train.eps,
        .weight_decay = (float)cfg->train.weight_decay,
        .schedule = cfg->train.schedule,
        .lr = cfg->train.lr,
        .lr_min = cfg->train.lr_min,
        .step_gamma = cfg->train.step_gamma,
        .step_epochs = cfg->train.step_epochs,
        .steps_per_epoch = steps_per_epoch,
        .total_steps = steps_per_epoch * cfg->train.epochs,
        .n = n_params,
    };
    if (o->kind != PT_OPT_SGD && !(o->m = pt_alloc(n_params * sizeof(float))))
        return pt_fail(err, "optimiser: cannot allocate state for %zu parameters", n_params);
    if (o->kind == PT_OPT_ADAM && !(o->v = pt_alloc(n_params * sizeof(float)))) {
        pt_optim_free(o);
        return pt_fail(err, "optimiser: cannot allocate state for %zu parameters", n_params);
    }
    return 0;
}

void pt_optim_free(pt_optim *o)
{
    pt_free(o->m);
    pt_free(o->v);
    o->m = o->v = NULL;
}

void pt_optim_reset(pt_optim *o)
{
    for (size_t i = 0; i < o->n; i++) {
        if (o->m)
            o->m[i] = 0.0f;
        if (o->v)
            o->v[i] = 0.0f;
    }
}

double pt_optim_lr(const pt_optim *o, long step)
{
    switch (o->schedule) {
    case PT_SCHED_STEP: {
        long epoch = o->steps_per_epoch > 0 ? step / o->steps_per_epoch : 0;
        return o->lr * pow(o->step_gamma, (double)(epoch / o->step_epochs));
    }
    case PT_SCHED_COSINE: {
        double frac = o->total_steps > 1 ? (double)step / (double)(o->total_steps - 1) : 1.0;
        if (frac > 1.0)
            frac = 1.0;
        return o->lr_min + 0.5 * (o->lr - o->lr_min) * (1.0 + cos(M_PI * frac));
    }
    default:
        return o->lr;
    }
}

void pt_optim_update(const pt_optim *o, float *params, size_t lo, size_t hi, const float *g,
                     double lr, long t)
{
    float *w = params + lo;
    size_t n = hi - lo;
    const float rate = (float)lr, wd = o->weight_decay;
    switch (o->kind) {
    case PT_OPT_SGD:
#pragma omp simd
        for (size_t i = 0; i < n; i++)
            w[i] -= rate * (g[i] + wd * w[i]);
        break;
    case PT_OPT_MOMENTUM: {
        float *m = o->m + lo;
        const float mu = o->momentum;
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            m[i] = mu * m[i] + (g[i] + wd * w[i]);
            w[i] -= rate * m[i];
        }
        break;
    }
    case PT_OPT_ADAM: {
        float *m = o->m + lo, *v = o->v + lo;
        const float b1 = o->beta1, b2 = o->beta2, eps = o->eps;
        /* Bias corrections folded into the step size, computed once in double. */
        const float c1 = (float)(1.0 / (1.0 - pow(o->beta1, (double)t)));
        const float c2 = (float)(1.0 / (1.0 - pow(o->beta2, (double)t)));
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] + wd * w[i];
            m[i] = b1 * m[i] + (1.0f - b1) * gi;
            v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
            w[i] -= rate * (m[i] * c1) / (sqrtf(v[i] * c2) + eps);
        }
        break;
    }
    default:
        break;
    }
}
