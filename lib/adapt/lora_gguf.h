/* lora_gguf: LoRA adapters as llama.cpp's adapter GGUF files (what its
 * convert_lora_to_gguf.py writes and src/llama-adapter.cpp loads).
 *
 * Keys: the base's (general.architecture, its hyperparameters,
 * general.file_type: the converter calls the base model's
 * set_gguf_parameters), general.type "adapter", adapter.type "lora",
 * adapter.lora.alpha (float32). Tensors: "<base GGUF name>.lora_a" with
 * ne [in, r] (A, [r, in] row-major) and ".lora_b" with ne [r, out] (B,
 * [out, r]) for each adapted matrix, e.g. blk.0.attn_q.weight.lora_a;
 * llama.cpp checks base.ne[0] == a.ne[0], base.ne[1] == b.ne[1] and
 * a.ne[1] == b.ne[0]. For the "llama" architecture the rows of B on q and
 * k are permuted to the adjacent-pair rotary layout (k by kv heads), as
 * the converter's LlamaModel.permute does to the LoRA product.
 *
 * Scale: llama.cpp multiplies B·A by alpha/r, or by 1 when alpha is 0, r
 * being the tensor's own rank. So ft writes alpha 0 and folds each
 * tensor's true scale into B (B' = w·s·B): rsLoRA adapters (s = alpha/√r)
 * keep their strength, which a file carrying lora_alpha verbatim would
 * make √r times too weak. Several adapters become one by stacking ranks:
 * A = [A_1; A_2; ...], B = [w_1·s_1·B_1, w_2·s_2·B_2, ...], so that
 * B·A = Σ w_i·s_i·B_i·A_i exactly.
 *
 * Not here: reading these files back (llama.cpp's job; --inspect shows
 * them), the container itself (model/gguf.h). */
#ifndef FT_ADAPT_LORA_GGUF_H
#define FT_ADAPT_LORA_GGUF_H

#include "adapt/lora.h"
#include "core/err.h"

/* Write the n adapters ad[i] (loaded for m) with weights w[i] (NULL: all 1)
 * to path atomically; an existing path is refused unless force. dtype:
 * FT_DTYPE_F32, F16 or BF16 for every A and B. name: general.name or
 * NULL. m must be the model llama.cpp runs: an adapter on lm_head of a
 * tied llama or qwen2 base has no output.weight there (the caller refuses
 * it). Errors: a tensor with no GGUF name or too long a name. */
int ft_lora_gguf_save(const ft_model *m, ft_lora *const *ad, const double *w, int n,
                      const char *path, int dtype, const char *name, int force, ft_err *err);

#endif
