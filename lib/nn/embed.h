/* embed: token embeddings plus optional learned positions (GPT-2).
 *
 * Legend: B batch rows, T tokens per row, C model width, V vocabulary,
 * NP rows of the position table.
 *   tokens [B, T]  int32 in [0, V) (checked by the caller)
 *   wte    [V, C]  token table
 *   wpe    [NP, C] position table, or NULL (rotary models)
 *   out    [B, T, C]
 * Token t of every row sits at position pos0 + t (pos0 = P with a prefix of
 * P key/value entries, or the length of a KV cache), so pos0 + T <= NP.
 * Backward adds into dwte and dwpe (either may be NULL: frozen). */
#ifndef FT_NN_EMBED_H
#define FT_NN_EMBED_H

#include <stdint.h>

void ft_embed_forward(float *out, const int32_t *tokens, const float *wte, const float *wpe,
                      int pos0, int B, int T, int C);

void ft_embed_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                       int pos0, int B, int T, int C);

#endif
