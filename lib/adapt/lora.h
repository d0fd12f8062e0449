/* lora: low-rank adapters on a model's linear products, trained and stored
 * exactly as PEFT (0.12.0, the pinned release) does.
 *
 * An adapted module with weight W [out, in] gains A [r, in] and B [out, r];
 * its product becomes y = x·Wᵀ + b + s·(drop(x)·Aᵀ)·Bᵀ with s = alpha/r, or
 * alpha/√r with rsLoRA. The adapter sits in the model's LoRA seam
 * (model.h: ft_linear_hook), so the base is never changed ("unmerged").
 *
 * Legend: N rows (tokens), in/out the module's features, r the rank.
 *   forward   xa[N, r] = drop(x)·Aᵀ (kept for backward), y += s·xa·Bᵀ
 *   backward  dB += s·dyᵀ·xa, g = s·dy·B [N, r], dA += gᵀ·drop(x),
 *             dx += drop'(g·A)
 *
 * Module paths are the Hugging Face module names inside ft (a weight's name
 * without ".weight": "model.layers.0.self_attn.q_proj",
 * "transformer.h.0.attn.c_attn"); PEFT's tensors are
 * "base_model.model.<path>.lora_A.weight" [r, in] and ".lora_B.weight"
 * [out, r], for GPT-2's Conv1D too (fan_in_fan_out only transposes the base).
 *
 * Targets: a comma list of module names (PEFT's rule: a path equal to a name
 * or ending in "." + name), "all-linear" (every block projection, not the
 * classifier), or else a PCRE2 regex that must match a whole path (PEFT's
 * re.fullmatch). NULL takes PEFT's default per family: q_proj,v_proj for
 * Llama, Mistral and Qwen2; c_attn for GPT-2.
 *
 * Memory by role: A and B of every module in one block (params), their
 * gradients in a second (grads, only after ft_lora_setup_train).
 *
 * Not here: the training loop (train/), merging into weights (ft-merge). */
#ifndef FT_ADAPT_LORA_H
#define FT_ADAPT_LORA_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/rng.h"
#include "model/model.h"

typedef struct ft_lora_opts {
    int r;                   /* rank >= 1 */
    double alpha;            /* lora_alpha */
    int rslora;              /* scale alpha/sqrt(r) */
    double dropout;          /* on the adapter's input, [0, 1) */
    const char *targets;     /* see above; NULL: the family's default */
    const char *layers;      /* an index set of blocks ("0-3"); NULL: all */
} ft_lora_opts;

/* r 8, alpha 16, no rsLoRA, dropout 0, default targets, all layers. */
void ft_lora_opts_default(ft_lora_opts *o);

typedef struct ft_lora_module {
    char *path;              /* module path inside ft */
    int id;                  /* the base weight's tensor id */
    int layer;               /* block, -1 outside the blocks */
    int in, out;
    float *A, *B;            /* [r, in], [out, r], inside the params block */
    float *dA, *dB;          /* inside the grads block; NULL without training */
    float *xa;               /* [cap, r] forward's x·Aᵀ, for backward */
    float *xd;               /* [cap, in] dropped input (dropout > 0 only) */
    unsigned char *keep;     /* [cap, in] dropout mask */
    int dropped;             /* the last forward used xd */
    size_t cap;
} ft_lora_module;

typedef struct ft_lora {
    ft_model *m;             /* not owned */
    int r;
    double alpha, dropout;
    int rslora;
    float scale;             /* alpha/r or alpha/sqrt(r) */
    int fan_in_fan_out;      /* GPT-2 (Conv1D) */
    char **target_names;     /* adapter_config.json's target_modules (sorted) */
    int n_target_names;
    int *layers;             /* layers_to_transform, or NULL */
    int n_layers;
    ft_lora_module *mods;    /* in the model's table order */
    int n_mods;
    int *by_id;              /* [m->n_tensors] module index or -1 */
    float *params, *grads;   /* [n_params] each */
    size_t n_params;
    ft_rng drop_rng;         /* dropout masks, reseeded per micro-batch */
    int failed;              /* a buffer could not grow inside the hook */
} ft_lora;

/* New adapters on m as o says: A Kaiming-uniform as PEFT initialises it
 * (torch.nn.init.kaiming_uniform_(A, a=√5), i.e. U(±1/√in)), drawn from
 * seed in module order, B zero, so the model's output is unchanged. Errors:
 * r < 1, a bad regex or layer set, targets matching no module, a target on
 * the embedding. Does not attach (ft_lora_attach). */
ft_lora *ft_lora_new(ft_model *m, const ft_lora_opts *o, uint64_t seed, ft_err *err);

/* Load a PEFT LoRA adapter (a directory with adapter_config.json and
 * adapter_model.safetensors) for m. Features ft does not implement
 * (use_dora, rank_pattern, alpha_pattern, modules_to_save, bias other than
 * "none", LoRA on embeddings, ...) are an error naming the key or tensor; so
 * is a tensor whose module is not in m or whose shape differs. */
ft_lora *ft_lora_load(ft_model *m, const char *dir, ft_err *err);

/* ft_lora_load with flags: FT_LORA_SKIP_EMBEDDING leaves LoRA on the token
 * embedding (PEFT's lora_embedding_A/B) to the caller instead of refusing
 * it (ft-merge folds it, see merge.h); an adapter with nothing else then
 * loads with no modules. */
enum { FT_LORA_SKIP_EMBEDDING = 1 };
ft_lora *ft_lora_load_flags(ft_model *m, const char *dir, int flags, ft_err *err);

void ft_lora_free(ft_lora *l);

/* Put the adapters into m's LoRA seam (one adapter set per model), or take
 * them out (ft_model_set_hook(m, NULL)). */
void ft_lora_attach(ft_lora *l);

/* Load dir and attach it to m: the entry point of programs that take -a
 * (ft-gen, ft-label, ft-eval). The caller frees the result after use. */
ft_lora *ft_lora_apply(ft_model *m, const char *dir, ft_err *err);

/* Allocate (zeroed) gradients of A and B for training. */
int ft_lora_setup_train(ft_lora *l, ft_err *err);
void ft_lora_zero_grads(ft_lora *l);

/* Grow the hook's per-module buffers to N rows now (they otherwise grow on
 * first use; a failure there sets l->failed and skips the adapter term). */
int ft_lora_reserve(ft_lora *l, size_t N, ft_err *err);
/* 0, or -1 with a message when a buffer could not grow inside the hook. */
int ft_lora_check(const ft_lora *l, ft_err *err);

/* Reseed the dropout masks (e.g. from the trainer's rng per micro-batch). */
void ft_lora_reseed(ft_lora *l, uint64_t seed);

/* PEFT's tensor name of module i: "base_model.model.<path>.lora_A.weight"
 * (b = 0) or ".lora_B.weight" (b = 1), into buf (size n). */
void ft_lora_tensor_name(const ft_lora *l, int i, int b, char *buf, size_t n);

/* Write the adapter as PEFT does into the directory dir (atomically;
 * refused when it exists unless force): adapter_config.json (PEFT 0.12.0's
 * 24 keys, sorted, indent 2, inference_mode true) and
 * adapter_model.safetensors (F32). base_name goes into
 * base_model_name_or_path (NULL: null); meta is NULL or a NULL-terminated
 * key, value list added to the safetensors __metadata__ (ft's task, labels,
 * template, provenance) beside "format": "pt". */
int ft_lora_save(const ft_lora *l, const char *dir, int force, const char *base_name,
                 const char *const *meta, ft_err *err);

/* Write the same two files into an existing directory (not atomic: for use
 * inside an ft_out temporary or a checkpoint folder). */
int ft_lora_write_files(const ft_lora *l, const char *dir, const char *base_name,
                        const char *const *meta, ft_err *err);

#endif
