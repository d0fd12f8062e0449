/* train: the loop (see train.h); checkpoints are in ckpt.c. */
#define _GNU_SOURCE
#include "train/train.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/hash.h"
#include "train/train_impl.h"

/* The trainer's random stream, apart from the shuffles' (data.h). */
#define TRAIN_RNG_STREAM 0x545241494e000000ULL

void ft_train_opts_default(ft_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->batch_size = 8;
    o->grad_accum = 1;
    o->seq_len = 256;
    o->shuffle = 1;
    o->epochs = 1;
    o->lr = 1e-4;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    o->weight_decay = 0.01;
    o->clip = 1.0;
    o->sched = FT_SCHED_COSINE;
    o->keep = 2;
    o->log_every = 1;
}

/* Resident memory now (Linux /proc/self/statm), bytes. */
static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size, resident = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* Heap bytes in use (small blocks and mapped large ones). */
static size_t heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static int push_param(ft_trainer *t, const char *name, float *param, float *grad,
                      size_t numel, int ndim, const int *shape, int external,
                      ft_err *err)
{
    if (ft_grow(&t->params, &t->cap_params, t->n_params + 1, sizeof *t->params, err) < 0)
        return -1;
    ft_train_param *p = &t->params[t->n_params];
    memset(p, 0, sizeof *p);
    if (!(p->name = ft_strdup(name, err)))
        return -1;
    p->param = param;
    p->grad = grad;
    p->numel = numel;
    p->ndim = ndim;
    p->shape[0] = shape[0];
    p->shape[1] = ndim > 1 ? shape[1] : 1;
    p->external = external;
    t->n_params++;
    return 0;
}

ft_trainer *ft_trainer_new(ft_model *m, const ft_train_opts *o, ft_err *err)
{
    ft_trainer *t = ft_calloc(1, sizeof *t, err);
    if (!t)
        return NULL;
    t->m = m;
    t->o = *o;
    t->log_fd = -1;
    t->best_eval = t->last_eval = NAN;
    t->order_epoch = -1;
    if (o->batch_size < 1 || o->grad_accum < 1 || o->seq_len < 1 || o->log_every < 1) {
        ft_err_set(err, "batch size, accumulation, sequence length and log interval "
                   "must be at least 1");
        free(t);
        return NULL;
    }

    /* The model's buffers for B x T (+P), measured for the memory estimate. */
    t->rss_before_bytes = rss_bytes();
    size_t heap0 = heap_bytes();
    size_t bt = (size_t)o->batch_size * (size_t)o->seq_len;
    if (ft_model_setup(m, o->batch_size, o->seq_len, o->prefix_len, 1, err) < 0 ||
        !(t->tokens = ft_malloc(bt * sizeof *t->tokens, err)) ||
        !(t->targets = ft_malloc(bt * sizeof *t->targets, err)) ||
        !(t->weights = ft_malloc((size_t)o->batch_size * sizeof *t->weights, err))) {
        ft_trainer_free(t);
        return NULL;
    }
    t->alloc_bytes = heap_bytes() - heap0;

    /* The model's trainable tensors, in table order. */
    for (int i = 0; i < m->n_tensors; i++) {
        const ft_tensor *x = &m->tensors[i];
        if (!x->trainable)
            continue;
        if (push_param(t, x->name, ft_model_param(m, i), ft_model_grad(m, i), x->numel,
                       x->ndim, x->shape, 0, err) < 0) {
            ft_trainer_free(t);
            return NULL;
        }
    }
    return t;
}

void ft_trainer_free(ft_trainer *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_params; i++)
        free(t->params[i].name);
    free(t->params);
    ft_adamw_free(&t->opt);
    free(t->order);
    free(t->best);
    free(t->tokens);
    free(t->targets);
    free(t->weights);
    free(t->last_ckpt);
    if (t->log) {
        ft_err e;
        ft_writer_close(t->log, &e);
    }
    if (t->log_fd >= 0)
        close(t->log_fd);
    free(t);
}

int ft_trainer_add_param(ft_trainer *t, const char *name, float *param, float *grad,
                         int ndim, const int *shape, ft_err *err)
{
    size_t numel = (size_t)shape[0] * (ndim > 1 ? (size_t)shape[1] : 1);
    for (size_t i = 0; i < t->n_params; i++)
        if (!strcmp(t->params[i].name, name))
            return ft_err_set(err, "a trained tensor called %s exists already", name);
    return push_param(t, name, param, grad, numel, ndim, shape, 1, err);
}

void ft_trainer_set_hooks(ft_trainer *t, const ft_train_hooks *h)
{
    t->hooks = *h;
}

void ft_trainer_set_data(ft_trainer *t, const ft_spool *s, const ft_row *rows,
                         size_t n_rows, uint64_t stream_hash)
{
    t->spool = s;
    t->rows = rows;
    t->n_rows = n_rows;
    t->stream_hash = stream_hash;
}

void ft_trainer_set_eval(ft_trainer *t, const ft_spool *s, const ft_row *rows,
                         size_t n_rows)
{
    t->eval_spool = s;
    t->eval_rows = rows;
    t->n_eval_rows = n_rows;
}

/* XXH64 over the values of every frozen model tensor, in table order. */
static uint64_t frozen_hash(const ft_model *m)
{
    ft_hasher *h = ft_hasher_new(0);
    uint64_t v;
    if (!h)
        return 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const ft_tensor *x = &m->tensors[i];
        if (!x->trainable)
            ft_hasher_update(h, m->params + x->offset, x->numel * sizeof(float));
    }
    v = ft_hasher_digest(h);
    ft_hasher_free(h);
    return v;
}

static int open_log(ft_trainer *t, ft_err *err)
{
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (t->start_step > 0 ? O_APPEND : O_TRUNC);

    /* A resumed run appends to the log of the run it continues. */
    t->log_fd = open(t->o.log_path, flags, 0666);
    if (t->log_fd < 0)
        return ft_err_errno(err, t->o.log_path);
    t->log = ft_writer_open(t->log_fd, t->o.log_path, 1, err);
    return t->log ? 0 : -1;
}

int ft_trainer_prepare(ft_trainer *t, ft_err *err)
{
    const ft_train_opts *o = &t->o;
    int64_t global = (int64_t)o->batch_size * o->grad_accum;

    if (!t->rows || t->n_rows == 0)
        return ft_err_set(err, "no training rows (every record was empty or too short)");
    if (t->n_params == 0)
        return ft_err_set(err, "nothing to train: every tensor is frozen");

    /* The plan: updates per epoch, in all. */
    t->per_epoch = ((int64_t)t->n_rows + global - 1) / global;
    t->total = o->max_steps > 0 ? o->max_steps : o->epochs * t->per_epoch;
    t->sched = (ft_sched){o->sched, o->warmup, t->total};

    /* AdamW over the trained tensors, decay by ndim (optim.h). */
    size_t heap0 = heap_bytes();
    ft_adamw_init(&t->opt, o->beta1, o->beta2, o->eps, o->weight_decay);
    for (size_t i = 0; i < t->n_params; i++) {
        ft_train_param *p = &t->params[i];
        if (ft_adamw_add(&t->opt, p->param, p->grad, p->numel, ft_optim_decays(p->ndim),
                         err) < 0)
            return -1;
    }
    if (ft_adamw_alloc(&t->opt, err) < 0)
        return -1;
    if (!(t->order = ft_malloc(t->n_rows * sizeof *t->order, err)))
        return -1;
    /* Early stopping ends with the best weights evaluated (as Hugging Face's
     * EarlyStoppingCallback with load_best_model_at_end): a copy of them. */
    if (t->eval_rows && o->eval_every > 0 && o->patience > 0 &&
        !(t->best = ft_calloc(t->opt.n_elems ? t->opt.n_elems : 1, sizeof *t->best, err)))
        return -1;
    t->alloc_bytes += heap_bytes() - heap0;

    /* The estimate: resident before the buffers, every buffer touched, the
     * spooled tokens mapped in. */
    t->mem_bytes = t->rss_before_bytes + t->alloc_bytes;
    t->mem_bytes += (size_t)ft_spool_n_tokens(t->spool) * (sizeof(int32_t) +
                                                           (ft_spool_mask(t->spool) ? 1 : 0));
    if (t->eval_spool)
        t->mem_bytes += (size_t)ft_spool_n_tokens(t->eval_spool) * sizeof(int32_t);

    ft_rng_seed(&t->rng, o->seed, TRAIN_RNG_STREAM);
    t->frozen_hash = frozen_hash(t->m);
    if (o->resume && ft_trainer_load(t, err) < 0)
        return -1;
    t->prepared = 1;
    return 0;
}

void ft_trainer_plan(const ft_trainer *t, ft_train_plan *p)
{
    memset(p, 0, sizeof *p);
    p->n_rows = t->n_rows;
    p->updates_per_epoch = t->per_epoch;
    p->total_updates = t->total;
    p->start_update = t->start_step;
    p->n_params_total = t->m->n_params;
    for (size_t i = 0; i < t->n_params; i++)
        p->n_params_trained += t->params[i].numel;
    p->n_tensors_trained = t->n_params;
    p->mem_bytes = t->mem_bytes;
}

const char *ft_trainer_last_checkpoint(const ft_trainer *t)
{
    return t->last_ckpt;
}

int64_t ft_trainer_step(const ft_trainer *t)
{
    return t->step;
}

double ft_trainer_eval_loss(const ft_trainer *t)
{
    return t->last_eval;
}

/* --- One update ------------------------------------------------------------ */

static void zero_grads(ft_trainer *t)
{
    ft_model_zero_grads(t->m);
    for (size_t i = 0; i < t->n_params; i++)
        if (t->params[i].external)
            memset(t->params[i].grad, 0, t->params[i].numel * sizeof(float));
}

/* The longest row among pick[0..n) less one: the micro-batch's T. */
static int batch_T(const ft_row *rows, const uint32_t *pick, int n)
{
    int T = 1;
    for (int b = 0; b < n; b++)
        if ((int)rows[pick[b]].len - 1 > T)
            T = (int)rows[pick[b]].len - 1;
    return T;
}

/* Forward and backward over the global batch of update t->step: the rows
 * order[first .. first + n), in micro-batches of B. *loss is the update's
 * loss, *tokens the input tokens it saw. */
static int accumulate(ft_trainer *t, size_t first, size_t n, double *loss,
                      uint64_t *tokens, ft_err *err)
{
    const ft_train_opts *o = &t->o;
    const uint32_t *pick = t->order + first;
    double denom = 0;

    /* DESIGN.md: one denominator over every micro-batch of the update. */
    for (size_t i = 0; i < n; i++) {
        const ft_row *r = &t->rows[pick[i]];
        denom += (double)r->weight * r->n_targets;
        *tokens += r->len - 1;
    }
    if (denom <= 0)
        denom = 1; /* every weight 0: the loss and its gradient are 0 */

    zero_grads(t);
    *loss = 0;
    for (size_t lo = 0; lo < n; lo += (size_t)o->batch_size) {
        int nb = (int)(n - lo < (size_t)o->batch_size ? n - lo : (size_t)o->batch_size);
        int T = batch_T(t->rows, pick + lo, nb);
        double part;
        ft_batch b = {nb, T, t->tokens, t->targets, t->weights, NULL};

        ft_batch_fill(t->spool, t->rows, pick + lo, nb, nb, T, t->tokens, t->targets,
                      t->weights);
        if (t->hooks.before_micro &&
            t->hooks.before_micro(t->hooks.ctx, &b, 1, &t->rng, err) < 0)
            return -1;
        if (ft_model_step(t->m, &b, denom, &part, err) < 0)
            return -1;
        *loss += part;
    }
    if (t->hooks.after_backward && t->hooks.after_backward(t->hooks.ctx, err) < 0)
        return -1;
    return 0;
}

static const char *where_saved(const ft_trainer *t)
{
    return t->last_ckpt ? t->last_ckpt : "(none was written)";
}

/* --- Evaluation, log, progress ------------------------------------------- */

int ft_trainer_evaluate(ft_trainer *t, const ft_spool *s, const ft_row *rows,
                        size_t n_rows, double *loss, ft_err *err)
{
    int B = t->o.batch_size;
    uint32_t *pick = ft_malloc((size_t)B * sizeof *pick, err);
    double sum_wce = 0, sum_w = 0;

    if (!pick)
        return -1;
    for (size_t lo = 0; lo < n_rows; lo += (size_t)B) {
        int nb = (int)(n_rows - lo < (size_t)B ? n_rows - lo : (size_t)B);
        double a, w;
        for (int b = 0; b < nb; b++)
            pick[b] = (uint32_t)(lo + (size_t)b);
        int T = batch_T(rows, pick, nb);
        ft_batch batch = {nb, T, t->tokens, t->targets, t->weights, NULL};
        ft_batch_fill(s, rows, pick, nb, nb, T, t->tokens, t->targets, t->weights);
        if ((t->hooks.before_micro &&
             t->hooks.before_micro(t->hooks.ctx, &batch, 0, &t->rng, err) < 0) ||
            ft_model_loss(t->m, &batch, NULL, &a, &w, err) < 0) {
            free(pick);
            return -1;
        }
        sum_wce += a;
        sum_w += w;
    }
    free(pick);
    *loss = sum_w > 0 ? sum_wce / sum_w : NAN;
    return 0;
}

/* Evaluate and update the early-stopping state; 1 when patience ran out. */
static int eval_step(ft_trainer *t, ft_err *err)
{
    double loss;

    if (ft_trainer_evaluate(t, t->eval_spool, t->eval_rows, t->n_eval_rows, &loss, err) < 0)
        return ft_err_prefix(err, "evaluation after update %lld", (long long)t->step);
    t->last_eval = loss;
    if (t->o.eval_metric &&
        t->o.eval_metric(t->o.eval_metric_ctx, &t->last_metric, err) < 0)
        return ft_err_prefix(err, "evaluation after update %lld", (long long)t->step);
    if (isnan(t->best_eval) || loss < t->best_eval - t->o.min_delta) {
        t->best_eval = loss;
        t->best_step = t->step;
        t->bad_evals = 0;
        for (size_t i = 0; t->best && i < t->n_params; i++)
            memcpy(t->best + t->opt.slots[i].moment_offset, t->params[i].param,
                   t->params[i].numel * sizeof(float));
        return 0;
    }
    t->bad_evals++;
    return t->o.patience > 0 && t->bad_evals >= t->o.patience;
}

static int log_update(ft_trainer *t, double loss, double lr, double norm, double tok_s,
                      int evaluated, ft_err *err)
{
    ft_rec_builder b;
    int rc;

    ft_rec_init(&b);
    ft_rec_int(&b, "step", t->step);
    ft_rec_double(&b, "epoch", (double)t->step / (double)t->per_epoch);
    ft_rec_double(&b, "loss", loss);
    ft_rec_double(&b, "lr", lr);
    ft_rec_double(&b, "grad_norm", norm);
    ft_rec_int(&b, "tokens", (int64_t)t->tokens_seen);
    ft_rec_double(&b, "tokens_per_s", tok_s);
    ft_rec_double(&b, "elapsed_s", ft_progress_elapsed(&t->prog));
    if (evaluated)
        ft_rec_double(&b, "eval_loss", t->last_eval);
    if (evaluated && t->o.eval_metric)
        ft_rec_double(&b, t->o.eval_metric_name, t->last_metric);
    rc = ft_writer_put(t->log, &b, err);
    if (rc == 0)
        rc = ft_writer_flush(t->log, err);
    ft_rec_free(&b);
    return rc;
}

static void draw(ft_trainer *t, double loss, double lr, double norm, double tok_s,
                 int force)
{
    char ev[32] = "", eta[32] = "?";
    double left = tok_s > 0 ? (double)(t->total - t->step) *
                                  (ft_progress_elapsed(&t->prog) /
                                   (double)(t->step - t->start_step))
                            : -1;

    if (!isnan(t->last_eval))
        snprintf(ev, sizeof ev, " eval %.4f", t->last_eval);
    if (left >= 0)
        snprintf(eta, sizeof eta, "%d:%02d:%02d", (int)(left / 3600),
                 (int)fmod(left / 60, 60), (int)fmod(left, 60));
    ft_progress_draw(&t->prog, force,
                     "step %lld/%lld loss %.4f%s lr %.3g gnorm %.3g %.0f tok/s ETA %s",
                     (long long)t->step, (long long)t->total, loss, ev, lr, norm, tok_s,
                     eta);
}

/* --- The loop -------------------------------------------------------------- */

int ft_trainer_run(ft_trainer *t, ft_err *err)
{
    const ft_train_opts *o = &t->o;
    size_t global = (size_t)o->batch_size * (size_t)o->grad_accum;
    uint64_t run_tokens = 0;
    int rc = FT_TRAIN_DONE;

    if (!t->prepared)
        return ft_err_set(err, "the trainer was not prepared");
    if (o->log_path && open_log(t, err) < 0)
        return -1;
    ft_progress_init(&t->prog, o->progress);

    while (t->step < t->total) {
        double loss, norm, lr;
        uint64_t tokens = 0;

        /* A stop request: one checkpoint of the state so far, then out. */
        if (o->stop && *o->stop) {
            if (o->ckpt_dir && ft_trainer_save(t, err) < 0)
                return -1;
            rc = FT_TRAIN_STOPPED;
            break;
        }

        /* Where the update's rows lie: epoch, then its place in the epoch. */
        int64_t epoch = t->step / t->per_epoch;
        size_t first = (size_t)(t->step % t->per_epoch) * global;
        size_t n = t->n_rows - first < global ? t->n_rows - first : global;
        if (epoch != t->order_epoch) {
            ft_rows_order(t->n_rows, o->seed, epoch, o->shuffle, t->order);
            if (o->group_by_length)
                ft_rows_group(t->rows, t->n_rows,
                              (size_t)50 * o->batch_size * o->grad_accum, t->order);
            t->order_epoch = epoch;
        }

        if (accumulate(t, first, n, &loss, &tokens, err) < 0)
            return ft_err_prefix(err, "update %lld", (long long)t->step + 1);
        if (!isfinite(loss))
            return ft_err_set(err, "update %lld: the loss is %s; nothing was updated; "
                              "the last good checkpoint is %s", (long long)t->step + 1,
                              isnan(loss) ? "nan" : "infinite", where_saved(t));

        /* Clip, then AdamW at the scheduled rate. */
        norm = ft_adamw_clip(&t->opt, o->clip);
        if (!isfinite(norm))
            return ft_err_set(err, "update %lld: the gradient norm is %s; nothing was "
                              "updated; the last good checkpoint is %s",
                              (long long)t->step + 1, isnan(norm) ? "nan" : "infinite",
                              where_saved(t));
        lr = o->lr * ft_sched_factor(&t->sched, t->step);
        ft_adamw_step(&t->opt, lr);
        if (t->hooks.after_update && t->hooks.after_update(t->hooks.ctx, err) < 0)
            return -1;
        t->step++;
        t->tokens_seen += tokens;
        run_tokens += tokens;

        /* Evaluation, early stopping, log, progress, checkpoint. */
        int evaluated = 0, patience_out = 0;
        if (t->eval_rows && o->eval_every > 0 &&
            (t->step % o->eval_every == 0 || t->step == t->total)) {
            if ((patience_out = eval_step(t, err)) < 0)
                return -1;
            evaluated = 1;
        }
        double elapsed = ft_progress_elapsed(&t->prog);
        double tok_s = elapsed > 0 ? (double)run_tokens / elapsed : 0;
        int last = t->step == t->total || patience_out;
        if (t->log && (t->step % o->log_every == 0 || evaluated || last) &&
            log_update(t, loss, lr, norm, tok_s, evaluated, err) < 0)
            return -1;
        draw(t, loss, lr, norm, tok_s, last);
        if (o->ckpt_dir && o->save_every > 0 && t->step % o->save_every == 0 &&
            ft_trainer_save(t, err) < 0)
            return -1;
        if (patience_out)
            break;
    }
    ft_progress_end(&t->prog);
    if (t->log && ft_writer_flush(t->log, err) < 0)
        return -1;

    /* A finished run with early stopping keeps the best weights evaluated. */
    if (rc == FT_TRAIN_DONE && t->best && !isnan(t->best_eval) && t->best_step != t->step) {
        for (size_t i = 0; i < t->n_params; i++)
            memcpy(t->params[i].param, t->best + t->opt.slots[i].moment_offset,
                   t->params[i].numel * sizeof(float));
        if (t->hooks.after_update && t->hooks.after_update(t->hooks.ctx, err) < 0)
            return -1;
    }
    return rc;
}
