/* gguf_model: ft's models and tokenizers in GGUF files, the way llama.cpp's
 * convert_hf_to_gguf.py writes them and llama.cpp reads them.
 *
 * Reading: the architecture's metadata keys become the config ("llama",
 * "qwen2", "gpt2"; others are refused), tensors are renamed to Hugging
 * Face names (gguf_arch.h), converted to f32 and, for "llama", q and k rows
 * are permuted back from adjacent pairs to halves (k by kv heads). A file
 * without output.weight, or with one whose bytes equal token_embd.weight's,
 * is a tied model. Quantized tensors are refused, naming the tensor and its
 * type. The tokenizer comes from tokenizer.ggml.* ("gpt2": byte-level BPE
 * with the pre-tokenizer tokenizer.ggml.pre names, and like llama.cpp no
 * Unicode normalization, not even Qwen2's NFC; "llama": SentencePiece BPE
 * with scores); "none" or no tokenizer.ggml.model means none.
 *
 * Writing: the inverse, with general.architecture, the architecture's keys
 * (context length, embedding length, block count, feed-forward length,
 * head counts, rope base and dimensions, norm epsilon, vocabulary size),
 * general.file_type, and the tokenizer when there is one. Matrices are
 * written in the requested type; 1-D tensors (norms, biases) and GPT-2's
 * position table stay F32 as the converter keeps them. GPT-2 files always
 * carry output.weight (the converter copies the tied embedding there).
 *
 * Not here: the container (gguf.c), the name tables (gguf_arch.c). */
#ifndef FT_MODEL_GGUF_MODEL_H
#define FT_MODEL_GGUF_MODEL_H

#include "core/err.h"
#include "model/gguf.h"
#include "model/model.h"
#include "text/tokenizer.h"

/* Load a model from a GGUF file. When tok is not NULL it receives the
 * file's tokenizer, or NULL when the file has none. */
ft_model *ft_gguf_model_load(const char *path, ft_tokenizer **tok, ft_err *err);

/* The tokenizer of a GGUF file; an error when it has none. */
ft_tokenizer *ft_gguf_tokenizer_load(const char *path, ft_err *err);

/* Write m (and tok, when not NULL) to path atomically; an existing path is
 * refused unless force. dtype: FT_DTYPE_F32, F16 or BF16 for the matrices,
 * or -1 for each tensor's own storage type (ft_tensor.dtype). name:
 * general.name, or NULL for none. */
int ft_gguf_model_save(const ft_model *m, const ft_tokenizer *tok, const char *path,
                       int dtype, const char *name, int force, ft_err *err);

/* general.architecture for c: "llama" (Mistral too), "qwen2" or "gpt2". */
const char *ft_gguf_model_arch(const ft_config *c);

/* The keys describing c into w: general.architecture, general.name (when
 * not NULL), general.file_type (when >= 0: 0 all F32, 1 mostly F16, 32
 * mostly BF16) and the architecture's hyperparameters. Shared with
 * llama.cpp adapter files, which carry their base's keys. */
int ft_gguf_model_write_config(ft_gguf_writer *w, const ft_config *c, const char *name,
                               int file_type, ft_err *err);

#endif
