/* The whole model's loss gradient against finite differences, on tiny random
 * models: Llama with grouped-query attention (4 heads on 2 kv heads) and a
 * prefix of keys/values, GPT-2 with a prefix, per-example weights and
 * masked targets. Then the extension seams: Freeze (frozen tensors get no
 * gradient, the others the same as unfrozen, backward stops at the lowest
 * trainable block) and the LoRA hook (a rank-2 adapter written here, whose
 * gradients the hook computes, checked by finite differences too).
 *
 * Tolerance: central differences in f32 with step h = 1e-2 on the loss
 * (about 2.5, accumulated in double), weights normal(0, 0.35): the
 * truncation error O(h²) stays under ~6e-3 of the gradient's scale where
 * attention is most curved (measured; fourfold at h = 2e-2), the rounding
 * of the f32 forward is ≈ 1e-6·|L|/h ≈ 3e-4 absolute. We require
 * |numeric − analytic| <= 2e-2 · max(|analytic|, max|analytic| of the tensor
 * / 10) on a sample of entries of every tensor and every prefix entry; a
 * wrong gradient misses by O(1). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tinymodel.h"
#include "core/rng.h"
#include "core/threads.h"
#include "model/model.h"

#define FD_H 1e-2f
#define FD_TOL 2e-2
#define SAMPLES 12

static ft_rng rng;

typedef struct fixture {
    ft_model *m;
    int B, T;
    int32_t tokens[64], targets[64];
    float weights[4];
    ft_prefix pre;
    ft_batch b;
} fixture;

static double loss_of(fixture *f)
{
    double s, n;
    ft_err err;
    if (ft_model_loss(f->m, &f->b, NULL, &s, &n, &err) < 0)
        return NAN;
    return s / n;
}

/* Central differences of the loss at entry i of x. */
static double numeric(fixture *f, float *x, size_t i)
{
    float x0 = x[i];
    x[i] = x0 + FD_H;
    double lp = loss_of(f);
    x[i] = x0 - FD_H;
    double lm = loss_of(f);
    x[i] = x0;
    return (lp - lm) / (2.0 * (double)FD_H);
}

/* Compare g (analytic) with numeric at a sample of entries (all when few). */
static void fd_check(fixture *f, const char *what, float *x, const float *g, size_t n)
{
    double gmax = 0, worst = 0;
    for (size_t i = 0; i < n; i++)
        gmax = fmax(gmax, fabs(g[i]));
    for (int k = 0; k < (n <= 3 * SAMPLES ? (int)n : SAMPLES); k++) {
        size_t i = n <= 3 * SAMPLES ? (size_t)k : ft_rng_below(&rng, n);
        double e = fabs(numeric(f, x, i) - g[i]) / fmax(fabs(g[i]), gmax / 10);
        worst = fmax(worst, e);
    }
    if (getenv("FT_TEST_VERBOSE"))
        printf("%-44s worst %.2e (max|g| %.2e)\n", what, worst, gmax);
    CHECK_MSG(worst <= FD_TOL && gmax > 0, "%s: relative error %.3g (max|g| %.3g)", what,
              worst, gmax);
}

static ft_model *tiny(int family)
{
    ft_config c;

    tiny_config(&c, family, 16, family == FT_FAMILY_GPT2 ? 32 : 24, 2,
                family == FT_FAMILY_GPT2 ? 4 : 2, 4, 11, 32);
    ft_model *m = tiny_model(&c, 7, 0.35f);
    if (!m)
        return NULL;

    /* norms and biases away from 1 and 0, so their gradients are generic */
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].ndim == 1)
            for (size_t j = 0; j < m->tensors[i].numel; j++)
                ft_model_param(m, i)[j] += 0.3f * (float)ft_rng_normal(&rng);
    return m;
}

/* A batch of 2 rows of 6 tokens, row 1 half-weighted with a masked prompt,
 * and a prefix of P entries per layer. */
static void fixture_init(fixture *f, ft_model *m, int P)
{
    memset(f, 0, sizeof *f);
    f->m = m;
    f->B = 2;
    f->T = 6;
    for (int i = 0; i < f->B * f->T; i++) {
        f->tokens[i] = (int32_t)ft_rng_below(&rng, m->cfg.vocab_size);
        f->targets[i] = (int32_t)ft_rng_below(&rng, m->cfg.vocab_size);
    }
    f->targets[6] = f->targets[7] = -1;
    f->weights[0] = 1.0f;
    f->weights[1] = 0.5f;
    f->pre.P = f->pre.cap = P;
    if (P > 0) {
        size_t n = ft_prefix_floats(&m->cfg, P);
        f->pre.kv = malloc(n * sizeof *f->pre.kv);
        f->pre.grad = calloc(n, sizeof *f->pre.grad);
        for (size_t i = 0; i < n; i++)
            f->pre.kv[i] = (float)ft_rng_normal(&rng);
    }
    f->b = (ft_batch){f->B, f->T, f->tokens, f->targets, f->weights, P ? &f->pre : NULL};
}

static void fixture_free(fixture *f)
{
    free(f->pre.kv);
    free(f->pre.grad);
}

static void check_full_gradient(int family, int P)
{
    ft_model *m = tiny(family);
    fixture f;
    ft_err err;
    double loss;
    char what[160];

    CHECK(m != NULL);
    if (!m)
        return;
    fixture_init(&f, m, P);
    CHECK(ft_model_setup(m, f.B, f.T, P, 1, &err) == 0);
    ft_model_zero_grads(m);
    CHECK(ft_model_step(m, &f.b, ft_model_batch_denom(&f.b), &loss, &err) == 0);
    CHECK_REL(loss, loss_of(&f), 1e-6, 0);
    CHECK_INT(m->n_block_backward, m->cfg.n_layers);

    for (int i = 0; i < m->n_tensors; i++) {
        snprintf(what, sizeof what, "%s P=%d %s", m->cfg.model_type, P, m->tensors[i].name);
        fd_check(&f, what, ft_model_param(m, i), ft_model_grad(m, i), m->tensors[i].numel);
    }
    if (P > 0) {
        snprintf(what, sizeof what, "%s prefix keys and values", m->cfg.model_type);
        size_t n = ft_prefix_floats(&m->cfg, P);
        /* every entry: the prefix is small */
        double gmax = 0, worst = 0;
        for (size_t i = 0; i < n; i++)
            gmax = fmax(gmax, fabs(f.pre.grad[i]));
        for (size_t i = 0; i < n; i++)
            worst = fmax(worst, fabs(numeric(&f, f.pre.kv, i) - f.pre.grad[i]) /
                                    fmax(fabs(f.pre.grad[i]), gmax / 10));
        CHECK_MSG(worst <= FD_TOL && gmax > 0, "%s: relative error %.3g", what, worst);
    }
    fixture_free(&f);
    ft_model_free(m);
}

/* Freeze everything but block 1's MLP and the final norm. */
static void check_freeze(void)
{
    ft_model *m = tiny(FT_FAMILY_LLAMA), *full = tiny(FT_FAMILY_LLAMA);
    fixture f;
    ft_err err;
    double l1, l2;

    if (!m || !full)
        return;
    memcpy(full->params, m->params, m->n_params * sizeof *m->params);
    for (int i = 0; i < m->n_tensors; i++) {
        int r = m->tensors[i].role, keep = m->tensors[i].layer == 1 &&
                                           (r == FT_ROLE_GATE || r == FT_ROLE_UP);
        ft_model_set_trainable(m, i, keep || r == FT_ROLE_NORM_W);
    }
    fixture_init(&f, m, 0);
    CHECK(ft_model_setup(m, f.B, f.T, 0, 1, &err) == 0);
    CHECK(ft_model_setup(full, f.B, f.T, 0, 1, &err) == 0);
    CHECK(ft_model_step(m, &f.b, 3.0, &l1, &err) == 0);
    CHECK(ft_model_step(full, &f.b, 3.0, &l2, &err) == 0);
    CHECK_REL(l1, l2, 1e-7, 0);

    /* two 24x16 matrices and a norm of 16 */
    CHECK_INT(m->n_grads, 2 * 24 * 16 + 16);
    CHECK_INT(m->n_block_backward, 1);
    for (int i = 0; i < m->n_tensors; i++) {
        float *g = ft_model_grad(m, i);
        CHECK(!g == !m->tensors[i].trainable);
        if (g)
            CHECK(memcmp(g, ft_model_grad(full, i), m->tensors[i].numel * sizeof *g) == 0);
    }

    /* only the final norm: no block runs */
    for (int i = 0; i < m->n_tensors; i++)
        ft_model_set_trainable(m, i, m->tensors[i].role == FT_ROLE_NORM_W);
    CHECK(ft_model_setup(m, f.B, f.T, 0, 1, &err) == 0);
    m->n_block_backward = 0;
    CHECK(ft_model_step(m, &f.b, 3.0, &l1, &err) == 0);
    CHECK_INT(m->n_block_backward, 0);
    CHECK(memcmp(ft_model_grad(m, m->norm_w_id), ft_model_grad(full, full->norm_w_id),
                 16 * sizeof(float)) == 0);
    fixture_free(&f);
    ft_model_free(m);
    ft_model_free(full);
}

/* A frozen classifier over more rows than one chunk holds (vocabulary
 * 40000: 209 rows a chunk; 300 target rows): with two threads the chunks
 * are taken in turn by two threads. The gradients of the trainable tensors
 * against finite differences of the loss (computed chunk after chunk by
 * ft_model_loss), and the step's loss equal to that loss. */
static void check_chunked_head(void)
{
    ft_config c;
    ft_err err;
    enum { T = 301 };
    static int32_t tok[T], tgt[T];
    double s, n, step_loss;

    tiny_config(&c, FT_FAMILY_LLAMA, 16, 24, 2, 2, 4, 40000, 512);
    c.tied = 1;
    ft_model *m = tiny_model(&c, 9, 0.35f);
    CHECK(m != NULL);
    if (!m)
        return;
    for (int i = 0; i < m->n_tensors; i++) {
        int r = m->tensors[i].role;
        ft_model_set_trainable(m, i, r == FT_ROLE_NORM_W || r == FT_ROLE_NORM1_W ||
                                         (m->tensors[i].layer == 0 && r == FT_ROLE_Q));
    }
    for (int t = 0; t < T; t++) {
        tok[t] = (int32_t)ft_rng_below(&rng, 40000);
        tgt[t] = (int32_t)ft_rng_below(&rng, 40000);
    }
    tgt[5] = -1;
    fixture f;
    memset(&f, 0, sizeof f);
    f.m = m;
    f.b = (ft_batch){1, T, tok, tgt, NULL, NULL};
    ft_threads_set(2);
    CHECK(ft_model_setup(m, 1, T, 0, 1, &err) == 0);
    CHECK(ft_model_step(m, &f.b, 300.0, &step_loss, &err) == 0);
    CHECK(ft_model_loss(m, &f.b, NULL, &s, &n, &err) == 0);
    CHECK_INT((long)n, 300);
    CHECK_REL(step_loss, s / n, 1e-6, 0);
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].trainable)
            fd_check(&f, m->tensors[i].name, ft_model_param(m, i), ft_model_grad(m, i),
                     m->tensors[i].numel);
    ft_threads_set(1);
    ft_model_free(m);
}

/* --- The LoRA seam: y += s·(x·Aᵀ)·Bᵀ on one projection ---------------------- */

typedef struct lora {
    int id, r, in, out;
    float s;
    float *A, *B, *dA, *dB, *xa;    /* A [r, in], B [out, r], xa [N, r] */
    int calls_fwd, calls_bwd;
} lora;

static void lora_fwd(void *ctx, int id, float *out, int ldo, const float *inp, int N,
                     int train)
{
    (void)train;
    lora *L = ctx;
    if (id != L->id)
        return;
    L->calls_fwd++;
    for (int n = 0; n < N; n++) {
        float *xa = L->xa + (size_t)n * L->r;
        for (int k = 0; k < L->r; k++) {
            xa[k] = 0;
            for (int i = 0; i < L->in; i++)
                xa[k] += inp[(size_t)n * L->in + i] * L->A[k * L->in + i];
        }
        for (int o = 0; o < L->out; o++)
            for (int k = 0; k < L->r; k++)
                out[(size_t)n * ldo + o] += L->s * xa[k] * L->B[o * L->r + k];
    }
}

static void lora_bwd(void *ctx, int id, float *dinp, const float *dout, int ldo,
                     const float *inp, int N)
{
    lora *L = ctx;
    if (id != L->id)
        return;
    L->calls_bwd++;
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * L->in, *dy = dout + (size_t)n * ldo;
        float xa[8] = {0}, dxa[8] = {0};
        for (int k = 0; k < L->r; k++)
            for (int i = 0; i < L->in; i++)
                xa[k] += x[i] * L->A[k * L->in + i];
        for (int o = 0; o < L->out; o++)
            for (int k = 0; k < L->r; k++) {
                L->dB[o * L->r + k] += L->s * dy[o] * xa[k];
                dxa[k] += L->s * dy[o] * L->B[o * L->r + k];
            }
        for (int k = 0; k < L->r; k++)
            for (int i = 0; i < L->in; i++) {
                L->dA[k * L->in + i] += dxa[k] * x[i];
                dinp[(size_t)n * L->in + i] += dxa[k] * L->A[k * L->in + i];
            }
    }
}

static void check_hook(void)
{
    ft_model *m = tiny(FT_FAMILY_LLAMA);
    fixture f;
    ft_err err;
    double loss;
    lora L = {0};

    if (!m)
        return;
    L.id = m->blocks[1].id[FT_ROLE_K];
    L.r = 2;
    L.in = 16;
    L.out = 8;
    L.s = 0.75f;
    L.A = malloc(2 * 16 * sizeof *L.A);
    L.B = malloc(8 * 2 * sizeof *L.B);
    L.dA = calloc(2 * 16, sizeof *L.dA);
    L.dB = calloc(8 * 2, sizeof *L.dB);
    L.xa = calloc(64 * 2, sizeof *L.xa);
    for (int i = 0; i < 32; i++)
        L.A[i] = (float)ft_rng_normal(&rng);
    for (int i = 0; i < 16; i++)
        L.B[i] = (float)ft_rng_normal(&rng);

    /* the base frozen, the adapter in block 1 */
    for (int i = 0; i < m->n_tensors; i++)
        ft_model_set_trainable(m, i, 0);
    ft_linear_hook h = {&L, lora_fwd, lora_bwd, 1};
    ft_model_set_hook(m, &h);
    fixture_init(&f, m, 0);
    CHECK(ft_model_setup(m, f.B, f.T, 0, 1, &err) == 0);
    CHECK_INT(m->n_grads, 0);
    CHECK(ft_model_step(m, &f.b, ft_model_batch_denom(&f.b), &loss, &err) == 0);
    CHECK_INT(m->n_block_backward, 1);
    CHECK_INT(L.calls_bwd, 1);
    fd_check(&f, "hook: adapter A on layer 1 k_proj", L.A, L.dA, 32);
    fd_check(&f, "hook: adapter B on layer 1 k_proj", L.B, L.dB, 16);
    fixture_free(&f);
    free(L.A), free(L.B), free(L.dA), free(L.dB), free(L.xa);
    ft_model_free(m);
}

int main(void)
{
    ft_rng_seed(&rng, 3, 0);
    check_full_gradient(FT_FAMILY_LLAMA, 0);
    check_full_gradient(FT_FAMILY_LLAMA, 3);
    check_full_gradient(FT_FAMILY_GPT2, 2);
    check_freeze();
    check_chunked_head();
    check_hook();
    return check_done();
}
