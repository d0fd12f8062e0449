/* perturb: sentence rewrite rules (PCRE2 pattern -> replacement) read from
 * a plain rule file, for syntax perturbation that keeps the meaning.
 *
 * Rule file: UTF-8 text, one directive a line; '#' starts a comment line.
 *     rule NAME          starts a rule
 *     match PATTERN      required: PCRE2 pattern tried on one sentence
 *     unless PATTERN     optional, repeatable: the rule does not fire on a
 *                        sentence this matches
 *     replace TEXT       required: PCRE2 extended replacement ($1, ${name},
 *                        \l and \u lower- or upper-case the next character,
 *                        \L..\E and \U..\E a stretch; unset groups are empty)
 * A directive's value is the rest of its line after the keyword and the
 * white space following it, trailing white space removed. A rule fires on a
 * sentence when match matches and no unless does; firing replaces the first
 * match. When the sentence began with an upper-case letter, the result's
 * first letter is made upper case too (rules lower-case the word they move
 * away from the front with \l).
 *
 * Not here: which sentence or rule to use (augment), sentence cutting. */
#ifndef FT_TEXT_PERTURB_H
#define FT_TEXT_PERTURB_H

#include <stddef.h>

#include "core/err.h"
#include "text/rx.h"

typedef struct ft_perturb ft_perturb;

ft_perturb *ft_perturb_new(ft_err *err);
void ft_perturb_free(ft_perturb *p);

/* Add the rules of a file, or of text in memory (name is used in
 * messages). Errors name the file and line. */
int ft_perturb_load(ft_perturb *p, const char *path, ft_err *err);
int ft_perturb_parse(ft_perturb *p, const char *text, size_t n, const char *name,
                     ft_err *err);

size_t ft_perturb_count(const ft_perturb *p);
const char *ft_perturb_name(const ft_perturb *p, size_t i);

/* Whether rule i fires on sentence s: 1 yes, 0 no, -1 matching error. */
int ft_perturb_fires(const ft_perturb *p, size_t i, ft_rx_match *m, const char *s,
                     size_t n, ft_err *err);
/* Rewrite s with rule i: 1 with the result in *out (grown as needed, *cap
 * bytes), 0 when the rule does not fire, -1 on error. */
int ft_perturb_apply(const ft_perturb *p, size_t i, ft_rx_match *m, const char *s, size_t n,
                     char **out, size_t *out_len, size_t *cap, ft_err *err);

#endif
