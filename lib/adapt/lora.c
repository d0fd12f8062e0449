/* lora: adapter state, target selection, initialisation and the hook that
 * adds the low-rank term in the model's forward and backward passes.
 * PEFT's file layout lives in lora_io.c. */
#include "adapt/lora.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parse.h"
#include "adapt/lora_impl.h"
#include "nn/rowmm.h"
#include "text/rx.h"

void ft_lora_opts_default(ft_lora_opts *o)
{
    memset(o, 0, sizeof *o);
    o->r = 8;
    o->alpha = 16;
}

/* --- Which products can carry an adapter ---------------------------------- */

static int is_block_linear(int role)
{
    switch (role) {
    case FT_ROLE_Q: case FT_ROLE_K: case FT_ROLE_V: case FT_ROLE_QKV: case FT_ROLE_O:
    case FT_ROLE_GATE: case FT_ROLE_UP: case FT_ROLE_DOWN:
        return 1;
    default:
        return 0;
    }
}

void ft_lora_module_path(const ft_model *m, int id, char *buf, size_t n)
{
    const char *name = m->tensors[id].name;
    size_t len = strlen(name);

    if (len > 7 && !strcmp(name + len - 7, ".weight"))
        len -= 7;
    snprintf(buf, n, "%.*s", (int)len, name);
}

/* PEFT's name rule: path == name or path ends in "." + name. */
static int name_matches(const char *path, const char *name, size_t name_len)
{
    size_t n = strlen(path);

    if (n == name_len && !memcmp(path, name, n))
        return 1;
    return n > name_len && path[n - name_len - 1] == '.' &&
           !memcmp(path + n - name_len, name, name_len);
}

static int isalnum_ascii(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A comma list of plain module names (letters, digits, '_', '.')? */
static int is_name_list(const char *s)
{
    if (!*s)
        return 0;
    for (const char *p = s; *p; p++)
        if (!(isalnum_ascii(*p) || *p == '_' || *p == '.' || *p == ','))
            return 0;
    return 1;
}

static const char *default_targets(const ft_model *m)
{
    return m->cfg.family == FT_FAMILY_GPT2 ? "c_attn" : "q_proj,v_proj";
}

/* --- Target selection ------------------------------------------------------ */

typedef struct selector {
    int all_linear;
    ft_rx *rx;
    ft_rx_match *match;
    const char *names;       /* comma list, when neither of the above */
} selector;

static int selector_init(selector *s, const char *targets, ft_err *err)
{
    memset(s, 0, sizeof *s);
    if (!strcmp(targets, "all-linear")) {
        s->all_linear = 1;
        return 0;
    }
    if (is_name_list(targets)) {
        s->names = targets;
        return 0;
    }

    /* a regex over the whole path, as Python's re.fullmatch (compiled
     * alone first, so a syntax error quotes the user's pattern) */
    size_t n = strlen(targets);
    ft_rx *alone = ft_rx_compile(targets, n, err);
    if (!alone) {
        ft_err_prefix(err, "--lora-targets");
        err->kind = FT_ERR_USAGE;
        return -1;
    }
    ft_rx_free(alone);
    char *full = ft_malloc(n + 16, err);
    if (!full)
        return -1;
    snprintf(full, n + 16, "\\A(?:%s)\\z", targets);
    s->rx = ft_rx_compile(full, strlen(full), err);
    free(full);
    if (!s->rx)
        return ft_err_prefix(err, "--lora-targets");
    s->match = ft_rx_match_new(err);
    return s->match ? 0 : -1;
}

static void selector_free(selector *s)
{
    ft_rx_match_free(s->match);
    ft_rx_free(s->rx);
}

/* 1 when the module at path (tensor id) is selected, 0 not, -1 error. */
static int selector_pick(selector *s, const ft_model *m, int id, const char *path,
                         ft_err *err)
{
    int role = m->tensors[id].role;

    if (s->all_linear)
        return is_block_linear(role);
    if (s->rx) {
        size_t a, b;
        int r = ft_rx_find(s->rx, s->match, path, strlen(path), 0, &a, &b, err);
        return r;
    }
    for (const char *p = s->names; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len && name_matches(path, p, len))
            return 1;
        p += len + (e ? 1 : 0);
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* target_modules as PEFT stores them: the short names of the chosen modules
 * for a name list or all-linear (sorted, unique); the full paths for a
 * regex (a config never carries ft's regex). */
static int set_target_names(ft_lora *l, int regex, ft_err *err)
{
    l->target_names = ft_calloc(l->n_mods ? l->n_mods : 1, sizeof *l->target_names, err);
    if (!l->target_names)
        return -1;
    for (int i = 0; i < l->n_mods; i++) {
        const char *p = l->mods[i].path;
        const char *dot = strrchr(p, '.');
        const char *name = regex || !dot ? p : dot + 1;
        int dup = 0;
        for (int j = 0; j < l->n_target_names; j++)
            dup |= !strcmp(l->target_names[j], name);
        if (dup)
            continue;
        if (!(l->target_names[l->n_target_names] = ft_strdup(name, err)))
            return -1;
        l->n_target_names++;
    }
    qsort(l->target_names, l->n_target_names, sizeof *l->target_names, cmp_str);
    return 0;
}

/* --- Construction ----------------------------------------------------------- */

int ft_lora_alloc_params(ft_lora *l, ft_err *err)
{
    size_t n = 0;

    for (int i = 0; i < l->n_mods; i++)
        n += (size_t)l->r * (l->mods[i].in + l->mods[i].out);
    l->n_params = n;
    if (!(l->params = ft_calloc(n ? n : 1, sizeof *l->params, err)))
        return -1;
    n = 0;
    for (int i = 0; i < l->n_mods; i++) {
        ft_lora_module *md = &l->mods[i];
        md->A = l->params + n;
        n += (size_t)l->r * md->in;
        md->B = l->params + n;
        n += (size_t)l->r * md->out;
    }
    return 0;
}

ft_lora *ft_lora_alloc(ft_model *m, ft_err *err)
{
    ft_lora *l = ft_calloc(1, sizeof *l, err);

    if (!l)
        return NULL;
    l->m = m;
    l->fan_in_fan_out = m->cfg.family == FT_FAMILY_GPT2;
    l->mods = ft_calloc(m->n_tensors, sizeof *l->mods, err);
    l->by_id = ft_malloc(m->n_tensors * sizeof *l->by_id, err);
    if (!l->mods || !l->by_id) {
        ft_lora_free(l);
        return NULL;
    }
    for (int i = 0; i < m->n_tensors; i++)
        l->by_id[i] = -1;
    ft_rng_seed(&l->drop_rng, 0, 0x10a4);
    return l;
}

int ft_lora_add_module(ft_lora *l, int id, ft_err *err)
{
    const ft_tensor *t = &l->m->tensors[id];
    ft_lora_module *md = &l->mods[l->n_mods];
    char path[512];

    ft_lora_module_path(l->m, id, path, sizeof path);
    if (!(md->path = ft_strdup(path, err)))
        return -1;
    md->id = id;
    md->layer = t->layer;
    md->out = t->shape[0];
    md->in = t->shape[1];
    l->by_id[id] = l->n_mods++;
    return 0;
}

void ft_lora_set_scale(ft_lora *l)
{
    l->scale = (float)(l->rslora ? l->alpha / sqrt((double)l->r) : l->alpha / l->r);
}

ft_lora *ft_lora_new(ft_model *m, const ft_lora_opts *o, uint64_t seed, ft_err *err)
{
    const char *targets = o->targets ? o->targets : default_targets(m);
    int L = m->cfg.n_layers;
    unsigned char *mark = NULL;
    selector sel;

    if (o->r < 1)
        return ft_err_setk(err, FT_ERR_USAGE, "LoRA rank %d: must be at least 1", o->r),
               NULL;
    if (!(o->dropout >= 0 && o->dropout < 1))
        return ft_err_setk(err, FT_ERR_USAGE, "LoRA dropout %g: must be in [0, 1)",
                           o->dropout),
               NULL;
    if (o->layers) {
        if (!(mark = ft_calloc(L ? L : 1, 1, err)))
            return NULL;
        if (ft_parse_index_set(o->layers, L, mark, err) < 0) {
            free(mark);
            ft_err_prefix(err, "--lora-layers");
            err->kind = FT_ERR_USAGE;
            return NULL;
        }
    }
    if (selector_init(&sel, targets, err) < 0) {
        selector_free(&sel);
        free(mark);
        return NULL;
    }

    ft_lora *l = ft_lora_alloc(m, err);
    if (!l)
        goto fail;
    l->r = o->r;
    l->alpha = o->alpha;
    l->rslora = o->rslora;
    l->dropout = o->dropout;
    ft_lora_set_scale(l);

    /* choose modules: a linear product whose path the selector takes */
    for (int id = 0; id < m->n_tensors; id++) {
        const ft_tensor *t = &m->tensors[id];
        char path[512];
        int pick, head = id == m->head_id && !m->cfg.tied;
        if (t->ndim != 2 || !(is_block_linear(t->role) || head ||
                              t->role == FT_ROLE_EMBED))
            continue;
        ft_lora_module_path(m, id, path, sizeof path);
        if ((pick = selector_pick(&sel, m, id, path, err)) < 0)
            goto fail;
        if (!pick)
            continue;
        if (t->role == FT_ROLE_EMBED) {
            ft_err_setk(err, FT_ERR_USAGE, "--lora-targets selects %s: LoRA on embeddings "
                                           "is not supported", path);
            goto fail;
        }
        if (mark && (t->layer < 0 || !mark[t->layer]))
            continue;
        if (ft_lora_add_module(l, id, err) < 0)
            goto fail;
    }
    if (l->n_mods == 0) {
        ft_err_setk(err, FT_ERR_USAGE, "--lora-targets %s%s%s matches no linear module of "
                                       "this %s model", targets,
                    o->layers ? " in layers " : "", o->layers ? o->layers : "",
                    m->cfg.model_type);
        goto fail;
    }
    if (mark && !sel.rx) {
        if (!(l->layers = ft_malloc(L * sizeof *l->layers, err)))
            goto fail;
        for (int i = 0; i < L; i++)
            if (mark[i])
                l->layers[l->n_layers++] = i;
    }
    if (set_target_names(l, sel.rx != NULL, err) < 0 || ft_lora_alloc_params(l, err) < 0)
        goto fail;

    /* A ~ U(-1/sqrt(in), 1/sqrt(in)): kaiming_uniform_ with a = sqrt(5) gives
     * gain sqrt(2 / (1 + 5)) and bound gain * sqrt(3 / in) = 1 / sqrt(in) */
    ft_rng rng;
    ft_rng_seed(&rng, seed, 0x10a);
    for (int i = 0; i < l->n_mods; i++) {
        ft_lora_module *md = &l->mods[i];
        double bound = 1.0 / sqrt((double)md->in);
        for (size_t k = 0; k < (size_t)l->r * md->in; k++)
            md->A[k] = (float)((2 * ft_rng_uniform(&rng) - 1) * bound);
    }
    selector_free(&sel);
    free(mark);
    return l;

fail:
    selector_free(&sel);
    free(mark);
    ft_lora_free(l);
    return NULL;
}

void ft_lora_free(ft_lora *l)
{
    if (!l)
        return;
    if (l->m && l->m->hook.ctx == l)
        ft_model_set_hook(l->m, NULL);
    for (int i = 0; i < l->n_mods; i++) {
        free(l->mods[i].path);
        free(l->mods[i].xa);
        free(l->mods[i].xd);
        free(l->mods[i].keep);
    }
    for (int i = 0; i < l->n_target_names; i++)
        free(l->target_names[i]);
    free(l->target_names);
    free(l->layers);
    free(l->mods);
    free(l->by_id);
    free(l->params);
    free(l->grads);
    free(l);
}

/* --- Training state ---------------------------------------------------------- */

int ft_lora_setup_train(ft_lora *l, ft_err *err)
{
    size_t n = 0;

    free(l->grads);
    if (!(l->grads = ft_calloc(l->n_params ? l->n_params : 1, sizeof *l->grads, err)))
        return -1;
    for (int i = 0; i < l->n_mods; i++) {
        ft_lora_module *md = &l->mods[i];
        md->dA = l->grads + n;
        n += (size_t)l->r * md->in;
        md->dB = l->grads + n;
        n += (size_t)l->r * md->out;
    }
    return 0;
}

void ft_lora_zero_grads(ft_lora *l)
{
    if (l->grads)
        memset(l->grads, 0, l->n_params * sizeof *l->grads);
}

void ft_lora_reseed(ft_lora *l, uint64_t seed)
{
    ft_rng_seed(&l->drop_rng, seed, 0x10a4);
}

static int reserve_module(ft_lora *l, ft_lora_module *md, size_t N, ft_err *err)
{
    if (N <= md->cap)
        return 0;
    float *xa = ft_realloc(md->xa, N * l->r * sizeof *xa, err);
    if (!xa)
        return -1;
    md->xa = xa;
    if (l->dropout > 0) {
        float *xd = ft_realloc(md->xd, N * md->in * sizeof *xd, err);
        if (!xd)
            return -1;
        md->xd = xd;
        unsigned char *keep = ft_realloc(md->keep, N * md->in, err);
        if (!keep)
            return -1;
        md->keep = keep;
    }
    md->cap = N;
    return 0;
}

int ft_lora_reserve(ft_lora *l, size_t N, ft_err *err)
{
    for (int i = 0; i < l->n_mods; i++)
        if (reserve_module(l, &l->mods[i], N, err) < 0)
            return -1;
    return 0;
}

int ft_lora_check(const ft_lora *l, ft_err *err)
{
    if (l->failed)
        return ft_err_set(err, "out of memory for the LoRA buffers");
    return 0;
}

/* --- The hook ----------------------------------------------------------------- */

static void hook_forward(void *ctx, int id, float *out, int ldo, const float *inp, int N,
                         int train)
{
    ft_lora *l = ctx;
    int k = id >= 0 && id < l->m->n_tensors ? l->by_id[id] : -1;
    if (k < 0 || N <= 0)
        return;
    ft_lora_module *md = &l->mods[k];
    int r = l->r, C = md->in;
    const float *x = inp;

    if (reserve_module(l, md, (size_t)N, NULL) < 0) {
        l->failed = 1;
        return;
    }

    /* dropout on the adapter's input: keep with 1-p, scaled by 1/(1-p) */
    if (train && l->dropout > 0) {
        float inv = (float)(1.0 / (1.0 - l->dropout));
        for (size_t i = 0; i < (size_t)N * C; i++) {
            md->keep[i] = ft_rng_uniform(&l->drop_rng) >= l->dropout;
            md->xd[i] = md->keep[i] ? inp[i] * inv : 0.0f;
        }
        x = md->xd;
    }
    md->dropped = x != inp;

    /* row by row when the model computes so (generation): xa = x·Aᵀ, then
     * out += (s·xa)·Bᵀ, each row's sums its own (nn/rowmm.h) */
    if (l->m->exact_rows && !train) {
        ft_rowmm_forward(md->xa, r, x, md->A, NULL, N, C, r, 0);
        for (size_t i = 0; i < (size_t)N * r; i++)
            md->xa[i] *= l->scale;
        ft_rowmm_forward(out, ldo, md->xa, md->B, NULL, N, r, md->out, 1);
        return;
    }

    /* xa[N, r] = x·Aᵀ, then out += s·xa·Bᵀ */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, r, C, 1.0f, x, C, md->A, C,
                0.0f, md->xa, r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, md->out, r, l->scale, md->xa, r,
                md->B, r, 1.0f, out, ldo);
}

static void hook_backward(void *ctx, int id, float *dinp, const float *dout, int ldo,
                          const float *inp, int N)
{
    ft_lora *l = ctx;
    int k = id >= 0 && id < l->m->n_tensors ? l->by_id[id] : -1;
    if (k < 0 || N <= 0 || l->failed)
        return;
    ft_lora_module *md = &l->mods[k];
    int r = l->r, C = md->in, OC = md->out;
    const float *x = md->dropped ? md->xd : inp;
    float *g = md->xa;   /* free once dB has used it */

    /* dB[OC, r] += s·doutᵀ·xa */
    if (md->dB)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, r, N, l->scale, dout, ldo,
                    md->xa, r, 1.0f, md->dB, r);
    if (!md->dA && !dinp)
        return;

    /* g[N, r] = s·dout·B */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, r, OC, l->scale, dout, ldo,
                md->B, r, 0.0f, g, r);

    /* dA[r, C] += gᵀ·x */
    if (md->dA)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, C, N, 1.0f, g, r, x, C, 1.0f,
                    md->dA, C);
    if (!dinp)
        return;

    /* dinp += g·A, through the dropout mask */
    if (md->dropped) {
        float inv = (float)(1.0 / (1.0 - l->dropout));
        float *t = md->xd;   /* x (dropped) was used above; reuse as scratch */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, r, 1.0f, g, r, md->A, C,
                    0.0f, t, C);
        for (size_t i = 0; i < (size_t)N * C; i++)
            if (md->keep[i])
                dinp[i] += t[i] * inv;
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, r, 1.0f, g, r, md->A, C,
                    1.0f, dinp, C);
    }
}

void ft_lora_attach(ft_lora *l)
{
    ft_linear_hook h = {l, hook_forward, hook_backward, l->m->cfg.n_layers};

    for (int i = 0; i < l->n_mods; i++)
        if (l->mods[i].layer >= 0 && l->mods[i].layer < h.min_layer)
            h.min_layer = l->mods[i].layer;
    ft_model_set_hook(l->m, &h);
}

ft_lora *ft_lora_apply(ft_model *m, const char *dir, ft_err *err)
{
    ft_lora *l = ft_lora_load(m, dir, err);

    if (l)
        ft_lora_attach(l);
    return l;
}

void ft_lora_tensor_name(const ft_lora *l, int i, int b, char *buf, size_t n)
{
    snprintf(buf, n, "base_model.model.%s.lora_%c.weight", l->mods[i].path, b ? 'B' : 'A');
}
