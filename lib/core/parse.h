/* parse: numbers and lists from the command line and from files, with
 * range checks. Each returns 0 or -1 with a message naming the text. */
#ifndef FT_CORE_PARSE_H
#define FT_CORE_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

int ft_parse_long(const char *s, long min, long max, long *out, ft_err *err);
int ft_parse_u64(const char *s, uint64_t *out, ft_err *err);
/* A finite double in [min, max]. */
int ft_parse_double(const char *s, double min, double max, double *out, ft_err *err);
/* A byte count with an optional K, M or G suffix (powers of 1024). */
int ft_parse_bytes(const char *s, size_t *out, ft_err *err);
/* An integer set such as "0,5-7,-1" over [0, n): negative numbers count from
 * the end. Sets mark[i] = 1 for each member (mark has n entries, zeroed by
 * the caller). */
int ft_parse_index_set(const char *s, int n, unsigned char *mark, ft_err *err);

#endif
