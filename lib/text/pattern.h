/* pattern: the regular expressions of tokenizer files, on PCRE2.
 *
 * Tokenizer files carry patterns written for Oniguruma (Hugging Face's
 * Rust tokenizers). They are compiled with PCRE2_UTF | PCRE2_UCP and JIT;
 * \s and \S are rewritten to \p{White_Space} and \P{White_Space}, which is
 * what Oniguruma means by them (PCRE2's UCP \s leaves out U+0085). Matching
 * walks a subject left to right like a global search: an empty match moves
 * the next search one character on.
 *
 * Not here: what a match means (pretok.c, normalizer.c). */
#ifndef FT_TEXT_PATTERN_H
#define FT_TEXT_PATTERN_H

#include <stddef.h>

#include "core/err.h"

typedef struct ft_pattern ft_pattern;

/* GPT-2's pre-tokenizer pattern (ByteLevel with use_regex). */
extern const char ft_pattern_gpt2[];
/* Llama 3's (also SmolLM2's): digits in runs of at most three. */
extern const char ft_pattern_llama3[];
/* Qwen2's: single digits. */
extern const char ft_pattern_qwen2[];

/* Compile; the error names the pattern and the offset of the problem. */
ft_pattern *ft_pattern_new(const char *pattern, ft_err *err);
void ft_pattern_free(ft_pattern *p);
/* The pattern as given. */
const char *ft_pattern_source(const ft_pattern *p);

/* Find the next match in s[0..len) at or after start (a character
 * boundary of valid UTF-8): 1 with *ms, *me set, 0 when there is none, -1
 * on a matching failure (such as a resource limit). Not thread-safe: a
 * pattern owns its match data. */
int ft_pattern_find(ft_pattern *p, const char *s, size_t len, size_t start, size_t *ms,
                    size_t *me, ft_err *err);

#endif
