/* prefix: P-tuning v2's parameters, their forward into the model's prefix
 * seam and the backward out of it (shapes in prefix.h).
 *
 * The seam's gradient arrives per micro-batch (the engine adds into
 * seam.grad); a micro-batch with its own dropout mask needs its own fold, so
 * the gradient is folded into dpe before the next fill and at the end of an
 * update, and only then pushed through the MLP, once per update.
 *
 * Not here: files (prefix_io.c). */
#include "adapt/prefix.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adapt/prefix_impl.h"
#include "nn/linear.h"

static const char *const encoder_names[5] = {
    "prompt_encoder.embedding.weight", "prompt_encoder.transform.0.weight",
    "prompt_encoder.transform.0.bias", "prompt_encoder.transform.2.weight",
    "prompt_encoder.transform.2.bias"};

void ft_prefix_opts_default(ft_prefix_opts *o)
{
    o->n_virtual = -1;
    o->projection = -1;
    o->dropout = 0;
}

static void set_tensor(ft_prefix_tensor *t, const char *name, size_t offset, float *base,
                       int ndim, int rows, int cols)
{
    t->name = name;
    t->param = base + offset;
    t->grad = NULL;
    t->ndim = ndim;
    t->shape[0] = rows;
    t->shape[1] = ndim == 2 ? cols : 0;
    t->numel = (size_t)rows * (ndim == 2 ? (size_t)cols : 1);
}

/* Sizes from cfg and o, the parameter block, the table and the buffers;
 * parameters zero. */
static ft_prefix_adapter *alloc_adapter(const ft_config *cfg, int N, int H, double dropout,
                                        ft_err *err)
{
    if (N < 1)
        return ft_err_set(err, "the prefix length must be at least 1 (got %d)", N), NULL;
    if (N >= cfg->max_pos)
        return ft_err_set(err, "a prefix of %d virtual tokens leaves no room in the "
                          "model's context of %d positions", N, cfg->max_pos), NULL;
    if (H < 0)
        return ft_err_set(err, "the projection's hidden size must be positive (got %d)",
                          H), NULL;
    if (!(dropout >= 0 && dropout < 1))
        return ft_err_set(err, "the prefix dropout must be in [0, 1) (got %g)", dropout),
               NULL;

    ft_prefix_adapter *a = ft_calloc(1, sizeof *a, err);
    if (!a)
        return NULL;
    a->N = N;
    a->L = cfg->n_layers;
    a->nkv = cfg->n_kv_heads;
    a->hd = cfg->head_dim;
    a->td = a->nkv * a->hd;
    a->W = a->L * 2 * a->td;
    a->H = H;
    a->dropout = dropout;
    a->dirty = 1;

    /* The trainable tensors, one block. */
    if (!H) {
        a->n_params = (size_t)N * a->W;
    } else {
        a->n_params = (size_t)N * a->td + (size_t)H * a->td + H + (size_t)a->W * H + a->W;
    }
    a->params = ft_calloc(a->n_params, sizeof *a->params, err);
    size_t kv_n = (size_t)a->W * N;
    a->seam.kv = ft_calloc(kv_n, sizeof(float), err);
    a->mask = dropout > 0 ? ft_calloc(kv_n, sizeof(float), err) : NULL;
    if (H) {
        a->pe = ft_calloc((size_t)N * a->W, sizeof(float), err);
        a->act = ft_calloc((size_t)N * H, sizeof(float), err);
    }
    if (!a->params || !a->seam.kv || (dropout > 0 && !a->mask) ||
        (H && (!a->pe || !a->act))) {
        ft_prefix_free(a);
        return NULL;
    }
    a->seam.P = N;
    a->seam.cap = N;

    if (!H) {
        set_tensor(&a->t[0], "prompt_embeddings", 0, a->params, 2, N, a->W);
        a->n_t = 1;
        a->pe = a->params;
    } else {
        size_t off = 0;
        int rows[5] = {N, H, H, a->W, a->W}, cols[5] = {a->td, a->td, 0, H, 0};
        for (int i = 0; i < 5; i++) {
            set_tensor(&a->t[i], encoder_names[i], off, a->params, cols[i] ? 2 : 1,
                       rows[i], cols[i]);
            off += a->t[i].numel;
        }
        a->n_t = 5;
    }
    return a;
}

ft_prefix_adapter *ft_prefix_alloc(const ft_config *cfg, int N, int H, double dropout,
                                   ft_err *err)
{
    return alloc_adapter(cfg, N, H, dropout, err);
}

ft_prefix_adapter *ft_prefix_new(const ft_config *cfg, const ft_prefix_opts *o,
                                 uint64_t seed, ft_err *err)
{
    ft_prefix_adapter *a = alloc_adapter(cfg, o->n_virtual, o->projection > 0 ?
                                         o->projection : 0, o->dropout, err);
    if (!a)
        return NULL;

    /* torch's initialisation of PrefixEncoder: Embedding normal(0, 1),
     * Linear weight (kaiming_uniform_, a = √5) and bias both U(±1/√fan_in). */
    ft_rng r;
    ft_rng_seed(&r, seed, 0x70726566 /* "pref" */);
    for (int i = 0; i < a->n_t; i++) {
        ft_prefix_tensor *t = &a->t[i];
        int fan_in = i == 0 ? 0 : i <= 2 ? a->td : a->H;
        for (size_t k = 0; k < t->numel; k++)
            t->param[k] = fan_in ? (float)((2 * ft_rng_uniform(&r) - 1) / sqrt(fan_in))
                                 : (float)ft_rng_normal(&r);
    }
    return a;
}

int ft_prefix_init_tokens(ft_prefix_adapter *a, ft_model *m, const int32_t *ids, int n,
                          ft_err *err)
{
    ft_prefix cache = {.P = 0, .cap = n, .append = 1};
    float *logits = NULL;
    int last = n - 1, rc = -1;

    if (a->H > 0)
        return ft_err_setk(err, FT_ERR_USAGE, "--prefix-init starts a prefix without "
                           "--prefix-projection (a projected prefix comes out of its MLP)");
    if (n != a->N)
        return ft_err_set(err, "--prefix-init: the text is %d tokens, the prefix %d "
                          "(--prefix-len)", n, a->N);
    if (ft_model_setup(m, 1, n, n, 0, err) < 0 ||
        !(cache.kv = ft_calloc(ft_prefix_floats(&m->cfg, n), sizeof *cache.kv, err)) ||
        !(logits = ft_malloc((size_t)m->cfg.vocab_size * sizeof *logits, err)))
        goto done;
    ft_batch b = {1, n, ids, NULL, NULL, &cache};
    if (ft_model_logits(m, &b, &last, logits, err) < 0)
        goto done;

    /* the cache [L, 2, nkv, n, hd] into pe [N, W] (prefix.h) */
    for (int r = 0; r < a->L * 2 * a->nkv; r++)
        for (int t = 0; t < n; t++)
            memcpy(a->pe + (size_t)t * a->W + (size_t)r * a->hd,
                   cache.kv + ((size_t)r * n + t) * a->hd, (size_t)a->hd * sizeof *a->pe);
    a->dirty = 1;
    rc = 0;
done:
    free(cache.kv);
    free(logits);
    return rc;
}

void ft_prefix_free(ft_prefix_adapter *a)
{
    if (!a)
        return;
    if (a->pe != a->params)
        free(a->pe);
    free(a->params);
    free(a->grads);
    free(a->act);
    free(a->dact);
    if (a->dpe != a->grads)
        free(a->dpe);
    free(a->mask);
    free(a->seam.kv);
    free(a->seam.grad);
    free(a);
}

int ft_prefix_setup_train(ft_prefix_adapter *a, ft_err *err)
{
    if (a->peft_output_only)
        return ft_err_set(err, "the prefix holds only its projection's output, without "
                          "the MLP: it cannot be trained through the projection");
    if (a->grads)
        return 0;
    a->grads = ft_calloc(a->n_params, sizeof *a->grads, err);
    a->seam.grad = ft_calloc((size_t)a->W * a->N, sizeof(float), err);
    if (a->H) {
        a->dpe = ft_calloc((size_t)a->N * a->W, sizeof(float), err);
        a->dact = ft_calloc((size_t)a->N * a->H, sizeof(float), err);
    }
    if (!a->grads || !a->seam.grad || (a->H && (!a->dpe || !a->dact)))
        return ft_err_prefix(err, "prefix gradients");
    for (int i = 0; i < a->n_t; i++)
        a->t[i].grad = a->grads + (a->t[i].param - a->params);
    if (!a->H)
        a->dpe = a->grads;
    return 0;
}

/* act = tanh(E·W0ᵀ + b0) (projection only; backward needs it). */
void ft_prefix_hidden(ft_prefix_adapter *a)
{
    int N = a->N, H = a->H;
    ft_linear_forward(a->act, H, a->t[0].param, a->t[1].param, a->t[2].param, N, a->td, H,
                      0);
    for (size_t k = 0; k < (size_t)N * H; k++)
        a->act[k] = tanhf(a->act[k]);
}

/* pe = act·W2ᵀ + b2. */
static void mlp_forward(ft_prefix_adapter *a)
{
    ft_prefix_hidden(a);
    ft_linear_forward(a->pe, a->W, a->act, a->t[3].param, a->t[4].param, a->N, a->H, a->W,
                      0);
}

/* dW2 += dpeᵀ·a, db2 += Σ dpe, da = dpe·W2, dh = da·(1 - a²),
 * dW0 += dhᵀ·E, db0 += Σ dh, dE += dh·W0. */
static void mlp_backward(ft_prefix_adapter *a)
{
    int N = a->N, H = a->H;
    memset(a->dact, 0, (size_t)N * H * sizeof *a->dact);
    ft_linear_backward(a->dact, a->t[3].grad, a->t[4].grad, a->dpe, a->W, a->act,
                       a->t[3].param, N, H, a->W);
    for (size_t k = 0; k < (size_t)N * H; k++)
        a->dact[k] *= 1 - a->act[k] * a->act[k];
    ft_linear_backward(a->t[0].grad, a->t[1].grad, a->t[2].grad, a->dact, H, a->t[0].param,
                       a->t[1].param, N, a->td, H);
}

/* kv[g, n, i] = pe[n, g·hd + i] (· mask), g = (2l + kv)·nkv + h. */
static void fill(ft_prefix_adapter *a, int masked)
{
    int N = a->N, hd = a->hd, G = a->W / hd;
    for (int g = 0; g < G; g++)
        for (int n = 0; n < N; n++) {
            float *dst = a->seam.kv + ((size_t)g * N + n) * hd;
            const float *src = a->pe + (size_t)n * a->W + (size_t)g * hd;
            const float *mk = masked ? a->mask + ((size_t)g * N + n) * hd : NULL;
            for (int i = 0; i < hd; i++)
                dst[i] = mk ? src[i] * mk[i] : src[i];
        }
}

/* dpe[n, g·hd + i] += grad[g, n, i] (· mask); grad zeroed. */
static void fold(ft_prefix_adapter *a)
{
    int N = a->N, hd = a->hd, G = a->W / hd;
    if (!a->pending)
        return;
    for (int g = 0; g < G; g++)
        for (int n = 0; n < N; n++) {
            const float *src = a->seam.grad + ((size_t)g * N + n) * hd;
            float *dst = a->dpe + (size_t)n * a->W + (size_t)g * hd;
            const float *mk = a->masked ? a->mask + ((size_t)g * N + n) * hd : NULL;
            for (int i = 0; i < hd; i++)
                dst[i] += mk ? src[i] * mk[i] : src[i];
        }
    memset(a->seam.grad, 0, (size_t)a->W * N * sizeof *a->seam.grad);
    a->pending = 0;
}

ft_prefix *ft_prefix_seam(ft_prefix_adapter *a, ft_rng *rng)
{
    if (a->seam.grad)
        fold(a);
    if (a->dirty && a->H)
        mlp_forward(a);
    a->dirty = 0;

    /* Inverted dropout: keep with probability 1 - p, scaled by 1/(1 - p). */
    a->masked = rng && a->dropout > 0;
    if (a->masked) {
        float scale = (float)(1 / (1 - a->dropout));
        for (size_t k = 0; k < (size_t)a->W * a->N; k++)
            a->mask[k] = ft_rng_uniform(rng) < a->dropout ? 0.0f : scale;
    }
    fill(a, a->masked);
    a->pending = a->seam.grad != NULL;
    return &a->seam;
}

void ft_prefix_backward(ft_prefix_adapter *a)
{
    if (!a->seam.grad)
        return;
    fold(a);
    if (a->H) {
        mlp_backward(a);
        memset(a->dpe, 0, (size_t)a->N * a->W * sizeof *a->dpe);
    }
}

void ft_prefix_touch(ft_prefix_adapter *a)
{
    a->dirty = 1;
}

int ft_prefix_hook_before_micro(void *ctx, ft_batch *b, int train, ft_rng *rng,
                                ft_err *err)
{
    (void)err;
    b->prefix = ft_prefix_seam(ctx, train ? rng : NULL);
    return 0;
}

int ft_prefix_hook_after_backward(void *ctx, ft_err *err)
{
    (void)err;
    ft_prefix_backward(ctx);
    return 0;
}

int ft_prefix_hook_after_update(void *ctx, ft_err *err)
{
    (void)err;
    ft_prefix_touch(ctx);
    return 0;
}
