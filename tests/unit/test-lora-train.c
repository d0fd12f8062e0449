/* test-lora-train: ft-train --method lora against PyTorch's trajectory.
 *
 * tests/ref/lora_ref.py (its own base, records, LoRA layers and a PEFT
 * adapter to start from) runs 10 updates of AdamW + warm-up/cosine +
 * clipping + accumulation 2 in float64 with the base frozen, dumping A, B
 * and AdamW's moments after each. ft-train starts from the same adapter
 * (--init-adapter) with the same hyper-parameters and checkpoints after
 * every update; per update and tensor max|ft - ref| / max|ref| must stay
 * within max(1e-4, 10 x PyTorch's own float32 drift) (ref-contract.md), for
 * Llama with GQA (q_proj, v_proj), Qwen2 (all-linear), GPT-2 (fused c_attn,
 * fan_in_fan_out) and Llama with rsLoRA. The log's loss, rate and gradient
 * norm match; the written adapter holds update 10's tensors and passes the
 * independent layout check (tests/ref/peft_layout.py); the checkpoints hold
 * no base tensor. Then program-level bad input. Skips without PyTorch. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/fsout.h"
#include "data/records.h"
#include "model/safetensors.h"

static const char *root, *bin;

static double rel_diff(const float *a, const float *b, size_t n)
{
    double d = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    return scale > 0 ? d / scale : d;
}

static float *read_f32(const ft_safetensors *st, const char *name, size_t *n)
{
    const ft_st_tensor *t = st ? ft_safetensors_find(st, name) : NULL;
    ft_err err;
    if (!t)
        return NULL;
    float *v = malloc(t->numel * sizeof *v);
    ft_safetensors_read_f32(st, t, v, &err);
    *n = t->numel;
    return v;
}

static void compare_step(const char *dir, int k, json_t *traj, const char *tag)
{
    char path[4096], name[1024];
    json_t *entry = json_array_get(json_object_get(traj, "log"), (size_t)k - 1);
    json_t *drift = json_object_get(entry, "f32_drift_by_tensor");
    json_t *names = json_object_get(traj, "trainable");
    static const char *const kind[3] = {"param.", "exp_avg.", "exp_avg_sq."};
    ft_err err;

    snprintf(path, sizeof path, "%s/ckpt/step-%08d/state.safetensors", dir, k);
    ft_safetensors *ft = ft_safetensors_open(path, &err);
    snprintf(path, sizeof path, "%s/step-%d.safetensors", dir, k);
    ft_safetensors *ref = ft_safetensors_open(path, &err);
    CHECK_MSG(ft && ref, "%s: step %d files", tag, k);
    if (!ft || !ref)
        return;
    /* only A and B (and their moments): nothing of the frozen base */
    CHECK_INT(ft->n_tensors, 3 * json_array_size(names));
    for (size_t i = 0; i < json_array_size(names); i++) {
        const char *n = json_string_value(json_array_get(names, i));
        double tol = fmax(1e-4, 10 * json_number_value(json_object_get(drift, n)));
        for (int w = 0; w < 3; w++) {
            size_t na = 0, nb = 0;
            snprintf(name, sizeof name, "%s%s", kind[w], n);
            float *a = read_f32(ft, name, &na);
            snprintf(name, sizeof name, "%s%s", w ? kind[w] : "", n);
            float *b = read_f32(ref, name, &nb);
            CHECK_MSG(a && b && na == nb, "%s: step %d: %s missing", tag, k, name);
            if (a && b && na == nb) {
                double d = rel_diff(a, b, na);
                CHECK_MSG(d <= tol, "%s: step %d: %s%s: relative difference %.3g > %.3g", tag,
                          k, kind[w], n, d, tol);
            }
            free(a);
            free(b);
        }
    }
    ft_safetensors_close(ft);
    ft_safetensors_close(ref);
}

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
            CHECK_MSG(fabs(v - want) <= 1e-4 * fmax(fabs(want), 1e-6),
                      "%s: update %d: %s %.9g, reference %.9g", tag, k, keys[i], v, want);
        }
    }
    CHECK_INT(k, 10);
    ft_reader_free(r);
    fclose(f);
}

/* The written adapter: update 10's tensors, PEFT's layout. */
static void check_output(const char *dir, json_t *traj, const char *tag)
{
    char path[4096], mods[4096] = "", targets[1024] = "", cmd[12288];
    ft_err err;
    json_t *names = json_object_get(traj, "trainable");

    snprintf(path, sizeof path, "%s/out/adapter_model.safetensors", dir);
    ft_safetensors *out = ft_safetensors_open(path, &err);
    snprintf(path, sizeof path, "%s/ckpt/step-%08d/state.safetensors", dir, 10);
    ft_safetensors *ck = ft_safetensors_open(path, &err);
    CHECK_MSG(out && ck, "%s: output files", tag);
    for (size_t i = 0; out && ck && i < json_array_size(names); i++) {
        const char *n = json_string_value(json_array_get(names, i));
        char pn[1024];
        size_t na = 0, nb = 0;
        snprintf(pn, sizeof pn, "param.%s", n);
        float *a = read_f32(out, n, &na), *b = read_f32(ck, pn, &nb);
        CHECK_MSG(a && b && na == nb && !memcmp(a, b, na * sizeof *a),
                  "%s: written %s differs from update 10", tag, n);
        free(a);
        free(b);
    }
    ft_safetensors_close(out);
    ft_safetensors_close(ck);

    json_t *m = json_object_get(traj, "modules"), *t = json_object_get(traj, "target_modules");
    for (size_t i = 0; i < json_array_size(m); i++)
        snprintf(mods + strlen(mods), sizeof mods - strlen(mods), "%s%s", i ? "," : "",
                 json_string_value(json_array_get(m, i)));
    for (size_t i = 0; i < json_array_size(t); i++)
        snprintf(targets + strlen(targets), sizeof targets - strlen(targets), "%s%s",
                 i ? "," : "", json_string_value(json_array_get(t, i)));
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/ref/peft_layout.py %s/out --model "
             "%s/model --modules %s --targets %s --r %d --alpha %g %s",
             root, dir, dir, mods, targets,
             (int)json_integer_value(json_object_get(traj, "r")),
             json_number_value(json_object_get(traj, "lora_alpha")),
             json_is_true(json_object_get(traj, "use_rslora")) ? "--rslora" : "");
    CHECK_MSG(system(cmd) == 0, "%s: layout: %s", tag, cmd);
}

static void run(const char *family, const char *extra)
{
    char dir[] = "/tmp/ft-lora-parity-XXXXXX", cmd[8192], path[4096], tag[128];
    json_error_t jerr;

    snprintf(tag, sizeof tag, "%s %s", family, extra);
    CHECK(mkdtemp(dir) != NULL);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/ref/lora_ref.py --family %s %s "
             "--moments --out %s >/dev/null", root, family, extra, dir);
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
    snprintf(path, sizeof path, "%s/trajectory.json", dir);
    json_t *traj = json_load_file(path, 0, &jerr);
    CHECK(traj != NULL);
    if (!traj)
        return;

    snprintf(cmd, sizeof cmd,
             "%s/ft-train -m %s/model --method lora --init-adapter %s/init_adapter --task lm "
             "--seq-len 8 -b 2 --grad-accum 2 --max-steps 10 --lr 0.01 --weight-decay 0.1 "
             "--beta1 0.9 --beta2 0.999 --eps 1e-8 --warmup 3 --schedule cosine --clip %.17g "
             "--no-shuffle -j 1 -q --save-every 1 --keep 0 --checkpoint-dir %s/ckpt "
             "--log %s/log.mp -o %s/out < %s/data.mp",
             bin, dir, dir, json_number_value(json_object_get(traj, "clip")), dir, dir, dir,
             dir);
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
    for (int k = 1; k <= 10; k++)
        compare_step(dir, k, traj, tag);
    compare_log(dir, traj, tag);
    check_output(dir, traj, tag);
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
    run("llama", "");
    run("qwen2", "--targets all-linear");
    run("gpt2", "");
    run("llama", "--rslora --r 8 --alpha 4");
    return check_done();
}
