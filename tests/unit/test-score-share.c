/* test-score-share: label scores with shared prefixes (each text's common
 * tokens run once, the label words after them on a per-row KV cache)
 * against the per-row path (every row through the whole model), which
 * test-score checks against PyTorch.
 *
 * Tiny random models -- Llama with grouped-query attention (rotary
 * positions) and GPT-2 (learned positions) -- bare, with a LoRA adapter on
 * every projection, and with a P-tuning prefix; a byte-level tokenizer (a
 * token per byte, so the rows' ids are known here). Label sets whose words
 * share no leading token, one, several (one word a prefix of another),
 * single-byte words, and the plain template's space, a target every label
 * shares; texts cut to a short max_len; batches of 1, 3 and 8 rows; length
 * normalisation. The two paths agree within 1e-5 (float32 rounding of
 * differently shaped products). With batches of one row (no padding), the
 * tokens each path runs are counted and compared with the counts worked
 * out here from the rendering: per row, each row less its last token;
 * shared, the tokens before the first target less one, then each row's
 * tokens from there, less its last. A text whose rows share only one token
 * before the first target (no BOS, plain template, empty text) runs row by
 * row in the same call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt/lora.h"
#include "adapt/prefix.h"
#include "core/rng.h"
#include "eval/score.h"
#include "model/model.h"
#include "text/tokenizer.h"
#include "bytetok.h"
#include "check.h"
#include "tinymodel.h"

static const char *const specials[] = {"<s>", "</s>", "<|im_start|>", "<|im_end|>"};
#define N_SPECIAL 4

static const char *const texts[] = {
    "the film was a delight from start to end",
    "dull",
    "",
    "h\xc3\xa9llo w\xc3\xb6rld \xe2\x98\x83 and a snowman",
    "an overlong and tedious story that never finds its footing, with actors who seem to "
    "be reading their lines for the first time",
};
#define N_TEXTS 5

/* Label words: none shared, one leading byte, several (and one word a
 * prefix of another), single bytes. */
static const char *const sets[][4] = {
    {"bad", "good", NULL},
    {"great", "good", "grim", NULL},
    {"positive", "positively", "posh", NULL},
    {"1", "2", "3", NULL},
};
#define N_SETS 4

static ft_tokenizer *byte_tokenizer(int add_bos)
{
    return bytetok_new(specials, N_SPECIAL, add_bos);
}

static ft_model *tiny(int family)
{
    ft_config c;

    tiny_config(&c, family, 32, family == FT_FAMILY_GPT2 ? 64 : 48, 2,
                family == FT_FAMILY_GPT2 ? 4 : 2, 8, 256 + N_SPECIAL, 200);
    c.bos_id = 256;
    return tiny_model(&c, 11, 0.3f);
}

static int n_words(const char *const *w)
{
    int n = 0;
    while (w[n])
        n++;
    return n;
}

/* Score the texts with o, per row (per_row 1) or sharing; *tokens gets the
 * tokens the model ran. */
static int score(ft_model *m, ft_tokenizer *tok, const ft_prefix *pre, ft_score_opts o,
                 int per_row, int n, double *ll, long *tokens)
{
    size_t lens[N_TEXTS];
    ft_err err;

    for (int i = 0; i < n; i++)
        lens[i] = strlen(texts[i]);
    o.per_row = per_row;
    ft_scorer *s = ft_scorer_new(m, tok, pre, &o, 1, &err);
    CHECK_MSG(s != NULL, "%s", err.msg);
    if (!s)
        return -1;
    long before = m->n_tokens_forward;
    int rc = ft_scorer_run(s, texts, lens, (size_t)n, ll, NULL, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    *tokens = m->n_tokens_forward - before;
    ft_scorer_free(s);
    return rc;
}

/* Both paths on every label set; the loglik of the shared one within 1e-5
 * of the per-row one. */
static void agree(const char *tag, ft_model *m, ft_tokenizer *tok, const ft_prefix *pre,
                  const char *tpl, int batch, int max_len, int norm)
{
    for (int k = 0; k < N_SETS; k++) {
        const char *const *w = sets[k];
        int L = n_words(w);
        double a[N_TEXTS * 4], b[N_TEXTS * 4], worst = 0;
        long ta, tb;
        ft_score_opts o = {tpl, w, w, L, norm, batch, max_len, 0};
        if (score(m, tok, pre, o, 1, N_TEXTS, a, &ta) < 0 ||
            score(m, tok, pre, o, 0, N_TEXTS, b, &tb) < 0)
            continue;
        for (int i = 0; i < N_TEXTS * L; i++)
            worst = fmax(worst, fabs(a[i] - b[i]) / fmax(1, fabs(a[i])));
        if (getenv("FT_TEST_VERBOSE"))
            printf("%s, %s, words %s,...: batch %d max_len %d norm %d: worst %.3g, tokens "
                   "%ld per row, %ld shared\n", tag, tpl, w[0], batch, max_len, norm, worst,
                   ta, tb);
        CHECK_MSG(worst <= 1e-5, "%s, %s template, words %s,%s..., batch %d, max_len %d, "
                  "norm %d: shared and per-row loglik differ by %.3g", tag, tpl, w[0], w[1],
                  batch, max_len, norm, worst);
        CHECK_MSG(tb < ta, "%s, words %s,...: the shared path ran %ld tokens, per row %ld",
                  tag, w[0], tb, ta);
    }
}

/* Tokens run with batches of one row: chatml renders a text as BOS,
 * <|im_start|>, "user\n", the text, <|im_end|>, "\n", <|im_start|>,
 * "assistant\n" (20 tokens around the text), then the word, the target. */
static void counts(void)
{
    ft_model *m = tiny(FT_FAMILY_LLAMA);
    ft_tokenizer *tok = byte_tokenizer(1);
    CHECK(m && tok);
    if (!m || !tok)
        return;
    for (int k = 0; k < N_SETS; k++) {
        const char *const *w = sets[k];
        int L = n_words(w);
        ft_score_opts o = {"chatml", w, w, L, 0, 1, 0, 0};
        double ll[N_TEXTS * 4];
        long got_row, got_shared, want_row = 0, want_shared = 0;
        for (int i = 0; i < N_TEXTS; i++) {
            long ctx = 20 + (long)strlen(texts[i]);
            want_shared += ctx - 1;
            for (int l = 0; l < L; l++) {
                long n = ctx + (long)strlen(w[l]);
                want_row += n - 1;
                want_shared += n - ctx;
            }
        }
        if (score(m, tok, NULL, o, 1, N_TEXTS, ll, &got_row) < 0 ||
            score(m, tok, NULL, o, 0, N_TEXTS, ll, &got_shared) < 0)
            continue;
        CHECK_INT(got_row, want_row);
        CHECK_INT(got_shared, want_shared);
    }
    ft_tokenizer_free(tok);
    ft_model_free(m);
}

/* No BOS, plain template: a row is the text, then " " + word, the target.
 * The empty text's rows have one token before the target, so that text
 * runs row by row beside the others. */
static void fallback(void)
{
    ft_model *m = tiny(FT_FAMILY_LLAMA);
    ft_tokenizer *tok = byte_tokenizer(0);
    CHECK(m && tok);
    if (!m || !tok)
        return;
    const char *const *w = sets[0];
    ft_score_opts o = {"plain", w, w, 2, 0, 1, 0, 0};
    double a[N_TEXTS * 2], b[N_TEXTS * 2], worst = 0;
    long ta, tb, want_row = 0, want_shared = 0;
    for (int i = 0; i < N_TEXTS; i++) {
        long ctx = (long)strlen(texts[i]);
        want_shared += ctx ? ctx - 1 : 0;
        for (int l = 0; l < 2; l++) {
            long n = ctx + 1 + (long)strlen(w[l]);
            want_row += n - 1;
            want_shared += ctx ? n - ctx : n - 1;
        }
    }
    if (score(m, tok, NULL, o, 1, N_TEXTS, a, &ta) == 0 &&
        score(m, tok, NULL, o, 0, N_TEXTS, b, &tb) == 0) {
        for (int i = 0; i < N_TEXTS * 2; i++)
            worst = fmax(worst, fabs(a[i] - b[i]) / fmax(1, fabs(a[i])));
        CHECK_MSG(worst <= 1e-5, "no BOS, plain: shared and per-row differ by %.3g", worst);
        CHECK_INT(ta, want_row);
        CHECK_INT(tb, want_shared);
    }
    ft_tokenizer_free(tok);
    ft_model_free(m);
}

/* The per-row loglik of the first label set differs from bare[] by more
 * than 1e-3 somewhere: the adapter is in use. */
static void changes(const char *tag, ft_model *m, ft_tokenizer *tok, const ft_prefix *pre,
                    const double *bare)
{
    ft_score_opts o = {"chatml", sets[0], sets[0], 2, 0, 3, 0, 0};
    double ll[N_TEXTS * 2], most = 0;
    long t;
    if (score(m, tok, pre, o, 1, N_TEXTS, ll, &t) < 0)
        return;
    for (int i = 0; i < N_TEXTS * 2; i++)
        most = fmax(most, fabs(ll[i] - bare[i]));
    CHECK_MSG(most > 1e-3, "%s: the adapter changes no score (%.3g)", tag, most);
}

/* Every label set on one model: bare, with LoRA on every projection (B
 * random, so the adapter changes the scores), and with a P-tuning prefix. */
static void family(int fam)
{
    const char *name = fam == FT_FAMILY_GPT2 ? "gpt2" : "llama";
    ft_model *m = tiny(fam);
    ft_tokenizer *tok = byte_tokenizer(1);
    ft_score_opts o = {"chatml", sets[0], sets[0], 2, 0, 3, 0, 0};
    double bare[N_TEXTS * 2];
    ft_err err;
    char tag[64];
    long t;

    CHECK(m && tok);
    if (!m || !tok || score(m, tok, NULL, o, 1, N_TEXTS, bare, &t) < 0) {
        ft_tokenizer_free(tok);
        ft_model_free(m);
        return;
    }
    for (int batch = 1; batch <= 8; batch += batch < 3 ? 2 : 5)
        agree(name, m, tok, NULL, "chatml", batch, 0, 0);
    agree(name, m, tok, NULL, "plain", 3, 0, 1);
    agree(name, m, tok, NULL, "chatml", 3, 40, 0);
    agree(name, m, tok, NULL, "plain", 8, 30, 1);

    /* LoRA: A Kaiming-uniform, B made nonzero here */
    ft_lora_opts lo;
    ft_lora_opts_default(&lo);
    lo.r = 4;
    lo.targets = "all-linear";
    ft_lora *lora = ft_lora_new(m, &lo, 5, &err);
    CHECK_MSG(lora != NULL, "%s", err.msg);
    if (lora) {
        ft_rng rng;
        ft_rng_seed(&rng, 9, 0);
        for (int i = 0; i < lora->n_mods; i++)
            for (size_t j = 0; j < (size_t)lora->mods[i].out * lora->r; j++)
                lora->mods[i].B[j] = (float)(0.2 * ft_rng_normal(&rng));
        ft_lora_attach(lora);
        snprintf(tag, sizeof tag, "%s + LoRA", name);
        changes(tag, m, tok, NULL, bare);
        agree(tag, m, tok, NULL, "chatml", 3, 0, 0);
        agree(tag, m, tok, NULL, "plain", 8, 30, 0);
        ft_model_set_hook(m, NULL);
        ft_lora_free(lora);
    }

    /* P-tuning: 5 virtual tokens before every row */
    ft_prefix_opts po;
    ft_prefix_opts_default(&po);
    po.n_virtual = 5;
    po.projection = 0;
    ft_prefix_adapter *pa = ft_prefix_new(&m->cfg, &po, 6, &err);
    CHECK_MSG(pa != NULL, "%s", err.msg);
    if (pa) {
        const ft_prefix *pre = ft_prefix_seam(pa, NULL);
        snprintf(tag, sizeof tag, "%s + prefix", name);
        changes(tag, m, tok, pre, bare);
        agree(tag, m, tok, pre, "chatml", 3, 0, 0);
        agree(tag, m, tok, pre, "chatml", 1, 40, 1);
        agree(tag, m, tok, pre, "plain", 8, 0, 0);
        ft_prefix_free(pa);
    }
    ft_tokenizer_free(tok);
    ft_model_free(m);
}

int main(void)
{
    family(FT_FAMILY_LLAMA);
    family(FT_FAMILY_GPT2);
    counts();
    fallback();
    return check_done();
}
