/* gen: a response for a prompt, as ft-label --generate and ft-eval --task
 * sft make one: the prompt rendered by the template as training renders
 * it (its context part: everything before the response), the sampler of
 * model/sample.h, the new tokens decoded as they come and cut at the first
 * stop string.
 *
 * Stop strings work on text, not tokens (as Hugging Face's stop_strings and
 * llama.cpp's "stop" do), so "\n\n" stops a response also when the
 * tokenizer merged it into a longer token; the stop string itself is not
 * part of the response. Generation also ends at any EOS id of the model's
 * configuration or of the tokenizer (a chat template's end-of-turn token),
 * or after max_tokens new tokens.
 *
 * A prompt that leaves no room for max_tokens new tokens within the
 * model's positions is cut from the left (the end of an instruction is
 * what the answer follows), BOS kept; the call says so.
 *
 * Several prompts can be answered together (ft_gen_run_batch): each gets
 * the bytes it would get alone with its seed, whatever the batch and the
 * thread count.
 *
 * Not here: choosing tokens (sample.h), templates (text/template.h). */
#ifndef FT_EVAL_GEN_H
#define FT_EVAL_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "model/model.h"
#include "model/sample.h"
#include "text/tokenizer.h"

typedef struct ft_gen_opts {
    const char *template_spec;   /* NULL: "plain" */
    ft_sample_opts sample;       /* its seed is replaced by each call's */
    const char *const *stops;    /* [n_stops] stop strings */
    int n_stops;
} ft_gen_opts;

typedef struct ft_gen ft_gen;

/* m, tok and prefix (NULL: none; a P-tuning seam) are borrowed. The model's
 * and the tokenizer's EOS ids join o->sample's. */
ft_gen *ft_gen_new(ft_model *m, ft_tokenizer *tok, const ft_prefix *prefix,
                   const ft_gen_opts *o, ft_err *err);
void ft_gen_free(ft_gen *g);

/* The response to prompt[0..len) with the given seed: *text (malloc'd,
 * NUL-terminated, caller frees) of *n_bytes bytes. *cut (may be NULL) is set
 * to the number of prompt tokens cut from the left. */
int ft_gen_run(ft_gen *g, const char *prompt, size_t len, uint64_t seed, char **text,
               size_t *n_bytes, int *cut, ft_err *err);

typedef struct ft_gen_result {
    char *text;          /* malloc'd, NUL-terminated; the caller frees it */
    size_t n_bytes;
    int cut;             /* prompt tokens cut from the left */
    int n_tokens;        /* new tokens sampled, EOS left out (tokens a stop
                            string cut away counted) */
} ft_gen_result;

/* The responses to n prompts (prompts[i] of lens[i] bytes, seeds[i])
 * generated together (sample.h: ft_sample_generate_rows): res[i] is the
 * same bytes ft_gen_run gives prompt i alone. On failure *failed (may be
 * NULL) is the prompt at fault, or -1 when none is in particular, and no
 * res[i].text is set. Memory grows with n (a KV cache per prompt). */
int ft_gen_run_batch(ft_gen *g, int n, const char *const *prompts, const size_t *lens,
                     const uint64_t *seeds, ft_gen_result *res, int *failed, ft_err *err);

#endif
