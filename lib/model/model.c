/* model: parameter table, buffers, forward and backward passes of the
 * transformer families (see model.h).
 *
 * Legend of the pass (per micro-batch): B rows, T tokens, P prefix entries,
 * N = B·T, C model width, H MLP width, nh/nkv heads of hd, Q = nh·hd,
 * KV = nkv·hd, LD = Q + 2·KV (one row of q, k, v side by side), G = 2H for
 * SwiGLU (gate, up side by side) or H for GELU, V vocabulary, L blocks.
 *
 * Activations kept for backward (train), per block l:
 *   res[l]   [N, C]   the residual stream entering block l (res[L]: leaving)
 *   mid[l]   [N, C]   the residual stream after attention
 *   ln1, ln2 [N, C]   normed inputs of attention and MLP; st1, st2 [2N]
 *                     their mean (LayerNorm) and rstd
 *   qkv      [N, LD]  projections, q and k rotated
 *   probs    [B, nh, T, P+T]
 *   atty     [N, Q]   attention output (o_proj's input)
 *   gu       [N, G]   MLP projections before the nonlinearity
 *   act      [N, H]   after it (down_proj's input)
 * lnf [N, C] the final norm's output, stf [2N]. In inference one slot is
 * reused by every block and the residual stream is updated in place.
 *
 * The classifier and the cross-entropy run fused over chunks of the rows
 * that have a target, so [N, V] logits never exist in training. */
#include "model/model.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "model/dtype.h"
#include "nn/act.h"
#include "nn/attention.h"
#include "nn/embed.h"
#include "nn/linear.h"
#include "nn/norm.h"
#include "nn/rope.h"
#include "nn/rowmm.h"
#include "nn/xent.h"

/* Largest logits chunk of the classifier, in floats (32 MiB). */
#define HEAD_CHUNK_FLOATS ((size_t)8 << 20)

/* The buffers of one classifier chunk: its rows of lnf, their logits, d of
 * those rows, their losses, loss scales and targets. */
typedef struct head_set {
    float *hc, *logits, *dhc, *closs, *cscale;
    int32_t *ctgt;
} head_set;

struct ft_model_run {
    int B, T, P, train;     /* capacities */
    int lo;                 /* lowest block the backward pass reaches (train) */
    int N;                  /* B·T */
    int n_slots;            /* threads the attention scratch is sized for */
    ft_rope rope;           /* rotary tables (rotary families) */
    float *res, *mid, *ln1, *ln2, *st1, *st2, *qkv, *probs, *atty, *gu, *act;
    float *lnf, *stf;
    int chunk;              /* classifier rows per chunk */
    head_set hs[2];         /* chunk buffers; the second for two threads
                               taking chunks in turn (a frozen classifier) */
    int *rows;              /* [N] rows with a target */
    float *dres, *dln, *dqkv, *datty, *dgu, *dact;
    float *scratch;         /* attention, per thread */
};

/* --- Parameter table ------------------------------------------------------ */

static int add_tensor(ft_model *m, size_t *cap, const char *name, int role, int layer, int ndim,
                      int d0, int d1, ft_err *err)
{
    if (ft_grow(&m->tensors, cap, m->n_tensors + 1, sizeof *m->tensors, err) < 0)
        return -1;
    ft_tensor *t = &m->tensors[m->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = ft_strdup(name, err);
    if (!t->name)
        return -1;
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = ndim == 2 ? d1 : 1;
    t->numel = (size_t)d0 * t->shape[1];
    t->offset = m->n_params;
    t->dtype = FT_DTYPE_F32;
    t->trainable = 1;
    t->layer = layer;
    t->role = role;
    m->n_params += t->numel;
    if (layer >= 0)
        m->blocks[layer].id[role] = m->n_tensors;
    return m->n_tensors++;
}

/* Table of a Llama, Mistral or Qwen2 model. q, k, v weights are adjacent in
 * the parameter block, and so are gate and up. */
static int table_llama(ft_model *m, size_t *cap, ft_err *err)
{
    const ft_config *c = &m->cfg;
    int C = c->dim, H = c->hidden_dim, Q = c->n_heads * c->head_dim;
    int KV = c->n_kv_heads * c->head_dim;
    char n[160];

#define ADD(role, layer, ndim, d0, d1, ...)                                              \
    do {                                                                                 \
        snprintf(n, sizeof n, __VA_ARGS__);                                              \
        if (add_tensor(m, cap, n, role, layer, ndim, d0, d1, err) < 0)                  \
            return -1;                                                                   \
    } while (0)

    ADD(FT_ROLE_EMBED, -1, 2, c->vocab_size, C, "model.embed_tokens.weight");
    for (int l = 0; l < c->n_layers; l++) {
        const char *p = "model.layers";
        ADD(FT_ROLE_NORM1_W, l, 1, C, 0, "%s.%d.input_layernorm.weight", p, l);
        ADD(FT_ROLE_Q, l, 2, Q, C, "%s.%d.self_attn.q_proj.weight", p, l);
        ADD(FT_ROLE_K, l, 2, KV, C, "%s.%d.self_attn.k_proj.weight", p, l);
        ADD(FT_ROLE_V, l, 2, KV, C, "%s.%d.self_attn.v_proj.weight", p, l);
        if (c->qkv_bias) {
            ADD(FT_ROLE_Q_B, l, 1, Q, 0, "%s.%d.self_attn.q_proj.bias", p, l);
            ADD(FT_ROLE_K_B, l, 1, KV, 0, "%s.%d.self_attn.k_proj.bias", p, l);
            ADD(FT_ROLE_V_B, l, 1, KV, 0, "%s.%d.self_attn.v_proj.bias", p, l);
        }
        ADD(FT_ROLE_O, l, 2, C, Q, "%s.%d.self_attn.o_proj.weight", p, l);
        if (c->o_bias)
            ADD(FT_ROLE_O_B, l, 1, C, 0, "%s.%d.self_attn.o_proj.bias", p, l);
        ADD(FT_ROLE_NORM2_W, l, 1, C, 0, "%s.%d.post_attention_layernorm.weight", p, l);
        ADD(FT_ROLE_GATE, l, 2, H, C, "%s.%d.mlp.gate_proj.weight", p, l);
        ADD(FT_ROLE_UP, l, 2, H, C, "%s.%d.mlp.up_proj.weight", p, l);
        ADD(FT_ROLE_DOWN, l, 2, C, H, "%s.%d.mlp.down_proj.weight", p, l);
        if (c->mlp_bias) {
            ADD(FT_ROLE_GATE_B, l, 1, H, 0, "%s.%d.mlp.gate_proj.bias", p, l);
            ADD(FT_ROLE_UP_B, l, 1, H, 0, "%s.%d.mlp.up_proj.bias", p, l);
            ADD(FT_ROLE_DOWN_B, l, 1, C, 0, "%s.%d.mlp.down_proj.bias", p, l);
        }
    }
    ADD(FT_ROLE_NORM_W, -1, 1, C, 0, "model.norm.weight");
    if (!c->tied)
        ADD(FT_ROLE_HEAD, -1, 2, c->vocab_size, C, "lm_head.weight");
    return 0;
}

/* Table of a GPT-2 model; Conv1D weights are marked for transposition. */
static int table_gpt2(ft_model *m, size_t *cap, ft_err *err)
{
    const ft_config *c = &m->cfg;
    int C = c->dim, H = c->hidden_dim;
    char n[160];

    ADD(FT_ROLE_EMBED, -1, 2, c->vocab_size, C, "transformer.wte.weight");
    ADD(FT_ROLE_POS, -1, 2, c->max_pos, C, "transformer.wpe.weight");
    for (int l = 0; l < c->n_layers; l++) {
        const char *p = "transformer.h";
        ADD(FT_ROLE_NORM1_W, l, 1, C, 0, "%s.%d.ln_1.weight", p, l);
        ADD(FT_ROLE_NORM1_B, l, 1, C, 0, "%s.%d.ln_1.bias", p, l);
        ADD(FT_ROLE_QKV, l, 2, 3 * C, C, "%s.%d.attn.c_attn.weight", p, l);
        ADD(FT_ROLE_QKV_B, l, 1, 3 * C, 0, "%s.%d.attn.c_attn.bias", p, l);
        ADD(FT_ROLE_O, l, 2, C, C, "%s.%d.attn.c_proj.weight", p, l);
        ADD(FT_ROLE_O_B, l, 1, C, 0, "%s.%d.attn.c_proj.bias", p, l);
        ADD(FT_ROLE_NORM2_W, l, 1, C, 0, "%s.%d.ln_2.weight", p, l);
        ADD(FT_ROLE_NORM2_B, l, 1, C, 0, "%s.%d.ln_2.bias", p, l);
        ADD(FT_ROLE_UP, l, 2, H, C, "%s.%d.mlp.c_fc.weight", p, l);
        ADD(FT_ROLE_UP_B, l, 1, H, 0, "%s.%d.mlp.c_fc.bias", p, l);
        ADD(FT_ROLE_DOWN, l, 2, C, H, "%s.%d.mlp.c_proj.weight", p, l);
        ADD(FT_ROLE_DOWN_B, l, 1, C, 0, "%s.%d.mlp.c_proj.bias", p, l);
    }
    ADD(FT_ROLE_NORM_W, -1, 1, C, 0, "transformer.ln_f.weight");
    ADD(FT_ROLE_NORM_B, -1, 1, C, 0, "transformer.ln_f.bias");
    if (!c->tied)
        ADD(FT_ROLE_HEAD, -1, 2, c->vocab_size, C, "lm_head.weight");
#undef ADD

    for (int i = 0; i < m->n_tensors; i++) {
        int r = m->tensors[i].role;
        m->tensors[i].conv1d = r == FT_ROLE_QKV || r == FT_ROLE_O || r == FT_ROLE_UP ||
                               r == FT_ROLE_DOWN;
    }
    return 0;
}

ft_model *ft_model_new(ft_config *cfg, ft_err *err)
{
    ft_model *m = ft_calloc(1, sizeof *m, err);
    size_t cap = 0;

    if (!m) {
        ft_config_free(cfg);
        return NULL;
    }
    m->cfg = *cfg;
    cfg->json = NULL;
    m->pos_id = m->norm_b_id = m->head_id = -1;
    m->hook.min_layer = m->cfg.n_layers;
    m->blocks = ft_calloc(m->cfg.n_layers, sizeof *m->blocks, err);
    m->file_prefix = ft_strdup(m->cfg.family == FT_FAMILY_GPT2 ? "transformer." : "", err);
    if (!m->blocks || !m->file_prefix)
        goto fail;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int r = 0; r < FT_ROLE_COUNT; r++)
            m->blocks[l].id[r] = -1;
    if ((m->cfg.family == FT_FAMILY_GPT2 ? table_gpt2 : table_llama)(m, &cap, err) < 0)
        goto fail;

    /* ids of the tensors outside the blocks */
    for (int i = 0; i < m->n_tensors; i++) {
        switch (m->tensors[i].role) {
        case FT_ROLE_EMBED: m->embed_id = i; break;
        case FT_ROLE_POS: m->pos_id = i; break;
        case FT_ROLE_NORM_W: m->norm_w_id = i; break;
        case FT_ROLE_NORM_B: m->norm_b_id = i; break;
        case FT_ROLE_HEAD: m->head_id = i; break;
        }
    }
    if (m->cfg.tied)
        m->head_id = m->embed_id;

    m->params = ft_calloc(m->n_params, sizeof *m->params, err);
    if (!m->params)
        goto fail;
    return m;
fail:
    ft_model_free(m);
    return NULL;
}

static void run_free(ft_model_run *r)
{
    if (!r)
        return;
    ft_rope_free(&r->rope);
    float *bufs[] = {r->res,  r->mid,  r->ln1,  r->ln2,   r->st1,  r->st2,   r->qkv,
                     r->probs, r->atty, r->gu,   r->act,   r->lnf,  r->stf,   r->dres,
                     r->dln,  r->dqkv, r->datty, r->dgu,   r->dact, r->scratch};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
    for (int k = 0; k < 2; k++) {
        head_set *h = &r->hs[k];
        free(h->hc);
        free(h->logits);
        free(h->dhc);
        free(h->closs);
        free(h->cscale);
        free(h->ctgt);
    }
    free(r->rows);
    free(r);
}

void ft_model_free(ft_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_tensors; i++)
        free(m->tensors[i].name);
    free(m->tensors);
    free(m->params);
    free(m->grads);
    free(m->blocks);
    free(m->file_prefix);
    run_free(m->run);
    ft_config_free(&m->cfg);
    free(m);
}

void ft_model_init_random(ft_model *m, uint64_t seed, float std)
{
    ft_rng rng;

    ft_rng_seed(&rng, seed, 0);
    for (int i = 0; i < m->n_tensors; i++) {
        const ft_tensor *t = &m->tensors[i];
        float *p = m->params + t->offset;
        int r = t->role;
        int is_norm = r == FT_ROLE_NORM1_W || r == FT_ROLE_NORM2_W || r == FT_ROLE_NORM_W;
        for (size_t j = 0; j < t->numel; j++)
            p[j] = t->ndim == 2 ? (float)(std * ft_rng_normal(&rng)) : is_norm ? 1.0f : 0.0f;
    }
}

int ft_model_find(const ft_model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name))
            return i;
    if (m->cfg.family == FT_FAMILY_GPT2 && strncmp(name, "transformer.", 12)) {
        char full[256];
        snprintf(full, sizeof full, "transformer.%s", name);
        for (int i = 0; i < m->n_tensors; i++)
            if (!strcmp(m->tensors[i].name, full))
                return i;
    }
    return -1;
}

float *ft_model_param(ft_model *m, int id)
{
    return id >= 0 ? m->params + m->tensors[id].offset : NULL;
}

float *ft_model_grad(ft_model *m, int id)
{
    if (id < 0 || !m->grads || !m->tensors[id].trainable)
        return NULL;
    return m->grads + m->tensors[id].grad_offset;
}

void ft_model_set_trainable(ft_model *m, int id, int trainable)
{
    if (id >= 0 && id < m->n_tensors)
        m->tensors[id].trainable = trainable ? 1 : 0;
}

void ft_model_set_hook(ft_model *m, const ft_linear_hook *hook)
{
    if (hook) {
        m->hook = *hook;
    } else {
        memset(&m->hook, 0, sizeof m->hook);
        m->hook.min_layer = m->cfg.n_layers;
    }
}

size_t ft_prefix_floats(const ft_config *cfg, int cap)
{
    return (size_t)cfg->n_layers * 2 * cfg->n_kv_heads * cap * cfg->head_dim;
}

/* --- Buffers -------------------------------------------------------------- */

static int alloc_f(float **p, size_t n, ft_err *err)
{
    *p = ft_calloc(n ? n : 1, sizeof **p, err);
    return *p ? 0 : -1;
}

/* The lowest block a backward pass reaches (n_layers: none): the lowest
 * with a trainable tensor or an adapter hook, 0 when the embeddings or a
 * prefix train. */
static int lowest_trainable_block(const ft_model *m, int prefix_trains)
{
    int lo = m->cfg.n_layers;

    if (m->hook.forward && m->hook.min_layer < lo)
        lo = m->hook.min_layer < 0 ? 0 : m->hook.min_layer;
    if (prefix_trains || m->tensors[m->embed_id].trainable ||
        (m->pos_id >= 0 && m->tensors[m->pos_id].trainable))
        return 0;
    for (int l = 0; l < lo; l++)
        for (int k = 0; k < FT_ROLE_COUNT; k++)
            if (m->blocks[l].id[k] >= 0 && m->tensors[m->blocks[l].id[k]].trainable)
                return l;
    return lo;
}

int ft_model_setup(ft_model *m, int B, int T, int P, int train, ft_err *err)
{
    const ft_config *c = &m->cfg;
    ft_model_run *r;
    size_t N = (size_t)B * T, C = c->dim, H = c->hidden_dim;
    size_t Q = (size_t)c->n_heads * c->head_dim, KV = (size_t)c->n_kv_heads * c->head_dim;
    size_t LD = Q + 2 * KV, G = c->gelu ? H : 2 * H, L = c->n_layers, V = c->vocab_size;

    if (B < 1 || T < 1 || P < 0)
        return ft_err_set(err, "bad batch shape %d x %d (+%d)", B, T, P);
    run_free(m->run);
    m->run = NULL;
    free(m->grads);
    m->grads = NULL;
    m->n_grads = 0;
    r = ft_calloc(1, sizeof *r, err);
    if (!r)
        return -1;
    m->run = r;
    r->B = B;
    r->T = T;
    r->P = P;
    r->N = (int)N;
    r->train = train;
    r->n_slots = omp_get_max_threads();

    /* gradients: the trainable tensors, packed */
    if (train) {
        for (int i = 0; i < m->n_tensors; i++) {
            ft_tensor *t = &m->tensors[i];
            if (t->trainable) {
                t->grad_offset = m->n_grads;
                m->n_grads += t->numel;
            }
        }
        if (alloc_f(&m->grads, m->n_grads, err) < 0)
            goto fail;
    }

    /* rotary tables for every position a batch can reach */
    if (!c->learned_pos) {
        int n_pos = c->max_pos > T + P ? c->max_pos : T + P;
        if (ft_rope_init(&r->rope, c->head_dim, n_pos, c->rope_theta, &c->rope_scaling, err) <
            0)
            goto fail;
    }

    /* activations: in training one slot per block the backward pass
     * reaches (from r->lo up), the blocks below sharing one slot and
     * running in place as in inference; one shared slot else */
    r->lo = train ? lowest_trainable_block(m, P > 0) : (int)L;
    size_t kept = L - (size_t)r->lo;
    size_t slots = train ? kept + (r->lo > 0) : 1;
    size_t S = (size_t)P + T;
    if (alloc_f(&r->res, (train ? kept + 1 : 1) * N * C, err) < 0 ||
        (train && alloc_f(&r->mid, kept * N * C, err) < 0) ||
        alloc_f(&r->ln1, slots * N * C, err) < 0 || alloc_f(&r->ln2, slots * N * C, err) < 0 ||
        alloc_f(&r->st1, slots * 2 * N, err) < 0 || alloc_f(&r->st2, slots * 2 * N, err) < 0 ||
        alloc_f(&r->qkv, slots * N * LD, err) < 0 ||
        (train && alloc_f(&r->probs, kept * B * c->n_heads * T * S, err) < 0) ||
        alloc_f(&r->atty, slots * N * Q, err) < 0 || alloc_f(&r->gu, slots * N * G, err) < 0 ||
        alloc_f(&r->act, slots * N * H, err) < 0 || alloc_f(&r->lnf, N * C, err) < 0 ||
        alloc_f(&r->stf, 2 * N, err) < 0)
        goto fail;

    /* classifier chunks */
    size_t chunk = HEAD_CHUNK_FLOATS / V;
    chunk = chunk < 16 ? 16 : chunk > N ? N : chunk;
    r->chunk = (int)chunk;
    r->rows = ft_calloc(N, sizeof *r->rows, err);
    if (!r->rows)
        goto fail;
    /* a second set when two threads can take chunks in turn: training with
     * the classifier frozen (no dW to share), two threads, two chunks or more */
    int sets = train && r->n_slots == 2 && !m->tensors[m->head_id].trainable && N > chunk ? 2
                                                                                       : 1;
    for (int k = 0; k < sets; k++) {
        head_set *h = &r->hs[k];
        if (!(h->ctgt = ft_calloc(chunk, sizeof *h->ctgt, err)) ||
            alloc_f(&h->hc, chunk * C, err) < 0 || alloc_f(&h->logits, chunk * V, err) < 0 ||
            alloc_f(&h->dhc, chunk * C, err) < 0 || alloc_f(&h->closs, chunk, err) < 0 ||
            alloc_f(&h->cscale, chunk, err) < 0)
            goto fail;
    }

    /* backward buffers and attention scratch */
    ft_attn_dims d = {B, T, P, c->n_heads, c->n_kv_heads, c->head_dim, (int)LD, P, 0, NULL,
                      NULL};
    size_t per_thread = ft_attention_scratch_floats(&d, train);
    if (alloc_f(&r->scratch, per_thread * r->n_slots, err) < 0)
        goto fail;
    if (train && (alloc_f(&r->dres, N * C, err) < 0 || alloc_f(&r->dln, N * C, err) < 0 ||
                  alloc_f(&r->dqkv, N * LD, err) < 0 || alloc_f(&r->datty, N * Q, err) < 0 ||
                  alloc_f(&r->dgu, N * G, err) < 0 || alloc_f(&r->dact, N * H, err) < 0))
        goto fail;
    return 0;
fail:
    run_free(m->run);
    m->run = NULL;
    free(m->grads);
    m->grads = NULL;
    m->n_grads = 0;
    return ft_err_prefix(err, "model buffers for %d x %d tokens", B, T);
}

void ft_model_zero_grads(ft_model *m)
{
    if (m->grads)
        memset(m->grads, 0, m->n_grads * sizeof *m->grads);
}

double ft_model_batch_denom(const ft_batch *b)
{
    double d = 0;

    if (!b->targets)
        return 0;
    for (int i = 0; i < b->B; i++) {
        int n = 0;
        for (int t = 0; t < b->T; t++)
            n += b->targets[(size_t)i * b->T + t] >= 0;
        d += (b->weights ? b->weights[i] : 1.0) * n;
    }
    return d;
}

/* --- The pass ------------------------------------------------------------- */

/* Per-pass shapes and the slot pointers of block l. */
typedef struct pass {
    int B, T, P, N, C, H, G, Q, KV, LD, V;
    const ft_prefix *prefix;
    int train;
} pass;

/* Block l's slot: its own from r->lo up (slot 0 is shared below r->lo when
 * there is a below), the one slot without training. */
static size_t slot_of(const ft_model_run *r, int l)
{
    if (!r->train || l < r->lo)
        return 0;
    return (size_t)(l - r->lo) + (r->lo > 0);
}

#define SLOT(r, buf, l, n) ((r)->buf + slot_of(r, l) * (n))

/* The residual stream before block l (l = n_layers: after the last):
 * res[0] holds it for every l up to r->lo, updated in place. */
static float *res_at(const ft_model_run *r, const pass *p, int l)
{
    return r->res + (r->train && l > r->lo ? (size_t)(l - r->lo) : 0) * r->N * p->C;
}

static float *mid_at(const ft_model_run *r, const pass *p, int l)
{
    return r->train && l >= r->lo ? r->mid + (size_t)(l - r->lo) * r->N * p->C
                                  : res_at(r, p, l);
}

static float *probs_at(const ft_model_run *r, const ft_model *m, int l)
{
    if (!r->train || l < r->lo)
        return NULL;
    return r->probs + (size_t)(l - r->lo) * r->B * m->cfg.n_heads * r->T * (r->P + r->T);
}

static const float *bias_of(ft_model *m, int id)
{
    return id >= 0 ? m->params + m->tensors[id].offset : NULL;
}

/* The one place a linear product happens (the LoRA seam, see model.h);
 * row by row in inference when m->exact_rows asks for it. */
static void lin_fwd(ft_model *m, int id, int bias_id, float *out, int ldo, const float *inp,
                    int N, int add, int train)
{
    const ft_tensor *t = &m->tensors[id];

    if (m->exact_rows && !train)
        ft_rowmm_forward(out, ldo, inp, m->params + t->offset, bias_of(m, bias_id), N,
                         t->shape[1], t->shape[0], add);
    else
        ft_linear_forward(out, ldo, inp, m->params + t->offset, bias_of(m, bias_id), N,
                          t->shape[1], t->shape[0], add);
    if (m->hook.forward)
        m->hook.forward(m->hook.ctx, id, out, ldo, inp, N, train);
}

static void lin_bwd(ft_model *m, int id, int bias_id, float *dinp, const float *dout, int ldo,
                    const float *inp, int N)
{
    const ft_tensor *t = &m->tensors[id];
    float *dw = ft_model_grad(m, id);

    m->n_weight_grads += dw != NULL;
    ft_linear_backward(dinp, dw, bias_id >= 0 ? ft_model_grad(m, bias_id) : NULL, dout, ldo,
                       inp, m->params + t->offset, N, t->shape[1], t->shape[0]);
    if (m->hook.backward)
        m->hook.backward(m->hook.ctx, id, dinp, dout, ldo, inp, N);
}

/* Products of one input whose weights follow each other in the parameter
 * block (q, k, v; gate, up: the tables put them so) and whose outputs follow
 * each other in the columns of out: one product over the stacked weights
 * packs the input once and gives OpenBLAS one larger problem. grads: the
 * gradients follow each other too. */
static int stacked(const ft_model *m, const int *ids, int n, int grads)
{
    for (int i = 1; i < n; i++) {
        const ft_tensor *a = &m->tensors[ids[i - 1]], *b = &m->tensors[ids[i]];
        if (b->offset != a->offset + a->numel || b->shape[1] != a->shape[1])
            return 0;
        if (grads && (!m->grads || !a->trainable || !b->trainable ||
                      b->grad_offset != a->grad_offset + a->numel))
            return 0;
    }
    return 1;
}

static void lin_fwd_stack(ft_model *m, const int *ids, const int *bias_ids, int n, float *out,
                          int ldo, const float *inp, int N, int train)
{
    const ft_tensor *t = &m->tensors[ids[0]];
    int col = 0, OC = 0;

    if ((m->exact_rows && !train) || !stacked(m, ids, n, 0)) {
        for (int i = 0; i < n; i++) {
            lin_fwd(m, ids[i], bias_ids[i], out + col, ldo, inp, N, 0, train);
            col += m->tensors[ids[i]].shape[0];
        }
        return;
    }
    for (int i = 0; i < n; i++)
        OC += m->tensors[ids[i]].shape[0];
    ft_linear_forward(out, ldo, inp, m->params + t->offset, NULL, N, t->shape[1], OC, 0);
    for (int i = 0; i < n; i++) {
        ft_linear_add_bias(out + col, ldo, bias_of(m, bias_ids[i]), N,
                           m->tensors[ids[i]].shape[0]);
        if (m->hook.forward)
            m->hook.forward(m->hook.ctx, ids[i], out + col, ldo, inp, N, train);
        col += m->tensors[ids[i]].shape[0];
    }
}

static void lin_bwd_stack(ft_model *m, const int *ids, const int *bias_ids, int n, float *dinp,
                          const float *dout, int ldo, const float *inp, int N)
{
    const ft_tensor *t = &m->tensors[ids[0]];
    int col = 0, OC = 0, all_dw;

    if (!stacked(m, ids, n, 0)) {
        for (int i = 0; i < n; i++) {
            lin_bwd(m, ids[i], bias_ids[i], dinp, dout + col, ldo, inp, N);
            col += m->tensors[ids[i]].shape[0];
        }
        return;
    }
    for (int i = 0; i < n; i++)
        OC += m->tensors[ids[i]].shape[0];
    all_dw = stacked(m, ids, n, 1);
    ft_linear_backward(dinp, all_dw ? ft_model_grad(m, ids[0]) : NULL, NULL, dout, ldo, inp,
                       m->params + t->offset, N, t->shape[1], OC);
    for (int i = 0; i < n; i++) {
        const ft_tensor *ti = &m->tensors[ids[i]];
        float *dw = ft_model_grad(m, ids[i]);
        m->n_weight_grads += dw != NULL;
        ft_linear_backward(NULL, all_dw ? NULL : dw,
                           bias_ids[i] >= 0 ? ft_model_grad(m, bias_ids[i]) : NULL, dout + col,
                           ldo, inp, m->params + ti->offset, N, ti->shape[1], ti->shape[0]);
        if (m->hook.backward)
            m->hook.backward(m->hook.ctx, ids[i], dinp, dout + col, ldo, inp, N);
        col += ti->shape[0];
    }
}

static void norm_fwd(ft_model *m, float *out, float *st, const float *inp, int w_id, int b_id,
                     int N)
{
    const ft_config *c = &m->cfg;
    const float *w = m->params + m->tensors[w_id].offset;

    if (c->layer_norm)
        ft_norm_layer_forward(out, st, st + N, inp, w, bias_of(m, b_id), N, c->dim,
                              (float)c->norm_eps);
    else
        ft_norm_rms_forward(out, st + N, inp, w, N, c->dim, (float)c->norm_eps);
}

static void norm_bwd(ft_model *m, float *dinp, const float *dout, const float *inp,
                     const float *st, int w_id, int b_id, int N)
{
    const ft_config *c = &m->cfg;
    const float *w = m->params + m->tensors[w_id].offset;

    if (c->layer_norm)
        ft_norm_layer_backward(dinp, ft_model_grad(m, w_id), ft_model_grad(m, b_id), dout, inp,
                               w, st, st + N, N, c->dim);
    else
        ft_norm_rms_backward(dinp, ft_model_grad(m, w_id), dout, inp, w, st + N, N, c->dim);
}

/* Per-row caches (model.h): does the pass use them, which cache row b
 * reads, and how many of its entries come before row b's tokens. */
static int per_row(const pass *p)
{
    return p->prefix && p->prefix->rows > 0;
}

static int row_cache(const ft_prefix *x, int b)
{
    return x->row ? x->row[b] : b;
}

static int row_used(const pass *p, int b)
{
    return per_row(p) && p->prefix->used ? p->prefix->used[row_cache(p->prefix, b)] : p->P;
}

static ft_attn_dims attn_dims(const ft_model *m, const pass *p)
{
    ft_attn_dims d = {p->B,       p->T,  p->P, m->cfg.n_heads, m->cfg.n_kv_heads,
                      m->cfg.head_dim, p->LD, p->prefix ? p->prefix->cap : 0, 0, NULL, NULL};
    if (per_row(p)) {
        d.stride = ft_prefix_floats(&m->cfg, p->prefix->cap);
        d.row = p->prefix->row;
        d.row_P = p->prefix->used;
    }
    return d;
}

/* Layer l's prefix keys (kind 0) or values (kind 1) in buf, or NULL. */
static float *prefix_at(const ft_model *m, const pass *p, float *buf, int l, int kind)
{
    if (!p->prefix || !buf)
        return NULL;
    size_t per = (size_t)m->cfg.n_kv_heads * p->prefix->cap * m->cfg.head_dim;
    return buf + (2 * (size_t)l + kind) * per;
}

/* KV cache: the batch's keys and values go to entries [P, P+T) (B = 1),
 * or with per-row caches row b's to entries [used, used+T) of its own. */
static void prefix_append(ft_model *m, const pass *p, const float *qkv, int l)
{
    int hd = m->cfg.head_dim, cap = p->prefix->cap;
    float *pk = prefix_at(m, p, p->prefix->kv, l, 0), *pv = prefix_at(m, p, p->prefix->kv, l, 1);
    size_t stride = ft_prefix_floats(&m->cfg, cap);

    for (int b = 0; b < p->B; b++) {
        size_t row = per_row(p) ? (size_t)row_cache(p->prefix, b) * stride : 0;
        int P0 = row_used(p, b);
        for (int t = 0; t < p->T; t++) {
            for (int h = 0; h < m->cfg.n_kv_heads; h++) {
                const float *k = qkv + ((size_t)b * p->T + t) * p->LD + p->Q + (size_t)h * hd;
                size_t at = row + ((size_t)h * cap + P0 + t) * hd;
                memcpy(pk + at, k, hd * sizeof *k);
                memcpy(pv + at, k + p->KV, hd * sizeof *k);
            }
        }
    }
}

/* Rotary positions with per-row caches: row b's token t at used + t. */
static void rope_rows(ft_model *m, const pass *p, float *qkv)
{
    for (int b = 0; b < p->B; b++) {
        float *x = qkv + (size_t)b * p->T * p->LD;
        int P0 = row_used(p, b);
        ft_rope_forward(x, p->LD, &m->run->rope, P0, 1, p->T, m->cfg.n_heads);
        ft_rope_forward(x + p->Q, p->LD, &m->run->rope, P0, 1, p->T, m->cfg.n_kv_heads);
    }
}

/* Block l's keys and values alone, into the KV cache: what filling a cache
 * needs of the last block, whose attention and MLP outputs nothing reads.
 * The steps are block_forward's own (norm, the k and v products, or GPT-2's
 * one q, k, v product, keys rotated), so the cache gets the same numbers:
 * to the last bits with m->exact_rows (a row's and a column's sums are its
 * own), to float rounding when BLAS stacks k, v here and q, k, v there. */
static void block_kv(ft_model *m, const pass *p, int l)
{
    ft_model_run *r = m->run;
    const int *id = m->blocks[l].id;
    float *ln1 = SLOT(r, ln1, l, (size_t)r->N * p->C);
    float *st1 = SLOT(r, st1, l, 2 * (size_t)r->N);
    float *qkv = SLOT(r, qkv, l, (size_t)r->N * p->LD);

    /* norm, then k and v in their columns of qkv */
    norm_fwd(m, ln1, st1, res_at(r, p, l), id[FT_ROLE_NORM1_W], id[FT_ROLE_NORM1_B], p->N);
    if (id[FT_ROLE_QKV] >= 0) {
        lin_fwd(m, id[FT_ROLE_QKV], id[FT_ROLE_QKV_B], qkv, p->LD, ln1, p->N, 0, 0);
    } else {
        int w[2] = {id[FT_ROLE_K], id[FT_ROLE_V]};
        int b[2] = {id[FT_ROLE_K_B], id[FT_ROLE_V_B]};
        lin_fwd_stack(m, w, b, 2, qkv + p->Q, p->LD, ln1, p->N, 0);
    }

    /* keys at their positions, row by row (each row's own with per-row caches) */
    for (int b = 0; b < p->B && !m->cfg.learned_pos; b++)
        ft_rope_forward(qkv + (size_t)b * p->T * p->LD + p->Q, p->LD, &r->rope, row_used(p, b),
                        1, p->T, m->cfg.n_kv_heads);
    prefix_append(m, p, qkv, l);
}

static void block_forward(ft_model *m, const pass *p, int l)
{
    ft_model_run *r = m->run;
    const int *id = m->blocks[l].id;
    int N = p->N, C = p->C, H = p->H;
    float *x = res_at(r, p, l), *mid = mid_at(r, p, l), *out = res_at(r, p, l + 1);
    float *ln1 = SLOT(r, ln1, l, (size_t)r->N * C), *st1 = SLOT(r, st1, l, 2 * (size_t)r->N);
    float *ln2 = SLOT(r, ln2, l, (size_t)r->N * C), *st2 = SLOT(r, st2, l, 2 * (size_t)r->N);
    float *qkv = SLOT(r, qkv, l, (size_t)r->N * p->LD);
    float *atty = SLOT(r, atty, l, (size_t)r->N * p->Q);
    float *gu = SLOT(r, gu, l, (size_t)r->N * p->G), *act = SLOT(r, act, l, (size_t)r->N * H);
    float *probs = probs_at(r, m, l);
    ft_attn_dims d = attn_dims(m, p);

    /* attention input: norm, then q, k, v side by side */
    norm_fwd(m, ln1, st1, x, id[FT_ROLE_NORM1_W], id[FT_ROLE_NORM1_B], N);
    if (id[FT_ROLE_QKV] >= 0) {
        lin_fwd(m, id[FT_ROLE_QKV], id[FT_ROLE_QKV_B], qkv, p->LD, ln1, N, 0, p->train);
    } else {
        int w[3] = {id[FT_ROLE_Q], id[FT_ROLE_K], id[FT_ROLE_V]};
        int b[3] = {id[FT_ROLE_Q_B], id[FT_ROLE_K_B], id[FT_ROLE_V_B]};
        lin_fwd_stack(m, w, b, 3, qkv, p->LD, ln1, N, p->train);
    }

    /* positions P .. P+T-1 */
    if (!m->cfg.learned_pos && per_row(p)) {
        rope_rows(m, p, qkv);
    } else if (!m->cfg.learned_pos) {
        ft_rope_forward(qkv, p->LD, &r->rope, p->P, p->B, p->T, m->cfg.n_heads);
        ft_rope_forward(qkv + p->Q, p->LD, &r->rope, p->P, p->B, p->T, m->cfg.n_kv_heads);
    }
    if (p->prefix && p->prefix->append)
        prefix_append(m, p, qkv, l);

    /* attention, output projection added to the residual stream */
    ft_attention_forward(atty, probs, qkv, prefix_at(m, p, p->prefix ? p->prefix->kv : NULL, l, 0),
                         prefix_at(m, p, p->prefix ? p->prefix->kv : NULL, l, 1), &d,
                         r->scratch, r->n_slots);
    if (mid != x)
        memcpy(mid, x, (size_t)N * C * sizeof *x);
    lin_fwd(m, id[FT_ROLE_O], id[FT_ROLE_O_B], mid, C, atty, N, 1, p->train);

    /* MLP, added to the residual stream */
    norm_fwd(m, ln2, st2, mid, id[FT_ROLE_NORM2_W], id[FT_ROLE_NORM2_B], N);
    if (m->cfg.gelu) {
        lin_fwd(m, id[FT_ROLE_UP], id[FT_ROLE_UP_B], gu, H, ln2, N, 0, p->train);
        ft_act_gelu_forward(act, gu, N, H);
    } else {
        int w[2] = {id[FT_ROLE_GATE], id[FT_ROLE_UP]};
        int b[2] = {id[FT_ROLE_GATE_B], id[FT_ROLE_UP_B]};
        lin_fwd_stack(m, w, b, 2, gu, 2 * H, ln2, N, p->train);
        ft_act_swiglu_forward(act, gu, N, H);
    }
    if (out != mid)
        memcpy(out, mid, (size_t)N * C * sizeof *x);
    lin_fwd(m, id[FT_ROLE_DOWN], id[FT_ROLE_DOWN_B], out, C, act, N, 1, p->train);
}

/* Backward through block l: r->dres holds d(loss)/d(res[l+1]) and leaves
 * holding d(loss)/d(res[l]). */
static void block_backward(ft_model *m, const pass *p, int l)
{
    ft_model_run *r = m->run;
    const int *id = m->blocks[l].id;
    int N = p->N, C = p->C, H = p->H;
    float *x = res_at(r, p, l), *mid = mid_at(r, p, l);
    float *ln1 = SLOT(r, ln1, l, (size_t)r->N * C), *st1 = SLOT(r, st1, l, 2 * (size_t)r->N);
    float *ln2 = SLOT(r, ln2, l, (size_t)r->N * C), *st2 = SLOT(r, st2, l, 2 * (size_t)r->N);
    float *qkv = SLOT(r, qkv, l, (size_t)r->N * p->LD);
    float *atty = SLOT(r, atty, l, (size_t)r->N * p->Q);
    float *gu = SLOT(r, gu, l, (size_t)r->N * p->G), *act = SLOT(r, act, l, (size_t)r->N * H);
    float *probs = probs_at(r, m, l);
    ft_attn_dims d = attn_dims(m, p);
    float *pkv = p->prefix ? p->prefix->kv : NULL, *pg = p->prefix ? p->prefix->grad : NULL;

    /* MLP: dact, dgu, then d ln2 */
    memset(r->dact, 0, (size_t)N * H * sizeof *r->dact);
    lin_bwd(m, id[FT_ROLE_DOWN], id[FT_ROLE_DOWN_B], r->dact, r->dres, C, act, N);
    memset(r->dgu, 0, (size_t)N * p->G * sizeof *r->dgu);
    memset(r->dln, 0, (size_t)N * C * sizeof *r->dln);
    if (m->cfg.gelu) {
        ft_act_gelu_backward(r->dgu, r->dact, gu, N, H);
        lin_bwd(m, id[FT_ROLE_UP], id[FT_ROLE_UP_B], r->dln, r->dgu, H, ln2, N);
    } else {
        ft_act_swiglu_backward(r->dgu, r->dact, gu, N, H);
        int w[2] = {id[FT_ROLE_GATE], id[FT_ROLE_UP]};
        int b[2] = {id[FT_ROLE_GATE_B], id[FT_ROLE_UP_B]};
        lin_bwd_stack(m, w, b, 2, r->dln, r->dgu, 2 * H, ln2, N);
    }
    norm_bwd(m, r->dres, r->dln, mid, st2, id[FT_ROLE_NORM2_W], id[FT_ROLE_NORM2_B], N);

    /* attention: datty, dqkv (and the prefix's gradient), rotated back */
    memset(r->datty, 0, (size_t)N * p->Q * sizeof *r->datty);
    lin_bwd(m, id[FT_ROLE_O], id[FT_ROLE_O_B], r->datty, r->dres, C, atty, N);
    memset(r->dqkv, 0, (size_t)N * p->LD * sizeof *r->dqkv);
    ft_attention_backward(r->dqkv, prefix_at(m, p, pg, l, 0), prefix_at(m, p, pg, l, 1),
                          r->datty, qkv, prefix_at(m, p, pkv, l, 0),
                          prefix_at(m, p, pkv, l, 1), probs, &d, r->scratch, r->n_slots);
    if (!m->cfg.learned_pos) {
        ft_rope_backward(r->dqkv, p->LD, &r->rope, p->P, p->B, p->T, m->cfg.n_heads);
        ft_rope_backward(r->dqkv + p->Q, p->LD, &r->rope, p->P, p->B, p->T,
                         m->cfg.n_kv_heads);
    }

    /* q, k, v projections, then the norm: d res[l] */
    memset(r->dln, 0, (size_t)N * C * sizeof *r->dln);
    if (id[FT_ROLE_QKV] >= 0) {
        lin_bwd(m, id[FT_ROLE_QKV], id[FT_ROLE_QKV_B], r->dln, r->dqkv, p->LD, ln1, N);
    } else {
        int w[3] = {id[FT_ROLE_Q], id[FT_ROLE_K], id[FT_ROLE_V]};
        int b[3] = {id[FT_ROLE_Q_B], id[FT_ROLE_K_B], id[FT_ROLE_V_B]};
        lin_bwd_stack(m, w, b, 3, r->dln, r->dqkv, p->LD, ln1, N);
    }
    norm_bwd(m, r->dres, r->dln, x, st1, id[FT_ROLE_NORM1_W], id[FT_ROLE_NORM1_B], N);
    m->n_block_backward++;
}

/* Check a batch against the model and the buffers; fill the pass shapes. */
static int check_batch(ft_model *m, const ft_batch *b, int need_train, pass *p, ft_err *err)
{
    const ft_config *c = &m->cfg;
    ft_model_run *r = m->run;
    int P = b->prefix ? b->prefix->P : 0;

    if (!r)
        return ft_err_set(err, "model used before ft_model_setup");
    if (need_train && !r->train)
        return ft_err_set(err, "model set up for inference, not training");
    if (b->B < 1 || b->T < 1 || b->B > r->B || b->T > r->T || P < 0 || P > r->P)
        return ft_err_set(err, "batch %d x %d (+%d prefix) exceeds the buffers (%d x %d +%d)",
                          b->B, b->T, P, r->B, r->T, r->P);
    if (b->prefix && (P > b->prefix->cap || !b->prefix->kv ||
                      (b->prefix->append && ((b->B != 1 && b->prefix->rows <= 0) ||
                                             P + b->T > b->prefix->cap))))
        return ft_err_set(err, "prefix of %d entries does not fit its buffer", P);
    if (b->prefix && b->prefix->rows > 0) {
        const ft_prefix *x = b->prefix;
        if (need_train)
            return ft_err_set(err, "per-row caches are for inference only");
        for (int i = 0; i < b->B; i++) {
            int k = x->row ? x->row[i] : i;
            int u = k >= 0 && k < x->rows && x->used ? x->used[k] : P;
            if (k < 0 || k >= x->rows || u < 0 || u > P)
                return ft_err_set(err, "row %d reads cache %d (of %d) with %d entries (of %d)",
                                  i, k, x->rows, u, P);
        }
    }
    if (c->learned_pos && P + b->T > c->max_pos)
        return ft_err_set(err, "%d positions exceed the model's %d", P + b->T, c->max_pos);
    if (!c->learned_pos && P + b->T > r->rope.n_pos)
        return ft_err_set(err, "%d positions exceed the rotary tables", P + b->T);
    if (c->attn_window && P + b->T > c->attn_window)
        return ft_err_set(err, "%d positions exceed the sliding window of %d, which ft does "
                               "not implement", P + b->T, c->attn_window);
    for (size_t i = 0; i < (size_t)b->B * b->T; i++) {
        if (b->tokens[i] < 0 || b->tokens[i] >= c->vocab_size)
            return ft_err_set(err, "token %d at row %zu, position %zu is outside the "
                                   "vocabulary (%d)",
                              b->tokens[i], i / b->T, i % b->T, c->vocab_size);
        if (b->targets && (b->targets[i] < -1 || b->targets[i] >= c->vocab_size))
            return ft_err_set(err, "target %d at row %zu, position %zu is outside the "
                                   "vocabulary (%d)",
                              b->targets[i], i / b->T, i % b->T, c->vocab_size);
    }

    p->B = b->B;
    p->T = b->T;
    p->P = P;
    p->N = b->B * b->T;
    p->C = c->dim;
    p->H = c->hidden_dim;
    p->G = c->gelu ? c->hidden_dim : 2 * c->hidden_dim;
    p->Q = c->n_heads * c->head_dim;
    p->KV = c->n_kv_heads * c->head_dim;
    p->LD = p->Q + 2 * p->KV;
    p->V = c->vocab_size;
    p->prefix = b->prefix;
    p->train = need_train;
    return 0;
}

/* Token (and learned position) embeddings: res[0]. */
static void embed_fwd(ft_model *m, const ft_batch *b, const pass *p)
{
    ft_model_run *r = m->run;
    const float *wpe = m->pos_id >= 0 ? ft_model_param(m, m->pos_id) : NULL;

    /* learned positions with per-row caches: row i's from its own entries */
    if (per_row(p) && wpe)
        for (int i = 0; i < p->B; i++)
            ft_embed_forward(res_at(r, p, 0) + (size_t)i * p->T * p->C,
                             b->tokens + (size_t)i * p->T, ft_model_param(m, m->embed_id), wpe,
                             row_used(p, i), 1, p->T, p->C);
    else
        ft_embed_forward(res_at(r, p, 0), b->tokens, ft_model_param(m, m->embed_id), wpe, p->P,
                         p->B, p->T, p->C);
    m->n_tokens_forward += p->N;
}

/* Embeddings, every block, the final norm: r->lnf. */
static void forward_body(ft_model *m, const ft_batch *b, const pass *p)
{
    ft_model_run *r = m->run;

    embed_fwd(m, b, p);
    for (int l = 0; l < m->cfg.n_layers; l++)
        block_forward(m, p, l);
    norm_fwd(m, r->lnf, r->stf, res_at(r, p, m->cfg.n_layers), m->norm_w_id, m->norm_b_id,
             p->N);
}

/* Rows with a target (and, when skip_zero_weight, a nonzero weight). */
static int target_rows(const ft_batch *b, int *rows, int skip_zero_weight)
{
    int n = 0;
    for (int i = 0; i < b->B * b->T; i++) {
        float w = b->weights ? b->weights[i / b->T] : 1.0f;
        if (b->targets[i] >= 0 && (!skip_zero_weight || w != 0.0f))
            rows[n++] = i;
    }
    return n;
}

/* Gather rows of lnf into chunk buffers h; targets and scales alongside. */
static void gather(ft_model *m, const ft_batch *b, const pass *p, const int *rows, int n,
                   double denom, head_set *h)
{
    ft_model_run *r = m->run;
    for (int i = 0; i < n; i++) {
        memcpy(h->hc + (size_t)i * p->C, r->lnf + (size_t)rows[i] * p->C,
               p->C * sizeof *h->hc);
        h->ctgt[i] = b->targets ? b->targets[rows[i]] : -1;
        double w = b->weights ? b->weights[rows[i] / p->T] : 1.0;
        h->cscale[i] = denom > 0 ? (float)(w / denom) : 0.0f;
    }
}

/* The lowest block this pass's backward has to run through. */
static int lowest_block(ft_model *m, const pass *p)
{
    return lowest_trainable_block(m, p->prefix && p->prefix->grad && p->P > 0);
}

/* Training's classifier and cross-entropy for the chunk of target rows from
 * c0 (of n_rows), in buffers h: Σ scale·loss, and with need_dh d lnf of its
 * rows into r->dln. Two threads may run it at once on other chunks and
 * buffers (the classifier frozen: nothing else is written). */
static double head_chunk(ft_model *m, const ft_batch *b, const pass *p, int c0, int n_rows,
                         double denom, int need_dh, head_set *h)
{
    ft_model_run *r = m->run;
    int n = n_rows - c0 < r->chunk ? n_rows - c0 : r->chunk;
    double sum = 0;

    gather(m, b, p, r->rows + c0, n, denom, h);
    lin_fwd(m, m->head_id, -1, h->logits, p->V, h->hc, n, 0, 1);
    ft_xent_forward_backward(h->closs, h->logits, h->ctgt, h->cscale, n, p->V);
    for (int i = 0; i < n; i++)
        sum += (double)h->closs[i] * h->cscale[i];
    if (need_dh)
        memset(h->dhc, 0, (size_t)n * p->C * sizeof *h->dhc);
    lin_bwd(m, m->head_id, -1, need_dh ? h->dhc : NULL, h->logits, p->V, h->hc, n);
    if (need_dh)
        for (int i = 0; i < n; i++)
            memcpy(r->dln + (size_t)r->rows[c0 + i] * p->C, h->dhc + (size_t)i * p->C,
                   p->C * sizeof *h->dhc);
    return sum;
}

int ft_model_step(ft_model *m, const ft_batch *b, double denom, double *loss, ft_err *err)
{
    ft_model_run *r = m->run;
    pass p;
    double sum = 0;

    *loss = 0;
    if (check_batch(m, b, 1, &p, err) < 0)
        return -1;
    if (!b->targets)
        return ft_err_set(err, "training batch without targets");
    int n_rows = target_rows(b, r->rows, 1);
    if (n_rows > 0 && !(denom > 0))
        return ft_err_set(err, "loss denominator %g is not positive", denom);
    if (n_rows == 0)
        return 0;

    int lo = lowest_block(m, &p);
    if (lo < r->lo)
        return ft_err_set(err, "block %d trains, but the buffers were set up when only "
                          "blocks from %d did (ft_model_setup after the trainable set)",
                          lo, r->lo);
    forward_body(m, b, &p);

    /* classifier and cross-entropy, fused per chunk: loss, dlogits, d lnf */
    int need_dh = lo < m->cfg.n_layers || m->tensors[m->norm_w_id].trainable ||
                  (m->norm_b_id >= 0 && m->tensors[m->norm_b_id].trainable);
    memset(r->dln, 0, (size_t)p.N * p.C * sizeof *r->dln);
    int n_chunks = (n_rows + r->chunk - 1) / r->chunk;
    if (r->hs[1].logits && n_chunks > 1 && !ft_model_grad(m, m->head_id) &&
        omp_get_max_threads() == 2 && !omp_in_parallel()) {
        /* a frozen classifier: two threads take the chunks in turn, each
         * product on one thread (faster than both threads on each product,
         * as a backward's dX and dW, nn/linear.c); the two partial sums are
         * added in a fixed order */
        double part[2] = {0, 0};
#pragma omp parallel num_threads(2)
        {
            int t = omp_get_thread_num();
            for (int c = t; c < n_chunks; c += 2)
                part[t] += head_chunk(m, b, &p, c * r->chunk, n_rows, denom, need_dh,
                                      &r->hs[t]);
        }
        sum = part[0] + part[1];
    } else {
        for (int c0 = 0; c0 < n_rows; c0 += r->chunk)
            sum += head_chunk(m, b, &p, c0, n_rows, denom, need_dh, &r->hs[0]);
    }
    *loss = sum;
    if (!need_dh)
        return 0;

    /* final norm, the blocks from the top down to the lowest that trains */
    memset(r->dres, 0, (size_t)p.N * p.C * sizeof *r->dres);
    norm_bwd(m, r->dres, r->dln, res_at(r, &p, m->cfg.n_layers), r->stf, m->norm_w_id,
             m->norm_b_id, p.N);
    for (int l = m->cfg.n_layers - 1; l >= lo; l--)
        block_backward(m, &p, l);

    /* embeddings */
    if (lo == 0) {
        float *dwte = ft_model_grad(m, m->embed_id);
        float *dwpe = m->pos_id >= 0 ? ft_model_grad(m, m->pos_id) : NULL;
        if (dwte || dwpe)
            ft_embed_backward(dwte, dwpe, r->dres, b->tokens, p.P, p.B, p.T, p.C);
    }
    return 0;
}

int ft_model_loss(ft_model *m, const ft_batch *b, float *token_loss, double *sum_wce,
                  double *sum_w, ft_err *err)
{
    ft_model_run *r = m->run;
    pass p;

    *sum_wce = *sum_w = 0;
    if (check_batch(m, b, 0, &p, err) < 0)
        return -1;
    if (!b->targets)
        return ft_err_set(err, "loss without targets");
    if (token_loss)
        memset(token_loss, 0, (size_t)p.N * sizeof *token_loss);
    int n_rows = target_rows(b, r->rows, 0);
    if (n_rows == 0)
        return 0;

    forward_body(m, b, &p);
    for (int c0 = 0; c0 < n_rows; c0 += r->chunk) {
        int n = n_rows - c0 < r->chunk ? n_rows - c0 : r->chunk;
        head_set *h = &r->hs[0];
        gather(m, b, &p, r->rows + c0, n, 1.0, h);
        lin_fwd(m, m->head_id, -1, h->logits, p.V, h->hc, n, 0, 0);
        ft_xent_forward(h->closs, h->logits, h->ctgt, n, p.V);
        for (int i = 0; i < n; i++) {
            *sum_wce += (double)h->closs[i] * h->cscale[i];
            *sum_w += h->cscale[i];
            if (token_loss)
                token_loss[r->rows[c0 + i]] = h->closs[i];
        }
    }
    return 0;
}

int ft_model_logits(ft_model *m, const ft_batch *b, const int *pos, float *out, ft_err *err)
{
    ft_model_run *r = m->run;
    pass p;

    if (check_batch(m, b, 0, &p, err) < 0)
        return -1;
    if (pos)
        for (int i = 0; i < b->B; i++)
            if (pos[i] < 0 || pos[i] >= b->T)
                return ft_err_set(err, "position %d of row %d is outside [0, %d)", pos[i], i,
                                  b->T);

    forward_body(m, b, &p);
    if (!pos) {
        lin_fwd(m, m->head_id, -1, out, p.V, r->lnf, p.N, 0, 0);
        return 0;
    }
    for (int c0 = 0; c0 < b->B; c0 += r->chunk) {
        int n = b->B - c0 < r->chunk ? b->B - c0 : r->chunk;
        for (int i = 0; i < n; i++)
            r->rows[i] = (c0 + i) * b->T + pos[c0 + i];
        gather(m, b, &p, r->rows, n, 0, &r->hs[0]);
        lin_fwd(m, m->head_id, -1, out + (size_t)c0 * p.V, p.V, r->hs[0].hc, n, 0, 0);
    }
    return 0;
}

int ft_model_cache(ft_model *m, const ft_batch *b, ft_err *err)
{
    pass p;

    if (check_batch(m, b, 0, &p, err) < 0)
        return -1;
    if (!b->prefix || !b->prefix->append)
        return ft_err_set(err, "filling a cache needs a prefix that appends");

    /* every block but the last whole, of the last only keys and values */
    embed_fwd(m, b, &p);
    for (int l = 0; l + 1 < m->cfg.n_layers; l++)
        block_forward(m, &p, l);
    block_kv(m, &p, m->cfg.n_layers - 1);
    return 0;
}
