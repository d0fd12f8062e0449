/* rope: rotary embedding tables and rotation (see rope.h). */
#include "nn/rope.h"

#include <math.h>
#include <stdlib.h>

void ft_rope_inv_freq(double *inv_freq, int hd, double theta, const ft_rope_scaling *scaling)
{
    int half = hd / 2;

    for (int i = 0; i < half; i++)
        inv_freq[i] = 1.0 / pow(theta, 2.0 * i / hd);
    if (!scaling || scaling->kind != FT_ROPE_SCALING_LLAMA3)
        return;

    /* Llama 3: keep high frequencies, divide low ones by factor, blend between */
    const ft_rope_scaling *s = scaling;
    double low_wavelen = s->original_max_pos / s->low_freq_factor;
    double high_wavelen = s->original_max_pos / s->high_freq_factor;
    for (int i = 0; i < half; i++) {
        double f = inv_freq[i], wavelen = 2 * M_PI / f;
        if (wavelen < high_wavelen)
            continue;
        if (wavelen > low_wavelen) {
            inv_freq[i] = f / s->factor;
            continue;
        }
        double smooth = (s->original_max_pos / wavelen - s->low_freq_factor) /
                        (s->high_freq_factor - s->low_freq_factor);
        inv_freq[i] = (1 - smooth) * f / s->factor + smooth * f;
    }
}

int ft_rope_init(ft_rope *r, int hd, int n_pos, double theta, const ft_rope_scaling *scaling,
                 ft_err *err)
{
    int half = hd / 2;
    double *inv_freq = ft_calloc(half ? half : 1, sizeof *inv_freq, err);

    r->hd = hd;
    r->n_pos = n_pos;
    r->cos = ft_calloc((size_t)n_pos * half, sizeof *r->cos, err);
    r->sin = ft_calloc((size_t)n_pos * half, sizeof *r->sin, err);
    if (!inv_freq || !r->cos || !r->sin) {
        free(inv_freq);
        ft_rope_free(r);
        return -1;
    }

    ft_rope_inv_freq(inv_freq, hd, theta, scaling);
    for (int p = 0; p < n_pos; p++) {
        for (int i = 0; i < half; i++) {
            double a = p * inv_freq[i];
            r->cos[(size_t)p * half + i] = (float)cos(a);
            r->sin[(size_t)p * half + i] = (float)sin(a);
        }
    }
    free(inv_freq);
    return 0;
}

void ft_rope_free(ft_rope *r)
{
    free(r->cos);
    free(r->sin);
    r->cos = r->sin = NULL;
}

/* Turn every head of every row by +angle (dir 1) or −angle (dir −1). */
static void rotate(float *x, int ld, const ft_rope *r, int pos0, int B, int T, int nh,
                   float dir)
{
    int hd = r->hd, half = hd / 2;

#pragma omp parallel for schedule(static) if ((long)B * T * nh * hd > 65536)
    for (int n = 0; n < B * T; n++) {
        const float *cs = r->cos + (size_t)(pos0 + n % T) * half;
        const float *sn = r->sin + (size_t)(pos0 + n % T) * half;
        for (int h = 0; h < nh; h++) {
            float *a = x + (size_t)n * ld + (size_t)h * hd, *b = a + half;
            for (int i = 0; i < half; i++) {
                float c = cs[i], s = dir * sn[i];
                float x0 = a[i], x1 = b[i];
                a[i] = x0 * c - x1 * s;
                b[i] = x1 * c + x0 * s;
            }
        }
    }
}

void ft_rope_forward(float *x, int ld, const ft_rope *r, int pos0, int B, int T, int nh)
{
    rotate(x, ld, r, pos0, B, T, nh, 1.0f);
}

void ft_rope_backward(float *dx, int ld, const ft_rope *r, int pos0, int B, int T, int nh)
{
    rotate(dx, ld, r, pos0, B, T, nh, -1.0f);
}
