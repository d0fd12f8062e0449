/* tokmodel: the tokenizer of a model named on the command line (-m), for
 * every program that turns text into ids: a model directory (tokenizer.json,
 * or GPT-2's vocab.json + merges.txt, with tokenizer_config.json and
 * generation_config.json), the same files in an archive, a GGUF file (its
 * tokenizer.ggml.* metadata), or a tokenizer file itself (--tokenizer). */
#ifndef FT_TOKMODEL_H
#define FT_TOKMODEL_H

#include "core/err.h"
#include "text/tokenizer.h"

/* The tokenizer of a model directory, archive or GGUF file. */
ft_tokenizer *ft_tokmodel_load(const char *model, ft_err *err);

#endif
