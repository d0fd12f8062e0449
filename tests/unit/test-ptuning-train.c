/* test-ptuning-train: ft-train --method ptuning end to end.
 *
 * - PyTorch parity through the program: tests/ref/prefix_ref.py's base,
 *   records and init_adapter, ten updates of ft-train (accumulation 2,
 *   warm-up, cosine, clipping, no shuffling) with a checkpoint after each:
 *   the prefix tensors match the float64 trajectory within max(1e-4,
 *   10 x float32 drift), the logged losses within 1e-5, the checkpoints hold
 *   the prefix and its moments only (the base is not in the optimiser), and
 *   the written adapter's prompt_embeddings match the reference's last step
 *   (Llama with GQA and a projection of 8; GPT-2 without).
 * - Train once, carry over (Llama): that written adapter, its metadata
 *   relabelled as another task's, starts a run on other records of the same
 *   base; prefix_ref.py --start continues from the same files in PyTorch and
 *   ft-train --init-adapter follows it the same way; the new adapter's
 *   metadata names the new run's task, its config is the carried one's
 *   (but for the base's name).
 * - A real checkpoint: ../shared/data/llama2c/stories260K.bin (8 heads, 4 kv
 *   heads) on a token-id task (a cycle through 8 ids, 33 tokens a record,
 *   480 training and 64 held-out records). Its held-out loss is 9.2 nats a
 *   token before training (measured here by the engine); 60 updates of 8 x 32
 *   tokens at lr 1e-2 of a prefix of 8 through a projection of 64 bring it
 *   below the stated bound 5.0 (4.3 measured when this test was written; a
 *   frozen 64-wide model learns the token set through the prefix, not the
 *   successor rule). Loading the written adapter with -a's entry point gives
 *   the program's final held-out loss; the base tensors stay bit-identical
 *   while the engine back-propagates into the prefix; --init-adapter from
 *   the saved projected adapter (MLP included) resumes at the same loss.
 * Skips without PyTorch or the shared data, each part on its own. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "adapt/prefix.h"
#include "core/fsout.h"
#include "core/rng.h"
#include "data/records.h"
#include "model/checkpoint.h"
#include "model/safetensors.h"
#include "check.h"
#include "cycles.h"

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

/* A tensor as f32 (malloc'd), or NULL. */
static float *get(const ft_safetensors *st, const char *name, size_t *n)
{
    ft_err err;
    const ft_st_tensor *t = st ? ft_safetensors_find(st, name) : NULL;
    if (!t)
        return NULL;
    float *v = malloc(t->numel * sizeof *v);
    ft_safetensors_read_f32(st, t, v, &err);
    *n = t->numel;
    return v;
}

static int run(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Every number under key in a msgpack log, in order (up to max). */
static int log_values(const char *path, const char *key, double *out, int max)
{
    ft_err err;
    ft_record rec;
    int n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    ft_reader *r = ft_reader_open(fileno(f), path, 0, &err);
    while (r && ft_reader_next(r, &rec, &err) == 1) {
        const ft_field *e = ft_record_get(&rec, key);
        if (e && n < max && ft_field_num(e, &out[n], &err) == 0)
            n++;
    }
    ft_reader_free(r);
    fclose(f);
    return n;
}

/* --- Parity with the reference ---------------------------------------------- */

/* ft-train from the adapter init over the reference run in dir (its base,
 * records and hyper-parameters), into dir/out, checked against the
 * reference's trajectory after every update. */
static void follow(const char *dir, const char *init, const char *tag, int H)
{
    char cmd[8192], path[4096];
    json_error_t jerr;
    ft_err err;
    snprintf(path, sizeof path, "%s/trajectory.json", dir);
    json_t *traj = json_load_file(path, 0, &jerr);
    CHECK(traj != NULL);
    if (!traj)
        return;

    /* The reference's hyper-parameters as ft-train options; the length and
     * projection come from the adapter. */
    snprintf(cmd, sizeof cmd,
             "%s/ft-train -m %s/model --method ptuning --init-adapter %s "
             "--task lm --seq-len 8 -b 2 --grad-accum 2 --max-steps 10 --lr 0.01 "
             "--weight-decay 0.1 --warmup 3 --schedule cosine --clip %.17g --no-shuffle "
             "-j 1 -q --save-every 1 --keep 0 --checkpoint-dir %s/ckpt --log %s/log.mp "
             "-o %s/out < %s/data.mp",
             bin, dir, init, json_number_value(json_object_get(traj, "clip")), dir, dir, dir,
             dir);
    CHECK_MSG(run(cmd) == 0, "%s", cmd);

    json_t *names = json_object_get(traj, "trainable"), *log = json_object_get(traj, "log");
    for (int k = 1; k <= 10; k++) {
        snprintf(path, sizeof path, "%s/ckpt/step-%08d/state.safetensors", dir, k);
        ft_safetensors *ft = ft_safetensors_open(path, &err);
        snprintf(path, sizeof path, "%s/step-%d.safetensors", dir, k);
        ft_safetensors *ref = ft_safetensors_open(path, &err);
        CHECK_MSG(ft && ref, "%s: step %d files", tag, k);
        CHECK_MSG(ft && ft->n_tensors == 3 * (int)json_array_size(names),
                  "%s: step %d: %d tensors in the checkpoint", tag, k, ft ? ft->n_tensors : 0);
        json_t *drift = json_object_get(json_array_get(log, (size_t)k - 1),
                                        "f32_drift_by_tensor");
        for (size_t i = 0; ft && ref && i < json_array_size(names); i++) {
            const char *n = json_string_value(json_array_get(names, i));
            char pname[512];
            size_t na = 0, nb = 0;
            snprintf(pname, sizeof pname, "param.%s", n);
            float *a = get(ft, pname, &na), *b = get(ref, n, &nb);
            double tol = fmax(1e-4, 10 * json_number_value(json_object_get(drift, n)));
            double d = a && b && na == nb ? rel_diff(a, b, na) : 1;
            CHECK_MSG(d <= tol, "%s: step %d: %s differs by %.3g > %.3g", tag, k, n, d, tol);
            free(a);
            free(b);
        }
        ft_safetensors_close(ft);
        ft_safetensors_close(ref);
    }

    /* The logged losses, and the adapter written at the end. */
    double loss[10];
    snprintf(path, sizeof path, "%s/log.mp", dir);
    CHECK_INT(log_values(path, "loss", loss, 10), 10);
    for (int k = 0; k < 10; k++) {
        double want = json_number_value(json_object_get(json_array_get(log, (size_t)k),
                                                        "loss"));
        CHECK_MSG(fabs(loss[k] - want) <= 1e-5 * fabs(want), "%s: update %d: loss %.9g, "
                  "reference %.9g", tag, k + 1, loss[k], want);
    }
    snprintf(path, sizeof path, "%s/out/adapter_model.safetensors", dir);
    ft_safetensors *out = ft_safetensors_open(path, &err);
    snprintf(path, sizeof path, "%s/step-10.safetensors", dir);
    ft_safetensors *ref = ft_safetensors_open(path, &err);
    size_t na = 0, nb = 0;
    float *a = get(out, "prompt_embeddings", &na), *b = get(ref, "prompt_embeddings", &nb);
    CHECK_MSG(a && b && na == nb && rel_diff(a, b, na) <= 1e-4, "%s: written prefix", tag);
    CHECK(out && out->n_tensors == 1);
    free(a);
    free(b);
    ft_safetensors_close(out);
    ft_safetensors_close(ref);
    snprintf(path, sizeof path, "%s/out/prefix_encoder.safetensors", dir);
    CHECK_MSG((access(path, F_OK) == 0) == (H > 0), "%s: prefix_encoder.safetensors", tag);
    json_decref(traj);
}

/* Train once, carry over: the adapter ft wrote in dir/out (10 updates on the
 * reference's records), relabelled as if trained for another task (its
 * __metadata__ says classify, with labels), starts P-tuning on other records
 * of the same base. The reference (prefix_ref.py --start, reading the
 * adapter's files with its own parsers) continues from the same tensors on
 * those records; ft-train --init-adapter follows that trajectory, and the
 * new adapter describes the new run (task lm, no labels), its config is the
 * carried one's but for the base's name. */
static void carry_over(const char *dir, int H)
{
    char cmd[16384], src[512], b[512], path[600];
    ft_err err;
    snprintf(src, sizeof src, "%s/foreign", dir);
    snprintf(b, sizeof b, "%s/other", dir);
    snprintf(cmd, sizeof cmd,
             "cp -r %s/out %s && /usr/bin/python3 -c 'import sys; "
             "sys.path.insert(0, \"%s/tests/ref\"); import hfref; "
             "p = \"%s/adapter_model.safetensors\"; t, m = hfref.st_read(p); "
             "m.update(ft_task=\"classify\", ft_labels=\"negative,positive\"); "
             "hfref.st_write(p, [(n, t[n], \"F32\") for n in t], m)'",
             dir, src, root, src);
    CHECK_MSG(run(cmd) == 0, "%s", cmd);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/ref/prefix_ref.py --family llama "
             "--projection %d --data-seed 7 --start %s --out %s", root, H, src, b);
    CHECK_MSG(run(cmd) == 0, "%s", cmd);
    snprintf(cmd, sizeof cmd, "! cmp -s %s/data.mp %s/data.mp && cmp -s %s/model/model.safetensors "
             "%s/model/model.safetensors", dir, b, dir, b);
    CHECK_MSG(run(cmd) == 0, "the other run has other records on the same base");

    follow(b, src, "carried over", H);

    snprintf(path, sizeof path, "%s/out/adapter_model.safetensors", b);
    ft_safetensors *out = ft_safetensors_open(path, &err);
    const char *task = out ? ft_safetensors_meta(out, "ft_task") : NULL;
    CHECK_MSG(task && !strcmp(task, "lm"), "carried over: ft_task %s", task ? task : "(none)");
    CHECK(out && !ft_safetensors_meta(out, "ft_labels"));
    ft_safetensors_close(out);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c 'import json, sys; "
             "a, b = (json.load(open(p + \"/adapter_config.json\")) for p in sys.argv[1:]); "
             "assert b.pop(\"base_model_name_or_path\") == sys.argv[2][:-4] + \"/model\"; "
             "a.pop(\"base_model_name_or_path\"); assert a == b, (a, b)' %s %s/out", src, b);
    CHECK_MSG(run(cmd) == 0, "carried over: the config changed beyond the base's name");
}

static void parity(const char *family, int H)
{
    char dir[] = "/tmp/ft-pt-train-XXXXXX", cmd[8192], init[4096], tag[64];
    snprintf(tag, sizeof tag, "%s H %d", family, H);
    CHECK(mkdtemp(dir) != NULL);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/ref/prefix_ref.py --family %s "
             "--projection %d --out %s", root, family, H, dir);
    CHECK_MSG(run(cmd) == 0, "%s", cmd);
    snprintf(init, sizeof init, "%s/init_adapter", dir);
    follow(dir, init, tag, H);
    if (!strcmp(family, "llama"))
        carry_over(dir, H);
    if (check_failures == 0)
        ft_rmtree(dir);
}

/* --- stories260K -------------------------------------------------------------- */

static char sdir[] = "/tmp/ft-pt-stories-XXXXXX";

/* Mean held-out loss per token of m (+ prefix a, or none) over the records
 * written by write_cycles(n, 3, stream), each its own row. With grad, the
 * prefix's gradient is also computed (the base frozen). */
static double heldout(ft_model *m, ft_prefix_adapter *a, int n, uint64_t stream, int grad)
{
    ft_err err;
    ft_rng rng;
    int32_t tok[8 * 32], tgt[8 * 32];
    double sum_wce = 0, sum_w = 0;
    ft_rng_seed(&rng, 3, stream);
    for (int i = 0; i < m->n_tensors; i++)
        ft_model_set_trainable(m, i, 0);
    CHECK(ft_model_setup(m, 8, 32, a ? a->N : 0, grad, &err) == 0);
    for (int r0 = 0; r0 < n; r0 += 8) {
        for (int b = 0; b < 8; b++) {
            int s = (int)ft_rng_below(&rng, 8);
            for (int i = 0; i < 32; i++) {
                tok[b * 32 + i] = 60 + 37 * ((s + i) % 8);
                tgt[b * 32 + i] = 60 + 37 * ((s + i + 1) % 8);
            }
        }
        ft_batch bt = {.B = 8, .T = 32, .tokens = tok, .targets = tgt};
        bt.prefix = a ? ft_prefix_seam(a, NULL) : NULL;
        double x, y;
        if (grad) {
            CHECK(ft_model_step(m, &bt, 8 * 32, &x, &err) == 0);
            sum_wce += x * 8 * 32;
            sum_w += 8 * 32;
        } else {
            CHECK(ft_model_loss(m, &bt, NULL, &x, &y, &err) == 0);
            sum_wce += x;
            sum_w += y;
        }
    }
    if (grad && a)
        ft_prefix_backward(a);
    return sum_wce / sum_w;
}

static double train_stories(const char *model, const char *name, const char *opts)
{
    char cmd[16384], log[4200];
    double ev[16];
    snprintf(log, sizeof log, "%s/%s.log.mp", sdir, name);
    snprintf(cmd, sizeof cmd,
             "%s/ft-train -m %s --method ptuning %s --seq-len 32 -b 8 --no-pack --warmup 5 "
             "--weight-decay 0 --eval %s/eval.mp --log %s -j 1 -q -o %s/%s < %s/train.mp",
             bin, model, opts, sdir, log, sdir, name, sdir);
    CHECK_MSG(run(cmd) == 0, "%s", cmd);
    int n = log_values(log, "eval_loss", ev, 16);
    return n ? ev[n - 1] : NAN;
}

static void stories(const char *data)
{
    char model[4200], p[4200];
    ft_err err;
    snprintf(model, sizeof model, "%s/llama2c/stories260K.bin", data);
    if (access(model, R_OK) != 0) {
        printf("no %s: stories260K part skipped\n", model);
        return;
    }
    CHECK(mkdtemp(sdir) != NULL);
    snprintf(p, sizeof p, "%s/train.mp", sdir);
    write_cycles(p, 480, 3, 1);
    snprintf(p, sizeof p, "%s/eval.mp", sdir);
    write_cycles(p, 64, 3, 2);

    ft_model *m = ft_checkpoint_load(model, &err), *fresh = ft_checkpoint_load(model, &err);
    CHECK(m && fresh);
    if (!m || !fresh)
        return;
    double before = heldout(m, NULL, 64, 2, 0);
    CHECK_MSG(before > 8.0, "held-out loss before training %.4f (9.2 measured)", before);

    double after = train_stories(model, "proj", "--prefix-len 8 --prefix-projection 64 "
                                 "--max-steps 60 --lr 1e-2 --eval-every 20");
    printf("stories260K: held-out loss %.4f before, %.4f after P-tuning\n", before, after);
    CHECK_MSG(after < 5.0, "held-out loss %.4f after P-tuning, bound 5.0", after);

    /* The written adapter, applied as ft-gen -a does, gives that loss; the
     * engine's backward into the prefix leaves the base untouched. */
    snprintf(p, sizeof p, "%s/proj", sdir);
    ft_prefix_adapter *a = ft_prefix_apply(m, p, &err);
    CHECK_MSG(a && a->H == 64 && a->N == 8 && !a->peft_output_only, "%s", err.msg);
    if (a) {
        double again = heldout(m, a, 64, 2, 0);
        CHECK_MSG(fabs(again - after) <= 1e-5 * after, "applied adapter: %.6f, ft-train "
                  "%.6f", again, after);
        CHECK(ft_prefix_setup_train(a, &err) == 0);
        heldout(m, a, 64, 2, 1);
        double g = 0;
        for (size_t k = 0; k < a->n_params; k++)
            g += fabs(a->grads[k]);
        CHECK_MSG(g > 0, "no gradient reached the prefix");
        CHECK_MSG(!memcmp(m->params, fresh->params, m->n_params * sizeof *m->params),
                  "the base changed");
    }
    ft_prefix_free(a);

    /* --init-adapter from the saved projected adapter resumes at its loss:
     * one update at rate 0 changes nothing and evaluates it. */
    char opts[4400];
    snprintf(opts, sizeof opts, "--init-adapter %s/proj --max-steps 1 --lr 0 --eval-every 1",
             sdir);
    double resumed = train_stories(model, "again", opts);
    CHECK_MSG(fabs(resumed - after) <= 1e-5 * after, "resumed at %.6f, saved at %.6f",
              resumed, after);
    ft_model_free(m);
    ft_model_free(fresh);
    if (check_failures == 0)
        ft_rmtree(sdir);
}

int main(void)
{
    root = getenv("FT_ROOT");
    bin = getenv("FT_BIN");
    if (!root || !bin)
        CHECK_SKIP("FT_ROOT and FT_BIN are not set (run through make check)");
    const char *data = check_data_dir();
    int torch = system("/usr/bin/python3 -c 'import torch' 2>/dev/null") == 0;
    if (!torch && !data)
        CHECK_SKIP("no PyTorch for /usr/bin/python3 and no shared data");
    if (torch) {
        parity("llama", 8);
        parity("gpt2", 0);
    } else {
        printf("no PyTorch for /usr/bin/python3: parity part skipped\n");
    }
    if (data)
        stories(data);
    else
        printf("no shared data (FT_DATA_DIR): stories260K part skipped\n");
    return check_done();
}
