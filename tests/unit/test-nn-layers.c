/* Layers of lib/nn: every backward against central finite differences of its
 * forward, and forwards against values worked out by hand or by a naive
 * double-precision implementation written here.
 *
 * Finite differences: the objective is L = Σ r·y (r random, summed in
 * double) so that backward gets dout = r. Central differences in f32 with
 * step h = 1e-2: the truncation error is O(h²·f''') ≈ 1e-5 of the gradient's
 * scale for these smooth layers of unit-sized inputs, the rounding error
 * about 1e-7·|L|/h ≈ 1e-5 of it; we require |numeric − analytic| <=
 * 5e-3 · max(|analytic|, max|analytic| of the tensor / 10). A wrong
 * backward (a missing term, a transposed product) misses by O(1). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/rng.h"
#include "nn/act.h"
#include "nn/attention.h"
#include "nn/embed.h"
#include "nn/linear.h"
#include "nn/norm.h"
#include "nn/rope.h"
#include "nn/vexp.h"
#include "nn/xent.h"

#define FD_H 1e-2f
#define FD_TOL 5e-3

static ft_rng rng;

static float *randn(size_t n, float scale)
{
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = scale * (float)ft_rng_normal(&rng);
    return p;
}

static float *zeros(size_t n)
{
    return calloc(n, sizeof(float));
}

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* The objective: run the forward (a closure), return Σ r·y. */
typedef double (*objective)(void *ctx);

/* Compare the analytic gradient g of x (n values) with central differences. */
static void fd_check(const char *what, objective f, void *ctx, float *x, const float *g,
                     size_t n)
{
    double gmax = 0, worst = 0;
    size_t worst_i = 0;

    for (size_t i = 0; i < n; i++)
        gmax = fmax(gmax, fabs(g[i]));
    for (size_t i = 0; i < n; i++) {
        float x0 = x[i];
        x[i] = x0 + FD_H;
        double lp = f(ctx);
        x[i] = x0 - FD_H;
        double lm = f(ctx);
        x[i] = x0;
        double num = (lp - lm) / (2.0 * (double)FD_H);
        double e = fabs(num - g[i]) / fmax(fabs(g[i]), gmax / 10);
        if (e > worst) {
            worst = e;
            worst_i = i;
        }
    }
    if (getenv("FT_TEST_VERBOSE"))
        printf("%-28s worst %.2e\n", what, worst);
    CHECK_MSG(worst <= FD_TOL && gmax > 0, "%s: worst relative error %.3g at %zu (max|g| %.3g)",
              what, worst, worst_i, gmax);
}

/* --- linear --------------------------------------------------------------- */

typedef struct lin_ctx {
    int N, C, OC;
    float *x, *w, *b, *y, *r;
} lin_ctx;

static double lin_obj(void *p)
{
    lin_ctx *c = p;
    ft_linear_forward(c->y, c->OC, c->x, c->w, c->b, c->N, c->C, c->OC, 0);
    return dot(c->y, c->r, (size_t)c->N * c->OC);
}

static void test_linear(void)
{
    lin_ctx c = {.N = 5, .C = 7, .OC = 3};
    c.x = randn(c.N * c.C, 1);
    c.w = randn(c.OC * c.C, 1);
    c.b = randn(c.OC, 1);
    c.y = zeros(c.N * c.OC);
    c.r = randn(c.N * c.OC, 1);
    float *dx = zeros(c.N * c.C), *dw = zeros(c.OC * c.C), *db = zeros(c.OC);

    /* y[0][0] by hand */
    lin_obj(&c);
    double y00 = c.b[0];
    for (int k = 0; k < c.C; k++)
        y00 += (double)c.x[k] * c.w[k];
    CHECK_REL(c.y[0], y00, 1e-5, 1e-3);

    ft_linear_backward(dx, dw, db, c.r, c.OC, c.x, c.w, c.N, c.C, c.OC);
    fd_check("linear dx", lin_obj, &c, c.x, dx, c.N * c.C);
    fd_check("linear dw", lin_obj, &c, c.w, dw, c.OC * c.C);
    fd_check("linear db", lin_obj, &c, c.b, db, c.OC);

    /* add = 1 accumulates; a second backward adds the same again */
    float *y2 = zeros(c.N * c.OC);
    memcpy(y2, c.y, c.N * c.OC * sizeof *y2);
    ft_linear_forward(y2, c.OC, c.x, c.w, c.b, c.N, c.C, c.OC, 1);
    CHECK_REL(y2[4], 2 * c.y[4], 1e-6, 1e-3);
    float db0 = db[1];
    ft_linear_backward(NULL, NULL, db, c.r, c.OC, c.x, c.w, c.N, c.C, c.OC);
    CHECK_REL(db[1], 2 * db0, 1e-6, 1e-3);
    free(c.x), free(c.w), free(c.b), free(c.y), free(c.r), free(dx), free(dw), free(db),
        free(y2);
}

/* --- embeddings ----------------------------------------------------------- */

static void test_embed(void)
{
    /* V 4, C 2, position table of 6 rows, B 1, T 3, pos0 2 */
    float wte[8] = {0, 1, 10, 11, 20, 21, 30, 31};
    float wpe[12] = {100, 200, 101, 201, 102, 202, 103, 203, 104, 204, 105, 205};
    int32_t tok[3] = {3, 1, 3};
    float out[6], dwte[8] = {0}, dwpe[12] = {0};
    float dout[6] = {1, 2, 3, 4, 5, 6};

    ft_embed_forward(out, tok, wte, wpe, 2, 1, 3, 2);
    CHECK_REL(out[0], 30 + 102, 0, 1);
    CHECK_REL(out[3], 11 + 203, 0, 1);
    CHECK_REL(out[5], 31 + 204, 0, 1);

    /* a repeated token gets the sum of its rows' gradients */
    ft_embed_backward(dwte, dwpe, dout, tok, 2, 1, 3, 2);
    CHECK_REL(dwte[6], 1 + 5, 0, 1);
    CHECK_REL(dwte[7], 2 + 6, 0, 1);
    CHECK_REL(dwte[2], 3, 0, 1);
    CHECK_REL(dwte[0], 0, 0, 1);
    CHECK_REL(dwpe[4], 1, 0, 1);
    CHECK_REL(dwpe[9], 6, 0, 1);
    CHECK_REL(dwpe[0], 0, 0, 1);
}

/* --- norms ---------------------------------------------------------------- */

typedef struct norm_ctx {
    int N, C, layer;
    float *x, *w, *b, *y, *mean, *rstd, *r;
} norm_ctx;

static double norm_obj(void *p)
{
    norm_ctx *c = p;
    if (c->layer)
        ft_norm_layer_forward(c->y, c->mean, c->rstd, c->x, c->w, c->b, c->N, c->C, 1e-5f);
    else
        ft_norm_rms_forward(c->y, c->rstd, c->x, c->w, c->N, c->C, 1e-5f);
    return dot(c->y, c->r, (size_t)c->N * c->C);
}

static void test_norm(int layer)
{
    norm_ctx c = {.N = 4, .C = 9, .layer = layer};
    c.x = randn(c.N * c.C, 1);
    c.w = randn(c.C, 1);
    c.b = randn(c.C, 1);
    c.y = zeros(c.N * c.C);
    c.mean = zeros(c.N);
    c.rstd = zeros(c.N);
    c.r = randn(c.N * c.C, 1);
    float *dx = zeros(c.N * c.C), *dw = zeros(c.C), *db = zeros(c.C);

    /* row 0 by hand, in double */
    norm_obj(&c);
    double m = 0, v = 0;
    for (int i = 0; i < c.C; i++)
        m += c.x[i] / c.C;
    for (int i = 0; i < c.C; i++)
        v += layer ? (c.x[i] - m) * (c.x[i] - m) / c.C : (double)c.x[i] * c.x[i] / c.C;
    double y3 = layer ? (c.x[3] - m) / sqrt(v + 1e-5) * c.w[3] + c.b[3]
                      : c.x[3] / sqrt(v + 1e-5) * c.w[3];
    CHECK_REL(c.y[3], y3, 1e-5, 1e-3);

    if (layer)
        ft_norm_layer_backward(dx, dw, db, c.r, c.x, c.w, c.mean, c.rstd, c.N, c.C);
    else
        ft_norm_rms_backward(dx, dw, c.r, c.x, c.w, c.rstd, c.N, c.C);
    fd_check(layer ? "layernorm dx" : "rmsnorm dx", norm_obj, &c, c.x, dx, c.N * c.C);
    fd_check(layer ? "layernorm dw" : "rmsnorm dw", norm_obj, &c, c.w, dw, c.C);
    if (layer)
        fd_check("layernorm db", norm_obj, &c, c.b, db, c.C);
    free(c.x), free(c.w), free(c.b), free(c.y), free(c.mean), free(c.rstd), free(c.r),
        free(dx), free(dw), free(db);
}

/* --- rotary --------------------------------------------------------------- */

typedef struct rope_ctx {
    int B, T, nh, ld, pos0;
    ft_rope *rope;
    float *x, *y, *r;
} rope_ctx;

static double rope_obj(void *p)
{
    rope_ctx *c = p;
    size_t n = (size_t)c->B * c->T * c->ld;
    memcpy(c->y, c->x, n * sizeof *c->y);
    ft_rope_forward(c->y, c->ld, c->rope, c->pos0, c->B, c->T, c->nh);
    return dot(c->y, c->r, n);
}

static void test_rope(void)
{
    ft_rope rope;
    ft_err err;
    double f[4];

    /* frequencies: theta^(-2i/hd), and the three Llama 3 regimes worked out by
     * hand for hd 8, theta 1e4, factor 8, low 1, high 4, original 1024:
     * wavelengths 2π/f = 6.28, 62.8 (kept: < 256), 628.3 (blended: smooth =
     * (1024/628.32 − 1)/3 = 0.2099155), 6283 (> 1024: divided by 8) */
    ft_rope_scaling s = {FT_ROPE_SCALING_LLAMA3, 8, 1, 4, 1024};
    ft_rope_inv_freq(f, 8, 1e4, NULL);
    CHECK_REL(f[1], 0.1, 1e-12, 0);
    CHECK_REL(f[3], 0.001, 1e-12, 0);
    ft_rope_inv_freq(f, 8, 1e4, &s);
    double sm = (1024 / (2 * M_PI / 0.01) - 1) / 3;
    CHECK_REL(sm, 0.2099155, 1e-6, 0);
    CHECK_REL(f[0], 1, 1e-12, 0);
    CHECK_REL(f[1], 0.1, 1e-12, 0);
    CHECK_REL(f[2], (1 - sm) * 0.01 / 8 + sm * 0.01, 1e-12, 0);
    CHECK_REL(f[3], 0.001 / 8, 1e-12, 0);

    CHECK(ft_rope_init(&rope, 8, 16, 1e4, NULL, &err) == 0);

    /* half rotation: feature 1 pairs with feature 5; position 3 turns pair 1
     * by 3 · 0.1 rad */
    float v[8] = {0, 1, 0, 0, 0, 2, 0, 0};
    ft_rope_forward(v, 8, &rope, 3, 1, 1, 1);
    CHECK_REL(v[1], cos(0.3) - 2 * sin(0.3), 1e-6, 1);
    CHECK_REL(v[5], 2 * cos(0.3) + sin(0.3), 1e-6, 1);
    CHECK_REL(v[0], 0, 1e-6, 1);

    /* backward of the rotation against finite differences, two heads in a
     * row of stride 20, positions from 4 */
    rope_ctx c = {.B = 2, .T = 3, .nh = 2, .ld = 20, .pos0 = 4, .rope = &rope};
    size_t n = (size_t)c.B * c.T * c.ld;
    c.x = randn(n, 1);
    c.y = zeros(n);
    c.r = randn(n, 1);
    for (size_t i = 0; i < n; i++)
        if (i % c.ld >= 16)
            c.r[i] = 0;    /* columns past the heads are not rotary's */
    float *dx = zeros(n);
    memcpy(dx, c.r, n * sizeof *dx);
    ft_rope_backward(dx, c.ld, &rope, c.pos0, c.B, c.T, c.nh);
    fd_check("rope dx", rope_obj, &c, c.x, dx, n);
    ft_rope_free(&rope);
    free(c.x), free(c.y), free(c.r), free(dx);
}

/* --- activations ---------------------------------------------------------- */

typedef struct act_ctx {
    int N, H, gelu;
    float *x, *y, *r;
} act_ctx;

static double act_obj(void *p)
{
    act_ctx *c = p;
    if (c->gelu)
        ft_act_gelu_forward(c->y, c->x, c->N, c->H);
    else
        ft_act_swiglu_forward(c->y, c->x, c->N, c->H);
    return dot(c->y, c->r, (size_t)c->N * c->H);
}

static void test_act(int gelu)
{
    act_ctx c = {.N = 3, .H = 5, .gelu = gelu};
    size_t nin = (size_t)c.N * c.H * (gelu ? 1 : 2);
    c.x = randn(nin, 1.5f);
    c.y = zeros(c.N * c.H);
    c.r = randn(c.N * c.H, 1);
    float *dx = zeros(nin);

    act_obj(&c);
    if (gelu) {
        /* gelu_new(1) = 0.5·(1 + tanh(√(2/π)·1.044715)) = 0.841192 */
        float one = 1, y;
        ft_act_gelu_forward(&y, &one, 1, 1);
        CHECK_REL(y, 0.8411920, 1e-6, 1);
        ft_act_gelu_backward(dx, c.r, c.x, c.N, c.H);
    } else {
        /* silu(1)·2 = 2/(1 + e^-1) = 1.462117 */
        float gu[2] = {1, 2}, y;
        ft_act_swiglu_forward(&y, gu, 1, 1);
        CHECK_REL(y, 1.4621172, 1e-6, 1);
        ft_act_swiglu_backward(dx, c.r, c.x, c.N, c.H);
    }
    fd_check(gelu ? "gelu dx" : "swiglu dgu", act_obj, &c, c.x, dx, nin);
    free(c.x), free(c.y), free(c.r), free(dx);
}

/* --- cross-entropy -------------------------------------------------------- */

typedef struct xent_ctx {
    int n, V;
    float *logits, *loss, *scale;
    int32_t *tgt;
} xent_ctx;

static double xent_obj(void *p)
{
    xent_ctx *c = p;
    double s = 0;
    ft_xent_forward(c->loss, c->logits, c->tgt, c->n, c->V);
    for (int i = 0; i < c->n; i++)
        s += (double)c->loss[i] * c->scale[i];
    return s;
}

static void test_xent(void)
{
    /* by hand: logits (0, ln 3) target 0: loss = ln(1 + 3) − 0 = ln 4 */
    float l2[2] = {0, logf(3)}, loss[4];
    int32_t t0 = 0;
    ft_xent_forward(loss, l2, &t0, 1, 2);
    CHECK_REL(loss[0], log(4.0), 1e-6, 1);

    xent_ctx c = {.n = 4, .V = 11};
    c.logits = randn(c.n * c.V, 2);
    c.loss = loss;
    float scale[4] = {0.5f, 0.25f, 1.0f, 2.0f};
    int32_t tgt[4] = {3, -1, 10, 0};
    c.scale = scale;
    c.tgt = tgt;
    float *d = zeros(c.n * c.V);
    memcpy(d, c.logits, c.n * c.V * sizeof *d);
    float lfb[4];
    ft_xent_forward_backward(lfb, d, tgt, scale, c.n, c.V);
    xent_obj(&c);
    for (int i = 0; i < c.n; i++)
        CHECK_REL(lfb[i], loss[i], 1e-6, 1e-6);
    CHECK(loss[1] == 0 && d[c.V + 5] == 0);
    fd_check("xent dlogits", xent_obj, &c, c.logits, d, c.n * c.V);
    free(c.logits), free(d);
}

/* --- attention ------------------------------------------------------------ */

typedef struct attn_ctx {
    ft_attn_dims d;
    float *qkv, *pk, *pv, *out, *probs, *r, *scratch;
} attn_ctx;

static double attn_obj(void *p)
{
    attn_ctx *c = p;
    ft_attention_forward(c->out, c->probs, c->qkv, c->pk, c->pv, &c->d, c->scratch, 2);
    return dot(c->out, c->r, (size_t)c->d.B * c->d.T * c->d.nh * c->d.hd);
}

/* out[b][t][h] by the definition, in double. */
static double naive_attn(const attn_ctx *c, int b, int t, int h, int i)
{
    const ft_attn_dims *d = &c->d;
    int kvh = h / (d->nh / d->nkv), S = d->P + t + 1;
    double s[64], mx = -1e300, sum = 0, o = 0;
    for (int j = 0; j < S; j++) {
        const float *q = c->qkv + ((size_t)b * d->T + t) * d->ld + h * d->hd;
        const float *k = j < d->P ? c->pk + ((size_t)kvh * d->cap + j) * d->hd
                                  : c->qkv + ((size_t)b * d->T + j - d->P) * d->ld +
                                        (d->nh + kvh) * d->hd;
        s[j] = 0;
        for (int e = 0; e < d->hd; e++)
            s[j] += (double)q[e] * k[e] / sqrt(d->hd);
        mx = fmax(mx, s[j]);
    }
    for (int j = 0; j < S; j++)
        sum += exp(s[j] - mx);
    for (int j = 0; j < S; j++) {
        const float *v = j < d->P ? c->pv + ((size_t)kvh * d->cap + j) * d->hd
                                  : c->qkv + ((size_t)b * d->T + j - d->P) * d->ld +
                                        (d->nh + d->nkv + kvh) * d->hd;
        o += exp(s[j] - mx) / sum * v[i];
    }
    return o;
}

static void test_attention(int P)
{
    attn_ctx c;
    /* B 2, T 5, 4 query heads on 2 kv heads of 4, prefix cap 4 */
    c.d = (ft_attn_dims){2, 5, P, 4, 2, 4, (4 + 2 * 2) * 4, 4, 0, NULL, NULL};
    const ft_attn_dims *d = &c.d;
    size_t nqkv = (size_t)d->B * d->T * d->ld, npre = (size_t)d->nkv * d->cap * d->hd;
    size_t nout = (size_t)d->B * d->T * d->nh * d->hd;
    c.qkv = randn(nqkv, 1);
    c.pk = randn(npre, 1);
    c.pv = randn(npre, 1);
    c.out = zeros(nout);
    c.r = randn(nout, 1);
    c.probs = zeros((size_t)d->B * d->nh * d->T * (d->P + d->T));
    c.scratch = zeros(2 * ft_attention_scratch_floats(d, 1));

    /* forward against the definition */
    attn_obj(&c);
    double worst = 0;
    for (int b = 0; b < d->B; b++)
        for (int t = 0; t < d->T; t++)
            for (int h = 0; h < d->nh; h++)
                for (int i = 0; i < d->hd; i++) {
                    double want = naive_attn(&c, b, t, h, i);
                    float got = c.out[((size_t)b * d->T + t) * d->nh * d->hd + h * d->hd + i];
                    worst = fmax(worst, fabs(got - want));
                }
    CHECK_MSG(worst < 1e-5, "attention forward (P %d) off by %g", P, worst);

    /* inference path (no probs kept) gives the same numbers */
    float *out2 = zeros(nout);
    ft_attention_forward(out2, NULL, c.qkv, c.pk, c.pv, d, c.scratch, 2);
    CHECK(memcmp(out2, c.out, nout * sizeof *out2) == 0);

    /* backward: q, k, v (every column of qkv) and the prefix */
    float *dqkv = zeros(nqkv), *dpk = zeros(npre), *dpv = zeros(npre);
    ft_attention_backward(dqkv, dpk, dpv, c.r, c.qkv, c.pk, c.pv, c.probs, d, c.scratch, 2);
    fd_check(P ? "attention dqkv (prefix)" : "attention dqkv", attn_obj, &c, c.qkv, dqkv,
             nqkv);
    if (P) {
        /* only the first P of cap entries are used: the others get nothing */
        fd_check("attention dprefix k", attn_obj, &c, c.pk, dpk, npre);
        fd_check("attention dprefix v", attn_obj, &c, c.pv, dpv, npre);
        CHECK(dpk[(size_t)(d->cap - 1) * d->hd] == 0);
    }
    free(c.qkv), free(c.pk), free(c.pv), free(c.out), free(c.r), free(c.probs),
        free(c.scratch), free(out2), free(dqkv), free(dpk), free(dpv);
}

/* Per-row prefixes (a batch of KV caches): each row against the definition
 * with its own prefix, of its own length, as the one shared prefix. */
static void test_attention_rows(void)
{
    /* B 4, T 3, 4 query heads on 2 kv heads of 4; 3 prefixes of cap 4 */
    int row[] = {2, 0, 0, 1}, used[] = {3, 0, 2};
    attn_ctx c = {0};
    c.d = (ft_attn_dims){4, 3, 3, 4, 2, 4, (4 + 2 * 2) * 4, 4, 0, row, used};
    const ft_attn_dims *d = &c.d;
    size_t nqkv = (size_t)d->B * d->T * d->ld, npre = (size_t)d->nkv * d->cap * d->hd;
    size_t nout = (size_t)d->B * d->T * d->nh * d->hd;
    c.d.stride = npre + 8;
    c.qkv = randn(nqkv, 1);
    c.pk = randn(3 * c.d.stride, 1);
    c.pv = randn(3 * c.d.stride, 1);
    c.out = zeros(nout);
    c.scratch = zeros(2 * ft_attention_scratch_floats(d, 0));
    ft_attention_forward(c.out, NULL, c.qkv, c.pk, c.pv, d, c.scratch, 2);

    double worst = 0;
    for (int b = 0; b < d->B; b++) {
        attn_ctx one = c;
        one.d.P = used[row[b]];
        one.pk = c.pk + (size_t)row[b] * c.d.stride;
        one.pv = c.pv + (size_t)row[b] * c.d.stride;
        for (int t = 0; t < d->T; t++)
            for (int h = 0; h < d->nh; h++)
                for (int i = 0; i < d->hd; i++) {
                    double want = naive_attn(&one, b, t, h, i);
                    float got = c.out[((size_t)b * d->T + t) * d->nh * d->hd + h * d->hd + i];
                    worst = fmax(worst, fabs(got - want));
                }
    }
    CHECK_MSG(worst < 1e-5, "attention with per-row prefixes off by %g", worst);
    free(c.qkv), free(c.pk), free(c.pv), free(c.out), free(c.scratch);
}

/* ft_vexp against libm's exp in double: within 2 float ulp (2.4e-7
 * relative) over the normal range, 0 below it, inf above, NaN kept. */
static void test_vexp(void)
{
    double worst = 0;
    for (int i = 0; i <= 400000; i++) {
        float x = -87.0f + 175.0f * i / 400000;
        double want = exp((double)x), rel = fabs(ft_vexp(x) - want) / want;
        worst = rel > worst ? rel : worst;
    }
    CHECK_MSG(worst <= 2.4e-7, "ft_vexp: relative error %g", worst);
    CHECK(ft_vexp(0.0f) == 1.0f);
    CHECK(ft_vexp(-100.0f) == 0.0f && ft_vexp(-1000.0f) == 0.0f);
    CHECK(isinf(ft_vexp(100.0f)));
    CHECK(isnan(ft_vexp(NAN)));
}

int main(void)
{
    ft_rng_seed(&rng, 42, 0);
    test_linear();
    test_embed();
    test_norm(0);
    test_norm(1);
    test_rope();
    test_act(0);
    test_act(1);
    test_vexp();
    test_xent();
    test_attention(0);
    test_attention(3);
    test_attention_rows();
    return check_done();
}
