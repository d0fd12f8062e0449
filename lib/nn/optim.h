/* optim: AdamW, global-norm gradient clipping and learning-rate schedules,
 * computed exactly as PyTorch and Hugging Face do, so a trajectory of ft
 * follows one of torch.optim.AdamW + LambdaLR step for step.
 *
 * The optimiser knows nothing of models: it is given, tensor by tensor, a
 * parameter array, its gradient array and whether weight decay applies. Its
 * two moments live in one block each (m, v), holding entries only for the
 * tensors it was given (the trainable ones), in the order they were added.
 *
 * AdamW, per element, at update t = 1, 2, ... with learning rate lr:
 *     p -= lr * wd * p                       (decoupled decay, only if decay)
 *     m  = b1 * m + (1 - b1) * g
 *     v  = b2 * v + (1 - b2) * g * g
 *     p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * eps is added outside the square root, after the bias correction of v, as
 * torch.optim.AdamW does (not inside, not before correction). Arithmetic on
 * elements is in float with the scalar factors rounded to float, as torch's
 * kernels do; the scalar factors themselves are computed in double.
 *
 * Not here: which tensors train (the caller decides), the loss, the data. */
#ifndef FT_NN_OPTIM_H
#define FT_NN_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Weight-decay rule, the one Hugging Face's Trainer applies to the model
 * families ft supports: a tensor decays when it has two or more dimensions
 * (weight matrices, embeddings, LoRA matrices, prefixes), and never when it
 * has one (biases, and the weights of LayerNorm and RMSNorm, which are the
 * only one-dimensional weights of these models). */
int ft_optim_decays(int ndim);

/* One tensor the optimiser updates. */
typedef struct ft_adamw_slot {
    float *param;          /* n_elems values, updated in place */
    float *grad;           /* n_elems values; scaled in place by clipping */
    size_t n_elems;
    size_t moment_offset;  /* where its moments start in m and v */
    int decay;             /* 1: decoupled weight decay applies */
} ft_adamw_slot;

typedef struct ft_adamw {
    double beta1, beta2, eps, weight_decay;
    ft_adamw_slot *slots;
    size_t n_slots, cap_slots;
    float *m, *v;          /* first and second moments, n_elems each */
    size_t n_elems;        /* total over the slots */
    int64_t t;             /* updates done so far (torch's "step") */
} ft_adamw;

/* Start an optimiser with its hyper-parameters (torch's defaults are
 * 0.9, 0.999, 1e-8, 0.01). */
void ft_adamw_init(ft_adamw *o, double beta1, double beta2, double eps,
                   double weight_decay);
/* Add a tensor; the arrays are borrowed and must outlive the optimiser.
 * Call before ft_adamw_alloc. */
int ft_adamw_add(ft_adamw *o, float *param, float *grad, size_t n_elems, int decay,
                 ft_err *err);
/* Allocate the moments, zeroed, after the last ft_adamw_add. */
int ft_adamw_alloc(ft_adamw *o, ft_err *err);
/* One update with learning rate lr (t increases first, as in torch). */
void ft_adamw_step(ft_adamw *o, double lr);
void ft_adamw_free(ft_adamw *o);

/* The L2 norm of all the gradients together, summed in double in a fixed
 * order (the same bits for any thread count). */
double ft_adamw_grad_norm(const ft_adamw *o);

/* clip_grad_norm_: when max_norm > 0, scale every gradient by
 * min(1, max_norm / (norm + 1e-6)). Returns the norm before clipping
 * (what torch returns), which may be inf or nan: the caller checks. */
double ft_adamw_clip(ft_adamw *o, double max_norm);

/* Learning-rate schedules of Hugging Face's transformers.optimization,
 * as the factor LambdaLR multiplies the base rate by. The factor for the
 * update numbered step (0-based: the first update uses step 0) is
 *     warm-up  (step < warmup):  step / max(1, warmup)  -- so with any
 *              warm-up the very first update has rate 0, as in HF;
 *     constant: 1;
 *     linear:   max(0, (total - step) / max(1, total - warmup));
 *     cosine:   max(0, 0.5 * (1 + cos(pi * p))),
 *               p = (step - warmup) / max(1, total - warmup)
 * (get_constant_schedule_with_warmup, get_linear_schedule_with_warmup,
 * get_cosine_schedule_with_warmup with num_cycles 0.5). */
enum ft_sched_kind { FT_SCHED_CONSTANT, FT_SCHED_LINEAR, FT_SCHED_COSINE };

typedef struct ft_sched {
    int kind;
    int64_t warmup;        /* updates of linear warm-up */
    int64_t total;         /* updates in the whole run */
} ft_sched;

double ft_sched_factor(const ft_sched *s, int64_t step);
/* "constant", "linear" or "cosine" to a kind; -1 when unknown. */
int ft_sched_parse(const char *name);
const char *ft_sched_name(int kind);

#endif
