/* score: classification by label words -- how likely a causal language
 * model finds each label's word(s) after a text rendered by a template,
 * and the task description ft-train stores beside a model or adapter.
 *
 * Legend: n texts, L labels; row (i, l) is text i rendered with label l's
 * word by ft_template_classify and tokenized by ft_rendered_encode (BOS
 * ids, then each segment on its own; the word's tokens are the targets).
 *   loglik[i, l] = Σ_{target t} log p(id_t | ids_<t)        (nats)
 *                  divided by the number of targets when length_norm
 *   probs[i, l]  = exp(loglik[i, l]) / Σ_k exp(loglik[i, k])
 * A text's L rows share their leading tokens up to the first target (BOS,
 * template, text): all but the last of those run once per text, in
 * batches of B texts whose keys and values stay in a per-row KV cache
 * (model.h, ft_model_cache), and then each label's remaining tokens run on
 * top of its text's cache, in batches of B label rows. The result is that
 * of running every row whole (within float rounding), at about the cost of
 * one row per text. Texts whose rows share at most one such token, and
 * every text when the scorer did not set up the model (setup 0: the
 * buffers are the trainer's) or ft_score_opts.per_row is set, run row by
 * row instead: rows sorted by length, in batches of B padded only to their
 * longest member. Rows never attend to each other. A text too long for
 * max_len is cut from its end at a character boundary: the longest prefix
 * whose rendering with every label fits, re-rendered and re-tokenized, so
 * template and label word are always whole.
 *
 * Metadata: ft-train writes the task, template, label set and verbalizer
 * as strings into the safetensors "__metadata__" of the model (every file)
 * or adapter (adapter_model.safetensors): ft_task "classify", ft_template
 * the --template argument, ft_labels a JSON array of names in order,
 * ft_verbalizer a JSON object name -> word for every label, ft_max_len.
 *
 * Not here: rendering (text/template.h), metrics (eval/metrics.h), the
 * training loop. */
#ifndef FT_EVAL_SCORE_H
#define FT_EVAL_SCORE_H

#include <stddef.h>

#include "core/err.h"
#include "model/model.h"
#include "text/tokenizer.h"

/* --- The task a model was trained for --------------------------------------- */

typedef struct ft_task_meta {
    char *task;          /* "lm", "sft", "chat", "classify"; NULL: none stored */
    char *template_spec; /* NULL: none stored */
    char **labels;       /* [n_labels] in the model's order */
    char **words;        /* [n_labels] each label's word (the label without a
                            verbalizer) */
    int n_labels;
    int max_len;         /* 0: none stored */
} ft_task_meta;

/* Read what ft-train stored. path: a model directory or archive (its
 * model.safetensors, or a shard named by model.safetensors.index.json) or a
 * PEFT adapter directory (adapter_model.safetensors). Returns 1 when ft's
 * metadata was found, 0 when there is none (a model from elsewhere, GGUF,
 * llama2.c: *tm is all zero), -1 on error (a message names the file). Free
 * with ft_task_meta_free. */
int ft_task_meta_read(const char *path, ft_task_meta *tm, ft_err *err);
/* Fill *tm from a lookup of metadata values (get returns NULL for absent
 * keys). Same return values. */
int ft_task_meta_parse(ft_task_meta *tm, const char *(*get)(void *ctx, const char *key),
                       void *ctx, const char *name, ft_err *err);
void ft_task_meta_free(ft_task_meta *tm);
/* The labels and verbalizer as the metadata strings (JSON texts, malloc'd). */
int ft_task_meta_json(const char *const *labels, const char *const *words, int n,
                      char **labels_json, char **verbalizer_json, ft_err *err);

/* "negative,positive" (--labels): names in the order given; an empty name
 * or a duplicate is a usage error. */
int ft_labels_parse(const char *list, char ***labels, int *n, ft_err *err);
/* "negative=bad,positive=good" (--verbalizer): *words[l] for every label
 * (labels not named keep their own name); a name outside labels, an item
 * without '=', an empty word or a label named twice is a usage error. */
int ft_verbalizer_parse(const char *spec, char *const *labels, int n, char ***words,
                        ft_err *err);
void ft_strv_free(char **v, int n);

/* --- Scoring ------------------------------------------------------------------ */

typedef struct ft_score_opts {
    const char *template_spec;   /* NULL: "plain" */
    const char *const *labels;   /* [n_labels] */
    const char *const *words;    /* [n_labels]; NULL: the labels themselves */
    int n_labels;
    int length_norm;             /* 1: mean log-probability per target token */
    int batch_size;              /* rows per forward pass; 0: 8 */
    int max_len;                 /* tokens per row; 0: the model's context less
                                    the prefix */
    int per_row;                 /* 1: every row through the whole model, no
                                    shared prefix (the slower path, which tests
                                    compare the shared one with) */
} ft_score_opts;

typedef struct ft_scorer ft_scorer;

/* A scorer over m and tok (borrowed). prefix (NULL: none) is a P-tuning
 * seam, e.g. ft_prefix_seam(ft_prefix_apply(m, dir), NULL); a LoRA adapter
 * sits in m's hook (ft_lora_apply) before the call. setup 1: ft_model_setup
 * (m, batch_size, max_len, P + max_len, 0) is called here (P + max_len
 * entries before a label row: the prefix, then its text's cached tokens;
 * P alone with per_row); setup 0: m is already set up for batches at least
 * B x max_len after P (ft-train, during training), and rows run whole.
 * Memory beyond the model's buffers: the per-row caches, 2 · n_layers ·
 * n_kv_heads · head_dim floats per cached token, for B texts of at most
 * max_len tokens. */
ft_scorer *ft_scorer_new(ft_model *m, ft_tokenizer *tok, const ft_prefix *prefix,
                         const ft_score_opts *o, int setup, ft_err *err);

/* Everything loaded for ft-label and ft-eval: the model (directory, archive,
 * GGUF, llama2.c), its tokenizer (tokenizer, else the model's own), the
 * adapter when not NULL (LoRA or P-tuning v2, by its peft_type), and the
 * task metadata of the adapter (else of the model); options of o left
 * NULL / 0 are taken from the metadata (o NULL: all of them). No label set
 * anywhere, or a stored task other than classify without --labels, is an
 * error. The scorer owns what it loaded. */
ft_scorer *ft_scorer_open(const char *model, const char *adapter, const char *tokenizer,
                          const ft_score_opts *o, ft_err *err);

/* The labels in use (the scorer's copies), returns their number. */
int ft_scorer_labels(const ft_scorer *s, const char *const **labels);
/* The metadata ft_scorer_open read (all zero after ft_scorer_new). */
const ft_task_meta *ft_scorer_meta(const ft_scorer *s);
/* The model and tokenizer the scorer uses. */
ft_model *ft_scorer_model(ft_scorer *s);
ft_tokenizer *ft_scorer_tokenizer(ft_scorer *s);

/* Score n texts (UTF-8; invalid bytes read as U+FFFD): loglik and probs are
 * [n, L] row-major, either may be NULL. Returns 0 or -1; an error names the
 * text's index ("text 3: ..."). */
int ft_scorer_run(ft_scorer *s, const char *const *texts, const size_t *lens, size_t n,
                  double *loglik, double *probs, ft_err *err);
void ft_scorer_free(ft_scorer *s);

#endif
