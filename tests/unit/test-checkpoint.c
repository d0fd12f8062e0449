/* Checkpoint round trips (issue 3): save -> load -> save gives the same bytes
 * (f32, f16, bf16; the real stories260K, a random GPT-2 whose Conv1D weights
 * are transposed at save and load, a random Qwen2 with q/k/v biases), and a
 * model saved as f16 or bf16 then loaded gives exactly the logits of the f32
 * model whose weights this test rounds itself (the compiler's _Float16
 * conversion for f16, round-to-nearest-even on the bits for bf16): the
 * storage type changes logits only by the rounding of the weights. Also a
 * GPT-2 file naming its tensors without "transformer." (as the original
 * openai-community/gpt2 does): the same parameters, and saved back without
 * the prefix. */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/fsout.h"
#include "model/checkpoint.h"
#include "model/dtype.h"
#include "model/model.h"

#define N_TOK 12

/* The whole of a file, or NULL. */
static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long len;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc(len + 1)) && fread(buf, 1, len, f) == (size_t)len)
        *n = len;
    else
        free(buf), buf = NULL;
    fclose(f);
    return buf;
}

static int same_file(const char *dir1, const char *dir2, const char *name)
{
    char p1[4096], p2[4096];
    size_t n1 = 0, n2 = 0;
    snprintf(p1, sizeof p1, "%s/%s", dir1, name);
    snprintf(p2, sizeof p2, "%s/%s", dir2, name);
    char *a = slurp(p1, &n1), *b = slurp(p2, &n2);
    int same = a && b && n1 == n2 && memcmp(a, b, n1) == 0;
    free(a);
    free(b);
    return same;
}

/* bf16 by hand: keep the top 16 bits, rounding to nearest, ties to even. */
static float round_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    u = (u + 0x7fff + ((u >> 16) & 1)) & 0xffff0000u;
    memcpy(&x, &u, 4);
    return x;
}

static float *logits_of(ft_model *m, const int32_t *tokens)
{
    ft_err err;
    float *out = malloc((size_t)N_TOK * m->cfg.vocab_size * sizeof *out);
    ft_batch b = {.B = 1, .T = N_TOK, .tokens = tokens};
    CHECK_MSG(ft_model_setup(m, 1, N_TOK, 0, 0, &err) == 0, "%s", err.msg);
    CHECK_MSG(ft_model_logits(m, &b, NULL, out, &err) == 0, "%s", err.msg);
    return out;
}

/* save -> load -> save for each storage type; f16/bf16 logits against the
 * hand-rounded f32 model. */
static void round_trips(const char *what, ft_model *m, const char *tmp)
{
    static const int dtypes[] = {FT_DTYPE_F32, FT_DTYPE_F16, FT_DTYPE_BF16};
    static const char *names[] = {"f32", "f16", "bf16"};
    int32_t tokens[N_TOK];
    ft_err err;

    for (int t = 0; t < N_TOK; t++)
        tokens[t] = (int32_t)((t * 37 + 1) % m->cfg.vocab_size);
    float *want32 = logits_of(m, tokens);
    size_t nl = (size_t)N_TOK * m->cfg.vocab_size;

    for (int k = 0; k < 3; k++) {
        char d1[4096], d2[4096];
        snprintf(d1, sizeof d1, "%s/%s-%s-1", tmp, what, names[k]);
        snprintf(d2, sizeof d2, "%s/%s-%s-2", tmp, what, names[k]);
        printf("%s %s\n", what, names[k]);

        /* save, load, save as loaded: the same bytes */
        CHECK_MSG(ft_checkpoint_save(m, d1, dtypes[k], 0, NULL, &err) == 0, "%s", err.msg);
        ft_model *r = ft_checkpoint_load(d1, &err);
        CHECK_MSG(r != NULL, "%s", err.msg);
        if (!r)
            continue;
        CHECK_MSG(ft_checkpoint_save(r, d2, -1, 0, NULL, &err) == 0, "%s", err.msg);
        CHECK_MSG(same_file(d1, d2, "model.safetensors"), "%s %s: model.safetensors differs",
                  what, names[k]);
        CHECK_MSG(same_file(d1, d2, "config.json"), "%s %s: config.json differs", what,
                  names[k]);

        /* the reloaded weights are the f32 ones rounded, nothing else */
        ft_model *h = ft_checkpoint_load(d1, &err);   /* a copy to round by hand */
        if (!h)
            continue;
        memcpy(h->params, m->params, m->n_params * sizeof *h->params);
        for (size_t i = 0; i < h->n_params; i++)
            h->params[i] = dtypes[k] == FT_DTYPE_F16    ? (float)(_Float16)h->params[i]
                           : dtypes[k] == FT_DTYPE_BF16 ? round_bf16(h->params[i])
                                                        : h->params[i];
        CHECK_MSG(memcmp(h->params, r->params, m->n_params * sizeof *r->params) == 0,
                  "%s %s: loaded weights are not the rounded ones", what, names[k]);
        float *got = logits_of(r, tokens), *want = logits_of(h, tokens);
        CHECK_MSG(memcmp(got, want, nl * sizeof *got) == 0,
                  "%s %s: logits differ from the hand-rounded model's", what, names[k]);

        /* and rounding did change something, by little (bf16 keeps 8 bits) */
        double worst = 0;
        for (size_t i = 0; i < nl; i++) {
            double d = fabs(got[i] - want32[i]) / (fabs(want32[i]) + 1);
            worst = d > worst ? d : worst;
        }
        if (k == 0)
            CHECK(worst == 0);
        else
            CHECK_MSG(worst > 0 && worst < (k == 1 ? 0.05 : 0.5), "%s %s: logits moved by %g",
                      what, names[k], worst);
        free(got);
        free(want);
        ft_model_free(h);
        ft_model_free(r);
    }
    free(want32);
}

/* Rewrite dir/model.safetensors with "transformer." dropped from every
 * tensor name (offsets are relative to the data, so only the header moves). */
static int strip_prefix(const char *dir)
{
    char path[4096];
    size_t n = 0;
    CHECK(snprintf(path, sizeof path, "%s/model.safetensors", dir) < (int)sizeof path);
    char *raw = slurp(path, &n);
    if (!raw || n < 8)
        return -1;
    uint64_t hl = 0;
    memcpy(&hl, raw, 8);   /* little-endian, as this machine */
    char *out = malloc(n), *w = out + 8;
    for (size_t i = 8; i < 8 + hl; i++) {
        if (!strncmp(raw + i, "\"transformer.", 13)) {
            *w++ = '"';
            i += 12;
            continue;
        }
        *w++ = raw[i];
    }
    uint64_t nl = (uint64_t)(w - out - 8);
    memcpy(out, &nl, 8);
    memcpy(w, raw + 8 + hl, n - 8 - hl);
    w += n - 8 - hl;
    FILE *f = fopen(path, "wb");
    int rc = f && fwrite(out, 1, w - out, f) == (size_t)(w - out) && fclose(f) == 0 ? 0 : -1;
    free(raw);
    free(out);
    return rc;
}

static void gpt2_unprefixed(ft_model *g, const char *tmp)
{
    char d1[4096], d2[4096], d3[4096];
    size_t n = 0;
    ft_err err;

    snprintf(d1, sizeof d1, "%s/gpt2-bare", tmp);
    snprintf(d2, sizeof d2, "%s/gpt2-bare-2", tmp);
    snprintf(d3, sizeof d3, "%s/gpt2-bare-3", tmp);
    CHECK_MSG(ft_checkpoint_save(g, d1, FT_DTYPE_F32, 0, NULL, &err) == 0, "%s", err.msg);
    CHECK(strip_prefix(d1) == 0);
    ft_model *b = ft_checkpoint_load(d1, &err);
    CHECK_MSG(b != NULL, "%s", err.msg);
    if (!b)
        return;
    CHECK_INT(b->n_params, g->n_params);
    CHECK(memcmp(b->params, g->params, g->n_params * sizeof *g->params) == 0);
    CHECK_MSG(ft_checkpoint_save(b, d2, -1, 0, NULL, &err) == 0, "%s", err.msg);
    snprintf(d3, sizeof d3, "%s/gpt2-bare-2/model.safetensors", tmp);
    char *saved = slurp(d3, &n);
    CHECK_MSG(saved && !memmem(saved, n, "transformer.", 12) &&
                  memmem(saved, n, "\"wte.weight\"", 12),
              "saved back with the prefix, or without wte.weight");
    free(saved);
    ft_model_free(b);
}

static ft_model *random_model(const char *json)
{
    ft_config cfg;
    ft_err err;
    if (ft_config_parse(&cfg, json, strlen(json), "config.json", &err) < 0) {
        CHECK_MSG(0, "%s", err.msg);
        return NULL;
    }
    ft_model *m = ft_model_new(&cfg, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    if (m)
        ft_model_init_random(m, 3, 0.3f);
    /* norm weights and biases away from their init, so rounding shows */
    for (int i = 0; m && i < m->n_tensors; i++)
        if (m->tensors[i].ndim == 1)
            for (size_t j = 0; j < m->tensors[i].numel; j++)
                ft_model_param(m, i)[j] += 0.0137f * (float)((j * 7) % 11) - 0.05f;
    return m;
}

int main(void)
{
    const char *data = check_data_dir();
    char tmp[] = "/tmp/ft-ckpt-XXXXXX", path[8192];
    ft_err err;

    if (!mkdtemp(tmp))
        CHECK_SKIP("no temporary directory");

    if (data) {
        snprintf(path, sizeof path, "%s/llama2c/hf", data);
        ft_model *m = ft_checkpoint_load(path, &err);
        CHECK_MSG(m != NULL, "%s", err.msg);
        if (m)
            round_trips("stories260K", m, tmp);
        ft_model_free(m);
    } else {
        printf("no shared data: stories260K skipped\n");
    }

    ft_model *g = random_model("{\"model_type\": \"gpt2\", \"n_embd\": 32, \"n_layer\": 2, "
                               "\"n_head\": 4, \"n_positions\": 32, \"vocab_size\": 61}");
    if (g) {
        round_trips("gpt2", g, tmp);
        gpt2_unprefixed(g, tmp);
    }
    ft_model_free(g);
    ft_model *q = random_model("{\"model_type\": \"qwen2\", \"hidden_size\": 32, "
                               "\"intermediate_size\": 48, \"num_hidden_layers\": 2, "
                               "\"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
                               "\"max_position_embeddings\": 32, \"vocab_size\": 61, "
                               "\"rms_norm_eps\": 1e-6, \"tie_word_embeddings\": false}");
    if (q)
        round_trips("qwen2", q, tmp);
    ft_model_free(q);

    ft_rmtree(tmp);
    return check_done();
}
