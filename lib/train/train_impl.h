/* train_impl: the trainer's insides, shared by the loop (train.c) and the
 * checkpoints (ckpt.c) only. Not a public header. */
#ifndef FT_TRAIN_TRAIN_IMPL_H
#define FT_TRAIN_TRAIN_IMPL_H

#include "core/progress.h"
#include "data/records.h"
#include "nn/optim.h"
#include "train/train.h"

struct ft_trainer {
    ft_model *m;
    ft_train_opts o;
    ft_train_hooks hooks;

    /* What trains: model tensors first (table order), then a method's. */
    ft_train_param *params;
    size_t n_params, cap_params;

    /* Data. */
    const ft_spool *spool;
    const ft_row *rows;
    size_t n_rows;
    uint64_t stream_hash;
    const ft_spool *eval_spool;
    const ft_row *eval_rows;
    size_t n_eval_rows;

    /* Optimisation and position. */
    ft_adamw opt;
    ft_sched sched;
    int64_t per_epoch, total;
    int64_t step;               /* updates done */
    int64_t start_step;         /* where this run began (resume) */
    uint32_t *order;            /* the rows' order in epoch order_epoch */
    int64_t order_epoch;
    ft_rng rng;                 /* the methods' random stream (dropout) */
    uint64_t frozen_hash;       /* of every frozen model tensor's values */
    uint64_t tokens_seen;       /* input tokens of every update so far */

    /* Early stopping. */
    double best_eval;           /* NAN: no evaluation yet */
    int64_t best_step;
    int bad_evals;
    double last_eval;
    double last_metric;         /* o.eval_metric's value at the last evaluation */
    float *best;                /* with patience: the trained values at best_step,
                                   laid out as the optimiser's moments; else NULL */

    /* One micro-batch, B x T. */
    int32_t *tokens, *targets;
    float *weights;

    /* People and files. */
    char *last_ckpt;
    size_t mem_bytes;
    size_t rss_before_bytes;    /* resident before the model's buffers */
    size_t alloc_bytes;         /* heap bytes the trainer's setup added */
    ft_progress prog;
    int log_fd;
    ft_writer *log;
    int prepared;
};

/* The options that shape the trajectory, as a JSON object text (owned by
 * the caller), compared on resume. */
char *ft_trainer_options_json(const ft_trainer *t, ft_err *err);
/* Write a checkpoint for the current state; sets t->last_ckpt. */
int ft_trainer_save(ft_trainer *t, ft_err *err);
/* Restore the state from opts.resume. */
int ft_trainer_load(ft_trainer *t, ft_err *err);

#endif
