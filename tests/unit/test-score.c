/* test-score: label scores against PyTorch, and the task metadata.
 *
 * tests/ref/score_ref.py writes a tiny random Llama with a byte-level
 * tokenizer whose ids it works out itself, renders four templates (plain,
 * alpaca, chatml, a custom string) from their documented formats and sums
 * the float64 log-probabilities of each label word's tokens, with and
 * without length normalisation and with texts cut to a row length. ft's
 * scorer (batches of 3 rows, so rows of different texts and lengths share
 * batches with padding) must give the same log-likelihoods within 1e-4 and
 * the same softmax. ft_scorer_open must then take labels, words and
 * template from the metadata ft-train writes. Also: --labels and
 * --verbalizer parsing and their usage errors. Skips without PyTorch. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsout.h"
#include "eval/score.h"
#include "model/checkpoint.h"
#include "text/tokenizer.h"
#include "train/export.h"
#include "check.h"

static char **strv(json_t *a, int *n)
{
    *n = (int)json_array_size(a);
    char **v = calloc((size_t)*n, sizeof *v);
    for (int i = 0; i < *n; i++)
        v[i] = strdup(json_string_value(json_array_get(a, (size_t)i)));
    return v;
}

static void compare(const char *tag, const double *ll, const double *pr, json_t *c, int n,
                    int L)
{
    json_t *ell = json_object_get(c, "loglik"), *epr = json_object_get(c, "probs");
    for (int i = 0; i < n; i++)
        for (int l = 0; l < L; l++) {
            double want = json_real_value(json_array_get(json_array_get(ell, i), l));
            double p = json_real_value(json_array_get(json_array_get(epr, i), l));
            CHECK_MSG(fabs(ll[i * L + l] - want) <= 1e-4 * fmax(1, fabs(want)),
                      "%s text %d label %d: loglik %.9g vs %.9g", tag, i, l, ll[i * L + l],
                      want);
            CHECK_MSG(fabs(pr[i * L + l] - p) <= 1e-5, "%s text %d label %d: prob %.9g vs %.9g",
                      tag, i, l, pr[i * L + l], p);
        }
}

static void test_parse(void)
{
    char **labels, **words;
    int n;
    ft_err err;

    CHECK(ft_labels_parse("negative,positive,neutral", &labels, &n, &err) == 0);
    CHECK_INT(n, 3);
    CHECK_STR(labels[2], "neutral");
    CHECK(ft_verbalizer_parse("positive=good,negative= bad", labels, n, &words, &err) == 0);
    CHECK_STR(words[0], " bad");
    CHECK_STR(words[1], "good");
    CHECK_STR(words[2], "neutral");
    ft_strv_free(words, n);
    CHECK(ft_verbalizer_parse("happy=good", labels, n, &words, &err) < 0);
    CHECK(err.kind == FT_ERR_USAGE && strstr(err.msg, "'happy' is not in the label set"));
    CHECK(ft_verbalizer_parse("positive", labels, n, &words, &err) < 0);
    CHECK(strstr(err.msg, "'positive' is not LABEL=WORD") != NULL);
    CHECK(ft_verbalizer_parse("positive=a,positive=b", labels, n, &words, &err) < 0);
    CHECK(strstr(err.msg, "named twice") != NULL);
    ft_strv_free(labels, n);
    CHECK(ft_labels_parse("a,,b", &labels, &n, &err) < 0 && err.kind == FT_ERR_USAGE);
    CHECK(ft_labels_parse("a,b,a", &labels, &n, &err) < 0);
    CHECK(strstr(err.msg, "label 'a' is named twice") != NULL);
}

int main(void)
{
    char dir[] = "/tmp/ft-score-XXXXXX", cmd[8192], path[4096];
    const char *root = getenv("FT_ROOT");
    ft_err err;
    json_error_t je;

    test_parse();
    if (!root)
        CHECK_SKIP("FT_ROOT is not set (run through make check)");
    if (system("/usr/bin/python3 -c 'import torch' 2>/dev/null") != 0)
        CHECK_SKIP("skip: /usr/bin/python3 cannot import torch");
    if (!mkdtemp(dir))
        return 1;
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/ref/score_ref.py --out %s", root, dir);
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
    snprintf(path, sizeof path, "%s/expected.json", dir);
    json_t *exp = json_load_file(path, 0, &je);
    CHECK(exp != NULL);
    if (!exp)
        return check_done();

    int L, n;
    char **labels = strv(json_object_get(exp, "labels"), &L);
    char **words = strv(json_object_get(exp, "words"), &L);
    char **texts = strv(json_object_get(exp, "texts"), &n);
    size_t lens[16];
    for (int i = 0; i < n; i++)
        lens[i] = strlen(texts[i]);
    double *ll = calloc((size_t)n * L, sizeof *ll), *pr = calloc((size_t)n * L, sizeof *pr);

    /* Every case through one model and tokenizer. */
    ft_model *m = ft_checkpoint_load(dir, &err);
    ft_tokenizer *tok = m ? ft_tokenizer_load(dir, &err) : NULL;
    CHECK_MSG(m && tok, "%s", err.msg);
    size_t k;
    json_t *c;
    json_array_foreach(json_object_get(exp, "cases"), k, c) {
        const char *tpl = json_string_value(json_object_get(c, "template"));
        ft_score_opts o = {tpl, (const char *const *)labels, (const char *const *)words, L,
                           (int)json_integer_value(json_object_get(c, "length_norm")), 3,
                           (int)json_integer_value(json_object_get(c, "max_len")), 0};
        char tag[256];
        snprintf(tag, sizeof tag, "%s norm %d max_len %d", tpl, o.length_norm, o.max_len);
        ft_scorer *s = m && tok ? ft_scorer_new(m, tok, NULL, &o, 1, &err) : NULL;
        CHECK_MSG(s != NULL, "%s: %s", tag, err.msg);
        if (!s)
            continue;
        int rc = ft_scorer_run(s, (const char *const *)texts, lens, (size_t)n, ll, pr, &err);
        CHECK_MSG(rc == 0, "%s: %s", tag, err.msg);
        if (rc == 0)
            compare(tag, ll, pr, c, n, L);
        ft_scorer_free(s);
    }
    ft_tokenizer_free(tok);
    ft_model_free(m);

    /* The stored task: labels, words and template come from the model. */
    char *lj, *vj;
    CHECK(ft_task_meta_json((const char *const *)labels, (const char *const *)words, L, &lj,
                            &vj, &err) == 0);
    const char *meta[] = {"ft_task", "classify", "ft_template", "chatml", "ft_labels", lj,
                          "ft_verbalizer", vj, NULL};
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK_MSG(ft_export_add_metadata(path, meta, &err) == 0, "%s", err.msg);
    ft_task_meta tm;
    CHECK_INT(ft_task_meta_read(dir, &tm, &err), 1);
    CHECK_INT(tm.n_labels, L);
    CHECK(tm.n_labels == L && !strcmp(tm.words[2], "so-so") && !strcmp(tm.labels[1], "positive"));
    CHECK(tm.template_spec && !strcmp(tm.template_spec, "chatml"));
    ft_task_meta_free(&tm);
    ft_scorer *s = ft_scorer_open(dir, NULL, NULL, NULL, &err);
    CHECK_MSG(s != NULL, "%s", err.msg);
    if (s) {
        const char *const *got;
        CHECK_INT(ft_scorer_labels(s, &got), L);
        CHECK_STR(got[0], "negative");
        CHECK(ft_scorer_run(s, (const char *const *)texts, lens, (size_t)n, ll, pr, &err) == 0);
        json_array_foreach(json_object_get(exp, "cases"), k, c)
            if (!strcmp(json_string_value(json_object_get(c, "template")), "chatml") &&
                !json_integer_value(json_object_get(c, "length_norm")) &&
                !json_integer_value(json_object_get(c, "max_len")))
                compare("open chatml", ll, pr, c, n, L);
        ft_scorer_free(s);
    }
    free(lj);
    free(vj);

    ft_strv_free(labels, L);
    ft_strv_free(words, L);
    ft_strv_free(texts, n);
    free(ll);
    free(pr);
    json_decref(exp);
    ft_rmtree(dir);
    return check_done();
}
