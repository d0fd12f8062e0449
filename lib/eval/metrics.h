/* metrics: the numbers ft-eval reports, computed from predictions.
 *
 * Classification follows scikit-learn's definitions with an explicit label
 * set: per-class precision, recall and F1 with zero_division = 0, macro
 * averages over every class of the set (a class never seen in truth nor
 * predictions counts as F1 0, as sklearn does when labels= names it), the
 * confusion matrix with true classes as rows. Expected calibration error
 * uses equal-width confidence bins. Intervals are percentile bootstraps,
 * seeded. Generation scores follow SQuAD (exact match, token F1) and ROUGE-L
 * (longest common subsequence F1 over words).
 *
 * Not here: producing predictions (label scoring lives with the model). */
#ifndef FT_EVAL_METRICS_H
#define FT_EVAL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct ft_cls_report {
    int n_classes;
    size_t n;
    double accuracy;
    double macro_precision, macro_recall, macro_f1;
    double *precision, *recall, *f1;  /* [n_classes] */
    size_t *support;                  /* [n_classes]: true members of each class */
    size_t *confusion;                /* [n_classes * n_classes], row = true class */
} ft_cls_report;

/* Fill a report from true and predicted class indices in [0, n_classes).
 * n may be 0 (every score 0). Free with ft_cls_report_free. */
int ft_metrics_classify(ft_cls_report *r, const int *y_true, const int *y_pred, size_t n,
                        int n_classes, ft_err *err);
void ft_cls_report_free(ft_cls_report *r);

/* Expected calibration error: bins equal-width bins over (0, 1]; each bin
 * contributes |accuracy - mean confidence| weighted by its share of records.
 * conf[i] is the probability of the predicted class. */
double ft_metrics_ece(const int *y_true, const int *y_pred, const double *conf, size_t n,
                      int bins);

/* 95% (or other level) percentile bootstrap interval of the mean of x
 * (0/1 correctness for accuracy) with n_boot resamples from seed. */
void ft_metrics_bootstrap_mean(const double *x, size_t n, int n_boot, double level,
                               uint64_t seed, double *lo, double *hi);

/* Paired bootstrap for a difference of means of a and b over the same
 * records: the observed difference mean(a) - mean(b) and the two-sided
 * p-value, estimated as the share of resampled differences, centred on the
 * observed one, at least as far from zero as the observed difference. */
void ft_metrics_paired_bootstrap(const double *a, const double *b, size_t n, int n_boot,
                                 uint64_t seed, double *diff, double *p_value);

/* SQuAD normalisation: lower-case ASCII, drop ASCII punctuation, drop the
 * articles a/an/the, collapse white space. Returns a malloc'd string. */
char *ft_metrics_squad_normalize(const char *s, ft_err *err);
/* 1 if the normalised strings are equal. */
int ft_metrics_exact_match(const char *pred, const char *ref);
/* SQuAD token F1 between normalised strings (bag of words overlap). */
double ft_metrics_token_f1(const char *pred, const char *ref);
/* ROUGE-L F1 (beta 1) of the longest common subsequence of words; words are
 * maximal runs of ASCII letters and digits or of non-ASCII bytes, ASCII
 * lower-cased. */
double ft_metrics_rouge_l(const char *pred, const char *ref);

/* Perplexity exp(nll / n_tokens) and bits per byte nll / (ln 2 * n_bytes),
 * from a summed negative log-likelihood in nats. */
double ft_metrics_perplexity(double nll_nats, double n_tokens);
double ft_metrics_bits_per_byte(double nll_nats, double n_bytes);

#endif
