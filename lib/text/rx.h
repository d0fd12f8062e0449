/* rx: PCRE2 regular expressions as the text modules use them: UTF-8 with
 * Unicode properties (\w, \b and \p{..} know every script), JIT-compiled
 * when the platform allows, errors as one sentence.
 *
 * A compiled ft_rx is immutable and may be shared by threads; each thread
 * matches with its own ft_rx_match scratch. Subjects must be valid UTF-8
 * (callers check once; matching skips PCRE2's own check).
 *
 * Not here: what the patterns are (sentences, perturb). */
#ifndef FT_TEXT_RX_H
#define FT_TEXT_RX_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct ft_rx ft_rx;
typedef struct ft_rx_match ft_rx_match;

/* Compile pattern (len bytes). A bad pattern gives "PATTERN: at offset N:
 * reason". */
ft_rx *ft_rx_compile(const char *pattern, size_t len, ft_err *err);
void ft_rx_free(ft_rx *rx);

ft_rx_match *ft_rx_match_new(ft_err *err);
void ft_rx_match_free(ft_rx_match *m);

/* Find the first match in s[0..n) starting at or after byte start: 1 with
 * [*m_start, *m_end), 0 when none, -1 on a matching error (e.g. the
 * backtracking limit). */
int ft_rx_find(const ft_rx *rx, ft_rx_match *m, const char *s, size_t n, size_t start,
               size_t *m_start, size_t *m_end, ft_err *err);

/* Replace the first match of rx in s by repl, which may use $1, ${name},
 * \u, \l, \U, \L and ${1:+yes:no} (PCRE2's extended substitution). 1 with
 * the result in *out (grown as needed, *cap bytes, NUL-terminated), 0 when
 * rx does not match, -1 on error. */
int ft_rx_subst(const ft_rx *rx, ft_rx_match *m, const char *s, size_t n, const char *repl,
                size_t repl_len, char **out, size_t *out_len, size_t *cap, ft_err *err);

/* Check the syntax of a replacement string: 0, or -1 with the reason. */
int ft_rx_check_repl(const char *repl, size_t repl_len, ft_err *err);

#endif
