/* Parity with an implementation that shares none of ft's code or
 * conventions: tests/ref/engine_ref.py (PyTorch, float64) writes a tiny
 * random Hugging Face checkpoint with its own safetensors writer, and the
 * logits, loss and every gradient it computes for a batch it chose. ft loads
 * the checkpoint, runs the same batch and must agree within 1e-4: the loss
 * as a plain relative error, and every tensor (logits, each parameter's gradient,
 * the prefix's gradients) elementwise as
 *     |ft − ref| <= 1e-4 · max(|ref|, max|ref over the tensor| / 10):
 * relative, except that entries ten times smaller than the tensor's largest
 * are compared at that scale. Those are sums in which f32 rounding of the
 * larger terms they cancel shows (measured: up to ~2e-4 of an entry a
 * hundred times below the largest, ~5e-5 at a tenth); a wrong formula,
 * layout or permutation is off by O(1).
 * Families: Llama with grouped-query attention (also Llama 3 rope_scaling,
 * Mistral), Qwen2 with q/k/v biases, GPT-2 with Conv1D and attn.bias
 * buffers; each with and without a prefix of keys/values (P-tuning v2), and
 * with f16 and bf16 storage. Skips when /usr/bin/python3 has no torch. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/fsout.h"
#include "model/checkpoint.h"
#include "model/model.h"
#include "model/safetensors.h"

#define PY "/usr/bin/python3"

static const char *root;

typedef struct worst {
    double err;
    char what[128];
} worst;

static void note(worst *w, double e, const char *what)
{
    if (e > w->err) {
        w->err = e;
        snprintf(w->what, sizeof w->what, "%s", what);
    }
}

/* Relative error of a against the reference b, with the floor above. */
static double compare(const float *a, const float *b, size_t n, double floor_frac)
{
    double bmax = 0, e = 0;
    for (size_t i = 0; i < n; i++)
        bmax = fmax(bmax, fabs(b[i]));
    for (size_t i = 0; i < n; i++)
        e = fmax(e, fabs(a[i] - b[i]) / fmax(fabs(b[i]), bmax * floor_frac));
    return e;
}

static const ft_st_tensor *need(const ft_safetensors *st, const char *name)
{
    const ft_st_tensor *t = ft_safetensors_find(st, name);
    CHECK_MSG(t != NULL, "expected.safetensors has no %s", name);
    return t;
}

static void run_case(const char *family, int P, const char *dtype, const char *extra)
{
    char dir[] = "/tmp/ft-parity-XXXXXX", cmd[8192], path[4200], label[128];
    ft_err err;
    worst w = {0};

    snprintf(label, sizeof label, "%s P=%d %s%s%s", family, P, dtype, extra ? " " : "",
             extra ? extra : "");
    if (!mkdtemp(dir)) {
        CHECK_MSG(0, "mkdtemp failed");
        return;
    }
    snprintf(cmd, sizeof cmd, "%s %s/tests/ref/engine_ref.py --family %s --out %s --prefix %d "
             "--dtype %s --batch 3 --seq 6 %s",
             PY, root, family, dir, P, dtype, extra ? extra : "");
    if (system(cmd) != 0) {
        CHECK_MSG(0, "%s: the reference failed: %s", label, cmd);
        ft_rmtree(dir);
        return;
    }

    ft_model *m = ft_checkpoint_load(dir, &err);
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    ft_safetensors *ex = ft_safetensors_open(path, &err);
    CHECK_MSG(m && ex, "%s: %s", label, err.msg);
    if (!m || !ex)
        goto out;

    /* the batch the reference chose */
    const ft_st_tensor *tt = need(ex, "tokens"), *tg = need(ex, "targets");
    const ft_st_tensor *tw = need(ex, "weights"), *tl = need(ex, "logits");
    const ft_st_tensor *ts = need(ex, "loss");
    if (!tt || !tg || !tw || !tl || !ts)
        goto out;
    int B = (int)tt->shape[0], T = (int)tt->shape[1], V = m->cfg.vocab_size;
    int32_t *tokens = malloc(tt->n_bytes), *targets = malloc(tg->n_bytes);
    float *weights = malloc(B * sizeof *weights), *want = malloc(tl->numel * sizeof(float));
    float *logits = malloc((size_t)B * T * V * sizeof *logits), loss_want;
    memcpy(tokens, tt->data, tt->n_bytes);
    memcpy(targets, tg->data, tg->n_bytes);
    ft_safetensors_read_f32(ex, tw, weights, &err);
    ft_safetensors_read_f32(ex, tl, want, &err);
    ft_safetensors_read_f32(ex, ts, &loss_want, &err);

    /* the prefix, [L, 2, nkv, P, hd] */
    ft_prefix pre = {.P = P, .cap = P};
    size_t per = (size_t)m->cfg.n_kv_heads * P * m->cfg.head_dim;
    if (P > 0) {
        pre.kv = calloc(ft_prefix_floats(&m->cfg, P), sizeof *pre.kv);
        pre.grad = calloc(ft_prefix_floats(&m->cfg, P), sizeof *pre.grad);
        for (int l = 0; l < m->cfg.n_layers; l++)
            for (int k = 0; k < 2; k++) {
                snprintf(path, sizeof path, "prefix.%d.%s", l, k ? "value" : "key");
                const ft_st_tensor *t = need(ex, path);
                if (t && t->numel == per)
                    ft_safetensors_read_f32(ex, t, pre.kv + (2 * l + k) * per, &err);
            }
    }
    ft_batch b = {B, T, tokens, targets, weights, P > 0 ? &pre : NULL};

    /* logits, then loss and gradients */
    CHECK(ft_model_setup(m, B, T, P, 1, &err) == 0);
    CHECK(ft_model_logits(m, &b, NULL, logits, &err) == 0);
    note(&w, compare(logits, want, tl->numel, 0.1), "logits");
    double loss = 0, sum, n;
    CHECK(ft_model_step(m, &b, ft_model_batch_denom(&b), &loss, &err) == 0);
    note(&w, fabs(loss - loss_want) / fabs(loss_want), "loss");
    CHECK(ft_model_loss(m, &b, NULL, &sum, &n, &err) == 0);
    note(&w, fabs(sum / n - loss_want) / fabs(loss_want), "eval loss");

    int n_grads = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const ft_tensor *t = &m->tensors[i];
        snprintf(path, sizeof path, "grad.%s", t->name);
        const ft_st_tensor *g = need(ex, path);
        if (!g || g->numel != t->numel)
            continue;
        float *ref = malloc(t->numel * sizeof *ref), *got = ft_model_grad(m, i);
        ft_safetensors_read_f32(ex, g, ref, &err);
        if (t->conv1d) { /* the reference's gradient is [in, out] like the file */
            float *tr = malloc(t->numel * sizeof *tr);
            for (int o = 0; o < t->shape[0]; o++)
                for (int c = 0; c < t->shape[1]; c++)
                    tr[(size_t)o * t->shape[1] + c] = ref[(size_t)c * t->shape[0] + o];
            free(ref);
            ref = tr;
        }
        note(&w, compare(got, ref, t->numel, 0.1), t->name);
        n_grads++;
        free(ref);
    }
    for (int l = 0; P > 0 && l < m->cfg.n_layers; l++)
        for (int k = 0; k < 2; k++) {
            snprintf(path, sizeof path, "grad.prefix.%d.%s", l, k ? "value" : "key");
            const ft_st_tensor *g = need(ex, path);
            if (!g || g->numel != per)
                continue;
            float *ref = malloc(per * sizeof *ref);
            ft_safetensors_read_f32(ex, g, ref, &err);
            note(&w, compare(pre.grad + (2 * l + k) * per, ref, per, 0.1), path);
            free(ref);
        }

    printf("%-32s worst %.2e (%s), %d gradients\n", label, w.err, w.what, n_grads);
    CHECK_MSG(w.err <= 1e-4, "%s: %s off by %.3g relative", label, w.what, w.err);
    CHECK_INT(n_grads, m->n_tensors);
    free(tokens), free(targets), free(weights), free(want), free(logits);
    free(pre.kv), free(pre.grad);
out:
    ft_model_free(m);
    ft_safetensors_close(ex);
    ft_rmtree(dir);
}

int main(void)
{
    root = getenv("FT_ROOT") ? getenv("FT_ROOT") : ".";
    if (system(PY " -c 'import torch' 2>/dev/null") != 0)
        CHECK_SKIP("skip: " PY " cannot import torch (apt install python3-torch)");

    run_case("llama", 0, "f32", NULL);
    run_case("llama", 3, "f32", NULL);
    run_case("llama", 2, "f32", "--rope-scaling llama3");
    /* heads x head_dim (4 x 24 = 96) wider than hidden (64), and narrower */
    run_case("llama", 2, "f32", "--head-dim 24");
    run_case("qwen2", 0, "f32", "--head-dim 8");
    run_case("mistral", 0, "f32", NULL);
    run_case("qwen2", 0, "f32", NULL);
    run_case("qwen2", 4, "f32", NULL);
    run_case("gpt2", 0, "f32", NULL);
    run_case("gpt2", 3, "f32", NULL);
    run_case("llama", 2, "bf16", NULL);
    run_case("qwen2", 0, "f16", NULL);
    run_case("gpt2", 0, "f16", NULL);
    return check_done();
}
