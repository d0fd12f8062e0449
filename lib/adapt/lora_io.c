/* lora_io: LoRA adapters on disk exactly as PEFT 0.12.0 writes them.
 *
 * adapter_config.json: the 24 keys LoraConfig.to_dict() gives in PEFT
 * 0.10-0.12 (json.dumps with indent 2 and sort_keys, no trailing newline),
 * nothing ft invents; adapter_model.safetensors: F32
 * "base_model.model.<path>.lora_A.weight" [r, in] and ".lora_B.weight"
 * [out, r], __metadata__ {"format": "pt"} plus ft's own pairs.
 *
 * Reading refuses what ft does not implement, naming the key or tensor,
 * rather than ignoring it: another PEFT type, DoRA, per-module ranks or
 * alphas, saved modules_to_save tensors, trained biases, LoRA on
 * embeddings, layer replication. */
#include "adapt/lora.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt/lora_impl.h"
#include "core/fsout.h"
#include "model/safetensors.h"

#define CONFIG_NAME "adapter_config.json"
#define WEIGHTS_NAME "adapter_model.safetensors"

/* --- Writing ------------------------------------------------------------------ */

static json_t *config_json(const ft_lora *l, const char *base_name)
{
    json_t *c = json_object(), *t = json_array(), *lt;

    for (int i = 0; i < l->n_target_names; i++)
        json_array_append_new(t, json_string(l->target_names[i]));
    if (l->layers) {
        lt = json_array();
        for (int i = 0; i < l->n_layers; i++)
            json_array_append_new(lt, json_integer(l->layers[i]));
    } else {
        lt = json_null();
    }

    json_object_set_new(c, "alpha_pattern", json_object());
    json_object_set_new(c, "auto_mapping", json_null());
    json_object_set_new(c, "base_model_name_or_path",
                        base_name ? json_string(base_name) : json_null());
    json_object_set_new(c, "bias", json_string("none"));
    json_object_set_new(c, "fan_in_fan_out", json_boolean(l->fan_in_fan_out));
    json_object_set_new(c, "inference_mode", json_true());
    json_object_set_new(c, "init_lora_weights", json_true());
    json_object_set_new(c, "layer_replication", json_null());
    json_object_set_new(c, "layers_pattern", json_null());
    json_object_set_new(c, "layers_to_transform", lt);
    json_object_set_new(c, "loftq_config", json_object());
    /* PEFT keeps lora_alpha as the user gave it: an int in practice */
    if (l->alpha == floor(l->alpha) && fabs(l->alpha) < 1e15)
        json_object_set_new(c, "lora_alpha", json_integer((json_int_t)l->alpha));
    else
        json_object_set_new(c, "lora_alpha", json_real(l->alpha));
    json_object_set_new(c, "lora_dropout", json_real(l->dropout));
    json_object_set_new(c, "megatron_config", json_null());
    json_object_set_new(c, "megatron_core", json_string("megatron.core"));
    json_object_set_new(c, "modules_to_save", json_null());
    json_object_set_new(c, "peft_type", json_string("LORA"));
    json_object_set_new(c, "r", json_integer(l->r));
    json_object_set_new(c, "rank_pattern", json_object());
    json_object_set_new(c, "revision", json_null());
    json_object_set_new(c, "target_modules", t);
    json_object_set_new(c, "task_type", json_string("CAUSAL_LM"));
    json_object_set_new(c, "use_dora", json_false());
    json_object_set_new(c, "use_rslora", json_boolean(l->rslora));
    return c;
}

int ft_lora_write_files(const ft_lora *l, const char *dir, const char *base_name,
                        const char *const *meta, ft_err *err)
{
    int rc = -1, n_meta = 0;
    char *path = NULL, *text = NULL;
    const char **all_meta = NULL;
    ft_st_entry *e = NULL;
    char (*names)[600] = NULL;

    /* adapter_config.json */
    json_t *c = config_json(l, base_name);
    text = c ? json_dumps(c, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(15))
             : NULL;
    json_decref(c);
    if (!text) {
        ft_err_set(err, "out of memory for %s", CONFIG_NAME);
        goto out;
    }
    if (!(path = ft_path_join(dir, CONFIG_NAME, err)) ||
        ft_write_file(path, text, strlen(text), err) < 0)
        goto out;
    free(path);
    path = NULL;

    /* adapter_model.safetensors: A then B of each module, in table order */
    while (meta && meta[2 * n_meta])
        n_meta++;
    all_meta = ft_calloc(2 * n_meta + 3, sizeof *all_meta, err);
    e = ft_calloc(2 * (size_t)l->n_mods + 1, sizeof *e, err);
    names = ft_calloc(2 * (size_t)l->n_mods + 1, sizeof *names, err);
    if (!all_meta || !e || !names)
        goto out;
    all_meta[0] = "format";
    all_meta[1] = "pt";
    for (int i = 0; i < 2 * n_meta; i++)
        all_meta[2 + i] = meta[i];
    for (int i = 0; i < l->n_mods; i++) {
        const ft_lora_module *md = &l->mods[i];
        for (int b = 0; b < 2; b++) {
            ft_st_entry *x = &e[2 * i + b];
            ft_lora_tensor_name(l, i, b, names[2 * i + b], sizeof names[0]);
            x->name = names[2 * i + b];
            x->dtype = FT_DTYPE_F32;
            x->ndim = 2;
            x->shape[0] = b ? md->out : l->r;
            x->shape[1] = b ? l->r : md->in;
            x->f32 = b ? md->B : md->A;
        }
    }
    if (!(path = ft_path_join(dir, WEIGHTS_NAME, err)) ||
        ft_safetensors_write(path, e, 2 * l->n_mods, all_meta, err) < 0)
        goto out;
    rc = 0;

out:
    free(path);
    free(text);
    free(all_meta);
    free(e);
    free(names);
    return rc;
}

int ft_lora_save(const ft_lora *l, const char *dir, int force, const char *base_name,
                 const char *const *meta, ft_err *err)
{
    ft_out o;

    if (ft_out_begin(&o, dir, 1, force, err) < 0)
        return -1;
    if (ft_lora_write_files(l, o.tmp, base_name, meta, err) < 0 ||
        ft_out_commit(&o, err) < 0) {
        ft_out_abort(&o);
        return -1;
    }
    return 0;
}

/* --- Reading ------------------------------------------------------------------ */

/* 1 when v is "set" in the sense that PEFT would act on it: not null,
 * not false, not an empty object, list or string. */
static int is_set(const json_t *v)
{
    if (!v || json_is_null(v) || json_is_false(v))
        return 0;
    if (json_is_object(v))
        return json_object_size(v) > 0;
    if (json_is_array(v))
        return json_array_size(v) > 0;
    if (json_is_string(v))
        return json_string_length(v) > 0;
    return 1;
}

/* Refuse keys whose features ft does not implement. */
static int check_config(const json_t *c, const char *name, ft_err *err)
{
    static const char *const unsupported[] = {
        "use_dora", "rank_pattern", "alpha_pattern", "modules_to_save", "layer_replication",
        "lora_bias", "use_qalora", "use_alora", "trainable_token_indices", "megatron_config",
        NULL
    };
    const json_t *v = json_object_get(c, "peft_type");

    if (!json_is_string(v) || strcmp(json_string_value(v), "LORA"))
        return ft_err_set(err, "%s: \"peft_type\" is %s, not \"LORA\"", name,
                          json_is_string(v) ? json_string_value(v) : "missing");
    for (int i = 0; unsupported[i]; i++)
        if (is_set(json_object_get(c, unsupported[i])))
            return ft_err_set(err, "%s: \"%s\" is set: ft does not implement it", name,
                              unsupported[i]);
    v = json_object_get(c, "bias");
    if (v && !json_is_null(v) && (!json_is_string(v) || strcmp(json_string_value(v), "none")))
        return ft_err_set(err, "%s: \"bias\" is not \"none\": ft does not train biases in "
                               "LoRA adapters", name);
    v = json_object_get(c, "task_type");
    if (v && !json_is_null(v) &&
        (!json_is_string(v) || strcmp(json_string_value(v), "CAUSAL_LM")))
        return ft_err_set(err, "%s: \"task_type\" %s is not supported (only CAUSAL_LM)", name,
                          json_is_string(v) ? json_string_value(v) : "of the wrong type");
    return 0;
}

/* r, lora_alpha, use_rslora, lora_dropout, layers_to_transform. */
static int read_numbers(ft_lora *l, const json_t *c, const char *name, ft_err *err)
{
    const json_t *v = json_object_get(c, "r");

    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65536)
        return ft_err_set(err, "%s: \"r\" must be an integer of at least 1", name);
    l->r = (int)json_integer_value(v);
    v = json_object_get(c, "lora_alpha");
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return ft_err_set(err, "%s: \"lora_alpha\" must be a number", name);
    l->alpha = json_number_value(v);
    v = json_object_get(c, "use_rslora");
    l->rslora = json_is_true(v);
    v = json_object_get(c, "lora_dropout");
    l->dropout = json_is_number(v) ? json_number_value(v) : 0.0;
    if (!(l->dropout >= 0 && l->dropout < 1))
        return ft_err_set(err, "%s: \"lora_dropout\" must be in [0, 1)", name);
    ft_lora_set_scale(l);

    v = json_object_get(c, "layers_to_transform");
    if (json_is_integer(v) || json_is_array(v)) {
        size_t n = json_is_array(v) ? json_array_size(v) : 1;
        if (!(l->layers = ft_calloc(n ? n : 1, sizeof *l->layers, err)))
            return -1;
        for (size_t i = 0; i < n; i++) {
            const json_t *x = json_is_array(v) ? json_array_get(v, i) : v;
            if (!json_is_integer(x))
                return ft_err_set(err, "%s: \"layers_to_transform\" must hold integers", name);
            l->layers[l->n_layers++] = (int)json_integer_value(x);
        }
    }
    return 0;
}

/* target_modules: a list of names is kept; a string (a regex) is replaced
 * by the module paths found in the file, after the modules are known. */
static int read_targets(ft_lora *l, const json_t *c, ft_err *err)
{
    const json_t *v = json_object_get(c, "target_modules");
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    int from_paths = !json_is_array(v);

    if (from_paths)
        n = l->n_mods;
    if (!(l->target_names = ft_calloc(n ? n : 1, sizeof *l->target_names, err)))
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *s = from_paths ? l->mods[i].path : json_string_value(json_array_get(v, i));
        if (!s)
            continue;
        if (!(l->target_names[l->n_target_names] = ft_strdup(s, err)))
            return -1;
        l->n_target_names++;
    }
    return 0;
}

/* Split a tensor name into its module path and which matrix (0 A, 1 B);
 * 1 for LoRA on the embedding when skip_embedding says to leave it. */
static int parse_name(const char *name, const char *file, char *path, size_t n, int *which,
                      int skip_embedding, ft_err *err)
{
    static const char pre[] = "base_model.model.";
    size_t len = strlen(name), lp = sizeof pre - 1;
    static const char *const sfx[2] = {".lora_A.weight", ".lora_B.weight"};

    if (strstr(name, "lora_embedding_") && skip_embedding)
        return 1;
    if (strstr(name, "lora_embedding_"))
        return ft_err_set(err, "%s: tensor %s: LoRA on embeddings is not supported", file,
                          name);
    if (strstr(name, "lora_magnitude_vector"))
        return ft_err_set(err, "%s: tensor %s: DoRA (use_dora) is not supported", file, name);
    for (int b = 0; b < 2; b++) {
        size_t ls = strlen(sfx[b]);
        if (len > lp + ls && !strncmp(name, pre, lp) && !strcmp(name + len - ls, sfx[b])) {
            if (len - lp - ls >= n)
                return ft_err_set(err, "%s: tensor %s: name too long", file, name);
            memcpy(path, name + lp, len - lp - ls);
            path[len - lp - ls] = 0;
            *which = b;
            return 0;
        }
    }
    return ft_err_set(err, "%s: tensor %s is not a LoRA A or B matrix (modules_to_save and "
                           "other saved modules are not supported)", file, name);
}

/* Fill l's modules from the file's tensors, in the model's table order. */
static int read_tensors(ft_lora *l, const ft_safetensors *st, const char *file, int flags,
                        ft_err *err)
{
    ft_model *m = l->m;
    const ft_st_tensor **ab = ft_calloc(2 * (size_t)m->n_tensors, sizeof *ab, err);
    int rc = -1, skipped = 0, k;

    if (!ab)
        return -1;
    for (int i = 0; i < st->n_tensors; i++) {
        const ft_st_tensor *t = &st->tensors[i];
        char path[512], wname[530];
        int which = 0, id;
        if ((k = parse_name(t->name, file, path, sizeof path, &which,
                            flags & FT_LORA_SKIP_EMBEDDING, err)) < 0)
            goto out;
        if (k > 0) {
            skipped++;
            continue;
        }
        snprintf(wname, sizeof wname, "%s.weight", path);
        if ((id = ft_model_find(m, wname)) < 0) {
            ft_err_set(err, "%s: tensor %s: the model has no module %s (an adapter for "
                            "another base?)", file, t->name, path);
            goto out;
        }
        const ft_tensor *w = &m->tensors[id];
        int head = id == m->head_id && !m->cfg.tied;
        if (w->role == FT_ROLE_EMBED || (w->ndim != 2) ||
            !(head || (w->role >= FT_ROLE_Q && w->role <= FT_ROLE_DOWN_B))) {
            ft_err_set(err, "%s: tensor %s: LoRA on %s is not supported", file, t->name,
                       w->role == FT_ROLE_EMBED ? "embeddings" : "this module");
            goto out;
        }
        if (ab[2 * id + which]) {
            ft_err_set(err, "%s: tensor %s appears twice", file, t->name);
            goto out;
        }
        ab[2 * id + which] = t;
    }

    /* every module has both matrices, of the right shapes */
    for (int id = 0; id < m->n_tensors; id++) {
        if (!ab[2 * id] && !ab[2 * id + 1])
            continue;
        char name[600];
        ft_lora_module tmp = {0};
        ft_lora_module_path(m, id, name, sizeof name);
        tmp.out = m->tensors[id].shape[0];
        tmp.in = m->tensors[id].shape[1];
        for (int b = 0; b < 2; b++) {
            const ft_st_tensor *t = ab[2 * id + b];
            int64_t want0 = b ? tmp.out : l->r, want1 = b ? l->r : tmp.in;
            if (!t) {
                ft_err_set(err, "%s: module %s has lora_%c but no lora_%c", file, name,
                           b ? 'A' : 'B', b ? 'B' : 'A');
                goto out;
            }
            if (t->ndim != 2 || t->shape[0] != want0 || t->shape[1] != want1) {
                ft_err_set(err, "%s: tensor %s has shape [%lld, %lld], this model needs "
                                "[%lld, %lld] (r = %d; an adapter for another base?)",
                           file, t->name, t->ndim > 0 ? (long long)t->shape[0] : 0LL,
                           t->ndim > 1 ? (long long)t->shape[1] : 0LL, (long long)want0,
                           (long long)want1, l->r);
                goto out;
            }
        }
        if (ft_lora_add_module(l, id, err) < 0)
            goto out;
    }
    if (l->n_mods == 0 && !skipped) {
        ft_err_set(err, "%s: no LoRA tensors", file);
        goto out;
    }
    if (ft_lora_alloc_params(l, err) < 0)
        goto out;
    for (int i = 0; i < l->n_mods; i++) {
        ft_lora_module *md = &l->mods[i];
        if (ft_safetensors_read_f32(st, ab[2 * md->id], md->A, err) < 0 ||
            ft_safetensors_read_f32(st, ab[2 * md->id + 1], md->B, err) < 0)
            goto out;
    }
    rc = 0;

out:
    free(ab);
    return rc;
}

ft_lora *ft_lora_load(ft_model *m, const char *dir, ft_err *err)
{
    return ft_lora_load_flags(m, dir, 0, err);
}

ft_lora *ft_lora_load_flags(ft_model *m, const char *dir, int flags, ft_err *err)
{
    char *cpath = NULL, *wpath = NULL, *text = NULL;
    size_t n;
    json_t *c = NULL;
    json_error_t je;
    ft_safetensors *st = NULL;
    ft_lora *l = NULL;

    if (!(cpath = ft_path_join(dir, CONFIG_NAME, err)) ||
        !(wpath = ft_path_join(dir, WEIGHTS_NAME, err)))
        goto fail;
    if (ft_read_file(cpath, 1 << 20, &text, &n, err) < 0)
        goto fail;
    if (!(c = json_loadb(text, n, 0, &je))) {
        ft_err_set(err, "%s: line %d: %s", cpath, je.line, je.text);
        goto fail;
    }
    if (!json_is_object(c)) {
        ft_err_set(err, "%s: not a JSON object", cpath);
        goto fail;
    }
    if (check_config(c, cpath, err) < 0)
        goto fail;
    if (!(l = ft_lora_alloc(m, err)) || read_numbers(l, c, cpath, err) < 0)
        goto fail;
    if (!(st = ft_safetensors_open(wpath, err)))
        goto fail;
    if (read_tensors(l, st, wpath, flags, err) < 0 || read_targets(l, c, err) < 0)
        goto fail;
    ft_safetensors_close(st);
    json_decref(c);
    free(text);
    free(cpath);
    free(wpath);
    return l;

fail:
    ft_safetensors_close(st);
    json_decref(c);
    free(text);
    free(cpath);
    free(wpath);
    ft_lora_free(l);
    return NULL;
}
