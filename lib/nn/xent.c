/* xent: fused softmax cross-entropy (see xent.h). */
#include "nn/xent.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

/* max and Σ exp(x − max) of a row; the sum in double. */
static void row_stats(const float *x, int V, float *mx_out, double *sum_out)
{
    float mx = x[0];
    for (int j = 1; j < V; j++)
        mx = x[j] > mx ? x[j] : mx;
    double sum = 0;
    for (int j = 0; j < V; j++)
        sum += expf(x[j] - mx);
    *mx_out = mx;
    *sum_out = sum;
}

void ft_xent_forward(float *loss, const float *logits, const int32_t *targets, int n, int V)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < n; r++) {
        const float *x = logits + (size_t)r * V;
        float mx;
        double sum;
        if (targets[r] < 0) {
            loss[r] = 0;
            continue;
        }
        row_stats(x, V, &mx, &sum);
        loss[r] = (float)(log(sum) + mx - x[targets[r]]);
    }
}

void ft_xent_forward_backward(float *loss, float *logits, const int32_t *targets,
                              const float *dscale, int n, int V)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < n; r++) {
        float *x = logits + (size_t)r * V;
        float mx;
        double sum;
        if (targets[r] < 0) {
            loss[r] = 0;
            memset(x, 0, (size_t)V * sizeof *x);
            continue;
        }
        row_stats(x, V, &mx, &sum);
        loss[r] = (float)(log(sum) + mx - x[targets[r]]);

        /* dlogits = dscale · (softmax − onehot) */
        float k = (float)(dscale[r] / sum);
        for (int j = 0; j < V; j++)
            x[j] = k * expf(x[j] - mx);
        x[targets[r]] -= dscale[r];
    }
}
