/* rowmm: the product y = x·Wᵀ (+ b) of linear.h, computed so that a row's
 * result depends on nothing but that row: not on the other rows of the
 * call, its place among them, nor the thread count. BLAS chooses kernels
 * and splits its sums by the whole shape and the threads, so there one row
 * computed alone and the same row in a batch of eight differ in the last
 * bits; greedy and sampled generation can then part ways. Generation uses
 * this product so that a response is the same bytes in any batch.
 *
 * Each output is one dot product in a fixed order: x[k]·w[k] accumulated in
 * 16 lanes (lane i takes the k ≡ i mod 16 below the last multiple of 16, in
 * order), the lanes summed pairwise ((i, i+8), then (i, i+4), (i, i+2),
 * (0, 1)), then the remaining products added in order. Then the old output
 * is added (add = 1), then the bias. Register tiles of 4 rows by 4 outputs
 * share loads but not sums. The same bytes on one machine; another CPU (the
 * code is compiled for x86-64-v4 and v3 as well) may round differently.
 *
 * Legend as linear.h: N rows, C input features, OC outputs.
 *   inp  [N, C]    row stride C
 *   w    [OC, C]   Hugging Face layout
 *   bias [OC]      or NULL
 *   out  [N, ldo]  overwritten, or added to when add is 1
 * Not here: backward (training runs on linear.h's BLAS products). */
#ifndef FT_NN_ROWMM_H
#define FT_NN_ROWMM_H

void ft_rowmm_forward(float *out, int ldo, const float *inp, const float *w,
                      const float *bias, int N, int C, int OC, int add);

#endif
