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

int ft_merge_adapter_has_head(const char *dir, ft_err *err)
{
    char *path = ft_path_join(dir, "adapter_model.safetensors", err);
    ft_safetensors *st = path ? ft_safetensors_open(path, err) : NULL;
    int found = 0;

    free(path);
    if (!st)
        return -1;
    for (int i = 0; i < st->n_tensors && !found; i++)
        found = !strncmp(st->tensors[i].name, "base_model.model.lm_head.lora_", 30);
    ft_safetensors_close(st);
    return found;
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

int ft_merge_fold(ft_model *m, ft_lora *const *ad, const double *w, int n, int dtype,
                  ft_merge_stat **stats, int *n_stats, ft_err *err)
{
    float *d = NULL, *w0 = NULL, *r0 = NULL, *r1 = NULL;
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
        int any = 0;

        /* d = Σ w_i·s_i·B_i·A_i [out, in], in f32 */
        for (int i = 0; i < n; i++) {
            const ft_lora *l = ad[i];
            int k = l->by_id[id];
            if (k < 0)
                continue;
            const ft_lora_module *md = &l->mods[k];
            if (t->numel > cap) {
                free(d), free(w0), free(r0), free(r1);
                cap = t->numel;
                d = ft_malloc(cap * sizeof *d, err);
                w0 = ft_malloc(cap * sizeof *w0, err);
                r0 = ft_malloc(cap * sizeof *r0, err);
                r1 = ft_malloc(cap * sizeof *r1, err);
                if (!d || !w0 || !r0 || !r1)
                    goto out;
            }
            float s = (float)((w ? w[i] : 1.0) * ft_merge_scale(l));
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, md->out, md->in, l->r, s,
                        md->B, l->r, md->A, md->in, any ? 1.0f : 0.0f, d, md->in);
            any = 1;
        }
        if (!any)
            continue;

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
    free(d);
    free(w0);
    free(r0);
    free(r1);
    return rc;
}
