/* strtab: a table of interned byte strings, each with a dense id.
 *
 * Strings are copied into one arena and found again by hash in O(1); ids run
 * 0, 1, 2 ... in insertion order, so a caller can keep per-string data in a
 * plain array indexed by id. Used for word lists (stop words), synonym
 * dictionaries and other look-up sets. Once filled, a table may be read from
 * many threads at once; interning is not thread-safe.
 *
 * Not here: case folding or any other normalisation (callers pass the form
 * they want matched). */
#ifndef FT_TEXT_STRTAB_H
#define FT_TEXT_STRTAB_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct ft_strtab ft_strtab;

ft_strtab *ft_strtab_new(ft_err *err);
void ft_strtab_free(ft_strtab *t);

/* The id of s (len bytes, any content), adding it when new; -1 on
 * allocation failure. */
int64_t ft_strtab_intern(ft_strtab *t, const char *s, size_t len, ft_err *err);
/* The id of s, or -1 when absent. */
int64_t ft_strtab_find(const ft_strtab *t, const char *s, size_t len);
/* The string of an id (NUL-terminated in the arena; valid until the next
 * intern, which may move the arena) and its length. */
const char *ft_strtab_str(const ft_strtab *t, uint32_t id, size_t *len);
uint32_t ft_strtab_count(const ft_strtab *t);

/* Add every line of a word-list file: one entry a line, surrounding white
 * space trimmed, empty lines and lines starting with '#' skipped. fold, when
 * not NULL, maps each entry first (e.g. to lower case); it writes at most
 * 3 * n + 4 bytes to out and returns the length written. */
int ft_strtab_load_lines(ft_strtab *t, const char *path,
                         size_t (*fold)(const char *s, size_t n, char *out),
                         ft_err *err);

#endif
