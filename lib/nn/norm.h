/* norm: RMSNorm (Llama, Qwen2) and LayerNorm (GPT-2) over the last axis.
 *
 * Legend: N rows, C features.
 *   inp, out, dinp, dout [N, C]
 *   w, b, dw, db         [C]     (b, db: LayerNorm only)
 *   mean, rstd           [N]     saved by forward for backward
 * RMSNorm:   out = inp · rstd · w,          rstd = 1/sqrt(mean(inp²) + eps)
 * LayerNorm: out = (inp − mean) · rstd · w + b, rstd = 1/sqrt(var(inp) + eps)
 * Statistics are accumulated in double. Backward adds into dinp, dw, db
 * (dw and db may be NULL: frozen weights). */
#ifndef FT_NN_NORM_H
#define FT_NN_NORM_H

void ft_norm_rms_forward(float *out, float *rstd, const float *inp, const float *w, int N,
                         int C, float eps);

void ft_norm_rms_backward(float *dinp, float *dw, const float *dout, const float *inp,
                          const float *w, const float *rstd, int N, int C);

void ft_norm_layer_forward(float *out, float *mean, float *rstd, const float *inp,
                           const float *w, const float *b, int N, int C, float eps);

void ft_norm_layer_backward(float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, const float *mean,
                            const float *rstd, int N, int C);

#endif
