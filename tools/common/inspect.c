/* inspect: ft-merge --inspect (see inspect.h). */
#include "inspect.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "adapt/adapter.h"
#include "adapt/lora.h"
#include "adapt/merge.h"
#include "adapt/prefix.h"
#include "core/fsout.h"
#include "model/checkpoint.h"
#include "model/gguf.h"
#include "model/gguf_arch.h"
#include "model/gguf_model.h"
#include "model/safetensors.h"
#include "prog.h"

static void print_dims(FILE *out, int n, const int64_t *d)
{
    for (int i = 0; i < n; i++)
        fprintf(out, i ? ",%lld" : " %lld", (long long)d[i]);
    fputc('\n', out);
}

/* A safetensors file's metadata and tensors. */
static void print_safetensors(FILE *out, const char *path)
{
    ft_err err;
    ft_safetensors *st = ft_safetensors_open(path, &err);
    if (!st)
        ft_prog_die(&err);
    for (int i = 0; i < st->n_meta; i++)
        fprintf(out, "metadata %s %s\n", st->meta[2 * i], st->meta[2 * i + 1]);
    for (int i = 0; i < st->n_tensors; i++) {
        const ft_st_tensor *t = &st->tensors[i];
        fprintf(out, "tensor %s %s", t->name, ft_dtype_name(t->dtype));
        print_dims(out, t->ndim, t->shape);
    }
    ft_safetensors_close(st);
}

/* "fits MODEL yes" or "fits MODEL no: why"; returns the exit status. */
static int fits(FILE *out, const char *model, const ft_err *why)
{
    if (!why) {
        fprintf(out, "fits %s yes\n", model);
        return 0;
    }
    fprintf(out, "fits %s no: %s\n", model, why->msg);
    return 1;
}

static ft_model *load_model(const char *path)
{
    ft_err err;
    ft_model *m = ft_checkpoint_load(path, &err);
    if (!m)
        ft_prog_die(&err);
    return m;
}

/* A LoRA adapter against a model, untied first as ft-merge would. */
static int lora_fits(FILE *out, const char *dir, const char *model)
{
    ft_model *m = load_model(model), *u;
    ft_merge_embed e = {0};
    ft_lora *l;
    ft_err err;
    int parts = ft_merge_adapter_touches(dir, &err), rc, untied = 0;

    if (parts < 0)
        ft_prog_die(&err);
    if (m->cfg.tied && parts) {
        untied = 1;
        if (!(u = ft_merge_untie(m, &err)))
            ft_prog_die(&err);
        ft_model_free(m);
        m = u;
    }
    l = ft_lora_load_flags(m, dir, FT_LORA_SKIP_EMBEDDING, &err);
    if (l && ft_merge_embed_load(m, dir, l->r, &e, &err) < 0) {
        ft_lora_free(l);
        l = NULL;
    }
    rc = fits(out, model, l ? NULL : &err);
    if (l && untied)
        fprintf(out, "note merging unties lm_head from the embedding of %s\n", model);
    ft_merge_embed_free(&e);
    ft_lora_free(l);
    ft_model_free(m);
    return rc;
}

static int inspect_adapter(FILE *out, const char *dir, const char *model)
{
    ft_err err;
    int kind = ft_adapter_kind(dir, &err), rc = 0;
    char *path, *text;
    size_t n;
    json_t *c;
    const char *key;
    json_t *v;

    if (kind < 0)
        ft_prog_die(&err);
    fprintf(out, "kind %s\n", kind == FT_ADAPTER_LORA ? "lora" : "prefix");

    /* every key of adapter_config.json, and the scale it implies */
    if (!(path = ft_path_join(dir, "adapter_config.json", &err)) ||
        ft_read_file(path, 1 << 20, &text, &n, &err) < 0)
        ft_prog_die(&err);
    if (!(c = json_loadb(text, n, 0, NULL)))
        ft_prog_fail("%s: not JSON", path);
    json_object_foreach(c, key, v) {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        fprintf(out, "config %s %s\n", key, s ? s : "?");
        free(s);
    }
    if (kind == FT_ADAPTER_LORA) {
        json_t *r = json_object_get(c, "r"), *a = json_object_get(c, "lora_alpha");
        int rs = json_is_true(json_object_get(c, "use_rslora"));
        if (json_is_integer(r) && json_integer_value(r) > 0 && json_is_number(a))
            fprintf(out, "scale %.9g (%s)\n",
                    json_number_value(a) / (rs ? sqrt((double)json_integer_value(r))
                                               : (double)json_integer_value(r)),
                    rs ? "lora_alpha/sqrt(r), rsLoRA" : "lora_alpha/r");
    }
    json_decref(c);
    free(text);
    free(path);

    /* the tensors */
    if (!(path = ft_path_join(dir, "adapter_model.safetensors", &err)))
        ft_prog_die(&err);
    print_safetensors(out, path);
    free(path);
    if (kind == FT_ADAPTER_PREFIX)
        fprintf(out, "note a prefix adapter changes no weight: it cannot be merged\n");

    if (model && kind == FT_ADAPTER_LORA) {
        rc = lora_fits(out, dir, model);
    } else if (model) {
        ft_model *m = load_model(model);
        ft_prefix_adapter *p = ft_prefix_load(&m->cfg, dir, NULL, &err);
        rc = fits(out, model, p ? NULL : &err);
        ft_prefix_free(p);
        ft_model_free(m);
    }
    return rc;
}

/* One GGUF metadata value on a line (arrays by type and length). */
static void print_kv(FILE *out, const ft_gguf_kv *kv)
{
    fprintf(out, "kv %s %s ", kv->key, ft_gguf_vtype_name(kv->type));
    switch (kv->type) {
    case FT_GGUF_STR: fprintf(out, "%.*s\n", (int)kv->n, kv->v.s); break;
    case FT_GGUF_ARR:
        fprintf(out, "%s %llu\n", ft_gguf_vtype_name(kv->elem_type),
                (unsigned long long)kv->n);
        break;
    case FT_GGUF_F32: case FT_GGUF_F64: fprintf(out, "%.9g\n", kv->v.f); break;
    case FT_GGUF_I8: case FT_GGUF_I16: case FT_GGUF_I32: case FT_GGUF_I64:
        fprintf(out, "%lld\n", (long long)kv->v.i);
        break;
    default: fprintf(out, "%llu\n", (unsigned long long)kv->v.u); break;
    }
}

/* A llama.cpp adapter's pairs: rank and scale each, and with a model,
 * llama.cpp's own checks (the base tensor exists; base.ne[0] == a.ne[0],
 * base.ne[1] == b.ne[1], a.ne[1] == b.ne[0]). */
static int gguf_lora_pairs(FILE *out, const ft_gguf *g, const char *model)
{
    ft_model *m = model ? load_model(model) : NULL;
    double alpha = 0;
    ft_err err, why;
    int bad = 0;

    if (ft_gguf_get_float(g, "adapter.lora.alpha", &alpha, &err) < 0)
        ft_prog_die(&err);
    if (m && strcmp(ft_gguf_model_arch(&m->cfg), g->arch))
        bad = ft_err_set(&why, "the adapter is for %s, the model is %s", g->arch,
                         ft_gguf_model_arch(&m->cfg));
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const ft_gguf_tensor *a = &g->tensors[i], *b;
        size_t len = strlen(a->name);
        char base[128], bname[140], hf[256];
        if (len < 7 || strcmp(a->name + len - 7, ".lora_a") || len - 7 >= sizeof base)
            continue;
        snprintf(base, sizeof base, "%.*s", (int)(len - 7), a->name);
        snprintf(bname, sizeof bname, "%s.lora_b", base);
        if (!(b = ft_gguf_tensor_find(g, bname))) {
            fprintf(out, "module %s: no %s\n", base, bname);
            bad = bad ? bad : ft_err_set(&why, "%s has no %s", a->name, bname);
            continue;
        }
        double r = (double)a->ne[1];
        fprintf(out, "module %s rank %lld scale %.9g\n", base, (long long)a->ne[1],
                alpha != 0 ? alpha / r : 1.0);
        if (!m || bad)
            continue;
        int id = ft_gguf_arch_to_hf(g->arch, base, hf, sizeof hf) == 1 ? ft_model_find(m, hf)
                                                                      : -1;
        if (id < 0) {
            bad = ft_err_set(&why, "the model has no tensor %s", base);
            continue;
        }
        const ft_tensor *t = &m->tensors[id];
        if (a->ne[0] != t->shape[1] || b->ne[1] != t->shape[0] || a->ne[1] != b->ne[0])
            bad = ft_err_set(&why, "%s: A is %lld x %lld and B %lld x %lld (ne), the model's "
                             "%s is %d x %d", base, (long long)a->ne[0], (long long)a->ne[1],
                             (long long)b->ne[0], (long long)b->ne[1], hf, t->shape[1],
                             t->shape[0]);
    }
    int rc = m ? fits(out, model, bad ? &why : NULL) : 0;
    ft_model_free(m);
    return rc;
}

static int inspect_gguf(FILE *out, const char *path, const char *model)
{
    ft_err err;
    ft_gguf *g = ft_gguf_open(path, &err);
    const char *type = NULL;
    size_t len = 0;
    int rc = 0, lora;

    if (!g)
        ft_prog_die(&err);
    if (ft_gguf_get_str(g, "general.type", &type, &len, &err) < 0)
        ft_prog_die(&err);
    lora = type && len == 7 && !memcmp(type, "adapter", 7);
    fprintf(out, "kind %s\n", lora ? "gguf-lora" : "gguf-model");
    fprintf(out, "version %u\n", g->version);
    for (int64_t i = 0; i < g->n_kv; i++)
        print_kv(out, &g->kv[i]);
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const ft_gguf_tensor *t = &g->tensors[i];
        fprintf(out, "tensor %s %s", t->name, ft_gguf_ttype_name(t->type));
        print_dims(out, t->n_dims, t->ne);
    }
    if (lora)
        rc = gguf_lora_pairs(out, g, model);
    else if (model)
        fprintf(out, "note -m is checked against adapters only\n");
    ft_gguf_close(g);
    return rc;
}

static int inspect_model(FILE *out, const char *path, const char *model)
{
    ft_model *m = load_model(path);
    const ft_config *c = &m->cfg;

    fprintf(out, "kind model\nmodel_type %s\n", c->model_type);
    fprintf(out, "dim %d\nhidden_dim %d\nlayers %d\nheads %d\nkv_heads %d\nhead_dim %d\n",
            c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim);
    fprintf(out, "vocab %d\ncontext %d\ntied %s\n", c->vocab_size, c->max_pos,
            c->tied ? "yes" : "no");
    for (int i = 0; i < m->n_tensors; i++) {
        const ft_tensor *t = &m->tensors[i];
        int64_t d[2] = {t->shape[0], t->shape[1]};
        fprintf(out, "tensor %s %s", t->name, ft_dtype_name(t->dtype));
        print_dims(out, t->ndim, d);
    }
    fprintf(out, "parameters %zu\n", m->n_params);
    if (model)
        fprintf(out, "note -m is checked against adapters only\n");
    ft_model_free(m);
    return 0;
}

int ft_inspect(FILE *out, const char *path, const char *model)
{
    struct stat st;
    char *cfg;
    ft_err err;

    if (stat(path, &st) != 0)
        ft_prog_fail("%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        if (!(cfg = ft_path_join(path, "adapter_config.json", &err)))
            ft_prog_die(&err);
        int adapter = stat(cfg, &st) == 0;
        free(cfg);
        if (adapter)
            return inspect_adapter(out, path, model);
    }
    if (ft_gguf_is_gguf(path))
        return inspect_gguf(out, path, model);
    return inspect_model(out, path, model);
}
