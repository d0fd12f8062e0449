/* LoRA adapters (adapt/lora.h), checked against independent references:
 *
 * - round trip: tests/ref/lora_ref.py (PyTorch, float64, its own LoRA layers)
 *   writes a base and a PEFT-layout adapter with non-zero B plus the logits
 *   of base + adapter; ft loads both and must give those logits within 1e-4
 *   (Llama with GQA, Qwen2 with all-linear targets, GPT-2's fused Conv1D
 *   c_attn with rsLoRA, Mistral);
 * - default targets: with no --lora-targets, ft adapts the modules
 *   lora_ref.py chose from its table of PEFT's per-family defaults;
 * - gradients: dA and dB from the hook's backward against central finite
 *   differences of the loss (all-linear, so the dx terms of upper adapters
 *   reach lower ones; once with dropout and a fixed mask), the base frozen:
 *   no gradient buffer and no dW product of any base matrix (the engine's
 *   counter, which counts every one with the base trainable);
 * - layout: adapters ft writes are read by tests/ref/peft_layout.py (Python
 *   json and a hand parser of the safetensors header) against PEFT 0.12.0's
 *   key table and the shapes the model's config implies;
 * - bad input: an adapter for another base (missing module, other shape),
 *   unsupported PEFT features (use_dora, rank_pattern, modules_to_save
 *   tensors, LoRA on embeddings), r = 0, targets matching nothing.
 * Skips (77) when /usr/bin/python3 cannot import torch. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapt/lora.h"
#include "check.h"
#include "core/fsout.h"
#include "model/checkpoint.h"
#include "model/model.h"
#include "model/safetensors.h"

static const char *root;
static char tmp[256];

static int sh(const char *fmt, const char *a, const char *b, const char *c)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, fmt, a, b, c);
    return system(cmd);
}

/* Run lora_ref.py for family with extra options into tmp/name. */
static void make_ref(const char *family, const char *extra, const char *name, char *dir,
                     size_t n)
{
    char opts[512];
    snprintf(dir, n, "%s/%s", tmp, name);
    snprintf(opts, sizeof opts, "--family %s --out %s %s", family, dir, extra);
    if (sh("/usr/bin/python3 %s/tests/ref/lora_ref.py %s >/dev/null%s", root, opts, "")) {
        fprintf(stderr, "lora_ref.py %s failed\n", opts);
        exit(1);
    }
}

static ft_model *load_model(const char *dir)
{
    char path[512];
    ft_err err;
    snprintf(path, sizeof path, "%s/model", dir);
    ft_model *m = ft_checkpoint_load(path, &err);
    if (!m) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return m;
}

/* --- Round trip: PEFT adapter from PyTorch -> ft's logits -------------------- */

static void test_roundtrip(const char *family, const char *extra, const char *name)
{
    char dir[512], path[600];
    ft_err err;
    make_ref(family, extra, name, dir, sizeof dir);
    ft_model *m = load_model(dir);

    snprintf(path, sizeof path, "%s/roundtrip/expected.safetensors", dir);
    ft_safetensors *st = ft_safetensors_open(path, &err);
    CHECK(st != NULL);
    const ft_st_tensor *tt = ft_safetensors_find(st, "tokens");
    const ft_st_tensor *lt = ft_safetensors_find(st, "logits");
    int B = (int)tt->shape[0], T = (int)tt->shape[1], V = m->cfg.vocab_size;
    float *want = malloc(lt->numel * sizeof *want), *got = malloc(lt->numel * sizeof *got);
    float *base = malloc(lt->numel * sizeof *base);
    ft_safetensors_read_f32(st, lt, want, &err);
    CHECK_INT(lt->numel, (size_t)B * T * V);
    ft_batch b = {B, T, (const int32_t *)tt->data, NULL, NULL, NULL};

    CHECK(ft_model_setup(m, B, T, 0, 0, &err) == 0);
    CHECK(ft_model_logits(m, &b, NULL, base, &err) == 0);
    snprintf(path, sizeof path, "%s/roundtrip", dir);
    ft_lora *l = ft_lora_apply(m, path, &err);
    CHECK_MSG(l != NULL, "%s", err.msg);
    if (!l)
        exit(1);
    CHECK(ft_model_logits(m, &b, NULL, got, &err) == 0);

    /* within 1e-4 of the largest logit; and the adapter visibly matters */
    double mx = 0, d = 0, moved = 0;
    for (size_t i = 0; i < lt->numel; i++) {
        mx = fmax(mx, fabs(want[i]));
        d = fmax(d, fabs(got[i] - want[i]));
        moved = fmax(moved, fabs(base[i] - want[i]));
    }
    CHECK_MSG(d <= 1e-4 * mx, "%s: max |ft - ref| = %g, max |ref| = %g", name, d, mx);
    CHECK_MSG(moved > 1e-2 * mx, "%s: the adapter changes the logits by only %g", name,
              moved);
    fprintf(stderr, "%s: %d modules, max diff %.3g of %.3g\n", name, l->n_mods, d, mx);

    ft_lora_free(l);
    CHECK(m->hook.forward == NULL);
    free(want);
    free(got);
    free(base);
    ft_safetensors_close(st);
    ft_model_free(m);
}

/* --- PEFT's default targets per family ----------------------------------------- */

/* ft's default choice on the reference's base of dir is the module set and
 * target_modules lora_ref.py took from its own table of PEFT's defaults
 * (hfref.LORA_DEFAULT_TARGETS: q_proj, v_proj for Llama, Mistral and Qwen2;
 * c_attn for GPT-2), recorded in its trajectory.json. */
static void test_defaults(const char *dir, const char *name)
{
    char path[600];
    ft_err err;
    json_error_t jerr;
    snprintf(path, sizeof path, "%s/trajectory.json", dir);
    json_t *traj = json_load_file(path, 0, &jerr);
    CHECK_MSG(traj != NULL, "%s: %s", path, jerr.text);
    if (!traj)
        return;
    json_t *mods = json_object_get(traj, "modules"), *names = json_object_get(traj,
                                                                           "target_modules");
    ft_model *m = load_model(dir);
    ft_lora_opts o;
    ft_lora_opts_default(&o);
    ft_lora *l = ft_lora_new(m, &o, 1, &err);
    CHECK_MSG(l != NULL, "%s: %s", name, err.msg);
    if (l) {
        CHECK_MSG(l->n_mods == (int)json_array_size(mods), "%s: %d modules, the reference %zu",
                  name, l->n_mods, json_array_size(mods));
        for (size_t i = 0; i < json_array_size(mods); i++) {
            const char *want = json_string_value(json_array_get(mods, i));
            int found = 0;
            for (int k = 0; k < l->n_mods; k++)
                found |= !strcmp(l->mods[k].path, want);
            CHECK_MSG(found, "%s: default targets lack %s", name, want);
        }
        CHECK_INT(l->n_target_names, (int)json_array_size(names));
        for (int k = 0; k < l->n_target_names && k < (int)json_array_size(names); k++)
            CHECK_STR(l->target_names[k], json_string_value(json_array_get(names, k)));
        fprintf(stderr, "%s: default targets %s... (%d modules)\n", name,
                l->n_target_names ? l->target_names[0] : "", l->n_mods);
    }
    ft_lora_free(l);
    ft_model_free(m);
    json_decref(traj);
}

/* --- Gradients against finite differences ------------------------------------- */

static double step_loss(ft_model *m, ft_lora *l, const ft_batch *b, double denom)
{
    ft_err err;
    double loss;
    ft_lora_reseed(l, 42);
    ft_model_zero_grads(m);
    ft_lora_zero_grads(l);
    if (ft_model_step(m, b, denom, &loss, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return loss;
}

static void test_gradients(const char *dir, const char *targets, double dropout)
{
    ft_err err;
    ft_model *m = load_model(dir);
    ft_lora_opts o;
    ft_lora_opts_default(&o);
    o.r = 3;
    o.alpha = 5;
    o.targets = targets;
    o.dropout = dropout;
    ft_lora *l = ft_lora_new(m, &o, 7, &err);
    CHECK_MSG(l != NULL, "%s", err.msg);
    if (!l)
        exit(1);

    /* B random so every path carries signal; base frozen */
    ft_rng rng;
    ft_rng_seed(&rng, 3, 0);
    for (int i = 0; i < l->n_mods; i++)
        for (int k = 0; k < l->mods[i].out * l->r; k++)
            l->mods[i].B[k] = (float)(0.3 * ft_rng_normal(&rng));
    for (int i = 0; i < m->n_tensors; i++)
        ft_model_set_trainable(m, i, 0);
    ft_lora_attach(l);
    CHECK(ft_lora_setup_train(l, &err) == 0);
    CHECK(ft_model_setup(m, 2, 5, 0, 1, &err) == 0);
    CHECK_INT(m->n_grads, 0);

    int32_t tok[10], tgt[10];
    for (int i = 0; i < 10; i++) {
        tok[i] = (i * 37 + 5) % m->cfg.vocab_size;
        tgt[i] = i == 3 ? -1 : (i * 53 + 11) % m->cfg.vocab_size;
    }
    float w[2] = {1.0f, 0.5f};
    ft_batch b = {2, 5, tok, tgt, w, NULL};
    double denom = ft_model_batch_denom(&b);
    long before = m->n_block_backward, dw_before = m->n_weight_grads;
    step_loss(m, l, &b, denom);
    CHECK_INT(m->n_block_backward - before, m->cfg.n_layers);
    /* the frozen base: no gradient buffer and not one dW product, although
     * the backward ran through every block */
    CHECK_INT(m->n_weight_grads - dw_before, 0);
    for (int i = 0; i < m->n_tensors; i++)
        CHECK(ft_model_grad(m, i) == NULL);
    float *g = malloc(l->n_params * sizeof *g);
    memcpy(g, l->grads, l->n_params * sizeof *g);

    /* a few elements of every A and B: (L(p+h) - L(p-h)) / 2h in float32 */
    int bad = 0, n = 0;
    for (int i = 0; i < l->n_mods; i++) {
        ft_lora_module *md = &l->mods[i];
        for (int which = 0; which < 2; which++) {
            float *p = which ? md->B : md->A;
            size_t numel = (size_t)l->r * (which ? md->out : md->in);
            for (int s = 0; s < 3; s++) {
                size_t k = (size_t)(s * 7919 + i * 31) % numel;
                float keep = p[k], h = 1e-2f;
                p[k] = keep + h;
                double lp = step_loss(m, l, &b, denom);
                p[k] = keep - h;
                double lm = step_loss(m, l, &b, denom);
                p[k] = keep;
                double fd = (lp - lm) / (2.0 * h);
                double an = g[(p - l->params) + k];
                n++;
                if (fabs(fd - an) > 2e-2 * fmax(fabs(fd), 1e-2)) {
                    bad++;
                    fprintf(stderr, "%s %c[%zu]: fd %.6g, backward %.6g\n", md->path,
                            which ? 'B' : 'A', k, fd, an);
                }
            }
        }
    }
    CHECK_MSG(bad == 0, "%s, dropout %g: %d of %d gradients differ", targets, dropout, bad, n);

    /* control for the count above: with the base trainable the same step runs
     * the dW of every block product (Llama 7 a block, GPT-2 4) and of the
     * classifier (once per chunk of rows) */
    for (int i = 0; i < m->n_tensors; i++)
        ft_model_set_trainable(m, i, 1);
    CHECK(ft_model_setup(m, 2, 5, 0, 1, &err) == 0);
    long dw0 = m->n_weight_grads;
    step_loss(m, l, &b, denom);
    long per_block = m->cfg.family == FT_FAMILY_GPT2 ? 4 : 7;
    CHECK_MSG(m->n_weight_grads - dw0 >= per_block * m->cfg.n_layers + 1,
              "%ld dW products with the base trainable", m->n_weight_grads - dw0);
    free(g);
    ft_lora_free(l);
    ft_model_free(m);
}

/* --- Layout read back by an independent parser --------------------------------- */

static void check_layout(ft_lora *l, const char *model_dir, const char *name,
                         const char *modules, const char *args)
{
    char out[512], model[512];
    ft_err err;
    snprintf(out, sizeof out, "%s/%s", tmp, name);
    snprintf(model, sizeof model, "%s/model", model_dir);
    const char *meta[] = {"ft.task", "lm", NULL};
    CHECK_MSG(ft_lora_save(l, out, 0, "base", meta, &err) == 0, "%s", err.msg);
    CHECK(ft_lora_save(l, out, 0, "base", meta, &err) < 0);       /* exists */
    CHECK(ft_lora_save(l, out, 1, "base", meta, &err) == 0);      /* --force */
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/ref/peft_layout.py %s --model %s "
                              "--modules %s %s", root, out, model, modules, args);
    CHECK_MSG(system(cmd) == 0, "%s: layout check failed", name);

    /* and ft reads back the same numbers */
    ft_lora *r = ft_lora_load(l->m, out, &err);
    CHECK_MSG(r != NULL, "%s", err.msg);
    if (r) {
        CHECK_INT(r->n_mods, l->n_mods);
        CHECK(r->n_params == l->n_params &&
              !memcmp(r->params, l->params, l->n_params * sizeof *l->params));
        CHECK(r->scale == l->scale);
        ft_lora_free(r);
    }
}

static ft_lora *new_lora(ft_model *m, int r, double alpha, int rslora, const char *targets,
                         const char *layers)
{
    ft_lora_opts o;
    ft_err err;
    ft_lora_opts_default(&o);
    o.r = r;
    o.alpha = alpha;
    o.rslora = rslora;
    o.targets = targets;
    o.layers = layers;
    ft_lora *l = ft_lora_new(m, &o, 1, &err);
    CHECK_MSG(l != NULL, "%s", err.msg);
    if (!l)
        exit(1);
    return l;
}

static void test_layout(const char *llama, const char *gpt2)
{
    ft_model *m = load_model(llama);
    ft_lora *l = new_lora(m, 8, 16, 0, NULL, NULL);
    check_layout(l, llama, "llama-default",
                 "model.layers.0.self_attn.q_proj,model.layers.0.self_attn.v_proj,"
                 "model.layers.1.self_attn.q_proj,model.layers.1.self_attn.v_proj",
                 "--r 8 --alpha 16 --targets q_proj,v_proj");

    /* A ~ U(+-1/sqrt(in)): in = 64 here, so |A| < 0.125 and spread out */
    double mx = 0, sum2 = 0;
    for (int k = 0; k < l->r * l->mods[0].in; k++) {
        mx = fmax(mx, fabs(l->mods[0].A[k]));
        sum2 += (double)l->mods[0].A[k] * l->mods[0].A[k];
    }
    CHECK(mx <= 0.125 && mx > 0.11);
    CHECK_REL(sum2 / (l->r * l->mods[0].in), 0.125 * 0.125 / 3, 0.2, 0);
    for (int k = 0; k < l->r * l->mods[0].out; k++)
        CHECK(l->mods[0].B[k] == 0.0f);
    ft_lora_free(l);

    l = new_lora(m, 4, 8, 1, "all-linear", "1");
    check_layout(l, llama, "llama-all-linear",
                 "model.layers.1.self_attn.q_proj,model.layers.1.self_attn.k_proj,"
                 "model.layers.1.self_attn.v_proj,model.layers.1.self_attn.o_proj,"
                 "model.layers.1.mlp.gate_proj,model.layers.1.mlp.up_proj,"
                 "model.layers.1.mlp.down_proj",
                 "--r 4 --alpha 8 --rslora --layers 1 "
                 "--targets down_proj,gate_proj,k_proj,o_proj,q_proj,up_proj,v_proj");
    CHECK_REL(l->scale, 4.0, 1e-7, 0);
    ft_lora_free(l);

    /* a regex is written as the module paths it matched */
    l = new_lora(m, 2, 2, 0, "model\\.layers\\.0\\..*_proj", NULL);
    check_layout(l, llama, "llama-regex",
                 "model.layers.0.self_attn.q_proj,model.layers.0.self_attn.k_proj,"
                 "model.layers.0.self_attn.v_proj,model.layers.0.self_attn.o_proj,"
                 "model.layers.0.mlp.gate_proj,model.layers.0.mlp.up_proj,"
                 "model.layers.0.mlp.down_proj",
                 "--r 2 --alpha 2 --targets model.layers.0.mlp.down_proj,"
                 "model.layers.0.mlp.gate_proj,model.layers.0.mlp.up_proj,"
                 "model.layers.0.self_attn.k_proj,model.layers.0.self_attn.o_proj,"
                 "model.layers.0.self_attn.q_proj,model.layers.0.self_attn.v_proj");
    ft_lora_free(l);
    ft_model_free(m);

    m = load_model(gpt2);
    l = new_lora(m, 8, 16, 0, NULL, NULL);
    check_layout(l, gpt2, "gpt2-default", "transformer.h.0.attn.c_attn,transformer.h.1.attn.c_attn",
                 "--r 8 --alpha 16 --targets c_attn");
    ft_lora_free(l);
    l = new_lora(m, 2, 4, 0, "all-linear", "0");
    check_layout(l, gpt2, "gpt2-all-linear",
                 "transformer.h.0.attn.c_attn,transformer.h.0.attn.c_proj,"
                 "transformer.h.0.mlp.c_fc,transformer.h.0.mlp.c_proj",
                 "--r 2 --alpha 4 --layers 0 --targets c_attn,c_fc,c_proj");
    ft_lora_free(l);
    ft_model_free(m);
}

/* --- Bad input ---------------------------------------------------------------- */

static void expect_load_error(ft_model *m, const char *dir, const char *what)
{
    ft_err err;
    ft_lora *l = ft_lora_load(m, dir, &err);
    CHECK_MSG(l == NULL, "%s: loaded", what);
    if (!l) {
        CHECK_MSG(strstr(err.msg, what) != NULL, "\"%s\" not in \"%s\"", what, err.msg);
        fprintf(stderr, "expected error: %s\n", err.msg);
    }
    ft_lora_free(l);
}

/* Copy the reference adapter to tmp/name, then edit its config with sed. */
static void edited(const char *src, const char *name, const char *sed, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", tmp, name);
    sh("rm -rf %s && cp -r %s %s", out, src, out);
    char cfg[600];
    snprintf(cfg, sizeof cfg, "%s/adapter_config.json", out);
    if (sed)
        sh("sed -i '%s' %s%s", sed, cfg, "");
}

/* Rewrite adapter_model.safetensors of dir with one tensor renamed/reshaped. */
static void write_tensors(const char *dir, const char *name, int r0, int r1)
{
    char path[600];
    ft_err err;
    float *z = calloc((size_t)r0 * r1 + 4 * 64, sizeof *z);
    ft_st_entry e[2] = {
        {name, FT_DTYPE_F32, 2, {r0, r1}, z, NULL},
    };
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    CHECK(ft_safetensors_write(path, e, 1, NULL, &err) == 0);
    free(z);
}

static void test_bad(const char *llama, const char *gpt2)
{
    char src[512], d[512];
    ft_err err;
    ft_model *m = load_model(llama), *g = load_model(gpt2);
    CHECK(snprintf(src, sizeof src, "%s/roundtrip", llama) < (int)sizeof src);

    /* another base: llama's adapter on GPT-2 names a tensor */
    expect_load_error(g, src, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
    edited(src, "bad-shape", NULL, d, sizeof d);
    write_tensors(d, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", 4, 32);
    expect_load_error(m, d, "q_proj.lora_A.weight has shape [4, 32]");
    edited(src, "bad-dora", "s/\"use_dora\": false/\"use_dora\": true/", d, sizeof d);
    expect_load_error(m, d, "\"use_dora\"");
    edited(src, "bad-rank", "s/\"rank_pattern\": {}/\"rank_pattern\": {\"q_proj\": 2}/", d,
           sizeof d);
    expect_load_error(m, d, "\"rank_pattern\"");
    edited(src, "bad-alpha", "s/\"alpha_pattern\": {}/\"alpha_pattern\": {\"q\": 2}/", d,
           sizeof d);
    expect_load_error(m, d, "\"alpha_pattern\"");
    edited(src, "bad-save", "s/\"modules_to_save\": null/\"modules_to_save\": [\"lm_head\"]/",
           d, sizeof d);
    expect_load_error(m, d, "\"modules_to_save\"");
    edited(src, "bad-save-tensor", NULL, d, sizeof d);
    write_tensors(d, "base_model.model.lm_head.modules_to_save.default.weight", 97, 64);
    expect_load_error(m, d, "modules_to_save");
    edited(src, "bad-embed", NULL, d, sizeof d);
    write_tensors(d, "base_model.model.model.embed_tokens.lora_embedding_A", 4, 97);
    expect_load_error(m, d, "embeddings");
    edited(src, "bad-type", "s/\"peft_type\": \"LORA\"/\"peft_type\": \"IA3\"/", d, sizeof d);
    expect_load_error(m, d, "\"peft_type\"");
    edited(src, "bad-r", "s/\"r\": 4/\"r\": 0/", d, sizeof d);
    expect_load_error(m, d, "\"r\"");

    /* r = 0 and targets that match nothing, when creating */
    ft_lora_opts o;
    ft_lora_opts_default(&o);
    o.r = 0;
    CHECK(ft_lora_new(m, &o, 1, &err) == NULL && strstr(err.msg, "rank 0"));
    ft_lora_opts_default(&o);
    o.targets = "c_attn";
    CHECK(ft_lora_new(m, &o, 1, &err) == NULL && strstr(err.msg, "matches no"));
    o.targets = "nothing\\.here";
    CHECK(ft_lora_new(m, &o, 1, &err) == NULL && strstr(err.msg, "matches no"));
    o.targets = "q_proj";
    o.layers = "7";
    CHECK(ft_lora_new(m, &o, 1, &err) == NULL);
    o.layers = NULL;
    o.targets = "embed_tokens";
    CHECK(ft_lora_new(m, &o, 1, &err) == NULL && strstr(err.msg, "embeddings"));
    o.targets = "(unclosed";
    CHECK(ft_lora_new(m, &o, 1, &err) == NULL && strstr(err.msg, "--lora-targets"));
    ft_model_free(m);
    ft_model_free(g);
}

int main(void)
{
    root = getenv("FT_ROOT");
    if (!root)
        root = ".";
    if (system("/usr/bin/python3 -c 'import torch' 2>/dev/null"))
        CHECK_SKIP("skip: /usr/bin/python3 cannot import torch (apt install python3-torch)");
    snprintf(tmp, sizeof tmp, "/tmp/ft-test-lora.XXXXXX");
    if (!mkdtemp(tmp))
        return 1;

    test_roundtrip("llama", "", "llama");
    test_roundtrip("qwen2", "--targets all-linear --r 3 --alpha 6", "qwen2");
    test_roundtrip("gpt2", "--rslora --r 4 --alpha 8", "gpt2");
    test_roundtrip("mistral", "--steps 1", "mistral");

    char qwen2d[512];
    make_ref("qwen2", "--steps 1", "qwen2-default", qwen2d, sizeof qwen2d);
    const char *fams[] = {"llama", "mistral", "gpt2"};
    for (int i = 0; i < 3; i++) {
        char d[512];
        snprintf(d, sizeof d, "%s/%s", tmp, fams[i]);
        test_defaults(d, fams[i]);
    }
    test_defaults(qwen2d, "qwen2");

    char llama[512], gpt2[512];
    snprintf(llama, sizeof llama, "%s/llama", tmp);
    snprintf(gpt2, sizeof gpt2, "%s/gpt2", tmp);
    test_gradients(llama, "all-linear", 0);
    test_gradients(gpt2, "all-linear", 0);
    test_gradients(llama, "q_proj,o_proj,down_proj", 0.3);
    test_layout(llama, gpt2);
    test_bad(llama, gpt2);

    ft_rmtree(tmp);
    return check_done();
}
