/* words: cutting UTF-8 text into words and punctuation for word-level
 * edits, and the case handling those edits need.
 *
 * A text is a sequence of tokens, each with the white space before it, so
 * that joining (white space, token) pairs plus the trailing white space gives
 * the text back byte for byte. A word is a run of letters, marks and digits,
 * with an apostrophe, hyphen or full stop inside it kept ("don't",
 * "well-made", "3.14", "U.S"); every other non-space character run is
 * punctuation. Scripts written without spaces (Han, Hiragana, Katakana) are
 * cut into single characters, or by longest match against a dictionary the
 * caller supplies; their tokens are marked tight (no space is added around
 * them).
 *
 * Case: lookups fold with the simple Unicode lower-case mapping of each code
 * point (accents are kept, never stripped); a word's capitalisation (lower,
 * Title, UPPER) can be carried over to a replacement.
 *
 * Not here: which words are stop words or have synonyms (augment, synonyms). */
#ifndef FT_TEXT_WORDS_H
#define FT_TEXT_WORDS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

enum { FT_TOK_WORD = 1, FT_TOK_PUNCT = 2 };

typedef struct ft_tok {
    uint32_t ws;      /* offset of the white space before the token */
    uint32_t off;     /* the token itself: [off, off + len); ws..off is space */
    uint32_t len;
    uint8_t kind;     /* FT_TOK_WORD or FT_TOK_PUNCT */
    uint8_t tight;    /* from a script written without spaces */
} ft_tok;

/* A dictionary for longest-match cutting of tight scripts: has(ctx, s, n)
 * is non-zero when s is an entry; max_bytes bounds the entries' length. */
typedef struct ft_words_dict {
    int (*has)(const void *ctx, const char *s, size_t n);
    const void *ctx;
    size_t max_bytes;
} ft_words_dict;

/* Byte offset of the first invalid UTF-8 sequence in s, or -1 when s is
 * valid (no overlong forms, no surrogates, nothing above U+10FFFF). */
long ft_utf8_invalid_at(const char *s, size_t n);

/* Decode the code point at byte i of valid UTF-8 text; returns its length
 * in bytes. */
size_t ft_utf8_decode(const char *s, size_t i, int32_t *cp);

/* Cut s (valid UTF-8, under 4 GiB) into tokens. *toks is grown as needed
 * (*cap items); *n_toks receives the count. dict may be NULL. */
int ft_words_split(const char *s, size_t n, const ft_words_dict *dict, ft_tok **toks,
                   size_t *n_toks, size_t *cap, ft_err *err);

/* Write the lower-case form of s to out (room for 3 * n + 4 bytes); returns
 * its length. */
size_t ft_words_lower(const char *s, size_t n, char *out);

enum { FT_CASE_LOWER, FT_CASE_TITLE, FT_CASE_UPPER, FT_CASE_OTHER };

/* The capitalisation of a word: FT_CASE_LOWER when no letter is upper case
 * (also for uncased scripts and digits), FT_CASE_TITLE when only the first
 * letter is, FT_CASE_UPPER when every cased letter is and there are at least
 * two, else FT_CASE_OTHER. */
int ft_words_case(const char *s, size_t n);

/* Write s to out (room for 3 * n + 4 bytes) in capitalisation pattern: TITLE
 * upper-cases its first letter, UPPER every letter; LOWER and OTHER copy s
 * as it is (a replacement keeps its own spelling, e.g. a proper noun).
 * Returns the length written. */
size_t ft_words_recase(int pattern, const char *s, size_t n, char *out);

/* The case of a code point: -1 lower case, 1 upper (or title) case, 0 none. */
int ft_words_char_case(int32_t cp);

/* Whether s holds a letter (any script) and whether it holds a digit. */
void ft_words_traits(const char *s, size_t n, int *has_letter, int *has_digit);

/* Whether code point c belongs to a script written without spaces. */
int ft_words_is_tight(int32_t c);

#endif
