/* labelmap: the --label-map option shared by ft-import and ft-export,
 * "0=negative,1=positive": ft-import maps each value before '=' to the name
 * after it, ft-export maps names back, so a round trip gives the input.
 * Both sides must be unique for the inverse to exist; values may not hold
 * ',' or '='. Empty values are allowed ("=none"). */
#ifndef FT_DATA_LABELMAP_H
#define FT_DATA_LABELMAP_H

#include <stddef.h>

#include "core/err.h"

typedef struct ft_labelmap ft_labelmap;

/* Parse spec; NULL with a usage message on error (duplicates, no '='). */
ft_labelmap *ft_labelmap_parse(const char *spec, ft_err *err);
/* The name for value s[0..n) (inverse: the value for a name), or NULL when
 * the map does not list it. *out_len is set to the result's length. */
const char *ft_labelmap_get(const ft_labelmap *m, const char *s, size_t n,
                            size_t *out_len);
const char *ft_labelmap_inverse(const ft_labelmap *m, const char *s, size_t n,
                                size_t *out_len);
void ft_labelmap_free(ft_labelmap *m);

#endif
