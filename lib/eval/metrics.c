/* metrics: classification, calibration, bootstrap and generation scores
 * (see metrics.h for the definitions followed). */
#include "eval/metrics.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

int ft_metrics_classify(ft_cls_report *r, const int *y_true, const int *y_pred, size_t n,
                        int n_classes, ft_err *err)
{
    size_t k = (size_t)n_classes;
    size_t *pred_count, correct = 0;

    memset(r, 0, sizeof *r);
    r->n_classes = n_classes;
    r->n = n;
    r->precision = ft_calloc(k, sizeof *r->precision, err);
    r->recall = ft_calloc(k, sizeof *r->recall, err);
    r->f1 = ft_calloc(k, sizeof *r->f1, err);
    r->support = ft_calloc(k, sizeof *r->support, err);
    r->confusion = ft_calloc(k * k, sizeof *r->confusion, err);
    pred_count = ft_calloc(k, sizeof *pred_count, err);
    if (!r->precision || !r->recall || !r->f1 || !r->support || !r->confusion ||
        !pred_count) {
        free(pred_count);
        ft_cls_report_free(r);
        return -1;
    }

    /* Count: confusion[true][pred]. */
    for (size_t i = 0; i < n; i++) {
        if (y_true[i] < 0 || y_true[i] >= n_classes || y_pred[i] < 0 ||
            y_pred[i] >= n_classes) {
            free(pred_count);
            ft_cls_report_free(r);
            return ft_err_set(err, "record %zu: class index out of range", i + 1);
        }
        r->confusion[(size_t)y_true[i] * k + y_pred[i]]++;
        r->support[y_true[i]]++;
        pred_count[y_pred[i]]++;
        correct += y_true[i] == y_pred[i];
    }
    r->accuracy = n ? (double)correct / n : 0.0;

    /* Per class, with 0 wherever a denominator is 0 (zero_division = 0). */
    for (size_t c = 0; c < k; c++) {
        double tp = (double)r->confusion[c * k + c];
        double p = pred_count[c] ? tp / pred_count[c] : 0.0;
        double q = r->support[c] ? tp / r->support[c] : 0.0;
        r->precision[c] = p;
        r->recall[c] = q;
        r->f1[c] = p + q > 0 ? 2 * p * q / (p + q) : 0.0;
        r->macro_precision += p / k;
        r->macro_recall += q / k;
        r->macro_f1 += r->f1[c] / k;
    }
    free(pred_count);
    return 0;
}

void ft_cls_report_free(ft_cls_report *r)
{
    free(r->precision);
    free(r->recall);
    free(r->f1);
    free(r->support);
    free(r->confusion);
    memset(r, 0, sizeof *r);
}

double ft_metrics_ece(const int *y_true, const int *y_pred, const double *conf, size_t n,
                      int bins)
{
    double *sum_conf = calloc(bins, sizeof *sum_conf);
    double *sum_acc = calloc(bins, sizeof *sum_acc);
    size_t *count = calloc(bins, sizeof *count);
    double ece = 0.0;

    if (!sum_conf || !sum_acc || !count || n == 0)
        goto done;
    /* Bin b holds confidences in (b/bins, (b+1)/bins]; 0 joins the first. */
    for (size_t i = 0; i < n; i++) {
        int b = (int)ceil(conf[i] * bins) - 1;
        b = b < 0 ? 0 : b >= bins ? bins - 1 : b;
        sum_conf[b] += conf[i];
        sum_acc[b] += y_true[i] == y_pred[i];
        count[b]++;
    }
    for (int b = 0; b < bins; b++)
        if (count[b])
            ece += fabs(sum_acc[b] - sum_conf[b]) / n;
done:
    free(sum_conf);
    free(sum_acc);
    free(count);
    return ece;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Percentile by linear interpolation between order statistics, as numpy's
 * default. */
static double percentile(const double *sorted, int n, double q)
{
    double pos = q * (n - 1);
    int i = (int)floor(pos);
    double f = pos - i;
    return i + 1 < n ? sorted[i] * (1 - f) + sorted[i + 1] * f : sorted[n - 1];
}

void ft_metrics_bootstrap_mean(const double *x, size_t n, int n_boot, double level,
                               uint64_t seed, double *lo, double *hi)
{
    double *means = malloc((size_t)n_boot * sizeof *means);
    ft_rng rng;

    *lo = *hi = 0.0;
    if (!means || n == 0 || n_boot < 1) {
        free(means);
        return;
    }
    ft_rng_seed(&rng, seed, 0x626f6f74);
    for (int b = 0; b < n_boot; b++) {
        double s = 0;
        for (size_t i = 0; i < n; i++)
            s += x[ft_rng_below(&rng, n)];
        means[b] = s / n;
    }
    qsort(means, n_boot, sizeof *means, cmp_double);
    *lo = percentile(means, n_boot, (1 - level) / 2);
    *hi = percentile(means, n_boot, 1 - (1 - level) / 2);
    free(means);
}

void ft_metrics_paired_bootstrap(const double *a, const double *b, size_t n, int n_boot,
                                 uint64_t seed, double *diff, double *p_value)
{
    double d = 0;
    size_t extreme = 0;
    ft_rng rng;

    for (size_t i = 0; i < n; i++)
        d += a[i] - b[i];
    d /= n ? n : 1;
    *diff = d;
    *p_value = 1.0;
    if (n == 0 || n_boot < 1)
        return;
    ft_rng_seed(&rng, seed, 0x70616972);
    /* Under the null the resampled differences centre on 0: shift them by
     * the observed difference and count those at least as extreme. */
    for (int k = 0; k < n_boot; k++) {
        double s = 0;
        for (size_t i = 0; i < n; i++) {
            size_t j = ft_rng_below(&rng, n);
            s += a[j] - b[j];
        }
        if (fabs(s / n - d) >= fabs(d) - 1e-12)
            extreme++;
    }
    *p_value = (double)extreme / n_boot;
}

/* --- Generation scores ----------------------------------------------------- */

char *ft_metrics_squad_normalize(const char *s, ft_err *err)
{
    size_t n = strlen(s);
    char *t = ft_malloc(n + 1, err), *out;
    size_t m = 0;

    if (!t)
        return NULL;
    /* Lower-case, drop ASCII punctuation. */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c < 0x80 && ispunct(c))
            continue;
        t[m++] = c < 0x80 ? tolower(c) : c;
    }
    t[m] = '\0';

    /* Split on white space, drop articles, join with single spaces. */
    out = ft_malloc(m + 1, err);
    if (!out) {
        free(t);
        return NULL;
    }
    size_t o = 0;
    char *save, *w;
    for (w = strtok_r(t, " \t\n\r\f\v", &save); w; w = strtok_r(NULL, " \t\n\r\f\v", &save)) {
        if (!strcmp(w, "a") || !strcmp(w, "an") || !strcmp(w, "the"))
            continue;
        if (o)
            out[o++] = ' ';
        size_t l = strlen(w);
        memcpy(out + o, w, l);
        o += l;
    }
    out[o] = '\0';
    free(t);
    return out;
}

int ft_metrics_exact_match(const char *pred, const char *ref)
{
    char *a = ft_metrics_squad_normalize(pred, NULL);
    char *b = ft_metrics_squad_normalize(ref, NULL);
    int eq = a && b && !strcmp(a, b);
    free(a);
    free(b);
    return eq;
}

/* Split s in place into words at the separator test; returns the count. */
typedef int (*sep_fn)(unsigned char c);

static int is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static int is_not_word(unsigned char c)
{
    return c < 0x80 && !isalnum(c);
}

static size_t split_words(char *s, sep_fn sep, char ***words)
{
    size_t n = 0, cap = 0;
    char **w = NULL;
    char *p = s;

    while (*p) {
        while (*p && sep((unsigned char)*p))
            *p++ = '\0';
        if (!*p)
            break;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nw = realloc(w, cap * sizeof *w);
            if (!nw)
                break;
            w = nw;
        }
        w[n++] = p;
        while (*p && !sep((unsigned char)*p))
            p++;
    }
    *words = w;
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

double ft_metrics_token_f1(const char *pred, const char *ref)
{
    char *a = ft_metrics_squad_normalize(pred, NULL);
    char *b = ft_metrics_squad_normalize(ref, NULL);
    char **wa = NULL, **wb = NULL;
    double f1 = 0.0;

    if (!a || !b)
        goto done;
    size_t na = split_words(a, is_space, &wa), nb = split_words(b, is_space, &wb);
    if (na == 0 || nb == 0) {
        /* SQuAD: both empty counts as a match. */
        f1 = na == nb;
        goto done;
    }
    /* Overlap of the two bags of words: merge the sorted lists. */
    qsort(wa, na, sizeof *wa, cmp_str);
    qsort(wb, nb, sizeof *wb, cmp_str);
    size_t i = 0, j = 0, common = 0;
    while (i < na && j < nb) {
        int c = strcmp(wa[i], wb[j]);
        if (c == 0) {
            common++;
            i++;
            j++;
        } else if (c < 0) {
            i++;
        } else {
            j++;
        }
    }
    if (common) {
        double p = (double)common / na, r = (double)common / nb;
        f1 = 2 * p * r / (p + r);
    }
done:
    free(wa);
    free(wb);
    free(a);
    free(b);
    return f1;
}

double ft_metrics_rouge_l(const char *pred, const char *ref)
{
    char *a = strdup(pred), *b = strdup(ref);
    char **wa = NULL, **wb = NULL;
    size_t *row = NULL;
    double f = 0.0;

    if (!a || !b)
        goto done;
    for (char *p = a; *p; p++)
        *p = (unsigned char)*p < 0x80 ? tolower((unsigned char)*p) : *p;
    for (char *p = b; *p; p++)
        *p = (unsigned char)*p < 0x80 ? tolower((unsigned char)*p) : *p;
    size_t na = split_words(a, is_not_word, &wa), nb = split_words(b, is_not_word, &wb);
    if (na == 0 || nb == 0)
        goto done;

    /* Longest common subsequence by dynamic programming, one row at a time. */
    row = calloc(nb + 1, sizeof *row);
    if (!row)
        goto done;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = 0;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j];
            row[j] = !strcmp(wa[i - 1], wb[j - 1]) ? diag + 1
                                                     : (row[j] > row[j - 1] ? row[j]
                                                                            : row[j - 1]);
            diag = up;
        }
    }
    size_t lcs = row[nb];
    if (lcs) {
        double p = (double)lcs / na, r = (double)lcs / nb;
        f = 2 * p * r / (p + r);
    }
done:
    free(row);
    free(wa);
    free(wb);
    free(a);
    free(b);
    return f;
}

double ft_metrics_perplexity(double nll_nats, double n_tokens)
{
    return n_tokens > 0 ? exp(nll_nats / n_tokens) : NAN;
}

double ft_metrics_bits_per_byte(double nll_nats, double n_bytes)
{
    return n_bytes > 0 ? nll_nats / (M_LN2 * n_bytes) : NAN;
}
