/* test-train-parity: ft-train's trajectory against PyTorch's.
 *
 * tests/ref/train_ref.py (its own random checkpoint and token-id records)
 * runs 10 updates of torch.optim.AdamW + LambdaLR (warm-up 3, cosine) +
 * clip_grad_norm_ + weight decay + gradient accumulation 2 in float64 and
 * dumps every weight after each update. ft-train runs the same updates with
 * a checkpoint after each; per update and tensor, max|ft - ref| / max|ref|
 * must stay within max(1e-4, 10 x the drift float32 rounding alone gives
 * PyTorch) (the contract in /work/notes/ref-contract.md), for the weights
 * and AdamW's two moments, full and freeze, Llama (GQA, untied), Qwen2
 * (biases, tied) and GPT-2 (Conv1D, LayerNorm). The per-update loss, rate
 * and gradient norm of ft's --log match the reference's log within 1e-4,
 * and in freeze the frozen tensors of the written model are bit-identical
 * to the base. Skips when PyTorch is missing. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fsout.h"
#include "data/records.h"
#include "model/checkpoint.h"
#include "model/safetensors.h"
#include "check.h"

static const char *root, *bin;

/* max |a - b| / max |b| over entries outside skip (a JSON list of [s, e)). */
static double rel_diff(const float *a, const float *b, size_t n, json_t *skip)
{
    double d = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        int skipped = 0;
        for (size_t k = 0; k < json_array_size(skip); k++) {
            json_t *r = json_array_get(skip, k);
            skipped |= (json_int_t)i >= json_integer_value(json_array_get(r, 0)) &&
                       (json_int_t)i < json_integer_value(json_array_get(r, 1));
        }
        if (skipped)
            continue;
        d = fmax(d, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    return scale > 0 ? d / scale : d;
}

/* A reference tensor in ft's layout (GPT-2 Conv1D weights transposed). */
static float *ref_tensor(const ft_safetensors *st, const char *name, const ft_tensor *t)
{
    const ft_st_tensor *x = ft_safetensors_find(st, name);
    ft_err err;
    if (!x || x->numel != t->numel)
        return NULL;
    float *v = malloc(x->numel * sizeof *v);
    ft_safetensors_read_f32(st, x, v, &err);
    if (t->conv1d) {
        /* stored [in, out]; ft holds [out, in] = shape[0] x shape[1] */
        float *w = malloc(x->numel * sizeof *w);
        int out = t->shape[0], in = t->shape[1];
        for (int i = 0; i < in; i++)
            for (int o = 0; o < out; o++)
                w[(size_t)o * in + i] = v[(size_t)i * out + o];
        free(v);
        v = w;
    }
    return v;
}

static void compare_step(const char *dir, int k, const ft_model *base, json_t *traj,
                         const char *tag)
{
    char path[4096], name[1024];
    json_t *entry = json_array_get(json_object_get(traj, "log"), (size_t)k - 1);
    json_t *drift = json_object_get(entry, "f32_drift_by_tensor");
    json_t *zero = json_object_get(traj, "zero_gradient");
    json_t *names = json_object_get(traj, "trainable");
    static const char *const kind[3] = {"", "exp_avg.", "exp_avg_sq."};
    ft_err err;

    snprintf(path, sizeof path, "%s/ckpt/step-%08d/state.safetensors", dir, k);
    ft_safetensors *ft = ft_safetensors_open(path, &err);
    snprintf(path, sizeof path, "%s/step-%d.safetensors", dir, k);
    ft_safetensors *ref = ft_safetensors_open(path, &err);
    CHECK_MSG(ft && ref, "%s: step %d files", tag, k);
    if (!ft || !ref)
        return;
    CHECK_INT(ft->n_tensors, 3 * json_array_size(names));
    for (size_t i = 0; i < json_array_size(names); i++) {
        const char *n = json_string_value(json_array_get(names, i));
        int id = ft_model_find(base, n);
        CHECK_MSG(id >= 0, "%s: %s not in ft's model", tag, n);
        if (id < 0)
            continue;
        const ft_tensor *t = &base->tensors[id];
        double tol = fmax(1e-4, 10 * json_number_value(json_object_get(drift, n)));
        for (int w = 0; w < 3; w++) {
            snprintf(name, sizeof name, "%s%s", kind[w], n);
            float *r = ref_tensor(ref, name, t);
            snprintf(name, sizeof name, "%s%s", w ? kind[w] : "param.", n);
            const ft_st_tensor *x = ft_safetensors_find(ft, name);
            CHECK_MSG(r && x && x->numel == t->numel, "%s: step %d: %s missing", tag, k,
                      name);
            if (!r || !x || x->numel != t->numel) {
                free(r);
                continue;
            }
            float *v = malloc(x->numel * sizeof *v);
            ft_safetensors_read_f32(ft, x, v, &err);
            /* Moments: the same rule (they follow the weights' steps). */
            double d = rel_diff(v, r, t->numel, json_object_get(zero, n));
            CHECK_MSG(d <= tol, "%s: step %d: %s: relative difference %.3g > %.3g", tag,
                      k, name, d, tol);
            free(v);
            free(r);
        }
    }
    ft_safetensors_close(ft);
    ft_safetensors_close(ref);
}

/* ft's --log against the reference's log: loss, lr, grad_norm per update. */
static void compare_log(const char *dir, json_t *traj, const char *tag)
{
    char path[4096];
    ft_err err;
    ft_record rec;
    snprintf(path, sizeof path, "%s/log.mp", dir);
    FILE *f = fopen(path, "rb");
    CHECK_MSG(f != NULL, "%s: no log", tag);
    if (!f)
        return;
    ft_reader *r = ft_reader_open(fileno(f), path, 0, &err);
    int k = 0;
    while (r && ft_reader_next(r, &rec, &err) == 1) {
        json_t *e = json_array_get(json_object_get(traj, "log"), (size_t)k++);
        static const char *const keys[] = {"loss", "lr", "grad_norm"};
        for (int i = 0; i < 3; i++) {
            double v = NAN;
            ft_field_num(ft_record_get(&rec, keys[i]), &v, &err);
            double want = json_number_value(json_object_get(e, keys[i]));
            CHECK_MSG(fabs(v - want) <= 1e-4 * fmax(fabs(want), 1e-6), "%s: update %d: %s "
                      "%.9g, reference %.9g", tag, k, keys[i], v, want);
        }
    }
    CHECK_INT(k, 10);
    ft_reader_free(r);
    fclose(f);
}

/* Freeze: every frozen tensor of the written model equals the base's bytes. */
static void compare_frozen(const char *dir, json_t *traj, const char *tag)
{
    char a[4096], b[4096];
    ft_err err;
    snprintf(a, sizeof a, "%s/model/model.safetensors", dir);
    snprintf(b, sizeof b, "%s/out/model.safetensors", dir);
    ft_safetensors *base = ft_safetensors_open(a, &err), *out = ft_safetensors_open(b, &err);
    CHECK_MSG(base && out, "%s: model files", tag);
    int n_frozen = 0;
    for (int i = 0; base && out && i < base->n_tensors; i++) {
        const ft_st_tensor *x = &base->tensors[i], *y = ft_safetensors_find(out, x->name);
        int trained = 0;
        json_t *names = json_object_get(traj, "trainable");
        for (size_t k = 0; k < json_array_size(names); k++)
            trained |= !strcmp(json_string_value(json_array_get(names, k)), x->name);
        if (trained || strstr(x->name, "attn.bias") || strstr(x->name, "masked_bias"))
            continue;
        n_frozen++;
        CHECK_MSG(y && y->n_bytes == x->n_bytes && !memcmp(y->data, x->data, x->n_bytes),
                  "%s: frozen %s changed", tag, x->name);
    }
    CHECK(n_frozen > 0);
    ft_safetensors_close(base);
    ft_safetensors_close(out);
}

static void run(const char *family, const char *method)
{
    char dir[] = "/tmp/ft-parity-XXXXXX", cmd[8192], path[4096], tag[64];
    ft_err err;
    json_error_t jerr;

    snprintf(tag, sizeof tag, "%s %s", family, method);
    CHECK(mkdtemp(dir) != NULL);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/ref/train_ref.py --family %s "
             "--method %s --moments --out %s", root, family, method, dir);
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
    snprintf(path, sizeof path, "%s/trajectory.json", dir);
    json_t *traj = json_load_file(path, 0, &jerr);
    CHECK(traj != NULL);
    if (!traj)
        return;

    /* The reference's hyper-parameters, as ft-train options. */
    snprintf(cmd, sizeof cmd,
             "%s/ft-train -m %s/model --method %s %s --task lm --seq-len 8 -b 2 "
             "--grad-accum 2 --max-steps 10 --lr 0.01 --weight-decay 0.1 --beta1 0.9 "
             "--beta2 0.999 --eps 1e-8 --warmup 3 --schedule cosine --clip %.17g "
             "--no-shuffle -j 1 -q --save-every 1 --keep 0 --checkpoint-dir %s/ckpt "
             "--log %s/log.mp -o %s/out < %s/data.mp",
             bin, dir, method, strcmp(method, "freeze") ? "" : "--trainable-layers 1",
             json_number_value(json_object_get(traj, "clip")), dir, dir, dir, dir);
    CHECK_MSG(system(cmd) == 0, "%s", cmd);

    snprintf(path, sizeof path, "%s/model", dir);
    ft_model *base = ft_checkpoint_load(path, &err);
    CHECK(base != NULL);
    for (int k = 1; base && k <= 10; k++)
        compare_step(dir, k, base, traj, tag);
    compare_log(dir, traj, tag);
    if (!strcmp(method, "freeze"))
        compare_frozen(dir, traj, tag);
    ft_model_free(base);
    json_decref(traj);
    ft_rmtree(dir);
}

int main(void)
{
    root = getenv("FT_ROOT");
    bin = getenv("FT_BIN");
    if (!root || !bin)
        CHECK_SKIP("FT_ROOT and FT_BIN are not set (run through make check)");
    if (system("/usr/bin/python3 -c 'import torch' 2>/dev/null") != 0)
        CHECK_SKIP("no PyTorch for /usr/bin/python3");
    run("llama", "full");
    run("llama", "freeze");
    run("qwen2", "full");
    run("gpt2", "full");
    run("gpt2", "freeze");
    return check_done();
}
