/* norm: RMSNorm and LayerNorm forward and backward (see norm.h).
 *
 * The weight gradients sum over rows; to stay deterministic for a given
 * thread count without atomics, threads split the columns for dw/db and the
 * rows for dinp. */
#include "nn/norm.h"

#include <math.h>
#include <stddef.h>

#define PAR_MIN 32768L

void ft_norm_rms_forward(float *out, float *rstd, const float *inp, const float *w, int N,
                         int C, float eps)
{
#pragma omp parallel for schedule(static) if ((long)N * C > PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;

        /* rstd = 1 / sqrt(mean(x²) + eps) */
        double ss = 0;
        for (int c = 0; c < C; c++)
            ss += (double)x[c] * x[c];
        float s = (float)(1.0 / sqrt(ss / C + eps));
        rstd[n] = s;

        for (int c = 0; c < C; c++)
            o[c] = x[c] * s * w[c];
    }
}

void ft_norm_rms_backward(float *dinp, float *dw, const float *dout, const float *inp,
                          const float *w, const float *rstd, int N, int C)
{
    /* dinp = rstd·(w∘dout) − x · rstd³/C · Σ_c (w∘dout∘x) */
#pragma omp parallel for schedule(static) if ((long)N * C > PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        const float *d = dout + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        float s = rstd[n];

        double dot = 0;
        for (int c = 0; c < C; c++)
            dot += (double)w[c] * d[c] * x[c];
        float k = (float)(dot * s * s * s / C);

        for (int c = 0; c < C; c++)
            dx[c] += s * w[c] * d[c] - k * x[c];
    }

    /* dw += Σ_n dout · x · rstd */
    if (dw) {
#pragma omp parallel for schedule(static) if ((long)N * C > PAR_MIN)
        for (int c0 = 0; c0 < C; c0 += 32) {
            int c1 = c0 + 32 < C ? c0 + 32 : C;
            for (int n = 0; n < N; n++) {
                const float *x = inp + (size_t)n * C;
                const float *d = dout + (size_t)n * C;
                for (int c = c0; c < c1; c++)
                    dw[c] += d[c] * x[c] * rstd[n];
            }
        }
    }
}

void ft_norm_layer_forward(float *out, float *mean, float *rstd, const float *inp,
                           const float *w, const float *b, int N, int C, float eps)
{
#pragma omp parallel for schedule(static) if ((long)N * C > PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;

        /* mean, then variance around it (two passes: no cancellation) */
        double m = 0, v = 0;
        for (int c = 0; c < C; c++)
            m += x[c];
        m /= C;
        for (int c = 0; c < C; c++)
            v += (x[c] - m) * (x[c] - m);
        float s = (float)(1.0 / sqrt(v / C + eps));
        mean[n] = (float)m;
        rstd[n] = s;

        float mf = (float)m;
        for (int c = 0; c < C; c++)
            o[c] = (x[c] - mf) * s * w[c] + b[c];
    }
}

void ft_norm_layer_backward(float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, const float *mean,
                            const float *rstd, int N, int C)
{
    /* With xh = (x − mean)·rstd and g = w∘dout:
     * dinp = rstd · (g − mean_c(g) − xh · mean_c(g∘xh)) */
#pragma omp parallel for schedule(static) if ((long)N * C > PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        const float *d = dout + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        float m = mean[n], s = rstd[n];

        double gsum = 0, gxsum = 0;
        for (int c = 0; c < C; c++) {
            float g = w[c] * d[c];
            gsum += g;
            gxsum += (double)g * (x[c] - m) * s;
        }
        float gm = (float)(gsum / C), gxm = (float)(gxsum / C);

        for (int c = 0; c < C; c++) {
            float xh = (x[c] - m) * s;
            dx[c] += s * (w[c] * d[c] - gm - xh * gxm);
        }
    }

    /* dw += Σ_n dout·xh, db += Σ_n dout */
    if (dw || db) {
#pragma omp parallel for schedule(static) if ((long)N * C > PAR_MIN)
        for (int c0 = 0; c0 < C; c0 += 32) {
            int c1 = c0 + 32 < C ? c0 + 32 : C;
            for (int n = 0; n < N; n++) {
                const float *x = inp + (size_t)n * C;
                const float *d = dout + (size_t)n * C;
                for (int c = c0; c < c1; c++) {
                    if (dw)
                        dw[c] += d[c] * (x[c] - mean[n]) * rstd[n];
                    if (db)
                        db[c] += d[c];
                }
            }
        }
    }
}
