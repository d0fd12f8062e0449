/* config: a model's architecture from a Hugging Face config.json.
 *
 * Families: "llama" and "mistral" (RMSNorm, rotary, SwiGLU, grouped-query
 * attention; Llama 3 rope_scaling; mistral only while its sliding window
 * cannot matter), "qwen2" (the same with q/k/v biases) and "gpt2" (LayerNorm,
 * learned positions, GELU tanh MLP, fused c_attn, biases everywhere). Other
 * model types, rope_scaling kinds and activations are refused with a message
 * naming the file and the key. Defaults follow the transformers classes when
 * a key is optional there; the sizes are required.
 *
 * Not here: tensor names and shapes (model.c), file formats (checkpoint.c). */
#ifndef FT_MODEL_CONFIG_H
#define FT_MODEL_CONFIG_H

#include <jansson.h>
#include <stddef.h>

#include "core/err.h"
#include "nn/rope.h"

enum ft_family { FT_FAMILY_LLAMA = 1, FT_FAMILY_QWEN2, FT_FAMILY_GPT2 };

#define FT_CONFIG_MAX_EOS 8

typedef struct ft_config {
    char model_type[32];     /* as in config.json: "llama", "mistral", "qwen2", "gpt2" */
    int family;              /* FT_FAMILY_*: the computation (mistral runs as llama) */
    int dim;                 /* hidden_size, n_embd */
    int hidden_dim;          /* intermediate_size, n_inner (GPT-2 default 4·dim) */
    int n_layers;
    int n_heads;
    int n_kv_heads;          /* = n_heads without grouped-query attention */
    int head_dim;            /* default dim / n_heads */
    int vocab_size;
    int max_pos;             /* max_position_embeddings, n_positions */
    double norm_eps;         /* rms_norm_eps, layer_norm_epsilon */
    double rope_theta;
    ft_rope_scaling rope_scaling;
    int attn_window;         /* sliding window in positions, 0: none; longer inputs
                                are refused rather than computed differently */
    int tied;                /* the classifier is the token embedding */
    int qkv_bias;            /* q, k, v projections have biases */
    int o_bias;              /* the attention output projection has a bias */
    int mlp_bias;            /* the MLP projections have biases */
    int layer_norm;          /* LayerNorm with bias (GPT-2), else RMSNorm */
    int gelu;                /* GELU MLP (c_fc, c_proj), else SwiGLU */
    int learned_pos;         /* a position table (wpe), else rotary */
    int bos_id;              /* -1: none */
    int eos_ids[FT_CONFIG_MAX_EOS];
    int n_eos;
    json_t *json;            /* config.json as read, kept for saving; NULL when the
                                config was built from fields (llama2.c, GGUF) */
} ft_config;

/* Parse config.json text; name (the file) prefixes messages. */
int ft_config_parse(ft_config *cfg, const char *text, size_t n_bytes, const char *name,
                    ft_err *err);
/* Fill the derived fields from family and check sizes; for a config built
 * field by field (family, sizes, eps, theta, tied set by the caller). */
int ft_config_finish(ft_config *cfg, const char *name, ft_err *err);
/* Deep copy (the json too). */
int ft_config_copy(ft_config *dst, const ft_config *src, ft_err *err);
void ft_config_free(ft_config *cfg);

/* config.json text for saving, NUL-terminated, malloc'd: the JSON as read
 * with torch_dtype set to the saved type, or one built from the fields. The
 * same config always gives the same bytes. */
char *ft_config_dump(const ft_config *cfg, const char *torch_dtype, ft_err *err);

#endif
