/* llama2c: checkpoints of Karpathy's llama2.c (the legacy "version 0"
 * export: seven int32 header fields, then f32 weights), loaded into a Llama
 * model with Hugging Face names.
 *
 * llama2.c rotates adjacent feature pairs (2i, 2i+1) where ft (like Hugging
 * Face) rotates halves (i, i + hd/2), so the rows of q are permuted per
 * query head and the rows of k per kv head at load. A positive vocab_size in
 * the header means a classifier tied to the token embedding.
 *
 * Not here: the versioned exports (magic "ak42"; version 1 f32 and version 2
 * int8), which are refused with a message saying so. */
#ifndef FT_MODEL_LLAMA2C_H
#define FT_MODEL_LLAMA2C_H

#include "core/err.h"
#include "model/model.h"

ft_model *ft_llama2c_load(const char *path, ft_err *err);

/* Permute the rows of a [n_heads·hd, cols] projection between the
 * adjacent-pair rotary layout and the half layout, head by head: to_half 1
 * moves row 2i+c of a head to c·hd/2 + i, to_half 0 moves it back. Also what
 * GGUF files of llama.cpp's "llama" architecture need. */
void ft_llama2c_permute(float *w, int n_heads, int hd, int cols, int to_half);

#endif
