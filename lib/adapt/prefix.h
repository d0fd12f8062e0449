/* prefix: P-tuning v2 (deep prompt tuning) -- N trainable key/value vectors
 * per layer and kv head, trained and stored as PEFT (0.12.0, the pinned
 * release) does prefix tuning.
 *
 * Legend: N virtual tokens, L layers, nkv kv heads, hd head size,
 * td = nkv·hd (PEFT's token_dim), W = L·2·td, H the MLP's hidden size.
 *   pe [N, W]  PEFT's prompt_embeddings: row n, column ((2l + kv)·nkv + h)·hd + i
 *              is layer l's key (kv 0) or value (kv 1), head h, dimension i
 *   kv         the model's seam (model.h: ft_prefix) [L, 2, nkv, N, hd]
 * Without projection pe is the trainable tensor itself (PEFT's PrefixEncoder
 * embedding). With projection H (the P-tuning v2 reparameterisation):
 *   E [N, td] -> a = tanh(E·W0ᵀ + b0) [N, H] -> pe = a·W2ᵀ + b2
 * with W0 [H, td], b0 [H], W2 [W, H], b2 [W]; only E, W0, b0, W2, b2 train.
 * Dropout (P-tuning v2's prefix dropout, not a PEFT key) applies to the keys
 * and values during training: one mask per micro-batch, shared by its rows,
 * since the model's prefix is shared by all rows of a batch.
 *
 * Files (a directory): adapter_config.json with PEFT 0.12.0's prefix-tuning
 * keys and adapter_model.safetensors with the one tensor prompt_embeddings
 * (F32), which is all PEFT stores, also with projection (the MLP's output).
 * With projection ft also writes prefix_encoder.safetensors with the MLP as
 * PEFT names it (prompt_encoder.embedding.weight, prompt_encoder.transform.0.
 * weight/.bias, prompt_encoder.transform.2.weight/.bias), so training can
 * continue through the MLP; PEFT ignores that file.
 *
 * Not here: the training loop (train/), which calls the three hooks below. */
#ifndef FT_ADAPT_PREFIX_H
#define FT_ADAPT_PREFIX_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/rng.h"
#include "model/model.h"

/* What to build or expect. With ft_prefix_load, fields left at -1 are taken
 * from the adapter; others must match it. */
typedef struct ft_prefix_opts {
    int n_virtual;            /* N >= 1 (num_virtual_tokens) */
    int projection;           /* H >= 1: the MLP's hidden size; 0: none */
    double dropout;           /* on the keys and values in training, [0, 1) */
} ft_prefix_opts;

/* n_virtual -1, projection -1 ("from the adapter"), dropout 0. */
void ft_prefix_opts_default(ft_prefix_opts *o);

/* A trainable tensor, under PEFT's name. */
typedef struct ft_prefix_tensor {
    const char *name;
    float *param, *grad;      /* grad NULL until ft_prefix_setup_train */
    size_t numel;
    int ndim;
    int shape[2];
} ft_prefix_tensor;

typedef struct ft_prefix_adapter {
    int N, L, nkv, hd, td, W, H;
    double dropout;
    int peft_output_only;     /* loaded from PEFT files with projection but no MLP:
                                 usable for inference only */
    float *params, *grads;    /* [n_params] each: the trainable tensors, in order */
    size_t n_params;
    ft_prefix_tensor t[5];    /* pe alone, or E, W0, b0, W2, b2 */
    int n_t;
    float *pe;                /* [N, W]: = t[0].param without projection */
    float *act;               /* [N, H] tanh output (projection) */
    float *dpe;               /* [N, W] gradient of pe (= t[0].grad without projection) */
    float *dact;              /* [N, H] scratch of the MLP backward */
    float *mask;              /* [L·2·nkv·N·hd] dropout scales, kv layout */
    ft_prefix seam;           /* kv [L, 2, nkv, N, hd] and its gradient */
    int dirty;                /* parameters changed since pe was computed */
    int pending;              /* seam.grad holds a micro-batch's gradient */
    int masked;               /* the last fill used the mask */
} ft_prefix_adapter;

/* A new prefix for the model of cfg, initialised as PEFT's PrefixEncoder is
 * by torch: embeddings normal(0, 1), Linear weights and biases
 * U(±1/√fan_in), drawn from seed in the order E, W0, b0, W2, b2. Errors: N < 1,
 * N not below the context (max_position_embeddings), H < 0, dropout out of
 * range. */
ft_prefix_adapter *ft_prefix_new(const ft_config *cfg, const ft_prefix_opts *o,
                                 uint64_t seed, ft_err *err);

/* Load a PEFT prefix-tuning adapter directory for the model of cfg. o (NULL:
 * no expectation) gives the length and projection asked for: a mismatch is
 * one error naming both values, as is a layer count, kv-head count or width
 * that differs from the model's. Loads prefix_encoder.safetensors when the
 * adapter is projected and the file is there; a projected adapter without
 * it (as PEFT writes them) loads for inference (peft_output_only) and is an
 * error when o asks for a projection (it cannot train through an MLP it does
 * not have). o->dropout is taken as given. */
ft_prefix_adapter *ft_prefix_load(const ft_config *cfg, const char *dir,
                                  const ft_prefix_opts *o, ft_err *err);

void ft_prefix_free(ft_prefix_adapter *a);

/* Gradients (zeroed) for training. */
int ft_prefix_setup_train(ft_prefix_adapter *a, ft_err *err);

/* Start a prefix without projection as the keys and values the model itself
 * computes for ids[0..n) (n = a->N, rotated at positions 0..n-1 as a KV
 * cache holds them): before any update the frozen model then reads every
 * row as if those tokens came first, a hard prompt, instead of through
 * random keys (Li and Liang initialise prefix tuning from real words'
 * activations for the same reason). Sets m up for inference of one row:
 * set it up again before training. */
int ft_prefix_init_tokens(ft_prefix_adapter *a, ft_model *m, const int32_t *ids, int n,
                          ft_err *err);

/* The prefix for a forward pass: pe from the parameters when they changed,
 * then the seam's keys and values from pe; with rng (training, dropout > 0)
 * a fresh dropout mask is drawn from it. Inference passes rng NULL. The
 * returned seam (owned by a) has a gradient buffer after setup_train. */
ft_prefix *ft_prefix_seam(ft_prefix_adapter *a, ft_rng *rng);

/* After the backward passes of an update: the seam's gradient (through the
 * mask and, with projection, the MLP) added into the parameter gradients;
 * the seam's gradient is zeroed again. */
void ft_prefix_backward(ft_prefix_adapter *a);

/* Tell a that its parameters changed (after an optimiser update or a
 * resume), so the next ft_prefix_seam recomputes pe. */
void ft_prefix_touch(ft_prefix_adapter *a);

/* The trainer's hooks (train/train.h: ft_train_hooks), ctx = the adapter:
 * before_micro attaches the seam to the batch (dropout only when training),
 * after_backward is ft_prefix_backward, after_update is ft_prefix_touch. */
int ft_prefix_hook_before_micro(void *ctx, ft_batch *b, int train, ft_rng *rng,
                                ft_err *err);
int ft_prefix_hook_after_backward(void *ctx, ft_err *err);
int ft_prefix_hook_after_update(void *ctx, ft_err *err);

/* Load dir for m and compute its keys and values: the entry point of
 * programs that take -a (ft-gen, ft-label, ft-eval), which then pass
 * ft_prefix_seam(a, NULL) as the batch's (or generation's) prefix. */
ft_prefix_adapter *ft_prefix_apply(const ft_model *m, const char *dir, ft_err *err);

/* Write the adapter into the directory dir (atomically; refused when it
 * exists unless force): adapter_config.json (PEFT 0.12.0's 13 prefix-tuning
 * keys, sorted, indent 2, inference_mode true), adapter_model.safetensors
 * (prompt_embeddings, F32) and, with projection, prefix_encoder.safetensors.
 * base_name goes into base_model_name_or_path (NULL: null); meta is NULL or
 * a NULL-terminated key, value list added to the safetensors __metadata__
 * beside "format": "pt". */
int ft_prefix_save(ft_prefix_adapter *a, const char *dir, int force,
                   const char *base_name, const char *const *meta, ft_err *err);

/* The same files into an existing directory (not atomic). */
int ft_prefix_write_files(ft_prefix_adapter *a, const char *dir, const char *base_name,
                          const char *const *meta, ft_err *err);

#endif
