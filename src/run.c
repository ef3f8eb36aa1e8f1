/* run.c: a whole training run (pt_run.h): set-up shared by every command
 * that trains, then the epoch loop with evaluation and results. */
#include "pt_run.h"

#include <math.h>
#include <stdarg.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "pt_optim.h"
#include "pt_placement.h"
#include "pt_rng.h"

long pt_peak_rss_kb(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

int pt_run_threads(const pt_config *cfg)
{
    /* omp_get_max_threads() is OMP_NUM_THREADS when set, else the number of
     * CPUs in the process's affinity mask: exactly the documented default. */
    int want = cfg->run.threads > 0 ? cfg->run.threads : omp_get_max_threads();
    /* OMP_THREAD_LIMIT caps every team; asking for more would leave
     * per-thread buffers of threads that never start. */
    int limit = omp_get_thread_limit();
    return want > limit ? limit : want;
}

int pt_run_workers(const pt_config *cfg, int requested, int n_pus)
{
    return requested > n_pus && n_pus > 0 && !cfg->run.oversubscribe ? n_pus : requested;
}

static int *index_range(long n)
{
    int *idx = malloc((size_t)(n > 0 ? n : 1) * sizeof *idx);
    if (idx)
        for (long i = 0; i < n; i++)
            idx[i] = (int)i;
    return idx;
}

void pt_setup_reinit(pt_setup *s, const pt_config *cfg)
{
    pt_rng rng;
    pt_rng_seed(&rng, cfg->train.seed, PT_STREAM_INIT);
    pt_model_init(&s->model, cfg->model.init, cfg->model.init_scale, &rng);
}

int pt_setup_load(pt_setup *s, const pt_config *cfg, pt_err *err)
{
    memset(s, 0, sizeof *s);
    if (pt_dataset_load(&s->train_set, cfg->data.train_images, cfg->data.train_labels, err) ||
        pt_dataset_load(&s->test_set, cfg->data.test_images, cfg->data.test_labels, err))
        goto fail;
    const pt_dataset *tr = &s->train_set, *te = &s->test_set;
    if (te->dim != tr->dim) {
        pt_fail(err, "%s has %d features per sample but %s has %d", cfg->data.test_images, te->dim,
                cfg->data.train_images, tr->dim);
        goto fail;
    }
    if (te->n_classes > tr->n_classes) {
        pt_fail(err, "%s has label %d, but the training labels only go up to %d",
                cfg->data.test_labels, te->n_classes - 1, tr->n_classes - 1);
        goto fail;
    }

    /* Validation split: a seeded shuffle of the training set, the first
     * n_val samples held out. Its own RNG stream, so it is the same split
     * whatever the other settings. */
    long n_all = tr->n;
    double v = cfg->data.validation;
    long n_val = v >= 1.0 ? (long)v : (long)llround(v * (double)n_all);
    if (n_val >= n_all) {
        pt_fail(err, "data.validation = %g holds out %ld of %ld training samples; leave some to train on",
                v, n_val, n_all);
        goto fail;
    }
    int *all = index_range(n_all);
    if (!all) {
        pt_fail(err, "out of memory");
        goto fail;
    }
    pt_rng rng;
    pt_rng_seed(&rng, cfg->train.seed, PT_STREAM_SPLIT);
    pt_rng_shuffle(&rng, all, (int)n_all);
    s->n_val = n_val;
    s->n_train = n_all - n_val;
    if (cfg->data.train_limit > 0 && cfg->data.train_limit < s->n_train)
        s->n_train = cfg->data.train_limit;
    s->val_idx = malloc((size_t)(n_val > 0 ? n_val : 1) * sizeof(int));
    s->train_idx = malloc((size_t)s->n_train * sizeof(int));
    s->n_test = te->n;
    if (cfg->data.test_limit > 0 && cfg->data.test_limit < s->n_test)
        s->n_test = cfg->data.test_limit;
    s->test_idx = index_range(s->n_test);
    if (!s->val_idx || !s->train_idx || !s->test_idx) {
        free(all);
        pt_fail(err, "out of memory");
        goto fail;
    }
    memcpy(s->val_idx, all, (size_t)n_val * sizeof(int));
    memcpy(s->train_idx, all + n_val, (size_t)s->n_train * sizeof(int));
    free(all);

    pt_input_map_fit(cfg->data.preprocess, tr, s->train_idx, (int)s->n_train, &s->input);

    int sizes[PT_MAX_LAYERS + 1];
    sizes[0] = tr->dim;
    for (int l = 0; l < cfg->model.n_hidden; l++)
        sizes[l + 1] = cfg->model.hidden[l];
    sizes[cfg->model.n_hidden + 1] = tr->n_classes;
    if (pt_model_create(&s->model, cfg->model.n_hidden + 1, sizes, cfg->model.activation,
                        cfg->model.output, err))
        goto fail;
    pt_setup_reinit(s, cfg);
    return 0;
fail:
    pt_setup_free(s);
    return -1;
}

void pt_setup_free(pt_setup *s)
{
    pt_dataset_free(&s->train_set);
    pt_dataset_free(&s->test_set);
    free(s->train_idx);
    free(s->val_idx);
    free(s->test_idx);
    pt_model_free(&s->model);
    memset(s, 0, sizeof *s);
}

/* ---- the run ------------------------------------------------------------ */

typedef struct progress_ctx {
    const pt_run_hooks *hooks;
    int epoch;
} progress_ctx;

static void on_pass_progress(void *ctx, long done, long total)
{
    progress_ctx *p = ctx;
    p->hooks->on_progress(p->hooks->ctx, p->epoch, done, total);
}

static void warn(const pt_run_hooks *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(const pt_run_hooks *h, const char *fmt, ...)
{
    if (!h || !h->on_warning)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    h->on_warning(h->ctx, msg);
}

/* The better of two epochs: validation accuracy decides, test accuracy when
 * there is no validation split (NaN compares false, so it never wins). */
static int better(const pt_epoch_metrics *a, const pt_epoch_metrics *b, int has_val)
{
    return has_val ? a->val_acc > b->val_acc : a->test_acc > b->test_acc;
}

/* Misclassified test samples kept in mistakes.csv / mistakes.pgm (a 6 x 8 grid). */
#define PT_MISTAKES_SHOWN 48

/* class_counts.csv: samples of each class in the train, validation and test splits. */
static int write_class_counts(const char *dir, const pt_setup *su, pt_err *err)
{
    int k = su->train_set.n_classes;
    long *counts = calloc(3 * (size_t)k, sizeof *counts);
    if (!counts)
        return pt_fail(err, "out of memory");
    for (long i = 0; i < su->n_train; i++)
        counts[su->train_set.y[su->train_idx[i]]]++;
    for (long i = 0; i < su->n_val; i++)
        counts[k + su->train_set.y[su->val_idx[i]]]++;
    for (long i = 0; i < su->n_test; i++)
        counts[2 * k + su->test_set.y[su->test_idx[i]]]++;
    int rc = pt_results_write_class_counts(dir, k, counts, counts + k, counts + 2 * k, err);
    free(counts);
    return rc;
}

/* confusion.csv, and the first misclassified test samples with their images. */
static int write_test_files(const char *dir, const pt_setup *su, const uint8_t *pred,
                            const long *confusion, int k, pt_err *err)
{
    if (pt_results_write_confusion(dir, k, confusion, err))
        return -1;
    long index[PT_MISTAKES_SHOWN];
    int truth[PT_MISTAKES_SHOWN], guess[PT_MISTAKES_SHOWN], n = 0;
    const uint8_t *images[PT_MISTAKES_SHOWN];
    const pt_dataset *te = &su->test_set;
    for (long i = 0; i < su->n_test && n < PT_MISTAKES_SHOWN; i++) {
        int idx = su->test_idx[i];
        if (pred[i] == te->y[idx])
            continue;
        index[n] = idx;
        truth[n] = te->y[idx];
        guess[n] = pred[i];
        images[n++] = te->x + (size_t)idx * (size_t)te->dim;
    }
    return pt_results_write_mistakes(dir, n, index, truth, guess, images, te->rows, te->cols, err);
}

int pt_run_train(const pt_config *cfg, const pt_run_hooks *hooks, pt_run_result *res, pt_err *err)
{
    memset(res, 0, sizeof *res);
    double t_start = omp_get_wtime();
    pt_setup su;
    pt_placement *place = NULL;
    pt_optim opt = {0};
    pt_trainer *tr = NULL;
    pt_results *out = NULL;
    int *order = NULL;
    uint8_t *pred = NULL;
    long *confusion = NULL;
    char *placement_json = NULL;   /* growable: one entry per thread */
    pt_summary sum = {.status = PT_STATUS_RUNNING};
    int rc = -1;

    if (pt_setup_load(&su, cfg, err))
        return -1;
    const int requested = pt_run_threads(cfg);
    if (pt_placement_create(&place, cfg->run.bind, requested, NULL, err))
        goto done;
    const int n_pus = pt_placement_n_pus(place);
    const int threads = pt_run_workers(cfg, requested, n_pus);
    if (threads != requested) {
        warn(hooks, "%d threads requested on %d allowed PUs: running %d workers, one per PU (more "
                    "would only time-slice; results are identical for any thread count; "
                    "run.oversubscribe=true runs all %d)",
             requested, n_pus, threads, requested);
        pt_placement_free(place);
        place = NULL;
        if (pt_placement_create(&place, cfg->run.bind, threads, NULL, err))
            goto done;
    } else if (threads > n_pus) {
        warn(hooks, "%d threads on %d allowed PUs (run.oversubscribe): threads time-slice, results "
                    "stay identical",
             threads, n_pus);
    }
    size_t json_len = 0;
    FILE *mem = open_memstream(&placement_json, &json_len);
    if (mem) {
        pt_placement_write_json(place, mem);
        fclose(mem);
    }

    const long steps_per_epoch = (su.n_train + cfg->train.batch - 1) / cfg->train.batch;
    if (pt_optim_create(&opt, cfg, su.model.n_params, steps_per_epoch, err))
        goto done;
    tr = pt_trainer_create(&su.model, &opt, &su.train_set, &su.input, cfg->train.batch, cfg->train.shard,
                           threads, place, err);
    if (!tr)
        goto done;
    order = malloc((size_t)su.n_train * sizeof *order);
    pred = malloc((size_t)(su.n_test > 0 ? su.n_test : 1));
    int k = su.train_set.n_classes;
    confusion = calloc((size_t)k * (size_t)k, sizeof *confusion);
    if (!order || !pred || !confusion) {
        pt_fail(err, "out of memory");
        goto done;
    }
    if (pt_results_create(&out, cfg, err))
        goto done;
    snprintf(res->dir, sizeof res->dir, "%s", pt_results_dir(out));
    res->threads = threads;
    if (write_class_counts(res->dir, &su, err))
        goto done;

    sum.n_classes = k;
    sum.threads = threads;
    sum.placement_json = placement_json;
    sum.threads_requested = requested;
    sum.n_train = su.n_train;
    sum.n_val = su.n_val;
    sum.n_test = su.n_test;
    sum.n_params = (long)su.model.n_real;
    sum.crc_train_images = su.train_set.crc_images;
    sum.crc_train_labels = su.train_set.crc_labels;
    sum.crc_test_images = su.test_set.crc_images;
    sum.crc_test_labels = su.test_set.crc_labels;
    if (hooks && hooks->on_start) {
        pt_run_info info = {
            .dir = res->dir, .n_train = su.n_train, .n_val = su.n_val, .n_test = su.n_test,
            .dim = su.train_set.dim, .n_classes = k, .prep_mean = su.input.mean,
            .prep_std = su.input.std, .n_params = su.model.n_real, .threads = threads,
            .threads_requested = requested, .n_pus = n_pus, .placement = place,
        };
        hooks->on_start(hooks->ctx, cfg, &info);
    }
    progress_ctx pctx = {hooks, 0};
    if (hooks && hooks->on_progress)
        pt_trainer_set_progress(tr, on_pass_progress, &pctx);

    memcpy(order, su.train_idx, (size_t)su.n_train * sizeof *order);
    pt_rng shuffle;
    pt_rng_seed(&shuffle, cfg->train.seed, PT_STREAM_SHUFFLE);
    const int has_val = su.n_val > 0;
    for (int epoch = 1; epoch <= cfg->train.epochs; epoch++) {
        pctx.epoch = epoch;
        pt_rng_shuffle(&shuffle, order, (int)su.n_train);
        pt_pass_stats pass;
        if (pt_trainer_pass(tr, order, su.n_train, &pass)) {
            snprintf(sum.message, sizeof sum.message,
                     "training diverged in epoch %d at step %ld: the loss became NaN or infinite "
                     "(try a smaller train.lr)",
                     epoch, pass.steps + 1);
            break;
        }
        if (epoch == 1 && pt_trainer_warning(tr)[0])
            warn(hooks, "%s", pt_trainer_warning(tr));
        sum.train_seconds += pass.seconds;

        pt_epoch_metrics m = {.epoch = epoch, .seconds = pass.seconds, .val_loss = NAN, .val_acc = NAN};
        m.samples_per_sec = pass.seconds > 0 ? (double)pass.samples / pass.seconds : 0.0;
        m.lr = pt_optim_lr(&opt, pt_trainer_step_count(tr) - 1);
        /* Train loss and accuracy from a full pass with the end-of-epoch
         * model, like the validation and test figures beside them. */
        pt_trainer_evaluate(tr, &su.train_set, su.train_idx, su.n_train, &m.train_loss, &m.train_acc,
                            NULL);
        if (has_val)
            pt_trainer_evaluate(tr, &su.train_set, su.val_idx, su.n_val, &m.val_loss, &m.val_acc, NULL);
        pt_trainer_evaluate(tr, &su.test_set, su.test_idx, su.n_test, &m.test_loss, &m.test_acc, pred);

        if (pt_results_append(out, &m, err))
            goto done;
        if (epoch == 1 || better(&m, &sum.best, has_val))
            sum.best = m;
        sum.final = m;
        sum.epochs_done = epoch;
        sum.total_seconds = omp_get_wtime() - t_start;
        sum.peak_rss_kb = pt_peak_rss_kb();
        if (pt_results_summary(out, &sum, err))
            goto done;
        if (hooks && hooks->on_epoch)
            hooks->on_epoch(hooks->ctx, cfg, &m, &pass);
    }

    /* Confusion matrix of the last evaluated model on the test set. */
    for (long i = 0; i < su.n_test && sum.epochs_done > 0; i++)
        confusion[(size_t)su.test_set.y[su.test_idx[i]] * (size_t)k + pred[i]]++;
    sum.confusion = sum.epochs_done > 0 ? confusion : NULL;
    if (sum.epochs_done > 0 && write_test_files(res->dir, &su, pred, confusion, k, err))
        goto done;
    if (sum.message[0]) {
        sum.status = PT_STATUS_FAILED;
    } else {
        if (cfg->run.save_model) {
            char path[PT_PATH_MAX + 16];
            snprintf(path, sizeof path, "%s/model.bin", res->dir);
            if (pt_model_save(&su.model, path, err))
                goto done;
        }
        sum.status = PT_STATUS_COMPLETE;
    }
    sum.total_seconds = omp_get_wtime() - t_start;
    sum.peak_rss_kb = pt_peak_rss_kb();
    if (pt_results_summary(out, &sum, err))
        goto done;
    if (cfg->run.plots && sum.epochs_done > 0) {
        pt_err perr;
        int drawn = pt_results_plot(res->dir, &perr);
        if (drawn == 1)
            warn(hooks, "gnuplot is not installed: the data is in metrics.csv, confusion.csv, "
                        "mistakes.csv and class_counts.csv; draw the pictures later with "
                        "`ptrain plot %s`", res->dir);
        else if (drawn < 0)
            warn(hooks, "plot not drawn: %s", perr.msg);
    }
    res->status = sum.status;
    snprintf(res->message, sizeof res->message, "%s", sum.message);
    res->epochs_done = sum.epochs_done;
    res->final = sum.final;
    res->best = sum.best;
    res->train_seconds = sum.train_seconds;
    res->total_seconds = sum.total_seconds;
    res->peak_rss_kb = sum.peak_rss_kb;
    rc = sum.status == PT_STATUS_COMPLETE ? 0 : 1;
done:
    if (rc < 0 && out) {
        /* Started but could not finish: say so in the folder, never leave "running". */
        pt_err ignored;
        sum.status = PT_STATUS_FAILED;
        snprintf(sum.message, sizeof sum.message, "%.500s", err && err->msg[0] ? err->msg : "error");
        pt_results_summary(out, &sum, &ignored);
    }
    pt_results_close(out);
    pt_trainer_free(tr);
    pt_optim_free(&opt);
    pt_placement_free(place);
    free(order);
    free(pred);
    free(confusion);
    free(placement_json);
    pt_setup_free(&su);
    return rc;
}
