/* freeze: which tensors train under --method freeze, decided from the
 * Hugging Face tensor names alone.
 *
 * A tensor belongs to block k when its name has a segment "layers" or "h"
 * followed by the segment k ("model.layers.3.mlp.up_proj.weight",
 * "transformer.h.3.attn.c_attn.bias"). Outside the blocks a tensor is an
 * embedding (a name containing "embed", "wte", "wpe" or "lm_head": token
 * and position tables, an untied classifier) or the final norm (the rest:
 * "model.norm.weight", "transformer.ln_f.weight" and ".bias").
 *
 * The rule (as LLaMA-Factory's freeze tuning):
 *   layers  "N" (a plain count)  the top N blocks train;
 *           an index set ("0,5-7,-1", negatives from the end; a single
 *           block k is written "k-k")  those blocks train;
 *           the final norm trains with either;
 *   regex   exactly the tensors whose names it matches (PCRE2, anywhere in
 *           the name) train, and nothing else;
 *   train_embeddings adds the embeddings to either choice.
 * Not here: what training does with the flags (the model and the loop). */
#ifndef FT_TRAIN_FREEZE_H
#define FT_TRAIN_FREEZE_H

#include "core/err.h"

typedef struct ft_freeze_spec {
    const char *layers;      /* NULL (with no regex: "2") or as above */
    const char *regex;       /* NULL or a PCRE2 pattern */
    int train_embeddings;
} ft_freeze_spec;

enum { FT_FREEZE_BLOCK, FT_FREEZE_EMBEDDING, FT_FREEZE_FINAL_NORM };

/* The block a tensor belongs to, or -1; *kind (may be NULL) gets
 * FT_FREEZE_*. */
int ft_freeze_block_of(const char *name, int *kind);

/* Set trainable[i] (0 or 1) for each of the n names of a model with
 * n_layers blocks. A bad layer set or regex is a usage error (FT_ERR_USAGE);
 * a selection that trains nothing is a runtime error naming the option. */
int ft_freeze_select(const ft_freeze_spec *spec, const char *const *names, int n,
                     int n_layers, unsigned char *trainable, ft_err *err);

#endif
