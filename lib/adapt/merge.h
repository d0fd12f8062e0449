/* merge: LoRA adapters folded into a model's weights, as PEFT's
 * merge_and_unload does, for one adapter or a weighted sum of several:
 *
 *   W' = W + Σ_i w_i · s_i · B_i · A_i      s_i = alpha_i / r_i (alpha_i / √r_i
 *                                           with rsLoRA), w_i the caller's weight
 *
 * computed in f32 whatever the storage type (OpenBLAS sgemm for each
 * B_i·A_i, accumulated into one f32 update per tensor), with a measure of
 * how much of each tensor's update survives rounding to the output type.
 *
 * A tied model (the classifier is the token embedding) is never changed
 * through the other name: an adapter on lm_head, or on the embedding, of a
 * tied model needs the pair untied first (ft_merge_untie), so only the
 * adapted half gets the update -- what the unmerged PEFT model computes.
 * PEFT's own merge would change the shared tensor, and with it the other
 * half.
 *
 * Not here: reading adapters (lora.h), writing models (model/convert.h),
 * llama.cpp's adapter files (lora_gguf.h). */
#ifndef FT_ADAPT_MERGE_H
#define FT_ADAPT_MERGE_H

#include <stddef.h>

#include "adapt/lora.h"
#include "core/err.h"
#include "model/model.h"

/* The true scale of an adapter in double: alpha/r, or alpha/√r (rsLoRA). */
double ft_merge_scale(const ft_lora *l);

/* Which halves of a tied pair the PEFT adapter directory dir changes:
 * FT_MERGE_HEAD (LoRA matrices on lm_head) | FT_MERGE_EMBED (LoRA on the
 * token embedding), 0 for neither, -1 on error. */
enum { FT_MERGE_HEAD = 1, FT_MERGE_EMBED = 2 };
int ft_merge_adapter_touches(const char *dir, ft_err *err);

/* PEFT's LoRA on the token embedding: lora_embedding_A [r, V] and
 * lora_embedding_B [C, r]; the embedding's update is s·(B·A)ᵀ [V, C]. */
typedef struct ft_merge_embed {
    float *A, *B;        /* NULL when the adapter has none */
    int r;
} ft_merge_embed;

/* Read the embedding LoRA of adapter dir (of rank r) for m into e: 1 when
 * there is one, 0 when not (e->A NULL), -1 on error (a tensor missing or of
 * another shape than m needs, named). */
int ft_merge_embed_load(const ft_model *m, const char *dir, int r, ft_merge_embed *e,
                        ft_err *err);
void ft_merge_embed_free(ft_merge_embed *e);

/* A copy of the tied model m with its own lm_head (equal to the embedding,
 * in the embedding's storage type) and tie_word_embeddings false in its
 * config. m is left as it was. */
ft_model *ft_merge_untie(const ft_model *m, ft_err *err);

/* What rounding to the output type did to one tensor's update. With W the
 * base value, Δ the f32 update and W' = fl32(W + Δ), round() the output
 * type's rounding (f32: none), the update the output file holds is
 * R = round(W') − round(W); over the entries:
 *   rms       √(Σ Δ² / numel)
 *   lost      ‖R − Δ‖ / ‖Δ‖: 0 when the output holds the update exactly,
 *             1 when none of it arrived (every entry rounded back)
 *   n_update  entries with Δ ≠ 0; n_unchanged of them have round(W') =
 *             round(W): the update did not move them at all. */
typedef struct ft_merge_stat {
    int id;              /* tensor id in the model */
    int dtype;           /* the output type these numbers are for */
    double rms, lost;
    size_t n_update, n_unchanged;
} ft_merge_stat;

/* Fold the n adapters ad[i] (each loaded for m) with weights w[i] (NULL:
 * all 1) into m's parameters; emb (NULL, or n entries) adds adapter i's
 * embedding LoRA with ad[i]'s scale. dtype: the output type of every tensor
 * (FT_DTYPE_F32, F16, BF16), or -1 for each tensor's own storage type.
 * *stats (malloc'd, *n_stats entries, table order) describes each changed
 * tensor; stats may be NULL. On error m may be partly changed. */
int ft_merge_fold(ft_model *m, ft_lora *const *ad, const ft_merge_embed *emb,
                  const double *w, int n, int dtype, ft_merge_stat **stats, int *n_stats,
                  ft_err *err);

#endif
