/* convert: a model and its tokenizer from any format ft reads, to any
 * format ft writes.
 *
 * In: a Hugging Face directory or archive, a GGUF file (known by its
 * magic), a llama2.c checkpoint. Out: a Hugging Face directory (config.json,
 * model.safetensors, tokenizer.json) or a GGUF file (tokenizer embedded),
 * written atomically.
 *
 * Not here: the formats themselves (checkpoint.c, gguf_model.c). */
#ifndef FT_MODEL_CONVERT_H
#define FT_MODEL_CONVERT_H

#include "core/err.h"
#include "model/model.h"
#include "text/tokenizer.h"

enum ft_model_format { FT_FORMAT_HF = 1, FT_FORMAT_GGUF = 2 };

/* "hf" or "gguf"; -1 when neither. */
int ft_convert_format_parse(const char *name);
/* What an output name asks for: GGUF when it ends in ".gguf", else HF. */
int ft_convert_format_of(const char *path);

/* The tokenizer that goes with a model: a GGUF file's own, a directory's
 * or archive's tokenizer.json (or GPT-2 vocabulary files); a path that is
 * itself a tokenizer file works too. 1 with *tok set, 0 when the model has
 * none (llama2.c checkpoints, a GGUF with tokenizer.ggml.model "none"), -1
 * on error. */
int ft_convert_tokenizer(const char *path, ft_tokenizer **tok, ft_err *err);

/* The tokenizer to write beside a model read from model into format:
 * tok_path's when given (an error naming it when it has none), else the
 * model's own; a Hugging Face output from a model that is not a GGUF file
 * copies the model's tokenizer files instead (*copy_from = model). 1 with
 * *tok or *copy_from set, 0 when there is none, -1 on error. */
int ft_convert_pick_tokenizer(const char *model, const char *tok_path, int format,
                              ft_tokenizer **tok, const char **copy_from, ft_err *err);

/* Write m as format to out. dtype: FT_DTYPE_F32, F16, BF16, or -1 for each
 * tensor's own type. tok (may be NULL) is embedded in a GGUF or written as
 * tokenizer.json; for HF output without tok, the tokenizer files of
 * copy_from (a model path, or NULL) are copied along. name: GGUF
 * general.name or NULL. */
int ft_convert_save(const ft_model *m, const ft_tokenizer *tok, const char *copy_from,
                    const char *out, int format, int dtype, const char *name, int force,
                    ft_err *err);

#endif
