/* pretok: pre-tokenizers, the steps that cut normalized text into words
 * before BPE, as Hugging Face's tokenizer.json describes them.
 *
 * A chain of steps; each step takes every piece the previous one made and
 * cuts (and for some, rewrites) it:
 *   split       a pattern (regex or literal) and what to do with its
 *               matches: removed, isolated, merged with the previous or the
 *               next piece, or contiguous runs; invert swaps matches and gaps
 *   bytelevel   a space in front of each piece (add_prefix_space), then
 *               GPT-2's pattern (use_regex); the byte-to-character mapping
 *               itself is left to the model, which works on bytes
 *   digits      each digit, or each run of digits, apart
 *   metaspace   spaces become the replacement (U+2581), prepended to the
 *               text's first piece or every piece, optionally split before
 *               each replacement
 *   whitespace  words and punctuation runs (\w+|[^\w\s]+), or just split on
 *               whitespace
 * Pieces are handed to a callback in order.
 *
 * Not here: normalizers (normalizer.c), BPE (bpe.c). */
#ifndef FT_TEXT_PRETOK_H
#define FT_TEXT_PRETOK_H

#include <stddef.h>

#include "core/err.h"

enum ft_split_behavior {
    FT_SPLIT_REMOVED,
    FT_SPLIT_ISOLATED,
    FT_SPLIT_MERGED_PREV,
    FT_SPLIT_MERGED_NEXT,
    FT_SPLIT_CONTIGUOUS
};

enum ft_prepend { FT_PREPEND_NEVER, FT_PREPEND_ALWAYS, FT_PREPEND_FIRST };

typedef struct ft_pretok ft_pretok;

ft_pretok *ft_pretok_new(ft_err *err);
void ft_pretok_free(ft_pretok *p);

/* Behavior names as tokenizer.json spells them ("Isolated"...); -1 if none. */
int ft_pretok_behavior(const char *name);

int ft_pretok_add_regex(ft_pretok *p, const char *pattern, int behavior, int invert,
                        ft_err *err);
int ft_pretok_add_literal(ft_pretok *p, const char *s, int behavior, int invert, ft_err *err);
int ft_pretok_add_bytelevel(ft_pretok *p, int add_prefix_space, int use_regex, ft_err *err);
int ft_pretok_add_digits(ft_pretok *p, int individual, ft_err *err);
int ft_pretok_add_metaspace(ft_pretok *p, const char *replacement, int prepend, int split,
                            ft_err *err);
int ft_pretok_add_whitespace(ft_pretok *p, int split_only, ft_err *err);
/* Steps in the chain (a bytelevel step that does nothing is not counted). */
size_t ft_pretok_steps(const ft_pretok *p);

typedef int (*ft_pretok_fn)(void *ctx, const char *piece, size_t n_bytes, ft_err *err);

/* Cut text (valid UTF-8) and call fn on each non-empty piece. at_start says
 * the text begins the whole input (for metaspace's "first" scheme). A
 * non-zero return of fn stops the run and is returned. */
int ft_pretok_run(ft_pretok *p, const char *text, size_t n_bytes, int at_start,
                  ft_pretok_fn fn, void *ctx, ft_err *err);

#endif
