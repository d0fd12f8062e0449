/* linear: matrix products of the engine (see linear.h). */
#include "nn/linear.h"

#include <cblas.h>
#include <omp.h>

void ft_linear_forward(float *out, int ldo, const float *inp, const float *w,
                       const float *bias, int N, int C, int OC, int add)
{
    if (N <= 0 || OC <= 0)
        return;

    /* out (+)= inp · wᵀ */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, w, C,
                add ? 1.0f : 0.0f, out, ldo);

    ft_linear_add_bias(out, ldo, bias, N, OC);
}

void ft_linear_add_bias(float *out, int ldo, const float *bias, int N, int OC)
{
    if (!bias)
        return;
#pragma omp parallel for schedule(static) if ((long)N * OC > 32768)
    for (int n = 0; n < N; n++) {
        float *o = out + (size_t)n * ldo;
        for (int j = 0; j < OC; j++)
            o[j] += bias[j];
    }
}

/* dinp += dout · w */
static void dinp_product(float *dinp, const float *dout, int ldo, const float *w, int N, int C,
                         int OC)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, ldo, w, C,
                1.0f, dinp, C);
}

/* dw += doutᵀ · inp */
static void dw_product(float *dw, const float *dout, int ldo, const float *inp, int N, int C,
                       int OC)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, ldo, inp, C,
                1.0f, dw, C);
}

void ft_linear_backward(float *dinp, float *dw, float *dbias, const float *dout, int ldo,
                        const float *inp, const float *w, int N, int C, int OC)
{
    if (N <= 0 || OC <= 0)
        return;

    /* The two products have the same size and share nothing they write: with
     * two threads, one each beats both threads on one and then the other
     * (bench/README.md: 6-12% on the training shapes, 30% on the
     * classifier's). */
    if (dinp && dw && omp_get_max_threads() == 2 && !omp_in_parallel()) {
#pragma omp parallel sections num_threads(2)
        {
#pragma omp section
            dinp_product(dinp, dout, ldo, w, N, C, OC);
#pragma omp section
            dw_product(dw, dout, ldo, inp, N, C, OC);
        }
    } else {
        if (dinp)
            dinp_product(dinp, dout, ldo, w, N, C, OC);
        if (dw)
            dw_product(dw, dout, ldo, inp, N, C, OC);
    }

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
