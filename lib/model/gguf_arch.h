/* gguf_arch: llama.cpp's conventions for the model families ft runs, as
 * tables: tensor names between Hugging Face and GGUF, which rows llama.cpp
 * permutes, and the pre-tokenizer patterns behind tokenizer.ggml.pre.
 *
 * Sources (llama.cpp, cited where each table is defined in gguf_arch.c):
 * gguf-py/gguf/constants.py (TENSOR_NAMES, Keys), gguf-py/gguf/
 * tensor_mapping.py (HF names), convert_hf_to_gguf.py (LlamaModel.permute,
 * GPT2Model.modify_tensors), src/llama-vocab.cpp (pre-tokenizer names and
 * regexes).
 *
 * Not here: the container (gguf.c), building models (gguf_model.c). */
#ifndef FT_MODEL_GGUF_ARCH_H
#define FT_MODEL_GGUF_ARCH_H

#include <stddef.h>
#include <stdint.h>

/* What an HF tensor name is in GGUF for arch ("llama", "qwen2", "gpt2"):
 * 1 with the GGUF name in out, 0 when the tensor is not stored in GGUF
 * (rotary inv_freq, GPT-2's attention mask buffers), -1 when the name is
 * unknown or does not fit in out. GPT-2 names are accepted with or without
 * the "transformer." prefix. */
int ft_gguf_arch_to_gguf(const char *arch, const char *hf, char *out, size_t out_size);

/* The HF name of a GGUF tensor name (GPT-2's with "transformer."): 1 with
 * out set, -1 when unknown. */
int ft_gguf_arch_to_hf(const char *arch, const char *gguf, char *out, size_t out_size);

/* Rows of a GGUF tensor that llama.cpp permutes into adjacent-pair rotary
 * order: the number of heads to permute by (n_heads for attn_q, n_kv_heads
 * for attn_k, weights and biases) for arch "llama"; 0 for every other
 * tensor and architecture (qwen2 runs rotary on halves, gpt2 has none). */
int ft_gguf_arch_permute_heads(const char *arch, const char *gguf, int n_heads,
                               int n_kv_heads);

/* Permute rows between Hugging Face's half-rotation layout and the
 * adjacent-pair layout (llama.cpp's LlamaModel.permute, the same as
 * llama2.c's checkpoints): rows of row_bytes each, in heads of
 * rows / n_heads. to_pairs: HF row h·d + j·d/2 + i goes to h·d + 2i + j;
 * else the inverse. dst and src must not overlap. */
void ft_gguf_arch_permute(void *dst, const void *src, int64_t rows, size_t row_bytes,
                          int n_heads, int to_pairs);

/* The regexes llama.cpp splits text with, in order, for a
 * tokenizer.ggml.pre name; NULL (with *n = 0) when the name is unknown.
 * Each regex cuts every piece of the previous one, matches and gaps
 * becoming pieces of their own. */
const char *const *ft_gguf_arch_pre_regexes(const char *name, int *n);

/* The tokenizer.ggml.pre name to write for a byte-level tokenizer that
 * splits by these regexes in turn: either the regexes of a llama.cpp name
 * above, or one pattern as tokenizer.json files spell them (GPT-2's,
 * Llama 3's, Qwen2's), optionally after "\p{N}" (digits apart, SmolLM).
 * NULL when llama.cpp has no name for them. */
const char *ft_gguf_arch_pre_name(const char *const *patterns, size_t n);

#endif
