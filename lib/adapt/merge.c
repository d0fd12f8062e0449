/* merge: LoRA updates folded into weights (see merge.h). */
#include "adapt/merge.h"

#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsout.h"
#include "model/dtype.h"
#include "model/safetensors.h"

double ft_merge_scale(const ft_lora *l)
{
    return l->rslora ? l->alpha / sqrt((double)l->r) : l->alpha / (double)l->r;
}

int ft_merge_adapter_touches(const char *dir, ft_err *err)
{
    char *path = ft_path_join(dir, "adapter_model.safetensors", err);
    ft_safetensors *st = path ? ft_safetensors_open(path, err) : NULL;
    int found = 0;

    free(path);
    if (!st)
        return -1;
    for (int i = 0; i < st->n_tensors; i++) {
        if (!strncmp(st->tensors[i].name, "base_model.model.lm_head.lora_", 30))
            found |= FT_MERGE_HEAD;
        if (strstr(st->tensors[i].name, ".lora_embedding_"))
            found |= FT_MERGE_EMBED;
    }
    ft_safetensors_close(st);
    return found;
}

int ft_merge_embed_load(const ft_model *m, const char *dir, int r, ft_merge_embed *e,
                        ft_err *err)
{
    const ft_tensor *t = &m->tensors[m->embed_id];
    char *path = ft_path_join(dir, "adapter_model.safetensors", err);
    ft_safetensors *st = path ? ft_safetensors_open(path, err) : NULL;
    int rc = -1;

    memset(e, 0, sizeof *e);
    if (!st)
        goto out;
    for (int b = 0; b < 2; b++) {
        /* base_model.model.<embedding path>.lora_embedding_A / _B */
        char name[300];
        int len = (int)strlen(t->name) - 7;
        int64_t want0 = b ? t->shape[1] : r, want1 = b ? r : t->shape[0];
        snprintf(name, sizeof name, "base_model.model.%.*s.lora_embedding_%c", len, t->name,
                 b ? 'B' : 'A');
        const ft_st_tensor *x = ft_safetensors_find(st, name);
        if (!x && m->cfg.family == FT_FAMILY_GPT2 && !strncmp(t->name, "transformer.", 12)) {
            snprintf(name, sizeof name, "base_model.model.%.*s.lora_embedding_%c", len - 12,
                     t->name + 12, b ? 'B' : 'A');
            x = ft_safetensors_find(st, name);
        }
        if (!x) {
            rc = b ? ft_err_set(err, "%s: %s has lora_embedding_A but no lora_embedding_B",
                                path, dir)
                   : 0;
            goto out;
        }
        if (x->ndim != 2 || x->shape[0] != want0 || x->shape[1] != want1) {
            ft_err_set(err, "%s: tensor %s has shape [%lld, %lld], this model needs "
                       "[%lld, %lld] (r = %d; an adapter for another base?)", path, name,
                       x->ndim > 0 ? (long long)x->shape[0] : 0LL,
                       x->ndim > 1 ? (long long)x->shape[1] : 0LL, (long long)want0,
                       (long long)want1, r);
            goto out;
        }
        float **dst = b ? &e->B : &e->A;
        if (!(*dst = ft_malloc(x->numel * sizeof **dst, err)) ||
            ft_safetensors_read_f32(st, x, *dst, err) < 0)
            goto out;
    }
    e->r = r;
    rc = 1;
out:
    if (rc <= 0)
        ft_merge_embed_free(e);
    ft_safetensors_close(st);
    free(path);
    return rc;
}

void ft_merge_embed_free(ft_merge_embed *e)
{
    free(e->A);
    free(e->B);
    e->A = e->B = NULL;
}

ft_model *ft_merge_untie(const ft_model *m, ft_err *err)
{
    ft_config c;
    ft_model *u;

    if (ft_config_copy(&c, &m->cfg, err) < 0)
        return NULL;
    c.tied = 0;
    if (c.json && json_object_set_new(c.json, "tie_word_embeddings", json_false()) < 0) {
        ft_config_free(&c);
        ft_err_set(err, "out of memory untying the model");
        return NULL;
    }
    if (!(u = ft_model_new(&c, err)))
        return NULL;

    /* every tensor by name; the new lm_head from the embedding */
    for (int i = 0; i < u->n_tensors; i++) {
        ft_tensor *t = &u->tensors[i];
        int src = t->role == FT_ROLE_HEAD ? m->embed_id : ft_model_find(m, t->name);
        if (src < 0 || m->tensors[src].numel != t->numel) {
            ft_err_set(err, "untying the model: no tensor %s to copy", t->name);
            ft_model_free(u);
            return NULL;
        }
        memcpy(u->params + t->offset, m->params + m->tensors[src].offset,
               t->numel * sizeof *u->params);
        t->dtype = m->tensors[src].dtype;
        t->trainable = m->tensors[src].trainable;
    }
    free(u->file_prefix);
    if (!(u->file_prefix = ft_strdup(m->file_prefix, err))) {
        ft_model_free(u);
        return NULL;
    }
    return u;
}

/* The report's numbers for one tensor: w0 its base values, w1 = fl32(w0 + d)
 * the merged ones, d the f32 update, all [numel]; r0, r1 scratch. */
static void measure(ft_merge_stat *s, const float *w0, const float *w1, const float *d,
                    float *r0, float *r1, size_t numel)
{
    double sum_d2 = 0, sum_e2 = 0;

    memcpy(r0, w0, numel * sizeof *r0);
    memcpy(r1, w1, numel * sizeof *r1);
    if (s->dtype != FT_DTYPE_F32) {
        ft_dtype_round(r0, numel, s->dtype);
        ft_dtype_round(r1, numel, s->dtype);
    }
    for (size_t k = 0; k < numel; k++) {
        double dk = d[k], e = ((double)r1[k] - (double)r0[k]) - dk;
        if (dk == 0)
            continue;
        s->n_update++;
        s->n_unchanged += r1[k] == r0[k];
        sum_d2 += dk * dk;
        sum_e2 += e * e;
    }
    s->rms = sqrt(sum_d2 / (double)numel);
    s->lost = sum_d2 > 0 ? sqrt(sum_e2 / sum_d2) : 0;
}

/* Make room for tensors of numel floats in the four scratch buffers. */
static int grow(float **bufs, size_t *cap, size_t numel, ft_err *err)
{
    if (numel <= *cap)
        return 0;
    for (int i = 0; i < 4; i++) {
        free(bufs[i]);
        if (!(bufs[i] = ft_malloc(numel * sizeof *bufs[i], err)))
            return -1;
    }
    *cap = numel;
    return 0;
}

int ft_merge_fold(ft_model *m, ft_lora *const *ad, const ft_merge_embed *emb,
                  const double *w, int n, int dtype, ft_merge_stat **stats, int *n_stats,
                  ft_err *err)
{
    float *bufs[4] = {0};
    float *d, *w0, *r0, *r1;
    size_t cap = 0;
    int rc = -1, count = 0;
    ft_merge_stat *st = NULL;

    if (stats) {
        *stats = NULL;
        *n_stats = 0;
    }
    for (int i = 0; i < n; i++)
        if (ad[i]->m != m)
            return ft_err_set(err, "adapter %d was loaded for another model", i + 1);
    if (!(st = ft_calloc((size_t)m->n_tensors + 1, sizeof *st, err)))
        return -1;
    for (int id = 0; id < m->n_tensors; id++) {
        ft_tensor *t = &m->tensors[id];
        float *p = m->params + t->offset;
        int any = 0, touched = 0;

        /* scratch only for the tensors the adapters change */
        for (int i = 0; i < n; i++)
            touched |= ad[i]->by_id[id] >= 0 || (emb && id == m->embed_id && emb[i].A);
        if (!touched)
            continue;
        if (grow(bufs, &cap, t->numel, err) < 0)
            goto out;
        d = bufs[0], w0 = bufs[1], r0 = bufs[2], r1 = bufs[3];

        /* d = Σ w_i·s_i·B_i·A_i [out, in], in f32 */
        for (int i = 0; i < n; i++) {
            const ft_lora *l = ad[i];
            int k = l->by_id[id];
            if (k < 0)
                continue;
            const ft_lora_module *md = &l->mods[k];
            float s = (float)((w ? w[i] : 1.0) * ft_merge_scale(l));
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, md->out, md->in, l->r, s,
                        md->B, l->r, md->A, md->in, any ? 1.0f : 0.0f, d, md->in);
            any = 1;
        }

        /* the embedding [V, C]: d += w_i·s_i·(B_i·A_i)ᵀ = w_i·s_i·A_iᵀ·B_iᵀ */
        for (int i = 0; emb && id == m->embed_id && i < n; i++) {
            if (!emb[i].A)
                continue;
            int V = t->shape[0], C = t->shape[1], r = emb[i].r;
            float s = (float)((w ? w[i] : 1.0) * ft_merge_scale(ad[i]));
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, V, C, r, s, emb[i].A, V,
                        emb[i].B, r, any ? 1.0f : 0.0f, d, C);
            any = 1;
        }

        /* W' = W + d, and what the output type keeps of d */
        memcpy(w0, p, t->numel * sizeof *w0);
        for (size_t k = 0; k < t->numel; k++)
            p[k] += d[k];
        st[count].id = id;
        st[count].dtype = dtype >= 0 ? dtype : t->dtype;
        if (st[count].dtype != FT_DTYPE_F16 && st[count].dtype != FT_DTYPE_BF16)
            st[count].dtype = FT_DTYPE_F32;
        measure(&st[count], w0, p, d, r0, r1, t->numel);
        count++;
    }
    rc = 0;
    if (stats) {
        *stats = st;
        *n_stats = count;
        st = NULL;
    }
out:
    free(st);
    for (int i = 0; i < 4; i++)
        free(bufs[i]);
    return rc;
}
