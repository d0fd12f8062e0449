/* ptuning_bench: tokens/s and peak RSS of P-tuning v2 training steps in ft,
 * the same work bench/torch_engine.py's "prefix" mode times: a Llama-style
 * model of the stories15M shape (dim 288, hidden 768, 6 layers, 6 heads,
 * vocab 32000, tied) with random weights, all frozen; a prefix of 16 keys
 * and values per layer and kv head; batches of 8 x 256 random tokens;
 * forward, backward and AdamW on the prefix only.
 *
 *   ptuning_bench THREADS STEPS [PREFIX_LEN [PROJECTION]]
 *
 * Prints one TSV line: threads, tokens/s, peak RSS in MiB, steps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "adapt/prefix.h"
#include "core/threads.h"
#include "model/model.h"
#include "nn/optim.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const ft_err *err)
{
    fprintf(stderr, "ptuning_bench: %s\n", err->msg);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: ptuning_bench THREADS STEPS [PREFIX_LEN [PROJECTION]]\n");
        return 2;
    }
    int threads = atoi(argv[1]), steps = atoi(argv[2]), warmup = 2;
    int P = argc > 3 ? atoi(argv[3]) : 16, H = argc > 4 ? atoi(argv[4]) : 0;
    int B = 8, T = 256;
    ft_err err;

    /* The stories15M shape, random and frozen. */
    ft_config cfg = {.family = FT_FAMILY_LLAMA, .dim = 288, .hidden_dim = 768,
                     .n_layers = 6, .n_heads = 6, .n_kv_heads = 6, .head_dim = 48, .vocab_size = 32000,
                     .max_pos = 1024, .norm_eps = 1e-5, .rope_theta = 10000, .tied = 1};
    strcpy(cfg.model_type, "llama");
    ft_threads_set(threads);
    if (ft_config_finish(&cfg, "stories15M shape", &err) < 0)
        die(&err);
    ft_model *m = ft_model_new(&cfg, &err);
    if (!m)
        die(&err);
    ft_model_init_random(m, 1, 0.02f);
    for (int i = 0; i < m->n_tensors; i++)
        ft_model_set_trainable(m, i, 0);

    ft_prefix_opts o = {.n_virtual = P, .projection = H};
    ft_prefix_adapter *a = ft_prefix_new(&m->cfg, &o, 1, &err);
    if (!a || ft_model_setup(m, B, T, P, 1, &err) < 0 || ft_prefix_setup_train(a, &err) < 0)
        die(&err);
    ft_adamw opt;
    ft_adamw_init(&opt, 0.9, 0.999, 1e-8, 0.01);
    for (int i = 0; i < a->n_t; i++)
        if (ft_adamw_add(&opt, a->t[i].param, a->t[i].grad, a->t[i].numel,
                         ft_optim_decays(a->t[i].ndim), &err) < 0)
            die(&err);
    if (ft_adamw_alloc(&opt, &err) < 0)
        die(&err);

    /* Random tokens, next-token targets. */
    int32_t *tok = malloc((size_t)B * T * sizeof *tok), *tgt = malloc((size_t)B * T * 4);
    ft_rng r;
    ft_rng_seed(&r, 7, 0);
    for (int i = 0; i < B * T; i++)
        tok[i] = (int32_t)ft_rng_below(&r, 32000);
    for (int i = 0; i < B * T; i++)
        tgt[i] = (i + 1) % T ? tok[i + 1] : -1;
    ft_batch b = {.B = B, .T = T, .tokens = tok, .targets = tgt};

    double t0 = 0, loss;
    for (int s = 0; s < warmup + steps; s++) {
        if (s == warmup)
            t0 = now_s();
        memset(a->grads, 0, a->n_params * sizeof *a->grads);
        b.prefix = ft_prefix_seam(a, NULL);
        if (ft_model_step(m, &b, ft_model_batch_denom(&b), &loss, &err) < 0)
            die(&err);
        ft_prefix_backward(a);
        ft_adamw_clip(&opt, 1.0);
        ft_adamw_step(&opt, 1e-3);
        ft_prefix_touch(a);
    }
    double dt = now_s() - t0;

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%d\t%.1f\t%.1f\t%d\n", threads, (double)B * T * steps / dt, ru.ru_maxrss / 1024.0,
           steps);
    ft_adamw_free(&opt);
    ft_prefix_free(a);
    ft_model_free(m);
    free(tok);
    free(tgt);
    return 0;
}
