/* utf8: checking and repairing UTF-8 in imported text.
 *
 * ft's records carry text as UTF-8. Input that is not valid UTF-8 is either
 * an error (the position of the first bad byte is reported) or, on request,
 * repaired by replacing each maximal ill-formed subsequence with U+FFFD, the
 * way Unicode recommends (so "\xE2\x82" becomes one U+FFFD, "\xFF\xFE" two).
 * Valid means the Unicode definition: no overlong forms, no surrogates
 * (U+D800..U+DFFF), nothing above U+10FFFF.
 *
 * Not here: normalisation, case folding, code point classes (lib/text). */
#ifndef FT_DATA_UTF8_H
#define FT_DATA_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* The length of the longest valid prefix of s[0..n): n when all of it is
 * valid. The byte at the returned index starts the first bad sequence. */
size_t ft_utf8_valid_prefix(const char *s, size_t n);

/* Length of the ill-formed subsequence starting at s[0] (1 to 3 bytes), to
 * be replaced by one U+FFFD. Call only where ft_utf8_valid_prefix stopped. */
size_t ft_utf8_bad_len(const char *s, size_t n);

/* Copy s[0..n) to *out (malloc'd, or reused and grown: *cap is its size),
 * replacing bad sequences with U+FFFD (EF BF BD). *out_len is the length
 * written; *n_fixed counts the replacements. */
int ft_utf8_fix(const char *s, size_t n, char **out, size_t *cap, size_t *out_len,
                size_t *n_fixed, ft_err *err);

/* Encode code point cp (<= 0x10FFFF, not a surrogate) into out[0..4);
 * returns the byte count. */
int ft_utf8_encode(uint32_t cp, char *out);

#endif
