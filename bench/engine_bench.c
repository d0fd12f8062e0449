/* engine_bench: tokens/s and peak RSS of full training steps in ft, the same
 * work bench/torch_engine.py's "full" mode times: a Llama-style model
 * (tied classifier, RMSNorm, rotary, GQA, SwiGLU) with random weights, all
 * trainable; batches of 8 x 256 random tokens with next-token targets;
 * forward, backward and AdamW (no clipping, as the PyTorch side).
 *
 *   engine_bench SHAPE THREADS STEPS [WARMUP]   SHAPE: stories260K or stories15M
 *
 * Prints one TSV line: shape, threads, tokens/s, peak RSS in MiB, steps,
 * tokens per second of process CPU time (user + system, all threads). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/rng.h"
#include "core/threads.h"
#include "model/model.h"
#include "nn/optim.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const ft_err *err)
{
    fprintf(stderr, "engine_bench: %s\n", err->msg);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5 ||
        (strcmp(argv[1], "stories260K") && strcmp(argv[1], "stories15M"))) {
        fprintf(stderr, "usage: engine_bench stories260K|stories15M THREADS STEPS [WARMUP]\n");
        return 2;
    }
    int small = !strcmp(argv[1], "stories260K");
    int threads = atoi(argv[2]), steps = atoi(argv[3]), warmup = argc > 4 ? atoi(argv[4]) : 2;
    int B = 8, T = 256;
    ft_err err;

    /* The shape, as bench/torch_engine.py's SHAPES has it. */
    ft_config cfg = {.family = FT_FAMILY_LLAMA, .dim = small ? 64 : 288,
                     .hidden_dim = small ? 172 : 768, .n_layers = small ? 5 : 6,
                     .n_heads = small ? 8 : 6, .n_kv_heads = small ? 4 : 6,
                     .head_dim = small ? 8 : 48, .vocab_size = small ? 512 : 32000,
                     .max_pos = 1024, .norm_eps = 1e-5, .rope_theta = 10000, .tied = 1};
    strcpy(cfg.model_type, "llama");
    ft_threads_set(threads);
    if (ft_config_finish(&cfg, argv[1], &err) < 0)
        die(&err);
    ft_model *m = ft_model_new(&cfg, &err);
    if (!m)
        die(&err);
    ft_model_init_random(m, 1, 0.02f);
    if (ft_model_setup(m, B, T, 0, 1, &err) < 0)
        die(&err);

    /* AdamW on every tensor, torch's defaults but lr 1e-4. */
    ft_adamw opt;
    ft_adamw_init(&opt, 0.9, 0.999, 1e-8, 0.01);
    for (int i = 0; i < m->n_tensors; i++) {
        ft_tensor *t = &m->tensors[i];
        if (ft_adamw_add(&opt, ft_model_param(m, i), ft_model_grad(m, i), t->numel,
                         ft_optim_decays(t->ndim), &err) < 0)
            die(&err);
    }
    if (ft_adamw_alloc(&opt, &err) < 0)
        die(&err);

    /* Random tokens, next-token targets. */
    int32_t *tok = malloc((size_t)B * T * sizeof *tok), *tgt = malloc((size_t)B * T * 4);
    ft_rng r;
    ft_rng_seed(&r, 7, 0);
    for (int i = 0; i < B * T; i++)
        tok[i] = (int32_t)ft_rng_below(&r, cfg.vocab_size);
    for (int i = 0; i < B * T; i++)
        tgt[i] = (i + 1) % T ? tok[i + 1] : -1;
    ft_batch b = {.B = B, .T = T, .tokens = tok, .targets = tgt};

    double t0 = 0, c0 = 0, loss;
    for (int s = 0; s < warmup + steps; s++) {
        if (s == warmup) {
            t0 = now_s();
            c0 = cpu_s();
        }
        ft_model_zero_grads(m);
        if (ft_model_step(m, &b, ft_model_batch_denom(&b), &loss, &err) < 0)
            die(&err);
        ft_adamw_step(&opt, 1e-4);
    }
    double dt = now_s() - t0, dc = cpu_s() - c0;

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%s\t%d\t%.1f\t%.1f\t%d\t%.1f\n", argv[1], threads, (double)B * T * steps / dt,
           ru.ru_maxrss / 1024.0, steps, (double)B * T * steps / dc);
    ft_adamw_free(&opt);
    ft_model_free(m);
    free(tok);
    free(tgt);
    return 0;
}
