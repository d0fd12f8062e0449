/* export: a trained model written whole or not at all -- a Hugging Face
 * directory, or the same files in one archive when the path ends in .tar,
 * .tar.gz, .tar.xz, .tar.zst or .zip -- with provenance in the safetensors
 * "__metadata__" map.
 *
 * The directory (or archive) is built under a temporary sibling name and
 * renamed into place, so a failure or a kill leaves nothing at the path.
 *
 * Not here: the tensor layout of the file (model/checkpoint.h writes it). */
#ifndef FT_TRAIN_EXPORT_H
#define FT_TRAIN_EXPORT_H

#include "core/err.h"
#include "model/model.h"
#include "text/tokenizer.h"

/* 1 when path names an archive by its ending. */
int ft_export_is_archive(const char *path);

/* Write m to path in dtype (FT_DTYPE_*, or -1: each tensor's storage type).
 * copy_from: a model whose tokenizer and generation files go along (NULL:
 * none); tokenizer_json: a tokenizer.json file to put in (NULL: none; it
 * wins over copy_from's); tok: a tokenizer written as tokenizer.json when
 * tokenizer_json is NULL (NULL: none; for a base whose tokenizer is not in
 * files of its own, a GGUF file's). meta: NULL or a NULL-terminated key, value, ...
 * list added to every safetensors file's __metadata__. An existing path is
 * refused unless force. */
int ft_export_model(const ft_model *m, const char *path, int dtype, int force,
                    const char *copy_from, const char *tokenizer_json,
                    const ft_tokenizer *tok, const char *const *meta, ft_err *err);

/* Add meta pairs to the __metadata__ of the safetensors file at path,
 * rewriting it in place (through a temporary name). */
int ft_export_add_metadata(const char *path, const char *const *meta, ft_err *err);

/* Pack the regular files of dir (not recursing) into an archive at path
 * (a plain write: use inside an ft_out temporary), its format by the ending
 * of kind (the final name). */
int ft_export_pack(const char *dir, const char *path, const char *kind, ft_err *err);

#endif
