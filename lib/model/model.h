/* model: a transformer (Llama, Mistral, Qwen2 or GPT-2) in memory: its
 * parameter table, forward pass (logits or loss) and backward pass.
 *
 * Memory by role: every parameter lives in ONE f32 block (m->params), each
 * tensor at an offset given by the table; gradients live in a second block
 * (m->grads) that holds only the trainable tensors; activations are
 * allocated once by ft_model_setup for a largest batch and never per step.
 *
 * Names and layouts are those of the family's Hugging Face checkpoints:
 * "model.layers.3.self_attn.q_proj.weight", every matrix [out, in] (GPT-2's
 * Conv1D weights are transposed at load and back at save; GPT-2 names always
 * carry "transformer." inside ft), q/k rows in the half-rotation layout.
 *
 * Lifecycle:
 *   m = ft_checkpoint_load(path)          (checkpoint.h), or ft_model_new(cfg)
 *   ft_model_set_trainable(m, id, 0/1)    optional; all trainable by default
 *   ft_model_setup(m, B, T, P, train)     buffers for batches up to B x T (+P)
 *   training:  ft_model_zero_grads, ft_model_step (forward + backward,
 *              gradients added into m->grads), read m->grads, update
 *              m->params in place (e.g. AdamW), repeat
 *   inference: ft_model_logits, ft_model_loss, ft_model_cache, or sample.h
 *   ft_model_free(m)
 *
 * Extension points (documented where they sit below):
 *   Freeze     trainable flags per tensor; frozen tensors get no gradient and
 *              no dW product, and backward stops below the lowest block that
 *              has anything to train (m->n_block_backward counts blocks run,
 *              m->n_weight_grads the dW products of linear layers).
 *   LoRA       every linear product goes through one function that knows the
 *              tensor id; an ft_linear_hook adds an adapter's term there.
 *   P-tuning   ft_prefix: per-layer key/value entries before the real tokens,
 *              an input of the forward pass, with gradients out.
 *   Training   ft_batch, ft_model_step with the global loss denominator.
 *
 * Threads: ft_threads_set (core/threads.h) before ft_model_setup. */
#ifndef FT_MODEL_MODEL_H
#define FT_MODEL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "model/config.h"

/* --- Parameter table ------------------------------------------------------ */

/* What a tensor is; block tensors have layer >= 0. */
enum ft_role {
    FT_ROLE_EMBED,       /* model.embed_tokens.weight, transformer.wte.weight [V, C] */
    FT_ROLE_POS,         /* transformer.wpe.weight [n_positions, C] */
    FT_ROLE_NORM1_W,     /* input_layernorm.weight, ln_1.weight [C] */
    FT_ROLE_NORM1_B,     /* ln_1.bias [C] */
    FT_ROLE_Q,           /* q_proj.weight [nh*hd, C] */
    FT_ROLE_K,           /* k_proj.weight [nkv*hd, C] */
    FT_ROLE_V,           /* v_proj.weight [nkv*hd, C] */
    FT_ROLE_Q_B,
    FT_ROLE_K_B,
    FT_ROLE_V_B,
    FT_ROLE_QKV,         /* GPT-2 attn.c_attn.weight [3C, C] (q, k, v rows) */
    FT_ROLE_QKV_B,       /* attn.c_attn.bias [3C] */
    FT_ROLE_O,           /* o_proj.weight, attn.c_proj.weight [C, nh*hd] */
    FT_ROLE_O_B,
    FT_ROLE_NORM2_W,     /* post_attention_layernorm.weight, ln_2.weight [C] */
    FT_ROLE_NORM2_B,
    FT_ROLE_GATE,        /* mlp.gate_proj.weight [H, C] */
    FT_ROLE_UP,          /* mlp.up_proj.weight [H, C], GPT-2 mlp.c_fc.weight [H, C] */
    FT_ROLE_GATE_B,
    FT_ROLE_UP_B,        /* GPT-2 mlp.c_fc.bias */
    FT_ROLE_DOWN,        /* mlp.down_proj.weight, GPT-2 mlp.c_proj.weight [C, H] */
    FT_ROLE_DOWN_B,
    FT_ROLE_NORM_W,      /* model.norm.weight, transformer.ln_f.weight [C] */
    FT_ROLE_NORM_B,
    FT_ROLE_HEAD,        /* lm_head.weight [V, C] (untied models only) */
    FT_ROLE_COUNT
};

typedef struct ft_tensor {
    char *name;          /* Hugging Face name, as inside ft */
    int ndim;            /* 1 or 2 */
    int shape[2];        /* ft's layout: [out, in] for matrices */
    size_t numel;
    size_t offset;       /* into m->params, in floats */
    size_t grad_offset;  /* into m->grads, in floats; valid when trainable and
                            ft_model_setup ran with train = 1 */
    int dtype;           /* storage type in its checkpoint (FT_DTYPE_*): saving
                            "as loaded" uses it */
    int trainable;       /* 1 unless frozen (default 1) */
    int layer;           /* block index, -1 for tensors outside the blocks */
    int role;            /* FT_ROLE_* */
    int conv1d;          /* stored [in, out] in checkpoint files (GPT-2) */
} ft_tensor;

/* --- Extension seams ------------------------------------------------------ */

/* LoRA seam. Every linear product of the model (the projections of every
 * block and the classifier) is computed by one function that knows the
 * weight's tensor id. When a hook is set it is called right after the base
 * product:
 *   forward:  out[N, ldo] (the product's columns start at out[0]) already
 *             holds inp·Wᵀ + b; add the adapter's term (s·(inp·Aᵀ)·Bᵀ).
 *             train is 1 inside ft_model_step (dropout may apply).
 *   backward: dout[N, ldo] is the gradient of the product's output; add the
 *             adapter's parameter gradients (dA, dB) and its term of dinp
 *             (dinp[N, C], row stride C). inp is the same input as in the
 *             forward call of this step.
 * ids of block products: FT_ROLE_Q/K/V/O/GATE/UP/DOWN and FT_ROLE_QKV; the
 * classifier calls with the id of lm_head, or of the embedding when tied,
 * once per chunk of rows (inp is then the chunk; with the classifier frozen
 * and two threads, two chunks at once from two threads: a hook must only
 * read its state for an id it does not adapt). min_layer tells the
 * backward pass the lowest block where the adapter has something to train
 * (n_layers: none), so it runs down that far even when the base is frozen. */
typedef struct ft_linear_hook {
    void *ctx;
    void (*forward)(void *ctx, int id, float *out, int ldo, const float *inp, int N,
                    int train);
    void (*backward)(void *ctx, int id, float *dinp, const float *dout, int ldo,
                     const float *inp, int N);
    int min_layer;
} ft_linear_hook;

/* P-tuning v2 seam, also the KV cache of generation: P key/value entries per
 * layer that every real token attends to before the real tokens (never
 * rotated here; real token t sits at position P + t, GPT-2's learned
 * positions too). Shared by all rows of a batch.
 *   kv    [L, 2, nkv, cap, hd]: layer l's keys start at kv + 2l·nkv·cap·hd,
 *         its values at kv + (2l+1)·nkv·cap·hd; entries [0, P) are used
 *   grad  same layout; the forward+backward pass adds d(loss)/d(kv) for the
 *         entries [0, P); NULL: no gradient wanted
 *   append when set (inference, B = 1), the forward pass also writes the
 *         batch's own keys (rotated) and values at entries [P, P+T): the
 *         caller then advances P by T, which makes this a KV cache
 *   rows  per-row caches (inference only; 0: the one cache above): for
 *         sequences of different lengths decoded together, or label rows
 *         each reading its text's cache. kv then holds `rows` caches of
 *         ft_prefix_floats(cfg, cap) floats one after another, each in the
 *         layout above; batch row b reads cache row[b] (row NULL: cache b),
 *         its first used[row[b]] entries (used NULL: P for all; never more
 *         than P, so P is at least the longest), and its real token t sits
 *         at position used[row[b]] + t. With append, B may exceed 1: row b
 *         writes its keys and values at entries [used, used+T) of its own
 *         cache (rows writing one cache would clash: the caller keeps them
 *         apart), and the caller then advances used. */
typedef struct ft_prefix {
    int P;
    int cap;
    float *kv;
    float *grad;
    int append;
    int rows;
    const int *row;     /* [B] */
    const int *used;    /* [rows] */
} ft_prefix;

/* Floats of an ft_prefix buffer with cap entries per kv head. */
size_t ft_prefix_floats(const ft_config *cfg, int cap);

/* A micro-batch, right-padded: row b's tokens at tokens[b*T .. b*T+T).
 * targets[b*T+t] is the token to predict after position t (the caller
 * shifts), -1 where there is no loss (padding, prompts). */
typedef struct ft_batch {
    int B, T;
    const int32_t *tokens;     /* [B, T] in [0, vocab) */
    const int32_t *targets;    /* [B, T] in [-1, vocab); NULL: no loss */
    const float *weights;      /* [B] per-example loss weights; NULL: all 1 */
    const ft_prefix *prefix;   /* NULL: none */
} ft_batch;

/* --- The model ------------------------------------------------------------ */

typedef struct ft_block_ids {
    int id[FT_ROLE_COUNT];     /* tensor id of each role in this block, or -1 */
} ft_block_ids;

typedef struct ft_model_run ft_model_run;

typedef struct ft_model {
    ft_config cfg;
    ft_tensor *tensors;        /* the parameter table, in checkpoint order */
    int n_tensors;
    float *params;             /* [n_params] every parameter */
    size_t n_params;
    float *grads;              /* [n_grads] trainable tensors only; NULL until
                                  ft_model_setup(train = 1) */
    size_t n_grads;
    ft_block_ids *blocks;      /* [n_layers] */
    int embed_id, pos_id;      /* tensor ids (pos_id -1 without learned positions) */
    int norm_w_id, norm_b_id;  /* final norm (norm_b_id -1 for RMSNorm) */
    int head_id;               /* the classifier: lm_head, or embed_id when tied */
    char *file_prefix;         /* GPT-2: "transformer." or "" as the file had it */
    ft_linear_hook hook;       /* LoRA seam; hook.forward NULL: none */
    int exact_rows;            /* 1: inference computes each row's products
                                  on its own (nn/rowmm.h, and the LoRA hook
                                  likewise): a row's logits are the same bits
                                  whatever rows share its batch and whatever
                                  the thread count; slower than BLAS on long
                                  inputs. Generation sets it. */
    long n_block_backward;     /* debug: blocks whose backward ran, ever */
    long n_weight_grads;       /* debug: dW products of linear layers run, ever */
    long n_tokens_forward;     /* debug: tokens (B·T, padding too) through the
                                  blocks, ever */
    ft_model_run *run;         /* buffers of ft_model_setup (private) */
} ft_model;

/* A model with the table of cfg and parameters all zero (ft_model_init_random
 * or a loader fills them). Takes ownership of cfg->json. */
ft_model *ft_model_new(ft_config *cfg, ft_err *err);
void ft_model_free(ft_model *m);

/* Random initialisation as Hugging Face does: matrices and embeddings
 * normal(0, std), norm weights 1, biases 0. Repeatable for a seed. */
void ft_model_init_random(ft_model *m, uint64_t seed, float std);

/* Tensor id by name ("transformer." optional for GPT-2), or -1. */
int ft_model_find(const ft_model *m, const char *name);
float *ft_model_param(ft_model *m, int id);
/* NULL when the tensor is frozen or grads are not allocated. */
float *ft_model_grad(ft_model *m, int id);

/* Freeze (0) or unfreeze (1) a tensor; takes effect at the next
 * ft_model_setup, which lays out the gradient block. */
void ft_model_set_trainable(ft_model *m, int id, int trainable);
/* Set the LoRA seam (NULL to remove). */
void ft_model_set_hook(ft_model *m, const ft_linear_hook *hook);

/* Allocate activations for batches of up to B rows of up to T tokens after
 * up to P prefix entries; train = 1 also keeps what backward needs and
 * allocates gradients (zeroed) for the trainable tensors. May be called again
 * to change sizes or after changing trainable flags (gradients are lost). */
int ft_model_setup(ft_model *m, int B, int T, int P, int train, ft_err *err);

void ft_model_zero_grads(ft_model *m);

/* Σ_b weight_b · (targets of row b that are not -1): a micro-batch's share of
 * the loss denominator. The training loop sums it over all micro-batches of
 * a global batch (and all ranks) and passes the total to ft_model_step. */
double ft_model_batch_denom(const ft_batch *b);

/* Forward and backward on a micro-batch (needs setup with train = 1): adds
 * d(loss)/d(param) into m->grads for trainable tensors (and into the
 * prefix's grad), where loss = Σ weight_b · CE(b, t) / denom over target
 * positions (DESIGN.md). *loss gets this micro-batch's share of it. */
int ft_model_step(ft_model *m, const ft_batch *b, double denom, double *loss, ft_err *err);

/* Forward only: Σ weight_b · CE and Σ weight_b over target positions, and
 * the per-position CE when token_loss [B, T] is not NULL (0 where no target).
 * Logits never exist whole. */
int ft_model_loss(ft_model *m, const ft_batch *b, float *token_loss, double *sum_wce,
                  double *sum_w, ft_err *err);

/* Forward only: logits. pos NULL: out [B, T, V] for every position; else
 * out [B, V] at position pos[b] of each row (e.g. its last real token). */
int ft_model_logits(ft_model *m, const ft_batch *b, const int *pos, float *out, ft_err *err);

/* Forward only, to fill a KV cache: b->prefix must append (ft_prefix);
 * every block's keys and values of the batch's tokens go to their entries,
 * and the pass stops there (the last block's attention and MLP, the final
 * norm and the classifier do not run: no output of this batch is wanted,
 * only later batches attending to it). b->targets is ignored. */
int ft_model_cache(ft_model *m, const ft_batch *b, ft_err *err);

#endif
