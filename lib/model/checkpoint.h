/* checkpoint: models on disk, in the Hugging Face layout.
 *
 * A model is a directory holding config.json and model.safetensors, or
 * shards named by model.safetensors.index.json; or the same files inside a
 * .tar (optionally .gz/.xz/.zst/.bz2 compressed) or .zip archive, read
 * without unpacking (through libarchive; the files may sit in a folder of
 * the archive); or a llama2.c checkpoint (a path ending in .bin, see
 * llama2c.h). Tensors may be stored as F32, F16 or BF16 and are computed in
 * f32; each tensor remembers its storage type.
 *
 * Saving writes a directory (config.json, model.safetensors) atomically: to
 * a temporary sibling, renamed into place. The same model always gives the
 * same bytes, so save -> load -> save is byte-identical.
 *
 * Loading also takes a GGUF file (handed to gguf_model.h, which reads and
 * writes that format).
 *
 * Not here: tokenizers (they read their files with ft_checkpoint_read_file;
 * convert.h's ft_convert_tokenizer finds the tokenizer of any model path). */
#ifndef FT_MODEL_CHECKPOINT_H
#define FT_MODEL_CHECKPOINT_H

#include <stddef.h>

#include "core/err.h"
#include "model/model.h"

/* Load a model directory, archive, llama2.c .bin or GGUF file. Messages
 * name the file and the problem. */
ft_model *ft_checkpoint_load(const char *path, ft_err *err);

/* Save as a Hugging Face directory. dtype FT_DTYPE_F32, F16 or BF16, or -1
 * to keep each tensor's storage type. An existing dir is refused unless
 * force. copy_from (a model path, or NULL) names a model whose tokenizer and
 * generation files (tokenizer.json, tokenizer_config.json, ...) are copied
 * along when it has them. */
int ft_checkpoint_save(const ft_model *m, const char *dir, int dtype, int force,
                       const char *copy_from, ft_err *err);

/* Read a file of a model (e.g. "tokenizer.json") from a model directory or
 * archive into a NUL-terminated malloc'd buffer. Returns 1 when read, 0 when
 * the model has no such file (or is a llama2.c .bin or a GGUF file), -1 on
 * error. */
int ft_checkpoint_read_file(const char *path, const char *name, char **data,
                            size_t *n_bytes, ft_err *err);

#endif
