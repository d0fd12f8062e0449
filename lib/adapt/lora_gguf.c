/* lora_gguf: llama.cpp adapter GGUF files (see lora_gguf.h). */
#include "adapt/lora_gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt/merge.h"
#include "model/dtype.h"
#include "model/gguf.h"
#include "model/gguf_arch.h"
#include "model/gguf_model.h"

/* general.file_type and the tensor type of dtype. */
static int file_type_of(int dtype)
{
    return dtype == FT_DTYPE_F16 ? 1 : dtype == FT_DTYPE_BF16 ? 32 : 0;
}

static int ttype_of(int dtype)
{
    return dtype == FT_DTYPE_F16 ? FT_GGUF_T_F16 : dtype == FT_DTYPE_BF16 ? FT_GGUF_T_BF16
                                                                          : FT_GGUF_T_F32;
}

/* The stacked A [R, in] and scaled B [out, R] of tensor id over the
 * adapters that have it, B's rows permuted by heads (0: none), both
 * converted to dtype into *a and *b (malloc'd). *R gets the total rank. */
static int stack(const ft_model *m, ft_lora *const *ad, const double *w, int n, int id,
                 int heads, int dtype, void **a, void **b, int *R, ft_err *err)
{
    const ft_tensor *t = &m->tensors[id];
    int in = t->shape[1], out = t->shape[0], at = 0;
    float *fa = NULL, *fb = NULL, *tmp = NULL;
    size_t es = ft_dtype_size(dtype);

    *R = 0;
    for (int i = 0; i < n; i++)
        if (ad[i]->by_id[id] >= 0)
            *R += ad[i]->r;
    fa = ft_malloc((size_t)*R * in * sizeof *fa, err);
    fb = ft_malloc((size_t)out * *R * sizeof *fb, err);
    tmp = ft_malloc((size_t)out * *R * sizeof *tmp, err);
    *a = ft_malloc((size_t)*R * in * es, err);
    *b = ft_malloc((size_t)out * *R * es, err);
    if (!fa || !fb || !tmp || !*a || !*b) {
        free(fa), free(fb), free(tmp);
        return -1;
    }

    /* rows of A after one another; B's columns scaled by w·s */
    for (int i = 0; i < n; i++) {
        const ft_lora *l = ad[i];
        if (l->by_id[id] < 0)
            continue;
        const ft_lora_module *md = &l->mods[l->by_id[id]];
        float s = (float)((w ? w[i] : 1.0) * ft_merge_scale(l));
        memcpy(fa + (size_t)at * in, md->A, (size_t)l->r * in * sizeof *fa);
        for (int o = 0; o < out; o++)
            for (int k = 0; k < l->r; k++)
                fb[(size_t)o * *R + at + k] = s * md->B[(size_t)o * l->r + k];
        at += l->r;
    }
    if (heads) {
        ft_gguf_arch_permute(tmp, fb, out, (size_t)*R * sizeof *fb, heads, 1);
        memcpy(fb, tmp, (size_t)out * *R * sizeof *fb);
    }
    ft_dtype_from_f32(*a, fa, (size_t)*R * in, dtype);
    ft_dtype_from_f32(*b, fb, (size_t)out * *R, dtype);
    free(fa), free(fb), free(tmp);
    return 0;
}

int ft_lora_gguf_save(const ft_model *m, ft_lora *const *ad, const double *w, int n,
                      const char *path, int dtype, const char *name, int force, ft_err *err)
{
    const char *arch = ft_gguf_model_arch(&m->cfg);
    ft_gguf_writer *gw = ft_gguf_writer_new(err);
    void **bufs = ft_calloc(2 * (size_t)m->n_tensors + 1, sizeof *bufs, err);
    int rc = -1, nb = 0;

    if (!gw || !bufs)
        goto out;
    if (dtype != FT_DTYPE_F32 && dtype != FT_DTYPE_F16 && dtype != FT_DTYPE_BF16) {
        ft_err_set(err, "%s: adapter tensors are written as f32, f16 or bf16", path);
        goto out;
    }
    if (ft_gguf_model_write_config(gw, &m->cfg, name, file_type_of(dtype), err) < 0 ||
        ft_gguf_set_str(gw, "general.type", "adapter", err) < 0 ||
        ft_gguf_set_str(gw, "adapter.type", "lora", err) < 0 ||
        ft_gguf_set_f32(gw, "adapter.lora.alpha", 0.0f, err) < 0)
        goto out;

    for (int id = 0; id < m->n_tensors; id++) {
        const ft_tensor *t = &m->tensors[id];
        char gname[128], ta[160], tb[160];
        int any = 0, R, heads;
        for (int i = 0; i < n; i++)
            any |= ad[i]->by_id[id] >= 0;
        if (!any)
            continue;

        /* llama.cpp's names */
        if (ft_gguf_arch_to_gguf(arch, t->name, gname, sizeof gname) != 1) {
            ft_err_set(err, "%s: no GGUF name for %s", path, t->name);
            goto out;
        }
        snprintf(ta, sizeof ta, "%s.lora_a", gname);
        snprintf(tb, sizeof tb, "%s.lora_b", gname);
        if (strlen(tb) > FT_GGUF_MAX_NAME) {
            ft_err_set(err, "%s: tensor name %s is longer than llama.cpp allows", path, tb);
            goto out;
        }

        heads = ft_gguf_arch_permute_heads(arch, gname, m->cfg.n_heads, m->cfg.n_kv_heads);
        if (stack(m, ad, w, n, id, heads, dtype, &bufs[nb], &bufs[nb + 1], &R, err) < 0) {
            nb += 2;
            goto out;
        }
        int64_t ne_a[2] = {t->shape[1], R}, ne_b[2] = {R, t->shape[0]};
        if (ft_gguf_add_tensor(gw, ta, ttype_of(dtype), 2, ne_a, bufs[nb], err) < 0 ||
            ft_gguf_add_tensor(gw, tb, ttype_of(dtype), 2, ne_b, bufs[nb + 1], err) < 0) {
            nb += 2;
            goto out;
        }
        nb += 2;
    }
    rc = ft_gguf_write(gw, path, force, err);
out:
    ft_gguf_writer_free(gw);
    for (int i = 0; bufs && i < nb; i++)
        free(bufs[i]);
    free(bufs);
    return rc;
}
