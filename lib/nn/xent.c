/* xent: fused softmax cross-entropy (see xent.h). */
#include "nn/xent.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "nn/vexp.h"

/* The largest logit of a row. */
static float row_max(const float *x, int V)
{
    float mx = x[0];
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < V; j++)
        mx = x[j] > mx ? x[j] : mx;
    return mx;
}

/* Σ exp(x − mx) of a row, summed in double. */
static double row_sum_exp(const float *x, int V, float mx)
{
    double sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < V; j++)
        sum += ft_vexp(x[j] - mx);
    return sum;
}

void ft_xent_forward(float *loss, const float *logits, const int32_t *targets, int n, int V)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < n; r++) {
        const float *x = logits + (size_t)r * V;
        if (targets[r] < 0) {
            loss[r] = 0;
            continue;
        }
        float mx = row_max(x, V);
        loss[r] = (float)(log(row_sum_exp(x, V, mx)) + mx - x[targets[r]]);
    }
}

void ft_xent_forward_backward(float *loss, float *logits, const int32_t *targets,
                              const float *dscale, int n, int V)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < n; r++) {
        float *x = logits + (size_t)r * V;
        if (targets[r] < 0) {
            loss[r] = 0;
            memset(x, 0, (size_t)V * sizeof *x);
            continue;
        }

        /* the exponentials once, in place; the loss from their sum */
        float mx = row_max(x, V), xt = x[targets[r]];
        double sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < V; j++) {
            x[j] = ft_vexp(x[j] - mx);
            sum += x[j];
        }
        loss[r] = (float)(log(sum) + mx - xt);

        /* dlogits = dscale · (softmax − onehot) */
        float k = (float)(dscale[r] / sum);
#pragma omp simd
        for (int j = 0; j < V; j++)
            x[j] *= k;
        x[targets[r]] -= dscale[r];
    }
}
