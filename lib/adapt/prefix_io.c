/* prefix_io: P-tuning v2 prefixes on disk as PEFT 0.12.0 writes prefix
 * tuning, plus ft's prefix_encoder.safetensors for the projection's MLP.
 *
 * adapter_config.json: the 13 keys PrefixTuningConfig.to_dict() gives
 * (json.dumps with indent 2 and sort_keys, no trailing newline), nothing ft
 * invents (the dropout is not a PEFT key and is not stored);
 * adapter_model.safetensors: F32 prompt_embeddings [N, L·2·td],
 * __metadata__ {"format": "pt"} plus ft's own pairs.
 *
 * Reading checks every size against the model and the options and names
 * both values when they differ; unknown keys of later PEFT releases are
 * ignored. */
#include "adapt/prefix.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapt/prefix_impl.h"
#include "core/fsout.h"
#include "model/safetensors.h"

#define CONFIG_NAME "adapter_config.json"
#define WEIGHTS_NAME "adapter_model.safetensors"
#define ENCODER_NAME "prefix_encoder.safetensors"
#define MAX_CONFIG_BYTES (1 << 20)

/* --- Writing ------------------------------------------------------------------ */

static json_t *config_json(const ft_prefix_adapter *a, const char *base_name)
{
    json_t *c = json_object();
    json_object_set_new(c, "auto_mapping", json_null());
    json_object_set_new(c, "base_model_name_or_path",
                        base_name ? json_string(base_name) : json_null());
    json_object_set_new(c, "encoder_hidden_size", json_integer(a->H ? a->H : a->td));
    json_object_set_new(c, "inference_mode", json_true());
    json_object_set_new(c, "num_attention_heads", json_integer(a->nkv));
    json_object_set_new(c, "num_layers", json_integer(a->L));
    json_object_set_new(c, "num_transformer_submodules", json_integer(1));
    json_object_set_new(c, "num_virtual_tokens", json_integer(a->N));
    json_object_set_new(c, "peft_type", json_string("PREFIX_TUNING"));
    json_object_set_new(c, "prefix_projection", json_boolean(a->H > 0));
    json_object_set_new(c, "revision", json_null());
    json_object_set_new(c, "task_type", json_string("CAUSAL_LM"));
    json_object_set_new(c, "token_dim", json_integer(a->td));
    return c;
}

/* "format": "pt" first, then the caller's pairs. */
static const char **meta_list(const char *const *meta, ft_err *err)
{
    int n = 0;
    while (meta && meta[n])
        n++;
    const char **m = ft_calloc((size_t)n + 3, sizeof *m, err);
    if (!m)
        return NULL;
    m[0] = "format";
    m[1] = "pt";
    for (int i = 0; i < n; i++)
        m[2 + i] = meta[i];
    return m;
}

int ft_prefix_write_files(ft_prefix_adapter *a, const char *dir, const char *base_name,
                          const char *const *meta, ft_err *err)
{
    int rc = -1;
    char *path = NULL, *text = NULL;
    const char **m = meta_list(meta, err);
    json_t *c = config_json(a, base_name);

    /* prompt_embeddings must be the current parameters' */
    ft_prefix_seam(a, NULL);

    text = c ? json_dumps(c, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    if (!m || !text) {
        ft_err_set(err, "%s: cannot build %s", dir, CONFIG_NAME);
        goto out;
    }
    path = ft_path_join(dir, CONFIG_NAME, err);
    if (!path || ft_write_file(path, text, strlen(text), err) < 0)
        goto out;
    free(path);

    ft_st_entry pe = {.name = "prompt_embeddings", .dtype = FT_DTYPE_F32, .ndim = 2,
                      .shape = {a->N, a->W}, .f32 = a->pe};
    path = ft_path_join(dir, WEIGHTS_NAME, err);
    if (!path || ft_safetensors_write(path, &pe, 1, m, err) < 0)
        goto out;

    if (a->H) {
        ft_st_entry e[5];
        for (int i = 0; i < 5; i++)
            e[i] = (ft_st_entry){.name = a->t[i].name, .dtype = FT_DTYPE_F32,
                                 .ndim = a->t[i].ndim, .f32 = a->t[i].param,
                                 .shape = {a->t[i].shape[0], a->t[i].shape[1]}};
        free(path);
        path = ft_path_join(dir, ENCODER_NAME, err);
        if (!path || ft_safetensors_write(path, e, 5, m, err) < 0)
            goto out;
    }
    rc = 0;
out:
    free(path);
    free(text);
    free(m);
    json_decref(c);
    return rc;
}

int ft_prefix_save(ft_prefix_adapter *a, const char *dir, int force, const char *base_name,
                   const char *const *meta, ft_err *err)
{
    ft_out o;
    if (ft_out_begin(&o, dir, 1, force, err) < 0)
        return -1;
    if (ft_prefix_write_files(a, o.tmp, base_name, meta, err) < 0 ||
        ft_out_commit(&o, err) < 0) {
        ft_out_abort(&o);
        return -1;
    }
    return 0;
}

/* --- Reading ------------------------------------------------------------------ */

/* An integer key >= 1, or -1 with a message. */
static int int_key(const json_t *c, const char *key, const char *name, ft_err *err)
{
    const json_t *v = json_object_get(c, key);
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1 << 30)
        return ft_err_set(err, "%s: \"%s\" must be a positive integer", name, key);
    return (int)json_integer_value(v);
}

/* The sizes of adapter_config.json, checked against cfg and o. */
static int read_config(const char *dir, const ft_config *cfg, const ft_prefix_opts *o,
                       int *N, int *H, ft_err *err)
{
    char *path = ft_path_join(dir, CONFIG_NAME, err), *text = NULL;
    size_t n_bytes;
    json_error_t jerr;
    json_t *c = NULL;
    int rc = -1;

    if (!path || ft_read_file(path, MAX_CONFIG_BYTES, &text, &n_bytes, err) < 0)
        goto out;
    c = json_loadb(text, n_bytes, 0, &jerr);
    if (!json_is_object(c)) {
        ft_err_set(err, "%s: line %d: %s", path, jerr.line, c ? "not an object" : jerr.text);
        goto out;
    }

    const json_t *t = json_object_get(c, "peft_type");
    if (!json_is_string(t) || strcmp(json_string_value(t), "PREFIX_TUNING")) {
        ft_err_set(err, "%s: \"peft_type\" is %s, not \"PREFIX_TUNING\"", path,
                   json_is_string(t) ? json_string_value(t) : "missing");
        goto out;
    }
    const json_t *sub = json_object_get(c, "num_transformer_submodules");
    if (sub && !json_is_null(sub) && json_integer_value(sub) != 1) {
        ft_err_set(err, "%s: \"num_transformer_submodules\" must be 1 (a decoder-only "
                   "model)", path);
        goto out;
    }
    int n = int_key(c, "num_virtual_tokens", path, err);
    int layers = n < 0 ? -1 : int_key(c, "num_layers", path, err);
    int td = layers < 0 ? -1 : int_key(c, "token_dim", path, err);
    int heads = td < 0 ? -1 : int_key(c, "num_attention_heads", path, err);
    if (heads < 0)
        goto out;
    const json_t *proj = json_object_get(c, "prefix_projection");
    if (proj && !json_is_boolean(proj)) {
        ft_err_set(err, "%s: \"prefix_projection\" must be true or false", path);
        goto out;
    }
    int h = 0;
    if (json_is_true(proj) && (h = int_key(c, "encoder_hidden_size", path, err)) < 0)
        goto out;

    /* Against the model. */
    if (layers != cfg->n_layers) {
        ft_err_set(err, "%s: the prefix has %d layers, the model %d", path, layers,
                   cfg->n_layers);
        goto out;
    }
    if (td != cfg->n_kv_heads * cfg->head_dim || heads != cfg->n_kv_heads) {
        ft_err_set(err, "%s: the prefix is %d wide in %d heads, the model's keys %d in %d "
                   "kv heads", path, td, heads, cfg->n_kv_heads * cfg->head_dim,
                   cfg->n_kv_heads);
        goto out;
    }

    /* Against what was asked for. */
    if (o && o->n_virtual >= 0 && o->n_virtual != n) {
        ft_err_set(err, "%s: the prefix has %d virtual tokens, %d were asked for", path, n,
                   o->n_virtual);
        goto out;
    }
    if (o && o->projection >= 0 && o->projection != h) {
        if (!h)
            ft_err_set(err, "%s: the prefix has no projection, a projection of %d was "
                       "asked for", path, o->projection);
        else if (!o->projection)
            ft_err_set(err, "%s: the prefix has a projection of %d, none was asked for",
                       path, h);
        else
            ft_err_set(err, "%s: the prefix has a projection of %d, a projection of %d "
                       "was asked for", path, h, o->projection);
        goto out;
    }
    *N = n;
    *H = h;
    rc = 0;
out:
    json_decref(c);
    free(text);
    free(path);
    return rc;
}

/* Read tensor name of st into dst, its shape [rows] or [rows, cols]. */
static int read_tensor(const ft_safetensors *st, const char *name, int ndim, int rows,
                       int cols, float *dst, ft_err *err)
{
    const ft_st_tensor *t = ft_safetensors_find(st, name);
    if (!t)
        return ft_err_set(err, "%s: no tensor %s", st->name, name);
    if (t->ndim != ndim || t->shape[0] != rows || (ndim == 2 && t->shape[1] != cols)) {
        if (ndim == 2)
            return ft_err_set(err, "%s: %s is %s%lld x %lld, this model needs %d x %d",
                              st->name, name, t->ndim == 2 ? "" : "not a matrix, ",
                              (long long)t->shape[0],
                              (long long)(t->ndim > 1 ? t->shape[1] : 0), rows, cols);
        return ft_err_set(err, "%s: %s has %lld values in %d dimensions, this model needs "
                          "%d", st->name, name, (long long)t->numel, t->ndim, rows);
    }
    return ft_safetensors_read_f32(st, t, dst, err);
}

ft_prefix_adapter *ft_prefix_load(const ft_config *cfg, const char *dir,
                                  const ft_prefix_opts *o, ft_err *err)
{
    int N, H;
    if (read_config(dir, cfg, o, &N, &H, err) < 0)
        return NULL;

    /* PEFT saves no MLP: a projected prefix without ft's encoder file is its
     * output alone, good for inference. */
    char *enc_path = ft_path_join(dir, ENCODER_NAME, err);
    char *pe_path = ft_path_join(dir, WEIGHTS_NAME, err);
    ft_safetensors *st = NULL, *enc = NULL;
    ft_prefix_adapter *a = NULL;
    if (!enc_path || !pe_path)
        goto fail;
    int have_mlp = H && access(enc_path, F_OK) == 0;
    if (H && !have_mlp && o && o->projection > 0) {
        ft_err_set(err, "%s: the prefix holds only its projection's output (no %s): it "
                   "cannot be trained through the projection", dir, ENCODER_NAME);
        goto fail;
    }
    a = ft_prefix_alloc(cfg, N, have_mlp ? H : 0, o ? o->dropout : 0, err);
    if (!a) {
        ft_err_prefix(err, "%s", dir);
        goto fail;
    }
    a->peft_output_only = H && !have_mlp;

    /* prompt_embeddings, the stored output, is what inference uses. */
    st = ft_safetensors_open(pe_path, err);
    if (!st || read_tensor(st, "prompt_embeddings", 2, N, a->W, a->pe, err) < 0)
        goto fail;
    if (have_mlp) {
        enc = ft_safetensors_open(enc_path, err);
        if (!enc)
            goto fail;
        for (int i = 0; i < 5; i++)
            if (read_tensor(enc, a->t[i].name, a->t[i].ndim, a->t[i].shape[0],
                            a->t[i].shape[1], a->t[i].param, err) < 0)
                goto fail;
        ft_prefix_hidden(a);
    }
    a->dirty = 0;
    ft_safetensors_close(st);
    ft_safetensors_close(enc);
    free(enc_path);
    free(pe_path);
    return a;
fail:
    ft_safetensors_close(st);
    ft_safetensors_close(enc);
    ft_prefix_free(a);
    free(enc_path);
    free(pe_path);
    return NULL;
}

ft_prefix_adapter *ft_prefix_apply(const ft_model *m, const char *dir, ft_err *err)
{
    ft_prefix_adapter *a = ft_prefix_load(&m->cfg, dir, NULL, err);
    if (a)
        ft_prefix_seam(a, NULL);
    return a;
}
