/* linear: matrix products of the engine (see linear.h). */
#include "nn/linear.h"

#include <cblas.h>

void ft_linear_forward(float *out, int ldo, const float *inp, const float *w,
                       const float *bias, int N, int C, int OC, int add)
{
    if (N <= 0 || OC <= 0)
        return;

    /* out (+)= inp · wᵀ */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, w, C,
                add ? 1.0f : 0.0f, out, ldo);

    /* out += bias, row by row */
    if (bias) {
#pragma omp parallel for schedule(static) if ((long)N * OC > 32768)
        for (int n = 0; n < N; n++) {
            float *o = out + (size_t)n * ldo;
            for (int j = 0; j < OC; j++)
                o[j] += bias[j];
        }
    }
}

void ft_linear_backward(float *dinp, float *dw, float *dbias, const float *dout, int ldo,
                        const float *inp, const float *w, int N, int C, int OC)
{
    if (N <= 0 || OC <= 0)
        return;

    /* dinp += dout · w */
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, ldo,
                    w, C, 1.0f, dinp, C);

    /* dw += doutᵀ · inp */
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, ldo,
                    inp, C, 1.0f, dw, C);

    /* dbias += Σ_n dout[n]; columns split across threads, rows summed in order */
    if (dbias) {
#pragma omp parallel for schedule(static) if ((long)N * OC > 32768)
        for (int j0 = 0; j0 < OC; j0 += 64) {
            int j1 = j0 + 64 < OC ? j0 + 64 : OC;
            for (int n = 0; n < N; n++) {
                const float *d = dout + (size_t)n * ldo;
                for (int j = j0; j < j1; j++)
                    dbias[j] += d[j];
            }
        }
    }
}
