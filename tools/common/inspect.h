/* inspect: what ft-merge --inspect prints about an adapter, a model or a
 * GGUF file, one item a line on out (see ft-merge(1), INSPECTION):
 *
 *   kind lora|prefix|model|gguf-lora|gguf-model
 *   config KEY VALUE          adapter_config.json, every key (JSON values)
 *   scale S (RULE)            a LoRA adapter's effective scale
 *   metadata KEY VALUE        safetensors __metadata__
 *   tensor NAME TYPE DIMS     in file order (GGUF: ne, fastest first)
 *   module PATH rank R        a LoRA module (gguf-lora: "scale S" too)
 *   kv KEY TYPE VALUE         GGUF metadata (arrays: their length)
 *   fits MODEL yes|no[: why]  with a model to check against
 *
 * Only programs use it (it prints); the checks are the library's loaders. */
#ifndef FT_INSPECT_H
#define FT_INSPECT_H

#include <stdio.h>

/* Describe path; with model (or NULL), also whether it fits. Returns the
 * exit status: 0, or 1 when it does not fit. Errors reading path exit. */
int ft_inspect(FILE *out, const char *path, const char *model);

#endif
