/* act: SwiGLU and GELU (see act.h). */
#include "nn/act.h"

#include <math.h>
#include <stddef.h>

#include "nn/vexp.h"

#define PAR_MIN 32768L
#define GELU_K 0.7978845608028654f /* √(2/π) */
#define GELU_C 0.044715f

void ft_act_swiglu_forward(float *out, const float *gu, int N, int H)
{
#pragma omp parallel for schedule(static) if ((long)N * H > PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *g = gu + (size_t)n * 2 * H, *u = g + H;
        float *o = out + (size_t)n * H;
#pragma omp simd
        for (int j = 0; j < H; j++)
            o[j] = g[j] / (1.0f + ft_vexp(-g[j])) * u[j];
    }
}

void ft_act_swiglu_backward(float *dgu, const float *dout, const float *gu, int N, int H)
{
#pragma omp parallel for schedule(static) if ((long)N * H > PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *g = gu + (size_t)n * 2 * H, *u = g + H;
        const float *d = dout + (size_t)n * H;
        float *dg = dgu + (size_t)n * 2 * H, *du = dg + H;
#pragma omp simd
        for (int j = 0; j < H; j++) {
            /* silu'(x) = σ(x)·(1 + x·(1 − σ(x))) */
            float sg = 1.0f / (1.0f + ft_vexp(-g[j]));
            float silu = g[j] * sg;
            dg[j] += d[j] * u[j] * sg * (1.0f + g[j] * (1.0f - sg));
            du[j] += d[j] * silu;
        }
    }
}

void ft_act_gelu_forward(float *out, const float *inp, int N, int H)
{
    size_t n = (size_t)N * H;
#pragma omp parallel for schedule(static) if ((long)n > PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + tanhf(GELU_K * (x + GELU_C * x * x * x)));
    }
}

void ft_act_gelu_backward(float *dinp, const float *dout, const float *inp, int N, int H)
{
    size_t n = (size_t)N * H;
#pragma omp parallel for schedule(static) if ((long)n > PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float t = tanhf(GELU_K * (x + GELU_C * x * x * x));
        float du = GELU_K * (1.0f + 3.0f * GELU_C * x * x);
        dinp[i] += dout[i] * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du);
    }
}
