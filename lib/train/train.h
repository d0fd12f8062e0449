/* train: the training loop every method shares -- micro-batches, gradient
 * accumulation over a global batch, clipping, AdamW with a schedule,
 * evaluation with early stopping, checkpoints that resume exactly, the
 * progress line and the msgpack log.
 *
 * Legend: B rows per micro-batch (--batch-size), A micro-batches per update
 * (--grad-accum), T tokens per row (--seq-len), P prefix entries.
 *
 * What trains is a list of parameters (ft_train_param): the model's
 * trainable tensors, taken from its table when the trainer is made, plus
 * whatever a method adds with ft_trainer_add_param (LoRA matrices, prefix
 * tables). The optimiser, clipping and checkpoints see only that list, so a
 * frozen tensor has no gradient, no moments and no bytes in a checkpoint.
 *
 * One update (step s, 0-based; an epoch has ceil(rows / (B·A)) updates, the
 * last one possibly with fewer rows):
 *   rows = order(seed, epoch)[B·A·(s mod updates_per_epoch) ...]
 *   denom = Σ weight · targets over all A micro-batches   (DESIGN.md)
 *   zero gradients; for each micro-batch: hooks.before_micro, forward and
 *   backward with that denom; hooks.after_backward
 *   a non-finite loss or gradient norm stops the run (nothing updated)
 *   clip to --clip; AdamW at lr · schedule(s); hooks.after_update
 * so the loss of an update is the same for any A up to rounding.
 *
 * Checkpoints (--save-every K, and once on a stop request) are directories
 * CKPT_DIR/step-NNNNNNNN written atomically: state.safetensors (every
 * trained parameter "param.NAME" and its moments "exp_avg.NAME",
 * "exp_avg_sq.NAME", f32; with early stopping also "best.NAME", the values
 * at the best evaluation, restored when the run ends) and trainer_state.json
 * (step, epoch, position, random state, schedule, early stopping, hashes of
 * the stream and of the frozen weights, the options that shape the
 * trajectory). Frozen tensors are not stored: resuming needs the same base
 * (checked by hash).
 *
 * Not here: reading records into examples (data.h, the tasks), choosing
 * trainable tensors (freeze.h, the methods), writing the final model. */
#ifndef FT_TRAIN_TRAIN_H
#define FT_TRAIN_TRAIN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/rng.h"
#include "model/model.h"
#include "train/data.h"

typedef struct ft_train_opts {
    int batch_size;          /* B */
    int grad_accum;          /* A */
    int seq_len;             /* T: the longest row's len - 1 */
    int prefix_len;          /* P (P-tuning), 0 otherwise */
    int shuffle;             /* 1: a new order each epoch */
    int group_by_length;     /* rows sorted by length within runs of 50 global
                                batches (data.h: ft_rows_group) */
    int64_t epochs;          /* used when max_steps is 0 */
    int64_t max_steps;       /* 0: epochs decide */
    double lr, beta1, beta2, eps, weight_decay;
    double clip;             /* 0: no clipping */
    int sched;               /* FT_SCHED_* */
    int64_t warmup;          /* updates */
    uint64_t seed;
    const char *ckpt_dir;    /* where checkpoints go; NULL: nowhere (then a stop
                                request ends without one) */
    int64_t save_every;      /* 0: only on a stop request */
    int keep;                /* newest checkpoints kept; 0: all */
    const char *resume;      /* a checkpoint, or a folder of them (the newest) */
    int64_t eval_every;      /* 0: never (without eval data: ignored) */
    int patience;            /* evaluations without improvement before stopping;
                                0: no early stopping */
    double min_delta;        /* improvement that counts */
    const char *log_path;    /* msgpack log, NULL: none */
    int64_t log_every;       /* updates between log records (>= 1) */
    int progress;            /* -1 never, 0 on a terminal, 1 always */
    volatile sig_atomic_t *stop; /* set non-zero (by a signal handler) to ask for
                                    a checkpoint and a clean stop */
    /* After each evaluation (optional): the task's own measure of the
     * evaluation data, e.g. classify's accuracy by label scoring, logged
     * under eval_metric_name beside eval_loss (the model is set up for
     * training: the callback must not call ft_model_setup). */
    int (*eval_metric)(void *ctx, double *value, ft_err *err);
    void *eval_metric_ctx;
    const char *eval_metric_name;
    const char *plan_extra;  /* options of the method and task that must not
                                change across a resume ("method=freeze ..."),
                                compared verbatim */
} ft_train_opts;

/* The defaults of ft-train: B 8, A 1, T 256, shuffle, 1 epoch, lr 1e-4,
 * betas (0.9, 0.999), eps 1e-8, weight decay 0.01, clip 1, cosine, no
 * warm-up, seed 0, keep 2, log every update, min_delta 0. */
void ft_train_opts_default(ft_train_opts *o);

/* One tensor the optimiser updates. */
typedef struct ft_train_param {
    char *name;              /* unique: model tensors keep their HF names */
    float *param, *grad;     /* numel each; the trainer zeroes grad per update */
    size_t numel;
    int ndim;                /* decides weight decay (ft_optim_decays) */
    int shape[2];
    int external;            /* added by a method, not a model tensor */
} ft_train_param;

/* Method seams, all optional (NULL). rng is the trainer's random stream
 * (saved in checkpoints): draw dropout masks from it, in a fixed order. */
typedef struct ft_train_hooks {
    void *ctx;
    /* Before a micro-batch's forward pass (train = 1) or an evaluation
     * batch (train = 0): e.g. attach b->prefix. */
    int (*before_micro)(void *ctx, ft_batch *b, int train, ft_rng *rng, ft_err *err);
    /* After the last micro-batch's backward, before clipping: turn seam
     * gradients into parameter gradients (a prefix's projection MLP). */
    int (*after_backward)(void *ctx, ft_err *err);
    /* After each update (recompute derived tensors). */
    int (*after_update)(void *ctx, ft_err *err);
} ft_train_hooks;

/* Why ft_trainer_run returned 0 or FT_TRAIN_STOPPED. */
enum { FT_TRAIN_DONE = 0, FT_TRAIN_STOPPED = 1 };

typedef struct ft_trainer ft_trainer;

/* A trainer over model m (not owned; ft_model_setup is called here with
 * B, T, P and train = 1, after the method set trainable flags and hooks).
 * The data are borrowed and must outlive the trainer. */
ft_trainer *ft_trainer_new(ft_model *m, const ft_train_opts *o, ft_err *err);
void ft_trainer_free(ft_trainer *t);

/* A method's own trained tensor (before ft_trainer_prepare). */
int ft_trainer_add_param(ft_trainer *t, const char *name, float *param, float *grad,
                         int ndim, const int *shape, ft_err *err);
void ft_trainer_set_hooks(ft_trainer *t, const ft_train_hooks *h);

/* The training rows (and the stream's hash), and optional evaluation rows. */
void ft_trainer_set_data(ft_trainer *t, const ft_spool *s, const ft_row *rows,
                         size_t n_rows, uint64_t stream_hash);
void ft_trainer_set_eval(ft_trainer *t, const ft_spool *s, const ft_row *rows,
                         size_t n_rows);

/* Build the optimiser and the schedule, and resume when asked (after this,
 * the plan below is known). */
int ft_trainer_prepare(ft_trainer *t, ft_err *err);

/* The plan, after ft_trainer_prepare. */
typedef struct ft_train_plan {
    size_t n_rows;
    int64_t updates_per_epoch;
    int64_t total_updates;
    int64_t start_update;    /* > 0 after a resume */
    size_t n_params_total;   /* every model parameter */
    size_t n_params_trained; /* the optimiser's list, method tensors included */
    size_t n_tensors_trained;
    size_t mem_bytes;        /* estimated peak resident memory */
} ft_train_plan;
void ft_trainer_plan(const ft_trainer *t, ft_train_plan *p);

/* Run to the end: FT_TRAIN_DONE (finished, or stopped early by patience),
 * FT_TRAIN_STOPPED (a stop request; a checkpoint was written when a
 * checkpoint folder is set), or -1 (error: a non-finite loss says which
 * update and where the last good checkpoint is). With patience (early
 * stopping), a run that ends leaves the trained tensors at the values of
 * its best evaluation. */
int ft_trainer_run(ft_trainer *t, ft_err *err);

/* The path of the newest checkpoint written or resumed from (NULL: none). */
const char *ft_trainer_last_checkpoint(const ft_trainer *t);
/* Updates done, and the last evaluation loss (NAN: none). */
int64_t ft_trainer_step(const ft_trainer *t);
double ft_trainer_eval_loss(const ft_trainer *t);

/* Mean loss (Σ w·CE / Σ w over target positions) of rows, forward only. */
int ft_trainer_evaluate(ft_trainer *t, const ft_spool *s, const ft_row *rows,
                        size_t n_rows, double *loss, ft_err *err);

#endif
