/* config: parsing and writing config.json (see config.h). */
#include "model/config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keys read by this file, per family. */
typedef struct keys {
    const char *dim, *hidden, *layers, *heads, *max_pos, *eps;
} keys;

static const keys llama_keys = {"hidden_size",         "intermediate_size",
                                "num_hidden_layers",   "num_attention_heads",
                                "max_position_embeddings", "rms_norm_eps"};
static const keys gpt2_keys = {"n_embd", "n_inner", "n_layer", "n_head", "n_positions",
                               "layer_norm_epsilon"};

/* An integer key: required (missing is an error) or defaulted. */
static int get_int(json_t *o, const char *key, int required, long dflt, long min, long max,
                   int *out, ft_err *err)
{
    json_t *v = json_object_get(o, key);

    if (!v || json_is_null(v)) {
        if (required)
            return ft_err_set(err, "missing required key \"%s\"", key);
        *out = (int)dflt;
        return 0;
    }
    double x;
    if (json_is_integer(v))
        x = (double)json_integer_value(v);
    else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)))
        x = json_real_value(v);
    else
        return ft_err_set(err, "\"%s\" is not an integer", key);
    if (x < min || x > max)
        return ft_err_set(err, "\"%s\" is %.0f, outside [%ld, %ld]", key, x, min, max);
    *out = (int)x;
    return 0;
}

static int get_num(json_t *o, const char *key, int required, double dflt, double *out,
                   ft_err *err)
{
    json_t *v = json_object_get(o, key);

    if (!v || json_is_null(v)) {
        if (required)
            return ft_err_set(err, "missing required key \"%s\"", key);
        *out = dflt;
        return 0;
    }
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return ft_err_set(err, "\"%s\" is not a number", key);
    *out = json_number_value(v);
    return 0;
}

static int get_bool(json_t *o, const char *key, int dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static const char *get_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int parse_rope_scaling(ft_config *cfg, json_t *root, ft_err *err)
{
    json_t *rs = json_object_get(root, "rope_scaling");
    ft_rope_scaling *s = &cfg->rope_scaling;

    memset(s, 0, sizeof *s);
    if (!rs || json_is_null(rs))
        return 0;
    if (!json_is_object(rs))
        return ft_err_set(err, "\"rope_scaling\" is not an object");
    const char *kind = get_str(rs, "rope_type");
    if (!kind)
        kind = get_str(rs, "type");
    if (!kind)
        return ft_err_set(err, "\"rope_scaling\" has no \"rope_type\"");
    if (!strcmp(kind, "default"))
        return 0;
    if (strcmp(kind, "llama3"))
        return ft_err_set(err, "rope_scaling type \"%s\" is not supported (only llama3)",
                          kind);
    s->kind = FT_ROPE_SCALING_LLAMA3;
    if (get_num(rs, "factor", 1, 0, &s->factor, err) < 0 ||
        get_num(rs, "low_freq_factor", 1, 0, &s->low_freq_factor, err) < 0 ||
        get_num(rs, "high_freq_factor", 1, 0, &s->high_freq_factor, err) < 0 ||
        get_num(rs, "original_max_position_embeddings", 1, 0, &s->original_max_pos, err) < 0)
        return ft_err_prefix(err, "rope_scaling");
    if (s->factor <= 0 || s->low_freq_factor <= 0 || s->original_max_pos <= 0 ||
        s->high_freq_factor <= s->low_freq_factor)
        return ft_err_set(err, "rope_scaling: llama3 factors out of range");
    return 0;
}

/* bos_token_id: int or null; eos_token_id: int, list of ints or null. */
static void parse_special(ft_config *cfg, json_t *root)
{
    json_t *b = json_object_get(root, "bos_token_id"), *e = json_object_get(root, "eos_token_id");

    cfg->bos_id = json_is_integer(b) ? (int)json_integer_value(b) : -1;
    cfg->n_eos = 0;
    if (json_is_integer(e)) {
        cfg->eos_ids[cfg->n_eos++] = (int)json_integer_value(e);
    } else if (json_is_array(e)) {
        for (size_t i = 0; i < json_array_size(e) && cfg->n_eos < FT_CONFIG_MAX_EOS; i++)
            if (json_is_integer(json_array_get(e, i)))
                cfg->eos_ids[cfg->n_eos++] = (int)json_integer_value(json_array_get(e, i));
    }
}

static int parse_fields(ft_config *cfg, json_t *root, ft_err *err)
{
    const char *type = get_str(root, "model_type");
    const keys *k;

    if (!type)
        return ft_err_set(err, "missing required key \"model_type\"");
    if (!strcmp(type, "llama") || !strcmp(type, "mistral")) {
        cfg->family = FT_FAMILY_LLAMA;
    } else if (!strcmp(type, "qwen2")) {
        cfg->family = FT_FAMILY_QWEN2;
    } else if (!strcmp(type, "gpt2")) {
        cfg->family = FT_FAMILY_GPT2;
    } else {
        return ft_err_set(err,
                          "model_type \"%.40s\" is not supported (llama, mistral, qwen2, gpt2)",
                          type);
    }
    snprintf(cfg->model_type, sizeof cfg->model_type, "%s", type);
    k = cfg->family == FT_FAMILY_GPT2 ? &gpt2_keys : &llama_keys;

    /* sizes */
    if (get_int(root, k->dim, 1, 0, 1, 1 << 16, &cfg->dim, err) < 0 ||
        get_int(root, k->layers, 1, 0, 1, 1024, &cfg->n_layers, err) < 0 ||
        get_int(root, k->heads, 1, 0, 1, 1024, &cfg->n_heads, err) < 0 ||
        get_int(root, "vocab_size", 1, 0, 1, 1 << 24, &cfg->vocab_size, err) < 0)
        return -1;
    if (cfg->family == FT_FAMILY_GPT2) {
        if (get_int(root, k->hidden, 0, 4L * cfg->dim, 1, 1 << 18, &cfg->hidden_dim, err) < 0)
            return -1;
        if (get_int(root, k->max_pos, 1, 0, 1, 1 << 24, &cfg->max_pos, err) < 0)
            return -1;
        cfg->n_kv_heads = cfg->n_heads;
        cfg->head_dim = cfg->dim / cfg->n_heads;
    } else {
        if (get_int(root, k->hidden, 1, 0, 1, 1 << 18, &cfg->hidden_dim, err) < 0 ||
            get_int(root, k->max_pos, 0, 2048, 1, 1 << 24, &cfg->max_pos, err) < 0 ||
            get_int(root, "num_key_value_heads", 0, cfg->n_heads, 1, 1024, &cfg->n_kv_heads,
                    err) < 0 ||
            get_int(root, "head_dim", 0, cfg->dim / cfg->n_heads, 1, 4096, &cfg->head_dim,
                    err) < 0)
            return -1;
    }

    /* norm, positions, biases, tying */
    double eps_default = cfg->family == FT_FAMILY_GPT2 ? 1e-5 : 1e-6;
    if (get_num(root, k->eps, 0, eps_default, &cfg->norm_eps, err) < 0 ||
        get_num(root, "rope_theta", 0, 10000.0, &cfg->rope_theta, err) < 0)
        return -1;
    if (cfg->family != FT_FAMILY_GPT2 && parse_rope_scaling(cfg, root, err) < 0)
        return -1;
    cfg->tied = get_bool(root, "tie_word_embeddings", cfg->family == FT_FAMILY_GPT2);
    if (cfg->family == FT_FAMILY_LLAMA) {
        cfg->qkv_bias = cfg->o_bias = get_bool(root, "attention_bias", 0);
        cfg->mlp_bias = get_bool(root, "mlp_bias", 0);
    }
    parse_special(cfg, root);

    /* what ft does not compute */
    const char *act = get_str(root, cfg->family == FT_FAMILY_GPT2 ? "activation_function"
                                                                   : "hidden_act");
    if (cfg->family == FT_FAMILY_GPT2) {
        if (act && strcmp(act, "gelu_new") && strcmp(act, "gelu_pytorch_tanh"))
            return ft_err_set(err, "activation_function \"%.40s\" is not supported (gelu_new)",
                              act);
        if (get_bool(root, "scale_attn_by_inverse_layer_idx", 0))
            return ft_err_set(err, "scale_attn_by_inverse_layer_idx is not supported");
        if (!get_bool(root, "scale_attn_weights", 1))
            return ft_err_set(err, "scale_attn_weights false is not supported");
        if (get_bool(root, "add_cross_attention", 0))
            return ft_err_set(err, "add_cross_attention is not supported");
    } else if (act && strcmp(act, "silu")) {
        return ft_err_set(err, "hidden_act \"%.40s\" is not supported (silu)", act);
    }

    /* a sliding window is kept as a limit on input length */
    json_t *sw = json_object_get(root, "sliding_window");
    cfg->attn_window = 0;
    if (json_is_integer(sw) && json_integer_value(sw) > 0 &&
        (cfg->family == FT_FAMILY_LLAMA || get_bool(root, "use_sliding_window", 0)) &&
        json_integer_value(sw) < cfg->max_pos)
        cfg->attn_window = (int)json_integer_value(sw);
    return 0;
}

int ft_config_finish(ft_config *cfg, const char *name, ft_err *err)
{
    int gpt2 = cfg->family == FT_FAMILY_GPT2;

    cfg->layer_norm = gpt2;
    cfg->gelu = gpt2;
    cfg->learned_pos = gpt2;
    if (gpt2)
        cfg->qkv_bias = cfg->o_bias = cfg->mlp_bias = 1;
    if (cfg->family == FT_FAMILY_QWEN2)
        cfg->qkv_bias = 1;

    if (cfg->n_kv_heads < 1 || cfg->n_heads % cfg->n_kv_heads)
        ft_err_set(err, "%d attention heads cannot share %d key/value heads", cfg->n_heads,
                   cfg->n_kv_heads);
    else if (gpt2 && cfg->dim % cfg->n_heads)
        ft_err_set(err, "n_embd %d is not a multiple of n_head %d", cfg->dim, cfg->n_heads);
    else if (cfg->head_dim < 1 || (!gpt2 && cfg->head_dim % 2))
        ft_err_set(err, "head size %d is not a positive even number", cfg->head_dim);
    else if (!(cfg->norm_eps >= 0) || !(cfg->rope_theta > 0))
        ft_err_set(err, "norm epsilon or rope_theta out of range");
    else if ((double)cfg->n_heads * cfg->head_dim > 1 << 18)
        ft_err_set(err, "attention width %d x %d out of range", cfg->n_heads, cfg->head_dim);
    else
        return 0;
    return name ? ft_err_prefix(err, "%s", name) : -1;
}

int ft_config_parse(ft_config *cfg, const char *text, size_t n_bytes, const char *name,
                    ft_err *err)
{
    json_error_t jerr;
    json_t *root;

    memset(cfg, 0, sizeof *cfg);
    root = json_loadb(text, n_bytes, 0, &jerr);
    if (!root)
        return ft_err_set(err, "%s: not valid JSON: line %d: %s", name, jerr.line, jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return ft_err_set(err, "%s: not a JSON object", name);
    }
    cfg->json = root;
    if (parse_fields(cfg, root, err) < 0) {
        ft_config_free(cfg);
        return ft_err_prefix(err, "%s", name);
    }
    if (ft_config_finish(cfg, name, err) < 0) {
        ft_config_free(cfg);
        return -1;
    }
    return 0;
}

int ft_config_copy(ft_config *dst, const ft_config *src, ft_err *err)
{
    *dst = *src;
    if (src->json && !(dst->json = json_deep_copy(src->json)))
        return ft_err_set(err, "out of memory copying a config");
    return 0;
}

void ft_config_free(ft_config *cfg)
{
    if (cfg->json)
        json_decref(cfg->json);
    cfg->json = NULL;
}

/* A config.json built from the fields (no JSON was read). */
static json_t *build_json(const ft_config *c)
{
    json_t *o = json_object();
    int gpt2 = c->family == FT_FAMILY_GPT2;
    const char *arch = gpt2 ? "GPT2LMHeadModel"
                       : c->family == FT_FAMILY_QWEN2 ? "Qwen2ForCausalLM"
                                                      : "LlamaForCausalLM";

    json_object_set_new(o, "architectures", json_pack("[s]", arch));
    json_object_set_new(o, "model_type", json_string(gpt2 ? "gpt2"
                                                     : c->family == FT_FAMILY_QWEN2 ? "qwen2"
                                                                                    : "llama"));
    if (gpt2) {
        json_object_set_new(o, "n_embd", json_integer(c->dim));
        json_object_set_new(o, "n_inner", json_integer(c->hidden_dim));
        json_object_set_new(o, "n_layer", json_integer(c->n_layers));
        json_object_set_new(o, "n_head", json_integer(c->n_heads));
        json_object_set_new(o, "n_positions", json_integer(c->max_pos));
        json_object_set_new(o, "n_ctx", json_integer(c->max_pos));
        json_object_set_new(o, "layer_norm_epsilon", json_real(c->norm_eps));
        json_object_set_new(o, "activation_function", json_string("gelu_new"));
    } else {
        json_object_set_new(o, "hidden_size", json_integer(c->dim));
        json_object_set_new(o, "intermediate_size", json_integer(c->hidden_dim));
        json_object_set_new(o, "num_hidden_layers", json_integer(c->n_layers));
        json_object_set_new(o, "num_attention_heads", json_integer(c->n_heads));
        json_object_set_new(o, "num_key_value_heads", json_integer(c->n_kv_heads));
        json_object_set_new(o, "head_dim", json_integer(c->head_dim));
        json_object_set_new(o, "max_position_embeddings", json_integer(c->max_pos));
        json_object_set_new(o, "rms_norm_eps", json_real(c->norm_eps));
        json_object_set_new(o, "rope_theta", json_real(c->rope_theta));
        json_object_set_new(o, "hidden_act", json_string("silu"));
        if (c->rope_scaling.kind == FT_ROPE_SCALING_LLAMA3)
            json_object_set_new(
                o, "rope_scaling",
                json_pack("{s:s,s:f,s:f,s:f,s:i}", "rope_type", "llama3", "factor",
                          c->rope_scaling.factor, "low_freq_factor",
                          c->rope_scaling.low_freq_factor, "high_freq_factor",
                          c->rope_scaling.high_freq_factor, "original_max_position_embeddings",
                          (int)c->rope_scaling.original_max_pos));
    }
    json_object_set_new(o, "vocab_size", json_integer(c->vocab_size));
    json_object_set_new(o, "tie_word_embeddings", json_boolean(c->tied));
    if (c->bos_id >= 0)
        json_object_set_new(o, "bos_token_id", json_integer(c->bos_id));
    if (c->n_eos == 1)
        json_object_set_new(o, "eos_token_id", json_integer(c->eos_ids[0]));
    else if (c->n_eos > 1) {
        json_t *a = json_array();
        for (int i = 0; i < c->n_eos; i++)
            json_array_append_new(a, json_integer(c->eos_ids[i]));
        json_object_set_new(o, "eos_token_id", a);
    }
    return o;
}

char *ft_config_dump(const ft_config *cfg, const char *torch_dtype, ft_err *err)
{
    json_t *o = cfg->json ? json_deep_copy(cfg->json) : build_json(cfg);
    char *text = NULL, *out = NULL;

    if (!o) {
        ft_err_set(err, "out of memory writing config.json");
        return NULL;
    }
    if (torch_dtype)
        json_object_set_new(o, "torch_dtype", json_string(torch_dtype));

    /* 15 significant digits: values typed by people (1e-05) stay as typed,
     * and every value survives a load and save unchanged */
    text = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
    json_decref(o);
    if (text) {
        size_t n = strlen(text);
        out = ft_malloc(n + 2, err);
        if (out) {
            memcpy(out, text, n);
            memcpy(out + n, "\n", 2);
        }
        free(text);
    } else {
        ft_err_set(err, "out of memory writing config.json");
    }
    return out;
}
