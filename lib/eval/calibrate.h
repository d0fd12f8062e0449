/* calibrate: temperature scaling of label scores, so that a probability of
 * 0.9 is right nine times in ten (Guo et al., "On Calibration of Modern
 * Neural Networks", 2017).
 *
 * Scores are any per-class numbers whose softmax is the model's
 * distribution: logits, or the log-likelihoods of each label's tokens.
 * Scaling divides them by one temperature T before the softmax; T is fitted
 * on labelled records by minimising the mean negative log-likelihood of the
 * true classes. The loss is convex in b = 1/T (a log-sum-exp of lines minus
 * a line), so the fit is a safeguarded Newton search for the zero of its
 * derivative, exact to rounding; T is kept within [FT_CALIB_T_MIN,
 * FT_CALIB_T_MAX] (a perfectly separated dev set would otherwise send T to
 * 0, an adversarial one to infinity).
 *
 * Not here: producing the scores (the label scoring of the model). */
#ifndef FT_EVAL_CALIBRATE_H
#define FT_EVAL_CALIBRATE_H

#include <stddef.h>

#include "core/err.h"

#define FT_CALIB_T_MIN 0.01
#define FT_CALIB_T_MAX 100.0

typedef struct ft_calib_fit {
    double T;              /* the fitted temperature */
    double nll_before;     /* mean NLL of the true classes at T = 1 */
    double nll_after;      /* ... at the fitted T */
    int at_bound;          /* T was clamped to a bound of its range */
} ft_calib_fit;

/* Fit T on n records of k >= 2 classes: scores [n, k] (row i holds record
 * i's scores), y [n] the true class of each in [0, k). n = 0, k < 2, a class
 * outside the range or a non-finite score is an error. */
int ft_calib_fit_temperature(ft_calib_fit *fit, const double *scores, const int *y,
                             size_t n, int k, ft_err *err);

/* probs [k] = softmax(scores / T) of one record; returns the index of the
 * largest probability (the lower index on ties). */
int ft_calib_softmax(double *probs, const double *scores, int k, double T);

/* Mean NLL of the true classes at temperature T (for reports and tests). */
double ft_calib_nll(const double *scores, const int *y, size_t n, int k, double T);

#endif
