/* sentences: cutting text into sentences with one PCRE2 pattern.
 *
 * A sentence ends at '.', '!', '?' or an ellipsis (with any closing quotes
 * or brackets after it) followed by white space and more text. A full stop
 * does not end a sentence after a common abbreviation (Mr., Dr., e.g., etc.,
 * U.S., months, titles: the list is in sentences.c) nor after a single
 * capital initial ("J. K. Rowling"); a decimal point is never followed by
 * white space, so "3.5" stays whole; an ellipsis followed by a lower-case
 * word continues the sentence. A text without such a boundary is one
 * sentence.
 *
 * Not here: languages whose sentences end otherwise (e.g. Chinese '。' with
 * no space after it: such a text is one sentence). */
#ifndef FT_TEXT_SENTENCES_H
#define FT_TEXT_SENTENCES_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "text/rx.h"

typedef struct ft_span {
    uint32_t off, len;
} ft_span;

typedef struct ft_sentencer ft_sentencer;

ft_sentencer *ft_sent_new(ft_err *err);
void ft_sent_free(ft_sentencer *s);

/* Cut s (valid UTF-8) into sentences: spans without the white space around
 * them, in order; the white space between two spans separates them. *out is
 * grown as needed (*cap items). Text that is only white space has no
 * sentence. m is the calling thread's match scratch. */
int ft_sent_split(const ft_sentencer *s, ft_rx_match *m, const char *text, size_t n,
                  ft_span **out, size_t *n_out, size_t *cap, ft_err *err);

#endif
