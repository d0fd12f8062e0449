/* sample: text generation with a KV cache, and the choice of the next token
 * from logits: greedy, temperature, top-k, top-p (nucleus), seeded.
 *
 * Order of the filters, as in Hugging Face generate(): temperature, then
 * top-k, then top-p over what is left; then a draw from ft's rng. Ties in
 * greedy choice go to the lower id, so results are the same everywhere.
 *
 * The KV cache is the model's prefix mechanism (model.h: ft_prefix with
 * append): the prompt runs once, then one token per step attends to the
 * cached keys and values. A P-tuning prefix, when given, is copied to the
 * front of the cache, so its positions come first as in training.
 *
 * Several sequences go together: each row has its own cache, its own
 * chooser and seed, and the model computes each row on its own
 * (model.h: exact_rows), so a row's tokens are the same whatever rows run
 * beside it and whatever the thread count. One sequence alone runs through
 * BLAS (faster on long prompts) unless the caller set exact_rows, as a
 * caller that batches some calls and not others must. Each prompt runs alone (as it
 * would without the others: padding would change the attention products'
 * shapes and with them the rounding); then every row still going takes one
 * token per step, in one forward pass, until EOS, the stop sequence,
 * max_tokens or the end of its context ends it. */
#ifndef FT_MODEL_SAMPLE_H
#define FT_MODEL_SAMPLE_H

#include <stdint.h>

#include "core/err.h"
#include "core/rng.h"
#include "model/model.h"

#define FT_SAMPLE_MAX_EOS 8

typedef struct ft_sample_opts {
    int max_tokens;               /* new tokens at most */
    float temperature;            /* 0: greedy */
    int top_k;                    /* keep the k likeliest; 0: no limit */
    float top_p;                  /* keep the smallest set with this much mass; 1: all */
    uint64_t seed;
    int32_t eos[FT_SAMPLE_MAX_EOS]; /* stop at any of these; not part of the output */
    int n_eos;
    const int32_t *stop;          /* stop at this sequence; not part of the output */
    int n_stop;
} ft_sample_opts;

/* 256 tokens, temperature 1, no top-k, top-p 1, seed 0, the model's EOS ids
 * (m may be NULL: none), no stop sequence. */
ft_sample_opts ft_sample_defaults(const ft_model *m);

/* The chooser: options, rng and scratch for a vocabulary of V. */
typedef struct ft_sample {
    ft_sample_opts o;
    ft_rng rng;
    int V;
    int *idx;        /* [V] */
    float *prob;     /* [V] */
} ft_sample;

int ft_sample_init(ft_sample *s, int V, const ft_sample_opts *o, ft_err *err);
/* The next token for logits [V]. */
int32_t ft_sample_pick(ft_sample *s, const float *logits);
void ft_sample_free(ft_sample *s);

/* Called with each new token once it is certain (tokens that might begin
 * the stop sequence are held back until they cannot); non-zero stops. */
typedef int (*ft_sample_emit)(void *ctx, int32_t id);

/* Generate after prompt (n_prompt >= 1 ids). out (NULL, or room for
 * o->max_tokens ids) gets the new tokens, *n_out (may be NULL) their count,
 * EOS and the stop sequence excluded. prefix (NULL: none) is a P-tuning
 * prefix (P entries of its kv, model.h layout). Sets the model up for
 * inference: call ft_model_setup again before training.
 * Generation ends when prefix, prompt and new tokens fill the model's
 * context (max_position_embeddings, as Hugging Face's max_length counts it;
 * for rotary models too: beyond it they were never trained); a prompt
 * (after the prefix) longer than the context is an error. */
int ft_sample_generate(ft_model *m, const ft_prefix *prefix, const int32_t *prompt,
                       int n_prompt, const ft_sample_opts *o, int32_t *out, int *n_out,
                       ft_sample_emit emit, void *ctx, ft_err *err);

/* One sequence of a batch. */
typedef struct ft_sample_row {
    const int32_t *prompt;   /* [n_prompt], n_prompt >= 1 (borrowed) */
    int n_prompt;
    uint64_t seed;           /* of this row's draws (o->seed is not read) */
    int32_t *out;            /* NULL, or room for o->max_tokens ids: the new tokens */
    int n_out;               /* set: their count, EOS and the stop sequence excluded */
} ft_sample_row;

/* emit for a batch: row is the index into rows; non-zero ends that row. */
typedef int (*ft_sample_emit_row)(void *ctx, int row, int32_t id);

/* ft_sample_generate for n rows together, each exactly what it would be
 * alone with its seed: one cache per row (n times the memory of one). Row
 * i's tokens reach emit in order; rows interleave. An error names the row
 * (when n > 1). */
int ft_sample_generate_rows(ft_model *m, const ft_prefix *prefix, ft_sample_row *rows, int n,
                            const ft_sample_opts *o, ft_sample_emit_row emit, void *ctx,
                            ft_err *err);

#endif
