/* linear: y = x·Wᵀ + b through OpenBLAS, with weights in the Hugging Face
 * [out, in] layout. The one place ft multiplies activations by weights.
 *
 * Legend: N rows (B*T tokens), C input features, OC output features.
 *   inp  [N, C]    row stride C
 *   w    [OC, C]   (Hugging Face layout: row o holds the weights of output o)
 *   bias [OC]      or NULL
 *   out  [N, ldo]  the OC outputs start at out[0]; ldo >= OC lets a product
 *                  write a column slice of a wider buffer (q, k, v side by side)
 * Forward overwrites out, or adds to it when add is 1 (a residual stream).
 * Backward adds: dinp += dout·W, dw += doutᵀ·inp,
 * dbias += column sums of dout; any of the three may be NULL to skip it.
 *
 * Threading: called outside a parallel region, OpenBLAS uses every thread
 * of the shared OpenMP pool; inside one, it runs on the calling thread. */
#ifndef FT_NN_LINEAR_H
#define FT_NN_LINEAR_H

void ft_linear_forward(float *out, int ldo, const float *inp, const float *w,
                       const float *bias, int N, int C, int OC, int add);

/* out[n, j] += bias[j] for the N rows (nothing when bias is NULL). */
void ft_linear_add_bias(float *out, int ldo, const float *bias, int N, int OC);

void ft_linear_backward(float *dinp, float *dw, float *dbias, const float *dout, int ldo,
                        const float *inp, const float *w, int N, int C, int OC);

#endif
