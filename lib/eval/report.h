/* report: ft-eval's report -- predictions gathered record by record, then
 * the scores of metrics.h as JSON with stable keys (for jq and scripts) and
 * as a table (for people).
 *
 * Keys, in this order (a value that does not exist, such as the accuracy
 * of zero records or the calibration error without confidences, is null):
 *   classify  task, n, labels, accuracy, accuracy_ci [lo, hi] (95%
 *             percentile bootstrap, n_boot resamples from the seed), macro_f1,
 *             macro_precision, macro_recall, per_class {label: {precision,
 *             recall, f1, support}}, confusion (rows true, columns predicted,
 *             both in labels order), ece (15 equal-width bins)
 *   lm        task, n, tokens, bytes, nll (nats), perplexity, bits_per_byte
 *   sft       task, n, exact_match, token_f1, rouge_l (means over records,
 *             fractions in [0, 1])
 *   compare   n, accuracy_a, accuracy_b, difference (a - b), p_value (paired
 *             bootstrap, n_boot resamples)
 *
 * The label set is fixed up front (ft_eval_set_labels: a name outside it is
 * an error) or gathered from the true and predicted labels, sorted by bytes.
 *
 * Not here: reading records or running a model (the program does both). */
#ifndef FT_EVAL_REPORT_H
#define FT_EVAL_REPORT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"

enum ft_eval_task { FT_EVAL_CLASSIFY = 1, FT_EVAL_LM, FT_EVAL_SFT };

#define FT_EVAL_ECE_BINS 15
#define FT_EVAL_BOOT 1000 /* bootstrap resamples unless the caller says */

typedef struct ft_eval ft_eval;

/* n_boot (>= 1) resamples for the accuracy interval, drawn from seed. */
ft_eval *ft_eval_new(int task, uint64_t seed, int n_boot, ft_err *err);
void ft_eval_free(ft_eval *e);

/* Fix the label set (k >= 1 distinct names). */
int ft_eval_set_labels(ft_eval *e, const char *const *names, int k, ft_err *err);
/* The index of a label in the set, or -1. */
int ft_eval_label_index(const ft_eval *e, const char *name, size_t len);

/* One classified record: its true and predicted label, and the predicted
 * label's probability (NAN when unknown: the report's ece is then null). */
int ft_eval_add_classify(ft_eval *e, const char *truth, size_t truth_len, const char *pred,
                         size_t pred_len, double confidence, ft_err *err);
/* One text for language modelling: its summed NLL in nats over n_tokens
 * predicted tokens, and its length in UTF-8 bytes. */
void ft_eval_add_lm(ft_eval *e, double nll_nats, double n_tokens, double n_bytes);
/* One generated response against the reference (NUL-terminated). */
void ft_eval_add_sft(ft_eval *e, const char *pred, const char *ref);

/* The report (a new JSON object; the caller json_decref's it). */
json_t *ft_eval_report(ft_eval *e, ft_err *err);

/* A two-system comparison: correct_a[i], correct_b[i] in {0, 1} for the
 * same n records; the p-value from n_boot (>= 1) paired resamples. */
json_t *ft_eval_compare(const double *correct_a, const double *correct_b, size_t n,
                        int n_boot, uint64_t seed, ft_err *err);

/* The report as a table for people. */
void ft_eval_table(const json_t *report, FILE *f);

#endif
