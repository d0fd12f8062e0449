/* prefix_impl: what prefix.c and prefix_io.c share, not for other modules. */
#ifndef FT_ADAPT_PREFIX_IMPL_H
#define FT_ADAPT_PREFIX_IMPL_H

#include "adapt/prefix.h"

/* An adapter of N virtual tokens (projection H, 0: none) for cfg with all
 * parameters zero; checks N against the context, H and the dropout. */
ft_prefix_adapter *ft_prefix_alloc(const ft_config *cfg, int N, int H, double dropout,
                                   ft_err *err);

/* The MLP's hidden activations from the current parameters (projection
 * only), without recomputing pe: a loaded adapter keeps its stored output. */
void ft_prefix_hidden(ft_prefix_adapter *a);

#endif
