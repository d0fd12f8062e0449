/* rowmm: products whose rows do not depend on one another (see rowmm.h). */
#include "nn/rowmm.h"

#include <string.h>

/* GCC's vector types: each lane's additions stay as written (no
 * reassociation without -ffast-math), whatever instructions carry them. */
typedef float v16 __attribute__((vector_size(64)));
typedef float v8 __attribute__((vector_size(32)));
typedef float v4 __attribute__((vector_size(16)));

#define LANES 16
#define TILE 4       /* rows and outputs of a register tile */
#define ROW_CHUNK 64 /* rows whose inputs stay in cache while the outputs sweep */

/* ft is built for the x86-64 baseline; the inner loop is also compiled for
 * AVX-512 and AVX2 with FMA, and the loader picks one for the machine. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define CLONES                                                                           \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

/* The 16 lane sums added pairwise: (i, i+8), (i, i+4), (i, i+2), (0, 1). */
static inline float lanes_sum(const v16 *a)
{
    v8 lo, hi, s8;
    v4 l4, h4, s4;

    memcpy(&lo, a, sizeof lo);
    memcpy(&hi, (const char *)a + sizeof lo, sizeof hi);
    s8 = lo + hi;
    memcpy(&l4, &s8, sizeof l4);
    memcpy(&h4, (const char *)&s8 + sizeof l4, sizeof h4);
    s4 = l4 + h4;
    return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

/* One output from its lane sums: the products past the last full 16 in
 * order, the old value when adding, the bias. */
static inline void finish(float *y, const v16 *acc, const float *x, const float *w,
                          int k0, int C, int add, const float *bias)
{
    float s = lanes_sum(acc);

    for (int k = k0; k < C; k++)
        s += x[k] * w[k];
    if (add)
        s = *y + s;
    if (bias)
        s += *bias;
    *y = s;
}

/* Outputs [j0, j0 + nj) of rows [n0, n1): 4 x 4 tiles, then the rest one
 * output at a time with the same lane sums. */
CLONES static void block(float *out, int ldo, const float *inp, const float *w,
                         const float *bias, int n0, int n1, int C, int j0, int nj,
                         int add)
{
    int KV = C - C % LANES, n = n0;
    const float *wj = w + (size_t)j0 * C;

    for (; nj == TILE && n + TILE <= n1; n += TILE) {
        const float *xn = inp + (size_t)n * C;
        v16 acc[TILE][TILE];

        memset(acc, 0, sizeof acc);
        for (int k = 0; k < KV; k += LANES) {
            v16 xv[TILE], wv[TILE];
            for (int i = 0; i < TILE; i++) {
                memcpy(&xv[i], xn + (size_t)i * C + k, sizeof xv[i]);
                memcpy(&wv[i], wj + (size_t)i * C + k, sizeof wv[i]);
            }
            for (int i = 0; i < TILE; i++)
                for (int o = 0; o < TILE; o++)
                    acc[i][o] += xv[i] * wv[o];
        }
        for (int i = 0; i < TILE; i++)
            for (int o = 0; o < TILE; o++)
                finish(out + (size_t)(n + i) * ldo + j0 + o, &acc[i][o],
                       xn + (size_t)i * C, wj + (size_t)o * C, KV, C, add,
                       bias ? bias + j0 + o : NULL);
    }

    for (; n < n1; n++) {
        const float *x = inp + (size_t)n * C;
        for (int o = 0; o < nj; o++) {
            const float *wo = wj + (size_t)o * C;
            v16 acc, xv, wv;

            memset(&acc, 0, sizeof acc);
            for (int k = 0; k < KV; k += LANES) {
                memcpy(&xv, x + k, sizeof xv);
                memcpy(&wv, wo + k, sizeof wv);
                acc += xv * wv;
            }
            finish(out + (size_t)n * ldo + j0 + o, &acc, x, wo, KV, C, add,
                   bias ? bias + j0 + o : NULL);
        }
    }
}

void ft_rowmm_forward(float *out, int ldo, const float *inp, const float *w,
                      const float *bias, int N, int C, int OC, int add)
{
    int n_blocks = (OC + TILE - 1) / TILE;

    if (N <= 0 || OC <= 0)
        return;

    /* threads take blocks of 4 outputs; every output is one thread's sum */
    for (int n0 = 0; n0 < N; n0 += ROW_CHUNK) {
        int n1 = N - n0 < ROW_CHUNK ? N : n0 + ROW_CHUNK;
#pragma omp parallel for schedule(static) if ((long)(n1 - n0) * C * OC > 32768)
        for (int b = 0; b < n_blocks; b++) {
            int j0 = b * TILE;
            block(out, ldo, inp, w, bias, n0, n1, C, j0, OC - j0 < TILE ? OC - j0 : TILE,
                  add);
        }
    }
}
