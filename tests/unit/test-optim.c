/* test-optim: AdamW, clipping and schedules against values worked out by
 * hand from torch.optim.AdamW's and Hugging Face's formulas. */
#include "nn/optim.h"

#include <math.h>

#include "check.h"

/* Two tensors, two updates; lr 0.1, betas (0.9, 0.999), eps 1e-8, wd 0.1.
 * w = [1, -2] (a matrix: decays), b = [0.5] (a bias: does not).
 *
 * Update 1, g_w = [0.5, -0.25], g_b = [2]:
 *   decay: w *= 1 - 0.1 * 0.1 = 0.99        -> [0.99, -1.98]
 *   m = 0.1 g = [0.05, -0.025], [0.2]; v = 0.001 g^2 = [2.5e-4, 6.25e-5], [4e-3]
 *   bias corrections 1 - 0.9 = 0.1 and 1 - 0.999 = 0.001, so
 *   m / 0.1 = g and sqrt(v / 0.001) = |g|: each moves by 0.1 * |g| / (|g| + 1e-8)
 *   w = [0.99 - 0.1 * (1 - 2e-8), -1.98 + 0.1 * (1 - 4e-8)]
 *     = [0.890000002, -1.880000004];   b = 0.5 - 0.1 * (1 - 5e-9) = 0.4000000005
 *
 * Update 2, g_w = [0.5, 0.5], g_b = [-1]:
 *   decay: w = [0.8811000020, -1.8612000040]
 *   m = 0.9 m + 0.1 g = [0.095, 0.0275], [0.08]
 *   v = 0.999 v + 0.001 g^2 = [4.9975e-4, 3.124375e-4], [4.996e-3]
 *   corrections 1 - 0.81 = 0.19 and 1 - 0.998001 = 0.001999:
 *   w0: m^ = 0.5,          sqrt(v^) = sqrt(0.25) = 0.5      -> step 0.1
 *       0.8811000020 - 0.1 * 0.5 / (0.5 + 1e-8)   = 0.7811000040
 *   w1: m^ = 0.1447368421, sqrt(v^) = sqrt(0.1562968984) = 0.3953440252
 *       -1.8612000040 - 0.1 * 0.3661035... = -1.8978103557
 *   b:  m^ = 0.4210526316, sqrt(v^) = sqrt(2.4992496248) = 1.5809015228
 *       0.4000000005 - 0.1 * 0.2663337... = 0.3733662967 */
static void test_adamw(void)
{
    float w[2] = {1.0f, -2.0f}, gw[2] = {0.5f, -0.25f};
    float b[1] = {0.5f}, gb[1] = {2.0f};
    ft_adamw o;
    ft_err err;

    ft_adamw_init(&o, 0.9, 0.999, 1e-8, 0.1);
    CHECK(ft_adamw_add(&o, w, gw, 2, ft_optim_decays(2), &err) == 0);
    CHECK(ft_adamw_add(&o, b, gb, 1, ft_optim_decays(1), &err) == 0);
    CHECK(ft_adamw_alloc(&o, &err) == 0);
    CHECK_INT(o.n_elems, 3);
    CHECK_INT(o.slots[1].moment_offset, 2);

    ft_adamw_step(&o, 0.1);
    CHECK_REL(w[0], 0.890000002, 1e-6, 1e-6);
    CHECK_REL(w[1], -1.880000004, 1e-6, 1e-6);
    CHECK_REL(b[0], 0.4000000005, 1e-6, 1e-6);
    CHECK_REL(o.m[0], 0.05, 1e-6, 1e-6);
    CHECK_REL(o.v[1], 6.25e-5, 1e-6, 1e-9);
    CHECK_REL(o.v[2], 4e-3, 1e-6, 1e-9);
    CHECK_INT(o.t, 1);

    gw[0] = 0.5f, gw[1] = 0.5f, gb[0] = -1.0f;
    ft_adamw_step(&o, 0.1);
    CHECK_REL(w[0], 0.7811000040, 1e-6, 1e-6);
    CHECK_REL(w[1], -1.8978103557, 1e-6, 1e-6);
    CHECK_REL(b[0], 0.3733662967, 1e-6, 1e-6);
    CHECK_REL(o.m[1], 0.0275, 1e-6, 1e-6);
    CHECK_REL(o.v[0], 4.9975e-4, 1e-6, 1e-9);
    CHECK_REL(o.v[2], 4.996e-3, 1e-6, 1e-9);
    CHECK_INT(o.t, 2);

    ft_adamw_free(&o);
}

/* Gradients [3, 4] and [0]: norm 5. Clipping to 1 scales by 1 / (5 + 1e-6),
 * giving [0.6, 0.8] to 1e-6; clipping to 10 changes nothing. */
static void test_clip(void)
{
    float p[3] = {0}, g[3] = {3.0f, 4.0f, 0.0f};
    ft_adamw o;
    ft_err err;

    ft_adamw_init(&o, 0.9, 0.999, 1e-8, 0.0);
    CHECK(ft_adamw_add(&o, p, g, 2, 1, &err) == 0);
    CHECK(ft_adamw_add(&o, p + 2, g + 2, 1, 0, &err) == 0);
    CHECK(ft_adamw_alloc(&o, &err) == 0);
    CHECK_REL(ft_adamw_clip(&o, 10.0), 5.0, 1e-12, 1);
    CHECK(g[0] == 3.0f && g[1] == 4.0f);
    CHECK_REL(ft_adamw_clip(&o, 1.0), 5.0, 1e-12, 1);
    CHECK_REL(g[0], 0.6 / (1 + 2e-7), 1e-7, 1);
    CHECK_REL(g[1], 0.8 / (1 + 2e-7), 1e-7, 1);
    CHECK_REL(ft_adamw_grad_norm(&o), 1.0, 1e-6, 1);

    /* A non-finite gradient is reported, never spread. */
    g[2] = NAN;
    CHECK(isnan(ft_adamw_clip(&o, 1.0)));
    ft_adamw_free(&o);
}

/* A long gradient (several norm chunks) sums to the exact value:
 * 100000 elements of 0.5 have norm sqrt(25000) = 158.113883. */
static void test_norm_chunks(void)
{
    static float p[100000], g[100000];
    ft_adamw o;
    ft_err err;

    for (int i = 0; i < 100000; i++)
        g[i] = 0.5f;
    ft_adamw_init(&o, 0.9, 0.999, 1e-8, 0.0);
    CHECK(ft_adamw_add(&o, p, g, 100000, 1, &err) == 0);
    CHECK(ft_adamw_alloc(&o, &err) == 0);
    CHECK_REL(ft_adamw_grad_norm(&o), 158.11388300841898, 1e-12, 1);
    ft_adamw_free(&o);
}

/* Hugging Face's schedules, worked out from their formulas. */
static void test_schedules(void)
{
    ft_sched cos = {FT_SCHED_COSINE, 2, 10};
    ft_sched lin = {FT_SCHED_LINEAR, 2, 10};
    ft_sched con = {FT_SCHED_CONSTANT, 4, 10};
    ft_sched cos0 = {FT_SCHED_COSINE, 0, 4};

    /* Warm-up: 0/2, 1/2, then the decay starts at 1. */
    CHECK(ft_sched_factor(&cos, 0) == 0.0);
    CHECK(ft_sched_factor(&cos, 1) == 0.5);
    CHECK(ft_sched_factor(&cos, 2) == 1.0);
    /* Cosine at progress 2/8: 0.5 (1 + cos(pi/4)) = 0.853553390593; at 4/8:
     * 0.5; at 8/8 and beyond: 0. */
    CHECK_REL(ft_sched_factor(&cos, 4), 0.8535533905932737, 1e-12, 1);
    CHECK_REL(ft_sched_factor(&cos, 6), 0.5, 1e-12, 1);
    CHECK_REL(ft_sched_factor(&cos, 10), 0.0, 1e-12, 1);
    CHECK(ft_sched_factor(&cos, 12) >= 0.0);
    /* Without warm-up the first update has the full rate; at progress 1/4:
     * 0.5 (1 + cos(pi/4)). */
    CHECK(ft_sched_factor(&cos0, 0) == 1.0);
    CHECK_REL(ft_sched_factor(&cos0, 1), 0.8535533905932737, 1e-12, 1);
    /* Linear: (10 - step) / 8 after warm-up, never below 0. */
    CHECK(ft_sched_factor(&lin, 1) == 0.5);
    CHECK_REL(ft_sched_factor(&lin, 6), 0.5, 1e-12, 1);
    CHECK_REL(ft_sched_factor(&lin, 2), 1.0, 1e-12, 1);
    CHECK(ft_sched_factor(&lin, 12) == 0.0);
    /* Constant with warm-up 4: 0.25 at step 1, then 1. */
    CHECK(ft_sched_factor(&con, 1) == 0.25);
    CHECK(ft_sched_factor(&con, 5) == 1.0);

    CHECK_INT(ft_sched_parse("cosine"), FT_SCHED_COSINE);
    CHECK_INT(ft_sched_parse("linear"), FT_SCHED_LINEAR);
    CHECK_INT(ft_sched_parse("constant"), FT_SCHED_CONSTANT);
    CHECK_INT(ft_sched_parse("cos"), -1);
    CHECK_STR(ft_sched_name(FT_SCHED_LINEAR), "linear");
}

int main(void)
{
    test_adamw();
    test_clip();
    test_norm_chunks();
    test_schedules();
    return check_done();
}
