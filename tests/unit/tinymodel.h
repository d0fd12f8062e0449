/* tinymodel: small random models for tests. Static functions: include it in
 * one test file. */
#ifndef FT_TESTS_TINYMODEL_H
#define FT_TESTS_TINYMODEL_H

#include <stdio.h>
#include <string.h>

#include "model/config.h"
#include "model/model.h"

/* A config of 4 query heads of head_dim and kv_heads key/value heads;
 * model_type gpt2, qwen2 or llama by family; norm_eps 1e-5, rope_theta
 * 10000, no BOS, GPT-2 tied. Change fields before tiny_model. */
static void tiny_config(ft_config *c, int family, int dim, int hidden, int layers, int kv_heads,
                        int head_dim, int vocab, int max_pos)
{
    memset(c, 0, sizeof *c);
    c->family = family;
    snprintf(c->model_type, sizeof c->model_type, "%s",
             family == FT_FAMILY_GPT2    ? "gpt2"
             : family == FT_FAMILY_QWEN2 ? "qwen2"
                                         : "llama");
    c->dim = dim;
    c->hidden_dim = hidden;
    c->n_layers = layers;
    c->n_heads = 4;
    c->n_kv_heads = kv_heads;
    c->head_dim = head_dim;
    c->vocab_size = vocab;
    c->max_pos = max_pos;
    c->norm_eps = 1e-5;
    c->rope_theta = 10000;
    c->tied = family == FT_FAMILY_GPT2;
    c->bos_id = -1;
}

/* The model of c with weights normal(0, std) from seed; NULL (and a line on
 * stderr) when c is refused. */
static ft_model *tiny_model(ft_config *c, uint64_t seed, float std)
{
    ft_err err;
    ft_model *m = NULL;

    if (ft_config_finish(c, NULL, &err) < 0 || !(m = ft_model_new(c, &err))) {
        fprintf(stderr, "tiny model: %s\n", err.msg);
        return NULL;
    }
    ft_model_init_random(m, seed, std);
    return m;
}

#endif
