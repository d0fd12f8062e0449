/* json: JSON text to msgpack, directly, without building a tree.
 *
 * One JSON value (RFC 8259, strict: no comments, no trailing commas, no
 * control characters in strings) becomes one msgpack object with the same
 * structure: objects become maps with their keys in order, integers that
 * fit 64 bits become msgpack integers, other numbers float64, strings str
 * (escapes decoded, surrogate pairs joined). Strings must be valid UTF-8;
 * under fix_utf8 bad bytes and lone surrogate escapes become U+FFFD.
 *
 * The converter works on a byte window that may end in the middle of a
 * value: it then says "incomplete" and the caller retries with more bytes,
 * so values of any size stream through lib/data/input.
 *
 * Not here: what the values mean as records (lib/data/import.c). jansson
 * is the oracle of the unit tests; it is not used here because building
 * its tree costs more than the whole conversion (see bench/README.md). */
#ifndef FT_DATA_JSON_H
#define FT_DATA_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define FT_JSON_MAX_DEPTH 512

typedef struct ft_json {
    uint8_t *buf;       /* the msgpack output of the last value */
    size_t len, cap;
    int fix_utf8;       /* replace bad UTF-8 instead of failing */
    size_t n_fixed;     /* replacements made in the last value */
    size_t err_at;      /* after an error: its byte index in the input */
} ft_json;

enum { FT_JSON_INCOMPLETE = 0, FT_JSON_DONE = 1 };

/* Convert the value at s[0] (not whitespace) of the window s[0..n) into
 * j->buf (replacing what was there). at_end says no more input follows the
 * window. Returns FT_JSON_DONE with *consumed the value's length in bytes,
 * FT_JSON_INCOMPLETE when the window ends inside the value (only when
 * !at_end), or -1 with a message "invalid JSON: what" and j->err_at. */
int ft_json_convert(ft_json *j, const char *s, size_t n, int at_end, size_t *consumed,
                    ft_err *err);
void ft_json_free(ft_json *j);

/* The number of JSON whitespace bytes at the front of s[0..n), counting
 * the line feeds among them into *lines. */
size_t ft_json_skip_space(const char *s, size_t n, uint64_t *lines);

#endif
