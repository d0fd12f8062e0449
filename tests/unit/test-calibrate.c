/* Unit tests of lib/eval/calibrate and lib/eval/select: temperatures worked
 * out in closed form, then against SciPy's bounded scalar minimiser on
 * random scores (skipped, saying so, without SciPy); selection rules on a
 * hand-worked pool. */
#include <unistd.h>

#include "check.h"
#include "core/rng.h"
#include "eval/calibrate.h"
#include "eval/select.h"

static void test_closed_form(void)
{
    /* Two classes, every record scores (0, 1): p(class 1) = sigmoid(1/T).
     * With 3 of 4 records truly class 1 the NLL is least where the sigmoid
     * equals 3/4, at 1/T = ln 3, T = 1/ln 3. */
    const double s[] = {0, 1, 0, 1, 0, 1, 0, 1};
    const int y[] = {1, 1, 1, 0};
    ft_calib_fit fit;
    ft_err err;

    CHECK(ft_calib_fit_temperature(&fit, s, y, 4, 2, &err) == 0);
    CHECK_REL(fit.T, 1 / log(3.0), 1e-10, 1);
    CHECK(!fit.at_bound);
    /* NLL at T = 1: -(3 log sigmoid(1) + log sigmoid(-1)) / 4. */
    double sg = 1 / (1 + exp(-1.0));
    CHECK_REL(fit.nll_before, -(3 * log(sg) + log(1 - sg)) / 4, 1e-12, 1);
    /* At the optimum: -(3 log 3/4 + log 1/4) / 4. */
    CHECK_REL(fit.nll_after, -(3 * log(0.75) + log(0.25)) / 4, 1e-10, 1);

    /* All right and separated: T falls to its lower bound. */
    const int yr[] = {1, 1, 1, 1};
    CHECK(ft_calib_fit_temperature(&fit, s, yr, 4, 2, &err) == 0);
    CHECK(fit.at_bound && fabs(fit.T - FT_CALIB_T_MIN) < 1e-12);

    /* Softmax at T = 2 of (0, ln 4): weights 1 and 2, so 1/3 and 2/3. */
    double z[] = {0, log(4.0)}, p[2];
    CHECK_INT(ft_calib_softmax(p, z, 2, 2.0), 1);
    CHECK_REL(p[1], 2.0 / 3, 1e-12, 1);

    /* Bad input. */
    CHECK(ft_calib_fit_temperature(&fit, s, y, 0, 2, &err) < 0);
    const int bad[] = {2};
    CHECK(ft_calib_fit_temperature(&fit, s, bad, 1, 2, &err) < 0);
    const double inf[] = {0, INFINITY};
    CHECK(ft_calib_fit_temperature(&fit, inf, y, 1, 2, &err) < 0);
}

/* 300 records of 4 classes with over-confident scores: SciPy's bounded
 * Brent search over T on the NLL written with logsumexp. */
static void test_scipy(void)
{
    enum { N = 300, K = 4 };
    static double s[N * K];
    int y[N];
    ft_rng rng;
    ft_calib_fit fit;
    ft_err err;
    char path[] = "/tmp/ft-calib-XXXXXX", cmd[4096];
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");

    ft_rng_seed(&rng, 3, 0);
    for (int i = 0; i < N; i++) {
        y[i] = (int)ft_rng_below(&rng, K);
        int guess = ft_rng_uniform(&rng) < 0.7 ? y[i] : (int)ft_rng_below(&rng, K);
        for (int c = 0; c < K; c++) {
            s[i * K + c] = 3 * (ft_rng_uniform(&rng) - 0.5) + (c == guess ? 4.0 : 0.0);
            fprintf(f, "%.17g ", s[i * K + c]);
        }
        fprintf(f, "%d\n", y[i]);
    }
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c '\n"
             "import sys\n"
             "try:\n"
             "    import numpy as np\n"
             "    from scipy.optimize import minimize_scalar\n"
             "    from scipy.special import logsumexp\n"
             "except ImportError:\n"
             "    print(\"skip\"); sys.exit(0)\n"
             "d = np.loadtxt(\"%s\")\n"
             "z, y = d[:, :-1], d[:, -1].astype(int)\n"
             "nll = lambda T: np.mean(logsumexp(z / T, axis=1) - z[np.arange(len(y)), y] / T)\n"
             "r = minimize_scalar(nll, bounds=(0.01, 100), method=\"bounded\",\n"
             "                    options={\"xatol\": 1e-12})\n"
             "print(r.x, nll(1.0), nll(r.x))\n"
             "' 2>&1",
             path);
    FILE *py = popen(cmd, "r");
    char word[64];
    double T, before, after;
    if (!py || fscanf(py, "%63s", word) != 1 || !strcmp(word, "skip")) {
        printf("SciPy comparison skipped: /usr/bin/python3 with scipy missing\n");
        if (py)
            pclose(py);
        unlink(path);
        return;
    }
    T = atof(word);
    CHECK(fscanf(py, "%lf %lf", &before, &after) == 2);
    pclose(py);
    unlink(path);
    CHECK(ft_calib_fit_temperature(&fit, s, y, N, K, &err) == 0);
    CHECK_REL(fit.T, T, 1e-6, 1);
    CHECK_REL(fit.nll_before, before, 1e-12, 1);
    CHECK_REL(fit.nll_after, after, 1e-10, 1);
    CHECK(fit.T > 1);   /* over-confident scores are cooled */
}

static void test_select(void)
{
    /* Pool (class, confidence), records 0-7:
     *   0 (0, .95)  1 (1, .55)  2 (0, .70)  3 (1, .90)
     *   4 (0, .95)  5 (2, .99)  6 (0, .80)  7 (1, .60)
     * threshold .6, K 2: class 0 eligible 0, 2, 4, 6 -> the two most
     * confident are 0 and 4 (both .95); class 1 eligible 3, 7 -> both;
     * class 2: 5 alone (fewer than K). Kept: 0, 3, 4, 5, 7. */
    const int cls[] = {0, 1, 0, 1, 0, 2, 0, 1};
    const double conf[] = {.95, .55, .70, .90, .95, .99, .80, .60};
    const unsigned char want[] = {1, 0, 0, 1, 1, 1, 0, 1};
    unsigned char keep[8];
    size_t per[3];
    ft_err err;

    CHECK(ft_select_records(keep, per, cls, conf, 8, 3, 0.6, 2, &err) == 0);
    CHECK(!memcmp(keep, want, 8));
    CHECK(per[0] == 2 && per[1] == 2 && per[2] == 1);

    /* K 1: ties go to the earlier record (0 before 4). */
    const unsigned char want1[] = {1, 0, 0, 1, 0, 1, 0, 0};
    CHECK(ft_select_records(keep, per, cls, conf, 8, 3, -1, 1, &err) == 0);
    CHECK(!memcmp(keep, want1, 8));

    /* Threshold alone: .70 and above (the bound included). */
    const unsigned char want2[] = {1, 0, 1, 1, 1, 1, 1, 0};
    CHECK(ft_select_records(keep, per, cls, conf, 8, 3, 0.7, 0, &err) == 0);
    CHECK(!memcmp(keep, want2, 8));
    CHECK(per[0] == 4 && per[1] == 1 && per[2] == 1);
    CHECK(ft_select_passes(0.7, 0.7) && !ft_select_passes(0.69, 0.7));

    /* No records; a class out of range. */
    CHECK(ft_select_records(keep, per, cls, conf, 0, 3, 0.5, 2, &err) == 0);
    CHECK(ft_select_records(keep, per, cls, conf, 8, 2, 0.5, 2, &err) < 0);
}

int main(void)
{
    test_closed_form();
    test_scipy();
    test_select();
    return check_done();
}
