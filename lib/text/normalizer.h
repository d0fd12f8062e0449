/* normalizer: text rewrites a tokenizer applies before pre-tokenizing, as
 * Hugging Face's tokenizer.json names them: Unicode normal forms (NFC, NFD,
 * NFKC, NFKD through utf8proc), Lowercase, Prepend, Replace (literal or
 * regex), Strip and StripAccents, run in order.
 *
 * Lowercase uses utf8proc's simple case mapping, so the few characters whose
 * full lowercase is longer (U+0130) differ from Hugging Face's.
 *
 * Not here: pre-tokenizers (pretok.c). */
#ifndef FT_TEXT_NORMALIZER_H
#define FT_TEXT_NORMALIZER_H

#include <stddef.h>

#include "core/err.h"

enum ft_norm_form { FT_NORM_NFC, FT_NORM_NFD, FT_NORM_NFKC, FT_NORM_NFKD };

typedef struct ft_normalizer ft_normalizer;

ft_normalizer *ft_normalizer_new(ft_err *err);
void ft_normalizer_free(ft_normalizer *n);

int ft_normalizer_add_form(ft_normalizer *n, int form, ft_err *err);
int ft_normalizer_add_lowercase(ft_normalizer *n, ft_err *err);
int ft_normalizer_add_prepend(ft_normalizer *n, const char *s, ft_err *err);
/* Replace every match of a literal (regex == 0) or a pattern with content. */
int ft_normalizer_add_replace(ft_normalizer *n, const char *pattern, int regex,
                              const char *content, ft_err *err);
int ft_normalizer_add_strip(ft_normalizer *n, int left, int right, ft_err *err);
int ft_normalizer_add_strip_accents(ft_normalizer *n, ft_err *err);
/* Number of steps (0: normalizing changes nothing). */
size_t ft_normalizer_steps(const ft_normalizer *n);

/* Normalize text (valid UTF-8). *out points into the normalizer's own
 * buffer (valid until the next run) or at text itself when nothing
 * changed. */
int ft_normalizer_run(ft_normalizer *n, const char *text, size_t n_bytes, const char **out,
                      size_t *out_bytes, ft_err *err);

#endif
