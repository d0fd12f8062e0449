/* test-prefix: P-tuning v2 prefixes (lib/adapt/prefix.h).
 *
 * - Finite differences: the gradient of a quadratic function of the seam's
 *   keys and values, pushed back through the layout, the dropout mask and
 *   the projection MLP, against central differences of the same function.
 * - PyTorch parity: tests/ref/prefix_ref.py (its own random base and PEFT
 *   prefix) for Llama with grouped-query attention and GPT-2, with and
 *   without projection: ft's logits with the reference's init_adapter equal
 *   the reference's (the hand-made prefix in PEFT's layout), and ten AdamW
 *   updates of the prefix (warm-up, cosine, clipping, accumulation 2, the
 *   base frozen) driven here from the reference's own micro-batches follow
 *   the float64 trajectory within max(1e-4, 10 x float32 drift) per tensor.
 * - Files: saving the reference's adapter again gives PEFT's config text and
 *   the same tensors; a PEFT-style projected adapter without the MLP loads
 *   for inference only.
 * - Bad input: wrong prefix length or projection asked for, a prefix for
 *   another model width or layer count, a prefix longer than the context.
 * Skips the PyTorch parts when /usr/bin/python3 has no torch. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapt/adapter.h"
#include "adapt/prefix.h"
#include "core/fsout.h"
#include "model/checkpoint.h"
#include "model/safetensors.h"
#include "nn/optim.h"
#include "check.h"
#include "tinymodel.h"

static const char *root;

/* --- Finite differences ---------------------------------------------------- */

/* f = Σ c_k·kv_k + ½ Σ kv_k², in double, from a fresh fill with the mask
 * drawn from the same seed. */
static double fd_loss(ft_prefix_adapter *a, const float *c)
{
    ft_rng r;
    ft_rng_seed(&r, 5, 0);
    ft_prefix_touch(a);
    ft_prefix *s = ft_prefix_seam(a, &r);
    double f = 0;
    for (size_t k = 0; k < (size_t)a->W * a->N; k++)
        f += c[k] * (double)s->kv[k] + 0.5 * (double)s->kv[k] * s->kv[k];
    return f;
}

static void finite_differences(int H, double dropout)
{
    ft_config cfg = {.n_layers = 2, .n_kv_heads = 2, .head_dim = 3, .max_pos = 16};
    ft_prefix_opts o = {.n_virtual = 3, .projection = H, .dropout = dropout};
    ft_err err;
    ft_prefix_adapter *a = ft_prefix_new(&cfg, &o, 11, &err);
    CHECK(a && ft_prefix_setup_train(a, &err) == 0);
    if (!a)
        return;
    size_t n_kv = (size_t)a->W * a->N;
    CHECK_INT(a->W, 2 * 2 * 6);
    float *c = malloc(n_kv * sizeof *c);
    for (size_t k = 0; k < n_kv; k++)
        c[k] = (float)sin(0.7 * k + 0.3);

    /* analytic: df/dkv = c + kv, into the seam, then backward */
    ft_rng r;
    ft_rng_seed(&r, 5, 0);
    ft_prefix_touch(a);
    ft_prefix *s = ft_prefix_seam(a, &r);
    for (size_t k = 0; k < n_kv; k++)
        s->grad[k] += c[k] + s->kv[k];
    ft_prefix_backward(a);

    double worst = 0;
    int n_dropped = 0;
    for (size_t k = 0; dropout > 0 && k < n_kv; k++)
        n_dropped += a->mask[k] == 0;
    for (size_t k = 0; k < a->n_params; k++) {
        float save = a->params[k];
        double h = 1e-2 * fmax(1, fabs(save));
        a->params[k] = (float)(save + h);
        double hp = a->params[k] - (double)save;
        double fp = fd_loss(a, c);
        a->params[k] = (float)(save - h);
        double hm = (double)save - a->params[k];
        double fm = fd_loss(a, c);
        a->params[k] = save;
        double num = (fp - fm) / (hp + hm);
        double d = fabs(num - a->grads[k]) / fmax(1, fabs(num));
        worst = fmax(worst, d);
    }
    CHECK_MSG(worst < 2e-3, "H %d dropout %g: finite differences differ by %.3g", H, dropout,
              worst);
    if (dropout > 0)
        CHECK_MSG(n_dropped > 0 && n_dropped < (int)n_kv, "dropout masked %d of %zu",
                  n_dropped, n_kv);
    free(c);
    ft_prefix_free(a);
}

/* --- Hard prompt ------------------------------------------------------------ */

static void hard_prompt(int family)
{
    ft_config c;
    ft_err err;
    enum { N = 5, T = 6, V = 13 };
    const int32_t text[N] = {3, 1, 4, 1, 5}, row[T] = {9, 2, 6, 5, 3, 5};
    int32_t both[N + T];

    tiny_config(&c, family, 16, 24, 3, family == FT_FAMILY_GPT2 ? 4 : 2, 4, V, 32);
    c.tied = 0;
    ft_model *m = tiny_model(&c, 3, 0.4f);
    CHECK(m != NULL);
    if (!m)
        return;

    /* the plain pass over text + row: logits at the row's positions */
    float *plain = malloc((size_t)(N + T) * V * sizeof *plain);
    float *with = malloc((size_t)T * V * sizeof *with);
    memcpy(both, text, sizeof text);
    memcpy(both + N, row, sizeof row);
    ft_batch b = {1, N + T, both, NULL, NULL, NULL};
    CHECK(ft_model_setup(m, 1, N + T, 0, 0, &err) == 0 &&
          ft_model_logits(m, &b, NULL, plain, &err) == 0);

    /* the row alone after a prefix started from the text */
    ft_prefix_opts o = {.n_virtual = N, .projection = 0, .dropout = 0};
    ft_prefix_adapter *a = ft_prefix_new(&m->cfg, &o, 1, &err);
    CHECK(a && ft_prefix_init_tokens(a, m, text, N, &err) == 0);
    ft_batch r = {1, T, row, NULL, NULL, a ? ft_prefix_seam(a, NULL) : NULL};
    CHECK(ft_model_setup(m, 1, T, N, 0, &err) == 0 &&
          ft_model_logits(m, &r, NULL, with, &err) == 0);

    double worst = 0, scale = 0;
    for (size_t k = 0; k < (size_t)T * V; k++) {
        worst = fmax(worst, fabs(with[k] - plain[(size_t)N * V + k]));
        scale = fmax(scale, fabs(plain[(size_t)N * V + k]));
    }
    CHECK_MSG(scale > 0.1 && worst <= 1e-5 * scale, "%s: prefix vs plain logits differ by %.3g "
              "(largest %.3g)", c.model_type, worst, scale);

    /* and the text changes them (the check above is not empty) */
    ft_prefix_opts o2 = o;
    ft_prefix_adapter *rnd = ft_prefix_new(&m->cfg, &o2, 1, &err);
    ft_batch r2 = {1, T, row, NULL, NULL, rnd ? ft_prefix_seam(rnd, NULL) : NULL};
    CHECK(rnd && ft_model_logits(m, &r2, NULL, with, &err) == 0);
    double moved = 0;
    for (size_t k = 0; k < (size_t)T * V; k++)
        moved = fmax(moved, fabs(with[k] - plain[(size_t)N * V + k]));
    CHECK_MSG(moved > 100 * worst + 1e-3, "%s: a random prefix gives the same logits",
              c.model_type);

    /* a projected prefix or another length is refused */
    ft_prefix_opts op = {.n_virtual = N, .projection = 4, .dropout = 0};
    ft_prefix_adapter *proj = ft_prefix_new(&m->cfg, &op, 1, &err);
    CHECK(proj && ft_prefix_init_tokens(proj, m, text, N, &err) < 0 &&
          strstr(err.msg, "projection"));
    CHECK(a && ft_prefix_init_tokens(a, m, text, N - 1, &err) < 0 &&
          strstr(err.msg, "4 tokens, the prefix 5"));
    ft_prefix_free(proj);
    ft_prefix_free(rnd);
    ft_prefix_free(a);
    ft_model_free(m);
    free(plain);
    free(with);
}

/* --- PyTorch parity -------------------------------------------------------- */

static double rel_diff(const float *a, const float *b, size_t n)
{
    double d = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    return scale > 0 ? d / scale : d;
}

static float *read_all(const ft_safetensors *st, const char *name, size_t *n)
{
    ft_err err;
    const ft_st_tensor *t = ft_safetensors_find(st, name);
    if (!t)
        return NULL;
    float *v = malloc(t->numel * sizeof *v);
    if (t->dtype == FT_DTYPE_I32) {
        memcpy(v, t->data, t->n_bytes);
    } else if (ft_safetensors_read_f32(st, t, v, &err) < 0) {
        free(v);
        return NULL;
    }
    if (n)
        *n = t->numel;
    return v;
}

/* step-K's tensors against a's. */
static void compare_step(const char *dir, int k, ft_prefix_adapter *a, json_t *traj,
                         const char *tag)
{
    char path[4096];
    ft_err err;
    snprintf(path, sizeof path, "%s/step-%d.safetensors", dir, k);
    ft_safetensors *ref = ft_safetensors_open(path, &err);
    CHECK_MSG(ref != NULL, "%s: %s", tag, path);
    if (!ref)
        return;
    json_t *drift = json_object_get(json_array_get(json_object_get(traj, "log"),
                                                   (size_t)k - 1), "f32_drift_by_tensor");
    for (int i = 0; i < a->n_t; i++) {
        size_t n = 0;
        float *r = read_all(ref, a->t[i].name, &n);
        CHECK_MSG(r && n == a->t[i].numel, "%s: step %d: %s missing", tag, k,
                  a->t[i].name);
        double tol = fmax(1e-4, 10 * json_number_value(json_object_get(drift,
                                                                       a->t[i].name)));
        double d = r && n == a->t[i].numel ? rel_diff(a->t[i].param, r, n) : 1;
        CHECK_MSG(d <= tol, "%s: step %d: %s differs by %.3g > %.3g", tag, k, a->t[i].name,
                  d, tol);
        free(r);
    }
    /* With projection, also the MLP's output (what PEFT would save). */
    if (a->H) {
        size_t n = 0;
        float *r = read_all(ref, "prompt_embeddings", &n);
        ft_prefix_seam(a, NULL);
        double d = r && n == (size_t)a->N * a->W ? rel_diff(a->pe, r, n) : 1;
        CHECK_MSG(d <= 1e-4, "%s: step %d: prompt_embeddings differ by %.3g", tag, k, d);
        free(r);
    }
    ft_safetensors_close(ref);
}

/* Ten updates of the prefix alone, as the reference's loop does them. */
static void train_like_reference(const char *dir, ft_model *m, ft_prefix_adapter *a,
                                 json_t *traj, const char *tag)
{
    char path[4096];
    ft_err err;
    snprintf(path, sizeof path, "%s/batches.safetensors", dir);
    ft_safetensors *bs = ft_safetensors_open(path, &err);
    CHECK(bs != NULL);
    if (!bs)
        return;
    const ft_st_tensor *tk = ft_safetensors_find(bs, "tokens");
    int S = (int)tk->shape[0], A = (int)tk->shape[1], B = (int)tk->shape[2];
    int T = (int)tk->shape[3];
    int32_t *tokens = (int32_t *)read_all(bs, "tokens", NULL);
    int32_t *targets = (int32_t *)read_all(bs, "targets", NULL);
    float *weights = read_all(bs, "weights", NULL);

    for (int i = 0; i < m->n_tensors; i++)
        ft_model_set_trainable(m, i, 0);
    CHECK(ft_model_setup(m, B, T, a->N, 1, &err) == 0);
    CHECK(ft_prefix_setup_train(a, &err) == 0);

    ft_adamw opt;
    ft_adamw_init(&opt, 0.9, 0.999, 1e-8, json_number_value(json_object_get(traj,
                                                                            "weight_decay")));
    for (int i = 0; i < a->n_t; i++)
        ft_adamw_add(&opt, a->t[i].param, a->t[i].grad, a->t[i].numel,
                     ft_optim_decays(a->t[i].ndim), &err);
    CHECK(ft_adamw_alloc(&opt, &err) == 0);
    ft_sched sch = {ft_sched_parse(json_string_value(json_object_get(traj, "schedule"))),
                    json_integer_value(json_object_get(traj, "warmup")), S};
    double lr = json_number_value(json_object_get(traj, "lr"));
    double clip = json_number_value(json_object_get(traj, "clip"));

    for (int k = 0; k < S; k++) {
        ft_batch b[16];
        double denom = 0, loss = 0, part;
        memset(a->grads, 0, a->n_params * sizeof *a->grads);
        for (int j = 0; j < A; j++) {
            size_t off = ((size_t)k * A + j) * B;
            b[j] = (ft_batch){.B = B, .T = T, .tokens = tokens + off * T,
                              .targets = targets + off * T, .weights = weights + off};
            denom += ft_model_batch_denom(&b[j]);
        }
        for (int j = 0; j < A; j++) {
            b[j].prefix = ft_prefix_seam(a, NULL);
            CHECK(ft_model_step(m, &b[j], denom, &part, &err) == 0);
            loss += part;
        }
        ft_prefix_backward(a);
        double want = json_number_value(json_object_get(
            json_array_get(json_object_get(traj, "log"), (size_t)k), "loss"));
        CHECK_MSG(fabs(loss - want) <= 1e-5 * fabs(want), "%s: update %d: loss %.9g, "
                  "reference %.9g", tag, k + 1, loss, want);
        ft_adamw_clip(&opt, clip);
        ft_adamw_step(&opt, lr * ft_sched_factor(&sch, k));
        ft_prefix_touch(a);
        compare_step(dir, k + 1, a, traj, tag);
    }
    ft_adamw_free(&opt);
    free(tokens);
    free(targets);
    free(weights);
    ft_safetensors_close(bs);
}

/* Saving the loaded init_adapter again gives the reference's files. */
static void compare_saved(const char *dir, ft_prefix_adapter *a, const char *tag)
{
    char src[4096], dst[4096], out[4096];
    ft_err err;
    snprintf(out, sizeof out, "%s/resaved", dir);
    CHECK(ft_prefix_save(a, out, 0, "model", NULL, &err) == 0);
    CHECK_MSG(ft_prefix_save(a, out, 0, "model", NULL, &err) < 0, "%s: overwrote", tag);

    /* PEFT's config: same text, bar json.dump's trailing newline */
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    snprintf(src, sizeof src, "%s/init_adapter/adapter_config.json", dir);
    CHECK(snprintf(dst, sizeof dst, "%s/adapter_config.json", out) < (int)sizeof dst);
    CHECK(ft_read_file(src, 1 << 20, &x, &nx, &err) == 0);
    CHECK(ft_read_file(dst, 1 << 20, &y, &ny, &err) == 0);
    while (x && nx && x[nx - 1] == '\n')
        x[--nx] = 0;
    CHECK_MSG(x && y && !strcmp(x, y), "%s: config\n%s\nvs reference\n%s", tag, y, x);
    free(x);
    free(y);

    /* tensors bit for bit (the same f32 values) */
    const char *files[2] = {"adapter_model.safetensors", "prefix_encoder.safetensors"};
    for (int f = 0; f < (a->H ? 2 : 1); f++) {
        snprintf(src, sizeof src, "%s/init_adapter/%s", dir, files[f]);
        CHECK(snprintf(dst, sizeof dst, "%s/%s", out, files[f]) < (int)sizeof dst);
        ft_safetensors *s1 = ft_safetensors_open(src, &err), *s2 = ft_safetensors_open(dst,
                                                                                   &err);
        CHECK_MSG(s1 && s2 && s1->n_tensors == s2->n_tensors, "%s: %s", tag, files[f]);
        for (int i = 0; s1 && s2 && i < s1->n_tensors; i++) {
            const ft_st_tensor *t = ft_safetensors_find(s2, s1->tensors[i].name);
            CHECK_MSG(t && t->n_bytes == s1->tensors[i].n_bytes &&
                      !memcmp(t->data, s1->tensors[i].data, t->n_bytes), "%s: %s: %s",
                      tag, files[f], s1->tensors[i].name);
        }
        ft_safetensors_close(s1);
        ft_safetensors_close(s2);
    }
}

static void parity(const char *family, int H)
{
    char dir[] = "/tmp/ft-prefix-XXXXXX", cmd[8192], path[4096], tag[64];
    ft_err err;
    json_error_t jerr;
    snprintf(tag, sizeof tag, "%s H %d", family, H);
    CHECK(mkdtemp(dir) != NULL);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/ref/prefix_ref.py --family %s "
             "--projection %d --out %s", root, family, H, dir);
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
    snprintf(path, sizeof path, "%s/trajectory.json", dir);
    json_t *traj = json_load_file(path, 0, &jerr);
    snprintf(path, sizeof path, "%s/model", dir);
    ft_model *m = ft_checkpoint_load(path, &err);
    snprintf(path, sizeof path, "%s/init_adapter", dir);
    ft_prefix_opts o = {.n_virtual = 4, .projection = H};
    ft_prefix_adapter *a = m ? ft_prefix_load(&m->cfg, path, &o, &err) : NULL;
    CHECK_MSG(traj && m && a, "%s: %s", tag, err.msg);
    if (!traj || !m || !a)
        goto out;

    /* Logits before training: base + the PEFT-layout prefix. */
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    ft_safetensors *ex = ft_safetensors_open(path, &err);
    const ft_st_tensor *tk = ex ? ft_safetensors_find(ex, "tokens") : NULL;
    CHECK(tk != NULL);
    if (tk) {
        int B = (int)tk->shape[0], T = (int)tk->shape[1];
        size_t n;
        int32_t *tokens = (int32_t *)read_all(ex, "tokens", NULL);
        float *want = read_all(ex, "logits", &n);
        float *got = malloc(n * sizeof *got);
        CHECK(ft_model_setup(m, B, T, a->N, 0, &err) == 0);
        ft_batch b = {.B = B, .T = T, .tokens = tokens, .prefix = ft_prefix_seam(a, NULL)};
        CHECK(ft_model_logits(m, &b, NULL, got, &err) == 0);
        double d = rel_diff(got, want, n);
        CHECK_MSG(d <= 1e-5, "%s: logits differ by %.3g", tag, d);
        free(tokens);
        free(want);
        free(got);
    }
    ft_safetensors_close(ex);

    compare_saved(dir, a, tag);
    train_like_reference(dir, m, a, traj, tag);
out:
    ft_prefix_free(a);
    ft_model_free(m);
    json_decref(traj);
    ft_rmtree(dir);
}

/* --- Bad input ------------------------------------------------------------- */

static void expect_error(const ft_config *cfg, const char *dir, int N, int H,
                         const char *want)
{
    ft_err err = {0};
    ft_prefix_opts o = {.n_virtual = N, .projection = H};
    ft_prefix_adapter *a = ft_prefix_load(cfg, dir, &o, &err);
    CHECK_MSG(!a && strstr(err.msg, want), "load N %d H %d: got \"%s\", want \"%s\"", N, H,
              a ? "success" : err.msg, want);
    ft_prefix_free(a);
}

static void bad_input(void)
{
    char dir[] = "/tmp/ft-prefix-bad-XXXXXX", cmd[8192], path[4096];
    ft_err err = {0};
    CHECK(mkdtemp(dir) != NULL);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/ref/prefix_ref.py --family llama "
             "--projection 8 --steps 1 --out %s/l && /usr/bin/python3 %s/tests/ref/"
             "prefix_ref.py --family gpt2 --steps 1 --out %s/g", root, dir, root, dir);
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
    snprintf(path, sizeof path, "%s/l/model", dir);
    ft_model *ml = ft_checkpoint_load(path, &err);
    snprintf(path, sizeof path, "%s/g/model", dir);
    ft_model *mg = ft_checkpoint_load(path, &err);
    CHECK(ml && mg);
    if (!ml || !mg)
        goto out;
    char la[4096], ga[4096];
    snprintf(la, sizeof la, "%s/l/init_adapter", dir);
    snprintf(ga, sizeof ga, "%s/g/init_adapter", dir);

    /* length and projection that do not fit: both values named */
    expect_error(&ml->cfg, la, 6, 8, "has 4 virtual tokens, 6 were asked for");
    expect_error(&ml->cfg, la, 4, 16, "projection of 8, a projection of 16 was asked");
    expect_error(&ml->cfg, la, 4, 0, "projection of 8, none was asked for");
    expect_error(&mg->cfg, ga, 4, 8, "no projection, a projection of 8 was asked for");
    /* a prefix for another model: GPT-2's 64-wide keys in 4 heads vs 32 in 2 */
    expect_error(&ml->cfg, ga, -1, -1, "prefix is 64 wide in 4 heads, the model's keys 32 "
                 "in 2 kv heads");
    ft_config c3 = mg->cfg;
    c3.n_layers = 3;
    expect_error(&c3, ga, -1, -1, "the prefix has 2 layers, the model 3");
    /* a LoRA adapter is not a prefix */
    snprintf(path, sizeof path, "%s/lora", dir);
    CHECK(snprintf(cmd, sizeof cmd, "mkdir -p %s && printf '{\"peft_type\": \"LORA\"}' > "
             "%s/adapter_config.json", path, path) < (int)sizeof cmd);
    CHECK(system(cmd) == 0);
    expect_error(&ml->cfg, path, -1, -1, "\"peft_type\" is LORA, not \"PREFIX_TUNING\"");

    /* the kind dispatch of -a and --init-adapter */
    CHECK_INT(ft_adapter_kind(path, &err), FT_ADAPTER_LORA);
    CHECK_INT(ft_adapter_kind(la, &err), FT_ADAPTER_PREFIX);
    snprintf(cmd, sizeof cmd, "printf '{\"peft_type\": \"IA3\"}' > %s/adapter_config.json",
             path);
    CHECK(system(cmd) == 0);
    CHECK(ft_adapter_kind(path, &err) < 0 && strstr(err.msg, "peft_type IA3 are not"));
    CHECK(ft_adapter_kind(dir, &err) < 0 && strstr(err.msg, "adapter_config.json"));

    /* a prefix longer than the context (64 positions) */
    ft_prefix_opts o = {.n_virtual = 64, .projection = 0};
    ft_prefix_adapter *a = ft_prefix_new(&ml->cfg, &o, 1, &err);
    CHECK_MSG(!a && strstr(err.msg, "64 virtual tokens leaves no room in the model's context "
                           "of 64"), "got \"%s\"", a ? "success" : err.msg);
    ft_prefix_free(a);
    o.n_virtual = 63;
    a = ft_prefix_new(&ml->cfg, &o, 1, &err);
    CHECK(a != NULL);
    ft_prefix_free(a);

    /* PEFT's own projected adapter (no MLP file): inference yes, training no */
    CHECK(snprintf(path, sizeof path, "%s/prefix_encoder.safetensors", la) < (int)sizeof path);
    CHECK(unlink(path) == 0);
    a = ft_prefix_apply(ml, la, &err);
    CHECK_MSG(a && a->peft_output_only && a->H == 0, "%s", err.msg);
    CHECK(a && ft_prefix_setup_train(a, &err) < 0 && strstr(err.msg, "cannot be trained"));
    ft_prefix_free(a);
    expect_error(&ml->cfg, la, 4, 8, "holds only its projection's output");

    /* a damaged tensor shape */
    CHECK(snprintf(cmd, sizeof cmd, "cp %s/adapter_model.safetensors %s/x && sed -i "
             "'s/\"num_virtual_tokens\": 4/\"num_virtual_tokens\": 5/' "
             "%s/adapter_config.json", ga, dir, ga) < (int)sizeof cmd);
    CHECK(system(cmd) == 0);
    expect_error(&mg->cfg, ga, -1, -1, "prompt_embeddings is 4 x 256, this model needs 5 x "
                 "256");
out:
    ft_model_free(ml);
    ft_model_free(mg);
    ft_rmtree(dir);
}

int main(void)
{
    finite_differences(0, 0);
    finite_differences(5, 0);
    finite_differences(5, 0.3);
    finite_differences(0, 0.5);
    hard_prompt(FT_FAMILY_LLAMA);
    hard_prompt(FT_FAMILY_GPT2);

    root = getenv("FT_ROOT");
    if (!root)
        root = ".";
    if (system("/usr/bin/python3 -c 'import torch' 2>/dev/null") != 0) {
        if (check_done())
            return 1;
        CHECK_SKIP("no PyTorch for /usr/bin/python3: reference parts skipped");
    }
    parity("llama", 0);
    parity("llama", 8);
    parity("gpt2", 0);
    parity("gpt2", 8);
    bad_input();
    return check_done();
}
