/* Generation in batches gives every row the bits it gets alone.
 *
 * - nn/rowmm: each row of a product equals the same row computed alone
 *   (copied to another address) and with 1 or 2 threads, bit for bit, for
 *   widths with and without a tail past the 16 lanes, with bias and add;
 *   and every entry is within 1e-5 of a double-precision sum written here
 *   (relative to Σ|x·w| + |bias| + |old|).
 * - model: tiny random Llama (grouped-query, q/k/v biases, a LoRA adapter
 *   with random B) and GPT-2 (learned positions), with and without a
 *   P-tuning prefix. Six prompts of 5, 1, 8, 3, 2 and 6 tokens, each fed
 *   6, 2, 4, 0, 5 and 3 more tokens: the logits of every step with a KV
 *   cache per row,
 *   the rows decoded together and dropping out as their tokens run out,
 *   must equal (memcmp) those of the row alone on the engine's single-row
 *   cache, with 1 and 2 threads. The row alone must agree within 1e-4 with
 *   the whole sequence run without a cache (right positions, right cache
 *   entries: a wrong one is off by O(1)).
 * - sampling: ft_sample_generate_rows on those prompts (temperature 1, two
 *   EOS ids and a stop sequence, so rows end at different steps) gives each
 *   row the tokens ft_sample_generate gives it alone with its seed. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "adapt/lora.h"
#include "check.h"
#include "tinymodel.h"
#include "core/rng.h"
#include "core/threads.h"
#include "model/model.h"
#include "model/sample.h"
#include "nn/rowmm.h"

static ft_rng rng;

static float uniform(void)
{
    return (float)(2 * ft_rng_uniform(&rng) - 1);
}

/* --- rowmm ------------------------------------------------------------------ */

static void test_rowmm(int C, int OC, int add, int with_bias)
{
    enum { N = 11 };
    float *x = malloc((N * C + 1) * sizeof *x), *w = malloc((size_t)OC * C * sizeof *w);
    float *bias = malloc(OC * sizeof *bias), *old = malloc((size_t)N * OC * sizeof *old);
    float *y = malloc((size_t)N * OC * sizeof *y),
          *y2 = malloc((size_t)N * OC * sizeof *y2);
    float *one = malloc((OC + 1) * sizeof *one), *xr = malloc((C + 1) * sizeof *xr);
    const float *b = with_bias ? bias : NULL;

    for (int i = 0; i < N * C; i++)
        x[i] = uniform();
    for (int i = 0; i < OC * C; i++)
        w[i] = uniform();
    for (int i = 0; i < OC; i++)
        bias[i] = uniform();
    for (int i = 0; i < N * OC; i++)
        old[i] = uniform();

    /* the whole batch, on 2 threads and on 1 */
    ft_threads_set(2);
    memcpy(y, old, (size_t)N * OC * sizeof *y);
    ft_rowmm_forward(y, OC, x, w, b, N, C, OC, add);
    ft_threads_set(1);
    memcpy(y2, old, (size_t)N * OC * sizeof *y2);
    ft_rowmm_forward(y2, OC, x, w, b, N, C, OC, add);
    CHECK_MSG(!memcmp(y, y2, (size_t)N * OC * sizeof *y), "C %d OC %d: threads differ", C,
              OC);

    for (int n = 0; n < N; n++) {
        /* the row alone, one float off its old alignment, its output too */
        memcpy(xr + 1, x + (size_t)n * C, C * sizeof *xr);
        memcpy(one + 1, old + (size_t)n * OC, OC * sizeof *one);
        ft_rowmm_forward(one + 1, OC, xr + 1, w, b, 1, C, OC, add);
        CHECK_MSG(!memcmp(one + 1, y + (size_t)n * OC, OC * sizeof *one),
                  "C %d OC %d add %d bias %d: row %d alone differs", C, OC, add,
                  with_bias, n);

        /* against a double sum */
        for (int j = 0; j < OC; j++) {
            double s = 0, mag = 0;
            for (int k = 0; k < C; k++) {
                s += (double)x[n * C + k] * w[(size_t)j * C + k];
                mag += fabs((double)x[n * C + k] * w[(size_t)j * C + k]);
            }
            if (add) {
                s += old[n * OC + j];
                mag += fabs(old[n * OC + j]);
            }
            if (b) {
                s += b[j];
                mag += fabs(b[j]);
            }
            CHECK_MSG(fabs(y[n * OC + j] - s) <= 1e-5 * mag, "C %d OC %d: %g vs %g", C,
                      OC, y[n * OC + j], s);
        }
    }
    free(x);
    free(w);
    free(bias);
    free(old);
    free(y);
    free(y2);
    free(one);
    free(xr);
}

/* --- The model with a cache per row -------------------------------------------- */

enum { ROWS = 6, V = 13, MAX_POS = 40 };
static const int n_prompt[ROWS] = {5, 1, 8, 3, 2, 6}, n_steps[ROWS] = {6, 2, 4, 0, 5, 3};
static int32_t prompts[ROWS][8], steps[ROWS][6];

static ft_model *tiny(int family)
{
    ft_config c;

    tiny_config(&c, family, 24, 40, 2, family == FT_FAMILY_GPT2 ? 4 : 2, 6, V, MAX_POS);
    if (family != FT_FAMILY_GPT2)
        snprintf(c.model_type, sizeof c.model_type, "qwen2");
    c.qkv_bias = family != FT_FAMILY_GPT2;
    ft_model *m = tiny_model(&c, 3, 0.4f);
    if (!m)
        return NULL;
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].ndim == 1)
            for (size_t j = 0; j < m->tensors[i].numel; j++)
                ft_model_param(m, i)[j] += 0.3f * uniform();
    return m;
}

/* A prefix of P entries per layer and kv head, cap P, random. */
static float *prefix_kv(const ft_model *m, int P)
{
    size_t n = ft_prefix_floats(&m->cfg, P);
    float *kv = malloc((n ? n : 1) * sizeof *kv);
    for (size_t i = 0; i < n; i++)
        kv[i] = uniform();
    return kv;
}

/* Copy the prefix into a cache of cap entries, head by head. */
static void copy_prefix(const ft_model *m, float *cache, int cap, const ft_prefix *pre)
{
    size_t rows = (size_t)m->cfg.n_layers * 2 * m->cfg.n_kv_heads, hd = m->cfg.head_dim;
    for (size_t r = 0; pre && r < rows; r++)
        memcpy(cache + r * cap * hd, pre->kv + r * pre->cap * hd,
               pre->P * hd * sizeof *cache);
}

/* Row i alone on the single-row cache: logits after its prompt and after
 * each step, out [1 + n_steps, V]. */
static int run_alone(ft_model *m, const ft_prefix *pre, int i, int cap, float *out)
{
    ft_err err;
    int P0 = pre ? pre->P : 0, rc = 0;
    float *kv = calloc(ft_prefix_floats(&m->cfg, cap), sizeof *kv);
    ft_prefix cache = {.P = P0, .cap = cap, .kv = kv, .append = 1};
    ft_batch b = {.B = 1, .T = n_prompt[i], .tokens = prompts[i], .prefix = &cache};

    copy_prefix(m, kv, cap, pre);
    if (ft_model_setup(m, 1, 8, cap, 0, &err) < 0)
        rc = -1;
    for (int s = 0; rc == 0 && s <= n_steps[i]; s++) {
        int last = b.T - 1;
        if (ft_model_logits(m, &b, &last, out + (size_t)s * V, &err) < 0) {
            rc = -1;
            break;
        }
        cache.P += b.T;
        b.T = 1;
        b.tokens = &steps[i][s];
    }
    CHECK_MSG(rc == 0, "alone: %s", err.msg);
    free(kv);
    return rc;
}

/* Every row together, out[i] as run_alone's. */
static int run_rows(ft_model *m, const ft_prefix *pre, int cap, float **out)
{
    ft_err err;
    int P0 = pre ? pre->P : 0, len[ROWS], done[ROWS] = {0}, rc = 0;
    size_t slot = ft_prefix_floats(&m->cfg, cap);
    float *kv = calloc(slot * ROWS, sizeof *kv),
          *logits = malloc(ROWS * V * sizeof *logits);

    if (ft_model_setup(m, ROWS, 8, cap, 0, &err) < 0)
        rc = -1;
    for (int i = 0; rc == 0 && i < ROWS; i++) {
        ft_prefix cache = {.P = P0, .cap = cap, .kv = kv + i * slot, .append = 1};
        ft_batch b = {.B = 1, .T = n_prompt[i], .tokens = prompts[i], .prefix = &cache};
        int last = b.T - 1;
        copy_prefix(m, kv + i * slot, cap, pre);
        if (ft_model_logits(m, &b, &last, out[i], &err) < 0)
            rc = -1;
        len[i] = P0 + n_prompt[i];
    }
    for (int s = 0; rc == 0; s++) {
        int act[ROWS], pos[ROWS] = {0}, A = 0, P = 0;
        int32_t tok[ROWS];
        for (int i = 0; i < ROWS; i++) {
            done[i] |= s >= n_steps[i];
            if (!done[i]) {
                act[A] = i;
                tok[A++] = steps[i][s];
                P = len[i] > P ? len[i] : P;
            }
        }
        if (!A)
            break;
        ft_prefix cache = {.P = P,
                           .cap = cap,
                           .kv = kv,
                           .append = 1,
                           .rows = ROWS,
                           .row = act,
                           .used = len};
        ft_batch b = {.B = A, .T = 1, .tokens = tok, .prefix = &cache};
        if (ft_model_logits(m, &b, pos, logits, &err) < 0) {
            rc = -1;
            break;
        }
        for (int a = 0; a < A; a++) {
            memcpy(out[act[a]] + (size_t)(s + 1) * V, logits + a * V, V * sizeof *logits);
            len[act[a]]++;
        }
    }
    CHECK_MSG(rc == 0, "rows: %s", err.msg);
    free(kv);
    free(logits);
    return rc;
}

/* Row i's whole sequence up to step s without a cache: the last logits. */
static void run_plain(ft_model *m, const ft_prefix *pre, int i, int s, float *out)
{
    ft_err err;
    int32_t seq[16];
    int T = n_prompt[i] + s, last = T - 1;

    memcpy(seq, prompts[i], n_prompt[i] * sizeof *seq);
    memcpy(seq + n_prompt[i], steps[i], s * sizeof *seq);
    ft_batch b = {.B = 1, .T = T, .tokens = seq, .prefix = pre};
    CHECK(ft_model_setup(m, 1, T, pre ? pre->P : 0, 0, &err) == 0);
    CHECK_MSG(ft_model_logits(m, &b, &last, out, &err) == 0, "%s", err.msg);
}

static void test_rows(const char *what, ft_model *m, int P0)
{
    float *alone[ROWS], *rows[ROWS], plain[V];
    float *pkv = P0 ? prefix_kv(m, P0) : NULL;
    ft_prefix pre = {.P = P0, .cap = P0, .kv = pkv};
    const ft_prefix *pp = P0 ? &pre : NULL;
    int cap = P0 + 8 + 6;

    m->exact_rows = 1;
    ft_threads_set(1);
    for (int i = 0; i < ROWS; i++) {
        alone[i] = calloc((size_t)(1 + n_steps[i]) * V, sizeof(float));
        rows[i] = calloc((size_t)(1 + n_steps[i]) * V, sizeof(float));
        run_alone(m, pp, i, cap, alone[i]);

        /* the cache holds what a plain pass computes */
        for (int s = 0; s <= n_steps[i]; s++) {
            double mx = 0, e = 0;
            run_plain(m, pp, i, s, plain);
            for (int v = 0; v < V; v++)
                mx = fmax(mx, fabs(plain[v]));
            for (int v = 0; v < V; v++)
                e = fmax(e, fabs(alone[i][s * V + v] - plain[v]));
            CHECK_MSG(e <= 1e-4 * mx, "%s: row %d step %d: cached logits off by %g of %g",
                      what, i, s, e, mx);
        }
    }
    for (int threads = 1; threads <= 2; threads++) {
        ft_threads_set(threads);
        if (run_rows(m, pp, cap, rows) < 0)
            break;
        for (int i = 0; i < ROWS; i++)
            CHECK_MSG(
                !memcmp(rows[i], alone[i], (size_t)(1 + n_steps[i]) * V * sizeof(float)),
                "%s: row %d in the batch differs from alone (%d threads)", what, i,
                threads);
    }
    ft_threads_set(1);
    m->exact_rows = 0;
    for (int i = 0; i < ROWS; i++) {
        free(alone[i]);
        free(rows[i]);
    }
    free(pkv);
}

/* --- Sampling -------------------------------------------------------------------- */

typedef struct seen {
    int32_t ids[ROWS][16];
    int n[ROWS];
} seen;

static int note_row(void *ctx, int row, int32_t id)
{
    seen *s = ctx;
    if (s->n[row] < 16)
        s->ids[row][s->n[row]++] = id;
    return 0;
}

static void test_sampling(ft_model *m)
{
    static const int32_t stop[2] = {4, 9};
    ft_sample_opts o = ft_sample_defaults(NULL);
    ft_sample_row r[ROWS];
    int32_t out[ROWS][12], one[12];
    seen s = {0};
    ft_err err;
    int n_one, ended = 0;

    o.max_tokens = 12;
    o.temperature = 1.0f;
    o.eos[0] = 7;
    o.eos[1] = 11;
    o.n_eos = 2;
    o.stop = stop;
    o.n_stop = 2;
    for (int i = 0; i < ROWS; i++)
        r[i] = (ft_sample_row){prompts[i], n_prompt[i], 100 + i, out[i], 0};
    ft_threads_set(2);
    CHECK_MSG(ft_sample_generate_rows(m, NULL, r, ROWS, &o, note_row, &s, &err) == 0,
              "%s", err.msg);
    ft_threads_set(1);
    for (int i = 0; i < ROWS; i++) {
        o.seed = 100 + i;
        CHECK_MSG(ft_sample_generate(m, NULL, prompts[i], n_prompt[i], &o, one, &n_one,
                                     NULL, NULL, &err) == 0,
                  "%s", err.msg);
        CHECK_INT(r[i].n_out, n_one);
        CHECK_MSG(!memcmp(out[i], one, n_one * sizeof *one), "row %d: other tokens", i);
        CHECK_INT(s.n[i], n_one);
        CHECK_MSG(!memcmp(s.ids[i], one, n_one * sizeof *one), "row %d: other emits", i);
        ended += n_one < o.max_tokens;
    }
    CHECK_MSG(ended >= 2, "only %d rows ended before max_tokens: the test tests little",
              ended);
}

int main(void)
{
    static const int widths[] = {1, 5, 16, 37, 64, 100}, outs[] = {1, 3, 4, 7, 17};

    ft_rng_seed(&rng, 42, 0);
    for (size_t a = 0; a < sizeof widths / sizeof *widths; a++)
        for (size_t b = 0; b < sizeof outs / sizeof *outs; b++)
            test_rowmm(widths[a], outs[b], (int)(a + b) % 2, (int)(a * b) % 3 != 0);
    test_rowmm(300, 70, 1, 1);

    for (int i = 0; i < ROWS; i++) {
        for (int t = 0; t < 8; t++)
            prompts[i][t] = (int32_t)ft_rng_below(&rng, V);
        for (int t = 0; t < 6; t++)
            steps[i][t] = (int32_t)ft_rng_below(&rng, V);
    }
    ft_model *llama = tiny(FT_FAMILY_LLAMA), *gpt2 = tiny(FT_FAMILY_GPT2);
    CHECK(llama && gpt2);
    if (!llama || !gpt2)
        return check_done();
    test_rows("llama", llama, 0);
    test_rows("llama prefix", llama, 3);
    test_rows("gpt2", gpt2, 0);
    test_rows("gpt2 prefix", gpt2, 2);

    ft_lora_opts lo;
    ft_err err;
    ft_lora_opts_default(&lo);
    lo.r = 3;
    ft_lora *l = ft_lora_new(llama, &lo, 5, &err);
    CHECK_MSG(l != NULL, "%s", err.msg);
    if (l) {
        for (int i = 0; i < l->n_mods; i++)
            for (int k = 0; k < l->mods[i].out * l->r; k++)
                l->mods[i].B[k] = 0.3f * uniform();
        ft_lora_attach(l);
        test_rows("llama lora", llama, 0);
        test_sampling(llama);
        ft_model_set_hook(llama, NULL);
        ft_lora_free(l);
    }
    test_sampling(gpt2);
    ft_model_free(llama);
    ft_model_free(gpt2);
    return check_done();
}
