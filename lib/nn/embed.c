/* embed: token and position embeddings (see embed.h). */
#include "nn/embed.h"

#include <stddef.h>
#include <string.h>

void ft_embed_forward(float *out, const int32_t *tokens, const float *wte, const float *wpe,
                      int pos0, int B, int T, int C)
{
#pragma omp parallel for schedule(static) if ((long)B * T * C > 65536)
    for (int n = 0; n < B * T; n++) {
        float *o = out + (size_t)n * C;
        const float *e = wte + (size_t)tokens[n] * C;
        if (wpe) {
            const float *p = wpe + (size_t)(pos0 + n % T) * C;
            for (int c = 0; c < C; c++)
                o[c] = e[c] + p[c];
        } else {
            memcpy(o, e, (size_t)C * sizeof *o);
        }
    }
}

void ft_embed_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                       int pos0, int B, int T, int C)
{
    /* Rows may repeat a token, so threads split the columns, never the rows:
     * every thread adds its slice of all rows in the same order. */
#pragma omp parallel for schedule(static) if ((long)B * T * C > 65536)
    for (int c0 = 0; c0 < C; c0 += 32) {
        int c1 = c0 + 32 < C ? c0 + 32 : C;
        for (int n = 0; n < B * T; n++) {
            const float *d = dout + (size_t)n * C;
            if (dwte) {
                float *g = dwte + (size_t)tokens[n] * C;
                for (int c = c0; c < c1; c++)
                    g[c] += d[c];
            }
            if (dwpe) {
                float *g = dwpe + (size_t)(pos0 + n % T) * C;
                for (int c = c0; c < c1; c++)
                    g[c] += d[c];
            }
        }
    }
}
