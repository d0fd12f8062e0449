/* Unit tests of lib/eval/metrics: hand-worked cases (the arithmetic is in
 * the comments), then the classification scores against scikit-learn on
 * random predictions (skipped, saying so, when sklearn is missing). */
#include <stdint.h>
#include <unistd.h>

#include "check.h"
#include "core/rng.h"
#include "eval/metrics.h"

static void test_hand_classify(void)
{
    /* true 0 0 1 1 2 2, pred 0 1 1 1 2 0:
     * confusion rows [1 1 0] [0 2 0] [1 0 1]; accuracy 4/6.
     * class 0: P 1/2, R 1/2, F1 1/2; class 1: P 2/3, R 1, F1 0.8;
     * class 2: P 1, R 1/2, F1 2/3; macro F1 (0.5 + 0.8 + 2/3) / 3. */
    const int t[] = {0, 0, 1, 1, 2, 2}, p[] = {0, 1, 1, 1, 2, 0};
    const size_t conf[] = {1, 1, 0, 0, 2, 0, 1, 0, 1};
    ft_cls_report r;
    ft_err err;

    CHECK(ft_metrics_classify(&r, t, p, 6, 3, &err) == 0);
    CHECK_REL(r.accuracy, 4.0 / 6, 1e-12, 1);
    CHECK_REL(r.precision[1], 2.0 / 3, 1e-12, 1);
    CHECK_REL(r.recall[2], 0.5, 1e-12, 1);
    CHECK_REL(r.f1[1], 0.8, 1e-12, 1);
    CHECK_REL(r.macro_f1, (0.5 + 0.8 + 2.0 / 3) / 3, 1e-12, 1);
    CHECK(!memcmp(r.confusion, conf, sizeof conf));
    CHECK_INT(r.support[2], 2);

    /* ECE, 10 bins. Confidences and correctness:
     * .92 ok, .61 wrong, .83 ok, .97 ok, .55 ok, .74 wrong.
     * bin (0.9,1]: |2 - 1.89|; (0.6,0.7]: .61; (0.8,0.9]: .17; (0.5,0.6]: .45;
     * (0.7,0.8]: .74; sum 2.08 over 6 records. */
    const double c[] = {0.92, 0.61, 0.83, 0.97, 0.55, 0.74};
    CHECK_REL(ft_metrics_ece(t, p, c, 6, 10), 2.08 / 6, 1e-12, 1);
    ft_cls_report_free(&r);

    /* No records: a report of zeros, not a crash. */
    CHECK(ft_metrics_classify(&r, NULL, NULL, 0, 2, &err) == 0);
    CHECK(r.accuracy == 0 && r.macro_f1 == 0);
    ft_cls_report_free(&r);

    /* An index outside the label set is an error. */
    const int bad[] = {3};
    CHECK(ft_metrics_classify(&r, bad, bad, 1, 2, &err) < 0);
}

static void test_bootstrap(void)
{
    double x[1000], y[1000], lo, hi, d, pv;

    /* All correct: the interval is [1, 1]. */
    for (int i = 0; i < 1000; i++)
        x[i] = 1;
    ft_metrics_bootstrap_mean(x, 1000, 1000, 0.95, 1, &lo, &hi);
    CHECK(lo == 1 && hi == 1);

    /* Half correct: the normal approximation gives 0.5 +- 1.96 * sqrt(.25/1000)
     * = 0.5 +- 0.031; allow for resampling noise of 1000 draws. */
    for (int i = 0; i < 1000; i++)
        x[i] = i % 2;
    ft_metrics_bootstrap_mean(x, 1000, 1000, 0.95, 1, &lo, &hi);
    CHECK_MSG(lo > 0.462 && lo < 0.476, "lo %g", lo);
    CHECK_MSG(hi > 0.524 && hi < 0.538, "hi %g", hi);

    /* Same seed, same interval. */
    double lo2, hi2;
    ft_metrics_bootstrap_mean(x, 1000, 1000, 0.95, 1, &lo2, &hi2);
    CHECK(lo == lo2 && hi == hi2);

    /* Identical systems: difference 0, p-value 1. One always right, the
     * other always wrong: difference 1, p-value 0. */
    ft_metrics_paired_bootstrap(x, x, 1000, 200, 1, &d, &pv);
    CHECK(d == 0 && pv == 1);
    for (int i = 0; i < 1000; i++)
        y[i] = 0, x[i] = 1;
    ft_metrics_paired_bootstrap(x, y, 1000, 200, 1, &d, &pv);
    CHECK(d == 1 && pv == 0);
}

static void test_generation(void)
{
    /* "cat sat on mat" vs "cat sat on hat": 3 common of 4 and 4 -> F1 0.75. */
    CHECK_REL(ft_metrics_token_f1("The cat sat on the mat.", "A cat sat on a hat"), 0.75,
              1e-12, 1);
    CHECK_INT(ft_metrics_exact_match("The  Answer!", "answer"), 1);
    CHECK_INT(ft_metrics_exact_match("an answer", "answers"), 0);
    CHECK_REL(ft_metrics_token_f1("", ""), 1.0, 0, 1);
    CHECK_REL(ft_metrics_token_f1("x", ""), 0.0, 0, 1);

    /* LCS "the cat was under the bed" = 6 of 7 and 6 of 6 words:
     * F = 2 (6/7)(1) / (6/7 + 1) = 12/13. */
    CHECK_REL(ft_metrics_rouge_l("The cat was found under the bed",
                                 "the cat was under the bed."),
              12.0 / 13, 1e-12, 1);
    CHECK_REL(ft_metrics_rouge_l("a b c", "x y"), 0.0, 0, 1);

    /* 3 tokens with nll 3 ln 2: perplexity 2. 8 ln 2 nats over 4 bytes: 2 bits
     * per byte. */
    CHECK_REL(ft_metrics_perplexity(3 * M_LN2, 3), 2.0, 1e-12, 1);
    CHECK_REL(ft_metrics_bits_per_byte(8 * M_LN2, 4), 2.0, 1e-12, 1);
}

/* scikit-learn on 500 random predictions over a label set of 5 classes, the
 * last of which never occurs (F1 0 by sklearn's convention with labels=). */
static void test_sklearn(void)
{
    enum { N = 500, K = 5 };
    int t[N], p[N];
    ft_rng rng;
    ft_cls_report r;
    ft_err err;
    char path[] = "/tmp/ft-metrics-XXXXXX", cmd[8192];
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");

    ft_rng_seed(&rng, 7, 0);
    for (int i = 0; i < N; i++) {
        t[i] = (int)ft_rng_below(&rng, K - 1);
        p[i] = ft_rng_uniform(&rng) < 0.6 ? t[i] : (int)ft_rng_below(&rng, K - 1);
        fprintf(f, "%d %d\n", t[i], p[i]);
    }
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c '\n"
             "import sys\n"
             "try:\n"
             "    import numpy as np\n"
             "    from sklearn import metrics as m\n"
             "except ImportError:\n"
             "    print(\"skip\"); sys.exit(0)\n"
             "d = np.loadtxt(\"%s\", dtype=int)\n"
             "t, p = d[:, 0], d[:, 1]\n"
             "L = list(range(%d))\n"
             "P, R, F, S = m.precision_recall_fscore_support(t, p, labels=L, "
             "zero_division=0)\n"
             "print(m.accuracy_score(t, p), m.f1_score(t, p, labels=L, average=\"macro\", "
             "zero_division=0))\n"
             "print(*P); print(*R); print(*F)\n"
             "print(*m.confusion_matrix(t, p, labels=L).ravel())\n"
             "' 2>&1",
             path, K);
    FILE *py = popen(cmd, "r");
    char word[64];
    double acc, mf1, v;
    if (!py || fscanf(py, "%63s", word) != 1 || !strcmp(word, "skip")) {
        printf("scikit-learn comparison skipped: /usr/bin/python3 with sklearn missing\n");
        if (py)
            pclose(py);
        unlink(path);
        return;
    }
    acc = atof(word);
    CHECK(fscanf(py, "%lf", &mf1) == 1);
    CHECK(ft_metrics_classify(&r, t, p, N, K, &err) == 0);
    CHECK_REL(r.accuracy, acc, 1e-12, 1e-12);
    CHECK_REL(r.macro_f1, mf1, 1e-12, 1e-12);
    for (int c = 0; c < K; c++)
        CHECK(fscanf(py, "%lf", &v) == 1 && fabs(v - r.precision[c]) < 1e-12);
    for (int c = 0; c < K; c++)
        CHECK(fscanf(py, "%lf", &v) == 1 && fabs(v - r.recall[c]) < 1e-12);
    for (int c = 0; c < K; c++)
        CHECK(fscanf(py, "%lf", &v) == 1 && fabs(v - r.f1[c]) < 1e-12);
    for (int c = 0; c < K * K; c++)
        CHECK(fscanf(py, "%lf", &v) == 1 && v == (double)r.confusion[c]);
    CHECK(r.f1[K - 1] == 0 && r.support[K - 1] == 0);
    pclose(py);
    unlink(path);
    ft_cls_report_free(&r);
}

int main(void)
{
    test_hand_classify();
    test_bootstrap();
    test_generation();
    test_sklearn();
    return check_done();
}
