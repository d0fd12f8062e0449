/* xent: softmax cross-entropy over the vocabulary, fused with its backward.
 *
 * Legend: n rows (tokens), V vocabulary.
 *   logits  [n, V]
 *   targets [n]   the next token, or -1: no loss at that row
 *   loss    [n]   out: logsumexp(logits) − logits[target], 0 where target −1
 *   dscale  [n]   d(total loss)/d(loss[r]): weight_b / denominator
 * ft_xent_forward_backward overwrites the logits with their gradient,
 * dscale[r]·(softmax − onehot(target)), zero on rows without a target; the
 * model calls it on chunks of rows so [B·T, V] never exists whole.
 * Targets must be in [0, V) or −1 (checked by the caller). */
#ifndef FT_NN_XENT_H
#define FT_NN_XENT_H

#include <stdint.h>

void ft_xent_forward(float *loss, const float *logits, const int32_t *targets, int n, int V);

void ft_xent_forward_backward(float *loss, float *logits, const int32_t *targets,
                              const float *dscale, int n, int V);

#endif
