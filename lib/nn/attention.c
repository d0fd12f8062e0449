/* attention: causal grouped-query attention with a key/value prefix (see
 * attention.h). Scores are computed for the whole [T, S] block with two
 * products (prefix part, real part) and the masked upper triangle is then
 * zeroed: simpler than tiling, and the wasted half is a small share of a
 * step's work at ft's sequence lengths. */
#include "nn/attention.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "nn/vexp.h"

size_t ft_attention_scratch_floats(const ft_attn_dims *d, int backward)
{
    size_t S = (size_t)d->P + d->T;
    size_t n = (size_t)d->T * S;
    if (backward)
        n += 2 * (size_t)d->nkv * d->P * d->hd;
    return n;
}

/* C[M,N] (ldc) = alpha·op(A)·op(B) + beta·C on the calling thread. */
static void gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0) {
        if (beta == 0.0f)
            for (int i = 0; i < M; i++)
                memset(C + (size_t)i * ldc, 0, (size_t)N * sizeof *C);
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* Softmax of row t (row stride S >= P + T) over keys [0, P + t], zeros for
 * the masked rest. */
static void softmax_causal(float *s, int T, int P, int S)
{
    for (int t = 0; t < T; t++) {
        float *r = s + (size_t)t * S;
        int n = P + t + 1;
        float mx = r[0];
#pragma omp simd reduction(max : mx)
        for (int j = 0; j < n; j++)
            mx = r[j] > mx ? r[j] : mx;
        float sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < n; j++) {
            r[j] = ft_vexp(r[j] - mx);
            sum += r[j];
        }
        float inv = 1.0f / sum;
#pragma omp simd
        for (int j = 0; j < n; j++)
            r[j] *= inv;
        for (int j = n; j < S; j++)
            r[j] = 0;
    }
}

void ft_attention_forward(float *out, float *probs, const float *qkv, const float *pk,
                          const float *pv, const ft_attn_dims *d, float *scratch,
                          int n_slots)
{
    int T = d->T, P = d->P, S = P + T, hd = d->hd, nh = d->nh, ld = d->ld;
    int group = nh / d->nkv, ldo = nh * hd;
    float scale = 1.0f / sqrtf((float)hd);
    size_t per_thread = ft_attention_scratch_floats(d, 0);

#pragma omp parallel for schedule(static) num_threads(n_slots)
    for (int task = 0; task < d->B * nh; task++) {
        int b = task / nh, h = task % nh, kvh = h / group;
        const float *q = qkv + (size_t)b * T * ld + (size_t)h * hd;
        const float *k = qkv + (size_t)b * T * ld + (size_t)(nh + kvh) * hd;
        const float *v = k + (size_t)d->nkv * hd;
        float *s = probs ? probs + (size_t)task * T * S
                         : scratch + (size_t)omp_get_thread_num() * per_thread;
        float *o = out + (size_t)b * T * ldo + (size_t)h * hd;

        /* this row's prefix: the shared one, or its own */
        int r = d->row ? d->row[b] : b, Pb = d->stride && d->row_P ? d->row_P[r] : P;
        size_t at = (d->stride ? (size_t)r * d->stride : 0) + (size_t)kvh * d->cap * hd;

        /* scores: s = scale · q · [pk; k]ᵀ */
        if (Pb > 0)
            gemm(0, 1, T, Pb, hd, scale, q, ld, pk + at, hd, 0.0f, s, S);
        gemm(0, 1, T, T, hd, scale, q, ld, k, ld, 0.0f, s + Pb, S);

        softmax_causal(s, T, Pb, S);

        /* o = s · [pv; v] */
        if (Pb > 0)
            gemm(0, 0, T, hd, Pb, 1.0f, s, S, pv + at, hd, 0.0f, o, ldo);
        gemm(0, 0, T, hd, T, 1.0f, s + Pb, S, v, ld, Pb > 0 ? 1.0f : 0.0f, o, ldo);
    }
}

/* ds = p ∘ (dp − Σ_j p∘dp) · scale, row by row, in place in dp. */
static void softmax_backward(float *dp, const float *p, int T, int S, float scale)
{
    for (int t = 0; t < T; t++) {
        float *dr = dp + (size_t)t * S;
        const float *pr = p + (size_t)t * S;
        float dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int j = 0; j < S; j++)
            dot += pr[j] * dr[j];
#pragma omp simd
        for (int j = 0; j < S; j++)
            dr[j] = pr[j] * (dr[j] - dot) * scale;
    }
}

void ft_attention_backward(float *dqkv, float *dpk, float *dpv, const float *dout,
                           const float *qkv, const float *pk, const float *pv,
                           const float *probs, const ft_attn_dims *d, float *scratch,
                           int n_slots)
{
    int T = d->T, P = d->P, S = P + T, hd = d->hd, nh = d->nh, nkv = d->nkv, ld = d->ld;
    int group = nh / nkv, ldo = nh * hd;
    float scale = 1.0f / sqrtf((float)hd);
    size_t per_thread = ft_attention_scratch_floats(d, 1);
    size_t pref_n = (size_t)nkv * P * hd;
    int want_pref = P > 0 && (dpk || dpv);
    int used = 1;

#pragma omp parallel num_threads(n_slots)
    {
        int me = omp_get_thread_num();
        float *dp = scratch + (size_t)me * per_thread;
        float *tdpk = dp + (size_t)T * S, *tdpv = tdpk + pref_n;

#pragma omp single
        used = omp_get_num_threads();

        if (want_pref)
            memset(tdpk, 0, 2 * pref_n * sizeof *tdpk);

        /* each task owns one kv head of one row: its dk, dv columns and the
         * dq columns of the query heads that read it */
#pragma omp for schedule(static)
        for (int task = 0; task < d->B * nkv; task++) {
            int b = task / nkv, kvh = task % nkv;
            size_t row0 = (size_t)b * T * ld;
            const float *k = qkv + row0 + (size_t)(nh + kvh) * hd;
            const float *v = k + (size_t)nkv * hd;
            const float *ppk = P > 0 ? pk + (size_t)kvh * d->cap * hd : NULL;
            const float *ppv = P > 0 ? pv + (size_t)kvh * d->cap * hd : NULL;
            float *dk = dqkv + row0 + (size_t)(nh + kvh) * hd;
            float *dv = dk + (size_t)nkv * hd;

            for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                const float *q = qkv + row0 + (size_t)h * hd;
                const float *p = probs + ((size_t)b * nh + h) * T * S;
                const float *dy = dout + (size_t)b * T * ldo + (size_t)h * hd;
                float *dq = dqkv + row0 + (size_t)h * hd;

                /* dv += pᵀ · dy (prefix part into this thread's sum) */
                gemm(1, 0, T, hd, T, 1.0f, p + P, S, dy, ldo, 1.0f, dv, ld);
                if (want_pref)
                    gemm(1, 0, P, hd, T, 1.0f, p, S, dy, ldo, 1.0f,
                         tdpv + (size_t)kvh * P * hd, hd);

                /* dp = dy · [pv; v]ᵀ, then through the softmax */
                if (P > 0)
                    gemm(0, 1, T, P, hd, 1.0f, dy, ldo, ppv, hd, 0.0f, dp, S);
                gemm(0, 1, T, T, hd, 1.0f, dy, ldo, v, ld, 0.0f, dp + P, S);
                softmax_backward(dp, p, T, S, scale);

                /* dq += ds · [pk; k] */
                if (P > 0)
                    gemm(0, 0, T, hd, P, 1.0f, dp, S, ppk, hd, 1.0f, dq, ld);
                gemm(0, 0, T, hd, T, 1.0f, dp + P, S, k, ld, 1.0f, dq, ld);

                /* dk += dsᵀ · q (prefix part into this thread's sum) */
                gemm(1, 0, T, hd, T, 1.0f, dp + P, S, q, ld, 1.0f, dk, ld);
                if (want_pref)
                    gemm(1, 0, P, hd, T, 1.0f, dp, S, q, ld, 1.0f,
                         tdpk + (size_t)kvh * P * hd, hd);
            }
        }
    }

    /* prefix gradients: the threads' sums, in thread order */
    if (!want_pref)
        return;
    for (int t = 0; t < used; t++) {
        const float *tdpk = scratch + (size_t)t * per_thread + (size_t)T * S;
        const float *tdpv = tdpk + pref_n;
        for (int kvh = 0; kvh < nkv; kvh++) {
            for (size_t i = 0; i < (size_t)P * hd; i++) {
                size_t src = (size_t)kvh * P * hd + i, dst = (size_t)kvh * d->cap * hd + i;
                if (dpk)
                    dpk[dst] += tdpk[src];
                if (dpv)
                    dpv[dst] += tdpv[src];
            }
        }
    }
}
