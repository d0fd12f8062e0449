/* calibrate: temperature scaling fitted by minimising the NLL (see
 * calibrate.h). */
#include "eval/calibrate.h"

#include <math.h>

int ft_calib_softmax(double *probs, const double *scores, int k, double T)
{
    double max = -INFINITY, sum = 0;
    int best = 0;

    for (int c = 0; c < k; c++)
        if (scores[c] > max) {
            max = scores[c];
            best = c;
        }
    for (int c = 0; c < k; c++)
        sum += probs[c] = exp((scores[c] - max) / T);
    for (int c = 0; c < k; c++)
        probs[c] /= sum;
    return best;
}

/* One record's loss at b = 1/T and its first two derivatives in b:
 *   f = lse(b·z) - b·z_y,  f' = E_p[z] - z_y,  f'' = Var_p[z],
 * p = softmax(b·z). Shifting z by its maximum changes none of the three
 * (the shift leaves lse(b·z) - b·z_y as it is) and keeps exp in range. */
static void record_loss(const double *z, int y, int k, double b, double *f, double *d1,
                        double *d2)
{
    double max = -INFINITY, sum = 0, m1 = 0, m2 = 0;

    for (int c = 0; c < k; c++)
        max = z[c] > max ? z[c] : max;
    for (int c = 0; c < k; c++) {
        double zc = z[c] - max, e = exp(b * zc);
        sum += e;
        m1 += e * zc;
        m2 += e * zc * zc;
    }
    m1 /= sum;
    m2 /= sum;
    *f = log(sum) - b * (z[y] - max);
    *d1 = m1 - (z[y] - max);
    *d2 = m2 - m1 * m1 > 0 ? m2 - m1 * m1 : 0;
}

static void total_loss(const double *scores, const int *y, size_t n, int k, double b,
                       double *f, double *d1, double *d2)
{
    double sf = 0, s1 = 0, s2 = 0;

    for (size_t i = 0; i < n; i++) {
        double a, g, h;
        record_loss(scores + i * k, y[i], k, b, &a, &g, &h);
        sf += a;
        s1 += g;
        s2 += h;
    }
    *f = sf / n;
    *d1 = s1 / n;
    *d2 = s2 / n;
}

double ft_calib_nll(const double *scores, const int *y, size_t n, int k, double T)
{
    double f, d1, d2;

    if (n == 0)
        return NAN;
    total_loss(scores, y, n, k, 1 / T, &f, &d1, &d2);
    return f;
}

int ft_calib_fit_temperature(ft_calib_fit *fit, const double *scores, const int *y,
                             size_t n, int k, ft_err *err)
{
    double lo = 1 / FT_CALIB_T_MAX, hi = 1 / FT_CALIB_T_MIN, f, g, h, b;

    if (n == 0)
        return ft_err_set(err, "no labelled records to fit a temperature on");
    if (k < 2)
        return ft_err_set(err, "a temperature needs at least two classes");
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] >= k)
            return ft_err_set(err, "record %zu: class index out of range", i + 1);
        for (int c = 0; c < k; c++)
            if (!isfinite(scores[i * k + c]))
                return ft_err_set(err, "record %zu: a score is not finite", i + 1);
    }
    fit->nll_before = ft_calib_nll(scores, y, n, k, 1.0);
    fit->at_bound = 0;

    /* The derivative rises with b: a sign at either end settles it. */
    total_loss(scores, y, n, k, lo, &f, &g, &h);
    if (g >= 0) {
        b = lo;
        fit->at_bound = 1;
        goto done;
    }
    total_loss(scores, y, n, k, hi, &f, &g, &h);
    if (g <= 0) {
        b = hi;
        fit->at_bound = 1;
        goto done;
    }

    /* Newton steps on f' = 0 inside the bracket [lo, hi], bisecting
     * whenever a step would leave it. */
    b = 1.0 > lo && 1.0 < hi ? 1.0 : (lo + hi) / 2;
    for (int it = 0; it < 200; it++) {
        total_loss(scores, y, n, k, b, &f, &g, &h);
        if (g < 0)
            lo = b;
        else
            hi = b;
        double next = h > 0 ? b - g / h : (lo + hi) / 2;
        if (!(next > lo && next < hi))
            next = (lo + hi) / 2;
        if (fabs(next - b) <= 1e-14 * b || hi - lo <= 1e-15 * hi) {
            b = next;
            break;
        }
        b = next;
    }
done:
    fit->T = 1 / b;
    fit->nll_after = ft_calib_nll(scores, y, n, k, fit->T);
    return 0;
}
